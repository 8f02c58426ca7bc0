/*
 * test_pbjson.c — generic JSON <-> protobuf: round trips of realistic
 * payloads (checked against the generated structs too), the accepted input
 * forms, and errors that name the key or field; inputs the fuzz target
 * (tests/fuzz/fuzz_pbjson.c) found mishandled.
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
#include "asylink/v1/asylum.pb-c.h"
#include "asylink/v1/envelope.pb-c.h"
#include "pbjson.h"

static const char s_stats_json[] =
    "{\"reporting_country\": \"DE\","
    " \"period\": {\"year\": 2026, \"month\": 10},"
    " \"rows\": ["
    "  {\"citizenship\": \"SY\", \"applications_total\": 5120, \"first_time_applicants\": 4870,"
    "   \"repeated_applicants\": 250, \"unaccompanied_minors\": 310,"
    "   \"decisions\": {\"refugee_status\": 1200, \"subsidiary_protection\": 2300,"
    "                   \"humanitarian\": 40, \"rejected\": 310, \"other_closed\": 150, \"total\": 4000},"
    "   \"pending_end_of_month\": 41000, \"withdrawn\": 95, \"dublin_requests_incoming\": 12,"
    "   \"dublin_requests_outgoing\": 640, \"suppressed\": []},"
    "  {\"citizenship\": \"AF\", \"applicationsTotal\": 3900, \"firstTimeApplicants\": 3650,"
    "   \"repeatedApplicants\": 250, \"unaccompaniedMinors\": 0,"
    "   \"decisions\": {\"refugeeStatus\": 900, \"total\": 900},"
    "   \"pendingEndOfMonth\": 38000, \"suppressed\": [\"unaccompanied_minors\"]},"
    "  {\"citizenship\": \"STLS\", \"applications_total\": 4, \"suppressed\": [\"first_time_applicants\","
    "   \"repeated_applicants\"]}"
    " ],"
    " \"total\": {\"citizenship\": \"TOTAL\", \"applications_total\": 9024},"
    " \"revision\": true, \"revision_number\": 2,"
    " \"compiled_ms\": \"1793491200000\","
    " \"data_provider\": \"BAMF\", \"notes\": \"Breaks in series: none.\"}";

static const char s_request_json[] =
    "{\"request_id\": \"DE-2026-000123\", \"requesting_state\": \"DE\", \"requested_state\": \"FR\","
    " \"legal_basis\": \"LEGAL_BASIS_DUBLIN_III_ART_34\","
    " \"legal_basis_text\": \"Regulation (EU) 604/2013 Art. 34(2)(g)\","
    " \"applicant_reference\": \"8123456-475\","
    " \"applicant\": {\"family_name\": \"Doe\", \"given_names\": \"Jane\", \"birth_year\": 1990,"
    "                 \"sex\": \"SEX_FEMALE\", \"citizenships\": [\"SY\", \"UNK\"]},"
    " \"questions\": ["
    "  {\"question_id\": \"Q1\", \"topic\": \"QUESTION_TOPIC_PREVIOUS_APPLICATION\","
    "   \"text\": \"Stage and decision of the application lodged in 2024?\"},"
    "  {\"question_id\": \"Q2\", \"topic\": 6, \"text\": \"Relatives in France?\"}],"
    " \"applicant_consent\": true, \"urgent\": false,"
    " \"requested_ms\": 1793491200000, \"reply_deadline_ms\": 1796515200000,"
    " \"contact_unit\": \"Dublin unit, dublin@example.de\"}";

/* JSON text -> bytes -> JSON value. */
static json_t *s_round_trip(const char *type, const char *text, uint8_t **pb, size_t *len)
{
    char err[256];
    int rc = pbjson_from_json(type, text, pb, len, err, sizeof err);
    if (rc != ASYLINK_OK)
        fail_msg("pbjson_from_json: %s", err);
    json_t *v = NULL;
    assert_int_equal(pbjson_decode(type, *pb, *len, &v), ASYLINK_OK);
    return v;
}

