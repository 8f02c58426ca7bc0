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
 *
 * And the I/O thread's pipelined commits (DESIGN-CHANGES 37), with a
 * durable store that the test reads behind the client's back (a second,
 * read-only LMDB environment without locks: it sees what the client has
 * committed, nothing of a transaction in progress):
 *
 * - every Ack the client sends names deliveries already committed in its
 *   inbox, while deliveries keep arriving during the commits; each is
 *   handed over once, in the order delivered;
 * - asylink_ack_many() returns only once the entries are committed as
 *   acknowledged; the receipt it owes is committed to the outbox before
 *   it is published.
 *
 * And a log callback that calls back into the client: on the I/O thread,
 * the committer thread, and the application's own thread inside a call
 * that logs, every client function that could wait for the library's
 * threads or write the store answers ASYLINK_E_REENTRANT at once and
 * asylink_client_close() leaves the client open, while the same calls
 * from the application's thread work.
 *
 * And receipts that must not count as delivery (DESIGN-CHANGES 60): a
 * recipient's refusal (REJECTED) is not what asylink_receipt_wait() waits
 * for; a signed-only receipt is refused like any bad receipt; a receipt
 * whose signer is revoked afterwards is listed and waited on as such; the
 * wait logs without holding the client's lock.
 */
#include "fixture.h"
#include "logcap.h"

#include <lmdb.h>
#include <pthread.h>
#include <zmq.h>

#include "client_internal.h" /* the client's I/O and committer threads */
#include "cstore.h"
#include "wire.h"

#include <stdatomic.h>
#include <unistd.h>

#define T_WAIT_MS 10000
#define T_PARTS 4

typedef struct {
    fx_fed *f;
    char key_file[512], data_dir[512], broker_cert[512], node_cert[512];
    void *ctx, *router;
    char endpoint[128];
    asylink_client *c;
    pthread_mutex_t lock; /* the probe's fields below */
    logcap log;           /* the client's log lines */
    uint8_t rid[256]; /* routing id of the client's connection */
    size_t rid_len;
    /* A log callback that calls back into the client (test_log_callback_cannot_reenter). */
    atomic_bool probing;   /* while set, every log line runs t_probe() first */
    pthread_t probed[8];   /* the distinct threads it ran on (under lock) */
    size_t n_probed;       /* ... */
    size_t probes;         /* how many times it ran (under lock) */
    char probe_wrong[512]; /* the first call that was not refused, or "" (under lock) */
    /* Whether a log line comes with the client's lock held (test_receipt_wait_logs_unlocked). */
    atomic_bool lock_probing; /* while set, log lines on lock_thread try the client's lock */
    pthread_t lock_thread;    /* ... the application's thread calling the client */
    atomic_int lock_probes;   /* how many lines tried it */
    atomic_int lock_held;     /* ... and how many found it held for 2 s */
    const char *_Atomic lock_probe_msg; /* lines holding this try it too, on any thread */
} t_world;

static void t_probe(t_world *w);

/* Set while t_probe() runs on this thread: a call it makes that logs does not probe again. */
static _Thread_local bool t_in_probe;

/*
 * Whether the client's lock stays taken for 2 s (by this very thread, as a
 * call logging with it held, or by another): tried without blocking, as
 * relocking a mutex its thread holds would deadlock.
 */
static bool t_client_lock_held(t_world *w)
{
    for (int i = 0; i < 200; i++) {
        if (pthread_mutex_trylock(&w->c->lock) == 0) {
            pthread_mutex_unlock(&w->c->lock);
            return false;
        }
        usleep(10 * 1000);
    }
    return true;
}

static void t_log(void *ctx, asylink_log_level level, const char *line)
{
    t_world *w = ctx;
    const char *probe_msg = atomic_load(&w->lock_probe_msg);
    if ((atomic_load(&w->lock_probing) && pthread_equal(pthread_self(), w->lock_thread)) ||
        (probe_msg && strstr(line, probe_msg))) {
        atomic_fetch_add(&w->lock_probes, 1);
        if (t_client_lock_held(w))
            atomic_fetch_add(&w->lock_held, 1);
    }
    if (atomic_load(&w->probing) && !t_in_probe) {
        t_in_probe = true;
        t_probe(w);
        t_in_probe = false;
    }
    logcap_add(&w->log, level, line);
}

/* Whether a logged line contains both a and b. */
static bool t_logged(t_world *w, const char *a, const char *b)
{
    return logcap_has(&w->log, a, b);
}

/* Waits (bounded) until a logged line contains a and b. */
static void t_wait_log(t_world *w, const char *a, const char *b)
{
    for (int i = 0; i < T_WAIT_MS / 10; i++) {
        if (t_logged(w, a, b))
            return;
        usleep(10 * 1000);
    }
    fail_msg("no log line with \"%s\" and \"%s\"; log:\n%s", a, b ? b : "", w->log.text);
}

/* Opens DE's client on w's store and keys, connecting to endpoint. */
static void t_client_open(t_world *w, const char *endpoint, asylink_durability durability)
{
    asylink_options o;
    asylink_options_init(&o);
    o.broker_endpoint = endpoint;
    o.broker_cert = w->broker_cert;
    o.node_cert = w->node_cert;
    o.key_file = w->key_file;
    o.trust_dir = w->f->trust_dir;
    o.data_dir = w->data_dir;
    o.durability = durability;
    o.log = t_log;
    o.log_ctx = w;
    o.log_level = ASYLINK_LOG_INFO;
    assert_int_equal(asylink_client_open(&o, &w->c), ASYLINK_OK);
}

/* Set by setup_failing_flush(): the store's flushes are slowed and the first one fails. */
static bool t_failing_flush;

static int s_setup(void **state, asylink_durability durability)
{
    t_world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    pthread_mutex_init(&w->lock, NULL);
    logcap_init(&w->log);
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
    if (t_failing_flush) { /* (set before any thread runs: getenv() is not safe against it) */
        setenv("ASYLINK_TEST_SLOW_SYNC_PATH", w->data_dir, 1);
        setenv("ASYLINK_TEST_SLOW_SYNC_MS", "300", 1);
        setenv("ASYLINK_TEST_FAIL_SYNC", "1", 1);
        setenv("ASYLINK_TEST_FAIL_SYNC_THREAD", "asylink-commit", 1);
    }
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
    t_client_open(w, w->endpoint, durability);
    *state = w;
    return 0;
}

static int setup(void **state)
{
    return s_setup(state, ASYLINK_DURABILITY_RELAXED);
}

static int setup_durable(void **state)
{
    return s_setup(state, ASYLINK_DURABILITY_FSYNC);
}

/*
 * A durable client whose store's flushes (fdatasync, tests/integration/slowsync.c) take 300 ms
 * once slowsync_arm() is called, the first of its committer's then failing with EIO.
 */
static int setup_failing_flush(void **state)
{
    t_failing_flush = true;
    return s_setup(state, ASYLINK_DURABILITY_FSYNC);
}

static int teardown(void **state)
{
    t_world *w = *state;
    asylink_client_close(&w->c);
    if (t_failing_flush) { /* every thread of the client has ended */
        unsetenv("ASYLINK_TEST_SLOW_SYNC_PATH");
        unsetenv("ASYLINK_TEST_SLOW_SYNC_MS");
        unsetenv("ASYLINK_TEST_FAIL_SYNC");
        unsetenv("ASYLINK_TEST_FAIL_SYNC_THREAD");
        t_failing_flush = false;
    }
    zmq_close(w->router);
    zmq_ctx_term(w->ctx);
    fx_free(w->f);
    pthread_mutex_destroy(&w->lock);
    logcap_destroy(&w->log);
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

/* Parameters of an information request to FR (static recipients). */
static void t_params_to_fr(asylink_send_params *p)
{
    static const char *to[] = {"FR"};
    asylink_send_params_init(p);
    p->recipients = to;
    p->n_recipients = 1;
    p->content_type = "asylink.v1.InformationRequest";
    p->classification = ASYLINK_PERSONAL; /* personal data: asylum.proto */
}

/* Sends n messages to FR; their ids in ids[]. */
static void t_send_messages(t_world *w, size_t n, uint8_t (*ids)[16])
{
    asylink_send_params p;
    t_params_to_fr(&p);
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

/* Seals n LIMITED envelopes "hi" from FR to DE into env[0..n) (malloc'd). */
static void t_seal_from_fr(t_world *w, uint8_t **env, size_t *env_len, size_t n)
{
    const char *to[] = {"DE", NULL};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fx_seal(w->f, "FR", to, ENVELOPE_LIMITED, (const uint8_t *)"hi", 2,
                                 &env[i], &env_len[i]),
                         ASYLINK_OK);
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
    uint8_t *env[2] = {NULL, NULL};
    size_t env_len[2] = {0, 0};
    t_seal_from_fr(w, env, env_len, 2);
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

/* ---- pipelined commits ---- */

/* The client's store, read-only and without locks: what is committed, nothing in progress. */
static MDB_env *t_peek_open(t_world *w)
{
    MDB_env *env = NULL;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, w->data_dir, MDB_RDONLY | MDB_NOLOCK, 0600), 0);
    return env;
}

/*
 * In the committed store: 1 if db holds a key starting with the 16 bytes of
 * id (inbox_id, outbox_id), else 0; *value (if not NULL) gets the first
 * byte of the record it names in rec_db (its state for an inbox record:
 * byte 1), or -1.
 */
