/*
 * test_wire.c — the broker protocol codec (core/wire.c): round trips of every
 * command kind, each rejection rule (BAD_FIELD, BAD_NODE_ID, MALFORMED,
 * TOO_LARGE), non-canonical encodings, truncations and random input.
 *
 * Invalid commands are built with the generated protobuf-c types directly,
 * since wire_encode() only writes what wire_cmd can hold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asylink/asylink.h"
#include "asylink/v1/broker.pb-c.h"
#include "codec.h"
#include "wire.h"

static const wire_kind s_kinds[] = {
    WIRE_HELLO,      WIRE_WELCOME,      WIRE_PUBLISH,     WIRE_ACCEPTED,
    WIRE_REJECTED,   WIRE_DELIVER,      WIRE_ACK,         WIRE_NACK,
    WIRE_CREDIT,     WIRE_SUBSCRIBE,    WIRE_UNSUBSCRIBE, WIRE_DIRECTORY_REQUEST,
    WIRE_DIRECTORY,  WIRE_ERROR,        WIRE_BYE,         WIRE_HEARTBEAT,
    WIRE_SUBSCRIBED, WIRE_UNSUBSCRIBED,
};
#define N_KINDS (sizeof s_kinds / sizeof s_kinds[0])

#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif

/* Copies a string into a fixed char array (strcpy is banned here). */
#define S_SET(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

/* Deterministic xorshift64* so failures reproduce. */
static uint64_t s_rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t s_rand(void)
{
    s_rng_state ^= s_rng_state >> 12;
    s_rng_state ^= s_rng_state << 25;
    s_rng_state ^= s_rng_state >> 27;
    return s_rng_state * 0x2545f4914f6cdd1dull;
}

static void s_fill_id(uint8_t id[16], uint8_t base)
{
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(base + i);
}

/* Owned arrays of a full Directory / DirectoryRequest, malloc'd so that
 * wire_cmd_clear() frees them like decoded ones. */
static void s_full_directory(wire_directory *d)
{
    d->n_certificates = 3;
    d->certificates = calloc(3, sizeof *d->certificates);
    d->certificate_lens = calloc(3, sizeof *d->certificate_lens);
    assert_non_null(d->certificates);
    assert_non_null(d->certificate_lens);
    for (size_t i = 0; i < 3; i++) {
        d->certificate_lens[i] = 100 + i * 37;
        d->certificates[i] = malloc(d->certificate_lens[i]);
        assert_non_null(d->certificates[i]);
        for (size_t j = 0; j < d->certificate_lens[i]; j++)
            d->certificates[i][j] = (uint8_t)(i * 31 + j);
    }
    d->n_unknown = 2;
    d->unknown_node_ids = calloc(2, sizeof *d->unknown_node_ids);
    assert_non_null(d->unknown_node_ids);
    S_SET(d->unknown_node_ids[0], "XX");
    S_SET(d->unknown_node_ids[1], "EUAA.ANALYSIS");
    d->revocation_list_len = 300;
    d->revocation_list = malloc(300);
    assert_non_null(d->revocation_list);
    memset(d->revocation_list, 0xa5, 300);
    S_SET(d->topic, "stats.monthly.DE");
}

/* A command of the given kind with every field set to a non-default value. */
static void s_full(wire_kind kind, wire_cmd *c)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->request_id = 0x1234567890ull + (uint64_t)kind;
    switch (kind) {
    case WIRE_HELLO:
        c->u.hello = (wire_hello){.protocol_version = 1,
                                  .heartbeat_interval_ms = 5000,
                                  .initial_credit_messages = 64,
                                  .initial_credit_bytes = 1ull << 33,
                                  .client_time_ms = 1700000000123ull};
        S_SET(c->u.hello.node_id, "DE");
        S_SET(c->u.hello.client_name, "libasylink");
        S_SET(c->u.hello.client_version, "0.1.0 \xc3\xa9t\xc3\xa9");
        break;
    case WIRE_WELCOME: {
        wire_welcome *w = &c->u.welcome;
        w->protocol_version = 1;
        S_SET(w->broker_node_id, "BROKER.EU");
        w->limits = (wire_limits){1ull << 35, 100, 5000, 15000, 300000, 256, 4096, 5};
        w->server_time_ms = 1700000000999ull;
        s_fill_id(w->session_id, 0x40);
        w->roles = CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE) | CERT_ROLE_BIT(CERT_ROLE_ANALYST) |
                   CERT_ROLE_BIT(CERT_ROLE_CA);
        w->client_cert_serial = 77;
        S_SET(w->broker_version, "0.1.0");
        break;
    }
    case WIRE_PUBLISH: s_fill_id(c->u.publish.message_id, 0x10); break;
    case WIRE_ACCEPTED:
        s_fill_id(c->u.accepted.message_id, 0x20);
        c->u.accepted.duplicate = true;
        c->u.accepted.store_sequence = 99999;
        c->u.accepted.accepted_ms = 1700000001000ull;
        break;
    case WIRE_REJECTED:
        s_fill_id(c->u.rejected.message_id, 0x30);
        c->u.rejected.has_message_id = true;
        c->u.rejected.code = ASYLINK_E_POLICY;
        S_SET(c->u.rejected.reason, "policy forbids DE -> FR on topic x");
        c->u.rejected.retryable = true;
        break;
    case WIRE_DELIVER:
        c->u.deliver =
            (wire_deliver){.sequence = 42, .attempt = 3, .accepted_ms = 1700000002000ull};
        S_SET(c->u.deliver.subscription, "monthly-stats_1.a");
        S_SET(c->u.deliver.topic, "stats.monthly.DE");
        break;
    case WIRE_ACK:
    case WIRE_NACK:
        c->u.ack.n_sequences = 5;
        c->u.ack.sequences = malloc(5 * sizeof(uint64_t));
        assert_non_null(c->u.ack.sequences);
        for (size_t i = 0; i < 5; i++)
            c->u.ack.sequences[i] = (i + 1) * 1000003ull + (i == 4 ? UINT64_MAX / 2 : 0);
        S_SET(c->u.ack.subscription, "feed");
        if (kind == WIRE_NACK) {
            c->u.ack.disposition = WIRE_NACK_DEAD_LETTER;
            c->u.ack.code = ASYLINK_E_TAMPERED;
            S_SET(c->u.ack.reason, "cannot open");
            c->u.ack.retry_after_ms = 2500;
        }
        break;
    case WIRE_CREDIT:
        c->u.credit.window_messages = 128;
        c->u.credit.window_bytes = 1ull << 40;
        break;
    case WIRE_SUBSCRIBE:
        S_SET(c->u.subscribe.topic_prefix, "stats.monthly");
        S_SET(c->u.subscribe.subscription, "monthly");
        c->u.subscribe.start = 4;
        c->u.subscribe.start_value = 1690000000000ull;
        c->u.subscribe.reset = true;
        break;
    case WIRE_SUBSCRIBED:
        S_SET(c->u.subscribed.subscription, "monthly");
        S_SET(c->u.subscribed.topic_prefix, "stats.monthly");
        c->u.subscribed.created = true;
        c->u.subscribed.next_sequence = 10;
        c->u.subscribed.head_sequence = 20;
        break;
    case WIRE_UNSUBSCRIBE:
    case WIRE_UNSUBSCRIBED:
        S_SET(c->u.unsubscribe.subscription, "monthly");
        c->u.unsubscribe.delete_cursor = true;
        break;
    case WIRE_DIRECTORY_REQUEST:
        c->u.directory_request.n_node_ids = 3;
        c->u.directory_request.node_ids = calloc(3, NODE_ID_MAX + 1);
        assert_non_null(c->u.directory_request.node_ids);
        S_SET(c->u.directory_request.node_ids[0], "FR");
        S_SET(c->u.directory_request.node_ids[1], "IT");
        memset(c->u.directory_request.node_ids[2], 'Z', NODE_ID_MAX); /* longest id */
        S_SET(c->u.directory_request.topic, "stats.monthly.DE");
        break;
    case WIRE_DIRECTORY: s_full_directory(&c->u.directory); break;
    case WIRE_ERROR:
        c->u.error.code = ASYLINK_E_PROTOCOL;
        S_SET(c->u.error.reason, "Publish before Hello");
        c->u.error.fatal = true;
        break;
    case WIRE_BYE:
        c->u.error.code = ASYLINK_E_SHUTDOWN;
        S_SET(c->u.error.reason, "broker draining");
        c->u.error.reconnect_after_ms = 30000;
        break;
    case WIRE_HEARTBEAT:
        c->u.heartbeat.pong = true;
        c->u.heartbeat.sent_ms = 1700000003000ull;
        break;
    default: fail_msg("no full command for kind %d", (int)kind);
    }
}

static void s_same_hello(const wire_hello *a, const wire_hello *b)
{
    assert_int_equal(a->protocol_version, b->protocol_version);
    assert_string_equal(a->node_id, b->node_id);
    assert_string_equal(a->client_name, b->client_name);
    assert_string_equal(a->client_version, b->client_version);
    assert_int_equal(a->heartbeat_interval_ms, b->heartbeat_interval_ms);
    assert_int_equal(a->initial_credit_messages, b->initial_credit_messages);
    assert_int_equal(a->initial_credit_bytes, b->initial_credit_bytes);
    assert_int_equal(a->client_time_ms, b->client_time_ms);
}

static void s_same_welcome(const wire_welcome *a, const wire_welcome *b)
{
    assert_int_equal(a->protocol_version, b->protocol_version);
    assert_string_equal(a->broker_node_id, b->broker_node_id);
    assert_int_equal(a->limits.max_envelope_bytes, b->limits.max_envelope_bytes);
    assert_int_equal(a->limits.max_in_flight, b->limits.max_in_flight);
    assert_int_equal(a->limits.heartbeat_interval_ms, b->limits.heartbeat_interval_ms);
    assert_int_equal(a->limits.heartbeat_timeout_ms, b->limits.heartbeat_timeout_ms);
    assert_int_equal(a->limits.clock_skew_tolerance_ms, b->limits.clock_skew_tolerance_ms);
    assert_int_equal(a->limits.max_recipients, b->limits.max_recipients);
    assert_int_equal(a->limits.max_ack_batch, b->limits.max_ack_batch);
    assert_int_equal(a->limits.max_deliveries, b->limits.max_deliveries);
    assert_int_equal(a->server_time_ms, b->server_time_ms);
    assert_memory_equal(a->session_id, b->session_id, 16);
    assert_int_equal(a->roles, b->roles);
    assert_int_equal(a->client_cert_serial, b->client_cert_serial);
    assert_string_equal(a->broker_version, b->broker_version);
}

static void s_same_acks(const wire_acks *a, const wire_acks *b)
{
    assert_int_equal(a->n_sequences, b->n_sequences);
    assert_memory_equal(a->sequences, b->sequences, a->n_sequences * sizeof(uint64_t));
    assert_string_equal(a->subscription, b->subscription);
    assert_int_equal(a->disposition, b->disposition);
    assert_int_equal(a->code, b->code);
    assert_string_equal(a->reason, b->reason);
    assert_int_equal(a->retry_after_ms, b->retry_after_ms);
}

static void s_same_directory(const wire_directory *a, const wire_directory *b)
{
    assert_int_equal(a->n_certificates, b->n_certificates);
    for (size_t i = 0; i < a->n_certificates; i++) {
        assert_int_equal(a->certificate_lens[i], b->certificate_lens[i]);
        assert_memory_equal(a->certificates[i], b->certificates[i], a->certificate_lens[i]);
    }
    assert_int_equal(a->n_unknown, b->n_unknown);
    for (size_t i = 0; i < a->n_unknown; i++)
        assert_string_equal(a->unknown_node_ids[i], b->unknown_node_ids[i]);
    assert_int_equal(a->revocation_list_len, b->revocation_list_len);
    assert_memory_equal(a->revocation_list, b->revocation_list, a->revocation_list_len);
    assert_string_equal(a->topic, b->topic);
}

