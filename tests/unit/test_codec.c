/*
 * test_codec.c — the raw protobuf reader and the pre-scan (core/codec.h)
 * that wire.c and envelope.c run before protobuf-c unpacks hostile bytes,
 * and the one-pass decoder (codec_unpack_canonical) against the general
 * path it stands in for, over an envelope and thousands of mutations of it.
 * (Canonical form is tested through its users, test_envelope and test_wire.)
 */
#include "fixture.h"

#include "asylink/v1/envelope.pb-c.h"
#include "codec.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static void test_varint(void **state)
{
    (void)state;
    const uint8_t ok[] = {0xac, 0x02};
    const uint8_t *p = ok;
    uint64_t v = 0;
    assert_true(codec_varint(&p, ok + 2, &v));
    assert_int_equal(v, 300);
    assert_ptr_equal(p, ok + 2);
    p = ok;
    assert_false(codec_varint(&p, ok + 1, &v)); /* cut */
    uint8_t eleven[11];
    memset(eleven, 0x80, sizeof eleven);
    eleven[10] = 0x01;
    p = eleven;
    assert_false(codec_varint(&p, eleven + 11, &v)); /* longer than 10 bytes */
}

static void test_next_field_and_find(void **state)
{
    (void)state;
    /* 1: varint 150; 2: bytes "hi"; 3: fixed64; 4: fixed32; 2 again: "yo" */
    const uint8_t msg[] = {0x08, 0x96, 0x01, 0x12, 0x02, 'h', 'i', 0x19, 1,    2,    3,   4,  5,
                           6,    7,    8,    0x25, 1,    2,   3,   4,    0x12, 0x02, 'y', 'o'};
    const uint8_t *p = msg, *end = msg + sizeof msg;
    codec_field f = {0};
    assert_true(codec_next_field(&p, end, &f));
    assert_int_equal(f.number, 1);
    assert_int_equal(f.wire_type, 0);
    assert_int_equal(f.value, 150);
    assert_true(codec_next_field(&p, end, &f));
    assert_int_equal(f.wire_type, 2);
    assert_int_equal(f.len, 2);
    assert_memory_equal(f.data, "hi", 2);
    assert_true(codec_next_field(&p, end, &f));
    assert_int_equal(f.wire_type, 1);
    assert_true(codec_next_field(&p, end, &f));
    assert_int_equal(f.wire_type, 5);
    const uint8_t *data = NULL;
    size_t n = 0;
    assert_true(codec_find_bytes(msg, sizeof msg, 2, &data, &n)); /* the first one */
    assert_ptr_equal(data, msg + 5);
    assert_int_equal(n, 2);
    assert_false(codec_find_bytes(msg, sizeof msg, 1, &data, &n)); /* a varint, not bytes */
    assert_false(codec_find_bytes(msg, sizeof msg, 9, &data, &n));
    /* broken framing: a length past the end, a cut fixed64, a group */
    p = (const uint8_t *)"\x12\x05hi";
    assert_false(codec_next_field(&p, p + 4, &f));
    p = (const uint8_t *)"\x19\x01\x02";
    assert_false(codec_next_field(&p, p + 3, &f));
    p = (const uint8_t *)"\x0b";
    assert_false(codec_next_field(&p, p + 1, &f));
}

static size_t s_two_recipients(const ProtobufCMessageDescriptor *d, unsigned id)
{
    return d == &asylink__v1__header__descriptor && id == 4 ? 2 : 0;
}

static size_t s_five(const ProtobufCMessageDescriptor *d, unsigned id)
{
    (void)d;
    (void)id;
    return 5;
}

static bool s_no_topic(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *fd)
{
    return !(d == &asylink__v1__header__descriptor && fd->id == 5);
}

