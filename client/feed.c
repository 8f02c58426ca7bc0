/*
 * feed.c — topic feeds on the application side: publishing (signed only
 * for PUBLIC; for LIMITED sealed to the readers of a Directory answer that
 * the client verifies against its own trust) and durable subscriptions.
 *
 * The application threads never touch the socket: they queue requests
 * (client_req, client_sub) under the client lock, wake the I/O thread and
 * wait on the client's condition variable for the answer (io.c matches it
 * by request_id).
 */
#include "client_internal.h"

#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEED_READERS_TTL_MS 60000 /* reader lists are cached this long */
#define FEED_DIRECTORY_TIMEOUT_MS 10000

void asylink_publish_params_init(asylink_publish_params *p)
{
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->classification = ASYLINK_PUBLIC;
}

void client_req_free(client_req *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_certs; i++)
        free(r->certs[i]);
    free(r->certs);
    free(r->cert_lens);
    free(r->crl);
    free(r);
}

static void s_readers_free(client_readers *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        cert_destroy(&r->certs[i]);
    free(r->certs);
    free(r);
}

/* Drops one reference (lock held). */
static void s_readers_release(client_readers *r)
{
    if (r && --r->refs == 0)
        s_readers_free(r);
}

void client_feeds_free(asylink_client *c)
{
    while (c->subs) {
        client_sub *s = c->subs;
        c->subs = s->next;
        free(s);
    }
    while (c->reqs) {
        client_req *r = c->reqs;
        c->reqs = r->next;
        client_req_free(r);
    }
    while (c->readers) {
        client_readers *r = c->readers;
        c->readers = r->next;
        s_readers_release(r);
    }
}

void client_readers_forget(asylink_client *c)
{
    pthread_mutex_lock(&c->lock);
    c->readers_gen++;
    while (c->readers) {
        client_readers *r = c->readers;
        c->readers = r->next;
        s_readers_release(r); /* a publish holding it finishes with it */
    }
    pthread_mutex_unlock(&c->lock);
}

/* Unlinks r from the request list (lock held). */
static void s_req_unlink(asylink_client *c, client_req *r)
{
    for (client_req **pp = &c->reqs; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            return;
        }
}

static void s_req_append(asylink_client *c, client_req *r)
{
    client_req **pp = &c->reqs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
}

/* ---- the readers of a topic ---- */

/* Asks the broker (through the I/O thread) for the topic's reader certificates. */
static int s_directory(asylink_client *c, const char *topic, client_req **out)
{
    *out = NULL;
    client_req *r = calloc(1, sizeof *r);
    if (!r)
        return ASYLINK_E_NOMEM;
    r->kind = CLIENT_REQ_DIRECTORY;
    snprintf(r->topic, sizeof r->topic, "%s", topic);
    r->rc = CLIENT_PENDING;
    struct timespec deadline;
    client_deadline(FEED_DIRECTORY_TIMEOUT_MS, &deadline);
    pthread_mutex_lock(&c->lock);
    s_req_append(c, r);
    pthread_mutex_unlock(&c->lock);
    client_wake_io(c);
    pthread_mutex_lock(&c->lock);
    int rc = ASYLINK_OK;
    while (!r->done) {
        if (atomic_load(&c->stop)) {
            rc = ASYLINK_E_SHUTDOWN;
            break;
        }
        if (!client_wait(c, FEED_DIRECTORY_TIMEOUT_MS, &deadline) && !r->done) {
            rc = ASYLINK_E_TIMEOUT;
            break;
        }
    }
    s_req_unlink(c, r);
    pthread_mutex_unlock(&c->lock);
    if (rc == ASYLINK_OK && r->rc != ASYLINK_OK)
        rc = r->rc;
    if (rc != ASYLINK_OK) {
        client_req_free(r);
        return rc;
    }
    *out = r;
    return ASYLINK_OK;
}

