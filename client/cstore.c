/*
 * cstore.c — the client library's durable state: one LMDB environment,
 * thirteen named databases, a map that grows before it fills. See cstore.h for
 * the model; this file fixes the bytes.
 *
 * Keys. Sequences are 8 bytes big-endian so that LMDB's bytewise order is
 * numeric order:
 *   outbox          seq(8 BE)
 *   outbox_id       message_id(16)
 *   outbox_pending  seq(8 BE)          one per PENDING outbox entry (plain
 *                                      puts, not MDB_APPEND: a stray key
 *                                      sorting last must not block adds)
 *   inbox           seq(8 BE)
 *   inbox_id        message_id(16) sender(1..64) '\0' subscription(0..64):
 *                   the sender has no NUL, so the key splits one way; a
 *                   direct message has an empty subscription. All entries
 *                   of one message id are contiguous (MDB_SET_RANGE on the
 *                   16-byte id), as for receipts
 *   inbox_pending   seq(8 BE)          one per PENDING inbox entry
 *   receipts        message_id(16) recipient (1..64 bytes, no NUL): all
 *                   receipts of a message are contiguous, found with
 *                   MDB_SET_RANGE on the 16-byte id
 *   evidence        BLAKE2b-256 of a signed receipt envelope (32): one
 *                   receipt envelope covers many messages (a ReceiptSet)
 *                   and is stored once, however many receipts cite it
 *   evidence_refs   evidence key(32) message_id(16) recipient(1..64): one
 *                   per receipt value that cites the evidence entry (empty
 *                   value), so that the retention sweep deletes an
 *                   envelope with the last receipt citing it
 *   meta            "schema_version", "outbox_seq_hwm", "inbox_seq_hwm",
 *                   "crl_number", "crl_ca", "flush_failures" (counted by
 *                   every commit after a failed flush, whatever thread's,
 *                   until one is on disk: below, "Durability")
 *   receipts_owed   seq(8 BE): receipts owed for acknowledged messages, in
 *                   the order of acknowledgement, until the I/O thread seals
 *                   them into ReceiptSet envelopes in the outbox (schema 5)
 *   sent            seq(8 BE)          the outbox seq of a sent message: its
 *                                      envelope, stored once (record version
 *                                      2: from the add on, kept as evidence
 *                                      once accepted; version 1: a copy made
 *                                      at Accepted)
 *   sent_time       kept_ms(8 BE) seq(8 BE), empty value: the sweep's order,
 *                                      one per envelope kept as evidence
 *   inbox_env       seq(8 BE)          the envelope of a PENDING inbox record
 *                                      of version 2 (schema 6)
 *
 * Values. Integers little-endian unless said otherwise.
 *   meta schema_version   u32 (CSTORE_SCHEMA_VERSION)
 *   meta *_seq_hwm        u64: at least the highest outbox / inbox sequence
 *                         ever given out, so that sequences keep increasing
 *                         even if entries are deleted: written before the
 *                         retention sweep deletes (the only deletes of
 *                         records), not at every add (a page less per
 *                         commit); the next sequence is above both it and
 *                         the last key
 *   meta crl_number       u64: highest revocation-list number this node used
 *   meta crl_ca           u64: first 8 bytes of the signing CA's key (the
 *                         number counts per CA)
 *   outbox_id, inbox_id   seq(8 BE), the key of the entry
 *   *_pending             empty
 *
 * Outbox record. Version 1 (written before schema 6, still read): a fixed
 * 112-byte header then three blocks; version 2 (written now): a 128-byte
 * header, then reason and recipients only:
 *   off len
 *     0   1  record version (1, or S_OUT_V2 = 2)
 *     1   1  state (enum cstore_out_state)
 *     2   2  reason_len (0..255)
 *     4   4  code (int32; REJECTED: why)
 *     8   8  created_ms
 *    16  16  message_id
 *    32  64  envelope digest
 *    96   4  n_recipients (0 for a feed message: no receipts)
 *   100   4  recipients_len: bytes of the recipients block
 *   104   8  envelope_len: > 0 while PENDING, 0 once ACCEPTED or REJECTED
 *            (version 2: the length of the envelope in sent)
 *   version 2 only:
 *   112   8  kept_ms: since when the envelope in sent is kept as evidence
 *            (0 unless kept)
 *   120   1  flags: 1 = kept (the envelope in sent is the evidence copy,
 *            with a sent_time entry; sent_retention decides)
 *   121   7  reserved, 0
 *   112/128  reason (reason_len bytes, no NUL)
 *            recipients (each id of 1..64 bytes followed by '\0')
 *            version 1 only: envelope (envelope_len bytes, stored as-is)
 * A version 2 record's envelope is its sent value (same seq key) from the
 * add on: written once, published from there while PENDING, left in place
 * when the broker accepts it and it is to be kept (kept, kept_ms and a
 * sent_time entry are set in the same transaction), deleted when it is
 * accepted and not kept, rejected (unless kept before) or purged. A kept
 * envelope of a record still PENDING (cstore_sent_keep) is never swept:
 * it is the only copy, needed to resend.
 *
 * Inbox record. Version 1 (written before schema 6, still read): a fixed
 * 48-byte header then three blocks; version 2 (written now): a 112-byte
 * header, then sender and subscription only:
 *     0   1  record version (1, or S_IN_V2 = 2)
 *     1   1  state (enum cstore_in_state)
 *     2   2  sender_len (1..64)
 *     4   1  subscription_len (0..64; 0 = a direct message). Schema 3;
 *            before, this byte was reserved and 0, so every older record
 *            reads as one without a subscription
 *     5   1  version 1: reserved, 0; version 2: flags: 1 = the digest
 *            below is the envelope's, 2 = the envelope has a topic (a
 *            feed message: no receipt)
 *     6   2  reserved, 0
 *     8   8  broker_seq
 *    16   8  received_ms
 *    24  16  message_id
 *    40   8  envelope_len: > 0 while PENDING, 0 once ACKED (tombstone)
 *            (version 2: the length of the envelope in inbox_env)
 *   version 2 only:
 *    48  64  the envelope's digest (zeros unless flag 1): an
 *            acknowledgement builds its receipt from the record alone
 *   48/112   sender (sender_len bytes, no NUL)
 *            subscription (subscription_len bytes, no NUL)
 *            version 1 only: envelope (envelope_len bytes, still encrypted)
 * A version 2 record's envelope (still encrypted) is its inbox_env value
 * (same seq key) while PENDING and is deleted at the ack or purge: only
 * the small record is rewritten, and a page of inbox_env whose envelopes
 * are all acknowledged in one transaction is freed, not written again.
 *
 * Owed receipt (receipts_owed), a fixed 96-byte header then the sender:
 *     0   1  record version (S_RECORD_VERSION)
 *     1   1  status (RECEIPT_DELIVERED or RECEIPT_REJECTED)
 *     2   1  sender_len (1..64)
 *     3   5  reserved, 0
 *     8   8  acked_ms
 *    16  16  message_id
 *    32  64  envelope digest
 *    96      sender (sender_len bytes, no NUL): the receipt's addressee
 *
 * Receipt value, a fixed 88-byte header then the evidence or its key:
 *     0   1  record version: 1 = the envelope follows inline (stores
 *            written before receipt sets; still read), 2 = the key of
 *            the evidence database entry follows (written now)
 *     1   3  reserved, 0
 *     4   4  status (int32: 1 delivered, 2 rejected)
 *     8   8  acked_ms
 *    16  64  digest of the sent envelope the receipt covers
 *    80   8  version 1: envelope_len (> 0); version 2: 32
 *    88      version 1: the signed receipt envelope; version 2: its
 *            evidence key (32 bytes)
 *
 * Evidence value: the signed receipt envelope, as received.
 *
 * Sent value:
 *     0   1  1: a copy of the envelope a version 1 outbox record dropped at
 *            Accepted; 2 (S_OUT_V2): the envelope of a version 2 record
 *     1   7  reserved, 0
 *     8   8  version 1: kept_ms, when it was accepted (the retention counts
 *            from here); version 2: 0 (the record holds kept and kept_ms)
 *    16  16  message_id
 *    32      the envelope, as sent (> 0 bytes)
 *
 * The lengths must add up to the value's size exactly and the states must
 * agree with the envelope lengths, so a truncated, padded or scribbled
 * record is detected: every read validates the whole record (not the
 * envelope bytes, opaque here) and reports ASYLINK_E_IO; an index entry
 * without its record, or whose record has another id, is corrupt as well.
 * Index invariants kept by every write: id index <-> record (for the
 * inbox: the key's id, sender and subscription are the record's), and the
 * pending index holds exactly the PENDING records.
 *
 * Schema upgrades, in the write transaction that opens the store:
 *   1 -> 2  nothing to rewrite (old receipt values stay readable)
 *   2 -> 3  inbox_id is emptied and rebuilt from the inbox records (keyed
 *           by id alone before). Old records have no subscription: a feed
 *           message received before the upgrade keeps one entry, keyed as
 *           if direct. A record that fails validation gets no index entry
 *           (it read as E_IO before and still does through next_pending).
 *   3 -> 4  evidence_refs is built from the receipt values that cite
 *           evidence (version 2); inbox records may then be PURGED (state
 *           3, no envelope), which an older library would read as corrupt
 *   4 -> 5  receipts_owed, created empty
 *   5 -> 6  nothing to rewrite: records of version 1 stay as they are and
 *           are read, published, accepted (the copy into sent), acked and
 *           swept as before; new records are of version 2 (envelopes in
 *           sent and inbox_env). A library of schema 5 refuses a schema 6
 *           store (ASYLINK_E_UNSUPPORTED_VERSION): it would read version 2
 *           records as corrupt
 *
 * Error plumbing: internal helpers return LMDB codes (0, MDB_*, errno) or
 * the S_* codes below. NOTFOUND, S_BAD_RECORD, S_EXISTS, S_DUPLICATE and
 * S_NOMEM from a write operation mean "this operation changed nothing" (the
 * helpers check and allocate before they write) and the transaction stays
 * usable; any other code breaks the transaction: later operations fail with
 * it and the commit aborts and returns it.
 *
 * Map growth. A write transaction that would begin with the map three
 * quarters used grows it first (a write that hits MDB_MAP_FULL loses its
 * whole transaction: for the I/O thread a turn of answers and deliveries,
 * retried a second later). LMDB can only change the map size while no
 * transaction of this process is open (the map may move). A gate counts open transactions
 * (read and write); a thread that hit MDB_MAP_FULL grows the map when its
 * transaction ends: it announces itself (new write transactions then wait),
 * waits until no transaction is open, grows, and lets everyone go on. Read
 * transactions never wait for a pending grow: they are short, and a thread
 * holding a write transaction may read (MDB_NOTLS allows it) without
 * deadlocking against the grower. MDB_MAP_FULL mostly comes from a put
 * (LMDB allocates pages as it writes), sometimes from the commit.
 *
 * Durability. A durable store is opened with MDB_NOMETASYNC: LMDB fsyncs
 * the data pages in every commit but only writes the meta page that makes
 * the commit current. cstore_commit() then fsyncs once more, so it returns
 * with the commit on disk, as before; cstore_commit_unsynced() (the I/O
 * thread's committer) does not: its commit is on disk once the next commit
 * that wrote (its data fsync covers the file) or cstore_sync() returned. A
 * power loss before that can undo only that last commit: LMDB never
 * overwrites the pages of the previous meta page's tree before a later
 * commit, so the store stays intact.
 *
 * A failed flush (a commit's, or cstore_sync's, on any thread) may have
 * let the kernel drop pages it could not write, and reports the error
 * once: a later flush says OK. So from the failure on, every commit
 * counts it ("flush_failures" in meta) and thereby writes: a commit that
 * would have written nothing (an acknowledgement done twice) cannot be
 * told OK without a flush, and a fresh meta page reaches the disk. Once
 * such a commit is on disk (its own sync, a later commit's data flush or
 * cstore_sync), commits write only what they change again. The store
 * counts failures (flush_gen) and the last failure a counting commit on
 * disk answered (flush_ok_gen); failures while that commit ran stay.
 *
 * A count does not bring back the pages the kernel dropped: a commit
 * rewrites only the pages it changes. So a failed flush (an I/O error, not a full
 * disk) first has the whole store written again (s_rewrite): once no
 * transaction is open, LMDB copies what this process maps (the page cache,
 * which kept what the disk may have lost) into data.mdb.rewrite, which is
 * flushed and renamed over data.mdb (the directory flushed too), and LMDB
 * reopens on it. That answers every failure before it. If it fails (the
 * disk is failing, or has no room for a second copy), the old file stays
 * and commits go on counting. At most one rewrite per
 * CSTORE_REWRITE_INTERVAL_MS, whatever its outcome: a dying disk fails
 * every flush, and each rewrite holds every transaction back while it
 * copies; a failure meanwhile is rewritten by the first commit or sync
 * after the interval (s_rewrite_due), not forgotten. What a failure means for a commit told after
 * it: a commit is on disk only if no flush failed since it began, or a rewrite answered the
 * failures since (cstore_flush_clean_since); cstore_commit() returns
 * ASYLINK_E_IO otherwise, and the I/O thread's committer tells its batches
 * so.
 *
 * Threading: any thread may read or run write transactions; LMDB
 * serialises writers, the gate serialises growth. A transaction belongs to
 * the thread that began it.
 */
#include "cstore.h"

#include "bytes.h"
#include "clock.h"
#include "datadir.h"
#include "lmdbkit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_RECORD_VERSION 1
#define S_ID_LEN 16       /* message id bytes */
#define S_SEQ_LEN 8       /* sequence bytes in keys */
#define S_DIGEST_LEN 64   /* envelope digest bytes */
#define S_NAME_MAX CSTORE_NAME_MAX /* node id bytes, without NUL */
#define S_REASON_MAX 255  /* reject reason bytes, without NUL */
#define S_OUT_HEADER 112  /* outbox record header, record version 1 */
#define S_OUT_V2 2        /* outbox record version 2: the envelope lives in sent */
#define S_OUT_HEADER2 128 /* outbox record header, record version 2 */
#define S_OUT_KEPT 1      /* version 2 flags: the envelope in sent is kept as evidence */
#define S_SENT_HEADER 32  /* sent value header */
#define S_IN_HEADER 48    /* inbox record header, record version 1 */
#define S_IN_V2 2         /* inbox record version 2: the envelope lives in inbox_env */
#define S_IN_HEADER2 112  /* inbox record header, record version 2 */
#define S_IN_DIGEST 1     /* version 2 flags: the header holds the envelope's digest */
#define S_IN_TOPIC 2      /* version 2 flags: the envelope has a topic (a feed message) */
#define S_RCPT_HEADER 88  /* receipt value header */
#define S_RCPT_INLINE 1   /* receipt value version: envelope inline */
#define S_RCPT_BY_KEY 2   /* receipt value version: evidence key */
#define S_EVIDENCE_KEY 32 /* BLAKE2b-256 of the receipt envelope */
#define S_RCPT_KEY_MAX (S_ID_LEN + S_NAME_MAX)
#define S_SUB_MAX CSTORE_SUB_MAX /* subscription name bytes, without NUL */
#define S_IN_KEY_MAX (S_ID_LEN + S_NAME_MAX + 1 + S_SUB_MAX)
#define S_VALUE_MAX 0xffffffffu        /* largest LMDB value (32-bit node size) */
#define S_MAX_DBS 16                   /* thirteen now, room to grow */
#define S_MAP_START ((size_t)64 << 20) /* initial map: 64 MiB */
#define S_MAP_STEP ((size_t)1 << 30)   /* the map doubles up to 1 GiB, then grows by 1 GiB */
#define S_BEGIN_TRIES 4                /* write begins retried after MDB_MAP_RESIZED */
#define S_LOCK_NAME "asylink-client.lock"
#define S_META_OUT_HWM "outbox_seq_hwm"
#define S_META_IN_HWM "inbox_seq_hwm"
#define S_META_CRL_NUMBER "crl_number"
#define S_META_CRL_CA "crl_ca"
#define S_META_FLUSH_FAILURES "flush_failures"

/* Internal codes, outside LMDB's range (MDB_KEYEXIST..MDB_LAST_ERRCODE) and errno's. */
#define S_BAD_RECORD LMDBKIT_BAD_RECORD /* a stored value failed validation: ASYLINK_E_IO */
#define S_EXISTS (-29998)               /* outbox id already there: ASYLINK_E_EXISTS */
#define S_DUPLICATE (-29997)            /* inbox id already there: ASYLINK_E_DUPLICATE */
#define S_NOMEM (-29996) /* our own malloc failed, nothing written: ASYLINK_E_NOMEM */

/* The store. */
struct cstore {
    MDB_env *env;                    /* the LMDB environment in dir */
    bool env_open;                   /* mdb_env_open succeeded */
    int stale_readers;               /* dead processes' reader slots cleared at open */
    bool durable;                    /* fsync each commit (else MDB_NOSYNC, synced at close) */
    MDB_dbi meta;                    /* schema version, sequence high-water marks */
    MDB_dbi outbox;                  /* seq -> outbox record */
    MDB_dbi outbox_id;               /* message_id -> seq */
    MDB_dbi outbox_pending;          /* seq -> empty, PENDING outbox entries */
    MDB_dbi inbox;                   /* seq -> inbox record */
    MDB_dbi inbox_id;                /* message_id -> seq */
    MDB_dbi inbox_pending;           /* seq -> empty, PENDING inbox entries */
    MDB_dbi receipts;                /* message_id recipient -> receipt value */
    MDB_dbi evidence;                /* BLAKE2b-256 -> signed receipt envelope */
    MDB_dbi evidence_refs;           /* evidence key, id, recipient -> empty: who cites it */
    MDB_dbi receipts_owed;           /* seq -> receipt to seal (acknowledged, not yet sealed) */
    MDB_dbi sent;                    /* seq -> kept sent envelope */
    MDB_dbi sent_time;               /* kept_ms seq -> empty: kept envelopes by age */
    MDB_dbi inbox_env;               /* seq -> envelope of a PENDING version 2 inbox record */
    int lock_fd;                     /* dir/asylink-client.lock, flock'd while open; -1 if none */
    bool gate_init;                  /* gate and gate_cond are initialised */
    pthread_mutex_t gate;            /* guards the four fields below */
    pthread_cond_t gate_cond;        /* broadcast when active drops to 0 and when a grow ends */
    unsigned active;                 /* transactions (read or write) open or opening */
    unsigned growers;                /* threads waiting to grow the map; new write txns wait */
    size_t map_size;                 /* current map size */
    bool broken;                     /* a failed grow left the map unusable: everything fails */
    _Atomic uint64_t flush_gen;      /* failed flushes (commits' and syncs') so far */
    _Atomic uint64_t flush_ok_gen;   /* the failures a counting commit on disk answered */
    _Atomic uint64_t mark_pending;   /* flush_gen a counting commit answers once its meta page is
                                        on disk (committed unsynced), else 0 */
    char *dir;                       /* the store's directory (for a rewrite) */
    _Atomic uint64_t rewrite_gen;    /* flush_gen the last rewrite was for (written, gate held) */
    _Atomic uint64_t events;         /* failures handled and rewrites tried (cstore_flush_events) */
    _Atomic uint64_t rewrites;       /* rewrites that put the store on disk again */
    _Atomic uint64_t rewrite_ok_gen; /* flush_gen the last successful rewrite answered */
    _Atomic uint64_t rewrite_after_ms; /* no rewrite before (monotonic ms): one per interval */
    bool rewriting;                    /* a rewrite is under way (gate held) */
    uint64_t rewrite_interval_ms;      /* CSTORE_REWRITE_INTERVAL_MS (tests: less) */
    _Atomic int rewrite_error;         /* the last rewrite's failure (an asylink_err), else 0 */
};

