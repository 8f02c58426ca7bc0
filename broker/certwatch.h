/*
 * certwatch.h — tells operators in time that a certificate the whole
 * federation relies on runs out: the broker's own (nodes verify the
 * broker's certificate against the trust directory when they open a
 * client, so an expired or revoked one keeps every node out once it
 * reconnects) and the CA's (every certificate chains to it).
 *
 * Checked once when the broker starts serving, after every reload of the
 * trust directory, and once a day: an ERROR when the broker's certificate
 * is no longer usable under the current trust (expired, revoked, another
 * CA) or the CA's has expired, a WARN while the broker's ends within
 * CERTWATCH_WARN_MS or the CA's within CERTWATCH_CA_WARN_MS. /metrics shows both ends as gauges
 * (asylink_broker_cert_expiry_seconds, asylink_ca_cert_expiry_seconds).
 *
 * Threading: the router thread's.
 */
#ifndef ASYLINK_BROKER_CERTWATCH_H
#define ASYLINK_BROKER_CERTWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "cert.h"
#include "trust.h"

/* How long before the broker's certificate ends the WARN starts: 30 days. */
#define CERTWATCH_WARN_MS (30ull * 86400 * 1000)

/* ... and before the CA's: 90 days (a new CA means new certificates for every node). */
#define CERTWATCH_CA_WARN_MS (90ull * 86400 * 1000)

/* How often the check repeats while nothing changes: once a day. */
#define CERTWATCH_INTERVAL_MS (86400ull * 1000)

typedef struct certwatch {
    uint64_t next_ms; /* when the next check is due; 0 = at once */
} certwatch;

/* What one check found, for the log and for tests. */
typedef enum certwatch_state {
    CERTWATCH_OK = 0,   /* more than CERTWATCH_WARN_MS (the CA: _CA_WARN_MS) left */
    CERTWATCH_ENDING,   /* usable, ends within it */
    CERTWATCH_UNUSABLE, /* expired, revoked, or not issued by the trusted CA */
} certwatch_state;

/*
 * Judges own (the broker's certificate) under t at now_ms: its state, and
 * in *code the trust check's error when unusable (ASYLINK_OK otherwise).
 */
certwatch_state certwatch_own(const trust *t, const cert *own, uint64_t now_ms, int *code);

/* Judges t's CA certificate at now_ms. */
certwatch_state certwatch_ca(const trust *t, uint64_t now_ms);

/*
 * Checks and logs if the check is due (w->next_ms reached, or 0 after
 * certwatch_reset()); own may be NULL (then only the CA is checked).
 */
void certwatch_run(certwatch *w, const trust *t, const cert *own, uint64_t now_ms);

/* Makes the next certwatch_run() check at once (after a trust reload). */
void certwatch_reset(certwatch *w);

#endif
