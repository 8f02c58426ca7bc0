/*
 * feeds.c — the commands about topics and certificates: Subscribe (open or
 * resume a durable subscription), Unsubscribe (close it, maybe delete its
 * cursor), Directory (certificates by node id or by readers of a topic);
 * and closing subscriptions a reloaded policy no longer allows. Delivery
 * of feed entries is deliver.c's.
 */
#include "router_internal.h"

#include "asylink/errors.h"
#include "log.h"
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adds c's certificate to the Directory being built. */
static int s_dir_add(wire_directory *d, const cert *c)
{
    size_t n = d->n_certificates;
    uint8_t **certs = realloc(d->certificates, (n + 1) * sizeof *certs);
    if (!certs)
        return -1;
    d->certificates = certs;
    size_t *lens = realloc(d->certificate_lens, (n + 1) * sizeof *lens);
    if (!lens)
        return -1;
    d->certificate_lens = lens;
    certs[n] = c->raw; /* borrowed: the directory is only encoded, never cleared */
    lens[n] = c->raw_len;
    d->n_certificates++;
    return 0;
}

/* Whether node id i of q already appeared before position i. */
static bool s_named_before(const wire_directory_request *q, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(q->node_ids[j], q->node_ids[i]) == 0)
            return true;
    return false;
}

/* Whether the Directory being built already holds c's certificate. */
static bool s_in_directory(const wire_directory *d, const cert *c)
{
    for (size_t i = 0; i < d->n_certificates; i++)
        if (d->certificates[i] == c->raw)
            return true;
    return false;
}

/*
 * Directory: the certificates of the named nodes and of the readers of a
 * topic, each certificate once, so the answer is never larger than the
 * trust directory (plus the revocation list) however the request repeats.
 */
void feeds_directory(router *r, session *s, const wire_cmd *c)
{
    const wire_directory_request *q = &c->u.directory_request;
    const trust *t = view_trust(r->view);
    wire_cmd out = {.kind = WIRE_DIRECTORY, .request_id = c->request_id};
    wire_directory *d = &out.u.directory;
    if (q->n_node_ids > FEEDS_DIRECTORY_MAX_IDS) {
        out_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_BAD_FIELD,
                  "DirectoryRequest names more than 256 node ids", false);
        return;
    }
    char(*unknown)[NODE_ID_MAX + 1] = calloc(q->n_node_ids + 1, sizeof *unknown);
    if (!unknown)
        return;
    for (size_t i = 0; i < q->n_node_ids; i++) {
        if (s_named_before(q, i))
            continue; /* each node once: no amplification by repetition */
        const cert *nc = NULL;
        if (trust_lookup(t, q->node_ids[i], r->now_ms, ASYLINK_E_UNKNOWN_RECIPIENT, &nc) ==
            ASYLINK_OK)
            s_dir_add(d, nc);
        else
            memcpy(unknown[d->n_unknown++], q->node_ids[i], NODE_ID_MAX + 1);
    }
    for (size_t i = 0; q->topic[0] && i < trust_count(t); i++) {
        const cert *nc = trust_at(t, i);
        if (nc == trust_find(t, nc->node_id) && trust_usable(t, nc, r->now_ms) == ASYLINK_OK &&
            policy_may_read(view_policy(r->view), nc->roles, q->topic) && !s_in_directory(d, nc))
            s_dir_add(d, nc);
    }
    d->unknown_node_ids = unknown;
    const crl *l = trust_crl(t);
    if (l) {
        d->revocation_list = l->raw;
        d->revocation_list_len = l->raw_len;
    }
    snprintf(d->topic, sizeof d->topic, "%s", q->topic);
    out_send(r, s->rid, s->rid_len, &out);
    free(d->certificates);
    free(d->certificate_lens);
    free(unknown);
}

/* The cursor a subscription starts at: the last feed seq it counts as done. */
static int s_start_cursor(router *r, const wire_subscribe *q, uint64_t *cursor)
{
    switch (q->start) {
    case 0: /* START_POSITION_UNSPECIFIED = NEW */
    case 1: return store_feed_head(r->store, NULL, cursor);
    case 2: *cursor = 0; return ASYLINK_OK;
    case 3: *cursor = q->start_value ? q->start_value - 1 : 0; return ASYLINK_OK;
    case 4: return store_feed_before(r->store, q->start_value, cursor);
    default: return ASYLINK_E_BAD_FIELD;
    }
}

