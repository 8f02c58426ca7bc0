/*
 * audit.h — asylinkd's audit trail: a hash-chained, append-only log of
 * every change to the store and of the events around it (sessions,
 * deliveries, rejections, operator requests, reloads, start and stop),
 * with checkpoints the broker signs with its own key. Records are
 * metadata only, never payloads. The bytes are core/auditchain.h's; this
 * module decides what is recorded when, and keeps two LMDB databases in
 * the store's environment:
 *   audit       seq (u64 BE) -> entry_hash(32) || AuditRecord
 *   audit_ckpt  seq (u64 BE) -> SignedAuditCheckpoint covering entry seq
 *
 * When. A change to the store and its record are written in the same LMDB
 * transaction (the store's audit hooks, store.h): no change without its
 * record, no record without its change. Events that change nothing in the
 * store (a rejection, a session opened or closed, a delivery, a feed ack,
 * an operator's read-only request, a reload, start and stop) are noted
 * with audit_note() and written at the start of the next write transaction
 * (normally the next loop turn's group commit, within ROUTER_TICK_MS; the
 * router calls audit_flush() when a turn has nothing else to commit). A
 * crash can lose the notes of the last turn, never a change's record.
 * Records are in commit order; time_ms is when each event happened.
 *
 * Checkpoints. Every checkpoint_entries entries, or checkpoint_interval
 * after the first entry not yet covered, the commit that writes the last
 * entry also stores a signed checkpoint of it.
 *
 * Retention. audit_prune() removes the oldest entries older than the
 * retention, one checkpoint interval at a time, so that what remains
 * always starts right after a signed checkpoint (its anchor), and records
 * the pruning itself (PRUNED).
 *
 * Threading: one thread (the router's), like the store.
 */
#ifndef ASYLINK_BROKER_AUDIT_H
#define ASYLINK_BROKER_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditchain.h"
#include "store.h"
#include "trust.h"

#define AUDIT_MAX_NOTES 100000 /* notes waiting for a commit; more are dropped (and counted) */

typedef struct audit audit;

typedef struct audit_options {
    const char *broker_node_id;      /* this broker (copied) */
    uint64_t cert_serial;            /* serial of its certificate (named in checkpoints) */
    const uint8_t *sign_sk;          /* its Ed25519 secret key, 64 bytes, borrowed for the
                                        audit's life (sodium_malloc'd by the caller) */
    const uint8_t *sign_pk;          /* its public key, 32 bytes (borrowed) */
    uint64_t checkpoint_entries;     /* sign after this many entries (>= 1) */
    uint64_t checkpoint_interval_ms; /* or this long after the first uncovered entry (>= 1) */
    uint64_t retention_ms;           /* prune entries older than this; 0 = keep forever */
} audit_options;

/*
 * Opens (creating) the audit databases in st's environment, finds the end
 * of the chain and installs the store's audit hooks. st must outlive the
 * audit. ASYLINK_OK; ASYLINK_E_INVALID_ARG; ASYLINK_E_IO (a stored entry
 * at the end of the chain is unreadable); ASYLINK_E_NOMEM; E_STORE_FULL.
 */
int audit_open(store *st, const audit_options *o, audit **out);

/*
 * For a broker that runs without the audit trail ([audit] enabled =
 * false): marks st (audit_meta key `unaudited_since`, now_ms unless a
 * mark is there already), so that the next broker that opens the trail on
 * it says so in its STARTED record (audit_unaudited_since()): changes made
 * meanwhile have no records, and the chain alone cannot show the gap.
 * ASYLINK_OK or the store's error.
 */
int audit_mark_unaudited(store *st, uint64_t now_ms);

/*
 * When the store's mark of a run without the trail was set (the first
 * such run since the trail last ran), as audit_open() found it; 0 if none.
 * The mark is deleted in the transaction that writes the first notes (the
 * STARTED record, which names this time, among them).
 */
uint64_t audit_unaudited_since(const audit *a);

/* Removes the hooks and frees the audit (unwritten notes are lost). Accepts NULL. */
void audit_close(audit **self_p);

