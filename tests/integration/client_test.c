/*
 * client_test.c — a node program built on the public libasylink API only
 * (plus core/ for forging a receipt), for the client library's integration
 * tests. Every mode is bounded by --timeout. --hold-us N (any mode): pause
 * N microseconds between opening the client and the mode (close races).
 * --wait-connected (any mode): then wait for the session with the broker
 * (and, linked with slowsync.c, slow its store's flushes from there on;
 * --settle-ms N: only N ms after the session opened, so that what the
 * library commits when it starts is not counted).
 * --log-info (any mode): the library's INFO lines on stderr too (else WARN
 * and ERROR only).
 * --events-out F (any mode): after the mode, the ACCEPTED and REJECTED
 * events that come within --events-ms N (default 2000) are written to F, one
 * "ACCEPTED UUID" or "REJECTED UUID CODE" line each (events the mode took
 * itself are not).
 *
 *   client_test --config NODE.ini send --to FR[,IT] --count N [--size B]
 *               [--threads T] [--batch N] [--crash-after-send] [--wait-accepted]
 *               [--wait-receipts]
 *               [--crash-after-accepted K] [--ids-out F]
 *               --batch: asylink_send_many, N at a time (one signed batch each);
 *               --wait-receipts (with --ids-out): then wait for every receipt
 *               --crash-after-accepted: after the first call, kill -9 this process
 *               once the broker accepted K of its messages (the rest of the
 *               batch still in the outbox)
 *   client_test --config NODE.ini flush            wait until the outbox is empty
 *   client_test --config NODE.ini recv --count N [--no-ack] [--ack-batch N]
 *               [--crash-after-recv] [--crash-after-ack] [--ids-out F] [--expect-none]
 *               [--expect-refused N] [--ack-failures-ok]
 *               --ack-failures-ok: an acknowledgement that fails is reported and
 *               not counted (the library hands the message over again)
 *               --crash-after-ack: kill -9 this process as soon as the last
 *               acknowledgement returned (its receipts owed, not yet sealed)
 *               --ack-batch: asylink_ack_many, N at a time; --expect-refused: also
 *               wait for N ASYLINK_EVENT_RECEIVE_FAILED events (prints their codes)
 *   client_test --config NODE.ini receipts --ids-in F
 *               wait until every recipient of each message in F (one id per
 *               line) has sent its receipt; prints receipts=N
 *   client_test --config NODE.ini receipt --to FR [--count N] --forge-key K --forge-cert C
 *               send N messages, wait for FR's receipts, verify them, then
 *               check that a receipt forged by another node is refused
 *   client_test --config NODE.ini trust-watch --expect TARGET:CODE[:RELOAD] ...
 *               one running client: wait until sending to TARGET returns CODE
 *               while the test changes the trust directory (see the mode)
 *   client_test --config NODE.ini publish --topic T --count N
 *               [--class PUBLIC|LIMITED|PERSONAL] [--wait-accepted] [--ids-out F]
 *               publish on a feed; prints publish_error=CODE when one fails
 *   client_test --config NODE.ini ack --id UUID [--sender S [--name SUB]]
 *               acknowledge a received message by id (asylink_ack) or by its
 *               full key (asylink_ack_keys); prints ack=CODE
 *   client_test --config NODE.ini subscribe --prefix P --name N[,N2...] --count N
 *               [--start earliest|new] [--no-ack] [--ids-out F] [--expect-none]
 *               [--also-prefix P2]
 *               subscribe (several names: several subscriptions to P), then
 *               receive (and ack with asylink_ack_message) N feed messages of
 *               those subscriptions (--ids-out: ids, or "name id" lines for
 *               several names); prints subscribe_error=CODE when one fails;
 *               --also-prefix: then subscribes the first name again to P2 and
 *               prints resubscribe=CODE (the receiving goes on either way)
 *   client_test --config NODE.ini state --ids-in F [--after-event]
 *               F holds lines "UUID WANT", WANT one of NOT_FOUND, PENDING,
 *               ACCEPTED or REJECTED:CODE: asylink_sent_state_get() of each
 *               id must answer WANT; prints "state UUID GOT" per id and
 *               states=N wrong=M. --after-event: each id is asked right after
 *               its ACCEPTED or REJECTED event was taken (waiting for it)
 *
 * Prints one summary line; exit 0 when the mode's expectation holds.
 */
#include "asylink/asylink.h"

#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cert.h"
#include "clock.h"
#include "envelope.h"
#include "keys.h"
#include "receipt.h"
#include "uuid.h"

typedef struct {
    const char *config, *mode, *to, *ids_out, *ids_in, *forge_key, *forge_cert;
    const char *topic, *prefix, *name, *klass, *start, *id, *sender, *events_out;
    const char *also_prefix; /* --also-prefix (subscribe) */
    long count, size, threads, timeout_s, ack_batch, batch, expect_refused, crash_after_accepted;
    long hold_us;          /* --hold-us: pause after open, before the mode */
    long settle_ms;        /* --settle-ms: pause after the session opened, before arming */
    long events_ms;        /* --events-ms: how long --events-out collects */
    int wait_connected;    /* --wait-connected: then wait for a session */
    const char *expect[8]; /* trust-watch steps: TARGET:SEND_CODE[:RELOAD_CODE] */
    int n_expect;
    int crash_after_send, crash_after_recv, crash_after_ack, no_ack, wait_accepted, expect_none;
    int ack_failures_ok; /* recv: an acknowledgement that fails is not fatal (the message comes
                            again) */
    int wait_receipts;   /* send: then wait for the receipts of what was sent (needs --ids-out) */
    int after_event;     /* state: ask about each id once its ACCEPTED/REJECTED event came */
} s_args;

