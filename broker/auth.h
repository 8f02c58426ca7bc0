/*
 * auth.h — the ZAP handler (ZeroMQ RFC 27) that admits CURVE clients.
 *
 * A client's CURVE public key must be the X25519 key of a certificate in
 * the trust directory that is usable now (CA-signed, in its validity
 * window, not revoked); the connection is then bound to that node id,
 * which libzmq hands the router as the "User-Id" of every message. Every
 * other key is refused before a single command is read.
 *
 * Two ZAP domains: AUTH_DOMAIN (the client endpoint) and AUTH_ADMIN_DOMAIN
 * (the operator admin endpoint), where the certificate must also carry
 * ROLE_OPERATOR. Requests for any other domain are refused.
 *
 * Runs in the router thread on a REP socket bound to
 * inproc://zeromq.zap.01 in the broker's context.
 */
#ifndef ASYLINK_BROKER_AUTH_H
#define ASYLINK_BROKER_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "trust.h"

#define AUTH_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define AUTH_DOMAIN "asylink"             /* ZAP domain of the client endpoint */
#define AUTH_ADMIN_DOMAIN "asylink-admin" /* ZAP domain of the admin endpoint */
/* ZAP metadata property naming the admitted certificate's serial. */
#define AUTH_SERIAL_PROPERTY "X-Asylink-Serial"

/* Counters of ZAP decisions. */
typedef struct auth_stats {
    uint64_t admitted; /* connections admitted */
    uint64_t refused;  /* connections refused */
} auth_stats;

/*
 * Told of each refusal of a certificate the trust directory holds (its key
 * is known but it is not usable now: revoked, expired, not yet valid; or on
 * the admin endpoint it lacks the operator role), so that the broker can
 * record it; c is borrowed for the call, admin says which endpoint. A key
 * no certificate has is not told (anyone can offer one).
 */
typedef void (*auth_refused_fn)(void *ctx, const cert *c, int code, bool admin);

/* Creates and binds the ZAP socket. NULL on failure (errno from zmq). */
void *auth_socket_new(void *ctx);

/*
 * Answers every pending ZAP request without blocking, against trust t at
 * now_ms. Logs each decision (node id and peer address, never keys), and
 * calls refused (may be NULL) with ctx for each refusal of a known
 * certificate.
 */
void auth_handle_pending(void *zap, const trust *t, uint64_t now_ms, auth_stats *stats,
                         auth_refused_fn refused, void *ctx);

/*
 * The node a CURVE public key belongs to if some certificate with that key
 * is usable at now_ms: ASYLINK_OK with *out set; otherwise
 * ASYLINK_E_UNKNOWN_SENDER (*out NULL) or the trust_usable() code of a
 * certificate with that key (revoked, expired...; *out that certificate,
 * so that the refusal can name the node). *out is borrowed from t.
 */
int auth_lookup(const trust *t, const uint8_t key[32], uint64_t now_ms, const cert **out);

#endif
