/*
 * router.c — asylinkd's main loop (see router.h for one turn's steps):
 * reading and dispatch, Hello, reload, admin and metrics hooks, timers,
 * life cycle. The other steps are in the files router_internal.h lists.
 */
#include "router_internal.h"

#include "admin.h"
#include "asylink/errors.h"
#include "auth.h"
#include "clock.h"
#include "commit.h"
#include "log.h"
#include "metrics.h"
#include "monitor.h"
#include "nofile.h"
#include "policy.h"
#include "session.h"
#include "uuid.h"
#include "verify.h"
#include "wire.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define ROUTER_READ_BUDGET 512 /* commands read per turn before committing */
/* Publishes the next group takes (being verified or verified) while one is in flight */
#define ROUTER_GROUP_CAP 1024
/* Operations of any kind (acknowledgements mostly) it takes meanwhile: a drain's
   acknowledgements came faster than one commit deleted them, and the next group's
   operations and its commit's dirty pages took 50-100 MiB (bench_broker w6) */
#define ROUTER_GROUP_OPS_CAP 4096
/* Resident KiB of the whole broker (the memory not of mapped files counted at its
   peak) above which the store's pages read through LMDB's map are unmapped; the
   bound is issue 10's 64 MiB, the rest the margin for what is mapped between two
   checks (store_release_pages(), store_release_budget()) ... */
#define ROUTER_RESIDENT_BUDGET_KIB (52 * 1024)
/* ... unless mapped files (shared libraries, 7-9 MiB, and those pages) hold no more
   than this: the map then keeps what it holds whatever the rest of the process uses */
#define ROUTER_MAPPED_FLOOR_KIB (16 * 1024)
#define ROUTER_TICK_MS 100         /* poll timeout: timer resolution */
#define ROUTER_DRAIN_MS 5000       /* how long shutdown waits for the workers */
#define ROUTER_HWM 10000           /* ZeroMQ high-water marks, messages */

/* ---- Hello: a session opens ---- */

static void s_fill_welcome(router *r, const session *s, wire_cmd *w)
{
    w->kind = WIRE_WELCOME;
    wire_welcome *o = &w->u.welcome;
    o->protocol_version = s->packed ? WIRE_PROTOCOL_PACKED : WIRE_PROTOCOL_VERSION;
    snprintf(o->broker_node_id, sizeof o->broker_node_id, "%s", r->opt.node_id);
    o->limits.max_envelope_bytes = r->opt.max_envelope_bytes;
    o->limits.max_in_flight = r->opt.max_in_flight;
    o->limits.heartbeat_interval_ms = (uint32_t)r->opt.heartbeat_interval_ms;
    o->limits.heartbeat_timeout_ms = (uint32_t)r->opt.heartbeat_timeout_ms;
    o->limits.clock_skew_tolerance_ms = (uint32_t)r->opt.clock_skew_future_ms;
    o->limits.max_recipients = r->opt.max_recipients;
    o->limits.max_ack_batch = r->opt.max_ack_batch;
    o->limits.max_deliveries = r->opt.max_deliveries;
    o->server_time_ms = r->now_ms;
    randombytes_buf(o->session_id, sizeof o->session_id);
    o->roles = s->roles;
    o->client_cert_serial = s->cert_serial;
    snprintf(o->broker_version, sizeof o->broker_version, "%s", asylink_version());
}

/*
 * The certificate a session is bound to: the one whose CURVE key ZAP
 * admitted (its serial travels as connection metadata), checked again now.
 */
/* The certificate serial ZAP attached to a message (AUTH_SERIAL_PROPERTY); 0 if none. */
static uint64_t s_zap_serial(const char *serial)
{
    char *end = NULL;
    unsigned long long n = serial && *serial ? strtoull(serial, &end, 10) : 0;
    return n && !*end ? (uint64_t)n : 0;
}

/* node's certificate with serial in t, if usable now: ASYLINK_OK, or why not (*out NULL). */
static int s_cert_usable(const trust *t, const char *node, uint64_t serial, uint64_t now_ms,
                         const cert **out)
{
    *out = trust_find_serial(t, node, serial);
    if (!*out)
        return ASYLINK_E_UNKNOWN_SENDER; /* gone from the trust directory since */
    int rc = trust_usable(t, *out, now_ms);
    if (rc != ASYLINK_OK)
        *out = NULL;
    return rc;
}

static int s_session_cert(router *r, const char *user, const char *serial, const cert **out)
{
    const trust *t = view_trust(r->view);
    uint64_t n = s_zap_serial(serial);
    if (n == 0) {
        LOG_WARN("router", "no certificate serial from ZAP; binding the current certificate",
                 "node=%s", user);
        return trust_lookup(t, user, r->now_ms, ASYLINK_E_UNKNOWN_SENDER, out);
    }
    return s_cert_usable(t, user, n, r->now_ms, out);
}

