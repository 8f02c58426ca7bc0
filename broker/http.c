/*
 * http.c — /metrics, /healthz, /status, /status.json over libmicrohttpd.
 */
#include "http.h"

#include "asylink/errors.h"
#include "clock.h"
#include "thread.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_STALE_MS 5000 /* /healthz fails when the last snapshot is older */
#define HTTP_WATCH_MS 200  /* how often the watchdog looks for slow requests */

/*
 * One open connection, from MHD's "started" to its "closed" notification
 * (both on MHD's thread). MHD closes the socket only after "closed", so
 * while an entry is linked (under the lock) its fd is this connection's.
 */
typedef struct s_conn {
    struct s_conn *prev, *next;
    int fd;
    uint32_t addr;     /* IPv4, network order; 0 if not IPv4 */
    uint64_t since_ms; /* connection, or end of the previous request */
    bool in_request;   /* the header is complete: the handler runs */
    bool cut;          /* the watchdog shut it down */
} s_conn;

struct http_server {
    struct MHD_Daemon *daemon;
    metrics *metrics;
    http_limits lim;
    uint32_t exempt;      /* network order, 0 = none */
    pthread_mutex_t lock; /* guards conns and stopping */
    pthread_cond_t wake;
    s_conn *conns;
    bool stopping;
    pthread_t watchdog;
    bool watching;
};

static const http_limits s_default_limits = {
    .max_connections = 256, .max_per_address = 16, .request_timeout_s = 5, .exempt = "127.0.0.1"};

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

/*
 * 200 "ok" while snapshots are fresh; otherwise 503 with the role when not
 * active ("standby", "standby-no-store", "endpoint-busy"), else "stale".
 */
static enum MHD_Result s_healthz(struct MHD_Connection *c, metrics *m)
{
    char body[32] = "ok\n";
    metrics_role role = metrics_get_role(m);
    if (role != METRICS_ROLE_ACTIVE)
        snprintf(body, sizeof body, "%s\n", metrics_role_name(role));
    else if (metrics_age_ms(m, clock_now_ms()) >= HTTP_STALE_MS)
        snprintf(body, sizeof body, "stale\n");
    unsigned status = strcmp(body, "ok\n") == 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    return s_reply(c, status, s_copy(body), "text/plain");
}

/* The header is complete: the deadline no longer applies to this request. */
static void s_mark_request(http_server *h, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (!info || !info->socket_context)
        return;
    pthread_mutex_lock(&h->lock);
    ((s_conn *)info->socket_context)->in_request = true;
    pthread_mutex_unlock(&h->lock);
}

/* A request was answered: a kept-alive connection gets a new deadline. */
static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)con_cls;
    (void)toe;
    http_server *h = cls;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (!info || !info->socket_context)
        return;
    pthread_mutex_lock(&h->lock);
    s_conn *e = info->socket_context;
    e->in_request = false;
    e->since_ms = clock_now_ms();
    pthread_mutex_unlock(&h->lock);
}

/* Links a new connection into the table, unlinks a closed one. */
static void s_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    http_server *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        s_conn *e = calloc(1, sizeof *e);
        if (!e || !fd) { /* untracked: MHD's idle timeout still applies */
            free(e);
            *socket_context = NULL;
            return;
        }
        e->fd = fd->connect_fd;
        if (ad && ad->client_addr && ad->client_addr->sa_family == AF_INET)
            e->addr = ((const struct sockaddr_in *)(const void *)ad->client_addr)->sin_addr.s_addr;
        e->since_ms = clock_now_ms();
        pthread_mutex_lock(&h->lock);
        e->next = h->conns;
        if (h->conns)
            h->conns->prev = e;
        h->conns = e;
        pthread_mutex_unlock(&h->lock);
        *socket_context = e;
        return;
    }
    s_conn *e = *socket_context;
    if (!e)
        return;
    pthread_mutex_lock(&h->lock);
    if (e->prev)
        e->prev->next = e->next;
    else
        h->conns = e->next;
    if (e->next)
        e->next->prev = e->prev;
    pthread_mutex_unlock(&h->lock);
    free(e);
    *socket_context = NULL;
}

/* Refuses a connection from an address that already holds its share. */
static enum MHD_Result s_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    http_server *h = cls;
    if (!addr || addrlen < (socklen_t)sizeof(struct sockaddr_in) || addr->sa_family != AF_INET)
        return MHD_YES;
    uint32_t ip = ((const struct sockaddr_in *)(const void *)addr)->sin_addr.s_addr;
    if (h->exempt && ip == h->exempt)
        return MHD_YES;
    unsigned n = 0;
    pthread_mutex_lock(&h->lock);
    for (const s_conn *e = h->conns; e; e = e->next)
        n += e->addr == ip;
    pthread_mutex_unlock(&h->lock);
    if (n < h->lim.max_per_address)
        return MHD_YES;
    metrics_guard_add(h->metrics, METRICS_HTTP_REFUSED_PER_IP, 1);
    return MHD_NO;
}

