/*
 * test_audit.c — the broker's audit trail (broker/audit.c) on a real LMDB
 * store: changes and their records commit together (publish, duplicate,
 * ack, retry to dead letter, dlq drop with the operator as actor, sweep);
 * a recipient's Nack reason recorded only as its size and digest;
 * notes ride the next write; a transaction run again after the map grew
 * writes its records once; checkpoints every N entries and at a forced
 * flush; reopening continues the chain; retention prunes behind a signed
 * anchor, and a log checked page by page after a pruning holds; a byte
 * changed in a stored entry is named by audit_verify.
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
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "asylink/errors.h"
#include "audit.h"
#include "store.h"
#include "testfed.h"

#define MIB (1024ull * 1024)

typedef struct {
    char root[64];
    char data[80];
    store_options o;
    store *s;
    audit *a;
    audit_options ao;
    uint8_t pk[32], sk[64];
} tctx;

static void t_open(tctx *t)
{
    assert_int_equal(store_open(&t->o, &t->s), ASYLINK_OK);
    assert_int_equal(audit_open(t->s, &t->ao, &t->a), ASYLINK_OK);
}

static void t_close(tctx *t)
{
    audit_close(&t->a);
    store_close(&t->s);
}

static int setup(void **state)
{
    tctx *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->root, sizeof t->root, "/tmp/asylink-audit-XXXXXX");
    if (!mkdtemp(t->root))
        return -1;
    snprintf(t->data, sizeof t->data, "%s/data", t->root);
    t->o = (store_options){.dir = t->data,
                           .map_size = 1 * MIB,
                           .max_map_size = 256 * MIB,
                           .durable = false,
                           .dedup_window_ms = 1000};
    crypto_sign_keypair(t->pk, t->sk);
    t->ao = (audit_options){.broker_node_id = "BROKER.EU",
                            .cert_serial = 5,
                            .sign_sk = t->sk,
                            .sign_pk = t->pk,
                            .checkpoint_entries = 10,
                            .checkpoint_interval_ms = 3600 * 1000};
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tctx *t = *state;
    t_close(t);
    testfed_rmtree(t->root);
    free(t);
    return 0;
}

/* Publishes message n from DE to FR (and IT) with an envelope of len bytes. */
static int t_publish(tctx *t, store_batch *b, unsigned n, size_t len, uint8_t *id, uint8_t *env)
{
    static const char *const rcpt[] = {"FR", "IT"};
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(n * 7 + (unsigned)i);
    memset(env, (int)n, len);
    store_publish p = {.sender = "DE",
                       .message_id = id,
                       .recipients = rcpt,
                       .n_recipients = 2,
                       .envelope = env,
                       .envelope_len = len,
                       .classification = 3,
                       .sender_cert_serial = 9,
                       .expires_ms = 0};
    (void)t;
    return store_batch_publish(b, &p);
}

/* Kinds of entries from..to, and their number. */
typedef struct {
    int kinds[4096];
    char actors[4096][16];
    size_t n;
    uint64_t first, last;
} t_log;

static int t_collect(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    t_log *l = ctx;
    auditchain_decoded *d = NULL;
    assert_true(len > AUDITCHAIN_HASH_LEN);
    assert_int_equal(auditchain_record_decode(val + 32, len - 32, &d), ASYLINK_OK);
    const auditchain_record *r = auditchain_decoded_record(d);
    assert_int_equal(r->seq, seq);
    if (l->n < 4096) {
        l->kinds[l->n] = r->kind;
        snprintf(l->actors[l->n], sizeof l->actors[l->n], "%s", r->actor ? r->actor : "");
    }
    if (!l->first)
        l->first = seq;
    l->last = seq;
    l->n++;
    auditchain_decoded_destroy(&d);
    return 0;
}

static size_t t_count(const t_log *l, int kind)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n && i < 4096; i++)
        n += l->kinds[i] == kind;
    return n;
}

static void t_read(tctx *t, t_log *l)
{
    memset(l, 0, sizeof *l);
    assert_int_equal(audit_read_entries(t->a, 1, 0, SIZE_MAX, t_collect, l), ASYLINK_OK);
}

