/*
 * bench_broker.c — asylinkd measured end to end on loopback (DESIGN section
 * 11). A program, never a timed test: CI does not run it.
 *
 *   bench_broker --asylinkd PATH [--workload w1|w2|w3|capacity|w4|w5|w6|all]
 *                [--messages N] [--size BYTES] [--verify-threads N]
 *                [--durability fsync|relaxed] [--audit on|off] [--keep DIR] [--batch N]
 *                [--window N] [--producers N] [--rate MSGS_PER_S] [--seconds S]
 *
 * It builds its own federation in a temporary directory (CA, broker
 * BROKER.EU, 27 Member States AT..SK, consumer EUAA), writes the trust
 * directory, a policy (member_state -> agency, LIMITED) and a broker.ini,
 * and starts a fresh asylinkd for each workload. Clients speak the raw
 * protocol (core/wire.h) over DEALER + CURVE (tests/support: testfed.h
 * builds the federation, peerlink.h opens the sessions). Every envelope is sealed
 * before the clock starts, so the clients cost little and the broker is
 * what is measured; each message id carries the message's index in its
 * random bits, which the consumer uses to look up the send time. Envelopes
 * are signed in batches of --batch (default 100: one signature per 100
 * consecutive messages of a producer, PROTOCOL.md 4.10), as a sending
 * library signs a group commit; --batch 1 signs each alone.
 *
 * First it prints the machine's yardsticks (yardstick.h): the Ed25519
 * verification rate of one core and the fsync time; each result line
 * carries its throughput as a multiple of that verification rate.
 *
 * One result line per workload goes to stdout; progress and errors to
 * stderr. Every wait is bounded; the exit status is non-zero when the
 * broker fails, stalls or rejects messages.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "asylink/asylink.h"
#include "batch.h"
#include "cert.h"
#include "clock.h"
#include "codec.h"
#include "envelope.h"
#include "keys.h"
#include "peerlink.h"
#include "procstat.h"
#include "testfed.h"
#include "uuid.h"
#include "wire.h"
#include "yardstick.h"

#define N_MS 27
#define BROKER_ID "BROKER.EU"
#define CONSUMER_ID "EUAA"
#define HELLO_TIMEOUT_MS 10000 /* CURVE handshake + Hello -> Welcome */
#define STALL_TIMEOUT_MS 20000 /* no progress at all: the broker is not answering */
#define START_TIMEOUT_MS 15000 /* asylinkd prints its endpoint */
#define STOP_TIMEOUT_MS 10000  /* SIGTERM -> exit, then SIGKILL */
#define SEND_TIMEOUT_MS 10000  /* a blocking send (HWM reached) */
/* Sequences per Ack: as many as the broker takes (max_ack_batch 1000). ZeroMQ reads
 * connections round robin, a frame each, and producers pack 100 Publishes per frame:
 * a consumer acking 100 at a time fell behind four of them (PROTOCOL.md 11.2.1). */
#define ACK_BATCH 1000
#define ACK_FLUSH_NS 1000000ull /* or every 1 ms */
/* Closed loop (no --rate): a client thread that found fewer than NAP_BELOW
 * answers in a round, with more than half its window still out, naps
 * NAP_NS before the next round instead of waking for every single answer
 * (as a throughput client batches; each wake-up costs two context switches). */
#define NAP_BELOW 256
#define NAP_NS 500000ull
#define CONSUMER_CREDIT 2000 /* two Acks' worth in flight */
/* Envelope bytes a producer keeps unanswered, as libasylink does (PROTOCOL.md 11.11; the
   broker's limits.max_in_flight_bytes refuses more): one message is always sent. */
#define PRODUCER_WINDOW_BYTES (16u * 1024u * 1024u)
#define FEED_SUB "bench"                /* w4: each subscriber's durable subscription */
#define FEED_READERS 10                 /* w4: subscribers (DESIGN section 11) */
#define LARGE_MESSAGES 200              /* w5: messages ... */
#define LARGE_SIZE (4u * 1024u * 1024u) /* ... of 4 MiB */

static const char *const s_ms_ids[N_MS] = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES",
                                           "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU",
                                           "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"};

/* ---- failure ---- */

static atomic_int s_failed;
static char s_fail_msg[1024];
static pthread_mutex_t s_fail_mu = PTHREAD_MUTEX_INITIALIZER;

/* Records the first failure; threads see s_failed and stop. */
__attribute__((format(printf, 1, 2))) static void s_fail(const char *fmt, ...)
{
    pthread_mutex_lock(&s_fail_mu);
    if (!atomic_load(&s_failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s_fail_msg, sizeof s_fail_msg, fmt, ap);
        va_end(ap);
        atomic_store(&s_failed, 1);
    }
    pthread_mutex_unlock(&s_fail_mu);
}

/* "bench_broker: MESSAGE[TAIL]" on stderr, then exit(status). */
__attribute__((format(printf, 3, 0), noreturn)) static void s_vexit(int status, const char *tail,
                                                                    const char *fmt, va_list ap)
{
    fprintf(stderr, "bench_broker: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "%s\n", tail);
    exit(status);
}

/* A run that cannot go on: exit status 1. */
__attribute__((format(printf, 1, 2), noreturn)) static void s_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vexit(1, "", fmt, ap);
}

static uint64_t s_now(void)
{
    return clock_mono_ns();
}

static void s_sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- options ---- */

typedef struct {
    const char *asylinkd;
    const char *workload;
    long messages; /* -1 = the workload's default */
    size_t size;
    int verify_threads; /* 0 = broker default (one per core) */
    const char *durability;
    const char *audit;       /* "on" / "off": the broker's [audit] enabled */
    const char *keep;        /* NULL = temporary directory, deleted at the end */
    uint32_t window;         /* unanswered Publishes per producer */
    int producers;           /* capacity workload */
    double rate;             /* w2 */
    double seconds;          /* w2 */
    const char *latency_log; /* per-message "workload index send_ms latency_ms" lines */
    size_t batch;            /* envelopes signed together (1 = each alone) */
    size_t pack;             /* Publishes per Packed frame (1 = protocol version 1, no packing) */
    double verify_per_s;     /* the yardstick: one core's Ed25519 verifications per second */
} s_opts;

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: bench_broker --asylinkd PATH [--workload w1|w2|w3|capacity|w4|w5|w6|all]\n"
            "                    [--messages N] [--size BYTES] [--verify-threads N]\n"
            "                    [--durability fsync|relaxed] [--audit on|off] [--keep DIR]\n"
            "                    [--batch N] [--pack N]\n"
            "                    [--window N] [--producers N] [--rate N] [--seconds S]\n"
            "                    [--latency-log FILE]\n"
            "       bench_broker --help\n\n"
            "  --batch N  envelopes signed together, 1..1024 (default 100; 1 = each alone)\n"
            "  --pack N   Publishes per frame, 1..1024 (default 100): sessions speak protocol\n"
            "             version 2 (Packed frames, PROTOCOL.md 11.2.1); 1 = version 1\n\n"
            "  w1        1 producer -> 1 consumer, 100000 messages, window 1000\n"
            "  w2        2000 msgs/s offered for 10 s (paced), latency\n"
            "  w3        27 producers (one per Member State) -> 1 consumer\n"
            "  capacity  as w1 with --producers (default 4) producer threads\n"
            "  w4        1 publisher -> 10 subscribers on one feed topic (PUBLIC, signed)\n"
            "  w5        200 messages of 4 MiB (--size does not apply), 1 producer -> 1 consumer\n"
            "  w6        1000000 messages queued for an offline consumer, then drained\n"
            "  all       w1, w2, w3, capacity, w4, w5 (w6 only when named)\n\n"
            "Defaults: --messages 100000 (w5: 200, w6: 1000000), --size 1024, --verify-threads 0\n"
            "(one per core), --durability fsync, --audit on, --window 1000, --producers 4,\n"
            "--rate 2000, --seconds 10. See bench/README.md.\n");
}

/* A command-line mistake: the message on stderr, exit status 2 (as an unknown option). */
__attribute__((format(printf, 1, 2), noreturn)) static void s_bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vexit(2, " (bench_broker --help)", fmt, ap);
}

static long s_num(const char *name, const char *v, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || !end || *end || n < min || n > max)
        s_bad_usage("--%s: expected an integer %ld..%ld, got \"%s\"", name, min, max, v);
    return n;
}