static void s_on_hello(router *r, const uint8_t *rid, size_t rid_len, const char *user,
                       const char *serial, const wire_cmd *c)
{
    const wire_hello *h = &c->u.hello;
    if (h->protocol_version != WIRE_PROTOCOL_VERSION &&
        h->protocol_version != WIRE_PROTOCOL_PACKED) {
        out_error(r, rid, rid_len, c->request_id, ASYLINK_E_UNSUPPORTED_VERSION,
                  "this broker speaks protocol versions 1 and 2", true);
        notes_auth_failed(r, user, ASYLINK_E_UNSUPPORTED_VERSION, "Hello: unsupported version");
        return;
    }
    if (strcmp(h->node_id, user) != 0) {
        out_error(r, rid, rid_len, c->request_id, ASYLINK_E_FORGED_SENDER,
                  "Hello node_id differs from the authenticated CURVE identity", true);
        notes_auth_failed(r, user, ASYLINK_E_FORGED_SENDER,
                          "Hello node_id differs from the authenticated CURVE identity");
        return;
    }
    /* A routing id of the client's choosing (ZMQ_ROUTING_ID, PROTOCOL.md 11.1) could be taken
       by another node's connection once this one is gone, while its session lasts: only the
       ids ZeroMQ generates (a zero byte, then four) are admitted. */
    if (rid_len != 5 || rid[0] != 0) {
        out_error(r, rid, rid_len, c->request_id, ASYLINK_E_PROTOCOL,
                  "a connection with a routing id of its own (ZMQ_ROUTING_ID) is not admitted",
                  true);
        notes_auth_failed(r, user, ASYLINK_E_PROTOCOL, "Hello: routing id chosen by the client");
        return;
    }
    const cert *nc = NULL;
    int rc = s_session_cert(r, user, serial, &nc);
    if (rc != ASYLINK_OK) {
        out_error(r, rid, rid_len, c->request_id, rc, asylink_strerror(rc), true);
        notes_auth_failed(r, user, rc, "Hello: certificate not usable");
        return;
    }
    session *old = session_by_rid(&r->sessions, rid, rid_len);
    if (old)
        deliver_session_end(r, old, "new Hello on the connection");
    old = session_by_node(&r->sessions, user);
    if (old) {
        out_bye(r, old, ASYLINK_OK, "replaced by a newer session of the same node");
        deliver_session_end(r, old, "replaced by a newer session");
    }
    session *s = session_open(&r->sessions, rid, rid_len, nc, r->now_ms);
    if (!s) {
        out_error(r, rid, rid_len, c->request_id, ASYLINK_E_NOMEM, "out of memory", true);
        return;
    }
    snprintf(s->client_name, sizeof s->client_name, "%s", h->client_name);
    snprintf(s->client_version, sizeof s->client_version, "%s", h->client_version);
    s->credit_messages = h->initial_credit_messages;
    s->credit_bytes = h->initial_credit_bytes;
    s->packed = h->protocol_version == WIRE_PROTOCOL_PACKED;
    wire_packer_init(&s->pack, OUT_FRAME_ROOM);
    r->stats.sessions_opened++;
    wire_cmd w = {.request_id = c->request_id};
    s_fill_welcome(r, s, &w);
    out_send(r, rid, rid_len, &w);
    LOG_INFO("router", "session opened", "node=%s serial=%llu credit=%u protocol=%u", s->node_id,
             (unsigned long long)s->cert_serial, s->credit_messages, h->protocol_version);
    notes_session(r, AUDIT_CONNECTED, s, NULL);
    publish_commit(r); /* attempts of a replaced session's deliveries are counted first */
    deliver_session(r, s);
}

/* ---- reading and dispatch ---- */

/* Dispatches one decoded command of an open session. */
static void s_on_session_cmd(router *r, session *s, const wire_cmd *c, zmq_msg_t *env)
{
    switch (c->kind) {
    case WIRE_PUBLISH: {
        publish_submit(r, s, c, env);
        return;
    }
    case WIRE_ACK:
    case WIRE_NACK:
        deliver_acks(r, s, c);
        deliver_session(r, s);
        return;
    case WIRE_CREDIT:
        s->credit_messages = c->u.credit.window_messages;
        s->credit_bytes = c->u.credit.window_bytes;
        deliver_session(r, s);
        return;
    case WIRE_HEARTBEAT:
        if (!c->u.heartbeat.pong) {
            wire_cmd pong = {.kind = WIRE_HEARTBEAT, .request_id = c->request_id};
            pong.u.heartbeat.pong = true;
            pong.u.heartbeat.sent_ms = r->now_ms;
            out_send(r, s->rid, s->rid_len, &pong);
        }
        return;
    case WIRE_BYE: {
        deliver_session_end(r, s, "client said Bye");
        return;
    }
    case WIRE_DIRECTORY_REQUEST: {
        feeds_directory(r, s, c);
        return;
    }
    case WIRE_SUBSCRIBE: feeds_subscribe(r, s, c); return;
    case WIRE_UNSUBSCRIBE: feeds_unsubscribe(r, s, c); return;
    default: {
        out_error(r, s->rid, s->rid_len, c->request_id, ASYLINK_E_PROTOCOL,
                  "command not allowed from a client", false);
        return;
    }
    }
}

/* Reads the frames of one message: rid, command, optional envelope. */
static int s_read_message(router *r, zmq_msg_t *rid, zmq_msg_t *cmd, zmq_msg_t *env, bool *has_env,
                          int *extra)
{
    *has_env = false;
    *extra = 0;
    if (zmq_msg_recv(rid, r->sock, ZMQ_DONTWAIT) < 0)
        return -1;
    if (!zmq_msg_more(rid) || zmq_msg_recv(cmd, r->sock, 0) < 0)
        return 0; /* a lone frame: treated as an empty command */
    if (zmq_msg_more(cmd)) {
        zmq_msg_recv(env, r->sock, 0);
        *has_env = true;
    }
    while (*has_env && zmq_msg_more(env)) { /* drain and count extra frames */
        zmq_msg_t x;
        zmq_msg_init(&x);
        zmq_msg_recv(&x, r->sock, 0);
        bool more = zmq_msg_more(&x);
        zmq_msg_close(&x);
        ++*extra;
        if (!more)
            break;
    }
    return 0;
}

/*
 * One message of protocol version 1: its command frame cmd (decoded into
 * c, decode_rc) and env (NULL if none). `extra`: frames beyond the second.
 */
