/*
 * publish.c — Publish: checks that need no crypto, hand-off to the verify
 * pool, release of verified Publishes in arrival order into the turn's
 * store batch, the group commit, then Accepted / Rejected and delivery of
 * what the commit made new.
 */
#include "router_internal.h"

#include "commit.h"

#include "asylink/errors.h"
#include "clock.h"
#include "envelope.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies the node id src into dst (cap bytes, NUL-terminated; cut if longer). */
static void s_copy_id(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Rejects a Publish of s before the store, and notes it for the audit trail. */
static void s_reject(router *r, session *s, const uint8_t id[16], int code, const char *reason,
                     bool retryable)
{
    out_rejected(r, s, id, code, reason, retryable);
    notes_rejected(r, s->node_id, s->cert_serial, id, code, reason);
}

/*
 * Whether a Publish of len envelope bytes finds room: the session's
 * unanswered Publishes (count and bytes) and the bytes of every session's
 * (being verified or committed) are bounded. Each byte bound takes one
 * Publish whatever its size when nothing it counts is unanswered (the
 * session's: the session has none; the broker's: none in transit), so that
 * an envelope of any allowed size passes; beside other sessions' traffic a
 * large one waits until the bytes in transit leave room for it.
 */
static const char *s_no_room(const router *r, const session *s, size_t len)
{
    if (s->publishing >= r->opt.max_in_flight ||
        r->next_arrival - r->next_release >= ROUTER_REORDER_CAP)
        return "too many publishes in flight";
    if (s->publishing && s->publishing_bytes + len > r->opt.max_in_flight_bytes)
        return "too many bytes in flight for this session (max_in_flight_bytes)";
    if (r->transit_bytes && r->transit_bytes + len > r->opt.max_transit_bytes)
        return "too many bytes in transit (max_transit_bytes)";
    return NULL;
}

/* A Publish of j's session (s, if still open) is answered: it no longer counts. */
static void s_publish_done(router *r, session *s, const verify_job *j)
{
    size_t len = zmq_msg_size((zmq_msg_t *)&j->envelope);
    r->transit_bytes -= len <= r->transit_bytes ? len : r->transit_bytes;
    if (!s)
        return;
    if (s->publishing > 0)
        s->publishing--;
    s->publishing_bytes -= len <= s->publishing_bytes ? len : s->publishing_bytes;
}

void publish_submit(router *r, session *s, const wire_cmd *c, zmq_msg_t *env)
{
    const uint8_t *id = c->u.publish.message_id;
    r->stats.published++;
    if (!env) {
        s_reject(r, s, id, ASYLINK_E_MALFORMED, "Publish needs the envelope as its second frame",
                 false);
        return;
    }
    if (zmq_msg_size(env) > r->opt.max_envelope_bytes) {
        s_reject(r, s, id, ASYLINK_E_TOO_LARGE, "envelope larger than the limit", false);
        return;
    }
    const char *full = s_no_room(r, s, zmq_msg_size(env));
    if (full) {
        s_reject(r, s, id, ASYLINK_E_UNAVAILABLE, full, true);
        return;
    }
    verify_job *j = calloc(1, sizeof *j);
    if (!j) {
        s_reject(r, s, id, ASYLINK_E_NOMEM, "out of memory", true);
        return;
    }
    j->arrival = r->next_arrival;
    j->session_id = s->id;
    s_copy_id(j->node_id, sizeof j->node_id, s->node_id);
    memcpy(j->message_id, id, 16);
    zmq_msg_init(&j->envelope);
    zmq_msg_move(&j->envelope, env);
    size_t len = zmq_msg_size(&j->envelope);
    j->view = view_ref(r->view);
    j->now_ms = r->now_ms;
    j->max_envelope_bytes = r->opt.max_envelope_bytes;
    j->clock_skew_future_ms = r->opt.clock_skew_future_ms;
    j->max_recipients = r->opt.max_recipients;
    verify_pool_submit(r->pool, j); /* a failure comes back as a refused job */
    r->next_arrival++;
    s->publishing++;
    s->publishing_bytes += len;
    r->transit_bytes += len;
}

/* Room for one more pending Publish in the batch; -1 when out of memory. */
static int s_pending_room(router *r)
{
    router_batch_refs *b = &r->refs;
    if (b->n_pending == b->cap_pending) {
        size_t cap = b->cap_pending ? 2 * b->cap_pending : 256;
        router_pending *p = realloc(b->pending, cap * sizeof *p);
        if (!p)
            return -1;
        b->pending = p;
        b->cap_pending = cap;
    }
    return 0;
}

/* Remembers j, the batch's operation index, for the commit to answer (s_pending_room() made room).
 */
static void s_pending_add(router *r, verify_job *j, int index)
{
    router_batch_refs *b = &r->refs;
    b->pending[b->n_pending].job = j;
    b->pending[b->n_pending].index = index;
    b->n_pending++;
}

/* Releases one checked Publish: into the batch, or Rejected. */
static void s_release(router *r, verify_job *j)
{
    if (j->code != ASYLINK_OK) {
        session *s = session_by_id(&r->sessions, j->session_id);
        s_publish_done(r, s, j);
        out_rejected(r, s, j->message_id, j->code, j->reason,
                     j->code == ASYLINK_E_NOMEM || j->code == ASYLINK_E_UNAVAILABLE);
        notes_rejected(r, j->node_id, s ? s->cert_serial : 0, j->message_id, j->code, j->reason);
        verify_job_destroy(&j);
        return;
    }
    const verify_summary *h = j->sum;
    store_publish p = {.sender = j->node_id, /* the signed sender (verify.c checked) */
                       .message_id = j->message_id,
                       .recipients = h->recipients,
                       .n_recipients = h->n_recipients,
                       .topic = h->topic[0] ? h->topic : NULL,
                       .expires_ms = j->expires_ms,
                       .envelope = zmq_msg_data(&j->envelope),
                       .envelope_len = zmq_msg_size(&j->envelope),
                       .digest = h->digest,
                       .classification = h->classification,
                       .sender_cert_serial = h->sender_cert_serial};
    /* Room first: once in the batch, its commit reads the job's envelope and recipients, so the
       job must stay (a failure after store_batch_publish() destroyed it under the batch). */
    int idx = s_pending_room(r) == 0 ? store_batch_publish(r->batch, &p) : -1;
    if (idx >= 0) {
        s_pending_add(r, j, idx);
    } else {
        session *s = session_by_id(&r->sessions, j->session_id);
        s_publish_done(r, s, j); /* as for any other refusal above */
        out_rejected(r, s, j->message_id, ASYLINK_E_NOMEM, "out of memory", true);
        notes_rejected(r, j->node_id, s ? s->cert_serial : 0, j->message_id, ASYLINK_E_NOMEM,
                       "out of memory");
        verify_job_destroy(&j);
    }
}

void publish_collect(router *r)
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

/* Answers one committed (or failed) Publish and frees its job. */
static void s_answer(router *r, verify_job *j, int commit_rc, const store_result *res)
{
    session *s = session_by_id(&r->sessions, j->session_id);
    s_publish_done(r, s, j);
    int code = commit_rc != ASYLINK_OK ? commit_rc : res->code;
    if (code != ASYLINK_OK) {
        out_rejected(r, s, j->message_id, code, asylink_strerror(code),
                     code == ASYLINK_E_STORE_FULL || code == ASYLINK_E_IO);
        if (commit_rc != ASYLINK_OK) /* the store recorded its own refusals */
            notes_rejected(r, j->node_id, j->sum->sender_cert_serial, j->message_id, code,
                           "the group commit failed");
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
            out_send(r, s->rid, s->rid_len, &c);
        }
    }
    verify_job_destroy(&j);
}