static void s_parse(int argc, char **argv, s_opts *o)
{
    static const struct option opts[] = {{"asylinkd", required_argument, NULL, 'a'},
                                         {"workload", required_argument, NULL, 'w'},
                                         {"messages", required_argument, NULL, 'n'},
                                         {"size", required_argument, NULL, 's'},
                                         {"verify-threads", required_argument, NULL, 't'},
                                         {"durability", required_argument, NULL, 'd'},
                                         {"keep", required_argument, NULL, 'k'},
                                         {"window", required_argument, NULL, 'W'},
                                         {"producers", required_argument, NULL, 'p'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"seconds", required_argument, NULL, 'S'},
                                         {"latency-log", required_argument, NULL, 'L'},
                                         {"audit", required_argument, NULL, 'A'},
                                         {"batch", required_argument, NULL, 'B'},
                                         {"pack", required_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *o = (s_opts){.workload = "all",
                  .messages = -1,
                  .size = 1024,
                  .durability = "fsync",
                  .audit = "on",
                  .window = 1000,
                  .producers = 4,
                  .rate = 2000,
                  .seconds = 10,
                  .batch = 100,
                  .pack = 100};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a': o->asylinkd = optarg; break;
        case 'w': o->workload = optarg; break;
        case 'n': o->messages = s_num("messages", optarg, 1, 50000000); break;
        case 's': o->size = (size_t)s_num("size", optarg, 1, 16 * 1024 * 1024); break;
        case 't': o->verify_threads = (int)s_num("verify-threads", optarg, 0, 64); break;
        case 'd': o->durability = optarg; break;
        case 'k': o->keep = optarg; break;
        case 'W': o->window = (uint32_t)s_num("window", optarg, 1, 1000000); break;
        case 'p': o->producers = (int)s_num("producers", optarg, 1, N_MS); break;
        case 'r': o->rate = (double)s_num("rate", optarg, 1, 10000000); break;
        case 'S': o->seconds = (double)s_num("seconds", optarg, 1, 3600); break;
        case 'L': o->latency_log = optarg; break;
        case 'B': o->batch = (size_t)s_num("batch", optarg, 1, BATCH_MAX); break;
        case 'P': o->pack = (size_t)s_num("pack", optarg, 1, WIRE_MAX_PACKED); break;
        case 'A': o->audit = optarg; break;
        case 'h': s_usage(stdout); exit(0);
        default: s_usage(stderr); exit(2);
        }
    }
    if (optind < argc || !o->asylinkd) {
        fprintf(stderr, "bench_broker: %s\n",
                o->asylinkd ? "unexpected argument" : "--asylinkd PATH is required");
        s_usage(stderr);
        exit(2);
    }
    if (strcmp(o->durability, "fsync") != 0 && strcmp(o->durability, "relaxed") != 0)
        s_bad_usage("--durability: expected fsync or relaxed, got \"%s\"", o->durability);
    if (strcmp(o->audit, "on") != 0 && strcmp(o->audit, "off") != 0)
        s_bad_usage("--audit: expected on or off, got \"%s\"", o->audit);
    if (access(o->asylinkd, X_OK) != 0)
        s_bad_usage("--asylinkd %s: not an executable file", o->asylinkd);
}

/* ---- files ---- */

static void s_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        s_die("cannot write %s: %s", path, strerror(errno));
}

/* Disk space used by the files directly in dir, KiB. */
static uint64_t s_dir_kib(const char *dir)
{
    uint64_t kib = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char p[4096];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode))
            kib += (uint64_t)st.st_blocks / 2;
    }
    if (d)
        closedir(d);
    return kib;
}

/* ---- the federation (tests/support/testfed.h) ---- */

typedef struct {
    testfed *t;         /* CA, nodes, trust directory; owns the keys and certs below */
    const char *dir;    /* t->dir */
    char keep_dir[256]; /* --keep, made absolute */
    keys_secret *broker_keys;
    cert *broker_cert;
    keys_secret *ms_keys[N_MS];
    cert *ms_cert[N_MS];
    keys_secret *euaa_keys;
    cert *euaa_cert;
} s_fed;

/* Adds node id with the role; the testfed printed why if it cannot. */
static testfed_node *s_node(s_fed *f, const char *id, int role)
{
    testfed_node *n = NULL;
    if (testfed_add(f->t, id, NULL, CERT_ROLE_BIT(role), &n) != ASYLINK_OK)
        s_die("cannot add %s to the federation", id);
    return n;
}

static void s_fed_init(s_fed *f, const s_opts *o)
{
    testfed_params p = {.ca_id = "BENCH.CA", .ca_name = "bench CA"};
    if (o->keep) {
        if (strlen(o->keep) > 120)
            s_die("--keep %s: path too long (config lines are limited)", o->keep);
        if (mkdir(o->keep, 0700) != 0 && errno != EEXIST)
            s_die("--keep %s: %s", o->keep, strerror(errno));
        char probe[512];
        snprintf(probe, sizeof probe, "%s/trust", o->keep);
        if (access(probe, F_OK) == 0)
            s_die("--keep %s: already holds a federation; give an empty or new directory", o->keep);
        char *abs = realpath(o->keep, NULL);
        if (!abs)
            s_die("--keep %s: %s", o->keep, strerror(errno));
        snprintf(f->keep_dir, sizeof f->keep_dir, "%s", abs);
        free(abs);
        p.dir = f->keep_dir;
    }
    if (testfed_new(&p, &f->t) != ASYLINK_OK)
        s_die("cannot make the federation");
    f->dir = f->t->dir;
    testfed_node *n = s_node(f, BROKER_ID, CERT_ROLE_BROKER);
    f->broker_keys = n->keys;
    f->broker_cert = n->cert;
    n = s_node(f, CONSUMER_ID, CERT_ROLE_AGENCY);
    f->euaa_keys = n->keys;
    f->euaa_cert = n->cert;
    for (int i = 0; i < N_MS; i++) {
        n = s_node(f, s_ms_ids[i], CERT_ROLE_MEMBER_STATE);
        f->ms_keys[i] = n->keys;
        f->ms_cert[i] = n->cert;
    }
    if (testfed_write_trust(f->t) != ASYLINK_OK)
        s_die("cannot write the trust directory in %s", f->dir);
    char path[512];
    snprintf(path, sizeof path, "%s/broker.key", f->dir);
    int rc = keys_save(f->broker_keys, path, NULL, NULL, "bench broker");
    if (rc != ASYLINK_OK)
        s_die("keys_save %s: %s", path, asylink_strerror(rc));
    snprintf(path, sizeof path, "%s/policy.ini", f->dir);
    s_write_file(path, "; bench_broker: Member States send LIMITED messages to the agency\n"
                       "; and publish their own monthly figures, which Member States and\n"
                       "; the agency read (w4).\n"
                       "[direct]\n"
                       "member_state = agency\n\n"
                       "[classification]\n"
                       "member_state = LIMITED\n\n"
                       "[publish]\n"
                       "stats.monthly.{sender} = member_state\n\n"
                       "[subscribe]\n"
                       "stats = member_state, agency\n");
}

/* Frees the federation; its directory goes too unless --keep named it. */
static void s_fed_free(s_fed *f)
{
    testfed_destroy(&f->t);
}

/* ---- the broker process ---- */

typedef struct {
    pid_t pid;
    int out_fd; /* its stdout */
    int port;
    char endpoint[64];
    char data_dir[512];
    char log_path[512];
    uint64_t peak_anon, peak_file; /* KiB, the largest RssAnon / RssFile seen every 20 ms */
} s_broker;

static void s_broker_log_tail(const s_broker *b)
{
    FILE *f = fopen(b->log_path, "r");
    if (!f)
        return;
    char lines[20][512];
    int n = 0;
    while (fgets(lines[n % 20], sizeof lines[0], f))
        n++;
    fclose(f);
    fprintf(stderr, "bench_broker: last lines of %s:\n", b->log_path);
    for (int i = n > 20 ? n - 20 : 0; i < n; i++)
        fprintf(stderr, "  %s", lines[i % 20]);
}

