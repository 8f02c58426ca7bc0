/*
 * audit.c — asylinkd's audit trail (audit.h): the store hooks that write a
 * record into the transaction of each change, notes for events without a
 * change, checkpoints, pruning, reads and verification.
 *
 * State. `c` is the committed end of the chain (what a reader may rely
 * on); `p` is the end inside the write transaction in progress, reset to
 * `c` by every begin (a transaction may run again after the map grew) and
 * copied to `c` when it commits.
 *
 * Threads. The store hooks run in the thread of the write: the router's,
 * or the broker's committer while the router goes on (store.h,
 * store_batch_commit_detached()). The router adds notes meanwhile, so the
 * notes and `c` are under `lock`; `p`, the scratch and the rest belong to
 * the write in progress (one at a time: the router's writes wait for the
 * committer's).
 */
#include "audit.h"

#include "asylink/errors.h"
#include "bytes.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SEQ_LEN 8
/* audit_meta key: the seq of the log's last PRUNED record (be64; 0 = none), written in the
   pruning's transaction, so that a page of a long log can tell a pruning from a cut */
#define S_LAST_PRUNED "last_pruned"
#define S_UNAUDITED "unaudited_since" /* audit_mark_unaudited() */

/* The end of the chain. */
typedef struct {
    uint64_t seq;                      /* last entry; 0 = none */
    uint8_t hash[AUDITCHAIN_HASH_LEN]; /* its entry hash */
    uint64_t ckpt_seq;                 /* last checkpoint; 0 = none */
    uint64_t uncovered_ms;             /* time of the first entry after it; 0 = none */
} s_end;

/* A noted event, encoded with seq 1 (patched when written), at off in notes_buf. */
typedef struct {
    size_t off;
    size_t len;
} s_note;

#define S_NOTES_BUF_KEEP (1024 * 1024) /* an emptied notes buffer larger than this is freed */

struct audit {
    pthread_mutex_t lock; /* the notes, c and notes_dropped (see Threads above) */
    store *st;            /* borrowed */
    MDB_dbi log;          /* audit */
    MDB_dbi ckpt;         /* audit_ckpt */
    MDB_dbi meta;         /* audit_meta: S_LAST_PRUNED, S_UNAUDITED */
    char node_id[AUDITCHAIN_NAME_MAX + 1];
    uint64_t cert_serial;
    const uint8_t *sign_sk, *sign_pk; /* borrowed */
    uint64_t ckpt_entries, ckpt_interval_ms, retention_ms;
    s_end c, p;          /* committed / in the transaction */
    uint64_t txn_now_ms; /* clock when the transaction began */
    s_note *notes;       /* waiting notes, oldest first */
    size_t n_notes, cap_notes;
    uint8_t *notes_buf; /* their encodings, one after the other (no allocation per note) */
    size_t notes_len, notes_cap;
    size_t notes_written; /* notes written by the transaction in progress */
    uint64_t notes_dropped;
    char actor[AUDITCHAIN_NAME_MAX + 1]; /* audit_set_actor(); "" = the broker */
    uint64_t actor_serial;
    bool force_ckpt; /* audit_flush(checkpoint): sign at this commit */
    uint64_t unaudited_ms;   /* S_UNAUDITED as found at open (0: none) */
    bool unaudited_clearing; /* the transaction in progress deletes it */
    bool unaudited_cleared;  /* a committed transaction deleted it */
    uint8_t *buf;    /* scratch for encoding */
    size_t cap_buf;
};

/* ---- writing ---- */

#define S_SCRATCH_MIN 4096 /* the encoding scratch holds at least this (records are ~100 bytes) */

static uint8_t *s_scratch(audit *a, size_t n)
{
    if (n <= a->cap_buf)
        return a->buf;
    uint8_t *b = realloc(a->buf, n);
    if (!b)
        return NULL;
    a->buf = b;
    a->cap_buf = n;
    return b;
}

/* Appends an encoded record (seq patched here) to the chain inside txn. */
static int s_append(audit *a, MDB_txn *txn, uint8_t *rec, size_t len)
{
    uint64_t seq = a->p.seq + 1;
    if (!auditchain_record_set_seq(rec, len, seq))
        return EINVAL;
    uint8_t key[S_SEQ_LEN];
    bytes_put_be64(key, seq);
    MDB_val k = {sizeof key, key}, v = {AUDITCHAIN_HASH_LEN + len, NULL};
    int rc = mdb_put(txn, a->log, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc != MDB_SUCCESS)
        return rc;
    uint8_t *val = v.mv_data;
    memcpy(val + AUDITCHAIN_HASH_LEN, rec, len);
    auditchain_hash(a->p.hash, rec, len, val);
    memcpy(a->p.hash, val, AUDITCHAIN_HASH_LEN);
    a->p.seq = seq;
    if (!a->p.uncovered_ms)
        a->p.uncovered_ms = a->txn_now_ms ? a->txn_now_ms : 1;
    return MDB_SUCCESS;
}

/* The detail of a record reduced because a field could not be recorded. */
static const char s_unrecordable[] = "some fields of this event could not be recorded";

