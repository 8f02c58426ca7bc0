/*
 * connection.c — where a client connects: the broker address list
 * (broker_endpoint, several addresses in order), which address the I/O
 * thread is on, and the connection file data_dir/connection that shows it
 * to other processes (`asylink status --config NODE.ini`).
 *
 * The connection file is informational, one "key=value" per line, written
 * (mode 0600, temporary file and rename, not fsync'd) by the I/O thread
 * whenever a session opens or ends, and by asylink_client_close():
 *   pid=4242                       the writing process; 0 once closed
 *   start=123456                   its start time (clock ticks after boot,
 *                                  /proc/PID/stat), so that another process
 *                                  given the same PID later is not taken for
 *                                  it; 0 once closed or when unknown
 *   endpoint=tcp://10.0.0.2:7400   the address of the current or last session
 *   index=1                        its position in the list, from 0
 *   endpoints=2                    addresses in the list
 *   broker=BROKER.EU               node id the broker gave in Welcome
 *   connected=1                    1 while that session is open
 *   since_ms=1733400000000         when it opened (connected=1) or ended
 *   sessions=3                     sessions opened by that process
 * The reader treats it as hostile: bounded size, known keys only, values
 * checked; anything else is ASYLINK_E_MALFORMED.
 *
 * Threading: the list is immutable after open; c->conn is guarded by c->lock.
 */
#include "client_internal.h"

#include "file.h"
#include "procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONN_FILE "connection"
#define CONN_FILE_MAX 4096

/* ---- the address list ---- */

static bool s_port_valid(const char *s)
{
    unsigned long v = 0;
    size_t n = 0;
    for (; s[n] >= '0' && s[n] <= '9' && n < 6; n++)
        v = v * 10 + (unsigned long)(s[n] - '0');
    return n > 0 && n <= 5 && s[n] == '\0' && v >= 1 && v <= 65535;
}

/*
 * A byte a host may hold: a name's letters, digits, '-', '.', '_'; an
 * IPv6 literal's ':' and zone '%' (brackets around the whole host are
 * checked apart). Anything else (a control character, a space, a byte
 * above 0x7e, '@', quotes...) is in no host name or address.
 */
static bool s_host_byte(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == ':' || ch == '%';
}

/*
 * The first byte of a host (len bytes at host, "[...]" brackets around
 * all of it allowed) that no host holds, or NULL.
 */
static const char *s_host_bad_byte(const char *host, size_t len)
{
    size_t from = 0, to = len;
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        from = 1;
        to = len - 1;
    }
    for (size_t i = from; i < to; i++)
        if (!s_host_byte((unsigned char)host[i]))
            return host + i;
    return NULL;
}

/*
 * a for a message: printable ASCII as it is, any other byte (a control
 * character, UTF-8, '"', '\\') as \xNN, cut to fit len.
 */
static const char *s_shown(const char *a, char *buf, size_t len)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)a; *p && o + 5 < len; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            buf[o++] = (char)*p;
        else
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", *p);
    }
    buf[o] = '\0';
    return buf;
}

/* Writes the reason a list is refused into err (errlen bytes; may be NULL/0). */
__attribute__((format(printf, 3, 4))) static void s_fail(char *err, size_t errlen, const char *fmt,
                                                         ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/*
 * True if a is tcp://HOST:PORT (HOST a name, IPv4 or [IPv6]; no wildcard,
 * no source address) or ipc://PATH, with no control character anywhere (a
 * line break would also split the connection file). Else false, with err
 * saying why; a's bytes are shown escaped (s_shown), never as they are.
 */
static bool s_address_valid(const char *a, char *err, size_t errlen)
{
    char shown[4 * CLIENT_ENDPOINT_MAX + 1];
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            s_fail(err, errlen, "control character 0x%02x (byte %zu) in address \"%s\"", *p,
                   (size_t)(p - (const unsigned char *)a) + 1, s_shown(a, shown, sizeof shown));
            return false;
        }
    bool ok = strncmp(a, "ipc://", 6) == 0 && a[6] != '\0';
    const char *host = a + 6, *colon = ok ? NULL : strrchr(a, ':');
    if (!ok && strncmp(a, "tcp://", 6) == 0 && colon > host && s_port_valid(colon + 1)) {
        ok = !memchr(host, '*', (size_t)(colon - host)) &&
             !memchr(host, ';', (size_t)(colon - host)) &&
             !memchr(host, '/', (size_t)(colon - host));
        const char *bad = ok ? s_host_bad_byte(host, (size_t)(colon - host)) : NULL;
        if (bad) {
            s_fail(err, errlen,
                   "byte 0x%02x (byte %zu of the host) is in no host name or address: \"%s\"",
                   (unsigned char)*bad, (size_t)(bad - host) + 1, s_shown(a, shown, sizeof shown));
            return false;
        }
    }
    if (!ok)
        s_fail(err, errlen, "not tcp://HOST:PORT or ipc://PATH: \"%s\"",
               s_shown(a, shown, sizeof shown));
    return ok;
}

