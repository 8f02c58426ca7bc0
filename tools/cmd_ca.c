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
#include "commands.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CA_DEFAULT_CA_DAYS 3650
#define CA_DEFAULT_NODE_DAYS 365
#define CA_MAX_DAYS 36500
#define CA_MS_PER_DAY 86400000ull

/* Every option of the ca subcommands; each subcommand accepts a subset. */
enum {
    OPT_DIR = 256, OPT_ID, OPT_NAME, OPT_DAYS, OPT_PASSFILE, OPT_ASK, OPT_JSON,
    OPT_REQUEST, OPT_OUT, OPT_ROLES, OPT_NOT_BEFORE, OPT_FORCE,
    OPT_SERIAL, OPT_CERT, OPT_REASON,
};

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
    bool has_serial;             /* --serial given (revoke) */
    uint64_t serial;             /* --serial (revoke) */
    const char *cert;            /* --cert (revoke) */
    const char *reason;          /* --reason (revoke) */
} s_opts;

static int s_init(int argc, char **argv);
static int s_sign(int argc, char **argv);
static int s_revoke(int argc, char **argv);

static const cli_command s_subcommands[] = {
    {"init", s_init, "make a new federation CA in a directory"},
    {"sign", s_sign, "issue a certificate for a certificate request (.csr)"},
    {"revoke", s_revoke, "revoke a certificate and re-sign the revocation list"},
};

int cmd_ca(int argc, char **argv)
{
    return cli_dispatch(argc, argv, s_subcommands,
                        sizeof s_subcommands / sizeof s_subcommands[0],
                        "The federation CA: an Ed25519 key, kept offline, that certifies\n"
                        "every node and signs the revocation list. Its directory holds\n"
                        "ca.key, ca.cert, serial, revoked.crl and issued.txt.");
}

/* ---- option parsing shared by the subcommands ---- */

static int s_days(const char *prog, const char *arg, uint64_t *days)
{
    if (cli_parse_u64(arg, 1, CA_MAX_DAYS, days) == 0)
        return CLI_OK;
    return cli_usage(prog, "invalid --valid-days '%s' (1 to %d)", arg, CA_MAX_DAYS);
}

static int s_time(const char *prog, const char *arg, uint64_t *ms)
{
    if (cli_parse_time(arg, ms) == 0)
        return CLI_OK;
    return cli_usage(prog, "invalid date '%s' (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)", arg);
}

static int s_serial(const char *prog, const char *arg, uint64_t *serial)
{
    if (cli_parse_u64(arg, 1, UINT64_MAX, serial) == 0)
        return CLI_OK;
    return cli_usage(prog, "invalid --serial '%s' (a positive number)", arg);
}

/* Applies one parsed option to o; returns an exit code or CLI_OK to go on. */
static int s_apply(int opt, const char *prog, const char *usage, s_opts *o)
{
    switch (opt) {
    case OPT_DIR: o->dir = optarg; break;
    case OPT_ID: o->id = optarg; break;
    case OPT_NAME: o->name = optarg; break;
    case OPT_DAYS: return s_days(prog, optarg, &o->days);
    case OPT_PASSFILE: o->passphrase_file = optarg; break;
    case OPT_ASK: o->ask = true; break;
    case OPT_JSON: o->json = true; break;
    case OPT_REQUEST: o->request = optarg; break;
    case OPT_OUT: o->out = optarg; break;
    case OPT_ROLES: return cli_parse_roles(prog, optarg, &o->roles);
    case OPT_NOT_BEFORE: o->has_not_before = true; return s_time(prog, optarg, &o->not_before_ms);
    case OPT_FORCE: o->force = true; break;
    case OPT_SERIAL: o->has_serial = true; return s_serial(prog, optarg, &o->serial);
    case OPT_CERT: o->cert = optarg; break;
    case OPT_REASON: o->reason = optarg; break;
    default: return cli_getopt_common(opt, prog, usage);
    }
    return CLI_OK;
}