static void s_broker_start(const s_fed *f, const s_opts *o, const char *name, s_broker *b)
{
    char ini_path[512], ini[4096];
    memset(b, 0, sizeof *b);
    b->pid = -1;
    b->out_fd = -1;
    snprintf(b->data_dir, sizeof b->data_dir, "%s/data-%s", f->dir, name);
    snprintf(b->log_path, sizeof b->log_path, "%s/asylinkd-%s.log", f->dir, name);
    snprintf(ini_path, sizeof ini_path, "%s/broker-%s.ini", f->dir, name);
    testfed_rmtree(b->data_dir);
    snprintf(ini, sizeof ini,
             "; bench_broker: workload %s\n"
             "[broker]\n"
             "node_id = " BROKER_ID "\n"
             "cert = %s/trust/nodes/" BROKER_ID ".cert\n"
             "key = %s/broker.key\n"
             "trust_dir = %s/trust\n"
             "data_dir = %s\n"
             "policy = %s/policy.ini\n"
             "endpoint = tcp://127.0.0.1:*\n"
             "admin_endpoint =\n\n"
             "[store]\n"
             "durability = %s\n\n"
             "[audit]\n"
             "enabled = %s\n\n"
             "[workers]\n"
             "verify_threads = %d\n\n"
             "[http]\n"
             "listen =\n\n"
             "[log]\n"
             "level = info\n",
             name, f->dir, f->dir, f->dir, b->data_dir, f->dir, o->durability,
             strcmp(o->audit, "on") == 0 ? "true" : "false", o->verify_threads);
    s_write_file(ini_path, ini);

    int pfd[2];
    if (pipe(pfd) != 0)
        s_die("pipe: %s", strerror(errno));
    int logfd = open(b->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (logfd < 0)
        s_die("%s: %s", b->log_path, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        s_die("fork: %s", strerror(errno));
    if (pid == 0) { /* only async-signal-safe calls until exec */
        dup2(pfd[1], STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        close(logfd);
        execl(o->asylinkd, o->asylinkd, "--config", ini_path, (char *)NULL);
        static const char msg[] = "bench_broker: exec asylinkd failed\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    close(pfd[1]);
    close(logfd);
    fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
    b->pid = pid;
    b->out_fd = pfd[0];

    /* Wait for "listening on tcp://127.0.0.1:PORT". */
    char buf[4096];
    size_t len = 0;
    uint64_t deadline = s_now() + START_TIMEOUT_MS * 1000000ull;
    for (;;) {
        buf[len] = '\0';
        const char *hit = strstr(buf, "listening on tcp://127.0.0.1:");
        if (hit && strchr(hit, '\n')) {
            b->port = (int)strtol(hit + strlen("listening on tcp://127.0.0.1:"), NULL, 10);
            break;
        }
        uint64_t now = s_now();
        if (now >= deadline || len + 1 >= sizeof buf) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            s_broker_log_tail(b);
            s_die("asylinkd did not print \"listening on tcp://127.0.0.1:PORT\" within %d s",
                  START_TIMEOUT_MS / 1000);
        }
        struct pollfd p = {b->out_fd, POLLIN, 0};
        int rc = poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
        if (rc < 0 && errno != EINTR)
            s_die("poll: %s", strerror(errno));
        if (rc <= 0)
            continue;
        ssize_t n = read(b->out_fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0) {
            int st = 0;
            waitpid(pid, &st, 0);
            b->pid = -1;
            s_broker_log_tail(b);
            s_die("asylinkd exited before listening (%s %d)",
                  WIFEXITED(st) ? "exit status" : "signal",
                  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        }
        len += (size_t)n;
    }
    if (b->port <= 0 || b->port > 65535)
        s_die("asylinkd printed an unusable port");
    snprintf(b->endpoint, sizeof b->endpoint, "tcp://127.0.0.1:%d", b->port);
}

/* Nonzero if the broker process has exited (reaped here). */
static bool s_broker_gone(s_broker *b, int *status)
{
    if (b->pid <= 0)
        return true;
    pid_t r = waitpid(b->pid, status, WNOHANG);
    if (r == b->pid) {
        b->pid = -1;
        return true;
    }
    return false;
}

/* Values from /proc/PID/status in KiB: VmHWM, VmRSS, RssAnon, RssFile. */
typedef struct {
    uint64_t hwm, rss, anon, file;
} s_mem;

static s_mem s_broker_mem(const s_broker *b)
{
    s_mem m = {0};
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)b->pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long v = 0;
        if (sscanf(line, "VmHWM: %llu", &v) == 1)
            m.hwm = v;
        else if (sscanf(line, "VmRSS: %llu", &v) == 1)
            m.rss = v;
        else if (sscanf(line, "RssAnon: %llu", &v) == 1)
            m.anon = v;
        else if (sscanf(line, "RssFile: %llu", &v) == 1)
            m.file = v;
    }
    if (f)
        fclose(f);
    return m;
}

/* CPU time (user + system) of the broker so far, seconds. */
static double s_broker_cpu(const s_broker *b)
{
    uint64_t t[2] = {0}; /* utime, stime */
    if (!procstat_fields(b->pid, 14, 2, t))
        return 0;
    return (double)(t[0] + t[1]) / (double)sysconf(_SC_CLK_TCK);
}

/* The 1-minute load average: other processes share these cores. */
static double s_loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static double s_self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* SIGTERM, wait, then SIGKILL. Returns the exit status text. */
static void s_broker_stop(s_broker *b, char *how, size_t howlen)
{
    snprintf(how, howlen, "not running");
    if (b->pid > 0) {
        int st = 0;
        kill(b->pid, SIGTERM);
        uint64_t deadline = s_now() + STOP_TIMEOUT_MS * 1000000ull;
        pid_t r = 0;
        while ((r = waitpid(b->pid, &st, WNOHANG)) == 0 && s_now() < deadline)
            s_sleep_ns(10000000);
        if (r == 0) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &st, 0);
            snprintf(how, howlen, "killed with SIGKILL after %d s", STOP_TIMEOUT_MS / 1000);
        } else if (WIFEXITED(st)) {
            snprintf(how, howlen, "exit status %d", WEXITSTATUS(st));
        } else {
            snprintf(how, howlen, "signal %d", WTERMSIG(st));
        }
        b->pid = -1;
    }
    if (b->out_fd >= 0)
        close(b->out_fd);
    b->out_fd = -1;
}

/* ---- clients ---- */

static void *s_ctx;

/* Connects node_id with CURVE and opens a session: Hello -> Welcome. NULL on failure (s_fail). */
static void *s_client_open(const s_fed *f, const char *endpoint, const keys_secret *k,
                           const char *node_id, uint32_t credit, bool packed)
{
    peerlink l;
    peerlink_opts lo = {.ctx = s_ctx,
                        .server_pk = f->broker_keys->box_pk,
                        .keys = k,
                        .linger_ms = 1000,
                        .send_timeout_ms = SEND_TIMEOUT_MS};
    if (peerlink_open(&l, endpoint, &lo) != 0) {
        s_fail("%s: socket setup: %s", node_id, zmq_strerror(zmq_errno()));
        peerlink_close(&l, 0);
        return NULL;
    }
    wire_cmd hello, c;
    peerwire_hello(&hello, 1, node_id, "bench_broker", credit);
    if (packed)
        hello.u.hello.protocol_version = WIRE_PROTOCOL_PACKED;
    int rc = peerlink_hello(&l, &hello, clock_now_ms() + HELLO_TIMEOUT_MS, &c);
    if (rc == 1)
        s_fail("%s: Hello answered with %s %s: %s", node_id, wire_kind_name(c.kind),
               asylink_err_name(c.u.error.code), c.u.error.reason);
    else if (rc == -2)
        s_fail("%s: undecodable answer to Hello", node_id);
    else if (rc < 0)
        s_fail("%s: no Welcome from asylinkd at %s within %d s (broker not answering, or "
               "CURVE/ZAP refused the node)",
               node_id, endpoint, HELLO_TIMEOUT_MS / 1000);
    wire_cmd_clear(&c);
    if (rc == 0)
        return peerlink_detach(&l);
    peerlink_close(&l, 1000);
    return NULL;
}

static void s_client_close(void *s)
{
    if (!s)
        return;
    wire_cmd bye = {.kind = WIRE_BYE};
    snprintf(bye.u.error.reason, sizeof bye.u.error.reason, "bench done");
    peerwire_send(s, 0, &bye, NULL, 0);
    zmq_close(s);
}

/* ---- messages ---- */

typedef struct {
    uint8_t *env; /* sealed envelope */
    uint8_t *cmd; /* encoded Publish command */
    uint32_t env_len, cmd_len;
} s_msg;

typedef struct s_run s_run;

/* One delivery as the consumer saw it. */
typedef struct {
    uint64_t seq;     /* Deliver.sequence */
    uint64_t recv_ns; /* when it arrived */
    uint32_t idx_env; /* message index from the envelope's id, UINT32_MAX if none */
    bool env_ok;      /* the envelope bytes are exactly message idx_env's */
} s_rec;

typedef struct {
    s_run *run;
    int node; /* Member State index */
    void *sock;
    size_t start, end, next; /* message index range; next to send */
    uint32_t inflight;
    uint64_t inflight_bytes; /* their envelope bytes */
    uint64_t accepted, rejected, duplicates;
    uint64_t first_send_ns, last_answer_ns;
    peerwire_reader rd; /* Packed answers being read */
    wire_packer pk;     /* Publishes being packed */
} s_producer;

/* One receiving node: EUAA's direct queue, or (w4) one subscriber of the feed. */
typedef struct {
    s_run *run;
    const char *id; /* node id */
    const keys_secret *keys;
    bool feed; /* reads its subscription (FEED_SUB), not its direct queue */
    void *sock;
    pthread_t th;
    bool started;
    /* one record per delivered sequence, matched to messages after the run */
    s_rec *recs;
    size_t n_recs, cap_recs;
    uint64_t *seq_set; /* sequences delivered (open addressing, 0 = empty) */
    size_t seq_mask;
    uint64_t redeliveries, first_deliver_ns, last_deliver_ns;
    atomic_int done;
} s_consumer;

struct s_run {
    const s_opts *o;
    const s_fed *fed;
    const char *name;
    const char *topic; /* w4: the feed's topic; NULL = direct messages to EUAA */
    size_t size;       /* payload bytes per message */
    size_t total;
    s_msg *msgs;
    _Atomic uint64_t *sent_ns; /* send (or, paced, scheduled) time per message */
    uint8_t tag[4];            /* this run's mark in the message ids */
    uint32_t window;           /* unanswered Publishes per producer */
    double rate;               /* offered msgs/s over all producers; 0 = as fast as possible */
    s_producer *prods;
    size_t n_prods;
    int n_prod_threads;
    atomic_int go;
    uint64_t t0_ns;
    atomic_ullong rejected;
    uint64_t *acc_seq; /* store sequence from each message's Accepted, 0 = none */
    s_consumer *cons;  /* the receiving nodes */
    size_t n_cons;
    atomic_llong env_frames; /* envelopes sent zero-copy that libzmq still holds */
    atomic_int producers_done;
};

/* The message id of message idx: UUIDv7 whose random bits hold the run tag and idx. */
static void s_make_id(const s_run *r, size_t idx, uint8_t id[16])
{
    uint8_t rnd[10];
    randombytes_buf(rnd, 2);
    memcpy(rnd + 2, r->tag, 4);
    rnd[6] = (uint8_t)(idx >> 24);
    rnd[7] = (uint8_t)(idx >> 16);
    rnd[8] = (uint8_t)(idx >> 8);
    rnd[9] = (uint8_t)idx;
    uuid_v7_from(clock_now_ms(), rnd, id);
}

/* The index s_make_id() put in id, or SIZE_MAX if the id is not from this run. */
static size_t s_id_index(const s_run *r, const uint8_t id[16])
{
    if ((id[8] & 0x3f) != (r->tag[0] & 0x3f) || memcmp(id + 9, r->tag + 1, 3) != 0)
        return SIZE_MAX;
    size_t idx = (size_t)id[12] << 24 | (size_t)id[13] << 16 | (size_t)id[14] << 8 | id[15];
    return idx < r->total ? idx : SIZE_MAX;
}

