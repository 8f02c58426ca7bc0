/*
 * broker_config.c — asylinkd's option table, loading and the checks between
 * options. Everything about a single option (type, default, range, help)
 * lives in the table; only rules that relate two options, or that need more
 * than a range (node id syntax, endpoint syntax), are code here.
 */
#include "broker_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/errors.h"
#include "cert.h"
#include "endpoint.h"
#include "envelope.h"
#include "log.h"
#include "wire.h"

/* Row helpers: offset of a broker_config field; milliseconds of a unit. */
#define S_OFF(f) offsetof(broker_config, f)
#define S_SEC 1000ll
#define S_MIN (60 * S_SEC)
#define S_HOUR (60 * S_MIN)
#define S_DAY (24 * S_HOUR)
#define S_MIB (1ll << 20)
#define S_TIB (1ll << 40)

/* store.durability names, indexed by enum broker_durability. */
static const char *const s_durability_names[] = {"fsync", "relaxed", NULL};

const config_option broker_config_options[] = {
    /* [broker] */
    {"broker", "node_id", CONFIG_STRING, NULL, S_OFF(node_id), 0, 0, NULL,
     "Node id of this broker; must be the node id of its certificate, e.g. BROKER.EU."},
    {"broker", "cert", CONFIG_PATH, NULL, S_OFF(cert), 0, 0, NULL,
     "Certificate of this broker, issued by the federation CA."},
    {"broker", "key", CONFIG_PATH, NULL, S_OFF(key), 0, 0, NULL,
     "Secret key file of this broker (mode 0600)."},
    {"broker", "key_passphrase_file", CONFIG_PATH, "", S_OFF(key_passphrase_file), 0, 0, NULL,
     "File whose first line is the passphrase of an encrypted key file; empty = key not "
     "encrypted."},
    {"broker", "trust_dir", CONFIG_PATH, NULL, S_OFF(trust_dir), 0, 0, NULL,
     "Trust directory (ca.cert, nodes/*.cert, revoked.crl); reloaded on SIGHUP."},
    {"broker", "data_dir", CONFIG_PATH, NULL, S_OFF(data_dir), 0, 0, NULL,
     "Directory of the LMDB store (created 0700); one broker per directory."},
    {"broker", "policy", CONFIG_PATH, NULL, S_OFF(policy), 0, 0, NULL,
     "Access policy file (see \"Policy file\"); reloaded on SIGHUP."},
    {"broker", "endpoint", CONFIG_STRING, "tcp://127.0.0.1:7400", S_OFF(endpoint), 0, 0, NULL,
     "ZeroMQ endpoint (tcp:// or ipc://) where nodes connect, with CURVE."},
    {"broker", "admin_endpoint", CONFIG_STRING, "tcp://127.0.0.1:7401", S_OFF(admin_endpoint), 0, 0,
     NULL, "ZeroMQ endpoint for operator commands (CURVE, operator role only); empty = off."},
    {"broker", "standby", CONFIG_BOOL, "false", S_OFF(standby), 0, 0, NULL,
     "true: if another asylinkd holds data_dir, stand by (HTTP up, /healthz \"standby\") and "
     "take over the moment its lock is released, instead of refusing to start (as "
     "--standby). Never creates a store; its endpoints must be free at start: see OPERATIONS.md "
     "section 9.2."},

    /* [store] */
    {"store", "map_size", CONFIG_SIZE, "256MiB", S_OFF(map_size), S_MIB, 64 * S_TIB, NULL,
     "Initial size of the LMDB map; it grows when full, up to max_map_size."},
    {"store", "max_map_size", CONFIG_SIZE, "16GiB", S_OFF(max_map_size), S_MIB, 64 * S_TIB, NULL,
     "Largest the LMDB map may grow; then Publishes get STORE_FULL."},
    {"store", "durability", CONFIG_ENUM, "fsync", S_OFF(durability), 0, 0, s_durability_names,
     "fsync: Accepted only after the group commit is on disk; relaxed: no fsync per commit "
     "(a crash may lose up to sync_interval of accepted messages)."},
    {"store", "sync_interval", CONFIG_DURATION, "1s", S_OFF(sync_interval_ms), 10, S_HOUR, NULL,
     "With durability = relaxed: how often committed data is flushed to disk."},
    {"store", "dedup_window", CONFIG_DURATION, "7d", S_OFF(dedup_window_ms), S_MIN, 365 * S_DAY,
     NULL,
     "How long a (sender, message_id) is remembered so that a resend is answered as a "
     "duplicate."},
    {"store", "sweep_interval", CONFIG_DURATION, "10s", S_OFF(sweep_interval_ms), 100, S_HOUR, NULL,
     "How often expired messages and dedup entries are removed (and the LMDB reader slots "
     "of dead processes cleared)."},

    /* [limits] */
    {"limits", "max_envelope_bytes", CONFIG_SIZE, "33MiB", S_OFF(max_envelope_bytes),
     WIRE_ENVELOPE_FLOOR, ENVELOPE_MAX_SIZE, NULL,
     "Largest envelope accepted (payload plus header, keys and "
     "signature)."},
    {"limits", "max_in_flight", CONFIG_INT, "1000", S_OFF(max_in_flight), 1, 1000000, NULL,
     "Most Publishes of one session awaiting Accepted or Rejected (more are refused "
     "UNAVAILABLE, retryable); the delivery credit is the node's own (Hello)."},
    {"limits", "max_in_flight_bytes", CONFIG_SIZE, "16MiB", S_OFF(max_in_flight_bytes), 64 * 1024,
     64 * 1024 * S_MIB, NULL,
     "Envelope bytes of one session's Publishes awaiting Accepted or Rejected; a Publish past "
     "this is refused UNAVAILABLE, retryable (one is always taken while the session has none "
     "unanswered, so an envelope of max_envelope_bytes still passes)."},
    {"limits", "max_transit_bytes", CONFIG_SIZE, "48MiB", S_OFF(max_transit_bytes), 64 * 1024,
     64 * 1024 * S_MIB, NULL,
     "Envelope bytes of all sessions' Publishes being verified or committed: the bound on the "
     "broker's memory for messages on their way into the store; a Publish past this is refused "
     "UNAVAILABLE, retryable (one is always taken while none is in transit)."},
    {"limits", "max_recipients", CONFIG_INT, "256", S_OFF(max_recipients), 1,
     ENVELOPE_MAX_RECIPIENTS, NULL, "Most direct recipients of one envelope."},
    {"limits", "max_ack_batch", CONFIG_INT, "1000", S_OFF(max_ack_batch), 1, 4096, NULL,
     "Most sequence numbers in one Ack or Nack command."},
    {"limits", "clock_skew_future", CONFIG_DURATION, "5m", S_OFF(clock_skew_future_ms), 0, S_DAY,
     NULL,
     "How far created_ms may be ahead of the broker clock. No limit on the past: outboxes "
     "resend old messages after outages; expiry and dedup_window handle those."},
    {"limits", "max_deliveries", CONFIG_INT, "10", S_OFF(max_deliveries), 1, 1000, NULL,
     "Delivery attempts before a message goes to the dead letter queue."},
    {"limits", "redelivery_backoff", CONFIG_DURATION, "1s", S_OFF(redelivery_backoff_ms), 10,
     S_HOUR, NULL, "Wait before the first redelivery; doubles with each attempt."},
    {"limits", "redelivery_backoff_max", CONFIG_DURATION, "5m", S_OFF(redelivery_backoff_max_ms),
     10, S_DAY, NULL, "Longest wait between redeliveries (at least redelivery_backoff)."},
    {"limits", "heartbeat_interval", CONFIG_DURATION, "5s", S_OFF(heartbeat_interval_ms),
     WIRE_HEARTBEAT_INTERVAL_FLOOR_MS, WIRE_HEARTBEAT_INTERVAL_CEILING_MS, NULL,
     "Heartbeat period announced to nodes in Welcome (at most 1m, the protocol's ceiling: "
     "libasylink uses no more)."},
    {"limits", "heartbeat_timeout", CONFIG_DURATION, "30s", S_OFF(heartbeat_timeout_ms),
     WIRE_HEARTBEAT_TIMEOUT_FLOOR_MS, WIRE_HEARTBEAT_TIMEOUT_CEILING_MS, NULL,
     "Silence after which a session is dropped (at least twice heartbeat_interval; at most "
     "5m, the protocol's ceiling: libasylink uses no more)."},
    {"limits", "handshake_timeout", CONFIG_DURATION, "5s", S_OFF(handshake_timeout_ms), 500, S_MIN,
     NULL,
     "A connection that has not finished the ZMTP/CURVE handshake within this is closed "
     "(bare TCP connections cannot pin descriptors)."},
    {"limits", "max_open_files", CONFIG_INT, "65536", S_OFF(max_open_files), 1024, 1048576, NULL,
     "At start the descriptor limit (RLIMIT_NOFILE) is raised to this, as far as the hard "
     "limit allows (systemd: LimitNOFILE); every connection costs one descriptor."},
    {"limits", "max_session_output", CONFIG_SIZE, "16MiB", S_OFF(max_session_output), 64 * 1024,
     1024 * S_MIB, NULL,
     "Bytes of answers and deliveries queued towards one session that it has not read; past "
     "this the session is ended and its queued output dropped (deliveries stay stored)."},

    /* [audit] */
    {"audit", "enabled", CONFIG_BOOL, "true", S_OFF(audit_enabled), 0, 0, NULL,
     "Keep the hash-chained audit trail (docs/OPERATIONS.md \"Audit trail\"). Turn it off "
     "only to measure its cost: nothing records who sent what to whom then."},
    {"audit", "checkpoint_entries", CONFIG_INT, "1000", S_OFF(audit_checkpoint_entries), 1,
     10000000, NULL, "Sign a checkpoint of the audit chain after this many entries."},
    {"audit", "checkpoint_interval", CONFIG_DURATION, "1m", S_OFF(audit_checkpoint_interval_ms),
     S_SEC, S_DAY, NULL,
     "... or at the latest this long after the first entry no checkpoint covers yet."},
    {"audit", "retention", CONFIG_DURATION, "0", S_OFF(audit_retention_ms), 0, 100 * 366 * S_DAY,
     NULL,
     "Prune audit entries older than this (keeping a signed checkpoint as the anchor of what "
     "remains); 0 = keep forever. Should be longer than any message's retention."},

    /* [admin] */
    {"admin", "four_eyes", CONFIG_BOOL, "false", S_OFF(four_eyes), 0, 0, NULL,
     "Four-eyes: purge, dlq drop and a dlq replay of PERSONAL messages are held until an "
     "operator other than the one who asked confirms them (asylink pending confirm)."},
    {"admin", "four_eyes_timeout", CONFIG_DURATION, "15m", S_OFF(four_eyes_timeout_ms), 10 * S_SEC,
     S_DAY, NULL, "A held request lapses if it is not confirmed within this."},

    /* [workers] */
    {"workers", "verify_threads", CONFIG_INT, "0", S_OFF(verify_threads), 0, 64, NULL,
     "Threads verifying signatures; 0 = one per CPU core."},

    /* [http] */
    {"http", "listen", CONFIG_STRING, "127.0.0.1:7480", S_OFF(http_listen), 0, 0, NULL,
     "IPv4 address and port of the HTTP server (/metrics, /healthz, /status); empty = off. "
     "Keep it on loopback or behind a reverse proxy."},
    {"http", "max_connections", CONFIG_INT, "256", S_OFF(http_max_connections), 8, 4096, NULL,
     "Most HTTP connections open at once, all clients together."},
    {"http", "max_connections_per_address", CONFIG_INT, "16", S_OFF(http_max_per_address), 1, 4096,
     NULL,
     "Most HTTP connections from one IPv4 address (except exempt_address); more are refused."},
    {"http", "request_timeout", CONFIG_DURATION, "5s", S_OFF(http_request_timeout_ms), S_SEC, S_MIN,
     NULL,
     "A request's header must be complete within this of the connection (or of the previous "
     "answer), however slowly bytes trickle in; else the connection is cut (slowloris)."},
    {"http", "exempt_address", CONFIG_STRING, "127.0.0.1", S_OFF(http_exempt_address), 0, 0, NULL,
     "IPv4 address of the local supervisor and Prometheus, not held to "
     "max_connections_per_address; empty = none."},

    /* [log] */
    {"log", "level", CONFIG_ENUM, "info", S_OFF(log_level), 0, 0, log_level_names,
     "Least severe log level written to stderr."},
};