static int t_peek_id(MDB_env *env, const char *db, const uint8_t id[16], const char *rec_db,
                     int *state)
{
    MDB_txn *txn = NULL;
    MDB_dbi dbi, rec;
    MDB_cursor *cur = NULL;
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    MDB_val k = {16, (void *)id}, v = {0, NULL};
    int found = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size >= 16 &&
                memcmp(k.mv_data, id, 16) == 0;
    if (state)
        *state = -1;
    if (found && state && rec_db) {
        assert_int_equal(mdb_dbi_open(txn, rec_db, 0, &rec), 0);
        MDB_val rk = v, rv;
        if (mdb_get(txn, rec, &rk, &rv) == 0 && rv.mv_size > 1)
            *state = ((const uint8_t *)rv.mv_data)[1];
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return found;
}

/* Opens a session of version 2. */
static void t_open_session(t_world *w)
{
    uint64_t hello = t_hello(w, WIRE_PROTOCOL_PACKED);
    t_welcome(w, hello, WIRE_PROTOCOL_PACKED);
    t_event(w, ASYLINK_EVENT_CONNECTED, NULL);
}

#define T_PIPE_FRAMES 8
#define T_PIPE_PER 8
#define T_PIPE_N (T_PIPE_FRAMES * T_PIPE_PER)
#define T_PIPE_SEQ0 1000

/* FR's deliveries to DE: sealed, their ids, sent as Packed frames a little apart. */
typedef struct {
    uint8_t *env[T_PIPE_N];
    size_t env_len[T_PIPE_N];
    uint8_t id[T_PIPE_N][16];
} t_pipe;

static void t_pipe_seal(t_world *w, t_pipe *p)
{
    const char *to[] = {"DE", NULL};
    for (size_t i = 0; i < T_PIPE_N; i++) {
        assert_int_equal(fx_seal(w->f, "FR", to, ENVELOPE_LIMITED, (const uint8_t *)"pipe", 4,
                                 &p->env[i], &p->env_len[i]),
                         ASYLINK_OK);
        envelope *e = NULL;
        assert_int_equal(envelope_decode(p->env[i], p->env_len[i], 0, &e), ASYLINK_OK);
        memcpy(p->id[i], envelope_header_of(e)->message_id, 16);
        envelope_destroy(&e);
    }
}

static void t_pipe_free(t_pipe *p)
{
    for (size_t i = 0; i < T_PIPE_N; i++)
        free(p->env[i]);
}

/* Sends frame f of the deliveries (T_PIPE_PER items, sequences T_PIPE_SEQ0 + index). */
static void t_pipe_send(t_world *w, const t_pipe *p, size_t f)
{
    wire_packer pk;
    wire_packer_init(&pk, 0);
    for (size_t i = f * T_PIPE_PER; i < (f + 1) * T_PIPE_PER; i++) {
        wire_cmd d = {.kind = WIRE_DELIVER};
        d.u.deliver.sequence = T_PIPE_SEQ0 + i;
        d.u.deliver.attempt = 1;
        d.u.deliver.accepted_ms = clock_now_ms();
        assert_int_equal(wire_packer_add_cmd(&pk, &d, p->env[i], p->env_len[i]), ASYLINK_OK);
    }
    size_t off = 0, len = 0;
    uint8_t *block = wire_packer_finish(&pk, &off, &len);
    assert_non_null(block);
    t_send_frame(w, block + off, len, NULL, 0);
    free(block);
    wire_packer_free(&pk);
}

/*
 * Checks the Publishes of a Packed frame against the committed outbox (a
 * Publish may leave while its commit runs, DESIGN-CHANGES 43: each must be
 * committed within 2 s); counts them.
 */
static void t_pipe_publishes(MDB_env *peek, const uint8_t *d, size_t len, size_t *publishes)
{
    wire_unpacker u;
    size_t items = 0;
    wire_item item;
    assert_int_equal(wire_unpack_begin(&u, d, len, &items), ASYLINK_OK);
    while (wire_unpack_next(&u, &item)) {
        wire_cmd c;
        assert_int_equal(wire_decode(item.cmd, item.cmd_len, &c), ASYLINK_OK);
        if (c.kind == WIRE_PUBLISH) {
            int found = 0;
            for (int i = 0; i < 200 && !(found = t_peek_id(peek, "outbox_id",
                                                           c.u.publish.message_id, NULL, NULL));
                 i++)
                usleep(10 * 1000);
            if (!found)
                fail_msg("a published message not in the outbox 2 s later");
            (*publishes)++;
        }
        wire_cmd_clear(&c);
    }
}

/*
 * Reads what the client sends (up to wait_ms) and checks every Ack against
 * the committed inbox: each sequence once, each entry already there; and
 * every Publish against the committed outbox.
 */
static void t_pipe_acks(t_world *w, MDB_env *peek, const t_pipe *p, bool acked[T_PIPE_N],
                        size_t *n_acked, size_t *publishes, int wait_ms)
{
    zmq_pollitem_t it = {w->router, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&it, 1, wait_ms) == 1) {
        zmq_msg_t parts[T_PARTS];
        int n = t_recv(w, parts);
        wire_cmd cmd = {0};
        const uint8_t *d = zmq_msg_data(&parts[0]);
        if (wire_is_packed(d, zmq_msg_size(&parts[0])))
            t_pipe_publishes(peek, d, zmq_msg_size(&parts[0]), publishes);
        else if (wire_decode(d, zmq_msg_size(&parts[0]), &cmd) == ASYLINK_OK &&
                 cmd.kind == WIRE_ACK) {
            for (size_t k = 0; k < cmd.u.ack.n_sequences; k++) {
                uint64_t s = cmd.u.ack.sequences[k];
                assert_true(s >= T_PIPE_SEQ0 && s < T_PIPE_SEQ0 + T_PIPE_N);
                size_t i = (size_t)(s - T_PIPE_SEQ0);
                assert_false(acked[i]); /* acked once */
                if (!t_peek_id(peek, "inbox_id", p->id[i], NULL, NULL))
                    fail_msg("delivery %llu acked before its inbox commit", (unsigned long long)s);
                acked[i] = true;
                (*n_acked)++;
            }
        }
        wire_cmd_clear(&cmd);
        t_close(parts, n);
    }
}

/* Every Ack follows the commit that stored its deliveries, while more keep arriving. */
static void test_acks_follow_their_commit(void **state)
{
    t_world *w = *state;
    t_open_session(w);
    MDB_env *peek = t_peek_open(w);
    t_pipe p;
    t_pipe_seal(w, &p);
    bool acked[T_PIPE_N] = {false};
    size_t n_acked = 0, publishes = 0;
    for (size_t f = 0; f < T_PIPE_FRAMES; f++) {
        t_pipe_send(w, &p, f);
        t_pipe_acks(w, peek, &p, acked, &n_acked, &publishes, 1); /* about one commit apart */
    }
    for (int i = 0; i < 100 && n_acked < T_PIPE_N; i++)
        t_pipe_acks(w, peek, &p, acked, &n_acked, &publishes, 100);
    assert_int_equal(n_acked, T_PIPE_N);
    /* Handed over once each, in the order delivered. */
    for (size_t i = 0; i < T_PIPE_N; i++) {
        asylink_message *m = NULL;
        assert_int_equal(asylink_recv(w->c, T_WAIT_MS, &m), ASYLINK_OK);
        assert_memory_equal(asylink_message_id(m), p.id[i], 16);
        asylink_message_free(&m);
    }
    asylink_message *m = NULL;
    assert_int_equal(asylink_recv(w->c, 200, &m), ASYLINK_E_TIMEOUT);
    mdb_env_close(peek);
    t_pipe_free(&p);
}

/*
 * asylink_ack_many() returns once the entries are committed as acknowledged
 * (taken from memory before their inbox commit, acknowledged while the
 * I/O thread's commits go on); the receipt owed is in the committed outbox
 * (its Publish may leave while that commit runs).
 */
static void test_ack_returns_after_its_commit(void **state)
{
    t_world *w = *state;
    t_open_session(w);
    MDB_env *peek = t_peek_open(w);
    t_pipe p;
    t_pipe_seal(w, &p);
    bool acked[T_PIPE_N] = {false};
    size_t n_acked = 0, receipts = 0, got = 0;
    for (size_t f = 0; f < T_PIPE_FRAMES || got < T_PIPE_N; f++) {
        if (f < T_PIPE_FRAMES)
            t_pipe_send(w, &p, f);
        /* Take and acknowledge what is there while the next frames arrive. */
        uint8_t ids[T_PIPE_N][16];
        size_t n = 0;
        asylink_message *m = NULL;
        while (got < T_PIPE_N && asylink_recv(w->c, n ? 0 : T_WAIT_MS, &m) == ASYLINK_OK) {
            assert_memory_equal(asylink_message_id(m), p.id[got], 16);
            memcpy(ids[n++], asylink_message_id(m), 16);
            got++;
            asylink_message_free(&m);
        }
        assert_true(n > 0);
        assert_int_equal(asylink_ack_many(w->c, (const uint8_t(*)[16])ids, n), ASYLINK_OK);
        for (size_t i = 0; i < n; i++) {
            int st = -1;
            assert_int_equal(t_peek_id(peek, "inbox_id", ids[i], "inbox", &st), 1);
            if (st != CSTORE_IN_ACKED)
                fail_msg("asylink_ack_many() returned before its commit (state %d)", st);
        }
        t_pipe_acks(w, peek, &p, acked, &n_acked, &receipts, 0);
    }
    assert_int_equal(got, T_PIPE_N);
    /* The receipt sets to FR: each Publish names an envelope in the committed outbox. */
    for (int i = 0; i < 100 && (receipts == 0 || n_acked < T_PIPE_N); i++)
        t_pipe_acks(w, peek, &p, acked, &n_acked, &receipts, 50);
    assert_int_equal(n_acked, T_PIPE_N);
    assert_true(receipts >= 1);
    mdb_env_close(peek);
    t_pipe_free(&p);
}

