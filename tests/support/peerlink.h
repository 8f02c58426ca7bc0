/*
 * peerlink.h — one connection of a raw protocol peer to the broker: a
 * DEALER socket with CURVE (peerwire.h) and, if asked, a socket monitor
 * that counts disconnects, handshakes and refused handshakes, so a test can
 * tell "the broker hung up" from "nobody answered". Used by asylink-peer's
 * session engine and hostile cases and by bench_broker's clients.
 *
 * Errors: 0 / -1 (zmq_errno() says why), with a line on stderr where the
 * cause would otherwise be lost.
 *
 * Threading: a peerlink belongs to one thread.
 */
#ifndef ASYLINK_PEERLINK_H
#define ASYLINK_PEERLINK_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "keys.h"
#include "peerwire.h"
#include "wire.h"

/* How to connect. */
typedef struct {
    void *ctx;                /* ZeroMQ context to use; NULL = the link has its own */
    const uint8_t *server_pk; /* the broker's CURVE key: its certificate's box_pk */
    const keys_secret *keys;  /* this node's keys (CURVE client key pair) */
    bool monitor;             /* count disconnects and handshakes (peerlink fields) */
    bool quick_reconnect;     /* reconnect after 100..500 ms; ZMTP heartbeat 1 s, 5 s timeout */
    bool slow_reader;         /* receive queue of 1 and a 4 KiB socket buffer: the
                                 broker's output piles up at the broker (dir-flood) */
    int hwm;                  /* ZMQ_SNDHWM and ZMQ_RCVHWM; 0 = no limit */
    int linger_ms;            /* ZMQ_LINGER until peerlink_close */
    int send_timeout_ms;      /* 0: a send that cannot be queued fails at once; else sends
                                 (and blocking receives) wait this long */
    const volatile sig_atomic_t *stop; /* waits end early once *stop != 0; may be NULL */
} peerlink_opts;

typedef struct {
    void *ctx, *sock, *mon;
    bool own_ctx;   /* ctx is ended by peerlink_close */
    int send_flags; /* ZMQ_DONTWAIT or 0 */
    const volatile sig_atomic_t *stop;
    int disconnects;       /* DISCONNECTED events seen */
    int handshakes;        /* HANDSHAKE_SUCCEEDED events seen */
    int auth_failures;     /* HANDSHAKE_FAILED_* events seen */
    int last_fail_status;  /* value of the last HANDSHAKE_FAILED_AUTH (ZAP status) */
    bool reconnected;      /* a handshake succeeded after the first; the owner clears it */
    uint64_t last_send_ms; /* clock_now_ms() of the last send (heartbeats) */
    peerwire_reader rd;    /* a Packed frame being read (protocol version 2) */
} peerlink;

/* Connects to endpoint; 0, or -1 with *l safe to peerlink_close. */
int peerlink_open(peerlink *l, const char *endpoint, const peerlink_opts *o);

/* Closes the link, giving queued messages linger_ms to leave. */
void peerlink_close(peerlink *l, int linger_ms);

/*
 * Hands the socket to the caller (who closes it with zmq_close) and empties
 * *l; only for a link on a shared context without a monitor.
 */
void *peerlink_detach(peerlink *l);

/* True once the owner's stop flag is set. */
bool peerlink_stopped(const peerlink *l);

/* peerwire_send_raw / peerwire_send on the link's socket (noting the time). */
int peerlink_send_raw(peerlink *l, const uint8_t *cmd, size_t cmd_len, const uint8_t *env,
                      size_t env_len, bool with_env, bool extra);
int peerlink_send(peerlink *l, const wire_cmd *c, const uint8_t *env, size_t env_len);

/* peerwire_pong on the link's socket (noting the time). */
int peerlink_pong(peerlink *l, const wire_cmd *c);

/*
 * Waits up to wait_ms (0: not at all) for a message, reading monitor
 * events meanwhile. Returns 1 with *in filled, 0 if none came; release
 * *in with peerwire_in_clear() either way.
 */
int peerlink_recv(peerlink *l, long wait_ms, peerwire_in *in);

/*
 * Waits up to wait_ms for a DISCONNECTED event (reading nothing from the
 * socket), with a monitor; returns whether one came meanwhile.
 */
bool peerlink_wait_disconnect(peerlink *l, long wait_ms);

/*
 * Sends hello (again while it cannot be queued) and waits until
 * deadline_ms (clock_now_ms) for its answer, skipping anything else.
 * Returns 0 on Welcome, 1 on Error or Bye (either stored in *answer: the
 * caller clears it), -1 if nothing came in time (or stop was set), -2 if
 * the broker sent a command that does not decode.
 */
int peerlink_hello(peerlink *l, const wire_cmd *hello, uint64_t deadline_ms, wire_cmd *answer);

#endif
