/*
 * test_zip.c — the stored-only ZIP writer and the strict reader (core/zip.c):
 * round trips, the CRC-32 known answer, member names, and hostile archives
 * (every truncation, trailing bytes, comments, duplicate and traversing
 * names, wrong CRCs, headers that disagree, gaps and overlaps, compression,
 * encryption, ZIP64 markers, and the caller's limits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "zip.h"

static const zip_limits s_lim = {
    .max_members = 16, .max_member_size = 1 << 20, .max_archive_size = 4 << 20};

/* Offsets of the fixed headers (zip.c's layout). */
#define LOCAL_LEN 30
#define CENTRAL_LEN 46
#define END_LEN 22

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v);
    put16(p + 2, v >> 16);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An archive of the members a.bin ("hello"), dir/b.txt (300 bytes), c ("") */
static uint8_t *s_archive(size_t *len)
{
    zip_writer *w = NULL;
    uint8_t big[300];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    assert_int_equal(zip_writer_new(1795000000000ull, &w), ASYLINK_OK);
    assert_int_equal(zip_writer_add(w, "a.bin", (const uint8_t *)"hello", 5), ASYLINK_OK);
    assert_int_equal(zip_writer_add(w, "dir/b.txt", big, sizeof big), ASYLINK_OK);
    assert_int_equal(zip_writer_add(w, "c", NULL, 0), ASYLINK_OK);
    uint8_t *out = NULL;
    assert_int_equal(zip_writer_finish(w, &out, len), ASYLINK_OK);
    zip_writer_destroy(&w);
    return out;
}

/* zip_read's code for buf, with the reason (for messages) in why. */
static int s_read(const uint8_t *buf, size_t len, const zip_limits *lim, zip_error *why)
{
    zip_archive *a = NULL;
    int rc = zip_read(buf, len, lim, &a, why);
    assert_true((rc == ASYLINK_OK) == (a != NULL));
    zip_archive_destroy(&a);
    return rc;
}

/* Offset of the n-th central header (0-based) and of the end record. */
static size_t s_central(const uint8_t *buf, size_t len, int n)
{
    size_t off = get32(buf + len - END_LEN + 16);
    for (int i = 0; i < n; i++)
        off += CENTRAL_LEN + (buf[off + 28] | buf[off + 29] << 8);
    return off;
}