static void s_same_feed(const wire_cmd *a, const wire_cmd *b)
{
    switch (a->kind) {
    case WIRE_SUBSCRIBE:
        assert_string_equal(a->u.subscribe.topic_prefix, b->u.subscribe.topic_prefix);
        assert_string_equal(a->u.subscribe.subscription, b->u.subscribe.subscription);
        assert_int_equal(a->u.subscribe.start, b->u.subscribe.start);
        assert_int_equal(a->u.subscribe.start_value, b->u.subscribe.start_value);
        assert_int_equal(a->u.subscribe.reset, b->u.subscribe.reset);
        break;
    case WIRE_SUBSCRIBED:
        assert_string_equal(a->u.subscribed.subscription, b->u.subscribed.subscription);
        assert_string_equal(a->u.subscribed.topic_prefix, b->u.subscribed.topic_prefix);
        assert_int_equal(a->u.subscribed.created, b->u.subscribed.created);
        assert_int_equal(a->u.subscribed.next_sequence, b->u.subscribed.next_sequence);
        assert_int_equal(a->u.subscribed.head_sequence, b->u.subscribed.head_sequence);
        break;
    default: /* WIRE_UNSUBSCRIBE, WIRE_UNSUBSCRIBED */
        assert_string_equal(a->u.unsubscribe.subscription, b->u.unsubscribe.subscription);
        assert_int_equal(a->u.unsubscribe.delete_cursor, b->u.unsubscribe.delete_cursor);
    }
}

static void s_same_publishing(const wire_cmd *a, const wire_cmd *b)
{
    switch (a->kind) {
    case WIRE_PUBLISH:
        assert_memory_equal(a->u.publish.message_id, b->u.publish.message_id, 16);
        break;
    case WIRE_ACCEPTED:
        assert_memory_equal(a->u.accepted.message_id, b->u.accepted.message_id, 16);
        assert_int_equal(a->u.accepted.duplicate, b->u.accepted.duplicate);
        assert_int_equal(a->u.accepted.store_sequence, b->u.accepted.store_sequence);
        assert_int_equal(a->u.accepted.accepted_ms, b->u.accepted.accepted_ms);
        break;
    case WIRE_REJECTED:
        assert_int_equal(a->u.rejected.has_message_id, b->u.rejected.has_message_id);
        assert_memory_equal(a->u.rejected.message_id, b->u.rejected.message_id, 16);
        assert_int_equal(a->u.rejected.code, b->u.rejected.code);
        assert_string_equal(a->u.rejected.reason, b->u.rejected.reason);
        assert_int_equal(a->u.rejected.retryable, b->u.rejected.retryable);
        break;
    default: /* WIRE_DELIVER */
        assert_int_equal(a->u.deliver.sequence, b->u.deliver.sequence);
        assert_int_equal(a->u.deliver.attempt, b->u.deliver.attempt);
        assert_string_equal(a->u.deliver.subscription, b->u.deliver.subscription);
        assert_int_equal(a->u.deliver.accepted_ms, b->u.deliver.accepted_ms);
        assert_string_equal(a->u.deliver.topic, b->u.deliver.topic);
    }
}

/* Asserts that a and b hold the same command, field by field. */
static void s_same(const wire_cmd *a, const wire_cmd *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->request_id, b->request_id);
    switch (a->kind) {
    case WIRE_HELLO: s_same_hello(&a->u.hello, &b->u.hello); break;
    case WIRE_WELCOME: s_same_welcome(&a->u.welcome, &b->u.welcome); break;
    case WIRE_PUBLISH:
    case WIRE_ACCEPTED:
    case WIRE_REJECTED:
    case WIRE_DELIVER: s_same_publishing(a, b); break;
    case WIRE_ACK:
    case WIRE_NACK: s_same_acks(&a->u.ack, &b->u.ack); break;
    case WIRE_CREDIT:
        assert_int_equal(a->u.credit.window_messages, b->u.credit.window_messages);
        assert_int_equal(a->u.credit.window_bytes, b->u.credit.window_bytes);
        break;
    case WIRE_SUBSCRIBE:
    case WIRE_SUBSCRIBED:
    case WIRE_UNSUBSCRIBE:
    case WIRE_UNSUBSCRIBED: s_same_feed(a, b); break;
    case WIRE_DIRECTORY_REQUEST:
        assert_int_equal(a->u.directory_request.n_node_ids, b->u.directory_request.n_node_ids);
        for (size_t i = 0; i < a->u.directory_request.n_node_ids; i++)
            assert_string_equal(a->u.directory_request.node_ids[i],
                                b->u.directory_request.node_ids[i]);
        assert_string_equal(a->u.directory_request.topic, b->u.directory_request.topic);
        break;
    case WIRE_DIRECTORY: s_same_directory(&a->u.directory, &b->u.directory); break;
    case WIRE_ERROR:
    case WIRE_BYE:
        assert_int_equal(a->u.error.code, b->u.error.code);
        assert_string_equal(a->u.error.reason, b->u.error.reason);
        assert_int_equal(a->u.error.fatal, b->u.error.fatal);
        assert_int_equal(a->u.error.reconnect_after_ms, b->u.error.reconnect_after_ms);
        break;
    case WIRE_HEARTBEAT:
        assert_int_equal(a->u.heartbeat.pong, b->u.heartbeat.pong);
        assert_int_equal(a->u.heartbeat.sent_ms, b->u.heartbeat.sent_ms);
        break;
    default: fail_msg("unexpected kind %d", (int)a->kind);
    }
}

/* Decodes a copy of buf[0..len) in an exact-size allocation (ASan sees over-reads). */
static int s_decode_exact(const uint8_t *buf, size_t len, wire_cmd *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, buf, len);
    int rc = wire_decode(copy, len, out);
    free(copy);
    return rc;
}

/* Packs a protobuf-c Command, decodes it, clears the result; returns the code. */
static int s_try(const Asylink__V1__Command *m)
{
    size_t n = asylink__v1__command__get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    assert_int_equal(asylink__v1__command__pack(m, buf), n);
    wire_cmd c;
    int rc = s_decode_exact(buf, n, &c);
    if (rc != ASYLINK_OK)
        assert_int_equal(c.kind, WIRE_NONE); /* failures leave a zeroed cmd */
    wire_cmd_clear(&c);
    free(buf);
    return rc;
}

/* Command wrapping one body: S_CMD(HELLO, hello, &h). */
#define S_CMD(CASE, member, body)                                                                  \
    (&(Asylink__V1__Command){.base = PROTOBUF_C_MESSAGE_INIT(&asylink__v1__command__descriptor),   \
                             .request_id = 7,                                                      \
                             .body_case = ASYLINK__V1__COMMAND__BODY_##CASE,                       \
                             .member = (body)})

/* A NUL-terminated string of n copies of ch; caller frees. */
static char *s_rep(char ch, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, ch, n);
    s[n] = 0;
    return s;
}

/* ------------------------------------------------------------------------ */

static void test_round_trip_every_kind(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_KINDS; k++) {
        wire_cmd in, out;
        s_full(s_kinds[k], &in);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(wire_encode(&in, &buf, &len), ASYLINK_OK);
        assert_int_equal(s_decode_exact(buf, len, &out), ASYLINK_OK);
        s_same(&in, &out);
        /* decode -> encode gives back the same bytes (the canonical form) */
        uint8_t *again = NULL;
        size_t again_len = 0;
        assert_int_equal(wire_encode(&out, &again, &again_len), ASYLINK_OK);
        assert_int_equal(again_len, len);
        assert_memory_equal(again, buf, len);
        free(again);
        free(buf);
        wire_cmd_clear(&in);
        wire_cmd_clear(&out);
        assert_int_equal(out.kind, WIRE_NONE);
    }
}

