/*
 * test_rngbuf.c — the sealer's buffered random bytes (client/rngbuf.c):
 * every draw gets fresh bytes (no byte handed out twice, across refills and
 * draws of every size), a child process after fork() draws other bytes than
 * its parent (the page is wiped on fork), and bytes handed out are wiped
 * from the buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asylink/asylink.h"
#include "rngbuf.h"

#define T_DRAWS 2000

/* Whether the 16-byte blocks a[0..n) are pairwise different. */
static bool t_distinct(uint8_t (*a)[16], size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (memcmp(a[i], a[j], 16) == 0)
                return false;
    return true;
}

static void test_draws_are_fresh(void **state)
{
    (void)state;
    client_rng *r = NULL;
    assert_int_equal(client_rng_new(&r), ASYLINK_OK);
    assert_non_null(r);
    /* 2000 draws of 16 bytes: several refills of the ~4 KiB page; all different */
    uint8_t(*d)[16] = calloc(T_DRAWS, 16);
    assert_non_null(d);
    for (size_t i = 0; i < T_DRAWS; i++)
        client_rng_fill(r, d[i], 16);
    assert_true(t_distinct(d, T_DRAWS));
    /* odd sizes across a refill, one larger than the page, and 0 bytes */
    uint8_t big[9000], zero[32] = {0};
    for (size_t n = 1; n < 300; n += 37) {
        memset(big, 0, sizeof big);
        client_rng_fill(r, big, n);
        if (n >= 16) /* (a single random byte is zero once in 256 runs: that failed CI once) */
            assert_memory_not_equal(big, zero, n < 32 ? n : 32);
    }
    memset(big, 0, sizeof big);
    client_rng_fill(r, big, sizeof big);
    assert_memory_not_equal(big + sizeof big - 32, zero, 32);
    client_rng_fill(r, big, 0);
    free(d);
    client_rng_free(&r);
    assert_null(r);
    client_rng_free(&r); /* NULL is fine */
    client_rng_free(NULL);
}

static void test_fork_draws_other_bytes(void **state)
{
    (void)state;
    client_rng *r = NULL;
    assert_int_equal(client_rng_new(&r), ASYLINK_OK);
    uint8_t first[16];
    client_rng_fill(r, first, sizeof first); /* the page is filled now */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint8_t mine[64];
        client_rng_fill(r, mine, sizeof mine);
        ssize_t w = write(fds[1], mine, sizeof mine);
        _exit(w == (ssize_t)sizeof mine ? 0 : 1);
    }
    uint8_t child[64], parent[64];
    close(fds[1]);
    size_t got = 0;
    while (got < sizeof child) {
        ssize_t n = read(fds[0], child + got, sizeof child - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    client_rng_fill(r, parent, sizeof parent);
    /* the parent's next bytes are not what the child drew (a shared buffer would give the same) */
    assert_memory_not_equal(child, parent, sizeof child);
    assert_memory_not_equal(child, first, sizeof first);
    client_rng_free(&r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_draws_are_fresh),
        cmocka_unit_test(test_fork_draws_other_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
