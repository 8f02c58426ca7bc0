/*
 * fuzz_command.c — libFuzzer target: the broker protocol's Command decoder
 * (asylink.v1.Command, broker.proto), with a re-encode round trip.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/v1/broker.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Asylink__V1__Command *c = asylink__v1__command__unpack(NULL, size, data);
    if (!c)
        return 0;
    size_t n = asylink__v1__command__get_packed_size(c);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        abort();
    if (asylink__v1__command__pack(c, buf) != n)
        abort();
    /* protobuf-c keeps unknown fields, even ones with the invalid field
     * number 0, and re-emits them; its own unpack then refuses the result.
     * So a failed re-decode is allowed, a changed one is not. */
    Asylink__V1__Command *again = asylink__v1__command__unpack(NULL, n, buf);
    if (again && again->body_case != c->body_case)
        abort();
    if (again)
        asylink__v1__command__free_unpacked(again, NULL);
    asylink__v1__command__free_unpacked(c, NULL);
    free(buf);
    return 0;
}
