/*
 * wire.c — asylink.v1.Command <-> wire_cmd (wire.h).
 *
 * The only file that touches the generated broker protobuf-c types. Decoding
 * unpacks with protobuf-c, insists on the canonical encoding (codec.h), then
 * copies each field into wire_cmd's fixed buffers through one checking
 * helper per field shape (text, reason, node id, subscription name, topic,
 * 16-byte id), so every rule is written once. Encoding points the protobuf-c
 * structs at the caller's buffers and packs; it copies nothing but pointer
 * arrays for repeated strings and bytes.
 *
 * Threading: no state; every function is reentrant.
 */
#include "wire.h"

#include "asylink/errors.h"
#include "asylink/v1/broker.pb-c.h"
#include "codec.h"
#include "envelope.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static size_t s_put_varint(uint8_t *p, uint64_t v);

#define WIRE_ID_LEN 16

/* ------------------------------------------------------------------------ */
/* Field checks and copies (decode)                                          */
/* ------------------------------------------------------------------------ */

/* True if s contains a C0 control, DEL or (already valid UTF-8) a C1 control. */
static bool s_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return true;
        /* U+0080..U+009F are 0xc2 0x80..0x9f; 0xc2 is never a continuation byte */
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            return true;
    }
    return false;
}

/* Human text: valid UTF-8 without control characters. */
static bool s_text_valid(const char *s)
{
    return codec_utf8_valid(s) && !s_has_control(s);
}

/* Copies text into dst (cap bytes with the NUL). BAD_FIELD if too long or not text. */
static int s_copy_text(char *dst, size_t cap, const char *src)
{
    src = src ? src : "";
    size_t n = strlen(src);
    if (n >= cap || !s_text_valid(src))
        return ASYLINK_E_BAD_FIELD;
    memcpy(dst, src, n + 1);
    return ASYLINK_OK;
}

/* Copies a reason, cut to WIRE_REASON_MAX bytes on a UTF-8 character boundary. */
static int s_copy_reason(char dst[WIRE_REASON_MAX + 1], const char *src)
{
    src = src ? src : "";
    if (!s_text_valid(src))
        return ASYLINK_E_BAD_FIELD;
    size_t n = strlen(src);
    if (n > WIRE_REASON_MAX) {
        n = WIRE_REASON_MAX;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--; /* src[n] continues a character: cut before that character */
    }
    memcpy(dst, src, n);
    dst[n] = 0;
    return ASYLINK_OK;
}

/* Copies a node id; empty allowed unless required. BAD_NODE_ID otherwise. */
static int s_copy_node_id(char dst[NODE_ID_MAX + 1], const char *src, bool required)
{
    src = src ? src : "";
    if (!*src && !required) {
        dst[0] = 0;
        return ASYLINK_OK;
    }
    if (!node_id_valid(src))
        return ASYLINK_E_BAD_NODE_ID;
    memcpy(dst, src, strlen(src) + 1);
    return ASYLINK_OK;
}

/* True if s matches ^[A-Za-z0-9._-]{1,64}$. */
static bool s_subscription_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > WIRE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Copies a subscription name (empty allowed). BAD_FIELD if invalid. */
static int s_copy_subscription(char dst[WIRE_NAME_MAX + 1], const char *src)
{
    src = src ? src : "";
    if (*src && !s_subscription_valid(src))
        return ASYLINK_E_BAD_FIELD;
    memcpy(dst, src, strlen(src) + 1);
    return ASYLINK_OK;
}

/* Copies a topic or topic prefix (empty allowed) into a 256-byte buffer. */
static int s_copy_topic(char dst[256], const char *src)
{
    src = src ? src : "";
    if (*src && !topic_valid(src)) /* topic_valid bounds it to 255 bytes */
        return ASYLINK_E_BAD_FIELD;
    memcpy(dst, src, strlen(src) + 1);
    return ASYLINK_OK;
}

/* Copies a 16-byte id. BAD_FIELD on any other length. */
static int s_copy_id16(uint8_t dst[WIRE_ID_LEN], ProtobufCBinaryData b)
{
    if (b.len != WIRE_ID_LEN)
        return ASYLINK_E_BAD_FIELD;
    memcpy(dst, b.data, WIRE_ID_LEN);
    return ASYLINK_OK;
}

/* Converts repeated Role to a CERT_ROLE_BIT mask; unknown or repeated roles are BAD_FIELD. */
static int s_roles_from_pb(const Asylink__V1__Role *roles, size_t n, uint32_t *mask)
{
    *mask = 0;
    for (size_t i = 0; i < n; i++) {
        int r = (int)roles[i];
        if (r < 1 || r > CERT_ROLE_MAX || (*mask & CERT_ROLE_BIT(r)))
            return ASYLINK_E_BAD_FIELD;
        *mask |= CERT_ROLE_BIT(r);
    }
    return ASYLINK_OK;
}

/* Copies a repeated node id list (each non-empty and valid) into a new array. */
static int s_copy_node_ids(char (**dst)[NODE_ID_MAX + 1], size_t *n_dst, char *const *src, size_t n)
{
    if (n > WIRE_MAX_DIRECTORY)
        return ASYLINK_E_BAD_FIELD;
    if (n == 0)
        return ASYLINK_OK;
    *dst = calloc(n, sizeof **dst);
    if (!*dst)
        return ASYLINK_E_NOMEM;
    *n_dst = n;
    for (size_t i = 0; i < n; i++) {
        int rc = s_copy_node_id((*dst)[i], src[i], true);
        if (rc != ASYLINK_OK)
            return rc;
    }
    return ASYLINK_OK;
}

/* Copies n bytes into a new buffer at *dst (nothing for n == 0). */
static int s_copy_bytes(uint8_t **dst, size_t *n_dst, ProtobufCBinaryData b)
{
    if (b.len == 0)
        return ASYLINK_OK;
    *dst = malloc(b.len);
    if (!*dst)
        return ASYLINK_E_NOMEM;
    memcpy(*dst, b.data, b.len);
    *n_dst = b.len;
    return ASYLINK_OK;
}

/* ------------------------------------------------------------------------ */
/* Pre-scan: bound what protobuf-c allocates before it allocates it          */
/* ------------------------------------------------------------------------ */

/*
 * One hostile 64 MiB frame would cost the broker 0.6 to 1 GiB in protobuf-c
 * before the canonical check could refuse it: codec_prescan() (codec.h)
 * runs first and refuses, with the code the later checks would give, what
 * protobuf-c would otherwise expand. Besides its own rules, a Command may
 * not carry an AdminResponse body (MALFORMED) and a repeated field longer
 * than its limit is BAD_FIELD.
 */

#define S_SCAN_DEPTH 3 /* Command -> body -> Limits */

/* Most elements of a repeated field; 0 for any this codec does not expect. */
static size_t s_repeated_max(const ProtobufCMessageDescriptor *d, unsigned id)
{
    if (d == &asylink__v1__welcome__descriptor && id == 6)
        return CERT_ROLE_MAX; /* roles: each at most once */
    if ((d == &asylink__v1__ack__descriptor || d == &asylink__v1__nack__descriptor) && id == 1)
        return WIRE_MAX_SEQUENCES;
    if ((d == &asylink__v1__directory_request__descriptor && id == 1) ||
        (d == &asylink__v1__directory__descriptor && (id == 1 || id == 2)))
        return WIRE_MAX_DIRECTORY;
    if ((d == &asylink__v1__admin_dead_letter_replay_request__descriptor ||
         d == &asylink__v1__admin_dead_letter_drop_request__descriptor) &&
        id == 1)
        return WIRE_ADMIN_MAX_IDS;
    return 0;
}

/* A Command's body must be one this codec decodes: AdminResponse is not (admin.c frames it). */
static bool s_scan_allowed(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *fd)
{
    bool body = d == &asylink__v1__command__descriptor && fd->type == PROTOBUF_C_TYPE_MESSAGE;
    return !body || strcmp(wire_kind_name((wire_kind)fd->id), "unknown") != 0;
}

static const codec_scan_rules s_scan_rules = {.max_depth = S_SCAN_DEPTH,
                                              .too_many_code = ASYLINK_E_BAD_FIELD,
                                              .repeated_max = s_repeated_max,
                                              .allowed = s_scan_allowed};

