/*
 * bench_client.c — W1 and W2 through libasylink: producer application ->
 * libasylink (seal, durable outbox) -> asylinkd (CURVE, verify, fsync) ->
 * libasylink (verify, durable inbox, decrypt) -> consumer application.
 * A program, never a timed test.
 *
 *   bench_client --asylinkd PATH --certs DIR [--workload w1|w2|all]
 *                [--messages N] [--size B] [--threads T] [--rate R] [--seconds S] [--no-ack]
 *                [--w2-threads T]
 *                [--client-relaxed[=DE|FR]] [--batch N] [--sent-retention SECONDS]
 *   bench_client --help          (s_usage: every option, its range and default)
 *
 * DIR is an example federation laid out like certs-example/ (keys/,
 * trust/, policy.ini). The broker runs with its data in a temporary
 * directory; producer DE and consumer FR run in this process, sharing the
 * machine's two cores with the broker. Latency is measured to
 * asylink_recv() returning from the send time: just before asylink_send()
 * in w1, the scheduled send time in w2 (so a sender falling behind the
 * offered rate shows as latency); the payload carries the message's index.
 *
 * It prints the machine's yardsticks first (yardstick.h) and each w1
 * throughput as a multiple of one core's Ed25519 verification rate. For w2
 * it first runs the broker-only W2 (bench_broker next to this program,
 * same rate and duration, pre-sealed envelopes) and reports the library's
 * p99 as a multiple of that. A "stages" line per workload says where the
 * time goes, p50/p99 of: outbox_commit (due -> asylink_send/send_many
 * returned), broker (-> DE's ACCEPTED event), delivery_inbox (outbox
 * commit -> FR's asylink_recv returned: broker, delivery, FR's verify and
 * inbox commit), ack (-> FR's acknowledgement committed) and receipt (->
 * DE's RECEIPT event).
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "asylink/asylink.h"
#include "procstat.h"
#include "yardstick.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *asylinkd, *certs, *workload;
    long messages, size, threads, rate, seconds;
    long batch;  /* 0: asylink_send/asylink_ack per message; N: send_many/ack_many of up to N */
    int no_ack;  /* measure without application acks (so without receipts) */
    int relaxed; /* client stores without fsync (survive app crashes, not power loss): 0 none,
                    1 both, 2 DE's only, 3 FR's only (the upper bound of any change on one side) */
    long sent_retention; /* seconds the producer keeps sent envelopes; -1 = the library's default */
    long ack_threads;    /* w1 with batches: threads acknowledging the receiver's batches */
    long w2_threads;     /* w2: application threads sharing the one schedule (default 1) */
    long in_flight;      /* w1: most messages sent and not yet acknowledged; 0 = no limit */
    double verify_per_s; /* the yardstick: one core's Ed25519 verifications per second */
} s_opts;

static char s_tmp[256];
static pid_t s_broker = -1;
static char s_endpoint[128];

static uint64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void s_die(const char *what, int rc)
{
    fprintf(stderr, "bench_client: %s: %s\n", what, rc ? asylink_err_name(rc) : strerror(errno));
    if (s_broker > 0)
        kill(s_broker, SIGKILL);
    exit(1);
}

/* Writes broker.ini into s_tmp and starts asylinkd; parses its endpoint. */
static void s_start_broker(const s_opts *o)
{
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/broker.ini", s_tmp);
    FILE *f = fopen(path, "w");
    if (!f)
        s_die("broker.ini", 0);
    fprintf(f,
            "[broker]\nnode_id = BROKER.EU\ncert = %s/trust/nodes/BROKER.EU.cert\n"
            "key = %s/keys/BROKER.EU.key\ntrust_dir = %s/trust\ndata_dir = %s/data\n"
            "policy = %s/policy.ini\nendpoint = tcp://127.0.0.1:*\nadmin_endpoint =\n"
            "[http]\nlisten =\n[log]\nlevel = warn\n",
            o->certs, o->certs, o->certs, s_tmp, o->certs);
    fclose(f);
    int pfd[2];
    if (pipe(pfd) != 0)
        s_die("pipe", 0);
    s_broker = fork();
    if (s_broker == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        execl(o->asylinkd, o->asylinkd, "--config", path, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    FILE *in = fdopen(pfd[0], "r");
    while (in && fgets(line, sizeof line, in)) {
        char *p = strstr(line, "listening on ");
        if (p) {
            snprintf(s_endpoint, sizeof s_endpoint, "%s", p + 13);
            s_endpoint[strcspn(s_endpoint, "\r\n")] = 0;
            return;
        }
    }
    s_die("asylinkd did not start", 0);
}

static long s_broker_peak_kib(void)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)s_broker);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

/*
 * A library log line on stderr (info and above: reconnects, republishing, store trouble), with
 * a monotonic time (s.ms) to line it up with a stall; BENCH_CLIENT_LOG=debug adds debug lines.
 */
static void s_log(void *ctx, asylink_log_level level, const char *line)
{
    (void)level;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    fprintf(stderr, "bench_client: %ld.%03ld %s: %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000000,
            (const char *)ctx, line);
}

