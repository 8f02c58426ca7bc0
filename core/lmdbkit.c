/*
 * lmdbkit.c — what the broker's and the client's LMDB stores share (see
 * lmdbkit.h).
 */
#include "lmdbkit.h"

#include "asylink/errors.h"
#include "bytes.h"

#include "datadir.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define S_SEQ_LEN 8 /* sequence keys: 8 bytes, big-endian */

int lmdbkit_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return ASYLINK_OK;
    case MDB_NOTFOUND: return ASYLINK_E_NOT_FOUND;
    case MDB_MAP_FULL:
    case ENOSPC: /* the file system holding the data directory is full */
    case EDQUOT:
    case EFBIG: /* a file size limit (RLIMIT_FSIZE) */ return ASYLINK_E_STORE_FULL;
    case MDB_VERSION_MISMATCH: return ASYLINK_E_UNSUPPORTED_VERSION;
    case ENOMEM: return ASYLINK_E_NOMEM;
    default: return ASYLINK_E_IO;
    }
}

int lmdbkit_env_open(MDB_env **env, const char *dir, unsigned flags, unsigned max_dbs,
                     size_t initial_map)
{
    int rc = mdb_env_create(env);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxdbs(*env, max_dbs);
    if (rc == MDB_SUCCESS && initial_map)
        rc = mdb_env_set_mapsize(*env, initial_map);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open(*env, dir, flags, 0600);
    return rc;
}

int lmdbkit_stale_readers_clear(MDB_env *env)
{
    int dead = 0;
    if (!env || mdb_reader_check(env, &dead) != MDB_SUCCESS || dead < 0)
        return 0;
    return dead;
}

int lmdbkit_map_set(MDB_env *env, size_t size, size_t *actual)
{
    MDB_envinfo info;
    int rc = mdb_env_set_mapsize(env, size);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_info(env, &info);
    if (rc == MDB_SUCCESS)
        *actual = info.me_mapsize;
    return rc;
}

int lmdbkit_usage(MDB_env *env, size_t *map_size, size_t *used)
{
    MDB_envinfo info;
    MDB_stat st;
    int rc = mdb_env_info(env, &info);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_stat(env, &st);
    if (rc != MDB_SUCCESS)
        return rc;
    *map_size = info.me_mapsize;
    *used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
    return MDB_SUCCESS;
}

int lmdbkit_dbs_open(MDB_txn *txn, const lmdbkit_db *dbs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
        if (rc != MDB_SUCCESS)
            return rc;
    }
    return MDB_SUCCESS;
}

/* The first differing word of two decides as memcmp() would: the words read big-endian. */
static inline int s_cmp_word(const uint8_t *p, const uint8_t *q)
{
    uint64_t x, y;
    memcpy(&x, p, 8);
    memcpy(&y, q, 8);
    if (x == y)
        return 0;
    x = bytes_get_be64(p);
    y = bytes_get_be64(q);
    return x < y ? -1 : 1;
}

int lmdbkit_cmp_bytes(const MDB_val *a, const MDB_val *b)
{
    const uint8_t *p = a->mv_data, *q = b->mv_data;
    size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
    int d = 0;
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 <= n && !d; i += 8)
            d = s_cmp_word(p + i, q + i);
        /* The tail as the last eight bytes: those before it are equal already. */
        if (!d && i < n)
            d = s_cmp_word(p + n - 8, q + n - 8);
    } else {
        for (size_t i = 0; i < n && !d; i++)
            d = p[i] < q[i] ? -1 : p[i] > q[i];
    }
    if (d)
        return d;
    return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

int lmdbkit_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, const void *val,
                size_t vlen, unsigned flags)
{
    MDB_val k = {klen, (void *)key};
    MDB_val v = {vlen, (void *)val};
    return mdb_put(txn, dbi, &k, &v, flags);
}

