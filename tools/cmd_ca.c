/*
 * cmd_ca.c — `asylink ca`: the federation CA's commands.
 *
 *   asylink ca init   --dir CADIR --id ID --name NAME   make a new CA
 *   asylink ca sign   --dir CADIR --request X.csr       issue a certificate
 *   asylink ca revoke --dir CADIR (--serial N | --cert FILE)
 *
 * The CA directory and its files are ca_dir.c's business; this file parses
 * the options and reports what was done.
 */
#include "asylink/asylink.h"
#include "ca_dir.h"
#include "cli.h"
#include "clock.h"
#include "cliopt.h"
#include "commands.h"

#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CA_MAX_DAYS 36500
#define CA_MS_PER_DAY 86400000ull

/* The options of one ca subcommand run. */
typedef struct {
    const char *dir;             /* --dir CADIR */
    const char *id;              /* --id (init) */
    const char *name;            /* --name (init) */
    uint64_t days;               /* --valid-days */
    const char *passphrase_file; /* --passphrase-file */
    bool ask;                    /* --ask-passphrase (init) */
    bool json;                   /* --json */
    const char *request;         /* --request (sign) */
    const char *out;             /* --out (sign) */
    uint32_t roles;              /* --roles (sign), 0 = as requested */
    bool has_not_before;         /* --not-before given (sign) */
    uint64_t not_before_ms;      /* --not-before (sign) */
    bool force;                  /* --force (sign) */
    uint64_t serial;             /* --serial (revoke), 0 = not given */
    const char *cert;            /* --cert (revoke) */
    const char *reason;          /* --reason (revoke) */
} s_opts;

/* ---- the rows the subcommands share ---- */

#define S_ROW_DIR(what)                                                                            \
    {                                                                                              \
        .name = "dir", .kind = CLIOPT_STRING, .metavar = "CADIR", .offset = offsetof(s_opts, dir), \
        .flags = CLIOPT_REQUIRED, .help = what                                                     \
    }
#define S_ROW_DAYS(default_days, what)                                                             \
    {                                                                                              \
        .name = "valid-days", .kind = CLIOPT_UINT, .metavar = "N",                                 \
        .offset = offsetof(s_opts, days), .min = 1, .max = CA_MAX_DAYS, .def = default_days,       \
        .help = what                                                                               \
    }
#define S_ROW_CA_PASSPHRASE                                                                        \
    CLIOPT_ROW_PASSPHRASE_FILE(s_opts, passphrase_file,                                            \
                               "passphrase of ca.key (or ASYLINK_PASSPHRASE, or asked)")

/* ---- ca init ---- */

static const cliopt s_init_rows[] = {
    S_ROW_DIR("the CA's directory (made, mode 0700)"),
    {.name = "id",
     .kind = CLIOPT_CUSTOM,
     .metavar = "ID",
     .offset = offsetof(s_opts, id),
     .flags = CLIOPT_REQUIRED,
     .parse = cliopt_parse_node_id,
     .expect = CLIOPT_EXPECT_NODE_ID,
     .help = "the CA's node id, e.g. ASYLINK.CA"},
    {.name = "name",
     .kind = CLIOPT_CUSTOM,
     .metavar = "NAME",
     .offset = offsetof(s_opts, name),
     .flags = CLIOPT_REQUIRED,
     .parse = cliopt_parse_display_name,
     .expect = CLIOPT_EXPECT_DISPLAY_NAME,
     .help = "its display name"},
    S_ROW_DAYS("3650", "validity of the CA certificate in days"),
    CLIOPT_ROW_PASSPHRASE_FILE(s_opts, passphrase_file,
                               "encrypt ca.key (Argon2id) with the first line of FILE"),
    {.name = "ask-passphrase",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, ask),
     .help = "ask for that passphrase on the terminal"},
    CLIOPT_ROW_JSON(s_opts, json),
};

static const cliopt_spec s_init_spec = {
    .description = "Makes a new federation CA in CADIR: ca.key (mode 0600), the self-signed "
                   "ca.cert (serial 1, role ca), revoked.crl (number 1, empty), serial (next "
                   "serial, 2) and issued.txt. Refuses to overwrite a CA.",
    .opts = s_init_rows,
    .n_opts = CLIOPT_LEN(s_init_rows),
    .notes = "The passphrase may also come from ASYLINK_PASSPHRASE. Keep CADIR offline.\n",
};

