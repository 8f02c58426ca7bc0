/*
 * approval.c — the four-eyes table (approval.h): a small array of held
 * requests in the order they were asked.
 */
#include "approval.h"

#include "asylink/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct approval {
    approval_item items[APPROVAL_MAX]; /* held or lapsed-but-remembered, oldest first */
    size_t n;                          /* items in use */
    uint64_t within_ms;                /* confirmation period */
    uint64_t next_id;                  /* id of the next request held */
};

int approval_new(uint64_t confirm_within_ms, approval **out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    if (!confirm_within_ms)
        return ASYLINK_E_INVALID_ARG;
    approval *a = calloc(1, sizeof *a);
    if (!a)
        return ASYLINK_E_NOMEM;
    a->within_ms = confirm_within_ms;
    a->next_id = 1;
    *out = a;
    return ASYLINK_OK;
}

void approval_item_clear(approval_item *it)
{
    if (!it)
        return;
    free(it->req.ids);
    memset(it, 0, sizeof *it);
}

void approval_destroy(approval **self_p)
{
    if (!self_p || !*self_p)
        return;
    approval *a = *self_p;
    for (size_t i = 0; i < a->n; i++)
        approval_item_clear(&a->items[i]);
    free(a);
    *self_p = NULL;
}

uint64_t approval_within_ms(const approval *a)
{
    return a ? a->within_ms : 0;
}

/* Whether it has lapsed at now_ms. */
static bool s_lapsed(const approval_item *it, uint64_t now_ms)
{
    return now_ms >= it->expires_ms;
}

/* Removes item i, keeping the order. */
static void s_remove(approval *a, size_t i)
{
    memmove(&a->items[i], &a->items[i + 1], (a->n - i - 1) * sizeof a->items[0]);
    a->n--;
    memset(&a->items[a->n], 0, sizeof a->items[0]);
}

/* Forgets requests that lapsed more than one period ago. */
static void s_forget(approval *a, uint64_t now_ms)
{
    for (size_t i = a->n; i-- > 0;) {
        const approval_item *it = &a->items[i];
        if (now_ms >= it->expires_ms && now_ms - it->expires_ms >= a->within_ms) {
            free(a->items[i].req.ids);
            s_remove(a, i);
        }
    }
}

/* Copies text into dst (cap bytes), cut on a UTF-8 character boundary. */
static void s_copy_cut(char *dst, size_t cap, const char *text)
{
    size_t n = strlen(text ? text : "");
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, text ? text : "", n);
    dst[n] = 0;
}

int approval_hold(approval *a, const wire_admin_request *q, const char *op_node, uint64_t op_serial,
                  uint64_t now_ms, const char *summary, const approval_item **out)
{
    if (out)
        *out = NULL;
    if (!a || !q || !op_node || !out || (q->n_ids && !q->ids))
        return ASYLINK_E_INVALID_ARG;
    s_forget(a, now_ms);
    for (size_t i = 0; a->n == APPROVAL_MAX && i < a->n; i++) {
        if (s_lapsed(&a->items[i], now_ms)) { /* kept only to answer EXPIRED: make room */
            free(a->items[i].req.ids);
            s_remove(a, i);
        }
    }
    if (a->n == APPROVAL_MAX)
        return ASYLINK_E_UNAVAILABLE; /* every one of them is waiting (pending list shows them) */
    approval_item *it = &a->items[a->n];
    memset(it, 0, sizeof *it);
    it->req = *q;
    it->req.ids = NULL;
    if (q->n_ids) {
        it->req.ids = malloc(q->n_ids * sizeof *q->ids);
        if (!it->req.ids)
            return ASYLINK_E_NOMEM;
        memcpy(it->req.ids, q->ids, q->n_ids * sizeof *q->ids);
    }
    it->id = a->next_id++;
    s_copy_cut(it->op_node, sizeof it->op_node, op_node);
    it->op_serial = op_serial;
    it->created_ms = now_ms;
    it->expires_ms = now_ms > UINT64_MAX - a->within_ms ? UINT64_MAX : now_ms + a->within_ms;
    s_copy_cut(it->summary, sizeof it->summary, summary);
    a->n++;
    *out = it;
    return ASYLINK_OK;
}

/* Index of id, or -1. */
static long s_find(const approval *a, uint64_t id)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->items[i].id == id)
            return (long)i;
    return -1;
}

int approval_get(approval *a, uint64_t id, uint64_t now_ms, const approval_item **out)
{
    if (out)
        *out = NULL;
    if (!a || !out)
        return ASYLINK_E_INVALID_ARG;
    s_forget(a, now_ms);
    long i = s_find(a, id);
    if (i < 0)
        return ASYLINK_E_NOT_FOUND;
    *out = &a->items[i];
    return s_lapsed(*out, now_ms) ? ASYLINK_E_EXPIRED : ASYLINK_OK;
}

int approval_take(approval *a, uint64_t id, approval_item *out)
{
    if (!a || !out)
        return ASYLINK_E_INVALID_ARG;
    long i = s_find(a, id);
    if (i < 0)
        return ASYLINK_E_NOT_FOUND;
    *out = a->items[i]; /* the ids move with it */
    s_remove(a, (size_t)i);
    return ASYLINK_OK;
}

size_t approval_count(const approval *a, uint64_t now_ms)
{
    size_t n = 0;
    for (size_t i = 0; a && i < a->n; i++)
        n += !s_lapsed(&a->items[i], now_ms);
    return n;
}

const approval_item *approval_at(const approval *a, size_t i, uint64_t now_ms)
{
    for (size_t k = 0; a && k < a->n; k++) {
        if (s_lapsed(&a->items[k], now_ms))
            continue;
        if (i-- == 0)
            return &a->items[k];
    }
    return NULL;
}
