/*
 * metrics.c — snapshots and their Prometheus, JSON and HTML renderings.
 */
#include "metrics.h"

#include "asylink/errors.h"
#include "clock.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HISTORY 3660 /* one sample per snapshot (about a second): the last hour */

/* Counters at one snapshot, for rates and the chart. */
typedef struct {
    uint64_t at_ms, accepted, delivered, rejected;
} s_sample;

struct metrics {
    pthread_mutex_t lock;
    s_sample history[S_HISTORY]; /* ring */
    size_t n_history;            /* samples ever recorded */
    metrics_snapshot snap;       /* current; nodes owned */
    bool have;                   /* a snapshot was published */
    _Atomic uint64_t guard[METRICS_GUARD_COUNT];
    metrics_role role;             /* active, or standing by for the data directory */
    uint64_t role_since_ms;        /* when the role began (0 = not set: since start) */
    char node_id[NODE_ID_MAX + 1]; /* this broker, for renderings before any snapshot */
};

void metrics_guard_add(metrics *m, metrics_guard which, uint64_t n)
{
    if (m && which < METRICS_GUARD_COUNT)
        atomic_fetch_add(&m->guard[which], n);
}

uint64_t metrics_guard_get(metrics *m, metrics_guard which)
{
    return m && which < METRICS_GUARD_COUNT ? atomic_load(&m->guard[which]) : 0;
}

metrics *metrics_new(void)
{
    metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void metrics_destroy(metrics **self_p)
{
    if (!self_p || !*self_p)
        return;
    metrics *m = *self_p;
    free(m->snap.nodes);
    free(m->snap.feeds);
    pthread_mutex_destroy(&m->lock);
    free(m);
    *self_p = NULL;
}

void metrics_publish(metrics *m, metrics_snapshot *snap)
{
    pthread_mutex_lock(&m->lock);
    free(m->snap.nodes);
    free(m->snap.feeds);
    m->snap = *snap;
    m->have = true;
    m->history[m->n_history++ % S_HISTORY] = (s_sample){
        snap->taken_ms, snap->stats.accepted, snap->stats.delivered, snap->stats.rejected};
    pthread_mutex_unlock(&m->lock);
    snap->nodes = NULL;
    snap->n_nodes = 0;
    snap->feeds = NULL;
    snap->n_feeds = 0;
}

uint64_t metrics_age_ms(metrics *m, uint64_t now_ms)
{
    pthread_mutex_lock(&m->lock);
    uint64_t age = m->have ? now_ms - m->snap.taken_ms : UINT64_MAX;
    pthread_mutex_unlock(&m->lock);
    return age;
}

void metrics_set_role(metrics *m, metrics_role role, const char *node_id, uint64_t since_ms)
{
    pthread_mutex_lock(&m->lock);
    m->role = role;
    m->role_since_ms = since_ms;
    snprintf(m->node_id, sizeof m->node_id, "%s", node_id ? node_id : "");
    pthread_mutex_unlock(&m->lock);
}

metrics_role metrics_get_role(metrics *m)
{
    pthread_mutex_lock(&m->lock);
    metrics_role r = m->role;
    pthread_mutex_unlock(&m->lock);
    return r;
}

const char *metrics_role_name(metrics_role role)
{
    switch (role) {
    case METRICS_ROLE_STANDBY: return "standby";
    case METRICS_ROLE_STANDBY_NO_STORE: return "standby-no-store";
    case METRICS_ROLE_ENDPOINT_BUSY: return "endpoint-busy";
    default: return "active";
    }
}

/* The broker's node id: from the snapshot, else as set with the role. */
static const char *s_node_id(const metrics *m)
{
    return m->have ? m->snap.broker_node_id : m->node_id;
}

/* The store's durability; "unknown" before the first snapshot (a standby has no store yet). */
static const char *s_durability(const metrics *m)
{
    return !m->have ? "unknown" : m->snap.durable ? "fsync" : "relaxed";
}

/* A growing text buffer. */
typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} s_text;