/*
 * A reader far behind (more than CLIENT_EARLY_BEHIND committed entries not
 * taken yet) gets the next turns' entries after their commit, not copied
 * for an early hand-over: still each once, in the order delivered, and the
 * later ones too once it has caught up.
 */
#define T_BEHIND_N 1200
#define T_BEHIND_PER 50
static void test_reader_far_behind(void **state)
{
    t_world *w = *state;
    t_open_session(w);
    const char *to[] = {"DE", NULL};
    uint8_t **env = calloc(T_BEHIND_N, sizeof *env);
    size_t *env_len = calloc(T_BEHIND_N, sizeof *env_len);
    uint8_t(*ids)[16] = calloc(T_BEHIND_N, sizeof *ids);
    assert_true(env && env_len && ids);
    for (size_t i = 0; i < T_BEHIND_N; i++) {
        assert_int_equal(fx_seal(w->f, "FR", to, ENVELOPE_LIMITED, (const uint8_t *)"far", 3,
                                 &env[i], &env_len[i]),
                         ASYLINK_OK);
        envelope *e = NULL;
        assert_int_equal(envelope_decode(env[i], env_len[i], 0, &e), ASYLINK_OK);
        memcpy(ids[i], envelope_header_of(e)->message_id, 16);
        envelope_destroy(&e);
    }
    size_t acked = 0;
    for (size_t f = 0; f * T_BEHIND_PER < T_BEHIND_N; f++) {
        wire_packer pk;
        wire_packer_init(&pk, 0);
        for (size_t i = f * T_BEHIND_PER; i < (f + 1) * T_BEHIND_PER; i++) {
            wire_cmd d = {.kind = WIRE_DELIVER};
            d.u.deliver.sequence = 5000 + i;
            d.u.deliver.attempt = 1;
            d.u.deliver.accepted_ms = clock_now_ms();
            assert_int_equal(wire_packer_add_cmd(&pk, &d, env[i], env_len[i]), ASYLINK_OK);
        }
        size_t off = 0, len = 0;
        uint8_t *block = wire_packer_finish(&pk, &off, &len);
        assert_non_null(block);
        t_send_frame(w, block + off, len, NULL, 0);
        free(block);
        wire_packer_free(&pk);
        /* Each frame acknowledged (committed) before the next: the reader falls behind. */
        for (int tries = 0; tries < 200 && acked < (f + 1) * T_BEHIND_PER; tries++) {
            zmq_pollitem_t it = {w->router, 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&it, 1, 50) != 1)
                continue;
            zmq_msg_t parts[T_PARTS];
            int n = t_recv(w, parts);
            wire_cmd cmd = {0};
            const uint8_t *d = zmq_msg_data(&parts[0]);
            if (wire_decode(d, zmq_msg_size(&parts[0]), &cmd) == ASYLINK_OK && cmd.kind == WIRE_ACK)
                acked += cmd.u.ack.n_sequences;
            wire_cmd_clear(&cmd);
            t_close(parts, n);
        }
        assert_int_equal(acked, (f + 1) * T_BEHIND_PER);
    }
    for (size_t i = 0; i < T_BEHIND_N; i++) {
        asylink_message *m = NULL;
        assert_int_equal(asylink_recv(w->c, T_WAIT_MS, &m), ASYLINK_OK);
        assert_memory_equal(asylink_message_id(m), ids[i], 16);
        asylink_message_free(&m);
    }
    asylink_message *m = NULL;
    assert_int_equal(asylink_recv(w->c, 200, &m), ASYLINK_E_TIMEOUT);
    for (size_t i = 0; i < T_BEHIND_N; i++)
        free(env[i]);
    free(env);
    free(env_len);
    free(ids);
}

/* ---- a log callback that calls back into the client ---- */

/* One call of t_probe(): its name and what it returned. */
typedef struct {
    const char *name;
    int rc;
} t_call;

/*
 * Run inside the log callback: every client function that could wait for
 * the library's threads or write the store, each of which must answer
 * ASYLINK_E_REENTRANT at once (the waits are bounded, 1 s, should one not
 * be refused); asylink_client_close() must leave the client open; the
 * accessors asylink_fd() and asylink_connected() still answer. Records the
 * thread and the first call that was not refused.
 */
static void t_probe(t_world *w)
{
    asylink_client *c = w->c;
    asylink_send_params sp;
    t_params_to_fr(&sp);
    asylink_send_item si = {.params = &sp, .payload = "x", .len = 1};
    asylink_publish_params pp;
    asylink_publish_params_init(&pp);
    pp.topic = "stats.monthly.DE";
    pp.content_type = "asylink.v1.MonthlyStatistics";
    asylink_publish_item pi = {.params = &pp, .payload = "x", .len = 1};
    uint8_t id[16] = {1, 2, 3};
    asylink_ack_key key = {.sender = "FR"};
    memcpy(key.message_id, id, 16);
    asylink_message *m = NULL;
    asylink_event *e = NULL;
    uint8_t *env = NULL;
    size_t len = 0, n = 0;
    uint64_t count = 0;
    int sent_state = 0;
    asylink_receipt_info info;
    asylink_connection conn;
    asylink_connect_failure fail;
    char path[600];
    snprintf(path, sizeof path, "%s/evidence.zip", w->f->dir);
    t_call calls[] = {
        {"asylink_send", asylink_send(c, &sp, "x", 1, NULL)},
        {"asylink_send_many", asylink_send_many(c, &si, 1)},
        {"asylink_send_many item", si.result},
        {"asylink_publish", asylink_publish(c, &pp, "x", 1, NULL)},
        {"asylink_publish_many", asylink_publish_many(c, &pi, 1)},
        {"asylink_subscribe", asylink_subscribe(c, "stats", "probe", ASYLINK_START_NEW, 0, 1000)},
        {"asylink_unsubscribe", asylink_unsubscribe(c, "probe", 1)},
        {"asylink_recv", asylink_recv(c, 1000, &m)},
        {"asylink_ack", asylink_ack(c, id)},
        {"asylink_ack_many", asylink_ack_many(c, (const uint8_t(*)[16])id, 1)},
        {"asylink_ack_keys", asylink_ack_keys(c, &key, 1)},
        {"asylink_next_event", asylink_next_event(c, 1000, &e)},
        {"asylink_receipts", asylink_receipts(c, id, NULL, 0, &n)},
        {"asylink_receipt_wait", asylink_receipt_wait(c, id, 1000)},
        {"asylink_receipt_export", asylink_receipt_export(c, id, "FR", &env, &len)},
        {"asylink_receipt_verify", asylink_receipt_verify(c, id, sizeof id, NULL, &info)},
        {"asylink_evidence_export", asylink_evidence_export(c, id, path)},
        {"asylink_purge", asylink_purge(c, id, "FR", &n)},
        {"asylink_reload_trust", asylink_reload_trust(c)},
        {"asylink_outbox_pending", asylink_outbox_pending(c, &count)},
        {"asylink_sent_state_get", asylink_sent_state_get(c, id, &sent_state, NULL)},
        {"asylink_connection_get", asylink_connection_get(c, &conn)},
        {"asylink_connect_failure_get", asylink_connect_failure_get(c, &fail)},
    };
    char wrong[512] = "";
    for (size_t i = 0; i < sizeof calls / sizeof calls[0] && !wrong[0]; i++)
        if (calls[i].rc != ASYLINK_E_REENTRANT)
            snprintf(wrong, sizeof wrong, "%s returned %s", calls[i].name,
                     asylink_err_name(calls[i].rc));
    if (!wrong[0] && (m || e || env))
        snprintf(wrong, sizeof wrong, "a refused call handed something over");
    asylink_message_free(&m);
    asylink_event_free(&e);
    asylink_free(env);
    asylink_client *copy = c;
    asylink_client_close(&copy);
    if (!wrong[0] && copy != c)
        snprintf(wrong, sizeof wrong, "asylink_client_close() closed the client");
    if (!wrong[0] && (asylink_fd(c) < 0 || asylink_connected(c) < 0))
        snprintf(wrong, sizeof wrong, "asylink_fd() or asylink_connected() refused");
    pthread_t self = pthread_self();
    pthread_mutex_lock(&w->lock);
    w->probes++;
    bool seen = false;
    for (size_t i = 0; i < w->n_probed; i++)
        seen = seen || pthread_equal(w->probed[i], self);
    if (!seen && w->n_probed < sizeof w->probed / sizeof w->probed[0])
        w->probed[w->n_probed++] = self;
    if (wrong[0] && !w->probe_wrong[0])
        snprintf(w->probe_wrong, sizeof w->probe_wrong, "%s", wrong);
    pthread_mutex_unlock(&w->lock);
}

/* Whether t_probe() ran on thread t. */
static bool t_probed_on(t_world *w, pthread_t t)
{
    bool seen = false;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n_probed; i++)
        seen = seen || pthread_equal(w->probed[i], t);
    pthread_mutex_unlock(&w->lock);
    return seen;
}