/*
 * Moves the turn's batch and its references to the flight slot (to be
 * committed) and starts an empty batch with the slot's empty references
 * (the group committed before gives its arrays back: s_recycle()). -1
 * (fatal) if out of memory.
 */
static int s_take(router *r)
{
    store_batch *next = NULL;
    if (store_batch_new(r->store, &next) != ASYLINK_OK) {
        r->fatal = true;
        return -1;
    }
    r->flight = r->batch;
    r->batch = next;
    router_batch_refs spare = r->flight_refs;
    r->flight_refs = r->refs;
    r->refs = spare;
    r->refs.n_pending = r->refs.n_settles = 0;
    r->flight_now_ms = r->now_ms;
    return 0;
}

/* A committed group taken out of the flight slot, to be answered (s_done). */
typedef struct {
    store_batch *batch;
    router_batch_refs refs;
} s_group;

/* Empties the flight slot into g (its arrays go with it). */
static void s_flight_take(router *r, s_group *g)
{
    g->batch = r->flight;
    g->refs = r->flight_refs;
    r->flight = NULL;
    memset(&r->flight_refs, 0, sizeof r->flight_refs);
}

/*
 * Hands g's arrays back to the batch being built where it has none (the
 * next group took the empty ones), else frees them.
 */
static void s_recycle(router *r, router_batch_refs *g)
{
    if (!r->refs.pending) {
        r->refs.pending = g->pending;
        r->refs.cap_pending = g->cap_pending;
    } else {
        free(g->pending);
    }
    if (!r->refs.settles) {
        r->refs.settles = g->settles;
        r->refs.cap_settles = g->cap_settles;
    } else {
        free(g->settles);
    }
    memset(g, 0, sizeof *g);
}

