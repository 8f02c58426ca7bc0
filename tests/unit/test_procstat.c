/*
 * test_procstat.c — procstat_fields() reads /proc/PID/stat by proc(5)'s
 * field numbers: this process's start time and CPU times, a process that
 * does not exist, a field number inside the command name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/types.h>
#include <unistd.h>

#include "procstat.h"

static void test_own_fields(void **state)
{
    (void)state;
    uint64_t start = 0, t[2] = {UINT64_MAX, UINT64_MAX};
    assert_true(procstat_fields(getpid(), 22, 1, &start));
    assert_true(start > 0); /* clock ticks after boot */
    uint64_t again = 0;
    assert_true(procstat_fields(getpid(), 22, 1, &again));
    assert_true(again == start);
    volatile uint64_t x = 0;
    for (uint64_t i = 0; i < 50000000u; i++) /* some user time */
        x += i;
    assert_true(procstat_fields(getpid(), 14, 2, t));
    assert_true(t[0] != UINT64_MAX && t[1] != UINT64_MAX);
    /* field 3 is the state letter, not a number */
    assert_false(procstat_fields(getpid(), 3, 1, t));
}

static void test_refused(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_false(procstat_fields(0x7ffffff0, 22, 1, &v)); /* no such process */
    assert_false(procstat_fields(getpid(), 2, 1, &v));    /* the command name */
    assert_false(procstat_fields(getpid(), 60, 1, &v));   /* past the last field */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_fields),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
