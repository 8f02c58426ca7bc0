/*
 * cstore.h — the client library's durable state: one LMDB environment in
 * the client's data directory.
 *
 *   outbox    seq (u64 BE) -> sent message: id, state, created_ms,
 *             recipients, envelope digest (kept for receipts); the envelope
 *             bytes are in sent (schema 6; inline in older records), gone
 *             once Rejected, or Accepted and not kept as evidence
 *   outbox_id message_id(16) -> seq
 *   inbox     seq (u64 BE) -> received message: id, state, sender,
 *             subscription, broker sequence, received_ms, envelope digest;
 *             the envelope bytes are in inbox_env (schema 6; inline in
 *             older records), dropped at ack: the entry stays as a
 *             tombstone so a redelivery is recognised
 *   inbox_id  message_id(16) sender '\0' subscription -> seq: one entry
 *             per (sender, message id) for a direct message, and per
 *             (sender, message id, subscription) for a feed message, so
 *             that every subscription holds its own copy
 *   receipts  message_id(16) recipient -> receipt info + the signed receipt
 *             envelope (evidence)
 *   sent      outbox seq -> a sent envelope, stored once: while PENDING
 *             the one published, then the one kept as evidence (from the
 *             broker's Accepted until cstore_sent_sweep removes it)
 *   inbox_env inbox seq -> the envelope of a PENDING inbox entry
 *   sent_time kept_ms seq: the same entries by age, for the sweep
 *   evidence_refs  which receipt cites which stored receipt envelope, so
 *             that an envelope goes with the last receipt citing it
 *   meta      "schema_version" -> u32
 *
 * Erasure and retention (cstore_purge, cstore_retention_sweep): a purge
 * erases a message's envelope on this node and keeps its metadata as a
 * tombstone; the retention sweep removes the metadata of finished
 * messages (never a PENDING entry) once they are older than the node's
 * retention.
 *
 * Envelopes are stored as received (still encrypted); nothing decrypted is
 * written to disk.
 *
 * Writes go through transactions (cstore_txn); reads open their own read
 * transaction. The environment is opened with MDB_NOTLS so any thread may
 * read; LMDB serialises writers. A data directory has one user:
 * cstore_open() takes an exclusive lock on dir/asylink-client.lock and
 * fails with ASYLINK_E_EXISTS if another process (or client) holds it.
 *
 * Threading: a cstore may be used from several threads; a cstore_txn only
 * by the thread that began it.
 */
#ifndef ASYLINK_CLIENT_CSTORE_H
#define ASYLINK_CLIENT_CSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylink/asylink.h"
#include "receipt.h"

/*
 * 2: receipts cite shared evidence (receipt value version 2, database
 * "evidence") and meta has crl_number / crl_ca. A version 1 store is
 * upgraded in place when opened (its values stay readable as they are).
 * 3: the inbox is keyed by (message id, sender, subscription), no longer
 * by the message id alone, and its records carry the subscription. A
 * version 1 or 2 store is upgraded in place when opened: inbox_id is
 * rebuilt from the inbox records, which stay as they are and read as
 * entries without a subscription (cstore.c).
 * 4: inbox records may be PURGED (tombstones of erased messages) and the
 * evidence_refs database indexes the receipts citing each stored receipt
 * envelope. A version 1 to 3 store is upgraded in place when opened: the
 * index is built from the receipts.
 * 5: the receipts_owed database (receipts of acknowledged messages not yet
 * sealed). A version 1 to 4 store gets it, empty, when opened.
 * 6: outbox records may be of record version 2, whose envelope is stored
 * once, in the sent database (the evidence copy kept from Accepted on),
 * not in the record; inbox records may be of record version 2, whose
 * envelope is in the inbox_env database (deleted at the ack) and which
 * carry the envelope's digest. Records of version 1 stay as they are and
 * are read and handled as before; an older library refuses the store (its
 * schema is newer), since it would read version 2 records as corrupt.
 */
#define CSTORE_SCHEMA_VERSION 6

/* Longest feed subscription name in an inbox key, in bytes (as CLIENT_SUB_NAME_MAX). */
#define CSTORE_SUB_MAX 64

/* Longest node id in a record (sender, recipient), in bytes (as NODE_ID_MAX). */
#define CSTORE_NAME_MAX 64

typedef struct cstore cstore;
typedef struct cstore_txn cstore_txn;

/* Outbox states. */
enum cstore_out_state {
    CSTORE_OUT_PENDING = 1,  /* waiting for the broker's Accepted */
    CSTORE_OUT_ACCEPTED = 2, /* stored by the broker */
    CSTORE_OUT_REJECTED = 3, /* refused by the broker (code, reason) */
};

/* Inbox states. */
enum cstore_in_state {
    CSTORE_IN_PENDING = 1, /* stored, not yet acknowledged by the application */
    CSTORE_IN_ACKED = 2,   /* acknowledged: never handed over again */
    CSTORE_IN_PURGED = 3,  /* erased on this node (cstore_purge): a tombstone, never handed
                              over (a redelivery is recognised and dropped) */
};

