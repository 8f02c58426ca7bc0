/*
 * test_log.c — logfmt lines: format, level filtering (arguments not
 * evaluated when off), quoting, sinks, the stderr default, truncation and
 * whole lines under concurrent logging; every line valid logfmt whatever
 * its values hold, read back with the parser of core/logfmt.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "log.h"
#include "logfmt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What the capturing sink saw. */
typedef struct capture {
    char last[LOG_LINE_MAX + 1]; /* the latest line */
    log_level last_level;        /* its level */
    int count;                   /* lines received */
    int bad;                     /* lines that were not well formed */
} capture;

static capture s_cap;

/* Sink that keeps the last line and checks each is one well-formed line. */
static void s_sink(void *ctx, log_level lvl, const char *line)
{
    capture *c = ctx;
    snprintf(c->last, sizeof c->last, "%s", line);
    c->last_level = lvl;
    c->count++;
    if (strncmp(line, "ts=", 3) != 0 || strchr(line, '\n') || strlen(line) >= LOG_LINE_MAX)
        c->bad++;
}

/* Counts its calls; used to prove disabled LOG_* skip their arguments. */
static int s_evaluated;
static int s_count_call(void)
{
    return ++s_evaluated;
}

static int s_setup(void **state)
{
    memset(&s_cap, 0, sizeof s_cap);
    s_evaluated = 0;
    log_set_level(LOG_LEVEL_DEBUG);
    log_set_sink(s_sink, &s_cap);
    return 0;
}

static int s_teardown(void **state)
{
    log_set_sink(NULL, NULL);
    log_set_level(LOG_LEVEL_INFO);
    return 0;
}

/* The part of a line after "ts=<24 chars> ". */
static const char *s_after_ts(const char *line)
{
    assert_true(strlen(line) > 28);
    return line + 28;
}

static void test_line_format(void **state)
{
    LOG_INFO("router", "session opened", "node=%s credit=%d", "DE", 100);
    assert_int_equal(s_cap.count, 1);
    assert_int_equal(s_cap.last_level, LOG_LEVEL_INFO);
    const char *l = s_cap.last;
    /* ts=2026-11-27T15:09:42.123Z */
    assert_memory_equal(l, "ts=", 3);
    for (int i = 3; i < 27; i++) {
        char c = l[i];
        switch (i - 3) {
        case 4: case 7: assert_int_equal(c, '-'); break;
        case 10: assert_int_equal(c, 'T'); break;
        case 13: case 16: assert_int_equal(c, ':'); break;
        case 19: assert_int_equal(c, '.'); break;
        case 23: assert_int_equal(c, 'Z'); break;
        default: assert_true(c >= '0' && c <= '9'); break;
        }
    }
    assert_int_equal(l[27], ' ');
    assert_string_equal(s_after_ts(l),
                        "level=info comp=router msg=\"session opened\" node=DE credit=100");
}

static void test_no_tail(void **state)
{
    LOG_WARN("auth", "bad certificate", NULL);
    assert_string_equal(s_after_ts(s_cap.last), "level=warn comp=auth msg=\"bad certificate\"");
    LOG_ERROR("store", "map full", "node=DE"); /* a kv format with no arguments */
    assert_string_equal(s_after_ts(s_cap.last),
                        "level=error comp=store msg=\"map full\" node=DE");
    LOG_DEBUG("x", "y", "%s", "");
    assert_string_equal(s_after_ts(s_cap.last), "level=debug comp=x msg=\"y\""); /* empty tail */
    log_write(LOG_LEVEL_INFO, NULL, NULL, NULL);
    assert_string_equal(s_after_ts(s_cap.last), "level=info comp=- msg=\"\"");
    assert_int_equal(s_cap.count, 4);
}