/* Fails with the first call t_probe() saw not refused, if any. */
static void t_probes_refused(t_world *w)
{
    pthread_mutex_lock(&w->lock);
    bool ok = w->probe_wrong[0] == 0;
    pthread_mutex_unlock(&w->lock);
    if (!ok)
        fail_msg("inside the log callback: %s", w->probe_wrong);
}

/* Delivers FR's envelopes env[0..n) (sequences 61..) and waits for the client's Ack of all. */
static void t_deliver(t_world *w, uint8_t **env, const size_t *env_len, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        wire_cmd d = {.kind = WIRE_DELIVER};
        d.u.deliver.sequence = 61 + i;
        d.u.deliver.attempt = 1;
        d.u.deliver.accepted_ms = clock_now_ms();
        t_send(w, &d, env[i], env_len[i]);
    }
    size_t acked = 0;
    while (acked < n) {
        zmq_msg_t parts[T_PARTS];
        int k = 0;
        wire_cmd cmd;
        t_next(w, parts, &k, &cmd);
        if (cmd.kind == WIRE_ACK)
            acked += cmd.u.ack.n_sequences;
        wire_cmd_clear(&cmd);
        t_close(parts, k);
    }
}

/*
 * A log callback that calls back into the client gets ASYLINK_E_REENTRANT
 * from every function that could deadlock there, on each of the library's
 * threads and on the application's own thread inside a call that logs, and
 * nothing hangs; the application's thread keeps using the client.
 */
static void test_log_callback_cannot_reenter(void **state)
{
    t_world *w = *state;
    t_open_session(w);
    uint8_t *env[2] = {NULL, NULL};
    size_t env_len[2] = {0, 0};
    t_seal_from_fr(w, env, env_len, 2);
    t_deliver(w, env, env_len, 2);
    asylink_message *m[2] = {NULL, NULL};
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(asylink_recv(w->c, T_WAIT_MS, &m[i]), ASYLINK_OK);
    /* FR leaves the trust directory: the receipts owed to it are not sealed, which the
       committer thread logs when it flushes them. */
    char fr[700];
    snprintf(fr, sizeof fr, "%s/nodes/FR.cert", w->f->trust_dir);
    assert_int_equal(unlink(fr), 0);
    assert_int_equal(asylink_reload_trust(w->c), ASYLINK_OK);

    atomic_store(&w->probing, true);
    /* The committer: acknowledging m[0] owes FR a receipt it cannot seal. */
    assert_int_equal(asylink_ack_message(w->c, m[0]), ASYLINK_OK);
    t_wait_log(w, "no receipt sent: the sender is not usable", "sender=FR");
    /* The I/O thread: a Packed frame cut short, which does not check. */
    wire_packer pk;
    wire_packer_init(&pk, 0);
    wire_cmd acc = {.kind = WIRE_ACCEPTED};
    acc.u.accepted.store_sequence = 1;
    assert_int_equal(wire_packer_add_cmd(&pk, &acc, NULL, 0), ASYLINK_OK);
    size_t off = 0, len = 0;
    uint8_t *block = wire_packer_finish(&pk, &off, &len);
    assert_non_null(block);
    t_send_frame(w, block + off, len - 1, NULL, 0);
    free(block);
    wire_packer_free(&pk);
    t_wait_log(w, "packed frame ignored", "code=");
    /* The application's thread, inside asylink_send() logging an unknown recipient. */
    asylink_send_params p;
    t_params_to_fr(&p);
    assert_int_equal(asylink_send(w->c, &p, "x", 1, NULL), ASYLINK_E_UNKNOWN_RECIPIENT);
    atomic_store(&w->probing, false);

    t_probes_refused(w);
    pthread_mutex_lock(&w->c->lock);
    assert_true(w->c->io_commit_on);
    pthread_t committer = w->c->io_commit;
    pthread_mutex_unlock(&w->c->lock);
    if (!t_probed_on(w, committer))
        fail_msg("the callback never ran on the committer thread");
    if (!t_probed_on(w, w->c->io))
        fail_msg("the callback never ran on the I/O thread");
    if (!t_probed_on(w, pthread_self()))
        fail_msg("the callback never ran on the application's thread");

    /* The application's thread: the same calls work. */
    assert_int_equal(asylink_ack(w->c, asylink_message_id(m[1])), ASYLINK_OK);
    asylink_event *e = NULL;
    assert_int_equal(asylink_next_event(w->c, 0, &e), ASYLINK_E_TIMEOUT);
    fx_write_trust(w->f); /* FR back */
    assert_int_equal(asylink_reload_trust(w->c), ASYLINK_OK);
    uint8_t id[16];
    assert_int_equal(asylink_send(w->c, &p, "x", 1, id), ASYLINK_OK);
    zmq_msg_t parts[T_PARTS];
    int n = 0;
    wire_cmd cmd;
    bool published = false;
    while (!published) { /* its Publish, packed; answered Accepted */
        t_next(w, parts, &n, &cmd);
        if (cmd.kind == WIRE_NONE) {
            wire_unpacker u;
            size_t items = 0;
            wire_item it;
            assert_int_equal(
                wire_unpack_begin(&u, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), &items),
                ASYLINK_OK);
            while (wire_unpack_next(&u, &it)) {
                wire_cmd pub;
                assert_int_equal(wire_decode(it.cmd, it.cmd_len, &pub), ASYLINK_OK);
                published = published || (pub.kind == WIRE_PUBLISH &&
                                          memcmp(pub.u.publish.message_id, id, 16) == 0);
                wire_cmd_clear(&pub);
            }
        }
        wire_cmd_clear(&cmd);
        t_close(parts, n);
    }
    wire_cmd a = {.kind = WIRE_ACCEPTED};
    memcpy(a.u.accepted.message_id, id, 16);
    a.u.accepted.store_sequence = 1;
    a.u.accepted.accepted_ms = clock_now_ms();
    t_send(w, &a, NULL, 0);
    uint8_t got[16];
    t_event(w, ASYLINK_EVENT_ACCEPTED, got);
    assert_memory_equal(got, id, 16);

    /* Closing: the I/O thread logs the session's end while it stops; the callback's calls are
       refused there too, and the application's close completes. */
    size_t before = w->probes;
    atomic_store(&w->probing, true);
    asylink_client_close(&w->c);
    atomic_store(&w->probing, false);
    assert_null(w->c);
    assert_true(w->probes > before);
    t_probes_refused(w);
    for (size_t i = 0; i < 2; i++) {
        asylink_message_free(&m[i]);
        free(env[i]);
    }
}

/* ---- an unreadable outbox entry ---- */

/* With the client closed: the outbox record of message id overwritten with bytes no record has. */
static void t_damage_outbox(t_world *w, const uint8_t id[16])
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi ids, recs;
    MDB_cursor *cur = NULL;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, w->data_dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "outbox_id", 0, &ids), 0);
    assert_int_equal(mdb_dbi_open(txn, "outbox", 0, &recs), 0);
    assert_int_equal(mdb_cursor_open(txn, ids, &cur), 0);
    MDB_val k = {16, (void *)id}, v = {0, NULL};
    assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE), 0);
    assert_true(k.mv_size >= 16 && memcmp(k.mv_data, id, 16) == 0);
    uint8_t seq_key[64];
    assert_true(v.mv_size <= sizeof seq_key);
    memcpy(seq_key, v.mv_data, v.mv_size);
    MDB_val rk = {v.mv_size, seq_key}, rv;
    assert_int_equal(mdb_get(txn, recs, &rk, &rv), 0); /* the record it names exists */
    uint8_t junk[24];
    memset(junk, 0xee, sizeof junk);
    MDB_val jv = {sizeof junk, junk};
    assert_int_equal(mdb_put(txn, recs, &rk, &jv, 0), 0);
    mdb_cursor_close(cur);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* Discards whatever reached the test broker (a closed client's unanswered Hello). */
static void t_drain(t_world *w)
{
    zmq_pollitem_t it = {w->router, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&it, 1, 300) == 1) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, w->router, 0) >= 0);
        zmq_msg_close(&m);
    }
}

/*
 * An outbox entry whose record does not read back (a damaged store) is
 * stepped over with an error logged: the messages after it still go out
 * (the pump used to stop there for good).
 */
static void test_pump_steps_over_unreadable_entry(void **state)
{
    t_world *w = *state;
    asylink_client_close(&w->c);
    t_drain(w);
    t_client_open(w, "tcp://127.0.0.1:1", ASYLINK_DURABILITY_FSYNC); /* no broker there */
    uint8_t ids[3][16];
    t_send_messages(w, 3, ids);
    asylink_client_close(&w->c);
    t_damage_outbox(w, ids[1]);
    t_client_open(w, w->endpoint, ASYLINK_DURABILITY_FSYNC);
    uint64_t pending = 0;
    assert_int_equal(asylink_outbox_pending(w->c, &pending), ASYLINK_OK);
    assert_int_equal(pending, 3); /* the damaged one too, until the I/O thread meets it */
    t_open_session(w);
    t_wait_log(w, "outbox entry unreadable", "code=IO");
    /* ... which sets it aside: the two readable ones stay pending (no Accepted yet) */
    for (int i = 0; i < 200 && asylink_outbox_pending(w->c, &pending) == ASYLINK_OK &&
                    pending != 2;
         i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(pending, 2);

    zmq_msg_t parts[T_PARTS];
    int n = 0;
    wire_cmd cmd;
    t_next(w, parts, &n, &cmd);
    assert_int_equal(cmd.kind, WIRE_NONE); /* one Packed frame with the two readable ones */
    wire_unpacker u;
    size_t items = 0;
    assert_int_equal(
        wire_unpack_begin(&u, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), &items),
        ASYLINK_OK);
    assert_int_equal(items, 2);
    const size_t expect[2] = {0, 2};
    for (size_t i = 0; i < 2; i++) {
        wire_item it;
        wire_cmd p;
        assert_true(wire_unpack_next(&u, &it));
        assert_int_equal(wire_decode(it.cmd, it.cmd_len, &p), ASYLINK_OK);
        assert_int_equal(p.kind, WIRE_PUBLISH);
        assert_memory_equal(p.u.publish.message_id, ids[expect[i]], 16);
        wire_cmd_clear(&p);
    }
    t_close(parts, n);
}

