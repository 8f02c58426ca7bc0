/*
 * envelope.c — seal, verify and open asylink envelopes.
 *
 * X25519 is the costly step (two scalar multiplications per wrap), so both
 * sides cache crypto_box_beforenm() results: the sealer per reader key
 * (under its current ephemeral key), the opener per sender ephemeral key.
 * The caches live in sodium_malloc'd memory and are wiped on rotation and
 * destruction.
 *
 * A decoded envelope is one allocation: the struct, then an arena that
 * holds protobuf-c's decoded messages (see s_arena_alloc()).
 */
#include "envelope.h"

#include "asylink/errors.h"
#include "asylink/v1/envelope.pb-c.h"
#include "batch.h"
#include "clock.h"
#include "codec.h"
#include "sig.h"
#include "uuid.h"

#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define S_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define S_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define S_POISON(p, n) ((void)(p), (void)(n))
#define S_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES /* 24 */
#define KEY_LEN crypto_aead_xchacha20poly1305_ietf_KEYBYTES    /* 32 */
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES     /* 16 */
#define SEALER_CACHE_SLOTS 256
#define OPENER_CACHE_SLOTS 1024
#define ARENA_SLACK 512 /* arena bytes: 1.5 x the input's length plus this */
#define ARENA_ALIGN _Alignof(max_align_t)
/* Bytes a draft keeps free for the signature (66) and the largest batch proof (383). */
#define DRAFT_TAIL 512

struct envelope {
    Asylink__V1__Envelope *pb;                  /* decoded envelope */
    Asylink__V1__Header *hdr_pb;                /* decoded header bytes */
    envelope_header hdr;                        /* core's view of hdr_pb */
    uint8_t digest[ENVELOPE_DIGEST_LEN];        /* envelope digest (PROTOCOL.md 4.5) */
    uint8_t signed_digest[ENVELOPE_DIGEST_LEN]; /* what the signature covers: digest,
                                                   or the batch statement (4.10) */
    uint8_t root[BATCH_HASH_LEN];               /* batch root (batched envelopes only) */
    unsigned skipped;                           /* ENVELOPE_DECODE_NO_* left out */
    ProtobufCAllocator alloc;                   /* s_arena_alloc / s_arena_free on this envelope */
    uint8_t *arena;                             /* right after this struct */
    size_t arena_cap;                           /* its bytes */
    size_t arena_used;                          /* bytes handed out, with alignment */
    size_t n_outside;                           /* live allocations that did not fit the arena */
};

/* ---- the beforenm cache: direct-mapped, keyed by a public key ---- */

typedef struct {
    uint8_t pk[32]; /* peer public key */
    uint8_t k[32];  /* crypto_box_beforenm(pk, our sk) */
    uint8_t used;
} s_slot;

typedef struct {
    size_t n_slots;
    uint8_t hash_key[crypto_shorthash_KEYBYTES]; /* random, so peers cannot aim collisions */
    s_slot slots[];
} s_cache;

static s_cache *s_cache_new(size_t n_slots)
{
    size_t size = sizeof(s_cache) + n_slots * sizeof(s_slot);
    s_cache *c = sodium_malloc(size);
    if (!c)
        return NULL;
    sodium_memzero(c, size);
    c->n_slots = n_slots;
    randombytes_buf(c->hash_key, sizeof c->hash_key);
    return c;
}

static void s_cache_free(s_cache *c)
{
    if (c)
        sodium_free(c); /* sodium_free wipes */
}

static void s_cache_clear(s_cache *c)
{
    sodium_memzero(c->slots, c->n_slots * sizeof(s_slot));
}

/* The shared key for (pk, sk); 0 on success, -1 for a weak public key. */
static int s_cache_get(s_cache *c, const uint8_t pk[32], const uint8_t sk[32], uint8_t k[32])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, pk, 32, c->hash_key);
    uint64_t idx = 0;
    memcpy(&idx, h, sizeof idx);
    s_slot *slot = &c->slots[idx % c->n_slots];
    if (slot->used && sodium_memcmp(slot->pk, pk, 32) == 0) {
        memcpy(k, slot->k, 32);
        return 0;
    }
    if (crypto_box_beforenm(k, pk, sk) != 0)
        return -1;
    memcpy(slot->pk, pk, 32);
    memcpy(slot->k, k, 32);
    slot->used = 1;
    return 0;
}

/* ---- names and syntax ---- */

static const char *const s_class_names[] = {NULL, "PUBLIC", "LIMITED", "PERSONAL"};

const char *envelope_class_name(int classification)
{
    return classification >= ENVELOPE_PUBLIC && classification <= ENVELOPE_PERSONAL
               ? s_class_names[classification]
               : NULL;
}

int envelope_class_parse(const char *name)
{
    for (int i = ENVELOPE_PUBLIC; name && i <= ENVELOPE_PERSONAL; i++)
        if (strcasecmp(name, s_class_names[i]) == 0)
            return i;
    return -1;
}

bool envelope_type_personal(const char *content_type)
{
    return content_type && (strcmp(content_type, "asylink.v1.InformationRequest") == 0 ||
                            strcmp(content_type, "asylink.v1.InformationReply") == 0);
}

bool envelope_content_type_valid(const char *ct)
{
    size_t n = ct ? strlen(ct) : 0;
    if (n == 0 || n > ENVELOPE_CONTENT_TYPE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)ct[i] <= 0x20 || (unsigned char)ct[i] >= 0x7f)
            return false;
    return true;
}

/* ---- decoding ---- */

static void s_compute_digest(envelope *e)
{
    crypto_generichash_state st;
    const Asylink__V1__Envelope *pb = e->pb;
    sig_digest_init(&st, SIG_DOMAIN_ENVELOPE);
    sig_digest_lp(&st, pb->header.data, pb->header.len);
    sig_digest_lp(&st, pb->body.data, pb->body.len);
    for (size_t i = 0; i < pb->n_keys; i++) {
        const char *id = pb->keys[i]->node_id;
        sig_digest_lp(&st, (const uint8_t *)id, strlen(id));
        sig_digest_lp(&st, pb->keys[i]->wrapped_key.data, pb->keys[i]->wrapped_key.len);
    }
    sig_digest_final(&st, e->digest);
}