/* Defined by slowsync.c in client_test_slowsync only (37-client-early-publish.sh). */
__attribute__((weak)) void slowsync_arm(void);

static asylink_client *s_client;
static FILE *s_ids;
static pthread_mutex_t s_ids_lock = PTHREAD_MUTEX_INITIALIZER;

static void s_die(const char *what, int rc)
{
    fprintf(stderr, "client_test: %s: %s (%s)\n", what, asylink_err_name(rc), asylink_strerror(rc));
    exit(1);
}

static bool s_log_info; /* --log-info */

static void s_log(void *ctx, asylink_log_level level, const char *line)
{
    (void)ctx;
    if (level <= (s_log_info ? ASYLINK_LOG_INFO : ASYLINK_LOG_WARN))
        fprintf(stderr, "%s\n", line);
}

static void s_write_id(const uint8_t id[16])
{
    char buf[UUID_STR_LEN];
    if (!s_ids)
        return;
    pthread_mutex_lock(&s_ids_lock);
    fprintf(s_ids, "%s\n", uuid_format(id, buf, sizeof buf));
    fflush(s_ids);
    pthread_mutex_unlock(&s_ids_lock);
}

static uint64_t s_deadline(const s_args *a)
{
    return clock_now_ms() + (uint64_t)a->timeout_s * 1000;
}

/* Splits "FR,IT" into recipients pointing into buf (the caller's, one per thread). */
static size_t s_split(const char *list, char *buf, size_t buf_len, const char **out, size_t max)
{
    snprintf(buf, buf_len, "%s", list);
    size_t n = 0;
    for (char *p = buf; p && *p && n < max;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        out[n++] = p;
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

typedef struct {
    const s_args *a;
    long count;
    long failures;
} s_sender;

/*
 * Waits until the broker has accepted K more messages (the outbox, polled
 * every millisecond, shrank by K since the call returned), then dies with
 * the rest of the batch unsent or unanswered.
 */
static void s_crash_after_accepted(const s_args *a)
{
    uint64_t deadline = s_deadline(a), start = 0, pending = 0;
    if (asylink_outbox_pending(s_client, &start) != ASYLINK_OK)
        s_die("outbox_pending", ASYLINK_E_IO);
    pending = start;
    while (start - pending < (uint64_t)a->crash_after_accepted && clock_now_ms() < deadline) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
        if (asylink_outbox_pending(s_client, &pending) != ASYLINK_OK)
            s_die("outbox_pending", ASYLINK_E_IO);
    }
    fprintf(stderr, "client_test: killed after %llu accepted, %llu pending\n",
            (unsigned long long)(start - pending), (unsigned long long)pending);
    raise(SIGKILL);
}

/* Sends the thread's messages with asylink_send_many(), a->batch at a time. */
static void s_send_batches(s_sender *s, const asylink_send_params *p, uint8_t *payloads)
{
    size_t size = (size_t)s->a->size + 1, per = (size_t)s->a->batch;
    asylink_send_item *items = calloc(per, sizeof *items);
    if (!items)
        s_die("calloc", ASYLINK_E_NOMEM);
    for (long i = 0; i < s->count;) {
        size_t n = 0;
        for (; n < per && i < s->count; n++, i++) {
            snprintf((char *)payloads + n * size, size, "request %ld", i);
            items[n] = (asylink_send_item){
                .params = p, .payload = payloads + n * size, .len = (size_t)s->a->size};
        }
        int rc = asylink_send_many(s_client, items, n);
        if (rc != ASYLINK_OK) {
            fprintf(stderr, "client_test: send_many: %s\n", asylink_err_name(rc));
            s->failures += (long)n;
            continue;
        }
        for (size_t k = 0; k < n; k++)
            s_write_id(items[k].message_id);
        if (s->a->crash_after_send)
            raise(SIGKILL); /* the whole batch must survive this */
        if (s->a->crash_after_accepted > 0)
            s_crash_after_accepted(s->a);
    }
    free(items);
}

static void *s_send_thread(void *arg)
{
    s_sender *s = arg;
    const char *to[16];
    char list[1024];
    size_t n = s_split(s->a->to, list, sizeof list, to, 16);
    size_t per = s->a->batch > 0 ? (size_t)s->a->batch : 1;
    uint8_t *payload = calloc(per, (size_t)s->a->size + 1);
    if (!payload)
        s_die("calloc", ASYLINK_E_NOMEM);
    asylink_send_params p;
    asylink_send_params_init(&p);
    p.recipients = to;
    p.n_recipients = n;
    p.content_type = "asylink.v1.InformationRequest";
    p.classification = ASYLINK_PERSONAL;
    if (s->a->batch > 0) {
        s_send_batches(s, &p, payload);
        free(payload);
        return NULL;
    }
    for (long i = 0; i < s->count; i++) {
        snprintf((char *)payload, (size_t)s->a->size + 1, "request %ld", i);
        uint8_t id[16] = {0};
        int rc = asylink_send(s_client, &p, payload, (size_t)s->a->size, id);
        if (rc == ASYLINK_E_IO) { /* the id is returned with IO: the broker may have it */
            char buf[UUID_STR_LEN];
            fprintf(stderr, "client_test: send: IO id=%s\n", uuid_format(id, buf, sizeof buf));
            s->failures++;
            continue;
        }
        if (rc != ASYLINK_OK) {
            fprintf(stderr, "client_test: send: %s\n", asylink_err_name(rc));
            s->failures++;
            continue;
        }
        s_write_id(id);
        if (s->a->crash_after_send)
            raise(SIGKILL); /* the message must survive this */
    }
    free(payload);
    return NULL;
}

/* Waits until the outbox is empty (everything Accepted or Rejected). */
static int s_flush(const s_args *a)
{
    uint64_t deadline = s_deadline(a), pending = 1;
    while (clock_now_ms() < deadline) {
        if (asylink_outbox_pending(s_client, &pending) == ASYLINK_OK && pending == 0)
            return 0;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "client_test: %llu still pending\n", (unsigned long long)pending);
    return 1;
}

/* Waits for the receipts of every message listed in a->ids_in. */
static int s_mode_receipts(const s_args *a)
{
    FILE *f = fopen(a->ids_in, "r");
    if (!f)
        s_die("ids-in", ASYLINK_E_NOT_FOUND);
    char line[128];
    long n = 0, ok = 0;
    uint64_t deadline = s_deadline(a);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        uint8_t id[16];
        if (asylink_id_parse(line, id) != ASYLINK_OK)
            continue;
        n++;
        uint64_t now = clock_now_ms();
        int left = now < deadline ? (int)(deadline - now) : 0;
        int rc = asylink_receipt_wait(s_client, id, left);
        if (rc == ASYLINK_OK)
            ok++;
        else
            fprintf(stderr, "client_test: receipt of %s: %s\n", line, asylink_err_name(rc));
    }
    fclose(f);
    printf("receipts=%ld of=%ld\n", ok, n);
    return n > 0 && ok == n ? 0 : 1;
}

