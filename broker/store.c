/*
 * store.c — the broker's durable store: one LMDB environment, six named
 * databases, batched write transactions that grow the map when it fills.
 * See store.h for the model; this file fixes the bytes.
 *
 * Keys. Sequences in keys are big-endian so that LMDB's bytewise order is
 * numeric order; node ids come first and end in '\0' so that each
 * recipient's entries are contiguous and ordered by seq ("AB" sorts wholly
 * before "ABC" because '\0' is smaller than any id character):
 *   msgs    seq(8 BE)
 *   dedup   sender '\0' message_id(16)
 *   queue   recipient '\0' seq(8 BE)
 *   dlq     recipient '\0' seq(8 BE)
 *   expiry  expires_ms(8 BE) seq(8 BE)
 *   feed    seq(8 BE)
 *   subs    node '\0' subscription name
 *   meta    "schema_version", "seq_hwm", "crl_number", "crl_ca", "crl"
 *
 * Values. Integers little-endian.
 *   meta schema_version  u32
 *   meta seq_hwm         u64  highest sequence ever given out
 *   meta crl_number      u64  highest revocation-list number the broker used
 *   meta crl_ca          u64  first 8 bytes of that list's CA key (the number
 *                             counts per CA)
 *   meta crl             bytes: that list as the CA signed it (a serialized
 *                             RevocationList, 1..CRL_FILE_MAX bytes); absent
 *                             when the list in use had none, and in stores
 *                             written before it was kept (no schema version
 *                             of its own: older builds ignore it and may
 *                             record a newer number beside it, which is why
 *                             the list counts only if its number is
 *                             crl_number)
 *   dedup                u64 seq, u64 accepted_ms                  (16 bytes)
 *                        or, a tombstone of a purged message:
 *                        u64 seq, u64 accepted_ms, u64 purged_ms   (24 bytes;
 *                        seq and accepted_ms 0 if nothing was stored)
 *   queue                u32 attempts, u32 reserved 0, u64 next_attempt_ms (16)
 *   dlq                  u32 code (int32), u32 attempts, u64 dead_ms,
 *                        reason bytes (0..STORE_REASON_MAX, no NUL)
 *   expiry               empty
 *   feed                 topic bytes (1..STORE_TOPIC_MAX, no NUL)
 *   subs                 u64 cursor, u64 created_ms, prefix bytes (1..STORE_TOPIC_MAX)
 *
 * Message record (msgs value), a fixed 56-byte header then three blocks:
 *   off len
 *     0   1  record version (S_RECORD_VERSION)
 *     1   1  reserved, 0
 *     2   2  sender_len (1..STORE_NAME_MAX)
 *     4   4  n_pending: recipients not done yet (1..n_recipients); the
 *            record is deleted when it would reach 0
 *     8   8  accepted_ms
 *    16   8  expires_ms (0 = never)
 *    24  16  message_id
 *    40   4  n_recipients (>= 1)
 *    44   4  recipients_len: bytes of the recipients block
 *    48   8  envelope_len
 *    56      sender (sender_len bytes, no NUL)
 *            recipients (each id followed by '\0', n_recipients of them)
 *            envelope (envelope_len bytes, stored as-is)
 * A feed message (published to a topic) has n_recipients 0, n_pending 0
 * and an empty recipients block; it is never acknowledged, only expired.
 * The lengths must add up to the value's size exactly, so a truncated or
 * padded record is detected; every read validates the whole header and the
 * recipients block (not the envelope bytes, which are opaque here).
 *
 * Updating n_pending rewrites the record (LMDB has no partial writes; pages
 * are copied on write anyway); within one transaction LMDB rewrites an
 * already dirty record in place.
 *
 * Error plumbing: internal helpers return LMDB codes (0, MDB_*, errno).
 * MDB_NOTFOUND and S_BAD_RECORD from an operation mean "this operation
 * changes nothing" and become its result code; anything else aborts the
 * transaction. Helpers check before they write so that these two never
 * come after a partial change.
 *
 * Shared reads (store_read_begin()): the read functions use s_rd_begin() /
 * s_read_open(), which hand out the shared read transaction while reads are
 * shared; s_txn_begin() ends it before any write transaction.
 *
 * Threading: one thread uses a store and its batches, except a batch
 * committed by store_batch_commit_detached() in another thread (see store.h).
 */
#include "store.h"

#include "bytes.h"
#include "auditchain.h"
#include "cert.h"
#include "datadir.h"
#include "lmdbkit.h"
#include "log.h"
#include "topic.h"

#include "asylink/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_RECORD_VERSION 1
#define S_RECORD_HEADER 56
#define S_ID_LEN 16 /* message id bytes */
#define S_SEQ_LEN 8 /* sequence bytes in keys */
#define S_QUEUE_VALUE_LEN 16
#define S_DLQ_VALUE_MIN 16
#define S_DEDUP_VALUE_LEN 16
#define S_DEDUP_TOMB_LEN 24 /* a tombstone: seq, accepted_ms, purged_ms */
#define S_EXPIRY_KEY_LEN 16
#define S_KEY_MAX (STORE_NAME_MAX + 1 + S_ID_LEN) /* name '\0' (seq or message id) */
#define S_MAX_DBS 16                              /* six now, room for topics, cursors, audit */
#define S_LOCK_NAME "asylinkd.lock"
#define S_DATA_NAME "data.mdb" /* LMDB's data file, flock'd too (s_lock) */
#define S_LMDB_LOCK_NAME "lock.mdb" /* LMDB's lock file (its reader table) */
#define S_PAGE_SLACK 4096 /* room counted per publish beyond its envelope: record, keys, pages */
#define S_RELEASE_EVERY 64 /* pages read or operations applied between two budget checks */
#define S_META_HWM "seq_hwm"
#define S_META_CRL_NUMBER "crl_number"
#define S_META_CRL_CA "crl_ca"
#define S_META_CRL "crl"

/* Internal codes, outside LMDB's range (MDB_KEYEXIST..MDB_LAST_ERRCODE) and errno's. */
#define S_BAD_RECORD LMDBKIT_BAD_RECORD /* a stored value failed validation: result E_IO */
#define S_ABORT (-29998)                /* an apply function aborts; the reason is in its context */
#define S_RETRY_SYNC (-29997) /* a detached commit needs the map changed: retry it attached */

/* The store. */
struct store {
    MDB_env *env;             /* the LMDB environment in dir */
    MDB_dbi meta;             /* schema version, sequence high-water mark */
    MDB_dbi msgs;             /* seq -> message record */
    MDB_dbi dedup;            /* sender '\0' message_id -> seq, accepted_ms */
    MDB_dbi queue;            /* recipient '\0' seq -> attempts, next_attempt_ms */
    MDB_dbi dlq;              /* recipient '\0' seq -> code, attempts, dead_ms, reason */
    MDB_dbi expiry;           /* expires_ms seq -> empty */
    MDB_dbi feed;             /* seq -> topic */
    MDB_dbi subs;             /* node '\0' name -> cursor, created_ms, prefix */
    int lock_fd;              /* dir/asylinkd.lock, flock'd for the store's life; -1 if none */
    int data_lock_fd;         /* dir/data.mdb, flock'd for the store's life; -1 if none */
    uint64_t map_size;        /* current map size */
    uint64_t max_map_size;    /* the map never grows beyond this */
    uint64_t dedup_window_ms; /* 0 = dedup entries are never swept */
    uint64_t next_seq;        /* sequence of the next new message (>= 1) */
    uint8_t dedup_cursor[S_KEY_MAX]; /* last dedup key the sweep examined */
    size_t dedup_cursor_len;         /* its length; 0 = start from the first */
    bool rd_shared;                  /* between store_read_begin() and store_read_end() */
    MDB_txn *rd_txn;                 /* the shared read transaction; NULL until a read opens it */
    MDB_cursor *rd_queue;            /* its queue cursor, kept for the next store_queue_next() */
    uintptr_t map_lo, map_hi;        /* LMDB's map of the data file (store_release_pages()) */
    uint64_t map_seen_size;          /* the map size when it was looked up */
    int statm_fd;                    /* /proc/self/statm (store_release_pages()), -1 until opened */
    pthread_mutex_t release_lock;    /* one store_release_pages() at a time (router, committer) */
    uint64_t release_budget_kib;     /* store_release_budget(); 0 = none */
    uint64_t release_floor_kib;
    uint64_t anon_peak_kib;    /* the most resident KiB not of mapped files seen (release_lock) */
    atomic_uint release_ticks; /* pages read, operations applied (s_release_tick()) */
    store_audit_hooks audit;         /* audit trail hooks (audit.begin NULL = none) */
    void (*barrier)(void *ctx);      /* store_set_write_barrier(); NULL = none */
    void *barrier_ctx;
};

/* Kinds of batch operations. */
typedef enum s_op_kind { S_OP_PUBLISH, S_OP_ACK, S_OP_RETRY, S_OP_DEAD, S_OP_SUB_CURSOR } s_op_kind;

/* One recorded batch operation; every pointer is the caller's, borrowed until commit. */
typedef struct s_op {
    s_op_kind kind;           /* what to do */
    store_publish publish;    /* S_OP_PUBLISH: the caller's struct, copied shallowly */
    const char *recipient;    /* ack, retry, dead letter: whose queue; sub_cursor: node */
    const char *name;         /* sub_cursor: subscription name */
    char *names;              /* owned copy of recipient ('\0' name), or NULL */
    uint64_t seq;             /* ack, retry, dead letter: which message; sub_cursor: cursor */
    uint64_t next_attempt_ms; /* retry: not before this */
    store_backoff backoff;    /* retry_backoff: the schedule */
    bool has_backoff;         /* retry_backoff: next_attempt_ms from the schedule */
    uint32_t max_attempts;    /* retry: dead-letter at this many attempts (0 = never) */
    int code;                 /* retry, dead letter: why */
    const char *reason;       /* retry, dead letter: free text in names, or NULL */
    bool node_reason;         /* reason is the recipient's own (a Nack's), not the broker's */
} s_op;

/* A batch of operations for one write transaction. */
struct store_batch {
    store *s;              /* the store it commits to (borrowed) */
    s_op *ops;             /* recorded operations, n of them */
    store_result *results; /* one per operation, filled by the commit */
    size_t n;              /* operations recorded */
    size_t cap;            /* room in ops and results */
    bool committed;        /* set by a successful commit */
    bool no_publish;       /* the store is full: publishes fail, the rest applies */
    uint64_t room;         /* during a commit: bytes publishes may still take */
    uint64_t room_start;   /* at its start */
    uint64_t next_seq;     /* during a commit: the next sequence to give out */
    uint64_t now_ms;       /* during a commit: its time */
};

/* A function run inside a write transaction by s_write(); returns an LMDB code. */
typedef int (*s_apply_fn)(store *s, MDB_txn *txn, void *arg);

/* ---- byte encodings ---------------------------------------------------- */

/* Length of a valid node id (1..STORE_NAME_MAX bytes), else 0. */
static size_t s_name_len(const char *name)
{
    if (!name)
        return 0;
    size_t len = strnlen(name, STORE_NAME_MAX + 1);
    return len > STORE_NAME_MAX ? 0 : len;
}

/* Writes name '\0' seq(BE) into key (S_KEY_MAX bytes); its length, or 0 if name is invalid. */
static size_t s_name_seq_key(uint8_t *key, const char *name, uint64_t seq)
{
    size_t len = s_name_len(name);
    if (!len)
        return 0;
    memcpy(key, name, len);
    key[len] = 0;
    bytes_put_be64(key + len + 1, seq);
    return len + 1 + S_SEQ_LEN;
}

bool store_key_split(const uint8_t *key, size_t len, size_t *name_len, uint64_t *seq)
{
    if (len < 2 + S_SEQ_LEN || len > S_KEY_MAX - S_ID_LEN + S_SEQ_LEN)
        return false;
    size_t nlen = len - 1 - S_SEQ_LEN;
    if (key[nlen] != 0 || memchr(key, 0, nlen) != NULL)
        return false;
    *name_len = nlen;
    *seq = bytes_get_be64(key + nlen + 1);
    return true;
}

/* Splits a name '\0' seq key; false if k does not have that form. */
static bool s_key_split(const MDB_val *k, size_t *name_len, uint64_t *seq)
{
    return store_key_split(k->mv_data, k->mv_size, name_len, seq);
}

/* Whether k is name '\0' seq for the given name; sets *seq. */
static bool s_key_is(const MDB_val *k, const char *name, size_t name_len, uint64_t *seq)
{
    size_t len;
    return s_key_split(k, &len, seq) && len == name_len && memcmp(k->mv_data, name, len) == 0;
}

/* ---- the message record -------------------------------------------------- */

bool store_record_decode(const uint8_t *p, size_t len, store_record *r)
{
    if (len < S_RECORD_HEADER || p[0] != S_RECORD_VERSION)
        return false;
    size_t rest = len - S_RECORD_HEADER;
    r->sender_len = (size_t)bytes_get_le(p + 2, 2);
    r->n_pending = (uint32_t)bytes_get_le(p + 4, 4);
    r->accepted_ms = bytes_get_le(p + 8, 8);
    r->expires_ms = bytes_get_le(p + 16, 8);
    r->message_id = p + 24;
    r->n_recipients = (uint32_t)bytes_get_le(p + 40, 4);
    r->recipients_len = (size_t)bytes_get_le(p + 44, 4);
    uint64_t envelope_len = bytes_get_le(p + 48, 8);
    if (r->sender_len == 0 || r->sender_len > STORE_NAME_MAX || r->sender_len > rest ||
        r->recipients_len > rest - r->sender_len ||
        envelope_len != rest - r->sender_len - r->recipients_len)
        return false;
    r->envelope_len = (size_t)envelope_len;
    r->sender = (const char *)p + S_RECORD_HEADER;
    r->recipients = r->sender + r->sender_len;
    r->envelope = (const uint8_t *)r->recipients + r->recipients_len;
    bool feed = r->n_recipients == 0 && r->n_pending == 0 && r->recipients_len == 0;
    if ((!feed && (r->n_pending == 0 || r->n_pending > r->n_recipients)) ||
        memchr(r->sender, 0, r->sender_len) != NULL ||
        !bytes_names_valid(r->recipients, r->recipients_len, r->n_recipients, STORE_NAME_MAX))
        return false;
    return true;
}

/* Decodes and validates a msgs value; 0 or S_BAD_RECORD. */
static int s_record_parse(const MDB_val *v, store_record *r)
{
    return store_record_decode(v->mv_data, v->mv_size, r) ? MDB_SUCCESS : S_BAD_RECORD;
}

/* Reads and validates seq's record; 0, MDB_NOTFOUND, S_BAD_RECORD or an LMDB error. */
static int s_record_get(store *s, MDB_txn *txn, uint64_t seq, MDB_val *v, store_record *r)
{
    uint8_t key[S_SEQ_LEN];
    bytes_put_be64(key, seq);
    MDB_val k = {sizeof key, key};
    int rc = mdb_get(txn, s->msgs, &k, v);
    return rc == MDB_SUCCESS ? s_record_parse(v, r) : rc;
}