/* Fills e->hdr from e->hdr_pb, checking shapes. */
static int s_header_fields(envelope *e)
{
    const Asylink__V1__Header *h = e->hdr_pb;
    envelope_header *o = &e->hdr;
    if (h->version != ENVELOPE_VERSION)
        return ASYLINK_E_UNSUPPORTED_VERSION;
    if (!node_id_valid(h->sender))
        return ASYLINK_E_BAD_NODE_ID;
    for (size_t i = 0; i < h->n_recipients; i++)
        if (!node_id_valid(h->recipients[i]))
            return ASYLINK_E_BAD_NODE_ID;
    bool direct = h->n_recipients > 0, has_topic = h->topic && h->topic[0];
    if (h->n_recipients > ENVELOPE_MAX_RECIPIENTS)
        return ASYLINK_E_TOO_LARGE;
    if (h->message_id.len != 16 || direct == has_topic || (has_topic && !topic_valid(h->topic)) ||
        !envelope_content_type_valid(h->content_type) || h->created_ms == 0 ||
        (h->correlation_id.len != 0 && h->correlation_id.len != 16) ||
        h->payload_size > ENVELOPE_MAX_PAYLOAD)
        return ASYLINK_E_BAD_FIELD;
    if ((int)h->classification < ENVELOPE_PUBLIC || (int)h->classification > ENVELOPE_PERSONAL)
        return ASYLINK_E_BAD_FIELD;
    for (size_t i = 0; i < h->n_recipients; i++)
        for (size_t j = i + 1; j < h->n_recipients; j++)
            if (strcmp(h->recipients[i], h->recipients[j]) == 0)
                return ASYLINK_E_BAD_FIELD;
    o->version = h->version;
    memcpy(o->message_id, h->message_id.data, 16);
    o->sender = h->sender;
    o->recipients = (const char *const *)h->recipients;
    o->n_recipients = h->n_recipients;
    o->topic = h->topic ? h->topic : "";
    o->content_type = h->content_type;
    o->classification = (int)h->classification;
    o->created_ms = h->created_ms;
    o->expires_ms = h->expires_ms;
    o->has_correlation = h->correlation_id.len == 16;
    if (o->has_correlation)
        memcpy(o->correlation_id, h->correlation_id.data, 16);
    o->encryption = (int)h->encryption;
    o->payload_size = h->payload_size;
    o->sender_cert_serial = h->sender_cert_serial;
    return ASYLINK_OK;
}

/* Encryption and classification rules, body length. */
static int s_check_encryption(envelope *e)
{
    const Asylink__V1__Header *h = e->hdr_pb;
    size_t body = e->pb->body.len;
    if (h->encryption == ASYLINK__V1__ENCRYPTION__ENCRYPTION_NONE) {
        if ((int)h->classification != ENVELOPE_PUBLIC)
            return ASYLINK_E_CLASSIFICATION;
        if (h->sender_ephemeral_pk.len != 0 || h->key_commitment.len != 0 ||
            body != h->payload_size)
            return ASYLINK_E_BAD_FIELD;
        return e->pb->n_keys == 0 ? ASYLINK_OK : ASYLINK_E_KEYWRAP_MISMATCH;
    }
    if (h->encryption != ASYLINK__V1__ENCRYPTION__ENCRYPTION_XCHACHA20POLY1305)
        return ASYLINK_E_UNSUPPORTED_VERSION;
    if ((int)h->classification == ENVELOPE_PERSONAL && h->n_recipients == 0)
        return ASYLINK_E_CLASSIFICATION;
    if (h->sender_ephemeral_pk.len != 32 || h->key_commitment.len != ENVELOPE_COMMITMENT_LEN ||
        body != NONCE_LEN + AEAD_TAG + h->payload_size)
        return ASYLINK_E_BAD_FIELD;
    memcpy(e->hdr.sender_ephemeral_pk, h->sender_ephemeral_pk.data, 32);
    return ASYLINK_OK;
}

static bool s_header_names(const Asylink__V1__Header *h, const char *id)
{
    for (size_t i = 0; i < h->n_recipients; i++)
        if (strcmp(h->recipients[i], id) == 0)
            return true;
    return false;
}

/* Every key wrap well-formed and unique; for direct messages, exactly the recipients. */
static int s_check_keys(envelope *e)
{
    const Asylink__V1__Envelope *pb = e->pb;
    if (pb->n_keys > ENVELOPE_MAX_READERS)
        return ASYLINK_E_TOO_LARGE;
    if (e->hdr.encryption == ENVELOPE_ENC_NONE)
        return ASYLINK_OK;
    if (pb->n_keys == 0)
        return ASYLINK_E_KEYWRAP_MISMATCH;
    for (size_t i = 0; i < pb->n_keys; i++) {
        if (!node_id_valid(pb->keys[i]->node_id))
            return ASYLINK_E_BAD_NODE_ID;
        if (pb->keys[i]->wrapped_key.len != ENVELOPE_WRAPPED_KEY_LEN)
            return ASYLINK_E_BAD_FIELD;
        for (size_t j = 0; j < i; j++)
            if (strcmp(pb->keys[i]->node_id, pb->keys[j]->node_id) == 0)
                return ASYLINK_E_KEYWRAP_MISMATCH;
    }
    if (e->hdr.n_recipients == 0)
        return ASYLINK_OK; /* topic: readers chosen by policy */
    if (pb->n_keys != e->hdr.n_recipients)
        return ASYLINK_E_KEYWRAP_MISMATCH;
    for (size_t i = 0; i < pb->n_keys; i++)
        if (!s_header_names(e->hdr_pb, pb->keys[i]->node_id))
            return ASYLINK_E_KEYWRAP_MISMATCH;
    return ASYLINK_OK;
}

/*
 * Most elements of a repeated field: key wraps, recipients, batch path
 * elements (more: TOO_LARGE). The path limit only bounds memory: a path
 * longer than its tree's depth (at most 10) but within it is BATCH_PATH.
 */
static size_t s_repeated_max(const ProtobufCMessageDescriptor *d, unsigned id)
{
    if (d == &asylink__v1__envelope__descriptor && id == 3)
        return ENVELOPE_MAX_READERS;
    if (d == &asylink__v1__header__descriptor && id == 4)
        return ENVELOPE_MAX_RECIPIENTS;
    if (d == &asylink__v1__batch_proof__descriptor && id == 4)
        return ENVELOPE_BATCH_PATH_SCAN_MAX;
    return 0;
}

static const codec_scan_rules s_scan_rules = {
    .max_depth = 1, /* Envelope -> KeyWrap, Envelope -> BatchProof */
    .too_many_code = ASYLINK_E_TOO_LARGE,
    .repeated_max = s_repeated_max,
};

const struct codec_scan_rules *envelope_scan_rules(void)
{
    return &s_scan_rules;
}

