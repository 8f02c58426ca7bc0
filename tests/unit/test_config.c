/*
 * test_config.c — the option table: defaults, every type, the value parsers'
 * edge cases, file errors with their line numbers, PATH resolution, and the
 * example and Markdown writers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The struct a test program fills from its table. */
typedef struct test_cfg {
    char *name;          /* broker.name, STRING */
    int64_t workers;     /* broker.workers, INT 1..64 */
    int64_t offset;      /* broker.offset, INT unbounded */
    bool verbose;        /* broker.verbose, BOOL */
    uint64_t map_size;   /* store.map_size, SIZE 1MiB..1TiB */
    char *dir;           /* store.dir, PATH, relative default */
    char *key_file;      /* store.key_file, PATH, optional, empty default */
    uint64_t timeout_ms; /* net.timeout, DURATION 100ms..1d */
    int level;           /* log.level, ENUM */
} test_cfg;

static const char *const s_levels[] = {"error", "warn", "info", "debug", NULL};

static const config_option s_table[] = {
    {"broker", "name", CONFIG_STRING, "asylink", offsetof(test_cfg, name), 0, 0, NULL,
     "Name of this broker in logs."},
    {"broker", "workers", CONFIG_INT, "4", offsetof(test_cfg, workers), 1, 64, NULL,
     "Worker threads."},
    {"broker", "offset", CONFIG_INT, "0", offsetof(test_cfg, offset), 0, 0, NULL,
     "An unbounded integer | with a pipe."},
    {"broker", "verbose", CONFIG_BOOL, "no", offsetof(test_cfg, verbose), 0, 0, NULL,
     "Log more."},
    {"store", "map_size", CONFIG_SIZE, "512MiB", offsetof(test_cfg, map_size), 1 << 20,
     1ll << 40, NULL, "Maximum size of the LMDB map."},
    {"store", "dir", CONFIG_PATH, "data", offsetof(test_cfg, dir), 0, 0, NULL,
     "Store directory."},
    {"store", "key_file", CONFIG_PATH, "", offsetof(test_cfg, key_file), 0, 0, NULL,
     "Optional key file."},
    {"net", "timeout", CONFIG_DURATION, "30s", offsetof(test_cfg, timeout_ms), 100,
     86400000, NULL, "Session idle timeout."},
    {"log", "level", CONFIG_ENUM, "info", offsetof(test_cfg, level), 0, 0, s_levels,
     "Log level."},
};
#define S_N CONFIG_TABLE_LEN(s_table)

/* The struct for the table with a required option. */
typedef struct test_req {
    char *cert;    /* tls.cert, PATH, required */
    int64_t port;  /* tls.port, INT, optional */
} test_req;

static const config_option s_req_table[] = {
    {"tls", "cert", CONFIG_PATH, NULL, offsetof(test_req, cert), 0, 0, NULL,
     "Certificate of this broker."},
    {"tls", "port", CONFIG_INT, "7000", offsetof(test_req, port), 1, 65535, NULL, "Port."},
};
#define S_REQ_N CONFIG_TABLE_LEN(s_req_table)

/* Temporary directory of this test run (mkdtemp), absolute and resolved. */
static char s_tmp[PATH_MAX];

static int s_group_setup(void **state)
{
    char tmpl[] = "/tmp/asylink-test-config-XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, s_tmp))
        return -1;
    return 0;
}

static int s_group_teardown(void **state)
{
    DIR *d = opendir(s_tmp);
    struct dirent *e;
    char p[PATH_MAX + 256];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", s_tmp, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    return rmdir(s_tmp);
}

