/*
 * cmd_evidence.c — `asylink evidence`: proof a third party can check.
 *
 *   asylink evidence export --config NODE.ini --message UUID --out FILE [--json]
 *       on the sender's node: the sent envelope, its signed receipts (with
 *       their content keys), the certificates, CA and revocation list, and
 *       a signed manifest, as one ZIP file (asylink_evidence_export)
 *   asylink evidence verify FILE --trust DIR [--json]
 *       anywhere, offline: who sent which message to whom and when, that
 *       the signatures hold under the trust directory's CA, and that each
 *       recipient's signed receipt quotes exactly that envelope
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "cliopt.h"
#include "commands.h"
#include "envelope.h"
#include "evidence.h"
#include "evidence_check.h"
#include "file.h"
#include "node.h"
#include "trust.h"

#include <stddef.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The options of one evidence subcommand run. */
typedef struct {
    const char *config;  /* --config (export) */
    cliopt_uuid message; /* --message (export) */
    const char *out;     /* --out (export) */
    const char *file;    /* the bundle, the operand (verify) */
    const char *trust;   /* --trust (verify) */
    bool json;           /* --json */
} s_opts;

/* ---- export ---- */

static const cliopt s_export_rows[] = {
    CLIOPT_ROW_CONFIG(s_opts, config),
    {.name = "message",
     .kind = CLIOPT_CUSTOM,
     .metavar = "UUID",
     .offset = offsetof(s_opts, message),
     .flags = CLIOPT_REQUIRED,
     .parse = cliopt_parse_uuid,
     .expect = "a message id as printed by asylink send",
     .help = "the message id (as printed by asylink send)"},
    {.name = "out",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(s_opts, out),
     .flags = CLIOPT_REQUIRED,
     .help = "the bundle to write (mode 0600, not overwritten)"},
    CLIOPT_ROW_JSON(s_opts, json),
};

static const cliopt_spec s_export_spec = {
    .synopsis = "--config NODE.ini --message UUID --out FILE [--json]",
    .description =
        "On the node that sent message UUID: writes its evidence bundle to FILE (a ZIP file, "
        "mode 0600, never over an existing file): the sent envelope as the node kept it ([node] "
        "sent_retention), every signed receipt the node holds for it with the key that opens "
        "that receipt (and nothing else), the certificates, CA and revocation list of the "
        "node's trust directory, and a manifest with every file's SHA-256, signed with the "
        "node's key.\n\n"
        "The message's payload stays encrypted. Check the bundle with 'asylink evidence "
        "verify'.",
    .opts = s_export_rows,
    .n_opts = CLIOPT_LEN(s_export_rows),
    .notes = "A receipt that proves no delivery goes in as held, with a warning on stderr\n"
             "(JSON: rejected_by, signers_revoked): a recipient's refusal, or a receipt\n"
             "whose signer's certificate was revoked after it arrived; 'asylink evidence\n"
             "verify' then fails (NOT_RECIPIENT, REVOKED).\n\n"
             "Exit status: 0 written, 1 failed (not a message this node sent, its envelope\n"
             "no longer kept, FILE exists, ...), 2 usage.\n",
};

