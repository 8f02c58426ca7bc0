/*
 * test_policy.c — the broker's access policy: the allow/deny matrix of the
 * example federation's policy (certs-example/policy.ini), longest-prefix
 * and whole-label topic matching, the safe subscription rule, PERSONAL on
 * feeds, retention caps, and load errors that name file, line and key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "policy.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asylink/asylink.h"
#include "cert.h"
#include "envelope.h"

#define MS CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE)
#define AG CERT_ROLE_BIT(CERT_ROLE_AGENCY)
#define AN CERT_ROLE_BIT(CERT_ROLE_ANALYST)
#define OP CERT_ROLE_BIT(CERT_ROLE_OPERATOR)
#define BR CERT_ROLE_BIT(CERT_ROLE_BROKER)
#define CA CERT_ROLE_BIT(CERT_ROLE_CA)

#define DAY_MS (24ull * 3600 * 1000)

/* Temporary directory of this test run. */
static char s_tmp[PATH_MAX];

/* Path of the file written by s_write (s_tmp/policy.ini). */
static char s_path[PATH_MAX + 32];

/* Last error text of s_load_text. */
static char s_err[512];

static int s_group_setup(void **state)
{
    char tmpl[] = "/tmp/asylink-test-policy-XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, s_tmp))
        return -1;
    snprintf(s_path, sizeof s_path, "%s/policy.ini", s_tmp);
    return 0;
}

static int s_group_teardown(void **state)
{
    unlink(s_path);
    rmdir(s_tmp);
    return 0;
}