/* A write transaction. */
struct cstore_txn {
    cstore *s;           /* the store (borrowed) */
    MDB_txn *txn;        /* the LMDB write transaction */
    size_t map_size;     /* the map size when it began: a MAP_FULL grows from it */
    int error;           /* first fatal LMDB code; then the txn can only end */
    uint64_t out_next;   /* next outbox seq in this txn; 0 = not loaded yet */
    uint64_t in_next;    /* next inbox seq in this txn; 0 = not loaded yet */
    uint64_t in_last;    /* seq of the last entry cstore_inbox_add() stored; 0 = none */
    uint64_t owed_next;  /* next owed-receipt seq in this txn; 0 = not loaded yet */
    uint64_t flush_mark; /* the store's failed flushes when it began (cstore_flush_mark) */
};

/* ---- byte encodings ---------------------------------------------------- */

/* Length of a valid node id (1..S_NAME_MAX bytes), else 0. */
static size_t s_name_len(const char *name)
{
    if (!name)
        return 0;
    size_t len = strnlen(name, S_NAME_MAX + 1);
    return len > S_NAME_MAX ? 0 : len;
}

/* Length of reason kept: at most S_REASON_MAX bytes, cut on a UTF-8 character boundary. */
static size_t s_reason_len(const char *reason)
{
    if (!reason)
        return 0;
    size_t len = strnlen(reason, S_REASON_MAX + 1);
    if (len <= S_REASON_MAX)
        return len;
    len = S_REASON_MAX;
    while (len > 0 && ((unsigned char)reason[len] & 0xC0) == 0x80)
        len--;
    return len;
}

/* ---- records ------------------------------------------------------------ */

/* Header bytes of an outbox record of version (1 or S_OUT_V2). */
static size_t s_out_header_len(int version)
{
    return version == S_OUT_V2 ? S_OUT_HEADER2 : S_OUT_HEADER;
}

size_t cstore_out_header(uint8_t *p, const cstore_out_record *r)
{
    size_t hlen = s_out_header_len(r->version);
    memset(p, 0, hlen);
    p[0] = (uint8_t)(r->version == S_OUT_V2 ? S_OUT_V2 : S_RECORD_VERSION);
    p[1] = (uint8_t)r->state;
    bytes_put_le(p + 2, r->reason_len, 2);
    bytes_put_le(p + 4, (uint32_t)r->code, 4);
    bytes_put_le(p + 8, r->created_ms, 8);
    memcpy(p + 16, r->id, S_ID_LEN);
    memcpy(p + 32, r->digest, S_DIGEST_LEN);
    bytes_put_le(p + 96, r->n_recipients, 4);
    bytes_put_le(p + 100, r->recipients_len, 4);
    bytes_put_le(p + 104, r->envelope_len, 8);
    if (r->version == S_OUT_V2) {
        bytes_put_le(p + 112, r->kept ? r->kept_ms : 0, 8);
        p[120] = r->kept ? S_OUT_KEPT : 0;
    }
    return hlen;
}

bool cstore_out_decode(const uint8_t *p, size_t len, cstore_out_record *r)
{
    if (len < S_OUT_HEADER || (p[0] != S_RECORD_VERSION && p[0] != S_OUT_V2))
        return false;
    r->version = p[0];
    size_t hlen = s_out_header_len(r->version);
    if (len < hlen)
        return false;
    size_t rest = len - hlen;
    r->kept = false;
    r->kept_ms = 0;
    if (r->version == S_OUT_V2) {
        r->kept_ms = bytes_get_le(p + 112, 8);
        r->kept = p[120] == S_OUT_KEPT;
        for (size_t i = 121; i < S_OUT_HEADER2; i++)
            if (p[i])
                return false;
        if ((p[120] & ~S_OUT_KEPT) || (!r->kept && r->kept_ms))
            return false;
    }
    r->state = p[1];
    r->reason_len = (size_t)bytes_get_le(p + 2, 2);
    r->code = (int)(int32_t)(uint32_t)bytes_get_le(p + 4, 4);
    r->created_ms = bytes_get_le(p + 8, 8);
    r->id = p + 16;
    r->digest = p + 32;
    r->n_recipients = (uint32_t)bytes_get_le(p + 96, 4);
    r->recipients_len = (size_t)bytes_get_le(p + 100, 4);
    uint64_t envelope_len = bytes_get_le(p + 104, 8);
    /* version 1: the envelope follows; version 2: it is in sent (nothing follows) */
    uint64_t inline_len = r->version == S_OUT_V2 ? 0 : envelope_len;
    if (r->reason_len > S_REASON_MAX || r->reason_len > rest ||
        r->recipients_len > rest - r->reason_len ||
        inline_len != rest - r->reason_len - r->recipients_len || envelope_len > S_VALUE_MAX)
        return false;
    r->envelope_len = (size_t)envelope_len;
    r->reason = (const char *)p + hlen;
    r->recipients = r->reason + r->reason_len;
    r->envelope =
        r->version == S_OUT_V2 ? NULL : (const uint8_t *)r->recipients + r->recipients_len;
    if (r->state < CSTORE_OUT_PENDING || r->state > CSTORE_OUT_REJECTED ||
        (r->state == CSTORE_OUT_PENDING) != (r->envelope_len > 0) ||
        memchr(r->reason, 0, r->reason_len) != NULL ||
        !bytes_names_valid(r->recipients, r->recipients_len, r->n_recipients, S_NAME_MAX))
        return false;
    return true;
}

/* Decodes and validates an outbox record; 0 or S_BAD_RECORD. */
static int s_out_parse(const MDB_val *v, cstore_out_record *r)
{
    return cstore_out_decode(v->mv_data, v->mv_size, r) ? MDB_SUCCESS : S_BAD_RECORD;
}

/* Header bytes of an inbox record of version (1 or S_IN_V2). */
static size_t s_in_header_len(int version)
{
    return version == S_IN_V2 ? S_IN_HEADER2 : S_IN_HEADER;
}

size_t cstore_in_size(const cstore_in_record *r)
{
    return s_in_header_len(r->version) + r->sender_len + r->sub_len +
           (r->version == S_IN_V2 ? 0 : r->envelope_len);
}

void cstore_in_encode(uint8_t *p, const cstore_in_record *r)
{
    size_t hlen = s_in_header_len(r->version);
    memset(p, 0, hlen);
    p[0] = (uint8_t)(r->version == S_IN_V2 ? S_IN_V2 : S_RECORD_VERSION);
    p[1] = (uint8_t)r->state;
    bytes_put_le(p + 2, r->sender_len, 2);
    p[4] = (uint8_t)r->sub_len;
    bytes_put_le(p + 8, r->broker_seq, 8);
    bytes_put_le(p + 16, r->received_ms, 8);
    memcpy(p + 24, r->id, S_ID_LEN);
    bytes_put_le(p + 40, r->envelope_len, 8);
    if (r->version == S_IN_V2) {
        p[5] = (uint8_t)r->flags;
        if (r->flags & S_IN_DIGEST)
            memmove(p + S_IN_HEADER, r->digest, S_DIGEST_LEN); /* may be a copy of p's own */
    }
    memmove(p + hlen, r->sender, r->sender_len);
    if (r->sub_len)
        memmove(p + hlen + r->sender_len, r->sub, r->sub_len);
    if (r->envelope_len && r->version != S_IN_V2)
        memcpy(p + hlen + r->sender_len + r->sub_len, r->envelope, r->envelope_len);
}

bool cstore_in_decode(const uint8_t *p, size_t len, cstore_in_record *r)
{
    if (len < S_IN_HEADER || (p[0] != S_RECORD_VERSION && p[0] != S_IN_V2))
        return false;
    r->version = p[0];
    size_t hlen = s_in_header_len(r->version);
    if (len < hlen)
        return false;
    size_t rest = len - hlen;
    r->flags = r->version == S_IN_V2 ? p[5] : 0;
    r->digest = (r->flags & S_IN_DIGEST) ? p + S_IN_HEADER : NULL;
    if (r->flags & ~(S_IN_DIGEST | S_IN_TOPIC))
        return false;
    r->state = p[1];
    r->sender_len = (size_t)bytes_get_le(p + 2, 2);
    r->sub_len = p[4];
    r->broker_seq = bytes_get_le(p + 8, 8);
    r->received_ms = bytes_get_le(p + 16, 8);
    r->id = p + 24;
    uint64_t envelope_len = bytes_get_le(p + 40, 8);
    /* version 1: the envelope follows; version 2: it is in inbox_env (nothing follows) */
    uint64_t inline_len = r->version == S_IN_V2 ? 0 : envelope_len;
    if (r->sender_len == 0 || r->sender_len > S_NAME_MAX || r->sub_len > S_SUB_MAX ||
        (r->version != S_IN_V2 && p[5]) || p[6] || p[7] || r->sender_len + r->sub_len > rest ||
        inline_len != rest - r->sender_len - r->sub_len || envelope_len > S_VALUE_MAX)
        return false;
    r->envelope_len = (size_t)envelope_len;
    r->sender = (const char *)p + hlen;
    r->sub = r->sender + r->sender_len;
    r->envelope = r->version == S_IN_V2 ? NULL : (const uint8_t *)r->sub + r->sub_len;
    if (r->state < CSTORE_IN_PENDING || r->state > CSTORE_IN_PURGED ||
        (r->state == CSTORE_IN_PENDING) != (r->envelope_len > 0) ||
        memchr(r->sender, 0, r->sender_len) != NULL || memchr(r->sub, 0, r->sub_len) != NULL)
        return false;
    return true;
}

/* Decodes and validates an inbox record; 0 or S_BAD_RECORD. */
static int s_in_parse(const MDB_val *v, cstore_in_record *r)
{
    return cstore_in_decode(v->mv_data, v->mv_size, r) ? MDB_SUCCESS : S_BAD_RECORD;
}

/*
 * Writes the inbox_id key of (id, sender, sub) into key (S_IN_KEY_MAX
 * bytes); its length, or 0 if a part is invalid (no id, sender of 0 or
 * more than S_NAME_MAX bytes, subscription over S_SUB_MAX).
 */
static size_t s_in_key(uint8_t key[S_IN_KEY_MAX], const uint8_t *id, const char *sender,
                       size_t sender_len, const char *sub, size_t sub_len)
{
    if (!id || sender_len == 0 || sender_len > S_NAME_MAX || sub_len > S_SUB_MAX)
        return 0;
    memcpy(key, id, S_ID_LEN);
    memcpy(key + S_ID_LEN, sender, sender_len);
    key[S_ID_LEN + sender_len] = 0;
    if (sub_len)
        memcpy(key + S_ID_LEN + sender_len + 1, sub, sub_len);
    return S_ID_LEN + sender_len + 1 + sub_len;
}

/* The inbox_id key of a record. */
static size_t s_in_key_of_record(uint8_t key[S_IN_KEY_MAX], const cstore_in_record *r)
{
    return s_in_key(key, r->id, r->sender, r->sender_len, r->sub, r->sub_len);
}

/* Writes a receipt value that cites its evidence by key. */
static void s_rcpt_value(uint8_t *p, const asylink_receipt_info *info,
                         const uint8_t key[S_EVIDENCE_KEY])
{
    memset(p, 0, S_RCPT_HEADER);
    p[0] = S_RCPT_BY_KEY;
    bytes_put_le(p + 4, (uint32_t)info->status, 4);
    bytes_put_le(p + 8, info->acked_ms, 8);
    memcpy(p + 16, info->envelope_digest, S_DIGEST_LEN);
    bytes_put_le(p + 80, S_EVIDENCE_KEY, 8);
    memcpy(p + S_RCPT_HEADER, key, S_EVIDENCE_KEY);
}

bool cstore_rcpt_decode(const uint8_t *p, size_t len, cstore_rcpt_record *r)
{
    if (len <= S_RCPT_HEADER || (p[0] != S_RCPT_INLINE && p[0] != S_RCPT_BY_KEY))
        return false;
    r->status = (int)(int32_t)(uint32_t)bytes_get_le(p + 4, 4);
    r->acked_ms = bytes_get_le(p + 8, 8);
    r->digest = p + 16;
    size_t tail = len - S_RCPT_HEADER;
    r->envelope = p[0] == S_RCPT_INLINE ? p + S_RCPT_HEADER : NULL;
    r->envelope_len = p[0] == S_RCPT_INLINE ? tail : 0;
    r->evidence = p[0] == S_RCPT_BY_KEY ? p + S_RCPT_HEADER : NULL;
    if (bytes_get_le(p + 80, 8) != tail || r->status < 1 || r->status > 2 ||
        (p[0] == S_RCPT_BY_KEY && tail != S_EVIDENCE_KEY))
        return false;
    return true;
}

/* Decodes and validates a receipt value (either version); 0 or S_BAD_RECORD. */
static int s_rcpt_parse(const MDB_val *v, cstore_rcpt_record *r)
{
    return cstore_rcpt_decode(v->mv_data, v->mv_size, r) ? MDB_SUCCESS : S_BAD_RECORD;
}

bool cstore_rcpt_key_split(const uint8_t *key, size_t len, char recipient[CSTORE_NAME_MAX + 1])
{
    if (len <= S_ID_LEN || len > S_RCPT_KEY_MAX)
        return false;
    const char *name = (const char *)key + S_ID_LEN;
    size_t nlen = len - S_ID_LEN;
    if (memchr(name, 0, nlen) != NULL)
        return false;
    memcpy(recipient, name, nlen);
    recipient[nlen] = 0;
    return true;
}

/* Splits a receipt key id(16) recipient; S_BAD_RECORD if it has not that form. */
static int s_rcpt_key_parse(const MDB_val *k, char recipient[S_NAME_MAX + 1])
{
    return cstore_rcpt_key_split(k->mv_data, k->mv_size, recipient) ? MDB_SUCCESS : S_BAD_RECORD;
}

/* ---- small LMDB helpers -------------------------------------------------- */

/* Maps an LMDB or internal code to an asylink_err (the store's own codes, then core/lmdbkit.h). */
static int s_err(int rc)
{
    switch (rc) {
    case S_EXISTS: return ASYLINK_E_EXISTS;
    case S_DUPLICATE: return ASYLINK_E_DUPLICATE;
    case S_NOMEM: return ASYLINK_E_NOMEM;
    default: return lmdbkit_err(rc);
    }
}

/* Puts key -> value into dbi with flags. */
static int s_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, const void *val,
                 size_t vlen, unsigned flags)
{
    return lmdbkit_put(txn, dbi, key, klen, val, vlen, flags);
}

/* Deletes key from dbi if present. */
static int s_del_if(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len)
{
    return lmdbkit_del_if(txn, dbi, key, len, NULL);
}

/* Reads a little-endian meta number of exactly len bytes (0 if absent); *found may be NULL. */
static int s_meta_get(MDB_txn *txn, MDB_dbi meta, const char *name, size_t len, uint64_t *v,
                      bool *found)
{
    return lmdbkit_meta_get(txn, meta, name, len, v, found);
}

/* Writes a little-endian meta number of len bytes. */
static int s_meta_put(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t v, size_t len)
{
    return lmdbkit_meta_put(txn, meta, name, v, len);
}

/* The record under seq key in dbi; an index entry without its record is corrupt. */
static int s_record_get(MDB_txn *txn, MDB_dbi dbi, const uint8_t key[S_SEQ_LEN], MDB_val *v)
{
    MDB_val k = {S_SEQ_LEN, (void *)key};
    int rc = mdb_get(txn, dbi, &k, v);
    return rc == MDB_NOTFOUND ? S_BAD_RECORD : rc;
}

/* id's record through an id index: its seq key and value; NOTFOUND if id is unknown. */
static int s_record_by_id(MDB_txn *txn, MDB_dbi index, MDB_dbi dbi, const uint8_t *id,
                          uint8_t key[S_SEQ_LEN], MDB_val *v)
{
    MDB_val k = {S_ID_LEN, (void *)id}, d;
    int rc = mdb_get(txn, index, &k, &d);
    if (rc != MDB_SUCCESS)
        return rc;
    if (d.mv_size != S_SEQ_LEN)
        return S_BAD_RECORD;
    memcpy(key, d.mv_data, S_SEQ_LEN);
    return s_record_get(txn, dbi, key, v);
}

/*
 * For a malformed pending key k: the seq from which the next search
 * (after_seq = it) starts beyond k. A shorter key sorts just before its
 * zero-padded form, a longer one just after its first 8 bytes.
 */
static uint64_t s_skip_seq(const MDB_val *k)
{
    uint8_t p[S_SEQ_LEN] = {0};
    memcpy(p, k->mv_data, k->mv_size < S_SEQ_LEN ? k->mv_size : S_SEQ_LEN);
    uint64_t seq = bytes_get_be64(p);
    return k->mv_size < S_SEQ_LEN && seq > 0 ? seq - 1 : seq;
}

/*
 * The first seq key > after_seq in a pending index into key; NOTFOUND at
 * the end; S_BAD_RECORD for a malformed entry (key then holds s_skip_seq).
 */
static int s_pending_next(MDB_txn *txn, MDB_dbi pending, uint64_t after_seq, uint8_t key[S_SEQ_LEN])
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, pending, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    MDB_val k = {S_SEQ_LEN, key}, v;
    bytes_put_be64(key, after_seq + 1);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS && k.mv_size == S_SEQ_LEN)
        memcpy(key, k.mv_data, S_SEQ_LEN);
    else if (rc == MDB_SUCCESS)
        bytes_put_be64(key, s_skip_seq(&k));
    if (rc == MDB_SUCCESS && (k.mv_size != S_SEQ_LEN || v.mv_size != 0))
        rc = S_BAD_RECORD;
    mdb_cursor_close(cur);
    return rc;
}

/* Number of entries in dbi. */
static int s_count(MDB_txn *txn, MDB_dbi dbi, uint64_t *count)
{
    MDB_stat st;
    int rc = mdb_stat(txn, dbi, &st);
    *count = rc == MDB_SUCCESS ? st.ms_entries : 0;
    return rc;
}

/* ---- the gate and map growth ------------------------------------------- */

/*
 * Lets a transaction start: counts it as open. Writers wait while a grow is
 * pending; readers never wait (see the top of the file). *map_size (may be
 * NULL) gets the map size it starts with. EIO if the store is broken.
 */
static int s_gate_enter(cstore *s, bool writer, size_t *map_size)
{
    pthread_mutex_lock(&s->gate);
    while (writer && s->growers > 0 && !s->broken)
        pthread_cond_wait(&s->gate_cond, &s->gate);
    int rc = s->broken ? EIO : MDB_SUCCESS;
    if (rc == MDB_SUCCESS)
        s->active++;
    if (map_size)
        *map_size = s->map_size;
    pthread_mutex_unlock(&s->gate);
    return rc;
}

/* A transaction has ended. */
static void s_gate_leave(cstore *s)
{
    pthread_mutex_lock(&s->gate);
    if (--s->active == 0 && s->growers > 0)
        pthread_cond_broadcast(&s->gate_cond);
    pthread_mutex_unlock(&s->gate);
}

/* Rounds size up to a multiple of the page size. */
static size_t s_page_round(size_t size)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t p = page > 0 ? (size_t)page : 4096;
    return (size + p - 1) / p * p;
}

/* The map size after size: double up to S_MAP_STEP, then S_MAP_STEP more; 0 if none. */
static size_t s_map_next(size_t size)
{
    size_t step = size < S_MAP_STEP ? size : S_MAP_STEP;
    return size > SIZE_MAX - step - 4096 ? 0 : s_page_round(size + step);
}

