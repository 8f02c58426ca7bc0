/*
 * ca_dir.c — the federation CA's directory: making a CA, opening and
 * locking it, issuing certificates with fresh serials, and revoking them
 * (layout in ca_dir.h).
 */
#include "ca_dir.h"

#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define CA_SERIAL_FILE_MAX 64
#define CA_FIRST_NODE_SERIAL 2

/* Every file a CA directory holds; ca_dir_create() refuses if any exists. */
static const char *const s_ca_files[] = {"ca.key", "ca.cert", "serial", "revoked.crl",
                                         "issued.txt"};
#define S_N_CA_FILES (sizeof s_ca_files / sizeof s_ca_files[0])

int ca_dir_file(const char *dir, const char *name, char *buf, size_t len)
{
    if (cli_path_join(buf, len, dir, name) == 0)
        return CLI_OK;
    return cli_failf("%s: path too long", dir);
}

/* Allocates an empty handle for path. */
static ca_dir *s_new(const char *path)
{
    ca_dir *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->lock_fd = -1;
    d->path = strdup(path);
    if (!d->path) {
        free(d);
        return NULL;
    }
    return d;
}

void ca_dir_close(ca_dir **self_p)
{
    if (!self_p || !*self_p)
        return;
    ca_dir *d = *self_p;
    if (d->lock_fd >= 0)
        close(d->lock_fd); /* releases the flock */
    keys_destroy(&d->keys);
    cert_destroy(&d->ca);
    free(d->path);
    free(d);
    *self_p = NULL;
}

/* Takes the directory's lock (a flock on the directory itself) without waiting. */
static int s_lock(ca_dir *d)
{
    d->lock_fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->lock_fd < 0)
        return cli_failf("%s: cannot open: %s", d->path, strerror(errno));
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return cli_failf("%s: another asylink ca command is using this CA; try again", d->path);
    return CLI_OK;
}

/* ---- small files: serial and issued.txt ---- */

static int s_write_serial(const char *dir, uint64_t next)
{
    char path[PATH_MAX], text[32];
    if (ca_dir_file(dir, "serial", path, sizeof path) != CLI_OK)
        return CLI_FAIL;
    int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)next);
    int rc = file_write_atomic(path, text, (size_t)n, 0644, 0);
    return rc == ASYLINK_OK ? CLI_OK : cli_fail_file(path, rc);
}

int ca_dir_next_serial(const ca_dir *d, uint64_t *serial)
{
    char path[PATH_MAX];
    if (ca_dir_file(d->path, "serial", path, sizeof path) != CLI_OK)
        return CLI_FAIL;
    uint8_t *text = NULL;
    size_t len = 0;
    int rc = file_read(path, CA_SERIAL_FILE_MAX, &text, &len);
    if (rc != ASYLINK_OK)
        return cli_fail_file_limit(path, rc, CA_SERIAL_FILE_MAX, "the CA's serial file");
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    int bad = cli_parse_u64((const char *)text, CA_FIRST_NODE_SERIAL, UINT64_MAX - 1, serial);
    free(text);
    return bad ? cli_fail_file(path, ASYLINK_E_MALFORMED) : CLI_OK;
}

/* Appends one line to issued.txt and makes it durable. */
static int s_append_issued(const char *dir, const char *line)
{
    char path[PATH_MAX];
    if (ca_dir_file(dir, "issued.txt", path, sizeof path) != CLI_OK)
        return CLI_FAIL;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return cli_failf("%s: cannot open: %s", path, strerror(errno));
    size_t len = strlen(line);
    ssize_t n = write(fd, line, len);
    int ok = n == (ssize_t)len && fsync(fd) == 0;
    if (close(fd) != 0)
        ok = 0;
    return ok ? CLI_OK : cli_fail_file(path, ASYLINK_E_IO);
}

/* Records c, written to cert_path (as the operator named it), in issued.txt. */
static int s_record_issued(const char *dir, const cert *c, const char *cert_path)
{
    char line[PATH_MAX + 256], until[32];
    snprintf(line, sizeof line, "%llu\t%s\t%s\t%s\n", (unsigned long long)c->serial,
             c->node_id, clock_format_iso(c->not_after_ms, until, sizeof until), cert_path);
    return s_append_issued(dir, line);
}

/* ---- creating a CA ---- */

