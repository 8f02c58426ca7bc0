/*
 * test_envelope.c — seal/verify/open round trips, every tamper case with its
 * code, wrong readers, certificate states, hostile bytes.
 */
#include "fixture.h"

#include "asylink/v1/envelope.pb-c.h"
#include "codec.h"
#include "sig.h"

static const char *const s_ms27[] = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "GR",
                                     "ES", "FI", "FR", "HR", "HU", "IE", "IT", "LT", "LU",
                                     "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
                                     "EUAA", NULL};
static const char *const s_fr_it[] = {"FR", "IT", NULL};
static const char *const s_fr[] = {"FR", NULL};

static int s_setup(void **state)
{
    *state = fx_new(s_ms27);
    return 0;
}

static int s_teardown(void **state)
{
    fx_free(*state);
    return 0;
}

static uint8_t *s_pattern(size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 31 + 7);
    return p;
}

/* Seals len bytes DE -> to and checks every recipient gets them back. */
static void s_roundtrip(fx_fed *f, const char *const *to, size_t len)
{
    uint8_t *payload = s_pattern(len), *env = NULL, *got = NULL;
    size_t env_len = 0, got_len = 0;
    assert_int_equal(fx_seal(f, "DE", to, ENVELOPE_LIMITED, payload, len, &env, &env_len),
                     ASYLINK_OK);
    for (size_t i = 0; to[i]; i++) {
        assert_int_equal(fx_open(f, to[i], env, env_len, &got, &got_len), ASYLINK_OK);
        assert_int_equal(got_len, len);
        if (len)
            assert_memory_equal(got, payload, len);
        envelope_payload_free(got, got_len);
    }
    free(env);
    free(payload);
}

static void test_roundtrip_sizes(void **state)
{
    fx_fed *f = *state;
    s_roundtrip(f, s_fr, 0);
    s_roundtrip(f, s_fr, 1024);
    s_roundtrip(f, s_fr, 16u * 1024 * 1024);
}

static void test_roundtrip_27_recipients(void **state)
{
    fx_fed *f = *state;
    const char *to[32];
    size_t n = 0;
    for (size_t i = 0; s_ms27[i]; i++)
        if (strcmp(s_ms27[i], "DE") != 0 && strcmp(s_ms27[i], "EUAA") != 0)
            to[n++] = s_ms27[i];
    to[n++] = "EUAA";
    to[n] = NULL;
    assert_int_equal(n, 27);
    s_roundtrip(f, to, 0);
    s_roundtrip(f, to, 1024);
}

/* The headline case: DE -> FR, IT opens for both and not for EUAA. */
static void test_fr_it_not_euaa(void **state)
{
    fx_fed *f = *state;
    const uint8_t msg[] = "Dublin III Art. 34 request, case ref DE-2026-000123";
    uint8_t *env = NULL, *got = NULL;
    size_t env_len = 0, got_len = 0;
    assert_int_equal(fx_seal(f, "DE", s_fr_it, ENVELOPE_PERSONAL, msg, sizeof msg, &env,
                             &env_len), ASYLINK_OK);
    assert_int_equal(fx_open(f, "FR", env, env_len, &got, &got_len), ASYLINK_OK);
    assert_memory_equal(got, msg, sizeof msg);
    envelope_payload_free(got, got_len);
    assert_int_equal(fx_open(f, "IT", env, env_len, &got, &got_len), ASYLINK_OK);
    envelope_payload_free(got, got_len);
    assert_int_equal(fx_open(f, "EUAA", env, env_len, &got, &got_len), ASYLINK_E_NOT_RECIPIENT);
    assert_null(got);
    /* The plaintext appears nowhere in the envelope. */
    assert_null(memmem(env, env_len, "case ref", 8));
    free(env);
}

/* ---- tampering: unpack, change, repack ---- */

typedef struct {
    uint8_t *buf;
    size_t len;
} s_bytes;

static s_bytes s_seal_fr_it(fx_fed *f)
{
    const uint8_t msg[] = "statistics for 2026-10";
    s_bytes b = {0};
    assert_int_equal(fx_seal(f, "DE", s_fr_it, ENVELOPE_LIMITED, msg, sizeof msg, &b.buf,
                             &b.len), ASYLINK_OK);
    return b;
}

static s_bytes s_repack(Asylink__V1__Envelope *m)
{
    s_bytes b;
    b.len = asylink__v1__envelope__get_packed_size(m);
    b.buf = malloc(b.len);
    asylink__v1__envelope__pack(m, b.buf);
    return b;
}

/* Applies change() to a fresh FR+IT envelope and returns FR's open result. */
static int s_tamper(fx_fed *f, void (*change)(Asylink__V1__Envelope *m, fx_fed *f))
{
    s_bytes orig = s_seal_fr_it(f);
    Asylink__V1__Envelope *m = asylink__v1__envelope__unpack(NULL, orig.len, orig.buf);
    assert_non_null(m);
    change(m, f);
    s_bytes t = s_repack(m);
    uint8_t *got = NULL;
    size_t got_len = 0;
    int rc = fx_open(f, "FR", t.buf, t.len, &got, &got_len);
    envelope_payload_free(got, got_len);
    asylink__v1__envelope__free_unpacked(m, NULL);
    free(t.buf);
    free(orig.buf);
    return rc;
}

