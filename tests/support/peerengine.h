/*
 * peerengine.h — a raw protocol peer's session engine: the client side of
 * docs/PROTOCOL.md written out on one DEALER link (peerlink.h), without the
 * client library, so a test sees exactly what the broker does. It sends
 * (Publish within a window, at a rate, resending what stays unanswered,
 * pausing on a retryable Rejected), receives (credit, per-sender FIFO and
 * payload checks, duplicate counting, batched Acks, a feed subscription
 * renewed per session), answers heartbeats, and opens a new session with
 * Hello after a disconnect, a Bye or a lost session, until done, the
 * broker ends it for good, the deadline, or the stop flag.
 *
 * Output (stdout, one line each, flushed) — asylink-peer's, which the
 * integration tests read: "event=welcome ..." per session, "event=error|bye
 * code=NAME ..." for session-ending errors, "event=subscribed ..." per
 * Subscribe answered, "event=sub-error code=NAME" when one is refused, and
 * a summary line per role:
 *   sent=N accepted=A duplicates=D rejected=R codes=NAME:n,... resends=X sessions=S timeout=0|1
 *   received=N distinct=D duplicates=U bad=B out_of_order=K redelivered=X sessions=S timeout=0|1
 * Diagnostics go to stderr.
 *
 * Threading: one thread, one event loop over the socket and its monitor.
 */
#ifndef ASYLINK_PEERENGINE_H
#define ASYLINK_PEERENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peernode.h"

/* How a peer run ends (asylink-peer's exit statuses). */
enum {
    PEER_DONE = 0,     /* everything sent was answered (none rejected); enough received */
    PEER_NOT_DONE = 1, /* deadline, rejections, no answer */
    PEER_USAGE = 2,    /* bad arguments or output files */
    PEER_ENDED = 3,    /* the broker ended the session for good (e.g. REVOKED) */
};

/* The sending role. */
typedef struct {
    long count;              /* messages to send */
    long window;             /* unanswered Publishes at most */
    double rate;             /* msgs/s; 0 = unlimited */
    size_t size;             /* payload bytes */
    peernode_seal_spec spec; /* recipients, classification, content type, topic */
    const char *ids_out;     /* file for the ids accepted, one a line; NULL = none */
    const char *sent_out;    /* file for the ids as they are sealed; NULL = none */
} peerengine_send;

/* The receiving role. */
typedef struct {
    long count;           /* distinct messages wanted */
    long window;          /* credit (Hello.initial_credit_messages) */
    bool no_ack;          /* never acknowledge (redelivery tests) */
    long exit_after;      /* stop after this many deliveries; 0 = off */
    bool any_payload;     /* accept any payload (another sender's, e.g. libasylink's)
                             instead of the bytes peernode derives from the message id */
    const char *ids_out;  /* file for the distinct ids received; NULL = none */
    const char *sub_name; /* a feed subscription; NULL = the direct queue */
    const char *prefix;   /* its topic prefix */
    int start;            /* its start: 1 new, 2 earliest */
    bool reset;           /* reset it in the first session */
} peerengine_recv;

/*
 * Runs a session against the broker at endpoint as node n, sending (tx)
 * and/or receiving (rx; either may be NULL), until done, ended, the stop
 * flag (may be NULL) or deadline_ms (clock_now_ms). Prints the summary
 * lines. Returns a PEER_* status.
 */
int peerengine_run(peernode *n, const char *endpoint, const peerengine_send *tx,
                   const peerengine_recv *rx, uint64_t deadline_ms,
                   const volatile sig_atomic_t *stop);

#endif
