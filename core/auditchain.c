/*
 * auditchain.c — audit records, chain hash, signed checkpoints, verifier
 * (auditchain.h).
 */
#include "auditchain.h"

#include "asylink/errors.h"
#include "asylink/v1/audit.pb-c.h"
#include "bytes.h"
#include "codec.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ID_LEN 16
#define S_DIGEST_LEN 64

static const char *const s_kind_names[] = {
    "UNSPECIFIED",  "ACCEPTED",      "REJECTED",     "DELIVERED",    "ACKED",
    "NACKED",       "DEAD_LETTERED", "EXPIRED",      "PURGED",       "CONNECTED",
    "DISCONNECTED", "AUTH_FAILED",   "ADMIN",        "RELOADED",     "STARTED",
    "STOPPED",      "DUPLICATE",     "DLQ_REPLAYED", "DLQ_DROPPED",  "SWEPT",
    "SUBSCRIBED",   "UNSUBSCRIBED",  "CURSOR",       "CRL_RECORDED", "PRUNED"};

const char *auditchain_kind_name(int kind)
{
    if (kind < 1 || kind > AUDIT_KIND_MAX)
        return "UNKNOWN";
    return s_kind_names[kind];
}

/* ---- records ---- */

/* True if s is NULL or valid UTF-8 of at most max bytes. */
static bool s_text_ok(const char *s, size_t max)
{
    return !s || (strnlen(s, max + 1) <= max && codec_utf8_valid(s));
}

static int s_record_check(const auditchain_record *r)
{
    if (r->seq == 0 || r->kind < 1 || r->kind > AUDIT_KIND_MAX ||
        r->n_recipients > AUDITCHAIN_MAX_RECIPIENTS || (r->n_recipients && !r->recipients) ||
        r->code < 0 || r->classification < 0)
        return ASYLINK_E_BAD_FIELD;
    /* a reason's digest and size come together, the size within a reason's bounds */
    if ((r->reason_digest != NULL) != (r->reason_size != 0) ||
        r->reason_size > AUDITCHAIN_DETAIL_MAX)
        return ASYLINK_E_BAD_FIELD;
    if (!s_text_ok(r->actor, AUDITCHAIN_NAME_MAX) || !s_text_ok(r->sender, AUDITCHAIN_NAME_MAX) ||
        !s_text_ok(r->topic, AUDITCHAIN_NAME_MAX) ||
        !s_text_ok(r->subscription, AUDITCHAIN_NAME_MAX) ||
        !s_text_ok(r->request, AUDITCHAIN_NAME_MAX) || !s_text_ok(r->detail, AUDITCHAIN_DETAIL_MAX))
        return ASYLINK_E_BAD_FIELD;
    for (size_t i = 0; i < r->n_recipients; i++)
        if (!r->recipients[i] || !r->recipients[i][0] ||
            !s_text_ok(r->recipients[i], AUDITCHAIN_NAME_MAX))
            return ASYLINK_E_BAD_FIELD;
    return ASYLINK_OK;
}

/* A string field: "" (absent) for NULL. */
static char *s_str(const char *s)
{
    return (char *)(s ? s : "");
}

/* Fills the protobuf-c struct from r (pointers borrowed). */
static void s_record_to_pb(const auditchain_record *r, Asylink__V1__AuditRecord *m)
{
    asylink__v1__audit_record__init(m);
    m->seq = r->seq;
    m->time_ms = r->time_ms;
    m->kind = (Asylink__V1__AuditKind)r->kind;
    m->actor = s_str(r->actor);
    m->actor_cert_serial = r->actor_cert_serial;
    if (r->message_id)
        m->message_id = (ProtobufCBinaryData){S_ID_LEN, (uint8_t *)r->message_id};
    m->sender = s_str(r->sender);
    m->n_recipients = r->n_recipients;
    m->recipients = (char **)r->recipients;
    m->topic = s_str(r->topic);
    if (r->envelope_digest)
        m->envelope_digest = (ProtobufCBinaryData){S_DIGEST_LEN, (uint8_t *)r->envelope_digest};
    m->envelope_size = r->envelope_size;
    m->classification = (Asylink__V1__Classification)r->classification;
    m->store_seq = r->store_seq;
    m->attempt = r->attempt;
    m->code = (Asylink__V1__ErrorCode)r->code;
    m->detail = s_str(r->detail);
    m->subscription = s_str(r->subscription);
    m->count = r->count;
    m->request = s_str(r->request);
    m->expires_ms = r->expires_ms;
    m->anchor_seq = r->anchor_seq;
    if (r->reason_digest)
        m->reason_digest = (ProtobufCBinaryData){AUDITCHAIN_HASH_LEN, (uint8_t *)r->reason_digest};
    m->reason_size = r->reason_size;
}