static void test_crc32(void **state)
{
    (void)state;
    assert_int_equal(zip_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
    assert_int_equal(zip_crc32(0, NULL, 0), 0);
    /* continuing a CRC over two parts gives the CRC of the whole */
    assert_int_equal(
        zip_crc32(zip_crc32(0, (const uint8_t *)"1234", 4), (const uint8_t *)"56789", 5),
        0xCBF43926u);
}

static void test_names(void **state)
{
    (void)state;
    const char *good[] = {"a",  "manifest.json", "certs/DE.2.cert", "a/b/c", "x-y_z.1", "..a",
                          "a.."};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(zip_name_valid(good[i]));
    const char *bad[] = {"",  "/abs", "a/",   "a//b", "..",          "../x", "a/../b", "a/..",
                         ".", "./a",  "a\\b", "a b",  "caf\xc3\xa9", "a:b",  "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(zip_name_valid(bad[i]));
    char longname[ZIP_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname);
    longname[ZIP_NAME_MAX] = 0;
    assert_true(zip_name_valid(longname));
    longname[ZIP_NAME_MAX] = 'a';
    longname[ZIP_NAME_MAX + 1] = 0;
    assert_false(zip_name_valid(longname));
    assert_false(zip_name_valid(NULL));
}

static void test_round_trip(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = s_archive(&len);
    zip_archive *a = NULL;
    zip_error why;
    assert_int_equal(zip_read(buf, len, &s_lim, &a, &why), ASYLINK_OK);
    assert_int_equal(zip_count(a), 3);
    assert_string_equal(zip_at(a, 0)->name, "a.bin");
    assert_int_equal(zip_at(a, 0)->size, 5);
    assert_memory_equal(zip_at(a, 0)->data, "hello", 5);
    const zip_member *b = zip_find(a, "dir/b.txt");
    assert_non_null(b);
    assert_int_equal(b->size, 300);
    assert_int_equal(b->data[299], (uint8_t)(299 * 7));
    assert_int_equal(zip_find(a, "c")->size, 0);
    assert_null(zip_find(a, "nope"));
    assert_null(zip_at(a, 3));
    zip_archive_destroy(&a);
    assert_null(a);
    /* stored, no extra fields: exactly headers + names + data */
    assert_int_equal(len, 3 * (LOCAL_LEN + CENTRAL_LEN) + 2 * (5 + 9 + 1) + 5 + 300 + END_LEN);
    /* mode 0600 in the external attributes, made by Unix */
    size_t c0 = s_central(buf, len, 0);
    assert_int_equal(get32(buf + c0 + 38), 0100600u << 16);
    assert_int_equal(buf[c0 + 5], 3);
    free(buf);
}

static void test_writer_refuses(void **state)
{
    (void)state;
    zip_writer *w = NULL;
    assert_int_equal(zip_writer_new(0, &w), ASYLINK_OK); /* before 1980: clamped */
    assert_int_equal(zip_writer_add(w, "a", (const uint8_t *)"x", 1), ASYLINK_OK);
    assert_int_equal(zip_writer_add(w, "a", (const uint8_t *)"y", 1), ASYLINK_E_EXISTS);
    assert_int_equal(zip_writer_add(w, "../a", (const uint8_t *)"y", 1), ASYLINK_E_BAD_FIELD);
    assert_int_equal(zip_writer_add(w, "/a", (const uint8_t *)"y", 1), ASYLINK_E_BAD_FIELD);
    assert_int_equal(zip_writer_add(w, "b", NULL, 1), ASYLINK_E_INVALID_ARG);
    assert_int_equal(zip_writer_add(NULL, "b", NULL, 0), ASYLINK_E_INVALID_ARG);
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(zip_writer_finish(w, &out, &len), ASYLINK_OK);
    assert_int_equal(s_read(out, len, &s_lim, NULL), ASYLINK_OK);
    free(out);
    zip_writer_destroy(&w);
    zip_writer_destroy(&w); /* NULL is fine */
}

static void test_truncated_and_padded(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = s_archive(&len);
    for (size_t n = 0; n < len; n++) /* every proper prefix is refused */
        assert_int_not_equal(s_read(buf, n, &s_lim, NULL), ASYLINK_OK);
    uint8_t *more = malloc(len + 1);
    memcpy(more, buf, len);
    more[len] = 0;
    zip_error why;
    assert_int_equal(s_read(more, len + 1, &s_lim, &why), ASYLINK_E_MALFORMED);
    assert_non_null(strstr(why.text, "no end record at the end"));
    /* a leading byte shifts every offset */
    memmove(more + 1, buf, len);
    more[0] = 'X';
    assert_int_equal(s_read(more, len + 1, &s_lim, &why), ASYLINK_E_MALFORMED);
    free(more);
    /* a comment length in the end record */
    put16(buf + len - END_LEN + 20, 1);
    assert_int_equal(s_read(buf, len, &s_lim, NULL), ASYLINK_E_MALFORMED);
    free(buf);
}

/* Renames member n in both headers to name (same length as the old one). */
static void s_rename(uint8_t *buf, size_t len, int n, const char *name)
{
    size_t c = s_central(buf, len, n);
    size_t name_len = buf[c + 28];
    assert_int_equal(strlen(name), name_len);
    memcpy(buf + c + CENTRAL_LEN, name, name_len);
    size_t l = get32(buf + c + 42);
    memcpy(buf + l + LOCAL_LEN, name, name_len);
}

static void test_hostile_names(void **state)
{
    (void)state;
    const char *bad[] = {"../ab", "/a.bi", "a\\bin", "a/../", "a.bi\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = 0;
        uint8_t *buf = s_archive(&len);
        s_rename(buf, len, 0, bad[i]);
        zip_error why;
        assert_int_equal(s_read(buf, len, &s_lim, &why), ASYLINK_E_BAD_FIELD);
        assert_non_null(strstr(why.text, "is not allowed"));
        free(buf);
    }
    size_t len = 0;
    uint8_t *buf = s_archive(&len);
    char nul[5] = {'a', '.', 0, 'i', 'n'};
    size_t c = s_central(buf, len, 0);
    memcpy(buf + c + CENTRAL_LEN, nul, 5);
    memcpy(buf + get32(buf + c + 42) + LOCAL_LEN, nul, 5);
    assert_int_equal(s_read(buf, len, &s_lim, NULL), ASYLINK_E_BAD_FIELD);
    free(buf);
}

static void test_duplicate_names(void **state)
{
    (void)state;
    zip_writer *w = NULL;
    assert_int_equal(zip_writer_new(1795000000000ull, &w), ASYLINK_OK);
    assert_int_equal(zip_writer_add(w, "one", (const uint8_t *)"1", 1), ASYLINK_OK);
    assert_int_equal(zip_writer_add(w, "two", (const uint8_t *)"2", 1), ASYLINK_OK);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(zip_writer_finish(w, &buf, &len), ASYLINK_OK);
    zip_writer_destroy(&w);
    s_rename(buf, len, 1, "one");
    zip_error why;
    assert_int_equal(s_read(buf, len, &s_lim, &why), ASYLINK_E_BAD_FIELD);
    assert_non_null(strstr(why.text, "two members are called 'one'"));
    free(buf);
}

/* Applies edit to a fresh archive and expects code from the reader. */
static void s_expect(void (*edit)(uint8_t *buf, size_t len), int code, const char *text)
{
    size_t len = 0;
    uint8_t *buf = s_archive(&len);
    edit(buf, len);
    zip_error why;
    assert_int_equal(s_read(buf, len, &s_lim, &why), code);
    if (text && !strstr(why.text, text))
        fail_msg("reason '%s' lacks '%s'", why.text, text);
    free(buf);
}

static void e_data_bit(uint8_t *b, size_t len)
{
    (void)len;
    b[LOCAL_LEN + 5 + 2] ^= 1; /* inside "hello" */
}
static void e_local_time(uint8_t *b, size_t len)
{
    (void)len;
    b[10] ^= 1;
}
static void e_central_crc(uint8_t *b, size_t len)
{
    size_t c = s_central(b, len, 1);
    b[c + 16] ^= 1;
}
static void e_offset(uint8_t *b, size_t len)
{
    size_t c = s_central(b, len, 1);
    put32(b + c + 42, get32(b + c + 42) + 1); /* a gap / an overlap */
}
static void e_method(uint8_t *b, size_t len)
{
    size_t c = s_central(b, len, 0);
    put16(b + c + 10, 8); /* deflate */
    put16(b + 8, 8);
}
static void e_encrypted(uint8_t *b, size_t len)
{
    size_t c = s_central(b, len, 0);
    put16(b + c + 8, 1);
    put16(b + 6, 1);
}
static void e_descriptor(uint8_t *b, size_t len)
{
    size_t c = s_central(b, len, 0);
    put16(b + c + 8, 8);
}
static void e_zip64(uint8_t *b, size_t len)
{
    size_t c = s_central(b, len, 0);
    put32(b + c + 20, 0xffffffffu);
    put32(b + c + 24, 0xffffffffu);
}
static void e_sizes_differ(uint8_t *b, size_t len)
{
    size_t c = s_central(b, len, 0);
    put32(b + c + 20, 4);
}
static void e_extra(uint8_t *b, size_t len)
{
    size_t c = s_central(b, len, 2);
    put16(b + c + 30, 1);
}
static void e_count(uint8_t *b, size_t len)
{
    put16(b + len - END_LEN + 8, 2);
    put16(b + len - END_LEN + 10, 2);
}
static void e_count_more(uint8_t *b, size_t len)
{
    put16(b + len - END_LEN + 8, 4);
    put16(b + len - END_LEN + 10, 4);
}
static void e_disk(uint8_t *b, size_t len)
{
    put16(b + len - END_LEN + 4, 1);
}
static void e_cd_size(uint8_t *b, size_t len)
{
    put32(b + len - END_LEN + 12, get32(b + len - END_LEN + 12) - 1);
}
static void e_cd_offset_huge(uint8_t *b, size_t len)
{
    put32(b + len - END_LEN + 16, 0xfffffff0u);
}
static void e_central_sig(uint8_t *b, size_t len)
{
    b[s_central(b, len, 1)] ^= 0xff;
}
static void e_local_sig(uint8_t *b, size_t len)
{
    (void)len;
    b[0] ^= 0xff;
}
static void e_name_len_huge(uint8_t *b, size_t len)
{
    size_t c = s_central(b, len, 2);
    put16(b + c + 28, 0xffff);
}
static void e_name_len_zero(uint8_t *b, size_t len)
{
    size_t c = s_central(b, len, 2);
    put16(b + c + 28, 0);
}
static void e_size_huge(uint8_t *b, size_t len)
{
    size_t c = s_central(b, len, 0);
    put32(b + c + 20, 0x7ffffff0u);
    put32(b + c + 24, 0x7ffffff0u);
}

static void test_hostile_structure(void **state)
{
    (void)state;
    s_expect(e_data_bit, ASYLINK_E_MALFORMED, "CRC-32");
    s_expect(e_local_time, ASYLINK_E_MALFORMED, "local header differs");
    s_expect(e_central_crc, ASYLINK_E_MALFORMED, "local header differs");
    s_expect(e_offset, ASYLINK_E_MALFORMED, "does not start where the previous one ends");
    s_expect(e_method, ASYLINK_E_UNSUPPORTED_VERSION, "compressed");
    s_expect(e_encrypted, ASYLINK_E_UNSUPPORTED_VERSION, NULL);
    s_expect(e_descriptor, ASYLINK_E_UNSUPPORTED_VERSION, NULL);
    s_expect(e_zip64, ASYLINK_E_UNSUPPORTED_VERSION, "ZIP64");
    s_expect(e_sizes_differ, ASYLINK_E_MALFORMED, "stored size");
    s_expect(e_extra, ASYLINK_E_MALFORMED, "extra fields");
    s_expect(e_count, ASYLINK_E_MALFORMED, "holds more than 2");
    s_expect(e_count_more, ASYLINK_E_MALFORMED, "central directory entry 4");
    s_expect(e_disk, ASYLINK_E_UNSUPPORTED_VERSION, "multi-disk");
    s_expect(e_cd_size, ASYLINK_E_MALFORMED, "central directory does not end");
    s_expect(e_cd_offset_huge, ASYLINK_E_MALFORMED, NULL);
    s_expect(e_central_sig, ASYLINK_E_MALFORMED, "damaged");
    s_expect(e_local_sig, ASYLINK_E_MALFORMED, "local header differs");
    s_expect(e_name_len_huge, ASYLINK_E_BAD_FIELD, "name of 65535 bytes");
    s_expect(e_name_len_zero, ASYLINK_E_BAD_FIELD, NULL);
    s_expect(e_size_huge, ASYLINK_E_TOO_LARGE, "member 'a.bin'");
}

static void test_limits(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *buf = s_archive(&len);
    zip_limits lim = s_lim;
    zip_error why;
    lim.max_members = 2;
    assert_int_equal(s_read(buf, len, &lim, &why), ASYLINK_E_TOO_LARGE);
    assert_non_null(strstr(why.text, "3 members"));
    lim = s_lim;
    lim.max_member_size = 299;
    assert_int_equal(s_read(buf, len, &lim, &why), ASYLINK_E_TOO_LARGE);
    assert_non_null(strstr(why.text, "dir/b.txt"));
    lim = s_lim;
    lim.max_archive_size = len - 1;
    assert_int_equal(s_read(buf, len, &lim, NULL), ASYLINK_E_TOO_LARGE);
    lim.max_members = 0;
    assert_int_equal(s_read(buf, len, &lim, NULL), ASYLINK_E_INVALID_ARG);
    zip_archive *a = NULL;
    assert_int_equal(zip_read(NULL, 5, &s_lim, &a, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(zip_read(buf, len, NULL, &a, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(zip_read(buf, len, &s_lim, NULL, NULL), ASYLINK_E_INVALID_ARG);
    free(buf);
    /* an empty archive: just an end record */
    uint8_t end[END_LEN] = {0x50, 0x4b, 0x05, 0x06};
    assert_int_equal(s_read(end, sizeof end, &s_lim, &why), ASYLINK_E_MALFORMED);
    assert_non_null(strstr(why.text, "no member"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_writer_refuses),
        cmocka_unit_test(test_truncated_and_padded),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_hostile_structure),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
