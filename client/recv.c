/*
 * recv.c — handing received messages to the application exactly once,
 * acknowledgements with signed receipts, and the receipts a sender holds.
 */
#include "client_internal.h"
#include "bytes.h"

#include "clock.h"
#include "receipt.h"

#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The public receipt status numbers are the wire's (receipt.h). */
_Static_assert(ASYLINK_RECEIPT_DELIVERED == RECEIPT_DELIVERED, "receipt status numbers");
_Static_assert(ASYLINK_RECEIPT_REJECTED == RECEIPT_REJECTED, "receipt status numbers");

/* asylink_receipt_info as it was before signer_revoked, which fills its padding: same ABI. */
struct s_receipt_info_v0 {
    char recipient[65];
    uint64_t acked_ms;
    int status;
    uint8_t envelope_digest[64];
};
_Static_assert(sizeof(asylink_receipt_info) == sizeof(struct s_receipt_info_v0) &&
                   offsetof(asylink_receipt_info, acked_ms) ==
                       offsetof(struct s_receipt_info_v0, acked_ms) &&
                   offsetof(asylink_receipt_info, status) ==
                       offsetof(struct s_receipt_info_v0, status) &&
                   offsetof(asylink_receipt_info, envelope_digest) ==
                       offsetof(struct s_receipt_info_v0, envelope_digest),
               "asylink_receipt_info keeps its layout");

struct asylink_message {
    uint8_t id[16];
    char sender[NODE_ID_MAX + 1];
    char (*recipients)[NODE_ID_MAX + 1];
    size_t n_recipients;
    char content_type[ENVELOPE_CONTENT_TYPE_MAX + 1];
    char topic[ENVELOPE_TOPIC_MAX + 1];    /* "" for a direct message */
    char subscription[CSTORE_SUB_MAX + 1]; /* the feed subscription it came through, or "" */
    asylink_classification classification;
    uint64_t created_ms, expires_ms;
    bool has_correlation;
    uint8_t correlation_id[16];
    uint8_t *payload; /* decrypted, wiped at free */
    size_t len;
};

/* Decrypts an inbox entry into a message. */
static int s_open_entry(asylink_client *c, const cstore_in *in, asylink_message **out)
{
    envelope *e = NULL;
    /* Verified when it arrived (the store and the early list hold only such bytes): opening
       needs neither the digest, nor the batch walk, nor the canonical re-encoding. */
    int rc = envelope_decode_opt(in->envelope, in->envelope_len, 0,
                                 ENVELOPE_DECODE_NO_DIGEST | ENVELOPE_DECODE_STORED, &e);
    if (rc != ASYLINK_OK)
        return rc;
    asylink_message *m = calloc(1, sizeof *m);
    const envelope_header *h = envelope_header_of(e);
    if (!m || !(m->recipients = calloc(h->n_recipients + 1, sizeof *m->recipients))) {
        free(m);
        envelope_destroy(&e);
        return ASYLINK_E_NOMEM;
    }
    pthread_mutex_lock(&c->open_lock);
    rc = envelope_open(c->opener, e, &m->payload, &m->len);
    pthread_mutex_unlock(&c->open_lock);
    memcpy(m->id, h->message_id, 16);
    bytes_str_copy(m->sender, sizeof m->sender, h->sender);
    for (size_t i = 0; i < h->n_recipients; i++)
        bytes_str_copy(m->recipients[i], sizeof m->recipients[i], h->recipients[i]);
    m->n_recipients = h->n_recipients;
    bytes_str_copy(m->content_type, sizeof m->content_type, h->content_type);
    bytes_str_copy(m->topic, sizeof m->topic, h->topic ? h->topic : "");
    bytes_str_copy(m->subscription, sizeof m->subscription, in->subscription);
    m->classification = (asylink_classification)h->classification;
    m->created_ms = h->created_ms;
    m->expires_ms = h->expires_ms;
    m->has_correlation = h->has_correlation;
    memcpy(m->correlation_id, h->correlation_id, 16);
    envelope_destroy(&e);
    if (rc != ASYLINK_OK) {
        asylink_message_free(&m);
        return rc;
    }
    *out = m;
    return ASYLINK_OK;
}

/*
 * The next pending entry after the cursor, or E_NOT_FOUND (lock held): the
 * committed inbox first, then the entries the I/O thread is committing
 * (early.c), whose sequence numbers are above every committed one.
 */
static int s_next_entry(asylink_client *c, cstore_in *in)
{
    c->last_taken.used = false;
    int rc = cstore_inbox_next_pending(c->store, c->recv_cursor, in);
    if (rc == ASYLINK_OK)
        c->recv_cursor = in->seq;
    else if (rc == ASYLINK_E_NOT_FOUND)
        rc = client_early_take(c, in);
    return rc;
}