size_t auditchain_record_bound(const auditchain_record *r)
{
    Asylink__V1__AuditRecord m;
    if (!r)
        return 0;
    s_record_to_pb(r, &m);
    return asylink__v1__audit_record__get_packed_size(&m);
}

/*
 * The record's protobuf encoding written directly (what
 * asylink__v1__audit_record__pack() writes for a checked record, byte for
 * byte: fields in number order, zero and empty ones left out; the broker
 * writes three records per message, and the generic packer sized and
 * packed each one). test_auditchain compares the two.
 */
typedef struct {
    uint8_t *p, *end;
    bool full; /* something did not fit */
} s_out;

static void s_put_bytes(s_out *o, const void *b, size_t n)
{
    if (o->full || (size_t)(o->end - o->p) < n) {
        o->full = true;
        return;
    }
    memcpy(o->p, b, n);
    o->p += n;
}

static void s_put_varint(s_out *o, uint64_t v)
{
    if (!o->full && o->end - o->p >= 10) { /* room for any varint: written in place */
        do {
            *o->p++ = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            v >>= 7;
        } while (v);
        return;
    }
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    s_put_bytes(o, b, n);
}

/* A varint field (uint64, uint32 or a non-negative enum); nothing for 0. */
static void s_field_varint(s_out *o, unsigned field, uint64_t v)
{
    if (!v)
        return;
    s_put_varint(o, (uint64_t)field << 3);
    s_put_varint(o, v);
}

/* A length-delimited field of n bytes; nothing for none (unless always). */
static void s_field_bytes(s_out *o, unsigned field, const void *b, size_t n, bool always)
{
    if (!n && !always)
        return;
    s_put_varint(o, (uint64_t)field << 3 | 2);
    s_put_varint(o, n);
    s_put_bytes(o, b, n);
}

static void s_field_str(s_out *o, unsigned field, const char *str)
{
    if (str && str[0])
        s_field_bytes(o, field, str, strlen(str), false);
}

static void s_record_write(const auditchain_record *r, s_out *o)
{
    uint8_t seq[9] = {0x09};
    bytes_put_le(seq + 1, r->seq, 8);
    s_put_bytes(o, seq, sizeof seq);
    s_field_varint(o, 2, r->time_ms);
    s_field_varint(o, 3, (uint64_t)r->kind);
    s_field_str(o, 4, r->actor);
    s_field_varint(o, 5, r->actor_cert_serial);
    if (r->message_id)
        s_field_bytes(o, 6, r->message_id, S_ID_LEN, false);
    s_field_str(o, 7, r->sender);
    for (size_t i = 0; i < r->n_recipients; i++)
        s_field_bytes(o, 8, r->recipients[i], strlen(r->recipients[i]), true);
    s_field_str(o, 9, r->topic);
    if (r->envelope_digest)
        s_field_bytes(o, 10, r->envelope_digest, S_DIGEST_LEN, false);
    s_field_varint(o, 11, r->envelope_size);
    s_field_varint(o, 12, (uint64_t)r->classification);
    s_field_varint(o, 13, r->store_seq);
    s_field_varint(o, 14, r->attempt);
    s_field_varint(o, 15, (uint64_t)r->code);
    s_field_str(o, 16, r->detail);
    s_field_str(o, 17, r->subscription);
    s_field_varint(o, 18, r->count);
    s_field_str(o, 19, r->request);
    s_field_varint(o, 20, r->expires_ms);
    s_field_varint(o, 21, r->anchor_seq);
    if (r->reason_digest)
        s_field_bytes(o, 22, r->reason_digest, AUDITCHAIN_HASH_LEN, false);
    s_field_varint(o, 23, r->reason_size);
}

int auditchain_record_encode(const auditchain_record *r, uint8_t *buf, size_t cap, size_t *len)
{
    if (!r || !buf || !len)
        return ASYLINK_E_INVALID_ARG;
    *len = 0;
    int rc = s_record_check(r); /* kind, code and classification non-negative, text bounded */
    if (rc != ASYLINK_OK)
        return rc;
    s_out o = {.p = buf, .end = buf + (cap < AUDITCHAIN_RECORD_MAX ? cap : AUDITCHAIN_RECORD_MAX)};
    s_record_write(r, &o);
    if (o.full)
        return ASYLINK_E_TOO_LARGE;
    *len = (size_t)(o.p - buf);
    return ASYLINK_OK;
}

bool auditchain_record_set_seq(uint8_t *rec, size_t len, uint64_t seq)
{
    if (!rec || len < 9 || rec[0] != 0x09 || seq == 0)
        return false;
    bytes_put_le(rec + 1, seq, 8);
    return true;
}