/* Keeps the certificates of an answer that our own trust accepts (one per node). */
static int s_verify_readers(asylink_client *c, const client_req *r, client_readers *out)
{
    uint64_t now = clock_now_ms();
    crl *broker_crl = NULL;
    client_trust *hold = NULL;
    const trust *t = client_trust_get(c, &hold);
    if (r->crl_len && crl_decode(r->crl, r->crl_len, trust_ca(t), &broker_crl) != ASYLINK_OK)
        broker_crl = NULL; /* not CA-signed: ignore it, our own list still applies */
    out->certs = calloc(r->n_certs + 1, sizeof *out->certs);
    if (!out->certs) {
        crl_destroy(&broker_crl);
        client_trust_put(c, hold);
        return ASYLINK_E_NOMEM;
    }
    size_t skipped = 0;
    for (size_t i = 0; i < r->n_certs; i++) {
        cert *x = NULL;
        int rc = cert_decode(r->certs[i], r->cert_lens[i], &x);
        if (rc == ASYLINK_OK)
            rc = trust_check(t, x, now);
        if (rc == ASYLINK_OK && broker_crl && crl_find(broker_crl, x->serial))
            rc = ASYLINK_E_REVOKED;
        if (rc == ASYLINK_OK && !node_id_valid(x->node_id))
            rc = ASYLINK_E_BAD_NODE_ID;
        if (rc == ASYLINK_OK && !cert_may_read_feeds(x))
            rc = ASYLINK_E_ROLE; /* broker, operator, CA: never a reader (SECURITY.md 11.2) */
        if (rc != ASYLINK_OK) {
            client_log(c, ASYLINK_LOG_WARN, "directory certificate not usable", "topic=%s code=%s",
                       r->topic, asylink_err_name(rc));
            cert_destroy(&x);
            skipped++;
            continue;
        }
        size_t k = 0;
        while (k < out->n && strcmp(out->certs[k]->node_id, x->node_id) != 0)
            k++;
        if (k < out->n) { /* the same node twice: keep the highest serial */
            if (x->serial > out->certs[k]->serial) {
                cert_destroy(&out->certs[k]);
                out->certs[k] = x;
            } else {
                cert_destroy(&x);
            }
            continue;
        }
        out->certs[out->n++] = x;
    }
    crl_destroy(&broker_crl);
    client_trust_put(c, hold);
    client_log(c, ASYLINK_LOG_DEBUG, "topic readers", "topic=%s readers=%zu skipped=%zu", r->topic,
               out->n, skipped);
    return ASYLINK_OK;
}

/* The verified readers of topic (cached FEED_READERS_TTL_MS); release with s_readers_release. */
static int s_topic_readers(asylink_client *c, const char *topic, client_readers **out)
{
    *out = NULL;
    uint64_t now = clock_now_ms();
    pthread_mutex_lock(&c->lock);
    for (client_readers *r = c->readers; r; r = r->next) {
        if (strcmp(r->topic, topic) == 0 && now - r->fetched_ms < FEED_READERS_TTL_MS) {
            r->refs++;
            *out = r;
            pthread_mutex_unlock(&c->lock);
            return ASYLINK_OK;
        }
    }
    uint64_t gen = c->readers_gen;
    pthread_mutex_unlock(&c->lock);
    if (!atomic_load(&c->connected))
        return ASYLINK_E_UNAVAILABLE;
    client_req *req = NULL;
    int rc = s_directory(c, topic, &req);
    if (rc != ASYLINK_OK)
        return rc;
    client_readers *fresh = calloc(1, sizeof *fresh);
    if (!fresh) {
        client_req_free(req);
        return ASYLINK_E_NOMEM;
    }
    snprintf(fresh->topic, sizeof fresh->topic, "%s", topic);
    fresh->fetched_ms = clock_now_ms();
    rc = s_verify_readers(c, req, fresh);
    client_req_free(req);
    if (rc != ASYLINK_OK) {
        s_readers_free(fresh);
        return rc;
    }
    fresh->refs = 2; /* the cache and the caller */
    pthread_mutex_lock(&c->lock);
    if (c->readers_gen != gen) { /* checked under a trust since replaced: this call's only */
        fresh->refs = 1;
        pthread_mutex_unlock(&c->lock);
        *out = fresh;
        return ASYLINK_OK;
    }
    for (client_readers **pp = &c->readers; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->topic, topic) == 0) {
            client_readers *old = *pp;
            *pp = old->next;
            s_readers_release(old);
            break;
        }
    }
    fresh->next = c->readers;
    c->readers = fresh;
    pthread_mutex_unlock(&c->lock);
    *out = fresh;
    return ASYLINK_OK;
}

/* ---- publishing ---- */

/* Seals a feed message into a draft (signed by the committer). */
static int s_seal_topic(asylink_client *c, const asylink_publish_params *p,
                        const client_readers *readers, const void *payload, size_t len,
                        envelope_draft **out, uint8_t id[16], uint8_t digest[64])
{
    envelope_params ep = {.topic = p->topic,
                          .readers = readers ? (const cert *const *)readers->certs : NULL,
                          .n_readers = readers ? readers->n : 0,
                          .content_type = p->content_type,
                          .classification = (int)p->classification,
                          .expires_ms = p->expires_ms,
                          .digest_out = digest};
    pthread_mutex_lock(&c->seal_lock);
    int rc = envelope_seal_draft(c->sealer, &ep, payload, len, out, id);
    pthread_mutex_unlock(&c->seal_lock);
    return rc;
}