/*
 * Opens (creating, mode 0700) the store in dir. durable: fsync each commit
 * (else MDB_NOSYNC: survives application crashes, not power loss).
 * Returns ASYLINK_OK, ASYLINK_E_EXISTS (locked by another client, in this
 * process or another), ASYLINK_E_UNSUPPORTED_VERSION, ASYLINK_E_IO (errno
 * then says why when a system call or mdb_env_open failed, else 0),
 * ASYLINK_E_NOMEM.
 */
int cstore_open(const char *dir, bool durable, cstore **out);

/*
 * The data directory's privacy check of cstore_open_private(): as
 * datadir_private() does (core/datadir.h), group and other permission bits
 * of the directory and its files (the lock file, data.mdb, lock.mdb) are
 * removed, each reported to tightened (may be NULL; arg is passed to it),
 * and an entry owned by another user is refused: bad (badlen bytes) gets
 * the entry's path and *uid its owner.
 */
typedef struct {
    void (*tightened)(void *arg, const char *path, unsigned before, unsigned after);
    void *arg;
    char *bad;
    size_t badlen;
    unsigned *uid;
} cstore_private_check;

/*
 * cstore_open() with the privacy check run once the store's lock is held
 * and before LMDB opens the environment: the check opens and closes
 * lock.mdb, and closing any descriptor of that file drops every POSIX
 * lock the process holds on it, LMDB's included (a running mdb_copy would
 * then reset the lock file under the client). chk NULL: no check. Returns
 * what cstore_open() returns and ASYLINK_E_KEY_PERMISSIONS.
 */
int cstore_open_private(const char *dir, bool durable, const cstore_private_check *chk,
                        cstore **out);

/*
 * How many reader slots of processes that are gone (an mdb_copy killed
 * mid-backup, a client killed with kill -9 inside a read) cstore_open()
 * cleared from lock.mdb (lmdbkit_stale_readers_clear()); 0 for NULL.
 */
int cstore_stale_readers(const cstore *s);
void cstore_close(cstore **self_p);

/*
 * Write transactions. cstore_begin: ASYLINK_OK, E_INVALID_ARG, E_NOMEM,
 * E_IO. The map (64 MiB at first) grows by itself: ahead of need, when a
 * write transaction would begin with it three quarters used, and
 * otherwise when a write finds it full. ASYLINK_E_STORE_FULL, from an operation (LMDB allocates
 * pages as it writes, so this is where the map fills) or from
 * cstore_commit, means this transaction is lost. End it (cstore_abort, or cstore_commit, which then
 * returns E_STORE_FULL); the map grows as it ends, and the caller retries the whole transaction
 * from cstore_begin (once is normally enough; a bound of a few attempts is wise). Operation results
 * E_INVALID_ARG, E_TOO_LARGE, E_NOT_FOUND, E_EXISTS, E_DUPLICATE, E_NOMEM and E_IO (a corrupt
 * stored record) change nothing and leave the transaction usable; after any other failure every
 * later operation and the commit return that failure.
 */
int cstore_begin(cstore *s, cstore_txn **out);
/*
 * Commits (fsync when durable). Frees the txn either way. ASYLINK_OK / E_IO /
 * E_STORE_FULL. E_IO also when the commit succeeded but another thread's
 * flush failed meanwhile (cstore_flush_clean_since): visible, perhaps not on
 * disk.
 */
int cstore_commit(cstore_txn **t);

/*
 * Commits like cstore_commit, but in a durable store returns once the data
 * pages are fsync'd and the meta page that makes the commit current is
 * written, not yet synced: the commit is visible to every reader and
 * survives a crash of the process, and is on disk (survives a power loss)
 * once the next commit of any thread that wrote (*wrote true: it fsync'd its
 * data pages after that meta page) or cstore_sync() has returned. LMDB's
 * MDB_NOMETASYNC: a power loss before that can only undo this last commit,
 * never corrupt the store. *wrote: this commit wrote data pages (an empty
 * transaction writes nothing). For the I/O thread's committer (io.c), which
 * reports nothing of a commit before it is on disk. Relaxed store: as
 * cstore_commit.
 */
int cstore_commit_unsynced(cstore_txn **t, bool *wrote);

/* Puts every commit so far on disk (fdatasync; nothing in a relaxed store). ASYLINK_OK / E_IO. */
int cstore_sync(cstore *s);

/* What a durable store went through after failed flushes (cstore.c, "Durability"). */
typedef struct {
    uint64_t failures;  /* failed flushes (commits' and syncs') in this process */
    uint64_t counted;   /* "flush_failures" in the meta database: commits that counted one */
    uint64_t rewrites;  /* times the whole store was written again after one */
    int rewrite_error;  /* the last rewrite's failure (an asylink_err), else ASYLINK_OK */
    bool rewrite_tried; /* a rewrite was tried after the last failure */
    bool rewritten;     /* ... and succeeded: every failure so far is answered by a rewrite */
    bool unanswered;    /* a failure not yet followed by a rewrite or a counting commit on disk */
} cstore_flush_info;

