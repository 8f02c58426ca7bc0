/*
 * certwatch.h — tells the broker's operators in time that a certificate
 * the whole federation relies on runs out: the broker's own (nodes verify
 * their copy of it against the trust directory when they open a client, so
 * an expired or revoked one keeps every node out once it reconnects) and
 * the CA's (every certificate chains to it). Judged by core/certend.h.
 *
 * Checked once when the broker starts serving, after every reload of the
 * trust directory, and once a day: an ERROR when the broker's certificate
 * is no longer usable under the current trust (expired, revoked, another
 * CA) or the CA's has expired, a WARN while the broker's ends within 30
 * days or the CA's within 90 (CERTEND_WARN_MS, CERTEND_CA_WARN_MS).
 * /metrics shows both ends as gauges (asylink_broker_cert_expiry_seconds,
 * asylink_ca_cert_expiry_seconds).
 *
 * Threading: the router thread's.
 */
#ifndef ASYLINK_BROKER_CERTWATCH_H
#define ASYLINK_BROKER_CERTWATCH_H

#include <stdint.h>

#include "cert.h"
#include "trust.h"

typedef struct certwatch {
    uint64_t next_ms; /* when the next check is due; 0 = at once */
} certwatch;

/*
 * Checks and logs if the check is due (w->next_ms reached, or 0 after
 * certwatch_reset()); own may be NULL (then only the CA is checked).
 */
void certwatch_run(certwatch *w, const trust *t, const cert *own, uint64_t now_ms);

/* Makes the next certwatch_run() check at once (after a trust reload). */
void certwatch_reset(certwatch *w);

#endif