static void s_flip_header(Asylink__V1__Envelope *m, fx_fed *f)
{
    (void)f;
    /* Flip a bit inside the content type text so the header still parses. */
    uint8_t *p = memmem(m->header.data, m->header.len, "Information", 11);
    assert_non_null(p);
    p[0] ^= 0x01;
}

static void s_flip_body(Asylink__V1__Envelope *m, fx_fed *f) { (void)f; m->body.data[30] ^= 0x10; }
static void s_flip_key0(Asylink__V1__Envelope *m, fx_fed *f) { (void)f; m->keys[0]->wrapped_key.data[40] ^= 1; }
static void s_flip_key1(Asylink__V1__Envelope *m, fx_fed *f) { (void)f; m->keys[1]->wrapped_key.data[5] ^= 1; }
static void s_flip_sig(Asylink__V1__Envelope *m, fx_fed *f) { (void)f; m->signature.data[63] ^= 0x80; }

static void s_swap_wraps(Asylink__V1__Envelope *m, fx_fed *f)
{
    (void)f;
    ProtobufCBinaryData t = m->keys[0]->wrapped_key;
    m->keys[0]->wrapped_key = m->keys[1]->wrapped_key;
    m->keys[1]->wrapped_key = t;
}

static void s_drop_recipient(Asylink__V1__Envelope *m, fx_fed *f)
{
    (void)f;
    Asylink__V1__Header *h = asylink__v1__header__unpack(NULL, m->header.len, m->header.data);
    assert_non_null(h);
    assert_string_equal(h->recipients[1], "IT");
    h->n_recipients = 1; /* drop IT from the header, keep its key wrap */
    size_t len = asylink__v1__header__get_packed_size(h);
    uint8_t *buf = malloc(len); /* leaked into m; freed with the test process */
    asylink__v1__header__pack(h, buf);
    h->n_recipients = 2;
    asylink__v1__header__free_unpacked(h, NULL);
    free(m->header.data);
    m->header.data = buf;
    m->header.len = len;
}

/* Removes key wraps from index n on, freeing them. */
static void s_cut_keys(Asylink__V1__Envelope *m, size_t n)
{
    while (m->n_keys > n)
        asylink__v1__key_wrap__free_unpacked(m->keys[--m->n_keys], NULL);
}

static void s_drop_keywrap(Asylink__V1__Envelope *m, fx_fed *f) { (void)f; s_cut_keys(m, 1); }

static void test_tamper_header(void **s) { assert_int_equal(s_tamper(*s, s_flip_header), ASYLINK_E_BAD_SIGNATURE); }
static void test_tamper_body(void **s) { assert_int_equal(s_tamper(*s, s_flip_body), ASYLINK_E_BAD_SIGNATURE); }
static void test_tamper_keywrap_0(void **s) { assert_int_equal(s_tamper(*s, s_flip_key0), ASYLINK_E_BAD_SIGNATURE); }
static void test_tamper_keywrap_1(void **s) { assert_int_equal(s_tamper(*s, s_flip_key1), ASYLINK_E_BAD_SIGNATURE); }
static void test_tamper_signature(void **s) { assert_int_equal(s_tamper(*s, s_flip_sig), ASYLINK_E_BAD_SIGNATURE); }
static void test_tamper_swapped_keywraps(void **s) { assert_int_equal(s_tamper(*s, s_swap_wraps), ASYLINK_E_BAD_SIGNATURE); }
static void test_tamper_recipient_removed(void **s) { assert_int_equal(s_tamper(*s, s_drop_recipient), ASYLINK_E_KEYWRAP_MISMATCH); }
static void test_tamper_keywrap_removed(void **s) { assert_int_equal(s_tamper(*s, s_drop_keywrap), ASYLINK_E_KEYWRAP_MISMATCH); }

/* Re-signs m with node `who`'s key after a change, as a malicious sender could. */
static void s_resign(Asylink__V1__Envelope *m, const keys_secret *k)
{
    s_bytes b = s_repack(m);
    envelope *e = NULL;
    assert_int_equal(envelope_decode(b.buf, b.len, 0, &e), ASYLINK_OK);
    sig_sign_digest(k->sign_sk, envelope_digest(e), m->signature.data);
    envelope_destroy(&e);
    free(b.buf);
}

static void s_corrupt_and_resign(Asylink__V1__Envelope *m, fx_fed *f)
{
    m->body.data[m->body.len - 1] ^= 1; /* breaks the AEAD tag */
    s_resign(m, fx_node_by_id(f, "DE")->keys);
}

static void s_swap_wraps_resign(Asylink__V1__Envelope *m, fx_fed *f)
{
    s_swap_wraps(m, f);
    s_resign(m, fx_node_by_id(f, "DE")->keys);
}

static void s_signed_by_other(Asylink__V1__Envelope *m, fx_fed *f)
{
    s_resign(m, fx_node_by_id(f, "FR")->keys); /* FR forging DE's message */
}

/* A validly signed but broken ciphertext is caught by the AEAD: TAMPERED. */
static void test_signed_but_corrupt(void **s)
{
    assert_int_equal(s_tamper(*s, s_corrupt_and_resign), ASYLINK_E_TAMPERED);
    assert_int_equal(s_tamper(*s, s_swap_wraps_resign), ASYLINK_E_TAMPERED);
}

static void test_forged_sender(void **s)
{
    assert_int_equal(s_tamper(*s, s_signed_by_other), ASYLINK_E_BAD_SIGNATURE);
}