static int s_export_done(const s_opts *o, asylink_client *c)
{
    asylink_receipt_info *r = calloc(ENVELOPE_MAX_RECIPIENTS, sizeof *r);
    size_t n = 0;
    if (!r || asylink_receipts(c, o->message.bytes, r, ENVELOPE_MAX_RECIPIENTS, &n) != ASYLINK_OK)
        n = 0;
    n = n > ENVELOPE_MAX_RECIPIENTS ? ENVELOPE_MAX_RECIPIENTS : n;
    struct stat st;
    long long size = stat(o->out, &st) == 0 ? (long long)st.st_size : -1;
    int rc = CLI_OK;
    for (size_t i = 0; i < n; i++) { /* what the bundle's check will refuse, said now */
        if (r[i].status != ASYLINK_RECEIPT_DELIVERED)
            cli_note("warning: %s's receipt says it refused the message: the bundle does not "
                     "prove delivery to it (NOT_RECIPIENT)",
                     r[i].recipient);
        if (r[i].signer_revoked)
            cli_note("warning: %s's receipt is signed under a certificate revoked since: the "
                     "bundle does not verify (REVOKED)",
                     r[i].recipient);
    }
    if (o->json) {
        json_t *from = json_array(), *revoked = json_array(), *rejected = json_array();
        for (size_t i = 0; from && revoked && rejected && i < n; i++) {
            json_array_append_new(from, json_string(r[i].recipient));
            if (r[i].signer_revoked)
                json_array_append_new(revoked, json_string(r[i].recipient));
            if (r[i].status != ASYLINK_RECEIPT_DELIVERED)
                json_array_append_new(rejected, json_string(r[i].recipient));
        }
        rc = cli_json_print(json_pack("{s:s, s:s, s:I, s:o, s:o, s:o}", "message_id",
                                      o->message.text, "file", o->out, "bytes", (json_int_t)size,
                                      "receipts_from", from, "signers_revoked", revoked,
                                      "rejected_by", rejected));
    } else {
        printf("%s: evidence written to %s (%lld bytes), receipts from:", o->message.text, o->out,
               size);
        for (size_t i = 0; i < n; i++)
            printf(" %s", r[i].recipient);
        printf("%s\n", n ? "" : " none yet");
    }
    free(r);
    return rc;
}

static int s_export(int argc, char **argv)
{
    s_opts o = {0};
    int rc = cliopt_parse(&s_export_spec, argc, argv, &o, NULL);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    asylink_client *c = NULL;
    if (node_open("evidence export", o.config, &c) != CLI_OK)
        return CLI_FAIL;
    rc = asylink_evidence_export(c, o.message.bytes, o.out);
    if (rc == ASYLINK_OK)
        rc = s_export_done(&o, c);
    else if (rc == ASYLINK_E_EXISTS)
        rc =
            cli_fail_text("evidence export", rc,
                          "%s exists: not overwritten (remove it, or choose another --out)", o.out);
    else if (rc == ASYLINK_E_NOT_FOUND)
        rc = cli_fail_text("evidence export", rc,
                           "%s: not a message this node sent, its envelope is no longer kept "
                           "([node] sent_retention), or a certificate is missing from the trust "
                           "directory",
                           o.message.text);
    else if (rc == ASYLINK_E_BAD_FIELD)
        rc = cli_fail_text("evidence export", rc, "%s is a feed message: it has no receipts",
                           o.message.text);
    else if (rc == ASYLINK_E_TAMPERED) /* the receipts are encrypted to the node's key then */
        rc = cli_fail_text("evidence export", rc,
                           "%s: this node's key does not open a receipt it holds for it: the "
                           "node's key was replaced since the message was sent (export evidence "
                           "before a key switch, docs/OPERATIONS.md \"Renewing a "
                           "certificate\"), or the kept receipt is damaged",
                           o.message.text);
    else
        rc = cli_fail_text("evidence export", rc, "%s: %s", o.message.text, asylink_strerror(rc));
    asylink_client_close(&c);
    return rc;
}

/* ---- verify ---- */

static const cliopt s_verify_rows[] = {
    {.name = "trust",
     .kind = CLIOPT_STRING,
     .metavar = "DIR",
     .offset = offsetof(s_opts, trust),
     .flags = CLIOPT_REQUIRED,
     .help = "a trust directory holding the federation's CA (only DIR/ca.cert is needed)"},
    {.name = "json",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, json),
     .help = "print the report as JSON (also when the bundle is not valid)"},
};

static const cliopt_spec s_verify_spec = {
    .synopsis = "FILE --trust DIR [--json]",
    .description =
        "Checks an evidence bundle offline and says, for a person, who sent which message to "
        "whom and when, whether the sender's signature holds (certificate issued by the CA of "
        "DIR, valid when it signed, not revoked), and for each recipient whether its signed "
        "receipt quotes exactly that envelope and when it acknowledged it.\n\n"
        "Any change to any file of the bundle makes it fail, with a line saying what is wrong. "
        "Only DIR/ca.cert is needed; DIR's revocation list, if any, is checked as well as the "
        "bundle's.",
    .opts = s_verify_rows,
    .n_opts = CLIOPT_LEN(s_verify_rows),
    .operands = "FILE",
    .min_operands = 1,
    .max_operands = 1,
    .notes = "Exit status: 0 everything holds, 1 it does not (or cannot be read), 2 usage.\n",
};

