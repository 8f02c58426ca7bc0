/*
 * httpc.h — a minimal HTTP/1.0 GET client over a plain socket, for reading
 * the broker's operator endpoints (/status.json). Every step is bounded:
 * one overall deadline for resolving, connecting, sending and reading, and
 * a maximum body size. No TLS, no redirects, no chunked encoding (an
 * HTTP/1.0 request gets none from libmicrohttpd).
 *
 * Threading: no state; thread-safe.
 */
#ifndef ASYLINK_TOOLS_HTTPC_H
#define ASYLINK_TOOLS_HTTPC_H

#include <stddef.h>

/* A response: status code and body (malloc'd, NUL-terminated). */
typedef struct {
    int status;   /* e.g. 200 */
    char *body;   /* caller frees */
    size_t len;   /* body bytes, without the NUL */
} httpc_response;

/*
 * GETs path from host:port within timeout_ms, accepting at most max_body
 * bytes of body. On success fills r (the status may be any code). On
 * failure err (errlen bytes) says why. Errors: ASYLINK_E_INVALID_ARG,
 * ASYLINK_E_NOT_FOUND (host does not resolve), ASYLINK_E_UNAVAILABLE
 * (connection refused or failed), ASYLINK_E_TIMEOUT, ASYLINK_E_TOO_LARGE,
 * ASYLINK_E_MALFORMED (not an HTTP response), ASYLINK_E_IO, ASYLINK_E_NOMEM.
 */
int httpc_get(const char *host, const char *port, const char *path, int timeout_ms,
              size_t max_body, httpc_response *r, char *err, size_t errlen);

/* Frees r's body and clears r. Accepts NULL. */
void httpc_response_clear(httpc_response *r);

#endif
