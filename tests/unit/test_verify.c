/*
 * test_verify.c — the broker's Publish checks on batched envelopes
 * (broker/verify.c, PROTOCOL.md 4.10 and 11.5): the verify workers share
 * the view's verified-root cache (one Ed25519 verification per batch, from
 * several threads at once), a forged proof under a cached root is still
 * refused, and a reloaded view (here: with a revocation list) starts with an
 * empty cache and refuses the revoked sender's batch.
 */
#include "fixture.h"

#include "asylink/v1/envelope.pb-c.h"
#include "verify.h"
#include "view.h"

#include <zmq.h>

static const char *const s_ids[] = {"DE", "FR", "IT", NULL};
static const char *const s_fr[] = {"FR", NULL};

static const char *s_policy = ASYLINK_SOURCE_DIR "/certs-example/policy.ini";

static view *s_view(fx_fed *f)
{
    view *v = NULL;
    char err[512] = "";
    int rc = view_load(f->trust_dir, s_policy, &v, err, sizeof err);
    if (rc != ASYLINK_OK)
        fail_msg("view_load: %s", err);
    return v;
}

/* n envelopes of type ctype and classification cls from DE to FR, signed as one batch. */
static void s_batch_of(fx_fed *f, const char *ctype, int cls, size_t n, uint8_t **bytes,
                       size_t *lens, uint8_t (*ids)[16])
{
    fx_node *de = fx_node_by_id(f, "DE");
    const cert *fr[] = {fx_node_by_id(f, "FR")->cert};
    envelope_sealer *s = NULL;
    assert_int_equal(envelope_sealer_new(de->keys, "DE", de->cert->serial, NULL, NULL, &s),
                     ASYLINK_OK);
    envelope_draft **d = calloc(n, sizeof *d);
    envelope_params p = {.recipients = s_fr,
                         .n_recipients = 1,
                         .readers = fr,
                         .n_readers = 1,
                         .content_type = ctype,
                         .classification = cls};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(envelope_seal_draft(s, &p, (const uint8_t *)"case", 4, &d[i], ids[i]),
                         ASYLINK_OK);
    assert_int_equal(envelope_sign(s, d, n), ASYLINK_OK);
    for (size_t i = 0; i < n; i++) {
        bytes[i] = envelope_draft_take(d[i], &lens[i]);
        envelope_draft_destroy(&d[i]);
    }
    free(d);
    envelope_sealer_destroy(&s);
}

/* n envelopes from DE to FR, signed as one batch; bytes[i] malloc'd. */
static void s_batch(fx_fed *f, size_t n, uint8_t **bytes, size_t *lens, uint8_t (*ids)[16])
{
    s_batch_of(f, "asylink.v1.SupportRequest", ENVELOPE_LIMITED, n, bytes, lens, ids);
}

static verify_job *s_job(view *v, const uint8_t *env, size_t len, const uint8_t id[16])
{
    verify_job *j = calloc(1, sizeof *j);
    assert_non_null(j);
    snprintf(j->node_id, sizeof j->node_id, "DE");
    memcpy(j->message_id, id, 16);
    assert_int_equal(zmq_msg_init_size(&j->envelope, len), 0);
    memcpy(zmq_msg_data(&j->envelope), env, len);
    j->view = view_ref(v);
    j->now_ms = clock_now_ms();
    j->max_envelope_bytes = ENVELOPE_MAX_SIZE;
    j->clock_skew_future_ms = 60000;
    j->max_recipients = 256;
    return j;
}

/* The walk cache s_run() checks with, as a worker does (NULL: none). */
static batch_cache *s_walks;

static int s_run(view *v, const uint8_t *env, size_t len, const uint8_t id[16])
{
    verify_job *j = s_job(v, env, len, id);
    verify_job_run_cached(j, s_walks);
    int rc = j->code;
    verify_job_destroy(&j);
    if (s_walks) { /* the worker's answer is the plain one */
        j = s_job(v, env, len, id);
        verify_job_run(j);
        assert_int_equal(j->code, rc);
        verify_job_destroy(&j);
    }
    return rc;
}

/*
 * A forged path and a changed body under a cached root: BAD_SIGNATURE; a
 * revoked sender: REVOKED. Run twice: without a walk cache, and with one
 * that knows the batch's nodes (state: 1).
 */