static const char *s_when(uint64_t ms, char *buf, size_t len)
{
    return clock_format_iso(ms, buf, len);
}

static json_t *s_report_json(const evidence_report *r, const char *file)
{
    char when[40], digest[2 * ENVELOPE_DIGEST_LEN + 1];
    json_t *checks = json_array(), *to = json_array();
    for (size_t i = 0; checks && i < r->n_findings; i++) {
        const evidence_finding *f = &r->findings[i];
        json_array_append_new(checks, json_pack("{s:b, s:s, s:s, s:s}", "ok", f->ok, "code",
                                                asylink_err_name(f->code), "subject", f->subject,
                                                "text", f->text));
    }
    for (size_t i = 0; to && i < r->n_recipients; i++) {
        const evidence_recipient *x = &r->recipients[i];
        json_array_append_new(
            to, json_pack("{s:s, s:b, s:b, s:I, s:s}", "node", x->node, "receipt", x->has_receipt,
                          "proven", x->proven, "acked_ms", (json_int_t)x->acked_ms, "acked",
                          x->proven ? s_when(x->acked_ms, when, sizeof when) : ""));
    }
    sodium_bin2hex(digest, sizeof digest, r->digest, sizeof r->digest);
    json_t *v =
        json_pack("{s:s, s:b, s:s, s:o, s:o}", "file", file, "valid", r->result == ASYLINK_OK,
                  "result", asylink_err_name(r->result), "recipients", to, "checks", checks);
    if (v && r->have_message)
        json_object_update_new(
            v,
            json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:s}", "message_id", r->message_id, "sender",
                      r->sender, "sender_cert_serial", (json_int_t)r->sender_serial, "content_type",
                      r->content_type, "created_ms", (json_int_t)r->created_ms, "created",
                      s_when(r->created_ms, when, sizeof when), "envelope_digest", digest));
    return v;
}

static void s_print_message(const evidence_report *r)
{
    char when[40], digest[2 * ENVELOPE_DIGEST_LEN + 1];
    printf("Message     %s\n", r->message_id);
    printf("From        %s%s%s%s, certificate serial %llu\n", r->sender,
           r->sender_name[0] ? " (" : "", r->sender_name, r->sender_name[0] ? ")" : "",
           (unsigned long long)r->sender_serial);
    printf("To         ");
    for (size_t i = 0; i < r->n_recipients; i++)
        printf(" %s", r->recipients[i].node);
    printf("\nSent        %s (the sender's clock, signed)\n",
           s_when(r->created_ms, when, sizeof when));
    const char *cls = envelope_class_name(r->classification);
    printf("Content     %s, %s, %llu bytes%s\n", r->content_type, cls ? cls : "?",
           (unsigned long long)r->payload_size,
           r->encrypted ? ", encrypted: the bundle does not disclose it" : ", signed only");
    sodium_bin2hex(digest, sizeof digest, r->digest, sizeof r->digest);
    printf("Digest      BLAKE2b-512 %s\n", digest);
    printf("\nReceipts\n");
    for (size_t i = 0; i < r->n_recipients; i++) {
        const evidence_recipient *x = &r->recipients[i];
        if (x->proven)
            printf("  %-10s delivered: acknowledged %s (its clock, signed, certificate serial "
                   "%llu)%s\n",
                   x->node, s_when(x->acked_ms, when, sizeof when),
                   (unsigned long long)x->cert_serial,
                   x->others ? "; the same receipt covers other messages too" : "");
        else
            printf("  %-10s NOT PROVEN%s\n", x->node,
                   x->has_receipt ? ": its receipt does not check (see below)"
                                  : ": no receipt in the bundle");
    }
}

