/*
 * peerwire.c — the broker protocol on one DEALER socket (peerwire.h).
 */
#define _GNU_SOURCE /* program_invocation_short_name */
#include "peerwire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "clock.h"

int peerwire_curve(void *sock, const uint8_t server_pk[32], const keys_secret *keys)
{
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pk, 32) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, keys->box_pk, 32) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, keys->box_sk, 32) != 0)
        return -1;
    return 0;
}

int peerwire_send_raw(void *sock, int flags, const uint8_t *cmd, size_t cmd_len, const uint8_t *env,
                      size_t env_len, bool with_env, bool extra)
{
    int more = with_env ? ZMQ_SNDMORE : 0;
    if (zmq_send(sock, cmd, cmd_len, flags | more) < 0)
        return -1;
    if (with_env && zmq_send(sock, env, env_len, extra ? ZMQ_SNDMORE : 0) < 0)
        return -1;
    if (extra && zmq_send(sock, "x", 1, 0) < 0)
        return -1;
    return 0;
}

int peerwire_send(void *sock, int flags, const wire_cmd *c, const uint8_t *env, size_t env_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode(c, &buf, &len) != ASYLINK_OK) {
        errno = EINVAL;
        return -1;
    }
    int rc = peerwire_send_raw(sock, flags, buf, len, env, env_len, env != NULL, false);
    free(buf);
    return rc;
}

/* Drops the frames of a message beyond what was read. */
static void s_drop_rest(void *sock, bool more)
{
    while (more) {
        zmq_msg_t x;
        zmq_msg_init(&x);
        more = zmq_msg_recv(&x, sock, 0) >= 0 && zmq_msg_more(&x);
        zmq_msg_close(&x);
    }
}

/*
 * Fills *in from the command frame just read (cmd, taken and closed) and the
 * envelope frame after it, if any; drops frames beyond the second.
 */
static void s_plain(void *sock, zmq_msg_t *cmd, peerwire_in *in)
{
    const uint8_t *data = zmq_msg_data(cmd);
    size_t len = zmq_msg_size(cmd);
    in->decode_rc = wire_decode(data, len, &in->cmd);
    uint64_t rid;
    const uint8_t *body;
    size_t body_len;
    in->admin_response = in->decode_rc != ASYLINK_OK &&
                         wire_admin_response_body(data, len, &rid, &body, &body_len) == ASYLINK_OK;
    bool more = zmq_msg_more(cmd);
    zmq_msg_close(cmd);
    if (more && zmq_msg_recv(&in->env, sock, 0) >= 0) {
        in->has_env = true;
        more = zmq_msg_more(&in->env);
    }
    s_drop_rest(sock, more);
}

int peerwire_recv(void *sock, peerwire_in *in)
{
    memset(in, 0, sizeof *in);
    zmq_msg_init(&in->env);
    zmq_msg_t cmd;
    zmq_msg_init(&cmd);
    if (zmq_msg_recv(&cmd, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&cmd);
        return 0;
    }
    s_plain(sock, &cmd, in);
    return 1;
}

/* The next item of rd's Packed frame into *in; 0 after the last (rd is closed then). */
static int s_next_item(peerwire_reader *rd, peerwire_in *in)
{
    wire_item it;
    if (!wire_unpack_next(&rd->u, &it)) {
        peerwire_reader_close(rd);
        return 0;
    }
    memset(in, 0, sizeof *in);
    zmq_msg_init(&in->env);
    in->decode_rc = wire_decode(it.cmd, it.cmd_len, &in->cmd);
    if (it.env_len && zmq_msg_init_size(&in->env, it.env_len) == 0) {
        memcpy(zmq_msg_data(&in->env), it.env, it.env_len);
        in->has_env = true;
    }
    return 1;
}

int peerwire_read(void *sock, peerwire_reader *rd, peerwire_in *in)
{
    if (rd->active && s_next_item(rd, in))
        return 1;
    memset(in, 0, sizeof *in);
    zmq_msg_init(&in->env);
    zmq_msg_init(&rd->frame);
    if (zmq_msg_recv(&rd->frame, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&rd->frame);
        return 0;
    }
    const uint8_t *data = zmq_msg_data(&rd->frame);
    size_t len = zmq_msg_size(&rd->frame);
    if (!wire_is_packed(data, len)) {
        s_plain(sock, &rd->frame, in);
        return 1;
    }
    s_drop_rest(sock, zmq_msg_more(&rd->frame));
    size_t n = 0;
    in->decode_rc = wire_unpack_begin(&rd->u, data, len, &n);
    if (in->decode_rc != ASYLINK_OK) {
        zmq_msg_close(&rd->frame);
        return 1;
    }
    rd->active = true;
    if (s_next_item(rd, in))
        return 1;
    in->decode_rc = ASYLINK_E_MALFORMED; /* never: wire_unpack_begin counted an item */
    return 1;
}

void peerwire_reader_close(peerwire_reader *rd)
{
    if (rd->active)
        zmq_msg_close(&rd->frame);
    rd->active = false;
}

void peerwire_in_clear(peerwire_in *in)
{
    wire_cmd_clear(&in->cmd);
    zmq_msg_close(&in->env);
}

void peerwire_hello(wire_cmd *c, uint64_t request_id, const char *node_id, const char *client_name,
                    uint32_t initial_credit)
{
    memset(c, 0, sizeof *c);
    c->kind = WIRE_HELLO;
    c->request_id = request_id;
    wire_hello *h = &c->u.hello;
    h->protocol_version = WIRE_PROTOCOL_VERSION;
    snprintf(h->node_id, sizeof h->node_id, "%s", node_id);
    snprintf(h->client_name, sizeof h->client_name, "%s", client_name);
    snprintf(h->client_version, sizeof h->client_version, "%s", asylink_version());
    h->initial_credit_messages = initial_credit;
    h->client_time_ms = clock_now_ms();
}

int peerwire_pong(void *sock, int flags, const wire_cmd *c)
{
    if (c->kind != WIRE_HEARTBEAT || c->u.heartbeat.pong)
        return 0;
    wire_cmd pong = {.kind = WIRE_HEARTBEAT, .request_id = c->request_id};
    pong.u.heartbeat.pong = true;
    pong.u.heartbeat.sent_ms = clock_now_ms();
    return peerwire_send(sock, flags, &pong, NULL, 0);
}

void peerwire_warn(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", program_invocation_short_name, line); /* one write */
}
