/*
 * cmd_receipts.c — `asylink receipts`: the signed receipts a node holds for
 * a message it sent. Lists them (optionally waiting until every recipient
 * has answered), exports one recipient's signed receipt envelope as
 * evidence, or verifies such evidence against the node's trust directory
 * and outbox.
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "cliopt.h"
#include "commands.h"
#include "file.h"
#include "node.h"
#include "uuid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECEIPTS_MAX 256        /* recipients of one message */
#define EVIDENCE_MAX (1u << 20) /* a receipt envelope of 1,000 receipts is ~200 KiB */

typedef struct {
    const char *config;    /* --config */
    cliopt_uuid message;   /* --message */
    uint64_t wait_ms;      /* --wait, 0 = do not wait */
    const char *export_to; /* --export */
    const char *out;       /* --out */
    const char *verify;    /* --verify */
    bool json;             /* --json */
} s_opts;

static const cliopt s_rows[] = {
    CLIOPT_ROW_CONFIG(s_opts, config),
    {.name = "message",
     .kind = CLIOPT_CUSTOM,
     .metavar = "UUID",
     .offset = offsetof(s_opts, message),
     .parse = cliopt_parse_uuid,
     .expect = "a message id as printed by asylink send",
     .help = "the message id (as printed by asylink send)"},
    {.name = "wait",
     .kind = CLIOPT_SECONDS,
     .metavar = "SECONDS",
     .offset = offsetof(s_opts, wait_ms),
     .min = 1,
     .max = 86400,
     .help = "first wait up to SECONDS until every recipient has sent a receipt saying it "
             "took the message (fails at once on a refusal, or on a receipt whose signer's "
             "certificate is revoked)"},
    {.name = "export",
     .kind = CLIOPT_CUSTOM,
     .metavar = "RECIPIENT",
     .offset = offsetof(s_opts, export_to),
     .parse = cliopt_parse_node_id,
     .expect = CLIOPT_EXPECT_NODE_ID,
     .help = "write RECIPIENT's signed receipt envelope to --out"},
    {.name = "out",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(s_opts, out),
     .help = "the evidence file to write (mode 0600, not overwritten)"},
    {.name = "verify",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(s_opts, verify),
     .help = "check evidence: signed by a trusted recipient, addressed to this node, quoting "
             "the digest of a message it sent (with --message: of that message; without, the "
             "first receipt in the file is shown)"},
    CLIOPT_ROW_JSON(s_opts, json),
    {.name = "id", .flags = CLIOPT_DEPRECATED, .alias_of = "message"},
    CLIOPT_ROW_JSON_OUTPUT_OLD,
};

static const cliopt_rule s_rules[] = {
    {CLIOPT_AT_LEAST_ONE, "message verify"},
    {CLIOPT_EXCLUDES, "verify export out wait"},
    {CLIOPT_TOGETHER, "export out"},
    {CLIOPT_EXCLUDES, "export wait"},
};

const cliopt_spec cmd_receipts_spec = {
    .synopsis = "--config NODE.ini --message UUID [--wait SECONDS] [--json]\n"
                "--config NODE.ini --message UUID --export RECIPIENT --out FILE\n"
                "--config NODE.ini --verify FILE [--message UUID] [--json]",
    .description = "The signed receipts this node holds for a message it sent: proof that each "
                   "recipient's application took the exact envelope that was sent.",
    .opts = s_rows,
    .n_opts = CLIOPT_LEN(s_rows),
    .rules = s_rules,
    .n_rules = CLIOPT_LEN(s_rules),
    .notes = "A receipt whose signer's certificate was revoked after it arrived is listed\n"
             "with \"signer's certificate revoked since\" (JSON: signer_revoked): its evidence\n"
             "no longer verifies, and exporting it says so.\n\n"
             "The first line says whether the receipts are complete (every recipient sent\n"
             "one saying it took the message, under certificates not revoked: JSON\n"
             "\"complete\": true), incomplete, or end with a refusal or a revoked signer,\n"
             "then what this node's outbox says of the message: \"broker: accepted\",\n"
             "\"broker: pending\" (not accepted yet: it is sent until it is) or \"broker:\n"
             "rejected (CODE)\" (JSON: \"broker\" and \"broker_code\"; left out once the\n"
             "record is past its retention).\n\n"
             "Exit status: 0 listed / exported / verified (with --wait: every recipient\n"
             "took the message), 1 failed, not found, timed out, refused (--wait: a\n"
             "rejected receipt, NOT_RECIPIENT, or a revoked signer, REVOKED) or not valid\n"
             "evidence, 2 usage.\n",
};

/* A receipt status as a word. */
static const char *s_status_name(int status)
{
    switch (status) {
    case ASYLINK_RECEIPT_DELIVERED: return "delivered";
    case ASYLINK_RECEIPT_REJECTED: return "rejected";
    default: return "unknown";
    }
}

