/*
 * test_cliopt.c — the declarative option tables of the command line
 * (tools/cliopt.h): every command's table in the tree is well formed, and
 * one table of every kind parses, defaults, checks ranges, required
 * options, rules and operands, prints --help, and accepts old spellings
 * with a warning on stderr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli.h"
#include "cliopt.h"
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- every command of the tree ---- */

/* Checks every leaf's spec under group; returns the number of leaves. */
static int s_walk(const cli_command *group, const char *path)
{
    int leaves = 0;
    for (const cli_command *c = group->sub; c->name; c++) {
        char name[128];
        snprintf(name, sizeof name, "%s %s", path, c->name);
        assert_non_null(c->summary);
        if (c->sub) {
            assert_non_null(c->about);
            leaves += s_walk(c, name);
            continue;
        }
        assert_non_null(c->run);
        if (!c->spec) {
            assert_string_equal(c->name, "help"); /* the only leaf without options */
            continue;
        }
        int problems = cliopt_check_spec(c->spec, stderr);
        if (problems)
            fail_msg("%s: %d problems in its option table", name, problems);
        leaves++;
    }
    return leaves;
}

static void test_every_table_is_well_formed(void **state)
{
    (void)state;
    /* at least keygen, ca x3, cert x2, send, recv, publish, subscribe, status,
       receipts, evidence x2, nodes, queues, dlq x3, reload, audit x3; every leaf
       but help has a table */
    assert_true(s_walk(&cli_root, "asylink") >= 23);
}

/* ---- one table of every kind ---- */

typedef struct {
    const char *config;
    const char *name;
    bool flag;
    uint64_t count;
    uint64_t timeout_ms;
    uint64_t expires_ms;
    uint64_t at_ms;
    int color;
    const char *node;
    bool old_bare;
    const char *payload;
    uint64_t wait_ms;
} t_opts;

static const char *const t_colors[] = {"red", "green", NULL};

static const cliopt t_rows[] = {
    CLIOPT_ROW_CONFIG(t_opts, config),
    {.name = "name",
     .kind = CLIOPT_STRING,
     .metavar = "NAME",
     .offset = offsetof(t_opts, name),
     .def = "anon",
     .help = "a name"},
    {.name = "flag",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(t_opts, flag),
     .help = "a flag",
     .old_with_value = "payload"},
    {.name = "count",
     .kind = CLIOPT_UINT,
     .metavar = "N",
     .offset = offsetof(t_opts, count),
     .min = 1,
     .max = 10,
     .help = "a count"},
    CLIOPT_ROW_TIMEOUT(t_opts, timeout_ms, "30"),
    {.name = "expires",
     .kind = CLIOPT_DURATION,
     .metavar = "DURATION",
     .offset = offsetof(t_opts, expires_ms),
     .min = 1,
     .help = "a duration"},
    {.name = "at",
     .kind = CLIOPT_TIME,
     .metavar = "DATE",
     .offset = offsetof(t_opts, at_ms),
     .help = "a time"},
    {.name = "color",
     .kind = CLIOPT_CHOICE,
     .metavar = "COLOR",
     .offset = offsetof(t_opts, color),
     .choices = t_colors,
     .help = "a choice"},
    {.name = "node",
     .kind = CLIOPT_CUSTOM,
     .metavar = "ID",
     .offset = offsetof(t_opts, node),
     .parse = cliopt_parse_node_id,
     .expect = CLIOPT_EXPECT_NODE_ID,
     .help = "a node id"},
    {.name = "payload",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(t_opts, payload),
     .help = "a payload file"},
    {.name = "wait",
     .kind = CLIOPT_SECONDS,
     .metavar = "SECONDS",
     .offset = offsetof(t_opts, wait_ms),
     .min = 1,
     .max = 60,
     .help = "a wait",
     .old_without_value = "wait-old"},
    {.name = "wait-old",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(t_opts, old_bare),
     .flags = CLIOPT_HIDDEN,
     .help = "bare --wait"},
    {.name = "colour", .flags = CLIOPT_DEPRECATED, .alias_of = "color"},
};

