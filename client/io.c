/*
 * io.c — the client's I/O thread: the only user of the ZeroMQ socket.
 *
 * States: IDLE (no socket; reconnect after a jittered, doubling delay) ->
 * HELLO (socket connected, Hello sent) -> OPEN (Welcome received). In
 * OPEN it publishes the outbox's pending messages (at most `window` without
 * an answer), verifies deliveries and receipts, has them stored and
 * acknowledges them to the broker once that commit is on disk, answers
 * heartbeats. Anything
 * that breaks the session (timeout, Bye, fatal Error) closes the socket and
 * returns to IDLE; after a broker restart the broker answers "Hello first",
 * and the thread says Hello again on the same socket. Every pending message
 * is published again in each new session: the broker deduplicates.
 *
 * Broker addresses: the socket connects to one address of the list at a
 * time (c->endpoints[io->ep]). A monitor on it reports at once what ZeroMQ
 * would otherwise hide behind its own silent reconnects: a refused
 * connection, a failed CURVE handshake, a closed connection (the broker
 * process died). Each of these, like a Hello or heartbeat timeout, ends
 * the attempt or session and moves to the next address; the backoff
 * doubles after each full round of the list without a session.
 *
 * Feeds: in each session the thread sends Subscribe for every subscription
 * the application holds (after Welcome) and the requests application
 * threads queued (DirectoryRequest, Unsubscribe), matching the answers by
 * request_id. Feed deliveries are verified like direct ones (but must carry
 * the Deliver's topic, under one of our prefixes, instead of naming us),
 * stored in the same inbox and acknowledged per subscription. The inbox
 * keys an entry by (sender, message id, subscription): a redelivery
 * through the same subscription is recognised, while the copy another
 * subscription of ours delivers is an entry of its own.
 *
 * Commits: the I/O thread opens no write transaction. What a turn decides
 * that needs the store is an operation of the turn (s_op); the turn is
 * submitted to the committer thread (s_committer_main), which applies every
 * submitted turn, the application's writes handed over (client_io_write:
 * acknowledgements, the senders' outbox commits), the Accepted answers kept
 * and the owed receipts in one transaction, while this thread reads on.
 * A batch is told (writers, events; its turns back here for the Acks,
 * s_collect) only once on disk: in a durable store after the next batch's
 * commit fsync'd its data pages, or after cstore_sync() (DESIGN-CHANGES 37).
 */
#include "client_internal.h"
#include "bytes.h"

#include "batch.h"
#include "clock.h"
#include "flightix.h"
#include "receipt.h"
#include "thread.h"
#include "wire.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define IO_TICK_MS 50
#define IO_RESEND_MS 10000    /* republish what got no answer for this long */
#define IO_RETRY_PAUSE_MS 500 /* pause before republishing after a retryable Rejected */
#define IO_DEFAULT_HEARTBEAT 5000
#define IO_READ_BUDGET 1024
#define IO_MAX_WINDOW 1000
/* Envelope bytes of the Publishes in flight: a broker refuses more than its
   limits.max_in_flight_bytes per session (16 MiB by default, PROTOCOL.md 11.11) and large
   messages would otherwise sit in ZeroMQ's queues here and at the broker, 1,000 of them at a
   time. One message is always sent, whatever its size. */
#define IO_MAX_FLIGHT_BYTES (16u * 1024u * 1024u)
#define IO_FULL_RETRY_MS 1000  /* local store full: store held deliveries again after this */
#define IO_FULL_RETRY_BATCH 16 /* held deliveries stored again per turn */
/* Accepted answers are recorded with the turn's other writes, or after this long or this many
   on their own (each commit is an fsync; losing them to a crash only means a republish, which the
   broker answers as a duplicate). */
#define IO_ACCEPT_LINGER_MS 10
/* On close, how long the socket's last messages (Publishes, Bye) may take to leave (ms). */
#define IO_CLOSE_LINGER_MS 1000
#define IO_ACCEPT_FLUSH_AT 1000
/* The longest wait a broker's Bye.reconnect_after_ms buys (ms): enough for an overloaded broker,
   short enough that a broken or hostile one cannot keep the client from its standby for long. */
#define IO_RECONNECT_AFTER_MAX_MS 60000

enum { IO_IDLE, IO_HELLO, IO_OPEN };

/* A Publish waiting for Accepted/Rejected. */
typedef struct {
    uint8_t id[16];
    uint64_t sent_ms;
    uint64_t seq;   /* its outbox seq */
    uint64_t bytes; /* its envelope's size */
} s_flight;

/*
 * A delivery kept (zero-copy) while the local store is full, to be stored
 * again later instead of ending the session (which would count a failed
 * delivery attempt at the broker and, repeated, dead-letter the message).
 */
typedef struct {
    wire_cmd cmd;  /* the Deliver (no owned pointers) */
    zmq_msg_t env; /* its envelope frame */
} s_held;

typedef struct {
    s_held *items;
    size_t n, cap;
    bool lost; /* one could not be kept (no memory) */
} s_held_list;

/* What a loop turn decided that needs the store: applied by the committer, in order. */
enum { OP_EVENT, OP_ACCEPT, OP_REJECT, OP_DELIVER, OP_RECEIPT, OP_SET_ASIDE };

typedef struct {
    int kind;
    client_event *ev; /* pushed after the commit: OP_EVENT always, ACCEPT and REJECT when it
                         succeeded, RECEIPT (a list) when the receipts were stored */
    uint8_t id[16];   /* ACCEPT, REJECT, DELIVER: the message */
    bool duplicate;   /* ACCEPT */
    uint64_t out_seq; /* ACCEPT: its outbox seq, 0 = not known; SET_ASIDE: the damaged entry */
    int code;         /* REJECT */
    char reason[WIRE_REASON_MAX + 1]; /* REJECT */
    wire_cmd cmd;                     /* DELIVER, RECEIPT: the Deliver (no owned pointers) */
    zmq_msg_t env;                    /* ... its envelope frame (owned) */
    char sender[NODE_ID_MAX + 1];     /* DELIVER: the inbox key, with cmd's subscription */
    uint8_t digest[64];               /* DELIVER: the envelope digest (for early hand-over) */
    bool feed;                        /* DELIVER */
    bool topic;                       /* DELIVER: the envelope has a topic (no receipt) */
    uint64_t now_ms;                  /* DELIVER: when it was received */
    uint8_t (*ids)[16];               /* RECEIPT: the messages (malloc'd) ... */
    asylink_receipt_info *infos;      /* ... and their receipts (malloc'd) */
    size_t n;
    /* What the committer made of it (read by the I/O thread once collected). */
    bool ack;  /* stored (or a duplicate): Ack it */
    bool hold; /* written in the transaction: kept again if the commit finds the store full */
    bool park; /* not written: no room, stored again later */
} s_op;

/*
 * One loop turn's operations. The I/O thread fills it (io->open), submits
 * it at the end of the turn and goes on reading; the committer applies
 * every submitted turn in one transaction, offers the new inbox entries,
 * commits (fsync), settles, pushes the events, and hands the turns back;
 * the I/O thread then Acks what was stored (s_collect).
 */
typedef struct s_cturn {
    struct s_cturn *next;
    s_op *ops;
    size_t n, cap;
    uint64_t session; /* the session its deliveries came in: Acks go out only in it */
    bool store_full;  /* near a full disk: nothing of it handed over before the commit */
    bool db;          /* an operation writes */
    int rc;           /* the commit's result (committer) */
    bool wrote;       /* its batch had a write transaction (committer) */
} s_cturn;

typedef struct {
    asylink_client *c;
    void *ctx, *sock;
    void *mon;              /* PAIR socket receiving sock's monitor events, or NULL */
    uint64_t mon_seq;       /* numbers the monitor's inproc address */
    size_t ep;              /* index of the address in use or tried next */
    size_t tried;           /* addresses tried since the last Welcome */
    client_attempt attempt; /* what this socket's connection attempt found (failure.c) */
    uint64_t failed_attempts; /* attempts that failed since the last Welcome (or the start) */
    int state;
    uint64_t now_ms, state_ms, last_recv_ms, last_send_ms;
    uint64_t backoff_ms, next_connect_ms;
    bool bad_welcome;           /* the Welcome just read is unusable (s_on_welcome): s_reset */
    uint64_t bad_welcome_limit; /* the value below its floor of the last one logged */
    const char *bad_welcome_name; /* and its Limits field (static), NULL = none */
    uint64_t ceiled_interval;     /* heartbeat values above their ceilings last logged */
    uint64_t ceiled_timeout;      /* (s_welcome_ceilings), as announced; 0 = none */
    wire_limits limits;
    uint32_t window;
    s_flight *flight;
    size_t n_flight, cap_flight;
    uint64_t flight_bytes;   /* their envelope bytes */
    flightix flight_ix;      /* flight's entries by message id (flightix.h) */
    batch_cache *proofs;     /* batch proof nodes met in deliveries (batch.h); NULL: none */
    uint64_t out_cursor;     /* outbox seq published up to, this session */
    uint64_t bad_logged;     /* highest unreadable outbox entry logged (s_pump) */
    uint64_t pumped_max;     /* highest outbox seq ever published by this thread */
    uint64_t rescan_at_ms;   /* republish pending messages then (retryable rejects); 0 = none */
    uint64_t trust_check_ms; /* when the trust directory was last looked at */
    uint64_t sweep_ms;       /* when kept sent envelopes were last swept */
    uint64_t retention_ms;   /* when the retention sweep last ran (erasure.c) */
    uint64_t request_id;
    uint64_t session;  /* number of the current session (bumped at Welcome) */
    uint64_t *ack_buf; /* scratch for grouping acks per subscription */
    size_t cap_ack_buf;
    s_cturn *open;            /* this turn's operations, not yet submitted */
    s_held_list parked;       /* deliveries not stored: the local store was full */
    s_held_list waiting;      /* receipts naming a message whose commit is not visible yet */
    uint64_t waiting_settled; /* the oldest of them held while the commit after this many
                                 settled ran ... */
    uint64_t waiting_retried; /* ... or while writers retried, this many retries having ended */
    uint64_t waiting_newest;  /* the newest held while the commit after this many settled ran */
    bool rechecking;          /* s_retry_waiting runs */
    bool recheck_final;       /* ... after every commit running at a hold settled: such a
                                 commit holds a receipt no longer */
    bool retry_logged;        /* a receipt held for a writer's retry was logged (until none
                                 runs) */
    uint64_t flush_reported;  /* cstore_flush_events() logged so far (s_flush_report) */
    uint64_t parked_retry_ms; /* when to store them again */
    bool store_full;          /* the last commit failed with STORE_FULL (logged once) */
    uint32_t hello_version;   /* what this connection's Hello offers: WIRE_PROTOCOL_PACKED, or
                                 WIRE_PROTOCOL_VERSION once the broker refused that */
    uint64_t hello_request;   /* request_id of the last Hello */
    uint32_t protocol;        /* the session's version (Welcome): 2 = Packed frames */
    wire_packer pack;         /* version 2: this pump pass's Publishes, not yet sent */
    s_flight *packed;         /* their message ids: in flight once the frame is queued */
    size_t n_packed, cap_packed;
    uint64_t packed_bytes; /* their envelope bytes */
    uint64_t pack_cursor; /* out_cursor once the frame is queued */
    uint64_t pack_max;    /* highest outbox seq in the frame */
    /* Shared with the committer thread, under c->lock (c->commit_cond signals changes). */
    s_cturn *sub_head, *sub_tail;   /* submitted turns, not yet taken by the committer */
    s_cturn *done_head, *done_tail; /* committed turns, not yet collected */
    bool cm_busy;                   /* the committer is applying and committing a batch */
    bool cm_stop;                   /* the committer ends once nothing is left */
    bool cm_accept;                 /* record the Accepted answers kept, now */
    int cm_flush;                   /* receipts owed: 0, 1 = seal them now, 2 = being sealed */
    client_accept *cm_acc;          /* Accepted answers the committer is recording ... */
    size_t cm_n_acc;                /* ... (not to be published again meanwhile) */
    bool cm_started;                /* the committer thread runs (else the I/O thread commits) */
    pthread_t cm;
} s_io;

/* Nothing in flight any more. */
static void s_flight_clear(s_io *io)
{
    io->n_flight = 0;
    io->flight_bytes = 0;
    flightix_clear(&io->flight_ix);
}

/* Closes every held delivery of l. */
static void s_held_clear(s_held_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        zmq_msg_close(&l->items[i].env);
    l->n = 0;
    l->lost = false;
}

/*
 * The growable array items (n used, *cap allocated elements of size bytes)
 * with room for one more: items itself or its reallocation (doubling, first
 * elements at first); NULL when out of memory (items is then unchanged).
 */
static void *s_room(void *items, size_t n, size_t *cap, size_t size, size_t first)
{
    if (n < *cap)
        return items;
    size_t c = *cap ? 2 * *cap : first;
    void *p = realloc(items, c * size);
    if (p)
        *cap = c;
    return p;
}

/* Keeps a Deliver and its envelope frame (moved from env) in l. */
static void s_held_add(s_held_list *l, const wire_cmd *cmd, zmq_msg_t *env)
{
    s_held *items = s_room(l->items, l->n, &l->cap, sizeof *l->items, 64);
    if (!items) {
        l->lost = true; /* a full store then ends the session: the broker redelivers */
        return;
    }
    l->items = items;
    s_held *h = &l->items[l->n++];
    h->cmd = *cmd;
    zmq_msg_init(&h->env);
    zmq_msg_move(&h->env, env);
}

/*
 * Takes a delivery's envelope into dst (an initialised message): its own
 * frame envm moved (zero-copy), or, for an item of a Packed frame (envm
 * NULL), a copy of env. 0, or -1 (no memory; dst is then empty).
 */
static int s_msg_take(zmq_msg_t *dst, zmq_msg_t *envm, const uint8_t *env, size_t len)
{
    if (envm)
        return zmq_msg_move(dst, envm) == 0 ? 0 : -1;
    if (zmq_msg_close(dst) != 0 || zmq_msg_init_size(dst, len) != 0) {
        zmq_msg_init(dst);
        return -1;
    }
    memcpy(zmq_msg_data(dst), env, len);
    return 0;
}

/* s_held_add for a delivery's envelope as s_msg_take() takes it; -1: not kept (no memory). */
static int s_held_keep(s_held_list *l, const wire_cmd *cmd, zmq_msg_t *envm, const uint8_t *env,
                       size_t len)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    size_t before = l->n;
    if (s_msg_take(&m, envm, env, len) == 0)
        s_held_add(l, cmd, &m);
    zmq_msg_close(&m); /* (moved into l, or not kept) */
    return l->n > before ? 0 : -1;
}

/* ---- sending ---- */

static int s_send(s_io *io, wire_cmd *cmd, const uint8_t *env, size_t env_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!io->sock || wire_encode(cmd, &buf, &len) != ASYLINK_OK)
        return -1;
    int rc = zmq_send(io->sock, buf, len, ZMQ_DONTWAIT | (env ? ZMQ_SNDMORE : 0));
    if (rc >= 0 && env)
        rc = zmq_send(io->sock, env, env_len, ZMQ_DONTWAIT);
    free(buf);
    if (rc >= 0)
        io->last_send_ms = io->now_ms;
    return rc < 0 ? -1 : 0;
}

