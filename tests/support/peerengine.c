/*
 * peerengine.c — a raw protocol peer's session engine (peerengine.h).
 */
#include "peerengine.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "clock.h"
#include "peerlink.h"
#include "wire.h"

#define PEER_RESEND_MS 2000      /* resend a Publish unanswered this long */
#define PEER_HELLO_RETRY_MS 3000 /* resend Hello unanswered this long */
#define PEER_LINGER_MS 2000      /* time to flush the last Acks on exit */

/* ---- a set of message ids (receiver dedup) ---- */

typedef struct {
    uint8_t (*slots)[16]; /* all-zero = empty (a UUIDv7 never is) */
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
    uint8_t(*slots)[16] = calloc(cap, 16);
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
    uint8_t *env; /* sealed envelope, kept until answered for good */
    size_t env_len;
    uint64_t sent_ms; /* last time sent */
    uint8_t state;    /* M_* */
} s_msg;

typedef struct {
    long count; /* messages to send */
    s_msg *msgs;
    uint8_t (*ids)[16]; /* ids of sealed messages, strictly increasing */
    long n_sealed;      /* messages sealed so far (they are 0..n_sealed-1) */
    long lo;            /* every message below lo is answered for good */
    long in_flight;     /* messages in state M_SENT */
    long window;
    double rate;
    size_t size;
    peernode_seal_spec spec;
    uint64_t start_ms;
    uint64_t pause_until_ms; /* after a retryable Rejected */
    long accepted, duplicates, rejected, resends;
    uint64_t codes[64]; /* final Rejected codes */
    FILE *ids_out, *sent_out;
} s_sender;

/* ---- receiver state ---- */

typedef struct {
    char node[NODE_ID_MAX + 1];
    uint8_t last_id[16];
} s_last;

typedef struct {
    long count; /* distinct messages wanted */
    long window;
    bool no_ack;
    long exit_after;
    bool any_payload;        /* do not check payload bytes */
    long received, duplicates, bad, out_of_order, redelivered;
    long batched, max_batch; /* envelopes with a batch proof; largest batch size */
    s_idset seen;
    s_last senders[64];
    size_t n_senders;
    const char *sub_name; /* subscription: Acks name it; NULL = direct queue */
    const char *prefix;   /* subscription prefix */
    int start;            /* subscription start position */
    bool reset;           /* subscription reset */
    uint64_t sub_rid;     /* request id of the pending Subscribe; 0 = none */
    uint64_t *acks;       /* sequences to acknowledge */
    size_t n_acks, cap_acks;
    FILE *ids_out;
} s_receiver;

/* ---- the session engine (send, recv, exchange) ---- */

enum { S_NEED_HELLO = 0, S_WAIT_WELCOME, S_OPEN };

typedef struct {
    peernode *id;
    peerlink link;
    int state;
    uint64_t hello_rid, hello_ms, next_rid;
    uint64_t retry_hello_at_ms;
    wire_limits limits;
    long sessions;
    int ended_code; /* nonzero: the broker ended us for good */
    s_sender *tx;   /* NULL if not sending */
    s_receiver *rx; /* NULL if not receiving */
} s_engine;

static void s_event(const s_engine *e, const char *what, int code, const char *reason, bool fatal)
{
    printf("event=%s node=%s code=%s fatal=%d reason=\"%s\"\n", what, e->id->node,
           asylink_err_name(code), fatal ? 1 : 0, reason ? reason : "");
    fflush(stdout);
}