static const cliopt_rule t_rules[] = {
    {CLIOPT_EXCLUDES, "flag payload"},
    {CLIOPT_TOGETHER, "at expires"},
};

static const cliopt_spec t_spec = {
    .description = "A test command.",
    .opts = t_rows,
    .n_opts = CLIOPT_LEN(t_rows),
    .rules = t_rules,
    .n_rules = CLIOPT_LEN(t_rules),
    .notes = "Exit status: 0.",
};

/* A command with operands (and so without old spellings told apart by them). */
static const cliopt_spec t_operands_spec = {
    .description = "A test command with operands.",
    .opts = t_rows,
    .n_opts = 1,
    .operands = "ARG...",
    .min_operands = 1,
    .max_operands = 2,
};

/* stderr captured into a temporary file while parsing. */
typedef struct {
    FILE *f;
    int saved;
    char text[4096];
} t_capture;

static void t_capture_start(t_capture *c)
{
    fflush(stderr);
    c->f = tmpfile();
    assert_non_null(c->f);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->f), STDERR_FILENO) >= 0);
}

static const char *t_capture_end(t_capture *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    rewind(c->f);
    size_t n = fread(c->text, 1, sizeof c->text - 1, c->f);
    c->text[n] = '\0';
    fclose(c->f);
    return c->text;
}

/* The spec t_parse() uses. */
static const cliopt_spec *t_current = &t_spec;