/* The checks of asylink_publish() on its parameters. */
static int s_publish_params_check(asylink_client *c, const asylink_publish_params *p,
                                  const void *payload, size_t len)
{
    if (!p || p->struct_size < sizeof *p || (!payload && len) || !p->topic || !p->content_type)
        return ASYLINK_E_INVALID_ARG;
    if (p->classification == ASYLINK_PERSONAL)
        return ASYLINK_E_CLASSIFICATION; /* never on feeds */
    if (p->classification != ASYLINK_PUBLIC && p->classification != ASYLINK_LIMITED)
        return ASYLINK_E_INVALID_ARG;
    int rc = client_check_names(c, p->content_type, p->topic);
    return rc == ASYLINK_OK ? client_check_reserved(c, p->content_type) : rc;
}

/*
 * Seals one feed message into *draft and describes it in *item (no
 * recipients: feed messages get no receipts); id and digest are item's
 * storage. LIMITED asks for (or reuses) the topic's readers.
 */
static int s_publish_one(asylink_client *c, const asylink_publish_params *p, const void *payload,
                         size_t len, cstore_out_new *item, envelope_draft **draft, uint8_t id[16],
                         uint8_t digest[64])
{
    int rc = s_publish_params_check(c, p, payload, len);
    if (rc != ASYLINK_OK)
        return rc;
    if (client_check_size(c, len, 0) != ASYLINK_OK)
        return ASYLINK_E_TOO_LARGE;
    rc = client_check_class(c, p->content_type, (int)p->classification);
    if (rc != ASYLINK_OK)
        return rc;
    client_readers *readers = NULL;
    if (p->classification == ASYLINK_LIMITED) {
        rc = s_topic_readers(c, p->topic, &readers);
        if (rc == ASYLINK_OK && readers->n == 0)
            rc = ASYLINK_E_UNKNOWN_RECIPIENT; /* nobody could read it */
        if (rc != ASYLINK_OK) {
            pthread_mutex_lock(&c->lock);
            s_readers_release(readers);
            pthread_mutex_unlock(&c->lock);
            return rc;
        }
    }
    rc = s_seal_topic(c, p, readers, payload, len, draft, id, digest);
    if (readers) {
        pthread_mutex_lock(&c->lock);
        s_readers_release(readers);
        pthread_mutex_unlock(&c->lock);
    }
    if (rc == ASYLINK_OK)
        *item = (cstore_out_new){.id = id,
                                 .recipients = NULL,
                                 .n_recipients = 0,
                                 .digest = digest,
                                 .created_ms = clock_now_ms()};
    return rc;
}

int asylink_publish(asylink_client *c, const asylink_publish_params *p, const void *payload,
                    size_t len, uint8_t message_id_out[16])
{
    if (!c)
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    int rc = s_publish_params_check(c, p, payload, len);
    if (rc != ASYLINK_OK)
        return rc;
    if (atomic_load(&c->stop))
        return ASYLINK_E_SHUTDOWN;
    uint8_t id[16], digest[64];
    cstore_out_new item;
    envelope_draft *draft = NULL;
    rc = s_publish_one(c, p, payload, len, &item, &draft, id, digest);
    bool sealed = rc == ASYLINK_OK;
    if (sealed)
        rc = client_outbox_commit(c, &item, &draft, 1);
    envelope_draft_destroy(&draft);
    /* IO or STORE_FULL from the commit: the broker may have the message (its event names it). */
    if (sealed && (rc == ASYLINK_OK || rc == ASYLINK_E_IO || rc == ASYLINK_E_STORE_FULL) &&
        message_id_out)
        memcpy(message_id_out, id, 16);
    return rc;
}

static size_t s_publish_len(const void *items, size_t i)
{
    return ((const asylink_publish_item *)items)[i].len;
}

static int *s_publish_result(void *items, size_t i)
{
    return &((asylink_publish_item *)items)[i].result;
}

static int s_publish_seal(asylink_client *c, void *items, size_t i, cstore_out_new *out,
                          envelope_draft **draft, uint8_t digest[64])
{
    asylink_publish_item *it = &((asylink_publish_item *)items)[i];
    return s_publish_one(c, it->params, it->payload, it->len, out, draft, it->message_id, digest);
}

int asylink_publish_many(asylink_client *c, asylink_publish_item *items, size_t n)
{
    client_many m = {items, n, s_publish_len, s_publish_result, s_publish_seal};
    return client_seal_many(c, &m);
}

/* ---- subscriptions ---- */

