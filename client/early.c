/*
 * early.c — messages handed over before their inbox commit is on disk, and
 * messages published before their outbox commit is (the second half of the
 * file).
 *
 * The I/O thread's committer (io.c) stores each verified delivery in its
 * batch's write transaction and, before committing it (an fsync), offers
 * the new entries here: asylink_recv() may hand them over at once, from memory,
 * instead of after the fsync. What the library promises does not change
 * (asylink.h): a message is handed over until it is acknowledged, never
 * after. The broker is acknowledged only after the commit, so a crash
 * before it loses nothing (the broker delivers again and the message is
 * handed over again, as after any crash); an acknowledgement of a message
 * handed over early waits for that commit (client_early_wait); a commit
 * that fails puts the cursor back, so the message is handed over again
 * once it is stored.
 *
 * One batch's entries at a time (the committer offers, commits, settles,
 * and only then applies the next batch; settled once the commit is visible,
 * as an acknowledgement rides a later commit, on disk after this one). Inbox sequence numbers
 * increase, and a turn's are above every committed one, so recv's cursor (the last inbox seq handed
 * over in this process) covers both sources: the store first, then these, each taken only above the
 * cursor.
 */
#include "client_internal.h"
#include "bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct client_early {
    client_early *next;
    uint64_t seq; /* inbox order, assigned in the uncommitted turn */
    uint8_t id[16];
    char sender[NODE_ID_MAX + 1];
    char sub[CSTORE_SUB_MAX + 1];
    uint64_t broker_seq, received_ms;
    uint8_t digest[64]; /* computed when verified */
    bool feed;
    size_t len;
    uint8_t envelope[];
};

int client_early_add(client_early_list *l, const cstore_in_key *key, uint64_t seq,
                     uint64_t broker_seq, uint64_t received_ms, const uint8_t *env, size_t len,
                     const uint8_t digest[64], bool feed)
{
    /* Once one entry is not offered, none after it is: recv's cursor must not pass it. */
    if (l->closed)
        return ASYLINK_E_TOO_LARGE;
    client_early *e = len <= CLIENT_EARLY_MAX_ENVELOPE && l->bytes + len <= CLIENT_EARLY_MAX_TURN
                          ? malloc(sizeof *e + len)
                          : NULL;
    if (!e) {
        l->closed = true; /* stored and handed over after the commit, as before */
        return len <= CLIENT_EARLY_MAX_ENVELOPE ? ASYLINK_E_NOMEM : ASYLINK_E_TOO_LARGE;
    }
    *e = (client_early){
        .seq = seq, .broker_seq = broker_seq, .received_ms = received_ms, .feed = feed, .len = len};
    memcpy(e->digest, digest, 64);
    memcpy(e->id, key->id, 16);
    bytes_str_copy(e->sender, sizeof e->sender, key->sender);
    bytes_str_copy(e->sub, sizeof e->sub, key->subscription ? key->subscription : "");
    memcpy(e->envelope, env, len);
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->bytes += len;
    return ASYLINK_OK;
}

void client_early_clear(client_early_list *l)
{
    while (l->head) {
        client_early *e = l->head;
        l->head = e->next;
        free(e);
    }
    l->tail = NULL;
    l->bytes = 0;
    l->closed = false;
}