/* The message id in a serialized Envelope (Envelope.header = 1, Header.message_id = 2). */
static const uint8_t *s_envelope_id(const uint8_t *env, size_t len)
{
    const uint8_t *h = NULL, *id = NULL;
    size_t hlen = 0, idlen = 0;
    if (!codec_find_bytes(env, len, 1, &h, &hlen) || !codec_find_bytes(h, hlen, 2, &id, &idlen) ||
        idlen != 16)
        return NULL;
    return id;
}

typedef struct {
    s_run *r;
    int tid, nt;
    const uint8_t *payload;
} s_seal_arg;

/* Seals messages [from, to) of one producer and signs them as one batch. */
static int s_seal_chunk(s_run *r, envelope_sealer *s, size_t from, size_t to,
                        const uint8_t *payload)
{
    const s_fed *f = r->fed;
    const char *rcpt[1] = {CONSUMER_ID};
    const cert *readers[1] = {f->euaa_cert};
    envelope_draft *d[BATCH_MAX] = {0};
    size_t n = to - from;
    int rc = ASYLINK_OK;
    for (size_t k = 0; rc == ASYLINK_OK && k < n; k++) {
        uint8_t id[16];
        s_make_id(r, from + k, id);
        envelope_params ep = {.recipients = rcpt,
                              .n_recipients = 1,
                              .readers = readers,
                              .n_readers = 1,
                              .content_type = "asylink.bench.v1",
                              .classification = ENVELOPE_LIMITED,
                              .message_id = id};
        if (r->topic) /* a feed of published figures: PUBLIC, signed, for every reader */
            ep = (envelope_params){.topic = r->topic,
                                   .content_type = "asylink.bench.v1",
                                   .classification = ENVELOPE_PUBLIC,
                                   .message_id = id};
        rc = envelope_seal_draft(s, &ep, payload, r->size, &d[k], NULL);
    }
    if (rc == ASYLINK_OK)
        rc = envelope_sign(s, d, n);
    for (size_t k = 0; k < n; k++) {
        size_t i = from + k, env_len = 0, cmd_len = 0;
        uint8_t *env = rc == ASYLINK_OK ? envelope_draft_take(d[k], &env_len) : NULL, *cmd = NULL;
        envelope_draft_destroy(&d[k]);
        if (!env)
            continue;
        wire_cmd c = {.kind = WIRE_PUBLISH};
        memcpy(c.u.publish.message_id, s_envelope_id(env, env_len), 16);
        if (rc == ASYLINK_OK)
            rc = wire_encode(&c, &cmd, &cmd_len);
        r->msgs[i] = (s_msg){
            .env = env, .cmd = cmd, .env_len = (uint32_t)env_len, .cmd_len = (uint32_t)cmd_len};
    }
    return rc;
}

/* Seals this thread's share: batches of --batch consecutive messages of each producer. */
static void *s_seal_thread(void *arg)
{
    s_seal_arg *a = arg;
    s_run *r = a->r;
    const s_fed *f = r->fed;
    size_t chunk = 0, per = r->o->batch;
    for (size_t p = 0; p < r->n_prods && !atomic_load(&s_failed); p++) {
        int node = r->prods[p].node;
        envelope_sealer *s = NULL;
        int rc = envelope_sealer_new(f->ms_keys[node], s_ms_ids[node], f->ms_cert[node]->serial,
                                     NULL, NULL, &s);
        if (rc != ASYLINK_OK) {
            s_fail("envelope_sealer_new: %s", asylink_strerror(rc));
            break;
        }
        for (size_t i = r->prods[p].start; i < r->prods[p].end; i += per, chunk++) {
            if (chunk % (size_t)a->nt != (size_t)a->tid)
                continue;
            size_t end = i + per < r->prods[p].end ? i + per : r->prods[p].end;
            if ((rc = s_seal_chunk(r, s, i, end, a->payload)) != ASYLINK_OK) {
                s_fail("sealing messages %zu..%zu: %s", i, end, asylink_strerror(rc));
                break;
            }
        }
        envelope_sealer_destroy(&s);
    }
    return NULL;
}

/* Seals every message of the run on all cores. */
static void s_seal_all(s_run *r)
{
    uint64_t t0 = s_now();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = ncpu > 0 ? (int)ncpu : 1;
    if (nt > 16)
        nt = 16;
    uint8_t *payload = malloc(r->size);
    if (!payload)
        s_die("out of memory");
    randombytes_buf(payload, r->size);
    pthread_t th[16];
    s_seal_arg args[16];
    for (int t = 0; t < nt; t++) {
        args[t] = (s_seal_arg){.r = r, .tid = t, .nt = nt, .payload = payload};
        if (pthread_create(&th[t], NULL, s_seal_thread, &args[t]) != 0)
            s_die("pthread_create: %s", strerror(errno));
    }
    for (int t = 0; t < nt; t++)
        pthread_join(th[t], NULL);
    free(payload);
    if (atomic_load(&s_failed))
        s_die("%s", s_fail_msg);
    /* The consumer finds message ids by walking the protobuf: check it once. */
    const uint8_t *id = s_envelope_id(r->msgs[0].env, r->msgs[0].env_len);
    if (!id || s_id_index(r, id) != 0)
        s_die("cannot find the message id in a sealed envelope (format changed?)");
    fprintf(stderr,
            "bench_broker: %s: sealed %zu envelopes of %u bytes (payload %zu) in batches of %zu "
            "in %.1f s\n",
            r->name, r->total, r->msgs[0].env_len, r->size, r->o->batch,
            (double)(s_now() - t0) / 1e9);
}

static void s_msgs_free(s_run *r)
{
    /* Envelopes still held by libzmq (queued when a run failed) are left allocated. */
    for (int i = 0; i < 2000 && atomic_load(&r->env_frames) > 0; i++)
        s_sleep_ns(1000000);
    if (atomic_load(&r->env_frames) > 0) {
        fprintf(stderr, "bench_broker: %lld envelopes still queued in libzmq; not freed\n",
                (long long)atomic_load(&r->env_frames));
        return;
    }
    for (size_t i = 0; r->msgs && i < r->total; i++) {
        free(r->msgs[i].env);
        free(r->msgs[i].cmd);
    }
    free(r->msgs);
    r->msgs = NULL;
}

/* ---- producer threads ---- */

typedef struct {
    s_run *r;
    s_producer **p;
    size_t n;
} s_prod_arg;

static bool s_producer_finished(const s_producer *p)
{
    return p->accepted + p->rejected >= p->end - p->start;
}

/* The message id was answered: it no longer counts against the window. */
static void s_producer_answered(s_producer *p, const uint8_t id[16])
{
    size_t idx = s_id_index(p->run, id);
    if (p->inflight)
        p->inflight--;
    if (idx >= p->start && idx < p->end && p->run->msgs[idx].env_len <= p->inflight_bytes)
        p->inflight_bytes -= p->run->msgs[idx].env_len;
}

/* Handles what the broker sent to a producer; returns false on a fatal answer. */
static bool s_producer_on(s_producer *p, const wire_cmd *c)
{
    s_run *r = p->run;
    const char *me = s_ms_ids[p->node];
    switch (c->kind) {
    case WIRE_ACCEPTED: {
        size_t idx = s_id_index(r, c->u.accepted.message_id);
        if (idx >= p->start && idx < p->end)
            r->acc_seq[idx] = c->u.accepted.store_sequence;
        s_producer_answered(p, c->u.accepted.message_id);
        p->accepted++;
        if (c->u.accepted.duplicate)
            p->duplicates++;
        return true;
    }
    case WIRE_REJECTED:
        s_producer_answered(p, c->u.rejected.message_id);
        if (p->rejected++ == 0)
            fprintf(stderr, "bench_broker: %s: %s: Publish Rejected %s (%s)%s\n", r->name, me,
                    asylink_err_name(c->u.rejected.code), c->u.rejected.reason,
                    c->u.rejected.retryable ? ", retryable" : "");
        atomic_fetch_add(&r->rejected, 1);
        return true;
    case WIRE_ERROR:
        if (c->u.error.fatal) {
            s_fail("%s: fatal Error from the broker: %s: %s", me, asylink_err_name(c->u.error.code),
                   c->u.error.reason);
            return false;
        }
        fprintf(stderr, "bench_broker: %s: Error from the broker: %s: %s\n", me,
                asylink_err_name(c->u.error.code), c->u.error.reason);
        return true;
    case WIRE_BYE:
        s_fail("%s: the broker said Bye: %s: %s", me, asylink_err_name(c->u.error.code),
               c->u.error.reason);
        return false;
    case WIRE_HEARTBEAT: peerwire_pong(p->sock, 0, c); return true;
    default: return true;
    }
}

/* libzmq is done with an envelope it was given zero-copy (any thread). */
static void s_env_sent(void *data, void *hint)
{
    (void)data;
    atomic_fetch_sub((atomic_llong *)hint, 1);
}

/* libzmq is done with a Packed frame's block (any thread). */
static void s_block_free(void *data, void *hint)
{
    (void)data;
    free(hint);
}

