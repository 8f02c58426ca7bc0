/*
 * fuzz_evidence.c — libFuzzer target: the evidence bundle reader and
 * checker (zip_read, the manifest parser, evidence_check) against the fuzz
 * world's trust directory. Two input forms, chosen by the first byte:
 *   'Z' then an archive, read as it is (the ZIP reader's bounds, CRCs and
 *       names are what gets exercised);
 *   anything else: members as [name length u8][name][data length u32 BE]
 *       [data]..., written into a well-formed archive first, so mutations
 *       reach the manifest, certificates, envelopes and receipts past the
 *       CRC-32 checks.
 * Whatever the input, the check must not crash or leak, must report at
 * least one finding, and may say "valid" only when every finding passed
 * and every recipient's delivery is proven.
 *
 * The seed corpus (tests/fuzz/corpus/evidence) is made by this program:
 *   ASYLINK_FUZZ_WRITE_SEEDS=DIR fuzz_evidence
 * writes a valid bundle of the fuzz world (DE to FR, FR's receipt) in both
 * forms, and one without the receipt, then exits.
 */
#include "asylink/asylink.h"
#include "evidence.h"
#include "evidence_check.h"
#include "fuzz_world.h"
#include "receipt.h"
#include "zip.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define S_CREATED_MS 1790000000000ull /* inside the fuzz world's validity */

/* Seals payload from world node `from` to `to` (content type type). */
static uint8_t *s_seal(fuzz_world *w, int from, int to, const char *type, int cls,
                       const uint8_t *payload, size_t len, size_t *out_len)
{
    envelope_sealer *s = NULL;
    if (envelope_sealer_new(w->keys[from], fw_ids[from][0], w->certs[from]->serial, NULL, NULL,
                            &s) != ASYLINK_OK)
        abort();
    const char *recipients[] = {fw_ids[to][0]};
    const cert *readers[] = {w->certs[to]};
    envelope_params p = {.recipients = recipients,
                         .n_recipients = 1,
                         .readers = readers,
                         .n_readers = 1,
                         .content_type = type,
                         .classification = cls,
                         .created_ms = S_CREATED_MS};
    uint8_t *out = NULL;
    if (envelope_seal(s, &p, payload, len, &out, out_len, NULL) != ASYLINK_OK)
        abort();
    envelope_sealer_destroy(&s);
    return out;
}

/* A bundle of the world: DE (1) to FR (2), with FR's receipt if with_receipt. */
static uint8_t *s_bundle(fuzz_world *w, int with_receipt, size_t *len)
{
    static const uint8_t payload[] = "fuzz seed";
    size_t mlen = 0, rlen = 0, plen = 0;
    uint8_t *msg = s_seal(w, 1, 2, "asylink.v1.InformationRequest", ENVELOPE_PERSONAL, payload,
                          sizeof payload, &mlen);
    envelope *e = NULL;
    if (envelope_decode(msg, mlen, 0, &e) != ASYLINK_OK)
        abort();
    receipt r = {.acked_ms = S_CREATED_MS + 1000, .status = RECEIPT_DELIVERED};
    memcpy(r.message_id, envelope_header_of(e)->message_id, 16);
    memcpy(r.envelope_digest, envelope_digest(e), 64);
    snprintf(r.recipient, sizeof r.recipient, "FR");
    snprintf(r.sender, sizeof r.sender, "DE");
    envelope_destroy(&e);
    uint8_t *set = NULL;
    if (receipt_set_encode(&r, 1, &set, &plen) != ASYLINK_OK)
        abort();
    uint8_t *rcpt = s_seal(w, 2, 1, RECEIPT_CONTENT_TYPE, ENVELOPE_LIMITED, set, plen, &rlen);
    free(set);
    envelope_opener *op = NULL;
    uint8_t key[32];
    if (envelope_opener_new(w->keys[1], "DE", &op) != ASYLINK_OK ||
        envelope_decode(rcpt, rlen, 0, &e) != ASYLINK_OK ||
        envelope_open_key(op, e, key) != ASYLINK_OK)
        abort();
    envelope_destroy(&e);
    envelope_opener_destroy(&op);
    evidence_receipt er = {rcpt, rlen, key};
    const cert *certs[] = {w->certs[1], w->certs[2]};
    evidence_parts p = {.envelope = msg,
                        .envelope_len = mlen,
                        .receipts = &er,
                        .n_receipts = with_receipt ? 1 : 0,
                        .certs = certs,
                        .n_certs = 2,
                        .ca = w->certs[0],
                        .exporter = w->certs[1],
                        .exporter_keys = w->keys[1],
                        .exported_ms = S_CREATED_MS + 2000};
    uint8_t *out = NULL;
    if (evidence_build(&p, &out, len) != ASYLINK_OK)
        abort();
    free(msg);
    free(rcpt);
    return out;
}