/*
 * InformationRequest and InformationReply carry personal data and travel as
 * PERSONAL (asylum.proto): sent LIMITED or PUBLIC, published on a feed, or
 * inside asylink_send_many(), the library refuses them with CLASSIFICATION,
 * says what to do, and stores nothing; sent PERSONAL they go.
 */
static void test_personal_types_refused(void **state)
{
    t_world *w = *state;
    asylink_send_params p;
    t_params_to_fr(&p);
    p.classification = ASYLINK_LIMITED;
    assert_int_equal(asylink_send(w->c, &p, "case", 4, NULL), ASYLINK_E_CLASSIFICATION);
    assert_true(t_logged(w, "asylink.v1.InformationRequest carries personal data",
                         "must travel as ASYLINK_PERSONAL"));
    p.content_type = "asylink.v1.InformationReply";
    p.classification = ASYLINK_PUBLIC;
    assert_int_equal(asylink_send(w->c, &p, "case", 4, NULL), ASYLINK_E_CLASSIFICATION);
    asylink_send_params ok;
    t_params_to_fr(&ok);
    asylink_send_item items[2] = {{.params = &ok, .payload = "a", .len = 1},
                                  {.params = &p, .payload = "b", .len = 1}};
    assert_int_equal(asylink_send_many(w->c, items, 2), ASYLINK_E_CLASSIFICATION);
    assert_int_equal(items[1].result, ASYLINK_E_CLASSIFICATION);
    asylink_publish_params pp;
    asylink_publish_params_init(&pp);
    pp.topic = "stats.monthly.DE";
    pp.content_type = "asylink.v1.InformationRequest";
    assert_int_equal(asylink_publish(w->c, &pp, "x", 1, NULL), ASYLINK_E_CLASSIFICATION);
    uint64_t pending = 99;
    assert_int_equal(asylink_outbox_pending(w->c, &pending), ASYLINK_OK);
    assert_int_equal(pending, 0);
    p.classification = ASYLINK_PERSONAL;
    assert_int_equal(asylink_send(w->c, &p, "case", 4, NULL), ASYLINK_OK);
    assert_int_equal(asylink_outbox_pending(w->c, &pending), ASYLINK_OK);
    assert_int_equal(pending, 1);
}

/* Expects the next two messages to be plain Publishes of ids[0] and ids[1], in that order. */
static void t_expect_publishes(t_world *w, uint8_t (*ids)[16])
{
    for (size_t i = 0; i < 2; i++) {
        zmq_msg_t parts[T_PARTS];
        int n = 0;
        wire_cmd cmd;
        t_next(w, parts, &n, &cmd);
        assert_int_equal(cmd.kind, WIRE_PUBLISH);
        assert_memory_equal(cmd.u.publish.message_id, ids[i], 16);
        wire_cmd_clear(&cmd);
        t_close(parts, n);
    }
}

/* A broker's Accepted or Rejected for id (Rejected: POLICY, not retryable). */
static void t_answer(t_world *w, wire_kind kind, const uint8_t id[16])
{
    wire_cmd a = {.kind = kind};
    if (kind == WIRE_ACCEPTED) {
        memcpy(a.u.accepted.message_id, id, 16);
        a.u.accepted.store_sequence = 1;
        a.u.accepted.accepted_ms = clock_now_ms();
    } else {
        a.u.rejected.has_message_id = true;
        memcpy(a.u.rejected.message_id, id, 16);
        a.u.rejected.code = ASYLINK_E_POLICY;
        snprintf(a.u.rejected.reason, sizeof a.u.rejected.reason, "forged");
    }
    t_send(w, &a, NULL, 0);
}

/*
 * A hostile broker answers what it was not sent: an Accepted and a Rejected
 * for two messages waiting in the outbox before the session opened, and a
 * Rejected for a message it accepted before. Each is ignored (and logged):
 * both messages are published once the session opens and stay pending, and
 * the accepted one is not turned into a rejected one.
 */
static void test_answers_not_in_flight_ignored(void **state)
{
    t_world *w = *state;
    uint64_t hello = t_hello(w, WIRE_PROTOCOL_PACKED);
    uint8_t ids[2][16];
    t_send_messages(w, 2, ids);
    t_answer(w, WIRE_ACCEPTED, ids[0]);
    t_answer(w, WIRE_REJECTED, ids[1]);
    t_wait_log(w, "answer for a message not in flight ignored", "kind=Accepted");
    t_wait_log(w, "answer for a message not in flight ignored", "kind=Rejected");
    t_welcome(w, hello, WIRE_PROTOCOL_VERSION);
    t_event(w, ASYLINK_EVENT_CONNECTED, NULL);
    t_expect_publishes(w, ids);
    uint64_t pending = 0;
    assert_int_equal(asylink_outbox_pending(w->c, &pending), ASYLINK_OK);
    assert_int_equal(pending, 2);

    t_answer(w, WIRE_ACCEPTED, ids[0]); /* the real answer */
    uint8_t id[16];
    t_event(w, ASYLINK_EVENT_ACCEPTED, id);
    assert_memory_equal(id, ids[0], 16);
    t_answer(w, WIRE_REJECTED, ids[0]); /* answered already: ignored */
    t_answer(w, WIRE_ACCEPTED, ids[1]);
    t_event(w, ASYLINK_EVENT_ACCEPTED, id); /* not REJECTED for ids[0] */
    assert_memory_equal(id, ids[1], 16);
    assert_int_equal(asylink_outbox_pending(w->c, &pending), ASYLINK_OK);
    assert_int_equal(pending, 0);
    asylink_event *e = NULL;
    assert_int_equal(asylink_next_event(w->c, 200, &e), ASYLINK_E_TIMEOUT);
}

/* A LIMITED publish on its own thread (it waits for the Directory the test broker answers). */
typedef struct {
    t_world *w;
    int rc;
} t_publisher;

static void *t_publish_limited(void *arg)
{
    t_publisher *p = arg;
    asylink_publish_params pp;
    asylink_publish_params_init(&pp);
    pp.topic = "stats.monthly.DE";
    pp.content_type = "application/json";
    pp.classification = ASYLINK_LIMITED;
    p->rc = asylink_publish(p->w->c, &pp, "{}", 2, NULL);
    return NULL;
}

/*
 * The next command (t_next); of a Packed frame, its first item, decoded into
 * *cmd and given whole in *item (may be NULL; item->cmd NULL for a plain
 * command), valid until parts are closed.
 */
static void t_next_one(t_world *w, zmq_msg_t *parts, int *n, wire_cmd *cmd, wire_item *item)
{
    t_next(w, parts, n, cmd);
    wire_item it = {0};
    if (cmd->kind == WIRE_NONE) {
        wire_unpacker u;
        size_t items = 0;
        assert_int_equal(
            wire_unpack_begin(&u, zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0]), &items),
            ASYLINK_OK);
        assert_true(wire_unpack_next(&u, &it));
        assert_int_equal(wire_decode(it.cmd, it.cmd_len, cmd), ASYLINK_OK);
    }
    if (item)
        *item = it;
}

/* Expects a DirectoryRequest for the topic and answers it with the certificates of ids. */
static void t_answer_directory(t_world *w, const char *const *ids)
{
    zmq_msg_t parts[T_PARTS];
    int n = 0;
    wire_cmd cmd;
    t_next_one(w, parts, &n, &cmd, NULL);
    assert_int_equal(cmd.kind, WIRE_DIRECTORY_REQUEST);
    assert_string_equal(cmd.u.directory_request.topic, "stats.monthly.DE");
    uint64_t request_id = cmd.request_id;
    wire_cmd_clear(&cmd);
    t_close(parts, n);
    uint8_t *certs[FX_MAX_NODES];
    size_t lens[FX_MAX_NODES], k = 0;
    for (; ids[k]; k++) {
        const cert *x = fx_node_by_id(w->f, ids[k])->cert;
        certs[k] = x->raw;
        lens[k] = x->raw_len;
    }
    wire_cmd d = {.kind = WIRE_DIRECTORY, .request_id = request_id};
    d.u.directory.certificates = certs;
    d.u.directory.certificate_lens = lens;
    d.u.directory.n_certificates = k;
    snprintf(d.u.directory.topic, sizeof d.u.directory.topic, "stats.monthly.DE");
    t_send(w, &d, NULL, 0);
}

/* The envelope of the next Publish (plain or the first of a Packed frame), malloc'd. */
static uint8_t *t_next_publish(t_world *w, size_t *len)
{
    zmq_msg_t parts[T_PARTS];
    int n = 0;
    wire_cmd cmd;
    wire_item item;
    t_next_one(w, parts, &n, &cmd, &item);
    assert_int_equal(cmd.kind, WIRE_PUBLISH);
    if (!item.cmd) { /* a plain Publish: command frame and envelope */
        assert_int_equal(n, 2);
        item.env = zmq_msg_data(&parts[1]);
        item.env_len = zmq_msg_size(&parts[1]);
    }
    *len = item.env_len;
    uint8_t *env = malloc(*len);
    assert_non_null(env);
    memcpy(env, item.env, *len);
    wire_cmd_clear(&cmd);
    t_close(parts, n);
    return env;
}