/* Sets the map size (no transaction open) and records what LMDB made of it. */
static int s_map_set(cstore *s, size_t size)
{
    return lmdbkit_map_set(s->env, size, &s->map_size);
}

/*
 * Grows the map once no transaction of this process is open: from
 * seen_size to the next size (unless another thread already grew it), or,
 * if adopt, to the size another process set (size 0). MDB_MAP_FULL if no
 * larger map is possible; other failures leave LMDB without a map, so the
 * store is marked broken.
 */
static int s_grow(cstore *s, size_t seen_size, bool adopt)
{
    pthread_mutex_lock(&s->gate);
    s->growers++;
    while (s->active > 0)
        pthread_cond_wait(&s->gate_cond, &s->gate);
    int rc = MDB_SUCCESS;
    if (s->broken) {
        rc = EIO;
    } else if (adopt || s->map_size == seen_size) {
        size_t size = adopt ? 0 : s_map_next(seen_size);
        rc = adopt || size ? s_map_set(s, size) : MDB_MAP_FULL;
        s->broken = rc != MDB_SUCCESS && rc != MDB_MAP_FULL;
    }
    s->growers--;
    pthread_cond_broadcast(&s->gate_cond);
    pthread_mutex_unlock(&s->gate);
    return rc;
}

/*
 * Grows the map ahead of need, before a write transaction begins, once its
 * used pages reach three quarters of it: a commit failing with MAP_FULL
 * fails the whole transaction (the I/O thread's turn of deliveries and
 * acknowledgements with it), where growing first costs nothing.
 */
static void s_grow_ahead(cstore *s)
{
    MDB_envinfo info;
    MDB_stat st;
    /* Read while counted as a reader: LMDB's meta pages are in the map, which
       another thread's grow may be moving otherwise (seen as a segfault). */
    if (s_gate_enter(s, false, NULL) != MDB_SUCCESS)
        return;
    int rc = mdb_env_info(s->env, &info);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_stat(s->env, &st);
    s_gate_leave(s);
    if (rc != MDB_SUCCESS)
        return;
    size_t used = ((size_t)info.me_last_pgno + 1) * st.ms_psize, map = info.me_mapsize;
    if (used >= map - map / 4)
        (void)s_grow(s, map, false); /* a failure shows at the commit, as before */
}

/* Opens a read transaction (through the gate). */
static int s_read_begin(cstore *s, MDB_txn **txn)
{
    int rc = s_gate_enter(s, false, NULL);
    if (rc != MDB_SUCCESS)
        return rc;
    /*
     * MDB_MAP_RESIZED (another process grew the map) cannot happen while we
     * hold the lock file; it is not adopted here, where the calling thread
     * may hold a write transaction that the grow would wait for.
     */
    rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    if (rc != MDB_SUCCESS)
        s_gate_leave(s);
    return rc;
}

/* Ends a read transaction. */
static void s_read_end(cstore *s, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    s_gate_leave(s);
}

/* ---- opening ------------------------------------------------------------ */

/*
 * Gives a reopened store room: a map of at least S_MAP_START with as much
 * free as its data holds (up to S_MAP_STEP), so its first write fits.
 */
static int s_map_fit(cstore *s)
{
    size_t used;
    int rc = lmdbkit_usage(s->env, &s->map_size, &used);
    if (rc != MDB_SUCCESS)
        return rc;
    size_t want = S_MAP_START;
    while (want && want < used)
        want = s_map_next(want);
    if (want && used > want / 2)
        want = s_map_next(want);
    return want > s->map_size ? s_map_set(s, want) : MDB_SUCCESS;
}

/* Durable: the data pages are fsync'd by every commit, the meta page by cstore_commit (or, after
   cstore_commit_unsynced, by the next commit's data fsync or cstore_sync). */
static unsigned s_env_flags(bool durable)
{
    return MDB_NOTLS | (durable ? MDB_NOMETASYNC : MDB_NOSYNC);
}

/* Creates and opens the LMDB environment. */
static int s_env_open(cstore *s, const char *dir, bool durable)
{
    int rc = lmdbkit_env_open(&s->env, dir, s_env_flags(durable), S_MAX_DBS, S_MAP_START);
    s->env_open = rc == MDB_SUCCESS;
    if (rc == MDB_SUCCESS)
        s->stale_readers = lmdbkit_stale_readers_clear(s->env);
    if (rc == MDB_SUCCESS)
        rc = s_map_fit(s);
    errno = rc > 0 ? rc : 0; /* LMDB's positive codes are errno values (cstore_open) */
    return s_err(rc);
}

/* Opens (creating) every named database. */
static int s_dbs_open(cstore *s, MDB_txn *txn)
{
    const lmdbkit_db dbs[] = {{"meta", &s->meta},
                              {"outbox", &s->outbox},
                              {"outbox_id", &s->outbox_id},
                              {"outbox_pending", &s->outbox_pending},
                              {"inbox", &s->inbox},
                              {"inbox_id", &s->inbox_id},
                              {"inbox_pending", &s->inbox_pending},
                              {"receipts", &s->receipts},
                              {"evidence", &s->evidence},
                              {"evidence_refs", &s->evidence_refs},
                              {"receipts_owed", &s->receipts_owed},
                              {"sent", &s->sent},
                              {"sent_time", &s->sent_time},
                              {"inbox_env", &s->inbox_env}};
    int rc = lmdbkit_dbs_open(txn, dbs, sizeof dbs / sizeof dbs[0]);
    /* The default key order, compared without a memcmp() call each (about 300 comparisons
       per message sent and received). */
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0] && rc == MDB_SUCCESS; i++)
        rc = mdb_set_compare(txn, *dbs[i].dbi, lmdbkit_cmp_bytes);
    return rc;
}

/*
 * Schema 2 -> 3: inbox_id was keyed by the message id alone; empties it
 * and indexes every inbox record under its (id, sender, subscription) key.
 * A record that does not validate gets no entry (see the file comment).
 */
static int s_upgrade_inbox_keys(cstore *s, MDB_txn *txn)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = mdb_drop(txn, s->inbox_id, 0);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_open(txn, s->inbox, &cur);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        cstore_in_record r;
        if (k.mv_size != S_SEQ_LEN || s_in_parse(&v, &r) != MDB_SUCCESS)
            continue;
        uint8_t seq[S_SEQ_LEN], ikey[S_IN_KEY_MAX];
        memcpy(seq, k.mv_data, S_SEQ_LEN);
        size_t len = s_in_key_of_record(ikey, &r);
        int put = s_put(txn, s->inbox_id, ikey, len, seq, S_SEQ_LEN, MDB_NOOVERWRITE);
        if (put != MDB_SUCCESS && put != MDB_KEYEXIST) {
            rc = put;
            break;
        }
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

/* Declared here, defined with the receipts below. */
static int s_upgrade_evidence_refs(cstore *s, MDB_txn *txn);

/*
 * Checks (or, in a new store, writes) the schema version. Returns an LMDB
 * code; *code gets ASYLINK_E_UNSUPPORTED_VERSION or ASYLINK_E_IO for a
 * version this library cannot use.
 */
static int s_schema_check(cstore *s, MDB_txn *txn, int *code)
{
    uint32_t version;
    int rc = lmdbkit_schema_get(txn, s->meta, CSTORE_SCHEMA_VERSION, &version, code);
    if (rc != MDB_SUCCESS || *code != ASYLINK_OK || version == CSTORE_SCHEMA_VERSION)
        return rc;
    if (version != 0 && version < 3)
        rc = s_upgrade_inbox_keys(s, txn); /* 2 -> 3 (1 -> 2 rewrites nothing) */
    if (rc == MDB_SUCCESS && version != 0 && version < 4)
        rc = s_upgrade_evidence_refs(s, txn); /* 3 -> 4 */
    if (rc == MDB_SUCCESS)
        rc = lmdbkit_schema_set(txn, s->meta, CSTORE_SCHEMA_VERSION); /* new, or upgraded */
    return rc;
}

/* Opens the databases and checks the schema in one write transaction. */
static int s_schema_open(cstore *s)
{
    for (int attempt = 0; attempt < S_BEGIN_TRIES; attempt++) {
        cstore_txn *t = NULL;
        int code = ASYLINK_OK;
        int rc = cstore_begin(s, &t);
        if (rc != ASYLINK_OK)
            return rc;
        rc = s_dbs_open(s, t->txn);
        if (rc == MDB_SUCCESS)
            rc = s_schema_check(s, t->txn, &code);
        t->error = rc; /* the commit aborts, grows after MAP_FULL and says why */
        if (code != ASYLINK_OK) {
            cstore_abort(&t);
            return code;
        }
        rc = cstore_commit(&t);
        if (rc != ASYLINK_E_STORE_FULL)
            return rc;
    }
    return ASYLINK_E_STORE_FULL;
}

#define S_DATA_FILE "data.mdb"            /* LMDB's data file in the store's directory */
#define S_REWRITE_FILE "data.mdb.rewrite" /* a rewrite's copy, until renamed over it */

/* dir/name into path (PATH_MAX bytes); false if it does not fit. */
static bool s_path(char *path, const char *dir, const char *name)
{
    return (size_t)snprintf(path, PATH_MAX, "%s/%s", dir, name) < PATH_MAX;
}

/* Removes what a rewrite cut short by a crash left (as large as the store; never in use). */
static void s_rewrite_leftover(const char *dir)
{
    char path[PATH_MAX];
    if (s_path(path, dir, S_REWRITE_FILE))
        (void)unlink(path);
}

/* Initialises the gate. */
static int s_gate_init(cstore *s)
{
    if (pthread_mutex_init(&s->gate, NULL) != 0)
        return ASYLINK_E_NOMEM;
    if (pthread_cond_init(&s->gate_cond, NULL) != 0) {
        pthread_mutex_destroy(&s->gate);
        return ASYLINK_E_NOMEM;
    }
    s->gate_init = true;
    return ASYLINK_OK;
}

int cstore_open(const char *dir, bool durable, cstore **out)
{
    return cstore_open_private(dir, durable, NULL, out);
}

/* The entries cstore_open_private()'s check keeps private. */
static const char *const s_private_names[] = {S_LOCK_NAME, S_DATA_FILE, "lock.mdb"};

int cstore_open_private(const char *dir, bool durable, const cstore_private_check *chk,
                        cstore **out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    if (!dir || !dir[0])
        return ASYLINK_E_INVALID_ARG;
    cstore *s = calloc(1, sizeof *s);
    if (!s)
        return ASYLINK_E_NOMEM;
    s->lock_fd = -1;
    s->durable = durable;
    s->dir = strdup(dir);
    s->rewrite_interval_ms = CSTORE_REWRITE_INTERVAL_MS;
    int rc = s->dir ? s_gate_init(s) : ASYLINK_E_NOMEM;
    /* The lock is taken before LMDB opens the environment, so LMDB never
     * sees one environment opened twice in a process (its POSIX locks
     * would break). */
    int sys = 0; /* errno of a failed mkdir, open, lock or mdb_env_open, for the caller */
    if (rc == ASYLINK_OK && (rc = datadir_lock(dir, S_LOCK_NAME, DATADIR_MKDIR | DATADIR_CREATE,
                                               NULL, &s->lock_fd)) != ASYLINK_OK)
        sys = errno;
    if (rc == ASYLINK_OK && chk &&
        (rc = datadir_private(dir, s_private_names,
                              sizeof s_private_names / sizeof s_private_names[0], chk->tightened,
                              chk->arg, chk->bad, chk->badlen, chk->uid)) != ASYLINK_OK)
        sys = errno; /* (before LMDB holds its POSIX locks on lock.mdb: see cstore.h) */
    if (rc == ASYLINK_OK)
        s_rewrite_leftover(dir);
    if (rc == ASYLINK_OK && (rc = s_env_open(s, dir, durable)) != ASYLINK_OK)
        sys = errno;
    if (rc == ASYLINK_OK)
        rc = s_schema_open(s);
    if (rc == ASYLINK_OK) {
        *out = s;
        s = NULL;
    }
    cstore_close(&s);
    errno = rc == ASYLINK_E_IO ? sys : 0;
    return rc;
}

int cstore_stale_readers(const cstore *s)
{
    return s ? s->stale_readers : 0;
}

void cstore_close(cstore **self_p)
{
    if (!self_p || !*self_p)
        return;
    cstore *s = *self_p;
    if (s->env_open && !s->broken)
        mdb_env_sync(s->env, 1); /* relaxed commits (and an unsynced meta page) reach the disk */
    if (s->env)
        mdb_env_close(s->env);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    if (s->gate_init) {
        pthread_cond_destroy(&s->gate_cond);
        pthread_mutex_destroy(&s->gate);
    }
    free(s->dir);
    free(s);
    *self_p = NULL;
}

/* ---- transactions ------------------------------------------------------- */

int cstore_begin(cstore *s, cstore_txn **out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    if (!s)
        return ASYLINK_E_INVALID_ARG;
    cstore_txn *t = calloc(1, sizeof *t);
    if (!t)
        return ASYLINK_E_NOMEM;
    t->s = s;
    s_grow_ahead(s);
    int rc = MDB_MAP_RESIZED;
    for (int attempt = 0; attempt < S_BEGIN_TRIES && rc == MDB_MAP_RESIZED; attempt++) {
        rc = s_gate_enter(s, true, &t->map_size);
        if (rc != MDB_SUCCESS)
            break;
        rc = mdb_txn_begin(s->env, NULL, 0, &t->txn);
        if (rc == MDB_SUCCESS)
            break;
        s_gate_leave(s);
        if (rc == MDB_MAP_RESIZED && s_grow(s, 0, true) != MDB_SUCCESS)
            break; /* another process grew the map: adopt its size, try again */
    }
    if (rc != MDB_SUCCESS) {
        free(t);
        return s_err(rc);
    }
    t->flush_mark = atomic_load(&s->flush_gen); /* (LMDB may spill pages before the commit) */
    *out = t;
    return ASYLINK_OK;
}

/* Raises flush_ok_gen to gen (never lowers it): the failures up to gen are answered. */
static void s_flush_answered(cstore *s, uint64_t gen)
{
    uint64_t ok = atomic_load(&s->flush_ok_gen);
    while (ok < gen && !atomic_compare_exchange_weak(&s->flush_ok_gen, &ok, gen))
        ;
}

/* Counts a failed flush (or a commit that failed on its way to one). */
static void s_flush_failed(cstore *s)
{
    atomic_fetch_add(&s->flush_gen, 1);
}

/* A flush succeeded that put the meta page of the counting commit cover (0: none) on disk. */
static void s_flush_covered(cstore *s, uint64_t cover)
{
    if (!cover)
        return;
    s_flush_answered(s, cover);
    atomic_compare_exchange_strong(&s->mark_pending, &cover, 0);
}

/* Counts the failed flushes in t's meta database: t then writes (cstore.h, "Durability"). */
static int s_mark_flush_failed(cstore_txn *t)
{
    uint64_t n = 0; /* (0 when absent) */
    int rc = s_meta_get(t->txn, t->s->meta, S_META_FLUSH_FAILURES, 8, &n, NULL);
    return rc == MDB_SUCCESS ? s_meta_put(t->txn, t->s->meta, S_META_FLUSH_FAILURES, n + 1, 8) : rc;
}

/* mdb_env_sync() counted as a reader: a rewrite (below) does not close the environment meanwhile.
 */
static int s_env_sync(cstore *s)
{
    int rc = s_gate_enter(s, false, NULL);
    if (rc == MDB_SUCCESS) {
        rc = mdb_env_sync(s->env, 1);
        s_gate_leave(s);
    }
    return rc;
}

/* Flushes directory dir (a rename in it). An LMDB/errno code. */
static int s_dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno ? errno : EIO;
    int rc = fsync(fd) == 0 ? MDB_SUCCESS : (errno ? errno : EIO);
    close(fd);
    return rc;
}

/* Opens LMDB on s->dir again (after a rewrite), with the map and databases as before. */
static int s_env_reopen(cstore *s)
{
    int rc = lmdbkit_env_open(&s->env, s->dir, s_env_flags(s->durable), S_MAX_DBS, s->map_size);
    s->env_open = rc == MDB_SUCCESS;
    size_t used;
    if (rc == MDB_SUCCESS)
        rc = lmdbkit_usage(s->env, &s->map_size, &used);
    MDB_txn *txn = NULL;
    if (rc == MDB_SUCCESS)
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == MDB_SUCCESS)
        rc = s_dbs_open(s, txn); /* (the handles are numbered in the same order as before) */
    if (txn && rc == MDB_SUCCESS)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    return rc;
}

/* Whether the file system has room for a second copy of the store and the reserve beside it. */
static int s_rewrite_room(cstore *s)
{
    char path[PATH_MAX];
    struct stat st;
    if (!s_path(path, s->dir, S_DATA_FILE))
        return ENAMETOOLONG;
    if (stat(path, &st) != 0)
        return errno ? errno : EIO;
    uint64_t need = (uint64_t)st.st_size + DATADIR_RESERVE_BYTES;
    return datadir_free_bytes(s->lock_fd) >= need ? MDB_SUCCESS : ENOSPC;
}

/* Writes the store into a new file and puts it in place (gate held, nothing open). */
static int s_rewrite_file(cstore *s)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if (!s_path(path, s->dir, S_DATA_FILE) || !s_path(tmp, s->dir, S_REWRITE_FILE))
        return ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno ? errno : EIO;
    /* The last commit's tree as mapped, compacted: the free pages (which may hold what an
       erasure removed, OPERATIONS.md 10.4) are not carried over. */
    int rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    if (rc == MDB_SUCCESS && fdatasync(fd) != 0)
        rc = errno ? errno : EIO;
    if (close(fd) != 0 && rc == MDB_SUCCESS)
        rc = errno ? errno : EIO;
    if (rc == MDB_SUCCESS) {
        mdb_env_close(s->env);
        s->env = NULL;
        s->env_open = false;
        if (rename(tmp, path) != 0)
            rc = errno ? errno : EIO;
        if (rc == MDB_SUCCESS)
            rc = s_dir_sync(s->dir);
        int opened = s_env_reopen(s); /* on the new file, or the old one if the rename failed */
        if (opened != MDB_SUCCESS) {
            s->broken = true; /* no environment: everything fails from now on */
            rc = opened;
        }
    }
    if (rc != MDB_SUCCESS)
        unlink(tmp);
    return rc;
}

/* Monotonic milliseconds (the rewrite interval does not follow the wall clock's steps). */
static uint64_t s_mono_ms(void)
{
    return clock_mono_ns() / 1000000u;
}

/* Whether a rewrite is due: a failure no rewrite answered, and the interval since the last one
   passed. (Read without the gate: s_rewrite looks again under it.) */
static bool s_rewrite_due(cstore *s)
{
    uint64_t gen = atomic_load(&s->flush_gen);
    return s->durable && gen != atomic_load(&s->rewrite_ok_gen) &&
           s_mono_ms() >= atomic_load(&s->rewrite_after_ms);
}

/*
 * After a failed flush (cstore.c, "Durability"): rewrites the store once no
 * transaction is open, unless a rewrite since that failure ran already or
 * the interval has not passed. Answers the failures before it if it
 * succeeds. Whether it tried (the caller counts an event for the report).
 */
