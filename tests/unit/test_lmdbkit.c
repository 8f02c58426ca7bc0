/*
 * test_lmdbkit.c — the LMDB kit both stores use (core/lmdbkit.h): error
 * mapping, opening, put/delete, meta numbers, schema version, sequences,
 * map size. On a real LMDB environment in a temporary directory.
 */
#include "fixture.h"

#include "bytes.h"
#include "datadir.h"
#include "lmdbkit.h"

#include <errno.h>

typedef struct {
    char dir[64];
    MDB_env *env;
    MDB_dbi meta, seqs;
    MDB_txn *txn; /* a write transaction */
} s_env;

static int s_setup(void **state)
{
    s_env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    snprintf(e->dir, sizeof e->dir, "/tmp/asylink-lmdbkit-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    assert_int_equal(lmdbkit_env_open(&e->env, e->dir, MDB_NOSYNC, 4, 1u << 20), MDB_SUCCESS);
    assert_int_equal(mdb_txn_begin(e->env, NULL, 0, &e->txn), MDB_SUCCESS);
    const lmdbkit_db dbs[] = {{"meta", &e->meta}, {"seqs", &e->seqs}};
    assert_int_equal(lmdbkit_dbs_open(e->txn, dbs, 2), MDB_SUCCESS);
    *state = e;
    return 0;
}

static int s_teardown(void **state)
{
    s_env *e = *state;
    if (e->txn)
        mdb_txn_abort(e->txn);
    mdb_env_close(e->env);
    fx_rmtree(e->dir);
    free(e);
    return 0;
}

static void test_err(void **state)
{
    (void)state;
    assert_int_equal(lmdbkit_err(MDB_SUCCESS), ASYLINK_OK);
    assert_int_equal(lmdbkit_err(MDB_NOTFOUND), ASYLINK_E_NOT_FOUND);
    assert_int_equal(lmdbkit_err(MDB_MAP_FULL), ASYLINK_E_STORE_FULL);
    assert_int_equal(lmdbkit_err(MDB_VERSION_MISMATCH), ASYLINK_E_UNSUPPORTED_VERSION);
    assert_int_equal(lmdbkit_err(ENOMEM), ASYLINK_E_NOMEM);
    assert_int_equal(lmdbkit_err(MDB_CORRUPTED), ASYLINK_E_IO);
    assert_int_equal(lmdbkit_err(MDB_INVALID), ASYLINK_E_IO);
    assert_int_equal(lmdbkit_err(EIO), ASYLINK_E_IO);
    assert_int_equal(lmdbkit_err(LMDBKIT_BAD_RECORD), ASYLINK_E_IO);
    /* a full file system, quota or file size limit is a full store */
    assert_int_equal(lmdbkit_err(ENOSPC), ASYLINK_E_STORE_FULL);
    assert_int_equal(lmdbkit_err(EDQUOT), ASYLINK_E_STORE_FULL);
    assert_int_equal(lmdbkit_err(EFBIG), ASYLINK_E_STORE_FULL);
}

/* Room near a full disk: the reserve is kept; freed pages count. */
static void test_room(void **state)
{
    s_env *e = *state;
    const uint64_t R = DATADIR_RESERVE_BYTES;
    assert_int_equal(lmdbkit_room(0, NULL), 0);
    assert_int_equal(lmdbkit_room(R, NULL), 0);
    assert_int_equal(lmdbkit_room(R + 4096, NULL), 4096);
    assert_int_equal(lmdbkit_room(UINT64_MAX, NULL), UINT64_MAX - R);
    /* Write 64 values of 8 KiB, then delete them: their pages go to the free list. */
    uint8_t val[8192];
    memset(val, 0x5a, sizeof val);
    for (uint64_t i = 0; i < 64; i++) {
        uint8_t key[8];
        bytes_put_be64(key, i);
        assert_int_equal(lmdbkit_put(e->txn, e->seqs, key, 8, val, sizeof val, 0), MDB_SUCCESS);
    }
    assert_int_equal(mdb_txn_commit(e->txn), MDB_SUCCESS);
    assert_int_equal(mdb_txn_begin(e->env, NULL, 0, &e->txn), MDB_SUCCESS);
    assert_int_equal(mdb_drop(e->txn, e->seqs, 0), MDB_SUCCESS);
    assert_int_equal(mdb_txn_commit(e->txn), MDB_SUCCESS);
    e->txn = NULL;
    MDB_txn *r = NULL;
    assert_int_equal(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &r), MDB_SUCCESS);
    uint64_t reusable = lmdbkit_reusable(r);
    assert_true(reusable >= 64 * sizeof val); /* the values' overflow pages, at least */
    assert_int_equal(lmdbkit_room(R, r), reusable);
    assert_int_equal(lmdbkit_room(R + LMDBKIT_ROOM_PLENTY, r), LMDBKIT_ROOM_PLENTY);
    mdb_txn_abort(r);
    assert_int_equal(lmdbkit_reusable(NULL), 0);
}

