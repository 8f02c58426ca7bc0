/*
 * cert.h — the federation's certificates, certificate requests and
 * revocation lists (proto/asylink/v1/envelope.proto), in core's own types.
 *
 * A certificate binds a node id, display name and roles to an Ed25519 key
 * (signatures) and an X25519 key (CurveZMQ and key wrapping), signed by the
 * federation CA over the exact body bytes. The CA's own certificate is
 * self-signed and carries the role "ca"; no other certificate may.
 *
 * Decoding checks syntax (lengths, node id, roles, versions) and nothing
 * else; cert_verify() checks the issuer's signature and cert_check_time()
 * the validity window. Revocation is the trust directory's job (trust.h).
 *
 * Threading: all objects are immutable after creation; share freely.
 */
#ifndef ASYLINK_CORE_CERT_H
#define ASYLINK_CORE_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define NODE_ID_MAX 64
#define CERT_DISPLAY_MAX 256
#define CERT_FILE_MAX (64u * 1024u)
#define CRL_FILE_MAX (16u * 1024u * 1024u)
/* The most bytes of an armored file whose content may be bin bytes (base64, lines, comments). */
#define CERT_ARMORED_MAX(bin) ((bin)*2u + 4096u)

/* Roles, numbered as asylink.v1.Role. A role set is a bit mask 1u << role. */
enum cert_role {
    CERT_ROLE_MEMBER_STATE = 1,
    CERT_ROLE_AGENCY = 2,
    CERT_ROLE_ANALYST = 3,
    CERT_ROLE_OPERATOR = 4,
    CERT_ROLE_BROKER = 5,
    CERT_ROLE_CA = 6,
};
#define CERT_ROLE_MAX CERT_ROLE_CA
#define CERT_ROLE_BIT(r) (1u << (r))

/* True if id matches ^[A-Z0-9][A-Z0-9._-]{1,63}$. */
bool node_id_valid(const char *id);

/*
 * True if s may be a display name (certificates, requests) or a revocation
 * reason: at most CERT_DISPLAY_MAX bytes of UTF-8 without control
 * characters (one line of printable text).
 */
bool cert_display_valid(const char *s);

/* Role name ("member_state", ...) for a role number; NULL if unknown. */
const char *cert_role_name(int role);

/* Parses "member_state,analyst" into a role mask. ASYLINK_OK or E_BAD_FIELD. */
int cert_roles_parse(const char *list, uint32_t *mask);

/* Writes "member_state,analyst" for a mask into buf. Returns buf. */
const char *cert_roles_format(uint32_t mask, char *buf, size_t len);

/* A decoded certificate. Fields are read-only for users. */
typedef struct cert {
    uint64_t serial;                      /* unique per CA, > 0 */
    char node_id[NODE_ID_MAX + 1];        /* subject */
    char display_name[CERT_DISPLAY_MAX + 1]; /* human name */
    uint32_t roles;                       /* CERT_ROLE_BIT mask */
    uint8_t sign_pk[32];                  /* Ed25519 public key */
    uint8_t box_pk[32];                   /* X25519 public key */
    uint64_t not_before_ms;               /* validity start */
    uint64_t not_after_ms;                /* validity end (exclusive) */
    char issuer[NODE_ID_MAX + 1];         /* issuing CA node id */
    uint8_t issuer_sign_pk[32];           /* issuing CA key */
    uint8_t *body;                        /* signed body bytes, owned */
    size_t body_len;
    uint8_t signature[64];                /* issuer's signature */
    uint8_t *raw;                         /* serialized Certificate, owned */
    size_t raw_len;
} cert;

/* What a new certificate says; used by cert_sign(). */
typedef struct cert_fields {
    uint64_t serial;
    const char *node_id;
    const char *display_name;
    uint32_t roles;
    const uint8_t *sign_pk; /* 32 bytes */
    const uint8_t *box_pk;  /* 32 bytes */
    uint64_t not_before_ms;
    uint64_t not_after_ms;
} cert_fields;

/*
 * Decodes a serialized Certificate (canonical encoding only, codec.h).
 * Returns ASYLINK_OK, ASYLINK_E_MALFORMED,
 * ASYLINK_E_UNSUPPORTED_VERSION, ASYLINK_E_BAD_NODE_ID, ASYLINK_E_BAD_FIELD,
 * ASYLINK_E_TOO_LARGE, ASYLINK_E_NOMEM. Caller destroys *out.
 */
int cert_decode(const uint8_t *buf, size_t len, cert **out);

/* Copies a certificate. ASYLINK_OK or ASYLINK_E_NOMEM. */
int cert_dup(const cert *c, cert **out);

/* Frees *self_p and sets it to NULL. Accepts NULL. */
void cert_destroy(cert **self_p);

/*
 * Issues a certificate signed by issuer_keys for issuer_id. For a CA's
 * self-signed root, pass the CA's own keys and id, and fields whose sign_pk
 * is the CA's and roles CA only. Returns ASYLINK_OK, ASYLINK_E_BAD_NODE_ID,
 * ASYLINK_E_BAD_FIELD, ASYLINK_E_ROLE (CA role on a non-root), ASYLINK_E_NOMEM.
 */