__attribute__((format(printf, 2, 3))) static void s_add(s_text *t, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !t->failed; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->failed = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

static char *s_done(s_text *t)
{
    if (t->failed) {
        free(t->buf);
        return NULL;
    }
    return t->buf;
}

static void s_counter(s_text *t, const char *name, const char *help, uint64_t v)
{
    s_add(t, "# HELP asylink_%s %s\n# TYPE asylink_%s counter\nasylink_%s %llu\n", name, help, name,
          name, (unsigned long long)v);
}

static void s_gauge(s_text *t, const char *name, const char *help, uint64_t v)
{
    s_add(t, "# HELP asylink_%s %s\n# TYPE asylink_%s gauge\nasylink_%s %llu\n", name, help, name,
          name, (unsigned long long)v);
}

static void s_prom_counters(s_text *t, const metrics_snapshot *s)
{
    const router_stats *r = &s->stats;
    s_counter(t, "publish_total", "Publish commands received", r->published);
    s_counter(t, "accepted_total", "messages accepted and stored", r->accepted);
    s_counter(t, "duplicates_total", "publishes answered Accepted(duplicate)", r->duplicates);
    s_counter(t, "delivered_total", "Deliver commands sent", r->delivered);
    s_counter(t, "redelivered_total", "deliveries with attempt > 1", r->redelivered);
    s_counter(t, "acked_total",
              "acknowledgements that took effect (queue entry removed, feed "
              "delivery done)",
              r->acked);
    s_counter(t, "nacked_total",
              "Nacks that took effect (redelivery or dead letter stored, feed "
              "delivery released)",
              r->nacked);
    s_counter(t, "dead_lettered_total", "messages moved to dead letters", r->dead_lettered);
    s_counter(t, "expired_total", "queue entries removed at expiry", r->expired);
    s_counter(t, "commits_total", "store group commits", r->commits);
    s_counter(t, "commit_ops_total", "operations in group commits", r->commit_ops);
    s_counter(t, "sessions_opened_total", "sessions opened", r->sessions_opened);
    s_counter(t, "zap_admitted_total", "CURVE connections admitted", r->zap_admitted);
    s_counter(t, "zap_refused_total", "CURVE connections refused", r->zap_refused);
    s_counter(t, "protocol_errors_total", "Error commands sent", r->protocol_errors);
    s_counter(t, "reloads_total", "successful trust/policy reloads", r->reloads);
    s_counter(t, "reload_failures_total", "failed trust/policy reloads", r->reload_failures);
    s_add(t, "# HELP asylink_rejected_total publishes rejected, by error code\n"
             "# TYPE asylink_rejected_total counter\n");
    for (int c = 0; c < 64; c++)
        if (r->rejected_by_code[c])
            s_add(t, "asylink_rejected_total{code=\"%s\"} %llu\n", asylink_err_name(c),
                  (unsigned long long)r->rejected_by_code[c]);
}

/* Writes v into a label value, escaping backslash, quote and newline. */
static void s_label(s_text *t, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            s_add(t, "\\%c", *v);
        else if (*v == '\n')
            s_add(t, "\\n");
        else
            s_add(t, "%c", *v);
    }
}

/* One line "asylink_<name>{node="<id>"} " of a per-node series (the value follows). */
static void s_node_series(s_text *t, const char *name, const char *node_id)
{
    s_add(t, "asylink_%s{node=\"", name);
    s_label(t, node_id);
    s_add(t, "\"} ");
}

static void s_prom_nodes(s_text *t, const metrics_snapshot *s)
{
    s_add(t, "# HELP asylink_queue_depth messages waiting per recipient\n"
             "# TYPE asylink_queue_depth gauge\n");
    for (size_t i = 0; i < s->n_nodes; i++) {
        s_node_series(t, "queue_depth", s->nodes[i].node_id);
        s_add(t, "%llu\n", (unsigned long long)s->nodes[i].depth);
    }
    s_add(t, "# HELP asylink_queue_bytes envelope bytes waiting per recipient\n"
             "# TYPE asylink_queue_bytes gauge\n");
    for (size_t i = 0; i < s->n_nodes; i++) {
        s_node_series(t, "queue_bytes", s->nodes[i].node_id);
        s_add(t, "%llu\n", (unsigned long long)s->nodes[i].bytes);
    }
    s_add(t, "# HELP asylink_node_connected 1 when the node has a session\n"
             "# TYPE asylink_node_connected gauge\n");
    for (size_t i = 0; i < s->n_nodes; i++) {
        s_node_series(t, "node_connected", s->nodes[i].node_id);
        s_add(t, "%d\n", s->nodes[i].connected ? 1 : 0);
    }
}

/* Seconds from now_ms to a certificate's end (negative: ended). */
static long long s_seconds_left(uint64_t not_after_ms, uint64_t now_ms)
{
    return ((long long)not_after_ms - (long long)now_ms) / 1000;
}

