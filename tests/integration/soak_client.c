/*
 * soak_client.c — the application side of the crash soak (scripts/soak.sh)
 * and of the disk-full test: a node program on the public libasylink API
 * that writes down, line by line, what the library told it, so that a
 * checker can prove afterwards that nothing was lost or doubled even though
 * this process (and the broker) were killed with SIGKILL at random points.
 *
 * Every log line is one write(2) to a file opened O_APPEND: a line that was
 * written survives a SIGKILL of this process (it is in the page cache).
 *
 *   soak_client --config NODE.ini produce --to FR[,EUAA] --tag TAG --log F
 *               [--rate N] [--batch-max N] [--min-size B] [--max-size B] [--count N]
 *       sends until SIGTERM (or --count messages): mostly asylink_send(),
 *       every fourth call asylink_send_many() of 2..batch-max. Logs
 *         start PID            when SIGTERM is handled (every mode with --log)
 *         try TAG SEQ K        before the call that sends SEQ..SEQ+K-1
 *         ok TAG SEQ ID        after it returned ASYLINK_OK, one per message
 *         err TAG SEQ K CODE   after it failed (nothing of it was sent)
 *       The payload is "soak TAG SEQ LEN " and filler derived from TAG and
 *       SEQ, so the receiver can check every byte.
 *       --until-error: stop at the first failed send (exit 0), for the
 *       disk-full test: prints "send_error=CODE".
 *   soak_client --config NODE.ini consume --log F [--ack-batch-max N]
 *               [--count N] [--idle-exit MS] [--no-ack]
 *       receives until SIGTERM (or N messages, or MS without one), acks
 *       with asylink_ack() or asylink_ack_many() (random batches; never
 *       with --no-ack). Logs
 *         start PID            when it begins
 *         got ID SENDER TAG SEQ OK|BAD    when asylink_recv() handed it over
 *         ackb ID              just before the ack call covering it
 *         ack ID               after that call returned ASYLINK_OK
 *         ackerr ID CODE       after it failed
 *   soak_client --config NODE.ini flush
 *       waits until the outbox is empty (everything Accepted or Rejected).
 *   soak_client --config NODE.ini receipts --ids F --recipients N
 *       waits for N receipts for every message id in F (one per line) and
 *       prints "receipts_ok=A receipts_missing=M"; exit 0 when M is 0.
 *
 * --timeout S bounds every mode (default 3600). Exit 0 when the mode's
 * expectation holds, 1 otherwise, 2 for a usage error.
 */
#include "asylink/asylink.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "uuid.h"

#define S_MAX_TO 16
#define S_MAX_BATCH 64
#define S_HEAD_MAX 96

typedef struct {
    const char *config, *mode, *to, *tag, *log, *ids;
    long rate, batch_max, min_size, max_size, count, ack_batch_max, idle_exit_ms, recipients;
    long timeout_s;
    int until_error, no_ack;
} s_args;

static volatile sig_atomic_t s_stop;
static int s_log_fd = -1;
static uint64_t s_rng;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_lib_log(void *ctx, asylink_log_level level, const char *line)
{
    (void)ctx;
    if (level <= ASYLINK_LOG_WARN)
        fprintf(stderr, "%s\n", line);
}

/* One log line, one write(2): it survives a SIGKILL once written. */
__attribute__((format(printf, 1, 2))) static void s_logf(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || s_log_fd < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(s_log_fd, line + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            perror("soak_client: log");
            exit(1);
        }
        off += w;
    }
}

static uint32_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t)(s_rng >> 16);
}

static void s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !s_stop) {
    }
}

static const char *s_id(const uint8_t id[16], char buf[UUID_STR_LEN])
{
    return uuid_format(id, buf, UUID_STR_LEN);
}

/* The filler byte i of message (tag, seq). */
static uint8_t s_fill(uint32_t tag_hash, long seq, size_t i)
{
    return (uint8_t)('a' + (tag_hash + (uint32_t)seq * 7u + (uint32_t)i * 13u) % 26u);
}

static uint32_t s_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* Writes the payload of (tag, seq) of total length len (>= its header) into buf. */
static size_t s_payload(const char *tag, long seq, size_t len, uint8_t *buf)
{
    char head[S_HEAD_MAX];
    int n = snprintf(head, sizeof head, "soak %s %ld %zu ", tag, seq, len);
    size_t h = (size_t)n;
    if (len < h)
        len = h;
    memcpy(buf, head, h);
    uint32_t th = s_hash(tag);
    for (size_t i = h; i < len; i++)
        buf[i] = s_fill(th, seq, i);
    return len;
}

