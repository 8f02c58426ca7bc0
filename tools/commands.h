/*
 * commands.h — the `asylink` command tree: its root (commands.c), and
 * for each tools/cmd_<name>.c its handlers and option tables (leaves) or
 * subcommand tables (groups). A new command adds its declarations here
 * and a row to the root table in commands.c. Each handler takes argv[0] =
 * its full name ("asylink keygen") and returns an exit code (cli.h).
 */
#ifndef ASYLINK_TOOLS_COMMANDS_H
#define ASYLINK_TOOLS_COMMANDS_H

#include "cli.h"
#include "cliopt.h"

/* The whole tree: `asylink` and its commands (commands.c). */
extern const cli_command cli_root;

int cmd_keygen(int argc, char **argv); /* cmd_keygen.c */
extern const cliopt_spec cmd_keygen_spec;

extern const cli_command cmd_ca_commands[]; /* cmd_ca.c: init, sign, revoke */
extern const char cmd_ca_about[];

extern const cli_command cmd_cert_commands[]; /* cmd_cert.c: show, verify */
extern const char cmd_cert_about[];

int cmd_send(int argc, char **argv); /* cmd_send.c */
extern const cliopt_spec cmd_send_spec;

int cmd_recv(int argc, char **argv); /* cmd_recv.c */
extern const cliopt_spec cmd_recv_spec;

int cmd_publish(int argc, char **argv); /* cmd_publish.c */
extern const cliopt_spec cmd_publish_spec;

int cmd_subscribe(int argc, char **argv); /* cmd_subscribe.c */
extern const cliopt_spec cmd_subscribe_spec;

int cmd_status(int argc, char **argv); /* cmd_status.c */
extern const cliopt_spec cmd_status_spec;

int cmd_receipts(int argc, char **argv); /* cmd_receipts.c: list, export, verify */
extern const cliopt_spec cmd_receipts_spec;

extern const cli_command cmd_evidence_commands[]; /* cmd_evidence.c: export, verify */
extern const char cmd_evidence_about[];

int cmd_nodes(int argc, char **argv); /* cmd_admin.c */
extern const cliopt_spec cmd_nodes_spec;
int cmd_queues(int argc, char **argv); /* cmd_admin.c */
extern const cliopt_spec cmd_queues_spec;
extern const cli_command cmd_dlq_commands[]; /* cmd_admin.c: list, replay, drop */
extern const char cmd_dlq_about[];
int cmd_topics(int argc, char **argv); /* cmd_admin.c */
extern const cliopt_spec cmd_topics_spec;
extern const cli_command cmd_pending_commands[]; /* cmd_admin.c: list, confirm, cancel */
extern const char cmd_pending_about[];
int cmd_purge(int argc, char **argv); /* cmd_purge.c */
extern const cliopt_spec cmd_purge_spec;
int cmd_reload(int argc, char **argv); /* cmd_admin.c */
extern const cliopt_spec cmd_reload_spec;
extern const cli_command cmd_audit_commands[]; /* cmd_audit.c: tail, verify, export, ... */
extern const char cmd_audit_about[];

#endif
