/*
 * test_cstore_flush.c — the client store after a failed flush (cstore.c,
 * "Durability"): whatever thread's commit or cstore_sync() failed, the
 * following commits count the failure in the meta database ("flush_failures")
 * and so write, even when they change nothing else, until one of them is on
 * disk; after that, a commit that changes nothing writes nothing again. The
 * flushes fail through the fdatasync() of tests/integration/slowsync.c,
 * linked into this program, for the threads of one name only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp, pthread_setname_np */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "cstore.h"
#include "testfed.h"

void slowsync_arm(void);
void slowsync_reset(void);

#define FAILING_THREAD "flush-fails"

typedef struct tctx {
    char root[64];
    char data[80];
    cstore *s;
} tctx;

static int setup(void **state)
{
    tctx *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->root, sizeof t->root, "/tmp/asylink-cflush-XXXXXX");
    if (!mkdtemp(t->root))
        return -1;
    snprintf(t->data, sizeof t->data, "%s/data", t->root);
    if (cstore_open(t->data, true, &t->s) != ASYLINK_OK)
        return -1;
    /* Only this store's flushes, and only those of FAILING_THREAD, fail: the first one. */
    setenv("ASYLINK_TEST_SLOW_SYNC_PATH", t->root, 1);
    setenv("ASYLINK_TEST_FAIL_SYNC", "1", 1);
    setenv("ASYLINK_TEST_FAIL_SYNC_THREAD", FAILING_THREAD, 1);
    slowsync_reset();
    slowsync_arm();
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tctx *t = *state;
    unsetenv("ASYLINK_TEST_FAIL_SYNC");
    cstore_close(&t->s);
    testfed_rmtree(t->root);
    free(t);
    return 0;
}

/* The count on record and whether a failure is unanswered. */
static uint64_t t_count(tctx *t, bool *unanswered)
{
    uint64_t n = 99;
    assert_int_equal(cstore_flush_failures(t->s, &n, unanswered), ASYLINK_OK);
    return n;
}

/* cstore_write's operations: one outbox entry, made from the id byte in arg. */
static int t_fill_add(cstore_txn *txn, void *arg)
{
    uint8_t id[16], digest[64], env[300];
    memset(id, *(const uint8_t *)arg, sizeof id);
    memset(digest, 7, sizeof digest);
    memset(env, 9, sizeof env);
    const char *rcpt[] = {"FR"};
    cstore_out_new m = {.id = id,
                        .recipients = rcpt,
                        .n_recipients = 1,
                        .digest = digest,
                        .created_ms = 1000,
                        .envelope = env,
                        .envelope_len = sizeof env};
    return cstore_outbox_add(txn, &m, NULL);
}

/* Commits a transaction that changes nothing: sync, or unsynced (then *wrote). */
static int t_empty_commit(tctx *t, bool sync, bool *wrote)
{
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    return sync ? cstore_commit(&txn) : cstore_commit_unsynced(&txn, wrote);
}

typedef struct {
    tctx *t;
    bool sync_only; /* cstore_sync(), else cstore_write() of one entry */
    int rc;
} t_job;

static void *t_failing_main(void *arg)
{
    t_job *j = arg;
    pthread_setname_np(pthread_self(), FAILING_THREAD);
    uint8_t b = 0x42;
    j->rc = j->sync_only ? cstore_sync(j->t->s) : cstore_write(j->t->s, t_fill_add, &b);
    return NULL;
}

/* Runs the job on a thread named FAILING_THREAD (whose first flush fails). */
static int t_on_failing_thread(tctx *t, bool sync_only)
{
    t_job j = {.t = t, .sync_only = sync_only, .rc = -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, t_failing_main, &j), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    return j.rc;
}

/* Without a failure, a commit that changes nothing writes nothing and counts nothing. */
static void test_no_failure_writes_nothing(void **state)
{
    tctx *t = *state;
    bool unanswered = true, wrote = true;
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_false(wrote);
    assert_int_equal(t_empty_commit(t, true, NULL), ASYLINK_OK);
    assert_int_equal(t_count(t, &unanswered), 0);
    assert_false(unanswered);
}

/*
 * Another thread's commit fails in its flush: this thread's next commit,
 * which changes nothing, counts it (and so writes and flushes); once it is
 * on disk the failure is answered and the commit after it writes nothing.
 */
static void test_other_threads_failed_commit_is_counted(void **state)
{
    tctx *t = *state;
    bool unanswered = false, wrote = false;
    assert_int_equal(t_on_failing_thread(t, false), ASYLINK_E_IO);
    assert_int_equal(t_count(t, &unanswered), 0);
    assert_true(unanswered);
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_true(wrote); /* it wrote: the count */
    assert_int_equal(t_count(t, &unanswered), 1);
    assert_true(unanswered); /* its meta page is not on disk yet */
    assert_int_equal(cstore_sync(t->s), ASYLINK_OK);
    assert_int_equal(t_count(t, &unanswered), 1);
    assert_false(unanswered);
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_false(wrote);
    assert_int_equal(t_count(t, &unanswered), 1);
    /* The entry of the failed commit is not there; a new write of it succeeds. */
    uint8_t b = 0x42;
    assert_int_equal(cstore_write(t->s, t_fill_add, &b), ASYLINK_OK);
}

/*
 * Another thread's cstore_sync() fails: the next commit (synced at once)
 * counts it; the one after it does not. A second failure while the first is
 * unanswered is counted by the same kind of commit, once per commit.
 */
static void test_other_threads_failed_sync_is_counted(void **state)
{
    tctx *t = *state;
    bool unanswered = false, wrote = false;
    assert_int_equal(t_empty_commit(t, true, NULL), ASYLINK_OK);
    assert_int_equal(t_on_failing_thread(t, true), ASYLINK_E_IO);
    assert_true(t_count(t, &unanswered) == 0 && unanswered);
    assert_int_equal(t_empty_commit(t, true, NULL), ASYLINK_OK);
    assert_int_equal(t_count(t, &unanswered), 1);
    assert_false(unanswered);
    assert_int_equal(t_empty_commit(t, true, NULL), ASYLINK_OK);
    assert_int_equal(t_count(t, &unanswered), 1);
    /* Unsynced commits: each counts while the failure is unanswered; the second one's data
       flush puts the first one's meta page on disk, and that answers it. */
    slowsync_reset();
    assert_int_equal(t_on_failing_thread(t, true), ASYLINK_E_IO);
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_true(wrote);
    assert_true(t_count(t, &unanswered) == 2 && unanswered);
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_true(wrote);
    assert_true(t_count(t, &unanswered) == 3 && !unanswered);
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_false(wrote);
    assert_int_equal(t_count(t, &unanswered), 3);
}

/* A relaxed store (no flushes) counts nothing. */
static void test_relaxed_store_counts_nothing(void **state)
{
    tctx *t = *state;
    cstore_close(&t->s);
    assert_int_equal(cstore_open(t->data, false, &t->s), ASYLINK_OK);
    bool unanswered = true;
    assert_int_equal(t_on_failing_thread(t, false), ASYLINK_OK);
    assert_int_equal(t_empty_commit(t, true, NULL), ASYLINK_OK);
    assert_int_equal(t_count(t, &unanswered), 0);
    assert_false(unanswered);
    assert_int_equal(cstore_flush_failures(NULL, NULL, NULL), ASYLINK_E_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_failure_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_threads_failed_commit_is_counted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_threads_failed_sync_is_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relaxed_store_counts_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