/* Writes text to s_path and loads it; returns policy_load's code. */
static int s_load_text(const char *text, policy **out)
{
    FILE *f = fopen(s_path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    s_err[0] = '\0';
    return policy_load(s_path, out, s_err, sizeof s_err);
}

/* Loads text that must fail with ASYLINK_E_CONFIG at line; err must contain want. */
static void s_expect_error(const char *text, unsigned line, const char *want)
{
    policy *p = NULL;
    char where[PATH_MAX + 64];
    assert_int_equal(s_load_text(text, &p), ASYLINK_E_CONFIG);
    assert_null(p);
    if (line)
        snprintf(where, sizeof where, "%s:%u: ", s_path, line);
    else
        snprintf(where, sizeof where, "%s: ", s_path);
    if (strncmp(s_err, where, strlen(where)) != 0 || !strstr(s_err, want))
        fail_msg("error \"%s\" does not start with \"%s\" or lacks \"%s\"", s_err, where, want);
}

/* policy_check_publish() in a federation whose node ids do not nest. */
static int s_publish(const policy *p, uint32_t roles, const char *sender, const char *topic,
                     int classification)
{
    return policy_check_publish(p, roles, sender, topic, classification, NULL, NULL);
}

/* The node ids of a federation with nested ones, for policy_node_known_fn. */
static bool s_known(void *ctx, const char *node_id)
{
    (void)ctx;
    static const char *const ids[] = {"DE", "DE.BAMF", "EUAA", "EUAA.ANALYSIS", "FR"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (strcmp(ids[i], node_id) == 0)
            return true;
    return false;
}

/* Loads certs-example/policy.ini. */
static policy *s_example(void)
{
    policy *p = NULL;
    char err[512] = "";
    int rc = policy_load(ASYLINK_SOURCE_DIR "/certs-example/policy.ini", &p, err, sizeof err);
    if (rc != ASYLINK_OK)
        fail_msg("example policy: %s", err);
    return p;
}

/* ------------------------------------------------------------ matrices -- */

static void test_example_direct(void **state)
{
    policy *p = s_example();
    const uint32_t senders[] = {MS, AG};
    const uint32_t recipients[] = {MS, AG};
    for (int c = ENVELOPE_PUBLIC; c <= ENVELOPE_PERSONAL; c++) {
        for (size_t i = 0; i < 2; i++)
            for (size_t j = 0; j < 2; j++)
                assert_int_equal(policy_check_direct(p, senders[i], recipients[j], c),
                                 ASYLINK_OK);
        /* Nobody sends to analysts, operators or the broker directly. */
        for (size_t i = 0; i < 2; i++) {
            assert_int_equal(policy_check_direct(p, senders[i], AN, c), ASYLINK_E_POLICY);
            assert_int_equal(policy_check_direct(p, senders[i], OP, c), ASYLINK_E_POLICY);
            assert_int_equal(policy_check_direct(p, senders[i], BR, c), ASYLINK_E_POLICY);
            assert_int_equal(policy_check_direct(p, senders[i], CA, c), ASYLINK_E_POLICY);
            assert_int_equal(policy_check_direct(p, senders[i], 0, c), ASYLINK_E_POLICY);
        }
        /* Analysts, operators, the broker and the CA send nothing. */
        const uint32_t mute[] = {AN, OP, BR, CA, 0};
        for (size_t i = 0; i < 5; i++) {
            assert_int_equal(policy_check_direct(p, mute[i], MS, c), ASYLINK_E_POLICY);
            assert_int_equal(policy_check_direct(p, mute[i], AG, c), ASYLINK_E_POLICY);
        }
    }
    /* Unknown classifications are refused. */
    assert_int_equal(policy_check_direct(p, MS, MS, 0), ASYLINK_E_POLICY);
    assert_int_equal(policy_check_direct(p, MS, MS, 4), ASYLINK_E_POLICY);
    assert_int_equal(policy_check_direct(p, MS, MS, -1), ASYLINK_E_POLICY);
    /* ANY role: a node with an extra role is allowed by the role that is. */
    assert_int_equal(policy_check_direct(p, AN | MS, MS, ENVELOPE_PERSONAL), ASYLINK_OK);
    assert_int_equal(policy_check_direct(p, MS, AN | AG, ENVELOPE_PERSONAL), ASYLINK_OK);
    assert_int_equal(policy_check_direct(p, AN | OP, MS | AG, ENVELOPE_PUBLIC),
                     ASYLINK_E_POLICY);
    assert_int_equal(policy_check_direct(NULL, MS, MS, ENVELOPE_PUBLIC), ASYLINK_E_POLICY);
    policy_destroy(&p);
    assert_null(p);
    policy_destroy(&p);
    policy_destroy(NULL);
}

static void test_example_publish(void **state)
{
    policy *p = s_example();
    const int classes[] = {ENVELOPE_PUBLIC, ENVELOPE_LIMITED};
    for (size_t i = 0; i < 2; i++) {
        int c = classes[i];
        assert_int_equal(s_publish(p, MS, "DE", "stats.monthly", c), ASYLINK_E_POLICY);
        assert_int_equal(s_publish(p, MS, "DE", "stats.monthly.DE", c), ASYLINK_OK);
        assert_int_equal(s_publish(p, MS, "FR", "stats.monthly.FR", c), ASYLINK_OK);
        /* A Member State publishes its own figures only ({sender} in the example). */
        assert_int_equal(s_publish(p, MS, "DE", "stats.monthly.FR", c), ASYLINK_E_POLICY);
        assert_int_equal(s_publish(p, AG, "EUAA", "stats.monthly.FR", c), ASYLINK_OK);
        assert_int_equal(s_publish(p, AG, "EUAA", "stats.monthly.EU", c), ASYLINK_OK);
        assert_int_equal(s_publish(p, AG, "EUAA", "coi.SY", c), ASYLINK_OK);
        assert_int_equal(s_publish(p, AG, "EUAA", "coi", c), ASYLINK_OK);
        assert_int_equal(s_publish(p, AG, "EUAA", "analysis.trends", c), ASYLINK_OK);
        /* Member states publish statistics only, and only monthly ones. */
        assert_int_equal(s_publish(p, MS, "DE", "coi.SY", c), ASYLINK_E_POLICY);
        assert_int_equal(s_publish(p, MS, "DE", "analysis.trends", c), ASYLINK_E_POLICY);
        assert_int_equal(s_publish(p, MS, "DE", "stats", c), ASYLINK_E_POLICY);
        assert_int_equal(s_publish(p, MS, "DE", "stats.weekly.DE", c), ASYLINK_E_POLICY);
        /* Whole labels only. */
        assert_int_equal(s_publish(p, MS, "DE", "stats.monthlyx", c), ASYLINK_E_POLICY);
        assert_int_equal(s_publish(p, AG, "EUAA", "coix.SY", c), ASYLINK_E_POLICY);
        assert_int_equal(s_publish(p, AG, "EUAA", "co", c), ASYLINK_E_POLICY);
        /* Topics no rule covers, and roles that publish nothing. */
        assert_int_equal(s_publish(p, MS | AG, "DE", "relocation.pledges", c), ASYLINK_E_POLICY);
        const uint32_t mute[] = {AN, OP, BR, CA, 0};
        for (size_t j = 0; j < 5; j++) {
            assert_int_equal(s_publish(p, mute[j], "OPS", "stats.monthly.DE", c), ASYLINK_E_POLICY);
            assert_int_equal(s_publish(p, mute[j], "OPS", "coi.SY", c), ASYLINK_E_POLICY);
        }
    }
    /* Feeds never carry PERSONAL data, whoever publishes. */
    assert_int_equal(s_publish(p, AG, "EUAA", "coi.SY", ENVELOPE_PERSONAL), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, MS | AG, "DE", "stats.monthly.DE", ENVELOPE_PERSONAL),
                     ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, AG, "EUAA", "coi.SY", 0), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, AG, "EUAA", "coi.SY", 4), ASYLINK_E_POLICY);
    /* Invalid topics. */
    const char *bad[] = {"", ".coi", "coi.", "coi..SY", "coi SY", "coi/SY", "coi.*", NULL};
    for (size_t i = 0; bad[i]; i++)
        assert_int_equal(s_publish(p, AG, "EUAA", bad[i], ENVELOPE_PUBLIC), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, AG, "EUAA", NULL, ENVELOPE_PUBLIC), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(NULL, AG, "EUAA", "coi", ENVELOPE_PUBLIC), ASYLINK_E_POLICY);
    policy_destroy(&p);
}