/* Makes the directory (0700) or accepts an existing one holding no CA files. */
static int s_make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return cli_failf("%s: cannot create: %s", path, strerror(errno));
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_failf("%s: not a directory", path);
    for (size_t i = 0; i < S_N_CA_FILES; i++) {
        char file[PATH_MAX];
        if (ca_dir_file(path, s_ca_files[i], file, sizeof file) != CLI_OK)
            return CLI_FAIL;
        if (access(file, F_OK) == 0) {
            char ctx[PATH_MAX + 64];
            snprintf(ctx, sizeof ctx, "%s: already holds a CA (%s)", path, s_ca_files[i]);
            return cli_fail(ctx, ASYLINK_E_EXISTS);
        }
    }
    return CLI_OK;
}

/* Removes the CA files of a half-made CA (none existed before). */
static void s_remove_partial(const char *dir)
{
    for (size_t i = 0; i < S_N_CA_FILES; i++) {
        char file[PATH_MAX];
        if (cli_path_join(file, sizeof file, dir, s_ca_files[i]) == 0)
            unlink(file);
    }
}

/* Generates the CA's keys and self-signed certificate into d. */
static int s_make_root(ca_dir *d, const ca_dir_params *p)
{
    int rc = keys_generate(&d->keys);
    if (rc != ASYLINK_OK)
        return cli_fail("keygen", rc);
    cert_fields f = {
        .serial = 1,
        .node_id = p->node_id,
        .display_name = p->display_name,
        .roles = CERT_ROLE_BIT(CERT_ROLE_CA),
        .sign_pk = d->keys->sign_pk,
        .box_pk = d->keys->box_pk,
        .not_before_ms = p->not_before_ms,
        .not_after_ms = p->not_after_ms,
    };
    rc = cert_sign(d->keys, p->node_id, &f, &d->ca);
    return rc == ASYLINK_OK ? CLI_OK : cli_fail(p->node_id, rc);
}

static int s_save_key(const ca_dir *d, const char *passphrase)
{
    char path[PATH_MAX], comment[NODE_ID_MAX + 160];
    if (ca_dir_file(d->path, "ca.key", path, sizeof path) != CLI_OK)
        return CLI_FAIL;
    snprintf(comment, sizeof comment,
             "asylink secret key of the federation CA %s\n"
             "keep it offline: whoever holds it can certify any node",
             d->ca->node_id);
    int rc = keys_save(d->keys, path, passphrase, NULL, comment);
    return rc == ASYLINK_OK ? CLI_OK : cli_fail_file(path, rc);
}

static int s_save_cert(const cert *c, const char *path, bool overwrite)
{
    int rc = cert_save(c, path, overwrite ? 0 : 1);
    return rc == ASYLINK_OK ? CLI_OK : cli_fail_file(path, rc);
}

/* Signs and writes a revocation list; *out (may be NULL) receives it. */
static int s_write_crl(const ca_dir *d, uint64_t number, const crl_entry *entries, size_t n,
                       crl **out)
{
    char path[PATH_MAX];
    crl *l = NULL;
    if (ca_dir_file(d->path, "revoked.crl", path, sizeof path) != CLI_OK)
        return CLI_FAIL;
    int rc = crl_sign(d->keys, d->ca, number, clock_now_ms(), entries, n, &l);
    if (rc == ASYLINK_OK)
        rc = crl_save(l, path);
    if (rc == ASYLINK_OK && out)
        *out = l;
    else
        crl_destroy(&l);
    return rc == ASYLINK_OK ? CLI_OK : cli_fail_file(path, rc);
}

/* Writes every file of a new CA whose keys and certificate are in d. */
static int s_write_new(ca_dir *d, const char *passphrase)
{
    char path[PATH_MAX];
    if (s_save_key(d, passphrase) != CLI_OK ||
        ca_dir_file(d->path, "ca.cert", path, sizeof path) != CLI_OK ||
        s_save_cert(d->ca, path, false) != CLI_OK ||
        s_write_crl(d, 1, NULL, 0, NULL) != CLI_OK ||
        s_write_serial(d->path, CA_FIRST_NODE_SERIAL) != CLI_OK)
        return CLI_FAIL;
    char header[NODE_ID_MAX + 128];
    snprintf(header, sizeof header,
             "# certificates issued by %s: serial, node id, not after, file\n",
             d->ca->node_id);
    if (s_append_issued(d->path, header) != CLI_OK)
        return CLI_FAIL;
    return s_record_issued(d->path, d->ca, path);
}

