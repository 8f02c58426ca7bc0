/*
 * test_cert.c — certificates, requests and revocation lists: issue, verify,
 * time windows, role rules, tampering, truncation, armor files.
 */
#include "fixture.h"

#include "armor.h"
#include "file.h"

static const char *const s_ids[] = {"DE", "FR", NULL};

static int s_setup(void **state)
{
    *state = fx_new(s_ids);
    return 0;
}

static int s_teardown(void **state)
{
    fx_free(*state);
    return 0;
}

static void test_node_ids(void **state)
{
    (void)state;
    const char *good[] = {"DE", "EUAA", "EUAA.ANALYSIS", "BROKER.EU", "A1", "X_Y-Z.9", NULL};
    const char *bad[] = {"", "D", "de", ".DE", "-DE", "DE FR", "DÉ", "DE/FR", NULL};
    for (size_t i = 0; good[i]; i++)
        assert_true(node_id_valid(good[i]));
    for (size_t i = 0; bad[i]; i++)
        assert_false(node_id_valid(bad[i]));
    char longest[66];
    memset(longest, 'A', 64);
    longest[64] = 0;
    assert_true(node_id_valid(longest));
    longest[64] = 'A';
    longest[65] = 0;
    assert_false(node_id_valid(longest));
    assert_false(node_id_valid(NULL));
}

static void test_roles(void **state)
{
    (void)state;
    uint32_t m = 0;
    char buf[128];
    assert_int_equal(cert_roles_parse("member_state,analyst", &m), ASYLINK_OK);
    assert_int_equal(m, CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE) | CERT_ROLE_BIT(CERT_ROLE_ANALYST));
    assert_string_equal(cert_roles_format(m, buf, sizeof buf), "member_state,analyst");
    assert_int_equal(cert_roles_parse("member_state,king", &m), ASYLINK_E_BAD_FIELD);
    assert_int_equal(cert_roles_parse("", &m), ASYLINK_E_BAD_FIELD);
    assert_null(cert_role_name(0));
    assert_string_equal(cert_role_name(CERT_ROLE_OPERATOR), "operator");
    /* Who may be a LIMITED feed reader: never broker, operator or CA. */
    cert c = {0};
    c.roles = CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE);
    assert_true(cert_may_read_feeds(&c));
    c.roles = CERT_ROLE_BIT(CERT_ROLE_AGENCY) | CERT_ROLE_BIT(CERT_ROLE_ANALYST);
    assert_true(cert_may_read_feeds(&c));
    c.roles = CERT_ROLE_BIT(CERT_ROLE_BROKER);
    assert_false(cert_may_read_feeds(&c));
    c.roles = CERT_ROLE_BIT(CERT_ROLE_ANALYST) | CERT_ROLE_BIT(CERT_ROLE_OPERATOR);
    assert_false(cert_may_read_feeds(&c));
    c.roles = CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE) | CERT_ROLE_BIT(CERT_ROLE_CA);
    assert_false(cert_may_read_feeds(&c));
    c.roles = 0;
    assert_false(cert_may_read_feeds(&c));
    assert_false(cert_may_read_feeds(NULL));
    /* Internal nodes (left out of the queue views): only broker, operator, CA roles. */
    c.roles = CERT_ROLE_BIT(CERT_ROLE_OPERATOR);
    assert_true(cert_is_internal(&c));
    c.roles = CERT_ROLE_BIT(CERT_ROLE_BROKER) | CERT_ROLE_BIT(CERT_ROLE_OPERATOR);
    assert_true(cert_is_internal(&c));
    c.roles = CERT_ROLE_BIT(CERT_ROLE_OPERATOR) | CERT_ROLE_BIT(CERT_ROLE_ANALYST);
    assert_false(cert_is_internal(&c));
    c.roles = CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE);
    assert_false(cert_is_internal(&c));
}

