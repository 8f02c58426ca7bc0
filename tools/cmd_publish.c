/*
 * cmd_publish.c — `asylink publish`: publishes one message on a feed topic
 * from a node, the payload written as JSON (converted with pbjson) or
 * taken from a file, and waits until the broker has taken it.
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "cliopt.h"
#include "commands.h"
#include "node.h"
#include "pbjson.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The options of one publish. */
typedef struct {
    const char *config;       /* --config */
    const char *topic;        /* --topic */
    const char *type;         /* --type */
    const char *payload_file; /* --payload */
    const char *raw_file;     /* --file */
    int cls;                  /* --class: an asylink_classification, 0 = PUBLIC */
    uint64_t expires_in_ms;   /* --expires, 0 = the broker's retention */
    uint64_t timeout_ms;      /* --timeout */
    bool json;                /* --json */
} s_opts;

/* PUBLIC, LIMITED: 1 + index = asylink_classification (PERSONAL is never on feeds). */
static const char *const s_classes[] = {"PUBLIC", "LIMITED", NULL};

static const cliopt s_rows[] = {
    CLIOPT_ROW_CONFIG(s_opts, config),
    {.name = "topic",
     .kind = CLIOPT_STRING,
     .metavar = "TOPIC",
     .offset = offsetof(s_opts, topic),
     .flags = CLIOPT_REQUIRED,
     .help = "dotted topic name"},
    {.name = "type",
     .kind = CLIOPT_STRING,
     .metavar = "TYPE",
     .offset = offsetof(s_opts, type),
     .flags = CLIOPT_REQUIRED,
     .help = "payload type, e.g. asylink.v1.MonthlyStatistics"},
    {.name = "payload",
     .kind = CLIOPT_STRING,
     .metavar = "FILE|-",
     .offset = offsetof(s_opts, payload_file),
     .help = "the payload as JSON, converted to TYPE; - reads stdin"},
    {.name = "file",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(s_opts, raw_file),
     .help = "publish FILE's bytes as they are (content type TYPE)"},
    {.name = "class",
     .kind = CLIOPT_CHOICE,
     .metavar = "CLASS",
     .offset = offsetof(s_opts, cls),
     .choices = s_classes,
     .help = "PUBLIC (default) or LIMITED"},
    {.name = "expires",
     .kind = CLIOPT_DURATION,
     .metavar = "DURATION",
     .offset = offsetof(s_opts, expires_in_ms),
     .min = 1,
     .help = "retention of this message: 90s, 30m, 12h, 7d"},
    CLIOPT_ROW_TIMEOUT(s_opts, timeout_ms, "30"),
    CLIOPT_ROW_JSON_OR_OLD_PAYLOAD(s_opts, json),
};

static const cliopt_rule s_rules[] = {{CLIOPT_EXACTLY_ONE, "payload file"}};

const cliopt_spec cmd_publish_spec = {
    .description = "Signs (and for LIMITED encrypts) one message for a feed topic such as "
                   "stats.monthly.DE, sends it through the broker, waits until the broker has "
                   "taken it and prints its message id.",
    .opts = s_rows,
    .n_opts = CLIOPT_LEN(s_rows),
    .rules = s_rules,
    .n_rules = CLIOPT_LEN(s_rules),
    .notes = "Exit status: 0 the broker took it, 1 failed (or still in the outbox), 2 usage.\n",
};

static int s_parse(int argc, char **argv, s_opts *o)
{
    int rc = cliopt_parse(&cmd_publish_spec, argc, argv, o, NULL);
    if (rc == CLI_OK && o->payload_file && !pbjson_known_type(o->type))
        return cli_usage(argv[0], "unknown payload type '%s' for --payload", o->type);
    return rc;
}

/* Prints the message id, or with --json the outcome. */
static int s_report(const s_opts *o, const uint8_t id[16], const node_outcome *res)
{
    char ids[37];
    node_id_str(id, ids);
    if (!o->json) {
        printf("%s\n", ids);
        return fflush(stdout) == 0 ? CLI_OK : cli_fail("stdout", ASYLINK_E_IO);
    }
    json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "message_id", ids, "topic", o->topic,
                          "content_type", o->type, "state", res->state);
    if (v && strcmp(res->state, "rejected") == 0)
        json_object_set_new(
            v, "error",
            json_pack("{s:s, s:s}", "code", asylink_err_name(res->code), "reason", res->reason));
    return cli_json_print(v);
}

static int s_publish(const s_opts *o, const uint8_t *payload, size_t len)
{
    asylink_publish_params p;
    asylink_publish_params_init(&p);
    p.topic = o->topic;
    p.content_type = o->type;
    if (o->cls)
        p.classification = (asylink_classification)o->cls;
    p.expires_ms = o->expires_in_ms ? clock_now_ms() + o->expires_in_ms : 0;
    asylink_client *c = NULL;
    if (node_open("publish", o->config, &c) != CLI_OK)
        return CLI_FAIL;
    uint8_t id[16];
    uint64_t deadline = clock_now_ms() + o->timeout_ms;
    unsigned long mark = node_lib_mark();
    int rc;
    /* LIMITED asks the broker for the topic's readers: wait for the session. */
    while ((rc = asylink_publish(c, &p, payload, len, id)) == ASYLINK_E_UNAVAILABLE &&
           clock_now_ms() < deadline) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    node_outcome res = {.state = "pending"};
    if (rc == ASYLINK_OK) {
        uint64_t now = clock_now_ms();
        node_wait_outcome(c, id, deadline > now ? deadline - now : 0, &res);
    }
    asylink_connect_failure f;
    bool down =
        (rc == ASYLINK_E_UNAVAILABLE || (rc == ASYLINK_OK && !strcmp(res.state, "pending"))) &&
        node_broker_down(c, false, &f);
    asylink_client_close(&c);
    if (down && rc != ASYLINK_OK)
        return node_fail_broker("publish", &f, o->timeout_ms, "nothing was published");
    if (rc != ASYLINK_OK)
        return node_fail("publish", rc, mark);
    if (s_report(o, id, &res) != CLI_OK)
        return CLI_FAIL;
    if (strcmp(res.state, "rejected") == 0)
        return cli_fail_text("publish: rejected by the broker", res.code, "%s",
                             res.reason[0] ? res.reason : asylink_strerror(res.code));
    if (down)
        return node_fail_broker(
            "publish", &f, o->timeout_ms,
            "the message stays in the outbox and goes once the broker takes it");
    if (strcmp(res.state, "pending") == 0)
        return cli_fail_text("publish", ASYLINK_E_TIMEOUT,
                             "the broker has not taken it yet; it stays in the outbox");
    return CLI_OK;
}

int cmd_publish(int argc, char **argv)
{
    s_opts o = {0};
    int rc = s_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    uint8_t *payload = NULL;
    size_t len = 0;
    if (node_read_payload("publish", o.type, o.payload_file, o.raw_file, &payload, &len) != CLI_OK)
        return CLI_FAIL;
    rc = s_publish(&o, payload, len);
    free(payload);
    return rc;
}
