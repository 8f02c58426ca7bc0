/*
 * test_uuid.c — UUIDv7 layout, text form, time order.
 */
#include "fixture.h"

#include "uuid.h"

static void test_layout(void **state)
{
    (void)state;
    uint8_t rnd[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t id[16];
    uuid_v7_from(0x0123456789abull, rnd, id);
    assert_int_equal(id[0], 0x01);
    assert_int_equal(id[5], 0xab);
    assert_int_equal(id[6] >> 4, 7);     /* version */
    assert_int_equal(id[8] >> 6, 2);     /* variant 10 */
    assert_int_equal(uuid_v7_time(id), 0x0123456789abull);
    char buf[UUID_STR_LEN];
    assert_string_equal(uuid_format(id, buf, sizeof buf), "01234567-89ab-7fff-bfff-ffffffffffff");
    uint8_t back[16];
    assert_int_equal(uuid_parse(buf, back), 0);
    assert_memory_equal(back, id, 16);
    assert_int_equal(uuid_parse("0123", back), -1);
    assert_int_equal(uuid_parse("01234567-89ab-7fff-bfff-ffffffffffffff", back), -1);
    assert_int_equal(uuid_parse("zz234567-89ab-7fff-bfff-ffffffffffff", back), -1);
}

static void test_order_and_uniqueness(void **state)
{
    (void)state;
    uint8_t a[16], b[16];
    uuid_v7(a);
    struct timespec ts = {0, 3 * 1000 * 1000};
    nanosleep(&ts, NULL);
    uuid_v7(b);
    assert_true(memcmp(a, b, 6) < 0);
    assert_true(uuid_v7_time(b) - uuid_v7_time(a) < 1000);
    assert_memory_not_equal(a, b, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_order_and_uniqueness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