/* Parses argv with the subcommand's options; requires --dir and no operands. */
static int s_parse(int argc, char **argv, const struct option *longopts, const char *usage,
                   s_opts *o)
{
    const char *prog = argv[0];
    int opt, rc;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
        if ((rc = s_apply(opt, prog, usage, o)) != CLI_OK)
            return rc;
    if (optind < argc)
        return cli_usage(prog, "unexpected argument '%s'", argv[optind]);
    if (!o->dir)
        return cli_usage(prog, "--dir CADIR is required");
    return CLI_OK;
}

#define S_OPT(name, has_arg, val) {name, has_arg, NULL, val}
#define S_OPT_COMMON                                                             \
    S_OPT("dir", required_argument, OPT_DIR),                                    \
        S_OPT("passphrase-file", required_argument, OPT_PASSFILE),               \
        S_OPT("json", no_argument, OPT_JSON), S_OPT("help", no_argument, 'h')

/* ---- ca init ---- */

static const char s_init_usage[] =
    "Usage: asylink ca init --dir CADIR --id ID --name NAME [options]\n"
    "\n"
    "Makes a new federation CA in CADIR (created with mode 0700): ca.key (mode\n"
    "0600), the self-signed ca.cert (serial 1, role ca), revoked.crl (number 1,\n"
    "empty), serial (next serial, 2) and issued.txt. Refuses to overwrite a CA.\n"
    "\n"
    "  --dir CADIR            the CA's directory\n"
    "  --id ID                the CA's node id, e.g. ASYLINK.CA\n"
    "  --name NAME            its display name\n"
    "  --valid-days N         validity of the CA certificate (default 3650)\n"
    "  --passphrase-file F    encrypt ca.key (Argon2id) with the first line of F\n"
    "  --ask-passphrase       ask for that passphrase on the terminal\n"
    "  --json                 print the result as JSON\n"
    "  -h, --help             show this help\n"
    "\n"
    "The passphrase may also come from ASYLINK_PASSPHRASE. Keep CADIR offline.\n";

