/*
 * fuzz_receipt.c — libFuzzer target: ReceiptSet payload decoder. Whatever
 * decodes must satisfy the set rules and re-encode to the same bytes
 * (canonical encoding only).
 */
#include "asylink/asylink.h"
#include "receipt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    receipt *r = NULL;
    size_t n = 0;
    if (receipt_set_decode(data, size, &r, &n) != ASYLINK_OK)
        return 0;
    if (n == 0 || n > RECEIPT_SET_MAX)
        abort();
    uint8_t *again = NULL;
    size_t len = 0;
    if (receipt_set_encode(r, n, &again, &len) != ASYLINK_OK || len != size ||
        memcmp(again, data, size) != 0)
        abort();
    free(again);
    free(r);
    return 0;
}