int asylink_recv(asylink_client *c, int timeout_ms, asylink_message **out)
{
    *out = NULL;
    if (!c)
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    struct timespec deadline;
    client_deadline(timeout_ms < 0 ? 0 : timeout_ms, &deadline);
    pthread_mutex_lock(&c->lock);
    for (;;) {
        cstore_in in;
        uint64_t before = c->recv_cursor;
        int rc = s_next_entry(c, &in);
        if (rc == ASYLINK_OK) {
            client_handed_put(c, &c->last_taken); /* its digest, for the acknowledgement */
            client_update_readable(c);
            pthread_mutex_unlock(&c->lock);
            rc = s_open_entry(c, &in, out);
            if (rc == ASYLINK_E_NOMEM) {
                /* Not handed over: the next call takes it again (unless another thread's
                   recv has taken a later one meanwhile: then after a restart). */
                pthread_mutex_lock(&c->lock);
                if (c->recv_cursor == in.seq)
                    c->recv_cursor = before;
                client_update_readable(c);
                pthread_mutex_unlock(&c->lock);
            } else if (rc != ASYLINK_OK) {
                client_event_push(c, ASYLINK_EVENT_RECEIVE_FAILED, in.id, rc,
                                  "a stored message does not open", in.sender);
            }
            cstore_in_clear(&in);
            if (rc == ASYLINK_OK || rc == ASYLINK_E_NOMEM)
                return rc;
            pthread_mutex_lock(&c->lock);
            continue;
        }
        if (rc != ASYLINK_E_NOT_FOUND) {
            pthread_mutex_unlock(&c->lock);
            return rc;
        }
        if (atomic_load(&c->stop)) {
            pthread_mutex_unlock(&c->lock);
            return ASYLINK_E_SHUTDOWN;
        }
        if (!client_wait(c, timeout_ms, &deadline)) {
            uint64_t cursor = c->recv_cursor;
            rc = s_next_entry(c, &in);
            if (rc == ASYLINK_OK) { /* arrived just at the deadline */
                c->recv_cursor = cursor;
                cstore_in_clear(&in);
                continue;
            }
            pthread_mutex_unlock(&c->lock);
            return ASYLINK_E_TIMEOUT;
        }
    }
}

/* One message of an acknowledgement: its inbox key, then what was found. */
typedef struct {
    uint8_t id[16];
    char sender[NODE_ID_MAX + 1];
    char sub[CSTORE_SUB_MAX + 1]; /* "" for a direct message */
    bool pending;                 /* in the inbox and not acknowledged yet */
    bool resolved;                /* found PENDING by id alone, its record read then: */
    uint64_t seq;                 /* ... its inbox seq */
    bool has_digest, topic;       /* ... what it says (cstore_in_ref) */
    uint8_t digest[64];           /* ... */
    bool receipt;                 /* a direct message whose sender gets a receipt */
    receipt r;                    /* that receipt */
} s_ack_item;

/* The inbox key of an item (pointing into it). */
static cstore_in_key s_item_key(const s_ack_item *it)
{
    return (cstore_in_key){.id = it->id, .sender = it->sender, .subscription = it->sub};
}

/* Whether two items name the same inbox entry. */
static bool s_same_key(const s_ack_item *a, const s_ack_item *b)
{
    return memcmp(a->id, b->id, 16) == 0 && strcmp(a->sender, b->sender) == 0 &&
           strcmp(a->sub, b->sub) == 0;
}

/*
 * Completes an item that holds only a message id with the key of the one
 * unacknowledged entry holding that id. *skip: every entry with the id is
 * acknowledged already (nothing to do). ASYLINK_E_AMBIGUOUS when several
 * are unacknowledged (two senders, or one feed message through several
 * subscriptions), ASYLINK_E_NOT_FOUND when none has it.
 */
/* What cstore_inbox_find*() found for an id: rc, the counts, the first PENDING entry. */
typedef struct {
    int rc;
    size_t pending, acked;
    cstore_in_ref ref;
} s_found;

static int s_ack_resolve(s_ack_item *it, const s_found *f, bool *skip)
{
    const cstore_in_ref ref = f->ref;
    size_t pending = f->pending, acked = f->acked;
    *skip = false;
    int rc = f->rc;
    if (rc != ASYLINK_OK)
        return rc;
    if (pending > 1)
        return ASYLINK_E_AMBIGUOUS;
    if (pending == 0) {
        *skip = acked > 0;
        return acked > 0 ? ASYLINK_OK : ASYLINK_E_NOT_FOUND;
    }
    bytes_str_copy(it->sender, sizeof it->sender, ref.sender);
    bytes_str_copy(it->sub, sizeof it->sub, ref.subscription);
    it->resolved = true;
    it->seq = ref.seq;
    it->has_digest = ref.has_digest;
    it->topic = ref.topic;
    memcpy(it->digest, ref.digest, sizeof it->digest);
    return ASYLINK_OK;
}

/* The receipt of a pending entry, from what its hand-over remembered. */
static void s_ack_from_handed(asylink_client *c, s_ack_item *it, const client_handed *h,
                              uint64_t now)
{
    it->pending = true;
    it->receipt = !h->feed; /* feed messages get no receipts */
    it->r = (receipt){.acked_ms = now, .status = RECEIPT_DELIVERED};
    memcpy(it->r.message_id, h->id, 16);
    memcpy(it->r.envelope_digest, h->digest, 64);
    bytes_str_copy(it->r.recipient, sizeof it->r.recipient, c->own->node_id);
    bytes_str_copy(it->r.sender, sizeof it->r.sender, h->sender);
}