/*
 * Checks a received payload: "soak TAG SEQ LEN " then the filler, LEN bytes
 * in all. Fills tag and *seq; returns 1 when every byte is as sent.
 */
static int s_payload_check(const uint8_t *p, size_t len, char *tag, size_t tag_len, long *seq)
{
    char head[S_HEAD_MAX + 1];
    size_t h = len < S_HEAD_MAX ? len : S_HEAD_MAX;
    memcpy(head, p, h);
    head[h] = 0;
    char t[65];
    long sq = -1;
    size_t total = 0;
    int used = 0;
    snprintf(tag, tag_len, "-");
    *seq = -1;
    if (sscanf(head, "soak %64s %ld %zu %n", t, &sq, &total, &used) != 3 || used <= 0)
        return 0;
    snprintf(tag, tag_len, "%s", t);
    *seq = sq;
    if (total != len)
        return 0;
    uint32_t th = s_hash(t);
    for (size_t i = (size_t)used; i < len; i++)
        if (p[i] != s_fill(th, sq, i))
            return 0;
    return 1;
}

/* ---- produce ---- */

static int s_mode_produce(asylink_client *c, const s_args *a)
{
    const char *to[S_MAX_TO];
    char list[1024];
    size_t n_to = 0;
    snprintf(list, sizeof list, "%s", a->to);
    for (char *p = list; p && *p && n_to < S_MAX_TO;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        to[n_to++] = p;
        p = comma ? comma + 1 : NULL;
    }
    asylink_send_params sp;
    asylink_send_params_init(&sp);
    sp.recipients = to;
    sp.n_recipients = n_to;
    sp.content_type = "asylink.test.Soak";
    sp.classification = ASYLINK_PERSONAL;
    size_t max_size = a->max_size > S_HEAD_MAX ? (size_t)a->max_size : S_HEAD_MAX;
    size_t min_size = a->min_size > S_HEAD_MAX / 2 ? (size_t)a->min_size : S_HEAD_MAX / 2;
    min_size = min_size > max_size ? max_size : min_size;
    size_t batch_max = a->batch_max < 1             ? 1
                       : a->batch_max > S_MAX_BATCH ? S_MAX_BATCH
                                                    : (size_t)a->batch_max;
    uint8_t *buf = malloc(batch_max * max_size);
    asylink_send_item items[S_MAX_BATCH];
    if (!buf)
        return 1;
    uint64_t t0 = clock_now_ms(), deadline = t0 + (uint64_t)a->timeout_s * 1000;
    long seq = 0, sent = 0, errors = 0, calls = 0;
    int last_err = ASYLINK_OK;
    while (!s_stop && clock_now_ms() < deadline && (a->count <= 0 || seq < a->count)) {
        size_t k = batch_max > 1 && calls % 4 == 3 ? 2 + s_rand() % (batch_max - 1) : 1;
        if (a->count > 0 && (long)k > a->count - seq)
            k = (size_t)(a->count - seq);
        for (size_t i = 0; i < k; i++) {
            size_t len = min_size + s_rand() % (max_size - min_size + 1);
            len = s_payload(a->tag, seq + (long)i, len, buf + i * max_size);
            items[i] =
                (asylink_send_item){.params = &sp, .payload = buf + i * max_size, .len = len};
        }
        s_logf("try %s %ld %zu", a->tag, seq, k);
        int rc = k == 1 ? asylink_send(c, &sp, items[0].payload, items[0].len, items[0].message_id)
                        : asylink_send_many(c, items, k);
        calls++;
        if (rc == ASYLINK_OK) {
            char idb[UUID_STR_LEN];
            for (size_t i = 0; i < k; i++)
                s_logf("ok %s %ld %s", a->tag, seq + (long)i, s_id(items[i].message_id, idb));
            sent += (long)k;
        } else {
            s_logf("err %s %ld %zu %s", a->tag, seq, k, asylink_err_name(rc));
            errors++;
            last_err = rc;
            if (a->until_error)
                break;
        }
        seq += (long)k;
        if (a->rate > 0) { /* keep to the rate: sleep until seq messages are due */
            uint64_t due = t0 + (uint64_t)seq * 1000 / (uint64_t)a->rate, now = clock_now_ms();
            if (due > now)
                s_sleep_ms((long)(due - now));
        }
    }
    free(buf);
    printf("sent=%ld errors=%ld\n", sent, errors);
    if (a->until_error) {
        printf("send_error=%s\n", asylink_err_name(last_err));
        return last_err != ASYLINK_OK ? 0 : 1;
    }
    return errors == 0 ? 0 : 1;
}

/* ---- consume ---- */

typedef struct {
    uint8_t ids[S_MAX_BATCH][16];
    size_t n, target;
} s_acks;