int ca_dir_create(const char *path, const ca_dir_params *p, ca_dir **out)
{
    *out = NULL;
    if (s_make_dir(path) != CLI_OK)
        return CLI_FAIL;
    ca_dir *d = s_new(path);
    if (!d)
        return cli_fail(path, ASYLINK_E_NOMEM);
    int rc = s_lock(d);
    if (rc == CLI_OK)
        rc = s_make_dir(path); /* again, now that we hold the lock */
    if (rc == CLI_OK)
        rc = s_make_root(d, p);
    if (rc == CLI_OK) {
        rc = s_write_new(d, p->passphrase);
        if (rc != CLI_OK)
            s_remove_partial(path);
    }
    if (rc == CLI_OK)
        *out = d;
    else
        ca_dir_close(&d);
    return rc;
}

/* ---- opening a CA ---- */

static int s_load_ca_cert(ca_dir *d)
{
    char path[PATH_MAX];
    if (ca_dir_file(d->path, "ca.cert", path, sizeof path) != CLI_OK)
        return CLI_FAIL;
    int rc = cert_load(path, &d->ca);
    if (rc == ASYLINK_OK)
        rc = cert_verify(d->ca, d->ca);
    return rc == ASYLINK_OK ? CLI_OK
                            : cli_fail_file_limit(path, rc, CERT_ARMORED_MAX(CERT_FILE_MAX),
                                                  "a certificate file");
}

static int s_load_ca_key(ca_dir *d, const char *passphrase_file)
{
    char path[PATH_MAX];
    if (ca_dir_file(d->path, "ca.key", path, sizeof path) != CLI_OK)
        return CLI_FAIL;
    if (cli_keys_open(path, passphrase_file, &d->keys) != CLI_OK)
        return CLI_FAIL;
    if (sodium_memcmp(d->keys->sign_pk, d->ca->sign_pk, KEYS_PK_LEN) != 0)
        return cli_fail(path, ASYLINK_E_WRONG_KEY);
    return CLI_OK;
}

int ca_dir_open(const char *path, const char *passphrase_file, ca_dir **out)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_fail_file(path, ASYLINK_E_NOT_FOUND);
    ca_dir *d = s_new(path);
    if (!d)
        return cli_fail(path, ASYLINK_E_NOMEM);
    int rc = s_lock(d);
    if (rc == CLI_OK)
        rc = s_load_ca_cert(d);
    if (rc == CLI_OK)
        rc = s_load_ca_key(d, passphrase_file);
    if (rc == CLI_OK)
        *out = d;
    else
        ca_dir_close(&d);
    return rc;
}

/* ---- issuing ---- */

/* Refuses requests that would let a node pose as the CA. */
static int s_check_request(const ca_dir *d, const cert_request *req)
{
    if (strcmp(req->node_id, d->ca->node_id) == 0)
        return cli_failf("%s: BAD_NODE_ID: the request names the CA itself", req->node_id);
    if (sodium_memcmp(req->sign_pk, d->ca->sign_pk, KEYS_PK_LEN) == 0)
        return cli_failf("%s: WRONG_KEY: the request carries the CA's own key", req->node_id);
    return CLI_OK;
}

/*
 * Refuses an output path that names one of the CA's own files (ca.key,
 * ca.cert, serial, revoked.crl, issued.txt) by whatever spelling: its
 * directory is the CA's (same inode) and its name one of theirs. With
 * --force it would otherwise replace the CA's key, certificate, serial
 * counter or revocation list with a node's certificate.
 */
static int s_check_out_path(const ca_dir *d, const char *out_path)
{
    char copy[PATH_MAX], name[PATH_MAX];
    struct stat ca_st, out_st;
    snprintf(copy, sizeof copy, "%s", out_path);
    snprintf(name, sizeof name, "%s", basename(copy));
    snprintf(copy, sizeof copy, "%s", out_path);
    if (fstat(d->lock_fd, &ca_st) != 0 || stat(dirname(copy), &out_st) != 0 ||
        ca_st.st_dev != out_st.st_dev || ca_st.st_ino != out_st.st_ino)
        return CLI_OK; /* another directory (a missing one fails when written) */
    for (size_t i = 0; i < S_N_CA_FILES; i++)
        if (strcmp(name, s_ca_files[i]) == 0)
            return cli_fail_text(out_path, ASYLINK_E_EXISTS,
                                 "this is the CA's own %s (CA directory %s): a certificate is "
                                 "never written over it, not even with --force; give --out "
                                 "another file",
                                 s_ca_files[i], d->path);
    return CLI_OK;
}

/*
 * Refuses to write over an existing certificate file, and says how to
 * renew: a trust directory may hold several certificates of one node, and
 * envelopes signed under the old one are verified with it (by serial)
 * until they are delivered, so replacing it dead-letters them (WRONG_KEY).
 */
