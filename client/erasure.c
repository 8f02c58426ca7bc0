/*
 * erasure.c — what the client erases from its data directory: a message on
 * request (asylink_purge()) and, by retention, the metadata of finished
 * messages (client_retention_sweep(), run when the client opens and then
 * by the I/O thread). The bytes are cstore.h's (cstore_purge(),
 * cstore_retention_sweep()); this file adds the transactions, the retries
 * after the map grew, and the log lines.
 */
#include "client_internal.h"

#include "clock.h"
#include "uuid.h"

#include <string.h>

#define S_TRIES 8          /* a transaction that fills the map is tried again (the map grows) */
#define S_SWEEP_BATCH 1000 /* records examined per sweep transaction */

/* One purge transaction; ASYLINK_OK with *res filled. */
static int s_purge_txn(asylink_client *c, const uint8_t *id, bool outbox, const char *sender,
                       cstore_purge_result *res)
{
    for (int attempt = 0; attempt < S_TRIES; attempt++) {
        cstore_txn *t = NULL;
        int rc = cstore_begin(c->store, &t);
        if (rc == ASYLINK_OK)
            rc = cstore_purge(t, id, outbox, sender, res);
        if (rc != ASYLINK_OK) {
            cstore_abort(&t);
            if (rc == ASYLINK_E_STORE_FULL)
                continue;
            return rc;
        }
        rc = cstore_commit(&t);
        if (rc != ASYLINK_E_STORE_FULL)
            return rc;
    }
    return ASYLINK_E_STORE_FULL;
}

int asylink_purge(asylink_client *c, const uint8_t message_id[16], const char *sender,
                  size_t *n_purged)
{
    if (n_purged)
        *n_purged = 0;
    if (!c || (sender && !node_id_valid(sender)))
        return ASYLINK_E_INVALID_ARG;
    bool own = !sender || strcmp(sender, c->own->node_id) == 0;
    /* this node's own id as a sender: only the copy it sent (it never receives its own) */
    const char *from = sender && own ? c->own->node_id : sender;
    cstore_purge_result res = {0, 0};
    int rc = s_purge_txn(c, message_id, own, from, &res);
    char id[UUID_STR_LEN];
    uuid_format(message_id, id, sizeof id);
    if (rc != ASYLINK_OK) {
        client_log(c, ASYLINK_LOG_ERROR, "purge failed", "id=%s code=%s", id, asylink_err_name(rc));
        return rc;
    }
    if (res.found == 0)
        return ASYLINK_E_NOT_FOUND;
    client_log(c, ASYLINK_LOG_INFO, "message purged on this node",
               "id=%s sender=%s copies=%zu erased=%zu", id, sender ? sender : "*", res.found,
               res.erased);
    pthread_mutex_lock(&c->lock);
    pthread_cond_broadcast(&c->cond); /* a waiter may have been waiting for what went */
    pthread_mutex_unlock(&c->lock);
    if (n_purged)
        *n_purged = res.erased;
    return ASYLINK_OK;
}

/* One sweep transaction; *more: records are left to examine. */
static int s_sweep_txn(asylink_client *c, uint64_t cutoff_ms, cstore_sweep_stats *st, bool *more)
{
    for (int attempt = 0; attempt < S_TRIES; attempt++) {
        cstore_sweep_stats got = {0};
        cstore_txn *t = NULL;
        int rc = cstore_begin(c->store, &t);
        if (rc == ASYLINK_OK)
            rc = cstore_retention_sweep(t, cutoff_ms, S_SWEEP_BATCH, &got, more);
        if (rc == ASYLINK_OK)
            rc = cstore_commit(&t);
        else
            cstore_abort(&t);
        if (rc == ASYLINK_OK) {
            st->outbox += got.outbox;
            st->receipts += got.receipts;
            st->evidence += got.evidence;
            st->inbox += got.inbox;
        }
        if (rc != ASYLINK_E_STORE_FULL)
            return rc;
    }
    return ASYLINK_E_STORE_FULL;
}

void client_retention_sweep(asylink_client *c, uint64_t now_ms)
{
    if (!c->metadata_retention_ms || now_ms <= c->metadata_retention_ms)
        return; /* kept for ever, or nothing can be that old */
    uint64_t cutoff = now_ms - c->metadata_retention_ms;
    cstore_sweep_stats st = {0};
    bool more = true;
    int rc = ASYLINK_OK;
    for (size_t n = 0; more && rc == ASYLINK_OK && n < CLIENT_RETENTION_SWEEP_MAX;
         n += S_SWEEP_BATCH)
        rc = s_sweep_txn(c, cutoff, &st, &more);
    if (rc != ASYLINK_OK)
        client_log(c, ASYLINK_LOG_ERROR, "retention sweep failed", "code=%s", asylink_err_name(rc));
    if (st.outbox || st.inbox)
        client_log(c, ASYLINK_LOG_INFO, "retention sweep",
                   "sent=%zu receipts=%zu receipt_envelopes=%zu received=%zu retention_days=%llu",
                   st.outbox, st.receipts, st.evidence, st.inbox,
                   (unsigned long long)(c->metadata_retention_ms / (24ull * 3600 * 1000)));
}
