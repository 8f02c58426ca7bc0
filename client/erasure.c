/*
 * erasure.c — what the client erases from its data directory: a message on
 * request (asylink_purge()) and, by retention, the metadata of finished
 * messages (client_retention_sweep(), run when the client opens and then
 * by the I/O thread). The bytes are cstore.h's (cstore_purge(),
 * cstore_retention_sweep()); this file adds the transactions
 * (cstore_write(), which retries after the map grew) and the log lines.
 */
#include "client_internal.h"

#include "uuid.h"

#include <string.h>

#define S_SWEEP_BATCH 1000 /* records examined per sweep transaction */

/* A purge's arguments and result, for cstore_write(). */
typedef struct {
    const uint8_t *id;
    bool outbox;
    const char *sender;
    cstore_purge_result res;
} s_purge_arg;

static int s_fill_purge(cstore_txn *t, void *arg)
{
    s_purge_arg *a = arg;
    return cstore_purge(t, a->id, a->outbox, a->sender, &a->res);
}

int asylink_purge(asylink_client *c, const uint8_t message_id[16], const char *sender,
                  size_t *n_purged)
{
    if (n_purged)
        *n_purged = 0;
    if (!c || (sender && !node_id_valid(sender)))
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    bool own = !sender || strcmp(sender, c->own->node_id) == 0;
    /* this node's own id as a sender: only the copy it sent (it never receives its own) */
    const char *from = sender && own ? c->own->node_id : sender;
    s_purge_arg pa = {.id = message_id, .outbox = own, .sender = from};
    (void)client_early_wait(c, message_id, 16, 1); /* a copy handed over early is stored first */
    /* Not between an acknowledgement's look-up and its commit (recv.c s_ack_run): that
       acknowledgement would owe a DELIVERED receipt for a message erased meanwhile. */
    pthread_mutex_lock(&c->ack_lock);
    int rc = cstore_write(c->store, s_fill_purge, &pa);
    pthread_mutex_unlock(&c->ack_lock);
    const cstore_purge_result res = pa.res;
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
    c->store_changes++;
    pthread_cond_broadcast(&c->cond); /* a waiter may have been waiting for what went */
    pthread_mutex_unlock(&c->lock);
    if (n_purged)
        *n_purged = res.erased;
    return ASYLINK_OK;
}

/* One sweep transaction's arguments and result, for cstore_write(). */
typedef struct {
    uint64_t cutoff_ms;
    cstore_sweep_stats st; /* this transaction's (repeated from zero on a retry) */
    bool more;             /* records are left to examine */
} s_sweep_arg;

static int s_fill_sweep(cstore_txn *t, void *arg)
{
    s_sweep_arg *a = arg;
    memset(&a->st, 0, sizeof a->st);
    return cstore_retention_sweep(t, a->cutoff_ms, S_SWEEP_BATCH, &a->st, &a->more);
}

void client_retention_sweep(asylink_client *c, uint64_t now_ms)
{
    if (!c->metadata_retention_ms || now_ms <= c->metadata_retention_ms)
        return; /* kept for ever, or nothing can be that old */
    uint64_t cutoff = now_ms - c->metadata_retention_ms;
    cstore_sweep_stats st = {0};
    s_sweep_arg a = {.cutoff_ms = cutoff, .more = true};
    int rc = ASYLINK_OK;
    for (size_t n = 0; a.more && rc == ASYLINK_OK && n < CLIENT_RETENTION_SWEEP_MAX;
         n += S_SWEEP_BATCH) {
        rc = cstore_write(c->store, s_fill_sweep, &a);
        if (rc == ASYLINK_OK) {
            st.outbox += a.st.outbox;
            st.receipts += a.st.receipts;
            st.evidence += a.st.evidence;
            st.inbox += a.st.inbox;
        }
    }
    if (rc != ASYLINK_OK)
        client_log(c, ASYLINK_LOG_ERROR, "retention sweep failed", "code=%s", asylink_err_name(rc));
    if (st.outbox || st.inbox)
        client_log(c, ASYLINK_LOG_INFO, "retention sweep",
                   "sent=%zu receipts=%zu receipt_envelopes=%zu received=%zu retention_days=%llu",
                   st.outbox, st.receipts, st.evidence, st.inbox,
                   (unsigned long long)(c->metadata_retention_ms / (24ull * 3600 * 1000)));
}
