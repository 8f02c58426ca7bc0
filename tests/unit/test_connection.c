/*
 * test_connection.c — the client's broker address list (broker_endpoint
 * with several addresses) and the connection file that `asylink status
 * --config` reads: every accepted and refused form of the list, the file
 * written by a client round-tripping through the reader, and hostile or
 * stale files.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asylink/asylink.h"
#include "client_internal.h"
#include "testfed.h"

/* ---- the address list ---- */

/* Parses list, expects n addresses equal to want[]. */
static void t_parse_ok(const char *list, const char *const *want, size_t n)
{
    char **eps = NULL;
    size_t got = 0;
    char err[256] = "";
    assert_int_equal(client_endpoints_parse(list, &eps, &got, err, sizeof err), ASYLINK_OK);
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(eps[i], want[i]);
    client_endpoints_free(&eps, got);
    assert_null(eps);
}

/* Expects list refused with a message containing why. */
static void t_parse_bad(const char *list, const char *why)
{
    char **eps = NULL;
    size_t got = 7;
    char err[256] = "";
    assert_int_equal(client_endpoints_parse(list, &eps, &got, err, sizeof err),
                     ASYLINK_E_INVALID_ARG);
    assert_null(eps);
    assert_int_equal(got, 0);
    if (!strstr(err, why))
        fail_msg("list \"%s\": error \"%s\" does not say \"%s\"", list, err, why);
    for (const unsigned char *p = (const unsigned char *)err; *p; p++)
        if (*p < 0x20 || *p >= 0x7f) /* the raw bytes are never echoed */
            fail_msg("error for \"%s\" holds byte 0x%02x: \"%s\"", list, *p, err);
}

static void test_single_address(void **state)
{
    (void)state;
    const char *one[] = {"tcp://127.0.0.1:7400"};
    t_parse_ok("tcp://127.0.0.1:7400", one, 1);
    t_parse_ok("  tcp://127.0.0.1:7400\t", one, 1);
    const char *ipc[] = {"ipc:///run/asylink/broker.sock"};
    t_parse_ok("ipc:///run/asylink/broker.sock", ipc, 1);
    const char *v6[] = {"tcp://[::1]:7400"};
    t_parse_ok("tcp://[::1]:7400", v6, 1);
    const char *name[] = {"tcp://broker.example.eu:7400"};
    t_parse_ok("tcp://broker.example.eu:7400", name, 1);
    const char *zone[] = {"tcp://[fe80::1%eth0]:7400"};
    t_parse_ok("tcp://[fe80::1%eth0]:7400", zone, 1);
    const char *under[] = {"tcp://broker_1.Example-EU.eu:7400"};
    t_parse_ok("tcp://broker_1.Example-EU.eu:7400", under, 1);
    const char *utf8_path[] = {"ipc:///run/asylink/br\xc3\xbcssel.sock"};
    t_parse_ok("ipc:///run/asylink/br\xc3\xbcssel.sock", utf8_path, 1);
}

static void test_several_addresses_in_order(void **state)
{
    (void)state;
    const char *two[] = {"tcp://10.0.0.1:7400", "tcp://10.0.0.2:7400"};
    t_parse_ok("tcp://10.0.0.1:7400,tcp://10.0.0.2:7400", two, 2);
    t_parse_ok("tcp://10.0.0.1:7400, tcp://10.0.0.2:7400", two, 2);
    t_parse_ok("tcp://10.0.0.1:7400 ,\ttcp://10.0.0.2:7400", two, 2);
    t_parse_ok("tcp://10.0.0.1:7400 tcp://10.0.0.2:7400", two, 2);
    const char *rev[] = {"tcp://10.0.0.2:7400", "tcp://10.0.0.1:7400"};
    t_parse_ok("tcp://10.0.0.2:7400, tcp://10.0.0.1:7400", rev, 2);
    /* 16 is the most */
    char list[2048] = "";
    size_t used = 0;
    const char *want[16];
    char names[16][40];
    for (int i = 0; i < 16; i++) {
        snprintf(names[i], sizeof names[i], "tcp://127.0.0.1:%d", 7400 + i);
        want[i] = names[i];
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? "," : "", names[i]);
    }
    t_parse_ok(list, want, 16);
    snprintf(list + used, sizeof list - used, ",tcp://127.0.0.1:9999");
    t_parse_bad(list, "more than 16");
}

