/*
 * send.c — sealing and the durable outbox: asylink_send() returns only
 * after the envelope is committed, and concurrent senders share commits
 * (the first waiting sender commits everything queued so far).
 *
 * Senders seal in their own threads but do not sign: the committer signs
 * everything its commit holds at once, as batches of up to BATCH_MAX under
 * one signature (PROTOCOL.md 4.10), just before the commit. One call's
 * messages always share a root; a commit of one message signs it alone.
 */
#include "client_internal.h"

#include "batch.h"
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void asylink_send_params_init(asylink_send_params *p)
{
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->classification = ASYLINK_LIMITED;
}

/* Logs which recipient cannot be sent to, why, and where its certificate was looked for. */
static void s_log_recipient(asylink_client *c, const char *id, int rc)
{
    char why[600];
    if (rc == ASYLINK_E_BAD_NODE_ID)
        snprintf(why, sizeof why,
                 "recipient %.80s is not a valid node id (2 to 64 characters of A-Z 0-9 . _ -, "
                 "starting with a letter or digit, e.g. FR)",
                 CLIENT_Q(id ? id : ""));
    else if (rc == ASYLINK_E_UNKNOWN_RECIPIENT)
        snprintf(why, sizeof why,
                 "unknown recipient %s: no certificate for it in %.300s/nodes (the CA issues one; "
                 "copy it there, the client picks it up within 5 s)",
                 id, c->trust_dir);
    else
        snprintf(why, sizeof why, "recipient %s has no usable certificate in %.300s/nodes: %s", id,
                 c->trust_dir, asylink_strerror(rc));
    client_log(c, ASYLINK_LOG_WARN, why, "code=%s recipient=%s", asylink_err_name(rc),
               CLIENT_Q(id ? id : ""));
}

/* Certificates of the recipients, usable now (valid while t is held). */
static int s_readers(asylink_client *c, const trust *t, const asylink_send_params *p,
                     const cert **readers)
{
    uint64_t now = clock_now_ms();
    for (size_t i = 0; i < p->n_recipients; i++) {
        int rc = ASYLINK_E_BAD_NODE_ID;
        if (p->recipients[i] && node_id_valid(p->recipients[i]))
            rc = trust_lookup(t, p->recipients[i], now, ASYLINK_E_UNKNOWN_RECIPIENT, &readers[i]);
        if (rc != ASYLINK_OK) {
            s_log_recipient(c, p->recipients[i], rc);
            return rc;
        }
    }
    return ASYLINK_OK;
}

int client_check_size(asylink_client *c, size_t len, size_t n_recipients)
{
    char why[200];
    if (len > ENVELOPE_MAX_PAYLOAD)
        snprintf(why, sizeof why,
                 "payload of %zu bytes is larger than the limit of %u bytes (32 MiB) a message "
                 "may carry",
                 len, ENVELOPE_MAX_PAYLOAD);
    else if (n_recipients > ENVELOPE_MAX_RECIPIENTS)
        snprintf(why, sizeof why, "%zu recipients: a message may have at most %d", n_recipients,
                 ENVELOPE_MAX_RECIPIENTS);
    else
        return ASYLINK_OK;
    client_log(c, ASYLINK_LOG_WARN, why, "code=TOO_LARGE size=%zu limit=%u recipients=%zu", len,
               ENVELOPE_MAX_PAYLOAD, n_recipients);
    return ASYLINK_E_TOO_LARGE;
}

int client_check_names(asylink_client *c, const char *content_type, const char *topic)
{
    char why[300];
    if (!envelope_content_type_valid(content_type))
        snprintf(why, sizeof why,
                 "content type %.60s is not valid: 1 to %d printable ASCII characters without "
                 "spaces (e.g. asylink.v1.InformationRequest): nothing was sent",
                 CLIENT_Q(content_type ? content_type : ""), ENVELOPE_CONTENT_TYPE_MAX);
    else if (topic && !topic_valid(topic))
        snprintf(why, sizeof why,
                 "topic %.80s is not valid: labels of A-Z a-z 0-9 _ - joined by dots, at most %d "
                 "characters (e.g. stats.monthly.DE): nothing was published",
                 CLIENT_Q(topic), TOPIC_MAX);
    else
        return ASYLINK_OK;
    client_log(c, ASYLINK_LOG_WARN, why, "code=BAD_FIELD");
    return ASYLINK_E_BAD_FIELD;
}