/* Acknowledges the batch; logs before and after. Returns the ack's code. */
static int s_ack_flush(asylink_client *c, s_acks *b, long max)
{
    char idb[UUID_STR_LEN];
    if (b->n == 0)
        return ASYLINK_OK;
    for (size_t i = 0; i < b->n; i++)
        s_logf("ackb %s", s_id(b->ids[i], idb));
    int rc = b->n == 1 ? asylink_ack(c, b->ids[0])
                       : asylink_ack_many(c, (const uint8_t(*)[16])b->ids, b->n);
    for (size_t i = 0; i < b->n; i++) {
        if (rc == ASYLINK_OK)
            s_logf("ack %s", s_id(b->ids[i], idb));
        else
            s_logf("ackerr %s %s", s_id(b->ids[i], idb), asylink_err_name(rc));
    }
    b->n = 0;
    b->target = max > 1 ? 1 + s_rand() % (size_t)max : 1;
    return rc;
}

static int s_mode_consume(asylink_client *c, const s_args *a)
{
    long max = a->ack_batch_max < 1             ? 1
               : a->ack_batch_max > S_MAX_BATCH ? S_MAX_BATCH
                                                : a->ack_batch_max;
    s_acks b = {.n = 0, .target = 1};
    uint64_t deadline = clock_now_ms() + (uint64_t)a->timeout_s * 1000;
    uint64_t last = clock_now_ms();
    long got = 0, bad = 0, ack_errors = 0;
    while (!s_stop && clock_now_ms() < deadline && (a->count <= 0 || got < a->count)) {
        asylink_message *m = NULL;
        int rc = asylink_recv(c, 100, &m);
        if (rc == ASYLINK_E_TIMEOUT) {
            if (s_ack_flush(c, &b, max) != ASYLINK_OK)
                ack_errors++;
            if (a->idle_exit_ms > 0 && clock_now_ms() - last >= (uint64_t)a->idle_exit_ms)
                break;
            continue;
        }
        if (rc != ASYLINK_OK) {
            fprintf(stderr, "soak_client: recv: %s\n", asylink_err_name(rc));
            if (rc == ASYLINK_E_SHUTDOWN)
                break;
            s_sleep_ms(100);
            continue;
        }
        last = clock_now_ms();
        size_t len = 0;
        const uint8_t *p = asylink_message_payload(m, &len);
        char tag[65], idb[UUID_STR_LEN];
        long seq = -1;
        int ok = p && s_payload_check(p, len, tag, sizeof tag, &seq);
        bad += !ok;
        got++;
        s_logf("got %s %s %s %ld %s", s_id(asylink_message_id(m), idb), asylink_message_sender(m),
               tag, seq, ok ? "OK" : "BAD");
        if (!a->no_ack)
            memcpy(b.ids[b.n++], asylink_message_id(m), 16);
        asylink_message_free(&m);
        if (b.n >= b.target && s_ack_flush(c, &b, max) != ASYLINK_OK)
            ack_errors++;
    }
    if (s_ack_flush(c, &b, max) != ASYLINK_OK)
        ack_errors++;
    printf("received=%ld bad=%ld ack_errors=%ld\n", got, bad, ack_errors);
    return bad == 0 && ack_errors == 0 ? 0 : 1;
}

/* ---- flush, receipts ---- */

static int s_mode_flush(asylink_client *c, const s_args *a)
{
    uint64_t deadline = clock_now_ms() + (uint64_t)a->timeout_s * 1000, pending = 1;
    while (clock_now_ms() < deadline && !s_stop) {
        if (asylink_outbox_pending(c, &pending) == ASYLINK_OK && pending == 0) {
            printf("pending=0\n");
            return 0;
        }
        s_sleep_ms(20);
    }
    printf("pending=%llu\n", (unsigned long long)pending);
    return 1;
}

static int s_mode_receipts(asylink_client *c, const s_args *a)
{
    FILE *f = fopen(a->ids, "r");
    if (!f) {
        perror("soak_client: ids");
        return 1;
    }
    uint64_t deadline = clock_now_ms() + (uint64_t)a->timeout_s * 1000;
    long ok = 0, missing = 0;
    char line[128];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        uint8_t id[16];
        if (!line[0])
            continue;
        if (uuid_parse(line, id) != 0) {
            fprintf(stderr, "soak_client: not a message id: %s\n", line);
            missing++;
            continue;
        }
        uint64_t now = clock_now_ms();
        int left = now < deadline ? (int)(deadline - now) : 0;
        int rc = asylink_receipt_wait(c, id, left);
        asylink_receipt_info info[S_MAX_TO];
        size_t n = 0;
        if (rc == ASYLINK_OK)
            rc = asylink_receipts(c, id, info, S_MAX_TO, &n);
        if (rc == ASYLINK_OK && (long)n == a->recipients) {
            ok++;
        } else {
            if (missing++ < 10)
                fprintf(stderr, "soak_client: %s: %s, %zu receipt(s)\n", line, asylink_err_name(rc),
                        n);
        }
    }
    fclose(f);
    printf("receipts_ok=%ld receipts_missing=%ld\n", ok, missing);
    return missing == 0 ? 0 : 1;
}

