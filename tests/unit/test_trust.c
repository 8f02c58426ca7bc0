/*
 * test_trust.c — the trust directory: lookups, bad files left out with a
 * reason, revoked and expired certificates kept with their exact code,
 * higher serial wins, missing or forged CA and revocation list refused.
 */
#include "fixture.h"

#include "file.h"

static const char *const s_ids[] = {"DE", "FR", "IT", "EUAA", NULL};

static void s_path(char *buf, size_t len, const fx_fed *f, const char *rel)
{
    snprintf(buf, len, "%s/%s", f->trust_dir, rel);
}

static void test_lookup(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    const cert *c = NULL;
    uint64_t now = clock_now_ms();
    assert_int_equal(trust_count(f->trust), 4);
    assert_string_equal(trust_at(f->trust, 0)->node_id, "DE"); /* sorted */
    assert_int_equal(trust_lookup(f->trust, "FR", now, ASYLINK_E_UNKNOWN_RECIPIENT, &c), ASYLINK_OK);
    assert_string_equal(c->node_id, "FR");
    assert_int_equal(trust_lookup(f->trust, "XX", now, ASYLINK_E_UNKNOWN_RECIPIENT, &c),
                     ASYLINK_E_UNKNOWN_RECIPIENT);
    assert_null(c);
    const cert *it = trust_find(f->trust, "IT");
    assert_ptr_equal(trust_find_by_box_pk(f->trust, it->box_pk), it);
    assert_null(trust_find_by_box_pk(f->trust, f->ca->box_pk));
    assert_int_equal(trust_lookup(f->trust, "IT", now + 2 * FX_YEAR_MS, 0, &c), ASYLINK_E_CERT_EXPIRED);
    assert_int_equal(trust_problem_count(f->trust), 0);
    assert_null(trust_crl(f->trust));
    fx_free(f);
}

static void test_bad_files_left_out(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    fx_fed *g = fx_new(s_ids);
    char path[512];
    s_path(path, sizeof path, f, "nodes/garbage.cert");
    assert_int_equal(file_write_atomic(path, "hello", 5, 0644, 0), ASYLINK_OK);
    s_path(path, sizeof path, f, "nodes/foreign.cert");
    fx_node *foreign = fx_add(g, "PL", CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE));
    assert_int_equal(cert_save(foreign->cert, path, 0), ASYLINK_OK);
    s_path(path, sizeof path, f, "nodes/notes.txt"); /* ignored: not *.cert */
    assert_int_equal(file_write_atomic(path, "x", 1, 0644, 0), ASYLINK_OK);
    trust *t = NULL;
    assert_int_equal(trust_load(f->trust_dir, &t), ASYLINK_OK);
    assert_int_equal(trust_count(t), 4);
    assert_null(trust_find(t, "PL"));
    assert_int_equal(trust_problem_count(t), 2);
    for (size_t i = 0; i < 2; i++) {
        const trust_problem *p = trust_problem_at(t, i);
        if (strstr(p->path, "garbage"))
            assert_int_equal(p->code, ASYLINK_E_MALFORMED);
        else
            assert_int_equal(p->code, ASYLINK_E_UNTRUSTED_ISSUER);
    }
    trust_destroy(&t);
    fx_free(g);
    fx_free(f);
}

static void test_higher_serial_wins(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    fx_node *de = fx_node_by_id(f, "DE");
    keys_secret *k2 = NULL;
    assert_int_equal(keys_generate(&k2), ASYLINK_OK);
    uint64_t now = clock_now_ms();
    cert *renewed = fx_issue(f, "DE", CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE), k2, now - 1000, now + FX_YEAR_MS);
    char path[512];
    s_path(path, sizeof path, f, "nodes/DE-renewed.cert");
    assert_int_equal(cert_save(renewed, path, 0), ASYLINK_OK);
    trust *t = NULL;
    assert_int_equal(trust_load(f->trust_dir, &t), ASYLINK_OK);
    assert_int_equal(trust_find(t, "DE")->serial, renewed->serial);
    assert_true(renewed->serial > de->cert->serial);
    trust_destroy(&t);
    cert_destroy(&renewed);
    keys_destroy(&k2);
    fx_free(f);
}

static void test_revocation(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    const cert *fr = fx_node_by_id(f, "FR")->cert;
    crl_entry e = {.serial = fr->serial, .revoked_ms = 1};
    crl *l = NULL;
    assert_int_equal(crl_sign(f->ca_keys, f->ca, 2, 1, &e, 1, &l), ASYLINK_OK);
    char path[512];
    s_path(path, sizeof path, f, "revoked.crl");
    assert_int_equal(crl_save(l, path), ASYLINK_OK);
    crl_destroy(&l);
    trust *t = NULL;
    const cert *c = NULL;
    assert_int_equal(trust_load(f->trust_dir, &t), ASYLINK_OK);
    assert_non_null(trust_find(t, "FR")); /* kept, so the answer is REVOKED not UNKNOWN */
    assert_int_equal(trust_lookup(t, "FR", clock_now_ms(), ASYLINK_E_UNKNOWN_SENDER, &c), ASYLINK_E_REVOKED);
    assert_int_equal(trust_check(t, fr, clock_now_ms()), ASYLINK_E_REVOKED);
    assert_int_equal(trust_lookup(t, "DE", clock_now_ms(), 0, &c), ASYLINK_OK);
    trust_destroy(&t);
    fx_free(f);
}