/* Encodes r (seq set to a placeholder) into the scratch buffer and appends it. */
static int s_append_record(audit *a, MDB_txn *txn, auditchain_record *r)
{
    r->seq = 1;
    if (!r->time_ms)
        r->time_ms = a->txn_now_ms;
    /* Encoded into the scratch as it is (records are small); sized by their
       bound only when one does not fit, so most records are sized once, not twice. */
    uint8_t *buf = s_scratch(a, S_SCRATCH_MIN);
    if (!buf)
        return ENOMEM;
    size_t len = 0;
    int rc = auditchain_record_encode(r, buf, a->cap_buf, &len);
    size_t need = rc == ASYLINK_E_TOO_LARGE ? auditchain_record_bound(r) : 0;
    if (need > a->cap_buf) {
        buf = s_scratch(a, need);
        if (!buf)
            return ENOMEM;
        rc = auditchain_record_encode(r, buf, a->cap_buf, &len);
    }
    if (rc == ASYLINK_E_BAD_FIELD && r->detail != s_unrecordable) {
        /* a field the record cannot hold (not expected: callers clean their text): the
           change still gets a record, with what is certainly valid */
        LOG_ERROR("audit", "record does not encode; recording it reduced", "kind=%s code=%s",
                  auditchain_kind_name(r->kind), asylink_err_name(rc));
        auditchain_record x = {.kind = r->kind,
                               .time_ms = r->time_ms,
                               .message_id = r->message_id,
                               .store_seq = r->store_seq,
                               .envelope_digest = r->envelope_digest,
                               .code = r->code,
                               .detail = s_unrecordable};
        return s_append_record(a, txn, &x);
    }
    if (rc != ASYLINK_OK) {
        LOG_ERROR("audit", "record does not encode", "kind=%s code=%s",
                  auditchain_kind_name(r->kind), asylink_err_name(rc));
        return EINVAL;
    }
    return s_append(a, txn, buf, len);
}

/* Signs and stores a checkpoint of the chain's end when one is due. */
static int s_checkpoint(audit *a, MDB_txn *txn, uint64_t now_ms)
{
    if (a->p.seq == a->p.ckpt_seq)
        return MDB_SUCCESS;
    bool due = a->force_ckpt || a->p.seq - a->p.ckpt_seq >= a->ckpt_entries ||
               (a->p.uncovered_ms && now_ms >= a->p.uncovered_ms + a->ckpt_interval_ms);
    if (!due)
        return MDB_SUCCESS;
    auditchain_checkpoint c = {.seq = a->p.seq, .time_ms = now_ms, .cert_serial = a->cert_serial};
    memcpy(c.entry_hash, a->p.hash, AUDITCHAIN_HASH_LEN);
    snprintf(c.broker_node_id, sizeof c.broker_node_id, "%s", a->node_id);
    uint8_t buf[AUDITCHAIN_CHECKPOINT_MAX], key[S_SEQ_LEN];
    size_t len = 0;
    if (auditchain_checkpoint_sign(&c, a->sign_sk, buf, sizeof buf, &len) != ASYLINK_OK)
        return EINVAL;
    bytes_put_be64(key, c.seq);
    MDB_val k = {sizeof key, key}, v = {len, buf};
    int rc = mdb_put(txn, a->ckpt, &k, &v, 0);
    if (rc == MDB_SUCCESS) {
        a->p.ckpt_seq = c.seq;
        a->p.uncovered_ms = 0;
    }
    return rc;
}

/* ---- store hooks ---- */

