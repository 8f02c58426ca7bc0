/*
 * test_vectors.c — known-answer vectors for certificates, requests,
 * revocation lists, envelopes, batches of envelopes and refused batch
 * proofs, receipts, armor and secret key files
 * (tests/vectors/asylink-v1.json).
 *
 * Every random byte the sealer draws is listed in the file, so another
 * implementation can rebuild each structure byte for byte. This program
 * rebuilds them from the file's inputs and checks every output; run with
 * `--generate FILE` it writes a fresh file (inputs from fixed seeds). The
 * test also regenerates the whole file and compares it byte for byte with
 * the committed one, so inputs cannot drift from their documented seeds.
 */
#include "fixture.h"

#include <jansson.h>

#include "armor.h"
#include "asylink/v1/envelope.pb-c.h"
#include "batch.h"
#include "file.h"
#include "receipt.h"
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
/* The vector being checked, for failure messages. */
static const char *s_where = "";

static void s_expect_hex(const json_t *o, const char *key, const uint8_t *b, size_t n)
{
    if (s_record) {
        json_object_set_new((json_t *)o, key, s_hex(b, n));
        return;
    }
    size_t en = 0;
    uint8_t *e = s_unhex(o, key, &en);
    if (en != n || memcmp(e, b, n) != 0)
        fail_msg("vector mismatch in %s of %s (%zu vs %zu bytes)", key, s_where, en, n);
    free(e);
}

/* A text output: recorded when generating, else compared. */
static void s_expect_text(const json_t *o, const char *key, const char *text)
{
    if (s_record) {
        json_object_set_new((json_t *)o, key, json_string(text));
        return;
    }
    const char *want = json_string_value(json_object_get(o, key));
    if (!want)
        fail_msg("vector field %s missing", key);
    if (strcmp(want, text) != 0)
        fail_msg("vector mismatch in %s of %s", key, s_where);
}

static const char *s_str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v)
        fail_msg("vector field %s missing", key);
    return v ? v : ""; /* (fail_msg does not return; the compiler does not know) */
}

/* The lines of a "comments" array joined with '\n' (armor_encode's form), or NULL. */
static char *s_comment(const json_t *o)
{
    const json_t *a = json_object_get(o, "comments");
    if (!json_array_size(a))
        return NULL;
    size_t cap = 1;
    for (size_t i = 0; i < json_array_size(a); i++)
        cap += strlen(json_string_value(json_array_get(a, i))) + 1;
    char *c = calloc(1, cap);
    assert_non_null(c);
    size_t at = 0;
    for (size_t i = 0; i < json_array_size(a); i++)
        at += (size_t)snprintf(c + at, cap - at, "%s%s", i ? "\n" : "",
                               json_string_value(json_array_get(a, i)));
    return c;
}

static uint64_t s_u64(const json_t *o, const char *key)
{
    return (uint64_t)json_integer_value(json_object_get(o, key));
}

/* ---- the random source: replays listed draws in order ---- */