static bool s_rewrite(cstore *s)
{
    pthread_mutex_lock(&s->gate);
    if (s->broken || s->rewriting || !s_rewrite_due(s)) {
        /* answered, not yet, or another thread's rewrite (which copies what is committed once
           every transaction ended) is under way: nothing is held back */
        pthread_mutex_unlock(&s->gate);
        return false;
    }
    s->rewriting = true;
    /* Once per interval whatever comes of it (a dying disk fails every flush, and a copy holds
       every transaction back); a failure meanwhile waits for the next commit after it. */
    atomic_store(&s->rewrite_after_ms, s_mono_ms() + s->rewrite_interval_ms);
    uint64_t gen = atomic_load(&s->flush_gen);
    atomic_store(&s->rewrite_gen, gen);
    int rc = s_rewrite_room(s); /* (before holding everyone back for nothing) */
    if (rc == MDB_SUCCESS) {
        s->growers++;
        while (s->active > 0)
            pthread_cond_wait(&s->gate_cond, &s->gate);
        gen = atomic_load(&s->flush_gen); /* (the copy answers what failed until now) */
        atomic_store(&s->rewrite_gen, gen);
        rc = s->broken ? EIO : s_rewrite_file(s);
        s->growers--;
        pthread_cond_broadcast(&s->gate_cond);
    }
    atomic_store(&s->rewrite_error, rc == MDB_SUCCESS ? ASYLINK_OK : s_err(rc));
    if (rc == MDB_SUCCESS) {
        atomic_fetch_add(&s->rewrites, 1);
        atomic_store(&s->mark_pending, 0);
        atomic_store(&s->rewrite_ok_gen, gen);
        s_flush_answered(s, gen);
    }
    s->rewriting = false;
    pthread_mutex_unlock(&s->gate);
    return true;
}

/*
 * Ends t (committing if asked and healthy), grows the map after a MAP_FULL;
 * an asylink_err. sync: in a durable store the commit is on disk when this
 * returns (the meta page's fdatasync); else only its data pages are (LMDB
 * with MDB_NOMETASYNC: its meta page is written, not synced). *wrote (if
 * not NULL): the commit wrote (and fsync'd) data pages after every meta page
 * written before it began, so that an unsynced meta page of an earlier
 * commit is on disk too. After a failed flush a durable store's commits
 * count it and so write, and a rewrite follows (above, "Durability").
 */
static int s_txn_end(cstore_txn **tp, bool commit, bool sync, bool *wrote)
{
    cstore_txn *t = *tp;
    cstore *s = t->s;
    int rc = t->error;
    size_t id = 0;
    bool flushing = commit && rc == MDB_SUCCESS && s->durable;
    uint64_t cover = 0, mark = 0, began = 0;
    if (wrote)
        *wrote = false;
    if (flushing) {
        /* An earlier counting commit's meta page was written before this transaction began:
           this commit's data flush puts it on disk. */
        cover = atomic_load(&s->mark_pending);
        uint64_t gen = atomic_load(&s->flush_gen);
        began = t->flush_mark;
        if (gen != atomic_load(&s->flush_ok_gen)) {
            rc = s_mark_flush_failed(t);
            mark = rc == MDB_SUCCESS ? gen : 0;
            flushing = rc == MDB_SUCCESS;
        }
    }
    if (commit && rc == MDB_SUCCESS) {
        id = mdb_txn_id(t->txn);
        rc = mdb_txn_commit(t->txn);
    } else {
        mdb_txn_abort(t->txn);
    }
    MDB_envinfo info;
    /* An empty transaction commits without writing or syncing anything: then no txn id is
       used. (A later one than ours, of another thread, synced its data pages as well.) */
    bool data = rc == MDB_SUCCESS && commit && mdb_env_info(s->env, &info) == MDB_SUCCESS &&
                info.me_last_txnid >= id;
    if (wrote)
        *wrote = data;
    s_gate_leave(s);
    if (rc == MDB_SUCCESS && commit && sync && s->durable)
        rc = s_env_sync(s);
    /* Another thread's flush failed meanwhile: this commit's pages may be among those the
       kernel dropped, unless a rewrite since put everything on disk. */
    bool unclean = flushing && rc == MDB_SUCCESS && sync && !cstore_flush_clean_since(s, began);
    /* (A MAP_FULL is found before anything is written; a full disk's write cut short leaves
       nothing the kernel would drop: STORE_FULL, as before.) */
    bool failed = flushing && rc != MDB_SUCCESS && rc != MDB_MAP_FULL && !datadir_full(s->lock_fd);
    if (failed) {
        s_flush_failed(s);
    } else if (flushing && rc == MDB_SUCCESS) {
        if (data)
            s_flush_covered(s, cover);
        if (mark && sync)
            s_flush_answered(s, mark);
        else if (mark && data)
            atomic_store(&s->mark_pending, mark);
    }
    if (rc == EIO && datadir_full(s->lock_fd))
        rc = ENOSPC; /* LMDB's word for a write cut short by a full disk */
    if (unclean)
        rc = EIO; /* committed, perhaps not on disk (cstore.h) */
    /* Pages the kernel could not write may be lost: all of them again. */
    bool rewrote = s_rewrite_due(s) && s_rewrite(s);
    if (failed || rewrote)
        atomic_fetch_add(&s->events, 1); /* (once its rewrite, if any, is over: one report) */
    if (rc == MDB_MAP_FULL) {
        int grown = s_grow(s, t->map_size, false);
        if (grown != MDB_SUCCESS && grown != MDB_MAP_FULL)
            rc = grown;
    }
    free(t);
    *tp = NULL;
    return s_err(rc);
}

int cstore_write(cstore *s, int (*fill)(cstore_txn *t, void *arg), void *arg)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        cstore_txn *t = NULL;
        int rc = cstore_begin(s, &t);
        if (rc == ASYLINK_OK)
            rc = fill(t, arg);
        if (rc != ASYLINK_OK) {
            cstore_abort(&t);
            if (rc == ASYLINK_E_STORE_FULL)
                continue; /* the store grows its map when the transaction ends */
            return rc;
        }
        rc = cstore_commit(&t);
        if (rc != ASYLINK_E_STORE_FULL)
            return rc;
    }
    return ASYLINK_E_STORE_FULL;
}

int cstore_commit(cstore_txn **t)
{
    if (!t || !*t)
        return ASYLINK_E_INVALID_ARG;
    return s_txn_end(t, true, true, NULL);
}

int cstore_commit_unsynced(cstore_txn **t, bool *wrote)
{
    if (!t || !*t)
        return ASYLINK_E_INVALID_ARG;
    return s_txn_end(t, true, false, wrote);
}

int cstore_sync(cstore *s)
{
    if (!s)
        return ASYLINK_E_INVALID_ARG;
    if (!s->durable)
        return ASYLINK_OK;
    uint64_t cover = atomic_load(&s->mark_pending); /* written before this flush begins */
    int rc = s_env_sync(s);
    bool failed = rc != MDB_SUCCESS && !datadir_full(s->lock_fd);
    if (rc == MDB_SUCCESS)
        s_flush_covered(s, cover);
    else if (failed)
        s_flush_failed(s);
    bool rewrote = s_rewrite_due(s) && s_rewrite(s);
    if (failed || rewrote)
        atomic_fetch_add(&s->events, 1); /* (once its rewrite, if any, is over: one report) */
    return s_err(rc);
}

uint64_t cstore_flush_mark(cstore *s)
{
    return s ? atomic_load(&s->flush_gen) : 0;
}

bool cstore_flush_clean_since(cstore *s, uint64_t mark)
{
    if (!s)
        return false;
    uint64_t gen = atomic_load(&s->flush_gen);
    return gen == mark || atomic_load(&s->rewrite_ok_gen) == gen;
}

void cstore_set_rewrite_interval(cstore *s, uint64_t ms)
{
    pthread_mutex_lock(&s->gate);
    s->rewrite_interval_ms = ms;
    atomic_store(&s->rewrite_after_ms, 0);
    pthread_mutex_unlock(&s->gate);
}

uint64_t cstore_flush_events(cstore *s)
{
    return s ? atomic_load(&s->events) : 0;
}

int cstore_flush_state(cstore *s, cstore_flush_info *out)
{
    if (!s || !out)
        return ASYLINK_E_INVALID_ARG;
    *out = (cstore_flush_info){.failures = atomic_load(&s->flush_gen),
                               .rewrites = atomic_load(&s->rewrites),
                               .rewrite_error = atomic_load(&s->rewrite_error)};
    out->unanswered = out->failures != atomic_load(&s->flush_ok_gen);
    out->rewrite_tried = atomic_load(&s->rewrite_gen) == out->failures;
    out->rewritten = out->failures != 0 && atomic_load(&s->rewrite_ok_gen) == out->failures;
    MDB_txn *r = NULL;
    int rc = s_read_begin(s, &r);
    if (rc == MDB_SUCCESS) {
        rc = s_meta_get(r, s->meta, S_META_FLUSH_FAILURES, 8, &out->counted, NULL);
        s_read_end(s, r);
    }
    return s_err(rc);
}

bool cstore_durable(const cstore *s)
{
    return s && s->durable;
}

void cstore_abort(cstore_txn **t)
{
    if (t && *t)
        s_txn_end(t, false, false, NULL);
}

uint64_t cstore_room(cstore_txn *t)
{
    if (!t || t->error)
        return 0;
    uint64_t avail = datadir_free_bytes(t->s->lock_fd);
    MDB_txn *r = NULL; /* MDB_NOTLS: a read transaction beside our write one */
    if (avail < DATADIR_RESERVE_BYTES + LMDBKIT_ROOM_PLENTY &&
        s_read_begin(t->s, &r) != MDB_SUCCESS)
        r = NULL;
    uint64_t room = lmdbkit_room(avail, r);
    if (r)
        s_read_end(t->s, r);
    return room;
}

/* Checks t before an operation: usable, or the error that broke it. */
static int s_op_check(cstore_txn *t)
{
    if (!t)
        return ASYLINK_E_INVALID_ARG;
    return t->error ? s_err(t->error) : ASYLINK_OK;
}

/* An operation's result: "changes nothing" codes pass, anything else breaks t. */
static int s_op_end(cstore_txn *t, int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
    case MDB_NOTFOUND:
    case S_BAD_RECORD:
    case S_EXISTS:
    case S_DUPLICATE:
    case S_NOMEM: break;
    default: t->error = rc; break;
    }
    return s_err(rc);
}

/*
 * The next sequence for dbi in this transaction: one past both the
 * persisted high-water mark and the last key (loaded once per txn).
 */
static int s_seq_next(cstore_txn *t, MDB_dbi dbi, const char *hwm_name, uint64_t *next,
                      uint64_t *seq)
{
    if (*next == 0) {
        uint64_t last = 0;
        int rc = lmdbkit_seq_last(t->txn, dbi, t->s->meta, hwm_name, &last);
        if (rc != MDB_SUCCESS)
            return rc;
        if (last >= UINT64_MAX - 1)
            return S_BAD_RECORD; /* a scribbled mark or key: no sequence left */
        *next = last + 1;
    }
    *seq = *next;
    return MDB_SUCCESS;
}

/* ---- outbox -------------------------------------------------------------- */

/* Validates a new outbox entry; sets the recipients block's length. */
static int s_out_new_check(const cstore_out_new *m, size_t *recipients_len)
{
    *recipients_len = 0;
    if (!m || !m->id || !m->digest || (!m->recipients && m->n_recipients) ||
        m->n_recipients > UINT32_MAX || !m->envelope || m->envelope_len == 0)
        return ASYLINK_E_INVALID_ARG;
    for (size_t i = 0; i < m->n_recipients; i++) {
        size_t len = s_name_len(m->recipients[i]);
        if (!len)
            return ASYLINK_E_INVALID_ARG;
        *recipients_len += len + 1;
    }
    uint64_t fixed = S_OUT_HEADER2 + (uint64_t)*recipients_len;
    if (fixed > S_VALUE_MAX || m->envelope_len > S_VALUE_MAX - S_SENT_HEADER)
        return ASYLINK_E_TOO_LARGE;
    return ASYLINK_OK;
}

/* Writes a new (version 2) outbox record for m into p (exactly its encoded size). */
static void s_out_encode_new(uint8_t *p, const cstore_out_new *m, size_t recipients_len)
{
    cstore_out_record r = {.version = S_OUT_V2,
                           .state = CSTORE_OUT_PENDING,
                           .created_ms = m->created_ms,
                           .id = m->id,
                           .digest = m->digest,
                           .n_recipients = (uint32_t)m->n_recipients,
                           .recipients_len = recipients_len,
                           .envelope_len = m->envelope_len};
    uint8_t *q = p + cstore_out_header(p, &r);
    for (size_t i = 0; i < m->n_recipients; i++) {
        size_t len = strlen(m->recipients[i]) + 1;
        memcpy(q, m->recipients[i], len);
        q += len;
    }
}

/* Writes the sent value header of outbox entry id (version: 1 a copy, S_OUT_V2 the only one). */
static void s_sent_header(uint8_t *p, int version, uint64_t kept_ms, const uint8_t *id)
{
    memset(p, 0, S_SENT_HEADER);
    p[0] = (uint8_t)version;
    bytes_put_le(p + 8, kept_ms, 8);
    memcpy(p + 16, id, S_ID_LEN);
}

/*
 * Puts key -> a value of len bytes reserved in *data: appended when key
 * sorts last (LMDB then fills pages instead of splitting them in half,
 * which would write two pages for each ~2 KiB envelope), else a plain put.
 */
static int s_reserve_mostly_last(MDB_txn *txn, MDB_dbi dbi, const uint8_t key[S_SEQ_LEN],
                                 size_t len, uint8_t **data)
{
    MDB_val k = {S_SEQ_LEN, (void *)key}, v = {len, NULL};
    int rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND | MDB_RESERVE); /* nothing if not last */
    if (rc == MDB_KEYEXIST) {
        v = (MDB_val){len, NULL};
        rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
    }
    *data = rc == MDB_SUCCESS ? v.mv_data : NULL;
    return rc;
}

/*
 * Stores m under a new seq: the record (version 2, without the envelope),
 * the envelope in sent under the same seq (stored once: it stays there as
 * the evidence copy when the broker accepts it), id index, pending index.
 */
static int s_outbox_add(cstore_txn *t, const cstore_out_new *m, size_t recipients_len,
                        uint64_t *seq_out)
{
    cstore *s = t->s;
    MDB_val k = {S_ID_LEN, (void *)m->id}, v;
    int rc = mdb_get(t->txn, s->outbox_id, &k, &v);
    if (rc != MDB_NOTFOUND)
        return rc == MDB_SUCCESS ? S_EXISTS : rc;
    uint64_t seq;
    rc = s_seq_next(t, s->outbox, S_META_OUT_HWM, &t->out_next, &seq);
    if (rc != MDB_SUCCESS)
        return rc;
    uint8_t key[S_SEQ_LEN];
    bytes_put_be64(key, seq);
    MDB_val rk = {S_SEQ_LEN, key};
    MDB_val rv = {S_OUT_HEADER2 + recipients_len, NULL};
    rc = mdb_put(t->txn, s->outbox, &rk, &rv, MDB_APPEND | MDB_RESERVE);
    if (rc == MDB_SUCCESS)
        s_out_encode_new(rv.mv_data, m, recipients_len);
    uint8_t *sv = NULL;
    if (rc == MDB_SUCCESS)
        rc = s_reserve_mostly_last(t->txn, s->sent, key, S_SENT_HEADER + m->envelope_len, &sv);
    if (rc == MDB_SUCCESS) {
        s_sent_header(sv, S_OUT_V2, 0, m->id);
        memcpy(sv + S_SENT_HEADER, m->envelope, m->envelope_len);
    }
    if (rc == MDB_SUCCESS)
        rc = s_put(t->txn, s->outbox_id, m->id, S_ID_LEN, key, S_SEQ_LEN, MDB_NOOVERWRITE);
    if (rc == MDB_SUCCESS)
        rc = s_put(t->txn, s->outbox_pending, key, S_SEQ_LEN, "", 0, 0);
    if (rc == MDB_SUCCESS) {
        t->out_next = seq + 1;
        if (seq_out)
            *seq_out = seq;
    }
    return rc;
}

int cstore_outbox_add(cstore_txn *t, const cstore_out_new *m, uint64_t *seq)
{
    int rc = s_op_check(t);
    size_t recipients_len;
    if (rc == ASYLINK_OK)
        rc = s_out_new_check(m, &recipients_len);
    return rc == ASYLINK_OK ? s_op_end(t, s_outbox_add(t, m, recipients_len, seq)) : rc;
}

/* id's outbox record (validated, its id checked) and its seq key. */
static int s_out_find(MDB_txn *txn, cstore *s, const uint8_t *id, uint8_t key[S_SEQ_LEN],
                      cstore_out_record *r)
{
    MDB_val v;
    int rc = s_record_by_id(txn, s->outbox_id, s->outbox, id, key, &v);
    if (rc == MDB_SUCCESS)
        rc = s_out_parse(&v, r);
    if (rc == MDB_SUCCESS && memcmp(r->id, id, S_ID_LEN) != 0)
        rc = S_BAD_RECORD;
    return rc;
}

/*
 * Rewrites r (as read, under key; its version, kept and kept_ms as given
 * in r) with a new state, and no envelope once not PENDING.
 */
static int s_out_rewrite(cstore_txn *t, const uint8_t key[S_SEQ_LEN], const cstore_out_record *r,
                         int state, int code, const char *reason)
{
    cstore_out_record n = *r;
    n.state = state;
    n.code = code;
    n.reason_len = s_reason_len(reason);
    if (state != CSTORE_OUT_PENDING)
        n.envelope_len = 0;
    else if (n.version != S_OUT_V2)
        return S_BAD_RECORD; /* a version 1 record keeps its envelope inline: not rewritten */
    size_t hlen = s_out_header_len(n.version), len = hlen + n.reason_len + n.recipients_len;
    uint8_t small[512], *buf = len <= sizeof small ? small : malloc(len);
    if (!buf) /* a copy: r points into the page the put replaces */
        return S_NOMEM;
    cstore_out_header(buf, &n);
    if (n.reason_len)
        memcpy(buf + hlen, reason, n.reason_len);
    memcpy(buf + hlen + n.reason_len, r->recipients, r->recipients_len);
    int rc = s_put(t->txn, t->s->outbox, key, S_SEQ_LEN, buf, len, 0);
    if (buf != small)
        free(buf);
    return rc;
}

/* Deletes the envelope of a version 2 PENDING record under key that is not kept. */
static int s_out_drop_envelope(cstore_txn *t, const uint8_t key[S_SEQ_LEN])
{
    return s_del_if(t->txn, t->s->sent, key, S_SEQ_LEN);
}

int cstore_outbox_set_state(cstore_txn *t, const uint8_t id[16], int state, int code,
                            const char *reason)
{
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    if (!id || (state != CSTORE_OUT_ACCEPTED && state != CSTORE_OUT_REJECTED))
        return ASYLINK_E_INVALID_ARG;
    uint8_t key[S_SEQ_LEN];
    cstore_out_record r;
    int lrc = s_out_find(t->txn, t->s, id, key, &r);
    /* version 2: an envelope not kept as evidence goes with the PENDING state */
    bool drop =
        lrc == MDB_SUCCESS && r.version == S_OUT_V2 && r.state == CSTORE_OUT_PENDING && !r.kept;
    if (lrc == MDB_SUCCESS)
        lrc = s_out_rewrite(t, key, &r, state, code, reason);
    if (lrc == MDB_SUCCESS && drop)
        lrc = s_out_drop_envelope(t, key);
    if (lrc == MDB_SUCCESS)
        lrc = s_del_if(t->txn, t->s->outbox_pending, key, S_SEQ_LEN);
    return s_op_end(t, lrc);
}