static int s_hook_begin(void *ctx, void *txn)
{
    audit *a = ctx;
    pthread_mutex_lock(&a->lock); /* the router may be adding notes: they wait for the copy */
    a->p = a->c;
    a->txn_now_ms = clock_now_ms();
    a->notes_written = 0;
    int rc = MDB_SUCCESS;
    for (size_t i = 0; i < a->n_notes && rc == MDB_SUCCESS; i++) {
        rc = s_append(a, txn, a->notes_buf + a->notes[i].off, a->notes[i].len);
        if (rc == MDB_SUCCESS)
            a->notes_written++;
    }
    /* the STARTED note that tells of a run without the trail goes with the first notes:
       the mark goes in the same transaction, so that a crash before leaves it for the next */
    a->unaudited_clearing =
        rc == MDB_SUCCESS && a->unaudited_ms && !a->unaudited_cleared && a->notes_written;
    if (a->unaudited_clearing) {
        MDB_val k = {sizeof S_UNAUDITED - 1, (void *)S_UNAUDITED};
        rc = mdb_del(txn, a->meta, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = MDB_SUCCESS;
    }
    pthread_mutex_unlock(&a->lock);
    return rc;
}

/* The actor of a change without one: the operator at work, else the broker. */
static void s_default_actor(const audit *a, auditchain_record *r)
{
    r->actor = a->actor[0] ? a->actor : a->node_id;
    r->actor_cert_serial = a->actor[0] ? a->actor_serial : a->cert_serial;
}

/* The record of a publish (accepted, duplicate or refused by the store). */
static void s_publish_record(const store_audit_event *ev, auditchain_record *r)
{
    const store_publish *p = ev->publish;
    r->actor = p->sender;
    r->actor_cert_serial = p->sender_cert_serial;
    r->message_id = p->message_id;
    r->sender = p->sender;
    r->recipients = p->recipients;
    r->n_recipients = p->n_recipients;
    r->topic = p->topic && p->topic[0] ? p->topic : NULL;
    r->envelope_digest = p->digest;
    r->envelope_size = p->envelope_len;
    r->classification = p->classification;
    r->store_seq = ev->result ? ev->result->seq : 0;
    r->expires_ms = ev->kind == AUDIT_ACCEPTED ? p->expires_ms : 0;
    r->code = ev->code;
}

/*
 * The record of a purge: the operator (audit_set_actor()) erased the
 * message; its metadata stays (recipients, digest, classification, size)
 * with the counts of what was removed and the operator's reason.
 */
static void s_purged_record(const audit *a, const store_audit_event *ev, auditchain_record *r,
                            char *detail, size_t cap)
{
    char why[AUDITCHAIN_DETAIL_MAX + 1] = "", text[2 * AUDITCHAIN_DETAIL_MAX];
    s_default_actor(a, r);
    r->recipients = ev->recipients;
    r->n_recipients =
        ev->n_recipients > AUDITCHAIN_MAX_RECIPIENTS ? AUDITCHAIN_MAX_RECIPIENTS : ev->n_recipients;
    r->envelope_digest = ev->digest;
    r->classification = ev->classification;
    r->count = ev->count + ev->count2 + ev->count3;
    if (ev->reason)
        auditchain_clean_text(ev->reason, why, sizeof why);
    snprintf(text, sizeof text, "queue=%llu dead_letters=%llu feed=%llu%s%s",
             (unsigned long long)ev->count, (unsigned long long)ev->count2,
             (unsigned long long)ev->count3, why[0] ? "; " : "", why);
    auditchain_clean_text(text, detail, cap); /* cut between characters */
    r->detail = detail;
}

/*
 * A recipient's reason (a Nack's): the record keeps its size and digest,
 * never its text, which may name a person and could not be erased from the
 * chain; the dead letter keeps the text (DESIGN-CHANGES 66).
 */
void audit_record_node_reason(auditchain_record *r, const char *reason,
                              uint8_t digest[AUDITCHAIN_HASH_LEN])
{
    size_t len = reason ? strnlen(reason, AUDITCHAIN_DETAIL_MAX) : 0;
    r->detail = NULL;
    r->reason_digest = NULL;
    r->reason_size = 0;
    if (!len)
        return;
    auditchain_reason_digest(reason, len, digest);
    r->reason_digest = digest;
    r->reason_size = (uint32_t)len;
}

static int s_hook_event(void *ctx, void *txn, const store_audit_event *ev)
{
    audit *a = ctx;
    auditchain_record r;
    memset(&r, 0, sizeof r);
    char detail[AUDITCHAIN_DETAIL_MAX + 1] = "";
    uint8_t reason_digest[AUDITCHAIN_HASH_LEN];
    const char *one[1] = {ev->node};
    r.kind = ev->kind;
    r.time_ms = ev->now_ms;
    if (ev->publish) {
        s_publish_record(ev, &r);
        return s_append_record(a, txn, &r);
    }
    r.message_id = ev->message_id;
    r.sender = ev->sender;
    r.envelope_size = ev->envelope_len;
    r.store_seq = ev->seq;
    r.attempt = ev->attempts;
    r.code = ev->code;
    r.count = ev->count;
    r.subscription = ev->name;
    r.topic = ev->topic && ev->topic[0] ? ev->topic : NULL;
    if (ev->reason && ev->node_reason) {
        audit_record_node_reason(&r, ev->reason, reason_digest);
    } else if (ev->reason) {
        auditchain_clean_text(ev->reason, detail, sizeof detail);
        r.detail = detail;
    }
    switch (ev->kind) {
    case AUDIT_ACKED:
    case AUDIT_NACKED:
    case AUDIT_DEAD_LETTERED:
        r.actor = ev->node; /* the recipient acknowledged, refused or lost it */
        r.recipients = one;
        r.n_recipients = 1;
        break;
    case AUDIT_CURSOR:
    case AUDIT_SUBSCRIBED:
    case AUDIT_UNSUBSCRIBED: r.actor = ev->node; break;
    case AUDIT_DLQ_REPLAYED:
    case AUDIT_DLQ_DROPPED:
        s_default_actor(a, &r);
        r.recipients = one;
        r.n_recipients = 1;
        break;
    case AUDIT_SWEPT:
        s_default_actor(a, &r);
        snprintf(detail, sizeof detail, "expired=%llu feed_expired=%llu dedup_dropped=%llu",
                 (unsigned long long)ev->count, (unsigned long long)ev->count2,
                 (unsigned long long)ev->count3);
        r.detail = detail;
        r.count = ev->count + ev->count2;
        break;
    case AUDIT_PURGED: s_purged_record(a, ev, &r, detail, sizeof detail); break;
    case AUDIT_CRL_RECORDED:
        s_default_actor(a, &r);
        snprintf(detail, sizeof detail, "ca=%016llx", (unsigned long long)ev->count2);
        r.detail = detail;
        break;
    default: s_default_actor(a, &r); break;
    }
    return s_append_record(a, txn, &r);
}

static int s_hook_precommit(void *ctx, void *txn)
{
    audit *a = ctx;
    return s_checkpoint(a, txn, a->txn_now_ms);
}

static void s_hook_committed(void *ctx)
{
    audit *a = ctx;
    pthread_mutex_lock(&a->lock);
    a->c = a->p;
    a->unaudited_cleared = a->unaudited_cleared || a->unaudited_clearing;
    a->unaudited_clearing = false;
    if (a->notes_written && a->n_notes > a->notes_written) {
        size_t from = a->notes[a->notes_written].off;
        memmove(a->notes_buf, a->notes_buf + from, a->notes_len - from);
        a->notes_len -= from;
        memmove(a->notes, a->notes + a->notes_written,
                (a->n_notes - a->notes_written) * sizeof *a->notes);
        for (size_t i = 0; i < a->n_notes - a->notes_written; i++)
            a->notes[i].off -= from;
    }
    a->n_notes -= a->notes_written;
    a->notes_written = 0;
    if (a->n_notes == 0) {
        a->notes_len = 0;
        if (a->notes_cap > S_NOTES_BUF_KEEP) { /* a burst is over: give its memory back */
            free(a->notes_buf);
            a->notes_buf = NULL;
            a->notes_cap = 0;
        }
    }
    pthread_mutex_unlock(&a->lock);
}

/* ---- notes ---- */

/*
 * Room for one more note and for r's encoding in notes_buf (sized: by r's
 * bound; else S_SCRATCH_MIN, what any usual record takes): ASYLINK_OK or
 * ASYLINK_E_NOMEM.
 */
static int s_notes_room(audit *a, const auditchain_record *r, bool sized)
{
    if (a->n_notes == a->cap_notes) {
        size_t ncap = a->cap_notes ? 2 * a->cap_notes : 64;
        s_note *n = realloc(a->notes, ncap * sizeof *n);
        if (!n)
            return ASYLINK_E_NOMEM;
        a->notes = n;
        a->cap_notes = ncap;
    }
    size_t need = sized ? auditchain_record_bound(r) : S_SCRATCH_MIN;
    if (need < S_SCRATCH_MIN)
        need = S_SCRATCH_MIN;
    if (a->notes_cap - a->notes_len >= need)
        return ASYLINK_OK;
    size_t cap = a->notes_cap ? a->notes_cap : 16384;
    while (cap - a->notes_len < need)
        cap *= 2;
    uint8_t *b = realloc(a->notes_buf, cap);
    if (!b)
        return ASYLINK_E_NOMEM;
    a->notes_buf = b;
    a->notes_cap = cap;
    return ASYLINK_OK;
}

void audit_note(audit *a, const auditchain_record *r)
{
    if (!a || !r)
        return;
    auditchain_record x = *r;
    x.seq = 1;
    if (!x.time_ms)
        x.time_ms = clock_now_ms();
    size_t len = 0;
    int rc = ASYLINK_E_NOMEM;
    pthread_mutex_lock(&a->lock);
    for (int sized = 0; sized < 2 && a->n_notes < AUDIT_MAX_NOTES; sized++) {
        rc = s_notes_room(a, &x, sized);
        if (rc == ASYLINK_OK)
            rc = auditchain_record_encode(&x, a->notes_buf + a->notes_len,
                                          a->notes_cap - a->notes_len, &len);
        if (rc != ASYLINK_E_TOO_LARGE)
            break;
    }
    if (rc != ASYLINK_OK) {
        if (a->notes_dropped++ % 1000 == 0)
            LOG_ERROR("audit", "audit event lost", "kind=%s code=%s waiting=%zu lost=%llu",
                      auditchain_kind_name(r->kind), asylink_err_name(rc), a->n_notes,
                      (unsigned long long)a->notes_dropped);
        pthread_mutex_unlock(&a->lock);
        return;
    }
    a->notes[a->n_notes].off = a->notes_len;
    a->notes[a->n_notes].len = len;
    a->notes_len += len;
    a->n_notes++;
    pthread_mutex_unlock(&a->lock);
}

bool audit_due(const audit *a, uint64_t now_ms)
{
    if (!a)
        return false;
    audit *m = (audit *)a; /* the lock only */
    pthread_mutex_lock(&m->lock);
    bool due =
        a->n_notes > 0 || (a->c.uncovered_ms && now_ms >= a->c.uncovered_ms + a->ckpt_interval_ms);
    pthread_mutex_unlock(&m->lock);
    return due;
}

/* Whether the chain has entries after its last checkpoint. */
static bool s_uncovered(audit *a)
{
    pthread_mutex_lock(&a->lock);
    bool u = a->c.seq > a->c.ckpt_seq;
    pthread_mutex_unlock(&a->lock);
    return u;
}

static int s_nothing(void *ctx, void *txn)
{
    (void)ctx;
    (void)txn;
    return MDB_SUCCESS;
}

int audit_flush(audit *a, uint64_t now_ms, bool checkpoint)
{
    if (!a || (!audit_due(a, now_ms) && !(checkpoint && s_uncovered(a))))
        return ASYLINK_OK;
    a->force_ckpt = checkpoint;
    int rc = store_write(a->st, s_nothing, NULL); /* the hooks write notes and the checkpoint */
    a->force_ckpt = false;
    return rc;
}

void audit_set_actor(audit *a, const char *node, uint64_t cert_serial)
{
    if (!a)
        return;
    snprintf(a->actor, sizeof a->actor, "%s", node ? node : "");
    a->actor_serial = node ? cert_serial : 0;
}

/* ---- opening ---- */

/* Reads the last key and value of dbi; MDB_NOTFOUND when empty. */
static int s_last(MDB_txn *txn, MDB_dbi dbi, uint64_t *seq, MDB_val *v)
{
    MDB_cursor *cur;
    MDB_val k;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    rc = mdb_cursor_get(cur, &k, v, MDB_LAST);
    if (rc == MDB_SUCCESS && k.mv_size != S_SEQ_LEN)
        rc = MDB_CORRUPTED;
    if (rc == MDB_SUCCESS)
        *seq = bytes_get_be64(k.mv_data);
    mdb_cursor_close(cur);
    return rc;
}

/* The first key of dbi, 0 if empty. */
static int s_first(MDB_txn *txn, MDB_dbi dbi, uint64_t *seq)
{
    MDB_cursor *cur;
    MDB_val k, v;
    *seq = 0;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    if (rc == MDB_SUCCESS && k.mv_size == S_SEQ_LEN)
        *seq = bytes_get_be64(k.mv_data);
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

/* Writes seq as the log's last PRUNED record. */
static int s_last_pruned_put(audit *a, MDB_txn *txn, uint64_t seq)
{
    uint8_t val[S_SEQ_LEN];
    bytes_put_be64(val, seq);
    MDB_val k = {sizeof S_LAST_PRUNED - 1, (void *)S_LAST_PRUNED}, v = {sizeof val, val};
    return mdb_put(txn, a->meta, &k, &v, 0);
}

/* The log's last PRUNED record as the store names it (0: none); MDB_NOTFOUND: not recorded. */
static int s_last_pruned_get(audit *a, MDB_txn *txn, uint64_t *seq)
{
    MDB_val k = {sizeof S_LAST_PRUNED - 1, (void *)S_LAST_PRUNED}, v;
    *seq = 0;
    int rc = mdb_get(txn, a->meta, &k, &v);
    if (rc == MDB_SUCCESS && v.mv_size != S_SEQ_LEN)
        rc = MDB_CORRUPTED;
    if (rc == MDB_SUCCESS)
        *seq = bytes_get_be64(v.mv_data);
    return rc;
}

/*
 * A store written before audit_meta, with a log that starts after entry 1:
 * finds its last PRUNED record once, walking back from the end (none: 0,
 * and its verify will say the front was cut).
 */
static int s_last_pruned_init(audit *a, MDB_txn *txn)
{
    uint64_t seq = 0, first = 0, scanned = 0;
    int rc = s_last_pruned_get(a, txn, &seq);
    if (rc != MDB_NOTFOUND)
        return rc;
    rc = s_first(txn, a->log, &first);
    if (rc != MDB_SUCCESS || first <= 1)
        return rc;
    MDB_cursor *cur;
    MDB_val k, v;
    rc = mdb_cursor_open(txn, a->log, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_LAST); rc == MDB_SUCCESS && !seq;
         rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
        auditchain_decoded *d = NULL;
        scanned++;
        if (k.mv_size == S_SEQ_LEN && v.mv_size > AUDITCHAIN_HASH_LEN &&
            auditchain_record_decode((const uint8_t *)v.mv_data + AUDITCHAIN_HASH_LEN,
                                     v.mv_size - AUDITCHAIN_HASH_LEN, &d) == ASYLINK_OK &&
            auditchain_decoded_record(d)->kind == AUDIT_PRUNED)
            seq = bytes_get_be64(k.mv_data);
        auditchain_decoded_destroy(&d);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return rc;
    LOG_INFO("audit", "audit log: its last pruning record located (once, for this store)",
             "entry=%llu scanned=%llu", (unsigned long long)seq, (unsigned long long)scanned);
    return s_last_pruned_put(a, txn, seq);
}

/* S_UNAUDITED into a->unaudited_ms (0 if absent). */
static int s_unaudited_get(audit *a, MDB_txn *txn)
{
    MDB_val k = {sizeof S_UNAUDITED - 1, (void *)S_UNAUDITED}, v;
    a->unaudited_ms = 0;
    int rc = mdb_get(txn, a->meta, &k, &v);
    if (rc == MDB_SUCCESS && v.mv_size != S_SEQ_LEN)
        rc = MDB_CORRUPTED;
    if (rc == MDB_SUCCESS)
        a->unaudited_ms = bytes_get_be64(v.mv_data);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

/* store_write() fn of audit_mark_unaudited(): the mark, unless one is there already. */
static int s_mark_txn(void *ctx, void *txnp)
{
    MDB_txn *txn = txnp;
    MDB_dbi meta;
    uint8_t val[S_SEQ_LEN];
    bytes_put_be64(val, *(const uint64_t *)ctx);
    MDB_val k = {sizeof S_UNAUDITED - 1, (void *)S_UNAUDITED}, v = {sizeof val, val};
    int rc = mdb_dbi_open(txn, "audit_meta", MDB_CREATE, &meta);
    if (rc == MDB_SUCCESS)
        rc = mdb_put(txn, meta, &k, &v, MDB_NOOVERWRITE); /* since the first such run */
    return rc == MDB_KEYEXIST ? MDB_SUCCESS : rc;
}

int audit_mark_unaudited(store *st, uint64_t now_ms)
{
    return st ? store_write(st, s_mark_txn, &now_ms) : ASYLINK_E_INVALID_ARG;
}

uint64_t audit_unaudited_since(const audit *a)
{
    if (!a)
        return 0;
    audit *m = (audit *)a; /* the lock only */
    pthread_mutex_lock(&m->lock);
    uint64_t ms = a->unaudited_ms;
    pthread_mutex_unlock(&m->lock);
    return ms;
}

/* store_write() fn of audit_open(): databases and the end of the chain. */
static int s_open_txn(void *ctx, void *txnp)
{
    audit *a = ctx;
    MDB_txn *txn = txnp;
    int rc = mdb_dbi_open(txn, "audit", MDB_CREATE, &a->log);
    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "audit_ckpt", MDB_CREATE, &a->ckpt);
    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "audit_meta", MDB_CREATE, &a->meta);
    if (rc == MDB_SUCCESS)
        rc = s_last_pruned_init(a, txn);
    if (rc == MDB_SUCCESS)
        rc = s_unaudited_get(a, txn);
    if (rc != MDB_SUCCESS)
        return rc;
    memset(&a->c, 0, sizeof a->c);
    MDB_val v;
    rc = s_last(txn, a->log, &a->c.seq, &v);
    if (rc == MDB_SUCCESS && v.mv_size <= AUDITCHAIN_HASH_LEN)
        rc = MDB_CORRUPTED;
    if (rc == MDB_SUCCESS)
        memcpy(a->c.hash, v.mv_data, AUDITCHAIN_HASH_LEN);
    if (rc == MDB_NOTFOUND)
        rc = MDB_SUCCESS;
    if (rc == MDB_SUCCESS)
        rc = s_last(txn, a->ckpt, &a->c.ckpt_seq, &v);
    if (rc == MDB_NOTFOUND)
        rc = MDB_SUCCESS;
    if (rc == MDB_SUCCESS && a->c.seq > a->c.ckpt_seq)
        a->c.uncovered_ms = clock_now_ms(); /* sign the tail within an interval */
    return rc;
}

int audit_open(store *st, const audit_options *o, audit **out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    if (!st || !o || !o->broker_node_id || !o->sign_sk || !o->sign_pk || !o->checkpoint_entries ||
        !o->checkpoint_interval_ms)
        return ASYLINK_E_INVALID_ARG;
    audit *a = calloc(1, sizeof *a);
    if (!a)
        return ASYLINK_E_NOMEM;
    if (pthread_mutex_init(&a->lock, NULL) != 0) {
        free(a);
        return ASYLINK_E_NOMEM;
    }
    a->st = st;
    snprintf(a->node_id, sizeof a->node_id, "%s", o->broker_node_id);
    a->cert_serial = o->cert_serial;
    a->sign_sk = o->sign_sk;
    a->sign_pk = o->sign_pk;
    a->ckpt_entries = o->checkpoint_entries;
    a->ckpt_interval_ms = o->checkpoint_interval_ms;
    a->retention_ms = o->retention_ms;
    int rc = store_write(st, s_open_txn, a);
    if (rc != ASYLINK_OK) {
        LOG_ERROR("audit", "cannot open the audit log", "code=%s", asylink_err_name(rc));
        audit_close(&a);
        return rc;
    }
    a->p = a->c;
    store_audit_hooks h = {s_hook_begin, s_hook_event, s_hook_precommit, s_hook_committed, a};
    store_set_audit(st, &h);
    *out = a;
    return ASYLINK_OK;
}

void audit_close(audit **self_p)
{
    if (!self_p || !*self_p)
        return;
    audit *a = *self_p;
    store_set_audit(a->st, NULL);
    free(a->notes);
    free(a->notes_buf);
    free(a->buf);
    pthread_mutex_destroy(&a->lock);
    free(a);
    *self_p = NULL;
}

/* ---- pruning ---- */

typedef struct {
    audit *a;
    uint64_t cutoff_ms; /* checkpoints signed before this may become the anchor */
    size_t budget;
    uint64_t removed;       /* entries removed */
    uint64_t first, anchor; /* first entry removed, new anchor */
} s_prune_ctx;

/* The first checkpoint after entry `after` signed before cutoff; 0 if none. */
static int s_prune_target(audit *a, MDB_txn *txn, uint64_t after, uint64_t cutoff, uint64_t *seq)
{
    MDB_cursor *cur;
    uint8_t key[S_SEQ_LEN];
    bytes_put_be64(key, after + 1);
    MDB_val k = {sizeof key, key}, v;
    *seq = 0;
    int rc = mdb_cursor_open(txn, a->ckpt, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    auditchain_checkpoint c;
    if (rc == MDB_SUCCESS && k.mv_size == S_SEQ_LEN &&
        auditchain_checkpoint_decode(v.mv_data, v.mv_size, &c, NULL) == ASYLINK_OK &&
        c.seq == bytes_get_be64(k.mv_data) && c.time_ms < cutoff && c.seq < a->p.seq)
        *seq = c.seq;
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

/* Deletes the keys of dbi below (or up to, inclusive) seq; counts them. */
static int s_delete_upto(MDB_txn *txn, MDB_dbi dbi, uint64_t seq, bool inclusive, uint64_t *n)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == MDB_SUCCESS) {
        uint64_t s = k.mv_size == S_SEQ_LEN ? bytes_get_be64(k.mv_data) : 0;
        if (s > seq || (s == seq && !inclusive))
            break;
        rc = mdb_cursor_del(cur, 0);
        if (rc != MDB_SUCCESS)
            break;
        if (n)
            (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

/* store_write() fn of audit_prune(): whole checkpoint intervals, then the PRUNED record. */
static int s_prune_txn(void *ctx, void *txnp)
{
    s_prune_ctx *c = ctx;
    MDB_txn *txn = txnp;
    audit *a = c->a;
    c->removed = c->first = c->anchor = 0;
    int rc = s_first(txn, a->log, &c->first);
    while (rc == MDB_SUCCESS && c->first && c->removed < c->budget) {
        uint64_t first = 0, target = 0;
        rc = s_first(txn, a->log, &first);
        if (rc == MDB_SUCCESS && first)
            rc = s_prune_target(a, txn, first - 1, c->cutoff_ms, &target);
        if (rc != MDB_SUCCESS || !target ||
            (c->removed && target - first + 1 > c->budget - c->removed))
            break;
        rc = s_delete_upto(txn, a->log, target, true, &c->removed);
        if (rc == MDB_SUCCESS)
            rc = s_delete_upto(txn, a->ckpt, target, false, NULL);
        if (rc == MDB_SUCCESS)
            c->anchor = target;
    }
    if (rc != MDB_SUCCESS || !c->removed)
        return rc;
    char detail[AUDITCHAIN_DETAIL_MAX + 1];
    snprintf(detail, sizeof detail, "entries %llu..%llu removed; anchor: checkpoint %llu",
             (unsigned long long)c->first, (unsigned long long)c->anchor,
             (unsigned long long)c->anchor);
    auditchain_record r = {
        .kind = AUDIT_PRUNED, .count = c->removed, .detail = detail, .anchor_seq = c->anchor};
    s_default_actor(a, &r);
    rc = s_append_record(a, txn, &r);
    return rc == MDB_SUCCESS ? s_last_pruned_put(a, txn, a->p.seq) : rc;
}

int audit_prune(audit *a, uint64_t now_ms, size_t budget, uint64_t *removed)
{
    if (removed)
        *removed = 0;
    if (!a || !a->retention_ms || now_ms <= a->retention_ms || budget == 0)
        return ASYLINK_OK;
    s_prune_ctx c = {.a = a, .cutoff_ms = now_ms - a->retention_ms, .budget = budget};
    int rc = store_write(a->st, s_prune_txn, &c);
    if (rc == ASYLINK_OK && c.removed) {
        LOG_INFO("audit", "audit entries pruned", "removed=%llu anchor=%llu",
                 (unsigned long long)c.removed, (unsigned long long)c.anchor);
        if (removed)
            *removed = c.removed;
    }
    return rc;
}

/* ---- reading ---- */

typedef struct {
    audit *a;
    audit_head *h;
} s_head_ctx;

static int s_head_txn(void *ctx, void *txn)
{
    s_head_ctx *c = ctx;
    int rc = s_first(txn, c->a->log, &c->h->first_seq);
    if (rc == MDB_SUCCESS)
        rc = s_last_pruned_get(c->a, txn, &c->h->last_pruned_seq);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

int audit_head_get(audit *a, audit_head *out)
{
    if (!a || !out)
        return ASYLINK_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&a->lock);
    out->last_seq = a->c.seq;
    memcpy(out->last_hash, a->c.hash, AUDITCHAIN_HASH_LEN);
    out->last_checkpoint_seq = a->c.ckpt_seq;
    out->notes_dropped = a->notes_dropped;
    pthread_mutex_unlock(&a->lock);
    s_head_ctx c = {a, out};
    return store_read(a->st, s_head_txn, &c);
}

typedef struct {
    MDB_dbi dbi;
    uint64_t from, to;
    size_t limit;
    audit_item_fn fn;
    void *ctx;
} s_walk_ctx;

static int s_walk_txn(void *ctx, void *txn)
{
    s_walk_ctx *w = ctx;
    MDB_cursor *cur;
    uint8_t key[S_SEQ_LEN];
    bytes_put_be64(key, w->from);
    MDB_val k = {sizeof key, key}, v;
    int rc = mdb_cursor_open(txn, w->dbi, &cur);
    if (rc != MDB_SUCCESS)
        return rc;
    size_t n = 0;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == MDB_SUCCESS && n < w->limit) {
        if (k.mv_size != S_SEQ_LEN) {
            rc = MDB_CORRUPTED;
            break;
        }
        uint64_t seq = bytes_get_be64(k.mv_data);
        if (w->to && seq > w->to)
            break;
        if (w->fn(w->ctx, seq, v.mv_data, v.mv_size) != 0)
            break;
        n++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

int audit_read_entries(audit *a, uint64_t from_seq, uint64_t to_seq, size_t limit, audit_item_fn fn,
                       void *ctx)
{
    if (!a || !fn)
        return ASYLINK_E_INVALID_ARG;
    s_walk_ctx w = {a->log, from_seq, to_seq, limit, fn, ctx};
    return store_read(a->st, s_walk_txn, &w);
}

int audit_read_checkpoints(audit *a, uint64_t from_seq, uint64_t to_seq, audit_item_fn fn,
                           void *ctx)
{
    if (!a || !fn)
        return ASYLINK_E_INVALID_ARG;
    s_walk_ctx w = {a->ckpt, from_seq, to_seq, SIZE_MAX, fn, ctx};
    return store_read(a->st, s_walk_txn, &w);
}

typedef struct {
    uint8_t *out;
    bool found;
} s_hash_ctx;

static int s_hash_entry(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    (void)seq;
    s_hash_ctx *h = ctx;
    if (len > AUDITCHAIN_HASH_LEN) { /* an entry is its chain hash, then the record */
        memcpy(h->out, val, AUDITCHAIN_HASH_LEN);
        h->found = true;
    }
    return 1;
}

int audit_entry_hash(audit *a, uint64_t seq, uint8_t out[AUDITCHAIN_HASH_LEN], bool *found)
{
    s_hash_ctx h = {out, false};
    int rc = audit_read_entries(a, seq, seq, 1, s_hash_entry, &h);
    *found = rc == ASYLINK_OK && h.found;
    return rc;
}

/* ---- verification ---- */

typedef struct {
    audit *a;
    const trust *t;
    auditchain_verifier *v;
    uint64_t fed;  /* entries fed */
    uint64_t last; /* last entry fed */
    uint8_t prev[AUDITCHAIN_HASH_LEN];
    bool have_prev;
} s_verify_ctx;

static const uint8_t *s_key(void *ctx, const char *node, uint64_t serial)
{
    s_verify_ctx *c = ctx;
    if (strcmp(node, c->a->node_id) == 0 && serial == c->a->cert_serial)
        return c->a->sign_pk;
    const cert *k = c->t ? trust_find_serial(c->t, node, serial) : NULL;
    return k && cert_has_role(k, CERT_ROLE_BROKER) ? k->sign_pk : NULL;
}

static int s_feed_ckpt(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    s_verify_ctx *c = ctx;
    auditchain_verifier_checkpoint(c->v, seq, val, len);
    return 0;
}

static int s_feed_entry(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    s_verify_ctx *c = ctx;
    c->fed++;
    c->last = seq;
    return auditchain_verifier_entry(c->v, seq, val, len) ? 0 : 1;
}

int audit_verify(audit *a, const trust *t, uint64_t from_seq, uint64_t to_seq, size_t limit,
                 auditchain_result *res, bool *more)
{
    if (!a || !res || !more || !limit)
        return ASYLINK_E_INVALID_ARG;
    memset(res, 0, sizeof *res);
    *more = false;
    audit_head h;
    int rc = audit_head_get(a, &h);
    if (rc != ASYLINK_OK)
        return rc;
    s_verify_ctx c = {.a = a, .t = t};
    rc = auditchain_verifier_new(s_key, &c, &c.v);
    if (rc != ASYLINK_OK)
        return rc;
    auditchain_verifier_log_first(c.v, h.first_seq); /* a page may start later */
    if (h.first_seq > 1) /* pruned, or cut: the store names its last pruning */
        auditchain_verifier_last_pruned(c.v, h.last_pruned_seq);
    uint64_t from = from_seq > h.first_seq ? from_seq : h.first_seq;
    uint64_t to = to_seq && to_seq < h.last_seq ? to_seq : h.last_seq;
    if (from > h.first_seq && from > 1) { /* a page: start from the stored predecessor */
        rc = audit_entry_hash(a, from - 1, c.prev, &c.have_prev);
        if (rc == ASYLINK_OK && c.have_prev)
            auditchain_verifier_start_at(c.v, from, c.prev);
    }
    if (rc == ASYLINK_OK)
        rc = audit_read_checkpoints(a, from > 1 ? from - 1 : 1, 0, s_feed_ckpt, &c);
    if (rc == ASYLINK_OK && h.last_seq)
        rc = audit_read_entries(a, from, to, limit, s_feed_entry, &c);
    *more = rc == ASYLINK_OK && c.fed == limit && c.last < to;
    auditchain_verifier_finish(c.v, !*more && to == h.last_seq, res);
    if (!res->ok)
        *more = false;
    auditchain_verifier_destroy(&c.v);
    return rc;
}
