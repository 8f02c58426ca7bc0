/*
 * test_cstore_sent.c — the client store's kept sent envelopes (evidence):
 * a copy is kept when a message is accepted, survives a reopen, is found by
 * message id; the sweep removes by age, oldest first, in bounded batches,
 * and never touches what exactly-once and receipts need (pending outbox
 * envelopes, outbox records with their digests and recipients, receipts).
 * A separate file from test_cstore.c so the two evolve independently.
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
#include <sys/stat.h>

#include "asylink/asylink.h"
#include "cstore.h"
#include "testfed.h"

typedef struct {
    char root[64];
    char data[80];
    cstore *s;
} tctx;

static int setup(void **state)
{
    tctx *t = calloc(1, sizeof *t);
    snprintf(t->root, sizeof t->root, "/tmp/asylink-sent-XXXXXX");
    if (!t || !mkdtemp(t->root))
        return -1;
    snprintf(t->data, sizeof t->data, "%s/data", t->root);
    assert_int_equal(cstore_open(t->data, true, &t->s), ASYLINK_OK);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tctx *t = *state;
    cstore_close(&t->s);
    testfed_rmtree(t->root);
    free(t);
    return 0;
}

static void t_id(uint8_t id[16], int n)
{
    memset(id, 0, 16);
    id[0] = 0x01;
    id[15] = (uint8_t)n;
    id[14] = (uint8_t)(n >> 8);
}

/* Adds message n (envelope of len bytes filled with n) to the outbox as PENDING. */
static void t_send(tctx *t, int n, size_t len)
{
    uint8_t id[16], digest[64], *env = malloc(len);
    t_id(id, n);
    memset(digest, n, sizeof digest);
    memset(env, n, len);
    const char *to[] = {"FR"};
    cstore_out_new m = {.id = id,
                        .recipients = to,
                        .n_recipients = 1,
                        .digest = digest,
                        .created_ms = 1000,
                        .envelope = env,
                        .envelope_len = len};
    cstore_txn *x = NULL;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_outbox_add(x, &m, NULL), ASYLINK_OK);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    free(env);
}