static void test_level_filtering(void **state)
{
    log_set_level(LOG_LEVEL_WARN);
    assert_int_equal(log_get_level(), LOG_LEVEL_WARN);
    assert_true(log_enabled(LOG_LEVEL_ERROR));
    assert_true(log_enabled(LOG_LEVEL_WARN));
    assert_false(log_enabled(LOG_LEVEL_INFO));
    assert_false(log_enabled(LOG_LEVEL_DEBUG));

    LOG_INFO("t", "off", "n=%d", s_count_call());
    LOG_DEBUG("t", "off", "n=%d", s_count_call());
    log_write(LOG_LEVEL_DEBUG, "t", "off", NULL); /* the function filters too */
    assert_int_equal(s_evaluated, 0);
    assert_int_equal(s_cap.count, 0);

    LOG_WARN("t", "on", "n=%d", s_count_call());
    LOG_ERROR("t", "on", "n=%d", s_count_call());
    assert_int_equal(s_evaluated, 2);
    assert_int_equal(s_cap.count, 2);
    assert_non_null(strstr(s_cap.last, "level=error comp=t msg=\"on\" n=2"));

    log_set_level(LOG_LEVEL_ERROR);
    LOG_WARN("t", "off", "n=%d", s_count_call());
    assert_int_equal(s_evaluated, 2);

    log_set_level((log_level)42); /* clamped */
    assert_int_equal(log_get_level(), LOG_LEVEL_DEBUG);
    log_set_level((log_level)-1);
    assert_int_equal(log_get_level(), LOG_LEVEL_ERROR);
}

static void test_level_names(void **state)
{
    static const struct {
        const char *text;
        log_level lvl;
    } ok[] = {
        {"error", LOG_LEVEL_ERROR}, {"warn", LOG_LEVEL_WARN},   {"warning", LOG_LEVEL_WARN},
        {"info", LOG_LEVEL_INFO},   {"debug", LOG_LEVEL_DEBUG}, {"DEBUG", LOG_LEVEL_DEBUG},
        {"Info", LOG_LEVEL_INFO},
    };
    log_level l;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        l = (log_level)-1;
        assert_int_equal(log_level_parse(ok[i].text, &l), 0);
        assert_int_equal(l, ok[i].lvl);
    }
    l = LOG_LEVEL_INFO;
    assert_int_equal(log_level_parse("verbose", &l), -1);
    assert_int_equal(log_level_parse("", &l), -1);
    assert_int_equal(log_level_parse(NULL, &l), -1);
    assert_int_equal(l, LOG_LEVEL_INFO);
    assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
    assert_string_equal(log_level_name((log_level)9), "unknown");
    assert_string_equal(log_level_names[LOG_LEVEL_DEBUG], "debug");
    assert_null(log_level_names[4]);
}

static void test_msg_escaping(void **state)
{
    LOG_INFO("t", "say \"hi\"\\ now\nplease\t\x01", NULL);
    assert_string_equal(s_after_ts(s_cap.last),
                        "level=info comp=t msg=\"say \\\"hi\\\"\\\\ now\\nplease\\t\\x01\"");
    /* Control characters in a raw tail cannot split the line nor forge a key:
       what does not parse goes, escaped, into rest="...". */
    LOG_INFO("t", "m", "v=%s", "a\nts=forged\r");
    assert_string_equal(s_after_ts(s_cap.last),
                        "level=info comp=t msg=\"m\" rest=\"v=a\\nts=forged\\r\"");
    /* ... and through LOG_Q() it is one quoted value. */
    LOG_INFO("t", "m", "v=%s n=%d", LOG_Q("a\nts=forged\r"), 7);
    assert_string_equal(s_after_ts(s_cap.last),
                        "level=info comp=t msg=\"m\" v=\"a\\nts=forged\\r\" n=7");
    assert_int_equal(s_cap.bad, 0);
    /* A component that needs quotes gets them. */
    LOG_INFO("my comp", "m", NULL);
    assert_non_null(strstr(s_cap.last, " comp=\"my comp\" "));
}