static void t_verify_ok(tctx *t)
{
    auditchain_result r;
    bool more = true;
    assert_int_equal(audit_verify(t->a, NULL, 0, 0, 1000000, &r, &more), ASYLINK_OK);
    if (!r.ok)
        fprintf(stderr, "verify: %s\n", r.reason);
    assert_true(r.ok);
    assert_false(more);
}

static void test_changes_and_records(void **state)
{
    tctx *t = *state;
    t_open(t);
    uint8_t id[3][16], env[3][64];
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    for (unsigned i = 0; i < 3; i++)
        assert_true(t_publish(t, b, i, sizeof env[i], id[i], env[i]) >= 0);
    assert_true(t_publish(t, b, 0, sizeof env[0], id[0], env[0]) >= 0); /* duplicate */
    assert_int_equal(store_batch_commit(b, 1000), ASYLINK_OK);
    uint64_t seq0 = store_batch_result(b, 0)->seq, seq1 = store_batch_result(b, 1)->seq;
    store_batch_destroy(&b);
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    store_batch_ack(b, "FR", seq0);
    store_batch_ack(b, "FR", 999); /* unknown: no record */
    store_batch_retry(b, "IT", seq1, 2000, 1, ASYLINK_E_UNAVAILABLE, "gone\xff"); /* dead */
    assert_int_equal(store_batch_commit(b, 1500), ASYLINK_OK);
    store_batch_destroy(&b);
    audit_set_actor(t->a, "OPS", 77);
    assert_int_equal(store_dead_letter_drop(t->s, "IT", seq1), ASYLINK_OK);
    audit_set_actor(t->a, NULL, 0);
    t_log l;
    t_read(t, &l);
    assert_int_equal(t_count(&l, AUDIT_ACCEPTED), 3);
    assert_int_equal(t_count(&l, AUDIT_DUPLICATE), 1);
    assert_int_equal(t_count(&l, AUDIT_ACKED), 1);
    assert_int_equal(t_count(&l, AUDIT_DEAD_LETTERED), 1);
    assert_int_equal(t_count(&l, AUDIT_DLQ_DROPPED), 1);
    assert_string_equal(l.actors[l.n - 1], "OPS");
    assert_int_equal(l.n, 7);
    /* notes wait for the next write; a flush writes them */
    auditchain_record r = {.kind = AUDIT_CONNECTED, .actor = "FR", .detail = "client=x"};
    audit_note(t->a, &r);
    assert_true(audit_due(t->a, 0));
    t_read(t, &l);
    assert_int_equal(l.n, 7);
    assert_int_equal(audit_flush(t->a, 0, false), ASYLINK_OK);
    assert_false(audit_due(t->a, 0));
    t_read(t, &l);
    assert_int_equal(l.n, 8);
    assert_int_equal(l.kinds[7], AUDIT_CONNECTED);
    t_verify_ok(t);
}

/* The record of kind `kind` (the last one) as found by t_find_kind(). */
typedef struct {
    int kind;
    bool found;
    char detail[AUDITCHAIN_DETAIL_MAX + 1];
    uint8_t digest[AUDITCHAIN_HASH_LEN];
    bool has_digest;
    uint32_t size;
    int code;
} t_found;

static int t_find_kind(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    t_found *f = ctx;
    auditchain_decoded *d = NULL;
    (void)seq;
    assert_int_equal(auditchain_record_decode(val + 32, len - 32, &d), ASYLINK_OK);
    const auditchain_record *r = auditchain_decoded_record(d);
    if (r->kind == f->kind) {
        f->found = true;
        snprintf(f->detail, sizeof f->detail, "%s", r->detail ? r->detail : "");
        f->has_digest = r->reason_digest != NULL;
        if (r->reason_digest)
            memcpy(f->digest, r->reason_digest, AUDITCHAIN_HASH_LEN);
        f->size = r->reason_size;
        f->code = r->code;
    }
    auditchain_decoded_destroy(&d);
    return 0;
}

/* Counts stored entries whose bytes hold "Ahmed". */
static int t_grep_ahmed(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    (void)seq;
    *(size_t *)ctx += memmem(val, len, "Ahmed", 5) != NULL;
    return 0;
}

