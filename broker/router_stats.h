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

typedef struct router_stats {
    uint64_t published, accepted, duplicates, rejected;
    uint64_t rejected_by_code[64]; /* index = asylink_err (< 64) */
    uint64_t delivered, redelivered, acked, nacked, dead_lettered, expired;
    uint64_t commits, commit_ops; /* group commits and operations in them */
    uint64_t sessions_opened, sessions_closed, protocol_errors;
    uint64_t zap_admitted, zap_refused;
    uint64_t reloads, reload_failures;
} router_stats;

#endif
