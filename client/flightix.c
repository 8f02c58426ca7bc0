/*
 * flightix.c — the in-flight Publishes' index by message id (see flightix.h).
 */
#include "flightix.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_MIN_CAP 256

/* The entry at pos. */
static const uint8_t *s_at(const void *base, size_t stride, size_t pos)
{
    return (const uint8_t *)base + pos * stride;
}

/* The home slot of id. */
static size_t s_home(const flightix *x, const uint8_t id[16])
{
    uint64_t h;
    memcpy(&h, id + 8, sizeof h);
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (x->cap - 1);
}

/* The slot holding position pos's entry (id), or SIZE_MAX. */
static size_t s_slot_of(const flightix *x, const uint8_t id[16], size_t pos)
{
    if (!x->cap)
        return SIZE_MAX;
    for (size_t i = s_home(x, id), k = 0; k < x->cap; i = (i + 1) & (x->cap - 1), k++) {
        if (x->slot[i] == 0)
            return SIZE_MAX;
        if (x->slot[i] - 1 == pos)
            return i;
    }
    return SIZE_MAX;
}

/* Puts position pos (entry id) into the first free slot of its chain (room is there). */
static void s_put(flightix *x, const uint8_t id[16], size_t pos)
{
    size_t i = s_home(x, id);
    while (x->slot[i] != 0)
        i = (i + 1) & (x->cap - 1);
    x->slot[i] = (uint32_t)(pos + 1);
    x->used++;
}

/*
 * Empties slot i, moving later entries of the chain back (Knuth's algorithm
 * R). false if the chain names a position not in base[0..n) (the array was
 * emptied behind the index's back): the caller then rebuilds.
 */
static bool s_delete(flightix *x, const void *base, size_t stride, size_t n, size_t i)
{
    size_t mask = x->cap - 1;
    x->slot[i] = 0;
    x->used--;
    for (size_t j = (i + 1) & mask; x->slot[j] != 0; j = (j + 1) & mask) {
        size_t pos = x->slot[j] - 1;
        if (pos >= n)
            return false;
        size_t home = s_home(x, s_at(base, stride, pos));
        /* j's entry stays unless its home lies cyclically outside (i, j] */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            x->slot[i] = x->slot[j];
            x->slot[j] = 0;
            i = j;
        }
    }
    return true;
}

/* Indexes base[0..n) afresh in the table as it is (room is there). */
static void s_rebuild(flightix *x, const void *base, size_t stride, size_t n)
{
    memset(x->slot, 0, x->cap * sizeof *x->slot);
    x->used = 0;
    for (size_t pos = 0; pos < n; pos++)
        s_put(x, s_at(base, stride, pos), pos);
}

void flightix_clear(flightix *x)
{
    if (x->cap)
        memset(x->slot, 0, x->cap * sizeof *x->slot);
    x->used = 0;
}

void flightix_free(flightix *x)
{
    free(x->slot);
    memset(x, 0, sizeof *x);
}

size_t flightix_find(const flightix *x, const void *base, size_t stride, size_t n,
                     const uint8_t id[16])
{
    if (!x->cap)
        return SIZE_MAX;
    for (size_t i = s_home(x, id), k = 0; k < x->cap; i = (i + 1) & (x->cap - 1), k++) {
        if (x->slot[i] == 0)
            return SIZE_MAX;
        size_t pos = x->slot[i] - 1;
        if (pos < n && memcmp(s_at(base, stride, pos), id, 16) == 0)
            return pos;
    }
    return SIZE_MAX;
}

int flightix_add(flightix *x, const void *base, size_t stride, size_t n)
{
    if (n == 0 || n > UINT32_MAX - 1)
        return -1;
    if (2 * (x->used + 1) > x->cap) { /* keep the load at most one half: rebuild from the array */
        size_t cap = x->cap ? x->cap : S_MIN_CAP;
        while (cap < 4 * n)
            cap *= 2;
        uint32_t *slot = calloc(cap, sizeof *slot);
        if (!slot)
            return -1;
        free(x->slot);
        x->slot = slot;
        x->cap = cap;
        s_rebuild(x, base, stride, n - 1);
    }
    s_put(x, s_at(base, stride, n - 1), n - 1);
    return 0;
}

void flightix_remove_swap(flightix *x, void *base, size_t stride, size_t *n, size_t pos)
{
    size_t last = *n - 1;
    size_t i = s_slot_of(x, s_at(base, stride, pos), pos);
    bool ok = i != SIZE_MAX && s_delete(x, base, stride, *n, i);
    size_t j = ok && pos != last ? s_slot_of(x, s_at(base, stride, last), last) : SIZE_MAX;
    if (pos != last)
        memcpy((uint8_t *)base + pos * stride, s_at(base, stride, last), stride);
    *n = last;
    if (ok && pos != last && j != SIZE_MAX)
        x->slot[j] = (uint32_t)(pos + 1);
    else if (x->cap && (!ok || pos != last))
        s_rebuild(x, base, stride, *n); /* out of step with the array: indexed afresh */
}