/*
 * Pre-scans the Envelope and the Header bytes in it before protobuf-c
 * unpacks either (codec_prescan()): a hostile envelope of empty key wraps
 * would otherwise cost about 28 times its size. ASYLINK_OK, MALFORMED or
 * TOO_LARGE.
 */
static int s_prescan(const uint8_t *buf, size_t len)
{
    int rc = codec_prescan(&asylink__v1__envelope__descriptor, buf, len, &s_scan_rules);
    const uint8_t *header = NULL;
    size_t header_len = 0;
    if (rc == ASYLINK_OK && codec_find_bytes(buf, len, 1, &header, &header_len))
        rc = codec_prescan(&asylink__v1__header__descriptor, header, header_len, &s_scan_rules);
    return rc;
}

/*
 * The decoded protobufs live in an arena allocated with the envelope:
 * protobuf-c copies every bytes and string field, so what passed the
 * pre-scan takes the input's length plus the structs (a few hundred bytes
 * for the usual envelope); what does not fit is malloc'd and counted.
 * Freeing the envelope is then one free(), plus protobuf-c's walk only when
 * something lives outside the arena.
 */
static void *s_arena_alloc(void *data, size_t size)
{
    envelope *e = data;
    size_t at = (e->arena_used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (at <= e->arena_cap && size <= e->arena_cap - at) {
        e->arena_used = at + size;
        S_UNPOISON(e->arena + at, size);
        return e->arena + at;
    }
    void *p = malloc(size ? size : 1);
    if (p)
        e->n_outside++;
    return p;
}

static void s_arena_free(void *data, void *ptr)
{
    envelope *e = data;
    uintptr_t p = (uintptr_t)ptr, a = (uintptr_t)e->arena;
    if (!ptr || (p >= a && p - a < e->arena_cap))
        return; /* freed with the envelope */
    e->n_outside--;
    free(ptr);
}

/* The arena's bump allocation without the malloc fallback: NULL when full. */
static void *s_arena_take(void *data, size_t size)
{
    envelope *e = data;
    size_t at = (e->arena_used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (at > e->arena_cap || size > e->arena_cap - at)
        return NULL;
    e->arena_used = at + size;
    S_UNPOISON(e->arena + at, size);
    return e->arena + at;
}

/*
 * The one pass (codec_unpack_canonical()): a copy of the input in the
 * arena, the Envelope and its Header decoded from it, bytes fields
 * pointing into the copy. False when it is not taken (the arena is then
 * empty again): the general path decides.
 */
static bool s_unpack_fast(envelope *e, const uint8_t *buf, size_t len)
{
    uint8_t *copy = s_arena_take(e, len ? len : 1);
    if (!copy)
        return false;
    if (len)
        memcpy(copy, buf, len);
    ProtobufCMessage *m = codec_unpack_canonical(&asylink__v1__envelope__descriptor, copy, len,
                                                 &s_scan_rules, s_arena_take, e);
    Asylink__V1__Envelope *pb = (Asylink__V1__Envelope *)m;
    ProtobufCMessage *h = NULL;
    if (pb && pb->header.len)
        h = codec_unpack_canonical(&asylink__v1__header__descriptor, pb->header.data,
                                   pb->header.len, &s_scan_rules, s_arena_take, e);
    if (!h) {
        e->arena_used = 0;
        S_POISON(e->arena, e->arena_cap);
        return false;
    }
    e->pb = pb;
    e->hdr_pb = (Asylink__V1__Header *)h;
    return true;
}

/* The proof's shape (PROTOCOL.md 4.7 checks 18 to 22). */
static int s_check_batch_shape(const Asylink__V1__BatchProof *b)
{
    size_t lens[BATCH_MAX_DEPTH + 1]; /* more elements than any tree has: BATCH_PATH anyway */
    size_t n = b->n_path <= BATCH_MAX_DEPTH ? b->n_path : BATCH_MAX_DEPTH + 1;
    for (size_t i = 0; i < n; i++)
        lens[i] = b->path[i].len;
    return batch_check_shape(b->salt.len, b->size, b->index, n, lens);
}

/* Walks the proof to the root and computes the statement the signature covers. */
static int s_batch_statement(envelope *e, batch_cache *cache)
{
    const Asylink__V1__BatchProof *b = e->pb->batch;
    const uint8_t *path[BATCH_MAX_DEPTH];
    for (size_t i = 0; i < b->n_path; i++)
        path[i] = b->path[i].data;
    int rc = batch_root_from_path_cached(cache, b->salt.data, b->size, b->index, e->digest, path,
                                         b->n_path, e->root);
    if (rc == ASYLINK_OK)
        batch_statement(b->salt.data, b->size, e->root, e->signed_digest);
    return rc;
}

int envelope_decode(const uint8_t *buf, size_t len, size_t max_len, envelope **out)
{
    return envelope_decode_opt(buf, len, max_len, 0, out);
}

static int s_decode(const uint8_t *buf, size_t len, size_t max_len, unsigned skip,
                    batch_cache *cache, envelope **out);

int envelope_decode_opt(const uint8_t *buf, size_t len, size_t max_len, unsigned skip,
                        envelope **out)
{
    return s_decode(buf, len, max_len, skip, NULL, out);
}

int envelope_decode_cached(const uint8_t *buf, size_t len, size_t max_len, batch_cache *cache,
                           envelope **out)
{
    return s_decode(buf, len, max_len, 0, cache, out);
}

/*
 * The general path: pre-scan, protobuf-c into the arena, canonical checks
 * (skipped for ENVELOPE_DECODE_STORED: canonical when it arrived).
 */
static int s_unpack_general(envelope *e, const uint8_t *buf, size_t len, unsigned skip)
{
    int rc = s_prescan(buf, len);
    if (rc != ASYLINK_OK)
        return rc;
    bool stored = skip & ENVELOPE_DECODE_STORED;
    e->pb = asylink__v1__envelope__unpack(&e->alloc, len, buf);
    if (!e->pb || e->pb->header.len == 0 ||
        (!stored && !codec_is_canonical(&e->pb->base, buf, len)))
        return ASYLINK_E_MALFORMED;
    e->hdr_pb = asylink__v1__header__unpack(&e->alloc, e->pb->header.len, e->pb->header.data);
    if (!e->hdr_pb ||
        (!stored && !codec_is_canonical(&e->hdr_pb->base, e->pb->header.data, e->pb->header.len)))
        return ASYLINK_E_MALFORMED;
    return ASYLINK_OK;
}

static int s_decode(const uint8_t *buf, size_t len, size_t max_len, unsigned skip,
                    batch_cache *cache, envelope **out)
{
    *out = NULL;
    if (!buf && len)
        return ASYLINK_E_INVALID_ARG;
    if (len > (max_len ? max_len : ENVELOPE_MAX_SIZE))
        return ASYLINK_E_TOO_LARGE;
    size_t head = (sizeof(envelope) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    size_t cap = len + len / 2 + ARENA_SLACK; /* a 1.4 KB envelope decodes into ~1.9 KB */
    envelope *e = malloc(head + cap);
    if (!e)
        return ASYLINK_E_NOMEM;
    memset(e, 0, sizeof *e);
    e->arena = (uint8_t *)e + head;
    e->arena_cap = cap;
    S_POISON(e->arena, e->arena_cap);
    e->alloc =
        (ProtobufCAllocator){.alloc = s_arena_alloc, .free = s_arena_free, .allocator_data = e};
    int rc = ASYLINK_OK;
    if (((skip & ENVELOPE_DECODE_GENERAL) || !s_unpack_fast(e, buf, len)) &&
        (rc = s_unpack_general(e, buf, len, skip)) != ASYLINK_OK)
        goto cleanup;
    rc = s_header_fields(e);
    if (rc == ASYLINK_OK)
        rc = s_check_encryption(e);
    if (rc == ASYLINK_OK)
        rc = s_check_keys(e);
    if (rc == ASYLINK_OK && e->pb->signature.len != SIG_LEN)
        rc = ASYLINK_E_BAD_FIELD;
    if (rc == ASYLINK_OK && e->pb->batch)
        rc = s_check_batch_shape(e->pb->batch);
    if (rc != ASYLINK_OK)
        goto cleanup;
    e->skipped = skip & ENVELOPE_DECODE_NO_DIGEST
                     ? ENVELOPE_DECODE_NO_DIGEST | ENVELOPE_DECODE_NO_PROOF
                     : skip & ENVELOPE_DECODE_NO_PROOF;
    e->skipped |= skip & ENVELOPE_DECODE_STORED;
    if (!(e->skipped & ENVELOPE_DECODE_NO_DIGEST)) {
        s_compute_digest(e);
        memcpy(e->signed_digest, e->digest, sizeof e->digest);
    }
    if (e->pb->batch && !(e->skipped & ENVELOPE_DECODE_NO_PROOF) &&
        (rc = s_batch_statement(e, cache)) != ASYLINK_OK)
        goto cleanup;
    *out = e;
    return ASYLINK_OK;
cleanup:
    envelope_destroy(&e);
    return rc;
}

void envelope_destroy(envelope **self_p)
{
    if (!self_p || !*self_p)
        return;
    envelope *e = *self_p;
    if (e->hdr_pb && e->n_outside)
        asylink__v1__header__free_unpacked(e->hdr_pb, &e->alloc);
    if (e->pb && e->n_outside)
        asylink__v1__envelope__free_unpacked(e->pb, &e->alloc);
    S_UNPOISON(e->arena, e->arena_cap);
    free(e);
    *self_p = NULL;
}

const envelope_header *envelope_header_of(const envelope *e)
{
    return &e->hdr;
}
const uint8_t *envelope_digest(const envelope *e)
{
    return e->skipped & ENVELOPE_DECODE_NO_DIGEST ? NULL : e->digest;
}
const uint8_t *envelope_signed_digest(const envelope *e)
{
    return e->signed_digest;
}
uint32_t envelope_batch_size(const envelope *e)
{
    return e->pb->batch ? e->pb->batch->size : 0;
}
uint32_t envelope_batch_index(const envelope *e)
{
    return e->pb->batch ? e->pb->batch->index : 0;
}
const uint8_t *envelope_batch_root(const envelope *e)
{
    return e->pb->batch ? e->root : NULL;
}
size_t envelope_key_count(const envelope *e)
{
    return e->pb->n_keys;
}
size_t envelope_body_len(const envelope *e)
{
    return e->pb->body.len;
}

const char *envelope_key_node(const envelope *e, size_t i)
{
    return i < e->pb->n_keys ? e->pb->keys[i]->node_id : NULL;
}

void envelope_key_commitment(const uint8_t key[32], uint8_t out[ENVELOPE_COMMITMENT_LEN])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, ENVELOPE_COMMITMENT_LEN);
    crypto_generichash_update(&st, (const uint8_t *)ENVELOPE_COMMITMENT_DOMAIN,
                              strlen(ENVELOPE_COMMITMENT_DOMAIN));
    crypto_generichash_update(&st, key, 32);
    crypto_generichash_final(&st, out, ENVELOPE_COMMITMENT_LEN);
}

/* ---- verification ---- */

int envelope_verify_signature(const envelope *e, const uint8_t sign_pk[32])
{
    if (e->skipped)
        return ASYLINK_E_INVALID_ARG; /* decoded without what the signature covers */
    return sig_verify_digest(sign_pk, e->signed_digest, e->pb->signature.data);
}

/* The signature check, answered from the cache for a batch statement verified before. */
static int s_verify_cached(const envelope *e, const uint8_t sign_pk[32], rootcache *cache)
{
    const uint8_t *sig = e->pb->signature.data;
    bool batched = cache && e->pb->batch;
    if (batched && rootcache_contains(cache, sign_pk, e->signed_digest, sig))
        return ASYLINK_OK;
    int rc = sig_verify_digest(sign_pk, e->signed_digest, sig);
    if (rc == ASYLINK_OK && batched)
        rootcache_put(cache, sign_pk, e->signed_digest, sig);
    return rc;
}

int envelope_verify(const envelope *e, const trust *t, uint64_t now_ms, const cert **sender_out)
{
    return envelope_verify_cached(e, t, NULL, now_ms, sender_out);
}

int envelope_verify_cached(const envelope *e, const trust *t, rootcache *cache, uint64_t now_ms,
                           const cert **sender_out)
{
    if (sender_out)
        *sender_out = NULL;
    if (e->skipped)
        return ASYLINK_E_INVALID_ARG; /* decoded without what the signature covers */
    const cert *c = trust_find_serial(t, e->hdr.sender, e->hdr.sender_cert_serial);
    if (!c)
        return trust_find(t, e->hdr.sender) ? ASYLINK_E_WRONG_KEY : ASYLINK_E_UNKNOWN_SENDER;
    int rc = trust_usable(t, c, now_ms);
    if (rc != ASYLINK_OK)
        return rc;
    rc = s_verify_cached(e, c->sign_pk, cache);
    if (rc != ASYLINK_OK)
        return rc;
    if (e->hdr.expires_ms != 0 && now_ms >= e->hdr.expires_ms)
        return ASYLINK_E_EXPIRED;
    if (sender_out)
        *sender_out = c;
    return ASYLINK_OK;
}

/* ---- sealing ---- */

struct envelope_sealer {
    const keys_secret *keys; /* borrowed long-term keys */
    char node_id[NODE_ID_MAX + 1];
    uint64_t cert_serial;
    uint8_t *eph;            /* sodium_malloc: secret(32) || public(32) */
    uint64_t eph_created_ms; /* for daily rotation */
    s_cache *cache;          /* reader box_pk -> beforenm(reader, eph sk) */
    envelope_rng rng;
    void *rng_ctx;
};

static void s_default_rng(void *ctx, uint8_t *buf, size_t n)
{
    (void)ctx;
    randombytes_buf(buf, n);
}

void envelope_sealer_rotate(envelope_sealer *s)
{
    s->rng(s->rng_ctx, s->eph, 32);
    crypto_scalarmult_base(s->eph + 32, s->eph);
    s->eph_created_ms = clock_now_ms();
    s_cache_clear(s->cache);
}

bool envelope_sealer_rotate_if_older(envelope_sealer *s, uint64_t now_ms, uint64_t max_age_ms)
{
    if (now_ms < s->eph_created_ms || now_ms - s->eph_created_ms <= max_age_ms)
        return false;
    envelope_sealer_rotate(s);
    return true;
}

int envelope_sealer_new(const keys_secret *keys, const char *node_id, uint64_t cert_serial,
                        envelope_rng rng, void *rng_ctx, envelope_sealer **out)
{
    *out = NULL;
    if (!keys)
        return ASYLINK_E_INVALID_ARG;
    if (!node_id_valid(node_id))
        return ASYLINK_E_BAD_NODE_ID;
    if (sodium_init() < 0)
        return ASYLINK_E_INTERNAL;
    envelope_sealer *s = calloc(1, sizeof *s);
    if (!s)
        return ASYLINK_E_NOMEM;
    s->keys = keys;
    memcpy(s->node_id, node_id, strlen(node_id) + 1);
    s->cert_serial = cert_serial;
    s->rng = rng ? rng : s_default_rng;
    s->rng_ctx = rng_ctx;
    s->eph = sodium_malloc(64);
    s->cache = s_cache_new(SEALER_CACHE_SLOTS);
    if (!s->eph || !s->cache) {
        envelope_sealer_destroy(&s);
        return ASYLINK_E_NOMEM;
    }
    envelope_sealer_rotate(s);
    *out = s;
    return ASYLINK_OK;
}

void envelope_sealer_destroy(envelope_sealer **self_p)
{
    if (!self_p || !*self_p)
        return;
    envelope_sealer *s = *self_p;
    if (s->eph)
        sodium_free(s->eph);
    s_cache_free(s->cache);
    free(s);
    *self_p = NULL;
}

const uint8_t *envelope_sealer_ephemeral_pk(const envelope_sealer *s)
{
    return s->eph + 32;
}

/* Finds the reader certificate for node id, or NULL. */
static const cert *s_reader_for(const envelope_params *p, const char *id)
{
    for (size_t i = 0; i < p->n_readers; i++)
        if (strcmp(p->readers[i]->node_id, id) == 0)
            return p->readers[i];
    return NULL;
}

/* Validates params; sets *encrypt. */
static int s_check_params(const envelope_params *p, size_t len, bool *encrypt)
{
    bool direct = p->n_recipients > 0, has_topic = p->topic && p->topic[0];
    if (direct == has_topic || !envelope_class_name(p->classification))
        return ASYLINK_E_INVALID_ARG;
    if (len > ENVELOPE_MAX_PAYLOAD)
        return ASYLINK_E_TOO_LARGE;
    if (p->n_recipients > ENVELOPE_MAX_RECIPIENTS || p->n_readers > ENVELOPE_MAX_READERS)
        return ASYLINK_E_TOO_LARGE;
    if ((has_topic && !topic_valid(p->topic)) || !envelope_content_type_valid(p->content_type))
        return ASYLINK_E_BAD_FIELD;
    for (size_t i = 0; i < p->n_recipients; i++) {
        if (!node_id_valid(p->recipients[i]))
            return ASYLINK_E_BAD_NODE_ID;
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->recipients[i], p->recipients[j]) == 0)
                return ASYLINK_E_BAD_FIELD;
    }
    for (size_t i = 0; i < p->n_readers; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->readers[i]->node_id, p->readers[j]->node_id) == 0)
                return ASYLINK_E_BAD_FIELD;
    if (p->classification == ENVELOPE_PERSONAL && !direct)
        return ASYLINK_E_CLASSIFICATION;
    *encrypt = p->classification != ENVELOPE_PUBLIC || p->n_readers > 0;
    if (*encrypt && p->n_readers == 0)
        return ASYLINK_E_KEYWRAP_MISMATCH;
    if (*encrypt && direct) {
        if (p->n_readers != p->n_recipients)
            return ASYLINK_E_KEYWRAP_MISMATCH;
        for (size_t i = 0; i < p->n_recipients; i++)
            if (!s_reader_for(p, p->recipients[i]))
                return ASYLINK_E_KEYWRAP_MISMATCH;
    }
    return ASYLINK_OK;
}

