/*
 * test_vectors.c — known-answer vectors for certificates, requests,
 * revocation lists and envelopes (tests/vectors/asylink-v1.json).
 *
 * Every random byte the sealer draws is listed in the file, so another
 * implementation can rebuild each structure byte for byte. This program
 * rebuilds them from the file's inputs and checks every output; run with
 * `--generate FILE` it writes a fresh file (inputs from fixed seeds).
 */
#include "fixture.h"

#include <jansson.h>

#include "sig.h"

#define VEC_NOT_BEFORE 1767225600000ull /* 2026-01-01T00:00:00Z */
#define VEC_NOT_AFTER 2082758400000ull  /* 2036-01-01T00:00:00Z */
#define VEC_CREATED 1795000000000ull    /* 2026-11-18T... */

static const char *s_file = ASYLINK_SOURCE_DIR "/tests/vectors/asylink-v1.json";

/* ---- hex helpers ---- */

static json_t *s_hex(const uint8_t *b, size_t n)
{
    char *h = malloc(2 * n + 1);
    sodium_bin2hex(h, 2 * n + 1, b, n);
    json_t *j = json_string(h);
    free(h);
    return j;
}

/* Decodes hex string field key of o into a malloc'd buffer. */
static uint8_t *s_unhex(const json_t *o, const char *key, size_t *n)
{
    const char *h = json_string_value(json_object_get(o, key));
    if (!h)
        fail_msg("vector field %s missing", key);
    size_t cap = strlen(h) / 2 + 1;
    uint8_t *b = malloc(cap);
    assert_int_equal(sodium_hex2bin(b, cap, h, strlen(h), NULL, n, NULL), 0);
    return b;
}

/* Generating: outputs are recorded instead of compared. */
static int s_record;

static void s_expect_hex(const json_t *o, const char *key, const uint8_t *b, size_t n)
{
    if (s_record) {
        json_object_set_new((json_t *)o, key, s_hex(b, n));
        return;
    }
    size_t en = 0;
    uint8_t *e = s_unhex(o, key, &en);
    if (en != n || memcmp(e, b, n) != 0)
        fail_msg("vector mismatch in %s (%zu vs %zu bytes)", key, en, n);
    free(e);
}

static uint64_t s_u64(const json_t *o, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(o, key));
}

/* ---- the random source: replays listed draws in order ---- */

typedef struct {
    uint8_t buf[4096];
    size_t len, pos;
} s_replay;

static void s_replay_rng(void *ctx, uint8_t *out, size_t n)
{
    s_replay *r = ctx;
    if (r->pos + n > r->len)
        fail_msg("sealer drew more random bytes than the vector lists");
    memcpy(out, r->buf + r->pos, n);
    r->pos += n;
}

static void s_replay_add(s_replay *r, const json_t *o, const char *key)
{
    size_t n = 0;
    uint8_t *b = s_unhex(o, key, &n);
    assert_true(r->len + n <= sizeof r->buf);
    memcpy(r->buf + r->len, b, n);
    r->len += n;
    free(b);
}

/* ---- computing outputs from inputs ---- */

typedef struct {
    char id[NODE_ID_MAX + 1];
    keys_secret *keys;
    cert *cert;
} s_node;

typedef struct {
    s_node nodes[8];
    size_t n;
    char dir[64];
    trust *trust;
} s_world;

static s_node *s_find(s_world *w, const char *id)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->nodes[i].id, id) == 0)
            return &w->nodes[i];
    fail_msg("vector names unknown node %s", id);
    return NULL;
}

static void s_check_keys(s_world *w, json_t *keys)
{
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        s_node *n = &w->nodes[w->n++];
        size_t a = 0, b = 0;
        uint8_t *ss = s_unhex(k, "sign_seed", &a), *bs = s_unhex(k, "box_seed", &b);
        assert_int_equal(a, 32);
        assert_int_equal(b, 32);
        snprintf(n->id, sizeof n->id, "%s", json_string_value(json_object_get(k, "node_id")));
        assert_int_equal(keys_from_seeds(ss, bs, &n->keys), ASYLINK_OK);
        s_expect_hex(k, "sign_pk", n->keys->sign_pk, 32);
        s_expect_hex(k, "box_pk", n->keys->box_pk, 32);
        free(ss);
        free(bs);
    }
}

