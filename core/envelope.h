/*
 * envelope.h — the signed, end-to-end encrypted envelope (DESIGN section 4,
 * docs/PROTOCOL.md): seal on the sending node, verify at the broker and the
 * reader, open (decrypt) at the reader.
 *
 *   body        = nonce(24) || XChaCha20-Poly1305-IETF(K, payload, ad = header bytes)
 *   wrapped_key = nonce(24) || crypto_box_easy_afternm(K, nonce,
 *                 crypto_box_beforenm(reader X25519 pk, sender ephemeral sk))
 *   commitment  = BLAKE2b-256("asylink.key-commitment.v1" || K), in the header
 *   digest      = BLAKE2b-512("asylink.envelope.v1" || lp(header) || lp(body) ||
 *                 for each key: lp(node_id) || lp(wrapped_key))
 *   signature   = Ed25519(sender sk, digest), or for an envelope of a batch
 *                 (field 5 present) Ed25519(sender sk, batch statement): one
 *                 signature over a Merkle root of 2..1024 envelope digests,
 *                 each envelope carrying its own path (batch.h, PROTOCOL.md 4.10)
 *
 * Only canonical protobuf encodings are accepted (codec.h), so the bytes
 * every implementation parses are exactly the bytes that were signed.
 *
 * Checks run in a fixed order so every failure has one specific code:
 *   envelope_decode():  size (TOO_LARGE), the pre-scan of the raw bytes (codec_prescan():
 *     MALFORMED; more than ENVELOPE_MAX_RECIPIENTS recipients, ENVELOPE_MAX_READERS key
 *     wraps or ENVELOPE_BATCH_PATH_SCAN_MAX batch path elements: TOO_LARGE), protobuf and
 *     canonical form (MALFORMED), header
 *     version (UNSUPPORTED_VERSION), node ids (BAD_NODE_ID), field shapes
 *     (BAD_FIELD), classification rules (CLASSIFICATION), key wraps against
 *     the named readers (KEYWRAP_MISMATCH), signature length (BAD_FIELD), batch
 *     proof shape (BATCH_SALT, BATCH_SINGLE, BATCH_SIZE, BATCH_INDEX, BATCH_PATH)
 *     and its walk to the root (BATCH_DUPLICATE);
 *   envelope_verify():  sender certificate named by (sender, sender_cert_serial)
 *     (UNKNOWN_SENDER; WRONG_KEY if the node is known but not that serial;
 *     REVOKED, CERT_EXPIRED, CERT_NOT_YET_VALID), signature (BAD_SIGNATURE),
 *     expiry (EXPIRED);
 *   envelope_open():    reader named (NOT_RECIPIENT), unwrap, key commitment
 *     and decrypt (TAMPERED).
 *
 * Threading: an envelope is immutable after decoding. A sealer or an opener
 * holds a key cache and must be used by one thread at a time; drafts of a
 * sealer are signed under that sealer's lock too.
 */
#ifndef ASYLINK_CORE_ENVELOPE_H
#define ASYLINK_CORE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "cert.h"
#include "keys.h"
#include "rootcache.h"
#include "topic.h" /* topic_valid(), topic_under() */
#include "trust.h"

#define ENVELOPE_VERSION 1
#define ENVELOPE_MAX_PAYLOAD (32u * 1024u * 1024u) /* hard limit of this implementation */
#define ENVELOPE_MAX_SIZE (ENVELOPE_MAX_PAYLOAD + 1024u * 1024u)
#define ENVELOPE_MAX_RECIPIENTS 256
#define ENVELOPE_MAX_READERS 1024
#define ENVELOPE_TOPIC_MAX TOPIC_MAX
#define ENVELOPE_CONTENT_TYPE_MAX 128
#define ENVELOPE_WRAPPED_KEY_LEN 72 /* nonce 24 || MAC 16 || encrypted key 32 */
#define ENVELOPE_COMMITMENT_LEN 32
#define ENVELOPE_COMMITMENT_DOMAIN "asylink.key-commitment.v1"
#define ENVELOPE_DIGEST_LEN 64
/* Most batch path elements decoding reads (more: TOO_LARGE before the BATCH_* checks). */
#define ENVELOPE_BATCH_PATH_SCAN_MAX 64
/* A sealer's ephemeral X25519 key is replaced at least this often. */
#define ENVELOPE_EPHEMERAL_MAX_AGE_MS (24ull * 3600 * 1000)

/* Classifications and encryptions, numbered as in envelope.proto. */
enum envelope_class {
    ENVELOPE_PUBLIC = 1,
    ENVELOPE_LIMITED = 2,
    ENVELOPE_PERSONAL = 3,
};
enum envelope_encryption {
    ENVELOPE_ENC_NONE = 0,
    ENVELOPE_ENC_XCHACHA20POLY1305 = 1,
};

