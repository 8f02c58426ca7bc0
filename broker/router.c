/*
 * router.c — asylinkd's main loop (see router.h for one turn's steps).
 */
#include "router.h"

#include "admin.h"
#include "asylink/asylink.h"
#include "auth.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "session.h"
#include "uuid.h"
#include "verify.h"
#include "wire.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ROUTER_READ_BUDGET 512   /* commands read per turn before committing */
#define ROUTER_REORDER_CAP 16384 /* Publishes being verified, all sessions */
#define ROUTER_TICK_MS 100       /* poll timeout: timer resolution */
#define ROUTER_DRAIN_MS 5000     /* how long shutdown waits for the workers */
#define ROUTER_HWM 10000         /* ZeroMQ high-water marks, messages */

/* A Publish waiting for the batch commit. */
typedef struct {
    verify_job *job;
    int index; /* operation index in the batch */
} s_pending;

struct router {
    router_options opt;
    store *store; /* borrowed */
    view *view;   /* current trust + policy (owned reference) */
    void *ctx, *sock, *zap;
    void *admin; /* operator admin socket, NULL if none */
    verify_pool *pool;
    session_table sessions;
    verify_job **reorder; /* ring by arrival % ROUTER_REORDER_CAP */
    uint64_t next_arrival, next_release;
    store_batch *batch; /* this turn's operations */
    s_pending *pending; /* publishes in batch */
    size_t n_pending, cap_pending;
    router_stats stats;
    auth_stats auth;
    uint64_t now_ms;
    uint64_t next_hb_check_ms, next_sweep_ms, next_sync_ms, next_metrics_ms;
    uint64_t started_ms;
    bool fatal;    /* a store error: stop */
    bool full;     /* the last publishes were refused STORE_FULL (logged once) */
    bool draining; /* shutting down: lost sessions are not the client's fault */
};

/* ---- sending ---- */