typedef struct {
    uint8_t buf[16384]; /* a batch of 1024 unencrypted messages draws 10,304 bytes */
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
    s_where = "keys";
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
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
    s_where = "certificates";
    s_node *ca = &w->nodes[0];
    size_t i;
    json_t *c;
    json_array_foreach(certs, i, c)
    {
        s_node *n = s_find(w, json_string_value(json_object_get(c, "node_id")));
        uint32_t roles = 0;
        assert_int_equal(cert_roles_parse(json_string_value(json_object_get(c, "roles")), &roles),
                         ASYLINK_OK);
        cert_fields f = {.serial = s_u64(c, "serial"),
                         .node_id = n->id,
                         .display_name = json_string_value(json_object_get(c, "display_name")),
                         .roles = roles,
                         .sign_pk = n->keys->sign_pk,
                         .box_pk = n->keys->box_pk,
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
    s_where = "request";
    s_node *n = s_find(w, json_string_value(json_object_get(r, "node_id")));
    uint32_t roles = 0;
    cert_request *req = NULL;
    assert_int_equal(cert_roles_parse(json_string_value(json_object_get(r, "roles")), &roles),
                     ASYLINK_OK);
    assert_int_equal(cert_request_create(n->keys, n->id,
                                         json_string_value(json_object_get(r, "display_name")),
                                         roles, s_u64(r, "created_ms"), &req),
                     ASYLINK_OK);
    s_expect_hex(r, "request", req->raw, req->raw_len);
    cert_request_destroy(&req);
}

static void s_check_crl(s_world *w, json_t *r)
{
    s_where = "revocation_list";
    crl_entry e = {.serial = s_u64(r, "revoked_serial"), .revoked_ms = s_u64(r, "revoked_ms")};
    snprintf(e.reason, sizeof e.reason, "%s", json_string_value(json_object_get(r, "reason")));
    crl *l = NULL;
    assert_int_equal(crl_sign(w->nodes[0].keys, w->nodes[0].cert, s_u64(r, "number"),
                              s_u64(r, "issued_ms"), &e, 1, &l),
                     ASYLINK_OK);
    s_expect_hex(r, "revocation_list", l->raw, l->raw_len);
    crl_destroy(&l);
}

/* The inputs of one message (an envelope vector or a member of a batch vector). */
typedef struct {
    const char *to[8];
    const cert *readers[8];
    size_t nto, nrd;
    uint8_t *payload, *corr;
    size_t plen, clen;
    envelope_params p;
} s_msg;

static void s_msg_read(s_world *w, json_t *v, s_msg *m)
{
    json_t *rcpt = json_object_get(v, "recipients"), *rdrs = json_object_get(v, "readers");
    memset(m, 0, sizeof *m);
    m->nto = json_array_size(rcpt);
    m->nrd = json_array_size(rdrs);
    assert_true(m->nto <= 8 && m->nrd <= 8);
    for (size_t i = 0; i < m->nto; i++)
        m->to[i] = json_string_value(json_array_get(rcpt, i));
    for (size_t i = 0; i < m->nrd; i++)
        m->readers[i] = s_find(w, json_string_value(json_array_get(rdrs, i)))->cert;
    m->payload = s_unhex(v, "payload", &m->plen);
    m->corr = s_unhex(v, "correlation_id", &m->clen);
    const char *topic = json_string_value(json_object_get(v, "topic"));
    m->p = (envelope_params){.recipients = m->nto ? m->to : NULL,
                             .n_recipients = m->nto,
                             .topic = topic && *topic ? topic : NULL,
                             .readers = m->readers,
                             .n_readers = m->nrd,
                             .content_type = json_string_value(json_object_get(v, "content_type")),
                             .classification = envelope_class_parse(
                                 json_string_value(json_object_get(v, "classification"))),
                             .created_ms = s_u64(v, "created_ms"),
                             .expires_ms = s_u64(v, "expires_ms"),
                             .correlation_id = m->clen == 16 ? m->corr : NULL};
}

static void s_msg_free(s_msg *m)
{
    free(m->payload);
    free(m->corr);
}

/* A message's own random draws, in sealing order (PROTOCOL.md 4.6). */
static void s_replay_msg(s_replay *r, json_t *v)
{
    s_replay_add(r, v, "uuid_random");
    s_replay_add(r, v, "content_key");
    s_replay_add(r, v, "body_nonce");
    json_t *wn = json_object_get(v, "wrap_nonces");
    for (size_t i = 0; i < json_array_size(wn); i++) {
        json_t *tmp = json_pack("{sO}", "n", json_array_get(wn, i));
        s_replay_add(r, tmp, "n");
        json_decref(tmp);
    }
}

/* Every node but the CA opens e exactly when it is one of the message's readers. */
static void s_check_opens(s_world *w, const envelope *e, const s_msg *m)
{
    for (size_t i = 1; i < w->n; i++) {
        envelope_opener *op = NULL;
        uint8_t *got = NULL;
        size_t got_len = 0;
        assert_int_equal(envelope_opener_new(w->nodes[i].keys, w->nodes[i].id, &op), ASYLINK_OK);
        int rc = envelope_open(op, e, &got, &got_len);
        bool reader = m->nrd == 0;
        for (size_t j = 0; j < m->nrd; j++)
            reader |= strcmp(m->readers[j]->node_id, w->nodes[i].id) == 0;
        assert_int_equal(rc, reader ? ASYLINK_OK : ASYLINK_E_NOT_RECIPIENT);
        if (reader) {
            assert_int_equal(got_len, m->plen);
            assert_memory_equal(got, m->payload, m->plen ? m->plen : 0);
        }
        envelope_payload_free(got, got_len);
        envelope_opener_destroy(&op);
    }
}

/* Rebuilds one envelope from its listed inputs and checks every output. */
static void s_check_envelope(s_world *w, json_t *v)
{
    s_where = json_string_value(json_object_get(v, "name"));
    s_node *from = s_find(w, json_string_value(json_object_get(v, "sender")));
    s_msg m;
    s_msg_read(w, v, &m);
    s_replay r = {0};
    s_replay_add(&r, v, "ephemeral_sk");
    s_replay_msg(&r, v);
    envelope_sealer *s = NULL;
    uint8_t *out = NULL, id[16];
    size_t out_len = 0;
    assert_int_equal(
        envelope_sealer_new(from->keys, from->id, from->cert->serial, s_replay_rng, &r, &s),
        ASYLINK_OK);
    assert_int_equal(envelope_seal(s, &m.p, m.payload, m.plen, &out, &out_len, id), ASYLINK_OK);
    assert_int_equal(r.pos, r.len); /* every listed draw used */
    s_expect_hex(v, "message_id", id, 16);
    s_expect_hex(v, "envelope", out, out_len);
    envelope *e = NULL;
    assert_int_equal(envelope_decode(out, out_len, 0, &e), ASYLINK_OK);
    s_expect_hex(v, "digest", envelope_digest(e), 64);
    assert_int_equal(envelope_verify(e, w->trust, m.p.created_ms + 1, NULL), ASYLINK_OK);
    s_check_opens(w, e, &m);
    envelope_destroy(&e);
    envelope_sealer_destroy(&s);
    free(out);
    s_msg_free(&m);
}

/* ---- receipts (PROTOCOL.md 5) ---- */

static json_t *s_envelope_named(json_t *root, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(root, "envelopes"), i, v)
    {
        if (strcmp(s_str(v, "name"), name) == 0)
            return v;
    }
    fail_msg("receipt vector acknowledges unknown envelope %s", name);
    return NULL;
}

static int s_status_parse(const char *name)
{
    if (strcmp(name, "DELIVERED") == 0)
        return RECEIPT_DELIVERED;
    if (strcmp(name, "REJECTED") == 0)
        return RECEIPT_REJECTED;
    fail_msg("unknown receipt status %s", name);
    return 0;
}

/* Reads receipt x of a vector into r; links to the envelope it acknowledges. */
static void s_read_receipt(json_t *root, json_t *x, receipt *r)
{
    const char *ack = s_str(x, "acknowledges");
    if (*ack) { /* message id and digest are those of an envelope vector */
        json_t *ev = s_envelope_named(root, ack);
        size_t a = 0, b = 0;
        uint8_t *id = s_unhex(ev, "message_id", &a), *dg = s_unhex(ev, "digest", &b);
        assert_int_equal(a, 16);
        assert_int_equal(b, 64);
        s_expect_hex(x, "message_id", id, 16);
        s_expect_hex(x, "envelope_digest", dg, 64);
        free(id);
        free(dg);
    }
    size_t a = 0, b = 0;
    uint8_t *id = s_unhex(x, "message_id", &a), *dg = s_unhex(x, "envelope_digest", &b);
    assert_int_equal(a, 16);
    assert_int_equal(b, 64);
    memset(r, 0, sizeof *r);
    memcpy(r->message_id, id, 16);
    memcpy(r->envelope_digest, dg, 64);
    snprintf(r->recipient, sizeof r->recipient, "%s", s_str(x, "recipient"));
    snprintf(r->sender, sizeof r->sender, "%s", s_str(x, "sender"));
    r->acked_ms = s_u64(x, "acked_ms");
    r->status = s_status_parse(s_str(x, "status"));
    snprintf(r->reason, sizeof r->reason, "%s", s_str(x, "reason"));
    free(id);
    free(dg);
}

/*
 * One receipt vector: the ReceiptSet payload from its receipts, and the
 * receipt envelope as libasylink seals it (LIMITED, to the original
 * sender, correlation id = the message id when the set holds one receipt).
 */
static void s_check_receipt(s_world *w, json_t *root, json_t *v)
{
    s_where = s_str(v, "name");
    json_t *rs = json_object_get(v, "receipts");
    size_t n = json_array_size(rs);
    assert_true(n >= 1 && n <= RECEIPT_SET_MAX);
    receipt *r = calloc(n, sizeof *r);
    assert_non_null(r);
    for (size_t i = 0; i < n; i++)
        s_read_receipt(root, json_array_get(rs, i), &r[i]);
    uint8_t *set = NULL;
    size_t len = 0;
    assert_int_equal(receipt_set_encode(r, n, &set, &len), ASYLINK_OK);
    s_expect_hex(v, "receipt_set", set, len);
    receipt *back = NULL;
    size_t m = 0;
    assert_int_equal(receipt_set_decode(set, len, &back, &m), ASYLINK_OK);
    assert_int_equal(m, n);
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(back[i].message_id, r[i].message_id, 16);
        assert_memory_equal(back[i].envelope_digest, r[i].envelope_digest, 64);
        assert_string_equal(back[i].recipient, r[i].recipient);
        assert_string_equal(back[i].sender, r[i].sender);
        assert_int_equal(back[i].acked_ms, r[i].acked_ms);
        assert_int_equal(back[i].status, r[i].status);
        assert_string_equal(back[i].reason, r[i].reason);
    }
    /* The envelope: signed by the issuing recipient, to the original sender. */
    json_t *env = json_object_get(v, "envelope");
    assert_string_equal(s_str(env, "content_type"), RECEIPT_CONTENT_TYPE);
    assert_string_equal(s_str(env, "sender"), r[0].recipient);
    assert_int_equal(json_array_size(json_object_get(env, "recipients")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(env, "recipients"), 0)),
                        r[0].sender);
    assert_string_equal(s_str(env, "classification"), "LIMITED");
    assert_int_equal(s_u64(env, "expires_ms"), 0);
    s_expect_hex(env, "payload", set, len);
    s_expect_hex(env, "correlation_id", r[0].message_id, n == 1 ? 16 : 0);
    s_check_envelope(w, env);
    free(back);
    free(set);
    free(r);
}

/* ---- batches (PROTOCOL.md 4.10) ---- */

/* Records or compares an array of hex strings (n buffers of len bytes each). */
static void s_expect_hex_list(const json_t *o, const char *key, const uint8_t *const *bufs,
                              size_t n, size_t len)
{
    if (s_record) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, s_hex(bufs[i], len));
        json_object_set_new((json_t *)o, key, a);
        return;
    }
    json_t *a = json_object_get(o, key);
    if (json_array_size(a) != n)
        fail_msg("vector mismatch in %s of %s (%zu vs %zu elements)", key, s_where,
                 json_array_size(a), n);
    for (size_t i = 0; i < n; i++) {
        json_t *tmp = json_pack("{sO}", "x", json_array_get(a, i));
        s_expect_hex(tmp, "x", bufs[i], len);
        json_decref(tmp);
    }
}

