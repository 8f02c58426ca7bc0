/*
 * client_internal.h — the inside of an asylink_client, shared by the
 * library's files. Not installed.
 *
 * The files stack one way: each calls only the ones listed before it (and
 * cstore.c, the durable outbox and inbox, which knows no client):
 *
 *   early.c     deliveries handed over before their inbox commit's fsync,
 *               outbox entries published before their outbox commit's
 *   events.c    the library's threads (marked) and re-entry, the log
 *               callback, the event queue and asylink_fd(),
 *               waiting on `cond` (client_wait), waking the I/O thread
 *   failure.c   why no session is open: what the connection attempts found
 *               (socket monitor events, the protocol), asylink_connect_failure_get()
 *   trustref.c  the trust directory in use: held references, reloads,
 *               client_verify()
 *   send.c      sealing and the outbox group commit (asylink_send*)
 *   feed.c      publishing to topics, subscriptions, Directory requests
 *   recv.c      the inbox: asylink_recv, acks, receipts (checked and sent)
 *   io.c        the I/O thread: connection, Hello, sending the outbox,
 *               deliveries into the inbox, requests and answers
 *   client.c    asylink_client_open / _close (and from a config file)
 *
 * Threads: the application's threads call the public functions; one I/O
 * thread owns the ZeroMQ socket and starts the committer thread (io.c).
 * Shared state is guarded by `lock`; the sealer and opener by their own
 * mutexes; the trust reference by trust_lock; the store serialises itself.
 * Every thread the library starts is started by client_thread_create(),
 * which marks it: a public function that could wait for the library's
 * threads or write the store refuses to run on one, or inside the log
 * callback on any thread (client_reentered(), ASYLINK_E_REENTRANT).
 */
#ifndef ASYLINK_CLIENT_INTERNAL_H
#define ASYLINK_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "asylink/asylink.h"
#include "cert.h"
#include "cstore.h"
#include "envelope.h"
#include "keys.h"
#include "logfmt.h"
#include "receipt.h"
#include "rngbuf.h"
#include "trust.h"

/* Longest broker address, and most addresses in broker_endpoint. */
#define CLIENT_ENDPOINT_MAX 255
#define CLIENT_MAX_ENDPOINTS 16

/* A queued event (singly linked). */
typedef struct client_event {
    struct client_event *next;
    asylink_event_type type;
    uint8_t message_id[16];
    int code;
    char reason[256];
    char node[NODE_ID_MAX + 1];
    char endpoint[CLIENT_ENDPOINT_MAX + 1]; /* broker address of the session it came from */
} client_event;

/*
 * One asylink_send(), asylink_send_many(), asylink_publish() or
 * asylink_publish_many() waiting for the group commit. The committer signs
 * the drafts and points each item's envelope at its signed bytes.
 */
/* An Accepted answer not yet recorded in the outbox (the I/O thread keeps it, a commit records it).
 */
typedef struct client_accept {
    uint8_t id[16];
    bool duplicate;
    uint8_t fate; /* enum client_accept_fate, set by client_accepted_record() */
    bool owed;    /* a commit whose outcome was a failure recorded it as the first: still told */
    size_t ep;    /* index of the broker address it came through (the event names it) */
    uint64_t seq; /* its outbox seq as the I/O thread published it; 0 = not known */
} client_accept;

/* What the commit that recorded an Accepted answer tells the application (events.c). */
enum client_accept_fate {
    CLIENT_ACCEPT_NEW = 0,   /* not recorded yet */
    CLIENT_ACCEPT_TELL = 1,  /* the first answer for its message: ASYLINK_EVENT_ACCEPTED */
    CLIENT_ACCEPT_QUIET = 2, /* its message was told of before (ACCEPTED), or refused: no event */
    CLIENT_ACCEPT_HOLD = 3,  /* not in the outbox while a writer's second attempt may store it:
                                kept, recorded again by a later commit */
};

/* A write an application thread hands to the I/O thread (client_io_write). */
typedef struct client_write {
    struct client_write *next;
    int (*fill)(cstore_txn *t, void *arg);
    void *arg;
    int rc;
    bool done;
    bool retrying; /* counted in writes_retrying: its writer tries once more on its own */
    bool applied;  /* failed (rc) after its commit succeeded: stored, not to be written again */
} client_write;

/*
 * What an acknowledgement needs of a message handed over from memory,
 * remembered at hand-over (the envelope digest the I/O thread computed when
 * it verified it), so that acknowledging it reads no envelope and computes
 * no digest (early.c). A small table indexed by the message id; a newer
 * message takes an older one's slot (its acknowledgement then reads the store).
 */
typedef struct client_handed {
    bool used;
    bool feed;
    uint8_t id[16];
    char sender[NODE_ID_MAX + 1];
    char sub[CSTORE_SUB_MAX + 1];
    uint8_t digest[64];
} client_handed;
#define CLIENT_HANDED_SLOTS 4096

