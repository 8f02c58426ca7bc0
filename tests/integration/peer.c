/*
 * peer.c — asylink-peer, a scriptable node for the broker integration tests
 * (tests/integration/0[2-9]-broker-*.sh). It speaks the client <-> broker
 * protocol (proto/asylink/v1/broker.proto) directly through core/wire.h and
 * core/envelope.h, so a test can drive the broker exactly, including in
 * ways no well-behaved client library ever would.
 *
 *   asylink-peer send     --to FR,IT --count N [--size B] [--class C] [--rate R]
 *                         [--window W] [--ids-out F] [--sent-out F] [--content-type T]
 *                         [--message-id UUID]
 *   asylink-peer recv     --count N [--window W] [--ids-out F] [--no-ack]
 *                         [--exit-after-recv K] [--any-payload]
 *   asylink-peer exchange --to FR --count N --recv-count M [--ids-out F] [--recv-ids-out F]
 *   asylink-peer hostile  --case NAME [--to NODE] [--size B] [--other NODE] [--topic T]
 *   asylink-peer publish  --topic T --count N [--class PUBLIC|LIMITED] [--to READERS]
 *                         [--ids-out F] [--sent-out F] (feed publish; PUBLIC: signed only)
 *   asylink-peer subscribe --prefix P --name N [--start new|earliest] --count N
 *                         [--ids-out F] [--exit-after-recv K] [--reset] [--window W]
 *   asylink-peer connect-only
 *
 * Common options: --broker ENDPOINT --broker-cert FILE --key FILE --cert FILE
 * --trust DIR [--timeout SECONDS]. Every wait is bounded by --timeout.
 *
 * Output (stdout, one line each, flushed): "event=welcome ..." per session
 * opened, "event=error|bye code=NAME ..." for session-ending errors, and a
 * final summary line per role:
 *   sent=N accepted=A duplicates=D rejected=R codes=NAME:n,... sessions=S timeout=0|1
 *   received=N distinct=D duplicates=U bad=B out_of_order=K redelivered=X sessions=S timeout=0|1
 *            batched=N max_batch=M   (envelopes signed in a batch, PROTOCOL.md 4.10, each
 *            verified alone without a verified-root cache; the largest batch size seen)
 * --any-payload accepts payloads of other senders (e.g. libasylink's) instead of
 * checking the bytes this program derives from the message id.
 * subscribe also prints "event=subscribed name=N prefix=P created=0|1 next=S head=H" per
 * session and "event=sub-error code=NAME" (then exits 3) when the Subscribe is refused.
 * hostile prints one verdict: REJECTED <CODE> | ERROR <CODE> | BYE <CODE> |
 * ACCEPTED [DUPLICATE] | DISCONNECTED | NO_ANSWER; connect-only prints WELCOME
 * or NO_ANSWER. Diagnostics go to stderr.
 *
 * Exit status: 0 done (send: every message answered and none rejected;
 * recv: distinct >= count; hostile: an answer or a disconnect; connect-only:
 * WELCOME), 1 not done (timeout, rejections, NO_ANSWER), 2 usage, 3 the
 * session was ended by the broker for good (e.g. REVOKED).
 *
 * Message ids are UUIDv7 made strictly increasing per peer run (a counter in
 * rand_a), so a receiver can check per-sender FIFO order by comparing ids.
 * Payload bytes are derived from the message id, so the receiver can check
 * them without knowing the sender's settings.
 *
 * Threading: one thread, one event loop over the DEALER socket and its
 * monitor.
 */
#include "asylink/asylink.h"
#include "cert.h"
#include "clock.h"
#include "envelope.h"
#include "keys.h"
#include "trust.h"
#include "uuid.h"
#include "wire.h"
#include "asylink/v1/envelope.pb-c.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define PEER_MAX_TO 16
#define PEER_RESEND_MS 2000      /* resend a Publish unanswered this long */
#define PEER_HELLO_RETRY_MS 3000 /* resend Hello unanswered this long */
#define PEER_LINGER_MS 2000      /* time to flush the last Acks on exit */
#define PEER_MONITOR "inproc://asylink-peer-monitor"
#define PEER_BIGFRAME (100u * 1024u * 1024u)

enum { EXIT_DONE = 0, EXIT_NOT_DONE = 1, EXIT_USAGE = 2, EXIT_ENDED = 3 };

static volatile sig_atomic_t s_interrupted;

static void s_on_signal(int sig)
{
    (void)sig;
    s_interrupted = 1;
}

/* ---- options ---- */

typedef struct {
    const char *mode;            /* subcommand */
    const char *broker;          /* --broker endpoint */
    const char *broker_cert;     /* --broker-cert file */
    const char *key;             /* --key file */
    const char *cert;            /* --cert file (own) */
    const char *trust;           /* --trust dir */
    double timeout_s;            /* --timeout */
    char *to[PEER_MAX_TO];       /* --to, split (owned) */
    size_t n_to;
    long count;                  /* --count: messages to send (send) or receive (recv) */
    long recv_count;             /* --recv-count (exchange) */
    long size;                   /* --size payload bytes; -1 = default */
    int classification;          /* --class */
    double rate;                 /* --rate msgs/s; 0 = unlimited */
    long window;                 /* --window; 0 = default */
    const char *ids_out;         /* --ids-out */
    const char *sent_out;        /* --sent-out (send) */
    const char *recv_ids_out;    /* --recv-ids-out (exchange) */
    const char *content_type;    /* --content-type */
    bool no_ack;                 /* --no-ack */
    long exit_after;             /* --exit-after-recv; 0 = off */
    bool any_payload;            /* --any-payload */
    const char *hostile_case;    /* --case */
    const char *other;           /* --other: node id to impersonate */
    const char *topic;           /* --topic (publish, hostile personal-topic) */
    const char *prefix;          /* --prefix (subscribe) */
    const char *sub_name;        /* --name (subscribe) */
    int start;                   /* --start: 1 new, 2 earliest */
    bool reset;                  /* --reset (subscribe) */
    bool class_set;              /* --class given */
    const char *message_id;      /* --message-id: every message gets this id (send) */
} s_opts;

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: asylink-peer MODE --broker ENDPOINT --broker-cert FILE --key FILE\n"
            "                    --cert FILE --trust DIR [--timeout SECONDS] [options]\n"
            "modes:\n"
            "  send         --to A,B --count N [--size BYTES] [--class LIMITED|PERSONAL|PUBLIC]\n"
            "               [--rate MSGS_PER_S] [--window N] [--ids-out F] [--sent-out F]\n"
            "               [--content-type T] [--message-id UUID]\n"
            "               (--message-id: every message gets that id, for dedup tests)\n"
            "  recv         --count N [--window N] [--ids-out F] [--no-ack] [--exit-after-recv K]\n"
            "               [--any-payload]\n"
            "  exchange     send and recv in one session: send options plus --recv-count M\n"
            "               [--recv-ids-out F]\n"
            "  hostile      --case NAME [--to NODE] [--size BYTES] [--other NODE]; cases:\n"
            "               garbage truncated bigframe toolarge maxsize forged-sender\n"
            "               bad-signature replay unknown-recipient expired future policy\n"
            "               no-hello hello-wrong-id bad-version wrong-id no-envelope\n"
            "               extra-frame garbage-envelope big-ack personal-topic\n"
            "               dir-toomany dir-flood [--count N]\n"
            "               raw-garbage raw-bigframe admin-stats admin-topics (no Hello first)\n"
            "  publish      --topic T --count N [--class PUBLIC|LIMITED] [--to READERS]\n"
            "               [--ids-out F] [--sent-out F] [--window N] [--rate R]\n"
            "  subscribe    --prefix P --name N [--start new|earliest] --count N [--reset]\n"
            "               [--ids-out F] [--exit-after-recv K] [--window N]\n"
            "  connect-only Hello and report WELCOME or NO_ANSWER\n");
}

static int s_parse_long(const char *name, const char *arg, long min, long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (errno || end == arg || *end || v < min) {
        fprintf(stderr, "asylink-peer: invalid %s: %s\n", name, arg);
        return -1;
    }
    *out = (long)v;
    return 0;
}

static int s_parse_double(const char *name, const char *arg, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || v < 0) {
        fprintf(stderr, "asylink-peer: invalid %s: %s\n", name, arg);
        return -1;
    }
    *out = v;
    return 0;
}

/* Splits "FR,IT" into o->to. */
static int s_parse_to(s_opts *o, const char *arg)
{
    const char *p = arg;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len > NODE_ID_MAX || o->n_to == PEER_MAX_TO) {
            fprintf(stderr, "asylink-peer: invalid --to: %s\n", arg);
            return -1;
        }
        o->to[o->n_to] = strndup(p, len);
        if (!o->to[o->n_to])
            return -1;
        o->n_to++;
        p += len + (comma ? 1 : 0);
    }
    return o->n_to ? 0 : -1;
}

enum {
    O_BROKER = 256, O_BROKER_CERT, O_KEY, O_CERT, O_TRUST, O_TIMEOUT, O_TO, O_COUNT,
    O_RECV_COUNT, O_SIZE, O_CLASS, O_RATE, O_WINDOW, O_IDS_OUT, O_SENT_OUT, O_RECV_IDS_OUT,
    O_CONTENT_TYPE, O_NO_ACK, O_EXIT_AFTER, O_CASE, O_OTHER, O_HELP, O_TOPIC, O_PREFIX,
    O_NAME, O_START, O_RESET, O_MESSAGE_ID, O_ANY_PAYLOAD,
};

