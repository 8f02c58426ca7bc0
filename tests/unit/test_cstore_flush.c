/*
 * test_cstore_flush.c — the client store after a failed flush (cstore.c,
 * "Durability"): whatever thread's commit or cstore_sync() failed, the store
 * is written again whole into a new file (what the kernel could not write
 * is there again); if that fails too, the following commits count the
 * failure in the meta database ("flush_failures") and so write, even when
 * they change nothing else, until one of them is on disk; after that, a
 * commit that changes nothing writes nothing again. The flushes fail through
 * the fdatasync() of tests/integration/slowsync.c, linked into this program,
 * for the threads of one name only.
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    cstore_set_rewrite_interval(t->s, 0); /* a rewrite after each failure (the last case: not) */
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
    unsetenv("ASYLINK_TEST_FAIL_SYNC_EXACT");
    cstore_close(&t->s);
    testfed_rmtree(t->root);
    free(t);
    return 0;
}

/* Where the store stands after failed flushes. */
static cstore_flush_info t_state(tctx *t)
{
    cstore_flush_info f;
    memset(&f, 0xee, sizeof f);
    assert_int_equal(cstore_flush_state(t->s, &f), ASYLINK_OK);
    return f;
}

/* The data file's inode number (a rewrite puts a new file in place). */
static ino_t t_inode(tctx *t)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", t->data);
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

/* Whether the file the rewrite writes first is there. */
static bool t_rewrite_left(tctx *t)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb.rewrite", t->data);
    return stat(path, &st) == 0;
}

/* Whether outbox entry b (t_fill_add's) is stored and pending. */
static bool t_has(tctx *t, uint8_t b)
{
    uint8_t id[16];
    memset(id, b, sizeof id);
    cstore_out o;
    memset(&o, 0, sizeof o);
    int rc = cstore_outbox_get(t->s, id, &o);
    bool found = rc == ASYLINK_OK && o.state == CSTORE_OUT_PENDING && o.envelope_len == 300;
    cstore_out_clear(&o);
    return found;
}

/* Adds outbox entry b (every id byte b) to FR with envelope env (len bytes). */
static int t_add(cstore_txn *txn, uint8_t b, const uint8_t *env, size_t len)
{
    uint8_t id[16], digest[64];
    memset(id, b, sizeof id);
    memset(digest, 7, sizeof digest);
    const char *rcpt[] = {"FR"};
    cstore_out_new m = {.id = id,
                        .recipients = rcpt,
                        .n_recipients = 1,
                        .digest = digest,
                        .created_ms = 1000,
                        .envelope = env,
                        .envelope_len = len};
    return cstore_outbox_add(txn, &m, NULL);
}

/* cstore_write's operations: one outbox entry, made from the id byte in arg. */
static int t_fill_add(cstore_txn *txn, void *arg)
{
    uint8_t env[300];
    memset(env, 9, sizeof env);
    return t_add(txn, *(const uint8_t *)arg, env, sizeof env);
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
    bool wrote = true;
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_false(wrote);
    assert_int_equal(t_empty_commit(t, true, NULL), ASYLINK_OK);
    cstore_flush_info f = t_state(t);
    assert_true(f.failures == 0 && f.counted == 0 && f.rewrites == 0 && !f.unanswered);
    assert_int_equal(cstore_flush_events(t->s), 0);
    assert_int_equal(f.rewrite_error, ASYLINK_OK);
}

/*
 * Another thread's commit fails in its flush: the store is written again
 * whole (a new data file), which answers the failure; what was committed
 * before is there, also after a reopen, and a commit that changes nothing
 * writes nothing again.
 */
static void test_failed_commit_rewrites_the_store(void **state)
{
    tctx *t = *state;
    uint8_t b = 0x11;
    assert_int_equal(cstore_write(t->s, t_fill_add, &b), ASYLINK_OK);
    ino_t before = t_inode(t);
    assert_int_equal(t_on_failing_thread(t, false), ASYLINK_E_IO); /* adds 0x42: undone */
    cstore_flush_info f = t_state(t);
    assert_true(f.failures == 1 && f.rewrites == 1 && !f.unanswered && f.counted == 0);
    assert_true(f.rewrite_tried);
    assert_int_equal(f.rewrite_error, ASYLINK_OK);
    assert_true(t_inode(t) != before);
    assert_false(t_rewrite_left(t));
    assert_int_equal(cstore_flush_events(t->s), 1); /* one, once the rewrite is over */
    assert_true(f.rewritten);
    assert_true(t_has(t, 0x11));
    assert_false(t_has(t, 0x42));
    bool wrote = true;
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_false(wrote);
    b = 0x42; /* the failed write again, now stored */
    assert_int_equal(cstore_write(t->s, t_fill_add, &b), ASYLINK_OK);
    cstore_close(&t->s);
    assert_int_equal(cstore_open(t->data, true, &t->s), ASYLINK_OK);
    assert_true(t_has(t, 0x11) && t_has(t, 0x42));
}