struct auditchain_decoded {
    Asylink__V1__AuditRecord *m; /* unpacked message, owns the strings */
    auditchain_record r;         /* view into m */
};

/* NULL for an absent (empty) string. */
static const char *s_opt(const char *s)
{
    return s && s[0] ? s : NULL;
}

/* Fills the view of a decoded record; ASYLINK_E_BAD_FIELD if a field is invalid. */
static int s_record_from_pb(const Asylink__V1__AuditRecord *m, auditchain_record *r)
{
    if ((m->message_id.len && m->message_id.len != S_ID_LEN) ||
        (m->envelope_digest.len && m->envelope_digest.len != S_DIGEST_LEN) ||
        (m->reason_digest.len && m->reason_digest.len != AUDITCHAIN_HASH_LEN) ||
        (int)m->kind > AUDIT_KIND_MAX || (int)m->code < 0 || (int)m->classification < 0)
        return ASYLINK_E_BAD_FIELD;
    memset(r, 0, sizeof *r);
    r->seq = m->seq;
    r->time_ms = m->time_ms;
    r->kind = (int)m->kind;
    r->actor = s_opt(m->actor);
    r->actor_cert_serial = m->actor_cert_serial;
    r->message_id = m->message_id.len ? m->message_id.data : NULL;
    r->sender = s_opt(m->sender);
    r->recipients = (const char *const *)m->recipients;
    r->n_recipients = m->n_recipients;
    r->topic = s_opt(m->topic);
    r->envelope_digest = m->envelope_digest.len ? m->envelope_digest.data : NULL;
    r->envelope_size = m->envelope_size;
    r->classification = (int)m->classification;
    r->store_seq = m->store_seq;
    r->attempt = m->attempt;
    r->code = (int)m->code;
    r->detail = s_opt(m->detail);
    r->subscription = s_opt(m->subscription);
    r->count = m->count;
    r->request = s_opt(m->request);
    r->expires_ms = m->expires_ms;
    r->anchor_seq = m->anchor_seq;
    r->reason_digest = m->reason_digest.len ? m->reason_digest.data : NULL;
    r->reason_size = m->reason_size;
    return s_record_check(r);
}

int auditchain_record_decode(const uint8_t *buf, size_t len, auditchain_decoded **out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    if (!buf || len == 0 || len > AUDITCHAIN_RECORD_MAX)
        return ASYLINK_E_MALFORMED;
    auditchain_decoded *d = calloc(1, sizeof *d);
    if (!d)
        return ASYLINK_E_NOMEM;
    int rc = ASYLINK_E_MALFORMED;
    d->m = asylink__v1__audit_record__unpack(NULL, len, buf);
    if (!d->m || !codec_is_canonical(&d->m->base, buf, len))
        goto fail;
    rc = s_record_from_pb(d->m, &d->r);
    if (rc != ASYLINK_OK)
        goto fail;
    *out = d;
    return ASYLINK_OK;
fail:
    auditchain_decoded_destroy(&d);
    return rc;
}

const auditchain_record *auditchain_decoded_record(const auditchain_decoded *d)
{
    return d ? &d->r : NULL;
}

void auditchain_decoded_destroy(auditchain_decoded **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->m)
        asylink__v1__audit_record__free_unpacked((*self_p)->m, NULL);
    free(*self_p);
    *self_p = NULL;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if there is none. */
static size_t s_utf8_seq(const unsigned char *p)
{
    if (p[0] >= 0x20 && p[0] < 0x7f)
        return 1;
    size_t n = p[0] >= 0xf0 && p[0] <= 0xf4  ? 4
               : p[0] >= 0xe0                ? 3
               : p[0] >= 0xc2 && p[0] < 0xe0 ? 2
                                             : 0;
    if (n == 0 || p[0] >= 0xf5)
        return 0;
    char tmp[5] = {0};
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (p[i] & 0xc0) != 0x80)
            return 0;
        tmp[i] = (char)p[i];
    }
    return codec_utf8_valid(tmp) ? n : 0;
}

void auditchain_clean_text(const char *text, char *out, size_t cap)
{
    if (!out || cap == 0)
        return;
    size_t max = cap - 1 < AUDITCHAIN_DETAIL_MAX ? cap - 1 : AUDITCHAIN_DETAIL_MAX;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    while (*p) {
        size_t n = s_utf8_seq(p);
        size_t take = n ? n : 1;
        if (o + (n ? n : 1) > max)
            break;
        if (n)
            memcpy(out + o, p, n);
        else
            out[o] = '?';
        o += n ? n : 1;
        p += take;
    }
    out[o] = 0;
}

