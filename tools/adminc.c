/*
 * adminc.c — one request to the broker's admin endpoint (adminc.h).
 */
#include "adminc.h"

#include "asylink/asylink.h"
#include "cert.h"
#include "cli.h"
#include "clock.h"
#include "config.h"
#include "endpoint.h"
#include "keys.h"
#include "log.h" /* log_level_names: [log] level, as broker.ini */
#include "pbjson.h"
#include "trust.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* The operator's node configuration: the client library's keys plus admin_endpoint. */
typedef struct {
    char *broker_endpoint, *broker_cert, *node_cert, *key_file, *key_passphrase_file;
    char *trust_dir, *data_dir, *admin_endpoint;
    int64_t receive_window;
    int durability;
    int log_level;
} s_config;

static const char *const s_durability_names[] = {"fsync", "relaxed", NULL};

static const config_option s_options[] = {
    {"node", "broker_endpoint", CONFIG_STRING, "", offsetof(s_config, broker_endpoint), 0, 0, NULL,
     "not used by the admin commands"},
    {"node", "broker_cert", CONFIG_PATH, NULL, offsetof(s_config, broker_cert), 0, 0, NULL,
     "broker certificate (its key is the CURVE server key)"},
    {"node", "node_cert", CONFIG_PATH, NULL, offsetof(s_config, node_cert), 0, 0, NULL,
     "the operator's certificate (role operator)"},
    {"node", "key_file", CONFIG_PATH, NULL, offsetof(s_config, key_file), 0, 0, NULL,
     "the operator's secret key file"},
    {"node", "key_passphrase_file", CONFIG_PATH, "", offsetof(s_config, key_passphrase_file), 0, 0,
     NULL, "file with the key passphrase"},
    {"node", "trust_dir", CONFIG_PATH, "", offsetof(s_config, trust_dir), 0, 0, NULL,
     "if set, node_cert is checked against its CA and revocation list before connecting"},
    {"node", "data_dir", CONFIG_PATH, "", offsetof(s_config, data_dir), 0, 0, NULL,
     "not used by the admin commands"},
    {"node", "receive_window", CONFIG_INT, "256", offsetof(s_config, receive_window), 1, 100000,
     NULL, "not used by the admin commands"},
    {"node", "durability", CONFIG_ENUM, "fsync", offsetof(s_config, durability), 0, 0,
     s_durability_names, "not used by the admin commands"},
    {"node", "admin_endpoint", CONFIG_STRING, "", offsetof(s_config, admin_endpoint), 0, 0, NULL,
     "the broker's admin endpoint"},
    {"log", "level", CONFIG_ENUM, "info", offsetof(s_config, log_level), 0, 0, log_level_names,
     "not used by the admin commands"},
};
#define S_N_OPTIONS (sizeof s_options / sizeof s_options[0])

int adminc_parse_endpoint(const char *text, void *field)
{
    if (!endpoint_valid(text, false))
        return -1;
    *(const char **)field = text;
    return 0;
}

/* Milliseconds left until deadline, for zmq_poll (0 when passed). */
static long s_left(uint64_t deadline)
{
    uint64_t now = clock_now_ms();
    return now >= deadline ? 0 : (long)(deadline - now);
}

/* What a connection needs, loaded from the configuration. */
typedef struct {
    s_config cfg;
    keys_secret *keys;
    cert *broker;
    cert *me; /* node_cert: the operator's certificate */
    char endpoint[512];
} s_conn;

static void s_conn_clear(s_conn *c)
{
    config_free(s_options, S_N_OPTIONS, &c->cfg);
    keys_destroy(&c->keys);
    cert_destroy(&c->broker);
    cert_destroy(&c->me);
}

/*
 * Fails, before connecting, for an operator certificate the broker's ZAP
 * handler would refuse without a word back: outside its validity period,
 * or, when trust_dir is set and loads, not issued by its CA or on its
 * revocation list. A trust_dir that does not load is left to the broker.
 */
