/*
 * evidence_check.h — reading and checking an evidence bundle (evidence.h,
 * docs/PROTOCOL.md section 14) offline, against nothing but a trust
 * directory holding the federation's CA certificate (and, if the checker
 * has one, its own revocation list).
 *
 * The bundle is hostile input: the archive is read with zip_read()'s
 * limits, the manifest with a JSON parser that refuses duplicate keys and
 * unknown fields, every certificate, revocation list and envelope with
 * the core decoders. Every check yields a finding (ok or failed, with the
 * member concerned and a sentence for a person); the bundle holds when
 * none failed.
 *
 * Not part of libasylink (it needs jansson): the asylink tool, the tests
 * and the fuzz target link it as asylink_evidence_check.
 *
 * Threading: a report belongs to one thread; checks share no state.
 */
#ifndef ASYLINK_CORE_EVIDENCE_CHECK_H
#define ASYLINK_CORE_EVIDENCE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"
#include "envelope.h"
#include "trust.h"

/* One check and its outcome. */
typedef struct evidence_finding {
    bool ok;
    int code;          /* asylink_err: ASYLINK_OK, or why it failed */
    char subject[136]; /* the member concerned ("manifest.json", ...) or "bundle" */
    char text[400];    /* what was checked, or what is wrong (printable ASCII and UTF-8) */
} evidence_finding;

/* What the bundle shows about one recipient. */
typedef struct evidence_recipient {
    char node[NODE_ID_MAX + 1];
    bool has_receipt;            /* the bundle holds a receipt from this node */
    bool proven;                 /* that receipt checked out: delivered, this exact envelope */
    uint64_t acked_ms;           /* when its application acknowledged (its clock) */
    uint64_t receipt_created_ms; /* when it signed the receipt envelope (its clock) */
    uint64_t cert_serial;        /* the certificate it signed with */
    char display_name[CERT_DISPLAY_MAX + 1];
    size_t others; /* other messages the same receipt envelope covers */
} evidence_recipient;

/* The result of evidence_check(). */
typedef struct evidence_report {
    int result; /* ASYLINK_OK when every check passed, else the first failure's code */
    /* the message, as the signed envelope says (when it decoded) */
    bool have_message;
    char message_id[37];
    char sender[NODE_ID_MAX + 1];
    char sender_name[CERT_DISPLAY_MAX + 1]; /* from its certificate, "" if unknown */
    uint64_t sender_serial;
    char content_type[ENVELOPE_CONTENT_TYPE_MAX + 1];
    int classification;
    uint64_t created_ms;
    uint64_t expires_ms;
    uint64_t payload_size;
    bool encrypted;
    uint8_t digest[ENVELOPE_DIGEST_LEN];
    evidence_recipient *recipients;
    size_t n_recipients;
    /* the bundle */
    size_t n_members;
    char ca_node[NODE_ID_MAX + 1];
    bool has_crl; /* the bundle holds a revocation list */
    uint64_t crl_number, crl_issued_ms;
    bool trust_has_crl; /* the checker's trust directory holds one */
    uint64_t trust_crl_number;
    char exported_by[NODE_ID_MAX + 1];
    uint64_t exported_ms;
    /* every check, in the order made */
    evidence_finding *findings;
    size_t n_findings;
} evidence_report;

/*
 * Checks the bundle buf (len bytes) against t (the checker's trust
 * directory: its CA must be the bundle's; its revocation list, if any,
 * counts as well as the bundle's). Validity periods are judged at the time
 * each signature claims (the envelope's created_ms, the receipt envelopes',
 * the export time); a certificate on either revocation list fails,
 * whenever it was revoked. On ASYLINK_OK *out is a new report (free with
 * evidence_report_free) whose result says whether the bundle holds;
 * the function itself fails only with ASYLINK_E_INVALID_ARG or
 * ASYLINK_E_NOMEM.
 */
int evidence_check(const uint8_t *buf, size_t len, const trust *t, evidence_report **out);

/* Frees a report; sets *self_p to NULL. Accepts NULL. */
void evidence_report_free(evidence_report **self_p);

#endif
