/*
 * test_store.c — the broker store: publish and queues, dedup, ack, retry and
 * dead letters, expiry and dedup sweeps, sequences across restarts, map
 * growth and STORE_FULL, the data directory lock, corrupt records, large
 * envelopes. Every test gets its own temporary directory, removed after.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asylink/asylink.h"
#include "cert.h"
#include "log.h"
#include "stalereader.h"
#include "store.h"
#include "testfed.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define HOUR_MS (3600ull * 1000)

/* One test's world: a temporary directory and a store in root/data. */
typedef struct tctx {
    char root[64];   /* mkdtemp directory, removed by the teardown */
    char data[80];   /* root/data: the store's directory */
    store_options o; /* options for (re)opening */
    store *s;        /* the open store, or NULL */
} tctx;

static int setup(void **state)
{
    tctx *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->root, sizeof t->root, "/tmp/asylink-store-XXXXXX");
    if (!mkdtemp(t->root))
        return -1;
    snprintf(t->data, sizeof t->data, "%s/data", t->root);
    t->o = (store_options){.dir = t->data,
                           .map_size = 4 * MIB,
                           .max_map_size = 64 * MIB,
                           .durable = true,
                           .dedup_window_ms = HOUR_MS};
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tctx *t = *state;
    store_close(&t->s);
    testfed_rmtree(t->root);
    free(t);
    return 0;
}

static void t_open(tctx *t)
{
    assert_int_equal(store_open(&t->o, &t->s), ASYLINK_OK);
    assert_non_null(t->s);
}

static void t_reopen(tctx *t)
{
    store_close(&t->s);
    assert_null(t->s);
    t_open(t);
}

/* A message id whose bytes derive from n. */
static void t_id(uint8_t id[16], unsigned n)
{
    for (unsigned i = 0; i < 16; i++)
        id[i] = (uint8_t)(n * 31u + i);
}

/* Deterministic envelope bytes for (tag, i). */
static uint8_t t_byte(unsigned tag, size_t i)
{
    return (uint8_t)((i * 2654435761u + tag * 40503u) >> 7);
}

/* A malloc'd envelope of len bytes for tag. */
static uint8_t *t_envelope(unsigned tag, size_t len)
{
    uint8_t *e = malloc(len ? len : 1);
    assert_non_null(e);
    for (size_t i = 0; i < len; i++)
        e[i] = t_byte(tag, i);
    return e;
}

/* A publish from sender with id n to rcpt (NULL-terminated), envelope env. */
static store_publish t_pub(const char *sender, const uint8_t *id, const char *const *rcpt,
                           const uint8_t *env, size_t len, uint64_t expires_ms)
{
    size_t n = 0;
    while (rcpt[n])
        n++;
    return (store_publish){.sender = sender,
                           .message_id = id,
                           .recipients = rcpt,
                           .n_recipients = n,
                           .expires_ms = expires_ms,
                           .envelope = env,
                           .envelope_len = len};
}

/* Publishes one new message in its own batch; returns its sequence. */
static uint64_t t_publish1(tctx *t, const char *sender, unsigned idn, const char *const *rcpt,
                           size_t len, uint64_t expires_ms, uint64_t now_ms)
{
    uint8_t id[16];
    t_id(id, idn);
    uint8_t *env = t_envelope(idn, len);
    store_publish p = t_pub(sender, id, rcpt, env, len, expires_ms);
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_publish(b, &p), 0);
    assert_int_equal(store_batch_commit(b, now_ms), ASYLINK_OK);
    const store_result *r = store_batch_result(b, 0);
    assert_int_equal(r->code, ASYLINK_OK);
    assert_false(r->duplicate);
    assert_int_equal(r->accepted_ms, now_ms);
    uint64_t seq = r->seq;
    store_batch_destroy(&b);
    assert_null(b);
    free(env);
    return seq;
}

/* Which kind of single operation t_op1 runs. */
typedef enum { T_ACK, T_RETRY, T_DEAD } t_kind;

/* Runs one ack / retry / dead letter in its own batch; returns its result. */
static store_result t_op1(tctx *t, t_kind kind, const char *rcpt, uint64_t seq, uint64_t now_ms,
                          uint32_t max_attempts, const char *reason)
{
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    if (kind == T_ACK)
        assert_int_equal(store_batch_ack(b, rcpt, seq), 0);
    else if (kind == T_RETRY)
        assert_int_equal(store_batch_retry(b, rcpt, seq, now_ms + 1000, max_attempts,
                                           ASYLINK_E_UNAVAILABLE, reason),
                         0);
    else
        assert_int_equal(store_batch_dead_letter(b, rcpt, seq, ASYLINK_E_POLICY, reason), 0);
    assert_int_equal(store_batch_commit(b, now_ms), ASYLINK_OK);
    store_result r = *store_batch_result(b, 0);
    store_batch_destroy(&b);
    return r;
}

/* The sequences in rcpt's queue, in order; returns how many (at most max). */
static size_t t_queue(tctx *t, const char *rcpt, uint64_t *seqs, size_t max)
{
    size_t n = 0;
    uint64_t after = 0;
    store_entry e;
    int rc;
    while ((rc = store_queue_next(t->s, rcpt, after, &e)) == ASYLINK_OK) {
        assert_true(e.seq > after);
        if (n < max)
            seqs[n] = e.seq;
        n++;
        after = e.seq;
    }
    assert_int_equal(rc, ASYLINK_E_NOT_FOUND);
    return n;
}

/* Asserts that seq's stored envelope is t_envelope(tag, len). */
static void t_check_envelope(tctx *t, uint64_t seq, unsigned tag, size_t len)
{
    uint8_t *env = NULL;
    size_t got = 0;
    assert_int_equal(store_message_get(t->s, seq, &env, &got), ASYLINK_OK);
    assert_int_equal(got, len);
    for (size_t i = 0; i < len; i++)
        if (env[i] != t_byte(tag, i))
            fail_msg("seq %llu: byte %zu differs", (unsigned long long)seq, i);
    free(env);
}

static store_stats t_stats(tctx *t)
{
    store_stats st;
    assert_int_equal(store_get_stats(t->s, &st), ASYLINK_OK);
    return st;
}

/* Opens the store's environment directly with LMDB (the store must be closed). */
static void t_raw_open(tctx *t, const char *db, MDB_env **env, MDB_txn **txn, MDB_dbi *dbi)
{
    assert_int_equal(mdb_env_create(env), 0);
    assert_int_equal(mdb_env_set_maxdbs(*env, 16), 0);
    assert_int_equal(mdb_env_open(*env, t->data, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(*env, NULL, 0, txn), 0);
    assert_int_equal(mdb_dbi_open(*txn, db, 0, dbi), 0);
}

static void t_raw_close(MDB_env *env, MDB_txn *txn)
{
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_publish_queue_order(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *abc[] = {"AT", "BE", "CY", NULL}, *ac[] = {"AT", "CY", NULL}, *b[] = {"BE", NULL},
               *de[] = {"DE", NULL}, *def[] = {"DEF", NULL};
    const char *const *rcpts[] = {abc, ac, b, abc, def, de};
    size_t lens[] = {100, 0, 3000, 17, 5, 6};
    uint8_t ids[6][16];
    uint8_t *envs[6];
    store_batch *bt = NULL;
    assert_int_equal(store_batch_new(t->s, &bt), ASYLINK_OK);
    for (unsigned i = 0; i < 6; i++) {
        t_id(ids[i], i);
        envs[i] = t_envelope(i, lens[i]);
        store_publish p = t_pub("EUAA", ids[i], rcpts[i], envs[i], lens[i], 0);
        assert_int_equal(store_batch_publish(bt, &p), (int)i);
    }
    assert_int_equal(store_batch_size(bt), 6);
    assert_int_equal(store_batch_commit(bt, 1000), ASYLINK_OK);
    for (unsigned i = 0; i < 6; i++) {
        const store_result *r = store_batch_result(bt, i);
        assert_int_equal(r->code, ASYLINK_OK);
        assert_int_equal(r->seq, i + 1);
        assert_int_equal(r->accepted_ms, 1000);
        assert_false(r->duplicate);
        t_check_envelope(t, r->seq, i, lens[i]);
        free(envs[i]);
    }
    assert_null(store_batch_result(bt, 6));
    store_batch_destroy(&bt);

    uint64_t q[8];
    assert_int_equal(t_queue(t, "AT", q, 8), 3);
    assert_int_equal(q[0], 1), assert_int_equal(q[1], 2), assert_int_equal(q[2], 4);
    assert_int_equal(t_queue(t, "BE", q, 8), 3);
    assert_int_equal(q[0], 1), assert_int_equal(q[1], 3), assert_int_equal(q[2], 4);
    assert_int_equal(t_queue(t, "CY", q, 8), 3);
    assert_int_equal(q[0], 1), assert_int_equal(q[1], 2), assert_int_equal(q[2], 4);
    /* "DE" is a prefix of "DEF": their queues stay apart */
    assert_int_equal(t_queue(t, "DE", q, 8), 1);
    assert_int_equal(q[0], 6);
    assert_int_equal(t_queue(t, "DEF", q, 8), 1);
    assert_int_equal(q[0], 5);
    assert_int_equal(t_queue(t, "FR", q, 8), 0);

    store_entry e;
    assert_int_equal(store_queue_next(t->s, "BE", 1, &e), ASYLINK_OK);
    assert_int_equal(e.seq, 3);
    assert_int_equal(e.attempts, 0);
    assert_int_equal(e.next_attempt_ms, 0);
    assert_int_equal(e.accepted_ms, 1000);
    assert_int_equal(e.envelope_len, 3000);
    assert_int_equal(store_queue_next(t->s, "BE", 4, &e), ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_queue_next(t->s, "BE", UINT64_MAX, &e), ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_queue_next(t->s, "", 0, &e), ASYLINK_E_INVALID_ARG);

    uint64_t count, bytes;
    assert_int_equal(store_queue_depth(t->s, "AT", &count, &bytes), ASYLINK_OK);
    assert_int_equal(count, 3);
    assert_int_equal(bytes, 100 + 0 + 17);
    assert_int_equal(store_queue_depth(t->s, "PL", &count, &bytes), ASYLINK_OK);
    assert_int_equal(count, 0);

    store_stats st = t_stats(t);
    assert_int_equal(st.messages, 6);
    assert_int_equal(st.queued, 3 + 3 + 3 + 1 + 1);
    assert_int_equal(st.dead_letters, 0);
    assert_int_equal(st.map_size, 4 * MIB);
    assert_true(st.used_bytes > 0 && st.used_bytes <= st.map_size);

    uint8_t *env = NULL;
    size_t len = 1;
    assert_int_equal(store_message_get(t->s, 99, &env, &len), ASYLINK_E_NOT_FOUND);
    assert_null(env);
    assert_int_equal(len, 0);
}

static void test_duplicates(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *to[] = {"AT", "BE", NULL};
    uint8_t id[16];
    t_id(id, 7);
    uint8_t env[4] = {1, 2, 3, 4};
    store_publish p1 = t_pub("NL", id, to, env, sizeof env, 0);
    store_publish p2 = t_pub("LU", id, to, env, sizeof env, 0); /* same id, other sender */
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_publish(b, &p1), 0);
    assert_int_equal(store_batch_publish(b, &p1), 1);
    assert_int_equal(store_batch_publish(b, &p2), 2);
    assert_int_equal(store_batch_commit(b, 1000), ASYLINK_OK);
    const store_result *r0 = store_batch_result(b, 0), *r1 = store_batch_result(b, 1),
                       *r2 = store_batch_result(b, 2);
    assert_false(r0->duplicate);
    assert_int_equal(r0->seq, 1);
    assert_true(r1->duplicate);
    assert_int_equal(r1->code, ASYLINK_OK);
    assert_int_equal(r1->seq, 1);
    assert_int_equal(r1->accepted_ms, 1000);
    assert_false(r2->duplicate);
    assert_int_equal(r2->seq, 2);
    store_batch_destroy(&b);

    uint64_t q[4];
    assert_int_equal(t_queue(t, "AT", q, 4), 2);
    assert_int_equal(t_stats(t).messages, 2);

    /* across batches, and across a restart: still the first copy */
    for (int round = 0; round < 2; round++) {
        if (round)
            t_reopen(t);
        assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
        assert_int_equal(store_batch_publish(b, &p1), 0);
        assert_int_equal(store_batch_commit(b, 5000), ASYLINK_OK);
        assert_true(store_batch_result(b, 0)->duplicate);
        assert_int_equal(store_batch_result(b, 0)->seq, 1);
        assert_int_equal(store_batch_result(b, 0)->accepted_ms, 1000);
        store_batch_destroy(&b);
    }
    assert_int_equal(t_queue(t, "BE", q, 4), 2);
    assert_int_equal(t_stats(t).messages, 2);
}

static void test_ack_deletes_message_keeps_dedup(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *to[] = {"AT", "BE", "CY", NULL};
    uint64_t seq = t_publish1(t, "EUAA", 1, to, 50, 5000, 1000);
    uint64_t other = t_publish1(t, "EUAA", 2, to, 10, 0, 1000);

    assert_int_equal(t_op1(t, T_ACK, "AT", seq, 1100, 0, NULL).code, ASYLINK_OK);
    assert_int_equal(t_op1(t, T_ACK, "AT", seq, 1100, 0, NULL).code, ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_op1(t, T_ACK, "AT", 999, 1100, 0, NULL).code, ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_op1(t, T_ACK, NULL, seq, 1100, 0, NULL).code, ASYLINK_E_INVALID_ARG);
    t_check_envelope(t, seq, 1, 50);

    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_ack(b, "BE", seq), 0);
    t_check_envelope(t, seq, 1, 50); /* nothing happens before the commit */
    assert_int_equal(store_batch_ack(b, "CY", seq), 1);
    assert_int_equal(store_batch_commit(b, 1200), ASYLINK_OK);
    assert_int_equal(store_batch_result(b, 0)->code, ASYLINK_OK);
    assert_int_equal(store_batch_result(b, 1)->code, ASYLINK_OK);
    store_batch_destroy(&b);

    uint8_t *env = NULL;
    size_t len;
    assert_int_equal(store_message_get(t->s, seq, &env, &len), ASYLINK_E_NOT_FOUND);
    t_check_envelope(t, other, 2, 10);
    store_stats st = t_stats(t);
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.queued, 3);

    /* the dedup entry outlives the message */
    uint8_t id[16];
    t_id(id, 1);
    store_publish p = t_pub("EUAA", id, to, (const uint8_t *)"x", 1, 5000);
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_publish(b, &p), 0);
    assert_int_equal(store_batch_commit(b, 1300), ASYLINK_OK);
    assert_true(store_batch_result(b, 0)->duplicate);
    assert_int_equal(store_batch_result(b, 0)->seq, seq);
    store_batch_destroy(&b);

    /* its expiry index entry went with it */
    store_sweep_stats sw;
    assert_int_equal(store_sweep(t->s, 6000, 100, &sw), ASYLINK_OK);
    assert_int_equal(sw.expired, 0);
    assert_int_equal(sw.dedup_dropped, 0);
    assert_int_equal(t_stats(t).messages, 1);
}

