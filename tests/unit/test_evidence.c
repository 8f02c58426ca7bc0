/*
 * test_evidence.c — evidence bundles (core/evidence.c, core/evidence_check.c):
 * a bundle built from a real exchange checks out; every way it can be
 * wrong is found and named: changed, missing and added members, a changed
 * or re-signed manifest, hostile manifests (not JSON, duplicate keys,
 * unknown fields, wrong types, traversing or misnamed members, too many),
 * receipts that quote another envelope or message, refuse it, come with
 * the wrong key or are not encrypted, a receipt missing, revoked certificates, certificates not
 * valid when they signed (and evidence outliving a certificate that was),
 * another CA, and an exporter that is not the sender.
 */
#include "fixture.h"

#include "evidence.h"
#include "evidence_check.h"
#include "receipt.h"
#include "sig.h"
#include "zip.h"

#define MINUTE_MS (60ull * 1000)

typedef struct {
    uint8_t *env;
    size_t len;
    uint8_t key[32];
} t_receipt;

typedef struct {
    fx_fed *f;
    uint8_t *msg; /* DE -> FR, IT */
    size_t msg_len;
    t_receipt fr, it; /* their receipts */
    uint8_t *bundle;  /* the good bundle */
    size_t bundle_len;
} t_world;

/* Seals payload from `from` (certificate c) to `to` at created_ms. */
static uint8_t *s_seal(fx_fed *f, const char *from, const cert *c, const char *const *to,
                       const char *type, int cls, uint64_t created_ms, const uint8_t *payload,
                       size_t plen, size_t *len)
{
    const cert *readers[8];
    size_t n = 0;
    while (to[n]) {
        readers[n] = fx_node_by_id(f, to[n])->cert;
        n++;
    }
    envelope_sealer *s = NULL;
    assert_int_equal(
        envelope_sealer_new(fx_node_by_id(f, from)->keys, from, c->serial, NULL, NULL, &s),
        ASYLINK_OK);
    envelope_params p = {.recipients = to,
                         .n_recipients = n,
                         .readers = readers,
                         .n_readers = n,
                         .content_type = type,
                         .classification = cls,
                         .created_ms = created_ms};
    uint8_t *out = NULL;
    assert_int_equal(envelope_seal(s, &p, payload, plen, &out, len, NULL), ASYLINK_OK);
    envelope_sealer_destroy(&s);
    return out;
}

static uint8_t *s_message(fx_fed *f, const char *const *to, size_t *len)
{
    static const uint8_t payload[] = "applicant data, encrypted to the recipients";
    return s_seal(f, "DE", fx_node_by_id(f, "DE")->cert, to, "asylink.v1.InformationRequest",
                  ENVELOPE_PERSONAL, 0, payload, sizeof payload, len);
}

/*
 * `by`'s signed receipt (to DE) for the envelope msg, quoting digest (NULL:
 * msg's own) with status; the content key DE unwraps goes into r->key.
 */
static void s_receipt(fx_fed *f, const char *by, const uint8_t *msg, size_t msg_len,
                      const uint8_t *digest, int status, t_receipt *r)
{
    envelope *e = NULL;
    assert_int_equal(envelope_decode(msg, msg_len, 0, &e), ASYLINK_OK);
    receipt rc = {.acked_ms = clock_now_ms(), .status = status};
    memcpy(rc.message_id, envelope_header_of(e)->message_id, 16);
    memcpy(rc.envelope_digest, digest ? digest : envelope_digest(e), 64);
    snprintf(rc.recipient, sizeof rc.recipient, "%s", by);
    snprintf(rc.sender, sizeof rc.sender, "DE");
    if (status == RECEIPT_REJECTED)
        snprintf(rc.reason, sizeof rc.reason, "wrong authority");
    envelope_destroy(&e);
    uint8_t *payload = NULL;
    size_t plen = 0;
    assert_int_equal(receipt_set_encode(&rc, 1, &payload, &plen), ASYLINK_OK);
    const char *to[] = {"DE", NULL};
    r->env = s_seal(f, by, fx_node_by_id(f, by)->cert, to, RECEIPT_CONTENT_TYPE, ENVELOPE_LIMITED,
                    0, payload, plen, &r->len);
    free(payload);
    envelope_opener *op = NULL;
    assert_int_equal(envelope_opener_new(fx_node_by_id(f, "DE")->keys, "DE", &op), ASYLINK_OK);
    assert_int_equal(envelope_decode(r->env, r->len, 0, &e), ASYLINK_OK);
    assert_int_equal(envelope_open_key(op, e, r->key), ASYLINK_OK);
    envelope_destroy(&e);
    envelope_opener_destroy(&op);
}

