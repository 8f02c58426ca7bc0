/*
 * cmd_status.c — `asylink status`: reads the broker's /status.json from its
 * operator HTTP listener ([http] listen in broker.ini, given with --http or
 * read from the broker's configuration with --config BROKER.ini) and shows
 * it as a table, or as JSON with --json. With --config NODE.ini it shows
 * instead which broker address that node's client is on
 * (asylink_connection_read).
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "cliopt.h"
#include "commands.h"
#include "httpc.h"
#include "inifile.h"
#include "logfmt.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define STATUS_MAX_BODY (4u * 1024 * 1024)

/* Where the broker's HTTP listener is (from --http). */
typedef struct {
    char host[256]; /* name or address, without brackets */
    char port[16];  /* decimal */
} s_addr;

/* The options of one status. */
typedef struct {
    s_addr http;         /* --http */
    uint64_t timeout_ms; /* --timeout */
    bool json;           /* --json */
    const char *config;  /* --config: the broker's or a node's configuration */
} s_opts;

/* The broker's HTTP listener when [http] listen is not set (broker/broker_config.c). */
#define STATUS_DEFAULT_LISTEN "127.0.0.1:7480"

/*
 * "host:port" into an s_addr; 0 or -1. asylinkd's HTTP listener is IPv4
 * only (broker/http.c), so an IPv6 host ("[::1]:7480", or a bare "::1" with
 * colons before the port) is refused here rather than tried and never
 * answered.
 */
static int s_parse_addr(const char *s, void *field)
{
    s_addr *a = field;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || colon[1] == '\0' || s[0] == '[' ||
        memchr(s, ':', (size_t)(colon - s)))
        return -1;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    uint64_t port;
    if (hl >= sizeof a->host || cli_parse_u64(colon + 1, 1, 65535, &port) != 0)
        return -1;
    memcpy(a->host, h, hl);
    a->host[hl] = '\0';
    snprintf(a->port, sizeof a->port, "%u", (unsigned)port);
    return 0;
}

static const cliopt s_rows[] = {
    {.name = "http",
     .kind = CLIOPT_CUSTOM,
     .metavar = "HOST:PORT",
     .offset = offsetof(s_opts, http),
     .parse = s_parse_addr,
     .expect = "HOST:PORT with an IPv4 address or a host name, e.g. 127.0.0.1:7480; the "
               "broker's HTTP listener is IPv4 only",
     .help = "the broker's [http] listen address, IPv4 only like the listener (default: "
             "127.0.0.1:7480)"},
    CLIOPT_ROW_TIMEOUT(s_opts, timeout_ms, "5"),
    {.name = "json",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, json),
     .help = "print the broker's JSON instead of tables"},
    {.name = "config",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(s_opts, config),
     .help = "the broker's configuration: ask the broker at its [http] listen (0.0.0.0 is "
             "asked on 127.0.0.1); or a node's: show which broker address its client is on"},
};

static const cliopt_rule s_rules[] = {
    {CLIOPT_EXCLUDES, "config http"},
};

const cliopt_spec cmd_status_spec = {
    .synopsis = "[--http HOST:PORT | --config BROKER.ini] [options]\n--config NODE.ini [--json]",
    .description = "Shows the state of a running broker: its role (active, or standby for its "
                   "data directory), sessions, counters, store, and the queue of every node, "
                   "read from its operator HTTP listener (/status.json).\n\n"
                   "With --config BROKER.ini: the same, asked at the broker's [http] listen. "
                   "With --config NODE.ini: which broker address the client of that node "
                   "configuration is on (its data_dir/connection file), and since when.",
    .opts = s_rows,
    .n_opts = CLIOPT_LEN(s_rows),
    .rules = s_rules,
    .n_rules = CLIOPT_LEN(s_rules),
};

/* ---- the tables ---- */

