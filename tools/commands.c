/*
 * commands.c — the root of the `asylink` command tree: every command with
 * its one-line summary, in the order `asylink --help` lists them.
 */
#include "commands.h"

static int s_help(int argc, char **argv);

static const cli_command s_commands[] = {
    {"keygen", cmd_keygen, "generate a node's key pairs and certificate request", &cmd_keygen_spec,
     NULL, NULL},
    {"ca", NULL, "run the federation CA: init, sign, revoke", NULL, cmd_ca_commands, cmd_ca_about},
    {"cert", NULL, "show and verify certificates, requests, revocation lists", NULL,
     cmd_cert_commands, cmd_cert_about},
    {"send", cmd_send, "send a message (JSON converted to its payload type, or a file)",
     &cmd_send_spec, NULL, NULL},
    {"recv", cmd_recv, "print and acknowledge the messages received by a node", &cmd_recv_spec,
     NULL, NULL},
    {"publish", cmd_publish, "publish a message on a feed topic", &cmd_publish_spec, NULL, NULL},
    {"subscribe", cmd_subscribe, "follow a feed: JSON lines or CSV", &cmd_subscribe_spec, NULL,
     NULL},
    {"status", cmd_status, "show a running broker's sessions, counters and queues",
     &cmd_status_spec, NULL, NULL},
    {"receipts", cmd_receipts, "list, export and verify the signed receipts of a sent message",
     &cmd_receipts_spec, NULL, NULL},
    {"evidence", NULL, "export and verify a message's evidence bundle (offline check)", NULL,
     cmd_evidence_commands, cmd_evidence_about},
    {"nodes", cmd_nodes, "list the federation's nodes as the broker sees them (admin endpoint)",
     &cmd_nodes_spec, NULL, NULL},
    {"queues", cmd_queues, "list the broker's direct queues (admin endpoint)", &cmd_queues_spec,
     NULL, NULL},
    {"topics", cmd_topics, "list the broker's feed topics and their subscriptions (admin endpoint)",
     &cmd_topics_spec, NULL, NULL},
    {"dlq", NULL, "list, replay and drop the broker's dead letters (admin endpoint)", NULL,
     cmd_dlq_commands, cmd_dlq_about},
    {"purge", cmd_purge,
     "erase a message at the broker (admin endpoint) or from this node's own store (--local)",
     &cmd_purge_spec, NULL, NULL},
    {"pending", NULL, "four-eyes: list, confirm and cancel held operator requests (admin endpoint)",
     NULL, cmd_pending_commands, cmd_pending_about},
    {"reload", cmd_reload, "make the broker reload trust and policy (admin endpoint)",
     &cmd_reload_spec, NULL, NULL},
    {"audit", NULL, "tail, verify and export the broker's audit trail (admin endpoint or --data)",
     NULL, cmd_audit_commands, cmd_audit_about},
    {"help", s_help, "show the help of a command: asylink help ca sign", NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

const cli_command cli_root = {
    .name = "asylink",
    .summary = "the command line of the asylink secure message exchange",
    .sub = s_commands,
    .about = "asylink is the command line of the asylink secure message exchange of the\n"
             "Common European Asylum System: keys, the federation CA and certificates;\n"
             "sending, receiving and following feeds as a node, and evidence bundles of\n"
             "what it sent; the broker's status and, through its admin endpoint, nodes,\n"
             "queues, topics, dead letters, erasure (purge, with four-eyes), reload and\n"
             "the audit trail.\n"
             "Options: --help (at every level), --version.",
};

/* "asylink help ca sign" runs "asylink ca sign --help". */
static int s_help(int argc, char **argv)
{
    char *args[4] = {"asylink", NULL, NULL, NULL};
    int n = 1;
    for (int i = 1; i < argc && n < 3; i++)
        args[n++] = argv[i];
    args[n++] = "--help";
    return cli_dispatch(n, args, &cli_root);
}