/* Looks up one key: pending (with its receipt prepared), already acked, or unknown. */
static int s_ack_prepare(asylink_client *c, s_ack_item *it, uint64_t now)
{
    cstore_in_key key = s_item_key(it);
    client_handed hd;
    pthread_mutex_lock(&c->lock);
    bool known = client_handed_get(c, it->id, it->sender, it->sub, &hd);
    pthread_mutex_unlock(&c->lock);
    int st = 0;
    cstore_in in;
    int rc;
    if (it->resolved) {
        /* Found PENDING by id just now, under the ack lock: its record was read then. */
        memset(&in, 0, sizeof in);
        st = CSTORE_IN_PENDING;
        in.has_digest = it->has_digest;
        in.topic = it->topic;
        memcpy(in.digest, it->digest, sizeof in.digest);
        memcpy(in.id, it->id, sizeof in.id);
        bytes_str_copy(in.sender, sizeof in.sender, it->sender);
        rc = ASYLINK_OK;
    } else {
        rc = cstore_inbox_peek(c->store, &key, &st, &in); /* no envelope read */
    }
    if (rc == ASYLINK_OK && st == CSTORE_IN_PENDING && known) {
        s_ack_from_handed(c, it, &hd, now); /* no digest computed */
        return ASYLINK_OK;
    }
    if (rc == ASYLINK_OK && st == CSTORE_IN_PENDING && in.has_digest) {
        /* stored with its digest when it arrived (verified then) */
        it->pending = true;
        it->receipt = !in.topic; /* feed messages get no receipts */
        it->r = (receipt){.acked_ms = now, .status = RECEIPT_DELIVERED};
        memcpy(it->r.message_id, in.id, 16);
        memcpy(it->r.envelope_digest, in.digest, 64);
        bytes_str_copy(it->r.recipient, sizeof it->r.recipient, c->own->node_id);
        bytes_str_copy(it->r.sender, sizeof it->r.sender, in.sender);
        return ASYLINK_OK;
    }
    if (rc == ASYLINK_OK && st == CSTORE_IN_PENDING)
        rc = cstore_inbox_get(c->store, &key, &in); /* stored without its digest: decoded */
    else if (rc == ASYLINK_OK)
        rc = ASYLINK_E_NOT_FOUND; /* acknowledged or purged: as below */
    if (rc == ASYLINK_E_NOT_FOUND) {
        int state = 0;
        rc = cstore_inbox_state(c->store, &key, &state);
        if (rc == ASYLINK_OK && state == CSTORE_IN_PURGED)
            rc = ASYLINK_E_PURGED; /* erased on this node (asylink_purge): no receipt */
        else if (rc == ASYLINK_OK && state != CSTORE_IN_ACKED)
            rc = ASYLINK_E_NOT_FOUND; /* pending but unreadable: cannot happen */
        return rc;                    /* OK: acked before, nothing to do */
    }
    if (rc != ASYLINK_OK)
        return rc;
    it->pending = true;
    envelope *e = NULL;
    /* Verified when it arrived: the receipt needs the digest, not the batch walk. */
    rc = envelope_decode_opt(in.envelope, in.envelope_len, 0,
                             ENVELOPE_DECODE_NO_PROOF | ENVELOPE_DECODE_STORED, &e);
    if (rc == ASYLINK_E_NOMEM) {
        cstore_in_clear(&in);
        return rc;
    }
    if (rc != ASYLINK_OK) /* verified when it arrived: the stored copy is damaged */
        client_log(c, ASYLINK_LOG_WARN,
                   "acknowledged without a receipt: stored envelope unreadable",
                   "sender=%s code=%s", in.sender, asylink_err_name(rc));
    if (rc == ASYLINK_OK) {
        const envelope_header *h = envelope_header_of(e);
        /* Feed messages get no receipts: acking just marks them done. */
        it->receipt = !(h->topic && h->topic[0]);
        it->r = (receipt){.acked_ms = now, .status = RECEIPT_DELIVERED};
        memcpy(it->r.message_id, h->message_id, 16);
        memcpy(it->r.envelope_digest, envelope_digest(e), 64);
        bytes_str_copy(it->r.recipient, sizeof it->r.recipient, c->own->node_id);
        bytes_str_copy(it->r.sender, sizeof it->r.sender, h->sender);
    }
    envelope_destroy(&e);
    cstore_in_clear(&in);
    return ASYLINK_OK;
}

/*
 * Seals one ReceiptSet envelope for receipts r[0..n) (all to one sender)
 * into *draft (signed later, with the call's other receipts) and describes
 * it in out.
 */
static int s_seal_receipts(asylink_client *c, const s_ack_item *items, size_t n,
                           cstore_out_new *out, envelope_draft **draft, uint8_t id[16],
                           uint8_t digest[64])
{
    receipt *r = malloc(n * sizeof *r);
    if (!r)
        return ASYLINK_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        r[i] = items[i].r;
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = receipt_set_encode(r, n, &payload, &len);
    free(r);
    if (rc != ASYLINK_OK)
        return rc;
    asylink_send_params p;
    asylink_send_params_init(&p);
    p.recipients = &out->recipients[0];
    p.n_recipients = 1;
    p.content_type = RECEIPT_CONTENT_TYPE;
    p.classification = ASYLINK_LIMITED;
    p.correlation_id = n == 1 ? items[0].r.message_id : NULL;
    rc = client_seal(c, &p, payload, len, draft, id, digest);
    free(payload);
    if (rc == ASYLINK_OK) {
        out->id = id;
        out->digest = digest;
        out->created_ms = clock_now_ms();
    }
    return rc;
}

/* The receipt envelopes of an ack: one per sender, signed together. */
typedef struct {
    cstore_out_new *items;
    envelope_draft **drafts; /* items[i]'s envelope (owns the signed bytes) */
    uint8_t (*ids)[16];
    uint8_t (*digests)[64];
    const char **senders;
    size_t n;
} s_receipts;

static void s_receipts_free(s_receipts *rs)
{
    for (size_t i = 0; rs->drafts && i < rs->n; i++)
        envelope_draft_destroy(&rs->drafts[i]);
    free(rs->drafts);
    free(rs->items);
    free(rs->ids);
    free(rs->digests);
    free(rs->senders);
}

/* True for the seal errors that mean the sender has no usable certificate here. */
static bool s_sender_unusable(int rc)
{
    return rc == ASYLINK_E_UNKNOWN_RECIPIENT || rc == ASYLINK_E_REVOKED ||
           rc == ASYLINK_E_CERT_EXPIRED || rc == ASYLINK_E_CERT_NOT_YET_VALID;
}

/*
 * Seals a ReceiptSet per sender for the items that get receipts (sorted by
 * sender) and signs them together (one batch, PROTOCOL.md 4.10). A sender without a usable
 * certificate gets none (logged); any other failure (memory) fails the whole acknowledgement, so
 * that no message is acknowledged without the receipt it is owed.
 */