static void s_on_command(router *r, const uint8_t *rid, size_t rid_len, session *s, zmq_msg_t *cmdm,
                         int decode_rc, const wire_cmd *c, zmq_msg_t *env, int extra)
{
    if (decode_rc != ASYLINK_OK) {
        out_error(r, rid, rid_len, 0, decode_rc, "command frame does not decode", false);
    } else if (extra > 0) {
        out_error(r, rid, rid_len, c->request_id, ASYLINK_E_PROTOCOL, "too many frames", false);
    } else if (env && c->kind != WIRE_PUBLISH) {
        out_error(r, rid, rid_len, c->request_id, ASYLINK_E_PROTOCOL,
                  "only Publish carries a second frame", false);
    } else if (c->kind == WIRE_HELLO && !cmdm) {
        out_error(r, rid, rid_len, c->request_id, ASYLINK_E_PROTOCOL,
                  "Hello is not allowed in a Packed frame", false);
    } else if (c->kind == WIRE_HELLO) {
        const char *user = zmq_msg_gets(cmdm, "User-Id");
        s_on_hello(r, rid, rid_len, user ? user : "", zmq_msg_gets(cmdm, AUTH_SERIAL_PROPERTY), c);
    } else if (!s) {
        out_error(r, rid, rid_len, c->request_id, ASYLINK_E_PROTOCOL, "Hello first", true);
    } else {
        s_on_session_cmd(r, s, c, env);
    }
}

/*
 * A Packed frame (protocol version 2, PROTOCOL.md 11.2.1): checked whole,
 * then each item handled as the message of version 1 it carries.
 */
static size_t s_on_packed(router *r, const uint8_t *rid, size_t rid_len, session *s,
                          const zmq_msg_t *cmdm, bool has_env, int extra)
{
    wire_unpacker u;
    size_t n = 0;
    int rc =
        wire_unpack_begin(&u, zmq_msg_data((zmq_msg_t *)cmdm), zmq_msg_size((zmq_msg_t *)cmdm), &n);
    if (rc != ASYLINK_OK) {
        out_error(r, rid, rid_len, 0, rc, "Packed frame does not decode", false);
        return 1;
    }
    if (extra > 0 || has_env) {
        out_error(r, rid, rid_len, 0, ASYLINK_E_PROTOCOL, "a Packed frame comes alone", false);
        return 1;
    }
    if (!s) {
        out_error(r, rid, rid_len, 0, ASYLINK_E_PROTOCOL, "Hello first", true);
        return 1;
    }
    if (!s->packed) {
        out_error(r, rid, rid_len, 0, ASYLINK_E_PROTOCOL,
                  "Packed frames need protocol version 2 (Hello.protocol_version)", false);
        return 1;
    }
    uint64_t id = s->id;
    wire_item it;
    while (wire_unpack_next(&u, &it)) {
        wire_cmd c;
        int drc = wire_decode(it.cmd, it.cmd_len, &c);
        zmq_msg_t env;
        bool has = it.env_len > 0;
        if (has && (zmq_msg_init_size(&env, it.env_len) != 0)) {
            out_error(r, rid, rid_len, c.request_id, ASYLINK_E_NOMEM, "out of memory", false);
            wire_cmd_clear(&c);
            continue;
        }
        if (has)
            memcpy(zmq_msg_data(&env), it.env, it.env_len);
        s_on_command(r, rid, rid_len, s, NULL, drc, &c, has ? &env : NULL, 0);
        if (has)
            zmq_msg_close(&env);
        wire_cmd_clear(&c);
        s = session_by_rid(&r->sessions, rid, rid_len); /* a Bye ends it: the rest is refused */
        if (!s || s->id != id)
            s = NULL;
    }
    return n;
}

/*
 * Whether msg came from the node and certificate session s was opened by.
 * A routing id names a connection, and a client may choose its own
 * (ZMQ_ROUTING_ID): once a node's connection is gone, another node may
 * connect with the same id while the broker still holds the first
 * session (until its heartbeat timeout). Its messages must not act on it.
 */
static bool s_same_peer(const session *s, zmq_msg_t *msg)
{
    const char *user = zmq_msg_gets(msg, "User-Id");
    if (!user || strcmp(user, s->node_id) != 0)
        return false;
    uint64_t n = s_zap_serial(zmq_msg_gets(msg, AUTH_SERIAL_PROPERTY));
    return !n || n == s->cert_serial; /* (no serial: bound by node id, s_session_cert) */
}

/* Handles one message read from the socket; returns the commands it held. */
static size_t s_on_message(router *r, zmq_msg_t *ridm, zmq_msg_t *cmdm, zmq_msg_t *env,
                           bool has_env, int extra)
{
    const uint8_t *rid = zmq_msg_data(ridm);
    size_t rid_len = zmq_msg_size(ridm);
    session *s = session_by_rid(&r->sessions, rid, rid_len);
    if (s && !s_same_peer(s, cmdm)) {
        /* Another connection has the session's routing id: the session's own is gone (a
           ROUTER admits no duplicate id), so it ends now, not at its heartbeat timeout, and
           this connection's commands are answered "Hello first". */
        deliver_session_end(r, s, "another connection took its routing id");
        s = NULL;
    }
    if (s)
        s->last_recv_ms = r->now_ms;
    if (wire_is_packed(zmq_msg_data(cmdm), zmq_msg_size(cmdm)))
        return s_on_packed(r, rid, rid_len, s, cmdm, has_env, extra);
    wire_cmd c;
    int rc = wire_decode(zmq_msg_data(cmdm), zmq_msg_size(cmdm), &c);
    s_on_command(r, rid, rid_len, s, cmdm, rc, &c, has_env ? env : NULL, extra);
    wire_cmd_clear(&c);
    return 1;
}