static int s_refuse_existing(const char *out_path, const char *node_id, uint64_t serial)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", out_path);
    return cli_fail_text(out_path, ASYLINK_E_EXISTS,
                         "already exists, not overwritten. To renew %s's certificate, write the "
                         "new one beside it (--out %s/%s.%llu.cert) and keep this one in every "
                         "trust directory until it expires: messages signed under it are "
                         "verified with it (OPERATIONS.md section 12, \"Renewing a certificate\"); "
                         "--force replaces it",
                         node_id, dirname(copy), node_id, (unsigned long long)serial);
}

int ca_dir_issue(ca_dir *d, const cert_request *req, uint32_t roles, uint64_t not_before_ms,
                 uint64_t not_after_ms, const char *out_path, bool overwrite, cert **out)
{
    uint64_t serial = 0;
    cert *c = NULL;
    if (s_check_request(d, req) != CLI_OK || s_check_out_path(d, out_path) != CLI_OK ||
        ca_dir_next_serial(d, &serial) != CLI_OK)
        return CLI_FAIL;
    if (!overwrite && access(out_path, F_OK) == 0)
        return s_refuse_existing(out_path, req->node_id, serial);
    cert_fields f = {
        .serial = serial,
        .node_id = req->node_id,
        .display_name = req->display_name,
        .roles = roles,
        .sign_pk = req->sign_pk,
        .box_pk = req->box_pk,
        .not_before_ms = not_before_ms,
        .not_after_ms = not_after_ms,
    };
    int rc = cert_sign(d->keys, d->ca->node_id, &f, &c);
    if (rc != ASYLINK_OK)
        return cli_fail(req->node_id, rc);
    rc = s_write_serial(d->path, serial + 1);
    if (rc == CLI_OK)
        rc = s_save_cert(c, out_path, overwrite);
    if (rc == CLI_OK)
        rc = s_record_issued(d->path, c, out_path);
    if (rc == CLI_OK && out)
        *out = c;
    else
        cert_destroy(&c);
    return rc;
}

/* ---- revoking ---- */

/* Only serials this CA handed to nodes can be revoked. */
static int s_check_serial(const ca_dir *d, uint64_t serial)
{
    uint64_t next = 0;
    if (ca_dir_next_serial(d, &next) != CLI_OK)
        return CLI_FAIL;
    if (serial == 1)
        return cli_failf("serial 1: INVALID_ARG: that is the CA's own certificate; "
                         "to retire the CA, make a new one and replace every ca.cert");
    if (serial < CA_FIRST_NODE_SERIAL || serial >= next) {
        char ctx[64];
        snprintf(ctx, sizeof ctx, "serial %llu (never issued by this CA)",
                 (unsigned long long)serial);
        return cli_fail(ctx, ASYLINK_E_NOT_FOUND);
    }
    return CLI_OK;
}

/* Signs and writes old's entries plus (serial, now, reason) as the next list. */
static int s_add_entry(const ca_dir *d, const crl *old, uint64_t serial, const char *reason,
                       crl **out)
{
    crl_entry *entries = calloc(old->n_entries + 1, sizeof *entries);
    if (!entries)
        return cli_fail("revoked.crl", ASYLINK_E_NOMEM);
    if (old->n_entries)
        memcpy(entries, old->entries, old->n_entries * sizeof *entries);
    crl_entry *e = &entries[old->n_entries];
    e->serial = serial;
    e->revoked_ms = clock_now_ms();
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    int rc = s_write_crl(d, old->number + 1, entries, old->n_entries + 1, out);
    free(entries);
    return rc;
}

int ca_dir_revoke(ca_dir *d, uint64_t serial, const char *reason, bool *already, crl **out)
{
    char path[PATH_MAX];
    crl *old = NULL;
    *already = false;
    if (s_check_serial(d, serial) != CLI_OK ||
        ca_dir_file(d->path, "revoked.crl", path, sizeof path) != CLI_OK)
        return CLI_FAIL;
    int rc = crl_load(path, d->ca, &old);
    if (rc != ASYLINK_OK)
        return cli_fail_file_limit(path, rc, CERT_ARMORED_MAX(CRL_FILE_MAX), "a revocation list");
    if (crl_find(old, serial)) {
        *already = true;
        if (out)
            *out = old;
        else
            crl_destroy(&old);
        return CLI_OK;
    }
    rc = s_add_entry(d, old, serial, reason, out);
    crl_destroy(&old);
    return rc;
}
