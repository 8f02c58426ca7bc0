/*
 * send.c — sealing and the durable outbox: asylink_send() returns only
 * after the envelope is committed, and concurrent senders share commits
 * (the first waiting sender commits everything queued so far).
 *
 * Senders seal in their own threads but do not sign: the committer signs
 * everything its commit holds at once, as batches of up to BATCH_MAX under
 * one signature (PROTOCOL.md 4.10), just before the commit. One call's
 * messages always share a root; a commit of one message signs it alone.
 */
#include "client_internal.h"

#include "batch.h"
#include "clock.h"

#include <stdlib.h>
#include <string.h>

void asylink_send_params_init(asylink_send_params *p)
{
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->classification = ASYLINK_LIMITED;
}

/* Certificates of the recipients, usable now (valid while t is held). */
static int s_readers(const trust *t, const asylink_send_params *p, const cert **readers)
{
    uint64_t now = clock_now_ms();
    for (size_t i = 0; i < p->n_recipients; i++) {
        if (!p->recipients[i] || !node_id_valid(p->recipients[i]))
            return ASYLINK_E_BAD_NODE_ID;
        int rc = trust_lookup(t, p->recipients[i], now, ASYLINK_E_UNKNOWN_RECIPIENT, &readers[i]);
        if (rc != ASYLINK_OK)
            return rc;
    }
    return ASYLINK_OK;
}

int client_seal(asylink_client *c, const asylink_send_params *p, const void *payload, size_t len,
                envelope_draft **out, uint8_t id[16], uint8_t digest[64])
{
    const cert *readers[ENVELOPE_MAX_RECIPIENTS];
    if (p->n_recipients == 0 || !p->recipients)
        return ASYLINK_E_INVALID_ARG;
    if (p->n_recipients > ENVELOPE_MAX_RECIPIENTS)
        return ASYLINK_E_TOO_LARGE;
    client_trust *hold = NULL;
    int rc = s_readers(client_trust_get(c, &hold), p, readers);
    if (rc != ASYLINK_OK) {
        client_trust_put(c, hold);
        return rc;
    }
    envelope_params ep = {.recipients = p->recipients,
                          .n_recipients = p->n_recipients,
                          .readers = readers,
                          .n_readers = p->n_recipients,
                          .content_type = p->content_type,
                          .classification = (int)p->classification,
                          .expires_ms = p->expires_ms,
                          .correlation_id = p->correlation_id,
                          .digest_out = digest};
    pthread_mutex_lock(&c->seal_lock);
    rc = envelope_seal_draft(c->sealer, &ep, payload, len, out, id);
    pthread_mutex_unlock(&c->seal_lock);
    client_trust_put(c, hold);
    return rc;
}

int client_sign(asylink_client *c, envelope_draft *const *drafts, size_t n)
{
    pthread_mutex_lock(&c->seal_lock);
    int rc = envelope_sign(c->sealer, drafts, n);
    pthread_mutex_unlock(&c->seal_lock);
    return rc;
}

/*
 * Signs the drafts of every queued sender, as few batches as possible
 * without splitting a sender's items, and points each item at its signed
 * envelope (lock not held).
 */
static int s_sign_batch(asylink_client *c, client_commit *batch)
{
    envelope_draft *chunk[BATCH_MAX];
    size_t n = 0;
    int rc = ASYLINK_OK;
    for (client_commit *q = batch; rc == ASYLINK_OK && q; q = q->next) {
        if (n + q->n_items > BATCH_MAX) {
            rc = client_sign(c, chunk, n);
            n = 0;
        }
        for (size_t i = 0; i < q->n_items; i++)
            chunk[n++] = q->drafts[i];
    }
    if (rc == ASYLINK_OK && n > 0)
        rc = client_sign(c, chunk, n);
    for (client_commit *q = batch; rc == ASYLINK_OK && q; q = q->next)
        for (size_t i = 0; i < q->n_items; i++)
            q->items[i].envelope = envelope_draft_bytes(q->drafts[i], &q->items[i].envelope_len);
    return rc;
}

/* cstore_write's operations: every queued sender's items. */
static int s_fill_batch(cstore_txn *t, void *arg)
{
    int rc = ASYLINK_OK;
    for (client_commit *q = arg; rc == ASYLINK_OK && q; q = q->next)
        for (size_t i = 0; rc == ASYLINK_OK && i < q->n_items; i++)
            rc = cstore_outbox_add(t, &q->items[i]);
    return rc;
}

/* Commits every queued sender's item in one transaction (lock not held). */
static int s_commit_batch(asylink_client *c, client_commit *batch)
{
    return cstore_write(c->store, s_fill_batch, batch);
}