static void test_round_trip_minimal(void **state)
{
    (void)state;
    /* every kind with only what decode requires; all else zero / empty */
    for (size_t k = 0; k < N_KINDS; k++) {
        wire_cmd in, out;
        memset(&in, 0, sizeof in);
        in.kind = s_kinds[k];
        uint64_t seq = 1;
        if (in.kind == WIRE_HELLO)
            S_SET(in.u.hello.node_id, "IT");
        if (in.kind == WIRE_ACK || in.kind == WIRE_NACK) {
            in.u.ack.sequences = &seq;
            in.u.ack.n_sequences = 1;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(wire_encode(&in, &buf, &len), ASYLINK_OK);
        assert_int_equal(s_decode_exact(buf, len, &out), ASYLINK_OK);
        s_same(&in, &out);
        free(buf);
        wire_cmd_clear(&out);
    }
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(wire_kind_name(WIRE_HELLO), "Hello");
    assert_string_equal(wire_kind_name(WIRE_DIRECTORY_REQUEST), "DirectoryRequest");
    assert_string_equal(wire_kind_name(WIRE_UNSUBSCRIBED), "Unsubscribed");
    assert_string_equal(wire_kind_name(WIRE_NONE), "unknown");
    assert_string_equal(wire_kind_name((wire_kind)19), "unknown"); /* AdminResponse */
    assert_string_equal(wire_kind_name((wire_kind)-1), "unknown");
    for (size_t k = 0; k < N_KINDS; k++)
        assert_string_not_equal(wire_kind_name(s_kinds[k]), "unknown");
}

static void test_encode_invalid(void **state)
{
    (void)state;
    wire_cmd c;
    uint8_t *buf = (uint8_t *)"x";
    size_t len = 5;
    memset(&c, 0, sizeof c);
    assert_int_equal(wire_encode(&c, &buf, &len), ASYLINK_E_INVALID_ARG);
    assert_null(buf);
    assert_int_equal(len, 0);
    c.kind = (wire_kind)18; /* AdminRequest: not this codec's */
    assert_int_equal(wire_encode(&c, &buf, &len), ASYLINK_E_INVALID_ARG);
    c.kind = (wire_kind)99;
    assert_int_equal(wire_encode(&c, &buf, &len), ASYLINK_E_INVALID_ARG);
    assert_int_equal(wire_encode(NULL, &buf, &len), ASYLINK_E_INVALID_ARG);
    /* an unterminated string buffer is refused instead of over-read */
    s_full(WIRE_HELLO, &c);
    memset(c.u.hello.client_name, 'a', sizeof c.u.hello.client_name);
    assert_int_equal(wire_encode(&c, &buf, &len), ASYLINK_E_INVALID_ARG);
    s_full(WIRE_DIRECTORY_REQUEST, &c);
    memset(c.u.directory_request.node_ids[1], 'A', NODE_ID_MAX + 1);
    assert_int_equal(wire_encode(&c, &buf, &len), ASYLINK_E_INVALID_ARG);
    wire_cmd_clear(&c);
    /* counts without arrays */
    memset(&c, 0, sizeof c);
    c.kind = WIRE_ACK;
    c.u.ack.n_sequences = 3;
    assert_int_equal(wire_encode(&c, &buf, &len), ASYLINK_E_INVALID_ARG);
    c.kind = WIRE_DIRECTORY;
    memset(&c.u, 0, sizeof c.u);
    c.u.directory.n_certificates = 2;
    assert_int_equal(wire_encode(&c, &buf, &len), ASYLINK_E_INVALID_ARG);
    assert_null(buf);
}

static void test_clear(void **state)
{
    (void)state;
    wire_cmd_clear(NULL);
    wire_cmd c;
    memset(&c, 0, sizeof c);
    wire_cmd_clear(&c);
    c.kind = WIRE_DIRECTORY; /* partially filled: only some arrays */
    c.u.directory.n_certificates = 4;
    c.u.directory.certificates = calloc(4, sizeof(uint8_t *));
    c.u.directory.certificates[1] = malloc(10);
    wire_cmd_clear(&c);
    assert_int_equal(c.kind, WIRE_NONE);
    assert_null(c.u.directory.certificates);
}

static void test_malformed(void **state)
{
    (void)state;
    wire_cmd c;
    assert_int_equal(wire_decode(NULL, 0, &c), ASYLINK_E_MALFORMED);
    assert_int_equal(wire_decode((const uint8_t *)"", 0, &c), ASYLINK_E_MALFORMED);
    assert_int_equal(wire_decode((const uint8_t *)"\xff\xff\xff", 3, &c), ASYLINK_E_MALFORMED);
    assert_int_equal(wire_decode((const uint8_t *)"x", 1, NULL), ASYLINK_E_INVALID_ARG);
    /* no body */
    Asylink__V1__Command m = ASYLINK__V1__COMMAND__INIT;
    m.request_id = 5;
    assert_int_equal(s_try(&m), ASYLINK_E_MALFORMED);
    /* an AdminRequest decodes; an AdminResponse is not this codec's (framing only) */
    Asylink__V1__AdminRequest ar = ASYLINK__V1__ADMIN_REQUEST__INIT;
    Asylink__V1__AdminStatsRequest st = ASYLINK__V1__ADMIN_STATS_REQUEST__INIT;
    ar.request_case = ASYLINK__V1__ADMIN_REQUEST__REQUEST_STATS;
    ar.stats = &st;
    assert_int_equal(s_try(S_CMD(ADMIN_REQUEST, admin_request, &ar)), ASYLINK_OK);
    Asylink__V1__AdminResponse as = ASYLINK__V1__ADMIN_RESPONSE__INIT;
    assert_int_equal(s_try(S_CMD(ADMIN_RESPONSE, admin_response, &as)), ASYLINK_E_MALFORMED);
    /* an unknown body member (field 30, an empty message) */
    assert_int_equal(wire_decode((const uint8_t *)"\xf2\x01\x00", 3, &c), ASYLINK_E_MALFORMED);
}

/* Encodes a, decodes it back into *out (caller clears). */
static int s_admin_round(const wire_admin_request *a, wire_cmd *out)
{
    wire_cmd c = {.kind = WIRE_ADMIN_REQUEST, .request_id = 9};
    c.u.admin = *a;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode(&c, &buf, &len);
    if (rc == ASYLINK_OK)
        rc = wire_decode(buf, len, out);
    free(buf);
    return rc;
}

static void test_admin_request(void **state)
{
    (void)state;
    uint64_t ids[3] = {5, 1, 1ull << 40};
    for (int op = WIRE_ADMIN_STATS; op <= WIRE_ADMIN_PENDING; op++) {
        wire_admin_request a = {.op = (wire_admin_op)op,
                                .flag = true,
                                .limit = 7,
                                .offset = 11,
                                .trust = true,
                                .seq_from = 3,
                                .seq_to = 1ull << 40};
        S_SET(a.node_id, "DE-BAMF");
        S_SET(a.topic, "stats.monthly");
        S_SET(a.reason, "erasure request (Art. 17)");
        S_SET(a.reference, "DPO-2024/17");
        for (int i = 0; i < 16; i++)
            a.message_id[i] = (uint8_t)(0xa0 + i);
        if (op == WIRE_ADMIN_DEAD_LETTER_REPLAY || op == WIRE_ADMIN_DEAD_LETTER_DROP) {
            a.flag = false;
            a.ids = ids;
            a.n_ids = 3;
        }
        wire_cmd c;
        int rc = s_admin_round(&a, &c);
        assert_int_equal(rc, ASYLINK_OK);
        assert_int_equal(c.kind, WIRE_ADMIN_REQUEST);
        assert_int_equal(c.request_id, 9);
        assert_int_equal(c.u.admin.op, op);
        assert_string_not_equal(wire_admin_op_name((wire_admin_op)op), "unknown");
        switch (op) {
        case WIRE_ADMIN_NODES: assert_true(c.u.admin.flag); break;
        case WIRE_ADMIN_QUEUES:
            assert_true(c.u.admin.flag);
            assert_string_equal(c.u.admin.node_id, "DE-BAMF");
            break;
        case WIRE_ADMIN_DEAD_LETTERS:
            assert_int_equal(c.u.admin.limit, 7);
            assert_int_equal(c.u.admin.offset, 11);
            assert_string_equal(c.u.admin.node_id, "DE-BAMF");
            break;
        case WIRE_ADMIN_DEAD_LETTER_REPLAY:
        case WIRE_ADMIN_DEAD_LETTER_DROP:
            assert_int_equal(c.u.admin.n_ids, 3);
            assert_memory_equal(c.u.admin.ids, ids, sizeof ids);
            break;
        case WIRE_ADMIN_RELOAD:
            assert_true(c.u.admin.trust);
            assert_false(c.u.admin.policy);
            break;
        case WIRE_ADMIN_AUDIT_TAIL:
            assert_int_equal(c.u.admin.limit, 7);
            assert_int_equal(c.u.admin.seq_from, 3);
            break;
        case WIRE_ADMIN_AUDIT_VERIFY:
            assert_int_equal(c.u.admin.seq_from, 3);
            assert_int_equal(c.u.admin.seq_to, 1ull << 40);
            break;
        case WIRE_ADMIN_TOPICS: assert_string_equal(c.u.admin.topic, "stats.monthly"); break;
        case WIRE_ADMIN_PURGE:
            assert_string_equal(c.u.admin.node_id, "DE-BAMF");
            assert_memory_equal(c.u.admin.message_id, a.message_id, 16);
            assert_string_equal(c.u.admin.reason, "erasure request (Art. 17)");
            assert_string_equal(c.u.admin.reference, "DPO-2024/17");
            break;
        case WIRE_ADMIN_CONFIRM:
            assert_int_equal(c.u.admin.seq_from, 3);
            assert_true(c.u.admin.flag);
            break;
        default: break;
        }
        wire_cmd_clear(&c);
    }
    assert_string_equal(wire_admin_op_name(WIRE_ADMIN_NONE), "unknown");
    assert_string_equal(wire_kind_name(WIRE_ADMIN_REQUEST), "AdminRequest");
}

static void test_admin_request_refused(void **state)
{
    (void)state;
    wire_cmd c;
    /* no member: canonical protobuf, so BAD_FIELD (MALFORMED is for bytes that
     * protobuf-c or the canonical check refuse; fuzz_command's oracle relies on it) */
    Asylink__V1__AdminRequest ar = ASYLINK__V1__ADMIN_REQUEST__INIT;
    assert_int_equal(s_try(S_CMD(ADMIN_REQUEST, admin_request, &ar)), ASYLINK_E_BAD_FIELD);
    /* replay: all with ids, neither ids nor all, all without node, too many ids */
    uint64_t ids[WIRE_ADMIN_MAX_IDS + 1] = {0};
    wire_admin_request a = {
        .op = WIRE_ADMIN_DEAD_LETTER_REPLAY, .flag = true, .ids = ids, .n_ids = 1};
    S_SET(a.node_id, "DE-BAMF");
    assert_int_equal(s_admin_round(&a, &c), ASYLINK_E_BAD_FIELD);
    a.flag = false;
    a.n_ids = 0;
    assert_int_equal(s_admin_round(&a, &c), ASYLINK_E_BAD_FIELD);
    a.op = WIRE_ADMIN_DEAD_LETTER_DROP;
    a.flag = true;
    a.node_id[0] = 0;
    assert_int_equal(s_admin_round(&a, &c), ASYLINK_E_BAD_NODE_ID);
    a.flag = false;
    a.n_ids = WIRE_ADMIN_MAX_IDS + 1;
    assert_int_equal(s_admin_round(&a, &c), ASYLINK_E_BAD_FIELD);
    a.n_ids = WIRE_ADMIN_MAX_IDS;
    assert_int_equal(s_admin_round(&a, &c), ASYLINK_OK);
    wire_cmd_clear(&c);
    /* a bad node id, a bad topic prefix, a purge with a short id */
    a = (wire_admin_request){.op = WIRE_ADMIN_QUEUES};
    S_SET(a.node_id, "de bamf");
    assert_int_equal(s_admin_round(&a, &c), ASYLINK_E_BAD_NODE_ID);
    /* audit_verify: from after to */
    a = (wire_admin_request){.op = WIRE_ADMIN_AUDIT_VERIFY, .seq_from = 9, .seq_to = 8};
    assert_int_equal(s_admin_round(&a, &c), ASYLINK_E_BAD_FIELD);
    Asylink__V1__AdminTopicsRequest tr = ASYLINK__V1__ADMIN_TOPICS_REQUEST__INIT;
    tr.prefix = "bad topic!";
    ar.request_case = ASYLINK__V1__ADMIN_REQUEST__REQUEST_TOPICS;
    ar.topics = &tr;
    assert_int_equal(s_try(S_CMD(ADMIN_REQUEST, admin_request, &ar)), ASYLINK_E_BAD_FIELD);
    Asylink__V1__AdminPurgeRequest pr = ASYLINK__V1__ADMIN_PURGE_REQUEST__INIT;
    uint8_t id[16] = {1};
    pr.sender = "DE-BAMF";
    pr.message_id.data = id;
    pr.message_id.len = 15;
    ar.request_case = ASYLINK__V1__ADMIN_REQUEST__REQUEST_PURGE;
    ar.purge = &pr;
    assert_int_equal(s_try(S_CMD(ADMIN_REQUEST, admin_request, &ar)), ASYLINK_E_BAD_FIELD);
    pr.message_id.len = 16;
    pr.reason = "line\nbreak";
    assert_int_equal(s_try(S_CMD(ADMIN_REQUEST, admin_request, &ar)), ASYLINK_E_BAD_FIELD);
    pr.reason = "erasure request";
    assert_int_equal(s_try(S_CMD(ADMIN_REQUEST, admin_request, &ar)), ASYLINK_OK);
    pr.sender = ""; /* the sender is required */
    assert_int_equal(s_try(S_CMD(ADMIN_REQUEST, admin_request, &ar)), ASYLINK_E_BAD_NODE_ID);
    pr.sender = "DE-BAMF";
    char long_ref[WIRE_REASON_MAX + 2];
    memset(long_ref, 'r', sizeof long_ref - 1);
    long_ref[sizeof long_ref - 1] = 0;
    pr.reference = long_ref; /* longer than WIRE_REASON_MAX: refused, not cut */
    assert_int_equal(s_try(S_CMD(ADMIN_REQUEST, admin_request, &ar)), ASYLINK_E_BAD_FIELD);
    /* confirm needs a pending id */
    a = (wire_admin_request){.op = WIRE_ADMIN_CONFIRM};
    assert_int_equal(s_admin_round(&a, &c), ASYLINK_E_BAD_FIELD);
    /* an unknown op does not encode */
    a = (wire_admin_request){.op = (wire_admin_op)14};
    assert_int_equal(s_admin_round(&a, &c), ASYLINK_E_INVALID_ARG);
}

static void test_admin_response_framing(void **state)
{
    (void)state;
    const uint8_t body[] = {0x0a, 0x00}; /* AdminResponse {stats {}} */
    uint64_t rids[] = {0, 1, 127, 128, 1ull << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof rids / sizeof rids[0]; i++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(wire_admin_response_frame(rids[i], body, sizeof body, &buf, &len),
                         ASYLINK_OK);
        /* protobuf-c reads the same Command */
        Asylink__V1__Command *m = asylink__v1__command__unpack(NULL, len, buf);
        assert_non_null(m);
        assert_int_equal(m->request_id, rids[i]);
        assert_int_equal(m->body_case, ASYLINK__V1__COMMAND__BODY_ADMIN_RESPONSE);
        assert_true(codec_is_canonical(&m->base, buf, len));
        asylink__v1__command__free_unpacked(m, NULL);
        uint64_t rid = 99;
        const uint8_t *b = NULL;
        size_t blen = 0;
        assert_int_equal(wire_admin_response_body(buf, len, &rid, &b, &blen), ASYLINK_OK);
        assert_int_equal(rid, rids[i]);
        assert_int_equal(blen, sizeof body);
        assert_memory_equal(b, body, sizeof body);
        /* wire_decode does not take it */
        wire_cmd c;
        assert_int_equal(wire_decode(buf, len, &c), ASYLINK_E_MALFORMED);
        /* every truncation is refused */
        for (size_t n = 0; n < len; n++)
            assert_int_equal(wire_admin_response_body(buf, n, &rid, &b, &blen),
                             ASYLINK_E_MALFORMED);
        free(buf);
    }
    uint64_t rid;
    const uint8_t *b;
    size_t blen;
    /* zero request_id written, padded varints, trailing field, another body */
    static const uint8_t zero_rid[] = {0x08, 0x00, 0x9a, 0x01, 0x00};
    static const uint8_t padded_rid[] = {0x08, 0x85, 0x00, 0x9a, 0x01, 0x00};
    static const uint8_t padded_len[] = {0x9a, 0x01, 0x80, 0x00};
    static const uint8_t trailing[] = {0x9a, 0x01, 0x00, 0x08, 0x01};
    static const uint8_t error_body[] = {0x7a, 0x00};
    assert_int_equal(wire_admin_response_body(zero_rid, sizeof zero_rid, &rid, &b, &blen),
                     ASYLINK_E_MALFORMED);
    assert_int_equal(wire_admin_response_body(padded_rid, sizeof padded_rid, &rid, &b, &blen),
                     ASYLINK_E_MALFORMED);
    assert_int_equal(wire_admin_response_body(padded_len, sizeof padded_len, &rid, &b, &blen),
                     ASYLINK_E_MALFORMED);
    assert_int_equal(wire_admin_response_body(trailing, sizeof trailing, &rid, &b, &blen),
                     ASYLINK_E_MALFORMED);
    assert_int_equal(wire_admin_response_body(error_body, sizeof error_body, &rid, &b, &blen),
                     ASYLINK_E_MALFORMED);
    uint8_t *o = NULL;
    assert_int_equal(wire_admin_response_frame(1, NULL, 1, &o, &blen), ASYLINK_E_INVALID_ARG);
    assert_null(o);
}

static void test_too_large(void **state)
{
    (void)state;
    wire_cmd c;
    uint8_t *big = calloc(1, (size_t)WIRE_MAX_COMMAND + 1);
    assert_non_null(big);
    assert_int_equal(wire_decode(big, (size_t)WIRE_MAX_COMMAND + 1, &c), ASYLINK_E_TOO_LARGE);
    assert_int_equal(c.kind, WIRE_NONE);
    free(big);
}

/* Encoded Ack {sequences [1, 2], subscription "s"} with request_id 7, by hand. */
static const uint8_t s_ack_bytes[] = {0x08, 0x07, 0x42, 0x07, 0x0a, 0x02,
                                      0x01, 0x02, 0x12, 0x01, 's'};

static int s_decode_hex(const uint8_t *b, size_t n)
{
    wire_cmd c;
    int rc = s_decode_exact(b, n, &c);
    wire_cmd_clear(&c);
    return rc;
}

static void test_non_canonical(void **state)
{
    (void)state;
    assert_int_equal(s_decode_hex(s_ack_bytes, sizeof s_ack_bytes), ASYLINK_OK);
    /* every kind with an unknown field appended (field 99, varint 1) */
    for (size_t k = 0; k < N_KINDS; k++) {
        wire_cmd in;
        s_full(s_kinds[k], &in);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(wire_encode(&in, &buf, &len), ASYLINK_OK);
        wire_cmd_clear(&in);
        uint8_t *more = malloc(len + 3);
        assert_non_null(more);
        memcpy(more, buf, len);
        memcpy(more + len, "\x98\x06\x01", 3);
        assert_int_equal(s_decode_hex(more, len + 3), ASYLINK_E_MALFORMED);
        /* the same command twice (a repeated oneof member) */
        uint8_t *twice = malloc(2 * len);
        assert_non_null(twice);
        memcpy(twice, buf, len);
        memcpy(twice + len, buf, len);
        assert_int_equal(s_decode_hex(twice, 2 * len), ASYLINK_E_MALFORMED);
        free(twice);
        free(more);
        free(buf);
    }
    /* body before request_id */
    const uint8_t reordered[] = {0x42, 0x07, 0x0a, 0x02, 0x01, 0x02, 0x12, 0x01, 's', 0x08, 0x07};
    assert_int_equal(s_decode_hex(reordered, sizeof reordered), ASYLINK_E_MALFORMED);
    /* request_id 0 written out */
    const uint8_t zero_id[] = {0x08, 0x00, 0x42, 0x03, 0x0a, 0x01, 0x01};
    assert_int_equal(s_decode_hex(zero_id, sizeof zero_id), ASYLINK_E_MALFORMED);
    /* overlong varint for request_id 7 */
    const uint8_t overlong[] = {0x08, 0x87, 0x00, 0x42, 0x03, 0x0a, 0x01, 0x01};
    assert_int_equal(s_decode_hex(overlong, sizeof overlong), ASYLINK_E_MALFORMED);
    /* sequences not packed */
    const uint8_t unpacked[] = {0x08, 0x07, 0x42, 0x04, 0x08, 0x01, 0x08, 0x02};
    assert_int_equal(s_decode_hex(unpacked, sizeof unpacked), ASYLINK_E_MALFORMED);
    /* empty subscription written out */
    const uint8_t empty_str[] = {0x08, 0x07, 0x42, 0x05, 0x0a, 0x01, 0x01, 0x12, 0x00};
    assert_int_equal(s_decode_hex(empty_str, sizeof empty_str), ASYLINK_E_MALFORMED);
    /* a NUL inside a string: subscription "a\0b" */
    const uint8_t nul_str[] = {0x08, 0x07, 0x42, 0x08, 0x0a, 0x01,
                               0x01, 0x12, 0x03, 'a',  0x00, 'b'};
    assert_int_equal(s_decode_hex(nul_str, sizeof nul_str), ASYLINK_E_MALFORMED);
    /* Heartbeat pong encoded as bool 2 */
    const uint8_t bool2[] = {0x8a, 0x01, 0x02, 0x08, 0x02};
    assert_int_equal(s_decode_hex(bool2, sizeof bool2), ASYLINK_E_MALFORMED);
    const uint8_t bool1[] = {0x8a, 0x01, 0x02, 0x08, 0x01};
    assert_int_equal(s_decode_hex(bool1, sizeof bool1), ASYLINK_OK);
}

/* Appends a varint to p; returns the new end. */
static uint8_t *s_put_varint(uint8_t *p, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    return p;
}

/* Inputs that protobuf-c would expand many times over are refused up front
 * (see wire.c's pre-scan) with the code the full checks give. */
static void test_expansion_refused(void **state)
{
    (void)state;
    size_t n = 8u << 20;
    uint8_t *buf = malloc(n + 64);
    assert_non_null(buf);
    /* Ack with n packed one-byte sequence numbers (8 bytes each unpacked) */
    uint8_t *p = buf;
    *p++ = 0x42;
    p = s_put_varint(p, 1 + 4 + n);
    *p++ = 0x0a;
    p = s_put_varint(p, n);
    memset(p, 1, n);
    assert_int_equal(s_decode_hex(buf, (size_t)(p + n - buf)), ASYLINK_E_BAD_FIELD);
    /* request_id repeated n / 2 times (a scan record each) */
    for (size_t i = 0; i < n; i += 2) {
        buf[i] = 0x08;
        buf[i + 1] = 0x07;
    }
    assert_int_equal(s_decode_hex(buf, n), ASYLINK_E_MALFORMED);
    /* an unknown field n / 3 times (a copy each) */
    for (size_t i = 0; i + 3 <= n; i += 3)
        memcpy(buf + i, "\x98\x06\x01", 3);
    assert_int_equal(s_decode_hex(buf, n / 3 * 3), ASYLINK_E_MALFORMED);
    /* Ack of empty packed records, and of two packed records */
    p = buf;
    *p++ = 0x42;
    p = s_put_varint(p, n);
    for (size_t i = 0; i < n; i += 2) {
        p[i] = 0x0a;
        p[i + 1] = 0x00;
    }
    assert_int_equal(s_decode_hex(buf, (size_t)(p + n - buf)), ASYLINK_E_MALFORMED);
    const uint8_t two_records[] = {0x42, 0x06, 0x0a, 0x01, 0x01, 0x0a, 0x01, 0x02};
    assert_int_equal(s_decode_hex(two_records, sizeof two_records), ASYLINK_E_MALFORMED);
    const uint8_t cut_record[] = {0x42, 0x03, 0x0a, 0x01, 0x81};
    assert_int_equal(s_decode_hex(cut_record, sizeof cut_record), ASYLINK_E_MALFORMED);
    free(buf);
    /* Welcome with seven roles (one twice) */
    const uint8_t roles7[] = {0x1a, 0x1b, 0x2a, 0x10, 0,  1,    2,    3, 4, 5, 6, 7, 8, 9, 10,
                              11,   12,   13,   14,   15, 0x32, 0x07, 1, 2, 3, 4, 5, 6, 1};
    assert_int_equal(s_decode_hex(roles7, sizeof roles7), ASYLINK_E_BAD_FIELD);
    /* unknown fields inside a body and inside Welcome.limits */
    const uint8_t hello_f9[] = {0x12, 0x06, 0x12, 0x02, 'D', 'E', 0x48, 0x01};
    assert_int_equal(s_decode_hex(hello_f9, sizeof hello_f9), ASYLINK_E_MALFORMED);
    const uint8_t limits_f9[] = {0x1a, 0x16, 0x1a, 0x02, 0x48, 0x01, 0x2a, 0x10, 0,  1,  2,  3,
                                 4,    5,    6,    7,    8,    9,    10,   11,   12, 13, 14, 15};
    assert_int_equal(s_decode_hex(limits_f9, sizeof limits_f9), ASYLINK_E_MALFORMED);
    /* wrong wire type, field number 0, two different bodies, a group */
    const uint8_t wrong_type[] = {0x0a, 0x01, 0x07, 0x8a, 0x01, 0x00};
    assert_int_equal(s_decode_hex(wrong_type, sizeof wrong_type), ASYLINK_E_MALFORMED);
    const uint8_t field0[] = {0x00, 0x01, 0x8a, 0x01, 0x00};
    assert_int_equal(s_decode_hex(field0, sizeof field0), ASYLINK_E_MALFORMED);
    const uint8_t two_bodies[] = {0x52, 0x00, 0x8a, 0x01, 0x00};
    assert_int_equal(s_decode_hex(two_bodies, sizeof two_bodies), ASYLINK_E_MALFORMED);
    assert_int_equal(s_decode_hex(two_bodies + 2, 3), ASYLINK_OK); /* a lone Heartbeat */
    const uint8_t group[] = {0x0b, 0x0c, 0x8a, 0x01, 0x00};
    assert_int_equal(s_decode_hex(group, sizeof group), ASYLINK_E_MALFORMED);
}

#if !defined(S_ASAN) && defined(__linux__)
/* Current virtual memory size of this process in bytes (Linux), 0 if unknown. */
static size_t s_vm_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}
#endif

