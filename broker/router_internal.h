/*
 * router_internal.h — what the files of the router share: the router's
 * state and the steps each file offers the others. Not for anything
 * outside router.c, publish.c, deliver.c, feeds.c and out.c.
 *
 * The files stack one way (each calls only those below it):
 *
 *   router.c   the loop, reading and dispatch, Hello, reload, admin and
 *              metrics hooks, timers, life cycle (router.h)
 *   feeds.c    Subscribe, Unsubscribe, Directory; closing subscriptions
 *              a reloaded policy no longer allows
 *   publish.c  Publish: hand-off to the verify pool, release in arrival
 *              order, the turn's group commit, Accepted / Rejected
 *   deliver.c  delivery within the session's credit (direct queue, then
 *              feeds), Ack / Nack, ending a session
 *   out.c      framing commands (and envelopes) out to a session
 *   notes.c    audit notes of events that change nothing in the store
 *              (audit.h); every file above may note
 *
 * Threading: all of it runs in the router thread (router.h), except the
 * store commit of a group, which the committer thread runs (commit.h)
 * while the router reads, delivers and records the next group.
 */
#ifndef ASYLINK_BROKER_ROUTER_INTERNAL_H
#define ASYLINK_BROKER_ROUTER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "approval.h"
#include "audit.h"
#include "auth.h"
#include "certwatch.h"
#include "router.h"
#include "session.h"
#include "store.h"
#include "verify.h"
#include "view.h"
#include "wire.h"

#define ROUTER_REORDER_CAP 16384  /* Publishes being verified, all sessions */
#define ROUTER_MUTED_CAP 64       /* connections ignored after their session overflowed */
#define FEEDS_MAX_STORED_SUBS 256 /* stored subscriptions (cursors) one node may keep */

/* A connection whose session was ended for not reading: its input is ignored. */
typedef struct {
    uint8_t rid[SESSION_RID_MAX];
    size_t rid_len;
    uint64_t until_ms;
} router_muted;

/* A Publish waiting for the batch commit. */
typedef struct {
    verify_job *job;
    int index; /* operation index in the batch */
} router_pending;

/* A direct Ack's or Nack's operation in the batch, counted once its commit says it took effect. */
typedef struct {
    int index; /* operation index in the batch */
    bool nack; /* a Nack's retry or dead letter; else an Ack's removal */
} router_settle;

/*
 * What the router keeps beside a batch's store operations, by operation
 * index, to act on once its commit returns: the Publishes to answer and the
 * direct Acks and Nacks to count. The batch being built has one, the group
 * in flight another; handing the batch over swaps them, and a finished
 * group's arrays go back to the batch being built when it has none
 * (publish.c), so a steady load allocates nothing.
 */
typedef struct {
    router_pending *pending; /* Publishes */
    size_t n_pending, cap_pending;
    router_settle *settles; /* direct Acks and Nacks */
    size_t n_settles, cap_settles;
} router_batch_refs;

/*
 * Admission refusals of one certificate recorded lately (notes.c): at most
 * one AUTH_FAILED record per certificate, code and endpoint a minute, so
 * that a refused key retrying in a loop cannot fill the audit log.
 */
#define NOTES_REFUSED_SLOTS 32
#define NOTES_REFUSED_EVERY_MS 60000
typedef struct notes_refused {
    char node[NODE_ID_MAX + 1]; /* the certificate's node ("" = free slot) */
    uint64_t serial;            /* and serial */
    int code;                   /* why it was refused */
    bool admin;                 /* on the admin endpoint */
    uint64_t last_ms;           /* when the last record of it was noted */
    uint64_t held;              /* refusals since then not recorded */
} notes_refused;

