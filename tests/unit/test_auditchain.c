/*
 * test_auditchain.c — audit records (canonical round trip, refusals), the
 * chain hash (a known answer computed with Python's hashlib), signed
 * checkpoints, text cleaning, a recipient's reason as its size and digest
 * (records of that form and of the one before it), and the verifier on
 * good and broken chains (holding records of both forms):
 * altered record, altered hash, missing entry, missing first entry,
 * pruned log with a signed anchor, checkpoint mismatch, missing tail,
 * forged and unknown-key checkpoints.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "asylink/v1/audit.pb-c.h"
#include "auditchain.h"

#define N_ENTRIES 40

/* A built chain: values as stored (hash || record) and checkpoints. */
typedef struct {
    uint8_t *val[N_ENTRIES + 1];
    size_t len[N_ENTRIES + 1];
    uint8_t *ck[N_ENTRIES + 1]; /* checkpoint at seq, or NULL */
    size_t ck_len[N_ENTRIES + 1];
} chain;

static uint8_t s_pk[32], s_sk[64];

static const uint8_t *s_key(void *ctx, const char *node, uint64_t serial)
{
    (void)ctx;
    return strcmp(node, "BROKER.EU") == 0 && serial == 7 ? s_pk : NULL;
}

static void s_record(auditchain_record *r, uint64_t seq, const char *const *rcpt)
{
    static const uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static uint8_t digest[64];
    memset(digest, 0xab, sizeof digest);
    memset(r, 0, sizeof *r);
    r->seq = seq;
    r->time_ms = 1700000000000ull + seq;
    r->kind = seq % 3 ? AUDIT_ACCEPTED : AUDIT_ACKED;
    r->actor = "DE";
    r->actor_cert_serial = 42;
    r->message_id = id;
    r->sender = "DE";
    r->recipients = rcpt;
    r->n_recipients = 2;
    r->envelope_digest = digest;
    r->envelope_size = 1024 + seq;
    r->classification = 3;
    r->store_seq = seq;
    r->detail = "ok";
}

/* Builds a chain of N_ENTRIES entries with a checkpoint every 10, entry pruned_at (0 = none) a
   PRUNED record naming anchor. Every fourth entry from 2 on is a NACKED record of the form of
   DESIGN-CHANGES 66 (a recipient's reason as its size and digest), every fourth from 1 on one
   written before it (the reason's text in detail): a log holding both verifies. */
static void s_build_ex(chain *c, uint64_t pruned_at, uint64_t anchor)
{
    static const char *const rcpt[] = {"FR", "IT"};
    static const char why[] = "applicant not known here";
    uint8_t prev[32] = {0}, why_digest[32];
    auditchain_reason_digest(why, strlen(why), why_digest);
    memset(c, 0, sizeof *c);
    for (uint64_t seq = 1; seq <= N_ENTRIES; seq++) {
        auditchain_record r;
        s_record(&r, seq, rcpt);
        if (seq % 4 == 2) {
            r.kind = AUDIT_NACKED;
            r.detail = NULL;
            r.reason_digest = why_digest;
            r.reason_size = (uint32_t)strlen(why);
        } else if (seq % 4 == 1) {
            r.kind = AUDIT_NACKED;
            r.detail = why;
        }
        if (seq == pruned_at) {
            r.kind = AUDIT_PRUNED;
            r.anchor_seq = anchor;
            r.detail = "ok";
            r.reason_digest = NULL;
            r.reason_size = 0;
        }
        size_t bound = auditchain_record_bound(&r);
        c->val[seq] = malloc(32 + bound);
        assert_non_null(c->val[seq]);
        size_t len = 0;
        assert_int_equal(auditchain_record_encode(&r, c->val[seq] + 32, bound, &len), ASYLINK_OK);
        auditchain_hash(prev, c->val[seq] + 32, len, c->val[seq]);
        memcpy(prev, c->val[seq], 32);
        c->len[seq] = 32 + len;
        if (seq % 10 == 0) {
            auditchain_checkpoint ck = {
                .seq = seq, .time_ms = 1700000000000ull + seq, .cert_serial = 7};
            memcpy(ck.entry_hash, prev, 32);
            snprintf(ck.broker_node_id, sizeof ck.broker_node_id, "BROKER.EU");
            c->ck[seq] = malloc(AUDITCHAIN_CHECKPOINT_MAX);
            assert_int_equal(auditchain_checkpoint_sign(&ck, s_sk, c->ck[seq],
                                                        AUDITCHAIN_CHECKPOINT_MAX, &c->ck_len[seq]),
                             ASYLINK_OK);
        }
    }
}