static const struct option s_init_opts[] = {
    S_OPT_COMMON,
    S_OPT("id", required_argument, OPT_ID),
    S_OPT("name", required_argument, OPT_NAME),
    S_OPT("valid-days", required_argument, OPT_DAYS),
    S_OPT("ask-passphrase", no_argument, OPT_ASK),
    {NULL, 0, NULL, 0},
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
    s_opts o = {.days = CA_DEFAULT_CA_DAYS};
    int rc = s_parse(argc, argv, s_init_opts, s_init_usage, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    if (!o.id || !o.name)
        return cli_usage(argv[0], "--id and --name are required");
    if (!node_id_valid(o.id))
        return cli_usage(argv[0], "invalid node id '%s' (^[A-Z0-9][A-Z0-9._-]{1,63}$)", o.id);
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

static const char s_sign_usage[] =
    "Usage: asylink ca sign --dir CADIR --request FILE.csr [options]\n"
    "\n"
    "Checks the request's self-signature and issues a certificate with the\n"
    "CA's next serial; records it in CADIR/issued.txt.\n"
    "\n"
    "  --dir CADIR            the CA's directory\n"
    "  --request FILE         the certificate request (made by asylink keygen)\n"
    "  --out FILE             where to write the certificate\n"
    "                         (default: ID.cert beside the request)\n"
    "  --roles ROLES          roles to grant (default: the requested ones)\n"
    "  --valid-days N         validity in days (default 365; never past the CA's)\n"
    "  --not-before DATE      start of validity, YYYY-MM-DD or\n"
    "                         YYYY-MM-DDTHH:MM:SSZ, UTC (default: now)\n"
    "  --passphrase-file F    passphrase of ca.key (or ASYLINK_PASSPHRASE, or asked)\n"
    "  --force                overwrite an existing certificate file\n"
    "  --json                 print the certificate as JSON\n"
    "  -h, --help             show this help\n";

static const struct option s_sign_opts[] = {
    S_OPT_COMMON,
    S_OPT("request", required_argument, OPT_REQUEST),
    S_OPT("out", required_argument, OPT_OUT),
    S_OPT("roles", required_argument, OPT_ROLES),
    S_OPT("valid-days", required_argument, OPT_DAYS),
    S_OPT("not-before", required_argument, OPT_NOT_BEFORE),
    S_OPT("force", no_argument, OPT_FORCE),
    {NULL, 0, NULL, 0},
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
    if (o->out)
        snprintf(out, sizeof out, "%s", o->out);
    else if (s_default_out(o->request, req->node_id, out, sizeof out) != CLI_OK)
        return CLI_FAIL;
    if (s_validity(o, d->ca, &nb, &na) != CLI_OK)
        return CLI_FAIL;
    uint32_t roles = o->roles ? o->roles : req->roles;
    int rc = ca_dir_issue(d, req, roles, nb, na, out, o->force, &c);
    if (rc == CLI_OK)
        rc = s_sign_report(o, c, out);
    cert_destroy(&c);
    return rc;
}

static int s_sign(int argc, char **argv)
{
    s_opts o = {.days = CA_DEFAULT_NODE_DAYS};
    int rc = s_parse(argc, argv, s_sign_opts, s_sign_usage, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    if (!o.request)
        return cli_usage(argv[0], "--request FILE is required");
    if (o.roles & CERT_ROLE_BIT(CERT_ROLE_CA))
        return cli_usage(argv[0], "the role ca belongs to the CA's own certificate only");
    cert_request *req = NULL;
    ca_dir *d = NULL;
    rc = cert_request_load(o.request, &req);
    if (rc != ASYLINK_OK)
        return cli_fail(o.request, rc);
    rc = ca_dir_open(o.dir, o.passphrase_file, &d);
    if (rc == CLI_OK)
        rc = s_sign_request(&o, d, req);
    ca_dir_close(&d);
    cert_request_destroy(&req);
    return rc;
}

/* ---- ca revoke ---- */

static const char s_revoke_usage[] =
    "Usage: asylink ca revoke --dir CADIR (--serial N | --cert FILE) [options]\n"
    "\n"
    "Adds a certificate to the CA's revocation list and re-signs it with the\n"
    "next number. Then copy CADIR/revoked.crl to every trust directory's\n"
    "revoked.crl; asylinkd picks it up on SIGHUP.\n"
    "\n"
    "  --dir CADIR            the CA's directory\n"
    "  --serial N             serial of the certificate to revoke\n"
    "  --cert FILE            or the certificate itself\n"
    "  --reason TEXT          why (default \"unspecified\"), e.g. \"key compromise\",\n"
    "                         \"superseded\", \"ceased operation\"\n"
    "  --passphrase-file F    passphrase of ca.key (or ASYLINK_PASSPHRASE, or asked)\n"
    "  --json                 print the result as JSON\n"
    "  -h, --help             show this help\n";

static const struct option s_revoke_opts[] = {
    S_OPT_COMMON,
    S_OPT("serial", required_argument, OPT_SERIAL),
    S_OPT("cert", required_argument, OPT_CERT),
    S_OPT("reason", required_argument, OPT_REASON),
    {NULL, 0, NULL, 0},
};

/* A reason fits a list entry and is one line of printable text. */
static bool s_reason_valid(const char *reason)
{
    if (strlen(reason) >= sizeof ((crl_entry *)0)->reason)
        return false;
    for (const unsigned char *p = (const unsigned char *)reason; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* The serial to revoke: --serial, or that of --cert (which this CA must have issued). */
static int s_revoke_target(const s_opts *o, const ca_dir *d, uint64_t *serial)
{
    if (o->has_serial) {
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
    return rc == ASYLINK_OK ? CLI_OK : cli_fail(o->cert, rc);
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
    s_opts o = {.reason = "unspecified"};
    int rc = s_parse(argc, argv, s_revoke_opts, s_revoke_usage, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    if (o.has_serial == (o.cert != NULL))
        return cli_usage(argv[0], "give exactly one of --serial N and --cert FILE");
    if (!s_reason_valid(o.reason))
        return cli_usage(argv[0], "--reason must be one line of at most %zu bytes",
                         sizeof ((crl_entry *)0)->reason - 1);
    return s_revoke_checked(&o);
}
