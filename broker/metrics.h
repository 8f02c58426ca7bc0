/*
 * metrics.h — what operators see: a snapshot of the broker's counters,
 * sessions and queues, published by the router about once a second and
 * rendered for Prometheus (/metrics), as JSON (/status.json) and as an
 * HTML page (/status) by the HTTP thread.
 *
 * Only metadata: node ids, counts and sizes; never payloads, keys or
 * personal data.
 *
 * Threading: metrics_publish() from the router thread, the renderers from
 * the HTTP thread; a mutex guards the current snapshot.
 */
#ifndef ASYLINK_BROKER_METRICS_H
#define ASYLINK_BROKER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"
#include "router_stats.h"
#include "store.h"

/* One node's direct queue and session. */
typedef struct metrics_node {
    char node_id[NODE_ID_MAX + 1];
    uint64_t depth;             /* messages waiting (including in flight) */
    uint64_t bytes;             /* envelope bytes waiting */
    uint64_t dead_letters;      /* dead letters held for it */
    bool connected;             /* a session is open */
    uint32_t in_flight;         /* delivered, not yet acknowledged */
    uint32_t credit;            /* delivery window */
    uint64_t oldest_ms;         /* acceptance time of the oldest waiting message, 0 = none */
    uint64_t cert_not_after_ms; /* its current certificate's end of validity */
} metrics_node;

#define METRICS_LAG_CAP 100000 /* a subscription's lag is counted up to this */

/* One durable feed subscription. */
typedef struct metrics_feed {
    char node_id[NODE_ID_MAX + 1];
    char name[65];    /* subscription name */
    char prefix[256]; /* topic prefix */
    uint64_t cursor;  /* last acknowledged feed sequence */
    uint64_t lag;     /* feed messages under prefix after cursor, up to METRICS_LAG_CAP */
    bool lag_capped;  /* lag reached METRICS_LAG_CAP: at least that many */
    bool open;        /* a session of the node has it open now */
} metrics_feed;

typedef struct metrics_snapshot {
    char broker_node_id[NODE_ID_MAX + 1];
    uint64_t broker_cert_not_after_ms; /* the broker's own certificate's end; 0 = not known */
    uint64_t ca_cert_not_after_ms;     /* the CA certificate's end */
    uint64_t started_ms, taken_ms;
    bool durable;
    int verify_workers;
    size_t sessions;
    router_stats stats;
    store_stats store;
    metrics_node *nodes; /* owned, sorted by node id; member nodes only (no broker,
                            operator or CA certificates) */
    size_t n_nodes;
    struct metrics_feed *feeds; /* owned, by node then name */
    size_t n_feeds;
    uint64_t max_map_size; /* store.max_map_size */
    uint64_t transit_bytes;     /* envelope bytes of the Publishes not yet answered */
    uint64_t max_transit_bytes; /* limits.max_transit_bytes: their bound */
} metrics_snapshot;

typedef struct metrics metrics;

/* What the broker is doing, shown by /healthz, /status.json and /metrics. */
typedef enum metrics_role {
    METRICS_ROLE_ACTIVE = 0,  /* owns the data directory and serves (the default) */
    METRICS_ROLE_STANDBY = 1, /* waits for another asylinkd to release the data directory */
    /* a standby that found no store in the data directory: it refuses to take over until an
       asylinkd serves one there (DESIGN-CHANGES 49) */
    METRICS_ROLE_STANDBY_NO_STORE = 2,
    /* took over the data directory but cannot bind its endpoint yet: retrying every second */
    METRICS_ROLE_ENDPOINT_BUSY = 3,
} metrics_role;

/*
 * The role's name, as /healthz (every role but active), /status.json and
 * /status show it: "active", "standby", "standby-no-store", "endpoint-busy".
 */
const char *metrics_role_name(metrics_role role);

/*
 * Counters of the broker's defences against resource attacks, bumped by
 * the threads that see them (HTTP server, connection monitor, router) and
 * rendered with every snapshot. metrics_guard_add() is safe from any thread.
 */
typedef enum metrics_guard {
    METRICS_HTTP_REFUSED_PER_IP,  /* HTTP connections over the per-address limit */
    METRICS_HTTP_REQUEST_TIMEOUT, /* HTTP connections cut: request not complete in time */
    METRICS_HANDSHAKE_FAILED,     /* ZMTP/CURVE handshakes refused (bad key, ZAP denial) */
    METRICS_HANDSHAKE_TIMEOUT,    /* connections closed before finishing the handshake */
    METRICS_SESSION_OVERFLOW,     /* sessions ended: their queued output passed the bound */
    METRICS_GUARD_COUNT
} metrics_guard;

void metrics_guard_add(metrics *m, metrics_guard which, uint64_t n);
uint64_t metrics_guard_get(metrics *m, metrics_guard which);

metrics *metrics_new(void);
void metrics_destroy(metrics **self_p);

/* Replaces the current snapshot; takes ownership of snap->nodes and snap->feeds. */
void metrics_publish(metrics *m, metrics_snapshot *snap);

/* Renders the current snapshot into a malloc'd string (NULL on out of memory). */
char *metrics_render_prometheus(metrics *m);
char *metrics_render_json(metrics *m);
char *metrics_render_html(metrics *m);

/* Milliseconds since the last snapshot (UINT64_MAX if none yet). */
uint64_t metrics_age_ms(metrics *m, uint64_t now_ms);

/*
 * Sets the role (node_id: this broker's, copied; since_ms: when the role
 * began). Any thread.
 */
void metrics_set_role(metrics *m, metrics_role role, const char *node_id, uint64_t since_ms);

/* The current role. Any thread. */
metrics_role metrics_get_role(metrics *m);

#endif