const size_t broker_config_options_len = CONFIG_TABLE_LEN(broker_config_options);

const char broker_config_rules[] =
    "broker.node_id is a valid node id, ^[A-Z0-9][A-Z0-9._-]{1,63}$, and the node id of the "
    "broker's certificate, which must carry the role broker (checked at start and by "
    "--check-config).\n"
    "broker.endpoint is tcp://HOST:PORT or ipc://PATH; broker.admin_endpoint is empty (off) or "
    "one of those, and does not name endpoint's address and fixed port (a port of * or 0, a "
    "free port for each, never clashes).\n"
    "http.listen is empty (off) or IPV4-ADDRESS:PORT (port 0 picks a free port); "
    "http.exempt_address is empty or an IPv4 address.\n"
    "store.max_map_size is at least store.map_size.\n"
    "limits.redelivery_backoff_max is at least limits.redelivery_backoff.\n"
    "limits.heartbeat_timeout is at least twice limits.heartbeat_interval, so that one late "
    "heartbeat does not drop a healthy session.";

/* Fills err like config_error_format() for a rule between options. */
__attribute__((format(printf, 6, 7))) static int s_invalid(char *err, size_t errlen,
                                                           const char *path, const char *section,
                                                           const char *key, const char *fmt, ...)
{
    config_error e;
    if (!err || errlen == 0)
        return ASYLINK_E_CONFIG;
    memset(&e, 0, sizeof e);
    snprintf(e.file, sizeof e.file, "%s", path ? path : "");
    snprintf(e.section, sizeof e.section, "%s", section);
    snprintf(e.key, sizeof e.key, "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    config_error_format(&e, err, errlen);
    return ASYLINK_E_CONFIG;
}

/* True if s is 1..5 decimal digits with a value 0..65535. */
static bool s_port_valid(const char *s)
{
    unsigned v = 0;
    size_t n = 0;
    for (; s[n] >= '0' && s[n] <= '9' && n < 6; n++)
        v = v * 10 + (unsigned)(s[n] - '0');
    return n > 0 && n <= 5 && s[n] == '\0' && v <= 65535;
}

/* True if s is IPV4:PORT (what broker/http.c binds), port 0 = any free port. */
static bool s_listen_valid(const char *s)
{
    char host[INET_ADDRSTRLEN];
    struct in_addr addr;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    return inet_pton(AF_INET, host, &addr) == 1 && s_port_valid(colon + 1);
}

/* True if port (the text after a tcp endpoint's last ':') lets the system choose: "*" or 0. */
static bool s_port_ephemeral(const char *port)
{
    return strcmp(port, "*") == 0 || strspn(port, "0") == strlen(port);
}

/* True if a tcp endpoint's host (length n) binds every interface: "*" or 0.0.0.0. */
static bool s_host_any(const char *host, size_t n)
{
    return (n == 1 && host[0] == '*') || (n == 7 && memcmp(host, "0.0.0.0", 7) == 0);
}

/* True if the hosts a and b (lengths na, nb) name the same address; localhost is 127.0.0.1. */
static bool s_host_same(const char *a, size_t na, const char *b, size_t nb)
{
    if (na == 9 && memcmp(a, "localhost", 9) == 0) {
        a = "127.0.0.1";
        na = 9;
    }
    if (nb == 9 && memcmp(b, "localhost", 9) == 0) {
        b = "127.0.0.1";
        nb = 9;
    }
    return na == nb && memcmp(a, b, na) == 0;
}

/*
 * True if the valid endpoints a and b would bind the same address: the
 * same ipc path, or the same fixed tcp port on the same host (or either on
 * every interface). Two ephemeral ports ("*", 0) never clash: each bind
 * gets its own.
 */
static bool s_endpoints_clash(const char *a, const char *b)
{
    if (strncmp(a, "ipc://", 6) == 0 || strncmp(b, "ipc://", 6) == 0)
        return strcmp(a, b) == 0 && strcmp(a, "ipc://*") != 0;
    const char *ca = strrchr(a + 6, ':'), *cb = strrchr(b + 6, ':');
    if (s_port_ephemeral(ca + 1) || s_port_ephemeral(cb + 1))
        return false;
    unsigned long pa = strtoul(ca + 1, NULL, 10), pb = strtoul(cb + 1, NULL, 10); /* (valid) */
    size_t na = (size_t)(ca - (a + 6)), nb = (size_t)(cb - (b + 6));
    return pa == pb &&
           (s_host_same(a + 6, na, b + 6, nb) || s_host_any(a + 6, na) || s_host_any(b + 6, nb));
}

/* Checks the [broker] and [http] strings that need more than a type. */
static int s_validate_names(const broker_config *c, const char *path, char *err, size_t errlen)
{
    if (!node_id_valid(c->node_id))
        return s_invalid(err, errlen, path, "broker", "node_id",
                         "not a valid node id (^[A-Z0-9][A-Z0-9._-]{1,63}$)");
    if (!endpoint_valid(c->endpoint, true))
        return s_invalid(err, errlen, path, "broker", "endpoint",
                         "expected tcp://HOST:PORT (PORT * or 0-65535) or ipc://PATH");
    if (c->admin_endpoint[0] && !endpoint_valid(c->admin_endpoint, true))
        return s_invalid(err, errlen, path, "broker", "admin_endpoint",
                         "expected tcp://HOST:PORT (PORT * or 0-65535), ipc://PATH or empty (off)");
    if (c->admin_endpoint[0] && s_endpoints_clash(c->admin_endpoint, c->endpoint))
        return s_invalid(err, errlen, path, "broker", "admin_endpoint",
                         "must differ from endpoint: both name the same address and port (a "
                         "port of * or 0 takes a free port for each)");
    if (c->http_listen[0] && !s_listen_valid(c->http_listen))
        return s_invalid(err, errlen, path, "http", "listen",
                         "expected IPV4-ADDRESS:PORT (port 0 = any free port), or empty (off)");
    struct in_addr exempt;
    if (c->http_exempt_address[0] && inet_pton(AF_INET, c->http_exempt_address, &exempt) != 1)
        return s_invalid(err, errlen, path, "http", "exempt_address",
                         "expected an IPv4 address, or empty (none)");
    return ASYLINK_OK;
}

/* Checks the numeric rules between options. */
static int s_validate_numbers(const broker_config *c, const char *path, char *err, size_t errlen)
{
    if (c->max_map_size < c->map_size)
        return s_invalid(err, errlen, path, "store", "max_map_size", "must be at least map_size");
    if (c->redelivery_backoff_max_ms < c->redelivery_backoff_ms)
        return s_invalid(err, errlen, path, "limits", "redelivery_backoff_max",
                         "must be at least redelivery_backoff");
    if (c->heartbeat_timeout_ms < 2 * c->heartbeat_interval_ms)
        return s_invalid(err, errlen, path, "limits", "heartbeat_timeout",
                         "must be at least twice heartbeat_interval");
    return ASYLINK_OK;
}

int broker_config_validate(const broker_config *c, const char *path, char *err, size_t errlen)
{
    if (!c || !c->node_id || !c->endpoint || !c->admin_endpoint || !c->http_listen ||
        !c->http_exempt_address)
        return s_invalid(err, errlen, path, "", "", "configuration not loaded");
    int rc = s_validate_names(c, path, err, errlen);
    return rc != ASYLINK_OK ? rc : s_validate_numbers(c, path, err, errlen);
}

int broker_config_load(const char *path, broker_config *out, char *err, size_t errlen)
{
    config_error e;
    if (err && errlen)
        err[0] = '\0';
    if (!out)
        return s_invalid(err, errlen, path, "", "", "no configuration to fill");
    memset(out, 0, sizeof *out);
    if (config_load_file(path, broker_config_options, broker_config_options_len, out, &e) != 0) {
        if (err && errlen)
            config_error_format(&e, err, errlen);
        broker_config_free(out);
        return ASYLINK_E_CONFIG;
    }
    if (broker_config_validate(out, path, err, errlen) != ASYLINK_OK) {
        broker_config_free(out);
        return ASYLINK_E_CONFIG;
    }
    return ASYLINK_OK;
}

void broker_config_free(broker_config *c)
{
    if (!c)
        return;
    config_free(broker_config_options, broker_config_options_len, c);
    memset(c, 0, sizeof *c);
}
