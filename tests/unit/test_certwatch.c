/*
 * test_certwatch.c — the broker tells its operators before its own
 * certificate or the CA's runs out: the states certwatch judges, and what
 * certwatch_run() logs when (once at start, again a day later or after a
 * reload, never in between).
 */
#include "fixture.h"

#include "certend.h"
#include "certwatch.h"
#include "log.h"

#define S_DAY_MS (86400ull * 1000)

/* The lines the capturing sink saw. */
typedef struct {
    char lines[8][LOG_LINE_MAX + 1];
    log_level levels[8];
    int n;
} s_capture;

static void s_sink(void *ctx, log_level lvl, const char *line)
{
    s_capture *c = ctx;
    if (c->n < 8) {
        snprintf(c->lines[c->n], sizeof c->lines[c->n], "%s", line);
        c->levels[c->n] = lvl;
    }
    c->n++;
}

/* A federation whose CA ends at ca_end (0: ten years) and a broker certificate [nb, na). */
static fx_fed *s_fed(uint64_t ca_end, uint64_t nb, uint64_t na, cert **own)
{
    testfed_params p = {.ca_not_after_ms = ca_end};
    fx_fed *f = NULL;
    assert_int_equal(testfed_new(&p, &f), ASYLINK_OK);
    fx_node *b = fx_add(f, "BROKER.EU", CERT_ROLE_BIT(CERT_ROLE_BROKER));
    fx_write_trust(f);
    *own = fx_issue(f, "BROKER.EU", CERT_ROLE_BIT(CERT_ROLE_BROKER), b->keys, nb, na);
    return f;
}

static void test_own_states(void **state)
{
    (void)state;
    uint64_t now = clock_now_ms();
    cert *own = NULL;
    fx_fed *f = s_fed(0, now - S_DAY_MS, now + 60 * S_DAY_MS, &own);
    int code = -1;
    assert_int_equal(certend_cert(f->trust, own, now, &code), CERTEND_OK);
    assert_int_equal(code, ASYLINK_OK);
    /* 30 days before its end the WARN starts; at its end it is unusable */
    assert_int_equal(certend_cert(f->trust, own, now + 29 * S_DAY_MS, &code), CERTEND_OK);
    assert_int_equal(certend_cert(f->trust, own, now + 30 * S_DAY_MS, &code), CERTEND_ENDING);
    assert_int_equal(certend_cert(f->trust, own, now + 60 * S_DAY_MS - 1, &code), CERTEND_ENDING);
    assert_int_equal(certend_cert(f->trust, own, now + 60 * S_DAY_MS, &code), CERTEND_UNUSABLE);
    assert_int_equal(code, ASYLINK_E_CERT_EXPIRED);

    /* issued by another CA (the trust directory now names a new one) */
    cert *stranger = NULL;
    fx_fed *g = s_fed(0, now - S_DAY_MS, now + 60 * S_DAY_MS, &stranger);
    assert_int_equal(certend_cert(g->trust, own, now, &code), CERTEND_UNUSABLE);
    assert_int_equal(code, ASYLINK_E_UNTRUSTED_ISSUER);
    cert_destroy(&stranger);
    fx_free(g);
    cert_destroy(&own);
    fx_free(f);
}

static void test_ca_states(void **state)
{
    (void)state;
    uint64_t now = clock_now_ms();
    cert *own = NULL;
    fx_fed *f = s_fed(now + 120 * S_DAY_MS, now - S_DAY_MS, now + 40 * S_DAY_MS, &own);
    /* 90 days before the CA's end: a new CA needs new certificates everywhere */
    assert_int_equal(certend_ca(f->trust, now), CERTEND_OK);
    assert_int_equal(certend_ca(f->trust, now + 29 * S_DAY_MS), CERTEND_OK);
    assert_int_equal(certend_ca(f->trust, now + 31 * S_DAY_MS), CERTEND_ENDING);
    assert_int_equal(certend_ca(f->trust, now + 120 * S_DAY_MS), CERTEND_UNUSABLE);
    cert_destroy(&own);
    fx_free(f);
}