static int s_mode_send(const s_args *a)
{
    long threads = a->threads > 0 ? a->threads : 1;
    pthread_t tid[64];
    s_sender s[64];
    uint64_t t0 = clock_now_ms();
    for (long i = 0; i < threads && i < 64; i++) {
        s[i] = (s_sender){.a = a, .count = a->count / threads + (i < a->count % threads)};
        pthread_create(&tid[i], NULL, s_send_thread, &s[i]);
    }
    long failures = 0;
    for (long i = 0; i < threads && i < 64; i++) {
        pthread_join(tid[i], NULL);
        failures += s[i].failures;
    }
    uint64_t t1 = clock_now_ms();
    int rc = a->wait_accepted ? s_flush(a) : 0;
    if (a->wait_receipts && a->ids_out && failures == 0 && rc == 0) {
        s_args r = *a; /* the ids written so far, flushed line by line */
        r.ids_in = a->ids_out;
        rc = s_mode_receipts(&r);
    }
    printf("sent=%ld failures=%ld threads=%ld send_ms=%llu returned_at_ms=%llu\n",
           a->count - failures, failures, threads, (unsigned long long)(t1 - t0),
           (unsigned long long)t1);
    return failures == 0 && rc == 0 ? 0 : 1;
}

/* --ack-failures-ok: n messages whose acknowledgement failed; they are handed over again. */
static long s_ack_failed(int rc, long n, long *failed)
{
    fprintf(stderr, "client_test: acknowledgement of %ld failed: %s (handed over again)\n", n,
            asylink_err_name(rc));
    *failed += n;
    return n;
}

static int s_mode_recv(const s_args *a)
{
    uint64_t deadline = s_deadline(a);
    long got = 0;
    struct pollfd pfd = {.fd = asylink_fd(s_client), .events = POLLIN};
    uint8_t(*batch)[16] = calloc(a->ack_batch > 0 ? (size_t)a->ack_batch : 1, 16);
    size_t n_batch = 0;
    int rc_end = ASYLINK_OK;
    long refused = 0, ack_failed = 0;
    uint64_t first_ms = 0; /* when the first message was handed over (epoch ms) */
    char codes[256] = "";
    if (!batch)
        s_die("calloc", ASYLINK_E_NOMEM);
    while ((got < a->count || refused < a->expect_refused) && clock_now_ms() < deadline) {
        poll(&pfd, 1, 100); /* the fd says when recv will not block */
        asylink_event *ev = NULL;
        while (a->expect_refused > 0 && asylink_next_event(s_client, 0, &ev) == ASYLINK_OK) {
            if (asylink_event_get_type(ev) == ASYLINK_EVENT_RECEIVE_FAILED) {
                size_t used = strlen(codes);
                snprintf(codes + used, sizeof codes - used, "%s%s", refused ? "," : "",
                         asylink_err_name(asylink_event_code(ev)));
                refused++;
            }
            asylink_event_free(&ev);
        }
        asylink_message *m = NULL;
        int rc = asylink_recv(s_client, 0, &m);
        if (rc == ASYLINK_E_TIMEOUT)
            continue;
        if (rc != ASYLINK_OK)
            s_die("recv", rc);
        s_write_id(asylink_message_id(m));
        if (got++ == 0)
            first_ms = clock_now_ms();
        if (a->crash_after_recv)
            raise(SIGKILL); /* handed over, not acknowledged */
        if (a->ack_batch > 0 && !a->no_ack) {
            memcpy(batch[n_batch++], asylink_message_id(m), 16);
            if (n_batch == (size_t)a->ack_batch || got == a->count) {
                rc = asylink_ack_many(s_client, (const uint8_t(*)[16])batch, n_batch);
                if (rc != ASYLINK_OK && !a->ack_failures_ok)
                    s_die("ack_many", rc);
                if (rc != ASYLINK_OK)
                    got -= s_ack_failed(rc, (long)n_batch, &ack_failed);
                n_batch = 0;
            }
        } else if (!a->no_ack &&
                   (rc = asylink_ack(s_client, asylink_message_id(m))) != ASYLINK_OK) {
            if (!a->ack_failures_ok)
                s_die("ack", rc);
            got -= s_ack_failed(rc, 1, &ack_failed);
        }
        asylink_message_free(&m);
    }
    if (n_batch &&
        (rc_end = asylink_ack_many(s_client, (const uint8_t(*)[16])batch, n_batch)) != ASYLINK_OK)
        s_die("ack_many", rc_end);
    if (a->crash_after_ack && got > 0 && !a->no_ack)
        raise(SIGKILL); /* acknowledged: the receipts are owed, sealed only after a linger */
    free(batch);
    printf("received=%ld first_at_ms=%llu ack_failed=%ld\n", got, (unsigned long long)first_ms,
           ack_failed);
    if (a->expect_refused > 0)
        printf("refused=%ld refused_codes=%s\n", refused, codes[0] ? codes : "-");
    if (refused < a->expect_refused)
        return 1;
    if (a->expect_none)
        return got == 0 ? 0 : 1;
    return got >= a->count ? 0 : 1;
}

