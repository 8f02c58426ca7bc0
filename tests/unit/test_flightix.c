/*
 * test_flightix.c — the I/O thread's index of in-flight Publishes
 * (client/flightix.c): against a plain scan of the same array over many
 * random adds and removes (every id found at its position, removed ones
 * gone, the array's swap order kept), ids whose index bytes collide,
 * clearing, and an array emptied behind the index's back.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "flightix.h"

typedef struct {
    uint8_t id[16];
    uint64_t sent_ms;
} t_entry; /* as the I/O thread's s_flight: the id first */

#define T_MAX 3000

static size_t t_scan(const t_entry *a, size_t n, const uint8_t id[16])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a[i].id, id, 16) == 0)
            return i;
    return SIZE_MAX;
}

/* Id number k; with collide, bytes 8..15 (what the index hashes) are the same for all. */
static void t_id(uint8_t id[16], uint32_t k, bool collide)
{
    memset(id, 0, 16);
    memcpy(id, &k, sizeof k);
    if (!collide)
        memcpy(id + 8, &k, sizeof k);
}

/* Every live id found where the array has it; n ids of removed ones not found. */
static void t_check(const flightix *x, const t_entry *a, size_t n, const uint32_t *gone,
                    size_t n_gone, bool collide)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(flightix_find(x, a, sizeof *a, n, a[i].id), i);
    for (size_t i = 0; i < n_gone; i++) {
        uint8_t id[16];
        t_id(id, gone[i], collide);
        assert_int_equal(flightix_find(x, a, sizeof *a, n, id), SIZE_MAX);
    }
}

static void t_random(bool collide, size_t rounds)
{
    t_entry *a = calloc(T_MAX, sizeof *a);
    uint32_t *gone = calloc(rounds + 1, sizeof *gone);
    assert_non_null(a);
    assert_non_null(gone);
    flightix x = {0};
    size_t n = 0, n_gone = 0;
    uint32_t next = 1, rnd = 12345;
    for (size_t r = 0; r < rounds; r++) {
        rnd = rnd * 1103515245u + 12345u;
        bool add = n == 0 || (n < T_MAX && (rnd >> 16) % 3 != 0);
        if (add) {
            t_id(a[n].id, next++, collide);
            n++;
            assert_int_equal(flightix_add(&x, a, sizeof *a, n), 0);
        } else {
            /* mostly the oldest (answers come in order), sometimes any */
            size_t pos = (rnd >> 20) % 4 == 0 ? (rnd >> 8) % n : 0;
            uint8_t id[16];
            memcpy(id, a[pos].id, 16);
            uint32_t k;
            memcpy(&k, id, sizeof k);
            size_t want_last = n - 1;
            t_entry last = a[want_last];
            assert_int_equal(flightix_find(&x, a, sizeof *a, n, id), t_scan(a, n, id));
            flightix_remove_swap(&x, a, sizeof *a, &n, pos);
            assert_int_equal(n, want_last);
            if (pos != want_last)
                assert_memory_equal(&a[pos], &last, sizeof last); /* the last moved in */
            gone[n_gone++] = k;
        }
        if (r % 97 == 0)
            t_check(&x, a, n, gone, n_gone, collide);
    }
    t_check(&x, a, n, gone, n_gone, collide);
    flightix_free(&x);
    free(a);
    free(gone);
}

static void test_random_ops(void **state)
{
    (void)state;
    t_random(false, 20000);
}

static void test_colliding_ids(void **state)
{
    (void)state;
    t_random(true, 1500); /* one long chain: probing and backward shifts at their worst */
}

static void test_clear_and_stale(void **state)
{
    (void)state;
    t_entry a[600] = {0};
    flightix x = {0};
    uint8_t id[16];
    assert_int_equal(flightix_find(&x, a, sizeof *a, 0, a[0].id), SIZE_MAX); /* no table yet */
    size_t n = 0;
    for (uint32_t k = 1; k <= 500; k++) {
        t_id(a[n].id, k, false);
        assert_int_equal(flightix_add(&x, a, sizeof *a, ++n), 0);
    }
    flightix_clear(&x);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(flightix_find(&x, a, sizeof *a, n, a[i].id), SIZE_MAX);
    /* the array emptied without a clear: stale slots are never believed, and the
       index heals (rebuilt when it fills, or on a remove that meets them) */
    n = 0;
    for (uint32_t k = 1; k <= 500; k++) {
        t_id(a[n].id, k, false);
        assert_int_equal(flightix_add(&x, a, sizeof *a, ++n), 0);
    }
    n = 0;
    for (uint32_t k = 1000; k < 1600; k++) {
        t_id(a[n].id, k, false);
        assert_int_equal(flightix_add(&x, a, sizeof *a, ++n), 0);
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(flightix_find(&x, a, sizeof *a, n, a[i].id), i);
    t_id(id, 7, false);
    assert_int_equal(flightix_find(&x, a, sizeof *a, n, id), SIZE_MAX);
    while (n > 0) {
        size_t before = n;
        memcpy(id, a[n / 2].id, 16);
        flightix_remove_swap(&x, a, sizeof *a, &n, n / 2);
        assert_int_equal(n, before - 1);
        assert_int_equal(flightix_find(&x, a, sizeof *a, n, id), SIZE_MAX);
        for (size_t i = 0; i < n; i += 37)
            assert_int_equal(flightix_find(&x, a, sizeof *a, n, a[i].id), i);
    }
    flightix_free(&x);
    flightix_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_ops),
        cmocka_unit_test(test_colliding_ids),
        cmocka_unit_test(test_clear_and_stale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