static asylink_client *s_open(const s_opts *o, const char *id)
{
    bool relaxed = o->relaxed == 1 || (o->relaxed == 2 && strcmp(id, "DE") == 0) ||
                   (o->relaxed == 3 && strcmp(id, "FR") == 0);
    char cert[512], key[512], trust[512], data[512];
    snprintf(cert, sizeof cert, "%s/trust/nodes/%s.cert", o->certs, id);
    snprintf(key, sizeof key, "%s/keys/%s.key", o->certs, id);
    snprintf(trust, sizeof trust, "%s/trust", o->certs);
    snprintf(data, sizeof data, "%s/node-%s", s_tmp, id);
    char broker[512];
    snprintf(broker, sizeof broker, "%s/trust/nodes/BROKER.EU.cert", o->certs);
    asylink_options opt;
    asylink_options_init(&opt);
    opt.broker_endpoint = s_endpoint;
    opt.broker_cert = broker;
    opt.node_cert = cert;
    opt.key_file = key;
    opt.trust_dir = trust;
    opt.data_dir = data;
    opt.receive_window = 1000;
    opt.log = s_log; /* the library's notices go to stderr, prefixed with the node */
    opt.log_ctx = (void *)id;
    opt.log_level = ASYLINK_LOG_INFO;
    opt.durability = relaxed ? ASYLINK_DURABILITY_RELAXED : ASYLINK_DURABILITY_FSYNC;
    const char *log = getenv("BENCH_CLIENT_LOG");
    if (log && strcmp(log, "debug") == 0)
        opt.log_level = ASYLINK_LOG_DEBUG;
    if (o->sent_retention >= 0)
        opt.sent_retention_ms = (uint64_t)o->sent_retention * 1000u;
    asylink_client *c = NULL;
    int rc = asylink_client_open(&opt, &c);
    if (rc != ASYLINK_OK)
        s_die("client open", rc);
    return c;
}

/* ---- the workload ---- */

/*
 * Per message, the moments it passed (ns, 0 = not seen): scheduled or
 * sent (t0), asylink_send/send_many returned = committed to DE's outbox
 * (t1), DE's ACCEPTED event = the broker committed it and DE recorded
 * that (t2), FR's asylink_recv returned = verified, in FR's inbox and
 * decrypted (t3), FR's acknowledgement committed (t4), DE's RECEIPT event
 * (t5). Written by different threads, each field by one.
 */
typedef struct {
    _Atomic uint64_t t0, t1, t2, t3, t4, t5;
} s_times;

/*
 * Message ids -> indices (open addressing): producers put under a mutex (a
 * batch at a time), the event thread gets without it. A slot's index is
 * published (release) after its id is written and a reader takes a slot
 * only once it sees the index (acquire), so it never reads a torn id, and
 * the harness's bookkeeping does not make the event thread and a producer
 * wake each other (a mutex taken per id on both sides did, about 3.5 times
 * per batch of 100: CPU counted as the clients').
 */
typedef struct {
    pthread_mutex_t lock; /* among producers */
    uint8_t (*ids)[16];
    _Atomic uint32_t *idx1; /* index + 1, 0 = empty */
    size_t mask;
} s_idmap;

/* Puts one id under index idx (the caller holds the lock). */
static void s_idmap_put_locked(s_idmap *m, const uint8_t id[16], uint32_t idx)
{
    uint64_t h;
    memcpy(&h, id + 8, 8);
    size_t k = (size_t)h & m->mask;
    while (atomic_load_explicit(&m->idx1[k], memory_order_relaxed))
        k = (k + 1) & m->mask;
    memcpy(m->ids[k], id, 16);
    atomic_store_explicit(&m->idx1[k], idx + 1, memory_order_release);
}

static void s_idmap_put(s_idmap *m, const uint8_t id[16], uint32_t idx)
{
    pthread_mutex_lock(&m->lock);
    s_idmap_put_locked(m, id, idx);
    pthread_mutex_unlock(&m->lock);
}

/* Puts the ids of items[0..n), under indices first, first + 1, ... */
static void s_idmap_put_items(s_idmap *m, const asylink_send_item *items, size_t n, uint32_t first,
                              uint32_t stride)
{
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++)
        s_idmap_put_locked(m, items[i].message_id, first + (uint32_t)i * stride);
    pthread_mutex_unlock(&m->lock);
}

static long s_idmap_get(s_idmap *m, const uint8_t id[16])
{
    uint64_t h;
    memcpy(&h, id + 8, 8);
    uint32_t v;
    for (size_t k = (size_t)h & m->mask;
         (v = atomic_load_explicit(&m->idx1[k], memory_order_acquire)) != 0; k = (k + 1) & m->mask)
        if (memcmp(m->ids[k], id, 16) == 0)
            return (long)v - 1;
    return -1;
}

/*
 * The producers' window (--in-flight): a producer sends a batch only while
 * the messages sent and not yet acknowledged by the consumer stay within
 * the limit (DESIGN.md 11: W1 keeps up to 1,000 unacknowledged in flight).
 */
typedef struct {
    bool on; /* counting at all (a limit or ack threads); set before any thread starts */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    long limit; /* 0 = none */
    long sent;  /* messages the producers have begun to send */
    long done;  /* messages the consumer acknowledged (or received, without acks) */
    long most;  /* the largest sent - done seen */
} s_window;