/* ------------------------------------------------------------------------ */
/* Decoding, one function per body                                           */
/* ------------------------------------------------------------------------ */

static int s_dec_hello(const Asylink__V1__Hello *m, wire_hello *h)
{
    int rc = s_copy_node_id(h->node_id, m->node_id, true);
    if (rc == ASYLINK_OK)
        rc = s_copy_text(h->client_name, sizeof h->client_name, m->client_name);
    if (rc == ASYLINK_OK)
        rc = s_copy_text(h->client_version, sizeof h->client_version, m->client_version);
    h->protocol_version = m->protocol_version;
    h->heartbeat_interval_ms = m->heartbeat_interval_ms;
    h->initial_credit_messages = m->initial_credit_messages;
    h->initial_credit_bytes = m->initial_credit_bytes;
    h->client_time_ms = m->client_time_ms;
    return rc;
}

static void s_dec_limits(const Asylink__V1__Limits *m, wire_limits *l)
{
    if (!m)
        return;
    l->max_envelope_bytes = m->max_envelope_bytes;
    l->max_in_flight = m->max_in_flight;
    l->heartbeat_interval_ms = m->heartbeat_interval_ms;
    l->heartbeat_timeout_ms = m->heartbeat_timeout_ms;
    l->clock_skew_tolerance_ms = m->clock_skew_tolerance_ms;
    l->max_recipients = m->max_recipients;
    l->max_ack_batch = m->max_ack_batch;
    l->max_deliveries = m->max_deliveries;
}

static int s_dec_welcome(const Asylink__V1__Welcome *m, wire_welcome *w)
{
    int rc = s_copy_node_id(w->broker_node_id, m->broker_node_id, false);
    if (rc == ASYLINK_OK)
        rc = s_copy_id16(w->session_id, m->session_id);
    if (rc == ASYLINK_OK)
        rc = s_roles_from_pb(m->roles, m->n_roles, &w->roles);
    if (rc == ASYLINK_OK)
        rc = s_copy_text(w->broker_version, sizeof w->broker_version, m->broker_version);
    w->protocol_version = m->protocol_version;
    s_dec_limits(m->limits, &w->limits);
    w->server_time_ms = m->server_time_ms;
    w->client_cert_serial = m->client_cert_serial;
    return rc;
}

static int s_dec_accepted(const Asylink__V1__Accepted *m, wire_accepted *a)
{
    a->duplicate = m->duplicate;
    a->store_sequence = m->store_sequence;
    a->accepted_ms = m->accepted_ms;
    return s_copy_id16(a->message_id, m->message_id);
}

static int s_dec_rejected(const Asylink__V1__Rejected *m, wire_rejected *r)
{
    r->code = (int)m->code;
    r->retryable = m->retryable;
    r->has_message_id = m->message_id.len != 0;
    int rc = r->has_message_id ? s_copy_id16(r->message_id, m->message_id) : ASYLINK_OK;
    return rc == ASYLINK_OK ? s_copy_reason(r->reason, m->reason) : rc;
}

static int s_dec_deliver(const Asylink__V1__Deliver *m, wire_deliver *d)
{
    d->sequence = m->sequence;
    d->attempt = m->attempt;
    d->accepted_ms = m->accepted_ms;
    int rc = s_copy_subscription(d->subscription, m->subscription);
    return rc == ASYLINK_OK ? s_copy_topic(d->topic, m->topic) : rc;
}

/* The sequences and subscription shared by Ack and Nack. */
static int s_dec_sequences(const uint64_t *seqs, size_t n, const char *subscription, wire_acks *a)
{
    if (n == 0 || n > WIRE_MAX_SEQUENCES)
        return ASYLINK_E_BAD_FIELD;
    a->sequences = malloc(n * sizeof *a->sequences);
    if (!a->sequences)
        return ASYLINK_E_NOMEM;
    memcpy(a->sequences, seqs, n * sizeof *a->sequences);
    a->n_sequences = n;
    return s_copy_subscription(a->subscription, subscription);
}

static int s_dec_ack(const Asylink__V1__Ack *m, wire_acks *a)
{
    return s_dec_sequences(m->sequences, m->n_sequences, m->subscription, a);
}

static int s_dec_nack(const Asylink__V1__Nack *m, wire_acks *a)
{
    a->disposition = (int)m->disposition;
    a->code = (int)m->code;
    a->retry_after_ms = m->retry_after_ms;
    int rc = s_dec_sequences(m->sequences, m->n_sequences, m->subscription, a);
    return rc == ASYLINK_OK ? s_copy_reason(a->reason, m->reason) : rc;
}

static int s_dec_subscribe(const Asylink__V1__Subscribe *m, wire_subscribe *s)
{
    s->start = (int)m->start;
    s->start_value = m->start_value;
    s->reset = m->reset;
    int rc = s_copy_topic(s->topic_prefix, m->topic_prefix);
    return rc == ASYLINK_OK ? s_copy_subscription(s->subscription, m->subscription) : rc;
}

static int s_dec_subscribed(const Asylink__V1__Subscribed *m, wire_subscribed *s)
{
    s->created = m->created;
    s->next_sequence = m->next_sequence;
    s->head_sequence = m->head_sequence;
    int rc = s_copy_subscription(s->subscription, m->subscription);
    return rc == ASYLINK_OK ? s_copy_topic(s->topic_prefix, m->topic_prefix) : rc;
}

static int s_dec_directory_request(const Asylink__V1__DirectoryRequest *m,
                                   wire_directory_request *d)
{
    int rc = s_copy_node_ids(&d->node_ids, &d->n_node_ids, m->node_ids, m->n_node_ids);
    return rc == ASYLINK_OK ? s_copy_topic(d->topic, m->topic) : rc;
}

/* Copies the certificates of a Directory: 1..CERT_FILE_MAX bytes each. */
static int s_dec_certificates(const Asylink__V1__Directory *m, wire_directory *d)
{
    size_t n = m->n_certificates;
    if (n > WIRE_MAX_DIRECTORY)
        return ASYLINK_E_BAD_FIELD;
    if (n == 0)
        return ASYLINK_OK;
    d->certificates = calloc(n, sizeof *d->certificates);
    d->certificate_lens = calloc(n, sizeof *d->certificate_lens);
    if (!d->certificates || !d->certificate_lens)
        return ASYLINK_E_NOMEM;
    d->n_certificates = n; /* wire_cmd_clear frees the (NULL until copied) entries */
    for (size_t i = 0; i < n; i++) {
        if (m->certificates[i].len == 0 || m->certificates[i].len > CERT_FILE_MAX)
            return ASYLINK_E_BAD_FIELD;
        int rc = s_copy_bytes(&d->certificates[i], &d->certificate_lens[i], m->certificates[i]);
        if (rc != ASYLINK_OK)
            return rc;
    }
    return ASYLINK_OK;
}

static int s_dec_directory(const Asylink__V1__Directory *m, wire_directory *d)
{
    if (m->revocation_list.len > CRL_FILE_MAX)
        return ASYLINK_E_BAD_FIELD;
    int rc = s_dec_certificates(m, d);
    if (rc == ASYLINK_OK)
        rc = s_copy_node_ids(&d->unknown_node_ids, &d->n_unknown, m->unknown_node_ids,
                             m->n_unknown_node_ids);
    if (rc == ASYLINK_OK)
        rc = s_copy_bytes(&d->revocation_list, &d->revocation_list_len, m->revocation_list);
    return rc == ASYLINK_OK ? s_copy_topic(d->topic, m->topic) : rc;
}

static int s_dec_error(const Asylink__V1__Error *m, wire_error *e)
{
    e->code = (int)m->code;
    e->fatal = m->fatal;
    return s_copy_reason(e->reason, m->reason);
}

static int s_dec_bye(const Asylink__V1__Bye *m, wire_error *e)
{
    e->code = (int)m->code;
    e->reconnect_after_ms = m->reconnect_after_ms;
    return s_copy_reason(e->reason, m->reason);
}