static json_t *s_receipt_json(const asylink_receipt_info *r)
{
    char when[40], digest[129];
    for (size_t i = 0; i < 64; i++)
        snprintf(digest + 2 * i, 3, "%02x", r->envelope_digest[i]);
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:b}", "recipient", r->recipient, "status",
                     s_status_name(r->status), "acked_ms", (json_int_t)r->acked_ms, "acked",
                     clock_format_iso(r->acked_ms, when, sizeof when), "envelope_digest", digest,
                     "signer_revoked", r->signer_revoked != 0);
}

static void s_receipt_print(const asylink_receipt_info *r)
{
    char when[40];
    printf("%-12s %-9s %s%s\n", r->recipient, s_status_name(r->status),
           clock_format_iso(r->acked_ms, when, sizeof when),
           r->signer_revoked ? "  signer's certificate revoked since: proves nothing" : "");
}

/* What asylink_receipt_wait()'s answers that end a wait early mean. */
static const char *s_wait_why(int wait_rc)
{
    if (wait_rc == ASYLINK_E_NOT_RECIPIENT)
        return "a recipient refused the message (status rejected): delivery to it is not proven";
    return "a receipt is signed under a certificate revoked since: delivery is not proven";
}

/* The state line's words for what asylink_receipt_wait() answered. */
static const char *s_state(int wait_rc)
{
    switch (wait_rc) {
    case ASYLINK_OK: return "complete: every recipient took it";
    case ASYLINK_E_NOT_RECIPIENT: return "a recipient refused it";
    case ASYLINK_E_REVOKED: return "a receipt's signer is revoked since";
    default: return "incomplete: not every recipient has answered";
    }
}

/*
 * What this node's outbox says of the message (asylink_sent_state_get()):
 * "accepted", "pending", "rejected" (*code why), or NULL when it has no
 * record of it (past its retention) or cannot say.
 */
static const char *s_broker_word(asylink_client *c, const uint8_t id[16], int *code)
{
    int state = 0;
    if (asylink_sent_state_get(c, id, &state, code) != ASYLINK_OK)
        return NULL;
    switch (state) {
    case ASYLINK_SENT_PENDING: return "pending";
    case ASYLINK_SENT_ACCEPTED: return "accepted";
    case ASYLINK_SENT_REJECTED: return "rejected";
    default: return NULL;
    }
}

/*
 * Lists the receipts of --message (after waiting for all of them with
 * --wait; without, whether they are complete is checked once, for the
 * state line and JSON's "complete", and the exit status is 0).
 */
static int s_list(const s_opts *o, asylink_client *c)
{
    int wait_rc = asylink_receipt_wait(c, o->message.bytes, o->wait_ms ? (int)o->wait_ms : 0);
    if (wait_rc == ASYLINK_E_NOT_FOUND) /* said below, as asylink_receipts() says it */
        wait_rc = ASYLINK_E_TIMEOUT;
    bool refused = wait_rc == ASYLINK_E_NOT_RECIPIENT || wait_rc == ASYLINK_E_REVOKED;
    if (wait_rc != ASYLINK_OK && wait_rc != ASYLINK_E_TIMEOUT && !refused)
        return cli_fail("receipts", wait_rc);
    asylink_receipt_info *r = calloc(RECEIPTS_MAX, sizeof *r);
    size_t n = 0;
    int rc = r ? asylink_receipts(c, o->message.bytes, r, RECEIPTS_MAX, &n) : ASYLINK_E_NOMEM;
    if (rc != ASYLINK_OK) {
        free(r);
        return cli_fail_text("receipts", rc, "%s: %s", o->message.text,
                             rc == ASYLINK_E_NOT_FOUND ? "not a message this node sent"
                                                       : asylink_strerror(rc));
    }
    n = n > RECEIPTS_MAX ? RECEIPTS_MAX : n;
    int code = ASYLINK_OK;
    const char *broker = s_broker_word(c, o->message.bytes, &code);
    bool refused_here = broker && strcmp(broker, "rejected") == 0;
    if (o->json) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < n; i++)
            json_array_append_new(list, s_receipt_json(&r[i]));
        json_t *v = json_pack("{s:s, s:b, s:o}", "message_id", o->message.text, "complete",
                              wait_rc == ASYLINK_OK, "receipts", list);
        if (v && broker)
            json_object_set_new(v, "broker", json_string(broker));
        if (v && refused_here)
            json_object_set_new(v, "broker_code", json_string(asylink_err_name(code)));
        rc = cli_json_print(v);
    } else {
        char tail[96] = "";
        if (broker)
            snprintf(tail, sizeof tail, "; broker: %s%s%s%s", broker, refused_here ? " (" : "",
                     refused_here ? asylink_err_name(code) : "", refused_here ? ")" : "");
        printf("%s: %zu receipt%s (%s)%s\n", o->message.text, n, n == 1 ? "" : "s",
               s_state(wait_rc), tail);
        for (size_t i = 0; i < n; i++)
            s_receipt_print(&r[i]);
        fflush(stdout);
        rc = CLI_OK;
    }
    free(r);
    if (!o->wait_ms) /* a listing: its state is in the output */
        return rc;
    if (refused)
        return cli_fail_text("receipts", wait_rc, "%s: %s", o->message.text, s_wait_why(wait_rc));
    asylink_connect_failure f;
    if (wait_rc == ASYLINK_E_TIMEOUT && node_broker_down(c, false, &f))
        return node_fail_broker("receipts", &f, o->wait_ms,
                                "receipts that reached the broker arrive once it is reachable");
    if (wait_rc == ASYLINK_E_TIMEOUT)
        return cli_fail_text("receipts", ASYLINK_E_TIMEOUT,
                             "not every recipient has sent its receipt yet");
    return rc;
}