/* Reads up to the budget of messages. */
/* Whether input from rid is ignored (its session overflowed lately). */
static bool s_muted(const router *r, zmq_msg_t *rid)
{
    for (size_t i = 0; i < ROUTER_MUTED_CAP; i++) {
        const router_muted *m = &r->muted[i];
        if (m->until_ms > r->now_ms && m->rid_len == zmq_msg_size(rid) &&
            memcmp(m->rid, zmq_msg_data(rid), m->rid_len) == 0)
            return true;
    }
    return false;
}

/*
 * Ends a session that sent requests and read nothing (out.c marked it) and
 * ignores its connection for two heartbeat timeouts: no answer is made for
 * it any more, and libzmq drops the connection once the peer stops
 * answering heartbeats, freeing what is queued.
 */
static void s_end_overflowed(router *r, session *s)
{
    router_muted *m = &r->muted[r->next_muted++ % ROUTER_MUTED_CAP];
    memcpy(m->rid, s->rid, s->rid_len);
    m->rid_len = s->rid_len;
    m->until_ms = r->now_ms + 2 * r->opt.heartbeat_timeout_ms;
    deliver_session_end(r, s, "unread output passed limits.max_session_output");
}

/* Reads messages until ROUTER_READ_BUDGET commands (a Packed frame's items each count). */
static bool s_group_full(router *r);

static void s_read(router *r)
{
    for (size_t done = 0; done < ROUTER_READ_BUDGET && !s_group_full(r);) {
        zmq_msg_t rid, cmd, env;
        zmq_msg_init(&rid);
        zmq_msg_init(&cmd);
        zmq_msg_init(&env);
        bool has_env = false;
        int extra = 0;
        int rc = s_read_message(r, &rid, &cmd, &env, &has_env, &extra);
        if (rc == 0) {
            r->now_ms = clock_now_ms();
            done += s_muted(r, &rid) ? 1 : s_on_message(r, &rid, &cmd, &env, has_env, extra);
        }
        zmq_msg_close(&rid);
        zmq_msg_close(&cmd);
        zmq_msg_close(&env);
        if (rc != 0)
            return;
    }
}

/* ---- reload, admin, metrics, timers ---- */

/*
 * Reloads trust and policy (SIGHUP, admin reload). On failure the current
 * view stays and err says why; res (may be NULL) is filled on success. The
 * revocation list is judged against the store's record (never older than
 * the current view's): a trust directory with an older revoked.crl is
 * served with the store's copy of the newest list, as at start
 * (view_remember_crl()), or refused (STALE) if that copy is not usable.
 */
static int s_reload_view(router *r, admin_reload_result *res, char *err, size_t errlen)
{
    view *v = NULL;
    int rc = view_load(r->opt.trust_dir, r->opt.policy_path, &v, err, errlen);
    if (rc == ASYLINK_OK && (rc = view_remember_crl(v, r->store, err, errlen)) != ASYLINK_OK)
        view_unref(&v);
    if (rc != ASYLINK_OK) {
        r->stats.reload_failures++;
        LOG_ERROR("router", "reload failed; keeping the current trust and policy",
                  "code=%s error=%s", asylink_err_name(rc), LOG_Q(err));
        notes_reload(r, rc, err);
        return rc;
    }
    view_unref(&r->view);
    r->view = v;
    r->stats.reloads++;
    certwatch_reset(&r->certs); /* a revoked broker certificate is told at once */
    uint32_t dropped = 0;
    for (size_t i = r->sessions.n; i-- > 0;) {
        session *s = r->sessions.items[i];
        /* The certificate the session is bound to, not any of the node's: after a rekey the
           node has a new one, and the old, revoked, must not keep its session. */
        const cert *c = NULL;
        rc = s_cert_usable(view_trust(v), s->node_id, s->cert_serial, r->now_ms, &c);
        if (rc == ASYLINK_OK) {
            feeds_recheck(r, s);
            continue;
        }
        out_error(r, s->rid, s->rid_len, 0, rc, asylink_strerror(rc), true);
        out_bye(r, s, rc, "certificate no longer usable");
        deliver_session_end(r, s, asylink_err_name(rc));
        dropped++;
    }
    LOG_INFO("router", "trust and policy reloaded",
             "certificates=%zu sessions=%zu sessions_dropped=%u", trust_count(view_trust(v)),
             r->sessions.n, dropped);
    (void)nofile_check("router", &r->opt.nofile, trust_count(view_trust(v)), false);
    char detail[128];
    const crl *cl = trust_crl(view_trust(v));
    snprintf(detail, sizeof detail, "certificates=%zu crl=%llu sessions_dropped=%u",
             trust_count(view_trust(v)), (unsigned long long)(cl ? cl->number : 0), dropped);
    notes_reload(r, ASYLINK_OK, detail);
    if (res) {
        const trust *t = view_trust(v);
        const crl *l = trust_crl(t);
        for (size_t i = 0; i < trust_count(t); i++)
            res->nodes += trust_at(t, i) == trust_find(t, trust_at(t, i)->node_id);
        res->revoked = l ? (uint32_t)l->n_entries : 0;
        res->crl_number = l ? l->number : 0;
        res->sessions_dropped = dropped;
    }
    return ASYLINK_OK;
}

static void s_reload(router *r)
{
    char err[512];
    s_reload_view(r, NULL, err, sizeof err);
}

/* admin_env callbacks. */
static int s_admin_reload(void *ctx, admin_reload_result *out, char *err, size_t errlen)
{
    return s_reload_view(ctx, out, err, errlen);
}

static void s_admin_replayed(void *ctx, const char *node_id)
{
    router *r = ctx;
    session *s = session_by_node(&r->sessions, node_id);
    if (s) /* the replayed entries sort before the session's queue cursor (s_admin committed) */
        session_rescan(s);
}