/* Serialized header for p; malloc'd into *out. */
static int s_pack_header(envelope_sealer *s, const envelope_params *p, size_t len, bool encrypt,
                         const uint8_t id[16], uint64_t created_ms, const uint8_t *commitment,
                         uint8_t **out, size_t *out_len)
{
    Asylink__V1__Header h = ASYLINK__V1__HEADER__INIT;
    h.version = ENVELOPE_VERSION;
    h.message_id = (ProtobufCBinaryData){16, (uint8_t *)id};
    h.sender = s->node_id;
    h.n_recipients = p->n_recipients;
    h.recipients = (char **)p->recipients;
    h.topic = p->topic ? (char *)p->topic : "";
    h.content_type = (char *)p->content_type;
    h.classification = (Asylink__V1__Classification)p->classification;
    h.created_ms = created_ms;
    h.expires_ms = p->expires_ms;
    if (p->correlation_id)
        h.correlation_id = (ProtobufCBinaryData){16, (uint8_t *)p->correlation_id};
    h.encryption = encrypt ? ASYLINK__V1__ENCRYPTION__ENCRYPTION_XCHACHA20POLY1305
                           : ASYLINK__V1__ENCRYPTION__ENCRYPTION_NONE;
    h.payload_size = len;
    if (encrypt) {
        h.sender_ephemeral_pk = (ProtobufCBinaryData){32, s->eph + 32};
        h.key_commitment = (ProtobufCBinaryData){ENVELOPE_COMMITMENT_LEN, (uint8_t *)commitment};
    }
    h.sender_cert_serial = s->cert_serial;
    *out_len = asylink__v1__header__get_packed_size(&h);
    *out = malloc(*out_len);
    if (!*out)
        return ASYLINK_E_NOMEM;
    asylink__v1__header__pack(&h, *out);
    return ASYLINK_OK;
}