/*
 * The one pass (codec_unpack_canonical) and the general path decode buf to
 * the same code and, when it decodes, the same digests and header.
 */
static void s_paths_agree(const uint8_t *buf, size_t len)
{
    envelope *a = NULL, *b = NULL;
    int ra = envelope_decode(buf, len, 0, &a);
    int rb = envelope_decode_opt(buf, len, 0, ENVELOPE_DECODE_GENERAL, &b);
    assert_int_equal(ra, rb);
    if (ra == ASYLINK_OK) {
        assert_memory_equal(envelope_digest(a), envelope_digest(b), ENVELOPE_DIGEST_LEN);
        assert_memory_equal(envelope_signed_digest(a), envelope_signed_digest(b),
                            ENVELOPE_DIGEST_LEN);
        const envelope_header *ha = envelope_header_of(a), *hb = envelope_header_of(b);
        assert_string_equal(ha->sender, hb->sender);
        assert_string_equal(ha->topic, hb->topic);
        assert_string_equal(ha->content_type, hb->content_type);
        assert_int_equal(ha->n_recipients, hb->n_recipients);
        assert_int_equal(ha->created_ms, hb->created_ms);
        assert_int_equal(envelope_key_count(a), envelope_key_count(b));
        assert_int_equal(envelope_body_len(a), envelope_body_len(b));
    }
    envelope_destroy(&a);
    envelope_destroy(&b);
}

/* Every single-bit flip of a whole envelope is caught; none opens; both decode paths agree. */
static void test_every_bit_flip(void **state)
{
    fx_fed *f = *state;
    s_bytes b = s_seal_fr_it(f);
    size_t caught = 0;
    for (size_t i = 0; i < b.len * 8; i++) {
        b.buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        uint8_t *got = NULL;
        size_t got_len = 0;
        int rc = fx_open(f, "FR", b.buf, b.len, &got, &got_len);
        envelope_payload_free(got, got_len);
        s_paths_agree(b.buf, b.len);
        b.buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        /* A flip inside a protobuf tag may turn a field into an unknown
         * one that protobuf skips: then decoding changes the structure and
         * the message cannot verify either. Nothing may open. */
        assert_int_not_equal(rc, ASYLINK_OK);
        caught++;
    }
    assert_int_equal(caught, b.len * 8);
    free(b.buf);
}

static void test_truncated_and_garbage(void **state)
{
    fx_fed *f = *state;
    s_bytes b = s_seal_fr_it(f);
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *got = NULL;
        size_t got_len = 0;
        int rc = fx_open(f, "FR", b.buf, n, &got, &got_len);
        assert_int_not_equal(rc, ASYLINK_OK);
        envelope_payload_free(got, got_len);
    }
    uint8_t garbage[512];
    envelope *e = NULL;
    for (int round = 0; round < 200; round++) {
        randombytes_buf(garbage, sizeof garbage);
        int rc = envelope_decode(garbage, sizeof garbage, 0, &e);
        assert_int_not_equal(rc, ASYLINK_OK);
        assert_null(e);
    }
    /* Not protobuf at all. */
    assert_int_equal(envelope_decode((const uint8_t *)"\xff\xff\xff\xff", 4, 0, &e),
                     ASYLINK_E_MALFORMED);
    assert_int_equal(envelope_decode(b.buf, b.len, 100, &e), ASYLINK_E_TOO_LARGE);
    free(b.buf);
}

static void test_wrong_reader(void **state)
{
    fx_fed *f = *state;
    s_bytes b = s_seal_fr_it(f);
    envelope *e = NULL;
    assert_int_equal(envelope_decode(b.buf, b.len, 0, &e), ASYLINK_OK);
    assert_int_equal(envelope_verify(e, f->trust, clock_now_ms(), NULL), ASYLINK_OK);
    /* EUAA's keys pretending to be FR: the key wrap does not open. */
    envelope_opener *op = NULL;
    uint8_t *got = NULL;
    size_t got_len = 0;
    assert_int_equal(envelope_opener_new(fx_node_by_id(f, "EUAA")->keys, "FR", &op), ASYLINK_OK);
    assert_int_equal(envelope_open(op, e, &got, &got_len), ASYLINK_E_TAMPERED);
    envelope_opener_destroy(&op);
    assert_int_equal(envelope_opener_new(fx_node_by_id(f, "DE")->keys, "DE", &op), ASYLINK_OK);
    assert_int_equal(envelope_open(op, e, &got, &got_len), ASYLINK_E_NOT_RECIPIENT);
    envelope_opener_destroy(&op);
    envelope_destroy(&e);
    free(b.buf);
}

/* Seals with a given sender certificate state and returns verify's code. */
static int s_verify_at(fx_fed *f, uint64_t now)
{
    s_bytes b = s_seal_fr_it(f);
    envelope *e = NULL;
    assert_int_equal(envelope_decode(b.buf, b.len, 0, &e), ASYLINK_OK);
    int rc = envelope_verify(e, f->trust, now, NULL);
    envelope_destroy(&e);
    free(b.buf);
    return rc;
}

static void test_sender_cert_states(void **state)
{
    fx_fed *f = *state;
    uint64_t now = clock_now_ms();
    assert_int_equal(s_verify_at(f, now), ASYLINK_OK);
    assert_int_equal(s_verify_at(f, now + 2 * FX_YEAR_MS), ASYLINK_E_CERT_EXPIRED);
    assert_int_equal(s_verify_at(f, now - 2 * FX_YEAR_MS), ASYLINK_E_CERT_NOT_YET_VALID);
}

