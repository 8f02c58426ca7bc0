/*
 * auth.c — CURVE admission by certificate (ZAP).
 */
#include "auth.h"

#include "asylink/errors.h"
#include "log.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#define ZAP_FRAMES 7 /* version, id, domain, address, identity, mechanism, key */

/* True if frame f holds exactly the string s. */
static bool s_frame_is(zmq_msg_t *f, const char *s)
{
    return zmq_msg_size(f) == strlen(s) && memcmp(zmq_msg_data(f), s, strlen(s)) == 0;
}

/*
 * Which domain a request names: 0 the client endpoint, 1 the admin
 * endpoint, -1 neither (refused).
 */
static int s_domain(zmq_msg_t *f)
{
    if (s_frame_is(f, AUTH_DOMAIN))
        return 0;
    return s_frame_is(f, AUTH_ADMIN_DOMAIN) ? 1 : -1;
}

void *auth_socket_new(void *ctx)
{
    void *zap = zmq_socket(ctx, ZMQ_REP);
    if (!zap)
        return NULL;
    if (zmq_bind(zap, AUTH_ZAP_ENDPOINT) != 0) {
        zmq_close(zap);
        return NULL;
    }
    return zap;
}

int auth_lookup(const trust *t, const uint8_t key[32], uint64_t now_ms, const cert **out)
{
    int rc = ASYLINK_E_UNKNOWN_SENDER;
    *out = NULL;
    for (size_t i = 0; i < trust_count(t); i++) {
        const cert *c = trust_at(t, i);
        if (sodium_memcmp(c->box_pk, key, 32) != 0)
            continue;
        rc = trust_usable(t, c, now_ms);
        *out = c;
        if (rc == ASYLINK_OK)
            return rc;
    }
    return rc;
}

/* Reads one whole ZAP request; returns the number of frames, -1 if none. */
static int s_read_request(void *zap, zmq_msg_t *frames, int max)
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(n < max ? &frames[n] : &tmp, zap, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&tmp);
            return n == 0 ? -1 : n;
        }
        more = zmq_msg_more(n < max ? &frames[n] : &tmp);
        zmq_msg_close(&tmp);
        n++;
    }
    return n;
}

/*
 * Answers one ZAP request. An admitted connection also gets the metadata
 * property AUTH_SERIAL_PROPERTY (the serial of the certificate whose key
 * it used, in decimal), which libzmq attaches to every message from it.
 */
static void s_reply(void *zap, zmq_msg_t *id, const char *status, const char *text,
                    const char *user, uint64_t serial)
{
    uint8_t meta[64];
    size_t mlen = 0;
    if (serial) {
        char value[24];
        int vlen = snprintf(value, sizeof value, "%llu", (unsigned long long)serial);
        size_t nlen = strlen(AUTH_SERIAL_PROPERTY);
        meta[mlen++] = (uint8_t)nlen;
        memcpy(meta + mlen, AUTH_SERIAL_PROPERTY, nlen);
        mlen += nlen;
        meta[mlen++] = 0;
        meta[mlen++] = 0;
        meta[mlen++] = 0;
        meta[mlen++] = (uint8_t)vlen;
        memcpy(meta + mlen, value, (size_t)vlen);
        mlen += (size_t)vlen;
    }
    zmq_send(zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(zap, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE);
    zmq_send(zap, status, strlen(status), ZMQ_SNDMORE);
    zmq_send(zap, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(zap, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(zap, meta, mlen, 0);
}

/* Decides one request and answers it. */
static void s_decide(void *zap, zmq_msg_t *f, int n, const trust *t, uint64_t now_ms,
                     auth_stats *stats, auth_refused_fn refused, void *ctx)
{
    char addr[64] = "", quoted[80];
    if (n >= 4)
        snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&f[3]),
                 (const char *)zmq_msg_data(&f[3]));
    bool curve = n == ZAP_FRAMES && zmq_msg_size(&f[5]) == 5 &&
                 memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 && zmq_msg_size(&f[6]) == 32;
    zmq_msg_t *id = n >= 2 ? &f[1] : &f[0];
    int domain = curve ? s_domain(&f[2]) : -1;
    const cert *c = NULL;
    int rc = domain >= 0 ? auth_lookup(t, zmq_msg_data(&f[6]), now_ms, &c) : ASYLINK_E_PROTOCOL;
    if (rc == ASYLINK_OK && domain == 1 && !(c->roles & CERT_ROLE_BIT(CERT_ROLE_OPERATOR))) {
        LOG_WARN("auth", "admin connection refused: not an operator", "node=%s peer=%s", c->node_id,
                 log_quote(quoted, sizeof quoted, addr));
        rc = ASYLINK_E_ROLE;
    }
    if (rc == ASYLINK_OK) {
        stats->admitted++;
        LOG_INFO("auth", "connection admitted", "node=%s peer=%s endpoint=%s", c->node_id,
                 log_quote(quoted, sizeof quoted, addr), domain == 1 ? "admin" : "client");
        s_reply(zap, id, "200", "OK", c->node_id, c->serial);
        return;
    }
    stats->refused++;
    if (c) { /* a known key whose certificate is not usable: say whose, so the operator can act */
        LOG_WARN("auth", "connection refused", "node=%s serial=%llu peer=%s code=%s", c->node_id,
                 (unsigned long long)c->serial, log_quote(quoted, sizeof quoted, addr),
                 asylink_err_name(rc));
        if (refused)
            refused(ctx, c, rc, domain == 1);
    } else
        LOG_WARN("auth", "connection refused", "peer=%s code=%s",
                 log_quote(quoted, sizeof quoted, addr), asylink_err_name(rc));
    s_reply(zap, id, "400", asylink_strerror(rc), "", 0);
}

void auth_handle_pending(void *zap, const trust *t, uint64_t now_ms, auth_stats *stats,
                         auth_refused_fn refused, void *ctx)
{
    for (;;) {
        zmq_msg_t f[ZAP_FRAMES];
        for (int i = 0; i < ZAP_FRAMES; i++)
            zmq_msg_init(&f[i]);
        int n = s_read_request(zap, f, ZAP_FRAMES);
        if (n >= 1)
            s_decide(zap, f, n < ZAP_FRAMES ? n : ZAP_FRAMES, t, now_ms, stats, refused, ctx);
        for (int i = 0; i < ZAP_FRAMES; i++)
            zmq_msg_close(&f[i]);
        if (n < 0)
            return;
    }
}