/* Writes a new record for p into dst (exactly its encoded size). */
static void s_record_encode(uint8_t *dst, const store_publish *p, size_t sender_len,
                            size_t recipients_len, uint64_t now_ms)
{
    memset(dst, 0, S_RECORD_HEADER);
    dst[0] = S_RECORD_VERSION;
    bytes_put_le(dst + 2, sender_len, 2);
    bytes_put_le(dst + 4, p->n_recipients, 4); /* n_pending: 0 for a feed message */
    bytes_put_le(dst + 8, now_ms, 8);
    bytes_put_le(dst + 16, p->expires_ms, 8);
    memcpy(dst + 24, p->message_id, S_ID_LEN);
    bytes_put_le(dst + 40, p->n_recipients, 4);
    bytes_put_le(dst + 44, recipients_len, 4);
    bytes_put_le(dst + 48, p->envelope_len, 8);
    uint8_t *q = dst + S_RECORD_HEADER;
    memcpy(q, p->sender, sender_len);
    q += sender_len;
    for (size_t i = 0; i < p->n_recipients; i++) {
        size_t len = strlen(p->recipients[i]) + 1;
        memcpy(q, p->recipients[i], len);
        q += len;
    }
    if (p->envelope_len)
        memcpy(q, p->envelope, p->envelope_len);
}

/* ---- small LMDB helpers -------------------------------------------------- */

/* Maps an LMDB (or internal) code to an asylink_err (core/lmdbkit.h). */
static int s_err(int rc)
{
    return lmdbkit_err(rc);
}

/*
 * Turns an operation's "changes nothing" codes into its result code and
 * returns what is left for the transaction (0 or a fatal LMDB code).
 */
static int s_outcome(int rc, int *code)
{
    if (rc == MDB_NOTFOUND) {
        *code = ASYLINK_E_NOT_FOUND;
        return MDB_SUCCESS;
    }
    if (rc == S_BAD_RECORD) {
        *code = ASYLINK_E_IO;
        return MDB_SUCCESS;
    }
    return rc;
}

/* Deletes key from dbi if present; *deleted (may be NULL) says whether it was. */
static int s_del_if(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len, bool *deleted)
{
    return lmdbkit_del_if(txn, dbi, key, len, deleted);
}

/* Puts key -> value into dbi (overwriting). */
static int s_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, const void *val,
                 size_t vlen)
{
    return lmdbkit_put(txn, dbi, key, klen, val, vlen, 0);
}

/*
 * Bytes new messages may still take: free disk and LMDB's reusable pages,
 * less the reserve for acks (lmdbkit_room). Opens a read transaction when
 * the disk is nearly full: call it with none open (s_shared_drop).
 */
static uint64_t s_room(store *s)
{
    uint64_t avail = datadir_free_bytes(s->lock_fd);
    MDB_txn *r = NULL;
    if (avail < DATADIR_RESERVE_BYTES + LMDBKIT_ROOM_PLENTY &&
        mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r) != MDB_SUCCESS)
        r = NULL;
    uint64_t room = lmdbkit_room(avail, r);
    if (r)
        mdb_txn_abort(r);
    return room;
}

/* Begins a transaction, adopting a map grown by another process if LMDB says so. */
/* Ends the shared read transaction, if one is open. */
static void s_shared_drop(store *s)
{
    if (s->rd_queue)
        mdb_cursor_close(s->rd_queue);
    s->rd_queue = NULL;
    if (s->rd_txn)
        mdb_txn_abort(s->rd_txn);
    s->rd_txn = NULL;
}

/* Waits for a detached commit in progress (store_set_write_barrier()). */
static void s_barrier(store *s)
{
    if (s->barrier)
        s->barrier(s->barrier_ctx);
}

/*
 * Begins a transaction. A write first waits for a detached commit and ends
 * the shared read transaction: one thread may hold only one transaction,
 * and the reads after the write must see it. A detached write (another
 * thread: store_batch_commit_detached()) does neither, and cannot adopt a
 * resized map (that needs no transaction open in the process).
 */
static int s_txn_begin_ex(store *s, unsigned flags, MDB_txn **txn, bool detached)
{
    if (!(flags & MDB_RDONLY) && !detached) {
        s_barrier(s);
        s_shared_drop(s);
    }
    int rc = mdb_txn_begin(s->env, NULL, flags, txn);
    if (rc != MDB_MAP_RESIZED)
        return rc;
    if (detached)
        return S_RETRY_SYNC;
    s_barrier(s);
    size_t size; /* another process grew the map: adopt its size */
    rc = lmdbkit_map_set(s->env, 0, &size);
    if (rc == MDB_SUCCESS) {
        s->map_size = size;
        rc = mdb_txn_begin(s->env, NULL, flags, txn);
    }
    return rc;
}

static int s_txn_begin(store *s, unsigned flags, MDB_txn **txn)
{
    return s_txn_begin_ex(s, flags, txn, false);
}

/* Doubles the map, up to max_map_size; MDB_MAP_FULL if already there. */
static int s_grow(store *s)
{
    if (s->map_size >= s->max_map_size)
        return MDB_MAP_FULL;
    uint64_t size = s->map_size > s->max_map_size / 2 ? s->max_map_size : s->map_size * 2;
    size_t actual;
    int rc = lmdbkit_map_set(s->env, (size_t)size, &actual);
    if (rc == MDB_SUCCESS)
        s->map_size = actual;
    return rc;
}

/*
 * Runs apply in a write transaction and commits it. On MDB_MAP_FULL (from
 * apply or from the commit) the transaction is gone, the map doubles and
 * apply runs again from the start, so apply must reset its own state. Returns
 * an LMDB code; MDB_MAP_FULL means the map is at max_map_size. Detached (in
 * the committer thread), the map is never changed: S_RETRY_SYNC instead.
 */
static int s_write_ex(store *s, s_apply_fn apply, void *arg, bool detached)
{
    for (;;) {
        MDB_txn *txn = NULL;
        int rc = s_txn_begin_ex(s, 0, &txn, detached);
        if (rc != MDB_SUCCESS)
            return rc;
        bool audited = s->audit.begin != NULL; /* the audit hooks see every write (store.h) */
        rc = audited ? s->audit.begin(s->audit.ctx, txn) : MDB_SUCCESS;
        if (rc == MDB_SUCCESS)
            rc = apply(s, txn, arg);
        if (rc == MDB_SUCCESS && audited)
            rc = s->audit.precommit(s->audit.ctx, txn);
        if (rc == MDB_SUCCESS)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (rc == MDB_SUCCESS && audited)
            s->audit.committed(s->audit.ctx);
        if (rc == EIO && datadir_full(s->lock_fd))
            rc = ENOSPC; /* LMDB's word for a write cut short by a full disk */
        if (rc == MDB_MAP_FULL && detached)
            return S_RETRY_SYNC;
        if (rc != MDB_MAP_FULL || s_grow(s) != MDB_SUCCESS)
            return rc;
    }
}

static int s_write(store *s, s_apply_fn apply, void *arg)
{
    return s_write_ex(s, apply, arg, false);
}

/* ---- opening ----------------------------------------------------------- */

/*
 * Sizes the open map: the size an earlier run grew it to (LMDB keeps the
 * largest in the file), at least map, at most max_map_size; LMDB itself
 * never goes below what the data occupies.
 */
static int s_env_size(store *s, uint64_t map)
{
    size_t kept = 0, used, actual;
    int rc = lmdbkit_usage(s->env, &kept, &used);
    uint64_t size = kept < map ? map : kept;
    size = size > s->max_map_size ? s->max_map_size : size;
    if (rc == MDB_SUCCESS)
        rc = lmdbkit_map_set(s->env, (size_t)size, &actual);
    if (rc == MDB_SUCCESS)
        s->map_size = actual;
    return rc;
}

int store_stale_readers_clear(store *s)
{
    int stale = lmdbkit_stale_readers_clear(s->env);
    const char *dir = NULL;
    if (stale > 0 && mdb_env_get_path(s->env, &dir) == MDB_SUCCESS)
        LOG_INFO("store", "stale LMDB reader slots cleared", "count=%d data_dir=%s", stale,
                 LOG_Q(dir));
    return stale;
}

/* Creates and opens the LMDB environment with the options' sizes and durability. */
static int s_env_open(store *s, const store_options *o)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t map = (o->map_size + page - 1) / page * page;
    uint64_t max = o->max_map_size ? o->max_map_size / page * page : map;
    s->max_map_size = max < map ? map : max;
    /* No read-ahead: deliveries read scattered records, and pages read ahead into the
       map count in the broker's resident set (DESIGN: peak RSS <= 64 MiB). */
    unsigned flags = MDB_NORDAHEAD | (o->durable ? 0 : MDB_NOSYNC | MDB_NOMETASYNC);
    int rc = lmdbkit_env_open(&s->env, o->dir, flags, S_MAX_DBS, 0); /* at the file's size */
    if (rc == MDB_SUCCESS)
        store_stale_readers_clear(s);
    if (rc == MDB_SUCCESS)
        rc = s_env_size(s, map);
    return s_err(rc);
}

/* Opens (creating) every named database. */
static int s_dbs_open(store *s, MDB_txn *txn)
{
    const lmdbkit_db dbs[] = {{"meta", &s->meta},   {"msgs", &s->msgs}, {"dedup", &s->dedup},
                              {"queue", &s->queue}, {"dlq", &s->dlq},   {"expiry", &s->expiry},
                              {"feed", &s->feed},   {"subs", &s->subs}};
    int rc = lmdbkit_dbs_open(txn, dbs, sizeof dbs / sizeof dbs[0]);
    /* LMDB's default key order, compared without a memcmp() call each (lmdbkit_cmp_bytes):
       the B-tree searches of every publish, delivery and acknowledgement */
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0] && rc == MDB_SUCCESS; i++)
        rc = mdb_set_compare(txn, *dbs[i].dbi, lmdbkit_cmp_bytes);
    return rc;
}

/* Reads a little-endian meta number of exactly len bytes; *found says if present. */
static int s_meta_get(store *s, MDB_txn *txn, const char *name, size_t len, uint64_t *v,
                      bool *found)
{
    return lmdbkit_meta_get(txn, s->meta, name, len, v, found);
}

/* Writes a little-endian meta number of len bytes. */
static int s_meta_put(store *s, MDB_txn *txn, const char *name, uint64_t v, size_t len)
{
    return lmdbkit_meta_put(txn, s->meta, name, v, len);
}

/* What opening the schema found. */
typedef struct schema_ctx {
    int code;          /* ASYLINK_OK or why the store cannot be used */
    uint64_t next_seq; /* the next sequence to give out */
} schema_ctx;

/* Checks (or, in a new store, writes) the schema version; sets c->code. */
static int s_schema_check(store *s, MDB_txn *txn, schema_ctx *c)
{
    uint32_t version;
    int rc = lmdbkit_schema_get(txn, s->meta, STORE_SCHEMA_VERSION, &version, &c->code);
    if (rc != MDB_SUCCESS || c->code != ASYLINK_OK)
        return rc != MDB_SUCCESS ? rc : S_ABORT;
    /* New, or migration 1 -> 2 (the feed and subs databases were just created empty)
       or 2 -> 3 (no tombstones yet): only the version changes. */
    if (version != STORE_SCHEMA_VERSION)
        return lmdbkit_schema_set(txn, s->meta, STORE_SCHEMA_VERSION);
    return MDB_SUCCESS;
}

/* Next sequence: one past both the last msgs key and the persisted high-water mark. */
static int s_seq_load(store *s, MDB_txn *txn, schema_ctx *c)
{
    uint64_t last = 0;
    int rc = lmdbkit_seq_last(txn, s->msgs, s->meta, S_META_HWM, &last);
    if (rc == S_BAD_RECORD) {
        c->code = ASYLINK_E_IO;
        return S_ABORT;
    }
    c->next_seq = last + 1;
    return rc;
}

/* s_write() apply for store_open(): databases, schema version, next sequence. */
static int s_schema_apply(store *s, MDB_txn *txn, void *arg)
{
    schema_ctx *c = arg;
    c->code = ASYLINK_OK;
    int rc = s_dbs_open(s, txn);
    if (rc == MDB_SUCCESS)
        rc = s_schema_check(s, txn, c);
    if (rc == MDB_SUCCESS)
        rc = s_seq_load(s, txn, c);
    return rc;
}

/* Opens the databases and checks the schema in one write transaction. */
static int s_schema_open(store *s)
{
    schema_ctx c = {ASYLINK_OK, 1};
    int rc = s_write(s, s_schema_apply, &c);
    if (c.code != ASYLINK_OK)
        return c.code;
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    s->next_seq = c.next_seq;
    return ASYLINK_OK;
}

/*
 * s_lock() for existing_only: as s_lock(), but creating neither the directory
 * nor data.mdb, and ASYLINK_E_NOT_FOUND unless data.mdb is there and not
 * empty, both before (so that nothing, not even asylinkd.lock, is created
 * in a directory without a store, such as a mount point) and once both
 * locks are ours (the directory may have been moved aside or replaced
 * while we waited: a restore).
 */
static int s_lock_existing(store *s, const store_options *o)
{
    if (store_absent_reason(o->dir))
        return ASYLINK_E_NOT_FOUND;
    int rc = datadir_lock(o->dir, S_LOCK_NAME, DATADIR_CREATE, o->wait_stop, &s->lock_fd);
    if (rc == ASYLINK_OK)
        rc = datadir_lock(o->dir, S_DATA_NAME, DATADIR_FOLLOW, o->wait_stop, &s->data_lock_fd);
    struct stat st;
    if (rc == ASYLINK_OK && (fstat(s->data_lock_fd, &st) != 0 || !S_ISREG(st.st_mode)))
        rc = ASYLINK_E_IO;
    if (rc == ASYLINK_OK && st.st_size == 0)
        rc = ASYLINK_E_NOT_FOUND;
    return rc;
}

const char *store_absent_reason(const char *dir)
{
    struct stat st;
    if (!dir || stat(dir, &st) != 0)
        return "no such directory";
    if (!S_ISDIR(st.st_mode))
        return "not a directory";
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, S_DATA_NAME) >= sizeof path ||
        stat(path, &st) != 0)
        return "no data.mdb";
    if (!S_ISREG(st.st_mode))
        return "data.mdb is not a regular file";
    return st.st_size == 0 ? "data.mdb is empty" : NULL;
}

bool store_in_use(const char *dir)
{
    return dir && datadir_lock_held(dir, S_LOCK_NAME);
}

/*
 * Takes the data directory's two locks, each refused (ASYLINK_E_EXISTS) or,
 * with wait_stop, waited for while another process holds it:
 * asylinkd.lock, then the data file itself. Deleting asylinkd.lock under a
 * running broker frees that name for a new file another asylinkd can lock;
 * the flock on data.mdb stays with the file LMDB uses, so that asylinkd is
 * still refused (or stands by). LMDB locks lock.mdb alone, with fcntl()
 * record locks, which do not conflict with flock() on Linux.
 */