/* Parses a NULL-terminated argument list (argv[0] "t") by t_current; stderr into err. */
static int t_parse(t_opts *o, cliopt_result *res, char *err, size_t errlen, ...)
{
    char *argv[32] = {"t"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    memset(o, 0, sizeof *o);
    t_capture c;
    t_capture_start(&c);
    int rc = cliopt_parse(t_current, argc, argv, o, res);
    snprintf(err, errlen, "%s", t_capture_end(&c));
    return rc;
}

static void test_table_of_the_test_is_well_formed(void **state)
{
    (void)state;
    assert_int_equal(cliopt_check_spec(&t_spec, stderr), 0);
    assert_int_equal(cliopt_check_spec(&t_operands_spec, stderr), 0);
    /* the same rows with operands: "--flag x" and "--wait x" would be ambiguous */
    cliopt_spec bad = t_spec;
    bad.operands = "ARG";
    bad.max_operands = 1;
    assert_int_equal(cliopt_check_spec(&bad, NULL), 2);
}

static void test_values_and_defaults(void **state)
{
    (void)state;
    t_opts o;
    cliopt_result res;
    char err[4096];
    assert_int_equal(t_parse(&o, &res, err, sizeof err, "--config", "c.ini", "--count", "10",
                             "--expires", "7d", "--at", "2026-02-28", "--color", "GREEN", "--node",
                             "DE", "--timeout=5", NULL),
                     CLI_OK);
    assert_string_equal(o.config, "c.ini");
    assert_string_equal(o.name, "anon"); /* default */
    assert_int_equal(o.count, 10);
    assert_int_equal(o.timeout_ms, 5000);
    assert_int_equal(o.expires_ms, 7ull * 86400 * 1000);
    assert_int_equal(o.at_ms, 1772236800000ull);
    assert_int_equal(o.color, 2);
    assert_string_equal(o.node, "DE");
    assert_int_equal(res.n_operands, 0);
    assert_string_equal(err, "");
    assert_true(cliopt_given(&t_spec, &res, "config"));
    assert_false(cliopt_given(&t_spec, &res, "name"));
    /* the default of --timeout when it is not given */
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", NULL), CLI_OK);
    assert_int_equal(o.timeout_ms, 30000);
}

/* Each bad value is a usage error that names the option and what it expects. */
static void test_bad_values(void **state)
{
    (void)state;
    static const struct {
        const char *opt, *value, *says;
    } bad[] = {
        {"--count", "0", "a number from 1 to 10"},
        {"--count", "11", "from 1 to 10"},
        {"--count", "+3", "from 1 to 10"},
        {"--count", "3x", "from 1 to 10"},
        {"--timeout", "0", "1 to 86400 seconds"},
        {"--timeout", "-1", "seconds"},
        {"--timeout", "90000", "1 to 86400 seconds"},
        {"--expires", "0s", "a duration like"},
        {"--expires", "3w", "a duration like"},
        {"--at", "2026-02-30", "YYYY-MM-DD"},
        {"--color", "blue", "one of red, green"},
        {"--node", "de", "a node id"},
        {"--name", "", "a non-empty value"},
        {"--wait", "61", "1 to 60 seconds"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t_opts o;
        char err[4096], want[128];
        int rc =
            t_parse(&o, NULL, err, sizeof err, "--config", "c", bad[i].opt, bad[i].value, NULL);
        if (rc != CLI_USAGE || !strstr(err, bad[i].says))
            fail_msg("%s '%s': rc %d, stderr: %s", bad[i].opt, bad[i].value, rc, err);
        snprintf(want, sizeof want, "invalid %s '%s'", bad[i].opt, bad[i].value);
        assert_non_null(strstr(err, want));
        assert_non_null(strstr(err, "Try 't --help'"));
    }
}

static void test_required_rules_operands(void **state)
{
    (void)state;
    t_opts o;
    char err[4096];
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, NULL), CLI_USAGE);
    assert_non_null(strstr(err, "missing --config FILE"));
    assert_int_equal(
        t_parse(&o, NULL, err, sizeof err, "--config", "c", "--flag", "--payload", "p", NULL),
        CLI_USAGE);
    assert_non_null(strstr(err, "--flag does not go with --payload"));
    assert_int_equal(
        t_parse(&o, NULL, err, sizeof err, "--config", "c", "--at", "2026-01-01", NULL), CLI_USAGE);
    assert_non_null(strstr(err, "--at and --expires go together"));
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "a", NULL), CLI_USAGE);
    assert_non_null(strstr(err, "unexpected argument 'a'"));
    /* operands, anywhere among the options */
    t_current = &t_operands_spec;
    cliopt_result res;
    char *argv[] = {"t", "a", "--config", "c", "b", NULL};
    memset(&o, 0, sizeof o);
    assert_int_equal(cliopt_parse(t_current, 5, argv, &o, &res), CLI_OK);
    assert_int_equal(res.n_operands, 2);
    assert_string_equal(argv[res.first_operand], "a");
    assert_string_equal(argv[res.first_operand + 1], "b");
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "a", "b", "c", NULL),
                     CLI_USAGE);
    assert_non_null(strstr(err, "at most 2 ARG... at once"));
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", NULL), CLI_USAGE);
    assert_non_null(strstr(err, "missing ARG..."));
    /* "--" ends the options. */
    assert_int_equal(t_parse(&o, &res, err, sizeof err, "--config", "c", "--", "--flag", NULL),
                     CLI_OK);
    assert_int_equal(res.n_operands, 1);
    t_current = &t_spec;
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--bogus", NULL),
                     CLI_USAGE);
    assert_non_null(strstr(err, "bogus"));
    /* A value that looks like an option is still the value of the option before it. */
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--name", "--flag", NULL),
                     CLI_OK);
    assert_string_equal(o.name, "--flag");
    assert_false(o.flag);
}

static void test_old_spellings_warn(void **state)
{
    (void)state;
    t_opts o;
    char err[4096];
    /* a renamed option */
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--colour", "red", NULL),
                     CLI_OK);
    assert_int_equal(o.color, 1);
    assert_non_null(strstr(err, "t: warning: --colour is deprecated"));
    assert_non_null(strstr(err, "use --color"));
    /* a flag followed by a value: the old spelling of --payload */
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--flag", "in.json", NULL),
                     CLI_OK);
    assert_false(o.flag);
    assert_string_equal(o.payload, "in.json");
    assert_non_null(strstr(err, "--flag FILE is deprecated"));
    assert_non_null(strstr(err, "use --payload FILE"));
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--flag", "-", NULL),
                     CLI_OK);
    assert_string_equal(o.payload, "-"); /* stdin */
    /* the flag itself: no warning */
    assert_int_equal(
        t_parse(&o, NULL, err, sizeof err, "--config", "c", "--flag", "--count", "2", NULL),
        CLI_OK);
    assert_true(o.flag);
    assert_null(o.payload);
    assert_string_equal(err, "");
    /* a valued option given bare */
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--wait", NULL), CLI_OK);
    assert_true(o.old_bare);
    assert_int_equal(o.wait_ms, 0);
    assert_non_null(strstr(err, "--wait without SECONDS is deprecated"));
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--wait", "5", NULL),
                     CLI_OK);
    assert_false(o.old_bare);
    assert_int_equal(o.wait_ms, 5000);
    assert_string_equal(err, "");
    /* hidden rows cannot be named */
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--wait-old", NULL),
                     CLI_USAGE);
}