/* Whether the store's data file holds the bytes m (len). */
static bool t_file_holds(tctx *t, const char *m, size_t len)
{
    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb", t->data);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static uint8_t buf[8 << 20];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    return memmem(buf, n, m, len) != NULL;
}

/* cstore_write's operations: outbox entry 0x21 with an envelope full of a marker. */
static int t_fill_marker(cstore_txn *txn, void *arg)
{
    const char *marker = arg;
    uint8_t env[3000];
    for (size_t i = 0; i + 16 <= sizeof env; i += 16)
        memcpy(env + i, marker, 16);
    return t_add(txn, 0x21, env, sizeof env);
}

/* cstore_write's operations: entry 0x21 accepted, its envelope not kept (freed pages). */
static int t_fill_drop(cstore_txn *txn, void *arg)
{
    (void)arg;
    uint8_t id[16];
    memset(id, 0x21, sizeof id);
    return cstore_outbox_accept(txn, id, false, 2000);
}

/*
 * The rewrite copies the live pages only: bytes in freed pages (what an
 * erasure or an acceptance dropped) are not carried into the new file.
 */
static void test_rewrite_leaves_freed_pages_behind(void **state)
{
    tctx *t = *state;
    static const char marker[17] = "FREED-PAGE-MARK!";
    assert_int_equal(cstore_write(t->s, t_fill_marker, (void *)marker), ASYLINK_OK);
    assert_int_equal(cstore_write(t->s, t_fill_drop, NULL), ASYLINK_OK);
    assert_true(t_file_holds(t, marker, 16)); /* still there, in a free page */
    assert_int_equal(t_on_failing_thread(t, true), ASYLINK_E_IO);
    assert_int_equal(t_state(t).rewrites, 1);
    assert_false(t_file_holds(t, marker, 16));
}

/* Another thread's cstore_sync() fails: the same rewrite answers it. */
static void test_failed_sync_rewrites_the_store(void **state)
{
    tctx *t = *state;
    uint8_t b = 0x12;
    bool wrote = false;
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(t_fill_add(txn, &b), ASYLINK_OK);
    assert_int_equal(cstore_commit_unsynced(&txn, &wrote), ASYLINK_OK); /* meta page unsynced */
    ino_t before = t_inode(t);
    assert_int_equal(t_on_failing_thread(t, true), ASYLINK_E_IO);
    cstore_flush_info f = t_state(t);
    assert_true(f.failures == 1 && f.rewrites == 1 && !f.unanswered);
    assert_true(t_inode(t) != before);
    assert_true(t_has(t, 0x12));
}

/*
 * The rewrite fails too (its own flush): the old file stays, the failure
 * is unanswered, and every commit of any thread counts it (and so writes,
 * even one that changes nothing) until one is on disk: an unsynced one once
 * cstore_sync() or the next commit's data flush put its meta page there.
 */