static void s_check_certs(s_world *w, json_t *certs)
{
    s_node *ca = &w->nodes[0];
    size_t i;
    json_t *c;
    json_array_foreach(certs, i, c) {
        s_node *n = s_find(w, json_string_value(json_object_get(c, "node_id")));
        uint32_t roles = 0;
        assert_int_equal(cert_roles_parse(json_string_value(json_object_get(c, "roles")), &roles), ASYLINK_OK);
        cert_fields f = {.serial = s_u64(c, "serial"), .node_id = n->id,
                         .display_name = json_string_value(json_object_get(c, "display_name")),
                         .roles = roles, .sign_pk = n->keys->sign_pk, .box_pk = n->keys->box_pk,
                         .not_before_ms = s_u64(c, "not_before_ms"),
                         .not_after_ms = s_u64(c, "not_after_ms")};
        assert_int_equal(cert_sign(ca->keys, ca->id, &f, &n->cert), ASYLINK_OK);
        uint8_t digest[64];
        sig_digest_body(SIG_DOMAIN_CERT, n->cert->body, n->cert->body_len, digest);
        s_expect_hex(c, "body_digest", digest, 64);
        s_expect_hex(c, "certificate", n->cert->raw, n->cert->raw_len);
        assert_int_equal(cert_verify(n->cert, ca->cert ? ca->cert : n->cert), ASYLINK_OK);
    }
}