/* Waits until n more messages fit in the window, and counts them as sent. */
static void s_window_take(s_window *w, long n)
{
    if (!w->on)
        return;
    pthread_mutex_lock(&w->lock);
    while (w->limit > 0 && w->sent + n - w->done > w->limit && w->sent > w->done)
        pthread_cond_wait(&w->cond, &w->lock);
    w->sent += n;
    if (w->sent - w->done > w->most)
        w->most = w->sent - w->done;
    pthread_mutex_unlock(&w->lock);
}

/* Lifts the limit: producers waiting in s_window_take() go on. */
static void s_window_open(s_window *w)
{
    pthread_mutex_lock(&w->lock);
    w->limit = 0;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void s_window_done(s_window *w, long n)
{
    if (!w->on || !n)
        return;
    pthread_mutex_lock(&w->lock);
    w->done += n;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

typedef struct {
    asylink_client *c;
    s_window *win;
    long first, count; /* message indices first, first + stride, ... (count of them) */
    long stride;       /* 1 in w1 (a range of its own), the thread count in w2 (interleaved) */
    uint64_t start;    /* w2: the schedule's start, common to every thread */
    uint64_t step;     /* w2: ns between two messages of the schedule (all threads); 0 = w1 */
    size_t size;
    long batch; /* 0 = asylink_send per message */
    s_times *t;
    s_idmap *ids;
} s_producer;

/* The payload carries the message's index (8 bytes). */
static void s_stamp(uint8_t *payload, long idx)
{
    uint64_t v = (uint64_t)idx;
    memcpy(payload, &v, 8);
}

/*
 * Sends p->count messages with asylink_send_many, at most p->batch per
 * call. Closed loop (rate 0): a full batch per call, stamped with the time
 * of the call. Paced open loop: every call sends the messages whose
 * scheduled time has come, each stamped with its scheduled time, so a late
 * send counts as latency.
 */
/* The message index of a producer's i-th message, and (w2) when it is due. */
static long s_index(const s_producer *p, long i)
{
    return p->first + i * p->stride;
}

static uint64_t s_due(const s_producer *p, long i)
{
    return p->start + (uint64_t)s_index(p, i) * p->step;
}

static void s_produce_batches(s_producer *p, const asylink_send_params *sp)
{
    size_t size = p->size < 8 ? 8 : p->size, per = (size_t)p->batch;
    uint8_t *payloads = calloc(per, size);
    asylink_send_item *items = calloc(per, sizeof *items);
    if (!payloads || !items)
        s_die("calloc", ASYLINK_E_NOMEM);
    uint64_t step = p->step;
    for (long i = 0; i < p->count;) {
        uint64_t now = s_now_ns(), due = s_due(p, i);
        if (step && due > now) {
            struct timespec ts = {(time_t)((due - now) / 1000000000ull),
                                  (long)((due - now) % 1000000000ull)};
            nanosleep(&ts, NULL);
            now = s_now_ns();
        }
        size_t n = 0;
        long first = i;
        for (; n < per && i < p->count && (!step || s_due(p, i) <= now); n++, i++) {
            atomic_store(&p->t[s_index(p, i)].t0, step ? s_due(p, i) : now);
            s_stamp(payloads + n * size, s_index(p, i));
            items[n] =
                (asylink_send_item){.params = sp, .payload = payloads + n * size, .len = size};
        }
        for (size_t k = 0; k < n; k++) /* before the call: its Accepted may come at once */
            memset(items[k].message_id, 0, 16);
        if (n)
            s_window_take(p->win, (long)n);
        int rc = n ? asylink_send_many(p->c, items, n) : ASYLINK_OK;
        if (rc != ASYLINK_OK)
            s_die("send_many", rc);
        uint64_t done = s_now_ns();
        for (size_t k = 0; k < n; k++)
            atomic_store(&p->t[s_index(p, first + (long)k)].t1, done);
        s_idmap_put_items(p->ids, items, n, (uint32_t)s_index(p, first), (uint32_t)p->stride);
    }
    free(items);
    free(payloads);
}

static void *s_produce(void *arg)
{
    (void)pthread_setname_np(pthread_self(), "bench-produce");
    s_producer *p = arg;
    size_t size = p->size < 8 ? 8 : p->size;
    uint8_t *payload = calloc(1, size);
    const char *to[] = {"FR"};
    asylink_send_params sp;
    asylink_send_params_init(&sp);
    sp.recipients = to;
    sp.n_recipients = 1;
    sp.content_type = "asylink.v1.InformationRequest";
    sp.classification = ASYLINK_PERSONAL; /* what information requests are (asylum.proto) */
    if (p->batch > 0) {
        s_produce_batches(p, &sp);
        free(payload);
        return NULL;
    }
    for (long i = 0; i < p->count; i++) {
        uint64_t t = s_now_ns();
        if (p->step > 0) {
            uint64_t due = s_due(p, i);
            if (due > t) {
                struct timespec ts = {(time_t)((due - t) / 1000000000ull),
                                      (long)((due - t) % 1000000000ull)};
                nanosleep(&ts, NULL);
            }
            t = due; /* latency from the scheduled time: a late send is not hidden */
        }
        atomic_store(&p->t[s_index(p, i)].t0, t);
        s_stamp(payload, s_index(p, i));
        uint8_t id[16];
        int rc = asylink_send(p->c, &sp, payload, size, id);
        if (rc != ASYLINK_OK)
            s_die("send", rc);
        atomic_store(&p->t[s_index(p, i)].t1, s_now_ns());
        s_idmap_put(p->ids, id, (uint32_t)s_index(p, i));
    }
    free(payload);
    return NULL;
}

/* DE's events: ACCEPTED and RECEIPT moments. */
typedef struct {
    asylink_client *c;
    s_times *t;
    s_idmap *ids;
    atomic_int stop;
    long accepted, receipts, unknown;
} s_events;

static void *s_event_thread(void *arg)
{
    (void)pthread_setname_np(pthread_self(), "bench-events");
    s_events *ev = arg;
    while (!atomic_load(&ev->stop)) {
        asylink_event *e = NULL;
        if (asylink_next_event(ev->c, 100, &e) != ASYLINK_OK)
            continue;
        uint64_t now = s_now_ns();
        asylink_event_type type = asylink_event_get_type(e);
        if (type == ASYLINK_EVENT_ACCEPTED || type == ASYLINK_EVENT_RECEIPT) {
            long idx = -1;
            /* The producer maps the id right after its call returns: wait for it briefly. */
            for (int tries = 0; idx < 0 && tries < 2000; tries++) {
                idx = s_idmap_get(ev->ids, asylink_event_message_id(e));
                if (idx < 0) {
                    struct timespec ts = {0, 50000};
                    nanosleep(&ts, NULL);
                }
            }
            if (idx < 0)
                ev->unknown++;
            else if (type == ASYLINK_EVENT_ACCEPTED && ++ev->accepted)
                atomic_store(&ev->t[idx].t2, now);
            else if (type == ASYLINK_EVENT_RECEIPT && ++ev->receipts)
                atomic_store(&ev->t[idx].t5, now);
        }
        asylink_event_free(&e);
    }
    return NULL;
}

static int s_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double s_pct(const uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1));
    return (double)v[i] / 1e6;
}