static void test_put_del_meta(void **state)
{
    s_env *e = *state;
    bool deleted = true, found = true;
    uint64_t v = 7;
    assert_int_equal(lmdbkit_put(e->txn, e->seqs, "k", 1, "v", 1, 0), MDB_SUCCESS);
    assert_int_equal(lmdbkit_put(e->txn, e->seqs, "k", 1, "w", 1, MDB_NOOVERWRITE), MDB_KEYEXIST);
    assert_int_equal(lmdbkit_del_if(e->txn, e->seqs, "k", 1, &deleted), MDB_SUCCESS);
    assert_true(deleted);
    assert_int_equal(lmdbkit_del_if(e->txn, e->seqs, "k", 1, &deleted), MDB_SUCCESS);
    assert_false(deleted); /* absent is success */
    assert_int_equal(lmdbkit_del_if(e->txn, e->seqs, "k", 1, NULL), MDB_SUCCESS);

    assert_int_equal(lmdbkit_meta_get(e->txn, e->meta, "n", 8, &v, &found), MDB_SUCCESS);
    assert_false(found);
    assert_int_equal(v, 0);
    assert_int_equal(lmdbkit_meta_put(e->txn, e->meta, "n", 0x0102030405ull, 8), MDB_SUCCESS);
    assert_int_equal(lmdbkit_meta_get(e->txn, e->meta, "n", 8, &v, NULL), MDB_SUCCESS);
    assert_int_equal(v, 0x0102030405ull);
    assert_int_equal(lmdbkit_meta_get(e->txn, e->meta, "n", 4, &v, &found), LMDBKIT_BAD_RECORD);
}

static void test_schema(void **state)
{
    s_env *e = *state;
    uint32_t version = 99;
    int code = -1;
    /* new store: nothing stored */
    assert_int_equal(lmdbkit_schema_get(e->txn, e->meta, 3, &version, &code), MDB_SUCCESS);
    assert_int_equal(code, ASYLINK_OK);
    assert_int_equal(version, 0);
    assert_int_equal(lmdbkit_schema_set(e->txn, e->meta, 2), MDB_SUCCESS);
    /* older: the caller migrates */
    assert_int_equal(lmdbkit_schema_get(e->txn, e->meta, 3, &version, &code), MDB_SUCCESS);
    assert_int_equal(code, ASYLINK_OK);
    assert_int_equal(version, 2);
    /* newer than this code knows */
    assert_int_equal(lmdbkit_schema_get(e->txn, e->meta, 1, &version, &code), MDB_SUCCESS);
    assert_int_equal(code, ASYLINK_E_UNSUPPORTED_VERSION);
    /* a stored 0, or a value of the wrong size */
    assert_int_equal(lmdbkit_schema_set(e->txn, e->meta, 0), MDB_SUCCESS);
    assert_int_equal(lmdbkit_schema_get(e->txn, e->meta, 3, &version, &code), MDB_SUCCESS);
    assert_int_equal(code, ASYLINK_E_IO);
    assert_int_equal(lmdbkit_meta_put(e->txn, e->meta, LMDBKIT_META_VERSION, 3, 8), MDB_SUCCESS);
    assert_int_equal(lmdbkit_schema_get(e->txn, e->meta, 3, &version, &code), MDB_SUCCESS);
    assert_int_equal(code, ASYLINK_E_IO);
}

static void test_seq_last(void **state)
{
    s_env *e = *state;
    uint64_t last = 99;
    uint8_t key[8];
    assert_int_equal(lmdbkit_seq_last(e->txn, e->seqs, e->meta, "hwm", &last), MDB_SUCCESS);
    assert_int_equal(last, 0);
    bytes_put_be64(key, 41);
    assert_int_equal(lmdbkit_put(e->txn, e->seqs, key, 8, "", 0, 0), MDB_SUCCESS);
    assert_int_equal(lmdbkit_seq_last(e->txn, e->seqs, e->meta, "hwm", &last), MDB_SUCCESS);
    assert_int_equal(last, 41);
    /* the high-water mark wins when larger (entries above it were deleted) */
    assert_int_equal(lmdbkit_meta_put(e->txn, e->meta, "hwm", 100, 8), MDB_SUCCESS);
    assert_int_equal(lmdbkit_seq_last(e->txn, e->seqs, e->meta, "hwm", &last), MDB_SUCCESS);
    assert_int_equal(last, 100);
    /* a key that is not 8 bytes, or a mark that is not, is corrupt */
    assert_int_equal(lmdbkit_put(e->txn, e->seqs, "\xff\xff\xff", 3, "", 0, 0), MDB_SUCCESS);
    assert_int_equal(lmdbkit_seq_last(e->txn, e->seqs, e->meta, "hwm", &last), LMDBKIT_BAD_RECORD);
    assert_int_equal(lmdbkit_meta_put(e->txn, e->meta, "bad", 1, 4), MDB_SUCCESS);
    assert_int_equal(lmdbkit_seq_last(e->txn, e->meta, e->meta, "bad", &last), LMDBKIT_BAD_RECORD);
}