/* Sends the Publishes packed so far as one Packed frame; false on failure (s_fail). */
static bool s_pack_flush(s_producer *p)
{
    size_t off = 0, len = 0;
    uint8_t *block = wire_packer_finish(&p->pk, &off, &len);
    if (!block)
        return true;
    zmq_msg_t m;
    if (zmq_msg_init_data(&m, block + off, len, s_block_free, block) != 0) {
        free(block);
        s_fail("%s: out of memory", s_ms_ids[p->node]);
        return false;
    }
    if (zmq_msg_send(&m, p->sock, 0) != (int)len) {
        zmq_msg_close(&m);
        s_fail("%s: Packed Publishes not sent within %d s: %s", s_ms_ids[p->node],
               SEND_TIMEOUT_MS / 1000, zmq_strerror(zmq_errno()));
        return false;
    }
    return true;
}

/* Whether p has a next message and the window room for it (messages and bytes). */
static bool s_producer_room(const s_producer *p)
{
    const s_run *r = p->run;
    if (p->next >= p->end || p->inflight >= r->window)
        return false;
    return !p->inflight || p->inflight_bytes + r->msgs[p->next].env_len <= PRODUCER_WINDOW_BYTES;
}

/* Sends what the window (and, paced, the clock) allows. Returns messages sent. */
static size_t s_producer_send(s_producer *p, uint64_t *next_due)
{
    s_run *r = p->run;
    size_t sent = 0;
    uint64_t now = s_now();
    while (s_producer_room(p)) {
        uint64_t stamp = now;
        if (r->rate > 0) {
            /* Open loop: message k is due at t0 + k / (rate per producer); latency counts
             * from when it was due, so a late send (full window) is not hidden. */
            uint64_t due = r->t0_ns + (uint64_t)((double)(p->next - p->start) * 1e9 *
                                                 (double)r->n_prods / r->rate);
            if (due > now && due > (now = s_now())) {
                if (due < *next_due)
                    *next_due = due;
                break;
            }
            stamp = due;
        }
        const s_msg *m = &r->msgs[p->next];
        atomic_store_explicit(&r->sent_ns[p->next], stamp, memory_order_release);
        if (!p->first_send_ns)
            p->first_send_ns = now;
        /* Packed frames close at 4 MiB; a larger message goes alone (PROTOCOL.md 11.2.1). */
        bool alone = (size_t)m->env_len + m->cmd_len + 64 > WIRE_PACK_BYTES;
        if (r->o->pack > 1 && !alone && p->pk.items &&
            wire_packer_frame_len(&p->pk) + m->env_len + m->cmd_len + 64 > WIRE_PACK_BYTES &&
            !s_pack_flush(p))
            return sent;
        if (p->pk.items && alone && !s_pack_flush(p)) /* keep the order */
            return sent;
        if (r->o->pack > 1 && !alone) { /* into the Packed frame, sent when full or below */
            if (wire_packer_add(&p->pk, m->cmd, m->cmd_len, m->env, m->env_len) != ASYLINK_OK) {
                s_fail("%s: out of memory", s_ms_ids[p->node]);
                return sent;
            }
            p->inflight_bytes += m->env_len;
            p->next++;
            p->inflight++;
            sent++;
            if (p->pk.items >= r->o->pack && !s_pack_flush(p))
                return sent;
            now = s_now();
            continue;
        }
        /* the envelope goes zero-copy; s_msgs_free() waits until libzmq let go of it */
        zmq_msg_t env;
        atomic_fetch_add(&r->env_frames, 1);
        if (zmq_msg_init_data(&env, m->env, m->env_len, s_env_sent, &r->env_frames) != 0) {
            atomic_fetch_sub(&r->env_frames, 1);
            s_fail("%s: out of memory", s_ms_ids[p->node]);
            return sent;
        }
        if (zmq_send(p->sock, m->cmd, m->cmd_len, ZMQ_SNDMORE) != (int)m->cmd_len ||
            zmq_msg_send(&env, p->sock, 0) != (int)m->env_len) {
            zmq_msg_close(&env);
            s_fail("%s: Publish not sent within %d s: %s", s_ms_ids[p->node],
                   SEND_TIMEOUT_MS / 1000, zmq_strerror(zmq_errno()));
            return sent;
        }
        p->inflight_bytes += m->env_len;
        p->next++;
        p->inflight++;
        sent++;
        now = s_now();
    }
    if (p->pk.items)
        s_pack_flush(p);
    return sent;
}

static void *s_producer_thread(void *arg)
{
    s_prod_arg *a = arg;
    s_run *r = a->r;
    zmq_pollitem_t *items = calloc(a->n, sizeof *items);
    if (!items) {
        s_fail("out of memory");
        return NULL;
    }
    for (size_t i = 0; i < a->n; i++)
        items[i] = (zmq_pollitem_t){a->p[i]->sock, 0, ZMQ_POLLIN, 0};
    while (!atomic_load(&r->go) && !atomic_load(&s_failed))
        s_sleep_ns(50000);
    uint64_t last_progress = s_now();
    while (!atomic_load(&s_failed)) {
        uint64_t next_due = UINT64_MAX;
        size_t unfinished = 0, work = 0;
        for (size_t i = 0; i < a->n; i++) {
            s_producer *p = a->p[i];
            work += s_producer_send(p, &next_due);
            for (int k = 0; k < 4096; k++) { /* read what is there */
                peerwire_in in;
                int got = peerwire_read(p->sock, &p->rd, &in);
                if (got && in.decode_rc != ASYLINK_OK)
                    s_fail("%s: undecodable command from the broker", s_ms_ids[p->node]);
                else if (got)
                    s_producer_on(p, &in.cmd);
                peerwire_in_clear(&in);
                if (!got)
                    break;
                work++;
            }
            if (!s_producer_finished(p))
                unfinished++;
        }
        if (!unfinished)
            break;
        uint64_t now = s_now();
        if (work) {
            last_progress = now;
            size_t out = 0;
            for (size_t i = 0; i < a->n; i++)
                out += a->p[i]->inflight;
            if (r->rate == 0 && work < NAP_BELOW && 2 * out > a->n * r->window)
                s_sleep_ns(NAP_NS);
            continue;
        }
        if (now - last_progress > STALL_TIMEOUT_MS * 1000000ull) {
            size_t inflight = 0;
            for (size_t i = 0; i < a->n; i++)
                inflight += a->p[i]->inflight;
            s_fail("producers: no answer from the broker for %d s (%zu Publishes unanswered)",
                   STALL_TIMEOUT_MS / 1000, inflight);
            break;
        }
        long wait_ms = 100;
        if (next_due != UINT64_MAX) {
            if (next_due <= now)
                continue;
            if (next_due - now < 1500000) { /* finer than zmq_poll's milliseconds */
                s_sleep_ns(next_due - now);
                continue;
            }
            wait_ms = (long)((next_due - now) / 1000000) - 1;
        }
        zmq_poll(items, (int)a->n, wait_ms);
    }
    free(items);
    atomic_fetch_add(&r->producers_done, 1);
    return NULL;
}

/* ---- consumer threads ---- */

static void s_flush_acks(s_consumer *cn, uint64_t *acks, size_t *n)
{
    if (!*n)
        return;
    wire_cmd c = {.kind = WIRE_ACK};
    c.u.ack.sequences = acks;
    c.u.ack.n_sequences = *n;
    if (cn->feed)
        snprintf(c.u.ack.subscription, sizeof c.u.ack.subscription, "%s", FEED_SUB);
    if (peerwire_send(cn->sock, 0, &c, NULL, 0) != 0)
        s_fail("%s: cannot send Ack: %s", cn->id, zmq_strerror(zmq_errno()));
    *n = 0;
}

/* Adds seq to the delivered set; false if it was there already. */
static bool s_seq_insert(s_consumer *cn, uint64_t seq)
{
    size_t i = (size_t)(seq * 0x9e3779b97f4a7c15ull) & cn->seq_mask;
    while (cn->seq_set[i]) {
        if (cn->seq_set[i] == seq)
            return false;
        i = (i + 1) & cn->seq_mask;
    }
    cn->seq_set[i] = seq;
    return true;
}

/* Records one Deliver: which message its envelope claims to be, and whether the bytes match. */
static void s_on_deliver(s_consumer *cn, uint64_t seq, zmq_msg_t *env, uint64_t now)
{
    s_run *r = cn->run;
    if (!s_seq_insert(cn, seq)) {
        cn->redeliveries++;
        return;
    }
    s_rec rec = {.seq = seq, .recv_ns = now, .idx_env = UINT32_MAX};
    if (env) {
        const uint8_t *data = zmq_msg_data(env);
        size_t len = zmq_msg_size(env);
        const uint8_t *id = s_envelope_id(data, len);
        size_t idx = id ? s_id_index(r, id) : SIZE_MAX;
        if (idx != SIZE_MAX) {
            rec.idx_env = (uint32_t)idx;
            rec.env_ok = len == r->msgs[idx].env_len && memcmp(data, r->msgs[idx].env, len) == 0;
        }
    }
    if (cn->n_recs == cn->cap_recs) { /* never: one record per message */
        s_fail("%s: more distinct sequences delivered than messages sent", cn->id);
        return;
    }
    cn->recs[cn->n_recs++] = rec;
    if (!cn->first_deliver_ns)
        cn->first_deliver_ns = now;
    cn->last_deliver_ns = now;
}

