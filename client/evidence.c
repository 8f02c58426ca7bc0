/*
 * evidence.c — the sender's side of evidence (docs/PROTOCOL.md section 14):
 * the retention sweep of kept sent envelopes, and asylink_evidence_export(),
 * which gathers a message's envelope, receipts, receipt keys, certificates,
 * CA and revocation list and writes them as one signed bundle
 * (core/evidence.c).
 */
#include "client_internal.h"

#include "clock.h"
#include "evidence.h"
#include "file.h"
#include "uuid.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define S_SWEEP_BATCH 1000 /* kept envelopes removed per transaction */
#define S_SWEEP_ROUNDS 10  /* transactions per sweep; the rest waits for the next */

void client_sent_sweep(asylink_client *c, uint64_t now_ms)
{
    uint64_t keep = c->sent_retention_ms;
    uint64_t cutoff = keep == 0 ? now_ms : now_ms > keep ? now_ms - keep : 0;
    size_t total = 0, removed = S_SWEEP_BATCH;
    if (cutoff == 0)
        return; /* nothing can be older than the retention yet */
    for (int round = 0; round < S_SWEEP_ROUNDS && removed == S_SWEEP_BATCH; round++) {
        cstore_txn *t = NULL;
        removed = 0;
        int rc = cstore_begin(c->store, &t);
        if (rc == ASYLINK_OK)
            rc = cstore_sent_sweep(t, cutoff, S_SWEEP_BATCH, &removed);
        if (rc == ASYLINK_OK)
            rc = cstore_commit(&t);
        cstore_abort(&t);
        if (rc != ASYLINK_OK) {
            client_log(c, ASYLINK_LOG_WARN, "sweep of kept sent envelopes failed", "code=%s",
                       asylink_err_name(rc));
            return;
        }
        total += removed;
    }
    if (total)
        client_log(c, ASYLINK_LOG_INFO, "kept sent envelopes past their retention removed",
                   "count=%zu", total);
}

/*
 * A kept envelope or receipt that no longer decodes as it did when it was
 * stored: the store is damaged, reported as ASYLINK_E_IO like every other
 * record that fails validation (cstore.c).
 */
static int s_stored(asylink_client *c, int rc, const char *what)
{
    if (rc == ASYLINK_OK || rc == ASYLINK_E_NOMEM)
        return rc;
    client_log(c, ASYLINK_LOG_ERROR, "no evidence: a stored envelope is damaged", "what=%s code=%s",
               CLIENT_Q(what), asylink_err_name(rc));
    return ASYLINK_E_IO;
}

/* What an export gathered (owned). */
typedef struct {
    cstore_out out;    /* the outbox record */
    uint8_t *envelope; /* the sent envelope */
    size_t envelope_len;
    envelope *sent;        /* decoded */
    uint8_t **receipt_env; /* receipt envelopes, one per receipt held */
    size_t *receipt_len;
    uint8_t (*keys)[EVIDENCE_KEY_LEN];
    evidence_receipt *receipts;
    size_t n_receipts;
    const cert **certs; /* borrowed from the held trust */
    size_t n_certs;
} s_export;

static void s_export_free(s_export *x)
{
    cstore_out_clear(&x->out);
    free(x->envelope);
    envelope_destroy(&x->sent);
    for (size_t i = 0; i < x->n_receipts; i++)
        free(x->receipt_env[i]);
    if (x->keys)
        sodium_memzero(x->keys, x->n_receipts * sizeof *x->keys);
    free(x->receipt_env);
    free(x->receipt_len);
    free(x->keys);
    free(x->receipts);
    free(x->certs);
}

/* The sent envelope: the kept copy, or the outbox's while it is still pending. */
static int s_sent_envelope(asylink_client *c, const uint8_t id[16], s_export *x)
{
    int rc = cstore_outbox_get(c->store, id, &x->out);
    if (rc != ASYLINK_OK)
        return rc;
    uint64_t kept_ms = 0;
    rc = cstore_sent_get(c->store, id, &x->envelope, &x->envelope_len, &kept_ms);
    if (rc == ASYLINK_E_NOT_FOUND && x->out.envelope) {
        x->envelope = x->out.envelope; /* still pending: the outbox has it */
        x->envelope_len = x->out.envelope_len;
        x->out.envelope = NULL;
        rc = ASYLINK_OK;
    }
    if (rc == ASYLINK_E_NOT_FOUND)
        client_log(c, ASYLINK_LOG_WARN, "no evidence: the sent envelope is not kept",
                   "retention_ms=%llu", (unsigned long long)c->sent_retention_ms);
    if (rc == ASYLINK_OK)
        rc = s_stored(c, envelope_decode(x->envelope, x->envelope_len, 0, &x->sent), "envelope");
    if (rc == ASYLINK_OK &&
        sodium_memcmp(envelope_digest(x->sent), x->out.digest, ENVELOPE_DIGEST_LEN) != 0)
        rc = ASYLINK_E_IO; /* the store disagrees with itself */
    return rc;
}