/* Writes a revocation list (number 2) revoking FR's certificate into the trust directory. */
static void t_revoke_fr(t_world *w)
{
    crl_entry ce = {.serial = fx_node_by_id(w->f, "FR")->cert->serial, .revoked_ms = 1};
    crl *l = NULL;
    assert_int_equal(crl_sign(w->f->ca_keys, w->f->ca, 2, 1, &ce, 1, &l), ASYLINK_OK);
    char path[700];
    snprintf(path, sizeof path, "%s/revoked.crl", w->f->trust_dir);
    assert_int_equal(crl_save(l, path), ASYLINK_OK);
    crl_destroy(&l);
}

/*
 * The readers of a LIMITED feed message after a trust reload revoked one:
 * the reader list cached for the topic (60 s) was checked under the old
 * trust, so a reload must drop it and the next publish ask for the readers
 * again; the revoked node gets no key wrap (asylink_reload_trust(): revoked
 * certificates stop being used for sending).
 */
static void test_limited_readers_after_trust_reload(void **state)
{
    t_world *w = *state;
    t_open_session(w);
    const char *readers[] = {"DE", "FR", NULL};
    t_publisher pub = {w, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, t_publish_limited, &pub), 0);
    t_answer_directory(w, readers);
    size_t len = 0;
    uint8_t *env = t_next_publish(w, &len), *payload = NULL;
    size_t plen = 0;
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(pub.rc, ASYLINK_OK);
    assert_int_equal(fx_open(w->f, "FR", env, len, &payload, &plen), ASYLINK_OK);
    free(payload);
    free(env);

    /* FR's certificate is revoked; the client reloads its trust directory. */
    t_revoke_fr(w);
    assert_int_equal(asylink_reload_trust(w->c), ASYLINK_OK);

    pub.rc = -1;
    assert_int_equal(pthread_create(&th, NULL, t_publish_limited, &pub), 0);
    t_answer_directory(w, readers); /* asked again: the broker still names FR */
    env = t_next_publish(w, &len);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(pub.rc, ASYLINK_OK);
    assert_int_not_equal(fx_open(w->f, "FR", env, len, &payload, &plen), ASYLINK_OK);
    assert_null(payload);
    free(env);
}

/* A PUBLIC feed message of topic from FR (signed only), malloc'd into *env. */
static void t_seal_feed(t_world *w, const char *topic, uint8_t **env, size_t *len)
{
    fx_node *fr = fx_node_by_id(w->f, "FR");
    envelope_sealer *sealer = NULL;
    assert_int_equal(envelope_sealer_new(fr->keys, fr->id, fr->cert->serial, NULL, NULL, &sealer),
                     ASYLINK_OK);
    envelope_params p = {
        .topic = topic, .content_type = "application/json", .classification = ENVELOPE_PUBLIC};
    assert_int_equal(envelope_seal(sealer, &p, (const uint8_t *)"{}", 2, env, len, NULL),
                     ASYLINK_OK);
    envelope_sealer_destroy(&sealer);
}

/*
 * A broker delivers through subscription "stats" a message of a topic only
 * another subscription ("coi") covers: it is refused (POLICY), not stored
 * under "stats" and handed over as that subscription's (the same message
 * would reach the application once per subscription that claims it).
 */
static void test_feed_topic_checked_per_subscription(void **state)
{
    t_world *w = *state;
    t_open_session(w);
    /* timeout 0: remembered and sent, not waited for (the test broker does not answer) */
    assert_int_equal(asylink_subscribe(w->c, "stats", "stats", ASYLINK_START_NEW, 0, 0),
                     ASYLINK_E_TIMEOUT);
    assert_int_equal(asylink_subscribe(w->c, "coi", "coi", ASYLINK_START_NEW, 0, 0),
                     ASYLINK_E_TIMEOUT);
    uint8_t *env = NULL;
    size_t len = 0;
    t_seal_feed(w, "coi.syria", &env, &len);
    wire_cmd d = {.kind = WIRE_DELIVER};
    d.u.deliver.sequence = 7;
    d.u.deliver.attempt = 1;
    d.u.deliver.accepted_ms = clock_now_ms();
    snprintf(d.u.deliver.subscription, sizeof d.u.deliver.subscription, "stats");
    snprintf(d.u.deliver.topic, sizeof d.u.deliver.topic, "coi.syria");
    t_send(w, &d, env, len);
    free(env);
    t_wait_log(w, "delivery refused", "code=POLICY");
    asylink_message *m = NULL;
    assert_int_equal(asylink_recv(w->c, 300, &m), ASYLINK_E_TIMEOUT);
    asylink_message_free(&m);
}

/*
 * A ReceiptSet signed by FR quoting DE's message, sealed as FR's library
 * seals receipts (LIMITED, direct to DE) or, with topic, as a signed-only
 * PUBLIC feed message; malloc'd into *env.
 */
static void t_seal_receipt(t_world *w, const uint8_t *set, size_t set_len, const char *topic,
                           uint8_t **env, size_t *len)
{
    fx_node *fr = fx_node_by_id(w->f, "FR");
    const char *to[] = {"DE"};
    const cert *readers[] = {fx_node_by_id(w->f, "DE")->cert};
    envelope_sealer *sealer = NULL;
    assert_int_equal(envelope_sealer_new(fr->keys, fr->id, fr->cert->serial, NULL, NULL, &sealer),
                     ASYLINK_OK);
    envelope_params p = {.content_type = RECEIPT_CONTENT_TYPE};
    if (topic) {
        p.topic = topic;
        p.classification = ENVELOPE_PUBLIC;
    } else {
        p.recipients = to;
        p.n_recipients = 1;
        p.readers = readers;
        p.n_readers = 1;
        p.classification = ENVELOPE_LIMITED;
    }
    assert_int_equal(envelope_seal(sealer, &p, set, set_len, env, len, NULL), ASYLINK_OK);
    envelope_sealer_destroy(&sealer);
}

/*
 * A message to FR, published and accepted, and FR's receipt set for it with
 * status (malloc'd into *set), as FR's node would write it.
 */
static void t_sent_and_receipt(t_world *w, uint8_t id[16], int status, uint8_t **set,
                               size_t *set_len)
{
    t_open_session(w);
    asylink_send_params p;
    t_params_to_fr(&p);
    assert_int_equal(asylink_send(w->c, &p, "case", 4, id), ASYLINK_OK);
    size_t len = 0;
    uint8_t *env = t_next_publish(w, &len);
    envelope *m = NULL;
    assert_int_equal(envelope_decode(env, len, 0, &m), ASYLINK_OK);
    receipt r = {.acked_ms = clock_now_ms(), .status = status};
    memcpy(r.message_id, id, 16);
    memcpy(r.envelope_digest, envelope_digest(m), 64);
    snprintf(r.recipient, sizeof r.recipient, "FR");
    snprintf(r.sender, sizeof r.sender, "DE");
    if (status == RECEIPT_REJECTED)
        snprintf(r.reason, sizeof r.reason, "not for this authority");
    envelope_destroy(&m);
    free(env);
    assert_int_equal(receipt_set_encode(&r, 1, set, set_len), ASYLINK_OK);
    t_answer(w, WIRE_ACCEPTED, id);
    t_event(w, ASYLINK_EVENT_ACCEPTED, NULL);
}

/*
 * Receipts are ordinary envelopes told apart only by their content type
 * (PROTOCOL.md 3.1, 5), so that type must mean "this node's library
 * acknowledged": the application cannot send or publish under either
 * reserved name (BAD_FIELD, nothing stored), and a feed message carrying
 * a ReceiptSet is nobody's receipt (asylink_receipt_verify(): NOT_RECIPIENT),
 * while the same set as a receipt proper verifies.
 */
static void test_receipt_types_reserved(void **state)
{
    t_world *w = *state;
    uint8_t id[16], *set = NULL;
    size_t set_len = 0;
    t_sent_and_receipt(w, id, RECEIPT_DELIVERED, &set, &set_len);

    /* The application's own messages may not carry a receipt's content type. */
    const char *reserved[] = {RECEIPT_CONTENT_TYPE, RECEIPT_SINGLE_CONTENT_TYPE};
    for (size_t i = 0; i < 2; i++) {
        asylink_send_params sp;
        t_params_to_fr(&sp);
        sp.content_type = reserved[i];
        sp.classification = ASYLINK_LIMITED;
        logcap_clear(&w->log);
        assert_int_equal(asylink_send(w->c, &sp, set, set_len, NULL), ASYLINK_E_BAD_FIELD);
        assert_true(t_logged(w, "reserved for the library's signed receipts", "code=BAD_FIELD"));
        asylink_send_item item = {.params = &sp, .payload = set, .len = set_len};
        assert_int_equal(asylink_send_many(w->c, &item, 1), ASYLINK_E_BAD_FIELD);
        assert_int_equal(item.result, ASYLINK_E_BAD_FIELD);
        asylink_publish_params pp;
        asylink_publish_params_init(&pp);
        pp.topic = "stats.monthly.DE";
        pp.content_type = reserved[i];
        pp.classification = ASYLINK_PUBLIC;
        assert_int_equal(asylink_publish(w->c, &pp, set, set_len, NULL), ASYLINK_E_BAD_FIELD);
    }
    uint64_t pending = 1;
    assert_int_equal(asylink_outbox_pending(w->c, &pending), ASYLINK_OK);
    assert_int_equal(pending, 0); /* the message to FR, accepted: nothing of the refused calls */

    /* FR's signed feed message holding that set is not FR's receipt for it. */
    uint8_t *feed = NULL;
    size_t feed_len = 0;
    t_seal_receipt(w, set, set_len, "notes.FR", &feed, &feed_len);
    asylink_receipt_info info;
    assert_int_equal(asylink_receipt_verify(w->c, feed, feed_len, id, &info),
                     ASYLINK_E_NOT_RECIPIENT);
    free(feed);
    /* The same set sealed as FR's library seals a receipt is one. */
    uint8_t *rcpt = NULL;
    size_t rcpt_len = 0;
    t_seal_receipt(w, set, set_len, NULL, &rcpt, &rcpt_len);
    assert_int_equal(asylink_receipt_verify(w->c, rcpt, rcpt_len, id, &info), ASYLINK_OK);
    assert_string_equal(info.recipient, "FR");
    free(rcpt);
    free(set);
}