static int s_lock(store *s, const store_options *o)
{
    if (o->existing_only)
        return s_lock_existing(s, o);
    int rc = datadir_lock(o->dir, S_LOCK_NAME, DATADIR_MKDIR | DATADIR_CREATE, o->wait_stop,
                          &s->lock_fd);
    if (rc != ASYLINK_OK)
        return rc;
    return datadir_lock(o->dir, S_DATA_NAME, DATADIR_MKDIR | DATADIR_CREATE | DATADIR_FOLLOW,
                        o->wait_stop, &s->data_lock_fd);
}

/* datadir_private() callback: a WARN naming the entry whose mode was tightened. */
static void s_tightened(void *arg, const char *path, unsigned before, unsigned after)
{
    (void)arg;
    LOG_WARN("store",
             "data directory entry was accessible to other users: mode tightened (the store "
             "holds personal data)",
             "path=%s mode=%04o now=%04o", LOG_Q(path), before, after);
}

/*
 * The data directory must be the broker user's alone (a restore with
 * mdb_copy leaves data.mdb 0644): group and other bits are removed with a
 * WARN; an entry owned by another user is refused (KEY_PERMISSIONS). Run
 * once both locks are ours, before LMDB opens the files.
 */
static int s_private(const store_options *o)
{
    static const char *const names[] = {S_LOCK_NAME, S_DATA_NAME, S_LMDB_LOCK_NAME};
    char bad[PATH_MAX];
    unsigned uid = 0;
    bad[0] = 0;
    int rc = datadir_private(o->dir, names, sizeof names / sizeof names[0], s_tightened, NULL, bad,
                             sizeof bad, &uid);
    if (rc == ASYLINK_E_KEY_PERMISSIONS)
        LOG_ERROR("store",
                  "data directory entry is owned by another user, or its mode cannot be "
                  "tightened: refusing the store",
                  "path=%s owner_uid=%u broker_uid=%u code=%s hint=%s", LOG_Q(bad), uid,
                  (unsigned)geteuid(), asylink_err_name(rc),
                  LOG_Q("the data directory and its files must belong to the user running "
                        "asylinkd, with no group or other access: chown -R that user, "
                        "chmod 700 the directory and 600 its files"));
    else if (rc != ASYLINK_OK)
        LOG_ERROR("store", "cannot check the data directory's owner and mode",
                  "path=%s error=%s code=%s", LOG_Q(bad),
                  LOG_Q(errno ? strerror(errno)
                              : "not a "
                                "directory or regular file"),
                  asylink_err_name(rc));
    return rc;
}

int store_open(const store_options *o, store **out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    if (!o || !o->dir || !o->dir[0] || !o->map_size ||
        (o->max_map_size && o->max_map_size < o->map_size))
        return ASYLINK_E_INVALID_ARG;
    store *s = calloc(1, sizeof *s);
    if (!s)
        return ASYLINK_E_NOMEM;
    s->lock_fd = -1;
    s->data_lock_fd = -1;
    s->statm_fd = -1;
    if (pthread_mutex_init(&s->release_lock, NULL) != 0) {
        free(s);
        return ASYLINK_E_NOMEM;
    }
    s->dedup_window_ms = o->dedup_window_ms;
    int rc = s_lock(s, o);
    /* A file the broker's user may not open (data.mdb restored by root) fails the lock with
       EACCES: the check below says whose it is and what to do, not just IO. */
    if (rc == ASYLINK_E_IO && (errno == EACCES || errno == EPERM) &&
        s_private(o) == ASYLINK_E_KEY_PERMISSIONS)
        rc = ASYLINK_E_KEY_PERMISSIONS;
    if (rc != ASYLINK_OK)
        goto cleanup;
    rc = s_private(o);
    if (rc != ASYLINK_OK)
        goto cleanup;
    rc = s_env_open(s, o);
    if (rc != ASYLINK_OK)
        goto cleanup;
    rc = s_schema_open(s);
    if (rc != ASYLINK_OK)
        goto cleanup;
    *out = s;
    s = NULL;
cleanup:
    store_close(&s);
    return rc;
}

void store_close(store **self_p)
{
    if (!self_p || !*self_p)
        return;
    store *s = *self_p;
    s_shared_drop(s);
    if (s->env)
        mdb_env_close(s->env);
    if (s->data_lock_fd >= 0)
        close(s->data_lock_fd); /* releases the flocks, once the environment is closed */
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    if (s->statm_fd >= 0)
        close(s->statm_fd);
    pthread_mutex_destroy(&s->release_lock);
    free(s);
    *self_p = NULL;
}

int store_sync(store *s)
{
    if (!s)
        return ASYLINK_E_INVALID_ARG;
    return mdb_env_sync(s->env, 1) == MDB_SUCCESS ? ASYLINK_OK : ASYLINK_E_IO;
}

/* Finds LMDB's map of the data file in /proc/self/maps (LMDB does not say where it is). */
static void s_find_map(store *s, uint64_t map_size)
{
    mdb_filehandle_t fd;
    struct stat st;
    s->map_lo = s->map_hi = 0;
    s->map_seen_size = map_size;
    if (mdb_env_get_fd(s->env, &fd) != MDB_SUCCESS || fstat(fd, &st) != 0)
        return;
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    while (maps && fgets(line, sizeof line, maps)) {
        unsigned long long lo = 0, hi = 0, inode = 0;
        if (sscanf(line, "%llx-%llx %*s %*s %*s %llu", &lo, &hi, &inode) == 3 &&
            inode == (unsigned long long)st.st_ino && hi > lo && strstr(line, "data.mdb")) {
            s->map_lo = (uintptr_t)lo;
            s->map_hi = (uintptr_t)hi;
        }
    }
    if (maps)
        fclose(maps);
}

/*
 * This process's resident KiB, all of it (*total) and of mapped files
 * (*mapped: RssFile + RssShmem), from the second and third fields of
 * /proc/self/statm, in pages, read through a descriptor kept open. false
 * when unknown.
 */
static bool s_resident_kib(store *s, uint64_t *total, uint64_t *mapped)
{
    if (s->statm_fd < 0)
        s->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    char buf[160];
    ssize_t n = s->statm_fd >= 0 ? pread(s->statm_fd, buf, sizeof buf - 1, 0) : -1;
    unsigned long long size = 0, resident = 0, shared = 0;
    long page = sysconf(_SC_PAGESIZE);
    if (n <= 0 || page <= 0)
        return false;
    buf[n] = '\0';
    if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3)
        return false;
    *total = (uint64_t)resident * (uint64_t)(page / 1024);
    *mapped = (uint64_t)shared * (uint64_t)(page / 1024);
    return true;
}

/* store_release_pages(), with need_kib about to be read through the map counted in. */
static void s_unmap(store *s, uint64_t budget_kib, uint64_t floor_kib, uint64_t need_kib)
{
    MDB_envinfo info;
    uint64_t total = 0, mapped = 0;
    if (pthread_mutex_trylock(&s->release_lock) != 0) /* the other thread does it */
        return;
    bool known = budget_kib && s_resident_kib(s, &total, &mapped);
    if (known && total - mapped > s->anon_peak_kib)
        s->anon_peak_kib = total - mapped;
    /* The rest of the process counts at its peak: it may grow back to it
       (a large message's buffers) while the map holds what it holds. */
    if (known && (mapped + s->anon_peak_kib + need_kib <= budget_kib || mapped <= floor_kib)) {
        pthread_mutex_unlock(&s->release_lock);
        return;
    }
    if (mdb_env_info(s->env, &info) == MDB_SUCCESS) {
        if (info.me_mapsize != s->map_seen_size) /* opened or grown: mapped elsewhere */
            s_find_map(s, info.me_mapsize);
        if (s->map_hi > s->map_lo)
            madvise((void *)s->map_lo, s->map_hi - s->map_lo, MADV_DONTNEED);
    }
    pthread_mutex_unlock(&s->release_lock);
}

void store_release_pages(store *s, uint64_t budget_kib, uint64_t floor_kib)
{
    if (s)
        s_unmap(s, budget_kib, floor_kib, 0);
}

void store_release_budget(store *s, uint64_t budget_kib, uint64_t floor_kib)
{
    if (!s)
        return;
    s->release_budget_kib = budget_kib;
    s->release_floor_kib = floor_kib;
}

/*
 * Counts what was read through the map, in pages (a delivery's record and
 * envelope) or operations applied (an acknowledgement's deletion, a
 * publish's B-tree walks: one each), and checks the budget every
 * S_RELEASE_EVERY of them, in whichever thread: the kernel maps 64 KiB or
 * more around each page faulted in (fault-around, large folios), so a group
 * commit's deletions or a turn's deliveries map tens of MiB between two
 * checks of the router's.
 */
static void s_release_tick(store *s, unsigned n)
{
    if (!s->release_budget_kib)
        return;
    unsigned was = atomic_fetch_add_explicit(&s->release_ticks, n, memory_order_relaxed);
    if (was / S_RELEASE_EVERY != (was + n) / S_RELEASE_EVERY) /* n pages are read next */
        s_unmap(s, s->release_budget_kib, s->release_floor_kib, (uint64_t)n * 4);
}

/* ---- batches: recording ----------------------------------------------- */

int store_batch_new(store *s, store_batch **out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    if (!s)
        return ASYLINK_E_INVALID_ARG;
    store_batch *b = calloc(1, sizeof *b);
    if (!b)
        return ASYLINK_E_NOMEM;
    b->s = s;
    *out = b;
    return ASYLINK_OK;
}

void store_batch_destroy(store_batch **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_batch *b = *self_p;
    for (size_t i = 0; i < b->n; i++)
        free(b->ops[i].names);
    free(b->ops);
    free(b->results);
    free(b);
    *self_p = NULL;
}

size_t store_batch_size(const store_batch *b)
{
    return b ? b->n : 0;
}

/* Room for one more operation: a zeroed slot, or NULL (out of memory, committed). */
static s_op *s_batch_add(store_batch *b)
{
    if (!b || b->committed)
        return NULL;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        s_op *ops = realloc(b->ops, cap * sizeof *ops);
        if (!ops)
            return NULL;
        b->ops = ops;
        store_result *results = realloc(b->results, cap * sizeof *results);
        if (!results)
            return NULL;
        b->results = results;
        b->cap = cap;
    }
    memset(&b->results[b->n], 0, sizeof b->results[b->n]);
    s_op *op = &b->ops[b->n++];
    memset(op, 0, sizeof *op);
    return op;
}

int store_batch_publish(store_batch *b, const store_publish *p)
{
    s_op *op = p ? s_batch_add(b) : NULL;
    if (!op)
        return -1;
    op->kind = S_OP_PUBLISH;
    op->publish = *p;
    return (int)(b->n - 1);
}

/*
 * Copies recipient, name and reason (each may be NULL; the reason cut to
 * STORE_REASON_MAX bytes, as the dead letter keeps it) into op: the caller's
 * strings live in a command that is gone by the commit. -1 on out of
 * memory (the op is dropped).
 */
static int s_op_names(store_batch *b, s_op *op, const char *recipient, const char *name,
                      const char *reason)
{
    size_t rlen = recipient ? strnlen(recipient, STORE_NAME_MAX + 1) : 0;
    size_t nlen = name ? strnlen(name, STORE_SUB_NAME_MAX + 1) : 0;
    size_t wlen = reason ? strnlen(reason, STORE_REASON_MAX) : 0;
    op->names = malloc(rlen + nlen + wlen + 3);
    if (!op->names) {
        b->n--;
        return -1;
    }
    memcpy(op->names, recipient ? recipient : "", rlen);
    op->names[rlen] = 0;
    memcpy(op->names + rlen + 1, name ? name : "", nlen);
    op->names[rlen + 1 + nlen] = 0;
    memcpy(op->names + rlen + nlen + 2, reason ? reason : "", wlen);
    op->names[rlen + nlen + 2 + wlen] = 0;
    op->recipient = recipient ? op->names : NULL;
    op->name = name ? op->names + rlen + 1 : NULL;
    op->reason = reason ? op->names + rlen + nlen + 2 : NULL;
    return 0;
}

int store_batch_ack(store_batch *b, const char *recipient, uint64_t seq)
{
    s_op *op = s_batch_add(b);
    if (!op || s_op_names(b, op, recipient, NULL, NULL) != 0)
        return -1;
    op->kind = S_OP_ACK;
    op->seq = seq;
    return (int)(b->n - 1);
}

int store_batch_sub_cursor(store_batch *b, const char *node, const char *name, uint64_t cursor)
{
    s_op *op = s_batch_add(b);
    if (!op || s_op_names(b, op, node, name, NULL) != 0)
        return -1;
    op->kind = S_OP_SUB_CURSOR;
    op->seq = cursor;
    return (int)(b->n - 1);
}

int store_batch_retry(store_batch *b, const char *recipient, uint64_t seq, uint64_t next_attempt_ms,
                      uint32_t max_attempts, int code, const char *reason)
{
    s_op *op = s_batch_add(b);
    if (!op || s_op_names(b, op, recipient, NULL, reason) != 0)
        return -1;
    op->kind = S_OP_RETRY;
    op->seq = seq;
    op->next_attempt_ms = next_attempt_ms;
    op->max_attempts = max_attempts;
    op->code = code;
    return (int)(b->n - 1);
}

int store_batch_retry_backoff(store_batch *b, const char *recipient, uint64_t seq,
                              const store_backoff *bo, uint32_t max_attempts, int code,
                              const char *reason)
{
    if (!bo)
        return -1;
    int i = store_batch_retry(b, recipient, seq, 0, max_attempts, code, reason);
    if (i >= 0) {
        b->ops[i].backoff = *bo;
        b->ops[i].has_backoff = true;
        b->ops[i].node_reason = true;
    }
    return i;
}

uint64_t store_backoff_delay(const store_backoff *bo, uint32_t attempts)
{
    uint64_t d = bo->base_ms;
    for (uint32_t i = 1; i < attempts && d > 0 && d < bo->max_ms && d <= UINT64_MAX / 2; i++)
        d *= 2;
    if (d > bo->max_ms)
        d = bo->max_ms;
    return bo->min_ms > d ? bo->min_ms : d;
}

int store_batch_dead_letter(store_batch *b, const char *recipient, uint64_t seq, int code,
                            const char *reason)
{
    s_op *op = s_batch_add(b);
    if (!op || s_op_names(b, op, recipient, NULL, reason) != 0)
        return -1;
    op->kind = S_OP_DEAD;
    op->seq = seq;
    op->code = code;
    op->node_reason = true;
    return (int)(b->n - 1);
}

const store_result *store_batch_result(const store_batch *b, size_t i)
{
    return b && i < b->n ? &b->results[i] : NULL;
}

/* ---- operations inside a write transaction ------------------------------ */

/* Whether recipient i of p already appears before it. */
static bool s_recipient_repeated(const store_publish *p, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(p->recipients[j], p->recipients[i]) == 0)
            return true;
    return false;
}