static void s_send_hello(s_io *io)
{
    wire_cmd h = {.kind = WIRE_HELLO, .request_id = ++io->request_id};
    if (io->hello_version != WIRE_PROTOCOL_VERSION)
        io->hello_version = WIRE_PROTOCOL_PACKED;
    h.u.hello.protocol_version = io->hello_version;
    io->hello_request = h.request_id;
    snprintf(h.u.hello.node_id, sizeof h.u.hello.node_id, "%s", io->c->own->node_id);
    snprintf(h.u.hello.client_name, sizeof h.u.hello.client_name, "libasylink");
    snprintf(h.u.hello.client_version, sizeof h.u.hello.client_version, "%s", asylink_version());
    h.u.hello.initial_credit_messages = io->c->receive_window;
    h.u.hello.client_time_ms = io->now_ms;
    s_send(io, &h, NULL, 0);
    io->state = IO_HELLO;
    io->state_ms = io->now_ms;
}

/* ---- connection ---- */

/*
 * Closes the socket: what it still queues is dropped after linger_ms
 * (0 when a session is given up: the outbox sends it again; on close, a
 * short bound so that the last Publishes and the Bye leave).
 */
static void s_close_socket_linger(s_io *io, int linger_ms)
{
    if (!io->sock)
        return;
    int linger = 0;
    if (io->mon) {
        zmq_socket_monitor(io->sock, NULL, 0);
        zmq_setsockopt(io->mon, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(io->mon);
        io->mon = NULL;
    }
    zmq_setsockopt(io->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
    zmq_close(io->sock);
    io->sock = NULL;
}

static void s_close_socket(s_io *io)
{
    s_close_socket_linger(io, 0);
}

/* The address of the current socket (or of the next attempt). */
static const char *s_endpoint(const s_io *io)
{
    return io->c->endpoints[io->ep];
}

/* A new event carrying the current address (malloc'd; NULL when out of memory). */
static client_event *s_event_new(const s_io *io, asylink_event_type type, const uint8_t id[16],
                                 int code, const char *reason, const char *node)
{
    client_event *e = client_event_new(type, id, code, reason, node);
    if (e)
        client_copy_str(e->endpoint, sizeof e->endpoint, s_endpoint(io));
    return e;
}

static void s_later_event(s_io *io, asylink_event_type type, const uint8_t id[16], int code,
                          const char *reason, const char *node);

/* The session is over (the socket may stay, see s_on_error): tell the application. */
static void s_session_lost(s_io *io, const char *why, int code)
{
    asylink_client *c = io->c;
    atomic_store(&c->connected, false);
    client_conn_set(c, io->ep, NULL, false, io->now_ms);
    s_later_event(io, ASYLINK_EVENT_DISCONNECTED, NULL, code, why, NULL);
    s_held_clear(&io->parked); /* the broker redelivers them in the next session */
    s_held_clear(&io->waiting);
}

/*
 * Logs an attempt that opened no session: not "session ended", there was
 * none. While the broker stays out of reach the attempts repeat with every
 * backoff, so they are DEBUG: client_failure_record() has already logged
 * why at WARN, once per new reason ("no session with the broker").
 */
static void s_log_failed_attempt(s_io *io, const char *why, int code)
{
    io->failed_attempts++;
    client_log(io->c, ASYLINK_LOG_DEBUG, "connection attempt failed",
               "reason=%s code=%s endpoint=%s attempts=%llu", CLIENT_Q(why), asylink_err_name(code),
               CLIENT_Q(s_endpoint(io)), (unsigned long long)io->failed_attempts);
}

/*
 * Ends the session or attempt and picks the next address. Reconnects after
 * the jittered backoff, and not before delay_ms (a broker's
 * Bye.reconnect_after_ms, 0 = none; at most IO_RECONNECT_AFTER_MAX_MS),
 * whichever address comes next: an overloaded broker that asks its
 * clients to come back later is not answered by a bounce to its standby
 * and back.
 */
static void s_reset(s_io *io, const char *why, int code, uint64_t delay_ms)
{
    asylink_client *c = io->c;
    char what[512];
    if (io->state == IO_OPEN) {
        s_session_lost(io, why, code);
        snprintf(what, sizeof what, "the session with the broker at %.200s ended: %.250s",
                 s_endpoint(io), why);
        client_failure_record(c, code, what, s_endpoint(io), false);
    } else if (code == ASYLINK_E_TIMEOUT || code == ASYLINK_E_IO || code == ASYLINK_E_UNAVAILABLE) {
        client_attempt_failed(c, &io->attempt, code, why);
    } else if (io->bad_welcome) { /* a Welcome no conforming broker sends */
        snprintf(what, sizeof what, "the broker at %.200s broke the protocol: %.250s",
                 s_endpoint(io), why);
        client_attempt_failed(c, &io->attempt, code, what);
    } else { /* a fatal Error or a Bye before Welcome */
        snprintf(what, sizeof what, "the broker at %.200s refused to open a session: %.250s",
                 s_endpoint(io), why);
        client_attempt_failed(c, &io->attempt, code, what);
    }
    if (io->state == IO_OPEN)
        client_log(c, ASYLINK_LOG_INFO, "session ended", "reason=%s code=%s endpoint=%s",
                   CLIENT_Q(why), asylink_err_name(code), CLIENT_Q(s_endpoint(io)));
    else
        s_log_failed_attempt(io, why, code);
    s_close_socket(io);
    io->state = IO_IDLE;
    s_flight_clear(io);
    io->ep = (io->ep + 1) % c->n_endpoints;
    io->tried++;
    uint64_t jitter = randombytes_uniform((uint32_t)(io->backoff_ms / 2 + 1));
    uint64_t wait = delay_ms < IO_RECONNECT_AFTER_MAX_MS ? delay_ms : IO_RECONNECT_AFTER_MAX_MS;
    if (delay_ms)
        client_log(c, ASYLINK_LOG_INFO, "broker asked to wait before reconnecting",
                   "asked_ms=%llu wait_ms=%llu next_endpoint=%s", (unsigned long long)delay_ms,
                   (unsigned long long)wait, CLIENT_Q(s_endpoint(io)));
    /* The jitter on top: clients told the same wait do not all come back at once. */
    io->next_connect_ms = io->now_ms + wait + io->backoff_ms / 2 + jitter;
    if (io->tried % c->n_endpoints == 0) /* a full round of the list without a session */
        io->backoff_ms =
            io->backoff_ms * 2 > c->reconnect_max_ms ? c->reconnect_max_ms : io->backoff_ms * 2;
}

/* Monitor events that end an attempt or a session. */
#define IO_MONITOR_END                                                                             \
    (ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |   \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
/* ... and those that only tell how far an attempt got (failure.c). */
#define IO_MONITOR_EVENTS (IO_MONITOR_END | ZMQ_EVENT_CONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED)

/* Attaches a monitor to io->sock (before it connects). -1 on failure. */
static int s_monitor(s_io *io)
{
    char addr[96];
    snprintf(addr, sizeof addr, "inproc://asylink-io-monitor-%p-%llu", (void *)io,
             (unsigned long long)++io->mon_seq);
    if (zmq_socket_monitor(io->sock, addr, IO_MONITOR_EVENTS) != 0)
        return -1;
    io->mon = zmq_socket(io->ctx, ZMQ_PAIR);
    if (!io->mon || zmq_connect(io->mon, addr) != 0)
        return -1;
    return 0;
}

/* Reads one monitor event: its number (and *value), or 0 if none is waiting. */
static uint16_t s_monitor_event(s_io *io, uint32_t *value)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    *value = 0;
    if (zmq_msg_recv(&m, io->mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return 0;
    }
    uint16_t ev = 0;
    if (zmq_msg_size(&m) >= 2)
        memcpy(&ev, zmq_msg_data(&m), 2); /* event number, native byte order */
    if (zmq_msg_size(&m) >= 6)
        memcpy(value, (const uint8_t *)zmq_msg_data(&m) + 2, 4); /* e.g. the ZAP status */
    while (zmq_msg_more(&m)) {                                   /* the address frame */
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, io->mon, 0) < 0)
            break;
    }
    zmq_msg_close(&m);
    return ev;
}

/* Acts on the socket's monitor: a refused, failed or closed connection moves on. */
static void s_read_monitor(s_io *io)
{
    while (io->mon) {
        uint32_t value;
        uint16_t ev = s_monitor_event(io, &value);
        if (ev == 0)
            return;
        if (io->state != IO_OPEN) /* why an attempt fails, for asylink_connect_failure_get() */
            client_attempt_event(io->c, &io->attempt, ev, value);
        if (ev == ZMQ_EVENT_DISCONNECTED)
            return s_reset(io, "connection to the broker lost", ASYLINK_E_UNAVAILABLE, 0);
        if (ev == ZMQ_EVENT_CONNECT_RETRIED)
            return s_reset(io, "cannot connect to the broker", ASYLINK_E_UNAVAILABLE, 0);
        if (ev & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                  ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
            return s_reset(io, "CURVE handshake with the broker failed", ASYLINK_E_UNAVAILABLE, 0);
    }
}

static int s_connect(s_io *io)
{
    asylink_client *c = io->c;
    client_attempt_start(&io->attempt, s_endpoint(io));
    io->sock = zmq_socket(io->ctx, ZMQ_DEALER);
    if (!io->sock)
        return -1;
    int hwm = 100000, linger = 0;
    int ivl = (int)c->reconnect_min_ms, ivl_max = (int)c->reconnect_max_ms;
    if (zmq_setsockopt(io->sock, ZMQ_CURVE_SERVERKEY, c->broker->box_pk, 32) != 0 ||
        zmq_setsockopt(io->sock, ZMQ_CURVE_PUBLICKEY, c->keys->box_pk, 32) != 0 ||
        zmq_setsockopt(io->sock, ZMQ_CURVE_SECRETKEY, c->keys->box_sk, 32) != 0 ||
        zmq_setsockopt(io->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(io->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(io->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(io->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) != 0 ||
        zmq_setsockopt(io->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) != 0 ||
        s_monitor(io) != 0 || zmq_connect(io->sock, s_endpoint(io)) != 0) {
        s_close_socket(io);
        return -1;
    }
    io->state = IO_HELLO;
    io->state_ms = io->now_ms;
    io->last_recv_ms = io->now_ms;
    io->request_id++;
    io->hello_version = WIRE_PROTOCOL_PACKED; /* a new connection offers version 2 again */
    io->protocol = WIRE_PROTOCOL_VERSION;
    return 0;
}

/* ---- the turn's operations ---- */

/* A new operation of kind in this turn (zeroed); NULL when out of memory. */
static s_op *s_op_add(s_io *io, int kind)
{
    if (!io->open && !(io->open = calloc(1, sizeof *io->open)))
        return NULL;
    s_cturn *u = io->open;
    s_op *ops = s_room(u->ops, u->n, &u->cap, sizeof *u->ops, 16);
    if (!ops)
        return NULL;
    u->ops = ops;
    s_op *op = &u->ops[u->n++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    zmq_msg_init(&op->env);
    if (kind != OP_EVENT)
        u->db = true;
    return op;
}

/* Frees a collected turn: its frames, receipts and the events nobody took. */
static void s_cturn_free(s_cturn *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++) {
        s_op *op = &u->ops[i];
        zmq_msg_close(&op->env);
        free(op->ids);
        free(op->infos);
        while (op->ev) {
            client_event *e = op->ev;
            op->ev = e->next;
            free(e);
        }
    }
    free(u->ops);
    free(u);
}

static void s_later_event(s_io *io, asylink_event_type type, const uint8_t id[16], int code,
                          const char *reason, const char *node)
{
    client_event *e = s_event_new(io, type, id, code, reason, node);
    s_op *op = e ? s_op_add(io, OP_EVENT) : NULL;
    if (op)
        op->ev = e;
    else
        free(e);
}

static void s_send_acks(s_io *io, const uint64_t *seqs, size_t n, int kind, int code,
                        const char *sub, int disposition)
{
    size_t batch = io->limits.max_ack_batch ? io->limits.max_ack_batch : 100;
    for (size_t i = 0; i < n; i += batch) {
        wire_cmd a = {.kind = kind};
        a.u.ack.sequences = (uint64_t *)seqs + i;
        a.u.ack.n_sequences = n - i < batch ? n - i : batch;
        bytes_str_copy(a.u.ack.subscription, sizeof a.u.ack.subscription, sub ? sub : "");
        a.u.ack.disposition = disposition;
        a.u.ack.code = code;
        s_send(io, &a, NULL, 0);
    }
}

/* The subscription an operation's delivery came by ("" = direct queue). */
static const char *s_op_sub(const s_op *op)
{
    return op->kind == OP_DELIVER ? op->cmd.u.deliver.subscription : "";
}

/* Sends the Acks of a committed turn, one group per subscription (direct queue: ""). */
static void s_send_turn_acks(s_io *io, s_cturn *u)
{
    if (io->cap_ack_buf < u->n) {
        uint64_t *b = realloc(io->ack_buf, u->n * sizeof *b);
        if (!b)
            return; /* not acked now: the broker redelivers, the inbox deduplicates */
        io->ack_buf = b;
        io->cap_ack_buf = u->n;
    }
    for (size_t i = 0; i < u->n; i++) {
        if (!u->ops[i].ack)
            continue; /* went out with an earlier group, or nothing to ack */
        size_t n = 0;
        const char *sub = s_op_sub(&u->ops[i]);
        for (size_t k = i; k < u->n; k++) {
            if (!u->ops[k].ack || strcmp(s_op_sub(&u->ops[k]), sub) != 0)
                continue;
            io->ack_buf[n++] = u->ops[k].cmd.u.deliver.sequence;
            if (k > i)
                u->ops[k].ack = false;
        }
        s_send_acks(io, io->ack_buf, n, WIRE_ACK, 0, sub, 0);
        u->ops[i].ack = false;
    }
}

/* Records one Accepted answer with the turn's writes; the event follows the commit. */
static void s_record_accepted(s_io *io, const uint8_t id[16], bool duplicate, uint64_t seq)
{
    s_op *op = s_op_add(io, OP_ACCEPT);
    if (!op)
        return; /* not recorded: a republish is answered as a duplicate */
    memcpy(op->id, id, 16);
    op->duplicate = duplicate;
    op->out_seq = seq;
    op->ev = s_event_new(io, ASYLINK_EVENT_ACCEPTED, id, 0, duplicate ? "duplicate" : "", NULL);
}

/* Records a refusal for good (the outbox entry REJECTED); the event follows the commit. */
static void s_later_reject(s_io *io, const uint8_t id[16], int code, const char *reason)
{
    s_op *op = s_op_add(io, OP_REJECT);
    if (!op)
        return; /* not recorded: still pending, published again in the next session */
    memcpy(op->id, id, 16);
    op->code = code;
    bytes_str_copy(op->reason, sizeof op->reason, reason ? reason : "");
    op->ev = s_event_new(io, ASYLINK_EVENT_REJECTED, id, code, reason, NULL);
}

/* Keeps an Accepted answer to record later; false if it cannot (no memory: record it now). */
static bool s_accept_later(s_io *io, const uint8_t id[16], bool duplicate, uint64_t seq)
{
    asylink_client *c = io->c;
    pthread_mutex_lock(&c->lock);
    client_accept *acc = s_room(c->accepted, c->n_accepted, &c->cap_accepted, sizeof *acc, 64);
    if (acc) {
        c->accepted = acc;
        if (c->n_accepted == 0)
            c->accepted_since_ms = io->now_ms;
        acc[c->n_accepted] = (client_accept){.duplicate = duplicate, .ep = io->ep, .seq = seq};
        memcpy(acc[c->n_accepted].id, id, 16);
        c->n_accepted++;
    }
    pthread_mutex_unlock(&c->lock);
    return acc != NULL;
}

/* Whether an Accepted answer for id waits to be recorded (or is being recorded). */
static bool s_accept_has(s_io *io, const uint8_t id[16])
{
    asylink_client *c = io->c;
    bool found = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_accepted && !found; i++)
        found = memcmp(c->accepted[i].id, id, 16) == 0;
    for (size_t i = 0; i < io->cm_n_acc && !found; i++)
        found = memcmp(io->cm_acc[i].id, id, 16) == 0;
    for (size_t i = 0; i < c->n_acc_sending && !found; i++) /* a senders' group commit's */
        found = memcmp(c->acc_sending[i].id, id, 16) == 0;
    pthread_mutex_unlock(&c->lock);
    return found;
}

/*
 * Has the committer record the Accepted answers kept so far when the oldest
 * has waited IO_ACCEPT_LINGER_MS, when IO_ACCEPT_FLUSH_AT are kept, or
 * (force) when the thread stops. (Any commit of the committer records them
 * too, and so does the senders' group commit.)
 */
static void s_accepted_flush(s_io *io, bool force)
{
    asylink_client *c = io->c;
    pthread_mutex_lock(&c->lock);
    bool due = c->n_accepted && !io->cm_accept &&
               (force || c->n_accepted >= IO_ACCEPT_FLUSH_AT ||
                io->now_ms >= c->accepted_since_ms + IO_ACCEPT_LINGER_MS);
    if (due) {
        io->cm_accept = true;
        pthread_cond_broadcast(&c->commit_cond);
    }
    pthread_mutex_unlock(&c->lock);
}

/* How long the poll may wait for the Accepted answers kept (ms). */
static long s_accepted_wait(s_io *io, long tick)
{
    asylink_client *c = io->c;
    pthread_mutex_lock(&c->lock);
    size_t n = io->cm_accept ? 0 : c->n_accepted; /* asked for already: the committer's */
    uint64_t since = c->accepted_since_ms;
    pthread_mutex_unlock(&c->lock);
    if (!n)
        return tick;
    uint64_t due = since + IO_ACCEPT_LINGER_MS;
    return io->now_ms >= due                 ? 0
           : (long)(due - io->now_ms) < tick ? (long)(due - io->now_ms)
                                             : tick;
}

/*
 * Has the committer seal the receipts owed once they are due (at most one
 * flush asked for or running at a time). Returns how long the poll may wait
 * for them (ms).
 */
static long s_receipts_ask(s_io *io, long tick)
{
    asylink_client *c = io->c;
    pthread_mutex_lock(&c->lock);
    bool asked = io->cm_flush != 0;
    pthread_mutex_unlock(&c->lock);
    if (asked)
        return tick; /* the committer's now; it wakes us when done */
    uint64_t wait = UINT64_MAX;
    if (client_receipts_due(c, io->now_ms, &wait)) {
        pthread_mutex_lock(&c->lock);
        if (io->cm_flush == 0)
            io->cm_flush = 1;
        pthread_cond_broadcast(&c->commit_cond);
        pthread_mutex_unlock(&c->lock);
        return tick;
    }
    return wait < (uint64_t)tick ? (long)wait : tick;
}

/*
 * A commit whose new outbox entries went out early failed with rc: counts
 * the writes it carried that their writers will try once more themselves
 * (client_io_write: on IO or STORE_FULL; a write that failed on its own
 * added nothing). Until those attempts end, a receipt naming a message the
 * outbox does not hold is kept, not dropped (s_on_receipt). Counted before
 * the commit is settled, so that no receipt is judged in between.
 */
static void s_writes_retrying(asylink_client *c, client_write *ws, int rc)
{
    if (rc != ASYLINK_E_IO && rc != ASYLINK_E_STORE_FULL)
        return;
    pthread_mutex_lock(&c->lock);
    for (; ws; ws = ws->next) {
        if (ws->rc == ASYLINK_OK && !ws->retrying) {
            ws->retrying = true;
            c->writes_retrying++;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

/* Whether writers are trying again on their own; *retried: how many such attempts ended. */
static bool s_writes_pending_retry(asylink_client *c, uint64_t *retried)
{
    pthread_mutex_lock(&c->lock);
    bool pending = c->writes_retrying > 0;
    *retried = c->writes_retried;
    pthread_mutex_unlock(&c->lock);
    return pending;
}

/*
 * Tells the writers of ws how they ended: rc for those the commit carried.
 * visible: the commit succeeded and only a flush failed: what they wrote is
 * in the store, so they do not write it again (client_io_write).
 */
static void s_writes_done(asylink_client *c, client_write *ws, int rc, bool visible)
{
    if (!ws)
        return;
    pthread_mutex_lock(&c->lock);
    while (ws) {
        client_write *next = ws->next; /* ws lives on its writer's stack */
        if (ws->rc == ASYLINK_OK) {
            ws->rc = rc;
            ws->applied = visible && rc != ASYLINK_OK;
        }
        ws->done = true;
        ws = next;
    }
    pthread_cond_broadcast(&c->done_cond); /* only the writers wait for it */
    pthread_mutex_unlock(&c->lock);
}

/* The thread stops: writers write themselves from now on, and those waiting do (E_IO). */
static void s_writes_stop(asylink_client *c)
{
    pthread_mutex_lock(&c->lock);
    c->io_writes = false;
    client_write *ws = c->writes;
    c->writes = c->writes_tail = NULL;
    pthread_mutex_unlock(&c->lock);
    for (client_write *w = ws; w; w = w->next)
        w->rc = ASYLINK_E_IO;
    s_writes_done(c, ws, ASYLINK_E_IO, false);
}

/* ---- the committer: applies and commits the submitted turns ---- */

/* What one batch's transaction has room for (cstore_room, asked once). */
typedef struct {
    cstore_txn *t;
    uint64_t room;
    bool known;
} s_batch_room;

/* Whether a delivery of len bytes may be stored: near a full disk the reserve stays for acks. */
static bool s_room_for(s_batch_room *r, size_t len)
{
    if (!r->known)
        r->room = cstore_room(r->t);
    r->known = true;
    uint64_t need = (uint64_t)len + CLIENT_PAGE_SLACK;
    if (r->room < need)
        return false;
    r->room -= need;
    return true;
}

/* Applies one operation in t (NULL: no transaction could be begun). */
static void s_apply(asylink_client *c, const s_cturn *u, s_op *op, s_batch_room *r,
                    client_early_list *early, bool *changed)
{
    cstore_txn *t = r->t;
    const uint8_t *env = zmq_msg_data(&op->env);
    size_t len = zmq_msg_size(&op->env);
    switch (op->kind) {
    case OP_ACCEPT:
        if (t) {
            client_accept a = {.duplicate = op->duplicate, .seq = op->out_seq};
            memcpy(a.id, op->id, 16);
            client_accepted_record(c, t, &a, 1, clock_now_ms());
            if (a.fate != CLIENT_ACCEPT_TELL) { /* told before; or held (below) */
                free(op->ev);
                op->ev = NULL;
            }
            client_accept *k = a.fate == CLIENT_ACCEPT_HOLD ? malloc(sizeof *k) : NULL;
            if (k) { /* recorded again with the kept ones: told if the writer's retry fails too */
                *k = a;
                client_accepted_put_back(c, k, 1, NULL, NULL);
            }
        }
        return;
    case OP_REJECT:
        if (t) {
            bool first = false; /* (an entry told of before: no REJECTED after it) */
            if (cstore_outbox_reject(t, op->id, op->code, op->reason, &first) == ASYLINK_OK &&
                !first) {
                free(op->ev);
                op->ev = NULL;
            }
        }
        return;
    case OP_SET_ASIDE:
        if (t) /* (failing: still pending; the next client opened on the store sets it aside) */
            (void)cstore_outbox_set_aside(t, op->out_seq);
        return;
    case OP_RECEIPT:
        if (!t)
            return; /* not stored, not acked: the broker redelivers it */
        if (!s_room_for(r, len)) {
            op->park = true;
            return;
        }
        op->hold = true;
        op->ack = cstore_receipt_put_many(t, (const uint8_t(*)[16])op->ids, op->infos, op->n, env,
                                          len) == ASYLINK_OK;
        *changed = *changed || op->ack;
        return;
    case OP_DELIVER: {
        if (!t)
            return;
        if (!s_room_for(r, len)) {
            op->park = true; /* no room: stored later, not acked now */
            return;
        }
        cstore_in_key key = {
            .id = op->id, .sender = op->sender, .subscription = op->cmd.u.deliver.subscription};
        int state = 0;
        cstore_in_extra extra = {op->digest, op->topic};
        int rc = cstore_inbox_add_extra(t, &key, op->cmd.u.deliver.sequence, op->now_ms, env, len,
                                        &extra, &state);
        op->hold = true; /* a full store fails the commit: kept to store again */
        op->ack = rc == ASYLINK_OK || rc == ASYLINK_E_DUPLICATE;
        *changed = *changed || rc == ASYLINK_OK;
        /* Offered to asylink_recv() before the commit (early.c); not near a full disk. A copy
           that does not fit there is handed over after the commit, as every one was before.
           One not offered closes the list: recv's cursor must not pass it (a batch may carry
           a turn submitted near a full disk before one submitted after). */
        if (rc == ASYLINK_OK && u->store_full)
            early->closed = true;
        else if (rc == ASYLINK_OK)
            (void)client_early_add(early, &key, cstore_inbox_added_seq(t),
                                   op->cmd.u.deliver.sequence, op->now_ms, env, len, op->digest,
                                   op->feed);
        return;
    }
    default: return;
    }
}

/* Appends list (linked by next) to *head / *tail. */
static void s_events_append(client_event **head, client_event **tail, client_event *list)
{
    while (list) {
        client_event *e = list;
        list = e->next;
        e->next = NULL;
        if (*tail)
            (*tail)->next = e;
        else
            *head = e;
        *tail = e;
    }
}

/* A batch committed (visible), whose outcome is told once it is on disk (s_batch_finish). */
typedef struct {
    s_cturn *turns;      /* the submitted turns it applied */
    client_write *ws;    /* the application's writes it carried */
    bool accept;         /* recording the Accepted answers kept was asked for */
    bool flush;          /* a receipts flush was asked for ... */
    client_flush *fl;    /* ... and prepared */
    int flush_rc;        /* ... its own outcome */
    client_accept *acc;  /* the Accepted answers it recorded */
    size_t n_acc;        /* ... */
    bool changed;        /* the inbox or the receipts changed */
    bool began;          /* a write transaction was begun */
    bool wrote;          /* its commit wrote and fsync'd data pages */
    bool visible;        /* its commit succeeded: what it wrote is in the store (on disk or not) */
    uint64_t flush_mark; /* the store's failed flushes before its commit (cstore_flush_mark) */
    int rc;              /* the commit's result (with sync: and the flush's) */
} s_batch;

/*
 * Applies a batch: the Accepted answers kept, the submitted turns'
 * operations in order, the application's writes (nested: each all or
 * nothing) and, when asked, the receipts owed, in one transaction. The new
 * inbox entries are offered to asylink_recv() before the commit and settled
 * after it. sync: the commit is on disk when this returns; else only
 * visible (cstore_commit_unsynced), and the caller tells nothing of it
 * before a later commit that wrote or cstore_sync() has put it on disk.
 */
static void s_batch_commit(s_io *io, s_batch *b, bool sync)
{
    asylink_client *c = io->c;
    b->flush_rc = b->flush ? client_receipts_flush_begin(c, &b->fl) : ASYLINK_OK;
    bool db = b->ws || b->fl || b->accept;
    for (s_cturn *u = b->turns; u; u = u->next)
        db = db || u->db;
    b->rc = ASYLINK_OK;
    s_batch_room r = {0};
    if (db)
        b->rc = cstore_begin(c->store, &r.t);
    b->began = r.t != NULL;
    b->flush_mark = cstore_flush_mark(c->store); /* (taken once the transaction is open) */
    /* The Accepted answers kept ride any commit (each would otherwise cost one). */
    if (r.t) {
        pthread_mutex_lock(&c->lock);
        io->cm_acc = b->acc = c->accepted;
        io->cm_n_acc = b->n_acc = c->n_accepted;
        c->accepted = NULL;
        c->n_accepted = c->cap_accepted = 0;
        pthread_mutex_unlock(&c->lock);
        client_accepted_record(c, r.t, b->acc, b->n_acc, clock_now_ms());
    }
    /* A reader far behind takes this batch's entries after their commit anyway: copies for an
       early hand-over would go unused (stored and handed over after the commit, as before). */
    pthread_mutex_lock(&c->lock);
    bool behind = c->inbox_stored > c->recv_cursor + CLIENT_EARLY_BEHIND;
    pthread_mutex_unlock(&c->lock);
    client_early_list early = {.closed = behind};
    for (s_cturn *u = b->turns; u; u = u->next)
        for (size_t i = 0; i < u->n; i++)
            s_apply(c, u, &u->ops[i], &r, &early, &b->changed);
    /* The outbox entries the writes add are published while the commit's fsync runs; a write
       that fails added nothing (its nested transaction is undone), nor do its notes stay. */
    client_early_out_list pub = {0};
    client_early_out_collect(&pub);
    for (client_write *w = b->ws; w; w = w->next) {
        client_early_out_list mark = pub;
        w->rc = r.t ? cstore_nested(r.t, w->fill, w->arg) : ASYLINK_E_IO;
        if (w->rc != ASYLINK_OK)
            client_early_out_truncate(&pub, &mark);
    }
    if (b->fl && r.t) {
        client_early_out_list mark = pub;
        b->flush_rc = cstore_nested(r.t, client_receipts_flush_fill, b->fl);
        if (b->flush_rc != ASYLINK_OK)
            client_early_out_truncate(&pub, &mark);
    }
    client_early_out_collect(NULL);
    if (r.t) {
        /* What this batch stored may be handed over while the commit's fsync runs. */
        uint64_t added = cstore_inbox_added_seq(r.t);
        client_early_offer(c, &early);
        bool out = pub.head != NULL;
        if (out) {
            client_early_out_offer(c, &pub);
            client_wake_io(c);
        }
        /* (With sync, the meta page's flush follows once the early lists are settled.) */
        b->rc = cstore_commit_unsynced(&r.t, &b->wrote);
        b->visible = b->rc == ASYLINK_OK;
        if (out && b->rc != ASYLINK_OK)
            s_writes_retrying(c, b->ws, b->rc);
        client_early_out_settle(c, b->rc);
        if (b->rc == ASYLINK_OK && added) {
            pthread_mutex_lock(&c->lock);
            if (added > c->inbox_stored)
                c->inbox_stored = added;
            pthread_mutex_unlock(&c->lock);
        }
        /* Committed and visible: an acknowledgement may find the entries (it rides a later
           commit, on disk only after this one). */
        client_early_settle(c, b->rc);
        if (sync && b->visible)
            b->rc = cstore_sync(c->store);
    }
    client_early_clear(&early); /* (empty unless no transaction took it) */
    client_early_out_clear(&pub);
    if (!b->visible && b->acc) {
        /* Not recorded: kept again before a rescan can miss them (s_accept_has), and no longer
           named io->cm_acc from the same step (put back may move or free the array). */
        client_accepted_put_back(c, b->acc, b->n_acc, &io->cm_acc, &io->cm_n_acc);
        b->acc = NULL;
        b->n_acc = 0;
    }
    pthread_mutex_lock(&c->lock);
    io->cm_acc = NULL; /* recorded and visible now (or put back above or in s_batch_finish) */
    io->cm_n_acc = 0;
    pthread_mutex_unlock(&c->lock);
}

/*
 * Tells a batch's outcome once it is on disk (rc: its commit's result, or
 * the fdatasync's that put it there): the writers, the Accepted answers,
 * the readers, the events; its turns go back to the I/O thread for the Acks.
 */
static void s_batch_finish(s_io *io, s_batch *b, int rc)
{
    asylink_client *c = io->c;
    /* A flush of any thread failed since its commit began: the kernel may have dropped its
       pages, and the flush that put it "on disk" said OK all the same (cstore.h). */
    if (rc == ASYLINK_OK && b->began && !cstore_flush_clean_since(c->store, b->flush_mark))
        rc = ASYLINK_E_IO;
    if (b->flush)
        client_receipts_flush_end(c, b->fl, rc != ASYLINK_OK ? rc : b->flush_rc);
    s_writes_done(c, b->ws, rc, b->visible);
    pthread_mutex_lock(&c->lock);
    if (b->changed && (rc == ASYLINK_OK || b->visible)) { /* stored, if perhaps not on disk */
        c->store_changes++;
        client_update_readable(c);
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    client_event *head = NULL, *tail = NULL;
    if (rc == ASYLINK_OK) {
        s_events_append(&head, &tail, client_accepted_settle(c, b->acc, b->n_acc));
    } else if (b->acc) {
        client_accepted_put_back(c, b->acc, b->n_acc, NULL, NULL); /* by a later commit */
    }
    /* The turns' events, in the order they happened. */
    for (s_cturn *u = b->turns; u; u = u->next) {
        for (size_t i = 0; i < u->n; i++) {
            s_op *op = &u->ops[i];
            bool tell = op->kind == OP_EVENT ||
                        (rc == ASYLINK_OK && (op->kind == OP_ACCEPT || op->kind == OP_REJECT ||
                                              (op->kind == OP_RECEIPT && op->ack)));
            if (tell) {
                s_events_append(&head, &tail, op->ev);
                op->ev = NULL;
            }
        }
        u->rc = rc;
        u->wrote = b->began;
    }
    client_event_queue_list(c, head);
    pthread_mutex_lock(&c->lock);
    while (b->turns) {
        s_cturn *u = b->turns;
        b->turns = u->next;
        u->next = NULL;
        if (io->done_tail)
            io->done_tail->next = u;
        else
            io->done_head = u;
        io->done_tail = u;
    }
    pthread_mutex_unlock(&c->lock);
    *b = (s_batch){0};
}

/* Whether work waits for the committer (lock held). */
static bool s_commit_wanted(const s_io *io)
{
    return io->sub_head || io->c->writes || io->cm_flush == 1 || io->cm_accept;
}

/* Takes the waiting work into b (lock held). */
static void s_commit_take(s_io *io, s_batch *b)
{
    asylink_client *c = io->c;
    *b = (s_batch){.turns = io->sub_head,
                   .ws = c->writes,
                   .flush = io->cm_flush == 1,
                   .accept = io->cm_accept};
    io->cm_accept = false;
    io->sub_head = io->sub_tail = NULL;
    c->writes = c->writes_tail = NULL;
    if (b->flush)
        io->cm_flush = 2;
}

/* After a batch is told (lock held): a flush it carried is over; waiters may look again. */
static void s_commit_told(s_io *io, const s_batch *b)
{
    if (b->flush)
        io->cm_flush = 0;
    pthread_cond_broadcast(&io->c->commit_cond);
}

/*
 * The committer thread: applies and commits the waiting work while the I/O
 * thread reads, verifies and publishes. In a durable store a batch's commit
 * leaves its meta page unsynced (cstore_commit_unsynced): the next batch's
 * commit, which fsyncs its data pages, puts it on disk, and only then is the
 * earlier batch told (one fdatasync per batch instead of two); with nothing
 * waiting, cstore_sync() does it at once.
 */
static void *s_committer_main(void *arg)
{
    thread_name("asylink-commit");
    s_io *io = arg;
    asylink_client *c = io->c;
    bool defer = cstore_durable(c->store);
    s_batch pend = {0}, cur = {0}; /* pend: committed, not yet on disk */
    bool have_pend = false;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (s_commit_wanted(io)) {
            s_commit_take(io, &cur);
            io->cm_busy = true;
            pthread_mutex_unlock(&c->lock);
            s_batch_commit(io, &cur, !defer);
            int covered = ASYLINK_OK; /* what a cur that wrote nothing stands on */
            if (have_pend) {
                /* cur's data fsync came after pend's meta page: pend is on disk. If that fsync
                   failed (IO), pend's meta page may be lost, and a sync now would not say so
                   (the kernel reports a write-back error once): pend is told the failure. */
                int rc = cur.wrote                             ? ASYLINK_OK
                         : cur.began && cur.rc == ASYLINK_E_IO ? ASYLINK_E_IO
                                                               : cstore_sync(c->store);
                covered = rc;
                bool flush = pend.flush;
                s_batch_finish(io, &pend, pend.rc != ASYLINK_OK ? pend.rc : rc);
                pthread_mutex_lock(&c->lock);
                s_commit_told(io, &(s_batch){.flush = flush});
                pthread_mutex_unlock(&c->lock);
                have_pend = false;
            }
            if (defer && cur.rc == ASYLINK_OK && cur.wrote) {
                pend = cur; /* told after the next commit, or the sync below */
                have_pend = true;
            } else {
                /* A cur that wrote nothing (an acknowledgement done twice) is no more on disk
                   than pend: told pend's failed flush too, as stored (visible). */
                bool flush = cur.flush;
                s_batch_finish(io, &cur,
                               cur.rc != ASYLINK_OK ? cur.rc
                               : cur.visible        ? covered
                                                    : ASYLINK_OK);
                pthread_mutex_lock(&c->lock);
                s_commit_told(io, &(s_batch){.flush = flush});
                pthread_mutex_unlock(&c->lock);
            }
            client_wake_io(c); /* the I/O thread Acks what is on disk */
            pthread_mutex_lock(&c->lock);
            io->cm_busy = have_pend;
            pthread_cond_broadcast(&c->commit_cond); /* s_drain() waits for !cm_busy */
            continue;
        }
        if (have_pend) {
            pthread_mutex_unlock(&c->lock);
            int rc = cstore_sync(c->store);
            bool flush = pend.flush;
            s_batch_finish(io, &pend, rc);
            have_pend = false;
            client_wake_io(c);
            pthread_mutex_lock(&c->lock);
            io->cm_busy = false;
            s_commit_told(io, &(s_batch){.flush = flush});
            continue;
        }
        if (io->cm_stop)
            break;
        pthread_cond_wait(&c->commit_cond, &c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Without a committer thread: commits the waiting work here, on disk at once (lock held). */
static void s_commit_here(s_io *io)
{
    asylink_client *c = io->c;
    while (s_commit_wanted(io)) {
        s_batch b;
        s_commit_take(io, &b);
        pthread_mutex_unlock(&c->lock);
        s_batch_commit(io, &b, true);
        bool flush = b.flush;
        s_batch_finish(io, &b, b.rc);
        pthread_mutex_lock(&c->lock);
        s_commit_told(io, &(s_batch){.flush = flush});
    }
}

/* Submits this turn's operations to the committer (or commits them here, without one). */
static void s_submit(s_io *io)
{
    asylink_client *c = io->c;
    s_cturn *u = io->open;
    io->open = NULL;
    pthread_mutex_lock(&c->lock);
    if (u && u->n) {
        u->session = io->session;
        u->store_full = io->store_full;
        if (io->sub_tail)
            io->sub_tail->next = u;
        else
            io->sub_head = u;
        io->sub_tail = u;
        u = NULL;
    }
    if (io->cm_started)
        pthread_cond_broadcast(&c->commit_cond);
    else
        s_commit_here(io);
    pthread_mutex_unlock(&c->lock);
    s_cturn_free(u); /* (an empty one) */
}

/*
 * Keeps the deliveries of u that found no room (and, held, those its failed
 * commit had written) in front of the parked ones, in their order: stored
 * again in a while.
 */
static void s_park_front(s_io *io, s_cturn *u, bool held)
{
    size_t n = 0;
    for (size_t i = 0; i < u->n; i++)
        n += u->ops[i].park || (held && u->ops[i].hold);
    if (n == 0)
        return;
    if (!io->store_full)
        client_log(io->c, ASYLINK_LOG_WARN, "local store full: deliveries held, retrying",
                   "held=%zu", n + io->parked.n);
    io->store_full = true;
    s_held_list l = {0};
    for (size_t i = 0; i < u->n; i++)
        if (u->ops[i].park || (held && u->ops[i].hold))
            s_held_add(&l, &u->ops[i].cmd, &u->ops[i].env);
    for (size_t i = 0; i < io->parked.n; i++)
        s_held_add(&l, &io->parked.items[i].cmd, &io->parked.items[i].env);
    s_held_clear(&io->parked);
    free(io->parked.items);
    io->parked = l;
    if (io->parked_retry_ms <= io->now_ms)
        io->parked_retry_ms = io->now_ms + IO_FULL_RETRY_MS;
    if (io->parked.lost) /* one not kept: the broker must redeliver */
        s_reset(io, "out of memory holding deliveries", ASYLINK_E_NOMEM, 0);
}

/* A committed turn: Acks what it stored, keeps what found no room. */
static void s_collect_turn(s_io *io, s_cturn *u)
{
    asylink_client *c = io->c;
    bool mine = u->session == io->session && io->state == IO_OPEN;
    if (u->rc == ASYLINK_E_STORE_FULL && mine) {
        /* The disk is full: keep the session (its deliveries stay ours, no failed attempt is
         * counted), store them again in a while, and ask for the answers to our publishes
         * again. */
        s_park_front(io, u, true);
        io->parked_retry_ms = io->now_ms + IO_FULL_RETRY_MS;
        if (io->rescan_at_ms == 0)
            io->rescan_at_ms = io->now_ms + IO_FULL_RETRY_MS;
        return;
    }
    if (u->rc != ASYLINK_OK) {
        /* Not stored, or stored and not flushed: not acknowledged, the broker redelivers (a
           copy stored already is then a duplicate, acknowledged once on disk). */
        if (mine)
            s_reset(io, "local store commit failed", u->rc, 0);
        return;
    }
    if (mine)
        s_park_front(io, u, false);
    if (u->wrote && io->store_full && io->parked.n == 0) {
        io->store_full = false;
        client_log(c, ASYLINK_LOG_INFO, "local store has room again", "held=0");
    }
    if (mine)
        s_send_turn_acks(io, u);
}

/* Collects the turns the committer is done with, in order. */
static void s_collect(s_io *io)
{
    asylink_client *c = io->c;
    pthread_mutex_lock(&c->lock);
    s_cturn *u = io->done_head;
    io->done_head = io->done_tail = NULL;
    pthread_mutex_unlock(&c->lock);
    while (u) {
        s_cturn *next = u->next;
        s_collect_turn(io, u);
        s_cturn_free(u);
        u = next;
    }
}

/* Waits until everything submitted and asked for is committed, then collects it. */
static void s_drain(s_io *io)
{
    asylink_client *c = io->c;
    pthread_mutex_lock(&c->lock);
    while (io->cm_started && (io->sub_head || io->cm_busy || io->cm_flush || io->cm_accept))
        pthread_cond_wait(&c->commit_cond, &c->lock);
    if (!io->cm_started)
        s_commit_here(io);
    pthread_mutex_unlock(&c->lock);
    s_collect(io);
}

/* ---- handling commands ---- */

/* Takes id out of the in-flight table (*seq its outbox seq); false if it is not in flight. */
static bool s_flight_take(s_io *io, const uint8_t id[16], uint64_t *seq)
{
    size_t i = flightix_find(&io->flight_ix, io->flight, sizeof *io->flight, io->n_flight, id);
    if (i == SIZE_MAX)
        return false;
    *seq = io->flight[i].seq;
    io->flight_bytes -=
        io->flight[i].bytes <= io->flight_bytes ? io->flight[i].bytes : io->flight_bytes;
    flightix_remove_swap(&io->flight_ix, io->flight, sizeof *io->flight, &io->n_flight, i);
    return true;
}

/* One of a Welcome's limits checked against its floor (s_below_floor). */
typedef struct {
    const char *name; /* the Limits field */
    uint64_t value;   /* as announced; 0 = not stated, never below a floor */
    uint64_t floor;   /* the least a conforming broker announces (PROTOCOL.md 4.8) */
    const char *unit; /* "bytes" or "ms" */
    const char *note; /* "" or what the floor is made of */
} s_floor;

/* The first of l's stated limits below its floor, into *f; false if there is none. */
static bool s_below_floor(const wire_limits *l, s_floor *f)
{
    const s_floor checks[] = {
        {"max_envelope_bytes", l->max_envelope_bytes, WIRE_ENVELOPE_FLOOR, "bytes", ""},
        {"heartbeat_interval_ms", l->heartbeat_interval_ms, WIRE_HEARTBEAT_INTERVAL_FLOOR_MS, "ms",
         ""},
        {"heartbeat_timeout_ms", l->heartbeat_timeout_ms, WIRE_HEARTBEAT_TIMEOUT_FLOOR_MS, "ms",
         ""},
        {"heartbeat_timeout_ms", l->heartbeat_timeout_ms, 2 * (uint64_t)l->heartbeat_interval_ms,
         "ms", " (twice heartbeat_interval_ms)"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (checks[i].value != 0 && checks[i].value < checks[i].floor) {
            *f = checks[i];
            return true;
        }
    }
    return false;
}

/*
 * A Welcome with a limit below the protocol's floor (PROTOCOL.md 4.8; 0 =
 * not stated, no check): a broken or hostile broker. A max_envelope_bytes
 * below WIRE_ENVELOPE_FLOOR taken as a limit would have every pending
 * message refused here for good (s_publish_too_large), messages the
 * application was told are queued; heartbeat values below theirs (or a
 * timeout under twice the interval) would drop and reopen the session
 * constantly. So it is a protocol error: logged (once per limit and value
 * until a usable Welcome), the session dropped and, the outbox untouched,
 * another attempt made after the longest backoff (the next address first,
 * when there are several). True if the Welcome was refused.
 */
static bool s_welcome_refused(s_io *io, const wire_welcome *w)
{
    asylink_client *c = io->c;
    s_floor f;
    if (!s_below_floor(&w->limits, &f))
        return false;
    if (io->bad_welcome_limit != f.value || io->bad_welcome_name != f.name)
        client_log(c, ASYLINK_LOG_ERROR, "broker announced limits below the protocol's floor",
                   "%s=%llu floor=%llu endpoint=%s code=%s", f.name, (unsigned long long)f.value,
                   (unsigned long long)f.floor, CLIENT_Q(s_endpoint(io)),
                   asylink_err_name(ASYLINK_E_PROTOCOL));
    io->bad_welcome_limit = f.value;
    io->bad_welcome_name = f.name;
    char why[200];
    snprintf(why, sizeof why,
             "its Welcome announces %s %llu, below the protocol's floor of %llu %s%s; the outbox "
             "is kept",
             f.name, (unsigned long long)f.value, (unsigned long long)f.floor, f.unit, f.note);
    io->bad_welcome = true;
    io->backoff_ms = c->reconnect_max_ms; /* not hammered: retried at the longest backoff */
    s_reset(io, why, ASYLINK_E_PROTOCOL, 0);
    io->bad_welcome = false;
    return true;
}

/*
 * A Welcome's heartbeat values above their ceilings (PROTOCOL.md 4.8) are
 * used as the ceilings: taken as given, a broker announcing a timeout of
 * days (hostile or misconfigured) would keep this client from noticing a
 * dead connection for that long. Lowering them is safe (the client pings
 * more often than asked and gives up sooner), unlike raising a value below
 * its floor, so it is not refused: a WARN, once per announced pair of
 * values.
 */
static void s_welcome_ceilings(s_io *io, wire_limits *l)
{
    uint64_t interval = l->heartbeat_interval_ms, timeout = l->heartbeat_timeout_ms;
    if (interval <= WIRE_HEARTBEAT_INTERVAL_CEILING_MS &&
        timeout <= WIRE_HEARTBEAT_TIMEOUT_CEILING_MS)
        return;
    if (interval > WIRE_HEARTBEAT_INTERVAL_CEILING_MS)
        l->heartbeat_interval_ms = WIRE_HEARTBEAT_INTERVAL_CEILING_MS;
    if (timeout > WIRE_HEARTBEAT_TIMEOUT_CEILING_MS)
        l->heartbeat_timeout_ms = WIRE_HEARTBEAT_TIMEOUT_CEILING_MS;
    if (io->ceiled_interval == interval && io->ceiled_timeout == timeout)
        return;
    io->ceiled_interval = interval;
    io->ceiled_timeout = timeout;
    client_log(io->c, ASYLINK_LOG_WARN,
               "broker announced heartbeat values above the protocol's ceilings; using the "
               "ceilings",
               "heartbeat_interval_ms=%llu heartbeat_timeout_ms=%llu interval_used_ms=%llu "
               "timeout_used_ms=%llu endpoint=%s",
               (unsigned long long)interval, (unsigned long long)timeout,
               (unsigned long long)l->heartbeat_interval_ms,
               (unsigned long long)l->heartbeat_timeout_ms, CLIENT_Q(s_endpoint(io)));
}

static void s_on_welcome(s_io *io, const wire_cmd *cmd)
{
    asylink_client *c = io->c;
    if (s_welcome_refused(io, &cmd->u.welcome))
        return;
    io->bad_welcome_limit = 0;
    io->bad_welcome_name = NULL;
    io->limits = cmd->u.welcome.limits;
    s_welcome_ceilings(io, &io->limits);
    io->window = io->limits.max_in_flight ? io->limits.max_in_flight : IO_MAX_WINDOW;
    if (io->window > IO_MAX_WINDOW)
        io->window = IO_MAX_WINDOW;
    io->state = IO_OPEN;
    io->state_ms = io->now_ms;
    /* Version 2 only when we offered it and the broker says so; anything else is version 1. */
    io->protocol = io->hello_version == WIRE_PROTOCOL_PACKED &&
                           cmd->u.welcome.protocol_version == WIRE_PROTOCOL_PACKED
                       ? WIRE_PROTOCOL_PACKED
                       : WIRE_PROTOCOL_VERSION;
    io->session++;
    io->out_cursor = 0;
    s_flight_clear(io);
    io->backoff_ms = c->reconnect_min_ms;
    io->tried = 0;
    io->failed_attempts = 0;
    atomic_store(&c->connected, true);
    client_conn_set(c, io->ep, cmd->u.welcome.broker_node_id, true, io->now_ms);
    client_failure_clear(c);
    s_later_event(io, ASYLINK_EVENT_CONNECTED, NULL, 0, "", cmd->u.welcome.broker_node_id);
    client_log(c, ASYLINK_LOG_INFO, "session opened", "broker=%s endpoint=%s index=%zu protocol=%u",
               CLIENT_Q(cmd->u.welcome.broker_node_id), CLIENT_Q(s_endpoint(io)), io->ep,
               io->protocol);
}

/*
 * An answer naming a message not in flight in this session (never published
 * in it, or answered already): a broker may not answer what it was not
 * sent, nor answer twice. Ignored, so that it neither marks an unsent
 * message accepted (it would never go out) nor turns a final state into
 * another; a message left pending goes out again in the next session, where
 * a broker that has it answers Accepted{duplicate}. (A message whose
 * flight entry could not be kept, for want of memory, is such a message.)
 */
static void s_answer_ignored(s_io *io, const wire_cmd *cmd)
{
    client_log(io->c, ASYLINK_LOG_WARN, "answer for a message not in flight ignored",
               "kind=%s code=%s", wire_kind_name(cmd->kind), asylink_err_name(ASYLINK_E_PROTOCOL));
}

static void s_on_answer(s_io *io, const wire_cmd *cmd)
{
    uint64_t seq = 0;
    if (cmd->kind == WIRE_ACCEPTED) {
        if (!s_flight_take(io, cmd->u.accepted.message_id, &seq))
            return s_answer_ignored(io, cmd);
        if (s_accept_later(io, cmd->u.accepted.message_id, cmd->u.accepted.duplicate, seq))
            return;
        s_record_accepted(io, cmd->u.accepted.message_id, cmd->u.accepted.duplicate, seq);
        return;
    }
    const wire_rejected *r = &cmd->u.rejected;
    if (!r->has_message_id)
        return;
    if (!s_flight_take(io, r->message_id, &seq))
        return s_answer_ignored(io, cmd);
    if (r->retryable) {
        /* Stays pending; publish it again after a short pause. */
        if (io->rescan_at_ms == 0)
            io->rescan_at_ms = io->now_ms + IO_RETRY_PAUSE_MS;
        return;
    }
    s_later_reject(io, r->message_id, r->code, r->reason);
}

/* A delivery that cannot be used: dead-letter it at the broker and say why. */
static void s_refuse(s_io *io, uint64_t seq, const char *sub, const uint8_t *id, int code,
                     const char *why, const char *sender)
{
    /* A direct message goes to the broker's dead letters for an operator to
     * look at, with why as the reason `asylink dlq list` shows; a feed
     * message is skipped (feeds have no dead letters, and a Nack would only
     * bring it back until it expires). */
    bool feed = sub && *sub;
    if (feed) {
        s_send_acks(io, &seq, 1, WIRE_ACK, 0, sub, 0);
    } else {
        wire_cmd a = {.kind = WIRE_NACK};
        a.u.ack.sequences = &seq;
        a.u.ack.n_sequences = 1;
        a.u.ack.disposition = WIRE_NACK_DEAD_LETTER;
        a.u.ack.code = code;
        bytes_str_copy(a.u.ack.reason, sizeof a.u.ack.reason, why);
        s_send(io, &a, NULL, 0);
    }
    char told[WIRE_REASON_MAX + 64];
    snprintf(told, sizeof told, "%s; %s", why,
             feed ? "skipped (feeds keep no dead letters)" : "dead-lettered at the broker");
    s_later_event(io, ASYLINK_EVENT_RECEIVE_FAILED, id, code, told, sender);
    client_log(io->c, ASYLINK_LOG_WARN, "delivery refused", "seq=%llu code=%s sender=%s reason=%s",
               (unsigned long long)seq, asylink_err_name(code), CLIENT_Q(sender ? sender : ""),
               CLIENT_Q(told));
}

/*
 * Why a delivered envelope failed verification, naming the sender's
 * certificate it was signed under, so that the operator who reads the dead
 * letter knows what this node's trust directory lacks.
 */
static const char *s_verify_why(const envelope *e, int rc, char *buf, size_t len)
{
    if (!e)
        return "delivered envelope failed verification";
    const envelope_header *h = envelope_header_of(e);
    unsigned long long serial = (unsigned long long)h->sender_cert_serial;
    switch (rc) {
    case ASYLINK_E_WRONG_KEY:
        snprintf(buf, len,
                 "signed under %s's certificate serial %llu, which is not in this node's trust "
                 "directory (keep a renewed certificate's predecessor there until its messages "
                 "are delivered)",
                 h->sender, serial);
        return buf;
    case ASYLINK_E_UNKNOWN_SENDER:
        snprintf(buf, len, "no certificate of the sender %s in this node's trust directory",
                 h->sender);
        return buf;
    case ASYLINK_E_REVOKED:
        snprintf(buf, len, "%s's certificate serial %llu is revoked in this node's trust directory",
                 h->sender, serial);
        return buf;
    default: return "delivered envelope failed verification";
    }
}

static void s_on_receipt(s_io *io, const wire_cmd *cmd, const envelope *e, const uint8_t *env,
                         size_t len, zmq_msg_t *envm)
{
    uint64_t seq = cmd->u.deliver.sequence;
    const envelope_header *h = envelope_header_of(e);
    receipt *r = NULL;
    size_t n = 0, unknown = 0;
    uint64_t settled = 0, retried = 0;
    /* Both read before the store is: a commit or retry that ends after it is seen as running. */
    bool early = client_early_out_pending(io->c, &settled);
    bool retrying = s_writes_pending_retry(io->c, &retried);
    int rc = client_receipt_check(io->c, e, &r, &n, &unknown);
    if ((unknown || rc == ASYLINK_E_NOT_FOUND) && ((early && !io->recheck_final) || retrying)) {
        /* It may name a message published before its commit (s_early_publish), which that
           commit, or the writer's own second attempt after it failed, may store yet: kept,
           unacknowledged, and checked again once a commit has settled or every such attempt
           has ended (s_retry_waiting); for good (as to the commit) once every commit running
           when one of them was held has settled. The oldest's marks start a check, so that
           none waits for a later change than its own; the newest's makes it final. */
        free(r);
        bool first = io->waiting.n == 0;
        if (s_held_keep(&io->waiting, cmd, envm, env, len) != 0) {
            s_reset(io, "out of memory holding a receipt", ASYLINK_E_NOMEM, 0);
            return; /* the broker delivers it again in the next session */
        }
        if (first) {
            io->waiting_settled = settled;
            io->waiting_retried = retried;
        }
        io->waiting_newest = settled;
        if (retrying && !io->retry_logged) { /* once while retries run, not at each check */
            io->retry_logged = true;
            client_log(io->c, ASYLINK_LOG_WARN,
                       "receipt for a message not stored yet kept until its writer's retry ended",
                       "signer=%s skipped=%zu", h->sender, unknown);
        }
        return;
    }
    if (rc == ASYLINK_E_NOT_FOUND && unknown > 0) {
        free(r);
        /* Every entry names a message not held here: erased, past its retention, or never
           stored (published while a crash interrupted its commit, DESIGN-CHANGES 43). Nothing
           to keep: acknowledged and dropped (the application is told), not dead-lettered. */
        s_send_acks(io, &seq, 1, WIRE_ACK, 0, "", 0);
        s_later_event(io, ASYLINK_EVENT_RECEIVE_FAILED, h->message_id, ASYLINK_E_NOT_FOUND,
                      "receipts for messages not held here: dropped", h->sender);
        client_log(io->c, ASYLINK_LOG_WARN, "receipts for messages not held here dropped",
                   "signer=%s skipped=%zu", h->sender, unknown);
        return;
    }
    if (rc == ASYLINK_E_NOMEM || rc == ASYLINK_E_IO) {
        /* Our trouble, not the receipt's: leave it unacknowledged, the broker redelivers it. */
        client_log(io->c, ASYLINK_LOG_WARN, "receipt not checked now", "sender=%s code=%s",
                   h->sender, asylink_err_name(rc));
        return;
    }
    if (rc == ASYLINK_E_CLASSIFICATION)
        return s_refuse(io, seq, "", h->message_id, rc,
                        "receipt not encrypted (signed only): receipts travel encrypted to the "
                        "sender",
                        h->sender);
    if (rc != ASYLINK_OK)
        return s_refuse(io, seq, "", h->message_id, rc, "receipt does not match a sent message",
                        h->sender);
    /* Stored by the committer; acked and told once committed. Not kept (no memory): not
       acked, so the broker redelivers it. */
    s_op *op = s_op_add(io, OP_RECEIPT);
    if (op) {
        op->cmd = *cmd;
        op->ids = malloc(n * sizeof *op->ids);
        op->infos = malloc(n * sizeof *op->infos);
        op->n = op->ids && op->infos ? n : 0;
    }
    if (!op || !op->n || s_msg_take(&op->env, envm, env, len) != 0) {
        if (op)
            op->kind = OP_EVENT; /* nothing to store (its frames are freed with the turn) */
        free(r);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(op->ids[i], r[i].message_id, 16);
        client_receipt_info(&r[i], &op->infos[i]);
    }
    client_event *tail = NULL; /* the RECEIPT events, in order */
    for (size_t i = 0; i < n; i++) {
        client_event *ev =
            s_event_new(io, ASYLINK_EVENT_RECEIPT, op->ids[i], 0, "", op->infos[i].recipient);
        if (!ev)
            continue;
        if (tail)
            tail->next = ev;
        else
            op->ev = ev;
        tail = ev;
    }
    free(r);
}

static bool s_names_me(const envelope_header *h, const char *me)
{
    for (size_t i = 0; i < h->n_recipients; i++)
        if (strcmp(h->recipients[i], me) == 0)
            return true;
    return false;
}

/* True if the envelope's key is wrapped to me (or it is not encrypted). */
static bool s_readable_by_me(const envelope *e, const char *me)
{
    if (envelope_header_of(e)->encryption == ENVELOPE_ENC_NONE)
        return true;
    for (size_t i = 0; i < envelope_key_count(e); i++)
        if (strcmp(envelope_key_node(e, i), me) == 0)
            return true;
    return false;
}

/*
 * Does a feed delivery fit the subscription it came by? 1 yes, 0 not one of
 * ours, -1 a topic outside that subscription's prefix (another
 * subscription's prefix does not count: the message would be stored and
 * handed over once more, as this subscription's).
 */
static int s_feed_fits(asylink_client *c, const char *sub, const char *topic)
{
    int fits = 0;
    pthread_mutex_lock(&c->lock);
    for (client_sub *s = c->subs; s && !fits; s = s->next)
        if (strcmp(s->name, sub) == 0 && !s->failed)
            fits = topic_under(topic, s->prefix) ? 1 : -1;
    pthread_mutex_unlock(&c->lock);
    return fits;
}

/* Checks a verified feed envelope against the Deliver that carried it. */
static int s_check_feed(s_io *io, const wire_deliver *d, const envelope *e)
{
    const envelope_header *h = envelope_header_of(e);
    if (!h->topic[0] || strcmp(h->topic, d->topic) != 0)
        return ASYLINK_E_BAD_FIELD; /* not a feed envelope, or not the topic it came by */
    int fits = s_feed_fits(io->c, d->subscription, h->topic);
    if (fits < 0)
        return ASYLINK_E_POLICY;
    if (fits == 0)
        return ASYLINK_E_NOT_FOUND; /* no longer ours (unsubscribed): hand it back */
    if (!s_readable_by_me(e, io->c->own->node_id))
        return ASYLINK_E_NOT_RECIPIENT;
    return ASYLINK_OK;
}

/*
 * A Deliver: verified here, stored by the committer. envm is the envelope's
 * own frame (moved into the operation), NULL when env points into a Packed
 * frame (copied).
 */
static void s_on_deliver(s_io *io, const wire_cmd *cmd, const uint8_t *env, size_t len,
                         zmq_msg_t *envm)
{
    asylink_client *c = io->c;
    const wire_deliver *d = &cmd->u.deliver;
    uint64_t seq = d->sequence;
    bool feed = d->subscription[0] != 0;
    envelope *e = NULL;
    /* a batch's envelopes share most of their proof: the walk reuses nodes met before */
    int rc = env ? envelope_decode_cached(env, len, 0, io->proofs, &e) : ASYLINK_E_MALFORMED;
    if (rc == ASYLINK_OK)
        rc = client_verify(c, e, io->now_ms);
    if (rc == ASYLINK_OK && feed)
        rc = s_check_feed(io, d, e);
    else if (rc == ASYLINK_OK && !s_names_me(envelope_header_of(e), c->own->node_id))
        rc = ASYLINK_E_NOT_RECIPIENT;
    if (rc == ASYLINK_E_NOT_FOUND) {
        /* Nack to retry: frees the broker's window, keeps the cursor where it is. */
        s_send_acks(io, &seq, 1, WIRE_NACK, ASYLINK_E_NOT_FOUND, d->subscription, WIRE_NACK_RETRY);
        client_log(c, ASYLINK_LOG_DEBUG, "delivery for an unknown subscription handed back",
                   "subscription=%s seq=%llu", CLIENT_Q(d->subscription), (unsigned long long)seq);
        envelope_destroy(&e);
        return;
    }
    if (rc != ASYLINK_OK) {
        char why[WIRE_REASON_MAX + 1];
        s_refuse(io, seq, d->subscription, e ? envelope_header_of(e)->message_id : NULL, rc,
                 s_verify_why(e, rc, why, sizeof why), e ? envelope_header_of(e)->sender : NULL);
        envelope_destroy(&e);
        return;
    }
    const envelope_header *h = envelope_header_of(e);
    if (!feed && strcmp(h->content_type, RECEIPT_CONTENT_TYPE) == 0) {
        s_on_receipt(io, cmd, e, env, len, envm);
    } else if (!feed && strcmp(h->content_type, RECEIPT_SINGLE_CONTENT_TYPE) == 0) {
        /* A receipt under the wrong name: neither a receipt nor application data. */
        s_refuse(io, seq, "", h->message_id, ASYLINK_E_BAD_FIELD,
                 "content type asylink.v1.Receipt: receipts travel as asylink.v1.ReceiptSet",
                 h->sender);
    } else {
        /* One entry per (sender, id) and, for a feed, per subscription:
         * each subscription hands the message over and is acked alone.
         * Stored by the committer (s_apply), acked after its commit. */
        s_op *op = s_op_add(io, OP_DELIVER);
        if (!op || s_msg_take(&op->env, envm, env, len) != 0) {
            if (op)
                op->kind = OP_EVENT; /* nothing to store */
            s_reset(io, "out of memory holding deliveries", ASYLINK_E_NOMEM, 0);
            envelope_destroy(&e);
            return;
        }
        op->cmd = *cmd;
        memcpy(op->id, h->message_id, 16);
        bytes_str_copy(op->sender, sizeof op->sender, h->sender);
        memcpy(op->digest, envelope_digest(e), 64);
        op->feed = feed;
        op->topic = h->topic && h->topic[0];
        op->now_ms = io->now_ms;
    }
    envelope_destroy(&e);
}

/* ---- feed requests ---- */

static client_sub *s_sub_by_request(asylink_client *c, uint64_t request_id, const char *name)
{
    for (client_sub *s = c->subs; s; s = s->next)
        if (request_id && s->request_id == request_id)
            return s;
    for (client_sub *s = c->subs; name && s; s = s->next)
        if (s->request_id && strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static client_req *s_req_by_request(asylink_client *c, uint64_t request_id, int kind)
{
    for (client_req *r = c->reqs; request_id && r; r = r->next)
        if (r->request_id == request_id && (!kind || r->kind == kind) && !r->done)
            return r;
    return NULL;
}

/* Marks a request answered; a detached one is freed (lock held). */
static void s_req_done(asylink_client *c, client_req *r, int rc)
{
    r->done = true;
    r->rc = rc;
    if (r->detached) {
        for (client_req **pp = &c->reqs; *pp; pp = &(*pp)->next)
            if (*pp == r) {
                *pp = r->next;
                break;
            }
        client_req_free(r);
    }
    pthread_cond_broadcast(&c->cond);
}

/*
 * A Subscribed naming another prefix than asked for: a broker that resumed
 * the stored subscription with its old prefix (as brokers did before
 * DESIGN-CHANGES 47). Refused like an Error{PREFIX_MISMATCH}, and closed
 * in this session (Unsubscribe, the cursor kept) so that the broker stops
 * delivering what the application did not ask for. Lock held.
 */
static void s_subscribed_elsewhere(s_io *io, client_sub *s)
{
    s->result = ASYLINK_E_PREFIX_MISMATCH;
    s->failed = true;
    wire_cmd q = {.kind = WIRE_UNSUBSCRIBE, .request_id = ++io->request_id};
    bytes_str_copy(q.u.unsubscribe.subscription, sizeof q.u.unsubscribe.subscription, s->name);
    s_send(io, &q, NULL, 0); /* its answer matches no request: ignored */
}

static void s_on_subscribed(s_io *io, const wire_cmd *cmd)
{
    asylink_client *c = io->c;
    const wire_subscribed *sd = &cmd->u.subscribed;
    pthread_mutex_lock(&c->lock);
    client_sub *s = s_sub_by_request(c, cmd->request_id, sd->subscription);
    if (s && strcmp(s->prefix, sd->topic_prefix) != 0) {
        char name[sizeof s->name], prefix[sizeof s->prefix]; /* logged after the unlock */
        memcpy(name, s->name, sizeof name);
        memcpy(prefix, s->prefix, sizeof prefix);
        s_subscribed_elsewhere(io, s);
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        client_log(c, ASYLINK_LOG_WARN, "subscribe refused",
                   "subscription=%s code=%s prefix=%s broker_prefix=%s reason=%s", CLIENT_Q(name),
                   asylink_err_name(ASYLINK_E_PREFIX_MISMATCH), CLIENT_Q(prefix),
                   CLIENT_Q(sd->topic_prefix),
                   CLIENT_Q("the broker resumed the subscription with another prefix"));
        return;
    }
    if (s) {
        s->result = ASYLINK_OK;
        s->failed = false;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    client_log(c, ASYLINK_LOG_INFO, "subscribed", "subscription=%s prefix=%s created=%d next=%llu",
               CLIENT_Q(sd->subscription), CLIENT_Q(sd->topic_prefix), sd->created,
               (unsigned long long)sd->next_sequence);
}

static void s_on_unsubscribed(s_io *io, const wire_cmd *cmd)
{
    asylink_client *c = io->c;
    pthread_mutex_lock(&c->lock);
    client_req *r = s_req_by_request(c, cmd->request_id, CLIENT_REQ_UNSUBSCRIBE);
    if (r)
        s_req_done(c, r, ASYLINK_OK);
    pthread_mutex_unlock(&c->lock);
}

/* Copies a Directory answer into the request waiting for it. */
static void s_on_directory(s_io *io, const wire_cmd *cmd)
{
    asylink_client *c = io->c;
    const wire_directory *d = &cmd->u.directory;
    pthread_mutex_lock(&c->lock);
    client_req *r = s_req_by_request(c, cmd->request_id, CLIENT_REQ_DIRECTORY);
    if (!r) {
        pthread_mutex_unlock(&c->lock);
        return; /* its publisher gave up waiting */
    }
    int rc = ASYLINK_OK;
    r->certs = calloc(d->n_certificates + 1, sizeof *r->certs);
    r->cert_lens = calloc(d->n_certificates + 1, sizeof *r->cert_lens);
    if (!r->certs || !r->cert_lens)
        rc = ASYLINK_E_NOMEM;
    for (size_t i = 0; rc == ASYLINK_OK && i < d->n_certificates; i++) {
        r->certs[i] = malloc(d->certificate_lens[i] ? d->certificate_lens[i] : 1);
        if (!r->certs[i]) {
            rc = ASYLINK_E_NOMEM;
            break;
        }
        memcpy(r->certs[i], d->certificates[i], d->certificate_lens[i]);
        r->cert_lens[i] = d->certificate_lens[i];
        r->n_certs++;
    }
    if (rc == ASYLINK_OK && d->revocation_list_len) {
        r->crl = malloc(d->revocation_list_len);
        if (r->crl) {
            memcpy(r->crl, d->revocation_list, d->revocation_list_len);
            r->crl_len = d->revocation_list_len;
        }
    }
    s_req_done(c, r, rc);
    pthread_mutex_unlock(&c->lock);
}

/* An Error answering one of our feed requests: true if it was one. */
static bool s_error_for_request(s_io *io, const wire_cmd *cmd)
{
    asylink_client *c = io->c;
    const wire_error *er = &cmd->u.error;
    int code = er->code ? er->code : ASYLINK_E_PROTOCOL;
    if (!cmd->request_id)
        return false;
    char sub[CLIENT_SUB_NAME_MAX + 1] = ""; /* what to log once the lock is released */
    int kind = -1;
    pthread_mutex_lock(&c->lock);
    bool matched = false;
    for (client_sub *s = c->subs; s; s = s->next) {
        if (s->request_id == cmd->request_id) {
            s->result = code;
            s->failed = true;
            matched = true;
            pthread_cond_broadcast(&c->cond);
            snprintf(sub, sizeof sub, "%s", s->name);
            break;
        }
    }
    client_req *r = matched ? NULL : s_req_by_request(c, cmd->request_id, 0);
    if (r) {
        kind = (int)r->kind;
        s_req_done(c, r, code);
        matched = true;
    }
    pthread_mutex_unlock(&c->lock);
    if (*sub)
        client_log(c, ASYLINK_LOG_WARN, "subscribe refused", "subscription=%s code=%s reason=%s",
                   CLIENT_Q(sub), asylink_err_name(code), CLIENT_Q(er->reason));
    else if (kind >= 0)
        client_log(c, ASYLINK_LOG_WARN, "request refused", "kind=%d code=%s reason=%s", kind,
                   asylink_err_name(code), CLIENT_Q(er->reason));
    return matched;
}

/* Sends, in the open session, what was not yet sent in it (subscriptions, requests). */
static void s_send_requests(s_io *io)
{
    asylink_client *c = io->c;
    if (io->state != IO_OPEN)
        return;
    pthread_mutex_lock(&c->lock);
    for (client_sub *s = c->subs; s; s = s->next) {
        if (s->failed || s->sent_session == io->session)
            continue;
        wire_cmd q = {.kind = WIRE_SUBSCRIBE, .request_id = ++io->request_id};
        snprintf(q.u.subscribe.topic_prefix, sizeof q.u.subscribe.topic_prefix, "%s", s->prefix);
        snprintf(q.u.subscribe.subscription, sizeof q.u.subscribe.subscription, "%s", s->name);
        q.u.subscribe.start = s->start;
        q.u.subscribe.start_value = s->start_value;
        if (s_send(io, &q, NULL, 0) != 0)
            break; /* high-water mark: next turn */
        s->sent_session = io->session;
        s->request_id = q.request_id;
    }
    for (client_req *r = c->reqs; r; r = r->next) {
        if (r->done || r->sent_session == io->session)
            continue;
        wire_cmd q = {.request_id = ++io->request_id};
        if (r->kind == CLIENT_REQ_DIRECTORY) {
            q.kind = WIRE_DIRECTORY_REQUEST;
            snprintf(q.u.directory_request.topic, sizeof q.u.directory_request.topic, "%s",
                     r->topic);
        } else {
            q.kind = WIRE_UNSUBSCRIBE;
            snprintf(q.u.unsubscribe.subscription, sizeof q.u.unsubscribe.subscription, "%s",
                     r->name);
            q.u.unsubscribe.delete_cursor = r->delete_cursor;
        }
        if (s_send(io, &q, NULL, 0) != 0)
            break;
        r->sent_session = io->session;
        r->request_id = q.request_id;
    }
    pthread_mutex_unlock(&c->lock);
}

static void s_on_error(s_io *io, const wire_cmd *cmd)
{
    const wire_error *er = &cmd->u.error;
    if (er->code == ASYLINK_E_UNSUPPORTED_VERSION && er->fatal && io->state == IO_HELLO &&
        io->hello_version == WIRE_PROTOCOL_PACKED && cmd->request_id == io->hello_request) {
        /* A broker of version 1 only: say Hello again with version 1, on this connection. */
        client_log(io->c, ASYLINK_LOG_INFO, "broker refused protocol version 2: using version 1",
                   "endpoint=%s", CLIENT_Q(s_endpoint(io)));
        io->hello_version = WIRE_PROTOCOL_VERSION;
        s_send_hello(io);
        return;
    }
    /* An answer to a subscription or request is logged with it (s_error_for_request); here
       only at DEBUG then, so that one refusal is one WARN line. */
    bool answers = er->code != ASYLINK_E_PROTOCOL && s_error_for_request(io, cmd);
    client_log(io->c, answers ? ASYLINK_LOG_DEBUG : ASYLINK_LOG_WARN, "broker error",
               "code=%s fatal=%d reason=%s", asylink_err_name(er->code), er->fatal,
               CLIENT_Q(er->reason));
    if (er->code == ASYLINK_E_PROTOCOL && er->fatal && io->state == IO_OPEN) {
        /* The broker lost our session (it restarted) and answers "Hello
         * first", echoing whatever request it got: not a refusal of that
         * request. Say Hello again; subscriptions are renewed on Welcome. */
        s_session_lost(io, er->reason, er->code);
        s_send_hello(io);
        return;
    }
    if (er->code == ASYLINK_E_PROTOCOL)
        (void)s_error_for_request(io, cmd);
    if (er->fatal)
        s_reset(io, er->reason, er->code, 0);
}

static void s_dispatch(s_io *io, const wire_cmd *cmd, const uint8_t *env, size_t env_len,
                       zmq_msg_t *envm)
{
    switch (cmd->kind) {
    case WIRE_WELCOME:
        if (io->state == IO_HELLO)
            s_on_welcome(io, cmd);
        return;
    case WIRE_ACCEPTED:
    case WIRE_REJECTED: return s_on_answer(io, cmd);
    case WIRE_DELIVER:
        if (io->state == IO_OPEN)
            s_on_deliver(io, cmd, env, env_len, envm);
        return;
    case WIRE_HEARTBEAT:
        if (!cmd->u.heartbeat.pong) {
            wire_cmd pong = {.kind = WIRE_HEARTBEAT, .request_id = cmd->request_id};
            pong.u.heartbeat.pong = true;
            pong.u.heartbeat.sent_ms = io->now_ms;
            s_send(io, &pong, NULL, 0);
        }
        return;
    case WIRE_SUBSCRIBED: return s_on_subscribed(io, cmd);
    case WIRE_UNSUBSCRIBED: return s_on_unsubscribed(io, cmd);
    case WIRE_DIRECTORY: return s_on_directory(io, cmd);
    case WIRE_ERROR: return s_on_error(io, cmd);
    case WIRE_BYE:
        return s_reset(io, cmd->u.error.reason[0] ? cmd->u.error.reason : "broker said Bye",
                       cmd->u.error.code, cmd->u.error.reconnect_after_ms);
    default: return;
    }
}

/*
 * Handles one message of version 1: its command bytes and envelope (NULL
 * if none). envm is the envelope's own frame, moved into the turn's
 * operation when a delivery is to be stored; NULL for an item of a Packed
 * frame, whose envelope is then copied into a frame of its own.
 */
static void s_handle(s_io *io, const uint8_t *buf, size_t len, const uint8_t *env, size_t env_len,
                     bool has_env, zmq_msg_t *envm)
{
    wire_cmd cmd;
    if (wire_decode(buf, len, &cmd) != ASYLINK_OK) {
        wire_cmd_clear(&cmd);
        return;
    }
    if (!envm && (cmd.kind == WIRE_HELLO || cmd.kind == WIRE_WELCOME)) {
        wire_cmd_clear(&cmd); /* never inside a Packed frame */
        return;
    }
    s_dispatch(io, &cmd, has_env ? env : NULL, has_env ? env_len : 0, envm);
    wire_cmd_clear(&cmd);
}

/*
 * A Packed frame (protocol version 2): checked whole first, then each item
 * handled as the message of version 1 it carries, in order. A frame that
 * fails the check, comes with more frames or on a session of version 1 is
 * ignored (and logged), like a command that does not decode.
 */
static void s_read_packed(s_io *io, const uint8_t *buf, size_t len, bool has_env)
{
    wire_unpacker u;
    size_t n = 0;
    int rc = has_env ? ASYLINK_E_PROTOCOL : wire_unpack_begin(&u, buf, len, &n);
    if (rc == ASYLINK_OK && io->protocol != WIRE_PROTOCOL_PACKED)
        rc = ASYLINK_E_PROTOCOL;
    if (rc != ASYLINK_OK) {
        client_log(io->c, ASYLINK_LOG_WARN, "packed frame ignored", "code=%s bytes=%zu",
                   asylink_err_name(rc), len);
        return;
    }
    wire_item it;
    while (io->sock && wire_unpack_next(&u, &it)) /* a reset ends the rest, as for plain frames */
        s_handle(io, it.cmd, it.cmd_len, it.env, it.env_len, it.env_len > 0, NULL);
}

/* Reads and handles every waiting message (up to the budget). */
static void s_read(s_io *io)
{
    for (int i = 0; i < IO_READ_BUDGET && io->sock; i++) {
        zmq_msg_t cmdm, envm;
        zmq_msg_init(&cmdm);
        zmq_msg_init(&envm);
        if (zmq_msg_recv(&cmdm, io->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&cmdm);
            zmq_msg_close(&envm);
            return;
        }
        bool has_env = zmq_msg_more(&cmdm) && zmq_msg_recv(&envm, io->sock, 0) >= 0;
        while (has_env && zmq_msg_more(&envm)) { /* ignore extra frames */
            zmq_msg_t x;
            zmq_msg_init(&x);
            zmq_msg_recv(&x, io->sock, 0);
            bool more = zmq_msg_more(&x);
            zmq_msg_close(&x);
            if (!more)
                break;
        }
        io->last_recv_ms = io->now_ms;
        const uint8_t *data = zmq_msg_data(&cmdm);
        size_t size = zmq_msg_size(&cmdm);
        if (wire_is_packed(data, size))
            s_read_packed(io, data, size, has_env);
        else
            s_handle(io, data, size, has_env ? zmq_msg_data(&envm) : NULL,
                     has_env ? zmq_msg_size(&envm) : 0, has_env, &envm);
        zmq_msg_close(&cmdm); /* nothing kept points into it: the inbox, early.c and the
                                 held lists copy */
        zmq_msg_close(&envm);
    }
}

/*
 * Stores the deliveries held because the local store was full, once it is
 * time: a few per turn, so that they go in as space frees up; those that
 * still find no room come back in front when their turn is collected.
 */
static void s_retry_parked(s_io *io)
{
    if (!io->parked.n || io->state != IO_OPEN || io->now_ms < io->parked_retry_ms)
        return;
    size_t k = io->parked.n < IO_FULL_RETRY_BATCH ? io->parked.n : IO_FULL_RETRY_BATCH;
    for (size_t i = 0; i < k && io->state == IO_OPEN; i++) {
        s_held *h = &io->parked.items[i];
        s_on_deliver(io, &h->cmd, zmq_msg_data(&h->env), zmq_msg_size(&h->env), &h->env);
    }
    for (size_t i = 0; i < k && i < io->parked.n; i++)
        zmq_msg_close(&io->parked.items[i].env); /* moved into the turn, or dropped */
    if (k > io->parked.n)
        k = io->parked.n; /* (a reset in between cleared the list) */
    io->parked.n -= k;
    memmove(io->parked.items, io->parked.items + k, io->parked.n * sizeof *io->parked.items);
}

/*
 * The receipts that waited for an outbox commit, checked again for good
 * once the commit running when the last of them came has settled (another
 * may be running by then: a message it names is visible anyway).
 */
static void s_retry_waiting(s_io *io)
{
    uint64_t settled = 0, retried = 0;
    if (!io->waiting.n || io->state != IO_OPEN)
        return;
    (void)client_early_out_pending(io->c, &settled);
    bool retrying = s_writes_pending_retry(io->c, &retried);
    io->retry_logged = io->retry_logged && retrying;
    /* Once a commit settled since, or every retry ended and one did since. */
    if (settled == io->waiting_settled && (retrying || retried == io->waiting_retried))
        return;
    s_held_list l = io->waiting;
    io->waiting = (s_held_list){0};
    io->rechecking = true;
    io->recheck_final = settled != io->waiting_newest;
    for (size_t i = 0; i < l.n; i++) {
        if (io->state == IO_OPEN)
            s_on_deliver(io, &l.items[i].cmd, zmq_msg_data(&l.items[i].env),
                         zmq_msg_size(&l.items[i].env), &l.items[i].env);
        zmq_msg_close(&l.items[i].env); /* moved into the turn, or dropped */
    }
    io->rechecking = io->recheck_final = false;
    free(l.items);
}

/* ---- publishing the outbox ---- */

static int s_flight_add(s_io *io, const uint8_t id[16], uint64_t seq, uint64_t bytes)
{
    s_flight *f = s_room(io->flight, io->n_flight, &io->cap_flight, sizeof *f, 256);
    if (!f)
        return -1;
    io->flight = f;
    memcpy(io->flight[io->n_flight].id, id, 16);
    io->flight[io->n_flight].sent_ms = io->now_ms;
    io->flight[io->n_flight].seq = seq;
    io->flight[io->n_flight].bytes = bytes;
    io->n_flight++;
    if (flightix_add(&io->flight_ix, io->flight, sizeof *io->flight, io->n_flight) != 0) {
        io->n_flight--; /* no memory: not tracked, as when the array cannot grow */
        return -1;
    }
    io->flight_bytes += bytes;
    return 0;
}

static bool s_flight_has(const s_io *io, const uint8_t id[16])
{
    return flightix_find(&io->flight_ix, io->flight, sizeof *io->flight, io->n_flight, id) !=
           SIZE_MAX;
}

#define IO_PUMP_BATCH 32 /* pending messages read from the outbox at a time */
/* Bounds for the size check before an item is added to a Packed frame: an item's tags and
   length varints, and the frame's own head. */
#define IO_PACK_ITEM_OVERHEAD 33
#define IO_PACK_HEAD 12

/* The largest Packed frame sent: WIRE_PACK_BYTES, and never above the broker's max_envelope_bytes.
 */
static size_t s_pack_limit(const s_io *io)
{
    uint64_t lim = WIRE_PACK_BYTES;
    if (io->limits.max_envelope_bytes && io->limits.max_envelope_bytes < lim)
        lim = io->limits.max_envelope_bytes;
    return (size_t)lim;
}

static void s_free_block(void *data, void *hint)
{
    (void)data;
    free(hint);
}

/*
 * Sends the Publishes packed so far as one frame. Only once it is queued
 * do they count as sent (in flight, out_cursor, pumped_max); if it cannot
 * be (the high-water mark), nothing of it does and the next turn packs
 * them again from the same cursor. 0 (also when nothing is packed) or -1.
 */
static int s_pack_flush(s_io *io)
{
    if (!io->pack.items)
        return 0;
    size_t off = 0, len = 0, n = io->n_packed;
    uint8_t *block = wire_packer_finish(&io->pack, &off, &len);
    io->n_packed = 0;
    io->packed_bytes = 0;
    zmq_msg_t m;
    if (!block || !io->sock || io->state != IO_OPEN ||
        zmq_msg_init_data(&m, block + off, len, s_free_block, block) != 0) {
        free(block);
        return -1;
    }
    if (zmq_msg_send(&m, io->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m); /* frees the block */
        return -1;
    }
    io->last_send_ms = io->now_ms;
    for (size_t i = 0; i < n; i++)
        s_flight_add(io, io->packed[i].id, io->packed[i].seq, io->packed[i].bytes);
    io->out_cursor = io->pack_cursor;
    if (io->pack_max > io->pumped_max)
        io->pumped_max = io->pack_max;
    io->pack_max = 0;
    return 0;
}

/*
 * Whether the window is full for a next Publish of len envelope bytes: the
 * broker's max_in_flight Publishes, or IO_MAX_FLIGHT_BYTES (unless nothing
 * is in flight). Those packed but not yet sent count.
 */
static bool s_window_full(const s_io *io, size_t len)
{
    size_t n = io->n_flight + io->n_packed;
    return n >= io->window ||
           (n > 0 && io->flight_bytes + io->packed_bytes + len > IO_MAX_FLIGHT_BYTES);
}

/* Whether o is not to be published now: no envelope, or published and not yet answered. */
static bool s_publish_skip(s_io *io, const cstore_out *o)
{
    /* Published before (a rescan) and still awaiting its answer, or answered but not
       recorded yet: not again. Entries above pumped_max were never published. */
    return !o->envelope ||
           (o->seq <= io->pumped_max && (s_flight_has(io, o->id) || s_accept_has(io, o->id)));
}

/* Whether o is larger than the broker takes: then refused here, for good. */
static bool s_publish_too_large(s_io *io, const cstore_out *o)
{
    if (!io->limits.max_envelope_bytes || o->envelope_len <= io->limits.max_envelope_bytes)
        return false;
    /* The broker would drop the connection: refuse it here, for good. */
    s_later_reject(io, o->id, ASYLINK_E_TOO_LARGE, "larger than the broker's max_envelope_bytes");
    return true;
}

/* Publishes o unless it is in flight (or too large: refused for good); -1 at the high-water mark.
 */
static int s_publish(s_io *io, const cstore_out *o)
{
    wire_cmd p = {.kind = WIRE_PUBLISH};
    memcpy(p.u.publish.message_id, o->id, 16);
    bool skip = s_publish_skip(io, o) || s_publish_too_large(io, o);
    int rc = skip ? 0 : s_send(io, &p, o->envelope, o->envelope_len);
    if (rc == 0) {
        io->out_cursor = o->seq;
        if (!skip)
            s_flight_add(io, o->id, o->seq, o->envelope_len);
        if (!skip && o->seq > io->pumped_max)
            io->pumped_max = o->seq;
    }
    return rc;
}

/*
 * s_publish for a session of version 2: adds o's Publish to the pass's
 * Packed frame, which is sent once it holds WIRE_MAX_PACKED items or
 * reaches s_pack_limit(), and at the end of the pass. An envelope too
 * large to pack goes alone, as in version 1; one too large for the broker
 * is refused after what is packed went out (the cursor passes it at once).
 * 0, or -1: a frame could not be queued (or no memory), the rest waits.
 */
static int s_pack_publish(s_io *io, const cstore_out *o)
{
    if (s_publish_skip(io, o)) {
        if (io->pack.items)
            io->pack_cursor = o->seq; /* passed when the frame is queued */
        else
            io->out_cursor = o->seq;
        return 0;
    }
    if (io->limits.max_envelope_bytes && o->envelope_len > io->limits.max_envelope_bytes) {
        if (s_pack_flush(io) != 0)
            return -1;
        s_publish_too_large(io, o);
        io->out_cursor = o->seq;
        return 0;
    }
    wire_cmd p = {.kind = WIRE_PUBLISH};
    memcpy(p.u.publish.message_id, o->id, 16);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode(&p, &buf, &len) != ASYLINK_OK)
        return -1;
    size_t lim = s_pack_limit(io), need = len + o->envelope_len + IO_PACK_ITEM_OVERHEAD;
    bool alone = IO_PACK_HEAD + need > lim;
    int rc = 0;
    if (io->pack.items && (alone || wire_packer_frame_len(&io->pack) + need > lim))
        rc = s_pack_flush(io); /* full, or this one goes alone: what is packed goes first */
    if (rc == 0 && alone) {
        free(buf);
        return s_publish(io, o); /* too large to pack: alone, as in version 1 */
    }
    s_flight *f = rc == 0 ? s_room(io->packed, io->n_packed, &io->cap_packed, sizeof *f, 64) : NULL;
    if (f)
        io->packed = f;
    if (!f || wire_packer_add(&io->pack, buf, len, o->envelope, o->envelope_len) != ASYLINK_OK) {
        free(buf);
        return -1;
    }
    free(buf);
    io->packed[io->n_packed].seq = o->seq;
    io->packed[io->n_packed].bytes = o->envelope_len;
    io->packed_bytes += o->envelope_len;
    memcpy(io->packed[io->n_packed++].id, o->id, 16);
    io->pack_cursor = o->seq;
    if (o->seq > io->pack_max)
        io->pack_max = o->seq;
    if (io->pack.items >= WIRE_MAX_PACKED || wire_packer_frame_len(&io->pack) >= lim)
        return s_pack_flush(io);
    return 0;
}

/*
 * An outbox entry whose record does not read back (the store names its
 * seq): the cursor passes it, so the entries after it still go out. What
 * message it was cannot be told; it is logged as an error, without any
 * content, and set aside by the committer (cstore_outbox_set_aside: no
 * longer pending, so asylink_outbox_pending() can reach 0 and no later
 * session meets it again; the damaged record stays for inspection).
 */
static void s_pump_step_over(s_io *io, uint64_t seq)
{
    if (seq > io->bad_logged) {
        client_log(io->c, ASYLINK_LOG_ERROR,
                   "outbox entry unreadable (local store damaged): not sent, set aside",
                   "seq=%llu code=%s", (unsigned long long)seq, asylink_err_name(ASYLINK_E_IO));
        io->bad_logged = seq;
        s_op *op = s_op_add(io, OP_SET_ASIDE);
        if (op)
            op->out_seq = seq; /* (no memory: the next client opened on the store does) */
    }
    if (io->pack.items)
        io->pack_cursor = seq; /* passed when the frame is queued */
    else
        io->out_cursor = seq;
}

/*
 * Publishes the new outbox entries the committer offered before their
 * commit's fsync (early.c), in seq order, as long as each continues the
 * pump's cursor and the window has room: the first that does not, and
 * those after it, are left to the pump, which reads them from the store
 * once committed. After a failed commit of such entries the pump starts
 * again from the first pending entry (their seqs will name other entries;
 * what is in flight is skipped as on every rescan).
 */
static void s_early_publish(s_io *io, bool packed)
{
    client_early_out_list l;
    bool failed;
    client_early_out_take(io->c, &l, &failed);
    if (failed)
        io->out_cursor = 0;
    for (client_early_out *e = l.head; e; e = e->next) {
        cstore_out o = {.seq = e->seq, .envelope = e->envelope, .envelope_len = e->len};
        uint64_t after = io->pack.items ? io->pack_cursor : io->out_cursor;
        /* One the pump's store read published already (its commit became visible first). */
        if (o.seq <= after)
            continue;
        /* Only the entry right after the cursor: the pump moved it past every seq given out
           before (s_pump), so nothing pending lies in between. */
        if (io->state != IO_OPEN || o.seq != after + 1 || s_window_full(io, e->len))
            break;
        memcpy(o.id, e->id, 16);
        if ((packed ? s_pack_publish(io, &o) : s_publish(io, &o)) != 0)
            break;
    }
    client_early_out_clear(&l);
}

/*
 * Publishes pending outbox messages while the window has room: first those
 * offered before their commit (s_early_publish), then what the store holds
 * (while the cursor is 0, as after a Welcome, the other way round). In a session of version 2 the
 * pass's Publishes go out packed (s_pack_publish), the last frame at the end of the pass.
 */
static void s_pump(s_io *io)
{
    cstore_out batch[IO_PUMP_BATCH];
    bool packed = io->protocol == WIRE_PROTOCOL_PACKED;
    /* A cursor of 0 (after a Welcome, a rescan, a failed commit) continues no offered entry
       until the store read below passes it over what is no longer pending; one offered then (a
       send right after the session opened) would wait for its commit, or be lost to the broker
       if that commit fails: such entries go after the read. */
    bool early_first = io->out_cursor != 0 || io->pack.items;
    if (early_first)
        s_early_publish(io, packed);
    while (io->state == IO_OPEN && !s_window_full(io, 0)) {
        size_t room = io->window - io->n_flight - io->n_packed, n = 0;
        uint64_t after = io->pack.items ? io->pack_cursor : io->out_cursor;
        uint64_t top = 0;
        int rc_next = cstore_outbox_next_pending_top(
            io->c->store, after, batch, room < IO_PUMP_BATCH ? room : IO_PUMP_BATCH, &n, &top);
        if (client_early_out_failed(io->c)) {
            /* A commit whose entries went out early failed: this read may hold other entries
               under their seqs. The next pass starts again from the first (s_early_publish). */
            for (size_t i = 0; i < n; i++)
                cstore_out_clear(&batch[i]);
            break;
        }
        if (rc_next != ASYLINK_OK) {
            if (n == 0 && batch[0].seq > after) { /* an unreadable record, named by its seq */
                s_pump_step_over(io, batch[0].seq);
                continue;
            }
            /* Nothing pending after the cursor: it passes every seq given out so far, so that
               the next entry added (published early, s_early_publish) is right after it. */
            if (n == 0 && rc_next == ASYLINK_E_NOT_FOUND && top > after) {
                if (io->pack.items)
                    io->pack_cursor = top; /* passed when the frame is queued */
                else
                    io->out_cursor = top;
            }
            break;
        }
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (rc == 0 && io->state == IO_OPEN && !s_window_full(io, batch[i].envelope_len))
                rc = packed ? s_pack_publish(io, &batch[i]) : s_publish(io, &batch[i]);
            else
                rc = -1; /* the rest waits for the next turn (or for answers) */
            cstore_out_clear(&batch[i]);
        }
        if (rc != 0)
            break; /* high-water mark: try again next turn */
    }
    if (!early_first)
        s_early_publish(io, packed);
    (void)s_pack_flush(io); /* at the high-water mark: from the same cursor next turn */
}

/*
 * Logs, once per failed flush of the local store (any thread's) or later
 * rewrite, what the store did about it (cstore.h, cstore_flush_state):
 * written again whole; the rewrite failed too, or waits for its interval
 * (every commit counts the failure meanwhile); or the store is unreadable.
 */
static void s_flush_report(s_io *io)
{
    asylink_client *c = io->c;
    uint64_t events = cstore_flush_events(c->store);
    if (events == io->flush_reported)
        return;
    io->flush_reported = events;
    cstore_flush_info f;
    int rc = cstore_flush_state(c->store, &f); /* (its counters also when it fails) */
    if (rc != ASYLINK_OK)
        client_log(c, ASYLINK_LOG_ERROR,
                   "a flush of the local store failed and the store cannot be read any more: "
                   "restart the application on a sound disk",
                   "failures=%llu rewrites=%llu code=%s", (unsigned long long)f.failures,
                   (unsigned long long)f.rewrites, asylink_err_name(rc));
    else if (f.rewritten)
        client_log(c, ASYLINK_LOG_ERROR,
                   "a flush of the local store failed: the store was written again whole",
                   "failures=%llu rewrites=%llu", (unsigned long long)f.failures,
                   (unsigned long long)f.rewrites);
    else if (f.rewrite_tried && f.rewrite_error != ASYLINK_OK)
        client_log(c, ASYLINK_LOG_ERROR,
                   "a flush of the local store failed and so did writing it again: each commit "
                   "counts the failure until one is on disk, and the store is written again "
                   "every 30 s until that succeeds; check the disk",
                   "failures=%llu rewrites=%llu code=%s", (unsigned long long)f.failures,
                   (unsigned long long)f.rewrites, asylink_err_name(f.rewrite_error));
    else
        client_log(c, ASYLINK_LOG_ERROR,
                   "a flush of the local store failed: it is written again whole once 30 s "
                   "have passed since the last time; meanwhile each commit counts the failure; "
                   "check the disk",
                   "failures=%llu rewrites=%llu", (unsigned long long)f.failures,
                   (unsigned long long)f.rewrites);
}

/* ---- timers ---- */

static void s_timers(s_io *io)
{
    asylink_client *c = io->c;
    if (io->state == IO_IDLE && io->now_ms >= io->next_connect_ms) {
        if (s_connect(io) == 0)
            s_send_hello(io);
        else
            s_reset(io, "cannot create the socket", ASYLINK_E_IO, 0);
        return;
    }
    if (io->state == IO_HELLO && io->now_ms - io->state_ms > CLIENT_HELLO_TIMEOUT_MS) {
        s_reset(io, "no Welcome from the broker", ASYLINK_E_TIMEOUT, 0);
        return;
    }
    if (io->state != IO_OPEN)
        return;
    uint64_t hb =
        io->limits.heartbeat_interval_ms ? io->limits.heartbeat_interval_ms : IO_DEFAULT_HEARTBEAT;
    uint64_t hb_timeout =
        io->limits.heartbeat_timeout_ms ? io->limits.heartbeat_timeout_ms : 6 * hb;
    if (hb_timeout > WIRE_HEARTBEAT_TIMEOUT_CEILING_MS) /* 6 x an interval near its ceiling */
        hb_timeout = WIRE_HEARTBEAT_TIMEOUT_CEILING_MS;
    if (!io->limits.heartbeat_interval_ms && hb > hb_timeout / 2)
        hb = hb_timeout / 2; /* a timeout stated without an interval: pinged twice within it */
    if (io->now_ms - io->last_recv_ms > hb_timeout) {
        s_reset(io, "heartbeat timeout", ASYLINK_E_TIMEOUT, 0);
        return;
    }
    if (io->now_ms - io->last_send_ms > hb) {
        wire_cmd ping = {.kind = WIRE_HEARTBEAT, .request_id = ++io->request_id};
        ping.u.heartbeat.sent_ms = io->now_ms;
        s_send(io, &ping, NULL, 0);
    }
    if (io->rescan_at_ms && io->now_ms >= io->rescan_at_ms) {
        io->rescan_at_ms = 0;
        io->out_cursor = 0; /* s_pump skips what is still in flight */
    }
    for (size_t i = 0; i < io->n_flight; i++) {
        if (io->now_ms - io->flight[i].sent_ms > IO_RESEND_MS) {
            client_log(c, ASYLINK_LOG_INFO, "republishing unanswered messages", "count=%zu",
                       io->n_flight);
            s_flight_clear(io);
            io->out_cursor = 0;
            break;
        }
    }
}

static void s_drain_wake(asylink_client *c)
{
    uint64_t v;
    while (read(c->wake_fd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
}

/* Starts the committer thread; without it (no thread) the I/O thread commits each turn itself. */
static void s_committer_start(s_io *io)
{
    asylink_client *c = io->c;
    pthread_mutex_lock(&c->lock);
    int rc = client_thread_create(&io->cm, s_committer_main, io); /* an error number, not errno */
    io->cm_started = rc == 0;
    if (io->cm_started) {
        c->io_commit = io->cm;
        c->io_commit_on = true;
    }
    pthread_mutex_unlock(&c->lock);
    if (!io->cm_started)
        client_log(c, ASYLINK_LOG_WARN, "no committer thread: the I/O thread commits each turn",
                   "errno=%d", rc);
}

/* Commits what is left and ends the committer thread. */
static void s_committer_stop(s_io *io)
{
    asylink_client *c = io->c;
    s_drain(io);
    if (!io->cm_started)
        return;
    pthread_mutex_lock(&c->lock);
    io->cm_stop = true;
    pthread_cond_broadcast(&c->commit_cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(io->cm, NULL);
    pthread_mutex_lock(&c->lock);
    io->cm_started = false;
    c->io_commit_on = false;
    pthread_mutex_unlock(&c->lock);
    s_drain(io); /* what came in meanwhile, here */
}

void *client_io_main(void *arg)
{
    thread_name("asylink-io");
    asylink_client *c = arg;
    s_io io = {.c = c, .backoff_ms = c->reconnect_min_ms};
    (void)batch_cache_new(&io.proofs); /* without one, every proof is walked in full */
    io.retention_ms = clock_now_ms();  /* asylink_client_open() swept */
    io.ctx = zmq_ctx_new();
    if (!io.ctx) {
        s_writes_stop(c);
        return NULL;
    }
    s_committer_start(&io);
    while (!atomic_load(&c->stop)) {
        io.now_ms = clock_now_ms();
        s_timers(&io);
        zmq_pollitem_t items[3] = {{io.sock, 0, ZMQ_POLLIN, 0},
                                   {io.mon, 0, ZMQ_POLLIN, 0},
                                   {NULL, c->wake_fd, ZMQ_POLLIN, 0}};
        int n = io.sock ? 3 : 1;
        long tick = s_receipts_ask(&io, IO_TICK_MS);
        tick = s_accepted_wait(&io, tick);
        zmq_poll(io.sock ? items : items + 2, n, tick);
        io.now_ms = clock_now_ms();
        s_drain_wake(c);
        s_collect(&io); /* Acks of what the committer stored */
        s_read(&io);    /* what the broker said before a loss counts */
        s_read_monitor(&io);
        s_retry_parked(&io);
        s_retry_waiting(&io);
        s_flush_report(&io);
        /* Publish what the outbox holds (and what the committer offered before its commit,
           s_early_publish); the pump only moves forward from its cursor, so nothing answered
           is sent again. */
        s_pump(&io);
        /* The turn's writes go to the committer; this thread goes on reading meanwhile. */
        s_accepted_flush(&io, false);
        s_submit(&io);
        if (io.now_ms - io.trust_check_ms >= CLIENT_TRUST_CHECK_MS) {
            /* This thread holds no write transaction (the committer does): the reload may
               record the revocation list number (its own transaction). */
            io.trust_check_ms = io.now_ms;
            client_trust_refresh(c, false); /* errors are logged; the trust in use stays */
            client_certs_check(c, false);   /* once a day: certificates ending soon */
            /* A client that seals rarely must not keep one ephemeral secret for days. */
            pthread_mutex_lock(&c->seal_lock);
            bool rotated = envelope_sealer_rotate_if_older(c->sealer, io.now_ms,
                                                           ENVELOPE_EPHEMERAL_MAX_AGE_MS);
            pthread_mutex_unlock(&c->seal_lock);
            if (rotated)
                client_log(c, ASYLINK_LOG_INFO, "ephemeral sending key rotated", "age_h=%d", 24);
        }
        if (io.now_ms - io.sweep_ms >= CLIENT_SENT_SWEEP_MS) {
            io.sweep_ms = io.now_ms; /* the sweep has its own transactions */
            client_sent_sweep(c, io.now_ms);
        }
        if (io.now_ms - io.retention_ms >= CLIENT_RETENTION_SWEEP_MS) {
            io.retention_ms = io.now_ms; /* the sweep has its own transactions */
            client_retention_sweep(c, io.now_ms);
        }
        s_send_requests(&io);
        s_pump(&io);
    }
    /* Accepted answers kept are recorded, receipts owed sealed, now rather than at the next open.
     */
    s_accepted_flush(&io, true);
    s_submit(&io);
    s_committer_stop(&io);
    s_flush_report(&io); /* what the last commits went through, before the application closes */
    s_writes_stop(c);
    pthread_mutex_lock(&c->lock);
    client_early_out_clear(&c->early_out); /* offered, not published: stored, sent next open */
    pthread_mutex_unlock(&c->lock);
    uint64_t owed_wait;
    if (!client_receipts_due(c, UINT64_MAX - CLIENT_RECEIPT_LINGER_MS, &owed_wait) ||
        client_receipts_flush(c) == ASYLINK_OK)
        s_pump(&io);
    /* Bye also when the Welcome has not come yet: the Hello is out (s_connect is always followed
       by it), so the broker opens a session on it and would otherwise hold that session, and
       any deliveries sent to it, until its heartbeat timeout. */
    if (io.state == IO_OPEN || io.state == IO_HELLO) {
        wire_cmd bye = {.kind = WIRE_BYE};
        snprintf(bye.u.error.reason, sizeof bye.u.error.reason, "client closing");
        s_send(&io, &bye, NULL, 0);
    }
    if (io.state == IO_OPEN)
        client_log(c, ASYLINK_LOG_INFO, "session ended", "reason=%s code=%s endpoint=%s",
                   CLIENT_Q("client closing"), asylink_err_name(ASYLINK_E_SHUTDOWN),
                   CLIENT_Q(s_endpoint(&io)));
    s_cturn_free(io.open);
    /* The receipts sealed and the Publishes pumped just now, and the Bye, are still queued in
       the socket: they leave within IO_CLOSE_LINGER_MS (zmq_ctx_term waits for them) instead
       of being dropped, which left the receipts to the next open and the session to the
       broker's heartbeat timeout. */
    s_close_socket_linger(&io, IO_CLOSE_LINGER_MS);
    zmq_ctx_term(io.ctx);
    free(io.flight);
    flightix_free(&io.flight_ix);
    batch_cache_destroy(&io.proofs);
    free(io.packed);
    wire_packer_free(&io.pack);
    free(io.ack_buf);
    s_held_clear(&io.parked);
    free(io.parked.items);
    s_held_clear(&io.waiting);
    free(io.waiting.items);
    atomic_store(&c->connected, false);
    return NULL;
}
