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

/* ---- the walk cache ---- */

#define S_TREES                                                                                    \
    8 /* batches remembered at once (a worker sees several senders' batches interleaved) */

/* One batch's known nodes, by in-order id: leaf i is 2i, the node split at leaf i is 2i - 1. */
typedef struct {
    bool valid;                   /* holds a tree */
    uint8_t salt[BATCH_SALT_LEN]; /* its salt */
    uint32_t size;                /* its size */
    uint8_t root[BATCH_HASH_LEN]; /* its root: every known node hashes up to it */
    uint64_t used;                /* last use (least recently used goes first) */
    size_t cap;                   /* ids room in known and node */
    uint8_t *known;               /* node[id] is set */
    uint8_t (*node)[BATCH_HASH_LEN];
} s_tree;

struct batch_cache {
    s_tree t[S_TREES];
    uint64_t tick;
};

int batch_cache_new(batch_cache **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? ASYLINK_OK : ASYLINK_E_NOMEM;
}

void batch_cache_destroy(batch_cache **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (size_t i = 0; i < S_TREES; i++) {
        free((*self_p)->t[i].known);
        free((*self_p)->t[i].node);
    }
    free(*self_p);
    *self_p = NULL;
}

/* The in-order id of the subtree of leaves [lo, lo + n). */
static uint32_t s_node_id(uint32_t lo, uint32_t n)
{
    return n == 1 ? 2 * lo : 2 * (lo + s_split(n)) - 1;
}

/* The remembered tree of (salt, size), or NULL. */
static s_tree *s_tree_find(batch_cache *c, const uint8_t *salt, uint32_t size)
{
    for (size_t i = 0; i < S_TREES; i++) {
        s_tree *t = &c->t[i];
        if (t->valid && t->size == size && memcmp(t->salt, salt, BATCH_SALT_LEN) == 0)
            return t;
    }
    return NULL;
}

/* Starts t (or, if NULL, the least recently used tree) afresh for root; NULL without memory. */
static s_tree *s_tree_reset(batch_cache *c, s_tree *t, const uint8_t *salt, uint32_t size,
                            const uint8_t *root)
{
    for (size_t i = 0; !t && i < S_TREES; i++) /* an unused one */
        if (!c->t[i].valid)
            t = &c->t[i];
    if (!t) { /* the least recently used */
        t = &c->t[0];
        for (size_t i = 1; i < S_TREES; i++)
            if (c->t[i].used < t->used)
                t = &c->t[i];
    }
    size_t ids = 2 * (size_t)size - 1;
    t->valid = false;
    if (ids > t->cap) {
        uint8_t *known = realloc(t->known, ids);
        if (known)
            t->known = known;
        uint8_t(*node)[BATCH_HASH_LEN] = realloc(t->node, ids * BATCH_HASH_LEN);
        if (node)
            t->node = node;
        if (!known || !node)
            return NULL;
        t->cap = ids;
    }
    t->valid = true;
    memcpy(t->salt, salt, BATCH_SALT_LEN);
    t->size = size;
    memcpy(t->root, root, BATCH_HASH_LEN);
    memset(t->known, 0, ids);
    return t;
}

/* Whether the walk's remaining steps (from step i on) are t's: the result is its root. */
static bool s_tree_rest(const s_tree *t, const uint32_t *sib, const uint8_t *const *path, size_t i,
                        size_t n_path)
{
    for (size_t j = i; j < n_path; j++)
        if (!t->known[sib[j]] || memcmp(t->node[sib[j]], path[j], BATCH_HASH_LEN) != 0)
            return false;
    return true;
}