static void s_send_hello(s_engine *e)
{
    wire_cmd c;
    peerwire_hello(&c, ++e->next_rid, e->id->node, "asylink-peer",
                   e->rx ? (uint32_t)e->rx->window : 0);
    if (peerlink_send(&e->link, &c, NULL, 0) != 0)
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
        peerwire_warn("Accepted for an unknown message id");
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
    peerwire_warn("Rejected %s%s: %s", asylink_err_name(r->code),
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
    if (rc == ASYLINK_OK &&
        ((!e->rx->any_payload &&
          !peernode_payload_ok(envelope_header_of(*out)->message_id, payload, plen)) ||
         plen != envelope_header_of(*out)->payload_size))
        rc = ASYLINK_E_TAMPERED;
    if (payload)
        envelope_payload_free(payload, plen);
    return rc;
}

static void s_on_deliver(s_engine *e, peerwire_in *in)
{
    s_receiver *rx = e->rx;
    const wire_deliver *d = &in->cmd.u.deliver;
    if (!rx) {
        peerwire_warn("unexpected Deliver (no credit given)");
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
        peerwire_warn("bad delivery seq=%llu: %s", (unsigned long long)d->sequence,
                      asylink_err_name(rc));
    } else {
        const envelope_header *h = envelope_header_of(env);
        long size = (long)envelope_batch_size(env);
        rx->batched += size > 0;
        if (size > rx->max_batch)
            rx->max_batch = size;
        int added = s_idset_add(&rx->seen, h->message_id);
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
        if (peerlink_send(&e->link, &c, NULL, 0) != 0)
            break;
        done += n;
    }
    memmove(rx->acks, rx->acks + done, (rx->n_acks - done) * sizeof *rx->acks);
    rx->n_acks -= done;
}

static void s_on_welcome(s_engine *e, const wire_cmd *c)
{
    if (e->state != S_WAIT_WELCOME || c->request_id != e->hello_rid) {
        peerwire_warn("stray Welcome ignored");
        return;
    }
    e->limits = c->u.welcome.limits;
    e->state = S_OPEN;
    e->sessions++;
    printf("event=welcome node=%s session=%ld broker=%s max_envelope_bytes=%llu\n", e->id->node,
           e->sessions, c->u.welcome.broker_node_id,
           (unsigned long long)e->limits.max_envelope_bytes);
    fflush(stdout);
    s_receiver *rx = e->rx;
    if (rx && rx->sub_name) { /* subscriptions are per session: subscribe again */
        wire_cmd sc = {.kind = WIRE_SUBSCRIBE, .request_id = ++e->next_rid};
        snprintf(sc.u.subscribe.topic_prefix, sizeof sc.u.subscribe.topic_prefix, "%s", rx->prefix);
        snprintf(sc.u.subscribe.subscription, sizeof sc.u.subscribe.subscription, "%s",
                 rx->sub_name);
        sc.u.subscribe.start = rx->start;
        sc.u.subscribe.reset = rx->reset && e->sessions == 1;
        if (peerlink_send(&e->link, &sc, NULL, 0) == 0)
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
            peerwire_warn("session lost (%s): Hello again", er->reason);
        s_session_lost(e, 0);
        return;
    }
    if (er->fatal) {
        s_event(e, "error", er->code, er->reason, true);
        e->ended_code = er->code ? er->code : ASYLINK_E_PROTOCOL;
        return;
    }
    peerwire_warn("Error %s: %s", asylink_err_name(er->code), er->reason);
}

static void s_on_bye(s_engine *e, const wire_cmd *c)
{
    const wire_error *b = &c->u.error;
    if (b->code == ASYLINK_OK || b->code == ASYLINK_E_SHUTDOWN) {
        peerwire_warn("Bye %s (%s): Hello again", asylink_err_name(b->code), b->reason);
        s_session_lost(e, b->reconnect_after_ms > 200 ? b->reconnect_after_ms : 200);
        if (e->state == S_WAIT_WELCOME) /* Bye while waiting: Hello again later */
            e->state = S_NEED_HELLO;
        return;
    }
    s_event(e, "bye", b->code, b->reason, true);
    e->ended_code = b->code;
}

static void s_engine_dispatch(s_engine *e, peerwire_in *in)
{
    if (in->decode_rc != ASYLINK_OK) {
        peerwire_warn("undecodable command from the broker: %s", asylink_err_name(in->decode_rc));
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
    case WIRE_HEARTBEAT: peerlink_pong(&e->link, c); break;
    default: peerwire_warn("unexpected %s ignored", wire_kind_name(c->kind));
    }
}

/* Sends one message (sealing it first if new). 0 sent, 1 not now, -1 fatal. */
static int s_tx_send_one(s_engine *e, long i, uint64_t now)
{
    s_sender *tx = e->tx;
    s_msg *m = &tx->msgs[i];
    if (i == tx->n_sealed) {
        if (tx->rate > 0 &&
            (double)tx->n_sealed >= tx->rate * (double)(now - tx->start_ms) / 1000.0)
            return 1;
        if (peernode_seal(e->id, &tx->spec, tx->size, &m->env, &m->env_len, tx->ids[i]) !=
            ASYLINK_OK)
            return -1;
        tx->n_sealed++;
        s_write_id(tx->sent_out, tx->ids[i]);
    }
    wire_cmd c = {.kind = WIRE_PUBLISH};
    memcpy(c.u.publish.message_id, tx->ids[i], 16);
    if (peerlink_send(&e->link, &c, m->env, m->env_len) != 0)
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
            peerwire_warn("reconnected: Hello again");
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
        peerlink_send(&e->link, &ping, NULL, 0);
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
    while (!peerlink_stopped(&e->link) && !e->ended_code && !s_engine_done(e)) {
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
            peerwire_in in;
            int got = peerlink_recv(&e->link, n == 0 ? 20 : 0, &in);
            if (got == 1)
                s_engine_dispatch(e, &in);
            peerwire_in_clear(&in);
            if (got != 1 || e->ended_code || s_engine_done(e))
                break;
        }
    }
    s_rx_flush_acks(e);
    s_engine_report(e, timed_out);
    if (rc != 0)
        return PEER_NOT_DONE;
    if (e->ended_code)
        return PEER_ENDED;
    bool ok = s_engine_done(e) && (!e->tx || e->tx->rejected == 0) &&
              (!e->rx || (long)e->rx->seen.n >= e->rx->count);
    return ok ? PEER_DONE : PEER_NOT_DONE;
}