/* The broker accepted message n at now_ms: keep (if keep) and mark ACCEPTED, one transaction. */
static void t_accept(tctx *t, int n, uint64_t now_ms, bool keep)
{
    uint8_t id[16];
    t_id(id, n);
    cstore_txn *x = NULL;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    if (keep)
        assert_int_equal(cstore_sent_keep(x, id, now_ms), ASYLINK_OK);
    assert_int_equal(cstore_outbox_set_state(x, id, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
}

/* Sweeps with cutoff and max; returns how many were removed. */
static size_t t_sweep(tctx *t, uint64_t cutoff, size_t max)
{
    cstore_txn *x = NULL;
    size_t removed = 99;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_sent_sweep(x, cutoff, max, &removed), ASYLINK_OK);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    return removed;
}

/* Is message n's envelope kept (and, if so, is it the right one, kept at kept_ms)? */
static bool t_kept(tctx *t, int n, size_t len, uint64_t kept_ms)
{
    uint8_t id[16], *env = NULL;
    size_t got = 0;
    uint64_t at = 0;
    t_id(id, n);
    int rc = cstore_sent_get(t->s, id, &env, &got, &at);
    if (rc == ASYLINK_E_NOT_FOUND) {
        assert_null(env);
        return false;
    }
    assert_int_equal(rc, ASYLINK_OK);
    assert_int_equal(got, len);
    assert_int_equal(at, kept_ms);
    for (size_t i = 0; i < got; i++)
        assert_int_equal(env[i], (uint8_t)n);
    free(env);
    return true;
}

static void test_keep_and_get(void **state)
{
    tctx *t = *state;
    t_send(t, 1, 500);
    t_send(t, 2, 70000); /* an envelope on overflow pages */
    t_send(t, 3, 10);
    assert_false(t_kept(t, 1, 500, 0)); /* pending: the outbox has it, nothing kept yet */
    t_accept(t, 1, 5000, true);
    t_accept(t, 2, 6000, true);
    t_accept(t, 3, 7000, false); /* retention 0: not kept */
    assert_true(t_kept(t, 1, 500, 5000));
    assert_true(t_kept(t, 2, 70000, 6000));
    assert_false(t_kept(t, 3, 10, 0));
    uint64_t n = 0;
    assert_int_equal(cstore_sent_count(t->s, &n), ASYLINK_OK);
    assert_int_equal(n, 2);
    /* the outbox dropped its own copy as before */
    uint8_t id[16];
    cstore_out o;
    t_id(id, 1);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
    assert_null(o.envelope);
    assert_int_equal(o.state, CSTORE_OUT_ACCEPTED);
    cstore_out_clear(&o);
    /* keeping a message that is no longer pending, or unknown: NOT_FOUND, nothing changes */
    cstore_txn *x = NULL;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_sent_keep(x, id, 9000), ASYLINK_E_NOT_FOUND);
    t_id(id, 77);
    assert_int_equal(cstore_sent_keep(x, id, 9000), ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_sent_keep(x, NULL, 9000), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_true(t_kept(t, 1, 500, 5000));
    /* kept across a reopen */
    cstore_close(&t->s);
    assert_int_equal(cstore_open(t->data, true, &t->s), ASYLINK_OK);
    assert_true(t_kept(t, 2, 70000, 6000));
    uint8_t *env = NULL;
    size_t len = 0;
    uint64_t at = 0;
    assert_int_equal(cstore_sent_get(t->s, NULL, &env, &len, &at), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_sent_get(t->s, id, NULL, &len, &at), ASYLINK_E_INVALID_ARG);
}

/* cstore_outbox_accept_at(): the record at seq when it holds the id, else the id's own. */
static void test_accept_at(void **state)
{
    tctx *t = *state;
    uint64_t seq[5] = {0};
    uint8_t id[16];
    for (unsigned i = 1; i <= 4; i++) {
        t_send(t, i, 300);
        cstore_out o;
        t_id(id, i);
        assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
        seq[i] = o.seq;
        cstore_out_clear(&o);
    }
    cstore_txn *x = NULL;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    t_id(id, 1);
    assert_int_equal(cstore_outbox_accept_at(x, id, seq[1], true, 5000, NULL),
                     ASYLINK_OK); /* its own */
    t_id(id, 2);
    assert_int_equal(cstore_outbox_accept_at(x, id, seq[3], true, 6000, NULL),
                     ASYLINK_OK); /* 3's */
    t_id(id, 4);
    assert_int_equal(cstore_outbox_accept_at(x, id, 999999, false, 7000, NULL),
                     ASYLINK_OK); /* none */
    t_id(id, 77);
    assert_int_equal(cstore_outbox_accept_at(x, id, seq[3], true, 8000, NULL), ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_true(t_kept(t, 1, 300, 5000));
    assert_true(t_kept(t, 2, 300, 6000));
    assert_false(t_kept(t, 4, 300, 0));
    const int want[5] = {0, CSTORE_OUT_ACCEPTED, CSTORE_OUT_ACCEPTED, CSTORE_OUT_PENDING,
                         CSTORE_OUT_ACCEPTED};
    for (unsigned i = 1; i <= 4; i++) { /* 3 was only named by seq: untouched */
        cstore_out o;
        t_id(id, i);
        assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
        assert_int_equal(o.state, want[i]);
        cstore_out_clear(&o);
    }
    uint64_t n = 0;
    assert_int_equal(cstore_outbox_pending_count(t->s, &n), ASYLINK_OK);
    assert_int_equal(n, 1);
}

/*
 * cstore_outbox_accept_at()'s first: true only for the answer that makes the entry ACCEPTED
 * (from PENDING, or from refused by a purge on this node), so that the library tells one
 * ASYLINK_EVENT_ACCEPTED per message id (DESIGN-CHANGES 59); a second answer (a copy published
 * again) is recorded without one, and so is one for a message the broker refused.
 */
static void test_accept_first(void **state)
{
    tctx *t = *state;
    for (int i = 1; i <= 3; i++)
        t_send(t, i, 200);
    uint8_t id[16];
    cstore_txn *x = NULL;
    bool first = true;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    t_id(id, 1);
    assert_int_equal(cstore_outbox_accept_at(x, id, 0, true, 5000, &first), ASYLINK_OK);
    assert_true(first);
    first = true; /* again in the same transaction: a duplicate's answer */
    assert_int_equal(cstore_outbox_accept_at(x, id, 0, true, 5001, &first), ASYLINK_OK);
    assert_false(first);
    t_id(id, 2); /* purged on this node while a copy was on its way: the broker has it */
    cstore_purge_result res = {0};
    assert_int_equal(cstore_purge(x, id, true, NULL, &res), ASYLINK_OK);
    assert_int_equal(res.found, 1);
    first = false;
    assert_int_equal(cstore_outbox_accept_at(x, id, 0, true, 5002, &first), ASYLINK_OK);
    assert_true(first);
    t_id(id, 3); /* refused by the broker: no ACCEPTED after the REJECTED told */
    assert_int_equal(cstore_outbox_set_state(x, id, CSTORE_OUT_REJECTED, ASYLINK_E_POLICY, "no"),
                     ASYLINK_OK);
    first = true;
    assert_int_equal(cstore_outbox_accept_at(x, id, 0, true, 5003, &first), ASYLINK_OK);
    assert_false(first);
    t_id(id, 77); /* not in the outbox */
    first = true;
    assert_int_equal(cstore_outbox_accept_at(x, id, 0, true, 5004, &first), ASYLINK_E_NOT_FOUND);
    assert_false(first);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK); /* and in a later transaction */
    t_id(id, 1);
    first = true;
    assert_int_equal(cstore_outbox_accept_at(x, id, 0, false, 6000, &first), ASYLINK_OK);
    assert_false(first);
    t_id(id, 2);
    first = true;
    assert_int_equal(cstore_outbox_accept_at(x, id, 0, false, 6001, &first), ASYLINK_OK);
    assert_false(first);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    cstore_out o;
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK); /* the purged one: ACCEPTED */
    assert_int_equal(o.state, CSTORE_OUT_ACCEPTED);
    cstore_out_clear(&o);
}

