/*
 * cmd_publish.c — `asylink publish`: publishes one message on a feed topic
 * from a node, the payload written as JSON (converted with pbjson) or
 * taken from a file, and waits until the broker has taken it.
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
#include <time.h>

static const char s_usage[] =
    "Usage: asylink publish --config NODE.ini --topic TOPIC --type TYPE\n"
    "                       (--json FILE|- | --file FILE) [options]\n"
    "\n"
    "Signs (and for LIMITED encrypts) one message for a feed topic such as\n"
    "stats.monthly.DE, sends it through the broker and prints its message id.\n"
    "\n"
    "  --config FILE          the node's configuration ([node] section)\n"
    "  --topic TOPIC          dotted topic name\n"
    "  --type TYPE            payload type, e.g. asylink.v1.MonthlyStatistics\n"
    "  --json FILE|-          the payload as JSON, converted to TYPE; - reads stdin\n"
    "  --file FILE            publish FILE's bytes as they are (content type TYPE)\n"
    "  --class CLASS          PUBLIC (default) or LIMITED\n"
    "  --expires DURATION     retention of this message: 90s, 30m, 12h, 7d\n"
    "  --timeout SECONDS      how long to wait for the broker (default 30)\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0 the broker took it, 1 failed (or still in the outbox), 2 usage.\n";

/* The options of one publish. */
typedef struct {
    const char *config;       /* --config */
    const char *topic;        /* --topic */
    const char *type;         /* --type */
    const char *json_file;    /* --json */
    const char *raw_file;     /* --file */
    asylink_classification cls; /* --class */
    uint64_t expires_in_ms;   /* --expires, 0 = the broker's retention */
    uint64_t timeout_ms;      /* --timeout */
} s_opts;

enum { OPT_CONFIG = 256, OPT_TOPIC, OPT_TYPE, OPT_JSON, OPT_FILE, OPT_CLASS, OPT_EXPIRES,
       OPT_TIMEOUT };

static const struct option s_long[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"type", required_argument, NULL, OPT_TYPE},
    {"json", required_argument, NULL, OPT_JSON},
    {"file", required_argument, NULL, OPT_FILE},
    {"class", required_argument, NULL, OPT_CLASS},
    {"expires", required_argument, NULL, OPT_EXPIRES},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int s_apply(int opt, const char *prog, s_opts *o)
{
    uint64_t secs;
    switch (opt) {
    case OPT_CONFIG: o->config = optarg; break;
    case OPT_TOPIC: o->topic = optarg; break;
    case OPT_TYPE: o->type = optarg; break;
    case OPT_JSON: o->json_file = optarg; break;
    case OPT_FILE: o->raw_file = optarg; break;
    case OPT_CLASS:
        if (node_parse_class(optarg, &o->cls) != 0 || o->cls == ASYLINK_PERSONAL)
            return cli_usage(prog, "invalid --class '%s' (PUBLIC or LIMITED)", optarg);
        break;
    case OPT_EXPIRES:
        if (cli_parse_duration(optarg, &o->expires_in_ms) != 0 || o->expires_in_ms == 0)
            return cli_usage(prog, "invalid --expires '%s' (e.g. 90s, 30m, 12h, 7d)", optarg);
        break;
    case OPT_TIMEOUT:
        if (cli_parse_u64(optarg, 1, 86400, &secs) != 0)
            return cli_usage(prog, "invalid --timeout '%s' (1..86400 seconds)", optarg);
        o->timeout_ms = secs * 1000u;
        break;
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
    if (!o->config || !o->topic || !o->type)
        return cli_usage(prog, "--config, --topic and --type are required");
    if (!o->json_file == !o->raw_file)
        return cli_usage(prog, "give exactly one of --json and --file");
    if (o->json_file && !pbjson_known_type(o->type))
        return cli_usage(prog, "unknown payload type '%s' for --json", o->type);
    return CLI_OK;
}

static int s_publish(const s_opts *o, const uint8_t *payload, size_t len)
{
    asylink_publish_params p;
    asylink_publish_params_init(&p);
    p.topic = o->topic;
    p.content_type = o->type;
    if (o->cls)
        p.classification = o->cls;
    p.expires_ms = o->expires_in_ms ? clock_now_ms() + o->expires_in_ms : 0;
    asylink_client *c = NULL;
    if (node_open("publish", o->config, &c) != CLI_OK)
        return CLI_FAIL;
    uint8_t id[16];
    uint64_t deadline = clock_now_ms() + o->timeout_ms;
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
    asylink_client_close(&c);
    if (rc != ASYLINK_OK)
        return cli_fail("publish", rc);
    char ids[37];
    printf("%s\n", node_id_str(id, ids));
    fflush(stdout);
    if (strcmp(res.state, "rejected") == 0)
        return cli_fail_text("publish: rejected by the broker", res.code, "%s",
                             res.reason[0] ? res.reason : asylink_strerror(res.code));
    if (strcmp(res.state, "pending") == 0)
        return cli_fail_text("publish", ASYLINK_E_TIMEOUT,
                             "the broker has not taken it yet; it stays in the outbox");
    return CLI_OK;
}

int cmd_publish(int argc, char **argv)
{
    s_opts o = {.timeout_ms = 30000};
    int rc = s_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    uint8_t *payload = NULL;
    size_t len = 0;
    if (node_read_payload("publish", o.type, o.json_file, o.raw_file, &payload, &len) != CLI_OK)
        return CLI_FAIL;
    rc = s_publish(&o, payload, len);
    free(payload);
    return rc;
}
