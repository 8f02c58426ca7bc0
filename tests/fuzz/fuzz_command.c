/*
 * fuzz_command.c — libFuzzer target: the broker protocol's Command decoder
 * (core/wire.c, asylink.v1.Command in broker.proto).
 *
 * Checks, beyond "no crash, no leak, no over-read":
 *   - a failed decode leaves a zeroed command;
 *   - the general path alone (wire_decode_general) gives the same code and,
 *     when it decodes, a command that encodes to the same bytes;
 *   - MALFORMED only for what plain protobuf-c plus the canonical check
 *     (codec.h) refuse too, OK only for what they accept: wire.c's pre-scan
 *     must not refuse more than the checks it runs ahead of;
 *   - whatever decodes re-encodes, and that encoding decodes to the same kind
 *     and request_id;
 *   - encoding is a fixed point after one pass: encode(decode(encode(c)))
 *     gives the same bytes as encode(c) (decoding may normalize, e.g. cut a
 *     long reason or sort roles, but only once).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "asylink/v1/broker.pb-c.h"
#include "codec.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when data is no canonical Command of a kind wire.c handles. */
static bool s_reference_malformed(const uint8_t *data, size_t size)
{
    Asylink__V1__Command *m = asylink__v1__command__unpack(NULL, size, data);
    if (!m)
        return true;
    bool bad = !codec_is_canonical(&m->base, data, size) ||
               strcmp(wire_kind_name((wire_kind)m->body_case), "unknown") == 0;
    asylink__v1__command__free_unpacked(m, NULL);
    return bad;
}

/* Encodes c or aborts: a decoded command must always encode. */
static void s_encode(const wire_cmd *c, uint8_t **buf, size_t *len)
{
    if (wire_encode(c, buf, len) != ASYLINK_OK)
        abort();
}

/* Aborts unless a and b encode to the same bytes. */
static void s_same_encoding(const wire_cmd *a, const wire_cmd *b)
{
    uint8_t *ea = NULL, *eb = NULL;
    size_t la = 0, lb = 0;
    s_encode(a, &ea, &la);
    s_encode(b, &eb, &lb);
    if (la != lb || memcmp(ea, eb, la) != 0)
        abort();
    free(ea);
    free(eb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wire_cmd c, again, general;
    int rc = wire_decode(data, size, &c);
    if (wire_decode_general(data, size, &general) != rc)
        abort(); /* the fast paths and the one pass never change a result */
    if (rc == ASYLINK_OK)
        s_same_encoding(&c, &general);
    wire_cmd_clear(&general);
    if ((rc == ASYLINK_E_MALFORMED || rc == ASYLINK_OK) &&
        (rc == ASYLINK_E_MALFORMED) != s_reference_malformed(data, size))
        abort();
    if (rc != ASYLINK_OK) {
        if (c.kind != WIRE_NONE)
            abort();
        wire_cmd_clear(&c);
        return 0;
    }
    uint8_t *first = NULL;
    size_t first_len = 0;
    s_encode(&c, &first, &first_len);
    if (wire_decode(first, first_len, &again) != ASYLINK_OK || again.kind != c.kind ||
        again.request_id != c.request_id)
        abort();
    s_same_encoding(&c, &again);
    free(first);
    wire_cmd_clear(&again);
    wire_cmd_clear(&c);
    return 0;
}
