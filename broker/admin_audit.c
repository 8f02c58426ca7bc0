/*
 * admin_audit.c — the audit members of the admin endpoint (admin.h):
 * audit_tail (the newest events, or a page after a sequence: how
 * `asylink audit tail --follow` and `asylink audit export` read the log)
 * and audit_verify (one page of the chain check). Answers are the JSON
 * form of AdminAuditTailResponse / AdminAuditVerifyResponse; every event
 * carries its exact stored record bytes so the operator tool re-verifies
 * what it shows instead of trusting the broker's word.
 */
#include "admin.h"

#include "asylink/errors.h"
#include "audit.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Entries read per page walk (and the most one request returns). */
typedef struct {
    json_t *events;                    /* AuditEvent array */
    uint8_t prev[AUDITCHAIN_HASH_LEN]; /* hash of the entry before the next one */
    uint64_t last;                     /* last seq added */
    bool failed;                       /* out of memory or a record that does not decode */
} s_tail;

static bool s_put(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0;
}

static bool s_put_u64(json_t *o, const char *k, uint64_t v)
{
    return s_put(o, k, json_integer((json_int_t)(v > INT64_MAX ? INT64_MAX : v)));
}

static bool s_put_str(json_t *o, const char *k, const char *v)
{
    return !v || !v[0] || s_put(o, k, json_string(v));
}

static bool s_put_b64(json_t *o, const char *k, const uint8_t *b, size_t len)
{
    if (!b || !len)
        return true;
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(n);
    if (!s)
        return false;
    sodium_bin2base64(s, n, b, len, sodium_base64_VARIANT_ORIGINAL);
    bool ok = s_put(o, k, json_string(s));
    free(s);
    return ok;
}

static bool s_put_hex(json_t *o, const char *k, const uint8_t h[AUDITCHAIN_HASH_LEN])
{
    char hex[2 * AUDITCHAIN_HASH_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, h, AUDITCHAIN_HASH_LEN);
    return s_put(o, k, json_string(hex));
}