static void test_quote(void **state)
{
    char buf[64];
    assert_string_equal(log_quote(buf, sizeof buf, "DE"), "DE");
    assert_string_equal(log_quote(buf, sizeof buf, "a\\b"), "a\\b"); /* no quoting needed */
    assert_string_equal(log_quote(buf, sizeof buf, "a b"), "\"a b\"");
    assert_string_equal(log_quote(buf, sizeof buf, "a=b"), "\"a=b\"");
    assert_string_equal(log_quote(buf, sizeof buf, "a\"b\\"), "\"a\\\"b\\\\\"");
    assert_string_equal(log_quote(buf, sizeof buf, "x\ny"), "\"x\\ny\"");
    assert_string_equal(log_quote(buf, sizeof buf, "\x7f"), "\"\\x7f\"");
    assert_string_equal(log_quote(buf, sizeof buf, ""), "\"\"");
    assert_string_equal(log_quote(buf, sizeof buf, NULL), "\"\"");
    assert_ptr_equal(log_quote(buf, sizeof buf, "x"), buf);

    /* Cut values end in "..." and stay inside the buffer. */
    assert_string_equal(log_quote(buf, 10, "abcdefghijklmnop"), "abcde...");
    assert_string_equal(log_quote(buf, 10, "hello world foo"), "\"hell...\"");
    /* A cut never splits an escape sequence. */
    assert_string_equal(log_quote(buf, 12, "\x01\x01\x01"), "\"\\x01...\"");
    assert_string_equal(log_quote(buf, 16, "\x01\x01\x01"), "\"\\x01\\x01\\x01\"");

    LOG_INFO("t", "m", "peer=%s", log_quote(buf, sizeof buf, "Bundesamt für Migration"));
    assert_non_null(strstr(s_cap.last, " peer=\"Bundesamt für Migration\""));
}

static void test_truncation(void **state)
{
    static char big[LOG_LINE_MAX * 3];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';

    LOG_INFO("t", "long tail", "v=%s", big);
    size_t n = strlen(s_cap.last);
    assert_true(n <= LOG_LINE_MAX - 1);
    assert_true(n > LOG_LINE_MAX - 10);
    assert_string_equal(s_cap.last + n - 4, "a...");

    LOG_INFO("t", big, "after=1");
    n = strlen(s_cap.last);
    assert_true(n <= LOG_LINE_MAX - 1);
    assert_string_equal(s_cap.last + n - 4, "...\""); /* the cut msg keeps its closing quote */
    assert_true(logfmt_valid(s_cap.last));
    assert_null(strstr(s_cap.last, "after=1"));

    /* Escapes near the end are not split. */
    memset(big, '\x01', LOG_LINE_MAX);
    big[LOG_LINE_MAX] = '\0';
    LOG_INFO("t", "m", "v=%s", LOG_Q(big));
    n = strlen(s_cap.last);
    assert_true(n <= LOG_LINE_MAX - 1);
    assert_string_equal(s_cap.last + n - 8, "\\x01...\"");
    assert_true(logfmt_valid(s_cap.last));
    LOG_INFO("t", "m", "v=%s", big); /* raw: into rest="...", cut the same way */
    n = strlen(s_cap.last);
    assert_true(n <= LOG_LINE_MAX - 1);
    assert_string_equal(s_cap.last + n - 8, "\\x01...\"");
    assert_true(logfmt_valid(s_cap.last));
    assert_int_equal(s_cap.bad, 0);
}

static void test_stderr_default(void **state)
{
    char tmpl[] = "/tmp/asylink-test-log-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);

    log_set_sink(NULL, NULL);
    LOG_INFO("t", "to stderr", "n=%d", 1);
    LOG_INFO("t", "again", NULL);
    log_set_sink(s_sink, &s_cap);

    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    char buf[512];
    ssize_t got = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    unlink(tmpl);
    assert_true(got > 0);
    buf[got] = '\0';
    assert_int_equal(s_cap.count, 0);
    char *nl = strchr(buf, '\n');
    assert_non_null(nl);
    assert_non_null(strstr(buf, "msg=\"to stderr\" n=1\nts="));
    const char *want = "comp=t msg=\"again\"\n";
    assert_string_equal(buf + strlen(buf) - strlen(want), want);
}