/* Builds a receipt for msg_id signed by the forger, claiming to be from claimed. */
static int s_forge(const s_args *a, const uint8_t msg_id[16], const char *claimed, const char *to,
                   uint8_t **env, size_t *len)
{
    keys_secret *k = NULL;
    cert *c = NULL, *reader = NULL;
    envelope_sealer *s = NULL;
    /* to's certificate, next to the forger's in the trust directory's nodes/ */
    const char *slash = strrchr(a->forge_cert, '/');
    char reader_path[4096];
    snprintf(reader_path, sizeof reader_path, "%.*s%s.cert",
             slash ? (int)(slash - a->forge_cert + 1) : 0, a->forge_cert, to);
    if (keys_load(a->forge_key, NULL, &k) != ASYLINK_OK ||
        cert_load(a->forge_cert, &c) != ASYLINK_OK ||
        cert_load(reader_path, &reader) != ASYLINK_OK) {
        cert_destroy(&c);
        keys_destroy(&k);
        return 1;
    }
    receipt r = {.acked_ms = clock_now_ms(), .status = RECEIPT_DELIVERED};
    memcpy(r.message_id, msg_id, 16);
    snprintf(r.recipient, sizeof r.recipient, "%s", claimed);
    snprintf(r.sender, sizeof r.sender, "%s", to);
    uint8_t *payload = NULL;
    size_t plen = 0;
    receipt_set_encode(&r, 1, &payload, &plen);
    const char *rcpt[] = {to};
    /* encrypted to to, as a real receipt is (a signed-only one is refused for that alone):
       only the signer gives the forgery away */
    const cert *readers[] = {reader};
    envelope_params p = {.recipients = rcpt,
                         .n_recipients = 1,
                         .readers = readers,
                         .n_readers = 1,
                         .content_type = RECEIPT_CONTENT_TYPE,
                         .classification = ENVELOPE_LIMITED};
    envelope_sealer_new(k, c->node_id, c->serial, NULL, NULL, &s);
    int rc = envelope_seal(s, &p, payload, plen, env, len, NULL);
    envelope_sealer_destroy(&s);
    free(payload);
    cert_destroy(&reader);
    cert_destroy(&c);
    keys_destroy(&k);
    return rc;
}

/*
 * Sends count messages, waits for every receipt, verifies the evidence of
 * the first and the last (and that it says nothing about another message),
 * then checks that a tampered and a forged receipt are refused.
 */
static int s_mode_receipt(const s_args *a)
{
    const char *to[16];
    char list[1024];
    size_t n = s_split(a->to, list, sizeof list, to, 16);
    asylink_send_params p;
    asylink_send_params_init(&p);
    p.recipients = to;
    p.n_recipients = n;
    p.content_type = "asylink.v1.InformationRequest";
    p.classification = ASYLINK_PERSONAL;
    long count = a->count > 0 ? a->count : 1;
    uint8_t(*ids)[16] = calloc((size_t)count, 16);
    if (!ids)
        s_die("calloc", ASYLINK_E_NOMEM);
    int rc;
    for (long i = 0; i < count; i++) {
        if ((rc = asylink_send(s_client, &p, "case query", 10, ids[i])) != ASYLINK_OK)
            s_die("send", rc);
        s_write_id(ids[i]);
    }
    for (long i = 0; i < count; i++)
        if ((rc = asylink_receipt_wait(s_client, ids[i], (int)a->timeout_s * 1000)) != ASYLINK_OK)
            s_die("receipt_wait", rc);
    uint8_t *env = NULL, *last = NULL, *id = ids[0];
    size_t len = 0, last_len = 0;
    asylink_receipt_info info, info_last;
    if ((rc = asylink_receipt_export(s_client, id, to[0], &env, &len)) != ASYLINK_OK ||
        (rc = asylink_receipt_verify(s_client, env, len, id, &info)) != ASYLINK_OK ||
        (rc = asylink_receipt_export(s_client, ids[count - 1], to[0], &last, &last_len)) !=
            ASYLINK_OK ||
        (rc = asylink_receipt_verify(s_client, last, last_len, ids[count - 1], &info_last)) !=
            ASYLINK_OK)
        s_die("receipt verify", rc);
    printf("receipt from=%s status=%d verified=yes\n", info.recipient, info.status);
    if (info.status != ASYLINK_RECEIPT_DELIVERED || info_last.status != ASYLINK_RECEIPT_DELIVERED)
        s_die("receipt status", ASYLINK_E_BAD_FIELD);
    printf("receipts=%ld shared_evidence=%s\n", count,
           len == last_len && memcmp(env, last, len) == 0 ? "yes" : "no");
    asylink_free(last);
    /* Valid evidence says nothing about another message. */
    uint8_t other[16];
    memcpy(other, id, 16);
    other[15] ^= 1;
    printf("receipt_for_other_message=%s\n",
           asylink_err_name(asylink_receipt_verify(s_client, env, len, other, NULL)));
    /* Tamper with the evidence: any flipped bit must fail verification. */
    env[len / 2] ^= 1;
    int tampered = asylink_receipt_verify(s_client, env, len, NULL, NULL);
    asylink_free(env);
    printf("tampered_receipt=%s\n", asylink_err_name(tampered));
    uint8_t *forged = NULL;
    size_t flen = 0;
    if (s_forge(a, id, to[0], "DE", &forged, &flen) != 0)
        s_die("forge", ASYLINK_E_INTERNAL);
    int frc = asylink_receipt_verify(s_client, forged, flen, NULL, NULL);
    free(forged);
    free(ids);
    printf("forged_receipt=%s\n", asylink_err_name(frc));
    return tampered != ASYLINK_OK && frc != ASYLINK_OK ? 0 : 1;
}