static void test_prescan(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *h = &asylink__v1__header__descriptor;
    codec_scan_rules r = {
        .max_depth = 0, .too_many_code = ASYLINK_E_TOO_LARGE, .repeated_max = s_two_recipients};
    assert_int_equal(codec_prescan(h, S("\x08\x01"), &r), ASYLINK_OK);
    assert_int_equal(codec_prescan(h, NULL, 0, &r), ASYLINK_OK);
    assert_int_equal(codec_prescan(h, S("\x08\x01\x08\x01"), &r), ASYLINK_E_MALFORMED); /* twice */
    assert_int_equal(codec_prescan(h, S("\x0a\x00"), &r), ASYLINK_E_MALFORMED);     /* wire type */
    assert_int_equal(codec_prescan(h, S("\xf8\x01\x00"), &r), ASYLINK_E_MALFORMED); /* unknown */
    assert_int_equal(codec_prescan(h, S("\x00\x00"), &r), ASYLINK_E_MALFORMED);     /* field 0 */
    assert_int_equal(codec_prescan(h, S("\x22\x05xy"), &r), ASYLINK_E_MALFORMED);   /* cut */
    assert_int_equal(codec_prescan(h, S("\x22\x01x\x22\x01y"), &r), ASYLINK_OK);
    const char *three = "\x22\x01x\x22\x01y\x22\x01z";
    assert_int_equal(codec_prescan(h, (const uint8_t *)three, 9, &r), ASYLINK_E_TOO_LARGE);
    r.too_many_code = ASYLINK_E_BAD_FIELD;
    assert_int_equal(codec_prescan(h, (const uint8_t *)three, 9, &r), ASYLINK_E_BAD_FIELD);
    r.allowed = s_no_topic;
    assert_int_equal(codec_prescan(h, S("\x2a\x03qrs"), &r), ASYLINK_E_MALFORMED);
    assert_int_equal(codec_prescan(NULL, S("\x08\x01"), &r), ASYLINK_E_INVALID_ARG);

    /* Nesting: Envelope.keys is a KeyWrap message (depth 1). */
    const ProtobufCMessageDescriptor *env = &asylink__v1__envelope__descriptor;
    codec_scan_rules flat = {
        .max_depth = 0, .too_many_code = ASYLINK_E_TOO_LARGE, .repeated_max = s_five};
    assert_int_equal(codec_prescan(env, S("\x1a\x00"), &flat), ASYLINK_E_MALFORMED);
    flat.max_depth = 1;
    assert_int_equal(codec_prescan(env, S("\x1a\x00"), &flat), ASYLINK_OK);
    assert_int_equal(codec_prescan(env, S("\x1a\x02\xf8\x01"), &flat),
                     ASYLINK_E_MALFORMED); /* the nested message is scanned too */
    assert_int_equal(codec_prescan(env, S("\x0a\x00"), &flat), ASYLINK_OK); /* bytes, no nesting */
}

/* ---- the one-pass decoder ---- */

static _Alignas(max_align_t) uint8_t s_mem[64 * 1024], s_mem_agree[64 * 1024];

static size_t s_envelope_max(const ProtobufCMessageDescriptor *d, unsigned id)
{
    if (d == &asylink__v1__envelope__descriptor && id == 3)
        return 4;
    if (d == &asylink__v1__header__descriptor && id == 4)
        return 4;
    if (d == &asylink__v1__batch_proof__descriptor && id == 4)
        return 11;
    return 0;
}

static const codec_scan_rules s_env_rules = {
    .max_depth = 1, .too_many_code = ASYLINK_E_TOO_LARGE, .repeated_max = s_envelope_max};

/* Packs m into a new buffer. */
static uint8_t *s_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *out = malloc(*len ? *len : 1);
    assert_non_null(out);
    assert_int_equal(protobuf_c_message_pack(m, out), *len);
    return out;
}

