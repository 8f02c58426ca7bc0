/*
 * fuzz_cstore.c — libFuzzer target: the client store's record decoders
 * (client/cstore.h, "record decoders"), which read every value of a node's
 * data directory that may be corrupt or restored from a bad copy. The first
 * byte picks what the rest is:
 *   0  an outbox record (version 1 or 2);
 *   1  an inbox record (version 1 or 2);
 *   2  a receipt value (either version);
 *   3  a receipt key (message id, recipient);
 *   4  a sent value (a kept envelope), for any id and for its own;
 *   5  an owed receipt: the second byte is the key's length (cut to what
 *      there is), then the key, then the value.
 * Checks, beyond "no crash, no leak, no over-read": whatever decodes lies
 * within the bytes given and holds what the store's writers write (states
 * that agree with the envelope lengths, names without NUL within their
 * limits), and encodes back to the same bytes (outbox and inbox records,
 * receipt keys; an inbox record of version 2 without a digest may hold
 * anything where the digest would be, which its encoding zeroes).
 *
 * Seed corpus: tests/fuzz/corpus/cstore, records as client/cstore.c writes
 * them (both versions of outbox and inbox records, pending and finished,
 * direct and feed; receipts of both versions; sent values; an owed receipt),
 * each with its selector byte in front.
 */
#include "bytes.h"
#include "cstore.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless [q, q + n) lies within [p, p + len). */
static void s_within(const void *q, size_t n, const uint8_t *p, size_t len)
{
    const uint8_t *b = q;
    if (b < p || b > p + len || n > (size_t)(p + len - b))
        abort();
}

/* Aborts unless block holds exactly n names of 1..CSTORE_NAME_MAX bytes, each ended by '\0'. */
static void s_names(const char *block, size_t len, uint32_t n)
{
    size_t off = 0, names = 0;
    while (off < len) {
        const char *end = memchr(block + off, 0, len - off);
        if (!end || end == block + off || (size_t)(end - block - off) > CSTORE_NAME_MAX)
            abort();
        off = (size_t)(end - block) + 1;
        names++;
    }
    if (names != n)
        abort();
}

static void s_out(const uint8_t *p, size_t len)
{
    cstore_out_record r;
    if (!cstore_out_decode(p, len, &r))
        return;
    s_within(r.id, 16, p, len);
    s_within(r.digest, 64, p, len);
    s_within(r.reason, r.reason_len, p, len);
    s_within(r.recipients, r.recipients_len, p, len);
    if (r.version != 1 && r.version != 2)
        abort();
    if (r.version == 1)
        s_within(r.envelope, r.envelope_len, p, len);
    else if (r.envelope || (!r.kept && r.kept_ms))
        abort();
    if ((r.state == CSTORE_OUT_PENDING) != (r.envelope_len > 0) ||
        memchr(r.reason, 0, r.reason_len))
        abort();
    s_names(r.recipients, r.recipients_len, r.n_recipients);
    uint8_t *again = malloc(len);
    if (!again)
        return;
    size_t h = cstore_out_header(again, &r);
    size_t tail = len - h; /* reason, recipients, version 1's envelope */
    if (h > len || memcmp(again, p, h) != 0 ||
        tail != r.reason_len + r.recipients_len + (r.version == 1 ? r.envelope_len : 0))
        abort();
    free(again);
}

/* Aborts unless the two decoded inbox records say the same. */
static void s_in_same(const cstore_in_record *a, const cstore_in_record *b)
{
    if (a->version != b->version || a->state != b->state || a->broker_seq != b->broker_seq ||
        a->received_ms != b->received_ms || memcmp(a->id, b->id, 16) != 0 ||
        a->sender_len != b->sender_len || memcmp(a->sender, b->sender, a->sender_len) != 0 ||
        a->sub_len != b->sub_len || memcmp(a->sub, b->sub, a->sub_len) != 0 ||
        a->envelope_len != b->envelope_len || a->flags != b->flags || !a->digest != !b->digest ||
        (a->digest && memcmp(a->digest, b->digest, 64) != 0) ||
        (a->envelope && memcmp(a->envelope, b->envelope, a->envelope_len) != 0))
        abort();
}

