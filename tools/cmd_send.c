/*
 * cmd_send.c — `asylink send`: sends one message from a node. The payload
 * is JSON converted to the protobuf type named by --type (pbjson), or a
 * file's raw bytes. The message is committed to the node's durable outbox;
 * the command then waits for the broker to take it (--wait: for Accepted
 * or Rejected, and reports which).
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "commands.h"
#include "node.h"
#include "pbjson.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEND_MAX_RECIPIENTS 256

static const char s_usage[] =
    "Usage: asylink send --config NODE.ini --to ID[,ID...] --type TYPE\n"
    "                    (--json FILE|- | --file FILE) [options]\n"
    "\n"
    "Signs, encrypts and sends one message from this node through the broker,\n"
    "and prints its message id.\n"
    "\n"
    "  --config FILE          the node's configuration ([node] section)\n"
    "  --to IDS               recipient node ids, comma-separated (e.g. FR,IT)\n"
    "  --type TYPE            payload type, e.g. asylink.v1.InformationRequest\n"
    "  --json FILE|-          the payload as JSON (proto field names or their\n"
    "                         lowerCamelCase), converted to TYPE; - reads stdin\n"
    "  --file FILE            send FILE's bytes as they are\n"
    "  --content-type TYPE    content type of --file (default: --type)\n"
    "  --class CLASS          PUBLIC, LIMITED or PERSONAL (default: PERSONAL for\n"
    "                         InformationRequest/InformationReply, else LIMITED)\n"
    "  --expires DURATION     nobody delivers it after this long: 90s, 30m, 12h, 7d\n"
    "  --wait                 wait until the broker accepts or rejects it, and say which\n"
    "  --timeout SECONDS      how long to wait for the broker (default 30)\n"
    "  --json-output          print the result as JSON\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0 sent (accepted with --wait), 1 failed or rejected, 2 usage.\n"
    "Without --wait a message the broker has not taken within the timeout stays\n"
    "in the outbox and is sent the next time a client opens the node's data_dir.\n";

/* The options of one send. */
typedef struct {
    const char *config;       /* --config */
    char *to;                 /* --to, split in place */
    const char *type;         /* --type */
    const char *json_file;    /* --json */
    const char *raw_file;     /* --file */
    const char *content_type; /* --content-type */
    asylink_classification cls; /* --class, 0 = by type */
    uint64_t expires_in_ms;   /* --expires, 0 = never */
    bool wait;                /* --wait */
    uint64_t timeout_ms;      /* --timeout */
    bool json;                /* --json-output */
} s_opts;

enum {
    OPT_CONFIG = 256, OPT_TO, OPT_TYPE, OPT_JSON, OPT_FILE, OPT_CTYPE, OPT_CLASS, OPT_EXPIRES,
    OPT_WAIT, OPT_TIMEOUT, OPT_JSON_OUT
};

static const struct option s_long[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"to", required_argument, NULL, OPT_TO},
    {"type", required_argument, NULL, OPT_TYPE},
    {"json", required_argument, NULL, OPT_JSON},
    {"file", required_argument, NULL, OPT_FILE},
    {"content-type", required_argument, NULL, OPT_CTYPE},
    {"class", required_argument, NULL, OPT_CLASS},
    {"expires", required_argument, NULL, OPT_EXPIRES},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"json-output", no_argument, NULL, OPT_JSON_OUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int s_apply(int opt, const char *prog, s_opts *o)
{
    uint64_t secs;
    switch (opt) {
    case OPT_CONFIG: o->config = optarg; break;
    case OPT_TO: o->to = optarg; break;
    case OPT_TYPE: o->type = optarg; break;
    case OPT_JSON: o->json_file = optarg; break;
    case OPT_FILE: o->raw_file = optarg; break;
    case OPT_CTYPE: o->content_type = optarg; break;
    case OPT_CLASS:
        if (node_parse_class(optarg, &o->cls) != 0)
            return cli_usage(prog, "invalid --class '%s' (PUBLIC, LIMITED or PERSONAL)", optarg);
        break;
    case OPT_EXPIRES:
        if (cli_parse_duration(optarg, &o->expires_in_ms) != 0 || o->expires_in_ms == 0)
            return cli_usage(prog, "invalid --expires '%s' (e.g. 90s, 30m, 12h, 7d)", optarg);
        break;
    case OPT_WAIT: o->wait = true; break;
    case OPT_TIMEOUT:
        if (cli_parse_u64(optarg, 1, 86400, &secs) != 0)
            return cli_usage(prog, "invalid --timeout '%s' (1..86400 seconds)", optarg);
        o->timeout_ms = secs * 1000u;
        break;
    case OPT_JSON_OUT: o->json = true; break;
    default: return cli_getopt_common(opt, prog, s_usage);
    }
    return CLI_OK;
}

