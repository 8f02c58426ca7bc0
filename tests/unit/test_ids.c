/*
 * test_ids.c — message ids as text through the public API
 * (client/ids.c: asylink_id_format, asylink_id_parse): the one 8-4-4-4-12
 * lowercase form the command line prints (core/uuid.c), and a strict
 * parser of it and of 32 bare hex digits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "asylink/asylink.h"
#include "uuid.h"

static const uint8_t s_id[16] = {0x01, 0x90, 0xa3, 0xf2, 0x7c, 0x1e, 0x7b, 0x3a,
                                 0x9f, 0x00, 0x2c, 0x5d, 0x8e, 0x4b, 0x1a, 0x77};
#define S_TEXT "0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a77"

static void test_format(void **state)
{
    (void)state;
    char text[ASYLINK_ID_TEXT_LEN], core[UUID_STR_LEN];
    assert_ptr_equal(asylink_id_format(s_id, text), text);
    assert_string_equal(text, S_TEXT);
    assert_int_equal(strlen(text), ASYLINK_ID_TEXT_LEN - 1);
    /* The same as the command line's form. */
    assert_string_equal(text, uuid_format(s_id, core, sizeof core));
    /* Fresh ids too. */
    uint8_t fresh[16];
    uuid_v7(fresh);
    assert_string_equal(asylink_id_format(fresh, text), uuid_format(fresh, core, sizeof core));
}

static void test_parse(void **state)
{
    (void)state;
    uint8_t out[16];
    memset(out, 0, sizeof out);
    assert_int_equal(asylink_id_parse(S_TEXT, out), ASYLINK_OK);
    assert_memory_equal(out, s_id, 16);
    memset(out, 0, sizeof out);
    assert_int_equal(asylink_id_parse("0190A3F2-7C1E-7B3A-9F00-2C5D8E4B1A77", out), ASYLINK_OK);
    assert_memory_equal(out, s_id, 16);
    memset(out, 0, sizeof out);
    assert_int_equal(asylink_id_parse("0190a3f27c1e7b3a9f002c5d8e4b1a77", out), ASYLINK_OK);
    assert_memory_equal(out, s_id, 16);
}

static void test_parse_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a7",    /* one digit short */
        "0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a777",  /* one digit long */
        "0190a3f27-c1e-7b3a-9f00-2c5d8e4b1a77",   /* misplaced dash */
        "0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a7g",   /* not hex */
        " 0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a77",  /* blank */
        "0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a77\n", /* newline */
        "0190a3f27c1e7b3a9f002c5d8e4b1a7",        /* 31 digits */
        "{0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a77}", /* braces */
        "0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a--",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t out[16];
        memset(out, 0xee, sizeof out);
        assert_int_equal(asylink_id_parse(bad[i], out), ASYLINK_E_BAD_FIELD);
        for (size_t k = 0; k < sizeof out; k++)
            assert_int_equal(out[k], 0xee); /* untouched */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