static void test_example_subscribe_and_read(void **state)
{
    policy *p = s_example();
    const uint32_t readers[] = {MS, AG, AN};
    const char *prefixes[] = {"stats", "stats.monthly", "stats.monthly.DE", "coi", "coi.SY",
                              "analysis", "analysis.trends", NULL};
    for (size_t r = 0; r < 3; r++) {
        for (size_t i = 0; prefixes[i]; i++) {
            assert_int_equal(policy_check_subscribe(p, readers[r], prefixes[i]), ASYLINK_OK);
            assert_true(policy_may_read(p, readers[r], prefixes[i]));
        }
        assert_int_equal(policy_check_subscribe(p, readers[r], "statsx"), ASYLINK_E_POLICY);
        assert_int_equal(policy_check_subscribe(p, readers[r], "relocation"), ASYLINK_E_POLICY);
        assert_int_equal(policy_check_subscribe(p, readers[r], ""), ASYLINK_E_POLICY);
        assert_int_equal(policy_check_subscribe(p, readers[r], "stats."), ASYLINK_E_POLICY);
        assert_int_equal(policy_check_subscribe(p, readers[r], NULL), ASYLINK_E_POLICY);
        assert_false(policy_may_read(p, readers[r], "statsx.monthly"));
        assert_false(policy_may_read(p, readers[r], "relocation.pledges"));
        assert_false(policy_may_read(p, readers[r], NULL));
        assert_false(policy_may_read(p, readers[r], "coi..SY"));
    }
    const uint32_t mute[] = {OP, BR, CA, 0};
    for (size_t r = 0; r < 4; r++) {
        for (size_t i = 0; prefixes[i]; i++) {
            assert_int_equal(policy_check_subscribe(p, mute[r], prefixes[i]), ASYLINK_E_POLICY);
            assert_false(policy_may_read(p, mute[r], prefixes[i]));
        }
    }
    assert_int_equal(policy_check_subscribe(p, OP | AN, "coi"), ASYLINK_OK);
    assert_false(policy_may_read(NULL, AN, "coi"));
    assert_int_equal(policy_check_subscribe(NULL, AN, "coi"), ASYLINK_E_POLICY);
    policy_destroy(&p);
}

/* -------------------------------------------------- topics bound to their publisher -- */