static t_found t_last_of(tctx *t, int kind)
{
    t_found f = {.kind = kind};
    assert_int_equal(audit_read_entries(t->a, 1, 0, SIZE_MAX, t_find_kind, &f), ASYLINK_OK);
    assert_true(f.found);
    return f;
}

/*
 * A recipient's own reason (a Nack's: retry_backoff, dead_letter) is in
 * the dead letter and in the audit record only as its size and digest; the
 * broker's own reason of a lost session (retry) stays readable text.
 */
static void test_node_reason_digest(void **state)
{
    tctx *t = *state;
    t_open(t);
    static const char why[] = "applicant Ahmed X. not known here";
    uint8_t id[3][16], env[3][64], want[AUDITCHAIN_HASH_LEN];
    auditchain_reason_digest(why, strlen(why), want);
    store_batch *b = NULL;
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    for (unsigned i = 0; i < 3; i++)
        assert_true(t_publish(t, b, i, sizeof env[i], id[i], env[i]) >= 0);
    assert_int_equal(store_batch_commit(b, 1000), ASYLINK_OK);
    uint64_t seq[3];
    for (int i = 0; i < 3; i++)
        seq[i] = store_batch_result(b, (size_t)i)->seq;
    store_batch_destroy(&b);
    /* FR Nacks the first to retry, dead-letters the second; IT's session is lost with the third */
    store_backoff bo = {.base_ms = 1000, .max_ms = 60000, .since_ms = 1500};
    assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
    assert_true(store_batch_retry_backoff(b, "FR", seq[0], &bo, 5, ASYLINK_E_NOT_FOUND, why) >= 0);
    assert_true(store_batch_dead_letter(b, "FR", seq[1], ASYLINK_E_NOT_FOUND, why) >= 0);
    assert_true(store_batch_retry(b, "IT", seq[2], 2000, 1, ASYLINK_E_UNAVAILABLE,
                                  "session ended before the delivery was acknowledged") >= 0);
    assert_int_equal(store_batch_commit(b, 1500), ASYLINK_OK);
    store_batch_destroy(&b);
    t_found f = t_last_of(t, AUDIT_NACKED);
    assert_string_equal(f.detail, "");
    assert_true(f.has_digest);
    assert_memory_equal(f.digest, want, sizeof want);
    assert_int_equal(f.size, strlen(why));
    assert_int_equal(f.code, ASYLINK_E_NOT_FOUND);
    /* two DEAD_LETTERED records: FR's (digest) first, then IT's lost session (text) */
    f = t_last_of(t, AUDIT_DEAD_LETTERED);
    assert_string_equal(f.detail, "session ended before the delivery was acknowledged");
    assert_false(f.has_digest);
    assert_int_equal(f.size, 0);
    /* the text itself is kept where a purge erases it: FR's dead letter */
    store_dead_letter dl;
    assert_int_equal(store_dead_letter_next(t->s, "FR", NULL, 0, &dl), ASYLINK_OK);
    assert_int_equal(dl.seq, seq[1]);
    assert_string_equal(dl.reason, why);
    /* nowhere in the chain: every stored entry's bytes searched */
    size_t hits = 0;
    assert_int_equal(audit_read_entries(t->a, 1, 0, SIZE_MAX, t_grep_ahmed, &hits), ASYLINK_OK);
    assert_int_equal(hits, 0);
    t_log l;
    t_read(t, &l);
    assert_int_equal(t_count(&l, AUDIT_DEAD_LETTERED), 2);
    t_verify_ok(t);
}

static void test_map_growth_writes_once(void **state)
{
    tctx *t = *state;
    t_open(t);
    /* 1 MiB map: these commits grow it several times, each rerunning its transaction */
    size_t len = 200 * 1024, total = 0;
    uint8_t *env = malloc(len), id[16];
    for (unsigned i = 0; i < 20; i++) {
        store_batch *b = NULL;
        assert_int_equal(store_batch_new(t->s, &b), ASYLINK_OK);
        auditchain_record r = {.kind = AUDIT_DELIVERED, .actor = "FR"};
        audit_note(t->a, &r);
        assert_true(t_publish(t, b, i, len, id, env) >= 0);
        assert_int_equal(store_batch_commit(b, 1000 + i), ASYLINK_OK);
        store_batch_destroy(&b);
        total += 2;
    }
    free(env);
    t_log l;
    t_read(t, &l);
    assert_int_equal(l.n, total);
    assert_int_equal(t_count(&l, AUDIT_ACCEPTED), 20);
    assert_int_equal(t_count(&l, AUDIT_DELIVERED), 20);
    t_verify_ok(t);
    audit_head h;
    assert_int_equal(audit_head_get(t->a, &h), ASYLINK_OK);
    assert_int_equal(h.last_checkpoint_seq, 40); /* every 10 entries */
}