/* The fields of a batch member that are inputs (everything but the outputs). */
static const char *const s_msg_inputs[] = {
    "index",        "recipients",  "topic",      "readers",        "classification",
    "content_type", "created_ms",  "expires_ms", "correlation_id", "payload",
    "uuid_random",  "content_key", "body_nonce", "wrap_nonces",    NULL};

static json_t *s_gen_message(const char *batch, size_t index, const char *const *to,
                             const char *topic, const char *const *readers, const char *cls,
                             const char *ct, const uint8_t *payload, size_t plen, uint64_t expires,
                             int with_corr);

/*
 * The full list of a batch's messages (a new reference): those listed, or,
 * for a batch described by a "rule", every message generated by it (the
 * listed ones are samples and must equal the generated ones).
 */
static json_t *s_batch_messages(json_t *v)
{
    json_t *rule = json_object_get(v, "rule"), *listed = json_object_get(v, "messages");
    if (!rule)
        return json_incref(listed);
    size_t n = s_u64(rule, "count");
    json_t *all = json_array();
    for (size_t i = 0; i < n; i++) {
        char text[64];
        int len = snprintf(text, sizeof text, "batch message %zu", i);
        json_array_append_new(all, s_gen_message(s_str(v, "name"), i, NULL, s_str(rule, "topic"),
                                                 NULL, s_str(rule, "classification"),
                                                 s_str(rule, "content_type"), (const uint8_t *)text,
                                                 (size_t)len, 0, 0));
    }
    size_t i;
    json_t *m;
    json_array_foreach(listed, i, m)
    {
        json_t *g = json_array_get(all, s_u64(m, "index"));
        for (size_t k = 0; s_msg_inputs[k]; k++)
            if (!g || !json_equal(json_object_get(m, s_msg_inputs[k]),
                                  json_object_get(g, s_msg_inputs[k])))
                fail_msg("batch %s: listed message %zu input %s differs from the rule", s_where, i,
                         s_msg_inputs[k]);
    }
    return all;
}

/* The listed message with this index, or NULL. */
static json_t *s_listed(json_t *v, size_t index)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(v, "messages"), i,
                       m) if (s_u64(m, "index") == index) return m;
    return NULL;
}

/* The listed outputs of one member: ids, digest, leaf, path and the envelope itself. */
static void s_check_member(json_t *m, const uint8_t *id, const envelope_draft *d, const uint8_t *b,
                           size_t len)
{
    s_expect_hex(m, "message_id", id, 16);
    s_expect_hex(m, "digest", envelope_draft_digest(d), 64);
    Asylink__V1__Envelope *pb = asylink__v1__envelope__unpack(NULL, len, b);
    assert_non_null(pb);
    uint8_t leaf[BATCH_HASH_LEN];
    const uint8_t *path[BATCH_MAX_DEPTH];
    size_t n_path = pb->batch ? pb->batch->n_path : 0;
    if (pb->batch) {
        batch_leaf(pb->batch->salt.data, pb->batch->index, envelope_draft_digest(d), leaf);
        for (size_t k = 0; k < n_path; k++)
            path[k] = pb->batch->path[k].data;
    }
    s_expect_hex(m, "leaf", leaf, pb->batch ? BATCH_HASH_LEN : 0);
    s_expect_hex_list(m, "path", path, n_path, BATCH_HASH_LEN);
    s_expect_hex(m, "envelope", b, len);
    asylink__v1__envelope__free_unpacked(pb, NULL);
}

/*
 * One batch vector: every message sealed from its inputs (random draws in
 * order: ephemeral key, each message's, then the salt), signed as one batch,
 * and every envelope checked alone: decodes, verifies (through a verified-root
 * cache, one miss for the batch), opens for exactly its readers.
 */
static void s_check_batch(s_world *w, json_t *v)
{
    s_where = s_str(v, "name");
    s_node *from = s_find(w, s_str(v, "sender"));
    json_t *msgs = s_batch_messages(v);
    size_t n = json_array_size(msgs);
    assert_int_equal(n, s_u64(v, "size"));
    s_replay *r = calloc(1, sizeof *r);
    s_msg *m = calloc(n, sizeof *m);
    envelope_draft **d = calloc(n, sizeof *d);
    uint8_t(*ids)[16] = calloc(n, 16);
    assert_true(r && m && d && ids);
    s_replay_add(r, v, "ephemeral_sk");
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s_u64(json_array_get(msgs, i), "index"), i);
        s_replay_msg(r, json_array_get(msgs, i));
    }
    s_replay_add(r, v, "salt");
    envelope_sealer *s = NULL;
    assert_int_equal(
        envelope_sealer_new(from->keys, from->id, from->cert->serial, s_replay_rng, r, &s),
        ASYLINK_OK);
    for (size_t i = 0; i < n; i++) {
        s_msg_read(w, json_array_get(msgs, i), &m[i]);
        assert_int_equal(envelope_seal_draft(s, &m[i].p, m[i].payload, m[i].plen, &d[i], ids[i]),
                         ASYLINK_OK);
    }
    assert_int_equal(envelope_sign(s, d, n), ASYLINK_OK);
    assert_int_equal(r->pos, r->len); /* every listed draw used, the salt last */
    rootcache *cache = NULL;
    assert_int_equal(rootcache_new(16, &cache), ASYLINK_OK);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const uint8_t *b = envelope_draft_bytes(d[i], &len);
        envelope *e = NULL;
        assert_int_equal(envelope_decode(b, len, 0, &e), ASYLINK_OK);
        assert_int_equal(envelope_verify_cached(e, w->trust, cache, m[i].p.created_ms + 1, NULL),
                         ASYLINK_OK);
        assert_int_equal(envelope_batch_size(e), n > 1 ? n : 0);
        if (i == 0) {
            const uint8_t *root = envelope_batch_root(e);
            s_expect_hex(v, "root", root ? root : (const uint8_t *)"", root ? BATCH_HASH_LEN : 0);
            s_expect_hex(v, "statement", envelope_signed_digest(e), 64);
            Asylink__V1__Envelope *pb = asylink__v1__envelope__unpack(NULL, len, b);
            s_expect_hex(v, "signature", pb->signature.data, pb->signature.len);
            asylink__v1__envelope__free_unpacked(pb, NULL);
        }
        if (i < 8 || i + 8 >= n) /* opening all 1,024 adds nothing */
            s_check_opens(w, e, &m[i]);
        envelope_destroy(&e);
        json_t *listed = s_listed(v, i);
        if (listed)
            s_check_member(listed, ids[i], d[i], b, len);
    }
    uint64_t misses = 0;
    rootcache_stats(cache, NULL, NULL, &misses);
    assert_int_equal(misses, n > 1 ? 1 : 0);
    rootcache_destroy(&cache);
    for (size_t i = 0; i < n; i++) {
        envelope_draft_destroy(&d[i]);
        s_msg_free(&m[i]);
    }
    envelope_sealer_destroy(&s);
    json_decref(msgs);
    free(ids);
    free(d);
    free(m);
    free(r);
}

/* ---- batch refusals: one envelope of a batch, changed one way each ---- */

static json_t *s_batch_member(json_t *root, const char *batch, size_t index)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(root, "batches"), i,
                       v) if (strcmp(s_str(v, "name"), batch) == 0) return s_listed(v, index);
    fail_msg("refusal names unknown batch %s", batch);
    return NULL;
}

/* Replaces a bytes field with n bytes: the old ones, then zeros (freed by protobuf-c). */
static void s_resize(ProtobufCBinaryData *f, size_t n)
{
    uint8_t *b = calloc(1, n ? n : 1);
    assert_non_null(b);
    if (f->data)
        memcpy(b, f->data, f->len < n ? f->len : n);
    free(f->data);
    *f = (ProtobufCBinaryData){n, b};
}

