/*
 * failover_client.c — a producer or consumer node built on the public
 * libasylink API only, for the broker failover test (07-broker-failover):
 * it runs until SIGTERM while the test kills brokers under it, and records
 * what the test checks afterwards.
 *
 *   failover_client --config NODE.ini produce --to FR --ids-out F --events-out E
 *                   [--pause-ms MS] [--timeout S]
 *       sends PERSONAL messages to FR without pause (or MS between sends);
 *       writes the id of every message whose asylink_send() returned OK
 *       to F, and one line per event to E:
 *           MS accepted ENDPOINT [duplicate]
 *           MS connected ENDPOINT
 *           MS disconnected ENDPOINT
 *       (MS = Unix ms when the event was taken, ENDPOINT = the broker address
 *       of the session it came through). On SIGTERM it stops sending, waits
 *       (up to 60 s) for the outbox to empty and prints
 *           sent=N failures=N accepted=N duplicates=N rejected=N pending=N
 *   failover_client --config NODE.ini consume --ids-out F [--timeout S]
 *       receives and acknowledges every message, writing each id handed
 *       over by asylink_recv() to F; on SIGTERM prints received=N.
 *
 * --timeout (default 600 s) bounds the whole run. Exit 0 when the run was
 * clean (for produce: nothing failed, rejected or left pending).
 */
#include "asylink/asylink.h"

#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "uuid.h"

#define DRAIN_TIMEOUT_MS 60000

typedef struct {
    const char *config, *mode, *to, *ids_out, *events_out;
    long pause_ms, timeout_s;
} s_args;

static volatile sig_atomic_t s_stop;
static asylink_client *s_client;

/* What the event thread counted. */
static atomic_long s_accepted, s_duplicates, s_rejected;
static atomic_bool s_events_done;