/* Waits (bounded by the deadline) for a session with the broker. */
static int s_wait_connected(uint64_t deadline)
{
    while (!asylink_connected(s_client) && clock_now_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return asylink_connected(s_client) ? 0 : 1;
}

static int s_mode_publish(const s_args *a)
{
    uint64_t deadline = s_deadline(a);
    asylink_publish_params p;
    asylink_publish_params_init(&p);
    p.topic = a->topic;
    p.content_type = "asylink.v1.MonthlyStatistics";
    if (a->klass && strcmp(a->klass, "LIMITED") == 0)
        p.classification = ASYLINK_LIMITED;
    else if (a->klass && strcmp(a->klass, "PERSONAL") == 0)
        p.classification = ASYLINK_PERSONAL;
    else if (a->klass && strcmp(a->klass, "PUBLIC") != 0)
        return 2;
    if (p.classification == ASYLINK_LIMITED && s_wait_connected(deadline) != 0) {
        printf("publish_error=%s\n", asylink_err_name(ASYLINK_E_UNAVAILABLE));
        return 1;
    }
    long sent = 0, failures = 0;
    for (long i = 0; i < a->count; i++) {
        char payload[128];
        int n = snprintf(payload, sizeof payload, "%s statistics #%ld", a->topic, i);
        uint8_t id[16];
        int rc = asylink_publish(s_client, &p, payload, (size_t)n, id);
        if (rc != ASYLINK_OK) {
            if (failures++ == 0)
                printf("publish_error=%s\n", asylink_err_name(rc));
            continue;
        }
        s_write_id(id);
        sent++;
    }
    int rc = a->wait_accepted && sent ? s_flush(a) : 0;
    printf("published=%ld failures=%ld\n", sent, failures);
    return failures == 0 && rc == 0 ? 0 : 1;
}

#define S_MAX_SUBS 8

/* Index of sub in names[0..n), or -1. */
static int s_sub_index(char names[][65], int n, const char *sub)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], sub) == 0)
            return i;
    return -1;
}

static int s_mode_subscribe(const s_args *a)
{
    uint64_t deadline = s_deadline(a);
    asylink_start start = ASYLINK_START_EARLIEST;
    if (a->start && strcmp(a->start, "new") == 0)
        start = ASYLINK_START_NEW;
    int wait_ms = a->timeout_s > 15 ? 15000 : (int)a->timeout_s * 1000;
    /* --name A[,B...]: one subscription each, all to --prefix */
    char names[S_MAX_SUBS][65];
    int n_names = 0;
    for (const char *p = a->name; p && *p && n_names < S_MAX_SUBS;) {
        size_t len = strcspn(p, ",");
        snprintf(names[n_names++], sizeof names[0], "%.*s", (int)(len < 64 ? len : 64), p);
        p += len + (p[len] == ',');
    }
    for (int i = 0; i < n_names; i++) {
        int rc = asylink_subscribe(s_client, a->prefix, names[i], start, 0, wait_ms);
        if (rc != ASYLINK_OK) {
            printf("subscribe_error=%s\n", asylink_err_name(rc));
            return 1;
        }
    }
    printf("subscribed name=%s prefix=%s\n", a->name, a->prefix);
    if (a->also_prefix)
        printf("resubscribe=%s\n", asylink_err_name(asylink_subscribe(
                                       s_client, a->also_prefix, names[0], start, 0, wait_ms)));
    fflush(stdout);
    long got = 0, limited = 0, bad = 0;
    size_t plen = strlen(a->prefix);
    while (got < a->count && clock_now_ms() < deadline) {
        asylink_message *m = NULL;
        int rc = asylink_recv(s_client, 100, &m);
        if (rc == ASYLINK_E_TIMEOUT)
            continue;
        if (rc != ASYLINK_OK)
            s_die("recv", rc);
        const char *sub = asylink_message_subscription(m);
        if (s_sub_index(names, n_names, sub) < 0) {
            asylink_message_free(&m); /* another subscription's copy: left for it */
            continue;
        }
        const char *topic = asylink_message_topic(m);
        size_t len = 0;
        const char *payload = asylink_message_payload(m, &len);
        /* The payload names its topic: proves it was decrypted (LIMITED). */
        if (strncmp(topic, a->prefix, plen) != 0 || (topic[plen] && topic[plen] != '.') ||
            len < strlen(topic) || memcmp(payload, topic, strlen(topic)) != 0)
            bad++;
        if (asylink_message_classification(m) == ASYLINK_LIMITED)
            limited++;
        if (n_names > 1 && s_ids) { /* "subscription id" lines */
            char buf[UUID_STR_LEN];
            pthread_mutex_lock(&s_ids_lock);
            fprintf(s_ids, "%s %s\n", sub, uuid_format(asylink_message_id(m), buf, sizeof buf));
            fflush(s_ids);
            pthread_mutex_unlock(&s_ids_lock);
        } else {
            s_write_id(asylink_message_id(m));
        }
        got++;
        if (!a->no_ack && (rc = asylink_ack_message(s_client, m)) != ASYLINK_OK)
            s_die("ack", rc);
        asylink_message_free(&m);
    }
    printf("received=%ld limited=%ld bad=%ld\n", got, limited, bad);
    if (bad)
        return 1;
    if (a->expect_none)
        return got == 0 ? 0 : 1;
    return got >= a->count ? 0 : 1;
}

