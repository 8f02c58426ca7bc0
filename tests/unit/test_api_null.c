/*
 * test_api_null.c — the NULL rule of include/asylink/asylink.h, function by
 * function: a NULL handle (client, message, event) never crashes; functions
 * returning an error code give ASYLINK_E_INVALID_ARG and clear their
 * outputs; accessors give NULL, 0 or -1; free and close functions accept
 * NULL and a pointer to NULL; parameters documented "may be NULL" may be.
 * Required pointer parameters are ASYLINK_NONNULL and are not called with
 * NULL here (tests/unit/api_attributes.sh checks that the compiler catches
 * that). Every function of the header appears below: a new function
 * without a line here is a review finding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "asylink/asylink.h"

#include <string.h>

static const uint8_t s_id[16] = {1, 2, 3};

/* A pointer the functions must overwrite with NULL. */
#define S_DIRTY ((void *)&s_id)

static void test_client_null(void **state)
{
    (void)state;
    asylink_message *m = S_DIRTY;
    asylink_event *e = S_DIRTY;
    uint64_t count = 7;
    size_t n = 7;
    uint8_t id[16];
    uint8_t *env = S_DIRTY;
    size_t env_len = 7;
    asylink_receipt_info info[2];

    assert_int_equal(asylink_recv(NULL, 0, &m), ASYLINK_E_INVALID_ARG);
    assert_null(m);
    assert_int_equal(asylink_next_event(NULL, 0, &e), ASYLINK_E_INVALID_ARG);
    assert_null(e);
    assert_int_equal(asylink_ack(NULL, s_id), ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_ack_many(NULL, &s_id, 1), ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_ack_many(NULL, NULL, 0), ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_ack_message(NULL, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_ack_keys(NULL, NULL, 0), ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_outbox_pending(NULL, &count), ASYLINK_E_INVALID_ARG);
    assert_int_equal(count, 0);
    int sent_state = 7, sent_code = 7;
    assert_int_equal(asylink_sent_state_get(NULL, s_id, &sent_state, &sent_code),
                     ASYLINK_E_INVALID_ARG);
    assert_int_equal(sent_state, 0);
    assert_int_equal(sent_code, ASYLINK_OK);
    sent_state = 7;
    assert_int_equal(asylink_sent_state_get(NULL, s_id, &sent_state, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(sent_state, 0);
    assert_int_equal(asylink_receipts(NULL, s_id, info, 2, &n), ASYLINK_E_INVALID_ARG);
    assert_int_equal(n, 0);
    n = 7;
    assert_int_equal(asylink_receipts(NULL, s_id, NULL, 0, &n), ASYLINK_E_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(asylink_receipt_wait(NULL, s_id, 0), ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_receipt_export(NULL, s_id, "FR", &env, &env_len),
                     ASYLINK_E_INVALID_ARG);
    assert_null(env);
    assert_int_equal(env_len, 0);
    assert_int_equal(asylink_receipt_verify(NULL, s_id, sizeof s_id, NULL, NULL),
                     ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_receipt_verify(NULL, s_id, sizeof s_id, s_id, info),
                     ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_evidence_export(NULL, s_id, "case.zip"), ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_reload_trust(NULL), ASYLINK_E_INVALID_ARG);
    n = 7;
    assert_int_equal(asylink_purge(NULL, s_id, NULL, &n), ASYLINK_E_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(asylink_purge(NULL, s_id, "FR", NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_fd(NULL), -1);
    assert_int_equal(asylink_connected(NULL), 0);
    assert_null(asylink_client_node_id(NULL));
    asylink_connect_failure cf;
    memset(&cf, 0x55, sizeof cf);
    assert_int_equal(asylink_connect_failure_get(NULL, &cf), ASYLINK_E_INVALID_ARG);
    assert_int_equal(cf.code, 0); /* zeroed */
    assert_int_equal(cf.sessions, 0);
    assert_string_equal(cf.reason, "");
    asylink_connection k;
    memset(&k, 0x5a, sizeof k);
    assert_int_equal(asylink_connection_get(NULL, &k), ASYLINK_E_INVALID_ARG);
    assert_int_equal(k.endpoint[0], 0);
    assert_int_equal(k.n_endpoints, 0);
    assert_int_equal(asylink_unsubscribe(NULL, "name", 1), ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_subscribe(NULL, "stats", "name", ASYLINK_START_NEW, 0, 0),
                     ASYLINK_E_INVALID_ARG);

    asylink_send_params sp;
    asylink_send_params_init(&sp);
    const char *to[] = {"FR"};
    sp.recipients = to;
    sp.n_recipients = 1;
    sp.content_type = "text/plain";
    assert_int_equal(asylink_send(NULL, &sp, "x", 1, id), ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_send(NULL, &sp, NULL, 0, NULL), ASYLINK_E_INVALID_ARG);

    asylink_send_item item = {.params = &sp, .payload = "x", .len = 1, .result = 99};
    assert_int_equal(asylink_send_many(NULL, &item, 1), ASYLINK_E_INVALID_ARG);
    assert_int_equal(item.result, ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_send_many(NULL, NULL, 0), ASYLINK_E_INVALID_ARG);

    asylink_publish_params pp;
    asylink_publish_params_init(&pp);
    pp.topic = "stats.monthly.DE";
    pp.content_type = "text/plain";
    assert_int_equal(asylink_publish(NULL, &pp, "x", 1, id), ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_publish(NULL, &pp, NULL, 0, NULL), ASYLINK_E_INVALID_ARG);
    asylink_publish_item pitem = {.params = &pp, .payload = "x", .len = 1, .result = 99};
    assert_int_equal(asylink_publish_many(NULL, &pitem, 1), ASYLINK_E_INVALID_ARG);
    assert_int_equal(pitem.result, ASYLINK_E_INVALID_ARG);
    assert_int_equal(asylink_publish_many(NULL, NULL, 0), ASYLINK_E_INVALID_ARG);
}

static void test_message_null(void **state)
{
    (void)state;
    size_t len = 7;
    assert_null(asylink_message_id(NULL));
    assert_null(asylink_message_sender(NULL));
    assert_int_equal(asylink_message_recipient_count(NULL), 0);
    assert_null(asylink_message_recipient(NULL, 0));
    assert_null(asylink_message_topic(NULL));
    assert_null(asylink_message_subscription(NULL));
    assert_null(asylink_message_content_type(NULL));
    assert_int_equal(asylink_message_classification(NULL), 0);
    assert_int_equal(asylink_message_created_ms(NULL), 0);
    assert_int_equal(asylink_message_expires_ms(NULL), 0);
    assert_null(asylink_message_correlation_id(NULL));
    assert_null(asylink_message_payload(NULL, &len));
    assert_int_equal(len, 0);
    assert_null(asylink_message_payload(NULL, NULL));
}

static void test_event_null(void **state)
{
    (void)state;
    assert_int_equal(asylink_event_get_type(NULL), 0);
    assert_null(asylink_event_message_id(NULL));
    assert_int_equal(asylink_event_code(NULL), 0);
    assert_null(asylink_event_reason(NULL));
    assert_null(asylink_event_node(NULL));
    assert_null(asylink_event_endpoint(NULL));
}

static void test_free_null(void **state)
{
    (void)state;
    asylink_client *c = NULL;
    asylink_message *m = NULL;
    asylink_event *e = NULL;
    asylink_client_close(NULL);
    asylink_client_close(&c);
    asylink_message_free(NULL);
    asylink_message_free(&m);
    asylink_event_free(NULL);
    asylink_event_free(&e);
    asylink_free(NULL);
    assert_null(c);
    assert_null(m);
    assert_null(e);
}

/* The functions without handles: open with missing options, and the static strings. */
static void test_no_handle(void **state)
{
    (void)state;
    asylink_options o;
    asylink_options_init(&o);
    asylink_client *c = S_DIRTY;
    assert_int_equal(asylink_client_open(&o, &c), ASYLINK_E_INVALID_ARG);
    assert_null(c);
    c = S_DIRTY;
    /* A missing file: the log callback may be NULL. */
    assert_int_equal(asylink_client_open_config("/nonexistent/asylink-node.ini", NULL, NULL, &c),
                     ASYLINK_E_CONFIG);
    assert_null(c);
    assert_string_equal(asylink_err_name(ASYLINK_E_INVALID_ARG), "INVALID_ARG");
    assert_non_null(asylink_strerror(-12345));
    assert_string_equal(asylink_version(), ASYLINK_VERSION_STRING);
}

/*
 * Ids and payload JSON (no handle): outputs cleared on error, the
 * parameters documented "may be NULL" may be, an index past the end is NULL.
 */
static void test_ids_and_json(void **state)
{
    (void)state;
    char text[ASYLINK_ID_TEXT_LEN];
    uint8_t id[16] = {0};
    char *json = S_DIRTY;
    uint8_t *bytes = S_DIRTY;
    size_t len = 7;

    assert_string_equal(asylink_id_format(s_id, text), "01020300-0000-0000-0000-000000000000");
    assert_int_equal(asylink_id_parse("", id), ASYLINK_E_BAD_FIELD);
    assert_null(asylink_payload_type_name(asylink_payload_type_count()));
    assert_int_equal(asylink_payload_to_json("asylink.v1.MonthlyStatistics", NULL, 5, 0, &json),
                     ASYLINK_E_INVALID_ARG);
    assert_null(json);
    /* payload may be NULL with len 0: the all-default message. */
    assert_int_equal(asylink_payload_to_json("asylink.v1.MonthlyStatistics", NULL, 0, 0, &json),
                     ASYLINK_OK);
    assert_non_null(json);
    asylink_free(json);
    /* err may be NULL with errlen 0. */
    assert_int_equal(asylink_payload_from_json("asylink.v1.Nothing", "{}", &bytes, &len, NULL, 0),
                     ASYLINK_E_NOT_FOUND);
    assert_null(bytes);
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_null), cmocka_unit_test(test_message_null),
        cmocka_unit_test(test_event_null),  cmocka_unit_test(test_free_null),
        cmocka_unit_test(test_no_handle),   cmocka_unit_test(test_ids_and_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