static void s_forgery_and_reload(bool walk_cache)
{
    assert_int_equal(batch_cache_new(&s_walks), ASYLINK_OK);
    if (!walk_cache)
        batch_cache_destroy(&s_walks);
    fx_fed *f = fx_new(s_ids);
    view *v = s_view(f);
    uint8_t *b[5], ids[5][16];
    size_t lens[5];
    s_batch(f, 5, b, lens, ids);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(s_run(v, b[i], lens[i], ids[i]), ASYLINK_OK);
    uint64_t hits = 0, misses = 0;
    rootcache_stats(view_rootcache(v), NULL, &hits, &misses);
    assert_int_equal(misses, 1);
    assert_int_equal(hits, walk_cache ? 4 + 5 : 4); /* s_run() checks twice with a walk cache */
    /* envelope 3 with a path element changed, at each level */
    Asylink__V1__Envelope *pb = asylink__v1__envelope__unpack(NULL, lens[3], b[3]);
    size_t flen = asylink__v1__envelope__get_packed_size(pb);
    uint8_t *forged = malloc(flen);
    for (size_t k = 0; k < pb->batch->n_path; k++) {
        pb->batch->path[k].data[0] ^= 0x80;
        asylink__v1__envelope__pack(pb, forged);
        assert_int_equal(s_run(v, forged, flen, ids[3]), ASYLINK_E_BAD_SIGNATURE);
        pb->batch->path[k].data[0] ^= 0x80;
    }
    /* envelope 3 with another body byte: its digest changes, the proof no longer leads to the root
     */
    pb->body.data[pb->body.len - 1] ^= 0x01;
    asylink__v1__envelope__pack(pb, forged);
    assert_int_equal(s_run(v, forged, flen, ids[3]), ASYLINK_E_BAD_SIGNATURE);
    asylink__v1__envelope__free_unpacked(pb, NULL);
    free(forged);
    /* envelope 4 claiming the proof of envelope 2 */
    Asylink__V1__Envelope *p2 = asylink__v1__envelope__unpack(NULL, lens[2], b[2]);
    Asylink__V1__Envelope *p4 = asylink__v1__envelope__unpack(NULL, lens[4], b[4]);
    Asylink__V1__BatchProof *tmp = p4->batch;
    p4->batch = p2->batch;
    flen = asylink__v1__envelope__get_packed_size(p4);
    forged = malloc(flen);
    asylink__v1__envelope__pack(p4, forged);
    p4->batch = tmp;
    assert_int_equal(s_run(v, forged, flen, ids[4]), ASYLINK_E_BAD_SIGNATURE);
    free(forged);
    asylink__v1__envelope__free_unpacked(p2, NULL);
    asylink__v1__envelope__free_unpacked(p4, NULL);
    /* Revoke DE and reload: the new view has an empty cache and refuses the batch. */
    crl_entry e = {.serial = fx_node_by_id(f, "DE")->cert->serial, .revoked_ms = clock_now_ms()};
    snprintf(e.reason, sizeof e.reason, "key compromise");
    crl *l = NULL;
    assert_int_equal(crl_sign(f->ca_keys, f->ca, 2, clock_now_ms(), &e, 1, &l), ASYLINK_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/revoked.crl", f->trust_dir);
    assert_int_equal(crl_save(l, path), ASYLINK_OK);
    crl_destroy(&l);
    view *fresh = NULL;
    char err[512] = "";
    assert_int_equal(view_load(f->trust_dir, s_policy, &fresh, err, sizeof err), ASYLINK_OK);
    size_t entries = 99;
    rootcache_stats(view_rootcache(fresh), &entries, NULL, NULL);
    assert_int_equal(entries, 0);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(s_run(fresh, b[i], lens[i], ids[i]), ASYLINK_E_REVOKED);
    /* the old view (jobs still holding it) keeps its own cache */
    assert_int_equal(s_run(v, b[0], lens[0], ids[0]), ASYLINK_OK);
    view_unref(&fresh);
    view_unref(&v);
    for (size_t i = 0; i < 5; i++)
        free(b[i]);
    fx_free(f);
    batch_cache_destroy(&s_walks);
}

static void test_cached_root_forgery_and_reload(void **state)
{
    (void)state;
    s_forgery_and_reload(false);
    s_forgery_and_reload(true);
}

/* Frees what a pool test built: its view, the n envelopes and their ids and lengths, the
 * federation. */
static void s_batch_free(fx_fed *f, view **v, uint8_t **b, uint8_t (*ids)[16], size_t *lens,
                         size_t n)
{
    view_unref(v);
    for (size_t i = 0; i < n; i++)
        free(b[i]);
    free(b);
    free(ids);
    free(lens);
    fx_free(f);
}

/* Four workers verify one batch of 1,024 together: every envelope passes, few verifications. */
static void test_pool_shares_cache(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    view *v = s_view(f);
    size_t n = 1000; /* not a multiple of VERIFY_CHUNK: the last chunk goes by the flush */
    uint8_t **b = calloc(n, sizeof *b), (*ids)[16] = calloc(n, 16);
    size_t *lens = calloc(n, sizeof *lens);
    s_batch(f, n, b, lens, ids);
    void *ctx = zmq_ctx_new();
    verify_pool *pool = NULL;
    assert_int_equal(verify_pool_new(ctx, 4, &pool), ASYLINK_OK);
    for (size_t i = 0; i < n; i++) {
        verify_job *j = s_job(v, b[i], lens[i], ids[i]);
        j->arrival = i;
        verify_pool_submit(pool, j);
    }
    verify_pool_flush(pool);
    size_t done = 0, ok = 0;
    zmq_pollitem_t item = {verify_pool_socket(pool), 0, ZMQ_POLLIN, 0};
    for (int rounds = 0; done < n && rounds < 600; rounds++) {
        zmq_poll(&item, 1, 100);
        verify_job *j;
        while ((j = verify_pool_take(pool)) != NULL) {
            done++;
            ok += j->code == ASYLINK_OK;
            verify_job_destroy(&j);
        }
    }
    assert_int_equal(done, n);
    assert_int_equal(ok, n);
    uint64_t hits = 0, misses = 0;
    rootcache_stats(view_rootcache(v), NULL, &hits, &misses);
    assert_int_equal(hits + misses, n);
    assert_true(misses >= 1 && misses <= 4); /* at most one per worker racing the first */
    verify_pool_destroy(&pool);
    zmq_ctx_term(ctx);
    s_batch_free(f, &v, b, ids, lens, n);
}

/*
 * A pool destroyed right after it was made: its workers may not have
 * connected yet, and each must still get its stop (once, destruction hung
 * on a worker the stop messages had missed).
 */
static void test_pool_stops_late_workers(void **state)
{
    (void)state;
    for (int round = 0; round < 300; round++) {
        void *ctx = zmq_ctx_new(); /* its inproc names are free again only once closed */
        verify_pool *pool = NULL;
        assert_int_equal(verify_pool_new(ctx, 4, &pool), ASYLINK_OK);
        verify_pool_destroy(&pool);
        assert_null(pool);
        zmq_ctx_term(ctx);
    }
}

/* Takes finished jobs until want came back (10 s at most), each verified OK; how many came. */
static size_t s_take_ok(verify_pool *pool, size_t want)
{
    size_t done = 0;
    zmq_pollitem_t item = {verify_pool_socket(pool), 0, ZMQ_POLLIN, 0};
    for (int rounds = 0; done < want && rounds < 100; rounds++) {
        zmq_poll(&item, 1, 100);
        verify_job *j;
        while ((j = verify_pool_take(pool)) != NULL) {
            assert_int_equal(j->code, ASYLINK_OK);
            done++;
            verify_job_destroy(&j);
        }
    }
    return done;
}

/* A partial chunk waits for the flush; the pool's destruction frees what is still out. */
static void test_pool_chunks(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    view *v = s_view(f);
    size_t n = VERIFY_CHUNK + 3;
    uint8_t **b = calloc(n, sizeof *b), (*ids)[16] = calloc(n, 16);
    size_t *lens = calloc(n, sizeof *lens);
    s_batch(f, n, b, lens, ids);
    void *ctx = zmq_ctx_new();
    verify_pool *pool = NULL;
    assert_int_equal(verify_pool_new(ctx, 1, &pool), ASYLINK_OK);
    for (size_t i = 0; i < n; i++)
        verify_pool_submit(pool, s_job(v, b[i], lens[i], ids[i]));
    /* the full chunk comes back; the 3 submitted after it do not, before a flush */
    assert_int_equal(s_take_ok(pool, VERIFY_CHUNK), VERIFY_CHUNK);
    zmq_pollitem_t item = {verify_pool_socket(pool), 0, ZMQ_POLLIN, 0};
    zmq_poll(&item, 1, 200);
    assert_null(verify_pool_take(pool));
    /* destroyed with 3 jobs not flushed: destroy sends, joins and frees them (ASan) */
    verify_pool_destroy(&pool);
    assert_null(pool);
    zmq_ctx_term(ctx);
    s_batch_free(f, &v, b, ids, lens, n);
}

/*
 * A pool with nothing at its workers verifies a flush of up to
 * VERIFY_INLINE_MAX jobs itself: they are ready for verify_pool_take() as
 * soon as the flush returns, a forged one refused as a worker would refuse
 * it. Once a chunk went to a worker and came back, the pool is idle again.
 * A large envelope goes to a worker all the same.
 */
static void test_pool_inline(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    view *v = s_view(f);
    size_t n = VERIFY_CHUNK + 2 * VERIFY_INLINE_MAX;
    uint8_t **b = calloc(n, sizeof *b), (*ids)[16] = calloc(n, 16);
    size_t *lens = calloc(n, sizeof *lens);
    s_batch(f, n, b, lens, ids);
    b[1][lens[1] - 1] ^= 0x01; /* its last byte, in its proof's path: refused */
    void *ctx = zmq_ctx_new();
    verify_pool *pool = NULL;
    assert_int_equal(verify_pool_new(ctx, 1, &pool), ASYLINK_OK);
    for (size_t i = 0; i < VERIFY_INLINE_MAX; i++)
        verify_pool_submit(pool, s_job(v, b[i], lens[i], ids[i]));
    verify_pool_flush(pool);
    int codes[2] = {-1, -1};
    for (size_t i = 0; i < VERIFY_INLINE_MAX; i++) {
        verify_job *j = verify_pool_take(pool); /* no poll: verified in the flush */
        assert_non_null(j);
        codes[memcmp(j->message_id, ids[0], 16) == 0 ? 0 : 1] = j->code;
        verify_job_destroy(&j);
    }
    assert_null(verify_pool_take(pool));
    assert_int_equal(codes[0], ASYLINK_OK);
    assert_int_equal(codes[1], ASYLINK_E_BAD_SIGNATURE);
    /* a whole chunk goes to the worker and comes back */
    size_t base = VERIFY_INLINE_MAX;
    for (size_t i = 0; i < VERIFY_CHUNK; i++)
        verify_pool_submit(pool, s_job(v, b[base + i], lens[base + i], ids[base + i]));
    assert_int_equal(s_take_ok(pool, VERIFY_CHUNK), VERIFY_CHUNK);
    zmq_pollitem_t item = {verify_pool_socket(pool), 0, ZMQ_POLLIN, 0};
    /* idle again: the next small flush is verified in place too */
    base += VERIFY_CHUNK;
    for (size_t i = 0; i < VERIFY_INLINE_MAX; i++)
        verify_pool_submit(pool, s_job(v, b[base + i], lens[base + i], ids[base + i]));
    verify_pool_flush(pool);
    for (size_t i = 0; i < VERIFY_INLINE_MAX; i++) {
        verify_job *j = verify_pool_take(pool);
        assert_non_null(j);
        assert_int_equal(j->code, ASYLINK_OK);
        verify_job_destroy(&j);
    }
    assert_int_equal(verify_pool_at_workers(pool), 0);
    /* one envelope above VERIFY_INLINE_BYTES goes to the worker even so (its decoding and
       hashing would stall the loop): refused there, as any undecodable bytes */
    size_t big_len = VERIFY_INLINE_BYTES + 1;
    uint8_t *big = calloc(1, big_len);
    verify_pool_submit(pool, s_job(v, big, big_len, ids[0]));
    verify_pool_flush(pool);
    assert_int_equal(verify_pool_at_workers(pool), 1);
    verify_job *j = NULL;
    for (int rounds = 0; !j && rounds < 100; rounds++) {
        zmq_poll(&item, 1, 100);
        j = verify_pool_take(pool);
    }
    assert_non_null(j);
    assert_int_not_equal(j->code, ASYLINK_OK);
    verify_job_destroy(&j);
    assert_int_equal(verify_pool_at_workers(pool), 0);
    free(big);
    verify_pool_destroy(&pool);
    zmq_ctx_term(ctx);
    s_batch_free(f, &v, b, ids, lens, n);
}

/*
 * A checked Publish keeps a summary of its envelope (the decoded form is
 * freed by the worker): digest, recipients, topic, classification and
 * serial equal what a decode of the same bytes gives; a refused one keeps
 * none.
 */
static void test_summary(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    view *v = s_view(f);
    uint8_t **b = calloc(2, sizeof *b), (*ids)[16] = calloc(2, 16);
    size_t *lens = calloc(2, sizeof *lens);
    s_batch(f, 2, b, lens, ids);
    verify_job *j = s_job(v, b[1], lens[1], ids[1]);
    verify_job_run(j);
    assert_int_equal(j->code, ASYLINK_OK);
    assert_non_null(j->sum);
    envelope *e = NULL;
    assert_int_equal(envelope_decode(b[1], lens[1], 0, &e), ASYLINK_OK);
    const envelope_header *h = envelope_header_of(e);
    assert_memory_equal(j->sum->digest, envelope_digest(e), ENVELOPE_DIGEST_LEN);
    assert_int_equal(j->sum->n_recipients, 1);
    assert_string_equal(j->sum->recipients[0], "FR");
    assert_string_equal(j->sum->topic, "");
    assert_int_equal(j->sum->classification, ENVELOPE_LIMITED);
    assert_int_equal(j->sum->sender_cert_serial, h->sender_cert_serial);
    assert_true(j->sum->sender_cert_serial != 0);
    envelope_destroy(&e);
    verify_job_destroy(&j);
    j = s_job(v, b[1], lens[1], ids[0]); /* the Publish names another message id */
    verify_job_run(j);
    assert_int_equal(j->code, ASYLINK_E_BAD_FIELD);
    assert_null(j->sum);
    verify_job_destroy(&j);
    s_batch_free(f, &v, b, ids, lens, 2);
}

/*
 * A payload type that carries personal data (asylum.proto) travels as
 * PERSONAL: an InformationRequest or InformationReply sent LIMITED or
 * PUBLIC is refused with CLASSIFICATION; sent PERSONAL it passes, and a
 * LIMITED SupportRequest (s_batch) passes too.
 */
static void test_personal_types(void **state)
{
    (void)state;
    static const char *const types[] = {"asylink.v1.InformationRequest",
                                        "asylink.v1.InformationReply"};
    static const int classes[] = {ENVELOPE_PUBLIC, ENVELOPE_LIMITED, ENVELOPE_PERSONAL};
    fx_fed *f = fx_new(s_ids);
    view *v = s_view(f);
    for (size_t t = 0; t < 2; t++)
        for (size_t k = 0; k < 3; k++) {
            uint8_t *b[1], ids[1][16];
            size_t lens[1];
            s_batch_of(f, types[t], classes[k], 1, b, lens, ids);
            verify_job *j = s_job(v, b[0], lens[0], ids[0]);
            verify_job_run(j);
            if (classes[k] == ENVELOPE_PERSONAL) {
                assert_int_equal(j->code, ASYLINK_OK);
            } else {
                assert_int_equal(j->code, ASYLINK_E_CLASSIFICATION);
                assert_non_null(strstr(j->reason, "must travel as PERSONAL"));
                assert_null(j->sum);
            }
            verify_job_destroy(&j);
            free(b[0]);
        }
    uint8_t *b[1], ids[1][16];
    size_t lens[1];
    s_batch(f, 1, b, lens, ids);
    assert_int_equal(s_run(v, b[0], lens[0], ids[0]), ASYLINK_OK);
    free(b[0]);
    view_unref(&v);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached_root_forgery_and_reload),
        cmocka_unit_test(test_pool_shares_cache),
        cmocka_unit_test(test_pool_stops_late_workers),
        cmocka_unit_test(test_pool_chunks),
        cmocka_unit_test(test_pool_inline),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_personal_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