/* What the status page shows, for alerts: ages, expiry, lag, commit latency. */
static void s_prom_status(s_text *t, const metrics_snapshot *s)
{
    s_add(t,
          "# HELP asylink_uptime_seconds seconds since the broker started\n"
          "# TYPE asylink_uptime_seconds gauge\nasylink_uptime_seconds %llu\n",
          (unsigned long long)((s->taken_ms - s->started_ms) / 1000));
    s_add(t,
          "# HELP asylink_store_max_map_bytes store.max_map_size\n"
          "# TYPE asylink_store_max_map_bytes gauge\nasylink_store_max_map_bytes %llu\n",
          (unsigned long long)s->max_map_size);
    s_add(t, "# HELP asylink_queue_oldest_age_seconds age of the oldest waiting message "
             "(0 = queue empty)\n# TYPE asylink_queue_oldest_age_seconds gauge\n");
    for (size_t i = 0; i < s->n_nodes; i++) {
        const metrics_node *n = &s->nodes[i];
        uint64_t age = n->oldest_ms && n->oldest_ms < s->taken_ms ? s->taken_ms - n->oldest_ms : 0;
        s_node_series(t, "queue_oldest_age_seconds", n->node_id);
        s_add(t, "%.3f\n", (double)age / 1000.0);
    }
    s_add(t, "# HELP asylink_cert_expiry_seconds seconds until the node's certificate expires "
             "(negative: expired)\n# TYPE asylink_cert_expiry_seconds gauge\n");
    for (size_t i = 0; i < s->n_nodes; i++) {
        s_node_series(t, "cert_expiry_seconds", s->nodes[i].node_id);
        s_add(t, "%lld\n", s_seconds_left(s->nodes[i].cert_not_after_ms, s->taken_ms));
    }
    if (s->broker_cert_not_after_ms)
        s_add(t,
              "# HELP asylink_broker_cert_expiry_seconds seconds until the broker's own "
              "certificate expires (negative: expired)\n"
              "# TYPE asylink_broker_cert_expiry_seconds gauge\n"
              "asylink_broker_cert_expiry_seconds %lld\n",
              s_seconds_left(s->broker_cert_not_after_ms, s->taken_ms));
    if (s->ca_cert_not_after_ms)
        s_add(t,
              "# HELP asylink_ca_cert_expiry_seconds seconds until the CA certificate expires "
              "(negative: expired)\n# TYPE asylink_ca_cert_expiry_seconds gauge\n"
              "asylink_ca_cert_expiry_seconds %lld\n",
              s_seconds_left(s->ca_cert_not_after_ms, s->taken_ms));
    s_add(t, "# HELP asylink_feed_lag_messages feed messages not yet acknowledged by a durable "
             "subscription (counted up to 100000)\n# TYPE asylink_feed_lag_messages gauge\n");
    for (size_t i = 0; i < s->n_feeds; i++) {
        const metrics_feed *f = &s->feeds[i];
        s_add(t, "asylink_feed_lag_messages{node=\"");
        s_label(t, f->node_id);
        s_add(t, "\",subscription=\"");
        s_label(t, f->name);
        s_add(t, "\",prefix=\"");
        s_label(t, f->prefix);
        s_add(t, "\"} %llu\n", (unsigned long long)f->lag);
    }
    const router_stats *r = &s->stats;
    s_add(t, "# HELP asylink_commit_duration_seconds durable group commit latency\n"
             "# TYPE asylink_commit_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < ROUTER_COMMIT_BUCKETS; b++) {
        cum += r->commit_us_buckets[b];
        if (b < ROUTER_COMMIT_BUCKETS - 1)
            s_add(t, "asylink_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
                  (double)router_commit_bounds_us[b] / 1e6, (unsigned long long)cum);
        else
            s_add(t, "asylink_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                  (unsigned long long)cum);
    }
    s_add(t,
          "asylink_commit_duration_seconds_sum %.6f\nasylink_commit_duration_seconds_count %llu\n",
          (double)r->commit_us_sum / 1e6, (unsigned long long)cum);
}

/* The defence counters (section "Resource limits" of docs/OPERATIONS.md). */
static void s_prom_guards(s_text *t, metrics *m)
{
    static const struct {
        const char *name, *help;
    } rows[METRICS_GUARD_COUNT] = {
        [METRICS_HTTP_REFUSED_PER_IP] = {"http_refused_per_address_total",
                                         "HTTP connections refused: per-address limit"},
        [METRICS_HTTP_REQUEST_TIMEOUT] = {"http_request_timeouts_total",
                                          "HTTP connections cut: request not complete in time"},
        [METRICS_HANDSHAKE_FAILED] = {"handshakes_refused_total",
                                      "client connections refused during the CURVE handshake"},
        [METRICS_HANDSHAKE_TIMEOUT] = {"handshakes_unfinished_total",
                                       "client connections closed before finishing the handshake"},
        [METRICS_SESSION_OVERFLOW] =
            {"sessions_overflowed_total",
             "sessions ended because their unread output passed the bound"},
    };
    for (int i = 0; i < METRICS_GUARD_COUNT; i++)
        s_counter(t, rows[i].name, rows[i].help, metrics_guard_get(m, (metrics_guard)i));
}

char *metrics_render_prometheus(metrics *m)
{
    s_text t = {0};
    pthread_mutex_lock(&m->lock);
    const metrics_snapshot *s = &m->snap;
    s_add(&t,
          "# HELP asylink_up 1 while the broker serves\n# TYPE asylink_up gauge\nasylink_up %d\n",
          m->have ? 1 : 0);
    s_gauge(&t, "standby", "1 while standing by for the data directory (asylinkd --standby)",
            m->role == METRICS_ROLE_STANDBY || m->role == METRICS_ROLE_STANDBY_NO_STORE ? 1 : 0);
    s_gauge(&t, "failover_blocked",
            "1 while a standby cannot serve: no store in its data directory (/healthz "
            "standby-no-store), or its endpoint taken by another process after the takeover "
            "(endpoint-busy)",
            m->role == METRICS_ROLE_STANDBY_NO_STORE || m->role == METRICS_ROLE_ENDPOINT_BUSY ? 1
                                                                                              : 0);
    s_prom_counters(&t, s);
    s_prom_guards(&t, m);
    s_prom_status(&t, s);
    s_gauge(&t, "sessions", "open client sessions", s->sessions);
    s_gauge(&t, "store_messages", "stored message records", s->store.messages);
    s_gauge(&t, "store_queued", "queue entries, all recipients", s->store.queued);
    s_gauge(&t, "store_dead_letters", "dead letters held", s->store.dead_letters);
    s_gauge(&t, "store_map_bytes", "LMDB map size", s->store.map_size);
    s_gauge(&t, "store_used_bytes", "LMDB bytes in use", s->store.used_bytes);
    s_gauge(&t, "start_time_seconds", "broker start, Unix time", s->started_ms / 1000);
    s_gauge(
        &t, "transit_bytes",
        "envelope bytes of the Publishes being verified or committed (limits.max_transit_bytes)",
        s->transit_bytes);
    s_gauge(&t, "transit_limit_bytes", "limits.max_transit_bytes", s->max_transit_bytes);
    s_prom_nodes(&t, s);
    pthread_mutex_unlock(&m->lock);
    return s_done(&t);
}

/* ---- history: rates and the chart ---------------------------------------- */

/* The newest sample at or before at_ms (the oldest kept if none); NULL if no samples. */
static const s_sample *s_sample_at(const metrics *m, uint64_t at_ms)
{
    size_t n = m->n_history < S_HISTORY ? m->n_history : S_HISTORY;
    const s_sample *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const s_sample *x = &m->history[(m->n_history - 1 - i) % S_HISTORY];
        best = x;
        if (x->at_ms <= at_ms)
            break;
    }
    return best;
}

