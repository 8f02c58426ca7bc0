/*
 * bytes.h — fixed-width integer encodings for on-disk records and keys:
 * little-endian fields inside records, big-endian sequence numbers in LMDB
 * keys (so keys sort in numeric order).
 */
#ifndef ASYLINK_CORE_BYTES_H
#define ASYLINK_CORE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Copies the string src into dst of cap bytes (cap > 0), cut to cap - 1
 * bytes and always terminated: what snprintf(dst, cap, "%s", src) does,
 * without the formatting machinery (hot paths copy node ids and names).
 */
static inline void bytes_str_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memmove(dst, src, n);
    dst[n] = '\0';
}

/* Stores v little-endian in n bytes (n <= 8). */
static inline void bytes_put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Reads an n-byte little-endian number (n <= 8). */
static inline uint64_t bytes_get_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Stores v big-endian in 8 bytes. */
static inline void bytes_put_be64(uint8_t *p, uint64_t v)
{
    for (size_t i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Reads an 8-byte big-endian number. */
static inline uint64_t bytes_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/*
 * Checks a block of names as the stores keep recipient lists: exactly n
 * names of 1..max_len bytes, each followed by '\0', filling len bytes.
 */
static inline bool bytes_names_valid(const char *block, size_t len, uint32_t n, size_t max_len)
{
    size_t off = 0;
    uint32_t count = 0;
    while (off < len) {
        const char *nul = memchr(block + off, 0, len - off);
        size_t name_len = nul ? (size_t)(nul - (block + off)) : 0;
        if (!nul || name_len == 0 || name_len > max_len)
            return false;
        off += name_len + 1;
        count++;
    }
    return count == n;
}

#endif