/* The ids and node of a dead letter replay or drop; `all` names a node and no ids. */
static int s_dec_dl_ids(const uint64_t *ids, size_t n, const char *node_id, bool all,
                        wire_admin_request *a)
{
    a->flag = all;
    int rc = s_copy_node_id(a->node_id, node_id, all);
    if (rc != ASYLINK_OK)
        return rc;
    if (n > WIRE_ADMIN_MAX_IDS || (all && n) || (!all && !n))
        return ASYLINK_E_BAD_FIELD;
    if (n == 0)
        return ASYLINK_OK;
    a->ids = malloc(n * sizeof *a->ids);
    if (!a->ids)
        return ASYLINK_E_NOMEM;
    memcpy(a->ids, ids, n * sizeof *a->ids);
    a->n_ids = n;
    return ASYLINK_OK;
}

/* A purge request: sender and message id required, reason and reference short text. */
static int s_dec_purge(const Asylink__V1__AdminPurgeRequest *m, wire_admin_request *a)
{
    int rc = s_copy_node_id(a->node_id, m->sender, true);
    if (rc == ASYLINK_OK)
        rc = s_copy_id16(a->message_id, m->message_id);
    if (rc == ASYLINK_OK)
        rc = s_copy_text(a->reason, sizeof a->reason, m->reason);
    return rc == ASYLINK_OK ? s_copy_text(a->reference, sizeof a->reference, m->reference) : rc;
}

static int s_dec_admin(const Asylink__V1__AdminRequest *m, wire_admin_request *a)
{
    a->op = (wire_admin_op)m->request_case;
    switch (m->request_case) {
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_STATS: return ASYLINK_OK;
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_NODES:
        a->flag = m->nodes->connected_only;
        return ASYLINK_OK;
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_QUEUES:
        a->flag = m->queues->non_empty_only;
        return s_copy_node_id(a->node_id, m->queues->node_id, false);
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_TOPICS:
        return s_copy_topic(a->topic, m->topics->prefix);
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_DEAD_LETTERS:
        a->limit = m->dead_letters->limit;
        a->offset = m->dead_letters->offset;
        return s_copy_node_id(a->node_id, m->dead_letters->node_id, false);
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_DEAD_LETTER_REPLAY:
        return s_dec_dl_ids(m->dead_letter_replay->ids, m->dead_letter_replay->n_ids,
                            m->dead_letter_replay->node_id, m->dead_letter_replay->all, a);
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_DEAD_LETTER_DROP:
        return s_dec_dl_ids(m->dead_letter_drop->ids, m->dead_letter_drop->n_ids,
                            m->dead_letter_drop->node_id, m->dead_letter_drop->all, a);
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_AUDIT_TAIL:
        a->limit = m->audit_tail->count;
        a->seq_from = m->audit_tail->from_seq;
        return ASYLINK_OK;
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_AUDIT_VERIFY:
        a->seq_from = m->audit_verify->from_seq;
        a->seq_to = m->audit_verify->to_seq;
        return a->seq_to && a->seq_from > a->seq_to ? ASYLINK_E_BAD_FIELD : ASYLINK_OK;
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_PURGE: return s_dec_purge(m->purge, a);
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_RELOAD:
        a->trust = m->reload->trust;
        a->policy = m->reload->policy;
        return ASYLINK_OK;
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_CONFIRM:
        a->seq_from = m->confirm->pending_id;
        a->flag = m->confirm->cancel;
        return a->seq_from ? ASYLINK_OK : ASYLINK_E_BAD_FIELD;
    case ASYLINK__V1__ADMIN_REQUEST__REQUEST_PENDING: return ASYLINK_OK;
    default: /* no member set: well-formed protobuf, but a required field is missing */
        return ASYLINK_E_BAD_FIELD;
    }
}

/* Fills cmd's member for m's body; cmd->kind is already set. */
static int s_dec_body(const Asylink__V1__Command *m, wire_cmd *cmd)
{
    switch (m->body_case) {
    case ASYLINK__V1__COMMAND__BODY_HELLO: return s_dec_hello(m->hello, &cmd->u.hello);
    case ASYLINK__V1__COMMAND__BODY_WELCOME: return s_dec_welcome(m->welcome, &cmd->u.welcome);
    case ASYLINK__V1__COMMAND__BODY_PUBLISH:
        return s_copy_id16(cmd->u.publish.message_id, m->publish->message_id);
    case ASYLINK__V1__COMMAND__BODY_ACCEPTED: return s_dec_accepted(m->accepted, &cmd->u.accepted);
    case ASYLINK__V1__COMMAND__BODY_REJECTED: return s_dec_rejected(m->rejected, &cmd->u.rejected);
    case ASYLINK__V1__COMMAND__BODY_DELIVER: return s_dec_deliver(m->deliver, &cmd->u.deliver);
    case ASYLINK__V1__COMMAND__BODY_ACK: return s_dec_ack(m->ack, &cmd->u.ack);
    case ASYLINK__V1__COMMAND__BODY_NACK: return s_dec_nack(m->nack, &cmd->u.ack);
    case ASYLINK__V1__COMMAND__BODY_CREDIT:
        cmd->u.credit.window_messages = m->credit->window_messages;
        cmd->u.credit.window_bytes = m->credit->window_bytes;
        return ASYLINK_OK;
    case ASYLINK__V1__COMMAND__BODY_SUBSCRIBE:
        return s_dec_subscribe(m->subscribe, &cmd->u.subscribe);
    case ASYLINK__V1__COMMAND__BODY_UNSUBSCRIBE:
        cmd->u.unsubscribe.delete_cursor = m->unsubscribe->delete_cursor;
        return s_copy_subscription(cmd->u.unsubscribe.subscription, m->unsubscribe->subscription);
    case ASYLINK__V1__COMMAND__BODY_DIRECTORY_REQUEST:
        return s_dec_directory_request(m->directory_request, &cmd->u.directory_request);
    case ASYLINK__V1__COMMAND__BODY_DIRECTORY:
        return s_dec_directory(m->directory, &cmd->u.directory);
    case ASYLINK__V1__COMMAND__BODY_ERROR: return s_dec_error(m->error, &cmd->u.error);
    case ASYLINK__V1__COMMAND__BODY_BYE: return s_dec_bye(m->bye, &cmd->u.error);
    case ASYLINK__V1__COMMAND__BODY_HEARTBEAT:
        cmd->u.heartbeat.pong = m->heartbeat->pong;
        cmd->u.heartbeat.sent_ms = m->heartbeat->sent_ms;
        return ASYLINK_OK;
    case ASYLINK__V1__COMMAND__BODY_SUBSCRIBED:
        return s_dec_subscribed(m->subscribed, &cmd->u.subscribed);
    case ASYLINK__V1__COMMAND__BODY_UNSUBSCRIBED:
        cmd->u.unsubscribe.delete_cursor = m->unsubscribed->cursor_deleted;
        return s_copy_subscription(cmd->u.unsubscribe.subscription, m->unsubscribed->subscription);
    case ASYLINK__V1__COMMAND__BODY_ADMIN_REQUEST:
        return s_dec_admin(m->admin_request, &cmd->u.admin);
    default: /* not set, AdminResponse, a Packed (never with a request_id, and
                read by wire_unpack_begin, not here), or a future member */
        return ASYLINK_E_MALFORMED;
    }
}

static int s_decode(const uint8_t *buf, size_t len, wire_cmd *cmd, bool fast);

int wire_decode(const uint8_t *buf, size_t len, wire_cmd *cmd)
{
    return s_decode(buf, len, cmd, true);
}

int wire_decode_general(const uint8_t *buf, size_t len, wire_cmd *cmd)
{
    return s_decode(buf, len, cmd, false);
}