/*
 * The watchdog: cuts every connection whose request header is not complete
 * request_timeout_s after it began. shutdown() makes MHD read end-of-file
 * and close the connection on its own thread; the entry stays linked (and
 * its fd MHD's) until MHD reports it closed.
 */
static void *s_watch(void *arg)
{
    thread_name("asylinkd-watch");
    http_server *h = arg;
    uint64_t limit_ms = (uint64_t)h->lim.request_timeout_s * 1000;
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        uint64_t now = clock_now_ms();
        for (s_conn *e = h->conns; e; e = e->next) {
            if (e->in_request || e->cut || now - e->since_ms < limit_ms)
                continue;
            e->cut = true;
            shutdown(e->fd, SHUT_RDWR);
            metrics_guard_add(h->metrics, METRICS_HTTP_REQUEST_TIMEOUT, 1);
        }
        struct timespec until;
        clock_deadline_in(HTTP_WATCH_MS, &until);
        pthread_cond_timedwait(&h->wake, &h->lock, &until);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)con_cls;
    http_server *h = cls;
    s_mark_request(h, c);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return s_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, s_copy("method not allowed\n"),
                       "text/plain");
    if (*upload_size != 0)
        return s_reply(c, MHD_HTTP_BAD_REQUEST, s_copy("no body expected\n"), "text/plain");
    if (strcmp(url, "/metrics") == 0)
        return s_reply(c, MHD_HTTP_OK, metrics_render_prometheus(h->metrics),
                       "text/plain; version=0.0.4; charset=utf-8");
    if (strcmp(url, "/healthz") == 0)
        return s_healthz(c, h->metrics);
    if (strcmp(url, "/status.json") == 0)
        return s_reply(c, MHD_HTTP_OK, metrics_render_json(h->metrics), "application/json");
    if (strcmp(url, "/status") == 0 || strcmp(url, "/") == 0)
        return s_reply(c, MHD_HTTP_OK, metrics_render_html(h->metrics), "text/html; charset=utf-8");
    return s_reply(c, MHD_HTTP_NOT_FOUND,
                   s_copy("not found: /metrics /healthz /status /status.json\n"), "text/plain");
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

/* Frees h after its daemon and watchdog have stopped (or never started). */
static void s_free(http_server *h)
{
    if (h->watching) {
        pthread_mutex_lock(&h->lock);
        h->stopping = true;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->watchdog, NULL);
    }
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

int http_start(const char *listen, const http_limits *lim, metrics *m, http_server **out,
               uint16_t *port_out)
{
    *out = NULL;
    struct sockaddr_in addr;
    if (s_parse_listen(listen, &addr) != 0)
        return ASYLINK_E_CONFIG;
    if (!lim)
        lim = &s_default_limits;
    struct in_addr exempt = {0};
    if (lim->exempt[0] && inet_pton(AF_INET, lim->exempt, &exempt) != 1)
        return ASYLINK_E_CONFIG;
    if (!lim->max_connections || !lim->max_per_address || !lim->request_timeout_s)
        return ASYLINK_E_CONFIG;
    http_server *h = calloc(1, sizeof *h);
    if (!h)
        return ASYLINK_E_NOMEM;
    h->metrics = m;
    h->lim = *lim;
    h->exempt = exempt.s_addr;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->wake, NULL);
    if (pthread_create(&h->watchdog, NULL, s_watch, h) != 0) {
        s_free(h);
        return ASYLINK_E_IO;
    }
    h->watching = true;
    /* The idle timeout is a second guard; the watchdog's deadline is the real one. */
    h->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, s_accept, h, s_handle, h,
        MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_CONNECTION_LIMIT, lim->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, lim->request_timeout_s * 2, MHD_OPTION_NOTIFY_CONNECTION,
        s_notify, h, MHD_OPTION_NOTIFY_COMPLETED, s_completed, h, MHD_OPTION_END);
    if (!h->daemon) {
        s_free(h);
        return ASYLINK_E_IO;
    }
    if (port_out) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
        *port_out = info ? info->port : 0;
    }
    *out = h;
    return ASYLINK_OK;
}

int http_listen_probe(const char *where)
{
    struct sockaddr_in addr;
    if (s_parse_listen(where, &addr) != 0)
        return EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int one = 1, err = 0; /* SO_REUSEADDR as libmicrohttpd: a port in TIME_WAIT is no clash */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (const struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 1) != 0)
        err = errno;
    close(fd);
    return err;
}

void http_stop(http_server **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_server *h = *self_p;
    MHD_stop_daemon(h->daemon); /* reports every connection closed: the table empties */
    s_free(h);
    *self_p = NULL;
}