/* Logs a burst of lines from one thread. */
static void *s_thread(void *arg)
{
    for (int i = 0; i < 500; i++)
        LOG_INFO("thread", "tick", "id=%d i=%d pad=%s", (int)(intptr_t)arg, i,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t t[4];
    for (intptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, s_thread, (void *)i), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(s_cap.count, 2000); /* the sink is never called concurrently */
    assert_int_equal(s_cap.bad, 0);
}

/* Values that break naive logfmt writers. */
static const char *const s_tricky[] = {
    "",
    " ",
    "two words",
    "a=b",
    "=",
    "\"",
    "say \"hi\"",
    "back\\slash",
    "\\\"",
    "trailing\\",
    "line\nts=2026-01-01T00:00:00.000Z level=error msg=\"forged\"",
    "cr\rlf\r\n",
    "tab\there",
    "\x01\x02\x1f\x7f",
    "Bundesamt f\303\274r Migration und Fl\303\274chtlinge", /* UTF-8 */
    "/var/lib/asylink/data dir/with spaces",
    "key= value",
    "\\x41 is not an escape here",
    "...",
    "\"\"\"",
};

/* Each tricky value through LOG_Q: the line parses and gives the value back. */
static void test_tricky_values_read_back(void **state)
{
    for (size_t i = 0; i < sizeof s_tricky / sizeof s_tricky[0]; i++) {
        LOG_WARN("auth", s_tricky[i], "path=%s node=DE n=%d error=%s", LOG_Q(s_tricky[i]), 5,
                 LOG_Q(s_tricky[i]));
        char got[512];
        assert_true(logfmt_valid(s_cap.last));
        assert_int_equal(logfmt_get(s_cap.last, "path", got, sizeof got), strlen(s_tricky[i]));
        assert_string_equal(got, s_tricky[i]);
        assert_int_equal(logfmt_get(s_cap.last, "msg", got, sizeof got), strlen(s_tricky[i]));
        assert_string_equal(got, s_tricky[i]);
        assert_int_equal(logfmt_get(s_cap.last, "error", got, sizeof got), strlen(s_tricky[i]));
        assert_string_equal(got, s_tricky[i]);
        assert_int_equal(logfmt_get(s_cap.last, "node", got, sizeof got), 2);
        assert_string_equal(got, "DE");
        assert_int_equal(logfmt_get(s_cap.last, "level", got, sizeof got), 4);
        assert_string_equal(got, "warn");
        assert_int_equal(logfmt_get(s_cap.last, "ts", got, sizeof got), 24);
        /* the forged "level=error" inside a value is not a key of the line */
        assert_int_equal(logfmt_get(s_cap.last, "rest", got, sizeof got), -1);
    }
    assert_int_equal(s_cap.bad, 0);
}

/* A raw "%s" (the mistake LOG_Q prevents) still gives a valid line, keeping the text. */
static void test_raw_values_stay_valid(void **state)
{
    for (size_t i = 0; i < sizeof s_tricky / sizeof s_tricky[0]; i++) {
        LOG_INFO("main", "cannot load", "node=DE path=%s code=IO", s_tricky[i]);
        char got[512], want[600];
        assert_true(logfmt_valid(s_cap.last));
        /* either the tail parsed as it was meant, or all of it is in rest */
        snprintf(want, sizeof want, "node=DE path=%s code=IO", s_tricky[i]);
        if (logfmt_get(s_cap.last, "rest", got, sizeof got) >= 0) {
            assert_string_equal(got, want);
            assert_int_equal(logfmt_get(s_cap.last, "node", got, sizeof got), -1);
        } else if (strspn(s_tricky[i], " ") == strlen(s_tricky[i])) {
            /* blanks only: "path=  code=IO" is valid, with an empty path */
            assert_int_equal(logfmt_get(s_cap.last, "path", got, sizeof got), 0);
        } else {
            assert_int_equal(logfmt_get(s_cap.last, "node", got, sizeof got), 2);
            assert_true(logfmt_get(s_cap.last, "path", got, sizeof got) >= 0);
            assert_string_equal(got, s_tricky[i]);
        }
    }
}

/* The reader: valid and invalid lines, pairs, escapes. */
static void test_logfmt_parse(void **state)
{
    static const char *const good[] = {
        "",
        "a=b",
        "a=",
        "a=\"\" b=c",
        "k=\"x\\\"y\\\\z\\n\\r\\t\\x7f\"",
        "ts=2026-11-27T15:09:42.123Z level=info msg=\"a b\" node=DE",
        "k=\xc3\xbc",
        "a=1  b=2", /* several spaces between pairs */
    };
    static const char *const bad[] = {
        "a",          "=b",       "a=b=c",       "a=\"unterminated", "a=\"x\"y",
        "a=\"x\ny\"", "a=b\nc=d", "a=\"\\q\"",   "a=\"\\x4\"",       "a=x\"y",
        "a=\"\x01\"", "a\x7f=b",  "a=b \"c\"=d",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(logfmt_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(logfmt_valid(bad[i]));

    const char *p = "k=\"x\\\"y\" n=42";
    logfmt_pair pair;
    char v[16];
    assert_int_equal(logfmt_next(&p, &pair), 1);
    assert_int_equal(pair.key_len, 1);
    assert_true(pair.quoted);
    assert_int_equal(logfmt_unescape(&pair, v, sizeof v), 3);
    assert_string_equal(v, "x\"y");
    assert_int_equal(logfmt_next(&p, &pair), 1);
    assert_false(pair.quoted);
    assert_int_equal(logfmt_unescape(&pair, v, sizeof v), 2);
    assert_int_equal(logfmt_next(&p, &pair), 0);
    /* a value that does not fit the caller's buffer */
    assert_int_equal(logfmt_unescape(&pair, v, 2), -1);
    assert_int_equal(logfmt_get("a=1 b=\"\\x41\"", "b", v, sizeof v), 1);
    assert_string_equal(v, "A");
    assert_int_equal(logfmt_get("a=1", "b", v, sizeof v), -1);
    assert_int_equal(logfmt_get("a=1 b c=2", "c", v, sizeof v), -1); /* invalid before it */
}

/* Lines cut at every length stay valid, whatever is being written where the cut falls. */
static void test_cut_lines_stay_valid(void **state)
{
    static char v[LOG_LINE_MAX * 2];
    static const char pattern[] = "a \"b\\\n\x01=\xc3\xbc";
    for (size_t len = LOG_LINE_MAX - 300; len < LOG_LINE_MAX + 40; len += 1) {
        for (size_t i = 0; i < len; i++)
            v[i] = pattern[i % (sizeof pattern - 1)];
        v[len] = '\0';
        LOG_INFO("t", "m", "one=%s two=%s", LOG_Q(v), v);
        assert_true(strlen(s_cap.last) <= LOG_LINE_MAX - 1);
        assert_true(logfmt_valid(s_cap.last));
        char buf[LOG_LINE_MAX];
        LOG_INFO("t", v, "k=%s", v);
        assert_true(logfmt_valid(s_cap.last));
        assert_true(logfmt_get(s_cap.last, "level", buf, sizeof buf) == 4);
        /* a small buffer for logfmt itself */
        logfmt_buf b;
        char small[40];
        logfmt_buf_init(&b, small, sizeof small - 1);
        logfmt_put(&b, "a", "x");
        logfmt_put_tail(&b, v + (len % 50));
        assert_true(logfmt_valid(logfmt_buf_finish(&b)));
    }
    assert_int_equal(s_cap.bad, 0);
}

/*
 * Found by fuzz_text: a key longer than 4 bytes that did not fit, with 4
 * bytes of room left, left a cut position after the space before it, so
 * the line ended in " ..." (a key without '='): not logfmt. The logger
 * cuts its lines with the same code, so a long hostile value before such a
 * key did the same.
 */
static void test_cut_before_long_key(void **state)
{
    static char v[LOG_LINE_MAX];
    for (size_t len = LOG_LINE_MAX - 120; len < LOG_LINE_MAX; len++) {
        memset(v, 'x', len);
        v[len] = '\0';
        LOG_INFO("t", "m", "first=%s second_key=1", v);
        assert_true(strlen(s_cap.last) <= LOG_LINE_MAX - 1);
        if (!logfmt_valid(s_cap.last))
            fail_msg("not logfmt: ...%s", s_cap.last + strlen(s_cap.last) - 40);
    }
    char small[49];
    logfmt_buf b;
    logfmt_buf_init(&b, small, sizeof small - 1);
    logfmt_put(&b, "ts", "1");
    logfmt_put(&b, "bare", "node=DE ");
    logfmt_put_quoted(&b, "msg", "node=DE ");
    logfmt_put_tail(&b, "node=DE");
    logfmt_put(&b, "nodeDE", "v"); /* 4 bytes left: the key does not fit */
    assert_string_equal(logfmt_buf_finish(&b),
                        "ts=1 bare=\"node=DE \" msg=\"node=DE \" node=DE" LOGFMT_CUT_MARK);
    assert_int_equal(s_cap.bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_format, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_tail, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_level_filtering, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_level_names, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_msg_escaping, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_quote, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_truncation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stderr_default, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_threads, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tricky_values_read_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_raw_values_stay_valid, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_logfmt_parse, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cut_lines_stay_valid, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cut_before_long_key, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
