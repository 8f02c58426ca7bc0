/*
 * test_codec.c — the raw protobuf reader and the pre-scan (core/codec.h)
 * that wire.c and envelope.c run before protobuf-c unpacks hostile bytes.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint),
        cmocka_unit_test(test_next_field_and_find),
        cmocka_unit_test(test_prescan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