/* An outbox entry to publish before its commit is on disk (early.c), a copy of its envelope. */
typedef struct client_early_out {
    struct client_early_out *next;
    uint64_t seq;
    uint8_t id[16];
    size_t len;
    uint8_t envelope[];
} client_early_out;

typedef struct client_early_out_list {
    client_early_out *head, *tail;
    size_t n, bytes;
} client_early_out_list;

/* Turns whose commit results client_early_wait() can still read (early.c). */
#define CLIENT_EARLY_RESULTS 64u
/* Ids of messages handed over from commits that failed, remembered for their acknowledgements
   (early.c, client_early_lost): the newest this many. */
#define CLIENT_EARLY_LOST 256u

/* Deliveries offered before their commit (early.c); the entries are opaque. */
typedef struct client_early client_early;
typedef struct client_early_list {
    client_early *head, *tail;
    size_t bytes; /* envelope bytes held */
    bool closed;  /* an entry was not taken: none after it is (the cursor must not skip it) */
} client_early_list;

typedef struct client_commit {
    struct client_commit *next;
    cstore_out_new *items;         /* what to add to the outbox (borrowed) */
    envelope_draft *const *drafts; /* items[i]'s sealed, unsigned envelope (borrowed) */
    size_t n_items;
    int rc; /* result, valid when done */
    bool done;
} client_commit;

/* Result of a request still waiting for the broker's answer. */
#define CLIENT_PENDING (-1)
#define CLIENT_SUB_NAME_MAX 64
/* Room counted per stored envelope beyond its bytes (record, keys, pages). */
#define CLIENT_PAGE_SLACK 4096

/*
 * A feed subscription this client holds (under lock). The I/O thread sends
 * Subscribe for it in every session whose number differs from sent_session;
 * Subscribed or Error (matched by request_id) sets result.
 */
typedef struct client_sub {
    struct client_sub *next;
    char name[CLIENT_SUB_NAME_MAX + 1];
    char prefix[ENVELOPE_TOPIC_MAX + 1];
    int start; /* asylink_start */
    uint64_t start_value;
    uint64_t gen;          /* bumped by each asylink_subscribe() of this name */
    uint64_t sent_session; /* session the Subscribe went out in (0 = not yet) */
    uint64_t request_id;   /* of that Subscribe */
    int result;            /* CLIENT_PENDING, ASYLINK_OK or the broker's code */
    bool failed;           /* refused by the broker: not resent, deliveries ignored */
} client_sub;

/* What an application thread asks the I/O thread to send. */
enum { CLIENT_REQ_DIRECTORY = 1, CLIENT_REQ_UNSUBSCRIBE = 2 };

/*
 * A request to the I/O thread (under lock). The I/O thread sends it in
 * each session until answered (matched by request_id) and then sets done.
 * A waiting application thread unlinks and frees its request; a detached
 * one is freed by the I/O thread once answered.
 */
typedef struct client_req {
    struct client_req *next;
    int kind;
    char topic[ENVELOPE_TOPIC_MAX + 1]; /* DIRECTORY: the topic */
    char name[CLIENT_SUB_NAME_MAX + 1]; /* UNSUBSCRIBE: the subscription */
    bool delete_cursor;
    bool detached;
    uint64_t sent_session, request_id;
    bool done;
    int rc;
    /* DIRECTORY answer, copied by the I/O thread */
    uint8_t **certs;
    size_t *cert_lens;
    size_t n_certs;
    uint8_t *crl;
    size_t crl_len;
} client_req;

/* Verified reader certificates of a topic (LIMITED publishing), cached a while. */
typedef struct client_readers {
    struct client_readers *next;
    char topic[ENVELOPE_TOPIC_MAX + 1];
    cert **certs;
    size_t n;
    uint64_t fetched_ms;
    int refs; /* holders, the cache list included (lock) */
} client_readers;

