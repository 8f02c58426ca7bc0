/*
 * cmd_publish.c — `asylink publish`: publishes one message on a feed topic
 * from a node, the payload written as JSON (converted with pbjson) or
 * taken from a file, and waits until the broker has taken it. With
 * --lines the JSON input holds one payload per line: all of them are
 * published with one asylink_publish_many() call (one commit, one
 * signature over the batch, PROTOCOL.md 4.10).
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
    bool lines;               /* --lines: one JSON payload per line */
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
    {.name = "lines",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, lines),
     .help = "--payload holds one JSON payload per line (JSON Lines, at most 1000): each is "
             "its own message; all are committed at once and signed as one batch"},
    CLIOPT_ROW_TIMEOUT(s_opts, timeout_ms, "30"),
    CLIOPT_ROW_JSON_OR_OLD_PAYLOAD(s_opts, json),
};

static const cliopt_rule s_rules[] = {{CLIOPT_EXACTLY_ONE, "payload file"},
                                      {CLIOPT_NEEDS, "lines payload"}};

const cliopt_spec cmd_publish_spec = {
    .description = "Signs (and for LIMITED encrypts) one message for a feed topic such as "
                   "stats.monthly.DE, sends it through the broker, waits until the broker has "
                   "taken it and prints its message id.",
    .opts = s_rows,
    .n_opts = CLIOPT_LEN(s_rows),
    .rules = s_rules,
    .n_rules = CLIOPT_LEN(s_rules),
    .notes = "With --lines, one message id per line (with --json one JSON object per line), in "
             "input order.\n"
             "Exit status: 0 the broker took it (all of them), 1 failed or rejected, 2 usage, "
             "3 stored in the node's outbox but not taken by the broker yet (it goes the next "
             "time a client opens the node's data_dir; publishing it again would be a second "
             "message).\n",
};

static int s_parse(int argc, char **argv, s_opts *o)
{
    int rc = cliopt_parse(&cmd_publish_spec, argc, argv, o, NULL);
    if (rc == CLI_OK && o->payload_file && !pbjson_known_type(o->type))
        return cli_usage(argv[0], "unknown payload type '%s' for --payload", o->type);
    return rc;
}

/* The outcome as a JSON object. */
static json_t *s_outcome_json(const s_opts *o, const char *ids, const node_outcome *res)
{
    json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "message_id", ids, "topic", o->topic,
                          "content_type", o->type, "state", res->state);
    if (v && strcmp(res->state, "rejected") == 0)
        json_object_set_new(
            v, "error",
            json_pack("{s:s, s:s}", "code", asylink_err_name(res->code), "reason", res->reason));
    return v;
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
    return cli_json_print(s_outcome_json(o, ids, res));
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
    if (down) {
        node_fail_broker("publish", &f, o->timeout_ms, "the message " NODE_KEPT_ONE);
        return CLI_PENDING;
    }
    if (strcmp(res.state, "pending") == 0) {
        cli_fail_text("publish", ASYLINK_E_TIMEOUT, "the broker has not taken it yet; %s",
                      NODE_KEPT_ONE);
        return CLI_PENDING;
    }
    return CLI_OK;
}

/* ---- --lines: several messages, one batch ---- */

/* The payloads of a JSON Lines input: one per non-blank line, converted to type. */
typedef struct {
    uint8_t **payloads;
    size_t *lens;
    size_t n;
} s_payloads;

static void s_payloads_free(s_payloads *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->payloads[i]);
    free(p->payloads);
    free(p->lens);
}

static bool s_blank(const char *line)
{
    for (; *line; line++)
        if (*line != ' ' && *line != '\t' && *line != '\r')
            return false;
    return true;
}

/* Splits text into lines and converts each; prints its own error. */
static int s_read_lines(const s_opts *o, char *text, s_payloads *out)
{
    out->payloads = calloc(ASYLINK_SEND_MAX, sizeof *out->payloads);
    out->lens = calloc(ASYLINK_SEND_MAX, sizeof *out->lens);
    if (!out->payloads || !out->lens)
        return cli_fail("publish", ASYLINK_E_NOMEM);
    size_t line_no = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line_no++;
        if (s_blank(line))
            continue;
        if (out->n == ASYLINK_SEND_MAX)
            return cli_fail_text("publish", ASYLINK_E_TOO_LARGE,
                                 "more than %d messages in %s", ASYLINK_SEND_MAX, o->payload_file);
        char err[512];
        int rc = pbjson_from_json(o->type, line, &out->payloads[out->n], &out->lens[out->n], err,
                                  sizeof err);
        if (rc != ASYLINK_OK)
            return cli_fail_text("publish", rc, "%s line %zu as %s: %s", o->payload_file,
                                 line_no, o->type, err);
        out->n++;
    }
    if (out->n == 0)
        return cli_fail_text("publish", ASYLINK_E_INVALID_ARG, "no payload in %s",
                             o->payload_file);
    return CLI_OK;
}

