/*
 * audit_tamper.c — test helper that damages a (stopped) broker's audit log
 * the way an attacker with file access would, for 25-ops-audit:
 *
 *   audit-tamper DATA_DIR flip SEQ     flips one byte in the middle of the
 *                                      stored record of entry SEQ, by
 *                                      writing data.mdb directly (LMDB keeps
 *                                      no checksums, so only the chain
 *                                      notices)
 *   audit-tamper DATA_DIR delete SEQ   deletes entry SEQ through LMDB
 *
 * Prints what it did; exit 0 on success, 1 on failure, 2 on usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/types.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int s_fail(const char *what, int rc)
{
    fprintf(stderr, "audit-tamper: %s: %s\n", what, mdb_strerror(rc));
    return 1;
}

/* Opens DATA_DIR's env (flags) and the audit database. */
static int s_open(const char *dir, unsigned flags, MDB_env **env, MDB_dbi *dbi)
{
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(env);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxdbs(*env, 16);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open(*env, dir, flags, 0600);
    if (rc == MDB_SUCCESS)
        rc = mdb_txn_begin(*env, NULL, flags & MDB_RDONLY, &txn);
    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "audit", 0, dbi);
    if (rc == MDB_SUCCESS)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    return rc;
}

static void s_key(uint8_t key[8], uint64_t seq)
{
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(seq >> (56 - 8 * i));
}

/* Copies entry seq's stored value into a new buffer (*val, *len); an LMDB code. */
static int s_read(const char *dir, uint64_t seq, uint8_t **val, size_t *len)
{
    MDB_env *env = NULL;
    MDB_dbi dbi;
    MDB_txn *txn = NULL;
    uint8_t key[8];
    s_key(key, seq);
    MDB_val k = {sizeof key, key}, v;
    *val = NULL;
    int rc = s_open(dir, MDB_RDONLY, &env, &dbi);
    if (rc == MDB_SUCCESS)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == MDB_SUCCESS)
        rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_SUCCESS && !(*val = malloc(v.mv_size)))
        rc = ENOMEM;
    if (rc == MDB_SUCCESS) {
        memcpy(*val, v.mv_data, v.mv_size);
        *len = v.mv_size;
    }
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    return rc;
}

/* XORs the byte at off of the file fd with x; 0 or -1. */
static int s_xor(int fd, off_t off, uint8_t x)
{
    uint8_t b;
    if (pread(fd, &b, 1, off) != 1)
        return -1;
    b ^= x;
    return pwrite(fd, &b, 1, off) == 1 && fdatasync(fd) == 0 ? 0 : -1;
}

/*
 * Flips one byte in the middle of entry seq's record inside data.mdb. The
 * record's bytes are looked for in the file (older copies may remain in
 * freed pages); each place is tried until LMDB reads the entry changed,
 * the others are left as they were.
 */
static int s_flip(const char *dir, uint64_t seq)
{
    uint8_t *val = NULL, *now = NULL, *file = NULL;
    size_t len = 0, nlen = 0;
    int rc = s_read(dir, seq, &val, &len);
    if (rc != MDB_SUCCESS)
        return s_fail("cannot find the entry", rc);
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int fd = open(path, O_RDWR);
    off_t size = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
    file = size > 0 ? malloc((size_t)size) : NULL;
    if (!file || pread(fd, file, (size_t)size, 0) != size) {
        fprintf(stderr, "audit-tamper: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t mid = 32 + (len - 32) / 2; /* entry_hash(32) || record: the record's middle */
    int done = 1;
    for (off_t at = 0; at + (off_t)len <= size && done; at++) {
        if (memcmp(file + at, val, len) != 0)
            continue;
        if (s_xor(fd, at + (off_t)mid, 0x04) != 0)
            break;
        free(now);
        now = NULL;
        if (s_read(dir, seq, &now, &nlen) == MDB_SUCCESS && nlen == len &&
            memcmp(now, val, len) != 0) {
            printf("flipped the byte at offset %lld of data.mdb (entry %llu)\n",
                   (long long)(at + (off_t)mid), (unsigned long long)seq);
            done = 0;
        } else if (s_xor(fd, at + (off_t)mid, 0x04) != 0) {
            break;
        }
    }
    if (done)
        fprintf(stderr, "audit-tamper: entry %llu not found in %s\n", (unsigned long long)seq,
                path);
    close(fd);
    free(file);
    free(val);
    free(now);
    return done;
}

static int s_delete(const char *dir, uint64_t seq)
{
    MDB_env *env = NULL;
    MDB_dbi dbi;
    MDB_txn *txn = NULL;
    uint8_t key[8];
    s_key(key, seq);
    MDB_val k = {sizeof key, key};
    int rc = s_open(dir, 0, &env, &dbi);
    if (rc == MDB_SUCCESS)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == MDB_SUCCESS)
        rc = mdb_del(txn, dbi, &k, NULL);
    if (rc == MDB_SUCCESS)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    if (rc != MDB_SUCCESS)
        return s_fail("cannot delete the entry", rc);
    printf("deleted entry %llu\n", (unsigned long long)seq);
    return 0;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    unsigned long long seq = argc == 4 ? strtoull(argv[3], &end, 10) : 0;
    if (argc != 4 || !end || *end || seq == 0 ||
        (strcmp(argv[2], "flip") != 0 && strcmp(argv[2], "delete") != 0)) {
        fprintf(stderr, "usage: audit-tamper DATA_DIR flip|delete SEQ\n");
        return 2;
    }
    return strcmp(argv[2], "flip") == 0 ? s_flip(argv[1], seq) : s_delete(argv[1], seq);
}