struct asylink_client {
    /* configuration (strings owned) */
    char **endpoints;   /* broker addresses in order of preference (connection.c) */
    size_t n_endpoints; /* 1..CLIENT_MAX_ENDPOINTS */
    char *data_dir;
    uint32_t receive_window;
    uint32_t reconnect_min_ms, reconnect_max_ms;
    uint64_t sent_retention_ms;     /* keep sent envelopes this long after Accepted; 0 = none */
    uint64_t metadata_retention_ms; /* finished messages' metadata is kept this long; 0 = ever */
    asylink_log_fn log;
    void *log_ctx;
    asylink_log_level log_level;
    /* identity (immutable after open) */
    keys_secret *keys;
    cert *own;
    cert *broker;
    /* trust: the holder in use, swapped by a reload (trustref.c) */
    char *trust_dir;
    pthread_mutex_t trust_lock;  /* guards the trust pointer and holders' counts */
    pthread_mutex_t reload_lock; /* one reload at a time; guards trust_stamp */
    struct client_trust *trust;
    uint64_t trust_stamp; /* of the trust directory's files at the last load */
    uint64_t certs_checked_ms; /* client_certs_check(): the last look at the certificates' ends
                                  (under reload_lock) */
    /* crypto objects, each under its own lock */
    pthread_mutex_t seal_lock;
    envelope_sealer *sealer;
    client_rng *rng; /* the sealer's random bytes (under seal_lock, as the sealer) */
    pthread_mutex_t open_lock;
    envelope_opener *opener;
    pthread_mutex_t ack_lock; /* one asylink_ack_many() or asylink_purge() at a time */
    cstore *store;
    /* shared state under lock */
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* new inbox entries, receipts, commits, requests answered */
    pthread_cond_t ev_cond;   /* new events (asylink_next_event waits on it alone) */
    pthread_cond_t done_cond; /* writes done, outbox group commits done (their writers wait
                                 on it alone): neither wakes the other waiters */
    client_event *events_head, *events_tail;
    uint64_t recv_cursor;               /* last inbox seq handed over in this process */
    uint64_t inbox_stored;              /* highest inbox seq committed by this process (io.c) */
    client_early_list early;            /* the committing turn's new entries (early.c) */
    uint64_t early_turn;                /* turns settled so far */
    int early_rc[CLIENT_EARLY_RESULTS]; /* turn k's commit result at k % CLIENT_EARLY_RESULTS */
    uint8_t early_lost[CLIENT_EARLY_LOST][16]; /* ids handed over from failed commits (a ring) */
    int early_lost_rc[CLIENT_EARLY_LOST];      /* ... each one's commit error */
    uint64_t early_lost_n;                     /* ... how many were put in so far */
    client_early_out_list early_out;    /* new outbox entries to publish before their commit */
    bool early_out_committing;          /* ... whose commit is not visible yet */
    bool early_out_failed;              /* a commit with entries published early failed */
    uint64_t early_out_settled;         /* commits with early entries settled so far */
    client_accept *accepted;            /* Accepted answers to record (send.c, io.c) */
    size_t n_accepted, cap_accepted;    /* ... */
    uint64_t accepted_since_ms;         /* when the oldest of them came */
    const client_accept *acc_sending;   /* those a senders' group commit took and records ... */
    size_t n_acc_sending;               /* ... (until its outcome: io.c, s_accept_has) */
    client_handed *handed;              /* CLIENT_HANDED_SLOTS, or NULL (no memory: unused) */
    client_handed last_taken;           /* what client_early_take() took last */
    uint64_t owed_count;                /* receipts owed, not yet sealed (recv.c) */
    client_write *writes, *writes_tail; /* for the I/O thread's next commit (io.c) */
    uint64_t writes_retrying;           /* writers whose write failed there, trying again on
                                           their own (client_io_write) ... */
    uint64_t writes_retried;            /* ... and how many such second attempts ended */
    bool io_writes;                     /* the I/O thread takes writes (false once it stops) */
    pthread_cond_t commit_cond;         /* wakes the I/O thread's committer (io.c), and waiters
                                           for it */
    pthread_t io_commit;                /* the committer thread, while io_commit_on */
    bool io_commit_on;
    uint64_t owed_since_ms;          /* when the oldest of them was owed; 0 = due now */
    uint64_t store_changes;          /* bumped (and cond broadcast) after each commit that
                                        changed the store and each purge: a waiter that looked
                                        at the store without the lock waits only if unchanged */
    client_commit *commits;          /* waiting senders (group commit) */
    bool committing;                 /* a leader is committing */
    bool readable;                   /* notify_fd holds a byte */
    client_sub *subs;                /* feed subscriptions */
    client_req *reqs;                /* requests for the I/O thread */
    client_readers *readers;         /* reader cache of LIMITED feed publishing */
    uint64_t readers_gen;            /* trust reloads (older reader lists are not cached) */
    asylink_connection conn;         /* where the I/O thread is (connection.c) */
    asylink_connect_failure failure; /* why no session is open (failure.c) */
    /* wake-ups */
    int notify_fd[2]; /* application side: readable while something is ready */
    int wake_fd;      /* eventfd: wakes the I/O thread (new outbox entries) */
    /* I/O thread */
    pthread_t io;
    bool io_started;
    atomic_bool stop;
    atomic_bool connected;
};

/* ---- events.c: the library's threads and re-entry ---- */

/*
 * Starts a library thread running body(arg), as pthread_create() with
 * default attributes (its result: 0 or an errno value; ENOMEM if the start
 * cannot be allocated). The thread is marked as the library's before body
 * runs. Every thread the library starts goes through here.
 */
int client_thread_create(pthread_t *t, void *(*body)(void *), void *arg);

/* Whether the calling thread is one the library started (client_thread_create). */
bool client_library_thread(void);

/*
 * Whether the calling thread is one the library started, or is inside the
 * application's log callback (on any thread): a public function that could
 * wait for the library's threads (the I/O thread, its committer), join
 * them or take the store's write lock would deadlock there, and returns
 * ASYLINK_E_REENTRANT instead (CLIENT_REFUSE_REENTRY).
 */
