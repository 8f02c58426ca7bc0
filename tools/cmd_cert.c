/*
 * cmd_cert.c — `asylink cert`: looking at and checking the federation's
 * signed files.
 *
 *   asylink cert show FILE [--ca CA.cert] [--json]
 *       a certificate, a certificate request, or (with --ca, which it is
 *       verified against) a revocation list
 *   asylink cert verify FILE --trust DIR [--at DATE] [--key KEY] [--json]
 *       may this certificate be used: issued by the trust directory's CA,
 *       signature good, not revoked, inside its validity (and, with --key,
 *       is KEY the secret key that belongs to it)
 */
#include "armor.h"
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "cliopt.h"
#include "commands.h"
#include "file.h"
#include "keys.h"
#include "trust.h"

#include <limits.h>
#include <stddef.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How much of a file show reads to find its armor label. */
#define CERT_SNIFF_MAX (2u * CRL_FILE_MAX + 4096u)

/* The options of one cert subcommand run. */
typedef struct {
    const char *file;            /* the operand */
    const char *ca;              /* --ca (show) */
    const char *trust;           /* --trust (verify) */
    bool has_at;                 /* --at given (verify) */
    uint64_t at_ms;              /* --at (verify) */
    const char *key;             /* --key (verify) */
    const char *passphrase_file; /* --passphrase-file (verify) */
    bool json;                   /* --json */
} s_opts;

/* Parses a subcommand's options and its one FILE operand into o. */
static int s_parse(const cliopt_spec *spec, int argc, char **argv, s_opts *o)
{
    cliopt_result res;
    int rc = cliopt_parse(spec, argc, argv, o, &res);
    if (rc == CLI_OK) {
        o->file = argv[res.first_operand];
        o->has_at = cliopt_given(spec, &res, "at");
    }
    return rc;
}

/* ---- cert show ---- */

static const cliopt s_show_rows[] = {
    {.name = "ca",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(s_opts, ca),
     .help = "the CA certificate (needed for a revocation list)"},
    CLIOPT_ROW_JSON(s_opts, json),
};

static const cliopt_spec s_show_spec = {
    .synopsis = "FILE [--ca CA.cert] [--json]",
    .description = "Prints a certificate (.cert), a certificate request (.csr) or, given the CA "
                   "certificate that signed it, a revocation list (.crl). Shows what the file "
                   "says; 'asylink cert verify' says whether to trust it.",
    .opts = s_show_rows,
    .n_opts = CLIOPT_LEN(s_show_rows),
    .operands = "FILE",
    .min_operands = 1,
    .max_operands = 1,
};

/* What kind of armored file path is, by its first BEGIN line's label. */
static int s_sniff(const char *path, char *label, size_t len)
{
    uint8_t *text = NULL;
    size_t n = 0;
    int rc = file_read(path, CERT_SNIFF_MAX, &text, &n);
    if (rc != ASYLINK_OK)
        return rc;
    static const char begin[] = "-----BEGIN ASYLINK ";
    const char *b = strstr((const char *)text, begin);
    const char *e = b ? strstr(b + sizeof begin - 1, "-----") : NULL;
    rc = ASYLINK_E_MALFORMED;
    if (e && (size_t)(e - b) - (sizeof begin - 1) < len) {
        size_t l = (size_t)(e - b) - (sizeof begin - 1);
        memcpy(label, b + sizeof begin - 1, l);
        label[l] = '\0';
        rc = ASYLINK_OK;
    }
    free(text);
    return rc;
}

static void s_print_row(const char *key, const char *value)
{
    printf("%-16s %s\n", key, value);
}

static void s_print_keys(const uint8_t sign_pk[32], const uint8_t box_pk[32])
{
    char hex[65];
    s_print_row("sign_pk", cli_hex32(sign_pk, hex));
    s_print_row("box_pk", cli_hex32(box_pk, hex));
}