/* The one-line verdict. */
static void s_print_verdict(const evidence_report *r)
{
    char when[40];
    size_t failed = 0, first = r->n_findings;
    for (size_t i = 0; i < r->n_findings; i++)
        if (!r->findings[i].ok && failed++ == 0)
            first = i;
    if (failed == 0) {
        printf("\nRESULT: VALID. %s sent message %s to", r->sender, r->message_id);
        for (size_t i = 0; i < r->n_recipients; i++)
            printf("%s %s", i ? "," : "", r->recipients[i].node);
        printf(" on %s, and every recipient acknowledged exactly that envelope.\n",
               s_when(r->created_ms, when, sizeof when));
        return;
    }
    printf("\nRESULT: NOT VALID. %zu check%s failed; the first: %s: %s\n", failed,
           failed == 1 ? "" : "s", r->findings[first].subject, r->findings[first].text);
}

static void s_print_report(const evidence_report *r, const char *file)
{
    char when[40];
    printf("Evidence bundle %s: %zu %s\n\n", file, r->n_members,
           cli_plural(r->n_members, "file", "files"));
    if (r->have_message)
        s_print_message(r);
    printf("\nChecks\n");
    for (size_t i = 0; i < r->n_findings; i++)
        printf("  %-7s %s: %s\n", r->findings[i].ok ? "ok" : "FAILED", r->findings[i].subject,
               r->findings[i].text);
    if (r->exported_by[0])
        printf("\nExported    by %s, %s (the exporter's clock, signed)\n", r->exported_by,
               s_when(r->exported_ms, when, sizeof when));
    if (r->ca_node[0]) {
        printf("Trust       CA %s; revocation list ", r->ca_node);
        if (r->has_crl)
            printf("number %llu in the bundle", (unsigned long long)r->crl_number);
        else
            printf("none in the bundle");
        if (r->trust_has_crl)
            printf(", number %llu in the trust directory\n",
                   (unsigned long long)r->trust_crl_number);
        else
            printf(", none in the trust directory\n");
    }
    s_print_verdict(r);
}

static int s_verify(int argc, char **argv)
{
    s_opts o = {0};
    cliopt_result res;
    int rc = cliopt_parse(&s_verify_spec, argc, argv, &o, &res);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    o.file = argv[res.first_operand];
    trust *t = NULL;
    rc = trust_load(o.trust, &t);
    if (rc != ASYLINK_OK)
        return cli_fail_text("evidence verify", rc, "cannot load the trust directory %s: %s",
                             o.trust, asylink_strerror(rc));
    uint8_t *buf = NULL;
    size_t len = 0;
    evidence_report *r = NULL;
    rc = file_read(o.file, EVIDENCE_MAX_BUNDLE, &buf, &len);
    if (rc == ASYLINK_E_TOO_LARGE)
        rc = cli_fail_file_limit(o.file, rc, EVIDENCE_MAX_BUNDLE, "an evidence bundle");
    else if (rc != ASYLINK_OK)
        rc = cli_fail_text("evidence verify", rc, "cannot read %s: %s", o.file,
                           asylink_strerror(rc));
    else if ((rc = evidence_check(buf, len, t, &r)) != ASYLINK_OK)
        rc = cli_fail("evidence verify", rc);
    else if (o.json)
        rc = cli_json_print(s_report_json(r, o.file));
    else
        s_print_report(r, o.file);
    fflush(stdout);
    if (r && r->result != ASYLINK_OK) {
        size_t i = 0;
        while (i < r->n_findings && r->findings[i].ok)
            i++;
        rc = cli_fail_text("evidence verify", r->result, "%s is not valid evidence: %s: %s", o.file,
                           i < r->n_findings ? r->findings[i].subject : "bundle",
                           i < r->n_findings ? r->findings[i].text : "no check could be made");
    }
    evidence_report_free(&r);
    free(buf);
    trust_destroy(&t);
    return rc;
}

/* ---- the subcommands ---- */

const char cmd_evidence_about[] =
    "An evidence bundle proves to a third party, offline, that a node sent\n"
    "a message and that its recipients acknowledged exactly that envelope:\n"
    "signed envelope, signed receipts, certificates, CA and revocation list\n"
    "in one ZIP file with a signed manifest (docs/PROTOCOL.md section 14).";

const cli_command cmd_evidence_commands[] = {
    {"export", s_export, "write a message's evidence bundle (on the sender's node)", &s_export_spec,
     NULL, NULL},
    {"verify", s_verify, "check an evidence bundle offline against a trust directory",
     &s_verify_spec, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
