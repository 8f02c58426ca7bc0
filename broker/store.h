/*
 * store.h — the broker's durable store: one LMDB environment in data_dir.
 *
 * Named databases:
 *   meta     "schema_version" -> u32 (STORE_SCHEMA_VERSION),
 *            "seq_hwm" -> u64: the highest sequence ever given out, so that
 *            sequences stay monotonic after every message is deleted;
 *            "crl_ca", "crl_number" -> u64 and "crl" -> the signed list:
 *            the newest revocation list the broker has used (store_crl_get())
 *   msgs     seq (u64 BE) -> message record: each envelope stored once,
 *            with its sender, message id, recipients, expiry and the number
 *            of recipients that have not acknowledged it yet
 *   dedup    sender '\0' message_id(16) -> seq, accepted_ms; kept for
 *            dedup_window_ms after acceptance, also after the message is gone.
 *            A purged message's entry is a tombstone (seq, accepted_ms,
 *            purged_ms), kept for dedup_window_ms after the purge: a resend
 *            of that (sender, message_id) is refused with ASYLINK_E_PURGED
 *   queue    recipient '\0' seq (u64 BE) -> attempts, next_attempt_ms:
 *            per-recipient FIFO in acceptance order
 *   dlq      recipient '\0' seq (u64 BE) -> code, attempts, dead_ms, reason
 *            (the message record stays until the dead letter is dropped)
 *   expiry   expires_ms (u64 BE) seq (u64 BE) -> empty: what to sweep when
 *   feed     seq (u64 BE) -> topic: the global feed log, one entry per
 *            message published to a topic, in acceptance order. A feed
 *            message has no recipients; its record lives until it expires
 *            (the sweep removes the record and its feed entry together)
 *   subs     node '\0' subscription name -> cursor (last acknowledged feed
 *            seq), created_ms, topic prefix: durable feed subscriptions
 *
 * Writes are batched: the router collects every operation of one loop turn
 * in a store_batch and commits it as one write transaction (group commit).
 * The commit fsyncs unless durability is relaxed. If the map is full the
 * store grows it (up to max_map_size) and replays the batch. If it cannot,
 * or the file system holding data_dir is full (ENOSPC, EDQUOT, or EFBIG
 * from a file size limit), the store is full: the batch is replayed without
 * its publishes, which get ASYLINK_E_STORE_FULL in their results, so that
 * acks, retries and cursor moves (which free space) still commit; only if
 * that fails too does the whole batch fail with ASYLINK_E_STORE_FULL.
 * Nothing already committed is ever touched: LMDB writes copies of the
 * pages it changes and makes them current only once they are all written.
 *
 * A data directory has one owner: store_open() takes an exclusive lock on
 * data_dir/asylinkd.lock, then one on data_dir/data.mdb (LMDB's data file:
 * deleting asylinkd.lock under a running broker does not release it), and
 * fails with ASYLINK_E_EXISTS if another process holds either, or, for a
 * standby broker (store_options.wait_stop), waits for them: the
 * environment is opened only once both are ours, so two brokers never
 * write one environment on one host. Then the directory and its files
 * (asylinkd.lock, data.mdb, lock.mdb) must be the process's user's alone:
 * group and other permission bits are removed (WARN naming the file; a
 * restore with mdb_copy leaves data.mdb 0644), and a directory or file
 * owned by another user is refused (datadir_private()), also when the
 * lock could not be taken because the process may not open that file (a
 * restore run as root): ASYLINK_E_KEY_PERMISSIONS, not ASYLINK_E_IO.
 *
 * Threading: a store and its batches are used by one thread (the router),
 * with one exception: a batch may be committed in another thread by
 * store_batch_commit_detached() while the router thread keeps reading
 * (read transactions only) and recording the next batch; every other write
 * of the router thread first calls the write barrier, which waits for that
 * commit (store_set_write_barrier()).
 */
#ifndef ASYLINK_BROKER_STORE_H
#define ASYLINK_BROKER_STORE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Version 2 added the feed and subs databases and records without
 * recipients (feed messages). A version 1 store is upgraded on open (the
 * new databases start empty; nothing else changes); a version 1 asylinkd
 * refuses a version 2 store.
 * Version 3 added tombstones (24-byte dedup values, store_purge()). A
 * version 1 or 2 store is upgraded on open (nothing changes: it has no
 * tombstones); an older asylinkd refuses a version 3 store, whose
 * tombstones it could not read.
 */
#define STORE_SCHEMA_VERSION 3

/* Longest subscription name, in bytes (as WIRE_NAME_MAX). */
#define STORE_SUB_NAME_MAX 64

/* Longest topic or topic prefix, in bytes. */
#define STORE_TOPIC_MAX 255

/* Longest sender or recipient node id the store accepts, in bytes. */
#define STORE_NAME_MAX 255

/* Dead letter reasons longer than this are truncated, in bytes. */
#define STORE_REASON_MAX 255

typedef struct store store;
typedef struct store_batch store_batch;

