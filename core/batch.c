/*
 * batch.c — leaves, nodes, roots and audit paths of batch signatures.
 */
#include "batch.h"

#include "asylink/errors.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The largest power of two strictly below n (n >= 2). */
static uint32_t s_split(uint32_t n)
{
    uint32_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

size_t batch_depth(uint32_t size, uint32_t index)
{
    size_t d = 0;
    while (size > 1) {
        uint32_t k = s_split(size);
        if (index < k) {
            size = k;
        } else {
            index -= k;
            size -= k;
        }
        d++;
    }
    return d;
}

static void s_u32be(uint32_t v, uint8_t out[4])
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

void batch_leaf(const uint8_t salt[BATCH_SALT_LEN], uint32_t index,
                const uint8_t digest[BATCH_DIGEST_LEN], uint8_t out[BATCH_HASH_LEN])
{
    crypto_generichash_state st;
    uint8_t be[4];
    s_u32be(index, be);
    crypto_generichash_init(&st, NULL, 0, BATCH_HASH_LEN);
    crypto_generichash_update(&st, (const uint8_t *)BATCH_DOMAIN_LEAF, strlen(BATCH_DOMAIN_LEAF));
    crypto_generichash_update(&st, salt, BATCH_SALT_LEN);
    crypto_generichash_update(&st, be, sizeof be);
    crypto_generichash_update(&st, digest, BATCH_DIGEST_LEN);
    crypto_generichash_final(&st, out, BATCH_HASH_LEN);
}

void batch_node(const uint8_t salt[BATCH_SALT_LEN], const uint8_t left[BATCH_HASH_LEN],
                const uint8_t right[BATCH_HASH_LEN], uint8_t out[BATCH_HASH_LEN])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, BATCH_HASH_LEN);
    crypto_generichash_update(&st, (const uint8_t *)BATCH_DOMAIN_NODE, strlen(BATCH_DOMAIN_NODE));
    crypto_generichash_update(&st, salt, BATCH_SALT_LEN);
    crypto_generichash_update(&st, left, BATCH_HASH_LEN);
    crypto_generichash_update(&st, right, BATCH_HASH_LEN);
    crypto_generichash_final(&st, out, BATCH_HASH_LEN);
}

void batch_statement(const uint8_t salt[BATCH_SALT_LEN], uint32_t size,
                     const uint8_t root[BATCH_HASH_LEN], uint8_t out[BATCH_STATEMENT_LEN])
{
    crypto_generichash_state st;
    uint8_t be[4];
    crypto_generichash_init(&st, NULL, 0, BATCH_STATEMENT_LEN);
    crypto_generichash_update(&st, (const uint8_t *)BATCH_DOMAIN_STATEMENT,
                              strlen(BATCH_DOMAIN_STATEMENT));
    s_u32be(BATCH_SALT_LEN, be);
    crypto_generichash_update(&st, be, sizeof be);
    crypto_generichash_update(&st, salt, BATCH_SALT_LEN);
    s_u32be(size, be);
    crypto_generichash_update(&st, be, sizeof be);
    crypto_generichash_update(&st, root, BATCH_HASH_LEN);
    crypto_generichash_final(&st, out, BATCH_STATEMENT_LEN);
}

int batch_check_shape(size_t salt_len, uint32_t size, uint32_t index, size_t n_path,
                      const size_t *path_lens)
{
    if (salt_len != BATCH_SALT_LEN)
        return ASYLINK_E_BATCH_SALT;
    if (size == 1)
        return ASYLINK_E_BATCH_SINGLE;
    if (size == 0 || size > BATCH_MAX)
        return ASYLINK_E_BATCH_SIZE;
    if (index >= size)
        return ASYLINK_E_BATCH_INDEX;
    if (n_path != batch_depth(size, index))
        return ASYLINK_E_BATCH_PATH;
    for (size_t i = 0; i < n_path; i++)
        if (path_lens[i] != BATCH_HASH_LEN)
            return ASYLINK_E_BATCH_PATH;
    return ASYLINK_OK;
}

