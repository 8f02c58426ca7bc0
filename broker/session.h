/*
 * session.h — one client's session with the broker and the table of open
 * sessions.
 *
 * A session starts with Hello on a ZeroMQ connection (routing id) whose
 * CURVE key ZAP bound to a node id, and ends with Bye, a heartbeat timeout,
 * a new Hello of the same node elsewhere, or revocation. A node has at most
 * one session. Deliveries sent and not yet acknowledged are "in flight";
 * when a session ends they simply stay in the node's queue and are
 * delivered again, in order, in the next session.
 *
 * Threading: router thread only.
 */
#ifndef ASYLINK_BROKER_SESSION_H
#define ASYLINK_BROKER_SESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"
#include "wire.h"

#define SESSION_RID_MAX 256
#define SESSION_MAX_SUBS 16 /* feed subscriptions open in one session */

/* A feed delivery of a subscription that is not acknowledged yet. */
typedef struct session_feed_item {
    uint64_t seq;         /* feed seq */
    uint64_t len;         /* envelope bytes */
    uint64_t retry_at_ms; /* 0 = in flight; else Nacked: redeliver from then */
    uint32_t attempts;    /* deliveries made so far */
} session_feed_item;

/*
 * A feed subscription open in a session. Everything up to `scan` has been
 * looked at; what was delivered and not acknowledged is in items (sorted
 * by seq). The durable cursor is min(scan, first item - 1).
 */
typedef struct session_sub {
    char name[WIRE_NAME_MAX + 1]; /* durable name */
    char prefix[256];             /* topic prefix */
    uint64_t cursor;              /* cursor as last written to the store */
    uint64_t scan;                /* last feed seq looked at */
    session_feed_item *items;     /* unacknowledged deliveries, sorted by seq */
    size_t n_items, cap_items;
} session_sub;

/*
 * Bytes handed to ZeroMQ for one session and not yet written to its
 * connection. Every frame to the session is sent zero-copy with a release
 * callback that ZeroMQ's I/O thread runs once the frame is written out (or
 * dropped with the connection), so `queued` is exact; the account outlives
 * the session until the last frame is released (reference counted).
 */
typedef struct session_output {
    _Atomic uint64_t queued; /* bytes in ZeroMQ's queue for the connection */
    _Atomic uint32_t refs;   /* the session + frames not yet released */
} session_output;

/* Takes a reference for a frame of len bytes (adds len to queued). */
void session_output_hold(session_output *o, uint64_t len);

/* Releases a frame of len bytes (any thread); frees o with its last reference. */
void session_output_release(session_output *o, uint64_t len);

typedef struct session {
    uint64_t id;                  /* unique within this broker run */
    uint8_t rid[SESSION_RID_MAX]; /* ZeroMQ routing id of the connection */
    size_t rid_len;
    char node_id[NODE_ID_MAX + 1]; /* authenticated node */
    uint32_t roles;                /* roles of its certificate */
    uint64_t cert_serial;          /* certificate the session is bound to */
    char client_name[WIRE_NAME_MAX + 1];
    char client_version[WIRE_NAME_MAX + 1];
    uint32_t credit_messages; /* delivery window: messages */
    uint64_t credit_bytes;    /* delivery window: bytes, 0 = unlimited */
    uint64_t *inflight;       /* delivered, unacknowledged seqs, sorted */
    uint64_t *inflight_len;   /* their envelope sizes */
    size_t n_inflight, cap_inflight;
    uint64_t inflight_bytes;
    uint64_t cursor;                     /* last queue seq looked at in this session */
    uint64_t retry_at_ms; /* earliest skipped next_attempt (or a Nack's estimate of one,
                             never later), 0 = none */
    uint64_t *settled; /* seqs above cursor acked or Nacked during a rescan, sorted */
    size_t n_settled, cap_settled;
    bool blocked;                        /* last send hit the high-water mark */
    bool overflow;                       /* unread output passed the bound: end it */
    bool gone;                           /* its connection is gone: ended in the timer turn */
    session_output *output;              /* what ZeroMQ still holds for it */
    uint32_t publishing;                 /* Publishes being verified or committed */
    uint64_t publishing_bytes;           /* their envelope bytes */
    session_sub *subs[SESSION_MAX_SUBS]; /* open feed subscriptions */
    size_t n_subs;
    size_t sub_rr;                   /* round robin start among subs */
    uint32_t feed_inflight;          /* feed deliveries in flight, all subs */
    uint64_t feed_inflight_bytes;    /* their envelope bytes */
    uint64_t since_ms, last_recv_ms; /* session start, last command */
    uint64_t published, delivered;   /* counters */
    bool packed;                     /* protocol version 2: answers and deliveries packed */
    wire_packer pack;                /* what this turn packed for it (out.c) */
    uint64_t pack_held;              /* its bytes, counted against the output bound */
} session;

