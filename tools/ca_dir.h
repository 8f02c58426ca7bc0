/*
 * ca_dir.h — the federation CA's directory, as `asylink ca` keeps it:
 *
 *   <dir>/ca.key       the CA's secret keys (mode 0600; Argon2id-encrypted
 *                      when made with a passphrase)
 *   <dir>/ca.cert      the CA's self-signed certificate (serial 1, role ca)
 *   <dir>/serial       the next serial to issue, decimal text
 *   <dir>/revoked.crl  the current revocation list, signed by the CA
 *   <dir>/issued.txt   append-only index, one line per certificate:
 *                      serial TAB node_id TAB not_after TAB path (as
 *                      given to `ca sign --out`)
 *
 * The directory itself is flock()ed while a command uses it, so two
 * signers never hand out one serial twice.
 *
 * The directory is meant to live on an offline machine. The functions
 * below print their own error messages (they are the tool's, not the
 * library's) and return CLI_OK or CLI_FAIL.
 *
 * Threading: one ca_dir per thread; the lock also excludes other processes.
 */
#ifndef ASYLINK_TOOLS_CA_DIR_H
#define ASYLINK_TOOLS_CA_DIR_H

#include <stdbool.h>
#include <stdint.h>

#include "cert.h"
#include "keys.h"

/* An open, locked CA directory. Fields are read-only for users. */
typedef struct ca_dir {
    char *path;        /* the directory, as given */
    int lock_fd;       /* the directory, open and flock()ed */
    keys_secret *keys; /* the CA's secret keys */
    cert *ca;          /* the CA's self-signed certificate */
} ca_dir;

/* What a new CA is called and how long it lives. */
typedef struct ca_dir_params {
    const char *node_id;      /* the CA's node id, e.g. "ASYLINK.CA" */
    const char *display_name; /* human name */
    uint64_t not_before_ms;   /* validity start */
    uint64_t not_after_ms;    /* validity end (exclusive) */
    const char *passphrase;   /* encrypts ca.key; NULL = stored in clear */
} ca_dir_params;

/*
 * Makes a new CA in path (created with mode 0700 if missing): keys,
 * self-signed certificate with serial 1, empty revocation list number 1,
 * serial file (2) and issued.txt. Refuses a directory that already holds a
 * CA; removes what it wrote if a later step fails. Caller closes *out.
 */
int ca_dir_create(const char *path, const ca_dir_params *p, ca_dir **out);

/*
 * Opens and locks an existing CA: loads ca.cert (must be a valid
 * self-signed CA certificate) and ca.key (passphrase as
 * cli_passphrase_get(): passphrase_file, ASYLINK_PASSPHRASE, or a prompt),
 * and checks that they belong together. Caller closes *out.
 */
int ca_dir_open(const char *path, const char *passphrase_file, ca_dir **out);

/* Unlocks and frees *self_p (wiping the keys); sets it to NULL. Accepts NULL. */
void ca_dir_close(ca_dir **self_p);

/* Writes <dir>/name into buf; CLI_FAIL (with a message) if it does not fit. */
int ca_dir_file(const char *dir, const char *name, char *buf, size_t len);

/* Reads the next serial to issue from <dir>/serial. */
int ca_dir_next_serial(const ca_dir *d, uint64_t *serial);

/*
 * Issues a certificate for the request with the next serial and writes it
 * to out_path (refusing to overwrite unless overwrite). The serial file
 * moves on before the certificate is written, so a crash can skip a serial
 * but never reuse one; issued.txt gets a line afterwards. *out (may be
 * NULL) receives the certificate; caller destroys it.
 */
int ca_dir_issue(ca_dir *d, const cert_request *req, uint32_t roles, uint64_t not_before_ms,
                 uint64_t not_after_ms, const char *out_path, bool overwrite, cert **out);

/*
 * Adds serial to the revocation list (signed with the next number, written
 * to <dir>/revoked.crl). Refuses serials this CA never issued (and the
 * CA's own, 1). If serial is already revoked, changes nothing and sets
 * *already. *out (may be NULL) receives the current list; caller destroys it.
 */
int ca_dir_revoke(ca_dir *d, uint64_t serial, const char *reason, bool *already, crl **out);

#endif
