/*
 * logcap.h — a library log callback's lines kept in memory, so that a unit
 * test can ask whether one line says something (the client tests).
 *
 *   logcap log;                 logcap_init(&log);
 *   o.log = logcap_cb; o.log_ctx = &log;   (or call logcap_add from your own)
 *   logcap_has(&log, "code=IO", "option=data_dir")
 *   logcap_has(&log, "warn\t", "msg=\"broker error\"")   (each line starts with its level)
 *   logcap_destroy(&log);
 *
 * Lines past the buffer's 64 KiB are dropped. Threading: every function
 * takes the lock; the library logs from its own threads.
 */
#ifndef ASYLINK_TEST_LOGCAP_H
#define ASYLINK_TEST_LOGCAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "asylink/asylink.h"

typedef struct {
    pthread_mutex_t lock;
    char text[65536]; /* the lines, newline separated */
    size_t len;
} logcap;

static inline void logcap_init(logcap *l)
{
    pthread_mutex_init(&l->lock, NULL);
    l->len = 0;
    l->text[0] = 0;
}

static inline void logcap_destroy(logcap *l)
{
    pthread_mutex_destroy(&l->lock);
}

/* Keeps line as "LEVEL<tab>line" (LEVEL: error, warn, info, debug). */
static inline void logcap_add(logcap *l, asylink_log_level level, const char *line)
{
    static const char *const names[] = {"error", "warn", "info", "debug"}; /* by value */
    const char *name = (unsigned)level < 4 ? names[level] : "?";
    pthread_mutex_lock(&l->lock);
    size_t n = strlen(line), k = strlen(name);
    if (l->len + k + n + 3 < sizeof l->text) {
        memcpy(l->text + l->len, name, k);
        l->len += k;
        l->text[l->len++] = '\t';
        memcpy(l->text + l->len, line, n);
        l->len += n;
        l->text[l->len++] = '\n';
        l->text[l->len] = 0;
    }
    pthread_mutex_unlock(&l->lock);
}

/* An asylink_log_fn: ctx is the logcap. */
static inline void logcap_cb(void *ctx, asylink_log_level level, const char *line)
{
    logcap_add(ctx, level, line);
}

/* Whether one line contains a and b (b may be NULL). */
static inline bool logcap_has(logcap *l, const char *a, const char *b)
{
    bool found = false;
    pthread_mutex_lock(&l->lock);
    for (const char *p = l->text; *p && !found;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
        found = strstr(line, a) && (!b || strstr(line, b));
        p += n + (nl ? 1 : 0);
    }
    pthread_mutex_unlock(&l->lock);
    return found;
}

static inline void logcap_clear(logcap *l)
{
    pthread_mutex_lock(&l->lock);
    l->len = 0;
    l->text[0] = 0;
    pthread_mutex_unlock(&l->lock);
}

#endif