/*
 * Sets r's reason fields for a recipient's own free text (a Nack's reason,
 * cut to AUDITCHAIN_DETAIL_MAX bytes; NULL or "" = none): reason_size and
 * reason_digest (written into digest, which must outlive r's encoding),
 * and no detail. The text may name a person, and a record can never be
 * erased: the dead letter keeps it, erased with the message
 * (DESIGN-CHANGES 66).
 */
void audit_record_node_reason(auditchain_record *r, const char *reason,
                              uint8_t digest[AUDITCHAIN_HASH_LEN]);

/*
 * Notes an event that changes nothing in the store; it is written by the
 * next write transaction. r is copied (encoded) now; r->seq is ignored and
 * r->time_ms 0 means now. Counts a dropped note (and logs) when
 * AUDIT_MAX_NOTES are waiting or r does not encode.
 */
void audit_note(audit *a, const auditchain_record *r);

/* True if notes are waiting, or a checkpoint is due at now_ms. */
bool audit_due(const audit *a, uint64_t now_ms);

/*
 * Writes waiting notes and a due checkpoint in a transaction of their own
 * (when audit_due(), or checkpoint is true: then a checkpoint of the end
 * of the chain is signed now unless one covers it, e.g. at stop).
 * ASYLINK_OK (also for a NULL audit) or the store's error.
 */
int audit_flush(audit *a, uint64_t now_ms, bool checkpoint);

/*
 * The actor of store changes that name none (dead letter replay and drop,
 * the revocation list): the operator whose request runs, or NULL for the
 * broker itself. node is copied.
 */
void audit_set_actor(audit *a, const char *node, uint64_t cert_serial);

/*
 * Removes entries older than the retention (see above), at most about
 * budget entries, in one transaction. *removed (may be NULL) gets how
 * many. ASYLINK_OK or the store's error.
 */
int audit_prune(audit *a, uint64_t now_ms, size_t budget, uint64_t *removed);

/* The committed state of the log. */
typedef struct audit_head {
    uint64_t first_seq;                     /* oldest entry kept; 0 = empty log */
    uint64_t last_seq;                      /* newest entry; 0 = empty log */
    uint8_t last_hash[AUDITCHAIN_HASH_LEN]; /* its entry hash */
    uint64_t last_checkpoint_seq;           /* newest checkpoint; 0 = none */
    uint64_t notes_dropped;                 /* notes lost since start (AUDIT_MAX_NOTES) */
    uint64_t last_pruned_seq;               /* the log's last PRUNED record; 0 = none */
} audit_head;

/* Fills *out. ASYLINK_OK or ASYLINK_E_IO. */
int audit_head_get(audit *a, audit_head *out);

/* Called for each stored entry or checkpoint read; nonzero stops the walk. */
typedef int (*audit_item_fn)(void *ctx, uint64_t seq, const uint8_t *val, size_t len);

/*
 * Calls fn for entries from_seq, from_seq + 1, ... (at most limit, up to
 * to_seq; 0 = the newest) as stored. ASYLINK_OK or ASYLINK_E_IO.
 */
int audit_read_entries(audit *a, uint64_t from_seq, uint64_t to_seq, size_t limit, audit_item_fn fn,
                       void *ctx);

/* Calls fn for every checkpoint with from_seq <= seq <= to_seq (0 = newest). */
int audit_read_checkpoints(audit *a, uint64_t from_seq, uint64_t to_seq, audit_item_fn fn,
                           void *ctx);

/*
 * The chain hash stored with entry seq, into out; *found is false (out
 * untouched) if there is no such entry (pruned, or not written yet).
 * ASYLINK_OK or ASYLINK_E_IO.
 */
int audit_entry_hash(audit *a, uint64_t seq, uint8_t out[AUDITCHAIN_HASH_LEN], bool *found);

/*
 * Verifies entries from_seq..to_seq (0, 0 = the whole log) and the
 * checkpoints among them, at most limit entries (then *more is set and the
 * range ends early). Checkpoint keys: this broker's own, or a broker
 * certificate of t with the checkpoint's serial. The range starts from the
 * stored hash of entry from_seq - 1 (itself checked by the page before).
 * ASYLINK_OK (see res->ok) or ASYLINK_E_IO / E_NOMEM.
 */
int audit_verify(audit *a, const trust *t, uint64_t from_seq, uint64_t to_seq, size_t limit,
                 auditchain_result *res, bool *more);

#endif