static int s_decode(const uint8_t *buf, size_t len, wire_cmd *cmd, bool fast)
{
    if (!cmd)
        return ASYLINK_E_INVALID_ARG;
    memset(cmd, 0, sizeof *cmd);
    if (len > WIRE_MAX_COMMAND)
        return ASYLINK_E_TOO_LARGE;
    if (!buf || len == 0) /* an empty Command has no body */
        return ASYLINK_E_MALFORMED;
    /* The command of every message published: Publish{message_id} without a request_id
     * has exactly this canonical form (22 12 0a 10 + 16 bytes); what the full path below
     * would give it, without protobuf-c. */
    if (fast && len == 20 && buf[0] == 0x22 && buf[1] == 0x12 && buf[2] == 0x0a && buf[3] == 0x10) {
        cmd->kind = WIRE_PUBLISH;
        memcpy(cmd->u.publish.message_id, buf + 4, 16);
        return ASYLINK_OK;
    }
    /* Accepted, Deliver and the other small commands in one pass on the stack
     * (codec_unpack_canonical); the rest, and anything it does not take, below. */
    _Alignas(max_align_t) uint8_t stack[1024]; /* the one pass's arena: full = general path */
    codec_arena arena = {.base = stack, .cap = sizeof stack};
    Asylink__V1__Command *one = NULL;
    if (fast)
        one = (Asylink__V1__Command *)codec_unpack_canonical(
            &asylink__v1__command__descriptor, buf, len, &s_scan_rules, codec_arena_alloc, &arena);
    if (one) {
        cmd->kind = (wire_kind)one->body_case;
        cmd->request_id = one->request_id;
        int frc = s_dec_body(one, cmd);
        if (frc != ASYLINK_OK)
            wire_cmd_clear(cmd);
        return frc;
    }
    int rc = codec_prescan(&asylink__v1__command__descriptor, buf, len, &s_scan_rules);
    if (rc != ASYLINK_OK)
        return rc;
    Asylink__V1__Command *m = asylink__v1__command__unpack(NULL, len, buf);
    if (!m)
        return ASYLINK_E_MALFORMED;
    rc = ASYLINK_E_MALFORMED;
    if (!codec_is_canonical(&m->base, buf, len))
        goto cleanup;
    /* kind first, so that wire_cmd_clear frees whatever s_dec_body allocated;
     * an AdminResponse or unset body fails in s_dec_body and the clear resets it */
    cmd->kind = (wire_kind)m->body_case;
    cmd->request_id = m->request_id;
    rc = s_dec_body(m, cmd);
cleanup:
    asylink__v1__command__free_unpacked(m, NULL);
    if (rc != ASYLINK_OK)
        wire_cmd_clear(cmd);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Encoding                                                                  */
/* ------------------------------------------------------------------------ */

/* Storage for one Command being packed; lives on wire_encode's stack. */
typedef struct s_pb {
    Asylink__V1__Command cmd;
    union {
        Asylink__V1__Hello hello;
        Asylink__V1__Welcome welcome;
        Asylink__V1__Publish publish;
        Asylink__V1__Accepted accepted;
        Asylink__V1__Rejected rejected;
        Asylink__V1__Deliver deliver;
        Asylink__V1__Ack ack;
        Asylink__V1__Nack nack;
        Asylink__V1__Credit credit;
        Asylink__V1__Subscribe subscribe;
        Asylink__V1__Subscribed subscribed;
        Asylink__V1__Unsubscribe unsubscribe;
        Asylink__V1__Unsubscribed unsubscribed;
        Asylink__V1__DirectoryRequest directory_request;
        Asylink__V1__Directory directory;
        Asylink__V1__Error error;
        Asylink__V1__Bye bye;
        Asylink__V1__Heartbeat heartbeat;
        Asylink__V1__AdminRequest admin;
    } b;
    union { /* the member of an AdminRequest */
        Asylink__V1__AdminStatsRequest stats;
        Asylink__V1__AdminNodesRequest nodes;
        Asylink__V1__AdminQueuesRequest queues;
        Asylink__V1__AdminTopicsRequest topics;
        Asylink__V1__AdminDeadLettersRequest dead_letters;
        Asylink__V1__AdminDeadLetterReplayRequest replay;
        Asylink__V1__AdminDeadLetterDropRequest drop;
        Asylink__V1__AdminAuditTailRequest audit_tail;
        Asylink__V1__AdminAuditVerifyRequest audit_verify;
        Asylink__V1__AdminPurgeRequest purge;
        Asylink__V1__AdminReloadRequest reload;
        Asylink__V1__AdminConfirmRequest confirm;
        Asylink__V1__AdminPendingRequest pending;
    } a;
    Asylink__V1__Limits limits;
    Asylink__V1__Role roles[CERT_ROLE_MAX];
    char **strs;               /* malloc'd pointer array for repeated strings */
    ProtobufCBinaryData *bins; /* malloc'd array for repeated bytes */
} s_pb;

/*
 * A string in a fixed buffer of cap bytes, for protobuf-c (which wants char *
 * but only reads). NULL when the buffer is not NUL-terminated: a caller bug
 * that would otherwise make protobuf-c read past the buffer.
 */
static char *s_str(const char *buf, size_t cap)
{
    return memchr(buf, 0, cap) ? (char *)buf : NULL;
}

#define S_STR(field) s_str((field), sizeof(field))

/* True if all of the n strings are set (every S_STR succeeded). */
static bool s_all_set(char *const *strs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strs[i])
            return false;
    return true;
}

static ProtobufCBinaryData s_bin(const uint8_t *data, size_t len)
{
    ProtobufCBinaryData b = {len, (uint8_t *)data};
    return b;
}