bool client_reentered(void);

/* The first statement of such a public function (after its NULL checks). */
#define CLIENT_REFUSE_REENTRY()                                                                    \
    do {                                                                                           \
        if (client_reentered())                                                                    \
            return ASYLINK_E_REENTRANT;                                                            \
    } while (0)

/* ---- early.c: hand-over before the inbox commit is on disk ---- */

/* Largest envelope handed over early, and most bytes offered per turn. */
#define CLIENT_EARLY_MAX_ENVELOPE (256u * 1024u)
#define CLIENT_EARLY_MAX_TURN (8u * 1024u * 1024u)
/* A turn's entries are not offered early while the reader has more than this many committed
   entries left to take: it reaches the turn's only after they are committed (io.c). */
#define CLIENT_EARLY_BEHIND 1000u

/*
 * Appends a copy of a new inbox entry (seq assigned in the I/O thread's
 * uncommitted turn) to l. ASYLINK_E_TOO_LARGE past the limits above (the
 * entry is then handed over after the commit only), E_NOMEM.
 */
int client_early_add(client_early_list *l, const cstore_in_key *key, uint64_t seq,
                     uint64_t broker_seq, uint64_t received_ms, const uint8_t *env, size_t len,
                     const uint8_t digest[64], bool feed);

/* Frees l's entries. */
void client_early_clear(client_early_list *l);

/*
 * The I/O thread's committer, just before committing the batch whose entries
 * l holds: makes them available to asylink_recv() (l is taken over and
 * emptied). Takes the lock.
 */
void client_early_offer(asylink_client *c, client_early_list *l);

/*
 * The committer, after that commit (rc its result): drops the offered entries;
 * on failure the ones handed over come again once stored. Takes the lock.
 */
void client_early_settle(asylink_client *c, int rc);

/* Whether an offered entry is above the recv cursor (lock held). */
bool client_early_ready(const asylink_client *c);

/*
 * The first offered entry above the recv cursor, copied into *out (the
 * cursor moves to it). ASYLINK_E_NOT_FOUND, E_NOMEM. Lock held.
 */
int client_early_take(asylink_client *c, cstore_in *out);

/* ---- early.c: outbox entries published before their commit is on disk ---- */

/* Most entries and bytes one batch (commit) publishes early; the rest goes out after it. */
#define CLIENT_EARLY_OUT_MAX 1000u
#define CLIENT_EARLY_OUT_BYTES (8u * 1024u * 1024u)

/*
 * The committer collects into l (NULL: stops) what the writes of one batch
 * add to the outbox: client_early_out_note() appends to the list of the
 * calling thread only, so a write applied elsewhere (no I/O thread) notes
 * nothing. The limits above count from here.
 */
void client_early_out_collect(client_early_out_list *l);

/*
 * A write's fill, after cstore_outbox_add(): a copy of the new entry for the
 * I/O thread, if this thread collects (else nothing). Past the limits above,
 * or without memory, the entry and every later one of the batch are left to
 * the pump (published once committed).
 */
void client_early_out_note(uint64_t seq, const uint8_t id[16], const uint8_t *env, size_t len);

/* Frees the entries l got after mark (a copy of l taken before), making l mark again. */
void client_early_out_truncate(client_early_out_list *l, const client_early_out_list *mark);

/* Frees l's entries. */
void client_early_out_clear(client_early_out_list *l);

/*
 * The committer, just before committing the batch whose new outbox entries
 * l holds: hands them to the I/O thread (l is emptied) and marks a commit
 * with early entries as running. Takes the lock.
 */
void client_early_out_offer(asylink_client *c, client_early_out_list *l);

/*
 * The committer, after that commit (rc its result, the commit visible):
 * clears the mark; on failure drops what the I/O thread has not taken and
 * notes the failure (the seqs will name other entries). Takes the lock.
 */
void client_early_out_settle(asylink_client *c, int rc);

/*
 * The I/O thread: takes the offered entries into *l (in seq order) and
 * whether a commit with early entries failed since the last take. Takes the
 * lock.
 */
void client_early_out_take(asylink_client *c, client_early_out_list *l, bool *failed);

/* Whether a commit with entries published early failed since the last take (the flag stays for
   client_early_out_take). Takes the lock. */
bool client_early_out_failed(asylink_client *c);

/* Whether a commit whose entries may have been published early is not visible yet, and how many
   such commits have settled so far (takes the lock): a receipt for such an entry waits for it. */
bool client_early_out_pending(asylink_client *c, uint64_t *settled);

/* Remembers the entry recv just took from the offered ones (lock held). */
void client_handed_put(asylink_client *c, const client_handed *h);

/* The remembered entry of (id, sender, sub) into *out; false if none (lock held). */
bool client_handed_get(const asylink_client *c, const uint8_t id[16], const char *sender,
                       const char *sub, client_handed *out);