static long long s_int(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static const char *s_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

/* A certificate's end from status.json: its time, "(in N days)" or "(EXPIRED)"; "-" if absent. */
static const char *s_cert_end(const json_t *st, const char *key, char *buf, size_t len)
{
    long long end = s_int(st, key), now = s_int(st, "snapshot_ms");
    if (end <= 0)
        return "-"; /* a broker of an earlier version */
    char when[32];
    clock_format_iso((uint64_t)end, when, sizeof when);
    if (end <= now)
        snprintf(buf, len, "%s (EXPIRED)", when);
    else
        snprintf(buf, len, "%s (in %lld %s)", when, (end - now) / 86400000,
                 cli_plural((unsigned long long)((end - now) / 86400000), "day", "days"));
    return buf;
}

static void s_print_summary(const json_t *st)
{
    char started[32], snap[32], own[64], ca[64];
    const json_t *c = json_object_get(st, "counters");
    const json_t *s = json_object_get(st, "store");
    printf("broker          %s (asylinkd %s)\n", s_str(st, "broker_node_id"), s_str(st, "version"));
    printf("role            %s since %s\n", s_str(st, "role"),
           clock_format_iso((uint64_t)s_int(st, "role_since_ms"), started, sizeof started));
    printf("started         %s\n",
           clock_format_iso((uint64_t)s_int(st, "started_ms"), started, sizeof started));
    printf("snapshot        %s\n",
           clock_format_iso((uint64_t)s_int(st, "snapshot_ms"), snap, sizeof snap));
    printf("durability      %s, %lld verify %s\n", s_str(st, "durability"),
           s_int(st, "verify_workers"),
           cli_plural((unsigned long long)s_int(st, "verify_workers"), "worker", "workers"));
    printf("certificates    the broker's ends %s, the CA's %s\n",
           s_cert_end(st, "broker_cert_not_after_ms", own, sizeof own),
           s_cert_end(st, "ca_cert_not_after_ms", ca, sizeof ca));
    printf("sessions        %lld\n\n", s_int(st, "sessions"));
    /* events counted since start (past tense); DEAD LETTERS below are those stored now */
    printf("%-10s %-10s %-10s %-10s %-10s %-10s %-10s %-13s %-10s\n", "ACCEPTED", "PUBLISHED",
           "DUPLICATES", "REJECTED", "DELIVERED", "ACKED", "NACKED", "DEAD-LETTERED", "EXPIRED");
    printf("%-10lld %-10lld %-10lld %-10lld %-10lld %-10lld %-10lld %-13lld %-10lld\n\n",
           s_int(c, "accepted"), s_int(c, "published"), s_int(c, "duplicates"),
           s_int(c, "rejected"), s_int(c, "delivered"), s_int(c, "acked"), s_int(c, "nacked"),
           s_int(c, "dead_lettered"), s_int(c, "expired"));
    long long msgs = s_int(s, "messages"), dead = s_int(s, "dead_letters");
    printf("store           %lld %s, %lld queued, %lld %s, %lld of %lld bytes used\n\n", msgs,
           cli_plural((unsigned long long)msgs, "message", "messages"), s_int(s, "queued"), dead,
           cli_plural((unsigned long long)dead, "dead letter", "dead letters"),
           s_int(s, "used_bytes"), s_int(s, "map_bytes"));
}

static void s_print_nodes(const json_t *nodes)
{
    printf("%-20s %-10s %10s %12s %10s %12s\n", "NODE", "CONNECTED", "WAITING", "BYTES",
           "IN FLIGHT", "DEAD LETTERS");
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n)
    {
        printf("%-20s %-10s %10lld %12lld %10lld %12lld\n", s_str(n, "node_id"),
               json_is_true(json_object_get(n, "connected")) ? "yes" : "no", s_int(n, "depth"),
               s_int(n, "bytes"), s_int(n, "in_flight"), s_int(n, "dead_letters"));
    }
    if (json_array_size(nodes) == 0)
        printf("(no node queues)\n");
}

/* ---- the address from the broker's configuration ---- */