static void test_retry_to_dead_letter(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *to[] = {"AT", "BE", NULL}, *c[] = {"CY", NULL};
    uint64_t seq = t_publish1(t, "EUAA", 1, to, 20, 0, 1000);

    store_result r = t_op1(t, T_RETRY, "AT", seq, 2000, 3, "session lost");
    assert_int_equal(r.code, ASYLINK_OK);
    assert_int_equal(r.attempts, 1);
    assert_false(r.dead);
    store_entry e;
    assert_int_equal(store_queue_next(t->s, "AT", 0, &e), ASYLINK_OK);
    assert_int_equal(e.attempts, 1);
    assert_int_equal(e.next_attempt_ms, 3000);

    r = t_op1(t, T_RETRY, "AT", seq, 3000, 3, "session lost");
    assert_int_equal(r.attempts, 2);
    assert_false(r.dead);
    r = t_op1(t, T_RETRY, "AT", seq, 4000, 3, "nacked: cannot decrypt");
    assert_int_equal(r.code, ASYLINK_OK);
    assert_int_equal(r.attempts, 3);
    assert_true(r.dead);

    assert_int_equal(store_queue_next(t->s, "AT", 0, &e), ASYLINK_E_NOT_FOUND);
    uint64_t n;
    assert_int_equal(store_dead_letter_count(t->s, "AT", &n), ASYLINK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_dead_letter_count(t->s, "BE", &n), ASYLINK_OK);
    assert_int_equal(n, 0);
    store_dead_letter dl;
    assert_int_equal(store_dead_letter_next(t->s, "AT", NULL, 0, &dl), ASYLINK_OK);
    assert_string_equal(dl.recipient, "AT");
    assert_int_equal(dl.seq, seq);
    assert_int_equal(dl.code, ASYLINK_E_UNAVAILABLE);
    assert_int_equal(dl.attempts, 3);
    assert_int_equal(dl.dead_ms, 4000);
    assert_string_equal(dl.reason, "nacked: cannot decrypt");
    t_check_envelope(t, seq, 1, 20); /* the message stays for a replay */

    /* unknown entries, and the one now in the dead letters */
    assert_int_equal(t_op1(t, T_RETRY, "AT", seq, 5000, 3, NULL).code, ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_op1(t, T_RETRY, "FR", seq, 5000, 3, NULL).code, ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_op1(t, T_DEAD, "AT", seq, 5000, 0, NULL).code, ASYLINK_E_NOT_FOUND);

    /* dead letter now (a refusal at the first delivery: one attempt), without a reason */
    r = t_op1(t, T_DEAD, "BE", seq, 6000, 0, NULL);
    assert_int_equal(r.code, ASYLINK_OK);
    assert_true(r.dead);
    assert_int_equal(r.attempts, 1);
    assert_int_equal(store_dead_letter_next(t->s, "BE", NULL, 0, &dl), ASYLINK_OK);
    assert_int_equal(dl.attempts, 1);
    assert_int_equal(dl.code, ASYLINK_E_POLICY);
    assert_string_equal(dl.reason, "");
    assert_int_equal(store_dead_letter_count(t->s, NULL, &n), ASYLINK_OK);
    assert_int_equal(n, 2);
    t_check_envelope(t, seq, 1, 20);

    /* max_attempts 0 never dead-letters; long reasons are cut */
    uint64_t s2 = t_publish1(t, "EUAA", 2, c, 5, 0, 1000);
    for (uint32_t i = 1; i <= 5; i++) {
        r = t_op1(t, T_RETRY, "CY", s2, 1000 + i, 0, NULL);
        assert_int_equal(r.attempts, i);
        assert_false(r.dead);
    }
    char reason[400];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = 0;
    r = t_op1(t, T_RETRY, "CY", s2, 2000, 6, reason);
    assert_true(r.dead);
    assert_int_equal(r.attempts, 6);
    assert_int_equal(store_dead_letter_next(t->s, "CY", NULL, 0, &dl), ASYLINK_OK);
    assert_int_equal(strlen(dl.reason), STORE_REASON_MAX);
    assert_int_equal(t_stats(t).dead_letters, 3);
}

/*
 * retry_backoff: the commit counts each refusal and takes its step of the
 * schedule from the count it reaches, also for a sequence refused again
 * in the same batch (before, the router computed the time from the count
 * stored before the batch: the first step again).
 */
static void test_retry_backoff(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *to[] = {"AT", NULL};
    uint64_t seq = t_publish1(t, "EUAA", 1, to, 20, 0, 1000);
    store_backoff bo = {.since_ms = 2000, .base_ms = 100, .max_ms = 250, .min_ms = 0};

    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            store_batch_retry_backoff(b, "AT", seq, &bo, 5, ASYLINK_E_UNAVAILABLE, "not now"), i);
    assert_int_equal(store_batch_retry_backoff(b, "AT", seq + 1, &bo, 5, 0, NULL), 3);
    assert_int_equal(store_batch_retry_backoff(b, "AT", seq, NULL, 5, 0, NULL), -1);
    assert_int_equal(store_batch_commit(b, 2100), ASYLINK_OK);
    const uint64_t want[3] = {2100, 2200, 2250}; /* 100, 200, then capped at 250 */
    for (size_t i = 0; i < 3; i++) {
        const store_result *r = store_batch_result(b, i);
        assert_int_equal(r->code, ASYLINK_OK);
        assert_int_equal(r->attempts, i + 1);
        assert_int_equal(r->next_attempt_ms, want[i]);
        assert_false(r->dead);
    }
    assert_int_equal(store_batch_result(b, 3)->code, ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_batch_result(b, 3)->next_attempt_ms, 0);
    store_batch_destroy(&b);
    store_entry e;
    assert_int_equal(store_queue_next(t->s, "AT", 0, &e), ASYLINK_OK);
    assert_int_equal(e.attempts, 3);
    assert_int_equal(e.next_attempt_ms, 2250);

    /* a longer retry_after (min_ms) wins over the step, uncapped */
    bo.since_ms = 3000;
    bo.min_ms = 1000;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_retry_backoff(b, "AT", seq, &bo, 5, 0, NULL), 0);
    /* at max_attempts: dead, never due */
    assert_int_equal(store_batch_retry_backoff(b, "AT", seq, &bo, 5, ASYLINK_E_UNAVAILABLE, "x"),
                     1);
    assert_int_equal(store_batch_commit(b, 3000), ASYLINK_OK);
    assert_int_equal(store_batch_result(b, 0)->next_attempt_ms, 4000);
    assert_int_equal(store_batch_result(b, 0)->attempts, 4);
    assert_true(store_batch_result(b, 1)->dead);
    assert_int_equal(store_batch_result(b, 1)->attempts, 5);
    assert_int_equal(store_batch_result(b, 1)->next_attempt_ms, 0);
    store_batch_destroy(&b);
    assert_int_equal(store_queue_next(t->s, "AT", 0, &e), ASYLINK_E_NOT_FOUND);

    /* the delay alone: attempt 0 counts as 1; no overflow or endless doubling */
    store_backoff d = {.base_ms = 1000, .max_ms = 300000};
    assert_int_equal(store_backoff_delay(&d, 0), 1000);
    assert_int_equal(store_backoff_delay(&d, 1), 1000);
    assert_int_equal(store_backoff_delay(&d, 4), 8000);
    assert_int_equal(store_backoff_delay(&d, UINT32_MAX), 300000);
    d = (store_backoff){.base_ms = 0, .max_ms = 300000};
    assert_int_equal(store_backoff_delay(&d, UINT32_MAX), 0);
    d = (store_backoff){.base_ms = 3, .max_ms = UINT64_MAX};
    assert_true(store_backoff_delay(&d, UINT32_MAX) > UINT64_MAX / 4);
}

static void test_dead_letter_replay_drop(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *abc[] = {"AT", "BE", "CY", NULL}, *a[] = {"AT", NULL};
    uint64_t m1 = t_publish1(t, "EUAA", 1, abc, 30, 0, 1000);
    uint64_t m2 = t_publish1(t, "EUAA", 2, a, 40, 0, 1000);
    assert_true(t_op1(t, T_DEAD, "BE", m1, 1100, 0, "b").dead);
    assert_true(t_op1(t, T_DEAD, "AT", m2, 1100, 0, "a2").dead);
    assert_true(t_op1(t, T_DEAD, "AT", m1, 1100, 0, "a1").dead);

    /* listing page by page, in (recipient, seq) order */
    store_dead_letter dl;
    const char *want_r[] = {"AT", "AT", "BE"};
    uint64_t want_s[] = {m1, m2, m1};
    const char *after_r = NULL;
    char prev[STORE_NAME_MAX + 1];
    uint64_t after_s = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_dead_letter_next(t->s, NULL, after_r, after_s, &dl), ASYLINK_OK);
        assert_string_equal(dl.recipient, want_r[i]);
        assert_int_equal(dl.seq, want_s[i]);
        snprintf(prev, sizeof prev, "%s", dl.recipient);
        after_r = prev;
        after_s = dl.seq;
    }
    assert_int_equal(store_dead_letter_next(t->s, NULL, after_r, after_s, &dl),
                     ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_dead_letter_next(t->s, "AT", NULL, m1, &dl), ASYLINK_OK);
    assert_int_equal(dl.seq, m2);
    assert_string_equal(dl.reason, "a2");
    assert_int_equal(store_dead_letter_next(t->s, "AT", NULL, m2, &dl), ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_dead_letter_next(t->s, "CY", NULL, 0, &dl), ASYLINK_E_NOT_FOUND);

    /* replay: back to the queue with attempts 0 */
    assert_int_equal(store_dead_letter_replay(t->s, "AT", m1), ASYLINK_OK);
    assert_int_equal(store_dead_letter_replay(t->s, "AT", m1), ASYLINK_E_NOT_FOUND);
    store_entry e;
    assert_int_equal(store_queue_next(t->s, "AT", 0, &e), ASYLINK_OK);
    assert_int_equal(e.seq, m1);
    assert_int_equal(e.attempts, 0);
    assert_int_equal(t_stats(t).dead_letters, 2);

    /* drop counts as done: m1 waits for AT and CY, then goes */
    assert_int_equal(store_dead_letter_drop(t->s, "BE", m1), ASYLINK_OK);
    assert_int_equal(store_dead_letter_drop(t->s, "BE", m1), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_op1(t, T_ACK, "AT", m1, 1200, 0, NULL).code, ASYLINK_OK);
    t_check_envelope(t, m1, 1, 30);
    assert_int_equal(t_op1(t, T_ACK, "CY", m1, 1200, 0, NULL).code, ASYLINK_OK);
    uint8_t *env = NULL;
    size_t len;
    assert_int_equal(store_message_get(t->s, m1, &env, &len), ASYLINK_E_NOT_FOUND);

    /* dropping the only recipient's dead letter deletes the message */
    assert_int_equal(store_dead_letter_drop(t->s, "AT", m2), ASYLINK_OK);
    assert_int_equal(store_message_get(t->s, m2, &env, &len), ASYLINK_E_NOT_FOUND);
    store_stats st = t_stats(t);
    assert_int_equal(st.messages, 0);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.dead_letters, 0);
    assert_int_equal(store_dead_letter_replay(t->s, "", 1), ASYLINK_E_INVALID_ARG);
}