/* Appends v as a varint; returns the bytes written. */
static size_t s_varint(uint64_t v, uint8_t *out)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

/*
 * The refusal named `what` applied to envelope pb (index 0 of its batch;
 * other is the envelope at index 1). Returns false for a change that must
 * be made on the bytes (index-0-written).
 */
static bool s_mutate(const char *what, Asylink__V1__Envelope *pb, Asylink__V1__Envelope *other,
                     const uint8_t *digest)
{
    Asylink__V1__BatchProof *b = pb->batch;
    if (strcmp(what, "salt-31-bytes") == 0)
        s_resize(&b->salt, 31);
    else if (strcmp(what, "salt-33-bytes") == 0)
        s_resize(&b->salt, 33);
    else if (strcmp(what, "size-1") == 0)
        b->size = 1;
    else if (strcmp(what, "size-0") == 0)
        b->size = 0;
    else if (strcmp(what, "size-1025") == 0)
        b->size = 1025;
    else if (strcmp(what, "index-equals-size") == 0)
        b->index = b->size;
    else if (strcmp(what, "path-one-short") == 0)
        free(b->path[--b->n_path].data);
    else if (strcmp(what, "path-one-long") == 0) {
        ProtobufCBinaryData *p = realloc(b->path, (b->n_path + 1) * sizeof *p);
        assert_non_null(p);
        b->path = p;
        p[b->n_path] = (ProtobufCBinaryData){0, NULL};
        s_resize(&p[b->n_path++], BATCH_HASH_LEN);
    } else if (strcmp(what, "path-element-31-bytes") == 0)
        s_resize(&b->path[0], 31);
    else if (strcmp(what, "path-own-leaf") == 0)
        batch_leaf(b->salt.data, b->index, digest, b->path[0].data);
    else if (strcmp(what, "path-element-changed") == 0)
        b->path[0].data[0] ^= 0x01;
    else if (strcmp(what, "index-changed") == 0)
        b->index = 1;
    else if (strcmp(what, "size-changed") == 0)
        b->size = 6;
    else if (strcmp(what, "salt-changed") == 0)
        b->salt.data[0] ^= 0x01;
    else if (strcmp(what, "proof-of-another-envelope") == 0) {
        pb->batch = other->batch;
        other->batch = b;
    } else if (strcmp(what, "proof-removed") == 0) {
        asylink__v1__batch_proof__free_unpacked(b, NULL);
        pb->batch = NULL;
    } else if (strcmp(what, "index-0-written") == 0)
        return false;
    else
        fail_msg("unknown refusal %s", what);
    return true;
}

/* Envelope pb with its proof written non-canonically: index 0 written out. */
static uint8_t *s_index_zero_written(Asylink__V1__Envelope *pb, size_t *out_len)
{
    Asylink__V1__BatchProof *b = pb->batch;
    assert_int_equal(b->index, 0);
    size_t plen = asylink__v1__batch_proof__get_packed_size(b);
    uint8_t *proof = malloc(plen);
    asylink__v1__batch_proof__pack(b, proof);
    pb->batch = NULL;
    size_t head = asylink__v1__envelope__get_packed_size(pb);
    uint8_t *out = malloc(head + plen + 16);
    asylink__v1__envelope__pack(pb, out);
    pb->batch = b;
    /* proof = 0a 20 salt(32) 10 size ...: insert 18 00 after the size field */
    size_t at = head, salt_end = 2 + BATCH_SALT_LEN, size_end = salt_end + 1;
    while (proof[size_end] & 0x80)
        size_end++;
    size_end++;
    out[at++] = 0x2a;
    at += s_varint(plen + 2, out + at);
    memcpy(out + at, proof, size_end);
    at += size_end;
    out[at++] = 0x18;
    out[at++] = 0x00;
    memcpy(out + at, proof + size_end, plen - size_end);
    at += plen - size_end;
    free(proof);
    *out_len = at;
    return out;
}

/* One refusal vector: the changed envelope, and the code decoding or verifying gives. */
static void s_check_refusal(s_world *w, json_t *root, json_t *v)
{
    s_where = s_str(v, "name");
    json_t *base = s_batch_member(root, s_str(v, "batch"), 0);
    json_t *next = s_batch_member(root, s_str(v, "batch"), 1);
    size_t len = 0, len1 = 0, dlen = 0, out_len = 0;
    uint8_t *b = s_unhex(base, "envelope", &len), *b1 = s_unhex(next, "envelope", &len1);
    uint8_t *digest = s_unhex(base, "digest", &dlen), *out = NULL;
    Asylink__V1__Envelope *pb = asylink__v1__envelope__unpack(NULL, len, b);
    Asylink__V1__Envelope *other = asylink__v1__envelope__unpack(NULL, len1, b1);
    assert_true(pb && other && pb->batch);
    if (s_mutate(s_str(v, "name"), pb, other, digest)) {
        out_len = asylink__v1__envelope__get_packed_size(pb);
        out = malloc(out_len);
        asylink__v1__envelope__pack(pb, out);
    } else {
        out = s_index_zero_written(pb, &out_len);
    }
    s_expect_hex(v, "envelope", out, out_len);
    envelope *e = NULL;
    int rc = envelope_decode(out, out_len, 0, &e);
    if (rc == ASYLINK_OK)
        rc = envelope_verify(e, w->trust, s_u64(base, "created_ms") + 1, NULL);
    envelope_destroy(&e);
    s_expect_text(v, "result", asylink_err_name(rc));
    asylink__v1__envelope__free_unpacked(pb, NULL);
    asylink__v1__envelope__free_unpacked(other, NULL);
    free(out);
    free(b);
    free(b1);
    free(digest);
}

/* ---- armor (PROTOCOL.md 8) ---- */

static void s_check_armor(json_t *v)
{
    s_where = s_str(v, "name");
    size_t n = 0;
    uint8_t *data = s_unhex(v, "data", &n);
    char *comment = s_comment(v), *text = NULL;
    const char *label = s_str(v, "label");
    assert_int_equal(armor_encode(label, comment, data, n, &text), ASYLINK_OK);
    s_expect_text(v, "text", text);
    uint8_t *back = NULL;
    size_t back_len = 0;
    assert_int_equal(armor_decode(label, text, strlen(text), 0, &back, &back_len), ASYLINK_OK);
    assert_int_equal(back_len, n);
    assert_memory_equal(back, data, n);
    free(back);
    free(text);
    free(comment);
    free(data);
}

static void s_check_armor_decode(json_t *v)
{
    s_where = s_str(v, "name");
    const char *text = s_str(v, "text");
    uint8_t *data = NULL;
    size_t n = 0;
    int rc = armor_decode(s_str(v, "label"), text, strlen(text), 0, &data, &n);
    s_expect_text(v, "result", asylink_err_name(rc));
    uint8_t none = 0;
    s_expect_hex(v, "data", rc == ASYLINK_OK ? data : &none, rc == ASYLINK_OK ? n : 0);
    free(data);
}

/* ---- secret key files (PROTOCOL.md 9) ---- */