/* Appends one address to the list after checking it. */
static int s_add(const char *item, size_t len, char **eps, size_t *n, char *err, size_t errlen)
{
    char a[CLIENT_ENDPOINT_MAX + 1];
    if (len > CLIENT_ENDPOINT_MAX) {
        s_fail(err, errlen, "an address is longer than %d bytes", CLIENT_ENDPOINT_MAX);
        return ASYLINK_E_INVALID_ARG;
    }
    memcpy(a, item, len);
    a[len] = '\0';
    char shown[4 * CLIENT_ENDPOINT_MAX + 1];
    if (!s_address_valid(a, err, errlen))
        return ASYLINK_E_INVALID_ARG;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(eps[i], a) == 0) {
            s_fail(err, errlen, "address listed twice: \"%s\"", s_shown(a, shown, sizeof shown));
            return ASYLINK_E_INVALID_ARG;
        }
    if (*n == CLIENT_MAX_ENDPOINTS) {
        s_fail(err, errlen, "more than %d addresses", CLIENT_MAX_ENDPOINTS);
        return ASYLINK_E_INVALID_ARG;
    }
    if (!(eps[*n] = strdup(a)))
        return ASYLINK_E_NOMEM;
    (*n)++;
    return ASYLINK_OK;
}

int client_endpoints_parse(const char *list, char ***out, size_t *n_out, char *err, size_t errlen)
{
    *out = NULL;
    *n_out = 0;
    if (!list)
        return ASYLINK_E_INVALID_ARG;
    char **eps = calloc(CLIENT_MAX_ENDPOINTS, sizeof *eps);
    if (!eps)
        return ASYLINK_E_NOMEM;
    size_t n = 0;
    int rc = ASYLINK_OK;
    const char *p = list;
    while (rc == ASYLINK_OK) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, ", \t");
        const char *after = p + len + strspn(p + len, " \t");
        if (len == 0 && (*after == ',' || n > 0 || *after == '\0')) {
            /* "a,,b", ",a", "a," and "": an empty item */
            s_fail(err, errlen, "an empty address in the list");
            rc = ASYLINK_E_INVALID_ARG;
            break;
        }
        rc = s_add(p, len, eps, &n, err, errlen);
        if (*after == '\0')
            break;
        p = *after == ',' ? after + 1 : after; /* comma or white space separates */
    }
    if (rc != ASYLINK_OK) {
        client_endpoints_free(&eps, n);
        return rc;
    }
    *out = eps;
    *n_out = n;
    return ASYLINK_OK;
}

void client_endpoints_free(char ***eps, size_t n)
{
    if (!eps || !*eps)
        return;
    for (size_t i = 0; i < n; i++)
        free((*eps)[i]);
    free(*eps);
    *eps = NULL;
}

/* ---- the connection file ---- */

/* data_dir/name into buf; false if it does not fit. */
static bool s_path(const char *dir, const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    return n > 0 && (size_t)n < len;
}

/*
 * The start time of process pid in clock ticks after boot (field 22 of
 * /proc/PID/stat), which a PID reused by a later process does not share;
 * 0 when it cannot be read.
 */
static uint64_t s_start_time(long pid)
{
    uint64_t start = 0;
    return procstat_fields(pid, 22, 1, &start) ? start : 0;
}

/* Writes the file from a copy of the state (no lock held: file I/O). */
static void s_write_file(asylink_client *c, const asylink_connection *k, long pid)
{
    char path[4096], tmp[4096], body[1024];
    if (!s_path(c->data_dir, CONN_FILE, path, sizeof path) ||
        !s_path(c->data_dir, CONN_FILE ".tmp", tmp, sizeof tmp))
        return;
    int len = snprintf(body, sizeof body,
                       "pid=%ld\nstart=%llu\nendpoint=%s\nindex=%u\nendpoints=%u\nbroker=%s\n"
                       "connected=%d\nsince_ms=%llu\nsessions=%llu\n",
                       pid, (unsigned long long)(pid ? s_start_time(pid) : 0), k->endpoint,
                       k->index, k->n_endpoints, k->broker, k->connected,
                       (unsigned long long)k->since_ms, (unsigned long long)k->sessions);
    if (len < 0 || (size_t)len >= sizeof body)
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return;
    bool ok = write(fd, body, (size_t)len) == len;
    if (close(fd) != 0 || !ok || rename(tmp, path) != 0) {
        unlink(tmp);
        client_log(c, ASYLINK_LOG_DEBUG, "cannot write the connection file", "errno=%d", errno);
    }
}

void client_conn_set(asylink_client *c, size_t index, const char *broker, bool connected,
                     uint64_t now_ms)
{
    pthread_mutex_lock(&c->lock);
    asylink_connection *k = &c->conn;
    snprintf(k->endpoint, sizeof k->endpoint, "%s", c->endpoints[index]);
    k->index = (uint32_t)index;
    k->n_endpoints = (uint32_t)c->n_endpoints;
    if (broker)
        snprintf(k->broker, sizeof k->broker, "%s", broker);
    if (connected && !k->connected)
        k->sessions++;
    k->connected = connected ? 1 : 0;
    k->since_ms = now_ms;
    k->running = 1;
    asylink_connection copy = *k;
    pthread_mutex_unlock(&c->lock);
    s_write_file(c, &copy, (long)getpid());
}