static int s_parse(int argc, char **argv, s_args *a)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"to", required_argument, NULL, 't'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"size", required_argument, NULL, 's'},
                                         {"threads", required_argument, NULL, 'T'},
                                         {"timeout", required_argument, NULL, 'o'},
                                         {"ids-out", required_argument, NULL, 'i'},
                                         {"forge-key", required_argument, NULL, 'k'},
                                         {"forge-cert", required_argument, NULL, 'C'},
                                         {"crash-after-send", no_argument, NULL, 1},
                                         {"crash-after-recv", no_argument, NULL, 2},
                                         {"no-ack", no_argument, NULL, 3},
                                         {"wait-accepted", no_argument, NULL, 4},
                                         {"expect-none", no_argument, NULL, 5},
                                         {"topic", required_argument, NULL, 6},
                                         {"prefix", required_argument, NULL, 7},
                                         {"name", required_argument, NULL, 8},
                                         {"class", required_argument, NULL, 9},
                                         {"start", required_argument, NULL, 10},
                                         {"ack-batch", required_argument, NULL, 11},
                                         {"batch", required_argument, NULL, 12},
                                         {"expect", required_argument, NULL, 13},
                                         {"expect-refused", required_argument, NULL, 14},
                                         {"id", required_argument, NULL, 15},
                                         {"sender", required_argument, NULL, 16},
                                         {"crash-after-accepted", required_argument, NULL, 17},
                                         {"crash-after-ack", no_argument, NULL, 18},
                                         {"ids-in", required_argument, NULL, 19},
                                         {"hold-us", required_argument, NULL, 20},
                                         {"settle-ms", required_argument, NULL, 25},
                                         {"wait-connected", no_argument, NULL, 21},
                                         {"ack-failures-ok", no_argument, NULL, 22},
                                         {"wait-receipts", no_argument, NULL, 23},
                                         {"log-info", no_argument, NULL, 24},
                                         {"also-prefix", required_argument, NULL, 26},
                                         {"events-out", required_argument, NULL, 27},
                                         {"events-ms", required_argument, NULL, 28},
                                         {"after-event", no_argument, NULL, 29},
                                         {NULL, 0, NULL, 0}};
    a->count = 1;
    a->size = 64;
    a->timeout_s = 60;
    a->events_ms = 2000;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': a->config = optarg; break;
        case 't': a->to = optarg; break;
        case 'n': a->count = strtol(optarg, NULL, 10); break;
        case 's': a->size = strtol(optarg, NULL, 10); break;
        case 'T': a->threads = strtol(optarg, NULL, 10); break;
        case 'o': a->timeout_s = strtol(optarg, NULL, 10); break;
        case 'i': a->ids_out = optarg; break;
        case 'k': a->forge_key = optarg; break;
        case 'C': a->forge_cert = optarg; break;
        case 1: a->crash_after_send = 1; break;
        case 2: a->crash_after_recv = 1; break;
        case 3: a->no_ack = 1; break;
        case 4: a->wait_accepted = 1; break;
        case 5: a->expect_none = 1; break;
        case 6: a->topic = optarg; break;
        case 7: a->prefix = optarg; break;
        case 8: a->name = optarg; break;
        case 9: a->klass = optarg; break;
        case 10: a->start = optarg; break;
        case 11: a->ack_batch = strtol(optarg, NULL, 10); break;
        case 12: a->batch = strtol(optarg, NULL, 10); break;
        case 13:
            if (a->n_expect == 8)
                return -1;
            a->expect[a->n_expect++] = optarg;
            break;
        case 14: a->expect_refused = strtol(optarg, NULL, 10); break;
        case 15: a->id = optarg; break;
        case 16: a->sender = optarg; break;
        case 17: a->crash_after_accepted = strtol(optarg, NULL, 10); break;
        case 18: a->crash_after_ack = 1; break;
        case 19: a->ids_in = optarg; break;
        case 20: a->hold_us = strtol(optarg, NULL, 10); break;
        case 21: a->wait_connected = 1; break;
        case 22: a->ack_failures_ok = 1; break;
        case 23: a->wait_receipts = 1; break;
        case 24: s_log_info = true; break;
        case 25: a->settle_ms = strtol(optarg, NULL, 10); break;
        case 26: a->also_prefix = optarg; break;
        case 27: a->events_out = optarg; break;
        case 28: a->events_ms = strtol(optarg, NULL, 10); break;
        case 29: a->after_event = 1; break;
        default: return -1;
        }
    }
    if (optind >= argc || !a->config || a->count < 0 || a->size < 0 || a->timeout_s <= 0 ||
        a->hold_us < 0 || a->hold_us > 10 * 1000 * 1000 || a->settle_ms < 0 ||
        a->settle_ms > 60 * 1000 || a->events_ms < 0 || a->events_ms > 60 * 1000)
        return -1;
    a->mode = argv[optind];
    return 0;
}

/*
 * Acknowledges one received message without its handle: by --id alone
 * (asylink_ack), or by --id, --sender and --name (the subscription; none
 * for a direct message) with asylink_ack_keys. Prints ack=CODE; exit 0 on OK.
 */