static void test_revoked_sender(void **state)
{
    const char *ids[] = {"DE", "FR", "IT", NULL};
    fx_fed *f = fx_new(ids);
    (void)state;
    assert_int_equal(s_verify_at(f, clock_now_ms()), ASYLINK_OK);
    crl_entry e = {.serial = fx_node_by_id(f, "DE")->cert->serial, .revoked_ms = clock_now_ms()};
    snprintf(e.reason, sizeof e.reason, "key compromise");
    crl *l = NULL;
    assert_int_equal(crl_sign(f->ca_keys, f->ca, 2, clock_now_ms(), &e, 1, &l), ASYLINK_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/revoked.crl", f->trust_dir);
    assert_int_equal(crl_save(l, path), ASYLINK_OK);
    crl_destroy(&l);
    fx_write_trust(f);
    assert_int_equal(s_verify_at(f, clock_now_ms()), ASYLINK_E_REVOKED);
    fx_free(f);
}

static void test_unknown_sender_and_wrong_serial(void **state)
{
    fx_fed *f = *state;
    /* A node with a valid certificate that is not in the trust directory. */
    fx_node *ghost = fx_add(f, "XX", CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE));
    uint8_t *env = NULL, *got = NULL;
    size_t env_len = 0, got_len = 0;
    assert_int_equal(fx_seal(f, "XX", s_fr, ENVELOPE_LIMITED, (const uint8_t *)"x", 1, &env,
                             &env_len), ASYLINK_OK);
    assert_int_equal(fx_open(f, "FR", env, env_len, &got, &got_len), ASYLINK_E_UNKNOWN_SENDER);
    free(env);
    /* DE signing under a serial that is not its current certificate's. */
    fx_node *de = fx_node_by_id(f, "DE");
    envelope_sealer *s = NULL;
    const cert *readers[] = {fx_node_by_id(f, "FR")->cert};
    envelope_params p = {.recipients = s_fr, .n_recipients = 1, .readers = readers,
                         .n_readers = 1, .content_type = "t", .classification = ENVELOPE_LIMITED};
    assert_int_equal(envelope_sealer_new(de->keys, "DE", de->cert->serial + 100, NULL, NULL, &s),
                     ASYLINK_OK);
    assert_int_equal(envelope_seal(s, &p, (const uint8_t *)"x", 1, &env, &env_len, NULL), ASYLINK_OK);
    assert_int_equal(fx_open(f, "FR", env, env_len, &got, &got_len), ASYLINK_E_WRONG_KEY);
    envelope_sealer_destroy(&s);
    free(env);
    f->n_nodes--; /* forget the ghost */
    keys_destroy(&ghost->keys);
    cert_destroy(&ghost->cert);
}

/* The digest a seal reports is the one a verifier computes from the bytes. */
static void test_seal_reports_digest(void **state)
{
    fx_fed *f = *state;
    fx_node *de = fx_node_by_id(f, "DE");
    envelope_sealer *s = NULL;
    const cert *readers[] = {fx_node_by_id(f, "FR")->cert};
    uint8_t digest[ENVELOPE_DIGEST_LEN], zero[ENVELOPE_DIGEST_LEN] = {0}, *env = NULL;
    size_t env_len = 0;
    memset(digest, 0, sizeof digest);
    envelope_params p = {.recipients = s_fr, .n_recipients = 1, .readers = readers,
                         .n_readers = 1, .content_type = "t", .classification = ENVELOPE_LIMITED,
                         .digest_out = digest};
    assert_int_equal(envelope_sealer_new(de->keys, "DE", de->cert->serial, NULL, NULL, &s),
                     ASYLINK_OK);
    assert_int_equal(envelope_seal(s, &p, (const uint8_t *)"x", 1, &env, &env_len, NULL), ASYLINK_OK);
    assert_memory_not_equal(digest, zero, sizeof digest);
    envelope *e = NULL;
    assert_int_equal(envelope_decode(env, env_len, 0, &e), ASYLINK_OK);
    assert_memory_equal(envelope_digest(e), digest, sizeof digest);
    envelope_destroy(&e);
    envelope_sealer_destroy(&s);
    free(env);
}

static void test_expired_message(void **state)
{
    fx_fed *f = *state;
    fx_node *de = fx_node_by_id(f, "DE");
    envelope_sealer *s = NULL;
    const cert *readers[] = {fx_node_by_id(f, "FR")->cert};
    uint64_t now = clock_now_ms();
    envelope_params p = {.recipients = s_fr, .n_recipients = 1, .readers = readers,
                         .n_readers = 1, .content_type = "asylink.v1.SupportRequest",
                         .classification = ENVELOPE_LIMITED, .created_ms = now - 10000,
                         .expires_ms = now - 1};
    uint8_t *env = NULL, *got = NULL;
    size_t env_len = 0, got_len = 0;
    assert_int_equal(envelope_sealer_new(de->keys, "DE", de->cert->serial, NULL, NULL, &s), ASYLINK_OK);
    assert_int_equal(envelope_seal(s, &p, (const uint8_t *)"x", 1, &env, &env_len, NULL), ASYLINK_OK);
    assert_int_equal(fx_open(f, "FR", env, env_len, &got, &got_len), ASYLINK_E_EXPIRED);
    envelope_sealer_destroy(&s);
    free(env);
}