/*
 * `by`'s receipt for msg as a signed-only envelope (PUBLIC, no key wrap),
 * with a made-up key beside it: a receipt must be encrypted (PROTOCOL.md 5).
 */
static void s_receipt_signed_only(fx_fed *f, const char *by, const uint8_t *msg, size_t msg_len,
                                  t_receipt *r)
{
    envelope *e = NULL;
    assert_int_equal(envelope_decode(msg, msg_len, 0, &e), ASYLINK_OK);
    receipt rc = {.acked_ms = clock_now_ms(), .status = RECEIPT_DELIVERED};
    memcpy(rc.message_id, envelope_header_of(e)->message_id, 16);
    memcpy(rc.envelope_digest, envelope_digest(e), 64);
    snprintf(rc.recipient, sizeof rc.recipient, "%s", by);
    snprintf(rc.sender, sizeof rc.sender, "DE");
    envelope_destroy(&e);
    uint8_t *payload = NULL;
    size_t plen = 0;
    assert_int_equal(receipt_set_encode(&rc, 1, &payload, &plen), ASYLINK_OK);
    const char *to[] = {"DE"};
    envelope_sealer *s = NULL;
    assert_int_equal(envelope_sealer_new(fx_node_by_id(f, by)->keys, by,
                                         fx_node_by_id(f, by)->cert->serial, NULL, NULL, &s),
                     ASYLINK_OK);
    envelope_params p = {.recipients = to,
                         .n_recipients = 1,
                         .content_type = RECEIPT_CONTENT_TYPE,
                         .classification = ENVELOPE_PUBLIC};
    assert_int_equal(envelope_seal(s, &p, payload, plen, &r->env, &r->len, NULL), ASYLINK_OK);
    envelope_sealer_destroy(&s);
    free(payload);
    memset(r->key, 0x11, sizeof r->key);
}

/* Builds a bundle exported by `by` of msg with the receipts (extra: more certificates). */
static int s_build_with(fx_fed *f, const char *by, const cert *exporter, const uint8_t *msg,
                        size_t msg_len, const t_receipt *const *r, size_t n, const crl *l,
                        const cert *extra, uint8_t **out, size_t *len)
{
    evidence_receipt rs[8];
    for (size_t i = 0; i < n; i++)
        rs[i] = (evidence_receipt){r[i]->env, r[i]->len, r[i]->key};
    const cert *certs[FX_MAX_NODES + 1];
    size_t nc = 0;
    for (size_t i = 0; i < f->n_nodes; i++)
        certs[nc++] = f->nodes[i].cert;
    if (extra)
        certs[nc++] = extra;
    evidence_parts p = {.envelope = msg,
                        .envelope_len = msg_len,
                        .receipts = rs,
                        .n_receipts = n,
                        .certs = certs,
                        .n_certs = nc,
                        .ca = f->ca,
                        .crl = l,
                        .exporter = exporter ? exporter : fx_node_by_id(f, by)->cert,
                        .exporter_keys = fx_node_by_id(f, by)->keys,
                        .exported_ms = clock_now_ms()};
    return evidence_build(&p, out, len);
}

static int s_build(t_world *w, const t_receipt *const *r, size_t n, uint8_t **out, size_t *len)
{
    return s_build_with(w->f, "DE", NULL, w->msg, w->msg_len, r, n, NULL, NULL, out, len);
}

static int setup(void **state)
{
    static const char *ids[] = {"DE", "FR", "IT", NULL};
    t_world *w = calloc(1, sizeof *w);
    w->f = fx_new(ids);
    const char *to[] = {"FR", "IT", NULL};
    w->msg = s_message(w->f, to, &w->msg_len);
    s_receipt(w->f, "FR", w->msg, w->msg_len, NULL, RECEIPT_DELIVERED, &w->fr);
    s_receipt(w->f, "IT", w->msg, w->msg_len, NULL, RECEIPT_DELIVERED, &w->it);
    const t_receipt *both[] = {&w->fr, &w->it};
    assert_int_equal(s_build(w, both, 2, &w->bundle, &w->bundle_len), ASYLINK_OK);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    t_world *w = *state;
    free(w->msg);
    free(w->fr.env);
    free(w->it.env);
    free(w->bundle);
    fx_free(w->f);
    free(w);
    return 0;
}