/* Answers pending operator requests. */
static void s_admin(router *r)
{
    publish_commit(r); /* the operator sees (and changes) a store with all the router was told */
    admin_env e = {.broker_node_id = r->opt.node_id,
                   .policy_path = r->opt.policy_path,
                   .store = r->store,
                   .sessions = &r->sessions,
                   .stats = router_get_stats(r),
                   .trust = view_trust(r->view),
                   .now_ms = r->now_ms,
                   .started_ms = r->started_ms,
                   .durable = r->opt.durable,
                   .verify_workers = r->opt.verify_threads,
                   .reload = s_admin_reload,
                   .replayed = s_admin_replayed,
                   .audit = r->audit,
                   .policy = view_policy(r->view),
                   .dedup_window_ms = r->opt.dedup_window_ms,
                   .approvals = r->approvals,
                   .ctx = r};
    admin_handle_pending(r->admin, &e);
}

/* One node's queue and session for the metrics snapshot. */
static void s_metrics_node(router *r, const cert *c, metrics_node *n)
{
    snprintf(n->node_id, sizeof n->node_id, "%s", c->node_id);
    store_queue_depth(r->store, c->node_id, &n->depth, &n->bytes);
    store_dead_letter_count(r->store, c->node_id, &n->dead_letters);
    store_entry e;
    n->oldest_ms = store_queue_next(r->store, c->node_id, 0, &e) == ASYLINK_OK ? e.accepted_ms : 0;
    n->cert_not_after_ms = c->not_after_ms;
    const session *s = session_by_node(&r->sessions, c->node_id);
    n->connected = s != NULL;
    n->in_flight = s ? (uint32_t)(s->n_inflight + s->feed_inflight) : 0;
    n->credit = s ? s->credit_messages : 0;
}

/* Whether node has subscription name open in its session now. */
static bool s_sub_open(router *r, const char *node, const char *name)
{
    const session *s = session_by_node(&r->sessions, node);
    for (size_t i = 0; s && i < s->n_subs; i++)
        if (strcmp(s->subs[i]->name, name) == 0)
            return true;
    return false;
}

/* Every durable subscription with its lag (walks the feed, capped). */
static void s_metrics_feeds(router *r, metrics_snapshot *snap)
{
    char node[NODE_ID_MAX + 1] = "", name[STORE_SUB_NAME_MAX + 1] = "";
    size_t cap = 0;
    store_sub sub;
    while (store_sub_next(r->store, node, name, node, name, &sub) == ASYLINK_OK) {
        if (snap->n_feeds == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            metrics_feed *f = realloc(snap->feeds, ncap * sizeof *f);
            if (!f)
                return;
            snap->feeds = f;
            cap = ncap;
        }
        metrics_feed *f = &snap->feeds[snap->n_feeds++];
        memset(f, 0, sizeof *f);
        snprintf(f->node_id, sizeof f->node_id, "%s", node);
        snprintf(f->name, sizeof f->name, "%s", name);
        snprintf(f->prefix, sizeof f->prefix, "%s", sub.prefix);
        f->cursor = sub.cursor;
        store_feed_count_after(r->store, sub.cursor, sub.prefix, METRICS_LAG_CAP, &f->lag);
        f->lag_capped = f->lag >= METRICS_LAG_CAP;
        f->open = s_sub_open(r, node, name);
    }
}

/*
 * Whether the status page and /metrics show node row n of c: every member
 * node; an internal node (cert_is_internal: the broker, an operator) only
 * while something waits in its queue or dead letters, as asylink queues.
 */
static bool s_shows_node(const cert *c, const metrics_node *n)
{
    return !cert_is_internal(c) || n->depth > 0 || n->dead_letters > 0;
}

static void s_publish_metrics(router *r)
{
    const trust *t = view_trust(r->view);
    metrics_snapshot snap = {.started_ms = r->started_ms,
                             .taken_ms = r->now_ms,
                             .durable = r->opt.durable,
                             .verify_workers = r->opt.verify_threads,
                             .sessions = r->sessions.n,
                             .max_map_size = r->opt.max_map_size,
                             .transit_bytes = r->transit_bytes,
                             .max_transit_bytes = r->opt.max_transit_bytes};
    snprintf(snap.broker_node_id, sizeof snap.broker_node_id, "%s", r->opt.node_id);
    snap.broker_cert_not_after_ms = r->opt.own_cert ? r->opt.own_cert->not_after_ms : 0;
    snap.ca_cert_not_after_ms = trust_ca(t)->not_after_ms;
    snap.stats = *router_get_stats(r);
    store_read_begin(r->store);
    store_get_stats(r->store, &snap.store);
    snap.nodes = calloc(trust_count(t) + 1, sizeof *snap.nodes);
    for (size_t i = 0; snap.nodes && i < trust_count(t); i++) {
        const cert *c = trust_at(t, i);
        if (c != trust_find(t, c->node_id))
            continue;
        s_metrics_node(r, c, &snap.nodes[snap.n_nodes]);
        if (s_shows_node(c, &snap.nodes[snap.n_nodes]))
            snap.n_nodes++;
    }
    s_metrics_feeds(r, &snap);
    store_read_end(r->store);
    metrics_publish(r->opt.metrics, &snap);
    free(snap.nodes);
    free(snap.feeds);
}

