/*
 * cmd_keygen.c — `asylink keygen`: makes a node's Ed25519 and X25519 key
 * pairs, writes the secret key file <ID>.key (mode 0600, encrypted when a
 * passphrase is given) and the certificate request <ID>.csr for the CA.
 * The secret keys never leave this machine; only the .csr is sent.
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "cliopt.h"
#include "commands.h"
#include "file.h"
#include "keys.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The options of one keygen run. */
typedef struct {
    const char *id;              /* --id */
    const char *name;            /* --name */
    uint32_t roles;              /* --roles, as a mask */
    const char *dir;             /* --dir */
    const char *passphrase_file; /* --passphrase-file */
    bool ask;                    /* --ask-passphrase */
    bool force;                  /* --force */
    bool json;                   /* --json */
} s_opts;

static const cliopt s_rows[] = {
    {.name = "id",
     .kind = CLIOPT_CUSTOM,
     .metavar = "ID",
     .offset = offsetof(s_opts, id),
     .flags = CLIOPT_REQUIRED,
     .parse = cliopt_parse_node_id,
     .expect = CLIOPT_EXPECT_NODE_ID,
     .help = "node id, e.g. DE, EUAA, BROKER.EU (^[A-Z0-9][A-Z0-9._-]{1,63}$)"},
    {.name = "name",
     .kind = CLIOPT_CUSTOM,
     .metavar = "NAME",
     .offset = offsetof(s_opts, name),
     .flags = CLIOPT_REQUIRED,
     .parse = cliopt_parse_display_name,
     .expect = CLIOPT_EXPECT_DISPLAY_NAME,
     .help = "display name, e.g. \"Bundesamt fuer Migration und Fluechtlinge\""},
    {.name = "roles",
     .kind = CLIOPT_CUSTOM,
     .metavar = "ROLES",
     .offset = offsetof(s_opts, roles),
     .flags = CLIOPT_REQUIRED,
     .parse = cliopt_parse_roles,
     .expect = CLIOPT_EXPECT_ROLES,
     .help = "comma-separated: member_state, agency, analyst, operator, broker"},
    {.name = "dir",
     .kind = CLIOPT_STRING,
     .metavar = "DIR",
     .offset = offsetof(s_opts, dir),
     .def = ".",
     .help = "where to write the files (made, mode 0700, if missing)"},
    CLIOPT_ROW_PASSPHRASE_FILE(s_opts, passphrase_file,
                               "encrypt the key (Argon2id) with the first line of FILE"),
    {.name = "ask-passphrase",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, ask),
     .help = "ask for the passphrase on the terminal"},
    {.name = "force",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, force),
     .help = "replace an existing ID.key and ID.csr (only once the new ones are written)"},
    CLIOPT_ROW_JSON(s_opts, json),
    {.name = "out", .flags = CLIOPT_DEPRECATED, .alias_of = "dir"},
};

const cliopt_spec cmd_keygen_spec = {
    .description = "Generates a node's key pairs and writes DIR/ID.key (secret, mode 0600) and "
                   "DIR/ID.csr (the certificate request to send to the federation CA).",
    .opts = s_rows,
    .n_opts = CLIOPT_LEN(s_rows),
    .notes = "The passphrase may also come from the environment variable ASYLINK_PASSPHRASE;\n"
             "it is never taken from the command line. Without one, the key is stored\n"
             "unencrypted: protect the file by other means.\n",
};

static int s_parse(int argc, char **argv, s_opts *o)
{
    int rc = cliopt_parse(&cmd_keygen_spec, argc, argv, o, NULL);
    if (rc == CLI_OK && (o->roles & CERT_ROLE_BIT(CERT_ROLE_CA)))
        return cli_usage(argv[0], "the role ca is for 'asylink ca init' only");
    return rc;
}

/* Makes the output directory if it is missing (mode 0700: it holds a secret). */
static int s_make_out_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return CLI_OK;
    return cli_failf("%s: cannot create: %s", dir, strerror(errno));
}

/*
 * Without --force, refuses an existing file before anything is generated.
 * With it the file stays until its replacement is complete (s_install).
 */
static int s_check_target(const char *path, bool force)
{
    if (force || access(path, F_OK) != 0)
        return CLI_OK;
    char ctx[PATH_MAX + 32];
    snprintf(ctx, sizeof ctx, "%s (use --force to replace it)", path);
    return cli_fail(ctx, ASYLINK_E_EXISTS);
}

/* The name a new file is written under first: beside path, never used before. */
static int s_temp_path(const char *path, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s.new-%08x", path, randombytes_random());
    return n < 0 || (size_t)n >= len ? cli_failf("%s: path too long", path) : CLI_OK;
}