/* A sealed, not yet signed envelope (envelope_seal_draft() .. envelope_sign()). */
struct envelope_draft {
    const envelope_sealer *sealer; /* that sealed it: its key signs */
    uint8_t *buf;                  /* fields 1..3; once signed, the whole envelope */
    size_t len;                    /* bytes used in buf (buf holds DRAFT_TAIL more) */
    uint8_t digest[ENVELOPE_DIGEST_LEN];
    uint8_t message_id[16];
    bool is_signed;
};

/* Working state of one seal. */
typedef struct {
    uint8_t *header;
    size_t header_len;
    uint8_t *body;
    size_t body_len;
    Asylink__V1__KeyWrap *wraps;
    Asylink__V1__KeyWrap **wrap_ptrs;
    uint8_t *wrapped;                /* n * 72 bytes */
    uint8_t *secret;                 /* NULL, or secret_buf once encrypting */
    uint8_t secret_buf[2 * KEY_LEN]; /* content key K || shared key; wiped at the end */
} s_seal;

static int s_encrypt_body(envelope_sealer *s, s_seal *w, const uint8_t *payload, size_t len)
{
    w->body_len = NONCE_LEN + len + AEAD_TAG;
    w->body = malloc(w->body_len);
    if (!w->body)
        return ASYLINK_E_NOMEM;
    s->rng(s->rng_ctx, w->body, NONCE_LEN);
    crypto_aead_xchacha20poly1305_ietf_encrypt(w->body + NONCE_LEN, NULL, payload, len, w->header,
                                               w->header_len, NULL, w->body, w->secret);
    return ASYLINK_OK;
}