/* Sends [rid][cmd][env?] without blocking. 0, or -1 with errno (EAGAIN, EHOSTUNREACH). */
static int s_send(router *r, const uint8_t *rid, size_t rid_len, const wire_cmd *cmd,
                  zmq_msg_t *env)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode(cmd, &buf, &len) != ASYLINK_OK) {
        errno = ENOMEM;
        return -1;
    }
    int rc = -1;
    if (zmq_send(r->sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        goto cleanup;
    if (zmq_send(r->sock, buf, len, env ? ZMQ_SNDMORE : 0) < 0)
        goto cleanup;
    if (env && zmq_msg_send(env, r->sock, 0) < 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (rc != 0)
        errno = zmq_errno();
    free(buf);
    return rc;
}

static void s_send_error(router *r, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                         int code, const char *reason, bool fatal)
{
    wire_cmd c = {.kind = WIRE_ERROR, .request_id = request_id};
    c.u.error.code = code;
    c.u.error.fatal = fatal;
    snprintf(c.u.error.reason, sizeof c.u.error.reason, "%s", reason);
    r->stats.protocol_errors++;
    s_send(r, rid, rid_len, &c, NULL);
}

static void s_send_bye(router *r, session *s, int code, const char *reason)
{
    wire_cmd c = {.kind = WIRE_BYE};
    c.u.error.code = code;
    snprintf(c.u.error.reason, sizeof c.u.error.reason, "%s", reason);
    s_send(r, s->rid, s->rid_len, &c, NULL);
}

static void s_send_rejected(router *r, const session *s, const uint8_t id[16], int code,
                            const char *reason, bool retryable)
{
    r->stats.rejected++;
    if (code >= 0 && code < 64)
        r->stats.rejected_by_code[code]++;
    if (!s)
        return;
    wire_cmd c = {.kind = WIRE_REJECTED};
    memcpy(c.u.rejected.message_id, id, 16);
    c.u.rejected.has_message_id = true;
    c.u.rejected.code = code;
    c.u.rejected.retryable = retryable;
    snprintf(c.u.rejected.reason, sizeof c.u.rejected.reason, "%s", reason);
    s_send(r, s->rid, s->rid_len, &c, NULL);
    LOG_DEBUG("router", "publish rejected", "node=%s code=%s", s->node_id, asylink_err_name(code));
}

/* ---- sessions ---- */

/*
 * Ends a session. Its unacknowledged deliveries count as a failed attempt
 * each (redelivered at once in the next session; dead-lettered after
 * max_deliveries), unless the broker itself is the reason (shutdown).
 */
static void s_session_end(router *r, session *s, const char *why)
{
    LOG_INFO("router", "session closed", "node=%s reason=\"%s\" in_flight=%zu", s->node_id, why,
             s->n_inflight);
    for (size_t i = 0; !r->draining && i < s->n_inflight; i++)
        store_batch_retry(r->batch, s->node_id, s->inflight[i], r->now_ms, r->opt.max_deliveries,
                          ASYLINK_E_UNAVAILABLE,
                          "session ended before the delivery was acknowledged");
    r->stats.sessions_closed++;
    session_close(&r->sessions, s);
}

/* Frees a zero-copy frame's buffer when libzmq is done with it. */
static void s_free_frame(void *data, void *hint)
{
    (void)hint;
    free(data);
}

/* Deliveries in flight, direct and feed, against the message window. */
static bool s_window_open(const session *s)
{
    return !s->blocked && s->n_inflight + s->feed_inflight < s->credit_messages;
}

/* Whether len more bytes fit the byte window (one envelope always fits an empty window). */
static bool s_bytes_fit(const session *s, uint64_t len)
{
    uint64_t used = s->inflight_bytes + s->feed_inflight_bytes;
    return !s->credit_bytes || s->n_inflight + s->feed_inflight == 0 ||
           used + len <= s->credit_bytes;
}

/* Outcome of a delivery pass. */
enum { S_DLV_MORE = 0, S_DLV_STOP, S_DLV_GONE, S_DLV_MISSING };

/* Delivers from s's direct queue while its credit allows. */
static int s_deliver_direct(router *r, session *s)
{
    while (s_window_open(s)) {
        store_entry e;
        if (store_queue_next(r->store, s->node_id, s->cursor, &e) != ASYLINK_OK)
            return S_DLV_MORE;
        if (session_inflight_has(s, e.seq)) {
            s->cursor = e.seq;
            continue;
        }
        if (e.next_attempt_ms > r->now_ms) {
            if (s->retry_at_ms == 0 || e.next_attempt_ms < s->retry_at_ms)
                s->retry_at_ms = e.next_attempt_ms;
            s->cursor = e.seq;
            continue;
        }
        if (!s_bytes_fit(s, e.envelope_len))
            return S_DLV_STOP;
        uint8_t *env = NULL;
        size_t len = 0;
        if (store_message_get(r->store, e.seq, &env, &len) != ASYLINK_OK) {
            s->cursor = e.seq; /* swept meanwhile */
            continue;
        }
        zmq_msg_t m; /* zero-copy: libzmq frees env once it is written out */
        if (zmq_msg_init_data(&m, env, len, s_free_frame, NULL) != 0) {
            free(env);
            return S_DLV_STOP;
        }
        wire_cmd c = {.kind = WIRE_DELIVER};
        c.u.deliver.sequence = e.seq;
        c.u.deliver.attempt = e.attempts + 1;
        c.u.deliver.accepted_ms = e.accepted_ms;
        int rc = s_send(r, s->rid, s->rid_len, &c, &m);
        int err = errno;
        zmq_msg_close(&m);
        if (rc != 0) {
            if (err == EHOSTUNREACH) {
                s_session_end(r, s, "peer gone");
                return S_DLV_GONE;
            }
            s->blocked = true;
            return S_DLV_STOP;
        }
        s->cursor = e.seq;
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
    if (store_message_get(r->store, e->seq, &env, &len) != ASYLINK_OK)
        return S_DLV_MISSING; /* expired and swept meanwhile: the caller skips it */
    zmq_msg_t m;
    if (zmq_msg_init_data(&m, env, len, s_free_frame, NULL) != 0) {
        free(env);
        return S_DLV_STOP;
    }
    wire_cmd c = {.kind = WIRE_DELIVER};
    c.u.deliver.sequence = e->seq;
    c.u.deliver.attempt = attempt;
    c.u.deliver.accepted_ms = e->accepted_ms;
    snprintf(c.u.deliver.subscription, sizeof c.u.deliver.subscription, "%s", sub->name);
    snprintf(c.u.deliver.topic, sizeof c.u.deliver.topic, "%s", e->topic);
    int rc = s_send(r, s->rid, s->rid_len, &c, &m);
    int err = errno;
    zmq_msg_close(&m);
    if (rc != 0) {
        if (err == EHOSTUNREACH) {
            s_session_end(r, s, "peer gone");
            return S_DLV_GONE;
        }
        s->blocked = true;
        return S_DLV_STOP;
    }
    s->delivered++;
    r->stats.delivered++;
    if (attempt > 1)
        r->stats.redelivered++;
    return S_DLV_MORE;
}

/* Redelivers sub's Nacked items that are due. */
static int s_feed_retry(router *r, session *s, session_sub *sub)
{
    for (size_t i = 0; i < sub->n_items && s_window_open(s); i++) {
        session_feed_item *it = &sub->items[i];
        if (it->retry_at_ms == 0 || it->retry_at_ms > r->now_ms)
            continue;
        store_feed_entry e;
        int rc = store_feed_next(r->store, it->seq - 1, sub->prefix, &e);
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
    while (s_window_open(s)) {
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
    for (size_t k = 0; k < n && s_window_open(s); k++) {
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

/* Delivers what s may get: its direct queue first, then its feeds. */
static void s_deliver(router *r, session *s)
{
    if (s_deliver_direct(r, s) == S_DLV_GONE)
        return;
    s_deliver_feeds(r, s);
}

static void s_deliver_node(router *r, const char *node_id)
{
    session *s = session_by_node(&r->sessions, node_id);
    if (s && s_window_open(s))
        s_deliver(r, s);
}

/* ---- commit ---- */

static int s_pending_add(router *r, verify_job *j, int index)
{
    if (r->n_pending == r->cap_pending) {
        size_t cap = r->cap_pending ? 2 * r->cap_pending : 256;
        s_pending *p = realloc(r->pending, cap * sizeof *p);
        if (!p)
            return -1;
        r->pending = p;
        r->cap_pending = cap;
    }
    r->pending[r->n_pending].job = j;
    r->pending[r->n_pending].index = index;
    r->n_pending++;
    return 0;
}

/* Answers one committed (or failed) Publish and frees its job. */
static void s_answer(router *r, verify_job *j, int commit_rc, const store_result *res)
{
    session *s = session_by_id(&r->sessions, j->session_id);
    if (s && s->publishing > 0)
        s->publishing--;
    int code = commit_rc != ASYLINK_OK ? commit_rc : res->code;
    if (code != ASYLINK_OK) {
        s_send_rejected(r, s, j->message_id, code, asylink_strerror(code),
                        code == ASYLINK_E_STORE_FULL || code == ASYLINK_E_IO);
    } else {
        if (res->duplicate)
            r->stats.duplicates++;
        else
            r->stats.accepted++;
        if (s) {
            s->published++;
            wire_cmd c = {.kind = WIRE_ACCEPTED};
            memcpy(c.u.accepted.message_id, j->message_id, 16);
            c.u.accepted.duplicate = res->duplicate;
            c.u.accepted.store_sequence = res->seq;
            c.u.accepted.accepted_ms = res->accepted_ms;
            s_send(r, s->rid, s->rid_len, &c, NULL);
        }
    }
    verify_job_destroy(&j);
}

/* Commits the turn's batch, answers its Publishes, delivers what is new. */
static void s_commit(router *r)
{
    size_t ops = store_batch_size(r->batch);
    if (ops == 0)
        return;
    int rc = store_batch_commit(r->batch, r->now_ms);
    r->stats.commits++;
    r->stats.commit_ops += ops;
    if (rc != ASYLINK_OK && rc != ASYLINK_E_STORE_FULL) {
        LOG_ERROR("store", "commit failed", "code=%s ops=%zu", asylink_err_name(rc), ops);
        r->fatal = true;
    }
    size_t n = r->n_pending;
    /* Full (the publishes refused, retryable) or not: logged when it changes. */
    bool full = rc == ASYLINK_E_STORE_FULL ||
                (n && store_batch_result(r->batch, (size_t)r->pending[0].index)->code ==
                          ASYLINK_E_STORE_FULL);
    if (rc == ASYLINK_E_STORE_FULL || (n && full != r->full)) {
        if (full && !r->full)
            LOG_ERROR("store", "store full: publishes refused until space is freed",
                      "code=STORE_FULL whole_batch=%d ops=%zu", rc == ASYLINK_E_STORE_FULL, ops);
        else if (!full)
            LOG_INFO("store", "store accepts publishes again", "ops=%zu", ops);
        r->full = full;
    }
    r->n_pending = 0;
    bool fed = false; /* a new feed message: wake the subscribers */
    for (size_t i = 0; i < n; i++) {
        verify_job *j = r->pending[i].job;
        const store_result *res = store_batch_result(r->batch, (size_t)r->pending[i].index);
        bool fresh = rc == ASYLINK_OK && res->code == ASYLINK_OK && !res->duplicate;
        const envelope_header *h = envelope_header_of(j->env);
        fed |= fresh && h->topic[0];
        char recipients[ENVELOPE_MAX_RECIPIENTS][NODE_ID_MAX + 1];
        size_t nr = fresh ? h->n_recipients : 0;
        for (size_t k = 0; k < nr; k++)
            snprintf(recipients[k], sizeof recipients[k], "%s", h->recipients[k]);
        s_answer(r, j, rc, res);
        for (size_t k = 0; k < nr; k++)
            s_deliver_node(r, recipients[k]);
    }

    for (size_t i = 0; i < ops; i++) {
        const store_result *res = store_batch_result(r->batch, i);
        if (rc == ASYLINK_OK && res->dead)
            r->stats.dead_lettered++;
    }
    store_batch_destroy(&r->batch);
    if (store_batch_new(r->store, &r->batch) != ASYLINK_OK) {
        r->fatal = true;
        return;
    }
    for (size_t i = r->sessions.n; fed && i-- > 0;) {
        if (i >= r->sessions.n) /* a delivery ended a session */
            continue;
        session *s = r->sessions.items[i];
        if (s->n_subs && s_window_open(s))
            s_deliver(r, s);
    }
}

/* ---- verified publishes, in arrival order ---- */

static void s_release(router *r, verify_job *j)
{
    if (j->code != ASYLINK_OK) {
        session *s = session_by_id(&r->sessions, j->session_id);
        if (s && s->publishing > 0)
            s->publishing--;
        s_send_rejected(r, s, j->message_id, j->code, j->reason, j->code == ASYLINK_E_NOMEM);
        verify_job_destroy(&j);
        return;
    }
    const envelope_header *h = envelope_header_of(j->env);
    store_publish p = {.sender = h->sender,
                       .message_id = h->message_id,
                       .recipients = h->recipients,
                       .n_recipients = h->n_recipients,
                       .topic = h->topic[0] ? h->topic : NULL,
                       .expires_ms = j->expires_ms,
                       .envelope = zmq_msg_data(&j->envelope),
                       .envelope_len = zmq_msg_size(&j->envelope)};
    int idx = store_batch_publish(r->batch, &p);
    if (idx < 0 || s_pending_add(r, j, idx) != 0) {
        session *s = session_by_id(&r->sessions, j->session_id);
        s_send_rejected(r, s, j->message_id, ASYLINK_E_NOMEM, "out of memory", true);
        verify_job_destroy(&j);
    }
}

static void s_collect(router *r)
{
    verify_job *j;
    while ((j = verify_pool_take(r->pool)) != NULL)
        r->reorder[j->arrival % ROUTER_REORDER_CAP] = j;
    while (r->next_release < r->next_arrival) {
        size_t slot = r->next_release % ROUTER_REORDER_CAP;
        if (!r->reorder[slot])
            break;
        j = r->reorder[slot];
        r->reorder[slot] = NULL;
        r->next_release++;
        s_release(r, j);
    }
}

/* ---- commands ---- */

static void s_on_publish(router *r, session *s, const wire_cmd *c, zmq_msg_t *env)
{
    const uint8_t *id = c->u.publish.message_id;
    r->stats.published++;
    if (!env) {
        s_send_rejected(r, s, id, ASYLINK_E_MALFORMED,
                        "Publish needs the envelope as its second frame", false);
        return;
    }
    if (zmq_msg_size(env) > r->opt.max_envelope_bytes) {
        s_send_rejected(r, s, id, ASYLINK_E_TOO_LARGE, "envelope larger than the limit", false);
        return;
    }
    if (s->publishing >= r->opt.max_in_flight ||
        r->next_arrival - r->next_release >= ROUTER_REORDER_CAP) {
        s_send_rejected(r, s, id, ASYLINK_E_UNAVAILABLE, "too many publishes in flight", true);
        return;
    }
    verify_job *j = calloc(1, sizeof *j);
    if (!j) {
        s_send_rejected(r, s, id, ASYLINK_E_NOMEM, "out of memory", true);
        return;
    }
    j->arrival = r->next_arrival;
    j->session_id = s->id;
    snprintf(j->node_id, sizeof j->node_id, "%s", s->node_id);
    memcpy(j->message_id, id, 16);
    zmq_msg_init(&j->envelope);
    zmq_msg_move(&j->envelope, env);
    j->view = view_ref(r->view);
    j->now_ms = r->now_ms;
    j->max_envelope_bytes = r->opt.max_envelope_bytes;
    j->clock_skew_future_ms = r->opt.clock_skew_future_ms;
    j->max_recipients = r->opt.max_recipients;
    if (verify_pool_submit(r->pool, j) != ASYLINK_OK) {
        verify_job_destroy(&j);
        s_send_rejected(r, s, id, ASYLINK_E_UNAVAILABLE, "verification unavailable", true);
        return;
    }
    r->next_arrival++;
    s->publishing++;
}

/* The delay before redelivering after a Nack: backoff doubled per attempt. */
static uint64_t s_backoff(const router *r, uint32_t attempts, uint32_t retry_after_ms)
{
    uint64_t d = r->opt.backoff_ms;
    for (uint32_t i = 1; i < attempts && d < r->opt.backoff_max_ms; i++)
        d *= 2;
    if (d > r->opt.backoff_max_ms)
        d = r->opt.backoff_max_ms;
    return retry_after_ms > d ? retry_after_ms : d;
}

static void s_on_nack_one(router *r, session *s, const wire_acks *a, uint64_t seq)
{
    if (a->disposition == WIRE_NACK_DEAD_LETTER) {
        store_batch_dead_letter(r->batch, s->node_id, seq, a->code, a->reason);
        return;
    }
    store_entry e = {0};
    uint32_t attempts = 1;
    if (seq > 0 && store_queue_next(r->store, s->node_id, seq - 1, &e) == ASYLINK_OK &&
        e.seq == seq)
        attempts = e.attempts + 1;
    uint64_t at = r->now_ms + s_backoff(r, attempts, a->retry_after_ms);
    store_batch_retry(r->batch, s->node_id, seq, at, r->opt.max_deliveries, a->code, a->reason);
    if (s->retry_at_ms == 0 || at < s->retry_at_ms)
        s->retry_at_ms = at;
}

/*
 * Ack / Nack of feed deliveries. Ack: the item is done and the cursor moves
 * on past everything contiguously done. Nack (either disposition): the item
 * is delivered again after a backoff; feeds have no dead letters.
 */
static void s_on_feed_acks(router *r, session *s, const wire_cmd *c)
{
    const wire_acks *a = &c->u.ack;
    session_sub *sub = session_sub_find(s, a->subscription);
    if (!sub) {
        s_send_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_NOT_FOUND,
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
            continue;
        }
        session_feed_item *it = &sub->items[k];
        r->stats.nacked++;
        if (it->retry_at_ms != 0)
            continue; /* already waiting */
        it->retry_at_ms = r->now_ms + s_backoff(r, it->attempts, a->retry_after_ms);
        s->feed_inflight--;
        s->feed_inflight_bytes -= it->len;
    }
    s_sub_sync(r, s, sub);
}

static void s_on_acks(router *r, session *s, const wire_cmd *c)
{
    const wire_acks *a = &c->u.ack;
    if (a->n_sequences > r->opt.max_ack_batch) {
        s_send_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_BAD_FIELD,
                     "more sequences than max_ack_batch", false);
        return;
    }
    if (a->subscription[0]) {
        s_on_feed_acks(r, s, c);
        return;
    }
    for (size_t i = 0; i < a->n_sequences; i++) {
        uint64_t seq = a->sequences[i];
        session_inflight_remove(s, seq);
        if (c->kind == WIRE_ACK) {
            store_batch_ack(r->batch, s->node_id, seq);
            r->stats.acked++;
        } else {
            s_on_nack_one(r, s, a, seq);
            r->stats.nacked++;
        }
    }
}

static void s_fill_welcome(router *r, const session *s, wire_cmd *w)
{
    w->kind = WIRE_WELCOME;
    wire_welcome *o = &w->u.welcome;
    o->protocol_version = WIRE_PROTOCOL_VERSION;
    snprintf(o->broker_node_id, sizeof o->broker_node_id, "%s", r->opt.node_id);
    o->limits.max_envelope_bytes = r->opt.max_envelope_bytes;
    o->limits.max_in_flight = r->opt.max_in_flight;
    o->limits.heartbeat_interval_ms = (uint32_t)r->opt.heartbeat_interval_ms;
    o->limits.heartbeat_timeout_ms = (uint32_t)r->opt.heartbeat_timeout_ms;
    o->limits.clock_skew_tolerance_ms = (uint32_t)r->opt.clock_skew_future_ms;
    o->limits.max_recipients = r->opt.max_recipients;
    o->limits.max_ack_batch = r->opt.max_ack_batch;
    o->limits.max_deliveries = r->opt.max_deliveries;
    o->server_time_ms = r->now_ms;
    randombytes_buf(o->session_id, sizeof o->session_id);
    o->roles = s->roles;
    o->client_cert_serial = s->cert_serial;
    snprintf(o->broker_version, sizeof o->broker_version, "%s", asylink_version());
}

/*
 * The certificate a session is bound to: the one whose CURVE key ZAP
 * admitted (its serial travels as connection metadata), checked again now.
 */
static int s_session_cert(router *r, const char *user, const char *serial, const cert **out)
{
    const trust *t = view_trust(r->view);
    char *end = NULL;
    unsigned long long n = serial ? strtoull(serial, &end, 10) : 0;
    if (!serial || !*serial || *end || n == 0) {
        LOG_WARN("router", "no certificate serial from ZAP; binding the current certificate",
                 "node=%s", user);
        return trust_lookup(t, user, r->now_ms, ASYLINK_E_UNKNOWN_SENDER, out);
    }
    *out = trust_find_serial(t, user, n);
    if (!*out)
        return ASYLINK_E_UNKNOWN_SENDER; /* gone from the trust directory since */
    int rc = trust_usable(t, *out, r->now_ms);
    if (rc != ASYLINK_OK)
        *out = NULL;
    return rc;
}

static void s_on_hello(router *r, const uint8_t *rid, size_t rid_len, const char *user,
                       const char *serial, const wire_cmd *c)
{
    const wire_hello *h = &c->u.hello;
    if (h->protocol_version != WIRE_PROTOCOL_VERSION) {
        s_send_error(r, rid, rid_len, c->request_id, ASYLINK_E_UNSUPPORTED_VERSION,
                     "this broker speaks protocol version 1", true);
        return;
    }
    if (strcmp(h->node_id, user) != 0) {
        s_send_error(r, rid, rid_len, c->request_id, ASYLINK_E_FORGED_SENDER,
                     "Hello node_id differs from the authenticated CURVE identity", true);
        return;
    }
    const cert *nc = NULL;
    int rc = s_session_cert(r, user, serial, &nc);
    if (rc != ASYLINK_OK) {
        s_send_error(r, rid, rid_len, c->request_id, rc, asylink_strerror(rc), true);
        return;
    }
    session *old = session_by_rid(&r->sessions, rid, rid_len);
    if (old)
        s_session_end(r, old, "new Hello on the connection");
    old = session_by_node(&r->sessions, user);
    if (old) {
        s_send_bye(r, old, ASYLINK_OK, "replaced by a newer session of the same node");
        s_session_end(r, old, "replaced by a newer session");
    }
    session *s = session_open(&r->sessions, rid, rid_len, nc, r->now_ms);
    if (!s) {
        s_send_error(r, rid, rid_len, c->request_id, ASYLINK_E_NOMEM, "out of memory", true);
        return;
    }
    snprintf(s->client_name, sizeof s->client_name, "%s", h->client_name);
    snprintf(s->client_version, sizeof s->client_version, "%s", h->client_version);
    s->credit_messages = h->initial_credit_messages;
    s->credit_bytes = h->initial_credit_bytes;
    r->stats.sessions_opened++;
    wire_cmd w = {.request_id = c->request_id};
    s_fill_welcome(r, s, &w);
    s_send(r, rid, rid_len, &w, NULL);
    LOG_INFO("router", "session opened", "node=%s serial=%llu credit=%u", s->node_id,
             (unsigned long long)s->cert_serial, s->credit_messages);
    s_commit(r); /* attempts of a replaced session's deliveries are counted first */
    s_deliver(r, s);
}

/* Adds c's certificate to the Directory being built. */
static int s_dir_add(wire_directory *d, const cert *c)
{
    size_t n = d->n_certificates;
    uint8_t **certs = realloc(d->certificates, (n + 1) * sizeof *certs);
    if (!certs)
        return -1;
    d->certificates = certs;
    size_t *lens = realloc(d->certificate_lens, (n + 1) * sizeof *lens);
    if (!lens)
        return -1;
    d->certificate_lens = lens;
    certs[n] = c->raw; /* borrowed: the directory is only encoded, never cleared */
    lens[n] = c->raw_len;
    d->n_certificates++;
    return 0;
}

static void s_on_directory(router *r, session *s, const wire_cmd *c)
{
    const wire_directory_request *q = &c->u.directory_request;
    const trust *t = view_trust(r->view);
    wire_cmd out = {.kind = WIRE_DIRECTORY, .request_id = c->request_id};
    wire_directory *d = &out.u.directory;
    char(*unknown)[NODE_ID_MAX + 1] = calloc(q->n_node_ids + 1, sizeof *unknown);
    if (!unknown)
        return;
    for (size_t i = 0; i < q->n_node_ids; i++) {
        const cert *nc = NULL;
        if (trust_lookup(t, q->node_ids[i], r->now_ms, ASYLINK_E_UNKNOWN_RECIPIENT, &nc) ==
            ASYLINK_OK)
            s_dir_add(d, nc);
        else
            memcpy(unknown[d->n_unknown++], q->node_ids[i], NODE_ID_MAX + 1);
    }
    for (size_t i = 0; q->topic[0] && i < trust_count(t); i++) {
        const cert *nc = trust_at(t, i);
        if (nc == trust_find(t, nc->node_id) && trust_usable(t, nc, r->now_ms) == ASYLINK_OK &&
            policy_may_read(view_policy(r->view), nc->roles, q->topic))
            s_dir_add(d, nc);
    }
    d->unknown_node_ids = unknown;
    const crl *l = trust_crl(t);
    if (l) {
        d->revocation_list = l->raw;
        d->revocation_list_len = l->raw_len;
    }
    snprintf(d->topic, sizeof d->topic, "%s", q->topic);
    s_send(r, s->rid, s->rid_len, &out, NULL);
    free(d->certificates);
    free(d->certificate_lens);
    free(unknown);
}

/* The cursor a subscription starts at: the last feed seq it counts as done. */
static int s_start_cursor(router *r, const wire_subscribe *q, uint64_t *cursor)
{
    switch (q->start) {
    case 0: /* START_POSITION_UNSPECIFIED = NEW */
    case 1: return store_feed_head(r->store, NULL, cursor);
    case 2: *cursor = 0; return ASYLINK_OK;
    case 3: *cursor = q->start_value ? q->start_value - 1 : 0; return ASYLINK_OK;
    case 4: return store_feed_before(r->store, q->start_value, cursor);
    default: return ASYLINK_E_BAD_FIELD;
    }
}

/*
 * Subscribe: open (creating or resuming) a durable subscription in this
 * session and answer Subscribed; then deliver.
 */
static void s_on_subscribe(router *r, session *s, const wire_cmd *c)
{
    const wire_subscribe *q = &c->u.subscribe;
    const policy *pol = view_policy(r->view);
    char why[WIRE_REASON_MAX + 1];
    if (!q->subscription[0] || !q->topic_prefix[0]) {
        s_send_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_BAD_FIELD,
                     "Subscribe needs a topic_prefix and a subscription name", false);
        return;
    }
    if (policy_check_subscribe(pol, s->roles, q->topic_prefix) != ASYLINK_OK) {
        snprintf(why, sizeof why, "policy forbids %s to subscribe to %.100s", s->node_id,
                 q->topic_prefix);
        s_send_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_POLICY, why, false);
        return;
    }
    session_sub *open = session_sub_find(s, q->subscription);
    if (!open && s->n_subs >= SESSION_MAX_SUBS) {
        s_send_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_TOO_LARGE,
                     "too many subscriptions open in this session", false);
        return;
    }
    uint64_t start = 0;
    int rc = s_start_cursor(r, q, &start);
    if (rc != ASYLINK_OK) {
        s_send_error(r, s->rid, s->rid_len, c->request_id, rc,
                     rc == ASYLINK_E_BAD_FIELD ? "unknown start position" : asylink_strerror(rc),
                     false);
        return;
    }
    if (open) /* subscribing again: the open one is replaced by the stored state */
        session_sub_remove(s, open);
    s_commit(r); /* cursor moves of this turn reach the store before we read or reset it */
    if (r->fatal)
        return;
    store_sub sub = {0};
    rc = store_sub_get(r->store, s->node_id, q->subscription, &sub);
    bool created = rc == ASYLINK_E_NOT_FOUND;
    if (rc != ASYLINK_OK && !created) {
        s_send_error(r, s->rid, s->rid_len, c->request_id, rc, "cannot read the subscription",
                     false);
        return;
    }
    if (!created && !q->reset && strcmp(sub.prefix, q->topic_prefix) != 0 &&
        policy_check_subscribe(pol, s->roles, sub.prefix) != ASYLINK_OK) {
        snprintf(why, sizeof why, "policy forbids %s to read the stored prefix %.100s", s->node_id,
                 sub.prefix);
        s_send_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_POLICY, why, false);
        return;
    }
    if (created || q->reset) {
        snprintf(sub.prefix, sizeof sub.prefix, "%s", q->topic_prefix);
        sub.cursor = start;
        if (created)
            sub.created_ms = r->now_ms;
        rc = store_sub_put(r->store, s->node_id, q->subscription, &sub);
        if (rc != ASYLINK_OK) {
            s_send_error(r, s->rid, s->rid_len, c->request_id, rc, "cannot store the subscription",
                         false);
            return;
        }
    }
    session_sub *ss = session_sub_add(s, q->subscription, sub.prefix, sub.cursor);
    if (!ss) {
        s_send_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_NOMEM, "out of memory", false);
        return;
    }
    uint64_t head = 0;
    store_feed_head(r->store, sub.prefix, &head);
    store_feed_entry e;
    uint64_t next = store_feed_next(r->store, sub.cursor, sub.prefix, &e) == ASYLINK_OK
                        ? e.seq
                        : (head > sub.cursor ? head : sub.cursor) + 1;
    wire_cmd out = {.kind = WIRE_SUBSCRIBED, .request_id = c->request_id};
    snprintf(out.u.subscribed.subscription, sizeof out.u.subscribed.subscription, "%s",
             q->subscription);
    snprintf(out.u.subscribed.topic_prefix, sizeof out.u.subscribed.topic_prefix, "%s", sub.prefix);
    out.u.subscribed.created = created;
    out.u.subscribed.next_sequence = next;
    out.u.subscribed.head_sequence = head;
    s_send(r, s->rid, s->rid_len, &out, NULL);
    LOG_INFO("router", "subscribed", "node=%s subscription=%s prefix=%s created=%d cursor=%llu",
             s->node_id, q->subscription, sub.prefix, created ? 1 : 0,
             (unsigned long long)sub.cursor);
    s_deliver(r, s);
}