/* A 56 MiB Ack of one-byte sequence numbers decodes (to BAD_FIELD) within
 * 128 MiB of address space beyond the input: protobuf-c alone would ask for
 * 448 MiB and fail with MALFORMED. Run in a child under RLIMIT_AS; skipped
 * under AddressSanitizer, which reserves terabytes of address space. */
static void test_expansion_memory(void **state)
{
    (void)state;
#if defined(S_ASAN) || !defined(__linux__)
    skip();
#else
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        size_t n = 56u << 20;
        uint8_t *buf = malloc(n + 16), *p = buf;
        if (!buf)
            _exit(2);
        *p++ = 0x42;
        p = s_put_varint(p, 1 + 4 + n);
        *p++ = 0x0a;
        p = s_put_varint(p, n);
        memset(p, 1, n);
        size_t vm = s_vm_bytes();
        struct rlimit lim = {vm + (128u << 20), vm + (128u << 20)};
        if (vm == 0 || setrlimit(RLIMIT_AS, &lim) != 0)
            _exit(3);
        wire_cmd c;
        int rc = wire_decode(buf, (size_t)(p + n - buf), &c);
        _exit(rc == ASYLINK_E_BAD_FIELD ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
#endif
}

static void test_hello_fields(void **state)
{
    (void)state;
    Asylink__V1__Hello h = ASYLINK__V1__HELLO__INIT;
    h.node_id = "DE";
    assert_int_equal(s_try(S_CMD(HELLO, hello, &h)), ASYLINK_OK);
    const char *bad_ids[] = {"", "D", "de", ".DE", "DE FR", "D\xc3\x89"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        h.node_id = (char *)bad_ids[i];
        assert_int_equal(s_try(S_CMD(HELLO, hello, &h)), ASYLINK_E_BAD_NODE_ID);
    }
    char *id65 = s_rep('A', NODE_ID_MAX + 1);
    h.node_id = id65;
    assert_int_equal(s_try(S_CMD(HELLO, hello, &h)), ASYLINK_E_BAD_NODE_ID);
    id65[NODE_ID_MAX] = 0;
    assert_int_equal(s_try(S_CMD(HELLO, hello, &h)), ASYLINK_OK);
    free(id65);
    h.node_id = "DE";
    /* names: at most WIRE_NAME_MAX bytes of text */
    char *name = s_rep('n', WIRE_NAME_MAX + 1);
    h.client_name = name;
    assert_int_equal(s_try(S_CMD(HELLO, hello, &h)), ASYLINK_E_BAD_FIELD);
    name[WIRE_NAME_MAX] = 0;
    assert_int_equal(s_try(S_CMD(HELLO, hello, &h)), ASYLINK_OK);
    h.client_name = "";
    h.client_version = name;
    assert_int_equal(s_try(S_CMD(HELLO, hello, &h)), ASYLINK_OK);
    name[0] = '\n';
    assert_int_equal(s_try(S_CMD(HELLO, hello, &h)), ASYLINK_E_BAD_FIELD);
    free(name);
}

/* Every non-text string is BAD_FIELD in a Hello client_name. */
static void test_text_rules(void **state)
{
    (void)state;
    const char *bad[] = {
        "a\tb",
        "a\rb",
        "\x1b[31m",
        "del\x7f",
        "nel\xc2\x85",
        "csi\xc2\x9b",
        "\xff",
        "\xc0\xaf" /* overlong */,
        "\xed\xa0\x80" /* surrogate */,
        "\xf4\x90\x80\x80",
        "\xc3" /* cut */,
        "\xe2\x82" /* cut */,
        "\x80",
    };
    const char *good[] = {"libasylink",   "\xc3\xa9t\xc3\xa9", "\xe2\x82\xac 1",
                          "\xc2\xa0nbsp", "\xf0\x9f\x98\x80",  "a b!~"};
    Asylink__V1__Hello h = ASYLINK__V1__HELLO__INIT;
    h.node_id = "DE";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h.client_name = (char *)bad[i];
        assert_int_equal(s_try(S_CMD(HELLO, hello, &h)), ASYLINK_E_BAD_FIELD);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        h.client_name = (char *)good[i];
        assert_int_equal(s_try(S_CMD(HELLO, hello, &h)), ASYLINK_OK);
    }
    /* the same rules for reasons */
    Asylink__V1__Error e = ASYLINK__V1__ERROR__INIT;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.reason = (char *)bad[i];
        assert_int_equal(s_try(S_CMD(ERROR, error, &e)), ASYLINK_E_BAD_FIELD);
    }
}