static int s_check_usable(const char *prog, const s_conn *c)
{
    const cert *me = c->me;
    char when[32];
    uint64_t now = clock_now_ms();
    int rc = cert_check_time(me, now);
    if (rc != ASYLINK_OK) {
        bool expired = rc == ASYLINK_E_CERT_EXPIRED;
        clock_format_iso(expired ? me->not_after_ms : me->not_before_ms, when, sizeof when);
        return cli_fail_text(prog, rc,
                             "%s's certificate %s (serial %llu) %s %s, and the admin endpoint "
                             "admits only valid certificates: ask the CA for a new operator "
                             "certificate for node_cert (or check this machine's clock)",
                             me->node_id, c->cfg.node_cert, (unsigned long long)me->serial,
                             expired ? "expired on" : "is valid only from", when);
    }
    trust *t = NULL;
    if (!*c->cfg.trust_dir || trust_load(c->cfg.trust_dir, &t) != ASYLINK_OK)
        return CLI_OK;
    rc = trust_check(t, me, now);
    trust_destroy(&t);
    if (rc == ASYLINK_OK)
        return CLI_OK;
    return cli_fail_text(prog, rc,
                         "%s's certificate %s (serial %llu) %s trust directory %s, and the admin "
                         "endpoint admits only valid, unrevoked certificates: ask the CA for a new "
                         "operator certificate for node_cert",
                         me->node_id, c->cfg.node_cert, (unsigned long long)me->serial,
                         rc == ASYLINK_E_REVOKED ? "is revoked by the revocation list of"
                                                 : "is not a valid certificate of the CA of",
                         c->cfg.trust_dir);
}

/* Loads the configuration, the key and the broker certificate. */
static int s_load(const char *prog, const adminc_opts *o, s_conn *c)
{
    config_error err;
    if (config_load_file(o->config, s_options, S_N_OPTIONS, &c->cfg, &err) != 0) {
        char line[600];
        config_error_format(&err, line, sizeof line);
        return cli_fail_text(prog, ASYLINK_E_CONFIG, "%s", line);
    }
    const char *ep = o->endpoint ? o->endpoint
                     : *c->cfg.admin_endpoint ? c->cfg.admin_endpoint
                                              : ADMINC_DEFAULT_ENDPOINT;
    if (strlen(ep) >= sizeof c->endpoint)
        return cli_fail_text(prog, ASYLINK_E_CONFIG, "admin endpoint too long");
    if (!o->endpoint && !endpoint_valid(ep, false)) /* (--admin was checked as it was parsed) */
        return cli_fail_text(prog, ASYLINK_E_CONFIG,
                             "%s: [node] admin_endpoint: expected tcp://HOST:PORT or ipc://PATH",
                             o->config);
    memcpy(c->endpoint, ep, strlen(ep) + 1);
    const char *pass = *c->cfg.key_passphrase_file ? c->cfg.key_passphrase_file : NULL;
    if (cli_keys_open(c->cfg.key_file, pass, &c->keys) != CLI_OK)
        return CLI_FAIL;
    int rc;
    if ((rc = cert_load(c->cfg.broker_cert, &c->broker)) != ASYLINK_OK)
        return cli_fail_file_limit(c->cfg.broker_cert, rc, CERT_ARMORED_MAX(CERT_FILE_MAX),
                                   "a certificate file");
    if ((rc = cert_load(c->cfg.node_cert, &c->me)) != ASYLINK_OK)
        return cli_fail_file_limit(c->cfg.node_cert, rc, CERT_ARMORED_MAX(CERT_FILE_MAX),
                                   "a certificate file");
    const cert *me = c->me;
    bool same = sodium_memcmp(me->box_pk, c->keys->box_pk, 32) == 0;
    bool is_operator = cert_has_role(me, CERT_ROLE_OPERATOR);
    const char *id = me->node_id;
    char roles[128];
    cert_roles_format(me->roles, roles, sizeof roles);
    if (!same)
        return cli_fail_text(c->cfg.node_cert, ASYLINK_E_WRONG_KEY,
                             "the certificate is not the one of key_file");
    /*
     * The broker's ZAP handler refuses any other certificate at the admin
     * endpoint without a word back, which the CLI could only tell from a
     * broker that is down by waiting out --timeout: say it now instead.
     */
    if (!is_operator)
        return cli_fail_text(prog, ASYLINK_E_ROLE,
                             "%s's certificate %s has the role%s %s, not operator: the admin "
                             "commands need an operator's certificate (node_cert and key_file of "
                             "a node with the operator role; OPERATIONS.md section 12)",
                             id, c->cfg.node_cert, strchr(roles, ',') ? "s" : "",
                             *roles ? roles : "(none)");
    return s_check_usable(prog, c);
}

