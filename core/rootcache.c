/*
 * rootcache.c — a bounded LRU set of verified batch statements.
 *
 * A fixed array of entries, a hash table of chains (indices into the
 * array) and a doubly linked recency list through the same entries; no
 * allocation after creation. Buckets are chosen by a keyed SipHash of the
 * statement with a random key, so nobody can aim entries at one chain
 * (only a trusted signer's statements are ever inserted anyway).
 */
#include "rootcache.h"

#include "asylink/errors.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

typedef struct {
    uint8_t pk[32];        /* signer's Ed25519 public key */
    uint8_t statement[64]; /* batch statement digest */
    uint8_t sig[64];       /* the signature that verified */
    uint32_t chain;        /* next entry in the same bucket */
    uint32_t newer, older; /* recency list */
    uint32_t bucket;       /* its bucket */
} s_entry;

struct rootcache {
    pthread_mutex_t lock;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    size_t capacity;   /* entries */
    size_t used;       /* entries in use: [0, used) */
    size_t n_buckets;  /* a power of two >= 2 * capacity */
    uint32_t *buckets; /* first entry of each chain, NIL if none */
    uint32_t newest, oldest;
    uint64_t hits, misses;
    s_entry *entries;
};

int rootcache_new(size_t capacity, rootcache **out)
{
    *out = NULL;
    if (capacity == 0 || capacity >= NIL / 4)
        return ASYLINK_E_INVALID_ARG;
    if (sodium_init() < 0)
        return ASYLINK_E_INTERNAL;
    rootcache *c = calloc(1, sizeof *c);
    if (!c)
        return ASYLINK_E_NOMEM;
    c->capacity = capacity;
    c->n_buckets = 2;
    while (c->n_buckets < 2 * capacity)
        c->n_buckets *= 2;
    c->buckets = malloc(c->n_buckets * sizeof *c->buckets);
    c->entries = calloc(capacity, sizeof *c->entries);
    if (!c->buckets || !c->entries || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->buckets);
        free(c->entries);
        free(c);
        return ASYLINK_E_NOMEM;
    }
    randombytes_buf(c->hash_key, sizeof c->hash_key);
    rootcache_clear(c);
    *out = c;
    return ASYLINK_OK;
}

void rootcache_destroy(rootcache **self_p)
{
    if (!self_p || !*self_p)
        return;
    rootcache *c = *self_p;
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    free(c->entries);
    free(c);
    *self_p = NULL;
}

static void s_reset(rootcache *c)
{
    for (size_t i = 0; i < c->n_buckets; i++)
        c->buckets[i] = NIL;
    c->used = 0;
    c->newest = c->oldest = NIL;
}

void rootcache_clear(rootcache *c)
{
    pthread_mutex_lock(&c->lock);
    s_reset(c);
    pthread_mutex_unlock(&c->lock);
}

static uint32_t s_bucket(const rootcache *c, const uint8_t pk[32], const uint8_t statement[64])
{
    uint8_t in[96], h[crypto_shorthash_BYTES];
    memcpy(in, pk, 32);
    memcpy(in + 32, statement, 64);
    crypto_shorthash(h, in, sizeof in, c->hash_key);
    uint64_t v = 0;
    memcpy(&v, h, sizeof v);
    return (uint32_t)(v & (c->n_buckets - 1));
}

/* Takes entry i out of the recency list. */
static void s_unlink(rootcache *c, uint32_t i)
{
    s_entry *e = &c->entries[i];
    if (e->newer != NIL)
        c->entries[e->newer].older = e->older;
    else
        c->newest = e->older;
    if (e->older != NIL)
        c->entries[e->older].newer = e->newer;
    else
        c->oldest = e->newer;
}

/* Puts entry i at the head (most recent) of the recency list. */
static void s_push_newest(rootcache *c, uint32_t i)
{
    s_entry *e = &c->entries[i];
    e->newer = NIL;
    e->older = c->newest;
    if (c->newest != NIL)
        c->entries[c->newest].newer = i;
    c->newest = i;
    if (c->oldest == NIL)
        c->oldest = i;
}

/* Removes entry i from its bucket's chain. */
static void s_unchain(rootcache *c, uint32_t i)
{
    uint32_t *p = &c->buckets[c->entries[i].bucket];
    while (*p != NIL && *p != i)
        p = &c->entries[*p].chain;
    if (*p == i)
        *p = c->entries[i].chain;
}

/* The entry for (pk, statement) or NIL. */
static uint32_t s_find(rootcache *c, uint32_t b, const uint8_t pk[32], const uint8_t statement[64])
{
    for (uint32_t i = c->buckets[b]; i != NIL; i = c->entries[i].chain)
        if (memcmp(c->entries[i].statement, statement, 64) == 0 &&
            memcmp(c->entries[i].pk, pk, 32) == 0)
            return i;
    return NIL;
}

bool rootcache_contains(rootcache *c, const uint8_t pk[32], const uint8_t statement[64],
                        const uint8_t sig[64])
{
    uint32_t b = s_bucket(c, pk, statement);
    pthread_mutex_lock(&c->lock);
    uint32_t i = s_find(c, b, pk, statement);
    bool hit = i != NIL && sodium_memcmp(c->entries[i].sig, sig, 64) == 0;
    if (hit) {
        s_unlink(c, i);
        s_push_newest(c, i);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void rootcache_put(rootcache *c, const uint8_t pk[32], const uint8_t statement[64],
                   const uint8_t sig[64])
{
    uint32_t b = s_bucket(c, pk, statement);
    pthread_mutex_lock(&c->lock);
    uint32_t i = s_find(c, b, pk, statement);
    if (i != NIL) {
        s_unlink(c, i); /* the same statement again: keep the latest signature */
    } else {
        if (c->used < c->capacity) {
            i = (uint32_t)c->used++;
        } else {
            i = c->oldest; /* full: reuse the least recently used entry */
            s_unlink(c, i);
            s_unchain(c, i);
        }
        s_entry *e = &c->entries[i];
        memcpy(e->pk, pk, 32);
        memcpy(e->statement, statement, 64);
        e->bucket = b;
        e->chain = c->buckets[b];
        c->buckets[b] = i;
    }
    memcpy(c->entries[i].sig, sig, 64);
    s_push_newest(c, i);
    pthread_mutex_unlock(&c->lock);
}

void rootcache_stats(rootcache *c, size_t *entries, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&c->lock);
    if (entries)
        *entries = c->used;
    if (hits)
        *hits = c->hits;
    if (misses)
        *misses = c->misses;
    pthread_mutex_unlock(&c->lock);
}