enum { S_ACCEPTED = 0, S_DELIVERED = 1, S_REJECTED = 2 };

static uint64_t s_field(const s_sample *x, size_t field)
{
    return field == S_ACCEPTED ? x->accepted : field == S_DELIVERED ? x->delivered : x->rejected;
}

/* Messages per second of field over the window ending at the newest sample. */
static double s_rate(const metrics *m, uint64_t window_ms, size_t field)
{
    if (m->n_history < 2)
        return 0;
    const s_sample *now = &m->history[(m->n_history - 1) % S_HISTORY];
    const s_sample *then = s_sample_at(m, now->at_ms - window_ms);
    if (!then || now->at_ms <= then->at_ms)
        return 0;
    return (double)(s_field(now, field) - s_field(then, field)) * 1000.0 /
           (double)(now->at_ms - then->at_ms);
}

static json_t *s_json_nodes(const metrics_snapshot *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_nodes; i++) {
        const metrics_node *n = &s->nodes[i];
        json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I, s:b, s:i, s:i, s:I, s:I}",
                                           "node_id", n->node_id, "depth", (json_int_t)n->depth,
                                           "bytes", (json_int_t)n->bytes, "dead_letters",
                                           (json_int_t)n->dead_letters, "connected", n->connected,
                                           "in_flight", (int)n->in_flight, "credit", (int)n->credit,
                                           "oldest_accepted_ms", (json_int_t)n->oldest_ms,
                                           "cert_not_after_ms", (json_int_t)n->cert_not_after_ms));
    }
    return a;
}