static int s_write_key(const keys_secret *k, const s_opts *o, const char *path,
                       const char *passphrase)
{
    char comment[CERT_DISPLAY_MAX + NODE_ID_MAX + 128];
    snprintf(comment, sizeof comment,
             "asylink secret key of %s (%s)\n"
             "keep it private: never send this file; the CA needs only %s.csr",
             o->id, o->name, o->id);
    int rc = keys_save(k, path, passphrase, NULL, comment);
    return rc == ASYLINK_OK ? CLI_OK : cli_fail_file(path, rc);
}

static int s_write_request(const keys_secret *k, const s_opts *o, const char *path)
{
    cert_request *req = NULL;
    int rc = cert_request_create(k, o->id, o->name, o->roles, clock_now_ms(), &req);
    if (rc != ASYLINK_OK)
        return cli_fail(o->id, rc);
    rc = cert_request_save(req, path, 1);
    cert_request_destroy(&req);
    return rc == ASYLINK_OK ? CLI_OK : cli_fail_file(path, rc);
}

static int s_report(const s_opts *o, const keys_secret *k, const char *key_path,
                    const char *csr_path, bool encrypted)
{
    char spk[65], bpk[65];
    cli_hex32(k->sign_pk, spk);
    cli_hex32(k->box_pk, bpk);
    if (o->json)
        return cli_json_print(json_pack("{s:s, s:s, s:b, s:s, s:s, s:s}", "node_id", o->id,
                                        "key", key_path, "encrypted", encrypted, "request",
                                        csr_path, "sign_pk", spk, "box_pk", bpk));
    printf("%s  secret key, mode 0600, %s\n", key_path,
           encrypted ? "passphrase-protected" : "NOT passphrase-protected");
    printf("%s  certificate request: send it to the federation CA\n", csr_path);
    printf("sign_pk  %s\nbox_pk   %s\n", spk, bpk);
    return CLI_OK;
}

/*
 * Moves the finished key and request from their temporary names to their
 * own (replacing old ones only with --force), key first. An old key and
 * request stay in place until then, so a failure leaves them as they were.
 */
static int s_install(const char *key_tmp, const char *key_path, const char *csr_tmp,
                     const char *csr_path, bool force)
{
    int rc = file_install(key_tmp, key_path, !force);
    if (rc != ASYLINK_OK)
        return cli_fail_file(key_path, rc);
    rc = file_install(csr_tmp, csr_path, !force);
    if (rc == ASYLINK_OK)
        return CLI_OK;
    cli_fail_file(csr_path, rc);
    return cli_failf("%s: the new key is in place but not its request; run keygen again with "
                     "--force before sending a request to the CA",
                     key_path);
}

/* Generates the keys, writes both files under temporary names, then installs them. */
static int s_generate(const s_opts *o, const char *key_path, const char *csr_path,
                      const char *passphrase)
{
    char key_tmp[PATH_MAX], csr_tmp[PATH_MAX];
    if (s_temp_path(key_path, key_tmp, sizeof key_tmp) != CLI_OK ||
        s_temp_path(csr_path, csr_tmp, sizeof csr_tmp) != CLI_OK)
        return CLI_FAIL;
    keys_secret *k = NULL;
    int rc = keys_generate(&k);
    if (rc != ASYLINK_OK)
        return cli_fail("keygen", rc);
    rc = s_write_key(k, o, key_tmp, passphrase);
    if (rc == CLI_OK)
        rc = s_write_request(k, o, csr_tmp);
    if (rc == CLI_OK)
        rc = s_install(key_tmp, key_path, csr_tmp, csr_path, o->force);
    unlink(key_tmp); /* gone already when installed */
    unlink(csr_tmp);
    if (rc == CLI_OK)
        rc = s_report(o, k, key_path, csr_path, passphrase != NULL);
    keys_destroy(&k);
    return rc;
}

int cmd_keygen(int argc, char **argv)
{
    s_opts o = {0};
    int rc = s_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    char key_path[PATH_MAX], csr_path[PATH_MAX], *pass = NULL;
    if (snprintf(key_path, sizeof key_path, "%s/%s.key", o.dir, o.id) >= PATH_MAX ||
        snprintf(csr_path, sizeof csr_path, "%s/%s.csr", o.dir, o.id) >= PATH_MAX)
        return cli_failf("%s: path too long", o.dir);
    if (s_make_out_dir(o.dir) != CLI_OK || s_check_target(key_path, o.force) != CLI_OK ||
        s_check_target(csr_path, o.force) != CLI_OK)
        return CLI_FAIL;
    if (cli_passphrase_get(key_path, o.passphrase_file, o.ask, true, &pass) != CLI_OK)
        return CLI_FAIL;
    rc = s_generate(&o, key_path, csr_path, pass);
    cli_passphrase_free(&pass);
    return rc;
}