int client_check_reserved(asylink_client *c, const char *content_type)
{
    if (!content_type || (strcmp(content_type, RECEIPT_CONTENT_TYPE) != 0 &&
                          strcmp(content_type, RECEIPT_SINGLE_CONTENT_TYPE) != 0))
        return ASYLINK_OK;
    client_log(c, ASYLINK_LOG_WARN,
               "content type reserved for the library's signed receipts: nothing was sent",
               "code=BAD_FIELD content_type=%s", content_type);
    return ASYLINK_E_BAD_FIELD;
}

int client_check_class(asylink_client *c, const char *content_type, int classification)
{
    if ((classification != ASYLINK_PUBLIC && classification != ASYLINK_LIMITED) ||
        !envelope_type_personal(content_type))
        return ASYLINK_OK; /* PERSONAL, or an unknown classification the sealer refuses */
    char why[240];
    snprintf(why, sizeof why,
             "%s carries personal data and must travel as ASYLINK_PERSONAL (asylum.proto); set "
             "the classification: nothing was sent",
             content_type);
    client_log(c, ASYLINK_LOG_WARN, why, "code=CLASSIFICATION content_type=%s", content_type);
    return ASYLINK_E_CLASSIFICATION;
}

int client_seal(asylink_client *c, const asylink_send_params *p, const void *payload, size_t len,
                envelope_draft **out, uint8_t id[16], uint8_t digest[64])
{
    const cert *readers[ENVELOPE_MAX_RECIPIENTS];
    if (p->n_recipients == 0 || !p->recipients)
        return ASYLINK_E_INVALID_ARG;
    if (client_check_size(c, len, p->n_recipients) != ASYLINK_OK)
        return ASYLINK_E_TOO_LARGE;
    int rc = client_check_names(c, p->content_type, NULL);
    if (rc == ASYLINK_OK)
        rc = client_check_class(c, p->content_type, (int)p->classification);
    if (rc != ASYLINK_OK)
        return rc;
    client_trust *hold = NULL;
    rc = s_readers(c, client_trust_get(c, &hold), p, readers);
    if (rc != ASYLINK_OK) {
        client_trust_put(c, hold);
        return rc;
    }
    envelope_params ep = {.recipients = p->recipients,
                          .n_recipients = p->n_recipients,
                          .readers = readers,
                          .n_readers = p->n_recipients,
                          .content_type = p->content_type,
                          .classification = (int)p->classification,
                          .expires_ms = p->expires_ms,
                          .correlation_id = p->correlation_id,
                          .digest_out = digest};
    pthread_mutex_lock(&c->seal_lock);
    rc = envelope_seal_draft(c->sealer, &ep, payload, len, out, id);
    pthread_mutex_unlock(&c->seal_lock);
    client_trust_put(c, hold);
    return rc;
}

int client_sign(asylink_client *c, envelope_draft *const *drafts, size_t n)
{
    pthread_mutex_lock(&c->seal_lock);
    int rc = envelope_sign(c->sealer, drafts, n);
    pthread_mutex_unlock(&c->seal_lock);
    return rc;
}

/*
 * Signs the drafts of every queued sender, as few batches as possible
 * without splitting a sender's items, and points each item at its signed
 * envelope (lock not held).
 */
static int s_sign_batch(asylink_client *c, client_commit *batch)
{
    envelope_draft *chunk[BATCH_MAX];
    size_t n = 0;
    int rc = ASYLINK_OK;
    for (client_commit *q = batch; rc == ASYLINK_OK && q; q = q->next) {
        if (n + q->n_items > BATCH_MAX) {
            rc = client_sign(c, chunk, n);
            n = 0;
        }
        for (size_t i = 0; i < q->n_items; i++)
            chunk[n++] = q->drafts[i];
    }
    if (rc == ASYLINK_OK && n > 0)
        rc = client_sign(c, chunk, n);
    for (client_commit *q = batch; rc == ASYLINK_OK && q; q = q->next)
        for (size_t i = 0; i < q->n_items; i++)
            q->items[i].envelope = envelope_draft_bytes(q->drafts[i], &q->items[i].envelope_len);
    return rc;
}

