/*
 * session.c — sessions and their in-flight sets.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

/* Index of the first of the n sorted seqs a[] that is >= seq. */
static size_t s_lower_bound(const uint64_t *a, size_t n, uint64_t seq)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of the first in-flight seq >= seq. */
static size_t s_lower(const session *s, uint64_t seq)
{
    return s_lower_bound(s->inflight, s->n_inflight, seq);
}

bool session_inflight_has(const session *s, uint64_t seq)
{
    size_t i = s_lower(s, seq);
    return i < s->n_inflight && s->inflight[i] == seq;
}

int session_inflight_add(session *s, uint64_t seq, uint64_t len)
{
    if (s->n_inflight == s->cap_inflight) {
        size_t cap = s->cap_inflight ? 2 * s->cap_inflight : 64;
        uint64_t *a = realloc(s->inflight, cap * sizeof *a);
        if (!a)
            return -1;
        s->inflight = a;
        uint64_t *b = realloc(s->inflight_len, cap * sizeof *b);
        if (!b)
            return -1;
        s->inflight_len = b;
        s->cap_inflight = cap;
    }
    size_t i = s_lower(s, seq);
    size_t tail = s->n_inflight - i;
    memmove(s->inflight + i + 1, s->inflight + i, tail * sizeof *s->inflight);
    memmove(s->inflight_len + i + 1, s->inflight_len + i, tail * sizeof *s->inflight_len);
    s->inflight[i] = seq;
    s->inflight_len[i] = len;
    s->n_inflight++;
    s->inflight_bytes += len;
    return 0;
}

bool session_inflight_remove(session *s, uint64_t seq)
{
    size_t i = s_lower(s, seq);
    if (i >= s->n_inflight || s->inflight[i] != seq)
        return false;
    s->inflight_bytes -= s->inflight_len[i];
    size_t tail = s->n_inflight - i - 1;
    memmove(s->inflight + i, s->inflight + i + 1, tail * sizeof *s->inflight);
    memmove(s->inflight_len + i, s->inflight_len + i + 1, tail * sizeof *s->inflight_len);
    s->n_inflight--;
    return true;
}

size_t session_inflight_remove_many(session *s, const uint64_t *seqs, size_t n)
{
    if (n == 1)
        return session_inflight_remove(s, seqs[0]) ? 1 : 0;
    /* mark (length UINT64_MAX: no envelope is that long), then close the gaps in one pass */
    size_t removed = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = s_lower(s, seqs[k]);
        if (i >= s->n_inflight || s->inflight[i] != seqs[k] || s->inflight_len[i] == UINT64_MAX)
            continue;
        s->inflight_bytes -= s->inflight_len[i];
        s->inflight_len[i] = UINT64_MAX;
        removed++;
    }
    if (!removed)
        return 0;
    size_t w = 0;
    for (size_t i = 0; i < s->n_inflight; i++) {
        if (s->inflight_len[i] == UINT64_MAX)
            continue;
        s->inflight[w] = s->inflight[i];
        s->inflight_len[w] = s->inflight_len[i];
        w++;
    }
    s->n_inflight = w;
    return removed;
}

/* Index of the first settled seq >= seq. */
static size_t s_settled_lower(const session *s, uint64_t seq)
{
    return s_lower_bound(s->settled, s->n_settled, seq);
}

int session_settled_add(session *s, uint64_t seq)
{
    size_t i = s_settled_lower(s, seq);
    if (i < s->n_settled && s->settled[i] == seq)
        return 0;
    if (s->n_settled == s->cap_settled) {
        size_t cap = s->cap_settled ? 2 * s->cap_settled : 16;
        uint64_t *a = realloc(s->settled, cap * sizeof *a);
        if (!a)
            return -1;
        s->settled = a;
        s->cap_settled = cap;
    }
    memmove(s->settled + i + 1, s->settled + i, (s->n_settled - i) * sizeof *s->settled);
    s->settled[i] = seq;
    s->n_settled++;
    return 0;
}

bool session_settled_take(session *s, uint64_t seq)
{
    size_t i = s_settled_lower(s, seq);
    if (i >= s->n_settled || s->settled[i] != seq)
        return false;
    memmove(s->settled + i, s->settled + i + 1, (s->n_settled - i - 1) * sizeof *s->settled);
    s->n_settled--;
    return true;
}

void session_rescan(session *s)
{
    s->cursor = 0;
    s->retry_at_ms = 0;
    s->n_settled = 0;
}

void session_output_hold(session_output *o, uint64_t len)
{
    atomic_fetch_add(&o->refs, 1);
    atomic_fetch_add(&o->queued, len);
}

void session_output_release(session_output *o, uint64_t len)
{
    atomic_fetch_sub(&o->queued, len);
    if (atomic_fetch_sub(&o->refs, 1) == 1)
        free(o);
}