/* Checks buf against the world's trust; the report (caller frees). */
static evidence_report *s_check(t_world *w, const uint8_t *buf, size_t len)
{
    evidence_report *r = NULL;
    assert_int_equal(evidence_check(buf, len, w->f->trust, &r), ASYLINK_OK);
    assert_non_null(r);
    assert_true(r->n_findings > 0);
    return r;
}

/* The first failed finding (fails the test if there is none). */
static const evidence_finding *s_first_failure(const evidence_report *r)
{
    for (size_t i = 0; i < r->n_findings; i++)
        if (!r->findings[i].ok)
            return &r->findings[i];
    fail_msg("no check failed");
    return NULL;
}

/* Expects buf to fail with code, the first failure about subject, its text containing text. */
static void s_expect(t_world *w, const uint8_t *buf, size_t len, int code, const char *subject,
                     const char *text)
{
    evidence_report *r = s_check(w, buf, len);
    const evidence_finding *f = s_first_failure(r);
    if (r->result != code || f->code != code || strcmp(f->subject, subject) != 0 ||
        (text && !strstr(f->text, text)))
        fail_msg("got %s, %s: %s; wanted %s, %s: ...%s...", asylink_err_name(f->code), f->subject,
                 f->text, asylink_err_name(code), subject, text ? text : "");
    evidence_report_free(&r);
}

/* Rebuilds a bundle with member name replaced by data (NULL: removed); resign: a fresh
 * manifest.sig by `signer`. */
static uint8_t *s_rezip(t_world *w, const uint8_t *buf, size_t len, const char *name,
                        const uint8_t *data, size_t data_len, const char *signer, size_t *out_len)
{
    zip_limits lim = {EVIDENCE_MAX_MEMBERS, EVIDENCE_MAX_MEMBER, EVIDENCE_MAX_BUNDLE};
    zip_archive *a = NULL;
    assert_int_equal(zip_read(buf, len, &lim, &a, NULL), ASYLINK_OK);
    zip_writer *zw = NULL;
    assert_int_equal(zip_writer_new(clock_now_ms(), &zw), ASYLINK_OK);
    const uint8_t *manifest = NULL;
    size_t manifest_len = 0;
    for (size_t i = 0; i < zip_count(a); i++) {
        const zip_member *m = zip_at(a, i);
        const uint8_t *d = m->data;
        size_t n = m->size;
        if (strcmp(m->name, name) == 0) {
            if (!data)
                continue;
            d = data;
            n = data_len;
        }
        if (strcmp(m->name, EVIDENCE_MANIFEST) == 0) {
            manifest = d;
            manifest_len = n;
        }
        uint8_t sig[SIG_LEN];
        if (signer && strcmp(m->name, EVIDENCE_MANIFEST_SIG) == 0) {
            uint8_t digest[64];
            evidence_manifest_digest(manifest, manifest_len, digest);
            sig_sign_digest(fx_node_by_id(w->f, signer)->keys->sign_sk, digest, sig);
            d = sig;
            n = sizeof sig;
        }
        assert_int_equal(zip_writer_add(zw, m->name, d, n), ASYLINK_OK);
    }
    if (data && !zip_find(a, name))
        assert_int_equal(zip_writer_add(zw, name, data, data_len), ASYLINK_OK);
    uint8_t *out = NULL;
    assert_int_equal(zip_writer_finish(zw, &out, out_len), ASYLINK_OK);
    zip_writer_destroy(&zw);
    zip_archive_destroy(&a);
    return out;
}

/* The manifest of buf as a NUL-terminated string (caller frees). */
static char *s_manifest(const uint8_t *buf, size_t len)
{
    zip_limits lim = {EVIDENCE_MAX_MEMBERS, EVIDENCE_MAX_MEMBER, EVIDENCE_MAX_BUNDLE};
    zip_archive *a = NULL;
    assert_int_equal(zip_read(buf, len, &lim, &a, NULL), ASYLINK_OK);
    const zip_member *m = zip_find(a, EVIDENCE_MANIFEST);
    char *s = strndup((const char *)m->data, m->size);
    zip_archive_destroy(&a);
    return s;
}

/* The manifest with the first `from` replaced by `to`, re-signed by DE, as a new bundle. */
static uint8_t *s_edit_manifest(t_world *w, const char *from, const char *to, size_t *len)
{
    char *m = s_manifest(w->bundle, w->bundle_len);
    char *at = strstr(m, from);
    assert_non_null(at);
    size_t n = strlen(m) - strlen(from) + strlen(to);
    char *e = malloc(n + 1);
    snprintf(e, n + 1, "%.*s%s%s", (int)(at - m), m, to, at + strlen(from));
    uint8_t *out = s_rezip(w, w->bundle, w->bundle_len, EVIDENCE_MANIFEST, (const uint8_t *)e,
                           strlen(e), "DE", len);
    free(e);
    free(m);
    return out;
}