static void test_monthly_statistics(void **state)
{
    (void)state;
    uint8_t *pb = NULL;
    size_t len = 0;
    json_t *v = s_round_trip("asylink.v1.MonthlyStatistics", s_stats_json, &pb, &len);

    /* the bytes are the message the generated code reads */
    Asylink__V1__MonthlyStatistics *m =
        asylink__v1__monthly_statistics__unpack(NULL, len, pb);
    assert_non_null(m);
    assert_string_equal(m->reporting_country, "DE");
    assert_int_equal(m->period->year, 2026);
    assert_int_equal(m->period->month, 10);
    assert_int_equal(m->n_rows, 3);
    assert_string_equal(m->rows[0]->citizenship, "SY");
    assert_int_equal(m->rows[0]->decisions->subsidiary_protection, 2300);
    assert_int_equal(m->rows[1]->applications_total, 3900); /* camelCase input */
    assert_int_equal(m->rows[1]->n_suppressed, 1);
    assert_string_equal(m->rows[1]->suppressed[0], "unaccompanied_minors");
    assert_null(m->rows[2]->decisions);
    assert_true(m->revision);
    assert_int_equal(m->compiled_ms, 1793491200000ull); /* from a string */
    asylink__v1__monthly_statistics__free_unpacked(m, NULL);

    /* and back: proto names, every scalar, unset messages left out */
    assert_string_equal(json_string_value(json_object_get(v, "reporting_country")), "DE");
    assert_int_equal(json_integer_value(json_object_get(v, "compiled_ms")), 1793491200000ll);
    json_t *rows = json_object_get(v, "rows");
    assert_int_equal(json_array_size(rows), 3);
    json_t *af = json_array_get(rows, 1);
    assert_int_equal(json_integer_value(json_object_get(af, "pending_end_of_month")), 38000);
    assert_int_equal(json_integer_value(json_object_get(af, "withdrawn")), 0);
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(af, "decisions"), "refugee_status")),
                     900);
    assert_null(json_object_get(json_array_get(rows, 2), "decisions"));
    assert_true(json_is_true(json_object_get(v, "revision")));

    /* JSON -> bytes again gives the same bytes */
    uint8_t *pb2 = NULL;
    size_t len2 = 0;
    assert_int_equal(pbjson_encode("asylink.v1.MonthlyStatistics", v, &pb2, &len2, NULL, 0),
                     ASYLINK_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(pb2, pb, len);
    free(pb2);
    free(pb);
    json_decref(v);
}

static void test_information_request(void **state)
{
    (void)state;
    uint8_t *pb = NULL;
    size_t len = 0;
    json_t *v = s_round_trip("asylink.v1.InformationRequest", s_request_json, &pb, &len);
    Asylink__V1__InformationRequest *r = asylink__v1__information_request__unpack(NULL, len, pb);
    assert_non_null(r);
    assert_int_equal(r->legal_basis, ASYLINK__V1__LEGAL_BASIS__LEGAL_BASIS_DUBLIN_III_ART_34);
    assert_int_equal(r->applicant->sex, ASYLINK__V1__SEX__SEX_FEMALE);
    assert_int_equal(r->applicant->n_citizenships, 2);
    assert_int_equal(r->n_questions, 2);
    assert_int_equal(r->questions[1]->topic, ASYLINK__V1__QUESTION_TOPIC__QUESTION_TOPIC_FAMILY);
    assert_int_equal(r->reply_deadline_ms, 1796515200000ull);
    asylink__v1__information_request__free_unpacked(r, NULL);

    assert_string_equal(json_string_value(json_object_get(v, "legal_basis")),
                        "LEGAL_BASIS_DUBLIN_III_ART_34");
    json_t *q2 = json_array_get(json_object_get(v, "questions"), 1);
    assert_string_equal(json_string_value(json_object_get(q2, "topic")), "QUESTION_TOPIC_FAMILY");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(v, "applicant"), "family_name")), "Doe");
    assert_int_equal(json_array_size(json_object_get(v, "family_members")), 0);

    /* the compact text form */
    char *text = NULL;
    assert_int_equal(pbjson_to_json("asylink.v1.InformationRequest", pb, len, &text), ASYLINK_OK);
    assert_non_null(strstr(text, "\"request_id\":\"DE-2026-000123\""));
    free(text);
    free(pb);
    json_decref(v);
}

