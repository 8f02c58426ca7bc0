/*
 * log.c — logfmt lines, one write() each, to stderr or a sink.
 *
 * Each line is built in a stack buffer of LOG_LINE_MAX bytes by logfmt.c,
 * which never overruns, keeps every line valid logfmt and cuts inside a
 * value; the finished line goes out under one mutex, so lines from several
 * threads never interleave and a sink is never called concurrently.
 */
#include "log.h"

#include "logfmt.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};

/* Process-wide level; read on every LOG_* call, so lock-free. */
static atomic_int s_level = LOG_LEVEL_INFO;

/* Guards s_sink/s_sink_ctx and serialises output. */
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

/* Installed sink, NULL for stderr. Guarded by s_lock. */
static log_sink_fn s_sink;

/* Context for s_sink. Guarded by s_lock. */
static void *s_sink_ctx;

const char *log_quote(char *buf, size_t len, const char *s)
{
    return logfmt_quote(buf, len, s);
}

void log_set_level(log_level lvl)
{
    if ((int)lvl < LOG_LEVEL_ERROR)
        lvl = LOG_LEVEL_ERROR;
    if ((int)lvl > LOG_LEVEL_DEBUG)
        lvl = LOG_LEVEL_DEBUG;
    atomic_store_explicit(&s_level, (int)lvl, memory_order_relaxed);
}

log_level log_get_level(void)
{
    return (log_level)atomic_load_explicit(&s_level, memory_order_relaxed);
}

bool log_enabled(log_level lvl)
{
    return (int)lvl <= atomic_load_explicit(&s_level, memory_order_relaxed);
}

int log_level_parse(const char *s, log_level *out)
{
    if (!s || !out)
        return -1;
    for (int i = 0; log_level_names[i]; i++) {
        if (strcasecmp(s, log_level_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_LEVEL_WARN;
        return 0;
    }
    return -1;
}

const char *log_level_name(log_level lvl)
{
    if ((int)lvl < LOG_LEVEL_ERROR || (int)lvl > LOG_LEVEL_DEBUG)
        return "unknown";
    return log_level_names[lvl];
}

void log_set_sink(log_sink_fn sink, void *ctx)
{
    pthread_mutex_lock(&s_lock);
    s_sink = sink;
    s_sink_ctx = ctx;
    pthread_mutex_unlock(&s_lock);
}

/* Appends "ts=... level=... comp=... msg=..." to b. */
static void s_put_head(logfmt_buf *b, log_level lvl, const char *comp, const char *msg)
{
    struct timespec ts;
    struct tm tm;
    char when[48];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
    logfmt_put(b, "ts", when);
    logfmt_put(b, "level", log_level_name(lvl));
    logfmt_put(b, "comp", comp ? comp : "-");
    logfmt_put_quoted(b, "msg", msg ? msg : "");
}

/* Appends the formatted kv tail: the pairs that parse, the rest as rest="...". */
__attribute__((format(printf, 2, 0))) static void s_put_tail(logfmt_buf *b, const char *kv_fmt,
                                                             va_list ap)
{
    char tail[LOG_LINE_MAX];
    if (!kv_fmt || !*kv_fmt)
        return;
    int n = vsnprintf(tail, sizeof tail, kv_fmt, ap);
    if (n <= 0)
        return;
    logfmt_put_tail(b, tail);
    if ((size_t)n >= sizeof tail)
        b->truncated = true; /* the tail alone was longer than a line */
}

/* Writes all of data to stderr, retrying on EINTR and short writes. */
static void s_write_stderr(const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        data += w;
        len -= (size_t)w;
    }
}

/* Hands a finished line to the sink, or to stderr with its newline. */
static void s_emit(log_level lvl, logfmt_buf *b)
{
    int saved_errno = errno;
    pthread_mutex_lock(&s_lock);
    if (s_sink) {
        s_sink(s_sink_ctx, lvl, b->data);
    } else {
        b->data[b->len] = '\n';
        s_write_stderr(b->data, b->len + 1);
        b->data[b->len] = '\0';
    }
    pthread_mutex_unlock(&s_lock);
    errno = saved_errno;
}

void log_write(log_level lvl, const char *comp, const char *msg, const char *kv_fmt, ...)
{
    char line[LOG_LINE_MAX + 1];
    logfmt_buf b;
    va_list ap;
    if (!log_enabled(lvl))
        return;
    logfmt_buf_init(&b, line, LOG_LINE_MAX - 1); /* room for '\n' and NUL */
    s_put_head(&b, lvl, comp, msg);
    va_start(ap, kv_fmt);
    s_put_tail(&b, kv_fmt, ap);
    va_end(ap);
    logfmt_buf_finish(&b);
    s_emit(lvl, &b);
}
