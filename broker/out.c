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
 * Makes m a zero-copy frame of the len bytes at block + OUT_FRAME_ROOM
 * (block malloc'd, taken in every case; its head holds the account)
 * charged to o (may be NULL). 0, or -1 (ENOMEM).
 */
static int s_frame(zmq_msg_t *m, uint8_t *block, size_t len, session_output *o)
{
    s_charge *c = (s_charge *)(void *)block;
    c->output = o;
    c->len = len;
    if (zmq_msg_init_data(m, block + OUT_FRAME_ROOM, len, s_free_frame, c) != 0) {
        free(block);
        errno = ENOMEM;
        return -1;
    }
    if (o)
        session_output_hold(o, len);
    return 0;
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
    uint64_t queued = atomic_load(&s->output->queued);
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

/* Sends [rid][cmd][env?] without blocking, charging s (may be NULL). */
static int s_send(router *r, const uint8_t *rid, size_t rid_len, session *s, const wire_cmd *cmd,
                  uint8_t *env, size_t env_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
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