/*
 * After a failed flush of any thread (an I/O error, not a full disk), the store is
 * written again whole from what this process maps, once no transaction is
 * open (at most once per CSTORE_REWRITE_INTERVAL_MS, and only with room
 * for the copy); otherwise every commit counts the failure
 * ("flush_failures") and so writes, until one of them is on disk. *out:
 * where that stands (its counters also when reading the store fails).
 * ASYLINK_OK, E_INVALID_ARG, E_IO.
 */
int cstore_flush_state(cstore *s, cstore_flush_info *out);

/* At most one rewrite after failed flushes per this many milliseconds. */
#define CSTORE_REWRITE_INTERVAL_MS 30000

/* Tests only: the interval between rewrites (0: one per failure), from now on. */
void cstore_set_rewrite_interval(cstore *s, uint64_t ms);

/*
 * The failed flushes so far, as a mark for cstore_flush_clean_since(). Taken
 * before a commit begins, it says later whether a flush failed since (of
 * any thread: the kernel may then have dropped pages of that commit, and a
 * later flush would say OK). 0 for NULL.
 */
uint64_t cstore_flush_mark(cstore *s);

/*
 * Whether nothing since mark (cstore_flush_mark) can have kept a commit
 * begun after it from the disk: no flush failed since, or a rewrite of the
 * whole store answered every failure. False for NULL.
 */
bool cstore_flush_clean_since(cstore *s, uint64_t mark);

/*
 * Counts what cstore_flush_state() can tell of (failures handled, rewrites
 * tried), without reading the store: a change says it has something new.
 * 0 for NULL.
 */
uint64_t cstore_flush_events(cstore *s);

/* Whether commits are fsync'd (cstore_open's durable). */
bool cstore_durable(const cstore *s);

/*
 * Runs fill(t, arg) in a nested transaction of t: its writes join t when it
 * returns ASYLINK_OK, else they vanish and t is as before (still usable).
 * Returns fill's code, or the nesting's own (E_NOMEM, E_STORE_FULL, E_IO).
 */
int cstore_nested(cstore_txn *t, int (*fill)(cstore_txn *t, void *arg), void *arg);
void cstore_abort(cstore_txn **t);

/*
 * Bytes new data (sends, deliveries) may still take in t's store: the free
 * space of the file system holding the data directory plus the pages LMDB
 * can reuse inside its file, less DATADIR_RESERVE_BYTES (core/datadir.h),
 * which stays for acknowledgements: they free space, so they must find
 * room on a full disk. Counting LMDB's pages reads its free list, done only
 * when the file system has less than 256 MiB more than the reserve free.
 * 0 for a broken or NULL t.
 */
uint64_t cstore_room(cstore_txn *t);

/*
 * One write transaction with the retry the comment above asks for: begins,
 * calls fill(t, arg) for the operations, commits; when the map was full
 * (from fill or the commit) it starts again from the beginning, up to 8
 * times (fill must therefore be repeatable). Returns fill's first other
 * failure (the transaction then aborted), the commit's result, or
 * ASYLINK_E_STORE_FULL when the map could not grow enough.
 */
int cstore_write(cstore *s, int (*fill)(cstore_txn *t, void *arg), void *arg);

/*
 * Reads (everything below taking a cstore *) run in their own read
 * transaction; a thread holding a write transaction may call them and sees
 * the last commit. A cstore_out / cstore_in is overwritten (not freed) and
 * zeroed on failure; a stored record that fails validation gives
 * ASYLINK_E_IO.
 */

/* ---- outbox ---- */

/* A message to remember as sent. Pointers borrowed for the call. */
typedef struct cstore_out_new {
    const uint8_t *id;             /* 16 bytes */
    const char *const *recipients; /* may be NULL with n_recipients 0 (feed message) */
    size_t n_recipients;
    const uint8_t *digest; /* 64-byte envelope signature digest */
    uint64_t created_ms;
    const uint8_t *envelope;
    size_t envelope_len;
} cstore_out_new;

/* Adds a PENDING message; its outbox seq into *seq (may be NULL). ASYLINK_E_EXISTS if the id is
   already there. */
int cstore_outbox_add(cstore_txn *t, const cstore_out_new *m, uint64_t *seq);

/* A stored sent message (read side). Strings and buffers malloc'd; free with cstore_out_clear. */
typedef struct cstore_out {
    uint64_t seq;
    uint8_t id[16];
    int state;        /* enum cstore_out_state */
    int code;         /* Rejected: asylink_err */
    char reason[256]; /* Rejected: reason */
    uint64_t created_ms;
    char (*recipients)[65];
    size_t n_recipients;
    uint8_t digest[64];
    uint8_t *envelope; /* NULL once accepted/rejected */
    size_t envelope_len;
} cstore_out;

void cstore_out_clear(cstore_out *m);

/*
 * The next PENDING message with seq > after_seq, envelope included. E_NOT_FOUND at the end.
 * On E_IO (a corrupt entry) out->seq still names the entry, so the caller can step over it.
 */
