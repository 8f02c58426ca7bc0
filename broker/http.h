/*
 * http.h — the operators' HTTP endpoint (libmicrohttpd, its own thread):
 *   GET /metrics      Prometheus text format
 *   GET /healthz      200 "ok" while the router publishes snapshots; 503
 *                     "standby" while asylinkd --standby waits for the data
 *                     directory, "standby-no-store" while it refuses one
 *                     holding no store, "endpoint-busy" while, having taken
 *                     it over, it cannot bind its endpoint yet; 503 "stale"
 *                     when snapshots stopped
 *   GET /status       an HTML page for operators (refreshes every 5 s)
 *   GET /status.json  the same as JSON
 * Binds to loopback by default; serves metadata only.
 */
#ifndef ASYLINK_BROKER_HTTP_H
#define ASYLINK_BROKER_HTTP_H

#include <stdint.h>

#include "metrics.h"

typedef struct http_server http_server;

/*
 * What one HTTP client may hold (docs/OPERATIONS.md, "Resource limits").
 * A slow client cannot keep a slot: a request's header must be complete
 * within request_timeout_s of the connection (or of the previous answer on
 * a kept-alive connection), whatever trickle of bytes it sends, else the
 * connection is cut. No address but the exempt one (the local supervisor
 * and Prometheus, default 127.0.0.1) may hold more than max_per_address.
 */
typedef struct http_limits {
    unsigned max_connections;   /* all clients together */
    unsigned max_per_address;   /* one IPv4 address, except `exempt` */
    unsigned request_timeout_s; /* header complete within this, absolute */
    char exempt[16];            /* dotted IPv4 address, "" = none */
} http_limits;

/*
 * Starts serving on listen ("HOST:PORT", IPv4 host, port 0 = ephemeral)
 * with the limits lim (copied; NULL = the defaults of broker_config.c).
 * m is borrowed and must outlive the server. *port_out (may be NULL) gets
 * the bound port. ASYLINK_OK, ASYLINK_E_CONFIG (bad listen string or
 * exempt address), ASYLINK_E_NOMEM, ASYLINK_E_IO (cannot bind or start the
 * watchdog thread).
 */
int http_start(const char *listen, const http_limits *lim, metrics *m, http_server **out,
               uint16_t *port_out);

/*
 * Why http_start() could not bind where ("HOST:PORT"): binds and closes a
 * socket of its own there at once. 0 if it can be bound now (the failure
 * was elsewhere), else the errno (EADDRINUSE: another process holds the
 * port; EADDRNOTAVAIL: not an address of this host; EINVAL: not HOST:PORT).
 */
int http_listen_probe(const char *where);

void http_stop(http_server **self_p);

#endif