/* Validates a publish; sets the sender's and the recipients block's lengths. */
static int s_publish_check(const store_publish *p, size_t *sender_len, size_t *recipients_len)
{
    *sender_len = s_name_len(p->sender);
    *recipients_len = 0;
    bool topic = p->topic && p->topic[0];
    if (topic && (p->n_recipients != 0 || strnlen(p->topic, STORE_TOPIC_MAX + 1) > STORE_TOPIC_MAX))
        return ASYLINK_E_BAD_FIELD;
    if (!*sender_len || !p->message_id || (!topic && (!p->recipients || p->n_recipients == 0)) ||
        p->n_recipients > UINT32_MAX || (!p->envelope && p->envelope_len))
        return ASYLINK_E_BAD_FIELD;
    for (size_t i = 0; i < p->n_recipients; i++) {
        size_t len = s_name_len(p->recipients[i]);
        if (!len || s_recipient_repeated(p, i))
            return ASYLINK_E_BAD_FIELD;
        *recipients_len += len + 1;
    }
    /* An LMDB value is at most 4 GiB - 1 (32-bit node size). */
    uint64_t fixed = S_RECORD_HEADER + (uint64_t)*sender_len + *recipients_len;
    if (fixed > UINT32_MAX || p->envelope_len > UINT32_MAX - fixed)
        return ASYLINK_E_TOO_LARGE;
    return ASYLINK_OK;
}

/* Fills a duplicate's result from its dedup value; a tombstone refuses the publish. */
static int s_publish_duplicate(const MDB_val *v, store_result *r)
{
    if (v->mv_size == S_DEDUP_TOMB_LEN) {
        r->code = ASYLINK_E_PURGED; /* erased on request: never stored again */
        return MDB_SUCCESS;
    }
    if (v->mv_size != S_DEDUP_VALUE_LEN)
        return S_BAD_RECORD;
    r->duplicate = true;
    r->seq = bytes_get_le(v->mv_data, 8);
    r->accepted_ms = bytes_get_le((const uint8_t *)v->mv_data + 8, 8);
    return MDB_SUCCESS;
}

/* Stores p's record under seq (appended: seq is above every key). */
static int s_msgs_append(store *s, MDB_txn *txn, const store_publish *p, uint64_t seq,
                         size_t sender_len, size_t recipients_len, uint64_t now_ms)
{
    uint8_t key[S_SEQ_LEN];
    bytes_put_be64(key, seq);
    MDB_val k = {sizeof key, key};
    MDB_val v = {S_RECORD_HEADER + sender_len + recipients_len + p->envelope_len, NULL};
    int rc = mdb_put(txn, s->msgs, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc == MDB_SUCCESS)
        s_record_encode(v.mv_data, p, sender_len, recipients_len, now_ms);
    return rc;
}

/* Writes a queue value. */
static void s_queue_value(uint8_t *v, uint32_t attempts, uint64_t next_attempt_ms)
{
    bytes_put_le(v, attempts, 4);
    bytes_put_le(v + 4, 0, 4);
    bytes_put_le(v + 8, next_attempt_ms, 8);
}

/* Queues seq for every recipient of p, due now. */
static int s_queue_all(store *s, MDB_txn *txn, const store_publish *p, uint64_t seq)
{
    uint8_t val[S_QUEUE_VALUE_LEN];
    s_queue_value(val, 0, 0);
    for (size_t i = 0; i < p->n_recipients; i++) {
        uint8_t key[S_KEY_MAX];
        size_t klen = s_name_seq_key(key, p->recipients[i], seq);
        int rc = s_put(txn, s->queue, key, klen, val, sizeof val);
        if (rc != MDB_SUCCESS)
            return rc;
    }
    return MDB_SUCCESS;
}

/* Writes the expiry index entry of (expires_ms, seq); none when it never expires. */
static int s_expiry_put(store *s, MDB_txn *txn, uint64_t expires_ms, uint64_t seq)
{
    if (expires_ms == 0)
        return MDB_SUCCESS;
    uint8_t key[S_EXPIRY_KEY_LEN];
    bytes_put_be64(key, expires_ms);
    bytes_put_be64(key + 8, seq);
    return s_put(txn, s->expiry, key, sizeof key, "", 0);
}

/* Lengths of a checked publish's variable parts. */
typedef struct publish_lens {
    size_t sender;     /* sender id bytes */
    size_t recipients; /* recipients block bytes */
} publish_lens;

/*
 * Stores a new message whose dedup entry is written: record, queue entries,
 * expiry entry, feed entry.
 */
static int s_publish_new(store *s, MDB_txn *txn, store_batch *b, const store_publish *p,
                         const publish_lens *lens, store_result *r)
{
    size_t sender_len = lens->sender, recipients_len = lens->recipients;
    uint64_t seq = b->next_seq;
    int rc = s_msgs_append(s, txn, p, seq, sender_len, recipients_len, b->now_ms);
    if (rc == MDB_SUCCESS)
        rc = s_queue_all(s, txn, p, seq);
    if (rc == MDB_SUCCESS)
        rc = s_expiry_put(s, txn, p->expires_ms, seq);
    if (rc == MDB_SUCCESS && p->topic && p->topic[0]) {
        uint8_t fkey[S_SEQ_LEN];
        bytes_put_be64(fkey, seq);
        rc = s_put(txn, s->feed, fkey, sizeof fkey, p->topic, strlen(p->topic));
    }
    if (rc != MDB_SUCCESS)
        return rc;
    b->next_seq++;
    r->seq = seq;
    r->accepted_ms = b->now_ms;
    return MDB_SUCCESS;
}

/* Publish: a duplicate of a known (sender, message_id), or a new message. */
static int s_publish(store *s, MDB_txn *txn, store_batch *b, const store_publish *p,
                     store_result *r)
{
    publish_lens lens;
    r->code = s_publish_check(p, &lens.sender, &lens.recipients);
    if (r->code != ASYLINK_OK)
        return MDB_SUCCESS;
    size_t sender_len = lens.sender;
    uint8_t key[S_KEY_MAX];
    memcpy(key, p->sender, sender_len);
    key[sender_len] = 0;
    memcpy(key + sender_len + 1, p->message_id, S_ID_LEN);
    /* The dedup entry goes first, only if there is none (one lookup, not a get
       and a put); any failure after it fails the whole transaction. */
    uint8_t dval[S_DEDUP_VALUE_LEN];
    bytes_put_le(dval, b->next_seq, 8);
    bytes_put_le(dval + 8, b->now_ms, 8);
    MDB_val k = {sender_len + 1 + S_ID_LEN, key}, v = {sizeof dval, dval};
    int rc = mdb_put(txn, s->dedup, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) /* v: the stored entry */
        return s_publish_duplicate(&v, r);
    if (rc != MDB_SUCCESS)
        return rc;
    return s_publish_new(s, txn, b, p, &lens, r);
}

/* Deletes seq's record and its expiry index entry. */
static int s_message_delete(store *s, MDB_txn *txn, uint64_t seq, uint64_t expires_ms)
{
    uint8_t key[S_EXPIRY_KEY_LEN];
    bytes_put_be64(key, expires_ms);
    bytes_put_be64(key + 8, seq);
    int rc = s_del_if(txn, s->msgs, key + 8, S_SEQ_LEN, NULL);
    if (rc == MDB_SUCCESS && expires_ms)
        rc = s_del_if(txn, s->expiry, key, sizeof key, NULL);
    return rc;
}

/* Rewrites seq's record (v, as read) with a new n_pending. */
static int s_record_set_pending(store *s, MDB_txn *txn, uint64_t seq, const MDB_val *v,
                                uint32_t n_pending)
{
    uint8_t *copy = malloc(v->mv_size);
    if (!copy)
        return ENOMEM;
    memcpy(copy, v->mv_data, v->mv_size);
    bytes_put_le(copy + 4, n_pending, 4);
    uint8_t key[S_SEQ_LEN];
    bytes_put_be64(key, seq);
    int rc = s_put(txn, s->msgs, key, sizeof key, copy, v->mv_size);
    free(copy);
    return rc;
}

/* One recipient is done with seq (its record v, r as read): n_pending - 1, or the message goes. */
static int s_release_read(store *s, MDB_txn *txn, uint64_t seq, const MDB_val *v,
                          const store_record *r)
{
    if (r->n_pending > 1)
        return s_record_set_pending(s, txn, seq, v, r->n_pending - 1);
    return s_message_delete(s, txn, seq, r->expires_ms);
}

/*
 * One recipient is done with seq: n_pending - 1, or the message goes when
 * none is left. S_BAD_RECORD (nothing changed) if the record is invalid; a
 * missing record is left alone.
 */
static int s_release(store *s, MDB_txn *txn, uint64_t seq)
{
    MDB_val v;
    store_record r;
    int rc = s_record_get(s, txn, seq, &v, &r);
    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (rc != MDB_SUCCESS)
        return rc;
    return s_release_read(s, txn, seq, &v, &r);
}

/* Looks up recipient's entry seq in dbi (queue or dlq); the key goes to key/k. */
static int s_entry_get(MDB_txn *txn, MDB_dbi dbi, const char *recipient, uint64_t seq, uint8_t *key,
                       MDB_val *k, MDB_val *v)
{
    k->mv_size = s_name_seq_key(key, recipient, seq);
    k->mv_data = key;
    if (!k->mv_size)
        return EINVAL;
    return mdb_get(txn, dbi, k, v);
}

/* Reads the attempts of a queue value; S_BAD_RECORD if malformed. */
static int s_queue_attempts(const MDB_val *v, uint32_t *attempts)
{
    if (v->mv_size != S_QUEUE_VALUE_LEN)
        return S_BAD_RECORD;
    *attempts = (uint32_t)bytes_get_le(v->mv_data, 4);
    return MDB_SUCCESS;
}

/* Moves the queue entry under k to the dead letters. */
static int s_to_dlq(store *s, MDB_txn *txn, MDB_val *k, uint32_t attempts, int code,
                    const char *reason, uint64_t now_ms)
{
    uint8_t val[S_DLQ_VALUE_MIN + STORE_REASON_MAX];
    size_t reason_len = reason ? strnlen(reason, STORE_REASON_MAX) : 0;
    bytes_put_le(val, (uint32_t)code, 4);
    bytes_put_le(val + 4, attempts, 4);
    bytes_put_le(val + 8, now_ms, 8);
    if (reason_len)
        memcpy(val + S_DLQ_VALUE_MIN, reason, reason_len);
    int rc = s_put(txn, s->dlq, k->mv_data, k->mv_size, val, S_DLQ_VALUE_MIN + reason_len);
    if (rc == MDB_SUCCESS)
        rc = mdb_del(txn, s->queue, k, NULL);
    return rc;
}

/* Retry: one more failed attempt; dead letter at max_attempts. */
static int s_retry(store *s, MDB_txn *txn, const s_op *op, uint64_t now_ms, store_result *r)
{
    uint8_t key[S_KEY_MAX];
    MDB_val k, v;
    uint32_t attempts = 0;
    int rc = s_entry_get(txn, s->queue, op->recipient, op->seq, key, &k, &v);
    if (rc == MDB_SUCCESS)
        rc = s_queue_attempts(&v, &attempts);
    if (rc != MDB_SUCCESS)
        return rc;
    if (attempts < UINT32_MAX)
        attempts++;
    r->attempts = attempts;
    if (op->max_attempts && attempts >= op->max_attempts) {
        r->dead = true;
        return s_to_dlq(s, txn, &k, attempts, op->code, op->reason, now_ms);
    }
    uint64_t next = op->next_attempt_ms;
    if (op->has_backoff)
        next = op->backoff.since_ms + store_backoff_delay(&op->backoff, attempts);
    r->next_attempt_ms = next;
    uint8_t val[S_QUEUE_VALUE_LEN];
    s_queue_value(val, attempts, next);
    return s_put(txn, s->queue, key, k.mv_size, val, sizeof val);
}

/*
 * Dead letter: move the queue entry to the dead letters now. Only a
 * recipient's refusal of a delivery does this (Nack DEAD_LETTER), so that
 * delivery counts as an attempt: the dead letter says the message reached
 * the recipient (attempts >= 1), not that it was never tried.
 */
static int s_dead_letter(store *s, MDB_txn *txn, const s_op *op, uint64_t now_ms, store_result *r)
{
    uint8_t key[S_KEY_MAX];
    MDB_val k, v;
    uint32_t attempts = 0;
    int rc = s_entry_get(txn, s->queue, op->recipient, op->seq, key, &k, &v);
    if (rc == MDB_SUCCESS)
        rc = s_queue_attempts(&v, &attempts);
    if (rc != MDB_SUCCESS)
        return rc;
    if (attempts < UINT32_MAX)
        attempts++;
    r->dead = true;
    r->attempts = attempts;
    return s_to_dlq(s, txn, &k, attempts, op->code, op->reason, now_ms);
}

/* ---- subscriptions: keys and values ---------------------------------------- */

#define S_SUB_KEY_MAX (STORE_NAME_MAX + 1 + STORE_SUB_NAME_MAX)
#define S_SUB_VALUE_MIN 16

/* Writes node '\0' name into key (S_SUB_KEY_MAX bytes); its length, or 0 if invalid. */
static size_t s_sub_key(uint8_t *key, const char *node, const char *name)
{
    size_t nlen = s_name_len(node);
    size_t slen = name ? strnlen(name, STORE_SUB_NAME_MAX + 1) : 0;
    if (!nlen || slen == 0 || slen > STORE_SUB_NAME_MAX)
        return 0;
    memcpy(key, node, nlen);
    key[nlen] = 0;
    memcpy(key + nlen + 1, name, slen);
    return nlen + 1 + slen;
}

bool store_sub_decode(const uint8_t *p, size_t len, store_sub *out)
{
    size_t plen = len > S_SUB_VALUE_MIN ? len - S_SUB_VALUE_MIN : 0;
    if (plen == 0 || plen > STORE_TOPIC_MAX || memchr(p + S_SUB_VALUE_MIN, 0, plen))
        return false;
    out->cursor = bytes_get_le(p, 8);
    out->created_ms = bytes_get_le(p + 8, 8);
    memcpy(out->prefix, p + S_SUB_VALUE_MIN, plen);
    out->prefix[plen] = 0;
    return true;
}

/* Decodes a subs value; 0 or S_BAD_RECORD. */
static int s_sub_parse(const MDB_val *v, store_sub *out)
{
    return store_sub_decode(v->mv_data, v->mv_size, out) ? MDB_SUCCESS : S_BAD_RECORD;
}

/* Writes a subs value for sub into val (S_SUB_VALUE_MIN + STORE_TOPIC_MAX bytes); its length. */
static size_t s_sub_value(uint8_t *val, const store_sub *sub)
{
    size_t plen = strnlen(sub->prefix, STORE_TOPIC_MAX);
    bytes_put_le(val, sub->cursor, 8);
    bytes_put_le(val + 8, sub->created_ms, 8);
    memcpy(val + S_SUB_VALUE_MIN, sub->prefix, plen);
    return S_SUB_VALUE_MIN + plen;
}

/* Sets the cursor of an existing subscription; MDB_NOTFOUND if there is none. */
static int s_sub_set_cursor(store *s, MDB_txn *txn, const char *node, const char *name,
                            uint64_t cursor)
{
    uint8_t key[S_SUB_KEY_MAX], val[S_SUB_VALUE_MIN + STORE_TOPIC_MAX];
    size_t klen = s_sub_key(key, node, name);
    if (!klen)
        return EINVAL;
    MDB_val k = {klen, key}, v;
    store_sub sub;
    int rc = mdb_get(txn, s->subs, &k, &v);
    if (rc == MDB_SUCCESS)
        rc = s_sub_parse(&v, &sub);
    if (rc != MDB_SUCCESS)
        return rc;
    sub.cursor = cursor;
    size_t vlen = s_sub_value(val, &sub);
    return s_put(txn, s->subs, key, klen, val, vlen);
}

