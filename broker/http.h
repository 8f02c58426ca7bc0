/*
 * http.h — the operators' HTTP endpoint (libmicrohttpd, its own thread):
 *   GET /metrics      Prometheus text format
 *   GET /healthz      200 "ok" while the router publishes snapshots; 503
 *                     "standby" while asylinkd --standby waits for the data
 *                     directory, 503 "stale" when snapshots stopped
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
 * Starts serving on listen ("HOST:PORT", IPv4 host, port 0 = ephemeral).
 * m is borrowed and must outlive the server. *port_out (may be NULL) gets
 * the bound port. ASYLINK_OK, ASYLINK_E_CONFIG (bad listen string),
 * ASYLINK_E_IO (cannot bind).
 */
int http_start(const char *listen, metrics *m, http_server **out, uint16_t *port_out);

void http_stop(http_server **self_p);

#endif
