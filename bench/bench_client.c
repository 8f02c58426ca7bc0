/*
 * bench_client.c — W1 and W2 through libasylink: producer application ->
 * libasylink (seal, durable outbox) -> asylinkd (CURVE, verify, fsync) ->
 * libasylink (verify, durable inbox, decrypt) -> consumer application.
 * A program, never a timed test.
 *
 *   bench_client --asylinkd PATH --certs DIR [--workload w1|w2|all]
 *                [--messages N] [--size B] [--threads T] [--rate R] [--seconds S] [--no-ack]
 *                [--client-relaxed] [--batch N] [--sent-retention SECONDS]
 *
 * DIR is an example federation laid out like certs-example/ (keys/,
 * trust/, policy.ini). The broker runs with its data in a temporary
 * directory; producer DE and consumer FR run in this process, sharing the
 * machine's two cores with the broker. Latency is measured to
 * asylink_recv() returning from the send time carried in the payload: just
 * before asylink_send() in w1, the scheduled send time in w2 (so a sender
 * falling behind the offered rate shows as latency).
 */
#include "asylink/asylink.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
    int relaxed; /* client stores without fsync (survive app crashes, not power loss) */
    long sent_retention; /* seconds the producer keeps sent envelopes; -1 = the library's default */
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
    fprintf(f, "[broker]\nnode_id = BROKER.EU\ncert = %s/trust/nodes/BROKER.EU.cert\n"
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

static asylink_client *s_open(const s_opts *o, const char *id)
{
    int relaxed = o->relaxed;
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
    opt.durability = relaxed ? ASYLINK_DURABILITY_RELAXED : ASYLINK_DURABILITY_FSYNC;
    if (o->sent_retention >= 0)
        opt.sent_retention_ms = (uint64_t)o->sent_retention * 1000u;
    asylink_client *c = NULL;
    int rc = asylink_client_open(&opt, &c);
    if (rc != ASYLINK_OK)
        s_die("client open", rc);
    return c;
}

/* ---- the workload ---- */

typedef struct {
    asylink_client *c;
    long count;
    long rate;           /* per thread; 0 = as fast as possible */
    size_t size;
    long batch;          /* 0 = asylink_send per message */
} s_producer;

/*
 * Sends p->count messages with asylink_send_many, at most p->batch per
 * call. Closed loop (rate 0): a full batch per call, stamped with the time
 * of the call. Paced open loop: every call sends the messages whose
 * scheduled time has come, each stamped with its scheduled time, so a late
 * send counts as latency.
 */
static void s_produce_batches(s_producer *p, const asylink_send_params *sp)
{
    size_t size = p->size < 8 ? 8 : p->size, per = (size_t)p->batch;
    uint8_t *payloads = calloc(per, size);
    asylink_send_item *items = calloc(per, sizeof *items);
    if (!payloads || !items)
        s_die("calloc", ASYLINK_E_NOMEM);
    uint64_t start = s_now_ns(), step = p->rate > 0 ? 1000000000ull / (uint64_t)p->rate : 0;
    for (long i = 0; i < p->count;) {
        uint64_t now = s_now_ns(), due = start + (uint64_t)i * step;
        if (step && due > now) {
            struct timespec ts = {(time_t)((due - now) / 1000000000ull), (long)((due - now) % 1000000000ull)};
            nanosleep(&ts, NULL);
            now = s_now_ns();
        }
        size_t n = 0;
        for (; n < per && i < p->count && (!step || start + (uint64_t)i * step <= now); n++, i++) {
            uint64_t t = step ? start + (uint64_t)i * step : now;
            memcpy(payloads + n * size, &t, 8);
            items[n] = (asylink_send_item){.params = sp, .payload = payloads + n * size, .len = size};
        }
        int rc = n ? asylink_send_many(p->c, items, n) : ASYLINK_OK;
        if (rc != ASYLINK_OK)
            s_die("send_many", rc);
    }
    free(items);
    free(payloads);
}

static void *s_produce(void *arg)
{
    s_producer *p = arg;
    uint8_t *payload = calloc(1, p->size < 8 ? 8 : p->size);
    const char *to[] = {"FR"};
    asylink_send_params sp;
    asylink_send_params_init(&sp);
    sp.recipients = to;
    sp.n_recipients = 1;
    sp.content_type = "asylink.v1.InformationRequest";
    if (p->batch > 0) {
        s_produce_batches(p, &sp);
        free(payload);
        return NULL;
    }
    uint64_t start = s_now_ns();
    for (long i = 0; i < p->count; i++) {
        uint64_t t = s_now_ns();
        if (p->rate > 0) {
            uint64_t due = start + (uint64_t)i * 1000000000ull / (uint64_t)p->rate;
            if (due > t) {
                struct timespec ts = {(time_t)((due - t) / 1000000000ull), (long)((due - t) % 1000000000ull)};
                nanosleep(&ts, NULL);
            }
            t = due; /* latency from the scheduled time: a late send is not hidden */
        }
        memcpy(payload, &t, 8);
        int rc = asylink_send(p->c, &sp, payload, p->size < 8 ? 8 : p->size, NULL);
        if (rc != ASYLINK_OK)
            s_die("send", rc);
    }
    free(payload);
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

static void s_run(const s_opts *o, const char *name, long total, long rate_total)
{
    asylink_client *de = s_open(o, "DE"), *fr = s_open(o, "FR");
    long threads = o->threads > 0 ? o->threads : 1;
    pthread_t tid[64];
    s_producer p[64];
    uint64_t *lat = calloc((size_t)total, sizeof *lat);
    uint64_t t0 = s_now_ns();
    for (long i = 0; i < threads && i < 64; i++) {
        p[i] = (s_producer){.c = de, .count = total / threads + (i < total % threads),
                            .rate = rate_total / threads, .size = (size_t)o->size,
                            .batch = o->batch};
        pthread_create(&tid[i], NULL, s_produce, &p[i]);
    }
    long got = 0;
    uint64_t deadline = t0 + 600ull * 1000000000ull;
    size_t per = o->batch > 0 ? (size_t)o->batch : 1, pending = 0;
    uint8_t(*acks)[16] = calloc(per, 16);
    while (got < total && s_now_ns() < deadline) {
        asylink_message *m = NULL;
        /* With batches: take what is ready, ack it all once nothing more is. */
        int rc = asylink_recv(fr, pending ? 0 : 1000, &m);
        if (rc == ASYLINK_E_TIMEOUT) {
            if (pending && (rc = asylink_ack_many(fr, (const uint8_t(*)[16])acks, pending)) != ASYLINK_OK)
                s_die("ack_many", rc);
            pending = 0;
            continue;
        }
        if (rc != ASYLINK_OK)
            s_die("recv", rc);
        size_t len = 0;
        const uint8_t *pl = asylink_message_payload(m, &len);
        uint64_t sent = 0;
        if (len >= 8)
            memcpy(&sent, pl, 8);
        lat[got++] = s_now_ns() - sent;
        if (!o->no_ack && o->batch > 0) {
            memcpy(acks[pending++], asylink_message_id(m), 16);
            if (pending == per || got == total) {
                if ((rc = asylink_ack_many(fr, (const uint8_t(*)[16])acks, pending)) != ASYLINK_OK)
                    s_die("ack_many", rc);
                pending = 0;
            }
        } else if (!o->no_ack && (rc = asylink_ack(fr, asylink_message_id(m))) != ASYLINK_OK) {
            s_die("ack", rc);
        }
        asylink_message_free(&m);
    }
    free(acks);
    uint64_t t1 = s_now_ns();
    for (long i = 0; i < threads && i < 64; i++)
        pthread_join(tid[i], NULL);
    qsort(lat, (size_t)got, sizeof *lat, s_cmp);
    double secs = (double)(t1 - t0) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("workload=%s msgs=%ld size=%ld producer_threads=%ld offered_rate=%ld msgs_per_s=%.0f "
           "MB_per_s=%.2f p50_ms=%.2f p99_ms=%.2f p99.9_ms=%.2f broker_peak_rss_kib=%ld "
           "client_process_peak_rss_kib=%ld broker_durability=fsync client_durability=%s acks=%s batch=%ld\n",
           name, got, o->size, threads, rate_total, (double)got / secs,
           (double)got * (double)o->size / secs / 1e6, s_pct(lat, (size_t)got, 0.5),
           s_pct(lat, (size_t)got, 0.99), s_pct(lat, (size_t)got, 0.999), s_broker_peak_kib(),
           ru.ru_maxrss, o->relaxed ? "relaxed" : "fsync",
           o->no_ack ? "none" : o->batch > 0 ? "ack_many+receipt_set" : "each+receipt", o->batch);
    fflush(stdout);
    free(lat);
    asylink_client_close(&de);
    asylink_client_close(&fr);
}

static int s_parse(int argc, char **argv, s_opts *o)
{
    static const struct option opts[] = {
        {"asylinkd", required_argument, NULL, 'a'}, {"certs", required_argument, NULL, 'c'},
        {"workload", required_argument, NULL, 'w'}, {"messages", required_argument, NULL, 'n'},
        {"size", required_argument, NULL, 's'}, {"threads", required_argument, NULL, 't'},
        {"rate", required_argument, NULL, 'r'}, {"seconds", required_argument, NULL, 'S'},
        {"no-ack", no_argument, NULL, 'A'}, {"client-relaxed", no_argument, NULL, 'R'},
        {"batch", required_argument, NULL, 'b'},
        {"sent-retention", required_argument, NULL, 'K'},
        {NULL, 0, NULL, 0}};
    *o = (s_opts){.workload = "all", .messages = 100000, .size = 1024, .threads = 4,
                  .rate = 2000, .seconds = 10, .sent_retention = -1};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'a': o->asylinkd = optarg; break;
        case 'c': o->certs = optarg; break;
        case 'w': o->workload = optarg; break;
        case 'n': o->messages = strtol(optarg, NULL, 10); break;
        case 's': o->size = strtol(optarg, NULL, 10); break;
        case 't': o->threads = strtol(optarg, NULL, 10); break;
        case 'r': o->rate = strtol(optarg, NULL, 10); break;
        case 'S': o->seconds = strtol(optarg, NULL, 10); break;
        case 'A': o->no_ack = 1; break;
        case 'R': o->relaxed = 1; break;
        case 'b': o->batch = strtol(optarg, NULL, 10); break;
        case 'K': o->sent_retention = strtol(optarg, NULL, 10); break;
        default: return -1;
        }
    }
    return o->asylinkd && o->certs && o->messages > 0 && o->size >= 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    s_opts o;
    if (s_parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: bench_client --asylinkd PATH --certs DIR [--workload w1|w2|all] "
                        "[--messages N] [--size B] [--threads T] [--rate R] [--seconds S] [--batch N] [--no-ack] "
                        "[--client-relaxed] [--sent-retention SECONDS]\n");
        return 2;
    }
    snprintf(s_tmp, sizeof s_tmp, "/tmp/asylink-bench-client-XXXXXX");
    if (!mkdtemp(s_tmp))
        s_die("mkdtemp", 0);
    s_start_broker(&o);
    if (strcmp(o.workload, "w1") == 0 || strcmp(o.workload, "all") == 0)
        s_run(&o, "w1-library", o.messages, 0);
    if (strcmp(o.workload, "w2") == 0 || strcmp(o.workload, "all") == 0) {
        long saved = o.threads;
        o.threads = 1;
        s_run(&o, "w2-library", o.rate * o.seconds, o.rate);
        o.threads = saved;
    }
    kill(s_broker, SIGTERM);
    waitpid(s_broker, NULL, 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_tmp);
    return system(cmd) == 0 ? 0 : 1;
}
