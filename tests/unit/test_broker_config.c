/*
 * test_broker_config.c — asylinkd's option table: the example broker.ini of
 * certs-example loads (and the files it names exist), defaults, required
 * keys, range errors with their line, the rules between options, and the
 * example and Markdown writers driven by the same table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "broker_config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asylink/asylink.h"
#include "log.h"
#include "policy.h"

/* Temporary directory of this test run. */
static char s_tmp[PATH_MAX];

/* Path of the file written by s_load_text (s_tmp/broker.ini). */
static char s_path[PATH_MAX + 32];

/* Last error text of s_load_text. */
static char s_err[512];

/* The required keys, for building test files. */
#define S_REQUIRED                                                                                 \
    "[broker]\n"                                                                                   \
    "node_id = BROKER.EU\n"                                                                        \
    "cert = broker.cert\n"                                                                         \
    "key = broker.key\n"                                                                           \
    "trust_dir = trust\n"                                                                          \
    "data_dir = data\n"                                                                            \
    "policy = policy.ini\n"

static int s_group_setup(void **state)
{
    char tmpl[] = "/tmp/asylink-test-bconf-XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, s_tmp))
        return -1;
    snprintf(s_path, sizeof s_path, "%s/broker.ini", s_tmp);
    return 0;
}

static int s_group_teardown(void **state)
{
    unlink(s_path);
    rmdir(s_tmp);
    return 0;
}