static int s_show_cert(const s_opts *o)
{
    cert *c = NULL;
    int rc = cert_load(o->file, &c);
    if (rc != ASYLINK_OK)
        return cli_fail_file_limit(o->file, rc, CERT_ARMORED_MAX(CERT_FILE_MAX),
                                   "a certificate file");
    if (o->json) {
        rc = cli_json_print(cli_cert_json(c));
        cert_destroy(&c);
        return rc;
    }
    char buf[128], hex[65];
    s_print_row("certificate", o->file);
    s_print_row("node_id", c->node_id);
    s_print_row("display_name", c->display_name);
    s_print_row("roles", cert_roles_format(c->roles, buf, sizeof buf));
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)c->serial);
    s_print_row("serial", buf);
    s_print_row("issuer", c->issuer);
    s_print_row("not_before", clock_format_iso(c->not_before_ms, buf, sizeof buf));
    s_print_row("not_after", clock_format_iso(c->not_after_ms, buf, sizeof buf));
    s_print_keys(c->sign_pk, c->box_pk);
    s_print_row("issuer_pk", cli_hex32(c->issuer_sign_pk, hex));
    cert_destroy(&c);
    return CLI_OK;
}

static json_t *s_request_json(const cert_request *r)
{
    char created[32], spk[65], bpk[65];
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:I, s:s, s:s}", "kind", "request", "node_id",
                     r->node_id, "display_name", r->display_name, "roles",
                     cli_roles_json(r->roles), "created",
                     clock_format_iso(r->created_ms, created, sizeof created), "created_ms",
                     (json_int_t)r->created_ms, "sign_pk", cli_hex32(r->sign_pk, spk),
                     "box_pk", cli_hex32(r->box_pk, bpk));
}

static int s_show_request(const s_opts *o)
{
    cert_request *r = NULL;
    int rc = cert_request_load(o->file, &r);
    if (rc != ASYLINK_OK)
        return cli_fail_file_limit(o->file, rc, CERT_ARMORED_MAX(CERT_FILE_MAX),
                                   "a certificate request");
    if (o->json) {
        rc = cli_json_print(s_request_json(r));
        cert_request_destroy(&r);
        return rc;
    }
    char buf[128];
    s_print_row("request", o->file);
    s_print_row("node_id", r->node_id);
    s_print_row("display_name", r->display_name);
    s_print_row("roles", cert_roles_format(r->roles, buf, sizeof buf));
    s_print_row("created", clock_format_iso(r->created_ms, buf, sizeof buf));
    s_print_keys(r->sign_pk, r->box_pk);
    s_print_row("signature", "good (self-signed by sign_pk)");
    cert_request_destroy(&r);
    return CLI_OK;
}

static json_t *s_crl_json(const crl *l)
{
    char when[32];
    json_t *entries = json_array();
    for (size_t i = 0; entries && i < l->n_entries; i++) {
        const crl_entry *e = &l->entries[i];
        json_array_append_new(entries, json_pack("{s:I, s:s, s:I, s:s}", "serial",
                                                 (json_int_t)e->serial, "revoked",
                                                 clock_format_iso(e->revoked_ms, when,
                                                                  sizeof when),
                                                 "revoked_ms", (json_int_t)e->revoked_ms,
                                                 "reason", e->reason));
    }
    return json_pack("{s:s, s:s, s:I, s:s, s:I, s:o}", "kind", "revocation_list", "issuer",
                     l->issuer, "number", (json_int_t)l->number, "issued",
                     clock_format_iso(l->issued_ms, when, sizeof when), "issued_ms",
                     (json_int_t)l->issued_ms, "entries", entries);
}

static void s_print_crl(const char *path, const crl *l)
{
    char buf[64];
    s_print_row("revocation list", path);
    s_print_row("issuer", l->issuer);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)l->number);
    s_print_row("number", buf);
    s_print_row("issued", clock_format_iso(l->issued_ms, buf, sizeof buf));
    snprintf(buf, sizeof buf, "%zu certificate(s)", l->n_entries);
    s_print_row("revoked", buf);
    for (size_t i = 0; i < l->n_entries; i++)
        printf("  serial %-8llu %s  %s\n", (unsigned long long)l->entries[i].serial,
               clock_format_iso(l->entries[i].revoked_ms, buf, sizeof buf),
               l->entries[i].reason);
}

static int s_show_crl(const s_opts *o)
{
    if (!o->ca)
        return cli_failf("%s: a revocation list; give --ca CA.cert to check and show it",
                         o->file);
    cert *ca = NULL;
    crl *l = NULL;
    int rc = cert_load(o->ca, &ca);
    if (rc != ASYLINK_OK)
        return cli_fail_file_limit(o->ca, rc, CERT_ARMORED_MAX(CERT_FILE_MAX),
                                   "a certificate file");
    rc = crl_load(o->file, ca, &l);
    if (rc != ASYLINK_OK)
        rc = cli_fail_file_limit(o->file, rc, CERT_ARMORED_MAX(CRL_FILE_MAX), "a revocation list");
    else if (o->json)
        rc = cli_json_print(s_crl_json(l));
    else
        s_print_crl(o->file, l);
    crl_destroy(&l);
    cert_destroy(&ca);
    return rc;
}