static int s_parse(int argc, char **argv, s_args *a)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"to", required_argument, NULL, 't'},
                                         {"tag", required_argument, NULL, 'g'},
                                         {"log", required_argument, NULL, 'l'},
                                         {"ids", required_argument, NULL, 'i'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"batch-max", required_argument, NULL, 'b'},
                                         {"max-size", required_argument, NULL, 's'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"ack-batch-max", required_argument, NULL, 'a'},
                                         {"idle-exit", required_argument, NULL, 'e'},
                                         {"recipients", required_argument, NULL, 'R'},
                                         {"timeout", required_argument, NULL, 'o'},
                                         {"until-error", no_argument, NULL, 'u'},
                                         {"min-size", required_argument, NULL, 'm'},
                                         {"no-ack", no_argument, NULL, 'A'},
                                         {NULL, 0, NULL, 0}};
    a->rate = 100;
    a->batch_max = 8;
    a->max_size = 2048;
    a->ack_batch_max = 8;
    a->recipients = 1;
    a->timeout_s = 3600;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': a->config = optarg; break;
        case 't': a->to = optarg; break;
        case 'g': a->tag = optarg; break;
        case 'l': a->log = optarg; break;
        case 'i': a->ids = optarg; break;
        case 'r': a->rate = strtol(optarg, NULL, 10); break;
        case 'b': a->batch_max = strtol(optarg, NULL, 10); break;
        case 's': a->max_size = strtol(optarg, NULL, 10); break;
        case 'n': a->count = strtol(optarg, NULL, 10); break;
        case 'a': a->ack_batch_max = strtol(optarg, NULL, 10); break;
        case 'e': a->idle_exit_ms = strtol(optarg, NULL, 10); break;
        case 'R': a->recipients = strtol(optarg, NULL, 10); break;
        case 'o': a->timeout_s = strtol(optarg, NULL, 10); break;
        case 'u': a->until_error = 1; break;
        case 'm': a->min_size = strtol(optarg, NULL, 10); break;
        case 'A': a->no_ack = 1; break;
        default: return -1;
        }
    }
    if (optind != argc - 1 || !a->config || a->timeout_s <= 0 || a->max_size > (1 << 20))
        return -1;
    a->mode = argv[optind];
    if (strcmp(a->mode, "produce") == 0)
        return a->to && a->tag && a->log && strlen(a->tag) <= 64 ? 0 : -1;
    if (strcmp(a->mode, "consume") == 0)
        return a->log ? 0 : -1;
    if (strcmp(a->mode, "receipts") == 0)
        return a->ids && a->recipients > 0 && a->recipients <= S_MAX_TO ? 0 : -1;
    return strcmp(a->mode, "flush") == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    s_args a = {0};
    if (s_parse(argc, argv, &a) != 0) {
        fprintf(stderr, "usage: soak_client --config NODE.ini produce|consume|flush|receipts "
                        "[options] (see the top of soak_client.c)\n");
        return 2;
    }
    s_rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^ clock_now_ms();
    if (!s_rng)
        s_rng = 1;
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (a.log && (s_log_fd = open(a.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        perror("soak_client: log");
        return 1;
    }
    s_logf("start %ld", (long)getpid()); /* SIGTERM is handled from here on */
    asylink_client *c = NULL;
    int rc = asylink_client_open_config(a.config, s_lib_log, NULL, &c);
    if (rc != ASYLINK_OK) {
        fprintf(stderr, "soak_client: open: %s (%s)\n", asylink_err_name(rc), asylink_strerror(rc));
        printf("open_error=%s\n", asylink_err_name(rc));
        return 1;
    }
    int code;
    if (strcmp(a.mode, "produce") == 0)
        code = s_mode_produce(c, &a);
    else if (strcmp(a.mode, "consume") == 0)
        code = s_mode_consume(c, &a);
    else if (strcmp(a.mode, "flush") == 0)
        code = s_mode_flush(c, &a);
    else
        code = s_mode_receipts(c, &a);
    asylink_client_close(&c);
    if (s_log_fd >= 0)
        close(s_log_fd);
    return code;
}