/* cstore_outbox_reject(): only a PENDING entry becomes REJECTED (first); no REJECTED after
   ACCEPTED, nor a second one, nor one over a purge's. */
static void test_reject_once(void **state)
{
    tctx *t = *state;
    for (int i = 1; i <= 3; i++)
        t_send(t, i, 100);
    uint8_t id[16];
    cstore_txn *x = NULL;
    bool first = false;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    t_id(id, 1);
    assert_int_equal(cstore_outbox_accept_at(x, id, 0, false, 5000, NULL), ASYLINK_OK);
    first = true;
    assert_int_equal(cstore_outbox_reject(x, id, ASYLINK_E_POLICY, "no", &first), ASYLINK_OK);
    assert_false(first);
    t_id(id, 2);
    assert_int_equal(cstore_outbox_reject(x, id, ASYLINK_E_POLICY, "no", &first), ASYLINK_OK);
    assert_true(first);
    assert_int_equal(cstore_outbox_reject(x, id, ASYLINK_E_EXPIRED, "late", &first), ASYLINK_OK);
    assert_false(first);
    t_id(id, 3);
    cstore_purge_result res = {0};
    assert_int_equal(cstore_purge(x, id, true, NULL, &res), ASYLINK_OK);
    first = true;
    assert_int_equal(cstore_outbox_reject(x, id, ASYLINK_E_POLICY, "no", &first), ASYLINK_OK);
    assert_false(first);
    t_id(id, 77);
    first = true;
    assert_int_equal(cstore_outbox_reject(x, id, ASYLINK_E_POLICY, "no", &first),
                     ASYLINK_E_NOT_FOUND);
    assert_false(first);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    const int want[4] = {0, CSTORE_OUT_ACCEPTED, CSTORE_OUT_REJECTED, CSTORE_OUT_REJECTED};
    const int code[4] = {0, 0, ASYLINK_E_POLICY, ASYLINK_E_PURGED};
    for (int i = 1; i <= 3; i++) {
        cstore_out o;
        t_id(id, i);
        assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
        assert_int_equal(o.state, want[i]);
        assert_int_equal(o.code, code[i]);
        cstore_out_clear(&o);
    }
}

