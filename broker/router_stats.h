/*
 * router_stats.h — the broker's counters since start: the router counts,
 * the admin endpoint (stats) and the metrics snapshot (/metrics, /status)
 * report. Kept apart from router.h so that the reporters do not depend on
 * the loop.
 *
 * Threading: written by the router thread only; metrics get a copy in
 * each snapshot.
 */
#ifndef ASYLINK_BROKER_ROUTER_STATS_H
#define ASYLINK_BROKER_ROUTER_STATS_H

#include <stdint.h>

#include "cert.h"

/* Upper bounds (microseconds) of the group-commit latency histogram buckets; the last is +Inf. */
#define ROUTER_COMMIT_BUCKETS 11
static const uint64_t router_commit_bounds_us[ROUTER_COMMIT_BUCKETS - 1] = {
    250, 500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000};

#define ROUTER_RECENT_REJECTIONS 16

/* One rejected Publish, for the status page (no reason text, no message id). */
typedef struct router_rejection {
    uint64_t at_ms;
    char node_id[NODE_ID_MAX + 1]; /* "" if the session had ended */
    int code;
} router_rejection;

typedef struct router_stats {
    uint64_t published, accepted, duplicates, rejected;
    uint64_t rejected_by_code[64]; /* index = asylink_err (< 64) */
    uint64_t delivered, redelivered, acked, nacked, dead_lettered, expired;
    uint64_t commits, commit_ops; /* group commits and operations in them */
    uint64_t sessions_opened, sessions_closed, protocol_errors;
    uint64_t zap_admitted, zap_refused;
    uint64_t reloads, reload_failures;
    uint64_t commit_us_buckets[ROUTER_COMMIT_BUCKETS]; /* non-cumulative counts */
    uint64_t commit_us_sum;
    router_rejection recent[ROUTER_RECENT_REJECTIONS]; /* ring, newest at (n_recent - 1) % N */
    uint64_t n_recent;
} router_stats;

#endif