static int s_make_receipts(asylink_client *c, const s_ack_item *items, size_t n, s_receipts *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->items = calloc(n, sizeof *rs->items);
    rs->drafts = calloc(n, sizeof *rs->drafts);
    rs->ids = calloc(n, sizeof *rs->ids);
    rs->digests = calloc(n, sizeof *rs->digests);
    rs->senders = calloc(n, sizeof *rs->senders);
    if (!rs->items || !rs->drafts || !rs->ids || !rs->digests || !rs->senders)
        return ASYLINK_E_NOMEM;
    for (size_t i = 0; i < n && items[i].receipt;) {
        size_t k = i;
        while (k < n && items[k].receipt && strcmp(items[k].r.sender, items[i].r.sender) == 0 &&
               k - i < RECEIPT_SET_MAX)
            k++;
        cstore_out_new *o = &rs->items[rs->n];
        rs->senders[rs->n] = items[i].r.sender;
        o->recipients = &rs->senders[rs->n];
        o->n_recipients = 1;
        int rc = s_seal_receipts(c, items + i, k - i, o, &rs->drafts[rs->n], rs->ids[rs->n],
                                 rs->digests[rs->n]);
        if (rc == ASYLINK_OK)
            rs->n++;
        else if (s_sender_unusable(rc))
            client_log(c, ASYLINK_LOG_WARN, "no receipt sent: the sender is not usable",
                       "sender=%s messages=%zu code=%s", items[i].r.sender, k - i,
                       asylink_err_name(rc));
        else
            return rc;
        i = k;
    }
    if (rs->n == 0)
        return ASYLINK_OK;
    int rc = client_sign(c, rs->drafts, rs->n); /* one signature for the whole call */
    for (size_t i = 0; rc == ASYLINK_OK && i < rs->n; i++)
        rs->items[i].envelope = envelope_draft_bytes(rs->drafts[i], &rs->items[i].envelope_len);
    return rc;
}

/* What one acknowledgement transaction writes. */
typedef struct {
    const s_ack_item *items;
    size_t n;
} s_ack_write;

/* cstore_write's operations: mark the entries acked, record the receipts owed. */
static int s_fill_ack(cstore_txn *t, void *arg)
{
    const s_ack_write *w = arg;
    int rc = ASYLINK_OK;
    for (size_t i = 0; rc == ASYLINK_OK && i < w->n; i++) {
        if (!w->items[i].pending)
            continue;
        cstore_in_key key = s_item_key(&w->items[i]);
        /* found by id just before: its record is read by seq, not through the id index */
        rc = w->items[i].resolved ? cstore_inbox_ack_at(t, &key, w->items[i].seq)
                                  : cstore_inbox_ack(t, &key);
        if (rc == ASYLINK_OK && w->items[i].receipt)
            rc = cstore_owed_add(t, &w->items[i].r);
    }
    return rc;
}

/*
 * Acknowledges items[0..n): each holds a full key, or (by_id) only a
 * message id, completed here with s_ack_resolve. Repeated keys count once.
 * All or nothing; takes over nothing (items stays the caller's). The
 * receipts are owed from the commit on and sealed by the I/O thread
 * (client_receipts_flush).
 */
/*
 * Looks every item's id up in one read transaction (cstore_inbox_find_many);
 * *found is malloc'd, n long.
 */
static int s_ack_find(asylink_client *c, const s_ack_item *items, size_t n, s_found **found)
{
    s_found *f = calloc(n, sizeof *f);
    uint8_t(*ids)[16] = malloc(n * sizeof *ids);
    cstore_in_ref *refs = malloc(n * sizeof *refs);
    size_t *np = malloc(n * sizeof *np), *na = malloc(n * sizeof *na);
    int *rcs = malloc(n * sizeof *rcs);
    int rc = f && ids && refs && np && na && rcs ? ASYLINK_OK : ASYLINK_E_NOMEM;
    for (size_t i = 0; i < n && rc == ASYLINK_OK; i++)
        memcpy(ids[i], items[i].id, 16);
    if (rc == ASYLINK_OK)
        rc = cstore_inbox_find_many(c->store, (const uint8_t(*)[16])ids, n, refs, np, na, rcs);
    for (size_t i = 0; i < n && rc == ASYLINK_OK; i++)
        f[i] = (s_found){.rc = rcs[i], .pending = np[i], .acked = na[i], .ref = refs[i]};
    free(ids);
    free(refs);
    free(np);
    free(na);
    free(rcs);
    if (rc != ASYLINK_OK) {
        free(f);
        f = NULL;
    }
    *found = f;
    return rc;
}

/*
 * An acknowledgement that failed because a message it names was handed over
 * early and its commit failed (that message comes again once stored):
 * nothing was acknowledged, so the call's other messages, stored and
 * handed over before, are handed over again too (recv's cursor goes back
 * below the first of them), as after a restart. Otherwise an application
 * acknowledging them together again would find the failed one missing
 * until it is stored again, and would not be given the others again.
 */