static json_t *s_json_feeds(const metrics_snapshot *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_feeds; i++) {
        const metrics_feed *f = &s->feeds[i];
        json_array_append_new(a,
                              json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:b}", "node_id",
                                        f->node_id, "subscription", f->name, "prefix", f->prefix,
                                        "cursor", (json_int_t)f->cursor, "lag", (json_int_t)f->lag,
                                        "lag_capped", f->lag_capped, "open", f->open));
    }
    return a;
}

/* Rates, rejections by code and the recent ones. */
static json_t *s_json_activity(metrics *m, const metrics_snapshot *s)
{
    const router_stats *r = &s->stats;
    json_t *codes = json_object(), *recent = json_array();
    for (int c = 0; c < 64; c++)
        if (r->rejected_by_code[c])
            json_object_set_new(codes, asylink_err_name(c),
                                json_integer((json_int_t)r->rejected_by_code[c]));
    uint64_t n = r->n_recent < ROUTER_RECENT_REJECTIONS ? r->n_recent : ROUTER_RECENT_REJECTIONS;
    for (uint64_t i = 0; i < n; i++) {
        const router_rejection *x = &r->recent[(r->n_recent - 1 - i) % ROUTER_RECENT_REJECTIONS];
        json_array_append_new(recent,
                              json_pack("{s:I, s:s, s:s}", "at_ms", (json_int_t)x->at_ms, "node_id",
                                        x->node_id, "code", asylink_err_name(x->code)));
    }
    return json_pack("{s:f, s:f, s:f, s:f, s:o, s:o, s:I}", "accepted_per_s_1m",
                     s_rate(m, 60000, S_ACCEPTED), "accepted_per_s_1h",
                     s_rate(m, 3600000, S_ACCEPTED), "delivered_per_s_1m",
                     s_rate(m, 60000, S_DELIVERED), "rejected_per_s_1h",
                     s_rate(m, 3600000, S_REJECTED), "rejected_by_code", codes, "recent_rejections",
                     recent, "max_map_bytes", (json_int_t)s->max_map_size);
}

char *metrics_render_json(metrics *m)
{
    pthread_mutex_lock(&m->lock);
    const metrics_snapshot *s = &m->snap;
    const router_stats *r = &s->stats;
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:I, s:s, s:i, s:i, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, "
        "s:{s:I, s:I, s:I, s:I, s:I}}",
        "broker_node_id", s_node_id(m), "version", asylink_version(), "started_ms",
        (json_int_t)s->started_ms, "snapshot_ms", (json_int_t)s->taken_ms, "durability",
        s_durability(m), "verify_workers", s->verify_workers, "sessions", (int)s->sessions,
        "counters", "published", (json_int_t)r->published, "accepted", (json_int_t)r->accepted,
        "duplicates", (json_int_t)r->duplicates, "rejected", (json_int_t)r->rejected, "delivered",
        (json_int_t)r->delivered, "acked", (json_int_t)r->acked, "nacked", (json_int_t)r->nacked,
        "dead_lettered", (json_int_t)r->dead_lettered, "expired", (json_int_t)r->expired, "commits",
        (json_int_t)r->commits, "store", "messages", (json_int_t)s->store.messages, "queued",
        (json_int_t)s->store.queued, "dead_letters", (json_int_t)s->store.dead_letters, "map_bytes",
        (json_int_t)s->store.map_size, "used_bytes", (json_int_t)s->store.used_bytes);
    if (o) {
        json_object_set_new(o, "nodes", s_json_nodes(s));
        json_object_set_new(o, "feeds", s_json_feeds(s));
        json_object_set_new(o, "activity", s_json_activity(m, s));
        json_object_set_new(o, "role", json_string(metrics_role_name(m->role)));
        json_object_set_new(o, "role_since_ms", json_integer((json_int_t)m->role_since_ms));
        json_object_set_new(o, "transit_bytes", json_integer((json_int_t)s->transit_bytes));
        json_object_set_new(o, "max_transit_bytes", json_integer((json_int_t)s->max_transit_bytes));
        json_object_set_new(o, "broker_cert_not_after_ms",
                            json_integer((json_int_t)s->broker_cert_not_after_ms));
        json_object_set_new(o, "ca_cert_not_after_ms",
                            json_integer((json_int_t)s->ca_cert_not_after_ms));
    }
    pthread_mutex_unlock(&m->lock);
    char *out = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return out;
}