/* The decoded header. Pointers are valid while the envelope lives. */
typedef struct envelope_header {
    uint32_t version;
    uint8_t message_id[16];
    const char *sender;
    const char *const *recipients; /* direct recipients, n_recipients of them */
    size_t n_recipients;
    const char *topic; /* "" for a direct message */
    const char *content_type;
    int classification; /* enum envelope_class */
    uint64_t created_ms;
    uint64_t expires_ms; /* 0 = never */
    bool has_correlation;
    uint8_t correlation_id[16];
    int encryption; /* enum envelope_encryption */
    uint64_t payload_size;
    uint8_t sender_ephemeral_pk[32];
    uint64_t sender_cert_serial;
} envelope_header;

typedef struct envelope envelope;

/* True if ct is a content type an envelope may carry: 1..ENVELOPE_CONTENT_TYPE_MAX bytes of
   printable ASCII without spaces. */
bool envelope_content_type_valid(const char *ct);

/* Name of a classification ("PUBLIC", ...) or NULL; and the reverse (-1 if unknown). */
const char *envelope_class_name(int classification);
int envelope_class_parse(const char *name);

/*
 * True when content_type names a payload that carries personal data
 * (asylink.v1.InformationRequest, asylink.v1.InformationReply; NULL: false).
 * asylum.proto requires such messages to travel as PERSONAL: the library
 * refuses to send them otherwise and the broker refuses them (PROTOCOL.md 3.1).
 */
bool envelope_type_personal(const char *content_type);

/*
 * Decodes buf (len bytes; rejected above max_len, 0 = ENVELOPE_MAX_SIZE) and
 * checks its structure; see the file comment for the codes. The envelope
 * keeps its own copy of nothing but the decoded fields; buf may be freed.
 * Caller destroys *out.
 */
int envelope_decode(const uint8_t *buf, size_t len, size_t max_len, envelope **out);

/*
 * What envelope_decode_opt() may leave out for bytes this node verified
 * when they arrived and stored: every structural check (including a batch
 * proof's shape) still runs, but not the hashing that only verification
 * needs. envelope_verify*() refuse such an envelope (ASYLINK_E_INVALID_ARG).
 */
enum {
    ENVELOPE_DECODE_NO_PROOF = 1,  /* no walk of a batch proof: no signed digest */
    ENVELOPE_DECODE_NO_DIGEST = 2, /* nor the digest: envelope_digest() returns NULL */
    /* nor the canonical-encoding check (a re-encoding compared with buf): the
     * bytes are the ones this node checked when they arrived */
    ENVELOPE_DECODE_STORED = 4,
    /* not a skip: decode through the general path only (pre-scan, protobuf-c,
     * canonical checks), never the one pass (codec_unpack_canonical); for
     * tests and fuzzers that check the two give the same result */
    ENVELOPE_DECODE_GENERAL = 8,
};

/*
 * The limits envelope_decode() pre-scans an Envelope and its Header with
 * (codec_prescan(), codec.h): for tests and fuzzers that run the general
 * path themselves. Static; never NULL.
 */
struct codec_scan_rules;
const struct codec_scan_rules *envelope_scan_rules(void);

/* envelope_decode() leaving out what skip (ENVELOPE_DECODE_NO_* bits) names. */
int envelope_decode_opt(const uint8_t *buf, size_t len, size_t max_len, unsigned skip,
                        envelope **out);

/*
 * envelope_decode() walking a batch proof with the caller's walk cache
 * (batch.h; NULL: none): the same results, fewer hashes for the envelopes
 * of a batch whose nodes the cache has met. The cache is the caller's
 * thread's alone.
 */
int envelope_decode_cached(const uint8_t *buf, size_t len, size_t max_len, batch_cache *cache,
                           envelope **out);

void envelope_destroy(envelope **self_p);

/* The header. Valid while e lives. */
const envelope_header *envelope_header_of(const envelope *e);

/*
 * The envelope digest of PROTOCOL.md 4.5 (what receipts quote), or NULL if
 * decoded with ENVELOPE_DECODE_NO_DIGEST. Valid while e lives.
 */
const uint8_t *envelope_digest(const envelope *e);

/*
 * What the signature covers: the envelope digest, or for a batched
 * envelope the batch statement computed from its own proof. Valid while e
 * lives.
 */
const uint8_t *envelope_signed_digest(const envelope *e);

/* The batch size (2..1024), or 0 for an envelope signed on its own. */
uint32_t envelope_batch_size(const envelope *e);

/* The envelope's index in its batch (0 when not batched). */
uint32_t envelope_batch_index(const envelope *e);

