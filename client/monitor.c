/*
 * monitor.c — why no session with the broker is open: the I/O thread's
 * account of its failed connection attempts, for the application
 * (asylink_connect_failure_get()) and the log.
 *
 * Each socket the I/O thread connects gets a ZeroMQ monitor (an inproc
 * PAIR fed by libzmq), which tells what the socket alone knows: whether a
 * TCP connection was made (CONNECTED) or not (CONNECT_RETRIED), whether
 * the CURVE handshake succeeded, failed, or the broker's ZAP handler
 * denied our key (HANDSHAKE_FAILED_AUTH). The I/O thread adds what the
 * protocol says (no Welcome in time, a fatal Error or Bye before Welcome)
 * and what ends a session. The most specific finding of an attempt wins:
 * a refusal seen by the monitor is not overwritten by the Hello timeout
 * that follows it.
 *
 * Threads: the monitor functions run on the I/O thread; the record they
 * publish lives in the client under `lock` and is read by any thread.
 */
#include "client_internal.h"

#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

/* The monitor events the I/O thread listens to. */
#define S_EVENTS                                                                                   \
    (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED |                    \
     ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |                             \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

/* ---- the shared record ---- */

void client_failure_record(asylink_client *c, int code, const char *reason, const char *endpoint,
                           bool attempt)
{
    pthread_mutex_lock(&c->lock);
    asylink_connect_failure *f = &c->failure;
    bool changed = f->code != code || strcmp(f->reason, reason) != 0;
    f->code = code;
    snprintf(f->reason, sizeof f->reason, "%s", reason);
    snprintf(f->endpoint, sizeof f->endpoint, "%s", endpoint ? endpoint : "");
    f->at_ms = clock_now_ms();
    if (attempt)
        f->attempts++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    /* Once per change, not per retry: a broker down for a day is one line. */
    if (changed)
        client_log(c, ASYLINK_LOG_WARN, "no session with the broker",
                   "endpoint=%s code=%s reason=%s", CLIENT_Q(endpoint), asylink_err_name(code),
                   CLIENT_Q(reason));
}

void client_failure_clear(asylink_client *c)
{
    pthread_mutex_lock(&c->lock);
    memset(&c->failure, 0, sizeof c->failure);
    c->sessions++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

int asylink_connect_failure_get(asylink_client *c, asylink_connect_failure *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return ASYLINK_E_INVALID_ARG;
    pthread_mutex_lock(&c->lock);
    *out = c->failure;
    if (!out->endpoint[0]) /* nothing failed yet: the address being tried */
        snprintf(out->endpoint, sizeof out->endpoint, "%s", c->broker_endpoint);
    out->sessions = c->sessions;
    out->connected = atomic_load(&c->connected) ? 1 : 0;
    pthread_mutex_unlock(&c->lock);
    return ASYLINK_OK;
}

/* ---- one attempt ---- */

void client_attempt_start(client_attempt *a, const char *endpoint)
{
    memset(a, 0, sizeof *a);
    snprintf(a->endpoint, sizeof a->endpoint, "%s", endpoint);
}

/* Sets the attempt's finding (reason already formatted) and publishes it. */
static void s_found(asylink_client *c, client_attempt *a, int code, const char *reason)
{
    a->code = code;
    snprintf(a->reason, sizeof a->reason, "%s", reason);
    client_failure_record(c, code, reason, a->endpoint, false);
}

/* What one monitor event says about the attempt. */
static void s_on_event(asylink_client *c, client_attempt *a, uint16_t event, uint32_t value)
{
    char why[sizeof a->reason];
    const char *ep = a->endpoint;
    switch (event) {
    case ZMQ_EVENT_CONNECTED: a->tcp_up = a->tcp_seen = true; return;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: a->handshake_ok = true; return;
    case ZMQ_EVENT_CONNECT_RETRIED:
        if (a->tcp_seen)
            return; /* libzmq reconnecting after a connection we learnt more from */
        snprintf(why, sizeof why,
                 "cannot reach broker at %.200s: nothing accepts connections there (is asylinkd "
                 "running, and is broker_endpoint right?)",
                 ep);
        return s_found(c, a, ASYLINK_E_UNAVAILABLE, why);
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        if (value == 300 || value == 500)
            snprintf(why, sizeof why,
                     "the broker at %.200s could not check node %s now (its authentication failed "
                     "with status %u); try again later or ask its operator",
                     ep, c->own->node_id, (unsigned)value);
        else
            snprintf(why, sizeof why,
                     "the broker at %.200s refused node %s: it does not know this node's "
                     "certificate (serial %llu), or holds it revoked or expired; its operator "
                     "adds the certificate to the broker's trust directory and reloads it "
                     "(asylink reload, or SIGHUP)",
                     ep, c->own->node_id, (unsigned long long)c->own->serial);
        return s_found(c, a, ASYLINK_E_REFUSED, why);
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        snprintf(
            why, sizeof why,
            "the CURVE handshake with %.200s failed: broker_cert may not be the certificate of "
            "the broker listening there, or that is not an asylinkd",
            ep);
        return s_found(c, a, ASYLINK_E_PROTOCOL, why);
    case ZMQ_EVENT_DISCONNECTED:
        if (!a->handshake_ok && a->code == ASYLINK_OK) {
            snprintf(
                why, sizeof why,
                "the connection to %.200s closed during the CURVE handshake: broker_cert may not "
                "be the certificate of the broker listening there, or that is not an "
                "asylinkd",
                ep);
            s_found(c, a, ASYLINK_E_PROTOCOL, why);
        }
        a->tcp_up = a->handshake_ok = false;
        return;
    default: return;
    }
}

void client_attempt_failed(asylink_client *c, client_attempt *a, int code, const char *reason)
{
    if (a->code != ASYLINK_OK) {
        /* The monitor's finding explains this failure better than the timeout. */
        client_failure_record(c, a->code, a->reason, a->endpoint, true);
        return;
    }
    char why[sizeof a->reason];
    const char *ep = a->endpoint;
    int secs = CLIENT_HELLO_TIMEOUT_MS / 1000;
    if (code == ASYLINK_E_TIMEOUT && !a->tcp_seen) {
        code = ASYLINK_E_UNAVAILABLE;
        snprintf(why, sizeof why,
                 "cannot reach broker at %.200s: no connection within %d s (is asylinkd running, "
                 "and is broker_endpoint right?)",
                 ep, secs);
    } else if (code == ASYLINK_E_TIMEOUT && !a->handshake_ok) {
        code = ASYLINK_E_PROTOCOL;
        snprintf(why, sizeof why,
                 "connected to %.200s, but the CURVE handshake did not finish within %d s: "
                 "broker_cert may not be the certificate of the broker listening there",
                 ep, secs);
    } else if (code == ASYLINK_E_TIMEOUT) {
        snprintf(why, sizeof why, "the broker at %.200s did not answer Hello within %d s", ep,
                 secs);
    } else {
        snprintf(why, sizeof why, "%s", reason);
    }
    client_failure_record(c, code, why, ep, true);
}

/* ---- the monitor socket ---- */

void *client_monitor_open(asylink_client *c, void *ctx, void *sock)
{
    static atomic_uint serial;
    char name[96];
    snprintf(name, sizeof name, "inproc://asylink-monitor-%p-%u", (void *)c,
             atomic_fetch_add(&serial, 1));
    if (zmq_socket_monitor(sock, name, S_EVENTS) != 0)
        return NULL;
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    int linger = 0;
    if (mon && (zmq_setsockopt(mon, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
                zmq_connect(mon, name) != 0)) {
        zmq_close(mon);
        mon = NULL;
    }
    if (!mon)
        zmq_socket_monitor(sock, NULL, 0);
    return mon;
}

void client_monitor_read(asylink_client *c, void *mon, client_attempt *a)
{
    for (int i = 0; mon && i < 64; i++) {
        zmq_msg_t ev;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        /* frame 1: event (16 bits) and value (32 bits); frame 2: the endpoint (ours) */
        bool more = zmq_msg_more(&ev);
        if (zmq_msg_size(&ev) == 6) {
            uint16_t event;
            uint32_t value;
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (const uint8_t *)zmq_msg_data(&ev) + 2, 4);
            s_on_event(c, a, event, value);
        }
        zmq_msg_close(&ev);
        while (more) {
            zmq_msg_t x;
            zmq_msg_init(&x);
            more = zmq_msg_recv(&x, mon, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&x);
            zmq_msg_close(&x);
        }
    }
}

void client_monitor_close(void *sock, void **mon)
{
    if (!*mon)
        return;
    if (sock)
        zmq_socket_monitor(sock, NULL, 0);
    zmq_close(*mon);
    *mon = NULL;
}