int cstore_outbox_next_pending(cstore *s, uint64_t after_seq, cstore_out *out);

/*
 * Up to max PENDING messages with seq > after_seq, in order, read in one
 * transaction into out[0..*n) (each to be cstore_out_clear'ed). ASYLINK_OK
 * with *n >= 1, E_NOT_FOUND at the end (*n = 0), or the error of the first
 * entry (E_IO for a corrupt one, with out[0].seq naming it as in
 * cstore_outbox_next_pending); an entry that fails after others ends the
 * batch before it, so the next call reports it.
 */
int cstore_outbox_next_pending_many(cstore *s, uint64_t after_seq, cstore_out *out, size_t max,
                                    size_t *n);

/*
 * cstore_outbox_next_pending_many(), and at the end (E_NOT_FOUND, nothing
 * pending after after_seq) *top (may be NULL) = the highest outbox seq
 * given out so far, read in the same transaction: no entry up to it is
 * pending, the next entry added gets a higher one. 0 otherwise.
 */
int cstore_outbox_next_pending_top(cstore *s, uint64_t after_seq, cstore_out *out, size_t max,
                                   size_t *n, uint64_t *top);

/* A sent message by id (envelope included if still stored). E_NOT_FOUND if unknown. */
int cstore_outbox_get(cstore *s, const uint8_t id[16], cstore_out *out);

/*
 * A sent message's state by id, in one read, copying neither its envelope
 * nor its recipients: *state (enum cstore_out_state) and *code (the
 * REJECTED entry's code, else ASYLINK_OK); both 0 / ASYLINK_OK on error.
 * ASYLINK_OK, E_NOT_FOUND (no outbox entry has id), E_INVALID_ARG, E_IO (a
 * damaged entry or index).
 */
int cstore_outbox_state(cstore *s, const uint8_t id[16], int *state, int *code);

/* A receipt to check against the sent message it covers (cstore_outbox_match_many). */
typedef struct cstore_out_match {
    const uint8_t *id;     /* 16 bytes: the message */
    const char *recipient; /* who acknowledged it */
    const uint8_t *digest; /* 64 bytes: the envelope digest the receipt covers */
    int rc;                /* out: ASYLINK_OK (sent to recipient, with this digest),
                              E_TAMPERED (sent, but not to recipient or with another
                              digest), E_NOT_FOUND (not in the outbox), E_IO (damaged) */
} cstore_out_match;

/*
 * Checks m[0..n) against the outbox in one read transaction, without
 * copying the records (what cstore_outbox_get() and a comparison of
 * recipients and digest would find, for each). ASYLINK_OK (each m[i].rc
 * set), E_INVALID_ARG, or the read's failure (no rc set).
 */
int cstore_outbox_match_many(cstore *s, cstore_out_match *m, size_t n);

/* Marks a message ACCEPTED or REJECTED (dropping its envelope bytes). E_NOT_FOUND if unknown. */
int cstore_outbox_set_state(cstore_txn *t, const uint8_t id[16], int state, int code,
                            const char *reason);

/*
 * The broker refused id for good: cstore_outbox_set_state(REJECTED) if the
 * entry is PENDING, and *first true; an entry ACCEPTED or REJECTED before
 * (its event told) or purged here stays as it is, *first false, so that a
 * message gets one ACCEPTED or one REJECTED event, never both. ASYLINK_OK
 * (also then), ASYLINK_E_NOT_FOUND, or the store's error.
 */
int cstore_outbox_reject(cstore_txn *t, const uint8_t id[16], int code, const char *reason,
                         bool *first);

/*
 * Takes the outbox entry under seq out of the PENDING ones when it does not
 * read back (its record or its envelope damaged: what the pump steps over):
 * it is never sent and no longer counted by cstore_outbox_pending_count();
 * the damaged record stays where it is. ASYLINK_OK, also when seq is not
 * pending or reads back after all (then nothing changes); the store's errors.
 */
int cstore_outbox_set_aside(cstore_txn *t, uint64_t seq);

/* Number of PENDING messages. */
int cstore_outbox_pending_count(cstore *s, uint64_t *count);

/* ---- inbox ---- */

/*
 * What names one inbox entry. Borrowed for the call. A message a sender
 * addressed to us is (id, sender) with no subscription; a feed message
 * is (id, sender, the subscription it came through): the same feed
 * message delivered through two subscriptions is two entries.
 */
typedef struct cstore_in_key {
    const uint8_t *id;        /* 16 bytes */
    const char *sender;       /* node id, 1..64 bytes */
    const char *subscription; /* 0..CSTORE_SUB_MAX bytes; NULL = "" (direct) */
} cstore_in_key;

/*
 * Stores a received envelope as PENDING. ASYLINK_OK when new,
 * ASYLINK_E_DUPLICATE when the key is already there (in any state: nothing
 * changes; *state_out, may be NULL, tells which). ASYLINK_E_INVALID_ARG
 * for a key with no id, a sender of 0 or more than 64 bytes, or a
 * subscription longer than CSTORE_SUB_MAX.
 */
