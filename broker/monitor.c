/*
 * monitor.c — handshake accounting from libzmq's socket monitor events:
 * ACCEPTED(fd) opens a pending handshake, HANDSHAKE_SUCCEEDED(fd) closes it,
 * HANDSHAKE_FAILED_*(fd) closes it as refused, DISCONNECTED(fd) of a
 * still-pending fd counts as unfinished (the handshake timeout, or the peer
 * gave up). Pending fds live in a bitmap indexed by descriptor number.
 */
#include "monitor.h"

#include "metrics.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

#define S_EVENTS                                                                                   \
    (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |                 \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
#define S_MAX_FDS (1u << 20)

struct conn_monitor {
    void *pair; /* our end of the monitor's inproc PAIR */
    struct metrics *metrics;
    uint8_t *pending; /* bit per fd: accepted, handshake not finished */
    size_t n_fds;
    uint64_t refused, unfinished;
    char name[64];
};

/* Whether fd is pending; sets it to `on`. */
static bool s_swap(conn_monitor *cm, uint32_t fd, bool on)
{
    if (fd >= cm->n_fds)
        return false;
    uint8_t bit = (uint8_t)(1u << (fd & 7));
    bool was = (cm->pending[fd >> 3] & bit) != 0;
    if (on)
        cm->pending[fd >> 3] |= bit;
    else
        cm->pending[fd >> 3] &= (uint8_t)~bit;
    return was;
}

conn_monitor *conn_monitor_new(void *ctx, void *sock, const char *name, struct metrics *m)
{
    conn_monitor *cm = calloc(1, sizeof *cm);
    if (!cm)
        return NULL;
    struct rlimit rl = {0};
    cm->n_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < S_MAX_FDS ? (size_t)rl.rlim_cur
                                                                              : S_MAX_FDS;
    cm->pending = calloc((cm->n_fds + 7) / 8, 1);
    cm->metrics = m;
    int unlimited = 0;
    snprintf(cm->name, sizeof cm->name, "inproc://%s", name);
    if (!cm->pending || zmq_socket_monitor(sock, cm->name, S_EVENTS) != 0 ||
        !(cm->pair = zmq_socket(ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(cm->pair, ZMQ_RCVHWM, &unlimited, sizeof unlimited) != 0 ||
        zmq_connect(cm->pair, cm->name) != 0) {
        if (cm->pair)
            zmq_close(cm->pair);
        free(cm->pending);
        free(cm);
        return NULL;
    }
    return cm;
}

void *conn_monitor_socket(conn_monitor *cm)
{
    return cm->pair;
}

/* Applies one event to the pending set and the counters. */
static void s_event(conn_monitor *cm, uint16_t event, uint32_t fd)
{
    switch (event) {
    case ZMQ_EVENT_ACCEPTED: s_swap(cm, fd, true); break;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: s_swap(cm, fd, false); break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        if (s_swap(cm, fd, false)) {
            cm->refused++;
            metrics_guard_add(cm->metrics, METRICS_HANDSHAKE_FAILED, 1);
        }
        break;
    case ZMQ_EVENT_DISCONNECTED:
        if (s_swap(cm, fd, false)) {
            cm->unfinished++;
            metrics_guard_add(cm->metrics, METRICS_HANDSHAKE_TIMEOUT, 1);
        }
        break;
    default: break;
    }
}

void conn_monitor_handle(conn_monitor *cm)
{
    for (int budget = 0; budget < 100000; budget++) {
        zmq_msg_t head, addr;
        zmq_msg_init(&head);
        if (zmq_msg_recv(&head, cm->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&head);
            return;
        }
        /* frame 1: u16 event, u32 value (native order); frame 2: endpoint */
        if (zmq_msg_size(&head) == 6) {
            const uint8_t *d = zmq_msg_data(&head);
            uint16_t event;
            uint32_t value;
            memcpy(&event, d, 2);
            memcpy(&value, d + 2, 4);
            s_event(cm, event, value);
        }
        bool more = zmq_msg_more(&head);
        zmq_msg_close(&head);
        while (more) {
            zmq_msg_init(&addr);
            if (zmq_msg_recv(&addr, cm->pair, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&addr);
                return;
            }
            more = zmq_msg_more(&addr);
            zmq_msg_close(&addr);
        }
    }
}

uint64_t conn_monitor_refused(const conn_monitor *cm)
{
    return cm ? cm->refused : 0;
}

uint64_t conn_monitor_unfinished(const conn_monitor *cm)
{
    return cm ? cm->unfinished : 0;
}

void conn_monitor_destroy(conn_monitor **self_p, void *sock)
{
    if (!self_p || !*self_p)
        return;
    conn_monitor *cm = *self_p;
    if (sock)
        zmq_socket_monitor(sock, NULL, 0);
    zmq_close(cm->pair);
    free(cm->pending);
    free(cm);
    *self_p = NULL;
}
