/*
 * events.c — what every file of the client library uses, and nothing of
 * theirs: starting (and marking) the library's threads and refusing
 * re-entry from them or from the log callback, the log callback, the event
 * queue and the application's fd (asylink_next_event(), asylink_fd()),
 * waiting on the client's condition, and waking the I/O thread. The
 * bottom of the client's files (see client_internal.h).
 */
#include "client_internal.h"

#include "clock.h"
#include "logfmt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the library's threads, and re-entry from the log callback ---- */

/* Set once, first thing, on every thread the library starts (client_thread_create). */
static _Thread_local bool s_library_thread;
/* How many log callbacks are running on this thread (the application's own threads too). */
static _Thread_local unsigned s_in_log;

/* What client_thread_create() hands its thread: the body and its argument. */
typedef struct {
    void *(*body)(void *);
    void *arg;
} s_thread_start;

static void *s_thread_main(void *p)
{
    s_thread_start start = *(s_thread_start *)p;
    free(p);
    s_library_thread = true;
    return start.body(start.arg);
}

int client_thread_create(pthread_t *t, void *(*body)(void *), void *arg)
{
    s_thread_start *start = malloc(sizeof *start);
    if (!start)
        return ENOMEM;
    *start = (s_thread_start){body, arg};
    int rc = pthread_create(t, NULL, s_thread_main, start);
    if (rc != 0)
        free(start);
    return rc;
}

bool client_library_thread(void)
{
    return s_library_thread;
}

bool client_reentered(void)
{
    return s_library_thread || s_in_log > 0;
}

/* ---- the log ---- */

/* Builds the line and hands it to log (ap: the tail's arguments). */
__attribute__((format(printf, 5, 0))) static void s_log_line(asylink_log_fn log, void *ctx,
                                                             asylink_log_level level,
                                                             const char *msg, const char *fmt,
                                                             va_list ap)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char line[1024], ts[32], tail[1024] = "";
    clock_format_iso(clock_now_ms(), ts, sizeof ts);
    logfmt_buf b;
    logfmt_buf_init(&b, line, sizeof line - 1);
    logfmt_put(&b, "ts", ts);
    logfmt_put(&b, "level", names[level]);
    logfmt_put(&b, "comp", "libasylink");
    logfmt_put_quoted(&b, "msg", msg);
    if (fmt && *fmt) {
        int n = vsnprintf(tail, sizeof tail, fmt, ap);
        logfmt_put_tail(&b, tail);
        if (n > 0 && (size_t)n >= sizeof tail)
            b.truncated = true;
    }
    s_in_log++; /* the callback must not call back into a client (client_reentered) */
    log(ctx, level, logfmt_buf_finish(&b));
    s_in_log--;
}