void auditchain_reason_digest(const char *text, size_t len, uint8_t out[AUDITCHAIN_HASH_LEN])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, AUDITCHAIN_HASH_LEN);
    crypto_generichash_update(&st, (const uint8_t *)AUDITCHAIN_REASON_DOMAIN,
                              sizeof AUDITCHAIN_REASON_DOMAIN - 1);
    if (text && len)
        crypto_generichash_update(&st, (const uint8_t *)text, len);
    crypto_generichash_final(&st, out, AUDITCHAIN_HASH_LEN);
}

void auditchain_hash(const uint8_t prev[AUDITCHAIN_HASH_LEN], const uint8_t *record, size_t len,
                     uint8_t out[AUDITCHAIN_HASH_LEN])
{
    crypto_generichash_state st;
    uint8_t lp[4];
    lp[0] = (uint8_t)(len >> 24);
    lp[1] = (uint8_t)(len >> 16);
    lp[2] = (uint8_t)(len >> 8);
    lp[3] = (uint8_t)len;
    crypto_generichash_init(&st, NULL, 0, AUDITCHAIN_HASH_LEN);
    crypto_generichash_update(&st, (const uint8_t *)AUDITCHAIN_ENTRY_DOMAIN,
                              sizeof AUDITCHAIN_ENTRY_DOMAIN - 1);
    crypto_generichash_update(&st, prev, AUDITCHAIN_HASH_LEN);
    crypto_generichash_update(&st, lp, sizeof lp);
    crypto_generichash_update(&st, record, len);
    crypto_generichash_final(&st, out, AUDITCHAIN_HASH_LEN);
}

/* ---- checkpoints ---- */

/* domain || lp(body): the bytes a checkpoint signature covers (malloc'd). */
static uint8_t *s_signed_bytes(const uint8_t *body, size_t len, size_t *out_len)
{
    size_t dl = sizeof AUDITCHAIN_CHECKPOINT_DOMAIN - 1;
    uint8_t *m = malloc(dl + 4 + len);
    if (!m)
        return NULL;
    memcpy(m, AUDITCHAIN_CHECKPOINT_DOMAIN, dl);
    m[dl] = (uint8_t)(len >> 24);
    m[dl + 1] = (uint8_t)(len >> 16);
    m[dl + 2] = (uint8_t)(len >> 8);
    m[dl + 3] = (uint8_t)len;
    memcpy(m + dl + 4, body, len);
    *out_len = dl + 4 + len;
    return m;
}

int auditchain_checkpoint_sign(const auditchain_checkpoint *c, const uint8_t sign_sk[64],
                               uint8_t *buf, size_t cap, size_t *len)
{
    if (!c || !sign_sk || !buf || !len)
        return ASYLINK_E_INVALID_ARG;
    *len = 0;
    if (c->seq == 0 || !c->broker_node_id[0] || !s_text_ok(c->broker_node_id, AUDITCHAIN_NAME_MAX))
        return ASYLINK_E_BAD_FIELD;
    Asylink__V1__AuditCheckpoint cp = ASYLINK__V1__AUDIT_CHECKPOINT__INIT;
    cp.seq = c->seq;
    cp.entry_hash = (ProtobufCBinaryData){AUDITCHAIN_HASH_LEN, (uint8_t *)c->entry_hash};
    cp.time_ms = c->time_ms;
    cp.broker_node_id = (char *)c->broker_node_id;
    cp.cert_serial = c->cert_serial;
    uint8_t body[AUDITCHAIN_CHECKPOINT_MAX];
    size_t blen = asylink__v1__audit_checkpoint__get_packed_size(&cp);
    if (blen > sizeof body)
        return ASYLINK_E_TOO_LARGE;
    asylink__v1__audit_checkpoint__pack(&cp, body);
    size_t mlen = 0;
    uint8_t *msg = s_signed_bytes(body, blen, &mlen);
    if (!msg)
        return ASYLINK_E_NOMEM;
    uint8_t sig[AUDITCHAIN_SIG_LEN];
    crypto_sign_detached(sig, NULL, msg, mlen, sign_sk);
    free(msg);
    Asylink__V1__SignedAuditCheckpoint s = ASYLINK__V1__SIGNED_AUDIT_CHECKPOINT__INIT;
    s.checkpoint = (ProtobufCBinaryData){blen, body};
    s.signature = (ProtobufCBinaryData){sizeof sig, sig};
    size_t n = asylink__v1__signed_audit_checkpoint__get_packed_size(&s);
    if (n > cap)
        return ASYLINK_E_TOO_LARGE;
    *len = asylink__v1__signed_audit_checkpoint__pack(&s, buf);
    return ASYLINK_OK;
}

