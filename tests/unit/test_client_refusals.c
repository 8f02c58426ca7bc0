/*
 * test_client_refusals.c — what libasylink says when an application hands
 * it something wrong, as an integrator meets it first (client/client.c,
 * client/recv.c):
 *
 * - asylink_client_open() with a required option NULL returns
 *   ASYLINK_E_INVALID_ARG and logs which option (asylink.h: "the reason is
 *   also logged");
 * - a data_dir whose parent directory does not exist is ASYLINK_E_IO with
 *   the system's reason ("No such file or directory"), not a bare
 *   "input/output error";
 * - a data_dir already held by another client of the same process is
 *   ASYLINK_E_EXISTS, logged as "in use by another client", not as another
 *   user's;
 * - asylink_receipt_export() with a recipient that is not a node id ("fr")
 *   is ASYLINK_E_INVALID_ARG, as asylink.h says, not NOT_FOUND;
 * - a content type or a topic that is not valid is ASYLINK_E_BAD_FIELD with
 *   a line saying what is wrong, as a bad recipient is;
 * - a broker_endpoint that does not parse is explained in one line, not
 *   followed by an emptier "cannot open the client option=-".
 *
 * No broker: the clients open (their I/O threads try a port nothing
 * listens on) and close.
 */
#include "fixture.h"
#include "logcap.h"

#include <errno.h>

typedef struct {
    fx_fed *f;
    char key_file[512], data_dir[512], broker_cert[512], node_cert[512];
    logcap log;
} t_world;

/* DE's options, logging into w. */
static void t_options(t_world *w, asylink_options *o)
{
    asylink_options_init(o);
    o->broker_endpoint = "tcp://127.0.0.1:1"; /* nothing listens: the client just tries */
    o->broker_cert = w->broker_cert;
    o->node_cert = w->node_cert;
    o->key_file = w->key_file;
    o->trust_dir = w->f->trust_dir;
    o->data_dir = w->data_dir;
    o->log = logcap_cb;
    o->log_ctx = &w->log;
}

static int setup(void **state)
{
    t_world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    logcap_init(&w->log);
    const char *ids[] = {"DE", "FR", NULL};
    w->f = fx_new(ids);
    fx_add(w->f, "BROKER.EU", CERT_ROLE_BIT(CERT_ROLE_BROKER));
    fx_write_trust(w->f);
    snprintf(w->key_file, sizeof w->key_file, "%s/DE.key", w->f->dir);
    snprintf(w->data_dir, sizeof w->data_dir, "%s/data", w->f->dir);
    snprintf(w->broker_cert, sizeof w->broker_cert, "%s/nodes/BROKER.EU.cert", w->f->trust_dir);
    snprintf(w->node_cert, sizeof w->node_cert, "%s/nodes/DE.cert", w->f->trust_dir);
    assert_int_equal(keys_save(fx_node_by_id(w->f, "DE")->keys, w->key_file, NULL, NULL, NULL),
                     ASYLINK_OK);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    t_world *w = *state;
    fx_free(w->f);
    logcap_destroy(&w->log);
    free(w);
    return 0;
}

static void test_missing_option_is_logged(void **state)
{
    t_world *w = *state;
    static const char *const names[] = {"broker_endpoint", "broker_cert", "node_cert",
                                        "key_file",        "trust_dir",   "data_dir"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        asylink_options o;
        t_options(w, &o);
        const char **field[] = {&o.broker_endpoint, &o.broker_cert, &o.node_cert,
                                &o.key_file,        &o.trust_dir,   &o.data_dir};
        *field[i] = NULL;
        logcap_clear(&w->log);
        asylink_client *c = (asylink_client *)w; /* must come back NULL */
        assert_int_equal(asylink_client_open(&o, &c), ASYLINK_E_INVALID_ARG);
        assert_null(c);
        char option[64];
        snprintf(option, sizeof option, "option=%s", names[i]);
        if (!logcap_has(&w->log, "code=INVALID_ARG", option))
            fail_msg("no log line names the missing %s; log:\n%s", names[i], w->log.text);
    }
}

static void test_data_dir_parent_missing(void **state)
{
    t_world *w = *state;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/no-such-parent/data", w->f->dir);
    asylink_options o;
    t_options(w, &o);
    o.data_dir = dir;
    asylink_client *c = NULL;
    assert_int_equal(asylink_client_open(&o, &c), ASYLINK_E_IO);
    assert_null(c);
    if (!logcap_has(&w->log, "code=IO option=data_dir", strerror(ENOENT)))
        fail_msg("the data_dir failure does not give the system's reason; log:\n%s", w->log.text);
}

