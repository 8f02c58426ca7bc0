/*
 * fuzz_cert.c — libFuzzer target: certificate and certificate request
 * decoders, certificate verification against the vector CA, and the armor
 * text decoder in front of them.
 */
#include "fuzz_world.h"

#include "armor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_world *w = fw_get();
    cert *c = NULL;
    if (cert_decode(data, size, &c) == ASYLINK_OK) {
        if (!node_id_valid(c->node_id))
            abort();
        (void)cert_verify(c, w->certs[0]);
        (void)trust_check(w->trust, c, 1795000000000ull);
        free(cert_describe(c));
        cert_destroy(&c);
    }
    cert_request *r = NULL;
    if (cert_request_decode(data, size, &r) == ASYLINK_OK)
        cert_request_destroy(&r);
    uint8_t *bin = NULL;
    size_t n = 0;
    if (armor_decode(ARMOR_CERTIFICATE, (const char *)data, size, 0, &bin, &n) == ASYLINK_OK) {
        if (cert_decode(bin, n, &c) == ASYLINK_OK)
            cert_destroy(&c);
        free(bin);
    }
    return 0;
}