/*
 * The admin socket and its monitor: the broker's ZAP handler refuses a
 * certificate without a word on the socket itself, but the CURVE handshake
 * fails with a ZAP status the monitor reports (HANDSHAKE_FAILED_AUTH), so
 * the CLI can say so at once instead of waiting out --timeout.
 */
typedef struct {
    void *sock;        /* DEALER, CURVE client, connected to the admin endpoint */
    void *mon;         /* PAIR reading sock's monitor events */
    bool tcp_seen;     /* a TCP connection was made */
    bool handshake_ok; /* the CURVE handshake succeeded */
} s_link;

/* The monitor events s_link_event reads. */
#define S_MONITOR_EVENTS                                                                           \
    (ZMQ_EVENT_CONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |  \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

static void s_link_close(s_link *l)
{
    if (l->sock) {
        zmq_socket_monitor(l->sock, NULL, 0);
        zmq_close(l->sock);
    }
    if (l->mon)
        zmq_close(l->mon);
    memset(l, 0, sizeof *l);
}

/* Connects a monitored CURVE DEALER socket to c->endpoint. 0, or -1 (l closed). */
static int s_link_open(void *ctx, const s_conn *c, s_link *l)
{
    const char *mon_addr = "inproc://asylink-admin-monitor";
    int linger = 0;
    int64_t maxmsg = WIRE_MAX_COMMAND;
    memset(l, 0, sizeof *l);
    l->sock = zmq_socket(ctx, ZMQ_DEALER);
    l->mon = zmq_socket(ctx, ZMQ_PAIR);
    if (l->sock && l->mon &&
        zmq_setsockopt(l->sock, ZMQ_CURVE_SERVERKEY, c->broker->box_pk, 32) == 0 &&
        zmq_setsockopt(l->sock, ZMQ_CURVE_PUBLICKEY, c->keys->box_pk, 32) == 0 &&
        zmq_setsockopt(l->sock, ZMQ_CURVE_SECRETKEY, c->keys->box_sk, 32) == 0 &&
        zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
        zmq_setsockopt(l->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) == 0 &&
        zmq_setsockopt(l->mon, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
        zmq_socket_monitor(l->sock, mon_addr, S_MONITOR_EVENTS) == 0 &&
        zmq_connect(l->mon, mon_addr) == 0 && zmq_connect(l->sock, c->endpoint) == 0)
        return 0;
    int err = zmq_errno();
    s_link_close(l);
    errno = err;
    return -1;
}

/* Reads one monitor event: its number (and *value), or 0 if none is waiting. */
static uint16_t s_monitor_event(void *mon, uint32_t *value)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    *value = 0;
    if (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return 0;
    }
    uint16_t ev = 0;
    if (zmq_msg_size(&m) >= 6) {
        memcpy(&ev, zmq_msg_data(&m), 2); /* event number, native byte order */
        memcpy(value, (const uint8_t *)zmq_msg_data(&m) + 2, 4); /* e.g. the ZAP status */
    }
    while (zmq_msg_more(&m)) { /* the address frame */
        zmq_msg_close(&m);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, mon, 0) < 0)
            break;
    }
    zmq_msg_close(&m);
    return ev;
}

/*
 * Acts on the monitor's waiting events: CLI_OK to wait on, or CLI_FAIL
 * (printed) for a handshake the broker refused or that failed.
 */
static int s_link_events(const char *prog, const s_conn *c, s_link *l)
{
    uint32_t v;
    for (uint16_t ev; (ev = s_monitor_event(l->mon, &v)) != 0;) {
        if (ev == ZMQ_EVENT_CONNECTED)
            l->tcp_seen = true;
        else if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            l->handshake_ok = true;
        else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && (v == 300 || v == 500))
            return cli_fail_text(prog, ASYLINK_E_UNAVAILABLE,
                                 "the broker at %s could not check %s's certificate now (its "
                                 "authentication failed with status %u): try again later",
                                 c->endpoint, c->me->node_id, (unsigned)v);
        else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            return cli_fail_text(
                prog, ASYLINK_E_REFUSED,
                "the broker at %s refused %s's certificate %s (serial %llu): it does not hold it "
                "in its trust directory, or holds it revoked or expired (its log says which: "
                "\"connection refused\"); the broker's operator copies a valid operator "
                "certificate into its trust directory and sends asylinkd SIGHUP",
                c->endpoint, c->me->node_id, c->cfg.node_cert, (unsigned long long)c->me->serial);
        else
            return cli_fail_text(prog, ASYLINK_E_PROTOCOL,
                                 "the CURVE handshake with %s failed: broker_cert %s may not be "
                                 "the certificate of the broker listening there, or that is not "
                                 "an asylinkd's admin endpoint",
                                 c->endpoint, c->cfg.broker_cert);
    }
    return CLI_OK;
}