static bool s_sub_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > CLIENT_SUB_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static client_sub *s_sub_find(asylink_client *c, const char *name)
{
    for (client_sub *s = c->subs; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static void s_sub_remove(asylink_client *c, client_sub *x)
{
    for (client_sub **pp = &c->subs; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            free(x);
            return;
        }
}

int asylink_subscribe(asylink_client *c, const char *topic_prefix, const char *name,
                      asylink_start start, uint64_t start_value, int timeout_ms)
{
    if (!c || !topic_valid(topic_prefix) || !s_sub_name_valid(name) || start < ASYLINK_START_NEW ||
        start > ASYLINK_START_TIME)
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    if (atomic_load(&c->stop))
        return ASYLINK_E_SHUTDOWN;
    struct timespec deadline;
    client_deadline(timeout_ms < 0 ? 0 : timeout_ms, &deadline);
    pthread_mutex_lock(&c->lock);
    client_sub *s = s_sub_find(c, name);
    if (s && !s->failed && strcmp(s->prefix, topic_prefix) != 0) {
        /* Held with another prefix: the broker's cursor has that one. Nothing changes. */
        char held[sizeof s->prefix];
        snprintf(held, sizeof held, "%s", s->prefix);
        pthread_mutex_unlock(&c->lock);
        client_log(c, ASYLINK_LOG_WARN, "subscribe",
                   "subscription=%s prefix=%s held_prefix=%s code=%s", name, topic_prefix, held,
                   asylink_err_name(ASYLINK_E_PREFIX_MISMATCH));
        return ASYLINK_E_PREFIX_MISMATCH;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) {
            pthread_mutex_unlock(&c->lock);
            return ASYLINK_E_NOMEM;
        }
        snprintf(s->name, sizeof s->name, "%s", name);
        client_sub **pp = &c->subs;
        while (*pp)
            pp = &(*pp)->next;
        *pp = s;
    }
    snprintf(s->prefix, sizeof s->prefix, "%s", topic_prefix);
    s->start = (int)start;
    s->start_value = start_value;
    s->gen++;
    s->sent_session = 0; /* (re)send in the current session */
    s->request_id = 0;
    s->result = CLIENT_PENDING;
    s->failed = false;
    uint64_t gen = s->gen;
    pthread_mutex_unlock(&c->lock);
    client_wake_io(c);
    pthread_mutex_lock(&c->lock);
    int rc;
    for (;;) {
        s = s_sub_find(c, name);
        if (!s) {
            rc = ASYLINK_E_NOT_FOUND; /* unsubscribed meanwhile */
            break;
        }
        gen = s->gen; /* a concurrent subscribe of the same name: wait for that one */
        if (s->result != CLIENT_PENDING) {
            rc = s->result;
            if (rc != ASYLINK_OK && s->failed)
                s_sub_remove(c, s); /* refused: forget it */
            break;
        }
        if (atomic_load(&c->stop)) {
            rc = ASYLINK_E_SHUTDOWN;
            break;
        }
        if (!client_wait(c, timeout_ms, &deadline)) {
            s = s_sub_find(c, name);
            if (s && s->gen == gen && s->result != CLIENT_PENDING)
                continue; /* answered just at the deadline */
            /* Still remembered: sent (again) in the next session. */
            rc = atomic_load(&c->connected) ? ASYLINK_E_TIMEOUT : ASYLINK_E_UNAVAILABLE;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    client_log(c, rc == ASYLINK_OK ? ASYLINK_LOG_INFO : ASYLINK_LOG_WARN, "subscribe",
               "subscription=%s prefix=%s code=%s", name, topic_prefix, asylink_err_name(rc));
    return rc;
}

int asylink_unsubscribe(asylink_client *c, const char *name, int delete_cursor)
{
    if (!c || !s_sub_name_valid(name))
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    if (atomic_load(&c->stop))
        return ASYLINK_E_SHUTDOWN;
    pthread_mutex_lock(&c->lock);
    client_sub *s = s_sub_find(c, name);
    bool known = s != NULL;
    if (s)
        s_sub_remove(c, s);
    bool send = delete_cursor || (known && atomic_load(&c->connected));
    client_req *r = NULL;
    if (send && (r = calloc(1, sizeof *r))) {
        r->kind = CLIENT_REQ_UNSUBSCRIBE;
        snprintf(r->name, sizeof r->name, "%s", name);
        r->delete_cursor = delete_cursor != 0;
        r->detached = true; /* the I/O thread frees it once answered */
        r->rc = CLIENT_PENDING;
        s_req_append(c, r);
    }
    pthread_mutex_unlock(&c->lock);
    if (send && !r)
        return ASYLINK_E_NOMEM;
    if (r)
        client_wake_io(c);
    return ASYLINK_OK;
}