static void *s_consumer_thread(void *arg)
{
    s_consumer *cn = arg;
    s_run *r = cn->run;
    uint64_t acks[ACK_BATCH];
    size_t n_acks = 0;
    uint64_t ack_since = 0;
    while (!atomic_load(&r->go) && !atomic_load(&s_failed))
        s_sleep_ns(50000);
    uint64_t last_progress = s_now();
    zmq_pollitem_t it = {cn->sock, 0, ZMQ_POLLIN, 0};
    peerwire_reader rd = {0};
    while (!atomic_load(&s_failed)) {
        if (cn->n_recs + atomic_load(&r->rejected) >= r->total)
            break;
        int got = 0;
        for (; got < 512; got++) {
            peerwire_in in;
            if (!peerwire_read(cn->sock, &rd, &in)) {
                peerwire_in_clear(&in);
                break;
            }
            const wire_cmd *c = &in.cmd;
            uint64_t now = s_now();
            if (in.decode_rc != ASYLINK_OK) {
                s_fail("%s: undecodable command from the broker", cn->id);
            } else if (c->kind == WIRE_DELIVER) {
                s_on_deliver(cn, c->u.deliver.sequence, in.has_env ? &in.env : NULL, now);
                if (n_acks == 0)
                    ack_since = now;
                acks[n_acks++] = c->u.deliver.sequence;
                if (n_acks == ACK_BATCH)
                    s_flush_acks(cn, acks, &n_acks);
            } else if (c->kind == WIRE_ERROR || c->kind == WIRE_BYE) {
                if (c->kind == WIRE_BYE || c->u.error.fatal)
                    s_fail("%s: %s from the broker: %s: %s", cn->id, wire_kind_name(c->kind),
                           asylink_err_name(c->u.error.code), c->u.error.reason);
                else
                    fprintf(stderr, "bench_broker: %s: Error: %s: %s\n", cn->id,
                            asylink_err_name(c->u.error.code), c->u.error.reason);
            } else if (c->kind == WIRE_HEARTBEAT) {
                peerwire_pong(cn->sock, 0, c);
            }
            peerwire_in_clear(&in);
        }
        uint64_t now = s_now();
        if (n_acks && now - ack_since >= ACK_FLUSH_NS)
            s_flush_acks(cn, acks, &n_acks);
        if (got) {
            last_progress = now;
            if (r->rate == 0 && got < NAP_BELOW)
                s_sleep_ns(NAP_NS);
            continue;
        }
        if (now - last_progress > STALL_TIMEOUT_MS * 1000000ull) {
            s_fail("%s: no delivery for %d s (%zu of %zu received, %llu rejected)", cn->id,
                   STALL_TIMEOUT_MS / 1000, cn->n_recs, r->total,
                   (unsigned long long)atomic_load(&r->rejected));
            break;
        }
        long wait_ms = 100;
        if (n_acks) {
            uint64_t left = ack_since + ACK_FLUSH_NS - now;
            wait_ms = (long)(left / 1000000) + 1;
            if (wait_ms > 1)
                wait_ms = 1;
        }
        zmq_poll(&it, 1, wait_ms);
    }
    s_flush_acks(cn, acks, &n_acks);
    peerwire_reader_close(&rd);
    atomic_store(&cn->done, 1);
    return NULL;
}

/*
 * Opens cn's session and, for a feed reader, its durable subscription to
 * the run's topic (start NEW: only what is published from now on), waiting
 * for Subscribed. False (s_fail) on failure.
 */
static bool s_consumer_open(s_consumer *cn, const s_broker *b)
{
    s_run *r = cn->run;
    cn->sock =
        s_client_open(r->fed, b->endpoint, cn->keys, cn->id, CONSUMER_CREDIT, r->o->pack > 1);
    if (!cn->sock || !cn->feed)
        return cn->sock != NULL;
    wire_cmd c = {.kind = WIRE_SUBSCRIBE, .request_id = 2};
    snprintf(c.u.subscribe.topic_prefix, sizeof c.u.subscribe.topic_prefix, "%s", r->topic);
    snprintf(c.u.subscribe.subscription, sizeof c.u.subscribe.subscription, "%s", FEED_SUB);
    c.u.subscribe.start = 1; /* NEW */
    if (peerwire_send(cn->sock, 0, &c, NULL, 0) != 0) {
        s_fail("%s: cannot send Subscribe: %s", cn->id, zmq_strerror(zmq_errno()));
        return false;
    }
    peerwire_reader rd = {0};
    bool ok = false;
    for (uint64_t deadline = s_now() + HELLO_TIMEOUT_MS * 1000000ull;
         !ok && !atomic_load(&s_failed) && s_now() < deadline;) {
        peerwire_in in;
        if (!peerwire_read(cn->sock, &rd, &in)) {
            peerwire_in_clear(&in);
            zmq_pollitem_t it = {cn->sock, 0, ZMQ_POLLIN, 0};
            zmq_poll(&it, 1, 100);
            continue;
        }
        if (in.decode_rc != ASYLINK_OK)
            s_fail("%s: undecodable answer to Subscribe", cn->id);
        else if (in.cmd.kind == WIRE_SUBSCRIBED)
            ok = true;
        else if (in.cmd.kind == WIRE_ERROR || in.cmd.kind == WIRE_BYE)
            s_fail("%s: Subscribe %s answered with %s: %s", cn->id, r->topic,
                   asylink_err_name(in.cmd.u.error.code), in.cmd.u.error.reason);
        else if (in.cmd.kind == WIRE_HEARTBEAT)
            peerwire_pong(cn->sock, 0, &in.cmd);
        peerwire_in_clear(&in);
    }
    peerwire_reader_close(&rd);
    if (!ok && !atomic_load(&s_failed))
        s_fail("%s: no Subscribed within %d s", cn->id, HELLO_TIMEOUT_MS / 1000);
    return ok;
}

/* Opens cn and starts its thread (waiting for r->go); false (s_fail) on failure. */
static bool s_consumer_start(s_consumer *cn, const s_broker *b)
{
    if (!s_consumer_open(cn, b))
        return false;
    if (pthread_create(&cn->th, NULL, s_consumer_thread, cn) != 0)
        s_die("pthread_create: %s", strerror(errno));
    cn->started = true;
    return true;
}

/* ---- a workload ---- */

typedef struct {
    const char *name;
    size_t total;
    size_t n_prods;
    int n_prod_threads;
    uint32_t window;
    double rate;
    bool backlog;      /* w6: fill with the consumer offline, then drain */
    const char *topic; /* w4: published on this topic to FEED_READERS subscribers */
    size_t size;       /* payload bytes; 0 = --size */
} s_spec;

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v (n > 0), in ms. */
static double s_pct(const uint64_t *v, size_t n, double q)
{
    size_t k = (size_t)ceil(q * (double)n);
    if (k == 0)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1e6;
}

/* Deliveries matched to messages after the run. */
typedef struct {
    uint64_t *lat_ns; /* sorted send -> deliver latencies */
    size_t n_lat;
    uint64_t corrupt;   /* envelope is not the message the sequence names */
    uint64_t unmatched; /* sequence no Accepted named */
} s_match;

typedef struct {
    uint64_t seq;
    uint32_t idx;
} s_seq_idx;

static int s_cmp_seq(const void *a, const void *b)
{
    uint64_t x = ((const s_seq_idx *)a)->seq, y = ((const s_seq_idx *)b)->seq;
    return x < y ? -1 : x > y;
}

/*
 * Names the message of every delivery by its sequence (the store sequence
 * the producer's Accepted reported, which is also the Deliver sequence of a
 * direct or feed message) and checks the envelope bytes against it; the
 * latencies of every consumer together.
 */
static s_match s_match_run(s_run *r, FILE *log, uint64_t t0)
{
    s_match m = {0};
    size_t n_recs = 0;
    for (size_t c = 0; c < r->n_cons; c++)
        n_recs += r->cons[c].n_recs;
    s_seq_idx *map = calloc(r->total ? r->total : 1, sizeof *map);
    m.lat_ns = calloc(n_recs ? n_recs : 1, sizeof *m.lat_ns);
    if (!map || !m.lat_ns)
        s_die("out of memory");
    size_t n_map = 0;
    for (size_t i = 0; i < r->total; i++)
        if (r->acc_seq[i])
            map[n_map++] = (s_seq_idx){r->acc_seq[i], (uint32_t)i};
    qsort(map, n_map, sizeof *map, s_cmp_seq);
    for (size_t c = 0; c < r->n_cons; c++) {
        for (size_t k = 0; k < r->cons[c].n_recs; k++) {
            const s_rec *rec = &r->cons[c].recs[k];
            s_seq_idx key = {rec->seq, 0};
            const s_seq_idx *hit = bsearch(&key, map, n_map, sizeof *map, s_cmp_seq);
            uint32_t idx = UINT32_MAX;
            if (hit) {
                idx = hit->idx;
                if (!rec->env_ok || rec->idx_env != idx)
                    m.corrupt++;
            } else {
                m.unmatched++;
                idx = rec->env_ok ? rec->idx_env : UINT32_MAX;
            }
            if (idx == UINT32_MAX)
                continue;
            uint64_t sent = atomic_load(&r->sent_ns[idx]);
            if (!sent)
                continue;
            uint64_t lat = rec->recv_ns > sent ? rec->recv_ns - sent : 0;
            m.lat_ns[m.n_lat++] = lat;
            if (log)
                fprintf(log, "%s %u %.3f %.3f\n", r->name, idx,
                        sent > t0 ? (double)(sent - t0) / 1e6 : 0.0, (double)lat / 1e6);
        }
    }
    free(map);
    qsort(m.lat_ns, m.n_lat, sizeof *m.lat_ns, s_cmp_u64);
    return m;
}