int cstore_inbox_add(cstore_txn *t, const cstore_in_key *key, uint64_t broker_seq,
                     uint64_t received_ms, const uint8_t *envelope, size_t envelope_len,
                     int *state_out);

/* What the receiver knows of an envelope it verified, stored with it (borrowed for the call). */
typedef struct cstore_in_extra {
    const uint8_t *digest; /* the envelope's digest (64 bytes), or NULL */
    bool topic;            /* the envelope has a topic (a feed message: no receipt) */
} cstore_in_extra;

/*
 * cstore_inbox_add() that also stores extra (cstore_inbox_add stores no
 * digest), so that an acknowledgement needs neither the envelope nor its
 * decoding (cstore_inbox_peek). Same results; ASYLINK_E_INVALID_ARG if
 * extra is NULL.
 */
int cstore_inbox_add_extra(cstore_txn *t, const cstore_in_key *key, uint64_t broker_seq,
                           uint64_t received_ms, const uint8_t *envelope, size_t envelope_len,
                           const cstore_in_extra *extra, int *state_out);

/* The inbox seq the last successful cstore_inbox_add() of t assigned (0: none yet). */
uint64_t cstore_inbox_added_seq(const cstore_txn *t);

typedef struct cstore_in {
    uint64_t seq; /* inbox order */
    uint8_t id[16];
    int state; /* enum cstore_in_state */
    char sender[65];
    char subscription[CSTORE_SUB_MAX + 1]; /* "" for a direct message (and for a feed
                                              message stored before schema 3) */
    uint64_t broker_seq;
    uint64_t received_ms;
    uint8_t *envelope; /* malloc'd; NULL for acked tombstones (and from cstore_inbox_peek) */
    size_t envelope_len;
    bool has_digest; /* digest holds the envelope's digest (stored by cstore_inbox_add_extra) */
    uint8_t digest[64];
    bool topic; /* the envelope has a topic (cstore_inbox_add_extra's extra->topic) */
} cstore_in;

void cstore_in_clear(cstore_in *m);

/*
 * The next PENDING entry with seq > after_seq, envelope included. E_NOT_FOUND at the end.
 * On E_IO (a corrupt entry) out->seq still names the entry, as for the outbox.
 */
int cstore_inbox_next_pending(cstore *s, uint64_t after_seq, cstore_in *out);

/* Whether a PENDING entry with seq > after_seq exists (nothing copied; false on errors). */
bool cstore_inbox_pending_after(cstore *s, uint64_t after_seq);

/* An entry's state by key. ASYLINK_E_NOT_FOUND if unknown. */
int cstore_inbox_state(cstore *s, const cstore_in_key *key, int *state);

/* A PENDING entry by key, envelope included. ASYLINK_E_NOT_FOUND if unknown or acked. */
int cstore_inbox_get(cstore *s, const cstore_in_key *key, cstore_in *out);

/*
 * An entry by key in one read: *state, and for a PENDING one out (without
 * the envelope: out->envelope NULL, envelope_len 0; nothing to free).
 * ASYLINK_OK (*state says which; out is filled only when PENDING),
 * ASYLINK_E_NOT_FOUND if unknown, E_INVALID_ARG, E_IO.
 */
int cstore_inbox_peek(cstore *s, const cstore_in_key *key, int *state, cstore_in *out);

/*
 * Marks an entry ACKED and drops its envelope (keeping the tombstone).
 * ASYLINK_OK (also if already acked, or purged: it then stays PURGED),
 * ASYLINK_E_NOT_FOUND.
 */
int cstore_inbox_ack(cstore_txn *t, const cstore_in_key *key);

/*
 * cstore_inbox_ack() given the entry's inbox seq as well (as found by
 * cstore_inbox_find): its record is read directly, without the id index,
 * when it holds key; otherwise (another entry's seq, none) key is looked up
 * as by cstore_inbox_ack(). The same results.
 */
int cstore_inbox_ack_at(cstore_txn *t, const cstore_in_key *key, uint64_t seq);

/* An entry found by message id alone (cstore_inbox_find). */
typedef struct cstore_in_ref {
    uint64_t seq; /* inbox order */
    int state;    /* enum cstore_in_state */
    char sender[65];
    char subscription[CSTORE_SUB_MAX + 1];
    bool has_digest;    /* digest holds the envelope's digest (as cstore_in.has_digest) */
    bool topic;         /* the record says the envelope has a topic (a feed message) */
    uint8_t digest[64]; /* with has_digest */
} cstore_in_ref;

/*
 * Every entry holding message id (from any sender, through any
 * subscription), in key order: the PENDING ones are written to out (up to
 * max; with what their record says of the envelope, so an acknowledgement
 * needs no second look-up: cstore_inbox_peek), *n_pending counts all
 * PENDING ones and *n_acked the ACKED ones; out may be NULL with max 0.
 * ASYLINK_OK (also for none), E_INVALID_ARG,
 * E_IO (a corrupt entry), E_NOMEM.
 */
