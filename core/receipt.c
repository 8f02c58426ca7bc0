/*
 * receipt.c — ReceiptSet payload codec.
 */
#include "receipt.h"
#include "bytes.h"

#include "asylink/errors.h"
#include "asylink/v1/envelope.pb-c.h"
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_check(const receipt *r)
{
    if (!node_id_valid(r->recipient) || !node_id_valid(r->sender))
        return ASYLINK_E_BAD_NODE_ID;
    if (r->status != RECEIPT_DELIVERED && r->status != RECEIPT_REJECTED)
        return ASYLINK_E_BAD_FIELD;
    return codec_utf8_valid(r->reason) ? ASYLINK_OK : ASYLINK_E_BAD_FIELD;
}

static int s_cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* Checks every entry and the rules across entries (one signer, one addressee, distinct ids). */
static int s_check_set(const receipt *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = s_check(&r[i]);
        if (rc != ASYLINK_OK)
            return rc;
        if (strcmp(r[i].recipient, r[0].recipient) != 0 || strcmp(r[i].sender, r[0].sender) != 0)
            return ASYLINK_E_BAD_FIELD;
    }
    if (n < 2)
        return ASYLINK_OK;
    uint8_t(*ids)[16] = malloc(n * sizeof *ids);
    if (!ids)
        return ASYLINK_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        memcpy(ids[i], r[i].message_id, 16);
    qsort(ids, n, sizeof *ids, s_cmp_id);
    int rc = ASYLINK_OK;
    for (size_t i = 1; i < n && rc == ASYLINK_OK; i++)
        if (memcmp(ids[i - 1], ids[i], 16) == 0)
            rc = ASYLINK_E_BAD_FIELD;
    free(ids);
    return rc;
}

int receipt_set_encode(const receipt *r, size_t n, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!r || n == 0 || n > RECEIPT_SET_MAX)
        return ASYLINK_E_INVALID_ARG;
    int rc = s_check_set(r, n);
    if (rc != ASYLINK_OK)
        return rc;
    Asylink__V1__Receipt *m = calloc(n, sizeof *m);
    Asylink__V1__Receipt **ptrs = calloc(n, sizeof *ptrs);
    if (!m || !ptrs) {
        free(m);
        free(ptrs);
        return ASYLINK_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        Asylink__V1__Receipt init = ASYLINK__V1__RECEIPT__INIT;
        m[i] = init;
        m[i].message_id = (ProtobufCBinaryData){16, (uint8_t *)r[i].message_id};
        m[i].envelope_digest = (ProtobufCBinaryData){64, (uint8_t *)r[i].envelope_digest};
        m[i].recipient = (char *)r[i].recipient;
        m[i].sender = (char *)r[i].sender;
        m[i].acked_ms = r[i].acked_ms;
        m[i].status = (Asylink__V1__ReceiptStatus)r[i].status;
        m[i].reason = (char *)r[i].reason;
        ptrs[i] = &m[i];
    }
    Asylink__V1__ReceiptSet set = ASYLINK__V1__RECEIPT_SET__INIT;
    set.n_receipts = n;
    set.receipts = ptrs;
    *len = asylink__v1__receipt_set__get_packed_size(&set);
    *out = malloc(*len ? *len : 1);
    if (*out)
        asylink__v1__receipt_set__pack(&set, *out);
    free(m);
    free(ptrs);
    return *out ? ASYLINK_OK : ASYLINK_E_NOMEM;
}

/* Copies one decoded entry into out; E_BAD_FIELD for wrong lengths. */
static int s_copy(const Asylink__V1__Receipt *m, receipt *out)
{
    memset(out, 0, sizeof *out);
    if (m->message_id.len != 16 || m->envelope_digest.len != 64 ||
        strlen(m->recipient) > NODE_ID_MAX || strlen(m->sender) > NODE_ID_MAX ||
        strlen(m->reason) >= sizeof out->reason)
        return ASYLINK_E_BAD_FIELD;
    memcpy(out->message_id, m->message_id.data, 16);
    memcpy(out->envelope_digest, m->envelope_digest.data, 64);
    bytes_str_copy(out->recipient, sizeof out->recipient, m->recipient);
    bytes_str_copy(out->sender, sizeof out->sender, m->sender);
    bytes_str_copy(out->reason, sizeof out->reason, m->reason);
    out->acked_ms = m->acked_ms;
    out->status = (int)m->status;
    return ASYLINK_OK;
}

/*
 * An arena for protobuf-c's decoded receipts: one allocation instead of five
 * or six per receipt (the message, its strings and bytes), bumped in order
 * and freed at once; what does not fit comes from malloc() and goes back to
 * free() (s_arena_free tells them apart).
 */
typedef struct {
    uint8_t *base;
    size_t cap, used;
} s_arena;

static void *s_arena_alloc(void *data, size_t size)
{
    s_arena *a = data;
    size_t at = (a->used + 15) & ~(size_t)15;
    if (a->base && at <= a->cap && size <= a->cap - at) {
        a->used = at + size;
        return a->base + at;
    }
    return malloc(size ? size : 1);
}

static void s_arena_free(void *data, void *p)
{
    s_arena *a = data;
    uintptr_t q = (uintptr_t)p, b = (uintptr_t)a->base;
    if (!a->base || q < b || q >= b + a->cap)
        free(p);
}

int receipt_set_decode(const uint8_t *buf, size_t len, receipt **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    /* A receipt of about 107 bytes decodes into about 220 (its message, its copied ids and
       names rounded to 16 bytes, a pointer): three times the input leaves room. */
    s_arena arena = {.cap = len * 3 + 1024};
    arena.base = len <= RECEIPT_SET_MAX * 512u ? malloc(arena.cap) : NULL;
    ProtobufCAllocator alloc = {
        .alloc = s_arena_alloc, .free = s_arena_free, .allocator_data = &arena};
    Asylink__V1__ReceiptSet *m = asylink__v1__receipt_set__unpack(&alloc, len, buf);
    if (!m) {
        free(arena.base);
        return ASYLINK_E_MALFORMED;
    }
    receipt *r = NULL;
    int rc = ASYLINK_E_MALFORMED;
    if (!codec_is_canonical(&m->base, buf, len) || m->n_receipts == 0)
        goto cleanup;
    rc = ASYLINK_E_TOO_LARGE;
    if (m->n_receipts > RECEIPT_SET_MAX)
        goto cleanup;
    rc = ASYLINK_E_NOMEM;
    if (!(r = calloc(m->n_receipts, sizeof *r)))
        goto cleanup;
    rc = ASYLINK_OK;
    for (size_t i = 0; i < m->n_receipts && rc == ASYLINK_OK; i++)
        rc = s_copy(m->receipts[i], &r[i]);
    if (rc == ASYLINK_OK)
        rc = s_check_set(r, m->n_receipts);
    if (rc == ASYLINK_OK) {
        *out = r;
        *n = m->n_receipts;
        r = NULL;
    }
cleanup:
    free(r);
    asylink__v1__receipt_set__free_unpacked(m, &alloc);
    free(arena.base);
    return rc;
}
