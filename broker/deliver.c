/*
 * deliver.c — delivery to a session within its credit: the direct queue
 * first, then each open subscription's feed, round robin; Ack / Nack of
 * both (a direct Nack is retried after a backoff or dead-lettered, a feed
 * Nack is only retried); ending a session.
 */
#include "router_internal.h"

#include "asylink/errors.h"
#include "log.h"
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Outcome of a delivery pass (S_DLV_WAIT: the direct queue's next entry waits for bytes). */
enum { S_DLV_MORE = 0, S_DLV_STOP, S_DLV_GONE, S_DLV_MISSING, S_DLV_WAIT };

/*
 * Ends a session. Its unacknowledged deliveries count as a failed attempt
 * each (redelivered at once in the next session; dead-lettered after
 * max_deliveries), unless the broker itself is the reason (shutdown).
 */
void deliver_session_end(router *r, session *s, const char *why)
{
    LOG_INFO("router", "session closed", "node=%s reason=%s in_flight=%zu", s->node_id, LOG_Q(why),
             s->n_inflight);
    notes_session(r, AUDIT_DISCONNECTED, s, why);
    out_flush(r, s); /* its answers still reach a connection that stays (a new Hello) */
    for (size_t i = 0; !r->draining && i < s->n_inflight; i++)
        store_batch_retry(r->batch, s->node_id, s->inflight[i], r->now_ms, r->opt.max_deliveries,
                          ASYLINK_E_UNAVAILABLE,
                          "session ended before the delivery was acknowledged");
    r->stats.sessions_closed++;
    session_close(&r->sessions, s);
}

/* Deliveries in flight, direct and feed, against the message window. */
bool deliver_window_open(const session *s)
{
    return !s->blocked && !s->gone && s->n_inflight + s->feed_inflight < s->credit_messages;
}

/* Whether len more bytes fit the byte window (one envelope always fits an empty window). */
static bool s_bytes_fit(const session *s, uint64_t len)
{
    uint64_t used = s->inflight_bytes + s->feed_inflight_bytes;
    return !s->credit_bytes || s->n_inflight + s->feed_inflight == 0 ||
           used + len <= s->credit_bytes;
}

/*
 * Sends Deliver c with env (len bytes, taken) to s. S_DLV_MORE if sent;
 * S_DLV_GONE if the peer is gone (s is marked, and ended in the timer turn:
 * deliveries run deep inside other work, a Hello's or a Subscribe's commit
 * among them, whose callers go on using s); S_DLV_STOP if it cannot take
 * more now (s is blocked until the next timer turn).
 */
static int s_send_deliver(router *r, session *s, const wire_cmd *c, uint8_t *env, size_t len)
{
    if (out_envelope(r, s, c, env, len) == 0)
        return S_DLV_MORE;
    if (errno == EHOSTUNREACH) {
        s->gone = true;
        return S_DLV_GONE;
    }
    s->blocked = true;
    return S_DLV_STOP;
}

/*
 * Delivers from s's direct queue while its credit allows. S_DLV_WAIT when
 * the next entry due does not fit the byte window beside what is in flight.
 */
static int s_deliver_direct(router *r, session *s)
{
    while (deliver_window_open(s)) {
        store_entry e;
        if (store_queue_next(r->store, s->node_id, s->cursor, &e) != ASYLINK_OK)
            return S_DLV_MORE;
        if (session_inflight_has(s, e.seq) || session_settled_take(s, e.seq)) {
            s->cursor = e.seq; /* in flight, or settled with its commit perhaps to come */
            continue;
        }
        if (e.next_attempt_ms > r->now_ms) {
            if (s->retry_at_ms == 0 || e.next_attempt_ms < s->retry_at_ms)
                s->retry_at_ms = e.next_attempt_ms;
            s->cursor = e.seq;
            continue;
        }
        if (!s_bytes_fit(s, e.envelope_len))
            return S_DLV_WAIT;
        uint8_t *env = NULL;
        size_t len = 0;
        int got = store_message_get_room(r->store, e.seq, OUT_FRAME_ROOM, &env, &len);
        if (got == ASYLINK_E_NOT_FOUND) {
            s->cursor = e.seq; /* swept meanwhile */
            continue;
        }
        if (got != ASYLINK_OK)
            return S_DLV_STOP; /* no memory for it now: the next turn tries again */
        wire_cmd c = {.kind = WIRE_DELIVER};
        c.u.deliver.sequence = e.seq;
        c.u.deliver.attempt = e.attempts + 1;
        c.u.deliver.accepted_ms = e.accepted_ms;
        int rc = s_send_deliver(r, s, &c, env, len);
        if (rc != S_DLV_MORE)
            return rc;
        s->cursor = e.seq;
        notes_delivered(r, s, e.seq, e.attempts + 1, e.message_id, e.sender, len, NULL, NULL);
        if (session_inflight_add(s, e.seq, len) != 0)
            return S_DLV_STOP;
        s->delivered++;
        r->stats.delivered++;
        if (e.attempts > 0)
            r->stats.redelivered++;
    }
    return S_DLV_STOP;
}

/* Writes sub's cursor to this turn's batch when it has moved on. */
static void s_sub_sync(router *r, session *s, session_sub *sub)
{
    uint64_t done = session_sub_done(sub);
    if (done <= sub->cursor)
        return;
    if (store_batch_sub_cursor(r->batch, s->node_id, sub->name, done) >= 0)
        sub->cursor = done;
}

/* Sends one feed delivery of sub (attempt n). S_DLV_MORE if sent, or why not. */
static int s_feed_send(router *r, session *s, session_sub *sub, const store_feed_entry *e,
                       uint32_t attempt)
{
    uint8_t *env = NULL;
    size_t len = 0;
    int got = store_message_get_room(r->store, e->seq, OUT_FRAME_ROOM, &env, &len);
    if (got == ASYLINK_E_NOT_FOUND)
        return S_DLV_MISSING; /* expired and swept meanwhile: the caller skips it */
    if (got != ASYLINK_OK)
        return S_DLV_STOP; /* no memory for it now: not skipped, the next turn tries again */
    wire_cmd c = {.kind = WIRE_DELIVER};
    c.u.deliver.sequence = e->seq;
    c.u.deliver.attempt = attempt;
    c.u.deliver.accepted_ms = e->accepted_ms;
    snprintf(c.u.deliver.subscription, sizeof c.u.deliver.subscription, "%s", sub->name);
    snprintf(c.u.deliver.topic, sizeof c.u.deliver.topic, "%s", e->topic);
    int rc = s_send_deliver(r, s, &c, env, len);
    if (rc != S_DLV_MORE)
        return rc;
    notes_delivered(r, s, e->seq, attempt, e->message_id, e->sender, len, sub->name, e->topic);
    s->delivered++;
    r->stats.delivered++;
    if (attempt > 1)
        r->stats.redelivered++;
    return S_DLV_MORE;
}

/* Redelivers sub's Nacked items that are due. */
static int s_feed_retry(router *r, session *s, session_sub *sub)
{
    for (size_t i = 0; i < sub->n_items && deliver_window_open(s); i++) {
        session_feed_item *it = &sub->items[i];
        if (it->retry_at_ms == 0 || it->retry_at_ms > r->now_ms)
            continue;
        store_feed_entry e;
        int rc = store_feed_next(r->store, it->seq - 1, sub->prefix, &e);
        if (rc != ASYLINK_OK && rc != ASYLINK_E_NOT_FOUND)
            return S_DLV_STOP; /* the store could not be read now: kept for the next turn */
        if (rc != ASYLINK_OK || e.seq != it->seq ||
            !policy_may_read(view_policy(r->view), s->roles, e.topic)) {
            it->retry_at_ms = 0; /* gone (expired) or no longer readable: done with it */
            s->feed_inflight++;
            s->feed_inflight_bytes += it->len;
            session_sub_item_remove(s, sub, i--);
            continue;
        }
        if (!s_bytes_fit(s, e.envelope_len))
            return S_DLV_STOP;
        rc = s_feed_send(r, s, sub, &e, it->attempts + 1);
        if (rc == S_DLV_GONE || rc == S_DLV_STOP)
            return rc;
        if (rc == S_DLV_MISSING) {
            it->retry_at_ms = 0;
            s->feed_inflight++;
            s->feed_inflight_bytes += it->len;
            session_sub_item_remove(s, sub, i--);
            continue;
        }
        it->attempts++;
        it->retry_at_ms = 0;
        it->len = e.envelope_len;
        s->feed_inflight++;
        s->feed_inflight_bytes += it->len;
    }
    return S_DLV_MORE;
}

/* Delivers new feed entries of sub while the credit allows. */
static int s_feed_scan(router *r, session *s, session_sub *sub)
{
    while (deliver_window_open(s)) {
        store_feed_entry e;
        int rc = store_feed_next(r->store, sub->scan, sub->prefix, &e);
        if (rc == ASYLINK_E_NOT_FOUND) { /* nothing more matches: skip to the head */
            uint64_t head = 0;
            if (store_feed_head(r->store, NULL, &head) == ASYLINK_OK && head > sub->scan)
                sub->scan = head;
            return S_DLV_MORE;
        }
        if (rc != ASYLINK_OK)
            return S_DLV_STOP;
        if (session_sub_item(sub, e.seq) >= 0) {
            sub->scan = e.seq;
            continue;
        }
        if (!policy_may_read(view_policy(r->view), s->roles, e.topic)) {
            sub->scan = e.seq; /* not readable by this node: skipped, counts as done */
            continue;
        }
        if (!s_bytes_fit(s, e.envelope_len))
            return S_DLV_STOP;
        rc = s_feed_send(r, s, sub, &e, 1);
        if (rc == S_DLV_GONE || rc == S_DLV_STOP)
            return rc;
        if (rc == S_DLV_MISSING) { /* the message is gone: skip it */
            sub->scan = e.seq;
            continue;
        }
        sub->scan = e.seq;
        if (session_sub_item_add(s, sub, e.seq, e.envelope_len) != 0)
            return S_DLV_STOP;
    }
    return S_DLV_STOP;
}

/* Delivers feed entries of every open subscription, round robin. */
static int s_deliver_feeds(router *r, session *s)
{
    size_t n = s->n_subs;
    size_t start = n ? s->sub_rr++ % n : 0;
    for (size_t k = 0; k < n && deliver_window_open(s); k++) {
        session_sub *sub = s->subs[(start + k) % n];
        int rc = s_feed_retry(r, s, sub);
        if (rc == S_DLV_MORE)
            rc = s_feed_scan(r, s, sub);
        if (rc == S_DLV_GONE)
            return rc;
        s_sub_sync(r, s, sub);
    }
    return S_DLV_MORE;
}

/*
 * Delivers what s may get: its direct queue first, then its feeds. While
 * the direct queue's next entry does not fit the byte window, the feeds
 * take no new bytes either: what is in flight drains (at the latest to an
 * empty window, which takes one envelope of any size) and the direct
 * message goes first, instead of waiting behind feed deliveries that keep
 * refilling the window.
 */
void deliver_session(router *r, session *s)
{
    int rc = s_deliver_direct(r, s);
    if (rc == S_DLV_GONE || rc == S_DLV_WAIT)
        return;
    s_deliver_feeds(r, s);
}

void deliver_node(router *r, const char *node_id)
{
    session *s = session_by_node(&r->sessions, node_id);
    if (s && deliver_window_open(s))
        deliver_session(r, s);
}

/* A Nack's redelivery schedule from now (store_backoff). */
static store_backoff s_backoff(const router *r, uint32_t retry_after_ms)
{
    return (store_backoff){.since_ms = r->now_ms,
                           .base_ms = r->opt.backoff_ms,
                           .max_ms = r->opt.backoff_max_ms,
                           .min_ms = retry_after_ms};
}

/*
 * Notes the batch's operation index (< 0: it could not be added) of a
 * direct Ack or Nack, counted by publish.c once the commit says it took
 * effect. Without memory for the note it goes uncounted.
 */
static void s_settle_note(router *r, int index, bool nack)
{
    if (index < 0)
        return;
    router_batch_refs *b = &r->refs;
    if (b->n_settles == b->cap_settles) {
        size_t cap = b->cap_settles ? 2 * b->cap_settles : 256;
        router_settle *a = realloc(b->settles, cap * sizeof *a);
        if (!a)
            return;
        b->settles = a;
        b->cap_settles = cap;
    }
    b->settles[b->n_settles].index = index;
    b->settles[b->n_settles].nack = nack;
    b->n_settles++;
}

static void s_on_nack_one(router *r, session *s, const wire_acks *a, uint64_t seq)
{
    if (a->disposition == WIRE_NACK_DEAD_LETTER) {
        s_settle_note(r, store_batch_dead_letter(r->batch, s->node_id, seq, a->code, a->reason),
                      true);
        return;
    }
    /* The commit counts the attempt and takes its step of the schedule (a refusal of seq
       before it may be waiting for its own commit); the rescan is set from the count stored
       now, so never later than that (an early one finds it not due and waits on). */
    store_backoff bo = s_backoff(r, a->retry_after_ms);
    store_entry e = {0};
    uint32_t attempts = 1;
    if (seq > 0 && store_queue_next(r->store, s->node_id, seq - 1, &e) == ASYLINK_OK &&
        e.seq == seq)
        attempts = e.attempts + 1;
    uint64_t at = r->now_ms + store_backoff_delay(&bo, attempts);
    s_settle_note(r,
                  store_batch_retry_backoff(r->batch, s->node_id, seq, &bo, r->opt.max_deliveries,
                                            a->code, a->reason),
                  true);
    if (s->retry_at_ms == 0 || at < s->retry_at_ms)
        s->retry_at_ms = at;
}

/*
 * Ack / Nack of feed deliveries. Ack: the item is done and the cursor moves
 * on past everything contiguously done. Nack (either disposition): the item
 * is delivered again after a backoff; feeds have no dead letters. Only
 * what happens counts (acked / nacked) and is noted for the audit trail:
 * an Ack of an item of the session, a Nack of one in flight (not of one
 * already waiting for its backoff).
 */
static void s_on_feed_acks(router *r, session *s, const wire_cmd *c)
{
    const wire_acks *a = &c->u.ack;
    session_sub *sub = session_sub_find(s, a->subscription);
    if (!sub) {
        out_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_NOT_FOUND,
                  "no such subscription open in this session", false);
        return;
    }
    for (size_t i = 0; i < a->n_sequences; i++) {
        long k = session_sub_item(sub, a->sequences[i]);
        if (k < 0)
            continue; /* unknown or already acknowledged */
        if (c->kind == WIRE_ACK) {
            session_sub_item_remove(s, sub, (size_t)k);
            r->stats.acked++;
            notes_feed_ack(r, s, AUDIT_ACKED, sub->name, a->sequences[i], 0, NULL);
            continue;
        }
        session_feed_item *it = &sub->items[k];
        if (it->retry_at_ms != 0)
            continue; /* already waiting: no delivery to release, nothing happens */
        r->stats.nacked++;
        notes_feed_ack(r, s, AUDIT_NACKED, sub->name, a->sequences[i], a->code, a->reason);
        store_backoff bo = s_backoff(r, a->retry_after_ms);
        it->retry_at_ms = r->now_ms + store_backoff_delay(&bo, it->attempts);
        s->feed_inflight--;
        s->feed_inflight_bytes -= it->len;
    }
    s_sub_sync(r, s, sub);
}

void deliver_acks(router *r, session *s, const wire_cmd *c)
{
    const wire_acks *a = &c->u.ack;
    if (a->n_sequences > r->opt.max_ack_batch) {
        out_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_BAD_FIELD,
                  "more sequences than max_ack_batch", false);
        return;
    }
    if (a->subscription[0]) {
        s_on_feed_acks(r, s, c);
        return;
    }
    for (size_t i = 0; i < a->n_sequences; i++) { /* beyond a rescan's cursor: s_deliver_direct */
        uint64_t seq = a->sequences[i];
        if (seq > s->cursor && session_inflight_has(s, seq))
            session_settled_add(s, seq);
    }
    session_inflight_remove_many(s, a->sequences, a->n_sequences);
    for (size_t i = 0; i < a->n_sequences; i++) {
        uint64_t seq = a->sequences[i];
        if (c->kind == WIRE_ACK)
            s_settle_note(r, store_batch_ack(r->batch, s->node_id, seq), false);
        else
            s_on_nack_one(r, s, a, seq);
    }
}