/* What s_find_listen reads. */
typedef struct {
    bool broker;      /* a [broker] section was seen */
    bool node;        /* a [node] section was seen */
    bool has_listen;  /* [http] listen was set */
    char listen[300]; /* its value */
    bool data_dir;    /* [node] data_dir was set, not empty */
    bool admin;       /* [node] admin_endpoint was set, not empty (an operator's file) */
} s_conf;

static int s_on_section(inifile *f, void *ctx, const char *name)
{
    s_conf *c = ctx;
    (void)f;
    c->broker |= strcmp(name, "broker") == 0;
    c->node |= strcmp(name, "node") == 0;
    return 0;
}

static int s_on_key(inifile *f, void *ctx, const char *section, const char *key, const char *value)
{
    s_conf *c = ctx;
    (void)f;
    if (strcmp(section, "http") == 0 && strcmp(key, "listen") == 0) {
        c->has_listen = true;
        snprintf(c->listen, sizeof c->listen, "%s", value);
    }
    if (strcmp(section, "node") == 0 && strcmp(key, "data_dir") == 0)
        c->data_dir = value[0] != '\0';
    if (strcmp(section, "node") == 0 && strcmp(key, "admin_endpoint") == 0)
        c->admin = value[0] != '\0';
    return 0;
}

/*
 * A node configuration without [node] data_dir (an operator's, like
 * certs-example/OPS.ini) has no client state to show: says what to use
 * instead. CLI_USAGE.
 */
static int s_no_data_dir(const char *ctx, const char *path, const s_conf *c)
{
    cli_fail_text(ctx, ASYLINK_E_CONFIG,
                  "%s (no [node] data_dir): --config NODE.ini shows a node's connection, kept in "
                  "its data_dir. For the broker's status give --http HOST:PORT (asylinkd's "
                  "\"http on\" line) or --config BROKER.ini%s%s%s",
                  c->admin ? "an operator's configuration"
                           : "a node configuration without a data "
                             "directory",
                  c->admin ? "; for its nodes and queues the admin commands take this file: "
                             "asylink nodes --config "
                           : "",
                  c->admin ? path : "", c->admin ? " (also queues, topics, dlq list)" : "");
    return CLI_USAGE;
}

/*
 * Sets o->http from [http] listen of the broker configuration o->config;
 * *node is set instead when the file is a node's configuration.
 */
static int s_addr_from_config(s_opts *o, bool *node)
{
    const char *path = o->config;
    char ctx[1100];
    snprintf(ctx, sizeof ctx, "status: %s", path);
    FILE *in = fopen(path, "r");
    if (!in)
        return cli_fail_text(ctx, ASYLINK_E_CONFIG, "cannot open it: %s", strerror(errno));
    config_error err;
    inifile f;
    s_conf c = {0};
    inifile_init(&f, path, &err);
    int rc = inifile_read(&f, in, s_on_key, s_on_section, &c);
    fclose(in);
    if (rc != ASYLINK_OK) {
        char line[800];
        config_error_format(&err, line, sizeof line);
        return cli_fail_text("status", rc, "%s", line);
    }
    *node = c.node && !c.broker;
    if (*node)
        return c.data_dir ? CLI_OK : s_no_data_dir(ctx, path, &c);
    if (!c.broker)
        return cli_fail_text(ctx, ASYLINK_E_CONFIG,
                             "neither a broker's configuration ([broker]) nor a node's ([node])");
    const char *listen = c.has_listen ? c.listen : STATUS_DEFAULT_LISTEN;
    if (!listen[0])
        return cli_fail_text(ctx, ASYLINK_E_UNAVAILABLE,
                             "the broker's HTTP listener is off ([http] listen is empty): set "
                             "listen = %s there and restart asylinkd",
                             STATUS_DEFAULT_LISTEN);
    size_t n = strlen(listen);
    if (n >= 2 && strcmp(listen + n - 2, ":0") == 0)
        return cli_fail_text(ctx, ASYLINK_E_CONFIG,
                             "[http] listen = %s takes any free port: give --http with the address "
                             "asylinkd printed (\"http on ...\")",
                             listen);
    if (s_parse_addr(listen, &o->http) != 0)
        return cli_fail_text(ctx, ASYLINK_E_CONFIG, "[http] listen = %s is not HOST:PORT", listen);
    if (strcmp(o->http.host, "0.0.0.0") == 0) /* listening everywhere: ask on loopback */
        snprintf(o->http.host, sizeof o->http.host, "127.0.0.1");
    return CLI_OK;
}