void client_log(asylink_client *c, asylink_log_level level, const char *msg, const char *fmt, ...)
{
    if (!c->log || level > c->log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    s_log_line(c->log, c->log_ctx, level, msg, fmt, ap);
    va_end(ap);
}

void client_log_to(asylink_log_fn log, void *ctx, asylink_log_level level, const char *msg,
                   const char *fmt, ...)
{
    if (!log)
        return;
    va_list ap;
    va_start(ap, fmt);
    s_log_line(log, ctx, level, msg, fmt, ap);
    va_end(ap);
}

/* ---- events and the application fd ---- */

void client_update_readable(asylink_client *c)
{
    bool inbox = client_early_ready(c);
    if (!c->events_head && !inbox)
        inbox = cstore_inbox_pending_after(c->store, c->recv_cursor);
    bool want = c->events_head || inbox;
    char b = 1;
    if (want && !c->readable) {
        if (write(c->notify_fd[1], &b, 1) == 1)
            c->readable = true;
    } else if (!want && c->readable) {
        if (read(c->notify_fd[0], &b, 1) == 1)
            c->readable = false;
    }
}

client_event *client_event_new(asylink_event_type type, const uint8_t id[16], int code,
                               const char *reason, const char *node)
{
    client_event *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->type = type;
    if (id)
        memcpy(e->message_id, id, 16);
    e->code = code;
    client_copy_str(e->reason, sizeof e->reason, reason);
    client_copy_str(e->node, sizeof e->node, node);
    return e;
}

void client_copy_str(char *dst, size_t size, const char *src)
{
    if (size == 0)
        return;
    size_t len = src ? strnlen(src, size - 1) : 0;
    if (len)
        memcpy(dst, src, len);
    dst[len] = 0;
}

void client_event_push(asylink_client *c, asylink_event_type type, const uint8_t id[16], int code,
                       const char *reason, const char *node)
{
    client_event *e = client_event_new(type, id, code, reason, node);
    if (e)
        client_event_queue(c, e);
}

client_event *client_accepted_event(const asylink_client *c, const client_accept *a)
{
    client_event *e =
        client_event_new(ASYLINK_EVENT_ACCEPTED, a->id, 0, a->duplicate ? "duplicate" : "", NULL);
    if (e && a->ep < c->n_endpoints)
        client_copy_str(e->endpoint, sizeof e->endpoint, c->endpoints[a->ep]);
    return e;
}

void client_event_queue(asylink_client *c, client_event *e)
{
    e->next = NULL;
    client_event_queue_list(c, e);
}

void client_event_queue_list(asylink_client *c, client_event *head)
{
    if (!head)
        return;
    client_event *tail = head;
    while (tail->next)
        tail = tail->next;
    pthread_mutex_lock(&c->lock);
    if (c->events_tail)
        c->events_tail->next = head;
    else
        c->events_head = head;
    c->events_tail = tail;
    client_update_readable(c);
    pthread_cond_broadcast(&c->ev_cond); /* only asylink_next_event() waits for events */
    pthread_mutex_unlock(&c->lock);
}

/* ---- waiting ---- */

void client_deadline(int timeout_ms, struct timespec *ts)
{
    clock_deadline_in(timeout_ms, ts);
}

bool client_deadline_passed(int timeout_ms, const struct timespec *deadline)
{
    if (timeout_ms <= 0)
        return timeout_ms == 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now); /* the clock of client_deadline() */
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

bool client_wait_on(asylink_client *c, pthread_cond_t *cond, int timeout_ms,
                    const struct timespec *deadline)
{
    if (timeout_ms == 0 || atomic_load(&c->stop))
        return false;
    if (timeout_ms < 0) {
        pthread_cond_wait(cond, &c->lock);
        return true;
    }
    return pthread_cond_timedwait(cond, &c->lock, deadline) == 0;
}

bool client_wait(asylink_client *c, int timeout_ms, const struct timespec *deadline)
{
    return client_wait_on(c, &c->cond, timeout_ms, deadline);
}

/* ---- the public event API ---- */

int asylink_next_event(asylink_client *c, int timeout_ms, asylink_event **out)
{
    *out = NULL;
    if (!c)
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    struct timespec deadline;
    client_deadline(timeout_ms < 0 ? 0 : timeout_ms, &deadline);
    pthread_mutex_lock(&c->lock);
    while (!c->events_head) {
        if (atomic_load(&c->stop)) {
            pthread_mutex_unlock(&c->lock);
            return ASYLINK_E_SHUTDOWN;
        }
        if (!client_wait_on(c, &c->ev_cond, timeout_ms, &deadline) && !c->events_head) {
            pthread_mutex_unlock(&c->lock);
            return ASYLINK_E_TIMEOUT;
        }
    }
    client_event *e = c->events_head;
    c->events_head = e->next;
    if (!c->events_head)
        c->events_tail = NULL;
    client_update_readable(c);
    pthread_mutex_unlock(&c->lock);
    e->next = NULL;
    *out = (asylink_event *)e;
    return ASYLINK_OK;
}

asylink_event_type asylink_event_get_type(const asylink_event *e)
{
    return e ? ((const client_event *)e)->type : 0;
}

const uint8_t *asylink_event_message_id(const asylink_event *e)
{
    return e ? ((const client_event *)e)->message_id : NULL;
}

int asylink_event_code(const asylink_event *e)
{
    return e ? ((const client_event *)e)->code : 0;
}

const char *asylink_event_reason(const asylink_event *e)
{
    return e ? ((const client_event *)e)->reason : NULL;
}

const char *asylink_event_node(const asylink_event *e)
{
    return e ? ((const client_event *)e)->node : NULL;
}

const char *asylink_event_endpoint(const asylink_event *e)
{
    return e ? ((const client_event *)e)->endpoint : NULL;
}

void asylink_event_free(asylink_event **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

int asylink_fd(asylink_client *c)
{
    return c ? c->notify_fd[0] : -1;
}

/* ---- waking the I/O thread ---- */

void client_wake_io(asylink_client *c)
{
    uint64_t one = 1;
    if (write(c->wake_fd, &one, sizeof one) != (ssize_t)sizeof one)
        client_log(c, ASYLINK_LOG_WARN, "cannot wake the I/O thread", "errno=%d", errno);
}

int client_io_write(asylink_client *c, int (*fill)(cstore_txn *t, void *arg), void *arg)
{
    client_write w = {.fill = fill, .arg = arg};
    pthread_mutex_lock(&c->lock);
    /* (From the I/O thread or its committer, e.g. inside a log callback: neither can wait for
       itself.) */
    if (!c->io_writes || pthread_equal(pthread_self(), c->io) ||
        (c->io_commit_on && pthread_equal(pthread_self(), c->io_commit))) {
        pthread_mutex_unlock(&c->lock);
        return cstore_write(c->store, fill, arg);
    }
    if (c->writes_tail)
        c->writes_tail->next = &w;
    else
        c->writes = &w;
    c->writes_tail = &w;
    bool committer = c->io_commit_on;
    pthread_cond_broadcast(&c->commit_cond); /* the committer takes it with its next commit */
    pthread_mutex_unlock(&c->lock);
    if (!committer)
        client_wake_io(c); /* (the I/O thread commits itself) */
    pthread_mutex_lock(&c->lock);
    while (!w.done)
        pthread_cond_wait(&c->done_cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    /* Not written (nothing of it is stored): again on its own, where the store grows if full.
       Written but its flush failed (applied): not again, it is in the store; IO says that it
       may not be on disk. */
    if (w.applied)
        return ASYLINK_E_IO; /* (a flush's ENOSPC reads as STORE_FULL: the write is stored) */
    if (w.rc != ASYLINK_E_STORE_FULL && w.rc != ASYLINK_E_IO)
        return w.rc;
    int rc = cstore_write(c->store, fill, arg);
    if (w.retrying) {
        /* Decided: a receipt naming what this write published early is checked again now (io.c,
           s_retry_waiting). */
        pthread_mutex_lock(&c->lock);
        c->writes_retrying--;
        c->writes_retried++;
        pthread_mutex_unlock(&c->lock);
        client_wake_io(c);
    }
    return rc;
}
