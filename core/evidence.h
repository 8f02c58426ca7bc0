/*
 * evidence.h — the evidence bundle (docs/PROTOCOL.md section 14): one ZIP
 * file (zip.h) with everything a third party needs to check, offline, that
 * a node sent a message and that its recipients acknowledged exactly that
 * envelope:
 *
 *   manifest.json            what the bundle claims and every other member's
 *                            size and SHA-256
 *   manifest.sig             the exporter's Ed25519 signature of manifest.json
 *   message/envelope.bin     the sent envelope, byte for byte
 *   receipts/NODE.bin        NODE's signed receipt envelope, byte for byte
 *   receipts/NODE.key        its content key (32 bytes), disclosed by the sender
 *   certs/ca.cert            the CA certificate (armored)
 *   certs/NODE.SERIAL.cert   every node certificate the signatures need (armored)
 *   revoked.crl              the revocation list the exporter had (armored; absent
 *                            if it had none)
 *
 * This file builds bundles (used by libasylink's asylink_evidence_export);
 * evidence_check.h reads and checks them.
 *
 * Threading: no shared state; build one bundle per call.
 */
#ifndef ASYLINK_CORE_EVIDENCE_H
#define ASYLINK_CORE_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "cert.h"
#include "keys.h"

#define EVIDENCE_FORMAT "asylink-evidence-1"
#define EVIDENCE_SIG_DOMAIN "asylink.evidence-manifest.v1"
#define EVIDENCE_MANIFEST "manifest.json"
#define EVIDENCE_MANIFEST_SIG "manifest.sig"
#define EVIDENCE_ENVELOPE "message/envelope.bin"
#define EVIDENCE_CA "certs/ca.cert"
#define EVIDENCE_CRL "revoked.crl"
#define EVIDENCE_KEY_LEN 32

/* Member types as the manifest names them. */
#define EVIDENCE_T_ENVELOPE "envelope"
#define EVIDENCE_T_RECEIPT "receipt"
#define EVIDENCE_T_RECEIPT_KEY "receipt_key"
#define EVIDENCE_T_CA "ca"
#define EVIDENCE_T_CERT "certificate"
#define EVIDENCE_T_CRL "crl"

/* Limits of a bundle (the builder stays within them, the checker enforces them). */
#define EVIDENCE_MAX_MEMBERS 2048
#define EVIDENCE_MAX_MANIFEST (1u << 20)
#define EVIDENCE_MAX_RECEIPT (1u << 20)        /* a receipt envelope (1,000 receipts ~ 200 KiB) */
#define EVIDENCE_MAX_CRL (2u * CRL_FILE_MAX)   /* an armored revocation list */
#define EVIDENCE_MAX_MEMBER (34u << 20) /* largest member: an envelope (ENVELOPE_MAX_SIZE) */
#define EVIDENCE_MAX_BUNDLE (256u << 20)

/* One recipient's receipt as the sender holds it. */
typedef struct evidence_receipt {
    const uint8_t *envelope; /* the signed receipt envelope, as received */
    size_t envelope_len;
    const uint8_t *key; /* its content key, EVIDENCE_KEY_LEN bytes */
} evidence_receipt;

/* What goes into a bundle. Everything is borrowed for the call. */
typedef struct evidence_parts {
    const uint8_t *envelope; /* the sent envelope, as sent */
    size_t envelope_len;
    const evidence_receipt *receipts; /* at most one per recipient */
    size_t n_receipts;
    const cert *const *certs; /* node certificates (repeats are written once) */
    size_t n_certs;
    const cert *ca;                   /* the CA certificate */
    const crl *crl;                   /* the revocation list in force, or NULL */
    const cert *exporter;             /* the exporting node's certificate (the sender) */
    const keys_secret *exporter_keys; /* its keys: sign the manifest */
    uint64_t exported_ms;             /* when */
} evidence_parts;

/*
 * Builds a bundle: *out (malloc'd, caller frees) of *len bytes. The sent
 * envelope must be a direct message of the exporter's node, every receipt
 * an envelope from one of its recipients (each at most once), and the
 * certificates must include the sender's signing certificate, every
 * receipt signer's and the exporter's (else ASYLINK_E_NOT_FOUND). Nothing
 * is verified here; evidence_check() does that. Errors: ASYLINK_E_INVALID_ARG,
 * ASYLINK_E_BAD_FIELD (a feed message, a receipt from a non-recipient or
 * twice, an exporter that is not the sender), ASYLINK_E_NOT_FOUND, the
 * codes of envelope_decode(), ASYLINK_E_TOO_LARGE, ASYLINK_E_NOMEM.
 */
int evidence_build(const evidence_parts *p, uint8_t **out, size_t *len);

/*
 * The manifest signature digest: BLAKE2b-512("asylink.evidence-manifest.v1"
 * || lp(manifest bytes)), signed with Ed25519 as every asylink signature.
 */
void evidence_manifest_digest(const uint8_t *manifest, size_t len, uint8_t out[64]);

/* The member name of a certificate: "certs/NODE.SERIAL.cert" into buf (>= 96 bytes). */
const char *evidence_cert_name(const char *node, uint64_t serial, char *buf, size_t len);

/* The member name of NODE's receipt ("receipts/NODE.bin") or key ("receipts/NODE.key"). */
const char *evidence_receipt_name(const char *node, int key, char *buf, size_t len);

#endif