static void test_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    cliopt_print_help(f, "asylink t", &t_spec);
    fclose(f);
    assert_non_null(strstr(text, "Usage: asylink t --config FILE [options]\n"));
    assert_non_null(strstr(text, "A test command."));
    assert_non_null(strstr(text, "  --timeout SECONDS"));
    assert_non_null(strstr(text, "(default: 30)"));
    assert_non_null(strstr(text, "(required)"));
    assert_non_null(strstr(text, "-h, --help"));
    assert_non_null(strstr(text, "Exit status: 0."));
    assert_non_null(strstr(text, "--colour COLOR"));
    assert_null(strstr(text, "wait-old")); /* hidden */
    free(text);
    t_opts o;
    char err[4096];
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--help", NULL), CLI_DONE);
}

/*
 * An option given twice is a usage error naming it, whatever its kind and
 * spelling: the last value silently winning turned "--to FR --to IT" into
 * a message for IT alone.
 */
static void test_given_twice(void **state)
{
    (void)state;
    t_opts o;
    char err[4096];
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "a", "--config", "b", NULL),
                     CLI_USAGE);
    assert_non_null(strstr(err, "t: --config given twice: give it once, with one value"));
    assert_int_equal(
        t_parse(&o, NULL, err, sizeof err, "--config", "c", "--count", "2", "--count=3", NULL),
        CLI_USAGE);
    assert_non_null(strstr(err, "--count given twice"));
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--flag", "--flag", NULL),
                     CLI_USAGE);
    assert_non_null(strstr(err, "--flag given twice: give it once\n"));
    /* an old spelling and the new one are one option */
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--colour", "red",
                             "--color", "green", NULL),
                     CLI_USAGE);
    assert_non_null(strstr(err, "--color given twice (counting its old spelling --colour)"));
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--flag", "in.json",
                             "--payload", "p.json", NULL),
                     CLI_USAGE);
    assert_non_null(strstr(err, "--payload given twice"));
    /* a default is not "given": one --name is fine */
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--name", "x", NULL),
                     CLI_OK);
}

/* A bad value is quoted on one line: control bytes and broken UTF-8 escaped, cut short. */
static void test_bad_value_quoted(void **state)
{
    (void)state;
    t_opts o;
    char err[4096], long_value[300];
    assert_int_equal(t_parse(&o, NULL, err, sizeof err, "--config", "c", "--node",
                             "D\nE\x1b[31m\xff\xc3\x84", NULL),
                     CLI_USAGE);
    assert_non_null(strstr(err, "invalid --node 'D\\x0aE\\x1b[31m\\xff\xc3\x84'"));
    memset(long_value, '7', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    assert_int_equal(
        t_parse(&o, NULL, err, sizeof err, "--config", "c", "--count", long_value, NULL),
        CLI_USAGE);
    assert_non_null(strstr(err, "'77777777777777777777777777777777777777777777777777777777777777"
                                "777777777777777777...' (a number from 1 to 10)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_table_is_well_formed),
        cmocka_unit_test(test_table_of_the_test_is_well_formed),
        cmocka_unit_test(test_values_and_defaults),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_required_rules_operands),
        cmocka_unit_test(test_old_spellings_warn),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_given_twice),
        cmocka_unit_test(test_bad_value_quoted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