/* The same without a PRUNED record. */
static void s_build(chain *c)
{
    s_build_ex(c, 0, 0);
}

static void s_free(chain *c)
{
    for (size_t i = 0; i <= N_ENTRIES; i++) {
        free(c->val[i]);
        free(c->ck[i]);
    }
}

/* Verifies entries from..to (skipping skip), the checkpoints from ckfrom on first. */
static auditchain_result s_verify_ck(const chain *c, uint64_t from, uint64_t to, uint64_t skip,
                                     uint64_t ckfrom)
{
    auditchain_verifier *v = NULL;
    assert_int_equal(auditchain_verifier_new(s_key, NULL, &v), ASYLINK_OK);
    for (uint64_t s = ckfrom; s <= N_ENTRIES; s++)
        if (c->ck[s])
            auditchain_verifier_checkpoint(v, s, c->ck[s], c->ck_len[s]);
    for (uint64_t s = from; s <= to; s++)
        if (s != skip && c->val[s] && !auditchain_verifier_entry(v, s, c->val[s], c->len[s]))
            break;
    auditchain_result res;
    auditchain_verifier_finish(v, true, &res);
    auditchain_verifier_destroy(&v);
    return res;
}

/* Verifies entries from..to (skipping skip), every checkpoint first. */
static auditchain_result s_verify(const chain *c, uint64_t from, uint64_t to, uint64_t skip)
{
    return s_verify_ck(c, from, to, skip, 1);
}

static void test_known_hash(void **state)
{
    (void)state;
    /* seq 1 (fixed64), time 2, STARTED */
    const uint8_t rec[] = {0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x02, 0x18, 0x0e};
    uint8_t zero[32] = {0}, h[32];
    char hex[65];
    auditchain_hash(zero, rec, sizeof rec, h);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    assert_string_equal(hex, "c113b41efe9df26fc13609231c59bb1ae5531de5790064c77046258b6ce823eb");
    auditchain_decoded *d = NULL;
    assert_int_equal(auditchain_record_decode(rec, sizeof rec, &d), ASYLINK_OK);
    assert_int_equal(auditchain_decoded_record(d)->kind, AUDIT_STARTED);
    assert_string_equal(auditchain_kind_name(AUDIT_STARTED), "STARTED");
    auditchain_decoded_destroy(&d);
}

static void test_record_round_trip(void **state)
{
    (void)state;
    static const char *const rcpt[] = {"FR", "IT"};
    auditchain_record r;
    s_record(&r, 5, rcpt);
    r.subscription = "sub-1";
    r.request = "dead_letter_drop";
    r.count = 9;
    uint8_t buf[2048];
    size_t len = 0;
    assert_int_equal(auditchain_record_encode(&r, buf, sizeof buf, &len), ASYLINK_OK);
    assert_true(len <= auditchain_record_bound(&r));
    auditchain_decoded *d = NULL;
    assert_int_equal(auditchain_record_decode(buf, len, &d), ASYLINK_OK);
    const auditchain_record *g = auditchain_decoded_record(d);
    assert_int_equal(g->seq, 5);
    assert_int_equal(g->kind, r.kind);
    assert_string_equal(g->actor, "DE");
    assert_int_equal(g->n_recipients, 2);
    assert_string_equal(g->recipients[1], "IT");
    assert_memory_equal(g->message_id, r.message_id, 16);
    assert_memory_equal(g->envelope_digest, r.envelope_digest, 64);
    assert_int_equal(g->classification, 3);
    assert_string_equal(g->subscription, "sub-1");
    assert_string_equal(g->request, "dead_letter_drop");
    assert_int_equal(g->count, 9);
    assert_null(g->topic);
    auditchain_decoded_destroy(&d);
    /* too small a buffer, bad fields */
    assert_int_equal(auditchain_record_encode(&r, buf, 10, &len), ASYLINK_E_TOO_LARGE);
    r.seq = 0;
    assert_int_equal(auditchain_record_encode(&r, buf, sizeof buf, &len), ASYLINK_E_BAD_FIELD);
    r.seq = 1;
    r.detail = "\xff\xfe";
    assert_int_equal(auditchain_record_encode(&r, buf, sizeof buf, &len), ASYLINK_E_BAD_FIELD);
    r.detail = NULL;
    r.kind = AUDIT_KIND_MAX + 1;
    assert_int_equal(auditchain_record_encode(&r, buf, sizeof buf, &len), ASYLINK_E_BAD_FIELD);
}