/* Unsubscribe: close the subscription in this session, maybe delete its cursor. */
static void s_on_unsubscribe(router *r, session *s, const wire_cmd *c)
{
    const wire_unsubscribe *q = &c->u.unsubscribe;
    if (!q->subscription[0]) {
        s_send_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_BAD_FIELD,
                     "Unsubscribe needs a subscription name", false);
        return;
    }
    session_sub *open = session_sub_find(s, q->subscription);
    if (open)
        session_sub_remove(s, open);
    bool deleted = false;
    if (q->delete_cursor) {
        s_commit(r); /* cursor moves of this turn first, so they cannot recreate it */
        if (r->fatal)
            return;
        int rc = store_sub_delete(r->store, s->node_id, q->subscription);
        if (rc != ASYLINK_OK && rc != ASYLINK_E_NOT_FOUND) {
            s_send_error(r, s->rid, s->rid_len, c->request_id, rc, "cannot delete the subscription",
                         false);
            return;
        }
        deleted = rc == ASYLINK_OK;
    }
    wire_cmd out = {.kind = WIRE_UNSUBSCRIBED, .request_id = c->request_id};
    snprintf(out.u.unsubscribe.subscription, sizeof out.u.unsubscribe.subscription, "%s",
             q->subscription);
    out.u.unsubscribe.delete_cursor = deleted;
    s_send(r, s->rid, s->rid_len, &out, NULL);
    s_deliver(r, s); /* credit held by the closed subscription is free again */
}

