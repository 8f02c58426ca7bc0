/*
 * metrics.c — snapshots and their Prometheus, JSON and HTML renderings.
 */
#include "metrics.h"

#include "asylink/asylink.h"
#include "clock.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metrics {
    pthread_mutex_t lock;
    metrics_snapshot snap; /* current; nodes owned */
    bool have;             /* a snapshot was published */
    _Atomic uint64_t guard[METRICS_GUARD_COUNT];
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
    pthread_mutex_destroy(&m->lock);
    free(m);
    *self_p = NULL;
}

void metrics_publish(metrics *m, metrics_snapshot *snap)
{
    pthread_mutex_lock(&m->lock);
    free(m->snap.nodes);
    m->snap = *snap;
    m->have = true;
    pthread_mutex_unlock(&m->lock);
    snap->nodes = NULL;
    snap->n_nodes = 0;
}

uint64_t metrics_age_ms(metrics *m, uint64_t now_ms)
{
    pthread_mutex_lock(&m->lock);
    uint64_t age = m->have ? now_ms - m->snap.taken_ms : UINT64_MAX;
    pthread_mutex_unlock(&m->lock);
    return age;
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
    s_counter(t, "acked_total", "sequences acknowledged", r->acked);
    s_counter(t, "nacked_total", "sequences negatively acknowledged", r->nacked);
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

static void s_prom_nodes(s_text *t, const metrics_snapshot *s)
{
    s_add(t, "# HELP asylink_queue_depth messages waiting per recipient\n"
             "# TYPE asylink_queue_depth gauge\n");
    for (size_t i = 0; i < s->n_nodes; i++)
        s_add(t, "asylink_queue_depth{node=\"%s\"} %llu\n", s->nodes[i].node_id,
              (unsigned long long)s->nodes[i].depth);
    s_add(t, "# HELP asylink_queue_bytes envelope bytes waiting per recipient\n"
             "# TYPE asylink_queue_bytes gauge\n");
    for (size_t i = 0; i < s->n_nodes; i++)
        s_add(t, "asylink_queue_bytes{node=\"%s\"} %llu\n", s->nodes[i].node_id,
              (unsigned long long)s->nodes[i].bytes);
    s_add(t, "# HELP asylink_node_connected 1 when the node has a session\n"
             "# TYPE asylink_node_connected gauge\n");
    for (size_t i = 0; i < s->n_nodes; i++)
        s_add(t, "asylink_node_connected{node=\"%s\"} %d\n", s->nodes[i].node_id,
              s->nodes[i].connected ? 1 : 0);
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
    s_prom_counters(&t, s);
    s_prom_guards(&t, m);
    s_gauge(&t, "sessions", "open client sessions", s->sessions);
    s_gauge(&t, "store_messages", "stored message records", s->store.messages);
    s_gauge(&t, "store_queued", "queue entries, all recipients", s->store.queued);
    s_gauge(&t, "store_dead_letters", "dead letters held", s->store.dead_letters);
    s_gauge(&t, "store_map_bytes", "LMDB map size", s->store.map_size);
    s_gauge(&t, "store_used_bytes", "LMDB bytes in use", s->store.used_bytes);
    s_gauge(&t, "start_time_seconds", "broker start, Unix time", s->started_ms / 1000);
    s_prom_nodes(&t, s);
    pthread_mutex_unlock(&m->lock);
    return s_done(&t);
}

static json_t *s_json_nodes(const metrics_snapshot *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_nodes; i++) {
        const metrics_node *n = &s->nodes[i];
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:I, s:I, s:b, s:i, s:i}", "node_id", n->node_id, "depth",
                         (json_int_t)n->depth, "bytes", (json_int_t)n->bytes, "dead_letters",
                         (json_int_t)n->dead_letters, "connected", n->connected, "in_flight",
                         (int)n->in_flight, "credit", (int)n->credit));
    }
    return a;
}