/* Hex of n bytes into a static buffer (one use at a time). */
static const char *s_hexs(const uint8_t *b, size_t n)
{
    static char hex[2 * 64 + 1];
    sodium_bin2hex(hex, sizeof hex, b, n);
    return hex;
}

/* Decodes hex into buf (cap bytes); its length. */
static size_t s_unhex(const char *hex, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    assert_int_equal(sodium_hex2bin(buf, cap, hex, strlen(hex), NULL, &len, NULL), 0);
    return len;
}

/*
 * A recipient's reason is recorded as its size and digest (DESIGN-CHANGES
 * 66): the digest's known answer (Python's hashlib), a NACKED record of the
 * new form and one written before it (the text in detail) both decode and
 * hash to their known answers, so a log holding both still verifies.
 */
static void test_reason_digest_records(void **state)
{
    (void)state;
    static const char text[] = "applicant not known here";
    uint8_t dig[32], zero[32] = {0}, h[32], rec[256], buf[256];
    auditchain_reason_digest(text, strlen(text), dig);
    assert_string_equal(s_hexs(dig, 32),
                        "a23ce7c9ae85f2fc8fbd79679dd246d16b467f71f78bdada2b4ad390a293a43a");
    /* the new form: seq 1, time 2, NACKED, actor FR, code 3, reason_digest, reason_size 24 */
    size_t len = s_unhex("09010000000000000010021805220246527803b20120a23ce7c9ae85f2fc8fbd79679dd2"
                         "46d16b467f71f78bdada2b4ad390a293a43ab80118",
                         rec, sizeof rec);
    auditchain_record r = {.seq = 1,
                           .time_ms = 2,
                           .kind = AUDIT_NACKED,
                           .actor = "FR",
                           .code = 3,
                           .reason_digest = dig,
                           .reason_size = 24};
    size_t n = 0;
    assert_int_equal(auditchain_record_encode(&r, buf, sizeof buf, &n), ASYLINK_OK);
    assert_int_equal(n, len);
    assert_memory_equal(buf, rec, len);
    auditchain_hash(zero, rec, len, h);
    assert_string_equal(s_hexs(h, 32),
                        "4c698a879e740cb46bd6c39ea9b38f383c272ac5e638a148ea64cce6e30a92a6");
    auditchain_decoded *d = NULL;
    assert_int_equal(auditchain_record_decode(rec, len, &d), ASYLINK_OK);
    const auditchain_record *g = auditchain_decoded_record(d);
    assert_non_null(g->reason_digest);
    assert_memory_equal(g->reason_digest, dig, 32);
    assert_int_equal(g->reason_size, 24);
    assert_null(g->detail);
    auditchain_decoded_destroy(&d);
    /* the form before: the same event with the text in detail */
    len = s_unhex("090100000000000000100218052202465278038201186170706c6963616e74206e6f74206b6e6f"
                  "776e2068657265",
                  rec, sizeof rec);
    auditchain_hash(zero, rec, len, h);
    assert_string_equal(s_hexs(h, 32),
                        "5676f14f5a9a56fada20b9fdac6ec01464a89d98090ce19e195666b72bb0b5d7");
    assert_int_equal(auditchain_record_decode(rec, len, &d), ASYLINK_OK);
    assert_string_equal(auditchain_decoded_record(d)->detail, text);
    assert_null(auditchain_decoded_record(d)->reason_digest);
    auditchain_decoded_destroy(&d);
    /* refused: a digest without a size, a size without a digest, a size over 255 */
    r.reason_size = 0;
    assert_int_equal(auditchain_record_encode(&r, buf, sizeof buf, &n), ASYLINK_E_BAD_FIELD);
    r.reason_size = 24;
    r.reason_digest = NULL;
    assert_int_equal(auditchain_record_encode(&r, buf, sizeof buf, &n), ASYLINK_E_BAD_FIELD);
    r.reason_digest = dig;
    r.reason_size = AUDITCHAIN_DETAIL_MAX + 1;
    assert_int_equal(auditchain_record_encode(&r, buf, sizeof buf, &n), ASYLINK_E_BAD_FIELD);
    /* decoding: a 31-byte digest; the size alone */
    len = s_unhex("0901000000000000001805b2011f000102030405060708090a0b0c0d0e0f101112131415161718"
                  "191a1b1c1d1eb80118",
                  rec, sizeof rec);
    assert_int_equal(auditchain_record_decode(rec, len, &d), ASYLINK_E_BAD_FIELD);
    const uint8_t size_only[] = {0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x05, 0xb8, 0x01, 0x18};
    assert_int_equal(auditchain_record_decode(size_only, sizeof size_only, &d),
                     ASYLINK_E_BAD_FIELD);
    assert_null(d);
}