typedef struct store_options {
    const char *dir;          /* data directory (created 0700 if missing) */
    uint64_t map_size;        /* initial LMDB map size in bytes */
    uint64_t max_map_size;    /* the map never grows beyond this */
    bool durable;             /* true: fsync every commit; false: relaxed */
    uint64_t dedup_window_ms; /* how long (sender, message_id) is remembered */
    /* NULL: a data directory locked by another process is refused
       (ASYLINK_E_EXISTS). Else store_open() waits for the locks (a standby
       broker) until they are released or *wait_stop becomes non-zero. */
    const volatile sig_atomic_t *wait_stop;
    /* true (a standby broker): only an existing store is opened. Nothing is
       created but asylinkd.lock in an existing dir: no dir, or no or an empty
       data.mdb, found before or after waiting for the locks, is
       ASYLINK_E_NOT_FOUND (store_absent_reason() says which). */
    bool existing_only;
} store_options;
/*
 * Notes on the options: map_size must be > 0; max_map_size 0 means
 * "= map_size" (no growth); sizes are rounded to whole pages. A
 * dedup_window_ms of 0 keeps dedup entries forever (never swept). A dedup
 * entry counts as a duplicate until store_sweep() has removed it, so the
 * broker remembers a message id at least dedup_window_ms, never less.
 * Relaxed durability (durable = false) opens LMDB with MDB_NOSYNC |
 * MDB_NOMETASYNC: a crash of asylinkd loses nothing, a crash of the machine
 * loses the commits since the last store_sync(), which the router calls
 * periodically.
 */

/*
 * Opens (creating if needed) the store. Returns ASYLINK_OK; ASYLINK_E_EXISTS
 * (locked by another process, or by another store of this process; never
 * with wait_stop); ASYLINK_E_SHUTDOWN (wait_stop set while waiting);
 * ASYLINK_E_NOT_FOUND (existing_only, and no store at dir);
 * ASYLINK_E_UNSUPPORTED_VERSION (schema from a newer asylinkd, or files of
 * another LMDB format);
 * ASYLINK_E_INVALID_ARG (no dir, map_size 0, max_map_size < map_size);
 * ASYLINK_E_KEY_PERMISSIONS (the directory or one of its files is owned by
 * another user, or its mode cannot be tightened; logged with the path);
 * ASYLINK_E_IO; ASYLINK_E_NOMEM.
 */
int store_open(const store_options *o, store **out);

/*
 * Why dir holds no store a standby may take over ("no such directory",
 * "not a directory", "no data.mdb", "data.mdb is not a regular file",
 * "data.mdb is empty"), or NULL if it holds one (data.mdb a regular file
 * of at least one byte, a symbolic link followed). Static strings.
 */
const char *store_absent_reason(const char *dir);

/*
 * Whether some process (an asylinkd) holds dir's store open now: its lock
 * on asylinkd.lock, looked up without taking it (datadir_lock_held()).
 */
bool store_in_use(const char *dir);

/* Closes the store (after any batch is committed or destroyed). Accepts NULL. */
void store_close(store **self_p);

/*
 * Flushes committed data to disk (mdb_env_sync, forced). With relaxed
 * durability the router calls it periodically; with durable stores it is
 * harmless. ASYLINK_OK or ASYLINK_E_IO.
 */
int store_sync(store *s);

/*
 * Unmaps the store's pages from the broker's resident set (madvise
 * MADV_DONTNEED on LMDB's read-only map) when the process's resident KiB
 * exceed budget_kib while its resident KiB of mapped files (shared
 * libraries included: /proc/self/statm) exceed floor_kib; always when
 * budget_kib is 0 or the counts cannot be read. The pages stay in the
 * kernel's page cache and fault back in on the next read. Every page a
 * delivery or a lookup ever touched otherwise counts in the broker's RSS
 * (deliveries read tens of MiB a second, and the kernel maps pages around
 * each one read). Safe while readers run. The router calls it every 2 ms
 * with ROUTER_RESIDENT_BUDGET_KIB and ROUTER_MAPPED_FLOOR_KIB, and the store
 * checks them itself as it reads and deletes (store_release_budget()): the map
 * may use what the rest of the process leaves of the budget, so pages
 * stay mapped between a message's delivery and the deletion its
 * acknowledgement makes (each re-fault of a page costs 1-20 us on the
 * virtual machines measured, DESIGN-CHANGES 70).
 */
void store_release_pages(store *s, uint64_t budget_kib, uint64_t floor_kib);

/*
 * Sets the budget that the store checks itself, with store_release_pages(s,
 * budget_kib, floor_kib), every 64 pages of messages read for delivery or
 * operations a batch commit applies, in whichever thread runs them: the
 * kernel maps 64 KiB or more around each page read through the map, so a
 * group commit's deletions or a turn's deliveries map tens of MiB between
 * two checks of the router's. budget_kib 0 turns it off (the default). Call
 * before reads or commits run in another thread. store_release_pages()
 * runs in one thread at a time; a call meeting another returns at once.
 */