static void s_check_secret_key(s_world *w, json_t *v)
{
    s_where = s_str(v, "name");
    s_node *node = s_find(w, s_str(v, "node_id"));
    const char *pass = json_string_value(json_object_get(v, "passphrase")); /* null: kdf 0 */
    keys_kdf_cost cost = {.opslimit = (uint32_t)s_u64(v, "opslimit"),
                          .memlimit_kib = (uint32_t)s_u64(v, "memlimit_kib")};
    size_t salt_len = 0, nonce_len = 0;
    uint8_t *salt = s_unhex(v, "salt", &salt_len), *nonce = s_unhex(v, "nonce", &nonce_len);
    assert_int_equal(salt_len, pass ? KEYS_SALT_LEN : 0);
    assert_int_equal(nonce_len, pass ? KEYS_NONCE_LEN : 0);
    char *comment = s_comment(v), *text = NULL;
    assert_int_equal(keys_encode(node->keys, pass, &cost, salt, nonce, comment, &text), ASYLINK_OK);
    s_expect_text(v, "file", text);
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    assert_int_equal(armor_decode(ARMOR_SECRET_KEY, text, strlen(text), 0, &blob, &blob_len),
                     ASYLINK_OK);
    s_expect_hex(v, "blob", blob, blob_len);
    assert_int_equal(blob_len, pass ? 140 : 124);
    uint8_t secret[64]; /* sign_seed || box_sk */
    memcpy(secret, node->keys->sign_sk, 32);
    memcpy(secret + 32, node->keys->box_sk, 32);
    if (pass) {
        /* The documented construction, step by step, with libsodium directly. */
        uint8_t key[32], plain[64];
        assert_int_equal(crypto_pwhash(key, sizeof key, pass, strlen(pass), salt, cost.opslimit,
                                       (size_t)cost.memlimit_kib * 1024u,
                                       crypto_pwhash_ALG_ARGON2ID13),
                         0);
        s_expect_hex(v, "kdf_key", key, sizeof key);
        assert_int_equal(crypto_secretbox_open_easy(plain, blob + 60, 80, blob + 36, key), 0);
        assert_memory_equal(plain, secret, 64);
    } else {
        s_expect_hex(v, "kdf_key", secret, 0);
        assert_memory_equal(blob + 60, secret, 64);
    }
    /* Reading it back gives the node's keys; the passphrase rules hold. */
    keys_secret *k = NULL;
    assert_int_equal(keys_decode((const uint8_t *)text, strlen(text), pass, &k), ASYLINK_OK);
    assert_memory_equal(k->sign_pk, node->keys->sign_pk, 32);
    assert_memory_equal(k->box_pk, node->keys->box_pk, 32);
    keys_destroy(&k);
    if (pass) {
        assert_int_equal(keys_decode((const uint8_t *)text, strlen(text), NULL, &k),
                         ASYLINK_E_PASSPHRASE_REQUIRED);
        assert_int_equal(keys_decode((const uint8_t *)text, strlen(text), "not the passphrase", &k),
                         ASYLINK_E_BAD_PASSPHRASE);
    } else {
        /* keys_save() writes exactly this file (kdf 0 draws nothing). */
        char path[256];
        uint8_t *saved = NULL;
        size_t saved_len = 0;
        struct stat st;
        snprintf(path, sizeof path, "%s/%s.key", w->dir, node->id);
        unlink(path);
        assert_int_equal(keys_save(node->keys, path, NULL, NULL, comment), ASYLINK_OK);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(file_read(path, 0, &saved, &saved_len), ASYLINK_OK);
        assert_int_equal(saved_len, strlen(text));
        assert_memory_equal(saved, text, saved_len);
        free(saved);
        unlink(path);
    }
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(text, strlen(text));
    free(text);
    free(blob);
    free(comment);
    free(salt);
    free(nonce);
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
    if (!s_record) { /* generating fills these in a second pass */
        assert_true(json_array_size(json_object_get(root, "receipts")) >= 2);
        assert_true(json_array_size(json_object_get(root, "armor")) >= 3);
        assert_true(json_array_size(json_object_get(root, "armor_decode")) >= 10);
        assert_true(json_array_size(json_object_get(root, "secret_keys")) >= 2);
    }
    assert_true(json_array_size(json_object_get(root, "batches")) >= 5);
    json_array_foreach(json_object_get(root, "batches"), i, v) s_check_batch(&w, v);
    if (!s_record)
        assert_true(json_array_size(json_object_get(root, "batch_refusals")) >= 10);
    json_array_foreach(json_object_get(root, "batch_refusals"), i, v) s_check_refusal(&w, root, v);
    json_array_foreach(json_object_get(root, "receipts"), i, v) s_check_receipt(&w, root, v);
    json_array_foreach(json_object_get(root, "armor"), i, v) s_check_armor(v);
    json_array_foreach(json_object_get(root, "armor_decode"), i, v) s_check_armor_decode(v);
    json_array_foreach(json_object_get(root, "secret_keys"), i, v) s_check_secret_key(&w, v);
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

/*
 * The inputs of one message, random draws seeded from labels under name;
 * with an ephemeral key (an envelope vector) or without (a batch member,
 * whose sealer's key belongs to the batch).
 */
static void s_gen_inputs(json_t *v, const char *name, const char *const *to, const char *topic,
                         const char *const *readers, const char *cls, const char *ct,
                         const uint8_t *payload, size_t plen, uint64_t expires, int with_corr,
                         bool with_ephemeral)
{
    json_t *r = json_array(), *rd = json_array(), *wn = json_array();
    char label[128];
    size_t nrd = 0;
    for (size_t i = 0; to && to[i]; i++)
        json_array_append_new(r, json_string(to[i]));
    for (size_t i = 0; readers && readers[i]; i++, nrd++)
        json_array_append_new(rd, json_string(readers[i]));
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
    if (with_ephemeral)
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
}

static json_t *s_gen_envelope(const char *name, const char *sender, const char *const *to,
                              const char *topic, const char *const *readers, const char *cls,
                              const char *ct, const uint8_t *payload, size_t plen, uint64_t expires,
                              int with_corr)
{
    json_t *v = json_object();
    json_object_set_new(v, "name", json_string(name));
    json_object_set_new(v, "sender", json_string(sender));
    s_gen_inputs(v, name, to, topic, readers, cls, ct, payload, plen, expires, with_corr, true);
    return v;
}

/* Member index of batch `batch`: its inputs seeded from "<batch>/<index>/..." labels. */
static json_t *s_gen_message(const char *batch, size_t index, const char *const *to,
                             const char *topic, const char *const *readers, const char *cls,
                             const char *ct, const uint8_t *payload, size_t plen, uint64_t expires,
                             int with_corr)
{
    json_t *v = json_object();
    char label[128];
    snprintf(label, sizeof label, "%s/%zu", batch, index);
    json_object_set_new(v, "index", json_integer((json_int_t)index));
    s_gen_inputs(v, label, to, topic, readers, cls, ct, payload, plen, expires, with_corr, false);
    return v;
}

/* A batch vector from DE over messages (stolen); rule (stolen, may be NULL) describes them all. */
static json_t *s_gen_batch(const char *name, size_t size, json_t *messages, json_t *rule)
{
    json_t *v = json_object();
    char label[128];
    json_object_set_new(v, "name", json_string(name));
    json_object_set_new(v, "sender", json_string("DE"));
    json_object_set_new(v, "size", json_integer((json_int_t)size));
    snprintf(label, sizeof label, "%s/ephemeral_sk", name);
    json_object_set_new(v, "ephemeral_sk", s_seed(label, 32));
    snprintf(label, sizeof label, "%s/salt", name);
    json_object_set_new(v, "salt", size > 1 ? s_seed(label, BATCH_SALT_LEN) : json_string(""));
    if (rule)
        json_object_set_new(v, "rule", rule);
    json_object_set_new(v, "messages", messages);
    return v;
}

/* Batches of 1, 2, 3, 5 (every message listed) and 1,024 (a rule and samples). */
static json_t *s_gen_batches(void)
{
    const char *fr[] = {"FR", NULL}, *it[] = {"IT", NULL}, *fr_it[] = {"FR", "IT", NULL};
    const char *fr_euaa[] = {"FR", "EUAA", NULL}, *euaa[] = {"EUAA", NULL};
    const char *req = "Dublin III Art. 34 information request, case DE-2026-000124";
    const char *rep = "reply to FR-2026-004711: the applicant was registered in DE";
    const char *stats = "{\"country\":\"DE\",\"period\":\"2026-10\",\"applications\":12345}";
    const char *ir = "asylink.v1.InformationRequest", *ms = "asylink.v1.MonthlyStatistics";
    json_t *batches = json_array(), *m;

    m = json_array();
    json_array_append_new(m, s_gen_message("batch-1", 0, fr, NULL, fr, "LIMITED", ir,
                                           (const uint8_t *)req, strlen(req), 0, 0));
    json_array_append_new(batches, s_gen_batch("batch-1", 1, m, NULL));

    m = json_array();
    json_array_append_new(m, s_gen_message("batch-2", 0, fr, NULL, fr, "LIMITED", ir,
                                           (const uint8_t *)req, strlen(req), 0, 0));
    json_array_append_new(m, s_gen_message("batch-2", 1, it, NULL, it, "PERSONAL",
                                           "asylink.v1.InformationReply", (const uint8_t *)rep,
                                           strlen(rep), VEC_CREATED + 86400000, 1));
    json_array_append_new(batches, s_gen_batch("batch-2", 2, m, NULL));

    m = json_array();
    json_array_append_new(m, s_gen_message("batch-3", 0, fr, NULL, fr, "LIMITED", ir,
                                           (const uint8_t *)req, strlen(req), 0, 0));
    json_array_append_new(m, s_gen_message("batch-3", 1, NULL, "stats.monthly.DE", NULL, "PUBLIC",
                                           ms, (const uint8_t *)stats, strlen(stats), 0, 0));
    json_array_append_new(m, s_gen_message("batch-3", 2, fr_it, NULL, fr_it, "LIMITED", ir,
                                           (const uint8_t *)req, strlen(req), 0, 0));
    json_array_append_new(batches, s_gen_batch("batch-3", 3, m, NULL));

    m = json_array();
    json_array_append_new(m, s_gen_message("batch-5", 0, fr, NULL, fr, "LIMITED", ir,
                                           (const uint8_t *)req, strlen(req), 0, 0));
    json_array_append_new(m, s_gen_message("batch-5", 1, it, NULL, it, "PERSONAL",
                                           "asylink.v1.InformationReply", (const uint8_t *)rep,
                                           strlen(rep), VEC_CREATED + 86400000, 1));
    json_array_append_new(m, s_gen_message("batch-5", 2, NULL, "stats.monthly.DE", NULL, "PUBLIC",
                                           ms, (const uint8_t *)stats, strlen(stats), 0, 0));
    json_array_append_new(m,
                          s_gen_message("batch-5", 3, NULL, "analysis.trends", fr_euaa, "LIMITED",
                                        "asylink.v1.TrendAnalysis", (const uint8_t *)"", 0, 0, 0));
    json_array_append_new(m, s_gen_message("batch-5", 4, euaa, NULL, euaa, "PUBLIC",
                                           "asylink.v1.SupportRequest", (const uint8_t *)stats,
                                           strlen(stats), 0, 0));
    json_array_append_new(batches, s_gen_batch("batch-5", 5, m, NULL));

    json_t *rule = json_object();
    json_object_set_new(rule, "count", json_integer(BATCH_MAX));
    json_object_set_new(rule, "topic", json_string("stats.batch.DE"));
    json_object_set_new(rule, "classification", json_string("PUBLIC"));
    json_object_set_new(rule, "content_type", json_string(ms));
    json_object_set_new(rule, "message",
                        json_string("message i (0..1023): topic, classification and content type "
                                    "as here, no recipients or readers (signed only), created_ms "
                                    "1795000000000, no expiry, no correlation id, payload the "
                                    "ASCII text \"batch message <i>\" with i in decimal, "
                                    "uuid_random seed(\"batch-1024/<i>/uuid_random\", 10)"));
    const size_t samples[] = {0, 1, 2, 511, 512, 767, 1000, 1022, 1023};
    m = json_array();
    for (size_t k = 0; k < sizeof samples / sizeof samples[0]; k++) {
        char text[64];
        int len = snprintf(text, sizeof text, "batch message %zu", samples[k]);
        json_array_append_new(m, s_gen_message("batch-1024", samples[k], NULL, "stats.batch.DE",
                                               NULL, "PUBLIC", ms, (const uint8_t *)text,
                                               (size_t)len, 0, 0));
    }
    json_array_append_new(batches, s_gen_batch("batch-1024", BATCH_MAX, m, rule));
    return batches;
}

/* Refusals of PROTOCOL.md 4.10: message 0 of batch-5 changed one way each. */
static json_t *s_gen_refusals(void)
{
    const char *names[] = {"salt-31-bytes",
                           "salt-33-bytes",
                           "size-1",
                           "size-0",
                           "size-1025",
                           "index-equals-size",
                           "path-one-short",
                           "path-one-long",
                           "path-element-31-bytes",
                           "path-own-leaf",
                           "index-0-written",
                           "path-element-changed",
                           "index-changed",
                           "size-changed",
                           "salt-changed",
                           "proof-of-another-envelope",
                           "proof-removed"};
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        json_array_append_new(a, json_pack("{ss ss}", "name", names[i], "batch", "batch-5"));
    return a;
}

#define VEC_ACKED (VEC_CREATED + 60000) /* receipts: one minute after the messages */

/* One receipt of a receipt vector; ack names the envelope vector it acknowledges, or NULL. */
static json_t *s_gen_receipt_entry(const char *label, const char *ack, const char *recipient,
                                   const char *sender, const char *status, const char *reason)
{
    json_t *x = json_object();
    char l[128];
    json_object_set_new(x, "acknowledges", json_string(ack ? ack : ""));
    if (ack) { /* filled in from the envelope vector when generating */
        json_object_set_new(x, "message_id", json_string(""));
        json_object_set_new(x, "envelope_digest", json_string(""));
    } else {
        /* A message that is not among the vectors: a UUIDv7 an hour before
         * VEC_CREATED with seeded random bits, and a seeded digest. */
        uint8_t id[16], r[10];
        uint64_t ts = VEC_CREATED - 3600000;
        snprintf(l, sizeof l, "%s/message_id", label);
        crypto_generichash(r, sizeof r, (const uint8_t *)l, strlen(l), NULL, 0);
        for (int i = 0; i < 6; i++)
            id[i] = (uint8_t)(ts >> (40 - 8 * i));
        id[6] = (uint8_t)(0x70 | (r[0] & 0x0f));
        id[7] = r[1];
        id[8] = (uint8_t)(0x80 | (r[2] & 0x3f));
        memcpy(id + 9, r + 3, 7);
        json_object_set_new(x, "message_id", s_hex(id, 16));
        snprintf(l, sizeof l, "%s/envelope_digest", label);
        json_object_set_new(x, "envelope_digest", s_seed(l, 64));
    }
    json_object_set_new(x, "recipient", json_string(recipient));
    json_object_set_new(x, "sender", json_string(sender));
    json_object_set_new(x, "acked_ms", json_integer((json_int_t)VEC_ACKED));
    json_object_set_new(x, "status", json_string(status));
    json_object_set_new(x, "reason", json_string(reason));
    return x;
}

/* A receipt vector: issuer acknowledges to sender the receipts in rs (stolen). */
static json_t *s_gen_receipt(const char *name, const char *issuer, const char *sender, json_t *rs)
{
    const char *to[] = {sender, NULL};
    json_t *v = json_object();
    json_object_set_new(v, "name", json_string(name));
    json_object_set_new(v, "receipts", rs);
    json_object_set_new(v, "receipt_set", json_string("")); /* output */
    json_t *env = s_gen_envelope(name, issuer, to, NULL, to, "LIMITED", RECEIPT_CONTENT_TYPE,
                                 (const uint8_t *)"", 0, 0, 0);
    json_object_set_new(env, "created_ms", json_integer((json_int_t)VEC_ACKED));
    json_object_set_new(v, "envelope", env); /* payload and correlation id filled in */
    return v;
}

static json_t *s_gen_armor(const char *name, const char *label, const char *const *comments,
                           json_t *data)
{
    json_t *v = json_object(), *c = json_array();
    for (size_t i = 0; comments && comments[i]; i++)
        json_array_append_new(c, json_string(comments[i]));
    json_object_set_new(v, "name", json_string(name));
    json_object_set_new(v, "label", json_string(label));
    json_object_set_new(v, "comments", c);
    json_object_set_new(v, "data", data);
    return v;
}

/* Replaces every occurrence of from in text by to (malloc'd). */
static char *s_replace(const char *text, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), n = 0;
    for (const char *p = strstr(text, from); p; p = strstr(p + fl, from))
        n++;
    char *out = malloc(strlen(text) + n * tl + 1), *o = out;
    assert_non_null(out);
    for (const char *p = text;;) {
        const char *q = strstr(p, from);
        if (!q) {
            memcpy(o, p, strlen(p) + 1);
            break;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, tl);
        o += tl;
        p = q + fl;
    }
    return out;
}