static void test_expiry_sweep(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *ab[] = {"AT", "BE", NULL}, *a[] = {"AT", NULL}, *c[] = {"CY", NULL};
    uint64_t m1 = t_publish1(t, "EUAA", 1, ab, 10, 1100, 1000);
    uint64_t m2 = t_publish1(t, "EUAA", 2, a, 10, 1200, 1000);
    uint64_t m3 = t_publish1(t, "EUAA", 3, a, 10, 0, 1000);
    uint64_t m4 = t_publish1(t, "EUAA", 4, c, 10, 1100, 1000);
    assert_true(t_op1(t, T_DEAD, "BE", m1, 1000, 0, "x").dead);

    store_sweep_stats sw;
    assert_int_equal(store_sweep(t->s, 1099, 100, &sw), ASYLINK_OK);
    assert_int_equal(sw.expired, 0);
    assert_int_equal(t_stats(t).messages, 4);

    /* budget 1: the oldest expiry first (m1: AT's queue entry and BE's dead letter) */
    assert_int_equal(store_sweep(t->s, 1150, 1, &sw), ASYLINK_OK);
    assert_int_equal(sw.expired, 1);
    assert_true(sw.more); /* the budget ran out: the router sweeps again soon */
    assert_true(sw.expired_more);
    assert_int_equal(store_sweep_delay_ms(t->s, &sw, 10000), STORE_SWEEP_BEHIND_MS);
    assert_int_equal(store_sweep_delay_ms(t->s, &sw, 50), 50); /* never after the interval */
    uint8_t *env = NULL;
    size_t len;
    assert_int_equal(store_message_get(t->s, m1, &env, &len), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_stats(t).dead_letters, 0);
    t_check_envelope(t, m4, 4, 10);

    assert_int_equal(store_sweep(t->s, 1150, 100, &sw), ASYLINK_OK);
    assert_int_equal(sw.expired, 1); /* m4 */
    assert_false(sw.more);
    assert_false(sw.expired_more);
    assert_int_equal(store_sweep_delay_ms(t->s, &sw, 10000), 10000);
    assert_int_equal(store_message_get(t->s, m4, &env, &len), ASYLINK_E_NOT_FOUND);
    t_check_envelope(t, m2, 2, 10);

    assert_int_equal(store_sweep(t->s, 5000, 100, &sw), ASYLINK_OK);
    assert_int_equal(sw.expired, 1); /* m2 */
    uint64_t q[4];
    assert_int_equal(t_queue(t, "AT", q, 4), 1);
    assert_int_equal(q[0], m3);
    assert_int_equal(t_queue(t, "CY", q, 4), 0);
    store_stats st = t_stats(t);
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.queued, 1);

    /* dedup entries of expired messages stay for their window */
    uint8_t id[16];
    t_id(id, 1);
    store_publish p = t_pub("EUAA", id, ab, (const uint8_t *)"x", 1, 0);
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_publish(b, &p), 0);
    assert_int_equal(store_batch_commit(b, 5000), ASYLINK_OK);
    assert_true(store_batch_result(b, 0)->duplicate);
    store_batch_destroy(&b);
    assert_int_equal(store_sweep(t->s, 5000, 0, &sw), ASYLINK_OK); /* budget 0: nothing */
    assert_int_equal(store_sweep(t->s, 5000, 100, NULL), ASYLINK_OK);
}

/* Sweeps with budget until total dedup drops reach want (at most calls calls). */
static void t_sweep_dedup_until(tctx *t, uint64_t now, size_t budget, uint64_t want, int calls)
{
    uint64_t total = 0;
    for (int i = 0; i < calls && total < want; i++) {
        store_sweep_stats sw;
        assert_int_equal(store_sweep(t->s, now, budget, &sw), ASYLINK_OK);
        assert_true(sw.dedup_dropped <= budget);
        total += sw.dedup_dropped;
    }
    assert_int_equal(total, want);
}

static void test_dedup_window_sweep(void **state)
{
    tctx *t = *state;
    t->o.dedup_window_ms = 1000;
    t_open(t);
    const char *a[] = {"AT", NULL};
    for (unsigned i = 0; i < 10; i++)
        t_publish1(t, "NL", i, a, 8, 0, 1000);
    store_sweep_stats sw;
    assert_int_equal(store_sweep(t->s, 1999, 100, &sw), ASYLINK_OK);
    assert_int_equal(sw.dedup_dropped, 0);

    /* budget 3 per call: the in-memory cursor makes the calls progress */
    t_sweep_dedup_until(t, 2000, 3, 10, 5);
    assert_int_equal(t_stats(t).messages, 10); /* messages are not the window's business */

    /* forgotten: the same id is a new message now */
    uint64_t seq = t_publish1(t, "NL", 0, a, 8, 0, 2000);
    assert_int_equal(seq, 11);

    /* fresh entries are examined but kept; later they go too */
    for (unsigned i = 100; i < 105; i++)
        t_publish1(t, "NL", i, a, 8, 0, 2500);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(store_sweep(t->s, 2600, 2, &sw), ASYLINK_OK);
        assert_int_equal(sw.dedup_dropped, 0);
    }
    t_sweep_dedup_until(t, 3000, 2, 1, 6); /* id 0, accepted at 2000 */
    t_sweep_dedup_until(t, 3500, 2, 5, 8); /* ids 100..104 */
}

/* Opens the store with a dedup window of window_ms and 40 messages accepted at 1000. */
static void t_open_40(tctx *t, uint64_t window_ms)
{
    t->o.dedup_window_ms = window_ms;
    t_open(t);
    const char *a[] = {"AT", NULL};
    for (unsigned i = 0; i < 40; i++)
        t_publish1(t, "NL", i, a, 8, 0, 1000);
}

/* The router's pace: the whole dedup index once per window / STORE_DEDUP_CYCLES. */
static void test_sweep_pacing(void **state)
{
    tctx *t = *state;
    t_open_40(t, 8000); /* a cycle of 1,000 ms */
    store_sweep_stats sw;
    /* 10 of 40 examined (none stale): 5 chunks left to the cycle's end, 200 ms apart */
    assert_int_equal(store_sweep(t->s, 1500, 10, &sw), ASYLINK_OK);
    assert_int_equal(sw.dedup_examined, 10);
    assert_int_equal(sw.dedup_entries, 40);
    assert_false(sw.dedup_wrapped);
    assert_false(sw.expired_more);
    assert_true(sw.more);
    assert_int_equal(store_sweep_delay_ms(t->s, &sw, 10000), 200);
    assert_int_equal(store_sweep_delay_ms(t->s, &sw, 150), 150); /* never after the interval */
    /* a chunk of 2: 21 chunks of 47 ms; never sooner than STORE_SWEEP_BEHIND_MS */
    assert_int_equal(store_sweep(t->s, 1500, 2, &sw), ASYLINK_OK);
    assert_int_equal(store_sweep_delay_ms(t->s, &sw, 10000), STORE_SWEEP_BEHIND_MS);
    /* the rest: the scan reaches the end, the next sweep is a whole interval away */
    for (int i = 0; i < 10 && !sw.dedup_wrapped; i++)
        assert_int_equal(store_sweep(t->s, 1500, 10, &sw), ASYLINK_OK);
    assert_true(sw.dedup_wrapped);
    assert_int_equal(store_sweep_delay_ms(t->s, &sw, 10000), 10000);
    /* stale now: deletions count in, the index shrinks */
    assert_int_equal(store_sweep(t->s, 9000, 30, &sw), ASYLINK_OK);
    assert_int_equal(sw.dedup_dropped, 30);
    assert_int_equal(sw.dedup_entries, 10);
    assert_false(sw.dedup_wrapped);
    assert_int_equal(store_sweep_delay_ms(t->s, &sw, 10000), 10000); /* entries <= examined */
    assert_int_equal(store_sweep(t->s, 9000, 30, &sw), ASYLINK_OK);
    assert_int_equal(sw.dedup_dropped, 10);
    assert_int_equal(sw.dedup_entries, 0);
    assert_true(sw.dedup_wrapped);
}

static void test_sweep_pacing_long_window(void **state)
{
    tctx *t = *state;
    t_open_40(t, 7ull * 24 * 3600 * 1000); /* the default: the interval sets the pace */
    store_sweep_stats sw;
    assert_int_equal(store_sweep(t->s, 1500, 10, &sw), ASYLINK_OK);
    assert_true(sw.more);
    assert_int_equal(store_sweep_delay_ms(t->s, &sw, 10000), 10000);
}

static void test_dedup_window_zero_keeps(void **state)
{
    tctx *t = *state;
    t->o.dedup_window_ms = 0;
    t_open(t);
    const char *a[] = {"AT", NULL};
    uint64_t seq = t_publish1(t, "NL", 1, a, 8, 0, 1000);
    store_sweep_stats sw;
    assert_int_equal(store_sweep(t->s, UINT64_MAX, 100, &sw), ASYLINK_OK);
    assert_int_equal(sw.dedup_dropped, 0);
    uint8_t id[16];
    t_id(id, 1);
    store_publish p = t_pub("NL", id, a, (const uint8_t *)"x", 1, 0);
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_publish(b, &p), 0);
    assert_int_equal(store_batch_commit(b, UINT64_MAX - 1), ASYLINK_OK);
    assert_true(store_batch_result(b, 0)->duplicate);
    assert_int_equal(store_batch_result(b, 0)->seq, seq);
    store_batch_destroy(&b);
}

static void test_sequences_monotonic_across_reopen(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *a[] = {"AT", NULL};
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(t_publish1(t, "NL", i, a, 8, 0, 1000), i + 1);
    for (uint64_t s = 1; s <= 3; s++)
        assert_int_equal(t_op1(t, T_ACK, "AT", s, 1000, 0, NULL).code, ASYLINK_OK);
    assert_int_equal(t_stats(t).messages, 0);
    t_reopen(t);
    assert_int_equal(t_publish1(t, "NL", 3, a, 8, 0, 1000), 4);
    t_reopen(t); /* message 4 still stored: the last key counts too */
    assert_int_equal(t_publish1(t, "NL", 4, a, 8, 0, 1000), 5);
    assert_int_equal(t_op1(t, T_ACK, "AT", 4, 1000, 0, NULL).code, ASYLINK_OK);
    assert_int_equal(t_op1(t, T_ACK, "AT", 5, 1000, 0, NULL).code, ASYLINK_OK);
    t_reopen(t);
    assert_int_equal(t_publish1(t, "NL", 5, a, 8, 0, 1000), 6);
}

/* The revocation list number the broker used survives a restart. */
static void test_crl_number_persists(void **state)
{
    tctx *t = *state;
    t_open(t);
    uint64_t ca = 1, number = 1;
    assert_int_equal(store_crl_get(t->s, &ca, &number), ASYLINK_OK);
    assert_int_equal(ca, 0);
    assert_int_equal(number, 0);
    uint8_t *raw = NULL;
    size_t len = 1;
    assert_int_equal(store_crl_signed_get(t->s, &raw, &len), ASYLINK_E_NOT_FOUND);
    assert_null(raw);
    assert_int_equal(len, 0);
    const uint8_t list[] = "a signed list, opaque to the store";
    assert_int_equal(store_crl_put(t->s, 0xa1b2c3d4e5f60718ull, 7, list, sizeof list), ASYLINK_OK);
    t_reopen(t);
    assert_int_equal(store_crl_get(t->s, &ca, &number), ASYLINK_OK);
    assert_int_equal(ca, 0xa1b2c3d4e5f60718ull);
    assert_int_equal(number, 7);
    assert_int_equal(store_crl_signed_get(t->s, &raw, &len), ASYLINK_OK);
    assert_int_equal(len, sizeof list);
    assert_memory_equal(raw, list, sizeof list);
    free(raw);
    /* a trust without a list removes the copy; the number stays what it is told */
    assert_int_equal(store_crl_put(t->s, 0x1111ull, 0, NULL, 0), ASYLINK_OK);
    assert_int_equal(store_crl_signed_get(t->s, &raw, &len), ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_crl_get(t->s, &ca, &number), ASYLINK_OK);
    assert_int_equal(ca, 0x1111ull);
    assert_int_equal(number, 0);
    assert_int_equal(store_crl_get(t->s, NULL, &number), ASYLINK_E_INVALID_ARG);
    assert_int_equal(store_crl_signed_get(t->s, NULL, &len), ASYLINK_E_INVALID_ARG);
    assert_int_equal(store_crl_put(NULL, 1, 1, NULL, 0), ASYLINK_E_INVALID_ARG);
    assert_int_equal(store_crl_put(t->s, 1, 1, list, 0), ASYLINK_E_INVALID_ARG);
    assert_int_equal(store_crl_put(t->s, 1, 1, list, CRL_FILE_MAX + 1), ASYLINK_E_INVALID_ARG);
}