/* ---- tests ---- */

static void test_valid(void **state)
{
    t_world *w = *state;
    evidence_report *r = s_check(w, w->bundle, w->bundle_len);
    for (size_t i = 0; i < r->n_findings; i++)
        if (!r->findings[i].ok)
            fail_msg("%s: %s", r->findings[i].subject, r->findings[i].text);
    assert_int_equal(r->result, ASYLINK_OK);
    assert_true(r->have_message);
    assert_string_equal(r->sender, "DE");
    assert_string_equal(r->sender_name, "DE");
    assert_int_equal(r->sender_serial, fx_node_by_id(w->f, "DE")->cert->serial);
    assert_int_equal(r->classification, ENVELOPE_PERSONAL);
    assert_true(r->encrypted);
    assert_int_equal(r->n_recipients, 2);
    assert_string_equal(r->recipients[0].node, "FR");
    assert_string_equal(r->recipients[1].node, "IT");
    for (size_t i = 0; i < 2; i++) {
        assert_true(r->recipients[i].proven);
        assert_true(r->recipients[i].acked_ms > 0);
        assert_int_equal(r->recipients[i].others, 0);
    }
    envelope *e = NULL;
    assert_int_equal(envelope_decode(w->msg, w->msg_len, 0, &e), ASYLINK_OK);
    assert_memory_equal(r->digest, envelope_digest(e), 64);
    envelope_destroy(&e);
    assert_string_equal(r->exported_by, "DE");
    assert_string_equal(r->ca_node, "TEST.CA");
    assert_false(r->has_crl);
    /* 2 manifest files, envelope, 2 receipts and 2 keys, CA, DE FR IT */
    assert_int_equal(r->n_members, 11);
    evidence_report_free(&r);
    assert_null(r);
    /* the payload is nowhere in the bundle */
    assert_null(memmem(w->bundle, w->bundle_len, "applicant data", 14));
}

static void test_build_refuses(void **state)
{
    t_world *w = *state;
    fx_fed *f = w->f;
    uint8_t *out = NULL;
    size_t len = 0;
    const t_receipt *fr[] = {&w->fr}, *twice[] = {&w->fr, &w->fr};
    /* exported by FR: not the sender */
    assert_int_equal(s_build_with(f, "FR", NULL, w->msg, w->msg_len, fr, 1, NULL, NULL, &out, &len),
                     ASYLINK_E_BAD_FIELD);
    assert_int_equal(s_build(w, twice, 2, &out, &len), ASYLINK_E_BAD_FIELD);
    /* a receipt from a node the message did not go to */
    const char *only_fr[] = {"FR", NULL};
    size_t mlen = 0;
    uint8_t *m = s_message(f, only_fr, &mlen);
    const t_receipt *it[] = {&w->it};
    assert_int_equal(s_build_with(f, "DE", NULL, m, mlen, it, 1, NULL, NULL, &out, &len),
                     ASYLINK_E_BAD_FIELD);
    free(m);
    /* no certificates at all for the receipt signer: only the exporter's is known */
    evidence_receipt rs = {w->fr.env, w->fr.len, w->fr.key};
    evidence_parts p = {.envelope = w->msg,
                        .envelope_len = w->msg_len,
                        .receipts = &rs,
                        .n_receipts = 1,
                        .ca = f->ca,
                        .exporter = fx_node_by_id(f, "DE")->cert,
                        .exporter_keys = fx_node_by_id(f, "DE")->keys,
                        .exported_ms = 1};
    assert_int_equal(evidence_build(&p, &out, &len), ASYLINK_E_NOT_FOUND);
    p.envelope_len = 10;
    assert_int_equal(evidence_build(&p, &out, &len), ASYLINK_E_MALFORMED);
    assert_int_equal(evidence_build(NULL, &out, &len), ASYLINK_E_INVALID_ARG);
    assert_null(out);
}

static void test_missing_receipt(void **state)
{
    t_world *w = *state;
    const t_receipt *fr[] = {&w->fr};
    uint8_t *b = NULL;
    size_t len = 0;
    assert_int_equal(s_build(w, fr, 1, &b, &len), ASYLINK_OK);
    evidence_report *r = s_check(w, b, len);
    assert_int_equal(r->result, ASYLINK_E_NOT_FOUND);
    assert_true(r->recipients[0].proven);
    assert_false(r->recipients[1].has_receipt);
    const evidence_finding *f = s_first_failure(r);
    assert_non_null(strstr(f->text, "no receipt from IT"));
    evidence_report_free(&r);
    free(b);
}