static void test_run_logs_once_a_day(void **state)
{
    (void)state;
    uint64_t now = clock_now_ms();
    cert *own = NULL;
    fx_fed *f = s_fed(0, now - S_DAY_MS, now + 10 * S_DAY_MS + 3600000, &own);
    s_capture cap = {0};
    log_set_sink(s_sink, &cap);
    certwatch w = {0};
    certwatch_run(&w, f->trust, own, now);
    assert_int_equal(cap.n, 1); /* the CA has ten years: only the broker's */
    assert_int_equal(cap.levels[0], LOG_LEVEL_WARN);
    assert_non_null(strstr(cap.lines[0], "the broker's certificate expires soon"));
    assert_non_null(strstr(cap.lines[0], "node=BROKER.EU"));
    assert_non_null(strstr(cap.lines[0], "days_left=10 "));
    certwatch_run(&w, f->trust, own, now + 1000);
    certwatch_run(&w, f->trust, own, now + S_DAY_MS - 1);
    assert_int_equal(cap.n, 1); /* not again within the day */
    certwatch_run(&w, f->trust, own, now + S_DAY_MS);
    assert_int_equal(cap.n, 2);
    assert_non_null(strstr(cap.lines[1], "days_left=9 "));
    certwatch_reset(&w); /* a trust reload: at once */
    certwatch_run(&w, f->trust, own, now + S_DAY_MS + 1000);
    assert_int_equal(cap.n, 3);
    /* ended: an ERROR naming the code */
    certwatch_run(&w, f->trust, own, now + 12 * S_DAY_MS);
    assert_int_equal(cap.n, 4);
    assert_int_equal(cap.levels[3], LOG_LEVEL_ERROR);
    assert_non_null(strstr(cap.lines[3], "the broker's certificate is no longer usable"));
    assert_non_null(strstr(cap.lines[3], "code=CERT_EXPIRED"));
    log_set_sink(NULL, NULL);
    cert_destroy(&own);
    fx_free(f);
}

static void test_run_quiet_when_far(void **state)
{
    (void)state;
    uint64_t now = clock_now_ms();
    cert *own = NULL;
    fx_fed *f = s_fed(0, now - S_DAY_MS, now + 60 * S_DAY_MS, &own);
    s_capture cap = {0};
    log_set_sink(s_sink, &cap);
    certwatch w = {0};
    certwatch_run(&w, f->trust, own, now); /* 60 days and ten years left: nothing to say */
    assert_int_equal(cap.n, 0);
    cert_destroy(&own);
    fx_free(f);

    f = s_fed(now + 20 * S_DAY_MS, now - S_DAY_MS, now + 15 * S_DAY_MS, &own);
    certwatch_reset(&w);
    certwatch_run(&w, f->trust, NULL, now); /* no own certificate: the CA alone */
    assert_int_equal(cap.n, 1);
    assert_int_equal(cap.levels[0], LOG_LEVEL_WARN);
    assert_non_null(strstr(cap.lines[0], "the CA certificate expires soon"));
    assert_non_null(strstr(cap.lines[0], "days_left=20 "));
    certwatch_reset(&w);
    certwatch_run(&w, f->trust, NULL, now + 20 * S_DAY_MS);
    assert_int_equal(cap.n, 2);
    assert_int_equal(cap.levels[1], LOG_LEVEL_ERROR);
    assert_non_null(strstr(cap.lines[1], "the CA certificate has expired"));
    log_set_sink(NULL, NULL);
    cert_destroy(&own);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_states),
        cmocka_unit_test(test_ca_states),
        cmocka_unit_test(test_run_logs_once_a_day),
        cmocka_unit_test(test_run_quiet_when_far),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