static void test_bytes_and_receipt(void **state)
{
    (void)state;
    uint8_t *pb = NULL;
    size_t len = 0;
    /* "AAECAw==" = 00 01 02 03; URL-safe unpadded accepted too */
    json_t *v = s_round_trip("asylink.v1.Attachment",
                             "{\"filename\": \"a.bin\", \"content\": \"AAECAw\"}", &pb, &len);
    assert_string_equal(json_string_value(json_object_get(v, "content")), "AAECAw==");
    free(pb);
    json_decref(v);
    v = s_round_trip("asylink.v1.Receipt",
                     "{\"recipient\": \"FR\", \"sender\": \"DE\", \"acked_ms\": 5,"
                     " \"status\": \"RECEIPT_STATUS_DELIVERED\", \"message_id\": \"AAECAw==\"}",
                     &pb, &len);
    assert_string_equal(json_string_value(json_object_get(v, "status")),
                        "RECEIPT_STATUS_DELIVERED");
    free(pb);
    json_decref(v);
    /* an empty object is a valid all-default message */
    assert_int_equal(pbjson_from_json("asylink.v1.YearMonth", "{}", &pb, &len, NULL, 0),
                     ASYLINK_OK);
    assert_non_null(pb);
    assert_int_equal(len, 0);
    free(pb);
}

/* from_json fails with code, and the message contains want. */
static void s_expect_error(const char *type, const char *text, int code, const char *want)
{
    uint8_t *pb = (uint8_t *)"x";
    size_t len = 7;
    char err[256] = "";
    int rc = pbjson_from_json(type, text, &pb, &len, err, sizeof err);
    if (rc != code || !strstr(err, want))
        fail_msg("%s: got %d '%s', wanted %d containing '%s'", text, rc, err, code, want);
    assert_null(pb);
}

static void test_errors(void **state)
{
    (void)state;
    const char *ms = "asylink.v1.MonthlyStatistics";
    s_expect_error("asylink.v1.Nope", "{}", ASYLINK_E_NOT_FOUND, "asylink.v1.Nope");
    s_expect_error(ms, "{\"reporting_country\": ", ASYLINK_E_MALFORMED, "not valid JSON");
    s_expect_error(ms, "[1, 2]", ASYLINK_E_MALFORMED, "JSON object");
    s_expect_error(ms, "{\"reporting_county\": \"DE\"}", ASYLINK_E_BAD_FIELD,
                   "unknown field 'reporting_county'");
    s_expect_error(ms, "{\"rows\": [{}, {\"citizenship\": \"SY\", \"colour\": 1}]}",
                   ASYLINK_E_BAD_FIELD, "rows[1]: unknown field 'colour'");
    s_expect_error(ms, "{\"reporting_country\": 276}", ASYLINK_E_BAD_FIELD,
                   "reporting_country: expected a string");
    s_expect_error(ms, "{\"period\": {\"year\": \"2026x\"}}", ASYLINK_E_BAD_FIELD, "period.year");
    s_expect_error(ms, "{\"period\": {\"month\": -1}}", ASYLINK_E_BAD_FIELD, "period.month");
    s_expect_error(ms, "{\"period\": {\"month\": 4294967296}}", ASYLINK_E_BAD_FIELD,
                   "period.month: 4294967296 is out of range");
    s_expect_error(ms, "{\"rows\": [{\"decisions\": {\"total\": 1.5}}]}", ASYLINK_E_BAD_FIELD,
                   "rows[0].decisions.total");
    s_expect_error(ms, "{\"rows\": {\"citizenship\": \"SY\"}}", ASYLINK_E_BAD_FIELD,
                   "rows: expected an array");
    s_expect_error(ms, "{\"period\": [2026, 10]}", ASYLINK_E_BAD_FIELD, "period: expected an object");
    s_expect_error(ms, "{\"revision\": \"yes\"}", ASYLINK_E_BAD_FIELD, "revision: expected true");
    s_expect_error(ms, "{\"reporting_country\": \"DE\", \"reportingCountry\": \"FR\"}",
                   ASYLINK_E_BAD_FIELD, "given twice");
    s_expect_error(ms, "{\"rows\": [{\"suppressed\": [\"a\", 3]}]}", ASYLINK_E_BAD_FIELD,
                   "rows[0].suppressed[1]: expected a string");
    s_expect_error("asylink.v1.InformationRequest", "{\"legal_basis\": \"DUBLIN\"}",
                   ASYLINK_E_BAD_FIELD, "legal_basis: 'DUBLIN' is not a value of");
    s_expect_error("asylink.v1.Attachment", "{\"content\": \"***\"}", ASYLINK_E_BAD_FIELD,
                   "content: not valid base64");
    s_expect_error("asylink.v1.InformationRequest", "{\"requested_ms\": \"-5\"}",
                   ASYLINK_E_BAD_FIELD, "requested_ms");
}

