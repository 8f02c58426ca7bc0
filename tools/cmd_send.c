/*
 * cmd_send.c — `asylink send`: sends one message from a node. The payload
 * is JSON converted to the protobuf type named by --type (pbjson), or a
 * file's raw bytes. The message is committed to the node's durable outbox;
 * the command then waits for the broker to take it (--wait SECONDS: for
 * Accepted or Rejected, and reports which).
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "cliopt.h"
#include "commands.h"
#include "envelope.h"
#include "node.h"
#include "pbjson.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEND_MAX_RECIPIENTS 256

/* The options of one send. */
typedef struct {
    const char *config;       /* --config */
    const char *to;           /* --to */
    const char *type;         /* --type */
    const char *payload_file; /* --payload */
    const char *raw_file;     /* --file */
    const char *content_type; /* --content-type */
    int cls;                  /* --class: an asylink_classification, 0 = by type */
    uint64_t expires_in_ms;   /* --expires, 0 = never */
    uint64_t wait_ms;         /* --wait, 0 = do not wait for the outcome */
    bool wait_old;            /* --wait without SECONDS (old): wait as long as --timeout */
    uint64_t timeout_ms;      /* --timeout */
    bool json;                /* --json */
} s_opts;

/* PUBLIC, LIMITED, PERSONAL: 1 + index = asylink_classification. */
static const char *const s_classes[] = {"PUBLIC", "LIMITED", "PERSONAL", NULL};

static const cliopt s_rows[] = {
    CLIOPT_ROW_CONFIG(s_opts, config),
    {.name = "to",
     .kind = CLIOPT_STRING,
     .metavar = "IDS",
     .offset = offsetof(s_opts, to),
     .flags = CLIOPT_REQUIRED,
     .help = "recipient node ids, comma-separated (e.g. FR,IT)"},
    {.name = "type",
     .kind = CLIOPT_STRING,
     .metavar = "TYPE",
     .offset = offsetof(s_opts, type),
     .help = "payload type, e.g. asylink.v1.InformationRequest"},
    {.name = "payload",
     .kind = CLIOPT_STRING,
     .metavar = "FILE|-",
     .offset = offsetof(s_opts, payload_file),
     .help = "the payload as JSON (proto field names or their lowerCamelCase), converted to "
             "TYPE; - reads stdin"},
    {.name = "file",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(s_opts, raw_file),
     .help = "send FILE's bytes as they are"},
    {.name = "content-type",
     .kind = CLIOPT_STRING,
     .metavar = "TYPE",
     .offset = offsetof(s_opts, content_type),
     .help = "content type of --file (default: --type)"},
    {.name = "class",
     .kind = CLIOPT_CHOICE,
     .metavar = "CLASS",
     .offset = offsetof(s_opts, cls),
     .choices = s_classes,
     .help = "PUBLIC, LIMITED or PERSONAL (default: PERSONAL for "
             "InformationRequest/InformationReply, which must be PERSONAL; else LIMITED)"},
    {.name = "expires",
     .kind = CLIOPT_DURATION,
     .metavar = "DURATION",
     .offset = offsetof(s_opts, expires_in_ms),
     .min = 1,
     .help = "nobody delivers it after this long: 90s, 30m, 12h, 7d"},
    {.name = "wait",
     .kind = CLIOPT_SECONDS,
     .metavar = "SECONDS",
     .offset = offsetof(s_opts, wait_ms),
     .min = 1,
     .max = 86400,
     .help = "wait up to SECONDS (instead of --timeout) until the broker accepts or rejects "
             "it, and say which",
     .old_without_value = "wait-old"},
    CLIOPT_ROW_TIMEOUT(s_opts, timeout_ms, "30"),
    CLIOPT_ROW_JSON_OR_OLD_PAYLOAD(s_opts, json),
    {.name = "wait-old",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, wait_old),
     .flags = CLIOPT_HIDDEN,
     .help = "--wait without SECONDS: wait as long as --timeout"},
    CLIOPT_ROW_JSON_OUTPUT_OLD,
};

static const cliopt_rule s_rules[] = {
    {CLIOPT_EXACTLY_ONE, "payload file"},      {CLIOPT_NEEDS, "payload type"},
    {CLIOPT_EXCLUDES, "payload content-type"}, {CLIOPT_AT_LEAST_ONE, "type content-type"},
    {CLIOPT_EXCLUDES, "wait timeout"},
};

const cliopt_spec cmd_send_spec = {
    .synopsis = "--config NODE.ini --to ID[,ID...] --type TYPE (--payload FILE|- | --file FILE) "
                "[options]",
    .description = "Signs, encrypts and sends one message from this node through the broker, and "
                   "prints its message id.",
    .opts = s_rows,
    .n_opts = CLIOPT_LEN(s_rows),
    .rules = s_rules,
    .n_rules = CLIOPT_LEN(s_rules),
    .notes = "Exit status: 0 sent (accepted with --wait), 1 failed or rejected, 2 usage,\n"
             "3 (--wait) stored in the node's outbox but not taken by the broker yet.\n"
             "A message the broker has not taken within the timeout (or --wait) stays in\n"
             "the outbox and is sent the next time a client opens the node's data_dir;\n"
             "sending it again would be a second message.\n",
};