/* A header with every field set, recipients repeated. */
static uint8_t *s_header_bytes(size_t *len)
{
    Asylink__V1__Header h = ASYLINK__V1__HEADER__INIT;
    uint8_t id[16], corr[16], epk[32], commit[32];
    memset(id, 0x11, sizeof id);
    memset(corr, 0x22, sizeof corr);
    memset(epk, 0x33, sizeof epk);
    memset(commit, 0x44, sizeof commit);
    char *recipients[] = {"FR", "IT", "EUAA"};
    h.version = 1;
    h.message_id = (ProtobufCBinaryData){16, id};
    h.sender = "DE";
    h.n_recipients = 3;
    h.recipients = recipients;
    h.content_type = "asylink.v1.CaseInformationRequest";
    h.classification = ASYLINK__V1__CLASSIFICATION__CLASSIFICATION_PERSONAL;
    h.created_ms = 1764950400123;
    h.expires_ms = 1764950400123 + 86400000;
    h.correlation_id = (ProtobufCBinaryData){16, corr};
    h.encryption = ASYLINK__V1__ENCRYPTION__ENCRYPTION_XCHACHA20POLY1305;
    h.payload_size = 300;
    h.sender_ephemeral_pk = (ProtobufCBinaryData){32, epk};
    h.sender_cert_serial = 70000;
    h.key_commitment = (ProtobufCBinaryData){32, commit};
    return s_pack(&h.base, len);
}

/* An envelope with keys and a batch proof around s_header_bytes(). */
static uint8_t *s_envelope_bytes(size_t *len)
{
    size_t hlen = 0;
    uint8_t *hdr = s_header_bytes(&hlen);
    uint8_t body[340], wrapped[3][72], sig[64], salt[32], path[3][32];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)(i * 7);
    memset(wrapped, 0x55, sizeof wrapped);
    memset(sig, 0x66, sizeof sig);
    memset(salt, 0x77, sizeof salt);
    memset(path, 0x88, sizeof path);
    Asylink__V1__KeyWrap k[3] = {ASYLINK__V1__KEY_WRAP__INIT, ASYLINK__V1__KEY_WRAP__INIT,
                                 ASYLINK__V1__KEY_WRAP__INIT};
    Asylink__V1__KeyWrap *keys[3] = {&k[0], &k[1], &k[2]};
    const char *ids[3] = {"FR", "IT", "EUAA"};
    for (int i = 0; i < 3; i++) {
        k[i].node_id = (char *)ids[i];
        k[i].wrapped_key = (ProtobufCBinaryData){72, wrapped[i]};
    }
    ProtobufCBinaryData p[3] = {{32, path[0]}, {32, path[1]}, {32, path[2]}};
    Asylink__V1__BatchProof b = ASYLINK__V1__BATCH_PROOF__INIT;
    b.salt = (ProtobufCBinaryData){32, salt};
    b.size = 5;
    b.index = 4;
    b.n_path = 3;
    b.path = p;
    Asylink__V1__Envelope e = ASYLINK__V1__ENVELOPE__INIT;
    e.header = (ProtobufCBinaryData){hlen, hdr};
    e.body = (ProtobufCBinaryData){sizeof body, body};
    e.n_keys = 3;
    e.keys = keys;
    e.signature = (ProtobufCBinaryData){64, sig};
    e.batch = &b;
    uint8_t *out = s_pack(&e.base, len);
    free(hdr);
    return out;
}

/* What the general path makes of buf: true if it accepts it (pre-scan, unpack, canonical). */
static bool s_general_accepts(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len)
{
    if (codec_prescan(d, buf, len, &s_env_rules) != ASYLINK_OK)
        return false;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, buf);
    bool ok = m && codec_is_canonical(m, buf, len);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    return ok;
}

/*
 * The two paths agree on buf: the one pass takes exactly what the general
 * path accepts, and what it takes re-serializes to buf (the general path's
 * decode of buf is the one message that does). Returns whether taken.
 */
static bool s_agree(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len)
{
    codec_arena b = {.base = s_mem_agree, .cap = sizeof s_mem_agree};
    ProtobufCMessage *m = codec_unpack_canonical(d, buf, len, &s_env_rules, codec_arena_alloc, &b);
    bool general = s_general_accepts(d, buf, len);
    assert_int_equal(m != NULL, general);
    if (m) {
        assert_true(codec_is_canonical(m, buf, len));
        size_t n = 0;
        uint8_t *again = s_pack(m, &n);
        assert_int_equal(n, len);
        assert_memory_equal(again, buf, len);
        free(again);
    }
    return m != NULL;
}