int cert_sign(const keys_secret *issuer_keys, const char *issuer_id, const cert_fields *f,
              cert **out);

/*
 * Checks that ca issued c: issuer id and key match ca, signature verifies,
 * and role rules hold (only a self-signed root has the CA role). Pass c as
 * ca to check a self-signed root. Returns ASYLINK_OK,
 * ASYLINK_E_UNTRUSTED_ISSUER, ASYLINK_E_BAD_SIGNATURE, ASYLINK_E_ROLE,
 * ASYLINK_E_BAD_NODE_ID (a node certificate carrying the CA's node id).
 */
int cert_verify(const cert *c, const cert *ca);

/* ASYLINK_OK, ASYLINK_E_CERT_NOT_YET_VALID or ASYLINK_E_CERT_EXPIRED at now_ms. */
int cert_check_time(const cert *c, uint64_t now_ms);

/* True if the certificate grants role. */
bool cert_has_role(const cert *c, int role);

/*
 * True if c is one of the federation's internal nodes: its only roles are
 * broker, operator and/or ca, none of the member roles that exchange
 * messages. The broker's queue views (asylink queues, /status.json,
 * /metrics) leave such a node out while its queue and dead letters are
 * empty.
 */
bool cert_is_internal(const cert *c);

/*
 * May this node be a reader of a LIMITED feed message? Only nodes whose
 * roles are all among member_state, agency and analyst: a certificate with
 * the broker, operator or CA role never gets a topic's content key, so a
 * broker that lists itself (or an operator) as a reader learns nothing.
 */
bool cert_may_read_feeds(const cert *c);

/*
 * Readable multi-line summary (node id, name, roles, serial, validity,
 * issuer, key fingerprints), malloc'd, used as the armor comment and by
 * `asylink cert show`. NULL on out of memory.
 */
char *cert_describe(const cert *c);

/* Loads an armored certificate file. Codes as cert_decode plus E_NOT_FOUND, E_IO. */
int cert_load(const char *path, cert **out);

/* Writes c armored with its description, mode 0644, atomically. E_IO / E_EXISTS. */
int cert_save(const cert *c, const char *path, int exclusive);

/* A self-signed certificate request (proof of possession of sign_pk). */
typedef struct cert_request {
    char node_id[NODE_ID_MAX + 1];
    char display_name[CERT_DISPLAY_MAX + 1];
    uint32_t roles;       /* requested roles */
    uint8_t sign_pk[32];
    uint8_t box_pk[32];
    uint64_t created_ms;
    uint8_t *raw;         /* serialized CertificateRequest, owned */
    size_t raw_len;
} cert_request;

/* Makes and self-signs a request. Codes: E_BAD_NODE_ID, E_BAD_FIELD, E_NOMEM. */
int cert_request_create(const keys_secret *keys, const char *node_id, const char *display_name,
                        uint32_t roles, uint64_t created_ms, cert_request **out);

/* Decodes a request and checks its self-signature (E_BAD_SIGNATURE) and syntax. */
int cert_request_decode(const uint8_t *buf, size_t len, cert_request **out);

void cert_request_destroy(cert_request **self_p);
int cert_request_load(const char *path, cert_request **out);
int cert_request_save(const cert_request *r, const char *path, int exclusive);

/* One revoked serial. */
typedef struct crl_entry {
    uint64_t serial;
    uint64_t revoked_ms;
    char reason[128];
} crl_entry;

/* A decoded, CA-verified revocation list. */
typedef struct crl {
    char issuer[NODE_ID_MAX + 1];
    uint64_t number;       /* increases with each list */
    uint64_t issued_ms;
    crl_entry *entries;
    size_t n_entries;
    uint8_t *raw;          /* serialized RevocationList, owned */
    size_t raw_len;
} crl;

/*
 * Decodes a revocation list and checks the CA's signature. Returns
 * ASYLINK_OK, ASYLINK_E_MALFORMED, ASYLINK_E_TOO_LARGE,
 * ASYLINK_E_UNSUPPORTED_VERSION, ASYLINK_E_BAD_NODE_ID,
 * ASYLINK_E_UNTRUSTED_ISSUER, ASYLINK_E_BAD_SIGNATURE, ASYLINK_E_BAD_FIELD,
 * ASYLINK_E_NOMEM.
 */
int crl_decode(const uint8_t *buf, size_t len, const cert *ca, crl **out);

/* Signs a list of n entries as number `number`. E_BAD_FIELD / E_NOMEM. */
int crl_sign(const keys_secret *ca_keys, const cert *ca, uint64_t number, uint64_t issued_ms,
             const crl_entry *entries, size_t n, crl **out);

/* The entry for serial, or NULL if not revoked. Valid while l lives. */
const crl_entry *crl_find(const crl *l, uint64_t serial);

void crl_destroy(crl **self_p);
int crl_load(const char *path, const cert *ca, crl **out);
int crl_save(const crl *l, const char *path);

#endif