static void test_welcome_fields(void **state)
{
    (void)state;
    uint8_t sid[17] = {0};
    Asylink__V1__Role roles[3] = {ASYLINK__V1__ROLE__ROLE_MEMBER_STATE,
                                  ASYLINK__V1__ROLE__ROLE_ANALYST};
    Asylink__V1__Welcome w = ASYLINK__V1__WELCOME__INIT;
    w.session_id.data = sid;
    w.session_id.len = 16;
    w.roles = roles;
    w.n_roles = 2;
    assert_int_equal(s_try(S_CMD(WELCOME, welcome, &w)), ASYLINK_OK); /* no broker id, no limits */
    size_t lens[] = {0, 15, 17};
    for (size_t i = 0; i < 3; i++) {
        w.session_id.len = lens[i];
        assert_int_equal(s_try(S_CMD(WELCOME, welcome, &w)), ASYLINK_E_BAD_FIELD);
    }
    w.session_id.len = 16;
    w.broker_node_id = "broker";
    assert_int_equal(s_try(S_CMD(WELCOME, welcome, &w)), ASYLINK_E_BAD_NODE_ID);
    w.broker_node_id = "BROKER.EU";
    int bad_roles[] = {0, 7, 100, -1};
    for (size_t i = 0; i < 4; i++) {
        roles[2] = (Asylink__V1__Role)bad_roles[i];
        w.n_roles = 3;
        assert_int_equal(s_try(S_CMD(WELCOME, welcome, &w)), ASYLINK_E_BAD_FIELD);
    }
    roles[2] = ASYLINK__V1__ROLE__ROLE_ANALYST; /* repeated role */
    assert_int_equal(s_try(S_CMD(WELCOME, welcome, &w)), ASYLINK_E_BAD_FIELD);
    roles[2] = ASYLINK__V1__ROLE__ROLE_CA;
    assert_int_equal(s_try(S_CMD(WELCOME, welcome, &w)), ASYLINK_OK);
    w.n_roles = 0;
    assert_int_equal(s_try(S_CMD(WELCOME, welcome, &w)), ASYLINK_OK);
    char *ver = s_rep('v', WIRE_NAME_MAX + 1);
    w.broker_version = ver;
    assert_int_equal(s_try(S_CMD(WELCOME, welcome, &w)), ASYLINK_E_BAD_FIELD);
    free(ver);
}

static void test_message_ids(void **state)
{
    (void)state;
    uint8_t id[17] = {1, 2, 3};
    ProtobufCBinaryData ok = {16, id}, short_id = {15, id}, long_id = {17, id}, none = {0, NULL};
    Asylink__V1__Publish p = ASYLINK__V1__PUBLISH__INIT;
    Asylink__V1__Accepted a = ASYLINK__V1__ACCEPTED__INIT;
    Asylink__V1__Rejected r = ASYLINK__V1__REJECTED__INIT;
    ProtobufCBinaryData bad[] = {none, short_id, long_id};
    p.message_id = a.message_id = r.message_id = ok;
    assert_int_equal(s_try(S_CMD(PUBLISH, publish, &p)), ASYLINK_OK);
    assert_int_equal(s_try(S_CMD(ACCEPTED, accepted, &a)), ASYLINK_OK);
    assert_int_equal(s_try(S_CMD(REJECTED, rejected, &r)), ASYLINK_OK);
    for (size_t i = 0; i < 3; i++) {
        p.message_id = a.message_id = r.message_id = bad[i];
        assert_int_equal(s_try(S_CMD(PUBLISH, publish, &p)), ASYLINK_E_BAD_FIELD);
        assert_int_equal(s_try(S_CMD(ACCEPTED, accepted, &a)), ASYLINK_E_BAD_FIELD);
        assert_int_equal(s_try(S_CMD(REJECTED, rejected, &r)),
                         i == 0 ? ASYLINK_OK : ASYLINK_E_BAD_FIELD);
    }
    /* Rejected without an id decodes with has_message_id false */
    wire_cmd c;
    memset(&c, 0, sizeof c);
    c.kind = WIRE_REJECTED;
    c.u.rejected.code = ASYLINK_E_MALFORMED;
    uint8_t *buf;
    size_t len;
    assert_int_equal(wire_encode(&c, &buf, &len), ASYLINK_OK);
    wire_cmd out;
    assert_int_equal(wire_decode(buf, len, &out), ASYLINK_OK);
    assert_false(out.u.rejected.has_message_id);
    assert_int_equal(out.u.rejected.code, ASYLINK_E_MALFORMED);
    wire_cmd_clear(&out);
    free(buf);
}

/* Decodes an Error with the given reason and returns the decoded reason. */
static void s_reason(const char *reason, char out[WIRE_REASON_MAX + 1])
{
    Asylink__V1__Error e = ASYLINK__V1__ERROR__INIT;
    e.reason = (char *)reason;
    const Asylink__V1__Command *m = S_CMD(ERROR, error, &e);
    uint8_t *buf = malloc(asylink__v1__command__get_packed_size(m));
    size_t n = asylink__v1__command__pack(m, buf);
    wire_cmd c;
    assert_int_equal(wire_decode(buf, n, &c), ASYLINK_OK);
    memcpy(out, c.u.error.reason, WIRE_REASON_MAX + 1);
    free(buf);
}

static void test_reason_cut(void **state)
{
    (void)state;
    char got[WIRE_REASON_MAX + 1];
    char src[1200];
    memset(src, 'a', 255);
    src[255] = 0;
    s_reason(src, got);
    assert_string_equal(got, src); /* exactly the limit: kept */
    memset(src, 'a', 1000);
    src[1000] = 0;
    s_reason(src, got);
    assert_int_equal(strlen(got), WIRE_REASON_MAX);
    /* 254 x 'a' + e-acute (2 bytes) = 256: the character would be split, drop it */
    memset(src, 'a', 254);
    memcpy(src + 254, "\xc3\xa9", 3);
    s_reason(src, got);
    assert_int_equal(strlen(got), 254);
    /* 253 x 'a' + euro sign (3 bytes) = 256: cut before the euro sign */
    memset(src, 'a', 253);
    memcpy(src + 253, "\xe2\x82\xac", 4);
    s_reason(src, got);
    assert_int_equal(strlen(got), 253);
    /* 253 x 'a' + e-acute = 255: fits whole */
    memset(src, 'a', 253);
    memcpy(src + 253, "\xc3\xa9", 3);
    s_reason(src, got);
    assert_string_equal(got, src);
    /* 4-byte characters all along: the cut lands on a boundary and stays valid */
    for (size_t i = 0; i < 300; i++)
        memcpy(src + 4 * i, "\xf0\x9f\x98\x80", 4);
    src[1196] = 0; /* 299 characters, 1196 bytes */
    s_reason(src, got);
    assert_int_equal(strlen(got), 252);
    assert_memory_equal(got, src, 252);
    /* the other reasons are cut the same way */
    memset(src, 'r', 600);
    src[600] = 0;
    Asylink__V1__Rejected r = ASYLINK__V1__REJECTED__INIT;
    r.reason = src;
    Asylink__V1__Bye b = ASYLINK__V1__BYE__INIT;
    b.reason = src;
    uint64_t seq = 1;
    Asylink__V1__Nack n = ASYLINK__V1__NACK__INIT;
    n.reason = src;
    n.sequences = &seq;
    n.n_sequences = 1;
    assert_int_equal(s_try(S_CMD(REJECTED, rejected, &r)), ASYLINK_OK);
    assert_int_equal(s_try(S_CMD(BYE, bye, &b)), ASYLINK_OK);
    assert_int_equal(s_try(S_CMD(NACK, nack, &n)), ASYLINK_OK);
    src[599] = '\x01';
    assert_int_equal(s_try(S_CMD(REJECTED, rejected, &r)), ASYLINK_E_BAD_FIELD);
    assert_int_equal(s_try(S_CMD(BYE, bye, &b)), ASYLINK_E_BAD_FIELD);
    assert_int_equal(s_try(S_CMD(NACK, nack, &n)), ASYLINK_E_BAD_FIELD);
}