static void s_write_trust(s_world *w)
{
    snprintf(w->dir, sizeof w->dir, "/tmp/asylink-vec-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    char path[256];
    snprintf(path, sizeof path, "%s/nodes", w->dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/ca.cert", w->dir);
    assert_int_equal(cert_save(w->nodes[0].cert, path, 0), ASYLINK_OK);
    for (size_t i = 1; i < w->n; i++) {
        snprintf(path, sizeof path, "%s/nodes/%s.cert", w->dir, w->nodes[i].id);
        assert_int_equal(cert_save(w->nodes[i].cert, path, 0), ASYLINK_OK);
    }
    assert_int_equal(trust_load(w->dir, &w->trust), ASYLINK_OK);
}

static void s_check_request(s_world *w, json_t *r)
{
    s_node *n = s_find(w, json_string_value(json_object_get(r, "node_id")));
    uint32_t roles = 0;
    cert_request *req = NULL;
    assert_int_equal(cert_roles_parse(json_string_value(json_object_get(r, "roles")), &roles), ASYLINK_OK);
    assert_int_equal(cert_request_create(n->keys, n->id,
                                         json_string_value(json_object_get(r, "display_name")),
                                         roles, s_u64(r, "created_ms"), &req), ASYLINK_OK);
    s_expect_hex(r, "request", req->raw, req->raw_len);
    cert_request_destroy(&req);
}

static void s_check_crl(s_world *w, json_t *r)
{
    crl_entry e = {.serial = s_u64(r, "revoked_serial"), .revoked_ms = s_u64(r, "revoked_ms")};
    snprintf(e.reason, sizeof e.reason, "%s", json_string_value(json_object_get(r, "reason")));
    crl *l = NULL;
    assert_int_equal(crl_sign(w->nodes[0].keys, w->nodes[0].cert, s_u64(r, "number"),
                              s_u64(r, "issued_ms"), &e, 1, &l), ASYLINK_OK);
    s_expect_hex(r, "revocation_list", l->raw, l->raw_len);
    crl_destroy(&l);
}

/* Rebuilds one envelope from its listed inputs and checks every output. */
static void s_check_envelope(s_world *w, json_t *v)
{
    s_node *from = s_find(w, json_string_value(json_object_get(v, "sender")));
    json_t *rcpt = json_object_get(v, "recipients"), *rdrs = json_object_get(v, "readers");
    const char *to[8];
    const cert *readers[8];
    size_t nto = json_array_size(rcpt), nrd = json_array_size(rdrs);
    for (size_t i = 0; i < nto; i++)
        to[i] = json_string_value(json_array_get(rcpt, i));
    for (size_t i = 0; i < nrd; i++)
        readers[i] = s_find(w, json_string_value(json_array_get(rdrs, i)))->cert;
    s_replay r = {0};
    s_replay_add(&r, v, "ephemeral_sk");
    s_replay_add(&r, v, "uuid_random");
    s_replay_add(&r, v, "content_key");
    s_replay_add(&r, v, "body_nonce");
    json_t *wn = json_object_get(v, "wrap_nonces");
    for (size_t i = 0; i < json_array_size(wn); i++) {
        json_t *tmp = json_pack("{sO}", "n", json_array_get(wn, i));
        s_replay_add(&r, tmp, "n");
        json_decref(tmp);
    }
    size_t plen = 0, clen = 0;
    uint8_t *payload = s_unhex(v, "payload", &plen);
    uint8_t *corr = s_unhex(v, "correlation_id", &clen);
    const char *topic = json_string_value(json_object_get(v, "topic"));
    envelope_params p = {.recipients = nto ? to : NULL, .n_recipients = nto,
                         .topic = topic && *topic ? topic : NULL, .readers = readers,
                         .n_readers = nrd,
                         .content_type = json_string_value(json_object_get(v, "content_type")),
                         .classification = envelope_class_parse(json_string_value(json_object_get(v, "classification"))),
                         .created_ms = s_u64(v, "created_ms"), .expires_ms = s_u64(v, "expires_ms"),
                         .correlation_id = clen == 16 ? corr : NULL};
    envelope_sealer *s = NULL;
    uint8_t *out = NULL, id[16];
    size_t out_len = 0;
    assert_int_equal(envelope_sealer_new(from->keys, from->id, from->cert->serial, s_replay_rng, &r, &s), ASYLINK_OK);
    assert_int_equal(envelope_seal(s, &p, payload, plen, &out, &out_len, id), ASYLINK_OK);
    assert_int_equal(r.pos, r.len); /* every listed draw used */
    s_expect_hex(v, "message_id", id, 16);
    s_expect_hex(v, "envelope", out, out_len);
    envelope *e = NULL;
    assert_int_equal(envelope_decode(out, out_len, 0, &e), ASYLINK_OK);
    s_expect_hex(v, "digest", envelope_digest(e), 64);
    assert_int_equal(envelope_verify(e, w->trust, p.created_ms + 1, NULL), ASYLINK_OK);
    for (size_t i = 1; i < w->n; i++) {
        envelope_opener *op = NULL;
        uint8_t *got = NULL;
        size_t got_len = 0;
        assert_int_equal(envelope_opener_new(w->nodes[i].keys, w->nodes[i].id, &op), ASYLINK_OK);
        int rc = envelope_open(op, e, &got, &got_len);
        bool reader = nrd == 0;
        for (size_t j = 0; j < nrd; j++)
            reader |= strcmp(readers[j]->node_id, w->nodes[i].id) == 0;
        assert_int_equal(rc, reader ? ASYLINK_OK : ASYLINK_E_NOT_RECIPIENT);
        if (reader) {
            assert_int_equal(got_len, plen);
            assert_memory_equal(got, payload, plen ? plen : 0);
        }
        envelope_payload_free(got, got_len);
        envelope_opener_destroy(&op);
    }
    envelope_destroy(&e);
    envelope_sealer_destroy(&s);
    free(out);
    free(payload);
    free(corr);
}

static void s_world_free(s_world *w)
{
    for (size_t i = 0; i < w->n; i++) {
        keys_destroy(&w->nodes[i].keys);
        cert_destroy(&w->nodes[i].cert);
    }
    trust_destroy(&w->trust);
    if (w->dir[0])
        fx_rmtree(w->dir);
}

static void s_check_all(json_t *root)
{
    s_world w = {0};
    s_check_keys(&w, json_object_get(root, "keys"));
    s_check_certs(&w, json_object_get(root, "certificates"));
    s_write_trust(&w);
    s_check_request(&w, json_object_get(root, "request"));
    s_check_crl(&w, json_object_get(root, "revocation_list"));
    json_t *envs = json_object_get(root, "envelopes");
    size_t i;
    json_t *v;
    assert_true(json_array_size(envs) >= 3);
    json_array_foreach(envs, i, v) s_check_envelope(&w, v);
    s_world_free(&w);
}

static void test_vectors(void **state)
{
    (void)state;
    json_error_t err;
    json_t *root = json_load_file(s_file, 0, &err);
    if (!root)
        fail_msg("%s:%d: %s", s_file, err.line, err.text);
    s_check_all(root);
    json_decref(root);
}

/* ---- generation: inputs from fixed seeds, outputs by computation ---- */

/* 32 bytes derived from a label: BLAKE2b-256(label). */
static json_t *s_seed(const char *label, size_t n)
{
    uint8_t b[64];
    crypto_generichash(b, n, (const uint8_t *)label, strlen(label), NULL, 0);
    return s_hex(b, n);
}

static const char *const s_ids[][3] = {
    {"ASYLINK.CA", "ca", "asylink test vector CA"},
    {"DE", "member_state", "Bundesamt fuer Migration und Fluechtlinge"},
    {"FR", "member_state", "Office francais de protection des refugies et apatrides"},
    {"IT", "member_state", "Commissione Nazionale per il Diritto di Asilo"},
    {"EUAA", "agency", "European Union Agency for Asylum"},
};

static json_t *s_gen_envelope(const char *name, const char *sender, const char *const *to,
                              const char *topic, const char *const *readers, const char *cls,
                              const char *ct, const uint8_t *payload, size_t plen,
                              uint64_t expires, int with_corr)
{
    json_t *v = json_object(), *r = json_array(), *rd = json_array(), *wn = json_array();
    char label[128];
    size_t nrd = 0;
    for (size_t i = 0; to && to[i]; i++)
        json_array_append_new(r, json_string(to[i]));
    for (size_t i = 0; readers && readers[i]; i++, nrd++)
        json_array_append_new(rd, json_string(readers[i]));
    json_object_set_new(v, "name", json_string(name));
    json_object_set_new(v, "sender", json_string(sender));
    json_object_set_new(v, "recipients", r);
    json_object_set_new(v, "topic", json_string(topic ? topic : ""));
    json_object_set_new(v, "readers", rd);
    json_object_set_new(v, "classification", json_string(cls));
    json_object_set_new(v, "content_type", json_string(ct));
    json_object_set_new(v, "created_ms", json_integer((json_int_t)VEC_CREATED));
    json_object_set_new(v, "expires_ms", json_integer((json_int_t)expires));
    uint8_t corr[16];
    crypto_generichash(corr, 16, (const uint8_t *)name, strlen(name), NULL, 0);
    json_object_set_new(v, "correlation_id", with_corr ? s_hex(corr, 16) : json_string(""));
    json_object_set_new(v, "payload", s_hex(payload, plen));
    snprintf(label, sizeof label, "%s/ephemeral_sk", name);
    json_object_set_new(v, "ephemeral_sk", s_seed(label, 32));
    snprintf(label, sizeof label, "%s/uuid_random", name);
    json_object_set_new(v, "uuid_random", s_seed(label, 10));
    bool enc = strcmp(cls, "PUBLIC") != 0 || nrd > 0;
    snprintf(label, sizeof label, "%s/content_key", name);
    json_object_set_new(v, "content_key", enc ? s_seed(label, 32) : json_string(""));
    snprintf(label, sizeof label, "%s/body_nonce", name);
    json_object_set_new(v, "body_nonce", enc ? s_seed(label, 24) : json_string(""));
    for (size_t i = 0; enc && i < nrd; i++) {
        snprintf(label, sizeof label, "%s/wrap_nonce/%zu", name, i);
        json_array_append_new(wn, s_seed(label, 24));
    }
    json_object_set_new(v, "wrap_nonces", wn);
    return v;
}

static int s_generate(const char *path)
{
    json_t *root = json_object(), *keys = json_array(), *certs = json_array();
    json_object_set_new(root, "format", json_string("asylink known-answer vectors, version 1"));
    json_object_set_new(root, "notes", json_string(
        "All byte strings are lowercase hex. Keys: Ed25519 from sign_seed (crypto_sign_seed_keypair), "
        "X25519 secret = box_seed. Sealer random draws, in order: ephemeral_sk, uuid_random, "
        "content_key, body_nonce, wrap_nonces[i] (one per reader, in recipient order for direct "
        "messages, reader order for topics). Formats: docs/PROTOCOL.md."));
    for (size_t i = 0; i < sizeof s_ids / sizeof s_ids[0]; i++) {
        json_t *k = json_object();
        char label[96];
        json_object_set_new(k, "node_id", json_string(s_ids[i][0]));
        snprintf(label, sizeof label, "asylink vector %s sign", s_ids[i][0]);
        json_object_set_new(k, "sign_seed", s_seed(label, 32));
        snprintf(label, sizeof label, "asylink vector %s box", s_ids[i][0]);
        json_object_set_new(k, "box_seed", s_seed(label, 32));
        json_array_append_new(keys, k);
        json_t *c = json_object();
        json_object_set_new(c, "node_id", json_string(s_ids[i][0]));
        json_object_set_new(c, "serial", json_integer((json_int_t)i + 1));
        json_object_set_new(c, "roles", json_string(s_ids[i][1]));
        json_object_set_new(c, "display_name", json_string(s_ids[i][2]));
        json_object_set_new(c, "not_before_ms", json_integer((json_int_t)VEC_NOT_BEFORE));
        json_object_set_new(c, "not_after_ms", json_integer((json_int_t)VEC_NOT_AFTER));
        json_array_append_new(certs, c);
    }
    json_object_set_new(root, "keys", keys);
    json_object_set_new(root, "certificates", certs);
    json_object_set_new(root, "request", json_pack("{ss ss ss sI}", "node_id", "DE", "roles",
                        "member_state", "display_name", s_ids[1][2], "created_ms", (json_int_t)VEC_CREATED));
    json_object_set_new(root, "revocation_list", json_pack("{sI sI sI sI ss}", "number", (json_int_t)2,
                        "issued_ms", (json_int_t)VEC_CREATED, "revoked_serial", (json_int_t)3,
                        "revoked_ms", (json_int_t)VEC_CREATED, "reason", "key compromise"));
    json_t *envs = json_array();
    const char *fr_it[] = {"FR", "IT", NULL}, *de[] = {"DE", NULL}, *de_fr[] = {"DE", "FR", NULL};
    const char *txt = "Dublin III Art. 34 information request, case DE-2026-000123";
    json_array_append_new(envs, s_gen_envelope("limited-de-to-fr-it", "DE", fr_it, NULL, fr_it,
                          "LIMITED", "asylink.v1.InformationRequest", (const uint8_t *)txt, strlen(txt), 0, 0));
    const char *stats = "{\"country\":\"DE\",\"period\":\"2026-10\",\"applications\":12345}";
    json_array_append_new(envs, s_gen_envelope("public-euaa-stats", "EUAA", NULL, "stats.monthly.DE", NULL,
                          "PUBLIC", "asylink.v1.MonthlyStatistics", (const uint8_t *)stats, strlen(stats), 0, 0));
    uint8_t kib[1024];
    for (size_t i = 0; i < sizeof kib; i++)
        kib[i] = (uint8_t)(i * 31 + 7);
    json_array_append_new(envs, s_gen_envelope("personal-fr-to-de-1k", "FR", de, NULL, de, "PERSONAL",
                          "asylink.v1.InformationReply", kib, sizeof kib, VEC_CREATED + 86400000, 1));
    json_array_append_new(envs, s_gen_envelope("limited-euaa-topic-de-fr", "EUAA", NULL, "analysis.trends",
                          de_fr, "LIMITED", "asylink.v1.TrendAnalysis", (const uint8_t *)"", 0, 0, 0));
    json_object_set_new(root, "envelopes", envs);
    s_record = 1;
    s_check_all(root);
    int rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--generate") == 0) {
        assert_true(sodium_init() >= 0);
        return s_generate(argv[2]);
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_vectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