static void test_classification_rules(void **state)
{
    fx_fed *f = *state;
    fx_node *de = fx_node_by_id(f, "DE");
    envelope_sealer *s = NULL;
    uint8_t *env = NULL, *got = NULL;
    size_t env_len = 0, got_len = 0;
    assert_int_equal(envelope_sealer_new(de->keys, "DE", de->cert->serial, NULL, NULL, &s), ASYLINK_OK);
    /* PUBLIC feed, signed only: opens for anyone, readable in the clear. */
    envelope_params pub = {.topic = "stats.monthly.DE", .content_type = "asylink.v1.MonthlyStatistics",
                           .classification = ENVELOPE_PUBLIC};
    assert_int_equal(envelope_seal(s, &pub, (const uint8_t *)"open data", 9, &env, &env_len, NULL), ASYLINK_OK);
    assert_int_equal(fx_open(f, "EUAA", env, env_len, &got, &got_len), ASYLINK_OK);
    assert_memory_equal(got, "open data", 9);
    envelope_payload_free(got, got_len);
    free(env);
    /* PERSONAL to a topic is refused. */
    envelope_params pers = pub;
    pers.classification = ENVELOPE_PERSONAL;
    assert_int_equal(envelope_seal(s, &pers, (const uint8_t *)"x", 1, &env, &env_len, NULL),
                     ASYLINK_E_CLASSIFICATION);
    /* LIMITED without readers cannot be encrypted: refused. */
    envelope_params lim = pub;
    lim.classification = ENVELOPE_LIMITED;
    assert_int_equal(envelope_seal(s, &lim, (const uint8_t *)"x", 1, &env, &env_len, NULL),
                     ASYLINK_E_KEYWRAP_MISMATCH);
    /* Readers that differ from the recipients are refused. */
    const cert *wrong[] = {fx_node_by_id(f, "IT")->cert};
    envelope_params mism = {.recipients = s_fr, .n_recipients = 1, .readers = wrong, .n_readers = 1,
                            .content_type = "t", .classification = ENVELOPE_LIMITED};
    assert_int_equal(envelope_seal(s, &mism, (const uint8_t *)"x", 1, &env, &env_len, NULL),
                     ASYLINK_E_KEYWRAP_MISMATCH);
    /* Oversized payloads are refused before anything is read. */
    assert_int_equal(envelope_seal(s, &pub, (const uint8_t *)"x", ENVELOPE_MAX_PAYLOAD + 1, &env,
                                   &env_len, NULL), ASYLINK_E_TOO_LARGE);
    envelope_sealer_destroy(&s);
}

/* A LIMITED header with an unencrypted body (crafted) is refused on decode. */
static void s_make_limited_plain(Asylink__V1__Envelope *m, fx_fed *f)
{
    (void)f;
    Asylink__V1__Header *h = asylink__v1__header__unpack(NULL, m->header.len, m->header.data);
    h->encryption = ASYLINK__V1__ENCRYPTION__ENCRYPTION_NONE;
    h->sender_ephemeral_pk.len = 0;
    h->payload_size = m->body.len;
    size_t len = asylink__v1__header__get_packed_size(h);
    uint8_t *buf = malloc(len);
    asylink__v1__header__pack(h, buf);
    asylink__v1__header__free_unpacked(h, NULL);
    free(m->header.data);
    m->header.data = buf;
    m->header.len = len;
    s_cut_keys(m, 0);
}

static void test_limited_unencrypted_refused(void **s)
{
    assert_int_equal(s_tamper(*s, s_make_limited_plain), ASYLINK_E_CLASSIFICATION);
}

/* Topic feeds encrypted to a reader list; a reader outside it cannot open. */
static void test_topic_readers(void **state)
{
    fx_fed *f = *state;
    fx_node *euaa = fx_node_by_id(f, "EUAA");
    envelope_sealer *s = NULL;
    const cert *readers[] = {fx_node_by_id(f, "DE")->cert, fx_node_by_id(f, "FR")->cert};
    envelope_params p = {.topic = "analysis.trends", .readers = readers, .n_readers = 2,
                         .content_type = "asylink.v1.TrendAnalysis",
                         .classification = ENVELOPE_LIMITED};
    uint8_t *env = NULL, *got = NULL;
    size_t env_len = 0, got_len = 0;
    assert_int_equal(envelope_sealer_new(euaa->keys, "EUAA", euaa->cert->serial, NULL, NULL, &s), ASYLINK_OK);
    assert_int_equal(envelope_seal(s, &p, (const uint8_t *)"trend", 5, &env, &env_len, NULL), ASYLINK_OK);
    assert_int_equal(fx_open(f, "DE", env, env_len, &got, &got_len), ASYLINK_OK);
    envelope_payload_free(got, got_len);
    assert_int_equal(fx_open(f, "IT", env, env_len, &got, &got_len), ASYLINK_E_NOT_RECIPIENT);
    /* The ephemeral key rotates; old and new envelopes both open. */
    uint8_t before[32];
    memcpy(before, envelope_sealer_ephemeral_pk(s), 32);
    envelope_sealer_rotate(s);
    assert_memory_not_equal(before, envelope_sealer_ephemeral_pk(s), 32);
    /* Timed rotation: not before the key is max_age old, then at once. */
    memcpy(before, envelope_sealer_ephemeral_pk(s), 32);
    uint64_t now = clock_now_ms();
    assert_false(envelope_sealer_rotate_if_older(s, now, 60000));
    assert_false(envelope_sealer_rotate_if_older(s, now - 1000, 60000)); /* clock went back */
    assert_memory_equal(before, envelope_sealer_ephemeral_pk(s), 32);
    assert_true(envelope_sealer_rotate_if_older(s, now + 60001 + 5000, 60000));
    assert_memory_not_equal(before, envelope_sealer_ephemeral_pk(s), 32);
    free(env);
    assert_int_equal(envelope_seal(s, &p, (const uint8_t *)"trend", 5, &env, &env_len, NULL), ASYLINK_OK);
    assert_int_equal(fx_open(f, "FR", env, env_len, &got, &got_len), ASYLINK_OK);
    envelope_payload_free(got, got_len);
    envelope_sealer_destroy(&s);
    free(env);
}