void store_release_budget(store *s, uint64_t budget_kib, uint64_t floor_kib);

/*
 * Clears the reader slots in lock.mdb of processes that are gone
 * (lmdbkit_stale_readers_clear()): a read-only reader of the live store
 * (`asylink audit --data`, mdb_copy, mdb_dump, a monitoring tool) killed
 * with kill -9 leaves its slot, which pins the pages of its snapshot (the
 * file grows) until someone clears it. Logs INFO "stale LMDB reader slots
 * cleared" with the count when there were any. Run at open and, by the
 * router, with each sweep (store.sweep_interval). Returns the count.
 */
int store_stale_readers_clear(store *s);

/* What one Publish stores. Pointers are borrowed until the batch commits. */
typedef struct store_publish {
    const char *sender;
    const uint8_t *message_id;     /* 16 bytes */
    const char *const *recipients; /* direct recipients (none with a topic) */
    size_t n_recipients;
    const char *topic;       /* feed topic, or NULL / "" for a direct message; a
                                topic publish has no recipients and is appended
                                to the feed log */
    uint64_t expires_ms;     /* 0 = never */
    const uint8_t *envelope; /* serialized envelope, stored as-is */
    size_t envelope_len;
    /* For the audit trail only (not stored with the message): */
    const uint8_t *digest;       /* 64-byte envelope signature digest, or NULL */
    int classification;          /* enum envelope_class, 0 = unknown */
    uint64_t sender_cert_serial; /* the sender's certificate serial, 0 = unknown */
} store_publish;

/* The outcome of one batch operation, valid after store_batch_commit(). */
typedef struct store_result {
    int code;             /* ASYLINK_OK or why this operation failed */
    uint64_t seq;         /* publish: message sequence (of the first copy if duplicate) */
    bool duplicate;       /* publish: already stored, nothing added */
    uint64_t accepted_ms; /* publish: acceptance time (of the first copy if duplicate) */
    bool dead;            /* retry: attempts reached the limit, moved to the dead letters */
    uint32_t attempts;    /* retry: attempts after this one */
    uint64_t next_attempt_ms; /* retry: not to be delivered before this (0 if dead) */
} store_result;

/*
 * A Nack's redelivery schedule (PROTOCOL.md 11.6): the entry is due again
 * at since_ms plus base_ms x 2^(n-1), capped at max_ms, or plus min_ms
 * (the Nack's retry_after_ms, not capped) if that is longer; n is the
 * entry's failed attempts counting the refused one.
 */
typedef struct store_backoff {
    uint64_t since_ms; /* when it was refused */
    uint64_t base_ms;  /* the first step */
    uint64_t max_ms;   /* the longest step */
    uint64_t min_ms;   /* at least this long, whatever the step */
} store_backoff;

/* The delay of bo after attempts failed attempts (0 counts as 1). */
uint64_t store_backoff_delay(const store_backoff *bo, uint32_t attempts);

/* Starts an empty batch. ASYLINK_OK or ASYLINK_E_NOMEM. */
int store_batch_new(store *s, store_batch **out);

/* Frees a batch (committed or not). Accepts NULL. */
void store_batch_destroy(store_batch **self_p);

/* Number of operations in the batch. */
size_t store_batch_size(const store_batch *b);

/*
 * Adds operations; each returns its index in the batch (>= 0) or -1 on out
 * of memory. Results are read with store_batch_result() after the commit.
 *   publish:     store the envelope once and queue it for every recipient,
 *                unless (sender, message_id) is known (duplicate).
 *   ack:         recipient is done with seq: drop the queue entry; when no
 *                recipient is left, drop the message (dedup entry stays).
 *   retry:       another delivery attempt failed (Nack, lost session):
 *                attempts + 1, not before next_attempt_ms; at max_attempts
 *                the entry moves to the dead letters with code and reason.
 *   retry_backoff: the same, not before the time bo gives for the attempt
 *                count the entry reaches, which the commit reads and counts
 *                itself: an entry refused again before the commit of an
 *                earlier refusal (the same sequence twice in one Nack, or
 *                in two Nacks of one group) still gets its own step.
 *   dead_letter: move recipient's seq to the dead letters now.
 * The reason of retry is the broker's own text (a lost session); that of
 * retry_backoff and dead_letter is the recipient's, from its Nack: the
 * dead letter keeps it (erased with the message), the audit record only
 * its size and digest (store_audit_event.node_reason).
 * Acks, retries and dead letters of unknown entries succeed with code
 * ASYLINK_E_NOT_FOUND in their result and change nothing.
 * A max_attempts of 0 never dead-letters. An operation whose stored record
 * fails validation gets ASYLINK_E_IO in its result and changes nothing; a
 * publish with an invalid field (empty or too long node id, no or repeated
 * recipients, NULL message id) gets ASYLINK_E_BAD_FIELD; neither stops the
 * other operations of the batch. Adding to a committed batch returns -1.
 */