int client_outbox_commit(asylink_client *c, cstore_out_new *items, envelope_draft *const *drafts,
                         size_t n)
{
    if (n > BATCH_MAX)
        return ASYLINK_E_TOO_LARGE; /* one call's messages share one root */
    client_commit me = {.items = items, .drafts = drafts, .n_items = n};
    pthread_mutex_lock(&c->lock);
    me.next = c->commits;
    c->commits = &me;
    while (!me.done) {
        if (c->committing) {
            pthread_cond_wait(&c->cond, &c->lock);
            continue;
        }
        client_commit *batch = c->commits;
        c->commits = NULL;
        c->committing = true;
        pthread_mutex_unlock(&c->lock);
        int rc = s_sign_batch(c, batch);
        if (rc == ASYLINK_OK)
            rc = s_commit_batch(c, batch);
        pthread_mutex_lock(&c->lock);
        for (client_commit *q = batch; q;) {
            client_commit *next = q->next;
            q->rc = rc;
            q->done = true;
            q = next;
        }
        c->committing = false;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    if (me.rc == ASYLINK_OK)
        client_wake_io(c);
    return me.rc;
}

/*
 * Seals one message into *draft and describes it in *item (its envelope
 * comes when the committer signs); id and digest are item's storage.
 */
static int s_seal_one(asylink_client *c, const asylink_send_params *p, const void *payload,
                      size_t len, cstore_out_new *item, envelope_draft **draft, uint8_t id[16],
                      uint8_t digest[64])
{
    if (!p || p->struct_size < sizeof *p || (!payload && len))
        return ASYLINK_E_INVALID_ARG;
    int rc = client_seal(c, p, payload, len, draft, id, digest);
    if (rc != ASYLINK_OK)
        return rc;
    *item = (cstore_out_new){.id = id,
                             .recipients = p->recipients,
                             .n_recipients = p->n_recipients,
                             .digest = digest,
                             .created_ms = clock_now_ms()};
    return ASYLINK_OK;
}

int asylink_send(asylink_client *c, const asylink_send_params *p, const void *payload, size_t len,
                 uint8_t message_id_out[16])
{
    if (!c || p->struct_size < sizeof *p || (!payload && len))
        return ASYLINK_E_INVALID_ARG;
    if (atomic_load(&c->stop))
        return ASYLINK_E_SHUTDOWN;
    uint8_t id[16], digest[64];
    cstore_out_new item;
    envelope_draft *draft = NULL;
    int rc = s_seal_one(c, p, payload, len, &item, &draft, id, digest);
    if (rc != ASYLINK_OK)
        return rc;
    rc = client_outbox_commit(c, &item, &draft, 1);
    envelope_draft_destroy(&draft);
    if (rc == ASYLINK_OK && message_id_out)
        memcpy(message_id_out, id, 16);
    return rc;
}

/* Sets every item's result to rc and returns it (a failure before sealing). */
static int s_all_failed(const client_many *m, int rc)
{
    for (size_t i = 0; m->items && i < m->n; i++)
        *m->result(m->items, i) = rc;
    return rc;
}

int client_seal_many(asylink_client *c, const client_many *m)
{
    size_t n = m->n;
    if (!c || (!m->items && n))
        return s_all_failed(m, ASYLINK_E_INVALID_ARG);
    if (n > ASYLINK_SEND_MAX)
        return s_all_failed(m, ASYLINK_E_TOO_LARGE);
    if (atomic_load(&c->stop))
        return s_all_failed(m, ASYLINK_E_SHUTDOWN);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (m->len(m->items, i) > ASYLINK_SEND_MANY_MAX_BYTES - total)
            return s_all_failed(m, ASYLINK_E_TOO_LARGE); /* bounded memory per call */
        total += m->len(m->items, i);
    }
    if (n == 0)
        return ASYLINK_OK;
    cstore_out_new *outs = calloc(n, sizeof *outs);
    envelope_draft **drafts = calloc(n, sizeof *drafts);
    uint8_t(*digests)[64] = calloc(n, sizeof *digests);
    int rc = outs && drafts && digests ? ASYLINK_OK : s_all_failed(m, ASYLINK_E_NOMEM);
    int first = ASYLINK_OK;
    for (size_t i = 0; rc == ASYLINK_OK && i < n; i++) {
        int *res = m->result(m->items, i);
        *res = m->seal(c, m->items, i, &outs[i], &drafts[i], digests[i]);
        if (*res != ASYLINK_OK && first == ASYLINK_OK)
            first = *res; /* seal the rest too: report every item's fate */
    }
    if (rc == ASYLINK_OK)
        rc = first != ASYLINK_OK ? first : client_outbox_commit(c, outs, drafts, n);
    for (size_t i = 0; outs && i < n; i++) {
        envelope_draft_destroy(&drafts[i]);
        if (rc != ASYLINK_OK && first == ASYLINK_OK)
            *m->result(m->items, i) = rc; /* the commit failed: none of them is sent */
    }
    free(outs);
    free(drafts);
    free(digests);
    return rc;
}

static size_t s_send_len(const void *items, size_t i)
{
    return ((const asylink_send_item *)items)[i].len;
}

static int *s_send_result(void *items, size_t i)
{
    return &((asylink_send_item *)items)[i].result;
}

static int s_send_seal(asylink_client *c, void *items, size_t i, cstore_out_new *out,
                       envelope_draft **draft, uint8_t digest[64])
{
    asylink_send_item *it = &((asylink_send_item *)items)[i];
    return s_seal_one(c, it->params, it->payload, it->len, out, draft, it->message_id, digest);
}

int asylink_send_many(asylink_client *c, asylink_send_item *items, size_t n)
{
    client_many m = {items, n, s_send_len, s_send_result, s_send_seal};
    return client_seal_many(c, &m);
}