static void test_subscriptions_and_topics(void **state)
{
    (void)state;
    const char *bad_subs[] = {"a b", "a/b", "caf\xc3\xa9", "a\nb", "a*"};
    char *sub64 = s_rep('s', WIRE_NAME_MAX);
    char *sub65 = s_rep('s', WIRE_NAME_MAX + 1);
    char *topic255 = s_rep('t', 255);
    char *topic256 = s_rep('t', 256);
    const char *bad_topics[] = {".a", "a.", "a..b", "a b", "a/b", "a*", topic256};
    Asylink__V1__Deliver d = ASYLINK__V1__DELIVER__INIT;
    Asylink__V1__Subscribe s = ASYLINK__V1__SUBSCRIBE__INIT;
    Asylink__V1__Subscribed sd = ASYLINK__V1__SUBSCRIBED__INIT;
    Asylink__V1__Unsubscribe u = ASYLINK__V1__UNSUBSCRIBE__INIT;
    Asylink__V1__Unsubscribed ud = ASYLINK__V1__UNSUBSCRIBED__INIT;
    uint64_t seq = 9;
    Asylink__V1__Ack a = ASYLINK__V1__ACK__INIT;
    a.sequences = &seq;
    a.n_sequences = 1;
    Asylink__V1__Nack n = ASYLINK__V1__NACK__INIT;
    n.sequences = &seq;
    n.n_sequences = 1;
    const char *good_subs[] = {"A-z_0.9", sub64};
    for (size_t i = 0; i < 2 + 5 + 1; i++) {
        const char *v = i < 2 ? good_subs[i] : i < 7 ? bad_subs[i - 2] : sub65;
        int want = i < 2 ? ASYLINK_OK : ASYLINK_E_BAD_FIELD;
        d.subscription = s.subscription = sd.subscription = u.subscription = ud.subscription =
            a.subscription = n.subscription = (char *)v;
        assert_int_equal(s_try(S_CMD(DELIVER, deliver, &d)), want);
        assert_int_equal(s_try(S_CMD(SUBSCRIBE, subscribe, &s)), want);
        assert_int_equal(s_try(S_CMD(SUBSCRIBED, subscribed, &sd)), want);
        assert_int_equal(s_try(S_CMD(UNSUBSCRIBE, unsubscribe, &u)), want);
        assert_int_equal(s_try(S_CMD(UNSUBSCRIBED, unsubscribed, &ud)), want);
        assert_int_equal(s_try(S_CMD(ACK, ack, &a)), want);
        assert_int_equal(s_try(S_CMD(NACK, nack, &n)), want);
    }
    d.subscription = s.subscription = sd.subscription = "";
    Asylink__V1__DirectoryRequest dr = ASYLINK__V1__DIRECTORY_REQUEST__INIT;
    Asylink__V1__Directory dir = ASYLINK__V1__DIRECTORY__INIT;
    const char *good_topics[] = {"stats", "stats.monthly.DE", "A-b_c.9", topic255};
    for (size_t i = 0; i < 4 + 7; i++) {
        const char *v = i < 4 ? good_topics[i] : bad_topics[i - 4];
        int want = i < 4 ? ASYLINK_OK : ASYLINK_E_BAD_FIELD;
        d.topic = s.topic_prefix = sd.topic_prefix = dr.topic = dir.topic = (char *)v;
        assert_int_equal(s_try(S_CMD(DELIVER, deliver, &d)), want);
        assert_int_equal(s_try(S_CMD(SUBSCRIBE, subscribe, &s)), want);
        assert_int_equal(s_try(S_CMD(SUBSCRIBED, subscribed, &sd)), want);
        assert_int_equal(s_try(S_CMD(DIRECTORY_REQUEST, directory_request, &dr)), want);
        assert_int_equal(s_try(S_CMD(DIRECTORY, directory, &dir)), want);
    }
    free(sub64);
    free(sub65);
    free(topic255);
    free(topic256);
}

static void test_sequences(void **state)
{
    (void)state;
    uint64_t *seqs = calloc(WIRE_MAX_SEQUENCES + 1, sizeof *seqs);
    assert_non_null(seqs);
    for (size_t i = 0; i <= WIRE_MAX_SEQUENCES; i++)
        seqs[i] = i * 3 + 1;
    Asylink__V1__Ack a = ASYLINK__V1__ACK__INIT;
    Asylink__V1__Nack n = ASYLINK__V1__NACK__INIT;
    a.sequences = n.sequences = seqs;
    size_t counts[] = {0, 1, WIRE_MAX_SEQUENCES, WIRE_MAX_SEQUENCES + 1};
    for (size_t i = 0; i < 4; i++) {
        a.n_sequences = n.n_sequences = counts[i];
        int want =
            counts[i] == 0 || counts[i] > WIRE_MAX_SEQUENCES ? ASYLINK_E_BAD_FIELD : ASYLINK_OK;
        assert_int_equal(s_try(S_CMD(ACK, ack, &a)), want);
        assert_int_equal(s_try(S_CMD(NACK, nack, &n)), want);
    }
    /* the biggest Ack decodes with every sequence in order */
    a.n_sequences = WIRE_MAX_SEQUENCES;
    const Asylink__V1__Command *m = S_CMD(ACK, ack, &a);
    uint8_t *buf = malloc(asylink__v1__command__get_packed_size(m));
    size_t len = asylink__v1__command__pack(m, buf);
    wire_cmd c;
    assert_int_equal(wire_decode(buf, len, &c), ASYLINK_OK);
    assert_int_equal(c.u.ack.n_sequences, WIRE_MAX_SEQUENCES);
    assert_memory_equal(c.u.ack.sequences, seqs, WIRE_MAX_SEQUENCES * sizeof *seqs);
    wire_cmd_clear(&c);
    free(buf);
    free(seqs);
}

/* n repeated copies of one string, in a malloc'd pointer array. */
static char **s_strs(const char *s, size_t n)
{
    char **v = calloc(n, sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = (char *)s;
    return v;
}

static void test_directory_request(void **state)
{
    (void)state;
    Asylink__V1__DirectoryRequest dr = ASYLINK__V1__DIRECTORY_REQUEST__INIT;
    char **ids = s_strs("FR", WIRE_MAX_DIRECTORY + 1);
    dr.node_ids = ids;
    dr.n_node_ids = WIRE_MAX_DIRECTORY;
    assert_int_equal(s_try(S_CMD(DIRECTORY_REQUEST, directory_request, &dr)), ASYLINK_OK);
    dr.n_node_ids = WIRE_MAX_DIRECTORY + 1;
    assert_int_equal(s_try(S_CMD(DIRECTORY_REQUEST, directory_request, &dr)), ASYLINK_E_BAD_FIELD);
    dr.n_node_ids = 3;
    const char *bad[] = {"", "fr", "F", "FR/IT"};
    for (size_t i = 0; i < 4; i++) {
        ids[2] = (char *)bad[i];
        assert_int_equal(s_try(S_CMD(DIRECTORY_REQUEST, directory_request, &dr)),
                         ASYLINK_E_BAD_NODE_ID);
    }
    dr.n_node_ids = 0;
    assert_int_equal(s_try(S_CMD(DIRECTORY_REQUEST, directory_request, &dr)), ASYLINK_OK);
    free(ids);
}

static void test_directory(void **state)
{
    (void)state;
    uint8_t *blob = calloc(1, (size_t)CRL_FILE_MAX + 1);
    assert_non_null(blob);
    ProtobufCBinaryData *certs = calloc(WIRE_MAX_DIRECTORY + 1, sizeof *certs);
    assert_non_null(certs);
    for (size_t i = 0; i <= WIRE_MAX_DIRECTORY; i++)
        certs[i] = (ProtobufCBinaryData){10, blob};
    Asylink__V1__Directory d = ASYLINK__V1__DIRECTORY__INIT;
    d.certificates = certs;
    d.n_certificates = WIRE_MAX_DIRECTORY;
    assert_int_equal(s_try(S_CMD(DIRECTORY, directory, &d)), ASYLINK_OK);
    d.n_certificates = WIRE_MAX_DIRECTORY + 1;
    assert_int_equal(s_try(S_CMD(DIRECTORY, directory, &d)), ASYLINK_E_BAD_FIELD);
    /* certificate sizes: 1..CERT_FILE_MAX; a bad one after good ones leaks nothing */
    d.n_certificates = 3;
    size_t sizes[] = {0, CERT_FILE_MAX + 1, 1, CERT_FILE_MAX};
    for (size_t i = 0; i < 4; i++) {
        certs[2].len = sizes[i];
        assert_int_equal(s_try(S_CMD(DIRECTORY, directory, &d)),
                         i < 2 ? ASYLINK_E_BAD_FIELD : ASYLINK_OK);
    }
    /* revocation list: up to CRL_FILE_MAX */
    d.revocation_list = (ProtobufCBinaryData){CRL_FILE_MAX, blob};
    assert_int_equal(s_try(S_CMD(DIRECTORY, directory, &d)), ASYLINK_OK);
    d.revocation_list.len = (size_t)CRL_FILE_MAX + 1;
    assert_int_equal(s_try(S_CMD(DIRECTORY, directory, &d)), ASYLINK_E_BAD_FIELD);
    d.revocation_list.len = 0;
    /* unknown node ids: valid, at most WIRE_MAX_DIRECTORY */
    char **ids = s_strs("IT", WIRE_MAX_DIRECTORY + 1);
    d.unknown_node_ids = ids;
    d.n_unknown_node_ids = WIRE_MAX_DIRECTORY;
    assert_int_equal(s_try(S_CMD(DIRECTORY, directory, &d)), ASYLINK_OK);
    d.n_unknown_node_ids = WIRE_MAX_DIRECTORY + 1;
    assert_int_equal(s_try(S_CMD(DIRECTORY, directory, &d)), ASYLINK_E_BAD_FIELD);
    d.n_unknown_node_ids = 2;
    ids[1] = "it";
    assert_int_equal(s_try(S_CMD(DIRECTORY, directory, &d)), ASYLINK_E_BAD_NODE_ID);
    ids[1] = "";
    assert_int_equal(s_try(S_CMD(DIRECTORY, directory, &d)), ASYLINK_E_BAD_NODE_ID);
    free(ids);
    free(certs);
    free(blob);
}

static void test_codes_copied(void **state)
{
    (void)state;
    /* ErrorCode, NackDisposition and StartPosition travel as plain ints */
    Asylink__V1__Error e = ASYLINK__V1__ERROR__INIT;
    e.code = (Asylink__V1__ErrorCode)12345;
    const Asylink__V1__Command *m = S_CMD(ERROR, error, &e);
    uint8_t buf[64];
    size_t len = asylink__v1__command__pack(m, buf);
    wire_cmd c;
    assert_int_equal(wire_decode(buf, len, &c), ASYLINK_OK);
    assert_int_equal(c.u.error.code, 12345);
    assert_int_equal(c.request_id, 7);
    wire_cmd_clear(&c);
}

/* Every strict prefix of every full command is refused, without leaks. */
static void test_truncations(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_KINDS; k++) {
        wire_cmd in;
        s_full(s_kinds[k], &in);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(wire_encode(&in, &buf, &len), ASYLINK_OK);
        wire_cmd_clear(&in);
        for (size_t n = 0; n < len; n++) {
            wire_cmd c;
            int rc = s_decode_exact(buf, n, &c);
            /* the body is the last field and one length-delimited record,
             * so no strict prefix of a Command is complete */
            assert_int_not_equal(rc, ASYLINK_OK);
            assert_int_equal(c.kind, WIRE_NONE);
            wire_cmd_clear(&c);
        }
        free(buf);
    }
}

/* What plain protobuf-c plus the canonical check say about buf: true when
 * it is no canonical Command of a kind wire.c handles. */