/*
 * Waits until l->sock is ready for events (ZMQ_POLLIN or ZMQ_POLLOUT) or
 * deadline passes, reading the monitor meanwhile: 1 ready, 0 timed out,
 * -1 failed (printed).
 */
static int s_link_wait(const char *prog, const s_conn *c, s_link *l, short events,
                       uint64_t deadline)
{
    for (;;) {
        zmq_pollitem_t it[2] = {{l->sock, 0, events, 0}, {l->mon, 0, ZMQ_POLLIN, 0}};
        long left = s_left(deadline);
        if (zmq_poll(it, 2, left) < 0)
            return 0;
        if ((it[1].revents & ZMQ_POLLIN) && s_link_events(prog, c, l) != CLI_OK)
            return -1;
        if (it[0].revents & events)
            return 1;
        if (left == 0)
            return 0;
    }
}

/* Sends the request and receives one single-frame answer into *reply. */
static int s_exchange(const char *prog, s_link *l, const s_conn *c, const adminc_opts *o,
                      const wire_cmd *req, zmq_msg_t *reply)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode(req, &buf, &len);
    if (rc != ASYLINK_OK)
        return cli_fail(prog, rc);
    /* --timeout bounds the whole exchange: one deadline for sending and answering. */
    uint64_t deadline = clock_now_ms() + o->timeout_ms;
    int ready = s_link_wait(prog, c, l, ZMQ_POLLOUT, deadline);
    if (ready == 1 && zmq_send(l->sock, buf, len, ZMQ_DONTWAIT) < 0)
        ready = 0;
    free(buf);
    if (ready == 1)
        ready = s_link_wait(prog, c, l, ZMQ_POLLIN, deadline);
    if (ready < 0)
        return CLI_FAIL;
    if (ready == 0)
        return cli_fail_text(prog, ASYLINK_E_TIMEOUT, "no answer from %s within %llu s (%s)",
                             c->endpoint, (unsigned long long)(o->timeout_ms / 1000),
                             !l->tcp_seen ? "nothing accepted a connection there: is the broker "
                                            "running with this admin_endpoint?"
                             : !l->handshake_ok
                                 ? "connected, but the CURVE handshake did not finish: is "
                                   "broker_cert the certificate of the broker listening there?"
                                 : "connected and admitted, but the broker did not answer");
    if (zmq_msg_recv(reply, l->sock, ZMQ_DONTWAIT) < 0)
        return cli_fail_text(prog, ASYLINK_E_IO, "receive: %s", zmq_strerror(zmq_errno()));
    if (zmq_msg_more(reply))
        return cli_fail_text(prog, ASYLINK_E_MALFORMED, "the broker answered with several frames");
    return CLI_OK;
}