static void test_store_full(void **state)
{
    tctx *t = *state;
    t->o.map_size = 1 * MIB;
    t->o.max_map_size = 2 * MIB;
    t_open(t);
    const char *a[] = {"AT", NULL};
    const size_t len = 64 * KIB;
    uint8_t id[16];
    unsigned n = 0;
    int rc = ASYLINK_OK;
    for (; n < 100; n++) {
        t_id(id, n);
        uint8_t *env = t_envelope(n, len);
        store_publish p = t_pub("NL", id, a, env, len, 0);
        store_batch *b = NULL;
        assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
        assert_int_equal(store_batch_publish(b, &p), 0);
        rc = store_batch_commit(b, 1000 + n);
        if (rc == ASYLINK_OK) {
            assert_int_equal(store_batch_result(b, 0)->seq, n + 1);
        } else {
            assert_int_equal(store_batch_result(b, 0)->code, ASYLINK_E_STORE_FULL);
            /* a failed commit can be tried again: still full, still nothing applied */
            assert_int_equal(store_batch_commit(b, 1000 + n), ASYLINK_E_STORE_FULL);
        }
        store_batch_destroy(&b);
        free(env);
        if (rc != ASYLINK_OK)
            break;
    }
    assert_int_equal(rc, ASYLINK_E_STORE_FULL);
    assert_true(n > 16); /* more than the initial 1 MiB holds: the map grew */
    store_stats st = t_stats(t);
    assert_int_equal(st.map_size, 2 * MIB);
    assert_int_equal(st.messages, n);

    /* everything accepted before is intact, now and after a restart */
    for (int round = 0; round < 2; round++) {
        if (round)
            t_reopen(t);
        assert_int_equal(t_stats(t).map_size, 2 * MIB); /* a restart keeps the grown map */
        uint64_t count, bytes;
        assert_int_equal(store_queue_depth(t->s, "AT", &count, &bytes), ASYLINK_OK);
        assert_int_equal(count, n);
        assert_int_equal(bytes, (uint64_t)n * len);
        for (unsigned i = 0; i < n; i++)
            t_check_envelope(t, i + 1, i, len);
    }

    /*
     * Acks free room. LMDB reuses the pages a commit freed only from the
     * second commit after it (the previous snapshot must survive a torn
     * write), so right after the acks the map is still full; one more
     * commit later the publish fits.
     */
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    for (unsigned i = 0; i < n / 2; i++)
        assert_int_equal(store_batch_ack(b, "AT", i + 1), (int)i);
    assert_int_equal(store_batch_commit(b, 5000), ASYLINK_OK);
    store_batch_destroy(&b);
    assert_int_equal(t_op1(t, T_ACK, "AT", n / 2 + 1, 5500, 0, NULL).code, ASYLINK_OK);
    assert_int_equal(t_publish1(t, "NL", 1000, a, len, 0, 6000), n + 1);
    t_check_envelope(t, n + 1, 1000, len);
    t_check_envelope(t, n, n - 1, len);
}

/*
 * A full store still commits a turn's acks: the batch is applied again
 * without its publishes, which get STORE_FULL in their results.
 */
static void test_store_full_mixed_batch(void **state)
{
    tctx *t = *state;
    t->o.map_size = 1 * MIB;
    t->o.max_map_size = 1 * MIB;
    t_open(t);
    const char *a[] = {"AT", NULL};
    const size_t len = 64 * KIB;
    uint8_t *env = t_envelope(7, len);
    uint8_t id[16];
    unsigned n = 0;
    for (;; n++) { /* fill it */
        assert_true(n < 100);
        t_id(id, n);
        store_publish p = t_pub("NL", id, a, env, len, 0);
        store_batch *b = NULL;
        assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
        assert_int_equal(store_batch_publish(b, &p), 0);
        int rc = store_batch_commit(b, 1000 + n);
        store_batch_destroy(&b);
        if (rc == ASYLINK_E_STORE_FULL)
            break;
        assert_int_equal(rc, ASYLINK_OK);
    }
    assert_true(n > 2);
    /* One turn: a publish that does not fit and two acks. */
    t_id(id, 500);
    store_publish p = t_pub("NL", id, a, env, len, 0);
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_ack(b, "AT", 1), 0);
    assert_int_equal(store_batch_publish(b, &p), 1);
    assert_int_equal(store_batch_ack(b, "AT", 2), 2);
    assert_int_equal(store_batch_commit(b, 5000), ASYLINK_OK);
    assert_int_equal(store_batch_result(b, 0)->code, ASYLINK_OK);
    assert_int_equal(store_batch_result(b, 1)->code, ASYLINK_E_STORE_FULL);
    assert_int_equal(store_batch_result(b, 2)->code, ASYLINK_OK);
    store_batch_destroy(&b);
    uint64_t count, bytes;
    assert_int_equal(store_queue_depth(t->s, "AT", &count, &bytes), ASYLINK_OK);
    assert_int_equal(count, n - 2); /* the acks are in, the publish is not */
    assert_int_equal(t_stats(t).messages, n - 2);
    t_reopen(t);
    assert_int_equal(store_queue_depth(t->s, "AT", &count, &bytes), ASYLINK_OK);
    assert_int_equal(count, n - 2);
    for (unsigned i = 2; i < n; i++)
        t_check_envelope(t, i + 1, 7, len);
    free(env);
}

static void test_grow_replays_batch(void **state)
{
    tctx *t = *state;
    t->o.map_size = 1 * MIB;
    t->o.max_map_size = 16 * MIB;
    t_open(t);
    const char *ab[] = {"AT", "BE", NULL};
    const size_t len = 256 * KIB;
    uint8_t ids[10][16];
    uint8_t *envs[10];
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    for (unsigned i = 0; i < 10; i++) {
        t_id(ids[i], i);
        envs[i] = t_envelope(i, len);
        store_publish p = t_pub("NL", ids[i], ab, envs[i], len, 0);
        assert_int_equal(store_batch_publish(b, &p), (int)(i ? i + 1 : 0));
        if (i == 0) /* a duplicate inside the batch, before the map fills */
            assert_int_equal(store_batch_publish(b, &p), 1);
    }
    assert_int_equal(store_batch_ack(b, "AT", 1), 11);
    assert_int_equal(store_batch_retry(b, "BE", 1, 9000, 0, ASYLINK_E_UNAVAILABLE, "r"), 12);
    assert_int_equal(store_batch_commit(b, 1000), ASYLINK_OK); /* 1 -> 2 -> 4 MiB, replayed */
    assert_true(t_stats(t).map_size >= 4 * MIB);
    for (unsigned i = 0; i < 10; i++) {
        const store_result *r = store_batch_result(b, i < 1 ? 0 : i + 1);
        assert_int_equal(r->code, ASYLINK_OK);
        assert_false(r->duplicate);
        assert_int_equal(r->seq, i + 1); /* no sequence lost to the replays */
        t_check_envelope(t, r->seq, i, len);
        free(envs[i]);
    }
    assert_true(store_batch_result(b, 1)->duplicate);
    assert_int_equal(store_batch_result(b, 1)->seq, 1);
    assert_int_equal(store_batch_result(b, 11)->code, ASYLINK_OK);
    assert_int_equal(store_batch_result(b, 12)->attempts, 1); /* applied once, not per replay */
    store_batch_destroy(&b);
    uint64_t q[16];
    assert_int_equal(t_queue(t, "AT", q, 16), 9);
    assert_int_equal(t_queue(t, "BE", q, 16), 10);
    assert_int_equal(t_stats(t).messages, 10);
    t_reopen(t);
    assert_int_equal(t_publish1(t, "NL", 50, ab, 1, 0, 2000), 11);
}

/* store_open() of t's store in another process returns ASYLINK_E_EXISTS. */
static void t_refused_in_child(tctx *t)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store *s2 = NULL;
        int rc = store_open(&t->o, &s2);
        _exit(rc == ASYLINK_E_EXISTS && s2 == NULL ? 0 : 10 + rc);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_lock(void **state)
{
    tctx *t = *state;
    t_open(t);
    t_refused_in_child(t); /* another process is refused */

    store *s2 = NULL; /* a second store in this process is refused as well */
    assert_int_equal(store_open(&t->o, &s2), ASYLINK_E_EXISTS);
    assert_null(s2);

    /* closing releases it */
    store_close(&t->s);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = store_open(&t->o, &s2);
        store_close(&s2);
        _exit(rc == ASYLINK_OK ? 0 : 10 + rc);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    t_open(t);
}

/* store_open() in a thread with wait_stop (a standby), for test_lock_wait. */
typedef struct {
    store_options o;
    volatile sig_atomic_t stop;
    store *s;
    int rc;
    atomic_bool done;
} t_waiter;

static void *t_wait_thread(void *arg)
{
    t_waiter *w = arg;
    w->o.wait_stop = &w->stop;
    w->rc = store_open(&w->o, &w->s);
    atomic_store(&w->done, true);
    return NULL;
}

/*
 * A standby waits for the lock instead of being refused, and gets it the
 * moment its holder dies (kill -9 here), with what the holder committed; a
 * stop request ends the wait.
 */
static void test_lock_wait(void **state)
{
    tctx *t = *state;
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the active broker: stores one message, then dies when told */
        close(ready[0]);
        close(go[1]);
        t_open(t);
        const char *ab[] = {"AB", NULL};
        t_publish1(t, "NL", 7, ab, 16, 0, 100);
        char b = 'r';
        if (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(10);
        raise(SIGKILL);
    }
    close(ready[1]); /* so a dead child is a read of 0, not a hang */
    close(go[0]);
    char b;
    assert_int_equal(read(ready[0], &b, 1), 1);

    t_waiter w = {.o = t->o, .stop = 1};
    t_wait_thread(&w); /* stop already asked for: no waiting */
    assert_int_equal(w.rc, ASYLINK_E_SHUTDOWN);
    assert_null(w.s);

    w = (t_waiter){.o = t->o};
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, t_wait_thread, &w), 0);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_false(atomic_load(&w.done)); /* still standing by */
    assert_int_equal(write(go[1], "g", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(pthread_join(tid, NULL), 0);
    assert_int_equal(w.rc, ASYLINK_OK);
    t->s = w.s;
    assert_int_equal(t_stats(t).messages, 1); /* what the dead holder committed */
    uint64_t seqs[4];
    assert_int_equal(t_queue(t, "AB", seqs, 4), 1);

    /* A second standby, told to stop while it waits, gives up. */
    w = (t_waiter){.o = t->o};
    assert_int_equal(pthread_create(&tid, NULL, t_wait_thread, &w), 0);
    nanosleep(&ts, NULL);
    assert_false(atomic_load(&w.done));
    w.stop = 1;
    assert_int_equal(pthread_join(tid, NULL), 0);
    assert_int_equal(w.rc, ASYLINK_E_SHUTDOWN);
    assert_null(w.s);
    close(ready[0]);
    close(go[1]);
}

/* The log lines of test_stale_readers. */
static char s_log_text[4096];

static void t_log_sink(void *ctx, log_level lvl, const char *line)
{
    (void)ctx;
    (void)lvl;
    size_t len = strlen(s_log_text);
    snprintf(s_log_text + len, sizeof s_log_text - len, "%s\n", line);
}

/*
 * A reader killed with kill -9 inside its read transaction (an mdb_copy,
 * say) while another process has the environment open leaves its slot in
 * lock.mdb; store_open() clears it and logs how many at INFO.
 */
static void test_stale_readers(void **state)
{
    tctx *t = *state;
    t_open(t);
    store_close(&t->s);
    int hold = -1;
    pid_t holder = stalereader_child(t->data, false, &hold);
    assert_true(holder > 0);
    pid_t dead = stalereader_kill(t->data);
    assert_true(dead > 0);
    assert_int_equal(stalereader_count(t->data, dead), 1); /* left behind */

    s_log_text[0] = 0;
    log_set_sink(t_log_sink, NULL);
    t_open(t);
    log_set_sink(NULL, NULL);
    assert_non_null(strstr(s_log_text, "msg=\"stale LMDB reader slots cleared\" count=1 "));
    store_close(&t->s);
    assert_int_equal(stalereader_count(t->data, dead), 0); /* cleared */
    assert_int_equal(stalereader_release(holder, hold), 0);
}

/* Whether dir exists and holds no entry at all. */
static bool t_dir_empty(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "[ -d '%s' ] && [ -z \"$(ls -A '%s')\" ]", dir, dir);
    return system(cmd) == 0;
}

/*
 * existing_only (a standby) never creates a store: no directory, an empty
 * one (a bare mount point) or an empty data.mdb is NOT_FOUND and left as
 * it was; an existing store opens, and store_in_use() sees it held.
 */
