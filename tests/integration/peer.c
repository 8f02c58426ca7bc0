/*
 * peer.c — asylink-peer, a scriptable node for the broker integration tests
 * (tests/integration/0[2-9]-broker-*.sh and others through lib.sh): the
 * catalogue of hostile cases and the command line. The protocol itself —
 * identity, link, session engine — is tests/support (peernode.h,
 * peerlink.h, peerengine.h), so a test can drive the broker exactly,
 * including in ways no well-behaved client library ever would.
 *
 *   asylink-peer send     --to FR,IT --count N [--size B] [--class C] [--rate R]
 *                         [--window W] [--ids-out F] [--sent-out F] [--content-type T]
 *                         [--message-id UUID]
 *   asylink-peer recv     --count N [--window W] [--ids-out F] [--no-ack]
 *                         [--exit-after-recv K] [--any-payload]
 *   asylink-peer exchange --to FR --count N --recv-count M [--ids-out F] [--recv-ids-out F]
 *   asylink-peer hostile  --case NAME [--to NODE] [--size B] [--other NODE] [--topic T]
 *                         [--reason TEXT]
 *   asylink-peer publish  --topic T --count N [--class PUBLIC|LIMITED] [--to READERS]
 *                         [--ids-out F] [--sent-out F] (feed publish; PUBLIC: signed only)
 *   asylink-peer subscribe --prefix P --name N [--start new|earliest] --count N
 *                         [--ids-out F] [--exit-after-recv K] [--reset] [--window W]
 *   asylink-peer connect-only
 *
 * Common options: --broker ENDPOINT --broker-cert FILE --key FILE --cert FILE
 * --trust DIR [--timeout SECONDS]. Every wait is bounded by --timeout.
 *
 * Output (stdout, one line each, flushed): send, recv, exchange, publish
 * and subscribe print the session engine's event and summary lines
 * (tests/support/peerengine.h). hostile prints one verdict: REJECTED <CODE>
 * | ERROR <CODE> | BYE <CODE> | ACCEPTED [DUPLICATE] | DISCONNECTED |
 * NO_ANSWER; connect-only prints WELCOME or NO_ANSWER. Diagnostics go to
 * stderr.
 *
 * Exit status: 0 done (send: every message answered and none rejected;
 * recv: distinct >= count; hostile: an answer or a disconnect; connect-only:
 * WELCOME), 1 not done (timeout, rejections, NO_ANSWER), 2 usage, 3 the
 * session was ended by the broker for good (e.g. REVOKED).
 *
 * Threading: one thread, one event loop over the DEALER socket and its
 * monitor.
 */
#include "asylink/asylink.h"
#include "clock.h"
#include "envelope.h"
#include "peerengine.h"
#include "peerlink.h"
#include "peernode.h"
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
#include <time.h>
#include <zmq.h>

#define PEER_BIGFRAME (100u * 1024u * 1024u)

static volatile sig_atomic_t s_interrupted;

static void s_on_signal(int sig)
{
    (void)sig;
    s_interrupted = 1;
}

/* ---- options ---- */

typedef struct {
    const char *mode;          /* subcommand */
    const char *broker;        /* --broker endpoint */
    const char *broker_cert;   /* --broker-cert file */
    const char *key;           /* --key file */
    const char *cert;          /* --cert file (own) */
    const char *trust;         /* --trust dir */
    double timeout_s;          /* --timeout */
    char *to[PEERNODE_MAX_TO]; /* --to, split (owned) */
    size_t n_to;
    long count;               /* --count: messages to send (send) or receive (recv) */
    long recv_count;          /* --recv-count (exchange) */
    long size;                /* --size payload bytes; -1 = default */
    int classification;       /* --class */
    double rate;              /* --rate msgs/s; 0 = unlimited */
    long window;              /* --window; 0 = default */
    const char *ids_out;      /* --ids-out */
    const char *sent_out;     /* --sent-out (send) */
    const char *recv_ids_out; /* --recv-ids-out (exchange) */
    const char *content_type; /* --content-type */
    bool no_ack;              /* --no-ack */
    long exit_after;          /* --exit-after-recv; 0 = off */
    bool any_payload;         /* --any-payload */
    const char *hostile_case; /* --case */
    const char *other;        /* --other: node id to impersonate */
    const char *topic;        /* --topic (publish, hostile personal-topic) */
    const char *prefix;       /* --prefix (subscribe) */
    const char *sub_name;     /* --name (subscribe) */
    int start;                /* --start: 1 new, 2 earliest */
    bool reset;               /* --reset (subscribe) */
    bool class_set;           /* --class given */
    const char *message_id;   /* --message-id: every message gets this id (send) */
    const char *reason;       /* --reason: the Nacks' reason (hostile nack-reason) */
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
            "               personal-as-limited packed-publish packed-v1 packed-hello\n"
            "               packed-nested packed-truncated packed-badcmd\n"
            "               dir-toomany dir-flood hello-vanish [--count N] no-hello-credit\n"
            "               sub-churn [--count N] [--topic PREFIX]\n"
            "               publish-bye [--count N] [--size B] (Publishes, then Bye at once)\n"
            "               ack-rescan (Nack, then Ack while the queue is rescanned)\n"
            "               ack-count [--topic P] (Acks and Nacks repeated, of unknown seqs)\n"
            "               nack-backoff [--count N] (Nack N times: the backoff's schedule)\n"
            "               nack-twice (one Nack naming its sequence twice)\n"
            "               nack-reason --reason TEXT [--topic P] (Nacks giving TEXT)\n"
            "               direct-starve [--topic P] (a large direct message beside feeds)\n"
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
        if (len == 0 || len > NODE_ID_MAX || o->n_to == PEERNODE_MAX_TO) {
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
    O_BROKER = 256,
    O_BROKER_CERT,
    O_KEY,
    O_CERT,
    O_TRUST,
    O_TIMEOUT,
    O_TO,
    O_COUNT,
    O_RECV_COUNT,
    O_SIZE,
    O_CLASS,
    O_RATE,
    O_WINDOW,
    O_IDS_OUT,
    O_SENT_OUT,
    O_RECV_IDS_OUT,
    O_CONTENT_TYPE,
    O_NO_ACK,
    O_EXIT_AFTER,
    O_CASE,
    O_OTHER,
    O_HELP,
    O_TOPIC,
    O_PREFIX,
    O_NAME,
    O_START,
    O_RESET,
    O_MESSAGE_ID,
    O_ANY_PAYLOAD,
    O_REASON,
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
    {"reason", required_argument, NULL, O_REASON},
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
    case O_REASON: o->reason = arg; return 0;
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
        return argc < 2 ? PEER_USAGE : PEER_DONE;
    }
    o->mode = argv[1];
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc - 1, argv + 1, "", s_long_opts, NULL)) != -1) {
        int rc = s_apply_opt(o, ch, optarg);
        if (rc == 1) {
            s_usage(stdout);
            return PEER_DONE;
        }
        if (rc != 0)
            return PEER_USAGE;
    }
    if (optind < argc - 1) {
        fprintf(stderr, "asylink-peer: unexpected argument %s\n", argv[optind + 1]);
        return PEER_USAGE;
    }
    if (!o->broker || !o->broker_cert || !o->key || !o->cert || !o->trust) {
        fprintf(stderr, "asylink-peer: --broker, --broker-cert, --key, --cert and --trust "
                        "are required\n");
        return PEER_USAGE;
    }
    return -1;
}