static void test_reopen_continues(void **state)
{
    tctx *t = *state;
    t_open(t);
    for (int i = 0; i < 5; i++) {
        auditchain_record r = {.kind = AUDIT_STARTED, .detail = "x"};
        audit_note(t->a, &r);
        assert_int_equal(audit_flush(t->a, 0, false), ASYLINK_OK);
    }
    assert_int_equal(audit_flush(t->a, 0, true), ASYLINK_OK); /* forced checkpoint at 5 */
    audit_head h;
    assert_int_equal(audit_head_get(t->a, &h), ASYLINK_OK);
    assert_int_equal(h.last_seq, 5);
    assert_int_equal(h.last_checkpoint_seq, 5);
    t_close(t);
    t_open(t);
    auditchain_record r = {.kind = AUDIT_STARTED};
    audit_note(t->a, &r);
    assert_int_equal(audit_flush(t->a, 0, false), ASYLINK_OK);
    assert_int_equal(audit_head_get(t->a, &h), ASYLINK_OK);
    assert_int_equal(h.first_seq, 1);
    assert_int_equal(h.last_seq, 6);
    t_verify_ok(t);
}

static void test_prune(void **state)
{
    tctx *t = *state;
    t->ao.retention_ms = 1000;
    t_open(t);
    for (int i = 0; i < 35; i++) { /* checkpoints at 10, 20, 30 (signed "now") */
        auditchain_record r = {.kind = AUDIT_STARTED};
        audit_note(t->a, &r);
        assert_int_equal(audit_flush(t->a, 0, false), ASYLINK_OK);
    }
    uint64_t removed = 0;
    /* too young: nothing goes */
    assert_int_equal(audit_prune(t->a, 1000, 1000, &removed), ASYLINK_OK);
    assert_int_equal(removed, 0);
    /* far in the future: whole checkpoint intervals within the budget (25: two of them) */
    uint64_t later = UINT64_C(1) << 52;
    assert_int_equal(audit_prune(t->a, later, 25, &removed), ASYLINK_OK);
    assert_int_equal(removed, 20);
    t_log l;
    t_read(t, &l);
    assert_int_equal(l.first, 21);
    assert_int_equal(l.kinds[l.n - 1], AUDIT_PRUNED);
    auditchain_result r;
    bool more;
    assert_int_equal(audit_verify(t->a, NULL, 0, 0, 1000000, &r, &more), ASYLINK_OK);
    assert_true(r.ok);
    assert_int_equal(r.anchor_seq, 20);
    assert_int_equal(audit_prune(t->a, later, 1000, &removed), ASYLINK_OK);
    assert_int_equal(removed, 10); /* up to 30 */
    t_verify_ok(t);
}

/* What t_cut() removes: entries from..to and the checkpoint at ckpt. */
typedef struct {
    uint8_t from, to, ckpt;
} t_cut_spec;

/* store_write() fn: removes what ctx (a t_cut_spec) says, as an attacker with the files could. */
static int t_cut(void *ctx, void *txnp)
{
    const t_cut_spec *c = ctx;
    MDB_txn *txn = txnp;
    MDB_dbi log, ck;
    int rc = mdb_dbi_open(txn, "audit", 0, &log);
    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "audit_ckpt", 0, &ck);
    for (unsigned seq = c->from; rc == MDB_SUCCESS && seq <= c->to; seq++) {
        uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, (uint8_t)seq};
        MDB_val k = {8, key};
        rc = mdb_del(txn, log, &k, NULL);
    }
    uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, c->ckpt};
    MDB_val k = {8, key};
    return rc == MDB_SUCCESS ? mdb_del(txn, ck, &k, NULL) : rc;
}

