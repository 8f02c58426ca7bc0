/*
 * node.h — what the node commands (send, recv, subscribe) share: opening a
 * client from a node configuration, waiting for its outbox to drain, and
 * the JSON and human forms of a received message. Payloads of asylink.v1
 * types are shown decoded (pbjson); other payloads as base64 (JSON) or
 * not at all (human form).
 *
 * Threading: as cli.h, single-threaded.
 */
#ifndef ASYLINK_TOOLS_NODE_H
#define ASYLINK_TOOLS_NODE_H

#include "asylink/asylink.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Opens the client of the node configuration file path (see
 * asylink_client_open_config). The library's error log lines go to stderr
 * (as "asylink: client: <what happened>"), except while opening: a failed
 * open is reported once, in the library's words naming the file and the
 * fix. Prints its own error (context = the command); returns CLI_OK or
 * CLI_FAIL.
 */
int node_open(const char *context, const char *path, asylink_client **out);

/*
 * A mark of the library's complaints (its WARN and ERROR log lines) so
 * far, taken before a library call for node_fail().
 */
unsigned long node_lib_mark(void);

/*
 * Reports a failed library call: when the library complained about this
 * very code since mark, in its words (they name the file, node or key and
 * the fix: e.g. "unknown recipient XX: no certificate for it in
 * /etc/asylink/trust/nodes ..."), else with the code's description.
 * Prints "asylink: <context>: <ERR_NAME>: ..."; returns CLI_FAIL.
 */
int node_fail(const char *context, int rc, unsigned long mark);

/* The shortest time a node command gives the broker to open a first session. */
#define NODE_CONNECT_GRACE_MS 6000

/*
 * True if the broker is out of reach: no session is open and none opened
 * since the client was opened, or (any_session false) none is open and the
 * last attempt failed. *f gets the library's account
 * (asylink_connect_failure_get).
 */
bool node_broker_down(asylink_client *c, bool any_session, asylink_connect_failure *f);

/*
 * Reports the broker out of reach, in the library's words ("cannot reach
 * broker at tcp://...", "the broker at ... refused node DE: ..."), or, if
 * no attempt has failed yet, that no session opened within waited_ms;
 * then (may be NULL) is appended ("the message stays in the outbox").
 * Returns CLI_FAIL.
 */
/* What happens to a message kept in the outbox, for the errors that end with CLI_PENDING. */
#define NODE_KEPT_ONE                                                                              \
    "it stays in this node's outbox and goes the next time a client opens its data_dir "           \
    "(do not send it again: that would be a second message)"
#define NODE_KEPT_MANY                                                                             \
    "they stay in this node's outbox and go the next time a client opens its data_dir "            \
    "(do not send them again: those would be other messages)"

int node_fail_broker(const char *context, const asylink_connect_failure *f, uint64_t waited_ms,
                     const char *then);

/*
 * Waits up to timeout_ms for the outbox to be empty (messages and
 * receipts handed to the broker). Returns true if it is.
 */
bool node_flush(asylink_client *c, uint64_t timeout_ms);

/* The outcome of waiting for the broker's answer to one message. */
typedef struct {
    const char *state; /* "accepted", "rejected", "pending" */
    int code;          /* the reject code */
    char reason[256];  /* the reject reason */
} node_outcome;

/* Waits up to timeout_ms for the Accepted or Rejected event of id (other events are skipped). */
void node_wait_outcome(asylink_client *c, const uint8_t id[16], uint64_t timeout_ms,
                       node_outcome *out);

/* "PUBLIC", "LIMITED", "PERSONAL" (static). */
const char *node_class_name(asylink_classification cls);

/* Parses a classification name (any case); -1 if unknown. */
int node_parse_class(const char *s, asylink_classification *out);

/* A message id as a UUID string into buf (>= 37 bytes). Returns buf. */
const char *node_id_str(const uint8_t id[16], char buf[37]);

/*
 * The JSON form of a message: message_id, sender, recipients, topic,
 * subscription ("" for a direct message),
 * content_type, classification, created/expires (ms and ISO 8601),
 * correlation_id, size, and payload (decoded object for asylink.v1 types
 * with payload_encoding "json", else a base64 string with "base64").
 * New reference, NULL when out of memory.
 */
json_t *node_message_json(const asylink_message *m);

/* Prints the human form of a message (metadata, decoded payload) to stdout. */
void node_message_print(const asylink_message *m);

/*
 * --count N and --idle SECONDS of the receiving commands (recv, subscribe):
 * the two ends of node_receive()'s loop, one meaning in both.
 */
#define NODE_ROWS_COUNT_IDLE(type, count_field, idle_field)                                        \
    {.name = "count",                                                                              \
     .kind = CLIOPT_UINT,                                                                          \
     .metavar = "N",                                                                               \
     .offset = offsetof(type, count_field),                                                        \
     .min = 1,                                                                                     \
     .max = UINT32_MAX,                                                                            \
     .help = "stop after N messages (default: no limit)"},                                         \
    {                                                                                              \
        .name = "idle", .kind = CLIOPT_SECONDS, .metavar = "SECONDS",                              \
        .offset = offsetof(type, idle_field), .min = 0, .max = 86400, .def = "10",                 \
        .help = "stop after SECONDS without a new message"                                         \
    }

/* How node_receive() takes messages. */
typedef struct node_recv_opts {
    uint64_t count;        /* stop after this many printed messages; 0 = no limit */
    uint64_t idle_ms;      /* stop after this long without a message */
    bool ack;              /* acknowledge each message once it is printed */
    const char *prefix;    /* only feed messages whose topic starts with it; NULL = all */
    const char *subscription; /* with prefix: only that subscription's copies; NULL = any */
    const char *content_type; /* only messages of this content type; NULL = any */
    /* prints one message; returns CLI_OK or CLI_FAIL (which stops the loop) */
    int (*print)(void *ctx, const asylink_message *m);
    void *ctx;             /* passed to print */
} node_recv_opts;

/*
 * Receives, prints and (if o->ack) acknowledges messages until o->count
 * were printed or none came for o->idle_ms. Messages print() is not given
 * (o->prefix, o->subscription, o->content_type) stay unacknowledged for
 * another reader. Waits for the
 * receipts of acknowledged messages to leave the outbox (bounded). Prints
 * its own errors; returns CLI_OK, or CLI_FAIL: when no session with the
 * broker opened within o->idle_ms (at least NODE_CONNECT_GRACE_MS), with
 * why (node_fail_broker), even after printing messages the local inbox
 * held; when the library refused a delivered message (RECEIVE_FAILED:
 * each is told on stderr as it is seen); ASYLINK_E_TIMEOUT when fewer
 * than o->count arrived.
 */
int node_receive(const char *context, asylink_client *c, const node_recv_opts *o);

/*
 * Reads a payload: payload_file (JSON, "-" = stdin) converted to type with
 * pbjson, or raw_file's bytes (exactly one of them is given). *out is
 * malloc'd. Prints its own error (context = the command); CLI_OK or CLI_FAIL.
 */
int node_read_payload(const char *context, const char *type, const char *payload_file,
                      const char *raw_file, uint8_t **out, size_t *len);

/*
 * Reads a file ("-" = stdin) of at most 64 MiB into a
 * malloc'd, NUL-terminated buffer. Prints its own error; CLI_OK or CLI_FAIL.
 */
int node_read_input(const char *path, uint8_t **out, size_t *len);

/* Writes value as one compact JSON line to stdout and releases it. CLI_OK or CLI_FAIL. */
int node_json_line(json_t *value);

#endif