static int s_show(int argc, char **argv)
{
    s_opts o = {0};
    int rc = s_parse(&s_show_spec, argc, argv, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    char label[32];
    rc = s_sniff(o.file, label, sizeof label);
    if (rc != ASYLINK_OK)
        return cli_fail_file_limit(o.file, rc, CERT_SNIFF_MAX,
                                   "a certificate, request or revocation list");
    if (strcmp(label, ARMOR_CERTIFICATE) == 0)
        return s_show_cert(&o);
    if (strcmp(label, ARMOR_REQUEST) == 0)
        return s_show_request(&o);
    if (strcmp(label, ARMOR_CRL) == 0)
        return s_show_crl(&o);
    if (strcmp(label, ARMOR_SECRET_KEY) == 0)
        return cli_failf("%s: a secret key file; asylink never shows secret keys", o.file);
    return cli_fail(o.file, ASYLINK_E_MALFORMED);
}

/* ---- cert verify ---- */

static const cliopt s_verify_rows[] = {
    {.name = "trust",
     .kind = CLIOPT_STRING,
     .metavar = "DIR",
     .offset = offsetof(s_opts, trust),
     .flags = CLIOPT_REQUIRED,
     .help = "the trust directory (ca.cert, nodes/, revoked.crl)"},
    {.name = "at",
     .kind = CLIOPT_TIME,
     .metavar = "DATE",
     .offset = offsetof(s_opts, at_ms),
     .help = "check at this UTC time instead of now: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"},
    {.name = "key",
     .kind = CLIOPT_STRING,
     .metavar = "KEY",
     .offset = offsetof(s_opts, key),
     .help = "also check that the secret key file KEY belongs to the certificate (before "
             "deploying them together)"},
    CLIOPT_ROW_PASSPHRASE_FILE(s_opts, passphrase_file,
                               "passphrase of KEY (or ASYLINK_PASSPHRASE, or asked)"),
    {.name = "json",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, json),
     .help = "print the verdict as JSON (also on failure)"},
};

static const cliopt_spec s_verify_spec = {
    .synopsis = "FILE --trust DIR [--at DATE] [--key KEY] [--json]",
    .description = "Checks that the certificate FILE may be used: issued and signed by the CA "
                   "of the trust directory DIR (DIR/ca.cert), not on DIR/revoked.crl, and valid "
                   "at the time given. Exit 0 if so, 1 if not.",
    .opts = s_verify_rows,
    .n_opts = CLIOPT_LEN(s_verify_rows),
    .operands = "FILE",
    .min_operands = 1,
    .max_operands = 1,
};

/* The outcome of a verification. */
typedef struct {
    int code;             /* asylink_err */
    const char *context;  /* what failed: node id, or the file that did not load */
    uint64_t at_ms;       /* the time checked at */
    cert *c;              /* the certificate, if it loaded */
    const crl_entry *rev; /* its revocation entry, if revoked */
    bool key_checked;     /* --key was given and checked */
} s_verdict;

/* Why a check failed, in more words than the error name. */
static void s_detail(const s_verdict *v, char *buf, size_t len)
{
    char when[32];
    buf[0] = '\0';
    if (v->code == ASYLINK_E_REVOKED && v->rev)
        snprintf(buf, len, "serial %llu revoked %s: %s", (unsigned long long)v->rev->serial,
                 clock_format_iso(v->rev->revoked_ms, when, sizeof when), v->rev->reason);
    else if (v->code == ASYLINK_E_CERT_EXPIRED)
        snprintf(buf, len, "serial %llu valid until %s", (unsigned long long)v->c->serial,
                 clock_format_iso(v->c->not_after_ms, when, sizeof when));
    else if (v->code == ASYLINK_E_CERT_NOT_YET_VALID)
        snprintf(buf, len, "serial %llu valid from %s", (unsigned long long)v->c->serial,
                 clock_format_iso(v->c->not_before_ms, when, sizeof when));
}