static void s_ack_rewind(asylink_client *c, const s_ack_item *items, size_t n)
{
    s_found *found = NULL;
    if (s_ack_find(c, items, n, &found) != ASYLINK_OK)
        return;
    uint64_t first = UINT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (found[i].rc == ASYLINK_OK && found[i].pending > 0 && found[i].ref.seq < first)
            first = found[i].ref.seq;
    free(found);
    pthread_mutex_lock(&c->lock);
    if (first != UINT64_MAX && c->recv_cursor >= first) {
        c->recv_cursor = first - 1;
        client_update_readable(c);
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
}

static int s_ack_run(asylink_client *c, s_ack_item *items, size_t n, bool by_id)
{
    uint64_t now = clock_now_ms();
    size_t m = 0;
    /* A message handed over before its inbox commit is acknowledged after it. */
    int rc = n ? client_early_wait(c, items[0].id, sizeof items[0], n) : ASYLINK_OK;
    if (rc != ASYLINK_OK) {
        s_ack_rewind(c, items, n);
        return rc;
    }
    /* One acknowledgement at a time: two threads acking the same message
       must not both find it pending and both owe a receipt. */
    pthread_mutex_lock(&c->ack_lock);
    s_found *found = NULL; /* by id: every id looked up at once (nothing is written before the
                              commit below, so each finds what a look-up of its own would) */
    if (by_id)
        rc = s_ack_find(c, items, n, &found);
    uint8_t missing[16] = {0}; /* the id looked up last: the one not found, if any */
    bool looked = false;
    for (size_t i = 0; i < n && rc == ASYLINK_OK; i++) {
        bool skip = false;
        if (by_id)
            rc = s_ack_resolve(&items[i], &found[i], &skip);
        for (size_t k = 0; k < m && rc == ASYLINK_OK && !skip; k++)
            skip = s_same_key(&items[k], &items[i]);
        memcpy(missing, items[i].id, 16);
        looked = true;
        if (rc != ASYLINK_OK || skip)
            continue;
        if (m != i)
            items[m] = items[i];
        rc = s_ack_prepare(c, &items[m], now);
        m++;
    }
    free(found);
    /* Not found because the commit of a turn that handed it over early failed (after which it
       comes again once stored): that commit's error, as while it ran (client_early_wait). */
    int lost = rc == ASYLINK_E_NOT_FOUND && looked ? client_early_lost(c, missing) : ASYLINK_OK;
    if (lost != ASYLINK_OK)
        rc = lost;
    size_t owed = 0;
    for (size_t i = 0; i < m; i++)
        owed += items[i].pending && items[i].receipt;
    if (rc == ASYLINK_OK) {
        s_ack_write w = {items, m};
        rc = client_io_write(c, s_fill_ack, &w); /* with the I/O thread's next commit */
    }
    pthread_mutex_unlock(&c->ack_lock);
    if (lost != ASYLINK_OK) {
        s_ack_rewind(c, items, n); /* nothing acknowledged: all of them come again */
        return rc;
    }
    /* (IO: perhaps stored, only its flush failing, client_io_write: the flush recounts from the
       store what is owed.) */
    if ((rc == ASYLINK_OK || rc == ASYLINK_E_IO) && owed) {
        pthread_mutex_lock(&c->lock);
        if (c->owed_count == 0)
            c->owed_since_ms = now;
        c->owed_count += owed;
        pthread_mutex_unlock(&c->lock);
        client_wake_io(c);
    }
    return rc;
}

/* Orders owed receipts by the sender they go to, then by acknowledgement. */
static int s_owed_by_sender(const void *a, const void *b)
{
    const s_ack_item *x = a, *y = b;
    int d = strcmp(x->r.sender, y->r.sender);
    return d ? d : (x->r.acked_ms > y->r.acked_ms) - (x->r.acked_ms < y->r.acked_ms);
}

/* What one flush transaction writes. */
typedef struct {
    const cstore_owed *owed;
    size_t n;
    uint64_t damaged;
    const s_receipts *rs;
} s_flush_write;

/* cstore_write's operations: queue the sealed receipts, drop what they settle. */
static int s_fill_flush(cstore_txn *t, void *arg)
{
    const s_flush_write *w = arg;
    int rc = ASYLINK_OK;
    /* Not published before the commit (early.c): a commit that failed after its receipt sets
       went out would leave the receipts owed, sealed again into new sets, received twice. */
    for (size_t i = 0; rc == ASYLINK_OK && i < w->rs->n; i++)
        rc = cstore_outbox_add(t, &w->rs->items[i], NULL);
    if (rc == ASYLINK_OK)
        rc = cstore_owed_del_many(t, w->owed, w->n);
    if (rc == ASYLINK_OK && w->damaged)
        rc = cstore_owed_del(t, w->damaged);
    return rc;
}

bool client_receipts_due(asylink_client *c, uint64_t now_ms, uint64_t *wait_ms)
{
    pthread_mutex_lock(&c->lock);
    bool due = false;
    *wait_ms = UINT64_MAX;
    if (c->owed_count >= CLIENT_RECEIPT_FLUSH_AT ||
        (c->owed_count && now_ms >= c->owed_since_ms + CLIENT_RECEIPT_LINGER_MS))
        due = true;
    else if (c->owed_count)
        *wait_ms = c->owed_since_ms + CLIENT_RECEIPT_LINGER_MS - now_ms;
    pthread_mutex_unlock(&c->lock);
    return due;
}

/* One flush: the owed receipts listed, and their sealed sets. */
struct client_flush {
    cstore_owed *owed;
    s_ack_item *items;
    size_t n;
    uint64_t damaged;
    s_receipts rs;
    s_flush_write w;
    int rc; /* what _begin found */
};

int client_receipts_flush_begin(asylink_client *c, client_flush **out)
{
    enum { MAX = RECEIPT_SET_MAX };
    client_flush *f = calloc(1, sizeof *f);
    *out = f;
    if (!f)
        return ASYLINK_E_NOMEM;
    f->owed = malloc(MAX * sizeof *f->owed);
    f->items = malloc(MAX * sizeof *f->items);
    int rc = f->owed && f->items ? cstore_owed_list(c->store, f->owed, MAX, &f->n, &f->damaged)
                                 : ASYLINK_E_NOMEM;
    if (rc == ASYLINK_OK && (f->n || f->damaged)) {
        for (size_t i = 0; i < f->n; i++) {
            f->items[i] = (s_ack_item){.pending = true, .receipt = true, .r = f->owed[i].r};
            bytes_str_copy(f->items[i].r.recipient, sizeof f->items[i].r.recipient,
                           c->own->node_id);
        }
        if (f->damaged)
            client_log(c, ASYLINK_LOG_WARN, "an owed receipt record is damaged: dropped",
                       "seq=%llu", (unsigned long long)f->damaged);
        qsort(f->items, f->n, sizeof *f->items, s_owed_by_sender);
        if (f->n) /* one signature for the whole flush */
            rc = s_make_receipts(c, f->items, f->n, &f->rs);
    }
    if (rc != ASYLINK_OK)
        f->n = f->damaged = 0; /* nothing to write */
    f->w = (s_flush_write){f->owed, f->n, f->damaged, &f->rs};
    f->rc = rc;
    return rc;
}

int client_receipts_flush_fill(cstore_txn *t, void *arg)
{
    client_flush *f = arg;
    if (f->rc != ASYLINK_OK || (!f->n && !f->damaged))
        return f->rc;
    return s_fill_flush(t, &f->w);
}

void client_receipts_flush_end(asylink_client *c, client_flush *f, int rc)
{
    uint64_t left = 0;
    size_t n = f ? f->n : 0;
    /* Counted under the lock: an acknowledgement committed meanwhile adds its receipts to
       owed_count after its commit (s_ack_run), so either this count holds them or the addition
       comes after it; a count taken before the lock could miss them and then overwrite the
       addition, leaving them unsealed until the next acknowledgement. */
    pthread_mutex_lock(&c->lock);
    if (rc == ASYLINK_OK)
        rc = cstore_owed_count(c->store, &left);
    if (rc == ASYLINK_OK) {
        c->owed_count = left;
        if (left)
            c->owed_since_ms = 0; /* more than one flush held: the rest is due at once */
    } else {
        c->owed_since_ms = clock_now_ms() + 1000; /* try again in a second */
    }
    pthread_mutex_unlock(&c->lock);
    if (rc != ASYLINK_OK)
        client_log(c, ASYLINK_LOG_WARN, "receipts not sealed yet, retrying", "owed=%zu code=%s", n,
                   asylink_err_name(rc));
    if (!f)
        return;
    s_receipts_free(&f->rs);
    free(f->owed);
    free(f->items);
    free(f);
}

int client_receipts_flush(asylink_client *c)
{
    client_flush *f = NULL;
    int rc = client_receipts_flush_begin(c, &f);
    if (rc == ASYLINK_OK && (f->n || f->damaged))
        rc = cstore_write(c->store, client_receipts_flush_fill, f);
    client_receipts_flush_end(c, f, rc);
    return rc;
}

int asylink_ack_many(asylink_client *c, const uint8_t (*message_ids)[16], size_t n)
{
    if (!c || (!message_ids && n))
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    if (n > ASYLINK_ACK_MAX)
        return ASYLINK_E_TOO_LARGE;
    if (n == 0)
        return ASYLINK_OK;
    s_ack_item *items = calloc(n, sizeof *items);
    if (!items)
        return ASYLINK_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        memcpy(items[i].id, message_ids[i], 16);
    int rc = s_ack_run(c, items, n, true);
    free(items);
    return rc;
}

int asylink_ack(asylink_client *c, const uint8_t message_id[16])
{
    return asylink_ack_many(c, (const uint8_t(*)[16])message_id, 1);
}

int asylink_ack_keys(asylink_client *c, const asylink_ack_key *keys, size_t n)
{
    if (!c || (!keys && n))
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    if (n > ASYLINK_ACK_MAX)
        return ASYLINK_E_TOO_LARGE;
    if (n == 0)
        return ASYLINK_OK;
    for (size_t i = 0; i < n; i++) {
        const char *sub = keys[i].subscription ? keys[i].subscription : "";
        size_t slen = keys[i].sender ? strnlen(keys[i].sender, NODE_ID_MAX + 1) : 0;
        if (slen == 0 || slen > NODE_ID_MAX || strnlen(sub, CSTORE_SUB_MAX + 1) > CSTORE_SUB_MAX)
            return ASYLINK_E_INVALID_ARG;
    }
    s_ack_item *items = calloc(n, sizeof *items);
    if (!items)
        return ASYLINK_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        memcpy(items[i].id, keys[i].message_id, 16);
        bytes_str_copy(items[i].sender, sizeof items[i].sender, keys[i].sender);
        bytes_str_copy(items[i].sub, sizeof items[i].sub,
                       keys[i].subscription ? keys[i].subscription : "");
    }
    int rc = s_ack_run(c, items, n, false);
    free(items);
    return rc;
}