int store_batch_publish(store_batch *b, const store_publish *p);
int store_batch_ack(store_batch *b, const char *recipient, uint64_t seq);
int store_batch_retry(store_batch *b, const char *recipient, uint64_t seq, uint64_t next_attempt_ms,
                      uint32_t max_attempts, int code, const char *reason);
int store_batch_retry_backoff(store_batch *b, const char *recipient, uint64_t seq,
                              const store_backoff *bo, uint32_t max_attempts, int code,
                              const char *reason);
int store_batch_dead_letter(store_batch *b, const char *recipient, uint64_t seq, int code,
                            const char *reason);

/*
 * sub_cursor: sets the cursor (last acknowledged feed seq) of node's
 * subscription name. ASYLINK_E_NOT_FOUND in its result if the subscription
 * does not exist (e.g. deleted meanwhile).
 *
 * The recipient, node, name and reason strings of ack, retry, dead_letter
 * and sub_cursor are copied when the operation is added (the caller's
 * session and command may be gone before the commit; a reason is cut to
 * STORE_REASON_MAX bytes); a publish's pointers stay borrowed.
 */
int store_batch_sub_cursor(store_batch *b, const char *node, const char *name, uint64_t cursor);

/*
 * Applies every operation in one write transaction at now_ms and commits it
 * (fsync when durable). Returns ASYLINK_OK (see each result; when the store
 * is full, each publish's code is ASYLINK_E_STORE_FULL and the other
 * operations are applied), ASYLINK_E_STORE_FULL (nothing applied: the map
 * is at max_map_size or the disk is full even without the publishes),
 * ASYLINK_E_IO. A batch is committed at most once: a second call returns
 * ASYLINK_E_INVALID_ARG. After a failed commit nothing is applied, every
 * result's code is the commit's error, and the commit may be tried again
 * (e.g. after a sweep freed space).
 */
int store_batch_commit(store_batch *b, uint64_t now_ms);

/*
 * store_batch_commit() from another thread (the broker's committer, while
 * the store's own thread goes on reading and recording the next batch).
 * It leaves the shared read transaction alone and never changes the map
 * size (LMDB allows that only with no transaction open in the process):
 * when the batch needs the map grown or a resized map adopted, it applies
 * nothing, sets *retry and returns ASYLINK_E_UNAVAILABLE; the store's own
 * thread then calls store_batch_commit() on the same batch. Otherwise
 * *retry is false and the outcome is store_batch_commit()'s exactly. At
 * most one detached commit runs at a time, and the store's thread makes no
 * write meanwhile (its write barrier waits; store_set_write_barrier()).
 */
int store_batch_commit_detached(store_batch *b, uint64_t now_ms, bool *retry);

/*
 * The write barrier: fn(ctx) is called in the store's thread before each
 * of its write transactions (and before adopting a map another process
 * grew) and must return only when no detached commit is running. NULL
 * removes it.
 */
void store_set_write_barrier(store *s, void (*fn)(void *ctx), void *ctx);

/* The result of operation i. Valid while b lives. */
const store_result *store_batch_result(const store_batch *b, size_t i);

/*
 * Shared reads. Between store_read_begin() and store_read_end() the read
 * functions share one LMDB read transaction, opened by the first of them
 * (with one queue cursor kept for store_queue_next()), instead of opening
 * one each. Any write (batch commit, sweep, dead-letter replay or drop,
 * subscription put or delete) ends it first and the next read opens a fresh
 * one, so a read still sees every write made before it. Call
 * store_read_end() before waiting: an open read transaction keeps LMDB from
 * reusing the pages freed after it began.
 */
void store_read_begin(store *s);
void store_read_end(store *s);

/*
 * Ends the shared read transaction, if one is open, without ending shared
 * reads: the next read sees every commit made so far (a detached one too).
 */
void store_read_refresh(store *s);

/* One entry of a recipient's queue. */
typedef struct store_entry {
    uint64_t seq;                    /* message sequence */
    uint32_t attempts;               /* failed attempts so far */
    uint64_t next_attempt_ms;        /* not to be delivered before this */
    uint64_t accepted_ms;            /* when the broker accepted the message */
    uint64_t envelope_len;           /* size of the stored envelope */
    uint8_t message_id[16];          /* the message's id (for the audit trail) */
    char sender[STORE_NAME_MAX + 1]; /* its sender, NUL-terminated */
} store_entry;

/*
 * The first entry of recipient's queue with seq > after_seq (0 = from the
 * start), whatever its next_attempt_ms (the router decides). ASYLINK_OK
 * with *out filled, ASYLINK_E_NOT_FOUND at the end, ASYLINK_E_IO if the
 * entry or its message record is corrupt.
 */
int store_queue_next(store *s, const char *recipient, uint64_t after_seq, store_entry *out);

/*
 * Copies the stored envelope of seq into a new malloc'd buffer (*env,
 * caller frees). ASYLINK_OK, ASYLINK_E_NOT_FOUND, ASYLINK_E_NOMEM, E_IO.
 */
int store_message_get(store *s, uint64_t seq, uint8_t **env, size_t *len);