static char *s_concat(const char *a, const char *b)
{
    char *out = malloc(strlen(a) + strlen(b) + 1);
    assert_non_null(out);
    memcpy(out, a, strlen(a));
    memcpy(out + strlen(a), b, strlen(b) + 1);
    return out;
}

static void s_add_decode(json_t *list, const char *name, const char *label, char *text)
{
    json_array_append_new(list, json_pack("{ss ss ss ss ss}", "name", name, "label", label, "text",
                                          text, "result", "", "data", ""));
    free(text);
}

/*
 * Texts for armor_decode(): variants of one armored block that readers
 * must accept, and ones they must refuse (results recorded when generating).
 */
static json_t *s_gen_armor_decode(void)
{
    json_t *list = json_array();
    uint8_t data[49];
    crypto_generichash(data, sizeof data, (const uint8_t *)"armor_decode", 12, NULL, 0);
    char *t = NULL; /* 49 bytes: 68 base64 characters, two lines */
    assert_int_equal(armor_encode(ARMOR_CERTIFICATE, NULL, data, sizeof data, &t), ASYLINK_OK);
    const char *begin = "-----BEGIN ASYLINK CERTIFICATE-----\n";
    const char *end = "-----END ASYLINK CERTIFICATE-----\n";
    const char *label = ARMOR_CERTIFICATE;
    char *body = strndup(t + strlen(begin), strlen(t) - strlen(begin) - strlen(end));
    char *flat = s_replace(body, "\n", ""); /* the base64 on one line */
    char *b2 = NULL, *b3 = NULL;

    s_add_decode(list, "as-written", label, strdup(t));
    s_add_decode(list, "crlf-line-ends", label, s_replace(t, "\n", "\r\n"));
    s_add_decode(list, "trailing-spaces-and-tabs", label, s_replace(t, "\n", " \t\n"));
    b2 = s_concat("# a comment\n\n#no space after the hash\n   \n", t);
    s_add_decode(list, "comments-and-blank-lines-before", label, b2);
    s_add_decode(list, "blank-lines-after", label, s_concat(t, "\n  \n\n"));
    b2 = strndup(t, strlen(t) - 1);
    s_add_decode(list, "no-final-newline", label, b2);
    b2 = s_concat(begin, flat);
    b3 = s_concat(b2, "\n");
    free(b2);
    s_add_decode(list, "base64-on-one-line", label, s_concat(b3, end));
    free(b3);
    /* A tab at the start of every base64 line but the first, a space after every "A". */
    char *tabbed = s_replace(body, "\n", "\n\t");
    tabbed[strlen(tabbed) - 1] = 0; /* not before the END line */
    char *spaced = s_replace(tabbed, "A", "A ");
    b2 = s_concat(begin, spaced);
    free(tabbed);
    free(spaced);
    s_add_decode(list, "whitespace-inside-the-base64", label, s_concat(b2, end));
    free(b2);
    s_add_decode(list, "armor-line-in-a-comment", label,
                 s_concat("# -----BEGIN ASYLINK CERTIFICATE REQUEST-----\n", t));
    /* Refused: MALFORMED. */
    s_add_decode(list, "text-before-begin", label, s_concat("asylink certificate\n", t));
    s_add_decode(list, "indented-comment", label, s_concat(" # comment\n", t));
    s_add_decode(list, "indented-begin", label, s_concat(" ", t));
    s_add_decode(list, "other-label", ARMOR_REQUEST, strdup(t));
    s_add_decode(list, "text-after-end", label, s_concat(t, "# comment\n"));
    s_add_decode(list, "second-block", label, s_concat(t, t));
    b2 = s_concat(begin, body);
    s_add_decode(list, "missing-end", label, b2);
    s_add_decode(list, "empty-block", label, s_concat(begin, end));
    b2 = s_concat(begin, "# comment\n");
    b3 = s_concat(b2, body);
    free(b2);
    s_add_decode(list, "comment-inside-the-block", label, s_concat(b3, end));
    free(b3);
    b2 = strdup(t);
    b2[strlen(begin) + 10] = '*';
    s_add_decode(list, "bad-base64-character", label, b2);
    b2 = s_concat(begin, "AQ\n");
    s_add_decode(list, "missing-padding", label, s_concat(b2, end));
    free(b2);
    b2 = s_concat(begin, "AR==\n"); /* "AQ==" is the byte 01; "AR==" sets an unused bit */
    s_add_decode(list, "nonzero-unused-bits", label, s_concat(b2, end));
    free(b2);
    b2 = s_replace(t, "-----END ASYLINK CERTIFICATE-----", "-----END ASYLINK CERTIFICATE----- x");
    s_add_decode(list, "text-on-the-end-line", label, b2);
    free(flat);
    free(body);
    free(t);
    return list;
}