/* Turns the answer frame into the member object, or prints the broker's Error. */
static int s_answer(const char *prog, const uint8_t *buf, size_t len, const wire_cmd *req,
                    json_t **member)
{
    uint64_t rid = 0;
    const uint8_t *body = NULL;
    size_t blen = 0;
    if (wire_admin_response_body(buf, len, &rid, &body, &blen) == ASYLINK_OK) {
        json_t *resp = NULL;
        int rc = pbjson_decode("asylink.v1.AdminResponse", body, blen, &resp);
        if (rc != ASYLINK_OK)
            return cli_fail_text(prog, rc, "the broker's AdminResponse does not decode");
        json_t *m = json_object_get(resp, wire_admin_op_name(req->u.admin.op));
        if (rid != req->request_id || !json_is_object(m)) {
            json_decref(resp);
            return cli_fail_text(prog, ASYLINK_E_MALFORMED,
                                 "the broker answered another request");
        }
        *member = json_incref(m);
        json_decref(resp);
        if (cli_json_message_ids(prog, *member) != CLI_OK) {
            json_decref(*member);
            *member = NULL;
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    wire_cmd c;
    int rc = wire_decode(buf, len, &c);
    if (rc == ASYLINK_OK && c.kind == WIRE_ERROR) {
        rc = cli_fail_text(prog, c.u.error.code, "the broker refused: %s", c.u.error.reason);
    } else {
        rc = cli_fail_text(prog, ASYLINK_E_MALFORMED, "unexpected answer from the broker (%s)",
                           rc == ASYLINK_OK ? wire_kind_name(c.kind) : asylink_err_name(rc));
    }
    wire_cmd_clear(&c);
    return rc;
}

int adminc_call(const char *prog, const adminc_opts *o, const wire_admin_request *q,
                json_t **member)
{
    *member = NULL;
    s_conn c;
    memset(&c, 0, sizeof c);
    int rc = s_load(prog, o, &c);
    if (rc != CLI_OK) {
        s_conn_clear(&c);
        return rc;
    }
    wire_cmd req = {.kind = WIRE_ADMIN_REQUEST};
    req.u.admin = *q;
    randombytes_buf(&req.request_id, sizeof req.request_id);
    req.request_id |= 1; /* never 0 */
    void *ctx = zmq_ctx_new();
    s_link l;
    if (!ctx || s_link_open(ctx, &c, &l) != 0) {
        rc = cli_fail_text(prog, ASYLINK_E_IO, "cannot connect to %s: %s", c.endpoint,
                           zmq_strerror(ctx ? zmq_errno() : errno));
    } else {
        zmq_msg_t reply;
        zmq_msg_init(&reply);
        rc = s_exchange(prog, &l, &c, o, &req, &reply);
        if (rc == CLI_OK)
            rc = s_answer(prog, zmq_msg_data(&reply), zmq_msg_size(&reply), &req, member);
        zmq_msg_close(&reply);
        s_link_close(&l);
    }
    if (ctx)
        zmq_ctx_term(ctx);
    s_conn_clear(&c);
    return rc;
}

bool adminc_print_held(const json_t *member)
{
    const json_t *p = json_object_get(member, "pending");
    if (!json_is_object(p))
        return false;
    json_int_t id = json_integer_value(json_object_get(p, "id"));
    json_int_t until = json_integer_value(json_object_get(p, "expires_ms"));
    char when[32];
    printf("held for four-eyes as pending %lld until %s: nothing is done yet; another operator "
           "confirms it with `asylink pending confirm %lld`\n",
           (long long)id, until > 0 ? clock_format_iso((uint64_t)until, when, sizeof when) : "-",
           (long long)id);
    return true;
}

/* The purge answer's counts, each with its noun in the number it takes. */
static void s_print_removed(const json_t *m, const char *what)
{
    unsigned long long q =
        (unsigned long long)json_integer_value(json_object_get(m, "queue_entries"));
    unsigned long long d =
        (unsigned long long)json_integer_value(json_object_get(m, "dead_letters"));
    unsigned long long t =
        (unsigned long long)json_integer_value(json_object_get(m, "topic_entries"));
    unsigned long long b =
        (unsigned long long)json_integer_value(json_object_get(m, "bytes_removed"));
    printf("purged %s: %llu %s, %llu %s, %llu %s, %llu envelope %s removed\n", what, q,
           cli_plural(q, "queue entry", "queue entries"), d,
           cli_plural(d, "dead letter", "dead letters"), t,
           cli_plural(t, "feed entry", "feed entries"), b, cli_plural(b, "byte", "bytes"));
}

void adminc_print_purged(const json_t *m, const char *what)
{
    json_int_t until = json_integer_value(json_object_get(m, "tombstone_until_ms"));
    json_int_t audit = json_integer_value(json_object_get(m, "audit_seq"));
    char when[32];
    if (json_is_true(json_object_get(m, "found")))
        s_print_removed(m, what);
    else
        printf("no stored copy of %s (acknowledged by every recipient, expired, purged before, or "
               "never accepted): nothing removed\n",
               what);
    printf("a resend of it is refused (PURGED) %s%s\n", until > 0 ? "until " : "for good",
           until > 0 ? clock_format_iso((uint64_t)until, when, sizeof when) : "");
    if (audit > 0)
        printf("audit record %lld\n", (long long)audit);
}
