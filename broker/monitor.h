/*
 * monitor.h — watches the node endpoint's connections through libzmq's
 * socket monitor and counts, for /metrics, the handshakes that failed
 * (bad CURVE hello, ZAP refusal) and the connections that closed before
 * finishing the handshake (a bare TCP flood is cut by ZMQ_HANDSHAKE_IVL;
 * this makes the cuts visible).
 *
 * Threading: router thread only (its socket is polled in the router loop).
 */
#ifndef ASYLINK_BROKER_MONITOR_H
#define ASYLINK_BROKER_MONITOR_H

#include <stddef.h>
#include <stdint.h>

struct metrics;
typedef struct conn_monitor conn_monitor;

/*
 * Starts monitoring sock (a ZeroMQ socket of ctx, before it binds) under
 * the inproc name `name`; counts go to m (may be NULL: counted only).
 * NULL on failure (errno / zmq_errno()).
 */
conn_monitor *conn_monitor_new(void *ctx, void *sock, const char *name, struct metrics *m);

/* The socket to poll for ZMQ_POLLIN. */
void *conn_monitor_socket(conn_monitor *cm);

/* Reads every waiting event without blocking. */
void conn_monitor_handle(conn_monitor *cm);

/* Counters since start: handshakes refused, connections closed unfinished. */
uint64_t conn_monitor_refused(const conn_monitor *cm);
uint64_t conn_monitor_unfinished(const conn_monitor *cm);

/* Stops monitoring (before sock is closed) and frees cm; NULL is fine. */
void conn_monitor_destroy(conn_monitor **self_p, void *sock);

#endif
