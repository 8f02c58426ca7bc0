/*
 * admin.c — the operator admin endpoint (admin.h).
 *
 * Requests are decoded with wire.c (AdminRequest); each answer is built as
 * the JSON form of an AdminResponse and converted with pbjson (descriptor
 * driven, so every field is written by the generated code), then framed
 * with wire_admin_response_frame().
 */
#include "admin.h"

#include "asylink/errors.h"
#include "audit.h"
#include "auth.h"
#include "clock.h"
#include "envelope.h"
#include "file.h"
#include "log.h"
#include "pbjson.h"
#include "wire.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_POLICY_MAX (4u * 1024u * 1024u) /* policy files larger than this are not hashed */
/* Room for any whole four-eyes summary (a purge's reason and reference are up to
   WIRE_REASON_MAX bytes each): approval_hold() then cuts it to APPROVAL_SUMMARY_MAX on a
   character boundary, where snprintf() into a smaller buffer could split a UTF-8
   character and leave a summary no JSON answer can carry. */
#define S_SUMMARY_ROOM (2 * WIRE_REASON_MAX + APPROVAL_SUMMARY_MAX + 1)

/* The answer to one request: a JSON AdminResponse member, or an error. */
typedef struct {
    json_t *body;                     /* member value, e.g. {"nodes": [...]} */
    int code;                         /* ASYLINK_OK or the Error code */
    char reason[WIRE_REASON_MAX + 1]; /* Error reason, or a log detail on success */
} s_answer;

static int s_fail(s_answer *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(s_answer *a, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof a->reason, fmt, ap);
    va_end(ap);
    a->code = code;
    return code;
}

static void s_detail(s_answer *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets the log detail of a successful answer (cut to fit). */
static void s_detail(s_answer *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof a->reason, fmt, ap);
    va_end(ap);
}

bool admin_json_set(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0;
}

bool admin_json_set_u64(json_t *o, const char *key, uint64_t v)
{
    return admin_json_set(o, key, json_integer((json_int_t)(v > INT64_MAX ? INT64_MAX : v)));
}

/* Short names for this file. */
static bool s_set(json_t *o, const char *key, json_t *v)
{
    return admin_json_set(o, key, v);
}

static bool s_set_u64(json_t *o, const char *key, uint64_t v)
{
    return admin_json_set_u64(o, key, v);
}

static bool s_set_str(json_t *o, const char *key, const char *v)
{
    return s_set(o, key, json_string(v ? v : ""));
}

