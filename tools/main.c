/*
 * main.c — `asylink`, the operator, analyst and node command line:
 *
 *   asylink <command> [<subcommand>] [options]
 *
 * The commands are one table; each lives in tools/cmd_<command>.c and
 * parses its own options (cli.h has the conventions they share).
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "commands.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static int s_help(int argc, char **argv);

static const char s_about[] =
    "asylink is the command line of the asylink secure message exchange of the\n"
    "Common European Asylum System: keys, the federation CA and certificates;\n"
    "sending, receiving and following feeds as a node; the broker's status and,\n"
    "through its admin endpoint, nodes, queues, dead letters and reload.\n"
    "Options: --help (at every level), --version.";

static const cli_command s_commands[] = {
    {"keygen", cmd_keygen, "generate a node's key pairs and certificate request"},
    {"ca", cmd_ca, "run the federation CA: init, sign, revoke"},
    {"cert", cmd_cert, "show and verify certificates, requests, revocation lists"},
    {"send", cmd_send, "send a message (JSON converted to its payload type, or a file)"},
    {"recv", cmd_recv, "print and acknowledge the messages received by a node"},
    {"publish", cmd_publish, "publish a message on a feed topic"},
    {"subscribe", cmd_subscribe, "follow a feed: JSON lines or CSV"},
    {"status", cmd_status, "show a running broker's sessions, counters and queues"},
    {"receipts", cmd_receipts, "list, export and verify the signed receipts of a sent message"},
    {"evidence", cmd_evidence, "export and verify a message's evidence bundle (offline check)"},
    {"nodes", cmd_nodes, "list the federation's nodes as the broker sees them (admin endpoint)"},
    {"queues", cmd_queues, "list the broker's direct queues (admin endpoint)"},
    {"dlq", cmd_dlq, "list, replay and drop the broker's dead letters (admin endpoint)"},
    {"reload", cmd_reload, "make the broker reload trust and policy (admin endpoint)"},
    {"help", s_help, "show the help of a command: asylink help ca sign"},
};
#define S_N_COMMANDS (sizeof s_commands / sizeof s_commands[0])

/* "asylink help ca sign" runs "asylink ca sign --help". */
static int s_help(int argc, char **argv)
{
    char *args[4] = {"asylink", NULL, NULL, NULL};
    int n = 1;
    for (int i = 1; i < argc && n < 3; i++)
        args[n++] = argv[i];
    args[n++] = "--help";
    return cli_dispatch(n, args, s_commands, S_N_COMMANDS, s_about);
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return cli_failf("libsodium cannot be initialised");
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("asylink %s\n", asylink_version());
        return CLI_OK;
    }
    argv[0] = "asylink"; /* messages name the tool, not its path */
    return cli_dispatch(argc, argv, s_commands, S_N_COMMANDS, s_about);
}
