/*
 * out.c — framing out to a session: every command the router sends goes
 * through out_send(), which never blocks (ZMQ_DONTWAIT; ROUTER_MANDATORY
 * makes a gone peer EHOSTUNREACH instead of a silent drop).
 */
#include "router_internal.h"

#include "asylink/errors.h"
#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A zero-copy frame's buffer and the session account it is charged to. */
typedef struct {
    session_output *output; /* NULL: no session (answers before Hello) */
    uint64_t len;
} s_charge;

_Static_assert(sizeof(s_charge) <= OUT_FRAME_ROOM, "a frame's account fits before its data");

/* Frees a zero-copy frame's block (its account, then its data) once libzmq is done (any thread). */
static void s_free_frame(void *data, void *hint)
{
    (void)data; /* inside the block */
    s_charge *c = hint;
    if (c->output)
        session_output_release(c->output, c->len);
    free(c);
}

/*
 * Makes m a zero-copy frame of the len bytes at data, inside block (malloc'd,
 * taken in every case; its head holds the account) charged to o (may be
 * NULL). 0, or -1 (ENOMEM).
 */
static int s_frame_at(zmq_msg_t *m, uint8_t *block, uint8_t *data, size_t len, session_output *o)
{
    s_charge *c = (s_charge *)(void *)block;
    c->output = o;
    c->len = len;
    if (zmq_msg_init_data(m, data, len, s_free_frame, c) != 0) {
        free(block);
        errno = ENOMEM;
        return -1;
    }
    if (o)
        session_output_hold(o, len);
    return 0;
}

/* s_frame_at() for the len bytes at block + OUT_FRAME_ROOM. */
static int s_frame(zmq_msg_t *m, uint8_t *block, size_t len, session_output *o)
{
    return s_frame_at(m, block, block + OUT_FRAME_ROOM, len, o);
}

/* Encodes cmd into a frame block (OUT_FRAME_ROOM bytes, then the command): ASYLINK_OK or E_NOMEM.
 */
static int s_encode(const wire_cmd *cmd, uint8_t **block, size_t *len)
{
    uint8_t *buf = NULL;
    if (wire_encode(cmd, &buf, len) != ASYLINK_OK)
        return ASYLINK_E_NOMEM;
    *block = malloc(OUT_FRAME_ROOM + *len);
    if (*block)
        memcpy(*block + OUT_FRAME_ROOM, buf, *len);
    free(buf);
    return *block ? ASYLINK_OK : ASYLINK_E_NOMEM;
}

/*
 * Whether `len` more bytes may be queued towards s. Deliveries wait (EAGAIN,
 * the session is blocked until the next timer turn) while the bound is
 * reached, except into an empty queue (a single envelope larger than the
 * bound still goes out). An answer past the bound plus OUT_ANSWER_SLACK means
 * the node sends requests and reads nothing: the session is marked to be
 * ended (ENOBUFS) and nothing more is sent to it.
 */
static int s_admit(router *r, session *s, uint64_t len, bool delivery)
{
    if (s->overflow) {
        errno = ENOBUFS;
        return -1;
    }
    uint64_t queued = atomic_load(&s->output->queued) + s->pack_held;
    uint64_t bound = r->opt.max_session_output;
    if (delivery) {
        if (queued && queued + len > bound) {
            errno = EAGAIN;
            return -1;
        }
        return 0;
    }
    if (queued + len <= bound + OUT_ANSWER_SLACK)
        return 0;
    s->overflow = true;
    metrics_guard_add(r->opt.metrics, METRICS_SESSION_OVERFLOW, 1);
    LOG_WARN("router", "session output bound passed: ending it", "node=%s queued=%llu bound=%llu",
             s->node_id, (unsigned long long)queued, (unsigned long long)bound);
    errno = ENOBUFS;
    return -1;
}

/* Whether the broker packs this kind for a session of protocol version 2 (PROTOCOL.md 11.2.1). */
static bool s_packable(wire_kind kind)
{
    return kind == WIRE_ACCEPTED || kind == WIRE_REJECTED || kind == WIRE_DELIVER;
}

