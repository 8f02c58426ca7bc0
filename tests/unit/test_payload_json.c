/*
 * test_payload_json.c — the public JSON conversion of payloads
 * (client/payload_json.c: asylink_payload_*): the same JSON as the
 * command line's converter (core/pbjson.c) for the same bytes, a round
 * trip, the pretty form, errors naming the field's path, only payload
 * types (not the protocol's AdminResponse), buffers from asylink_free()'s
 * allocator.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "pbjson.h"

#define S_STATS "asylink.v1.MonthlyStatistics"

static const char s_stats_json[] =
    "{\"reportingCountry\": \"DE\", \"period\": {\"year\": 2026, \"month\": 10},"
    " \"rows\": [{\"citizenship\": \"SY\", \"applications_total\": 5120,"
    "            \"decisions\": {\"refugee_status\": 1200, \"total\": 4000}},"
    "           {\"citizenship\": \"AF\", \"applications_total\": 3900}],"
    " \"compiled_ms\": \"1793491200000\", \"data_provider\": \"BAMF\"}";

/* Every payload type is listed once, and the protocol's AdminResponse is not. */
static void test_type_list(void **state)
{
    (void)state;
    size_t n = asylink_payload_type_count();
    int found_request = 0, found_receipt = 0;
    assert_true(n >= 10);
    for (size_t i = 0; i < n; i++) {
        const char *name = asylink_payload_type_name(i);
        assert_non_null(name);
        assert_true(pbjson_known_type(name));
        assert_null(strstr(name, "AdminResponse"));
        found_request += strcmp(name, "asylink.v1.InformationRequest") == 0;
        found_receipt += strcmp(name, "asylink.v1.Receipt") == 0;
    }
    assert_int_equal(found_request, 1);
    assert_int_equal(found_receipt, 1);
    assert_null(asylink_payload_type_name(n));
    assert_null(asylink_payload_type_name((size_t)-1));
}

/* JSON -> bytes -> JSON: the command line's converter gives the very same text. */
static void test_round_trip_matches_cli(void **state)
{
    (void)state;
    uint8_t *pb = NULL;
    size_t len = 0;
    char err[256] = "unset";
    assert_int_equal(asylink_payload_from_json(S_STATS, s_stats_json, &pb, &len, err, sizeof err),
                     ASYLINK_OK);
    assert_string_equal(err, "");
    assert_non_null(pb);
    assert_true(len > 20);

    char *json = NULL, *cli = NULL;
    assert_int_equal(asylink_payload_to_json(S_STATS, pb, len, 0, &json), ASYLINK_OK);
    assert_int_equal(pbjson_to_json(S_STATS, pb, len, &cli), ASYLINK_OK);
    assert_string_equal(json, cli);
    /* proto field names on output, whatever the input spelled. */
    assert_non_null(strstr(json, "\"reporting_country\":\"DE\""));
    assert_non_null(strstr(json, "\"compiled_ms\":1793491200000"));
    assert_null(strchr(json, '\n'));

    /* Parsed back it gives the same bytes. */
    uint8_t *again = NULL;
    size_t again_len = 0;
    assert_int_equal(asylink_payload_from_json(S_STATS, json, &again, &again_len, NULL, 0),
                     ASYLINK_OK);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, pb, len);

    char *pretty = NULL;
    assert_int_equal(asylink_payload_to_json(S_STATS, pb, len, ASYLINK_JSON_PRETTY, &pretty),
                     ASYLINK_OK);
    assert_non_null(strstr(pretty, "\n  \"reporting_country\": \"DE\""));
    json_error_t je;
    json_t *a = json_loads(json, 0, &je), *b = json_loads(pretty, 0, &je);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);

    asylink_free(pretty);
    asylink_free(again);
    free(cli);
    asylink_free(json);
    asylink_free(pb);
}

/* An all-default message is zero bytes, and its JSON lists every field at its default. */
static void test_empty_message(void **state)
{
    (void)state;
    uint8_t *pb = NULL;
    size_t len = 99;
    assert_int_equal(asylink_payload_from_json(S_STATS, "{}", &pb, &len, NULL, 0), ASYLINK_OK);
    assert_non_null(pb);
    assert_int_equal(len, 0);
    char *json = NULL;
    assert_int_equal(asylink_payload_to_json(S_STATS, pb, 0, 0, &json), ASYLINK_OK);
    assert_non_null(strstr(json, "\"reporting_country\":\"\""));
    asylink_free(json);
    asylink_free(pb);
}

static void test_errors(void **state)
{
    (void)state;
    uint8_t *pb = (uint8_t *)"dirty";
    size_t len = 5;
    char err[256];

    /* A value of the wrong type deep inside: the path is named. */
    assert_int_equal(asylink_payload_from_json(
                         S_STATS, "{\"rows\": [{}, {\"decisions\": {\"total\": \"many\"}}]}", &pb,
                         &len, err, sizeof err),
                     ASYLINK_E_BAD_FIELD);
    assert_null(pb);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err, "rows[1].decisions.total"));

    assert_int_equal(
        asylink_payload_from_json(S_STATS, "{\"no_such_key\": 1}", &pb, &len, err, sizeof err),
        ASYLINK_E_BAD_FIELD);
    assert_non_null(strstr(err, "no_such_key"));
    assert_int_equal(asylink_payload_from_json(S_STATS, "{\"rows\": [", &pb, &len, err, sizeof err),
                     ASYLINK_E_MALFORMED);
    assert_int_equal(asylink_payload_from_json(S_STATS, "[1, 2]", &pb, &len, err, sizeof err),
                     ASYLINK_E_MALFORMED);
    assert_int_equal(asylink_payload_from_json(S_STATS, "{\"notes\": \"a\", \"notes\": \"b\"}", &pb,
                                               &len, err, sizeof err),
                     ASYLINK_E_MALFORMED);
    /* Not payload types: plain content types and the protocol's own message. */
    assert_int_equal(asylink_payload_from_json("text/plain", "{}", &pb, &len, err, sizeof err),
                     ASYLINK_E_NOT_FOUND);
    assert_true(strlen(err) > 0);
    assert_int_equal(
        asylink_payload_from_json("asylink.v1.AdminResponse", "{}", &pb, &len, err, sizeof err),
        ASYLINK_E_NOT_FOUND);
    /* A short error buffer is cut, still terminated. */
    char tiny[8];
    assert_int_equal(
        asylink_payload_from_json(S_STATS, "{\"no_such_key\": 1}", &pb, &len, tiny, sizeof tiny),
        ASYLINK_E_BAD_FIELD);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);

    char *json = (char *)"dirty";
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(asylink_payload_to_json(S_STATS, junk, sizeof junk, 0, &json),
                     ASYLINK_E_MALFORMED);
    assert_null(json);
    assert_int_equal(asylink_payload_to_json("text/plain", junk, sizeof junk, 0, &json),
                     ASYLINK_E_NOT_FOUND);
    assert_int_equal(asylink_payload_to_json("asylink.v1.AdminResponse", NULL, 0, 0, &json),
                     ASYLINK_E_NOT_FOUND);
    assert_int_equal(asylink_payload_to_json(S_STATS, NULL, 0, 0x80, &json), ASYLINK_E_INVALID_ARG);
    assert_null(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_list),
        cmocka_unit_test(test_round_trip_matches_cli),
        cmocka_unit_test(test_empty_message),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
