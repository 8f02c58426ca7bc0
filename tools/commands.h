/*
 * commands.h — the handlers of the `asylink` top-level commands, one per
 * tools/cmd_<name>.c. A new command adds its handler here and a row to the
 * table in main.c. Each takes argv[0] = its full name ("asylink keygen")
 * and returns an exit code (cli.h).
 */
#ifndef ASYLINK_TOOLS_COMMANDS_H
#define ASYLINK_TOOLS_COMMANDS_H

int cmd_keygen(int argc, char **argv); /* cmd_keygen.c */
int cmd_ca(int argc, char **argv);     /* cmd_ca.c: init, sign, revoke */
int cmd_cert(int argc, char **argv);   /* cmd_cert.c: show, verify */
int cmd_send(int argc, char **argv);   /* cmd_send.c */
int cmd_recv(int argc, char **argv);   /* cmd_recv.c */
int cmd_publish(int argc, char **argv); /* cmd_publish.c */
int cmd_subscribe(int argc, char **argv); /* cmd_subscribe.c */
int cmd_status(int argc, char **argv); /* cmd_status.c */
int cmd_receipts(int argc, char **argv); /* cmd_receipts.c: list, export, verify */
int cmd_evidence(int argc, char **argv); /* cmd_evidence.c: export, verify */
int cmd_nodes(int argc, char **argv);  /* cmd_admin.c */
int cmd_queues(int argc, char **argv); /* cmd_admin.c */
int cmd_dlq(int argc, char **argv);    /* cmd_admin.c: list, replay, drop */
int cmd_reload(int argc, char **argv); /* cmd_admin.c */

#endif