struct router {
    router_options opt;
    store *store; /* borrowed */
    view *view;   /* current trust + policy (owned reference) */
    void *ctx, *sock, *zap;
    void *admin;                          /* operator admin socket, NULL if none */
    struct conn_monitor *monitor;         /* handshake accounting of sock */
    router_muted muted[ROUTER_MUTED_CAP]; /* ring */
    size_t next_muted;
    verify_pool *pool;
    session_table sessions;
    verify_job **reorder; /* ring by arrival % ROUTER_REORDER_CAP */
    uint64_t next_arrival, next_release;
    uint64_t transit_bytes;  /* envelope bytes of every session's unanswered Publishes */
    store_batch *batch;      /* this turn's operations (the next group while one is in flight) */
    router_batch_refs refs;  /* its Publishes, Acks and Nacks */
    struct committer *committer;   /* pipelined group commit (commit.h); NULL: in the turn */
    store_batch *flight;           /* the group being committed, NULL if none */
    router_batch_refs flight_refs; /* its Publishes, Acks and Nacks */
    uint64_t flight_now_ms; /* the time it was handed over */
    router_stats stats;
    auth_stats auth;
    uint64_t now_ms;
    uint64_t next_hb_check_ms, next_sweep_ms, next_sync_ms, next_metrics_ms;
    uint64_t next_release_ms; /* store_release_pages() */
    uint64_t started_ms;
    certwatch certs;     /* the broker's and the CA's certificate: their end (certwatch.h) */
    audit *audit;        /* the audit trail (borrowed from opt), NULL = none */
    approval *approvals; /* four-eyes: requests held for a second operator; NULL = off */
    notes_refused refused[NOTES_REFUSED_SLOTS]; /* admission refusals recorded lately */
    bool fatal;          /* a store error: stop */
    bool full;           /* the last publishes were refused STORE_FULL (logged once) */
    bool draining;       /* shutting down: lost sessions are not the client's fault */
};

/* ---- out.c: framing out (never blocks; a full or gone peer loses the frame) ---- */

/*
 * Bytes an answer may pass router_options.max_session_output by before the
 * session counts as not reading (deliveries alone stop at the bound).
 */
#define OUT_ANSWER_SLACK (1024 * 1024)

/*
 * Sends [rid][cmd] to the connection rid, charged to its session if it has
 * one. 0, or -1 with errno: EAGAIN (high-water mark), EHOSTUNREACH (gone),
 * ENOMEM, ENOBUFS (the session's unread output passed its bound: it is
 * marked `overflow` and ended by the next timer turn; nothing more is sent).
 */
int out_send(router *r, const uint8_t *rid, size_t rid_len, const wire_cmd *cmd);

/* Bytes a frame's block holds before its data (out.c's account of it). */
#define OUT_FRAME_ROOM 16

/*
 * Sends cmd with an envelope as its zero-copy second frame to s: block is
 * malloc'd, OUT_FRAME_ROOM bytes then the envelope's len bytes
 * (store_message_get_room()); takes block in every case (libzmq frees it
 * once written out). 0, or -1 with errno as out_send(); EAGAIN also when
 * s's queued output is at the bound (the delivery waits).
 */
int out_envelope(router *r, session *s, const wire_cmd *cmd, uint8_t *block, size_t len);

/*
 * Sends what is packed for s (a session of protocol version 2: Accepted,
 * Rejected and Deliver go into one Packed frame per turn, PROTOCOL.md
 * 11.2.1) as one frame. 0 (also when nothing is packed), or -1 with errno
 * as out_send(); at EAGAIN the pack is kept whole.
 */
int out_flush(router *r, session *s);

/*
 * out_flush() for every session, at the end of a turn: a session whose
 * peer is gone is ended; one at its high-water mark is blocked and tried
 * again next turn.
 */
void out_flush_all(router *r);

/* Sends Error(code, reason) and counts a protocol error. */
void out_error(router *r, const uint8_t *rid, size_t rid_len, uint64_t request_id, int code,
               const char *reason, bool fatal);

/* Sends Bye(code, reason) to s. */
void out_bye(router *r, session *s, int code, const char *reason);

/* Counts a rejected Publish and, if s is still open, sends Rejected. */
void out_rejected(router *r, const session *s, const uint8_t id[16], int code, const char *reason,
                  bool retryable);

/* ---- deliver.c: delivery, Ack / Nack ---- */

/* Whether s's message window has room (direct and feed deliveries together). */
bool deliver_window_open(const session *s);

