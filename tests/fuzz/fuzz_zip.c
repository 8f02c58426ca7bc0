/*
 * fuzz_zip.c — libFuzzer target: the strict ZIP reader (core/zip.c) by
 * itself, the first thing `asylink evidence verify` runs on a bundle an
 * auditor was sent. fuzz_evidence reaches it too, but spends most of each
 * run on the signatures behind it; this one runs the reader alone, under
 * small limits as well as the evidence ones.
 *
 * Input: [limits u8][archive]. The limits byte's low bits pick the most
 * members (1..8 or the evidence bundle's), its high bits the largest
 * member (16 bytes .. the evidence bundle's).
 * Checks, beyond "no crash, no leak, no over-read":
 *   - a refusal says why, in printable text;
 *   - an archive read has at most the members and member sizes allowed,
 *     valid and unique names, data inside the input;
 *   - its members written again with zip_writer read back the same.
 *
 * Seed corpus: tests/fuzz/corpus/zip, the bundles of
 * tests/fuzz/corpus/evidence (their 'Z' form) with limits byte 0xff, and
 * archives of one, two and three small members made by this program:
 *   ASYLINK_FUZZ_WRITE_SEEDS=DIR fuzz_zip
 */
#include "asylink/errors.h"
#include "evidence.h"
#include "zip.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static zip_limits s_limits(uint8_t b)
{
    zip_limits l = {EVIDENCE_MAX_MEMBERS, EVIDENCE_MAX_MEMBER, EVIDENCE_MAX_BUNDLE};
    if ((b & 0x0f) < 8)
        l.max_members = (size_t)(b & 0x0f) + 1;
    if ((b >> 4) < 15)
        l.max_member_size = (size_t)16 << (b >> 4);
    return l;
}

/* Aborts unless b holds the members of a, in order, with the same data. */
static void s_same(const zip_archive *a, const zip_archive *b)
{
    if (zip_count(a) != zip_count(b))
        abort();
    for (size_t i = 0; i < zip_count(a); i++) {
        const zip_member *x = zip_at(a, i), *y = zip_at(b, i);
        if (strcmp(x->name, y->name) != 0 || x->size != y->size ||
            (x->size && memcmp(x->data, y->data, x->size) != 0))
            abort();
    }
}

static void s_rewrite(const zip_archive *a, const zip_limits *lim)
{
    zip_writer *w = NULL;
    uint8_t *out = NULL;
    size_t len = 0;
    zip_archive *again = NULL;
    if (zip_writer_new(1790000000000ull, &w) != ASYLINK_OK)
        return;
    for (size_t i = 0; i < zip_count(a); i++)
        if (zip_writer_add(w, zip_at(a, i)->name, zip_at(a, i)->data, zip_at(a, i)->size) !=
            ASYLINK_OK)
            abort();
    if (zip_writer_finish(w, &out, &len) != ASYLINK_OK ||
        zip_read(out, len, lim, &again, NULL) != ASYLINK_OK)
        abort();
    s_same(a, again);
    zip_archive_destroy(&again);
    zip_writer_destroy(&w);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    zip_limits lim = s_limits(data[0]);
    const uint8_t *buf = data + 1;
    size_t len = size - 1;
    zip_archive *a = NULL;
    zip_error why = {{0}};
    int rc = zip_read(buf, len, &lim, &a, &why);
    if (rc == ASYLINK_E_NOMEM)
        return 0;
    if (rc != ASYLINK_OK) {
        if (a || !why.text[0])
            abort();
        for (const char *p = why.text; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort();
        return 0;
    }
    if (zip_count(a) == 0 || zip_count(a) > lim.max_members)
        abort();
    for (size_t i = 0; i < zip_count(a); i++) {
        const zip_member *m = zip_at(a, i);
        if (!zip_name_valid(m->name) || zip_find(a, m->name) != m ||
            m->size > lim.max_member_size ||
            (m->size && (m->data < buf || m->data + m->size > buf + len)))
            abort();
    }
    s_rewrite(a, &lim);
    zip_archive_destroy(&a);
    return 0;
}

/* Writes seeds of n members (the first n of a fixed list), limits byte 0xff. */
static void s_write_seed(const char *dir, size_t n)
{
    static const char *const names[] = {"manifest.json", "message/envelope.bin",
                                        "receipts/FR-1.bin"};
    static const uint8_t data[] = "{\"format\":\"asylink-evidence-1\"}";
    zip_writer *w = NULL;
    uint8_t *out = NULL;
    size_t len = 0;
    if (zip_writer_new(1790000000000ull, &w) != ASYLINK_OK)
        abort();
    for (size_t i = 0; i < n; i++)
        if (zip_writer_add(w, names[i], data, i == 2 ? 0 : sizeof data - 1 - i) != ASYLINK_OK)
            abort();
    if (zip_writer_finish(w, &out, &len) != ASYLINK_OK)
        abort();
    char path[4096];
    snprintf(path, sizeof path, "%s/members-%zu", dir, n);
    FILE *f = fopen(path, "wb");
    if (!f || fputc(0xff, f) == EOF || fwrite(out, 1, len, f) != len || fclose(f) != 0)
        abort();
    free(out);
    zip_writer_destroy(&w);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("ASYLINK_FUZZ_WRITE_SEEDS");
    if (!dir)
        return 0;
    for (size_t n = 1; n <= 3; n++)
        s_write_seed(dir, n);
    exit(0);
}