static void test_existing_only(void **state)
{
    tctx *t = *state;
    struct stat st;
    store_options o = t->o;
    o.existing_only = true;
    store *s2 = NULL;
    assert_int_equal(store_open(&o, &s2), ASYLINK_E_NOT_FOUND);
    assert_null(s2);
    assert_int_not_equal(stat(t->data, &st), 0); /* not created */
    assert_string_equal(store_absent_reason(t->data), "no such directory");
    assert_false(store_in_use(t->data));

    assert_int_equal(mkdir(t->data, 0700), 0);
    assert_int_equal(store_open(&o, &s2), ASYLINK_E_NOT_FOUND);
    assert_true(t_dir_empty(t->data)); /* not even asylinkd.lock */
    assert_string_equal(store_absent_reason(t->data), "no data.mdb");

    char path[128];
    snprintf(path, sizeof path, "%s/data.mdb", t->data);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(store_open(&o, &s2), ASYLINK_E_NOT_FOUND);
    assert_string_equal(store_absent_reason(t->data), "data.mdb is empty");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0); /* LMDB never opened it */
    assert_int_equal(unlink(path), 0);

    t_open(t); /* a plain open creates the store */
    assert_null(store_absent_reason(t->data));
    assert_true(store_in_use(t->data));
    store_close(&t->s);
    assert_false(store_in_use(t->data));
    assert_int_equal(store_open(&o, &s2), ASYLINK_OK);
    store_close(&s2);
}

/*
 * A standby (existing_only, waiting) whose data directory is moved aside
 * while the holder runs (a restore): when the holder dies, nothing is at
 * the path, and it is NOT_FOUND, the directory not created again.
 */
static void test_existing_only_moved_aside(void **state)
{
    tctx *t = *state;
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the active broker: holds the store until told */
        close(ready[0]);
        close(go[1]);
        t_open(t);
        char b = 'r';
        if (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(10);
        raise(SIGKILL);
    }
    close(ready[1]);
    close(go[0]);
    char b;
    assert_int_equal(read(ready[0], &b, 1), 1);
    t_waiter w = {.o = t->o};
    w.o.existing_only = true;
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, t_wait_thread, &w), 0);
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_false(atomic_load(&w.done)); /* standing by */
    char old[96];
    snprintf(old, sizeof old, "%s/data.old", t->root);
    assert_int_equal(rename(t->data, old), 0);
    assert_int_equal(write(go[1], "g", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(pthread_join(tid, NULL), 0);
    assert_int_equal(w.rc, ASYLINK_E_NOT_FOUND);
    assert_null(w.s);
    struct stat st;
    assert_int_not_equal(stat(t->data, &st), 0); /* no new, empty store */
    close(ready[0]);
    close(go[1]);
}

/*
 * A standby waits on the lock file it opened; if the data directory is
 * moved aside and another asylinkd starts on a new one at the same path
 * meanwhile, the lock the old holder releases guards nothing: the standby
 * must not open the store at that path while the new holder runs, and
 * gets it once that one is gone.
 */
static void test_lock_wait_replaced_dir(void **state)
{
    tctx *t = *state;
    t_open(t); /* the active broker */
    t_waiter w = {.o = t->o};
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, t_wait_thread, &w), 0);
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the standby has opened the old lock file */
    char old[96];
    snprintf(old, sizeof old, "%s/data.old", t->root);
    assert_int_equal(rename(t->data, old), 0);
    store *fresh = NULL; /* another asylinkd on a new directory at the same path */
    assert_int_equal(store_open(&t->o, &fresh), ASYLINK_OK);
    store_close(&t->s); /* the old active stops: its lock is released */
    nanosleep(&ts, NULL);
    assert_false(atomic_load(&w.done)); /* still standing by: the path's lock is held */
    store_close(&fresh);
    assert_int_equal(pthread_join(tid, NULL), 0);
    assert_int_equal(w.rc, ASYLINK_OK); /* takes over the directory now at the path */
    t->s = w.s;
}

/*
 * asylinkd.lock deleted under an open store (an operator's "stale lock
 * file" clean-up): another process, or another store of this one, is
 * still refused (the data file's own lock), and a standby still waits and
 * takes over once the store is closed.
 */
static void test_lock_file_deleted(void **state)
{
    tctx *t = *state;
    t_open(t);
    char path[128];
    snprintf(path, sizeof path, "%s/asylinkd.lock", t->data);
    assert_int_equal(unlink(path), 0);
    t_refused_in_child(t); /* another process is refused */
    store *s2 = NULL;
    assert_int_equal(store_open(&t->o, &s2), ASYLINK_E_EXISTS);
    assert_null(s2);

    t_waiter w = {.o = t->o};
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, t_wait_thread, &w), 0);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_false(atomic_load(&w.done)); /* standing by: the data file is held */
    const char *ab[] = {"AB", NULL};
    t_publish1(t, "NL", 7, ab, 16, 0, 100); /* the holder still writes */
    store_close(&t->s);
    assert_int_equal(pthread_join(tid, NULL), 0);
    assert_int_equal(w.rc, ASYLINK_OK);
    t->s = w.s;
    assert_int_equal(t_stats(t).messages, 1);
    assert_int_equal(access(path, F_OK), 0); /* the standby's lock file */
}

/* Replaces seq's record with len bytes of rec, directly with LMDB. */
static void t_raw_put_record(tctx *t, uint64_t seq, const void *rec, size_t len)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    t_raw_open(t, "msgs", &env, &txn, &dbi);
    uint8_t key[8];
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(seq >> (56 - 8 * i));
    MDB_val k = {8, key}, v = {len, (void *)rec};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    t_raw_close(env, txn);
}

/* Copies seq's record out, directly with LMDB. */
static uint8_t *t_raw_get_record(tctx *t, uint64_t seq, size_t *len)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    t_raw_open(t, "msgs", &env, &txn, &dbi);
    uint8_t key[8];
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(seq >> (56 - 8 * i));
    MDB_val k = {8, key}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    uint8_t *copy = malloc(v.mv_size);
    assert_non_null(copy);
    memcpy(copy, v.mv_data, v.mv_size);
    *len = v.mv_size;
    t_raw_close(env, txn);
    return copy;
}

static void test_corrupt_record(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *ab[] = {"AT", "BE", NULL}, *b[] = {"BE", NULL};
    uint64_t m1 = t_publish1(t, "NL", 1, ab, 100, 0, 1000);
    uint64_t m2 = t_publish1(t, "NL", 2, b, 100, 0, 1000);
    uint64_t m3 = t_publish1(t, "NL", 3, b, 100, 0, 1000);
    uint64_t m4 = t_publish1(t, "NL", 4, b, 100, 0, 1000);
    store_close(&t->s);

    size_t len;
    uint8_t *rec = t_raw_get_record(t, m1, &len);
    t_raw_put_record(t, m1, rec, len - 1); /* truncated */
    t_raw_put_record(t, m2, "garbage", 7); /* shorter than a header */
    rec[4] = 0;                            /* n_pending 0 */
    rec[5] = rec[6] = rec[7] = 0;
    t_raw_put_record(t, m3, rec, len);
    rec[4] = 2;           /* valid again, but ... */
    rec[len - 101] = 'X'; /* ... the recipients' last NUL gone */
    t_raw_put_record(t, m4, rec, len);
    free(rec);

    t_open(t);
    uint8_t *env = NULL;
    size_t elen;
    for (uint64_t s = m1; s <= m4; s++)
        assert_int_equal(store_message_get(t->s, s, &env, &elen), ASYLINK_E_IO);
    assert_null(env);
    store_entry e;
    assert_int_equal(store_queue_next(t->s, "AT", 0, &e), ASYLINK_E_IO);
    for (uint64_t s = 0; s < m4; s++)
        assert_int_equal(store_queue_next(t->s, "BE", s, &e), ASYLINK_E_IO);
    uint64_t count, bytes;
    assert_int_equal(store_queue_depth(t->s, "BE", &count, &bytes), ASYLINK_E_IO);

    /* operations on them fail alone and change nothing; the rest of the batch goes on */
    const char *c[] = {"CY", NULL};
    uint8_t id[16];
    t_id(id, 9);
    store_publish p = t_pub("NL", id, c, (const uint8_t *)"ok", 2, 0);
    store_batch *bt = NULL;
    assert_int_equal(store_batch_new(t->s, &bt), ASYLINK_OK);
    assert_int_equal(store_batch_ack(bt, "AT", m1), 0);
    assert_int_equal(store_batch_publish(bt, &p), 1);
    assert_int_equal(store_batch_ack(bt, "BE", m2), 2);
    assert_int_equal(store_batch_commit(bt, 2000), ASYLINK_OK);
    assert_int_equal(store_batch_result(bt, 0)->code, ASYLINK_E_IO);
    assert_int_equal(store_batch_result(bt, 1)->code, ASYLINK_OK);
    assert_int_equal(store_batch_result(bt, 1)->seq, m4 + 1);
    assert_int_equal(store_batch_result(bt, 2)->code, ASYLINK_E_IO);
    store_batch_destroy(&bt);
    store_stats st = t_stats(t);
    assert_int_equal(st.queued, 1 + 4 + 1); /* AT: m1; BE: m1..m4; CY: the new one */
    assert_int_equal(st.messages, 5);
}

static void test_schema_version(void **state)
{
    tctx *t = *state;
    t_open(t);
    store_close(&t->s);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    t_raw_open(t, "meta", &env, &txn, &dbi);
    MDB_val k = {strlen("schema_version"), (void *)"schema_version"}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    assert_int_equal(v.mv_size, 4);
    assert_int_equal(((const uint8_t *)v.mv_data)[0], STORE_SCHEMA_VERSION);
    uint8_t newer[4] = {STORE_SCHEMA_VERSION + 1, 0, 0, 0};
    v.mv_size = sizeof newer;
    v.mv_data = newer;
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    t_raw_close(env, txn);

    store *s = NULL;
    assert_int_equal(store_open(&t->o, &s), ASYLINK_E_UNSUPPORTED_VERSION);
    assert_null(s);
    assert_int_equal(store_open(&t->o, &s), ASYLINK_E_UNSUPPORTED_VERSION); /* lock released */
}

/* Publishes one feed message (no recipients) on topic in its own batch; its sequence. */
static uint64_t t_feed1(tctx *t, unsigned idn, const char *topic, uint64_t expires_ms,
                        uint64_t now_ms)
{
    uint8_t id[16];
    t_id(id, idn);
    uint8_t env[32];
    memset(env, (int)idn, sizeof env);
    store_publish p = {.sender = "EUAA",
                       .message_id = id,
                       .topic = topic,
                       .expires_ms = expires_ms,
                       .envelope = env,
                       .envelope_len = sizeof env};
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_publish(b, &p), 0);
    assert_int_equal(store_batch_commit(b, now_ms), ASYLINK_OK);
    const store_result *r = store_batch_result(b, 0);
    assert_int_equal(r->code, ASYLINK_OK);
    uint64_t seq = r->seq;
    store_batch_destroy(&b);
    return seq;
}

static void test_feed_log(void **state)
{
    tctx *t = *state;
    t_open(t);
    uint64_t head = 99;
    assert_int_equal(store_feed_head(t->s, NULL, &head), ASYLINK_OK);
    assert_int_equal(head, 0);
    const char *fr[] = {"FR", NULL};
    uint64_t d1 = t_publish1(t, "DE", 1, fr, 10, 0, 1000); /* a direct message in between */
    uint64_t s1 = t_feed1(t, 2, "stats.monthly.DE", 5000, 1100);
    uint64_t x1 = t_feed1(t, 3, "statsx", 5000, 1200);
    uint64_t c1 = t_feed1(t, 4, "coi.SY", 9000, 1300);
    uint64_t s2 = t_feed1(t, 5, "stats", 9000, 1400);
    assert_true(d1 < s1 && s1 < x1 && x1 < c1 && c1 < s2);

    store_feed_entry e;
    assert_int_equal(store_feed_next(t->s, 0, "stats", &e), ASYLINK_OK);
    assert_int_equal(e.seq, s1);
    assert_string_equal(e.topic, "stats.monthly.DE");
    assert_int_equal(e.accepted_ms, 1100);
    assert_int_equal(e.envelope_len, 32);
    assert_int_equal(store_feed_next(t->s, s1, "stats", &e), ASYLINK_OK);
    assert_int_equal(e.seq, s2); /* not statsx, not coi */
    assert_int_equal(store_feed_next(t->s, s2, "stats", &e), ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_feed_next(t->s, 0, NULL, &e), ASYLINK_OK);
    assert_int_equal(e.seq, s1);
    assert_int_equal(store_feed_next(t->s, s1, "", &e), ASYLINK_OK);
    assert_int_equal(e.seq, x1);
    assert_int_equal(store_feed_next(t->s, 0, "coi", &e), ASYLINK_OK);
    assert_int_equal(e.seq, c1);

    assert_int_equal(store_feed_head(t->s, NULL, &head), ASYLINK_OK);
    assert_int_equal(head, s2);
    assert_int_equal(store_feed_head(t->s, "coi", &head), ASYLINK_OK);
    assert_int_equal(head, c1);
    assert_int_equal(store_feed_head(t->s, "analysis", &head), ASYLINK_OK);
    assert_int_equal(head, 0);

    uint64_t before = 99;
    assert_int_equal(store_feed_before(t->s, 1100, &before), ASYLINK_OK);
    assert_int_equal(before, 0);
    assert_int_equal(store_feed_before(t->s, 1250, &before), ASYLINK_OK);
    assert_int_equal(before, x1);
    assert_int_equal(store_feed_before(t->s, 99999, &before), ASYLINK_OK);
    assert_int_equal(before, s2);

    /* the direct queue does not see feed messages */
    store_entry q;
    assert_int_equal(store_queue_next(t->s, "FR", d1, &q), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_stats(t).feed, 4);
    assert_int_equal(t_stats(t).messages, 5);

    /* the records survive a reopen */
    t_reopen(t);
    assert_int_equal(store_feed_next(t->s, s1, "stats", &e), ASYLINK_OK);
    assert_int_equal(e.seq, s2);
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(store_message_get(t->s, c1, &env, &len), ASYLINK_OK);
    assert_int_equal(len, 32);
    free(env);

    /* expiry removes feed entries with their messages */
    store_sweep_stats st;
    assert_int_equal(store_sweep(t->s, 6000, 100, &st), ASYLINK_OK);
    assert_int_equal(st.feed_expired, 2);
    assert_int_equal(store_feed_next(t->s, 0, "stats", &e), ASYLINK_OK);
    assert_int_equal(e.seq, s2);
    assert_int_equal(store_message_get(t->s, s1, &env, &len), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_stats(t).feed, 2);
    assert_int_equal(store_sweep(t->s, 10000, 100, &st), ASYLINK_OK);
    assert_int_equal(st.feed_expired, 2);
    assert_int_equal(store_feed_next(t->s, 0, NULL, &e), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_stats(t).feed, 0);
}

