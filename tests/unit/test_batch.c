/*
 * test_batch.c — batch signatures (docs/PROTOCOL.md 4.10): the tree
 * (core/batch.c), the verified-root cache (core/rootcache.c), and batched
 * envelopes (envelope_seal_draft / envelope_sign / decode / verify).
 */
#include "fixture.h"

#include "asylink/v1/envelope.pb-c.h"
#include "batch.h"
#include "rootcache.h"

#include <pthread.h>

static const char *const s_ids[] = {"DE", "FR", "IT", NULL};
static const char *const s_fr[] = {"FR", NULL};
static const char *const s_it[] = {"IT", NULL};

static int s_setup(void **state)
{
    *state = fx_new(s_ids);
    return 0;
}

static int s_teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* ---- the tree ---- */

static void s_random_digests(uint8_t (*d)[64], size_t n)
{
    for (size_t i = 0; i < n; i++)
        randombytes_buf(d[i], 64);
}

/* Every leaf's path leads to the root, with the documented length. */
static void s_check_tree(size_t n)
{
    uint8_t salt[32], root[32], got[32];
    uint8_t(*d)[64] = malloc(n * 64);
    uint8_t *paths = malloc(n * BATCH_MAX_DEPTH * 32), *depths = malloc(n);
    assert_non_null(d);
    assert_non_null(paths);
    assert_non_null(depths);
    randombytes_buf(salt, sizeof salt);
    s_random_digests(d, n);
    assert_int_equal(batch_build(salt, (const uint8_t(*)[64])d, n, root, paths, depths),
                     ASYLINK_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(depths[i], batch_depth((uint32_t)n, (uint32_t)i));
        const uint8_t *path[BATCH_MAX_DEPTH];
        size_t lens[BATCH_MAX_DEPTH];
        for (size_t k = 0; k < depths[i]; k++) {
            path[k] = paths + (i * BATCH_MAX_DEPTH + k) * 32;
            lens[k] = 32;
        }
        if (n > 1)
            assert_int_equal(batch_check_shape(32, (uint32_t)n, (uint32_t)i, depths[i], lens),
                             ASYLINK_OK);
        assert_int_equal(
            batch_root_from_path(salt, (uint32_t)n, (uint32_t)i, d[i], path, depths[i], got),
            ASYLINK_OK);
        assert_memory_equal(got, root, 32);
        /* The same proof claimed for another position leads elsewhere. */
        if (n > 1) {
            uint32_t j = (uint32_t)((i + 1) % n);
            if (batch_depth((uint32_t)n, j) == depths[i]) {
                assert_int_equal(
                    batch_root_from_path(salt, (uint32_t)n, j, d[i], path, depths[i], got),
                    ASYLINK_OK);
                assert_memory_not_equal(got, root, 32);
            }
        }
    }
    free(d);
    free(paths);
    free(depths);
}

static void test_tree_every_size(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 70; n++)
        s_check_tree(n);
    s_check_tree(511);
    s_check_tree(513);
    s_check_tree(1023);
    s_check_tree(1024);
}

/* RFC 9162 shape: the left subtree holds the largest power of two below n. */
static void test_tree_shape(void **state)
{
    (void)state;
    uint8_t salt[32], d[7][64], l[7][32], a[32], b[32], c[32], want[32], root[32];
    uint8_t paths[7 * BATCH_MAX_DEPTH * 32], depths[7];
    randombytes_buf(salt, sizeof salt);
    s_random_digests(d, 7);
    for (uint32_t i = 0; i < 7; i++)
        batch_leaf(salt, i, d[i], l[i]);
    /* n = 3: node(node(l0, l1), l2) */
    batch_node(salt, l[0], l[1], a);
    batch_node(salt, a, l[2], want);
    assert_int_equal(batch_build(salt, (const uint8_t(*)[64])d, 3, root, paths, depths),
                     ASYLINK_OK);
    assert_memory_equal(root, want, 32);
    assert_int_equal(depths[2], 1);
    assert_memory_equal(paths + 2 * BATCH_MAX_DEPTH * 32, a, 32);
    /* n = 5: node(node(node(l0, l1), node(l2, l3)), l4) */
    batch_node(salt, l[2], l[3], b);
    batch_node(salt, a, b, c);
    batch_node(salt, c, l[4], want);
    assert_int_equal(batch_build(salt, (const uint8_t(*)[64])d, 5, root, paths, depths),
                     ASYLINK_OK);
    assert_memory_equal(root, want, 32);
    assert_int_equal(batch_depth(5, 0), 3);
    assert_int_equal(batch_depth(5, 3), 3);
    assert_int_equal(batch_depth(5, 4), 1);
    /* path of leaf 0 is bottom-up: l1, node(l2, l3), l4 */
    assert_memory_equal(paths + 0 * 32, l[1], 32);
    assert_memory_equal(paths + 1 * 32, b, 32);
    assert_memory_equal(paths + 2 * 32, l[4], 32);
    /* n = 7: node(node(node(l0,l1), node(l2,l3)), node(node(l4,l5), l6)) */
    uint8_t e[32], g[32];
    batch_node(salt, l[4], l[5], e);
    batch_node(salt, e, l[6], g);
    batch_node(salt, c, g, want);
    assert_int_equal(batch_build(salt, (const uint8_t(*)[64])d, 7, root, paths, depths),
                     ASYLINK_OK);
    assert_memory_equal(root, want, 32);
    assert_int_equal(batch_depth(1024, 0), 10);
    assert_int_equal(batch_depth(1024, 1023), 10);
    assert_int_equal(batch_depth(1000, 999), 8); /* 512 | 256 | 128 | 64 | 32 | 4 | 2 | 1 + 1 */
    /* Salt and position change every hash. */
    uint8_t other[32], x[32], y[32];
    memcpy(other, salt, 32);
    other[0] ^= 1;
    batch_leaf(salt, 0, d[0], x);
    batch_leaf(other, 0, d[0], y);
    assert_memory_not_equal(x, y, 32);
    batch_leaf(salt, 1, d[0], y);
    assert_memory_not_equal(x, y, 32);
}