int cstore_outbox_reject(cstore_txn *t, const uint8_t id[16], int code, const char *reason,
                         bool *first)
{
    *first = false;
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    if (!id)
        return ASYLINK_E_INVALID_ARG;
    uint8_t key[S_SEQ_LEN];
    cstore_out_record r;
    int lrc = s_out_find(t->txn, t->s, id, key, &r);
    if (lrc != MDB_SUCCESS || r.state != CSTORE_OUT_PENDING)
        return s_op_end(t, lrc); /* told before (or purged here): it stays as it is */
    bool drop = r.version == S_OUT_V2 && !r.kept; /* as cstore_outbox_set_state() */
    lrc = s_out_rewrite(t, key, &r, CSTORE_OUT_REJECTED, code, reason);
    if (lrc == MDB_SUCCESS && drop)
        lrc = s_out_drop_envelope(t, key);
    if (lrc == MDB_SUCCESS)
        lrc = s_del_if(t->txn, t->s->outbox_pending, key, S_SEQ_LEN);
    *first = lrc == MDB_SUCCESS;
    return s_op_end(t, lrc);
}

void cstore_out_clear(cstore_out *m)
{
    if (!m)
        return;
    free(m->recipients);
    free(m->envelope);
    memset(m, 0, sizeof *m);
}

/*
 * The envelope of record r under key while it is PENDING (*env NULL
 * otherwise): inline (version 1) or its sent value (version 2), which must
 * be there, name r's id and have r's envelope length.
 */
static int s_out_envelope(MDB_txn *txn, cstore *s, const uint8_t key[S_SEQ_LEN],
                          const cstore_out_record *r, const uint8_t **env)
{
    *env = NULL;
    if (r->state != CSTORE_OUT_PENDING || r->version != S_OUT_V2) {
        *env = r->envelope;
        return MDB_SUCCESS;
    }
    MDB_val k = {S_SEQ_LEN, (void *)key}, v;
    int rc = mdb_get(txn, s->sent, &k, &v);
    if (rc == MDB_NOTFOUND)
        return S_BAD_RECORD;
    if (rc != MDB_SUCCESS)
        return rc;
    const uint8_t *p = v.mv_data;
    if (v.mv_size != S_SENT_HEADER + r->envelope_len || p[0] != S_OUT_V2 ||
        memcmp(p + 16, r->id, S_ID_LEN) != 0)
        return S_BAD_RECORD;
    *env = p + S_SENT_HEADER;
    return MDB_SUCCESS;
}

/* Copies r (with env, its envelope_len bytes, or NULL) into out (recipients and envelope malloc'd).
 */
static int s_out_fill(cstore_out *out, uint64_t seq, const cstore_out_record *r, const uint8_t *env)
{
    size_t env_len = env ? r->envelope_len : 0;
    out->recipients = calloc(r->n_recipients ? r->n_recipients : 1, sizeof *out->recipients);
    out->envelope = env_len ? malloc(env_len) : NULL;
    if (!out->recipients || (env_len && !out->envelope)) {
        cstore_out_clear(out);
        return S_NOMEM;
    }
    out->seq = seq;
    memcpy(out->id, r->id, S_ID_LEN);
    out->state = r->state;
    out->code = r->code;
    memcpy(out->reason, r->reason, r->reason_len);
    out->reason[r->reason_len] = 0;
    out->created_ms = r->created_ms;
    const char *name = r->recipients;
    for (size_t i = 0; i < r->n_recipients; i++) {
        size_t len = strlen(name) + 1; /* validated: 1..S_NAME_MAX + 1 */
        memcpy(out->recipients[i], name, len);
        name += len;
    }
    out->n_recipients = r->n_recipients;
    memcpy(out->digest, r->digest, S_DIGEST_LEN);
    if (env_len)
        memcpy(out->envelope, env, env_len);
    out->envelope_len = env_len;
    return MDB_SUCCESS;
}

/* Decodes a pending record (key, v) into a caller's output; an LMDB code or S_BAD_RECORD. */
typedef int (*s_take_fn)(MDB_txn *txn, cstore *s, const uint8_t key[S_SEQ_LEN], const MDB_val *v,
                         void *out);

/*
 * The first PENDING record after after_seq, found through the pending index
 * and handed to take() inside one read transaction. A record that is not a
 * valid PENDING one is S_BAD_RECORD, with *seq set so the caller can step
 * over it.
 */
static int s_next_pending(cstore *s, MDB_dbi pending, MDB_dbi dbi, uint64_t after_seq,
                          s_take_fn take, void *out, uint64_t *seq)
{
    if (after_seq == UINT64_MAX)
        return ASYLINK_E_NOT_FOUND;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    uint8_t key[S_SEQ_LEN] = {0};
    MDB_val v;
    rc = s_pending_next(txn, pending, after_seq, key);
    if (rc == MDB_SUCCESS)
        rc = s_record_get(txn, dbi, key, &v);
    if (rc == MDB_SUCCESS)
        rc = take(txn, s, key, &v, out);
    s_read_end(s, txn);
    if (rc == S_BAD_RECORD)
        *seq = bytes_get_be64(key); /* lets the caller step over it */
    return s_err(rc);
}

/* The PENDING record (key, v) with its envelope into out. */
static int s_take_out(MDB_txn *txn, cstore *s, const uint8_t key[S_SEQ_LEN], const MDB_val *v,
                      cstore_out *out)
{
    cstore_out_record r;
    const uint8_t *env = NULL;
    int rc = s_out_parse(v, &r);
    if (rc == MDB_SUCCESS && r.state != CSTORE_OUT_PENDING)
        rc = S_BAD_RECORD;
    if (rc == MDB_SUCCESS)
        rc = s_out_envelope(txn, s, key, &r, &env);
    return rc == MDB_SUCCESS ? s_out_fill(out, bytes_get_be64(key), &r, env) : rc;
}

int cstore_outbox_next_pending(cstore *s, uint64_t after_seq, cstore_out *out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    size_t n = 0;
    return cstore_outbox_next_pending_many(s, after_seq, out, 1, &n);
}

int cstore_outbox_next_pending_many(cstore *s, uint64_t after_seq, cstore_out *out, size_t max,
                                    size_t *n)
{
    return cstore_outbox_next_pending_top(s, after_seq, out, max, n, NULL);
}

int cstore_outbox_next_pending_top(cstore *s, uint64_t after_seq, cstore_out *out, size_t max,
                                   size_t *n, uint64_t *top)
{
    if (top)
        *top = 0;
    if (!n)
        return ASYLINK_E_INVALID_ARG;
    *n = 0;
    if (!out || max == 0)
        return ASYLINK_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    if (!s)
        return ASYLINK_E_INVALID_ARG;
    if (after_seq == UINT64_MAX)
        return ASYLINK_E_NOT_FOUND;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    uint64_t after = after_seq;
    while (*n < max && after != UINT64_MAX) {
        cstore_out *o = &out[*n];
        memset(o, 0, sizeof *o);
        uint8_t key[S_SEQ_LEN] = {0};
        MDB_val v;
        rc = s_pending_next(txn, s->outbox_pending, after, key);
        if (rc == MDB_SUCCESS)
            rc = s_record_get(txn, s->outbox, key, &v);
        if (rc == MDB_SUCCESS)
            rc = s_take_out(txn, s, key, &v, o);
        if (rc != MDB_SUCCESS) {
            if (rc == S_BAD_RECORD)
                o->seq = bytes_get_be64(key); /* lets the caller step over it */
            break;
        }
        after = o->seq;
        (*n)++;
    }
    if (*n == 0 && rc == MDB_NOTFOUND && top &&
        lmdbkit_seq_last(txn, s->outbox, s->meta, S_META_OUT_HWM, top) != MDB_SUCCESS)
        *top = 0;
    s_read_end(s, txn);
    return *n > 0 ? ASYLINK_OK : s_err(rc);
}

int cstore_outbox_get(cstore *s, const uint8_t id[16], cstore_out *out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    if (!s || !id)
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    uint8_t key[S_SEQ_LEN];
    cstore_out_record r;
    const uint8_t *env = NULL;
    rc = s_out_find(txn, s, id, key, &r);
    if (rc == MDB_SUCCESS)
        rc = s_out_envelope(txn, s, key, &r, &env);
    if (rc == MDB_SUCCESS)
        rc = s_out_fill(out, bytes_get_be64(key), &r, env);
    s_read_end(s, txn);
    return s_err(rc);
}

int cstore_outbox_state(cstore *s, const uint8_t id[16], int *state, int *code)
{
    if (!state || !code)
        return ASYLINK_E_INVALID_ARG;
    *state = 0;
    *code = ASYLINK_OK;
    if (!s || !id)
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    uint8_t key[S_SEQ_LEN];
    cstore_out_record r; /* validated in place: nothing copied */
    rc = s_out_find(txn, s, id, key, &r);
    if (rc == MDB_SUCCESS) {
        *state = r.state;
        *code = r.state == CSTORE_OUT_REJECTED ? r.code : ASYLINK_OK;
    }
    s_read_end(s, txn);
    return s_err(rc);
}

/* Whether name is one of r's recipients. */
static bool s_out_has_recipient(const cstore_out_record *r, const char *name)
{
    const char *p = r->recipients; /* validated: n_recipients names, each NUL-terminated */
    for (uint32_t i = 0; i < r->n_recipients; i++) {
        size_t len = strlen(p);
        if (strcmp(p, name) == 0)
            return true;
        p += len + 1;
    }
    return false;
}

int cstore_outbox_match_many(cstore *s, cstore_out_match *m, size_t n)
{
    if (!s || (!m && n))
        return ASYLINK_E_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        if (!m[i].id || !m[i].recipient || !m[i].digest)
            return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    for (size_t i = 0; i < n; i++) {
        uint8_t key[S_SEQ_LEN];
        cstore_out_record r;
        int lrc = s_out_find(txn, s, m[i].id, key, &r);
        if (lrc == MDB_SUCCESS)
            m[i].rc = s_out_has_recipient(&r, m[i].recipient) &&
                              sodium_memcmp(r.digest, m[i].digest, S_DIGEST_LEN) == 0
                          ? ASYLINK_OK
                          : ASYLINK_E_TAMPERED;
        else
            m[i].rc = s_err(lrc);
    }
    s_read_end(s, txn);
    return ASYLINK_OK;
}

/* Counts a pending index in a read transaction; an asylink_err. */
static int s_pending_count(cstore *s, MDB_dbi pending, uint64_t *count)
{
    if (!count)
        return ASYLINK_E_INVALID_ARG;
    *count = 0;
    if (!s)
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    rc = s_count(txn, pending, count);
    s_read_end(s, txn);
    return s_err(rc);
}

int cstore_outbox_set_aside(cstore_txn *t, uint64_t seq)
{
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    uint8_t key[S_SEQ_LEN];
    bytes_put_be64(key, seq);
    MDB_val k = {sizeof key, key}, v;
    int lrc = mdb_get(t->txn, t->s->outbox_pending, &k, &v);
    if (lrc == MDB_NOTFOUND)
        return ASYLINK_OK; /* not pending (any more) */
    if (lrc == MDB_SUCCESS)
        lrc = s_record_get(t->txn, t->s->outbox, key, &v);
    if (lrc == MDB_SUCCESS) {
        cstore_out o;
        memset(&o, 0, sizeof o);
        lrc = s_take_out(t->txn, t->s, key, &v, &o);
        cstore_out_clear(&o);
        if (lrc == MDB_SUCCESS)
            return ASYLINK_OK; /* it reads back: nothing to set aside */
    }
    if (lrc == S_BAD_RECORD) /* as cstore_outbox_next_pending_many() finds it */
        lrc = s_del_if(t->txn, t->s->outbox_pending, key, sizeof key);
    return s_op_end(t, lrc);
}

int cstore_outbox_pending_count(cstore *s, uint64_t *count)
{
    return s_pending_count(s, s ? s->outbox_pending : 0, count);
}

/* ---- inbox ---------------------------------------------------------------- */

/* The inbox_id key of a caller's key; 0 if it is invalid. */
static size_t s_in_key_of(uint8_t key[S_IN_KEY_MAX], const cstore_in_key *k)
{
    if (!k || !k->sender)
        return 0;
    size_t sender_len = s_name_len(k->sender);
    const char *sub = k->subscription ? k->subscription : "";
    size_t sub_len = strnlen(sub, S_SUB_MAX + 1);
    if (sub_len > S_SUB_MAX)
        return 0;
    return s_in_key(key, k->id, k->sender, sender_len, sub, sub_len);
}

/*
 * The record an inbox_id entry (key ikey, value iv) points to: validated,
 * its seq key, and checked to carry the key's id, sender and subscription.
 */
static int s_in_resolve(MDB_txn *txn, cstore *s, const MDB_val *ikey, const MDB_val *iv,
                        uint8_t key[S_SEQ_LEN], cstore_in_record *r)
{
    if (iv->mv_size != S_SEQ_LEN)
        return S_BAD_RECORD;
    memcpy(key, iv->mv_data, S_SEQ_LEN);
    MDB_val v;
    int rc = s_record_get(txn, s->inbox, key, &v);
    if (rc == MDB_SUCCESS)
        rc = s_in_parse(&v, r);
    uint8_t own[S_IN_KEY_MAX];
    if (rc == MDB_SUCCESS && (s_in_key_of_record(own, r) != ikey->mv_size ||
                              memcmp(own, ikey->mv_data, ikey->mv_size) != 0))
        rc = S_BAD_RECORD;
    return rc;
}

/* The inbox record of inbox_id key ikey (validated, its key checked) and its seq key. */
static int s_in_find(MDB_txn *txn, cstore *s, const uint8_t *ikey, size_t ikey_len,
                     uint8_t key[S_SEQ_LEN], cstore_in_record *r)
{
    MDB_val k = {ikey_len, (void *)ikey}, v;
    int rc = mdb_get(txn, s->inbox_id, &k, &v);
    if (rc == MDB_SUCCESS)
        rc = s_in_resolve(txn, s, &k, &v, key, r);
    return rc;
}