/* ---- purge ---- */

/* What the audit hooks saw of the last PURGED event (test_purge). */
typedef struct t_audit {
    int purged; /* PURGED events */
    int events; /* all events */
    uint64_t seq, count, count2, count3, envelope_len;
    char sender[STORE_NAME_MAX + 1];
    char topic[STORE_TOPIC_MAX + 1];
    char reason[256];
    char recipients[128]; /* comma-separated */
    uint8_t digest[64];
    bool has_digest;
    int classification;
} t_audit;

static int t_hook_ok(void *ctx, void *txn)
{
    (void)ctx;
    (void)txn;
    return 0;
}

static void t_hook_done(void *ctx)
{
    (void)ctx;
}

static int t_hook_event(void *ctx, void *txn, const store_audit_event *ev)
{
    (void)txn;
    t_audit *a = ctx;
    a->events++;
    if (ev->kind != 8 /* AUDIT_PURGED */)
        return 0;
    a->purged++;
    a->seq = ev->seq;
    a->count = ev->count;
    a->count2 = ev->count2;
    a->count3 = ev->count3;
    a->envelope_len = ev->envelope_len;
    snprintf(a->sender, sizeof a->sender, "%s", ev->sender ? ev->sender : "");
    snprintf(a->topic, sizeof a->topic, "%s", ev->topic ? ev->topic : "");
    snprintf(a->reason, sizeof a->reason, "%s", ev->reason ? ev->reason : "");
    a->recipients[0] = 0;
    for (size_t i = 0; i < ev->n_recipients; i++) {
        size_t used = strlen(a->recipients);
        snprintf(a->recipients + used, sizeof a->recipients - used, "%s%s", i ? "," : "",
                 ev->recipients[i]);
    }
    a->has_digest = ev->digest != NULL;
    if (ev->digest)
        memcpy(a->digest, ev->digest, 64);
    a->classification = ev->classification;
    return 0;
}

/* Publishes (sender, id n) to rcpt in its own batch at now_ms; its result. */
static store_result t_publish_again(tctx *t, const char *sender, unsigned idn,
                                    const char *const *rcpt, uint64_t now_ms)
{
    uint8_t id[16];
    t_id(id, idn);
    store_publish p = t_pub(sender, id, rcpt, (const uint8_t *)"again", 5, 0);
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_publish(b, &p), 0);
    assert_int_equal(store_batch_commit(b, now_ms), ASYLINK_OK);
    store_result r = *store_batch_result(b, 0);
    store_batch_destroy(&b);
    return r;
}

static void test_purge(void **state)
{
    tctx *t = *state;
    t->o.dedup_window_ms = 1000;
    t_open(t);
    t_audit au = {0};
    store_audit_hooks h = {t_hook_ok, t_hook_event, t_hook_ok, t_hook_done, &au};
    store_set_audit(t->s, &h);
    const char *abc[] = {"AT", "BE", "CY", NULL}, *a[] = {"AT", NULL};
    uint64_t m1 = t_publish1(t, "DE", 1, abc, 300, 0, 1000);
    uint64_t keep = t_publish1(t, "DE", 2, a, 40, 0, 1000);
    uint64_t f1 = t_feed1(t, 3, "stats.monthly.DE", 0, 1000);
    assert_true(t_op1(t, T_DEAD, "BE", m1, 1100, 0, "refused").dead);
    assert_int_equal(t_op1(t, T_ACK, "CY", m1, 1100, 0, NULL).code, ASYLINK_OK);

    /* found through the dedup index */
    uint8_t id1[16], id2[16], id3[16], id9[16], digest[64];
    t_id(id1, 1), t_id(id2, 2), t_id(id3, 3), t_id(id9, 9);
    memset(digest, 0xd5, sizeof digest);
    uint64_t seq = 0;
    assert_int_equal(store_message_find(t->s, "DE", id1, &seq), ASYLINK_OK);
    assert_int_equal(seq, m1);
    assert_int_equal(store_message_find(t->s, "FR", id1, &seq), ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_message_find(t->s, "", id1, &seq), ASYLINK_E_INVALID_ARG);

    /* purge m1: AT's queue entry, BE's dead letter, the record; AUDIT_PURGED in the txn */
    store_purge_request q = {.sender = "DE",
                             .message_id = id1,
                             .seq = m1,
                             .digest = digest,
                             .classification = 3,
                             .reason = "erasure request #12"};
    store_purge_result res;
    assert_int_equal(store_purge(t->s, &q, 1200, &res), ASYLINK_OK);
    assert_true(res.found);
    assert_int_equal(res.queue_entries, 1);
    assert_int_equal(res.dead_letters, 1);
    assert_int_equal(res.feed_entries, 0);
    assert_int_equal(res.bytes_removed, 300);
    assert_int_equal(au.purged, 1);
    assert_int_equal(au.seq, m1);
    assert_int_equal(au.count, 1), assert_int_equal(au.count2, 1), assert_int_equal(au.count3, 0);
    assert_int_equal(au.envelope_len, 300);
    assert_string_equal(au.sender, "DE");
    assert_string_equal(au.recipients, "AT,BE,CY");
    assert_string_equal(au.reason, "erasure request #12");
    assert_true(au.has_digest);
    assert_memory_equal(au.digest, digest, 64);
    assert_int_equal(au.classification, 3);
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(store_message_get(t->s, m1, &env, &len), ASYLINK_E_NOT_FOUND);
    uint64_t qs[4];
    assert_int_equal(t_queue(t, "AT", qs, 4), 1); /* only the other message */
    assert_int_equal(qs[0], keep);
    uint64_t dl = 9;
    assert_int_equal(store_dead_letter_count(t->s, NULL, &dl), ASYLINK_OK);
    assert_int_equal(dl, 0);
    t_check_envelope(t, keep, 2, 40);
    assert_int_equal(store_message_find(t->s, "DE", id1, &seq), ASYLINK_E_NOT_FOUND);

    /* the tombstone refuses a resend (a duplicate no more), also after a reopen */
    assert_int_equal(t_publish_again(t, "DE", 1, abc, 1300).code, ASYLINK_E_PURGED);
    t_reopen(t);
    store_set_audit(t->s, &h);
    assert_int_equal(t_publish_again(t, "DE", 1, abc, 1400).code, ASYLINK_E_PURGED);
    /* ... until the window has passed since the purge (not since the acceptance) */
    store_sweep_stats sw;
    assert_int_equal(store_sweep(t->s, 2150, 100, &sw), ASYLINK_OK); /* 1000 + window: others go */
    assert_int_equal(t_publish_again(t, "DE", 1, abc, 2150).code, ASYLINK_E_PURGED);
    assert_int_equal(store_sweep(t->s, 2200, 100, &sw), ASYLINK_OK);
    store_result again = t_publish_again(t, "DE", 1, abc, 2200);
    assert_int_equal(again.code, ASYLINK_OK);
    assert_false(again.duplicate);

    /* a feed message: its feed entry goes, its topic is in the event */
    assert_int_equal(store_message_find(t->s, "EUAA", id3, &seq), ASYLINK_OK); /* by scan */
    assert_int_equal(seq, f1);
    q = (store_purge_request){.sender = "EUAA", .message_id = id3, .seq = f1};
    assert_int_equal(store_purge(t->s, &q, 2300, &res), ASYLINK_OK);
    assert_true(res.found);
    assert_int_equal(res.feed_entries, 1);
    assert_int_equal(res.bytes_removed, 32);
    assert_string_equal(au.topic, "stats.monthly.DE");
    assert_string_equal(au.recipients, "");
    assert_false(au.has_digest);
    store_feed_entry fe;
    assert_int_equal(store_feed_next(t->s, 0, NULL, &fe), ASYLINK_E_NOT_FOUND);

    /* a message older than the dedup window is found by a scan */
    assert_int_equal(store_message_find(t->s, "DE", id2, &seq), ASYLINK_OK);
    assert_int_equal(seq, keep);

    /* nothing stored: only a tombstone, which a later first publish meets */
    q = (store_purge_request){.sender = "IT", .message_id = id9, .seq = 0};
    assert_int_equal(store_purge(t->s, &q, 2400, &res), ASYLINK_OK);
    assert_false(res.found);
    assert_int_equal(res.bytes_removed, 0);
    assert_int_equal(au.purged, 3);
    assert_int_equal(au.seq, 0);
    assert_int_equal(t_publish_again(t, "IT", 9, a, 2500).code, ASYLINK_E_PURGED);

    /* a seq that is not the named message removes nothing of it */
    q = (store_purge_request){.sender = "FR", .message_id = id2, .seq = keep};
    assert_int_equal(store_purge(t->s, &q, 2500, &res), ASYLINK_OK);
    assert_false(res.found);
    t_check_envelope(t, keep, 2, 40);

    /* hostile arguments */
    q = (store_purge_request){.sender = "", .message_id = id2};
    assert_int_equal(store_purge(t->s, &q, 2500, &res), ASYLINK_E_INVALID_ARG);
    q = (store_purge_request){.sender = "DE", .message_id = NULL};
    assert_int_equal(store_purge(t->s, &q, 2500, &res), ASYLINK_E_INVALID_ARG);
    assert_int_equal(store_purge(t->s, NULL, 2500, &res), ASYLINK_E_INVALID_ARG);
    store_set_audit(t->s, NULL);
}

/* store_feed_walk: counts the entries it is given; stops after `stop`. */
typedef struct {
    int n;
    int stop;
    uint64_t last;
} t_walk;

static int t_walk_fn(void *ctx, const store_feed_entry *e)
{
    t_walk *w = ctx;
    assert_true(e->seq > w->last);
    w->last = e->seq;
    return ++w->n == w->stop;
}

static void test_feed_walk(void **state)
{
    tctx *t = *state;
    t_open(t);
    t_feed1(t, 1, "stats.monthly.DE", 0, 1000);
    t_feed1(t, 2, "coi.SY", 0, 1000);
    t_feed1(t, 3, "stats.monthly.FR", 0, 1000);
    t_walk w = {0};
    assert_int_equal(store_feed_walk(t->s, NULL, t_walk_fn, &w), ASYLINK_OK);
    assert_int_equal(w.n, 3);
    w = (t_walk){0};
    assert_int_equal(store_feed_walk(t->s, "stats", t_walk_fn, &w), ASYLINK_OK);
    assert_int_equal(w.n, 2);
    w = (t_walk){.stop = 1};
    assert_int_equal(store_feed_walk(t->s, "", t_walk_fn, &w), ASYLINK_OK);
    assert_int_equal(w.n, 1);
    assert_int_equal(store_feed_walk(t->s, NULL, NULL, &w), ASYLINK_E_INVALID_ARG);
}

static void test_feed_publish_invalid(void **state)
{
    tctx *t = *state;
    t_open(t);
    uint8_t id[16];
    t_id(id, 7);
    const char *fr[] = {"FR"};
    store_publish both = {.sender = "EUAA",
                          .message_id = id,
                          .recipients = fr,
                          .n_recipients = 1,
                          .topic = "coi.SY",
                          .envelope = id,
                          .envelope_len = 16};
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_publish(b, &both), 0);
    assert_int_equal(store_batch_commit(b, 1000), ASYLINK_OK);
    assert_int_equal(store_batch_result(b, 0)->code, ASYLINK_E_BAD_FIELD);
    store_batch_destroy(&b);
    /* a duplicate topic publish is answered as such and logged once */
    uint64_t seq = t_feed1(t, 8, "coi.SY", 0, 1000);
    t_id(id, 8);
    uint8_t env[32] = {0};
    store_publish again = {.sender = "EUAA",
                           .message_id = id,
                           .topic = "coi.SY",
                           .envelope = env,
                           .envelope_len = sizeof env};
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_publish(b, &again), 0);
    assert_int_equal(store_batch_commit(b, 1100), ASYLINK_OK);
    assert_true(store_batch_result(b, 0)->duplicate);
    assert_int_equal(store_batch_result(b, 0)->seq, seq);
    store_batch_destroy(&b);
    assert_int_equal(t_stats(t).feed, 1);
}

