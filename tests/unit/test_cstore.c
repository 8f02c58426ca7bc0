/*
 * test_cstore.c — the client store: outbox (add, pending order, states,
 * what survives acceptance), inbox (duplicates, ack, tombstones), receipts,
 * sequences across reopen, the data directory lock, map growth, concurrent
 * writers and readers, corrupt records and schema versions. Every test gets
 * its own temporary directory, removed after.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asylink/asylink.h"
#include "cstore.h"
#include "stalereader.h"
#include "testfed.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

/* One test's world: a temporary directory and a store in root/data. */
typedef struct tctx {
    char root[64]; /* mkdtemp directory, removed by the teardown */
    char data[80]; /* root/data: the store's directory */
    bool durable;  /* for (re)opening */
    cstore *s;     /* the open store, or NULL */
} tctx;

static int setup(void **state)
{
    tctx *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->root, sizeof t->root, "/tmp/asylink-cstore-XXXXXX");
    if (!mkdtemp(t->root))
        return -1;
    snprintf(t->data, sizeof t->data, "%s/data", t->root);
    t->durable = true;
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

static void t_open(tctx *t)
{
    assert_int_equal(cstore_open(t->data, t->durable, &t->s), ASYLINK_OK);
    assert_non_null(t->s);
}

static void t_reopen(tctx *t)
{
    cstore_close(&t->s);
    assert_null(t->s);
    t_open(t);
}

/* A message id whose bytes derive from n. */
static void t_id(uint8_t id[16], unsigned n)
{
    for (unsigned i = 0; i < 16; i++)
        id[i] = (uint8_t)(n * 31u + i);
    id[0] = (uint8_t)(n >> 8);
    id[1] = (uint8_t)n;
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

/* Whether env (len bytes) is t_envelope(tag, len). */
static bool t_envelope_is(const uint8_t *env, size_t len, unsigned tag)
{
    for (size_t i = 0; i < len; i++)
        if (env[i] != t_byte(tag, i))
            return false;
    return true;
}

/* Adds outbox entry n (id, digest, envelope of len bytes from n) to rcpt in t. */
static int t_out_add_txn(cstore_txn *t, unsigned n, const char *const *rcpt, size_t len)
{
    uint8_t id[16], digest[64];
    t_id(id, n);
    memset(digest, (int)(n & 0xff), sizeof digest);
    size_t nr = 0;
    while (rcpt[nr])
        nr++;
    uint8_t *env = t_envelope(n, len);
    cstore_out_new m = {.id = id,
                        .recipients = rcpt,
                        .n_recipients = nr,
                        .digest = digest,
                        .created_ms = 1000 + n,
                        .envelope = env,
                        .envelope_len = len};
    int rc = cstore_outbox_add(t, &m, NULL);
    free(env);
    return rc;
}

/* Adds outbox entry n in its own transaction. */
static void t_out_add(tctx *t, unsigned n, const char *const *rcpt, size_t len)
{
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(t_out_add_txn(txn, n, rcpt, len), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_null(txn);
}

/* The inbox key of id from sender, through subscription sub (NULL: a direct message). */
static cstore_in_key t_key(const uint8_t *id, const char *sender, const char *sub)
{
    return (cstore_in_key){.id = id, .sender = sender, .subscription = sub};
}

/*
 * Adds inbox entry n from sender (through subscription sub, NULL for a
 * direct message) in its own transaction; returns the code, *state the state.
 */
static int t_in_add_sub(tctx *t, unsigned n, const char *sender, const char *sub, size_t len,
                        int *state)
{
    uint8_t id[16];
    t_id(id, n);
    uint8_t *env = t_envelope(n, len);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    cstore_in_key key = t_key(id, sender, sub);
    int rc = cstore_inbox_add(txn, &key, 500 + n, 2000 + n, env, len, state);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    free(env);
    return rc;
}

/* Adds direct inbox entry n from sender; returns the code, *state the state. */
static int t_in_add(tctx *t, unsigned n, const char *sender, size_t len, int *state)
{
    return t_in_add_sub(t, n, sender, NULL, len, state);
}

/* Sets outbox entry n's state in its own transaction; returns the code. */
static int t_out_state(tctx *t, unsigned n, int state, int code, const char *reason)
{
    uint8_t id[16];
    t_id(id, n);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    int rc = cstore_outbox_set_state(txn, id, state, code, reason);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    return rc;
}

/* Acks inbox entry n from sender (through sub) in its own transaction; returns the code. */
static int t_in_ack_sub(tctx *t, unsigned n, const char *sender, const char *sub)
{
    uint8_t id[16];
    t_id(id, n);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    cstore_in_key key = t_key(id, sender, sub);
    int rc = cstore_inbox_ack(txn, &key);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    return rc;
}

/* Acks direct inbox entry n from sender; returns the code. */
static int t_in_ack(tctx *t, unsigned n, const char *sender)
{
    return t_in_ack_sub(t, n, sender, NULL);
}

/* The outbox's pending count. */
static uint64_t t_out_pending(tctx *t)
{
    uint64_t n = 99;
    assert_int_equal(cstore_outbox_pending_count(t->s, &n), ASYLINK_OK);
    return n;
}

/* The inbox's pending count. */
static uint64_t t_in_pending(tctx *t)
{
    uint64_t n = 99;
    assert_int_equal(cstore_inbox_pending_count(t->s, &n), ASYLINK_OK);
    return n;
}

/* ---- raw LMDB access, for planting corrupt records (store closed) ---------- */

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

/* Puts key -> value into db directly. */
static void t_raw_put(tctx *t, const char *db, const void *key, size_t klen, const void *val,
                      size_t vlen)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    t_raw_open(t, db, &env, &txn, &dbi);
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    t_raw_close(env, txn);
}

/* Deletes key from db directly. */
static void t_raw_del(tctx *t, const char *db, const void *key, size_t klen)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    t_raw_open(t, db, &env, &txn, &dbi);
    MDB_val k = {klen, (void *)key};
    assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
    t_raw_close(env, txn);
}

/* Copies key's value in db out (malloc'd). */
static uint8_t *t_raw_get(tctx *t, const char *db, const void *key, size_t klen, size_t *len)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    t_raw_open(t, db, &env, &txn, &dbi);
    MDB_val k = {klen, (void *)key}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    uint8_t *copy = malloc(v.mv_size + 1);
    assert_non_null(copy);
    memcpy(copy, v.mv_data, v.mv_size);
    *len = v.mv_size;
    t_raw_close(env, txn);
    return copy;
}

/* A big-endian seq key. */
static void t_seq_key(uint8_t key[8], uint64_t seq)
{
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(seq >> (56 - 8 * i));
}

/* ---- outbox ------------------------------------------------------------- */

static void test_outbox(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *ab[] = {"AT", "BE", NULL}, *c[] = {"CY", NULL};
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    for (unsigned n = 1; n <= 3; n++)
        assert_int_equal(t_out_add_txn(txn, n, n == 2 ? c : ab, 100 * n), ASYLINK_OK);
    /* this thread may read while it holds the write txn: it sees the last commit */
    cstore_out o;
    uint8_t id[16];
    t_id(id, 1);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_out_pending(t), 0);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    t_out_add(t, 4, ab, 7);
    assert_int_equal(t_out_pending(t), 4);

    /* pending in seq order, everything as stored */
    uint64_t after = 0;
    for (unsigned n = 1; n <= 4; n++) {
        assert_int_equal(cstore_outbox_next_pending(t->s, after, &o), ASYLINK_OK);
        assert_int_equal(o.seq, n);
        t_id(id, n);
        assert_memory_equal(o.id, id, 16);
        assert_int_equal(o.state, CSTORE_OUT_PENDING);
        assert_int_equal(o.created_ms, 1000 + n);
        assert_int_equal(o.n_recipients, n == 2 ? 1 : 2);
        assert_string_equal(o.recipients[0], n == 2 ? "CY" : "AT");
        if (n != 2)
            assert_string_equal(o.recipients[1], "BE");
        assert_int_equal(o.digest[0], n);
        assert_int_equal(o.digest[63], n);
        size_t len = n == 4 ? 7 : 100 * n;
        assert_int_equal(o.envelope_len, len);
        assert_true(t_envelope_is(o.envelope, len, n));
        after = o.seq;
        cstore_out_clear(&o);
        assert_null(o.envelope);
        assert_null(o.recipients);
        assert_int_equal(o.seq, 0);
    }
    assert_int_equal(cstore_outbox_next_pending(t->s, after, &o), ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_outbox_next_pending(t->s, UINT64_MAX, &o), ASYLINK_E_NOT_FOUND);

    /* accepted and rejected ones leave the pending order and lose their envelope */
    assert_int_equal(t_out_state(t, 2, CSTORE_OUT_ACCEPTED, 0, NULL), ASYLINK_OK);
    assert_int_equal(t_out_state(t, 3, CSTORE_OUT_REJECTED, ASYLINK_E_POLICY, "not allowed"),
                     ASYLINK_OK);
    assert_int_equal(t_out_pending(t), 2);
    assert_int_equal(cstore_outbox_next_pending(t->s, 1, &o), ASYLINK_OK);
    assert_int_equal(o.seq, 4);
    cstore_out_clear(&o);

    t_id(id, 2);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
    assert_int_equal(o.seq, 2);
    assert_int_equal(o.state, CSTORE_OUT_ACCEPTED);
    assert_null(o.envelope);
    assert_int_equal(o.envelope_len, 0);
    assert_int_equal(o.n_recipients, 1);
    assert_string_equal(o.recipients[0], "CY");
    assert_int_equal(o.digest[0], 2);
    assert_int_equal(o.created_ms, 1002);
    assert_string_equal(o.reason, "");
    cstore_out_clear(&o);

    t_id(id, 3);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
    assert_int_equal(o.state, CSTORE_OUT_REJECTED);
    assert_int_equal(o.code, ASYLINK_E_POLICY);
    assert_string_equal(o.reason, "not allowed");
    assert_null(o.envelope);
    assert_int_equal(o.n_recipients, 2);
    assert_string_equal(o.recipients[1], "BE");
    cstore_out_clear(&o);

    t_id(id, 4); /* a pending one by id has its envelope */
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
    assert_int_equal(o.envelope_len, 7);
    assert_true(t_envelope_is(o.envelope, 7, 4));
    cstore_out_clear(&o);

    /* accepting again is harmless; unknown ids and bad states are refused */
    assert_int_equal(t_out_state(t, 2, CSTORE_OUT_ACCEPTED, 0, NULL), ASYLINK_OK);
    assert_int_equal(t_out_state(t, 99, CSTORE_OUT_ACCEPTED, 0, NULL), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_out_state(t, 4, CSTORE_OUT_PENDING, 0, NULL), ASYLINK_E_INVALID_ARG);
    t_id(id, 99);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_out_pending(t), 2);
}

static void test_outbox_reason_truncated(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *a[] = {"AT", NULL};
    t_out_add(t, 1, a, 10);
    char reason[400];
    memset(reason, 'x', sizeof reason);
    memcpy(reason + 254, "\xc3\xa9", 2); /* an 'é' across the 255-byte limit */
    reason[sizeof reason - 1] = 0;
    assert_int_equal(t_out_state(t, 1, CSTORE_OUT_REJECTED, ASYLINK_E_POLICY, reason), ASYLINK_OK);
    cstore_out o;
    uint8_t id[16];
    t_id(id, 1);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
    assert_int_equal(strlen(o.reason), 254); /* cut before the character, not inside it */
    cstore_out_clear(&o);
}

static void test_outbox_duplicate(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *a[] = {"AT", NULL};
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(t_out_add_txn(txn, 1, a, 10), ASYLINK_OK);
    assert_int_equal(t_out_add_txn(txn, 1, a, 20), ASYLINK_E_EXISTS); /* same txn */
    assert_int_equal(t_out_add_txn(txn, 2, a, 10), ASYLINK_OK);       /* txn still usable */
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(t_out_add_txn(txn, 1, a, 30), ASYLINK_E_EXISTS); /* committed one */
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(t_out_pending(t), 2);
    cstore_out o;
    uint8_t id[16];
    t_id(id, 1);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
    assert_int_equal(o.envelope_len, 10); /* the first one stays */
    cstore_out_clear(&o);
    /* even once accepted */
    assert_int_equal(t_out_state(t, 1, CSTORE_OUT_ACCEPTED, 0, NULL), ASYLINK_OK);
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(t_out_add_txn(txn, 1, a, 10), ASYLINK_E_EXISTS);
    cstore_abort(&txn);
    assert_null(txn);
}