int cstore_inbox_find(cstore *s, const uint8_t id[16], cstore_in_ref *out, size_t max,
                      size_t *n_pending, size_t *n_acked);

/*
 * cstore_inbox_find() with max 1 for ids[0..n) in one read transaction:
 * for each id i, out[i] (its first PENDING entry, when n_pending[i] > 0),
 * n_pending[i], n_acked[i] and rcs[i], the id's own result (ASYLINK_OK, or
 * E_IO for a corrupt entry, whose counts are then 0). Returns ASYLINK_OK
 * once every id was looked up, E_INVALID_ARG, or E_IO / E_NOMEM when the
 * transaction could not be had (nothing looked up).
 */
int cstore_inbox_find_many(cstore *s, const uint8_t (*ids)[16], size_t n, cstore_in_ref *out,
                           size_t *n_pending, size_t *n_acked, int *rcs);

/* Number of PENDING inbox entries. */
int cstore_inbox_pending_count(cstore *s, uint64_t *count);

/* ---- revocation list numbers ---- */

/*
 * The revocation list this node last used: its CA (first 8 bytes of the
 * CA's signing key, as a little-endian number) and its number; both 0 if
 * none was recorded.
 */
int cstore_crl_get(cstore *s, uint64_t *ca, uint64_t *number);

/* Records the revocation list in use (the caller never lowers the number for one CA). */
int cstore_crl_put(cstore_txn *t, uint64_t ca, uint64_t number);

/* ---- receipts ---- */

/*
 * Stores (or replaces) the receipts infos[i] for ids[i] (i < n), all proven
 * by one signed envelope (a ReceiptSet), which is stored once. Nothing is
 * written if an argument is invalid (E_INVALID_ARG).
 */
int cstore_receipt_put_many(cstore_txn *t, const uint8_t (*ids)[16],
                            const asylink_receipt_info *infos, size_t n, const uint8_t *envelope,
                            size_t envelope_len);

/* Stores (or replaces) recipient's receipt for id with its evidence envelope. */
int cstore_receipt_put(cstore_txn *t, const uint8_t id[16], const asylink_receipt_info *info,
                       const uint8_t *envelope, size_t envelope_len);

/* Up to max receipts for id into out; *n = how many are held. ASYLINK_OK even for 0. */
int cstore_receipt_list(cstore *s, const uint8_t id[16], asylink_receipt_info *out, size_t max,
                        size_t *n);

/* The evidence envelope of recipient's receipt for id (malloc'd). E_NOT_FOUND. */
int cstore_receipt_envelope(cstore *s, const uint8_t id[16], const char *recipient, uint8_t **env,
                            size_t *len);

/* ---- sent envelopes kept as evidence ---- */

/*
 * Keeps id's envelope as evidence, kept since now_ms (a record of schema 6
 * is marked kept, its envelope in sent stays where it is; an older one's is
 * copied there). Call it in the transaction that marks the message
 * ACCEPTED, before cstore_outbox_set_state(), which otherwise drops the
 * envelope. While the message is still PENDING the kept envelope is not
 * swept (it is the one resent). Keeping it twice is ASYLINK_OK (the first
 * time stays). ASYLINK_OK,
 * ASYLINK_E_NOT_FOUND (unknown id, or not PENDING: nothing left to copy),
 * ASYLINK_E_NOMEM.
 */
int cstore_sent_keep(cstore_txn *t, const uint8_t id[16], uint64_t now_ms);

/*
 * The broker accepted id: cstore_sent_keep() (if keep) and
 * cstore_outbox_set_state(ACCEPTED) in one look-up of the record. A
 * message that is no longer PENDING only gets its state set. ASYLINK_OK,
 * ASYLINK_E_NOT_FOUND (unknown id), ASYLINK_E_NOMEM (nothing changed), or
 * the store's error.
 */
int cstore_outbox_accept(cstore_txn *t, const uint8_t id[16], bool keep, uint64_t now_ms);

/*
 * cstore_outbox_accept() given the entry's outbox seq as well (seq 0: not
 * known): its record is read directly, without the id index, when it holds
 * id; otherwise id is looked up as by cstore_outbox_accept(). The same
 * results. *first (may be NULL) is set true only when this call made the
 * entry ACCEPTED from PENDING, or from REJECTED by a purge on this node
 * (ASYLINK_E_PURGED): the first Accepted answer the application is to be
 * told of; false when it was ACCEPTED already (a duplicate's answer),
 * REJECTED by the broker, not found, or on error.
 */
int cstore_outbox_accept_at(cstore_txn *t, const uint8_t id[16], uint64_t seq, bool keep,
                            uint64_t now_ms, bool *first);

/*
 * The kept envelope of id (*env malloc'd, caller frees) and since when it
 * is kept. ASYLINK_E_NOT_FOUND if not a sent message or its envelope is not
 * kept (any more).
 */
int cstore_sent_get(cstore *s, const uint8_t id[16], uint8_t **env, size_t *len, uint64_t *kept_ms);