/* An inline SVG chart of accepted and delivered messages per minute over the last hour. */
static void s_html_chart(s_text *t, const metrics *m, uint64_t now_ms)
{
    double acc[60], dlv[60], top = 1;
    for (int k = 0; k < 60; k++) {
        const s_sample *a = s_sample_at(m, now_ms - (uint64_t)(60 - k) * 60000);
        const s_sample *b = s_sample_at(m, now_ms - (uint64_t)(59 - k) * 60000);
        bool ok = a && b && b->at_ms > a->at_ms;
        acc[k] = ok ? (double)(b->accepted - a->accepted) : 0;
        dlv[k] = ok ? (double)(b->delivered - a->delivered) : 0;
        top = acc[k] > top ? acc[k] : top;
        top = dlv[k] > top ? dlv[k] : top;
    }
    s_add(t,
          "<svg class=\"chart\" width=\"620\" height=\"150\" viewBox=\"0 0 620 150\" "
          "role=\"img\" aria-label=\"messages per minute, last hour\">"
          "<rect x=\"40\" y=\"10\" width=\"570\" height=\"110\" fill=\"#fafafa\" "
          "stroke=\"#ccc\"/><text x=\"36\" y=\"18\" text-anchor=\"end\" "
          "font-size=\"10\">%.0f</text><text x=\"36\" y=\"120\" text-anchor=\"end\" "
          "font-size=\"10\">0</text><text x=\"40\" y=\"135\" font-size=\"10\">-60 min"
          "</text><text x=\"610\" y=\"135\" text-anchor=\"end\" font-size=\"10\">now"
          "</text>",
          top);
    const double *series[2] = {acc, dlv};
    const char *colour[2] = {"#1f5fbf", "#2a9d3a"};
    for (int sidx = 0; sidx < 2; sidx++) {
        s_add(t, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
              colour[sidx]);
        for (int k = 0; k < 60; k++)
            s_add(t, "%.1f,%.1f ", 40 + 570.0 * k / 59.0, 120 - 110.0 * series[sidx][k] / top);
        s_add(t, "\"/>");
    }
    s_add(t, "<text x=\"60\" y=\"148\" font-size=\"11\" fill=\"#1f5fbf\">accepted / min"
             "</text><text x=\"200\" y=\"148\" font-size=\"11\" fill=\"#2a9d3a\">"
             "delivered / min</text></svg>");
}

/* ---- the HTML status page ------------------------------------------------- */

static const char s_css[] =
    "body{font-family:sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}"
    "h2{font-size:1.1em;margin-top:1.4em}table{border-collapse:collapse}"
    "td,th{border:1px solid #bbb;padding:.25em .7em;text-align:right}th{background:#eee}"
    "td:first-child,th:first-child,td.t,th.t{text-align:left}.warn{background:#ffd7a8}"
    ".bad{background:#f7b0b0}.ok{color:#2a7a2a}.muted{color:#777}"
    ".tiles{display:flex;gap:1em;flex-wrap:wrap}.tile{border:1px solid #bbb;padding:.5em 1em;"
    "min-width:9em}.tile b{display:block;font-size:1.3em}";

/* "3d 4h", "5h 12m", "42s": a duration for people. */
static const char *s_human(uint64_t ms, char *buf, size_t len)
{
    uint64_t sec = ms / 1000;
    if (sec >= 86400)
        snprintf(buf, len, "%llud %lluh", (unsigned long long)(sec / 86400),
                 (unsigned long long)(sec % 86400 / 3600));
    else if (sec >= 3600)
        snprintf(buf, len, "%lluh %llum", (unsigned long long)(sec / 3600),
                 (unsigned long long)(sec % 3600 / 60));
    else if (sec >= 60)
        snprintf(buf, len, "%llum %llus", (unsigned long long)(sec / 60),
                 (unsigned long long)(sec % 60));
    else
        snprintf(buf, len, "%llus", (unsigned long long)sec);
    return buf;
}