/* Wraps K to each reader; order: recipients for direct, readers for topics. */
static int s_wrap_keys(envelope_sealer *s, const envelope_params *p, s_seal *w, size_t n)
{
    w->wraps = calloc(n, sizeof *w->wraps);
    w->wrap_ptrs = calloc(n, sizeof *w->wrap_ptrs);
    w->wrapped = malloc(n * ENVELOPE_WRAPPED_KEY_LEN);
    if (!w->wraps || !w->wrap_ptrs || !w->wrapped)
        return ASYLINK_E_NOMEM;
    uint8_t *shared = w->secret + KEY_LEN;
    for (size_t i = 0; i < n; i++) {
        const cert *r = p->n_recipients ? s_reader_for(p, p->recipients[i]) : p->readers[i];
        uint8_t *out = w->wrapped + i * ENVELOPE_WRAPPED_KEY_LEN;
        if (s_cache_get(s->cache, r->box_pk, s->eph, shared) != 0)
            return ASYLINK_E_BAD_FIELD;
        s->rng(s->rng_ctx, out, crypto_box_NONCEBYTES);
        crypto_box_easy_afternm(out + crypto_box_NONCEBYTES, w->secret, KEY_LEN, out, shared);
        Asylink__V1__KeyWrap init = ASYLINK__V1__KEY_WRAP__INIT;
        w->wraps[i] = init;
        w->wraps[i].node_id = (char *)r->node_id;
        w->wraps[i].wrapped_key = (ProtobufCBinaryData){ENVELOPE_WRAPPED_KEY_LEN, out};
        w->wrap_ptrs[i] = &w->wraps[i];
    }
    return ASYLINK_OK;
}

/* Serializes fields 1..3 of the envelope into a new draft, with room for the rest. */
static int s_make_draft(envelope_sealer *s, s_seal *w, size_t n_keys, const uint8_t id[16],
                        envelope_draft **out)
{
    Asylink__V1__Envelope env = ASYLINK__V1__ENVELOPE__INIT;
    env.header = (ProtobufCBinaryData){w->header_len, w->header};
    env.body = (ProtobufCBinaryData){w->body_len, w->body};
    env.n_keys = n_keys;
    env.keys = w->wrap_ptrs;
    envelope_draft *d = calloc(1, sizeof *d);
    size_t len = asylink__v1__envelope__get_packed_size(&env);
    if (!d || !(d->buf = malloc(len + DRAFT_TAIL))) {
        free(d);
        return ASYLINK_E_NOMEM;
    }
    d->sealer = s;
    d->len = asylink__v1__envelope__pack(&env, d->buf);
    memcpy(d->message_id, id, 16);
    envelope tmp = {.pb = &env};
    s_compute_digest(&tmp);
    memcpy(d->digest, tmp.digest, sizeof d->digest);
    *out = d;
    return ASYLINK_OK;
}

/* The signed, unencrypted body of a PUBLIC message: the payload itself. */
static int s_plain_body(s_seal *w, const uint8_t *payload, size_t len)
{
    w->body_len = len;
    w->body = malloc(len ? len : 1);
    if (!w->body)
        return ASYLINK_E_NOMEM;
    if (len)
        memcpy(w->body, payload, len);
    return ASYLINK_OK;
}

static int s_seal_parts(envelope_sealer *s, const envelope_params *p, const uint8_t *payload,
                        size_t len, bool encrypt, const uint8_t id[16], uint64_t created_ms,
                        s_seal *w)
{
    uint8_t commitment[ENVELOPE_COMMITMENT_LEN];
    if (!encrypt) {
        int rc = s_pack_header(s, p, len, false, id, created_ms, NULL, &w->header, &w->header_len);
        return rc == ASYLINK_OK ? s_plain_body(w, payload, len) : rc;
    }
    w->secret = w->secret_buf;
    s->rng(s->rng_ctx, w->secret, KEY_LEN);
    envelope_key_commitment(w->secret, commitment);
    int rc = s_pack_header(s, p, len, true, id, created_ms, commitment, &w->header, &w->header_len);
    if (rc == ASYLINK_OK)
        rc = s_encrypt_body(s, w, payload, len);
    if (rc == ASYLINK_OK)
        rc = s_wrap_keys(s, p, w, p->n_recipients ? p->n_recipients : p->n_readers);
    return rc;
}