static void s_on_term(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_log(void *ctx, asylink_log_level level, const char *line)
{
    (void)ctx;
    if (level <= ASYLINK_LOG_WARN)
        fprintf(stderr, "%s\n", line);
}

static void s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void s_write_id(FILE *f, const uint8_t id[16])
{
    char buf[UUID_STR_LEN];
    fprintf(f, "%s\n", uuid_format(id, buf, sizeof buf));
    fflush(f);
}

/* Records every event with the time it was taken and its broker address. */
static void *s_event_thread(void *arg)
{
    FILE *out = arg;
    while (!atomic_load(&s_events_done)) {
        asylink_event *e = NULL;
        if (asylink_next_event(s_client, 100, &e) != ASYLINK_OK)
            continue;
        unsigned long long now = (unsigned long long)clock_now_ms();
        const char *ep = asylink_event_endpoint(e);
        switch (asylink_event_get_type(e)) {
        case ASYLINK_EVENT_ACCEPTED: {
            bool dup = strcmp(asylink_event_reason(e), "duplicate") == 0;
            atomic_fetch_add(dup ? &s_duplicates : &s_accepted, 1);
            fprintf(out, "%llu accepted %s%s\n", now, ep, dup ? " duplicate" : "");
            break;
        }
        case ASYLINK_EVENT_REJECTED:
            atomic_fetch_add(&s_rejected, 1);
            fprintf(out, "%llu rejected %s %s\n", now, ep, asylink_err_name(asylink_event_code(e)));
            break;
        case ASYLINK_EVENT_CONNECTED: fprintf(out, "%llu connected %s\n", now, ep); break;
        case ASYLINK_EVENT_DISCONNECTED: fprintf(out, "%llu disconnected %s\n", now, ep); break;
        default: break;
        }
        fflush(out);
        asylink_event_free(&e);
    }
    return NULL;
}

/* Waits (bounded) until the outbox is empty; returns what is still pending. */
static uint64_t s_drain(void)
{
    uint64_t deadline = clock_now_ms() + DRAIN_TIMEOUT_MS, pending = 1;
    while (clock_now_ms() < deadline) {
        if (asylink_outbox_pending(s_client, &pending) == ASYLINK_OK && pending == 0)
            break;
        s_sleep_ms(20);
    }
    return pending;
}

static int s_produce(const s_args *a, FILE *ids)
{
    FILE *events = fopen(a->events_out, "a");
    if (!events)
        return 2;
    pthread_t tid;
    if (pthread_create(&tid, NULL, s_event_thread, events) != 0)
        return 2;
    const char *to[] = {a->to};
    asylink_send_params p;
    asylink_send_params_init(&p);
    p.recipients = to;
    p.n_recipients = 1;
    p.content_type = "asylink.v1.InformationRequest";
    p.classification = ASYLINK_PERSONAL;
    long sent = 0, failures = 0;
    char payload[64];
    while (!s_stop) {
        int n = snprintf(payload, sizeof payload, "failover request %ld", sent + failures);
        uint8_t id[16];
        int rc = asylink_send(s_client, &p, payload, (size_t)n, id);
        if (rc == ASYLINK_OK) {
            s_write_id(ids, id);
            sent++;
        } else if (failures++ < 5) {
            fprintf(stderr, "failover_client: send: %s\n", asylink_err_name(rc));
        }
        if (a->pause_ms > 0)
            s_sleep_ms(a->pause_ms);
    }
    uint64_t pending = s_drain();
    s_sleep_ms(300); /* the last events */
    atomic_store(&s_events_done, true);
    pthread_join(tid, NULL);
    fclose(events);
    long rejected = atomic_load(&s_rejected);
    printf("sent=%ld failures=%ld accepted=%ld duplicates=%ld rejected=%ld pending=%llu\n", sent,
           failures, atomic_load(&s_accepted), atomic_load(&s_duplicates), rejected,
           (unsigned long long)pending);
    return failures == 0 && rejected == 0 && pending == 0 ? 0 : 1;
}

static int s_consume(FILE *ids)
{
    long got = 0;
    struct pollfd pfd = {.fd = asylink_fd(s_client), .events = POLLIN};
    while (!s_stop) {
        poll(&pfd, 1, 100);
        asylink_message *m = NULL;
        int rc = asylink_recv(s_client, 0, &m);
        if (rc == ASYLINK_E_TIMEOUT)
            continue;
        if (rc != ASYLINK_OK) {
            fprintf(stderr, "failover_client: recv: %s\n", asylink_err_name(rc));
            return 1;
        }
        s_write_id(ids, asylink_message_id(m));
        got++;
        rc = asylink_ack(s_client, asylink_message_id(m));
        asylink_message_free(&m);
        if (rc != ASYLINK_OK) {
            fprintf(stderr, "failover_client: ack: %s\n", asylink_err_name(rc));
            return 1;
        }
    }
    printf("received=%ld\n", got);
    return 0;
}

static int s_parse(int argc, char **argv, s_args *a)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"to", required_argument, NULL, 't'},
                                         {"ids-out", required_argument, NULL, 'i'},
                                         {"events-out", required_argument, NULL, 'e'},
                                         {"pause-ms", required_argument, NULL, 'p'},
                                         {"timeout", required_argument, NULL, 'o'},
                                         {NULL, 0, NULL, 0}};
    a->timeout_s = 600;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': a->config = optarg; break;
        case 't': a->to = optarg; break;
        case 'i': a->ids_out = optarg; break;
        case 'e': a->events_out = optarg; break;
        case 'p': a->pause_ms = strtol(optarg, NULL, 10); break;
        case 'o': a->timeout_s = strtol(optarg, NULL, 10); break;
        default: return -1;
        }
    }
    if (optind >= argc || !a->config || !a->ids_out || a->timeout_s <= 0 || a->pause_ms < 0)
        return -1;
    a->mode = argv[optind];
    if (strcmp(a->mode, "produce") == 0)
        return a->to && a->events_out ? 0 : -1;
    return strcmp(a->mode, "consume") == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    s_args a = {0};
    if (s_parse(argc, argv, &a) != 0) {
        fprintf(stderr, "usage: failover_client --config NODE.ini produce --to NODE --ids-out F "
                        "--events-out E [--pause-ms MS] [--timeout S]\n"
                        "       failover_client --config NODE.ini consume --ids-out F "
                        "[--timeout S]\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    alarm((unsigned)a.timeout_s); /* the bound on the whole run: SIGALRM ends it */
    FILE *ids = fopen(a.ids_out, "a");
    if (!ids)
        return 2;
    int rc = asylink_client_open_config(a.config, s_log, NULL, &s_client);
    if (rc != ASYLINK_OK) {
        fprintf(stderr, "failover_client: open: %s\n", asylink_err_name(rc));
        fclose(ids);
        return 1;
    }
    int code = strcmp(a.mode, "produce") == 0 ? s_produce(&a, ids) : s_consume(ids);
    fflush(stdout);
    asylink_client_close(&s_client);
    fclose(ids);
    return code;
}