static const struct option s_long_opts[] = {
    {"broker", required_argument, NULL, O_BROKER},
    {"broker-cert", required_argument, NULL, O_BROKER_CERT},
    {"key", required_argument, NULL, O_KEY},
    {"cert", required_argument, NULL, O_CERT},
    {"trust", required_argument, NULL, O_TRUST},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"to", required_argument, NULL, O_TO},
    {"count", required_argument, NULL, O_COUNT},
    {"recv-count", required_argument, NULL, O_RECV_COUNT},
    {"size", required_argument, NULL, O_SIZE},
    {"class", required_argument, NULL, O_CLASS},
    {"rate", required_argument, NULL, O_RATE},
    {"window", required_argument, NULL, O_WINDOW},
    {"ids-out", required_argument, NULL, O_IDS_OUT},
    {"sent-out", required_argument, NULL, O_SENT_OUT},
    {"recv-ids-out", required_argument, NULL, O_RECV_IDS_OUT},
    {"content-type", required_argument, NULL, O_CONTENT_TYPE},
    {"no-ack", no_argument, NULL, O_NO_ACK},
    {"exit-after-recv", required_argument, NULL, O_EXIT_AFTER},
    {"case", required_argument, NULL, O_CASE},
    {"other", required_argument, NULL, O_OTHER},
    {"help", no_argument, NULL, O_HELP},
    {"topic", required_argument, NULL, O_TOPIC},
    {"prefix", required_argument, NULL, O_PREFIX},
    {"name", required_argument, NULL, O_NAME},
    {"start", required_argument, NULL, O_START},
    {"reset", no_argument, NULL, O_RESET},
    {"message-id", required_argument, NULL, O_MESSAGE_ID},
    {"any-payload", no_argument, NULL, O_ANY_PAYLOAD},
    {NULL, 0, NULL, 0},
};

/* One option; returns 0, 1 for --help, -1 on error. */
static int s_apply_opt(s_opts *o, int ch, const char *arg)
{
    switch (ch) {
    case O_BROKER: o->broker = arg; return 0;
    case O_BROKER_CERT: o->broker_cert = arg; return 0;
    case O_KEY: o->key = arg; return 0;
    case O_CERT: o->cert = arg; return 0;
    case O_TRUST: o->trust = arg; return 0;
    case O_TIMEOUT: return s_parse_double("--timeout", arg, &o->timeout_s);
    case O_TO: return s_parse_to(o, arg);
    case O_COUNT: return s_parse_long("--count", arg, 0, &o->count);
    case O_RECV_COUNT: return s_parse_long("--recv-count", arg, 0, &o->recv_count);
    case O_SIZE: return s_parse_long("--size", arg, 0, &o->size);
    case O_TOPIC: o->topic = arg; return 0;
    case O_PREFIX: o->prefix = arg; return 0;
    case O_NAME: o->sub_name = arg; return 0;
    case O_RESET: o->reset = true; return 0;
    case O_MESSAGE_ID: o->message_id = arg; return 0;
    case O_ANY_PAYLOAD: o->any_payload = true; return 0;
    case O_START:
        o->start = strcmp(arg, "new") == 0 ? 1 : strcmp(arg, "earliest") == 0 ? 2 : -1;
        if (o->start < 0)
            fprintf(stderr, "asylink-peer: invalid --start: %s\n", arg);
        return o->start < 0 ? -1 : 0;
    case O_CLASS:
        o->class_set = true;
        o->classification = envelope_class_parse(arg);
        if (o->classification < 0)
            fprintf(stderr, "asylink-peer: invalid --class: %s\n", arg);
        return o->classification < 0 ? -1 : 0;
    case O_RATE: return s_parse_double("--rate", arg, &o->rate);
    case O_WINDOW: return s_parse_long("--window", arg, 1, &o->window);
    case O_IDS_OUT: o->ids_out = arg; return 0;
    case O_SENT_OUT: o->sent_out = arg; return 0;
    case O_RECV_IDS_OUT: o->recv_ids_out = arg; return 0;
    case O_CONTENT_TYPE: o->content_type = arg; return 0;
    case O_NO_ACK: o->no_ack = true; return 0;
    case O_EXIT_AFTER: return s_parse_long("--exit-after-recv", arg, 1, &o->exit_after);
    case O_CASE: o->hostile_case = arg; return 0;
    case O_OTHER: o->other = arg; return 0;
    case O_HELP: return 1;
    default: return -1;
    }
}

/* Parses argv into o; returns -1 to continue, else an exit status. */
static int s_parse(int argc, char **argv, s_opts *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_s = 30;
    o->size = -1;
    o->classification = ENVELOPE_LIMITED;
    o->content_type = "application/x-asylink-peer";
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_DONE;
    }
    o->mode = argv[1];
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc - 1, argv + 1, "", s_long_opts, NULL)) != -1) {
        int rc = s_apply_opt(o, ch, optarg);
        if (rc == 1) {
            s_usage(stdout);
            return EXIT_DONE;
        }
        if (rc != 0)
            return EXIT_USAGE;
    }
    if (optind < argc - 1) {
        fprintf(stderr, "asylink-peer: unexpected argument %s\n", argv[optind + 1]);
        return EXIT_USAGE;
    }
    if (!o->broker || !o->broker_cert || !o->key || !o->cert || !o->trust) {
        fprintf(stderr, "asylink-peer: --broker, --broker-cert, --key, --cert and --trust "
                        "are required\n");
        return EXIT_USAGE;
    }
    return -1;
}

static void s_opts_free(s_opts *o)
{
    for (size_t i = 0; i < o->n_to; i++)
        free(o->to[i]);
}

/* ---- identity ---- */

typedef struct {
    keys_secret *keys;           /* own keys */
    cert *own;                   /* own certificate */
    cert *broker;                /* broker certificate (CURVE server key) */
    trust *trust;                /* trust directory */
    envelope_sealer *sealer;     /* seals as own node */
    envelope_opener *opener;     /* opens as own node */
    const char *node;            /* own node id (own->node_id) */
    uint64_t last_id_ms;         /* monotonic message ids */
    uint32_t id_counter;
    bool fixed;                  /* --message-id: every message gets fixed_id */
    uint8_t fixed_id[16];
} s_ident;

static int s_ident_load(const s_opts *o, s_ident *id)
{
    memset(id, 0, sizeof *id);
    int rc = keys_load(o->key, NULL, &id->keys);
    const char *what = o->key;
    if (rc == ASYLINK_OK) {
        what = o->cert;
        rc = cert_load(o->cert, &id->own);
    }
    if (rc == ASYLINK_OK) {
        what = o->broker_cert;
        rc = cert_load(o->broker_cert, &id->broker);
    }
    if (rc == ASYLINK_OK) {
        what = o->trust;
        rc = trust_load(o->trust, &id->trust);
    }
    if (rc == ASYLINK_OK) {
        what = "sealer";
        id->node = id->own->node_id;
        rc = envelope_sealer_new(id->keys, id->node, id->own->serial, NULL, NULL, &id->sealer);
    }
    if (rc == ASYLINK_OK)
        rc = envelope_opener_new(id->keys, id->node, &id->opener);
    if (rc == ASYLINK_OK && o->message_id) {
        what = "--message-id";
        id->fixed = uuid_parse(o->message_id, id->fixed_id) == 0;
        rc = id->fixed ? ASYLINK_OK : ASYLINK_E_BAD_FIELD;
    }
    if (rc != ASYLINK_OK)
        fprintf(stderr, "asylink-peer: %s: %s\n", what, asylink_err_name(rc));
    return rc;
}

static void s_ident_free(s_ident *id)
{
    envelope_opener_destroy(&id->opener);
    envelope_sealer_destroy(&id->sealer);
    trust_destroy(&id->trust);
    cert_destroy(&id->broker);
    cert_destroy(&id->own);
    keys_destroy(&id->keys);
}

/* A fresh UUIDv7, strictly greater than every earlier one of this run. */
static void s_next_id(s_ident *id, uint8_t out[16])
{
    if (id->fixed) {
        memcpy(out, id->fixed_id, 16);
        return;
    }
    uint64_t ms = clock_now_ms();
    if (ms <= id->last_id_ms) {
        ms = id->last_id_ms;
        if (++id->id_counter > 0xfff) {
            ms++;
            id->id_counter = 0;
        }
    } else {
        id->id_counter = 0;
    }
    id->last_id_ms = ms;
    uint8_t rnd[10];
    randombytes_buf(rnd, sizeof rnd);
    rnd[0] = (uint8_t)(id->id_counter >> 8); /* rand_a: 12 bits of counter */
    rnd[1] = (uint8_t)id->id_counter;
    uuid_v7_from(ms, rnd, out);
}

/* The payload of message id: len bytes derived from the id. */
static void s_fill_payload(const uint8_t id[16], uint8_t *p, size_t len)
{
    for (size_t k = 0; k < len; k++)
        p[k] = (uint8_t)(id[k % 16] ^ (uint8_t)(k * 31u));
}

static bool s_payload_ok(const uint8_t id[16], const uint8_t *p, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (p[k] != (uint8_t)(id[k % 16] ^ (uint8_t)(k * 31u)))
            return false;
    return true;
}

/* What to seal, beyond the payload. */
typedef struct {
    const char *const *to;
    size_t n_to;
    int classification;
    const char *content_type;
    uint64_t created_ms;         /* 0 = now */
    uint64_t expires_ms;         /* 0 = never */
    bool no_readers;             /* PUBLIC, signed only */
    envelope_sealer *sealer;     /* NULL = the identity's own */
    const char *topic;           /* feed topic: `to` are then the readers, not recipients */
} s_seal_spec;

/* Seals len payload bytes for spec with a fresh id into *env. */
static int s_seal(s_ident *id, const s_seal_spec *sp, size_t len, uint8_t **env,
                  size_t *env_len, uint8_t msg_id[16])
{
    const cert *readers[PEER_MAX_TO];
    size_t n_readers = 0;
    for (size_t i = 0; !sp->no_readers && i < sp->n_to; i++) {
        int rc = trust_lookup(id->trust, sp->to[i], clock_now_ms(), ASYLINK_E_UNKNOWN_RECIPIENT,
                              &readers[n_readers]);
        if (rc != ASYLINK_OK) {
            fprintf(stderr, "asylink-peer: recipient %s: %s\n", sp->to[i], asylink_err_name(rc));
            return rc;
        }
        n_readers++;
    }
    s_next_id(id, msg_id);
    uint8_t *payload = malloc(len ? len : 1);
    if (!payload)
        return ASYLINK_E_NOMEM;
    s_fill_payload(msg_id, payload, len);
    envelope_params p = {.recipients = sp->topic ? NULL : sp->to,
                         .n_recipients = sp->topic ? 0 : sp->n_to, .topic = sp->topic,
                         .readers = readers, .n_readers = n_readers,
                         .content_type = sp->content_type, .classification = sp->classification,
                         .created_ms = sp->created_ms, .expires_ms = sp->expires_ms,
                         .message_id = msg_id};
    int rc = envelope_seal(sp->sealer ? sp->sealer : id->sealer, &p, payload, len, env, env_len,
                           NULL);
    free(payload);
    if (rc != ASYLINK_OK)
        fprintf(stderr, "asylink-peer: seal: %s\n", asylink_err_name(rc));
    return rc;
}

