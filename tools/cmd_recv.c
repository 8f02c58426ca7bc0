/*
 * cmd_recv.c — `asylink recv`: takes the messages waiting for a node from
 * its durable inbox (receiving from the broker meanwhile), prints each one
 * and acknowledges it after printing, so a crash in between shows it again
 * next time (and its sender gets a signed receipt only once it was shown).
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "cliopt.h"
#include "commands.h"
#include "node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The options of one recv. */
typedef struct {
    const char *config; /* --config */
    uint64_t count;     /* --count, 0 = no limit */
    uint64_t idle_ms;   /* --idle */
    bool json;          /* --json */
    bool no_ack;        /* --no-ack */
} s_opts;

static const cliopt s_rows[] = {
    CLIOPT_ROW_CONFIG(s_opts, config),
    NODE_ROWS_COUNT_IDLE(s_opts, count, idle_ms),
    {.name = "json",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, json),
     .help = "one JSON object per line: metadata and \"payload\" (decoded, or base64 for "
             "other content types)"},
    {.name = "no-ack",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, no_ack),
     .help = "do not acknowledge: the messages are shown again"},
    {.name = "timeout", .flags = CLIOPT_DEPRECATED, .alias_of = "idle"},
};

const cliopt_spec cmd_recv_spec = {
    .description = "Prints the messages received by this node and acknowledges each one after "
                   "printing it. Payloads of asylink.v1 types are shown as JSON.",
    .opts = s_rows,
    .n_opts = CLIOPT_LEN(s_rows),
    .notes = "Exit status: 0 done, 1 failed or fewer than --count messages arrived, 2 usage.\n",
};

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
    s_opts o = {0};
    int rc = cliopt_parse(&cmd_recv_spec, argc, argv, &o, NULL);
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