/* Bytes protobuf would accept but that are not the canonical encoding. */
static void test_non_canonical_refused(void **state)
{
    fx_fed *f = *state;
    s_bytes b = s_seal_fr_it(f);
    envelope *e = NULL;
    /* An unknown field appended to the envelope (outside the signature). */
    uint8_t *longer = malloc(b.len + 3);
    memcpy(longer, b.buf, b.len);
    memcpy(longer + b.len, "\x28\x01", 2); /* field 5, varint 1 */
    assert_int_equal(envelope_decode(longer, b.len + 2, 0, &e), ASYLINK_E_MALFORMED);
    free(longer);
    /* A NUL smuggled into a key wrap's node id ("FR\0X" reads as "FR" in C). */
    Asylink__V1__Envelope *m = asylink__v1__envelope__unpack(NULL, b.len, b.buf);
    s_bytes t = s_repack(m);
    uint8_t *p = memmem(t.buf, t.len, "\x0a\x02" "FR", 4);
    assert_non_null(p);
    size_t off = (size_t)(p - t.buf);
    uint8_t *nul = malloc(t.len + 2);
    memcpy(nul, t.buf, off);
    memcpy(nul + off, "\x0a\x04" "FR\0X", 6);
    memcpy(nul + off + 6, t.buf + off + 4, t.len - off - 4);
    /* the enclosing KeyWrap length grows by 2 */
    assert_int_equal(nul[off - 1], 0x4e); /* tag+len+"FR" (4) + tag+len+wrap (74) */
    nul[off - 1] += 2;
    assert_int_equal(envelope_decode(nul, t.len + 2, 0, &e), ASYLINK_E_MALFORMED);
    free(nul);
    /* An unknown field inside a nested KeyWrap (protobuf-c would re-emit it). */
    p = memmem(t.buf, t.len, "\x0a\x02" "FR", 4);
    off = (size_t)(p - t.buf);
    uint8_t *nested = malloc(t.len + 2);
    memcpy(nested, t.buf, off);
    memcpy(nested + off, "\x18\x01", 2); /* KeyWrap field 3, varint 1 */
    memcpy(nested + off + 2, t.buf + off, t.len - off);
    nested[off - 1] += 2;
    assert_int_equal(envelope_decode(nested, t.len + 2, 0, &e), ASYLINK_E_MALFORMED);
    free(nested);
    free(t.buf);
    asylink__v1__envelope__free_unpacked(m, NULL);
    free(b.buf);
}

/* The canonical check as first written: pack into a buffer and compare. */
static bool s_canonical_reference(const ProtobufCMessage *m, const uint8_t *buf, size_t len)
{
    if (protobuf_c_message_get_packed_size(m) != len)
        return false;
    uint8_t *again = malloc(len ? len : 1);
    assert_non_null(again);
    bool same = protobuf_c_message_pack(m, again) == len && memcmp(again, buf, len) == 0;
    free(again);
    return same;
}

/* codec_is_canonical() against the reference on what unpacks of one input. */
static void s_canonical_same(const uint8_t *buf, size_t len, size_t *accepted)
{
    Asylink__V1__Envelope *m = asylink__v1__envelope__unpack(NULL, len, buf);
    if (!m)
        return;
    bool unknown = m->base.n_unknown_fields != 0; /* the only nested messages: key wraps */
    for (size_t i = 0; i < m->n_keys; i++)
        unknown |= m->keys[i]->base.n_unknown_fields != 0;
    bool want = !unknown && s_canonical_reference(&m->base, buf, len);
    assert_int_equal(codec_is_canonical(&m->base, buf, len), want);
    *accepted += want;
    asylink__v1__envelope__free_unpacked(m, NULL);
}

/*
 * The comparing check accepts exactly what pack-and-compare accepts: every
 * single-byte change, every truncation and every appended byte of a sealed
 * envelope.
 */
