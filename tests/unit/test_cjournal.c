/*
 * test_cjournal.c — the client store's journal file (client/cjournal.h):
 * CRC-32C, the operation encoding and its malformed forms, records across
 * reopen, revoked and torn records, a torn checkpoint header, older
 * generations' bytes, trimming. The store's use of it (replay after a kill,
 * a power loss, a torn tail) is in test_cstore.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asylink/asylink.h"
#include "cjournal.h"
#include "testfed.h"

#define PSIZE 4096u

typedef struct tctx {
    char dir[64];
    uint8_t metas[2 * PSIZE];
} tctx;

static int setup(void **state)
{
    tctx *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/asylink-cjournal-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    for (size_t i = 0; i < sizeof t->metas; i++)
        t->metas[i] = (uint8_t)(i * 7 + 3);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tctx *t = *state;
    testfed_rmtree(t->dir);
    free(t);
    return 0;
}

static cjournal *t_open(tctx *t)
{
    cjournal *j = NULL;
    const char *why = NULL;
    assert_int_equal(cjournal_open(t->dir, &j, &why), ASYLINK_OK);
    assert_non_null(j);
    return j;
}

/* Appends a record of n PUT operations whose keys and values derive from tag. */
static void t_append(cjournal *j, unsigned tag, unsigned n)
{
    cjournal_buf b = {0};
    cjournal_buf_reset(&b);
    for (unsigned i = 0; i < n; i++) {
        char key[32], val[64];
        int kl = snprintf(key, sizeof key, "k%u.%u", tag, i);
        int vl = snprintf(val, sizeof val, "value of %u.%u", tag, i);
        assert_true(cjournal_buf_op(&b, CJOURNAL_PUT, i % 14, key, (size_t)kl, val, (size_t)vl,
                                    NULL));
    }
    assert_int_equal(cjournal_append(j, &b), 0);
    cjournal_buf_free(&b);
}

/* The tags of the records cjournal_open() read, in order (each checked whole); their number. */
static size_t t_records(cjournal *j, unsigned *tags, size_t max)
{
    size_t pos = 0, n = 0, len;
    const uint8_t *payload;
    uint32_t nops;
    while (cjournal_next_record(j, &pos, &payload, &len, &nops) == 1) {
        size_t off = 0;
        cjournal_op op;
        unsigned tag = 0;
        for (uint32_t i = 0; i < nops; i++) {
            assert_int_equal(cjournal_next_op(payload, len, &off, &op), 1);
            assert_int_equal(op.op, CJOURNAL_PUT);
            assert_int_equal(op.db, i % 14);
            unsigned tg, ix;
            char key[32];
            assert_true(op.klen < sizeof key);
            memcpy(key, op.key, op.klen);
            key[op.klen] = 0;
            assert_int_equal(sscanf(key, "k%u.%u", &tg, &ix), 2);
            assert_int_equal(ix, i);
            char val[64];
            int vl = snprintf(val, sizeof val, "value of %u.%u", tg, ix);
            assert_int_equal(op.vlen, (size_t)vl);
            assert_memory_equal(op.val, val, op.vlen);
            tag = tg;
        }
        assert_int_equal(cjournal_next_op(payload, len, &off, &op), 0);
        if (n < max)
            tags[n] = tag;
        n++;
    }
    return n;
}

/* Reads the whole of the journal file i. */
static uint8_t *t_file(tctx *t, int i, size_t *len)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", t->dir, i ? CJOURNAL_NAME1 : CJOURNAL_NAME0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Flips one byte of journal file i at off. */
static void t_flip(tctx *t, int i, long off)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", t->dir, i ? CJOURNAL_NAME1 : CJOURNAL_NAME0);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    fputc(c ^ 0x01, f);
    assert_int_equal(fclose(f), 0);
}

