/*
 * test_client_certend.c — libasylink tells the node's operators in time
 * that a certificate it relies on ends (client/trustref.c,
 * client_certs_check; core/certend.h): its own (node_cert), its copy of
 * the broker's (broker_cert) within 30 days, the CA's within 90, each a
 * WARN with the days left and what to do, at open and again at a trust
 * reload; nothing when all are far from their end.
 *
 * No broker: the clients open (their I/O threads try a port nothing
 * listens on) and close.
 */
#include "fixture.h"
#include "logcap.h"

#define S_DAY_MS (86400ull * 1000)

typedef struct {
    fx_fed *f;
    char key_file[512], data_dir[512], broker_cert[512], node_cert[512];
    logcap log;
} t_world;

/* A federation of DE and the broker; certificates end at node_end, the CA at ca_end (0: far). */
static t_world *t_world_new(uint64_t node_end, uint64_t ca_end)
{
    t_world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    logcap_init(&w->log);
    testfed_params p = {.not_after_ms = node_end, .ca_not_after_ms = ca_end};
    assert_int_equal(testfed_new(&p, &w->f), ASYLINK_OK);
    fx_add(w->f, "DE", CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE));
    fx_add(w->f, "BROKER.EU", CERT_ROLE_BIT(CERT_ROLE_BROKER));
    fx_write_trust(w->f);
    snprintf(w->key_file, sizeof w->key_file, "%s/DE.key", w->f->dir);
    snprintf(w->data_dir, sizeof w->data_dir, "%s/data", w->f->dir);
    snprintf(w->broker_cert, sizeof w->broker_cert, "%s/nodes/BROKER.EU.cert", w->f->trust_dir);
    snprintf(w->node_cert, sizeof w->node_cert, "%s/nodes/DE.cert", w->f->trust_dir);
    assert_int_equal(keys_save(fx_node_by_id(w->f, "DE")->keys, w->key_file, NULL, NULL, NULL),
                     ASYLINK_OK);
    return w;
}

static void t_world_free(t_world *w)
{
    fx_free(w->f);
    logcap_destroy(&w->log);
    free(w);
}

static asylink_client *t_open(t_world *w)
{
    asylink_options o;
    asylink_options_init(&o);
    o.broker_endpoint = "tcp://127.0.0.1:1"; /* nothing listens: the client just tries */
    o.broker_cert = w->broker_cert;
    o.node_cert = w->node_cert;
    o.key_file = w->key_file;
    o.trust_dir = w->f->trust_dir;
    o.data_dir = w->data_dir;
    o.log = logcap_cb;
    o.log_ctx = &w->log;
    asylink_client *c = NULL;
    assert_int_equal(asylink_client_open(&o, &c), ASYLINK_OK);
    return c;
}

/* The three WARN lines of certificates ending in 10 days and a CA ending in 60. */
static void t_expect_warnings(t_world *w)
{
    if (!logcap_has(&w->log, "warn\t",
                    "msg=\"our own certificate expires soon\" option=node_cert "
                    "node=DE") ||
        !logcap_has(&w->log, "days_left=10 hint=\"have the federation's CA issue", NULL))
        fail_msg("no WARN for the node's own certificate; log:\n%s", w->log.text);
    if (!logcap_has(&w->log, "warn\t",
                    "msg=\"the broker's certificate expires soon\" option=broker_cert "
                    "node=BROKER.EU") ||
        !logcap_has(&w->log, "days_left=10 hint=\"ask the broker's operators", NULL))
        fail_msg("no WARN for the broker's certificate; log:\n%s", w->log.text);
    if (!logcap_has(&w->log, "warn\t",
                    "msg=\"the CA certificate expires soon\" option=trust_dir "
                    "ca=TEST.CA") ||
        !logcap_has(&w->log, "ca=TEST.CA", "days_left=59"))
        fail_msg("no WARN for the CA's certificate; log:\n%s", w->log.text);
}

static void test_ending_certificates_warned(void **state)
{
    (void)state;
    uint64_t now = clock_now_ms();
    t_world *w = t_world_new(now + 10 * S_DAY_MS + 3600000, now + 60 * S_DAY_MS);
    asylink_client *c = t_open(w);
    t_expect_warnings(w); /* at open */
    logcap_clear(&w->log);
    assert_int_equal(asylink_reload_trust(c), ASYLINK_OK);
    t_expect_warnings(w); /* and at a reload */
    asylink_client_close(&c);
    t_world_free(w);
}

static void test_far_certificates_quiet(void **state)
{
    (void)state;
    t_world *w = t_world_new(0, 0); /* a year, ten years */
    asylink_client *c = t_open(w);
    assert_int_equal(asylink_reload_trust(c), ASYLINK_OK);
    asylink_client_close(&c);
    if (logcap_has(&w->log, "expires soon", NULL) || logcap_has(&w->log, "no longer usable", NULL))
        fail_msg("a warning about certificates far from their end; log:\n%s", w->log.text);
    assert_true(logcap_has(&w->log, "trust directory reloaded", NULL)); /* the reload ran */
    t_world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ending_certificates_warned),
        cmocka_unit_test(test_far_certificates_quiet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
