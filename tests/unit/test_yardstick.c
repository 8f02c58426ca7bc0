/*
 * test_yardstick.c — the benchmarks' yardsticks (bench/yardstick.h): the
 * verification rate is the fastest of its blocks, printed with the median
 * and the slowest beside it, and the line carries every field the results
 * in bench/README.md are read from; the rate a run's ratios are taken
 * against is the faster of the readings before and after it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../bench/yardstick.h"
#include "testfed.h"

static void test_measure(void **state)
{
    (void)state;
    assert_int_equal(sodium_init() >= 0, 1);
    char dir[] = "/tmp/asylink-yardstick-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char out[] = "/tmp/asylink-yardstick-out-XXXXXX";
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
    yardstick y = yardstick_measure(dir);
    fflush(stdout);
    assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
    close(saved);

    assert_true(y.verify_min_per_s > 0);
    assert_true(y.verify_median_per_s >= y.verify_min_per_s);
    assert_true(y.verify_per_s >= y.verify_median_per_s);
    assert_true(y.verify_per_wall_s > 0);
    assert_true(y.fsync_p50_ms > 0 && y.fsync_p99_ms >= y.fsync_p50_ms);
    assert_true(y.wakeup_rtt_p50_us > 0 && y.pwrite_p50_us > 0);

    char line[1024] = {0};
    FILE *f = fdopen(fd, "r");
    assert_non_null(f);
    rewind(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    unlink(out);
    const char *fields[] = {"yardstick ", "ed25519_verify_per_s=", "ed25519_verify_median_per_s=",
                            "ed25519_verify_min_per_s=", "ed25519_verify_per_wall_s=",
                            "fsync_p50_ms=", "fsync_p99_ms=", "wakeup_rtt_p50_us=",
                            "pwrite_4k_p50_us="};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_non_null(strstr(line, fields[i]));
    double best = 0, median = 0;
    assert_int_equal(sscanf(strstr(line, "ed25519_verify_per_s="), "ed25519_verify_per_s=%lf",
                            &best), 1);
    assert_int_equal(sscanf(strstr(line, "ed25519_verify_median_per_s="),
                            "ed25519_verify_median_per_s=%lf", &median), 1);
    assert_true(best >= median && median > 0);
    assert_null(strstr(line, "fsync_failed"));
    testfed_rmtree(dir);
}

static void test_verify_base(void **state)
{
    (void)state;
    assert_int_equal(sodium_init() >= 0, 1);
    double after = 0;
    /* a reading before the run far below the core's rate: the one after it is taken */
    double base = yardstick_verify_base(1.0, &after);
    assert_true(after > 1.0);
    assert_true(base == after);
    /* a reading before the run above anything the core does: it is kept */
    double high = 1e12;
    base = yardstick_verify_base(high, &after);
    assert_true(after > 0 && after < high);
    assert_true(base == high);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_measure),
                                       cmocka_unit_test(test_verify_base)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
