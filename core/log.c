/*
 * log.c — logfmt lines, one write() each, to stderr or a sink.
 *
 * Each line is built in a stack buffer of LOG_LINE_MAX bytes by a small
 * appender that never overruns and remembers whether it had to cut; the
 * finished line goes out under one mutex, so lines from several threads
 * never interleave and a sink is never called concurrently.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Marker that ends a line or value that had to be cut. */
#define LOG_CUT_MARK "..."

const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};

/* Process-wide level; read on every LOG_* call, so lock-free. */
static atomic_int s_level = LOG_LEVEL_INFO;

/* Guards s_sink/s_sink_ctx and serialises output. */
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

/* Installed sink, NULL for stderr. Guarded by s_lock. */
static log_sink_fn s_sink;

/* Context for s_sink. Guarded by s_lock. */
static void *s_sink_ctx;

/* Bytes kept free for the cut marker: "..." plus a closing quote. */
#define LOG_CUT_RESERVE 4

/*
 * A bounded string being built from atoms (a character or a whole escape
 * sequence). Once an atom does not fit, nothing more is appended, and the
 * cut marker replaces everything after the last atom that left room for it,
 * so a cut never splits an escape sequence.
 */
typedef struct log_buf {
    char *data;     /* the buffer, cap + 1 bytes, always NUL-terminated */
    size_t cap;     /* usable bytes, excluding the NUL */
    size_t len;     /* bytes used */
    size_t safe;    /* longest atom boundary leaving LOG_CUT_RESERVE bytes */
    bool truncated; /* an atom did not fit */
} log_buf;

/* Starts an empty log_buf over data (cap + 1 bytes). */
static void s_buf_init(log_buf *b, char *data, size_t cap)
{
    b->data = data;
    b->cap = cap;
    b->len = 0;
    b->safe = 0;
    b->truncated = false;
    data[0] = '\0';
}

/* Appends n bytes as one unit, or marks the buffer truncated. */
static void s_put_atom(log_buf *b, const char *s, size_t n)
{
    if (b->truncated || n > b->cap - b->len) {
        b->truncated = true;
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    if (b->cap >= LOG_CUT_RESERVE && b->len <= b->cap - LOG_CUT_RESERVE)
        b->safe = b->len;
}

/* Appends one byte. */
static void s_put(log_buf *b, char c)
{
    s_put_atom(b, &c, 1);
}

/* Appends a string byte by byte, as much as fits. */
static void s_puts(log_buf *b, const char *s)
{
    for (; *s; s++)
        s_put(b, *s);
}

/* Appends c escaped for a logfmt value; quote_chars also escapes '"' '\'. */
static void s_put_escaped(log_buf *b, unsigned char c, bool quote_chars)
{
    char esc[8] = {(char)c, 0};
    if (quote_chars && (c == '"' || c == '\\'))
        snprintf(esc, sizeof esc, "\\%c", c);
    else if (c == '\n')
        snprintf(esc, sizeof esc, "\\n");
    else if (c == '\r')
        snprintf(esc, sizeof esc, "\\r");
    else if (c == '\t')
        snprintf(esc, sizeof esc, "\\t");
    else if (c < 0x20 || c == 0x7f)
        snprintf(esc, sizeof esc, "\\x%02x", c);
    s_put_atom(b, esc, strlen(esc));
}

/* Appends s double-quoted and escaped. */
static void s_put_quoted(log_buf *b, const char *s)
{
    s_put(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        s_put_escaped(b, *p, true);
    s_put(b, '"');
}

/* True if s must be quoted to be one logfmt value. */
static bool s_needs_quotes(const char *s)
{
    if (!*s)
        return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == 0x7f)
            return true;
    return false;
}

/* Ends a truncated buffer with tail (at most LOG_CUT_RESERVE bytes). */
static void s_mark_cut(log_buf *b, const char *tail)
{
    size_t tl = strlen(tail);
    if (!b->truncated || b->cap < LOG_CUT_RESERVE || tl > LOG_CUT_RESERVE)
        return;
    memcpy(b->data + b->safe, tail, tl + 1);
    b->len = b->safe + tl;
}

const char *log_quote(char *buf, size_t len, const char *s)
{
    log_buf b;
    if (!buf || len == 0)
        return "";
    s_buf_init(&b, buf, len - 1);
    s = s ? s : "";
    bool quoted = s_needs_quotes(s);
    if (quoted)
        s_put_quoted(&b, s);
    else
        s_puts(&b, s);
    s_mark_cut(&b, quoted ? LOG_CUT_MARK "\"" : LOG_CUT_MARK);
    return buf;
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
static void s_put_head(log_buf *b, log_level lvl, const char *comp, const char *msg)
{
    struct timespec ts;
    struct tm tm;
    char when[40], frac[8], quoted[128];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(frac, sizeof frac, ".%03dZ", (int)(ts.tv_nsec / 1000000));
    s_puts(b, "ts=");
    s_puts(b, when);
    s_puts(b, frac);
    s_puts(b, " level=");
    s_puts(b, log_level_name(lvl));
    s_puts(b, " comp=");
    s_puts(b, log_quote(quoted, sizeof quoted, comp ? comp : "-"));
    s_puts(b, " msg=");
    s_put_quoted(b, msg ? msg : "");
}

/* Appends " " and the formatted kv tail, escaping control characters. */
__attribute__((format(printf, 2, 0)))
static void s_put_tail(log_buf *b, const char *kv_fmt, va_list ap)
{
    char tail[LOG_LINE_MAX];
    if (!kv_fmt || !*kv_fmt)
        return;
    int n = vsnprintf(tail, sizeof tail, kv_fmt, ap);
    if (n <= 0)
        return;
    s_put(b, ' ');
    for (const unsigned char *p = (const unsigned char *)tail; *p; p++)
        s_put_escaped(b, *p, false);
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
static void s_emit(log_level lvl, log_buf *b)
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
    log_buf b;
    va_list ap;
    if (!log_enabled(lvl))
        return;
    s_buf_init(&b, line, LOG_LINE_MAX - 1); /* room for '\n' and NUL */
    s_put_head(&b, lvl, comp, msg);
    va_start(ap, kv_fmt);
    s_put_tail(&b, kv_fmt, ap);
    va_end(ap);
    s_mark_cut(&b, LOG_CUT_MARK);
    s_emit(lvl, &b);
}
