/*
 * fakebroker.c — asylink-fakebroker, an odd or hostile broker for the
 * client library's integration tests (45-client-odd-broker.sh): a ROUTER
 * socket with the broker's real CURVE key (the client checks it), speaking
 * protocol version 1 through core/wire.c, and answering as a broker that
 * is misconfigured or hostile in one chosen way:
 *
 *   asylink-fakebroker --endpoint tcp://127.0.0.1:PORT --key BROKER.key
 *                      [--max-envelope-bytes N] [--bye-reconnect-ms MS]
 *                      [--subscribed-prefix P] [--heartbeat-interval-ms MS]
 *                      [--heartbeat-timeout-ms MS] [--run-s SECONDS]
 *
 *   --max-envelope-bytes N  Welcome.limits.max_envelope_bytes (default 1 MiB)
 *   --bye-reconnect-ms MS   right after each Welcome, Bye{UNAVAILABLE,
 *                           "overloaded", reconnect_after_ms = MS}
 *   --subscribed-prefix P   answer every Subscribe with Subscribed{P,
 *                           created = false} whatever prefix it asked for
 *                           (a broker resuming a stored subscription with
 *                           its old prefix, as PROTOCOL.md said before
 *                           DESIGN-CHANGES 47)
 *   --heartbeat-interval-ms MS, --heartbeat-timeout-ms MS
 *                           Welcome.limits.heartbeat_interval_ms and
 *                           heartbeat_timeout_ms (default 5000 and 30000;
 *                           0 = not stated)
 *   --run-s SECONDS         exit after this long (default 60)
 *
 * Publishes are answered Accepted. No ZAP: any client key is admitted (the
 * client still authenticates the broker by its key). Every connection
 * accepted, Hello, Publish, Subscribe, ping (a Heartbeat, answered) and Bye
 * is printed as one line on stdout, flushed: "at_ms=EPOCH_MS event=NAME
 * ...", so that a test can tell what the client did and when. SIGTERM ends
 * it.
 *
 * Threading: one thread, one loop over the ROUTER socket and its monitor.
 */
#include "asylink/errors.h"
#include "clock.h"
#include "keys.h"
#include "wire.h"

#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static volatile sig_atomic_t s_interrupted;

static void s_on_signal(int sig)
{
    (void)sig;
    s_interrupted = 1;
}

typedef struct {
    const char *endpoint;   /* --endpoint to bind */
    const char *key;        /* --key: the broker's secret key file */
    uint64_t max_envelope;  /* --max-envelope-bytes */
    long bye_reconnect_ms;  /* --bye-reconnect-ms; -1 = no Bye */
    const char *sub_prefix; /* --subscribed-prefix, or NULL */
    uint32_t hb_interval;   /* --heartbeat-interval-ms */
    uint32_t hb_timeout;    /* --heartbeat-timeout-ms */
    long run_s;             /* --run-s */
    void *sock, *mon;       /* the ROUTER and its monitor */
    uint8_t rid[256];       /* routing id of the message being handled */
    size_t rid_len;
} s_fake;

static void s_line(const char *event, const char *detail)
{
    printf("at_ms=%llu event=%s%s%s\n", (unsigned long long)clock_now_ms(), event,
           detail[0] ? " " : "", detail);
    fflush(stdout);
}

static void s_send(s_fake *f, const wire_cmd *cmd)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode(cmd, &buf, &len) != ASYLINK_OK) {
        fprintf(stderr, "asylink-fakebroker: cannot encode %s\n", wire_kind_name(cmd->kind));
        return;
    }
    zmq_send(f->sock, f->rid, f->rid_len, ZMQ_SNDMORE);
    zmq_send(f->sock, buf, len, 0);
    free(buf);
}

static void s_welcome(s_fake *f, const wire_cmd *hello)
{
    wire_cmd c = {.kind = WIRE_WELCOME, .request_id = hello->request_id};
    wire_welcome *w = &c.u.welcome;
    w->protocol_version = WIRE_PROTOCOL_VERSION;
    snprintf(w->broker_node_id, sizeof w->broker_node_id, "BROKER.EU");
    w->limits.max_envelope_bytes = f->max_envelope;
    w->limits.max_in_flight = 100;
    w->limits.heartbeat_interval_ms = f->hb_interval;
    w->limits.heartbeat_timeout_ms = f->hb_timeout;
    w->limits.max_ack_batch = 100;
    w->limits.max_recipients = 256;
    w->server_time_ms = clock_now_ms();
    memset(w->session_id, 7, sizeof w->session_id);
    snprintf(w->broker_version, sizeof w->broker_version, "fake");
    s_send(f, &c);
    char d[128];
    snprintf(d, sizeof d,
             "max_envelope_bytes=%llu heartbeat_interval_ms=%u heartbeat_timeout_ms=%u",
             (unsigned long long)f->max_envelope, f->hb_interval, f->hb_timeout);
    s_line("welcome", d);
    if (f->bye_reconnect_ms < 0)
        return;
    wire_cmd b = {.kind = WIRE_BYE};
    b.u.error.code = ASYLINK_E_UNAVAILABLE;
    snprintf(b.u.error.reason, sizeof b.u.error.reason, "overloaded");
    b.u.error.reconnect_after_ms = (uint32_t)f->bye_reconnect_ms;
    s_send(f, &b);
    snprintf(d, sizeof d, "reconnect_after_ms=%ld", f->bye_reconnect_ms);
    s_line("bye", d);
}