static void test_shape_refusals(void **state)
{
    (void)state;
    size_t lens[11] = {32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32};
    assert_int_equal(batch_check_shape(32, 5, 0, 3, lens), ASYLINK_OK);
    assert_int_equal(batch_check_shape(31, 5, 0, 3, lens), ASYLINK_E_BATCH_SALT);
    assert_int_equal(batch_check_shape(33, 5, 0, 3, lens), ASYLINK_E_BATCH_SALT);
    assert_int_equal(batch_check_shape(0, 5, 0, 3, lens), ASYLINK_E_BATCH_SALT);
    assert_int_equal(batch_check_shape(32, 1, 0, 0, lens), ASYLINK_E_BATCH_SINGLE);
    assert_int_equal(batch_check_shape(32, 0, 0, 0, lens), ASYLINK_E_BATCH_SIZE);
    assert_int_equal(batch_check_shape(32, 1025, 0, 11, lens), ASYLINK_E_BATCH_SIZE);
    assert_int_equal(batch_check_shape(32, 1024, 0, 10, lens), ASYLINK_OK);
    assert_int_equal(batch_check_shape(32, 5, 5, 1, lens), ASYLINK_E_BATCH_INDEX);
    assert_int_equal(batch_check_shape(32, 5, 4, 1, lens), ASYLINK_OK);
    assert_int_equal(batch_check_shape(32, 5, 4, 3, lens), ASYLINK_E_BATCH_PATH);
    assert_int_equal(batch_check_shape(32, 5, 0, 2, lens), ASYLINK_E_BATCH_PATH);
    assert_int_equal(batch_check_shape(32, 5, 0, 4, lens), ASYLINK_E_BATCH_PATH);
    lens[1] = 31;
    assert_int_equal(batch_check_shape(32, 5, 0, 3, lens), ASYLINK_E_BATCH_PATH);
    /* The order of the checks: salt before size before index before path. */
    assert_int_equal(batch_check_shape(1, 1, 7, 9, lens), ASYLINK_E_BATCH_SALT);
    assert_int_equal(batch_check_shape(32, 1, 7, 9, lens), ASYLINK_E_BATCH_SINGLE);
    assert_int_equal(batch_check_shape(32, 2000, 7000, 9, lens), ASYLINK_E_BATCH_SIZE);
    assert_int_equal(batch_check_shape(32, 4, 7, 9, lens), ASYLINK_E_BATCH_INDEX);
}

/* A sibling equal to the node it is hashed with is a duplicate, at any level. */
static void test_duplicate_leaf(void **state)
{
    (void)state;
    uint8_t salt[32], d[4][64], root[32], paths[4 * BATCH_MAX_DEPTH * 32], depths[4], got[32];
    randombytes_buf(salt, sizeof salt);
    s_random_digests(d, 4);
    assert_int_equal(batch_build(salt, (const uint8_t(*)[64])d, 4, root, paths, depths),
                     ASYLINK_OK);
    uint8_t leaf[32], p0[32], p1[32];
    batch_leaf(salt, 0, d[0], leaf);
    memcpy(p1, paths + 32, 32);
    const uint8_t *path[2] = {leaf, p1};
    assert_int_equal(batch_root_from_path(salt, 4, 0, d[0], path, 2, got),
                     ASYLINK_E_BATCH_DUPLICATE);
    /* level 1: the sibling subtree equal to ours */
    memcpy(p0, paths, 32);
    uint8_t ours[32];
    batch_node(salt, leaf, p0, ours);
    const uint8_t *path2[2] = {p0, ours};
    assert_int_equal(batch_root_from_path(salt, 4, 0, d[0], path2, 2, got),
                     ASYLINK_E_BATCH_DUPLICATE);
}

/* ---- the walk cache ---- */

/* A tree of n random leaves under salt: digests, root, paths, depths (malloc'd). */
typedef struct {
    uint32_t n;
    uint8_t (*d)[64];
    uint8_t root[32];
    uint8_t *paths, *depths;
} s_tree;

static void s_tree_new(s_tree *t, const uint8_t salt[32], uint32_t n)
{
    t->n = n;
    t->d = malloc((size_t)n * 64);
    t->paths = malloc((size_t)n * BATCH_MAX_DEPTH * 32);
    t->depths = malloc(n);
    assert_true(t->d && t->paths && t->depths);
    s_random_digests(t->d, n);
    assert_int_equal(batch_build(salt, (const uint8_t(*)[64])t->d, n, t->root, t->paths, t->depths),
                     ASYLINK_OK);
}

static void s_tree_free(s_tree *t)
{
    free(t->d);
    free(t->paths);
    free(t->depths);
}

/* The cached and the plain walk of (index, digest, path) agree: code and root. */
static void s_walk_agrees(batch_cache *c, const uint8_t salt[32], uint32_t n, uint32_t i,
                          const uint8_t *digest, const uint8_t *const *path, size_t depth,
                          const uint8_t *want_root)
{
    uint8_t plain[32] = {0}, cached[32] = {0};
    int rc = batch_root_from_path(salt, n, i, digest, path, depth, plain);
    assert_int_equal(batch_root_from_path_cached(c, salt, n, i, digest, path, depth, cached), rc);
    if (rc == ASYLINK_OK)
        assert_memory_equal(cached, plain, 32);
    if (want_root) {
        assert_int_equal(rc, ASYLINK_OK);
        assert_memory_equal(cached, want_root, 32);
    }
}