/* A bundle of the world's message with FR's receipt replaced by bad. */
static void s_expect_bad_receipt(t_world *w, t_receipt *bad, int code, const char *text)
{
    const t_receipt *rs[] = {bad, &w->it};
    uint8_t *b = NULL;
    size_t len = 0;
    assert_int_equal(s_build(w, rs, 2, &b, &len), ASYLINK_OK);
    s_expect(w, b, len, code, "receipts/FR.bin", text);
    free(b);
    free(bad->env);
}

static void test_bad_receipts(void **state)
{
    t_world *w = *state;
    t_receipt bad;
    uint8_t other_digest[64];
    memset(other_digest, 0x5a, sizeof other_digest);
    s_receipt(w->f, "FR", w->msg, w->msg_len, other_digest, RECEIPT_DELIVERED, &bad);
    s_expect_bad_receipt(w, &bad, ASYLINK_E_TAMPERED, "quotes envelope digest 5a5a");
    s_receipt(w->f, "FR", w->msg, w->msg_len, NULL, RECEIPT_REJECTED, &bad);
    s_expect_bad_receipt(w, &bad, ASYLINK_E_NOT_RECIPIENT,
                         "FR refused the message: wrong authority");
    /* FR's valid receipt of another message of DE */
    const char *to[] = {"FR", NULL};
    size_t olen = 0;
    uint8_t *other = s_message(w->f, to, &olen);
    s_receipt(w->f, "FR", other, olen, NULL, RECEIPT_DELIVERED, &bad);
    free(other);
    s_expect_bad_receipt(w, &bad, ASYLINK_E_NOT_FOUND, "does not name message");
    /* the right receipt with the key of another one */
    s_receipt(w->f, "FR", w->msg, w->msg_len, NULL, RECEIPT_DELIVERED, &bad);
    memcpy(bad.key, w->it.key, 32);
    s_expect_bad_receipt(w, &bad, ASYLINK_E_TAMPERED, "is not the one FR committed to");
    /* FR's receipt signed but not encrypted: refused as libasylink refuses it on delivery */
    s_receipt_signed_only(w->f, "FR", w->msg, w->msg_len, &bad);
    s_expect_bad_receipt(w, &bad, ASYLINK_E_CLASSIFICATION, "signed only, not encrypted to DE");
}

static void test_tamper_each_member(void **state)
{
    t_world *w = *state;
    zip_limits lim = {EVIDENCE_MAX_MEMBERS, EVIDENCE_MAX_MEMBER, EVIDENCE_MAX_BUNDLE};
    zip_archive *a = NULL;
    assert_int_equal(zip_read(w->bundle, w->bundle_len, &lim, &a, NULL), ASYLINK_OK);
    for (size_t i = 0; i < zip_count(a); i++) {
        const zip_member *m = zip_at(a, i);
        uint8_t *d = malloc(m->size);
        memcpy(d, m->data, m->size);
        d[m->size / 2] ^= 0x10;
        size_t len = 0;
        uint8_t *b = s_rezip(w, w->bundle, w->bundle_len, m->name, d, m->size, NULL, &len);
        evidence_report *r = s_check(w, b, len);
        const evidence_finding *f = s_first_failure(r);
        /* a changed manifest no longer parses, or its signature fails */
        bool named =
            strcmp(f->subject, m->name) == 0 ||
            (!strcmp(m->name, EVIDENCE_MANIFEST) && !strcmp(f->subject, EVIDENCE_MANIFEST_SIG));
        if (r->result == ASYLINK_OK || !named)
            fail_msg("changed %s: first failure %s: %s", m->name, f->subject, f->text);
        evidence_report_free(&r);
        /* removed */
        free(b);
        b = s_rezip(w, w->bundle, w->bundle_len, m->name, NULL, 0, NULL, &len);
        r = s_check(w, b, len);
        assert_int_not_equal(r->result, ASYLINK_OK);
        evidence_report_free(&r);
        free(b);
        free(d);
    }
    zip_archive_destroy(&a);
    size_t len = 0;
    uint8_t *b =
        s_rezip(w, w->bundle, w->bundle_len, "extra/file.txt", (const uint8_t *)"x", 1, NULL, &len);
    s_expect(w, b, len, ASYLINK_E_TAMPERED, "extra/file.txt", "not in the manifest");
    free(b);
    b = s_rezip(w, w->bundle, w->bundle_len, "receipts/IT.bin", NULL, 0, NULL, &len);
    s_expect(w, b, len, ASYLINK_E_NOT_FOUND, "receipts/IT.bin", "not in the bundle");
    free(b);
}