/* A secret key file vector; passphrase NULL = kdf 0 (unencrypted). */
static json_t *s_gen_secret_key(const char *name, const char *node, const char *passphrase,
                                uint32_t ops, uint32_t mem_kib, const char *const *comments)
{
    json_t *v = json_object(), *c = json_array();
    char l[128];
    json_object_set_new(v, "name", json_string(name));
    json_object_set_new(v, "node_id", json_string(node));
    json_object_set_new(v, "passphrase", passphrase ? json_string(passphrase) : json_null());
    json_object_set_new(v, "opslimit", json_integer(passphrase ? ops : 0));
    json_object_set_new(v, "memlimit_kib", json_integer(passphrase ? mem_kib : 0));
    snprintf(l, sizeof l, "%s/salt", name);
    json_object_set_new(v, "salt", passphrase ? s_seed(l, KEYS_SALT_LEN) : json_string(""));
    snprintf(l, sizeof l, "%s/nonce", name);
    json_object_set_new(v, "nonce", passphrase ? s_seed(l, KEYS_NONCE_LEN) : json_string(""));
    for (size_t i = 0; comments && comments[i]; i++)
        json_array_append_new(c, json_string(comments[i]));
    json_object_set_new(v, "comments", c);
    json_object_set_new(v, "kdf_key", json_string("")); /* outputs */
    json_object_set_new(v, "blob", json_string(""));
    json_object_set_new(v, "file", json_string(""));
    return v;
}