static void test_canonical_check_exact(void **state)
{
    fx_fed *f = *state;
    s_bytes b = s_seal_fr_it(f);
    uint8_t *buf = malloc(b.len + 1);
    assert_non_null(buf);
    size_t accepted = 0;
    s_canonical_same(b.buf, b.len, &accepted);
    assert_int_equal(accepted, 1);
    static const uint8_t vals[] = {0x00, 0x01, 0x08, 0x0a, 0x12, 0x7f, 0x80, 0xff};
    for (size_t i = 0; i < b.len; i++) {
        for (size_t k = 0; k < sizeof vals; k++) {
            memcpy(buf, b.buf, b.len);
            if (buf[i] == vals[k])
                continue;
            buf[i] = vals[k];
            s_canonical_same(buf, b.len, &accepted);
        }
        s_canonical_same(b.buf, i, &accepted); /* truncated */
    }
    memcpy(buf, b.buf, b.len);
    for (size_t k = 0; k < sizeof vals; k++) {
        buf[b.len] = vals[k];
        s_canonical_same(buf, b.len + 1, &accepted);
    }
    assert_true(accepted > 1); /* changes inside bytes fields stay canonical */
    free(buf);
    /* The signature field (the last) repeated: it decodes to the same
     * message, whose re-serialization is a strict prefix of the input. */
    size_t sig_field = 2 + SIG_LEN;
    assert_int_equal(b.buf[b.len - sig_field], 0x22); /* field 4, length-delimited */
    buf = malloc(b.len + sig_field);
    assert_non_null(buf);
    memcpy(buf, b.buf, b.len);
    memcpy(buf + b.len, b.buf + b.len - sig_field, sig_field);
    Asylink__V1__Envelope *m = asylink__v1__envelope__unpack(NULL, b.len + sig_field, buf);
    assert_non_null(m);
    assert_false(codec_is_canonical(&m->base, buf, b.len + sig_field));
    assert_true(codec_is_canonical(&m->base, buf, b.len)); /* the prefix is canonical */
    asylink__v1__envelope__free_unpacked(m, NULL);
    free(buf);
    free(b.buf);
}

/*
 * 2,000 empty key wraps (2 bytes each on the wire) are refused by the
 * pre-scan before anything is unpacked. 1,024 of them pass it and outgrow
 * the envelope's arena: the rest is malloc'd, checked as usual and freed
 * with the envelope (the sanitizer build catches a leak).
 */
static void test_decode_outgrows_arena(void **state)
{
    fx_fed *f = *state;
    s_bytes b = s_seal_fr_it(f);
    Asylink__V1__Envelope *m = asylink__v1__envelope__unpack(NULL, b.len, b.buf);
    assert_non_null(m);
    size_t n = 2000, n_old = m->n_keys;
    Asylink__V1__KeyWrap **old = m->keys;
    Asylink__V1__KeyWrap *kw = calloc(n, sizeof *kw);
    Asylink__V1__KeyWrap **ptrs = calloc(n, sizeof *ptrs);
    assert_non_null(kw);
    assert_non_null(ptrs);
    for (size_t i = 0; i < n; i++) {
        asylink__v1__key_wrap__init(&kw[i]);
        ptrs[i] = &kw[i];
    }
    m->keys = ptrs;
    m->n_keys = n;
    s_bytes t = s_repack(m);
    assert_true(t.len < b.len + 2 * n);
    envelope *e = NULL;
    assert_int_equal(envelope_decode(t.buf, t.len, 0, &e), ASYLINK_E_TOO_LARGE);
    assert_null(e);
    m->n_keys = ENVELOPE_MAX_READERS; /* canonical, but no node ids */
    free(t.buf);
    t = s_repack(m);
    assert_int_equal(envelope_decode(t.buf, t.len, 0, &e), ASYLINK_E_BAD_NODE_ID);
    free(t.buf);
    m->keys = old;
    m->n_keys = n_old;
    free(ptrs);
    free(kw);
    asylink__v1__envelope__free_unpacked(m, NULL);
    free(b.buf);
}

/* Sets the Header version of m (the signature no longer matters here). */
static void s_set_version(Asylink__V1__Envelope *m, uint32_t version)
{
    Asylink__V1__Header *h = asylink__v1__header__unpack(NULL, m->header.len, m->header.data);
    assert_non_null(h);
    h->version = version;
    size_t len = asylink__v1__header__get_packed_size(h);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    asylink__v1__header__pack(h, buf);
    asylink__v1__header__free_unpacked(h, NULL);
    free(m->header.data);
    m->header.data = buf;
    m->header.len = len;
}

/*
 * The pre-scan runs before protobuf-c unpacks anything, so too many key
 * wraps are TOO_LARGE even when a later check (the header version) would
 * also fail; up to the limit, the checks run in their usual order.
 */