/* ---- the connection ---- */

typedef struct {
    void *ctx, *sock, *mon;
    int disconnects;             /* DISCONNECTED events seen */
    int handshakes;              /* HANDSHAKE_SUCCEEDED events seen */
    int auth_failures;           /* HANDSHAKE_FAILED_* events seen */
    int last_fail_status;        /* value of the last HANDSHAKE_FAILED_AUTH (ZAP status) */
    bool reconnected;            /* a handshake succeeded after a disconnect; not handled yet */
    uint64_t last_send_ms;       /* for heartbeats */
} s_link;

/* dir-flood: a connection that stops reading at once (tiny queue and socket buffer). */
static bool s_slow_reader;

static int s_link_open(s_link *l, const s_ident *id, const char *endpoint)
{
    memset(l, 0, sizeof *l);
    l->ctx = zmq_ctx_new();
    l->sock = l->ctx ? zmq_socket(l->ctx, ZMQ_DEALER) : NULL;
    if (!l->sock)
        return -1;
    int linger = 0, ivl = 100, ivl_max = 500, hb = 1000, hb_to = 5000, hwm = 100000;
    int one = 1, small = 4096;
    if (zmq_setsockopt(l->sock, ZMQ_CURVE_SERVERKEY, id->broker->box_pk, 32) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_CURVE_PUBLICKEY, id->keys->box_pk, 32) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_CURVE_SECRETKEY, id->keys->box_sk, 32) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_to, sizeof hb_to) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(l->sock, ZMQ_RCVHWM, s_slow_reader ? &one : &hwm, sizeof hwm) != 0 ||
        (s_slow_reader && zmq_setsockopt(l->sock, ZMQ_RCVBUF, &small, sizeof small) != 0))
        return -1;
    int events = ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if (zmq_socket_monitor(l->sock, PEER_MONITOR, events) != 0)
        return -1;
    l->mon = zmq_socket(l->ctx, ZMQ_PAIR);
    if (!l->mon || zmq_connect(l->mon, PEER_MONITOR) != 0)
        return -1;
    if (zmq_connect(l->sock, endpoint) != 0) {
        fprintf(stderr, "asylink-peer: connect %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

/* Closes the link, giving queued messages linger_ms to leave. */
static void s_link_close(s_link *l, int linger_ms)
{
    if (l->sock) {
        zmq_setsockopt(l->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        zmq_socket_monitor(l->sock, NULL, 0);
        zmq_close(l->sock);
    }
    if (l->mon)
        zmq_close(l->mon);
    if (l->ctx)
        zmq_ctx_term(l->ctx);
    memset(l, 0, sizeof *l);
}

/* Reads pending monitor events. */
static void s_link_events(s_link *l)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, l->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        bool more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        if (more) {
            zmq_msg_init(&addr);
            zmq_msg_recv(&addr, l->mon, 0);
            zmq_msg_close(&addr);
        }
        if (event == ZMQ_EVENT_DISCONNECTED) {
            l->disconnects++;
        } else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            l->handshakes++;
            if (l->handshakes > 1)
                l->reconnected = true;
        } else if (event & (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)) {
            l->auth_failures++;
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
                l->last_fail_status = (int)value;
        }
    }
}

/* Sends cmd, then (if env) the envelope frame and (if extra) one more frame. */
static int s_link_send_raw(s_link *l, const uint8_t *cmd, size_t cmd_len, const uint8_t *env,
                           size_t env_len, bool with_env, bool extra)
{
    int more = with_env ? ZMQ_SNDMORE : 0;
    if (zmq_send(l->sock, cmd, cmd_len, ZMQ_DONTWAIT | more) < 0)
        return -1;
    if (with_env && zmq_send(l->sock, env, env_len, extra ? ZMQ_SNDMORE : 0) < 0)
        return -1;
    if (extra && zmq_send(l->sock, "x", 1, 0) < 0)
        return -1;
    l->last_send_ms = clock_now_ms();
    return 0;
}

static int s_link_send(s_link *l, const wire_cmd *c, const uint8_t *env, size_t env_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode(c, &buf, &len) != ASYLINK_OK)
        return -1;
    int rc = s_link_send_raw(l, buf, len, env, env_len, env != NULL, false);
    free(buf);
    return rc;
}

/* One received message: its command and the optional envelope frame. */
typedef struct {
    wire_cmd cmd;
    int decode_rc;
    bool admin_response;   /* the frame is an AdminResponse (decode_rc is then MALFORMED) */
    zmq_msg_t env;
    bool has_env;
} s_in;

/*
 * Waits up to wait_ms for a message on the link (monitor events are read
 * meanwhile). Returns 1 with *in filled (release with s_in_clear), 0 if
 * none came.
 */
static int s_link_recv(s_link *l, long wait_ms, s_in *in)
{
    memset(in, 0, sizeof *in);
    zmq_msg_init(&in->env);
    zmq_pollitem_t items[] = {{l->sock, 0, ZMQ_POLLIN, 0}, {l->mon, 0, ZMQ_POLLIN, 0}};
    int n = zmq_poll(items, 2, wait_ms);
    s_link_events(l);
    if (n <= 0 || !(items[0].revents & ZMQ_POLLIN))
        return 0;
    zmq_msg_t cmd;
    zmq_msg_init(&cmd);
    if (zmq_msg_recv(&cmd, l->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&cmd);
        return 0;
    }
    in->decode_rc = wire_decode(zmq_msg_data(&cmd), zmq_msg_size(&cmd), &in->cmd);
    if (in->decode_rc != ASYLINK_OK) {
        uint64_t rid;
        const uint8_t *body;
        size_t body_len;
        in->admin_response = wire_admin_response_body(zmq_msg_data(&cmd), zmq_msg_size(&cmd),
                                                       &rid, &body, &body_len) == ASYLINK_OK;
    }
    bool more = zmq_msg_more(&cmd);
    zmq_msg_close(&cmd);
    if (more) {
        zmq_msg_recv(&in->env, l->sock, 0);
        in->has_env = true;
        more = zmq_msg_more(&in->env);
    }
    while (more) { /* the protocol has at most two frames: drop the rest */
        zmq_msg_t x;
        zmq_msg_init(&x);
        zmq_msg_recv(&x, l->sock, 0);
        more = zmq_msg_more(&x);
        zmq_msg_close(&x);
    }
    return 1;
}

static void s_in_clear(s_in *in)
{
    wire_cmd_clear(&in->cmd);
    zmq_msg_close(&in->env);
}

/* ---- a set of message ids (receiver dedup) ---- */

typedef struct {
    uint8_t (*slots)[16];        /* all-zero = empty (a UUIDv7 never is) */
    size_t cap, n;
} s_idset;

static size_t s_idset_hash(const uint8_t id[16])
{
    uint64_t h = 0;
    memcpy(&h, id + 8, 8); /* random bits */
    return (size_t)(h ^ (h >> 29));
}

