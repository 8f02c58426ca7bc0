/*
 * test_view.c — the broker's revocation list against its store
 * (broker/view.c view_remember_crl, DESIGN-CHANGES 46): a newer list is
 * recorded with its signed bytes; an older one in the trust directory is
 * replaced by the store's copy when that verifies under the CA and is the
 * recorded number, else refused (STALE): a store written by an older
 * asylinkd (number only), a damaged copy, another CA's list, a copy older
 * than the recorded number. A real LMDB store in a temporary directory and
 * a real trust directory (tests/support/testfed.h).
 */
#include "fixture.h"

#include "bytes.h"
#include "store.h"
#include "view.h"

#include <lmdb.h>

static const char *s_policy = ASYLINK_SOURCE_DIR "/certs-example/policy.ini";
static const char *const s_ids[] = {"DE", "FR", "IT", NULL};

/* One test's world: a federation and a store in fed->dir/data. */
typedef struct {
    fx_fed *f;
    char data[400];
    store_options o;
    store *s;
} tctx;

static int setup(void **state)
{
    tctx *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->f = fx_new(s_ids);
    snprintf(t->data, sizeof t->data, "%s/data", t->f->dir);
    t->o = (store_options){.dir = t->data,
                           .map_size = 4u << 20,
                           .max_map_size = 64u << 20,
                           .durable = true,
                           .dedup_window_ms = 3600000};
    assert_int_equal(store_open(&t->o, &t->s), ASYLINK_OK);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tctx *t = *state;
    store_close(&t->s);
    fx_free(t->f);
    free(t);
    return 0;
}