/* True if seq is in flight in s. */
bool session_inflight_has(const session *s, uint64_t seq);

/* Adds seq (len bytes) to the in-flight set. 0, or -1 on out of memory. */
int session_inflight_add(session *s, uint64_t seq, uint64_t len);

/* Removes seq from the in-flight set; false if it was not there. */
bool session_inflight_remove(session *s, uint64_t seq);

/*
 * Removes every one of the n seqs that is in flight (an Ack's sequences),
 * moving the rest once instead of once per sequence. Returns how many were.
 */
size_t session_inflight_remove_many(session *s, const uint64_t *seqs, size_t n);

/*
 * The direct queue is rescanned from its start (session_rescan()) once a
 * Nacked delivery is due again or dead letters were replayed, and the scan
 * stops where the window fills: deliveries still in flight may then lie
 * beyond the cursor. One of them acknowledged (or Nacked) later keeps its
 * queue entry until the group commit, which the scan, going on at the next
 * Ack, must not take for a message to deliver. Such sequences are noted
 * (session_settled_add()) and skipped once (session_settled_take());
 * session_rescan() forgets them, called only after a commit.
 */

/* Notes seq as settled while the rescan has not passed it. 0, or -1 on out of memory. */
int session_settled_add(session *s, uint64_t seq);

/* True, and forgets it, if seq was noted settled. */
bool session_settled_take(session *s, uint64_t seq);

/*
 * Starts a rescan of the direct queue from its start: the cursor goes back
 * to 0 and the settled notes are dropped. Call it only when every Ack and
 * Nack of the session is committed.
 */
void session_rescan(session *s);

/* The open subscription called name, or NULL. */
session_sub *session_sub_find(const session *s, const char *name);

/* Opens a subscription (NULL on out of memory or when SESSION_MAX_SUBS are open). */
session_sub *session_sub_add(session *s, const char *name, const char *prefix, uint64_t cursor);

/* Closes a subscription: its unacknowledged deliveries stop counting. */
void session_sub_remove(session *s, session_sub *sub);

/* Index of the item with seq in sub, or -1. */
long session_sub_item(const session_sub *sub, uint64_t seq);

/* Records a delivery of seq (in flight). 0, or -1 on out of memory. */
int session_sub_item_add(session *s, session_sub *sub, uint64_t seq, uint64_t len);

/* Drops item i (acknowledged); updates the session's in-flight counts. */
void session_sub_item_remove(session *s, session_sub *sub, size_t i);

/* The durable cursor the subscription has reached: min(scan, first item - 1). */
uint64_t session_sub_done(const session_sub *sub);

/* The open sessions. */
typedef struct session_table {
    session **items;
    size_t n, cap;
    uint64_t next_id;
} session_table;

/* A new session for rid and node (NULL on out of memory), added to t. */
session *session_open(session_table *t, const uint8_t *rid, size_t rid_len, const cert *c,
                      uint64_t now_ms);

/* Removes and frees s. */
void session_close(session_table *t, session *s);

session *session_by_rid(const session_table *t, const uint8_t *rid, size_t rid_len);
session *session_by_node(const session_table *t, const char *node_id);
session *session_by_id(const session_table *t, uint64_t id);

/* Frees every session. */
void session_table_clear(session_table *t);

#endif