static void test_forged_crl_and_missing_ca(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    fx_fed *g = fx_new(NULL);
    crl *l = NULL;
    assert_int_equal(crl_sign(g->ca_keys, g->ca, 2, 1, NULL, 0, &l), ASYLINK_OK);
    char path[512];
    s_path(path, sizeof path, f, "revoked.crl");
    assert_int_equal(crl_save(l, path), ASYLINK_OK);
    crl_destroy(&l);
    trust *t = NULL;
    /* Same CA name, different key: the list does not verify. */
    assert_int_equal(trust_load(f->trust_dir, &t), ASYLINK_E_BAD_SIGNATURE);
    assert_null(t);
    unlink(path);
    s_path(path, sizeof path, f, "ca.cert");
    unlink(path);
    assert_int_equal(trust_load(f->trust_dir, &t), ASYLINK_E_NOT_FOUND);
    /* A node certificate is not a CA. */
    assert_int_equal(cert_save(fx_node_by_id(f, "DE")->cert, path, 0), ASYLINK_OK);
    assert_int_equal(trust_load(f->trust_dir, &t), ASYLINK_E_UNTRUSTED_ISSUER);
    fx_free(g);
    fx_free(f);
}

/* A file over its limit: trust_too_large_text() names it, its size and the limit. */
static void test_too_large_named(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    char path[512], want[1024], text[1024];
    trust *t = NULL;
    s_path(path, sizeof path, f, "revoked.crl");
    FILE *made = fopen(path, "a"); /* made if the fixture wrote none */
    assert_non_null(made);
    fclose(made);
    assert_int_equal(truncate(path, 40000000), 0);
    assert_int_equal(trust_load(f->trust_dir, &t), ASYLINK_E_TOO_LARGE);
    trust_too_large_text(f->trust_dir, text, sizeof text);
    snprintf(want, sizeof want,
             "%s: 40000000 bytes, more than the limit of 33558528 bytes (32.0 MiB) for a "
             "revocation list",
             path);
    assert_string_equal(text, want);
    unlink(path);
    s_path(path, sizeof path, f, "ca.cert");
    assert_int_equal(truncate(path, 200000), 0);
    assert_int_equal(trust_load(f->trust_dir, &t), ASYLINK_E_TOO_LARGE);
    trust_too_large_text(f->trust_dir, text, sizeof text);
    snprintf(want, sizeof want,
             "%s: 200000 bytes, more than the limit of 135168 bytes (132 KiB) for a "
             "certificate file",
             path);
    assert_string_equal(text, want);
    unlink(path); /* neither file too large: the certificate count is */
    trust_too_large_text(f->trust_dir, text, sizeof text);
    snprintf(want, sizeof want, "%s/nodes: more than the limit of 4096 certificates", f->trust_dir);
    assert_string_equal(text, want);
    fx_free(f);
}

/* After renewal both certificates stay: old messages still verify. */
static void test_renewal_keeps_old_serial(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    const char *to[] = {"FR", NULL};
    uint8_t *env = NULL, *got = NULL;
    size_t env_len = 0, got_len = 0;
    assert_int_equal(fx_seal(f, "DE", to, ENVELOPE_LIMITED, (const uint8_t *)"x", 1, &env, &env_len),
                     ASYLINK_OK);
    fx_node *de = fx_node_by_id(f, "DE");
    uint64_t old_serial = de->cert->serial, now = clock_now_ms();
    cert *renewed = fx_issue(f, "DE", CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE), de->keys, now - 1000,
                             now + 2 * FX_YEAR_MS);
    char path[512];
    s_path(path, sizeof path, f, "nodes/DE-2.cert");
    assert_int_equal(cert_save(renewed, path, 0), ASYLINK_OK);
    fx_write_trust(f);
    assert_int_equal(trust_find(f->trust, "DE")->serial, renewed->serial);
    assert_non_null(trust_find_serial(f->trust, "DE", old_serial));
    assert_null(trust_find_serial(f->trust, "DE", 424242));
    assert_int_equal(fx_open(f, "FR", env, env_len, &got, &got_len), ASYLINK_OK);
    envelope_payload_free(got, got_len);
    /* Revoking the old certificate leaves the node usable under the new one. */
    crl_entry e = {.serial = old_serial, .revoked_ms = now};
    crl *l = NULL;
    assert_int_equal(crl_sign(f->ca_keys, f->ca, 2, now, &e, 1, &l), ASYLINK_OK);
    s_path(path, sizeof path, f, "revoked.crl");
    assert_int_equal(crl_save(l, path), ASYLINK_OK);
    crl_destroy(&l);
    fx_write_trust(f);
    const cert *c = NULL;
    assert_int_equal(trust_lookup(f->trust, "DE", now, 0, &c), ASYLINK_OK);
    assert_int_equal(c->serial, renewed->serial);
    assert_int_equal(fx_open(f, "FR", env, env_len, &got, &got_len), ASYLINK_E_REVOKED);
    free(env);
    cert_destroy(&renewed);
    fx_free(f);
}