static void test_prescan_first(void **state)
{
    fx_fed *f = *state;
    s_bytes b = s_seal_fr_it(f);
    Asylink__V1__Envelope *m = asylink__v1__envelope__unpack(NULL, b.len, b.buf);
    assert_non_null(m);
    s_set_version(m, 2);
    size_t n_old = m->n_keys;
    Asylink__V1__KeyWrap **old = m->keys;
    Asylink__V1__KeyWrap *kw = calloc(ENVELOPE_MAX_READERS + 1, sizeof *kw);
    Asylink__V1__KeyWrap **ptrs = calloc(ENVELOPE_MAX_READERS + 1, sizeof *ptrs);
    assert_non_null(kw);
    assert_non_null(ptrs);
    for (size_t i = 0; i <= ENVELOPE_MAX_READERS; i++) {
        asylink__v1__key_wrap__init(&kw[i]);
        ptrs[i] = &kw[i];
    }
    m->keys = ptrs;
    envelope *e = NULL;
    const size_t counts[] = {ENVELOPE_MAX_READERS, ENVELOPE_MAX_READERS + 1};
    const int codes[] = {ASYLINK_E_UNSUPPORTED_VERSION, ASYLINK_E_TOO_LARGE};
    for (size_t k = 0; k < 2; k++) {
        m->n_keys = counts[k];
        s_bytes t = s_repack(m);
        assert_int_equal(envelope_decode(t.buf, t.len, 0, &e), codes[k]);
        assert_null(e);
        free(t.buf);
    }
    /* An unknown field inside the header bytes: MALFORMED before unpacking. */
    m->keys = old;
    m->n_keys = n_old;
    s_set_version(m, 1);
    uint8_t *h = malloc(m->header.len + 2);
    assert_non_null(h);
    memcpy(h, m->header.data, m->header.len);
    h[m->header.len] = 0xf8; /* field 31, varint */
    h[m->header.len + 1] = 0x01;
    free(m->header.data);
    m->header.data = h;
    m->header.len += 2;
    s_bytes t = s_repack(m);
    assert_int_equal(envelope_decode(t.buf, t.len, 0, &e), ASYLINK_E_MALFORMED);
    free(t.buf);
    free(ptrs);
    free(kw);
    asylink__v1__envelope__free_unpacked(m, NULL);
    free(b.buf);
}

/* A sender that commits to one key but wraps another is caught. */
static void s_bad_commitment(Asylink__V1__Envelope *m, fx_fed *f)
{
    Asylink__V1__Header *h = asylink__v1__header__unpack(NULL, m->header.len, m->header.data);
    assert_int_equal(h->key_commitment.len, ENVELOPE_COMMITMENT_LEN);
    h->key_commitment.data[0] ^= 1;
    size_t len = asylink__v1__header__get_packed_size(h);
    uint8_t *buf = malloc(len);
    asylink__v1__header__pack(h, buf);
    asylink__v1__header__free_unpacked(h, NULL);
    free(m->header.data);
    m->header.data = buf;
    m->header.len = len;
    s_resign(m, fx_node_by_id(f, "DE")->keys);
}

static void test_key_commitment(void **s)
{
    assert_int_equal(s_tamper(*s, s_bad_commitment), ASYLINK_E_TAMPERED);
}

/* A signed-only PUBLIC message to named recipients opens only for them. */
static void test_public_direct_recipients(void **state)
{
    fx_fed *f = *state;
    uint8_t *env = NULL, *got = NULL;
    size_t env_len = 0, got_len = 0;
    assert_int_equal(fx_seal(f, "DE", s_fr, ENVELOPE_PUBLIC, (const uint8_t *)"hi", 2, &env,
                             &env_len), ASYLINK_OK);
    assert_int_equal(fx_open(f, "FR", env, env_len, &got, &got_len), ASYLINK_OK);
    envelope_payload_free(got, got_len);
    assert_int_equal(fx_open(f, "IT", env, env_len, &got, &got_len), ASYLINK_E_NOT_RECIPIENT);
    free(env);
    const char *dup[] = {"FR", "FR", NULL};
    assert_int_equal(fx_seal(f, "DE", dup, ENVELOPE_LIMITED, (const uint8_t *)"x", 1, &env,
                             &env_len), ASYLINK_E_BAD_FIELD);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(topic_valid("stats.monthly.DE"));
    assert_false(topic_valid("stats..DE"));
    assert_false(topic_valid(".stats"));
    assert_false(topic_valid("stats."));
    assert_false(topic_valid("stats monthly"));
    assert_false(topic_valid(""));
    assert_int_equal(envelope_class_parse("personal"), ENVELOPE_PERSONAL);
    assert_int_equal(envelope_class_parse("SECRET"), -1);
    assert_string_equal(envelope_class_name(ENVELOPE_LIMITED), "LIMITED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_sizes),
        cmocka_unit_test(test_roundtrip_27_recipients),
        cmocka_unit_test(test_fr_it_not_euaa),
        cmocka_unit_test(test_tamper_header),
        cmocka_unit_test(test_tamper_body),
        cmocka_unit_test(test_tamper_keywrap_0),
        cmocka_unit_test(test_tamper_keywrap_1),
        cmocka_unit_test(test_tamper_signature),
        cmocka_unit_test(test_tamper_swapped_keywraps),
        cmocka_unit_test(test_tamper_recipient_removed),
        cmocka_unit_test(test_tamper_keywrap_removed),
        cmocka_unit_test(test_signed_but_corrupt),
        cmocka_unit_test(test_forged_sender),
        cmocka_unit_test(test_every_bit_flip),
        cmocka_unit_test(test_truncated_and_garbage),
        cmocka_unit_test(test_wrong_reader),
        cmocka_unit_test(test_sender_cert_states),
        cmocka_unit_test(test_revoked_sender),
        cmocka_unit_test(test_unknown_sender_and_wrong_serial),
        cmocka_unit_test(test_seal_reports_digest),
        cmocka_unit_test(test_expired_message),
        cmocka_unit_test(test_classification_rules),
        cmocka_unit_test(test_limited_unencrypted_refused),
        cmocka_unit_test(test_topic_readers),
        cmocka_unit_test(test_non_canonical_refused),
        cmocka_unit_test(test_canonical_check_exact),
        cmocka_unit_test(test_decode_outgrows_arena),
        cmocka_unit_test(test_prescan_first),
        cmocka_unit_test(test_key_commitment),
        cmocka_unit_test(test_public_direct_recipients),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
