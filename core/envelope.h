/*
 * envelope.h — the signed, end-to-end encrypted envelope (DESIGN section 4,
 * docs/PROTOCOL.md): seal on the sending node, verify at the broker and the
 * reader, open (decrypt) at the reader.
 *
 *   body        = nonce(24) || XChaCha20-Poly1305-IETF(K, payload, ad = header bytes)
 *   wrapped_key = nonce(24) || crypto_box_easy_afternm(K, nonce,
 *                 crypto_box_beforenm(reader X25519 pk, sender ephemeral sk))
 *   commitment  = BLAKE2b-256("asylink.key-commitment.v1" || K), in the header
 *   signature   = Ed25519(sender sk, BLAKE2b-512("asylink.envelope.v1" ||
 *                 lp(header) || lp(body) || for each key: lp(node_id) || lp(wrapped_key)))
 *
 * Only canonical protobuf encodings are accepted (codec.h), so the bytes
 * every implementation parses are exactly the bytes that were signed.
 *
 * Checks run in a fixed order so every failure has one specific code:
 *   envelope_decode():  size (TOO_LARGE), the pre-scan of the raw bytes (codec_prescan():
 *     MALFORMED; more than ENVELOPE_MAX_RECIPIENTS recipients or ENVELOPE_MAX_READERS key
 *     wraps: TOO_LARGE), protobuf and canonical form (MALFORMED), header
 *     version (UNSUPPORTED_VERSION), node ids (BAD_NODE_ID), field shapes
 *     (BAD_FIELD), classification rules (CLASSIFICATION), key wraps against
 *     the named readers (KEYWRAP_MISMATCH);
 *   envelope_verify():  sender certificate named by (sender, sender_cert_serial)
 *     (UNKNOWN_SENDER; WRONG_KEY if the node is known but not that serial;
 *     REVOKED, CERT_EXPIRED, CERT_NOT_YET_VALID), signature (BAD_SIGNATURE),
 *     expiry (EXPIRED);
 *   envelope_open():    reader named (NOT_RECIPIENT), unwrap, key commitment
 *     and decrypt (TAMPERED).
 *
 * Threading: an envelope is immutable after decoding. A sealer or an opener
 * holds a key cache and must be used by one thread at a time.
 */
#ifndef ASYLINK_CORE_ENVELOPE_H
#define ASYLINK_CORE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"
#include "keys.h"
#include "topic.h" /* topic_valid(), topic_under() */
#include "trust.h"

#define ENVELOPE_VERSION 1
#define ENVELOPE_MAX_PAYLOAD (32u * 1024u * 1024u)      /* hard limit of this implementation */
#define ENVELOPE_MAX_SIZE (ENVELOPE_MAX_PAYLOAD + 1024u * 1024u)
#define ENVELOPE_MAX_RECIPIENTS 256
#define ENVELOPE_MAX_READERS 1024
#define ENVELOPE_TOPIC_MAX TOPIC_MAX
#define ENVELOPE_CONTENT_TYPE_MAX 128
#define ENVELOPE_WRAPPED_KEY_LEN 72 /* nonce 24 || MAC 16 || encrypted key 32 */
#define ENVELOPE_COMMITMENT_LEN 32
#define ENVELOPE_COMMITMENT_DOMAIN "asylink.key-commitment.v1"
#define ENVELOPE_DIGEST_LEN 64
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
    const char *topic;             /* "" for a direct message */
    const char *content_type;
    int classification;            /* enum envelope_class */
    uint64_t created_ms;
    uint64_t expires_ms;           /* 0 = never */
    bool has_correlation;
    uint8_t correlation_id[16];
    int encryption;                /* enum envelope_encryption */
    uint64_t payload_size;
    uint8_t sender_ephemeral_pk[32];
    uint64_t sender_cert_serial;
} envelope_header;

typedef struct envelope envelope;

/* Name of a classification ("PUBLIC", ...) or NULL; and the reverse (-1 if unknown). */
const char *envelope_class_name(int classification);
int envelope_class_parse(const char *name);

/*
 * Decodes buf (len bytes; rejected above max_len, 0 = ENVELOPE_MAX_SIZE) and
 * checks its structure; see the file comment for the codes. The envelope
 * keeps its own copy of nothing but the decoded fields; buf may be freed.
 * Caller destroys *out.
 */
int envelope_decode(const uint8_t *buf, size_t len, size_t max_len, envelope **out);

void envelope_destroy(envelope **self_p);

/* The header. Valid while e lives. */
const envelope_header *envelope_header_of(const envelope *e);

/* The signature digest (also what receipts quote). Valid while e lives. */
const uint8_t *envelope_digest(const envelope *e);

/* BLAKE2b-256("asylink.key-commitment.v1" || key): the header's key_commitment. */
void envelope_key_commitment(const uint8_t key[32], uint8_t out[ENVELOPE_COMMITMENT_LEN]);

/* Number of key wraps and the node id of the i-th. */
size_t envelope_key_count(const envelope *e);
const char *envelope_key_node(const envelope *e, size_t i);

/* Body length in bytes. */
size_t envelope_body_len(const envelope *e);

/* ASYLINK_OK if the signature verifies under sign_pk, else E_BAD_SIGNATURE. */
int envelope_verify_signature(const envelope *e, const uint8_t sign_pk[32]);

/*
 * Full verification against the trust directory at now_ms (see the file
 * comment for the codes). On success *sender_out (may be NULL) is the
 * sender's certificate, valid while t lives.
 */
int envelope_verify(const envelope *e, const trust *t, uint64_t now_ms,
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
 * key wrap in order. Returns ASYLINK_OK, ASYLINK_E_BAD_NODE_ID, E_NOMEM.
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
    const char *topic;             /* feed topic, or NULL for direct */
    const cert *const *readers;    /* certificates to wrap the key to; for a direct
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
int envelope_seal(envelope_sealer *s, const envelope_params *p, const uint8_t *payload,
                  size_t len, uint8_t **out, size_t *out_len, uint8_t message_id_out[16]);

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