/* Delivers FR's receipt envelope and waits until the client has acknowledged it. */
static void t_deliver_receipt(t_world *w, uint8_t *rcpt, size_t rcpt_len)
{
    size_t lens[1] = {rcpt_len};
    t_deliver(w, &rcpt, lens, 1);
    t_event(w, ASYLINK_EVENT_RECEIPT, NULL);
}

/*
 * t_sent_and_receipt() with FR's receipt (DELIVERED) sealed as FR's
 * library seals it (malloc'd into *rcpt), delivered and stored.
 */
static void t_receipt_stored(t_world *w, uint8_t id[16], uint8_t **rcpt, size_t *rcpt_len)
{
    uint8_t *set = NULL;
    size_t set_len = 0;
    t_sent_and_receipt(w, id, RECEIPT_DELIVERED, &set, &set_len);
    t_seal_receipt(w, set, set_len, NULL, rcpt, rcpt_len);
    free(set);
    t_deliver_receipt(w, *rcpt, *rcpt_len);
}

/*
 * A receipt saying the recipient refused the message (REJECTED, which
 * another implementation may send) is stored and listed as such, but
 * asylink_receipt_wait() does not take it for a delivery: it answers
 * NOT_RECIPIENT at once (the code an evidence bundle check gives it).
 */
static void test_receipt_refusal_is_not_delivery(void **state)
{
    t_world *w = *state;
    uint8_t id[16], *set = NULL, *rcpt = NULL;
    size_t set_len = 0, rcpt_len = 0;
    t_sent_and_receipt(w, id, RECEIPT_REJECTED, &set, &set_len);
    assert_int_equal(asylink_receipt_wait(w->c, id, 0), ASYLINK_E_TIMEOUT); /* none yet */
    t_seal_receipt(w, set, set_len, NULL, &rcpt, &rcpt_len);
    t_deliver_receipt(w, rcpt, rcpt_len);

    asylink_receipt_info info[2];
    size_t n = 0;
    assert_int_equal(asylink_receipts(w->c, id, info, 2, &n), ASYLINK_OK);
    assert_int_equal(n, 1);
    assert_string_equal(info[0].recipient, "FR");
    assert_int_equal(info[0].status, ASYLINK_RECEIPT_REJECTED);
    assert_int_equal(info[0].signer_revoked, 0);
    uint64_t t0 = clock_now_ms();
    assert_int_equal(asylink_receipt_wait(w->c, id, 5000), ASYLINK_E_NOT_RECIPIENT);
    assert_true(clock_now_ms() - t0 < 4000); /* known at once: no wait for the timeout */
    assert_int_equal(asylink_receipt_wait(w->c, id, 0), ASYLINK_E_NOT_RECIPIENT);
    free(rcpt);
    free(set);
}

/* FR's receipt set to DE as a signed-only direct envelope (PUBLIC, no key wrap), malloc'd. */
static void t_seal_receipt_signed_only(t_world *w, const uint8_t *set, size_t set_len,
                                       uint8_t **env, size_t *len)
{
    fx_node *fr = fx_node_by_id(w->f, "FR");
    const char *to[] = {"DE"};
    envelope_sealer *sealer = NULL;
    assert_int_equal(envelope_sealer_new(fr->keys, fr->id, fr->cert->serial, NULL, NULL, &sealer),
                     ASYLINK_OK);
    envelope_params p = {.content_type = RECEIPT_CONTENT_TYPE,
                         .recipients = to,
                         .n_recipients = 1,
                         .classification = ENVELOPE_PUBLIC};
    assert_int_equal(envelope_seal(sealer, &p, set, set_len, env, len, NULL), ASYLINK_OK);
    envelope_sealer_destroy(&sealer);
    envelope *e = NULL;
    assert_int_equal(envelope_decode(*env, *len, 0, &e), ASYLINK_OK);
    assert_int_equal(envelope_header_of(e)->encryption, ENVELOPE_ENC_NONE);
    envelope_destroy(&e);
}

/*
 * A receipt that is signed but not encrypted proves nothing a bundle could
 * show (no content key to disclose: `asylink evidence verify` refuses it)
 * and discloses which messages were acknowledged to anyone on the way:
 * refused like any other bad receipt (PROTOCOL.md 5), with
 * CLASSIFICATION: Nack{DEAD_LETTER} to the broker, RECEIVE_FAILED to the
 * application, nothing stored; asylink_receipt_verify() refuses it too.
 */
static void test_receipt_signed_only_refused(void **state)
{
    t_world *w = *state;
    uint8_t id[16], *set = NULL, *rcpt = NULL;
    size_t set_len = 0, rcpt_len = 0;
    t_sent_and_receipt(w, id, RECEIPT_DELIVERED, &set, &set_len);
    t_seal_receipt_signed_only(w, set, set_len, &rcpt, &rcpt_len);
    wire_cmd d = {.kind = WIRE_DELIVER};
    d.u.deliver.sequence = 77;
    d.u.deliver.attempt = 1;
    d.u.deliver.accepted_ms = clock_now_ms();
    t_send(w, &d, rcpt, rcpt_len);
    zmq_msg_t parts[T_PARTS];
    int k = 0;
    wire_cmd cmd;
    t_next_one(w, parts, &k, &cmd, NULL);
    assert_int_equal(cmd.kind, WIRE_NACK);
    assert_int_equal(cmd.u.ack.n_sequences, 1);
    assert_int_equal(cmd.u.ack.sequences[0], 77);
    assert_int_equal(cmd.u.ack.disposition, WIRE_NACK_DEAD_LETTER);
    assert_int_equal(cmd.u.ack.code, ASYLINK_E_CLASSIFICATION);
    assert_non_null(strstr(cmd.u.ack.reason, "not encrypted"));
    wire_cmd_clear(&cmd);
    t_close(parts, k);
    asylink_event *e = NULL;
    assert_int_equal(asylink_next_event(w->c, T_WAIT_MS, &e), ASYLINK_OK);
    assert_int_equal(asylink_event_get_type(e), ASYLINK_EVENT_RECEIVE_FAILED);
    assert_int_equal(asylink_event_code(e), ASYLINK_E_CLASSIFICATION);
    assert_string_equal(asylink_event_node(e), "FR");
    asylink_event_free(&e);

    size_t n = 1;
    assert_int_equal(asylink_receipts(w->c, id, NULL, 0, &n), ASYLINK_OK);
    assert_int_equal(n, 0);
    assert_int_equal(asylink_receipt_wait(w->c, id, 0), ASYLINK_E_TIMEOUT);
    asylink_receipt_info info;
    assert_int_equal(asylink_receipt_verify(w->c, rcpt, rcpt_len, id, &info),
                     ASYLINK_E_CLASSIFICATION);
    free(rcpt);
    free(set);
}

/*
 * A receipt stored while its signer's certificate was good, which is
 * revoked afterwards: asylink_receipt_verify() refuses its evidence
 * (REVOKED), so listing says so (signer_revoked), waiting answers REVOKED
 * rather than "every recipient has it", and an evidence export warns.
 */
static void test_receipt_signer_revoked_since(void **state)
{
    t_world *w = *state;
    uint8_t id[16], *rcpt = NULL;
    size_t rcpt_len = 0;
    t_receipt_stored(w, id, &rcpt, &rcpt_len);
    asylink_receipt_info info[2];
    size_t n = 0;
    assert_int_equal(asylink_receipts(w->c, id, info, 2, &n), ASYLINK_OK);
    assert_int_equal(n, 1);
    assert_int_equal(info[0].status, ASYLINK_RECEIPT_DELIVERED);
    assert_int_equal(info[0].signer_revoked, 0);
    assert_int_equal(asylink_receipt_wait(w->c, id, 0), ASYLINK_OK);
    assert_int_equal(asylink_receipt_verify(w->c, rcpt, rcpt_len, id, NULL), ASYLINK_OK);

    /* FR's certificate is revoked; the client reloads its trust directory. */
    t_revoke_fr(w);
    assert_int_equal(asylink_reload_trust(w->c), ASYLINK_OK);

    assert_int_equal(asylink_receipt_verify(w->c, rcpt, rcpt_len, id, NULL), ASYLINK_E_REVOKED);
    memset(info, 0, sizeof info);
    assert_int_equal(asylink_receipts(w->c, id, info, 2, &n), ASYLINK_OK);
    assert_int_equal(n, 1);
    assert_string_equal(info[0].recipient, "FR");
    assert_int_equal(info[0].status, ASYLINK_RECEIPT_DELIVERED);
    assert_int_equal(info[0].signer_revoked, 1);
    assert_int_equal(asylink_receipt_wait(w->c, id, 0), ASYLINK_E_REVOKED);

    logcap_clear(&w->log);
    char path[700];
    snprintf(path, sizeof path, "%s/bundle.zip", w->f->dir);
    assert_int_equal(asylink_evidence_export(w->c, id, path), ASYLINK_OK);
    assert_true(t_logged(w, "signer's certificate is revoked", "node=FR"));
    free(rcpt);
}