static void test_subscriptions(void **state)
{
    tctx *t = *state;
    t_open(t);
    store_sub sub = {.cursor = 0, .created_ms = 1234};
    snprintf(sub.prefix, sizeof sub.prefix, "stats");
    store_sub got;
    assert_int_equal(store_sub_get(t->s, "EUAA.ANALYSIS", "s1", &got), ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_sub_put(t->s, "EUAA.ANALYSIS", "s1", &sub), ASYLINK_OK);
    snprintf(sub.prefix, sizeof sub.prefix, "coi");
    sub.cursor = 7;
    assert_int_equal(store_sub_put(t->s, "EUAA.ANALYSIS", "s2", &sub), ASYLINK_OK);
    assert_int_equal(store_sub_put(t->s, "EUAA", "s1", &sub), ASYLINK_OK);
    assert_int_equal(store_sub_get(t->s, "EUAA.ANALYSIS", "s1", &got), ASYLINK_OK);
    assert_string_equal(got.prefix, "stats");
    assert_int_equal(got.cursor, 0);
    assert_int_equal(got.created_ms, 1234);
    uint64_t n = 0;
    assert_int_equal(store_sub_count(t->s, "EUAA.ANALYSIS", &n), ASYLINK_OK);
    assert_int_equal(n, 2);
    assert_int_equal(store_sub_count(t->s, "EUAA", &n), ASYLINK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_sub_count(t->s, NULL, &n), ASYLINK_OK);
    assert_int_equal(n, 3);

    /* cursor moves in a batch; the names are copied when added */
    char node[32], name[16];
    snprintf(node, sizeof node, "EUAA.ANALYSIS");
    snprintf(name, sizeof name, "s1");
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_sub_cursor(b, node, name, 40), 0);
    assert_int_equal(store_batch_sub_cursor(b, "EUAA.ANALYSIS", "gone", 5), 1);
    assert_int_equal(store_batch_sub_cursor(b, "EUAA.ANALYSIS", "", 5), 2);
    memset(node, 'X', sizeof node - 1);
    memset(name, 'Y', sizeof name - 1);
    assert_int_equal(store_batch_commit(b, 2000), ASYLINK_OK);
    assert_int_equal(store_batch_result(b, 0)->code, ASYLINK_OK);
    assert_int_equal(store_batch_result(b, 1)->code, ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_batch_result(b, 2)->code, ASYLINK_E_INVALID_ARG);
    store_batch_destroy(&b);

    t_reopen(t);
    assert_int_equal(store_sub_get(t->s, "EUAA.ANALYSIS", "s1", &got), ASYLINK_OK);
    assert_int_equal(got.cursor, 40);
    assert_string_equal(got.prefix, "stats");
    assert_int_equal(got.created_ms, 1234);
    assert_int_equal(store_sub_delete(t->s, "EUAA.ANALYSIS", "s1"), ASYLINK_OK);
    assert_int_equal(store_sub_delete(t->s, "EUAA.ANALYSIS", "s1"), ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_sub_get(t->s, "EUAA.ANALYSIS", "s1", &got), ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_sub_get(t->s, "EUAA.ANALYSIS", "s2", &got), ASYLINK_OK);
    assert_int_equal(got.cursor, 7);

    /* invalid arguments */
    sub.prefix[0] = 0;
    assert_int_equal(store_sub_put(t->s, "EUAA", "s3", &sub), ASYLINK_E_INVALID_ARG);
    snprintf(sub.prefix, sizeof sub.prefix, "coi");
    char longname[STORE_SUB_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(store_sub_put(t->s, "EUAA", longname, &sub), ASYLINK_E_INVALID_ARG);
    assert_int_equal(store_sub_put(t->s, "", "s3", &sub), ASYLINK_E_INVALID_ARG);
}

/*
 * A subscription key whose name holds a NUL ("DE" '\0' "a" '\0' "b": a
 * corrupt or badly restored store) is refused as corrupt. It once decoded
 * as ("DE", "a"), which encodes to another key, sorting before it: the
 * listing went on after ("DE", "a") and got the same entry again, for ever
 * (the router's metrics snapshot grew its array until memory ran out).
 */
static void test_sub_key_with_nul(void **state)
{
    tctx *t = *state;
    t_open(t);
    store_sub sub = {.cursor = 3, .created_ms = 1234};
    snprintf(sub.prefix, sizeof sub.prefix, "stats");
    assert_int_equal(store_sub_put(t->s, "AT", "s1", &sub), ASYLINK_OK);
    store_close(&t->s);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    t_raw_open(t, "subs", &env, &txn, &dbi);
    uint8_t val[16 + 5] = {0};
    memcpy(val + 16, "stats", 5);
    MDB_val k = {7, (void *)"DE\0a\0b"}, v = {sizeof val, val};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    t_raw_close(env, txn);
    t_open(t);
    char node[NODE_ID_MAX + 1] = "", name[STORE_SUB_NAME_MAX + 1] = "";
    store_sub got;
    assert_int_equal(store_sub_next(t->s, "", "", node, name, &got), ASYLINK_OK);
    assert_string_equal(node, "AT");
    assert_string_equal(name, "s1");
    assert_int_equal(store_sub_next(t->s, "AT", "s1", node, name, &got), ASYLINK_E_IO);
}

static void test_schema_upgrade(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *fr[] = {"FR", NULL};
    uint64_t seq = t_publish1(t, "DE", 1, fr, 10, 0, 1000);
    store_close(&t->s);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    t_raw_open(t, "meta", &env, &txn, &dbi);
    MDB_val k = {strlen("schema_version"), (void *)"schema_version"}, v;
    uint8_t v1[4] = {1, 0, 0, 0};
    v.mv_size = sizeof v1;
    v.mv_data = v1;
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    t_raw_close(env, txn);

    t_open(t); /* a version 1 store opens and is upgraded */
    store_entry e;
    assert_int_equal(store_queue_next(t->s, "FR", 0, &e), ASYLINK_OK);
    assert_int_equal(e.seq, seq);
    assert_true(t_feed1(t, 2, "coi.SY", 0, 1100) > seq);
    store_close(&t->s);
    t_raw_open(t, "meta", &env, &txn, &dbi);
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    assert_int_equal(((const uint8_t *)v.mv_data)[0], STORE_SCHEMA_VERSION);
    t_raw_close(env, txn);
}

static void test_big_envelope(void **state)
{
    tctx *t = *state;
    t->o.map_size = 1 * MIB; /* the commit has to grow the map 1 -> 8 MiB and replay */
    t_open(t);
    const char *ab[] = {"AT", "BE", NULL};
    const size_t len = 4 * MIB;
    uint64_t seq = t_publish1(t, "EUAA", 42, ab, len, 0, 1000);
    t_check_envelope(t, seq, 42, len);
    uint64_t count, bytes;
    assert_int_equal(store_queue_depth(t->s, "BE", &count, &bytes), ASYLINK_OK);
    assert_int_equal(count, 1);
    assert_int_equal(bytes, len);
    assert_true(t_stats(t).map_size >= 8 * MIB);
    assert_int_equal(t_op1(t, T_ACK, "AT", seq, 1100, 0, NULL).code, ASYLINK_OK);
    t_check_envelope(t, seq, 42, len); /* record rewritten with n_pending 1 */
    t_reopen(t);
    t_check_envelope(t, seq, 42, len);
    assert_int_equal(t_op1(t, T_ACK, "BE", seq, 1200, 0, NULL).code, ASYLINK_OK);
    uint8_t *env = NULL;
    size_t got;
    assert_int_equal(store_message_get(t->s, seq, &env, &got), ASYLINK_E_NOT_FOUND);
}

/* Everything in rcpt's queue as entries; returns how many (at most max). */
static size_t t_entries(tctx *t, const char *rcpt, store_entry *out, size_t max)
{
    size_t n = 0;
    uint64_t after = 0;
    while (n < max && store_queue_next(t->s, rcpt, after, &out[n]) == ASYLINK_OK)
        after = out[n++].seq;
    return n;
}

static void test_reopen_keeps_queues(void **state)
{
    tctx *t = *state;
    t->o.durable = false; /* relaxed, with an explicit sync */
    t_open(t);
    const char *names[] = {"AT", "BE", "CY"};
    const char *abc[] = {"AT", "BE", "CY", NULL}, *bc[] = {"BE", "CY", NULL};
    for (unsigned i = 0; i < 8; i++)
        t_publish1(t, "EUAA", i, i % 2 ? abc : bc, 10 + i, i % 3 ? 0 : 90000, 1000 + i);
    t_op1(t, T_RETRY, "BE", 2, 2000, 5, "x");
    t_op1(t, T_RETRY, "BE", 2, 3000, 5, "y");
    t_op1(t, T_RETRY, "CY", 4, 2500, 5, "z");
    assert_true(t_op1(t, T_DEAD, "AT", 4, 2600, 0, "policy").dead);
    t_op1(t, T_ACK, "CY", 1, 2700, 0, NULL);
    assert_int_equal(store_sync(t->s), ASYLINK_OK);

    store_entry before[3][16], after[3][16];
    size_t nb[3];
    for (int i = 0; i < 3; i++)
        nb[i] = t_entries(t, names[i], before[i], 16);
    store_stats st1 = t_stats(t);
    t_reopen(t);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(t_entries(t, names[i], after[i], 16), nb[i]);
        for (size_t j = 0; j < nb[i]; j++) {
            assert_int_equal(after[i][j].seq, before[i][j].seq);
            assert_int_equal(after[i][j].attempts, before[i][j].attempts);
            assert_int_equal(after[i][j].next_attempt_ms, before[i][j].next_attempt_ms);
            assert_int_equal(after[i][j].accepted_ms, before[i][j].accepted_ms);
            assert_int_equal(after[i][j].envelope_len, before[i][j].envelope_len);
        }
    }
    assert_int_equal(nb[0], 3); /* AT: seqs 2, 6, 8 (4 is a dead letter) */
    assert_int_equal(nb[1], 8); /* BE: all */
    assert_int_equal(nb[2], 7); /* CY: all but the acked 1 */
    store_stats st2 = t_stats(t);
    assert_int_equal(st1.messages, st2.messages);
    assert_int_equal(st1.queued, st2.queued);
    assert_int_equal(st2.dead_letters, 1);
    store_dead_letter dl;
    assert_int_equal(store_dead_letter_next(t->s, NULL, NULL, 0, &dl), ASYLINK_OK);
    assert_string_equal(dl.recipient, "AT");
    assert_int_equal(dl.seq, 4);
    assert_string_equal(dl.reason, "policy");
    assert_int_equal(dl.dead_ms, 2600);
    assert_int_equal(after[1][1].attempts, 2);
    assert_int_equal(after[1][1].next_attempt_ms, 4000);
    assert_int_equal(t_publish1(t, "EUAA", 100, abc, 1, 0, 5000), 9);
}

