/*
 * flightix.h — an index of the I/O thread's in-flight Publishes by message
 * id, so that an answer finds its entry without scanning them all.
 *
 * The entries live in the caller's array (each starting with its 16-byte
 * message id, stride bytes apart); the index maps an id to its position:
 * open addressing with linear probing over a power-of-two table, keyed by
 * id bytes 8..15 (random in a UUIDv7), deletion by backward shift. The
 * array's order is the caller's; flightix_remove_swap() moves the last
 * entry into the hole, as the array did without the index.
 *
 * Robust to the array being emptied without flightix_clear(): a slot is
 * only believed when the entry it names carries the id, and a table that
 * fills up is rebuilt from the array.
 *
 * Threading: none (the I/O thread's own).
 */
#ifndef ASYLINK_CLIENT_FLIGHTIX_H
#define ASYLINK_CLIENT_FLIGHTIX_H

#include <stddef.h>
#include <stdint.h>

typedef struct flightix {
    uint32_t *slot; /* cap slots: 0 = empty, else 1 + the entry's position */
    size_t cap;     /* a power of two, or 0 */
    size_t used;    /* occupied slots */
} flightix;

/* Forgets every entry (the array was emptied). */
void flightix_clear(flightix *x);

/* Frees the table; x is empty and usable again. */
void flightix_free(flightix *x);

/* The position of id among base[0..n), or SIZE_MAX. */
size_t flightix_find(const flightix *x, const void *base, size_t stride, size_t n,
                     const uint8_t id[16]);

/* Indexes the entry just appended at position n - 1. 0, or -1 (no memory: not indexed). */
int flightix_add(flightix *x, const void *base, size_t stride, size_t n);

/* Removes the entry at pos from base[0..*n) (the last one moves there) and from the index. */
void flightix_remove_swap(flightix *x, void *base, size_t stride, size_t *n, size_t pos);

#endif
