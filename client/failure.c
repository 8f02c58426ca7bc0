/*
 * failure.c — why no session with the broker is open: the I/O thread's
 * account of its failed connection attempts, for the application
 * (asylink_connect_failure_get()) and the log.
 *
 * The I/O thread's socket monitor (io.c) tells what the socket alone
 * knows, event by event: whether a TCP connection was made (CONNECTED) or
 * not (CONNECT_RETRIED), whether the CURVE handshake succeeded, failed, or
 * the broker's ZAP handler denied our key (HANDSHAKE_FAILED_AUTH, status
 * 400). The I/O thread adds what the protocol says (no Welcome in time, a
 * fatal Error or Bye before Welcome) and what ends a session. The most
 * specific finding of an attempt wins: a refusal seen by the monitor is
 * not overwritten by the reset that follows it.
 *
 * Threads: the attempt functions run on the I/O thread; the record they
 * publish lives in the client under `lock` and is read by any thread.
 */
#include "client_internal.h"

#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

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
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

int asylink_connect_failure_get(asylink_client *c, asylink_connect_failure *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    pthread_mutex_lock(&c->lock);
    *out = c->failure;
    if (!out->endpoint[0]) /* nothing failed yet: the address being tried */
        snprintf(out->endpoint, sizeof out->endpoint, "%s",
                 c->conn.endpoint[0] ? c->conn.endpoint : c->endpoints[0]);
    out->sessions = c->conn.sessions;
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
void client_attempt_event(asylink_client *c, client_attempt *a, uint16_t event, uint32_t value)
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