/* Waits until every item has its Accepted or Rejected event (or the deadline). */
static void s_wait_all(asylink_client *c, const asylink_publish_item *items, size_t n,
                       uint64_t deadline, node_outcome *res)
{
    size_t open = n;
    for (uint64_t now = clock_now_ms(); open > 0 && now < deadline; now = clock_now_ms()) {
        asylink_event *e = NULL;
        if (asylink_next_event(c, (int)(deadline - now), &e) != ASYLINK_OK)
            return;
        asylink_event_type t = asylink_event_get_type(e);
        for (size_t i = 0; i < n && (t == ASYLINK_EVENT_ACCEPTED || t == ASYLINK_EVENT_REJECTED);
             i++) {
            if (strcmp(res[i].state, "pending") != 0 ||
                memcmp(asylink_event_message_id(e), items[i].message_id, 16) != 0)
                continue;
            res[i].state = t == ASYLINK_EVENT_ACCEPTED ? "accepted" : "rejected";
            res[i].code = asylink_event_code(e);
            snprintf(res[i].reason, sizeof res[i].reason, "%s", asylink_event_reason(e));
            open--;
            break;
        }
        asylink_event_free(&e);
    }
}

/* Prints every id (or outcome) in input order; CLI_OK if all were accepted. */
static int s_report_all(const s_opts *o, const asylink_publish_item *items, size_t n,
                        const node_outcome *res, const asylink_connect_failure *down)
{
    size_t rejected = 0, pending = 0;
    const node_outcome *first = NULL; /* the first rejection */
    for (size_t i = 0; i < n; i++) {
        char ids[37];
        node_id_str(items[i].message_id, ids);
        if (o->json ? node_json_line(s_outcome_json(o, ids, &res[i])) != CLI_OK
                    : printf("%s\n", ids) < 0)
            return cli_fail("stdout", ASYLINK_E_IO);
        if (strcmp(res[i].state, "rejected") == 0 && rejected++ == 0)
            first = &res[i];
        pending += strcmp(res[i].state, "pending") == 0;
    }
    if (fflush(stdout) != 0)
        return cli_fail("stdout", ASYLINK_E_IO);
    if (first)
        return cli_fail_text("publish: rejected by the broker", first->code,
                             "%zu of %zu, the first: %s", rejected, n,
                             first->reason[0] ? first->reason : asylink_strerror(first->code));
    if (pending && down) {
        node_fail_broker("publish", down, o->timeout_ms, "the messages " NODE_KEPT_MANY);
        return CLI_PENDING;
    }
    if (pending) {
        cli_fail_text("publish", ASYLINK_E_TIMEOUT, "%zu of %zu not taken yet; %s", pending, n,
                      NODE_KEPT_MANY);
        return CLI_PENDING;
    }
    return CLI_OK;
}

static int s_publish_lines(const s_opts *o, const s_payloads *pl)
{
    asylink_publish_params p;
    asylink_publish_params_init(&p);
    p.topic = o->topic;
    p.content_type = o->type;
    if (o->cls)
        p.classification = (asylink_classification)o->cls;
    p.expires_ms = o->expires_in_ms ? clock_now_ms() + o->expires_in_ms : 0;
    asylink_publish_item *items = calloc(pl->n, sizeof *items);
    node_outcome *res = calloc(pl->n, sizeof *res);
    if (!items || !res) {
        free(items);
        free(res);
        return cli_fail("publish", ASYLINK_E_NOMEM);
    }
    for (size_t i = 0; i < pl->n; i++) {
        items[i] = (asylink_publish_item){.params = &p, .payload = pl->payloads[i],
                                          .len = pl->lens[i]};
        res[i].state = "pending";
    }
    asylink_client *c = NULL;
    int rc = node_open("publish", o->config, &c) == CLI_OK ? ASYLINK_OK : -1;
    uint64_t deadline = clock_now_ms() + o->timeout_ms;
    unsigned long mark = node_lib_mark();
    /* LIMITED asks the broker for the topic's readers: wait for the session. */
    while (rc == ASYLINK_OK &&
           (rc = asylink_publish_many(c, items, pl->n)) == ASYLINK_E_UNAVAILABLE &&
           clock_now_ms() < deadline) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        rc = ASYLINK_OK;
    }
    if (rc == ASYLINK_OK)
        s_wait_all(c, items, pl->n, deadline, res);
    bool pending = rc == ASYLINK_E_UNAVAILABLE;
    for (size_t i = 0; rc == ASYLINK_OK && i < pl->n; i++)
        pending |= strcmp(res[i].state, "pending") == 0;
    asylink_connect_failure f;
    bool down = rc != -1 && pending && node_broker_down(c, false, &f);
    asylink_client_close(&c);
    int out = rc == -1                   ? CLI_FAIL
              : down && rc != ASYLINK_OK ? node_fail_broker("publish", &f, o->timeout_ms,
                                                            "nothing was published")
              : rc != ASYLINK_OK         ? node_fail("publish", rc, mark)
                                         : s_report_all(o, items, pl->n, res, down ? &f : NULL);
    free(items);
    free(res);
    return out;
}

static int s_run_lines(const s_opts *o)
{
    uint8_t *text = NULL;
    size_t n = 0;
    if (node_read_input(o->payload_file, &text, &n) != CLI_OK)
        return CLI_FAIL;
    s_payloads pl = {0};
    int rc = s_read_lines(o, (char *)text, &pl);
    free(text);
    if (rc == CLI_OK)
        rc = s_publish_lines(o, &pl);
    s_payloads_free(&pl);
    return rc;
}

int cmd_publish(int argc, char **argv)
{
    s_opts o = {0};
    int rc = s_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    if (o.lines)
        return s_run_lines(&o);
    uint8_t *payload = NULL;
    size_t len = 0;
    if (node_read_payload("publish", o.type, o.payload_file, o.raw_file, &payload, &len) != CLI_OK)
        return CLI_FAIL;
    rc = s_publish(&o, payload, len);
    free(payload);
    return rc;
}
