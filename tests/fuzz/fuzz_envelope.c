/*
 * fuzz_envelope.c — libFuzzer target: envelope decode, verify, open.
 * Verification runs at a fixed time inside the vector certificates' validity.
 * Batched envelopes (PROTOCOL.md 4.10; seeds from the batch vectors) are
 * verified twice, with and without a verified-root cache that lives for the
 * whole run: a cache may never turn a refusal into success or back. They are
 * also decoded through a batch walk cache that lives for the whole run (as a
 * broker verify worker's): the same code and the same signed digest.
 * Every input also goes through the one-pass decoder (codec_unpack_canonical)
 * and the general path it stands in for, as an Envelope and as a Header:
 * the one pass takes exactly what the general path accepts, and what it
 * takes re-serializes to the input.
 */
#include "fuzz_world.h"

#include "asylink/v1/envelope.pb-c.h"
#include "batch.h"
#include "codec.h"
#include "rootcache.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The batch fields decoding promised. */
static void s_check_batch(const envelope *e)
{
    uint32_t n = envelope_batch_size(e);
    if (n == 0) {
        if (envelope_batch_root(e) ||
            memcmp(envelope_signed_digest(e), envelope_digest(e), ENVELOPE_DIGEST_LEN) != 0)
            abort(); /* a lone envelope is signed over its digest */
        return;
    }
    if (n < 2 || n > BATCH_MAX || envelope_batch_index(e) >= n || !envelope_batch_root(e))
        abort();
}

/* The one pass and the general path agree on data as a message of type d. */
static void s_check_one_pass(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size)
{
    codec_arena b = {.cap = 64 * size + 4096};
    if (!(b.base = malloc(b.cap))) /* malloc's alignment suits any type */
        abort();
    ProtobufCMessage *fast =
        codec_unpack_canonical(d, data, size, envelope_scan_rules(), codec_arena_alloc, &b);
    ProtobufCMessage *m = NULL;
    bool general = codec_prescan(d, data, size, envelope_scan_rules()) == ASYLINK_OK &&
                   (m = protobuf_c_message_unpack(d, NULL, size, data)) != NULL &&
                   codec_is_canonical(m, data, size);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    if ((fast != NULL) != general || (fast && !codec_is_canonical(fast, data, size)))
        abort();
    free(b.base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_check_one_pass(&asylink__v1__envelope__descriptor, data, size);
    s_check_one_pass(&asylink__v1__header__descriptor, data, size);
    fuzz_world *w = fw_get();
    static rootcache *cache;
    static batch_cache *walks;
    if (!cache && rootcache_new(64, &cache) != ASYLINK_OK)
        abort();
    if (!walks && batch_cache_new(&walks) != ASYLINK_OK)
        abort();
    envelope *e = NULL, *ew = NULL, *eg = NULL;
    int rc = envelope_decode(data, size, 0, &e);
    if (envelope_decode_opt(data, size, 0, ENVELOPE_DECODE_GENERAL, &eg) != rc ||
        (rc == ASYLINK_OK &&
         (memcmp(envelope_digest(e), envelope_digest(eg), ENVELOPE_DIGEST_LEN) != 0 ||
          memcmp(envelope_signed_digest(e), envelope_signed_digest(eg), ENVELOPE_DIGEST_LEN) != 0)))
        abort(); /* the one pass never changes a decode */
    envelope_destroy(&eg);
    if (envelope_decode_cached(data, size, 0, walks, &ew) != rc ||
        (rc == ASYLINK_OK &&
         memcmp(envelope_signed_digest(e), envelope_signed_digest(ew), ENVELOPE_DIGEST_LEN) != 0))
        abort(); /* the walk cache never changes a decode */
    envelope_destroy(&ew);
    if (rc != ASYLINK_OK)
        return 0;
    const envelope_header *h = envelope_header_of(e);
    if (!h->sender || !h->content_type)
        abort(); /* decode promised a complete header */
    s_check_batch(e);
    int plain = envelope_verify(e, w->trust, 1795000000001ull, NULL);
    if (envelope_verify_cached(e, w->trust, cache, 1795000000001ull, NULL) != plain ||
        envelope_verify_cached(e, w->trust, cache, 1795000000001ull, NULL) != plain)
        abort();
    if (plain == ASYLINK_OK) {
        uint8_t *p = NULL;
        size_t n = 0;
        if (envelope_open(w->opener_fr, e, &p, &n) == ASYLINK_OK && n != h->payload_size)
            abort();
        envelope_payload_free(p, n);
    }
    envelope_destroy(&e);
    return 0;
}
