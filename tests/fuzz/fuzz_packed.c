/*
 * fuzz_packed.c — libFuzzer target: the Packed frame of protocol version 2
 * (core/wire.c wire_unpack_begin / wire_unpack_next, PROTOCOL.md 11.2.1).
 *
 * Checks, beyond "no crash, no leak, no over-read":
 *   - what wire_unpack_begin() accepts, protobuf-c reads as a Command with
 *     only `packed` set, its items the same bytes, and it is canonical;
 *   - the walk yields exactly the counted items, every slice inside the
 *     input, every command non-empty;
 *   - packing the items again with wire_packer gives the input byte for
 *     byte (one encoding per content);
 *   - every item's command goes through wire_decode (its own fuzzer,
 *     fuzz_command, checks that decoder).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "asylink/v1/broker.pb-c.h"
#include "codec.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The protobuf-c view must agree with what the walk gave. */
static void s_reference(const uint8_t *data, size_t size, const wire_item *items, size_t n)
{
    Asylink__V1__Command *m = asylink__v1__command__unpack(NULL, size, data);
    if (!m || m->body_case != ASYLINK__V1__COMMAND__BODY_PACKED || m->request_id != 0 ||
        !codec_is_canonical(&m->base, data, size) || m->packed->n_items != n)
        abort();
    for (size_t i = 0; i < n; i++) {
        const Asylink__V1__PackedItem *it = m->packed->items[i];
        if (it->command.len != items[i].cmd_len || it->envelope.len != items[i].env_len ||
            memcmp(it->command.data, items[i].cmd, items[i].cmd_len) != 0 ||
            (items[i].env_len && memcmp(it->envelope.data, items[i].env, items[i].env_len) != 0))
            abort();
    }
    asylink__v1__command__free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wire_unpacker u;
    size_t n = 0;
    if (wire_unpack_begin(&u, data, size, &n) != ASYLINK_OK) {
        if (n != 0)
            abort();
        return 0;
    }
    if (n == 0 || n > WIRE_MAX_PACKED || !wire_is_packed(data, size))
        abort();
    wire_item *items = calloc(n, sizeof *items);
    if (!items)
        return 0;
    size_t k = 0;
    wire_item it;
    wire_packer p;
    wire_packer_init(&p, 8);
    while (wire_unpack_next(&u, &it)) {
        if (k == n || it.cmd_len == 0 || it.cmd < data || it.cmd + it.cmd_len > data + size ||
            (it.env_len && (it.env < data || it.env + it.env_len > data + size)))
            abort();
        items[k++] = it;
        wire_cmd c;
        wire_decode(it.cmd, it.cmd_len, &c);
        wire_cmd_clear(&c);
        if (wire_packer_add(&p, it.cmd, it.cmd_len, it.env, it.env_len) != ASYLINK_OK)
            abort();
    }
    if (k != n)
        abort();
    s_reference(data, size, items, n);
    size_t off = 0, len = 0;
    if (wire_packer_frame_len(&p) != size)
        abort();
    uint8_t *block = wire_packer_finish(&p, &off, &len);
    if (!block || off < 8 || len != size || memcmp(block + off, data, size) != 0)
        abort();
    free(block);
    free(items);
    return 0;
}