/* p50 and p99 (ms) of the stage from field a to field b, over messages that passed both. */
static void s_stage(const s_times *t, long n, size_t a, size_t b, double *p50, double *p99)
{
    uint64_t *v = calloc((size_t)n + 1, sizeof *v);
    size_t m = 0;
    for (long i = 0; v && i < n; i++) {
        const _Atomic uint64_t *f = &t[i].t0;
        uint64_t x = atomic_load(&f[a]), y = atomic_load(&f[b]);
        if (x && y)
            v[m++] = y > x ? y - x : 0;
    }
    qsort(v, m, sizeof *v, s_cmp);
    *p50 = s_pct(v, m, 0.5);
    *p99 = s_pct(v, m, 0.99);
    free(v);
}

/* Result of one workload, for the summary. */
typedef struct {
    double msgs_per_s, p99_ms;
} s_result;

/* User + system CPU seconds of the broker process so far (from /proc). */
static double s_broker_cpu_s(void)
{
    uint64_t t[2] = {0}; /* utime, stime */
    if (!procstat_fields(s_broker, 14, 2, t))
        return 0;
    return (double)(t[0] + t[1]) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * Bytes a process has handed to write(2) and friends so far (/proc/PID/io
 * wchar), or 0. The stores write only with pwrite/writev (no writable
 * map), so this is what they write to their files. Not write_bytes: on
 * this kernel (6.18, ext4 with large folios) that counts whole folios at
 * page-dirtying time, five to six times the bytes written and the disk's
 * own sector count (measured: bench/README.md).
 */
static double s_write_bytes(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
    FILE *f = fopen(path, "r");
    double v = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "wchar:", 6) == 0)
            v = strtod(line + 6, NULL);
    if (f)
        fclose(f);
    return v;
}

static double s_self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Acknowledges ids[0..n) (none: nothing) and notes when, for each. */
static void s_ack_pending(asylink_client *fr, uint8_t (*ids)[16], const long *idx, size_t n,
                          s_times *t)
{
    if (!n)
        return;
    int rc = asylink_ack_many(fr, (const uint8_t(*)[16])ids, n);
    if (rc != ASYLINK_OK)
        s_die("ack_many", rc);
    uint64_t now = s_now_ns();
    for (size_t k = 0; k < n; k++)
        atomic_store(&t[idx[k]].t4, now);
}

/*
 * The consumer's acknowledgements on threads of their own (--ack-threads):
 * the receiving thread queues each batch of ids and goes on receiving while
 * an ack thread's asylink_ack_many() waits for its commit. Several batches
 * in flight share FR's commits, as the library's concurrent calls do.
 */
typedef struct {
    uint8_t (*ids)[16];
    long *idx;
    size_t n;
} s_ackjob;

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    s_ackjob *q; /* ring of cap jobs */
    size_t cap, head, count;
    int stop;
    asylink_client *fr;
    s_times *t;
    s_window *win;
} s_ackq;

/* Acknowledges ids[0..n) and counts them out of the producers' window. */
static void s_ackq_ack(s_ackq *q, uint8_t (*ids)[16], const long *idx, size_t n)
{
    s_ack_pending(q->fr, ids, idx, n, q->t);
    s_window_done(q->win, (long)n);
}