static FILE *s_open_out(const char *path)
{
    if (!path)
        return NULL;
    FILE *f = fopen(path, "w");
    if (!f)
        peerwire_warn("cannot write %s: %s", path, strerror(errno));
    return f;
}

static int s_sender_init(s_sender *tx, const peerengine_send *p, uint64_t now)
{
    memset(tx, 0, sizeof *tx);
    tx->count = p->count;
    tx->window = p->window;
    tx->rate = p->rate;
    tx->size = p->size;
    tx->start_ms = now;
    tx->spec = p->spec;
    tx->msgs = calloc((size_t)tx->count + 1, sizeof *tx->msgs);
    tx->ids = calloc((size_t)tx->count + 1, sizeof *tx->ids);
    if (!tx->msgs || !tx->ids)
        return -1;
    tx->ids_out = s_open_out(p->ids_out);
    tx->sent_out = s_open_out(p->sent_out);
    if ((p->ids_out && !tx->ids_out) || (p->sent_out && !tx->sent_out))
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

static int s_receiver_init(s_receiver *rx, const peerengine_recv *p)
{
    memset(rx, 0, sizeof *rx);
    rx->count = p->count;
    rx->window = p->window;
    rx->no_ack = p->no_ack;
    rx->exit_after = p->exit_after;
    rx->any_payload = p->any_payload;
    rx->sub_name = p->sub_name;
    rx->prefix = p->prefix;
    rx->start = p->start;
    rx->reset = p->reset;
    rx->ids_out = s_open_out(p->ids_out);
    return p->ids_out && !rx->ids_out ? -1 : 0;
}

static void s_receiver_free(s_receiver *rx)
{
    free(rx->seen.slots);
    free(rx->acks);
    if (rx->ids_out)
        fclose(rx->ids_out);
}

int peerengine_run(peernode *n, const char *endpoint, const peerengine_send *send,
                   const peerengine_recv *recv, uint64_t deadline_ms,
                   const volatile sig_atomic_t *stop)
{
    uint64_t now = clock_now_ms();
    s_sender tx;
    s_receiver rx;
    memset(&tx, 0, sizeof tx);
    memset(&rx, 0, sizeof rx);
    s_engine e = {.id = n, .tx = send ? &tx : NULL, .rx = recv ? &rx : NULL};
    int code = PEER_USAGE;
    if (send && s_sender_init(&tx, send, now) != 0)
        goto cleanup;
    if (recv && s_receiver_init(&rx, recv) != 0)
        goto cleanup;
    code = PEER_NOT_DONE;
    peerlink_opts lo = {.server_pk = n->broker->box_pk,
                        .keys = n->keys,
                        .monitor = true,
                        .quick_reconnect = true,
                        .hwm = 100000,
                        .stop = stop};
    if (peerlink_open(&e.link, endpoint, &lo) != 0)
        goto cleanup;
    code = s_engine_run(&e, deadline_ms);
cleanup:
    peerlink_close(&e.link, PEER_LINGER_MS);
    if (send)
        s_sender_free(&tx);
    if (recv)
        s_receiver_free(&rx);
    return code;
}