/* A random string of 0..max bytes of ASCII letters, or NULL (1 in 4); in buf. */
static const char *s_rand_text(char *buf, size_t max)
{
    if (randombytes_uniform(4) == 0)
        return NULL;
    size_t n =
        randombytes_uniform(2) ? randombytes_uniform((uint32_t)max + 1) : randombytes_uniform(12);
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + randombytes_uniform(26));
    buf[n] = 0;
    return buf;
}

/* A random number: 0, small, or any 64 bits (10-byte varints). */
static uint64_t s_rand_u64(void)
{
    uint64_t v = 0;
    switch (randombytes_uniform(4)) {
    case 0: return 0;
    case 1: return randombytes_uniform(300);
    default: randombytes_buf(&v, sizeof v); return v;
    }
}

/*
 * The record encoder writes what protobuf-c's generic packer writes for
 * the same record, byte for byte, over random records (every field absent,
 * small, or at its widest; up to 300 recipients), and refuses a buffer one
 * byte short.
 */
static void test_record_encoder_matches_protobuf(void **state)
{
    (void)state;
    static char text[6][AUDITCHAIN_DETAIL_MAX + 1];
    static char names[300][AUDITCHAIN_NAME_MAX + 1];
    static const char *recips[300];
    static uint8_t buf[AUDITCHAIN_RECORD_MAX], ref[AUDITCHAIN_RECORD_MAX];
    uint8_t id[16], digest[64], reason[32];
    for (int round = 0; round < 3000; round++) {
        randombytes_buf(id, sizeof id);
        randombytes_buf(digest, sizeof digest);
        randombytes_buf(reason, sizeof reason);
        bool has_reason = randombytes_uniform(2);
        size_t nr = randombytes_uniform(8) == 0 ? randombytes_uniform(301) : randombytes_uniform(3);
        for (size_t i = 0; i < nr; i++) {
            const char *t = s_rand_text(names[i], AUDITCHAIN_NAME_MAX);
            if (!t || !t[0])
                snprintf(names[i], sizeof names[i], "N%zu", i);
            recips[i] = names[i];
        }
        auditchain_record r = {.seq = s_rand_u64() | 1,
                               .time_ms = s_rand_u64(),
                               .kind = 1 + (int)randombytes_uniform(AUDIT_KIND_MAX),
                               .actor = s_rand_text(text[0], AUDITCHAIN_NAME_MAX),
                               .actor_cert_serial = s_rand_u64(),
                               .message_id = randombytes_uniform(2) ? id : NULL,
                               .sender = s_rand_text(text[1], AUDITCHAIN_NAME_MAX),
                               .recipients = recips,
                               .n_recipients = nr,
                               .topic = s_rand_text(text[2], AUDITCHAIN_NAME_MAX),
                               .envelope_digest = randombytes_uniform(2) ? digest : NULL,
                               .envelope_size = s_rand_u64(),
                               .classification = (int)randombytes_uniform(5),
                               .store_seq = s_rand_u64(),
                               .attempt = (uint32_t)s_rand_u64(),
                               .code = (int)randombytes_uniform(64),
                               .detail = s_rand_text(text[3], AUDITCHAIN_DETAIL_MAX),
                               .subscription = s_rand_text(text[4], AUDITCHAIN_NAME_MAX),
                               .count = s_rand_u64(),
                               .request = s_rand_text(text[5], AUDITCHAIN_NAME_MAX),
                               .expires_ms = s_rand_u64(),
                               .anchor_seq = s_rand_u64(),
                               .reason_digest = has_reason ? reason : NULL,
                               .reason_size = has_reason ? 1 + randombytes_uniform(255) : 0};
        Asylink__V1__AuditRecord m = ASYLINK__V1__AUDIT_RECORD__INIT;
        m.seq = r.seq;
        m.time_ms = r.time_ms;
        m.kind = (Asylink__V1__AuditKind)r.kind;
        m.actor = (char *)(r.actor ? r.actor : "");
        m.actor_cert_serial = r.actor_cert_serial;
        if (r.message_id)
            m.message_id = (ProtobufCBinaryData){16, id};
        m.sender = (char *)(r.sender ? r.sender : "");
        m.n_recipients = nr;
        m.recipients = (char **)recips;
        m.topic = (char *)(r.topic ? r.topic : "");
        if (r.envelope_digest)
            m.envelope_digest = (ProtobufCBinaryData){64, digest};
        m.envelope_size = r.envelope_size;
        m.classification = (Asylink__V1__Classification)r.classification;
        m.store_seq = r.store_seq;
        m.attempt = r.attempt;
        m.code = (Asylink__V1__ErrorCode)r.code;
        m.detail = (char *)(r.detail ? r.detail : "");
        m.subscription = (char *)(r.subscription ? r.subscription : "");
        m.count = r.count;
        m.request = (char *)(r.request ? r.request : "");
        m.expires_ms = r.expires_ms;
        m.anchor_seq = r.anchor_seq;
        if (r.reason_digest)
            m.reason_digest = (ProtobufCBinaryData){32, reason};
        m.reason_size = r.reason_size;
        size_t want = asylink__v1__audit_record__pack(&m, ref), len = 0;
        assert_int_equal(auditchain_record_encode(&r, buf, sizeof buf, &len), ASYLINK_OK);
        assert_int_equal(len, want);
        assert_memory_equal(buf, ref, want);
        assert_int_equal(auditchain_record_bound(&r), want);
        assert_int_equal(auditchain_record_encode(&r, buf, want - 1, &len), ASYLINK_E_TOO_LARGE);
    }
}