int asylink_ack_message(asylink_client *c, const asylink_message *m)
{
    if (!c || !m)
        return ASYLINK_E_INVALID_ARG;
    asylink_ack_key k = {.sender = m->sender, .subscription = m->subscription};
    memcpy(k.message_id, m->id, 16);
    return asylink_ack_keys(c, &k, 1);
}

/* ---- messages ---- */

const uint8_t *asylink_message_id(const asylink_message *m)
{
    return m ? m->id : NULL;
}

const char *asylink_message_sender(const asylink_message *m)
{
    return m ? m->sender : NULL;
}

size_t asylink_message_recipient_count(const asylink_message *m)
{
    return m ? m->n_recipients : 0;
}

const char *asylink_message_subscription(const asylink_message *m)
{
    return m ? m->subscription : NULL;
}

const char *asylink_message_recipient(const asylink_message *m, size_t i)
{
    return m && i < m->n_recipients ? m->recipients[i] : NULL;
}

const char *asylink_message_topic(const asylink_message *m)
{
    return m ? m->topic : NULL;
}

const char *asylink_message_content_type(const asylink_message *m)
{
    return m ? m->content_type : NULL;
}

asylink_classification asylink_message_classification(const asylink_message *m)
{
    return m ? m->classification : 0;
}

uint64_t asylink_message_created_ms(const asylink_message *m)
{
    return m ? m->created_ms : 0;
}

uint64_t asylink_message_expires_ms(const asylink_message *m)
{
    return m ? m->expires_ms : 0;
}