static void test_issue_and_verify(void **state)
{
    fx_fed *f = *state;
    const cert *de = fx_node_by_id(f, "DE")->cert;
    assert_int_equal(cert_verify(de, f->ca), ASYLINK_OK);
    assert_int_equal(cert_verify(f->ca, f->ca), ASYLINK_OK);
    assert_true(cert_has_role(de, CERT_ROLE_MEMBER_STATE));
    assert_false(cert_has_role(de, CERT_ROLE_OPERATOR));
    assert_int_equal(cert_check_time(de, de->not_before_ms), ASYLINK_OK);
    assert_int_equal(cert_check_time(de, de->not_before_ms - 1), ASYLINK_E_CERT_NOT_YET_VALID);
    assert_int_equal(cert_check_time(de, de->not_after_ms), ASYLINK_E_CERT_EXPIRED);
    cert *copy = NULL;
    assert_int_equal(cert_dup(de, &copy), ASYLINK_OK);
    assert_memory_equal(copy->raw, de->raw, de->raw_len);
    assert_string_equal(copy->node_id, "DE");
    cert_destroy(&copy);
    char *d = cert_describe(de);
    assert_non_null(strstr(d, "node_id:      DE"));
    free(d);
}

static void test_other_ca(void **state)
{
    fx_fed *f = *state;
    fx_fed *g = fx_new(s_ids);
    const cert *foreign = fx_node_by_id(g, "DE")->cert;
    assert_int_equal(cert_verify(foreign, f->ca), ASYLINK_E_UNTRUSTED_ISSUER);
    /* Same issuer name but a different CA key: still untrusted. */
    assert_string_equal(g->ca->node_id, f->ca->node_id);
    assert_int_equal(trust_check(f->trust, foreign, clock_now_ms()), ASYLINK_E_UNTRUSTED_ISSUER);
    fx_free(g);
}

static void test_role_rules(void **state)
{
    fx_fed *f = *state;
    keys_secret *k = NULL;
    cert *c = NULL;
    assert_int_equal(keys_generate(&k), ASYLINK_OK);
    uint64_t now = clock_now_ms();
    cert_fields cf = {.serial = 99, .node_id = "ROGUE.CA", .display_name = "x",
                      .roles = CERT_ROLE_BIT(CERT_ROLE_CA), .sign_pk = k->sign_pk,
                      .box_pk = k->box_pk, .not_before_ms = now, .not_after_ms = now + 1000};
    /* The CA may not issue a second CA. */
    assert_int_equal(cert_sign(f->ca_keys, "TEST.CA", &cf, &c), ASYLINK_E_ROLE);
    cf.roles = CERT_ROLE_BIT(CERT_ROLE_CA) | CERT_ROLE_BIT(CERT_ROLE_OPERATOR);
    assert_int_equal(cert_sign(f->ca_keys, "TEST.CA", &cf, &c), ASYLINK_E_ROLE);
    cf.roles = CERT_ROLE_BIT(CERT_ROLE_OPERATOR);
    cf.not_after_ms = now; /* empty window */
    assert_int_equal(cert_sign(f->ca_keys, "TEST.CA", &cf, &c), ASYLINK_E_BAD_FIELD);
    cf.not_after_ms = now + 1000;
    cf.node_id = "bad id";
    assert_int_equal(cert_sign(f->ca_keys, "TEST.CA", &cf, &c), ASYLINK_E_BAD_NODE_ID);
    cf.node_id = "TEST.CA"; /* a node named like its CA */
    assert_int_equal(cert_sign(f->ca_keys, "TEST.CA", &cf, &c), ASYLINK_E_BAD_NODE_ID);
    cf.node_id = "ROGUE.CA";
    cf.display_name = "bad \xc3\x28 utf8";
    assert_int_equal(cert_sign(f->ca_keys, "TEST.CA", &cf, &c), ASYLINK_E_BAD_FIELD);
    cf.display_name = "Ministero dell\xe2\x80\x99Interno"; /* valid UTF-8 */
    assert_int_equal(cert_sign(f->ca_keys, "TEST.CA", &cf, &c), ASYLINK_OK);
    cert_destroy(&c);
    cf.serial = 0;
    assert_int_equal(cert_sign(f->ca_keys, "TEST.CA", &cf, &c), ASYLINK_E_BAD_FIELD);
    assert_null(c);
    keys_destroy(&k);
}

