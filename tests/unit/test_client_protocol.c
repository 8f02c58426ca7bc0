/*
 * test_client_protocol.c — which protocol version libasylink speaks
 * (PROTOCOL.md 11.11): a real client (its I/O thread, CURVE, LMDB) against
 * a small broker played by the test on a ROUTER socket. The test broker
 * answers exactly as a broker of one version would:
 *
 * - version 1 only: the Hello offering version 2 gets a fatal
 *   Error{UNSUPPORTED_VERSION}; the client says Hello again with version 1
 *   on the same connection and publishes plain frames;
 * - version 2: the client's Publishes of one pass arrive in one Packed
 *   frame; a Packed frame that does not check is ignored; Accepted and
 *   Deliver packed by the broker are handled item by item (the deliveries
 *   stored and acknowledged).
 */
#include "fixture.h"

#include <pthread.h>
#include <zmq.h>

#include "wire.h"

#define T_WAIT_MS 10000
#define T_PARTS 4

typedef struct {
    fx_fed *f;
    char key_file[512], data_dir[512], broker_cert[512], node_cert[512];
    void *ctx, *router;
    char endpoint[128];
    asylink_client *c;
    pthread_mutex_t lock;
    char log[65536]; /* the client's log lines, newline separated */
    size_t log_len;
    uint8_t rid[256]; /* routing id of the client's connection */
    size_t rid_len;
} t_world;

static void t_log(void *ctx, asylink_log_level level, const char *line)
{
    (void)level;
    t_world *w = ctx;
    pthread_mutex_lock(&w->lock);
    size_t n = strlen(line);
    if (w->log_len + n + 2 < sizeof w->log) {
        memcpy(w->log + w->log_len, line, n);
        w->log_len += n;
        w->log[w->log_len++] = '\n';
        w->log[w->log_len] = 0;
    }
    pthread_mutex_unlock(&w->lock);
}

/* Whether a logged line contains both a and b. */
static bool t_logged(t_world *w, const char *a, const char *b)
{
    bool found = false;
    pthread_mutex_lock(&w->lock);
    for (const char *p = w->log; *p && !found;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
        found = strstr(line, a) && (!b || strstr(line, b));
        p += n + (nl ? 1 : 0);
    }
    pthread_mutex_unlock(&w->lock);
    return found;
}

/* Waits (bounded) until a logged line contains a and b. */
static void t_wait_log(t_world *w, const char *a, const char *b)
{
    for (int i = 0; i < T_WAIT_MS / 10; i++) {
        if (t_logged(w, a, b))
            return;
        usleep(10 * 1000);
    }
    fail_msg("no log line with \"%s\" and \"%s\"; log:\n%s", a, b ? b : "", w->log);
}