static int s_init_report(const s_opts *o, const ca_dir *d, bool encrypted)
{
    const cert *ca = d->ca;
    char until[32];
    if (o->json)
        return cli_json_print(json_pack("{s:s, s:b, s:o}", "dir", d->path, "key_encrypted",
                                        encrypted, "ca", cli_cert_json(ca)));
    printf("CA %s (%s) created in %s\n", ca->node_id, ca->display_name, d->path);
    printf("  ca.key       secret key, mode 0600, %s\n",
           encrypted ? "passphrase-protected" : "NOT passphrase-protected");
    printf("  ca.cert      self-signed certificate, serial 1, valid until %s\n",
           clock_format_iso(ca->not_after_ms, until, sizeof until));
    printf("  revoked.crl  revocation list number 1, empty\n");
    printf("  serial       next serial to issue: 2\n");
    printf("  issued.txt   index of issued certificates\n");
    printf("Copy ca.cert and revoked.crl into every trust directory.\n");
    return CLI_OK;
}

static int s_init(int argc, char **argv)
{
    s_opts o = {0};
    int rc = cliopt_parse(&s_init_spec, argc, argv, &o, NULL);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    ca_dir_params p = {.node_id = o.id, .display_name = o.name};
    p.not_before_ms = clock_now_ms();
    if (cli_add_days(p.not_before_ms, o.days, &p.not_after_ms) != 0)
        return cli_usage(argv[0], "--valid-days too large");
    char *pass = NULL;
    ca_dir *d = NULL;
    if (cli_passphrase_get("ca.key", o.passphrase_file, o.ask, true, &pass) != CLI_OK)
        return CLI_FAIL;
    p.passphrase = pass;
    rc = ca_dir_create(o.dir, &p, &d);
    if (rc == CLI_OK)
        rc = s_init_report(&o, d, pass != NULL);
    cli_passphrase_free(&pass);
    ca_dir_close(&d);
    return rc;
}

/* ---- ca sign ---- */

static const cliopt s_sign_rows[] = {
    S_ROW_DIR("the CA's directory"),
    {.name = "request",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(s_opts, request),
     .flags = CLIOPT_REQUIRED,
     .help = "the certificate request (made by asylink keygen)"},
    {.name = "out",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(s_opts, out),
     .help = "where to write the certificate (default: ID.cert beside the request)"},
    {.name = "roles",
     .kind = CLIOPT_CUSTOM,
     .metavar = "ROLES",
     .offset = offsetof(s_opts, roles),
     .parse = cliopt_parse_roles,
     .expect = CLIOPT_EXPECT_ROLES,
     .help = "roles to grant (default: the requested ones)"},
    S_ROW_DAYS("365", "validity in days (never past the CA's)"),
    {.name = "not-before",
     .kind = CLIOPT_TIME,
     .metavar = "DATE",
     .offset = offsetof(s_opts, not_before_ms),
     .help = "start of validity, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC (default: now)"},
    S_ROW_CA_PASSPHRASE,
    {.name = "force",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, force),
     .help = "overwrite an existing certificate file"},
    CLIOPT_ROW_JSON(s_opts, json),
};

static const cliopt_spec s_sign_spec = {
    .description = "Checks the request's self-signature and issues a certificate with the CA's "
                   "next serial; records it in CADIR/issued.txt.",
    .opts = s_sign_rows,
    .n_opts = CLIOPT_LEN(s_sign_rows),
};

/* The default output: <node id>.cert in the request's directory. */
static int s_default_out(const char *request, const char *node_id, char *buf, size_t len)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", request);
    int n = snprintf(buf, len, "%s/%s.cert", dirname(copy), node_id);
    if (n < 0 || (size_t)n >= len)
        return cli_failf("%s: path too long", request);
    return CLI_OK;
}

/* Works out the validity window, keeping it inside the CA's own. */
static int s_validity(const s_opts *o, const cert *ca, uint64_t *nb, uint64_t *na)
{
    char when[32];
    *nb = o->has_not_before ? o->not_before_ms : clock_now_ms();
    if (cli_add_days(*nb, o->days, na) != 0)
        return cli_failf("--valid-days too large");
    if (*nb >= ca->not_after_ms)
        return cli_failf("--not-before: the CA's certificate ends %s; nothing to issue",
                         clock_format_iso(ca->not_after_ms, when, sizeof when));
    if (*na > ca->not_after_ms) {
        /* Issuing on the CA's first day shortens by seconds: not worth a note. */
        if (*na - ca->not_after_ms >= CA_MS_PER_DAY)
            cli_note("validity shortened to the end of the CA's own, %s",
                     clock_format_iso(ca->not_after_ms, when, sizeof when));
        *na = ca->not_after_ms;
    }
    return CLI_OK;
}