/* Stores r (state PENDING) under a new seq: record, id index, pending index, mark. */
static int s_inbox_add(cstore_txn *t, const cstore_in_record *r, int *state)
{
    cstore *s = t->s;
    uint8_t key[S_SEQ_LEN], ikey[S_IN_KEY_MAX];
    size_t ikey_len = s_in_key_of_record(ikey, r);
    cstore_in_record old;
    int rc = s_in_find(t->txn, s, ikey, ikey_len, key, &old);
    if (rc == MDB_SUCCESS) {
        *state = old.state;
        return S_DUPLICATE;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    uint64_t seq;
    rc = s_seq_next(t, s->inbox, S_META_IN_HWM, &t->in_next, &seq);
    if (rc != MDB_SUCCESS)
        return rc;
    bytes_put_be64(key, seq);
    MDB_val rk = {S_SEQ_LEN, key};
    MDB_val rv = {cstore_in_size(r), NULL};
    rc = mdb_put(t->txn, s->inbox, &rk, &rv, MDB_APPEND | MDB_RESERVE);
    if (rc == MDB_SUCCESS)
        cstore_in_encode(rv.mv_data, r);
    uint8_t *ev = NULL;
    if (rc == MDB_SUCCESS && r->version == S_IN_V2)
        rc = s_reserve_mostly_last(t->txn, s->inbox_env, key, r->envelope_len, &ev);
    if (ev)
        memcpy(ev, r->envelope, r->envelope_len);
    if (rc == MDB_SUCCESS)
        rc = s_put(t->txn, s->inbox_id, ikey, ikey_len, key, S_SEQ_LEN, MDB_NOOVERWRITE);
    if (rc == MDB_SUCCESS)
        rc = s_put(t->txn, s->inbox_pending, key, S_SEQ_LEN, "", 0, 0);
    if (rc == MDB_SUCCESS) {
        t->in_next = seq + 1;
        t->in_last = seq;
        *state = CSTORE_IN_PENDING;
    }
    return rc;
}

int cstore_inbox_add(cstore_txn *t, const cstore_in_key *key, uint64_t broker_seq,
                     uint64_t received_ms, const uint8_t *envelope, size_t envelope_len,
                     int *state_out)
{
    cstore_in_extra none = {NULL, false};
    return cstore_inbox_add_extra(t, key, broker_seq, received_ms, envelope, envelope_len, &none,
                                  state_out);
}

int cstore_inbox_add_extra(cstore_txn *t, const cstore_in_key *key, uint64_t broker_seq,
                           uint64_t received_ms, const uint8_t *envelope, size_t envelope_len,
                           const cstore_in_extra *extra, int *state_out)
{
    int state = 0;
    if (state_out)
        *state_out = 0;
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    uint8_t ikey[S_IN_KEY_MAX];
    if (!s_in_key_of(ikey, key) || !envelope || envelope_len == 0 || !extra)
        return ASYLINK_E_INVALID_ARG;
    cstore_in_record r = {.version = S_IN_V2,
                          .flags =
                              (extra->digest ? S_IN_DIGEST : 0) | (extra->topic ? S_IN_TOPIC : 0),
                          .digest = extra->digest,
                          .state = CSTORE_IN_PENDING,
                          .broker_seq = broker_seq,
                          .received_ms = received_ms,
                          .id = key->id,
                          .sender = key->sender,
                          .sender_len = strlen(key->sender),
                          .sub = key->subscription ? key->subscription : "",
                          .envelope = envelope,
                          .envelope_len = envelope_len};
    r.sub_len = strlen(r.sub);
    if (envelope_len > S_VALUE_MAX)
        return ASYLINK_E_TOO_LARGE;
    rc = s_op_end(t, s_inbox_add(t, &r, &state));
    if (state_out)
        *state_out = state;
    return rc;
}

uint64_t cstore_inbox_added_seq(const cstore_txn *t)
{
    return t && t->in_last ? t->in_last : 0;
}

void cstore_in_clear(cstore_in *m)
{
    if (!m)
        return;
    free(m->envelope);
    memset(m, 0, sizeof *m);
}

/*
 * The envelope of inbox record r under key while it is PENDING (*env NULL
 * otherwise): inline (version 1) or in inbox_env (version 2), which must
 * hold exactly r's envelope length.
 */
static int s_in_envelope(MDB_txn *txn, cstore *s, const uint8_t key[S_SEQ_LEN],
                         const cstore_in_record *r, const uint8_t **env)
{
    *env = NULL;
    if (r->state != CSTORE_IN_PENDING || r->version != S_IN_V2) {
        *env = r->envelope;
        return MDB_SUCCESS;
    }
    MDB_val k = {S_SEQ_LEN, (void *)key}, v;
    int rc = mdb_get(txn, s->inbox_env, &k, &v);
    if (rc == MDB_NOTFOUND || (rc == MDB_SUCCESS && v.mv_size != r->envelope_len))
        return S_BAD_RECORD;
    if (rc == MDB_SUCCESS)
        *env = v.mv_data;
    return rc;
}

/* Copies r with env (its envelope_len bytes, or NULL: none copied) into out (envelope malloc'd). */
static int s_in_fill(cstore_in *out, uint64_t seq, const cstore_in_record *r, const uint8_t *env)
{
    size_t env_len = env ? r->envelope_len : 0;
    out->envelope = env_len ? malloc(env_len) : NULL;
    if (env_len && !out->envelope)
        return S_NOMEM;
    out->seq = seq;
    memcpy(out->id, r->id, S_ID_LEN);
    out->state = r->state;
    memcpy(out->sender, r->sender, r->sender_len);
    out->sender[r->sender_len] = 0;
    memcpy(out->subscription, r->sub, r->sub_len);
    out->subscription[r->sub_len] = 0;
    out->broker_seq = r->broker_seq;
    out->received_ms = r->received_ms;
    if (env_len)
        memcpy(out->envelope, env, env_len);
    out->envelope_len = env_len;
    out->has_digest = r->digest != NULL;
    if (r->digest)
        memcpy(out->digest, r->digest, S_DIGEST_LEN);
    out->topic = (r->flags & S_IN_TOPIC) != 0;
    return MDB_SUCCESS;
}

static int s_take_in(MDB_txn *txn, cstore *s, const uint8_t key[S_SEQ_LEN], const MDB_val *v,
                     void *out)
{
    cstore_in_record r;
    const uint8_t *env = NULL;
    int rc = s_in_parse(v, &r);
    if (rc == MDB_SUCCESS && r.state != CSTORE_IN_PENDING)
        rc = S_BAD_RECORD;
    if (rc == MDB_SUCCESS)
        rc = s_in_envelope(txn, s, key, &r, &env);
    return rc == MDB_SUCCESS ? s_in_fill(out, bytes_get_be64(key), &r, env) : rc;
}

bool cstore_inbox_pending_after(cstore *s, uint64_t after_seq)
{
    MDB_txn *txn;
    if (!s || after_seq == UINT64_MAX || s_read_begin(s, &txn) != MDB_SUCCESS)
        return false;
    uint8_t key[S_SEQ_LEN] = {0};
    int rc = s_pending_next(txn, s->inbox_pending, after_seq, key);
    s_read_end(s, txn);
    return rc == MDB_SUCCESS;
}

int cstore_inbox_next_pending(cstore *s, uint64_t after_seq, cstore_in *out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    if (!s)
        return ASYLINK_E_INVALID_ARG;
    return s_next_pending(s, s->inbox_pending, s->inbox, after_seq, s_take_in, out, &out->seq);
}

/*
 * Reads a key's inbox entry: its state, and (if out) the PENDING entry
 * itself, with its envelope if with_env.
 */
static int s_in_read(cstore *s, const uint8_t *ikey, size_t ikey_len, int *state, cstore_in *out,
                     bool with_env)
{
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return rc;
    uint8_t key[S_SEQ_LEN];
    cstore_in_record r;
    rc = s_in_find(txn, s, ikey, ikey_len, key, &r);
    if (rc == MDB_SUCCESS && state)
        *state = r.state;
    const uint8_t *env = NULL;
    if (rc == MDB_SUCCESS && out && r.state != CSTORE_IN_PENDING)
        rc = MDB_NOTFOUND;
    if (rc == MDB_SUCCESS && out && with_env)
        rc = s_in_envelope(txn, s, key, &r, &env);
    if (rc == MDB_SUCCESS && out)
        rc = s_in_fill(out, bytes_get_be64(key), &r, env);
    s_read_end(s, txn);
    return rc;
}

int cstore_inbox_state(cstore *s, const cstore_in_key *key, int *state)
{
    if (!state)
        return ASYLINK_E_INVALID_ARG;
    *state = 0;
    uint8_t ikey[S_IN_KEY_MAX];
    size_t ikey_len = s_in_key_of(ikey, key);
    if (!s || !ikey_len)
        return ASYLINK_E_INVALID_ARG;
    return s_err(s_in_read(s, ikey, ikey_len, state, NULL, false));
}

int cstore_inbox_get(cstore *s, const cstore_in_key *key, cstore_in *out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    uint8_t ikey[S_IN_KEY_MAX];
    size_t ikey_len = s_in_key_of(ikey, key);
    if (!s || !ikey_len)
        return ASYLINK_E_INVALID_ARG;
    return s_err(s_in_read(s, ikey, ikey_len, NULL, out, true));
}

int cstore_inbox_peek(cstore *s, const cstore_in_key *key, int *state, cstore_in *out)
{
    if (!out || !state)
        return ASYLINK_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    *state = 0;
    uint8_t ikey[S_IN_KEY_MAX];
    size_t ikey_len = s_in_key_of(ikey, key);
    if (!s || !ikey_len)
        return ASYLINK_E_INVALID_ARG;
    int rc = s_in_read(s, ikey, ikey_len, state, out, false);
    return rc == MDB_NOTFOUND && *state ? ASYLINK_OK : s_err(rc); /* not PENDING: *state says */
}

/*
 * Makes the inbox record under key (r, as read) a tombstone of state: no
 * envelope (version 2: its inbox_env entry deleted; pages whose entries
 * all go in one transaction are freed, not written), out of the pending
 * index.
 */
static int s_in_finish(cstore_txn *t, const uint8_t key[S_SEQ_LEN], const cstore_in_record *r,
                       int state)
{
    cstore_in_record n = *r;
    bool had_env = r->version == S_IN_V2 && r->envelope_len > 0;
    n.state = state;
    n.envelope_len = 0;
    /* a copy: r points into the page the put replaces */
    uint8_t buf[S_IN_HEADER2 + S_NAME_MAX + S_SUB_MAX];
    cstore_in_encode(buf, &n);
    int rc = s_put(t->txn, t->s->inbox, key, S_SEQ_LEN, buf, cstore_in_size(&n), 0);
    if (rc == MDB_SUCCESS && had_env)
        rc = s_del_if(t->txn, t->s->inbox_env, key, S_SEQ_LEN);
    if (rc == MDB_SUCCESS)
        rc = s_del_if(t->txn, t->s->inbox_pending, key, S_SEQ_LEN);
    return rc;
}

/* Acks a key's entry: the record becomes a tombstone, the pending index entry goes. */
static int s_inbox_ack(cstore_txn *t, const uint8_t *ikey, size_t ikey_len)
{
    uint8_t key[S_SEQ_LEN];
    cstore_in_record r;
    int rc = s_in_find(t->txn, t->s, ikey, ikey_len, key, &r);
    if (rc != MDB_SUCCESS || r.state != CSTORE_IN_PENDING)
        return rc; /* acked before, or purged (which stays purged) */
    return s_in_finish(t, key, &r, CSTORE_IN_ACKED);
}

/* s_inbox_ack() trying seq first: its record is the entry when it holds ikey (keys are unique). */
static int s_inbox_ack_at(cstore_txn *t, const uint8_t *ikey, size_t ikey_len, uint64_t seq)
{
    uint8_t key[S_SEQ_LEN], own[S_IN_KEY_MAX];
    bytes_put_be64(key, seq);
    MDB_val v;
    cstore_in_record r;
    int rc = s_record_get(t->txn, t->s->inbox, key, &v);
    if (rc == MDB_SUCCESS)
        rc = s_in_parse(&v, &r);
    if (rc == MDB_SUCCESS && s_in_key_of_record(own, &r) == ikey_len &&
        memcmp(own, ikey, ikey_len) == 0)
        return r.state == CSTORE_IN_PENDING ? s_in_finish(t, key, &r, CSTORE_IN_ACKED)
                                            : MDB_SUCCESS;
    return s_inbox_ack(t, ikey, ikey_len); /* not that entry: by its key */
}

/* The acknowledgement of key: tried at seq first when at_seq, else by its key. */
static int s_inbox_ack_op(cstore_txn *t, const cstore_in_key *key, bool at_seq, uint64_t seq)
{
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    uint8_t ikey[S_IN_KEY_MAX];
    size_t ikey_len = s_in_key_of(ikey, key);
    if (!ikey_len)
        return ASYLINK_E_INVALID_ARG;
    return s_op_end(t, at_seq ? s_inbox_ack_at(t, ikey, ikey_len, seq)
                              : s_inbox_ack(t, ikey, ikey_len));
}

int cstore_inbox_ack_at(cstore_txn *t, const cstore_in_key *key, uint64_t seq)
{
    return s_inbox_ack_op(t, key, true, seq);
}

int cstore_inbox_ack(cstore_txn *t, const cstore_in_key *key)
{
    return s_inbox_ack_op(t, key, false, 0);
}

/* Walks the inbox_id entries of id from cur on; see cstore_inbox_find. */
static int s_in_walk(MDB_txn *txn, cstore *s, MDB_cursor *cur, const uint8_t *id,
                     cstore_in_ref *out, size_t max, size_t *n_pending, size_t *n_acked)
{
    MDB_val k = {S_ID_LEN, (void *)id}, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < S_ID_LEN || memcmp(k.mv_data, id, S_ID_LEN) != 0)
            return MDB_SUCCESS; /* past the id's entries */
        uint8_t key[S_SEQ_LEN];
        cstore_in_record r;
        rc = s_in_resolve(txn, s, &k, &v, key, &r);
        if (rc != MDB_SUCCESS)
            return rc;
        if (r.state != CSTORE_IN_PENDING) {
            (*n_acked)++;
            continue;
        }
        if (*n_pending < max) {
            cstore_in_ref *o = &out[*n_pending];
            o->seq = bytes_get_be64(key);
            o->state = r.state;
            memcpy(o->sender, r.sender, r.sender_len);
            o->sender[r.sender_len] = 0;
            memcpy(o->subscription, r.sub, r.sub_len);
            o->subscription[r.sub_len] = 0;
            o->has_digest = r.digest != NULL;
            o->topic = (r.flags & S_IN_TOPIC) != 0;
            if (r.digest)
                memcpy(o->digest, r.digest, sizeof o->digest);
        }
        (*n_pending)++;
    }
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

int cstore_inbox_find(cstore *s, const uint8_t id[16], cstore_in_ref *out, size_t max,
                      size_t *n_pending, size_t *n_acked)
{
    if (n_pending)
        *n_pending = 0;
    if (n_acked)
        *n_acked = 0;
    if (!s || !id || (!out && max) || !n_pending || !n_acked)
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, s->inbox_id, &cur);
    if (rc == MDB_SUCCESS) {
        rc = s_in_walk(txn, s, cur, id, out, max, n_pending, n_acked);
        mdb_cursor_close(cur);
    }
    s_read_end(s, txn);
    if (rc != MDB_SUCCESS) {
        *n_pending = 0;
        *n_acked = 0;
    }
    return s_err(rc);
}

int cstore_inbox_find_many(cstore *s, const uint8_t (*ids)[16], size_t n, cstore_in_ref *out,
                           size_t *n_pending, size_t *n_acked, int *rcs)
{
    if (!s || (n && (!ids || !out || !n_pending || !n_acked || !rcs)))
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, s->inbox_id, &cur);
    for (size_t i = 0; i < n && rc == MDB_SUCCESS; i++) {
        n_pending[i] = n_acked[i] = 0;
        int lrc = s_in_walk(txn, s, cur, ids[i], &out[i], 1, &n_pending[i], &n_acked[i]);
        if (lrc != MDB_SUCCESS)
            n_pending[i] = n_acked[i] = 0;
        rcs[i] = s_err(lrc);
    }
    if (rc == MDB_SUCCESS)
        mdb_cursor_close(cur);
    s_read_end(s, txn);
    return s_err(rc);
}

int cstore_inbox_pending_count(cstore *s, uint64_t *count)
{
    return s_pending_count(s, s ? s->inbox_pending : 0, count);
}

/* ---- revocation list numbers --------------------------------------------- */

int cstore_crl_get(cstore *s, uint64_t *ca, uint64_t *number)
{
    if (!s || !ca || !number)
        return ASYLINK_E_INVALID_ARG;
    *ca = *number = 0;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    rc = s_meta_get(txn, s->meta, S_META_CRL_CA, 8, ca, NULL);
    if (rc == MDB_SUCCESS)
        rc = s_meta_get(txn, s->meta, S_META_CRL_NUMBER, 8, number, NULL);
    s_read_end(s, txn);
    return s_err(rc);
}

int cstore_crl_put(cstore_txn *t, uint64_t ca, uint64_t number)
{
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    int lrc = s_meta_put(t->txn, t->s->meta, S_META_CRL_CA, ca, 8);
    if (lrc == MDB_SUCCESS)
        lrc = s_meta_put(t->txn, t->s->meta, S_META_CRL_NUMBER, number, 8);
    return s_op_end(t, lrc);
}

/* ---- receipts ------------------------------------------------------------- */

/* Writes the receipt key id(16) recipient into key; its length, or 0 if recipient is invalid. */
static size_t s_rcpt_key(uint8_t key[S_RCPT_KEY_MAX], const uint8_t *id, const char *recipient)
{
    size_t len = s_name_len(recipient);
    if (!len)
        return 0;
    memcpy(key, id, S_ID_LEN);
    memcpy(key + S_ID_LEN, recipient, len);
    return S_ID_LEN + len;
}

#define S_REF_KEY_MAX (S_EVIDENCE_KEY + S_RCPT_KEY_MAX)

/* The evidence_refs key of receipt key rkey (id recipient) citing evidence key ekey. */
static size_t s_ref_key(uint8_t ref[S_REF_KEY_MAX], const uint8_t *ekey, const uint8_t *rkey,
                        size_t rkey_len)
{
    memcpy(ref, ekey, S_EVIDENCE_KEY);
    memcpy(ref + S_EVIDENCE_KEY, rkey, rkey_len);
    return S_EVIDENCE_KEY + rkey_len;
}