static int s_idset_grow(s_idset *s)
{
    size_t cap = s->cap ? 2 * s->cap : 1024;
    uint8_t (*slots)[16] = calloc(cap, 16);
    if (!slots)
        return -1;
    static const uint8_t zero[16];
    for (size_t i = 0; i < s->cap; i++) {
        if (memcmp(s->slots[i], zero, 16) == 0)
            continue;
        size_t j = s_idset_hash(s->slots[i]) & (cap - 1);
        while (memcmp(slots[j], zero, 16) != 0)
            j = (j + 1) & (cap - 1);
        memcpy(slots[j], s->slots[i], 16);
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

/* Adds id; 1 if it is new, 0 if it was there, -1 on out of memory. */
static int s_idset_add(s_idset *s, const uint8_t id[16])
{
    static const uint8_t zero[16];
    if (2 * (s->n + 1) > s->cap && s_idset_grow(s) != 0)
        return -1;
    size_t j = s_idset_hash(id) & (s->cap - 1);
    while (memcmp(s->slots[j], zero, 16) != 0) {
        if (memcmp(s->slots[j], id, 16) == 0)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    memcpy(s->slots[j], id, 16);
    s->n++;
    return 1;
}

static void s_write_id(FILE *f, const uint8_t id[16])
{
    if (!f)
        return;
    char hex[33];
    sodium_bin2hex(hex, sizeof hex, id, 16);
    fprintf(f, "%s\n", hex);
    fflush(f);
}

/* ---- sender state ---- */

enum { M_UNSENT = 0, M_SENT, M_ACCEPTED, M_REJECTED };

typedef struct {
    uint8_t *env;                /* sealed envelope, kept until answered for good */
    size_t env_len;
    uint64_t sent_ms;            /* last time sent */
    uint8_t state;               /* M_* */
} s_msg;

typedef struct {
    long count;                  /* messages to send */
    s_msg *msgs;
    uint8_t (*ids)[16];          /* ids of sealed messages, strictly increasing */
    long n_sealed;               /* messages sealed so far (they are 0..n_sealed-1) */
    long lo;                     /* every message below lo is answered for good */
    long in_flight;              /* messages in state M_SENT */
    long window;
    double rate;
    size_t size;
    s_seal_spec spec;
    uint64_t start_ms;
    uint64_t pause_until_ms;     /* after a retryable Rejected */
    long accepted, duplicates, rejected, resends;
    uint64_t codes[64];          /* final Rejected codes */
    FILE *ids_out, *sent_out;
} s_sender;

/* ---- receiver state ---- */

typedef struct {
    char node[NODE_ID_MAX + 1];
    uint8_t last_id[16];
} s_last;

typedef struct {
    long count;                  /* distinct messages wanted */
    long window;
    bool no_ack;
    long exit_after;
    bool any_payload; /* do not check payload bytes */
    long received, duplicates, bad, out_of_order, redelivered;
    long batched, max_batch; /* envelopes with a batch proof; largest batch size */
    s_idset seen;
    s_last senders[64];
    size_t n_senders;
    const char *sub_name;        /* subscription: Acks name it; NULL = direct queue */
    const char *prefix;          /* subscription prefix */
    int start;                   /* subscription start position */
    bool reset;                  /* subscription reset */
    uint64_t sub_rid;            /* request id of the pending Subscribe; 0 = none */
    uint64_t *acks;              /* sequences to acknowledge */
    size_t n_acks, cap_acks;
    FILE *ids_out;
} s_receiver;

/* ---- the session engine (send, recv, exchange) ---- */

enum { S_NEED_HELLO = 0, S_WAIT_WELCOME, S_OPEN };

typedef struct {
    s_ident *id;
    s_link link;
    int state;
    uint64_t hello_rid, hello_ms, next_rid;
    uint64_t retry_hello_at_ms;
    wire_limits limits;
    long sessions;
    int ended_code;              /* nonzero: the broker ended us for good */
    s_sender *tx;                /* NULL if not sending */
    s_receiver *rx;              /* NULL if not receiving */
} s_engine;

static void s_event(const s_engine *e, const char *what, int code, const char *reason,
                    bool fatal)
{
    printf("event=%s node=%s code=%s fatal=%d reason=\"%s\"\n", what, e->id->node,
           asylink_err_name(code), fatal ? 1 : 0, reason ? reason : "");
    fflush(stdout);
}

static void s_send_hello(s_engine *e)
{
    wire_cmd c = {.kind = WIRE_HELLO, .request_id = ++e->next_rid};
    wire_hello *h = &c.u.hello;
    h->protocol_version = WIRE_PROTOCOL_VERSION;
    snprintf(h->node_id, sizeof h->node_id, "%s", e->id->node);
    snprintf(h->client_name, sizeof h->client_name, "asylink-peer");
    snprintf(h->client_version, sizeof h->client_version, "%s", asylink_version());
    h->initial_credit_messages = e->rx ? (uint32_t)e->rx->window : 0;
    h->client_time_ms = clock_now_ms();
    if (s_link_send(&e->link, &c, NULL, 0) != 0)
        return; /* not connected yet: retried */
    e->hello_rid = c.request_id;
    e->hello_ms = clock_now_ms();
    e->state = S_WAIT_WELCOME;
}

/* The session is gone: everything sent and unanswered goes out again after Hello. */
static void s_session_lost(s_engine *e, uint64_t wait_ms)
{
    if (e->state != S_OPEN)
        return;
    e->state = S_NEED_HELLO;
    e->retry_hello_at_ms = clock_now_ms() + wait_ms;
    s_sender *tx = e->tx;
    for (long i = tx ? tx->lo : 0; tx && i < tx->n_sealed; i++) {
        if (tx->msgs[i].state == M_SENT)
            tx->msgs[i].state = M_UNSENT;
    }
    if (tx)
        tx->in_flight = 0;
}

/* Index of message id among the sealed ones, or -1. */
static long s_tx_find(const s_sender *tx, const uint8_t id[16])
{
    long lo = 0, hi = tx->n_sealed - 1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        int c = memcmp(tx->ids[mid], id, 16);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Marks message i answered for good (accepted or rejected). */
static void s_tx_final(s_sender *tx, long i, uint8_t state)
{
    s_msg *m = &tx->msgs[i];
    if (m->state == M_SENT)
        tx->in_flight--;
    m->state = state;
    free(m->env);
    m->env = NULL;
    while (tx->lo < tx->n_sealed &&
           (tx->msgs[tx->lo].state == M_ACCEPTED || tx->msgs[tx->lo].state == M_REJECTED))
        tx->lo++;
}

static void s_on_accepted(s_engine *e, const wire_accepted *a)
{
    s_sender *tx = e->tx;
    long i = tx ? s_tx_find(tx, a->message_id) : -1;
    if (i < 0) {
        fprintf(stderr, "asylink-peer: Accepted for an unknown message id\n");
        return;
    }
    if (a->duplicate)
        tx->duplicates++;
    uint8_t st = tx->msgs[i].state;
    if (st == M_ACCEPTED || st == M_REJECTED)
        return;
    tx->accepted++;
    s_write_id(tx->ids_out, a->message_id);
    s_tx_final(tx, i, M_ACCEPTED);
}

static void s_on_rejected(s_engine *e, const wire_rejected *r)
{
    s_sender *tx = e->tx;
    long i = tx && r->has_message_id ? s_tx_find(tx, r->message_id) : -1;
    fprintf(stderr, "asylink-peer: Rejected %s%s: %s\n", asylink_err_name(r->code),
            r->retryable ? " (retryable)" : "", r->reason);
    if (i < 0)
        return;
    s_msg *m = &tx->msgs[i];
    if (m->state == M_ACCEPTED || m->state == M_REJECTED)
        return;
    if (r->retryable) {
        if (m->state == M_SENT)
            tx->in_flight--;
        m->state = M_UNSENT;
        tx->pause_until_ms = clock_now_ms() + 100;
        return;
    }
    tx->rejected++;
    if (r->code >= 0 && r->code < 64)
        tx->codes[r->code]++;
    s_tx_final(tx, i, M_REJECTED);
}

/* Remembers a sequence to acknowledge. */
static void s_rx_ack_later(s_receiver *rx, uint64_t seq)
{
    if (rx->no_ack)
        return;
    if (rx->n_acks == rx->cap_acks) {
        size_t cap = rx->cap_acks ? 2 * rx->cap_acks : 256;
        uint64_t *a = realloc(rx->acks, cap * sizeof *a);
        if (!a)
            return;
        rx->acks = a;
        rx->cap_acks = cap;
    }
    rx->acks[rx->n_acks++] = seq;
}

/* Per-sender FIFO check on first arrival of id from node. */
static void s_rx_order(s_receiver *rx, const char *node, const uint8_t id[16])
{
    s_last *l = NULL;
    for (size_t i = 0; i < rx->n_senders; i++)
        if (strcmp(rx->senders[i].node, node) == 0)
            l = &rx->senders[i];
    if (!l) {
        if (rx->n_senders == sizeof rx->senders / sizeof rx->senders[0])
            return;
        l = &rx->senders[rx->n_senders++];
        snprintf(l->node, sizeof l->node, "%s", node);
    } else if (memcmp(id, l->last_id, 16) <= 0) {
        rx->out_of_order++;
    }
    if (memcmp(id, l->last_id, 16) > 0)
        memcpy(l->last_id, id, 16);
}

/* Verifies (alone, no cache) and opens one delivered envelope; ASYLINK_OK or why not. */
static int s_rx_check(s_engine *e, const uint8_t *buf, size_t len, envelope **out)
{
    int rc = envelope_decode(buf, len, 0, out);
    if (rc == ASYLINK_OK)
        rc = envelope_verify(*out, e->id->trust, clock_now_ms(), NULL);
    uint8_t *payload = NULL;
    size_t plen = 0;
    if (rc == ASYLINK_OK)
        rc = envelope_open(e->id->opener, *out, &payload, &plen);
    if (rc == ASYLINK_OK && ((!e->rx->any_payload &&
                              !s_payload_ok(envelope_header_of(*out)->message_id, payload, plen)) ||
                             plen != envelope_header_of(*out)->payload_size))
        rc = ASYLINK_E_TAMPERED;
    if (payload)
        envelope_payload_free(payload, plen);
    return rc;
}

static void s_on_deliver(s_engine *e, s_in *in)
{
    s_receiver *rx = e->rx;
    const wire_deliver *d = &in->cmd.u.deliver;
    if (!rx) {
        fprintf(stderr, "asylink-peer: unexpected Deliver (no credit given)\n");
        return;
    }
    rx->received++;
    if (d->attempt > 1)
        rx->redelivered++;
    envelope *env = NULL;
    int rc = in->has_env ? s_rx_check(e, zmq_msg_data(&in->env), zmq_msg_size(&in->env), &env)
                         : ASYLINK_E_MALFORMED;
    if (rc != ASYLINK_OK) {
        rx->bad++;
        fprintf(stderr, "asylink-peer: bad delivery seq=%llu: %s\n",
                (unsigned long long)d->sequence, asylink_err_name(rc));
    } else {
        const envelope_header *h = envelope_header_of(env);
        int added = s_idset_add(&rx->seen, h->message_id);
        long size = (long)envelope_batch_size(env);
        rx->batched += size > 0;
        if (size > rx->max_batch)
            rx->max_batch = size;
        if (added == 0) {
            rx->duplicates++;
        } else if (added > 0) {
            s_rx_order(rx, h->sender, h->message_id);
            s_write_id(rx->ids_out, h->message_id);
        }
    }
    envelope_destroy(&env);
    s_rx_ack_later(rx, d->sequence);
}

/* Sends the collected Acks (in batches of max_ack_batch). */
static void s_rx_flush_acks(s_engine *e)
{
    s_receiver *rx = e->rx;
    if (!rx || e->state != S_OPEN || rx->n_acks == 0)
        return;
    size_t batch = e->limits.max_ack_batch ? e->limits.max_ack_batch : 100;
    if (batch > WIRE_MAX_SEQUENCES)
        batch = WIRE_MAX_SEQUENCES;
    size_t done = 0;
    while (done < rx->n_acks) {
        size_t n = rx->n_acks - done < batch ? rx->n_acks - done : batch;
        wire_cmd c = {.kind = WIRE_ACK};
        if (rx->sub_name)
            snprintf(c.u.ack.subscription, sizeof c.u.ack.subscription, "%s", rx->sub_name);
        c.u.ack.sequences = rx->acks + done;
        c.u.ack.n_sequences = n;
        if (s_link_send(&e->link, &c, NULL, 0) != 0)
            break;
        done += n;
    }
    memmove(rx->acks, rx->acks + done, (rx->n_acks - done) * sizeof *rx->acks);
    rx->n_acks -= done;
}

static void s_on_welcome(s_engine *e, const wire_cmd *c)
{
    if (e->state != S_WAIT_WELCOME || c->request_id != e->hello_rid) {
        fprintf(stderr, "asylink-peer: stray Welcome ignored\n");
        return;
    }
    e->limits = c->u.welcome.limits;
    e->state = S_OPEN;
    e->sessions++;
    printf("event=welcome node=%s session=%ld broker=%s max_envelope_bytes=%llu\n",
           e->id->node, e->sessions, c->u.welcome.broker_node_id,
           (unsigned long long)e->limits.max_envelope_bytes);
    fflush(stdout);
    s_receiver *rx = e->rx;
    if (rx && rx->sub_name) { /* subscriptions are per session: subscribe again */
        wire_cmd sc = {.kind = WIRE_SUBSCRIBE, .request_id = ++e->next_rid};
        snprintf(sc.u.subscribe.topic_prefix, sizeof sc.u.subscribe.topic_prefix, "%s",
                 rx->prefix);
        snprintf(sc.u.subscribe.subscription, sizeof sc.u.subscribe.subscription, "%s",
                 rx->sub_name);
        sc.u.subscribe.start = rx->start;
        sc.u.subscribe.reset = rx->reset && e->sessions == 1;
        if (s_link_send(&e->link, &sc, NULL, 0) == 0)
            rx->sub_rid = sc.request_id;
    }
}

static void s_on_subscribed(s_engine *e, const wire_cmd *c)
{
    const wire_subscribed *d = &c->u.subscribed;
    if (e->rx && c->request_id == e->rx->sub_rid)
        e->rx->sub_rid = 0;
    printf("event=subscribed name=%s prefix=%s created=%d next=%llu head=%llu\n", d->subscription,
           d->topic_prefix, d->created ? 1 : 0, (unsigned long long)d->next_sequence,
           (unsigned long long)d->head_sequence);
    fflush(stdout);
}

/* Error from the broker: maybe the session is gone (Hello again) or ended for good. */
static void s_on_error(s_engine *e, const wire_cmd *c)
{
    const wire_error *er = &c->u.error;
    bool to_hello = e->state == S_WAIT_WELCOME && c->request_id == e->hello_rid;
    if (e->rx && e->rx->sub_rid && c->request_id == e->rx->sub_rid) {
        s_event(e, "sub-error", er->code, er->reason, false);
        e->ended_code = er->code ? er->code : ASYLINK_E_PROTOCOL;
        return;
    }
    if (er->code == ASYLINK_E_PROTOCOL && er->fatal && !to_hello) {
        if (e->state == S_OPEN)
            fprintf(stderr, "asylink-peer: session lost (%s): Hello again\n", er->reason);
        s_session_lost(e, 0);
        return;
    }
    if (er->fatal) {
        s_event(e, "error", er->code, er->reason, true);
        e->ended_code = er->code ? er->code : ASYLINK_E_PROTOCOL;
        return;
    }
    fprintf(stderr, "asylink-peer: Error %s: %s\n", asylink_err_name(er->code), er->reason);
}

static void s_on_bye(s_engine *e, const wire_cmd *c)
{
    const wire_error *b = &c->u.error;
    if (b->code == ASYLINK_OK || b->code == ASYLINK_E_SHUTDOWN) {
        fprintf(stderr, "asylink-peer: Bye %s (%s): Hello again\n", asylink_err_name(b->code),
                b->reason);
        s_session_lost(e, b->reconnect_after_ms > 200 ? b->reconnect_after_ms : 200);
        if (e->state == S_WAIT_WELCOME) /* Bye while waiting: Hello again later */
            e->state = S_NEED_HELLO;
        return;
    }
    s_event(e, "bye", b->code, b->reason, true);
    e->ended_code = b->code;
}

static void s_engine_dispatch(s_engine *e, s_in *in)
{
    if (in->decode_rc != ASYLINK_OK) {
        fprintf(stderr, "asylink-peer: undecodable command from the broker: %s\n",
                asylink_err_name(in->decode_rc));
        return;
    }
    const wire_cmd *c = &in->cmd;
    switch (c->kind) {
    case WIRE_WELCOME: s_on_welcome(e, c); break;
    case WIRE_ACCEPTED: s_on_accepted(e, &c->u.accepted); break;
    case WIRE_REJECTED: s_on_rejected(e, &c->u.rejected); break;
    case WIRE_DELIVER: s_on_deliver(e, in); break;
    case WIRE_SUBSCRIBED: s_on_subscribed(e, c); break;
    case WIRE_ERROR: s_on_error(e, c); break;
    case WIRE_BYE: s_on_bye(e, c); break;
    case WIRE_HEARTBEAT:
        if (!c->u.heartbeat.pong) {
            wire_cmd pong = {.kind = WIRE_HEARTBEAT, .request_id = c->request_id};
            pong.u.heartbeat.pong = true;
            pong.u.heartbeat.sent_ms = clock_now_ms();
            s_link_send(&e->link, &pong, NULL, 0);
        }
        break;
    default:
        fprintf(stderr, "asylink-peer: unexpected %s ignored\n", wire_kind_name(c->kind));
    }
}

/* Sends one message (sealing it first if new). 0 sent, 1 not now, -1 fatal. */
static int s_tx_send_one(s_engine *e, long i, uint64_t now)
{
    s_sender *tx = e->tx;
    s_msg *m = &tx->msgs[i];
    if (i == tx->n_sealed) {
        if (tx->rate > 0 && (double)tx->n_sealed >= tx->rate * (double)(now - tx->start_ms) / 1000.0)
            return 1;
        if (s_seal(e->id, &tx->spec, tx->size, &m->env, &m->env_len, tx->ids[i]) != ASYLINK_OK)
            return -1;
        tx->n_sealed++;
        s_write_id(tx->sent_out, tx->ids[i]);
    }
    wire_cmd c = {.kind = WIRE_PUBLISH};
    memcpy(c.u.publish.message_id, tx->ids[i], 16);
    if (s_link_send(&e->link, &c, m->env, m->env_len) != 0)
        return 1;
    if (m->sent_ms)
        tx->resends++;
    m->state = M_SENT;
    m->sent_ms = now;
    tx->in_flight++;
    return 0;
}

/* Publishes within the window, in index order; resends what timed out. */
static int s_tx_pump(s_engine *e, uint64_t now)
{
    s_sender *tx = e->tx;
    for (long i = tx->lo; i < tx->n_sealed; i++) {
        s_msg *m = &tx->msgs[i];
        if (m->state == M_SENT && now - m->sent_ms > PEER_RESEND_MS) {
            m->state = M_UNSENT;
            tx->in_flight--;
        }
    }
    if (now < tx->pause_until_ms)
        return 0;
    for (long i = tx->lo; i < tx->count && tx->in_flight < tx->window; i++) {
        if (i < tx->n_sealed && tx->msgs[i].state != M_UNSENT)
            continue;
        int rc = s_tx_send_one(e, i, now);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    return 0;
}

static bool s_engine_done(const s_engine *e)
{
    bool tx_done = !e->tx || e->tx->accepted + e->tx->rejected >= e->tx->count;
    bool rx_done = !e->rx || (long)e->rx->seen.n >= e->rx->count ||
                   (e->rx->exit_after && e->rx->received >= e->rx->exit_after);
    return tx_done && rx_done;
}

/* Hello / heartbeat / publishing duties of one turn. */
static int s_engine_duties(s_engine *e, uint64_t now)
{
    if (e->link.reconnected) { /* a new connection has no session yet */
        e->link.reconnected = false;
        if (e->state == S_OPEN)
            fprintf(stderr, "asylink-peer: reconnected: Hello again\n");
        s_session_lost(e, 0);
        if (e->state == S_WAIT_WELCOME)
            e->state = S_NEED_HELLO;
    }
    if (e->state == S_NEED_HELLO && now >= e->retry_hello_at_ms)
        s_send_hello(e);
    else if (e->state == S_WAIT_WELCOME && now - e->hello_ms > PEER_HELLO_RETRY_MS)
        s_send_hello(e);
    if (e->state != S_OPEN)
        return 0;
    s_rx_flush_acks(e);
    if (e->tx && s_tx_pump(e, now) != 0)
        return -1;
    uint64_t hb = e->limits.heartbeat_interval_ms ? e->limits.heartbeat_interval_ms : 1000;
    if (now - e->link.last_send_ms >= hb) {
        wire_cmd ping = {.kind = WIRE_HEARTBEAT, .request_id = ++e->next_rid};
        ping.u.heartbeat.sent_ms = now;
        s_link_send(&e->link, &ping, NULL, 0);
    }
    return 0;
}

static void s_print_codes(const uint64_t codes[64])
{
    bool any = false;
    printf("codes=");
    for (int i = 0; i < 64; i++) {
        if (!codes[i])
            continue;
        printf("%s%s:%llu", any ? "," : "", asylink_err_name(i), (unsigned long long)codes[i]);
        any = true;
    }
    if (!any)
        printf("-");
}

static void s_engine_report(const s_engine *e, bool timed_out)
{
    if (e->tx) {
        const s_sender *tx = e->tx;
        printf("sent=%ld accepted=%ld duplicates=%ld rejected=%ld ", tx->n_sealed, tx->accepted,
               tx->duplicates, tx->rejected);
        s_print_codes(tx->codes);
        printf(" resends=%ld sessions=%ld timeout=%d\n", tx->resends, e->sessions,
               timed_out ? 1 : 0);
    }
    if (e->rx) {
        const s_receiver *rx = e->rx;
        printf("received=%ld distinct=%zu duplicates=%ld bad=%ld out_of_order=%ld "
               "redelivered=%ld sessions=%ld timeout=%d batched=%ld max_batch=%ld\n",
               rx->received, rx->seen.n, rx->duplicates, rx->bad, rx->out_of_order, rx->redelivered,
               e->sessions, timed_out ? 1 : 0, rx->batched, rx->max_batch);
    }
    fflush(stdout);
}

/* Runs the session until done, ended, interrupted or the deadline. */
static int s_engine_run(s_engine *e, uint64_t deadline_ms)
{
    int rc = 0;
    bool timed_out = false;
    while (!s_interrupted && !e->ended_code && !s_engine_done(e)) {
        uint64_t now = clock_now_ms();
        if (now >= deadline_ms) {
            timed_out = true;
            break;
        }
        if (s_engine_duties(e, now) != 0) {
            rc = -1;
            break;
        }
        /* Read what is there (bounded, so Acks and Publishes keep flowing). */
        for (int n = 0; n < 1000; n++) {
            s_in in;
            int got = s_link_recv(&e->link, n == 0 ? 20 : 0, &in);
            if (got == 1)
                s_engine_dispatch(e, &in);
            s_in_clear(&in);
            if (got != 1 || e->ended_code || s_engine_done(e))
                break;
        }
    }
    s_rx_flush_acks(e);
    s_engine_report(e, timed_out);
    if (rc != 0)
        return EXIT_NOT_DONE;
    if (e->ended_code)
        return EXIT_ENDED;
    bool ok = s_engine_done(e) && (!e->tx || e->tx->rejected == 0) &&
              (!e->rx || (long)e->rx->seen.n >= e->rx->count);
    return ok ? EXIT_DONE : EXIT_NOT_DONE;
}

static FILE *s_open_out(const char *path)
{
    if (!path)
        return NULL;
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "asylink-peer: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

static int s_sender_init(s_sender *tx, const s_opts *o, uint64_t now)
{
    memset(tx, 0, sizeof *tx);
    bool feed = strcmp(o->mode, "publish") == 0;
    if (feed && !o->topic) {
        fprintf(stderr, "asylink-peer: --topic is required\n");
        return -1;
    }
    if (o->n_to == 0 && !(feed && o->classification == ENVELOPE_PUBLIC)) {
        fprintf(stderr, "asylink-peer: --to is required\n");
        return -1;
    }
    tx->count = o->count;
    tx->window = o->window ? o->window : 100;
    tx->rate = o->rate;
    tx->size = o->size >= 0 ? (size_t)o->size : 256;
    tx->start_ms = now;
    tx->spec = (s_seal_spec){.to = (const char *const *)o->to, .n_to = o->n_to,
                             .classification = o->classification,
                             .content_type = o->content_type,
                             .topic = feed ? o->topic : NULL,
                             .no_readers = feed && o->n_to == 0};
    tx->msgs = calloc((size_t)tx->count + 1, sizeof *tx->msgs);
    tx->ids = calloc((size_t)tx->count + 1, sizeof *tx->ids);
    if (!tx->msgs || !tx->ids)
        return -1;
    tx->ids_out = s_open_out(o->ids_out);
    tx->sent_out = s_open_out(o->sent_out);
    if ((o->ids_out && !tx->ids_out) || (o->sent_out && !tx->sent_out))
        return -1;
    return 0;
}

static void s_sender_free(s_sender *tx)
{
    for (long i = 0; tx->msgs && i < tx->n_sealed; i++)
        free(tx->msgs[i].env);
    free(tx->msgs);
    free(tx->ids);
    if (tx->ids_out)
        fclose(tx->ids_out);
    if (tx->sent_out)
        fclose(tx->sent_out);
}

static int s_receiver_init(s_receiver *rx, const s_opts *o, long count, const char *ids_out)
{
    memset(rx, 0, sizeof *rx);
    rx->count = count;
    rx->window = o->window ? o->window : 100;
    rx->no_ack = o->no_ack;
    rx->exit_after = o->exit_after;
    rx->any_payload = o->any_payload;
    rx->ids_out = s_open_out(ids_out);
    if (strcmp(o->mode, "subscribe") == 0) {
        if (!o->prefix || !o->sub_name) {
            fprintf(stderr, "asylink-peer: --prefix and --name are required\n");
            return -1;
        }
        rx->sub_name = o->sub_name;
        rx->prefix = o->prefix;
        rx->start = o->start ? o->start : 1;
        rx->reset = o->reset;
    }
    return ids_out && !rx->ids_out ? -1 : 0;
}

static void s_receiver_free(s_receiver *rx)
{
    free(rx->seen.slots);
    free(rx->acks);
    if (rx->ids_out)
        fclose(rx->ids_out);
}

/* send, recv and exchange. */
static int s_run_session(const s_opts *o, s_ident *id)
{
    bool sending = strcmp(o->mode, "send") == 0 || strcmp(o->mode, "exchange") == 0 ||
                   strcmp(o->mode, "publish") == 0;
    bool receiving = strcmp(o->mode, "recv") == 0 || strcmp(o->mode, "exchange") == 0 ||
                     strcmp(o->mode, "subscribe") == 0;
    uint64_t now = clock_now_ms();
    s_sender tx;
    s_receiver rx;
    memset(&tx, 0, sizeof tx);
    memset(&rx, 0, sizeof rx);
    s_engine e = {.id = id, .tx = sending ? &tx : NULL, .rx = receiving ? &rx : NULL};
    int code = EXIT_USAGE;
    if (sending && s_sender_init(&tx, o, now) != 0)
        goto cleanup;
    long rcount = strcmp(o->mode, "exchange") == 0 ? o->recv_count : o->count;
    const char *rids = strcmp(o->mode, "exchange") == 0 ? o->recv_ids_out : o->ids_out;
    if (receiving && s_receiver_init(&rx, o, rcount, rids) != 0)
        goto cleanup;
    code = EXIT_NOT_DONE;
    if (s_link_open(&e.link, id, o->broker) != 0)
        goto cleanup;
    code = s_engine_run(&e, now + (uint64_t)(o->timeout_s * 1000.0));
cleanup:
    s_link_close(&e.link, PEER_LINGER_MS);
    if (sending)
        s_sender_free(&tx);
    if (receiving)
        s_receiver_free(&rx);
    return code;
}

/* ---- hostile and connect-only ---- */

typedef struct {
    s_ident *id;
    const s_opts *o;
    s_link link;
    uint64_t deadline_ms;
    wire_limits limits;
    const char *to[PEER_MAX_TO];
    size_t n_to;
} s_hostile;

/* Waits for Welcome to a Hello with node_id and version; 0 on Welcome. */
static int s_hello_wait(s_hostile *h, const char *node_id, uint32_t version, wire_cmd *answer)
{
    wire_cmd c = {.kind = WIRE_HELLO, .request_id = 1};
    c.u.hello.protocol_version = version;
    snprintf(c.u.hello.node_id, sizeof c.u.hello.node_id, "%s", node_id);
    snprintf(c.u.hello.client_name, sizeof c.u.hello.client_name, "asylink-peer");
    c.u.hello.client_time_ms = clock_now_ms();
    bool sent = false;
    while (clock_now_ms() < h->deadline_ms && !s_interrupted) {
        if (!sent)
            sent = s_link_send(&h->link, &c, NULL, 0) == 0;
        s_in in;
        if (s_link_recv(&h->link, 50, &in) == 1) {
            bool got = in.decode_rc == ASYLINK_OK &&
                       (in.cmd.kind == WIRE_WELCOME || in.cmd.kind == WIRE_ERROR ||
                        in.cmd.kind == WIRE_BYE);
            if (got) {
                *answer = in.cmd;
                memset(&in.cmd, 0, sizeof in.cmd);
            }
            s_in_clear(&in);
            if (got) {
                if (answer->kind == WIRE_WELCOME)
                    h->limits = answer->u.welcome.limits;
                return answer->kind == WIRE_WELCOME ? 0 : 1;
            }
            continue;
        }
        s_in_clear(&in);
    }
    return -1;
}

/* Prints the verdict for one answer; returns the exit status. */
static int s_verdict(const wire_cmd *c)
{
    switch (c->kind) {
    case WIRE_REJECTED:
        printf("REJECTED %s\n", asylink_err_name(c->u.rejected.code));
        fprintf(stderr, "asylink-peer: reason: %s\n", c->u.rejected.reason);
        return EXIT_DONE;
    case WIRE_ERROR:
    case WIRE_BYE:
        printf("%s %s\n", c->kind == WIRE_ERROR ? "ERROR" : "BYE",
               asylink_err_name(c->u.error.code));
        fprintf(stderr, "asylink-peer: reason: %s%s\n", c->u.error.reason,
                c->u.error.fatal ? " (fatal)" : "");
        return EXIT_DONE;
    case WIRE_ACCEPTED:
        printf("ACCEPTED%s\n", c->u.accepted.duplicate ? " DUPLICATE" : "");
        return EXIT_DONE;
    case WIRE_WELCOME:
        printf("WELCOME\n");
        return EXIT_DONE;
    default:
        printf("UNEXPECTED %s\n", wire_kind_name(c->kind));
        return EXIT_NOT_DONE;
    }
}

/*
 * Waits for the next answer (skipping heartbeats and deliveries) and
 * prints the verdict; a disconnect with no answer is DISCONNECTED, nothing
 * at all NO_ANSWER. With want_answer, an answer is stored there instead of
 * being printed (returns 0 / -1).
 */
static int s_await(s_hostile *h, wire_cmd *want_answer)
{
    int disconnects = h->link.disconnects;
    uint64_t gone_at = 0;
    while (!s_interrupted) {
        uint64_t now = clock_now_ms();
        if (now >= h->deadline_ms || (gone_at && now - gone_at > 500))
            break;
        if (!gone_at && h->link.disconnects > disconnects)
            gone_at = now; /* give an answer already on its way a moment */
        s_in in;
        if (s_link_recv(&h->link, 50, &in) != 1) {
            s_in_clear(&in);
            continue;
        }
        int rc = -1;
        bool skip = in.decode_rc == ASYLINK_OK &&
                    (in.cmd.kind == WIRE_HEARTBEAT || in.cmd.kind == WIRE_DELIVER);
        if (in.admin_response) {
            printf("ADMIN_RESPONSE\n");
            rc = EXIT_DONE;
        } else if (in.decode_rc != ASYLINK_OK) {
            printf("UNDECODABLE %s\n", asylink_err_name(in.decode_rc));
            rc = EXIT_NOT_DONE;
        } else if (!skip && want_answer) {
            *want_answer = in.cmd;
            memset(&in.cmd, 0, sizeof in.cmd);
            rc = 0;
        } else if (!skip) {
            rc = s_verdict(&in.cmd);
        }
        s_in_clear(&in);
        if (rc >= 0)
            return rc;
    }
    if (want_answer)
        return -1;
    bool gone = h->link.disconnects > disconnects;
    printf("%s\n", gone ? "DISCONNECTED" : "NO_ANSWER");
    if (h->link.auth_failures)
        fprintf(stderr, "asylink-peer: %d CURVE handshake(s) refused (ZAP status %d)\n",
                h->link.auth_failures, h->link.last_fail_status);
    return gone ? EXIT_DONE : EXIT_NOT_DONE;
}

static int s_publish(s_hostile *h, const uint8_t id[16], const uint8_t *env, size_t env_len)
{
    wire_cmd c = {.kind = WIRE_PUBLISH};
    memcpy(c.u.publish.message_id, id, 16);
    if (s_link_send(&h->link, &c, env, env_len) == 0)
        return 0;
    fprintf(stderr, "asylink-peer: send failed: %s\n", zmq_strerror(zmq_errno()));
    return -1;
}

/* Seals one honest-looking message to the hostile recipients. */
static int s_h_seal(s_hostile *h, s_seal_spec *sp, size_t len, uint8_t **env, size_t *env_len,
                    uint8_t id[16])
{
    if (!sp->to) {
        sp->to = h->to;
        sp->n_to = h->n_to;
    }
    if (!sp->classification)
        sp->classification = h->o->classification;
    if (!sp->content_type)
        sp->content_type = h->o->content_type;
    return s_seal(h->id, sp, len, env, env_len, id) == ASYLINK_OK ? 0 : -1;
}

/*
 * Seals a message whose envelope is exactly target bytes; if protobuf length
 * prefixes make that impossible, the nearest size below (at_most) or above.
 */
static int s_h_seal_exact(s_hostile *h, size_t target, bool at_most, uint8_t **env,
                          size_t *env_len, uint8_t id[16])
{
    size_t len = target > 4096 ? target - 4096 : 0;
    for (int tries = 0; tries < 8; tries++) {
        s_seal_spec sp = {0};
        if (s_h_seal(h, &sp, len, env, env_len, id) != 0)
            return -1;
        bool near_ok = at_most ? *env_len < target : *env_len > target;
        if (*env_len == target || (tries >= 4 && near_ok))
            return 0;
        free(*env);
        *env = NULL;
        if (*env_len < target)
            len += target - *env_len;
        else
            len = len > *env_len - target ? len - (*env_len - target) : 0;
        if (tries >= 4) /* oscillating around a length-prefix boundary */
            len = at_most ? (len ? len - 1 : 0) : len + 1;
    }
    return -1;
}

/* Rewrites a serialized envelope's header classification to PERSONAL; 0 or -1. */
static int s_make_personal(uint8_t **env, size_t *env_len)
{
    Asylink__V1__Envelope *e = asylink__v1__envelope__unpack(NULL, *env_len, *env);
    if (!e)
        return -1;
    Asylink__V1__Header *h = asylink__v1__header__unpack(NULL, e->header.len, e->header.data);
    int rc = -1;
    uint8_t *hbuf = NULL, *ebuf = NULL;
    if (h) {
        h->classification = ASYLINK__V1__CLASSIFICATION__CLASSIFICATION_PERSONAL;
        size_t hlen = asylink__v1__header__get_packed_size(h);
        hbuf = malloc(hlen ? hlen : 1);
        if (hbuf) {
            asylink__v1__header__pack(h, hbuf);
            ProtobufCBinaryData orig = e->header;
            e->header.data = hbuf;
            e->header.len = hlen;
            size_t elen = asylink__v1__envelope__get_packed_size(e);
            ebuf = malloc(elen ? elen : 1);
            if (ebuf) {
                asylink__v1__envelope__pack(e, ebuf);
                free(*env);
                *env = ebuf;
                *env_len = elen;
                rc = 0;
            }
            e->header = orig; /* free_unpacked frees what unpack allocated */
        }
        asylink__v1__header__free_unpacked(h, NULL);
    }
    asylink__v1__envelope__free_unpacked(e, NULL);
    free(hbuf);
    return rc;
}

/* The cases that publish one (bad) envelope; -1 if the case is not one of them. */
static int s_h_publish_case(s_hostile *h, const char *name)
{
    s_seal_spec sp = {0};
    uint8_t *env = NULL, id[16];
    size_t env_len = 0, size = h->o->size >= 0 ? (size_t)h->o->size : 64;
    uint64_t now = clock_now_ms();
    envelope_sealer *forger = NULL;
    const char *unknown_to[] = {"XX"};
    int rc = -2;
    if (strcmp(name, "toolarge") == 0 || strcmp(name, "maxsize") == 0) {
        size_t max = (size_t)h->limits.max_envelope_bytes;
        bool above = strcmp(name, "toolarge") == 0;
        if (above && h->o->size >= 0) {
            rc = s_h_seal(h, &sp, size, &env, &env_len, id);
        } else if (max > ENVELOPE_MAX_SIZE) {
            fprintf(stderr, "asylink-peer: max_envelope_bytes %zu is above what core seals\n", max);
            rc = -1;
        } else {
            rc = s_h_seal_exact(h, above ? max + 1 : max, !above, &env, &env_len, id);
        }
        fprintf(stderr, "asylink-peer: envelope of %zu bytes, limit %zu\n", env_len, max);
    } else if (strcmp(name, "forged-sender") == 0) {
        const char *other = h->o->other ? h->o->other : strcmp(h->id->node, "DE") ? "DE" : "FR";
        rc = envelope_sealer_new(h->id->keys, other, h->id->own->serial, NULL, NULL, &forger);
        sp.sealer = forger;
        if (rc == ASYLINK_OK)
            rc = s_h_seal(h, &sp, size, &env, &env_len, id);
    } else if (strcmp(name, "bad-signature") == 0) {
        rc = s_h_seal(h, &sp, size, &env, &env_len, id);
        if (rc == 0)
            env[env_len - 1] ^= 0x01; /* the signature is the last field */
    } else if (strcmp(name, "unknown-recipient") == 0) {
        sp = (s_seal_spec){.to = unknown_to, .n_to = 1, .classification = ENVELOPE_PUBLIC,
                           .no_readers = true};
        rc = s_h_seal(h, &sp, size, &env, &env_len, id);
    } else if (strcmp(name, "expired") == 0) {
        sp.created_ms = now - 60000;
        sp.expires_ms = now - 30000;
        rc = s_h_seal(h, &sp, size, &env, &env_len, id);
    } else if (strcmp(name, "future") == 0) {
        sp.created_ms = now + 3600 * 1000;
        rc = s_h_seal(h, &sp, size, &env, &env_len, id);
    } else if (strcmp(name, "policy") == 0) {
        const char *analyst[] = {"EUAA.ANALYSIS"};
        sp = (s_seal_spec){.to = analyst, .n_to = 1, .classification = ENVELOPE_PERSONAL};
        rc = s_h_seal(h, &sp, size, &env, &env_len, id);
    } else if (strcmp(name, "personal-topic") == 0) {
        /* A LIMITED feed envelope whose header then says PERSONAL (not re-signed). */
        sp = (s_seal_spec){.to = h->to, .n_to = h->n_to, .classification = ENVELOPE_LIMITED,
                           .topic = h->o->topic ? h->o->topic : "coi.SY"};
        rc = s_h_seal(h, &sp, size, &env, &env_len, id);
        if (rc == 0)
            rc = s_make_personal(&env, &env_len);
    } else if (strcmp(name, "wrong-id") == 0) {
        rc = s_h_seal(h, &sp, size, &env, &env_len, id);
        id[15] ^= 0x01; /* the Publish names another id than the header */
    } else if (strcmp(name, "garbage-envelope") == 0) {
        env_len = 512;
        env = malloc(env_len);
        rc = env ? 0 : -1;
        if (env)
            randombytes_buf(env, env_len);
        s_next_id(h->id, id);
    } else {
        return -1;
    }
    if (rc == 0 || rc == ASYLINK_OK)
        rc = s_publish(h, id, env, env_len) == 0 ? s_await(h, NULL) : EXIT_NOT_DONE;
    else
        rc = EXIT_NOT_DONE;
    free(env);
    envelope_sealer_destroy(&forger);
    return rc;
}

/* replay: the same envelope twice; the second answer must be a duplicate. */
static int s_h_replay(s_hostile *h)
{
    s_seal_spec sp = {0};
    uint8_t *env = NULL, id[16];
    size_t env_len = 0;
    int rc = EXIT_NOT_DONE;
    if (s_h_seal(h, &sp, 64, &env, &env_len, id) != 0)
        return rc;
    wire_cmd first = {0}, second = {0};
    if (s_publish(h, id, env, env_len) != 0 || s_await(h, &first) != 0)
        goto cleanup;
    if (first.kind != WIRE_ACCEPTED || first.u.accepted.duplicate) {
        printf("FIRST ");
        (void)s_verdict(&first);
        goto cleanup;
    }
    if (s_publish(h, id, env, env_len) != 0)
        goto cleanup;
    rc = s_await(h, &second) == 0 ? s_verdict(&second) : EXIT_NOT_DONE;
    if (rc == EXIT_DONE && second.kind == WIRE_ACCEPTED &&
        second.u.accepted.store_sequence != first.u.accepted.store_sequence)
        fprintf(stderr, "asylink-peer: duplicate got store_sequence %llu, first %llu\n",
                (unsigned long long)second.u.accepted.store_sequence,
                (unsigned long long)first.u.accepted.store_sequence);
cleanup:
    wire_cmd_clear(&first);
    wire_cmd_clear(&second);
    free(env);
    return rc;
}

/*
 * dir-toomany: one DirectoryRequest naming 4,096 node ids (BAD_FIELD).
 * dir-flood: --count DirectoryRequests (default 4000) naming the
 * federation's nodes over and over (256 ids each), sent without reading
 * any answer; then, after 3 s, reads what still arrives. Prints
 * "SENT n ANSWERS k" (exit 0); the broker must end the session when its
 * unread output passes limits.max_session_output and stay small.
 */
static int s_h_directory_case(s_hostile *h, const char *name)
{
    static const char *nodes[] = {"DE", "FR", "IT", "EUAA", "EUAA.ANALYSIS", "OPS"};
    bool flood = strcmp(name, "dir-flood") == 0;
    if (!flood && strcmp(name, "dir-toomany") != 0)
        return -1;
    size_t n = flood ? 256 : 4096;
    wire_cmd c = {.kind = WIRE_DIRECTORY_REQUEST, .request_id = 7};
    wire_directory_request *q = &c.u.directory_request;
    q->node_ids = calloc(n, sizeof *q->node_ids);
    if (!q->node_ids)
        return EXIT_NOT_DONE;
    for (size_t i = 0; i < n; i++)
        snprintf(q->node_ids[i], sizeof q->node_ids[i], "%s", nodes[i % 6]);
    q->n_node_ids = n;
    int rc = EXIT_NOT_DONE;
    if (!flood) {
        rc = s_link_send(&h->link, &c, NULL, 0) == 0 ? s_await(h, NULL) : EXIT_NOT_DONE;
        free(q->node_ids);
        return rc;
    }
    long count = h->o->count > 0 ? h->o->count : 4000, sent = 0, answers = 0;
    for (; sent < count && !s_interrupted; sent++)
        if (s_link_send(&h->link, &c, NULL, 0) != 0)
            break;
    free(q->node_ids);
    zmq_sleep(3); /* not reading: the answers pile up at the broker */
    for (;;) {
        s_in in;
        int got = s_link_recv(&h->link, 500, &in);
        s_in_clear(&in);
        if (got != 1)
            break;
        answers++;
    }
    printf("SENT %ld ANSWERS %ld\n", sent, answers);
    return EXIT_DONE;
}

/* The cases that send a bad frame sequence rather than a bad envelope. */
static int s_h_frames_case(s_hostile *h, const char *name)
{
    uint8_t id[16], *cmd = NULL, *env = NULL;
    size_t cmd_len = 0, env_len = 0;
    s_seal_spec sp = {0};
    wire_cmd c = {.kind = WIRE_PUBLISH};
    int rc = EXIT_NOT_DONE, sent = -1;
    if (s_h_seal(h, &sp, 64, &env, &env_len, id) != 0)
        return rc;
    memcpy(c.u.publish.message_id, id, 16);
    if (wire_encode(&c, &cmd, &cmd_len) != ASYLINK_OK)
        goto cleanup;
    if (strcmp(name, "garbage") == 0) {
        uint8_t junk[64];
        randombytes_buf(junk, sizeof junk);
        sent = s_link_send_raw(&h->link, junk, sizeof junk, NULL, 0, false, false);
    } else if (strcmp(name, "truncated") == 0) {
        sent = s_link_send_raw(&h->link, cmd, cmd_len / 2, env, env_len, true, false);
    } else if (strcmp(name, "no-envelope") == 0) {
        sent = s_link_send_raw(&h->link, cmd, cmd_len, NULL, 0, false, false);
    } else if (strcmp(name, "extra-frame") == 0) {
        sent = s_link_send_raw(&h->link, cmd, cmd_len, env, env_len, true, true);
    } else if (strcmp(name, "bigframe") == 0) {
        uint8_t *big = calloc(1, PEER_BIGFRAME);
        if (big)
            sent = s_link_send_raw(&h->link, cmd, cmd_len, big, PEER_BIGFRAME, true, false);
        free(big);
    } else if (strcmp(name, "big-ack") == 0) {
        size_t n = (h->limits.max_ack_batch ? h->limits.max_ack_batch : 1000) + 1;
        wire_cmd a = {.kind = WIRE_ACK};
        a.u.ack.sequences = calloc(n, sizeof *a.u.ack.sequences);
        for (size_t i = 0; a.u.ack.sequences && i < n; i++)
            a.u.ack.sequences[i] = i + 1000000000ull;
        a.u.ack.n_sequences = n;
        sent = a.u.ack.sequences ? s_link_send(&h->link, &a, NULL, 0) : -1;
        free(a.u.ack.sequences);
    } else {
        rc = -1;
        goto cleanup;
    }
    if (sent != 0)
        fprintf(stderr, "asylink-peer: send failed: %s\n", zmq_strerror(zmq_errno()));
    else
        rc = s_await(h, NULL);
cleanup:
    free(cmd);
    free(env);
    return rc;
}

/* Bytes that are no command at all, or an AdminRequest, sent without Hello. */
static int s_h_raw_case(s_hostile *h, const char *name)
{
    if (strncmp(name, "admin-", 6) == 0) { /* admin-stats, admin-topics */
        wire_cmd c = {.kind = WIRE_ADMIN_REQUEST, .request_id = 42};
        c.u.admin.op = strcmp(name, "admin-stats") == 0 ? WIRE_ADMIN_STATS : WIRE_ADMIN_TOPICS;
        return s_link_send(&h->link, &c, NULL, 0) == 0 ? s_await(h, NULL) : EXIT_NOT_DONE;
    }
    size_t n = strcmp(name, "raw-garbage") == 0 ? 64 : 1024 * 1024; /* raw-bigframe: 1 MiB */
    uint8_t *junk = malloc(n);
    if (!junk)
        return EXIT_NOT_DONE;
    randombytes_buf(junk, n);
    int sent = s_link_send_raw(&h->link, junk, n, NULL, 0, false, false);
    free(junk);
    if (sent != 0) {
        fprintf(stderr, "asylink-peer: send failed: %s\n", zmq_strerror(zmq_errno()));
        return EXIT_NOT_DONE;
    }
    return s_await(h, NULL);
}

/* The cases that misuse Hello (or skip it). */
static int s_h_hello_case(s_hostile *h, const char *name)
{
    wire_cmd answer = {0};
    int rc;
    if (strcmp(name, "raw-garbage") == 0 || strcmp(name, "raw-bigframe") == 0 ||
        strcmp(name, "admin-stats") == 0 || strcmp(name, "admin-topics") == 0)
        return s_h_raw_case(h, name);
    if (strcmp(name, "no-hello") == 0) {
        uint8_t *env = NULL, id[16];
        size_t env_len = 0;
        s_seal_spec sp = {0};
        if (s_h_seal(h, &sp, 64, &env, &env_len, id) != 0)
            return EXIT_NOT_DONE;
        rc = s_publish(h, id, env, env_len) == 0 ? s_await(h, NULL) : EXIT_NOT_DONE;
        free(env);
        return rc;
    }
    if (strcmp(name, "hello-wrong-id") == 0) {
        const char *other = h->o->other ? h->o->other : strcmp(h->id->node, "DE") ? "DE" : "FR";
        rc = s_hello_wait(h, other, WIRE_PROTOCOL_VERSION, &answer);
    } else if (strcmp(name, "bad-version") == 0) {
        rc = s_hello_wait(h, h->id->node, WIRE_PROTOCOL_VERSION + 1, &answer);
    } else {
        return -1;
    }
    if (rc < 0) {
        printf("%s\n", h->link.disconnects ? "DISCONNECTED" : "NO_ANSWER");
        return EXIT_NOT_DONE;
    }
    rc = s_verdict(&answer);
    wire_cmd_clear(&answer);
    return rc;
}

static int s_run_hostile(const s_opts *o, s_ident *id)
{
    s_hostile h = {.id = id, .o = o,
                   .deadline_ms = clock_now_ms() + (uint64_t)(o->timeout_s * 1000.0)};
    const char *name = o->hostile_case ? o->hostile_case : "";
    const char *default_to = strcmp(id->node, "FR") ? "FR" : "DE";
    for (size_t i = 0; i < o->n_to; i++)
        h.to[h.n_to++] = o->to[i];
    if (h.n_to == 0)
        h.to[h.n_to++] = default_to;
    int rc = EXIT_NOT_DONE;
    s_slow_reader = strcmp(name, "dir-flood") == 0;
    if (s_link_open(&h.link, id, o->broker) != 0)
        goto cleanup;
    rc = s_h_hello_case(&h, name);
    if (rc != -1)
        goto cleanup;
    wire_cmd answer = {0};
    int hr = s_hello_wait(&h, id->node, WIRE_PROTOCOL_VERSION, &answer);
    if (hr != 0) {
        if (hr > 0) {
            printf("HELLO-FAILED ");
            s_verdict(&answer);
        } else {
            printf("NO_ANSWER\n");
        }
        wire_cmd_clear(&answer);
        rc = EXIT_NOT_DONE;
        goto cleanup;
    }
    wire_cmd_clear(&answer);
    if (strcmp(name, "replay") == 0)
        rc = s_h_replay(&h);
    else if ((rc = s_h_publish_case(&h, name)) == -1 &&
             (rc = s_h_directory_case(&h, name)) == -1)
        rc = s_h_frames_case(&h, name);
    if (rc == -1) {
        fprintf(stderr, "asylink-peer: unknown --case %s (see --help)\n", name);
        rc = EXIT_USAGE;
    }
cleanup:
    fflush(stdout);
    s_link_close(&h.link, 0);
    return rc;
}

static int s_run_connect_only(const s_opts *o, s_ident *id)
{
    s_hostile h = {.id = id, .o = o,
                   .deadline_ms = clock_now_ms() + (uint64_t)(o->timeout_s * 1000.0)};
    int rc = EXIT_NOT_DONE;
    if (s_link_open(&h.link, id, o->broker) == 0) {
        wire_cmd answer = {0};
        int hr = s_hello_wait(&h, id->node, WIRE_PROTOCOL_VERSION, &answer);
        if (hr < 0) {
            printf("NO_ANSWER\n");
            fprintf(stderr, "asylink-peer: no answer; %d CURVE handshake(s) refused "
                            "(ZAP status %d), %d succeeded\n",
                    h.link.auth_failures, h.link.last_fail_status, h.link.handshakes);
        } else {
            rc = s_verdict(&answer);
            if (hr > 0)
                rc = EXIT_NOT_DONE;
        }
        wire_cmd_clear(&answer);
    }
    fflush(stdout);
    s_link_close(&h.link, 0);
    return rc;
}

int main(int argc, char **argv)
{
    s_opts o;
    int code = s_parse(argc, argv, &o);
    if (code >= 0) {
        s_opts_free(&o);
        return code;
    }
    if (sodium_init() < 0)
        return EXIT_NOT_DONE;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    s_ident id;
    code = EXIT_USAGE;
    if (s_ident_load(&o, &id) != ASYLINK_OK)
        goto cleanup;
    if (strcmp(o.mode, "send") == 0 || strcmp(o.mode, "recv") == 0 ||
        strcmp(o.mode, "exchange") == 0 || strcmp(o.mode, "publish") == 0 ||
        strcmp(o.mode, "subscribe") == 0)
        code = s_run_session(&o, &id);
    else if (strcmp(o.mode, "hostile") == 0)
        code = s_run_hostile(&o, &id);
    else if (strcmp(o.mode, "connect-only") == 0)
        code = s_run_connect_only(&o, &id);
    else
        fprintf(stderr, "asylink-peer: unknown mode %s (see --help)\n", o.mode);
cleanup:
    s_ident_free(&id);
    s_opts_free(&o);
    return code;
}