/* The valid proof of leaf i into path[]. */
static void s_path_of(const s_tree *t, uint32_t i, const uint8_t **path)
{
    for (size_t k = 0; k < t->depths[i]; k++)
        path[k] = t->paths + ((size_t)i * BATCH_MAX_DEPTH + k) * 32;
}

/*
 * A verify worker's walk cache never changes a result: valid proofs in any
 * order give the root, and every forgery (a changed path element at any
 * level, another digest, another position, a sibling equal to our node,
 * another batch with the same salt and size) gives what the plain walk
 * gives, however many of the batch's nodes the cache knows.
 */
static void test_walk_cache_same_results(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {2, 3, 5, 7, 64, 100, 257, 1024};
    batch_cache *c = NULL;
    assert_int_equal(batch_cache_new(&c), ASYLINK_OK);
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
        uint32_t n = sizes[z];
        uint8_t salt[32];
        randombytes_buf(salt, sizeof salt);
        s_tree a, b;
        s_tree_new(&a, salt, n);
        s_tree_new(&b, salt, n); /* another batch under the same salt and size */
        for (uint32_t round = 0; round < 3 * n + 20; round++) {
            uint32_t i = randombytes_uniform(n);
            const s_tree *t = randombytes_uniform(8) == 0 ? &b : &a;
            const uint8_t *path[BATCH_MAX_DEPTH];
            uint8_t forged[BATCH_MAX_DEPTH][32], digest[64];
            size_t depth = t->depths[i];
            s_path_of(t, i, path);
            memcpy(digest, t->d[i], 64);
            switch (randombytes_uniform(6)) {
            case 0: /* valid */
                s_walk_agrees(c, salt, n, i, digest, path, depth, t->root);
                continue;
            case 1: { /* one path element changed */
                size_t k = randombytes_uniform((uint32_t)depth);
                memcpy(forged[k], path[k], 32);
                forged[k][randombytes_uniform(32)] ^= (uint8_t)(1u << randombytes_uniform(8));
                path[k] = forged[k];
                break;
            }
            case 2: /* another digest */ digest[randombytes_uniform(64)] ^= 0x01; break;
            case 3: { /* the proof claimed for another position of the same depth */
                uint32_t j = (i + 1 + randombytes_uniform(n - 1)) % n;
                if (t->depths[j] != depth)
                    continue;
                s_walk_agrees(c, salt, n, j, digest, path, depth, NULL);
                continue;
            }
            case 4: { /* a path element replaced by another leaf's element of that level */
                uint32_t j = randombytes_uniform(n);
                size_t k = randombytes_uniform((uint32_t)depth);
                if (k < t->depths[j])
                    path[k] = t->paths + ((size_t)j * BATCH_MAX_DEPTH + k) * 32;
                break;
            }
            default: { /* the sibling equal to our node at some level */
                uint8_t h[32];
                batch_leaf(salt, i, digest, h);
                memcpy(forged[0], h, 32);
                path[0] = forged[0];
                break;
            }
            }
            s_walk_agrees(c, salt, n, i, digest, path, depth, NULL);
        }
        /* after all that, every valid proof of a and of b still leads to its own root */
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *path[BATCH_MAX_DEPTH];
            s_path_of(&a, i, path);
            s_walk_agrees(c, salt, n, i, a.d[i], path, a.depths[i], a.root);
            s_path_of(&b, n - 1 - i, path);
            s_walk_agrees(c, salt, n, n - 1 - i, b.d[n - 1 - i], path, b.depths[n - 1 - i], b.root);
        }
        s_tree_free(&a);
        s_tree_free(&b);
    }
    /* ten batches of different salts and sizes interleaved (more than the cache keeps) */
    {
        uint8_t salts[10][32];
        s_tree t[10];
        for (uint32_t k = 0; k < 10; k++) {
            randombytes_buf(salts[k], 32);
            s_tree_new(&t[k], salts[k], 90 + k);
        }
        for (int round = 0; round < 4000; round++) {
            uint32_t k = randombytes_uniform(10), i = randombytes_uniform(t[k].n);
            const uint8_t *path[BATCH_MAX_DEPTH];
            uint8_t forged[32];
            s_path_of(&t[k], i, path);
            bool forge = randombytes_uniform(4) == 0;
            if (forge) {
                size_t lvl = randombytes_uniform(t[k].depths[i]);
                memcpy(forged, path[lvl], 32);
                forged[randombytes_uniform(32)] ^= 0x10;
                path[lvl] = forged;
            }
            s_walk_agrees(c, salts[k], t[k].n, i, t[k].d[i], path, t[k].depths[i],
                          forge ? NULL : t[k].root);
        }
        for (uint32_t k = 0; k < 10; k++)
            s_tree_free(&t[k]);
    }
    /* a shape it does not know is walked plainly, never indexed */
    uint8_t salt[32] = {0}, d[64] = {0}, root[32];
    assert_int_equal(batch_root_from_path_cached(c, salt, 0, 0, d, NULL, 0, root),
                     batch_root_from_path(salt, 0, 0, d, NULL, 0, root));
    assert_int_equal(batch_root_from_path_cached(c, salt, 2, 5, d, NULL, 0, root),
                     batch_root_from_path(salt, 2, 5, d, NULL, 0, root));
    batch_cache_destroy(&c);
    assert_null(c);
    batch_cache_destroy(NULL);
}

/* ---- the verified-root cache ---- */

static void s_key(uint8_t pk[32], uint8_t st[64], uint8_t sig[64], unsigned i)
{
    memset(pk, 0xa0, 32);
    memset(st, 0, 64);
    memcpy(st, &i, sizeof i);
    memset(sig, (int)(i & 0xff), 64);
}

