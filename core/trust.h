/*
 * trust.h — the trust directory: the federation CA, the nodes it certified
 * and its revocation list.
 *
 *   <dir>/ca.cert        the CA's self-signed certificate (required)
 *   <dir>/nodes/NAME.cert node certificates issued by that CA
 *   <dir>/revoked.crl    CA-signed revocation list (optional: none revoked)
 *
 * Loading verifies every signature. A node certificate that does not verify
 * or parse is left out and reported as a problem; one that is expired or
 * revoked is kept, so that lookups can say exactly why it may not be used
 * (trust_check()). A node may have several certificates (renewal): all are
 * kept, messages name the one they were signed under by serial, and the
 * node's current certificate is its highest serial usable now. Two
 * different nodes sharing a public key is a CA error: both are left out.
 * The broker reloads with trust_reload(), which refuses a revocation list
 * older than the one in use.
 *
 * Threading: immutable after trust_load() (and trust_adopt_crl(), before
 * it is shared); share freely for reading.
 */
#ifndef ASYLINK_CORE_TRUST_H
#define ASYLINK_CORE_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include "cert.h"

typedef struct trust trust;

/* A node certificate file that was left out, and why. */
typedef struct trust_problem {
    char path[4096]; /* file that was left out */
    int code;       /* asylink_err explaining why */
} trust_problem;

/*
 * Loads the trust directory dir. Returns ASYLINK_OK; ASYLINK_E_NOT_FOUND
 * (no ca.cert); for ca.cert the codes of cert_load() and cert_verify()
 * (a CA must be self-signed with role ca); for revoked.crl the codes of
 * crl_load(); ASYLINK_E_IO, ASYLINK_E_NOMEM. Caller destroys *out.
 */
int trust_load(const char *dir, trust **out);

void trust_destroy(trust **self_p);

/* The CA certificate. Valid while t lives. */
const cert *trust_ca(const trust *t);

/* The revocation list, or NULL if there is none. Valid while t lives. */
const crl *trust_crl(const trust *t);

/* The highest-serial certificate of node_id, or NULL. Valid while t lives. */
const cert *trust_find(const trust *t, const char *node_id);

/* The certificate of node_id with this serial, or NULL. Valid while t lives. */
const cert *trust_find_serial(const trust *t, const char *node_id, uint64_t serial);

/* The certificate whose X25519 key is box_pk (CURVE identity), or NULL. */
const cert *trust_find_by_box_pk(const trust *t, const uint8_t box_pk[32]);

/* Number of node certificates, and the i-th (by node id, then serial descending). */
size_t trust_count(const trust *t);
const cert *trust_at(const trust *t, size_t i);

/* Files left out at load time. */
size_t trust_problem_count(const trust *t);
const trust_problem *trust_problem_at(const trust *t, size_t i);

/*
 * After trust_load() or trust_reload() of dir returned ASYLINK_E_TOO_LARGE:
 * what was too large, into buf (len bytes): "DIR/ca.cert: N bytes, more
 * than the limit of L bytes (X KiB) for a certificate file" or the same
 * for DIR/revoked.crl (file_limit_text()), else that DIR/nodes holds more
 * certificates than the limit.
 */
void trust_too_large_text(const char *dir, char *buf, size_t len);

/*
 * Like trust_load(), for replacing current (may be NULL): also fails with
 * ASYLINK_E_STALE if current has a revocation list and dir's (under the
 * same CA key) is missing or has a lower number, so an old list cannot
 * silently un-revoke anyone. A new CA's lists are numbered on their own.
 */
int trust_reload(const char *dir, const trust *current, trust **out);

/*
 * Replaces t's revocation list with the one encoded in raw (len bytes: a
 * serialized RevocationList, as crl.raw holds it; the broker keeps the
 * newest it used in its store), decoded and verified against t's CA as
 * trust_load() verifies revoked.crl (crl_decode() codes), and only if its
 * number is expect_number (else ASYLINK_E_STALE). On failure t is
 * unchanged. For a trust no other thread holds yet: a shared one is
 * immutable.
 */
int trust_adopt_crl(trust *t, const uint8_t *raw, size_t len, uint64_t expect_number);

/*
 * May a certificate loaded into t be used at now_ms? Checks the CA's and
 * c's validity windows and the revocation list (not c's signature, which
 * trust_load() verified): ASYLINK_OK, ASYLINK_E_REVOKED,
 * ASYLINK_E_CERT_EXPIRED, ASYLINK_E_CERT_NOT_YET_VALID.
 */
int trust_usable(const trust *t, const cert *c, uint64_t now_ms);

/*
 * May any certificate c be used at now_ms? cert_verify() against the CA
 * (ASYLINK_E_UNTRUSTED_ISSUER, ASYLINK_E_BAD_SIGNATURE, ASYLINK_E_ROLE),
 * then trust_usable()'s checks.
 */
int trust_check(const trust *t, const cert *c, uint64_t now_ms);

/*
 * Looks up node_id's current certificate: the highest serial usable at
 * now_ms, with *out set; unknown_code (the caller's choice:
 * ASYLINK_E_UNKNOWN_SENDER or ASYLINK_E_UNKNOWN_RECIPIENT) if there is none;
 * if none is usable, trust_usable()'s code for the highest serial.
 */
int trust_lookup(const trust *t, const char *node_id, uint64_t now_ms, int unknown_code,
                 const cert **out);

#endif
