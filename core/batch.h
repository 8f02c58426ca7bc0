/*
 * batch.h — the Merkle tree of a batch signature (docs/PROTOCOL.md 4.10).
 *
 * A sender signs 2..BATCH_MAX envelopes at once: one Ed25519 signature
 * over a statement naming the root of a tree whose leaves are the
 * envelopes' digests. The tree has RFC 9162's shape (section 2.1: the
 * left subtree holds the largest power of two below n leaves); every hash
 * is salted with the batch's random salt and domain-separated, and each
 * leaf is bound to its position:
 *
 *   leaf      = BLAKE2b-256("asylink.batch-leaf.v1" || salt || u32be(index) || digest)
 *   node      = BLAKE2b-256("asylink.batch-node.v1" || salt || left || right)
 *   statement = BLAKE2b-512("asylink.batch.v1" || lp(salt) || u32be(size) || root)
 *
 * Paths are RFC 9162 audit paths, bottom-up (the leaf's sibling first).
 * Pure functions; any thread.
 */
#ifndef ASYLINK_CORE_BATCH_H
#define ASYLINK_CORE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define BATCH_MAX 1024      /* envelopes in one batch */
#define BATCH_SALT_LEN 32   /* random bytes per batch */
#define BATCH_HASH_LEN 32   /* leaf, node, root and path element */
#define BATCH_MAX_DEPTH 10  /* path elements of the deepest leaf of BATCH_MAX */
#define BATCH_DIGEST_LEN 64 /* an envelope digest (envelope.h ENVELOPE_DIGEST_LEN) */
#define BATCH_STATEMENT_LEN 64
#define BATCH_DOMAIN_LEAF "asylink.batch-leaf.v1"
#define BATCH_DOMAIN_NODE "asylink.batch-node.v1"
#define BATCH_DOMAIN_STATEMENT "asylink.batch.v1"

/* Number of path elements of leaf index in a tree of size leaves (size >= 1, index < size). */
size_t batch_depth(uint32_t size, uint32_t index);

/* leaf = BLAKE2b-256("asylink.batch-leaf.v1" || salt || u32be(index) || digest). */
void batch_leaf(const uint8_t salt[BATCH_SALT_LEN], uint32_t index,
                const uint8_t digest[BATCH_DIGEST_LEN], uint8_t out[BATCH_HASH_LEN]);

/* node = BLAKE2b-256("asylink.batch-node.v1" || salt || left || right). */
void batch_node(const uint8_t salt[BATCH_SALT_LEN], const uint8_t left[BATCH_HASH_LEN],
                const uint8_t right[BATCH_HASH_LEN], uint8_t out[BATCH_HASH_LEN]);

/* statement = BLAKE2b-512("asylink.batch.v1" || lp(salt) || u32be(size) || root): what is signed.
 */
void batch_statement(const uint8_t salt[BATCH_SALT_LEN], uint32_t size,
                     const uint8_t root[BATCH_HASH_LEN], uint8_t out[BATCH_STATEMENT_LEN]);

/*
 * Checks a proof's shape, in the order of PROTOCOL.md 4.10, and returns
 * the first failure: ASYLINK_E_BATCH_SALT (salt_len != 32),
 * ASYLINK_E_BATCH_SINGLE (size 1), ASYLINK_E_BATCH_SIZE (0 or > BATCH_MAX),
 * ASYLINK_E_BATCH_INDEX (index >= size), ASYLINK_E_BATCH_PATH (n_path
 * differs from batch_depth(size, index), or path_lens[i] != 32); else
 * ASYLINK_OK.
 */
int batch_check_shape(size_t salt_len, uint32_t size, uint32_t index, size_t n_path,
                      const size_t *path_lens);

/*
 * Walks a checked proof from the leaf of digest at index up to the root
 * (path[i] are 32-byte hashes, bottom-up) and writes the root.
 * ASYLINK_E_BATCH_DUPLICATE if a path element equals the node it is hashed
 * with (the same leaf or subtree twice), else ASYLINK_OK.
 */
int batch_root_from_path(const uint8_t salt[BATCH_SALT_LEN], uint32_t size, uint32_t index,
                         const uint8_t digest[BATCH_DIGEST_LEN], const uint8_t *const *path,
                         size_t n_path, uint8_t root[BATCH_HASH_LEN]);

/*
 * The nodes of the last few batches' trees met in earlier walks (a verify
 * worker's, one per thread; not shared), by (salt, size). A walk through a
 * node already known, whose remaining path elements are the known
 * siblings, would hash exactly the known nodes up to the known root: it
 * stops there and compares instead of hashing. Every known node of a tree
 * was computed by a full walk that reached the root the tree holds; a walk
 * reaching another root (another batch with the same salt and size) starts
 * that tree afresh. A proof that differs anywhere from the known nodes
 * takes the full walk: the result is always what batch_root_from_path()
 * gives.
 */
typedef struct batch_cache batch_cache;

/* A new empty cache (its trees take 33 bytes per node once used): ASYLINK_OK or E_NOMEM. */
int batch_cache_new(batch_cache **out);

/* Frees it. Accepts NULL. */
void batch_cache_destroy(batch_cache **self_p);

/*
 * batch_root_from_path() with a cache (NULL: none): same results, fewer
 * hashes when the batch's nodes are known; learns the nodes of a full walk.
 */
int batch_root_from_path_cached(batch_cache *c, const uint8_t salt[BATCH_SALT_LEN], uint32_t size,
                                uint32_t index, const uint8_t digest[BATCH_DIGEST_LEN],
                                const uint8_t *const *path, size_t n_path,
                                uint8_t root[BATCH_HASH_LEN]);

/*
 * Builds the tree over n digests (2..BATCH_MAX, each BATCH_DIGEST_LEN
 * bytes): writes the root, and for leaf i its path (batch_depth(n, i)
 * hashes, bottom-up) to paths + i * BATCH_MAX_DEPTH * BATCH_HASH_LEN, with
 * its length in depths[i]. ASYLINK_OK, or ASYLINK_E_TOO_LARGE /
 * ASYLINK_E_INVALID_ARG for n outside 1..BATCH_MAX (n = 1 is allowed: an
 * empty path, the root is the leaf).
 */
int batch_build(const uint8_t salt[BATCH_SALT_LEN], const uint8_t (*digests)[BATCH_DIGEST_LEN],
                size_t n, uint8_t root[BATCH_HASH_LEN], uint8_t *paths, uint8_t *depths);

#endif