int envelope_seal_draft(envelope_sealer *s, const envelope_params *p, const uint8_t *payload,
                        size_t len, envelope_draft **out, uint8_t message_id_out[16])
{
    *out = NULL;
    bool encrypt = false;
    if (!s || !p || (!payload && len))
        return ASYLINK_E_INVALID_ARG;
    int rc = s_check_params(p, len, &encrypt);
    if (rc != ASYLINK_OK)
        return rc;
    if (clock_now_ms() - s->eph_created_ms > ENVELOPE_EPHEMERAL_MAX_AGE_MS)
        envelope_sealer_rotate(s);
    uint8_t id[16];
    uint64_t created_ms = p->created_ms ? p->created_ms : clock_now_ms();
    if (p->message_id) {
        memcpy(id, p->message_id, 16);
    } else {
        uint8_t rnd[10];
        s->rng(s->rng_ctx, rnd, sizeof rnd);
        uuid_v7_from(created_ms, rnd, id);
    }
    s_seal w = {0};
    rc = s_seal_parts(s, p, payload, len, encrypt, id, created_ms, &w);
    if (rc == ASYLINK_OK)
        rc = s_make_draft(s, &w, encrypt ? (p->n_recipients ? p->n_recipients : p->n_readers) : 0,
                          id, out);
    if (rc == ASYLINK_OK && p->digest_out)
        memcpy(p->digest_out, (*out)->digest, ENVELOPE_DIGEST_LEN);
    if (rc == ASYLINK_OK && message_id_out)
        memcpy(message_id_out, id, 16);
    sodium_memzero(w.secret_buf, sizeof w.secret_buf);
    free(w.header);
    free(w.body);
    free(w.wraps);
    free(w.wrap_ptrs);
    free(w.wrapped);
    return rc;
}

const uint8_t *envelope_draft_digest(const envelope_draft *d)
{
    return d->digest;
}

const uint8_t *envelope_draft_message_id(const envelope_draft *d)
{
    return d->message_id;
}

const uint8_t *envelope_draft_bytes(const envelope_draft *d, size_t *len)
{
    *len = d->is_signed ? d->len : 0;
    return d->is_signed ? d->buf : NULL;
}

uint8_t *envelope_draft_take(envelope_draft *d, size_t *len)
{
    *len = 0;
    if (!d->is_signed || !d->buf)
        return NULL;
    uint8_t *b = d->buf;
    *len = d->len;
    d->buf = NULL;
    d->len = 0;
    return b;
}

void envelope_draft_destroy(envelope_draft **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

/* Appends field 4 (signature) and, for a batch, field 5 (proof) to a draft. */
static void s_append_tail(envelope_draft *d, const uint8_t sig[SIG_LEN],
                          Asylink__V1__BatchProof *proof)
{
    Asylink__V1__Envelope tail = ASYLINK__V1__ENVELOPE__INIT;
    tail.signature = (ProtobufCBinaryData){SIG_LEN, (uint8_t *)sig};
    tail.batch = proof;
    d->len += asylink__v1__envelope__pack(&tail, d->buf + d->len);
    d->is_signed = true;
}

static int s_by_message_id(const void *a, const void *b)
{
    const envelope_draft *x = *(envelope_draft *const *)a, *y = *(envelope_draft *const *)b;
    return memcmp(x->message_id, y->message_id, 16);
}

/* Refuses drafts of another sealer, signed ones, and two with one message id. */
static int s_check_drafts(const envelope_sealer *s, envelope_draft *const *drafts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!drafts[i] || drafts[i]->sealer != s || drafts[i]->is_signed || !drafts[i]->buf)
            return ASYLINK_E_INVALID_ARG;
    envelope_draft **sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return ASYLINK_E_NOMEM;
    memcpy(sorted, drafts, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, s_by_message_id);
    int rc = ASYLINK_OK;
    for (size_t i = 1; i < n && rc == ASYLINK_OK; i++)
        if (memcmp(sorted[i - 1]->message_id, sorted[i]->message_id, 16) == 0)
            rc = ASYLINK_E_BATCH_DUPLICATE;
    free(sorted);
    return rc;
}

/* Signs n >= 2 drafts under one root (PROTOCOL.md 4.10). */
static int s_sign_batch(envelope_sealer *s, envelope_draft *const *drafts, size_t n)
{
    uint8_t salt[BATCH_SALT_LEN], root[BATCH_HASH_LEN], statement[BATCH_STATEMENT_LEN];
    uint8_t sig[SIG_LEN];
    uint8_t(*digests)[BATCH_DIGEST_LEN] = malloc(n * sizeof *digests);
    uint8_t *paths = malloc(n * BATCH_MAX_DEPTH * BATCH_HASH_LEN);
    uint8_t *depths = malloc(n);
    int rc = digests && paths && depths ? ASYLINK_OK : ASYLINK_E_NOMEM;
    if (rc == ASYLINK_OK) {
        for (size_t i = 0; i < n; i++)
            memcpy(digests[i], drafts[i]->digest, BATCH_DIGEST_LEN);
        s->rng(s->rng_ctx, salt, sizeof salt);
        rc = batch_build(salt, (const uint8_t(*)[BATCH_DIGEST_LEN])digests, n, root, paths, depths);
    }
    if (rc == ASYLINK_OK) {
        batch_statement(salt, (uint32_t)n, root, statement);
        sig_sign_digest(s->keys->sign_sk, statement, sig);
        for (size_t i = 0; i < n; i++) {
            ProtobufCBinaryData path[BATCH_MAX_DEPTH];
            for (size_t k = 0; k < depths[i]; k++)
                path[k] = (ProtobufCBinaryData){BATCH_HASH_LEN,
                                                paths + (i * BATCH_MAX_DEPTH + k) * BATCH_HASH_LEN};
            Asylink__V1__BatchProof proof = ASYLINK__V1__BATCH_PROOF__INIT;
            proof.salt = (ProtobufCBinaryData){BATCH_SALT_LEN, salt};
            proof.size = (uint32_t)n;
            proof.index = (uint32_t)i;
            proof.n_path = depths[i];
            proof.path = path;
            s_append_tail(drafts[i], sig, &proof);
        }
    }
    free(digests);
    free(paths);
    free(depths);
    return rc;
}

int envelope_sign(envelope_sealer *s, envelope_draft *const *drafts, size_t n)
{
    if (!s || !drafts || n == 0)
        return ASYLINK_E_INVALID_ARG;
    if (n > BATCH_MAX)
        return ASYLINK_E_TOO_LARGE;
    int rc = s_check_drafts(s, drafts, n);
    if (rc != ASYLINK_OK)
        return rc;
    if (n > 1)
        return s_sign_batch(s, drafts, n);
    uint8_t sig[SIG_LEN];
    sig_sign_digest(s->keys->sign_sk, drafts[0]->digest, sig);
    s_append_tail(drafts[0], sig, NULL);
    return ASYLINK_OK;
}