/*
 * Before reading the inbox to acknowledge or erase the messages with the n
 * ids (the first at ids, each stride bytes after the one before): waits
 * until the turn being committed is, if it handed one of them over early.
 * ASYLINK_OK (also when none was: nothing waited for), or that turn's
 * commit error (its entries are not stored; they are handed over again
 * once they are). Takes the lock.
 */
int client_early_wait(asylink_client *c, const uint8_t *ids, size_t stride, size_t n);

/*
 * For an acknowledgement that did not find the message with this id: the
 * error of the failed commit of a turn that handed it over early (among
 * the newest CLIENT_EARLY_LOST such messages), so that the acknowledgement
 * fails as it would have had it come while that commit ran; ASYLINK_OK if
 * no such message had the id. Takes the lock.
 */
int client_early_lost(asylink_client *c, const uint8_t id[16]);

/*
 * Logs a logfmt line through the application's callback (if any): msg is
 * a fixed sentence; fmt the key=value tail, where every value that is not
 * a fixed word goes through CLIENT_Q() (the line stays valid logfmt
 * regardless: see core/logfmt.h).
 */
void client_log(asylink_client *c, asylink_log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* client_log() to a callback without a client (log may be NULL: nothing happens). */
void client_log_to(asylink_log_fn log, void *ctx, asylink_log_level level, const char *msg,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* s as one logfmt value, for "%s" in client_log()'s tail (valid until the end of the block). */
#define CLIENT_Q(s) logfmt_quote((char[256]){0}, 256, (s))

/* Queues an event and makes asylink_fd() readable. */
void client_event_push(asylink_client *c, asylink_event_type type, const uint8_t id[16], int code,
                       const char *reason, const char *node);

/* A new event (id, reason and node may be NULL), to queue later; NULL if out of memory. */
client_event *client_event_new(asylink_event_type type, const uint8_t id[16], int code,
                               const char *reason, const char *node);

/* Queues e (malloc'd; taken) and makes asylink_fd() readable. */
void client_event_queue(asylink_client *c, client_event *e);

/* The ASYLINK_EVENT_ACCEPTED event of a recorded answer, naming its broker address; NULL: no
 * memory. */
client_event *client_accepted_event(const asylink_client *c, const client_accept *a);

/* Queues the list head (linked by next, in order; taken) at once: one lock, one wake-up. */
void client_event_queue_list(asylink_client *c, client_event *head);

/* Copies src (NULL = "") into dst of size bytes, cut to fit and NUL-terminated. */
void client_copy_str(char *dst, size_t size, const char *src);

/*
 * Splits a broker_endpoint value into its addresses: separated by commas
 * and/or white space, each tcp://HOST:PORT or ipc://PATH, at most
 * CLIENT_MAX_ENDPOINTS, none twice. On success *out is a new array of *n
 * strings (client_endpoints_free). ASYLINK_E_INVALID_ARG with err (errlen
 * bytes, may be NULL/0) saying why, or ASYLINK_E_NOMEM.
 */
int client_endpoints_parse(const char *list, char ***out, size_t *n, char *err, size_t errlen);

/* Frees what client_endpoints_parse() made (n strings) and NULLs *eps. Accepts NULL. */
void client_endpoints_free(char ***eps, size_t n);

/*
 * The I/O thread's report of where it is: address index (in c->endpoints),
 * the broker's node id (NULL = unchanged), whether a session is open, now.
 * Updates c->conn (taking the lock) and rewrites data_dir/connection.
 */
void client_conn_set(asylink_client *c, size_t index, const char *broker, bool connected,
                     uint64_t now_ms);

/* At close: marks the connection file as no longer running. */
void client_conn_closed(asylink_client *c, uint64_t now_ms);

/* Reads data_dir/connection into *out (see connection.c). E_NOT_FOUND, E_MALFORMED, E_IO. */
int client_conn_read_file(const char *data_dir, asylink_connection *out);

/* Re-evaluates whether asylink_fd() should be readable (lock held). */
void client_update_readable(asylink_client *c);

/*
 * Adds n (at most BATCH_MAX) sealed messages to the outbox (all or none)
 * via the group commit and wakes the I/O thread. drafts[i] is items[i]'s
 * unsigned envelope: the committer signs the whole commit (one call's
 * drafts under one root) and sets items[i].envelope to the signed bytes,
 * owned by the draft (the caller destroys the drafts afterwards).
 * ASYLINK_E_TOO_LARGE for n > BATCH_MAX, the store's codes, E_NOMEM.
 */
int client_outbox_commit(asylink_client *c, cstore_out_new *items, envelope_draft *const *drafts,
                         size_t n);

/*
 * ASYLINK_OK, or ASYLINK_E_TOO_LARGE (logged with the size and the limit)
 * for a payload over ENVELOPE_MAX_PAYLOAD or too many recipients.
 */
int client_check_size(asylink_client *c, size_t len, size_t n_recipients);
/*
 * ASYLINK_OK, or ASYLINK_E_CLASSIFICATION (logged with what to do) when
 * content_type carries personal data and classification is not PERSONAL.
 */
int client_check_class(asylink_client *c, const char *content_type, int classification);

/*
 * ASYLINK_E_BAD_FIELD, with a WARN line saying what is wrong, if
 * content_type is not a valid content type or topic (when not NULL) not a
 * valid topic; else ASYLINK_OK.
 */
int client_check_names(asylink_client *c, const char *content_type, const char *topic);

/*
 * ASYLINK_E_BAD_FIELD, with a WARN line, if content_type is one of the two
 * names reserved for the library's receipts (RECEIPT_CONTENT_TYPE,
 * RECEIPT_SINGLE_CONTENT_TYPE; PROTOCOL.md 3.1): the application's own
 * messages and publications may not carry them, so that only an
 * acknowledgement ever makes a node sign a receipt. Else ASYLINK_OK.
 */
int client_check_reserved(asylink_client *c, const char *content_type);

/*
 * The items of one asylink_send_many() or asylink_publish_many() call, as
 * client_seal_many() sees them: their payload sizes, where each result
 * goes, and how one is sealed (into out and draft, digest filled).
 */
typedef struct client_many {
    void *items;
    size_t n;
    size_t (*len)(const void *items, size_t i);
    int *(*result)(void *items, size_t i);
    int (*seal)(asylink_client *c, void *items, size_t i, cstore_out_new *out,
                envelope_draft **draft, uint8_t digest[64]);
} client_many;

/*
 * The body of both *_many calls: checks c, n (<= ASYLINK_SEND_MAX) and the
 * payload bytes (<= ASYLINK_SEND_MANY_MAX_BYTES), seals every item
 * (reporting each one's result), and commits all of them as one batch
 * (one signed root) or none; every item's result is set. Returns the first
 * failure, or the commit's result.
 */
int client_seal_many(asylink_client *c, const client_many *m);

/* Seals payload for the recipients (certificates from the trust directory) into a draft. */
int client_seal(asylink_client *c, const asylink_send_params *p, const void *payload, size_t len,
                envelope_draft **out, uint8_t id[16], uint8_t digest[64]);

/* Signs n drafts of this client's sealer: alone (n = 1) or as one batch (envelope_sign()). */
int client_sign(asylink_client *c, envelope_draft *const *drafts, size_t n);

/*
 * Receipts are sealed by the I/O thread, not in asylink_ack*(): every
 * acknowledgement's receipts are recorded (owed) in its commit, and those
 * owed to one sender within CLIENT_RECEIPT_LINGER_MS (or, under load, the
 * first CLIENT_RECEIPT_FLUSH_AT) go out as one ReceiptSet, all sets of a
 * flush under one signature: one Ed25519 signature and, at the broker and
 * the sender, one verification per flush instead of per acknowledgement.
 */
#define CLIENT_RECEIPT_LINGER_MS 10
#define CLIENT_RECEIPT_FLUSH_AT 256

/*
 * Whether owed receipts are due for sealing now; if some are owed but not
 * due, *wait_ms is how long until they are (else UINT64_MAX). Takes the lock.
 */
bool client_receipts_due(asylink_client *c, uint64_t now_ms, uint64_t *wait_ms);

/*
 * Seals the oldest owed receipts (up to RECEIPT_SET_MAX) into ReceiptSet
 * envelopes, one per sender, signed as one batch, and moves them from the
 * owed records into the outbox in one transaction. Call with no write
 * transaction of this thread open. Errors are logged and retried later.
 */
int client_receipts_flush(asylink_client *c);

/*
 * client_receipts_flush in three steps, for a caller that writes them in a
 * transaction of its own (the I/O thread's committer): _begin lists the
 * receipts owed and seals them (no transaction of the caller's open; *out
 * always set unless out of memory); _fill writes them in t (a cstore_nested
 * fill); _end, after the commit with rc the outcome (the commit's, else
 * _fill's), counts what is left, logs and frees f (NULL is fine).
 */
typedef struct client_flush client_flush;
int client_receipts_flush_begin(asylink_client *c, client_flush **out);
int client_receipts_flush_fill(cstore_txn *t, void *arg);
void client_receipts_flush_end(asylink_client *c, client_flush *f, int rc);

/*
 * Accepted answers are recorded in the outbox lazily: by the next senders'
 * group commit (which happens anyway), by the I/O thread's next commit, or
 * by the I/O thread on its own after IO_ACCEPT_LINGER_MS. Their
 * ASYLINK_EVENT_ACCEPTED events follow the commit that records them.
 */

/*
 * Takes the kept Accepted answers (*out malloc'd, caller frees; their count)
 * for a senders' group commit, which names them in c->acc_sending until
 * client_accepted_settle() or client_accepted_put_back(). Takes the lock.
 */
size_t client_accepted_take(asylink_client *c, client_accept **out);

/*
 * Puts answers taken back in front (their commit failed); frees a. One
 * recorded as the first (CLIENT_ACCEPT_TELL) stays owed its event: the
 * failed commit may be visible all the same (only its flush failed), and
 * the next record then finds its message ACCEPTED. Takes the lock; under
 * it, a name of a other threads read under the lock (c->acc_sending, and
 * *alias when alias is not NULL and *alias == a, with its count *alias_n)
 * is cleared in the same step, so that no reader sees a after it is freed
 * nor misses the answers between.
 */
void client_accepted_put_back(asylink_client *c, client_accept *a, size_t n, client_accept **alias,
                              size_t *alias_n);

/*
 * Records answers a[0..n) in t (evidence copy and state), logging what
 * fails, and sets each one's fate: told only for the commit that makes its
 * message ACCEPTED (cstore_outbox_accept_at's first), so that a message id
 * gets one ASYLINK_EVENT_ACCEPTED per client however often it went out;
 * held while a writer's second attempt may still store it (client_io_write,
 * DESIGN-CHANGES 59); told when the outbox does not hold it otherwise (the
 * broker has it, e.g. after asylink_send() returned IO).
 */
void client_accepted_record(asylink_client *c, cstore_txn *t, client_accept *a, size_t n,
                            uint64_t now_ms);

/*
 * Once the commit that recorded a[0..n) (client_accepted_record) is on
 * disk: returns the events of those told (a list, in order), puts those held
 * back (client_accepted_put_back) and frees a. Takes the lock.
 */
client_event *client_accepted_settle(asylink_client *c, client_accept *a, size_t n);

/* Wakes the I/O thread. */
void client_wake_io(asylink_client *c);

/* Waits on c->cond (lock held) until deadline (timeout_ms < 0: forever); false on timeout. */
bool client_wait(asylink_client *c, int timeout_ms, const struct timespec *deadline);

/* client_wait() on cond (one of c's, used with c->lock). */
bool client_wait_on(asylink_client *c, pthread_cond_t *cond, int timeout_ms,
                    const struct timespec *deadline);

/* Deadline timeout_ms from now (for client_wait). */
void client_deadline(int timeout_ms, struct timespec *ts);

/* Whether client_wait(c, timeout_ms, deadline) would time out at once: timeout 0, or deadline past.
 */
bool client_deadline_passed(int timeout_ms, const struct timespec *deadline);

/*
 * Checks a verified receipt envelope e against the outbox: a ReceiptSet
 * payload signed by a recipient of our messages, every entry quoting the
 * digest of an envelope we sent to that recipient (an entry that does not
 * match refuses the whole set; entries for messages no longer held here are
 * skipped and counted in *skipped (may be NULL), and a set of nothing else
 * is ASYLINK_E_NOT_FOUND). On success *out is a malloc'd array of *n
 * receipts (caller frees). Codes: ASYLINK_OK, ASYLINK_E_CLASSIFICATION
 * (not encrypted), ASYLINK_E_MALFORMED, ASYLINK_E_TOO_LARGE, ASYLINK_E_BAD_FIELD,
 * ASYLINK_E_NOT_FOUND, ASYLINK_E_TAMPERED, and envelope_open()'s.
 */
int client_receipt_check(asylink_client *c, const envelope *e, receipt **out, size_t *n,
                         size_t *skipped);

/* The public view of a checked receipt. */
void client_receipt_info(const receipt *r, asylink_receipt_info *info);

/*
 * Sets signer_revoked of message id's listed receipts info[0..n): whether
 * the certificate that signed the receipt envelope each cites is on the
 * revocation list of the trust in use. ASYLINK_OK, ASYLINK_E_IO (a stored
 * envelope no longer decodes, logged), ASYLINK_E_NOMEM.
 */
int client_receipts_mark_revoked(asylink_client *c, const uint8_t id[16],
                                 asylink_receipt_info *info, size_t n);

/* How often the I/O thread removes sent envelopes past their retention (evidence.c). */
#define CLIENT_SENT_SWEEP_MS 60000

/*
 * Removes the sent envelopes kept longer than the retention (all of them
 * when it is 0), in bounded transactions of its own; errors are logged.
 * Call with no write transaction of this thread open.
 */
void client_sent_sweep(asylink_client *c, uint64_t now_ms);
/* How often the I/O thread runs the retention sweep (erasure.c). */
#define CLIENT_RETENTION_SWEEP_MS (10 * 60 * 1000)

/*
 * Removes the metadata of finished messages older than the client's
 * metadata retention (asylink.h "Retention"), in bounded transactions of
 * its own, at most about CLIENT_RETENTION_SWEEP_MAX records per call;
 * what it removed and any error are logged. Call with no write
 * transaction of this thread open.
 */
#define CLIENT_RETENTION_SWEEP_MAX 100000
void client_retention_sweep(asylink_client *c, uint64_t now_ms);

/* How often the I/O thread looks for changes in the trust directory. */
#define CLIENT_TRUST_CHECK_MS 5000

typedef struct client_trust client_trust;

/*
 * Installs t (loaded from dir; taken over) as the trust in use; stamp is
 * client_trust_stamp(dir) taken before t was loaded, so a change made
 * during the load is reloaded later. E_NOMEM.
 */
int client_trust_init(asylink_client *c, const char *dir, trust *t, uint64_t stamp);

/*
 * At open, with the store open: refuses (ASYLINK_E_STALE, logged) a
 * revocation list older than the newest this node has used, else records
 * the list in use.
 */
int client_trust_remember(asylink_client *c);

/* Frees the trust in use at close (no reader may hold it any more). */
void client_trust_free(asylink_client *c);

/*
 * The trust in use, held (not freed by a reload) until client_trust_put().
 * Any thread; hold it for one operation, not across waits.
 */
const trust *client_trust_get(asylink_client *c, client_trust **hold);
void client_trust_put(asylink_client *c, client_trust *hold);

/* envelope_verify() against the trust in use. */
int client_verify(asylink_client *c, const envelope *e, uint64_t now_ms);

/* A stamp of the trust directory's files (names, inodes, sizes, times). */
uint64_t client_trust_stamp(const char *dir);

/*
 * Reloads the trust directory when its files changed since the last load
 * (force: always). On failure the trust in use stays and the error is
 * logged and returned: trust_reload()'s codes (ASYLINK_E_STALE for an older
 * revocation list, E_NOT_FOUND, E_MALFORMED, ...).
 */
int client_trust_refresh(asylink_client *c, bool force);

/*
 * Logs what the certificates this node relies on say about their end
 * (core/certend.h): its own, its copy of the broker's (broker_cert), the
 * CA's. A WARN while one ends within 30 days (the CA's: 90), an ERROR once
 * the node's or the broker's is no longer usable. Looks when forced (at
 * open; a reload looks itself) or once CERTEND_INTERVAL_MS has passed
 * since the last look (the I/O thread asks every few seconds). Any thread.
 */
void client_certs_check(asylink_client *c, bool force);

/* Frees a request and its answer. Accepts NULL. */
void client_req_free(client_req *r);

/* Frees the feed state (subscriptions, requests, reader cache) at close. */
void client_feeds_free(asylink_client *c);

/*
 * Forgets the reader cache of LIMITED publishing after a trust reload: its
 * lists were checked under the previous trust (a reader revoked since must
 * not get the next message's key). Takes the client lock.
 */
void client_readers_forget(asylink_client *c);

/* How long the I/O thread waits for Welcome after connecting. */
#define CLIENT_HELLO_TIMEOUT_MS 5000

/*
 * What the I/O thread learnt about one connection attempt (its socket,
 * from connect to Welcome), from the socket's monitor (io.c) and the
 * protocol. I/O thread only.
 */
typedef struct client_attempt {
    char endpoint[256]; /* the broker address tried */
    bool tcp_up;        /* a TCP connection is up */
    bool tcp_seen;      /* one was up at some point of this attempt */
    bool handshake_ok;  /* the CURVE handshake succeeded on it */
    int code;           /* the monitor's finding (ASYLINK_OK: none yet) */
    char reason[512];   /* ... in words */
} client_attempt;

/* Starts the account of an attempt to endpoint. */
void client_attempt_start(client_attempt *a, const char *endpoint);

/*
 * The attempt failed (no Welcome in time: ASYLINK_E_TIMEOUT; the monitor
 * ended it: ASYLINK_E_UNAVAILABLE; a fatal Error or Bye before Welcome:
 * the broker's code and reason; no socket: ASYLINK_E_IO): records the most
 * specific reason known, counting one failed attempt.
 */
void client_attempt_failed(asylink_client *c, client_attempt *a, int code, const char *reason);

/*
 * Publishes why no session is open (code, human reason, the endpoint
 * concerned) for asylink_connect_failure_get(); attempt counts one failed
 * attempt. Logged once per change of reason. Takes the lock.
 */
void client_failure_record(asylink_client *c, int code, const char *reason, const char *endpoint,
                           bool attempt);

/* A session opened: the failure record is cleared. Takes the lock. */
void client_failure_clear(asylink_client *c);

/*
 * What one ZeroMQ monitor event (ZMQ_EVENT_*, with its value) of the
 * attempt's socket says: TCP connected, CURVE handshake done, or why the
 * attempt fails (published at once). I/O thread.
 */
void client_attempt_event(asylink_client *c, client_attempt *a, uint16_t event, uint32_t value);

/*
 * Runs fill(t, arg) in the I/O thread's next commit, together with that
 * turn's deliveries (one fsync for both, and no wait for the store's write
 * lock behind the I/O thread), in a nested transaction: all of fill's
 * writes or none. Waits for the commit. When the I/O thread does not run,
 * or its commit could not take the write (the store full, a failed
 * commit), the write is done here with cstore_write(). Returns fill's code
 * or the commit's. Call with no transaction open and no lock held.
 */
int client_io_write(asylink_client *c, int (*fill)(cstore_txn *t, void *arg), void *arg);

/* The I/O thread's body. */
void *client_io_main(void *arg);

#endif