static void test_bad_lists_refused(void **state)
{
    (void)state;
    t_parse_bad("", "empty");
    t_parse_bad("   ", "empty");
    t_parse_bad(",tcp://127.0.0.1:7400", "empty");
    t_parse_bad("tcp://127.0.0.1:7400,", "empty");
    t_parse_bad("tcp://127.0.0.1:7400,,tcp://127.0.0.1:7401", "empty");
    t_parse_bad("tcp://127.0.0.1:7400, tcp://127.0.0.1:7400", "twice");
    t_parse_bad("udp://127.0.0.1:7400", "not tcp://");
    t_parse_bad("127.0.0.1:7400", "not tcp://");
    t_parse_bad("tcp://127.0.0.1", "not tcp://");
    t_parse_bad("tcp://127.0.0.1:", "not tcp://");
    t_parse_bad("tcp://:7400", "not tcp://");
    t_parse_bad("tcp://127.0.0.1:0", "not tcp://");
    t_parse_bad("tcp://127.0.0.1:65536", "not tcp://");
    t_parse_bad("tcp://127.0.0.1:74x0", "not tcp://");
    t_parse_bad("tcp://*:7400", "not tcp://");
    t_parse_bad("tcp://eth0;10.0.0.1:7400", "not tcp://");
    t_parse_bad("ipc://", "not tcp://");
    /* bytes never in a host, control characters anywhere: named, shown escaped */
    t_parse_bad("tcp://ex\x01"
                "ample:7400",
                "control character 0x01 (byte 9) in address \"tcp://ex\\x01ample:7400\"");
    t_parse_bad("tcp://broker\x1b[2J.eu:7400", "control character 0x1b (byte 13)");
    t_parse_bad("tcp://host\x7f:7400", "control character 0x7f");
    t_parse_bad("tcp://10.0.0.1\r:7400", "control character 0x0d");
    t_parse_bad("ipc:///run/a.sock\nconnected=1", "control character 0x0a (byte 18)");
    t_parse_bad("tcp://h\xc3\xb4te.eu:7400",
                "byte 0xc3 (byte 2 of the host) is in no host name or address: "
                "\"tcp://h\\xc3\\xb4te.eu:7400\"");
    t_parse_bad("tcp://user@host:7400", "byte 0x40 (byte 5 of the host)");
    t_parse_bad("tcp://ho\"st:7400", "byte 0x22 (byte 3 of the host) is in no host name or "
                                     "address: \"tcp://ho\\x22st:7400\"");
    t_parse_bad("tcp://[::1:7400", "byte 0x5b (byte 1 of the host)");
    t_parse_bad("tcp://a]:7400", "byte 0x5d");
    char longer[400];
    snprintf(longer, sizeof longer, "tcp://%0300d:7400", 0);
    t_parse_bad(longer, "longer than 255");
    char **eps = NULL;
    size_t n = 0;
    assert_int_equal(client_endpoints_parse(NULL, &eps, &n, NULL, 0), ASYLINK_E_INVALID_ARG);
    assert_int_equal(client_endpoints_parse("tcp://x:1,", &eps, &n, NULL, 0),
                     ASYLINK_E_INVALID_ARG);
}

/* ---- the connection file ---- */

typedef struct {
    char dir[64];
} tdir;

static int setup(void **state)
{
    tdir *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/asylink-conn-XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    tdir *t = *state;
    testfed_rmtree(t->dir);
    free(t);
    return 0;
}

static void t_write(const tdir *t, const char *body, size_t len)
{
    char path[128];
    snprintf(path, sizeof path, "%s/connection", t->dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(body, 1, len, f), len);
    fclose(f);
}

/* A client as the I/O thread sees it, enough for client_conn_set(). */
typedef struct {
    asylink_client c;
    char *eps[2];
} tclient;

static void t_client(tclient *k, char *dir)
{
    memset(k, 0, sizeof *k);
    k->eps[0] = "tcp://127.0.0.1:7400";
    k->eps[1] = "tcp://127.0.0.1:7500";
    k->c.endpoints = k->eps;
    k->c.n_endpoints = 2;
    k->c.data_dir = dir;
    k->c.notify_fd[0] = k->c.notify_fd[1] = -1;
    pthread_mutex_init(&k->c.lock, NULL);
}