int out_flush(router *r, session *s)
{
    if (!s->pack.items)
        return 0;
    /* The routing id first: at the high-water mark it fails here, with the
     * pack kept whole for the next turn (its deliveries are in flight). */
    if (zmq_send(r->sock, s->rid, s->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    size_t off = 0, len = 0;
    uint8_t *block = wire_packer_finish(&s->pack, &off, &len);
    s->pack_held = 0;
    zmq_msg_t m;
    if (s_frame_at(&m, block, block + off, len, s->output) != 0) {
        zmq_send(r->sock, "", 0, ZMQ_DONTWAIT); /* end the message begun above */
        return -1;
    }
    int rc = zmq_msg_send(&m, r->sock, 0) < 0 ? -1 : 0;
    int err = zmq_errno();
    zmq_msg_close(&m);
    errno = err;
    return rc;
}

void out_flush_all(router *r)
{
    for (size_t i = r->sessions.n; i-- > 0;) {
        if (i >= r->sessions.n) /* ending a session moved the table */
            continue;
        session *s = r->sessions.items[i];
        if (!s->pack.items || out_flush(r, s) == 0)
            continue;
        if (errno == EHOSTUNREACH)
            s->gone = true; /* ended in the timer turn, as a failed delivery's (deliver.c) */
        else
            s->blocked = true; /* tried again next turn */
    }
}

/* Adds [cmd][env?] to s's pack (s speaks version 2); takes env. 0, or -1 with errno. */
static int s_pack(router *r, session *s, const uint8_t *buf, size_t len, uint8_t *env,
                  size_t env_len)
{
    if (s_admit(r, s, len + env_len, env != NULL) != 0) {
        int err = errno;
        free(env);
        errno = err;
        return -1;
    }
    int rc = wire_packer_add(&s->pack, buf, len, env ? env + OUT_FRAME_ROOM : NULL, env_len);
    free(env);
    if (rc != ASYLINK_OK) {
        errno = ENOMEM;
        return -1;
    }
    s->pack_held += len + env_len;
    if (s->pack.items >= WIRE_MAX_PACKED || wire_packer_frame_len(&s->pack) >= WIRE_PACK_BYTES) {
        if (out_flush(r, s) != 0 && errno != EHOSTUNREACH)
            s->blocked = true; /* kept; the next turn sends it */
    }
    return 0;
}

/* Sends [rid][cmd][env?] without blocking, charging s (may be NULL). */
static int s_send(router *r, const uint8_t *rid, size_t rid_len, session *s, const wire_cmd *cmd,
                  uint8_t *env, size_t env_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (s && s->packed && s_packable(cmd->kind) &&
        wire_packer_frame_len(&s->pack) + env_len < WIRE_PACK_BYTES) {
        if (wire_encode(cmd, &buf, &len) != ASYLINK_OK) {
            free(env);
            errno = ENOMEM;
            return -1;
        }
        int rc = s_pack(r, s, buf, len, env, env_len);
        int err = errno;
        free(buf);
        errno = err;
        return rc;
    }
    if (s && s->pack.items && out_flush(r, s) != 0) { /* what is packed goes first */
        int err = errno;
        free(env);
        errno = err;
        return -1;
    }
    if (s_encode(cmd, &buf, &len) != ASYLINK_OK) {
        free(env);
        errno = ENOMEM;
        return -1;
    }
    if (s && s_admit(r, s, len + env_len, env != NULL) != 0) {
        int err = errno;
        free(buf);
        free(env);
        errno = err;
        return -1;
    }
    zmq_msg_t m, e;
    bool have_e = false;
    int rc = -1;
    if (s_frame(&m, buf, len, s ? s->output : NULL) != 0) {
        free(env);
        return -1;
    }
    if (env) {
        if (s_frame(&e, env, env_len, s ? s->output : NULL) != 0)
            goto cleanup;
        have_e = true;
    }
    if (zmq_send(r->sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        goto cleanup;
    if (zmq_msg_send(&m, r->sock, env ? ZMQ_SNDMORE : 0) < 0)
        goto cleanup;
    if (env && zmq_msg_send(&e, r->sock, 0) < 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (rc != 0)
        errno = zmq_errno() ? zmq_errno() : errno;
    int err = errno;
    zmq_msg_close(&m); /* a sent frame is already empty: closing it is a no-op */
    if (have_e)
        zmq_msg_close(&e);
    errno = err;
    return rc;
}

int out_send(router *r, const uint8_t *rid, size_t rid_len, const wire_cmd *cmd)
{
    return s_send(r, rid, rid_len, session_by_rid(&r->sessions, rid, rid_len), cmd, NULL, 0);
}

int out_envelope(router *r, session *s, const wire_cmd *cmd, uint8_t *block, size_t len)
{
    return s_send(r, s->rid, s->rid_len, s, cmd, block, len);
}

void out_error(router *r, const uint8_t *rid, size_t rid_len, uint64_t request_id, int code,
               const char *reason, bool fatal)
{
    wire_cmd c = {.kind = WIRE_ERROR, .request_id = request_id};
    c.u.error.code = code;
    c.u.error.fatal = fatal;
    snprintf(c.u.error.reason, sizeof c.u.error.reason, "%s", reason);
    r->stats.protocol_errors++;
    out_send(r, rid, rid_len, &c);
}

void out_bye(router *r, session *s, int code, const char *reason)
{
    wire_cmd c = {.kind = WIRE_BYE};
    c.u.error.code = code;
    snprintf(c.u.error.reason, sizeof c.u.error.reason, "%s", reason);
    out_send(r, s->rid, s->rid_len, &c);
}

void out_rejected(router *r, const session *s, const uint8_t id[16], int code, const char *reason,
                  bool retryable)
{
    r->stats.rejected++;
    if (code >= 0 && code < 64)
        r->stats.rejected_by_code[code]++;
    router_rejection *rec = &r->stats.recent[r->stats.n_recent++ % ROUTER_RECENT_REJECTIONS];
    rec->at_ms = r->now_ms;
    rec->code = code;
    snprintf(rec->node_id, sizeof rec->node_id, "%s", s ? s->node_id : "");
    if (!s)
        return;
    wire_cmd c = {.kind = WIRE_REJECTED};
    memcpy(c.u.rejected.message_id, id, 16);
    c.u.rejected.has_message_id = true;
    c.u.rejected.code = code;
    c.u.rejected.retryable = retryable;
    snprintf(c.u.rejected.reason, sizeof c.u.rejected.reason, "%s", reason);
    out_send(r, s->rid, s->rid_len, &c);
    LOG_DEBUG("router", "publish rejected", "node=%s code=%s", s->node_id, asylink_err_name(code));
}