static void test_publish_bound_to_sender(void **state)
{
    policy *p = s_example();
    const int c = ENVELOPE_PUBLIC;
    /* DE publishes under stats.monthly.DE (and below), not under another's. */
    assert_int_equal(s_publish(p, MS, "DE", "stats.monthly.DE", c), ASYLINK_OK);
    assert_int_equal(s_publish(p, MS, "DE", "stats.monthly.DE.by_region", c), ASYLINK_OK);
    assert_int_equal(s_publish(p, MS, "DE", "stats.monthly.FR", c), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, MS, "DE", "stats.monthly.DEX", c), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, MS, "DE", "stats.monthly.D", c), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, MS, "IT", "stats.monthly.DE", c), ASYLINK_E_POLICY);
    /* No sender, or not a node id: no {sender} rule applies. */
    assert_int_equal(s_publish(p, MS, NULL, "stats.monthly.DE", c), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, MS, "de", "stats.monthly.de", c), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, MS, "", "stats.monthly", c), ASYLINK_E_POLICY);
    /* The agency's own rule is wider; its own topic works through both. */
    assert_int_equal(s_publish(p, AG, "EUAA", "stats.monthly.DE", c), ASYLINK_OK);
    assert_int_equal(s_publish(p, AG, "EUAA", "stats.monthly.EUAA", c), ASYLINK_OK);
    policy_destroy(&p);

    assert_int_equal(s_load_text("[publish]\n"
                                 "analysis.{sender} = analyst\n"
                                 "{sender}.outbox = member_state\n"
                                 "stats.monthly.{sender} = member_state\n"
                                 "stats.monthly.DE = none\n"
                                 "stats.monthly.{sender}.draft = none\n",
                                 &p),
                     ASYLINK_OK);
    /* A node id of several labels takes their place. */
    assert_int_equal(s_publish(p, AN, "EUAA.ANALYSIS", "analysis.EUAA.ANALYSIS", c), ASYLINK_OK);
    assert_int_equal(s_publish(p, AN, "EUAA.ANALYSIS", "analysis.EUAA", c), ASYLINK_E_POLICY);
    /* {sender} first. */
    assert_int_equal(s_publish(p, MS, "FR", "FR.outbox.x", c), ASYLINK_OK);
    assert_int_equal(s_publish(p, MS, "FR", "DE.outbox", c), ASYLINK_E_POLICY);
    /* At equal length the rule naming the prefix wins over the {sender} rule. */
    assert_int_equal(s_publish(p, MS, "DE", "stats.monthly.DE", c), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, MS, "FR", "stats.monthly.FR", c), ASYLINK_OK);
    /* A longer {sender} rule narrows a shorter one. */
    assert_int_equal(s_publish(p, MS, "FR", "stats.monthly.FR.draft", c), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, MS, "FR", "stats.monthly.FR.final", c), ASYLINK_OK);
    policy_destroy(&p);

    /* {sender} only in [publish], as one whole label, once. */
    s_expect_error("[subscribe]\nstats.{sender} = analyst\n", 2, "only [publish] rules");
    s_expect_error("[publish]\nstats.{sender}x = member_state\n", 2, "one whole label");
    s_expect_error("[publish]\nstats.x{sender} = member_state\n", 2, "one whole label");
    s_expect_error("[publish]\n{sender}.{sender} = member_state\n", 2, "one whole label");
    s_expect_error("[publish]\nstats.{sendr} = member_state\n", 2, "invalid topic prefix");
    s_expect_error("[publish]\nstats.{sender} = member_state\nstats.{sender} = agency\n", 3,
                   "duplicate key");
}

/* ------------------------------------------------------ prefix matching -- */

/*
 * Node ids nest (DE and DE.BAMF): stats.monthly.DE.BAMF is under DE's bound
 * topic and is DE.BAMF's own; the longer id's prefix wins, so DE's {sender}
 * rule does not reach it (nor anything below it), while DE keeps its other
 * subtopics and DE.BAMF its own topic.
 */
