/*
 * cmd_purge.c — `asylink purge`: an erasure request for one message.
 *
 * At the broker (--config OPS.ini, the admin endpoint): the message is
 * removed from every queue, dead letter list, the feed log and the store,
 * a resend of it is refused (PURGED) for the broker's dedup window, and
 * the purge with its reason and reference is recorded in the audit trail.
 * With four-eyes on, the broker holds the request for a second operator
 * (`asylink pending confirm`).
 */
#include "adminc.h"
#include "asylink/asylink.h"
#include "cli.h"
#include "cliopt.h"
#include "commands.h"
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
     .flags = CLIOPT_REQUIRED,
     .parse = cliopt_parse_node_id,
     .expect = CLIOPT_EXPECT_NODE_ID,
     .help = "the node that sent it (message ids are unique per sender)"},
    {.name = "reason",
     .kind = CLIOPT_CUSTOM,
     .metavar = "TEXT",
     .offset = offsetof(s_opts, reason),
     .parse = s_parse_text,
     .expect = "one line of at most 255 bytes",
     .help = "why, recorded in the audit trail (e.g. \"erasure request, Art. 17 GDPR\")"},
    {.name = "reference",
     .kind = CLIOPT_CUSTOM,
     .metavar = "TEXT",
     .offset = offsetof(s_opts, reference),
     .parse = s_parse_text,
     .expect = "one line of at most 255 bytes",
     .help = "the case or ticket of the erasure request, recorded in the audit trail"},
};

const cliopt_spec cmd_purge_spec = {
    .synopsis = "--config OPS.ini --id UUID --sender NODE_ID [--reason TEXT] [--reference TEXT] "
                "[options]",
    .description =
        "Erases one message at the broker (erasure request, or a message sent to the wrong "
        "authority): it is removed from every recipient's queue, the dead letters, the feed log "
        "and the store, in one transaction with an audit record of who purged it, when, why "
        "and its digest (never its content). A resend of the same message is then refused "
        "(PURGED) for the broker's dedup window. A message the broker no longer holds gets the "
        "tombstone and the audit record all the same, so that it is refused if its sender "
        "still has it in an outbox.\n\n"
        "With four-eyes on ([admin] four_eyes), the broker holds the request until another "
        "operator confirms it (`asylink pending confirm ID`); nothing is erased before.\n\n"
        "Copies the recipients already received are theirs: each node erases its own with "
        "the client library's asylink_purge(). The freed pages of the broker's LMDB file may "
        "keep the bytes until they are reused; docs/OPERATIONS.md says how to compact.",
    .opts = s_rows,
    .n_opts = CLIOPT_LEN(s_rows),
};

int cmd_purge(int argc, char **argv)
{
    s_opts o = {0};
    int rc = cliopt_parse(&cmd_purge_spec, argc, argv, &o, NULL);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
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