/* The batch root its proof leads to (32 bytes), or NULL when not batched. Valid while e lives. */
const uint8_t *envelope_batch_root(const envelope *e);

/* BLAKE2b-256("asylink.key-commitment.v1" || key): the header's key_commitment. */
void envelope_key_commitment(const uint8_t key[32], uint8_t out[ENVELOPE_COMMITMENT_LEN]);

/* Number of key wraps and the node id of the i-th. */
size_t envelope_key_count(const envelope *e);
const char *envelope_key_node(const envelope *e, size_t i);

/* Body length in bytes. */
size_t envelope_body_len(const envelope *e);

/*
 * ASYLINK_OK if the signature verifies under sign_pk over
 * envelope_signed_digest(), else E_BAD_SIGNATURE.
 */
int envelope_verify_signature(const envelope *e, const uint8_t sign_pk[32]);

/*
 * Full verification against the trust directory at now_ms (see the file
 * comment for the codes). On success *sender_out (may be NULL) is the
 * sender's certificate, valid while t lives.
 */
int envelope_verify(const envelope *e, const trust *t, uint64_t now_ms, const cert **sender_out);

/*
 * envelope_verify() that answers the signature check of a batched envelope
 * from cache (may be NULL) when the same signature of the same statement
 * under the same key verified before, and records it there when it
 * verifies now. Every other check runs as in envelope_verify(). The cache
 * must belong to t's generation of the trust directory (emptied or
 * replaced when trust is reloaded). Thread-safe if the cache is shared.
 */
int envelope_verify_cached(const envelope *e, const trust *t, rootcache *cache, uint64_t now_ms,
                           const cert **sender_out);

/* Random source: fills buf with n bytes. NULL means randombytes_buf. */
typedef void (*envelope_rng)(void *ctx, uint8_t *buf, size_t n);

typedef struct envelope_sealer envelope_sealer;

/*
 * A sealer for node_id, whose certificate has serial cert_serial. keys is
 * borrowed and must outlive the sealer. rng (may be NULL) is used for every
 * random byte, in this order: 32 bytes ephemeral X25519 secret at creation
 * and at each rotation; per message: 10 bytes for the UUIDv7 (if no id is
 * given), 32 bytes content key, 24 bytes body nonce, then 24 bytes nonce per
 * key wrap in order; per batch of two or more (envelope_sign()): 32 bytes
 * salt. Returns ASYLINK_OK, ASYLINK_E_BAD_NODE_ID, E_NOMEM.
 */
int envelope_sealer_new(const keys_secret *keys, const char *node_id, uint64_t cert_serial,
                        envelope_rng rng, void *rng_ctx, envelope_sealer **out);

void envelope_sealer_destroy(envelope_sealer **self_p);

/* Replaces the ephemeral key pair (wiping the old one) and its cache. */
void envelope_sealer_rotate(envelope_sealer *s);

/*
 * Rotates when the ephemeral key pair is older than max_age_ms at now_ms
 * (so that a sealer that seals rarely does not keep one secret for days).
 * Returns true if it rotated.
 */
bool envelope_sealer_rotate_if_older(envelope_sealer *s, uint64_t now_ms, uint64_t max_age_ms);

/* The current ephemeral public key (32 bytes). Valid until the next rotation. */
const uint8_t *envelope_sealer_ephemeral_pk(const envelope_sealer *s);

/* What to seal. */
typedef struct envelope_params {
    const char *const *recipients; /* direct recipients, or NULL with a topic */
    size_t n_recipients;
    const char *topic;          /* feed topic, or NULL for direct */
    const cert *const *readers; /* certificates to wrap the key to; for a direct
                                   message exactly the recipients' (any order) */
    size_t n_readers;
    const char *content_type;      /* required, <= 128 bytes */
    int classification;            /* enum envelope_class */
    uint64_t created_ms;           /* 0 = now */
    uint64_t expires_ms;           /* 0 = never */
    const uint8_t *correlation_id; /* 16 bytes or NULL */
    const uint8_t *message_id;     /* 16 bytes or NULL for a fresh UUIDv7 */
    uint8_t *digest_out;           /* NULL, or 64 bytes: receives the signed digest */
} envelope_params;

/*
 * Seals payload (len bytes) into a new serialized envelope (*out, malloc'd,
 * caller frees). LIMITED and PERSONAL are always encrypted; PUBLIC is
 * encrypted when readers are given, else signed only. PERSONAL must be
 * direct. The message id is written to message_id_out (may be NULL).
 * Returns ASYLINK_OK, ASYLINK_E_INVALID_ARG, ASYLINK_E_BAD_NODE_ID,
 * ASYLINK_E_BAD_FIELD, ASYLINK_E_TOO_LARGE, ASYLINK_E_CLASSIFICATION,
 * ASYLINK_E_KEYWRAP_MISMATCH (readers differ from recipients), E_NOMEM.
 * Duplicate recipients or readers are ASYLINK_E_BAD_FIELD; more than
 * ENVELOPE_MAX_RECIPIENTS / _READERS are ASYLINK_E_TOO_LARGE (as on decode).
 */