static int s_sign_report(const s_opts *o, const cert *c, const char *path)
{
    char roles[128], from[32], until[32];
    if (o->json) {
        json_t *j = cli_cert_json(c);
        if (j)
            json_object_set_new(j, "file", json_string(path));
        return cli_json_print(j);
    }
    printf("%s  %s (%s), %s, serial %llu, valid %s to %s\n", path, c->node_id,
           c->display_name, cert_roles_format(c->roles, roles, sizeof roles),
           (unsigned long long)c->serial,
           clock_format_iso(c->not_before_ms, from, sizeof from),
           clock_format_iso(c->not_after_ms, until, sizeof until));
    printf("Send it to the node and copy it into every trust directory's nodes/.\n");
    return CLI_OK;
}

/* Issues the certificate for a loaded request. */
static int s_sign_request(const s_opts *o, ca_dir *d, const cert_request *req)
{
    char out[PATH_MAX];
    uint64_t nb = 0, na = 0;
    cert *c = NULL;
    if (o->out && strlen(o->out) >= sizeof out)
        return cli_failf("--out: path too long (%zu bytes; at most %zu)", strlen(o->out),
                         sizeof out - 1);
    for (const char *p = o->out; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) /* issued.txt: one line per certificate */
            return cli_failf("--out: the path holds a control character (tab, line break ...): "
                             "choose another name");
    if (o->out)
        snprintf(out, sizeof out, "%s", o->out);
    else if (s_default_out(o->request, req->node_id, out, sizeof out) != CLI_OK)
        return CLI_FAIL;
    if (s_validity(o, d->ca, &nb, &na) != CLI_OK)
        return CLI_FAIL;
    /* Checked before a serial is taken: a certificate that cannot be written is not issued. */
    char dir[PATH_MAX];
    struct stat st;
    snprintf(dir, sizeof dir, "%s", out);
    const char *parent = dirname(dir);
    if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_failf("%s: the directory %s does not exist (create it first: mkdir -p %s)", out,
                         parent, parent);
    uint32_t roles = o->roles ? o->roles : req->roles;
    int rc = ca_dir_issue(d, req, roles, nb, na, out, o->force, &c);
    if (rc == CLI_OK)
        rc = s_sign_report(o, c, out);
    cert_destroy(&c);
    return rc;
}

static int s_sign(int argc, char **argv)
{
    s_opts o = {0};
    cliopt_result res;
    int rc = cliopt_parse(&s_sign_spec, argc, argv, &o, &res);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    o.has_not_before = cliopt_given(&s_sign_spec, &res, "not-before");
    if (o.roles & CERT_ROLE_BIT(CERT_ROLE_CA))
        return cli_usage(argv[0], "the role ca belongs to the CA's own certificate only");
    cert_request *req = NULL;
    ca_dir *d = NULL;
    rc = cert_request_load(o.request, &req);
    if (rc != ASYLINK_OK)
        return cli_fail_file_limit(o.request, rc, CERT_ARMORED_MAX(CERT_FILE_MAX),
                                   "a certificate request");
    rc = ca_dir_open(o.dir, o.passphrase_file, &d);
    if (rc == CLI_OK)
        rc = s_sign_request(&o, d, req);
    ca_dir_close(&d);
    cert_request_destroy(&req);
    return rc;
}

/* ---- ca revoke ---- */

static const cliopt s_revoke_rows[] = {
    S_ROW_DIR("the CA's directory"),
    {.name = "serial",
     .kind = CLIOPT_UINT,
     .metavar = "N",
     .offset = offsetof(s_opts, serial),
     .min = 1,
     .help = "serial of the certificate to revoke"},
    {.name = "cert",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(s_opts, cert),
     .help = "or the certificate itself"},
    {.name = "reason",
     .kind = CLIOPT_STRING,
     .metavar = "TEXT",
     .offset = offsetof(s_opts, reason),
     .def = "unspecified",
     .help = "why, e.g. \"key compromise\", \"superseded\", \"ceased operation\""},
    S_ROW_CA_PASSPHRASE,
    CLIOPT_ROW_JSON(s_opts, json),
};

static const cliopt_rule s_revoke_rules[] = {{CLIOPT_EXACTLY_ONE, "serial cert"}};