/* A log of 35 entries with a retention, pruned: 1..20 removed, PRUNED record 36. */
static void t_log_pruned(tctx *t)
{
    t->ao.retention_ms = 1000;
    t_open(t);
    for (int i = 0; i < 35; i++) {
        auditchain_record r = {.kind = AUDIT_STARTED};
        audit_note(t->a, &r);
        assert_int_equal(audit_flush(t->a, 0, false), ASYLINK_OK);
    }
    uint64_t removed = 0;
    assert_int_equal(audit_prune(t->a, UINT64_C(1) << 52, 25, &removed), ASYLINK_OK);
    assert_int_equal(removed, 20);
}

static void test_prune_then_cut(void **state)
{
    tctx *t = *state;
    t_log_pruned(t);
    t_verify_ok(t);
    /* an attacker removes 21..30 and the anchor at 20: checkpoint 30 would look like an
       anchor, but the PRUNED record says the log starts at 21 */
    store_set_audit(t->s, NULL);
    assert_int_equal(store_write(t->s, t_cut, &(t_cut_spec){21, 30, 20}), ASYLINK_OK);
    auditchain_result r;
    bool more;
    assert_int_equal(audit_verify(t->a, NULL, 0, 0, 1000, &r, &more), ASYLINK_OK);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 21);
}

/*
 * Verifies the whole log page by page (limit entries each), as `asylink
 * audit verify` asks the broker: each page starts where the last ended.
 */
static void t_verify_paged(tctx *t, size_t limit, auditchain_result *r)
{
    uint64_t from = 0;
    bool more = true;
    while (more) {
        assert_int_equal(audit_verify(t->a, NULL, from, 0, limit, r, &more), ASYLINK_OK);
        if (!r->ok)
            return;
        from = r->last_seq + 1;
    }
}

static void test_prune_then_paged_verify(void **state)
{
    tctx *t = *state;
    t_log_pruned(t); /* 21..35, then the PRUNED record (36) naming anchor 20 */
    t_verify_ok(t);
    /* the PRUNED record in the last page, which starts well after the anchor: intact */
    auditchain_result r;
    t_verify_paged(t, 5, &r);
    if (!r.ok)
        fprintf(stderr, "paged verify: %s\n", r.reason);
    assert_true(r.ok);
    assert_int_equal(r.last_seq, 36);
    /* and an attacker's cut is still caught when the log is checked in pages */
    store_set_audit(t->s, NULL);
    assert_int_equal(store_write(t->s, t_cut, &(t_cut_spec){21, 30, 20}), ASYLINK_OK);
    t_verify_paged(t, 5, &r);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 21);
}

static void test_cut_front_without_pruning(void **state)
{
    tctx *t = *state;
    t_open(t);
    for (int i = 0; i < 35; i++) { /* checkpoints at 10, 20, 30; never pruned */
        auditchain_record r = {.kind = AUDIT_STARTED};
        audit_note(t->a, &r);
        assert_int_equal(audit_flush(t->a, 0, false), ASYLINK_OK);
    }
    t_verify_ok(t);
    /* an attacker removes the oldest entries up to a checkpoint, and the checkpoints
       before it: checkpoint 20 looks like a pruning's anchor, but no PRUNED record
       says the log was pruned */
    store_set_audit(t->s, NULL);
    assert_int_equal(store_write(t->s, t_cut, &(t_cut_spec){1, 20, 10}), ASYLINK_OK);
    auditchain_result r;
    bool more;
    assert_int_equal(audit_verify(t->a, NULL, 0, 0, 1000, &r, &more), ASYLINK_OK);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 1);
    /* and in pages (a long log): the store records no pruning, so the last page says so */
    t_verify_paged(t, 5, &r);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 1);
    assert_non_null(strstr(r.reason, "records no pruning"));
    /* the same after a restart (the store's record of its last pruning is looked for once) */
    t_close(t);
    t_open(t);
    t_verify_paged(t, 5, &r);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 1);
}

/* store_write() fn: sets (ctx: the seq, or NULL: deletes) the audit's record of its last pruning.
 */