static int s_mode_ack(const s_args *a)
{
    uint8_t id[16];
    if (uuid_parse(a->id, id) != 0)
        s_die("--id", ASYLINK_E_INVALID_ARG);
    int rc;
    if (a->sender) {
        asylink_ack_key k = {.sender = a->sender, .subscription = a->name};
        memcpy(k.message_id, id, 16);
        rc = asylink_ack_keys(s_client, &k, 1);
    } else {
        rc = asylink_ack(s_client, id);
    }
    printf("ack=%s\n", asylink_err_name(rc));
    if (rc == ASYLINK_OK)
        s_flush(a); /* the receipt leaves before the client closes */
    return rc == ASYLINK_OK ? 0 : 1;
}

#define S_MAX_STATES 64

/* One line of the state mode's --ids-in file. */
typedef struct {
    char text[UUID_STR_LEN]; /* the id as written */
    uint8_t id[16];
    char want[64]; /* NOT_FOUND, PENDING, ACCEPTED or REJECTED:CODE */
    bool told;     /* --after-event: its ACCEPTED or REJECTED event came */
} s_state_line;

/* What asylink_sent_state_get() answers for id, in the words of the state mode. */
static void s_sent_state_word(const uint8_t id[16], char *out, size_t len)
{
    int state = 0, code = ASYLINK_OK;
    int rc = asylink_sent_state_get(s_client, id, &state, &code);
    if (rc != ASYLINK_OK)
        snprintf(out, len, "%s", asylink_err_name(rc));
    else if (state == ASYLINK_SENT_PENDING && code == ASYLINK_OK)
        snprintf(out, len, "PENDING");
    else if (state == ASYLINK_SENT_ACCEPTED && code == ASYLINK_OK)
        snprintf(out, len, "ACCEPTED");
    else if (state == ASYLINK_SENT_REJECTED)
        snprintf(out, len, "REJECTED:%s", asylink_err_name(code));
    else
        snprintf(out, len, "state-%d-code-%s", state, asylink_err_name(code));
}

/* Reads the state mode's lines from a->ids_in into l (at most S_MAX_STATES); how many. */
static size_t s_state_read(const s_args *a, s_state_line *l)
{
    FILE *f = fopen(a->ids_in, "r");
    if (!f)
        s_die("ids-in", ASYLINK_E_NOT_FOUND);
    char line[256];
    size_t n = 0;
    while (n < S_MAX_STATES && fgets(line, sizeof line, f)) {
        char text[64], want[64];
        if (sscanf(line, "%63s %63s", text, want) != 2)
            continue;
        s_state_line *x = &l[n];
        memset(x, 0, sizeof *x);
        if (asylink_id_parse(text, x->id) != ASYLINK_OK)
            s_die("ids-in: not an id", ASYLINK_E_BAD_FIELD);
        uuid_format(x->id, x->text, sizeof x->text); /* (as events and ids files write it) */
        snprintf(x->want, sizeof x->want, "%s", want);
        n++;
    }
    fclose(f);
    return n;
}

/* --after-event: takes events until every line's ACCEPTED or REJECTED came; prints each. */
static void s_state_after_events(const s_args *a, s_state_line *l, size_t n, long *wrong)
{
    uint64_t deadline = s_deadline(a);
    size_t told = 0;
    for (uint64_t now = clock_now_ms(); told < n && now < deadline; now = clock_now_ms()) {
        asylink_event *ev = NULL;
        if (asylink_next_event(s_client, (int)(deadline - now), &ev) != ASYLINK_OK)
            continue;
        asylink_event_type type = asylink_event_get_type(ev);
        for (size_t i = 0; i < n; i++) {
            if (l[i].told || memcmp(asylink_event_message_id(ev), l[i].id, 16) != 0 ||
                (type != ASYLINK_EVENT_ACCEPTED && type != ASYLINK_EVENT_REJECTED))
                continue;
            char got[96]; /* asked at once: the event follows the commit that records it */
            s_sent_state_word(l[i].id, got, sizeof got);
            printf("state %s %s\n", l[i].text, got);
            *wrong += strcmp(got, l[i].want) != 0;
            l[i].told = true;
            told++;
        }
        asylink_event_free(&ev);
    }
    for (size_t i = 0; i < n; i++)
        if (!l[i].told) {
            printf("state %s no-event\n", l[i].text);
            (*wrong)++;
        }
}

/*
 * asylink_sent_state_get() of each id of a->ids_in against what its line
 * wants (at once, or with --after-event once its event came).
 */
static int s_mode_state(const s_args *a)
{
    s_state_line l[S_MAX_STATES];
    size_t n = s_state_read(a, l);
    long wrong = 0;
    if (a->after_event) {
        s_state_after_events(a, l, n, &wrong);
    } else {
        for (size_t i = 0; i < n; i++) {
            char got[96];
            s_sent_state_word(l[i].id, got, sizeof got);
            printf("state %s %s\n", l[i].text, got);
            wrong += strcmp(got, l[i].want) != 0;
        }
    }
    printf("states=%zu wrong=%ld\n", n, wrong);
    return n > 0 && wrong == 0 ? 0 : 1;
}

/*
 * One running client watches its trust directory change under it. Each
 * --expect TARGET:SEND[:RELOAD] step prints "ready step=I", then tries
 * asylink_send() to TARGET every 100 ms (first calling asylink_reload_trust()
 * when RELOAD is given, until that returns RELOAD) until the send returns
 * SEND; it prints "step=I result=... first=... reload=... waited_ms=...".
 */