static int setup(void **state)
{
    t_world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    pthread_mutex_init(&w->lock, NULL);
    const char *ids[] = {"DE", "FR", NULL};
    w->f = fx_new(ids);
    fx_add(w->f, "BROKER.EU", CERT_ROLE_BIT(CERT_ROLE_BROKER));
    fx_write_trust(w->f);
    snprintf(w->key_file, sizeof w->key_file, "%s/DE.key", w->f->dir);
    snprintf(w->data_dir, sizeof w->data_dir, "%s/data", w->f->dir);
    snprintf(w->broker_cert, sizeof w->broker_cert, "%s/nodes/BROKER.EU.cert", w->f->trust_dir);
    snprintf(w->node_cert, sizeof w->node_cert, "%s/nodes/DE.cert", w->f->trust_dir);
    assert_int_equal(keys_save(fx_node_by_id(w->f, "DE")->keys, w->key_file, NULL, NULL, NULL),
                     ASYLINK_OK);
    /* The broker's side: a ROUTER with the broker's CURVE key (no ZAP: any client key). */
    w->ctx = zmq_ctx_new();
    assert_non_null(w->ctx);
    w->router = zmq_socket(w->ctx, ZMQ_ROUTER);
    assert_non_null(w->router);
    int one = 1, linger = 0;
    assert_int_equal(zmq_setsockopt(w->router, ZMQ_CURVE_SERVER, &one, sizeof one), 0);
    assert_int_equal(zmq_setsockopt(w->router, ZMQ_CURVE_SECRETKEY,
                                    fx_node_by_id(w->f, "BROKER.EU")->keys->box_sk, 32),
                     0);
    assert_int_equal(zmq_setsockopt(w->router, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_bind(w->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof w->endpoint;
    assert_int_equal(zmq_getsockopt(w->router, ZMQ_LAST_ENDPOINT, w->endpoint, &len), 0);
    asylink_options o;
    asylink_options_init(&o);
    o.broker_endpoint = w->endpoint;
    o.broker_cert = w->broker_cert;
    o.node_cert = w->node_cert;
    o.key_file = w->key_file;
    o.trust_dir = w->f->trust_dir;
    o.data_dir = w->data_dir;
    o.durability = ASYLINK_DURABILITY_RELAXED;
    o.log = t_log;
    o.log_ctx = w;
    o.log_level = ASYLINK_LOG_INFO;
    assert_int_equal(asylink_client_open(&o, &w->c), ASYLINK_OK);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    t_world *w = *state;
    asylink_client_close(&w->c);
    zmq_close(w->router);
    zmq_ctx_term(w->ctx);
    fx_free(w->f);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return 0;
}

/* Receives one message from the client: its frames after the routing id (closed by the caller). */
static int t_recv(t_world *w, zmq_msg_t parts[T_PARTS])
{
    zmq_pollitem_t it = {w->router, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, T_WAIT_MS) != 1)
        fail_msg("nothing from the client within %d ms", T_WAIT_MS);
    zmq_msg_t rid;
    zmq_msg_init(&rid);
    assert_true(zmq_msg_recv(&rid, w->router, 0) >= 0);
    assert_true(zmq_msg_size(&rid) <= sizeof w->rid);
    w->rid_len = zmq_msg_size(&rid);
    memcpy(w->rid, zmq_msg_data(&rid), w->rid_len);
    bool more = zmq_msg_more(&rid);
    zmq_msg_close(&rid);
    int n = 0;
    while (more) {
        assert_true(n < T_PARTS);
        zmq_msg_init(&parts[n]);
        assert_true(zmq_msg_recv(&parts[n], w->router, 0) >= 0);
        more = zmq_msg_more(&parts[n]);
        n++;
    }
    return n;
}

static void t_close(zmq_msg_t *parts, int n)
{
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

/*
 * The next message that is not a Heartbeat: its frames (*n) with the first
 * decoded into cmd unless it is a Packed frame (then cmd->kind is WIRE_NONE).
 */
static void t_next(t_world *w, zmq_msg_t parts[T_PARTS], int *n, wire_cmd *cmd)
{
    for (;;) {
        *n = t_recv(w, parts);
        assert_true(*n >= 1);
        memset(cmd, 0, sizeof *cmd);
        const uint8_t *d = zmq_msg_data(&parts[0]);
        size_t len = zmq_msg_size(&parts[0]);
        if (wire_is_packed(d, len))
            return;
        assert_int_equal(wire_decode(d, len, cmd), ASYLINK_OK);
        if (cmd->kind != WIRE_HEARTBEAT)
            return;
        wire_cmd_clear(cmd);
        t_close(parts, *n);
    }
}

static void t_send_frame(t_world *w, const uint8_t *buf, size_t len, const uint8_t *env,
                         size_t env_len)
{
    assert_true(zmq_send(w->router, w->rid, w->rid_len, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(w->router, buf, len, env ? ZMQ_SNDMORE : 0) >= 0);
    if (env)
        assert_true(zmq_send(w->router, env, env_len, 0) >= 0);
}

static void t_send(t_world *w, const wire_cmd *cmd, const uint8_t *env, size_t env_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(wire_encode(cmd, &buf, &len), ASYLINK_OK);
    t_send_frame(w, buf, len, env, env_len);
    free(buf);
}

static void t_welcome(t_world *w, uint64_t request_id, uint32_t version)
{
    wire_cmd c = {.kind = WIRE_WELCOME, .request_id = request_id};
    wire_welcome *wl = &c.u.welcome;
    wl->protocol_version = version;
    snprintf(wl->broker_node_id, sizeof wl->broker_node_id, "BROKER.EU");
    wl->limits.max_envelope_bytes = 1024 * 1024;
    wl->limits.max_in_flight = 100;
    wl->limits.heartbeat_interval_ms = 5000;
    wl->limits.heartbeat_timeout_ms = 30000;
    wl->limits.max_ack_batch = 100;
    wl->limits.max_recipients = 256;
    wl->server_time_ms = clock_now_ms();
    memset(wl->session_id, 7, sizeof wl->session_id);
    wl->roles = CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE);
    snprintf(wl->broker_version, sizeof wl->broker_version, "test");
    t_send(w, &c, NULL, 0);
}

/* Expects the next event to be of type (within the wait) and returns its message id. */
static void t_event(t_world *w, asylink_event_type type, uint8_t id[16])
{
    asylink_event *e = NULL;
    for (;;) {
        assert_int_equal(asylink_next_event(w->c, T_WAIT_MS, &e), ASYLINK_OK);
        if (asylink_event_get_type(e) != ASYLINK_EVENT_CONNECTED || type == ASYLINK_EVENT_CONNECTED)
            break;
        asylink_event_free(&e);
    }
    assert_int_equal(asylink_event_get_type(e), type);
    if (id)
        memcpy(id, asylink_event_message_id(e), 16);
    asylink_event_free(&e);
}

/* Sends n messages to FR; their ids in ids[]. */
static void t_send_messages(t_world *w, size_t n, uint8_t (*ids)[16])
{
    const char *to[] = {"FR"};
    asylink_send_params p;
    asylink_send_params_init(&p);
    p.recipients = to;
    p.n_recipients = 1;
    p.content_type = "asylink.v1.InformationRequest";
    for (size_t i = 0; i < n; i++)
        assert_int_equal(asylink_send(w->c, &p, "hello", 5, ids[i]), ASYLINK_OK);
}

/* The Hello of the connection: checks its version and returns its request id. */
static uint64_t t_hello(t_world *w, uint32_t version)
{
    zmq_msg_t parts[T_PARTS];
    int n = 0;
    wire_cmd cmd;
    t_next(w, parts, &n, &cmd);
    assert_int_equal(n, 1);
    assert_int_equal(cmd.kind, WIRE_HELLO);
    assert_int_equal(cmd.u.hello.protocol_version, version);
    assert_string_equal(cmd.u.hello.node_id, "DE");
    uint64_t rid = cmd.request_id;
    wire_cmd_clear(&cmd);
    t_close(parts, n);
    return rid;
}

/* A broker of version 1 only: the client falls back and publishes plain frames. */
static void test_falls_back_to_version_1(void **state)
{
    t_world *w = *state;
    uint64_t first = t_hello(w, WIRE_PROTOCOL_PACKED);
    uint8_t conn[256];
    size_t conn_len = w->rid_len;
    memcpy(conn, w->rid, conn_len);
    wire_cmd err = {.kind = WIRE_ERROR, .request_id = first};
    err.u.error.code = ASYLINK_E_UNSUPPORTED_VERSION;
    err.u.error.fatal = true;
    snprintf(err.u.error.reason, sizeof err.u.error.reason, "this broker speaks version 1");
    t_send(w, &err, NULL, 0);
    uint64_t second = t_hello(w, WIRE_PROTOCOL_VERSION);
    assert_true(second != first);
    /* the same connection: no reconnect in between */
    assert_int_equal(w->rid_len, conn_len);
    assert_memory_equal(w->rid, conn, conn_len);
    t_welcome(w, second, WIRE_PROTOCOL_VERSION);
    t_event(w, ASYLINK_EVENT_CONNECTED, NULL);
    t_wait_log(w, "session opened", "protocol=1");
    assert_true(t_logged(w, "broker refused protocol version 2", NULL));

    uint8_t ids[3][16];
    t_send_messages(w, 3, ids);
    for (size_t i = 0; i < 3; i++) { /* three plain Publishes: command frame and envelope */
        zmq_msg_t parts[T_PARTS];
        int n = 0;
        wire_cmd cmd;
        t_next(w, parts, &n, &cmd);
        assert_int_equal(cmd.kind, WIRE_PUBLISH);
        assert_int_equal(n, 2);
        assert_memory_equal(cmd.u.publish.message_id, ids[i], 16);
        wire_cmd a = {.kind = WIRE_ACCEPTED};
        memcpy(a.u.accepted.message_id, ids[i], 16);
        a.u.accepted.store_sequence = i + 1;
        a.u.accepted.accepted_ms = clock_now_ms();
        t_send(w, &a, NULL, 0);
        wire_cmd_clear(&cmd);
        t_close(parts, n);
    }
    for (size_t i = 0; i < 3; i++) {
        uint8_t id[16];
        t_event(w, ASYLINK_EVENT_ACCEPTED, id);
        assert_memory_equal(id, ids[i], 16);
    }
}

/* A broker of version 2: Publishes go packed, packed answers and deliveries are handled. */
static void test_speaks_version_2(void **state)
{
    t_world *w = *state;
    uint64_t hello = t_hello(w, WIRE_PROTOCOL_PACKED);
    /* Five messages wait in the outbox before the session opens: one pump pass. */
    uint8_t ids[5][16];
    t_send_messages(w, 5, ids);
    t_welcome(w, hello, WIRE_PROTOCOL_PACKED);
    t_event(w, ASYLINK_EVENT_CONNECTED, NULL);
    t_wait_log(w, "session opened", "protocol=2");

    zmq_msg_t parts[T_PARTS];
    int n = 0;
    wire_cmd cmd;
    t_next(w, parts, &n, &cmd);
    assert_int_equal(cmd.kind, WIRE_NONE); /* a Packed frame ... */
    assert_int_equal(n, 1);                /* ... alone */
    wire_unpacker u;
    size_t items = 0;
    assert_int_equal(
        wire_unpack_begin(&u, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), &items),
        ASYLINK_OK);
    assert_int_equal(items, 5);
    wire_item it;
    for (size_t i = 0; i < 5; i++) {
        assert_true(wire_unpack_next(&u, &it));
        wire_cmd p;
        assert_int_equal(wire_decode(it.cmd, it.cmd_len, &p), ASYLINK_OK);
        assert_int_equal(p.kind, WIRE_PUBLISH);
        assert_memory_equal(p.u.publish.message_id, ids[i], 16);
        assert_true(it.env_len > 0);
        wire_cmd_clear(&p);
    }
    assert_false(wire_unpack_next(&u, &it));
    t_close(parts, n);

    /* The answers, packed: Accepted for the five. */
    wire_packer pk;
    wire_packer_init(&pk, 0);
    for (size_t i = 0; i < 5; i++) {
        wire_cmd a = {.kind = WIRE_ACCEPTED};
        memcpy(a.u.accepted.message_id, ids[i], 16);
        a.u.accepted.store_sequence = i + 1;
        a.u.accepted.accepted_ms = clock_now_ms();
        assert_int_equal(wire_packer_add_cmd(&pk, &a, NULL, 0), ASYLINK_OK);
    }
    size_t off = 0, len = 0;
    uint8_t *block = wire_packer_finish(&pk, &off, &len);
    assert_non_null(block);
    /* First cut short: it does not check, so nothing of it is used. */
    t_send_frame(w, block + off, len - 1, NULL, 0);
    t_wait_log(w, "packed frame ignored", "code=");
    asylink_event *e = NULL;
    assert_int_equal(asylink_next_event(w->c, 300, &e), ASYLINK_E_TIMEOUT);
    assert_null(e);
    t_send_frame(w, block + off, len, NULL, 0);
    free(block);
    for (size_t i = 0; i < 5; i++) {
        uint8_t id[16];
        t_event(w, ASYLINK_EVENT_ACCEPTED, id);
        assert_memory_equal(id, ids[i], 16);
    }

    /* Two deliveries from FR in one Packed frame: stored, then acknowledged (plain Ack). */
    const char *to[] = {"DE", NULL};
    uint8_t *env[2] = {NULL, NULL};
    size_t env_len[2] = {0, 0};
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(fx_seal(w->f, "FR", to, ENVELOPE_LIMITED, (const uint8_t *)"hi", 2,
                                 &env[i], &env_len[i]),
                         ASYLINK_OK);
    for (size_t i = 0; i < 2; i++) {
        wire_cmd d = {.kind = WIRE_DELIVER};
        d.u.deliver.sequence = 41 + i;
        d.u.deliver.attempt = 1;
        d.u.deliver.accepted_ms = clock_now_ms();
        assert_int_equal(wire_packer_add_cmd(&pk, &d, env[i], env_len[i]), ASYLINK_OK);
    }
    block = wire_packer_finish(&pk, &off, &len);
    assert_non_null(block);
    t_send_frame(w, block + off, len, NULL, 0);
    free(block);
    bool acked[2] = {false, false};
    while (!acked[0] || !acked[1]) {
        t_next(w, parts, &n, &cmd);
        assert_int_equal(cmd.kind, WIRE_ACK);
        for (size_t k = 0; k < cmd.u.ack.n_sequences; k++) {
            uint64_t s = cmd.u.ack.sequences[k];
            assert_true(s == 41 || s == 42);
            acked[s - 41] = true;
        }
        wire_cmd_clear(&cmd);
        t_close(parts, n);
    }
    for (size_t i = 0; i < 2; i++) {
        asylink_message *m = NULL;
        assert_int_equal(asylink_recv(w->c, T_WAIT_MS, &m), ASYLINK_OK);
        assert_string_equal(asylink_message_sender(m), "FR");
        envelope *sealed = NULL;
        assert_int_equal(envelope_decode(env[i], env_len[i], 0, &sealed), ASYLINK_OK);
        assert_memory_equal(asylink_message_id(m), envelope_header_of(sealed)->message_id, 16);
        envelope_destroy(&sealed);
        asylink_message_free(&m);
    }
    free(env[0]);
    free(env[1]);
    wire_packer_free(&pk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_falls_back_to_version_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_speaks_version_2, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