static void s_opts_free(s_opts *o)
{
    for (size_t i = 0; i < o->n_to; i++)
        free(o->to[i]);
}

/* ---- send, recv, exchange, publish, subscribe: the session engine ---- */

/* The sending role from the options; -1 (usage) if they do not make one. */
static int s_send_role(const s_opts *o, peerengine_send *tx)
{
    bool feed = strcmp(o->mode, "publish") == 0;
    if (feed && !o->topic) {
        fprintf(stderr, "asylink-peer: --topic is required\n");
        return -1;
    }
    if (o->n_to == 0 && !(feed && o->classification == ENVELOPE_PUBLIC)) {
        fprintf(stderr, "asylink-peer: --to is required\n");
        return -1;
    }
    *tx = (peerengine_send){.count = o->count,
                            .window = o->window ? o->window : 100,
                            .rate = o->rate,
                            .size = o->size >= 0 ? (size_t)o->size : 256,
                            .ids_out = o->ids_out,
                            .sent_out = o->sent_out,
                            .spec = {.to = (const char *const *)o->to,
                                     .n_to = o->n_to,
                                     .classification = o->classification,
                                     .content_type = o->content_type,
                                     .topic = feed ? o->topic : NULL,
                                     .no_readers = feed && o->n_to == 0}};
    return 0;
}

/* The receiving role from the options; -1 (usage) if they do not make one. */
static int s_recv_role(const s_opts *o, peerengine_recv *rx)
{
    bool exchange = strcmp(o->mode, "exchange") == 0;
    *rx = (peerengine_recv){.count = exchange ? o->recv_count : o->count,
                            .window = o->window ? o->window : 100,
                            .no_ack = o->no_ack,
                            .exit_after = o->exit_after,
                            .any_payload = o->any_payload,
                            .ids_out = exchange ? o->recv_ids_out : o->ids_out};
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
    return 0;
}

static int s_run_session(const s_opts *o, peernode *id)
{
    bool sending = strcmp(o->mode, "send") == 0 || strcmp(o->mode, "exchange") == 0 ||
                   strcmp(o->mode, "publish") == 0;
    bool receiving = strcmp(o->mode, "recv") == 0 || strcmp(o->mode, "exchange") == 0 ||
                     strcmp(o->mode, "subscribe") == 0;
    peerengine_send tx;
    peerengine_recv rx;
    if ((sending && s_send_role(o, &tx) != 0) || (receiving && s_recv_role(o, &rx) != 0))
        return PEER_USAGE;
    uint64_t deadline = clock_now_ms() + (uint64_t)(o->timeout_s * 1000.0);
    return peerengine_run(id, o->broker, sending ? &tx : NULL, receiving ? &rx : NULL, deadline,
                          &s_interrupted);
}

/* ---- hostile and connect-only ---- */

typedef struct {
    peernode *id;
    const s_opts *o;
    peerlink link;
    uint64_t deadline_ms;
    wire_limits limits;
    const char *to[PEERNODE_MAX_TO];
    size_t n_to;
} s_hostile;

/* Connects for a hostile case or connect-only; 0 or -1. */
static int s_hostile_open(s_hostile *h, bool slow_reader)
{
    peerlink_opts lo = {.server_pk = h->id->broker->box_pk,
                        .keys = h->id->keys,
                        .monitor = true,
                        .quick_reconnect = true,
                        .hwm = 100000,
                        .slow_reader = slow_reader,
                        .stop = &s_interrupted};
    return peerlink_open(&h->link, h->o->broker, &lo);
}

/*
 * Hello with node_id and version; waits for the answer (peerlink_hello):
 * 0 on Welcome (its limits noted), 1 on Error or Bye, < 0 without one.
 */
static int s_hello_wait(s_hostile *h, const char *node_id, uint32_t version, wire_cmd *answer)
{
    wire_cmd c;
    peerwire_hello(&c, 1, node_id, "asylink-peer", 0);
    c.u.hello.protocol_version = version;
    int rc = peerlink_hello(&h->link, &c, h->deadline_ms, answer);
    if (rc == 0)
        h->limits = answer->u.welcome.limits;
    return rc;
}