/* Dispatches one decoded command of an open session. */
static void s_on_session_cmd(router *r, session *s, const wire_cmd *c, zmq_msg_t *env)
{
    switch (c->kind) {
    case WIRE_PUBLISH: {
        s_on_publish(r, s, c, env);
        return;
    }
    case WIRE_ACK:
    case WIRE_NACK:
        s_on_acks(r, s, c);
        s_deliver(r, s);
        return;
    case WIRE_CREDIT:
        s->credit_messages = c->u.credit.window_messages;
        s->credit_bytes = c->u.credit.window_bytes;
        s_deliver(r, s);
        return;
    case WIRE_HEARTBEAT:
        if (!c->u.heartbeat.pong) {
            wire_cmd pong = {.kind = WIRE_HEARTBEAT, .request_id = c->request_id};
            pong.u.heartbeat.pong = true;
            pong.u.heartbeat.sent_ms = r->now_ms;
            s_send(r, s->rid, s->rid_len, &pong, NULL);
        }
        return;
    case WIRE_BYE: {
        s_session_end(r, s, "client said Bye");
        return;
    }
    case WIRE_DIRECTORY_REQUEST: {
        s_on_directory(r, s, c);
        return;
    }
    case WIRE_SUBSCRIBE: s_on_subscribe(r, s, c); return;
    case WIRE_UNSUBSCRIBE: s_on_unsubscribe(r, s, c); return;
    default: {
        s_send_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_PROTOCOL,
                     "command not allowed from a client", false);
        return;
    }
    }
}