static void test_publish_nested_node_ids(void **state)
{
    (void)state;
    policy *p = NULL;
    assert_int_equal(s_load_text("[publish]\n"
                                 "stats.monthly.{sender} = member_state\n"
                                 "{sender}.outbox = member_state\n",
                                 &p),
                     ASYLINK_OK);
    const int c = ENVELOPE_PUBLIC;
#define S_PUB(sender, topic) policy_check_publish(p, MS, sender, topic, c, s_known, NULL)
    assert_int_equal(S_PUB("DE.BAMF", "stats.monthly.DE.BAMF"), ASYLINK_OK);
    assert_int_equal(S_PUB("DE.BAMF", "stats.monthly.DE.BAMF.x"), ASYLINK_OK);
    assert_int_equal(S_PUB("DE", "stats.monthly.DE.BAMF"), ASYLINK_E_POLICY);
    assert_int_equal(S_PUB("DE", "stats.monthly.DE.BAMF.x"), ASYLINK_E_POLICY);
    assert_int_equal(S_PUB("DE", "DE.BAMF.outbox"), ASYLINK_E_POLICY);
    /* DE.BAMF.outbox is DE.BAMF's; DE.outbox.BAMF is DE's (no node DE.outbox.BAMF) */
    assert_int_equal(S_PUB("DE.BAMF", "DE.BAMF.outbox"), ASYLINK_OK);
    assert_int_equal(S_PUB("DE", "DE.outbox.BAMF"), ASYLINK_OK);
    /* DE's own topic and its other subtopics stay DE's */
    assert_int_equal(S_PUB("DE", "stats.monthly.DE"), ASYLINK_OK);
    assert_int_equal(S_PUB("DE", "stats.monthly.DE.by_region"), ASYLINK_OK);
    assert_int_equal(S_PUB("DE", "stats.monthly.DE.BAMFX"), ASYLINK_OK); /* whole labels */
    /* EUAA and EUAA.ANALYSIS: the same */
    assert_int_equal(S_PUB("EUAA", "stats.monthly.EUAA.ANALYSIS"), ASYLINK_E_POLICY);
    assert_int_equal(S_PUB("EUAA", "stats.monthly.EUAA.FIGURES"), ASYLINK_OK);
#undef S_PUB
    /* Without the node list (known NULL) the nesting is not seen. */
    assert_int_equal(s_publish(p, MS, "DE", "stats.monthly.DE.BAMF", c), ASYLINK_OK);
    policy_destroy(&p);
}

static void test_longest_prefix(void **state)
{
    policy *p = NULL;
    assert_int_equal(s_load_text("[publish]\n"
                                 "stats = member_state, agency\n"
                                 "stats.internal = agency\n"
                                 "stats.internal.open = member_state\n"
                                 "[subscribe]\n"
                                 "stats = analyst, agency\n"
                                 "stats.internal = agency\n"
                                 "coi = analyst\n"
                                 "coi.draft = none\n"
                                 "analysis.trends = analyst\n",
                                 &p),
                     ASYLINK_OK);
    /* The longest matching rule alone decides, wider or narrower. */
    assert_int_equal(s_publish(p, MS, "DE", "stats.monthly.DE", ENVELOPE_LIMITED), ASYLINK_OK);
    assert_int_equal(s_publish(p, MS, "DE", "stats.internal", ENVELOPE_LIMITED), ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, MS, "DE", "stats.internal.x", ENVELOPE_LIMITED),
                     ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, AG, "EUAA", "stats.internal.x", ENVELOPE_LIMITED), ASYLINK_OK);
    assert_int_equal(s_publish(p, MS, "DE", "stats.internal.open.x", ENVELOPE_LIMITED), ASYLINK_OK);
    assert_int_equal(s_publish(p, AG, "EUAA", "stats.internal.open", ENVELOPE_LIMITED),
                     ASYLINK_E_POLICY);
    assert_int_equal(s_publish(p, AG, "EUAA", "stats.internalx", ENVELOPE_LIMITED),
                     ASYLINK_OK); /* falls back to "stats": whole labels */
    assert_int_equal(s_publish(p, MS, "DE", "stats.internalx", ENVELOPE_LIMITED), ASYLINK_OK);

    /* Reading follows the longest rule... */
    assert_true(policy_may_read(p, AN, "stats.monthly.DE"));
    assert_false(policy_may_read(p, AN, "stats.internal.x"));
    assert_true(policy_may_read(p, AG, "stats.internal.x"));
    assert_true(policy_may_read(p, AN, "coi.SY"));
    assert_false(policy_may_read(p, AN, "coi.draft.SY"));
    assert_false(policy_may_read(p, AG, "coi.draft"));
    assert_true(policy_may_read(p, AN, "coi.drafts"));
    /* ...and a subscription must not reach a topic the reader may not read. */
    assert_int_equal(policy_check_subscribe(p, AN, "stats"), ASYLINK_E_POLICY);
    assert_int_equal(policy_check_subscribe(p, AN, "stats.monthly"), ASYLINK_OK);
    assert_int_equal(policy_check_subscribe(p, AN, "stats.internal"), ASYLINK_E_POLICY);
    assert_int_equal(policy_check_subscribe(p, AN, "stats.internalx"), ASYLINK_OK);
    assert_int_equal(policy_check_subscribe(p, AG, "stats"), ASYLINK_OK);
    assert_int_equal(policy_check_subscribe(p, AG | AN, "stats"), ASYLINK_OK);
    assert_int_equal(policy_check_subscribe(p, AN, "coi"), ASYLINK_E_POLICY);
    assert_int_equal(policy_check_subscribe(p, AN, "coi.SY"), ASYLINK_OK);
    assert_int_equal(policy_check_subscribe(p, AN, "coi.draft"), ASYLINK_E_POLICY);
    /* A subscription wider than every rule is refused. */
    assert_int_equal(policy_check_subscribe(p, AN, "analysis"), ASYLINK_E_POLICY);
    assert_int_equal(policy_check_subscribe(p, AN, "analysis.trends"), ASYLINK_OK);
    assert_int_equal(policy_check_subscribe(p, AN, "analysis.trends.EU"), ASYLINK_OK);
    assert_int_equal(policy_check_subscribe(p, AN, "analysis.trendsx"), ASYLINK_E_POLICY);
    assert_false(policy_may_read(p, AN, "analysis"));
    policy_destroy(&p);
}