static void test_unpack_canonical_fields(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *env = s_envelope_bytes(&len);
    codec_arena b = {.base = s_mem, .cap = sizeof s_mem};
    ProtobufCMessage *m = codec_unpack_canonical(&asylink__v1__envelope__descriptor, env, len,
                                                 &s_env_rules, codec_arena_alloc, &b);
    assert_non_null(m);
    Asylink__V1__Envelope *e = (Asylink__V1__Envelope *)m;
    assert_int_equal(e->n_keys, 3);
    assert_string_equal(e->keys[2]->node_id, "EUAA");
    assert_int_equal(e->keys[1]->wrapped_key.len, 72);
    assert_int_equal(e->body.len, 340);
    assert_true(e->body.data > env && e->body.data < env + len); /* points into the input */
    assert_non_null(e->batch);
    assert_int_equal(e->batch->size, 5);
    assert_int_equal(e->batch->index, 4);
    assert_int_equal(e->batch->n_path, 3);
    Asylink__V1__Header *h = (Asylink__V1__Header *)codec_unpack_canonical(
        &asylink__v1__header__descriptor, e->header.data, e->header.len, &s_env_rules,
        codec_arena_alloc, &b);
    assert_non_null(h);
    assert_string_equal(h->sender, "DE");
    assert_int_equal(h->n_recipients, 3);
    assert_string_equal(h->recipients[1], "IT");
    assert_int_equal(h->classification, ASYLINK__V1__CLASSIFICATION__CLASSIFICATION_PERSONAL);
    assert_int_equal(h->created_ms, 1764950400123);
    assert_int_equal(h->sender_cert_serial, 70000);
    assert_string_equal(h->topic, ""); /* absent: the default */
    assert_true(s_agree(&asylink__v1__envelope__descriptor, env, len));
    assert_true(s_agree(&asylink__v1__header__descriptor, e->header.data, e->header.len));
    /* a full allocator: not taken */
    codec_arena tiny = {.base = s_mem, .cap = sizeof s_mem, .used = sizeof s_mem - 64};
    assert_null(codec_unpack_canonical(&asylink__v1__envelope__descriptor, env, len, &s_env_rules,
                                       codec_arena_alloc, &tiny));
    free(env);

    /* Each of these the general path refuses or reads differently: not taken. */
    const ProtobufCMessageDescriptor *hd = &asylink__v1__header__descriptor;
    struct {
        const char *bytes;
        size_t len;
    } refused[] = {
        {"\x08\x00", 2},         /* a default written */
        {"\x08\x81\x00", 3},     /* a padded varint */
        {"\x88\x00\x01", 3},     /* a padded tag */
        {"\x08\x01\x08\x01", 4}, /* twice */
        {"\x1a\x02"
         "DE\x08\x01",
         6},             /* out of order */
        {"\x1a\x00", 2}, /* an empty string written */
        {"\x1a\x02"
         "D\x00",
         4},                             /* a NUL in a string */
        {"\x08\x80\x80\x80\x80\x10", 6}, /* uint32 over 32 bits */
        {"\x38\x80\x80\x80\x80\x08", 6}, /* an enum over INT32_MAX */
        {"\x38\x85\x80\x80\x80\xf0\xff\xff\xff\xff\x01", 11}, /* 5 + high bits */
        {"\x38\xff\xff\xff\xff\x07\x80\x80\x80\x80\x01", 11}, /* INT32_MAX + 2^63 */
        {"\xf8\x01\x01", 3},             /* unknown */
        {"\x0a\x01x", 3},                /* wrong wire type */
        {"\x22\x01"
         "a\x22\x01"
         "b\x22\x01"
         "c\x22\x01"
         "d\x22\x01"
         "e",
         15}, /* 5 > 4 */
        {"\x22\x01"
         "a\x2a\x01"
         "t\x22\x01"
         "b",
         9},               /* a repeated field split */
        {"\x12\x05xy", 4}, /* cut */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_false(s_agree(hd, (const uint8_t *)refused[i].bytes, refused[i].len));
    assert_true(s_agree(hd,
                        (const uint8_t *)"\x22\x00\x22\x01"
                                         "b",
                        5)); /* empty element */
    assert_true(s_agree(hd, NULL, 0));
    /* a negative enum is written sign-extended, ten bytes: taken as the int32
     * protobuf-c reads (found by fuzz_envelope in CI) */
    codec_arena nb = {.base = s_mem, .cap = sizeof s_mem};
    const uint8_t neg[] = {0x38, 0xff, 0xbf, 0x80, 0xbc, 0xf9, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_true(s_agree(hd, neg, sizeof neg));
    Asylink__V1__Header *nh = (Asylink__V1__Header *)codec_unpack_canonical(
        hd, neg, sizeof neg, &s_env_rules, codec_arena_alloc, &nb);
    assert_non_null(nh);
    assert_true((int)nh->classification == -1753210881);
    const uint8_t minus1[] = {0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_true(s_agree(hd, minus1, sizeof minus1));
    const uint8_t int_min[] = {0x38, 0x80, 0x80, 0x80, 0x80, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_true(s_agree(hd, int_min, sizeof int_min));
    /* an empty nested message is written when set */
    assert_true(s_agree(&asylink__v1__envelope__descriptor, (const uint8_t *)"\x2a\x00", 2));
    assert_true(s_agree(&asylink__v1__envelope__descriptor, (const uint8_t *)"\x1a\x00", 2));
    /* nesting deeper than the rules allow */
    codec_scan_rules flat = s_env_rules;
    flat.max_depth = 0;
    assert_null(codec_unpack_canonical(&asylink__v1__envelope__descriptor,
                                       (const uint8_t *)"\x2a\x00", 2, &flat, codec_arena_alloc,
                                       &b));
}

/* Thousands of mutations of a real envelope and header: the two paths agree on each. */
static void test_unpack_canonical_mutations(void **state)
{
    (void)state;
    size_t len = 0, hlen = 0;
    uint8_t *env = s_envelope_bytes(&len), *hdr = s_header_bytes(&hlen);
    uint8_t *buf = malloc(len + 16);
    assert_non_null(buf);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    size_t taken = 0, tried = 0;
    for (int round = 0; round < 2; round++) {
        const uint8_t *src = round ? hdr : env;
        size_t n = round ? hlen : len;
        const ProtobufCMessageDescriptor *d =
            round ? &asylink__v1__header__descriptor : &asylink__v1__envelope__descriptor;
        for (size_t i = 0; i < n; i++) { /* every byte: bumped, zeroed, dropped */
            for (int how = 0; how < 3; how++) {
                memcpy(buf, src, n);
                size_t m = n;
                if (how == 0)
                    buf[i]++;
                else if (how == 1)
                    buf[i] = 0;
                else
                    memmove(buf + i, buf + i + 1, --m - i);
                taken += s_agree(d, buf, m);
                tried++;
            }
        }
        for (int k = 0; k < 3000; k++) { /* random bytes at random places, or a cut */
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            memcpy(buf, src, n);
            size_t m = n;
            if (x % 5 == 0)
                m = (size_t)(x >> 8) % n;
            else
                for (int j = 0; j < 1 + (int)(x % 3); j++)
                    buf[(x >> (8 + 8 * j)) % n] = (uint8_t)(x >> (40 + j));
            taken += s_agree(d, buf, m);
            tried++;
        }
    }
    /* byte changes inside bytes fields keep the message canonical: many are taken */
    assert_true(taken > tried / 4);
    assert_true(taken < tried);
    free(buf);
    free(env);
    free(hdr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint),
        cmocka_unit_test(test_next_field_and_find),
        cmocka_unit_test(test_prescan),
        cmocka_unit_test(test_unpack_canonical_fields),
        cmocka_unit_test(test_unpack_canonical_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