static void test_resigned_manifest(void **state)
{
    t_world *w = *state;
    size_t len = 0;
    /* re-signed by DE, so only the claims can tell */
    uint8_t *b = s_edit_manifest(w, "\"recipients\":[\"FR\",\"IT\"]",
                                 "\"recipients\":[\"IT\",\"FR\"]", &len);
    s_expect(w, b, len, ASYLINK_E_TAMPERED, EVIDENCE_MANIFEST, "its recipients differs");
    free(b);
    b = s_edit_manifest(w, "\"classification\":\"PERSONAL\"", "\"classification\":\"PUBLIC\"",
                        &len);
    s_expect(w, b, len, ASYLINK_E_TAMPERED, EVIDENCE_MANIFEST, "its classification differs");
    free(b);
    b = s_edit_manifest(w, "\"exported_by\":\"DE\"", "\"exported_by\":\"FR\"", &len);
    s_expect(w, b, len, ASYLINK_E_BAD_FIELD, EVIDENCE_MANIFEST_SIG, "only the sender DE");
    free(b);
    b = s_edit_manifest(w, "\"format\":\"asylink-evidence-1\"", "\"format\":\"asylink-evidence-2\"",
                        &len);
    s_expect(w, b, len, ASYLINK_E_UNSUPPORTED_VERSION, EVIDENCE_MANIFEST,
             "is not asylink-evidence-1");
    free(b);
    /* the manifest signed by FR instead of DE */
    char *m = s_manifest(w->bundle, w->bundle_len);
    b = s_rezip(w, w->bundle, w->bundle_len, EVIDENCE_MANIFEST, (const uint8_t *)m, strlen(m), "FR",
                &len);
    s_expect(w, b, len, ASYLINK_E_BAD_SIGNATURE, EVIDENCE_MANIFEST_SIG, "does not verify");
    free(b);
    free(m);
}

static void test_hostile_manifests(void **state)
{
    t_world *w = *state;
    static const struct {
        const char *from, *to;
        int code;
        const char *text;
    } cases[] = {
        {"{\"format\"", "[{\"format\"", ASYLINK_E_MALFORMED, "not JSON"},
        {"{\"format\"", "{\"format\":\"x\",\"format\"", ASYLINK_E_MALFORMED, "duplicate"},
        {"{\"format\"", "{\"extra\":1,\"format\"", ASYLINK_E_MALFORMED, "not the manifest object"},
        {"\"sender\":\"DE\",", "", ASYLINK_E_MALFORMED, "not the manifest object"},
        {"\"created_ms\":", "\"created_ms\":-", ASYLINK_E_BAD_FIELD, "created_ms"},
        {"\"created_ms\":", "\"created_ms\":\"1\",\"x\":", ASYLINK_E_MALFORMED, NULL},
        {"\"sender\":\"DE\"", "\"sender\":\"de\"", ASYLINK_E_BAD_NODE_ID, "sender"},
        {"\"recipients\":[\"FR\",\"IT\"]", "\"recipients\":[]", ASYLINK_E_BAD_FIELD, "recipients"},
        {"\"recipients\":[\"FR\",", "\"recipients\":[7,", ASYLINK_E_BAD_NODE_ID, "recipient 1"},
        {"\"envelope_digest\":\"", "\"envelope_digest\":\"A", ASYLINK_E_BAD_FIELD, NULL},
        {"\"name\":\"message/envelope.bin\"", "\"name\":\"message/../envelope.bin\"",
         ASYLINK_E_BAD_FIELD, "must be called 'message/envelope.bin'"},
        {"\"name\":\"receipts/FR.bin\"", "\"name\":\"receipts/IT.bin\"", ASYLINK_E_BAD_FIELD,
         "must be called 'receipts/FR.bin'"},
        {"\"type\":\"ca\"", "\"type\":\"ca\",\"node\":\"FR\"", ASYLINK_E_BAD_FIELD, "bad type"},
        {"\"type\":\"ca\"", "\"type\":\"key\"", ASYLINK_E_BAD_FIELD, "bad type"},
        {"\"type\":\"envelope\"", "\"type\":\"envelope\",\"serial\":1", ASYLINK_E_BAD_FIELD,
         "bad type"},
        {"\"type\":\"envelope\"", "\"type\":\"envelope\",\"md5\":\"00\"", ASYLINK_E_MALFORMED,
         "member entry"},
        {"\"type\":\"envelope\"", "\"type\":\"envelope\",\"type\":\"ca\"", ASYLINK_E_MALFORMED,
         "duplicate"},
        {"\"members\":[",
         "\"members\":[{\"name\":\"certs/ca.cert\",\"type\":\"ca\",\"size\":1,"
         "\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"},",
         ASYLINK_E_BAD_FIELD, "listed twice"},
        {"\"members\":[",
         "\"members\":[{\"name\":\"certs/ca.cert\",\"type\":\"crl\",\"size\":1,"
         "\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"},",
         ASYLINK_E_BAD_FIELD, "must be called 'revoked.crl'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = 0;
        uint8_t *b = s_edit_manifest(w, cases[i].from, cases[i].to, &len);
        evidence_report *r = s_check(w, b, len);
        const evidence_finding *f = s_first_failure(r);
        if (f->code != cases[i].code || strcmp(f->subject, EVIDENCE_MANIFEST) != 0 ||
            (cases[i].text && !strstr(f->text, cases[i].text)))
            fail_msg("case %zu: %s: %s: %s", i, asylink_err_name(f->code), f->subject, f->text);
        evidence_report_free(&r);
        free(b);
    }
}

