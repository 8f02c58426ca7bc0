/*
 * cmd_purge.c — `asylink purge`: an erasure request for one message.
 *
 * At the broker (--config OPS.ini, the admin endpoint): the message is
 * removed from every queue, dead letter list, the feed log and the store,
 * a resend of it is refused (PURGED) for the broker's dedup window, and
 * the purge with its reason and reference is recorded in the audit trail.
 * With four-eyes on, the broker holds the request for a second operator
 * (`asylink pending confirm`).
 *
 * On this node (--local, --config NODE.ini): the client library's
 * asylink_purge() erases the node's own copies (the message it sent, the
 * messages it received with that id) from its data directory.
 */
#include "adminc.h"
#include "asylink/asylink.h"
#include "cli.h"
#include "cliopt.h"
#include "commands.h"
#include "node.h"
#include "uuid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The options of purge. */
typedef struct {
    adminc_opts a;         /* --config, --admin, --timeout, --json */
    cliopt_uuid id;        /* --id */
    const char *sender;    /* --sender */
    const char *reason;    /* --reason */
    const char *reference; /* --reference */
    bool local;            /* --local */
} s_opts;

/* Free text for the audit trail: at most WIRE_REASON_MAX bytes (the broker refuses more). */
static int s_parse_text(const char *text, void *field)
{
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return -1;
    if (n > WIRE_REASON_MAX)
        return -1;
    *(const char **)field = text;
    return 0;
}

static const cliopt s_rows[] = {
    ADMINC_ROWS(s_opts, a),
    {.name = "id",
     .kind = CLIOPT_CUSTOM,
     .metavar = "UUID",
     .offset = offsetof(s_opts, id),
     .flags = CLIOPT_REQUIRED,
     .parse = cliopt_parse_uuid,
     .expect = "a message id as printed by asylink send",
     .help = "the message id"},
    {.name = "sender",
     .kind = CLIOPT_CUSTOM,
     .metavar = "NODE_ID",
     .offset = offsetof(s_opts, sender),
     .parse = cliopt_parse_node_id,
     .expect = CLIOPT_EXPECT_NODE_ID,
     .help = "the node that sent it (message ids are unique per sender); required at the "
             "broker; with --local, without it every copy with the id"},
    {.name = "reason",
     .kind = CLIOPT_CUSTOM,
     .metavar = "TEXT",
     .offset = offsetof(s_opts, reason),
     .parse = s_parse_text,
     .expect = "one line of at most 255 bytes",
     .help = "why, recorded in the audit trail for good (e.g. \"erasure request, Art. 17 "
             "GDPR\"): audit records cannot be changed or erased afterwards, so never put "
             "personal data in it (no names, no case file contents; a ticket number in "
             "--reference)"},
    {.name = "reference",
     .kind = CLIOPT_CUSTOM,
     .metavar = "TEXT",
     .offset = offsetof(s_opts, reference),
     .parse = s_parse_text,
     .expect = "one line of at most 255 bytes",
     .help = "the case or ticket of the erasure request, recorded in the audit trail for good "
             "(a number, never personal data)"},
    {.name = "local",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, local),
     .help = "erase this node's own copies (--config is then the node's configuration)"},
};

static const cliopt_rule s_rules[] = {{CLIOPT_EXCLUDES, "local admin reason reference"}};