static void test_crc32c(void **state)
{
    (void)state;
    /* the standard check value of CRC-32C (Castagnoli), and continuation */
    assert_int_equal(cjournal_crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(cjournal_crc32c(cjournal_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
    assert_int_equal(cjournal_crc32c(0, "", 0), 0);
    uint8_t zeros[32] = {0};
    assert_int_equal(cjournal_crc32c(0, zeros, sizeof zeros), 0x8a9136aau); /* RFC 3720 B.4 */
}

static void test_ops(void **state)
{
    (void)state;
    cjournal_buf b = {0};
    cjournal_buf_reset(&b);
    size_t off = 0;
    assert_true(cjournal_buf_op(&b, CJOURNAL_PUT, 3, "key", 3, NULL, 5, &off)); /* reserved */
    memcpy(b.data + off, "hello", 5);
    assert_true(cjournal_buf_op(&b, CJOURNAL_DEL, 4, "gone", 4, NULL, 0, NULL));
    assert_true(cjournal_buf_op(&b, CJOURNAL_DROP, 5, NULL, 0, NULL, 0, NULL));
    assert_int_equal(b.nops, 3);
    const uint8_t *p = b.data + CJOURNAL_REC_HEAD;
    size_t len = b.len - CJOURNAL_REC_HEAD, pos = 0;
    cjournal_op op;
    assert_int_equal(cjournal_next_op(p, len, &pos, &op), 1);
    assert_int_equal(op.op, CJOURNAL_PUT);
    assert_int_equal(op.db, 3);
    assert_memory_equal(op.key, "key", 3);
    assert_int_equal(op.vlen, 5);
    assert_memory_equal(op.val, "hello", 5);
    assert_int_equal(cjournal_next_op(p, len, &pos, &op), 1);
    assert_int_equal(op.op, CJOURNAL_DEL);
    assert_memory_equal(op.key, "gone", 4);
    assert_int_equal(cjournal_next_op(p, len, &pos, &op), 1);
    assert_int_equal(op.op, CJOURNAL_DROP);
    assert_int_equal(op.db, 5);
    assert_int_equal(cjournal_next_op(p, len, &pos, &op), 0);

    /* malformed: cut short, lengths past the end, an unknown op, a DEL with a value,
       a DROP with a key */
    uint8_t bad[32];
    memcpy(bad, p, 10);
    pos = 0;
    assert_int_equal(cjournal_next_op(bad, 9, &pos, &op), -1);
    assert_int_equal(cjournal_next_op(bad, 10, &pos, &op), -1); /* key and value missing */
    uint8_t u[10] = {9, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    pos = 0;
    assert_int_equal(cjournal_next_op(u, sizeof u, &pos, &op), -1);
    uint8_t d[11] = {CJOURNAL_DEL, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'x'};
    pos = 0;
    assert_int_equal(cjournal_next_op(d, sizeof d, &pos, &op), -1);
    uint8_t r[11] = {CJOURNAL_DROP, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'x'};
    pos = 0;
    assert_int_equal(cjournal_next_op(r, sizeof r, &pos, &op), -1);
    uint8_t big[10] = {CJOURNAL_PUT, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    pos = 0;
    assert_int_equal(cjournal_next_op(big, sizeof big, &pos, &op), -1);
    cjournal_buf_free(&b);
}

/* Records across reopen; a revoked one; the checker agrees; trimming. */
static void test_records(void **state)
{
    tctx *t = *state;
    cjournal *j = t_open(t);
    uint32_t ps;
    uint64_t txnid;
    assert_null(cjournal_metas(j, &ps, &txnid)); /* no file yet */
    assert_int_equal(cjournal_append(j, &(cjournal_buf){0}), EINVAL); /* nor a generation */
    assert_int_equal(cjournal_checkpoint(j, 5, t->metas, PSIZE), 0);
    t_append(j, 1, 3);
    t_append(j, 2, 14);
    t_append(j, 3, 1);
    assert_int_equal(cjournal_revoke_last(j), 0); /* 3's LMDB commit failed */
    t_append(j, 4, 2);
    assert_true(cjournal_bytes(j) > 0);
    cjournal_close(&j);

    j = t_open(t);
    assert_true(cjournal_has_records(j));
    const uint8_t *m = cjournal_metas(j, &ps, &txnid);
    assert_non_null(m);
    assert_int_equal(ps, PSIZE);
    assert_int_equal(txnid, 5);
    assert_memory_equal(m, t->metas, sizeof t->metas);
    unsigned tags[8];
    assert_int_equal(t_records(j, tags, 8), 3);
    assert_int_equal(tags[0], 1);
    assert_int_equal(tags[1], 2);
    assert_int_equal(tags[2], 4);
    size_t len, recs, ops;
    uint8_t *file = t_file(t, 0, &len);
    assert_int_equal(cjournal_check_file(file, len, &recs, &ops), 0);
    assert_int_equal(recs, 3);
    assert_int_equal(ops, 3 + 14 + 2);
    free(file);

    /* appending goes on after the last valid record, with the next sequence */
    cjournal_forget(j);
    t_append(j, 5, 1);
    cjournal_close(&j);
    j = t_open(t);
    assert_int_equal(t_records(j, tags, 8), 4);
    assert_int_equal(tags[3], 5);

    /* a checkpoint: a new generation in the other file, no records */
    assert_int_equal(cjournal_checkpoint(j, 9, t->metas, PSIZE), 0);
    assert_int_equal(cjournal_bytes(j), 0);
    assert_int_equal(cjournal_trim(j), 0);
    cjournal_close(&j);
    j = t_open(t);
    assert_false(cjournal_has_records(j));
    m = cjournal_metas(j, &ps, &txnid);
    assert_int_equal(txnid, 9);
    cjournal_close(&j);
    struct stat st0, st1;
    char p0[128], p1[128];
    snprintf(p0, sizeof p0, "%s/%s", t->dir, CJOURNAL_NAME0);
    snprintf(p1, sizeof p1, "%s/%s", t->dir, CJOURNAL_NAME1);
    assert_int_equal(stat(p0, &st0), 0);
    assert_int_equal(stat(p1, &st1), 0);
    assert_int_equal(st0.st_size, 12288); /* the header: 64 + 2 pages + 4, in 4 KiB */
    assert_int_equal(st1.st_size, 12288);
    assert_int_equal(st0.st_mode & 0777, 0600);
    assert_int_equal(st1.st_mode & 0777, 0600);
}

/* A torn record ends the generation; a torn newer header leaves the older one current. */
static void test_torn(void **state)
{
    tctx *t = *state;
    cjournal *j = t_open(t);
    assert_int_equal(cjournal_checkpoint(j, 5, t->metas, PSIZE), 0);
    t_append(j, 1, 2);
    t_append(j, 2, 2);
    t_append(j, 3, 2);
    cjournal_close(&j);
    j = t_open(t);
    uint64_t end = 0;
    assert_string_equal(cjournal_records_end(j, &end), CJOURNAL_NAME0);
    cjournal_close(&j);
    t_flip(t, 0, (long)end - 20); /* inside record 3 */
    j = t_open(t);
    unsigned tags[8];
    assert_int_equal(t_records(j, tags, 8), 2);

    /* the next checkpoint's header torn in file 1: file 0's generation stays current */
    assert_int_equal(cjournal_checkpoint(j, 7, t->metas, PSIZE), 0);
    cjournal_close(&j);
    t_flip(t, 1, 100);
    j = t_open(t);
    uint32_t ps;
    uint64_t txnid;
    assert_non_null(cjournal_metas(j, &ps, &txnid));
    assert_int_equal(txnid, 5);
    assert_int_equal(t_records(j, tags, 8), 2);
    cjournal_close(&j);

    /* both headers damaged: refused, with a reason */
    t_flip(t, 0, 40);
    const char *why = NULL;
    assert_int_equal(cjournal_open(t->dir, &j, &why), ASYLINK_E_IO);
    assert_null(j);
    assert_non_null(why);
}

/* An older generation's records in a reused file are not this generation's. */
static void test_old_generation(void **state)
{
    tctx *t = *state;
    cjournal *j = t_open(t);
    assert_int_equal(cjournal_checkpoint(j, 1, t->metas, PSIZE), 0); /* gen 1, file 0 */
    t_append(j, 1, 4);
    t_append(j, 2, 4);
    assert_int_equal(cjournal_checkpoint(j, 2, t->metas, PSIZE), 0); /* gen 2, file 1 */
    assert_int_equal(cjournal_checkpoint(j, 3, t->metas, PSIZE), 0); /* gen 3, file 0 again */
    cjournal_close(&j);
    j = t_open(t);
    assert_false(cjournal_has_records(j)); /* gen 1's records still in file 0, not read */
    t_append(j, 3, 1); /* overwrites the first of them */
    cjournal_close(&j);
    j = t_open(t);
    unsigned tags[4];
    assert_int_equal(t_records(j, tags, 4), 1);
    assert_int_equal(tags[0], 3);
    cjournal_close(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_ops),
        cmocka_unit_test_setup_teardown(test_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_generation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
