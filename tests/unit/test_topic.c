/*
 * test_topic.c — topic names and the one "under a prefix" rule that the
 * broker store, the policy and the client share (core/topic.h).
 */
#include "fixture.h"

#include "topic.h"

static void test_valid(void **state)
{
    (void)state;
    assert_true(topic_valid("stats"));
    assert_true(topic_valid("stats.monthly.DE"));
    assert_true(topic_valid("a_b-c.9"));
    assert_false(topic_valid(""));
    assert_false(topic_valid(NULL));
    assert_false(topic_valid(".stats"));
    assert_false(topic_valid("stats."));
    assert_false(topic_valid("stats..DE"));
    assert_false(topic_valid("stats monthly"));
    char longest[TOPIC_MAX + 2];
    memset(longest, 'a', TOPIC_MAX);
    longest[TOPIC_MAX] = 0;
    assert_true(topic_valid(longest));
    longest[TOPIC_MAX] = 'a';
    longest[TOPIC_MAX + 1] = 0;
    assert_false(topic_valid(longest));
}

/* Whole labels only. */
static void test_under(void **state)
{
    (void)state;
    assert_true(topic_under("stats", "stats"));
    assert_true(topic_under("stats.monthly.DE", "stats"));
    assert_true(topic_under("stats.monthly.DE", "stats.monthly"));
    assert_true(topic_under("stats.monthly.DE", "stats.monthly.DE"));
    assert_false(topic_under("statsx", "stats"));
    assert_false(topic_under("stats.monthlyx", "stats.monthly"));
    assert_false(topic_under("stats", "stats.monthly"));
    assert_false(topic_under("coi.SY", "stats"));
    assert_false(topic_under("stat", "stats"));
}

/* The empty prefix names no topic: nothing is under it (fails closed). */
static void test_empty_prefix_matches_nothing(void **state)
{
    (void)state;
    assert_false(topic_under("coi.SY", ""));
    assert_false(topic_under("", ""));
    assert_false(topic_under("coi.SY", NULL));
    assert_false(topic_under(NULL, "coi"));
    assert_false(topic_under_n("coi.SY", 6, "coi", 0));
}

/* Lengths, not NULs, bound both sides (feed log values are not NUL-terminated). */
static void test_under_n_lengths(void **state)
{
    (void)state;
    const char topic[] = {'c', 'o', 'i', '.', 'S', 'Y', 'x'}; /* no NUL */
    assert_true(topic_under_n(topic, 6, "coi", 3));
    assert_true(topic_under_n(topic, 3, "coi", 3));
    assert_true(topic_under_n(topic, 6, "coi.SY", 6));
    assert_false(topic_under_n(topic, 7, "coi.SY", 6));         /* "coi.SYx" */
    assert_false(topic_under_n(topic, 2, "coi", 3));            /* shorter than the prefix */
    assert_true(topic_under_n("coi.SYRIA", 6, "coi.SYRIA", 6)); /* only the lengths count */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_under),
        cmocka_unit_test(test_empty_prefix_matches_nothing),
        cmocka_unit_test(test_under_n_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