static int s_mode_trust_watch(const s_args *a)
{
    uint64_t deadline = s_deadline(a);
    for (int i = 0; i < a->n_expect; i++) {
        char spec[256], *target = spec, *want = NULL, *reload_want = NULL;
        snprintf(spec, sizeof spec, "%s", a->expect[i]);
        if ((want = strchr(spec, ':')))
            *want++ = 0;
        if (want && (reload_want = strchr(want, ':')))
            *reload_want++ = 0;
        if (!want)
            return 2;
        printf("ready step=%d\n", i + 1);
        fflush(stdout);
        const char *to[] = {target};
        asylink_send_params p;
        asylink_send_params_init(&p);
        p.recipients = to;
        p.n_recipients = 1;
        p.content_type = "asylink.test.Probe";
        const char *first = NULL, *got = "", *reloaded = "-";
        uint64_t t0 = clock_now_ms();
        while (clock_now_ms() < deadline) {
            if (reload_want) {
                reloaded = asylink_err_name(asylink_reload_trust(s_client));
                if (strcmp(reloaded, reload_want) != 0)
                    goto next;
            }
            got = asylink_err_name(asylink_send(s_client, &p, "probe", 5, NULL));
            if (!first)
                first = got;
            if (strcmp(got, want) == 0)
                break;
        next:;
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        printf("step=%d result=%s first=%s reload=%s waited_ms=%llu\n", i + 1, got,
               first ? first : "-", reloaded, (unsigned long long)(clock_now_ms() - t0));
        fflush(stdout);
        if (strcmp(got, want) != 0)
            return 1;
    }
    return 0;
}

/*
 * --events-out: writes the ACCEPTED and REJECTED events that come within
 * --events-ms to a->events_out, one line each; prints events=N.
 */
static void s_events_out(const s_args *a)
{
    FILE *f = fopen(a->events_out, "a");
    if (!f)
        s_die("events-out", ASYLINK_E_IO);
    uint64_t deadline = clock_now_ms() + (uint64_t)a->events_ms;
    long n = 0;
    for (uint64_t now = clock_now_ms(); now < deadline; now = clock_now_ms()) {
        asylink_event *ev = NULL;
        if (asylink_next_event(s_client, (int)(deadline - now), &ev) != ASYLINK_OK)
            continue;
        asylink_event_type type = asylink_event_get_type(ev);
        char buf[UUID_STR_LEN];
        const char *id = uuid_format(asylink_event_message_id(ev), buf, sizeof buf);
        if (type == ASYLINK_EVENT_ACCEPTED)
            fprintf(f, "ACCEPTED %s\n", id);
        else if (type == ASYLINK_EVENT_REJECTED)
            fprintf(f, "REJECTED %s %s\n", id, asylink_err_name(asylink_event_code(ev)));
        n += type == ASYLINK_EVENT_ACCEPTED || type == ASYLINK_EVENT_REJECTED;
        asylink_event_free(&ev);
    }
    fclose(f);
    printf("events=%ld\n", n);
}

int main(int argc, char **argv)
{
    s_args a = {0};
    if (s_parse(argc, argv, &a) != 0) {
        fprintf(stderr, "usage: client_test --config NODE.ini "
                        "send|flush|recv|receipts|receipt|publish|subscribe|trust-watch|ack|state "
                        "[options]\n");
        return 2;
    }
    if (a.ids_out && !(s_ids = fopen(a.ids_out, "a")))
        s_die("ids-out", ASYLINK_E_IO);
    int rc = asylink_client_open_config(a.config, s_log, NULL, &s_client);
    if (rc != ASYLINK_OK)
        s_die("open", rc);
    if (a.hold_us > 0) { /* --hold-us: a pause between open and the mode (close races) */
        struct timespec hold = {a.hold_us / 1000000, (a.hold_us % 1000000) * 1000};
        nanosleep(&hold, NULL);
    }
    if (a.wait_connected) { /* --wait-connected: a session first (and slowsync.c armed) */
        if (s_wait_connected(s_deadline(&a)) != 0)
            s_die("wait-connected", ASYLINK_E_TIMEOUT);
        struct timespec settle = {a.settle_ms / 1000, (a.settle_ms % 1000) * 1000000};
        if (a.settle_ms > 0)
            nanosleep(&settle, NULL);
        if (slowsync_arm)
            slowsync_arm();
    }
    int code = 2;
    if (strcmp(a.mode, "send") == 0 && a.to)
        code = s_mode_send(&a);
    else if (strcmp(a.mode, "flush") == 0)
        code = s_flush(&a);
    else if (strcmp(a.mode, "receipts") == 0 && a.ids_in)
        code = s_mode_receipts(&a);
    else if (strcmp(a.mode, "recv") == 0)
        code = s_mode_recv(&a);
    else if (strcmp(a.mode, "receipt") == 0 && a.to && a.forge_key && a.forge_cert)
        code = s_mode_receipt(&a);
    else if (strcmp(a.mode, "publish") == 0 && a.topic)
        code = s_mode_publish(&a);
    else if (strcmp(a.mode, "subscribe") == 0 && a.prefix && a.name)
        code = s_mode_subscribe(&a);
    else if (strcmp(a.mode, "trust-watch") == 0 && a.n_expect > 0)
        code = s_mode_trust_watch(&a);
    else if (strcmp(a.mode, "ack") == 0 && a.id)
        code = s_mode_ack(&a);
    else if (strcmp(a.mode, "state") == 0 && a.ids_in)
        code = s_mode_state(&a);
    else
        fprintf(stderr, "client_test: unknown mode or missing option\n");
    if (a.events_out && code != 2)
        s_events_out(&a);
    asylink_client_close(&s_client);
    if (s_ids)
        fclose(s_ids);
    return code;
}