static void s_handle(s_fake *f, const uint8_t *buf, size_t len, size_t env_len)
{
    wire_cmd cmd;
    char d[512];
    if (wire_decode(buf, len, &cmd) != ASYLINK_OK) {
        s_line("undecodable", "");
        wire_cmd_clear(&cmd);
        return;
    }
    if (cmd.kind == WIRE_HELLO) {
        snprintf(d, sizeof d, "node=%s", cmd.u.hello.node_id);
        s_line("hello", d);
        s_welcome(f, &cmd);
    } else if (cmd.kind == WIRE_PUBLISH) {
        snprintf(d, sizeof d, "envelope_bytes=%zu", env_len);
        s_line("publish", d);
        wire_cmd a = {.kind = WIRE_ACCEPTED};
        memcpy(a.u.accepted.message_id, cmd.u.publish.message_id, 16);
        a.u.accepted.accepted_ms = clock_now_ms();
        s_send(f, &a);
    } else if (cmd.kind == WIRE_SUBSCRIBE) {
        snprintf(d, sizeof d, "name=%s prefix=%s", cmd.u.subscribe.subscription,
                 cmd.u.subscribe.topic_prefix);
        s_line("subscribe", d);
        wire_cmd a = {.kind = WIRE_SUBSCRIBED, .request_id = cmd.request_id};
        snprintf(a.u.subscribed.subscription, sizeof a.u.subscribed.subscription, "%s",
                 cmd.u.subscribe.subscription);
        snprintf(a.u.subscribed.topic_prefix, sizeof a.u.subscribed.topic_prefix, "%s",
                 f->sub_prefix ? f->sub_prefix : cmd.u.subscribe.topic_prefix);
        a.u.subscribed.created = f->sub_prefix == NULL;
        a.u.subscribed.next_sequence = 1;
        s_send(f, &a);
    } else if (cmd.kind == WIRE_UNSUBSCRIBE) {
        snprintf(d, sizeof d, "name=%s", cmd.u.unsubscribe.subscription);
        s_line("unsubscribe", d);
        wire_cmd a = {.kind = WIRE_UNSUBSCRIBED, .request_id = cmd.request_id};
        snprintf(a.u.unsubscribe.subscription, sizeof a.u.unsubscribe.subscription, "%s",
                 cmd.u.unsubscribe.subscription);
        s_send(f, &a);
    } else if (cmd.kind == WIRE_HEARTBEAT && !cmd.u.heartbeat.pong) {
        s_line("ping", "");
        wire_cmd p = {.kind = WIRE_HEARTBEAT, .request_id = cmd.request_id};
        p.u.heartbeat.pong = true;
        p.u.heartbeat.sent_ms = clock_now_ms();
        s_send(f, &p);
    } else if (cmd.kind == WIRE_BYE) {
        s_line("client_bye", "");
    }
    wire_cmd_clear(&cmd);
}

/* Reads one message (routing id, command, optional envelope) and handles it. */
static void s_read(s_fake *f)
{
    zmq_msg_t part[3];
    int n = 0;
    bool more = true;
    while (more && n < 3) {
        zmq_msg_init(&part[n]);
        if (zmq_msg_recv(&part[n], f->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part[n]);
            break;
        }
        more = zmq_msg_more(&part[n]);
        n++;
    }
    while (more) { /* more frames than a command takes: drop the rest */
        zmq_msg_t x;
        zmq_msg_init(&x);
        more = zmq_msg_recv(&x, f->sock, 0) >= 0 && zmq_msg_more(&x);
        zmq_msg_close(&x);
    }
    if (n >= 2 && zmq_msg_size(&part[0]) <= sizeof f->rid) {
        f->rid_len = zmq_msg_size(&part[0]);
        memcpy(f->rid, zmq_msg_data(&part[0]), f->rid_len);
        s_handle(f, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]),
                 n == 3 ? zmq_msg_size(&part[2]) : 0);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&part[i]);
}