/* Writes content to s_tmp/name; returns the path in a static buffer. */
static const char *s_write(const char *name, const char *content, size_t len)
{
    static char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", s_tmp, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Writes a text file. */
static const char *s_write_text(const char *name, const char *content)
{
    return s_write(name, content, strlen(content));
}

/* Loads content into a fresh test_cfg; returns config_load_file's result. */
static int s_load(const char *content, test_cfg *cfg, config_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    const char *path = s_write_text("t.ini", content);
    return config_load_file(path, s_table, S_N, cfg, err);
}

/* Loads content that must fail; checks the line and message substring. */
static void s_expect_error(const char *content, unsigned line, const char *section,
                           const char *key, const char *message_part)
{
    test_cfg cfg;
    config_error err;
    assert_int_equal(s_load(content, &cfg, &err), -1);
    assert_int_equal(err.line, line);
    assert_string_equal(err.section, section);
    assert_string_equal(err.key, key);
    if (!strstr(err.message, message_part))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, message_part);
    config_free(s_table, S_N, &cfg);
}

static void test_defaults(void **state)
{
    test_cfg cfg;
    config_error err;
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(config_set_defaults(s_table, S_N, &cfg, &err), 0);
    assert_string_equal(cfg.name, "asylink");
    assert_int_equal(cfg.workers, 4);
    assert_false(cfg.verbose);
    assert_int_equal(cfg.map_size, 512ull << 20);
    assert_string_equal(cfg.dir, "data"); /* no file: left relative */
    assert_string_equal(cfg.key_file, "");
    assert_int_equal(cfg.timeout_ms, 30000);
    assert_int_equal(cfg.level, 2);
    /* Applying again frees the old strings (checked by ASan/valgrind). */
    assert_int_equal(config_set_defaults(s_table, S_N, &cfg, NULL), 0);
    config_free(s_table, S_N, &cfg);
    assert_null(cfg.name);
    assert_null(cfg.dir);
    config_free(s_table, S_N, &cfg); /* twice is fine */
}

static void test_required_default_is_zero(void **state)
{
    test_req req;
    memset(&req, 0, sizeof req);
    assert_int_equal(config_set_defaults(s_req_table, S_REQ_N, &req, NULL), 0);
    assert_null(req.cert);
    assert_int_equal(req.port, 7000);
}

static void test_invalid_default(void **state)
{
    static const config_option bad[] = {
        {"a", "b", CONFIG_SIZE, "12 parsecs", 0, 0, 0, NULL, "Bad default."},
    };
    uint64_t v = 0;
    config_error err;
    assert_int_equal(config_set_defaults(bad, 1, &v, &err), -1);
    assert_string_equal(err.section, "a");
    assert_string_equal(err.key, "b");
    assert_non_null(strstr(err.message, "invalid default"));
}

