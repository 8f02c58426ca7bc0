/*
 * session.c — sessions and their in-flight sets.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

/* Index of the first in-flight seq >= seq. */
static size_t s_lower(const session *s, uint64_t seq)
{
    size_t lo = 0, hi = s->n_inflight;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->inflight[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
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

void session_close(session_table *t, session *s)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i] != s)
            continue;
        t->items[i] = t->items[--t->n];
        free(s->inflight);
        free(s->inflight_len);
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