static int s_verdict_human(const s_verdict *v)
{
    char when[32], detail[256];
    if (v->code == ASYLINK_OK) {
        printf("OK %s serial %llu valid until %s%s\n", v->c->node_id,
               (unsigned long long)v->c->serial,
               clock_format_iso(v->c->not_after_ms, when, sizeof when),
               v->key_checked ? ", key matches" : "");
        return CLI_OK;
    }
    cli_fail(v->context, v->code);
    s_detail(v, detail, sizeof detail);
    if (detail[0])
        cli_failf("%s: %s", v->context, detail);
    return CLI_FAIL;
}

static int s_verdict_json(const s_verdict *v, const char *file)
{
    char when[32], detail[256];
    json_t *j = json_pack("{s:b, s:s, s:s, s:I}", "ok", v->code == ASYLINK_OK, "file", file,
                          "at", clock_format_iso(v->at_ms, when, sizeof when), "at_ms",
                          (json_int_t)v->at_ms);
    if (j && v->code != ASYLINK_OK) {
        s_detail(v, detail, sizeof detail);
        json_object_set_new(j, "code", json_integer(v->code));
        json_object_set_new(j, "error", json_string(asylink_err_name(v->code)));
        json_object_set_new(j, "message", json_string(asylink_strerror(v->code)));
        json_object_set_new(j, "context", json_string(v->context));
        if (detail[0])
            json_object_set_new(j, "detail", json_string(detail));
    }
    if (j && v->key_checked)
        json_object_set_new(j, "key_matches", json_true());
    if (j && v->rev)
        json_object_set_new(j, "revocation", json_pack("{s:I, s:s}", "revoked_ms",
                                                       (json_int_t)v->rev->revoked_ms,
                                                       "reason", v->rev->reason));
    if (j && v->c)
        json_object_set_new(j, "certificate", cli_cert_json(v->c));
    int rc = cli_json_print(j);
    return rc == CLI_OK && v->code == ASYLINK_OK ? CLI_OK : CLI_FAIL;
}

/* The code for "key file path belongs to certificate c". */
static int s_check_key(const s_opts *o, const cert *c)
{
    keys_secret *k = NULL;
    int rc = cli_keys_load(o->key, o->passphrase_file, &k);
    if (rc == CLI_KEYS_REPORTED)
        rc = ASYLINK_E_PASSPHRASE_REQUIRED; /* why was printed; the verdict gives the code */
    if (rc == ASYLINK_OK && (sodium_memcmp(k->sign_pk, c->sign_pk, KEYS_PK_LEN) != 0 ||
                             sodium_memcmp(k->box_pk, c->box_pk, KEYS_PK_LEN) != 0))
        rc = ASYLINK_E_WRONG_KEY;
    keys_destroy(&k);
    return rc;
}

/* Loads the trust and the certificate and checks one against the other. */
static void s_check(const s_opts *o, trust **t, s_verdict *v)
{
    v->at_ms = o->has_at ? o->at_ms : clock_now_ms();
    v->context = o->trust;
    v->code = trust_load(o->trust, t);
    if (v->code != ASYLINK_OK)
        return;
    v->context = o->file;
    v->code = cert_load(o->file, &v->c);
    if (v->code != ASYLINK_OK)
        return;
    v->context = v->c->node_id;
    v->code = trust_check(*t, v->c, v->at_ms);
    if (v->code == ASYLINK_E_REVOKED)
        v->rev = crl_find(trust_crl(*t), v->c->serial);
    if (v->code != ASYLINK_OK || !o->key)
        return;
    v->context = o->key;
    v->code = s_check_key(o, v->c);
    v->key_checked = v->code == ASYLINK_OK;
}

static int s_verify(int argc, char **argv)
{
    s_opts o = {0};
    int rc = s_parse(&s_verify_spec, argc, argv, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    trust *t = NULL;
    s_verdict v = {0};
    s_check(&o, &t, &v);
    rc = o.json ? s_verdict_json(&v, o.file) : s_verdict_human(&v);
    cert_destroy(&v.c);
    trust_destroy(&t);
    return rc;
}

/* ---- the subcommands ---- */

const char cmd_cert_about[] = "Certificates bind a node id, name and roles to its keys, signed by\n"
                              "the federation CA; requests (.csr) ask the CA for one; revocation\n"
                              "lists (revoked.crl) name the certificates no longer to be trusted.";

const cli_command cmd_cert_commands[] = {
    {"show", s_show, "print a certificate, request or revocation list", &s_show_spec, NULL, NULL},
    {"verify", s_verify, "check a certificate against a trust directory", &s_verify_spec, NULL,
     NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