static void test_parse_size(void **state)
{
    static const struct {
        const char *text;
        uint64_t want;
    } ok[] = {
        {"0", 0},
        {"1048576", 1048576},
        {"1B", 1},
        {"64KiB", 64 << 10},
        {"512MiB", 512ull << 20},
        {"512 MiB", 512ull << 20},
        {"2GiB", 2ull << 30},
        {"3TiB", 3ull << 40},
        {"1KB", 1000},
        {"1kB", 1000},
        {"5MB", 5000000},
        {"2GB", 2000000000},
        {"1TB", 1000000000000ull},
        {"007KiB", 7 << 10},
        {"18446744073709551615", UINT64_MAX},
        {"16777215TiB", 16777215ull << 40},
    };
    static const char *const bad[] = {
        "", "-1", "-0", "+5", "abc", "12abc", "512MiBx", "512 MiB x", "1.5GiB", "0x10",
        " 5", "5M", "5K", "5G", "5mib", "5Mib", "MiB", "1e6",
        "18446744073709551616", "16777216TiB", "99999999999999999999999GiB",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 12345;
        if (config_parse_size(ok[i].text, &v) != 0)
            fail_msg("\"%s\" rejected", ok[i].text);
        assert_int_equal(v, ok[i].want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 12345;
        if (config_parse_size(bad[i], &v) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(v, 12345);
    }
    assert_int_equal(config_parse_size(NULL, &(uint64_t){0}), -1);
}

static void test_parse_duration(void **state)
{
    static const struct {
        const char *text;
        uint64_t want;
    } ok[] = {
        {"0", 0},          {"0ms", 0},         {"250ms", 250},
        {"30s", 30000},    {"5m", 300000},     {"1h", 3600000},
        {"7d", 604800000}, {"90 m", 5400000},  {"18446744073709551615ms", UINT64_MAX},
        {"213503982334d", 213503982334ull * 86400000ull},
    };
    static const char *const bad[] = {
        "", "30", "1", "-1s", "-0s", "+1s", "1.5s", "s", "ms", "1w", "1 h x", "1S", "1H",
        "1hour", "1h30m", "0x10s", "213503982335d", "18446744073709551616ms",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 12345;
        if (config_parse_duration_ms(ok[i].text, &v) != 0)
            fail_msg("\"%s\" rejected", ok[i].text);
        assert_int_equal(v, ok[i].want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 12345;
        if (config_parse_duration_ms(bad[i], &v) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(v, 12345);
    }
}

static void test_parse_bool(void **state)
{
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes", "ON"};
    static const char *const no[] = {"false", "no", "off", "0", "False", "NO", "Off"};
    static const char *const bad[] = {"", "2", "y", "n", "yess", "true ", "-1", "enable"};
    bool b;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        b = false;
        assert_int_equal(config_parse_bool(yes[i], &b), 0);
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        b = true;
        assert_int_equal(config_parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = true;
        if (config_parse_bool(bad[i], &b) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_true(b);
    }
}

static void test_load_every_type(void **state)
{
    test_cfg cfg;
    config_error err;
    const char *ini = "# comment\n"
                      "; another comment\n"
                      "[broker]\n"
                      "name = \"de-bamf-1\"\n"
                      "workers = 16 ; inline comment\n"
                      "offset = -9223372036854775808\n"
                      "  verbose = YES\n"
                      "\n"
                      "[store]\r\n"
                      "map_size = 2GiB\r\n"
                      "dir = /var/lib/asylink\n"
                      "[net]\n"
                      "timeout = 250ms\n"
                      "[log]\n"
                      "level = Debug"; /* no final newline */
    int rc = s_load(ini, &cfg, &err);
    if (rc != 0)
        fail_msg("load failed: %s", err.message);
    assert_string_equal(cfg.name, "de-bamf-1");
    assert_int_equal(cfg.workers, 16);
    assert_true(cfg.offset == INT64_MIN);
    assert_true(cfg.verbose);
    assert_int_equal(cfg.map_size, 2ull << 30);
    assert_string_equal(cfg.dir, "/var/lib/asylink");
    assert_string_equal(cfg.key_file, ""); /* empty optional path stays empty */
    assert_int_equal(cfg.timeout_ms, 250);
    assert_int_equal(cfg.level, 3);
    config_free(s_table, S_N, &cfg);
}

static void test_relative_paths(void **state)
{
    test_cfg cfg;
    config_error err;
    char want[PATH_MAX + 64];
    assert_int_equal(s_load("[store]\nkey_file = keys/broker.key\n", &cfg, &err), 0);
    snprintf(want, sizeof want, "%s/keys/broker.key", s_tmp);
    assert_string_equal(cfg.key_file, want);
    /* The relative default is resolved the same way. */
    snprintf(want, sizeof want, "%s/data", s_tmp);
    assert_string_equal(cfg.dir, want);
    config_free(s_table, S_N, &cfg);

    /* A relative config path: the directory is made absolute. */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(s_tmp), 0);
    memset(&cfg, 0, sizeof cfg);
    s_write_text("rel.ini", "[store]\ndir = ./here\n");
    int rc = config_load_file("rel.ini", s_table, S_N, &cfg, &err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    snprintf(want, sizeof want, "%s/./here", s_tmp);
    assert_string_equal(cfg.dir, want);
    config_free(s_table, S_N, &cfg);
}

static void test_unknown_key_and_section(void **state)
{
    s_expect_error("[broker]\nname = x\n\n[store]\nmap_sise = 1GiB\n", 5, "store", "map_sise",
                   "unknown key");
    s_expect_error("# c\n[stroe]\nmap_size = 1GiB\n", 3, "stroe", "map_size",
                   "unknown section");
    s_expect_error("name = x\n", 1, "", "name", "outside of any [section]");
}

static void test_duplicate_key(void **state)
{
    s_expect_error("[broker]\nworkers = 2\n[store]\ndir = a\n[broker]\nworkers = 3\n", 6,
                   "broker", "workers", "already set on line 2");
}

static void test_bad_values(void **state)
{
    s_expect_error("[broker]\nworkers = 65\n", 2, "broker", "workers",
                   "must be in the range 1 .. 64, got \"65\"");
    s_expect_error("[broker]\nworkers = 0\n", 2, "broker", "workers", "range");
    s_expect_error("[broker]\nworkers = -3\n", 2, "broker", "workers", "range");
    s_expect_error("[broker]\nworkers = 4x\n", 2, "broker", "workers",
                   "expected an integer like 42, got \"4x\"");
    s_expect_error("[broker]\noffset = 9223372036854775808\n", 2, "broker", "offset",
                   "too large");
    s_expect_error("[broker]\noffset = -9223372036854775809\n", 2, "broker", "offset",
                   "too large");
    s_expect_error("[broker]\nworkers =\n", 2, "broker", "workers",
                   "empty value, expected an integer like 42");
    s_expect_error("[broker]\nverbose = maybe\n", 2, "broker", "verbose", "true/false");
    s_expect_error("[store]\nmap_size = abc\n", 2, "store", "map_size",
                   "expected a size like 512MiB, got \"abc\"");
    s_expect_error("[store]\nmap_size = -1GiB\n", 2, "store", "map_size", "negative");
    s_expect_error("[store]\nmap_size = 2TiB\n", 2, "store", "map_size",
                   "must be in the range 1MiB .. 1TiB, got \"2TiB\"");
    s_expect_error("[store]\nmap_size = 99999999999999999999\n", 2, "store", "map_size",
                   "too large");
    s_expect_error("[net]\ntimeout = 30\n", 2, "net", "timeout", "missing unit");
    s_expect_error("[net]\ntimeout = 50ms\n", 2, "net", "timeout", "100ms .. 1d");
    s_expect_error("[net]\ntimeout = \"\"\n", 2, "net", "timeout", "empty value");
    s_expect_error("[log]\nlevel = loud\n", 2, "log", "level",
                   "expected one of error, warn, info, debug, got \"loud\"");
}

static void test_error_format(void **state)
{
    test_cfg cfg;
    config_error err;
    char line[512], want[PATH_MAX + 128];
    assert_int_equal(s_load("[broker]\nname = a\n\n\n\n\n\n\n\n\n\n[store]\nmap_size = abc\n",
                            &cfg, &err), -1);
    config_error_format(&err, line, sizeof line);
    snprintf(want, sizeof want,
             "%s/t.ini:13: [store] map_size: expected a size like 512MiB, got \"abc\"", s_tmp);
    assert_string_equal(line, want);
    config_free(s_table, S_N, &cfg);

    /* Hostile bytes come back escaped and cut. */
    char big[200];
    snprintf(big, sizeof big, "[store]\nmap_size = \x1b[31m%0120d\n", 7);
    assert_int_equal(s_load(big, &cfg, &err), -1);
    assert_int_equal(err.line, 2);
    assert_null(strchr(err.message, '\x1b'));
    assert_non_null(strstr(err.message, "\\x1b[31m"));
    assert_non_null(strstr(err.message, "...\""));
    config_free(s_table, S_N, &cfg);

    config_error e;
    memset(&e, 0, sizeof e);
    snprintf(e.section, sizeof e.section, "tls");
    snprintf(e.key, sizeof e.key, "cert");
    snprintf(e.message, sizeof e.message, "required option is missing");
    config_error_format(&e, line, sizeof line);
    assert_string_equal(line, "[tls] cert: required option is missing");
    snprintf(e.file, sizeof e.file, "broker.ini");
    config_error_format(&e, line, sizeof line);
    assert_string_equal(line, "broker.ini: [tls] cert: required option is missing");
    config_error_format(&e, line, 11);
    assert_string_equal(line, "broker.ini");
}

static void test_required(void **state)
{
    test_req req;
    config_error err;
    char want[PATH_MAX + 64];
    const char *path = s_write_text("req.ini", "[tls]\nport = 7001\n");
    memset(&req, 0, sizeof req);
    assert_int_equal(config_load_file(path, s_req_table, S_REQ_N, &req, &err), -1);
    assert_int_equal(err.line, 0);
    assert_string_equal(err.key, "cert");
    assert_string_equal(err.message, "required option is missing");
    config_free(s_req_table, S_REQ_N, &req);

    path = s_write_text("req.ini", "[tls]\ncert =\n");
    assert_int_equal(config_load_file(path, s_req_table, S_REQ_N, &req, &err), -1);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.message, "must not be empty"));
    config_free(s_req_table, S_REQ_N, &req);

    path = s_write_text("req.ini", "[tls]\ncert = broker.crt\n");
    assert_int_equal(config_load_file(path, s_req_table, S_REQ_N, &req, &err), 0);
    snprintf(want, sizeof want, "%s/broker.crt", s_tmp);
    assert_string_equal(req.cert, want);
    assert_int_equal(req.port, 7000);
    config_free(s_req_table, S_REQ_N, &req);
}

static void test_syntax_errors(void **state)
{
    s_expect_error("[broker]\nname = a\njunk line\nworkers = 2\n", 3, "", "", "syntax error");
    s_expect_error("[broker\nname = a\n", 1, "", "", "syntax error");
    /* A syntax error before an error of ours wins, one after it does not. */
    s_expect_error("[broker]\nbogus\nnope = 1\n", 2, "", "", "syntax error");
    s_expect_error("[broker]\nnope = 1\nbogus\n", 2, "broker", "nope", "unknown key");
}

static void test_hostile_files(void **state)
{
    char big[600];
    memset(big, 'x', sizeof big);
    memcpy(big, "[broker]\nname = ", 16);
    big[sizeof big - 1] = '\n';
    test_cfg cfg;
    config_error err;
    const char *path = s_write("long.ini", big, sizeof big);
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(config_load_file(path, s_table, S_N, &cfg, &err), -1);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.message, "line is longer than"));
    config_free(s_table, S_N, &cfg);

    static const char nul[] = "[broker]\nname = a\0b\n";
    path = s_write("nul.ini", nul, sizeof nul - 1);
    assert_int_equal(config_load_file(path, s_table, S_N, &cfg, &err), -1);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.message, "NUL"));
    config_free(s_table, S_N, &cfg);

    assert_int_equal(config_load_file("/nonexistent/asylink.ini", s_table, S_N, &cfg, &err),
                     -1);
    assert_string_equal(err.file, "/nonexistent/asylink.ini");
    assert_non_null(strstr(err.message, "cannot open"));
    config_free(s_table, S_N, &cfg);

    assert_int_equal(config_load_file(s_tmp, s_table, S_N, &cfg, &err), -1); /* a directory */
    config_free(s_table, S_N, &cfg);

    /* An empty file is fine: all defaults. */
    path = s_write("empty.ini", "", 0);
    assert_int_equal(config_load_file(path, s_table, S_N, &cfg, NULL), 0);
    assert_int_equal(cfg.workers, 4);
    config_free(s_table, S_N, &cfg);
}