const cliopt_spec cmd_purge_spec = {
    .synopsis = "--config OPS.ini --id UUID --sender NODE_ID [--reason TEXT] [--reference TEXT] "
                "[options]\n--local --config NODE.ini --id UUID [--sender NODE_ID] [--json]",
    .description =
        "Erases one message at the broker (erasure request, or a message sent to the wrong "
        "authority): it is removed from every recipient's queue, the dead letters, the feed log "
        "and the store, in one transaction with an audit record of who purged it, when, why "
        "and its digest (never its content). A resend of the same message is then refused "
        "(PURGED) for the broker's dedup window. A message the broker no longer holds gets the "
        "tombstone and the audit record all the same, so that it is refused if its sender "
        "still has it in an outbox.\n\n"
        "The audit record is permanent: the --reason and --reference texts outlive the "
        "message they erase, so never put personal data in them.\n\n"
        "With four-eyes on ([admin] four_eyes), the broker holds the request until another "
        "operator confirms it (`asylink pending confirm ID`); nothing is erased before.\n\n"
        "Copies the recipients already received are theirs: each node erases its own with "
        "--local (the client library's asylink_purge()): the message it sent (not sent any "
        "more if the broker has not accepted it yet) and the messages it received with that "
        "id (never handed over again); ids, digests, receipts and tombstones stay until the "
        "node's metadata_retention. The freed pages of an LMDB file may keep the bytes until "
        "they are reused; docs/OPERATIONS.md says how to compact.",
    .opts = s_rows,
    .n_opts = CLIOPT_LEN(s_rows),
    .rules = s_rules,
    .n_rules = CLIOPT_LEN(s_rules),
};

/* --local: the node's own copies, through the client library. */
static int s_local(const char *prog, const s_opts *o)
{
    asylink_client *c = NULL;
    int rc = node_open(prog, o->a.config, &c);
    if (rc != CLI_OK)
        return rc;
    size_t n = 0;
    char id[UUID_STR_LEN];
    uuid_format(o->id.bytes, id, sizeof id);
    int code = asylink_purge(c, o->id.bytes, o->sender, &n);
    asylink_client_close(&c);
    if (code != ASYLINK_OK)
        return cli_fail_text(
            prog, code, "%s%s%s: %s", id, o->sender ? " of " : "", o->sender ? o->sender : "",
            code == ASYLINK_E_NOT_FOUND ? "this node never sent nor received such a message"
                                        : asylink_strerror(code));
    if (o->a.json)
        return cli_json_print(json_pack("{s:s, s:s, s:I}", "message_id", id, "sender",
                                        o->sender ? o->sender : "", "erased", (json_int_t)n));
    if (n)
        printf("purged %zu cop%s of message %s on this node\n", n, n == 1 ? "y" : "ies", id);
    else
        printf("message %s holds no content on this node (already purged, or acknowledged)\n", id);
    return fflush(stdout) == 0 ? CLI_OK : cli_fail("stdout", ASYLINK_E_IO);
}

int cmd_purge(int argc, char **argv)
{
    s_opts o = {0};
    int rc = cliopt_parse(&cmd_purge_spec, argc, argv, &o, NULL);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    if (o.local)
        return s_local(argv[0], &o);
    if (!o.sender)
        return cli_usage(argv[0], "--sender is required at the broker (message ids are unique per "
                                  "sender)");
    if (o.reason && o.reason[0]) /* accountability data, kept verbatim: say so each time */
        fprintf(stderr,
                "%s: note: the --reason text stays in the audit trail for good (never "
                "personal data)\n",
                argv[0]);
    wire_admin_request q = {.op = WIRE_ADMIN_PURGE};
    snprintf(q.node_id, sizeof q.node_id, "%s", o.sender);
    memcpy(q.message_id, o.id.bytes, sizeof q.message_id);
    snprintf(q.reason, sizeof q.reason, "%s", o.reason ? o.reason : "");
    snprintf(q.reference, sizeof q.reference, "%s", o.reference ? o.reference : "");
    json_t *m = NULL;
    if ((rc = adminc_call(argv[0], &o.a, &q, &m)) != CLI_OK)
        return rc;
    if (o.a.json)
        return cli_json_print(m);
    if (!adminc_print_held(m)) {
        char what[UUID_STR_LEN + NODE_ID_MAX + 16], id[UUID_STR_LEN];
        snprintf(what, sizeof what, "message %s of %s", uuid_format(o.id.bytes, id, sizeof id),
                 o.sender);
        adminc_print_purged(m, what);
    }
    json_decref(m);
    if (fflush(stdout) != 0)
        return cli_fail("stdout", ASYLINK_E_IO);
    return CLI_OK;
}
