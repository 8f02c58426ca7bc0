/*
 * admin_erasure.c — the purge member of the admin endpoint (admin.h): an
 * erasure request for one message. The message is found (store.h
 * store_message_find()), its digest and classification read for the audit
 * record, and store_purge() removes it from every queue, dead letter list,
 * the feed log and the store in one transaction that also writes its
 * tombstone and the PURGED audit record.
 *
 * Also the JSON of four-eyes held requests (PendingRequest), used by
 * admin.c for purge, dead_letter_drop and dead_letter_replay.
 */
#include "admin.h"

#include "asylink/errors.h"
#include "audit.h"
#include "envelope.h"
#include "uuid.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for the audit reason: the operator's reason and reference, and the approval. */
#define S_REASON_MAX (3 * WIRE_REASON_MAX + 64)

/*
 * The digest and classification of the stored message seq, for the audit
 * record (unknown when it does not decode: the purge goes on).
 */
static void s_message_meta(const admin_env *e, uint64_t seq, uint8_t digest[64], bool *have,
                           int *classification)
{
    uint8_t *env = NULL;
    size_t len = 0;
    envelope *ev = NULL;
    *have = false;
    *classification = 0;
    if (seq && store_message_get(e->store, seq, &env, &len) == ASYLINK_OK &&
        envelope_decode(env, len, 0, &ev) == ASYLINK_OK) {
        memcpy(digest, envelope_digest(ev), 64);
        *have = true;
        *classification = envelope_header_of(ev)->classification;
    }
    envelope_destroy(&ev);
    if (env)
        sodium_memzero(env, len); /* it is being erased: leave no copy in freed memory */
    free(env);
}

/* The AdminPurgeResponse of a purge done. */
static json_t *s_result_json(const admin_env *e, const store_purge_result *r, uint64_t audit_seq)
{
    uint64_t until = e->dedup_window_ms ? e->now_ms + e->dedup_window_ms : 0;
    json_t *o = json_object();
    bool ok = o && admin_json_set(o, "found", json_boolean(r->found)) &&
              admin_json_set_u64(o, "queue_entries", r->queue_entries) &&
              admin_json_set_u64(o, "topic_entries", r->feed_entries) &&
              admin_json_set_u64(o, "dead_letters", r->dead_letters) &&
              admin_json_set_u64(o, "bytes_removed", r->bytes_removed) &&
              admin_json_set_u64(o, "audit_seq", audit_seq) && admin_json_set_u64(o, "tombstone_until_ms", until);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int admin_purge(const admin_env *e, const wire_admin_request *q, const char *approved_by,
                json_t **body, char *why, size_t whylen)
{
    *body = NULL;
    char id[UUID_STR_LEN];
    uuid_format(q->message_id, id, sizeof id);
    uint64_t seq = 0;
    int rc = store_message_find(e->store, q->node_id, q->message_id, &seq);
    if (rc != ASYLINK_OK && rc != ASYLINK_E_NOT_FOUND) {
        snprintf(why, whylen, "the store cannot be searched for %s of %s: %s", id, q->node_id,
                 asylink_strerror(rc));
        return rc;
    }
    uint8_t digest[64];
    bool have_digest;
    int classification;
    s_message_meta(e, seq, digest, &have_digest, &classification);
    char reason[S_REASON_MAX];
    /* who approved first: the audit record cuts its detail at 255 bytes, and the
       operators' names matter more than the end of a long reason */
    snprintf(reason, sizeof reason, "%s%sreason: %s; reference: %s",
             approved_by ? approved_by : "", approved_by ? "; " : "",
             q->reason[0] ? q->reason : "-", q->reference[0] ? q->reference : "-");
    store_purge_request r = {.sender = q->node_id,
                             .message_id = q->message_id,
                             .seq = seq,
                             .digest = have_digest ? digest : NULL,
                             .classification = classification,
                             .reason = reason};
    store_purge_result res;
    rc = store_purge(e->store, &r, e->now_ms, &res);
    if (rc != ASYLINK_OK) {
        snprintf(why, whylen, "purge of %s of %s failed, nothing was erased: %s", id, q->node_id,
                 asylink_strerror(rc));
        return rc;
    }
    audit_head h = {0};
    if (e->audit)
        audit_head_get(e->audit, &h); /* the PURGED record is the last of its transaction */
    *body = s_result_json(e, &res, h.last_seq);
    if (!*body) {
        snprintf(why, whylen, "out of memory (the purge of %s was done)", id);
        return ASYLINK_E_NOMEM;
    }
    snprintf(why, whylen,
             "sender=%s id=%s found=%s queue=%u dead_letters=%u feed=%u bytes=%llu audit_seq=%llu",
             q->node_id, id, res.found ? "yes" : "no", res.queue_entries, res.dead_letters,
             res.feed_entries, (unsigned long long)res.bytes_removed,
             (unsigned long long)h.last_seq);
    return ASYLINK_OK;
}

void admin_purge_what(const wire_admin_request *q, char *out, size_t cap)
{
    char id[UUID_STR_LEN];
    uuid_format(q->message_id, id, sizeof id);
    snprintf(out, cap, "purge message %s of %s", id, q->node_id);
}

void admin_purge_summary(const wire_admin_request *q, char *out, size_t cap)
{
    char what[UUID_STR_LEN + NODE_ID_MAX + 32];
    admin_purge_what(q, what, sizeof what);
    snprintf(out, cap, "%s (reason: %s; reference: %s)", what, q->reason[0] ? q->reason : "-",
             q->reference[0] ? q->reference : "-");
}

json_t *admin_pending_json(const approval_item *it)
{
    json_t *o = json_object();
    bool ok = o && admin_json_set_u64(o, "id", it->id) &&
              admin_json_set(o, "request", json_string(wire_admin_op_name(it->req.op))) &&
              admin_json_set(o, "operator", json_string(it->op_node)) &&
              admin_json_set_u64(o, "operator_cert_serial", it->op_serial) &&
              admin_json_set_u64(o, "created_ms", it->created_ms) &&
              admin_json_set_u64(o, "expires_ms", it->expires_ms) &&
              admin_json_set(o, "summary", json_string(it->summary));
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}