/* One AuditEvent from a stored entry. */
static json_t *s_event(const uint8_t prev[AUDITCHAIN_HASH_LEN], const uint8_t *val, size_t len)
{
    const uint8_t *rec = val + AUDITCHAIN_HASH_LEN;
    size_t rlen = len - AUDITCHAIN_HASH_LEN;
    auditchain_decoded *d = NULL;
    if (auditchain_record_decode(rec, rlen, &d) != ASYLINK_OK)
        return NULL;
    const auditchain_record *r = auditchain_decoded_record(d);
    json_t *o = json_object();
    bool ok = o && s_put_u64(o, "seq", r->seq) && s_put_u64(o, "time_ms", r->time_ms) &&
              s_put(o, "kind", json_integer(r->kind)) && s_put_str(o, "actor", r->actor) &&
              s_put_b64(o, "message_id", r->message_id, r->message_id ? 16 : 0) &&
              s_put_str(o, "sender", r->sender) &&
              s_put_str(o, "recipient", r->n_recipients ? r->recipients[0] : NULL) &&
              s_put_str(o, "topic", r->topic) &&
              (!r->code || s_put(o, "code", json_integer(r->code))) &&
              s_put_str(o, "detail", r->detail) && s_put_hex(o, "prev_hash_hex", prev) &&
              s_put_hex(o, "hash_hex", val) && s_put_b64(o, "record", rec, rlen);
    auditchain_decoded_destroy(&d);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int s_tail_entry(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    s_tail *t = ctx;
    json_t *ev = len > AUDITCHAIN_HASH_LEN ? s_event(t->prev, val, len) : NULL;
    if (!ev || json_array_append_new(t->events, ev) != 0) {
        t->failed = true;
        t->last = seq;
        return 1;
    }
    memcpy(t->prev, val, AUDITCHAIN_HASH_LEN);
    t->last = seq;
    return 0;
}

/* An anchor checkpoint's entry hash (the entry itself was pruned). */
static int s_prev_ckpt(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    (void)seq;
    uint8_t *out = ctx;
    auditchain_checkpoint c;
    if (auditchain_checkpoint_decode(val, len, &c, NULL) == ASYLINK_OK)
        memcpy(out, c.entry_hash, AUDITCHAIN_HASH_LEN);
    return 1;
}

/* The hash before entry seq: the stored hash of seq - 1, an anchor checkpoint's, or zeros. */
static void s_prev_hash(audit *a, uint64_t seq, uint8_t out[AUDITCHAIN_HASH_LEN])
{
    memset(out, 0, AUDITCHAIN_HASH_LEN);
    if (seq <= 1)
        return;
    bool found = false;
    audit_entry_hash(a, seq - 1, out, &found);
    if (!found)
        audit_read_checkpoints(a, seq - 1, seq - 1, s_prev_ckpt, out);
}

/* AuditCheckpointInfo for each checkpoint in the page's range. */
static int s_tail_ckpt(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    json_t *arr = ctx;
    auditchain_checkpoint c;
    json_t *o = json_object();
    bool ok = o && auditchain_checkpoint_decode(val, len, &c, NULL) == ASYLINK_OK &&
              s_put_u64(o, "seq", seq) && s_put_hex(o, "hash_hex", c.entry_hash) &&
              s_put_u64(o, "time_ms", c.time_ms) && s_put_b64(o, "signed", val, len) &&
              json_array_append_new(arr, o) == 0;
    if (!ok)
        json_decref(o);
    return 0;
}

int admin_audit_tail(const admin_env *e, const wire_admin_request *q, json_t **body, char *why,
                     size_t whylen)
{
    audit_head h;
    if (!e->audit) {
        snprintf(why, whylen, "this broker keeps no audit trail ([audit] enabled = false)");
        return ASYLINK_E_UNAVAILABLE;
    }
    if (audit_head_get(e->audit, &h) != ASYLINK_OK) {
        snprintf(why, whylen, "the audit log cannot be read");
        return ASYLINK_E_IO;
    }
    uint32_t count = q->limit ? q->limit : ADMIN_AUDIT_TAIL_DEFAULT;
    if (count > ADMIN_AUDIT_TAIL_MAX)
        count = ADMIN_AUDIT_TAIL_MAX;
    uint64_t from = q->seq_from ? q->seq_from : h.last_seq >= count ? h.last_seq - count + 1 : 1;
    if (from < h.first_seq)
        from = h.first_seq;
    s_tail t = {.events = json_array()};
    json_t *o = json_object(), *ck = json_array();
    bool ok = t.events && o && ck;
    if (ok && h.last_seq && from <= h.last_seq) {
        s_prev_hash(e->audit, from, t.prev);
        ok = audit_read_entries(e->audit, from, 0, count, s_tail_entry, &t) == ASYLINK_OK &&
             !t.failed;
        uint64_t ck_from = from == h.first_seq && from > 1 ? from - 1 : from; /* + the anchor */
        if (ok && t.last)
            ok = audit_read_checkpoints(e->audit, ck_from, t.last, s_tail_ckpt, ck) == ASYLINK_OK;
    }
    ok = ok && s_put(o, "events", json_incref(t.events)) &&
         s_put_u64(o, "first_seq", h.first_seq) && s_put_u64(o, "last_seq", h.last_seq) &&
         s_put(o, "checkpoints", json_incref(ck));
    size_t n = t.events ? json_array_size(t.events) : 0;
    json_decref(t.events);
    json_decref(ck);
    if (!ok) {
        json_decref(o);
        snprintf(why, whylen, t.failed ? "audit entry %llu cannot be read" : "out of memory",
                 (unsigned long long)t.last);
        return t.failed ? ASYLINK_E_IO : ASYLINK_E_NOMEM;
    }
    snprintf(why, whylen, "from=%llu events=%zu", (unsigned long long)q->seq_from, n);
    *body = o;
    return ASYLINK_OK;
}

int admin_audit_verify(const admin_env *e, const wire_admin_request *q, json_t **body, char *why,
                       size_t whylen)
{
    if (!e->audit) {
        snprintf(why, whylen, "this broker keeps no audit trail ([audit] enabled = false)");
        return ASYLINK_E_UNAVAILABLE;
    }
    auditchain_result res;
    bool more = false;
    audit_head h;
    int rc = audit_head_get(e->audit, &h);
    if (rc == ASYLINK_OK)
        rc = audit_verify(e->audit, e->trust, q->seq_from, q->seq_to, ADMIN_AUDIT_VERIFY_PAGE, &res,
                          &more);
    if (rc != ASYLINK_OK) {
        snprintf(why, whylen, "the audit log cannot be read: %s", asylink_strerror(rc));
        return rc;
    }
    json_t *o = json_object();
    bool ok = o && s_put(o, "ok", json_boolean(res.ok)) &&
              s_put_u64(o, "events_checked", res.entries) &&
              s_put_u64(o, "first_seq", res.first_seq) && s_put_u64(o, "last_seq", res.last_seq) &&
              s_put_hex(o, "head_hash_hex", res.head_hash) &&
              s_put_u64(o, "first_bad_seq", res.first_bad_seq) &&
              s_put_str(o, "reason", res.reason) && s_put_hex(o, "prev_hash_hex", res.prev_hash) &&
              s_put_u64(o, "checkpoints_checked", res.checkpoints) &&
              s_put_u64(o, "anchor_seq", res.anchor_seq) && s_put(o, "more", json_boolean(more)) &&
              s_put_u64(o, "log_last_seq", h.last_seq);
    if (!ok) {
        json_decref(o);
        snprintf(why, whylen, "out of memory");
        return ASYLINK_E_NOMEM;
    }
    snprintf(why, whylen, "ok=%d checked=%llu..%llu first_bad=%llu", res.ok ? 1 : 0,
             (unsigned long long)res.first_seq, (unsigned long long)res.last_seq,
             (unsigned long long)res.first_bad_seq);
    *body = o;
    return ASYLINK_OK;
}
