/*
 * adminc.h — the operator side of the broker's admin endpoint, shared by
 * `asylink nodes`, `queues`, `dlq` and `reload`: reading the operator's
 * node configuration, the CURVE connection, one request and its answer.
 *
 * The configuration is a node configuration file ([node]: broker_cert,
 * node_cert, key_file, key_passphrase_file, trust_dir; the other client
 * keys are accepted and ignored) with an optional admin_endpoint
 * (default ADMINC_DEFAULT_ENDPOINT); --admin overrides it. With trust_dir,
 * node_cert is checked against its CA and revocation list before
 * connecting; its validity period always is.
 *
 * Threading: as cli.h, single-threaded.
 */
#ifndef ASYLINK_TOOLS_ADMINC_H
#define ASYLINK_TOOLS_ADMINC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cliopt.h"
#include "wire.h"

#define ADMINC_DEFAULT_ENDPOINT "tcp://127.0.0.1:7401"

/* The options every admin command takes. */
typedef struct adminc_opts {
    const char *config;   /* --config (required) */
    const char *endpoint; /* --admin, NULL = from the config */
    uint64_t timeout_ms;  /* --timeout */
    bool json;            /* --json */
} adminc_opts;

/* An admin endpoint: tcp://HOST:PORT or ipc://PATH (a CUSTOM cliopt parser). */
int adminc_parse_endpoint(const char *text, void *field);

/*
 * The option rows of those options, for a command whose options struct
 * (type) holds an adminc_opts named member.
 */
#define ADMINC_ROWS(type, member)                                                                  \
    CLIOPT_ROW_CONFIG(type, member.config),                                                        \
        {.name = "admin",                                                                          \
         .kind = CLIOPT_CUSTOM,                                                                    \
         .metavar = "ENDPOINT",                                                                    \
         .offset = offsetof(type, member.endpoint),                                                \
         .parse = adminc_parse_endpoint,                                                           \
         .expect = "tcp://HOST:PORT or ipc://PATH",                                                \
         .help = "the broker's admin endpoint (default: admin_endpoint of the configuration, "     \
                 "else " ADMINC_DEFAULT_ENDPOINT ")"},                                             \
        CLIOPT_ROW_TIMEOUT(type, member.timeout_ms, "10"),                                         \
    {                                                                                              \
        .name = "json", .kind = CLIOPT_FLAG, .offset = offsetof(type, member.json),                \
        .help = "print the broker's answer as JSON (message ids as UUID text, as recv --json)"     \
    }

/*
 * Sends one request to the broker and waits for the answer. On success
 * *member is the answer's member object (e.g. the AdminNodesResponse for
 * a nodes request) in pbjson's form (a new reference), with its message ids
 * as UUID text (cli_json_message_ids()). Prints its own
 * errors (context = prog): the broker's Error, a timeout, configuration
 * or key problems; checked before connecting, a node_cert without the
 * operator role (ROLE), outside its validity period (CERT_EXPIRED,
 * CERT_NOT_YET_VALID) or, with trust_dir, revoked or not of its CA
 * (REVOKED, UNTRUSTED_ISSUER, BAD_SIGNATURE); seen on the socket monitor,
 * a ZAP refusal (REFUSED, or UNAVAILABLE for a ZAP status 300/500) and a
 * failed CURVE handshake (PROTOCOL). Returns CLI_OK or CLI_FAIL.
 */
int adminc_call(const char *prog, const adminc_opts *o, const wire_admin_request *q,
                json_t **member);

/*
 * If member (a purge, dead_letter_drop or dead_letter_replay answer) has
 * `pending` set — the broker holds the request for a second operator
 * (four-eyes) — prints that to stdout and returns true; else false.
 */
bool adminc_print_held(const json_t *member);

/* Prints the result of a purge done (an AdminPurgeResponse) about what (a message's name). */
void adminc_print_purged(const json_t *m, const char *what);

#endif