static void test_failed_rewrite_leaves_counting_commits(void **state)
{
    tctx *t = *state;
    cstore_set_rewrite_interval(t->s, 60000); /* the first failure's rewrite, and no other */
    setenv("ASYLINK_TEST_FAIL_SYNC", "2", 1); /* the commit's flush and the rewrite's */
    ino_t before = t_inode(t);
    assert_int_equal(t_on_failing_thread(t, false), ASYLINK_E_IO);
    cstore_flush_info f = t_state(t);
    assert_true(f.failures == 1 && f.rewrites == 0 && f.unanswered && f.counted == 0);
    assert_true(f.rewrite_tried);
    assert_int_equal(f.rewrite_error, ASYLINK_E_IO);
    assert_true(t_inode(t) == before);
    assert_false(t_rewrite_left(t));
    bool wrote = false;
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_true(wrote); /* it wrote: the count */
    f = t_state(t);
    assert_true(f.counted == 1 && f.unanswered); /* its meta page is not on disk yet */
    assert_int_equal(cstore_sync(t->s), ASYLINK_OK);
    f = t_state(t);
    assert_true(f.counted == 1 && !f.unanswered);
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_false(wrote);
    /* Once more: two unsynced counting commits, the second's data flush answers the first. */
    slowsync_reset();
    assert_int_equal(t_on_failing_thread(t, true), ASYLINK_E_IO);
    assert_true(t_state(t).unanswered);
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_true(wrote);
    f = t_state(t);
    assert_true(f.counted == 2 && f.unanswered);
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK);
    assert_true(wrote);
    f = t_state(t);
    assert_true(f.counted == 3 && !f.unanswered && f.failures == 2 && f.rewrites == 0);
    assert_int_equal(t_empty_commit(t, true, NULL), ASYLINK_OK);
    assert_int_equal(t_state(t).counted, 3);
}

/*
 * A dying disk fails every flush: the store is not copied again for each
 * failure (at most once per CSTORE_REWRITE_INTERVAL_MS), nor when the file
 * system has no room for the copy; and what a rewrite cut short by a crash
 * left is removed when the store opens.
 */
static void test_failing_disk_is_not_copied_over_and_over(void **state)
{
    tctx *t = *state;
    cstore_set_rewrite_interval(t->s, CSTORE_REWRITE_INTERVAL_MS);
    setenv("ASYLINK_TEST_FAIL_SYNC", "1000", 1);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(t_on_failing_thread(t, true), ASYLINK_E_IO);
        cstore_flush_info f = t_state(t);
        assert_true(f.failures == (uint64_t)i + 1 && f.rewrites == 0 && f.unanswered);
        assert_true(f.rewrite_tried == (i == 0)); /* tried once, and it failed too */
        assert_int_equal(f.rewrite_error, ASYLINK_E_IO);
        assert_false(t_rewrite_left(t));
    }
    /* A leftover of a rewrite cut short goes when the store opens. */
    unsetenv("ASYLINK_TEST_FAIL_SYNC");
    cstore_close(&t->s);
    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb.rewrite", t->data);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("cut short", fp);
    fclose(fp);
    assert_int_equal(cstore_open(t->data, true, &t->s), ASYLINK_OK);
    assert_false(t_rewrite_left(t));
}

/*
 * A failure within the interval after a rewrite is not forgotten: the first
 * commit after the interval writes the store again whole.
 */
static void test_rewrite_postponed_not_dropped(void **state)
{
    tctx *t = *state;
    cstore_set_rewrite_interval(t->s, 300);
    assert_int_equal(t_on_failing_thread(t, true), ASYLINK_E_IO); /* rewritten at once */
    cstore_flush_info f = t_state(t);
    assert_true(f.failures == 1 && f.rewrites == 1 && f.rewritten);
    slowsync_reset();
    assert_int_equal(t_on_failing_thread(t, true), ASYLINK_E_IO); /* within the interval */
    f = t_state(t);
    assert_true(f.failures == 2 && f.rewrites == 1 && !f.rewritten && !f.rewrite_tried);
    bool wrote = false;
    assert_int_equal(t_empty_commit(t, false, &wrote), ASYLINK_OK); /* counts it */
    assert_true(wrote);
    assert_false(t_state(t).rewritten);
    usleep(400 * 1000);
    ino_t before = t_inode(t);
    assert_int_equal(t_empty_commit(t, true, NULL), ASYLINK_OK); /* then the rewrite */
    f = t_state(t);
    assert_true(f.failures == 2 && f.rewrites == 2 && f.rewritten && !f.unanswered);
    assert_true(t_inode(t) != before);
}

/* Several threads at once while the flushes of data.mdb by one of them fail, each rewrite
   (closing and reopening LMDB) succeeding: nothing written is lost, nothing crashes. */
typedef struct {
    tctx *t;
    unsigned tag;
    atomic_bool *stop;
    long done;
    bool ok[100];      /* writers: entry i was written (told OK) */
    atomic_bool wrong; /* a check failed on this thread (cmocka asserts on the main thread) */
} t_worker;

