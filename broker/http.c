/*
 * http.c — /metrics, /healthz, /status, /status.json over libmicrohttpd.
 */
#include "http.h"

#include "asylink/errors.h"
#include "clock.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_STALE_MS 5000 /* /healthz fails when the last snapshot is older */

struct http_server {
    struct MHD_Daemon *daemon;
    metrics *metrics;
};

static enum MHD_Result s_reply(struct MHD_Connection *c, unsigned status, char *body,
                               const char *type)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static char *s_copy(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)con_cls;
    http_server *h = cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, s_copy("method not allowed\n"), "text/plain");
    if (*upload_size != 0)
        return s_reply(c, MHD_HTTP_BAD_REQUEST, s_copy("no body expected\n"), "text/plain");
    if (strcmp(url, "/metrics") == 0)
        return s_reply(c, MHD_HTTP_OK, metrics_render_prometheus(h->metrics),
                       "text/plain; version=0.0.4; charset=utf-8");
    if (strcmp(url, "/healthz") == 0) {
        bool ok = metrics_age_ms(h->metrics, clock_now_ms()) < HTTP_STALE_MS;
        return s_reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                       s_copy(ok ? "ok\n" : "stale\n"), "text/plain");
    }
    if (strcmp(url, "/status.json") == 0)
        return s_reply(c, MHD_HTTP_OK, metrics_render_json(h->metrics), "application/json");
    if (strcmp(url, "/status") == 0 || strcmp(url, "/") == 0)
        return s_reply(c, MHD_HTTP_OK, metrics_render_html(h->metrics), "text/html; charset=utf-8");
    return s_reply(c, MHD_HTTP_NOT_FOUND, s_copy("not found: /metrics /healthz /status /status.json\n"),
                   "text/plain");
}

/* Parses "HOST:PORT" (IPv4) into addr. 0 on success. */
static int s_parse_listen(const char *listen, struct sockaddr_in *addr)
{
    const char *colon = strrchr(listen, ':');
    char host[64];
    if (!colon || (size_t)(colon - listen) >= sizeof host)
        return -1;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (!*(colon + 1) || *end || port > 65535)
        return -1;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

int http_start(const char *listen, metrics *m, http_server **out, uint16_t *port_out)
{
    *out = NULL;
    struct sockaddr_in addr;
    if (s_parse_listen(listen, &addr) != 0)
        return ASYLINK_E_CONFIG;
    http_server *h = calloc(1, sizeof *h);
    if (!h)
        return ASYLINK_E_NOMEM;
    h->metrics = m;
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                                 NULL, s_handle, h, MHD_OPTION_SOCK_ADDR, &addr,
                                 MHD_OPTION_CONNECTION_LIMIT, 64U,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
    if (!h->daemon) {
        free(h);
        return ASYLINK_E_IO;
    }
    if (port_out) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
        *port_out = info ? info->port : 0;
    }
    *out = h;
    return ASYLINK_OK;
}

void http_stop(http_server **self_p)
{
    if (!self_p || !*self_p)
        return;
    MHD_stop_daemon((*self_p)->daemon);
    free(*self_p);
    *self_p = NULL;
}