/*
 * Counts g's direct Acks and Nacks that took effect (commit rc): an Ack
 * that removed a queue entry, a Nack whose retry or dead letter was
 * applied. Sequences not in the queue (never delivered, acknowledged
 * already, swept) change nothing and are not counted.
 */
static void s_count_settles(router *r, const s_group *g, int rc)
{
    for (size_t i = 0; rc == ASYLINK_OK && i < g->refs.n_settles; i++) {
        const router_settle *st = &g->refs.settles[i];
        const store_result *res = store_batch_result(g->batch, (size_t)st->index);
        if (!res || res->code != ASYLINK_OK)
            continue;
        if (st->nack)
            r->stats.nacked++;
        else
            r->stats.acked++;
    }
}

/*
 * Group g was committed (rc, in us microseconds): counts it, answers its
 * Publishes, delivers what is new, frees it. Operations the deliveries
 * record go to the batch being built (r->batch).
 */
static void s_done(router *r, s_group *g, int rc, uint64_t us)
{
    size_t ops = store_batch_size(g->batch);
    size_t b = 0;
    while (b < ROUTER_COMMIT_BUCKETS - 1 && us > router_commit_bounds_us[b])
        b++;
    r->stats.commit_us_buckets[b]++;
    r->stats.commit_us_sum += us;
    r->stats.commits++;
    r->stats.commit_ops += ops;
    if (rc != ASYLINK_OK && rc != ASYLINK_E_STORE_FULL) {
        LOG_ERROR("store", "commit failed", "code=%s ops=%zu", asylink_err_name(rc), ops);
        r->fatal = true;
    }
    size_t n = g->refs.n_pending;
    const router_pending *pending = g->refs.pending;
    /* Full (the publishes refused, retryable) or not: logged when it changes. */
    bool full = rc == ASYLINK_E_STORE_FULL;
    for (size_t i = 0; i < n && !full; i++)
        full = store_batch_result(g->batch, (size_t)pending[i].index)->code == ASYLINK_E_STORE_FULL;
    if (rc == ASYLINK_E_STORE_FULL || (n && full != r->full)) {
        if (full && !r->full)
            LOG_ERROR("store", "store full: publishes refused until space is freed",
                      "code=STORE_FULL whole_batch=%d ops=%zu", rc == ASYLINK_E_STORE_FULL, ops);
        else if (!full)
            LOG_INFO("store", "store accepts publishes again", "ops=%zu", ops);
        r->full = full;
    }
    bool fed = false; /* a new feed message: wake the subscribers */
    for (size_t i = 0; i < n; i++) {
        verify_job *j = pending[i].job;
        const store_result *res = store_batch_result(g->batch, (size_t)pending[i].index);
        bool fresh = rc == ASYLINK_OK && res->code == ASYLINK_OK && !res->duplicate;
        const verify_summary *h = j->sum;
        fed |= fresh && h->topic[0];
        char recipients[ENVELOPE_MAX_RECIPIENTS][NODE_ID_MAX + 1];
        size_t nr = fresh ? h->n_recipients : 0;
        for (size_t k = 0; k < nr; k++)
            s_copy_id(recipients[k], sizeof recipients[k], h->recipients[k]);
        s_answer(r, j, rc, res);
        for (size_t k = 0; k < nr; k++)
            deliver_node(r, recipients[k]);
    }

    for (size_t i = 0; i < ops; i++) {
        const store_result *res = store_batch_result(g->batch, i);
        if (rc == ASYLINK_OK && res->dead)
            r->stats.dead_lettered++;
    }
    s_count_settles(r, g, rc);
    store_batch_destroy(&g->batch);
    s_recycle(r, &g->refs);
    for (size_t i = r->sessions.n; fed && i-- > 0;) {
        if (i >= r->sessions.n) /* a delivery ended a session */
            continue;
        session *s = r->sessions.items[i];
        if (s->n_subs && deliver_window_open(s))
            deliver_session(r, s);
    }
}

