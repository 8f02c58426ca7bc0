/*
 * out.c — framing out to a session: every command the router sends goes
 * through out_send(), which never blocks (ZMQ_DONTWAIT; ROUTER_MANDATORY
 * makes a gone peer EHOSTUNREACH instead of a silent drop).
 */
#include "router_internal.h"

#include "asylink/errors.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sends [rid][cmd][env?] without blocking. 0, or -1 with errno (EAGAIN, EHOSTUNREACH). */
int out_send(router *r, const uint8_t *rid, size_t rid_len, const wire_cmd *cmd, zmq_msg_t *env)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode(cmd, &buf, &len) != ASYLINK_OK) {
        errno = ENOMEM;
        return -1;
    }
    int rc = -1;
    if (zmq_send(r->sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        goto cleanup;
    if (zmq_send(r->sock, buf, len, env ? ZMQ_SNDMORE : 0) < 0)
        goto cleanup;
    if (env && zmq_msg_send(env, r->sock, 0) < 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (rc != 0)
        errno = zmq_errno();
    free(buf);
    return rc;
}

/* Frees a zero-copy frame's buffer when libzmq is done with it. */
static void s_free_frame(void *data, void *hint)
{
    (void)hint;
    free(data);
}

int out_envelope(router *r, const session *s, const wire_cmd *cmd, uint8_t *env, size_t len)
{
    zmq_msg_t m; /* zero-copy: libzmq frees env once it is written out */
    if (zmq_msg_init_data(&m, env, len, s_free_frame, NULL) != 0) {
        free(env);
        errno = ENOMEM;
        return -1;
    }
    int rc = out_send(r, s->rid, s->rid_len, cmd, &m);
    int err = errno;
    zmq_msg_close(&m);
    errno = err;
    return rc;
}

void out_error(router *r, const uint8_t *rid, size_t rid_len, uint64_t request_id, int code,
               const char *reason, bool fatal)
{
    wire_cmd c = {.kind = WIRE_ERROR, .request_id = request_id};
    c.u.error.code = code;
    c.u.error.fatal = fatal;
    snprintf(c.u.error.reason, sizeof c.u.error.reason, "%s", reason);
    r->stats.protocol_errors++;
    out_send(r, rid, rid_len, &c, NULL);
}

void out_bye(router *r, session *s, int code, const char *reason)
{
    wire_cmd c = {.kind = WIRE_BYE};
    c.u.error.code = code;
    snprintf(c.u.error.reason, sizeof c.u.error.reason, "%s", reason);
    out_send(r, s->rid, s->rid_len, &c, NULL);
}

void out_rejected(router *r, const session *s, const uint8_t id[16], int code, const char *reason,
                  bool retryable)
{
    r->stats.rejected++;
    if (code >= 0 && code < 64)
        r->stats.rejected_by_code[code]++;
    if (!s)
        return;
    wire_cmd c = {.kind = WIRE_REJECTED};
    memcpy(c.u.rejected.message_id, id, 16);
    c.u.rejected.has_message_id = true;
    c.u.rejected.code = code;
    c.u.rejected.retryable = retryable;
    snprintf(c.u.rejected.reason, sizeof c.u.rejected.reason, "%s", reason);
    out_send(r, s->rid, s->rid_len, &c, NULL);
    LOG_DEBUG("router", "publish rejected", "node=%s code=%s", s->node_id, asylink_err_name(code));
}