/* With the client closed: every receipt envelope kept as evidence overwritten with bytes no
   envelope has (a damaged store). */
static void t_damage_evidence(t_world *w)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, w->data_dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "evidence", 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    uint8_t junk[24];
    memset(junk, 0xee, sizeof junk);
    MDB_val k, v;
    int n = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
        MDB_val jv = {sizeof junk, junk};
        assert_int_equal(mdb_cursor_put(cur, &k, &jv, MDB_CURRENT), 0);
    }
    assert_int_equal(n, 1); /* FR's receipt */
    mdb_cursor_close(cur);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/*
 * asylink_receipt_wait() reads and decodes the receipts, and logs when one
 * cannot be checked, without holding the client's lock: the application's
 * log callback, here on the waiting thread, may take its time while other
 * threads' calls and the library's threads go on. A stored receipt
 * envelope that no longer decodes, with a revocation list to check it
 * against, makes the wait log a WARN and answer IO, as it did under the
 * lock.
 */
static void test_receipt_wait_logs_unlocked(void **state)
{
    t_world *w = *state;
    uint8_t id[16], *rcpt = NULL;
    size_t rcpt_len = 0;
    t_receipt_stored(w, id, &rcpt, &rcpt_len);
    assert_int_equal(asylink_receipt_wait(w->c, id, 0), ASYLINK_OK);
    asylink_client_close(&w->c);
    t_drain(w);
    t_revoke_fr(w);
    t_damage_evidence(w);
    t_client_open(w, w->endpoint, ASYLINK_DURABILITY_RELAXED);

    logcap_clear(&w->log);
    w->lock_thread = pthread_self();
    atomic_store(&w->lock_probing, true);
    assert_int_equal(asylink_receipt_wait(w->c, id, 0), ASYLINK_E_IO);
    assert_int_equal(asylink_receipt_wait(w->c, id, 200), ASYLINK_E_IO);
    atomic_store(&w->lock_probing, false);
    assert_true(t_logged(w, "receipts not checked against the revocation list", "code=IO"));
    assert_true(atomic_load(&w->lock_probes) >= 2);
    assert_int_equal(atomic_load(&w->lock_held), 0);
    free(rcpt);
}

/* How often a occurs in the log (read under its lock). */
static int t_count_lines(t_world *w, const char *a)
{
    int n = 0;
    pthread_mutex_lock(&w->log.lock);
    for (const char *p = w->log.text; (p = strstr(p, a)) != NULL; p += strlen(a))
        n++;
    pthread_mutex_unlock(&w->log.lock);
    return n;
}

/*
 * A broker refuses a subscription (POLICY): one WARN line says so
 * ("subscribe refused"); the broker's Error that carried it is logged at
 * DEBUG only (this client logs from INFO up), not as a second WARN.
 */
static void test_subscribe_refusal_logged_once(void **state)
{
    t_world *w = *state;
    t_open_session(w);
    /* timeout 0: sent, not waited for */
    assert_int_equal(asylink_subscribe(w->c, "coi", "coi", ASYLINK_START_NEW, 0, 0),
                     ASYLINK_E_TIMEOUT);
    zmq_msg_t parts[T_PARTS];
    int n = 0;
    wire_cmd sub;
    do { /* Credit and the like may come first */
        t_next(w, parts, &n, &sub);
        t_close(parts, n);
        if (sub.kind != WIRE_SUBSCRIBE)
            wire_cmd_clear(&sub);
    } while (sub.kind != WIRE_SUBSCRIBE);
    wire_cmd err = {.kind = WIRE_ERROR, .request_id = sub.request_id};
    err.u.error.code = ASYLINK_E_POLICY;
    snprintf(err.u.error.reason, sizeof err.u.error.reason, "not allowed to read coi");
    wire_cmd_clear(&sub);
    atomic_store(&w->lock_probe_msg, "msg=\"subscribe refused\"");
    t_send(w, &err, NULL, 0);
    t_wait_log(w, "subscribe refused", "code=POLICY");
    atomic_store(&w->lock_probe_msg, NULL);
    assert_false(logcap_has(&w->log, "warn\t", "msg=\"broker error\""));
    assert_int_equal(t_count_lines(w, "msg=\"subscribe refused\""), 1);
    /* logged by the I/O thread with the client's lock released (an application's slow
       log callback must not hold up every call) */
    assert_int_equal(atomic_load(&w->lock_probes), 1);
    assert_int_equal(atomic_load(&w->lock_held), 0);
}

/* tests/integration/slowsync.c, linked into this program (tests/CMakeLists.txt). */
void slowsync_arm(void);

/*
 * An acknowledgement that comes after the failed inbox commit of a message it
 * names (handed over while that commit ran) is refused with that commit's
 * error, and the call's other messages are handed over again, exactly as
 * when it came while the commit ran (asylink_ack_many()): it used to fail
 * with NOT_FOUND ("never received"), and the other message, stored all
 * along, was not handed over again in that process.
 */
static void test_ack_after_failed_inbox_commit(void **state)
{
    t_world *w = *state;
    t_open_session(w);
    uint8_t *env[2] = {NULL, NULL};
    size_t env_len[2] = {0, 0};
    t_seal_from_fr(w, env, env_len, 2);
    uint8_t ids[2][16];
    /* A: stored (its Ack came) and handed over, not acknowledged. */
    t_deliver(w, env, env_len, 1);
    asylink_message *m = NULL;
    assert_int_equal(asylink_recv(w->c, T_WAIT_MS, &m), ASYLINK_OK);
    memcpy(ids[0], asylink_message_id(m), 16);
    asylink_message_free(&m);
    /* B: handed over while its inbox commit's flush runs; that flush fails. */
    slowsync_arm();
    wire_cmd d = {.kind = WIRE_DELIVER};
    d.u.deliver.sequence = 62;
    d.u.deliver.attempt = 1;
    d.u.deliver.accepted_ms = clock_now_ms();
    t_send(w, &d, env[1], env_len[1]);
    assert_int_equal(asylink_recv(w->c, T_WAIT_MS, &m), ASYLINK_OK);
    memcpy(ids[1], asylink_message_id(m), 16);
    asylink_message_free(&m);
    /* The failed commit ended the session: the client says Hello again. B is not delivered
       again yet, so it is not in the inbox when A and B are acknowledged together. */
    uint64_t hello = t_hello(w, WIRE_PROTOCOL_PACKED);
    t_wait_log(w, "session ended", "local store commit failed");
    assert_int_equal(asylink_ack_many(w->c, (const uint8_t(*)[16])ids, 2), ASYLINK_E_IO);
    /* Nothing was acknowledged: A is handed over again at once ... */
    assert_int_equal(asylink_recv(w->c, T_WAIT_MS, &m), ASYLINK_OK);
    assert_memory_equal(asylink_message_id(m), ids[0], 16);
    asylink_message_free(&m);
    /* ... and B once delivered again and stored. */
    t_welcome(w, hello, WIRE_PROTOCOL_PACKED);
    for (int i = 0; i < T_WAIT_MS / 10 && t_count_lines(w, "msg=\"session opened\"") < 2; i++)
        usleep(10 * 1000); /* the second session */
    assert_int_equal(t_count_lines(w, "msg=\"session opened\""), 2);
    d.u.deliver.attempt = 2;
    t_send(w, &d, env[1], env_len[1]);
    assert_int_equal(asylink_recv(w->c, T_WAIT_MS, &m), ASYLINK_OK);
    assert_memory_equal(asylink_message_id(m), ids[1], 16);
    asylink_message_free(&m);
    assert_int_equal(asylink_ack_many(w->c, (const uint8_t(*)[16])ids, 2), ASYLINK_OK);
    assert_int_equal(asylink_recv(w->c, 300, &m), ASYLINK_E_TIMEOUT);
    free(env[0]);
    free(env[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_falls_back_to_version_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_speaks_version_2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_personal_types_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answers_not_in_flight_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acks_follow_their_commit, setup_durable, teardown),
        cmocka_unit_test_setup_teardown(test_ack_returns_after_its_commit, setup_durable, teardown),
        cmocka_unit_test_setup_teardown(test_pump_steps_over_unreadable_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_far_behind, setup_durable, teardown),
        cmocka_unit_test_setup_teardown(test_log_callback_cannot_reenter, setup_durable, teardown),
        cmocka_unit_test_setup_teardown(test_limited_readers_after_trust_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed_topic_checked_per_subscription, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_refusal_logged_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_types_reserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_refusal_is_not_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_signed_only_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_signer_revoked_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_wait_logs_unlocked, setup, teardown),
        /* (last: it arms slowsync.c for the rest of the process, inert without its variables) */
        cmocka_unit_test_setup_teardown(test_ack_after_failed_inbox_commit, setup_failing_flush,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
