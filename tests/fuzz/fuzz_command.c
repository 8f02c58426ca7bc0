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
 *
 * The AdminRequest seeds of tests/fuzz/corpus/command (admin-*, one per
 * member: what an operator's client sends to the admin endpoint) are made
 * by this program:
 *   ASYLINK_FUZZ_WRITE_SEEDS=DIR fuzz_command
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "asylink/v1/broker.pb-c.h"
#include "codec.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

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

/* An AdminRequest of op with its fields set as an operator's client would. */
static void s_admin(wire_admin_op op, wire_cmd *c, uint64_t ids[3])
{
    memset(c, 0, sizeof *c);
    c->kind = WIRE_ADMIN_REQUEST;
    c->request_id = 7;
    wire_admin_request *q = &c->u.admin;
    q->op = op;
    switch (op) {
    case WIRE_ADMIN_NODES: q->flag = true; break;
    case WIRE_ADMIN_QUEUES:
        snprintf(q->node_id, sizeof q->node_id, "FR");
        q->flag = true;
        break;
    case WIRE_ADMIN_TOPICS: snprintf(q->topic, sizeof q->topic, "stats.monthly"); break;
    case WIRE_ADMIN_DEAD_LETTERS:
        snprintf(q->node_id, sizeof q->node_id, "IT");
        q->limit = 50;
        q->offset = 100;
        break;
    case WIRE_ADMIN_DEAD_LETTER_REPLAY:
    case WIRE_ADMIN_DEAD_LETTER_DROP:
        q->ids = ids;
        q->n_ids = 3;
        snprintf(q->node_id, sizeof q->node_id, "IT");
        break;
    case WIRE_ADMIN_AUDIT_TAIL:
        q->limit = 20;
        q->seq_from = 10;
        break;
    case WIRE_ADMIN_AUDIT_VERIFY:
        q->seq_from = 1;
        q->seq_to = 1000;
        break;
    case WIRE_ADMIN_PURGE:
        snprintf(q->node_id, sizeof q->node_id, "DE");
        memset(q->message_id, 0x42, sizeof q->message_id);
        snprintf(q->reason, sizeof q->reason, "erasure request");
        snprintf(q->reference, sizeof q->reference, "CASE-2026-17");
        break;
    case WIRE_ADMIN_RELOAD: q->trust = q->policy = true; break;
    case WIRE_ADMIN_CONFIRM: q->seq_from = 4; break;
    default: break;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("ASYLINK_FUZZ_WRITE_SEEDS");
    if (!dir)
        return 0;
    for (int op = WIRE_ADMIN_STATS; op <= WIRE_ADMIN_PENDING; op++) {
        wire_cmd c, back;
        uint64_t ids[3] = {3, 5, 9};
        uint8_t *buf = NULL;
        size_t len = 0;
        char path[4096];
        s_admin((wire_admin_op)op, &c, ids);
        s_encode(&c, &buf, &len);
        if (wire_decode(buf, len, &back) != ASYLINK_OK || back.u.admin.op != (wire_admin_op)op)
            abort(); /* a seed must decode */
        wire_cmd_clear(&back);
        snprintf(path, sizeof path, "%s/admin-%s", dir, wire_admin_op_name((wire_admin_op)op));
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
            abort();
        free(buf);
    }
    exit(0);
}