static void test_decode_errors(void **state)
{
    (void)state;
    json_t *v = NULL;
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(pbjson_decode("asylink.v1.MonthlyStatistics", junk, sizeof junk, &v),
                     ASYLINK_E_MALFORMED);
    assert_null(v);
    assert_int_equal(pbjson_decode("text/plain", junk, sizeof junk, &v), ASYLINK_E_NOT_FOUND);
    assert_true(pbjson_known_type("asylink.v1.InformationReply"));
    assert_false(pbjson_known_type("asylink.v1.Envelope"));
    assert_true(pbjson_type_count() > 20);
    assert_string_equal(pbjson_type_name(0), "asylink.v1.MonthlyStatistics");
    /* the skeleton expands nested messages, in field order */
    assert_int_equal(pbjson_skeleton("asylink.v1.MonthlyStatistics", &v), ASYLINK_OK);
    json_t *total = json_object_get(v, "total");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "period"), "month")), 0);
    assert_true(json_is_integer(json_object_get(json_object_get(total, "decisions"), "total")));
    assert_string_equal(json_object_iter_key(json_object_iter(v)), "reporting_country");
    json_decref(v);
    v = NULL;
    /* every type round-trips its empty message */
    for (size_t i = 0; i < pbjson_type_count(); i++) {
        char *text = NULL;
        assert_int_equal(pbjson_to_json(pbjson_type_name(i), NULL, 0, &text), ASYLINK_OK);
        uint8_t *pb = NULL;
        size_t len = 0;
        assert_int_equal(pbjson_from_json(pbjson_type_name(i), text, &pb, &len, NULL, 0),
                         ASYLINK_OK);
        assert_int_equal(len, 0);
        free(pb);
        free(text);
    }
}

/*
 * A string field that is not UTF-8 (protobuf-c does not check) makes the
 * payload MALFORMED, as asylink.h says, not NOMEM: at the top level, in a
 * nested repeated message, through the public function too.
 */