static void test_manifest_limits(void **state)
{
    t_world *w = *state;
    /* 3000 members listed: more than a bundle may hold */
    char *m = s_manifest(w->bundle, w->bundle_len);
    char *at = strstr(m, "\"members\":[") + strlen("\"members\":[");
    static const char entry[] =
        "{\"name\":\"certs/X%04d.1.cert\",\"type\":\"certificate\","
        "\"node\":\"X%04d\",\"serial\":1,\"size\":1,\"sha256\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\"},";
    size_t cap = strlen(m) + 3000 * sizeof entry + 1, n = (size_t)(at - m);
    char *big = malloc(cap);
    memcpy(big, m, n);
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(big + n, cap - n, entry, i, i);
    snprintf(big + n, cap - n, "%s", at);
    size_t len = 0;
    uint8_t *b = s_rezip(w, w->bundle, w->bundle_len, EVIDENCE_MANIFEST, (const uint8_t *)big,
                         strlen(big), NULL, &len);
    s_expect(w, b, len, ASYLINK_E_BAD_FIELD, EVIDENCE_MANIFEST, "1..2048 entries");
    free(b);
    free(big);
    free(m);
    /* a manifest over 1 MiB */
    size_t huge_len = EVIDENCE_MAX_MANIFEST + 1;
    uint8_t *huge = malloc(huge_len);
    memset(huge, ' ', huge_len);
    b = s_rezip(w, w->bundle, w->bundle_len, EVIDENCE_MANIFEST, huge, huge_len, NULL, &len);
    s_expect(w, b, len, ASYLINK_E_TOO_LARGE, EVIDENCE_MANIFEST, "at most");
    free(b);
    free(huge);
    /* no manifest at all; not a zip; nothing */
    b = s_rezip(w, w->bundle, w->bundle_len, EVIDENCE_MANIFEST, NULL, 0, NULL, &len);
    s_expect(w, b, len, ASYLINK_E_NOT_FOUND, "bundle", "no manifest.json");
    free(b);
    s_expect(w, (const uint8_t *)"PK\x05\x06", 4, ASYLINK_E_MALFORMED, "bundle",
             "not an evidence bundle");
    s_expect(w, NULL, 0, ASYLINK_E_MALFORMED, "bundle", "not an evidence bundle");
    evidence_report *r = NULL;
    assert_int_equal(evidence_check(w->bundle, w->bundle_len, NULL, &r), ASYLINK_E_INVALID_ARG);
    assert_int_equal(evidence_check(NULL, 5, w->f->trust, &r), ASYLINK_E_INVALID_ARG);
}

/* Writes a revocation list of serial (reason) into f's trust directory and reloads it. */
static crl *s_revoke(fx_fed *f, uint64_t serial)
{
    crl_entry e = {.serial = serial, .revoked_ms = clock_now_ms()};
    snprintf(e.reason, sizeof e.reason, "key compromise");
    crl *l = NULL;
    assert_int_equal(crl_sign(f->ca_keys, f->ca, 1, clock_now_ms(), &e, 1, &l), ASYLINK_OK);
    return l;
}