static void test_written_file_reads_back(void **state)
{
    tdir *t = *state;
    asylink_connection got;
    assert_int_equal(client_conn_read_file(t->dir, &got), ASYLINK_E_NOT_FOUND);
    tclient k;
    t_client(&k, t->dir);
    client_conn_set(&k.c, 1, "BROKER.EU", true, 1000);
    assert_int_equal(client_conn_read_file(t->dir, &got), ASYLINK_OK);
    assert_string_equal(got.endpoint, "tcp://127.0.0.1:7500");
    assert_string_equal(got.broker, "BROKER.EU");
    assert_int_equal(got.index, 1);
    assert_int_equal(got.n_endpoints, 2);
    assert_int_equal(got.connected, 1);
    assert_int_equal(got.running, 1); /* written by this process */
    assert_int_equal(got.since_ms, 1000);
    assert_int_equal(got.sessions, 1);
    struct stat st;
    char path[128];
    snprintf(path, sizeof path, "%s/connection", t->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char text[512] = "";
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    const char *start = strstr(text, "\nstart="); /* this process's start time, known */
    assert_non_null(start);
    assert_true(start[7] >= '1' && start[7] <= '9');

    /* lost, then a second session on the first address */
    client_conn_set(&k.c, 1, NULL, false, 2000);
    client_conn_set(&k.c, 0, "BROKER.EU", true, 2500);
    asylink_connection now;
    assert_int_equal(asylink_connection_get(&k.c, &now), ASYLINK_OK);
    assert_int_equal(client_conn_read_file(t->dir, &got), ASYLINK_OK);
    assert_string_equal(got.endpoint, "tcp://127.0.0.1:7400");
    assert_string_equal(now.endpoint, got.endpoint);
    assert_int_equal(got.index, 0);
    assert_int_equal(got.sessions, 2);
    assert_int_equal(now.sessions, 2);
    assert_int_equal(got.since_ms, 2500);

    /* closed: no longer running, no session */
    client_conn_closed(&k.c, 3000);
    assert_int_equal(client_conn_read_file(t->dir, &got), ASYLINK_OK);
    assert_int_equal(got.running, 0);
    assert_int_equal(got.connected, 0);
    assert_int_equal(got.since_ms, 3000);
    assert_string_equal(got.endpoint, "tcp://127.0.0.1:7400");
    pthread_mutex_destroy(&k.c.lock);
}

static void test_dead_writer_is_not_connected(void **state)
{
    tdir *t = *state;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    char body[256];
    int n = snprintf(body, sizeof body,
                     "pid=%d\nendpoint=tcp://127.0.0.1:7400\nindex=0\nendpoints=1\n"
                     "broker=BROKER.EU\nconnected=1\nsince_ms=5\nsessions=1\n",
                     (int)child);
    t_write(t, body, (size_t)n);
    asylink_connection got;
    assert_int_equal(client_conn_read_file(t->dir, &got), ASYLINK_OK);
    assert_int_equal(got.running, 0);
    assert_int_equal(got.connected, 0);
    assert_string_equal(got.broker, "BROKER.EU");
}

/* A file whose process died and whose PID went to another process: not running. */
static void test_reused_pid_is_not_running(void **state)
{
    tdir *t = *state;
    pid_t child = fork(); /* alive, but not the process that wrote the file */
    assert_true(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    char body[256];
    int n = snprintf(body, sizeof body,
                     "pid=%d\nstart=1\nendpoint=tcp://127.0.0.1:7400\nindex=0\nendpoints=1\n"
                     "broker=BROKER.EU\nconnected=1\nsince_ms=5\nsessions=1\n",
                     (int)child);
    t_write(t, body, (size_t)n);
    asylink_connection got;
    assert_int_equal(client_conn_read_file(t->dir, &got), ASYLINK_OK);
    kill(child, SIGKILL);
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_int_equal(got.running, 0);
    assert_int_equal(got.connected, 0);
    assert_string_equal(got.broker, "BROKER.EU");
}

static void test_hostile_files_refused(void **state)
{
    tdir *t = *state;
    static const char *const bad[] = {
        "endpoint=tcp://127.0.0.1:7400\nindex=0\nendpoints=1\nshell=rm -rf /\n",
        "endpoint=tcp://127.0.0.1:7400\nindex=2\nendpoints=2\n",
        "endpoint=tcp://127.0.0.1:7400\nindex=0\nendpoints=17\n",
        "endpoint=tcp://127.0.0.1:7400\nindex=-1\nendpoints=1\n",
        "endpoint=tcp://127.0.0.1:7400\nindex=0\nendpoints=1\nconnected=2\n",
        "endpoint=tcp://127.0.0.1:7400\nindex=0\nendpoints=1\nsince_ms=1e9\n",
        "endpoint=tcp://127.0.0.1:7400\nindex=0\nendpoints=1\npid=99999999999\n",
        "endpoint=tcp://127.0.0.1:7400\nindex=0\nendpoints=1\nbroker=\x1b[31mX\n",
        "endpoint=\nindex=0\nendpoints=1\n",
        "index=0\nendpoints=1\n",
        "garbage\n",
        "",
    };
    asylink_connection got;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t_write(t, bad[i], strlen(bad[i]));
        int rc = client_conn_read_file(t->dir, &got);
        if (rc != ASYLINK_E_MALFORMED)
            fail_msg("file %zu: %s", i, asylink_err_name(rc));
        assert_int_equal(got.endpoint[0], 0);
    }
    char nul[] = "endpoint=tcp://127.0.0.1:7400\nindex=0\0\nendpoints=1\n";
    t_write(t, nul, sizeof nul - 1);
    assert_int_equal(client_conn_read_file(t->dir, &got), ASYLINK_E_MALFORMED);
    char *big = malloc(8192);
    assert_non_null(big);
    memset(big, '\n', 8192);
    memcpy(big, "endpoint=tcp://127.0.0.1:7400\nindex=0\nendpoints=1\n", 51);
    t_write(t, big, 8192);
    free(big);
    assert_int_equal(client_conn_read_file(t->dir, &got), ASYLINK_E_MALFORMED);
    char longer[400];
    int n = snprintf(longer, sizeof longer, "endpoint=tcp://%0300d:1\nindex=0\nendpoints=1\n", 0);
    t_write(t, longer, (size_t)n);
    assert_int_equal(client_conn_read_file(t->dir, &got), ASYLINK_E_MALFORMED);
}

/* asylink_connection_read() finds the file through the node configuration. */
static void test_read_through_node_file(void **state)
{
    tdir *t = *state;
    char ini[128], body[1024];
    snprintf(ini, sizeof ini, "%s/node.ini", t->dir);
    int n = snprintf(body, sizeof body,
                     "[node]\nbroker_endpoint = tcp://127.0.0.1:7400, tcp://127.0.0.1:7500\n"
                     "broker_cert = b.cert\nnode_cert = n.cert\nkey_file = n.key\n"
                     "trust_dir = trust\ndata_dir = %s\n",
                     t->dir);
    FILE *f = fopen(ini, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(body, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    asylink_connection got;
    assert_int_equal(asylink_connection_read(ini, NULL, NULL, &got), ASYLINK_E_NOT_FOUND);
    t_write(t, "pid=0\nendpoint=tcp://127.0.0.1:7500\nindex=1\nendpoints=2\nconnected=1\n", 67);
    assert_int_equal(asylink_connection_read(ini, NULL, NULL, &got), ASYLINK_OK);
    assert_string_equal(got.endpoint, "tcp://127.0.0.1:7500");
    assert_int_equal(got.running, 0);
    assert_int_equal(got.connected, 0);
    /* a bad address list is a configuration error */
    n = snprintf(body, sizeof body,
                 "[node]\nbroker_endpoint = tcp://127.0.0.1:7400,,\nbroker_cert = b.cert\n"
                 "node_cert = n.cert\nkey_file = n.key\ntrust_dir = trust\ndata_dir = %s\n",
                 t->dir);
    f = fopen(ini, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(body, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    assert_int_equal(asylink_connection_read(ini, NULL, NULL, &got), ASYLINK_E_CONFIG);
    asylink_client *c = NULL;
    assert_int_equal(asylink_client_open_config(ini, NULL, NULL, &c), ASYLINK_E_CONFIG);
    assert_null(c);
}

/* Keeps the last line logged. */
static void s_keep_line(void *ctx, asylink_log_level level, const char *line)
{
    (void)level;
    snprintf(ctx, 1024, "%s", line);
}

/* [log] level takes the four level words; anything else is a configuration error. */
static void test_node_file_log_level(void **state)
{
    tdir *t = *state;
    static const char *const good[] = {"error", "warn", "info", "debug"};
    char ini[128], body[1024], line[1024] = "";
    snprintf(ini, sizeof ini, "%s/node.ini", t->dir);
    asylink_connection got;
    for (size_t i = 0; i <= sizeof good / sizeof good[0]; i++) {
        const char *level = i < sizeof good / sizeof good[0] ? good[i] : "verbose";
        int n = snprintf(body, sizeof body,
                         "[node]\nbroker_endpoint = tcp://127.0.0.1:7400\nbroker_cert = b.cert\n"
                         "node_cert = n.cert\nkey_file = n.key\ntrust_dir = trust\ndata_dir = %s\n"
                         "[log]\nlevel = %s\n",
                         t->dir, level);
        FILE *f = fopen(ini, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(body, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        int want = i < sizeof good / sizeof good[0] ? ASYLINK_E_NOT_FOUND : ASYLINK_E_CONFIG;
        assert_int_equal(asylink_connection_read(ini, s_keep_line, line, &got), want);
    }
    /* the error names the key and the words it takes */
    assert_non_null(strstr(line, "level"));
    assert_non_null(strstr(line, "error, warn, info, debug"));
    asylink_client *c = NULL;
    assert_int_equal(asylink_client_open_config(ini, NULL, NULL, &c), ASYLINK_E_CONFIG);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_address),
        cmocka_unit_test(test_several_addresses_in_order),
        cmocka_unit_test(test_bad_lists_refused),
        cmocka_unit_test_setup_teardown(test_written_file_reads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_writer_is_not_connected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reused_pid_is_not_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_files_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_through_node_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_file_log_level, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