/* Decodes the inner checkpoint; keeps the signed body for verification. */
static int s_checkpoint_body(const ProtobufCBinaryData *b, auditchain_checkpoint *out)
{
    Asylink__V1__AuditCheckpoint *cp = asylink__v1__audit_checkpoint__unpack(NULL, b->len, b->data);
    int rc = ASYLINK_OK;
    if (!cp || !codec_is_canonical(&cp->base, b->data, b->len))
        rc = ASYLINK_E_MALFORMED;
    else if (cp->seq == 0 || cp->entry_hash.len != AUDITCHAIN_HASH_LEN || !cp->broker_node_id[0] ||
             strlen(cp->broker_node_id) > AUDITCHAIN_NAME_MAX)
        rc = ASYLINK_E_BAD_FIELD;
    if (rc == ASYLINK_OK) {
        memset(out, 0, sizeof *out);
        out->seq = cp->seq;
        memcpy(out->entry_hash, cp->entry_hash.data, AUDITCHAIN_HASH_LEN);
        out->time_ms = cp->time_ms;
        snprintf(out->broker_node_id, sizeof out->broker_node_id, "%s", cp->broker_node_id);
        out->cert_serial = cp->cert_serial;
    }
    if (cp)
        asylink__v1__audit_checkpoint__free_unpacked(cp, NULL);
    return rc;
}

/* Decodes the outer message; *m must be freed by the caller on success. */
static int s_checkpoint_outer(const uint8_t *buf, size_t len,
                              Asylink__V1__SignedAuditCheckpoint **m)
{
    *m = NULL;
    if (!buf || len == 0 || len > AUDITCHAIN_CHECKPOINT_MAX)
        return ASYLINK_E_MALFORMED;
    Asylink__V1__SignedAuditCheckpoint *s =
        asylink__v1__signed_audit_checkpoint__unpack(NULL, len, buf);
    if (!s || !codec_is_canonical(&s->base, buf, len) || s->signature.len != AUDITCHAIN_SIG_LEN) {
        if (s)
            asylink__v1__signed_audit_checkpoint__free_unpacked(s, NULL);
        return ASYLINK_E_MALFORMED;
    }
    *m = s;
    return ASYLINK_OK;
}

int auditchain_checkpoint_decode(const uint8_t *buf, size_t len, auditchain_checkpoint *out,
                                 uint8_t sig[AUDITCHAIN_SIG_LEN])
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    Asylink__V1__SignedAuditCheckpoint *s = NULL;
    int rc = s_checkpoint_outer(buf, len, &s);
    if (rc != ASYLINK_OK)
        return rc;
    rc = s_checkpoint_body(&s->checkpoint, out);
    if (rc == ASYLINK_OK && sig)
        memcpy(sig, s->signature.data, AUDITCHAIN_SIG_LEN);
    asylink__v1__signed_audit_checkpoint__free_unpacked(s, NULL);
    return rc;
}

int auditchain_checkpoint_verify(const uint8_t *buf, size_t len, const uint8_t sign_pk[32],
                                 auditchain_checkpoint *out)
{
    if (!out || !sign_pk)
        return ASYLINK_E_INVALID_ARG;
    Asylink__V1__SignedAuditCheckpoint *s = NULL;
    int rc = s_checkpoint_outer(buf, len, &s);
    if (rc != ASYLINK_OK)
        return rc;
    rc = s_checkpoint_body(&s->checkpoint, out);
    size_t mlen = 0;
    uint8_t *msg =
        rc == ASYLINK_OK ? s_signed_bytes(s->checkpoint.data, s->checkpoint.len, &mlen) : NULL;
    if (rc == ASYLINK_OK && !msg)
        rc = ASYLINK_E_NOMEM;
    if (rc == ASYLINK_OK && crypto_sign_verify_detached(s->signature.data, msg, mlen, sign_pk) != 0)
        rc = ASYLINK_E_BAD_SIGNATURE;
    free(msg);
    asylink__v1__signed_audit_checkpoint__free_unpacked(s, NULL);
    return rc;
}

/* ---- the verifier ---- */

/* A checkpoint handed to the verifier and found valid. */
typedef struct {
    uint64_t seq;
    uint8_t hash[AUDITCHAIN_HASH_LEN];
} s_ckpt;