/* Learns the first `steps` steps of a walk that reached t's root: our nodes and their siblings. */
static void s_tree_learn(s_tree *t, const uint32_t *own, const uint32_t *sib,
                         const uint8_t (*h)[BATCH_HASH_LEN], const uint8_t *const *path,
                         size_t steps)
{
    for (size_t i = 0; i < steps; i++) {
        memcpy(t->node[own[i]], h[i], BATCH_HASH_LEN);
        memcpy(t->node[sib[i]], path[i], BATCH_HASH_LEN);
        t->known[own[i]] = t->known[sib[i]] = 1;
    }
}

int batch_root_from_path_cached(batch_cache *c, const uint8_t salt[BATCH_SALT_LEN], uint32_t size,
                                uint32_t index, const uint8_t digest[BATCH_DIGEST_LEN],
                                const uint8_t *const *path, size_t n_path,
                                uint8_t root[BATCH_HASH_LEN])
{
    if (!c || size == 0 || size > BATCH_MAX || index >= size) /* no cache, or not a checked shape */
        return batch_root_from_path(salt, size, index, digest, path, n_path, root);
    /* Top-down: our subtree and its sibling at each level, as in-order ids. */
    bool right[BATCH_MAX_DEPTH];
    uint32_t own[BATCH_MAX_DEPTH], sib[BATCH_MAX_DEPTH];
    size_t levels = 0;
    uint32_t m = index, n = size, lo = 0;
    while (n > 1 && levels < BATCH_MAX_DEPTH) {
        uint32_t k = s_split(n);
        right[levels] = m < k;
        if (m < k) {
            own[levels] = s_node_id(lo, k);
            sib[levels] = s_node_id(lo + k, n - k);
            n = k;
        } else {
            own[levels] = s_node_id(lo + k, n - k);
            sib[levels] = s_node_id(lo, k);
            m -= k;
            n -= k;
            lo += k;
        }
        levels++;
    }
    if (n > 1 || levels != n_path)
        return ASYLINK_E_BATCH_PATH; /* batch_check_shape() was not called */
    /* Bottom-up (step i = level levels - 1 - i), as batch_root_from_path(). */
    uint32_t own_up[BATCH_MAX_DEPTH], sib_up[BATCH_MAX_DEPTH];
    bool right_up[BATCH_MAX_DEPTH];
    for (size_t i = 0; i < n_path; i++) {
        own_up[i] = own[levels - 1 - i];
        sib_up[i] = sib[levels - 1 - i];
        right_up[i] = right[levels - 1 - i];
    }
    s_tree *t = s_tree_find(c, salt, size);
    if (t)
        t->used = ++c->tick;
    uint8_t h[BATCH_MAX_DEPTH + 1][BATCH_HASH_LEN]; /* h[i]: our node before step i */
    batch_leaf(salt, index, digest, h[0]);
    for (size_t i = 0; i < n_path; i++) {
        if (memcmp(path[i], h[i], BATCH_HASH_LEN) == 0)
            return ASYLINK_E_BATCH_DUPLICATE;
        if (t && t->known[own_up[i]] && memcmp(t->node[own_up[i]], h[i], BATCH_HASH_LEN) == 0 &&
            s_tree_rest(t, sib_up, path, i, n_path)) {
            /* the known walk from here on: its duplicate checks passed when it was learnt */
            memcpy(root, t->root, BATCH_HASH_LEN);
            s_tree_learn(t, own_up, sib_up, h, path, i); /* the steps below it hash up to it */
            return ASYLINK_OK;
        }
        if (right_up[i])
            batch_node(salt, h[i], path[i], h[i + 1]);
        else
            batch_node(salt, path[i], h[i], h[i + 1]);
    }
    memcpy(root, h[n_path], BATCH_HASH_LEN);
    if (!t || memcmp(t->root, root, BATCH_HASH_LEN) != 0) { /* another tree: start afresh */
        t = s_tree_reset(c, t, salt, size, root);
        if (!t)
            return ASYLINK_OK; /* no memory to learn it: the walk's result stands */
        t->used = ++c->tick;
    }
    s_tree_learn(t, own_up, sib_up, h, path, n_path);
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