static void test_config_set(void **state)
{
    test_cfg cfg;
    config_error err;
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(config_set_defaults(s_table, S_N, &cfg, NULL), 0);
    assert_int_equal(config_set(s_table, S_N, &cfg, "store", "map_size", "1GiB", &err), 0);
    assert_int_equal(cfg.map_size, 1ull << 30);
    assert_int_equal(config_set(s_table, S_N, &cfg, "store", "dir", "rel/dir", &err), 0);
    assert_string_equal(cfg.dir, "rel/dir"); /* command line: relative to cwd */
    assert_int_equal(config_set(s_table, S_N, &cfg, "broker", "name", "x y", &err), 0);
    assert_string_equal(cfg.name, "x y");

    assert_int_equal(config_set(s_table, S_N, &cfg, "store", "map_size", "lots", &err), -1);
    assert_int_equal(cfg.map_size, 1ull << 30); /* unchanged */
    assert_string_equal(err.file, "");
    assert_int_equal(err.line, 0);
    assert_int_equal(config_set(s_table, S_N, &cfg, "broker", "name", "a\nb", &err), -1);
    assert_non_null(strstr(err.message, "control character"));
    assert_string_equal(cfg.name, "x y");
    assert_int_equal(config_set(s_table, S_N, &cfg, "store", "nope", "1", &err), -1);
    assert_string_equal(err.message, "unknown key");
    assert_int_equal(config_set(s_table, S_N, &cfg, "nope", "nope", "1", &err), -1);
    assert_string_equal(err.message, "unknown section");
    assert_int_equal(config_set(s_table, S_N, &cfg, "log", "level", "WARN", &err), 0);
    assert_int_equal(cfg.level, 1);
    assert_int_equal(config_set(s_table, S_N, &cfg, NULL, "x", "1", &err), -1);
    config_free(s_table, S_N, &cfg);
}