int lmdbkit_del_if(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len, bool *deleted)
{
    MDB_val k = {len, (void *)key};
    int rc = mdb_del(txn, dbi, &k, NULL);
    if (deleted)
        *deleted = rc == MDB_SUCCESS;
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

int lmdbkit_meta_get(MDB_txn *txn, MDB_dbi meta, const char *name, size_t len, uint64_t *v,
                     bool *found)
{
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(txn, meta, &k, &d);
    *v = 0;
    if (found)
        *found = rc == MDB_SUCCESS;
    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (rc == MDB_SUCCESS && d.mv_size != len)
        return LMDBKIT_BAD_RECORD;
    if (rc == MDB_SUCCESS)
        *v = bytes_get_le(d.mv_data, len);
    return rc;
}

int lmdbkit_meta_put(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t v, size_t len)
{
    uint8_t buf[8];
    bytes_put_le(buf, v, len);
    return lmdbkit_put(txn, meta, name, strlen(name), buf, len, 0);
}

int lmdbkit_schema_get(MDB_txn *txn, MDB_dbi meta, uint32_t current, uint32_t *version, int *code)
{
    uint64_t v;
    bool found;
    *version = 0;
    *code = ASYLINK_OK;
    int rc = lmdbkit_meta_get(txn, meta, LMDBKIT_META_VERSION, 4, &v, &found);
    if (rc == LMDBKIT_BAD_RECORD || (rc == MDB_SUCCESS && found && v == 0))
        *code = ASYLINK_E_IO;
    else if (rc == MDB_SUCCESS && v > current)
        *code = ASYLINK_E_UNSUPPORTED_VERSION;
    else if (rc == MDB_SUCCESS)
        *version = (uint32_t)v;
    return rc == LMDBKIT_BAD_RECORD ? MDB_SUCCESS : rc;
}

int lmdbkit_schema_set(MDB_txn *txn, MDB_dbi meta, uint32_t version)
{
    return lmdbkit_meta_put(txn, meta, LMDBKIT_META_VERSION, version, 4);
}

int lmdbkit_seq_last(MDB_txn *txn, MDB_dbi dbi, MDB_dbi meta, const char *hwm_name, uint64_t *last)
{
    uint64_t hwm = 0, key = 0;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = lmdbkit_meta_get(txn, meta, hwm_name, 8, &hwm, NULL);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == MDB_SUCCESS && k.mv_size != S_SEQ_LEN)
        rc = LMDBKIT_BAD_RECORD;
    if (rc == MDB_SUCCESS)
        key = bytes_get_be64(k.mv_data);
    if (cur)
        mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = MDB_SUCCESS;
    *last = key > hwm ? key : hwm;
    return rc;
}

uint64_t lmdbkit_reusable(MDB_txn *rtxn)
{
    MDB_env *env = rtxn ? mdb_txn_env(rtxn) : NULL;
    MDB_envinfo info;
    MDB_stat st;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct stat fs;
    int fd = -1;
    if (!env || mdb_env_info(env, &info) != MDB_SUCCESS || mdb_env_stat(env, &st) != MDB_SUCCESS ||
        mdb_env_get_fd(env, &fd) != MDB_SUCCESS || fstat(fd, &fs) != 0)
        return 0;
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize, pages = 0;
    if (mdb_cursor_open(rtxn, 0, &cur) == MDB_SUCCESS) { /* 0: the free list */
        while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == MDB_SUCCESS) {
            size_t n = 0;
            if (v.mv_size >= sizeof n)
                memcpy(&n, v.mv_data, sizeof n);
            pages += n;
        }
        mdb_cursor_close(cur);
    }
    return ((uint64_t)fs.st_size > used ? (uint64_t)fs.st_size - used : 0) + pages * st.ms_psize;
}

uint64_t lmdbkit_room(uint64_t disk_free, MDB_txn *rtxn)
{
    uint64_t avail = disk_free;
    if (avail < DATADIR_RESERVE_BYTES + LMDBKIT_ROOM_PLENTY && rtxn)
        avail += lmdbkit_reusable(rtxn);
    return avail > DATADIR_RESERVE_BYTES ? avail - DATADIR_RESERVE_BYTES : 0;
}