static void s_timers(router *r)
{
    certwatch_run(&r->certs, view_trust(r->view), r->opt.own_cert, r->now_ms);
    if (r->opt.metrics && r->now_ms >= r->next_metrics_ms) {
        s_publish_metrics(r);
        r->next_metrics_ms = r->now_ms + 1000;
    }
    for (size_t i = 0; r->committer && i < r->sessions.n; i++) {
        const session *s = r->sessions.items[i];
        if (s->retry_at_ms && r->now_ms >= s->retry_at_ms) {
            /* a rescan from the queue's start must not find what is acknowledged
               (or retried) but not committed yet: commit it first */
            publish_commit(r);
            break;
        }
    }
    store_read_begin(r->store);
    for (size_t i = r->sessions.n; i-- > 0;) {
        session *s = r->sessions.items[i];
        if (r->now_ms >= r->next_hb_check_ms &&
            r->now_ms - s->last_recv_ms > r->opt.heartbeat_timeout_ms) {
            deliver_session_end(r, s, "heartbeat timeout");
            continue;
        }
        if (s->overflow) { /* out.c: it sends requests and reads nothing */
            s_end_overflowed(r, s);
            continue;
        }
        if (s->gone) { /* a send to it found its connection gone (deliver.c, out.c) */
            deliver_session_end(r, s, "peer gone");
            continue;
        }
        if (s->retry_at_ms && r->now_ms >= s->retry_at_ms)
            session_rescan(s); /* (committed above, or in the turn without a committer) */
        s->blocked = false;
        deliver_session(r, s);
    }
    store_read_end(r->store);
    if (r->now_ms >= r->next_hb_check_ms)
        r->next_hb_check_ms = r->now_ms + 1000;
    if (r->now_ms >= r->next_release_ms) {
        r->next_release_ms = r->now_ms + 2; /* the kernel maps pages around each read */
        store_release_pages(r->store, ROUTER_RESIDENT_BUDGET_KIB, ROUTER_MAPPED_FLOOR_KIB);
    }
    if (r->now_ms >= r->next_sweep_ms) {
        store_sweep_stats st = {0};
        if (store_sweep(r->store, r->now_ms, 10000, &st) == ASYLINK_OK && st.expired)
            LOG_INFO("store", "expired messages swept", "entries=%llu",
                     (unsigned long long)st.expired);
        r->stats.expired += st.expired;
        /* expired messages left: again soon; a dedup scan in the middle of the index: at
           the pace that takes it through the index once per window / 8 */
        r->next_sweep_ms = r->now_ms + store_sweep_delay_ms(r->store, &st, r->opt.sweep_interval_ms);
        audit_prune(r->audit, r->now_ms, 10000, NULL);
        /* a read-only reader of the live store killed while the broker runs (kill -9 of an
           `asylink audit --data`, an mdb_copy) leaves a slot that pins old pages */
        store_stale_readers_clear(r->store);
    }
    /* a checkpoint due by time; while a group is in flight or waiting, the
       notes and the checkpoint ride its commit (a flush here would wait for it) */
    bool grouped = r->committer && (committer_busy(r->committer) || store_batch_size(r->batch) > 0);
    int rc = grouped ? ASYLINK_OK : audit_flush(r->audit, r->now_ms, false);
    if (rc != ASYLINK_OK && rc != ASYLINK_E_STORE_FULL) {
        LOG_ERROR("audit", "audit commit failed", "code=%s", asylink_err_name(rc));
        r->fatal = true;
    }
    if (!r->opt.durable && r->now_ms >= r->next_sync_ms) {
        store_sync(r->store);
        r->next_sync_ms = r->now_ms + r->opt.sync_interval_ms;
    }
}

/* ---- life cycle ---- */

static int s_socket_setup(router *r)
{
    int one = 1, hwm = ROUTER_HWM, linger = 1000;
    int hb_ivl = (int)r->opt.heartbeat_interval_ms, hb_to = (int)r->opt.heartbeat_timeout_ms;
    int hs = r->opt.handshake_timeout_ms ? (int)r->opt.handshake_timeout_ms : 5000;
    int64_t maxmsg = (int64_t)r->opt.max_envelope_bytes + 1024 * 1024;
    if (zmq_setsockopt(r->sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_CURVE_SECRETKEY, r->opt.keys->box_sk, 32) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_ZAP_DOMAIN, AUTH_DOMAIN, strlen(AUTH_DOMAIN)) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_to, sizeof hb_to) != 0 ||
        zmq_setsockopt(r->sock, ZMQ_HANDSHAKE_IVL, &hs, sizeof hs) != 0)
        return -1;
    if (!(r->monitor = conn_monitor_new(r->ctx, r->sock, "asylink-router-monitor", r->opt.metrics)))
        return -1;
    return 0;
}

/* Binds the client socket to opt.endpoint and keeps the address bound (the real port). */
static int s_socket_bind(router *r)
{
    if (zmq_bind(r->sock, r->opt.endpoint) != 0)
        return -1;
    char last[256];
    size_t len = sizeof last;
    if (zmq_getsockopt(r->sock, ZMQ_LAST_ENDPOINT, last, &len) != 0)
        return -1;
    r->opt.bound_endpoint = strdup(last);
    return r->opt.bound_endpoint ? 0 : -1;
}

/* The store's write barrier: a write waits for the commit in flight. */
static void s_barrier(void *ctx)
{
    router *r = ctx;
    if (r->committer)
        committer_wait(r->committer);
}

const char *router_bind_hint(int err)
{
    switch (err) {
    case EADDRINUSE:
        return "another process holds this address and port, maybe another asylinkd still "
               "running (ss -ltnp shows which): stop it, or choose another port";
    case EADDRNOTAVAIL:
        return "the address is not one of this host's (ip -brief address lists them): choose "
               "one of them, or 0.0.0.0 for all";
    case EACCES:
        return "a port below 1024 needs privileges asylinkd should not have: choose a port of "
               "1024 or above";
    default: return "check the address and port";
    }
}