/* Reads the frames of one message: rid, command, optional envelope. */
static int s_read_message(router *r, zmq_msg_t *rid, zmq_msg_t *cmd, zmq_msg_t *env, bool *has_env,
                          int *extra)
{
    *has_env = false;
    *extra = 0;
    if (zmq_msg_recv(rid, r->sock, ZMQ_DONTWAIT) < 0)
        return -1;
    if (!zmq_msg_more(rid) || zmq_msg_recv(cmd, r->sock, 0) < 0)
        return 0; /* a lone frame: treated as an empty command */
    if (zmq_msg_more(cmd)) {
        zmq_msg_recv(env, r->sock, 0);
        *has_env = true;
    }
    while (*has_env && zmq_msg_more(env)) { /* drain and count extra frames */
        zmq_msg_t x;
        zmq_msg_init(&x);
        zmq_msg_recv(&x, r->sock, 0);
        bool more = zmq_msg_more(&x);
        zmq_msg_close(&x);
        ++*extra;
        if (!more)
            break;
    }
    return 0;
}

static void s_on_message(router *r, zmq_msg_t *ridm, zmq_msg_t *cmdm, zmq_msg_t *env, bool has_env,
                         int extra)
{
    const uint8_t *rid = zmq_msg_data(ridm);
    size_t rid_len = zmq_msg_size(ridm);
    const char *user = zmq_msg_gets(cmdm, "User-Id");
    session *s = session_by_rid(&r->sessions, rid, rid_len);
    if (s)
        s->last_recv_ms = r->now_ms;
    wire_cmd c;
    int rc = wire_decode(zmq_msg_data(cmdm), zmq_msg_size(cmdm), &c);
    if (rc != ASYLINK_OK) {
        s_send_error(r, rid, rid_len, 0, rc, "command frame does not decode", false);
    } else if (extra > 0) {
        s_send_error(r, rid, rid_len, c.request_id, ASYLINK_E_PROTOCOL, "too many frames", false);
    } else if (has_env && c.kind != WIRE_PUBLISH) {
        s_send_error(r, rid, rid_len, c.request_id, ASYLINK_E_PROTOCOL,
                     "only Publish carries a second frame", false);
    } else if (c.kind == WIRE_HELLO) {
        s_on_hello(r, rid, rid_len, user ? user : "", zmq_msg_gets(cmdm, AUTH_SERIAL_PROPERTY), &c);
    } else if (!s) {
        s_send_error(r, rid, rid_len, c.request_id, ASYLINK_E_PROTOCOL, "Hello first", true);
    } else {
        s_on_session_cmd(r, s, &c, has_env ? env : NULL);
    }
    wire_cmd_clear(&c);
}

