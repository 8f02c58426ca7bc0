/*
 * test_inifile.c — the strict INI reader under config.c and the broker's
 * policy: line numbers, the callbacks, what it refuses, first error by line.
 */
#include "fixture.h"

#include "inifile.h"

/* What the callbacks saw, one line per event: "L3 [sec]" or "L4 sec.key=value". */
typedef struct {
    char log[1024];
    unsigned fail_on_line; /* the key callback fails on this line (0 = never) */
    bool fail_silently;    /* ...without recording why */
} s_seen;

static int s_key(inifile *f, void *ctx, const char *section, const char *key, const char *value)
{
    s_seen *s = ctx;
    size_t n = strlen(s->log);
    snprintf(s->log + n, sizeof s->log - n, "L%u %s.%s=%s\n", f->line, section, key, value);
    if (f->line != s->fail_on_line)
        return 0;
    if (!s->fail_silently)
        inifile_fail(f, ASYLINK_E_BAD_FIELD, f->line, section, key, "refused %s", value);
    return -1;
}

static int s_section(inifile *f, void *ctx, const char *name)
{
    s_seen *s = ctx;
    size_t n = strlen(s->log);
    snprintf(s->log + n, sizeof s->log - n, "L%u [%s]\n", f->line, name);
    if (strcmp(name, "bad") != 0)
        return 0;
    inifile_fail(f, ASYLINK_E_CONFIG, f->line, "", "", "no [bad] here");
    return -1;
}

/* Reads len bytes of text; returns the code, fills *e and the callbacks' log. */
static int s_read(const char *text, size_t len, s_seen *seen, config_error *e)
{
    FILE *in = fmemopen((void *)text, len, "r");
    assert_non_null(in);
    inifile f;
    inifile_init(&f, "test.ini", e);
    int rc = inifile_read(&f, in, s_key, s_section, seen);
    fclose(in);
    assert_int_equal(rc, f.code);
    assert_int_equal(f.line, 0); /* reset after the file */
    return rc;
}

static void test_lines_and_callbacks(void **state)
{
    (void)state;
    const char *text = "# comment\n[a]\n  k = v ; inline comment\n\n[empty]\n[b]\nx=1\n";
    s_seen seen = {0};
    config_error e;
    assert_int_equal(s_read(text, strlen(text), &seen, &e), ASYLINK_OK);
    assert_string_equal(seen.log, "L2 [a]\nL3 a.k=v\nL5 [empty]\nL6 [b]\nL7 b.x=1\n");
    assert_string_equal(e.message, "");
}

static void test_refusals(void **state)
{
    (void)state;
    s_seen seen = {0};
    config_error e;
    const char nul[] = "[a]\nk = v\nx = a\0b\n";
    assert_int_equal(s_read(nul, sizeof nul - 1, &seen, &e), ASYLINK_E_CONFIG);
    assert_int_equal(e.line, 3);
    assert_string_equal(e.message, "line contains a NUL byte");

    char longline[400];
    snprintf(longline, sizeof longline, "[a]\nk = %0300d\n", 7);
    assert_int_equal(s_read(longline, strlen(longline), &seen, &e), ASYLINK_E_CONFIG);
    assert_int_equal(e.line, 2);
    assert_non_null(strstr(e.message, "longer than"));

    const char *outside = "\nk = v\n";
    assert_int_equal(s_read(outside, strlen(outside), &seen, &e), ASYLINK_E_CONFIG);
    assert_int_equal(e.line, 2);
    assert_string_equal(e.key, "k");
    assert_string_equal(e.message, "key outside of any [section]");

    size_t big = INIFILE_LIMIT + 100;
    char *huge = malloc(big);
    assert_non_null(huge);
    for (size_t i = 0; i < big; i++)
        huge[i] = (i % 50 == 49) ? '\n' : '#';
    assert_int_equal(s_read(huge, big, &seen, &e), ASYLINK_E_CONFIG);
    /* a stream whose size fstat() cannot tell: the limit alone */
    assert_string_equal(e.message,
                        "more than the limit of 1048576 bytes (1 MiB) for a configuration file");
    /* a file: its size and the limit, in the words of the CLI (cli_fail_file_limit()) */
    char path[] = "/tmp/test_inifile_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *in = fdopen(fd, "w+");
    assert_non_null(in);
    assert_int_equal(fwrite(huge, 1, big, in), big);
    rewind(in);
    inifile f;
    inifile_init(&f, path, &e);
    assert_int_equal(inifile_read(&f, in, s_key, s_section, &seen), ASYLINK_E_CONFIG);
    fclose(in);
    unlink(path);
    assert_string_equal(e.message, "1048676 bytes, more than the limit of 1048576 bytes (1 MiB) "
                                   "for a configuration file");
    free(huge);

    const char *bad = "[a]\nk = v\n[bad]\nx = 1\n";
    memset(&seen, 0, sizeof seen);
    assert_int_equal(s_read(bad, strlen(bad), &seen, &e), ASYLINK_E_CONFIG);
    assert_int_equal(e.line, 3);
    assert_string_equal(e.message, "no [bad] here");
    assert_null(strstr(seen.log, "a.x")); /* stopped at the first error */
}

/* The first error by line wins; a callback's code and text are kept. */
static void test_first_error(void **state)
{
    (void)state;
    config_error e;
    const char *text = "[a]\nk = v\nbroken line\nz = 9\n";
    s_seen seen = {.fail_on_line = 2};
    assert_int_equal(s_read(text, strlen(text), &seen, &e), ASYLINK_E_BAD_FIELD);
    assert_int_equal(e.line, 2);
    assert_string_equal(e.section, "a");
    assert_string_equal(e.key, "k");
    assert_string_equal(e.message, "refused v");
    assert_string_equal(e.file, "test.ini");

    /* libinih's syntax error on line 3 comes before the callback's on line 4. */
    seen = (s_seen){.fail_on_line = 4};
    assert_int_equal(s_read(text, strlen(text), &seen, &e), ASYLINK_E_CONFIG);
    assert_int_equal(e.line, 3);
    assert_non_null(strstr(e.message, "syntax error"));

    /* A callback that fails without saying why still fails the read. */
    seen = (s_seen){.fail_on_line = 2, .fail_silently = true};
    assert_int_equal(s_read(text, strlen(text), &seen, &e), ASYLINK_E_CONFIG);
    assert_int_equal(e.line, 2);
}

/* Hostile text is escaped and cut in messages. */
static void test_clean_and_quote(void **state)
{
    (void)state;
    char buf[256];
    assert_string_equal(config_quote(buf, sizeof buf, "a\"b\\c\n", 6), "\"a\\\"b\\\\c\\x0a\"");
    char longv[100];
    memset(longv, 'x', sizeof longv);
    config_quote(buf, sizeof buf, longv, sizeof longv);
    assert_int_equal(strlen(buf), CONFIG_QUOTE_MAX + 5); /* quotes and "..." */
    assert_string_equal(config_clean(buf, sizeof buf, "ab\x1b[31mc", 5), "ab\\x1b[3");
    assert_string_equal(config_clean(buf, sizeof buf, NULL, 5), "");
    assert_string_equal(config_clean(buf, 4, "abcdef", 6), "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_and_callbacks),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_first_error),
        cmocka_unit_test(test_clean_and_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