/*
 * store_message_get() into a new malloc'd block with room bytes first (the
 * caller's, e.g. a frame header): the envelope is at *block + room. The
 * caller frees *block.
 */
int store_message_get_room(store *s, uint64_t seq, size_t room, uint8_t **block, size_t *len);

/*
 * Counts of a recipient's queue: entries and envelope bytes. Walks the
 * queue (O(entries)). ASYLINK_OK, ASYLINK_E_IO.
 */
int store_queue_depth(store *s, const char *recipient, uint64_t *count, uint64_t *bytes);

/* Number of dead letters of recipient (all recipients if NULL). */
int store_dead_letter_count(store *s, const char *recipient, uint64_t *count);

/* One dead letter, as listed by store_dead_letter_next(). */
typedef struct store_dead_letter {
    char recipient[STORE_NAME_MAX + 1]; /* node whose delivery failed */
    uint64_t seq;                       /* message sequence */
    int code;                           /* why (asylink_err) */
    uint32_t attempts;                  /* delivery attempts made */
    uint64_t dead_ms;                   /* when it was dead-lettered */
    char reason[STORE_REASON_MAX + 1];  /* free text, NUL-terminated */
} store_dead_letter;

/*
 * The dead letter following (after_recipient, after_seq) in (recipient,
 * seq) order, for listing page by page. With recipient set, only that
 * recipient's dead letters with seq > after_seq (after_recipient is
 * ignored); with recipient NULL, all of them, starting after
 * (after_recipient, after_seq), or from the first if after_recipient is
 * NULL. ASYLINK_OK with *out filled, ASYLINK_E_NOT_FOUND at the end,
 * ASYLINK_E_IO (corrupt entry).
 */
int store_dead_letter_next(store *s, const char *recipient, const char *after_recipient,
                           uint64_t after_seq, store_dead_letter *out);

/*
 * Moves recipient's dead letter seq back to its queue with attempts 0
 * (operator replay), in its own write transaction. ASYLINK_OK,
 * ASYLINK_E_NOT_FOUND (no such dead letter or its message is gone),
 * ASYLINK_E_STORE_FULL, ASYLINK_E_IO.
 */
int store_dead_letter_replay(store *s, const char *recipient, uint64_t seq);

/*
 * Removes recipient's dead letter seq for good, like an ack: the message is
 * deleted when no recipient is left. Its own write transaction. ASYLINK_OK,
 * ASYLINK_E_NOT_FOUND, ASYLINK_E_STORE_FULL, ASYLINK_E_IO.
 */
int store_dead_letter_drop(store *s, const char *recipient, uint64_t seq);

/* What a sweep removed. */
typedef struct store_sweep_stats {
    uint64_t expired;       /* queue entries dropped because their message expired */
    uint64_t feed_expired;  /* feed entries (with their message) dropped on expiry */
    uint64_t dedup_dropped; /* dedup entries older than the window */
    bool more;              /* the budget ran out */
    bool expired_more;      /* ... on expired messages: more of them may be due now */
    uint64_t dedup_examined; /* dedup entries looked at */
    uint64_t dedup_entries;  /* dedup entries left in the index */
    bool dedup_wrapped;      /* the dedup scan reached the index's end (the next starts over) */
} store_sweep_stats;

/*
 * Removes expired messages (from every queue and the dead letters) and
 * dedup entries older than the window, at most `budget` items, in its own
 * write transaction. An item is one expired message or one dedup entry
 * examined; expired messages go first, the dedup scan gets what is left
 * and resumes where the previous call stopped (a cursor kept in memory).
 * stats may be NULL. ASYLINK_OK, ASYLINK_E_STORE_FULL, ASYLINK_E_IO.
 */
int store_sweep(store *s, uint64_t now_ms, size_t budget, store_sweep_stats *stats);

/*
 * How long after a sweep that returned st the next one is due, for a
 * configured interval_ms (store.sweep_interval): STORE_SWEEP_BEHIND_MS when
 * expired messages are left over; while the dedup scan is in the middle of
 * the index, often enough that it goes through the whole index once per
 * dedup window / STORE_DEDUP_CYCLES (so a stale entry outlives its window
 * by at most that much), never sooner than STORE_SWEEP_BEHIND_MS; else
 * interval_ms. Never more than interval_ms. Pure; any thread.
 */
#define STORE_SWEEP_BEHIND_MS 100
#define STORE_DEDUP_CYCLES 8
uint64_t store_sweep_delay_ms(const store *s, const store_sweep_stats *st, uint64_t interval_ms);

/* ---- erasure (admin purge) ---- */

/*
 * The sequence of the stored message (sender, message_id): looked up in
 * the dedup index, else (a message older than the dedup window, or a
 * tombstone's) found by scanning every message record, O(messages).
 * ASYLINK_OK with *seq set; ASYLINK_E_NOT_FOUND (not stored: never
 * accepted, acknowledged by every recipient, expired, or purged);
 * ASYLINK_E_INVALID_ARG; ASYLINK_E_IO.
 */