/* When the CA's own certificate has expired nothing is usable. */
static void test_ca_expiry(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    const cert *c = NULL;
    uint64_t late = f->ca->not_after_ms + 1;
    /* Reissue DE so that only the CA window is the limit. */
    fx_node *de = fx_node_by_id(f, "DE");
    cert_destroy(&de->cert);
    de->cert = fx_issue(f, "DE", CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE), de->keys, 1, late + 1000);
    fx_write_trust(f);
    assert_int_equal(trust_lookup(f->trust, "DE", late - 2, 0, &c), ASYLINK_OK);
    assert_int_equal(trust_lookup(f->trust, "DE", late, 0, &c), ASYLINK_E_CERT_EXPIRED);
    fx_free(f);
}

/* An older revocation list may not replace a newer one on reload. */
static void test_reload_refuses_stale_crl(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    char path[512];
    s_path(path, sizeof path, f, "revoked.crl");
    crl *l = NULL;
    trust *cur = NULL, *next = NULL;
    assert_int_equal(crl_sign(f->ca_keys, f->ca, 5, 1, NULL, 0, &l), ASYLINK_OK);
    assert_int_equal(crl_save(l, path), ASYLINK_OK);
    crl_destroy(&l);
    assert_int_equal(trust_reload(f->trust_dir, NULL, &cur), ASYLINK_OK);
    assert_int_equal(crl_sign(f->ca_keys, f->ca, 4, 2, NULL, 0, &l), ASYLINK_OK);
    assert_int_equal(crl_save(l, path), ASYLINK_OK);
    crl_destroy(&l);
    assert_int_equal(trust_reload(f->trust_dir, cur, &next), ASYLINK_E_STALE);
    assert_null(next);
    unlink(path);
    assert_int_equal(trust_reload(f->trust_dir, cur, &next), ASYLINK_E_STALE);
    assert_int_equal(crl_sign(f->ca_keys, f->ca, 6, 3, NULL, 0, &l), ASYLINK_OK);
    assert_int_equal(crl_save(l, path), ASYLINK_OK);
    crl_destroy(&l);
    assert_int_equal(trust_reload(f->trust_dir, cur, &next), ASYLINK_OK);
    trust_destroy(&next);
    /* A new CA numbers its lists on its own: its list 1 is not stale. */
    fx_fed *g = fx_new(s_ids);
    char gpath[512];
    s_path(gpath, sizeof gpath, g, "revoked.crl");
    assert_int_equal(crl_sign(g->ca_keys, g->ca, 1, 4, NULL, 0, &l), ASYLINK_OK);
    assert_int_equal(crl_save(l, gpath), ASYLINK_OK);
    crl_destroy(&l);
    assert_int_equal(trust_reload(g->trust_dir, cur, &next), ASYLINK_OK);
    trust_destroy(&next);
    fx_free(g);
    trust_destroy(&cur);
    fx_free(f);
}

/* Two nodes certified with one key: neither may be trusted. */
static void test_shared_keys_left_out(void **state)
{
    (void)state;
    fx_fed *f = fx_new(s_ids);
    fx_node *de = fx_node_by_id(f, "DE");
    uint64_t now = clock_now_ms();
    cert *twin = fx_issue(f, "XX", CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE), de->keys, now - 1000,
                          now + FX_YEAR_MS);
    char path[512];
    s_path(path, sizeof path, f, "nodes/XX.cert");
    assert_int_equal(cert_save(twin, path, 0), ASYLINK_OK);
    trust *t = NULL;
    assert_int_equal(trust_load(f->trust_dir, &t), ASYLINK_OK);
    assert_null(trust_find(t, "DE"));
    assert_null(trust_find(t, "XX"));
    assert_null(trust_find_by_box_pk(t, de->keys->box_pk));
    assert_int_equal(trust_problem_count(t), 2);
    assert_int_equal(trust_problem_at(t, 0)->code, ASYLINK_E_WRONG_KEY);
    trust_destroy(&t);
    cert_destroy(&twin);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_bad_files_left_out),
        cmocka_unit_test(test_higher_serial_wins),
        cmocka_unit_test(test_revocation),
        cmocka_unit_test(test_forged_crl_and_missing_ca),
        cmocka_unit_test(test_renewal_keeps_old_serial),
        cmocka_unit_test(test_ca_expiry),
        cmocka_unit_test(test_reload_refuses_stale_crl),
        cmocka_unit_test(test_shared_keys_left_out),
        cmocka_unit_test(test_too_large_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