static void test_record_refusals(void **state)
{
    (void)state;
    auditchain_decoded *d = NULL;
    /* fields out of order: time (2) before seq (1) */
    const uint8_t swapped[] = {0x10, 0x02, 0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x0e};
    assert_int_equal(auditchain_record_decode(swapped, sizeof swapped, &d), ASYLINK_E_MALFORMED);
    /* a default value written out (time 0) */
    const uint8_t dflt[] = {0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0x18, 0x0e};
    assert_int_equal(auditchain_record_decode(dflt, sizeof dflt, &d), ASYLINK_E_MALFORMED);
    /* unknown field 99 */
    const uint8_t unknown[] = {0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x0e, 0x98, 0x06, 0x01};
    /* seq as a varint (the wire type of a uint64) */
    const uint8_t varint[] = {0x08, 0x01, 0x10, 0x02, 0x18, 0x0e};
    assert_int_equal(auditchain_record_decode(varint, sizeof varint, &d), ASYLINK_E_MALFORMED);
    assert_int_equal(auditchain_record_decode(unknown, sizeof unknown, &d), ASYLINK_E_MALFORMED);
    /* message id of 3 bytes */
    const uint8_t shortid[] = {0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x01, 0x32, 0x03, 1, 2, 3};
    assert_int_equal(auditchain_record_decode(shortid, sizeof shortid, &d), ASYLINK_E_BAD_FIELD);
    /* seq 0 */
    const uint8_t noseq[] = {0x18, 0x01};
    assert_int_equal(auditchain_record_decode(noseq, sizeof noseq, &d), ASYLINK_E_BAD_FIELD);
    assert_int_equal(auditchain_record_decode(NULL, 0, &d), ASYLINK_E_MALFORMED);
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(auditchain_record_decode(junk, sizeof junk, &d), ASYLINK_E_MALFORMED);
    assert_null(d);
}