/* Runs a writer into a memory buffer; returns the malloc'd text. */
static char *s_capture(int (*writer)(FILE *, const config_option *, size_t),
                       const config_option *t, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    assert_int_equal(writer(f, t, n), 0);
    assert_int_equal(fclose(f), 0);
    /* A copy: GCC's -Wdangling-pointer (at -O2) takes the stream's buffer for the local text. */
    char *copy = strdup(text);
    free(text);
    assert_non_null(copy);
    return copy;
}

static void test_write_example(void **state)
{
    char *text = s_capture(config_write_example, s_table, S_N);
    char want[128];
    for (size_t i = 0; i < S_N; i++) {
        snprintf(want, sizeof want, "[%s]\n", s_table[i].section);
        assert_non_null(strstr(text, want));
        snprintf(want, sizeof want, "\n#%s = %s\n", s_table[i].name, s_table[i].default_value);
        if (!strstr(text, want))
            fail_msg("example lacks \"%s\"", want);
        assert_non_null(strstr(text, s_table[i].help));
    }
    assert_non_null(strstr(text, "range 1MiB .. 1TiB"));
    assert_non_null(strstr(text, "one of error, warn, info, debug"));
    /* Each section header appears once. */
    assert_null(strstr(strstr(text, "[broker]") + 1, "[broker]"));

    /* The example loads back to the defaults. */
    test_cfg cfg;
    config_error err;
    int rc = s_load(text, &cfg, &err);
    if (rc != 0)
        fail_msg("example does not load: line %u: %s", err.line, err.message);
    assert_int_equal(cfg.map_size, 512ull << 20);
    config_free(s_table, S_N, &cfg);
    free(text);

    text = s_capture(config_write_example, s_req_table, S_REQ_N);
    assert_non_null(strstr(text, "\ncert =\n"));
    assert_non_null(strstr(text, "Required."));
    free(text);
}

static void test_write_markdown(void **state)
{
    char *text = s_capture(config_write_markdown, s_table, S_N);
    char want[128];
    assert_non_null(strstr(text, "| Option | Type | Default | Range | Description |\n"));
    for (size_t i = 0; i < S_N; i++) {
        snprintf(want, sizeof want, "| `%s.%s` |", s_table[i].section, s_table[i].name);
        if (!strstr(text, want))
            fail_msg("markdown lacks \"%s\"", want);
    }
    assert_non_null(strstr(text, "with a pipe")); /* help with '|' is escaped */
    assert_non_null(strstr(text, "integer \\| with"));
    assert_non_null(strstr(text, "| size | `512MiB` | 1MiB .. 1TiB |"));
    free(text);

    text = s_capture(config_write_markdown, s_req_table, S_REQ_N);
    assert_non_null(strstr(text, "*required*"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_required_default_is_zero),
        cmocka_unit_test(test_invalid_default),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_bool),
        cmocka_unit_test(test_load_every_type),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_unknown_key_and_section),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_error_format),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_config_set),
        cmocka_unit_test(test_write_example),
        cmocka_unit_test(test_write_markdown),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