/* ---- audit events (store.h, "audit hooks") ------------------------------- */

/* What an operation's audit record says about its message, read before the change. */
typedef struct s_audit_meta {
    bool found;                      /* the message record exists */
    uint8_t message_id[S_ID_LEN];    /* its id */
    char sender[STORE_NAME_MAX + 1]; /* its sender */
    uint64_t envelope_len;           /* its envelope's size */
} s_audit_meta;

/* Copies what the audit record names of a message record r into m. */
static void s_audit_meta_fill(const store_record *r, s_audit_meta *m)
{
    m->found = true;
    memcpy(m->message_id, r->message_id, S_ID_LEN);
    memcpy(m->sender, r->sender, r->sender_len);
    m->sender[r->sender_len] = 0;
    m->envelope_len = r->envelope_len;
}

/* Reads seq's message for its audit record (only when an audit trail listens). */
static void s_audit_meta_read(store *s, MDB_txn *txn, uint64_t seq, s_audit_meta *m)
{
    MDB_val v;
    store_record r;
    m->found = false;
    if (s->audit.event && s_record_get(s, txn, seq, &v, &r) == MDB_SUCCESS)
        s_audit_meta_fill(&r, m);
}

/*
 * Ack: drops recipient's queue entry seq and releases the message, reading
 * its record once, for the release and for the audit record (m, when an
 * audit trail listens).
 */
static int s_ack(store *s, MDB_txn *txn, const char *recipient, uint64_t seq, s_audit_meta *m)
{
    uint8_t key[S_KEY_MAX];
    MDB_val k, qv, v;
    store_record r;
    int rc = s_entry_get(txn, s->queue, recipient, seq, key, &k, &qv);
    if (rc != MDB_SUCCESS)
        return rc;
    rc = s_record_get(s, txn, seq, &v, &r);
    if (rc == MDB_SUCCESS) {
        if (s->audit.event)
            s_audit_meta_fill(&r, m);
        rc = s_release_read(s, txn, seq, &v, &r);
    } else if (rc == MDB_NOTFOUND) {
        rc = MDB_SUCCESS; /* a missing record is left alone (s_release) */
    }
    if (rc == MDB_SUCCESS)
        rc = mdb_del(txn, s->queue, &k, NULL);
    return rc;
}

/* Hands ev (with m's message, if any) to the audit trail; an LMDB code. */
static int s_audit_emit(store *s, MDB_txn *txn, store_audit_event *ev, const s_audit_meta *m)
{
    if (!s->audit.event)
        return MDB_SUCCESS;
    if (m && m->found) {
        ev->message_id = m->message_id;
        ev->sender = m->sender;
        ev->envelope_len = m->envelope_len;
    }
    return s->audit.event(s->audit.ctx, txn, ev);
}

/* The audit event of a batch operation that changed the store (or a publish). */
static int s_audit_op(store *s, MDB_txn *txn, const store_batch *b, const s_op *op,
                      const store_result *r, const s_audit_meta *m)
{
    store_audit_event ev = {.now_ms = b->now_ms,
                            .result = r,
                            .node = op->recipient,
                            .seq = op->seq,
                            .code = op->code,
                            .reason = op->reason,
                            .node_reason = op->node_reason,
                            .attempts = r->attempts};
    switch (op->kind) {
    case S_OP_PUBLISH:
        ev.kind = r->code != ASYLINK_OK ? AUDIT_REJECTED
                  : r->duplicate        ? AUDIT_DUPLICATE
                                        : AUDIT_ACCEPTED;
        ev.publish = &op->publish;
        ev.node = NULL;
        ev.seq = r->seq;
        ev.code = r->code;
        ev.reason = NULL;
        return s_audit_emit(s, txn, &ev, NULL);
    case S_OP_ACK:
        ev.kind = AUDIT_ACKED;
        ev.code = 0;
        ev.reason = NULL;
        break;
    case S_OP_RETRY: ev.kind = r->dead ? AUDIT_DEAD_LETTERED : AUDIT_NACKED; break;
    case S_OP_SUB_CURSOR:
        ev.kind = AUDIT_CURSOR;
        ev.name = op->name;
        ev.count = op->seq;
        ev.seq = 0;
        ev.code = 0;
        break;
    default: ev.kind = AUDIT_DEAD_LETTERED; break;
    }
    if (r->code != ASYLINK_OK)
        return MDB_SUCCESS; /* nothing changed: nothing to record */
    return s_audit_emit(s, txn, &ev, m);
}

/* Applies one operation; its outcome goes to r, a fatal LMDB code is returned. */
static int s_apply_op(store *s, MDB_txn *txn, store_batch *b, const s_op *op, store_result *r)
{
    int rc;
    memset(r, 0, sizeof *r);
    if ((op->kind != S_OP_PUBLISH && !s_name_len(op->recipient)) ||
        (op->kind == S_OP_SUB_CURSOR &&
         !s_sub_key((uint8_t[S_SUB_KEY_MAX]){0}, op->recipient, op->name))) {
        r->code = ASYLINK_E_INVALID_ARG;
        return MDB_SUCCESS;
    }
    s_release_tick(s, 1);
    s_audit_meta m = {0};
    if (op->kind != S_OP_PUBLISH && op->kind != S_OP_SUB_CURSOR && op->kind != S_OP_ACK)
        s_audit_meta_read(s, txn, op->seq, &m); /* an ack reads it itself */
    switch (op->kind) {
    case S_OP_PUBLISH: {
        /* Near a full disk the reserve is kept for acks, which free space. */
        uint64_t need = op->publish.envelope_len + S_PAGE_SLACK;
        if (b->no_publish || b->room < need) {
            r->code = ASYLINK_E_STORE_FULL;
            return MDB_SUCCESS;
        }
        b->room -= need;
        rc = s_publish(s, txn, b, &op->publish, r);
        break;
    }
    case S_OP_ACK: rc = s_ack(s, txn, op->recipient, op->seq, &m); break;
    case S_OP_RETRY: rc = s_retry(s, txn, op, b->now_ms, r); break;
    case S_OP_SUB_CURSOR: rc = s_sub_set_cursor(s, txn, op->recipient, op->name, op->seq); break;
    default: rc = s_dead_letter(s, txn, op, b->now_ms, r); break;
    }
    rc = s_outcome(rc, &r->code);
    if (r->code != ASYLINK_OK) {
        r->dead = false;
        r->attempts = 0;
        r->next_attempt_ms = 0;
    }
    return rc == MDB_SUCCESS ? s_audit_op(s, txn, b, op, r, &m) : rc;
}

/* s_write() apply for a batch: every operation in order, then the high-water mark. */
static int s_batch_apply(store *s, MDB_txn *txn, void *arg)
{
    store_batch *b = arg;
    b->next_seq = s->next_seq;
    b->room = b->room_start;
    for (size_t i = 0; i < b->n; i++) {
        int rc = s_apply_op(s, txn, b, &b->ops[i], &b->results[i]);
        if (rc != MDB_SUCCESS)
            return rc;
    }
    if (b->next_seq == s->next_seq)
        return MDB_SUCCESS;
    return s_meta_put(s, txn, S_META_HWM, b->next_seq - 1, 8);
}

/* Whether the batch holds publishes and other operations. */
static bool s_batch_mixed(const store_batch *b)
{
    bool publish = false, other = false;
    for (size_t i = 0; i < b->n; i++) {
        publish |= b->ops[i].kind == S_OP_PUBLISH;
        other |= b->ops[i].kind != S_OP_PUBLISH;
    }
    return publish && other;
}

/* store_batch_commit(), or detached (see store_batch_commit_detached()). */
static int s_batch_commit(store_batch *b, uint64_t now_ms, bool detached)
{
    if (!b || b->committed)
        return ASYLINK_E_INVALID_ARG;
    store *s = b->s;
    b->now_ms = now_ms;
    b->next_seq = s->next_seq;
    b->no_publish = false;
    b->room_start = UINT64_MAX;
    for (size_t i = 0; i < b->n; i++) {
        if (b->ops[i].kind == S_OP_PUBLISH) {
            if (!detached)
                s_shared_drop(s);
            b->room_start = s_room(s);
            break;
        }
    }
    int rc = b->n ? s_write_ex(s, s_batch_apply, b, detached) : MDB_SUCCESS;
    if (rc != S_RETRY_SYNC && s_err(rc) == ASYLINK_E_STORE_FULL && s_batch_mixed(b)) {
        /* Full: the acks, retries and cursor moves still go in (acks free
         * space), the publishes get STORE_FULL and are retried by their senders. */
        b->no_publish = true;
        rc = s_write_ex(s, s_batch_apply, b, detached);
    }
    if (rc == S_RETRY_SYNC)
        return S_RETRY_SYNC; /* nothing applied; the results are filled by the retry */
    if (rc != MDB_SUCCESS) {
        int code = s_err(rc);
        for (size_t i = 0; i < b->n; i++) {
            memset(&b->results[i], 0, sizeof b->results[i]);
            b->results[i].code = code;
        }
        return code;
    }
    s->next_seq = b->next_seq;
    b->committed = true;
    return ASYLINK_OK;
}

int store_batch_commit(store_batch *b, uint64_t now_ms)
{
    return s_batch_commit(b, now_ms, false);
}

int store_batch_commit_detached(store_batch *b, uint64_t now_ms, bool *retry)
{
    *retry = false;
    int rc = s_batch_commit(b, now_ms, true);
    if (rc != S_RETRY_SYNC)
        return rc;
    *retry = true;
    return ASYLINK_E_UNAVAILABLE;
}

void store_set_write_barrier(store *s, void (*fn)(void *ctx), void *ctx)
{
    if (!s)
        return;
    s->barrier = fn;
    s->barrier_ctx = fn ? ctx : NULL;
}

/* ---- dead letter replay and drop ---------------------------------------- */

/* Context of a single dead letter operation. */
typedef struct dlq_ctx {
    const char *recipient; /* whose dead letter */
    uint64_t seq;          /* which message */
    int code;              /* outcome */
} dlq_ctx;

/* The audit event of a dead letter replayed or dropped (when it was). */
static int s_dlq_audit(store *s, MDB_txn *txn, const dlq_ctx *c, int kind, const s_audit_meta *m,
                       int rc)
{
    if (rc != MDB_SUCCESS || c->code != ASYLINK_OK)
        return rc;
    store_audit_event ev = {.kind = kind, .node = c->recipient, .seq = c->seq};
    return s_audit_emit(s, txn, &ev, m);
}

/* s_write() apply: dead letter back to the queue, attempts 0, due now. */
static int s_replay_apply(store *s, MDB_txn *txn, void *arg)
{
    dlq_ctx *c = arg;
    uint8_t key[S_KEY_MAX], val[S_QUEUE_VALUE_LEN];
    MDB_val k, v, mv;
    store_record r;
    s_audit_meta m = {0};
    c->code = ASYLINK_OK;
    s_audit_meta_read(s, txn, c->seq, &m);
    int rc = s_entry_get(txn, s->dlq, c->recipient, c->seq, key, &k, &v);
    if (rc == MDB_SUCCESS)
        rc = s_record_get(s, txn, c->seq, &mv, &r);
    s_queue_value(val, 0, 0);
    if (rc == MDB_SUCCESS)
        rc = s_put(txn, s->queue, key, k.mv_size, val, sizeof val);
    if (rc == MDB_SUCCESS)
        rc = mdb_del(txn, s->dlq, &k, NULL);
    rc = s_outcome(rc, &c->code);
    return s_dlq_audit(s, txn, c, AUDIT_DLQ_REPLAYED, &m, rc);
}

/* s_write() apply: dead letter removed for good, the message released. */
static int s_drop_apply(store *s, MDB_txn *txn, void *arg)
{
    dlq_ctx *c = arg;
    uint8_t key[S_KEY_MAX];
    MDB_val k, v;
    s_audit_meta m = {0};
    c->code = ASYLINK_OK;
    s_audit_meta_read(s, txn, c->seq, &m);
    int rc = s_entry_get(txn, s->dlq, c->recipient, c->seq, key, &k, &v);
    if (rc == MDB_SUCCESS)
        rc = s_release(s, txn, c->seq);
    if (rc == MDB_SUCCESS)
        rc = mdb_del(txn, s->dlq, &k, NULL);
    rc = s_outcome(rc, &c->code);
    return s_dlq_audit(s, txn, c, AUDIT_DLQ_DROPPED, &m, rc);
}

/* Runs a dead letter operation in its own write transaction. */
static int s_dlq_write(store *s, const char *recipient, uint64_t seq, s_apply_fn apply)
{
    if (!s || !s_name_len(recipient))
        return ASYLINK_E_INVALID_ARG;
    dlq_ctx c = {recipient, seq, ASYLINK_OK};
    int rc = s_write(s, apply, &c);
    return rc == MDB_SUCCESS ? c.code : s_err(rc);
}

int store_dead_letter_replay(store *s, const char *recipient, uint64_t seq)
{
    return s_dlq_write(s, recipient, seq, s_replay_apply);
}

int store_dead_letter_drop(store *s, const char *recipient, uint64_t seq)
{
    return s_dlq_write(s, recipient, seq, s_drop_apply);
}

/* ---- sweep -------------------------------------------------------------- */

/* State of one sweep; reset by every (re)run of its transaction. */
typedef struct sweep_ctx {
    uint64_t now_ms;           /* sweep time */
    size_t budget;             /* items allowed */
    size_t used;               /* items spent */
    store_sweep_stats stats;   /* what was removed */
    uint8_t cursor[S_KEY_MAX]; /* dedup scan position, copied to the store on commit */
    size_t cursor_len;         /* its length; 0 = from the first */
    bool wrapped;              /* the dedup scan reached the end */
} sweep_ctx;

/* Removes seq's queue and dead letter entries of every recipient in the block. */
static int s_drop_recipients(store *s, MDB_txn *txn, uint64_t seq, const char *block, size_t len,
                             store_sweep_stats *stats)
{
    for (size_t off = 0; off < len;) {
        const char *name = block + off;
        uint8_t key[S_KEY_MAX];
        size_t klen = s_name_seq_key(key, name, seq);
        bool queued = false;
        int rc = s_del_if(txn, s->queue, key, klen, &queued);
        if (rc == MDB_SUCCESS)
            rc = s_del_if(txn, s->dlq, key, klen, NULL);
        if (rc != MDB_SUCCESS)
            return rc;
        stats->expired += queued;
        off += strlen(name) + 1;
    }
    return MDB_SUCCESS;
}

/*
 * Deletes an expired message everywhere. A missing or invalid record is left
 * alone (its index entry still goes, so the sweep moves on; an invalid
 * record stays for the operator).
 */