char *metrics_render_json(metrics *m)
{
    pthread_mutex_lock(&m->lock);
    const metrics_snapshot *s = &m->snap;
    const router_stats *r = &s->stats;
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:I, s:s, s:i, s:i, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, "
        "s:{s:I, s:I, s:I, s:I, s:I}}",
        "broker_node_id", s->broker_node_id, "version", asylink_version(), "started_ms",
        (json_int_t)s->started_ms, "snapshot_ms", (json_int_t)s->taken_ms, "durability",
        s->durable ? "fsync" : "relaxed", "verify_workers", s->verify_workers, "sessions",
        (int)s->sessions, "counters", "published", (json_int_t)r->published, "accepted",
        (json_int_t)r->accepted, "duplicates", (json_int_t)r->duplicates, "rejected",
        (json_int_t)r->rejected, "delivered", (json_int_t)r->delivered, "acked",
        (json_int_t)r->acked, "nacked", (json_int_t)r->nacked, "dead_lettered",
        (json_int_t)r->dead_lettered, "expired", (json_int_t)r->expired, "commits",
        (json_int_t)r->commits, "store", "messages", (json_int_t)s->store.messages, "queued",
        (json_int_t)s->store.queued, "dead_letters", (json_int_t)s->store.dead_letters, "map_bytes",
        (json_int_t)s->store.map_size, "used_bytes", (json_int_t)s->store.used_bytes);
    if (o)
        json_object_set_new(o, "nodes", s_json_nodes(s));
    pthread_mutex_unlock(&m->lock);
    char *out = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return out;
}

char *metrics_render_html(metrics *m)
{
    s_text t = {0};
    char when[32];
    pthread_mutex_lock(&m->lock);
    const metrics_snapshot *s = &m->snap;
    s_add(
        &t,
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" "
        "content=\"5\"><title>asylinkd %s</title><style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .8em;"
        "text-align:right}th{background:#eee}td:first-child{text-align:left}</style></head><body>",
        s->broker_node_id);
    s_add(&t,
          "<h1>asylinkd %s &mdash; %s</h1><p>version %s, durability %s, %d verify workers, "
          "%zu sessions, snapshot %s</p>",
          asylink_version(), s->broker_node_id, asylink_version(), s->durable ? "fsync" : "relaxed",
          s->verify_workers, s->sessions, clock_format_iso(s->taken_ms, when, sizeof when));
    s_add(&t,
          "<h2>Counters</h2><table><tr><th>accepted</th><th>duplicates</th><th>rejected</th>"
          "<th>delivered</th><th>acked</th><th>dead-lettered</th><th>expired</th></tr><tr>"
          "<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td>"
          "<td>%llu</td></tr></table>",
          (unsigned long long)s->stats.accepted, (unsigned long long)s->stats.duplicates,
          (unsigned long long)s->stats.rejected, (unsigned long long)s->stats.delivered,
          (unsigned long long)s->stats.acked, (unsigned long long)s->stats.dead_lettered,
          (unsigned long long)s->stats.expired);
    s_add(&t, "<h2>Queues</h2><table><tr><th>node</th><th>waiting</th><th>bytes</th>"
              "<th>in flight</th><th>dead letters</th><th>connected</th></tr>");
    for (size_t i = 0; i < s->n_nodes; i++)
        s_add(&t,
              "<tr><td>%s</td><td>%llu</td><td>%llu</td><td>%u</td><td>%llu</td><td>%s</td></tr>",
              s->nodes[i].node_id, (unsigned long long)s->nodes[i].depth,
              (unsigned long long)s->nodes[i].bytes, s->nodes[i].in_flight,
              (unsigned long long)s->nodes[i].dead_letters, s->nodes[i].connected ? "yes" : "no");
    s_add(&t, "</table></body></html>\n");
    pthread_mutex_unlock(&m->lock);
    return s_done(&t);
}