static void test_clean_text(void **state)
{
    (void)state;
    char out[300];
    auditchain_clean_text("plain", out, sizeof out);
    assert_string_equal(out, "plain");
    auditchain_clean_text("a\nb\x01\xff"
                          "c",
                          out, sizeof out);
    assert_string_equal(out, "a?b??c");
    auditchain_clean_text("caf\xc3\xa9", out, sizeof out);
    assert_string_equal(out, "caf\xc3\xa9");
    auditchain_clean_text("caf\xc3\xa9", out, 5); /* never cuts inside a character */
    assert_string_equal(out, "caf");
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    auditchain_clean_text(big, out, sizeof out);
    assert_int_equal(strlen(out), AUDITCHAIN_DETAIL_MAX);
    auditchain_clean_text(NULL, out, sizeof out);
    assert_string_equal(out, "");
}

static void test_checkpoint(void **state)
{
    (void)state;
    auditchain_checkpoint c = {.seq = 10, .time_ms = 99, .cert_serial = 7}, got;
    memset(c.entry_hash, 0x5a, 32);
    snprintf(c.broker_node_id, sizeof c.broker_node_id, "BROKER.EU");
    uint8_t buf[AUDITCHAIN_CHECKPOINT_MAX], sig[64];
    size_t len = 0;
    assert_int_equal(auditchain_checkpoint_sign(&c, s_sk, buf, sizeof buf, &len), ASYLINK_OK);
    assert_int_equal(auditchain_checkpoint_verify(buf, len, s_pk, &got), ASYLINK_OK);
    assert_int_equal(got.seq, 10);
    assert_memory_equal(got.entry_hash, c.entry_hash, 32);
    assert_string_equal(got.broker_node_id, "BROKER.EU");
    assert_int_equal(auditchain_checkpoint_decode(buf, len, &got, sig), ASYLINK_OK);
    uint8_t other_pk[32], other_sk[64];
    crypto_sign_keypair(other_pk, other_sk);
    assert_int_equal(auditchain_checkpoint_verify(buf, len, other_pk, &got),
                     ASYLINK_E_BAD_SIGNATURE);
    for (size_t i = 0; i < len; i++) { /* any flipped byte: refused */
        buf[i] ^= 0x01;
        assert_int_not_equal(auditchain_checkpoint_verify(buf, len, s_pk, &got), ASYLINK_OK);
        buf[i] ^= 0x01;
    }
    c.seq = 0;
    assert_int_equal(auditchain_checkpoint_sign(&c, s_sk, buf, sizeof buf, &len),
                     ASYLINK_E_BAD_FIELD);
}

static void test_verify_good(void **state)
{
    (void)state;
    chain c;
    s_build(&c);
    auditchain_result r = s_verify(&c, 1, N_ENTRIES, 0);
    assert_true(r.ok);
    assert_int_equal(r.entries, N_ENTRIES);
    assert_int_equal(r.checkpoints, N_ENTRIES / 10);
    assert_int_equal(r.first_seq, 1);
    assert_int_equal(r.last_seq, N_ENTRIES);
    assert_int_equal(r.first_bad_seq, 0);
    assert_memory_equal(r.head_hash, c.val[N_ENTRIES], 32);
    s_free(&c);
}

static void test_verify_altered(void **state)
{
    (void)state;
    chain c;
    s_build(&c);
    for (uint64_t seq = 1; seq <= N_ENTRIES; seq += 13) {
        for (size_t off = 0; off < c.len[seq]; off += 7) { /* hash bytes and record bytes */
            c.val[seq][off] ^= 0x20;
            auditchain_result r = s_verify(&c, 1, N_ENTRIES, 0);
            assert_false(r.ok);
            assert_int_equal(r.first_bad_seq, seq);
            c.val[seq][off] ^= 0x20;
        }
    }
    assert_true(s_verify(&c, 1, N_ENTRIES, 0).ok);
    s_free(&c);
}