static void *s_ack_thread(void *arg)
{
    (void)pthread_setname_np(pthread_self(), "bench-ack");
    s_ackq *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->count && !q->stop)
            pthread_cond_wait(&q->cond, &q->lock);
        if (!q->count)
            break;
        s_ackjob j = q->q[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        pthread_cond_broadcast(&q->cond); /* room for the receiver */
        pthread_mutex_unlock(&q->lock);
        s_ackq_ack(q, j.ids, j.idx, j.n);
        free(j.ids);
        free(j.idx);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* Hands ids[0..n) to the ack threads (copies them); waits while the queue is full. */
static void s_ackq_push(s_ackq *q, uint8_t (*ids)[16], const long *idx, size_t n)
{
    if (!n)
        return;
    s_ackjob j = {.ids = malloc(n * 16), .idx = malloc(n * sizeof *idx), .n = n};
    if (!j.ids || !j.idx)
        s_die("malloc", ASYLINK_E_NOMEM);
    memcpy(j.ids, ids, n * 16);
    memcpy(j.idx, idx, n * sizeof *idx);
    pthread_mutex_lock(&q->lock);
    while (q->count == q->cap)
        pthread_cond_wait(&q->cond, &q->lock);
    q->q[(q->head + q->count) % q->cap] = j;
    q->count++;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

/* The receiving thread's batch of acknowledgements: queued for the ack threads, or made here. */
static void s_consumer_ack(s_ackq *q, long ackers, uint8_t (*ids)[16], const long *idx, size_t n)
{
    if (ackers > 0)
        s_ackq_push(q, ids, idx, n);
    else
        s_ackq_ack(q, ids, idx, n);
}

static s_result s_run(const s_opts *o, const char *name, long total, long rate_total)
{
    double cpu_b0 = s_broker_cpu_s(), cpu_s0 = s_self_cpu_s();
    double wr_b0 = s_write_bytes(s_broker), wr_s0 = s_write_bytes(getpid());
    asylink_client *de = s_open(o, "DE"), *fr = s_open(o, "FR");
    long threads = o->threads > 0 ? o->threads : 1;
    pthread_t tid[64], evt;
    s_producer p[64];
    s_times *t = calloc((size_t)total, sizeof *t);
    size_t slots = 1024;
    while (slots < 2 * (size_t)total)
        slots *= 2;
    s_idmap ids = {.lock = PTHREAD_MUTEX_INITIALIZER,
                   .ids = calloc(slots, 16),
                   .idx1 = calloc(slots, sizeof(_Atomic uint32_t)),
                   .mask = slots - 1};
    uint64_t *lat = calloc((size_t)total, sizeof *lat);
    uint8_t *seen = calloc((size_t)total, 1);
    if (!t || !ids.ids || !ids.idx1 || !lat || !seen)
        s_die("calloc", ASYLINK_E_NOMEM);
    long in_flight = rate_total > 0 ? 0 : o->in_flight; /* w1 only */
    /* Acknowledging threads (w1 with batches and acks): the receiving thread only receives. */
    long ackers = !o->no_ack && o->batch > 0 && rate_total == 0 ? o->ack_threads : 0;
    s_window win = {.on = in_flight > 0 || ackers > 0, /* else no lock taken per message */
                    .lock = PTHREAD_MUTEX_INITIALIZER,
                    .cond = PTHREAD_COND_INITIALIZER,
                    .limit = in_flight};
    pthread_t ack_tid[16];
    s_ackq aq = {.lock = PTHREAD_MUTEX_INITIALIZER,
                 .cond = PTHREAD_COND_INITIALIZER,
                 .cap = 64,
                 .fr = fr,
                 .t = t,
                 .win = &win};
    if (ackers > 0 && !(aq.q = calloc(aq.cap, sizeof *aq.q)))
        s_die("calloc", ASYLINK_E_NOMEM);
    for (long i = 0; i < ackers && i < 16; i++)
        pthread_create(&ack_tid[i], NULL, s_ack_thread, &aq);
    s_events ev = {.c = de, .t = t, .ids = &ids};
    pthread_create(&evt, NULL, s_event_thread, &ev);
    uint64_t t0 = s_now_ns();
    long at = 0;
    for (long i = 0; i < threads && i < 64; i++) {
        long n = total / threads + (i < total % threads);
        /* w1: a range of its own each; w2: one schedule, message k sent by thread k % threads. */
        p[i] = (s_producer){.c = de,
                            .win = &win,
                            .first = rate_total > 0 ? i : at,
                            .count = n,
                            .stride = rate_total > 0 ? threads : 1,
                            .start = t0,
                            .step = rate_total > 0 ? 1000000000ull / (uint64_t)rate_total : 0,
                            .size = (size_t)o->size,
                            .batch = o->batch,
                            .t = t,
                            .ids = &ids};
        at += n;
        pthread_create(&tid[i], NULL, s_produce, &p[i]);
    }
    long got = 0;
    uint64_t deadline = t0 + 600ull * 1000000000ull;
    size_t per = o->batch > 0 ? (size_t)o->batch : 1, pending = 0;
    uint8_t(*acks)[16] = calloc(per, 16);
    long *ack_idx = calloc(per, sizeof *ack_idx);
    while (got < total && s_now_ns() < deadline) {
        asylink_message *m = NULL;
        /* With batches: take what is ready, ack it all once nothing more is. */
        int rc = asylink_recv(fr, pending ? 0 : 1000, &m);
        if (rc == ASYLINK_E_TIMEOUT) {
            s_consumer_ack(&aq, ackers, acks, ack_idx, pending);
            pending = 0;
            continue;
        }
        if (rc != ASYLINK_OK)
            s_die("recv", rc);
        uint64_t now = s_now_ns();
        size_t len = 0;
        const uint8_t *pl = asylink_message_payload(m, &len);
        uint64_t idx = UINT64_MAX;
        if (len >= 8)
            memcpy(&idx, pl, 8);
        if (idx >= (uint64_t)total)
            s_die("a payload without a message index", ASYLINK_E_TAMPERED);
        if (seen[idx]++) /* each index is sent once: by one producer, once */
            s_die("a message index handed over twice", ASYLINK_E_TAMPERED);
        atomic_store(&t[idx].t3, now);
        lat[got++] = now - atomic_load(&t[idx].t0);
        if (!o->no_ack && o->batch > 0) {
            ack_idx[pending] = (long)idx;
            memcpy(acks[pending++], asylink_message_id(m), 16);
            if (pending == per || got == total) {
                s_consumer_ack(&aq, ackers, acks, ack_idx, pending);
                pending = 0;
            }
        } else if (!o->no_ack) {
            if ((rc = asylink_ack(fr, asylink_message_id(m))) != ASYLINK_OK)
                s_die("ack", rc);
            atomic_store(&t[idx].t4, s_now_ns());
            s_window_done(&win, 1);
        } else {
            s_window_done(&win, 1); /* without acks the window counts deliveries */
        }
        asylink_message_free(&m);
    }
    uint64_t t1 = s_now_ns();
    s_window_open(&win); /* a consumer that gave up (deadline): no producer left waiting */
    pthread_mutex_lock(&aq.lock);
    aq.stop = 1;
    pthread_cond_broadcast(&aq.cond);
    pthread_mutex_unlock(&aq.lock);
    for (long i = 0; i < ackers && i < 16; i++)
        pthread_join(ack_tid[i], NULL);
    free(aq.q);
    free(acks);
    free(ack_idx);
    for (long i = 0; i < threads && i < 64; i++)
        pthread_join(tid[i], NULL);
    /* Receipts come back after the last delivery: give them a moment, not counted above. */
    for (int w = 0; !o->no_ack && w < 100 && ev.receipts < got; w++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&ev.stop, 1);
    pthread_join(evt, NULL);
    qsort(lat, (size_t)got, sizeof *lat, s_cmp);
    double secs = (double)(t1 - t0) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s_result res = {.msgs_per_s = (double)got / secs, .p99_ms = s_pct(lat, (size_t)got, 0.99)};
    printf("workload=%s msgs=%ld size=%ld producer_threads=%ld offered_rate=%ld msgs_per_s=%.0f "
           "MB_per_s=%.2f p50_ms=%.2f p99_ms=%.2f p99.9_ms=%.2f broker_peak_rss_kib=%ld "
           "client_process_peak_rss_kib=%ld broker_durability=fsync client_durability=%s acks=%s "
           "batch=%ld",
           name, got, o->size, threads, rate_total, res.msgs_per_s,
           (double)got * (double)o->size / secs / 1e6, s_pct(lat, (size_t)got, 0.5), res.p99_ms,
           s_pct(lat, (size_t)got, 0.999), s_broker_peak_kib(), ru.ru_maxrss,
           (const char *[]){"fsync", "relaxed", "relaxed-DE", "relaxed-FR"}[o->relaxed],
           o->no_ack      ? "none"
           : o->batch > 0 ? "ack_many+receipt_set"
                          : "each+receipt",
           o->batch);
    if (win.on)
        printf(" ack_threads=%ld in_flight_limit=%ld in_flight_max=%ld", ackers, in_flight,
               win.most);
    double cpu_b = s_broker_cpu_s() - cpu_b0, cpu_s = s_self_cpu_s() - cpu_s0;
    printf(" seconds=%.2f broker_cpu_us_per_msg=%.1f clients_cpu_us_per_msg=%.1f", secs,
           got ? cpu_b * 1e6 / (double)got : 0, got ? cpu_s * 1e6 / (double)got : 0);
    double wr_b = s_write_bytes(s_broker) - wr_b0, wr_s = s_write_bytes(getpid()) - wr_s0;
    printf(" broker_write_kib_per_msg=%.1f clients_write_kib_per_msg=%.1f",
           got ? wr_b / 1024 / (double)got : 0, got ? wr_s / 1024 / (double)got : 0);
    double base = yardstick_print_base(o->verify_per_s); /* the ratios' verify rate */
    if (base > 0)
        printf(" x_verify_rate=%.2f", res.msgs_per_s / base);
    /* What the cores would carry if they served only this run (see bench_broker). */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (got && cpu_b + cpu_s > 0) {
        double bound = (double)(ncpu > 0 ? ncpu : 1) * (double)got / (cpu_b + cpu_s);
        printf(" cpu_bound_msgs_per_s=%.0f", bound);
        if (base > 0)
            printf(" cpu_bound_x_verify_rate=%.2f", bound / base);
    }
    printf("\n");
    /* Where the time goes (p50/p99 ms): see s_times. */
    static const char *const stage[] = {"outbox_commit", "broker", "delivery_inbox", "ack",
                                        "receipt"};
    static const size_t from[] = {0, 1, 1, 3, 4}, to[] = {1, 2, 3, 4, 5};
    printf("stages workload=%s", name);
    for (size_t k = 0; k < 5; k++) {
        double a = 0, b = 0;
        s_stage(t, total, from[k], to[k], &a, &b);
        printf(" %s_p50_ms=%.2f %s_p99_ms=%.2f", stage[k], a, stage[k], b);
    }
    printf(" accepted_events=%ld receipt_events=%ld\n", ev.accepted, ev.receipts);
    fflush(stdout);
    free(lat);
    free(seen);
    free(t);
    free(ids.ids);
    free(ids.idx1);
    asylink_client_close(&de);
    asylink_client_close(&fr);
    return res;
}

/*
 * The broker-only W2 of this run: bench_broker (next to this program) with
 * the same rate and duration against the same asylinkd build. Its p99 (ms),
 * or -1 if it could not run.
 */
static double s_broker_w2_p99(const s_opts *o, const char *self)
{
    char dir[512], cmd[2048], line[4096];
    snprintf(dir, sizeof dir, "%s", self);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(dir, sizeof dir, ".");
    snprintf(cmd, sizeof cmd,
             "'%s/bench_broker' --asylinkd '%s' --workload w2 --rate %ld --seconds %ld 2>/dev/null",
             dir, o->asylinkd, o->rate, o->seconds);
    FILE *f = popen(cmd, "r");
    double p99 = -1;
    while (f && fgets(line, sizeof line, f)) {
        char *at = strstr(line, "workload=w2 ");
        char *q = at ? strstr(at, " p99_ms=") : NULL;
        if (q)
            p99 = strtod(q + 8, NULL);
    }
    if (f)
        pclose(f);
    printf("broker_only workload=w2 offered_rate=%ld p99_ms=%.3f (bench_broker, pre-sealed)\n",
           o->rate, p99);
    fflush(stdout);
    return p99;
}

static void s_usage(FILE *out)
{
    fprintf(
        out,
        "usage: bench_client --asylinkd PATH --certs DIR [--workload w1|w2|all]\n"
        "                    [--messages N] [--size B] [--threads T] [--rate R] [--seconds S]\n"
        "                    [--batch N] [--no-ack] [--client-relaxed[=DE|FR]]\n"
        "                    [--sent-retention SECONDS] [--ack-threads K] [--in-flight M]\n"
        "                    [--w2-threads T]\n\n"
        "W1 and W2 through libasylink: producer DE and consumer FR in this process,\n"
        "a fresh asylinkd (PATH) on loopback; DIR is a federation laid out like\n"
        "certs-example/ (keys/*.key mode 0600). See bench/README.md.\n\n"
        "  --asylinkd PATH        the broker to start (required)\n"
        "  --certs DIR            the federation: keys/, trust/, policy.ini (required)\n"
        "  --workload W           w1: as fast as possible; w2: --rate msgs/s for --seconds\n"
        "                         from --w2-threads (first the broker-only W2 of bench_broker,\n"
        "                         found next to this program); all: both (default)\n"
        "  --messages N           messages in w1, 1..50000000 (default 100000)\n"
        "  --size B               payload bytes, 0..33554432 (default 1024; at least the\n"
        "                         8 bytes of the message index are sent)\n"
        "  --threads T            producer threads in w1, 1..64 (default 4)\n"
        "  --w2-threads T         w2: application threads sending, 1..64 (default 1); the\n"
        "                         schedule stays one: message k is sent by thread k %% T\n"
        "  --rate R               w2's offered messages/s, 1..10000000 (default 2000)\n"
        "  --seconds S            w2's duration, 1..3600 (default 10)\n"
        "  --batch N              0: asylink_send/asylink_ack per message (default);\n"
        "                         1..%d: asylink_send_many and asylink_ack_many of up to N\n"
        "  --no-ack               the consumer does not acknowledge (no receipts)\n"
        "  --client-relaxed[=DE|FR]  client stores without fsync (durability relaxed):\n"
        "                         both, or only DE's (the producer) or FR's (the consumer)\n"
        "  --sent-retention S     seconds the producer keeps sent envelopes, 0..315360000\n"
        "                         (default: the library's, 30 days; 0 = keep none)\n"
        "  --ack-threads K        w1 with --batch: 0 (default): the receiving thread calls\n"
        "                         asylink_ack_many itself; 1..16: it hands each batch to K\n"
        "                         acknowledging threads and goes on receiving\n"
        "  --in-flight M          w1 with --batch: at most M messages sent and not yet\n"
        "                         acknowledged (received, with --no-ack), 0..50000000\n"
        "                         (default 0: no limit; DESIGN.md's W1 allows 1,000)\n"
        "  -h, --help             this text\n\n"
        "The clients' log lines (info and above) go to stderr; BENCH_CLIENT_LOG=debug\n"
        "adds debug lines. BENCH_CLIENT_KEEP=1 keeps the run's temporary directory.\n",
        ASYLINK_SEND_MAX);
}

/* An option's value: an integer in min..max, or usage error (exit 2). */
static long s_num(const char *name, const char *v, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max) {
        fprintf(stderr, "bench_client: --%s: expected an integer %ld..%ld, got \"%s\"\n", name, min,
                max, v);
        exit(2);
    }
    return n;
}

/* Parses the command line into o; --help exits 0, a usage error exits 2. */
static void s_parse(int argc, char **argv, s_opts *o)
{
    static const struct option opts[] = {{"asylinkd", required_argument, NULL, 'a'},
                                         {"certs", required_argument, NULL, 'c'},
                                         {"workload", required_argument, NULL, 'w'},
                                         {"messages", required_argument, NULL, 'n'},
                                         {"size", required_argument, NULL, 's'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"seconds", required_argument, NULL, 'S'},
                                         {"no-ack", no_argument, NULL, 'A'},
                                         {"client-relaxed", optional_argument, NULL, 'R'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"sent-retention", required_argument, NULL, 'K'},
                                         {"ack-threads", required_argument, NULL, 'Q'},
                                         {"w2-threads", required_argument, NULL, 'W'},
                                         {"in-flight", required_argument, NULL, 'F'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *o = (s_opts){.workload = "all",
                  .messages = 100000,
                  .size = 1024,
                  .threads = 4,
                  .rate = 2000,
                  .w2_threads = 1,
                  .seconds = 10,
                  .sent_retention = -1};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a': o->asylinkd = optarg; break;
        case 'c': o->certs = optarg; break;
        case 'w': o->workload = optarg; break;
        case 'n': o->messages = s_num("messages", optarg, 1, 50000000); break;
        case 's': o->size = s_num("size", optarg, 0, 32L * 1024 * 1024); break;
        case 't': o->threads = s_num("threads", optarg, 1, 64); break;
        case 'r': o->rate = s_num("rate", optarg, 1, 10000000); break;
        case 'S': o->seconds = s_num("seconds", optarg, 1, 3600); break;
        case 'A': o->no_ack = 1; break;
        case 'R':
            o->relaxed = !optarg                     ? 1
                         : strcmp(optarg, "DE") == 0 ? 2
                         : strcmp(optarg, "FR") == 0 ? 3
                                                     : -1;
            if (o->relaxed < 0) {
                fprintf(stderr, "bench_client: --client-relaxed: expected DE or FR, got \"%s\"\n",
                        optarg);
                exit(2);
            }
            break;
        case 'b': o->batch = s_num("batch", optarg, 0, ASYLINK_SEND_MAX); break;
        case 'K': o->sent_retention = s_num("sent-retention", optarg, 0, 315360000); break;
        case 'Q': o->ack_threads = s_num("ack-threads", optarg, 0, 16); break;
        case 'W': o->w2_threads = s_num("w2-threads", optarg, 1, 64); break;
        case 'F': o->in_flight = s_num("in-flight", optarg, 0, 50000000); break;
        case 'h': s_usage(stdout); exit(0);
        default: s_usage(stderr); exit(2);
        }
    }
    const char *bad = optind < argc  ? "unexpected argument"
                      : !o->asylinkd ? "--asylinkd PATH is required"
                      : !o->certs    ? "--certs DIR is required"
                      : strcmp(o->workload, "w1") != 0 && strcmp(o->workload, "w2") != 0 &&
                              strcmp(o->workload, "all") != 0
                          ? "--workload: expected w1, w2 or all"
                          : NULL;
    if (bad) {
        fprintf(stderr, "bench_client: %s\n", bad);
        s_usage(stderr);
        exit(2);
    }
    static char certs[4096], asylinkd[4096]; /* absolute: the broker resolves from its ini */
    if (realpath(o->certs, certs))
        o->certs = certs;
    if (realpath(o->asylinkd, asylinkd))
        o->asylinkd = asylinkd;
}

int main(int argc, char **argv)
{
    s_opts o;
    s_parse(argc, argv, &o);
    snprintf(s_tmp, sizeof s_tmp, "/tmp/asylink-bench-client-XXXXXX");
    if (!mkdtemp(s_tmp))
        s_die("mkdtemp", 0);
    if (sodium_init() < 0)
        s_die("sodium_init", ASYLINK_E_INTERNAL);
    o.verify_per_s = yardstick_measure(s_tmp).verify_per_s;
    bool w2 = strcmp(o.workload, "w2") == 0 || strcmp(o.workload, "all") == 0;
    double broker_p99 = w2 ? s_broker_w2_p99(&o, argv[0]) : -1;
    s_start_broker(&o);
    if (strcmp(o.workload, "w1") == 0 || strcmp(o.workload, "all") == 0)
        s_run(&o, "w1-library", o.messages, 0);
    if (w2) {
        long saved = o.threads;
        o.threads = o.w2_threads;
        s_result r = s_run(&o, "w2-library", o.rate * o.seconds, o.rate);
        o.threads = saved;
        if (broker_p99 > 0)
            printf("w2 p99_ratio_to_broker_only=%.2f (library %.3f ms, broker only %.3f ms)\n",
                   r.p99_ms / broker_p99, r.p99_ms, broker_p99);
    }
    kill(s_broker, SIGTERM);
    waitpid(s_broker, NULL, 0);
    if (getenv("BENCH_CLIENT_KEEP")) { /* the stores stay, for mdb_stat (bench/README.md) */
        fprintf(stderr, "bench_client: kept %s\n", s_tmp);
        return 0;
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_tmp);
    return system(cmd) == 0 ? 0 : 1;
}