/* A CERT_ROLE_BIT mask as a JSON array of Role numbers. */
static json_t *s_roles(uint32_t mask)
{
    json_t *a = json_array();
    for (int r = 1; a && r <= CERT_ROLE_MAX; r++)
        if ((mask & CERT_ROLE_BIT(r)) && json_array_append_new(a, json_integer(r)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Current certificate of every node, in trust order (sorted by node id by the caller's use). */
static bool s_is_current(const trust *t, const cert *c)
{
    return c == trust_find(t, c->node_id);
}

static int s_cmp_cert(const void *a, const void *b)
{
    return strcmp((*(const cert *const *)a)->node_id, (*(const cert *const *)b)->node_id);
}

/* The current certificates sorted by node id; *n set. NULL when out of memory or none. */
static const cert **s_nodes(const trust *t, size_t *n)
{
    *n = 0;
    const cert **v = calloc(trust_count(t) + 1, sizeof *v);
    for (size_t i = 0; v && i < trust_count(t); i++)
        if (s_is_current(t, trust_at(t, i)))
            v[(*n)++] = trust_at(t, i);
    if (v)
        qsort(v, *n, sizeof *v, s_cmp_cert);
    return v;
}

/* ---- stats ---- */

static int s_stats(const admin_env *e, s_answer *a)
{
    const router_stats *st = e->stats;
    store_stats ss = {0};
    if (store_get_stats(e->store, &ss) != ASYLINK_OK)
        return s_fail(a, ASYLINK_E_IO, "store statistics cannot be read");
    json_t *o = json_object(), *codes = json_array();
    bool ok = o && codes;
    for (int c = 0; ok && c < 64; c++) {
        if (!st->rejected_by_code[c])
            continue;
        json_t *x = json_object();
        ok = x && s_set(x, "code", json_integer(c)) &&
             s_set_u64(x, "count", st->rejected_by_code[c]) && json_array_append_new(codes, x) == 0;
    }
    ok = ok && s_set_str(o, "broker_node_id", e->broker_node_id) &&
         s_set_str(o, "broker_version", asylink_version()) &&
         s_set_u64(o, "started_ms", e->started_ms) && s_set_u64(o, "server_time_ms", e->now_ms) &&
         s_set_u64(o, "sessions", e->sessions->n) && s_set_u64(o, "messages_stored", ss.messages) &&
         s_set_u64(o, "store_map_bytes", ss.map_size) &&
         s_set_u64(o, "store_used_bytes", ss.used_bytes) &&
         s_set_u64(o, "published", st->published) && s_set_u64(o, "accepted", st->accepted) &&
         s_set_u64(o, "duplicates", st->duplicates) && s_set_u64(o, "rejected", st->rejected) &&
         s_set(o, "rejected_by_code", json_incref(codes)) &&
         s_set_u64(o, "delivered", st->delivered) && s_set_u64(o, "redelivered", st->redelivered) &&
         s_set_u64(o, "acked", st->acked) && s_set_u64(o, "nacked", st->nacked) &&
         s_set_u64(o, "expired", st->expired) && s_set_u64(o, "dead_lettered", st->dead_lettered) &&
         s_set_u64(o, "dead_letters", ss.dead_letters) &&
         s_set_u64(o, "queued_messages", ss.queued) &&
         s_set_str(o, "durability", e->durable ? "full" : "relaxed") &&
         s_set_u64(o, "verify_workers", (uint64_t)e->verify_workers);
    audit_head ah = {0};
    if (ok && e->audit && audit_head_get(e->audit, &ah) == ASYLINK_OK)
        ok = s_set_u64(o, "audit_last_seq", ah.last_seq);
    json_decref(codes);
    if (!ok) {
        json_decref(o);
        return s_fail(a, ASYLINK_E_NOMEM, "out of memory");
    }
    a->body = o;
    return ASYLINK_OK;
}

/* ---- nodes ---- */

static json_t *s_node_info(const admin_env *e, const cert *c)
{
    const session *s = session_by_node(e->sessions, c->node_id);
    uint64_t depth = 0, bytes = 0, subs = 0;
    store_queue_depth(e->store, c->node_id, &depth, &bytes);
    store_sub_count(e->store, c->node_id, &subs);
    int usable = trust_usable(e->trust, c, e->now_ms);
    json_t *o = json_object();
    bool ok =
        o && s_set_str(o, "node_id", c->node_id) && s_set_str(o, "display_name", c->display_name) &&
        s_set(o, "roles", s_roles(c->roles)) && s_set_u64(o, "cert_serial", c->serial) &&
        s_set_u64(o, "cert_not_after_ms", c->not_after_ms) &&
        s_set(o, "revoked", json_boolean(usable == ASYLINK_E_REVOKED)) &&
        s_set(o, "connected", json_boolean(s != NULL)) &&
        s_set_u64(o, "connected_since_ms", s ? s->since_ms : 0) &&
        s_set_u64(o, "last_seen_ms", s ? s->last_recv_ms : 0) &&
        s_set_str(o, "client_name", s ? s->client_name : "") &&
        s_set_str(o, "client_version", s ? s->client_version : "") &&
        s_set_u64(o, "queue_depth", depth) &&
        s_set_u64(o, "in_flight", s ? s->n_inflight + s->feed_inflight : 0) &&
        s_set_u64(o, "credit_messages", s ? s->credit_messages : 0) &&
        s_set_u64(o, "subscriptions", subs) && s_set_u64(o, "published", s ? s->published : 0) &&
        s_set_u64(o, "delivered", s ? s->delivered : 0);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int s_nodes_op(const admin_env *e, const wire_admin_request *q, s_answer *a)
{
    size_t n = 0;
    const cert **v = s_nodes(e->trust, &n);
    json_t *arr = json_array(), *o = json_object();
    bool ok = v && arr && o;
    for (size_t i = 0; ok && i < n; i++) {
        if (q->flag && !session_by_node(e->sessions, v[i]->node_id))
            continue;
        ok = json_array_append_new(arr, s_node_info(e, v[i])) == 0;
    }
    free(v);
    if (!ok || !s_set(o, "nodes", json_incref(arr))) {
        json_decref(arr);
        json_decref(o);
        return s_fail(a, ASYLINK_E_NOMEM, "out of memory");
    }
    json_decref(arr);
    snprintf(a->reason, sizeof a->reason, "nodes=%zu",
             json_array_size(json_object_get(o, "nodes")));
    a->body = o;
    return ASYLINK_OK;
}

/* ---- queues ---- */

static json_t *s_queue_info(const admin_env *e, const char *node, uint64_t depth, uint64_t bytes)
{
    const session *s = session_by_node(e->sessions, node);
    uint64_t dead = 0, oldest = 0;
    store_entry first;
    if (depth && store_queue_next(e->store, node, 0, &first) == ASYLINK_OK &&
        first.accepted_ms < e->now_ms)
        oldest = e->now_ms - first.accepted_ms;
    store_dead_letter_count(e->store, node, &dead);
    json_t *o = json_object();
    bool ok = o && s_set_str(o, "node_id", node) && s_set_u64(o, "depth", depth) &&
              s_set_u64(o, "size_bytes", bytes) && s_set_u64(o, "oldest_age_ms", oldest) &&
              s_set_u64(o, "in_flight", s ? s->n_inflight : 0) &&
              s_set_u64(o, "dead_letters", dead) &&
              s_set_u64(o, "delivered", s ? s->delivered : 0) &&
              s_set(o, "connected", json_boolean(s != NULL));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/*
 * Whether the list of every queue shows node's (depth known): every member
 * node; an internal node (cert_is_internal: the broker, an operator) only
 * while something waits in its queue or dead letters, as the status page
 * and /metrics (router.c).
 */
static bool s_lists_queue(const admin_env *e, const cert *c, uint64_t depth)
{
    uint64_t dead = 0;
    if (!cert_is_internal(c) || depth > 0)
        return true;
    return store_dead_letter_count(e->store, c->node_id, &dead) != ASYLINK_OK || dead > 0;
}

static int s_queues_op(const admin_env *e, const wire_admin_request *q, s_answer *a)
{
    if (q->node_id[0] && !trust_find(e->trust, q->node_id))
        return s_fail(a, ASYLINK_E_NOT_FOUND, "no node %s in the trust directory", q->node_id);
    size_t n = 0;
    const cert **v = s_nodes(e->trust, &n);
    json_t *arr = json_array(), *o = json_object();
    bool ok = v && arr && o;
    for (size_t i = 0; ok && i < n; i++) {
        const char *node = v[i]->node_id;
        uint64_t depth = 0, bytes = 0;
        if (q->node_id[0] && strcmp(node, q->node_id) != 0)
            continue;
        if (store_queue_depth(e->store, node, &depth, &bytes) != ASYLINK_OK) {
            free(v);
            json_decref(arr);
            json_decref(o);
            return s_fail(a, ASYLINK_E_IO, "the queue of %s cannot be read", node);
        }
        if ((q->flag && depth == 0) || (!q->node_id[0] && !s_lists_queue(e, v[i], depth)))
            continue;
        ok = json_array_append_new(arr, s_queue_info(e, node, depth, bytes)) == 0;
    }
    free(v);
    if (!ok || !s_set(o, "queues", json_incref(arr))) {
        json_decref(arr);
        json_decref(o);
        return s_fail(a, ASYLINK_E_NOMEM, "out of memory");
    }
    json_decref(arr);
    a->body = o;
    return ASYLINK_OK;
}

/* ---- dead letters ---- */

/* A min-heap of the newest dead letters (newest = latest dead_ms, then highest seq). */
typedef struct {
    store_dead_letter *v;
    size_t n, cap;
} s_heap;

/* True if x is older than y (sorts before it). */
static bool s_older(const store_dead_letter *x, const store_dead_letter *y)
{
    if (x->dead_ms != y->dead_ms)
        return x->dead_ms < y->dead_ms;
    if (x->seq != y->seq)
        return x->seq < y->seq;
    return strcmp(x->recipient, y->recipient) < 0;
}

static void s_swap(store_dead_letter *a, store_dead_letter *b)
{
    store_dead_letter t = *a;
    *a = *b;
    *b = t;
}

static void s_sift_down(s_heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && s_older(&h->v[l], &h->v[m]))
            m = l;
        if (r < h->n && s_older(&h->v[r], &h->v[m]))
            m = r;
        if (m == i)
            return;
        s_swap(&h->v[i], &h->v[m]);
        i = m;
    }
}

/* Keeps d if it is among the cap newest seen so far. */
static void s_heap_offer(s_heap *h, const store_dead_letter *d)
{
    if (h->n < h->cap) {
        size_t i = h->n++;
        h->v[i] = *d;
        while (i > 0 && s_older(&h->v[i], &h->v[(i - 1) / 2])) {
            s_swap(&h->v[i], &h->v[(i - 1) / 2]);
            i = (i - 1) / 2;
        }
    } else if (h->cap && s_older(&h->v[0], d)) {
        h->v[0] = *d;
        s_sift_down(h, 0);
    }
}

static int s_newest_first(const void *a, const void *b)
{
    const store_dead_letter *x = a, *y = b;
    return s_older(x, y) ? 1 : s_older(y, x) ? -1 : 0;
}

/* The metadata of one dead letter (header fields from its stored envelope). */
static json_t *s_dead_letter_json(const admin_env *e, const store_dead_letter *d)
{
    uint8_t *env = NULL;
    size_t len = 0;
    envelope *ev = NULL;
    const envelope_header *h = NULL;
    if (store_message_get(e->store, d->seq, &env, &len) == ASYLINK_OK &&
        envelope_decode(env, len, 0, &ev) == ASYLINK_OK)
        h = envelope_header_of(ev);
    json_t *o = json_object();
    bool ok = o && s_set_u64(o, "id", d->seq) && s_set_str(o, "recipient", d->recipient) &&
              s_set_u64(o, "size_bytes", len) && s_set_u64(o, "attempts", d->attempts) &&
              s_set(o, "code", json_integer(d->code)) && s_set_str(o, "reason", d->reason) &&
              s_set_u64(o, "dead_lettered_ms", d->dead_ms);
    if (ok && h) {
        char b64[sodium_base64_ENCODED_LEN(16, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(b64, sizeof b64, h->message_id, 16, sodium_base64_VARIANT_ORIGINAL);
        ok = s_set_str(o, "message_id", b64) && s_set_str(o, "sender", h->sender) &&
             s_set_str(o, "topic", h->topic) && s_set_str(o, "content_type", h->content_type) &&
             s_set(o, "classification", json_integer(h->classification)) &&
             s_set_u64(o, "expires_ms", h->expires_ms);
    }
    envelope_destroy(&ev);
    free(env);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int s_dead_letters_op(const admin_env *e, const wire_admin_request *q, s_answer *a)
{
    uint64_t limit = q->limit ? q->limit : ADMIN_DEFAULT_LIMIT;
    if (limit > ADMIN_MAX_LIMIT)
        return s_fail(a, ASYLINK_E_BAD_FIELD, "limit above %d", ADMIN_MAX_LIMIT);
    if (q->offset > ADMIN_MAX_WINDOW - limit)
        return s_fail(a, ASYLINK_E_BAD_FIELD, "offset + limit above %d: filter by node",
                      ADMIN_MAX_WINDOW);
    const char *node = q->node_id[0] ? q->node_id : NULL;
    s_heap h = {.cap = (size_t)(q->offset + limit)};
    h.v = malloc(h.cap * sizeof *h.v);
    if (!h.v)
        return s_fail(a, ASYLINK_E_NOMEM, "out of memory");
    store_dead_letter d;
    char after[STORE_NAME_MAX + 1] = "";
    uint64_t after_seq = 0, total = 0;
    int rc;
    while ((rc = store_dead_letter_next(e->store, node, after[0] ? after : NULL, after_seq, &d)) ==
           ASYLINK_OK) {
        total++;
        s_heap_offer(&h, &d);
        snprintf(after, sizeof after, "%s", d.recipient);
        after_seq = d.seq;
    }
    if (rc != ASYLINK_E_NOT_FOUND) {
        free(h.v);
        return s_fail(a, rc, "the dead letters cannot be read");
    }
    qsort(h.v, h.n, sizeof *h.v, s_newest_first);
    json_t *arr = json_array(), *o = json_object();
    bool ok = arr && o;
    for (size_t i = (size_t)q->offset; ok && i < h.n; i++)
        ok = json_array_append_new(arr, s_dead_letter_json(e, &h.v[i])) == 0;
    free(h.v);
    ok = ok && s_set(o, "entries", json_incref(arr)) && s_set_u64(o, "total", total);
    json_decref(arr);
    if (!ok) {
        json_decref(o);
        return s_fail(a, ASYLINK_E_NOMEM, "out of memory");
    }
    snprintf(a->reason, sizeof a->reason, "node=%s total=%llu", node ? node : "*",
             (unsigned long long)total);
    a->body = o;
    return ASYLINK_OK;
}

/* One dead letter to replay or drop. */
typedef struct {
    char recipient[STORE_NAME_MAX + 1];
    uint64_t seq;
} s_target;

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * The dead letters a replay or drop names: every dead letter of q->node_id
 * (all) dead-lettered at or before until_ms (0: whenever; *later counts
 * the others), or those whose id (message sequence) is in q->ids, of
 * q->node_id or, without one, of every recipient. found[i] tells whether
 * ids[i] (sorted) matched. *out malloc'd.
 */
static int s_targets(const admin_env *e, const wire_admin_request *q, uint64_t until_ms,
                     uint64_t *ids, bool *found, s_target **out, size_t *n_out, uint64_t *later)
{
    *out = NULL;
    *n_out = 0;
    *later = 0;
    size_t cap = 0;
    const char *node = q->node_id[0] ? q->node_id : NULL;
    store_dead_letter d;
    char after[STORE_NAME_MAX + 1] = "";
    uint64_t after_seq = 0;
    int rc;
    while ((rc = store_dead_letter_next(e->store, node, after[0] ? after : NULL, after_seq, &d)) ==
           ASYLINK_OK) {
        snprintf(after, sizeof after, "%s", d.recipient);
        after_seq = d.seq;
        if (q->flag && until_ms && d.dead_ms > until_ms) {
            (*later)++;
            continue;
        }
        if (!q->flag) {
            uint64_t *hit = bsearch(&d.seq, ids, q->n_ids, sizeof *ids, s_cmp_u64);
            if (!hit)
                continue;
            found[hit - ids] = true;
        }
        if (*n_out == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            s_target *nv = realloc(*out, ncap * sizeof *nv);
            if (!nv)
                return ASYLINK_E_NOMEM;
            *out = nv;
            cap = ncap;
        }
        snprintf((*out)[*n_out].recipient, sizeof(*out)[*n_out].recipient, "%s", d.recipient);
        (*out)[(*n_out)++].seq = d.seq;
    }
    return rc == ASYLINK_E_NOT_FOUND ? ASYLINK_OK : rc;
}

/* True if the message of seq has expired at now_ms. */
static bool s_expired(const admin_env *e, uint64_t seq)
{
    uint8_t *env = NULL;
    size_t len = 0;
    envelope *ev = NULL;
    bool expired = false;
    if (store_message_get(e->store, seq, &env, &len) == ASYLINK_OK &&
        envelope_decode(env, len, 0, &ev) == ASYLINK_OK) {
        uint64_t x = envelope_header_of(ev)->expires_ms;
        expired = x && x <= e->now_ms;
    }
    envelope_destroy(&ev);
    free(env);
    return expired;
}

/* q's ids sorted (*ids) and a found flag for each (*found); both NULL without ids. */
static int s_sorted_ids(const wire_admin_request *q, uint64_t **ids, bool **found)
{
    *ids = NULL;
    *found = NULL;
    if (!q->n_ids)
        return ASYLINK_OK;
    *ids = malloc(q->n_ids * sizeof **ids);
    *found = calloc(q->n_ids, sizeof **found);
    if (!*ids || !*found) {
        free(*ids);
        free(*found);
        *ids = NULL;
        *found = NULL;
        return ASYLINK_E_NOMEM;
    }
    memcpy(*ids, q->ids, q->n_ids * sizeof **ids);
    qsort(*ids, q->n_ids, sizeof **ids, s_cmp_u64);
    return ASYLINK_OK;
}

/* True if the message of seq is PERSONAL, or cannot be read (four-eyes errs on the safe side). */
static bool s_personal(const admin_env *e, uint64_t seq)
{
    uint8_t *env = NULL;
    size_t len = 0;
    envelope *ev = NULL;
    bool personal = true;
    if (store_message_get(e->store, seq, &env, &len) == ASYLINK_OK &&
        envelope_decode(env, len, 0, &ev) == ASYLINK_OK)
        personal = envelope_header_of(ev)->classification == ENVELOPE_PERSONAL;
    envelope_destroy(&ev);
    free(env);
    return personal;
}

/* How many dead letters a replay or drop names (*n) and how many of them hold PERSONAL messages. */
static int s_count_personal(const admin_env *e, const wire_admin_request *q, size_t *n,
                            size_t *n_personal)
{
    uint64_t *ids = NULL, later = 0;
    bool *found = NULL;
    s_target *t = NULL;
    *n = *n_personal = 0;
    int rc = s_sorted_ids(q, &ids, &found);
    if (rc == ASYLINK_OK)
        rc = s_targets(e, q, 0, ids, found, &t, n, &later);
    for (size_t i = 0; rc == ASYLINK_OK && i < *n; i++)
        *n_personal += s_personal(e, t[i].seq);
    free(ids);
    free(found);
    free(t);
    return rc;
}

/*
 * dead_letter_replay (replay true) and dead_letter_drop. A request held for
 * four-eyes runs with until_ms its hold time: with --all it touches only
 * the dead letters the confirming operator's summary counted, not those
 * dead-lettered while it waited (0: whenever).
 */
static int s_dl_change_op(const admin_env *e, const wire_admin_request *q, bool replay,
                          uint64_t until_ms, s_answer *a)
{
    uint64_t *ids = NULL, later = 0;
    bool *found = NULL;
    s_target *t = NULL;
    size_t n = 0;
    if (s_sorted_ids(q, &ids, &found) != ASYLINK_OK)
        return s_fail(a, ASYLINK_E_NOMEM, "out of memory");
    int rc = s_targets(e, q, until_ms, ids, found, &t, &n, &later);
    uint64_t done = 0, expired = 0;
    for (size_t i = 0; rc == ASYLINK_OK && i < n; i++) {
        if (replay && s_expired(e, t[i].seq)) {
            expired++;
            continue;
        }
        int r = replay ? store_dead_letter_replay(e->store, t[i].recipient, t[i].seq)
                       : store_dead_letter_drop(e->store, t[i].recipient, t[i].seq);
        if (r == ASYLINK_OK)
            done++;
        else if (r != ASYLINK_E_NOT_FOUND) {
            rc = r; /* store full or broken: what was done stays done */
        }
    }
    if (replay && e->replayed && done)
        for (size_t i = 0; i < n; i++) /* targets are in recipient order: once per recipient */
            if (i + 1 == n || strcmp(t[i + 1].recipient, t[i].recipient))
                e->replayed(e->ctx, t[i].recipient);
    json_t *o = json_object(), *nf = json_array();
    bool ok = rc == ASYLINK_OK && o && nf;
    for (size_t i = 0; ok && i < q->n_ids; i++)
        if (!found[i] && (i == 0 || ids[i] != ids[i - 1]))
            ok = json_array_append_new(nf, json_integer((json_int_t)ids[i])) == 0;
    if (ok)
        ok = s_set_u64(o, replay ? "replayed" : "dropped", done) &&
             s_set(o, "not_found", json_incref(nf)) &&
             (!replay || s_set_u64(o, "expired", expired)) &&
             (!until_ms || !q->flag || s_set_u64(o, "later", later));
    size_t not_found = json_array_size(nf);
    json_decref(nf);
    free(ids);
    free(found);
    free(t);
    if (rc != ASYLINK_OK) {
        json_decref(o);
        return s_fail(a, rc, "%s stopped after %llu dead letters: %s", replay ? "replay" : "drop",
                      (unsigned long long)done, asylink_strerror(rc));
    }
    if (!ok) {
        json_decref(o);
        return s_fail(a, ASYLINK_E_NOMEM, "out of memory");
    }
    char newer[96] = "";
    if (later)
        snprintf(newer, sizeof newer, " later=%llu (dead-lettered after the request: left alone)",
                 (unsigned long long)later);
    snprintf(a->reason, sizeof a->reason, "node=%s %s=%llu not_found=%zu expired=%llu%s",
             q->node_id[0] ? q->node_id : "*", replay ? "replayed" : "dropped",
             (unsigned long long)done, not_found, (unsigned long long)expired, newer);
    a->body = o;
    return ASYLINK_OK;
}

/* ---- reload ---- */

static int s_reload_op(const admin_env *e, s_answer *a)
{
    admin_reload_result res;
    memset(&res, 0, sizeof res);
    char err[512] = "";
    int rc = e->reload(e->ctx, &res, err, sizeof err);
    if (rc != ASYLINK_OK)
        return s_fail(a, rc, "reload failed, the old trust and policy stay: %s", err);
    uint8_t *pol = NULL;
    size_t len = 0;
    if (e->policy_path && file_read(e->policy_path, S_POLICY_MAX, &pol, &len) == ASYLINK_OK) {
        uint8_t digest[32];
        crypto_generichash(digest, sizeof digest, pol, len, NULL, 0);
        sodium_bin2hex(res.policy_digest_hex, sizeof res.policy_digest_hex, digest, sizeof digest);
    }
    free(pol);
    json_t *o = json_object();
    bool ok = o && s_set_u64(o, "nodes", res.nodes) && s_set_u64(o, "revoked", res.revoked) &&
              s_set_u64(o, "crl_number", res.crl_number) &&
              s_set_u64(o, "sessions_dropped", res.sessions_dropped) &&
              s_set_str(o, "policy_digest_hex", res.policy_digest_hex);
    if (!ok) {
        json_decref(o);
        return s_fail(a, ASYLINK_E_NOMEM, "out of memory");
    }
    snprintf(a->reason, sizeof a->reason, "nodes=%u revoked=%u crl=%llu sessions_dropped=%u",
             res.nodes, res.revoked, (unsigned long long)res.crl_number, res.sessions_dropped);
    a->body = o;
    return ASYLINK_OK;
}

/* ---- four-eyes: destructive requests held for a second operator ---- */

/* Who sent the request: the node id and certificate serial ZAP bound the connection to. */
typedef struct {
    const char *who; /* NULL if unknown */
    uint64_t serial;
} s_caller;

/* The ids of a drop or replay, for a summary: "5, 7, 9" (cut with "..." when long). */
static void s_ids_text(const wire_admin_request *q, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < q->n_ids && used + 24 < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%llu", i ? ", " : "",
                                 (unsigned long long)q->ids[i]);
    if (used + 24 >= cap && cap > 4)
        snprintf(out + cap - 4, 4, "...");
}

/*
 * Whether four-eyes holds q, with the summary the confirming operator
 * reads. A replay is held only when one of its dead letters is PERSONAL.
 */
static bool s_needs_second(const admin_env *e, const wire_admin_request *q, char *summary,
                           size_t cap, s_answer *a)
{
    char ids[160];
    s_ids_text(q, ids, sizeof ids);
    const char *node = q->node_id[0] ? q->node_id : "every recipient";
    if (q->op == WIRE_ADMIN_PURGE) {
        admin_purge_summary(q, summary, cap);
        return true;
    }
    size_t n = 0, personal = 0;
    int rc = s_count_personal(e, q, &n, &personal);
    if (rc != ASYLINK_OK) {
        s_fail(a, rc, "the dead letters cannot be read");
        return false;
    }
    /* what the confirming operator approves: with --all, the dead letters there now
       (those dead-lettered later are left alone, s_dl_change_op) */
    const char *verb = q->op == WIRE_ADMIN_DEAD_LETTER_DROP ? "drop" : "replay";
    if (q->flag)
        snprintf(summary, cap, "%s every dead letter of %s: %zu, %zu PERSONAL", verb, node, n,
                 personal);
    else
        snprintf(summary, cap, "%s dead letters %s of %s: %zu, %zu PERSONAL", verb, ids, node, n,
                 personal);
    return q->op == WIRE_ADMIN_DEAD_LETTER_DROP || personal > 0;
}

/* Holds q for a second operator: the member's answer with only `pending` set. */
static int s_hold(const admin_env *e, const wire_admin_request *q, const s_caller *c,
                  const char *summary, s_answer *a)
{
    const approval_item *it = NULL;
    int rc = approval_hold(e->approvals, q, c->who, c->serial, e->now_ms, summary, &it);
    if (rc == ASYLINK_E_UNAVAILABLE)
        return s_fail(a, rc,
                      "four-eyes: %d requests already wait for confirmation; confirm or cancel "
                      "some first (asylink pending list)",
                      APPROVAL_MAX);
    if (rc != ASYLINK_OK)
        return s_fail(a, rc, "the request cannot be held: %s", asylink_strerror(rc));
    json_t *o = json_object();
    if (!o || !s_set(o, "pending", admin_pending_json(it))) {
        json_decref(o);
        return s_fail(a, ASYLINK_E_NOMEM, "out of memory");
    }
    char until[32], what[S_SUMMARY_ROOM];
    if (q->op == WIRE_ADMIN_PURGE) /* the summary quotes the operator's reason: not for the log */
        admin_purge_what(q, what, sizeof what);
    else
        snprintf(what, sizeof what, "%s", summary);
    /* what is held, in the log line and the ADMIN audit record: a cancelled or lapsed
       request is never executed, and this record is all the trail keeps of it */
    s_detail(a, "held as pending %llu until %s: %s; another operator must confirm it",
             (unsigned long long)it->id, clock_format_iso(it->expires_ms, until, sizeof until),
             what);
    a->body = o;
    return ASYLINK_OK;
}

/*
 * Executes a destructive request; approved_by (may be NULL) says who
 * approved it, held_ms when it was held (0 if it was not).
 */
static void s_exec(const admin_env *e, const wire_admin_request *q, const char *approved_by,
                   uint64_t held_ms, s_answer *a)
{
    switch (q->op) {
    case WIRE_ADMIN_PURGE:
        a->code = admin_purge(e, q, approved_by, &a->body, a->reason, sizeof a->reason);
        break;
    case WIRE_ADMIN_DEAD_LETTER_REPLAY: s_dl_change_op(e, q, true, held_ms, a); break;
    default: s_dl_change_op(e, q, false, held_ms, a); break;
    }
}

/* purge, dead_letter_drop, dead_letter_replay: held when four-eyes asks for it, else done. */
static void s_destructive(const admin_env *e, const wire_admin_request *q, const s_caller *c,
                          s_answer *a)
{
    char summary[S_SUMMARY_ROOM] = "";
    if (e->approvals && c->who) {
        bool held = s_needs_second(e, q, summary, sizeof summary, a);
        if (a->code != ASYLINK_OK)
            return;
        if (held) {
            s_hold(e, q, c, summary, a);
            return;
        }
    } else if (e->approvals) {
        s_fail(a, ASYLINK_E_PROTOCOL, "four-eyes: the operator's identity is unknown");
        return;
    }
    s_exec(e, q, NULL, 0, a);
}

/* confirm: executes (or cancels) a held request; not the asking operator's own. */
static int s_confirm_op(const admin_env *e, const wire_admin_request *q, const s_caller *c,
                        s_answer *a)
{
    unsigned long long id = (unsigned long long)q->seq_from;
    char when[32];
    if (!e->approvals)
        return s_fail(a, ASYLINK_E_NOT_FOUND, "four-eyes is off on this broker: nothing is held");
    const approval_item *it = NULL;
    int rc = approval_get(e->approvals, q->seq_from, e->now_ms, &it);
    if (rc == ASYLINK_E_NOT_FOUND)
        return s_fail(a, rc,
                      "no request %llu waits for confirmation (never held, already confirmed "
                      "or cancelled, or lapsed long ago)",
                      id);
    if (rc == ASYLINK_E_EXPIRED && !q->flag)
        return s_fail(a, rc, "request %llu lapsed unconfirmed at %s: ask again", id,
                      clock_format_iso(it->expires_ms, when, sizeof when));
    if (!q->flag && (!c->who || strcmp(c->who, it->op_node) == 0))
        return s_fail(a, ASYLINK_E_POLICY,
                      "four-eyes: %s asked for request %llu and cannot confirm it; another "
                      "operator must",
                      it->op_node, id);
    approval_item item;
    approval_take(e->approvals, q->seq_from, &item);
    json_t *o = json_object();
    bool ok = o && s_set(o, "request", admin_pending_json(&item));
    s_answer inner = {.code = ASYLINK_OK};
    if (ok && q->flag) {
        ok = s_set(o, "cancelled", json_boolean(true));
        s_detail(a, "pending %llu (%s asked by %s) cancelled", id, wire_admin_op_name(item.req.op),
                 item.op_node);
    } else if (ok) {
        char note[2 * NODE_ID_MAX + 128];
        snprintf(note, sizeof note,
                 "four-eyes: asked by %s (certificate %llu) as pending %llu, confirmed by %s "
                 "(certificate %llu)",
                 item.op_node, (unsigned long long)item.op_serial, id, c->who,
                 (unsigned long long)c->serial);
        s_exec(e, &item.req, note, item.created_ms, &inner);
        ok = inner.code != ASYLINK_OK ||
             s_set(o, wire_admin_op_name(item.req.op), json_incref(inner.body));
        s_detail(a, "pending %llu (%s asked by %s) confirmed: %s", id,
                 wire_admin_op_name(item.req.op), item.op_node, inner.reason);
    }
    json_decref(inner.body);
    approval_item_clear(&item);
    if (inner.code != ASYLINK_OK) {
        json_decref(o);
        return s_fail(a, inner.code, "confirmed pending %llu, which then failed: %s", id,
                      inner.reason);
    }
    if (!ok) {
        json_decref(o);
        return s_fail(a, ASYLINK_E_NOMEM, "out of memory");
    }
    a->body = o;
    return ASYLINK_OK;
}

/* pending: the held requests, oldest first. */
static int s_pending_op(const admin_env *e, s_answer *a)
{
    json_t *o = json_object(), *arr = json_array();
    size_t n = approval_count(e->approvals, e->now_ms);
    bool ok = o && arr;
    for (size_t i = 0; ok && i < n; i++)
        ok = json_array_append_new(
                 arr, admin_pending_json(approval_at(e->approvals, i, e->now_ms))) == 0;
    ok = ok && s_set(o, "requests", json_incref(arr)) &&
         s_set(o, "four_eyes", json_boolean(e->approvals != NULL)) &&
         s_set_u64(o, "confirm_within_ms", approval_within_ms(e->approvals));
    json_decref(arr);
    if (!ok) {
        json_decref(o);
        return s_fail(a, ASYLINK_E_NOMEM, "out of memory");
    }
    snprintf(a->reason, sizeof a->reason, "pending=%zu", n);
    a->body = o;
    return ASYLINK_OK;
}

/* ---- dispatch and transport ---- */

/* Runs one request of caller c into a. */
static void s_run(const admin_env *e, const wire_admin_request *q, const s_caller *c, s_answer *a)
{
    switch (q->op) {
    case WIRE_ADMIN_STATS: s_stats(e, a); break;
    case WIRE_ADMIN_NODES: s_nodes_op(e, q, a); break;
    case WIRE_ADMIN_QUEUES: s_queues_op(e, q, a); break;
    case WIRE_ADMIN_DEAD_LETTERS: s_dead_letters_op(e, q, a); break;
    case WIRE_ADMIN_DEAD_LETTER_REPLAY:
    case WIRE_ADMIN_DEAD_LETTER_DROP:
    case WIRE_ADMIN_PURGE: s_destructive(e, q, c, a); break;
    case WIRE_ADMIN_CONFIRM: s_confirm_op(e, q, c, a); break;
    case WIRE_ADMIN_PENDING: s_pending_op(e, a); break;
    case WIRE_ADMIN_TOPICS:
        a->code = admin_topics(e, q, &a->body, a->reason, sizeof a->reason);
        break;
    case WIRE_ADMIN_RELOAD: s_reload_op(e, a); break;
    case WIRE_ADMIN_AUDIT_TAIL:
        a->code = admin_audit_tail(e, q, &a->body, a->reason, sizeof a->reason);
        break;
    case WIRE_ADMIN_AUDIT_VERIFY:
        a->code = admin_audit_verify(e, q, &a->body, a->reason, sizeof a->reason);
        break;
    default:
        s_fail(a, ASYLINK_E_UNSUPPORTED_VERSION,
               "admin request '%s' is not implemented by this broker (see docs/OPERATIONS.md)",
               wire_admin_op_name(q->op));
        break;
    }
}

/* Sends [rid][frame] without blocking; drops the answer if the peer does not read. */
static void s_send_frame(void *sock, zmq_msg_t *rid, const uint8_t *buf, size_t len)
{
    if (zmq_send(sock, zmq_msg_data(rid), zmq_msg_size(rid), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return;
    zmq_send(sock, buf, len, ZMQ_DONTWAIT);
}

static void s_send_error(void *sock, zmq_msg_t *rid, uint64_t request_id, int code,
                         const char *reason)
{
    wire_cmd c = {.kind = WIRE_ERROR, .request_id = request_id};
    c.u.error.code = code;
    snprintf(c.u.error.reason, sizeof c.u.error.reason, "%s", reason);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode(&c, &buf, &len) == ASYLINK_OK)
        s_send_frame(sock, rid, buf, len);
    free(buf);
}

/* Sends the AdminResponse {member: a->body}; an Error if it cannot be built. */
static void s_send_answer(void *sock, zmq_msg_t *rid, uint64_t request_id, wire_admin_op op,
                          s_answer *a)
{
    json_t *resp = json_object();
    uint8_t *body = NULL, *frame = NULL;
    size_t blen = 0, flen = 0;
    char err[256] = "";
    int rc = resp && json_object_set_new(resp, wire_admin_op_name(op), a->body) == 0
                 ? ASYLINK_OK
                 : ASYLINK_E_NOMEM;
    a->body = NULL; /* owned by resp now (or released by the failed set) */
    if (rc == ASYLINK_OK)
        rc = pbjson_encode("asylink.v1.AdminResponse", resp, &body, &blen, err, sizeof err);
    if (rc == ASYLINK_OK)
        rc = wire_admin_response_frame(request_id, body, blen, &frame, &flen);
    if (rc == ASYLINK_OK) {
        s_send_frame(sock, rid, frame, flen);
    } else {
        LOG_ERROR("admin", "answer cannot be encoded", "op=%s code=%s error=%s",
                  wire_admin_op_name(op), asylink_err_name(rc), LOG_Q(err));
        a->code = rc;
        snprintf(a->reason, sizeof a->reason, "the answer cannot be encoded");
        s_send_error(sock, rid, request_id, rc, a->reason);
    }
    json_decref(resp);
    free(body);
    free(frame);
}

/* Reads one message: [rid][command] and nothing else. -1 when none is pending. */
static int s_read(void *sock, zmq_msg_t *rid, zmq_msg_t *cmd, int *frames)
{
    *frames = 0;
    if (zmq_msg_recv(rid, sock, ZMQ_DONTWAIT) < 0)
        return -1;
    *frames = 1;
    if (!zmq_msg_more(rid))
        return 0;
    if (zmq_msg_recv(cmd, sock, ZMQ_DONTWAIT) < 0)
        return 0;
    *frames = 2;
    bool more = zmq_msg_more(cmd);
    while (more) { /* drain and count extra frames (a message arrives whole) */
        zmq_msg_t x;
        zmq_msg_init(&x);
        int got = zmq_msg_recv(&x, sock, ZMQ_DONTWAIT);
        more = got >= 0 && zmq_msg_more(&x);
        zmq_msg_close(&x);
        if (got >= 0)
            ++*frames;
    }
    return 0;
}

/* Records an operator request (or its refusal) in the audit trail. */
static void s_audit_request(const admin_env *e, const char *who, uint64_t serial,
                            const char *request, int code, const char *detail)
{
    if (!e->audit)
        return;
    char actor[AUDITCHAIN_NAME_MAX + 1], text[AUDITCHAIN_DETAIL_MAX + 1];
    auditchain_clean_text(who, actor, sizeof actor);
    auditchain_clean_text(detail, text, sizeof text);
    auditchain_record r = {.kind = AUDIT_ADMIN,
                           .time_ms = e->now_ms,
                           .actor = actor[0] ? actor : NULL,
                           .actor_cert_serial = serial,
                           .request = request,
                           .code = code,
                           .detail = text};
    audit_note(e->audit, &r);
}

/* The certificate serial ZAP bound the operator's connection to, 0 if none. */
static uint64_t s_serial(zmq_msg_t *cmdm)
{
    const char *p = zmq_msg_gets(cmdm, AUTH_SERIAL_PROPERTY);
    char *end = NULL;
    unsigned long long n = p ? strtoull(p, &end, 10) : 0;
    return p && *p && end && !*end ? (uint64_t)n : 0;
}

/*
 * Answers one message from an operator. Returns true after a reload: the
 * env's trust and policy may then be gone, and the turn must end.
 */
static bool s_on_message(void *sock, const admin_env *e, zmq_msg_t *rid, zmq_msg_t *cmdm,
                         int frames)
{
    const char *who = frames >= 2 ? zmq_msg_gets(cmdm, "User-Id") : NULL;
    uint64_t serial = frames >= 2 ? s_serial(cmdm) : 0;
    char quoted[80];
    log_quote(quoted, sizeof quoted, who ? who : "?");
    if (frames != 2) {
        LOG_WARN("admin", "request refused", "operator=%s frames=%d code=MALFORMED", quoted,
                 frames);
        s_send_error(sock, rid, 0, ASYLINK_E_MALFORMED,
                     "an admin message is exactly one Command frame");
        s_audit_request(e, who, serial, "?", ASYLINK_E_MALFORMED, "not one Command frame");
        return false;
    }
    wire_cmd c;
    bool reloaded = false;
    int rc = wire_decode(zmq_msg_data(cmdm), zmq_msg_size(cmdm), &c);
    if (rc == ASYLINK_OK && c.kind != WIRE_ADMIN_REQUEST) {
        LOG_WARN("admin", "request refused", "operator=%s kind=%s code=PROTOCOL", quoted,
                 wire_kind_name(c.kind));
        s_send_error(sock, rid, c.request_id, ASYLINK_E_PROTOCOL,
                     "only AdminRequest is served on the admin endpoint");
        s_audit_request(e, who, serial, "?", ASYLINK_E_PROTOCOL, wire_kind_name(c.kind));
    } else if (rc != ASYLINK_OK) {
        LOG_WARN("admin", "request refused", "operator=%s code=%s", quoted, asylink_err_name(rc));
        s_send_error(sock, rid, 0, rc, "admin request does not decode");
        s_audit_request(e, who, serial, "?", rc, "admin request does not decode");
    } else {
        s_answer a = {.code = ASYLINK_OK};
        s_caller caller = {who, serial};
        audit_set_actor(e->audit, who, serial); /* the store changes it makes are the operator's */
        s_run(e, &c.u.admin, &caller, &a);
        audit_set_actor(e->audit, NULL, 0);
        if (a.code == ASYLINK_OK)
            s_send_answer(sock, rid, c.request_id, c.u.admin.op, &a);
        else
            s_send_error(sock, rid, c.request_id, a.code, a.reason);
        char detail[WIRE_REASON_MAX + 8];
        log_quote(detail, sizeof detail, a.reason);
        if (a.code == ASYLINK_OK)
            LOG_INFO("admin", "request done", "operator=%s op=%s result=OK detail=%s", quoted,
                     wire_admin_op_name(c.u.admin.op), detail);
        else
            LOG_WARN("admin", "request failed", "operator=%s op=%s result=%s detail=%s", quoted,
                     wire_admin_op_name(c.u.admin.op), asylink_err_name(a.code), detail);
        s_audit_request(e, who, serial, wire_admin_op_name(c.u.admin.op), a.code, a.reason);
        json_decref(a.body);
        reloaded = c.u.admin.op == WIRE_ADMIN_RELOAD;
    }
    wire_cmd_clear(&c);
    return reloaded;
}

void admin_handle_pending(void *sock, const admin_env *e)
{
    for (int i = 0; i < ADMIN_TURN_BUDGET; i++) {
        zmq_msg_t rid, cmd;
        zmq_msg_init(&rid);
        zmq_msg_init(&cmd);
        int frames = 0;
        int rc = s_read(sock, &rid, &cmd, &frames);
        bool reloaded = rc == 0 && s_on_message(sock, e, &rid, &cmd, frames);
        zmq_msg_close(&rid);
        zmq_msg_close(&cmd);
        if (rc != 0 || reloaded)
            return; /* after a reload the next turn builds the env anew */
    }
}

void *admin_socket_new(void *ctx, const char *endpoint, const uint8_t box_sk[32], char **bound)
{
    *bound = NULL;
    void *sock = zmq_socket(ctx, ZMQ_ROUTER);
    if (!sock)
        return NULL;
    int one = 1, hwm = 100, linger = 0, handshake_ms = 5000;
    int64_t maxmsg = ADMIN_MAX_FRAME;
    char last[256];
    size_t len = sizeof last;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, box_sk, 32) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, AUTH_ADMIN_DOMAIN, strlen(AUTH_ADMIN_DOMAIN)) != 0 ||
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(sock, ZMQ_HANDSHAKE_IVL, &handshake_ms, sizeof handshake_ms) != 0 ||
        zmq_bind(sock, endpoint) != 0 || zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, last, &len) != 0 ||
        !(*bound = strdup(last))) {
        int err = zmq_errno();
        zmq_close(sock);
        errno = err;
        return NULL;
    }
    return sock;
}