void client_conn_closed(asylink_client *c, uint64_t now_ms)
{
    if (!c->data_dir || !c->endpoints)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->conn.connected)
        c->conn.since_ms = now_ms;
    c->conn.connected = 0;
    c->conn.running = 0;
    asylink_connection copy = c->conn;
    pthread_mutex_unlock(&c->lock);
    if (copy.n_endpoints) /* nothing to say if no session was ever tried */
        s_write_file(c, &copy, 0);
}

int asylink_connection_get(asylink_client *c, asylink_connection *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    pthread_mutex_lock(&c->lock);
    *out = c->conn;
    out->running = 1;
    pthread_mutex_unlock(&c->lock);
    if (!out->n_endpoints) { /* the I/O thread has not tried an address yet */
        snprintf(out->endpoint, sizeof out->endpoint, "%s", c->endpoints[0]);
        out->n_endpoints = (uint32_t)c->n_endpoints;
    }
    return ASYLINK_OK;
}

/* Parses an unsigned decimal up to max; false if it is not one. */
static bool s_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* Copies a value into dst (size cap) if it fits and is printable ASCII. */
static bool s_text(const char *v, char *dst, size_t cap)
{
    size_t len = strlen(v);
    for (size_t i = 0; i < len; i++)
        if (v[i] < 0x20 || v[i] > 0x7e)
            return false;
    if (len >= cap)
        return false;
    memcpy(dst, v, len + 1);
    return true;
}

/* Applies one "key=value" line. false if the key is unknown or the value bad. */
static bool s_apply_line(char *line, asylink_connection *out, uint64_t *pid, uint64_t *start)
{
    char *eq = strchr(line, '=');
    if (!eq)
        return false;
    *eq = '\0';
    const char *k = line, *v = eq + 1;
    uint64_t index = 0, count = 0, connected = 0;
    bool ok = false;
    if (strcmp(k, "endpoint") == 0)
        ok = s_text(v, out->endpoint, sizeof out->endpoint);
    else if (strcmp(k, "broker") == 0)
        ok = s_text(v, out->broker, sizeof out->broker);
    else if (strcmp(k, "pid") == 0)
        ok = s_u64(v, INT32_MAX, pid);
    else if (strcmp(k, "start") == 0)
        ok = s_u64(v, UINT64_MAX, start);
    else if (strcmp(k, "index") == 0 && (ok = s_u64(v, CLIENT_MAX_ENDPOINTS - 1, &index)))
        out->index = (uint32_t)index;
    else if (strcmp(k, "endpoints") == 0 && (ok = s_u64(v, CLIENT_MAX_ENDPOINTS, &count)))
        out->n_endpoints = (uint32_t)count;
    else if (strcmp(k, "connected") == 0 && (ok = s_u64(v, 1, &connected)))
        out->connected = (int)connected;
    else if (strcmp(k, "since_ms") == 0)
        ok = s_u64(v, UINT64_MAX, &out->since_ms);
    else if (strcmp(k, "sessions") == 0)
        ok = s_u64(v, UINT64_MAX, &out->sessions);
    return ok;
}

/*
 * True if pid names a process on this host (alive, maybe not ours to
 * signal) that started at start: the PID of a client that died may have
 * gone to another process since. start 0 (a file of an older library), or
 * a start time that cannot be read, trusts the PID alone.
 */
static bool s_alive(uint64_t pid, uint64_t start)
{
    if (pid == 0 || (kill((pid_t)pid, 0) != 0 && errno != EPERM))
        return false;
    uint64_t now = start ? s_start_time((long)pid) : 0;
    return now == 0 || now == start;
}

int client_conn_read_file(const char *data_dir, asylink_connection *out)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    if (!s_path(data_dir, CONN_FILE, path, sizeof path))
        return ASYLINK_E_INVALID_ARG;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = file_read(path, CONN_FILE_MAX, &buf, &len);
    if (rc != ASYLINK_OK)
        return rc == ASYLINK_E_TOO_LARGE ? ASYLINK_E_MALFORMED : rc;
    char *text = (char *)buf; /* NUL-terminated by file_read */
    uint64_t pid = 0, start = 0;
    bool ok = strlen(text) == len; /* no NUL inside */
    for (char *line = text, *next; ok && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        ok = *line == '\0' || s_apply_line(line, out, &pid, &start);
    }
    free(text);
    if (!ok || !out->endpoint[0] || out->index >= out->n_endpoints) {
        memset(out, 0, sizeof *out);
        return ASYLINK_E_MALFORMED;
    }
    out->running = s_alive(pid, start) ? 1 : 0;
    if (!out->running)
        out->connected = 0; /* a dead process holds no session */
    return ASYLINK_OK;
}