int envelope_seal(envelope_sealer *s, const envelope_params *p, const uint8_t *payload, size_t len,
                  uint8_t **out, size_t *out_len, uint8_t message_id_out[16])
{
    *out = NULL;
    *out_len = 0;
    envelope_draft *d = NULL;
    int rc = envelope_seal_draft(s, p, payload, len, &d, message_id_out);
    if (rc == ASYLINK_OK)
        rc = envelope_sign(s, &d, 1);
    if (rc == ASYLINK_OK)
        *out = envelope_draft_take(d, out_len);
    envelope_draft_destroy(&d);
    return rc;
}

/* ---- opening ---- */

struct envelope_opener {
    const keys_secret *keys; /* borrowed reader keys */
    char node_id[NODE_ID_MAX + 1];
    s_cache *cache; /* sender ephemeral pk -> beforenm(eph pk, our sk) */
};

int envelope_opener_new(const keys_secret *keys, const char *node_id, envelope_opener **out)
{
    *out = NULL;
    if (!keys)
        return ASYLINK_E_INVALID_ARG;
    if (!node_id_valid(node_id))
        return ASYLINK_E_BAD_NODE_ID;
    if (sodium_init() < 0)
        return ASYLINK_E_INTERNAL;
    envelope_opener *op = calloc(1, sizeof *op);
    if (!op)
        return ASYLINK_E_NOMEM;
    op->keys = keys;
    memcpy(op->node_id, node_id, strlen(node_id) + 1);
    op->cache = s_cache_new(OPENER_CACHE_SLOTS);
    if (!op->cache) {
        free(op);
        return ASYLINK_E_NOMEM;
    }
    *out = op;
    return ASYLINK_OK;
}

void envelope_opener_destroy(envelope_opener **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_cache_free((*self_p)->cache);
    free(*self_p);
    *self_p = NULL;
}

void envelope_payload_free(uint8_t *payload, size_t len)
{
    if (!payload)
        return;
    sodium_memzero(payload, len);
    free(payload);
}

/* Unwraps the content key for this reader into secret (K || shared). */
static int s_unwrap(envelope_opener *op, const envelope *e, uint8_t *secret)
{
    const Asylink__V1__KeyWrap *kw = NULL;
    for (size_t i = 0; i < e->pb->n_keys && !kw; i++)
        if (strcmp(e->pb->keys[i]->node_id, op->node_id) == 0)
            kw = e->pb->keys[i];
    if (!kw)
        return ASYLINK_E_NOT_RECIPIENT;
    uint8_t *shared = secret + KEY_LEN;
    if (s_cache_get(op->cache, e->hdr.sender_ephemeral_pk, op->keys->box_sk, shared) != 0)
        return ASYLINK_E_TAMPERED;
    const uint8_t *w = kw->wrapped_key.data;
    if (crypto_box_open_easy_afternm(secret, w + crypto_box_NONCEBYTES,
                                     ENVELOPE_WRAPPED_KEY_LEN - crypto_box_NONCEBYTES, w,
                                     shared) != 0)
        return ASYLINK_E_TAMPERED;
    /* Every reader must get the key the sender committed to in the header. */
    uint8_t commitment[ENVELOPE_COMMITMENT_LEN];
    envelope_key_commitment(secret, commitment);
    if (sodium_memcmp(commitment, e->hdr_pb->key_commitment.data, ENVELOPE_COMMITMENT_LEN) != 0)
        return ASYLINK_E_TAMPERED;
    return ASYLINK_OK;
}

static int s_decrypt(const envelope *e, const uint8_t *key, uint8_t **payload, size_t *len)
{
    const ProtobufCBinaryData *b = &e->pb->body;
    size_t n = b->len - NONCE_LEN - AEAD_TAG;
    uint8_t *pt = malloc(n ? n : 1);
    if (!pt)
        return ASYLINK_E_NOMEM;
    unsigned long long got = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &got, NULL, b->data + NONCE_LEN,
                                                   b->len - NONCE_LEN, e->pb->header.data,
                                                   e->pb->header.len, b->data, key) != 0) {
        free(pt);
        return ASYLINK_E_TAMPERED;
    }
    *payload = pt;
    *len = (size_t)got;
    return ASYLINK_OK;
}

int envelope_open_key(envelope_opener *op, const envelope *e, uint8_t key[32])
{
    memset(key, 0, 32);
    if (e->hdr.n_recipients > 0 && !s_header_names(e->hdr_pb, op->node_id))
        return ASYLINK_E_NOT_RECIPIENT;
    if (e->hdr.encryption == ENVELOPE_ENC_NONE)
        return ASYLINK_E_BAD_FIELD; /* nothing to disclose: the body is the payload */
    uint8_t secret[2 * KEY_LEN];
    int rc = s_unwrap(op, e, secret);
    if (rc == ASYLINK_OK)
        memcpy(key, secret, KEY_LEN);
    sodium_memzero(secret, sizeof secret);
    return rc;
}

int envelope_open_with_key(const envelope *e, const uint8_t key[32], uint8_t **payload, size_t *len)
{
    *payload = NULL;
    *len = 0;
    if (e->hdr.encryption == ENVELOPE_ENC_NONE)
        return ASYLINK_E_BAD_FIELD;
    uint8_t commitment[ENVELOPE_COMMITMENT_LEN];
    envelope_key_commitment(key, commitment);
    if (sodium_memcmp(commitment, e->hdr_pb->key_commitment.data, ENVELOPE_COMMITMENT_LEN) != 0)
        return ASYLINK_E_TAMPERED; /* not the key the signer committed to */
    return s_decrypt(e, key, payload, len);
}

int envelope_open(envelope_opener *op, const envelope *e, uint8_t **payload, size_t *len)
{
    *payload = NULL;
    *len = 0;
    if (e->hdr.n_recipients > 0 && !s_header_names(e->hdr_pb, op->node_id))
        return ASYLINK_E_NOT_RECIPIENT;
    if (e->hdr.encryption == ENVELOPE_ENC_NONE) {
        size_t n = e->pb->body.len;
        *payload = malloc(n ? n : 1);
        if (!*payload)
            return ASYLINK_E_NOMEM;
        if (n)
            memcpy(*payload, e->pb->body.data, n);
        *len = n;
        return ASYLINK_OK;
    }
    uint8_t secret[2 * KEY_LEN]; /* K || shared key, wiped before returning */
    int rc = s_unwrap(op, e, secret);
    if (rc == ASYLINK_OK)
        rc = s_decrypt(e, secret, payload, len);
    sodium_memzero(secret, sizeof secret);
    return rc;
}