/* One receipt: its envelope and the content key only this node can unwrap. */
static int s_receipt(asylink_client *c, const uint8_t id[16], const char *recipient, s_export *x)
{
    size_t i = x->n_receipts;
    int rc =
        cstore_receipt_envelope(c->store, id, recipient, &x->receipt_env[i], &x->receipt_len[i]);
    envelope *e = NULL;
    if (rc == ASYLINK_OK)
        rc = s_stored(c, envelope_decode(x->receipt_env[i], x->receipt_len[i], 0, &e), "receipt");
    if (rc == ASYLINK_OK) {
        pthread_mutex_lock(&c->open_lock);
        rc = envelope_open_key(c->opener, e, x->keys[i]);
        pthread_mutex_unlock(&c->open_lock);
        if (rc == ASYLINK_E_TAMPERED) /* kept as it is: the key may have been replaced */
            client_log(c, ASYLINK_LOG_WARN,
                       "no evidence: this node's key does not open a receipt it holds", "node=%s",
                       recipient);
        else
            rc = s_stored(c, rc, "receipt key"); /* a receipt not to this node, not encrypted */
    }
    envelope_destroy(&e);
    if (rc != ASYLINK_OK) {
        free(x->receipt_env[i]);
        x->receipt_env[i] = NULL;
        return rc;
    }
    x->receipts[i] = (evidence_receipt){x->receipt_env[i], x->receipt_len[i], x->keys[i]};
    x->n_receipts++;
    return ASYLINK_OK;
}

/*
 * Says so when a receipt going into the bundle does not prove delivery: the
 * bundle holds what the node holds, and its check fails on it (PROTOCOL.md
 * 14.5 step 9: NOT_RECIPIENT for a refusal, REVOKED for the signer's
 * certificate, whenever it was revoked).
 */
static void s_receipt_warn(asylink_client *c, const asylink_receipt_info *r)
{
    if (r->status != ASYLINK_RECEIPT_DELIVERED)
        client_log(c, ASYLINK_LOG_WARN,
                   "evidence holds a receipt refusing the message: delivery to it is not proven",
                   "node=%s", r->recipient);
    if (r->signer_revoked)
        client_log(c, ASYLINK_LOG_WARN,
                   "evidence holds a receipt whose signer's certificate is revoked: it does not "
                   "prove delivery",
                   "node=%s", r->recipient);
}

/* Every receipt held for the message. */
static int s_receipts(asylink_client *c, const uint8_t id[16], s_export *x)
{
    asylink_receipt_info *info = calloc(ENVELOPE_MAX_RECIPIENTS, sizeof *info);
    size_t n = ENVELOPE_MAX_RECIPIENTS;
    x->receipt_env = calloc(n, sizeof *x->receipt_env);
    x->receipt_len = calloc(n, sizeof *x->receipt_len);
    x->keys = calloc(n, sizeof *x->keys); /* wiped in s_export_free */
    x->receipts = calloc(n, sizeof *x->receipts);
    int rc = info && x->receipt_env && x->receipt_len && x->keys && x->receipts
                 ? cstore_receipt_list(c->store, id, info, n, &n)
                 : ASYLINK_E_NOMEM;
    n = n < ENVELOPE_MAX_RECIPIENTS ? n : ENVELOPE_MAX_RECIPIENTS;
    if (rc == ASYLINK_OK)
        rc = client_receipts_mark_revoked(c, id, info, n);
    for (size_t i = 0; rc == ASYLINK_OK && i < n; i++) {
        rc = s_receipt(c, id, info[i].recipient, x);
        if (rc == ASYLINK_OK)
            s_receipt_warn(c, &info[i]);
    }
    free(info);
    return rc;
}

/* Adds a certificate to the export's list. */
static void s_cert_add(s_export *x, const cert *k)
{
    if (k)
        x->certs[x->n_certs++] = k;
}