/* Prints the connections the monitor reports (accepted, closed). */
static void s_read_monitor(s_fake *f)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, f->mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return;
    }
    uint16_t ev = 0;
    if (zmq_msg_size(&m) >= 2)
        memcpy(&ev, zmq_msg_data(&m), 2);
    while (zmq_msg_more(&m)) {
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, f->mon, 0) < 0)
            break;
    }
    zmq_msg_close(&m);
    if (ev == ZMQ_EVENT_ACCEPTED)
        s_line("connection", "");
    else if (ev == ZMQ_EVENT_DISCONNECTED)
        s_line("disconnected", "");
}

static int s_opts(int argc, char **argv, s_fake *f)
{
    static const struct option longs[] = {{"endpoint", required_argument, NULL, 'e'},
                                          {"key", required_argument, NULL, 'k'},
                                          {"max-envelope-bytes", required_argument, NULL, 'm'},
                                          {"bye-reconnect-ms", required_argument, NULL, 'b'},
                                          {"subscribed-prefix", required_argument, NULL, 'p'},
                                          {"heartbeat-interval-ms", required_argument, NULL, 'i'},
                                          {"heartbeat-timeout-ms", required_argument, NULL, 't'},
                                          {"run-s", required_argument, NULL, 'r'},
                                          {NULL, 0, NULL, 0}};
    int ch;
    char *end = NULL;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'e': f->endpoint = optarg; break;
        case 'k': f->key = optarg; break;
        case 'm': f->max_envelope = strtoull(optarg, &end, 10); break;
        case 'b': f->bye_reconnect_ms = strtol(optarg, &end, 10); break;
        case 'p': f->sub_prefix = optarg; break;
        case 'i': f->hb_interval = (uint32_t)strtoul(optarg, &end, 10); break;
        case 't': f->hb_timeout = (uint32_t)strtoul(optarg, &end, 10); break;
        case 'r': f->run_s = strtol(optarg, &end, 10); break;
        default: return -1;
        }
        if (end && *end)
            return -1;
        end = NULL;
    }
    return f->endpoint && f->key && optind == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
    s_fake f = {.max_envelope = 1024 * 1024,
                .bye_reconnect_ms = -1,
                .hb_interval = 5000,
                .hb_timeout = 30000,
                .run_s = 60};
    if (s_opts(argc, argv, &f) != 0) {
        fprintf(stderr, "usage: asylink-fakebroker --endpoint EP --key BROKER.key "
                        "[--max-envelope-bytes N] [--bye-reconnect-ms MS] "
                        "[--subscribed-prefix P] [--heartbeat-interval-ms MS] "
                        "[--heartbeat-timeout-ms MS] [--run-s SECONDS]\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    keys_secret *keys = NULL;
    int rc = keys_load(f.key, NULL, &keys);
    if (rc != ASYLINK_OK) {
        fprintf(stderr, "asylink-fakebroker: %s: %s\n", f.key, asylink_err_name(rc));
        return 1;
    }
    signal(SIGTERM, s_on_signal);
    signal(SIGINT, s_on_signal);
    void *ctx = zmq_ctx_new();
    f.sock = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt(f.sock, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(f.sock, ZMQ_CURVE_SECRETKEY, keys->box_sk, 32);
    zmq_setsockopt(f.sock, ZMQ_LINGER, &linger, sizeof linger);
    keys_destroy(&keys);
    if (zmq_socket_monitor(f.sock, "inproc://fakebroker-monitor",
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0 ||
        !(f.mon = zmq_socket(ctx, ZMQ_PAIR)) ||
        zmq_connect(f.mon, "inproc://fakebroker-monitor") != 0 ||
        zmq_bind(f.sock, f.endpoint) != 0) {
        fprintf(stderr, "asylink-fakebroker: cannot listen on %s: %s\n", f.endpoint,
                zmq_strerror(zmq_errno()));
        return 1;
    }
    s_line("listening", "");
    uint64_t end_ms = clock_now_ms() + (uint64_t)f.run_s * 1000;
    while (!s_interrupted && clock_now_ms() < end_ms) {
        zmq_pollitem_t it[2] = {{f.sock, 0, ZMQ_POLLIN, 0}, {f.mon, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(it, 2, 100) <= 0)
            continue;
        if (it[1].revents & ZMQ_POLLIN)
            s_read_monitor(&f);
        if (it[0].revents & ZMQ_POLLIN)
            s_read(&f);
    }
    zmq_socket_monitor(f.sock, NULL, 0);
    zmq_setsockopt(f.mon, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(f.mon);
    zmq_close(f.sock);
    zmq_ctx_term(ctx);
    return 0;
}