static void test_verify_missing(void **state)
{
    (void)state;
    chain c;
    s_build(&c);
    auditchain_result r = s_verify(&c, 1, N_ENTRIES, 17);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 17);
    assert_non_null(strstr(r.reason, "missing"));
    r = s_verify(&c, 1, N_ENTRIES, 1); /* the first: no anchor at 1 */
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 1);
    r = s_verify(&c, 1, 35, 0); /* the tail cut below the checkpoint at 40 */
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 36);
    r = s_verify(&c, 1, 40, 0);
    assert_true(r.ok);
    s_free(&c);
}

static void test_verify_pruned(void **state)
{
    (void)state;
    chain c;
    s_build_ex(&c, 35, 20);
    /* entries 1..20 and the checkpoint at 10 pruned; the checkpoint at 20 is the anchor, and
       the PRUNED record at 35 says so */
    auditchain_result r = s_verify_ck(&c, 21, N_ENTRIES, 0, 20);
    assert_true(r.ok);
    assert_int_equal(r.anchor_seq, 20);
    assert_int_equal(r.first_seq, 21);
    /* 21..23 removed too, which no checkpoint covers: 21 is missing (after the anchor at 20) */
    r = s_verify_ck(&c, 24, N_ENTRIES, 0, 20);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 21);
    /* 11..30 removed, checkpoint 10 left: the log should start after it */
    r = s_verify_ck(&c, 31, N_ENTRIES, 0, 10);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 11);
    s_free(&c);
    /* the same cut without a PRUNED record: nothing was pruned, the oldest entries were removed */
    s_build(&c);
    r = s_verify_ck(&c, 21, N_ENTRIES, 0, 20);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 1);
    assert_non_null(strstr(r.reason, "no PRUNED record"));
    s_free(&c);
}

static void test_verify_checkpoints(void **state)
{
    (void)state;
    chain c;
    s_build(&c);
    /* entries 11..20 rewritten consistently (hashes recomputed): the checkpoint at 20 catches it */
    uint8_t prev[32];
    memcpy(prev, c.val[10], 32);
    for (uint64_t seq = 11; seq <= N_ENTRIES; seq++) {
        if (seq == 11)
            c.val[seq][c.len[seq] - 1] ^= 0x01; /* last detail byte: 'k' -> 'j' */
        auditchain_hash(prev, c.val[seq] + 32, c.len[seq] - 32, c.val[seq]);
        memcpy(prev, c.val[seq], 32);
    }
    auditchain_result r = s_verify(&c, 1, N_ENTRIES, 0);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 20);
    s_free(&c);
    /* a forged checkpoint */
    s_build(&c);
    c.ck[30][c.ck_len[30] - 1] ^= 0x01;
    r = s_verify(&c, 1, N_ENTRIES, 0);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 30);
    assert_non_null(strstr(r.reason, "signature"));
    s_free(&c);
    /* no key for the signer */
    s_build(&c);
    auditchain_verifier *v = NULL;
    assert_int_equal(auditchain_verifier_new(NULL, NULL, &v), ASYLINK_OK);
    auditchain_verifier_checkpoint(v, 10, c.ck[10], c.ck_len[10]);
    auditchain_verifier_finish(v, true, &r);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 10);
    auditchain_verifier_destroy(&v);
    /* a page: start_at 11 with entry 10's hash */
    assert_int_equal(auditchain_verifier_new(s_key, NULL, &v), ASYLINK_OK);
    auditchain_verifier_start_at(v, 11, c.val[10]);
    for (uint64_t s = 11; s <= 25; s++)
        assert_true(auditchain_verifier_entry(v, s, c.val[s], c.len[s]));
    auditchain_verifier_finish(v, false, &r);
    assert_true(r.ok);
    assert_int_equal(r.entries, 15);
    assert_memory_equal(r.prev_hash, c.val[10], 32);
    auditchain_verifier_destroy(&v);
    s_free(&c);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    crypto_sign_keypair(s_pk, s_sk);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_hash),
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_record_encoder_matches_protobuf),
        cmocka_unit_test(test_record_refusals),
        cmocka_unit_test(test_reason_digest_records),
        cmocka_unit_test(test_clean_text),
        cmocka_unit_test(test_checkpoint),
        cmocka_unit_test(test_verify_good),
        cmocka_unit_test(test_verify_altered),
        cmocka_unit_test(test_verify_missing),
        cmocka_unit_test(test_verify_pruned),
        cmocka_unit_test(test_verify_checkpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