static int s_parse(int argc, char **argv, s_opts *o)
{
    const char *prog = argv[0];
    int opt, rc;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", s_long, NULL)) != -1)
        if ((rc = s_apply(opt, prog, o)) != CLI_OK)
            return rc;
    if (optind < argc)
        return cli_usage(prog, "unexpected argument '%s'", argv[optind]);
    if (!o->config || !o->to)
        return cli_usage(prog, "--config and --to are required");
    if (!o->json_file == !o->raw_file)
        return cli_usage(prog, "give exactly one of --json and --file");
    if (o->json_file && !o->type)
        return cli_usage(prog, "--json needs --type");
    if (o->json_file && o->content_type)
        return cli_usage(prog, "--content-type is for --file (JSON is sent as --type)");
    if (o->raw_file && !o->content_type && !o->type)
        return cli_usage(prog, "--file needs --content-type (or --type)");
    if (o->json_file && !pbjson_known_type(o->type))
        return cli_usage(prog, "unknown payload type '%s' for --json (an asylink.v1 message, "
                               "e.g. asylink.v1.InformationRequest)", o->type);
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
    if (strcmp(type, "asylink.v1.InformationRequest") == 0 ||
        strcmp(type, "asylink.v1.InformationReply") == 0)
        return ASYLINK_PERSONAL;
    return ASYLINK_LIMITED;
}

static int s_report(const s_opts *o, const char *ctype, asylink_classification cls,
                    const uint8_t id[16], size_t size, const node_outcome *res)
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
        if (o->wait)
            printf("%s\n", res->state);
        fflush(stdout);
    }
    if (strcmp(res->state, "rejected") == 0)
        return cli_fail_text("send: rejected by the broker", res->code, "%s",
                             res->reason[0] ? res->reason : asylink_strerror(res->code));
    if (strcmp(res->state, "pending") == 0 && o->wait)
        return cli_fail_text("send", ASYLINK_E_TIMEOUT,
                             "no answer from the broker yet; the message stays in the outbox");
    if (strcmp(res->state, "pending") == 0)
        cli_note("the broker has not taken the message yet; it stays in the outbox of %s",
                 o->config);
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
    p.classification = o->cls ? o->cls : s_default_class(p.content_type);
    p.expires_ms = o->expires_in_ms ? clock_now_ms() + o->expires_in_ms : 0;
    asylink_client *c = NULL;
    if (node_open("send", o->config, &c) != CLI_OK)
        return CLI_FAIL;
    uint8_t id[16];
    int rc = asylink_send(c, &p, payload, len, id);
    if (rc != ASYLINK_OK) {
        asylink_client_close(&c);
        return cli_fail("send", rc);
    }
    node_outcome res = {.state = "pending"};
    if (o->wait)
        node_wait_outcome(c, id, o->timeout_ms, &res);
    else if (node_flush(c, o->timeout_ms))
        res.state = "sent";
    asylink_client_close(&c);
    return s_report(o, p.content_type, p.classification, id, len, &res);
}

int cmd_send(int argc, char **argv)
{
    s_opts o = {.timeout_ms = 30000};
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
    if (node_read_payload("send", o.type, o.json_file, o.raw_file, &payload, &len) != CLI_OK)
        return CLI_FAIL;
    rc = s_send(&o, ids, n_ids, payload, len);
    free(payload);
    return rc;
}
