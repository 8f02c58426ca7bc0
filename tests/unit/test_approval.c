/*
 * test_approval.c — the four-eyes table (broker/approval.h): holding
 * copies of requests (their ids too), ids that never repeat, lapsing after
 * the confirmation period, EXPIRED for a while and then NOT_FOUND, taking
 * a request out, the APPROVAL_MAX bound, hostile arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "approval.h"
#include "asylink/errors.h"

#include <stdio.h>
#include <string.h>

#define WITHIN 60000 /* confirmation period in the tests, ms */

static approval *t_new(void)
{
    approval *a = NULL;
    assert_int_equal(approval_new(WITHIN, &a), ASYLINK_OK);
    assert_non_null(a);
    assert_int_equal(approval_within_ms(a), WITHIN);
    return a;
}

static void test_hold_take(void **state)
{
    (void)state;
    approval *a = t_new();
    uint64_t ids[3] = {7, 8, 9};
    wire_admin_request q = {.op = WIRE_ADMIN_DEAD_LETTER_DROP, .ids = ids, .n_ids = 3};
    snprintf(q.node_id, sizeof q.node_id, "FR");
    const approval_item *it = NULL;
    assert_int_equal(approval_hold(a, &q, "OPS", 42, 1000, "drop dead letters 7, 8, 9 of FR", &it),
                     ASYLINK_OK);
    assert_int_equal(it->id, 1);
    assert_string_equal(it->op_node, "OPS");
    assert_int_equal(it->op_serial, 42);
    assert_int_equal(it->created_ms, 1000);
    assert_int_equal(it->expires_ms, 1000 + WITHIN);
    assert_string_equal(it->summary, "drop dead letters 7, 8, 9 of FR");
    assert_ptr_not_equal(it->req.ids, ids); /* a copy */
    ids[0] = 99;
    assert_int_equal(it->req.ids[0], 7);

    wire_admin_request p = {.op = WIRE_ADMIN_PURGE};
    assert_int_equal(approval_hold(a, &p, "OPS2", 5, 2000, "purge", &it), ASYLINK_OK);
    assert_int_equal(it->id, 2);
    assert_int_equal(approval_count(a, 2000), 2);
    assert_int_equal(approval_at(a, 0, 2000)->id, 1); /* oldest first */
    assert_int_equal(approval_at(a, 1, 2000)->id, 2);
    assert_null(approval_at(a, 2, 2000));

    assert_int_equal(approval_get(a, 1, 3000, &it), ASYLINK_OK);
    assert_int_equal(it->req.op, WIRE_ADMIN_DEAD_LETTER_DROP);
    approval_item got;
    assert_int_equal(approval_take(a, 1, &got), ASYLINK_OK);
    assert_int_equal(got.id, 1);
    assert_int_equal(got.req.n_ids, 3);
    assert_int_equal(got.req.ids[2], 9);
    approval_item_clear(&got);
    assert_null(got.req.ids);
    assert_int_equal(approval_take(a, 1, &got), ASYLINK_E_NOT_FOUND);
    assert_int_equal(approval_get(a, 1, 3000, &it), ASYLINK_E_NOT_FOUND);
    assert_null(it);
    assert_int_equal(approval_count(a, 3000), 1);

    /* a new one never reuses an id */
    assert_int_equal(approval_hold(a, &p, "OPS", 1, 4000, "purge", &it), ASYLINK_OK);
    assert_int_equal(it->id, 3);
    approval_destroy(&a);
    assert_null(a);
    approval_destroy(&a);
    approval_destroy(NULL);
}

static void test_lapse(void **state)
{
    (void)state;
    approval *a = t_new();
    wire_admin_request q = {.op = WIRE_ADMIN_PURGE};
    const approval_item *it = NULL;
    assert_int_equal(approval_hold(a, &q, "OPS", 1, 1000, "purge", &it), ASYLINK_OK);
    uint64_t at = 1000 + WITHIN;
    assert_int_equal(approval_get(a, 1, at - 1, &it), ASYLINK_OK);
    assert_int_equal(approval_count(a, at - 1), 1);
    /* lapsed: no longer listed, EXPIRED for one more period, then forgotten */
    assert_int_equal(approval_count(a, at), 0);
    assert_null(approval_at(a, 0, at));
    assert_int_equal(approval_get(a, 1, at, &it), ASYLINK_E_EXPIRED);
    assert_non_null(it);
    assert_int_equal(it->id, 1);
    assert_int_equal(approval_get(a, 1, at + WITHIN - 1, &it), ASYLINK_E_EXPIRED);
    assert_int_equal(approval_get(a, 1, at + WITHIN, &it), ASYLINK_E_NOT_FOUND);
    approval_destroy(&a);
}