size_t client_accepted_take(asylink_client *c, client_accept **out)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->n_accepted;
    *out = c->accepted;
    c->acc_sending = c->accepted; /* (a rescan meanwhile does not publish them again) */
    c->n_acc_sending = n;
    c->accepted = NULL;
    c->n_accepted = c->cap_accepted = 0;
    pthread_mutex_unlock(&c->lock);
    return n;
}

void client_accepted_put_back(asylink_client *c, client_accept *a, size_t n, client_accept **alias,
                              size_t *alias_n)
{
    for (size_t i = 0; i < n; i++)
        a[i].owed = a[i].owed || a[i].fate == CLIENT_ACCEPT_TELL;
    pthread_mutex_lock(&c->lock);
    if (a && a == c->acc_sending) {
        c->acc_sending = NULL;
        c->n_acc_sending = 0;
    }
    if (a && alias && *alias == a) {
        *alias = NULL;
        *alias_n = 0;
    }
    client_accept *all = n ? realloc(a, (n + c->n_accepted) * sizeof *all) : NULL;
    if (all) {
        if (c->n_accepted)
            memcpy(all + n, c->accepted, c->n_accepted * sizeof *all);
        free(c->accepted);
        c->accepted = all;
        c->n_accepted += n;
        c->cap_accepted = c->n_accepted;
        if (!c->accepted_since_ms || c->n_accepted == n) /* (none kept before: from now) */
            c->accepted_since_ms = clock_now_ms();
        a = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    free(a); /* (no memory: not recorded now; a republish is answered as a duplicate) */
}

void client_accepted_record(asylink_client *c, cstore_txn *t, client_accept *a, size_t n,
                            uint64_t now_ms)
{
    int retrying = -1; /* whether writers try again on their own (read once, if needed) */
    for (size_t i = 0; i < n; i++) {
        /* Evidence: a copy before the outbox drops it, with the state in one look-up. */
        bool first = false;
        int rc = cstore_outbox_accept_at(t, a[i].id, a[i].seq, c->sent_retention_ms != 0, now_ms,
                                         &first);
        a[i].fate = first || a[i].owed ? CLIENT_ACCEPT_TELL : CLIENT_ACCEPT_QUIET;
        if (rc == ASYLINK_E_NOT_FOUND && !a[i].owed) {
            /* Published before a commit that failed (DESIGN-CHANGES 43): its writer's second
               attempt may still store it, and this answer is then recorded with it; else the
               broker has what the outbox does not (asylink_send() returned IO): told. */
            if (retrying < 0) {
                pthread_mutex_lock(&c->lock);
                retrying = c->writes_retrying > 0;
                pthread_mutex_unlock(&c->lock);
            }
            a[i].fate = retrying ? CLIENT_ACCEPT_HOLD : CLIENT_ACCEPT_TELL;
        } else if (rc != ASYLINK_OK) {
            a[i].fate = CLIENT_ACCEPT_TELL; /* (as before: the broker has it) */
            client_log(c, ASYLINK_LOG_WARN, "accepted message not recorded in the outbox",
                       "code=%s", asylink_err_name(rc));
        }
    }
}

client_event *client_accepted_settle(asylink_client *c, client_accept *a, size_t n)
{
    client_event *head = NULL, **tail = &head;
    size_t held = 0;
    for (size_t i = 0; i < n; i++) {
        held += a[i].fate == CLIENT_ACCEPT_HOLD;
        client_event *e = a[i].fate == CLIENT_ACCEPT_TELL ? client_accepted_event(c, &a[i]) : NULL;
        if (e) {
            e->next = NULL;
            *tail = e;
            tail = &e->next;
        }
    }
    if (held) {
        /* The held ones to the front, under the lock: the I/O thread's rescan reads a as
           c->acc_sending meanwhile (s_accept_has). */
        pthread_mutex_lock(&c->lock);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (a[i].fate == CLIENT_ACCEPT_HOLD)
                a[k++] = a[i]; /* (i >= k: nothing not yet looked at is overwritten) */
        if (a == c->acc_sending)
            c->n_acc_sending = held;
        pthread_mutex_unlock(&c->lock);
        client_accepted_put_back(c, a, held, NULL, NULL); /* (clears acc_sending) */
        return head;
    }
    pthread_mutex_lock(&c->lock);
    if (a && a == c->acc_sending) {
        c->acc_sending = NULL;
        c->n_acc_sending = 0;
    }
    pthread_mutex_unlock(&c->lock);
    free(a);
    return head;
}

/* What the senders' group commit writes: their items, and the Accepted answers kept. */
typedef struct {
    asylink_client *c;
    client_commit *batch;
    client_accept *accepted;
    size_t n_accepted;
} s_commit_write;

/* cstore_write's operations: every queued sender's items, then the Accepted answers. */
static int s_fill_batch(cstore_txn *t, void *arg)
{
    const s_commit_write *w = arg;
    uint64_t need = 0; /* near a full disk the reserve stays for acks */
    for (client_commit *q = w->batch; q; q = q->next)
        for (size_t i = 0; i < q->n_items; i++)
            need += q->items[i].envelope_len + CLIENT_PAGE_SLACK;
    if (cstore_room(t) < need)
        return ASYLINK_E_STORE_FULL;
    int rc = ASYLINK_OK;
    for (client_commit *q = w->batch; rc == ASYLINK_OK && q; q = q->next)
        for (size_t i = 0; rc == ASYLINK_OK && i < q->n_items; i++) {
            uint64_t seq = 0;
            rc = cstore_outbox_add(t, &q->items[i], &seq);
            if (rc == ASYLINK_OK) /* published before the commit's fsync (early.c) */
                client_early_out_note(seq, q->items[i].id, q->items[i].envelope,
                                      q->items[i].envelope_len);
        }
    if (rc == ASYLINK_OK)
        client_accepted_record(w->c, t, w->accepted, w->n_accepted, clock_now_ms());
    return rc;
}

/*
 * Commits every queued sender's item in one transaction, with the Accepted
 * answers the I/O thread kept (a commit they would otherwise need of their
 * own, holding the store's write lock in front of the next sender), and
 * then tells the application about those (lock not held).
 */
static int s_commit_batch(asylink_client *c, client_commit *batch)
{
    client_accept *acc = NULL;
    size_t n = client_accepted_take(c, &acc);
    s_commit_write w = {c, batch, acc, n};
    int rc = client_io_write(c, s_fill_batch, &w); /* with the I/O thread's committer */
    if (rc != ASYLINK_OK) {
        client_accepted_put_back(c, acc, n, NULL, NULL);
        return rc;
    }
    client_event_queue_list(c, client_accepted_settle(c, acc, n));
    return rc;
}

int client_outbox_commit(asylink_client *c, cstore_out_new *items, envelope_draft *const *drafts,
                         size_t n)
{
    if (n > BATCH_MAX)
        return ASYLINK_E_TOO_LARGE; /* one call's messages share one root */
    client_commit me = {.items = items, .drafts = drafts, .n_items = n};
    pthread_mutex_lock(&c->lock);
    me.next = c->commits;
    c->commits = &me;
    while (!me.done) {
        if (c->committing) {
            pthread_cond_wait(&c->done_cond, &c->lock);
            continue;
        }
        client_commit *batch = c->commits;
        c->commits = NULL;
        c->committing = true;
        pthread_mutex_unlock(&c->lock);
        int rc = s_sign_batch(c, batch);
        if (rc == ASYLINK_OK)
            rc = s_commit_batch(c, batch);
        pthread_mutex_lock(&c->lock);
        for (client_commit *q = batch; q;) {
            client_commit *next = q->next;
            q->rc = rc;
            q->done = true;
            q = next;
        }
        c->committing = false;
        pthread_cond_broadcast(&c->done_cond); /* only the senders waiting here wait for it */
    }
    pthread_mutex_unlock(&c->lock);
    if (me.rc == ASYLINK_OK)
        client_wake_io(c);
    return me.rc;
}

/*
 * Seals one message into *draft and describes it in *item (its envelope
 * comes when the committer signs); id and digest are item's storage.
 */
static int s_seal_one(asylink_client *c, const asylink_send_params *p, const void *payload,
                      size_t len, cstore_out_new *item, envelope_draft **draft, uint8_t id[16],
                      uint8_t digest[64])
{
    if (!p || p->struct_size < sizeof *p || (!payload && len))
        return ASYLINK_E_INVALID_ARG;
    int rc = client_check_reserved(c, p->content_type); /* receipts are the library's own */
    if (rc == ASYLINK_OK)
        rc = client_seal(c, p, payload, len, draft, id, digest);
    if (rc != ASYLINK_OK)
        return rc;
    *item = (cstore_out_new){.id = id,
                             .recipients = p->recipients,
                             .n_recipients = p->n_recipients,
                             .digest = digest,
                             .created_ms = clock_now_ms()};
    return ASYLINK_OK;
}

int asylink_send(asylink_client *c, const asylink_send_params *p, const void *payload, size_t len,
                 uint8_t message_id_out[16])
{
    if (!c || p->struct_size < sizeof *p || (!payload && len))
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    if (atomic_load(&c->stop))
        return ASYLINK_E_SHUTDOWN;
    uint8_t id[16], digest[64];
    cstore_out_new item;
    envelope_draft *draft = NULL;
    int rc = s_seal_one(c, p, payload, len, &item, &draft, id, digest);
    if (rc != ASYLINK_OK)
        return rc;
    rc = client_outbox_commit(c, &item, &draft, 1);
    envelope_draft_destroy(&draft);
    /* IO or STORE_FULL from the commit: the broker may have the message (its event names it). */
    if ((rc == ASYLINK_OK || rc == ASYLINK_E_IO || rc == ASYLINK_E_STORE_FULL) && message_id_out)
        memcpy(message_id_out, id, 16);
    return rc;
}

/* Sets every item's result to rc and returns it (a failure before sealing). */
static int s_all_failed(const client_many *m, int rc)
{
    for (size_t i = 0; m->items && i < m->n; i++)
        *m->result(m->items, i) = rc;
    return rc;
}

int client_seal_many(asylink_client *c, const client_many *m)
{
    size_t n = m->n;
    if (!c || (!m->items && n))
        return s_all_failed(m, ASYLINK_E_INVALID_ARG);
    if (client_reentered())
        return s_all_failed(m, ASYLINK_E_REENTRANT);
    if (n > ASYLINK_SEND_MAX)
        return s_all_failed(m, ASYLINK_E_TOO_LARGE);
    if (atomic_load(&c->stop))
        return s_all_failed(m, ASYLINK_E_SHUTDOWN);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (m->len(m->items, i) > ASYLINK_SEND_MANY_MAX_BYTES - total)
            return s_all_failed(m, ASYLINK_E_TOO_LARGE); /* bounded memory per call */
        total += m->len(m->items, i);
    }
    if (n == 0)
        return ASYLINK_OK;
    cstore_out_new *outs = calloc(n, sizeof *outs);
    envelope_draft **drafts = calloc(n, sizeof *drafts);
    uint8_t(*digests)[64] = calloc(n, sizeof *digests);
    int rc = outs && drafts && digests ? ASYLINK_OK : s_all_failed(m, ASYLINK_E_NOMEM);
    int first = ASYLINK_OK;
    for (size_t i = 0; rc == ASYLINK_OK && i < n; i++) {
        int *res = m->result(m->items, i);
        *res = m->seal(c, m->items, i, &outs[i], &drafts[i], digests[i]);
        if (*res != ASYLINK_OK && first == ASYLINK_OK)
            first = *res; /* seal the rest too: report every item's fate */
    }
    if (rc == ASYLINK_OK)
        rc = first != ASYLINK_OK ? first : client_outbox_commit(c, outs, drafts, n);
    for (size_t i = 0; outs && i < n; i++) {
        envelope_draft_destroy(&drafts[i]);
        if (rc != ASYLINK_OK && first == ASYLINK_OK)
            *m->result(m->items, i) = rc; /* the commit failed: none of them is sent */
    }
    free(outs);
    free(drafts);
    free(digests);
    return rc;
}

static size_t s_send_len(const void *items, size_t i)
{
    return ((const asylink_send_item *)items)[i].len;
}

static int *s_send_result(void *items, size_t i)
{
    return &((asylink_send_item *)items)[i].result;
}

static int s_send_seal(asylink_client *c, void *items, size_t i, cstore_out_new *out,
                       envelope_draft **draft, uint8_t digest[64])
{
    asylink_send_item *it = &((asylink_send_item *)items)[i];
    return s_seal_one(c, it->params, it->payload, it->len, out, draft, it->message_id, digest);
}

int asylink_send_many(asylink_client *c, asylink_send_item *items, size_t n)
{
    client_many m = {items, n, s_send_len, s_send_result, s_send_seal};
    return client_seal_many(c, &m);
}