struct auditchain_verifier {
    auditchain_key_fn key; /* finds checkpoint keys, or NULL */
    void *ctx;             /* key's context */
    s_ckpt *ckpts;         /* valid checkpoints, ascending seq (sorted at the first entry) */
    size_t n_ckpts, cap_ckpts;
    size_t next_ckpt;                  /* first checkpoint not yet passed by the walk */
    bool sorted;                       /* ckpts sorted */
    bool started;                      /* the first entry was fed (or start_at called) */
    uint64_t expect;                   /* seq of the next entry */
    uint8_t prev[AUDITCHAIN_HASH_LEN]; /* hash of entry expect - 1 */
    uint64_t pruned_anchor;            /* anchor named by the last PRUNED record (0 = none) */
    uint64_t pruned_at;                /* that record's seq */
    uint64_t log_first;                /* the log's first entry (a page: set by the caller) */
    uint64_t last_pruned;              /* the store's last PRUNED record (set by the caller) */
    bool last_pruned_set;              /* auditchain_verifier_last_pruned() was called */
    bool whole;                        /* the walk began at the log's first entry */
    bool failed;                       /* the result is final */
    auditchain_result res;             /* what has been found */
};

int auditchain_verifier_new(auditchain_key_fn key, void *ctx, auditchain_verifier **out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ASYLINK_E_NOMEM;
    (*out)->key = key;
    (*out)->ctx = ctx;
    return ASYLINK_OK;
}

void auditchain_verifier_destroy(auditchain_verifier **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->ckpts);
    free(*self_p);
    *self_p = NULL;
}

__attribute__((format(printf, 3, 4))) static void s_fail(auditchain_verifier *v, uint64_t seq,
                                                         const char *fmt, ...)
{
    if (v->failed)
        return;
    v->failed = true;
    v->res.ok = false;
    v->res.first_bad_seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->res.reason, sizeof v->res.reason, fmt, ap);
    va_end(ap);
}

void auditchain_verifier_checkpoint(auditchain_verifier *v, uint64_t key_seq, const uint8_t *val,
                                    size_t len)
{
    if (!v || v->failed)
        return;
    auditchain_checkpoint c;
    int rc = auditchain_checkpoint_decode(val, len, &c, NULL);
    if (rc != ASYLINK_OK) {
        s_fail(v, key_seq, "checkpoint at entry %llu does not decode (%s)",
               (unsigned long long)key_seq, asylink_err_name(rc));
        return;
    }
    if (c.seq != key_seq) {
        s_fail(v, key_seq, "checkpoint stored at entry %llu names entry %llu",
               (unsigned long long)key_seq, (unsigned long long)c.seq);
        return;
    }
    const uint8_t *pk = v->key ? v->key(v->ctx, c.broker_node_id, c.cert_serial) : NULL;
    if (!pk) {
        s_fail(v, key_seq,
               "checkpoint at entry %llu: no certificate of %s with serial %llu to check its "
               "signature",
               (unsigned long long)key_seq, c.broker_node_id, (unsigned long long)c.cert_serial);
        return;
    }
    rc = auditchain_checkpoint_verify(val, len, pk, &c);
    if (rc != ASYLINK_OK) {
        s_fail(v, key_seq, "checkpoint at entry %llu: signature does not verify (%s)",
               (unsigned long long)key_seq, asylink_err_name(rc));
        return;
    }
    if (v->n_ckpts == v->cap_ckpts) {
        size_t cap = v->cap_ckpts ? 2 * v->cap_ckpts : 64;
        s_ckpt *n = realloc(v->ckpts, cap * sizeof *n);
        if (!n) {
            s_fail(v, key_seq, "out of memory");
            return;
        }
        v->ckpts = n;
        v->cap_ckpts = cap;
    }
    v->ckpts[v->n_ckpts].seq = c.seq;
    memcpy(v->ckpts[v->n_ckpts].hash, c.entry_hash, AUDITCHAIN_HASH_LEN);
    v->n_ckpts++;
    v->sorted = false;
    v->res.checkpoints++;
}

static int s_cmp_ckpt(const void *a, const void *b)
{
    uint64_t x = ((const s_ckpt *)a)->seq, y = ((const s_ckpt *)b)->seq;
    return x < y ? -1 : x > y;
}

static void s_sort(auditchain_verifier *v)
{
    if (v->sorted)
        return;
    if (v->n_ckpts)
        qsort(v->ckpts, v->n_ckpts, sizeof *v->ckpts, s_cmp_ckpt);
    v->sorted = true;
    v->next_ckpt = 0;
    while (v->next_ckpt < v->n_ckpts && v->ckpts[v->next_ckpt].seq < v->expect)
        v->next_ckpt++;
}

/* The valid checkpoint at seq, or NULL. */
static const s_ckpt *s_ckpt_at(const auditchain_verifier *v, uint64_t seq)
{
    if (!v->n_ckpts)
        return NULL;
    s_ckpt key = {.seq = seq};
    return bsearch(&key, v->ckpts, v->n_ckpts, sizeof *v->ckpts, s_cmp_ckpt);
}

