/*
 * fuzz_crl.c — libFuzzer target: revocation list decoder (signature checked
 * against the vector CA).
 */
#include "fuzz_world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_world *w = fw_get();
    crl *l = NULL;
    if (crl_decode(data, size, w->certs[0], &l) == ASYLINK_OK) {
        for (size_t i = 0; i < l->n_entries; i++)
            if (crl_find(l, l->entries[i].serial) == NULL)
                abort();
        crl_destroy(&l);
    }
    return 0;
}