static int s_expire_message(store *s, MDB_txn *txn, uint64_t seq, store_sweep_stats *stats)
{
    MDB_val v;
    store_record r;
    int rc = s_record_get(s, txn, seq, &v, &r);
    if (rc == MDB_NOTFOUND || rc == S_BAD_RECORD)
        return MDB_SUCCESS;
    if (rc != MDB_SUCCESS)
        return rc;
    uint64_t expires_ms = r.expires_ms;
    size_t len = r.recipients_len;
    s_audit_meta m = {0};
    s_audit_meta_read(s, txn, seq, &m);
    uint64_t before = stats->expired + stats->feed_expired;
    char *block = malloc(len); /* a copy: the writes below invalidate r's pointers */
    if (!block)
        return ENOMEM;
    memcpy(block, r.recipients, len);
    rc = s_drop_recipients(s, txn, seq, block, len, stats);
    if (rc == MDB_SUCCESS && r.n_recipients == 0) { /* a feed message */
        uint8_t fkey[S_SEQ_LEN];
        bool dropped = false;
        bytes_put_be64(fkey, seq);
        rc = s_del_if(txn, s->feed, fkey, sizeof fkey, &dropped);
        stats->feed_expired += dropped;
    }
    if (rc == MDB_SUCCESS)
        rc = s_message_delete(s, txn, seq, expires_ms);
    free(block);
    store_audit_event ev = {
        .kind = AUDIT_EXPIRED, .seq = seq, .count = stats->expired + stats->feed_expired - before};
    return rc == MDB_SUCCESS ? s_audit_emit(s, txn, &ev, &m) : rc;
}

/* Expired messages first in the expiry index, while the budget lasts. */
static int s_sweep_expired(store *s, MDB_txn *txn, sweep_ctx *c)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->expiry, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    while (rc == MDB_SUCCESS && c->used < c->budget) {
        MDB_val k, v;
        uint8_t key[S_EXPIRY_KEY_LEN];
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc != MDB_SUCCESS)
            break;
        if (k.mv_size != S_EXPIRY_KEY_LEN) { /* not an index key: drop it */
            rc = mdb_cursor_del(cur, 0);
            c->used++;
            continue;
        }
        memcpy(key, k.mv_data, sizeof key);
        if (bytes_get_be64(key) > c->now_ms)
            break;
        s_release_tick(s, 1);
        rc = s_expire_message(s, txn, bytes_get_be64(key + 8), &c->stats);
        if (rc == MDB_SUCCESS)
            rc = s_del_if(txn, s->expiry, key, sizeof key, NULL);
        c->used++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

/*
 * Whether a dedup value is older than the window: from acceptance, or for
 * a tombstone from the purge (a malformed one is kept).
 */
static bool s_dedup_stale(const MDB_val *v, uint64_t now_ms, uint64_t window_ms)
{
    if (v->mv_size != S_DEDUP_VALUE_LEN && v->mv_size != S_DEDUP_TOMB_LEN)
        return false;
    size_t off = v->mv_size == S_DEDUP_TOMB_LEN ? 16 : 8;
    uint64_t since_ms = bytes_get_le((const uint8_t *)v->mv_data + off, 8);
    return since_ms <= now_ms && now_ms - since_ms >= window_ms;
}

/* Positions cur on the first dedup key after the saved cursor. */
static int s_dedup_seek(MDB_cursor *cur, sweep_ctx *c, MDB_val *k, MDB_val *v)
{
    if (c->cursor_len == 0)
        return mdb_cursor_get(cur, k, v, MDB_FIRST);
    k->mv_size = c->cursor_len;
    k->mv_data = c->cursor;
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS && k->mv_size == c->cursor_len &&
        memcmp(k->mv_data, c->cursor, c->cursor_len) == 0)
        rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    return rc;
}

/* Examines dedup entries from the saved cursor on, deleting stale ones. */
static int s_sweep_dedup(store *s, MDB_txn *txn, sweep_ctx *c)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, s->dedup, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    rc = s_dedup_seek(cur, c, &k, &v);
    while (rc == MDB_SUCCESS && c->used < c->budget) {
        c->used++;
        c->stats.dedup_examined++;
        s_release_tick(s, 1); /* its leaf pages lie anywhere in the file */
        if (k.mv_size <= S_KEY_MAX) {
            memcpy(c->cursor, k.mv_data, k.mv_size);
            c->cursor_len = k.mv_size;
        }
        if (k.mv_size > S_KEY_MAX || !s_dedup_stale(&v, c->now_ms, s->dedup_window_ms)) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        rc = mdb_cursor_del(cur, 0);
        if (rc == MDB_SUCCESS) {
            c->stats.dedup_dropped++;
            rc = s_dedup_seek(cur, c, &k, &v); /* the deleted key is gone: its successor */
        }
    }
    if (rc == MDB_NOTFOUND) { /* the end: the next sweep starts over */
        c->cursor_len = 0;
        c->wrapped = true;
        rc = MDB_SUCCESS;
    }
    mdb_cursor_close(cur);
    MDB_stat ms;
    if (rc == MDB_SUCCESS && mdb_stat(txn, s->dedup, &ms) == MDB_SUCCESS)
        c->stats.dedup_entries = ms.ms_entries;
    return rc;
}

/* s_write() apply for store_sweep(). */
static int s_sweep_apply(store *s, MDB_txn *txn, void *arg)
{
    sweep_ctx *c = arg;
    c->used = 0;
    c->wrapped = false;
    memset(&c->stats, 0, sizeof c->stats);
    memcpy(c->cursor, s->dedup_cursor, s->dedup_cursor_len);
    c->cursor_len = s->dedup_cursor_len;
    int rc = s_sweep_expired(s, txn, c);
    c->stats.expired_more = c->used >= c->budget;
    if (rc == MDB_SUCCESS && c->used < c->budget && s->dedup_window_ms)
        rc = s_sweep_dedup(s, txn, c);
    const store_sweep_stats *st = &c->stats;
    store_audit_event ev = {.kind = AUDIT_SWEPT,
                            .now_ms = c->now_ms,
                            .count = st->expired,
                            .count2 = st->feed_expired,
                            .count3 = st->dedup_dropped};
    if (rc == MDB_SUCCESS && (st->expired || st->feed_expired || st->dedup_dropped))
        rc = s_audit_emit(s, txn, &ev, NULL);
    return rc;
}

int store_sweep(store *s, uint64_t now_ms, size_t budget, store_sweep_stats *stats)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!s)
        return ASYLINK_E_INVALID_ARG;
    if (budget == 0)
        return ASYLINK_OK;
    sweep_ctx c;
    memset(&c, 0, sizeof c);
    c.now_ms = now_ms;
    c.budget = budget;
    int rc = s_write(s, s_sweep_apply, &c);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    memcpy(s->dedup_cursor, c.cursor, c.cursor_len);
    s->dedup_cursor_len = c.cursor_len;
    c.stats.more = c.used >= c.budget;
    c.stats.dedup_wrapped = c.wrapped;
    if (stats)
        *stats = c.stats;
    return ASYLINK_OK;
}

uint64_t store_sweep_delay_ms(const store *s, const store_sweep_stats *st, uint64_t interval_ms)
{
    uint64_t behind = STORE_SWEEP_BEHIND_MS < interval_ms ? STORE_SWEEP_BEHIND_MS : interval_ms;
    if (st->expired_more)
        return behind;
    if (!s || !s->dedup_window_ms || st->dedup_wrapped || !st->dedup_examined ||
        st->dedup_entries <= st->dedup_examined)
        return interval_ms;
    /* The scan goes on from its cursor: as many more sweeps as the index
       holds chunks of this size, all within one cycle. Sweeping every
       100 ms whatever the index holds (as before) examined 100,000
       entries a second of a 7-day window, each a page of the map. */
    uint64_t chunks = st->dedup_entries / st->dedup_examined + 1;
    uint64_t d = s->dedup_window_ms / STORE_DEDUP_CYCLES / chunks;
    return d < behind ? behind : d > interval_ms ? interval_ms : d;
}

/* ---- reads ---------------------------------------------------------------- */

/* Positions cur on the first key >= name '\0' seq; k, v get it. */
static int s_seek(MDB_cursor *cur, const char *name, uint64_t seq, uint8_t *key, MDB_val *k,
                  MDB_val *v)
{
    k->mv_size = s_name_seq_key(key, name, seq);
    k->mv_data = key;
    return mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
}

/* Fills out from queue entry (seq, v) and its message record. */
static int s_entry_fill(store *s, MDB_txn *txn, uint64_t seq, const MDB_val *v, store_entry *out)
{
    MDB_val mv;
    store_record r;
    if (v->mv_size != S_QUEUE_VALUE_LEN)
        return S_BAD_RECORD;
    int rc = s_record_get(s, txn, seq, &mv, &r);
    if (rc == MDB_NOTFOUND)
        return S_BAD_RECORD; /* a queue entry always has its message */
    if (rc != MDB_SUCCESS)
        return rc;
    s_release_tick(s, 1 + (unsigned)(r.envelope_len / 4096)); /* the delivery reads it next */
    out->seq = seq;
    out->attempts = (uint32_t)bytes_get_le(v->mv_data, 4);
    out->next_attempt_ms = bytes_get_le((const uint8_t *)v->mv_data + 8, 8);
    out->accepted_ms = r.accepted_ms;
    out->envelope_len = r.envelope_len;
    memcpy(out->message_id, r.message_id, S_ID_LEN);
    memcpy(out->sender, r.sender, r.sender_len);
    out->sender[r.sender_len] = 0;
    return MDB_SUCCESS;
}

/*
 * A read transaction: the shared one while reads are shared (opened here by
 * the first read), else a new one. End it with s_rd_end().
 */
static int s_rd_begin(store *s, MDB_txn **txn)
{
    if (!s->rd_shared)
        return s_txn_begin(s, MDB_RDONLY, txn);
    if (!s->rd_txn) {
        MDB_txn *t = NULL;
        int rc = s_txn_begin(s, MDB_RDONLY, &t);
        if (rc != MDB_SUCCESS)
            return rc;
        s->rd_txn = t;
    }
    *txn = s->rd_txn;
    return MDB_SUCCESS;
}

/* Ends what s_rd_begin() started; the shared transaction stays open. */
static void s_rd_end(store *s, MDB_txn *txn)
{
    if (txn != s->rd_txn)
        mdb_txn_abort(txn);
}

/*
 * Opens a read transaction (s_rd_begin()) and a cursor on dbi; a shared
 * transaction keeps its queue cursor for the next call.
 */
static int s_read_open(store *s, MDB_dbi dbi, MDB_txn **txn, MDB_cursor **cur)
{
    *cur = NULL;
    int rc = s_rd_begin(s, txn);
    if (rc != MDB_SUCCESS)
        return rc;
    if (*txn == s->rd_txn && dbi == s->queue) {
        if (!s->rd_queue && (rc = mdb_cursor_open(*txn, dbi, &s->rd_queue)) != MDB_SUCCESS)
            s->rd_queue = NULL;
        *cur = s->rd_queue;
        return rc;
    }
    rc = mdb_cursor_open(*txn, dbi, cur);
    if (rc != MDB_SUCCESS)
        s_rd_end(s, *txn);
    return rc;
}

/* Ends what s_read_open() started. */
static void s_read_close(store *s, MDB_txn *txn, MDB_cursor *cur)
{
    if (cur != s->rd_queue)
        mdb_cursor_close(cur);
    s_rd_end(s, txn);
}

void store_read_begin(store *s)
{
    if (s)
        s->rd_shared = true;
}

void store_read_refresh(store *s)
{
    if (s)
        s_shared_drop(s);
}

void store_read_end(store *s)
{
    if (!s)
        return;
    s_shared_drop(s);
    s->rd_shared = false;
}

int store_queue_next(store *s, const char *recipient, uint64_t after_seq, store_entry *out)
{
    size_t name_len = s_name_len(recipient);
    if (!s || !out || !name_len)
        return ASYLINK_E_INVALID_ARG;
    if (after_seq == UINT64_MAX)
        return ASYLINK_E_NOT_FOUND;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_read_open(s, s->queue, &txn, &cur);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    uint8_t key[S_KEY_MAX];
    MDB_val k, v;
    uint64_t seq;
    rc = s_seek(cur, recipient, after_seq + 1, key, &k, &v);
    if (rc == MDB_SUCCESS && !s_key_is(&k, recipient, name_len, &seq))
        rc = MDB_NOTFOUND;
    if (rc == MDB_SUCCESS)
        rc = s_entry_fill(s, txn, seq, &v, out);
    s_read_close(s, txn, cur);
    return s_err(rc);
}

int store_message_get(store *s, uint64_t seq, uint8_t **env, size_t *len)
{
    return store_message_get_room(s, seq, 0, env, len);
}

int store_message_get_room(store *s, uint64_t seq, size_t room, uint8_t **env, size_t *len)
{
    if (!env || !len || room > SIZE_MAX / 2)
        return ASYLINK_E_INVALID_ARG;
    *env = NULL;
    *len = 0;
    MDB_txn *txn;
    if (!s)
        return ASYLINK_E_INVALID_ARG;
    int rc = s_rd_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_val v;
    store_record r;
    rc = s_record_get(s, txn, seq, &v, &r);
    uint8_t *buf =
        rc == MDB_SUCCESS ? malloc(room + r.envelope_len ? room + r.envelope_len : 1) : NULL;
    if (rc == MDB_SUCCESS && !buf)
        rc = ENOMEM;
    if (rc == MDB_SUCCESS) {
        if (r.envelope_len)
            memcpy(buf + room, r.envelope, r.envelope_len);
        *env = buf;
        *len = r.envelope_len;
    }
    s_rd_end(s, txn);
    return s_err(rc);
}