/* Prints the verdict for one answer; returns the exit status. */
static int s_verdict(const wire_cmd *c)
{
    switch (c->kind) {
    case WIRE_REJECTED:
        printf("REJECTED %s\n", asylink_err_name(c->u.rejected.code));
        fprintf(stderr, "asylink-peer: reason: %s\n", c->u.rejected.reason);
        return PEER_DONE;
    case WIRE_ERROR:
    case WIRE_BYE:
        printf("%s %s\n", c->kind == WIRE_ERROR ? "ERROR" : "BYE",
               asylink_err_name(c->u.error.code));
        fprintf(stderr, "asylink-peer: reason: %s%s\n", c->u.error.reason,
                c->u.error.fatal ? " (fatal)" : "");
        return PEER_DONE;
    case WIRE_ACCEPTED:
        printf("ACCEPTED%s\n", c->u.accepted.duplicate ? " DUPLICATE" : "");
        return PEER_DONE;
    case WIRE_WELCOME: printf("WELCOME\n"); return PEER_DONE;
    default: printf("UNEXPECTED %s\n", wire_kind_name(c->kind)); return PEER_NOT_DONE;
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
        peerwire_in in;
        if (peerlink_recv(&h->link, 50, &in) != 1) {
            peerwire_in_clear(&in);
            continue;
        }
        int rc = -1;
        bool skip = in.decode_rc == ASYLINK_OK &&
                    (in.cmd.kind == WIRE_HEARTBEAT || in.cmd.kind == WIRE_DELIVER);
        if (in.admin_response) {
            printf("ADMIN_RESPONSE\n");
            rc = PEER_DONE;
        } else if (in.decode_rc != ASYLINK_OK) {
            printf("UNDECODABLE %s\n", asylink_err_name(in.decode_rc));
            rc = PEER_NOT_DONE;
        } else if (!skip && want_answer) {
            *want_answer = in.cmd;
            memset(&in.cmd, 0, sizeof in.cmd);
            rc = 0;
        } else if (!skip) {
            rc = s_verdict(&in.cmd);
        }
        peerwire_in_clear(&in);
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
    return gone ? PEER_DONE : PEER_NOT_DONE;
}

static int s_publish(s_hostile *h, const uint8_t id[16], const uint8_t *env, size_t env_len)
{
    wire_cmd c = {.kind = WIRE_PUBLISH};
    memcpy(c.u.publish.message_id, id, 16);
    if (peerlink_send(&h->link, &c, env, env_len) == 0)
        return 0;
    fprintf(stderr, "asylink-peer: send failed: %s\n", zmq_strerror(zmq_errno()));
    return -1;
}

/* Seals one honest-looking message to the hostile recipients. */
static int s_h_seal(s_hostile *h, peernode_seal_spec *sp, size_t len, uint8_t **env,
                    size_t *env_len, uint8_t id[16])
{
    if (!sp->to) {
        sp->to = h->to;
        sp->n_to = h->n_to;
    }
    if (!sp->classification)
        sp->classification = h->o->classification;
    if (!sp->content_type)
        sp->content_type = h->o->content_type;
    return peernode_seal(h->id, sp, len, env, env_len, id) == ASYLINK_OK ? 0 : -1;
}

/*
 * Seals a message whose envelope is exactly target bytes; if protobuf length
 * prefixes make that impossible, the nearest size below (at_most) or above.
 */
static int s_h_seal_exact(s_hostile *h, size_t target, bool at_most, uint8_t **env, size_t *env_len,
                          uint8_t id[16])
{
    size_t len = target > 4096 ? target - 4096 : 0;
    for (int tries = 0; tries < 8; tries++) {
        peernode_seal_spec sp = {0};
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
    peernode_seal_spec sp = {0};
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
        sp = (peernode_seal_spec){
            .to = unknown_to, .n_to = 1, .classification = ENVELOPE_PUBLIC, .no_readers = true};
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
        sp = (peernode_seal_spec){.to = analyst, .n_to = 1, .classification = ENVELOPE_PERSONAL};
        rc = s_h_seal(h, &sp, size, &env, &env_len, id);
    } else if (strcmp(name, "personal-as-limited") == 0) {
        /* personal data (asylum.proto) sent LIMITED: refused whoever may receive LIMITED */
        sp = (peernode_seal_spec){.to = h->to,
                                  .n_to = h->n_to,
                                  .classification = ENVELOPE_LIMITED,
                                  .content_type = "asylink.v1.InformationRequest"};
        rc = s_h_seal(h, &sp, size, &env, &env_len, id);
    } else if (strcmp(name, "personal-topic") == 0) {
        /* A LIMITED feed envelope whose header then says PERSONAL (not re-signed). */
        sp = (peernode_seal_spec){.to = h->to,
                                  .n_to = h->n_to,
                                  .classification = ENVELOPE_LIMITED,
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
        peernode_next_id(h->id, id);
    } else {
        return -1;
    }
    if (rc == 0 || rc == ASYLINK_OK)
        rc = s_publish(h, id, env, env_len) == 0 ? s_await(h, NULL) : PEER_NOT_DONE;
    else
        rc = PEER_NOT_DONE;
    free(env);
    envelope_sealer_destroy(&forger);
    return rc;
}

/* replay: the same envelope twice; the second answer must be a duplicate. */
static int s_h_replay(s_hostile *h)
{
    peernode_seal_spec sp = {0};
    uint8_t *env = NULL, id[16];
    size_t env_len = 0;
    int rc = PEER_NOT_DONE;
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
    rc = s_await(h, &second) == 0 ? s_verdict(&second) : PEER_NOT_DONE;
    if (rc == PEER_DONE && second.kind == WIRE_ACCEPTED &&
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
 * any answer; then, once the connection drops (at most 20 s), reads what
 * still arrives. Prints "SENT n ANSWERS k ENDED 0|1" (exit 0); the broker
 * must end the session when its unread output passes
 * limits.max_session_output and stay small.
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
        return PEER_NOT_DONE;
    for (size_t i = 0; i < n; i++)
        snprintf(q->node_ids[i], sizeof q->node_ids[i], "%s", nodes[i % 6]);
    q->n_node_ids = n;
    int rc = PEER_NOT_DONE;
    if (!flood) {
        rc = peerlink_send(&h->link, &c, NULL, 0) == 0 ? s_await(h, NULL) : PEER_NOT_DONE;
        free(q->node_ids);
        return rc;
    }
    long count = h->o->count > 0 ? h->o->count : 4000, sent = 0, answers = 0;
    for (; sent < count && !s_interrupted; sent++)
        if (peerlink_send(&h->link, &c, NULL, 0) != 0)
            break;
    free(q->node_ids);
    /* Not reading: the answers pile up at the broker, which ends the session once they pass
       its bound, and libzmq drops the connection when this side answers no heartbeat. That
       is waited for (at most 20 s), not a fixed 3 s as before: a broker slowed down by a
       sanitizer and load took longer than that to answer enough, and the answers read
       after it came as fast as it made them. */
    bool ended = peerlink_wait_disconnect(&h->link, 20000);
    for (;;) {
        peerwire_in in;
        int got = peerlink_recv(&h->link, 500, &in);
        peerwire_in_clear(&in);
        if (got != 1)
            break;
        answers++;
    }
    printf("SENT %ld ANSWERS %ld ENDED %d\n", sent, answers, ended);
    return PEER_DONE;
}

/*
 * The Packed frame cases (protocol version 2, PROTOCOL.md 11.2.1); the
 * session said version 2 except for packed-v1. cmd / env: a valid Publish.
 */
static int s_h_packed_send(s_hostile *h, const char *name, const uint8_t *cmd, size_t cmd_len,
                           const uint8_t *env, size_t env_len)
{
    wire_packer p;
    wire_packer_init(&p, 0);
    int rc = ASYLINK_OK;
    if (strcmp(name, "packed-hello") == 0) {
        wire_cmd hello;
        peerwire_hello(&hello, 7, h->id->node, "asylink-peer", 0);
        rc = wire_packer_add_cmd(&p, &hello, NULL, 0);
    } else if (strcmp(name, "packed-nested") == 0) { /* a Packed inside a Packed */
        wire_packer inner;
        wire_packer_init(&inner, 0);
        size_t off = 0, len = 0;
        rc = wire_packer_add(&inner, cmd, cmd_len, env, env_len);
        uint8_t *b = rc == ASYLINK_OK ? wire_packer_finish(&inner, &off, &len) : NULL;
        rc = b ? wire_packer_add(&p, b + off, len, NULL, 0) : ASYLINK_E_NOMEM;
        free(b);
        wire_packer_free(&inner);
    } else if (strcmp(name, "packed-badcmd") == 0) { /* frames well, the command does not decode */
        uint8_t *bad = malloc(cmd_len);
        if (bad) {
            memcpy(bad, cmd, cmd_len);
            bad[1] ^= 0x7f; /* Publish's length */
            rc = wire_packer_add(&p, bad, cmd_len, env, env_len);
        }
        free(bad);
        rc = bad ? rc : ASYLINK_E_NOMEM;
    } else { /* packed-v1, packed-publish, packed-truncated: one valid Publish */
        rc = wire_packer_add(&p, cmd, cmd_len, env, env_len);
    }
    size_t off = 0, len = 0;
    uint8_t *block = rc == ASYLINK_OK ? wire_packer_finish(&p, &off, &len) : NULL;
    if (block && strcmp(name, "packed-truncated") == 0)
        len--; /* the framing itself is broken: nothing of it runs */
    int sent = block ? peerlink_send_raw(&h->link, block + off, len, NULL, 0, false, false) : -1;
    free(block);
    wire_packer_free(&p);
    return sent;
}

/* The cases that send a bad frame sequence rather than a bad envelope. */
static int s_h_frames_case(s_hostile *h, const char *name)
{
    uint8_t id[16], *cmd = NULL, *env = NULL;
    size_t cmd_len = 0, env_len = 0;
    peernode_seal_spec sp = {0};
    wire_cmd c = {.kind = WIRE_PUBLISH};
    int rc = PEER_NOT_DONE, sent = -1;
    if (s_h_seal(h, &sp, 64, &env, &env_len, id) != 0)
        return rc;
    memcpy(c.u.publish.message_id, id, 16);
    if (wire_encode(&c, &cmd, &cmd_len) != ASYLINK_OK)
        goto cleanup;
    if (strcmp(name, "garbage") == 0) {
        uint8_t junk[64];
        randombytes_buf(junk, sizeof junk);
        sent = peerlink_send_raw(&h->link, junk, sizeof junk, NULL, 0, false, false);
    } else if (strcmp(name, "truncated") == 0) {
        sent = peerlink_send_raw(&h->link, cmd, cmd_len / 2, env, env_len, true, false);
    } else if (strcmp(name, "no-envelope") == 0) {
        sent = peerlink_send_raw(&h->link, cmd, cmd_len, NULL, 0, false, false);
    } else if (strcmp(name, "extra-frame") == 0) {
        sent = peerlink_send_raw(&h->link, cmd, cmd_len, env, env_len, true, true);
    } else if (strcmp(name, "bigframe") == 0) {
        uint8_t *big = calloc(1, PEER_BIGFRAME);
        if (big)
            sent = peerlink_send_raw(&h->link, cmd, cmd_len, big, PEER_BIGFRAME, true, false);
        free(big);
    } else if (strncmp(name, "packed-", 7) == 0) {
        sent = s_h_packed_send(h, name, cmd, cmd_len, env, env_len);
    } else if (strcmp(name, "big-ack") == 0) {
        size_t n = (h->limits.max_ack_batch ? h->limits.max_ack_batch : 1000) + 1;
        wire_cmd a = {.kind = WIRE_ACK};
        a.u.ack.sequences = calloc(n, sizeof *a.u.ack.sequences);
        for (size_t i = 0; a.u.ack.sequences && i < n; i++)
            a.u.ack.sequences[i] = i + 1000000000ull;
        a.u.ack.n_sequences = n;
        sent = a.u.ack.sequences ? peerlink_send(&h->link, &a, NULL, 0) : -1;
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
        return peerlink_send(&h->link, &c, NULL, 0) == 0 ? s_await(h, NULL) : PEER_NOT_DONE;
    }
    size_t n = strcmp(name, "raw-garbage") == 0 ? 64 : 1024 * 1024; /* raw-bigframe: 1 MiB */
    uint8_t *junk = malloc(n);
    if (!junk)
        return PEER_NOT_DONE;
    randombytes_buf(junk, n);
    int sent = peerlink_send_raw(&h->link, junk, n, NULL, 0, false, false);
    free(junk);
    if (sent != 0) {
        fprintf(stderr, "asylink-peer: send failed: %s\n", zmq_strerror(zmq_errno()));
        return PEER_NOT_DONE;
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
    if (strcmp(name, "no-hello-credit") == 0) {
        /* Credit, and an Ack for every delivery, without a Hello: until its timeout, prints
           DELIVERIES N (0 from a broker that keeps sessions to their own node) */
        for (int k = 0; k < 200 && h->link.handshakes == 0; k++) {
            peerwire_in in;
            peerlink_recv(&h->link, 5, &in);
            peerwire_in_clear(&in);
        }
        wire_cmd c = {.kind = WIRE_CREDIT};
        c.u.credit.window_messages = 1000;
        peerlink_send(&h->link, &c, NULL, 0);
        long n = 0;
        while (clock_now_ms() < h->deadline_ms && !s_interrupted) {
            peerwire_in in;
            if (peerlink_recv(&h->link, 50, &in) == 1 && in.decode_rc == ASYLINK_OK &&
                in.cmd.kind == WIRE_DELIVER) {
                n++;
                uint64_t seq = in.cmd.u.deliver.sequence;
                wire_cmd a = {.kind = WIRE_ACK};
                a.u.ack.sequences = &seq;
                a.u.ack.n_sequences = 1;
                peerlink_send(&h->link, &a, NULL, 0);
            }
            peerwire_in_clear(&in);
        }
        printf("DELIVERIES %ld\n", n);
        return PEER_DONE;
    }
    if (strcmp(name, "hello-vanish") == 0) {
        /* Hello, then the connection goes at once, --count times: the broker reads the Hello
           of a connection ZeroMQ already dropped (sends to it fail with EHOSTUNREACH) */
        long n = h->o->count > 0 ? h->o->count : 1;
        for (long i = 0; i < n && !s_interrupted; i++) {
            if (i > 0 && s_hostile_open(h, false) != 0)
                return PEER_NOT_DONE;
            for (int k = 0; k < 200 && h->link.handshakes == 0; k++) {
                peerwire_in in; /* the CURVE handshake first, so that the Hello is read */
                peerlink_recv(&h->link, 5, &in);
                peerwire_in_clear(&in);
            }
            wire_cmd c;
            peerwire_hello(&c, 1, h->id->node, "asylink-peer", 100000);
            peerlink_send(&h->link, &c, NULL, 0);
            peerlink_close(&h->link, 200); /* the Hello leaves, then the connection closes */
            memset(&h->link, 0, sizeof h->link);
        }
        if (s_hostile_open(h, false) != 0) /* (closed by the caller) */
            return PEER_NOT_DONE;
        printf("VANISHED %ld\n", n);
        return PEER_DONE;
    }
    if (strcmp(name, "no-hello") == 0) {
        uint8_t *env = NULL, id[16];
        size_t env_len = 0;
        peernode_seal_spec sp = {0};
        if (s_h_seal(h, &sp, 64, &env, &env_len, id) != 0)
            return PEER_NOT_DONE;
        rc = s_publish(h, id, env, env_len) == 0 ? s_await(h, NULL) : PEER_NOT_DONE;
        free(env);
        return rc;
    }
    if (strcmp(name, "hello-wrong-id") == 0) {
        const char *other = h->o->other ? h->o->other : strcmp(h->id->node, "DE") ? "DE" : "FR";
        rc = s_hello_wait(h, other, WIRE_PROTOCOL_VERSION, &answer);
    } else if (strcmp(name, "bad-version") == 0) {
        rc = s_hello_wait(h, h->id->node, WIRE_PROTOCOL_PACKED + 1, &answer);
    } else {
        return -1;
    }
    if (rc < 0) {
        printf("%s\n", h->link.disconnects ? "DISCONNECTED" : "NO_ANSWER");
        return PEER_NOT_DONE;
    }
    rc = s_verdict(&answer);
    wire_cmd_clear(&answer);
    return rc;
}

/*
 * publish-bye: --count Publishes (default 8) of --size bytes (default 1 MiB),
 * sealed first, then sent back to back and followed by a Bye at once: the
 * broker ends the session while they are being verified or committed, so
 * their answers find no session. Prints SENT n ANSWERED m (those answered
 * before the broker read the Bye).
 */
static int s_h_publish_bye(s_hostile *h)
{
    size_t n = h->o->count > 0 ? (size_t)h->o->count : 8, sealed = 0;
    size_t size = h->o->size >= 0 ? (size_t)h->o->size : 1024 * 1024;
    uint8_t **envs = calloc(n, sizeof *envs), (*ids)[16] = calloc(n, sizeof *ids);
    size_t *lens = calloc(n, sizeof *lens);
    int rc = PEER_NOT_DONE;
    while (envs && ids && lens && sealed < n) {
        peernode_seal_spec sp = {0};
        if (s_h_seal(h, &sp, size, &envs[sealed], &lens[sealed], ids[sealed]) != 0)
            break;
        sealed++;
    }
    size_t sent = 0;
    while (sealed == n && sent < n && s_publish(h, ids[sent], envs[sent], lens[sent]) == 0)
        sent++;
    wire_cmd bye = {.kind = WIRE_BYE};
    if (sent == n && peerlink_send(&h->link, &bye, NULL, 0) == 0) {
        /* a second for the frames to leave (the caller closes without linger), answers
           counted: those the broker sent before it read the Bye */
        long answered = 0;
        for (uint64_t until = clock_now_ms() + 1000; clock_now_ms() < until && !s_interrupted;) {
            peerwire_in in;
            if (peerlink_recv(&h->link, 50, &in) == 1 && in.decode_rc == ASYLINK_OK)
                answered += in.cmd.kind == WIRE_ACCEPTED || in.cmd.kind == WIRE_REJECTED;
            peerwire_in_clear(&in);
        }
        printf("SENT %zu ANSWERED %ld\n", sent, answered);
        rc = PEER_DONE;
    }
    for (size_t i = 0; i < sealed; i++)
        free(envs[i]);
    free(envs);
    free(ids);
    free(lens);
    return rc;
}

/* Sends an Ack (kind WIRE_ACK) or a Nack to retry (WIRE_NACK) of one direct seq; 0 or -1. */
static int s_h_settle(s_hostile *h, wire_kind kind, uint64_t seq)
{
    wire_cmd c = {.kind = kind};
    c.u.ack.sequences = &seq;
    c.u.ack.n_sequences = 1;
    if (kind == WIRE_NACK) {
        c.u.ack.disposition = WIRE_NACK_RETRY;
        c.u.ack.code = ASYLINK_E_UNAVAILABLE;
        snprintf(c.u.ack.reason, sizeof c.u.ack.reason, "not now");
    }
    return peerlink_send(&h->link, &c, NULL, 0);
}

/* The next Deliver until `until` (clock_now_ms): 1 with *seq and *attempt, 0 without one. */
static int s_h_next_deliver(s_hostile *h, uint64_t until, uint64_t *seq, uint32_t *attempt)
{
    while (!s_interrupted && clock_now_ms() < until) {
        peerwire_in in;
        int got = peerlink_recv(&h->link, 20, &in) == 1 && in.decode_rc == ASYLINK_OK &&
                  in.cmd.kind == WIRE_DELIVER && !in.cmd.u.deliver.subscription[0];
        if (got) {
            *seq = in.cmd.u.deliver.sequence;
            *attempt = in.cmd.u.deliver.attempt;
        }
        peerwire_in_clear(&in);
        if (got)
            return 1;
    }
    return 0;
}

/*
 * ack-rescan: with at least two messages queued for this node and a window
 * of two, deliveries A and B; Nack A (retry after the broker's backoff);
 * A comes again (the broker rescans the queue, and the window is full
 * again); Ack B; then every direct delivery for 2 s is watched, and a
 * second Ack of B sent meanwhile. Prints "REDELIVERED n": how often B, acknowledged,
 * came again (0 expected: PROTOCOL.md 11.6).
 */
static int s_h_ack_rescan(s_hostile *h)
{
    wire_cmd credit = {.kind = WIRE_CREDIT};
    credit.u.credit.window_messages = 2;
    uint64_t a = 0, b = 0, seq = 0;
    uint32_t attempt = 0;
    if (peerlink_send(&h->link, &credit, NULL, 0) != 0 ||
        !s_h_next_deliver(h, h->deadline_ms, &a, &attempt) ||
        !s_h_next_deliver(h, h->deadline_ms, &b, &attempt) || s_h_settle(h, WIRE_NACK, a) != 0) {
        printf("NO_DELIVERIES\n");
        return PEER_NOT_DONE;
    }
    while (s_h_next_deliver(h, h->deadline_ms, &seq, &attempt) && seq != a)
        ; /* A again, after the backoff */
    if (seq != a || s_h_settle(h, WIRE_ACK, b) != 0) {
        printf("NO_REDELIVERY\n");
        return PEER_NOT_DONE;
    }
    long again = 0;
    for (uint64_t until = clock_now_ms() + 2000; s_h_next_deliver(h, until, &seq, &attempt);) {
        fprintf(stderr, "asylink-peer: delivery seq=%llu attempt=%u after the Ack of %llu\n",
                (unsigned long long)seq, attempt, (unsigned long long)b);
        if (seq == b) {
            again++;
            s_h_settle(h, WIRE_ACK, b);
        }
    }
    printf("REDELIVERED %ld\n", again);
    return PEER_DONE;
}

/* The next Deliver (direct or feed) until `until`: 1 with *d, 0 without one. */
static int s_h_next_any(s_hostile *h, uint64_t until, wire_deliver *d)
{
    while (!s_interrupted && clock_now_ms() < until) {
        peerwire_in in;
        int got = peerlink_recv(&h->link, 20, &in) == 1 && in.decode_rc == ASYLINK_OK &&
                  in.cmd.kind == WIRE_DELIVER;
        if (got) {
            *d = in.cmd.u.deliver;
            d->topic[sizeof d->topic - 1] = 0;
        }
        peerwire_in_clear(&in);
        if (got)
            return 1;
    }
    return 0;
}

/* Sends Credit (messages, bytes); 0 or -1. */
static int s_h_credit(s_hostile *h, uint32_t messages, uint64_t bytes)
{
    wire_cmd c = {.kind = WIRE_CREDIT};
    c.u.credit.window_messages = messages;
    c.u.credit.window_bytes = bytes;
    return peerlink_send(&h->link, &c, NULL, 0);
}

/*
 * Sends an Ack (kind WIRE_ACK) or a Nack to retry (WIRE_NACK) of the n
 * seqs, direct (sub NULL) or of the subscription sub; 0 or -1.
 */
static int s_h_settle_many(s_hostile *h, wire_kind kind, const char *sub, uint64_t *seqs, size_t n)
{
    wire_cmd c = {.kind = kind};
    c.u.ack.sequences = seqs;
    c.u.ack.n_sequences = n;
    if (sub)
        snprintf(c.u.ack.subscription, sizeof c.u.ack.subscription, "%s", sub);
    if (kind == WIRE_NACK) {
        c.u.ack.disposition = WIRE_NACK_RETRY;
        c.u.ack.code = ASYLINK_E_UNAVAILABLE;
        snprintf(c.u.ack.reason, sizeof c.u.ack.reason, "not now");
    }
    return peerlink_send(&h->link, &c, NULL, 0);
}

/* Subscribes (earliest) to prefix as name and waits for Subscribed; 0 or -1. */
static int s_h_subscribe(s_hostile *h, const char *name, const char *prefix)
{
    wire_cmd c = {.kind = WIRE_SUBSCRIBE, .request_id = 7};
    snprintf(c.u.subscribe.subscription, sizeof c.u.subscribe.subscription, "%s", name);
    snprintf(c.u.subscribe.topic_prefix, sizeof c.u.subscribe.topic_prefix, "%s", prefix);
    c.u.subscribe.start = 2;
    if (peerlink_send(&h->link, &c, NULL, 0) != 0)
        return -1;
    wire_cmd answer = {0};
    int rc = s_await(h, &answer) == 0 && answer.kind == WIRE_SUBSCRIBED ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "asylink-peer: no Subscribed (%s)\n", wire_kind_name(answer.kind));
    wire_cmd_clear(&answer);
    return rc;
}

/*
 * ack-count: with two direct messages queued for this node (A, B) and
 * feed messages under --topic (default "stats"): A and B are delivered;
 * Ack [A, A, never-queued], Ack [A] again, Nack [never-queued], Nack [B];
 * B comes again after the backoff and is acknowledged. Then the
 * subscription "count" (earliest) gets its first message F: Ack
 * [never-delivered], Nack [F], Nack [F] again while it waits; F comes
 * again and gets Ack [F, F]. What happened: 3 acknowledgements (A, B, F)
 * and 2 Nacks (B, F's first). Prints "DONE", or where it stopped.
 */
static int s_h_ack_count(s_hostile *h)
{
    uint64_t a = 0, b = 0, seq = 0;
    uint32_t attempt = 0;
    if (s_h_credit(h, 2, 0) != 0 || !s_h_next_deliver(h, h->deadline_ms, &a, &attempt) ||
        !s_h_next_deliver(h, h->deadline_ms, &b, &attempt)) {
        printf("NO_DELIVERIES\n");
        return PEER_NOT_DONE;
    }
    uint64_t never = (a > b ? a : b) + 1000000;
    uint64_t first[3] = {a, a, never}, again[1] = {a}, unknown[1] = {never}, nb[1] = {b};
    if (s_h_settle_many(h, WIRE_ACK, NULL, first, 3) != 0 ||
        s_h_settle_many(h, WIRE_ACK, NULL, again, 1) != 0 ||
        s_h_settle_many(h, WIRE_NACK, NULL, unknown, 1) != 0 ||
        s_h_settle_many(h, WIRE_NACK, NULL, nb, 1) != 0) {
        printf("SEND_FAILED\n");
        return PEER_NOT_DONE;
    }
    while (s_h_next_deliver(h, h->deadline_ms, &seq, &attempt) && seq != b)
        ;
    if (seq != b || s_h_settle_many(h, WIRE_ACK, NULL, nb, 1) != 0) {
        printf("NO_REDELIVERY\n");
        return PEER_NOT_DONE;
    }
    const char *prefix = h->o->topic ? h->o->topic : "stats";
    wire_deliver d = {0};
    if (s_h_subscribe(h, "count", prefix) != 0 || !s_h_next_any(h, h->deadline_ms, &d) ||
        strcmp(d.subscription, "count") != 0) {
        printf("NO_FEED_DELIVERY\n");
        return PEER_NOT_DONE;
    }
    uint64_t f[2] = {d.sequence, d.sequence}, fnever[1] = {d.sequence + 1000000};
    if (s_h_settle_many(h, WIRE_ACK, "count", fnever, 1) != 0 ||
        s_h_settle_many(h, WIRE_NACK, "count", f, 1) != 0 ||
        s_h_settle_many(h, WIRE_NACK, "count", f, 1) != 0) {
        printf("SEND_FAILED\n");
        return PEER_NOT_DONE;
    }
    wire_deliver d2 = {0};
    while (s_h_next_any(h, h->deadline_ms, &d2) &&
           (d2.sequence != d.sequence || strcmp(d2.subscription, "count") != 0))
        ;
    if (d2.sequence != d.sequence || s_h_settle_many(h, WIRE_ACK, "count", f, 2) != 0) {
        printf("NO_FEED_REDELIVERY\n");
        return PEER_NOT_DONE;
    }
    /* Unsubscribe (the cursor kept): answered once the Ack before it was read */
    wire_cmd u = {.kind = WIRE_UNSUBSCRIBE, .request_id = 8};
    snprintf(u.u.unsubscribe.subscription, sizeof u.u.unsubscribe.subscription, "count");
    wire_cmd answer = {0};
    if (peerlink_send(&h->link, &u, NULL, 0) != 0 || s_await(h, &answer) != 0) {
        wire_cmd_clear(&answer);
        printf("NO_UNSUBSCRIBED\n");
        return PEER_NOT_DONE;
    }
    wire_cmd_clear(&answer);
    printf("DONE\n");
    return PEER_DONE;
}

/*
 * nack-backoff: with a message queued for this node and a window of one,
 * its delivery is Nacked (RETRY, no retry_after_ms) --count times (default
 * 3), each time as soon as it comes; one line per Nack, "NACKED attempt=N
 * AGAIN attempt=M after_ms=D" (D: from the Nack to the delivery of the
 * same sequence again); then it is acknowledged.
 */
static int s_h_nack_backoff(s_hostile *h)
{
    long n = h->o->count > 0 ? h->o->count : 3;
    uint64_t seq = 0, s2 = 0;
    uint32_t attempt = 0, a2 = 0;
    if (s_h_credit(h, 1, 0) != 0 || !s_h_next_deliver(h, h->deadline_ms, &seq, &attempt)) {
        printf("NO_DELIVERIES\n");
        return PEER_NOT_DONE;
    }
    for (long i = 0; i < n; i++) {
        uint64_t one[1] = {seq};
        uint64_t t0 = clock_now_ms();
        if (s_h_settle_many(h, WIRE_NACK, NULL, one, 1) != 0)
            return PEER_NOT_DONE;
        while (s_h_next_deliver(h, h->deadline_ms, &s2, &a2) && s2 != seq)
            ;
        if (s2 != seq) {
            printf("NO_REDELIVERY\n");
            return PEER_NOT_DONE;
        }
        printf("NACKED attempt=%u AGAIN attempt=%u after_ms=%llu\n", attempt, a2,
               (unsigned long long)(clock_now_ms() - t0));
        fflush(stdout);
        attempt = a2;
    }
    uint64_t one[1] = {seq};
    return s_h_settle_many(h, WIRE_ACK, NULL, one, 1) == 0 ? PEER_DONE : PEER_NOT_DONE;
}

/*
 * nack-twice: with a message queued for this node and a window of one, its
 * delivery is Nacked (RETRY) with its sequence named twice in the one Nack:
 * two failed attempts, the second refused before the first is committed.
 * Prints "AGAIN attempt=M after_ms=D" (D: from the Nack to the delivery of
 * the same sequence again), then acknowledges it.
 */
static int s_h_nack_twice(s_hostile *h)
{
    uint64_t seq = 0, s2 = 0;
    uint32_t attempt = 0, a2 = 0;
    if (s_h_credit(h, 1, 0) != 0 || !s_h_next_deliver(h, h->deadline_ms, &seq, &attempt)) {
        printf("NO_DELIVERIES\n");
        return PEER_NOT_DONE;
    }
    uint64_t two[2] = {seq, seq};
    uint64_t t0 = clock_now_ms();
    if (s_h_settle_many(h, WIRE_NACK, NULL, two, 2) != 0)
        return PEER_NOT_DONE;
    while (s_h_next_deliver(h, h->deadline_ms, &s2, &a2) && s2 != seq)
        ;
    if (s2 != seq) {
        printf("NO_REDELIVERY\n");
        return PEER_NOT_DONE;
    }
    printf("AGAIN attempt=%u after_ms=%llu\n", a2, (unsigned long long)(clock_now_ms() - t0));
    return s_h_settle_many(h, WIRE_ACK, NULL, two, 1) == 0 ? PEER_DONE : PEER_NOT_DONE;
}

/* Sends a Nack of seq (direct: sub NULL) with the code NOT_FOUND and --reason; 0 or -1. */
static int s_h_nack_reason(s_hostile *h, const char *sub, uint64_t seq, int disp)
{
    wire_cmd c = {.kind = WIRE_NACK};
    c.u.ack.sequences = &seq;
    c.u.ack.n_sequences = 1;
    if (sub)
        snprintf(c.u.ack.subscription, sizeof c.u.ack.subscription, "%s", sub);
    c.u.ack.disposition = disp;
    c.u.ack.code = ASYLINK_E_NOT_FOUND;
    snprintf(c.u.ack.reason, sizeof c.u.ack.reason, "%s", h->o->reason ? h->o->reason : "");
    return peerlink_send(&h->link, &c, NULL, 0);
}

/*
 * nack-reason: an application's refusal with a free-text reason (--reason),
 * as a node may send it: with a message queued for this node and a window
 * of one, its delivery is Nacked (RETRY, code NOT_FOUND) and, when it comes
 * back, Nacked again to the dead letters (DEAD_LETTER); with --topic, the
 * subscription "reasons" (earliest) then Nacks its first feed delivery.
 * Every Nack gives the reason. Prints "NACKED retry=SEQ dead=SEQ feed=SEQ"
 * (feed=0 without --topic).
 */
static int s_h_nack_reason_case(s_hostile *h)
{
    uint64_t seq = 0, s2 = 0, feed = 0;
    uint32_t attempt = 0, a2 = 0;
    if (!h->o->reason || s_h_credit(h, 1, 0) != 0 ||
        !s_h_next_deliver(h, h->deadline_ms, &seq, &attempt)) {
        printf("NO_DELIVERIES\n");
        return PEER_NOT_DONE;
    }
    if (s_h_nack_reason(h, NULL, seq, WIRE_NACK_RETRY) != 0)
        return PEER_NOT_DONE;
    while (s_h_next_deliver(h, h->deadline_ms, &s2, &a2) && s2 != seq)
        ;
    if (s2 != seq || s_h_nack_reason(h, NULL, seq, WIRE_NACK_DEAD_LETTER) != 0) {
        printf("NO_REDELIVERY\n");
        return PEER_NOT_DONE;
    }
    if (h->o->topic) {
        wire_deliver w = {0};
        if (s_h_subscribe(h, "reasons", h->o->topic) != 0)
            return PEER_NOT_DONE;
        while (!feed && s_h_next_any(h, h->deadline_ms, &w))
            if (strcmp(w.subscription, "reasons") == 0)
                feed = w.sequence;
        if (!feed || s_h_nack_reason(h, "reasons", feed, WIRE_NACK_RETRY) != 0) {
            printf("NO_FEED_DELIVERY\n");
            return PEER_NOT_DONE;
        }
    }
    /* a ping answered means the broker took the Nacks before it (commands in order) */
    wire_cmd ping = {.kind = WIRE_HEARTBEAT, .request_id = 9};
    ping.u.heartbeat.sent_ms = clock_now_ms();
    bool pong = false;
    if (peerlink_send(&h->link, &ping, NULL, 0) != 0)
        return PEER_NOT_DONE;
    while (!pong && !s_interrupted && clock_now_ms() < h->deadline_ms) {
        peerwire_in in;
        pong = peerlink_recv(&h->link, 20, &in) == 1 && in.decode_rc == ASYLINK_OK &&
               in.cmd.kind == WIRE_HEARTBEAT && in.cmd.u.heartbeat.pong;
        peerwire_in_clear(&in);
    }
    if (!pong) {
        printf("NO_PONG\n");
        return PEER_NOT_DONE;
    }
    printf("NACKED retry=%llu dead=%llu feed=%llu\n", (unsigned long long)seq,
           (unsigned long long)seq, (unsigned long long)feed);
    return PEER_DONE;
}

/*
 * direct-starve: with one large direct message queued for this node (D,
 * about 100 kB) and many feed messages of about 16 kB under --topic
 * (default "stats"), a window of 6 messages and 120000 bytes: D is
 * delivered and Nacked (RETRY); the subscription "starve" (earliest) then
 * fills the window with feed deliveries, each acknowledged 10 ms after it
 * came, one at a time. Once D's backoff is over, D no longer fits beside
 * five feed deliveries. Prints "FEEDS_BEFORE n" when D comes back: the
 * feed deliveries between its Nack and its return (n bounded by the
 * backoff and the window if it gets its turn; without, every feed message
 * goes first). NO_REDELIVERY if D does not come back by the deadline.
 */
static int s_h_direct_starve(s_hostile *h)
{
    uint64_t d = 0;
    uint32_t attempt = 0;
    if (s_h_credit(h, 6, 120000) != 0 || !s_h_next_deliver(h, h->deadline_ms, &d, &attempt)) {
        printf("NO_DELIVERIES\n");
        return PEER_NOT_DONE;
    }
    uint64_t one[1] = {d};
    if (s_h_settle_many(h, WIRE_NACK, NULL, one, 1) != 0 ||
        s_h_subscribe(h, "starve", h->o->topic ? h->o->topic : "stats") != 0) {
        printf("NO_SUBSCRIPTION\n");
        return PEER_NOT_DONE;
    }
    long feeds = 0;
    wire_deliver w = {0};
    while (s_h_next_any(h, h->deadline_ms, &w)) {
        if (!w.subscription[0] && w.sequence == d) {
            printf("FEEDS_BEFORE %ld\n", feeds);
            return s_h_settle_many(h, WIRE_ACK, NULL, one, 1) == 0 ? PEER_DONE : PEER_NOT_DONE;
        }
        if (strcmp(w.subscription, "starve") != 0)
            continue;
        feeds++;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        uint64_t f[1] = {w.sequence};
        if (s_h_settle_many(h, WIRE_ACK, "starve", f, 1) != 0)
            break;
    }
    printf("NO_REDELIVERY (%ld feed deliveries)\n", feeds);
    return PEER_NOT_DONE;
}

static int s_run_hostile(const s_opts *o, peernode *id)
{
    s_hostile h = {
        .id = id, .o = o, .deadline_ms = clock_now_ms() + (uint64_t)(o->timeout_s * 1000.0)};
    const char *name = o->hostile_case ? o->hostile_case : "";
    const char *default_to = strcmp(id->node, "FR") ? "FR" : "DE";
    for (size_t i = 0; i < o->n_to; i++)
        h.to[h.n_to++] = o->to[i];
    if (h.n_to == 0)
        h.to[h.n_to++] = default_to;
    int rc = PEER_NOT_DONE;
    if (s_hostile_open(&h, strcmp(name, "dir-flood") == 0) != 0)
        goto cleanup;
    rc = s_h_hello_case(&h, name);
    if (rc != -1)
        goto cleanup;
    wire_cmd answer = {0};
    bool v2 = strncmp(name, "packed-", 7) == 0 && strcmp(name, "packed-v1") != 0;
    int hr = s_hello_wait(&h, id->node, v2 ? WIRE_PROTOCOL_PACKED : WIRE_PROTOCOL_VERSION, &answer);
    if (hr == 0 && answer.u.welcome.protocol_version != (v2 ? 2u : 1u)) {
        printf("WELCOME-VERSION %u\n", answer.u.welcome.protocol_version);
        wire_cmd_clear(&answer);
        rc = PEER_NOT_DONE;
        goto cleanup;
    }
    if (hr != 0) {
        if (hr > 0) {
            printf("HELLO-FAILED ");
            s_verdict(&answer);
        } else {
            printf("NO_ANSWER\n");
        }
        wire_cmd_clear(&answer);
        rc = PEER_NOT_DONE;
        goto cleanup;
    }
    wire_cmd_clear(&answer);
    if (strcmp(name, "sub-churn") == 0) {
        /* --count durable subscriptions (sub0, sub1, ...; --topic, default "stats"), each closed
           again without deleting its cursor: prints SUBSCRIBED n REFUSED m */
        long n = o->count > 0 ? o->count : 1, subscribed = 0, refused = 0;
        for (long i = 0; i < n && clock_now_ms() < h.deadline_ms; i++) {
            wire_cmd c = {.kind = WIRE_SUBSCRIBE, .request_id = (uint64_t)i + 10};
            snprintf(c.u.subscribe.subscription, sizeof c.u.subscribe.subscription, "sub%ld", i);
            snprintf(c.u.subscribe.topic_prefix, sizeof c.u.subscribe.topic_prefix, "%s",
                     o->topic ? o->topic : "stats");
            wire_cmd u = {.kind = WIRE_UNSUBSCRIBE, .request_id = (uint64_t)i + 10};
            snprintf(u.u.unsubscribe.subscription, sizeof u.u.unsubscribe.subscription, "sub%ld",
                     i);
            if (peerlink_send(&h.link, &c, NULL, 0) != 0)
                break;
            for (bool answered = false; !answered && clock_now_ms() < h.deadline_ms;) {
                peerwire_in in;
                if (peerlink_recv(&h.link, 50, &in) == 1 && in.decode_rc == ASYLINK_OK &&
                    in.cmd.request_id == (uint64_t)i + 10) {
                    answered = in.cmd.kind == WIRE_SUBSCRIBED || in.cmd.kind == WIRE_ERROR;
                    subscribed += in.cmd.kind == WIRE_SUBSCRIBED;
                    refused += in.cmd.kind == WIRE_ERROR;
                    if (in.cmd.kind == WIRE_ERROR)
                        fprintf(stderr, "asylink-peer: sub%ld: %s: %s\n", i,
                                asylink_err_name(in.cmd.u.error.code), in.cmd.u.error.reason);
                }
                peerwire_in_clear(&in);
            }
            if (peerlink_send(&h.link, &u, NULL, 0) != 0)
                break;
        }
        printf("SUBSCRIBED %ld REFUSED %ld\n", subscribed, refused);
        rc = subscribed + refused == n ? PEER_DONE : PEER_NOT_DONE;
        goto cleanup;
    }
    if (strcmp(name, "publish-bye") == 0)
        rc = s_h_publish_bye(&h);
    else if (strcmp(name, "ack-rescan") == 0)
        rc = s_h_ack_rescan(&h);
    else if (strcmp(name, "ack-count") == 0)
        rc = s_h_ack_count(&h);
    else if (strcmp(name, "nack-backoff") == 0)
        rc = s_h_nack_backoff(&h);
    else if (strcmp(name, "nack-twice") == 0)
        rc = s_h_nack_twice(&h);
    else if (strcmp(name, "nack-reason") == 0)
        rc = s_h_nack_reason_case(&h);
    else if (strcmp(name, "direct-starve") == 0)
        rc = s_h_direct_starve(&h);
    else if (strcmp(name, "replay") == 0)
        rc = s_h_replay(&h);
    else if ((rc = s_h_publish_case(&h, name)) == -1 && (rc = s_h_directory_case(&h, name)) == -1)
        rc = s_h_frames_case(&h, name);
    if (rc == -1) {
        fprintf(stderr, "asylink-peer: unknown --case %s (see --help)\n", name);
        rc = PEER_USAGE;
    }
cleanup:
    fflush(stdout);
    peerlink_close(&h.link, 0);
    return rc;
}

static int s_run_connect_only(const s_opts *o, peernode *id)
{
    s_hostile h = {
        .id = id, .o = o, .deadline_ms = clock_now_ms() + (uint64_t)(o->timeout_s * 1000.0)};
    int rc = PEER_NOT_DONE;
    if (s_hostile_open(&h, false) == 0) {
        wire_cmd answer = {0};
        int hr = s_hello_wait(&h, id->node, WIRE_PROTOCOL_VERSION, &answer);
        if (hr < 0) {
            printf("NO_ANSWER\n");
            fprintf(stderr,
                    "asylink-peer: no answer; %d CURVE handshake(s) refused "
                    "(ZAP status %d), %d succeeded\n",
                    h.link.auth_failures, h.link.last_fail_status, h.link.handshakes);
        } else {
            rc = s_verdict(&answer);
            if (hr > 0)
                rc = PEER_NOT_DONE;
        }
        wire_cmd_clear(&answer);
    }
    fflush(stdout);
    peerlink_close(&h.link, 0);
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
        return PEER_NOT_DONE;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    peernode id;
    code = PEER_USAGE;
    peernode_files files = {.key = o.key,
                            .cert = o.cert,
                            .broker_cert = o.broker_cert,
                            .trust = o.trust,
                            .message_id = o.message_id};
    if (peernode_load(&id, &files) != ASYLINK_OK)
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
    peernode_free(&id);
    s_opts_free(&o);
    return code;
}