static void test_invalid_args(void **state)
{
    tctx *t = *state;
    t_open(t);
    cstore *s2 = (cstore *)1;
    assert_int_equal(cstore_open(NULL, true, &s2), ASYLINK_E_INVALID_ARG);
    assert_null(s2);
    assert_int_equal(cstore_open(t->data, true, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_begin(NULL, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_commit(NULL), ASYLINK_E_INVALID_ARG);
    cstore_abort(NULL);
    cstore_close(NULL);
    cstore_out_clear(NULL);
    cstore_in_clear(NULL);

    uint8_t id[16] = {1}, digest[64] = {0}, env[4] = {1, 2, 3, 4};
    char long_name[80];
    memset(long_name, 'A', sizeof long_name);
    long_name[65] = 0;
    const char *ok[] = {"AT"}, *empty[] = {""}, *toolong[] = {long_name}, *null[] = {NULL};
    cstore_out_new m = {.id = id,
                        .recipients = ok,
                        .n_recipients = 1,
                        .digest = digest,
                        .envelope = env,
                        .envelope_len = sizeof env};
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    cstore_out_new bad = m;
    bad.envelope_len = 0;
    assert_int_equal(cstore_outbox_add(txn, &bad, NULL), ASYLINK_E_INVALID_ARG);
    bad = m;
    bad.recipients = NULL; /* recipients missing */
    assert_int_equal(cstore_outbox_add(txn, &bad, NULL), ASYLINK_E_INVALID_ARG);
    bad.recipients = empty;
    assert_int_equal(cstore_outbox_add(txn, &bad, NULL), ASYLINK_E_INVALID_ARG);
    bad.recipients = toolong;
    assert_int_equal(cstore_outbox_add(txn, &bad, NULL), ASYLINK_E_INVALID_ARG);
    bad.recipients = null;
    assert_int_equal(cstore_outbox_add(txn, &bad, NULL), ASYLINK_E_INVALID_ARG);
    bad = m;
    bad.digest = NULL;
    assert_int_equal(cstore_outbox_add(txn, &bad, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_outbox_add(txn, NULL, NULL), ASYLINK_E_INVALID_ARG);
    cstore_in_key k = t_key(id, "", NULL);
    assert_int_equal(cstore_inbox_add(txn, &k, 1, 1, env, 4, NULL), ASYLINK_E_INVALID_ARG);
    k = t_key(id, long_name, NULL);
    assert_int_equal(cstore_inbox_add(txn, &k, 1, 1, env, 4, NULL), ASYLINK_E_INVALID_ARG);
    k = t_key(id, NULL, NULL);
    assert_int_equal(cstore_inbox_add(txn, &k, 1, 1, env, 4, NULL), ASYLINK_E_INVALID_ARG);
    k = t_key(NULL, "AT", NULL);
    assert_int_equal(cstore_inbox_add(txn, &k, 1, 1, env, 4, NULL), ASYLINK_E_INVALID_ARG);
    k = t_key(id, "AT", long_name); /* 65 bytes: one more than a subscription name may have */
    assert_int_equal(cstore_inbox_add(txn, &k, 1, 1, env, 4, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_inbox_add(txn, NULL, 1, 1, env, 4, NULL), ASYLINK_E_INVALID_ARG);
    k = t_key(id, "AT", NULL);
    assert_int_equal(cstore_inbox_add(txn, &k, 1, 1, env, 0, NULL), ASYLINK_E_INVALID_ARG);
    asylink_receipt_info info = {.recipient = "AT", .status = 3};
    assert_int_equal(cstore_receipt_put(txn, id, &info, env, 4), ASYLINK_E_INVALID_ARG);
    info.status = 1;
    assert_int_equal(cstore_receipt_put(txn, id, &info, env, 0), ASYLINK_E_INVALID_ARG);
    info.recipient[0] = 0;
    assert_int_equal(cstore_receipt_put(txn, id, &info, env, 4), ASYLINK_E_INVALID_ARG);
    uint64_t seq_m = 0, seq_feed = 0;
    assert_int_equal(cstore_outbox_add(txn, &m, &seq_m), ASYLINK_OK); /* nothing broke the txn */
    /* A feed message has no recipients (and gets no receipts). */
    uint8_t feed_id[16] = {2};
    cstore_out_new feed = m;
    feed.id = feed_id;
    feed.recipients = NULL;
    feed.n_recipients = 0;
    assert_int_equal(cstore_outbox_add(txn, &feed, &seq_feed), ASYLINK_OK);
    /* The seqs given out (early publishing names entries by them): increasing, and the store's. */
    assert_true(seq_m > 0);
    assert_int_equal(seq_feed, seq_m + 1);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(cstore_outbox_add(NULL, &m, NULL), ASYLINK_E_INVALID_ARG);
    cstore_out fo;
    assert_int_equal(cstore_outbox_get(t->s, feed_id, &fo), ASYLINK_OK);
    assert_int_equal(fo.seq, seq_feed);
    assert_int_equal(fo.n_recipients, 0);
    assert_int_equal(fo.envelope_len, sizeof env);
    cstore_out_clear(&fo);
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_outbox_set_state(txn, feed_id, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(cstore_outbox_get(t->s, feed_id, &fo), ASYLINK_OK);
    assert_int_equal(fo.state, CSTORE_OUT_ACCEPTED);
    assert_int_equal(fo.n_recipients, 0);
    cstore_out_clear(&fo);

    size_t n = 7;
    asylink_receipt_info out[1];
    assert_int_equal(cstore_receipt_list(t->s, id, NULL, 1, &n), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_receipt_list(t->s, id, out, 1, NULL), ASYLINK_E_INVALID_ARG);
    uint8_t *e = NULL;
    size_t elen;
    assert_int_equal(cstore_receipt_envelope(t->s, id, "", &e, &elen), ASYLINK_E_INVALID_ARG);
    uint64_t count;
    assert_int_equal(cstore_outbox_pending_count(NULL, &count), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_inbox_pending_count(t->s, NULL), ASYLINK_E_INVALID_ARG);
    int st;
    assert_int_equal(cstore_inbox_state(t->s, NULL, &st), ASYLINK_E_INVALID_ARG);
    k = t_key(NULL, "AT", NULL);
    assert_int_equal(cstore_inbox_state(t->s, &k, &st), ASYLINK_E_INVALID_ARG);
    cstore_in in;
    assert_int_equal(cstore_inbox_get(t->s, &k, &in), ASYLINK_E_INVALID_ARG);
    size_t np = 9, na = 9;
    assert_int_equal(cstore_inbox_find(t->s, NULL, NULL, 0, &np, &na), ASYLINK_E_INVALID_ARG);
    assert_int_equal(np + na, 0);
    assert_int_equal(cstore_inbox_find(t->s, id, NULL, 1, &np, &na), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_inbox_find(t->s, id, NULL, 0, NULL, &na), ASYLINK_E_INVALID_ARG);
}

/* ---- inbox -------------------------------------------------------------- */

static void test_inbox(void **state)
{
    tctx *t = *state;
    t_open(t);
    int st = -1;
    assert_int_equal(t_in_add(t, 1, "AT", 50, &st), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_PENDING);
    assert_int_equal(t_in_add(t, 2, "BE", 60, NULL), ASYLINK_OK);
    assert_int_equal(t_in_add(t, 3, "CY", 70, &st), ASYLINK_OK);
    assert_int_equal(t_in_pending(t), 3);

    /* a redelivery is recognised and changes nothing */
    st = -1;
    assert_int_equal(t_in_add(t, 2, "BE", 999, &st), ASYLINK_E_DUPLICATE);
    assert_int_equal(st, CSTORE_IN_PENDING);
    assert_int_equal(t_in_pending(t), 3);

    cstore_in in;
    uint64_t after = 0;
    const char *senders[] = {"AT", "BE", "CY"};
    for (unsigned n = 1; n <= 3; n++) {
        assert_int_equal(cstore_inbox_next_pending(t->s, after, &in), ASYLINK_OK);
        assert_int_equal(in.seq, n);
        uint8_t id[16];
        t_id(id, n);
        assert_memory_equal(in.id, id, 16);
        assert_int_equal(in.state, CSTORE_IN_PENDING);
        assert_string_equal(in.sender, senders[n - 1]);
        assert_int_equal(in.broker_seq, 500 + n);
        assert_int_equal(in.received_ms, 2000 + n);
        assert_int_equal(in.envelope_len, 40 + 10 * n);
        assert_true(t_envelope_is(in.envelope, in.envelope_len, n));
        after = in.seq;
        cstore_in_clear(&in);
        assert_null(in.envelope);
    }
    assert_int_equal(cstore_inbox_next_pending(t->s, after, &in), ASYLINK_E_NOT_FOUND);

    /* ack: gone from the pending order and from get, the tombstone stays */
    uint8_t id2[16];
    t_id(id2, 2);
    cstore_in_key k2 = t_key(id2, "BE", NULL);
    assert_int_equal(cstore_inbox_get(t->s, &k2, &in), ASYLINK_OK);
    assert_int_equal(in.envelope_len, 60);
    assert_string_equal(in.subscription, "");
    cstore_in_clear(&in);
    assert_int_equal(t_in_ack(t, 2, "BE"), ASYLINK_OK);
    assert_int_equal(t_in_ack(t, 2, "BE"), ASYLINK_OK); /* twice is fine */
    assert_int_equal(t_in_pending(t), 2);
    assert_int_equal(cstore_inbox_get(t->s, &k2, &in), ASYLINK_E_NOT_FOUND);
    assert_null(in.envelope);
    st = 0;
    assert_int_equal(cstore_inbox_state(t->s, &k2, &st), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_ACKED);
    st = 0;
    assert_int_equal(t_in_add(t, 2, "BE", 60, &st), ASYLINK_E_DUPLICATE);
    assert_int_equal(st, CSTORE_IN_ACKED);
    assert_int_equal(cstore_inbox_next_pending(t->s, 1, &in), ASYLINK_OK);
    assert_int_equal(in.seq, 3);
    cstore_in_clear(&in);

    /* the tombstone keeps no envelope bytes */
    cstore_close(&t->s);
    uint8_t key[8];
    t_seq_key(key, 2);
    size_t len;
    uint8_t *rec = t_raw_get(t, "inbox", key, 8, &len);
    assert_int_equal(len, 112 + 2);
    free(rec);
    t_open(t);

    /* unknown ids */
    uint8_t id9[16];
    t_id(id9, 9);
    cstore_in_key k9 = t_key(id9, "AT", NULL);
    assert_int_equal(t_in_ack(t, 9, "AT"), ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_inbox_state(t->s, &k9, &st), ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_inbox_get(t->s, &k9, &in), ASYLINK_E_NOT_FOUND);
    st = 0;
    uint8_t id1[16];
    t_id(id1, 1);
    cstore_in_key k1 = t_key(id1, "AT", NULL);
    assert_int_equal(cstore_inbox_state(t->s, &k1, &st), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_PENDING);
    /* the id from another sender, or through a subscription, is another entry */
    k1.sender = "BE";
    assert_int_equal(cstore_inbox_state(t->s, &k1, &st), ASYLINK_E_NOT_FOUND);
    k1.sender = "AT";
    k1.subscription = "stats";
    assert_int_equal(cstore_inbox_state(t->s, &k1, &st), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_in_ack(t, 1, "BE"), ASYLINK_E_NOT_FOUND);
}

/* One message id from two senders: two entries (the key is sender and id), each acked alone. */
static void test_inbox_two_senders(void **state)
{
    tctx *t = *state;
    t_open(t);
    int st = -1;
    assert_int_equal(t_in_add(t, 1, "AT", 50, &st), ASYLINK_OK);
    st = -1;
    assert_int_equal(t_in_add(t, 1, "BE", 50, &st), ASYLINK_OK); /* not a duplicate */
    assert_int_equal(st, CSTORE_IN_PENDING);
    assert_int_equal(t_in_pending(t), 2);
    assert_int_equal(t_in_add(t, 1, "BE", 50, &st), ASYLINK_E_DUPLICATE);
    assert_int_equal(t_in_pending(t), 2);
    assert_int_equal(t_in_ack(t, 1, "AT"), ASYLINK_OK);
    assert_int_equal(t_in_pending(t), 1);
    cstore_in in;
    assert_int_equal(cstore_inbox_next_pending(t->s, 0, &in), ASYLINK_OK);
    assert_string_equal(in.sender, "BE"); /* BE's message is still there */
    assert_int_equal(in.seq, 2);
    cstore_in_clear(&in);
    assert_int_equal(t_in_add(t, 1, "AT", 50, &st), ASYLINK_E_DUPLICATE);
    assert_int_equal(st, CSTORE_IN_ACKED);
}

/*
 * One feed message delivered through two subscriptions: two entries, each
 * with its subscription, acknowledged one at a time; cstore_inbox_find
 * lists every entry of the id.
 */
static void test_inbox_subscriptions(void **state)
{
    tctx *t = *state;
    t_open(t);
    int st = -1;
    assert_int_equal(t_in_add_sub(t, 1, "EUAA", "stats-a", 40, &st), ASYLINK_OK);
    assert_int_equal(t_in_add_sub(t, 1, "EUAA", "stats-b", 40, &st), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_PENDING);
    assert_int_equal(t_in_add_sub(t, 1, "EUAA", "stats-a", 40, &st), ASYLINK_E_DUPLICATE);
    assert_int_equal(t_in_add(t, 1, "EUAA", 40, &st), ASYLINK_OK); /* and as a direct message */
    assert_int_equal(t_in_pending(t), 3);

    cstore_in in;
    const char *subs[] = {"stats-a", "stats-b", ""};
    uint64_t after = 0;
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(cstore_inbox_next_pending(t->s, after, &in), ASYLINK_OK);
        assert_string_equal(in.subscription, subs[i]);
        assert_string_equal(in.sender, "EUAA");
        assert_true(t_envelope_is(in.envelope, in.envelope_len, 1));
        after = in.seq;
        cstore_in_clear(&in);
    }

    uint8_t id[16];
    t_id(id, 1);
    cstore_in_ref refs[4];
    size_t np = 0, na = 0;
    assert_int_equal(cstore_inbox_find(t->s, id, refs, 4, &np, &na), ASYLINK_OK);
    assert_int_equal(np, 3);
    assert_int_equal(na, 0);
    assert_int_equal(t_in_ack_sub(t, 1, "EUAA", "stats-a"), ASYLINK_OK);
    assert_int_equal(cstore_inbox_find(t->s, id, refs, 1, &np, &na), ASYLINK_OK);
    assert_int_equal(np, 2); /* counted in full, one written */
    assert_int_equal(na, 1);
    assert_string_equal(refs[0].sender, "EUAA");
    assert_true(strcmp(refs[0].subscription, "stats-b") == 0 || refs[0].subscription[0] == 0);
    assert_int_equal(refs[0].state, CSTORE_IN_PENDING);
    assert_int_equal(t_in_pending(t), 2);
    cstore_in_key kb = t_key(id, "EUAA", "stats-b");
    assert_int_equal(cstore_inbox_get(t->s, &kb, &in), ASYLINK_OK); /* b's copy is untouched */
    assert_string_equal(in.subscription, "stats-b");
    cstore_in_clear(&in);
    cstore_in_key ka = t_key(id, "EUAA", "stats-a");
    assert_int_equal(cstore_inbox_state(t->s, &ka, &st), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_ACKED);
    assert_int_equal(t_in_add_sub(t, 1, "EUAA", "stats-a", 40, &st), ASYLINK_E_DUPLICATE);
    assert_int_equal(st, CSTORE_IN_ACKED);

    /* the tombstone keeps sender and subscription, no envelope */
    cstore_close(&t->s);
    uint8_t key[8];
    t_seq_key(key, 1);
    size_t len;
    uint8_t *rec = t_raw_get(t, "inbox", key, 8, &len);
    assert_int_equal(len, 112 + 4 + 7);
    assert_int_equal(rec[4], 7);
    assert_memory_equal(rec + 112, "EUAAstats-a", 11);
    free(rec);
    t_open(t);
    uint8_t other[16];
    t_id(other, 2);
    assert_int_equal(cstore_inbox_find(t->s, other, NULL, 0, &np, &na), ASYLINK_OK);
    assert_int_equal(np + na, 0);

    /* several ids in one read: each as cstore_inbox_find() with max 1 finds it */
    assert_int_equal(t_in_add(t, 3, "EUAA", 40, &st), ASYLINK_OK);
    uint8_t ids[4][16];
    t_id(ids[0], 1); /* two PENDING, one ACKED */
    t_id(ids[1], 2); /* unknown */
    t_id(ids[2], 3); /* one PENDING */
    t_id(ids[3], 1); /* the same id again */
    cstore_in_ref many[4];
    size_t mp[4], ma[4];
    int rcs[4];
    assert_int_equal(cstore_inbox_find_many(t->s, (const uint8_t(*)[16])ids, 4, many, mp, ma, rcs),
                     ASYLINK_OK);
    for (unsigned i = 0; i < 4; i++) {
        cstore_in_ref one;
        assert_int_equal(rcs[i], cstore_inbox_find(t->s, ids[i], &one, 1, &np, &na));
        assert_int_equal(mp[i], np);
        assert_int_equal(ma[i], na);
        if (np) {
            assert_int_equal(many[i].seq, one.seq);
            assert_string_equal(many[i].sender, one.sender);
            assert_string_equal(many[i].subscription, one.subscription);
        }
    }
    assert_int_equal(mp[0], 2);
    assert_int_equal(ma[0], 1);
    assert_int_equal(mp[1] + ma[1], 0);
    assert_int_equal(mp[2], 1);
    assert_int_equal(cstore_inbox_find_many(t->s, NULL, 1, many, mp, ma, rcs),
                     ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_inbox_find_many(t->s, NULL, 0, NULL, NULL, NULL, NULL), ASYLINK_OK);
}

/* cstore_inbox_ack_at(): the entry at seq when it holds the key, else the key's entry. */
static void test_inbox_ack_at(void **state)
{
    tctx *t = *state;
    t_open(t);
    int st = -1;
    for (unsigned i = 1; i <= 3; i++)
        assert_int_equal(t_in_add(t, i, "AT", 40, &st), ASYLINK_OK);
    uint8_t id[4][16];
    uint64_t seq[4] = {0};
    for (unsigned i = 1; i <= 3; i++) {
        t_id(id[i], i);
        cstore_in_ref ref;
        size_t np = 0, na = 0;
        assert_int_equal(cstore_inbox_find(t->s, id[i], &ref, 1, &np, &na), ASYLINK_OK);
        assert_int_equal(np, 1);
        seq[i] = ref.seq;
    }
    cstore_in_key k1 = t_key(id[1], "AT", NULL), k2 = t_key(id[2], "AT", NULL),
                  k3 = t_key(id[3], "AT", NULL), wrong = t_key(id[3], "BE", NULL);
    cstore_txn *x = NULL;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_inbox_ack_at(x, &k1, seq[1]), ASYLINK_OK); /* its own seq */
    assert_int_equal(cstore_inbox_ack_at(x, &k1, seq[1]), ASYLINK_OK); /* acked before */
    assert_int_equal(cstore_inbox_ack_at(x, &k2, seq[3]), ASYLINK_OK); /* another's seq */
    assert_int_equal(cstore_inbox_ack_at(x, &wrong, seq[3]), ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_int_equal(cstore_inbox_state(t->s, &k1, &st), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_ACKED);
    assert_int_equal(cstore_inbox_state(t->s, &k2, &st), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_ACKED);
    assert_int_equal(cstore_inbox_state(t->s, &k3, &st), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_PENDING); /* the hinted seq's entry is not someone else's ack */
    assert_int_equal(t_in_pending(t), 1);
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_inbox_ack_at(x, &k3, 999999), ASYLINK_OK); /* no such seq */
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_int_equal(t_in_pending(t), 0);
}

/* An ack and an outbox add in one transaction, the second failing: abort keeps neither. */
static void test_abort(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *a[] = {"AT", NULL};
    assert_int_equal(t_in_add(t, 1, "AT", 10, NULL), ASYLINK_OK);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    uint8_t id[16];
    t_id(id, 1);
    cstore_in_key k = t_key(id, "AT", NULL);
    assert_int_equal(cstore_inbox_ack(txn, &k), ASYLINK_OK);
    assert_int_equal(t_out_add_txn(txn, 5, a, 10), ASYLINK_OK);
    cstore_abort(&txn);
    assert_null(txn);
    assert_int_equal(t_in_pending(t), 1);
    assert_int_equal(t_out_pending(t), 0);
    cstore_out o;
    t_id(id, 5);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_E_NOT_FOUND);
}

/* ---- receipts ----------------------------------------------------------- */

static void t_receipt_put(tctx *t, unsigned n, const char *recipient, int status, uint64_t acked_ms,
                          unsigned tag, size_t len)
{
    uint8_t id[16];
    t_id(id, n);
    asylink_receipt_info info = {.acked_ms = acked_ms, .status = status};
    snprintf(info.recipient, sizeof info.recipient, "%s", recipient);
    memset(info.envelope_digest, (int)tag, sizeof info.envelope_digest);
    uint8_t *env = t_envelope(tag, len);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_receipt_put(txn, id, &info, env, len), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    free(env);
}

static void test_receipts(void **state)
{
    tctx *t = *state;
    t_open(t);
    /* "AT" and "ATX" share a prefix; ids 1 and 2 are neighbouring keys */
    t_receipt_put(t, 1, "BE", 1, 100, 11, 50);
    t_receipt_put(t, 1, "AT", 1, 101, 12, 60);
    t_receipt_put(t, 1, "ATX", 2, 102, 13, 70);
    t_receipt_put(t, 2, "AT", 1, 200, 21, 80);

    uint8_t id1[16], id2[16], id3[16];
    t_id(id1, 1);
    t_id(id2, 2);
    t_id(id3, 3);
    asylink_receipt_info r[4];
    size_t n = 0;
    assert_int_equal(cstore_receipt_list(t->s, id1, r, 4, &n), ASYLINK_OK);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].recipient, "AT"); /* by recipient */
    assert_int_equal(r[0].acked_ms, 101);
    assert_int_equal(r[0].status, 1);
    assert_int_equal(r[0].envelope_digest[0], 12);
    assert_string_equal(r[1].recipient, "ATX");
    assert_int_equal(r[1].status, 2);
    assert_string_equal(r[2].recipient, "BE");
    assert_int_equal(r[2].envelope_digest[63], 11);

    memset(r, 0, sizeof r);
    assert_int_equal(cstore_receipt_list(t->s, id1, r, 1, &n), ASYLINK_OK);
    assert_int_equal(n, 3); /* how many are held, more than fit */
    assert_string_equal(r[0].recipient, "AT");
    assert_string_equal(r[1].recipient, "");
    assert_int_equal(cstore_receipt_list(t->s, id1, NULL, 0, &n), ASYLINK_OK);
    assert_int_equal(n, 3);
    assert_int_equal(cstore_receipt_list(t->s, id2, r, 4, &n), ASYLINK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(cstore_receipt_list(t->s, id3, r, 4, &n), ASYLINK_OK);
    assert_int_equal(n, 0);

    /* the evidence, then replaced */
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(cstore_receipt_envelope(t->s, id1, "ATX", &env, &len), ASYLINK_OK);
    assert_int_equal(len, 70);
    assert_true(t_envelope_is(env, len, 13));
    free(env);
    t_receipt_put(t, 1, "ATX", 1, 300, 14, 90);
    assert_int_equal(cstore_receipt_list(t->s, id1, r, 4, &n), ASYLINK_OK);
    assert_int_equal(n, 3);
    assert_string_equal(r[1].recipient, "ATX");
    assert_int_equal(r[1].status, 1);
    assert_int_equal(r[1].acked_ms, 300);
    assert_int_equal(r[1].envelope_digest[0], 14);
    assert_int_equal(cstore_receipt_envelope(t->s, id1, "ATX", &env, &len), ASYLINK_OK);
    assert_int_equal(len, 90);
    assert_true(t_envelope_is(env, len, 14));
    free(env);

    env = (uint8_t *)1;
    assert_int_equal(cstore_receipt_envelope(t->s, id1, "CY", &env, &len), ASYLINK_E_NOT_FOUND);
    assert_null(env);
    assert_int_equal(len, 0);
    assert_int_equal(cstore_receipt_envelope(t->s, id3, "AT", &env, &len), ASYLINK_E_NOT_FOUND);
}

/* One receipt envelope proving several messages is stored once and cited by each. */
static void test_receipt_sets(void **state)
{
    tctx *t = *state;
    t_open(t);
    uint8_t ids[3][16];
    asylink_receipt_info infos[3];
    for (unsigned i = 0; i < 3; i++) {
        t_id(ids[i], 10 + i);
        infos[i] = (asylink_receipt_info){.acked_ms = 500 + i, .status = 1};
        snprintf(infos[i].recipient, sizeof infos[i].recipient, "FR");
        memset(infos[i].envelope_digest, (int)(40 + i), sizeof infos[i].envelope_digest);
    }
    uint8_t *env = t_envelope(77, 3000);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    /* an invalid entry anywhere writes nothing */
    infos[2].status = 9;
    assert_int_equal(cstore_receipt_put_many(txn, (const uint8_t(*)[16])ids, infos, 3, env, 3000),
                     ASYLINK_E_INVALID_ARG);
    infos[2].status = 1;
    assert_int_equal(cstore_receipt_put_many(txn, (const uint8_t(*)[16])ids, infos, 0, env, 3000),
                     ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_receipt_put_many(txn, (const uint8_t(*)[16])ids, infos, 3, env, 3000),
                     ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    for (unsigned i = 0; i < 3; i++) {
        asylink_receipt_info r;
        size_t n = 0;
        assert_int_equal(cstore_receipt_list(t->s, ids[i], &r, 1, &n), ASYLINK_OK);
        assert_int_equal(n, 1);
        assert_int_equal(r.acked_ms, 500 + i);
        assert_int_equal(r.envelope_digest[0], 40 + i);
        uint8_t *got = NULL;
        size_t len = 0;
        assert_int_equal(cstore_receipt_envelope(t->s, ids[i], "FR", &got, &len), ASYLINK_OK);
        assert_int_equal(len, 3000);
        assert_true(t_envelope_is(got, len, 77));
        free(got);
    }
    /* the envelope is stored once: three small values cite one evidence entry */
    uint8_t key[16 + 2];
    memcpy(key, ids[0], 16);
    memcpy(key + 16, "FR", 2);
    size_t vlen = 0;
    uint8_t *val = t_raw_get(t, "receipts", key, sizeof key, &vlen);
    assert_int_equal(vlen, 88 + 32);
    assert_int_equal(val[0], 2);
    t_raw_del(t, "evidence", val + 88, 32);
    uint8_t *got = NULL;
    size_t len = 0;
    assert_int_equal(cstore_receipt_envelope(t->s, ids[0], "FR", &got, &len), ASYLINK_E_IO);
    assert_null(got);
    /* a store written before receipt sets held the envelope inline (value version 1) */
    uint8_t old[88 + 5] = {1};
    old[4] = 1;  /* status delivered */
    old[80] = 5; /* envelope length */
    memcpy(old + 88,
           "\x0a\x03"
           "abc",
           5);
    t_raw_put(t, "receipts", key, sizeof key, old, sizeof old);
    assert_int_equal(cstore_receipt_envelope(t->s, ids[0], "FR", &got, &len), ASYLINK_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(got,
                        "\x0a\x03"
                        "abc",
                        5);
    free(got);
    old[80] = 6; /* a length that does not add up */
    t_raw_put(t, "receipts", key, sizeof key, old, sizeof old);
    assert_int_equal(cstore_receipt_envelope(t->s, ids[0], "FR", &got, &len), ASYLINK_E_IO);
    free(val);
    free(env);
}

/* The revocation list number a node used survives reopening. */
static void test_crl_number(void **state)
{
    tctx *t = *state;
    t_open(t);
    uint64_t ca = 9, number = 9;
    assert_int_equal(cstore_crl_get(t->s, &ca, &number), ASYLINK_OK);
    assert_int_equal(ca, 0);
    assert_int_equal(number, 0);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_crl_put(txn, 0x1122334455667788ull, 41), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    cstore_close(&t->s);
    t_open(t);
    assert_int_equal(cstore_crl_get(t->s, &ca, &number), ASYLINK_OK);
    assert_int_equal(ca, 0x1122334455667788ull);
    assert_int_equal(number, 41);
    assert_int_equal(cstore_crl_get(t->s, NULL, &number), ASYLINK_E_INVALID_ARG);
    t_raw_put(t, "meta", "crl_number", 10, "abc", 3); /* a scribbled value */
    assert_int_equal(cstore_crl_get(t->s, &ca, &number), ASYLINK_E_IO);
}

/* ---- persistence -------------------------------------------------------- */

static void test_persistence(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *a[] = {"AT", NULL};
    for (unsigned n = 1; n <= 3; n++) {
        t_out_add(t, n, a, 10);
        assert_int_equal(t_in_add(t, n, "BE", 20, NULL), ASYLINK_OK);
    }
    assert_int_equal(t_out_state(t, 1, CSTORE_OUT_ACCEPTED, 0, NULL), ASYLINK_OK);
    assert_int_equal(t_in_ack(t, 1, "BE"), ASYLINK_OK);
    t_receipt_put(t, 1, "AT", 1, 5, 1, 10);
    t_reopen(t);

    /* everything is still there */
    assert_int_equal(t_out_pending(t), 2);
    assert_int_equal(t_in_pending(t), 2);
    cstore_out o;
    cstore_in in;
    assert_int_equal(cstore_outbox_next_pending(t->s, 0, &o), ASYLINK_OK);
    assert_int_equal(o.seq, 2);
    cstore_out_clear(&o);
    assert_int_equal(cstore_inbox_next_pending(t->s, 0, &in), ASYLINK_OK);
    assert_int_equal(in.seq, 2);
    cstore_in_clear(&in);
    int st = 0;
    assert_int_equal(t_in_add(t, 1, "BE", 20, &st), ASYLINK_E_DUPLICATE);
    assert_int_equal(st, CSTORE_IN_ACKED);
    size_t n = 0;
    uint8_t id[16];
    t_id(id, 1);
    assert_int_equal(cstore_receipt_list(t->s, id, NULL, 0, &n), ASYLINK_OK);
    assert_int_equal(n, 1);

    /* sequences continue after the highest ever given, even when the retention
       sweep deleted every entry (the last ones included) */
    for (unsigned k = 2; k <= 3; k++) {
        assert_int_equal(t_out_state(t, k, CSTORE_OUT_ACCEPTED, 0, NULL), ASYLINK_OK);
        assert_int_equal(t_in_ack(t, k, "BE"), ASYLINK_OK);
    }
    cstore_sweep_stats swept = {0};
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_retention_sweep(txn, UINT64_MAX, 100, &swept, NULL), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(swept.outbox, 3);
    assert_int_equal(swept.inbox, 3);
    t_reopen(t);
    t_out_add(t, 4, a, 10);
    assert_int_equal(t_in_add(t, 4, "BE", 20, NULL), ASYLINK_OK);
    assert_int_equal(cstore_outbox_next_pending(t->s, 2, &o), ASYLINK_OK);
    assert_int_equal(o.seq, 4);
    cstore_out_clear(&o);
    assert_int_equal(cstore_inbox_next_pending(t->s, 2, &in), ASYLINK_OK);
    assert_int_equal(in.seq, 4);
    cstore_in_clear(&in);
    t_reopen(t);
    t_out_add(t, 5, a, 10);
    assert_int_equal(cstore_outbox_next_pending(t->s, 4, &o), ASYLINK_OK);
    assert_int_equal(o.seq, 5);
    cstore_out_clear(&o);

    /* relaxed durability opens and keeps data too */
    t->durable = false;
    t_reopen(t);
    t_out_add(t, 6, a, 10);
    t->durable = true;
    t_reopen(t);
    assert_int_equal(t_out_pending(t), 3); /* 4, 5 and 6 */
}

/* ---- the lock ------------------------------------------------------------ */

/* A forked child tries to open the store; its exit status is 0 when it got want. */
static void t_child_open(tctx *t, int want)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        cstore *s2 = NULL;
        int rc = cstore_open(t->data, true, &s2);
        bool ok = rc == want && (rc == ASYLINK_OK) == (s2 != NULL);
        cstore_close(&s2);
        _exit(ok ? 0 : 10 + rc);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/*
 * cstore_commit_unsynced (the I/O thread's committer): visible at once,
 * *wrote says whether its data pages were fsync'd (an empty transaction
 * writes nothing), and cstore_sync() / a later commit put it on disk; what
 * it committed is there after a reopen. Relaxed stores too.
 */
static void test_unsynced_commit(void **state)
{
    tctx *t = *state;
    for (int round = 0; round < 2; round++) {
        t->durable = round == 0;
        t_open(t);
        assert_true(cstore_durable(t->s) == t->durable);
        const char *a[] = {"AT", NULL};
        unsigned base = 10 * (unsigned)round;
        cstore_txn *txn = NULL;
        bool wrote = false;
        assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
        assert_int_equal(t_out_add_txn(txn, base + 1, a, 10), ASYLINK_OK);
        assert_int_equal(cstore_commit_unsynced(&txn, &wrote), ASYLINK_OK);
        assert_null(txn);
        assert_true(wrote);
        assert_int_equal(t_out_pending(t), 1); /* visible to readers at once */
        /* An empty transaction writes (and syncs) nothing. */
        assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
        assert_int_equal(cstore_commit_unsynced(&txn, &wrote), ASYLINK_OK);
        assert_false(wrote);
        assert_int_equal(cstore_sync(t->s), ASYLINK_OK);
        /* A later commit of another kind (cstore_commit) and one more unsynced. */
        t_out_add(t, base + 2, a, 10);
        assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
        assert_int_equal(t_out_add_txn(txn, base + 3, a, 10), ASYLINK_OK);
        assert_int_equal(cstore_commit_unsynced(&txn, &wrote), ASYLINK_OK);
        assert_true(wrote);
        t_reopen(t);
        assert_int_equal(t_out_pending(t), 3);
        assert_int_equal(cstore_sync(NULL), ASYLINK_E_INVALID_ARG);
        assert_int_equal(cstore_commit_unsynced(NULL, &wrote), ASYLINK_E_INVALID_ARG);
        cstore_close(&t->s);
        testfed_rmtree(t->data);
    }
}

static void test_lock(void **state)
{
    tctx *t = *state;
    t_open(t);
    struct stat st;
    assert_int_equal(stat(t->data, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    cstore *s2 = NULL; /* a second store in this process: flock is per open file */
    assert_int_equal(cstore_open(t->data, true, &s2), ASYLINK_E_EXISTS);
    assert_null(s2);
    t_child_open(t, ASYLINK_E_EXISTS); /* another process */

    const char *a[] = {"AT", NULL}; /* the refused opens did not disturb the first */
    t_out_add(t, 1, a, 10);
    assert_int_equal(t_out_pending(t), 1);

    cstore_close(&t->s); /* closing releases it */
    t_child_open(t, ASYLINK_OK);
    t_open(t);
    assert_int_equal(t_out_pending(t), 1);
}

/* ---- map growth ---------------------------------------------------------- */

/* Adds entries first..first+count-1 in ONE transaction, retrying on STORE_FULL. */
static int t_out_add_many_retry(cstore *s, unsigned first, unsigned count, size_t len,
                                unsigned *full)
{
    static const char *const a[] = {"AT", NULL};
    for (int attempt = 0; attempt < 16; attempt++) {
        cstore_txn *txn = NULL;
        int rc = cstore_begin(s, &txn);
        if (rc != ASYLINK_OK)
            return rc;
        for (unsigned n = first; rc == ASYLINK_OK && n < first + count; n++)
            rc = t_out_add_txn(txn, n, a, len);
        rc = rc == ASYLINK_OK ? cstore_commit(&txn) : (cstore_abort(&txn), rc);
        if (rc != ASYLINK_E_STORE_FULL)
            return rc;
        (*full)++;
    }
    return ASYLINK_E_STORE_FULL;
}

/* Adds outbox entry n in its own transaction, retrying on STORE_FULL; counts the retries. */
static int t_out_add_retry(cstore *s, unsigned n, size_t len, unsigned *full)
{
    return t_out_add_many_retry(s, n, 1, len, full);
}

/* One transaction larger than the room left: its commit fails, the map grows, it fits again. */
static void test_map_full_commit(void **state)
{
    tctx *t = *state;
    t->durable = false;
    t_open(t);
    unsigned full = 0;
    for (unsigned n = 1; n <= 40; n++) /* 40 MiB of 64: below 3/4, no growth ahead */
        assert_int_equal(t_out_add_retry(t->s, n, MIB, &full), ASYLINK_OK);
    assert_int_equal(full, 0);
    assert_int_equal(t_out_add_many_retry(t->s, 41, 30, MIB, &full), ASYLINK_OK);
    assert_true(full >= 1); /* 70 MiB do not fit in 64: that commit failed once */
    assert_int_equal(t_out_pending(t), 70);
}

static void test_map_growth(void **state)
{
    tctx *t = *state;
    t->durable = false;
    t_open(t);
    const unsigned count = 100;
    unsigned full = 0;
    for (unsigned n = 1; n <= count; n++)
        assert_int_equal(t_out_add_retry(t->s, n, MIB, &full), ASYLINK_OK);
    /* 100 MiB do not fit in the first 64 MiB: the map grew, ahead of need (a
       write begins with a larger map once 3/4 are used), so no commit failed */
    assert_int_equal(full, 0);
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", t->data);
    assert_int_equal(stat(path, &st), 0);
    assert_true((uint64_t)st.st_size > 64u * MIB);

    for (int round = 0; round < 2; round++) {
        assert_int_equal(t_out_pending(t), count);
        cstore_out o;
        uint64_t after = 0;
        for (unsigned n = 1; n <= count; n++) {
            assert_int_equal(cstore_outbox_next_pending(t->s, after, &o), ASYLINK_OK);
            assert_int_equal(o.envelope_len, MIB);
            assert_true(t_envelope_is(o.envelope, o.envelope_len, n));
            after = o.seq;
            cstore_out_clear(&o);
        }
        t_reopen(t); /* the reopened map has room again */
    }
    full = 0;
    assert_int_equal(t_out_add_retry(t->s, count + 1, MIB, &full), ASYLINK_OK);
    assert_int_equal(full, 0);
}

/* ---- concurrency ---------------------------------------------------------- */

#define T_WRITERS 4
#define T_PER_WRITER 500
#define T_ENV_LEN (40u * KIB) /* 2000 x 40 KiB: the map grows while they run */

/* Shared by the threads of test_concurrent. */
typedef struct conc {
    cstore *s;
    unsigned first[T_WRITERS]; /* writer i adds ids first[i] .. first[i] + T_PER_WRITER - 1 */
    int writer_rc[T_WRITERS];  /* first failure of each writer */
    unsigned full;             /* STORE_FULL retries (any writer) */
    pthread_mutex_t lock;      /* guards full and done */
    bool done;                 /* writers finished */
    unsigned reads;            /* entries the reader checked */
    unsigned read_errors;      /* reader failures or wrong contents */
} conc;

typedef struct writer_arg {
    conc *c;
    int i;
} writer_arg;

static void *t_writer(void *arg)
{
    writer_arg *w = arg;
    conc *c = w->c;
    unsigned full = 0;
    for (unsigned k = 0; k < T_PER_WRITER && c->writer_rc[w->i] == ASYLINK_OK; k++)
        c->writer_rc[w->i] = t_out_add_retry(c->s, c->first[w->i] + k, T_ENV_LEN, &full);
    pthread_mutex_lock(&c->lock);
    c->full += full;
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Whether the writers are done. */
static bool t_done(conc *c)
{
    pthread_mutex_lock(&c->lock);
    bool done = c->done;
    pthread_mutex_unlock(&c->lock);
    return done;
}

/* Walks the pending outbox again and again until the writers are done. */
static void *t_reader(void *arg)
{
    conc *c = arg;
    bool last = false;
    while (!last) {
        last = t_done(c); /* one full walk after the writers finished */
        uint64_t after = 0, count = 0;
        cstore_out o;
        int rc;
        while ((rc = cstore_outbox_next_pending(c->s, after, &o)) == ASYLINK_OK) {
            unsigned n = ((unsigned)o.id[0] << 8) | o.id[1];
            if (o.seq <= after || o.envelope_len != T_ENV_LEN ||
                !t_envelope_is(o.envelope, o.envelope_len, n) || o.n_recipients != 1)
                c->read_errors++;
            after = o.seq;
            c->reads++;
            cstore_out_clear(&o);
        }
        if (rc != ASYLINK_E_NOT_FOUND || cstore_outbox_pending_count(c->s, &count) != ASYLINK_OK)
            c->read_errors++;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    tctx *t = *state;
    t->durable = false;
    t_open(t);
    conc c = {.s = t->s};
    assert_int_equal(pthread_mutex_init(&c.lock, NULL), 0);
    pthread_t writers[T_WRITERS], reader;
    writer_arg args[T_WRITERS];
    assert_int_equal(pthread_create(&reader, NULL, t_reader, &c), 0);
    for (int i = 0; i < T_WRITERS; i++) {
        c.first[i] = 1 + (unsigned)i * T_PER_WRITER;
        args[i] = (writer_arg){&c, i};
        assert_int_equal(pthread_create(&writers[i], NULL, t_writer, &args[i]), 0);
    }
    for (int i = 0; i < T_WRITERS; i++)
        assert_int_equal(pthread_join(writers[i], NULL), 0);
    pthread_mutex_lock(&c.lock);
    c.done = true;
    pthread_mutex_unlock(&c.lock);
    assert_int_equal(pthread_join(reader, NULL), 0);
    pthread_mutex_destroy(&c.lock);

    for (int i = 0; i < T_WRITERS; i++)
        assert_int_equal(c.writer_rc[i], ASYLINK_OK);
    assert_int_equal(c.read_errors, 0);
    assert_true(c.reads >= T_WRITERS * T_PER_WRITER); /* at least the final walk */
    /* the map grew under load (80 MiB in a 64 MiB map), ahead of need: no commit failed */
    char path[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", t->data);
    assert_int_equal(stat(path, &st), 0);
    assert_true((uint64_t)st.st_size > 64u * MIB);
    assert_int_equal(c.full, 0);

    /* all 2000 present, each once, seqs 1..2000 */
    const unsigned total = T_WRITERS * T_PER_WRITER;
    assert_int_equal(t_out_pending(t), total);
    bool *seen = calloc(total + 1, sizeof *seen);
    assert_non_null(seen);
    cstore_out o;
    uint64_t after = 0;
    for (unsigned k = 1; k <= total; k++) {
        assert_int_equal(cstore_outbox_next_pending(t->s, after, &o), ASYLINK_OK);
        assert_int_equal(o.seq, k);
        unsigned n = ((unsigned)o.id[0] << 8) | o.id[1];
        assert_true(n >= 1 && n <= total && !seen[n]);
        seen[n] = true;
        after = o.seq;
        cstore_out_clear(&o);
    }
    assert_int_equal(cstore_outbox_next_pending(t->s, after, &o), ASYLINK_E_NOT_FOUND);
    for (unsigned n = 1; n <= total; n++) {
        uint8_t id[16];
        t_id(id, n);
        assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
        assert_true(t_envelope_is(o.envelope, o.envelope_len, n));
        cstore_out_clear(&o);
    }
    free(seen);
}

/* ---- corruption and versions ---------------------------------------------- */

static void test_corrupt_record(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *ab[] = {"AT", "BE", NULL};
    for (unsigned n = 1; n <= 5; n++) {
        t_out_add(t, n, ab, 100);
        assert_int_equal(t_in_add(t, n, "AT", 100, NULL), ASYLINK_OK);
    }
    t_receipt_put(t, 1, "AT", 1, 5, 1, 10);
    t_receipt_put(t, 2, "AT", 1, 5, 1, 10);
    cstore_close(&t->s);

    uint8_t key[8], id[16];
    size_t len;
    t_seq_key(key, 1); /* outbox 1: truncated */
    uint8_t *rec = t_raw_get(t, "outbox", key, 8, &len);
    t_raw_put(t, "outbox", key, 8, rec, len - 1);
    t_seq_key(key, 3); /* outbox 3: the recipients' last NUL gone */
    rec[112 + 5] = 'X';
    t_raw_put(t, "outbox", key, 8, rec, len);
    t_seq_key(key, 4); /* outbox 4: consistent lengths, but PENDING without envelope */
    rec[112 + 5] = 0;
    rec[104] = 0;
    t_raw_put(t, "outbox", key, 8, rec, len - 100);
    free(rec);
    t_id(id, 2); /* outbox 2: its id index value is not a seq */
    t_raw_put(t, "outbox_id", id, 16, "abc", 3);
    t_seq_key(key, 1); /* inbox 1: an unknown state */
    rec = t_raw_get(t, "inbox", key, 8, &len);
    rec[1] = 7;
    t_raw_put(t, "inbox", key, 8, rec, len);
    t_seq_key(key, 2); /* inbox 2: the record belongs to another id */
    rec[1] = CSTORE_IN_PENDING;
    t_raw_put(t, "inbox", key, 8, rec, len);
    free(rec);
    t_seq_key(key, 99); /* inbox: a pending entry without a record */
    t_raw_put(t, "inbox_pending", key, 8, "", 0);
    t_raw_put(t, "outbox_pending", "\0\0\1", 3, "", 0); /* a malformed key, after seq 5 */
    uint8_t rkey[18];                                   /* receipt of id 1: cut short */
    t_id(rkey, 1);
    memcpy(rkey + 16, "AT", 2);
    t_raw_put(t, "receipts", rkey, 18, "short", 5);
    t_open(t);

    cstore_out o;
    cstore_in in;
    for (unsigned n = 1; n <= 4; n++) {
        t_id(id, n);
        assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_E_IO);
        assert_null(o.envelope);
        assert_null(o.recipients);
    }
    t_id(id, 5);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK); /* the rest is fine */
    cstore_out_clear(&o);
    /* next_pending stops at a bad one but says where it is, to step over */
    uint64_t after = 0;
    int codes[] = {ASYLINK_E_IO, ASYLINK_OK, ASYLINK_E_IO, ASYLINK_E_IO, ASYLINK_OK};
    for (unsigned n = 1; n <= 5; n++) {
        assert_int_equal(cstore_outbox_next_pending(t->s, after, &o), codes[n - 1]);
        assert_int_equal(o.seq, n);
        after = o.seq;
        cstore_out_clear(&o);
    }
    assert_int_equal(cstore_outbox_next_pending(t->s, after, &o), ASYLINK_E_IO);
    assert_true(o.seq > after);
    after = o.seq; /* stepping over the malformed key reaches the end */
    assert_int_equal(cstore_outbox_next_pending(t->s, after, &o), ASYLINK_E_NOT_FOUND);

    /* the inbox */
    int st = 0;
    size_t np = 0, na = 0;
    cstore_in_key k = t_key(id, "AT", NULL);
    t_id(id, 1);
    assert_int_equal(cstore_inbox_state(t->s, &k, &st), ASYLINK_E_IO);
    assert_int_equal(cstore_inbox_get(t->s, &k, &in), ASYLINK_E_IO);
    assert_int_equal(cstore_inbox_find(t->s, id, NULL, 0, &np, &na), ASYLINK_E_IO);
    t_id(id, 2);
    assert_int_equal(cstore_inbox_get(t->s, &k, &in), ASYLINK_E_IO);
    assert_int_equal(cstore_inbox_find(t->s, id, NULL, 0, &np, &na), ASYLINK_E_IO);
    t_id(id, 3);
    assert_int_equal(cstore_inbox_find(t->s, id, NULL, 0, &np, &na), ASYLINK_OK);
    assert_int_equal(np, 1);
    assert_int_equal(cstore_inbox_next_pending(t->s, 0, &in), ASYLINK_E_IO);
    assert_int_equal(in.seq, 1);
    assert_int_equal(cstore_inbox_next_pending(t->s, 2, &in), ASYLINK_OK);
    assert_int_equal(in.seq, 3);
    cstore_in_clear(&in);
    assert_int_equal(cstore_inbox_next_pending(t->s, 5, &in), ASYLINK_E_IO);
    assert_int_equal(in.seq, 99);

    /* receipts */
    size_t n = 0;
    asylink_receipt_info r[2];
    uint8_t *env = NULL;
    t_id(id, 1);
    assert_int_equal(cstore_receipt_list(t->s, id, r, 2, &n), ASYLINK_E_IO);
    assert_int_equal(n, 0);
    assert_int_equal(cstore_receipt_envelope(t->s, id, "AT", &env, &len), ASYLINK_E_IO);
    assert_null(env);
    t_id(id, 2);
    assert_int_equal(cstore_receipt_list(t->s, id, r, 2, &n), ASYLINK_OK);
    assert_int_equal(n, 1);

    /* writes on corrupt entries fail alone; the transaction goes on */
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    t_id(id, 1);
    assert_int_equal(cstore_outbox_set_state(txn, id, CSTORE_OUT_ACCEPTED, 0, NULL), ASYLINK_E_IO);
    assert_int_equal(cstore_inbox_ack(txn, &k), ASYLINK_E_IO);
    uint8_t e[4] = {1, 2, 3, 4};
    assert_int_equal(cstore_inbox_add(txn, &k, 1, 1, e, 4, &st), ASYLINK_E_IO);
    assert_int_equal(t_out_add_txn(txn, 6, ab, 10), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(t_out_pending(t), 7); /* 1..6 and the malformed key */
    t_id(id, 6);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
    assert_int_equal(o.seq, 6);
    cstore_out_clear(&o);

    /* entries that do not read back are set aside (no longer pending, the record stays); one
       that reads back, and one not pending, are left as they are */
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    for (unsigned sq = 1; sq <= 4; sq++)
        assert_int_equal(cstore_outbox_set_aside(txn, sq), ASYLINK_OK);
    assert_int_equal(cstore_outbox_set_aside(txn, 77), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(t_out_pending(t), 4); /* 2, 5, 6 and the malformed key */
    assert_int_equal(cstore_outbox_next_pending(t->s, 0, &o), ASYLINK_OK);
    assert_int_equal(o.seq, 2);
    cstore_out_clear(&o);
    t_id(id, 1);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_E_IO); /* still there, damaged */
    assert_int_equal(cstore_outbox_set_aside(NULL, 1), ASYLINK_E_INVALID_ARG);
}

static void test_corrupt_meta(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *a[] = {"AT", NULL};
    t_out_add(t, 1, a, 10);
    cstore_close(&t->s);
    t_raw_put(t, "meta", "outbox_seq_hwm", strlen("outbox_seq_hwm"), "bad", 3);
    t_open(t);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(t_out_add_txn(txn, 2, a, 10), ASYLINK_E_IO);
    cstore_in_key k = t_key((const uint8_t *)"0123456789abcdef", "AT", NULL);
    assert_int_equal(cstore_inbox_add(txn, &k, 1, 1, (const uint8_t *)"x", 1, NULL),
                     ASYLINK_OK); /* the inbox's own mark is fine */
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(t_in_pending(t), 1);
}

/* Whether db holds key (store closed). */
static bool t_raw_has(tctx *t, const char *db, const void *key, size_t klen)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    t_raw_open(t, db, &env, &txn, &dbi);
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    t_raw_close(env, txn);
    return rc == 0;
}

/*
 * Plants inbox entry seq of a schema 2 store: the record as written then
 * (the subscription byte was reserved, 0), the id index keyed by the id
 * alone, the pending index if PENDING. envelope tag seq, len bytes (0 =
 * an acked tombstone).
 */
static void t_plant_v2_entry(tctx *t, uint64_t seq, unsigned n, const char *sender, int state,
                             size_t len)
{
    uint8_t id[16], key[8], rec[48 + 64 + 64];
    t_id(id, n);
    t_seq_key(key, seq);
    size_t slen = strlen(sender);
    memset(rec, 0, 48);
    rec[0] = 1;
    rec[1] = (uint8_t)state;
    rec[2] = (uint8_t)slen;
    rec[8] = (uint8_t)(500 + seq);
    rec[9] = (uint8_t)((500 + seq) >> 8);
    rec[16] = (uint8_t)seq;
    memcpy(rec + 24, id, 16);
    rec[40] = (uint8_t)len;
    memcpy(rec + 48, sender, slen);
    uint8_t *env = t_envelope((unsigned)seq, len);
    memcpy(rec + 48 + slen, env, len);
    free(env);
    t_raw_put(t, "inbox", key, 8, rec, 48 + slen + len);
    t_raw_put(t, "inbox_id", id, 16, key, 8);
    if (state == CSTORE_IN_PENDING)
        t_raw_put(t, "inbox_pending", key, 8, "", 0);
}

/*
 * A schema 2 store (inbox keyed by message id alone) is upgraded in place:
 * the index is rebuilt under (id, sender, subscription), old entries read
 * as without a subscription, states and order are kept, a record that
 * does not validate gets no index entry, and the upgrade runs once.
 */
static void test_upgrade_inbox_v2(void **state)
{
    tctx *t = *state;
    t_open(t);
    cstore_close(&t->s);
    t_plant_v2_entry(t, 1, 1, "AT", CSTORE_IN_PENDING, 30);   /* a direct message */
    t_plant_v2_entry(t, 2, 2, "EUAA", CSTORE_IN_PENDING, 40); /* a feed message */
    t_plant_v2_entry(t, 3, 3, "BE", CSTORE_IN_ACKED, 0);      /* an acked tombstone */
    t_plant_v2_entry(t, 4, 4, "AT", 9, 20);                   /* unreadable: state 9 */
    uint8_t hwm[8] = {4};
    t_raw_put(t, "meta", "inbox_seq_hwm", strlen("inbox_seq_hwm"), hwm, 8);
    t_raw_put(t, "meta", "schema_version", strlen("schema_version"), "\2\0\0\0", 4);
    t_open(t);
    cstore_close(&t->s);
    size_t len;
    uint8_t *v = t_raw_get(t, "meta", "schema_version", strlen("schema_version"), &len);
    assert_int_equal(v[0], CSTORE_SCHEMA_VERSION);
    free(v);
    uint8_t id[16];
    t_id(id, 1);
    assert_false(t_raw_has(t, "inbox_id", id, 16)); /* the old key is gone */
    uint8_t ikey[16 + 3];
    memcpy(ikey, id, 16);
    memcpy(ikey + 16, "AT", 3);
    assert_true(t_raw_has(t, "inbox_id", ikey, sizeof ikey));
    t_open(t);

    cstore_in in;
    cstore_in_key k = t_key(id, "AT", NULL);
    assert_int_equal(cstore_inbox_get(t->s, &k, &in), ASYLINK_OK);
    assert_int_equal(in.seq, 1);
    assert_int_equal(in.broker_seq, 501);
    assert_string_equal(in.subscription, "");
    assert_int_equal(in.envelope_len, 30);
    assert_true(t_envelope_is(in.envelope, in.envelope_len, 1));
    cstore_in_clear(&in);
    uint8_t id2[16];
    t_id(id2, 2);
    k = t_key(id2, "EUAA", NULL); /* the feed message, stored without its subscription */
    assert_int_equal(cstore_inbox_get(t->s, &k, &in), ASYLINK_OK);
    assert_int_equal(in.seq, 2);
    assert_string_equal(in.subscription, "");
    cstore_in_clear(&in);
    uint8_t id3[16];
    t_id(id3, 3);
    k = t_key(id3, "BE", NULL);
    int st = 0;
    assert_int_equal(cstore_inbox_state(t->s, &k, &st), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_ACKED);
    uint8_t id4[16];
    t_id(id4, 4);
    size_t np = 9, na = 9;
    assert_int_equal(cstore_inbox_find(t->s, id4, NULL, 0, &np, &na), ASYLINK_OK);
    assert_int_equal(np + na, 0);
    assert_int_equal(t_in_pending(t), 2);

    /* deduplication goes on under the new keys */
    assert_int_equal(t_in_add(t, 1, "AT", 30, &st), ASYLINK_E_DUPLICATE);
    assert_int_equal(st, CSTORE_IN_PENDING);
    assert_int_equal(t_in_add(t, 3, "BE", 30, &st), ASYLINK_E_DUPLICATE);
    assert_int_equal(st, CSTORE_IN_ACKED);
    assert_int_equal(t_in_add(t, 1, "IT", 30, &st), ASYLINK_OK); /* another sender, same id */
    assert_int_equal(t_in_add_sub(t, 2, "EUAA", "stats", 40, &st), ASYLINK_OK);
    assert_int_equal(t_in_ack(t, 2, "EUAA"), ASYLINK_OK);
    uint64_t after = 0, want[] = {1, 5, 6};
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(cstore_inbox_next_pending(t->s, after, &in), ASYLINK_OK);
        assert_int_equal(in.seq, want[i]);
        after = in.seq;
        cstore_in_clear(&in);
    }
    assert_int_equal(cstore_inbox_next_pending(t->s, after, &in), ASYLINK_E_NOT_FOUND);

    /* a second open does not upgrade again: what was written since stays */
    t_reopen(t);
    k = t_key(id, "IT", NULL);
    assert_int_equal(cstore_inbox_state(t->s, &k, &st), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_PENDING);
    k = t_key(id2, "EUAA", "stats");
    assert_int_equal(cstore_inbox_state(t->s, &k, &st), ASYLINK_OK);
    assert_int_equal(t_in_pending(t), 3);
}

/* ---- erasure and retention ---- */

/* Number of entries in db (store closed). */
static uint64_t t_raw_count(tctx *t, const char *db)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    t_raw_open(t, db, &env, &txn, &dbi);
    MDB_stat st;
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    t_raw_close(env, txn);
    return st.ms_entries;
}

/* Purges id n (outbox too if outbox) of sender in its own transaction. */
static cstore_purge_result t_purge(tctx *t, unsigned n, bool outbox, const char *sender)
{
    uint8_t id[16];
    t_id(id, n);
    cstore_txn *txn = NULL;
    cstore_purge_result r = {99, 99};
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_purge(txn, id, outbox, sender, &r), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    return r;
}

/* The state of inbox entry n of sender (0 if unknown). */
static int t_in_state(tctx *t, unsigned n, const char *sender, const char *sub)
{
    uint8_t id[16];
    t_id(id, n);
    cstore_in_key k = t_key(id, sender, sub);
    int st = 0;
    int rc = cstore_inbox_state(t->s, &k, &st);
    assert_true(rc == ASYLINK_OK || rc == ASYLINK_E_NOT_FOUND);
    return st;
}

static void test_purge(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *fr[] = {"FR", NULL};
    t_out_add(t, 1, fr, 500); /* pending */
    t_out_add(t, 2, fr, 600);
    assert_int_equal(t_out_state(t, 2, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    int st = 0;
    assert_int_equal(t_in_add(t, 10, "DE", 300, &st), ASYLINK_OK);
    assert_int_equal(t_in_add(t, 10, "IT", 310, &st), ASYLINK_OK); /* another sender, same id */
    assert_int_equal(t_in_add_sub(t, 11, "EUAA", "stats", 320, &st), ASYLINK_OK);
    assert_int_equal(t_in_ack_sub(t, 11, "EUAA", "stats"), ASYLINK_OK);

    /* a PENDING sent message: refused PURGED, its envelope gone, never sent */
    cstore_purge_result r = t_purge(t, 1, true, NULL);
    assert_int_equal(r.found, 1);
    assert_int_equal(r.erased, 1);
    uint8_t id[16];
    t_id(id, 1);
    cstore_out out;
    assert_int_equal(cstore_outbox_get(t->s, id, &out), ASYLINK_OK);
    assert_int_equal(out.state, CSTORE_OUT_REJECTED);
    assert_int_equal(out.code, ASYLINK_E_PURGED);
    assert_string_equal(out.reason, "purged on this node before the broker accepted it");
    assert_null(out.envelope);
    assert_int_equal(out.digest[0], 1); /* the metadata stays */
    cstore_out_clear(&out);
    assert_int_equal(t_out_pending(t), 0);
    assert_int_equal(cstore_outbox_next_pending(t->s, 0, &out), ASYLINK_E_NOT_FOUND);
    /* an accepted one holds no envelope: found, nothing to erase */
    r = t_purge(t, 2, true, NULL);
    assert_int_equal(r.found, 1);
    assert_int_equal(r.erased, 0);

    /* received copies: only DE's, then every sender's */
    r = t_purge(t, 10, false, "DE");
    assert_int_equal(r.found, 1);
    assert_int_equal(r.erased, 1);
    assert_int_equal(t_in_state(t, 10, "DE", NULL), CSTORE_IN_PURGED);
    assert_int_equal(t_in_state(t, 10, "IT", NULL), CSTORE_IN_PENDING);
    cstore_in in;
    t_id(id, 10);
    cstore_in_key k = t_key(id, "DE", NULL);
    assert_int_equal(cstore_inbox_get(t->s, &k, &in), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_in_pending(t), 1);
    r = t_purge(t, 10, false, NULL);
    assert_int_equal(r.found, 2);
    assert_int_equal(r.erased, 1);
    assert_int_equal(t_in_pending(t), 0);
    assert_int_equal(cstore_inbox_next_pending(t->s, 0, &in), ASYLINK_E_NOT_FOUND);
    /* an acked feed copy had no envelope left: found, becomes PURGED all the same */
    r = t_purge(t, 11, false, NULL);
    assert_int_equal(r.found, 1);
    assert_int_equal(r.erased, 0);
    assert_int_equal(t_in_state(t, 11, "EUAA", "stats"), CSTORE_IN_PURGED);

    /* the tombstone recognises a redelivery; an ack leaves it purged */
    assert_int_equal(t_in_add(t, 10, "DE", 300, &st), ASYLINK_E_DUPLICATE);
    assert_int_equal(st, CSTORE_IN_PURGED);
    assert_int_equal(t_in_ack(t, 10, "DE"), ASYLINK_OK);
    assert_int_equal(t_in_state(t, 10, "DE", NULL), CSTORE_IN_PURGED);
    size_t np = 9, na = 9;
    assert_int_equal(cstore_inbox_find(t->s, id, NULL, 0, &np, &na), ASYLINK_OK);
    assert_int_equal(np, 0);
    assert_int_equal(na, 2);

    /* nothing by that id; hostile arguments */
    r = t_purge(t, 77, true, NULL);
    assert_int_equal(r.found, 0);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_purge(txn, NULL, true, NULL, &r), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_purge(txn, id, true, "", &r), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(cstore_purge(NULL, id, true, NULL, &r), ASYLINK_E_INVALID_ARG);

    /* it all survives a reopen */
    t_reopen(t);
    assert_int_equal(t_in_state(t, 10, "IT", NULL), CSTORE_IN_PURGED);
    t_id(id, 1);
    assert_int_equal(cstore_outbox_get(t->s, id, &out), ASYLINK_OK);
    assert_int_equal(out.code, ASYLINK_E_PURGED);
    cstore_out_clear(&out);
}

/* Receipts from FR for sent messages first..first+n-1, all in one envelope (tag). */
static void t_receipts(tctx *t, unsigned first, unsigned n, unsigned tag)
{
    uint8_t ids[4][16];
    asylink_receipt_info infos[4];
    assert_true(n <= 4);
    for (unsigned i = 0; i < n; i++) {
        t_id(ids[i], first + i);
        infos[i] = (asylink_receipt_info){.acked_ms = 700 + i, .status = 1};
        snprintf(infos[i].recipient, sizeof infos[i].recipient, "FR");
    }
    uint8_t *env = t_envelope(tag, 200);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_receipt_put_many(txn, (const uint8_t(*)[16])ids, infos, n, env, 200),
                     ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    free(env);
}

/* One retention sweep at cutoff_ms with budget max; its stats, *more. */
static cstore_sweep_stats t_sweep(tctx *t, uint64_t cutoff_ms, size_t max, bool *more)
{
    cstore_sweep_stats st = {0};
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_retention_sweep(txn, cutoff_ms, max, &st, more), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    return st;
}

static void test_retention_sweep(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *fr[] = {"FR", NULL};
    for (unsigned n = 1; n <= 4; n++) /* created at 1000 + n */
        t_out_add(t, n, fr, 100);
    assert_int_equal(t_out_state(t, 1, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    assert_int_equal(t_out_state(t, 2, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    assert_int_equal(t_out_state(t, 4, CSTORE_OUT_REJECTED, ASYLINK_E_POLICY, "no"), ASYLINK_OK);
    t_receipts(t, 1, 2, 50); /* one envelope proves 1 and 2 */
    int st = 0;
    for (unsigned n = 20; n <= 23; n++) /* received at 2000 + n */
        assert_int_equal(t_in_add(t, n, "DE", 80, &st), ASYLINK_OK);
    assert_int_equal(t_in_ack(t, 20, "DE"), ASYLINK_OK);
    assert_int_equal(t_in_ack(t, 23, "DE"), ASYLINK_OK);
    t_purge(t, 22, false, NULL);

    /* cutoff 1001: only sent message 1 and its receipt; the envelope is 2's evidence too */
    bool more = true;
    cstore_sweep_stats s1 = t_sweep(t, 1001, 100, &more);
    assert_false(more);
    assert_int_equal(s1.outbox, 1);
    assert_int_equal(s1.receipts, 1);
    assert_int_equal(s1.evidence, 0);
    assert_int_equal(s1.inbox, 0);
    uint8_t id[16];
    cstore_out out;
    t_id(id, 1);
    assert_int_equal(cstore_outbox_get(t->s, id, &out), ASYLINK_E_NOT_FOUND);
    size_t n = 9;
    assert_int_equal(cstore_receipt_list(t->s, id, NULL, 0, &n), ASYLINK_OK);
    assert_int_equal(n, 0);
    t_id(id, 2);
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(cstore_receipt_envelope(t->s, id, "FR", &env, &len), ASYLINK_OK);
    assert_true(t_envelope_is(env, len, 50));
    free(env);

    /* cutoff 2022: every finished entry up to then; PENDING ones (3, 21) never */
    cstore_sweep_stats s2 = t_sweep(t, 2022, 100, &more);
    assert_false(more);
    assert_int_equal(s2.outbox, 2);   /* 2 accepted, 4 rejected */
    assert_int_equal(s2.receipts, 1); /* 2's */
    assert_int_equal(s2.evidence, 1); /* the envelope no receipt cites any more */
    assert_int_equal(s2.inbox, 2);    /* 20 acked, 22 purged; 23 is newer */
    assert_int_equal(cstore_outbox_next_pending(t->s, 0, &out), ASYLINK_OK);
    t_id(id, 3);
    assert_memory_equal(out.id, id, 16);
    cstore_out_clear(&out);
    assert_int_equal(t_out_pending(t), 1);
    assert_int_equal(t_in_pending(t), 1);
    assert_int_equal(t_in_state(t, 20, "DE", NULL), 0);
    assert_int_equal(t_in_state(t, 21, "DE", NULL), CSTORE_IN_PENDING);
    assert_int_equal(t_in_state(t, 22, "DE", NULL), 0);
    assert_int_equal(t_in_state(t, 23, "DE", NULL), CSTORE_IN_ACKED);
    /* past the retention the tombstone is gone: the same id counts as new again */
    assert_int_equal(t_in_add(t, 20, "DE", 80, &st), ASYLINK_OK);
    cstore_close(&t->s);
    assert_int_equal(t_raw_count(t, "evidence"), 0);
    assert_int_equal(t_raw_count(t, "evidence_refs"), 0);
    assert_int_equal(t_raw_count(t, "receipts"), 0);
    assert_int_equal(t_raw_count(t, "outbox"), 1);
    assert_int_equal(t_raw_count(t, "outbox_id"), 1);
    assert_int_equal(t_raw_count(t, "inbox_id"), 3);
    t_open(t);

    /* a small budget: several transactions */
    for (unsigned k = 30; k < 40; k++)
        t_out_add(t, k, fr, 10);
    for (unsigned k = 30; k < 40; k++)
        assert_int_equal(t_out_state(t, k, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    size_t swept = 0;
    int rounds = 0;
    do {
        swept += t_sweep(t, UINT64_MAX, 3, &more).outbox;
        rounds++;
    } while (more && rounds < 50);
    assert_false(more);
    assert_int_equal(swept, 10);
    assert_true(rounds >= 4);
    assert_int_equal(t_out_pending(t), 1); /* 3 is still pending */
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_retention_sweep(NULL, 0, 1, NULL, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_retention_sweep(txn, UINT64_MAX, 0, NULL, &more), ASYLINK_OK);
    assert_true(more); /* a budget of 0 does nothing */
    cstore_abort(&txn);
}

/*
 * More old entries that must stay (unacknowledged, or not yet accepted)
 * than one sweep transaction examines, in front of finished ones: the
 * sweeps that follow (as client_retention_sweep() runs them, until *more
 * is clear) go on after them instead of examining them again each time,
 * so the finished ones behind them go too.
 */
static void test_retention_sweep_past_pending(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *fr[] = {"FR", NULL};
    int st = 0;
    for (unsigned n = 1; n <= 5; n++) /* PENDING: never swept */
        t_out_add(t, n, fr, 10);
    t_out_add(t, 6, fr, 10);
    assert_int_equal(t_out_state(t, 6, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    for (unsigned n = 20; n <= 24; n++) /* not acknowledged: never swept */
        assert_int_equal(t_in_add(t, n, "DE", 10, &st), ASYLINK_OK);
    assert_int_equal(t_in_add(t, 25, "DE", 10, &st), ASYLINK_OK);
    assert_int_equal(t_in_ack(t, 25, "DE"), ASYLINK_OK);
    bool more = true;
    cstore_sweep_stats sum = {0};
    for (int rounds = 0; more && rounds < 20; rounds++) {
        cstore_sweep_stats s = t_sweep(t, UINT64_MAX, 3, &more);
        sum.outbox += s.outbox;
        sum.inbox += s.inbox;
    }
    assert_false(more);
    assert_int_equal(sum.outbox, 1);
    assert_int_equal(sum.inbox, 1);
    uint8_t id[16];
    cstore_out out;
    t_id(id, 6);
    assert_int_equal(cstore_outbox_get(t->s, id, &out), ASYLINK_E_NOT_FOUND);
    assert_int_equal(t_in_state(t, 25, "DE", NULL), 0);
    assert_int_equal(t_out_pending(t), 5);
    assert_int_equal(t_in_pending(t), 5);
    /* a later sweep starts over: what became finished meanwhile goes too */
    assert_int_equal(t_out_state(t, 1, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    assert_int_equal(t_in_ack(t, 20, "DE"), ASYLINK_OK);
    more = true;
    sum = (cstore_sweep_stats){0};
    for (int rounds = 0; more && rounds < 20; rounds++) {
        cstore_sweep_stats s = t_sweep(t, UINT64_MAX, 3, &more);
        sum.outbox += s.outbox;
        sum.inbox += s.inbox;
    }
    assert_int_equal(sum.outbox, 1);
    assert_int_equal(sum.inbox, 1);
}

/* Accepts sent message n, keeping its envelope as evidence since kept_ms. */
static void t_accept_keep(tctx *t, unsigned n, uint64_t kept_ms)
{
    uint8_t id[16];
    t_id(id, n);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_sent_keep(txn, id, kept_ms), ASYLINK_OK);
    assert_int_equal(cstore_outbox_set_state(txn, id, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
}

/* A purge erases the envelope kept as evidence; the retention sweep waits for it. */
static void test_purge_and_sweep_sent(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *fr[] = {"FR", NULL};
    t_out_add(t, 1, fr, 300);
    t_out_add(t, 2, fr, 300);
    t_accept_keep(t, 1, 5000);
    t_accept_keep(t, 2, 5000);
    uint64_t kept = 0;
    assert_int_equal(cstore_sent_count(t->s, &kept), ASYLINK_OK);
    assert_int_equal(kept, 2);

    cstore_purge_result r = t_purge(t, 1, true, NULL);
    assert_int_equal(r.found, 1);
    assert_int_equal(r.erased, 1); /* the kept copy */
    uint8_t id[16], *env = NULL;
    size_t len = 0;
    uint64_t kept_ms = 0;
    t_id(id, 1);
    assert_int_equal(cstore_sent_get(t->s, id, &env, &len, &kept_ms), ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_sent_count(t->s, &kept), ASYLINK_OK);
    assert_int_equal(kept, 1);
    r = t_purge(t, 1, true, NULL);
    assert_int_equal(r.erased, 0);

    /* past the metadata retention: 1 goes; 2 waits while its envelope is kept */
    bool more = true;
    cstore_sweep_stats st = t_sweep(t, UINT64_MAX, 100, &more);
    assert_int_equal(st.outbox, 1);
    cstore_out out;
    assert_int_equal(cstore_outbox_get(t->s, id, &out), ASYLINK_E_NOT_FOUND);
    t_id(id, 2);
    assert_int_equal(cstore_outbox_get(t->s, id, &out), ASYLINK_OK);
    cstore_out_clear(&out);
    cstore_txn *txn = NULL;
    size_t removed = 0;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_sent_sweep(txn, 6000, 100, &removed), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(removed, 1);
    st = t_sweep(t, UINT64_MAX, 100, &more);
    assert_int_equal(st.outbox, 1);
    assert_int_equal(cstore_outbox_get(t->s, id, &out), ASYLINK_E_NOT_FOUND);
}

/* A replaced receipt's evidence goes with its last citation; a 3 -> 4 upgrade indexes them. */
static void test_evidence_refs(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *fr[] = {"FR", NULL};
    t_out_add(t, 1, fr, 100);
    t_out_add(t, 2, fr, 100);
    t_receipts(t, 1, 2, 60);
    t_receipts(t, 1, 1, 61); /* 1's receipt again, in another envelope: 60 stays (2 cites it) */
    cstore_close(&t->s);
    assert_int_equal(t_raw_count(t, "evidence"), 2);
    assert_int_equal(t_raw_count(t, "evidence_refs"), 2);
    t_open(t);
    t_receipts(t, 2, 1, 62); /* 2's replaced too: nothing cites 60 any more */
    cstore_close(&t->s);
    assert_int_equal(t_raw_count(t, "evidence"), 2);
    assert_int_equal(t_raw_count(t, "evidence_refs"), 2);

    /* a schema 3 store had no index: the upgrade builds it */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    t_raw_open(t, "evidence_refs", &env, &txn, &dbi);
    assert_int_equal(mdb_drop(txn, dbi, 0), 0);
    t_raw_close(env, txn);
    t_raw_put(t, "meta", "schema_version", strlen("schema_version"), "\3\0\0\0", 4);
    t_open(t);
    cstore_close(&t->s);
    assert_int_equal(t_raw_count(t, "evidence_refs"), 2);
    t_open(t);
    assert_int_equal(t_out_state(t, 1, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    assert_int_equal(t_out_state(t, 2, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    bool more = true;
    cstore_sweep_stats s = t_sweep(t, UINT64_MAX, 100, &more);
    assert_int_equal(s.outbox, 2);
    assert_int_equal(s.receipts, 2);
    assert_int_equal(s.evidence, 2);
    cstore_close(&t->s);
    assert_int_equal(t_raw_count(t, "evidence"), 0);
    t_open(t);
}

/* A receipt owed for message n to sender. */
static receipt t_owed_receipt(unsigned n, const char *sender)
{
    receipt r = {.acked_ms = 7000 + n, .status = RECEIPT_DELIVERED};
    t_id(r.message_id, n);
    memset(r.envelope_digest, (int)n, 64);
    snprintf(r.sender, sizeof r.sender, "%s", sender);
    return r;
}

/* Receipts owed: recorded in order, listed oldest first, deleted one by one, kept across reopen. */
static void test_owed(void **state)
{
    tctx *t = *state;
    t_open(t);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    receipt a = t_owed_receipt(1, "DE"), b = t_owed_receipt(2, "PL"), c = t_owed_receipt(3, "DE");
    assert_int_equal(cstore_owed_add(txn, &a), ASYLINK_OK);
    assert_int_equal(cstore_owed_add(txn, &b), ASYLINK_OK);
    assert_int_equal(cstore_owed_add(txn, &c), ASYLINK_OK);
    receipt bad = a;
    bad.sender[0] = 0;
    assert_int_equal(cstore_owed_add(txn, &bad), ASYLINK_E_INVALID_ARG);
    bad = a;
    bad.status = 9;
    assert_int_equal(cstore_owed_add(txn, &bad), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    t_reopen(t);
    uint64_t count = 0, damaged = 1;
    assert_int_equal(cstore_owed_count(t->s, &count), ASYLINK_OK);
    assert_int_equal(count, 3);
    cstore_owed o[4];
    size_t n = 0;
    assert_int_equal(cstore_owed_list(t->s, o, 4, &n, &damaged), ASYLINK_OK);
    assert_int_equal(n, 3);
    assert_int_equal(damaged, 0);
    assert_true(o[0].seq < o[1].seq && o[1].seq < o[2].seq);
    assert_memory_equal(o[0].r.message_id, a.message_id, 16);
    assert_memory_equal(o[1].r.envelope_digest, b.envelope_digest, 64);
    assert_string_equal(o[1].r.sender, "PL");
    assert_int_equal(o[2].r.acked_ms, c.acked_ms);
    assert_int_equal(o[2].r.status, RECEIPT_DELIVERED);
    /* at most max */
    assert_int_equal(cstore_owed_list(t->s, o, 2, &n, &damaged), ASYLINK_OK);
    assert_int_equal(n, 2);
    /* deleting: the rest stays in order; a new one comes after every earlier one */
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_owed_del(txn, o[0].seq), ASYLINK_OK);
    assert_int_equal(cstore_owed_del(txn, o[0].seq), ASYLINK_OK); /* absent: nothing */
    receipt d = t_owed_receipt(4, "FR");
    assert_int_equal(cstore_owed_add(txn, &d), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    uint64_t first_deleted = o[0].seq;
    assert_int_equal(cstore_owed_list(t->s, o, 4, &n, &damaged), ASYLINK_OK);
    assert_int_equal(n, 3);
    assert_string_equal(o[0].r.sender, "PL");
    assert_string_equal(o[2].r.sender, "FR");
    assert_true(o[2].seq > first_deleted + 2);
    /* a damaged record is reported (to be deleted), the good ones still listed */
    cstore_close(&t->s);
    uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 99}, junk[5] = {1, 1, 1, 1, 1};
    t_raw_put(t, "receipts_owed", key, 8, junk, sizeof junk);
    t_open(t);
    assert_int_equal(cstore_owed_list(t->s, o, 4, &n, &damaged), ASYLINK_OK);
    assert_int_equal(n, 3);
    assert_int_equal(damaged, 99);
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_owed_del(txn, damaged), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(cstore_owed_count(t->s, &count), ASYLINK_OK);
    assert_int_equal(count, 3);
    /* so is one whose sender holds a NUL: it once listed as a receipt owed to "F" */
    cstore_close(&t->s);
    uint8_t key100[8] = {0, 0, 0, 0, 0, 0, 0, 100}, nul_sender[96 + 3] = {1, RECEIPT_DELIVERED, 3};
    memcpy(nul_sender + 96, "F\0R", 3);
    t_raw_put(t, "receipts_owed", key100, 8, nul_sender, sizeof nul_sender);
    t_open(t);
    assert_int_equal(cstore_owed_list(t->s, o, 4, &n, &damaged), ASYLINK_OK);
    assert_int_equal(n, 3);
    assert_int_equal(damaged, 100);
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_owed_del(txn, damaged), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    /* several at once, through one cursor: those named go (absent ones are nothing), the rest
       stays */
    assert_int_equal(cstore_owed_list(t->s, o, 4, &n, &damaged), ASYLINK_OK);
    assert_int_equal(n, 3);
    cstore_owed gone[3] = {o[0], o[2], o[0]}; /* a repeated seq: absent the second time */
    gone[1].seq = o[2].seq;
    cstore_owed absent = o[0];
    absent.seq = 12345;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_owed_del_many(txn, gone, 3), ASYLINK_OK);
    assert_int_equal(cstore_owed_del_many(txn, &absent, 1), ASYLINK_OK);
    assert_int_equal(cstore_owed_del_many(txn, NULL, 0), ASYLINK_OK);
    assert_int_equal(cstore_owed_del_many(txn, NULL, 1), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    cstore_owed left[4];
    assert_int_equal(cstore_owed_list(t->s, left, 4, &n, &damaged), ASYLINK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(left[0].seq, o[1].seq);
}

/* Writes entry 41 to the inbox, then fails if arg says so. */
static int t_fill_maybe(cstore_txn *txn, void *arg)
{
    uint8_t id[16];
    t_id(id, 41);
    uint8_t env[4] = {1, 2, 3, 4};
    cstore_in_key key = t_key(id, "DE", NULL);
    int rc = cstore_inbox_add(txn, &key, 1, 1, env, sizeof env, NULL);
    receipt r = t_owed_receipt(41, "DE");
    if (rc == ASYLINK_OK)
        rc = cstore_owed_add(txn, &r);
    return rc == ASYLINK_OK && *(int *)arg ? ASYLINK_E_NOT_FOUND : rc;
}

/* A nested write joins its transaction whole, or leaves it as it was. */
static void test_nested(void **state)
{
    tctx *t = *state;
    t_open(t);
    cstore_txn *txn = NULL;
    int fail = 1;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    uint8_t id[16];
    t_id(id, 40);
    uint8_t env[4] = {9, 9, 9, 9};
    cstore_in_key key = t_key(id, "PL", NULL);
    assert_int_equal(cstore_inbox_add(txn, &key, 1, 1, env, sizeof env, NULL), ASYLINK_OK);
    uint64_t before = cstore_inbox_added_seq(txn);
    assert_int_equal(cstore_nested(txn, t_fill_maybe, &fail), ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_inbox_added_seq(txn), before); /* the counters are back too */
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    int st = 0;
    cstore_in_key k41 = t_key((uint8_t[16]){0}, "DE", NULL);
    uint8_t id41[16];
    t_id(id41, 41);
    k41.id = id41;
    assert_int_equal(cstore_inbox_state(t->s, &k41, &st), ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_inbox_state(t->s, &key, &st), ASYLINK_OK);
    uint64_t count = 9;
    assert_int_equal(cstore_owed_count(t->s, &count), ASYLINK_OK);
    assert_int_equal(count, 0);
    /* succeeding: its writes commit with the transaction, sequence numbers continuing */
    fail = 0;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_nested(txn, t_fill_maybe, &fail), ASYLINK_OK);
    assert_int_equal(cstore_inbox_added_seq(txn), before + 1);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    assert_int_equal(cstore_inbox_state(t->s, &k41, &st), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_PENDING);
    assert_int_equal(cstore_owed_count(t->s, &count), ASYLINK_OK);
    assert_int_equal(count, 1);
}

static void test_schema_version(void **state)
{
    tctx *t = *state;
    t_open(t);
    cstore_close(&t->s);
    size_t len;
    uint8_t *v = t_raw_get(t, "meta", "schema_version", strlen("schema_version"), &len);
    assert_int_equal(len, 4);
    assert_int_equal(v[0], CSTORE_SCHEMA_VERSION);
    free(v);
    uint8_t newer[4] = {CSTORE_SCHEMA_VERSION + 1, 0, 0, 0};
    t_raw_put(t, "meta", "schema_version", strlen("schema_version"), newer, 4);
    cstore *s = NULL;
    assert_int_equal(cstore_open(t->data, true, &s), ASYLINK_E_UNSUPPORTED_VERSION);
    assert_null(s);
    /* the failed open released its lock */
    assert_int_equal(cstore_open(t->data, true, &s), ASYLINK_E_UNSUPPORTED_VERSION);
    t_raw_put(t, "meta", "schema_version", strlen("schema_version"), "\1\0", 2);
    assert_int_equal(cstore_open(t->data, true, &s), ASYLINK_E_IO);
    assert_null(s);
    /* a store of schema 1 (before receipt sets) is upgraded in place */
    t_raw_put(t, "meta", "schema_version", strlen("schema_version"), "\1\0\0\0", 4);
    t_open(t);
    cstore_close(&t->s);
    v = t_raw_get(t, "meta", "schema_version", strlen("schema_version"), &len);
    assert_int_equal(v[0], CSTORE_SCHEMA_VERSION);
    free(v);
}

/*
 * Plants outbox entry seq of a schema 5 store: a record of version 1 with
 * its envelope inline (PENDING) or none (accepted), id and pending index.
 */
static void t_plant_out_v1(tctx *t, uint64_t seq, unsigned n, int state, size_t len)
{
    uint8_t id[16], key[8], rec[112 + 3 + 200];
    t_id(id, n);
    t_seq_key(key, seq);
    memset(rec, 0, 112);
    rec[0] = 1;
    rec[1] = (uint8_t)state;
    rec[8] = (uint8_t)n; /* created_ms */
    memcpy(rec + 16, id, 16);
    memset(rec + 32, (int)n, 64); /* digest */
    rec[96] = 1;                  /* one recipient */
    rec[100] = 3;                 /* "FR\0" */
    rec[104] = (uint8_t)len;
    memcpy(rec + 112, "FR", 3);
    uint8_t *env = t_envelope(n, len);
    memcpy(rec + 115, env, len);
    free(env);
    t_raw_put(t, "outbox", key, 8, rec, 115 + len);
    t_raw_put(t, "outbox_id", id, 16, key, 8);
    if (state == CSTORE_OUT_PENDING)
        t_raw_put(t, "outbox_pending", key, 8, "", 0);
}

/*
 * Schema 6 stores each envelope once: a new outbox record (version 2)
 * holds no envelope, which is in sent from the start and stays there as
 * the copy kept at Accepted (not written a second time); a new inbox record
 * (version 2) keeps its envelope in inbox_env, deleted at the ack, and the
 * envelope's digest. A schema 5 store with version 1 records opens, is
 * marked 6, and its records are read and finished as before (inline
 * envelopes, a copy into sent at Accepted).
 */
static void test_record_versions(void **state)
{
    tctx *t = *state;
    t_open(t);
    cstore_close(&t->s);
    t_plant_out_v1(t, 1, 1, CSTORE_OUT_PENDING, 150);
    t_plant_out_v1(t, 2, 2, CSTORE_OUT_ACCEPTED, 0);
    t_plant_v2_entry(t, 1, 7, "AT", CSTORE_IN_PENDING, 60); /* an inbox record of version 1 */
    uint8_t id7[16], ikey7[16 + 3], key1[8];
    t_id(id7, 7);
    memcpy(ikey7, id7, 16);
    memcpy(ikey7 + 16, "AT", 3);
    t_seq_key(key1, 1);
    t_raw_put(t, "inbox_id", ikey7, sizeof ikey7, key1, 8); /* keyed as in schema 3 and later */
    uint8_t hwm[8] = {2};
    t_raw_put(t, "meta", "outbox_seq_hwm", strlen("outbox_seq_hwm"), hwm, 8);
    t_raw_put(t, "meta", "schema_version", strlen("schema_version"), "\5\0\0\0", 4);
    t_open(t);
    cstore_close(&t->s);
    size_t len;
    uint8_t *v = t_raw_get(t, "meta", "schema_version", strlen("schema_version"), &len);
    assert_int_equal(v[0], 6);
    free(v);
    t_open(t);

    /* the old PENDING record: its envelope inline, published from there */
    cstore_out o;
    assert_int_equal(cstore_outbox_next_pending(t->s, 0, &o), ASYLINK_OK);
    assert_int_equal(o.seq, 1);
    assert_int_equal(o.envelope_len, 150);
    assert_true(t_envelope_is(o.envelope, o.envelope_len, 1));
    cstore_out_clear(&o);
    /* a new one after it: version 2, record without envelope, envelope in sent */
    const char *fr[] = {"FR", NULL};
    t_out_add(t, 3, fr, 300);
    assert_int_equal(cstore_outbox_next_pending(t->s, 1, &o), ASYLINK_OK);
    assert_int_equal(o.seq, 3);
    assert_int_equal(o.envelope_len, 300);
    assert_true(t_envelope_is(o.envelope, o.envelope_len, 3));
    cstore_out_clear(&o);
    uint8_t id[16];
    t_id(id, 3);
    assert_int_equal(cstore_outbox_get(t->s, id, &o), ASYLINK_OK);
    assert_int_equal(o.envelope_len, 300);
    cstore_out_clear(&o);
    uint8_t *env = NULL;
    uint64_t kept = 9;
    assert_int_equal(cstore_sent_get(t->s, id, &env, &len, &kept), ASYLINK_E_NOT_FOUND);
    uint64_t n = 9;
    assert_int_equal(cstore_sent_count(t->s, &n), ASYLINK_OK);
    assert_int_equal(n, 0); /* nothing kept yet: the pending envelope is not a kept copy */
    cstore_close(&t->s);
    uint8_t key[8];
    t_seq_key(key, 3);
    v = t_raw_get(t, "outbox", key, 8, &len);
    assert_int_equal(v[0], 2);
    assert_int_equal(len, 128 + 3); /* header and "FR\0": no envelope */
    free(v);
    v = t_raw_get(t, "sent", key, 8, &len);
    assert_int_equal(v[0], 2);
    assert_int_equal(len, 32 + 300);
    assert_true(t_envelope_is(v + 32, 300, 3));
    free(v);
    t_open(t);

    /* both accepted and kept: the old one copied into sent, the new one left where it is */
    cstore_txn *x = NULL;
    uint8_t id1[16];
    t_id(id1, 1);
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_outbox_accept(x, id1, true, 5000), ASYLINK_OK);
    assert_int_equal(cstore_outbox_accept(x, id, true, 6000), ASYLINK_OK);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_int_equal(cstore_outbox_next_pending(t->s, 0, &o), ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_sent_get(t->s, id1, &env, &len, &kept), ASYLINK_OK);
    assert_int_equal(len, 150);
    assert_true(t_envelope_is(env, len, 1));
    assert_int_equal(kept, 5000);
    free(env);
    assert_int_equal(cstore_sent_get(t->s, id, &env, &len, &kept), ASYLINK_OK);
    assert_int_equal(len, 300);
    assert_true(t_envelope_is(env, len, 3));
    assert_int_equal(kept, 6000);
    free(env);
    assert_int_equal(cstore_sent_count(t->s, &n), ASYLINK_OK);
    assert_int_equal(n, 2);
    /* accepted without keeping: the envelope goes with the PENDING state */
    t_out_add(t, 4, fr, 100);
    uint8_t id4[16];
    t_id(id4, 4);
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_outbox_accept(x, id4, false, 7000), ASYLINK_OK);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_int_equal(cstore_sent_get(t->s, id4, &env, &len, &kept), ASYLINK_E_NOT_FOUND);
    /* rejected: likewise */
    t_out_add(t, 5, fr, 100);
    assert_int_equal(t_out_state(t, 5, CSTORE_OUT_REJECTED, ASYLINK_E_POLICY, "no"), ASYLINK_OK);
    cstore_close(&t->s);
    t_seq_key(key, 4);
    assert_false(t_raw_has(t, "sent", key, 8));
    t_seq_key(key, 5);
    assert_false(t_raw_has(t, "sent", key, 8));
    t_seq_key(key, 3);
    assert_true(t_raw_has(t, "sent", key, 8));
    t_open(t);
    /* the sweep takes the kept envelopes by age, old and new alike */
    size_t removed = 0;
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_sent_sweep(x, UINT64_MAX, 10, &removed), ASYLINK_OK);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(cstore_sent_get(t->s, id, &env, &len, &kept), ASYLINK_E_NOT_FOUND);

    /* the old inbox record: read and acked as before (a tombstone of version 1) */
    cstore_in in;
    cstore_in_key k7 = t_key(id7, "AT", NULL);
    assert_int_equal(cstore_inbox_get(t->s, &k7, &in), ASYLINK_OK);
    assert_int_equal(in.envelope_len, 60);
    assert_false(in.has_digest);
    cstore_in_clear(&in);
    cstore_in_ref ref;
    size_t np = 0, na = 0;
    assert_int_equal(t_in_ack(t, 7, "AT"), ASYLINK_OK);
    /* a new one: version 2, its digest kept, its envelope in inbox_env until the ack */
    uint8_t id8[16], digest[64];
    t_id(id8, 8);
    memset(digest, 0x5a, sizeof digest);
    uint8_t *e8 = t_envelope(8, 200);
    cstore_in_key k8 = t_key(id8, "BE", NULL);
    cstore_in_extra extra = {digest, false};
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_inbox_add_extra(x, &k8, 9, 9, e8, 200, NULL, NULL),
                     ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_inbox_add_extra(x, &k8, 9, 9, e8, 200, &extra, NULL), ASYLINK_OK);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    free(e8);
    int st = 0;
    assert_int_equal(cstore_inbox_peek(t->s, &k8, &st, &in), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_PENDING);
    assert_null(in.envelope);
    assert_true(in.has_digest);
    assert_memory_equal(in.digest, digest, 64);
    assert_false(in.topic);
    assert_string_equal(in.sender, "BE");
    assert_int_equal(cstore_inbox_find(t->s, id8, &ref, 1, &np, &na), ASYLINK_OK);
    assert_int_equal(np, 1);
    assert_true(ref.has_digest);
    assert_memory_equal(ref.digest, digest, 64);
    assert_false(ref.topic);
    assert_string_equal(ref.sender, "BE");
    assert_int_equal(cstore_inbox_next_pending(t->s, 0, &in), ASYLINK_OK);
    assert_int_equal(in.envelope_len, 200);
    assert_true(t_envelope_is(in.envelope, in.envelope_len, 8));
    uint64_t seq8 = in.seq;
    cstore_in_clear(&in);
    cstore_close(&t->s);
    t_seq_key(key, seq8);
    v = t_raw_get(t, "inbox", key, 8, &len);
    assert_int_equal(v[0], 2);
    assert_int_equal(len, 112 + 2);
    free(v);
    assert_true(t_raw_has(t, "inbox_env", key, 8));
    t_open(t);
    assert_int_equal(t_in_ack(t, 8, "BE"), ASYLINK_OK);
    assert_int_equal(cstore_inbox_peek(t->s, &k8, &st, &in), ASYLINK_OK);
    assert_int_equal(st, CSTORE_IN_ACKED);
    uint8_t id9[16];
    t_id(id9, 9);
    cstore_in_key k9 = t_key(id9, "BE", NULL);
    assert_int_equal(cstore_inbox_peek(t->s, &k9, &st, &in), ASYLINK_E_NOT_FOUND);
    /* a feed message's record says so to a look-up by id, too */
    uint8_t id10[16];
    t_id(id10, 10);
    uint8_t *e10 = t_envelope(10, 90);
    cstore_in_key k10 = t_key(id10, "BE", "feed-a");
    cstore_in_extra fextra = {digest, true};
    assert_int_equal(cstore_begin(t->s, &x), ASYLINK_OK);
    assert_int_equal(cstore_inbox_add_extra(x, &k10, 10, 10, e10, 90, &fextra, NULL), ASYLINK_OK);
    assert_int_equal(cstore_commit(&x), ASYLINK_OK);
    free(e10);
    assert_int_equal(cstore_inbox_find(t->s, id10, &ref, 1, &np, &na), ASYLINK_OK);
    assert_int_equal(np, 1);
    assert_true(ref.has_digest);
    assert_true(ref.topic);
    assert_string_equal(ref.subscription, "feed-a");
    cstore_close(&t->s);
    assert_false(t_raw_has(t, "inbox_env", key, 8));
    t_seq_key(key, 1);
    v = t_raw_get(t, "inbox", key, 8, &len);
    assert_int_equal(v[0], 1); /* the old one's tombstone stays of version 1 */
    assert_int_equal(len, 48 + 2);
    free(v);
    t_open(t);
}

/* cstore_outbox_match_many(): receipts checked against the outbox in one read. */
static void test_outbox_match_many(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *to[] = {"FR", "IT", NULL};
    t_out_add(t, 1, to, 100);
    t_out_add(t, 2, to, 100);
    assert_int_equal(t_out_state(t, 2, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    uint8_t id1[16], id2[16], id9[16], d1[64], d2[64], bad[64];
    t_id(id1, 1);
    t_id(id2, 2);
    t_id(id9, 9);
    memset(d1, 1, sizeof d1); /* t_out_add's digest of message n: bytes n */
    memset(d2, 2, sizeof d2);
    memset(bad, 2, sizeof bad);
    bad[63] ^= 1;
    cstore_out_match m[] = {
        {.id = id1, .recipient = "FR", .digest = d1, .rc = -1}, /* pending: still checked */
        {.id = id2, .recipient = "IT", .digest = d2, .rc = -1},
        {.id = id2, .recipient = "BE", .digest = d2, .rc = -1},  /* not a recipient */
        {.id = id2, .recipient = "FR", .digest = bad, .rc = -1}, /* another envelope */
        {.id = id9, .recipient = "FR", .digest = d1, .rc = -1},  /* never sent */
    };
    assert_int_equal(cstore_outbox_match_many(t->s, m, 5), ASYLINK_OK);
    assert_int_equal(m[0].rc, ASYLINK_OK);
    assert_int_equal(m[1].rc, ASYLINK_OK);
    assert_int_equal(m[2].rc, ASYLINK_E_TAMPERED);
    assert_int_equal(m[3].rc, ASYLINK_E_TAMPERED);
    assert_int_equal(m[4].rc, ASYLINK_E_NOT_FOUND);
    assert_int_equal(cstore_outbox_match_many(t->s, NULL, 0), ASYLINK_OK);
    assert_int_equal(cstore_outbox_match_many(t->s, NULL, 1), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_outbox_match_many(NULL, m, 1), ASYLINK_E_INVALID_ARG);
    m[0].recipient = NULL;
    assert_int_equal(cstore_outbox_match_many(t->s, m, 1), ASYLINK_E_INVALID_ARG);
    m[0].recipient = "FR";
    /* a damaged record: E_IO for it, the others still answered */
    cstore_close(&t->s);
    uint8_t key[8];
    t_seq_key(key, 2);
    size_t len;
    uint8_t *rec = t_raw_get(t, "outbox", key, 8, &len);
    t_raw_put(t, "outbox", key, 8, rec, len - 1);
    free(rec);
    t_open(t);
    m[1].rc = m[0].rc = -1;
    assert_int_equal(cstore_outbox_match_many(t->s, m, 2), ASYLINK_OK);
    assert_int_equal(m[0].rc, ASYLINK_OK);
    assert_int_equal(m[1].rc, ASYLINK_E_IO);
}

/*
 * cstore_outbox_state(): the state and a REJECTED entry's code, from the
 * record alone (what asylink_sent_state_get() answers); unknown ids, a
 * purged pending entry, after a reopen, a damaged record, bad arguments.
 */
static void test_outbox_state(void **state)
{
    tctx *t = *state;
    t_open(t);
    const char *to[] = {"FR", NULL};
    for (unsigned n = 1; n <= 5; n++)
        t_out_add(t, n, to, 100);
    assert_int_equal(t_out_state(t, 2, CSTORE_OUT_ACCEPTED, 0, ""), ASYLINK_OK);
    assert_int_equal(t_out_state(t, 3, CSTORE_OUT_REJECTED, ASYLINK_E_POLICY, "no"), ASYLINK_OK);
    uint8_t id[16];
    t_id(id, 4);
    cstore_txn *txn = NULL;
    assert_int_equal(cstore_begin(t->s, &txn), ASYLINK_OK);
    assert_int_equal(cstore_purge(txn, id, true, NULL, NULL), ASYLINK_OK);
    assert_int_equal(cstore_commit(&txn), ASYLINK_OK);
    static const struct {
        unsigned n;
        int rc, state, code;
    } want[] = {
        {1, ASYLINK_OK, CSTORE_OUT_PENDING, ASYLINK_OK},
        {2, ASYLINK_OK, CSTORE_OUT_ACCEPTED, ASYLINK_OK},
        {3, ASYLINK_OK, CSTORE_OUT_REJECTED, ASYLINK_E_POLICY},
        {4, ASYLINK_OK, CSTORE_OUT_REJECTED, ASYLINK_E_PURGED},
        {9, ASYLINK_E_NOT_FOUND, 0, ASYLINK_OK},
    };
    for (int pass = 0; pass < 2; pass++) { /* the same after a reopen */
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            int st = -1, code = -1;
            t_id(id, want[i].n);
            assert_int_equal(cstore_outbox_state(t->s, id, &st, &code), want[i].rc);
            assert_int_equal(st, want[i].state);
            assert_int_equal(code, want[i].code);
        }
        t_reopen(t);
    }
    int st = -1, code = -1;
    assert_int_equal(cstore_outbox_state(NULL, id, &st, &code), ASYLINK_E_INVALID_ARG);
    assert_int_equal(st, 0);
    assert_int_equal(code, ASYLINK_OK);
    assert_int_equal(cstore_outbox_state(t->s, NULL, &st, &code), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_outbox_state(t->s, id, NULL, &code), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cstore_outbox_state(t->s, id, &st, NULL), ASYLINK_E_INVALID_ARG);
    /* the retention sweep removes the finished records (NOT_FOUND then), never a PENDING one */
    bool more = false;
    assert_int_equal(t_sweep(t, UINT64_MAX, 100, &more).outbox, 3);
    for (unsigned n = 1; n <= 4; n++) {
        t_id(id, n);
        assert_int_equal(cstore_outbox_state(t->s, id, &st, &code),
                         n == 1 ? ASYLINK_OK : ASYLINK_E_NOT_FOUND);
        assert_int_equal(st, n == 1 ? CSTORE_OUT_PENDING : 0);
    }
    /* a damaged record is E_IO, never a state read from it */
    cstore_close(&t->s);
    uint8_t key[8];
    t_seq_key(key, 1);
    size_t len;
    uint8_t *rec = t_raw_get(t, "outbox", key, 8, &len);
    t_raw_put(t, "outbox", key, 8, rec, len - 1);
    free(rec);
    t_open(t);
    t_id(id, 1);
    st = code = -1;
    assert_int_equal(cstore_outbox_state(t->s, id, &st, &code), ASYLINK_E_IO);
    assert_int_equal(st, 0);
    assert_int_equal(code, ASYLINK_OK);
}

/*
 * A reader killed with kill -9 inside its read transaction (an mdb_copy,
 * say) while another process has the environment open leaves its slot in
 * lock.mdb; cstore_open() clears it and says how many.
 */
static void test_stale_readers(void **state)
{
    tctx *t = *state;
    t_open(t);
    cstore_close(&t->s);
    int hold = -1;
    pid_t holder = stalereader_child(t->data, false, &hold);
    assert_true(holder > 0);
    pid_t dead = stalereader_kill(t->data);
    assert_true(dead > 0);
    assert_int_equal(stalereader_count(t->data, dead), 1); /* left behind */
    t_open(t);
    assert_int_equal(cstore_stale_readers(t->s), 1);
    cstore_close(&t->s);
    assert_int_equal(stalereader_count(t->data, dead), 0); /* cleared */
    assert_int_equal(stalereader_release(holder, hold), 0);
    t_open(t); /* none left: nothing to say */
    assert_int_equal(cstore_stale_readers(t->s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_reason_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_two_senders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_ack_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crl_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsynced_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_growth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_sweep_past_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_refs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_and_sweep_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_inbox_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_match_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_readers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