/* Notes on stderr when the exported receipt of recipient does not prove delivery. */
static void s_export_note(const s_opts *o, asylink_client *c)
{
    asylink_receipt_info *r = calloc(RECEIPTS_MAX, sizeof *r);
    size_t n = 0;
    if (!r || asylink_receipts(c, o->message.bytes, r, RECEIPTS_MAX, &n) != ASYLINK_OK)
        n = 0;
    for (size_t i = 0; i < n && i < RECEIPTS_MAX; i++) {
        if (strcmp(r[i].recipient, o->export_to) != 0)
            continue;
        if (r[i].status != ASYLINK_RECEIPT_DELIVERED)
            cli_note("warning: %s's receipt says it refused %s: it proves no delivery",
                     o->export_to, o->message.text);
        if (r[i].signer_revoked)
            cli_note("warning: %s's certificate that signed this receipt is revoked since: "
                     "the evidence does not verify (REVOKED)",
                     o->export_to);
    }
    free(r);
}

static int s_export(const s_opts *o, asylink_client *c)
{
    uint8_t *env = NULL;
    size_t len = 0;
    int rc = asylink_receipt_export(c, o->message.bytes, o->export_to, &env, &len);
    if (rc == ASYLINK_E_NOT_FOUND)
        return cli_fail_text("receipts", rc, "no receipt from %s for %s", o->export_to,
                             o->message.text);
    if (rc != ASYLINK_OK)
        return cli_fail("receipts", rc);
    rc = file_write_atomic(o->out, env, len, 0600, 1);
    asylink_free(env);
    if (rc == ASYLINK_E_EXISTS)
        return cli_fail_text("receipts", rc,
                             "%s exists: not overwritten (remove it, or choose another --out)",
                             o->out);
    if (rc != ASYLINK_OK)
        return cli_fail_text("receipts", rc, "cannot write %s", o->out);
    s_export_note(o, c);
    if (o->json)
        return cli_json_print(json_pack("{s:s, s:s, s:s, s:I}", "message_id", o->message.text,
                                        "recipient", o->export_to, "file", o->out, "bytes",
                                        (json_int_t)len));
    printf("%s: receipt of %s written to %s (%zu bytes)\n", o->message.text, o->export_to, o->out,
           len);
    return CLI_OK;
}

static int s_verify(const s_opts *o, asylink_client *c)
{
    uint8_t *env = NULL;
    size_t len = 0;
    int rc = file_read(o->verify, EVIDENCE_MAX, &env, &len);
    if (rc == ASYLINK_E_TOO_LARGE)
        return cli_fail_file_limit(o->verify, rc, EVIDENCE_MAX, "a receipt envelope");
    if (rc != ASYLINK_OK)
        return cli_fail_text("receipts", rc, "cannot read %s", o->verify);
    asylink_receipt_info info;
    rc = asylink_receipt_verify(c, env, len, o->message.text ? o->message.bytes : NULL, &info);
    free(env);
    if (rc != ASYLINK_OK)
        return cli_fail_text("receipts", rc, "%s is not valid evidence%s%s: %s", o->verify,
                             o->message.text ? " for " : "", o->message.text ? o->message.text : "",
                             asylink_strerror(rc));
    if (o->json) {
        json_t *v = s_receipt_json(&info);
        if (v)
            json_object_set_new(v, "valid", json_true());
        return cli_json_print(v);
    }
    printf("valid receipt: ");
    s_receipt_print(&info);
    return CLI_OK;
}

int cmd_receipts(int argc, char **argv)
{
    s_opts o = {0};
    int rc = cliopt_parse(&cmd_receipts_spec, argc, argv, &o, NULL);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    asylink_client *c = NULL;
    if (node_open("receipts", o.config, &c) != CLI_OK)
        return CLI_FAIL;
    if (o.verify)
        rc = s_verify(&o, c);
    else if (o.export_to)
        rc = s_export(&o, c);
    else
        rc = s_list(&o, c);
    asylink_client_close(&c);
    return rc;
}
