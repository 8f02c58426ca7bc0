/*
 * main.c — `asylink`, the operator, analyst and node command line:
 *
 *   asylink <command> [<subcommand>] [options]
 *
 * The commands are one tree (commands.c); each lives in tools/cmd_<command>.c
 * and declares its options in a table (cliopt.h).
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "commands.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return cli_failf("libsodium cannot be initialised");
    cli_passphrase_env_take(); /* before anything else could read or copy the environment */
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("asylink %s\n", asylink_version());
        return CLI_OK;
    }
    argv[0] = "asylink"; /* messages name the tool, not its path */
    return cli_dispatch(argc, argv, &cli_root);
}