int envelope_seal(envelope_sealer *s, const envelope_params *p, const uint8_t *payload, size_t len,
                  uint8_t **out, size_t *out_len, uint8_t message_id_out[16]);

/*
 * Sealing in two steps, for batches (PROTOCOL.md 4.10): envelope_seal_draft()
 * does everything envelope_seal() does but sign (same checks, codes and
 * random draws) and returns a draft (caller destroys it); envelope_sign()
 * then signs 1..BATCH_MAX drafts of this sealer at once. One draft is
 * signed over its digest exactly as envelope_seal() would; two or more get
 * one signature over their tree's root and a BatchProof each. p->digest_out
 * receives the digest at draft time (it does not depend on the batch).
 */
typedef struct envelope_draft envelope_draft;

int envelope_seal_draft(envelope_sealer *s, const envelope_params *p, const uint8_t *payload,
                        size_t len, envelope_draft **out, uint8_t message_id_out[16]);

/* The draft's envelope digest (64 bytes) and message id (16). Valid while d lives. */
const uint8_t *envelope_draft_digest(const envelope_draft *d);
const uint8_t *envelope_draft_message_id(const envelope_draft *d);

/*
 * Signs drafts[0..n) (all sealed by s, none signed yet) in the given
 * order: n = 1 alone, n = 2..BATCH_MAX as one batch (draws the salt).
 * Returns ASYLINK_OK, ASYLINK_E_INVALID_ARG (n = 0, a draft of another
 * sealer or already signed), ASYLINK_E_TOO_LARGE (n > BATCH_MAX),
 * ASYLINK_E_BATCH_DUPLICATE (two drafts with one message id), E_NOMEM; on
 * failure no draft is signed.
 */
int envelope_sign(envelope_sealer *s, envelope_draft *const *drafts, size_t n);

/* The serialized envelope of a signed draft (NULL before signing). Valid while d lives. */
const uint8_t *envelope_draft_bytes(const envelope_draft *d, size_t *len);

/* Moves the serialized envelope out of a signed draft (malloc'd, caller frees); NULL if unsigned.
 */
uint8_t *envelope_draft_take(envelope_draft *d, size_t *len);

/* Frees a draft and nulls *self_p. Accepts NULL. */
void envelope_draft_destroy(envelope_draft **self_p);

typedef struct envelope_opener envelope_opener;

/* An opener for reader node_id; keys borrowed, must outlive it. */
int envelope_opener_new(const keys_secret *keys, const char *node_id, envelope_opener **out);

void envelope_opener_destroy(envelope_opener **self_p);

/*
 * Decrypts a verified envelope for this reader. *payload is malloc'd (also
 * for an empty payload); free it with envelope_payload_free(). Returns
 * ASYLINK_OK, ASYLINK_E_NOT_RECIPIENT, ASYLINK_E_TAMPERED, E_NOMEM. Call
 * envelope_verify() first: open does not check the signature.
 */
int envelope_open(envelope_opener *op, const envelope *e, uint8_t **payload, size_t *len);

/*
 * The content key K of an encrypted envelope this reader can open: the key
 * wrap is opened and K checked against the header's key commitment, as by
 * envelope_open(), and K (32 bytes) is written to key. Disclosing K lets a
 * third party decrypt exactly this envelope (envelope_open_with_key), and
 * nothing else. Returns ASYLINK_OK, ASYLINK_E_NOT_RECIPIENT,
 * ASYLINK_E_TAMPERED, ASYLINK_E_BAD_FIELD (not encrypted). The caller wipes key.
 */
int envelope_open_key(envelope_opener *op, const envelope *e, uint8_t key[32]);

/*
 * Decrypts an encrypted envelope with a disclosed content key: key must be
 * the one the signed header commits to (BLAKE2b-256 key commitment, so it
 * pins down the one plaintext every reader saw) and must open the body
 * with the header as associated data. *payload as envelope_open(). Returns
 * ASYLINK_OK, ASYLINK_E_TAMPERED (another key, or a body that does not
 * open), ASYLINK_E_BAD_FIELD (not encrypted), ASYLINK_E_NOMEM. Does not
 * check the signature: call envelope_verify_signature() first.
 */
int envelope_open_with_key(const envelope *e, const uint8_t key[32], uint8_t **payload,
                           size_t *len);

/* Wipes and frees a payload from envelope_open(). Accepts NULL. */
void envelope_payload_free(uint8_t *payload, size_t len);

#endif