/* Reads up to the budget of messages. */
static void s_read(router *r)
{
    for (int i = 0; i < ROUTER_READ_BUDGET; i++) {
        zmq_msg_t rid, cmd, env;
        zmq_msg_init(&rid);
        zmq_msg_init(&cmd);
        zmq_msg_init(&env);
        bool has_env = false;
        int extra = 0;
        int rc = s_read_message(r, &rid, &cmd, &env, &has_env, &extra);
        if (rc == 0) {
            r->now_ms = clock_now_ms();
            s_on_message(r, &rid, &cmd, &env, has_env, extra);
        }
        zmq_msg_close(&rid);
        zmq_msg_close(&cmd);
        zmq_msg_close(&env);
        if (rc != 0)
            return;
    }
}

/* ---- timers ---- */

/* After a policy reload: closes subscriptions the node may no longer read. */
static void s_recheck_subs(router *r, session *s)
{
    for (size_t i = s->n_subs; i-- > 0;) {
        session_sub *sub = s->subs[i];
        if (policy_check_subscribe(view_policy(r->view), s->roles, sub->prefix) == ASYLINK_OK)
            continue;
        char why[WIRE_REASON_MAX + 1];
        snprintf(why, sizeof why, "subscription %s closed: policy no longer allows prefix %.100s",
                 sub->name, sub->prefix);
        LOG_INFO("router", "subscription closed by policy", "node=%s subscription=%s", s->node_id,
                 sub->name);
        s_send_error(r, s->rid, s->rid_len, 0, ASYLINK_E_POLICY, why, false);
        session_sub_remove(s, sub);
    }
}