static void test_bounds(void **state)
{
    (void)state;
    approval *a = t_new();
    wire_admin_request q = {.op = WIRE_ADMIN_PURGE};
    const approval_item *it = NULL;
    char long_summary[APPROVAL_SUMMARY_MAX + 40];
    memset(long_summary, 'x', sizeof long_summary - 4);
    memcpy(long_summary + APPROVAL_SUMMARY_MAX - 1, "\xc3\xa9", 2); /* é across the cut */
    long_summary[sizeof long_summary - 4] = 0;
    assert_int_equal(approval_hold(a, &q, "OPS", 1, 0, long_summary, &it), ASYLINK_OK);
    assert_int_equal(strlen(it->summary), APPROVAL_SUMMARY_MAX - 1); /* cut before the é */
    for (int i = 1; i < APPROVAL_MAX; i++)
        assert_int_equal(approval_hold(a, &q, "OPS", 1, 0, "purge", &it), ASYLINK_OK);
    assert_int_equal(approval_hold(a, &q, "OPS", 1, 0, "purge", &it), ASYLINK_E_UNAVAILABLE);
    assert_null(it);
    /* lapsed just now (kept a while to answer EXPIRED, not listed): one makes room, so the
       "already wait" refusal never names requests pending list does not show */
    assert_int_equal(approval_count(a, WITHIN), 0);
    assert_int_equal(approval_hold(a, &q, "OPS", 1, WITHIN, "purge", &it), ASYLINK_OK);
    assert_int_equal(approval_count(a, WITHIN), 1);
    for (int i = 1; i < APPROVAL_MAX; i++)
        assert_int_equal(approval_hold(a, &q, "OPS", 1, WITHIN, "purge", &it), ASYLINK_OK);
    assert_int_equal(approval_count(a, WITHIN), APPROVAL_MAX);
    assert_int_equal(approval_hold(a, &q, "OPS", 1, WITHIN, "purge", &it), ASYLINK_E_UNAVAILABLE);
    /* lapsed long ago: they make room */
    assert_int_equal(approval_hold(a, &q, "OPS", 1, 3 * WITHIN, "purge", &it), ASYLINK_OK);
    assert_int_equal(approval_count(a, 3 * WITHIN), 1);

    uint64_t none[1] = {0};
    wire_admin_request bad = {.op = WIRE_ADMIN_DEAD_LETTER_DROP, .ids = NULL, .n_ids = 1};
    assert_int_equal(approval_hold(a, &bad, "OPS", 1, 0, "x", &it), ASYLINK_E_INVALID_ARG);
    bad.ids = none;
    assert_int_equal(approval_hold(NULL, &bad, "OPS", 1, 0, "x", &it), ASYLINK_E_INVALID_ARG);
    assert_int_equal(approval_hold(a, NULL, "OPS", 1, 0, "x", &it), ASYLINK_E_INVALID_ARG);
    assert_int_equal(approval_hold(a, &bad, NULL, 1, 0, "x", &it), ASYLINK_E_INVALID_ARG);
    assert_int_equal(approval_get(NULL, 1, 0, &it), ASYLINK_E_INVALID_ARG);
    assert_int_equal(approval_take(NULL, 1, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(approval_count(NULL, 0), 0);
    assert_null(approval_at(NULL, 0, 0));
    approval *b = NULL;
    assert_int_equal(approval_new(0, &b), ASYLINK_E_INVALID_ARG);
    assert_null(b);
    assert_int_equal(approval_new(1, NULL), ASYLINK_E_INVALID_ARG);
    approval_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hold_take),
        cmocka_unit_test(test_lapse),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