int store_message_find(store *s, const char *sender, const uint8_t *message_id, uint64_t *seq);

/* What one purge removes and records. Pointers borrowed for the call. */
typedef struct store_purge_request {
    const char *sender;        /* the message's sender */
    const uint8_t *message_id; /* its id, 16 bytes */
    uint64_t seq;              /* its sequence (store_message_find()); 0 = none is stored:
                                  only the tombstone is written */
    /* For the audit record only: */
    const uint8_t *digest; /* the envelope's 64-byte signature digest, or NULL */
    int classification;    /* enum envelope_class, 0 = unknown */
    const char *reason;    /* why (operator's reason, reference, approval), or NULL */
} store_purge_request;

/* What a purge did. */
typedef struct store_purge_result {
    bool found;             /* a stored message was removed */
    uint32_t queue_entries; /* direct queue entries removed */
    uint32_t dead_letters;  /* dead letters removed */
    uint32_t feed_entries;  /* feed log entries removed */
    uint64_t bytes_removed; /* envelope bytes removed */
} store_purge_result;

/*
 * Erases a message, in one write transaction: its record (envelope
 * included), every queue entry, dead letter, feed entry and expiry index
 * entry of q->seq (if its record is q's sender and id; else nothing of
 * it), and writes the tombstone of (sender, message_id) with purged_ms =
 * now_ms, so that a resend is refused ASYLINK_E_PURGED for dedup_window_ms
 * (forever with a window of 0). The audit hooks get one AUDIT_PURGED event
 * (count: queue entries, count2: dead letters, count3: feed entries) in
 * the same transaction. Purging again only renews the tombstone.
 * ASYLINK_OK (*out filled); ASYLINK_E_INVALID_ARG; ASYLINK_E_STORE_FULL;
 * ASYLINK_E_IO (also a stored record that fails validation: nothing
 * changes).
 */
int store_purge(store *s, const store_purge_request *q, uint64_t now_ms, store_purge_result *out);

/* ---- feeds ---- */

/* One entry of the feed log. */
typedef struct store_feed_entry {
    uint64_t seq;                    /* message sequence (feed position) */
    char topic[STORE_TOPIC_MAX + 1]; /* topic it was published to */
    uint64_t accepted_ms;            /* acceptance time */
    uint64_t envelope_len;           /* size of the stored envelope */
    uint8_t message_id[16];          /* the message's id (for the audit trail) */
    char sender[STORE_NAME_MAX + 1]; /* its sender, NUL-terminated */
} store_feed_entry;

/*
 * The first feed entry with seq > after_seq whose topic is under prefix
 * (core/topic.h topic_under(); NULL or "" = any: no filter). ASYLINK_OK with *out filled,
 * ASYLINK_E_NOT_FOUND at the end, ASYLINK_E_IO if an entry or its message record is corrupt. Walks
 * the log in one read transaction (O(entries skipped)).
 */
int store_feed_next(store *s, uint64_t after_seq, const char *prefix, store_feed_entry *out);

/*
 * Calls fn for every feed entry whose topic is under prefix (NULL or "" =
 * all), in seq order, within one read transaction; fn returns nonzero to
 * stop. ASYLINK_OK, ASYLINK_E_INVALID_ARG, ASYLINK_E_IO (a corrupt entry).
 */
int store_feed_walk(store *s, const char *prefix, int (*fn)(void *ctx, const store_feed_entry *e),
                    void *ctx);

/*
 * The last feed seq whose topic is under prefix (NULL or "" = the last
 * feed entry of all); 0 if there is none. Walks backwards from the end.
 * ASYLINK_OK or ASYLINK_E_IO.
 */
int store_feed_head(store *s, const char *prefix, uint64_t *seq);

/*
 * The last feed seq accepted before time_ms (0 if none), for a
 * subscription starting at a time. Scans from the start. ASYLINK_OK or
 * ASYLINK_E_IO.
 */
int store_feed_before(store *s, uint64_t time_ms, uint64_t *seq);

/* A durable subscription. */
typedef struct store_sub {
    char prefix[STORE_TOPIC_MAX + 1]; /* topic prefix it reads */
    uint64_t cursor;                  /* last acknowledged feed seq (0 = none) */
    uint64_t created_ms;              /* when it was created */
} store_sub;

/*
 * Reads node's subscription name. ASYLINK_OK, ASYLINK_E_NOT_FOUND,
 * ASYLINK_E_INVALID_ARG (bad node, name or prefix), ASYLINK_E_IO.
 */
int store_sub_get(store *s, const char *node, const char *name, store_sub *out);

/*
 * Creates or replaces node's subscription name in its own write
 * transaction. ASYLINK_OK, ASYLINK_E_INVALID_ARG (empty or too long node,
 * name or prefix), ASYLINK_E_STORE_FULL, ASYLINK_E_IO.
 */
int store_sub_put(store *s, const char *node, const char *name, const store_sub *sub);