/*
 * Reloads trust and policy (SIGHUP, admin reload). On failure the current
 * view stays and err says why; res (may be NULL) is filled on success.
 */
static int s_reload_view(router *r, admin_reload_result *res, char *err, size_t errlen)
{
    view *v = NULL;
    int rc = view_load(r->opt.trust_dir, r->opt.policy_path, r->view, &v, err, errlen);
    if (rc == ASYLINK_OK && (rc = view_remember_crl(v, r->store, err, errlen)) != ASYLINK_OK)
        view_unref(&v);
    if (rc != ASYLINK_OK) {
        r->stats.reload_failures++;
        LOG_ERROR("router", "reload failed; keeping the current trust and policy",
                  "code=%s error=\"%s\"", asylink_err_name(rc), err);
        return rc;
    }
    view_unref(&r->view);
    r->view = v;
    r->stats.reloads++;
    uint32_t dropped = 0;
    for (size_t i = r->sessions.n; i-- > 0;) {
        session *s = r->sessions.items[i];
        const cert *c = NULL;
        rc = trust_lookup(view_trust(v), s->node_id, r->now_ms, ASYLINK_E_UNKNOWN_SENDER, &c);
        if (rc == ASYLINK_OK) {
            s_recheck_subs(r, s);
            continue;
        }
        s_send_error(r, s->rid, s->rid_len, 0, rc, asylink_strerror(rc), true);
        s_send_bye(r, s, rc, "certificate no longer usable");
        s_session_end(r, s, asylink_err_name(rc));
        dropped++;
    }
    LOG_INFO("router", "trust and policy reloaded", "nodes=%zu sessions=%zu",
             trust_count(view_trust(v)), r->sessions.n);
    if (res) {
        const trust *t = view_trust(v);
        const crl *l = trust_crl(t);
        for (size_t i = 0; i < trust_count(t); i++)
            res->nodes += trust_at(t, i) == trust_find(t, trust_at(t, i)->node_id);
        res->revoked = l ? (uint32_t)l->n_entries : 0;
        res->crl_number = l ? l->number : 0;
        res->sessions_dropped = dropped;
    }
    return ASYLINK_OK;
}

static void s_reload(router *r)
{
    char err[512];
    s_reload_view(r, NULL, err, sizeof err);
}

/* admin_env callbacks. */
static int s_admin_reload(void *ctx, admin_reload_result *out, char *err, size_t errlen)
{
    return s_reload_view(ctx, out, err, errlen);
}

static void s_admin_replayed(void *ctx, const char *node_id)
{
    router *r = ctx;
    session *s = session_by_node(&r->sessions, node_id);
    if (s) { /* the replayed entries sort before the session's queue cursor */
        s->cursor = 0;
        s->retry_at_ms = 0;
    }
}

/* Answers pending operator requests. */
static void s_admin(router *r)
{
    admin_env e = {.broker_node_id = r->opt.node_id,
                   .policy_path = r->opt.policy_path,
                   .store = r->store,
                   .sessions = &r->sessions,
                   .stats = router_get_stats(r),
                   .trust = view_trust(r->view),
                   .now_ms = r->now_ms,
                   .started_ms = r->started_ms,
                   .durable = r->opt.durable,
                   .verify_workers = r->opt.verify_threads,
                   .reload = s_admin_reload,
                   .replayed = s_admin_replayed,
                   .ctx = r};
    admin_handle_pending(r->admin, &e);
}

/* One node's queue and session for the metrics snapshot. */
static void s_metrics_node(router *r, const char *node_id, metrics_node *n)
{
    snprintf(n->node_id, sizeof n->node_id, "%s", node_id);
    store_queue_depth(r->store, node_id, &n->depth, &n->bytes);
    store_dead_letter_count(r->store, node_id, &n->dead_letters);
    const session *s = session_by_node(&r->sessions, node_id);
    n->connected = s != NULL;
    n->in_flight = s ? (uint32_t)(s->n_inflight + s->feed_inflight) : 0;
    n->credit = s ? s->credit_messages : 0;
}

static void s_publish_metrics(router *r)
{
    const trust *t = view_trust(r->view);
    metrics_snapshot snap = {.started_ms = r->started_ms,
                             .taken_ms = r->now_ms,
                             .durable = r->opt.durable,
                             .verify_workers = r->opt.verify_threads,
                             .sessions = r->sessions.n};
    snprintf(snap.broker_node_id, sizeof snap.broker_node_id, "%s", r->opt.node_id);
    snap.stats = *router_get_stats(r);
    store_get_stats(r->store, &snap.store);
    snap.nodes = calloc(trust_count(t) + 1, sizeof *snap.nodes);
    for (size_t i = 0; snap.nodes && i < trust_count(t); i++) {
        const cert *c = trust_at(t, i);
        if (c == trust_find(t, c->node_id))
            s_metrics_node(r, c->node_id, &snap.nodes[snap.n_nodes++]);
    }
    metrics_publish(r->opt.metrics, &snap);
    free(snap.nodes);
}

static void s_timers(router *r)
{
    if (r->opt.metrics && r->now_ms >= r->next_metrics_ms) {
        s_publish_metrics(r);
        r->next_metrics_ms = r->now_ms + 1000;
    }
    store_read_begin(r->store);
    for (size_t i = r->sessions.n; i-- > 0;) {
        session *s = r->sessions.items[i];
        if (r->now_ms >= r->next_hb_check_ms &&
            r->now_ms - s->last_recv_ms > r->opt.heartbeat_timeout_ms) {
            s_session_end(r, s, "heartbeat timeout");
            continue;
        }
        if (s->retry_at_ms && r->now_ms >= s->retry_at_ms) {
            s->retry_at_ms = 0;
            s->cursor = 0;
        }
        s->blocked = false;
        s_deliver(r, s);
    }
    store_read_end(r->store);
    if (r->now_ms >= r->next_hb_check_ms)
        r->next_hb_check_ms = r->now_ms + 1000;
    if (r->now_ms >= r->next_sweep_ms) {
        store_sweep_stats st = {0};
        if (store_sweep(r->store, r->now_ms, 10000, &st) == ASYLINK_OK && st.expired)
            LOG_INFO("store", "expired messages swept", "entries=%llu",
                     (unsigned long long)st.expired);
        r->stats.expired += st.expired;
        r->next_sweep_ms = r->now_ms + r->opt.sweep_interval_ms;
    }
    if (!r->opt.durable && r->now_ms >= r->next_sync_ms) {
        store_sync(r->store);
        r->next_sync_ms = r->now_ms + r->opt.sync_interval_ms;
    }
}