static void test_revoked(void **state)
{
    t_world *w = *state;
    fx_fed *f = w->f;
    crl *l = s_revoke(f, fx_node_by_id(f, "FR")->cert->serial);
    /* in the bundle */
    const t_receipt *both[] = {&w->fr, &w->it};
    uint8_t *b = NULL;
    size_t len = 0;
    assert_int_equal(s_build_with(f, "DE", NULL, w->msg, w->msg_len, both, 2, l, NULL, &b, &len),
                     ASYLINK_OK);
    evidence_report *r = s_check(w, b, len);
    assert_true(r->has_crl);
    evidence_report_free(&r);
    s_expect(w, b, len, ASYLINK_E_REVOKED, "receipts/FR.bin", "revoked on");
    free(b);
    /* only in the checker's trust directory */
    char path[600];
    snprintf(path, sizeof path, "%s/revoked.crl", f->trust_dir);
    assert_int_equal(crl_save(l, path), ASYLINK_OK);
    trust_destroy(&f->trust);
    assert_int_equal(trust_load(f->trust_dir, &f->trust), ASYLINK_OK);
    s_expect(w, w->bundle, w->bundle_len, ASYLINK_E_REVOKED, "receipts/FR.bin", "key compromise");
    unlink(path);
    trust_destroy(&f->trust);
    assert_int_equal(trust_load(f->trust_dir, &f->trust), ASYLINK_OK);
    crl_destroy(&l);
}

static void test_validity_at_signing(void **state)
{
    t_world *w = *state;
    fx_fed *f = w->f;
    fx_node *de = fx_node_by_id(f, "DE");
    uint64_t now = clock_now_ms();
    /* DE's earlier certificate, expired ten minutes ago: evidence of a
     * message it signed while valid still holds (exported under the current
     * one). The fixture's CA is valid from an hour ago. */
    cert *old = fx_issue(f, "DE", CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE), de->keys,
                         now - 50 * MINUTE_MS, now - 10 * MINUTE_MS);
    const char *to[] = {"FR", NULL};
    static const uint8_t payload[] = "x";
    size_t mlen = 0;
    uint8_t *m = s_seal(f, "DE", old, to, "asylink.v1.InformationRequest", ENVELOPE_PERSONAL,
                        now - 30 * MINUTE_MS, payload, 1, &mlen);
    t_receipt fr;
    s_receipt(f, "FR", m, mlen, NULL, RECEIPT_DELIVERED, &fr);
    const t_receipt *rs[] = {&fr};
    uint8_t *b = NULL;
    size_t len = 0;
    assert_int_equal(s_build_with(f, "DE", NULL, m, mlen, rs, 1, NULL, old, &b, &len), ASYLINK_OK);
    evidence_report *r = s_check(w, b, len);
    if (r->result != ASYLINK_OK)
        fail_msg("%s: %s", s_first_failure(r)->subject, s_first_failure(r)->text);
    assert_int_equal(r->sender_serial, old->serial);
    evidence_report_free(&r);
    free(b);
    free(m);
    free(fr.env);
    /* signed under it after it expired: refused */
    m = s_seal(f, "DE", old, to, "asylink.v1.InformationRequest", ENVELOPE_PERSONAL, 0, payload, 1,
               &mlen);
    s_receipt(f, "FR", m, mlen, NULL, RECEIPT_DELIVERED, &fr);
    assert_int_equal(s_build_with(f, "DE", NULL, m, mlen, rs, 1, NULL, old, &b, &len), ASYLINK_OK);
    s_expect(w, b, len, ASYLINK_E_CERT_EXPIRED, EVIDENCE_ENVELOPE, "not at");
    free(b);
    /* a manifest signed by a certificate not valid at export time */
    assert_int_equal(s_build_with(f, "DE", old, m, mlen, rs, 1, NULL, NULL, &b, &len), ASYLINK_OK);
    s_expect(w, b, len, ASYLINK_E_CERT_EXPIRED, EVIDENCE_MANIFEST_SIG, "not at");
    free(b);
    free(m);
    free(fr.env);
    cert_destroy(&old);
}

static void test_other_ca(void **state)
{
    t_world *w = *state;
    static const char *ids[] = {"DE", NULL};
    fx_fed *other = fx_new(ids);
    evidence_report *r = NULL;
    assert_int_equal(evidence_check(w->bundle, w->bundle_len, other->trust, &r), ASYLINK_OK);
    const evidence_finding *f = s_first_failure(r);
    assert_int_equal(f->code, ASYLINK_E_UNTRUSTED_ISSUER);
    assert_string_equal(f->subject, EVIDENCE_CA);
    assert_int_not_equal(r->result, ASYLINK_OK);
    evidence_report_free(&r);
    fx_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_receipt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_receipts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_each_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resigned_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_manifests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validity_at_signing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_ca, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
