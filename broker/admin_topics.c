/*
 * admin_topics.c — the topics member of the admin endpoint (admin.h): the
 * feed log grouped by topic (messages, envelope bytes, first and last
 * sequence, oldest acceptance time, retention from the policy) and, for
 * each topic, the durable subscriptions whose prefix covers it with their
 * lag. One walk of the feed log (store_feed_walk()) and one of the
 * subscriptions; the router thread is busy meanwhile, O(feed entries).
 */
#include "admin.h"

#include "asylink/errors.h"
#include "envelope.h"
#include "topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One topic of the feed log. */
typedef struct {
    char name[STORE_TOPIC_MAX + 1];
    uint64_t messages, bytes;
    uint64_t oldest_ms;
    uint64_t *seqs; /* its feed sequences, ascending (the log is walked in order) */
    size_t cap;
    json_t *subs; /* SubscriptionInfo array */
} s_topic;

/* Every topic under the request's prefix, sorted by name. */
typedef struct {
    s_topic *v;
    size_t n, cap;
    bool failed; /* out of memory */
} s_topics;

/* Index where name is or would go (binary search); *found says which. */
static size_t s_find(const s_topics *t, const char *name, bool *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->v[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* The topic called name, inserted in order if new; NULL when out of memory. */
static s_topic *s_topic_of(s_topics *t, const char *name)
{
    bool found;
    size_t i = s_find(t, name, &found);
    if (found)
        return &t->v[i];
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        s_topic *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof *t->v);
    memset(&t->v[i], 0, sizeof t->v[i]);
    snprintf(t->v[i].name, sizeof t->v[i].name, "%s", name);
    t->n++;
    return &t->v[i];
}

/* store_feed_walk() callback: counts the entry under its topic. */
static int s_on_entry(void *ctx, const store_feed_entry *e)
{
    s_topics *t = ctx;
    s_topic *x = s_topic_of(t, e->topic);
    if (x && x->messages == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 8;
        uint64_t *v = realloc(x->seqs, cap * sizeof *v);
        if (v) {
            x->seqs = v;
            x->cap = cap;
        } else {
            x = NULL;
        }
    }
    if (!x) {
        t->failed = true;
        return 1;
    }
    if (x->messages == 0 || e->accepted_ms < x->oldest_ms)
        x->oldest_ms = e->accepted_ms;
    x->seqs[x->messages++] = e->seq;
    x->bytes += e->envelope_len;
    return 0;
}

/* Entries of x with seq > cursor; *next the first of them (0 if none). */
static uint64_t s_after(const s_topic *x, uint64_t cursor, uint64_t *next)
{
    size_t lo = 0, hi = x->messages;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->seqs[mid] <= cursor)
            lo = mid + 1;
        else
            hi = mid;
    }
    *next = lo < x->messages ? x->seqs[lo] : 0;
    return x->messages - lo;
}

/* A SubscriptionInfo of (node, name, sub) for topic x. */
static json_t *s_sub_json(const admin_env *e, const char *node, const char *name,
                          const store_sub *sub, const s_topic *x)
{
    uint64_t next = 0, lag = s_after(x, sub->cursor, &next);
    const session *s = session_by_node(e->sessions, node);
    json_t *o = json_object();
    bool ok = o && admin_json_set(o, "node_id", json_string(node)) &&
              admin_json_set(o, "subscription", json_string(name)) &&
              admin_json_set(o, "topic_prefix", json_string(sub->prefix)) &&
              admin_json_set_u64(o, "next_sequence", next) && admin_json_set_u64(o, "lag", lag) &&
              admin_json_set(o, "connected", json_boolean(s && session_sub_find(s, name)));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Adds every durable subscription to the topics its prefix covers. */
static int s_add_subs(const admin_env *e, s_topics *t)
{
    char node[NODE_ID_MAX + 1] = "", name[STORE_SUB_NAME_MAX + 1] = "";
    char an[NODE_ID_MAX + 1] = "", aname[STORE_SUB_NAME_MAX + 1] = "";
    store_sub sub;
    int rc;
    while ((rc = store_sub_next(e->store, an, aname, node, name, &sub)) == ASYLINK_OK) {
        for (size_t i = 0; i < t->n; i++) {
            s_topic *x = &t->v[i];
            if (!topic_under(x->name, sub.prefix))
                continue;
            if (!x->subs && !(x->subs = json_array()))
                return ASYLINK_E_NOMEM;
            if (json_array_append_new(x->subs, s_sub_json(e, node, name, &sub, x)) != 0)
                return ASYLINK_E_NOMEM;
        }
        memcpy(an, node, sizeof an);
        memcpy(aname, name, sizeof aname);
    }
    return rc == ASYLINK_E_NOT_FOUND ? ASYLINK_OK : rc;
}

/* A TopicInfo of x. */
static json_t *s_topic_json(const admin_env *e, const s_topic *x)
{
    uint64_t retention = e->policy ? policy_retention_cap(e->policy, ENVELOPE_PUBLIC, 0, 0) : 0;
    json_t *o = json_object();
    bool ok = o && admin_json_set(o, "topic", json_string(x->name)) &&
              admin_json_set_u64(o, "messages", x->messages) && admin_json_set_u64(o, "size_bytes", x->bytes) &&
              admin_json_set_u64(o, "first_sequence", x->messages ? x->seqs[0] : 0) &&
              admin_json_set_u64(o, "last_sequence", x->messages ? x->seqs[x->messages - 1] : 0) &&
              admin_json_set_u64(o, "oldest_ms", x->oldest_ms) && admin_json_set_u64(o, "retention_ms", retention) &&
              admin_json_set(o, "subscriptions", x->subs ? json_incref(x->subs) : json_array());
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static void s_topics_free(s_topics *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].seqs);
        json_decref(t->v[i].subs);
    }
    free(t->v);
}

int admin_topics(const admin_env *e, const wire_admin_request *q, json_t **body, char *why,
                 size_t whylen)
{
    *body = NULL;
    s_topics t = {0};
    int rc = store_feed_walk(e->store, q->topic[0] ? q->topic : NULL, s_on_entry, &t);
    if (rc == ASYLINK_OK && t.failed)
        rc = ASYLINK_E_NOMEM;
    if (rc == ASYLINK_OK)
        rc = s_add_subs(e, &t);
    json_t *o = rc == ASYLINK_OK ? json_object() : NULL, *arr = json_array();
    bool ok = o && arr;
    for (size_t i = 0; ok && i < t.n && i < ADMIN_TOPICS_MAX; i++)
        ok = json_array_append_new(arr, s_topic_json(e, &t.v[i])) == 0;
    ok = ok && admin_json_set(o, "topics", json_incref(arr)) && admin_json_set_u64(o, "total", t.n);
    json_decref(arr);
    size_t n = t.n;
    s_topics_free(&t);
    if (rc != ASYLINK_OK || !ok) {
        json_decref(o);
        rc = rc != ASYLINK_OK ? rc : ASYLINK_E_NOMEM;
        snprintf(why, whylen, "the topic logs cannot be listed: %s", asylink_strerror(rc));
        return rc;
    }
    snprintf(why, whylen, "prefix=%s topics=%zu", q->topic[0] ? q->topic : "*", n);
    *body = o;
    return ASYLINK_OK;
}