static void s_in(const uint8_t *p, size_t len)
{
    cstore_in_record r, back;
    if (!cstore_in_decode(p, len, &r))
        return;
    s_within(r.id, 16, p, len);
    s_within(r.sender, r.sender_len, p, len);
    s_within(r.sub, r.sub_len, p, len);
    if (r.digest)
        s_within(r.digest, 64, p, len);
    if (r.version == 1)
        s_within(r.envelope, r.envelope_len, p, len);
    else if (r.version != 2 || r.envelope)
        abort();
    if (r.sender_len == 0 || r.sender_len > CSTORE_NAME_MAX || r.sub_len > CSTORE_SUB_MAX ||
        memchr(r.sender, 0, r.sender_len) || memchr(r.sub, 0, r.sub_len) ||
        (r.state == CSTORE_IN_PENDING) != (r.envelope_len > 0))
        abort();
    size_t n = cstore_in_size(&r);
    if (n != len)
        abort();
    uint8_t *again = malloc(n);
    if (!again)
        return;
    cstore_in_encode(again, &r);
    if (!cstore_in_decode(again, n, &back))
        abort();
    s_in_same(&r, &back);
    if ((r.version == 1 || r.digest) && memcmp(again, p, len) != 0)
        abort();
    free(again);
}

static void s_rcpt(const uint8_t *p, size_t len)
{
    cstore_rcpt_record r;
    if (!cstore_rcpt_decode(p, len, &r))
        return;
    s_within(r.digest, 64, p, len);
    if (r.status < 1 || r.status > 2 || !r.envelope == !r.evidence)
        abort();
    if (r.envelope) {
        s_within(r.envelope, r.envelope_len, p, len);
        if (r.envelope_len == 0 || r.envelope + r.envelope_len != p + len)
            abort();
    } else {
        s_within(r.evidence, 32, p, len);
        if (r.evidence + 32 != p + len)
            abort();
    }
}

static void s_rcpt_key(const uint8_t *p, size_t len)
{
    char recipient[CSTORE_NAME_MAX + 1];
    if (!cstore_rcpt_key_split(p, len, recipient))
        return;
    size_t n = strnlen(recipient, sizeof recipient);
    if (n == 0 || n > CSTORE_NAME_MAX || len != 16 + n || memcmp(p + 16, recipient, n) != 0)
        abort();
}

static void s_sent(const uint8_t *p, size_t len)
{
    int version = 0;
    uint64_t kept_ms = 0;
    if (!cstore_sent_decode(p, len, NULL, &version, &kept_ms))
        return;
    if (len <= 32 || (version != 1 && version != 2) || kept_ms != bytes_get_le(p + 8, 8))
        abort();
    uint8_t id[16];
    memcpy(id, p + 16, sizeof id);
    if (!cstore_sent_decode(p, len, id, &version, &kept_ms))
        abort();
    id[0] ^= 1;
    if (cstore_sent_decode(p, len, id, &version, &kept_ms))
        abort();
}

static void s_owed(const uint8_t *p, size_t len)
{
    if (len < 1)
        return;
    size_t klen = p[0] < len - 1 ? p[0] : len - 1;
    const uint8_t *key = p + 1, *v = key + klen;
    size_t vlen = len - 1 - klen;
    cstore_owed o;
    if (!cstore_owed_decode(key, klen, v, vlen, &o))
        return;
    size_t n = strnlen(o.r.sender, sizeof o.r.sender);
    if (klen != 8 || o.seq != bytes_get_be64(key) || n == 0 || vlen != 96 + n ||
        memcmp(o.r.sender, v + 96, n) != 0 || memcmp(o.r.message_id, v + 16, 16) != 0 ||
        (o.r.status != RECEIPT_DELIVERED && o.r.status != RECEIPT_REJECTED))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    switch (data[0] % 6) {
    case 0: s_out(p, len); break;
    case 1: s_in(p, len); break;
    case 2: s_rcpt(p, len); break;
    case 3: s_rcpt_key(p, len); break;
    case 4: s_sent(p, len); break;
    default: s_owed(p, len); break;
    }
    return 0;
}
