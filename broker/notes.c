/*
 * notes.c — the router's audit notes: events that change nothing in the
 * store (rejections before the store, sessions, Hello refusals,
 * deliveries, feed acks, reloads, start and stop). Each becomes an
 * AuditRecord written at the start of the next write transaction
 * (audit.h); free text from the network is cleaned first. Without an
 * audit trail every function does nothing.
 */
#include "router_internal.h"

#include "asylink/errors.h"

#include <stdio.h>
#include <string.h>

/* The record every note starts from: kind, now, the broker as actor. */
static auditchain_record s_base(const router *r, int kind)
{
    auditchain_record x;
    memset(&x, 0, sizeof x);
    x.kind = kind;
    x.time_ms = r->now_ms;
    x.actor = r->opt.node_id;
    x.actor_cert_serial = r->opt.cert_serial;
    return x;
}

void notes_rejected(router *r, const char *node, uint64_t serial, const uint8_t id[16], int code,
                    const char *reason)
{
    if (!r->audit)
        return;
    char detail[AUDITCHAIN_DETAIL_MAX + 1];
    auditchain_clean_text(reason, detail, sizeof detail);
    auditchain_record x = s_base(r, AUDIT_REJECTED);
    x.actor = node && node[0] ? node : r->opt.node_id;
    x.actor_cert_serial = node && node[0] ? serial : r->opt.cert_serial;
    x.message_id = id;
    x.code = code;
    x.detail = detail;
    audit_note(r->audit, &x);
}

void notes_session(router *r, int kind, const session *s, const char *why)
{
    if (!r->audit)
        return;
    char detail[AUDITCHAIN_DETAIL_MAX + 1], raw[AUDITCHAIN_DETAIL_MAX + 1];
    if (kind == AUDIT_CONNECTED)
        snprintf(raw, sizeof raw, "client=%s/%s", s->client_name, s->client_version);
    else
        snprintf(raw, sizeof raw, "%s; in_flight=%zu", why ? why : "", s->n_inflight);
    auditchain_clean_text(raw, detail, sizeof detail);
    auditchain_record x = s_base(r, kind);
    x.actor = s->node_id;
    x.actor_cert_serial = s->cert_serial;
    x.detail = detail;
    audit_note(r->audit, &x);
}

void notes_auth_failed(router *r, const char *node, int code, const char *why)
{
    if (!r->audit)
        return;
    char actor[AUDITCHAIN_NAME_MAX + 1], detail[AUDITCHAIN_DETAIL_MAX + 1];
    auditchain_clean_text(node, actor, sizeof actor);
    auditchain_clean_text(why, detail, sizeof detail);
    auditchain_record x = s_base(r, AUDIT_AUTH_FAILED);
    x.actor = actor[0] ? actor : NULL;
    x.actor_cert_serial = 0;
    x.code = code;
    x.detail = detail;
    audit_note(r->audit, &x);
}

/* The slot of (c, code, admin): its own, a free one, or the one noted longest ago. */
static notes_refused *s_refused_slot(router *r, const cert *c, int code, bool admin, bool *known)
{
    notes_refused *pick = &r->refused[0];
    *known = false;
    for (size_t i = 0; i < NOTES_REFUSED_SLOTS; i++) {
        notes_refused *x = &r->refused[i];
        if (x->node[0] && x->serial == c->serial && x->code == code && x->admin == admin &&
            strcmp(x->node, c->node_id) == 0) {
            *known = true;
            return x;
        }
        if (pick->node[0] && (!x->node[0] || x->last_ms < pick->last_ms))
            pick = x;
    }
    return pick;
}

void notes_admission_refused(void *ctx, const cert *c, int code, bool admin)
{
    router *r = ctx;
    if (!r->audit || !c)
        return;
    bool known = false;
    notes_refused *x = s_refused_slot(r, c, code, admin, &known);
    if (known && r->now_ms < x->last_ms + NOTES_REFUSED_EVERY_MS) {
        x->held++;
        return;
    }
    char raw[AUDITCHAIN_DETAIL_MAX + 1], detail[AUDITCHAIN_DETAIL_MAX + 1];
    int n = snprintf(raw, sizeof raw, "connection refused at admission (%s endpoint): %s",
                     admin ? "admin" : "client", asylink_strerror(code));
    if (known && x->held && n > 0 && (size_t)n < sizeof raw)
        snprintf(raw + n, sizeof raw - (size_t)n, "; %llu more refused since the last record",
                 (unsigned long long)x->held);
    auditchain_clean_text(raw, detail, sizeof detail);
    auditchain_record rec = s_base(r, AUDIT_AUTH_FAILED);
    rec.actor = c->node_id;
    rec.actor_cert_serial = c->serial;
    rec.code = code;
    rec.detail = detail;
    audit_note(r->audit, &rec);
    snprintf(x->node, sizeof x->node, "%s", c->node_id);
    x->serial = c->serial;
    x->code = code;
    x->admin = admin;
    x->last_ms = r->now_ms;
    x->held = 0;
}

void notes_delivered(router *r, const session *s, uint64_t seq, uint32_t attempt,
                     const uint8_t id[16], const char *sender, uint64_t size,
                     const char *subscription, const char *topic)
{
    if (!r->audit)
        return;
    const char *one[1] = {s->node_id};
    auditchain_record x = s_base(r, AUDIT_DELIVERED);
    x.actor = s->node_id; /* the session that received it */
    x.actor_cert_serial = s->cert_serial;
    x.message_id = id;
    x.sender = sender && sender[0] ? sender : NULL;
    x.recipients = one;
    x.n_recipients = 1;
    x.envelope_size = size;
    x.store_seq = seq;
    x.attempt = attempt;
    x.subscription = subscription;
    x.topic = topic;
    audit_note(r->audit, &x);
}

void notes_feed_ack(router *r, const session *s, int kind, const char *subscription, uint64_t seq,
                    int code, const char *reason)
{
    if (!r->audit)
        return;
    uint8_t digest[AUDITCHAIN_HASH_LEN];
    const char *one[1] = {s->node_id};
    auditchain_record x = s_base(r, kind);
    x.actor = s->node_id;
    x.actor_cert_serial = s->cert_serial;
    x.recipients = one;
    x.n_recipients = 1;
    x.store_seq = seq;
    x.subscription = subscription;
    x.code = kind == AUDIT_NACKED ? code : 0;
    /* the recipient's reason as its size and digest only: a feed has no dead letters, so the
       broker keeps no text of it at all */
    audit_record_node_reason(&x, kind == AUDIT_NACKED ? reason : NULL, digest);
    audit_note(r->audit, &x);
}

/* A broker event of kind with a code (0 = none) and a free text detail. */
static void s_note_text(router *r, int kind, int code, const char *detail)
{
    if (!r->audit)
        return;
    char d[AUDITCHAIN_DETAIL_MAX + 1];
    auditchain_clean_text(detail, d, sizeof d);
    auditchain_record x = s_base(r, kind);
    x.code = code;
    x.detail = d;
    audit_note(r->audit, &x);
}

void notes_reload(router *r, int code, const char *detail)
{
    s_note_text(r, AUDIT_RELOADED, code, detail);
}

void notes_lifecycle(router *r, int kind, const char *detail)
{
    s_note_text(r, kind, 0, detail);
}
