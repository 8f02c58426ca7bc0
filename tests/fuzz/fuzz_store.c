/*
 * fuzz_store.c — libFuzzer target: the broker store's record decoders
 * (broker/store.h, "record decoders"), which read every key and value of a
 * data directory that may be corrupt or restored from a bad copy. The
 * first byte picks what the rest is:
 *   0  a message record (msgs value);
 *   1  a queue or dlq key (node id '\0' seq);
 *   2  a dead letter: the second byte is the key's length (cut to what
 *      there is), then the key, then the value;
 *   3  a subscription value (cursor, created_ms, prefix);
 *   4  a subscription key (node '\0' name).
 * Checks, beyond "no crash, no leak, no over-read": whatever decodes lies
 * within the bytes given and holds what the store's writers write (names
 * without NUL within their limits, a recipients block of exactly
 * n_recipients names), and a key that decodes encodes back to the very
 * same bytes: the store's listings continue after the last entry they
 * returned by encoding it again, so a key that decoded to another one would
 * be returned for ever.
 *
 * Seed corpus: tests/fuzz/corpus/store, records as broker/store.c writes
 * them (a direct message to two recipients, a feed message; keys, dead
 * letters and subscriptions), each with its selector byte in front.
 */
#include "bytes.h"
#include "cert.h"
#include "store.h"

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

static void s_record(const uint8_t *p, size_t len)
{
    store_record r;
    if (!store_record_decode(p, len, &r))
        return;
    s_within(r.message_id, 16, p, len);
    s_within(r.sender, r.sender_len, p, len);
    s_within(r.recipients, r.recipients_len, p, len);
    s_within(r.envelope, r.envelope_len, p, len);
    if (r.sender_len == 0 || r.sender_len > STORE_NAME_MAX || memchr(r.sender, 0, r.sender_len) ||
        r.envelope + r.envelope_len != p + len)
        abort();
    bool feed = r.n_recipients == 0;
    if (feed ? (r.n_pending != 0 || r.recipients_len != 0)
             : (r.n_pending == 0 || r.n_pending > r.n_recipients))
        abort();
    size_t off = 0, names = 0;
    while (off < r.recipients_len) {
        const char *name = r.recipients + off;
        const char *end = memchr(name, 0, r.recipients_len - off);
        if (!end || end == name || (size_t)(end - name) > STORE_NAME_MAX)
            abort();
        off += (size_t)(end - name) + 1;
        names++;
    }
    if (names != r.n_recipients)
        abort();
}

/* The key name '\0' seq(BE) of a split key, encoded again; aborts unless it is key. */
static void s_key_again(const uint8_t *key, size_t len, const char *name, size_t name_len,
                        uint64_t seq)
{
    uint8_t again[STORE_NAME_MAX + 1 + 8];
    if (name_len == 0 || name_len > STORE_NAME_MAX || memchr(name, 0, name_len))
        abort();
    memcpy(again, name, name_len);
    again[name_len] = 0;
    bytes_put_be64(again + name_len + 1, seq);
    if (len != name_len + 1 + 8 || memcmp(again, key, len) != 0)
        abort();
}

static void s_key(const uint8_t *p, size_t len)
{
    size_t name_len = 0;
    uint64_t seq = 0;
    if (store_key_split(p, len, &name_len, &seq))
        s_key_again(p, len, (const char *)p, name_len, seq);
}

static void s_dead_letter(const uint8_t *p, size_t len)
{
    if (len < 1)
        return;
    size_t klen = p[0] < len - 1 ? p[0] : len - 1;
    const uint8_t *key = p + 1, *v = key + klen;
    size_t vlen = len - 1 - klen;
    store_dead_letter d;
    if (!store_dead_letter_decode(key, klen, v, vlen, &d))
        return;
    size_t name_len = strnlen(d.recipient, sizeof d.recipient);
    if (name_len == sizeof d.recipient || vlen < 16 ||
        strnlen(d.reason, sizeof d.reason) > vlen - 16 || d.dead_ms != bytes_get_le(v + 8, 8))
        abort();
    s_key_again(key, klen, d.recipient, name_len, d.seq);
}

static void s_sub(const uint8_t *p, size_t len)
{
    store_sub sub;
    if (!store_sub_decode(p, len, &sub))
        return;
    size_t plen = strnlen(sub.prefix, sizeof sub.prefix);
    if (plen == 0 || plen + 16 != len || memcmp(sub.prefix, p + 16, plen) != 0 ||
        sub.cursor != bytes_get_le(p, 8) || sub.created_ms != bytes_get_le(p + 8, 8))
        abort();
}

static void s_sub_key(const uint8_t *p, size_t len)
{
    char node[NODE_ID_MAX + 1], name[STORE_SUB_NAME_MAX + 1];
    if (!store_sub_key_split(p, len, node, name))
        return;
    size_t nlen = strnlen(node, sizeof node), slen = strnlen(name, sizeof name);
    if (nlen == 0 || nlen > NODE_ID_MAX || slen == 0 || slen > STORE_SUB_NAME_MAX ||
        nlen + 1 + slen != len || memcmp(p, node, nlen) != 0 || p[nlen] != 0 ||
        memcmp(p + nlen + 1, name, slen) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    switch (data[0] % 5) {
    case 0: s_record(p, len); break;
    case 1: s_key(p, len); break;
    case 2: s_dead_letter(p, len); break;
    case 3: s_sub(p, len); break;
    default: s_sub_key(p, len); break;
    }
    return 0;
}
