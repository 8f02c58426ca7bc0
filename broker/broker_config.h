/*
 * broker_config.h — asylinkd's configuration, declared once as a core/config
 * option table (broker_config_options) that drives the INI parser, the
 * defaults, `asylinkd --print-example-config` (config_write_example) and the
 * reference in docs/OPERATIONS.md (config_write_markdown).
 *
 * Relative paths in the file are relative to the directory of the file.
 * Durations are stored in milliseconds, sizes in bytes (see core/config.h
 * for the value syntax).
 *
 * After the table's own checks (types, ranges, required keys),
 * broker_config_validate() enforces the rules between options:
 *   - broker.node_id is a valid node id (^[A-Z0-9][A-Z0-9._-]{1,63}$);
 *   - broker.endpoint is a tcp:// or ipc:// endpoint; admin_endpoint is
 *     empty (off) or one too, and differs from endpoint;
 *   - http.listen is empty (off) or IPV4-ADDRESS:PORT (port 0 = any free
 *     port, for tests), as broker/http.c binds it; http.exempt_address is
 *     empty or an IPv4 address;
 *   - store.max_map_size >= store.map_size;
 *   - limits.redelivery_backoff_max >= limits.redelivery_backoff;
 *   - limits.heartbeat_timeout >= 2 * limits.heartbeat_interval, so one late
 *     heartbeat does not drop a healthy session.
 *
 * Threading: a broker_config is plain data; load it once at start (or into
 * a fresh struct on reload) and read it from any thread.
 */
#ifndef ASYLINK_BROKER_BROKER_CONFIG_H
#define ASYLINK_BROKER_BROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* store.durability values (indices into its enum names). */
enum broker_durability {
    BROKER_DURABILITY_FSYNC = 0,  /* fsync each group commit before Accepted */
    BROKER_DURABILITY_RELAXED = 1 /* no fsync per commit; flush every sync_interval */
};

/* The broker's configuration. Strings are heap, freed by broker_config_free(). */
typedef struct broker_config {
    /* [broker] */
    char *node_id;             /* this broker's node id, e.g. BROKER.EU */
    char *cert;                /* its certificate file (absolute after load) */
    char *key;                 /* its secret key file */
    char *key_passphrase_file; /* file holding the key's passphrase; "" = key not encrypted */
    char *trust_dir;           /* trust directory: ca.cert, nodes/, revoked.crl */
    char *data_dir;            /* LMDB data directory, one broker per directory */
    char *policy;              /* access policy file (broker/policy.h) */
    char *endpoint;            /* ZeroMQ endpoint for nodes, e.g. tcp://127.0.0.1:7400 */
    char *admin_endpoint;      /* ZeroMQ endpoint for operators; "" = off */
    bool standby;              /* wait for a data_dir held by another asylinkd */
    /* [store] */
    uint64_t map_size;          /* initial LMDB map size, bytes */
    uint64_t max_map_size;      /* the map never grows beyond this, bytes */
    int durability;             /* enum broker_durability */
    uint64_t sync_interval_ms;  /* relaxed only: flush to disk this often */
    uint64_t dedup_window_ms;   /* how long (sender, message_id) is remembered */
    uint64_t sweep_interval_ms; /* how often expired data is swept */
    /* [limits] */
    uint64_t max_envelope_bytes;        /* largest envelope accepted, bytes */
    int64_t max_in_flight;              /* unacknowledged messages per session */
    uint64_t max_in_flight_bytes;       /* their envelope bytes, per session */
    uint64_t max_transit_bytes;         /* envelope bytes of all unanswered Publishes */
    int64_t max_recipients;             /* direct recipients per envelope */
    int64_t max_ack_batch;              /* sequences per Ack/Nack command */
    uint64_t clock_skew_future_ms;      /* created_ms may be this far ahead of now */
    int64_t max_deliveries;             /* attempts before the dead letter queue */
    uint64_t redelivery_backoff_ms;     /* first redelivery wait, doubling */
    uint64_t redelivery_backoff_max_ms; /* longest redelivery wait */
    uint64_t heartbeat_interval_ms;     /* heartbeat period announced in Welcome */
    uint64_t heartbeat_timeout_ms;      /* silence after which a session is dropped */
    uint64_t handshake_timeout_ms;      /* a connection must finish ZMTP/CURVE within this */
    int64_t max_open_files;      /* RLIMIT_NOFILE raised to this at start (hard limit permitting) */
    uint64_t max_session_output; /* bytes queued towards one session before it is ended */
    /* [audit] */
    bool audit_enabled;                    /* keep the audit trail */
    int64_t audit_checkpoint_entries;      /* sign after this many entries */
    uint64_t audit_checkpoint_interval_ms; /* ... or this long after the first uncovered one */
    uint64_t audit_retention_ms;           /* prune older entries; 0 = keep forever */
    /* [admin] */
    bool four_eyes;                /* purge, dlq drop, PERSONAL dlq replay need a second operator */
    uint64_t four_eyes_timeout_ms; /* a held request lapses unconfirmed after this */
    /* [workers] */
    int64_t verify_threads; /* signature verification threads; 0 = one per core */
    /* [http] */
    char *http_listen;            /* IPv4 ADDRESS:PORT of /metrics, /healthz, /status; "" = off */
    int64_t http_max_connections; /* all HTTP clients together */
    int64_t http_max_per_address; /* one IPv4 address, except http_exempt_address */
    uint64_t http_request_timeout_ms; /* request header complete within this */
    char *http_exempt_address;        /* IPv4 address without the per-address limit; "" = none */
    /* [log] */
    int log_level; /* enum log_level (core/log.h) */
} broker_config;

/* The option table, in the order of the example file and the docs. */
extern const config_option broker_config_options[];
extern const size_t broker_config_options_len;

/*
 * The rules between options that broker_config_validate() checks, one per
 * line, as the manual page asylinkd.ini(5) lists them (kept beside the
 * code that checks them, in broker_config.c).
 */
extern const char broker_config_rules[];

/*
 * Loads the INI file at path into *out: defaults, then the file, then
 * broker_config_validate(). *out is overwritten without being freed (pass a
 * fresh struct); on success the caller frees it with broker_config_free().
 * On error *out holds nothing (it is freed and zeroed) and err (errlen
 * bytes, may be NULL/0) holds one line naming file, line and option, e.g.
 *   broker.ini:12: [store] map_size: expected a size like 512MiB, got "abc"
 * Returns ASYLINK_OK, or ASYLINK_E_CONFIG for any error (also an unreadable
 * file or out of memory: the message says which).
 */
int broker_config_load(const char *path, broker_config *out, char *err, size_t errlen);

/*
 * Checks the rules between options (listed at the top of this file) of a
 * loaded or defaulted-and-set config; path names the file in the message
 * (may be NULL). Returns ASYLINK_OK or ASYLINK_E_CONFIG with err filled.
 */
int broker_config_validate(const broker_config *c, const char *path, char *err, size_t errlen);

/* Frees the strings of c and sets them to NULL. Safe to call twice and on a zeroed struct. */
void broker_config_free(broker_config *c);

#endif