static int t_last_pruned(void *ctx, void *txnp)
{
    MDB_txn *txn = txnp;
    MDB_dbi meta;
    MDB_val k = {11, "last_pruned"};
    int rc = mdb_dbi_open(txn, "audit_meta", 0, &meta);
    if (rc != MDB_SUCCESS)
        return rc;
    if (!ctx) {
        rc = mdb_del(txn, meta, &k, NULL);
        return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
    }
    uint8_t val[8] = {0, 0, 0, 0, 0, 0, 0, *(const uint8_t *)ctx};
    MDB_val v = {8, val};
    return mdb_put(txn, meta, &k, &v, 0);
}

/*
 * Checked in pages, a pruned log relies on the store's record of its last
 * PRUNED record: a store from before that record finds it once at open; a
 * record pointing elsewhere, or a cut beyond the pruning, is caught in
 * pages as in one walk.
 */
static void test_last_pruned_in_pages(void **state)
{
    tctx *t = *state;
    t_log_pruned(t); /* entries 21..35, PRUNED record 36 naming anchor 20 */
    auditchain_result r;
    t_verify_paged(t, 5, &r);
    assert_true(r.ok);
    /* a store written before the record: found at the next open */
    store_set_audit(t->s, NULL);
    assert_int_equal(store_write(t->s, t_last_pruned, NULL), ASYLINK_OK);
    t_close(t);
    t_open(t);
    t_verify_paged(t, 5, &r);
    if (!r.ok)
        fprintf(stderr, "paged verify: %s\n", r.reason);
    assert_true(r.ok);
    /* the record pointing at an entry that is not a PRUNED record */
    store_set_audit(t->s, NULL);
    assert_int_equal(store_write(t->s, t_last_pruned, &(uint8_t){33}), ASYLINK_OK);
    t_verify_paged(t, 5, &r);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 33);
    /* ... or beyond the log's end */
    assert_int_equal(store_write(t->s, t_last_pruned, &(uint8_t){90}), ASYLINK_OK);
    t_verify_paged(t, 5, &r);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 90);
    /* the right record, but entries cut beyond the pruning's anchor (21..30 and checkpoint 20) */
    assert_int_equal(store_write(t->s, t_last_pruned, &(uint8_t){36}), ASYLINK_OK);
    assert_int_equal(store_write(t->s, t_cut, &(t_cut_spec){21, 30, 20}), ASYLINK_OK);
    t_verify_paged(t, 5, &r);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 21);
}

/* store_write() fn: flips a byte of entry 3's record. */
static int t_tamper(void *ctx, void *txnp)
{
    (void)ctx;
    MDB_txn *txn = txnp;
    MDB_dbi dbi;
    uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 3};
    MDB_val k = {8, key}, v;
    int rc = mdb_dbi_open(txn, "audit", 0, &dbi);
    if (rc == MDB_SUCCESS)
        rc = mdb_get(txn, dbi, &k, &v);
    if (rc != MDB_SUCCESS)
        return rc;
    uint8_t copy[1024];
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size - 1] ^= 1;
    MDB_val nv = {v.mv_size, copy};
    return mdb_put(txn, dbi, &k, &nv, 0);
}

static void test_verify_names_entry(void **state)
{
    tctx *t = *state;
    t_open(t);
    for (int i = 0; i < 6; i++) {
        auditchain_record r = {
            .kind = AUDIT_ADMIN, .actor = "OPS", .request = "stats", .detail = "abc"};
        audit_note(t->a, &r);
        assert_int_equal(audit_flush(t->a, 0, false), ASYLINK_OK);
    }
    store_set_audit(t->s, NULL); /* the tampering is not audited */
    assert_int_equal(store_write(t->s, t_tamper, NULL), ASYLINK_OK);
    auditchain_result r;
    bool more;
    assert_int_equal(audit_verify(t->a, NULL, 0, 0, 1000, &r, &more), ASYLINK_OK);
    assert_false(r.ok);
    assert_int_equal(r.first_bad_seq, 3);
    /* paged: a page after the broken entry starts from its stored hash and is fine */
    assert_int_equal(audit_verify(t->a, NULL, 4, 0, 1000, &r, &more), ASYLINK_OK);
    assert_true(r.ok);
    assert_int_equal(r.first_seq, 4);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_changes_and_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_reason_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_growth_writes_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_then_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_then_paged_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_front_without_pruning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_pruned_in_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_names_entry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