/*
 * Removes kept envelopes whose kept_ms <= cutoff_ms, oldest first, at most
 * max in this transaction; *removed says how many. It touches nothing else:
 * outbox records (with the digest and recipients receipts are checked
 * against), pending envelopes (resent until Accepted) and receipts stay.
 */
int cstore_sent_sweep(cstore_txn *t, uint64_t cutoff_ms, size_t max, size_t *removed);

/* Number of kept envelopes. */
int cstore_sent_count(cstore *s, uint64_t *count);
/* ---- erasure and retention ---- */

/* What cstore_purge found. */
typedef struct cstore_purge_result {
    size_t found;  /* entries holding the message: the outbox entry, inbox entries */
    size_t erased; /* of those, the ones whose envelope was erased now (the others had none) */
} cstore_purge_result;

/*
 * Erases this node's copies of message id in t: with outbox, the entry
 * this node sent (a PENDING one becomes REJECTED with code
 * ASYLINK_E_PURGED and reason "purged on this node", so it is never sent;
 * of an accepted one the copy kept as evidence goes, cstore_sent_keep());
 * and every inbox entry of id from sender (any sender if NULL), through
 * any subscription: its envelope goes and it becomes a PURGED tombstone,
 * which recognises a redelivery. Ids, digests, recipients and receipts
 * stay (they hold no payload) until the retention sweep. *out (may be
 * NULL) says what was found. ASYLINK_OK (also when nothing matched:
 * found 0), ASYLINK_E_INVALID_ARG, ASYLINK_E_IO (a corrupt entry: nothing
 * changed by it), ASYLINK_E_NOMEM, and the transaction's errors.
 */
int cstore_purge(cstore_txn *t, const uint8_t id[16], bool outbox, const char *sender,
                 cstore_purge_result *out);

/* What one retention sweep removed. */
typedef struct cstore_sweep_stats {
    size_t outbox;   /* finished outbox records (with their id index entries) */
    size_t receipts; /* receipts of those messages */
    size_t evidence; /* receipt envelopes no receipt cites any more */
    size_t inbox;    /* inbox tombstones (ACKED or PURGED, with their id index entries) */
} cstore_sweep_stats;

/*
 * Removes, in t, the metadata of finished messages older than cutoff_ms:
 * outbox records no longer PENDING created at or before cutoff_ms, with
 * their receipts and the receipt envelopes no other receipt cites; inbox
 * records no longer PENDING received at or before cutoff_ms. PENDING
 * entries (not yet accepted by the broker, or not yet acknowledged by the
 * application) are never touched, nor a sent message whose envelope is
 * still kept as evidence (cstore_sent_sweep() removes that first). Each database is walked in
 * arrival order and the walk stops at the first finished record newer than the cutoff (or after max
 * records examined in all: *more is then set, and the caller runs another transaction, which goes
 * on after the last record examined: the store records where, so records that stay are not
 * examined again until both walks have ended and the next sweep starts over). st (may be
 * NULL) adds what was removed. A record that fails validation is left in place and stepped over.
 * ASYLINK_OK, ASYLINK_E_INVALID_ARG, and the transaction's errors (ASYLINK_E_IO also for an index
 * that names the wrong record).
 */
int cstore_retention_sweep(cstore_txn *t, uint64_t cutoff_ms, size_t max, cstore_sweep_stats *st,
                           bool *more);

/* ---- receipts owed ---- */

/*
 * An acknowledged direct message's receipt, recorded in the acknowledging
 * transaction and sealed later (with others to the same sender, as one
 * ReceiptSet) by the I/O thread: committed with the acknowledgement, the
 * obligation survives a crash.
 */
typedef struct cstore_owed {
    uint64_t seq; /* order of acknowledgement */
    receipt r;    /* message_id, envelope_digest, sender, acked_ms, status (no recipient) */
} cstore_owed;

/* Records r (sender 1..64 bytes, a known status). ASYLINK_E_INVALID_ARG, the store's codes. */
int cstore_owed_add(cstore_txn *t, const receipt *r);

/*
 * The oldest owed receipts, at most max, into out[0..*n). *damaged: the seq
 * of a record that does not validate (0: none), to be deleted.
 */
int cstore_owed_list(cstore *s, cstore_owed *out, size_t max, size_t *n, uint64_t *damaged);

/* Deletes one owed receipt (nothing if absent). */
int cstore_owed_del(cstore_txn *t, uint64_t seq);

/*
 * cstore_owed_del() of owed[0..n).seq through one cursor: a key on the leaf
 * page the cursor is on is found without a search from the root (the owed
 * entries sealed together are neighbours). The same results.
 */
int cstore_owed_del_many(cstore_txn *t, const cstore_owed *owed, size_t n);

/* How many receipts are owed. */
int cstore_owed_count(cstore *s, uint64_t *count);