static void test_empty_policy_denies_everything(void **state)
{
    policy *p = NULL;
    assert_int_equal(s_load_text("; nothing allowed\n\n", &p), ASYLINK_OK);
    const uint32_t all = MS | AG | AN | OP | BR | CA;
    for (int c = ENVELOPE_PUBLIC; c <= ENVELOPE_PERSONAL; c++) {
        assert_int_equal(policy_check_direct(p, all, all, c), ASYLINK_E_POLICY);
        assert_int_equal(s_publish(p, all, "OPS", "stats", c), ASYLINK_E_POLICY);
    }
    assert_int_equal(policy_check_subscribe(p, all, "stats"), ASYLINK_E_POLICY);
    assert_false(policy_may_read(p, all, "stats"));
    /* Default limits. */
    assert_int_equal(policy_retention_cap(p, ENVELOPE_PERSONAL, 1000, 0), 1000 + 30 * DAY_MS);
    assert_int_equal(policy_retention_cap(p, ENVELOPE_LIMITED, 1000, 0), 1000 + 90 * DAY_MS);
    policy_destroy(&p);
}

static void test_direct_needs_same_role_for_class(void **state)
{
    policy *p = NULL;
    assert_int_equal(s_load_text("[direct]\n"
                                 "member_state = agency\n"
                                 "analyst = member_state\n"
                                 "operator = none\n"
                                 "[classification]\n"
                                 "member_state = public\n"
                                 "analyst = Limited\n"
                                 "operator = none\n",
                                 &p),
                     ASYLINK_OK);
    assert_int_equal(policy_check_direct(p, MS, AG, ENVELOPE_PUBLIC), ASYLINK_OK);
    assert_int_equal(policy_check_direct(p, MS, AG, ENVELOPE_LIMITED), ASYLINK_E_POLICY);
    assert_int_equal(policy_check_direct(p, AN, MS, ENVELOPE_LIMITED), ASYLINK_OK);
    /* member_state grants PUBLIC to agency, analyst grants LIMITED to member
       states: neither role alone grants LIMITED to agency. */
    assert_int_equal(policy_check_direct(p, MS | AN, AG, ENVELOPE_LIMITED), ASYLINK_E_POLICY);
    assert_int_equal(policy_check_direct(p, MS | AN, AG, ENVELOPE_PUBLIC), ASYLINK_OK);
    assert_int_equal(policy_check_direct(p, OP, MS | AG | AN | OP, ENVELOPE_PUBLIC),
                     ASYLINK_E_POLICY);
    policy_destroy(&p);
}

/* ------------------------------------------------------------ retention -- */