static void test_rootcache_lru(void **state)
{
    (void)state;
    rootcache *c = NULL;
    assert_int_equal(rootcache_new(0, &c), ASYLINK_E_INVALID_ARG);
    assert_int_equal(rootcache_new(4, &c), ASYLINK_OK);
    uint8_t pk[32], st[64], sig[64];
    for (unsigned i = 0; i < 4; i++) {
        s_key(pk, st, sig, i);
        assert_false(rootcache_contains(c, pk, st, sig));
        rootcache_put(c, pk, st, sig);
        assert_true(rootcache_contains(c, pk, st, sig));
    }
    s_key(pk, st, sig, 0);
    assert_true(rootcache_contains(c, pk, st, sig)); /* 0 is now the most recent */
    s_key(pk, st, sig, 4);
    rootcache_put(c, pk, st, sig); /* evicts 1, the least recently used */
    size_t entries = 0;
    rootcache_stats(c, &entries, NULL, NULL);
    assert_int_equal(entries, 4);
    for (unsigned i = 0; i < 5; i++) {
        s_key(pk, st, sig, i);
        assert_int_equal(rootcache_contains(c, pk, st, sig), i != 1);
    }
    /* The same statement with other signature bytes, or under another key, misses. */
    s_key(pk, st, sig, 2);
    sig[63] ^= 1;
    assert_false(rootcache_contains(c, pk, st, sig));
    s_key(pk, st, sig, 2);
    pk[0] ^= 1;
    assert_false(rootcache_contains(c, pk, st, sig));
    rootcache_clear(c);
    s_key(pk, st, sig, 2);
    assert_false(rootcache_contains(c, pk, st, sig));
    rootcache_stats(c, &entries, NULL, NULL);
    assert_int_equal(entries, 0);
    /* Many more statements than entries: bounded, and the newest are held. */
    for (unsigned i = 0; i < 1000; i++) {
        s_key(pk, st, sig, i);
        rootcache_put(c, pk, st, sig);
    }
    rootcache_stats(c, &entries, NULL, NULL);
    assert_int_equal(entries, 4);
    for (unsigned i = 990; i < 1000; i++) {
        s_key(pk, st, sig, i);
        assert_int_equal(rootcache_contains(c, pk, st, sig), i >= 996);
    }
    rootcache_destroy(&c);
    assert_null(c);
    rootcache_destroy(&c);
}

typedef struct {
    rootcache *c;
    unsigned base;
    unsigned hits;
} s_worker_arg;

static void *s_cache_worker(void *arg)
{
    s_worker_arg *a = arg;
    uint8_t pk[32], st[64], sig[64];
    for (unsigned round = 0; round < 20000; round++) {
        unsigned i = a->base + round % 300;
        s_key(pk, st, sig, i);
        if (rootcache_contains(a->c, pk, st, sig))
            a->hits++;
        else
            rootcache_put(a->c, pk, st, sig);
    }
    return NULL;
}