void auditchain_verifier_log_first(auditchain_verifier *v, uint64_t first_seq)
{
    if (v)
        v->log_first = first_seq;
}

void auditchain_verifier_last_pruned(auditchain_verifier *v, uint64_t seq)
{
    if (v) {
        v->last_pruned = seq;
        v->last_pruned_set = true;
    }
}

void auditchain_verifier_start_at(auditchain_verifier *v, uint64_t from_seq,
                                  const uint8_t prev[AUDITCHAIN_HASH_LEN])
{
    if (!v || v->started)
        return;
    v->started = true;
    v->expect = from_seq ? from_seq : 1;
    memcpy(v->prev, prev, AUDITCHAIN_HASH_LEN);
    memcpy(v->res.prev_hash, prev, AUDITCHAIN_HASH_LEN);
    v->sorted = false;
}

/* The first entry decides where the log starts: genesis or a checkpoint anchor. */
static bool s_start(auditchain_verifier *v, uint64_t first)
{
    v->started = true;
    v->whole = true;
    s_sort(v);
    v->expect = first;
    if (first == 1) {
        memset(v->prev, 0, sizeof v->prev);
        return true;
    }
    const s_ckpt *a = s_ckpt_at(v, first - 1);
    if (a && v->n_ckpts && v->ckpts[0].seq < a->seq) {
        /* pruning removes the checkpoints before its anchor: an older one means the log
           was cut after it */
        s_fail(v, v->ckpts[0].seq + 1,
               "entry %llu is missing: a signed checkpoint covers entry %llu but the log starts at "
               "%llu",
               (unsigned long long)(v->ckpts[0].seq + 1), (unsigned long long)v->ckpts[0].seq,
               (unsigned long long)first);
        return false;
    }
    if (!a) {
        uint64_t before = 0; /* the last anchor before the gap, if any */
        for (size_t i = 0; i < v->n_ckpts && v->ckpts[i].seq < first; i++)
            before = v->ckpts[i].seq;
        s_fail(v, before + 1,
               "entry %llu is missing: the log starts at entry %llu and no signed checkpoint "
               "covers entry %llu",
               (unsigned long long)(before + 1), (unsigned long long)first,
               (unsigned long long)(first - 1));
        return false;
    }
    memcpy(v->prev, a->hash, AUDITCHAIN_HASH_LEN);
    memcpy(v->res.prev_hash, a->hash, AUDITCHAIN_HASH_LEN);
    v->res.anchor_seq = a->seq;
    return true;
}

/* Checks the record bytes of entry seq; false (and a failure) if they are not a record of seq. */
static bool s_record_ok(auditchain_verifier *v, uint64_t seq, const uint8_t *rec, size_t len)
{
    auditchain_decoded *d = NULL;
    int rc = auditchain_record_decode(rec, len, &d);
    if (rc != ASYLINK_OK) {
        s_fail(v, seq, "entry %llu: the record does not decode (%s): altered",
               (unsigned long long)seq, asylink_err_name(rc));
        return false;
    }
    const auditchain_record *r = auditchain_decoded_record(d);
    uint64_t rseq = r->seq;
    if (r->kind == AUDIT_PRUNED) {
        v->pruned_anchor = r->anchor_seq;
        v->pruned_at = rseq;
    }
    auditchain_decoded_destroy(&d);
    if (rseq != seq) {
        s_fail(v, seq, "entry %llu: the record says it is entry %llu", (unsigned long long)seq,
               (unsigned long long)rseq);
        return false;
    }
    return true;
}

bool auditchain_verifier_entry(auditchain_verifier *v, uint64_t key_seq, const uint8_t *val,
                               size_t len)
{
    if (!v || v->failed)
        return false;
    if (!v->started && !s_start(v, key_seq))
        return false;
    s_sort(v);
    if (key_seq != v->expect) {
        s_fail(v, v->expect,
               key_seq > v->expect ? "entry %llu is missing (the next stored entry is %llu)"
                                   : "entry %llu: out of order (found %llu)",
               (unsigned long long)v->expect, (unsigned long long)key_seq);
        return false;
    }
    if (!val || len <= AUDITCHAIN_HASH_LEN) {
        s_fail(v, key_seq, "entry %llu: stored value too short", (unsigned long long)key_seq);
        return false;
    }
    const uint8_t *rec = val + AUDITCHAIN_HASH_LEN;
    size_t rlen = len - AUDITCHAIN_HASH_LEN;
    if (!s_record_ok(v, key_seq, rec, rlen))
        return false;
    uint8_t h[AUDITCHAIN_HASH_LEN];
    auditchain_hash(v->prev, rec, rlen, h);
    if (sodium_memcmp(h, val, AUDITCHAIN_HASH_LEN) != 0) {
        s_fail(v, key_seq,
               "entry %llu: its hash does not match its record and the previous entry "
               "(the record, its hash or an earlier entry was altered)",
               (unsigned long long)key_seq);
        return false;
    }
    while (v->next_ckpt < v->n_ckpts && v->ckpts[v->next_ckpt].seq < key_seq)
        v->next_ckpt++;
    if (v->next_ckpt < v->n_ckpts && v->ckpts[v->next_ckpt].seq == key_seq &&
        sodium_memcmp(v->ckpts[v->next_ckpt].hash, h, AUDITCHAIN_HASH_LEN) != 0) {
        s_fail(v, key_seq, "entry %llu: differs from what the signed checkpoint at it states",
               (unsigned long long)key_seq);
        return false;
    }
    if (v->res.entries == 0)
        v->res.first_seq = key_seq;
    v->res.entries++;
    v->res.last_seq = key_seq;
    memcpy(v->prev, h, AUDITCHAIN_HASH_LEN);
    memcpy(v->res.head_hash, h, AUDITCHAIN_HASH_LEN);
    v->expect = key_seq + 1;
    return true;
}