int store_queue_depth(store *s, const char *recipient, uint64_t *count, uint64_t *bytes)
{
    size_t name_len = s_name_len(recipient);
    if (!s || !count || !bytes || !name_len)
        return ASYLINK_E_INVALID_ARG;
    *count = *bytes = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_read_open(s, s->queue, &txn, &cur);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    uint8_t key[S_KEY_MAX];
    MDB_val k, v;
    uint64_t seq;
    store_entry e;
    rc = s_seek(cur, recipient, 0, key, &k, &v);
    while (rc == MDB_SUCCESS && s_key_is(&k, recipient, name_len, &seq)) {
        rc = s_entry_fill(s, txn, seq, &v, &e);
        if (rc != MDB_SUCCESS)
            break;
        (*count)++;
        *bytes += e.envelope_len;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    s_read_close(s, txn, cur);
    return rc == MDB_NOTFOUND ? ASYLINK_OK : s_err(rc);
}

/*
 * Counts the entries of dbi whose key starts with node '\0' (the keys of
 * dlq and subs both do), or all entries when node is NULL.
 */
static int s_count_under(store *s, MDB_dbi dbi, const char *node, uint64_t *count)
{
    size_t nlen = s_name_len(node);
    if (!s || !count || (node && !nlen))
        return ASYLINK_E_INVALID_ARG;
    *count = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_read_open(s, dbi, &txn, &cur);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_val k, v;
    if (node) {
        uint8_t key[STORE_NAME_MAX + 1];
        memcpy(key, node, nlen);
        key[nlen] = 0;
        k = (MDB_val){nlen + 1, key};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        while (rc == MDB_SUCCESS && k.mv_size > nlen + 1 && memcmp(k.mv_data, key, nlen + 1) == 0) {
            (*count)++;
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    } else {
        MDB_stat st;
        rc = mdb_stat(txn, dbi, &st);
        *count = rc == MDB_SUCCESS ? st.ms_entries : 0;
    }
    s_read_close(s, txn, cur);
    return rc == MDB_NOTFOUND ? ASYLINK_OK : s_err(rc);
}

int store_dead_letter_count(store *s, const char *recipient, uint64_t *count)
{
    return s_count_under(s, s ? s->dlq : 0, recipient, count);
}

/* Positions cur on the first dead letter strictly after (name, seq), or the first if name is NULL.
 */
static int s_dlq_seek(MDB_cursor *cur, const char *name, uint64_t seq, MDB_val *k, MDB_val *v)
{
    uint8_t key[S_KEY_MAX];
    if (!name)
        return mdb_cursor_get(cur, k, v, MDB_FIRST);
    int rc = s_seek(cur, name, seq, key, k, v);
    size_t klen = s_name_seq_key(key, name, seq);
    if (rc == MDB_SUCCESS && k->mv_size == klen && memcmp(k->mv_data, key, klen) == 0)
        rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    return rc;
}

bool store_dead_letter_decode(const uint8_t *key, size_t klen, const uint8_t *p, size_t len,
                              store_dead_letter *out)
{
    size_t name_len;
    uint64_t seq;
    if (!store_key_split(key, klen, &name_len, &seq) || name_len > STORE_NAME_MAX ||
        len < S_DLQ_VALUE_MIN || len > S_DLQ_VALUE_MIN + STORE_REASON_MAX)
        return false;
    size_t reason_len = len - S_DLQ_VALUE_MIN;
    memcpy(out->recipient, key, name_len);
    out->recipient[name_len] = 0;
    out->seq = seq;
    out->code = (int)(int32_t)(uint32_t)bytes_get_le(p, 4);
    out->attempts = (uint32_t)bytes_get_le(p + 4, 4);
    out->dead_ms = bytes_get_le(p + 8, 8);
    if (reason_len)
        memcpy(out->reason, p + S_DLQ_VALUE_MIN, reason_len);
    out->reason[reason_len] = 0;
    return true;
}

/* Fills a listed dead letter from its key and value; 0 or S_BAD_RECORD. */
static int s_dead_letter_fill(const MDB_val *k, const MDB_val *v, store_dead_letter *out)
{
    return store_dead_letter_decode(k->mv_data, k->mv_size, v->mv_data, v->mv_size, out)
               ? MDB_SUCCESS
               : S_BAD_RECORD;
}

int store_dead_letter_next(store *s, const char *recipient, const char *after_recipient,
                           uint64_t after_seq, store_dead_letter *out)
{
    const char *from = recipient ? recipient : after_recipient;
    size_t name_len = s_name_len(recipient);
    if (!s || !out || (recipient && !name_len) || (from && !s_name_len(from)))
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_read_open(s, s->dlq, &txn, &cur);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_val k, v;
    uint64_t seq;
    rc = s_dlq_seek(cur, from, after_seq, &k, &v);
    if (rc == MDB_SUCCESS && recipient && !s_key_is(&k, recipient, name_len, &seq))
        rc = MDB_NOTFOUND;
    if (rc == MDB_SUCCESS)
        rc = s_dead_letter_fill(&k, &v, out);
    s_read_close(s, txn, cur);
    return s_err(rc);
}

int store_get_stats(store *s, store_stats *out)
{
    if (!s || !out)
        return ASYLINK_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    MDB_stat msgs, queue, dlq, feed;
    size_t map_size, used;
    int rc = s_rd_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    if ((rc = mdb_stat(txn, s->msgs, &msgs)) == MDB_SUCCESS &&
        (rc = mdb_stat(txn, s->queue, &queue)) == MDB_SUCCESS &&
        (rc = mdb_stat(txn, s->dlq, &dlq)) == MDB_SUCCESS &&
        (rc = mdb_stat(txn, s->feed, &feed)) == MDB_SUCCESS &&
        (rc = lmdbkit_usage(s->env, &map_size, &used)) == MDB_SUCCESS) {
        out->messages = msgs.ms_entries;
        out->queued = queue.ms_entries;
        out->dead_letters = dlq.ms_entries;
        out->feed = feed.ms_entries;
        out->map_size = map_size;
        out->used_bytes = used;
    }
    s_rd_end(s, txn);
    return s_err(rc);
}

/* ---- feeds ------------------------------------------------------------------ */

/* Decodes feed entry (k, v) and its record into out; 0, S_BAD_RECORD or an LMDB error. */
static int s_feed_fill(store *s, MDB_txn *txn, const MDB_val *k, const MDB_val *v,
                       store_feed_entry *out)
{
    if (k->mv_size != S_SEQ_LEN || v->mv_size == 0 || v->mv_size > STORE_TOPIC_MAX ||
        memchr(v->mv_data, 0, v->mv_size))
        return S_BAD_RECORD;
    uint64_t seq = bytes_get_be64(k->mv_data);
    MDB_val mv;
    store_record r;
    int rc = s_record_get(s, txn, seq, &mv, &r);
    if (rc == MDB_NOTFOUND)
        return S_BAD_RECORD; /* a feed entry always has its message */
    if (rc != MDB_SUCCESS)
        return rc;
    out->seq = seq;
    memcpy(out->topic, v->mv_data, v->mv_size);
    out->topic[v->mv_size] = 0;
    out->accepted_ms = r.accepted_ms;
    out->envelope_len = r.envelope_len;
    memcpy(out->message_id, r.message_id, S_ID_LEN);
    memcpy(out->sender, r.sender, r.sender_len);
    out->sender[r.sender_len] = 0;
    return MDB_SUCCESS;
}

/* Whether feed value v (a topic, not NUL-terminated) passes the filter prefix (NULL or "" = any).
 */
static bool s_feed_match(const MDB_val *v, const char *prefix)
{
    if (!prefix || !prefix[0])
        return true;
    return topic_under_n(v->mv_data, v->mv_size, prefix, strlen(prefix));
}

/*
 * Calls visit on each feed entry under prefix with seq > after, in order,
 * until it returns nonzero (its value is then returned) or the feed ends
 * (MDB_NOTFOUND). Returns an LMDB code otherwise.
 */
typedef int (*s_feed_visit)(store *s, MDB_txn *txn, MDB_val *k, MDB_val *v, void *arg);
static int s_feed_walk(store *s, uint64_t after, const char *prefix, s_feed_visit visit, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_read_open(s, s->feed, &txn, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    uint8_t key[S_SEQ_LEN];
    bytes_put_be64(key, after + 1);
    MDB_val k = {sizeof key, key}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        int stop = s_feed_match(&v, prefix) ? visit(s, txn, &k, &v, arg) : 0;
        if (stop) {
            rc = stop;
            break;
        }
    }
    s_read_close(s, txn, cur);
    return rc;
}

#define S_FEED_DONE 0x7fff0001 /* a visitor's "stop here, all is well" (no LMDB or errno value) */

/* store_feed_next's visitor: fills the entry and stops. */
static int s_feed_take(store *s, MDB_txn *txn, MDB_val *k, MDB_val *v, void *arg)
{
    int rc = s_feed_fill(s, txn, k, v, arg);
    return rc == MDB_SUCCESS ? S_FEED_DONE : rc;
}

int store_feed_next(store *s, uint64_t after_seq, const char *prefix, store_feed_entry *out)
{
    if (!s || !out)
        return ASYLINK_E_INVALID_ARG;
    if (after_seq == UINT64_MAX)
        return ASYLINK_E_NOT_FOUND;
    int rc = s_feed_walk(s, after_seq, prefix, s_feed_take, out);
    return s_err(rc == S_FEED_DONE ? MDB_SUCCESS : rc);
}

/* A caller's function over feed entries (store_feed_walk). */
typedef struct {
    int (*fn)(void *ctx, const store_feed_entry *e);
    void *ctx;
} s_feed_caller;

/* store_feed_walk's visitor: fills the entry and hands it to the caller. */
static int s_feed_call(store *s, MDB_txn *txn, MDB_val *k, MDB_val *v, void *arg)
{
    const s_feed_caller *c = arg;
    store_feed_entry e;
    int rc = s_feed_fill(s, txn, k, v, &e);
    if (rc != MDB_SUCCESS)
        return rc;
    return c->fn(c->ctx, &e) != 0 ? S_FEED_DONE : 0;
}

int store_feed_walk(store *s, const char *prefix, int (*fn)(void *ctx, const store_feed_entry *e),
                    void *ctx)
{
    if (!s || !fn)
        return ASYLINK_E_INVALID_ARG;
    s_feed_caller c = {fn, ctx};
    int rc = s_feed_walk(s, 0, prefix, s_feed_call, &c);
    return rc == S_FEED_DONE || rc == MDB_NOTFOUND ? ASYLINK_OK : s_err(rc);
}

int store_feed_head(store *s, const char *prefix, uint64_t *seq)
{
    if (!s || !seq)
        return ASYLINK_E_INVALID_ARG;
    *seq = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_read_open(s, s->feed, &txn, &cur);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_val k, v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    while (rc == MDB_SUCCESS && !s_feed_match(&v, prefix))
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    if (rc == MDB_SUCCESS && k.mv_size != S_SEQ_LEN)
        rc = S_BAD_RECORD;
    if (rc == MDB_SUCCESS)
        *seq = bytes_get_be64(k.mv_data);
    s_read_close(s, txn, cur);
    return rc == MDB_NOTFOUND ? ASYLINK_OK : s_err(rc);
}

int store_feed_before(store *s, uint64_t time_ms, uint64_t *seq)
{
    if (!s || !seq)
        return ASYLINK_E_INVALID_ARG;
    *seq = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_read_open(s, s->feed, &txn, &cur);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_val k, v;
    store_feed_entry e;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS) {
        rc = s_feed_fill(s, txn, &k, &v, &e);
        if (rc != MDB_SUCCESS || e.accepted_ms >= time_ms)
            break;
        *seq = e.seq;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    s_read_close(s, txn, cur);
    return rc == MDB_NOTFOUND ? ASYLINK_OK : s_err(rc);
}

/* ---- subscriptions ------------------------------------------------------------ */

int store_sub_get(store *s, const char *node, const char *name, store_sub *out)
{
    uint8_t key[S_SUB_KEY_MAX];
    size_t klen = s_sub_key(key, node, name);
    if (!s || !out || !klen)
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    int rc = s_rd_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_val k = {klen, key}, v;
    rc = mdb_get(txn, s->subs, &k, &v);
    if (rc == MDB_SUCCESS)
        rc = s_sub_parse(&v, out);
    s_rd_end(s, txn);
    return s_err(rc);
}

/* Context of a single subscription write. */
typedef struct sub_ctx {
    const uint8_t *key; /* node '\0' name */
    size_t klen;
    const store_sub *sub; /* put: the value; NULL = delete */
    int code;             /* outcome */
    const char *node;     /* for the audit event */
    const char *name;     /* for the audit event */
} sub_ctx;

/* s_write() apply for store_sub_put() / store_sub_delete(). */
static int s_sub_apply(store *s, MDB_txn *txn, void *arg)
{
    sub_ctx *c = arg;
    c->code = ASYLINK_OK;
    store_audit_event ev = {.kind = c->sub ? AUDIT_SUBSCRIBED : AUDIT_UNSUBSCRIBED,
                            .node = c->node,
                            .name = c->name,
                            .topic = c->sub ? c->sub->prefix : NULL,
                            .count = c->sub ? c->sub->cursor : 0};
    int rc;
    if (c->sub) {
        uint8_t val[S_SUB_VALUE_MIN + STORE_TOPIC_MAX];
        size_t vlen = s_sub_value(val, c->sub);
        rc = s_put(txn, s->subs, c->key, c->klen, val, vlen);
    } else {
        MDB_val k = {c->klen, (void *)c->key};
        rc = s_outcome(mdb_del(txn, s->subs, &k, NULL), &c->code);
    }
    return rc == MDB_SUCCESS && c->code == ASYLINK_OK ? s_audit_emit(s, txn, &ev, NULL) : rc;
}

int store_sub_put(store *s, const char *node, const char *name, const store_sub *sub)
{
    uint8_t key[S_SUB_KEY_MAX];
    size_t klen = s_sub_key(key, node, name);
    size_t plen = sub ? strnlen(sub->prefix, STORE_TOPIC_MAX + 1) : 0;
    if (!s || !klen || plen == 0 || plen > STORE_TOPIC_MAX)
        return ASYLINK_E_INVALID_ARG;
    sub_ctx c = {key, klen, sub, ASYLINK_OK, node, name};
    int rc = s_write(s, s_sub_apply, &c);
    return rc == MDB_SUCCESS ? c.code : s_err(rc);
}

int store_sub_delete(store *s, const char *node, const char *name)
{
    uint8_t key[S_SUB_KEY_MAX];
    size_t klen = s_sub_key(key, node, name);
    if (!s || !klen)
        return ASYLINK_E_INVALID_ARG;
    sub_ctx c = {key, klen, NULL, ASYLINK_OK, node, name};
    int rc = s_write(s, s_sub_apply, &c);
    return rc == MDB_SUCCESS ? c.code : s_err(rc);
}

int store_sub_count(store *s, const char *node, uint64_t *count)
{
    return s_count_under(s, s ? s->subs : 0, node, count);
}

bool store_sub_key_split(const uint8_t *key, size_t len, char *node, char *name)
{
    const uint8_t *zero = memchr(key, 0, len);
    size_t nlen = zero ? (size_t)(zero - key) : 0, slen = zero ? len - nlen - 1 : 0;
    /* a NUL in the name would cut it: the listing, going on after the name it read, would come
       back to this key for ever (store_sub_next) */
    if (!zero || !nlen || nlen > NODE_ID_MAX || !slen || slen > STORE_SUB_NAME_MAX ||
        memchr(zero + 1, 0, slen))
        return false;
    memcpy(node, key, nlen);
    node[nlen] = 0;
    memcpy(name, zero + 1, slen);
    name[slen] = 0;
    return true;
}

/* Splits a subs key (node '\0' name) into its two names; 0 or S_BAD_RECORD. */
static int s_sub_key_split(const MDB_val *k, char *node, char *name)
{
    return store_sub_key_split(k->mv_data, k->mv_size, node, name) ? 0 : S_BAD_RECORD;
}

int store_sub_next(store *s, const char *after_node, const char *after_name, char *node, char *name,
                   store_sub *out)
{
    if (!s || !after_node || !after_name || !node || !name || !out)
        return ASYLINK_E_INVALID_ARG;
    uint8_t key[S_SUB_KEY_MAX];
    size_t klen = after_node[0] ? s_sub_key(key, after_node, after_name) : 0;
    if (after_node[0] && !klen)
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = s_read_open(s, s->subs, &txn, &cur);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_val k = {klen, key}, v;
    rc = mdb_cursor_get(cur, &k, &v, klen ? MDB_SET_RANGE : MDB_FIRST);
    if (rc == MDB_SUCCESS && klen && k.mv_size == klen && memcmp(k.mv_data, key, klen) == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    if (rc == MDB_SUCCESS)
        rc = s_sub_key_split(&k, node, name);
    if (rc == MDB_SUCCESS)
        rc = s_sub_parse(&v, out);
    s_read_close(s, txn, cur);
    return s_err(rc);
}

/* store_feed_count_after's visitor: counts up to its cap. */
typedef struct {
    uint64_t n, cap;
} s_feed_counter;

static int s_feed_count(store *s, MDB_txn *txn, MDB_val *k, MDB_val *v, void *arg)
{
    (void)s, (void)txn, (void)k, (void)v;
    s_feed_counter *c = arg;
    return ++c->n >= c->cap ? S_FEED_DONE : 0;
}

int store_feed_count_after(store *s, uint64_t after, const char *prefix, uint64_t cap,
                           uint64_t *count)
{
    if (!s || !count)
        return ASYLINK_E_INVALID_ARG;
    *count = 0;
    if (after == UINT64_MAX || cap == 0)
        return ASYLINK_OK;
    s_feed_counter c = {0, cap};
    int rc = s_feed_walk(s, after, prefix, s_feed_count, &c);
    *count = c.n;
    return rc == S_FEED_DONE || rc == MDB_NOTFOUND ? ASYLINK_OK : s_err(rc);
}

/* ---- erasure (store_purge) ------------------------------------------------ */

/* Writes the dedup key sender '\0' message_id into key (S_KEY_MAX bytes); its length, 0 if invalid.
 */
static size_t s_dedup_key(uint8_t *key, const char *sender, const uint8_t *message_id)
{
    size_t len = s_name_len(sender);
    if (!len || !message_id)
        return 0;
    memcpy(key, sender, len);
    key[len] = 0;
    memcpy(key + len + 1, message_id, S_ID_LEN);
    return len + 1 + S_ID_LEN;
}

/* Whether record r is the message (sender, message_id). */
static bool s_record_is(const store_record *r, const char *sender, const uint8_t *message_id)
{
    size_t len = strlen(sender);
    return r->sender_len == len && memcmp(r->sender, sender, len) == 0 &&
           memcmp(r->message_id, message_id, S_ID_LEN) == 0;
}

/* The message (sender, id) by scanning every record; MDB_NOTFOUND if none (corrupt ones skipped).
 */
static int s_find_scan(store *s, MDB_txn *txn, const char *sender, const uint8_t *id, uint64_t *seq)
{
    MDB_cursor *cur;
    MDB_val k, v;
    store_record r;
    int rc = mdb_cursor_open(txn, s->msgs, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size == S_SEQ_LEN && s_record_parse(&v, &r) == MDB_SUCCESS &&
            s_record_is(&r, sender, id)) {
            *seq = bytes_get_be64(k.mv_data);
            break;
        }
    }
    mdb_cursor_close(cur);
    return rc;
}

/* The message (sender, id): through the dedup index, else by a scan. */
static int s_find(store *s, MDB_txn *txn, const char *sender, const uint8_t *id, uint64_t *seq)
{
    uint8_t key[S_KEY_MAX];
    MDB_val k = {s_dedup_key(key, sender, id), key}, v, mv;
    store_record r;
    int rc = mdb_get(txn, s->dedup, &k, &v);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return rc;
    if (rc == MDB_SUCCESS && v.mv_size >= 8) {
        uint64_t cand = bytes_get_le(v.mv_data, 8);
        if (cand && s_record_get(s, txn, cand, &mv, &r) == MDB_SUCCESS &&
            s_record_is(&r, sender, id)) {
            *seq = cand;
            return MDB_SUCCESS;
        }
    }
    return s_find_scan(s, txn, sender, id, seq);
}

int store_message_find(store *s, const char *sender, const uint8_t *message_id, uint64_t *seq)
{
    uint8_t key[S_KEY_MAX];
    if (!s || !seq || !s_dedup_key(key, sender, message_id))
        return ASYLINK_E_INVALID_ARG;
    *seq = 0;
    MDB_txn *txn;
    int rc = s_rd_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    rc = s_find(s, txn, sender, message_id, seq);
    s_rd_end(s, txn);
    return s_err(rc);
}

/* State of one purge; reset by every (re)run of its transaction. */
typedef struct purge_ctx {
    const store_purge_request *q;
    uint64_t now_ms;
    int code;                /* ASYLINK_OK, or E_IO: a corrupt record, nothing done */
    store_purge_result res;  /* what was removed */
    char *block;             /* copy of the record's recipients block */
    const char **recipients; /* pointers into block, for the audit event */
    size_t n_recipients;
    char topic[STORE_TOPIC_MAX + 1]; /* its feed topic, "" for a direct message */
    uint64_t seq, accepted_ms;       /* the removed message, for the tombstone; 0 = none */
} purge_ctx;

/* Copies the recipients block of r into c (with pointers to each id). */
static int s_purge_keep_recipients(purge_ctx *c, const store_record *r)
{
    c->block = malloc(r->recipients_len + 1);
    c->recipients = calloc(r->n_recipients + 1, sizeof *c->recipients);
    if (!c->block || !c->recipients)
        return ENOMEM;
    memcpy(c->block, r->recipients, r->recipients_len);
    for (size_t off = 0; off < r->recipients_len; off += strlen(c->block + off) + 1)
        c->recipients[c->n_recipients++] = c->block + off;
    return MDB_SUCCESS;
}

/* Removes every queue entry and dead letter of seq for the kept recipients. */
static int s_purge_entries(store *s, MDB_txn *txn, purge_ctx *c, uint64_t seq)
{
    for (size_t i = 0; i < c->n_recipients; i++) {
        uint8_t key[S_KEY_MAX];
        size_t klen = s_name_seq_key(key, c->recipients[i], seq);
        bool queued = false, dead = false;
        int rc = s_del_if(txn, s->queue, key, klen, &queued);
        if (rc == MDB_SUCCESS)
            rc = s_del_if(txn, s->dlq, key, klen, &dead);
        if (rc != MDB_SUCCESS)
            return rc;
        c->res.queue_entries += queued;
        c->res.dead_letters += dead;
    }
    return MDB_SUCCESS;
}

/* Removes the feed entry of seq (a feed message), keeping its topic for the audit event. */
static int s_purge_feed(store *s, MDB_txn *txn, purge_ctx *c, uint64_t seq)
{
    uint8_t fkey[S_SEQ_LEN];
    bytes_put_be64(fkey, seq);
    MDB_val k = {sizeof fkey, fkey}, v;
    int rc = mdb_get(txn, s->feed, &k, &v);
    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (rc != MDB_SUCCESS)
        return rc;
    size_t len = v.mv_size < STORE_TOPIC_MAX ? v.mv_size : STORE_TOPIC_MAX;
    memcpy(c->topic, v.mv_data, len);
    c->topic[len] = 0;
    rc = mdb_del(txn, s->feed, &k, NULL);
    c->res.feed_entries += rc == MDB_SUCCESS;
    return rc;
}

/* Removes message seq everywhere if its record is q's message. */
static int s_purge_message(store *s, MDB_txn *txn, purge_ctx *c)
{
    const store_purge_request *q = c->q;
    MDB_val v;
    store_record r;
    int rc = q->seq ? s_record_get(s, txn, q->seq, &v, &r) : MDB_NOTFOUND;
    if (rc == MDB_NOTFOUND || (rc == MDB_SUCCESS && !s_record_is(&r, q->sender, q->message_id)))
        return MDB_SUCCESS; /* nothing stored (any more): only the tombstone */
    if (rc != MDB_SUCCESS)
        return rc;
    uint64_t expires_ms = r.expires_ms;
    c->seq = q->seq;
    c->accepted_ms = r.accepted_ms;
    c->res.found = true;
    c->res.bytes_removed = r.envelope_len;
    rc = s_purge_keep_recipients(c, &r); /* before the writes invalidate r */
    if (rc == MDB_SUCCESS)
        rc = s_purge_entries(s, txn, c, q->seq);
    if (rc == MDB_SUCCESS)
        rc = s_purge_feed(s, txn, c, q->seq);
    if (rc == MDB_SUCCESS)
        rc = s_message_delete(s, txn, q->seq, expires_ms);
    return rc;
}

/* Frees what a (possibly rerun) purge transaction kept and zeroes its results. */
static void s_purge_reset(purge_ctx *c)
{
    free(c->block);
    free(c->recipients);
    c->block = NULL;
    c->recipients = NULL;
    c->n_recipients = 0;
    c->topic[0] = 0;
    c->seq = c->accepted_ms = 0;
    c->code = ASYLINK_OK;
    memset(&c->res, 0, sizeof c->res);
}

/* s_write() apply for store_purge(): the message, the tombstone, the audit event. */
static int s_purge_apply(store *s, MDB_txn *txn, void *arg)
{
    purge_ctx *c = arg;
    const store_purge_request *q = c->q;
    s_purge_reset(c);
    int rc = s_purge_message(s, txn, c);
    if (rc == S_BAD_RECORD) { /* checked before any write: nothing changed */
        c->code = ASYLINK_E_IO;
        return MDB_SUCCESS;
    }
    uint8_t key[S_KEY_MAX], val[S_DEDUP_TOMB_LEN];
    size_t klen = s_dedup_key(key, q->sender, q->message_id);
    bytes_put_le(val, c->seq, 8);
    bytes_put_le(val + 8, c->accepted_ms, 8);
    bytes_put_le(val + 16, c->now_ms, 8);
    if (rc == MDB_SUCCESS)
        rc = s_put(txn, s->dedup, key, klen, val, sizeof val);
    store_audit_event ev = {.kind = AUDIT_PURGED,
                            .now_ms = c->now_ms,
                            .seq = c->seq,
                            .message_id = q->message_id,
                            .sender = q->sender,
                            .topic = c->topic[0] ? c->topic : NULL,
                            .envelope_len = c->res.bytes_removed,
                            .recipients = c->recipients,
                            .n_recipients = c->n_recipients,
                            .digest = q->digest,
                            .classification = q->classification,
                            .reason = q->reason,
                            .count = c->res.queue_entries,
                            .count2 = c->res.dead_letters,
                            .count3 = c->res.feed_entries};
    return rc == MDB_SUCCESS ? s_audit_emit(s, txn, &ev, NULL) : rc;
}

int store_purge(store *s, const store_purge_request *q, uint64_t now_ms, store_purge_result *out)
{
    uint8_t key[S_KEY_MAX];
    if (out)
        memset(out, 0, sizeof *out);
    if (!s || !q || !out || !s_dedup_key(key, q->sender, q->message_id))
        return ASYLINK_E_INVALID_ARG;
    purge_ctx c = {.q = q, .now_ms = now_ms};
    int rc = s_write(s, s_purge_apply, &c);
    int code = rc == MDB_SUCCESS ? c.code : s_err(rc);
    if (code == ASYLINK_OK)
        *out = c.res;
    s_purge_reset(&c);
    return code;
}

/* ---- the revocation list in use ------------------------------------------ */

int store_crl_get(store *s, uint64_t *ca, uint64_t *number)
{
    if (!s || !ca || !number)
        return ASYLINK_E_INVALID_ARG;
    *ca = *number = 0;
    MDB_txn *txn;
    int rc = s_rd_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    bool found;
    rc = s_meta_get(s, txn, S_META_CRL_CA, 8, ca, &found);
    if (rc == MDB_SUCCESS)
        rc = s_meta_get(s, txn, S_META_CRL_NUMBER, 8, number, &found);
    s_rd_end(s, txn);
    return s_err(rc);
}

int store_crl_signed_get(store *s, uint8_t **raw, size_t *len)
{
    if (!s || !raw || !len)
        return ASYLINK_E_INVALID_ARG;
    *raw = NULL;
    *len = 0;
    MDB_txn *txn;
    int rc = s_rd_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    MDB_val k = {strlen(S_META_CRL), (void *)S_META_CRL}, v;
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == MDB_SUCCESS && (v.mv_size == 0 || v.mv_size > CRL_FILE_MAX))
        rc = S_BAD_RECORD;
    if (rc == MDB_SUCCESS && !(*raw = malloc(v.mv_size)))
        rc = ENOMEM;
    if (rc == MDB_SUCCESS) {
        memcpy(*raw, v.mv_data, v.mv_size); /* the page is the map's: copied before the end */
        *len = v.mv_size;
    }
    s_rd_end(s, txn);
    return s_err(rc);
}

typedef struct {
    uint64_t ca, number;
    const uint8_t *raw; /* the signed list, or NULL */
    size_t len;
} crl_ctx;

static int s_crl_apply(store *s, MDB_txn *txn, void *arg)
{
    const crl_ctx *c = arg;
    store_audit_event ev = {.kind = AUDIT_CRL_RECORDED, .count = c->number, .count2 = c->ca};
    int rc = s_meta_put(s, txn, S_META_CRL_CA, c->ca, 8);
    if (rc == MDB_SUCCESS)
        rc = s_meta_put(s, txn, S_META_CRL_NUMBER, c->number, 8);
    if (rc == MDB_SUCCESS && c->raw)
        rc = s_put(txn, s->meta, S_META_CRL, strlen(S_META_CRL), c->raw, c->len);
    else if (rc == MDB_SUCCESS)
        rc = s_del_if(txn, s->meta, S_META_CRL, strlen(S_META_CRL), NULL);
    return rc == MDB_SUCCESS ? s_audit_emit(s, txn, &ev, NULL) : rc;
}

int store_crl_put(store *s, uint64_t ca, uint64_t number, const uint8_t *raw, size_t len)
{
    if (!s || (raw && (len == 0 || len > CRL_FILE_MAX)))
        return ASYLINK_E_INVALID_ARG;
    crl_ctx c = {ca, number, raw, len};
    return s_err(s_write(s, s_crl_apply, &c));
}

/* ---- audit hooks and raw transactions (store.h) ---------------------------- */

void store_set_audit(store *s, const store_audit_hooks *h)
{
    if (!s)
        return;
    if (h && h->begin && h->event && h->precommit && h->committed)
        s->audit = *h;
    else
        memset(&s->audit, 0, sizeof s->audit);
}

void *store_env(store *s)
{
    return s ? s->env : NULL;
}

/* A caller's function run by s_write() or store_read(). */
typedef struct raw_ctx {
    int (*fn)(void *ctx, void *txn);
    void *ctx;
} raw_ctx;

static int s_raw_apply(store *s, MDB_txn *txn, void *arg)
{
    (void)s;
    const raw_ctx *c = arg;
    return c->fn(c->ctx, txn);
}

int store_write(store *s, int (*fn)(void *ctx, void *txn), void *ctx)
{
    if (!s || !fn)
        return ASYLINK_E_INVALID_ARG;
    raw_ctx c = {fn, ctx};
    return s_err(s_write(s, s_raw_apply, &c));
}

int store_read(store *s, int (*fn)(void *ctx, void *txn), void *ctx)
{
    if (!s || !fn)
        return ASYLINK_E_INVALID_ARG;
    MDB_txn *txn;
    int rc = s_rd_begin(s, &txn);
    if (rc != MDB_SUCCESS)
        return s_err(rc);
    rc = fn(ctx, txn);
    s_rd_end(s, txn);
    return s_err(rc);
}