/* Several threads at once (as the broker's verify workers): consistent, bounded. */
static void test_rootcache_threads(void **state)
{
    (void)state;
    rootcache *c = NULL;
    assert_int_equal(rootcache_new(256, &c), ASYLINK_OK);
    pthread_t t[4];
    s_worker_arg a[4];
    for (unsigned i = 0; i < 4; i++) {
        a[i] = (s_worker_arg){.c = c, .base = i * 100};
        assert_int_equal(pthread_create(&t[i], NULL, s_cache_worker, &a[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    size_t entries = 0;
    uint64_t hits = 0, misses = 0;
    rootcache_stats(c, &entries, &hits, &misses);
    assert_true(entries <= 256);
    assert_int_equal(hits + misses, 4 * 20000);
    assert_int_equal(hits, a[0].hits + a[1].hits + a[2].hits + a[3].hits);
    rootcache_destroy(&c);
}

/* ---- batched envelopes ---- */

/* Seals n drafts from DE (alternately LIMITED to FR and to IT, and PUBLIC on a topic). */
static envelope_draft **s_drafts(fx_fed *f, envelope_sealer *s, size_t n, uint8_t (*digests)[64])
{
    envelope_draft **d = calloc(n, sizeof *d);
    assert_non_null(d);
    const cert *fr[] = {fx_node_by_id(f, "FR")->cert}, *it[] = {fx_node_by_id(f, "IT")->cert};
    for (size_t i = 0; i < n; i++) {
        envelope_params p = {.content_type = "asylink.v1.SupportRequest",
                             .classification = ENVELOPE_LIMITED,
                             .digest_out = digests ? digests[i] : NULL};
        if (i % 3 == 0) {
            p.recipients = s_fr;
            p.n_recipients = 1;
            p.readers = fr;
            p.n_readers = 1;
        } else if (i % 3 == 1) {
            p.recipients = s_it;
            p.n_recipients = 1;
            p.readers = it;
            p.n_readers = 1;
        } else {
            p.topic = "stats.monthly.DE";
            p.classification = ENVELOPE_PUBLIC;
        }
        char payload[32];
        int len = snprintf(payload, sizeof payload, "message %zu", i);
        assert_int_equal(
            envelope_seal_draft(s, &p, (const uint8_t *)payload, (size_t)len, &d[i], NULL),
            ASYLINK_OK);
    }
    return d;
}

static void s_drafts_free(envelope_draft **d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        envelope_draft_destroy(&d[i]);
    free(d);
}

static envelope_sealer *s_sealer(fx_fed *f, const char *id)
{
    fx_node *n = fx_node_by_id(f, id);
    envelope_sealer *s = NULL;
    assert_int_equal(envelope_sealer_new(n->keys, n->id, n->cert->serial, NULL, NULL, &s),
                     ASYLINK_OK);
    return s;
}

/* Every envelope of a batch stands alone: decodes, verifies and opens by itself. */
static void test_batch_envelopes_verify_alone(void **state)
{
    fx_fed *f = *state;
    envelope_sealer *s = s_sealer(f, "DE");
    size_t n = 7;
    uint8_t(*dig)[64] = calloc(n, 64);
    envelope_draft **d = s_drafts(f, s, n, dig);
    assert_null(envelope_draft_bytes(d[0], &(size_t){0}));
    assert_int_equal(envelope_sign(s, d, n), ASYLINK_OK);
    const uint8_t *root = NULL;
    uint8_t first_root[32];
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const uint8_t *b = envelope_draft_bytes(d[i], &len);
        assert_non_null(b);
        envelope *e = NULL;
        assert_int_equal(envelope_decode(b, len, 0, &e), ASYLINK_OK);
        assert_memory_equal(envelope_digest(e), dig[i], 64);
        assert_memory_equal(envelope_draft_digest(d[i]), dig[i], 64);
        assert_int_equal(envelope_batch_size(e), n);
        assert_int_equal(envelope_batch_index(e), i);
        root = envelope_batch_root(e);
        assert_non_null(root);
        if (i == 0)
            memcpy(first_root, root, 32);
        assert_memory_equal(root, first_root, 32);
        assert_int_equal(envelope_verify(e, f->trust, clock_now_ms(), NULL), ASYLINK_OK);
        envelope_destroy(&e);
        uint8_t *got = NULL;
        size_t got_len = 0;
        const char *reader = i % 3 == 0 ? "FR" : i % 3 == 1 ? "IT" : "FR";
        assert_int_equal(fx_open(f, reader, b, len, &got, &got_len), ASYLINK_OK);
        char want[32];
        int wl = snprintf(want, sizeof want, "message %zu", i);
        assert_int_equal(got_len, (size_t)wl);
        assert_memory_equal(got, want, got_len);
        envelope_payload_free(got, got_len);
    }
    s_drafts_free(d, n);
    free(dig);
    envelope_sealer_destroy(&s);
}

/* Signing one draft is envelope_seal(): no batch field, the same bytes. */
typedef struct {
    uint32_t counter;
} s_rng_state;

static void s_counter_rng(void *ctx, uint8_t *buf, size_t n)
{
    s_rng_state *st = ctx;
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(st->counter++ * 7 + 3);
}

static void test_single_draft_is_plain_seal(void **state)
{
    fx_fed *f = *state;
    fx_node *de = fx_node_by_id(f, "DE");
    const cert *fr[] = {fx_node_by_id(f, "FR")->cert};
    envelope_params p = {.recipients = s_fr,
                         .n_recipients = 1,
                         .readers = fr,
                         .n_readers = 1,
                         .content_type = "t",
                         .classification = ENVELOPE_LIMITED,
                         .created_ms = 1795000000000ull};
    s_rng_state r1 = {0}, r2 = {0};
    envelope_sealer *s1 = NULL, *s2 = NULL;
    assert_int_equal(envelope_sealer_new(de->keys, "DE", de->cert->serial, s_counter_rng, &r1, &s1),
                     ASYLINK_OK);
    assert_int_equal(envelope_sealer_new(de->keys, "DE", de->cert->serial, s_counter_rng, &r2, &s2),
                     ASYLINK_OK);
    uint8_t *a = NULL;
    size_t alen = 0;
    assert_int_equal(envelope_seal(s1, &p, (const uint8_t *)"x", 1, &a, &alen, NULL), ASYLINK_OK);
    envelope_draft *d = NULL;
    assert_int_equal(envelope_seal_draft(s2, &p, (const uint8_t *)"x", 1, &d, NULL), ASYLINK_OK);
    assert_int_equal(envelope_sign(s2, &d, 1), ASYLINK_OK);
    assert_int_equal(r1.counter, r2.counter); /* no salt drawn for one */
    size_t blen = 0;
    uint8_t *b = envelope_draft_take(d, &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    envelope *e = NULL;
    assert_int_equal(envelope_decode(b, blen, 0, &e), ASYLINK_OK);
    assert_int_equal(envelope_batch_size(e), 0);
    assert_null(envelope_batch_root(e));
    assert_memory_equal(envelope_signed_digest(e), envelope_digest(e), 64);
    envelope_destroy(&e);
    free(a);
    free(b);
    envelope_draft_destroy(&d);
    envelope_sealer_destroy(&s1);
    envelope_sealer_destroy(&s2);
}

static void test_sign_refusals(void **state)
{
    fx_fed *f = *state;
    envelope_sealer *s = s_sealer(f, "DE"), *other = s_sealer(f, "FR");
    envelope_draft **d = s_drafts(f, s, 3, NULL);
    assert_int_equal(envelope_sign(s, d, 0), ASYLINK_E_INVALID_ARG);
    assert_int_equal(envelope_sign(other, d, 3), ASYLINK_E_INVALID_ARG);
    assert_int_equal(envelope_sign(s, d, BATCH_MAX + 1), ASYLINK_E_TOO_LARGE);
    envelope_draft *twice[2] = {d[0], d[0]};
    assert_int_equal(envelope_sign(s, twice, 2), ASYLINK_E_BATCH_DUPLICATE);
    assert_int_equal(envelope_sign(s, d, 3), ASYLINK_OK);
    assert_int_equal(envelope_sign(s, d, 3), ASYLINK_E_INVALID_ARG); /* signed already */
    s_drafts_free(d, 3);
    /* Two drafts with one message id. */
    const cert *fr[] = {fx_node_by_id(f, "FR")->cert};
    uint8_t id[16] = {1, 2, 3};
    envelope_params p = {.recipients = s_fr,
                         .n_recipients = 1,
                         .readers = fr,
                         .n_readers = 1,
                         .content_type = "t",
                         .classification = ENVELOPE_LIMITED,
                         .message_id = id};
    envelope_draft *dup[3] = {NULL, NULL, NULL};
    p.message_id = NULL;
    assert_int_equal(envelope_seal_draft(s, &p, (const uint8_t *)"a", 1, &dup[0], NULL),
                     ASYLINK_OK);
    p.message_id = id;
    assert_int_equal(envelope_seal_draft(s, &p, (const uint8_t *)"b", 1, &dup[1], NULL),
                     ASYLINK_OK);
    assert_int_equal(envelope_seal_draft(s, &p, (const uint8_t *)"c", 1, &dup[2], NULL),
                     ASYLINK_OK);
    assert_int_equal(envelope_sign(s, dup, 3), ASYLINK_E_BATCH_DUPLICATE);
    assert_null(envelope_draft_bytes(dup[0], &(size_t){0})); /* none signed */
    assert_int_equal(envelope_sign(s, dup, 2), ASYLINK_OK);
    for (int i = 0; i < 3; i++)
        envelope_draft_destroy(&dup[i]);
    envelope_sealer_destroy(&s);
    envelope_sealer_destroy(&other);
}

/* Rewrites the batch proof of envelope bytes (decoded with protobuf-c, changed, repacked). */
typedef void (*s_mutate)(Asylink__V1__BatchProof *b, void *ctx);

static uint8_t *s_rewrite(const uint8_t *buf, size_t len, s_mutate fn, void *ctx, size_t *out_len)
{
    Asylink__V1__Envelope *pb = asylink__v1__envelope__unpack(NULL, len, buf);
    assert_non_null(pb);
    assert_non_null(pb->batch);
    fn(pb->batch, ctx);
    *out_len = asylink__v1__envelope__get_packed_size(pb);
    uint8_t *out = malloc(*out_len);
    assert_non_null(out);
    asylink__v1__envelope__pack(pb, out);
    asylink__v1__envelope__free_unpacked(pb, NULL);
    return out;
}

static size_t s_varint(size_t v, uint8_t *out)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static int s_decode_code(const uint8_t *buf, size_t len)
{
    envelope *e = NULL;
    int rc = envelope_decode(buf, len, 0, &e);
    envelope_destroy(&e);
    return rc;
}

/* Replaces a bytes field with n bytes: the old ones, then zeros (protobuf-c frees it later). */
static void s_resize(ProtobufCBinaryData *f, size_t n)
{
    uint8_t *b = calloc(1, n ? n : 1);
    assert_non_null(b);
    if (f->data)
        memcpy(b, f->data, f->len < n ? f->len : n);
    free(f->data);
    *f = (ProtobufCBinaryData){n, b};
}

static void m_salt_short(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    s_resize(&b->salt, 31);
}
static void m_salt_long(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    s_resize(&b->salt, 33);
}
static void m_size_one(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    b->size = 1;
}
static void m_size_zero(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    b->size = 0;
}
static void m_size_big(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    b->size = 1025;
}
static void m_index_out(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    b->index = b->size;
}
static void m_path_short(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    free(b->path[--b->n_path].data);
}
static void m_path_elem(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    s_resize(&b->path[0], 31);
}
static void m_path_long(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    ProtobufCBinaryData *p = realloc(b->path, (b->n_path + 1) * sizeof *p);
    assert_non_null(p);
    b->path = p;
    p[b->n_path] = (ProtobufCBinaryData){0, NULL};
    s_resize(&p[b->n_path++], 32);
}
static void m_path_dup(Asylink__V1__BatchProof *b, void *c)
{
    memcpy(b->path[0].data, c, 32); /* the envelope's own leaf */
}
static void m_path_flip(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    b->path[0].data[5] ^= 1;
}
static void m_index_swap(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    b->index ^= 1;
}
static void m_size_change(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    b->size = 6;
}
static void m_salt_flip(Asylink__V1__BatchProof *b, void *c)
{
    (void)c;
    b->salt.data[0] ^= 1;
}

/* Every malformed proof is refused by decoding with its own code; forged ones fail the signature.
 */
static void test_proof_refusals(void **state)
{
    fx_fed *f = *state;
    envelope_sealer *s = s_sealer(f, "DE");
    envelope_draft **d = s_drafts(f, s, 5, NULL);
    assert_int_equal(envelope_sign(s, d, 5), ASYLINK_OK);
    size_t len = 0;
    const uint8_t *b0 = envelope_draft_bytes(d[0], &len);
    uint8_t leaf[32];
    envelope *e = NULL;
    assert_int_equal(envelope_decode(b0, len, 0, &e), ASYLINK_OK);
    Asylink__V1__Envelope *pb = asylink__v1__envelope__unpack(NULL, len, b0);
    batch_leaf(pb->batch->salt.data, 0, envelope_digest(e), leaf);
    asylink__v1__envelope__free_unpacked(pb, NULL);
    envelope_destroy(&e);
    struct {
        s_mutate fn;
        int decode, verify;
    } cases[] = {
        {m_salt_short, ASYLINK_E_BATCH_SALT, 0},
        {m_salt_long, ASYLINK_E_BATCH_SALT, 0},
        {m_size_one, ASYLINK_E_BATCH_SINGLE, 0},
        {m_size_zero, ASYLINK_E_BATCH_SIZE, 0},
        {m_size_big, ASYLINK_E_BATCH_SIZE, 0},
        {m_index_out, ASYLINK_E_BATCH_INDEX, 0},
        {m_path_short, ASYLINK_E_BATCH_PATH, 0},
        {m_path_long, ASYLINK_E_BATCH_PATH, 0},
        {m_path_elem, ASYLINK_E_BATCH_PATH, 0},
        {m_path_dup, ASYLINK_E_BATCH_DUPLICATE, 0},
        {m_path_flip, ASYLINK_OK, ASYLINK_E_BAD_SIGNATURE},
        {m_index_swap, ASYLINK_OK, ASYLINK_E_BAD_SIGNATURE},
        {m_size_change, ASYLINK_OK, ASYLINK_E_BAD_SIGNATURE},
        {m_salt_flip, ASYLINK_OK, ASYLINK_E_BAD_SIGNATURE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = 0;
        uint8_t *bad = s_rewrite(b0, len, cases[i].fn, leaf, &n);
        envelope *x = NULL;
        int rc = envelope_decode(bad, n, 0, &x);
        if (rc != cases[i].decode)
            fail_msg("case %zu: decode %s, expected %s", i, asylink_err_name(rc),
                     asylink_err_name(cases[i].decode));
        if (rc == ASYLINK_OK)
            assert_int_equal(envelope_verify(x, f->trust, clock_now_ms(), NULL), cases[i].verify);
        envelope_destroy(&x);
        free(bad);
    }
    /* Non-canonical proofs are MALFORMED: index 0 written out, an unknown field inside. */
    size_t plain_len = 0;
    Asylink__V1__Envelope *q = asylink__v1__envelope__unpack(NULL, len, b0);
    Asylink__V1__BatchProof *proof = q->batch;
    q->batch = NULL;
    plain_len = asylink__v1__envelope__get_packed_size(q);
    size_t plen = asylink__v1__batch_proof__get_packed_size(proof);
    uint8_t *buf = malloc(plain_len + plen + 16);
    asylink__v1__envelope__pack(q, buf);
    uint8_t *pbytes = malloc(plen + 4);
    asylink__v1__batch_proof__pack(proof, pbytes);
    /* pbytes: 0a 20 salt(32) 10 05 22 20 ... ; insert 18 00 after the size field */
    assert_int_equal(pbytes[34], 0x10);
    size_t at = plain_len;
    buf[at++] = 0x2a;
    at += s_varint(plen + 2, buf + at);
    memcpy(buf + at, pbytes, 36);
    buf[at + 36] = 0x18;
    buf[at + 37] = 0x00;
    memcpy(buf + at + 38, pbytes + 36, plen - 36);
    assert_int_equal(s_decode_code(buf, at + plen + 2), ASYLINK_E_MALFORMED);
    /* unknown field 9 (varint 1) at the end of the proof */
    at = plain_len;
    buf[at++] = 0x2a;
    at += s_varint(plen + 2, buf + at);
    memcpy(buf + at, pbytes, plen);
    buf[at + plen] = 0x48;
    buf[at + plen + 1] = 0x01;
    assert_int_equal(s_decode_code(buf, at + plen + 2), ASYLINK_E_MALFORMED);
    /* a length written in two bytes where one would do */
    at = plain_len;
    buf[at++] = 0x2a;
    at += s_varint(plen, buf + at);
    memcpy(buf + at, pbytes, plen);
    assert_int_equal(s_decode_code(buf, at + plen), ASYLINK_OK); /* as it was: accepted */
    at = plain_len;
    buf[at++] = 0x2a;
    at += s_varint(plen, buf + at);
    buf[at - 1] |= 0x80; /* one more, empty, varint byte */
    buf[at++] = 0x00;
    memcpy(buf + at, pbytes, plen);
    assert_int_equal(s_decode_code(buf, at + plen), ASYLINK_E_MALFORMED);
    q->batch = proof;
    asylink__v1__envelope__free_unpacked(q, NULL);
    free(pbytes);
    free(buf);
    s_drafts_free(d, 5);
    envelope_sealer_destroy(&s);
}

/* The cache spares the signature check only for the very same signed statement. */
static void test_cache_forged_proof_fails(void **state)
{
    fx_fed *f = *state;
    envelope_sealer *s = s_sealer(f, "DE");
    envelope_draft **d = s_drafts(f, s, 5, NULL);
    assert_int_equal(envelope_sign(s, d, 5), ASYLINK_OK);
    rootcache *c = NULL;
    assert_int_equal(rootcache_new(16, &c), ASYLINK_OK);
    uint64_t now = clock_now_ms();
    for (size_t i = 0; i < 5; i++) {
        size_t len = 0;
        const uint8_t *b = envelope_draft_bytes(d[i], &len);
        envelope *e = NULL;
        assert_int_equal(envelope_decode(b, len, 0, &e), ASYLINK_OK);
        assert_int_equal(envelope_verify_cached(e, f->trust, c, now, NULL), ASYLINK_OK);
        envelope_destroy(&e);
    }
    uint64_t hits = 0, misses = 0;
    rootcache_stats(c, NULL, &hits, &misses);
    assert_int_equal(misses, 1); /* one Ed25519 verification for the five */
    assert_int_equal(hits, 4);
    /* With the root cached: a changed path, index, salt or body must still fail. */
    size_t len = 0;
    const uint8_t *b1 = envelope_draft_bytes(d[1], &len);
    s_mutate forged[] = {m_path_flip, m_index_swap, m_salt_flip, m_size_change};
    for (size_t i = 0; i < sizeof forged / sizeof forged[0]; i++) {
        size_t n = 0;
        uint8_t *bad = s_rewrite(b1, len, forged[i], NULL, &n);
        envelope *e = NULL;
        assert_int_equal(envelope_decode(bad, n, 0, &e), ASYLINK_OK);
        assert_int_equal(envelope_verify_cached(e, f->trust, c, now, NULL),
                         ASYLINK_E_BAD_SIGNATURE);
        envelope_destroy(&e);
        free(bad);
    }
    /* Every single bit of the envelope's header, body or signature: never OK. */
    uint8_t *copy = malloc(len);
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, b1, len);
        copy[i] ^= 0x10;
        envelope *e = NULL;
        int rc = envelope_decode(copy, len, 0, &e);
        if (rc == ASYLINK_OK)
            rc = envelope_verify_cached(e, f->trust, c, now, NULL);
        if (rc == ASYLINK_OK)
            fail_msg("byte %zu flipped still verifies", i);
        envelope_destroy(&e);
    }
    free(copy);
    /* A revoked sender fails even with its root cached: certificate checks come first. */
    size_t len2 = 0;
    const uint8_t *b2 = envelope_draft_bytes(d[2], &len2);
    envelope *e = NULL;
    assert_int_equal(envelope_decode(b2, len2, 0, &e), ASYLINK_OK);
    uint64_t later = fx_node_by_id(f, "DE")->cert->not_after_ms + 1;
    assert_int_equal(envelope_verify_cached(e, f->trust, c, later, NULL), ASYLINK_E_CERT_EXPIRED);
    envelope_destroy(&e);
    rootcache_destroy(&c);
    s_drafts_free(d, 5);
    envelope_sealer_destroy(&s);
}

/* Decoding stored bytes without the hashing verification needs: no verify then. */
static void test_decode_opt(void **state)
{
    fx_fed *f = *state;
    envelope_sealer *s = s_sealer(f, "DE");
    envelope_draft **d = s_drafts(f, s, 3, NULL);
    assert_int_equal(envelope_sign(s, d, 3), ASYLINK_OK);
    size_t len = 0;
    const uint8_t *b = envelope_draft_bytes(d[1], &len);
    envelope *full = NULL, *no_proof = NULL, *no_digest = NULL;
    assert_int_equal(envelope_decode(b, len, 0, &full), ASYLINK_OK);
    assert_int_equal(envelope_decode_opt(b, len, 0, ENVELOPE_DECODE_NO_PROOF, &no_proof),
                     ASYLINK_OK);
    assert_int_equal(envelope_decode_opt(b, len, 0, ENVELOPE_DECODE_NO_DIGEST, &no_digest),
                     ASYLINK_OK);
    assert_memory_equal(envelope_digest(no_proof), envelope_digest(full), 64);
    assert_null(envelope_digest(no_digest));
    uint64_t now = clock_now_ms();
    assert_int_equal(envelope_verify(full, f->trust, now, NULL), ASYLINK_OK);
    assert_int_equal(envelope_verify(no_proof, f->trust, now, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(envelope_verify(no_digest, f->trust, now, NULL), ASYLINK_E_INVALID_ARG);
    /* The structure is still checked: a malformed proof is refused either way. */
    Asylink__V1__Envelope *pb = asylink__v1__envelope__unpack(NULL, len, b);
    pb->batch->size = 1;
    size_t n = asylink__v1__envelope__get_packed_size(pb);
    uint8_t *bad = malloc(n);
    asylink__v1__envelope__pack(pb, bad);
    envelope *x = NULL;
    assert_int_equal(envelope_decode_opt(bad, n, 0, ENVELOPE_DECODE_NO_DIGEST, &x),
                     ASYLINK_E_BATCH_SINGLE);
    free(bad);
    asylink__v1__envelope__free_unpacked(pb, NULL);
    envelope_destroy(&full);
    envelope_destroy(&no_proof);
    envelope_destroy(&no_digest);
    s_drafts_free(d, 3);
    envelope_sealer_destroy(&s);
}

/* The largest batch: 1024 envelopes, one signature, one verification. */
static void test_batch_1024(void **state)
{
    fx_fed *f = *state;
    envelope_sealer *s = s_sealer(f, "DE");
    size_t n = BATCH_MAX;
    envelope_draft **d = calloc(n, sizeof *d);
    for (size_t i = 0; i < n; i++) {
        envelope_params p = {
            .topic = "stats.batch", .content_type = "t", .classification = ENVELOPE_PUBLIC};
        assert_int_equal(envelope_seal_draft(s, &p, (const uint8_t *)&i, sizeof i, &d[i], NULL),
                         ASYLINK_OK);
    }
    assert_int_equal(envelope_sign(s, d, n), ASYLINK_OK);
    rootcache *c = NULL;
    assert_int_equal(rootcache_new(ROOTCACHE_DEFAULT_SIZE, &c), ASYLINK_OK);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const uint8_t *b = envelope_draft_bytes(d[i], &len);
        envelope *e = NULL;
        assert_int_equal(envelope_decode(b, len, 0, &e), ASYLINK_OK);
        assert_int_equal(envelope_batch_size(e), 1024);
        assert_int_equal(envelope_verify_cached(e, f->trust, c, clock_now_ms(), NULL), ASYLINK_OK);
        envelope_destroy(&e);
    }
    uint64_t hits = 0, misses = 0;
    rootcache_stats(c, NULL, &hits, &misses);
    assert_int_equal(misses, 1);
    assert_int_equal(hits, 1023);
    rootcache_destroy(&c);
    s_drafts_free(d, n);
    envelope_sealer_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_every_size),
        cmocka_unit_test(test_tree_shape),
        cmocka_unit_test(test_shape_refusals),
        cmocka_unit_test(test_duplicate_leaf),
        cmocka_unit_test(test_walk_cache_same_results),
        cmocka_unit_test(test_rootcache_lru),
        cmocka_unit_test(test_rootcache_threads),
        cmocka_unit_test(test_batch_envelopes_verify_alone),
        cmocka_unit_test(test_single_draft_is_plain_seal),
        cmocka_unit_test(test_sign_refusals),
        cmocka_unit_test(test_proof_refusals),
        cmocka_unit_test(test_cache_forged_proof_fails),
        cmocka_unit_test(test_decode_opt),
        cmocka_unit_test(test_batch_1024),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