/* Waits until done() holds, watching the broker; false (s_fail) if it died. */
static bool s_watch(s_run *r, s_broker *b, bool (*done)(s_run *))
{
    while (!done(r)) {
        int st = 0;
        if (!atomic_load(&s_failed) && s_broker_gone(b, &st)) {
            s_fail("asylinkd exited during workload %s (%s %d)", r->name,
                   WIFEXITED(st) ? "exit status" : "signal",
                   WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        }
        s_mem m = s_broker_mem(b); /* what the peak is made of: heap or mapped store */
        b->peak_anon = m.anon > b->peak_anon ? m.anon : b->peak_anon;
        b->peak_file = m.file > b->peak_file ? m.file : b->peak_file;
        s_sleep_ns(20000000);
    }
    return !atomic_load(&s_failed);
}

static bool s_prods_done(s_run *r)
{
    return atomic_load(&r->producers_done) >= r->n_prod_threads;
}

static bool s_all_done(s_run *r)
{
    if (!s_prods_done(r))
        return false;
    for (size_t c = 0; c < r->n_cons; c++)
        if (r->cons[c].started && !atomic_load(&r->cons[c].done))
            return false;
    return true;
}

/* Opens the producers' sessions and starts their threads (waiting for r->go). */
static void s_start_producers(s_run *r, const s_broker *b, pthread_t *th, s_prod_arg *args)
{
    for (size_t i = 0; i < r->n_prods && !atomic_load(&s_failed); i++) {
        s_producer *p = &r->prods[i];
        p->sock = s_client_open(r->fed, b->endpoint, r->fed->ms_keys[p->node], s_ms_ids[p->node], 0,
                                r->o->pack > 1);
    }
    if (atomic_load(&s_failed))
        return;
    for (int t = 0; t < r->n_prod_threads; t++) {
        args[t].r = r;
        args[t].n = 0;
        args[t].p = calloc(r->n_prods, sizeof *args[t].p);
        if (!args[t].p)
            s_die("out of memory");
        for (size_t i = (size_t)t; i < r->n_prods; i += (size_t)r->n_prod_threads)
            args[t].p[args[t].n++] = &r->prods[i];
        if (pthread_create(&th[t], NULL, s_producer_thread, &args[t]) != 0)
            s_die("pthread_create: %s", strerror(errno));
    }
}

static void s_fail_exit(s_run *r, s_broker *b, const s_fed *f, const s_opts *o)
{
    char how[128];
    fprintf(stderr, "bench_broker: workload %s FAILED: %s\n", r->name, s_fail_msg);
    for (size_t i = 0; i < r->n_prods; i++) {
        const s_producer *p = &r->prods[i];
        fprintf(stderr,
                "  producer %s: sent %zu of %zu, accepted %llu, rejected %llu, unanswered %u\n",
                s_ms_ids[p->node], p->next - p->start, p->end - p->start,
                (unsigned long long)p->accepted, (unsigned long long)p->rejected, p->inflight);
    }
    for (size_t c = 0; c < r->n_cons; c++)
        if (r->cons[c].sock)
            fprintf(stderr, "  consumer %s: received %zu of %zu (redelivered %llu)\n",
                    r->cons[c].id, r->cons[c].n_recs, r->total,
                    (unsigned long long)r->cons[c].redeliveries);
    s_broker_log_tail(b);
    s_broker_stop(b, how, sizeof how);
    fprintf(stderr, "bench_broker: asylinkd stopped (%s); files kept in %s\n", how, f->dir);
    (void)o;
    _exit(1); /* threads may still be blocked in libzmq */
}

static int s_run_workload(const s_opts *o, const s_fed *f, const s_spec *sp)
{
    s_run r = {.o = o,
               .fed = f,
               .name = sp->name,
               .topic = sp->topic,
               .size = sp->size ? sp->size : o->size,
               .total = sp->total,
               .window = sp->window,
               .rate = sp->rate,
               .n_prods = sp->n_prods,
               .n_prod_threads = sp->n_prod_threads};
    randombytes_buf(r.tag, sizeof r.tag);
    r.msgs = calloc(r.total, sizeof *r.msgs);
    r.sent_ns = calloc(r.total, sizeof *r.sent_ns);
    r.acc_seq = calloc(r.total, sizeof *r.acc_seq);
    r.n_cons = sp->topic ? FEED_READERS : 1;
    r.cons = calloc(r.n_cons, sizeof *r.cons);
    r.prods = calloc(r.n_prods, sizeof *r.prods);
    pthread_t *th = calloc((size_t)r.n_prod_threads, sizeof *th);
    s_prod_arg *args = calloc((size_t)r.n_prod_threads, sizeof *args);
    if (!r.msgs || !r.sent_ns || !r.acc_seq || !r.cons || !r.prods || !th || !args)
        s_die("out of memory for %zu messages", r.total);
    size_t slots = 1024;
    while (slots < 2 * r.total)
        slots *= 2;
    for (size_t c = 0; c < r.n_cons; c++) {
        s_consumer *cn = &r.cons[c];
        /* direct: EUAA; a feed: EUAA and Member States after the publisher (AT) */
        *cn = (s_consumer){.run = &r,
                           .id = c == 0 ? CONSUMER_ID : s_ms_ids[c],
                           .keys = c == 0 ? f->euaa_keys : f->ms_keys[c],
                           .feed = sp->topic != NULL,
                           .cap_recs = r.total,
                           .seq_mask = slots - 1};
        cn->recs = calloc(r.total, sizeof *cn->recs);
        cn->seq_set = calloc(slots, sizeof *cn->seq_set);
        if (!cn->recs || !cn->seq_set)
            s_die("out of memory for %zu messages", r.total);
    }
    size_t per = r.total / r.n_prods, extra = r.total % r.n_prods, at = 0;
    for (size_t i = 0; i < r.n_prods; i++) {
        size_t n = per + (i < extra);
        r.prods[i] =
            (s_producer){.run = &r, .node = (int)i, .start = at, .end = at + n, .next = at};
        at += n;
    }
    s_seal_all(&r);

    s_broker b;
    s_broker_start(f, o, sp->name, &b);
    fprintf(stderr, "bench_broker: %s: asylinkd pid %d at %s\n", sp->name, (int)b.pid, b.endpoint);
    double cpu0 = s_broker_cpu(&b), self0 = s_self_cpu();
    uint64_t fill_ns = 0, drain_t0 = 0;
    s_mem after_fill = {0};
    uint64_t disk_after_fill = 0;

    for (size_t c = 0; !sp->backlog && c < r.n_cons; c++)
        if (!s_consumer_start(&r.cons[c], &b))
            break;
    if (!atomic_load(&s_failed))
        s_start_producers(&r, &b, th, args);
    if (atomic_load(&s_failed))
        s_fail_exit(&r, &b, f, o);
    r.t0_ns = s_now();
    atomic_store(&r.go, 1);
    if (!s_watch(&r, &b, sp->backlog ? s_prods_done : s_all_done))
        s_fail_exit(&r, &b, f, o);
    for (int t = 0; t < r.n_prod_threads; t++) {
        pthread_join(th[t], NULL);
        free(args[t].p);
    }
    if (sp->backlog) {
        /* Everything is Accepted and queued for an offline EUAA: memory and disk now. */
        uint64_t first = UINT64_MAX, last = 0;
        for (size_t i = 0; i < r.n_prods; i++) {
            if (r.prods[i].first_send_ns && r.prods[i].first_send_ns < first)
                first = r.prods[i].first_send_ns;
        }
        last = s_now();
        fill_ns = last - first;
        s_sleep_ns(1500000000); /* let a metrics / sweep turn pass */
        after_fill = s_broker_mem(&b);
        disk_after_fill = s_dir_kib(b.data_dir);
        fprintf(stderr,
                "bench_broker: %s: %zu queued in %.1f s; broker rss=%llu KiB "
                "(anon %llu, file %llu), hwm=%llu KiB, store on disk %llu KiB\n",
                sp->name, r.total, (double)fill_ns / 1e9, (unsigned long long)after_fill.rss,
                (unsigned long long)after_fill.anon, (unsigned long long)after_fill.file,
                (unsigned long long)after_fill.hwm, (unsigned long long)disk_after_fill);
        drain_t0 = s_now();
        if (!s_consumer_start(&r.cons[0], &b))
            s_fail_exit(&r, &b, f, o);
        if (!s_watch(&r, &b, s_all_done))
            s_fail_exit(&r, &b, f, o);
    }
    for (size_t c = 0; c < r.n_cons; c++)
        if (r.cons[c].started)
            pthread_join(r.cons[c].th, NULL);

    double broker_cpu = s_broker_cpu(&b) - cpu0, self_cpu = s_self_cpu() - self0;
    s_mem mem = s_broker_mem(&b);
    for (size_t i = 0; i < r.n_prods; i++) {
        s_client_close(r.prods[i].sock);
        peerwire_reader_close(&r.prods[i].rd);
        wire_packer_free(&r.prods[i].pk);
    }
    for (size_t c = 0; c < r.n_cons; c++)
        s_client_close(r.cons[c].sock);
    char how[128];
    s_broker_stop(&b, how, sizeof how);

    uint64_t first = UINT64_MAX, rejected = 0, dups = 0;
    for (size_t i = 0; i < r.n_prods; i++) {
        if (r.prods[i].first_send_ns && r.prods[i].first_send_ns < first)
            first = r.prods[i].first_send_ns;
        rejected += r.prods[i].rejected;
        dups += r.prods[i].duplicates;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int vt = o->verify_threads > 0 ? o->verify_threads : (int)(ncpu > 0 ? ncpu : 1);
    FILE *log = NULL;
    if (o->latency_log && !(log = fopen(o->latency_log, "a")))
        s_die("--latency-log %s: %s", o->latency_log, strerror(errno));
    s_match m = s_match_run(&r, log, first);
    if (log)
        fclose(log);
    /* distinct messages every consumer got; their deliveries; latencies known */
    size_t n = SIZE_MAX, deliveries = 0, nl = m.n_lat;
    uint64_t last_deliver = 0, redeliveries = 0;
    for (size_t c = 0; c < r.n_cons; c++) {
        const s_consumer *cn = &r.cons[c];
        n = cn->n_recs < n ? cn->n_recs : n;
        deliveries += cn->n_recs;
        redeliveries += cn->redeliveries;
        last_deliver = cn->last_deliver_ns > last_deliver ? cn->last_deliver_ns : last_deliver;
    }
    uint64_t *lat = m.lat_ns;
    if (!sp->backlog) {
        double secs = n && last_deliver > first ? (double)(last_deliver - first) / 1e9 : 0;
        printf("workload=%s msgs=%zu size=%zu msgs_per_s=%.0f MB_per_s=%.2f p50_ms=%.3f "
               "p99_ms=%.3f p99.9_ms=%.3f broker_peak_rss_kib=%llu verify_threads=%d "
               "durability=%s producers=%zu window=%u",
               sp->name, n, r.size, secs > 0 ? (double)n / secs : 0,
               secs > 0 ? (double)n * (double)r.size / secs / 1e6 : 0,
               nl ? s_pct(lat, nl, 0.50) : 0, nl ? s_pct(lat, nl, 0.99) : 0,
               nl ? s_pct(lat, nl, 0.999) : 0, (unsigned long long)mem.hwm, vt, o->durability,
               r.n_prods, r.window);
        if (sp->topic) /* every subscriber got every message: n each */
            printf(" topic=%s subscribers=%zu deliveries=%zu deliveries_per_s=%.0f", sp->topic,
                   r.n_cons, deliveries, secs > 0 ? (double)deliveries / secs : 0);
        if (sp->rate > 0)
            printf(" offered_per_s=%.0f", sp->rate);
        printf(" broker_peak_anon_kib=%llu broker_peak_file_kib=%llu",
               (unsigned long long)b.peak_anon, (unsigned long long)b.peak_file);
        printf(" seconds=%.2f broker_cpu_s=%.2f bench_cpu_s=%.2f batch=%zu pack=%zu", secs,
               broker_cpu, self_cpu, o->batch, o->pack);
        double base = yardstick_print_base(o->verify_per_s); /* the ratios' verify rate */
        if (secs > 0 && base > 0)
            printf(" x_verify_rate=%.2f", (double)n / secs / base);
        /* What the machine's cores would carry if they served only this run (broker and
           clients together): the figure other work on a shared machine does not move. */
        double cpu = broker_cpu + self_cpu;
        if (n && cpu > 0) {
            double bound = (double)ncpu * (double)n / cpu;
            printf(" cpu_us_per_msg=%.1f cpu_bound_msgs_per_s=%.0f", cpu * 1e6 / (double)n, bound);
            if (base > 0)
                printf(" cpu_bound_x_verify_rate=%.2f", bound / base);
        }
    } else {
        double drain = n && last_deliver > drain_t0 ? (double)(last_deliver - drain_t0) / 1e9 : 0;
        printf("workload=%s msgs=%zu size=%zu fill_msgs_per_s=%.0f drain_msgs_per_s=%.0f "
               "drain_MB_per_s=%.2f broker_rss_after_fill_kib=%llu broker_anon_after_fill_kib=%llu "
               "store_disk_after_fill_kib=%llu broker_peak_rss_kib=%llu verify_threads=%d "
               "durability=%s producers=%zu window=%u broker_cpu_s=%.2f",
               sp->name, n, r.size, fill_ns ? (double)r.total / ((double)fill_ns / 1e9) : 0,
               drain > 0 ? (double)n / drain : 0,
               drain > 0 ? (double)n * (double)r.size / drain / 1e6 : 0,
               (unsigned long long)after_fill.rss, (unsigned long long)after_fill.anon,
               (unsigned long long)disk_after_fill, (unsigned long long)mem.hwm, vt, o->durability,
               r.n_prods, r.window, broker_cpu);
    }
    printf(" audit=%s load1=%.2f", o->audit, s_loadavg());
    if (rejected)
        printf(" rejected=%llu", (unsigned long long)rejected);
    if (dups)
        printf(" duplicates=%llu", (unsigned long long)dups);
    if (redeliveries)
        printf(" redeliveries=%llu", (unsigned long long)redeliveries);
    if (m.corrupt)
        printf(" corrupt_deliveries=%llu", (unsigned long long)m.corrupt);
    if (m.unmatched)
        printf(" unmatched_deliveries=%llu", (unsigned long long)m.unmatched);
    printf("\n");
    fflush(stdout);
    fprintf(stderr, "bench_broker: %s: asylinkd stopped (%s)\n", sp->name, how);

    s_msgs_free(&r);
    free((void *)r.sent_ns);
    free(m.lat_ns);
    free(r.acc_seq);
    for (size_t c = 0; c < r.n_cons; c++) {
        free(r.cons[c].recs);
        free(r.cons[c].seq_set);
    }
    free(r.cons);
    free(r.prods);
    free(th);
    free(args);
    if (m.corrupt)
        fprintf(stderr,
                "bench_broker: %s: %llu deliveries carried an envelope other than the "
                "message their sequence names (the broker sent wrong bytes)\n",
                sp->name, (unsigned long long)m.corrupt);
    return rejected || m.corrupt || m.unmatched ? 1 : 0;
}

int main(int argc, char **argv)
{
    s_opts o;
    s_parse(argc, argv, &o);
    if (sodium_init() < 0)
        s_die("sodium_init failed");
    signal(SIGPIPE, SIG_IGN);
    enum { N_WORKLOADS = 7 };
    const char *names[N_WORKLOADS] = {"w1", "w2", "w3", "capacity", "w4", "w5", "w6"};
    bool want[N_WORKLOADS] = {0};
    if (strcmp(o.workload, "all") == 0) {
        for (int i = 0; i < 6; i++) /* w6 only when named */
            want[i] = true;
    } else {
        bool found = false;
        for (int i = 0; i < N_WORKLOADS; i++)
            if (strcmp(o.workload, names[i]) == 0)
                want[i] = found = true;
        if (!found)
            s_bad_usage("--workload: expected w1, w2, w3, capacity, w4, w5, w6 or all, got "
                        "\"%s\"",
                        o.workload);
    }
    s_ctx = zmq_ctx_new();
    if (!s_ctx)
        s_die("zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
    s_fed f;
    memset(&f, 0, sizeof f);
    s_fed_init(&f, &o);
    fprintf(stderr, "bench_broker: federation in %s (%d CPUs, asylink %s, libzmq %d.%d.%d)\n",
            f.dir, (int)sysconf(_SC_NPROCESSORS_ONLN), asylink_version(), ZMQ_VERSION_MAJOR,
            ZMQ_VERSION_MINOR, ZMQ_VERSION_PATCH);
    o.verify_per_s = yardstick_measure(f.dir).verify_per_s;

    size_t base = o.messages > 0 ? (size_t)o.messages : 100000;
    s_spec specs[N_WORKLOADS] = {
        {.name = "w1", .total = base, .n_prods = 1, .n_prod_threads = 1, .window = o.window},
        {.name = "w2",
         .total = (size_t)(o.rate * o.seconds),
         .n_prods = 1,
         .n_prod_threads = 1,
         .window = o.window,
         .rate = o.rate},
        /* 27 producers share W1's total window, so the broker sees the same load. */
        {.name = "w3",
         .total = base,
         .n_prods = N_MS,
         .n_prod_threads = 1,
         .window = (o.window + N_MS - 1) / N_MS},
        {.name = "capacity",
         .total = base,
         .n_prods = (size_t)o.producers,
         .n_prod_threads = o.producers,
         .window = o.window},
        /* One Member State publishes its monthly figures; ten nodes read the feed. */
        {.name = "w4",
         .total = base,
         .n_prods = 1,
         .n_prod_threads = 1,
         .window = o.window,
         .topic = "stats.monthly.AT"},
        {.name = "w5",
         .total = o.messages > 0 ? (size_t)o.messages : LARGE_MESSAGES,
         .n_prods = 1,
         .n_prod_threads = 1,
         .window = o.window,
         .size = LARGE_SIZE},
        {.name = "w6",
         .total = o.messages > 0 ? (size_t)o.messages : 1000000,
         .n_prods = 2,
         .n_prod_threads = 2,
         .window = o.window,
         .backlog = true},
    };
    int code = 0;
    for (int i = 0; i < N_WORKLOADS; i++) {
        if (!want[i])
            continue;
        if (specs[i].total < specs[i].n_prods)
            specs[i].total = specs[i].n_prods;
        if (specs[i].total > 0xffffffffu)
            s_die("too many messages");
        /* Every envelope is sealed in advance and kept: refuse what cannot fit. */
        size_t size = specs[i].size ? specs[i].size : o.size;
        double need = (double)specs[i].total * ((double)size + 600.0);
        double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
        if (phys > 0 && need > 0.6 * phys)
            s_die("%s: %zu pre-sealed envelopes of %zu bytes need about %.0f MiB, more than "
                  "60%% of this machine's memory; use fewer --messages or a smaller --size",
                  specs[i].name, specs[i].total, size, need / 1048576.0);
        code |= s_run_workload(&o, &f, &specs[i]);
    }
    zmq_ctx_term(s_ctx);
    if (o.keep)
        fprintf(stderr, "bench_broker: kept %s\n", f.dir);
    s_fed_free(&f);
    return code;
}
