/*
 * peerlink.c — a raw protocol peer's connection to the broker (peerlink.h).
 */
#include "peerlink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "clock.h"

#define PEERLINK_FAILED_EVENTS                                                                     \
    (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                       \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

static int s_options(peerlink *l, const peerlink_opts *o)
{
    int linger = o->linger_ms, hwm = o->hwm, one = 1, small = 4096, to = o->send_timeout_ms;
    int ivl = 100, ivl_max = 500, hb = 1000, hb_to = 5000;
    if (peerwire_curve(l->sock, o->server_pk, o->keys) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_RCVHWM, o->slow_reader ? &one : &hwm, sizeof hwm) != 0)
        return -1;
    if (o->slow_reader && zmq_setsockopt(l->sock, ZMQ_RCVBUF, &small, sizeof small) != 0)
        return -1;
    if (to && (zmq_setsockopt(l->sock, ZMQ_SNDTIMEO, &to, sizeof to) != 0 ||
               zmq_setsockopt(l->sock, ZMQ_RCVTIMEO, &to, sizeof to) != 0))
        return -1;
    if (o->quick_reconnect &&
        (zmq_setsockopt(l->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) != 0 ||
         zmq_setsockopt(l->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) != 0 ||
         zmq_setsockopt(l->sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb) != 0 ||
         zmq_setsockopt(l->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_to, sizeof hb_to) != 0))
        return -1;
    return 0;
}

/* Watches the socket's handshakes and disconnects over an inproc PAIR. */
static int s_monitor(peerlink *l)
{
    char name[64];
    snprintf(name, sizeof name, "inproc://peerlink-monitor-%p", (void *)l);
    int events = ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | PEERLINK_FAILED_EVENTS;
    if (zmq_socket_monitor(l->sock, name, events) != 0)
        return -1;
    l->mon = zmq_socket(l->ctx, ZMQ_PAIR);
    return l->mon && zmq_connect(l->mon, name) == 0 ? 0 : -1;
}