int batch_root_from_path(const uint8_t salt[BATCH_SALT_LEN], uint32_t size, uint32_t index,
                         const uint8_t digest[BATCH_DIGEST_LEN], const uint8_t *const *path,
                         size_t n_path, uint8_t root[BATCH_HASH_LEN])
{
    /* Top-down: is the sibling at each level on the right of our node? */
    bool right[BATCH_MAX_DEPTH];
    size_t levels = 0;
    uint32_t m = index, n = size;
    while (n > 1 && levels < BATCH_MAX_DEPTH) {
        uint32_t k = s_split(n);
        right[levels++] = m < k;
        if (m < k) {
            n = k;
        } else {
            m -= k;
            n -= k;
        }
    }
    if (n > 1 || levels != n_path)
        return ASYLINK_E_BATCH_PATH; /* batch_check_shape() was not called */
    uint8_t h[BATCH_HASH_LEN];
    batch_leaf(salt, index, digest, h);
    for (size_t i = 0; i < n_path; i++) {
        if (memcmp(path[i], h, BATCH_HASH_LEN) == 0)
            return ASYLINK_E_BATCH_DUPLICATE;
        if (right[levels - 1 - i])
            batch_node(salt, h, path[i], h);
        else
            batch_node(salt, path[i], h, h);
    }
    memcpy(root, h, BATCH_HASH_LEN);
    return ASYLINK_OK;
}

/* Working state of batch_build(). */
typedef struct {
    const uint8_t *salt;
    const uint8_t (*leaves)[BATCH_HASH_LEN];
    uint8_t *paths;
    uint8_t *depths;
} s_builder;

/* Appends h to the paths of leaves [lo, lo + n). */
static void s_append(s_builder *b, size_t lo, size_t n, const uint8_t h[BATCH_HASH_LEN])
{
    for (size_t i = lo; i < lo + n; i++) {
        uint8_t *p = b->paths + (i * BATCH_MAX_DEPTH + b->depths[i]) * BATCH_HASH_LEN;
        memcpy(p, h, BATCH_HASH_LEN);
        b->depths[i]++;
    }
}

/* MTH of leaves [lo, lo + n) into out; records the siblings on the way up. */
static void s_subtree(s_builder *b, size_t lo, size_t n, uint8_t out[BATCH_HASH_LEN])
{
    if (n == 1) {
        memcpy(out, b->leaves[lo], BATCH_HASH_LEN);
        return;
    }
    size_t k = s_split((uint32_t)n);
    uint8_t left[BATCH_HASH_LEN], right[BATCH_HASH_LEN];
    s_subtree(b, lo, k, left);
    s_subtree(b, lo + k, n - k, right);
    s_append(b, lo, k, right);
    s_append(b, lo + k, n - k, left);
    batch_node(b->salt, left, right, out);
}

int batch_build(const uint8_t salt[BATCH_SALT_LEN], const uint8_t (*digests)[BATCH_DIGEST_LEN],
                size_t n, uint8_t root[BATCH_HASH_LEN], uint8_t *paths, uint8_t *depths)
{
    if (n == 0)
        return ASYLINK_E_INVALID_ARG;
    if (n > BATCH_MAX)
        return ASYLINK_E_TOO_LARGE;
    uint8_t(*leaves)[BATCH_HASH_LEN] = malloc(n * sizeof *leaves);
    if (!leaves)
        return ASYLINK_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        batch_leaf(salt, (uint32_t)i, digests[i], leaves[i]);
        depths[i] = 0;
    }
    s_builder b = {.salt = salt,
                   .leaves = (const uint8_t(*)[BATCH_HASH_LEN])leaves,
                   .paths = paths,
                   .depths = depths};
    s_subtree(&b, 0, n, root);
    free(leaves);
    return ASYLINK_OK;
}