static void s_html_head(s_text *t, metrics *m, const metrics_snapshot *s)
{
    char when[32], up[32];
    double used =
        s->max_map_size ? 100.0 * (double)s->store.used_bytes / (double)s->max_map_size : 0;
    s_add(t,
          "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta "
          "http-equiv=\"refresh\" content=\"10\"><title>asylinkd %s status</title><style>%s"
          "</style></head><body><h1>asylinkd %s &mdash; %s</h1><p class=\"muted\">version "
          "%s, durability %s, %d verify workers, snapshot %s (UTC)</p>",
          s_node_id(m), s_css, s_node_id(m), metrics_role_name(m->role), asylink_version(),
          s_durability(m), s->verify_workers, clock_format_iso(s->taken_ms, when, sizeof when));
    s_add(t,
          "<div class=\"tiles\"><div class=\"tile\">uptime<b>%s</b></div>"
          "<div class=\"tile\">sessions<b>%zu</b></div>"
          "<div class=\"tile\">accepted/s, last minute<b>%.1f</b></div>"
          "<div class=\"tile\">accepted/s, last hour<b>%.2f</b></div>"
          "<div class=\"tile\">delivered/s, last minute<b>%.1f</b></div>"
          "<div class=\"tile\">rejected/s, last hour<b>%.2f</b></div>"
          "<div class=\"tile%s\">store use<b>%.1f %%</b>of %llu MiB</div>"
          "<div class=\"tile\">in transit<b>%.1f MiB</b>of %llu MiB</div></div>",
          s_human(s->taken_ms - s->started_ms, up, sizeof up), s->sessions,
          s_rate(m, 60000, S_ACCEPTED), s_rate(m, 3600000, S_ACCEPTED),
          s_rate(m, 60000, S_DELIVERED), s_rate(m, 3600000, S_REJECTED),
          used >= 90   ? " bad"
          : used >= 75 ? " warn"
                       : "",
          used, (unsigned long long)(s->max_map_size >> 20),
          (double)s->transit_bytes / (1024.0 * 1024.0),
          (unsigned long long)(s->max_transit_bytes >> 20));
    s_add(t, "<h2>Messages per minute, last hour</h2>");
    s_html_chart(t, m, s->taken_ms);
}

/*
 * Writes v as HTML text (& < > " ' escaped). Node ids, subscription names
 * and topic prefixes are restricted to characters that need none today;
 * the page does not rely on it.
 */
static void s_html_text(s_text *t, const char *v)
{
    for (; *v; v++) {
        switch (*v) {
        case '&': s_add(t, "&amp;"); break;
        case '<': s_add(t, "&lt;"); break;
        case '>': s_add(t, "&gt;"); break;
        case '"': s_add(t, "&quot;"); break;
        case '\'': s_add(t, "&#39;"); break;
        default: s_add(t, "%c", *v);
        }
    }
}

/* A certificate's end for the page: its class ("bad" ended, "warn" within 30 days) and text. */
static const char *s_html_expiry(uint64_t not_after_ms, uint64_t now_ms, char *buf, size_t len)
{
    if (not_after_ms <= now_ms) {
        snprintf(buf, len, "expired");
        return "bad";
    }
    uint64_t remain = not_after_ms - now_ms;
    s_human(remain, buf, len);
    return remain < 30ull * 86400000 ? "warn" : "";
}

/* The certificates every node relies on: the broker's own and the CA's. */
static void s_html_certs(s_text *t, const metrics_snapshot *s)
{
    char own[32], ca[32];
    if (!s->broker_cert_not_after_ms || !s->ca_cert_not_after_ms)
        return; /* no snapshot yet (a standby) */
    const char *own_cls = s_html_expiry(s->broker_cert_not_after_ms, s->taken_ms, own, sizeof own);
    const char *ca_cls = s_html_expiry(s->ca_cert_not_after_ms, s->taken_ms, ca, sizeof ca);
    s_add(t,
          "<p>Certificates: the broker's expires in <b class=\"%s\">%s</b>, the CA's in "
          "<b class=\"%s\">%s</b>.</p>",
          own_cls, own, ca_cls, ca);
}