static void test_decode_not_utf8(void **state)
{
    (void)state;
    json_t *v = NULL;
    /* MonthlyStatistics.reporting_country (1) = ff fe fd */
    static const uint8_t top[] = {0x0a, 0x03, 0xff, 0xfe, 0xfd};
    assert_int_equal(pbjson_decode("asylink.v1.MonthlyStatistics", top, sizeof top, &v),
                     ASYLINK_E_MALFORMED);
    assert_null(v);
    /* rows (3) = [CitizenshipRow{citizenship (1) = c3 28}]: a broken 2-byte sequence */
    static const uint8_t nested[] = {0x1a, 0x04, 0x0a, 0x02, 0xc3, 0x28};
    assert_int_equal(pbjson_decode("asylink.v1.MonthlyStatistics", nested, sizeof nested, &v),
                     ASYLINK_E_MALFORMED);
    char *text = NULL;
    assert_int_equal(
        asylink_payload_to_json("asylink.v1.MonthlyStatistics", nested, sizeof nested, 0, &text),
        ASYLINK_E_MALFORMED);
    assert_null(text);
    /* the same with valid UTF-8 ("Ä") decodes */
    static const uint8_t good[] = {0x1a, 0x04, 0x0a, 0x02, 0xc3, 0x84};
    assert_int_equal(pbjson_decode("asylink.v1.MonthlyStatistics", good, sizeof good, &v),
                     ASYLINK_OK);
    json_t *row = json_array_get(json_object_get(v, "rows"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "citizenship")), "\xc3\x84");
    json_decref(v);
}

/*
 * Found by fuzz_pbjson: two members of one oneof (AdminResponse.response)
 * were both taken, the second overwriting the first (which leaked); a
 * member failing half-way leaked too. Now refused, naming both.
 */
static void test_oneof_members(void **state)
{
    (void)state;
    const char *ar = "asylink.v1.AdminResponse";
    s_expect_error(ar, "{\"stats\": {}, \"nodes\": {}}", ASYLINK_E_BAD_FIELD,
                   "fields 'stats' and 'nodes' are members of one oneof");
    s_expect_error(ar, "{\"stats\": {}, \"nodes\": {\"bogus\": 1}}", ASYLINK_E_BAD_FIELD,
                   "fields 'stats' and 'nodes' are members of one oneof");
    s_expect_error(ar, "{\"nodes\": {\"bogus\": 1}}", ASYLINK_E_BAD_FIELD,
                   "nodes: unknown field 'bogus'");
    uint8_t *pb = NULL;
    size_t len = 0;
    assert_int_equal(pbjson_from_json(ar, "{\"stats\": {}, \"nodes\": null}", &pb, &len, NULL, 0),
                     ASYLINK_OK); /* null is "not given" */
    json_t *v = NULL;
    assert_int_equal(pbjson_decode(ar, pb, len, &v), ASYLINK_OK);
    assert_non_null(json_object_get(v, "stats"));
    assert_null(json_object_get(v, "nodes"));
    json_decref(v);
    free(pb);
}

/*
 * A real above 2^63 for an unsigned field was converted to int64_t first:
 * undefined behaviour, which clang's sanitizer in fuzz_pbjson reported
 * (tests/fuzz/regressions/pbjson/ub-uint-from-real-above-int64 fails
 * without the fix; gcc's -fsanitize=undefined does not check float
 * conversions, so here only the results are checked).
 */
static void test_large_reals(void **state)
{
    (void)state;
    s_expect_error("asylink.v1.YearMonth", "{\"year\": 1e19}", ASYLINK_E_BAD_FIELD,
                   "year: 10000000000000000000 is out of range");
    uint8_t *pb = NULL;
    size_t len = 0;
    assert_int_equal(pbjson_from_json("asylink.v1.InformationRequest", "{\"requested_ms\": 1.8e19}",
                                      &pb, &len, NULL, 0),
                     ASYLINK_OK);
    json_t *v = NULL;
    assert_int_equal(pbjson_decode("asylink.v1.InformationRequest", pb, len, &v), ASYLINK_OK);
    assert_string_equal(json_string_value(json_object_get(v, "requested_ms")),
                        "18000000000000000000");
    json_decref(v);
    free(pb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monthly_statistics), cmocka_unit_test(test_information_request),
        cmocka_unit_test(test_bytes_and_receipt),  cmocka_unit_test(test_errors),
        cmocka_unit_test(test_decode_errors),      cmocka_unit_test(test_decode_not_utf8),
        cmocka_unit_test(test_oneof_members),      cmocka_unit_test(test_large_reals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