/* cstore_outbox_accept(): what cstore_sent_keep() + cstore_outbox_set_state() do, in one call. */
static void test_accept_in_one(void **state)
{
    tctx *t = *state;
    t_send(t, 1, 500);
    t_send(t, 2, 70000); /* on overflow pages */
    t_send(t, 3, 10);
    t_send(t, 4, 20);
    uint8_t id[16];
    cstore_txn *x = NULL;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    t_id(id, 1);
    assert_int_equal(cstore_outbox_accept(x, id, true, 5000), ASYLINK_OK);
    t_id(id, 2);
    assert_int_equal(cstore_outbox_accept(x, id, true, 6000), ASYLINK_OK);
    t_id(id, 3);
    assert_int_equal(cstore_outbox_accept(x, id, false, 7000), ASYLINK_OK); /* retention 0 */
    t_id(id, 1); /* a duplicate Accepted: the first copy and its time stay */
    assert_int_equal(cstore_outbox_accept(x, id, true, 8000), ASYLINK_OK);
    t_id(id, 77);
    assert_int_equal(cstore_outbox_accept(x, id, true, 8000), ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_outbox_accept(x, NULL, true, 8000), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_outbox_accept(NULL, id, true, 8000), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_true(t_kept(t, 1, 500, 5000));
    assert_true(t_kept(t, 2, 70000, 6000));
    assert_false(t_kept(t, 3, 10, 0));
    uint64_t n = 0;
    assert_int_equal(cstore_sent_count(t->s, &n), ASYLINK_OK);
    assert_int_equal(n, 2);
    for (int i = 1; i <= 3; i++) { /* ACCEPTED, envelope dropped, metadata intact */
        cstore_out o;
        t_id(id, i);
        assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
        assert_int_equal(o.state, CSTORE_OUT_ACCEPTED);
        assert_null(o.envelope);
        assert_int_equal(o.digest[0], i);
        assert_string_equal(o.recipients[0], "FR");
        cstore_out_clear(&o);
    }
    /* only 4 is still pending, and the pump finds only it */
    assert_int_equal(cstore_outbox_pending_count(t->s, &n), ASYLINK_OK);
    assert_int_equal(n, 1);
    cstore_out o;
    assert_int_equal(cstore_outbox_next_pending(t->s, 0, &o), ASYLINK_OK);
    assert_int_equal(o.id[15], 4);
    cstore_out_clear(&o);
    /* one age entry per copy: the sweep removes both and leaves nothing behind */
    assert_int_equal(t_sweep(t, UINT64_MAX, 10), 2);
    assert_int_equal(cstore_sent_count(t->s, &n), ASYLINK_OK);
    assert_int_equal(n, 0);
}

/* cstore_outbox_next_pending_many(): the pending ones in order, a batch at a time. */
static void test_pending_many(void **state)
{
    tctx *t = *state;
    for (int i = 1; i <= 5; i++)
        t_send(t, i, 10 * (size_t)i);
    t_accept(t, 2, 100, true);
    cstore_out o[4];
    size_t n = 9;
    assert_int_equal(cstore_outbox_next_pending_many(t->s, 0, o, 2, &n), ASYLINK_OK);
    assert_int_equal(n, 2);
    assert_int_equal(o[0].id[15], 1);
    assert_int_equal(o[1].id[15], 3); /* 2 is accepted: not pending */
    assert_int_equal(o[1].envelope_len, 30);
    assert_int_equal(o[1].envelope[0], 3);
    uint64_t after = o[1].seq;
    cstore_out_clear(&o[0]);
    cstore_out_clear(&o[1]);
    assert_int_equal(cstore_outbox_next_pending_many(t->s, after, o, 4, &n), ASYLINK_OK);
    assert_int_equal(n, 2);
    assert_int_equal(o[0].id[15], 4);
    assert_int_equal(o[1].id[15], 5);
    assert_true(o[0].seq > after && o[1].seq > o[0].seq);
    after = o[1].seq;
    cstore_out_clear(&o[0]);
    cstore_out_clear(&o[1]);
    assert_int_equal(cstore_outbox_next_pending_many(t->s, after, o, 4, &n), ASYLINK_E_NOT_FOUND);
    assert_int_equal(n, 0);
    assert_int_equal(cstore_outbox_next_pending_many(t->s, 0, o, 0, &n), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_outbox_next_pending_many(t->s, 0, NULL, 4, &n), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_outbox_next_pending_many(NULL, 0, o, 4, &n), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_outbox_next_pending_many(t->s, 0, o, 4, NULL), ASYLINK_E_INVALID_ARG);
}

static void test_keep_twice(void **state)
{
    tctx *t = *state;
    t_send(t, 1, 100);
    uint8_t id[16];
    t_id(id, 1);
    cstore_txn *x = NULL;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_sent_keep(x, id, 1000), ASYLINK_OK);
    assert_int_equal(cstore_sent_keep(x, id, 2000), ASYLINK_OK); /* the first copy stays */
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_true(t_kept(t, 1, 100, 1000));
    /* still PENDING: the kept envelope is the only one (stored once), needed to resend, so
       the sweep leaves it */
    assert_int_equal(t_sweep(t, UINT64_MAX, 10), 0);
    cstore_out o;
    assert_int_equal(cstore_outbox_next_pending(t->s, 0, &o), ASYLINK_OK);
    assert_int_equal(o.envelope_len, 100);
    assert_int_equal(o.envelope[0], 1);
    cstore_out_clear(&o);
    /* accepted: kept since the first keep; one envelope, one age entry: a sweep at 1000
       removes it and nothing is left behind */
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_outbox_set_state(x, id, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_true(t_kept(t, 1, 100, 1000));
    assert_int_equal(t_sweep(t, 1000, 10), 1);
    uint64_t n = 9;
    assert_int_equal(cstore_sent_count(t->s, &n), ASYLINK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(t_sweep(t, UINT64_MAX, 10), 0);
}

static void test_sweep_by_age(void **state)
{
    tctx *t = *state;
    /* accepted out of send order: 3 first, then 1, then 2 */
    for (int i = 1; i <= 4; i++)
        t_send(t, i, 64);
    t_accept(t, 3, 100, true);
    t_accept(t, 1, 200, true);
    t_accept(t, 2, 300, true);
    /* 4 stays pending: its envelope is in the outbox, for resending */
    assert_int_equal(t_sweep(t, 99, 10), 0);
    assert_int_equal(t_sweep(t, 100, 10), 1); /* the oldest, though sent third */
    assert_false(t_kept(t, 3, 64, 0));
    assert_true(t_kept(t, 1, 64, 200));
    assert_true(t_kept(t, 2, 64, 300));
    assert_int_equal(t_sweep(t, UINT64_MAX, 1), 1); /* bounded: one per call */
    assert_false(t_kept(t, 1, 64, 0));
    assert_true(t_kept(t, 2, 64, 300));
    assert_int_equal(t_sweep(t, UINT64_MAX, 0), 0);
    assert_int_equal(t_sweep(t, UINT64_MAX, 10), 1);
    assert_false(t_kept(t, 2, 64, 0));
    /* what exactly-once and receipts need is all there */
    uint64_t pending = 0;
    assert_int_equal(cstore_outbox_pending_count(t->s, &pending), ASYLINK_OK);
    assert_int_equal(pending, 1);
    cstore_out o;
    assert_int_equal(cstore_outbox_next_pending(t->s, 0, &o), ASYLINK_OK);
    assert_int_equal(o.envelope_len, 64);
    assert_int_equal(o.id[15], 4);
    cstore_out_clear(&o);
    for (int i = 1; i <= 3; i++) {
        uint8_t id[16];
        t_id(id, i);
        assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
        assert_int_equal(o.digest[0], i);
        assert_int_equal(o.n_recipients, 1);
        assert_string_equal(o.recipients[0], "FR");
        cstore_out_clear(&o);
    }
}

static void test_sweep_keeps_receipts(void **state)
{
    tctx *t = *state;
    t_send(t, 1, 64);
    t_accept(t, 1, 100, true);
    uint8_t id[16], renv[40];
    t_id(id, 1);
    memset(renv, 0xee, sizeof renv);
    asylink_receipt_info info = {.acked_ms = 150, .status = 1};
    snprintf(info.recipient, sizeof info.recipient, "FR");
    memset(info.envelope_digest, 1, 64);
    cstore_txn *x = NULL;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_receipt_put(x, id, &info, renv, sizeof renv), ASYLINK_OK);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_int_equal(t_sweep(t, UINT64_MAX, 100), 1);
    assert_false(t_kept(t, 1, 64, 0));
    asylink_receipt_info got;
    size_t n = 0;
    assert_int_equal(cstore_receipt_list(t->s, id, &got, 1, &n), ASYLINK_OK);
    assert_int_equal(n, 1);
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(cstore_receipt_envelope(t->s, id, "FR", &env, &len), ASYLINK_OK);
    assert_int_equal(len, sizeof renv);
    free(env);
    size_t removed = 7;
    assert_int_equal(cstore_sent_sweep(NULL, 0, 1, &removed), ASYLINK_E_INVALID_ARG);
    assert_int_equal(removed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keep_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_in_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accept_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reject_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_by_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_keeps_receipts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