/* The ERROR of a socket router_new() cannot bind: which one, where, why, and what to do. */
static void s_log_bind_failed(const char *msg, const char *key, const char *endpoint, int err,
                              const char *option)
{
    char fix[512];
    snprintf(fix, sizeof fix, "%s (%s)", router_bind_hint(err), option);
    LOG_ERROR("router", msg, "%s=%s error=%s code=%s hint=%s", key, LOG_Q(endpoint),
              LOG_Q(zmq_strerror(err)), asylink_err_name(ASYLINK_E_IO), LOG_Q(fix));
}

int router_new(router_options *o, store *st, view *v, router **out)
{
    *out = NULL;
    router *r = calloc(1, sizeof *r);
    if (!r) {
        view_unref(&v);
        return ASYLINK_E_NOMEM;
    }
    r->opt = *o;
    r->audit = o->audit;
    r->started_ms = clock_now_ms();
    r->store = st;
    store_release_budget(st, ROUTER_RESIDENT_BUDGET_KIB, ROUTER_MAPPED_FLOOR_KIB);
    r->view = v;
    r->ctx = zmq_ctx_new();
    r->reorder = calloc(ROUTER_REORDER_CAP, sizeof *r->reorder);
    int rc = ASYLINK_E_NOMEM;
    if (!r->ctx || !r->reorder || store_batch_new(st, &r->batch) != ASYLINK_OK ||
        (o->four_eyes_timeout_ms &&
         approval_new(o->four_eyes_timeout_ms, &r->approvals) != ASYLINK_OK))
        goto fail;
    rc = ASYLINK_E_IO;
    r->zap = auth_socket_new(r->ctx);
    r->sock = r->zap ? zmq_socket(r->ctx, ZMQ_ROUTER) : NULL;
    if (!r->sock || s_socket_setup(r) != 0)
        goto fail;
    if (s_socket_bind(r) != 0) {
        s_log_bind_failed("cannot bind the client endpoint", "endpoint", o->endpoint, zmq_errno(),
                          "[broker] endpoint");
        goto destroy;
    }
    if (o->admin_endpoint && *o->admin_endpoint &&
        !(r->admin = admin_socket_new(r->ctx, o->admin_endpoint, o->keys->box_sk,
                                      &r->opt.bound_admin_endpoint))) {
        s_log_bind_failed("cannot bind the admin endpoint", "admin_endpoint", o->admin_endpoint,
                          errno, "[broker] admin_endpoint");
        goto destroy;
    }
    if (verify_pool_new(r->ctx, o->verify_threads, &r->pool) != ASYLINK_OK)
        goto fail;
    if (o->durable) { /* relaxed commits are quick: they stay in the turn */
        rc = committer_new(&r->committer);
        if (rc != ASYLINK_OK)
            goto fail;
        store_set_write_barrier(st, s_barrier, r);
    }
    o->bound_endpoint = r->opt.bound_endpoint;
    o->bound_admin_endpoint = r->opt.bound_admin_endpoint;
    *out = r;
    return ASYLINK_OK;
fail:
    LOG_ERROR("router", "cannot start", "endpoint=%s admin_endpoint=%s error=%s",
              LOG_Q(o->endpoint), LOG_Q(o->admin_endpoint ? o->admin_endpoint : ""),
              LOG_Q(zmq_strerror(zmq_errno())));
destroy:
    router_destroy(&r);
    return rc;
}

int router_endpoint_probe(const char *endpoint)
{
    if (!endpoint || strncmp(endpoint, "tcp://", 6) != 0)
        return 0;
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
    int linger = 0, err = 0;
    if (!sock)
        err = zmq_errno() ? zmq_errno() : ENOMEM;
    else if (zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
             zmq_bind(sock, endpoint) != 0)
        err = zmq_errno();
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx); /* the listening socket is closed when this returns */
    return err;
}

/*
 * Whether the next group is full while one is in flight: the loop stops
 * reading clients until the commit returns (back-pressure; it bounds the
 * memory of a group, LMDB's dirty pages, and the commit's time).
 */
static bool s_group_full(router *r)
{
    return r->committer &&
           (r->next_arrival - r->next_release + r->refs.n_pending >= ROUTER_GROUP_CAP ||
            store_batch_size(r->batch) >= ROUTER_GROUP_OPS_CAP) &&
           committer_busy(r->committer);
}

/*
 * One turn of the loop; wait_ms is the poll timeout (a finished commit
 * ends the wait too: the committer's eventfd is polled).
 */
static void s_turn(router *r, bool reading, long wait_ms)
{
    bool poll_in = reading && !s_group_full(r);
    zmq_pollitem_t items[] = {
        {r->sock, 0, poll_in ? ZMQ_POLLIN : 0, 0},
        {r->zap, 0, ZMQ_POLLIN, 0},
        {verify_pool_socket(r->pool), 0, ZMQ_POLLIN, 0},
        {conn_monitor_socket(r->monitor), 0, ZMQ_POLLIN, 0},
        {NULL, r->committer ? committer_fd(r->committer) : -1, r->committer ? ZMQ_POLLIN : 0, 0},
        {r->admin, 0, r->admin && reading ? ZMQ_POLLIN : 0, 0},
    };
    zmq_poll(items, r->admin ? 6 : 5, wait_ms);
    r->now_ms = clock_now_ms();
    if (items[1].revents & ZMQ_POLLIN)
        auth_handle_pending(r->zap, view_trust(r->view), r->now_ms, &r->auth,
                            notes_admission_refused, r);
    store_read_begin(r->store); /* the turn's deliveries share a read transaction */
    if (r->committer) {         /* a finished group: its answers first, then the next group goes */
        publish_collect(r);
        publish_pipeline(r, false);
    }
    if (reading && !s_group_full(r) && (!poll_in || (items[0].revents & ZMQ_POLLIN)))
        s_read(r);    /* (not polled: the group in flight was full, it may have gone now) */
    out_flush_all(r); /* deliveries the Acks just read made room for: not behind the commit */
    verify_pool_flush(r->pool); /* the Publishes just read */
    publish_collect(r);
    publish_pipeline(r, true);
    store_read_end(r->store);
    out_flush_all(r);
    if (items[3].revents & ZMQ_POLLIN)
        conn_monitor_handle(r->monitor);
    if (r->admin && (items[5].revents & ZMQ_POLLIN))
        s_admin(r);
}