static const cliopt_spec s_revoke_spec = {
    .description = "Adds a certificate to the CA's revocation list and re-signs it with the "
                   "next number. Then copy CADIR/revoked.crl to every trust directory's "
                   "revoked.crl; asylinkd picks it up on SIGHUP.",
    .opts = s_revoke_rows,
    .n_opts = CLIOPT_LEN(s_revoke_rows),
    .rules = s_revoke_rules,
    .n_rules = CLIOPT_LEN(s_revoke_rules),
};

/* A reason fits a list entry and is one line of printable UTF-8 text, as crl_decode() wants. */
static bool s_reason_valid(const char *reason)
{
    return strlen(reason) < sizeof((crl_entry *)0)->reason && cert_display_valid(reason);
}

/* The serial to revoke: --serial, or that of --cert (which this CA must have issued). */
static int s_revoke_target(const s_opts *o, const ca_dir *d, uint64_t *serial)
{
    if (o->serial) {
        *serial = o->serial;
        return CLI_OK;
    }
    cert *c = NULL;
    int rc = cert_load(o->cert, &c);
    if (rc == ASYLINK_OK)
        rc = cert_verify(c, d->ca);
    if (rc == ASYLINK_OK)
        *serial = c->serial;
    cert_destroy(&c);
    return rc == ASYLINK_OK ? CLI_OK
                            : cli_fail_file_limit(o->cert, rc, CERT_ARMORED_MAX(CERT_FILE_MAX),
                                                  "a certificate file");
}

static int s_revoke_report(const s_opts *o, const ca_dir *d, uint64_t serial, bool already,
                           const crl *l)
{
    char path[PATH_MAX];
    const crl_entry *e = crl_find(l, serial);
    if (ca_dir_file(d->path, "revoked.crl", path, sizeof path) != CLI_OK)
        return CLI_FAIL;
    if (o->json)
        return cli_json_print(json_pack(
            "{s:I, s:b, s:s, s:s, s:I, s:I}", "serial", (json_int_t)serial,
            "already_revoked", already, "reason", e ? e->reason : "", "crl", path,
            "crl_number", (json_int_t)l->number, "revoked_count", (json_int_t)l->n_entries));
    if (already)
        printf("serial %llu was already revoked (%s); %s is unchanged\n",
               (unsigned long long)serial, e ? e->reason : "", path);
    else
        printf("serial %llu revoked (%s); %s is now list number %llu with %zu entr%s\n",
               (unsigned long long)serial, e ? e->reason : "", path,
               (unsigned long long)l->number, l->n_entries, l->n_entries == 1 ? "y" : "ies");
    printf("Copy %s to revoked.crl in every trust directory, then send SIGHUP to asylinkd.\n",
           path);
    return CLI_OK;
}

static int s_revoke_checked(const s_opts *o)
{
    ca_dir *d = NULL;
    crl *l = NULL;
    uint64_t serial = 0;
    bool already = false;
    int rc = ca_dir_open(o->dir, o->passphrase_file, &d);
    if (rc == CLI_OK)
        rc = s_revoke_target(o, d, &serial);
    if (rc == CLI_OK)
        rc = ca_dir_revoke(d, serial, o->reason, &already, &l);
    if (rc == CLI_OK)
        rc = s_revoke_report(o, d, serial, already, l);
    crl_destroy(&l);
    ca_dir_close(&d);
    return rc;
}

static int s_revoke(int argc, char **argv)
{
    s_opts o = {0};
    int rc = cliopt_parse(&s_revoke_spec, argc, argv, &o, NULL);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    if (!s_reason_valid(o.reason))
        return cli_usage(argv[0],
                         "--reason must be one line of UTF-8 text (no control characters) of at "
                         "most %zu bytes",
                         sizeof((crl_entry *)0)->reason - 1);
    return s_revoke_checked(&o);
}

/* ---- the subcommands ---- */

const char cmd_ca_about[] = "The federation CA: an Ed25519 key, kept offline, that certifies\n"
                            "every node and signs the revocation list. Its directory holds\n"
                            "ca.key, ca.cert, serial, revoked.crl and issued.txt.";

const cli_command cmd_ca_commands[] = {
    {"init", s_init, "make a new federation CA in a directory", &s_init_spec, NULL, NULL},
    {"sign", s_sign, "issue a certificate for a certificate request (.csr)", &s_sign_spec, NULL,
     NULL},
    {"revoke", s_revoke, "revoke a certificate and re-sign the revocation list", &s_revoke_spec,
     NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