const uint8_t *asylink_message_correlation_id(const asylink_message *m)
{
    return m && m->has_correlation ? m->correlation_id : NULL;
}

const void *asylink_message_payload(const asylink_message *m, size_t *len)
{
    if (len)
        *len = m ? m->len : 0;
    return m ? m->payload : NULL;
}

void asylink_message_free(asylink_message **self_p)
{
    if (!self_p || !*self_p)
        return;
    asylink_message *m = *self_p;
    envelope_payload_free(m->payload, m->len);
    free(m->recipients);
    free(m);
    *self_p = NULL;
}

/* ---- receipts ---- */

/* Whether a decrypted receipt is signed by its recipient and addressed to us. */
static bool s_receipt_ours(asylink_client *c, const envelope_header *h, const receipt *r)
{
    return strcmp(r->recipient, h->sender) == 0 && strcmp(r->sender, c->own->node_id) == 0;
}

/*
 * Checks receipts r[0..n) against the messages they claim to cover: into
 * res[i] ASYLINK_OK, E_TAMPERED (signer not the recipient, not addressed to
 * us, or not what was sent), E_NOT_FOUND (no such sent message), E_IO.
 */
static int s_receipts_match(asylink_client *c, const envelope_header *h, const receipt *r, size_t n,
                            cstore_out_match *res)
{
    for (size_t i = 0; i < n; i++)
        res[i] = (cstore_out_match){
            .id = r[i].message_id, .recipient = r[i].recipient, .digest = r[i].envelope_digest};
    int rc = cstore_outbox_match_many(c->store, res, n); /* one read for the whole set */
    for (size_t i = 0; rc == ASYLINK_OK && i < n; i++)
        if (!s_receipt_ours(c, h, &r[i]))
            res[i].rc = ASYLINK_E_TAMPERED; /* signer must be the recipient, addressee us */
    return rc;
}

void client_receipt_info(const receipt *r, asylink_receipt_info *info)
{
    memset(info, 0, sizeof *info);
    bytes_str_copy(info->recipient, sizeof info->recipient, r->recipient);
    info->acked_ms = r->acked_ms;
    info->status = r->status;
    memcpy(info->envelope_digest, r->envelope_digest, 64);
}

int client_receipt_check(asylink_client *c, const envelope *e, receipt **out, size_t *n,
                         size_t *skipped)
{
    *out = NULL;
    *n = 0;
    if (skipped)
        *skipped = 0;
    const envelope_header *h = envelope_header_of(e);
    if (strcmp(h->content_type, RECEIPT_CONTENT_TYPE) != 0)
        return ASYLINK_E_MALFORMED;
    if (h->n_recipients == 0)
        return ASYLINK_E_NOT_RECIPIENT; /* a feed message is nobody's receipt (PROTOCOL.md 5) */
    if (h->encryption == ENVELOPE_ENC_NONE)
        return ASYLINK_E_CLASSIFICATION; /* signed only: no evidence bundle could hold it */
    uint8_t *payload = NULL;
    size_t len = 0;
    pthread_mutex_lock(&c->open_lock);
    int rc = envelope_open(c->opener, e, &payload, &len);
    pthread_mutex_unlock(&c->open_lock);
    if (rc != ASYLINK_OK)
        return rc;
    receipt *r = NULL;
    size_t count = 0;
    rc = receipt_set_decode(payload, len, &r, &count);
    envelope_payload_free(payload, len);
    /* A set is refused whole when an entry does not match; an entry for a message
       this node no longer holds (erased, or past the metadata retention) is skipped,
       so that one receipt set covering several acknowledgements is not lost with it. */
    size_t kept = 0, unknown = 0;
    cstore_out_match *res = rc == ASYLINK_OK ? calloc(count ? count : 1, sizeof *res) : NULL;
    if (rc == ASYLINK_OK)
        rc = res ? s_receipts_match(c, h, r, count, res) : ASYLINK_E_NOMEM;
    for (size_t i = 0; rc == ASYLINK_OK && i < count; i++) {
        int m = res[i].rc;
        if (m == ASYLINK_OK)
            r[kept++] = r[i];
        else if (m == ASYLINK_E_NOT_FOUND)
            unknown++;
        else
            rc = m;
    }
    free(res);
    if (skipped)
        *skipped = unknown;
    if (rc == ASYLINK_OK && kept == 0)
        rc = ASYLINK_E_NOT_FOUND;
    if (rc != ASYLINK_OK) {
        free(r);
        return rc;
    }
    if (unknown)
        client_log(c, ASYLINK_LOG_INFO, "receipts for messages no longer held here skipped",
                   "signer=%s skipped=%zu kept=%zu", h->sender, unknown, kept);
    *out = r;
    *n = kept;
    return ASYLINK_OK;
}

/*
 * The certificate (sender, sender_cert_serial) of each receipt envelope
 * decides: a receipt was verified when it arrived, and a revocation since
 * means its evidence no longer holds (PROTOCOL.md 5, 14.5).
 */
int client_receipts_mark_revoked(asylink_client *c, const uint8_t id[16],
                                 asylink_receipt_info *info, size_t n)
{
    client_trust *hold = NULL;
    const crl *l = trust_crl(client_trust_get(c, &hold));
    int rc = ASYLINK_OK;
    for (size_t i = 0; l && l->n_entries && rc == ASYLINK_OK && i < n; i++) {
        uint8_t *env = NULL;
        size_t len = 0;
        envelope *e = NULL;
        rc = cstore_receipt_envelope(c->store, id, info[i].recipient, &env, &len);
        if (rc == ASYLINK_OK && envelope_decode(env, len, 0, &e) != ASYLINK_OK)
            rc = ASYLINK_E_IO; /* it decoded when it was stored: the store is damaged */
        if (rc == ASYLINK_OK)
            info[i].signer_revoked = crl_find(l, envelope_header_of(e)->sender_cert_serial) != NULL;
        if (rc == ASYLINK_E_NOT_FOUND)
            rc = ASYLINK_OK; /* swept since it was listed */
        envelope_destroy(&e);
        free(env);
    }
    client_trust_put(c, hold);
    if (rc != ASYLINK_OK)
        client_log(c, ASYLINK_LOG_WARN, "receipts not checked against the revocation list",
                   "code=%s", asylink_err_name(rc));
    return rc;
}