static void test_retention(void **state)
{
    policy *p = s_example();
    const uint64_t t = 1767225600000ull; /* 2026-01-01 */
    /* PERSONAL: capped at 30 days from creation. */
    assert_int_equal(policy_retention_cap(p, ENVELOPE_PERSONAL, t, 0), t + 30 * DAY_MS);
    assert_int_equal(policy_retention_cap(p, ENVELOPE_PERSONAL, t, t + DAY_MS), t + DAY_MS);
    assert_int_equal(policy_retention_cap(p, ENVELOPE_PERSONAL, t, t + 30 * DAY_MS),
                     t + 30 * DAY_MS);
    assert_int_equal(policy_retention_cap(p, ENVELOPE_PERSONAL, t, t + 60 * DAY_MS),
                     t + 30 * DAY_MS);
    /* Everything else: 90 days. */
    for (int c = ENVELOPE_PUBLIC; c <= ENVELOPE_LIMITED; c++) {
        assert_int_equal(policy_retention_cap(p, c, t, 0), t + 90 * DAY_MS);
        assert_int_equal(policy_retention_cap(p, c, t, t + 10 * DAY_MS), t + 10 * DAY_MS);
        assert_int_equal(policy_retention_cap(p, c, t, t + 100 * DAY_MS), t + 90 * DAY_MS);
    }
    /* The sum saturates instead of wrapping. */
    assert_int_equal(policy_retention_cap(p, ENVELOPE_LIMITED, UINT64_MAX - 5, 0), UINT64_MAX);
    policy_destroy(&p);

    /* 0 = no cap: no expiry stays no expiry. */
    assert_int_equal(s_load_text("[limits]\npersonal_max_retention = 0\nmax_retention = 0\n", &p),
                     ASYLINK_OK);
    assert_int_equal(policy_retention_cap(p, ENVELOPE_PERSONAL, t, 0), 0);
    assert_int_equal(policy_retention_cap(p, ENVELOPE_LIMITED, t, t + 999 * DAY_MS),
                     t + 999 * DAY_MS);
    policy_destroy(&p);
    /* No personal cap: PERSONAL falls under max_retention. */
    assert_int_equal(s_load_text("[limits]\npersonal_max_retention = 0\nmax_retention = 12h\n",
                                 &p),
                     ASYLINK_OK);
    assert_int_equal(policy_retention_cap(p, ENVELOPE_PERSONAL, t, 0), t + DAY_MS / 2);
    policy_destroy(&p);
    /* Only a personal cap. */
    assert_int_equal(s_load_text("[limits]\npersonal_max_retention = 7d\nmax_retention = 0\n", &p),
                     ASYLINK_OK);
    assert_int_equal(policy_retention_cap(p, ENVELOPE_PERSONAL, t, 0), t + 7 * DAY_MS);
    assert_int_equal(policy_retention_cap(p, ENVELOPE_PUBLIC, t, 0), 0);
    policy_destroy(&p);
}

/* --------------------------------------------------------------- errors -- */

static void test_syntax_errors(void **state)
{
    s_expect_error("[direct]\nmember_state = agency\nthis line has no equals sign\n", 3,
                   "syntax error");
    s_expect_error("; comment\n[direct\nmember_state = agency\n", 2, "syntax error");
    s_expect_error("\n\nmember_state = agency\n", 3, "key outside of any [section]");
    s_expect_error("[direct]\n[feeds]\n[publish]\ncoi = agency\n", 2, "unknown section");
    s_expect_error("[feeds]\ncoi = agency\n", 1, "unknown section");
    s_expect_error("[publish]\ncoi = agency\ncoi = member_state\n", 3,
                   "duplicate key, already set on line 2");
    s_expect_error("[direct]\nagency = agency\nagency = member_state\n[classification]\n"
                   "agency = PUBLIC\n", 3, "duplicate key");
    char long_line[400];
    snprintf(long_line, sizeof long_line, "[publish]\ncoi = agency%0250d\n", 0);
    s_expect_error(long_line, 2, "longer than");
}