/* Deletes evidence entry ekey if no receipt cites it any more; *gone (may be NULL) says if. */
static int s_evidence_gc(cstore_txn *t, const uint8_t *ekey, bool *gone)
{
    MDB_cursor *cur;
    MDB_val k = {S_EVIDENCE_KEY, (void *)ekey}, v;
    if (gone)
        *gone = false;
    int rc = mdb_cursor_open(t->txn, t->s->evidence_refs, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    bool cited = rc == MDB_SUCCESS && k.mv_size > S_EVIDENCE_KEY &&
                 memcmp(k.mv_data, ekey, S_EVIDENCE_KEY) == 0;
    mdb_cursor_close(cur);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return rc;
    if (cited)
        return MDB_SUCCESS;
    uint8_t key[S_EVIDENCE_KEY];
    memcpy(key, ekey, sizeof key); /* ekey may point into a page the delete frees */
    MDB_val dk = {sizeof key, key};
    rc = mdb_del(t->txn, t->s->evidence, &dk, NULL);
    if (rc == MDB_SUCCESS && gone)
        *gone = true;
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

/*
 * Forgets what the stored receipt under rkey cites (its evidence_refs
 * entry, and the evidence if that was its last citation), unless it cites
 * keep (the evidence a replacement cites). *gone counts envelopes deleted.
 */
static int s_rcpt_unref(cstore_txn *t, const uint8_t *rkey, size_t rkey_len, const uint8_t *keep,
                        size_t *gone)
{
    MDB_val k = {rkey_len, (void *)rkey}, v;
    cstore_rcpt_record r;
    int rc = mdb_get(t->txn, t->s->receipts, &k, &v);
    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (rc != MDB_SUCCESS)
        return rc;
    if (s_rcpt_parse(&v, &r) != MDB_SUCCESS || !r.evidence ||
        (keep && memcmp(r.evidence, keep, S_EVIDENCE_KEY) == 0))
        return MDB_SUCCESS; /* cites nothing (inline, or corrupt: its replacement fixes it) */
    uint8_t ekey[S_EVIDENCE_KEY], ref[S_REF_KEY_MAX];
    memcpy(ekey, r.evidence, sizeof ekey);
    size_t len = s_ref_key(ref, ekey, rkey, rkey_len);
    bool deleted = false;
    rc = s_del_if(t->txn, t->s->evidence_refs, ref, len);
    if (rc == MDB_SUCCESS)
        rc = s_evidence_gc(t, ekey, &deleted);
    if (gone)
        *gone += deleted;
    return rc;
}

/* Schema 3 -> 4: one evidence_refs entry per receipt value citing evidence. */
static int s_upgrade_evidence_refs(cstore *s, MDB_txn *txn)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, s->receipts, &cur);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        cstore_rcpt_record r;
        char recipient[S_NAME_MAX + 1];
        if (s_rcpt_key_parse(&k, recipient) != MDB_SUCCESS || s_rcpt_parse(&v, &r) != MDB_SUCCESS ||
            !r.evidence)
            continue; /* inline or corrupt: nothing to index */
        uint8_t ref[S_REF_KEY_MAX];
        size_t len = s_ref_key(ref, r.evidence, k.mv_data, k.mv_size);
        int put = s_put(txn, s->evidence_refs, ref, len, "", 0, 0);
        if (put != MDB_SUCCESS) {
            rc = put;
            break;
        }
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

int cstore_receipt_put_many(cstore_txn *t, const uint8_t (*ids)[16],
                            const asylink_receipt_info *infos, size_t n, const uint8_t *envelope,
                            size_t envelope_len)
{
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    if (!ids || !infos || n == 0 || !envelope || envelope_len == 0)
        return ASYLINK_E_INVALID_ARG;
    if (envelope_len > S_VALUE_MAX)
        return ASYLINK_E_TOO_LARGE;
    uint8_t key[S_RCPT_KEY_MAX];
    for (size_t i = 0; i < n; i++) /* check all before writing anything */
        if (!s_rcpt_key(key, ids[i], infos[i].recipient) || infos[i].status < 1 ||
            infos[i].status > 2)
            return ASYLINK_E_INVALID_ARG;
    uint8_t ekey[S_EVIDENCE_KEY];
    crypto_generichash(ekey, sizeof ekey, envelope, envelope_len, NULL, 0);
    MDB_val k = {sizeof ekey, ekey}, v = {envelope_len, (void *)envelope};
    int lrc = mdb_put(t->txn, t->s->evidence, &k, &v, MDB_NOOVERWRITE);
    if (lrc == MDB_KEYEXIST)
        lrc = MDB_SUCCESS; /* the same bytes, stored by an earlier receipt */
    for (size_t i = 0; lrc == MDB_SUCCESS && i < n; i++) {
        size_t klen = s_rcpt_key(key, ids[i], infos[i].recipient);
        uint8_t ref[S_REF_KEY_MAX];
        lrc = s_rcpt_unref(t, key, klen, ekey, NULL); /* a replaced receipt's evidence */
        k = (MDB_val){klen, key};
        v = (MDB_val){S_RCPT_HEADER + S_EVIDENCE_KEY, NULL};
        if (lrc == MDB_SUCCESS)
            lrc = mdb_put(t->txn, t->s->receipts, &k, &v, MDB_RESERVE);
        if (lrc == MDB_SUCCESS)
            s_rcpt_value(v.mv_data, &infos[i], ekey);
        if (lrc == MDB_SUCCESS)
            lrc =
                s_put(t->txn, t->s->evidence_refs, ref, s_ref_key(ref, ekey, key, klen), "", 0, 0);
    }
    return s_op_end(t, lrc);
}

int cstore_receipt_put(cstore_txn *t, const uint8_t id[16], const asylink_receipt_info *info,
                       const uint8_t *envelope, size_t envelope_len)
{
    if (!id || !info)
        return ASYLINK_E_INVALID_ARG;
    return cstore_receipt_put_many(t, (const uint8_t(*)[16])id, info, 1, envelope, envelope_len);
}

/* Fills a listed receipt from its key and value. */
static int s_rcpt_fill(const MDB_val *k, const MDB_val *v, asylink_receipt_info *out)
{
    cstore_rcpt_record r;
    char recipient[S_NAME_MAX + 1];
    int rc = s_rcpt_key_parse(k, recipient);
    if (rc == MDB_SUCCESS)
        rc = s_rcpt_parse(v, &r);
    if (rc != MDB_SUCCESS || !out)
        return rc;
    memset(out, 0, sizeof *out);
    memcpy(out->recipient, recipient, sizeof recipient);
    out->acked_ms = r.acked_ms;
    out->status = r.status;
    memcpy(out->envelope_digest, r.digest, S_DIGEST_LEN);
    return MDB_SUCCESS;
}

/* Walks id's receipts under cur, filling up to max into out; *n counts them all. */
static int s_rcpt_walk(MDB_cursor *cur, const uint8_t *id, asylink_receipt_info *out, size_t max,
                       size_t *n)
{
    MDB_val k = {S_ID_LEN, (void *)id}, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == MDB_SUCCESS && k.mv_size >= S_ID_LEN && memcmp(k.mv_data, id, S_ID_LEN) == 0) {
        rc = s_rcpt_fill(&k, &v, *n < max ? &out[*n] : NULL); /* validates every one */
        if (rc != MDB_SUCCESS)
            return rc;
        (*n)++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

int cstore_receipt_list(cstore *s, const uint8_t id[16], asylink_receipt_info *out, size_t max,
                        size_t *n)
{
    if (!n)
        return ASYLINK_E_INVALID_ARG;
    *n = 0;
    if (!s || !id || (max && !out))
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    rc = mdb_cursor_open(txn, s->receipts, &cur);
    if (rc == MDB_SUCCESS) {
        rc = s_rcpt_walk(cur, id, out, max, n);
        mdb_cursor_close(cur);
    }
    s_read_end(s, txn);
    if (rc != MDB_SUCCESS)
        *n = 0;
    return s_err(rc);
}

int cstore_receipt_envelope(cstore *s, const uint8_t id[16], const char *recipient, uint8_t **env,
                            size_t *len)
{
    if (!env || !len)
        return ASYLINK_E_INVALID_ARG;
    *env = NULL;
    *len = 0;
    uint8_t key[S_RCPT_KEY_MAX];
    size_t klen = s && id ? s_rcpt_key(key, id, recipient) : 0;
    if (!klen)
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_val k = {klen, key}, v;
    cstore_rcpt_record r;
    rc = mdb_get(txn, s->receipts, &k, &v);
    if (rc == MDB_SUCCESS)
        rc = s_rcpt_parse(&v, &r);
    if (rc == MDB_SUCCESS && r.evidence) {
        MDB_val ek = {S_EVIDENCE_KEY, (void *)r.evidence}, ev;
        rc = mdb_get(txn, s->evidence, &ek, &ev);
        if (rc == MDB_NOTFOUND || (rc == MDB_SUCCESS && ev.mv_size == 0))
            rc = S_BAD_RECORD; /* a receipt citing evidence that is not there */
        if (rc == MDB_SUCCESS) {
            r.envelope = ev.mv_data;
            r.envelope_len = ev.mv_size;
        }
    }
    uint8_t *buf = rc == MDB_SUCCESS ? malloc(r.envelope_len) : NULL;
    if (rc == MDB_SUCCESS && !buf)
        rc = S_NOMEM;
    if (rc == MDB_SUCCESS) {
        memcpy(buf, r.envelope, r.envelope_len);
        *env = buf;
        *len = r.envelope_len;
    }
    s_read_end(s, txn);
    return s_err(rc);
}

/* ---- sent envelopes kept as evidence -------------------------------------- */

/* The sweep-order key kept_ms(8 BE) seq(8 BE). */
static void s_sent_time_key(uint8_t key[2 * S_SEQ_LEN], uint64_t kept_ms, const uint8_t *seq)
{
    bytes_put_be64(key, kept_ms);
    memcpy(key + S_SEQ_LEN, seq, S_SEQ_LEN);
}

bool cstore_sent_decode(const uint8_t *p, size_t len, const uint8_t *id, int *version,
                        uint64_t *kept_ms)
{
    if (len <= S_SENT_HEADER || (p[0] != S_RECORD_VERSION && p[0] != S_OUT_V2) ||
        (id && memcmp(p + 16, id, S_ID_LEN) != 0))
        return false;
    *version = p[0];
    *kept_ms = bytes_get_le(p + 8, 8);
    return true;
}

/* cstore_sent_decode() of an LMDB value; 0 or S_BAD_RECORD. */
static int s_sent_parse(const MDB_val *v, const uint8_t *id, int *version, uint64_t *kept_ms)
{
    return cstore_sent_decode(v->mv_data, v->mv_size, id, version, kept_ms) ? MDB_SUCCESS
                                                                            : S_BAD_RECORD;
}

/*
 * The sent value for record r (under key) kept since now_ms, built in a
 * malloc'd *buf (a copy: r points into a page a later put may replace).
 * MDB_NOTFOUND if r is not PENDING (its envelope is gone already) or was
 * kept before (*buf stays NULL), S_NOMEM.
 */
static int s_sent_value(cstore_txn *t, const uint8_t key[S_SEQ_LEN], const cstore_out_record *r,
                        uint64_t now_ms, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    if (r->state != CSTORE_OUT_PENDING)
        return MDB_NOTFOUND;
    MDB_val k = {S_SEQ_LEN, (void *)key}, v;
    if (mdb_get(t->txn, t->s->sent, &k, &v) == MDB_SUCCESS)
        return MDB_NOTFOUND; /* kept before: the first copy stays */
    *len = S_SENT_HEADER + r->envelope_len;
    *buf = malloc(*len);
    if (!*buf)
        return S_NOMEM;
    s_sent_header(*buf, S_RECORD_VERSION, now_ms, r->id);
    memcpy(*buf + S_SENT_HEADER, r->envelope, r->envelope_len);
    return MDB_SUCCESS;
}

/*
 * Puts a new key that usually sorts last (a sequence, a time): appended
 * when it does (LMDB then fills pages instead of splitting them in half,
 * which would write two pages for each ~2 KiB envelope), else a plain put.
 */
static int s_put_mostly_last(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
                             const void *val, size_t vlen)
{
    int rc = s_put(txn, dbi, key, klen, val, vlen, MDB_APPEND); /* changes nothing if not last */
    return rc == MDB_KEYEXIST ? s_put(txn, dbi, key, klen, val, vlen, 0) : rc;
}

/* Stores a value built by s_sent_value() under key, and its age index entry. */
static int s_sent_put(cstore_txn *t, const uint8_t key[S_SEQ_LEN], const uint8_t *buf, size_t len,
                      uint64_t now_ms)
{
    uint8_t tkey[2 * S_SEQ_LEN];
    int rc = s_put_mostly_last(t->txn, t->s->sent, key, S_SEQ_LEN, buf, len);
    s_sent_time_key(tkey, now_ms, key);
    if (rc == MDB_SUCCESS)
        rc = s_put_mostly_last(t->txn, t->s->sent_time, tkey, sizeof tkey, "", 0);
    return rc;
}

/* The age index entry of the envelope of a version 2 record under key, kept since kept_ms. */
static int s_sent_time_put(cstore_txn *t, const uint8_t key[S_SEQ_LEN], uint64_t kept_ms)
{
    uint8_t tkey[2 * S_SEQ_LEN];
    s_sent_time_key(tkey, kept_ms, key);
    return s_put_mostly_last(t->txn, t->s->sent_time, tkey, sizeof tkey, "", 0);
}

/*
 * Keeps the envelope of record r (under key, version 2) as evidence since
 * now_ms, giving it the state state: the record is rewritten (kept, kept_ms),
 * the envelope in sent stays where it is and gets its age index entry.
 */
static int s_out_keep_v2(cstore_txn *t, const uint8_t key[S_SEQ_LEN], const cstore_out_record *r,
                         int state, uint64_t now_ms)
{
    cstore_out_record n = *r;
    n.kept = true;
    n.kept_ms = now_ms;
    int rc = s_out_rewrite(t, key, &n, state, n.code, "");
    return rc == MDB_SUCCESS ? s_sent_time_put(t, key, now_ms) : rc;
}

/* Copies id's PENDING envelope into sent (version 2: marks the one there kept). */
static int s_sent_keep(cstore_txn *t, const uint8_t *id, uint64_t now_ms)
{
    uint8_t key[S_SEQ_LEN], *buf = NULL;
    size_t len = 0;
    cstore_out_record r;
    int rc = s_out_find(t->txn, t->s, id, key, &r);
    if (rc != MDB_SUCCESS)
        return rc;
    if (r.state != CSTORE_OUT_PENDING)
        return MDB_NOTFOUND; /* its envelope is gone already */
    if (r.version == S_OUT_V2)
        return r.kept ? MDB_SUCCESS : s_out_keep_v2(t, key, &r, CSTORE_OUT_PENDING, now_ms);
    rc = s_sent_value(t, key, &r, now_ms, &buf, &len);
    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS; /* kept before */
    if (rc == MDB_SUCCESS)
        rc = s_sent_put(t, key, buf, len, now_ms);
    free(buf);
    return rc;
}

int cstore_sent_keep(cstore_txn *t, const uint8_t id[16], uint64_t now_ms)
{
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    if (!id)
        return ASYLINK_E_INVALID_ARG;
    return s_op_end(t, s_sent_keep(t, id, now_ms));
}

/* s_out_find() trying seq first (0: none): its record is id's when it holds id (ids are unique). */
static int s_out_find_at(MDB_txn *txn, cstore *s, const uint8_t *id, uint64_t seq,
                         uint8_t key[S_SEQ_LEN], cstore_out_record *r)
{
    if (seq) {
        MDB_val v;
        bytes_put_be64(key, seq);
        if (s_record_get(txn, s->outbox, key, &v) == MDB_SUCCESS && s_out_parse(&v, r) == 0 &&
            memcmp(r->id, id, S_ID_LEN) == 0)
            return MDB_SUCCESS;
    }
    return s_out_find(txn, s, id, key, r); /* not that entry: through the id index */
}

int cstore_outbox_accept(cstore_txn *t, const uint8_t id[16], bool keep, uint64_t now_ms)
{
    return cstore_outbox_accept_at(t, id, 0, keep, now_ms, NULL);
}

int cstore_outbox_accept_at(cstore_txn *t, const uint8_t id[16], uint64_t seq, bool keep,
                            uint64_t now_ms, bool *first)
{
    bool ignored;
    if (!first)
        first = &ignored;
    *first = false;
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    if (!id)
        return ASYLINK_E_INVALID_ARG;
    uint8_t key[S_SEQ_LEN], *buf = NULL;
    size_t len = 0;
    cstore_out_record r;
    int lrc = s_out_find_at(t->txn, t->s, id, seq, key, &r);
    /* Told once: from PENDING, or from refused by a purge on this node (the broker has it), not
       from ACCEPTED again (a duplicate's answer) nor from refused by the broker. */
    bool first_now =
        lrc == MDB_SUCCESS && (r.state == CSTORE_OUT_PENDING ||
                               (r.state == CSTORE_OUT_REJECTED && r.code == ASYLINK_E_PURGED));
    if (lrc == MDB_SUCCESS && r.version == S_OUT_V2) {
        /* the envelope stays in sent as the copy kept, or goes */
        bool pending = r.state == CSTORE_OUT_PENDING;
        if (pending && keep && !r.kept)
            lrc = s_out_keep_v2(t, key, &r, CSTORE_OUT_ACCEPTED, now_ms);
        else
            lrc = s_out_rewrite(t, key, &r, CSTORE_OUT_ACCEPTED, 0, "");
        if (lrc == MDB_SUCCESS && pending && !keep && !r.kept)
            lrc = s_out_drop_envelope(t, key);
        if (lrc == MDB_SUCCESS)
            lrc = s_del_if(t->txn, t->s->outbox_pending, key, S_SEQ_LEN);
        *first = lrc == MDB_SUCCESS && first_now;
        return s_op_end(t, lrc);
    }
    /* Version 1: the copy is built before the rewrite replaces the page r points into. */
    if (lrc == MDB_SUCCESS && keep) {
        lrc = s_sent_value(t, key, &r, now_ms, &buf, &len);
        if (lrc == MDB_NOTFOUND)
            lrc = MDB_SUCCESS; /* not PENDING (nothing to copy), or kept before */
    }
    if (lrc == MDB_SUCCESS)
        lrc = s_out_rewrite(t, key, &r, CSTORE_OUT_ACCEPTED, 0, "");
    if (lrc == MDB_SUCCESS && buf)
        lrc = s_sent_put(t, key, buf, len, now_ms);
    if (lrc == MDB_SUCCESS)
        lrc = s_del_if(t->txn, t->s->outbox_pending, key, S_SEQ_LEN);
    free(buf);
    *first = lrc == MDB_SUCCESS && first_now;
    return s_op_end(t, lrc);
}

int cstore_sent_get(cstore *s, const uint8_t id[16], uint8_t **env, size_t *len, uint64_t *kept_ms)
{
    if (!env || !len || !kept_ms)
        return ASYLINK_E_INVALID_ARG;
    *env = NULL;
    *len = 0;
    *kept_ms = 0;
    if (!s || !id)
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_val k = {S_ID_LEN, (void *)id}, v;
    rc = mdb_get(txn, s->outbox_id, &k, &v);
    if (rc == MDB_SUCCESS && v.mv_size != S_SEQ_LEN)
        rc = S_BAD_RECORD;
    uint8_t key[S_SEQ_LEN];
    int version = 0;
    if (rc == MDB_SUCCESS) {
        memcpy(key, v.mv_data, S_SEQ_LEN);
        k = (MDB_val){S_SEQ_LEN, key};
        rc = mdb_get(txn, s->sent, &k, &v);
    }
    if (rc == MDB_SUCCESS)
        rc = s_sent_parse(&v, id, &version, kept_ms);
    if (rc == MDB_SUCCESS && version == S_OUT_V2) { /* kept only if its record says so */
        MDB_val rv;
        cstore_out_record r;
        rc = s_record_get(txn, s->outbox, key, &rv);
        if (rc == MDB_SUCCESS)
            rc = s_out_parse(&rv, &r);
        if (rc == MDB_SUCCESS && !r.kept)
            rc = MDB_NOTFOUND;
        if (rc == MDB_SUCCESS)
            *kept_ms = r.kept_ms;
    }
    uint8_t *buf = rc == MDB_SUCCESS ? malloc(v.mv_size - S_SENT_HEADER) : NULL;
    if (rc == MDB_SUCCESS && !buf)
        rc = S_NOMEM;
    if (rc == MDB_SUCCESS) {
        memcpy(buf, (const uint8_t *)v.mv_data + S_SENT_HEADER, v.mv_size - S_SENT_HEADER);
        *env = buf;
        *len = v.mv_size - S_SENT_HEADER;
    }
    s_read_end(s, txn);
    if (rc != MDB_SUCCESS)
        *kept_ms = 0;
    return s_err(rc);
}

/* Whether the envelope in sent under seq is that of a PENDING version 2 outbox record. */
static bool s_sent_of_pending(cstore_txn *t, const uint8_t seq[S_SEQ_LEN])
{
    MDB_val k = {S_SEQ_LEN, (void *)seq}, v;
    cstore_out_record r;
    if (mdb_get(t->txn, t->s->sent, &k, &v) != MDB_SUCCESS || v.mv_size < 1 ||
        ((const uint8_t *)v.mv_data)[0] != S_OUT_V2)
        return false;
    return mdb_get(t->txn, t->s->outbox, &k, &v) == MDB_SUCCESS &&
           s_out_parse(&v, &r) == MDB_SUCCESS && r.state == CSTORE_OUT_PENDING;
}

/* Deletes kept envelopes by age while kept_ms <= cutoff, at most max. */
static int s_sent_sweep(cstore_txn *t, uint64_t cutoff_ms, size_t max, size_t *removed)
{
    MDB_cursor *cur = NULL;
    int rc = mdb_cursor_open(t->txn, t->s->sent_time, &cur);
    MDB_val k, v;
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS && *removed < max) {
        if (k.mv_size != 2 * S_SEQ_LEN || v.mv_size != 0) {
            rc = S_BAD_RECORD;
            break;
        }
        if (bytes_get_be64(k.mv_data) > cutoff_ms)
            break; /* the rest were kept later */
        uint8_t seq[S_SEQ_LEN];
        memcpy(seq, (const uint8_t *)k.mv_data + S_SEQ_LEN, S_SEQ_LEN);
        if (s_sent_of_pending(t, seq)) { /* the only copy, needed to resend: it stays */
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        rc = s_del_if(t->txn, t->s->sent, seq, S_SEQ_LEN);
        if (rc == MDB_SUCCESS)
            rc = mdb_cursor_del(cur, 0);
        if (rc == MDB_SUCCESS) {
            (*removed)++;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT); /* after a delete: the one that followed */
        }
    }
    if (cur)
        mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

int cstore_sent_sweep(cstore_txn *t, uint64_t cutoff_ms, size_t max, size_t *removed)
{
    if (removed)
        *removed = 0;
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    if (!removed)
        return ASYLINK_E_INVALID_ARG;
    return s_op_end(t, s_sent_sweep(t, cutoff_ms, max, removed));
}

int cstore_sent_count(cstore *s, uint64_t *count)
{
    /* one age entry per kept envelope (sent also holds those of version 2 PENDING records) */
    return s_pending_count(s, s ? s->sent_time : 0, count);
}

/* ---- erasure and retention --------------------------------------------------- */

#define S_PURGED_REASON "purged on this node before the broker accepted it"

/*
 * Deletes the envelope of outbox entry key (record r) kept as evidence, or
 * a version 2 record's (and its age entry); *gone says if.
 */
static int s_sent_drop(cstore_txn *t, const uint8_t key[S_SEQ_LEN], const cstore_out_record *r,
                       bool *gone)
{
    MDB_val k = {S_SEQ_LEN, (void *)key}, v;
    uint64_t kept_ms = 0;
    int version = 0;
    *gone = false;
    int rc = mdb_get(t->txn, t->s->sent, &k, &v);
    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (rc != MDB_SUCCESS)
        return rc;
    bool dated = s_sent_parse(&v, NULL, &version, &kept_ms) == MDB_SUCCESS;
    if (dated && version == S_OUT_V2) { /* the record says whether and since when it is kept */
        dated = r->version == S_OUT_V2 && r->kept;
        kept_ms = r->kept_ms;
    }
    rc = mdb_del(t->txn, t->s->sent, &k, NULL);
    uint8_t tkey[2 * S_SEQ_LEN];
    s_sent_time_key(tkey, kept_ms, key);
    if (rc == MDB_SUCCESS && dated)
        rc = s_del_if(t->txn, t->s->sent_time, tkey, sizeof tkey);
    *gone = rc == MDB_SUCCESS;
    return rc;
}

/* Erases the envelope of the outbox entry id (PENDING: refused, never sent; else its kept copy). */
static int s_purge_out(cstore_txn *t, const uint8_t *id, cstore_purge_result *res)
{
    uint8_t key[S_SEQ_LEN];
    cstore_out_record r;
    int rc = s_out_find(t->txn, t->s, id, key, &r);
    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (rc != MDB_SUCCESS)
        return rc;
    res->found++;
    if (r.state != CSTORE_OUT_PENDING) { /* its envelope went at Accepted; a copy may be kept */
        bool gone = false;
        rc = s_sent_drop(t, key, &r, &gone);
        res->erased += gone;
        return rc;
    }
    res->erased++;
    cstore_out_record n = r; /* version 2: the envelope in sent goes, kept or not */
    n.kept = false;
    n.kept_ms = 0;
    bool gone = false;
    rc = s_out_rewrite(t, key, &n, CSTORE_OUT_REJECTED, ASYLINK_E_PURGED, S_PURGED_REASON);
    if (rc == MDB_SUCCESS && r.version == S_OUT_V2)
        rc = s_sent_drop(t, key, &r, &gone);
    if (rc == MDB_SUCCESS)
        rc = s_del_if(t->txn, t->s->outbox_pending, key, S_SEQ_LEN);
    return rc;
}

/* Makes the inbox record under key (r, as read) a PURGED tombstone. */
static int s_purge_in_one(cstore_txn *t, const uint8_t key[S_SEQ_LEN], const cstore_in_record *r,
                          cstore_purge_result *res)
{
    res->found++;
    if (r->state == CSTORE_IN_PURGED)
        return MDB_SUCCESS;
    res->erased += r->envelope_len > 0;
    return s_in_finish(t, key, r, CSTORE_IN_PURGED);
}

/*
 * The inbox entries of id from sender (NULL = any): their seq keys, at
 * most max (*n counts them all). Read before any write, so that a corrupt
 * one stops the purge before it changes anything.
 */
static int s_purge_in_find(cstore_txn *t, const uint8_t *id, const char *sender,
                           uint8_t (*keys)[S_SEQ_LEN], size_t max, size_t *n)
{
    MDB_cursor *cur;
    MDB_val k = {S_ID_LEN, (void *)id}, v;
    size_t sender_len = sender ? strlen(sender) : 0;
    *n = 0;
    int rc = mdb_cursor_open(t->txn, t->s->inbox_id, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == MDB_SUCCESS && k.mv_size > S_ID_LEN && memcmp(k.mv_data, id, S_ID_LEN) == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *ks = (const char *)k.mv_data + S_ID_LEN;
        if (sender && (k.mv_size < S_ID_LEN + sender_len + 1 ||
                       memcmp(ks, sender, sender_len) != 0 || ks[sender_len] != 0))
            continue;
        uint8_t key[S_SEQ_LEN];
        cstore_in_record r;
        rc = s_in_resolve(t->txn, t->s, &k, &v, key, &r);
        if (rc != MDB_SUCCESS)
            break;
        if (*n < max)
            memcpy(keys[*n], key, S_SEQ_LEN);
        (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == MDB_SUCCESS ? MDB_SUCCESS : rc;
}

/* Purges every inbox entry of id from sender (NULL = any). */
static int s_purge_in(cstore_txn *t, const uint8_t *id, const char *sender,
                      cstore_purge_result *res)
{
    size_t n = 0;
    int rc = s_purge_in_find(t, id, sender, NULL, 0, &n);
    if (rc != MDB_SUCCESS || n == 0)
        return rc;
    uint8_t(*keys)[S_SEQ_LEN] = malloc(n * sizeof *keys);
    if (!keys)
        return S_NOMEM;
    rc = s_purge_in_find(t, id, sender, keys, n, &n);
    for (size_t i = 0; rc == MDB_SUCCESS && i < n; i++) {
        MDB_val v;
        cstore_in_record r;
        rc = s_record_get(t->txn, t->s->inbox, keys[i], &v);
        if (rc == MDB_SUCCESS)
            rc = s_in_parse(&v, &r);
        if (rc == MDB_SUCCESS)
            rc = s_purge_in_one(t, keys[i], &r, res);
    }
    free(keys);
    return rc;
}

int cstore_purge(cstore_txn *t, const uint8_t id[16], bool outbox, const char *sender,
                 cstore_purge_result *out)
{
    cstore_purge_result res = {0, 0};
    if (out)
        *out = res;
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    if (!id || (sender && !s_name_len(sender)))
        return ASYLINK_E_INVALID_ARG;
    int lrc = outbox ? s_purge_out(t, id, &res) : MDB_SUCCESS;
    if (lrc == MDB_SUCCESS)
        lrc = s_purge_in(t, id, sender, &res);
    if (lrc == MDB_SUCCESS && out)
        *out = res;
    return s_op_end(t, lrc);
}

/* Deletes every receipt of id (and the envelopes only they cited). */
static int s_sweep_receipts(cstore_txn *t, const uint8_t *id, cstore_sweep_stats *st)
{
    for (;;) {
        MDB_cursor *cur;
        MDB_val k = {S_ID_LEN, (void *)id}, v;
        int rc = mdb_cursor_open(t->txn, t->s->receipts, &cur);
        if (rc != MDB_SUCCESS)
            return rc;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        uint8_t key[S_RCPT_KEY_MAX];
        size_t len = 0;
        if (rc == MDB_SUCCESS && k.mv_size > S_ID_LEN && k.mv_size <= S_RCPT_KEY_MAX &&
            memcmp(k.mv_data, id, S_ID_LEN) == 0) {
            len = k.mv_size;
            memcpy(key, k.mv_data, len);
        }
        mdb_cursor_close(cur);
        if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
            return rc;
        if (!len)
            return MDB_SUCCESS; /* no receipt of id left */
        rc = s_rcpt_unref(t, key, len, NULL, &st->evidence);
        if (rc == MDB_SUCCESS)
            rc = s_del_if(t->txn, t->s->receipts, key, len);
        if (rc != MDB_SUCCESS)
            return rc;
        st->receipts++;
    }
}

/* Deletes the id index entry idkey (idlen bytes) if it points at seq key. */
static int s_index_del_if_at(MDB_txn *txn, MDB_dbi index, const void *idkey, size_t idlen,
                             const uint8_t key[S_SEQ_LEN])
{
    MDB_val k = {idlen, (void *)idkey}, v;
    int rc = mdb_get(txn, index, &k, &v);
    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (rc != MDB_SUCCESS)
        return rc;
    if (v.mv_size != S_SEQ_LEN || memcmp(v.mv_data, key, S_SEQ_LEN) != 0)
        return MDB_SUCCESS; /* the index names another entry: not ours to delete */
    return mdb_del(txn, index, &k, NULL);
}

/* A sweep's walk over one database. */
typedef struct {
    uint64_t cutoff_ms;
    size_t max, used;
    cstore_sweep_stats *st;
} s_sweep;

/* Records dbi's highest sequence so far (its last key, or the mark if higher) as its mark. */
static int s_hwm_raise(cstore_txn *t, MDB_dbi dbi, const char *name)
{
    uint64_t last = 0, mark = 0;
    int rc = lmdbkit_seq_last(t->txn, dbi, t->s->meta, name, &last);
    if (rc == MDB_SUCCESS)
        rc = lmdbkit_meta_get(t->txn, t->s->meta, name, 8, &mark, NULL);
    if (rc == MDB_SUCCESS && last > mark)
        rc = s_meta_put(t->txn, t->s->meta, name, last, 8);
    return rc;
}

/* Removes one finished outbox record (key k, record r) with its index entry and receipts. */
static int s_sweep_out_one(cstore_txn *t, const uint8_t key[S_SEQ_LEN], const cstore_out_record *r,
                           s_sweep *w)
{
    uint8_t id[S_ID_LEN];
    memcpy(id, r->id, S_ID_LEN); /* r points into a page the deletes may free */
    int rc = s_sweep_receipts(t, id, w->st);
    if (rc == MDB_SUCCESS)
        rc = s_index_del_if_at(t->txn, t->s->outbox_id, id, S_ID_LEN, key);
    MDB_val k = {S_SEQ_LEN, (void *)key};
    if (rc == MDB_SUCCESS)
        rc = mdb_del(t->txn, t->s->outbox, &k, NULL);
    if (rc == MDB_SUCCESS)
        w->st->outbox++;
    return rc;
}

/* Removes one inbox tombstone (key k, record r) with its index entry. */
static int s_sweep_in_one(cstore_txn *t, const uint8_t key[S_SEQ_LEN], const cstore_in_record *r,
                          s_sweep *w)
{
    uint8_t ikey[S_IN_KEY_MAX];
    size_t ilen = s_in_key_of_record(ikey, r); /* copied out of the page first */
    int rc = s_index_del_if_at(t->txn, t->s->inbox_id, ikey, ilen, key);
    MDB_val k = {S_SEQ_LEN, (void *)key};
    if (rc == MDB_SUCCESS)
        rc = mdb_del(t->txn, t->s->inbox, &k, NULL);
    if (rc == MDB_SUCCESS)
        w->st->inbox++;
    return rc;
}

/*
 * The first finished record of dbi with seq > *after, into key (*found).
 * PENDING records and records that fail validation (left for the
 * operator) are stepped over. *after: the last record examined. *done: the
 * walk ended (the end of dbi, or a finished record newer than the cutoff:
 * arrival order is time order).
 */
static int s_sweep_next(cstore_txn *t, MDB_dbi dbi, bool outbox, uint64_t *after, s_sweep *w,
                        uint8_t key[S_SEQ_LEN], bool *found, bool *done)
{
    MDB_cursor *cur;
    *found = false;
    int rc = mdb_cursor_open(t->txn, dbi, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    uint8_t from[S_SEQ_LEN];
    bytes_put_be64(from, *after + 1);
    MDB_val k = {S_SEQ_LEN, from}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS && w->used < w->max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        w->used++;
        if (k.mv_size == S_SEQ_LEN)
            *after = bytes_get_be64(k.mv_data);
        cstore_out_record o;
        cstore_in_record i;
        if (k.mv_size != S_SEQ_LEN ||
            (outbox ? s_out_parse(&v, &o) : s_in_parse(&v, &i)) != MDB_SUCCESS)
            continue; /* corrupt: not ours to delete */
        if (outbox ? o.state == CSTORE_OUT_PENDING : i.state == CSTORE_IN_PENDING)
            continue;
        if ((outbox ? o.created_ms : i.received_ms) > w->cutoff_ms) {
            *done = true;
            break;
        }
        MDB_val sv;
        if (outbox && mdb_get(t->txn, t->s->sent, &k, &sv) == MDB_SUCCESS)
            continue; /* its envelope is kept as evidence: sent_retention decides, then us */
        memcpy(key, k.mv_data, S_SEQ_LEN);
        *found = true;
        break;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) {
        *done = true;
        rc = MDB_SUCCESS;
    }
    return rc;
}

/* Sweeps one database (the outbox or the inbox) in seq order after *after (then the last seen). */
static int s_sweep_db(cstore_txn *t, bool outbox, s_sweep *w, uint64_t *after, bool *done)
{
    MDB_dbi dbi = outbox ? t->s->outbox : t->s->inbox;
    *done = false;
    while (!*done && w->used < w->max) {
        uint8_t key[S_SEQ_LEN];
        bool found = false;
        int rc = s_sweep_next(t, dbi, outbox, after, w, key, &found, done);
        if (rc != MDB_SUCCESS || !found)
            return rc;
        MDB_val v;
        cstore_out_record o;
        cstore_in_record i;
        rc = s_record_get(t->txn, dbi, key, &v);
        if (rc == MDB_SUCCESS)
            rc = outbox ? s_out_parse(&v, &o) : s_in_parse(&v, &i);
        if (rc == MDB_SUCCESS)
            rc = outbox ? s_sweep_out_one(t, key, &o, w) : s_sweep_in_one(t, key, &i, w);
        if (rc != MDB_SUCCESS)
            return rc;
    }
    return MDB_SUCCESS;
}

/*
 * Where the sweep goes on: the last outbox and inbox records examined by
 * the sweep transactions so far (S_SWEEP_DONE: the outbox walk has ended),
 * so that records it must keep (PENDING, kept as evidence, damaged) are not
 * examined again by every transaction, the budget spent on them before
 * reaching the finished records behind. Both go back to 0 once both walks
 * have ended: the next sweep starts over.
 */
#define S_META_SWEEP_OUT "sweep_out_after"
#define S_META_SWEEP_IN "sweep_in_after"
#define S_SWEEP_DONE UINT64_MAX

/* Reads where the sweep goes on. */
static int s_sweep_pos_get(cstore_txn *t, uint64_t *out_after, uint64_t *in_after)
{
    int rc = s_meta_get(t->txn, t->s->meta, S_META_SWEEP_OUT, 8, out_after, NULL);
    return rc == MDB_SUCCESS ? s_meta_get(t->txn, t->s->meta, S_META_SWEEP_IN, 8, in_after, NULL)
                             : rc;
}

/* Records where the next sweep transaction goes on (was: the values read at the start). */
static int s_sweep_pos_put(cstore_txn *t, uint64_t out_was, uint64_t out_after, uint64_t in_was,
                           uint64_t in_after)
{
    int rc = MDB_SUCCESS;
    if (out_after != out_was)
        rc = s_meta_put(t->txn, t->s->meta, S_META_SWEEP_OUT, out_after, 8);
    if (rc == MDB_SUCCESS && in_after != in_was)
        rc = s_meta_put(t->txn, t->s->meta, S_META_SWEEP_IN, in_after, 8);
    return rc;
}

int cstore_retention_sweep(cstore_txn *t, uint64_t cutoff_ms, size_t max, cstore_sweep_stats *st,
                           bool *more)
{
    if (more)
        *more = false;
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    cstore_sweep_stats local = {0};
    s_sweep w = {.cutoff_ms = cutoff_ms, .max = max, .st = st ? st : &local};
    bool out_done = false, in_done = false;
    /* The sequences given out so far stay given out, whatever is deleted now. */
    int lrc = s_hwm_raise(t, t->s->outbox, S_META_OUT_HWM);
    if (lrc == MDB_SUCCESS)
        lrc = s_hwm_raise(t, t->s->inbox, S_META_IN_HWM);
    uint64_t out_was = 0, in_was = 0;
    if (lrc == MDB_SUCCESS)
        lrc = s_sweep_pos_get(t, &out_was, &in_was);
    uint64_t out_after = out_was, in_after = in_was;
    out_done = out_was == S_SWEEP_DONE;
    if (lrc == MDB_SUCCESS && !out_done)
        lrc = s_sweep_db(t, true, &w, &out_after, &out_done);
    if (lrc == MDB_SUCCESS)
        lrc = s_sweep_db(t, false, &w, &in_after, &in_done);
    if (out_done && in_done)
        out_after = in_after = 0; /* a full pass: the next sweep starts over */
    else if (out_done)
        out_after = S_SWEEP_DONE;
    if (lrc == MDB_SUCCESS)
        lrc = s_sweep_pos_put(t, out_was, out_after, in_was, in_after);
    if (more)
        *more = lrc == MDB_SUCCESS && (!out_done || !in_done);
    return s_op_end(t, lrc == S_BAD_RECORD ? EIO : lrc); /* deletes may have happened */
}

/* ---- receipts owed -------------------------------------------------------- */

#define S_OWED_HEADER 96
/* Never written: an owed receipt's number only orders them, and one is deleted only by the
   flush that sealed it, so reusing the number of one deleted is harmless. */
#define S_META_OWED_HWM "owed_seq_hwm"

int cstore_owed_add(cstore_txn *t, const receipt *r)
{
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    size_t slen = r ? strnlen(r->sender, sizeof r->sender) : 0;
    if (!r || slen == 0 || slen > NODE_ID_MAX ||
        (r->status != RECEIPT_DELIVERED && r->status != RECEIPT_REJECTED))
        return ASYLINK_E_INVALID_ARG;
    uint64_t seq = 0;
    int lrc = s_seq_next(t, t->s->receipts_owed, S_META_OWED_HWM, &t->owed_next, &seq);
    uint8_t key[S_SEQ_LEN], v[S_OWED_HEADER + NODE_ID_MAX] = {0};
    bytes_put_be64(key, seq);
    v[0] = S_RECORD_VERSION;
    v[1] = (uint8_t)r->status;
    v[2] = (uint8_t)slen;
    bytes_put_le(v + 8, r->acked_ms, 8);
    memcpy(v + 16, r->message_id, 16);
    memcpy(v + 32, r->envelope_digest, 64);
    memcpy(v + S_OWED_HEADER, r->sender, slen);
    if (lrc == MDB_SUCCESS)
        lrc =
            s_put(t->txn, t->s->receipts_owed, key, S_SEQ_LEN, v, S_OWED_HEADER + slen, MDB_APPEND);
    if (lrc == MDB_SUCCESS)
        t->owed_next = seq + 1;
    return s_op_end(t, lrc);
}

bool cstore_owed_decode(const uint8_t *key, size_t klen, const uint8_t *b, size_t len,
                        cstore_owed *out)
{
    /* a NUL in the sender would cut it: the receipt would be sealed for another node */
    if (klen != S_SEQ_LEN || len < S_OWED_HEADER + 1 || b[0] != S_RECORD_VERSION || b[2] == 0 ||
        b[2] > NODE_ID_MAX || len != S_OWED_HEADER + (size_t)b[2] ||
        (b[1] != RECEIPT_DELIVERED && b[1] != RECEIPT_REJECTED) ||
        memchr(b + S_OWED_HEADER, 0, b[2]))
        return false;
    memset(out, 0, sizeof *out);
    out->seq = bytes_get_be64(key);
    out->r.status = b[1];
    out->r.acked_ms = bytes_get_le(b + 8, 8);
    memcpy(out->r.message_id, b + 16, 16);
    memcpy(out->r.envelope_digest, b + 32, 64);
    memcpy(out->r.sender, b + S_OWED_HEADER, b[2]);
    return true;
}

/* Parses one owed record into out; S_BAD_RECORD if it does not validate. */
static int s_owed_parse(const MDB_val *k, const MDB_val *v, cstore_owed *out)
{
    return cstore_owed_decode(k->mv_data, k->mv_size, v->mv_data, v->mv_size, out) ? MDB_SUCCESS
                                                                                   : S_BAD_RECORD;
}

int cstore_owed_list(cstore *s, cstore_owed *out, size_t max, size_t *n, uint64_t *damaged)
{
    if (!n || !damaged || (!out && max))
        return ASYLINK_E_INVALID_ARG;
    *n = 0;
    *damaged = 0;
    if (!s)
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    int rc = s_read_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    rc = mdb_cursor_open(txn, s->receipts_owed, &cur);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; rc == MDB_SUCCESS && *n < max; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (s_owed_parse(&k, &v, &out[*n]) == MDB_SUCCESS)
            (*n)++;
        else if (k.mv_size == S_SEQ_LEN && *damaged == 0)
            *damaged = bytes_get_be64(k.mv_data); /* the caller deletes it */
    }
    if (cur)
        mdb_cursor_close(cur);
    s_read_end(s, txn);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? ASYLINK_OK : s_err(rc);
}

int cstore_owed_del(cstore_txn *t, uint64_t seq)
{
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    uint8_t key[S_SEQ_LEN];
    bytes_put_be64(key, seq);
    return s_op_end(t, s_del_if(t->txn, t->s->receipts_owed, key, S_SEQ_LEN));
}

int cstore_owed_del_many(cstore_txn *t, const cstore_owed *owed, size_t n)
{
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    if (!owed && n)
        return ASYLINK_E_INVALID_ARG;
    MDB_cursor *cur = NULL;
    int lrc = n ? mdb_cursor_open(t->txn, t->s->receipts_owed, &cur) : MDB_SUCCESS;
    for (size_t i = 0; i < n && lrc == MDB_SUCCESS; i++) {
        uint8_t key[S_SEQ_LEN];
        bytes_put_be64(key, owed[i].seq);
        MDB_val k = {S_SEQ_LEN, key}, v;
        lrc = mdb_cursor_get(cur, &k, &v, MDB_SET);
        if (lrc == MDB_SUCCESS)
            lrc = mdb_cursor_del(cur, 0);
        else if (lrc == MDB_NOTFOUND)
            lrc = MDB_SUCCESS; /* gone already, as for cstore_owed_del() */
    }
    if (cur)
        mdb_cursor_close(cur);
    return s_op_end(t, lrc);
}

int cstore_owed_count(cstore *s, uint64_t *count)
{
    return s_pending_count(s, s ? s->receipts_owed : 0, count);
}

int cstore_nested(cstore_txn *t, int (*fill)(cstore_txn *t, void *arg), void *arg)
{
    int rc = s_op_check(t);
    if (rc != ASYLINK_OK)
        return rc;
    cstore_txn saved = *t;
    MDB_txn *child = NULL;
    int lrc = mdb_txn_begin(t->s->env, t->txn, 0, &child);
    if (lrc != MDB_SUCCESS)
        return s_err(lrc); /* t unchanged */
    t->txn = child;
    rc = fill(t, arg);
    if (rc == ASYLINK_OK && t->error == MDB_SUCCESS) {
        lrc = mdb_txn_commit(child); /* into the parent: no disk write */
        if (lrc == MDB_SUCCESS) {
            t->txn = saved.txn;
            return ASYLINK_OK;
        }
        rc = s_err(lrc); /* the child is freed by the failed commit */
    } else {
        if (rc == ASYLINK_OK)
            rc = s_err(t->error);
        mdb_txn_abort(child);
    }
    *t = saved; /* the parent as it was, sequence counters included */
    return rc;
}