/* Shared reads see every write made before them, whichever function wrote. */
static void test_shared_reads(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *to[] = {"AT", "BE", NULL};
    const char *at[] = {"AT", NULL};
    uint64_t s1 = t_publish1(t, "EUAA", 1, to, 40, 5000, 1000);
    store_read_begin(t->s);
    uint64_t seqs[4];
    assert_int_equal(t_queue(t, "AT", seqs, 4), 1);
    assert_int_equal(t_queue(t, "BE", seqs, 4), 1); /* the kept queue cursor, another name */
    t_check_envelope(t, s1, 1, 40);

    /* a batch commit ends the shared transaction: the next reads see it */
    uint64_t s2 = t_publish1(t, "EUAA", 2, at, 30, 0, 1100);
    assert_int_equal(t_queue(t, "AT", seqs, 4), 2);
    assert_int_equal(seqs[1], s2);
    t_check_envelope(t, s2, 2, 30);
    assert_int_equal(t_op1(t, T_ACK, "AT", s2, 1200, 0, NULL).code, ASYLINK_OK);
    assert_int_equal(t_queue(t, "AT", seqs, 4), 1);
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(store_message_get(t->s, s2, &env, &len), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_stats(t).messages, 1);

    /* so do a dead letter, a sweep and subscription writes */
    assert_int_equal(t_op1(t, T_DEAD, "BE", s1, 1300, 0, "gone").code, ASYLINK_OK);
    uint64_t n = 0;
    assert_int_equal(store_dead_letter_count(t->s, "BE", &n), ASYLINK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(t_queue(t, "BE", seqs, 4), 0);
    assert_int_equal(store_dead_letter_replay(t->s, "BE", s1), ASYLINK_OK);
    assert_int_equal(t_queue(t, "BE", seqs, 4), 1);
    store_sweep_stats sw;
    assert_int_equal(store_sweep(t->s, 6000, 100, &sw), ASYLINK_OK);
    assert_int_equal(sw.expired, 2); /* AT's and BE's entries */
    assert_int_equal(t_queue(t, "AT", seqs, 4), 0);
    assert_int_equal(t_queue(t, "BE", seqs, 4), 0);
    assert_int_equal(store_message_get(t->s, s1, &env, &len), ASYLINK_E_NOT_FOUND);
    store_sub sub = {.cursor = 3, .created_ms = 1};
    snprintf(sub.prefix, sizeof sub.prefix, "stats");
    store_sub got;
    assert_int_equal(store_sub_get(t->s, "EUAA", "s1", &got), ASYLINK_E_NOT_FOUND);
    assert_int_equal(store_sub_put(t->s, "EUAA", "s1", &sub), ASYLINK_OK);
    assert_int_equal(store_sub_get(t->s, "EUAA", "s1", &got), ASYLINK_OK);
    assert_int_equal(got.cursor, 3);
    assert_int_equal(store_sub_delete(t->s, "EUAA", "s1"), ASYLINK_OK);
    assert_int_equal(store_sub_get(t->s, "EUAA", "s1", &got), ASYLINK_E_NOT_FOUND);
    store_read_end(t->s);
    store_read_end(t->s); /* ending twice is harmless */

    /* unshared reads still work; a store closed while sharing frees its transaction */
    uint64_t s3 = t_publish1(t, "EUAA", 3, at, 20, 0, 7000);
    t_check_envelope(t, s3, 3, 20);
    store_read_begin(t->s);
    assert_int_equal(t_queue(t, "AT", seqs, 4), 1);
    store_close(&t->s);
    t_open(t);
    assert_int_equal(t_queue(t, "AT", seqs, 4), 1);
    store_read_begin(NULL);
    store_read_end(NULL);
}

/* A detached commit in another thread (the broker's committer). */
typedef struct t_detached {
    store_batch *b;
    uint64_t now_ms;
    int rc;
    bool retry;
} t_detached;

static void *t_detached_thread(void *arg)
{
    t_detached *d = arg;
    d->rc = store_batch_commit_detached(d->b, d->now_ms, &d->retry);
    return NULL;
}

static void t_detached_run(t_detached *d)
{
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, t_detached_thread, d), 0);
    assert_int_equal(pthread_join(tid, NULL), 0);
}

static void t_count_barrier(void *ctx)
{
    (*(int *)ctx)++;
}

static void test_detached_commit(void **state)
{
    tctx *t = *state;
    t->o.map_size = 1 * MIB;
    t->o.max_map_size = 16 * MIB;
    t_open(t);
    int barriers = 0;
    store_set_write_barrier(t->s, t_count_barrier, &barriers);
    const char *at[] = {"AT", NULL};
    uint64_t s1 = t_publish1(t, "NL", 1, at, 40, 0, 1000);
    assert_int_equal(barriers, 1); /* a write of the store's own thread waits first */

    /* committed in another thread while this one keeps its shared read open */
    store_read_begin(t->s);
    uint64_t seqs[16];
    assert_int_equal(t_queue(t, "AT", seqs, 16), 1);
    uint8_t id[16];
    t_id(id, 2);
    uint8_t *env = t_envelope(2, 30);
    store_publish p = t_pub("NL", id, at, env, 30, 0);
    t_detached d = {.now_ms = 1100};
    assert_int_equal(store_batch_new(t->s, &d.b), ASYLINK_OK);
    assert_int_equal(store_batch_publish(d.b, &p), 0);
    assert_int_equal(store_batch_ack(d.b, "AT", s1), 1);
    t_detached_run(&d);
    assert_int_equal(d.rc, ASYLINK_OK);
    assert_false(d.retry);
    assert_int_equal(barriers, 1); /* not called from the committer's thread */
    uint64_t s2 = store_batch_result(d.b, 0)->seq;
    assert_int_equal(s2, s1 + 1);
    assert_int_equal(store_batch_result(d.b, 1)->code, ASYLINK_OK);
    store_batch_destroy(&d.b);
    free(env);
    assert_int_equal(t_queue(t, "AT", seqs, 16), 1); /* the shared snapshot is untouched */
    assert_int_equal(seqs[0], s1);
    store_read_refresh(t->s); /* a fresh one sees the commit */
    assert_int_equal(t_queue(t, "AT", seqs, 16), 1);
    assert_int_equal(seqs[0], s2);
    store_read_end(t->s);

    /* a group that needs the map grown: nothing applied, retried in this thread */
    const size_t len = 256 * KIB;
    uint8_t ids[8][16];
    uint8_t *envs[8];
    d = (t_detached){.now_ms = 1200};
    assert_int_equal(store_batch_new(t->s, &d.b), ASYLINK_OK);
    for (unsigned i = 0; i < 8; i++) {
        t_id(ids[i], 10 + i);
        envs[i] = t_envelope(10 + i, len);
        store_publish q = t_pub("NL", ids[i], at, envs[i], len, 0);
        assert_int_equal(store_batch_publish(d.b, &q), (int)i);
    }
    uint64_t map_before = t_stats(t).map_size;
    t_detached_run(&d);
    assert_true(d.retry);
    assert_int_equal(d.rc, ASYLINK_E_UNAVAILABLE);
    assert_int_equal(t_stats(t).map_size, map_before); /* the committer never resizes */
    assert_int_equal(t_stats(t).messages, 1);
    assert_int_equal(store_batch_commit(d.b, 1200), ASYLINK_OK);
    assert_true(t_stats(t).map_size > map_before);
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(store_batch_result(d.b, i)->code, ASYLINK_OK);
        assert_int_equal(store_batch_result(d.b, i)->seq, s2 + 1 + i); /* none lost */
        t_check_envelope(t, s2 + 1 + i, 10 + i, len);
        free(envs[i]);
    }
    store_batch_destroy(&d.b);
    assert_int_equal(t_queue(t, "AT", seqs, 16), 9);
    store_set_write_barrier(t->s, NULL, NULL);
    assert_int_equal(store_sub_delete(t->s, "NL", "none"), ASYLINK_E_NOT_FOUND);
    assert_true(barriers >= 3); /* the retry's write waited; none after removal */
    int seen = barriers;
    t_publish1(t, "NL", 30, at, 10, 0, 1300);
    assert_int_equal(barriers, seen);
}

static void test_invalid_input(void **state)
{
    tctx *t = *state;
    store *s = NULL;
    store_options o = t->o;
    o.map_size = 0;
    assert_int_equal(store_open(&o, &s), ASYLINK_E_INVALID_ARG);
    o = t->o;
    o.max_map_size = o.map_size - 1;
    assert_int_equal(store_open(&o, &s), ASYLINK_E_INVALID_ARG);
    o = t->o;
    o.dir = NULL;
    assert_int_equal(store_open(&o, &s), ASYLINK_E_INVALID_ARG);
    assert_null(s);
    t_open(t);

    char long_name[STORE_NAME_MAX + 2];
    memset(long_name, 'N', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    const char *ok[] = {"AT", NULL}, *twice[] = {"AT", "BE", "AT", NULL},
               *too_long[] = {long_name, NULL}, *empty[] = {"", NULL}, *none[] = {NULL};
    uint8_t id[16];
    t_id(id, 1);
    store_publish ps[] = {
        t_pub("NL", id, ok, (const uint8_t *)"a", 1, 0),
        t_pub("", id, ok, (const uint8_t *)"a", 1, 0),
        t_pub("NL", id, twice, (const uint8_t *)"a", 1, 0),
        t_pub("NL", NULL, ok, (const uint8_t *)"a", 1, 0),
        t_pub("NL", id, none, (const uint8_t *)"a", 1, 0),
        t_pub("NL", id, too_long, (const uint8_t *)"a", 1, 0),
        t_pub("NL", id, empty, (const uint8_t *)"a", 1, 0),
        t_pub("NL", id, ok, NULL, 5, 0),
        t_pub(long_name, id, ok, (const uint8_t *)"a", 1, 0),
    };
    size_t n = sizeof ps / sizeof ps[0];
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(store_batch_publish(b, &ps[i]), (int)i);
    assert_int_equal(store_batch_publish(b, NULL), -1);
    assert_int_equal(store_batch_commit(b, 1000), ASYLINK_OK);
    assert_int_equal(store_batch_result(b, 0)->code, ASYLINK_OK);
    assert_int_equal(store_batch_result(b, 0)->seq, 1);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(store_batch_result(b, i)->code, ASYLINK_E_BAD_FIELD);
    assert_int_equal(store_batch_commit(b, 1000), ASYLINK_E_INVALID_ARG);
    assert_int_equal(store_batch_ack(b, "AT", 1), -1);
    store_batch_destroy(&b);
    store_batch_destroy(&b); /* NULL is fine */
    assert_int_equal(t_stats(t).queued, 1);

    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_int_equal(store_batch_size(b), 0);
    assert_int_equal(store_batch_commit(b, 1000), ASYLINK_OK); /* empty: nothing to do */
    store_batch_destroy(&b);
    store_close(NULL);
}

/* RssFile of this process, in KiB (/proc/self/status). */
static uint64_t t_rss_file_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kib = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssFile: %llu kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* Read pages stay mapped under the budget and are unmapped over it (or with none). */
static void test_release_pages(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *const to[] = {"FR", NULL};
    uint64_t seqs[160];
    for (unsigned i = 0; i < 160; i++)
        seqs[i] = t_publish1(t, "DE", 9000 + i, to, 32 * 1024, 0, 1000 + i);
    for (unsigned i = 0; i < 160; i++) { /* 5 MiB read through LMDB's map */
        uint8_t *env = NULL;
        size_t len = 0;
        assert_int_equal(store_message_get(t->s, seqs[i], &env, &len), ASYLINK_OK);
        assert_int_equal(len, 32 * 1024);
        free(env);
    }
    uint64_t mapped = t_rss_file_kib();
    store_release_pages(t->s, UINT64_MAX, 0); /* under the budget: kept */
    uint64_t kept = t_rss_file_kib();
    assert_true(kept + 1024 > mapped);
    store_release_pages(t->s, 1024,
                        1024 * 1024); /* over it, but mapped files under the floor: kept */
    assert_true(t_rss_file_kib() + 1024 > mapped);
    store_release_pages(t->s, 1024, 0); /* over both: unmapped */
    uint64_t released = t_rss_file_kib();
    print_message("RssFile %llu KiB read, %llu kept, %llu after the release\n",
                  (unsigned long long)mapped, (unsigned long long)kept,
                  (unsigned long long)released);
    assert_true(released + 4 * 1024 < kept);
    for (unsigned i = 0; i < 160; i++) { /* still readable: they fault back in */
        uint8_t *env = NULL;
        size_t len = 0;
        assert_int_equal(store_message_get(t->s, seqs[i], &env, &len), ASYLINK_OK);
        free(env);
    }
    assert_true(t_rss_file_kib() > released + 4 * 1024);
    store_release_pages(t->s, 0, 0); /* no budget: always */
    assert_true(t_rss_file_kib() + 4 * 1024 < kept);
    store_release_pages(NULL, 0, 0);
}

/* Reads for delivery map no more than about S_RELEASE_EVERY pages past the store's own budget. */
static void test_release_budget(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *const to[] = {"FR", NULL};
    for (unsigned i = 0; i < 160; i++)
        t_publish1(t, "DE", 9000 + i, to, 32 * 1024, 0, 1000 + i);
    uint64_t grown[2] = {0, 0};
    for (int budget = 0; budget < 2; budget++) { /* without a budget, then with one always over */
        store_release_budget(t->s, budget ? 1 : 0, 0);
        store_release_pages(t->s, 0, 0);
        uint64_t base = t_rss_file_kib(), most = base;
        store_entry e;
        uint64_t after = 0;
        unsigned n = 0;
        while (store_queue_next(t->s, "FR", after, &e) == ASYLINK_OK) { /* as a delivery does */
            uint8_t *env = NULL;
            size_t len = 0;
            assert_int_equal(store_message_get(t->s, e.seq, &env, &len), ASYLINK_OK);
            free(env);
            uint64_t now = t_rss_file_kib();
            most = now > most ? now : most;
            after = e.seq;
            n++;
        }
        assert_int_equal(n, 160);
        grown[budget] = most - base;
    }
    print_message("RssFile grew by %llu KiB reading 5 MiB without a budget, %llu KiB with one\n",
                  (unsigned long long)grown[0], (unsigned long long)grown[1]);
    assert_true(grown[0] >= 4 * 1024);
    assert_true(grown[1] < 2 * 1024);
    store_release_budget(t->s, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish_queue_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_deletes_message_keeps_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_to_dead_letter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_replay_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_window_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_pacing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_pacing_long_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_window_zero_keeps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequences_monotonic_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crl_number_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_full_mixed_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grow_replays_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_wait_replaced_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_file_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_only_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed_publish_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_envelope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_queues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detached_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_key_with_nul, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