/*
 * Refuses a Subscribe whose prefix is not the one the subscription has
 * (stored, or open in this session): resuming it would deliver what the
 * node did not ask for, under the name it asked with (PREFIX_MISMATCH).
 */
static void s_prefix_mismatch(router *r, session *s, const wire_cmd *c, const char *has)
{
    const wire_subscribe *q = &c->u.subscribe;
    char why[512]; /* out_error cuts it to WIRE_REASON_MAX */
    snprintf(why, sizeof why,
             "subscription %s has the prefix %.60s, not %.60s: subscribe with that prefix, or "
             "delete it first (Unsubscribe with delete_cursor)",
             q->subscription, has, q->topic_prefix);
    out_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_PREFIX_MISMATCH, why, false);
    LOG_INFO("router", "subscribe refused",
             "node=%s subscription=%s prefix=%s stored_prefix=%s code=%s", s->node_id,
             q->subscription, q->topic_prefix, has, asylink_err_name(ASYLINK_E_PREFIX_MISMATCH));
}

/*
 * Subscribe: open (creating or resuming) a durable subscription in this
 * session and answer Subscribed; then deliver.
 */
void feeds_subscribe(router *r, session *s, const wire_cmd *c)
{
    const wire_subscribe *q = &c->u.subscribe;
    const policy *pol = view_policy(r->view);
    char why[WIRE_REASON_MAX + 1];
    if (!q->subscription[0] || !q->topic_prefix[0]) {
        out_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_BAD_FIELD,
                  "Subscribe needs a topic_prefix and a subscription name", false);
        return;
    }
    if (policy_check_subscribe(pol, s->roles, q->topic_prefix) != ASYLINK_OK) {
        snprintf(why, sizeof why, "policy forbids %s to subscribe to %.100s", s->node_id,
                 q->topic_prefix);
        out_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_POLICY, why, false);
        return;
    }
    session_sub *open = session_sub_find(s, q->subscription);
    if (open && !q->reset && strcmp(open->prefix, q->topic_prefix) != 0) {
        s_prefix_mismatch(r, s, c, open->prefix); /* the open one stays as it is */
        return;
    }
    if (!open && s->n_subs >= SESSION_MAX_SUBS) {
        out_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_TOO_LARGE,
                  "too many subscriptions open in this session", false);
        return;
    }
    uint64_t start = 0;
    int rc = s_start_cursor(r, q, &start);
    if (rc != ASYLINK_OK) {
        out_error(r, s->rid, s->rid_len, c->request_id, rc,
                  rc == ASYLINK_E_BAD_FIELD ? "unknown start position" : asylink_strerror(rc),
                  false);
        return;
    }
    if (open) /* subscribing again: the open one is replaced by the stored state */
        session_sub_remove(s, open);
    publish_commit(r); /* cursor moves of this turn reach the store before we read or reset it */
    if (r->fatal)
        return;
    store_sub sub = {0};
    rc = store_sub_get(r->store, s->node_id, q->subscription, &sub);
    bool created = rc == ASYLINK_E_NOT_FOUND;
    if (rc != ASYLINK_OK && !created) {
        out_error(r, s->rid, s->rid_len, c->request_id, rc, "cannot read the subscription", false);
        return;
    }
    if (!created && !q->reset && strcmp(sub.prefix, q->topic_prefix) != 0) {
        s_prefix_mismatch(r, s, c, sub.prefix);
        return;
    }
    uint64_t stored = 0;
    if (created && (rc = store_sub_count(r->store, s->node_id, &stored)) != ASYLINK_OK) {
        out_error(r, s->rid, s->rid_len, c->request_id, rc, "cannot count the subscriptions",
                  false);
        return;
    }
    if (created && stored >= FEEDS_MAX_STORED_SUBS) {
        /* Each stored cursor costs the router a walk of the feed log per metrics turn. */
        snprintf(why, sizeof why,
                 "%s has %llu stored subscriptions, the most a node may keep: delete one "
                 "(Unsubscribe with delete_cursor)",
                 s->node_id, (unsigned long long)stored);
        out_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_TOO_LARGE, why, false);
        return;
    }
    if (created || q->reset) {
        snprintf(sub.prefix, sizeof sub.prefix, "%s", q->topic_prefix);
        sub.cursor = start;
        if (created)
            sub.created_ms = r->now_ms;
        rc = store_sub_put(r->store, s->node_id, q->subscription, &sub);
        if (rc != ASYLINK_OK) {
            out_error(r, s->rid, s->rid_len, c->request_id, rc, "cannot store the subscription",
                      false);
            return;
        }
    }
    session_sub *ss = session_sub_add(s, q->subscription, sub.prefix, sub.cursor);
    if (!ss) {
        out_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_NOMEM, "out of memory", false);
        return;
    }
    uint64_t head = 0;
    store_feed_head(r->store, sub.prefix, &head);
    store_feed_entry e;
    uint64_t next = store_feed_next(r->store, sub.cursor, sub.prefix, &e) == ASYLINK_OK
                        ? e.seq
                        : (head > sub.cursor ? head : sub.cursor) + 1;
    wire_cmd out = {.kind = WIRE_SUBSCRIBED, .request_id = c->request_id};
    snprintf(out.u.subscribed.subscription, sizeof out.u.subscribed.subscription, "%s",
             q->subscription);
    snprintf(out.u.subscribed.topic_prefix, sizeof out.u.subscribed.topic_prefix, "%s", sub.prefix);
    out.u.subscribed.created = created;
    out.u.subscribed.next_sequence = next;
    out.u.subscribed.head_sequence = head;
    out_send(r, s->rid, s->rid_len, &out);
    LOG_INFO("router", "subscribed", "node=%s subscription=%s prefix=%s created=%d cursor=%llu",
             s->node_id, q->subscription, sub.prefix, created ? 1 : 0,
             (unsigned long long)sub.cursor);
    deliver_session(r, s);
}