static void test_bad_values(void **state)
{
    s_expect_error("[direct]\nmember_state = member_state, agencyy\n[classification]\n"
                   "member_state = PUBLIC\n",
                   2, "[direct] member_state: unknown role \"agencyy\"");
    s_expect_error("[direct]\nmember_states = agency\n", 2,
                   "[direct] member_states: unknown sender role");
    s_expect_error("[direct]\nMember_State = agency\n", 2, "unknown sender role");
    s_expect_error("[direct]\nca = agency\n", 2, "unknown sender role \"ca\"");
    s_expect_error("[subscribe]\ncoi = ca\n", 2, "unknown role \"ca\"");
    s_expect_error("[direct]\nagency = agency\n[classification]\nagency = PUBLIC, SECRET\n", 4,
                   "[classification] agency: unknown classification \"SECRET\"");
    s_expect_error("[direct]\nagency = agency\n[classification]\nagency = analyst\n", 4,
                   "unknown classification");
    s_expect_error("[publish]\ncoi =\n", 2, "[publish] coi: empty value");
    s_expect_error("[publish]\ncoi = agency,\n", 2, "empty item");
    s_expect_error("[publish]\ncoi = agency,,analyst\n", 2, "empty item");
    s_expect_error("[publish]\ncoi = none, agency\n", 2, "\"none\" cannot be combined");
    s_expect_error("[publish]\ncoi.* = agency\n", 2, "invalid topic prefix");
    s_expect_error("[subscribe]\nstats..monthly = agency\n", 2, "invalid topic prefix");
    s_expect_error("[subscribe]\n.stats = agency\n", 2, "invalid topic prefix");
    s_expect_error("[limits]\nmax_retention = 90\n", 2, "[limits] max_retention: expected a "
                   "duration");
    s_expect_error("[limits]\nmax_retention = ninety days\n", 2, "expected a duration");
    s_expect_error("[limits]\nretention = 9d\n", 2, "[limits] retention: unknown key");
    s_expect_error("[limits]\npersonal_max_retention = 100d\nmax_retention = 90d\n", 2,
                   "must not be longer than max_retention");
}

static void test_half_direct_rules(void **state)
{
    s_expect_error("[direct]\nmember_state = agency\nagency = agency\n[classification]\n"
                   "agency = PUBLIC\n",
                   2, "[direct] member_state: no [classification] key");
    s_expect_error("[direct]\nagency = agency\n[classification]\nagency = PUBLIC\n"
                   "analyst = PUBLIC\n",
                   5, "[classification] analyst: no [direct] key");
}

static void test_missing_file_and_args(void **state)
{
    policy *p = NULL;
    char err[256] = "";
    assert_int_equal(policy_load("/nonexistent/asylink/policy.ini", &p, err, sizeof err),
                     ASYLINK_E_IO);
    assert_null(p);
    assert_non_null(strstr(err, "/nonexistent/asylink/policy.ini: cannot open"));
    assert_int_equal(policy_load(NULL, &p, err, sizeof err), ASYLINK_E_INVALID_ARG);
    assert_int_equal(policy_load(s_path, NULL, NULL, 0), ASYLINK_E_INVALID_ARG);
    /* A NULL error buffer is allowed. */
    assert_int_equal(policy_load("/nonexistent/asylink/policy.ini", &p, NULL, 0), ASYLINK_E_IO);
}

static void test_comments_and_blanks(void **state)
{
    policy *p = NULL;
    assert_int_equal(s_load_text("# hash comment\n"
                                 "; semicolon comment\n"
                                 "   [publish]   \n"
                                 "  coi   =   agency ,member_state   ; inline comment\n"
                                 "\t[subscribe]\n"
                                 "coi = analyst\r\n",
                                 &p),
                     ASYLINK_OK);
    assert_int_equal(s_publish(p, MS, "DE", "coi.SY", ENVELOPE_PUBLIC), ASYLINK_OK);
    assert_int_equal(s_publish(p, AG, "EUAA", "coi.SY", ENVELOPE_PUBLIC), ASYLINK_OK);
    assert_true(policy_may_read(p, AN, "coi.SY"));
    policy_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_direct),
        cmocka_unit_test(test_example_publish),
        cmocka_unit_test(test_example_subscribe_and_read),
        cmocka_unit_test(test_publish_bound_to_sender),
        cmocka_unit_test(test_publish_nested_node_ids),
        cmocka_unit_test(test_longest_prefix),
        cmocka_unit_test(test_empty_policy_denies_everything),
        cmocka_unit_test(test_direct_needs_same_role_for_class),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_half_direct_rules),
        cmocka_unit_test(test_missing_file_and_args),
        cmocka_unit_test(test_comments_and_blanks),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