static void test_tampered_cert(void **state)
{
    fx_fed *f = *state;
    const cert *de = fx_node_by_id(f, "DE")->cert;
    uint8_t *raw = malloc(de->raw_len);
    memcpy(raw, de->raw, de->raw_len);
    /* Flip one bit of the display name inside the body. */
    uint8_t *p = memmem(raw, de->raw_len, "DE", 2);
    assert_non_null(p);
    p[1] ^= 0x04; /* "DE" -> "DA": still a valid node id */
    cert *c = NULL;
    assert_int_equal(cert_decode(raw, de->raw_len, &c), ASYLINK_OK);
    assert_int_equal(cert_verify(c, f->ca), ASYLINK_E_BAD_SIGNATURE);
    cert_destroy(&c);
    /* Every truncation fails to decode or to verify. */
    for (size_t n = 0; n < de->raw_len; n++) {
        int rc = cert_decode(de->raw, n, &c);
        if (rc == ASYLINK_OK)
            rc = cert_verify(c, f->ca);
        assert_int_not_equal(rc, ASYLINK_OK);
        cert_destroy(&c);
    }
    assert_int_equal(cert_decode((const uint8_t *)"\x0a\xff", 2, &c), ASYLINK_E_MALFORMED);
    free(raw);
}

static void test_request(void **state)
{
    (void)state;
    keys_secret *k = NULL;
    cert_request *r = NULL, *r2 = NULL;
    assert_int_equal(keys_generate(&k), ASYLINK_OK);
    assert_int_equal(cert_request_create(k, "IT", "Ministero dell'Interno",
                                         CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE), 1000, &r),
                     ASYLINK_OK);
    assert_int_equal(cert_request_decode(r->raw, r->raw_len, &r2), ASYLINK_OK);
    assert_string_equal(r2->node_id, "IT");
    assert_memory_equal(r2->sign_pk, k->sign_pk, 32);
    cert_request_destroy(&r2);
    /* A request whose body was altered fails its proof of possession. */
    uint8_t *raw = malloc(r->raw_len);
    memcpy(raw, r->raw, r->raw_len);
    uint8_t *p = memmem(raw, r->raw_len, "Ministero", 9);
    p[0] ^= 0x20;
    assert_int_equal(cert_request_decode(raw, r->raw_len, &r2), ASYLINK_E_BAD_SIGNATURE);
    free(raw);
    /* Nobody may request the CA role. */
    assert_int_equal(cert_request_create(k, "IT", "x", CERT_ROLE_BIT(CERT_ROLE_CA), 1, &r2),
                     ASYLINK_E_BAD_FIELD);
    assert_int_equal(cert_request_create(k, "it", "x", CERT_ROLE_BIT(CERT_ROLE_ANALYST), 1, &r2),
                     ASYLINK_E_BAD_NODE_ID);
    cert_request_destroy(&r);
    keys_destroy(&k);
}

static void test_crl(void **state)
{
    fx_fed *f = *state;
    crl_entry e[2] = {{.serial = 7, .revoked_ms = 5}, {.serial = 9, .revoked_ms = 6}};
    snprintf(e[0].reason, sizeof e[0].reason, "key compromise");
    crl *l = NULL, *l2 = NULL;
    assert_int_equal(crl_sign(f->ca_keys, f->ca, 3, 1234, e, 2, &l), ASYLINK_OK);
    assert_non_null(crl_find(l, 7));
    assert_string_equal(crl_find(l, 7)->reason, "key compromise");
    assert_null(crl_find(l, 8));
    assert_int_equal(l->number, 3);
    /* Decoding needs the right CA. */
    fx_fed *g = fx_new(NULL);
    assert_int_equal(crl_decode(l->raw, l->raw_len, g->ca, &l2), ASYLINK_E_BAD_SIGNATURE);
    fx_free(g);
    uint8_t *raw = malloc(l->raw_len);
    memcpy(raw, l->raw, l->raw_len);
    raw[l->raw_len - 1] ^= 1;
    assert_int_equal(crl_decode(raw, l->raw_len, f->ca, &l2), ASYLINK_E_BAD_SIGNATURE);
    free(raw);
    /* Empty list. */
    crl_destroy(&l);
    assert_int_equal(crl_sign(f->ca_keys, f->ca, 1, 1, NULL, 0, &l), ASYLINK_OK);
    assert_int_equal(l->n_entries, 0);
    crl_destroy(&l);
}