static bool s_reference_malformed(const uint8_t *buf, size_t len)
{
    Asylink__V1__Command *m = asylink__v1__command__unpack(NULL, len, buf);
    if (!m)
        return true;
    bool bad = !codec_is_canonical(&m->base, buf, len) ||
               strcmp(wire_kind_name((wire_kind)m->body_case), "unknown") == 0;
    asylink__v1__command__free_unpacked(m, NULL);
    return bad;
}

/* When input decodes, encoding it again must decode to the same command.
 * MALFORMED only when the reference says so (wire.c's pre-scan must not
 * refuse more), OK only when it does not. Returns whether the input decoded. */
static bool s_check_stable(const uint8_t *buf, size_t len)
{
    wire_cmd c;
    int rc = s_decode_exact(buf, len, &c);
    if (rc == ASYLINK_E_MALFORMED || rc == ASYLINK_OK)
        assert_int_equal(rc == ASYLINK_E_MALFORMED, s_reference_malformed(buf, len));
    if (rc == ASYLINK_OK) {
        uint8_t *again = NULL;
        size_t again_len = 0;
        assert_int_equal(wire_encode(&c, &again, &again_len), ASYLINK_OK);
        /* not necessarily the same bytes: long reasons are cut and roles
         * come back in ascending order; but the same command */
        wire_cmd d;
        assert_int_equal(s_decode_exact(again, again_len, &d), ASYLINK_OK);
        s_same(&c, &d);
        wire_cmd_clear(&d);
        free(again);
    } else {
        assert_int_equal(c.kind, WIRE_NONE);
    }
    wire_cmd_clear(&c);
    return rc == ASYLINK_OK;
}

static void test_random_garbage(void **state)
{
    (void)state;
    uint8_t buf[512];
    int decoded = 0;
    for (int round = 0; round < 10000; round++) {
        size_t len = (size_t)(s_rand() % sizeof buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)s_rand();
        /* half of the rounds start like a Command with a plausible body tag */
        if (len > 3 && (round & 1)) {
            buf[0] = (uint8_t)(((2 + s_rand() % 20) << 3) | 2);
            buf[1] = (uint8_t)(len - 2 < 0x80 ? len - 2 : 0x7f);
        }
        decoded += s_check_stable(buf, len);
    }
    print_message("garbage: %d of 10000 decode\n", decoded);
}

/*
 * wire_decode() and its general path (wire_decode_general()) give the same
 * code and, when they decode, commands that encode to the same bytes.
 * Returns whether they decode.
 */
static bool s_paths_agree(const uint8_t *buf, size_t len)
{
    wire_cmd a, b;
    int ra = wire_decode(buf, len, &a), rb = wire_decode_general(buf, len, &b);
    assert_int_equal(ra, rb);
    if (ra == ASYLINK_OK) {
        uint8_t *ea = NULL, *eb = NULL;
        size_t la = 0, lb = 0;
        assert_int_equal(wire_encode(&a, &ea, &la), ASYLINK_OK);
        assert_int_equal(wire_encode(&b, &eb, &lb), ASYLINK_OK);
        assert_int_equal(la, lb);
        assert_memory_equal(ea, eb, la);
        free(ea);
        free(eb);
    } else {
        assert_int_equal(a.kind, WIRE_NONE);
    }
    wire_cmd_clear(&a);
    wire_cmd_clear(&b);
    return ra == ASYLINK_OK;
}

static void test_random_mutations(void **state)
{
    (void)state;
    int decoded = 0;
    for (int round = 0; round < 10000; round++) {
        wire_cmd in;
        s_full(s_kinds[s_rand() % N_KINDS], &in);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(wire_encode(&in, &buf, &len), ASYLINK_OK);
        wire_cmd_clear(&in);
        int flips = 1 + (int)(s_rand() % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = (size_t)(s_rand() % len);
            if (s_rand() & 1)
                buf[at] ^= (uint8_t)(1u << (s_rand() % 8));
            else
                buf[at] = (uint8_t)s_rand();
        }
        decoded += s_check_stable(buf, len);
        (void)s_paths_agree(buf, len);
        free(buf);
    }
    print_message("mutations: %d of 10000 still decode\n", decoded);
    assert_true(decoded > 1000); /* the stability check above is not vacuous */
}

/* ---- Packed frames (protocol version 2) ---- */