static void s_html_queues(s_text *t, const metrics_snapshot *s)
{
    char age[32], left[32];
    s_add(t, "<h2>Nodes and queues</h2><table><tr><th>node</th><th>connected</th>"
             "<th>waiting</th><th>bytes</th><th>oldest waiting</th><th>in flight</th>"
             "<th>dead letters</th><th>certificate expires in</th></tr>");
    for (size_t i = 0; i < s->n_nodes; i++) {
        const metrics_node *n = &s->nodes[i];
        uint64_t oldest =
            n->oldest_ms && n->oldest_ms < s->taken_ms ? s->taken_ms - n->oldest_ms : 0;
        const char *cls = s_html_expiry(n->cert_not_after_ms, s->taken_ms, left, sizeof left);
        s_add(t, "<tr><td>");
        s_html_text(t, n->node_id);
        s_add(t,
              "</td><td class=\"%s\">%s</td><td>%llu</td><td>%llu</td>"
              "<td class=\"%s\">%s</td><td>%u</td><td class=\"%s\">%llu</td>"
              "<td class=\"%s\">%s</td></tr>",
              n->connected ? "ok" : "muted", n->connected ? "yes" : "no",
              (unsigned long long)n->depth, (unsigned long long)n->bytes,
              oldest > 3600000 ? "warn" : "", n->oldest_ms ? s_human(oldest, age, sizeof age) : "-",
              n->in_flight, n->dead_letters ? "warn" : "", (unsigned long long)n->dead_letters, cls,
              left);
    }
    s_add(t, "</table>");
}

static void s_html_feeds(s_text *t, const metrics_snapshot *s)
{
    s_add(t, "<h2>Feeds and subscriptions</h2>");
    if (!s->n_feeds) {
        s_add(t, "<p class=\"muted\">no durable subscriptions</p>");
        return;
    }
    s_add(t, "<table><tr><th>subscriber</th><th class=\"t\">subscription</th>"
             "<th class=\"t\">topic prefix</th>"
             "<th>open</th><th>lag (messages)</th></tr>");
    for (size_t i = 0; i < s->n_feeds; i++) {
        const metrics_feed *f = &s->feeds[i];
        s_add(t, "<tr><td>");
        s_html_text(t, f->node_id);
        s_add(t, "</td><td class=\"t\">");
        s_html_text(t, f->name);
        s_add(t, "</td><td class=\"t\">");
        s_html_text(t, f->prefix);
        s_add(t, "</td><td class=\"%s\">%s</td><td class=\"%s\">%s%llu</td></tr>",
              f->open ? "ok" : "muted", f->open ? "yes" : "no", f->lag >= 1000 ? "warn" : "",
              f->lag_capped ? "&ge; " : "", (unsigned long long)f->lag);
    }
    s_add(t, "</table>");
}

static void s_html_rejections(s_text *t, const metrics_snapshot *s)
{
    const router_stats *r = &s->stats;
    char when[32];
    s_add(t, "<h2>Rejections by code</h2>");
    if (!r->rejected) {
        s_add(t, "<p class=\"muted\">none since start</p>");
    } else {
        s_add(t, "<table><tr><th>code</th><th>count</th></tr>");
        for (int c = 0; c < 64; c++)
            if (r->rejected_by_code[c])
                s_add(t, "<tr><td>%s</td><td>%llu</td></tr>", asylink_err_name(c),
                      (unsigned long long)r->rejected_by_code[c]);
        s_add(t, "</table>");
    }
    if (!r->n_recent)
        return;
    s_add(t, "<h2>Recent rejections</h2><table><tr><th>time (UTC)</th><th class=\"t\">node</th>"
             "<th class=\"t\">code</th></tr>");
    uint64_t n = r->n_recent < ROUTER_RECENT_REJECTIONS ? r->n_recent : ROUTER_RECENT_REJECTIONS;
    for (uint64_t i = 0; i < n; i++) {
        const router_rejection *x = &r->recent[(r->n_recent - 1 - i) % ROUTER_RECENT_REJECTIONS];
        s_add(t, "<tr><td>%s</td><td class=\"t\">", clock_format_iso(x->at_ms, when, sizeof when));
        s_html_text(t, x->node_id[0] ? x->node_id : "-");
        s_add(t, "</td><td class=\"t\">%s</td></tr>", asylink_err_name(x->code));
    }
    s_add(t, "</table>");
}

char *metrics_render_html(metrics *m)
{
    s_text t = {0};
    pthread_mutex_lock(&m->lock);
    const metrics_snapshot *s = &m->snap;
    s_html_head(&t, m, s);
    s_html_certs(&t, s);
    s_html_queues(&t, s);
    s_html_feeds(&t, s);
    s_html_rejections(&t, s);
    s_add(&t, "<p class=\"muted\">Metadata only: node ids, counts and sizes; never payloads. "
              "Machine-readable: <a href=\"/status.json\">/status.json</a>, "
              "<a href=\"/metrics\">/metrics</a>.</p></body></html>\n");
    pthread_mutex_unlock(&m->lock);
    return s_done(&t);
}
