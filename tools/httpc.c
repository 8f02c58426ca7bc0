/*
 * httpc.c — HTTP/1.0 GET over a non-blocking socket, every wait bounded by
 * one deadline (httpc.h).
 */
#include "httpc.h"

#include "asylink/asylink.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTPC_HEAD_MAX (64u * 1024)

static int s_err(char *err, size_t errlen, int code, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", what);
    return code;
}

/* Milliseconds left until deadline (0 when passed). */
static int s_left(uint64_t deadline)
{
    uint64_t now = clock_now_ms();
    return now >= deadline ? 0 : (int)(deadline - now);
}

/* Waits for events on fd until deadline: 1 ready, 0 timed out, -1 error. */
static int s_wait(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int left = s_left(deadline);
        if (left == 0)
            return 0;
        int n = poll(&p, 1, left);
        if (n >= 0 || errno != EINTR)
            return n > 0 ? 1 : n;
    }
}

/* Connects a non-blocking socket to one address before deadline. */
static int s_connect_one(const struct addrinfo *ai, uint64_t deadline, int *fd_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
    if (fd < 0)
        return ASYLINK_E_IO;
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
        int w = s_wait(fd, POLLOUT, deadline);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (w == 0) {
            close(fd);
            return ASYLINK_E_TIMEOUT;
        }
        rc = w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0 ? 0
                                                                                          : -1;
    }
    if (rc != 0) {
        close(fd);
        return ASYLINK_E_UNAVAILABLE;
    }
    *fd_out = fd;
    return ASYLINK_OK;
}

static int s_connect(const char *host, const char *port, uint64_t deadline, int *fd,
                     char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return s_err(err, errlen, ASYLINK_E_NOT_FOUND, "the host does not resolve");
    int rc = ASYLINK_E_UNAVAILABLE;
    for (struct addrinfo *ai = res; ai && rc != ASYLINK_OK && rc != ASYLINK_E_TIMEOUT;
         ai = ai->ai_next)
        rc = s_connect_one(ai, deadline, fd);
    freeaddrinfo(res);
    if (rc == ASYLINK_E_TIMEOUT)
        return s_err(err, errlen, rc, "connecting timed out");
    if (rc != ASYLINK_OK)
        return s_err(err, errlen, rc, "cannot connect (is the broker's [http] listen set?)");
    return ASYLINK_OK;
}

static int s_send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return ASYLINK_E_IO;
        int w = s_wait(fd, POLLOUT, deadline);
        if (w <= 0)
            return w == 0 ? ASYLINK_E_TIMEOUT : ASYLINK_E_IO;
    }
    return ASYLINK_OK;
}

/* Reads until EOF or limit bytes (ASYLINK_E_TOO_LARGE beyond). */
static int s_read_all(int fd, uint64_t deadline, size_t limit, char **out, size_t *len)
{
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap + 1);
    int rc = buf ? ASYLINK_OK : ASYLINK_E_NOMEM;
    while (rc == ASYLINK_OK) {
        if (n == cap) {
            char *b = cap < limit ? realloc(buf, (cap * 2 > limit ? limit : cap * 2) + 1) : NULL;
            if (!b) {
                rc = cap < limit ? ASYLINK_E_NOMEM : ASYLINK_E_TOO_LARGE;
                break;
            }
            buf = b;
            cap = cap * 2 > limit ? limit : cap * 2;
        }
        ssize_t got = recv(fd, buf + n, cap - n, 0);
        if (got == 0)
            break;
        if (got > 0) {
            n += (size_t)got;
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            rc = ASYLINK_E_IO;
        else if ((got = s_wait(fd, POLLIN, deadline)) <= 0)
            rc = got == 0 ? ASYLINK_E_TIMEOUT : ASYLINK_E_IO;
    }
    if (rc != ASYLINK_OK) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return ASYLINK_OK;
}

/* Splits raw (n bytes) into status and body; checks Content-Length if given. */
static int s_parse(char *raw, size_t n, size_t max_body, httpc_response *r, char *err,
                   size_t errlen)
{
    int major = 0, minor = 0, status = 0;
    char *end = NULL;
    if (sscanf(raw, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 100 ||
        status > 599)
        return s_err(err, errlen, ASYLINK_E_MALFORMED, "not an HTTP response");
    char *sep = strstr(raw, "\r\n\r\n");
    size_t skip = 4;
    if (!sep) {
        sep = strstr(raw, "\n\n");
        skip = 2;
    }
    if (!sep || (size_t)(sep - raw) > HTTPC_HEAD_MAX)
        return s_err(err, errlen, ASYLINK_E_MALFORMED, "no end of the response headers");
    char *body = sep + skip;
    size_t blen = n - (size_t)(body - raw);
    if (blen > max_body)
        return s_err(err, errlen, ASYLINK_E_TOO_LARGE, "the response body is too large");
    *sep = '\0';
    for (char *h = strchr(raw, '\n'); h; h = strchr(h + 1, '\n'))
        if (strncasecmp(h + 1, "Content-Length:", 15) == 0) {
            unsigned long long cl = strtoull(h + 16, &end, 10);
            if (cl != blen)
                return s_err(err, errlen, ASYLINK_E_MALFORMED,
                             "the body is shorter or longer than its Content-Length");
        }
    r->body = malloc(blen + 1);
    if (!r->body)
        return s_err(err, errlen, ASYLINK_E_NOMEM, "out of memory");
    memcpy(r->body, body, blen);
    r->body[blen] = '\0';
    r->len = blen;
    r->status = status;
    return ASYLINK_OK;
}

int httpc_get(const char *host, const char *port, const char *path, int timeout_ms,
              size_t max_body, httpc_response *r, char *err, size_t errlen)
{
    if (!host || !port || !path || path[0] != '/' || !r || timeout_ms <= 0 ||
        strpbrk(host, "\r\n ") || strpbrk(path, "\r\n "))
        return s_err(err, errlen, ASYLINK_E_INVALID_ARG, "invalid request");
    memset(r, 0, sizeof *r);
    uint64_t deadline = clock_now_ms() + (uint64_t)timeout_ms;
    int fd = -1;
    int rc = s_connect(host, port, deadline, &fd, err, errlen);
    if (rc != ASYLINK_OK)
        return rc;
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.0\r\nHost: %s:%s\r\nUser-Agent: asylink/%s\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n",
                     path, host, port, asylink_version());
    if (n < 0 || (size_t)n >= sizeof req) {
        close(fd);
        return s_err(err, errlen, ASYLINK_E_INVALID_ARG, "request too long");
    }
    char *raw = NULL;
    size_t len = 0;
    rc = s_send_all(fd, req, (size_t)n, deadline);
    if (rc == ASYLINK_OK)
        rc = s_read_all(fd, deadline, max_body + HTTPC_HEAD_MAX, &raw, &len);
    close(fd);
    if (rc == ASYLINK_E_TIMEOUT)
        return s_err(err, errlen, rc, "no complete answer in time");
    if (rc == ASYLINK_E_TOO_LARGE)
        return s_err(err, errlen, rc, "the response is too large");
    if (rc != ASYLINK_OK)
        return s_err(err, errlen, rc, "reading or writing the connection failed");
    rc = s_parse(raw, len, max_body, r, err, errlen);
    free(raw);
    return rc;
}

void httpc_response_clear(httpc_response *r)
{
    if (!r)
        return;
    free(r->body);
    memset(r, 0, sizeof *r);
}