/* Builds a Packed frame of the given raw body (the bytes after Packed's tag and length). */
static size_t s_packed_raw(uint8_t *out, const uint8_t *body, size_t body_len)
{
    size_t n = 0;
    out[n++] = 0xb2;
    out[n++] = 0x01;
    size_t v = body_len;
    do {
        out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    memcpy(out + n, body, body_len);
    return n + body_len;
}

/* A block starts at the size the last one used, not 4 KiB grown by copies; never above the close
 * size. */
static void test_packer_size_hint(void **state)
{
    (void)state;
    wire_packer p;
    wire_packer_init(&p, 16);
    static uint8_t env[8192];
    static const uint8_t cmd[] = {0x08, 0x01};
    for (int i = 0; i < 40; i++) /* 320 KiB */
        assert_int_equal(wire_packer_add(&p, cmd, sizeof cmd, env, sizeof env), ASYLINK_OK);
    size_t off = 0, len = 0, used = p.len;
    free(wire_packer_finish(&p, &off, &len));
    assert_int_equal(p.hint, used + used / 8);
    assert_int_equal(wire_packer_add(&p, cmd, sizeof cmd, env, 16), ASYLINK_OK);
    assert_int_equal(p.cap, used + used / 8); /* one allocation the size of the last block */
    for (int i = 0; i < 40; i++)
        assert_int_equal(wire_packer_add(&p, cmd, sizeof cmd, env, sizeof env), ASYLINK_OK);
    assert_int_equal(p.cap, used + used / 8); /* the same again fits */
    for (int i = 0; i < 60;
         i++) /* past WIRE_PACK_BYTES: the caller closes it; the hint stops there */
        assert_int_equal(wire_packer_add(&p, cmd, sizeof cmd, env, sizeof env), ASYLINK_OK);
    free(wire_packer_finish(&p, &off, &len));
    assert_int_equal(p.hint, WIRE_PACK_BYTES);
    assert_int_equal(wire_packer_add(&p, cmd, sizeof cmd, env, 16), ASYLINK_OK);
    assert_int_equal(p.cap, WIRE_PACK_BYTES);
    wire_packer_free(&p);
    assert_int_equal(p.hint, 0); /* freed: as new */
}

static void test_packed_round_trip(void **state)
{
    (void)state;
    wire_packer p;
    wire_packer_init(&p, 16);
    assert_int_equal(wire_packer_frame_len(&p), 0);
    wire_cmd pub = {.kind = WIRE_PUBLISH};
    memset(pub.u.publish.message_id, 0x11, 16);
    uint64_t seqs[] = {7, 9, 300};
    wire_cmd ack = {.kind = WIRE_ACK};
    ack.u.ack.sequences = seqs;
    ack.u.ack.n_sequences = 3;
    static const uint8_t env[] = "an envelope's bytes, opaque to the framing";
    uint8_t big[200];
    memset(big, 0xab, sizeof big); /* a length that needs a two-byte varint */
    assert_int_equal(wire_packer_add_cmd(&p, &pub, env, sizeof env), ASYLINK_OK);
    assert_int_equal(wire_packer_add_cmd(&p, &ack, NULL, 0), ASYLINK_OK);
    assert_int_equal(wire_packer_add_cmd(&p, &pub, big, sizeof big), ASYLINK_OK);
    assert_int_equal(p.items, 3);
    size_t expect = wire_packer_frame_len(&p), off = 0, len = 0;
    uint8_t *block = wire_packer_finish(&p, &off, &len);
    assert_non_null(block);
    assert_int_equal(len, expect);
    assert_true(off >= 16);
    assert_int_equal(p.items, 0); /* empty again */
    const uint8_t *f = block + off;
    assert_true(wire_is_packed(f, len));

    /* protobuf-c reads the same frame as a canonical Command with only `packed` */
    Asylink__V1__Command *m = asylink__v1__command__unpack(NULL, len, f);
    assert_non_null(m);
    assert_int_equal(m->body_case, ASYLINK__V1__COMMAND__BODY_PACKED);
    assert_int_equal(m->request_id, 0);
    assert_int_equal(m->packed->n_items, 3);
    assert_true(codec_is_canonical(&m->base, f, len));
    asylink__v1__command__free_unpacked(m, NULL);

    /* wire_decode does not take a Packed frame: it is split first */
    wire_cmd c;
    assert_int_equal(wire_decode(f, len, &c), ASYLINK_E_MALFORMED);
    wire_cmd_clear(&c);

    wire_unpacker u;
    size_t n = 0;
    assert_int_equal(wire_unpack_begin(&u, f, len, &n), ASYLINK_OK);
    assert_int_equal(n, 3);
    wire_item it;
    assert_true(wire_unpack_next(&u, &it));
    assert_int_equal(wire_decode(it.cmd, it.cmd_len, &c), ASYLINK_OK);
    assert_int_equal(c.kind, WIRE_PUBLISH);
    assert_memory_equal(c.u.publish.message_id, pub.u.publish.message_id, 16);
    assert_int_equal(it.env_len, sizeof env);
    assert_memory_equal(it.env, env, sizeof env);
    wire_cmd_clear(&c);
    assert_true(wire_unpack_next(&u, &it));
    assert_int_equal(wire_decode(it.cmd, it.cmd_len, &c), ASYLINK_OK);
    assert_int_equal(c.kind, WIRE_ACK);
    assert_int_equal(c.u.ack.n_sequences, 3);
    assert_int_equal(c.u.ack.sequences[2], 300);
    assert_null(it.env);
    assert_int_equal(it.env_len, 0);
    wire_cmd_clear(&c);
    assert_true(wire_unpack_next(&u, &it));
    assert_int_equal(it.env_len, sizeof big);
    assert_memory_equal(it.env, big, sizeof big);
    assert_false(wire_unpack_next(&u, &it));
    free(block);
    assert_null(wire_packer_finish(&p, &off, &len)); /* nothing packed */
    wire_packer_free(&p);

    /* a plain command is not a Packed frame */
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    assert_int_equal(wire_encode(&ack, &plain, &plain_len), ASYLINK_OK);
    assert_false(wire_is_packed(plain, plain_len));
    assert_int_equal(wire_unpack_begin(&u, plain, plain_len, &n), ASYLINK_E_MALFORMED);
    free(plain);
}

static void test_packed_refused(void **state)
{
    (void)state;
    uint8_t f[64];
    wire_unpacker u;
    size_t n = 99;
    /* the smallest valid item: 0a 03 (item) 0a 01 'x' (command) */
    static const uint8_t ok_item[] = {0x0a, 0x03, 0x0a, 0x01, 'x'};
    size_t len = s_packed_raw(f, ok_item, sizeof ok_item);
    assert_int_equal(wire_unpack_begin(&u, f, len, &n), ASYLINK_OK);
    assert_int_equal(n, 1);

    struct {
        const char *what;
        uint8_t body[16];
        size_t len;
        int code;
    } cases[] = {
        {"no item", {0}, 0, ASYLINK_E_BAD_FIELD},
        {"empty command", {0x0a, 0x02, 0x0a, 0x00}, 4, ASYLINK_E_MALFORMED},
        {"item without command", {0x0a, 0x03, 0x12, 0x01, 'e'}, 5, ASYLINK_E_MALFORMED},
        {"empty envelope", {0x0a, 0x05, 0x0a, 0x01, 'x', 0x12, 0x00}, 7, ASYLINK_E_MALFORMED},
        {"envelope before command",
         {0x0a, 0x06, 0x12, 0x01, 'e', 0x0a, 0x01, 'x'},
         8,
         ASYLINK_E_MALFORMED},
        {"unknown field in an item",
         {0x0a, 0x05, 0x0a, 0x01, 'x', 0x18, 0x01},
         7,
         ASYLINK_E_MALFORMED},
        {"unknown field in Packed",
         {0x0a, 0x03, 0x0a, 0x01, 'x', 0x10, 0x01},
         7,
         ASYLINK_E_MALFORMED},
        {"padded item length", {0x0a, 0x83, 0x00, 0x0a, 0x01, 'x'}, 6, ASYLINK_E_MALFORMED},
        {"padded command length", {0x0a, 0x04, 0x0a, 0x81, 0x00, 'x'}, 6, ASYLINK_E_MALFORMED},
        {"item past its end", {0x0a, 0x09, 0x0a, 0x01, 'x'}, 5, ASYLINK_E_MALFORMED},
        {"command past its item", {0x0a, 0x03, 0x0a, 0x05, 'x'}, 5, ASYLINK_E_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        len = s_packed_raw(f, cases[i].body, cases[i].len);
        int rc = wire_unpack_begin(&u, f, len, &n);
        if (rc != cases[i].code)
            fail_msg("%s: got %d, expected %d", cases[i].what, rc, cases[i].code);
        assert_int_equal(n, 0);
        assert_false(wire_unpack_next(&u, &(wire_item){0}));
    }

    /* Packed's own length: padded, too short, too long, trailing bytes */
    uint8_t padded[] = {0xb2, 0x01, 0x85, 0x00, 0x0a, 0x03, 0x0a, 0x01, 'x'};
    assert_int_equal(wire_unpack_begin(&u, padded, sizeof padded, &n), ASYLINK_E_MALFORMED);
    len = s_packed_raw(f, ok_item, sizeof ok_item);
    f[2]--; /* says one byte less than follows */
    assert_int_equal(wire_unpack_begin(&u, f, len, &n), ASYLINK_E_MALFORMED);
    f[2] += 2; /* one byte more */
    assert_int_equal(wire_unpack_begin(&u, f, len, &n), ASYLINK_E_MALFORMED);
    /* a request_id in front: not a Packed frame (the broker then refuses it as a command) */
    uint8_t with_id[sizeof f + 2] = {0x08, 0x05};
    len = s_packed_raw(with_id + 2, ok_item, sizeof ok_item);
    assert_false(wire_is_packed(with_id, len + 2));
    assert_int_equal(wire_unpack_begin(&u, with_id, len + 2, &n), ASYLINK_E_MALFORMED);
    wire_cmd c;
    assert_int_not_equal(wire_decode(with_id, len + 2, &c), ASYLINK_OK);
    wire_cmd_clear(&c);
    /* every truncation of a valid frame is refused */
    len = s_packed_raw(f, ok_item, sizeof ok_item);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_not_equal(wire_unpack_begin(&u, f, cut, &n), ASYLINK_OK);
    assert_int_equal(wire_unpack_begin(&u, NULL, 0, &n), ASYLINK_E_MALFORMED);
}

static void test_packed_item_limit(void **state)
{
    (void)state;
    wire_packer p;
    wire_packer_init(&p, 0);
    static const uint8_t cmd[] = {0x7a, 0x00}; /* any bytes: the framing does not decode them */
    for (size_t i = 0; i < WIRE_MAX_PACKED; i++)
        assert_int_equal(wire_packer_add(&p, cmd, sizeof cmd, NULL, 0), ASYLINK_OK);
    size_t off = 0, len = 0, n = 0;
    uint8_t *block = wire_packer_finish(&p, &off, &len);
    wire_unpacker u;
    assert_int_equal(wire_unpack_begin(&u, block + off, len, &n), ASYLINK_OK);
    assert_int_equal(n, WIRE_MAX_PACKED);
    free(block);
    for (size_t i = 0; i < WIRE_MAX_PACKED + 1; i++)
        assert_int_equal(wire_packer_add(&p, cmd, sizeof cmd, NULL, 0), ASYLINK_OK);
    block = wire_packer_finish(&p, &off, &len);
    assert_int_equal(wire_unpack_begin(&u, block + off, len, &n), ASYLINK_E_BAD_FIELD);
    assert_int_equal(n, 0);
    free(block);
    assert_int_equal(wire_packer_add(&p, NULL, 1, NULL, 0), ASYLINK_E_INVALID_ARG);
    assert_int_equal(wire_packer_add(&p, cmd, 0, NULL, 0), ASYLINK_E_INVALID_ARG);
    wire_packer_free(&p);
}

/* A random 64-bit value, often 0 or small (every varint length gets exercised). */
static uint64_t s_rand_u64(void)
{
    uint64_t v = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
    switch (rand() % 4) {
    case 0: return 0;
    case 1: return v & 0x7f;
    case 2: return v >> (rand() % 64);
    default: return v;
    }
}

/* Accepted and Deliver have a direct encoder: byte for byte what protobuf-c writes. */
static void test_fast_encoders_match_protobuf_c(void **state)
{
    (void)state;
    srand(4242);
    for (int i = 0; i < 2000; i++) {
        wire_cmd c = {.kind = i % 2 ? WIRE_DELIVER : WIRE_ACCEPTED, .request_id = s_rand_u64()};
        Asylink__V1__Command m = ASYLINK__V1__COMMAND__INIT;
        Asylink__V1__Accepted a = ASYLINK__V1__ACCEPTED__INIT;
        Asylink__V1__Deliver d = ASYLINK__V1__DELIVER__INIT;
        m.request_id = c.request_id;
        if (c.kind == WIRE_ACCEPTED) {
            for (int k = 0; k < 16; k++)
                c.u.accepted.message_id[k] = (uint8_t)rand();
            c.u.accepted.duplicate = rand() % 2;
            c.u.accepted.store_sequence = s_rand_u64();
            c.u.accepted.accepted_ms = s_rand_u64();
            a.message_id = (ProtobufCBinaryData){16, c.u.accepted.message_id};
            a.duplicate = c.u.accepted.duplicate;
            a.store_sequence = c.u.accepted.store_sequence;
            a.accepted_ms = c.u.accepted.accepted_ms;
            m.body_case = ASYLINK__V1__COMMAND__BODY_ACCEPTED;
            m.accepted = &a;
        } else {
            c.u.deliver.sequence = s_rand_u64();
            c.u.deliver.attempt = (uint32_t)s_rand_u64();
            c.u.deliver.accepted_ms = s_rand_u64();
            size_t ls = (size_t)(rand() % 3 ? 0 : rand() % WIRE_NAME_MAX + 1);
            size_t lt = (size_t)(rand() % 3 ? 0 : rand() % 255 + 1);
            for (size_t k = 0; k < ls; k++)
                c.u.deliver.subscription[k] = (char)('a' + rand() % 26);
            for (size_t k = 0; k < lt; k++)
                c.u.deliver.topic[k] = (char)('a' + rand() % 26);
            d.sequence = c.u.deliver.sequence;
            d.attempt = c.u.deliver.attempt;
            d.accepted_ms = c.u.deliver.accepted_ms;
            d.subscription = c.u.deliver.subscription;
            d.topic = c.u.deliver.topic;
            m.body_case = ASYLINK__V1__COMMAND__BODY_DELIVER;
            m.deliver = &d;
        }
        size_t want_len = asylink__v1__command__get_packed_size(&m);
        uint8_t *want = malloc(want_len), *got = NULL;
        size_t got_len = 0;
        assert_non_null(want);
        assert_int_equal(asylink__v1__command__pack(&m, want), want_len);
        assert_int_equal(wire_encode(&c, &got, &got_len), ASYLINK_OK);
        assert_int_equal(got_len, want_len);
        assert_memory_equal(got, want, want_len);
        wire_cmd back;
        assert_int_equal(wire_decode(got, got_len, &back), ASYLINK_OK);
        assert_int_equal(back.kind, c.kind);
        assert_int_equal(back.request_id, c.request_id);
        wire_cmd_clear(&back);
        free(want);
        free(got);
    }
    /* a string that is not NUL-terminated in its buffer is refused, as by the general path */
    wire_cmd bad = {.kind = WIRE_DELIVER};
    memset(bad.u.deliver.topic, 'x', sizeof bad.u.deliver.topic);
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(wire_encode(&bad, &out, &out_len), ASYLINK_E_INVALID_ARG);
    assert_null(out);
}

/* The Publish every message carries has one canonical form, read without protobuf-c. */
/* Every kind, whole and cut at every byte: the fast paths and the general path agree. */
static void test_fast_paths_agree(void **state)
{
    (void)state;
    size_t decoded = 0;
    for (size_t k = 0; k < N_KINDS; k++) {
        wire_cmd in;
        s_full(s_kinds[k], &in);
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(wire_encode(&in, &buf, &len), ASYLINK_OK);
        wire_cmd_clear(&in);
        assert_true(s_paths_agree(buf, len));
        for (size_t n = 0; n < len; n++)
            decoded += s_paths_agree(buf, n);
        for (size_t i = 0; i < len; i++) { /* each byte bumped */
            buf[i]++;
            decoded += s_paths_agree(buf, len);
            buf[i]--;
        }
        free(buf);
    }
    assert_true(decoded > 0);
}

static void test_publish_fast_decode(void **state)
{
    (void)state;
    uint8_t id[16];
    for (int k = 0; k < 16; k++)
        id[k] = (uint8_t)(0xa0 + k);
    Asylink__V1__Command m = ASYLINK__V1__COMMAND__INIT;
    Asylink__V1__Publish p = ASYLINK__V1__PUBLISH__INIT;
    p.message_id = (ProtobufCBinaryData){16, id};
    m.body_case = ASYLINK__V1__COMMAND__BODY_PUBLISH;
    m.publish = &p;
    uint8_t buf[64];
    size_t n = asylink__v1__command__pack(&m, buf);
    assert_int_equal(n, 20); /* the form the fast path takes */
    wire_cmd c;
    assert_int_equal(wire_decode(buf, n, &c), ASYLINK_OK);
    assert_int_equal(c.kind, WIRE_PUBLISH);
    assert_int_equal(c.request_id, 0);
    assert_memory_equal(c.u.publish.message_id, id, 16);
    /* the same Publish with a request_id takes the general path and agrees */
    m.request_id = 300;
    n = asylink__v1__command__pack(&m, buf);
    assert_int_equal(wire_decode(buf, n, &c), ASYLINK_OK);
    assert_int_equal(c.kind, WIRE_PUBLISH);
    assert_int_equal(c.request_id, 300);
    assert_memory_equal(c.u.publish.message_id, id, 16);
    /* 20 bytes that only look alike: a 15-byte id with a trailing field is refused */
    static const uint8_t odd[20] = {0x22, 0x12, 0x0a, 0x0f, 1,  2,  3,  4,  5,  6,
                                    7,    8,    9,    10,   11, 12, 13, 14, 15, 0x10};
    assert_int_not_equal(wire_decode(odd, sizeof odd, &c), ASYLINK_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_kind),
        cmocka_unit_test(test_round_trip_minimal),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_encode_invalid),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_admin_request),
        cmocka_unit_test(test_admin_request_refused),
        cmocka_unit_test(test_admin_response_framing),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_non_canonical),
        cmocka_unit_test(test_expansion_refused),
        cmocka_unit_test(test_expansion_memory),
        cmocka_unit_test(test_hello_fields),
        cmocka_unit_test(test_text_rules),
        cmocka_unit_test(test_welcome_fields),
        cmocka_unit_test(test_message_ids),
        cmocka_unit_test(test_reason_cut),
        cmocka_unit_test(test_subscriptions_and_topics),
        cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_directory_request),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_codes_copied),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_random_mutations),
        cmocka_unit_test(test_fast_paths_agree),
        cmocka_unit_test(test_packed_round_trip),
        cmocka_unit_test(test_packer_size_hint),
        cmocka_unit_test(test_packed_refused),
        cmocka_unit_test(test_packed_item_limit),
        cmocka_unit_test(test_fast_encoders_match_protobuf_c),
        cmocka_unit_test(test_publish_fast_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
