/*
 * fuzz_journal.c — libFuzzer target: the client store's journal file
 * (client/cjournal.h) as cjournal_open() reads one after a crash: the
 * header, the current generation's records, their operations; and the
 * operation decoder on the raw bytes (a record's checksum is hard to hit).
 */
#include <stdint.h>
#include <stdlib.h>

#include "cjournal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t records = 0, ops = 0;
    (void)cjournal_check_file(data, size, &records, &ops);
    size_t off = 0, n = 0;
    cjournal_op op;
    int more;
    while ((more = cjournal_next_op(data, size, &off, &op)) == 1) {
        if (off > size || (op.op == CJOURNAL_PUT && (const uint8_t *)op.val + op.vlen > data + size))
            abort();
        n++;
    }
    (void)n;
    return 0;
}