/* ---- life cycle ---- */

static int s_socket_setup(router *r)
{
    int one = 1, hwm = ROUTER_HWM, linger = 1000;
    int hb_ivl = (int)r->opt.heartbeat_interval_ms, hb_to = (int)r->opt.heartbeat_timeout_ms;
    int64_t maxmsg = (int64_t)r->opt.max_envelope_bytes + 1024 * 1024;
    if (zmq_setsockopt(r->sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_CURVE_SECRETKEY, r->opt.keys->box_sk, 32) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_ZAP_DOMAIN, AUTH_DOMAIN, strlen(AUTH_DOMAIN)) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_to, sizeof hb_to) != 0)
        return -1;
    if (zmq_bind(r->sock, r->opt.endpoint) != 0)
        return -1;
    char last[256];
    size_t len = sizeof last;
    if (zmq_getsockopt(r->sock, ZMQ_LAST_ENDPOINT, last, &len) != 0)
        return -1;
    r->opt.bound_endpoint = strdup(last);
    return r->opt.bound_endpoint ? 0 : -1;
}

int router_new(router_options *o, store *st, view *v, router **out)
{
    *out = NULL;
    router *r = calloc(1, sizeof *r);
    if (!r) {
        view_unref(&v);
        return ASYLINK_E_NOMEM;
    }
    r->opt = *o;
    r->started_ms = clock_now_ms();
    r->store = st;
    r->view = v;
    r->ctx = zmq_ctx_new();
    r->reorder = calloc(ROUTER_REORDER_CAP, sizeof *r->reorder);
    int rc = ASYLINK_E_NOMEM;
    if (!r->ctx || !r->reorder || store_batch_new(st, &r->batch) != ASYLINK_OK)
        goto fail;
    rc = ASYLINK_E_IO;
    r->zap = auth_socket_new(r->ctx);
    r->sock = r->zap ? zmq_socket(r->ctx, ZMQ_ROUTER) : NULL;
    if (!r->sock || s_socket_setup(r) != 0)
        goto fail;
    if (o->admin_endpoint && *o->admin_endpoint &&
        !(r->admin = admin_socket_new(r->ctx, o->admin_endpoint, o->keys->box_sk,
                                      &r->opt.bound_admin_endpoint)))
        goto fail;
    if (verify_pool_new(r->ctx, o->verify_threads, &r->pool) != ASYLINK_OK)
        goto fail;
    o->bound_endpoint = r->opt.bound_endpoint;
    o->bound_admin_endpoint = r->opt.bound_admin_endpoint;
    *out = r;
    return ASYLINK_OK;
fail:
    LOG_ERROR("router", "cannot start", "endpoint=%s admin_endpoint=%s error=\"%s\"",
              o->endpoint, o->admin_endpoint ? o->admin_endpoint : "", zmq_strerror(zmq_errno()));
    router_destroy(&r);
    return rc;
}

/* One turn of the loop; wait_ms is the poll timeout. */
static void s_turn(router *r, bool reading, long wait_ms)
{
    zmq_pollitem_t items[] = {
        {r->sock, 0, reading ? ZMQ_POLLIN : 0, 0},
        {r->zap, 0, ZMQ_POLLIN, 0},
        {verify_pool_socket(r->pool), 0, ZMQ_POLLIN, 0},
        {r->admin, 0, r->admin && reading ? ZMQ_POLLIN : 0, 0},
    };
    zmq_poll(items, r->admin ? 4 : 3, wait_ms);
    r->now_ms = clock_now_ms();
    if (items[1].revents & ZMQ_POLLIN)
        auth_handle_pending(r->zap, view_trust(r->view), r->now_ms, &r->auth);
    store_read_begin(r->store); /* the turn's deliveries share a read transaction */
    if (reading && (items[0].revents & ZMQ_POLLIN))
        s_read(r);
    s_collect(r);
    s_commit(r);
    store_read_end(r->store);
    if (r->admin && (items[3].revents & ZMQ_POLLIN))
        s_admin(r);
}

/* Shutdown: finish verified work, commit, say Bye. */
static void s_drain(router *r)
{
    uint64_t deadline = clock_now_ms() + ROUTER_DRAIN_MS;
    r->draining = true;
    while (r->next_release < r->next_arrival && clock_now_ms() < deadline && !r->fatal)
        s_turn(r, false, 50);
    for (size_t i = r->sessions.n; i-- > 0;) {
        s_send_bye(r, r->sessions.items[i], ASYLINK_E_SHUTDOWN, "broker shutting down");
        s_session_end(r, r->sessions.items[i], "broker shutdown");
    }
}

int router_run(router *r, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    LOG_INFO("router", "serving", "endpoint=%s admin_endpoint=%s workers=%d durability=%s",
             r->opt.bound_endpoint,
             r->opt.bound_admin_endpoint ? r->opt.bound_admin_endpoint : "off",
             r->opt.verify_threads, r->opt.durable ? "fsync" : "relaxed");
    while (!*stop && !r->fatal) {
        s_turn(r, true, ROUTER_TICK_MS);
        if (*reload) {
            *reload = 0;
            s_reload(r);
        }
        s_timers(r);
    }
    s_drain(r);
    LOG_INFO("router", "stopped", "accepted=%llu delivered=%llu",
             (unsigned long long)r->stats.accepted, (unsigned long long)r->stats.delivered);
    return r->fatal ? ASYLINK_E_IO : ASYLINK_OK;
}

const router_stats *router_get_stats(const router *r)
{
    ((router *)r)->stats.zap_admitted = r->auth.admitted;
    ((router *)r)->stats.zap_refused = r->auth.refused;
    return &r->stats;
}

size_t router_session_count(const router *r)
{
    return r->sessions.n;
}

void router_destroy(router **self_p)
{
    if (!self_p || !*self_p)
        return;
    router *r = *self_p;
    verify_pool_destroy(&r->pool);
    for (size_t i = 0; r->reorder && i < ROUTER_REORDER_CAP; i++)
        verify_job_destroy(&r->reorder[i]);
    for (size_t i = 0; i < r->n_pending; i++)
        verify_job_destroy(&r->pending[i].job);
    free(r->pending);
    free(r->reorder);
    store_batch_destroy(&r->batch);
    session_table_clear(&r->sessions);
    if (r->sock)
        zmq_close(r->sock);
    if (r->admin)
        zmq_close(r->admin);
    if (r->zap)
        zmq_close(r->zap);
    if (r->ctx)
        zmq_ctx_term(r->ctx);
    view_unref(&r->view);
    free(r->opt.bound_endpoint);
    free(r->opt.bound_admin_endpoint);
    free(r);
    *self_p = NULL;
}