static void test_data_dir_in_use(void **state)
{
    t_world *w = *state;
    asylink_options o;
    t_options(w, &o);
    asylink_client *first = NULL, *second = NULL;
    assert_int_equal(asylink_client_open(&o, &first), ASYLINK_OK);
    assert_string_equal(asylink_client_node_id(first), "DE"); /* from its certificate */
    assert_int_equal(asylink_client_open(&o, &second), ASYLINK_E_EXISTS);
    assert_null(second);
    asylink_client_close(&first);
    if (!logcap_has(&w->log, "code=EXISTS", "in use by another client, in this process or another"))
        fail_msg("EXISTS is not explained; log:\n%s", w->log.text);
    assert_false(logcap_has(&w->log, "another user", NULL));
}

static void test_receipt_export_bad_recipient(void **state)
{
    t_world *w = *state;
    asylink_options o;
    t_options(w, &o);
    asylink_client *c = NULL;
    assert_int_equal(asylink_client_open(&o, &c), ASYLINK_OK);
    static const uint8_t id[16] = {1, 2, 3};
    uint8_t *env = (uint8_t *)w;
    size_t len = 7;
    assert_int_equal(asylink_receipt_export(c, id, "fr", &env, &len), ASYLINK_E_INVALID_ARG);
    assert_null(env);
    assert_int_equal(len, 0);
    assert_int_equal(asylink_receipt_export(c, id, "", &env, &len), ASYLINK_E_INVALID_ARG);
    /* a valid node id without a receipt is NOT_FOUND */
    assert_int_equal(asylink_receipt_export(c, id, "FR", &env, &len), ASYLINK_E_NOT_FOUND);
    asylink_client_close(&c);
}

static void test_bad_endpoint_logged_once(void **state)
{
    t_world *w = *state;
    asylink_options o;
    t_options(w, &o);
    o.broker_endpoint = "http://127.0.0.1:7400";
    asylink_client *c = NULL;
    logcap_clear(&w->log);
    assert_int_equal(asylink_client_open(&o, &c), ASYLINK_E_INVALID_ARG);
    assert_null(c);
    if (!logcap_has(&w->log, "invalid broker_endpoint", "code=INVALID_ARG"))
        fail_msg("the bad endpoint is not explained; log:\n%s", w->log.text);
    if (logcap_has(&w->log, "cannot open the client", NULL))
        fail_msg("a second, emptier line follows the explanation; log:\n%s", w->log.text);
}

static void test_bad_content_type_and_topic_are_logged(void **state)
{
    t_world *w = *state;
    asylink_options o;
    t_options(w, &o);
    asylink_client *c = NULL;
    assert_int_equal(asylink_client_open(&o, &c), ASYLINK_OK);
    const char *to[] = {"FR"};
    asylink_send_params sp;
    asylink_send_params_init(&sp);
    sp.recipients = to;
    sp.n_recipients = 1;
    sp.content_type = "application/json; charset=utf-8"; /* a space: not a content type here */
    uint8_t id[16];
    logcap_clear(&w->log);
    assert_int_equal(asylink_send(c, &sp, "{}", 2, id), ASYLINK_E_BAD_FIELD);
    if (!logcap_has(&w->log, "code=BAD_FIELD", "content type"))
        fail_msg("a bad content type is refused silently; log:\n%s", w->log.text);
    asylink_publish_params pp;
    asylink_publish_params_init(&pp);
    pp.topic = "stats..DE";
    pp.content_type = "asylink.v1.MonthlyStatistics";
    pp.classification = ASYLINK_PUBLIC;
    logcap_clear(&w->log);
    assert_int_equal(asylink_publish(c, &pp, "x", 1, id), ASYLINK_E_BAD_FIELD);
    if (!logcap_has(&w->log, "code=BAD_FIELD", "topic"))
        fail_msg("a bad topic is refused silently; log:\n%s", w->log.text);
    uint64_t pending = 1;
    assert_int_equal(asylink_outbox_pending(c, &pending), ASYLINK_OK);
    assert_int_equal(pending, 0); /* nothing was stored */
    asylink_client_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_option_is_logged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_dir_parent_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_dir_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_export_bad_recipient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_endpoint_logged_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_content_type_and_topic_are_logged, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