/* Deletes node's subscription name. ASYLINK_OK, ASYLINK_E_NOT_FOUND, E_STORE_FULL, E_IO. */
int store_sub_delete(store *s, const char *node, const char *name);

/* Number of subscriptions node owns (all nodes if NULL). ASYLINK_OK or E_IO. */
int store_sub_count(store *s, const char *node, uint64_t *count);

/*
 * The subscription after (after_node, after_name) in (node, name) order;
 * both "" = the first. Fills node (NODE_ID_MAX + 1 bytes), name
 * (STORE_SUB_NAME_MAX + 1) and *out. ASYLINK_OK, ASYLINK_E_NOT_FOUND at the
 * end, ASYLINK_E_IO (a corrupt record).
 */
int store_sub_next(store *s, const char *after_node, const char *after_name, char *node, char *name,
                   store_sub *out);

/*
 * Feed entries under prefix after seq `after`, counted up to `cap` (a
 * subscription's lag in messages; cap bounds the walk). ASYLINK_OK or E_IO.
 */
int store_feed_count_after(store *s, uint64_t after, const char *prefix, uint64_t cap,
                           uint64_t *count);

/* Totals for metrics. */
typedef struct store_stats {
    uint64_t messages;     /* stored message records */
    uint64_t queued;       /* queue entries, all recipients */
    uint64_t dead_letters; /* dead letter entries */
    uint64_t feed;         /* feed log entries */
    uint64_t map_size;     /* current map size in bytes */
    uint64_t used_bytes;   /* pages in use * page size */
} store_stats;

/* Fills *out. ASYLINK_OK or ASYLINK_E_IO. */
int store_get_stats(store *s, store_stats *out);

/*
 * The revocation list the broker last used: its CA (first 8 bytes of the
 * CA's signing key, as a little-endian number) and its number; both 0 when
 * none was recorded. A restarted broker refuses an older list, unless it
 * can use the one recorded (store_crl_signed_get()).
 */
int store_crl_get(store *s, uint64_t *ca, uint64_t *number);

/*
 * The recorded list itself, as the CA signed it (a serialized
 * RevocationList; not verified here: the caller decodes it against the
 * CA, crl_decode()): *raw is a malloc'd copy the caller frees, *len its
 * size. ASYLINK_E_NOT_FOUND when none is recorded (no list was in use, or
 * the store was written by an asylinkd that kept only the number; it may
 * also hold an older list than the number says, if such an asylinkd
 * recorded a newer number since); ASYLINK_E_IO (a stored value of no
 * plausible size, or a read error), ASYLINK_E_NOMEM, ASYLINK_E_INVALID_ARG.
 */
int store_crl_signed_get(store *s, uint8_t **raw, size_t *len);

/*
 * Records the revocation list in use (one durable write transaction): its
 * CA tag, its number and its signed bytes raw (len bytes, copied; NULL
 * when the trust has no list, which removes a recorded one).
 * ASYLINK_E_INVALID_ARG for a len of 0 or above CRL_FILE_MAX.
 */
int store_crl_put(store *s, uint64_t ca, uint64_t number, const uint8_t *raw, size_t len);

/* ---- audit hooks ----------------------------------------------------------
 *
 * The audit trail (audit.h) writes its records into the same LMDB
 * transaction as the change each one records. The store calls the hooks
 * from every write transaction it runs (batches, sweeps, dead letter
 * replay and drop, purges, subscription put and delete, the revocation list, and
 * store_write()):
 *   begin      the transaction starts, or starts again after the map grew
 *              (what the hooks wrote in the lost attempt is gone);
 *   event      one operation changed the store (or, for a publish, was
 *              answered): ev says what; called after the change, inside
 *              the transaction;
 *   precommit  the operations are done, the commit follows;
 *   committed  the commit succeeded.
 * begin, event and precommit return an LMDB code; anything but 0 aborts
 * the whole transaction (no change without its record), and the store
 * reports it like any LMDB error (MDB_MAP_FULL grows the map and runs the
 * transaction again). txn is the MDB_txn *.
 * Threading: the hooks run in the store's thread.
 */