/* Second pass: vectors built on the outputs of the first (receipts, armor, key files). */
static void s_generate_more(json_t *root)
{
    json_t *rs = json_array();
    json_array_append_new(rs,
                          s_gen_receipt_entry("receipt-fr-for-limited-de-to-fr-it",
                                              "limited-de-to-fr-it", "FR", "DE", "DELIVERED", ""));
    json_t *receipts = json_array();
    json_array_append_new(receipts,
                          s_gen_receipt("receipt-fr-for-limited-de-to-fr-it", "FR", "DE", rs));
    rs = json_array();
    json_array_append_new(rs, s_gen_receipt_entry("receipt-set-de-for-fr/0", "personal-fr-to-de-1k",
                                                  "DE", "FR", "DELIVERED", ""));
    json_array_append_new(rs, s_gen_receipt_entry("receipt-set-de-for-fr/1", NULL, "DE", "FR",
                                                  "REJECTED",
                                                  "payload does not match its content type"));
    json_array_append_new(receipts, s_gen_receipt("receipt-set-de-for-fr", "DE", "FR", rs));
    json_object_set_new(root, "receipts", receipts);
    json_object_set_new(root, "batch_refusals", s_gen_refusals());

    json_t *armor = json_array();
    const char *c_cert[] = {"asylink certificate", "node DE, serial 2 (comments are never trusted)",
                            NULL};
    const char *c_req[] = {"certificate request of DE", NULL};
    json_t *certs = json_object_get(root, "certificates");
    json_array_append_new(
        armor,
        s_gen_armor("certificate-de", ARMOR_CERTIFICATE, c_cert,
                    json_deep_copy(json_object_get(json_array_get(certs, 1), "certificate"))));
    json_array_append_new(
        armor,
        s_gen_armor("request-de", ARMOR_REQUEST, c_req,
                    json_deep_copy(json_object_get(json_object_get(root, "request"), "request"))));
    json_array_append_new(
        armor, s_gen_armor("revocation-list", ARMOR_CRL, NULL,
                           json_deep_copy(json_object_get(json_object_get(root, "revocation_list"),
                                                          "revocation_list"))));
    /* 96 bytes: exactly two base64 lines of 64 characters, no padding */
    uint8_t b96[96];
    crypto_generichash(b96, 48, (const uint8_t *)"armor/96-bytes/0", 16, NULL, 0);
    crypto_generichash(b96 + 48, 48, (const uint8_t *)"armor/96-bytes/1", 16, NULL, 0);
    json_array_append_new(armor, s_gen_armor("96-bytes-two-full-lines", ARMOR_CERTIFICATE, NULL,
                                             s_hex(b96, sizeof b96)));
    const uint8_t one = 1;
    json_array_append_new(armor,
                          s_gen_armor("1-byte-padded", ARMOR_CERTIFICATE, NULL, s_hex(&one, 1)));
    json_object_set_new(root, "armor", armor);
    json_object_set_new(root, "armor_decode", s_gen_armor_decode());

    json_t *keys = json_array();
    const char *c_de[] = {"asylink secret key of DE", "keep this file private (mode 0600)", NULL};
    const char *c_fr[] = {"asylink secret key of FR (passphrase protected)", NULL};
    json_array_append_new(keys, s_gen_secret_key("de-unencrypted", "DE", NULL, 0, 0, c_de));
    json_array_append_new(
        keys, s_gen_secret_key("fr-argon2id", "FR",
                               "correct horse battery staple \xe2\x80\x93 Gr\xc3\xbc\xc3\x9f"
                               "e",
                               2, 64, c_fr));
    json_object_set_new(root, "secret_keys", keys);
}

static int s_generate(const char *path)
{
    json_t *root = json_object(), *keys = json_array(), *certs = json_array();
    json_object_set_new(root, "format", json_string("asylink known-answer vectors, version 1"));
    json_object_set_new(
        root, "notes",
        json_string(
            "All byte strings are lowercase hex. Keys: Ed25519 from sign_seed "
            "(crypto_sign_seed_keypair), "
            "X25519 secret = box_seed. Sealer random draws, in order: ephemeral_sk, uuid_random, "
            "content_key, body_nonce, wrap_nonces[i] (one per reader, in recipient order for "
            "direct "
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
    json_object_set_new(root, "request",
                        json_pack("{ss ss ss sI}", "node_id", "DE", "roles", "member_state",
                                  "display_name", s_ids[1][2], "created_ms",
                                  (json_int_t)VEC_CREATED));
    json_object_set_new(root, "revocation_list",
                        json_pack("{sI sI sI sI ss}", "number", (json_int_t)2, "issued_ms",
                                  (json_int_t)VEC_CREATED, "revoked_serial", (json_int_t)3,
                                  "revoked_ms", (json_int_t)VEC_CREATED, "reason",
                                  "key compromise"));
    json_t *envs = json_array();
    const char *fr_it[] = {"FR", "IT", NULL}, *de[] = {"DE", NULL}, *de_fr[] = {"DE", "FR", NULL};
    const char *txt = "Dublin III Art. 34 information request, case DE-2026-000123";
    json_array_append_new(envs, s_gen_envelope("limited-de-to-fr-it", "DE", fr_it, NULL, fr_it,
                                               "LIMITED", "asylink.v1.InformationRequest",
                                               (const uint8_t *)txt, strlen(txt), 0, 0));
    const char *stats = "{\"country\":\"DE\",\"period\":\"2026-10\",\"applications\":12345}";
    json_array_append_new(envs,
                          s_gen_envelope("public-euaa-stats", "EUAA", NULL, "stats.monthly.DE",
                                         NULL, "PUBLIC", "asylink.v1.MonthlyStatistics",
                                         (const uint8_t *)stats, strlen(stats), 0, 0));
    uint8_t kib[1024];
    for (size_t i = 0; i < sizeof kib; i++)
        kib[i] = (uint8_t)(i * 31 + 7);
    json_array_append_new(envs, s_gen_envelope("personal-fr-to-de-1k", "FR", de, NULL, de,
                                               "PERSONAL", "asylink.v1.InformationReply", kib,
                                               sizeof kib, VEC_CREATED + 86400000, 1));
    json_array_append_new(
        envs, s_gen_envelope("limited-euaa-topic-de-fr", "EUAA", NULL, "analysis.trends", de_fr,
                             "LIMITED", "asylink.v1.TrendAnalysis", (const uint8_t *)"", 0, 0, 0));
    json_object_set_new(root, "envelopes", envs);
    json_object_set_new(root, "batches", s_gen_batches());
    s_record = 1;
    s_check_all(root);
    s_generate_more(root);
    s_check_all(root); /* records the new outputs; the others come out the same */
    s_record = 0;
    int rc = json_dump_file(root, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return rc == 0 ? 0 : 1;
}

/* Regenerating from the fixed seeds reproduces the committed file byte for byte. */
static void test_regenerate(void **state)
{
    (void)state;
    char path[] = "/tmp/asylink-vectors-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(s_generate(path), 0);
    uint8_t *fresh = NULL, *committed = NULL;
    size_t fresh_len = 0, committed_len = 0;
    assert_int_equal(file_read(path, 0, &fresh, &fresh_len), ASYLINK_OK);
    assert_int_equal(file_read(s_file, 0, &committed, &committed_len), ASYLINK_OK);
    unlink(path);
    size_t at = 0;
    while (at < fresh_len && at < committed_len && fresh[at] == committed[at])
        at++;
    if (fresh_len != committed_len || at != fresh_len)
        fail_msg("regenerated vectors differ from %s at byte %zu (%zu vs %zu bytes); "
                 "see tests/vectors/README.md, Regenerating",
                 s_file, at, fresh_len, committed_len);
    free(fresh);
    free(committed);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--generate") == 0) {
        assert_true(sodium_init() >= 0);
        return s_generate(argv[2]);
    }
    assert_true(sodium_init() >= 0);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_vectors),
                                       cmocka_unit_test(test_regenerate)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
