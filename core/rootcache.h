/*
 * rootcache.h — batch statements whose signatures a verifier has already
 * checked (docs/PROTOCOL.md 4.10), so that the other envelopes of a batch
 * cost a short hash walk instead of an Ed25519 verification.
 *
 * An entry is (signer's Ed25519 public key, statement digest, signature);
 * a lookup hits only when all three are identical, so an entry proves
 * exactly what a fresh crypto_sign_verify_detached() would. The statement
 * digest is always computed from the envelope's own proof: a forged path
 * gives another statement and misses. Bounded: at most `capacity` entries,
 * the least recently used is dropped.
 *
 * The cache holds no reference to certificates or trust: its owner makes
 * a new one (or calls rootcache_clear()) whenever the trust directory is
 * reloaded, which also covers revocation.
 *
 * Threading: every function may be called from any thread; one mutex
 * guards the table (the broker's verify workers share one cache).
 */
#ifndef ASYLINK_CORE_ROOTCACHE_H
#define ASYLINK_CORE_ROOTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROOTCACHE_DEFAULT_SIZE 4096

typedef struct rootcache rootcache;

/* A cache of capacity entries (>= 1). ASYLINK_OK, ASYLINK_E_INVALID_ARG or E_NOMEM. */
int rootcache_new(size_t capacity, rootcache **out);

/* Frees the cache and nulls *self_p. Accepts NULL. No other thread may use it. */
void rootcache_destroy(rootcache **self_p);

/*
 * True if (pk, statement, sig) was put and is still held; a hit becomes
 * the most recently used entry.
 */
bool rootcache_contains(rootcache *c, const uint8_t pk[32], const uint8_t statement[64],
                        const uint8_t sig[64]);

/* Records a verified (pk, statement, sig), dropping the least recently used entry when full. */
void rootcache_put(rootcache *c, const uint8_t pk[32], const uint8_t statement[64],
                   const uint8_t sig[64]);

/* Forgets every entry. */
void rootcache_clear(rootcache *c);

/* Entries held, and hits and misses counted since creation. */
void rootcache_stats(rootcache *c, size_t *entries, uint64_t *hits, uint64_t *misses);

#endif