static int s_parse(int argc, char **argv, s_opts *o)
{
    const char *prog = argv[0];
    int rc = cliopt_parse(&cmd_send_spec, argc, argv, o, NULL);
    if (rc != CLI_OK)
        return rc;
    if (o->wait_old && !o->wait_ms)
        o->wait_ms = o->timeout_ms;
    if (o->payload_file && !pbjson_known_type(o->type))
        return cli_usage(prog,
                         "unknown payload type '%s' for --payload (an asylink.v1 message, "
                         "e.g. asylink.v1.InformationRequest)",
                         o->type);
    return CLI_OK;
}

/* Splits --to in place; usage error for empty names or too many. */
static int s_split_to(const char *prog, char *to, const char **ids, size_t *n)
{
    *n = 0;
    for (char *p = to; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (*p == '\0' || *n == SEND_MAX_RECIPIENTS)
            return cli_usage(prog, "invalid --to (comma-separated node ids, at most %d)",
                             SEND_MAX_RECIPIENTS);
        ids[(*n)++] = p;
        p = comma ? comma + 1 : NULL;
    }
    return CLI_OK;
}

/* Personal-data payload types must travel as PERSONAL (asylum.proto). */
static asylink_classification s_default_class(const char *type)
{
    return envelope_type_personal(type) ? ASYLINK_PERSONAL : ASYLINK_LIMITED;
}

static int s_report(const s_opts *o, const char *ctype, asylink_classification cls,
                    const uint8_t id[16], size_t size, const node_outcome *res,
                    const asylink_connect_failure *down)
{
    char ids[37];
    node_id_str(id, ids);
    if (o->json) {
        json_t *v = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "message_id", ids, "to", o->to,
                              "content_type", ctype, "classification", node_class_name(cls),
                              "size", (json_int_t)size, "state", res->state);
        if (v && strcmp(res->state, "rejected") == 0)
            json_object_set_new(v, "error", json_pack("{s:s, s:s}", "code",
                                                      asylink_err_name(res->code), "reason",
                                                      res->reason));
        if (cli_json_print(v) != CLI_OK)
            return CLI_FAIL;
    } else {
        printf("%s\n", ids);
        if (o->wait_ms)
            printf("%s\n", res->state);
        fflush(stdout);
    }
    if (strcmp(res->state, "rejected") == 0)
        return cli_fail_text("send: rejected by the broker", res->code, "%s",
                             res->reason[0] ? res->reason : asylink_strerror(res->code));
    bool pending = strcmp(res->state, "pending") == 0;
    if (pending && o->wait_ms) {
        if (down)
            node_fail_broker("send", down, o->wait_ms, NODE_KEPT_ONE);
        else
            cli_fail_text("send", ASYLINK_E_TIMEOUT, "no answer from the broker yet; %s",
                          NODE_KEPT_ONE);
        return CLI_PENDING;
    }
    if (pending && down && down->code != ASYLINK_OK)
        cli_note("%s; the message %s", down->reason, NODE_KEPT_ONE);
    else if (pending)
        cli_note("the broker has not taken the message yet; %s", NODE_KEPT_ONE);
    return CLI_OK;
}

/* Sends the payload and waits as the options say. */
static int s_send(const s_opts *o, const char **to, size_t n_to, const uint8_t *payload,
                  size_t len)
{
    asylink_send_params p;
    asylink_send_params_init(&p);
    p.recipients = to;
    p.n_recipients = n_to;
    p.content_type = o->content_type ? o->content_type : o->type;
    p.classification = o->cls ? (asylink_classification)o->cls : s_default_class(p.content_type);
    p.expires_ms = o->expires_in_ms ? clock_now_ms() + o->expires_in_ms : 0;
    asylink_client *c = NULL;
    if (node_open("send", o->config, &c) != CLI_OK)
        return CLI_FAIL;
    uint8_t id[16];
    unsigned long mark = node_lib_mark();
    int rc = asylink_send(c, &p, payload, len, id);
    if (rc != ASYLINK_OK) {
        asylink_client_close(&c);
        return node_fail("send", rc, mark);
    }
    node_outcome res = {.state = "pending"};
    if (o->wait_ms)
        node_wait_outcome(c, id, o->wait_ms, &res);
    else if (node_flush(c, o->timeout_ms))
        res.state = "sent";
    asylink_connect_failure f;
    bool down = strcmp(res.state, "pending") == 0 && node_broker_down(c, false, &f);
    asylink_client_close(&c);
    return s_report(o, p.content_type, p.classification, id, len, &res, down ? &f : NULL);
}

int cmd_send(int argc, char **argv)
{
    s_opts o = {0};
    int rc = s_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    char to_copy[8192];
    snprintf(to_copy, sizeof to_copy, "%s", o.to);
    const char *ids[SEND_MAX_RECIPIENTS];
    size_t n_ids = 0;
    if ((rc = s_split_to(argv[0], to_copy, ids, &n_ids)) != CLI_OK)
        return rc;
    uint8_t *payload = NULL;
    size_t len = 0;
    if (node_read_payload("send", o.type, o.payload_file, o.raw_file, &payload, &len) != CLI_OK)
        return CLI_FAIL;
    rc = s_send(&o, ids, n_ids, payload, len);
    free(payload);
    return rc;
}