static void test_files(void **state)
{
    fx_fed *f = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/de.cert", f->dir);
    const cert *de = fx_node_by_id(f, "DE")->cert;
    assert_int_equal(cert_save(de, path, 1), ASYLINK_OK);
    assert_int_equal(cert_save(de, path, 1), ASYLINK_E_EXISTS);
    cert *c = NULL;
    assert_int_equal(cert_load(path, &c), ASYLINK_OK);
    assert_memory_equal(c->raw, de->raw, de->raw_len);
    cert_destroy(&c);
    /* The readable header is informational: editing it changes nothing. */
    uint8_t *text = NULL;
    size_t len = 0;
    assert_int_equal(file_read(path, 0, &text, &len), ASYLINK_OK);
    assert_non_null(strstr((char *)text, "# node_id:      DE"));
    ((char *)strstr((char *)text, "# node_id:      DE"))[16] = 'X';
    assert_int_equal(file_write_atomic(path, text, len, 0644, 0), ASYLINK_OK);
    assert_int_equal(cert_load(path, &c), ASYLINK_OK);
    assert_string_equal(c->node_id, "DE");
    cert_destroy(&c);
    /* A request file is not a certificate. */
    free(text);
    assert_int_equal(file_write_atomic(path, "-----BEGIN ASYLINK CERTIFICATE-----\n!!!\n"
                                             "-----END ASYLINK CERTIFICATE-----\n", 75, 0644, 0),
                     ASYLINK_OK);
    assert_int_equal(cert_load(path, &c), ASYLINK_E_MALFORMED);
    snprintf(path, sizeof path, "%s/none.cert", f->dir);
    assert_int_equal(cert_load(path, &c), ASYLINK_E_NOT_FOUND);
}

static void test_armor(void **state)
{
    (void)state;
    const uint8_t data[100] = {1, 2, 3};
    char *text = NULL;
    uint8_t *back = NULL;
    size_t n = 0;
    assert_int_equal(armor_encode("CERTIFICATE", "line one\nline two", data, sizeof data, &text),
                     ASYLINK_OK);
    assert_non_null(strstr(text, "# line one\n# line two\n-----BEGIN ASYLINK CERTIFICATE-----\n"));
    assert_int_equal(armor_decode("CERTIFICATE", text, strlen(text), 0, &back, &n), ASYLINK_OK);
    assert_int_equal(n, sizeof data);
    assert_memory_equal(back, data, n);
    free(back);
    assert_int_equal(armor_decode("SECRET KEY", text, strlen(text), 0, &back, &n),
                     ASYLINK_E_MALFORMED);
    /* Stray text before BEGIN or after END is refused, not skipped. */
    size_t tl = strlen(text);
    char stray[4096];
    assert_true(tl + 32 <= sizeof stray);
    snprintf(stray, sizeof stray, "junk\n%s", text);
    assert_int_equal(armor_decode("CERTIFICATE", stray, strlen(stray), 0, &back, &n), ASYLINK_E_MALFORMED);
    snprintf(stray, sizeof stray, "%sjunk\n", text);
    assert_int_equal(armor_decode("CERTIFICATE", stray, strlen(stray), 0, &back, &n), ASYLINK_E_MALFORMED);
    snprintf(stray, sizeof stray, "\n%s\n\n", text);
    assert_int_equal(armor_decode("CERTIFICATE", stray, strlen(stray), 0, &back, &n), ASYLINK_OK);
    free(back);
    text[strlen(text) - 10] = 0; /* cut the END line */
    assert_int_equal(armor_decode("CERTIFICATE", text, strlen(text), 0, &back, &n),
                     ASYLINK_E_MALFORMED);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_ids),       cmocka_unit_test(test_roles),
        cmocka_unit_test(test_issue_and_verify), cmocka_unit_test(test_other_ca),
        cmocka_unit_test(test_role_rules),     cmocka_unit_test(test_tampered_cert),
        cmocka_unit_test(test_request),        cmocka_unit_test(test_crl),
        cmocka_unit_test(test_files),          cmocka_unit_test(test_armor),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