int peerlink_open(peerlink *l, const char *endpoint, const peerlink_opts *o)
{
    memset(l, 0, sizeof *l);
    l->stop = o->stop;
    l->send_flags = o->send_timeout_ms ? 0 : ZMQ_DONTWAIT;
    l->ctx = o->ctx;
    if (!l->ctx) {
        l->ctx = zmq_ctx_new();
        l->own_ctx = l->ctx != NULL;
    }
    l->sock = l->ctx ? zmq_socket(l->ctx, ZMQ_DEALER) : NULL;
    /* A routing id of the test's choosing (the broker must not trust one: 39-broker-...). */
    const char *rid = getenv("ASYLINK_PEER_ROUTING_ID"); /* text, or hex:HEX for any bytes */
    uint8_t bin[255];
    size_t n = 0;
    if (rid && strncmp(rid, "hex:", 4) == 0)
        for (const char *p = rid + 4; p[0] && p[1] && n < sizeof bin; p += 2)
            bin[n++] = (uint8_t)strtoul((char[3]){p[0], p[1], 0}, NULL, 16);
    else if (rid)
        n = strlen(rid) < sizeof bin ? strlen(rid) : 0;
    if (l->sock && n)
        (void)zmq_setsockopt(l->sock, ZMQ_ROUTING_ID, strncmp(rid, "hex:", 4) ? rid : (char *)bin,
                             n);
    if (!l->sock || s_options(l, o) != 0 || (o->monitor && s_monitor(l) != 0))
        return -1;
    if (zmq_connect(l->sock, endpoint) != 0) {
        peerwire_warn("connect %s: %s", endpoint, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

void peerlink_close(peerlink *l, int linger_ms)
{
    peerwire_reader_close(&l->rd);
    if (l->sock) {
        zmq_setsockopt(l->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        if (l->mon)
            zmq_socket_monitor(l->sock, NULL, 0);
        zmq_close(l->sock);
    }
    if (l->mon)
        zmq_close(l->mon);
    if (l->own_ctx)
        zmq_ctx_term(l->ctx);
    memset(l, 0, sizeof *l);
}

void *peerlink_detach(peerlink *l)
{
    void *sock = l->sock;
    peerwire_reader_close(&l->rd); /* a Packed frame not read to its end is dropped */
    memset(l, 0, sizeof *l);
    return sock;
}

bool peerlink_stopped(const peerlink *l)
{
    return l->stop && *l->stop;
}

/* Reads pending monitor events into the counters. */
static void s_events(peerlink *l)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, l->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        bool more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        if (more) {
            zmq_msg_init(&addr);
            zmq_msg_recv(&addr, l->mon, 0);
            zmq_msg_close(&addr);
        }
        if (event == ZMQ_EVENT_DISCONNECTED) {
            l->disconnects++;
        } else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            l->handshakes++;
            if (l->handshakes > 1)
                l->reconnected = true;
        } else if (event & PEERLINK_FAILED_EVENTS) {
            l->auth_failures++;
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
                l->last_fail_status = (int)value;
        }
    }
}

int peerlink_send_raw(peerlink *l, const uint8_t *cmd, size_t cmd_len, const uint8_t *env,
                      size_t env_len, bool with_env, bool extra)
{
    if (peerwire_send_raw(l->sock, l->send_flags, cmd, cmd_len, env, env_len, with_env, extra) != 0)
        return -1;
    l->last_send_ms = clock_now_ms();
    return 0;
}

int peerlink_send(peerlink *l, const wire_cmd *c, const uint8_t *env, size_t env_len)
{
    if (peerwire_send(l->sock, l->send_flags, c, env, env_len) != 0)
        return -1;
    l->last_send_ms = clock_now_ms();
    return 0;
}

int peerlink_pong(peerlink *l, const wire_cmd *c)
{
    if (c->kind != WIRE_HEARTBEAT || c->u.heartbeat.pong)
        return 0;
    if (peerwire_pong(l->sock, l->send_flags, c) != 0)
        return -1;
    l->last_send_ms = clock_now_ms();
    return 0;
}

int peerlink_recv(peerlink *l, long wait_ms, peerwire_in *in)
{
    if (wait_ms > 0) {
        zmq_pollitem_t items[] = {{l->sock, 0, ZMQ_POLLIN, 0}, {l->mon, 0, ZMQ_POLLIN, 0}};
        zmq_poll(items, l->mon ? 2 : 1, wait_ms);
    }
    if (l->mon)
        s_events(l);
    return peerwire_read(l->sock, &l->rd, in);
}

bool peerlink_wait_disconnect(peerlink *l, long wait_ms)
{
    if (!l->mon)
        return false;
    int before = l->disconnects;
    uint64_t deadline = clock_now_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
    while (l->disconnects == before && clock_now_ms() < deadline && !peerlink_stopped(l)) {
        zmq_pollitem_t item = {l->mon, 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, 100);
        s_events(l);
    }
    return l->disconnects != before;
}

int peerlink_hello(peerlink *l, const wire_cmd *hello, uint64_t deadline_ms, wire_cmd *answer)
{
    bool sent = false;
    memset(answer, 0, sizeof *answer);
    while (clock_now_ms() < deadline_ms && !peerlink_stopped(l)) {
        if (!sent)
            sent = peerlink_send(l, hello, NULL, 0) == 0;
        peerwire_in in;
        int got = peerlink_recv(l, 50, &in);
        wire_kind kind = in.decode_rc == ASYLINK_OK ? in.cmd.kind : WIRE_NONE;
        bool answered = kind == WIRE_WELCOME || kind == WIRE_ERROR || kind == WIRE_BYE;
        if (got && answered) {
            *answer = in.cmd;
            memset(&in.cmd, 0, sizeof in.cmd);
        }
        int undecodable = got && in.decode_rc != ASYLINK_OK;
        peerwire_in_clear(&in);
        if (got && answered)
            return kind == WIRE_WELCOME ? 0 : 1;
        if (undecodable)
            return -2;
    }
    return -1;
}