static void s_write(const char *dir, const char *name, const uint8_t *a, size_t alen,
                    const uint8_t *b, size_t blen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, alen, f) != alen || fwrite(b, 1, blen, f) != blen || fclose(f) != 0)
        abort();
}

/* The member form of an archive. */
static uint8_t *s_members(const uint8_t *zip, size_t len, size_t *out_len)
{
    zip_limits lim = {EVIDENCE_MAX_MEMBERS, EVIDENCE_MAX_MEMBER, EVIDENCE_MAX_BUNDLE};
    zip_archive *a = NULL;
    if (zip_read(zip, len, &lim, &a, NULL) != ASYLINK_OK)
        abort();
    uint8_t *out = malloc(len), *p = out;
    for (size_t i = 0; i < zip_count(a); i++) {
        const zip_member *m = zip_at(a, i);
        size_t n = strlen(m->name);
        *p++ = (uint8_t)n;
        memcpy(p, m->name, n);
        p += n;
        for (int k = 3; k >= 0; k--)
            *p++ = (uint8_t)(m->size >> (8 * k));
        memcpy(p, m->data, m->size);
        p += m->size;
    }
    *out_len = (size_t)(p - out);
    zip_archive_destroy(&a);
    return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("ASYLINK_FUZZ_WRITE_SEEDS");
    if (!dir)
        return 0;
    fuzz_world *w = fw_get();
    size_t len = 0, mlen = 0;
    uint8_t *b = s_bundle(w, 1, &len);
    evidence_report *r = NULL;
    if (evidence_check(b, len, w->trust, &r) != ASYLINK_OK || r->result != ASYLINK_OK)
        abort(); /* the valid seed must be valid */
    evidence_report_free(&r);
    s_write(dir, "bundle-valid", (const uint8_t *)"Z", 1, b, len);
    uint8_t *m = s_members(b, len, &mlen);
    s_write(dir, "members-valid", m, mlen, NULL, 0);
    free(m);
    free(b);
    b = s_bundle(w, 0, &len);
    s_write(dir, "bundle-no-receipt", (const uint8_t *)"Z", 1, b, len);
    free(b);
    exit(0);
}

/* Builds an archive from the member form; NULL if it holds nothing usable. */
static uint8_t *s_archive(const uint8_t *data, size_t size, size_t *len)
{
    zip_writer *w = NULL;
    if (zip_writer_new(S_CREATED_MS, &w) != ASYLINK_OK)
        return NULL;
    size_t at = 0;
    while (at < size) {
        size_t n = data[at++];
        if (n > size - at || size - at - n < 4)
            break;
        char name[256];
        memcpy(name, data + at, n);
        name[n] = 0;
        at += n;
        size_t dlen = (size_t)data[at] << 24 | (size_t)data[at + 1] << 16 |
                      (size_t)data[at + 2] << 8 | data[at + 3];
        at += 4;
        if (dlen > size - at)
            dlen = size - at;
        zip_writer_add(w, name, data + at, dlen); /* bad names and repeats are left out */
        at += dlen;
    }
    uint8_t *out = NULL;
    if (zip_writer_finish(w, &out, len) != ASYLINK_OK)
        out = NULL;
    zip_writer_destroy(&w);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_world *w = fw_get();
    uint8_t *built = NULL;
    const uint8_t *buf = data + 1;
    size_t len = size ? size - 1 : 0;
    if (size == 0 || data[0] != 'Z') {
        built = s_archive(data, size, &len);
        if (!built)
            return 0;
        buf = built;
    }
    evidence_report *r = NULL;
    int rc = evidence_check(buf, len, w->trust, &r);
    if (rc == ASYLINK_E_NOMEM) {
        free(built);
        return 0;
    }
    if (rc != ASYLINK_OK || !r || r->n_findings == 0)
        abort();
    size_t failed = 0;
    for (size_t i = 0; i < r->n_findings; i++)
        failed += !r->findings[i].ok;
    if ((r->result == ASYLINK_OK) != (failed == 0))
        abort();
    if (r->result == ASYLINK_OK) {
        if (!r->have_message || r->n_recipients == 0)
            abort();
        for (size_t i = 0; i < r->n_recipients; i++)
            if (!r->recipients[i].proven)
                abort();
    }
    evidence_report_free(&r);
    free(built);
    return 0;
}