static int s_enc_hello(const wire_hello *h, s_pb *pb)
{
    Asylink__V1__Hello *m = &pb->b.hello;
    asylink__v1__hello__init(m);
    pb->cmd.hello = m;
    m->protocol_version = h->protocol_version;
    m->node_id = S_STR(h->node_id);
    m->client_name = S_STR(h->client_name);
    m->client_version = S_STR(h->client_version);
    m->heartbeat_interval_ms = h->heartbeat_interval_ms;
    m->initial_credit_messages = h->initial_credit_messages;
    m->initial_credit_bytes = h->initial_credit_bytes;
    m->client_time_ms = h->client_time_ms;
    char *strs[] = {m->node_id, m->client_name, m->client_version};
    return s_all_set(strs, 3) ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static void s_enc_limits(const wire_limits *l, Asylink__V1__Limits *m)
{
    asylink__v1__limits__init(m);
    m->max_envelope_bytes = l->max_envelope_bytes;
    m->max_in_flight = l->max_in_flight;
    m->heartbeat_interval_ms = l->heartbeat_interval_ms;
    m->heartbeat_timeout_ms = l->heartbeat_timeout_ms;
    m->clock_skew_tolerance_ms = l->clock_skew_tolerance_ms;
    m->max_recipients = l->max_recipients;
    m->max_ack_batch = l->max_ack_batch;
    m->max_deliveries = l->max_deliveries;
}

static int s_enc_welcome(const wire_welcome *w, s_pb *pb)
{
    Asylink__V1__Welcome *m = &pb->b.welcome;
    asylink__v1__welcome__init(m);
    pb->cmd.welcome = m;
    m->protocol_version = w->protocol_version;
    m->broker_node_id = S_STR(w->broker_node_id);
    s_enc_limits(&w->limits, &pb->limits);
    m->limits = &pb->limits; /* always sent, even all zero */
    m->server_time_ms = w->server_time_ms;
    m->session_id = s_bin(w->session_id, sizeof w->session_id);
    for (int r = 1; r <= CERT_ROLE_MAX; r++) /* bits outside known roles are not sent */
        if (w->roles & CERT_ROLE_BIT(r))
            pb->roles[m->n_roles++] = (Asylink__V1__Role)r;
    m->roles = pb->roles;
    m->client_cert_serial = w->client_cert_serial;
    m->broker_version = S_STR(w->broker_version);
    char *strs[] = {m->broker_node_id, m->broker_version};
    return s_all_set(strs, 2) ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static int s_enc_publish(const wire_publish *p, s_pb *pb)
{
    asylink__v1__publish__init(&pb->b.publish);
    pb->cmd.publish = &pb->b.publish;
    pb->b.publish.message_id = s_bin(p->message_id, sizeof p->message_id);
    return ASYLINK_OK;
}

static int s_enc_accepted(const wire_accepted *a, s_pb *pb)
{
    Asylink__V1__Accepted *m = &pb->b.accepted;
    asylink__v1__accepted__init(m);
    pb->cmd.accepted = m;
    m->message_id = s_bin(a->message_id, sizeof a->message_id);
    m->duplicate = a->duplicate;
    m->store_sequence = a->store_sequence;
    m->accepted_ms = a->accepted_ms;
    return ASYLINK_OK;
}

static int s_enc_rejected(const wire_rejected *r, s_pb *pb)
{
    Asylink__V1__Rejected *m = &pb->b.rejected;
    asylink__v1__rejected__init(m);
    pb->cmd.rejected = m;
    if (r->has_message_id)
        m->message_id = s_bin(r->message_id, sizeof r->message_id);
    m->code = (Asylink__V1__ErrorCode)r->code;
    m->reason = S_STR(r->reason);
    m->retryable = r->retryable;
    return m->reason ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static int s_enc_deliver(const wire_deliver *d, s_pb *pb)
{
    Asylink__V1__Deliver *m = &pb->b.deliver;
    asylink__v1__deliver__init(m);
    pb->cmd.deliver = m;
    m->sequence = d->sequence;
    m->attempt = d->attempt;
    m->subscription = S_STR(d->subscription);
    m->accepted_ms = d->accepted_ms;
    m->topic = S_STR(d->topic);
    char *strs[] = {m->subscription, m->topic};
    return s_all_set(strs, 2) ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static int s_enc_ack(const wire_acks *a, s_pb *pb)
{
    Asylink__V1__Ack *m = &pb->b.ack;
    asylink__v1__ack__init(m);
    pb->cmd.ack = m;
    m->n_sequences = a->n_sequences;
    m->sequences = a->sequences;
    m->subscription = S_STR(a->subscription);
    bool ok = m->subscription && (a->sequences || !a->n_sequences);
    return ok ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static int s_enc_nack(const wire_acks *a, s_pb *pb)
{
    Asylink__V1__Nack *m = &pb->b.nack;
    asylink__v1__nack__init(m);
    pb->cmd.nack = m;
    m->n_sequences = a->n_sequences;
    m->sequences = a->sequences;
    m->subscription = S_STR(a->subscription);
    m->disposition = (Asylink__V1__NackDisposition)a->disposition;
    m->code = (Asylink__V1__ErrorCode)a->code;
    m->reason = S_STR(a->reason);
    m->retry_after_ms = a->retry_after_ms;
    char *strs[] = {m->subscription, m->reason};
    bool ok = s_all_set(strs, 2) && (a->sequences || !a->n_sequences);
    return ok ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static int s_enc_credit(const wire_credit *c, s_pb *pb)
{
    asylink__v1__credit__init(&pb->b.credit);
    pb->cmd.credit = &pb->b.credit;
    pb->b.credit.window_messages = c->window_messages;
    pb->b.credit.window_bytes = c->window_bytes;
    return ASYLINK_OK;
}

static int s_enc_subscribe(const wire_subscribe *s, s_pb *pb)
{
    Asylink__V1__Subscribe *m = &pb->b.subscribe;
    asylink__v1__subscribe__init(m);
    pb->cmd.subscribe = m;
    m->topic_prefix = S_STR(s->topic_prefix);
    m->subscription = S_STR(s->subscription);
    m->start = (Asylink__V1__StartPosition)s->start;
    m->start_value = s->start_value;
    m->reset = s->reset;
    char *strs[] = {m->topic_prefix, m->subscription};
    return s_all_set(strs, 2) ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static int s_enc_subscribed(const wire_subscribed *s, s_pb *pb)
{
    Asylink__V1__Subscribed *m = &pb->b.subscribed;
    asylink__v1__subscribed__init(m);
    pb->cmd.subscribed = m;
    m->subscription = S_STR(s->subscription);
    m->topic_prefix = S_STR(s->topic_prefix);
    m->created = s->created;
    m->next_sequence = s->next_sequence;
    m->head_sequence = s->head_sequence;
    char *strs[] = {m->subscription, m->topic_prefix};
    return s_all_set(strs, 2) ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static int s_enc_unsubscribe(const wire_unsubscribe *u, s_pb *pb)
{
    asylink__v1__unsubscribe__init(&pb->b.unsubscribe);
    pb->cmd.unsubscribe = &pb->b.unsubscribe;
    pb->b.unsubscribe.subscription = S_STR(u->subscription);
    pb->b.unsubscribe.delete_cursor = u->delete_cursor;
    return pb->b.unsubscribe.subscription ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static int s_enc_unsubscribed(const wire_unsubscribe *u, s_pb *pb)
{
    asylink__v1__unsubscribed__init(&pb->b.unsubscribed);
    pb->cmd.unsubscribed = &pb->b.unsubscribed;
    pb->b.unsubscribed.subscription = S_STR(u->subscription);
    pb->b.unsubscribed.cursor_deleted = u->delete_cursor;
    return pb->b.unsubscribed.subscription ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

/* Points pb->strs (new array) at n node id buffers. */
static int s_enc_node_ids(const char (*ids)[NODE_ID_MAX + 1], size_t n, s_pb *pb)
{
    if (n == 0)
        return ASYLINK_OK;
    if (!ids)
        return ASYLINK_E_INVALID_ARG;
    pb->strs = calloc(n, sizeof *pb->strs);
    if (!pb->strs)
        return ASYLINK_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        pb->strs[i] = S_STR(ids[i]);
    return s_all_set(pb->strs, n) ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static int s_enc_directory_request(const wire_directory_request *d, s_pb *pb)
{
    Asylink__V1__DirectoryRequest *m = &pb->b.directory_request;
    asylink__v1__directory_request__init(m);
    pb->cmd.directory_request = m;
    m->topic = S_STR(d->topic);
    int rc = s_enc_node_ids((const char(*)[NODE_ID_MAX + 1]) d->node_ids, d->n_node_ids, pb);
    m->node_ids = pb->strs;
    m->n_node_ids = pb->strs ? d->n_node_ids : 0;
    return rc == ASYLINK_OK && !m->topic ? ASYLINK_E_INVALID_ARG : rc;
}

/* Points pb->bins (new array) at the certificates. */
static int s_enc_certificates(const wire_directory *d, s_pb *pb)
{
    size_t n = d->n_certificates;
    if (n == 0)
        return ASYLINK_OK;
    if (!d->certificates || !d->certificate_lens)
        return ASYLINK_E_INVALID_ARG;
    pb->bins = calloc(n, sizeof *pb->bins);
    if (!pb->bins)
        return ASYLINK_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!d->certificates[i] && d->certificate_lens[i])
            return ASYLINK_E_INVALID_ARG;
        pb->bins[i] = s_bin(d->certificates[i], d->certificate_lens[i]);
    }
    return ASYLINK_OK;
}

static int s_enc_directory(const wire_directory *d, s_pb *pb)
{
    Asylink__V1__Directory *m = &pb->b.directory;
    asylink__v1__directory__init(m);
    pb->cmd.directory = m;
    m->topic = S_STR(d->topic);
    if (d->revocation_list_len && !d->revocation_list)
        return ASYLINK_E_INVALID_ARG;
    m->revocation_list = s_bin(d->revocation_list, d->revocation_list_len);
    int rc = s_enc_certificates(d, pb);
    m->certificates = pb->bins;
    m->n_certificates = pb->bins ? d->n_certificates : 0;
    if (rc == ASYLINK_OK)
        rc = s_enc_node_ids((const char(*)[NODE_ID_MAX + 1]) d->unknown_node_ids, d->n_unknown, pb);
    m->unknown_node_ids = pb->strs;
    m->n_unknown_node_ids = pb->strs ? d->n_unknown : 0;
    return rc == ASYLINK_OK && !m->topic ? ASYLINK_E_INVALID_ARG : rc;
}

static int s_enc_error(const wire_error *e, s_pb *pb)
{
    asylink__v1__error__init(&pb->b.error);
    pb->cmd.error = &pb->b.error;
    pb->b.error.code = (Asylink__V1__ErrorCode)e->code;
    pb->b.error.reason = S_STR(e->reason);
    pb->b.error.fatal = e->fatal;
    return pb->b.error.reason ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static int s_enc_bye(const wire_error *e, s_pb *pb)
{
    asylink__v1__bye__init(&pb->b.bye);
    pb->cmd.bye = &pb->b.bye;
    pb->b.bye.reason = S_STR(e->reason);
    pb->b.bye.code = (Asylink__V1__ErrorCode)e->code;
    pb->b.bye.reconnect_after_ms = e->reconnect_after_ms;
    return pb->b.bye.reason ? ASYLINK_OK : ASYLINK_E_INVALID_ARG;
}

static int s_enc_heartbeat(const wire_heartbeat *h, s_pb *pb)
{
    asylink__v1__heartbeat__init(&pb->b.heartbeat);
    pb->cmd.heartbeat = &pb->b.heartbeat;
    pb->b.heartbeat.pong = h->pong;
    pb->b.heartbeat.sent_ms = h->sent_ms;
    return ASYLINK_OK;
}

/* The member of an AdminRequest. */
static int s_enc_admin_member(const wire_admin_request *a, s_pb *pb)
{
    Asylink__V1__AdminRequest *m = &pb->b.admin;
    char *node = S_STR(a->node_id);
    if (!node || (a->n_ids && !a->ids))
        return ASYLINK_E_INVALID_ARG;
    switch (a->op) {
    case WIRE_ADMIN_STATS:
        asylink__v1__admin_stats_request__init(&pb->a.stats);
        m->stats = &pb->a.stats;
        break;
    case WIRE_ADMIN_NODES:
        asylink__v1__admin_nodes_request__init(&pb->a.nodes);
        pb->a.nodes.connected_only = a->flag;
        m->nodes = &pb->a.nodes;
        break;
    case WIRE_ADMIN_QUEUES:
        asylink__v1__admin_queues_request__init(&pb->a.queues);
        pb->a.queues.node_id = node;
        pb->a.queues.non_empty_only = a->flag;
        m->queues = &pb->a.queues;
        break;
    case WIRE_ADMIN_TOPICS:
        asylink__v1__admin_topics_request__init(&pb->a.topics);
        pb->a.topics.prefix = S_STR(a->topic);
        m->topics = &pb->a.topics;
        if (!pb->a.topics.prefix)
            return ASYLINK_E_INVALID_ARG;
        break;
    case WIRE_ADMIN_DEAD_LETTERS:
        asylink__v1__admin_dead_letters_request__init(&pb->a.dead_letters);
        pb->a.dead_letters.node_id = node;
        pb->a.dead_letters.limit = a->limit;
        pb->a.dead_letters.offset = a->offset;
        m->dead_letters = &pb->a.dead_letters;
        break;
    case WIRE_ADMIN_DEAD_LETTER_REPLAY:
        asylink__v1__admin_dead_letter_replay_request__init(&pb->a.replay);
        pb->a.replay.ids = a->ids;
        pb->a.replay.n_ids = a->n_ids;
        pb->a.replay.node_id = node;
        pb->a.replay.all = a->flag;
        m->dead_letter_replay = &pb->a.replay;
        break;
    case WIRE_ADMIN_DEAD_LETTER_DROP:
        asylink__v1__admin_dead_letter_drop_request__init(&pb->a.drop);
        pb->a.drop.ids = a->ids;
        pb->a.drop.n_ids = a->n_ids;
        pb->a.drop.node_id = node;
        pb->a.drop.all = a->flag;
        m->dead_letter_drop = &pb->a.drop;
        break;
    case WIRE_ADMIN_AUDIT_TAIL:
        asylink__v1__admin_audit_tail_request__init(&pb->a.audit_tail);
        pb->a.audit_tail.count = a->limit;
        pb->a.audit_tail.from_seq = a->seq_from;
        m->audit_tail = &pb->a.audit_tail;
        break;
    case WIRE_ADMIN_AUDIT_VERIFY:
        asylink__v1__admin_audit_verify_request__init(&pb->a.audit_verify);
        pb->a.audit_verify.from_seq = a->seq_from;
        pb->a.audit_verify.to_seq = a->seq_to;
        m->audit_verify = &pb->a.audit_verify;
        break;
    case WIRE_ADMIN_PURGE:
        asylink__v1__admin_purge_request__init(&pb->a.purge);
        pb->a.purge.sender = node;
        pb->a.purge.message_id.data = (uint8_t *)a->message_id;
        pb->a.purge.message_id.len = sizeof a->message_id;
        pb->a.purge.reason = S_STR(a->reason);
        pb->a.purge.reference = S_STR(a->reference);
        m->purge = &pb->a.purge;
        if (!pb->a.purge.reason || !pb->a.purge.reference)
            return ASYLINK_E_INVALID_ARG;
        break;
    case WIRE_ADMIN_CONFIRM:
        asylink__v1__admin_confirm_request__init(&pb->a.confirm);
        pb->a.confirm.pending_id = a->seq_from;
        pb->a.confirm.cancel = a->flag;
        m->confirm = &pb->a.confirm;
        break;
    case WIRE_ADMIN_PENDING:
        asylink__v1__admin_pending_request__init(&pb->a.pending);
        m->pending = &pb->a.pending;
        break;
    case WIRE_ADMIN_RELOAD:
        asylink__v1__admin_reload_request__init(&pb->a.reload);
        pb->a.reload.trust = a->trust;
        pb->a.reload.policy = a->policy;
        m->reload = &pb->a.reload;
        break;
    default: return ASYLINK_E_INVALID_ARG;
    }
    return ASYLINK_OK;
}

static int s_enc_admin(const wire_admin_request *a, s_pb *pb)
{
    asylink__v1__admin_request__init(&pb->b.admin);
    pb->cmd.admin_request = &pb->b.admin;
    pb->b.admin.request_case = (Asylink__V1__AdminRequest__RequestCase)a->op;
    return s_enc_admin_member(a, pb);
}

/* Fills pb's body from cmd. INVALID_ARG for an unknown kind or a broken cmd. */
static int s_enc_body(const wire_cmd *cmd, s_pb *pb)
{
    switch (cmd->kind) {
    case WIRE_HELLO: return s_enc_hello(&cmd->u.hello, pb);
    case WIRE_WELCOME: return s_enc_welcome(&cmd->u.welcome, pb);
    case WIRE_PUBLISH: return s_enc_publish(&cmd->u.publish, pb);
    case WIRE_ACCEPTED: return s_enc_accepted(&cmd->u.accepted, pb);
    case WIRE_REJECTED: return s_enc_rejected(&cmd->u.rejected, pb);
    case WIRE_DELIVER: return s_enc_deliver(&cmd->u.deliver, pb);
    case WIRE_ACK: return s_enc_ack(&cmd->u.ack, pb);
    case WIRE_NACK: return s_enc_nack(&cmd->u.ack, pb);
    case WIRE_CREDIT: return s_enc_credit(&cmd->u.credit, pb);
    case WIRE_SUBSCRIBE: return s_enc_subscribe(&cmd->u.subscribe, pb);
    case WIRE_UNSUBSCRIBE: return s_enc_unsubscribe(&cmd->u.unsubscribe, pb);
    case WIRE_DIRECTORY_REQUEST: return s_enc_directory_request(&cmd->u.directory_request, pb);
    case WIRE_DIRECTORY: return s_enc_directory(&cmd->u.directory, pb);
    case WIRE_ERROR: return s_enc_error(&cmd->u.error, pb);
    case WIRE_BYE: return s_enc_bye(&cmd->u.error, pb);
    case WIRE_HEARTBEAT: return s_enc_heartbeat(&cmd->u.heartbeat, pb);
    case WIRE_SUBSCRIBED: return s_enc_subscribed(&cmd->u.subscribed, pb);
    case WIRE_UNSUBSCRIBED: return s_enc_unsubscribed(&cmd->u.unsubscribe, pb);
    case WIRE_ADMIN_REQUEST: return s_enc_admin(&cmd->u.admin, pb);
    default: return ASYLINK_E_INVALID_ARG;
    }
}

/* Packs pb->cmd into a new malloc'd buffer. */
static int s_pack(const s_pb *pb, uint8_t **out, size_t *out_len)
{
    size_t n = asylink__v1__command__get_packed_size(&pb->cmd);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return ASYLINK_E_NOMEM;
    if (asylink__v1__command__pack(&pb->cmd, buf) != n) {
        free(buf);
        return ASYLINK_E_INTERNAL;
    }
    *out = buf;
    *out_len = n;
    return ASYLINK_OK;
}

/* A varint field (one-byte tag) unless v is 0 (proto3 default: omitted). */
static size_t s_put_uint_field(uint8_t *p, uint8_t tag, uint64_t v)
{
    if (!v)
        return 0;
    p[0] = tag;
    return 1 + s_put_varint(p + 1, v);
}

/* A string field (one-byte tag) of n bytes unless empty. */
static size_t s_put_str_field(uint8_t *p, uint8_t tag, const char *str, size_t n)
{
    if (!n)
        return 0;
    p[0] = tag;
    size_t k = 1 + s_put_varint(p + 1, n);
    memcpy(p + k, str, n);
    return k + n;
}

/*
 * The two commands the broker sends per message, Accepted and Deliver,
 * written directly: the same bytes protobuf-c writes for them (test_wire
 * compares), without its sizing and packing passes. *done false: another
 * kind, use the general path.
 */
static int s_encode_fast(const wire_cmd *cmd, uint8_t **out, size_t *out_len, bool *done)
{
    uint8_t body[16 + 4 * 11 + 2 * (WIRE_NAME_MAX + 256 + 11)];
    size_t n = 0;
    uint8_t tag;
    *done = false;
    if (cmd->kind == WIRE_ACCEPTED) {
        const wire_accepted *a = &cmd->u.accepted;
        body[n++] = 0x0a;
        body[n++] = 16;
        memcpy(body + n, a->message_id, 16);
        n += 16;
        n += s_put_uint_field(body + n, 0x10, a->duplicate ? 1 : 0);
        n += s_put_uint_field(body + n, 0x18, a->store_sequence);
        n += s_put_uint_field(body + n, 0x20, a->accepted_ms);
        tag = (WIRE_ACCEPTED << 3) | 2;
    } else if (cmd->kind == WIRE_DELIVER) {
        const wire_deliver *d = &cmd->u.deliver;
        size_t ls = strnlen(d->subscription, sizeof d->subscription);
        size_t lt = strnlen(d->topic, sizeof d->topic);
        if (ls == sizeof d->subscription || lt == sizeof d->topic)
            return ASYLINK_E_INVALID_ARG; /* not NUL-terminated (as S_STR) */
        n += s_put_uint_field(body + n, 0x08, d->sequence);
        n += s_put_uint_field(body + n, 0x10, d->attempt);
        n += s_put_str_field(body + n, 0x1a, d->subscription, ls);
        n += s_put_uint_field(body + n, 0x20, d->accepted_ms);
        n += s_put_str_field(body + n, 0x2a, d->topic, lt);
        tag = (WIRE_DELIVER << 3) | 2;
    } else {
        return ASYLINK_OK;
    }
    uint8_t *buf = malloc(1 + 10 + 1 + 10 + n);
    if (!buf)
        return ASYLINK_E_NOMEM;
    size_t k = s_put_uint_field(buf, 0x08, cmd->request_id);
    buf[k++] = tag;
    k += s_put_varint(buf + k, n);
    memcpy(buf + k, body, n);
    *out = buf;
    *out_len = k + n;
    *done = true;
    return ASYLINK_OK;
}

int wire_encode(const wire_cmd *cmd, uint8_t **out, size_t *out_len)
{
    if (!cmd || !out || !out_len)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    *out_len = 0;
    bool done = false;
    int frc = s_encode_fast(cmd, out, out_len, &done);
    if (frc != ASYLINK_OK || done)
        return frc;
    s_pb pb;
    memset(&pb, 0, sizeof pb);
    asylink__v1__command__init(&pb.cmd);
    pb.cmd.request_id = cmd->request_id;
    pb.cmd.body_case = (Asylink__V1__Command__BodyCase)cmd->kind;
    int rc = s_enc_body(cmd, &pb);
    if (rc == ASYLINK_OK)
        rc = s_pack(&pb, out, out_len);
    free(pb.strs);
    free(pb.bins);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Ownership and names                                                       */
/* ------------------------------------------------------------------------ */

static void s_directory_free(wire_directory *d)
{
    for (size_t i = 0; d->certificates && i < d->n_certificates; i++)
        free(d->certificates[i]);
    free(d->certificates);
    free(d->certificate_lens);
    free(d->unknown_node_ids);
    free(d->revocation_list);
}

void wire_cmd_clear(wire_cmd *cmd)
{
    if (!cmd)
        return;
    switch (cmd->kind) {
    case WIRE_ACK:
    case WIRE_NACK: free(cmd->u.ack.sequences); break;
    case WIRE_DIRECTORY_REQUEST: free(cmd->u.directory_request.node_ids); break;
    case WIRE_DIRECTORY: s_directory_free(&cmd->u.directory); break;
    case WIRE_ADMIN_REQUEST: free(cmd->u.admin.ids); break;
    default: break;
    }
    memset(cmd, 0, sizeof *cmd);
}

const char *wire_kind_name(wire_kind kind)
{
    switch (kind) {
    case WIRE_HELLO: return "Hello";
    case WIRE_WELCOME: return "Welcome";
    case WIRE_PUBLISH: return "Publish";
    case WIRE_ACCEPTED: return "Accepted";
    case WIRE_REJECTED: return "Rejected";
    case WIRE_DELIVER: return "Deliver";
    case WIRE_ACK: return "Ack";
    case WIRE_NACK: return "Nack";
    case WIRE_CREDIT: return "Credit";
    case WIRE_SUBSCRIBE: return "Subscribe";
    case WIRE_UNSUBSCRIBE: return "Unsubscribe";
    case WIRE_DIRECTORY_REQUEST: return "DirectoryRequest";
    case WIRE_DIRECTORY: return "Directory";
    case WIRE_ERROR: return "Error";
    case WIRE_BYE: return "Bye";
    case WIRE_HEARTBEAT: return "Heartbeat";
    case WIRE_SUBSCRIBED: return "Subscribed";
    case WIRE_UNSUBSCRIBED: return "Unsubscribed";
    case WIRE_ADMIN_REQUEST: return "AdminRequest";
    default: return "unknown";
    }
}

const char *wire_admin_op_name(wire_admin_op op)
{
    switch (op) {
    case WIRE_ADMIN_STATS: return "stats";
    case WIRE_ADMIN_NODES: return "nodes";
    case WIRE_ADMIN_QUEUES: return "queues";
    case WIRE_ADMIN_TOPICS: return "topics";
    case WIRE_ADMIN_DEAD_LETTERS: return "dead_letters";
    case WIRE_ADMIN_DEAD_LETTER_REPLAY: return "dead_letter_replay";
    case WIRE_ADMIN_DEAD_LETTER_DROP: return "dead_letter_drop";
    case WIRE_ADMIN_AUDIT_TAIL: return "audit_tail";
    case WIRE_ADMIN_AUDIT_VERIFY: return "audit_verify";
    case WIRE_ADMIN_PURGE: return "purge";
    case WIRE_ADMIN_RELOAD: return "reload";
    case WIRE_ADMIN_CONFIRM: return "confirm";
    case WIRE_ADMIN_PENDING: return "pending";
    default: return "unknown";
    }
}

/* ------------------------------------------------------------------------ */
/* AdminResponse framing                                                     */
/* ------------------------------------------------------------------------ */

#define S_ADMIN_RESPONSE_FIELD 19 /* Command.admin_response */

/* Writes v as a varint at p; returns the bytes written (at most 10). */
static size_t s_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

int wire_admin_response_frame(uint64_t request_id, const uint8_t *body, size_t body_len,
                              uint8_t **out, size_t *out_len)
{
    if (!out || !out_len || (!body && body_len))
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    *out_len = 0;
    if (body_len > WIRE_MAX_COMMAND - 32)
        return ASYLINK_E_TOO_LARGE;
    uint8_t *buf = malloc(body_len + 32);
    if (!buf)
        return ASYLINK_E_NOMEM;
    size_t n = 0;
    if (request_id) {    /* proto3: a zero request_id is not written */
        buf[n++] = 0x08; /* field 1, varint */
        n += s_put_varint(buf + n, request_id);
    }
    n += s_put_varint(buf + n, (S_ADMIN_RESPONSE_FIELD << 3) | 2);
    n += s_put_varint(buf + n, body_len);
    if (body_len)
        memcpy(buf + n, body, body_len);
    *out = buf;
    *out_len = n + body_len;
    return ASYLINK_OK;
}

int wire_admin_response_body(const uint8_t *buf, size_t len, uint64_t *request_id,
                             const uint8_t **body, size_t *body_len)
{
    if (!request_id || !body || !body_len || (!buf && len))
        return ASYLINK_E_INVALID_ARG;
    *request_id = 0;
    *body = NULL;
    *body_len = 0;
    if (len > WIRE_MAX_COMMAND)
        return ASYLINK_E_TOO_LARGE;
    const uint8_t *p = buf, *end = buf + len;
    codec_field f = {0};
    if (!codec_next_field(&p, end, &f))
        return ASYLINK_E_MALFORMED;
    if (f.number == 1 && f.wire_type == 0) {
        *request_id = f.value;
        if (buf[0] != 0x08 || !codec_next_field(&p, end, &f)) /* the tag 0x08 is one byte */
            return ASYLINK_E_MALFORMED;
    }
    if (f.number != S_ADMIN_RESPONSE_FIELD || f.wire_type != 2 || p != end)
        return ASYLINK_E_MALFORMED;
    /* canonical: exactly the header wire_admin_response_frame() writes (no
     * zero request_id, no padded varints, no other tag spelling) */
    uint8_t head[32];
    size_t n = 0;
    if (*request_id) {
        head[n++] = 0x08;
        n += s_put_varint(head + n, *request_id);
    }
    n += s_put_varint(head + n, (S_ADMIN_RESPONSE_FIELD << 3) | 2);
    n += s_put_varint(head + n, f.len);
    if ((size_t)(f.data - buf) != n || memcmp(head, buf, n) != 0)
        return ASYLINK_E_MALFORMED;
    *body = f.data;
    *body_len = f.len;
    return ASYLINK_OK;
}

/* ---- Packed frames ---- */

#define S_PACKED_FIELD 22 /* Command.packed */
#define S_PACK_HEAD 16    /* head space for Packed's tag and length */

static size_t s_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v > 0x7f) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Reads a shortest-form varint (canonical); false otherwise. */
static bool s_varint_canonical(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *start = *p;
    if (!codec_varint(p, end, v))
        return false;
    return (size_t)(*p - start) == s_varint_len(*v);
}

/* Reads a length-delimited field with one-byte tag `tag` at *p; false on anything else. */
static bool s_bytes_field(const uint8_t **p, const uint8_t *end, uint8_t tag, const uint8_t **data,
                          size_t *len)
{
    uint64_t n = 0;
    if (*p >= end || **p != tag)
        return false;
    ++*p;
    if (!s_varint_canonical(p, end, &n) || n > (uint64_t)(end - *p))
        return false;
    *data = *p;
    *len = (size_t)n;
    *p += n;
    return true;
}

bool wire_is_packed(const uint8_t *buf, size_t len)
{
    return buf && len >= 2 && buf[0] == (uint8_t)((S_PACKED_FIELD << 3) | 2 | 0x80) &&
           buf[1] == (uint8_t)(S_PACKED_FIELD >> 4);
}

/* Checks one item (its bytes); fills it. */
static bool s_item(const uint8_t *p, const uint8_t *end, wire_item *it)
{
    *it = (wire_item){0};
    if (!s_bytes_field(&p, end, 0x0a, &it->cmd, &it->cmd_len) || it->cmd_len == 0)
        return false;
    if (p < end && (!s_bytes_field(&p, end, 0x12, &it->env, &it->env_len) || it->env_len == 0))
        return false;
    return p == end;
}

int wire_unpack_begin(wire_unpacker *u, const uint8_t *buf, size_t len, size_t *n_items)
{
    if (!u || !n_items || (!buf && len))
        return ASYLINK_E_INVALID_ARG;
    *u = (wire_unpacker){0};
    *n_items = 0;
    if (len > WIRE_MAX_COMMAND)
        return ASYLINK_E_TOO_LARGE;
    if (!wire_is_packed(buf, len))
        return ASYLINK_E_MALFORMED;
    const uint8_t *p = buf + 2, *end = buf + len, *body = NULL;
    size_t body_len = 0;
    uint64_t n = 0;
    if (!s_varint_canonical(&p, end, &n) || n != (uint64_t)(end - p))
        return ASYLINK_E_MALFORMED; /* Packed is the only field, and the last */
    body = p;
    body_len = (size_t)n;
    size_t items = 0;
    for (const uint8_t *q = body; q < body + body_len;) {
        const uint8_t *data = NULL;
        size_t dlen = 0;
        wire_item it;
        if (!s_bytes_field(&q, body + body_len, 0x0a, &data, &dlen) ||
            !s_item(data, data + dlen, &it))
            return ASYLINK_E_MALFORMED;
        if (++items > WIRE_MAX_PACKED)
            return ASYLINK_E_BAD_FIELD;
    }
    if (items == 0)
        return ASYLINK_E_BAD_FIELD;
    u->p = body;
    u->end = body + body_len;
    *n_items = items;
    return ASYLINK_OK;
}

bool wire_unpack_next(wire_unpacker *u, wire_item *it)
{
    const uint8_t *data = NULL;
    size_t dlen = 0;
    if (!u || !it || !u->p || u->p >= u->end)
        return false;
    if (!s_bytes_field(&u->p, u->end, 0x0a, &data, &dlen) || !s_item(data, data + dlen, it)) {
        u->p = u->end; /* not after a successful wire_unpack_begin(): stop */
        return false;
    }
    return true;
}

void wire_packer_init(wire_packer *p, size_t room)
{
    *p = (wire_packer){.room = room, .len = room + S_PACK_HEAD};
}

int wire_packer_add(wire_packer *p, const uint8_t *cmd, size_t cmd_len, const uint8_t *env,
                    size_t env_len)
{
    if (!p || !cmd || cmd_len == 0 || (!env && env_len))
        return ASYLINK_E_INVALID_ARG;
    size_t inner = 1 + s_varint_len(cmd_len) + cmd_len;
    if (env_len)
        inner += 1 + s_varint_len(env_len) + env_len;
    size_t need = 1 + s_varint_len(inner) + inner;
    if (p->len < p->room + S_PACK_HEAD)
        p->len = p->room + S_PACK_HEAD; /* a zeroed packer used without init */
    if (p->cap - p->len < need || !p->buf) {
        size_t cap = p->cap ? p->cap : p->hint > 4096 ? p->hint : 4096;
        while (cap < p->len + need)
            cap *= 2;
        uint8_t *b = realloc(p->buf, cap);
        if (!b)
            return ASYLINK_E_NOMEM;
        p->buf = b;
        p->cap = cap;
    }
    uint8_t *w = p->buf + p->len;
    *w++ = 0x0a;
    w += s_put_varint(w, inner);
    *w++ = 0x0a;
    w += s_put_varint(w, cmd_len);
    memcpy(w, cmd, cmd_len);
    w += cmd_len;
    if (env_len) {
        *w++ = 0x12;
        w += s_put_varint(w, env_len);
        memcpy(w, env, env_len);
        w += env_len;
    }
    p->len = (size_t)(w - p->buf);
    p->items++;
    return ASYLINK_OK;
}

int wire_packer_add_cmd(wire_packer *p, const wire_cmd *c, const uint8_t *env, size_t env_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode(c, &buf, &len);
    if (rc == ASYLINK_OK)
        rc = wire_packer_add(p, buf, len, env, env_len);
    free(buf);
    return rc;
}

size_t wire_packer_frame_len(const wire_packer *p)
{
    if (!p || !p->items)
        return 0;
    size_t body = p->len - p->room - S_PACK_HEAD;
    return 2 + s_varint_len(body) + body;
}

uint8_t *wire_packer_finish(wire_packer *p, size_t *off, size_t *len)
{
    if (!p || !off || !len || !p->items)
        return NULL;
    size_t body = p->len - p->room - S_PACK_HEAD;
    uint8_t head[S_PACK_HEAD];
    size_t n = s_put_varint(head, (S_PACKED_FIELD << 3) | 2);
    n += s_put_varint(head + n, body);
    *off = p->room + S_PACK_HEAD - n;
    memcpy(p->buf + *off, head, n);
    *len = n + body;
    uint8_t *block = p->buf;
    size_t used = p->len;
    wire_packer_init(p, p->room);
    p->hint = used + used / 8; /* a block grown by copies costs a copy per doubling */
    if (p->hint > WIRE_PACK_BYTES)
        p->hint = WIRE_PACK_BYTES;
    return block;
}

void wire_packer_free(wire_packer *p)
{
    if (!p)
        return;
    free(p->buf);
    wire_packer_init(p, p->room);
}