session *session_open(session_table *t, const uint8_t *rid, size_t rid_len, const cert *c,
                      uint64_t now_ms)
{
    if (rid_len > SESSION_RID_MAX)
        return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        session **items = realloc(t->items, cap * sizeof *items);
        if (!items)
            return NULL;
        t->items = items;
        t->cap = cap;
    }
    session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->output = calloc(1, sizeof *s->output);
    if (!s->output) {
        free(s);
        return NULL;
    }
    atomic_init(&s->output->refs, 1);
    s->id = ++t->next_id;
    memcpy(s->rid, rid, rid_len);
    s->rid_len = rid_len;
    memcpy(s->node_id, c->node_id, strlen(c->node_id) + 1);
    s->roles = c->roles;
    s->cert_serial = c->serial;
    s->since_ms = s->last_recv_ms = now_ms;
    t->items[t->n++] = s;
    return s;
}

session_sub *session_sub_find(const session *s, const char *name)
{
    for (size_t i = 0; i < s->n_subs; i++)
        if (strcmp(s->subs[i]->name, name) == 0)
            return s->subs[i];
    return NULL;
}

session_sub *session_sub_add(session *s, const char *name, const char *prefix, uint64_t cursor)
{
    if (s->n_subs == SESSION_MAX_SUBS || strlen(name) > WIRE_NAME_MAX || strlen(prefix) > 255)
        return NULL;
    session_sub *sub = calloc(1, sizeof *sub);
    if (!sub)
        return NULL;
    memcpy(sub->name, name, strlen(name) + 1);
    memcpy(sub->prefix, prefix, strlen(prefix) + 1);
    sub->cursor = sub->scan = cursor;
    s->subs[s->n_subs++] = sub;
    return sub;
}

void session_sub_remove(session *s, session_sub *sub)
{
    for (size_t i = 0; i < s->n_subs; i++) {
        if (s->subs[i] != sub)
            continue;
        for (size_t k = 0; k < sub->n_items; k++) {
            if (sub->items[k].retry_at_ms == 0) {
                s->feed_inflight--;
                s->feed_inflight_bytes -= sub->items[k].len;
            }
        }
        s->subs[i] = s->subs[--s->n_subs];
        free(sub->items);
        free(sub);
        return;
    }
}

long session_sub_item(const session_sub *sub, uint64_t seq)
{
    size_t lo = 0, hi = sub->n_items;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sub->items[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sub->n_items && sub->items[lo].seq == seq ? (long)lo : -1;
}

int session_sub_item_add(session *s, session_sub *sub, uint64_t seq, uint64_t len)
{
    if (sub->n_items == sub->cap_items) {
        size_t cap = sub->cap_items ? 2 * sub->cap_items : 16;
        session_feed_item *a = realloc(sub->items, cap * sizeof *a);
        if (!a)
            return -1;
        sub->items = a;
        sub->cap_items = cap;
    }
    size_t i = sub->n_items;
    while (i > 0 && sub->items[i - 1].seq > seq)
        i--;
    memmove(sub->items + i + 1, sub->items + i, (sub->n_items - i) * sizeof *sub->items);
    sub->items[i] = (session_feed_item){.seq = seq, .len = len, .retry_at_ms = 0, .attempts = 1};
    sub->n_items++;
    s->feed_inflight++;
    s->feed_inflight_bytes += len;
    return 0;
}

void session_sub_item_remove(session *s, session_sub *sub, size_t i)
{
    if (i >= sub->n_items)
        return;
    if (sub->items[i].retry_at_ms == 0) {
        s->feed_inflight--;
        s->feed_inflight_bytes -= sub->items[i].len;
    }
    memmove(sub->items + i, sub->items + i + 1, (sub->n_items - i - 1) * sizeof *sub->items);
    sub->n_items--;
}

uint64_t session_sub_done(const session_sub *sub)
{
    if (sub->n_items && sub->items[0].seq - 1 < sub->scan)
        return sub->items[0].seq - 1;
    return sub->scan;
}

void session_close(session_table *t, session *s)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i] != s)
            continue;
        t->items[i] = t->items[--t->n];
        while (s->n_subs > 0)
            session_sub_remove(s, s->subs[s->n_subs - 1]);
        free(s->inflight);
        free(s->inflight_len);
        free(s->settled);
        wire_packer_free(&s->pack);
        session_output_release(s->output, 0);
        free(s);
        return;
    }
}

session *session_by_rid(const session_table *t, const uint8_t *rid, size_t rid_len)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i]->rid_len == rid_len && memcmp(t->items[i]->rid, rid, rid_len) == 0)
            return t->items[i];
    return NULL;
}

session *session_by_node(const session_table *t, const char *node_id)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->items[i]->node_id, node_id) == 0)
            return t->items[i];
    return NULL;
}

session *session_by_id(const session_table *t, uint64_t id)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i]->id == id)
            return t->items[i];
    return NULL;
}

void session_table_clear(session_table *t)
{
    while (t->n > 0)
        session_close(t, t->items[t->n - 1]);
    free(t->items);
    t->items = NULL;
    t->cap = 0;
}