/* What changed, for the audit hooks. Pointers are valid during the call only. */
typedef struct store_audit_event {
    int kind;                      /* enum auditchain_kind (ACCEPTED, DUPLICATE, ACKED, ...) */
    uint64_t now_ms;               /* time of the operation (batch / sweep time), 0 = unknown */
    const store_publish *publish;  /* ACCEPTED, DUPLICATE, REJECTED: the publish */
    const store_result *result;    /* its outcome (seq, attempts, dead) when there is one */
    const char *node;              /* recipient (ack, retry, dead letter, dlq ops) or subscriber */
    const char *name;              /* subscription name (CURSOR, SUBSCRIBED, UNSUBSCRIBED) */
    uint64_t seq;                  /* message sequence */
    const uint8_t *message_id;     /* the message's id (16 bytes), or NULL if unknown */
    const char *sender;            /* the message's sender, or NULL */
    const char *topic;             /* feed topic or subscription prefix, or NULL */
    uint64_t envelope_len;         /* size of the message's envelope */
    const char *const *recipients; /* PURGED: the message's direct recipients */
    size_t n_recipients;
    const uint8_t *digest; /* PURGED: envelope digest (64 bytes), or NULL */
    int classification;    /* PURGED: enum envelope_class, 0 = unknown */
    int code;              /* retry / dead letter / rejection code */
    const char *reason;    /* their free text (hostile: clean it), or NULL */
    bool node_reason;      /* reason is the recipient's own (a Nack's): recorded only as its
                              size and digest, never as text (DESIGN-CHANGES 66) */
    uint32_t attempts;     /* attempts after the operation */
    uint64_t count;        /* EXPIRED: queue entries removed; SWEPT: messages;
                              CURSOR: the cursor; CRL_RECORDED: the list number;
                              PURGED: queue entries removed */
    uint64_t count2;       /* SWEPT: feed entries; CRL_RECORDED: the CA tag;
                              PURGED: dead letters removed */
    uint64_t count3;       /* SWEPT: dedup entries dropped; PURGED: feed entries */
} store_audit_event;

typedef struct store_audit_hooks {
    int (*begin)(void *ctx, void *txn);
    int (*event)(void *ctx, void *txn, const store_audit_event *ev);
    int (*precommit)(void *ctx, void *txn);
    void (*committed)(void *ctx);
    void *ctx;
} store_audit_hooks;

/* Installs (h copied) or removes (h NULL) the audit hooks. */
void store_set_audit(store *s, const store_audit_hooks *h);

/* The LMDB environment (an MDB_env *), for the audit trail's own databases. */
void *store_env(store *s);

/*
 * Runs fn in a write transaction (with the hooks, map growth and retry of
 * every store write) and commits it. fn returns an LMDB code. ASYLINK_OK,
 * ASYLINK_E_STORE_FULL, ASYLINK_E_IO (or E_NOT_FOUND / E_NOMEM from fn).
 */
int store_write(store *s, int (*fn)(void *ctx, void *txn), void *ctx);

/*
 * Runs fn in a read transaction (the shared one between store_read_begin()
 * and store_read_end()). fn returns an LMDB code. ASYLINK_OK, E_NOT_FOUND,
 * E_IO.
 */
int store_read(store *s, int (*fn)(void *ctx, void *txn), void *ctx);

/* ---- record decoders ----
 * The bytes of one stored key or value, validated as every read of the
 * store validates them (the layouts are in store.c). They read only the
 * len bytes given, whatever those hold: a corrupt or restored data
 * directory is refused (ASYLINK_E_IO from the reads above), never
 * trusted. Exported for the fuzz target tests/fuzz/fuzz_store.c; the
 * store's own reads call them on LMDB's pages in place.
 */

/* A msgs value (message record) decoded in place: pointers into its bytes, valid with them. */
typedef struct store_record {
    uint32_t n_pending;        /* recipients not done yet (0 only for a feed message) */
    uint32_t n_recipients;     /* direct recipients (0 for a feed message) */
    uint64_t accepted_ms;      /* acceptance time */
    uint64_t expires_ms;       /* 0 = never */
    const uint8_t *message_id; /* 16 bytes */
    const char *sender;        /* sender_len bytes, not NUL-terminated, no NUL */
    size_t sender_len;         /* 1..STORE_NAME_MAX */
    const char *recipients;    /* n_recipients ids (1..STORE_NAME_MAX bytes), each then '\0' */
    size_t recipients_len;     /* bytes of the recipients block */
    const uint8_t *envelope;   /* envelope bytes (opaque here) */
    size_t envelope_len;       /* their number: the record ends with them */
} store_record;

/* Decodes a message record of len bytes at p into *r; false if it does not validate. */
bool store_record_decode(const uint8_t *p, size_t len, store_record *r);

/*
 * Splits a queue or dlq key (node id, '\0', seq as 8 bytes big-endian) of
 * len bytes; false if it has not that form (an id of 1..STORE_NAME_MAX
 * bytes without NUL). *name_len: the id's bytes at key; *seq: the seq.
 */
bool store_key_split(const uint8_t *key, size_t len, size_t *name_len, uint64_t *seq);

/* Decodes a dlq entry (its key and value) into *out; false if either does not validate. */
bool store_dead_letter_decode(const uint8_t *key, size_t klen, const uint8_t *p, size_t len,
                              store_dead_letter *out);

/* Decodes a subs value into *out; false if it does not validate (prefix of 1..STORE_TOPIC_MAX). */
bool store_sub_decode(const uint8_t *p, size_t len, store_sub *out);

/*
 * Splits a subs key (node '\0' name) into node (NODE_ID_MAX + 1 bytes) and
 * name (STORE_SUB_NAME_MAX + 1 bytes), both NUL-terminated; false if it has
 * not that form (node of 1..NODE_ID_MAX bytes, name of 1..STORE_SUB_NAME_MAX, neither
 * with a NUL).
 */
bool store_sub_key_split(const uint8_t *key, size_t len, char *node, char *name);

#endif