/* Keeps the library's error line (a bad node file) for the one error message. */
static void s_log(void *ctx, asylink_log_level level, const char *line)
{
    char *last = ctx;
    if (level == ASYLINK_LOG_ERROR)
        snprintf(last, 1024, "%s", line);
}

/* `asylink status --config NODE.ini`: the node's broker address. */
static int s_node_status(const s_opts *o)
{
    char ctx[1100], since[32];
    snprintf(ctx, sizeof ctx, "status: %s", o->config);
    asylink_connection k;
    char last[1024] = "", msg[1024];
    int rc = asylink_connection_read(o->config, s_log, last, &k);
    if (rc == ASYLINK_E_NOT_FOUND)
        return cli_fail_text(ctx, rc, "no client has run on this node's data_dir yet");
    if (rc != ASYLINK_OK && logfmt_get(last, "msg", msg, sizeof msg) > 0)
        return cli_fail_text("status", rc, "%s", msg);
    if (rc != ASYLINK_OK)
        return cli_fail(ctx, rc);
    clock_format_iso(k.since_ms, since, sizeof since);
    if (o->json)
        return cli_json_print(
            json_pack("{s:s, s:i, s:i, s:s, s:b, s:b, s:I, s:s, s:I}", "endpoint", k.endpoint,
                      "index", (int)k.index, "endpoints", (int)k.n_endpoints, "broker", k.broker,
                      "connected", k.connected, "running", k.running, "since_ms",
                      (json_int_t)k.since_ms, "since", since, "sessions", (json_int_t)k.sessions));
    printf("address         %s (%u of %u)\n", k.endpoint, k.index + 1, k.n_endpoints);
    if (k.connected)
        printf("state           connected to %s since %s\n", k.broker, since);
    else
        printf("state           %s since %s\n",
               k.running ? "not connected (trying the addresses in turn)" : "no client running",
               since);
    printf("sessions        %llu\n", (unsigned long long)k.sessions);
    return fflush(stdout) == 0 ? CLI_OK : cli_fail("stdout", ASYLINK_E_IO);
}

int cmd_status(int argc, char **argv)
{
    s_opts o = {.http = {.host = "127.0.0.1", .port = "7480"}};
    int rc = cliopt_parse(&cmd_status_spec, argc, argv, &o, NULL);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    bool node = false;
    if (o.config && (rc = s_addr_from_config(&o, &node)) != CLI_OK)
        return rc;
    if (node)
        return s_node_status(&o);
    char ctx[320], err[256] = "";
    snprintf(ctx, sizeof ctx, "status: http://%s:%s/status.json", o.http.host, o.http.port);
    httpc_response r;
    rc = httpc_get(o.http.host, o.http.port, "/status.json", (int)o.timeout_ms, STATUS_MAX_BODY, &r,
                   err, sizeof err);
    if (rc != ASYLINK_OK)
        return cli_fail_text(ctx, rc, "%s", err);
    if (r.status != 200) {
        httpc_response_clear(&r);
        return cli_fail_text(ctx, ASYLINK_E_UNAVAILABLE, "HTTP status %d", r.status);
    }
    json_error_t je;
    json_t *st = json_loadb(r.body, r.len, 0, &je);
    httpc_response_clear(&r);
    if (!json_is_object(st)) {
        json_decref(st);
        return cli_fail_text(ctx, ASYLINK_E_MALFORMED, "not a JSON object: %s", je.text);
    }
    if (o.json)
        return cli_json_print(st);
    s_print_summary(st);
    s_print_nodes(json_object_get(st, "nodes"));
    json_decref(st);
    return fflush(stdout) == 0 ? CLI_OK : cli_fail("stdout", ASYLINK_E_IO);
}