int asylink_receipts(asylink_client *c, const uint8_t message_id[16], asylink_receipt_info *out,
                     size_t max, size_t *n)
{
    *n = 0;
    if (!c || (max && !out))
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    cstore_out o;
    int rc = cstore_outbox_get(c->store, message_id, &o);
    if (rc != ASYLINK_OK)
        return rc;
    cstore_out_clear(&o);
    rc = cstore_receipt_list(c->store, message_id, out, max, n);
    if (rc == ASYLINK_OK)
        rc = client_receipts_mark_revoked(c, message_id, out, *n < max ? *n : max);
    if (rc != ASYLINK_OK)
        *n = 0;
    return rc;
}

/*
 * How the receipts of a message stand: ASYLINK_OK once every recipient's
 * says it took the message (*done), else ASYLINK_E_NOT_RECIPIENT if one
 * says it refused, ASYLINK_E_REVOKED if one is signed under a certificate
 * revoked since (both *done: waiting longer changes nothing), else
 * ASYLINK_OK with *done false (not all have answered yet); other codes
 * are errors.
 */
static int s_receipts_state(asylink_client *c, const uint8_t id[16], bool *done)
{
    *done = false;
    cstore_out o;
    int rc = cstore_outbox_get(c->store, id, &o);
    if (rc != ASYLINK_OK)
        return rc;
    asylink_receipt_info info[ENVELOPE_MAX_RECIPIENTS];
    size_t n = 0;
    rc = cstore_receipt_list(c->store, id, info, ENVELOPE_MAX_RECIPIENTS, &n);
    n = n < ENVELOPE_MAX_RECIPIENTS ? n : ENVELOPE_MAX_RECIPIENTS;
    if (rc == ASYLINK_OK)
        rc = client_receipts_mark_revoked(c, id, info, n);
    bool rejected = false, revoked = false;
    size_t found = 0;
    for (size_t i = 0; rc == ASYLINK_OK && i < o.n_recipients; i++)
        for (size_t k = 0; k < n; k++)
            if (strcmp(info[k].recipient, o.recipients[i]) == 0) {
                rejected |= info[k].status != ASYLINK_RECEIPT_DELIVERED;
                revoked |= info[k].signer_revoked != 0;
                found++;
                break;
            }
    bool all = found == o.n_recipients;
    cstore_out_clear(&o);
    if (rc != ASYLINK_OK)
        return rc;
    *done = rejected || revoked || all;
    return rejected ? ASYLINK_E_NOT_RECIPIENT : revoked ? ASYLINK_E_REVOKED : ASYLINK_OK;
}

/* c->store_changes, read under the lock. */
static uint64_t s_store_changes(asylink_client *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->store_changes;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/*
 * Looks at the receipts without the client's lock (store reads, decoding,
 * the log callback on an error); takes it only to wait on cond, and then
 * only if no commit changed the store since the look began (seen): such a
 * commit's broadcast came before the wait and would be missed.
 */
int asylink_receipt_wait(asylink_client *c, const uint8_t message_id[16], int timeout_ms)
{
    if (!c)
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    struct timespec deadline;
    client_deadline(timeout_ms < 0 ? 0 : timeout_ms, &deadline);
    bool waiting = true; /* false once the deadline passed: one last look */
    for (;;) {
        uint64_t seen = s_store_changes(c);
        bool done = false;
        int rc = s_receipts_state(c, message_id, &done);
        if (rc != ASYLINK_OK || done)
            return rc;
        if (!waiting)
            return ASYLINK_E_TIMEOUT;
        pthread_mutex_lock(&c->lock);
        bool stopped = atomic_load(&c->stop);
        if (!stopped)
            waiting = c->store_changes != seen ? !client_deadline_passed(timeout_ms, &deadline)
                                               : client_wait(c, timeout_ms, &deadline);
        pthread_mutex_unlock(&c->lock);
        if (stopped)
            return ASYLINK_E_SHUTDOWN;
    }
}

int asylink_receipt_export(asylink_client *c, const uint8_t message_id[16], const char *recipient,
                           uint8_t **env, size_t *len)
{
    *env = NULL;
    *len = 0;
    if (!c || !node_id_valid(recipient)) /* "fr" names nobody: not a NOT_FOUND receipt */
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    return cstore_receipt_envelope(c->store, message_id, recipient, env, len);
}

int asylink_receipt_verify(asylink_client *c, const uint8_t *env, size_t len,
                           const uint8_t message_id[16], asylink_receipt_info *info)
{
    if (!c)
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    envelope *e = NULL;
    receipt *r = NULL;
    size_t n = 0;
    int rc = envelope_decode(env, len, 0, &e);
    if (rc == ASYLINK_OK)
        rc = client_verify(c, e, clock_now_ms());
    if (rc == ASYLINK_OK)
        rc = client_receipt_check(c, e, &r, &n, NULL);
    size_t at = 0;
    if (rc == ASYLINK_OK && message_id) {
        while (at < n && memcmp(r[at].message_id, message_id, 16) != 0)
            at++;
        if (at == n)
            rc = ASYLINK_E_NOT_FOUND; /* valid evidence, but not about that message */
    }
    if (rc == ASYLINK_OK && info)
        client_receipt_info(&r[at], info);
    free(r);
    envelope_destroy(&e);
    return rc;
}