void client_early_offer(asylink_client *c, client_early_list *l)
{
    if (!l->head) {
        l->closed = false; /* the next turn offers again */
        return;
    }
    pthread_mutex_lock(&c->lock);
    client_early_clear(&c->early); /* settled before: empty */
    c->early = *l;
    *l = (client_early_list){0};
    client_update_readable(c);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void client_early_settle(asylink_client *c, int rc)
{
    pthread_mutex_lock(&c->lock);
    if (c->early.head) {
        if (rc != ASYLINK_OK) {
            /* Not stored: its sequence numbers will name other entries, and what was
               handed over early comes again once stored. An acknowledgement of what was
               handed over that comes after this is told the commit's error too. */
            for (const client_early *e = c->early.head; e && e->seq <= c->recv_cursor;
                 e = e->next) {
                size_t slot = c->early_lost_n++ % CLIENT_EARLY_LOST;
                memcpy(c->early_lost[slot], e->id, 16);
                c->early_lost_rc[slot] = rc;
            }
            if (c->recv_cursor >= c->early.head->seq)
                c->recv_cursor = c->early.head->seq - 1;
        }
        c->early_rc[c->early_turn % CLIENT_EARLY_RESULTS] = rc; /* this turn's, for its waiters */
        client_early_clear(&c->early);
        c->early_turn++;
        client_update_readable(c);
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
}

/* The first offered entry above the cursor (lock held), or NULL. */
static const client_early *s_next(const asylink_client *c)
{
    for (const client_early *e = c->early.head; e; e = e->next)
        if (e->seq > c->recv_cursor)
            return e;
    return NULL;
}

bool client_early_ready(const asylink_client *c)
{
    return s_next(c) != NULL;
}

int client_early_take(asylink_client *c, cstore_in *out)
{
    const client_early *e = s_next(c);
    if (!e)
        return ASYLINK_E_NOT_FOUND;
    memset(out, 0, sizeof *out);
    out->envelope = malloc(e->len);
    if (!out->envelope)
        return ASYLINK_E_NOMEM;
    memcpy(out->envelope, e->envelope, e->len);
    out->envelope_len = e->len;
    out->seq = e->seq;
    memcpy(out->id, e->id, 16);
    out->state = CSTORE_IN_PENDING;
    bytes_str_copy(out->sender, sizeof out->sender, e->sender);
    bytes_str_copy(out->subscription, sizeof out->subscription, e->sub);
    out->broker_seq = e->broker_seq;
    out->received_ms = e->received_ms;
    c->recv_cursor = e->seq;
    client_handed *h = &c->last_taken;
    *h = (client_handed){.used = true, .feed = e->feed};
    memcpy(h->id, e->id, 16);
    memcpy(h->sender, e->sender, sizeof h->sender);
    memcpy(h->sub, e->sub, sizeof h->sub);
    memcpy(h->digest, e->digest, 64);
    return ASYLINK_OK;
}

static size_t s_slot(const uint8_t id[16])
{
    uint32_t x;
    memcpy(&x, id + 12, 4); /* a UUIDv7's random bits */
    return x & (CLIENT_HANDED_SLOTS - 1);
}

void client_handed_put(asylink_client *c, const client_handed *h)
{
    if (c->handed && h->used)
        c->handed[s_slot(h->id)] = *h;
}

bool client_handed_get(const asylink_client *c, const uint8_t id[16], const char *sender,
                       const char *sub, client_handed *out)
{
    if (!c->handed)
        return false;
    const client_handed *h = &c->handed[s_slot(id)];
    if (!h->used || memcmp(h->id, id, 16) != 0 || strcmp(h->sender, sender) != 0 ||
        strcmp(h->sub, sub ? sub : "") != 0)
        return false;
    *out = *h;
    return true;
}

static int s_id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/*
 * Whether the pending turn handed over an entry with one of the n ids
 * (lock held). sorted: the ids in order, 16 bytes each (NULL: compared one
 * by one, at ids every stride bytes). A turn may hold a thousand entries
 * and an acknowledgement a thousand ids: one binary search per entry.
 */
static bool s_handed_any(const asylink_client *c, const uint8_t (*sorted)[16], const uint8_t *ids,
                         size_t stride, size_t n)
{
    for (const client_early *e = c->early.head; e && e->seq <= c->recv_cursor; e = e->next) {
        if (sorted && bsearch(e->id, sorted, n, 16, s_id_cmp))
            return true;
        for (size_t i = 0; !sorted && i < n; i++)
            if (memcmp(e->id, ids + i * stride, 16) == 0)
                return true;
    }
    return false;
}

int client_early_wait(asylink_client *c, const uint8_t *ids, size_t stride, size_t n)
{
    /* Mostly nothing handed over is still being committed: no copy, no sort then. */
    pthread_mutex_lock(&c->lock);
    bool pending = c->early.head && c->early.head->seq <= c->recv_cursor;
    pthread_mutex_unlock(&c->lock);
    if (!pending)
        return ASYLINK_OK;
    uint8_t(*sorted)[16] = n > 8 ? malloc(n * 16) : NULL; /* (without it: one by one) */
    for (size_t i = 0; sorted && i < n; i++)
        memcpy(sorted[i], ids + i * stride, 16);
    if (sorted)
        qsort(sorted, n, 16, s_id_cmp);
    pthread_mutex_lock(&c->lock);
    uint64_t turn = c->early_turn; /* the pending turn's number once settled */
    bool waited = false;
    /* Only for a message of the pending turn that was handed over already: another turn's
       outcome says nothing of this acknowledgement's messages. */
    while (c->early.head && c->early.head->seq <= c->recv_cursor && c->early_turn == turn &&
           s_handed_any(c, (const uint8_t(*)[16])sorted, ids, stride, n) &&
           !atomic_load(&c->stop)) {
        pthread_cond_wait(&c->cond, &c->lock);
        waited = true;
    }
    /* That turn's own outcome, kept for the last CLIENT_EARLY_RESULTS turns: a waiter waking
       after more turns settled (never seen) cannot tell, and says IO (acknowledge again). */
    int rc = !waited || c->early_turn == turn ? ASYLINK_OK
             : c->early_turn - turn <= CLIENT_EARLY_RESULTS
                 ? c->early_rc[turn % CLIENT_EARLY_RESULTS]
                 : ASYLINK_E_IO;
    pthread_mutex_unlock(&c->lock);
    free(sorted);
    return rc;
}

int client_early_lost(asylink_client *c, const uint8_t id[16])
{
    int rc = ASYLINK_OK;
    pthread_mutex_lock(&c->lock);
    size_t n = c->early_lost_n < CLIENT_EARLY_LOST ? (size_t)c->early_lost_n : CLIENT_EARLY_LOST;
    for (size_t i = 0; i < n && rc == ASYLINK_OK; i++)
        if (memcmp(c->early_lost[i], id, 16) == 0)
            rc = c->early_lost_rc[i];
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* ---- outbox entries published before their commit is on disk ----
 *
 * The committer applies a sender's write (send.c: the group commit) in its
 * batch's transaction; each new outbox entry is noted
 * here with a copy of its envelope (not the receipt sets recv.c seals: a
 * failed commit leaves their receipts owed, sealed again into sets of
 * other ids), and before the commit (an fsync) the
 * batch's entries go to the I/O thread, which publishes them at once
 * instead of after the commit (io.c, s_early_publish). The broker's
 * Accepted answer is recorded by a later commit, as always; a receipt for
 * an entry whose commit is not visible yet waits for it
 * (client_early_out_pending). What a crash before the commit leaves: the
 * broker may hold a message the outbox does not, and asylink_send() had not
 * returned; what a failed commit leaves: the writer tries once more on its
 * own (client_io_write), and if that fails too asylink_send() returns the
 * error while the message may have reached the broker (asylink.h,
 * DESIGN-CHANGES 43). Only the entry right after the pump's cursor goes out
 * early (s_early_publish), so the outbox order holds.
 */

/* The committer's list while it applies writes (NULL on every other thread). */
static _Thread_local client_early_out_list *s_collecting;
static _Thread_local bool s_collect_closed; /* an entry was left out: no later one goes */

void client_early_out_collect(client_early_out_list *l)
{
    s_collecting = l;
    s_collect_closed = false;
}

void client_early_out_note(uint64_t seq, const uint8_t id[16], const uint8_t *env, size_t len)
{
    client_early_out_list *l = s_collecting;
    if (!l || s_collect_closed)
        return;
    client_early_out *e = l->n < CLIENT_EARLY_OUT_MAX && len <= CLIENT_EARLY_OUT_BYTES &&
                                  l->bytes + len <= CLIENT_EARLY_OUT_BYTES && env && len
                              ? malloc(sizeof *e + len)
                              : NULL;
    if (!e) {
        /* Published in seq order only: once one waits for the commit, the rest does too. */
        s_collect_closed = true;
        return;
    }
    *e = (client_early_out){.seq = seq, .len = len};
    memcpy(e->id, id, 16);
    memcpy(e->envelope, env, len);
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->n++;
    l->bytes += len;
}

/* Moves from's entries to the end of to. */
static void s_out_append(client_early_out_list *to, client_early_out_list *from)
{
    if (!from->head)
        return;
    if (to->tail)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    to->n += from->n;
    to->bytes += from->bytes;
    *from = (client_early_out_list){0};
}

void client_early_out_truncate(client_early_out_list *l, const client_early_out_list *mark)
{
    client_early_out *e = mark->tail ? mark->tail->next : l->head;
    while (e) {
        client_early_out *next = e->next;
        free(e);
        e = next;
    }
    *l = *mark;
    if (l->tail)
        l->tail->next = NULL;
    else
        l->head = NULL;
}

void client_early_out_clear(client_early_out_list *l)
{
    while (l->head) {
        client_early_out *e = l->head;
        l->head = e->next;
        free(e);
    }
    *l = (client_early_out_list){0};
}

void client_early_out_offer(asylink_client *c, client_early_out_list *l)
{
    if (!l->head)
        return;
    pthread_mutex_lock(&c->lock);
    s_out_append(&c->early_out, l);
    c->early_out_committing = true;
    pthread_mutex_unlock(&c->lock);
}

void client_early_out_settle(asylink_client *c, int rc)
{
    pthread_mutex_lock(&c->lock);
    if (c->early_out_committing && rc != ASYLINK_OK) {
        client_early_out_clear(&c->early_out); /* not taken yet: not to be published now */
        c->early_out_failed = true;
    }
    if (c->early_out_committing)
        c->early_out_settled++;
    c->early_out_committing = false;
    pthread_mutex_unlock(&c->lock);
}

void client_early_out_take(asylink_client *c, client_early_out_list *l, bool *failed)
{
    pthread_mutex_lock(&c->lock);
    *l = c->early_out;
    c->early_out = (client_early_out_list){0};
    *failed = c->early_out_failed;
    c->early_out_failed = false;
    pthread_mutex_unlock(&c->lock);
}

bool client_early_out_failed(asylink_client *c)
{
    pthread_mutex_lock(&c->lock);
    bool failed = c->early_out_failed;
    pthread_mutex_unlock(&c->lock);
    return failed;
}

bool client_early_out_pending(asylink_client *c, uint64_t *settled)
{
    pthread_mutex_lock(&c->lock);
    bool pending = c->early_out_committing;
    *settled = c->early_out_settled;
    pthread_mutex_unlock(&c->lock);
    return pending;
}