/* Delivers what s may get: its direct queue first, then its feeds. May end s. */
void deliver_session(router *r, session *s);

/* Delivers to node_id's session, if one is open and its window has room. */
void deliver_node(router *r, const char *node_id);

/* Ack / Nack of direct or feed deliveries (c is WIRE_ACK or WIRE_NACK). */
void deliver_acks(router *r, session *s, const wire_cmd *c);

/*
 * Ends a session (s is freed). Its unacknowledged deliveries count as a
 * failed attempt each (redelivered at once in the next session;
 * dead-lettered after max_deliveries), unless the broker itself is the
 * reason (shutdown).
 */
void deliver_session_end(router *r, session *s, const char *why);

/* ---- publish.c: Publish, group commit ---- */

/* Hands a Publish (env: its envelope frame, NULL if none; moved) to the verify pool. */
void publish_submit(router *r, session *s, const wire_cmd *c, zmq_msg_t *env);

/* Takes verified Publishes and adds them to the turn's batch in arrival order. */
void publish_collect(router *r);

/*
 * Commits the turn's batch now, in this thread (after the group in flight,
 * which it waits for), answers its Publishes, delivers what is new; with
 * nothing to commit, writes the audit notes due. For every step that must
 * see the store with all it was told so far (a new session, a
 * subscription opened or closed, an operator request, a cursor reset).
 */
void publish_commit(router *r);

/*
 * The turn's pipelined group commit (durable store; without a committer it
 * is publish_commit(), notes only if flush_notes): answers a finished
 * commit, then, if none is in flight, hands the batch to the committer.
 * Its Publishes are answered by a later call, once it is fsync'd.
 */
void publish_pipeline(router *r, bool flush_notes);

/* Waits for the commit in flight, if any, and answers it. */
void publish_settle(router *r);

/* ---- feeds.c: Subscribe, Unsubscribe, Directory ---- */

#define FEEDS_DIRECTORY_MAX_IDS 256 /* node ids in one DirectoryRequest (BAD_FIELD beyond) */

void feeds_subscribe(router *r, session *s, const wire_cmd *c);
void feeds_unsubscribe(router *r, session *s, const wire_cmd *c);
void feeds_directory(router *r, session *s, const wire_cmd *c);

/* After a policy reload: closes s's subscriptions the node may no longer read. */
void feeds_recheck(router *r, session *s);

/* ---- notes.c: audit notes (no-ops without an audit trail) ---- */

/* A Publish refused before the store (checks, verification, commit failure). */
void notes_rejected(router *r, const char *node, uint64_t serial, const uint8_t id[16], int code,
                    const char *reason);

/* A session opened (CONNECTED) or closed (DISCONNECTED, why). */
void notes_session(router *r, int kind, const session *s, const char *why);

/* A Hello refused (AUTH_FAILED): the node it claimed, the code, why. */
void notes_auth_failed(router *r, const char *node, int code, const char *why);

/*
 * An admission (ZAP) refusal of certificate c with code (auth.h
 * auth_refused_fn; ctx is the router): an AUTH_FAILED note with the
 * certificate's node and serial as actor, at most one per certificate,
 * code and endpoint every NOTES_REFUSED_EVERY_MS (the next one counts the
 * refusals in between).
 */
void notes_admission_refused(void *ctx, const cert *c, int code, bool admin);

/*
 * A delivery to s: store seq, attempt, the message (id, sender, size);
 * subscription and topic for a feed delivery (NULL for direct).
 */
void notes_delivered(router *r, const session *s, uint64_t seq, uint32_t attempt,
                     const uint8_t id[16], const char *sender, uint64_t size,
                     const char *subscription, const char *topic);

/* A feed delivery acknowledged (ACKED) or refused (NACKED, code, reason) by s. */
void notes_feed_ack(router *r, const session *s, int kind, const char *subscription, uint64_t seq,
                    int code, const char *reason);

/* A reload of trust and policy: code (OK or why not) and a detail. */
void notes_reload(router *r, int code, const char *detail);

/* The broker started or stopped (kind), with a detail. */
void notes_lifecycle(router *r, int kind, const char *detail);

#endif