/* Writes text to s_path and loads it into *c; returns the load's code. */
static int s_load_text(const char *text, broker_config *c)
{
    FILE *f = fopen(s_path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    s_err[0] = '\0';
    return broker_config_load(s_path, c, s_err, sizeof s_err);
}

/* Loading text must fail; the error must start with path[:line] and hold want. */
static void s_expect_error(const char *text, unsigned line, const char *want)
{
    broker_config c;
    char where[PATH_MAX + 64];
    assert_int_equal(s_load_text(text, &c), ASYLINK_E_CONFIG);
    assert_null(c.node_id); /* freed and zeroed on error */
    assert_null(c.endpoint);
    if (line)
        snprintf(where, sizeof where, "%s:%u: ", s_path, line);
    else
        snprintf(where, sizeof where, "%s: ", s_path);
    if (strncmp(s_err, where, strlen(where)) != 0 || !strstr(s_err, want))
        fail_msg("error \"%s\" does not start with \"%s\" or lacks \"%s\"", s_err, where, want);
}

/* True if path ends with suffix. */
static bool s_ends_with(const char *path, const char *suffix)
{
    size_t pl = strlen(path), sl = strlen(suffix);
    return pl >= sl && strcmp(path + pl - sl, suffix) == 0;
}

static void test_example_loads(void **state)
{
    broker_config c;
    char err[512] = "";
    int rc =
        broker_config_load(ASYLINK_SOURCE_DIR "/certs-example/broker.ini", &c, err, sizeof err);
    if (rc != ASYLINK_OK)
        fail_msg("certs-example/broker.ini: %s", err);
    assert_string_equal(c.node_id, "BROKER.EU");
    assert_true(c.cert[0] == '/' &&
                s_ends_with(c.cert, "/certs-example/trust/nodes/BROKER.EU.cert"));
    assert_true(c.key[0] == '/' && s_ends_with(c.key, "/certs-example/keys/BROKER.EU.key"));
    assert_true(s_ends_with(c.trust_dir, "/certs-example/trust"));
    assert_true(s_ends_with(c.data_dir, "/certs-example/data"));
    assert_true(s_ends_with(c.policy, "/certs-example/policy.ini"));
    assert_string_equal(c.key_passphrase_file, "");
    assert_string_equal(c.endpoint, "tcp://127.0.0.1:7400");
    assert_string_equal(c.admin_endpoint, "tcp://127.0.0.1:7401");
    assert_string_equal(c.http_listen, "127.0.0.1:7480");
    assert_int_equal(c.log_level, LOG_LEVEL_INFO);

    /* The files it names are there, and the policy loads. */
    struct stat st;
    assert_int_equal(stat(c.cert, &st), 0);
    assert_int_equal(stat(c.key, &st), 0);
    assert_int_equal(stat(c.trust_dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    policy *p = NULL;
    rc = policy_load(c.policy, &p, err, sizeof err);
    if (rc != ASYLINK_OK)
        fail_msg("policy of broker.ini: %s", err);
    policy_destroy(&p);

    broker_config_free(&c);
    assert_null(c.node_id);
    broker_config_free(&c);
    broker_config_free(NULL);
}

static void test_defaults(void **state)
{
    broker_config c;
    assert_int_equal(s_load_text(S_REQUIRED, &c), ASYLINK_OK);
    assert_int_equal(c.map_size, 256ull << 20);
    assert_int_equal(c.max_map_size, 16ull << 30);
    assert_int_equal(c.durability, BROKER_DURABILITY_FSYNC);
    assert_int_equal(c.sync_interval_ms, 1000);
    assert_int_equal(c.dedup_window_ms, 7ull * 86400 * 1000);
    assert_int_equal(c.sweep_interval_ms, 10000);
    assert_int_equal(c.max_envelope_bytes, 33ull << 20);
    assert_int_equal(c.max_in_flight, 1000);
    assert_int_equal(c.max_recipients, 256);
    assert_int_equal(c.max_ack_batch, 1000);
    assert_int_equal(c.clock_skew_future_ms, 5 * 60 * 1000);
    assert_int_equal(c.max_deliveries, 10);
    assert_int_equal(c.redelivery_backoff_ms, 1000);
    assert_int_equal(c.redelivery_backoff_max_ms, 5 * 60 * 1000);
    assert_int_equal(c.heartbeat_interval_ms, 5000);
    assert_int_equal(c.heartbeat_timeout_ms, 30000);
    assert_int_equal(c.verify_threads, 0);
    assert_false(c.standby);
    assert_string_equal(c.endpoint, "tcp://127.0.0.1:7400");
    assert_string_equal(c.admin_endpoint, "tcp://127.0.0.1:7401");
    assert_string_equal(c.http_listen, "127.0.0.1:7480");
    assert_int_equal(c.log_level, LOG_LEVEL_INFO);
    /* Relative paths are resolved against the file's directory. */
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/data", s_tmp);
    assert_string_equal(c.data_dir, want);
    broker_config_free(&c);
}

static void test_every_option_set(void **state)
{
    broker_config c;
    assert_int_equal(s_load_text(S_REQUIRED "key_passphrase_file = /etc/asylink/pass\n"
                                            "endpoint = tcp://*:7500\n"
                                            "admin_endpoint =\n"
                                            "standby = true\n"
                                            "[store]\n"
                                            "map_size = 1GiB\n"
                                            "max_map_size = 1GiB\n"
                                            "durability = relaxed\n"
                                            "sync_interval = 250ms\n"
                                            "dedup_window = 30d\n"
                                            "sweep_interval = 1m\n"
                                            "[limits]\n"
                                            "max_envelope_bytes = 4MiB\n"
                                            "max_in_flight = 50\n"
                                            "max_recipients = 1\n"
                                            "max_ack_batch = 10\n"
                                            "clock_skew_future = 0\n"
                                            "max_deliveries = 3\n"
                                            "redelivery_backoff = 2s\n"
                                            "redelivery_backoff_max = 2s\n"
                                            "heartbeat_interval = 1s\n"
                                            "heartbeat_timeout = 2s\n"
                                            "[workers]\n"
                                            "verify_threads = 64\n"
                                            "[http]\n"
                                            "listen =\n"
                                            "[log]\n"
                                            "level = DEBUG\n",
                                 &c),
                     ASYLINK_OK);
    assert_string_equal(c.key_passphrase_file, "/etc/asylink/pass");
    assert_string_equal(c.endpoint, "tcp://*:7500");
    assert_string_equal(c.admin_endpoint, "");
    assert_true(c.standby);
    assert_int_equal(c.map_size, 1ull << 30);
    assert_int_equal(c.durability, BROKER_DURABILITY_RELAXED);
    assert_int_equal(c.sync_interval_ms, 250);
    assert_int_equal(c.sweep_interval_ms, 60000);
    assert_int_equal(c.max_envelope_bytes, 4ull << 20);
    assert_int_equal(c.max_recipients, 1);
    assert_int_equal(c.clock_skew_future_ms, 0);
    assert_int_equal(c.verify_threads, 64);
    assert_string_equal(c.http_listen, "");
    assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
    broker_config_free(&c);
}

static void test_required_missing(void **state)
{
    const char *keys[] = {"node_id", "cert", "key", "trust_dir", "data_dir", "policy", NULL};
    for (size_t i = 0; keys[i]; i++) {
        /* S_REQUIRED without keys[i]. */
        char text[512] = "[broker]\n";
        const char *lines[] = {"node_id = BROKER.EU\n", "cert = broker.cert\n",
                               "key = broker.key\n",    "trust_dir = trust\n",
                               "data_dir = data\n",     "policy = policy.ini\n"};
        for (size_t j = 0; j < 6; j++)
            if (j != i)
                strncat(text, lines[j], sizeof text - strlen(text) - 1);
        char want[128];
        snprintf(want, sizeof want, "[broker] %s: required option is missing", keys[i]);
        s_expect_error(text, 0, want);
    }
    s_expect_error("[broker]\nnode_id =\n", 2, "[broker] node_id: must not be empty");
    s_expect_error("", 0, "required option is missing");
}

static void test_table_errors_name_line(void **state)
{
    s_expect_error(S_REQUIRED "[limits]\nmax_recipients = 257\n", 9,
                   "[limits] max_recipients: must be in the range 1 .. 256");
    s_expect_error(S_REQUIRED "[limits]\nmax_recipients = 0\n", 9, "must be in the range");
    s_expect_error(S_REQUIRED "[limits]\nmax_envelope_bytes = 34MiB\n", 9,
                   "must be in the range 64KiB .. 33MiB");
    s_expect_error(S_REQUIRED "[limits]\nmax_envelope_bytes = 63KiB\n", 9,
                   "must be in the range 64KiB .. 33MiB");
    s_expect_error(S_REQUIRED "[workers]\nverify_threads = 65\n", 9, "must be in the range");
    s_expect_error(S_REQUIRED "[workers]\nverify_threads = -1\n", 9, "must be in the range");
    s_expect_error(S_REQUIRED "[store]\ndurability = sometimes\n", 9,
                   "[store] durability: expected one of fsync, relaxed");
    s_expect_error(S_REQUIRED "[store]\nmap_size = 256M\n", 9, "[store] map_size:");
    s_expect_error(S_REQUIRED "[limits]\nheartbeat_interval = 5\n", 9, "missing unit");
    /* The protocol's ceilings (DESIGN-CHANGES 55, 61): libasylink uses no more, so a broker
       announcing more is refused at load rather than silently overruled by every node. */
    s_expect_error(S_REQUIRED "[limits]\nheartbeat_interval = 61s\n", 9,
                   "[limits] heartbeat_interval: must be in the range 100ms .. 1m, got \"61s\"");
    s_expect_error(S_REQUIRED "[limits]\nheartbeat_interval = 1h\nheartbeat_timeout = 1d\n", 9,
                   "[limits] heartbeat_interval: must be in the range 100ms .. 1m");
    s_expect_error(S_REQUIRED "[limits]\nheartbeat_timeout = 301s\n", 9,
                   "[limits] heartbeat_timeout: must be in the range 1s .. 5m, got \"301s\"");
    s_expect_error(S_REQUIRED "[log]\nlevel = verbose\n", 9, "[log] level:");
    s_expect_error(S_REQUIRED "[broker]\nsecret = 1\n", 9, "[broker] secret: unknown key");
    s_expect_error(S_REQUIRED "[tls]\ncert = x\n", 9, "unknown section");
    s_expect_error(S_REQUIRED "node_id = DE\n", 8, "duplicate key");
}

static void test_cross_field_rules(void **state)
{
    s_expect_error(S_REQUIRED "[store]\nmap_size = 2GiB\nmax_map_size = 1GiB\n", 0,
                   "[store] max_map_size: must be at least map_size");
    s_expect_error(S_REQUIRED "[limits]\nheartbeat_interval = 5s\nheartbeat_timeout = 5s\n", 0,
                   "[limits] heartbeat_timeout: must be at least twice heartbeat_interval");
    s_expect_error(S_REQUIRED "[limits]\nheartbeat_interval = 5s\nheartbeat_timeout = 9s\n", 0,
                   "heartbeat_timeout");
    s_expect_error(S_REQUIRED "[limits]\nredelivery_backoff = 10s\nredelivery_backoff_max = 5s\n",
                   0, "[limits] redelivery_backoff_max: must be at least redelivery_backoff");
    s_expect_error("[broker]\nnode_id = broker.eu\ncert = c\nkey = k\ntrust_dir = t\n"
                   "data_dir = d\npolicy = p\n",
                   0, "[broker] node_id: not a valid node id");
    s_expect_error("[broker]\nnode_id = B\ncert = c\nkey = k\ntrust_dir = t\n"
                   "data_dir = d\npolicy = p\n",
                   0, "node_id");
    s_expect_error(S_REQUIRED "endpoint = http://127.0.0.1:7400\n", 0,
                   "[broker] endpoint: expected tcp://HOST:PORT (PORT * or 0-65535) or ipc://PATH");
    s_expect_error(S_REQUIRED "endpoint = tcp://127.0.0.1\n", 0, "[broker] endpoint:");
    /* The host and port rules a bind needs (ZeroMQ takes no service name, no source address). */
    static const char *const bad_binds[] = {
        "tcp://127.0.0.1:asylink",
        "tcp://127.0.0.1:70000",
        "tcp://127.0.0.1:-1",
        "tcp://10.0.0.1;10.0.0.2:7400",
        "tcp://a/b:7400",
        "tcp://b*:7400",
        "tcp://:7400",
    };
    for (size_t i = 0; i < sizeof bad_binds / sizeof bad_binds[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, S_REQUIRED "endpoint = %s\n", bad_binds[i]);
        s_expect_error(text, 0, "[broker] endpoint: expected tcp://HOST:PORT");
    }
    s_expect_error(S_REQUIRED "endpoint = tcp://127.0.0.1:7400\x01\n", 8,
                   "[broker] endpoint: contains a control character");
    s_expect_error(S_REQUIRED "admin_endpoint = tcp://127.0.0.1:x\n", 0,
                   "[broker] admin_endpoint: expected tcp://HOST:PORT (PORT * or 0-65535)");
    s_expect_error(S_REQUIRED "endpoint =\n", 0, "[broker] endpoint:");
    s_expect_error(S_REQUIRED "admin_endpoint = 127.0.0.1:7401\n", 0, "[broker] admin_endpoint:");
    s_expect_error(S_REQUIRED "endpoint = tcp://127.0.0.1:7400\n"
                              "admin_endpoint = tcp://127.0.0.1:7400\n",
                   0, "[broker] admin_endpoint: must differ from endpoint");
    s_expect_error(S_REQUIRED "endpoint = tcp://*:7400\n"
                              "admin_endpoint = tcp://127.0.0.1:7400\n",
                   0, "[broker] admin_endpoint: must differ from endpoint");
    s_expect_error(S_REQUIRED "endpoint = tcp://localhost:7400\n"
                              "admin_endpoint = tcp://127.0.0.1:7400\n",
                   0, "[broker] admin_endpoint: must differ from endpoint");
    s_expect_error(S_REQUIRED "endpoint = ipc:///run/asylink/b.sock\n"
                              "admin_endpoint = ipc:///run/asylink/b.sock\n",
                   0, "[broker] admin_endpoint: must differ from endpoint");
    s_expect_error(S_REQUIRED "[http]\nlisten = 7480\n", 0,
                   "[http] listen: expected IPV4-ADDRESS:PORT");
    s_expect_error(S_REQUIRED "[http]\nlisten = 127.0.0.1:70000\n", 0, "[http] listen:");
    s_expect_error(S_REQUIRED "[http]\nlisten = localhost:7480\n", 0, "[http] listen:");
    s_expect_error(S_REQUIRED "[http]\nlisten = [::1]:7480\n", 0, "[http] listen:");
    s_expect_error(S_REQUIRED "[http]\nlisten = 127.0.0.1:\n", 0, "[http] listen:");
    s_expect_error(S_REQUIRED "[http]\nlisten = 127.0.0.1:-1\n", 0, "[http] listen:");
    s_expect_error(S_REQUIRED "[http]\nlisten = :7480\n", 0, "[http] listen:");

    /* Allowed edge cases. */
    broker_config c;
    assert_int_equal(s_load_text(S_REQUIRED "endpoint = ipc:///run/asylink/broker.sock\n"
                                            "[http]\nlisten = 0.0.0.0:0\n"
                                            "[limits]\nheartbeat_interval = 5s\n"
                                            "heartbeat_timeout = 10s\n",
                                 &c),
                     ASYLINK_OK);
    broker_config_free(&c);
    /* Two ephemeral ports never clash (each bind gets its own); nor two hosts on one port. */
    assert_int_equal(s_load_text(S_REQUIRED "endpoint = tcp://127.0.0.1:*\n"
                                            "admin_endpoint = tcp://127.0.0.1:*\n",
                                 &c),
                     ASYLINK_OK);
    broker_config_free(&c);
    assert_int_equal(s_load_text(S_REQUIRED "endpoint = tcp://127.0.0.1:0\n"
                                            "admin_endpoint = tcp://127.0.0.1:0\n",
                                 &c),
                     ASYLINK_OK);
    broker_config_free(&c);
    assert_int_equal(s_load_text(S_REQUIRED "endpoint = tcp://eth0:7400\n"
                                            "admin_endpoint = tcp://[::1]:7401\n",
                                 &c),
                     ASYLINK_OK);
    broker_config_free(&c);
    assert_int_equal(s_load_text(S_REQUIRED "endpoint = tcp://10.0.0.2:7400\n"
                                            "admin_endpoint = tcp://127.0.0.1:7400\n",
                                 &c),
                     ASYLINK_OK);
    broker_config_free(&c);
}

static void test_validate_directly(void **state)
{
    broker_config c;
    char err[256] = "";
    assert_int_equal(s_load_text(S_REQUIRED, &c), ASYLINK_OK);
    assert_int_equal(broker_config_validate(&c, "x.ini", err, sizeof err), ASYLINK_OK);
    /* A command-line override goes through config_set, then validate again. */
    config_error e;
    assert_int_equal(config_set(broker_config_options, broker_config_options_len, &c, "store",
                                "max_map_size", "1MiB", &e),
                     0);
    assert_int_equal(broker_config_validate(&c, NULL, err, sizeof err), ASYLINK_E_CONFIG);
    assert_string_equal(err, "[store] max_map_size: must be at least map_size");
    broker_config_free(&c);
    assert_int_equal(broker_config_validate(&c, "x.ini", err, sizeof err), ASYLINK_E_CONFIG);
    assert_int_equal(broker_config_validate(NULL, NULL, NULL, 0), ASYLINK_E_CONFIG);
    assert_int_equal(broker_config_load("/nonexistent/asylink/broker.ini", &c, err, sizeof err),
                     ASYLINK_E_CONFIG);
    assert_non_null(strstr(err, "/nonexistent/asylink/broker.ini: cannot open"));
}

static void test_table_writers(void **state)
{
    /* Every default in the table parses and passes the range checks. */
    broker_config c;
    config_error e;
    memset(&c, 0, sizeof c);
    assert_int_equal(config_set_defaults(broker_config_options, broker_config_options_len, &c, &e),
                     0);
    broker_config_free(&c);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(config_write_example(f, broker_config_options, broker_config_options_len), 0);
    fclose(f);
    assert_non_null(strstr(buf, "[broker]\n"));
    assert_non_null(strstr(buf, "\nnode_id =\n"));
    assert_non_null(strstr(buf, "#durability = fsync\n"));
    assert_non_null(strstr(buf, "[log]\n"));
    /* Help texts are wrapped: the ini reader refuses lines of 200 bytes and more, and the
       packaged /etc/asylink/asylinkd.ini is this text (debian/rules). */
    for (const char *line = buf; *line;) {
        size_t n = strcspn(line, "\n");
        if (n > 78)
            fail_msg("example line of %zu columns: %.60s...", n, line);
        line += n + (line[n] == '\n');
    }
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(config_write_markdown(f, broker_config_options, broker_config_options_len), 0);
    fclose(f);
    assert_non_null(strstr(buf, "| `broker.node_id` | string | *required* |"));
    assert_non_null(strstr(buf, "| `limits.max_recipients` | integer | `256` | 1 .. 256 |"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_loads),          cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_option_set),       cmocka_unit_test(test_required_missing),
        cmocka_unit_test(test_table_errors_name_line), cmocka_unit_test(test_cross_field_rules),
        cmocka_unit_test(test_validate_directly),      cmocka_unit_test(test_table_writers),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