/* Unsubscribe: close the subscription in this session, maybe delete its cursor. */
void feeds_unsubscribe(router *r, session *s, const wire_cmd *c)
{
    const wire_unsubscribe *q = &c->u.unsubscribe;
    if (!q->subscription[0]) {
        out_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_BAD_FIELD,
                  "Unsubscribe needs a subscription name", false);
        return;
    }
    session_sub *open = session_sub_find(s, q->subscription);
    if (open)
        session_sub_remove(s, open);
    bool deleted = false;
    if (q->delete_cursor) {
        publish_commit(r); /* cursor moves of this turn first, so they cannot recreate it */
        if (r->fatal)
            return;
        int rc = store_sub_delete(r->store, s->node_id, q->subscription);
        if (rc != ASYLINK_OK && rc != ASYLINK_E_NOT_FOUND) {
            out_error(r, s->rid, s->rid_len, c->request_id, rc, "cannot delete the subscription",
                      false);
            return;
        }
        deleted = rc == ASYLINK_OK;
    }
    wire_cmd out = {.kind = WIRE_UNSUBSCRIBED, .request_id = c->request_id};
    snprintf(out.u.unsubscribe.subscription, sizeof out.u.unsubscribe.subscription, "%s",
             q->subscription);
    out.u.unsubscribe.delete_cursor = deleted;
    out_send(r, s->rid, s->rid_len, &out);
    deliver_session(r, s); /* credit held by the closed subscription is free again */
}

/* After a policy reload: closes subscriptions the node may no longer read. */
void feeds_recheck(router *r, session *s)
{
    for (size_t i = s->n_subs; i-- > 0;) {
        session_sub *sub = s->subs[i];
        if (policy_check_subscribe(view_policy(r->view), s->roles, sub->prefix) == ASYLINK_OK)
            continue;
        char why[WIRE_REASON_MAX + 1];
        snprintf(why, sizeof why, "subscription %s closed: policy no longer allows prefix %.100s",
                 sub->name, sub->prefix);
        LOG_INFO("router", "subscription closed by policy", "node=%s subscription=%s", s->node_id,
                 sub->name);
        out_error(r, s->rid, s->rid_len, 0, ASYLINK_E_POLICY, why, false);
        session_sub_remove(s, sub);
    }
}