/* Shutdown: finish verified work, commit, say Bye. */
static void s_drain(router *r)
{
    uint64_t deadline = clock_now_ms() + ROUTER_DRAIN_MS;
    r->draining = true;
    while (r->next_release < r->next_arrival && clock_now_ms() < deadline && !r->fatal)
        s_turn(r, false, 50);
    if (r->fatal)
        publish_settle(r); /* the group in flight is answered; nothing more is written */
    else
        publish_commit(r); /* the group in flight and what is left, answered before Bye */
    for (size_t i = r->sessions.n; i-- > 0;) {
        out_bye(r, r->sessions.items[i], ASYLINK_E_SHUTDOWN, "broker shutting down");
        deliver_session_end(r, r->sessions.items[i], "broker shutdown");
    }
}

int router_run(router *r, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    LOG_INFO("router", "serving", "endpoint=%s admin_endpoint=%s workers=%d durability=%s",
             LOG_Q(r->opt.bound_endpoint),
             LOG_Q(r->opt.bound_admin_endpoint ? r->opt.bound_admin_endpoint : "off"),
             r->opt.verify_threads, r->opt.durable ? "fsync" : "relaxed");
    char detail[AUDITCHAIN_DETAIL_MAX + 1];
    char since[32], gap[192] = "";
    uint64_t unaudited = audit_unaudited_since(r->audit);
    if (unaudited) { /* the chain cannot show it: this record does */
        clock_format_iso(unaudited, since, sizeof since);
        snprintf(gap, sizeof gap,
                 "after running without the audit trail ([audit] enabled = false) since %s: no "
                 "records of what changed meanwhile; ",
                 since);
        LOG_WARN("router", "the store was served without the audit trail before", "since=%s",
                 since);
    }
    snprintf(detail, sizeof detail, "%sasylinkd %s endpoint=%s durability=%s", gap,
             asylink_version(), r->opt.bound_endpoint, r->opt.durable ? "fsync" : "relaxed");
    r->now_ms = clock_now_ms();
    notes_lifecycle(r, AUDIT_STARTED, detail);
    while (!*stop && !r->fatal) {
        s_turn(r, true, ROUTER_TICK_MS);
        if (*reload) {
            *reload = 0;
            s_reload(r);
        }
        s_timers(r);
        out_flush_all(r);
    }
    s_drain(r);
    r->now_ms = clock_now_ms();
    snprintf(detail, sizeof detail, "%s accepted=%llu delivered=%llu",
             r->fatal ? "store error" : "signal", (unsigned long long)r->stats.accepted,
             (unsigned long long)r->stats.delivered);
    notes_lifecycle(r, AUDIT_STOPPED, detail);
    if (!r->fatal && audit_flush(r->audit, r->now_ms, true) != ASYLINK_OK)
        LOG_ERROR("audit", "the stop record cannot be written", "node=%s", r->opt.node_id);
    LOG_INFO("router", "stopped", "accepted=%llu delivered=%llu commits=%llu commit_ops=%llu",
             (unsigned long long)r->stats.accepted, (unsigned long long)r->stats.delivered,
             (unsigned long long)r->stats.commits, (unsigned long long)r->stats.commit_ops);
    return r->fatal ? ASYLINK_E_IO : ASYLINK_OK;
}

const router_stats *router_get_stats(const router *r)
{
    ((router *)r)->stats.zap_admitted = r->auth.admitted;
    ((router *)r)->stats.zap_refused = r->auth.refused;
    return &r->stats;
}

size_t router_session_count(const router *r)
{
    return r->sessions.n;
}

/* Frees b's arrays and the Publishes it holds. */
static void s_batch_refs_free(router_batch_refs *b)
{
    for (size_t i = 0; i < b->n_pending; i++)
        verify_job_destroy(&b->pending[i].job);
    free(b->pending);
    free(b->settles);
}

void router_destroy(router **self_p)
{
    if (!self_p || !*self_p)
        return;
    router *r = *self_p;
    committer_destroy(&r->committer); /* after the commit it runs, if any */
    if (r->store)
        store_set_write_barrier(r->store, NULL, NULL);
    s_batch_refs_free(&r->flight_refs);
    store_batch_destroy(&r->flight);
    verify_pool_destroy(&r->pool);
    for (size_t i = 0; r->reorder && i < ROUTER_REORDER_CAP; i++)
        verify_job_destroy(&r->reorder[i]);
    s_batch_refs_free(&r->refs);
    free(r->reorder);
    store_batch_destroy(&r->batch);
    session_table_clear(&r->sessions);
    conn_monitor_destroy(&r->monitor, r->sock);
    if (r->sock)
        zmq_close(r->sock);
    if (r->admin)
        zmq_close(r->admin);
    if (r->zap)
        zmq_close(r->zap);
    if (r->ctx)
        zmq_ctx_term(r->ctx);
    view_unref(&r->view);
    approval_destroy(&r->approvals);
    free(r->opt.bound_endpoint);
    free(r->opt.bound_admin_endpoint);
    free(r);
    *self_p = NULL;
}