/*
 * The certificates the signatures need (the sender's and every receipt
 * signer's, by serial) and each recipient's current one, from trust t.
 */
static int s_certs(asylink_client *c, const trust *t, s_export *x)
{
    const envelope_header *h = envelope_header_of(x->sent);
    x->certs = calloc(1 + x->n_receipts + h->n_recipients, sizeof *x->certs);
    if (!x->certs)
        return ASYLINK_E_NOMEM;
    const cert *k = trust_find_serial(t, h->sender, h->sender_cert_serial);
    if (!k && c->own->serial == h->sender_cert_serial)
        k = c->own;
    if (!k) {
        client_log(c, ASYLINK_LOG_WARN,
                   "no evidence: the sender certificate is not in the trust "
                   "directory",
                   "serial=%llu", (unsigned long long)h->sender_cert_serial);
        return ASYLINK_E_NOT_FOUND;
    }
    s_cert_add(x, k);
    for (size_t i = 0; i < x->n_receipts; i++) {
        envelope *e = NULL;
        int rc = s_stored(
            c, envelope_decode(x->receipts[i].envelope, x->receipts[i].envelope_len, 0, &e),
            "receipt");
        if (rc != ASYLINK_OK)
            return rc;
        const envelope_header *r = envelope_header_of(e);
        k = trust_find_serial(t, r->sender, r->sender_cert_serial);
        if (!k)
            client_log(c, ASYLINK_LOG_WARN,
                       "no evidence: a receipt signer's certificate is not "
                       "in the trust directory",
                       "node=%s serial=%llu", r->sender, (unsigned long long)r->sender_cert_serial);
        envelope_destroy(&e);
        if (!k)
            return ASYLINK_E_NOT_FOUND;
        s_cert_add(x, k);
    }
    for (size_t i = 0; i < h->n_recipients; i++)
        s_cert_add(x, trust_find(t, h->recipients[i])); /* who it went to, for the reader */
    return ASYLINK_OK;
}

/* Builds the bundle from what was gathered, against trust t. */
static int s_build(asylink_client *c, const trust *t, s_export *x, uint8_t **zip, size_t *len)
{
    int rc = s_certs(c, t, x);
    if (rc != ASYLINK_OK)
        return rc;
    evidence_parts p = {.envelope = x->envelope,
                        .envelope_len = x->envelope_len,
                        .receipts = x->receipts,
                        .n_receipts = x->n_receipts,
                        .certs = x->certs,
                        .n_certs = x->n_certs,
                        .ca = trust_ca(t),
                        .crl = trust_crl(t),
                        .exporter = c->own,
                        .exporter_keys = c->keys,
                        .exported_ms = clock_now_ms()};
    return evidence_build(&p, zip, len);
}

int asylink_evidence_export(asylink_client *c, const uint8_t message_id[16], const char *path)
{
    if (!c || !*path)
        return ASYLINK_E_INVALID_ARG; /* message_id and path are ASYLINK_NONNULL */
    CLIENT_REFUSE_REENTRY();
    s_export x;
    memset(&x, 0, sizeof x);
    uint8_t *zip = NULL;
    size_t len = 0;
    int rc = s_sent_envelope(c, message_id, &x);
    if (rc == ASYLINK_OK && envelope_header_of(x.sent)->n_recipients == 0)
        rc = ASYLINK_E_BAD_FIELD; /* a feed message: no recipients, no receipts */
    if (rc == ASYLINK_OK)
        rc = s_receipts(c, message_id, &x);
    if (rc == ASYLINK_OK) {
        client_trust *hold = NULL;
        const trust *t = client_trust_get(c, &hold);
        rc = s_build(c, t, &x, &zip, &len);
        client_trust_put(c, hold);
    }
    if (rc == ASYLINK_OK)
        rc = file_write_atomic(path, zip, len, 0600, 1);
    char id[UUID_STR_LEN];
    uuid_format(message_id, id, sizeof id);
    if (rc == ASYLINK_OK)
        client_log(c, ASYLINK_LOG_INFO, "evidence exported", "message_id=%s receipts=%zu bytes=%zu",
                   id, x.n_receipts, len);
    else
        client_log(c, ASYLINK_LOG_WARN, "evidence not exported", "message_id=%s code=%s", id,
                   asylink_err_name(rc));
    if (zip)
        sodium_memzero(zip, len); /* it carries the disclosed content keys */
    free(zip);
    s_export_free(&x);
    return rc;
}
