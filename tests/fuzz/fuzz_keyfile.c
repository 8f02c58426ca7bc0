/*
 * fuzz_keyfile.c — libFuzzer target: the secret key file decoder. No
 * passphrase is given, so encrypted files stop before Argon2id (whose cost
 * comes from the file and is bounded, but too slow for fuzzing).
 */
#include <stddef.h>
#include <stdint.h>

#include "asylink/asylink.h"
#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    keys_secret *k = NULL;
    if (keys_decode(data, size, NULL, &k) == ASYLINK_OK)
        keys_destroy(&k);
    return 0;
}
