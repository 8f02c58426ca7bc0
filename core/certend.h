/*
 * certend.h — how near a certificate the federation relies on is to its
 * end, judged the same way by the broker (broker/certwatch.c: its own
 * certificate and the CA's) and the library (client/trustref.c: the
 * node's own, its copy of the broker's, the CA's), so that operators on
 * both sides are told in time, before nodes are refused.
 *
 * Pure functions over an immutable trust; any thread.
 */
#ifndef ASYLINK_CORE_CERTEND_H
#define ASYLINK_CORE_CERTEND_H

#include <stdint.h>

#include "cert.h"
#include "trust.h"

/* How long before a node's or the broker's certificate ends it counts as ending: 30 days. */
#define CERTEND_WARN_MS (30ull * 86400 * 1000)

/* ... and the CA's: 90 days (a new CA means new certificates for every node). */
#define CERTEND_CA_WARN_MS (90ull * 86400 * 1000)

/* How often a long-running process looks again while nothing changes: once a day. */
#define CERTEND_INTERVAL_MS (86400ull * 1000)

typedef enum certend_state {
    CERTEND_OK = 0,   /* more than CERTEND_WARN_MS (the CA: CERTEND_CA_WARN_MS) left */
    CERTEND_ENDING,   /* usable, ends within it */
    CERTEND_UNUSABLE, /* expired, not valid yet, revoked, or not issued by the trusted CA */
} certend_state;

/*
 * Judges c under t at now_ms: its state, and in *code trust_check()'s
 * error when unusable (ASYLINK_OK otherwise).
 */
certend_state certend_cert(const trust *t, const cert *c, uint64_t now_ms, int *code);

/* Judges t's CA certificate at now_ms. */
certend_state certend_ca(const trust *t, uint64_t now_ms);

/* Whole days from now_ms to not_after_ms (0 once ended). */
uint64_t certend_days_left(uint64_t not_after_ms, uint64_t now_ms);

#endif