static void s_start(router *r);

/*
 * Collects the committer's finished commit (waiting for it if wait) and
 * answers it. A commit that needed the map grown runs again here, in the
 * router thread, with no transaction open anywhere. Unless wait (the
 * caller commits next, in this thread), the next group goes to the
 * committer before the answers and deliveries of this one are made: the
 * committer does not idle while the router answers.
 */
static void s_settle(router *r, bool wait)
{
    if (!r->committer || !committer_busy(r->committer))
        return;
    int rc = ASYLINK_OK;
    bool retry = false;
    uint64_t us = 0;
    if (!committer_collect(r->committer, wait, &rc, &retry, &us))
        return;
    if (retry) {
        uint64_t t0 = clock_mono_ns();
        rc = store_batch_commit(r->flight, r->flight_now_ms);
        us += (clock_mono_ns() - t0) / 1000;
    }
    store_read_refresh(r->store); /* the deliveries below must see the commit */
    s_group g;
    s_flight_take(r, &g);
    if (!wait && (rc == ASYLINK_OK || rc == ASYLINK_E_STORE_FULL))
        s_start(r); /* (a failed commit is fatal: nothing more is written) */
    s_done(r, &g, rc, us);
}

void publish_settle(router *r)
{
    s_settle(r, true);
}

/* Writes the audit notes of a turn with nothing to commit. */
static void s_flush_notes(router *r)
{
    int frc = audit_flush(r->audit, r->now_ms, false);
    if (frc != ASYLINK_OK && frc != ASYLINK_E_STORE_FULL) {
        LOG_ERROR("audit", "audit commit failed", "code=%s", asylink_err_name(frc));
        r->fatal = true;
    }
}

void publish_pipeline(router *r, bool flush_notes)
{
    if (!r->committer) {
        if (flush_notes || store_batch_size(r->batch) > 0)
            publish_commit(r);
        return;
    }
    s_settle(r, false);
    if (r->fatal || committer_busy(r->committer))
        return; /* the batch grows meanwhile: it is the next group */
    if (store_batch_size(r->batch) == 0) {
        if (flush_notes)
            s_flush_notes(r);
        return;
    }
    s_start(r);
}

/* Hands the batch (if any) to the idle committer as the next group. */
static void s_start(router *r)
{
    if (!r->fatal && store_batch_size(r->batch) > 0 && s_take(r) == 0)
        committer_start(r->committer, r->flight, r->flight_now_ms);
}

/* Commits the turn's batch now, answers its Publishes, delivers what is new. */
void publish_commit(router *r)
{
    s_settle(r, true); /* the group in flight first: commits stay in order */
    if (store_batch_size(r->batch) == 0) {
        s_flush_notes(r);
        return;
    }
    if (s_take(r) != 0)
        return;
    uint64_t t0 = clock_mono_ns();
    int rc = store_batch_commit(r->flight, r->flight_now_ms);
    uint64_t us = (clock_mono_ns() - t0) / 1000;
    s_group g;
    s_flight_take(r, &g);
    s_done(r, &g, rc, us);
}