/*
 * The checks of auditchain_verifier_last_pruned() for a log starting at
 * first (> 1): the page holding the named record checks it, the last page
 * that one is named at all and lies within the log.
 */
static void s_check_last_pruned(auditchain_verifier *v, bool complete, uint64_t first)
{
    uint64_t at = v->last_pruned;
    bool walked = v->res.entries && v->res.first_seq <= at && at <= v->res.last_seq;
    if (!at && complete)
        s_fail(v, 1,
               "entries 1..%llu are missing: the log starts at %llu, but the store records no "
               "pruning",
               (unsigned long long)(first - 1), (unsigned long long)first);
    else if (walked && v->pruned_at != at)
        s_fail(v, at, "entry %llu: the store names it the log's last PRUNED record, but it is not",
               (unsigned long long)at);
    else if (walked && first > v->pruned_anchor + 1)
        s_fail(v, v->pruned_anchor + 1,
               "entry %llu is missing: the last pruning (entry %llu) kept the log from entry "
               "%llu, but it starts at %llu",
               (unsigned long long)(v->pruned_anchor + 1), (unsigned long long)at,
               (unsigned long long)(v->pruned_anchor + 1), (unsigned long long)first);
    else if (complete && at && v->res.entries && at > v->res.last_seq)
        s_fail(v, at,
               "entry %llu is missing: the store names it the log's last PRUNED record, but the "
               "log ends at %llu",
               (unsigned long long)at, (unsigned long long)v->res.last_seq);
}

void auditchain_verifier_finish(auditchain_verifier *v, bool complete, auditchain_result *out)
{
    if (!v || !out)
        return;
    s_sort(v);
    if (!v->failed && complete && v->n_ckpts) {
        uint64_t last_ck = v->ckpts[v->n_ckpts - 1].seq;
        uint64_t last = v->res.entries ? v->res.last_seq : (v->started ? v->expect - 1 : 0);
        if (last_ck > last)
            s_fail(v, last + 1,
                   "entry %llu is missing: a signed checkpoint covers entry %llu but the log "
                   "ends at %llu",
                   (unsigned long long)(last + 1), (unsigned long long)last_ck,
                   (unsigned long long)last);
    }
    /* where the log starts, not where this walk did (a page starts later) */
    uint64_t first = v->log_first ? v->log_first : v->res.first_seq;
    if (!v->failed && complete && v->pruned_anchor && v->res.entries &&
        first > v->pruned_anchor + 1)
        s_fail(v, v->pruned_anchor + 1,
               "entry %llu is missing: the last pruning (entry %llu) kept the log from entry "
               "%llu, but it starts at %llu",
               (unsigned long long)(v->pruned_anchor + 1), (unsigned long long)v->pruned_at,
               (unsigned long long)(v->pruned_anchor + 1), (unsigned long long)first);
    /* a page of a log that starts after entry 1: the store names its last PRUNED record */
    if (!v->failed && v->last_pruned_set && first > 1)
        s_check_last_pruned(v, complete, first);
    /* a pruning leaves its PRUNED record after the anchor (13.5): a log that starts
       after a checkpoint without one was cut, not pruned */
    if (!v->failed && complete && v->whole && v->res.anchor_seq && !v->pruned_anchor)
        s_fail(v, 1,
               "entries 1..%llu are missing: the log starts after the signed checkpoint of "
               "entry %llu, but no PRUNED record says they were pruned",
               (unsigned long long)v->res.anchor_seq, (unsigned long long)v->res.anchor_seq);
    if (!v->failed)
        v->res.ok = true;
    *out = v->res;
}