/* ---- record decoders ----
 * The bytes of one stored key or value, validated as every read of the
 * store validates them (the layouts are in cstore.c). They read only the
 * len bytes given, whatever those hold: a corrupt or restored data
 * directory is refused (ASYLINK_E_IO from the reads above), never trusted.
 * Exported for the fuzz target tests/fuzz/fuzz_cstore.c; the store's own
 * reads call them on LMDB's pages in place.
 */

/* An outbox record decoded in place (pointers into its bytes, valid as long as they). */
typedef struct cstore_out_record {
    int version;             /* record version: 1 (envelope inline) or 2 (in sent) */
    int state;               /* enum cstore_out_state */
    int code;                /* REJECTED: why */
    uint64_t created_ms;     /* when it was sent */
    const uint8_t *id;       /* 16 bytes */
    const uint8_t *digest;   /* 64 bytes */
    const char *reason;      /* reason_len bytes, not NUL-terminated */
    size_t reason_len;       /* 0..255 */
    uint32_t n_recipients;   /* >= 1 */
    const char *recipients;  /* n_recipients ids each followed by '\0' */
    size_t recipients_len;   /* bytes of the recipients block */
    const uint8_t *envelope; /* version 1: the envelope bytes; version 2: NULL */
    size_t envelope_len;     /* their number (version 2: in sent); 0 unless PENDING */
    bool kept;               /* version 2: the envelope in sent is kept as evidence */
    uint64_t kept_ms;        /* version 2: since when (0 unless kept) */
} cstore_out_record;

/* An inbox record decoded in place (pointers valid as for cstore_out_record). */
typedef struct cstore_in_record {
    int version;             /* record version: 1 (envelope inline) or 2 (in inbox_env) */
    int state;               /* enum cstore_in_state */
    uint64_t broker_seq;     /* the broker's sequence */
    uint64_t received_ms;    /* when it was stored */
    const uint8_t *id;       /* 16 bytes */
    const char *sender;      /* sender_len bytes, not NUL-terminated */
    size_t sender_len;       /* 1..CSTORE_NAME_MAX */
    const char *sub;         /* subscription: sub_len bytes, not NUL-terminated */
    size_t sub_len;          /* 0..CSTORE_SUB_MAX; 0 = direct */
    const uint8_t *envelope; /* version 1: the envelope bytes; version 2: NULL */
    size_t envelope_len;     /* their number (version 2: in inbox_env); 0 once ACKED */
    int flags;               /* version 2: 1 = digest holds the envelope's, 2 = a feed message */
    const uint8_t *digest;   /* version 2 with flag 1: 64 bytes, else NULL */
} cstore_in_record;

/* A receipt value decoded in place. */
typedef struct cstore_rcpt_record {
    int status;              /* 1 delivered, 2 rejected */
    uint64_t acked_ms;       /* when the recipient's application acked */
    const uint8_t *digest;   /* 64 bytes */
    const uint8_t *envelope; /* the signed receipt envelope (inline), or NULL */
    size_t envelope_len;     /* > 0 when inline */
    const uint8_t *evidence; /* the evidence key (32 bytes), or NULL */
} cstore_rcpt_record;

/* Decodes an outbox record of len bytes at p into *r; false if it does not validate. */
bool cstore_out_decode(const uint8_t *p, size_t len, cstore_out_record *r);

/*
 * Writes the header of an outbox record for r into p (112 bytes for
 * version 1, 128 for version 2); its length. The reason, recipients and
 * (version 1) envelope follow it, written by the caller.
 */
size_t cstore_out_header(uint8_t *p, const cstore_out_record *r);

/* Decodes an inbox record of len bytes at p into *r; false if it does not validate. */
bool cstore_in_decode(const uint8_t *p, size_t len, cstore_in_record *r);

/* Bytes of the inbox record r encodes to. */
size_t cstore_in_size(const cstore_in_record *r);

/* Writes the inbox record r into p (exactly cstore_in_size(r) bytes; r may point into p). */
void cstore_in_encode(uint8_t *p, const cstore_in_record *r);

/* Decodes a receipt value (either version) into *r; false if it does not validate. */
bool cstore_rcpt_decode(const uint8_t *p, size_t len, cstore_rcpt_record *r);

/*
 * Splits a receipt key (message id(16) recipient) into recipient,
 * NUL-terminated; false unless the recipient has 1..CSTORE_NAME_MAX bytes
 * without NUL.
 */
bool cstore_rcpt_key_split(const uint8_t *key, size_t len, char recipient[CSTORE_NAME_MAX + 1]);

/*
 * Validates a sent value (a kept envelope) for message id (16 bytes; NULL:
 * any); false if it does not. *version: 1 (a copy, kept since *kept_ms) or
 * 2 (the envelope of a version 2 outbox record; *kept_ms 0).
 */
bool cstore_sent_decode(const uint8_t *p, size_t len, const uint8_t *id, int *version,
                        uint64_t *kept_ms);

/* Decodes an owed receipt (its key and value) into *out; false if either does not validate. */
bool cstore_owed_decode(const uint8_t *key, size_t klen, const uint8_t *p, size_t len,
                        cstore_owed *out);

#endif
