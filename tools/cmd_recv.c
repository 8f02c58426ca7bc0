/*
 * cmd_recv.c — `asylink recv`: takes the messages waiting for a node from
 * its durable inbox (receiving from the broker meanwhile), prints each one
 * and acknowledges it after printing, so a crash in between shows it again
 * next time (and its sender gets a signed receipt only once it was shown).
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "commands.h"
#include "node.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

static const char s_usage[] =
    "Usage: asylink recv --config NODE.ini [options]\n"
    "\n"
    "Prints the messages received by this node and acknowledges each one after\n"
    "printing it. Payloads of asylink.v1 types are shown as JSON.\n"
    "\n"
    "  --config FILE          the node's configuration ([node] section)\n"
    "  --count N              stop after N messages (default: no limit)\n"
    "  --timeout SECONDS      stop after this long without a message (default 10)\n"
    "  --json                 one JSON object per line: metadata and \"payload\"\n"
    "                         (decoded, or base64 for other content types)\n"
    "  --no-ack               do not acknowledge: the messages are shown again\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0 done, 1 failed or fewer than --count messages arrived, 2 usage.\n";

/* The options of one recv. */
typedef struct {
    const char *config; /* --config */
    uint64_t count;     /* --count, 0 = no limit */
    uint64_t idle_ms;   /* --timeout */
    bool json;          /* --json */
    bool no_ack;        /* --no-ack */
} s_opts;

enum { OPT_CONFIG = 256, OPT_COUNT, OPT_TIMEOUT, OPT_JSON, OPT_NO_ACK };

static const struct option s_long[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"count", required_argument, NULL, OPT_COUNT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"no-ack", no_argument, NULL, OPT_NO_ACK},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int s_apply(int opt, const char *prog, s_opts *o)
{
    uint64_t secs;
    switch (opt) {
    case OPT_CONFIG: o->config = optarg; break;
    case OPT_COUNT:
        if (cli_parse_u64(optarg, 1, UINT32_MAX, &o->count) != 0)
            return cli_usage(prog, "invalid --count '%s' (a positive number)", optarg);
        break;
    case OPT_TIMEOUT:
        if (cli_parse_u64(optarg, 0, 86400, &secs) != 0)
            return cli_usage(prog, "invalid --timeout '%s' (0..86400 seconds)", optarg);
        o->idle_ms = secs * 1000u;
        break;
    case OPT_JSON: o->json = true; break;
    case OPT_NO_ACK: o->no_ack = true; break;
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
    if (!o->config)
        return cli_usage(prog, "--config is required");
    return CLI_OK;
}

static int s_print(void *ctx, const asylink_message *m)
{
    const s_opts *o = ctx;
    if (o->json)
        return node_json_line(node_message_json(m));
    node_message_print(m);
    return fflush(stdout) == 0 ? CLI_OK : cli_fail("stdout", ASYLINK_E_IO);
}

int cmd_recv(int argc, char **argv)
{
    s_opts o = {.idle_ms = 10000};
    int rc = s_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    asylink_client *c = NULL;
    if (node_open("recv", o.config, &c) != CLI_OK)
        return CLI_FAIL;
    node_recv_opts ro = {.count = o.count, .idle_ms = o.idle_ms, .ack = !o.no_ack,
                         .print = s_print, .ctx = &o};
    rc = node_receive("recv", c, &ro);
    asylink_client_close(&c);
    return rc;
}