/* Writes the trust directory's revoked.crl: number, revoking the serials given (0-ended). */
static void s_write_crl(fx_fed *f, uint64_t number, const uint64_t *serials)
{
    crl_entry e[8];
    size_t n = 0;
    memset(e, 0, sizeof e);
    for (; serials && serials[n] && n < 8; n++) {
        e[n].serial = serials[n];
        e[n].revoked_ms = clock_now_ms();
        snprintf(e[n].reason, sizeof e[n].reason, "test");
    }
    crl *l = NULL;
    assert_int_equal(crl_sign(f->ca_keys, f->ca, number, clock_now_ms(), e, n, &l), ASYLINK_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/revoked.crl", f->trust_dir);
    assert_int_equal(crl_save(l, path), ASYLINK_OK);
    crl_destroy(&l);
}

static view *s_load(tctx *t)
{
    view *v = NULL;
    char err[512] = "";
    if (view_load(t->f->trust_dir, s_policy, &v, err, sizeof err) != ASYLINK_OK)
        fail_msg("view_load: %s", err);
    return v;
}

/* view_remember_crl on a fresh load of the trust directory; *v_out (may be NULL) keeps it. */
static int s_remember(tctx *t, view **v_out, char *err, size_t errlen)
{
    view *v = s_load(t);
    int rc = view_remember_crl(v, t->s, err, errlen);
    if (v_out)
        *v_out = v;
    else
        view_unref(&v);
    return rc;
}

static uint64_t s_crl_number(const view *v)
{
    const crl *l = trust_crl(view_trust(v));
    return l ? l->number : 0;
}

static int s_fr_usable(tctx *t, const view *v)
{
    return trust_usable(view_trust(v), fx_node_by_id(t->f, "FR")->cert, clock_now_ms());
}

/* Sets (raw non-NULL) or deletes the store's "crl" meta value directly with LMDB. */
static void s_raw_crl(tctx *t, const void *raw, size_t len)
{
    store_close(&t->s);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, t->data, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k = {3, "crl"}, v = {len, (void *)raw};
    int rc = raw ? mdb_put(txn, dbi, &k, &v, 0) : mdb_del(txn, dbi, &k, NULL);
    assert_true(rc == 0 || (!raw && rc == MDB_NOTFOUND));
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(store_open(&t->o, &t->s), ASYLINK_OK);
}

/* The store's copy of the list, malloc'd. */
static uint8_t *s_copy(tctx *t, size_t *len)
{
    uint8_t *raw = NULL;
    assert_int_equal(store_crl_signed_get(t->s, &raw, len), ASYLINK_OK);
    return raw;
}

/* The active broker used list 2 (FR revoked): the store holds its number and its bytes. */
static void s_used_list_2(tctx *t)
{
    uint64_t fr[] = {fx_node_by_id(t->f, "FR")->cert->serial, 0};
    s_write_crl(t->f, 1, NULL);
    char err[512] = "";
    assert_int_equal(s_remember(t, NULL, err, sizeof err), ASYLINK_OK);
    s_write_crl(t->f, 2, fr);
    assert_int_equal(s_remember(t, NULL, err, sizeof err), ASYLINK_OK);
    uint64_t ca = 0, number = 0;
    assert_int_equal(store_crl_get(t->s, &ca, &number), ASYLINK_OK);
    assert_int_equal(number, 2);
    assert_int_equal(ca, bytes_get_le(t->f->ca->sign_pk, 8));
}

/* A newer list is recorded with its signed bytes, exactly the file's. */
static void test_newer_list_recorded_with_its_bytes(void **state)
{
    tctx *t = *state;
    s_used_list_2(t);
    view *v = s_load(t);
    size_t len = 0;
    uint8_t *raw = s_copy(t, &len);
    const crl *l = trust_crl(view_trust(v));
    assert_non_null(l);
    assert_int_equal(len, l->raw_len);
    assert_memory_equal(raw, l->raw, len);
    free(raw);
    view_unref(&v);
}

/*
 * The trust directory goes back to list 1 (a standby's copy): the view is
 * served with the store's list 2, FR stays revoked, the store is unchanged.
 * A trust directory without any list is served with it too.
 */
static void test_older_list_replaced_by_the_stores(void **state)
{
    tctx *t = *state;
    s_used_list_2(t);
    s_write_crl(t->f, 1, NULL);
    char err[512] = "";
    view *v = NULL;
    assert_int_equal(s_remember(t, &v, err, sizeof err), ASYLINK_OK);
    assert_int_equal(s_crl_number(v), 2);
    assert_int_equal(s_fr_usable(t, v), ASYLINK_E_REVOKED);
    assert_int_equal(trust_usable(view_trust(v), fx_node_by_id(t->f, "DE")->cert, clock_now_ms()),
                     ASYLINK_OK);
    view_unref(&v);
    uint64_t ca = 0, number = 0;
    assert_int_equal(store_crl_get(t->s, &ca, &number), ASYLINK_OK);
    assert_int_equal(number, 2);

    char path[512];
    snprintf(path, sizeof path, "%s/revoked.crl", t->f->trust_dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(s_remember(t, &v, err, sizeof err), ASYLINK_OK);
    assert_int_equal(s_crl_number(v), 2);
    assert_int_equal(s_fr_usable(t, v), ASYLINK_E_REVOKED);
    view_unref(&v);
}

/* A store from an asylinkd that kept only the number: refused, as before. */
static void test_number_only_store_refuses(void **state)
{
    tctx *t = *state;
    s_used_list_2(t);
    s_raw_crl(t, NULL, 0);
    s_write_crl(t->f, 1, NULL);
    char err[512] = "";
    assert_int_equal(s_remember(t, NULL, err, sizeof err), ASYLINK_E_STALE);
    assert_non_null(strstr(err, "older than number 2"));
    assert_non_null(strstr(err, "holds no copy"));
}

/* A damaged copy, or another CA's list, does not verify: refused. */
static void test_copy_not_verifying_refuses(void **state)
{
    tctx *t = *state;
    s_used_list_2(t);
    size_t len = 0;
    uint8_t *raw = s_copy(t, &len);
    raw[len - 1] ^= 1; /* the signature's last byte */
    s_raw_crl(t, raw, len);
    s_write_crl(t->f, 1, NULL);
    char err[512] = "";
    assert_int_equal(s_remember(t, NULL, err, sizeof err), ASYLINK_E_STALE);
    assert_non_null(strstr(err, "not usable"));
    free(raw);

    fx_fed *other = fx_new(NULL); /* another CA's list number 2: its issuer and key differ */
    crl *l = NULL;
    assert_int_equal(crl_sign(other->ca_keys, other->ca, 2, clock_now_ms(), NULL, 0, &l),
                     ASYLINK_OK);
    s_raw_crl(t, l->raw, l->raw_len);
    crl_destroy(&l);
    fx_free(other);
    assert_int_equal(s_remember(t, NULL, err, sizeof err), ASYLINK_E_STALE);

    s_raw_crl(t, "\x01", 1); /* not a list at all */
    assert_int_equal(s_remember(t, NULL, err, sizeof err), ASYLINK_E_STALE);
}

/*
 * An older asylinkd recorded number 3 beside the copy of list 2: the copy
 * is not the recorded list (it would un-revoke what 3 revoked): refused.
 */
static void test_copy_older_than_number_refuses(void **state)
{
    tctx *t = *state;
    s_used_list_2(t);
    size_t len = 0;
    uint8_t *raw = s_copy(t, &len);
    assert_int_equal(store_crl_put(t->s, bytes_get_le(t->f->ca->sign_pk, 8), 3, NULL, 0),
                     ASYLINK_OK);
    s_raw_crl(t, raw, len);
    free(raw);
    s_write_crl(t->f, 1, NULL);
    char err[512] = "";
    assert_int_equal(s_remember(t, NULL, err, sizeof err), ASYLINK_E_STALE);
    assert_non_null(strstr(err, "older than number 3"));
    assert_non_null(strstr(err, "not that list"));
}

/* A store with the number only gets the bytes of an equal list (an upgraded broker). */
static void test_equal_list_fills_in_the_copy(void **state)
{
    tctx *t = *state;
    s_used_list_2(t);
    s_raw_crl(t, NULL, 0);
    char err[512] = "";
    view *v = NULL;
    assert_int_equal(s_remember(t, &v, err, sizeof err), ASYLINK_OK);
    size_t len = 0;
    uint8_t *raw = s_copy(t, &len);
    assert_int_equal(len, trust_crl(view_trust(v))->raw_len);
    assert_memory_equal(raw, trust_crl(view_trust(v))->raw, len);
    free(raw);
    view_unref(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_newer_list_recorded_with_its_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_list_replaced_by_the_stores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_number_only_store_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_not_verifying_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_older_than_number_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_equal_list_fills_in_the_copy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