static void *t_writer_main(void *arg)
{
    t_worker *w = arg;
    for (unsigned i = 0; !atomic_load(w->stop) && i < 100; i++) {
        uint8_t id = (uint8_t)((w->tag - 1) * 100 + i); /* 0..199: not the failing thread's 0xff */
        if (cstore_write(w->t->s, t_fill_add, &id) == ASYLINK_OK) {
            w->ok[i] = true;
            if (!t_has(w->t, id))
                atomic_store(&w->wrong, true);
            w->done++;
        }
    }
    return NULL;
}

static void *t_reader_main(void *arg)
{
    t_worker *w = arg;
    while (!atomic_load(w->stop)) {
        uint64_t n;
        cstore_flush_info f;
        if (cstore_outbox_pending_count(w->t->s, &n) != ASYLINK_OK ||
            cstore_flush_state(w->t->s, &f) != ASYLINK_OK)
            atomic_store(&w->wrong, true);
        w->done++;
        usleep(200); /* (readers never wait for a rewrite: two tight loops could starve it) */
    }
    return NULL;
}

static void *t_failer_main(void *arg)
{
    t_worker *w = arg;
    pthread_setname_np(pthread_self(), FAILING_THREAD);
    while (!atomic_load(w->stop)) {
        uint8_t id = 0xff;
        int rc = w->done % 2 ? cstore_sync(w->t->s) : cstore_write(w->t->s, t_fill_add, &id);
        if (rc != ASYLINK_E_IO)
            atomic_store(&w->wrong, true);
        w->done++;
        usleep(2000);
    }
    return NULL;
}

static void test_rewrites_beside_other_threads(void **state)
{
    tctx *t = *state;
    char file[128];
    snprintf(file, sizeof file, "%s/data.mdb", t->data);
    setenv("ASYLINK_TEST_SLOW_SYNC_PATH", file, 1);
    setenv("ASYLINK_TEST_FAIL_SYNC_EXACT", "1", 1); /* data.mdb's flushes, not the copy's */
    setenv("ASYLINK_TEST_FAIL_SYNC", "1000", 1);
    atomic_bool stop = false;
    static t_worker w[5];
    unsigned tags[5] = {1, 2, 0, 0, 0};
    void *(*mains[5])(void *) = {t_writer_main, t_writer_main, t_reader_main, t_reader_main,
                                 t_failer_main};
    pthread_t th[5];
    for (int i = 0; i < 5; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].t = t;
        w[i].tag = tags[i];
        w[i].stop = &stop;
        assert_int_equal(pthread_create(&th[i], NULL, mains[i], &w[i]), 0);
    }
    for (int i = 0; i < 750 && t_state(t).rewrites < 20; i++) /* up to 15 s on a slow machine */
        usleep(20000);
    atomic_store(&stop, true);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_false(atomic_load(&w[i].wrong));
    }
    cstore_flush_info f = t_state(t);
    assert_true(f.rewrites >= 5 && f.failures >= f.rewrites);
    assert_true(w[0].done > 0 && w[1].done > 0 && w[2].done > 0 && w[3].done > 0);
    unsetenv("ASYLINK_TEST_FAIL_SYNC");
    cstore_close(&t->s);
    assert_int_equal(cstore_open(t->data, true, &t->s), ASYLINK_OK);
    for (int k = 0; k < 2; k++) /* every entry a writer was told of is there */
        for (unsigned i = 0; i < 100; i++)
            if (w[k].ok[i])
                assert_true(t_has(t, (uint8_t)((w[k].tag - 1) * 100 + i)));
}

/* A relaxed store (no flushes) counts nothing and rewrites nothing. */
static void test_relaxed_store_counts_nothing(void **state)
{
    tctx *t = *state;
    cstore_close(&t->s);
    assert_int_equal(cstore_open(t->data, false, &t->s), ASYLINK_OK);
    assert_int_equal(t_on_failing_thread(t, false), ASYLINK_OK);
    assert_int_equal(t_empty_commit(t, true, NULL), ASYLINK_OK);
    cstore_flush_info f = t_state(t);
    assert_true(f.counted == 0 && f.rewrites == 0 && !f.unanswered);
    assert_int_equal(cstore_flush_state(NULL, &f), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_flush_state(t->s, NULL), ASYLINK_E_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_failure_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_rewrites_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_sync_rewrites_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_leaves_freed_pages_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_rewrite_leaves_counting_commits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failing_disk_is_not_copied_over_and_over, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_postponed_not_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrites_beside_other_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relaxed_store_counts_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
