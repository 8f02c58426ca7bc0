/*
 * fuzz_envelope.c — libFuzzer target: envelope decode, verify, open.
 * Verification runs at a fixed time inside the vector certificates' validity.
 */
#include "fuzz_world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_world *w = fw_get();
    envelope *e = NULL;
    if (envelope_decode(data, size, 0, &e) != ASYLINK_OK)
        return 0;
    const envelope_header *h = envelope_header_of(e);
    if (!h->sender || !h->content_type)
        abort(); /* decode promised a complete header */
    if (envelope_verify(e, w->trust, 1795000000001ull, NULL) == ASYLINK_OK) {
        uint8_t *p = NULL;
        size_t n = 0;
        if (envelope_open(w->opener_fr, e, &p, &n) == ASYLINK_OK && n != h->payload_size)
            abort();
        envelope_payload_free(p, n);
    }
    envelope_destroy(&e);
    return 0;
}