static void test_map(void **state)
{
    s_env *e = *state;
    assert_int_equal(mdb_txn_commit(e->txn), MDB_SUCCESS);
    e->txn = NULL;
    size_t map = 0, used = 0, actual = 0;
    assert_int_equal(lmdbkit_usage(e->env, &map, &used), MDB_SUCCESS);
    assert_int_equal(map, 1u << 20); /* the initial map given to lmdbkit_env_open */
    assert_true(used > 0 && used < map);
    assert_int_equal(lmdbkit_map_set(e->env, 4u << 20, &actual), MDB_SUCCESS);
    assert_int_equal(actual, 4u << 20);
    assert_int_equal(lmdbkit_usage(e->env, &map, &used), MDB_SUCCESS);
    assert_int_equal(map, 4u << 20);
}

/* bytes_str_copy() copies and cuts exactly as snprintf(dst, cap, "%s", src) does. */
static void test_str_copy(void **state)
{
    (void)state;
    const char *srcs[] = {"", "FR", "exactly7", "a longer node name", "123456789"};
    size_t caps[] = {1, 2, 8, 9, 10, 64};
    for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
        for (size_t k = 0; k < sizeof caps / sizeof *caps; k++) {
            char a[64], b[64];
            memset(a, 'x', sizeof a);
            memset(b, 'x', sizeof b);
            bytes_str_copy(a, caps[k], srcs[i]);
            snprintf(b, caps[k], "%s", srcs[i]);
            assert_memory_equal(a, b, sizeof a); /* nothing written past the cut either */
        }
    }
    char same[16] = "self";
    bytes_str_copy(same, sizeof same, same); /* the same buffer: unchanged */
    assert_string_equal(same, "self");
}

/* The reference: LMDB's default order (mdb_cmp_memn), by sign. */
static int t_cmp_memn(const MDB_val *a, const MDB_val *b)
{
    size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
    int d = n ? memcmp(a->mv_data, b->mv_data, n) : 0;
    if (d)
        return d < 0 ? -1 : 1;
    return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

/* lmdbkit_cmp_bytes() orders keys exactly as LMDB's default does. */
static void test_cmp_bytes(void **state)
{
    (void)state;
    uint8_t x[40], y[40];
    uint32_t seed = 12345;
    for (int round = 0; round < 200000; round++) {
        size_t la = 0, lb = 0;
        for (size_t i = 0; i < sizeof x; i++) {
            seed = seed * 1103515245u + 12345u;
            x[i] = (uint8_t)(seed >> 16);
            y[i] = x[i]; /* mostly shared prefixes: the words that decide are late */
        }
        seed = seed * 1103515245u + 12345u;
        la = (seed >> 8) % (sizeof x + 1);
        lb = (seed >> 16) % 3 == 0 ? la : (seed >> 20) % (sizeof y + 1);
        seed = seed * 1103515245u + 12345u;
        if (lb && (seed >> 8) % 4 != 0) /* one byte differs, anywhere, either way */
            y[(seed >> 12) % lb] ^= (uint8_t)(1u << ((seed >> 24) % 8));
        MDB_val a = {la, x}, b = {lb, y};
        assert_int_equal(lmdbkit_cmp_bytes(&a, &b), t_cmp_memn(&a, &b));
        assert_int_equal(lmdbkit_cmp_bytes(&b, &a), t_cmp_memn(&b, &a));
    }
    /* big-endian sequence keys: numeric order */
    uint8_t k1[8], k2[8];
    bytes_put_be64(k1, 0x00000000000000ffull);
    bytes_put_be64(k2, 0x0000000000000100ull);
    MDB_val a = {8, k1}, b = {8, k2}, e = {0, k1};
    assert_int_equal(lmdbkit_cmp_bytes(&a, &b), -1);
    assert_int_equal(lmdbkit_cmp_bytes(&b, &a), 1);
    assert_int_equal(lmdbkit_cmp_bytes(&a, &a), 0);
    assert_int_equal(lmdbkit_cmp_bytes(&e, &a), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err),
        cmocka_unit_test(test_str_copy),
        cmocka_unit_test(test_cmp_bytes),
        cmocka_unit_test_setup_teardown(test_put_del_meta, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_schema, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_seq_last, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_map, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_room, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
