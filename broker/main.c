/*
 * main.c — asylinkd, the asylink broker.
 *
 *   asylinkd --config broker.ini      run
 *   asylinkd --config broker.ini --standby
 *                                     run, or if another asylinkd holds the
 *                                     data directory, stand by for it
 *   asylinkd --config broker.ini --check-config
 *   asylinkd --print-example-config
 *   asylinkd --version | --help
 *
 * Logs logfmt lines to stderr (never payloads, keys or personal data).
 * SIGHUP reloads the trust directory, revocation list and policy; SIGTERM
 * and SIGINT drain and exit 0. Exit codes: 0 clean stop, 1 runtime
 * failure, 2 usage or configuration error. The options and these texts
 * are declared in cmdline.c (they also make the manual page asylinkd(8)).
 */
#include "asylink/errors.h"
#include "broker_config.h"
#include "audit.h"
#include "cert.h"
#include "clock.h"
#include "cmdline.h"
#include "file.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "nofile.h"
#include "router.h"
#include "store.h"
#include "view.h"

#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

static volatile sig_atomic_t s_stop;
static volatile sig_atomic_t s_reload;

/*
 * The HTTP port bound but not yet announced on stdout (0: none, or
 * announced). HTTP starts before the store so that a standby answers
 * /healthz, but a broker that then fails (its data directory in use, an
 * endpoint busy) must print no line at all: "http on" waits until the store
 * is ours or a standby stands by (s_announce_http). The ready line, printed
 * last once every socket is bound, is "listening on" (OPERATIONS.md
 * section 2).
 */
static uint16_t s_http_port;

static void s_on_signal(int sig)
{
    if (sig == SIGHUP)
        s_reload = 1;
    else
        s_stop = 1;
}

/* Reads the first line of a passphrase file into secure memory. */
static char *s_read_passphrase(const char *path)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!path || !*path)
        return NULL;
    if (file_read_private(path, 4096, &buf, &len) != ASYLINK_OK)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n' || buf[i] == '\r')
            buf[i] = 0;
    return (char *)buf;
}

/* What to do about keys_load()'s error rc for [broker] key ("" if nothing to say). */
static void s_key_hint(const broker_config *c, int rc, char *buf, size_t len)
{
    switch (rc) {
    case ASYLINK_E_KEY_PERMISSIONS:
    case ASYLINK_E_PASSPHRASE_REQUIRED:
        keys_file_hint(rc, "the key file", c->key,
                       "name a file holding its passphrase in [broker] key_passphrase_file", buf,
                       len);
        break;
    case ASYLINK_E_BAD_PASSPHRASE:
        snprintf(buf, len, "key_passphrase_file does not hold this key file's passphrase");
        break;
    case ASYLINK_E_NOT_FOUND: snprintf(buf, len, "no such file ([broker] key)"); break;
    case ASYLINK_E_TOO_LARGE:
        file_limit_text(file_size(c->key), KEYS_FILE_MAX, "a secret key file", buf, len);
        break;
    default: buf[0] = 0; break;
    }
}

/* Loads the broker's keys and certificate and checks they belong together. */
static int s_load_identity(const broker_config *c, keys_secret **keys, cert **own)
{
    char *pass = s_read_passphrase(c->key_passphrase_file);
    if (c->key_passphrase_file && *c->key_passphrase_file && !pass) {
        LOG_ERROR("main", "cannot read the key passphrase file", "path=%s",
                  LOG_Q(c->key_passphrase_file));
        return ASYLINK_E_IO;
    }
    int rc = keys_load(c->key, pass, keys);
    if (pass)
        file_secret_free((uint8_t *)pass, strlen(pass));
    if (rc != ASYLINK_OK) {
        /* The same fix the library and the CLI name for a node's key. */
        char hint[LOG_Q_MAX];
        s_key_hint(c, rc, hint, sizeof hint);
        if (*hint)
            LOG_ERROR("main", "cannot load the broker key", "path=%s code=%s hint=%s",
                      LOG_Q(c->key), asylink_err_name(rc), LOG_Q(hint));
        else
            LOG_ERROR("main", "cannot load the broker key", "path=%s code=%s", LOG_Q(c->key),
                      asylink_err_name(rc));
        return rc;
    }
    rc = cert_load(c->cert, own);
    if (rc != ASYLINK_OK) {
        LOG_ERROR("main", "cannot load the broker certificate", "path=%s code=%s", LOG_Q(c->cert),
                  asylink_err_name(rc));
        return rc;
    }
    if (sodium_memcmp((*own)->sign_pk, (*keys)->sign_pk, 32) != 0 ||
        sodium_memcmp((*own)->box_pk, (*keys)->box_pk, 32) != 0 ||
        strcmp((*own)->node_id, c->node_id) != 0) {
        LOG_ERROR("main", "the broker key, certificate and node_id do not belong together",
                  "node=%s", c->node_id);
        return ASYLINK_E_WRONG_KEY;
    }
    return ASYLINK_OK;
}

/* The broker's own certificate must be trusted and carry the broker role. */
static int s_check_own_cert(const view *v, const cert *own)
{
    int rc = trust_check(view_trust(v), own, clock_now_ms());
    if (rc == ASYLINK_OK && !cert_has_role(own, CERT_ROLE_BROKER))
        rc = ASYLINK_E_ROLE;
    if (rc != ASYLINK_OK)
        LOG_ERROR("main", "the broker certificate is not usable", "code=%s", asylink_err_name(rc));
    return rc;
}

static int s_threads(const broker_config *c)
{
    if (c->verify_threads > 0)
        return (int)c->verify_threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* What the descriptor limit asylinkd needs depends on besides its trust directory (nofile.h). */
static void s_nofile_config(const broker_config *c, nofile_config *nc)
{
    nc->verify_threads = s_threads(c);
    nc->http_max_connections = c->http_listen && *c->http_listen ? c->http_max_connections : 0;
}

static void s_router_options(const broker_config *c, const keys_secret *keys, router_options *o)
{
    memset(o, 0, sizeof *o);
    o->node_id = c->node_id;
    o->endpoint = c->endpoint;
    o->admin_endpoint = c->admin_endpoint;
    o->keys = keys;
    o->trust_dir = c->trust_dir;
    o->policy_path = c->policy;
    o->max_envelope_bytes = c->max_envelope_bytes;
    o->max_in_flight = (uint32_t)c->max_in_flight;
    o->max_in_flight_bytes = c->max_in_flight_bytes;
    o->max_transit_bytes = c->max_transit_bytes;
    o->max_recipients = (uint32_t)c->max_recipients;
    o->max_ack_batch = (uint32_t)c->max_ack_batch;
    o->clock_skew_future_ms = c->clock_skew_future_ms;
    o->max_deliveries = (uint32_t)c->max_deliveries;
    o->backoff_ms = c->redelivery_backoff_ms;
    o->backoff_max_ms = c->redelivery_backoff_max_ms;
    o->heartbeat_interval_ms = c->heartbeat_interval_ms;
    o->heartbeat_timeout_ms = c->heartbeat_timeout_ms;
    o->handshake_timeout_ms = c->handshake_timeout_ms;
    o->max_session_output = c->max_session_output;
    o->max_map_size = c->max_map_size;
    o->verify_threads = s_threads(c);
    s_nofile_config(c, &o->nofile);
    o->sweep_interval_ms = c->sweep_interval_ms;
    o->dedup_window_ms = c->dedup_window_ms;
    o->four_eyes_timeout_ms = c->four_eyes ? c->four_eyes_timeout_ms : 0;
    o->durable = c->durability == BROKER_DURABILITY_FSYNC;
    o->sync_interval_ms = c->sync_interval_ms;
}

static void s_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/*
 * Raises the descriptor limit towards limits.max_open_files (never beyond
 * the hard limit) and logs what it got: a limit below what the
 * configuration needs (not max_open_files, which is a ceiling to raise
 * towards, so that a hard limit of 20,000 is not warned about at every
 * start) is a warning saying what it needs and how to raise it, not an
 * error. Each reload of the trust directory checks it again (router.c).
 */
static void s_raise_nofile(const broker_config *c, size_t nodes)
{
    nofile_config nc;
    s_nofile_config(c, &nc);
    nofile_raise((uint64_t)c->max_open_files);
    (void)nofile_check("main", &nc, nodes, true);
}

/* The HTTP server's limits from [http]. */
static void s_http_limits(const broker_config *c, http_limits *l)
{
    memset(l, 0, sizeof *l);
    l->max_connections = (unsigned)c->http_max_connections;
    l->max_per_address = (unsigned)c->http_max_per_address;
    l->request_timeout_s = (unsigned)((c->http_request_timeout_ms + 999) / 1000);
    snprintf(l->exempt, sizeof l->exempt, "%s", c->http_exempt_address);
}

/*
 * Store options from the configuration. standby: open only an existing
 * store (a standby creates none); wait: wait for the locks until a stop
 * signal.
 */
static store_options s_store_options(const broker_config *c, bool standby, bool wait)
{
    store_options so = {.dir = c->data_dir,
                        .map_size = c->map_size,
                        .max_map_size = c->max_map_size,
                        .durable = c->durability == BROKER_DURABILITY_FSYNC,
                        .dedup_window_ms = c->dedup_window_ms,
                        .wait_stop = wait ? &s_stop : NULL,
                        .existing_only = standby};
    return so;
}

/*
 * The trust and policy as they are at takeover: a standby may have waited
 * for days, and the active broker may have recorded a newer revocation
 * list in the store meanwhile. If they no longer load, the ones loaded at
 * start stay (logged), as a failed SIGHUP reload would leave them.
 */
static void s_reload_view(const broker_config *c, view **v)
{
    char err[512];
    view *fresh = NULL;
    if (view_load(c->trust_dir, c->policy, &fresh, err, sizeof err) != ASYLINK_OK) {
        LOG_WARN("main", "cannot reload trust and policy at takeover; using those loaded at start",
                 "error=%s", LOG_Q(err));
        return;
    }
    view_unref(v);
    *v = fresh;
    s_reload = 0; /* a SIGHUP while standing by is answered by this load */
    nofile_config nc;
    s_nofile_config(c, &nc);
    (void)nofile_check("main", &nc, trust_count(view_trust(fresh)), false);
}

/* Prints the "http on" line once, if HTTP is on. */
static void s_announce_http(const broker_config *c)
{
    if (!s_http_port)
        return;
    printf("asylinkd %s http on %.*s:%u\n", asylink_version(),
           (int)(strrchr(c->http_listen, ':') - c->http_listen), c->http_listen, s_http_port);
    fflush(stdout);
    s_http_port = 0;
}

/* How often a standby that found no store repeats its ERROR, in milliseconds. */
#define S_NO_STORE_LOG_MS 60000

/* How often a standby that found no store looks for an asylinkd serving one, in ms. */
#define S_NO_STORE_POLL_MS 100

/* The ERROR of a standby that found no store at data_dir (why: store_absent_reason()). */
static void s_log_no_store(const broker_config *c, const char *why)
{
    char data[LOG_Q_MAX];
    snprintf(data, sizeof data, "%s/data.mdb", c->data_dir);
    LOG_ERROR("main",
              "standby refuses to take over: no store in the data directory; standing by until "
              "an asylinkd serves one there",
              "data_dir=%s path=%s reason=%s code=%s hint=%s", LOG_Q(c->data_dir), LOG_Q(data),
              LOG_Q(why ? why : "it vanished while taking it over"),
              asylink_err_name(ASYLINK_E_NOT_FOUND),
              LOG_Q("a standby never creates a store: put the data directory back (or mount "
                    "its file system) and start the active asylinkd on it, this one then "
                    "stands by for it; for a new store, start asylinkd without --standby"));
}

/*
 * A standby that found no store at data_dir (moved aside for a restore,
 * its file system not mounted, never created): it creates none, and does
 * not take over the first data.mdb that appears either (a restore copying
 * one into place would be taken half-written), but waits until an asylinkd
 * holds the directory again (one an operator started on the restored or
 * mounted store) and a data.mdb is there, logging ERROR at once and
 * every minute meanwhile, with the role "standby-no-store" (/healthz).
 * ASYLINK_OK then (stand by for it), ASYLINK_E_SHUTDOWN on a stop signal.
 */
static int s_wait_for_store(const broker_config *c, metrics *m)
{
    uint64_t logged = 0;
    bool first = true;
    if (m) /* /healthz "standby-no-store": not a standby that could take over */
        metrics_set_role(m, METRICS_ROLE_STANDBY_NO_STORE, c->node_id, clock_now_ms());
    while (!s_stop) {
        const char *absent = store_absent_reason(c->data_dir);
        if (!absent && store_in_use(c->data_dir)) {
            LOG_INFO("main", "an asylinkd holds the data directory again; standing by for it",
                     "data_dir=%s", LOG_Q(c->data_dir));
            if (m)
                metrics_set_role(m, METRICS_ROLE_STANDBY, c->node_id, clock_now_ms());
            return ASYLINK_OK;
        }
        uint64_t now = clock_now_ms();
        if (first || now - logged >= S_NO_STORE_LOG_MS) {
            s_log_no_store(c, absent);
            logged = now;
            first = false;
        }
        struct timespec ts = {0, S_NO_STORE_POLL_MS * 1000000L};
        nanosleep(&ts, NULL); /* EINTR (a signal) only shortens the wait */
    }
    return ASYLINK_E_SHUTDOWN;
}

/* A standby starts standing by: role, log line, "http on" and "standing by for" lines. */
static void s_stand_by(const broker_config *c, metrics *m, int rc)
{
    if (m)
        metrics_set_role(m, METRICS_ROLE_STANDBY, c->node_id, clock_now_ms());
    if (rc == ASYLINK_E_EXISTS)
        LOG_INFO("main",
                 "standing by: the data directory is in use by another asylinkd; taking "
                 "over when its lock is released",
                 "data_dir=%s", LOG_Q(c->data_dir));
    s_announce_http(c); /* a standby is ready to answer /healthz now */
    printf("asylinkd %s standing by for %s\n", asylink_version(), c->data_dir);
    fflush(stdout);
}

/*
 * Stands by until the store is ours: the data directory held by another
 * asylinkd is waited for (HTTP answers "standby" meanwhile), and one
 * without a store is never taken over (s_wait_for_store). The flock stays
 * the guard: the environment is opened only once it is ours.
 */
static int s_stand_by_for_store(const broker_config *c, metrics *m, int rc, store **st)
{
    uint64_t since = clock_now_ms();
    s_stand_by(c, m, rc);
    while (rc == ASYLINK_E_EXISTS || rc == ASYLINK_E_NOT_FOUND) {
        if (rc == ASYLINK_E_NOT_FOUND && (rc = s_wait_for_store(c, m)) != ASYLINK_OK)
            break;
        store_options so = s_store_options(c, true, true);
        rc = store_open(&so, st);
    }
    if (rc == ASYLINK_E_SHUTDOWN) {
        LOG_INFO("main", "stopped while standing by", "data_dir=%s", LOG_Q(c->data_dir));
        return rc;
    }
    if (rc == ASYLINK_OK)
        LOG_INFO("main", "taking over the data directory", "data_dir=%s waited_ms=%llu",
                 LOG_Q(c->data_dir), (unsigned long long)(clock_now_ms() - since));
    if (m)
        metrics_set_role(m, METRICS_ROLE_ACTIVE, c->node_id, clock_now_ms());
    return rc;
}

/*
 * Opens the store. With standby, only an existing one, and a data
 * directory held by another asylinkd, or holding no store, is stood by
 * for (s_stand_by_for_store) instead of refused.
 */
static int s_open_store(const broker_config *c, bool standby, metrics *m, view **v, store **st)
{
    store_options so = s_store_options(c, standby, false);
    int rc = store_open(&so, st);
    if (standby && (rc == ASYLINK_E_EXISTS || rc == ASYLINK_E_NOT_FOUND)) {
        rc = s_stand_by_for_store(c, m, rc, st);
        if (rc == ASYLINK_E_SHUTDOWN)
            return rc;
        if (rc == ASYLINK_OK)
            s_reload_view(c, v);
    }
    if (rc != ASYLINK_OK)
        LOG_ERROR("main",
                  rc == ASYLINK_E_EXISTS ? "data directory is in use by another asylinkd (start "
                                           "it with --standby to wait for it)"
                                         : "cannot open the store",
                  "data_dir=%s code=%s", LOG_Q(c->data_dir), asylink_err_name(rc));
    return rc;
}

/* How often a standby that took over retries an endpoint it cannot bind, in milliseconds. */
#define S_ENDPOINT_RETRY_MS 1000

/*
 * The first of the broker's tcp endpoints (endpoint, admin_endpoint) that
 * cannot be bound now (router_endpoint_probe()), into *endpoint and its
 * errno; 0 when both can.
 */
static int s_endpoints_probe(const broker_config *c, const char **endpoint)
{
    const char *eps[] = {c->endpoint, c->admin_endpoint};
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        int err = eps[i] && *eps[i] ? router_endpoint_probe(eps[i]) : 0;
        if (err) {
            *endpoint = eps[i];
            return err;
        }
    }
    return 0;
}

/*
 * A standby binds its endpoints only when it takes over, maybe days later:
 * at start it checks that it could (nothing else holds the port, the
 * address is this host's), and refuses to start if not, rather than stand
 * by and leave no broker at the takeover.
 */
static int s_check_endpoints(const broker_config *c)
{
    const char *ep = NULL;
    int err = s_endpoints_probe(c, &ep);
    if (!err)
        return ASYLINK_OK;
    LOG_ERROR("main", "standby refuses to start: its endpoint cannot be bound",
              "endpoint=%s error=%s code=%s hint=%s", LOG_Q(ep), LOG_Q(zmq_strerror(err)),
              asylink_err_name(ASYLINK_E_IO),
              LOG_Q("another process holds that address (ss -ltnp shows which), or it is not "
                    "this host's; each broker of a pair needs its own endpoint and "
                    "admin_endpoint"));
    return ASYLINK_E_IO;
}

/*
 * Before a standby serves the data directory it took over: while an
 * endpoint cannot be bound (another process took the port while it stood
 * by), it keeps the data directory (its locks stay held: no other asylinkd
 * opens it meanwhile) and tries again every second, logging an ERROR each
 * time, with the role "endpoint-busy" (/healthz), instead of exiting and
 * leaving no broker. ASYLINK_OK once both can be bound, ASYLINK_E_SHUTDOWN
 * on a stop signal.
 */
static int s_wait_for_endpoints(const broker_config *c, metrics *m)
{
    const char *ep = NULL;
    int err = s_endpoints_probe(c, &ep);
    if (!err)
        return ASYLINK_OK;
    uint64_t since = clock_now_ms();
    if (m)
        metrics_set_role(m, METRICS_ROLE_ENDPOINT_BUSY, c->node_id, since);
    while (err && !s_stop) {
        LOG_ERROR("main",
                  "took over the data directory but cannot bind the endpoint; holding the data "
                  "directory and trying again every second",
                  "endpoint=%s error=%s code=%s hint=%s", LOG_Q(ep), LOG_Q(zmq_strerror(err)),
                  asylink_err_name(ASYLINK_E_IO),
                  LOG_Q("another process took that address while this broker stood by (ss "
                        "-ltnp shows which): stop it"));
        for (int i = 0; i < S_ENDPOINT_RETRY_MS / S_NO_STORE_POLL_MS && !s_stop; i++) {
            struct timespec ts = {0, S_NO_STORE_POLL_MS * 1000000L};
            nanosleep(&ts, NULL); /* EINTR (a signal) only shortens the wait */
        }
        err = s_endpoints_probe(c, &ep);
    }
    if (err) {
        LOG_INFO("main", "stopped while waiting for the endpoint", "endpoint=%s", LOG_Q(ep));
        return ASYLINK_E_SHUTDOWN;
    }
    LOG_INFO("main", "the endpoint can be bound again; serving", "waited_ms=%llu",
             (unsigned long long)(clock_now_ms() - since));
    if (m)
        metrics_set_role(m, METRICS_ROLE_ACTIVE, c->node_id, clock_now_ms());
    return ASYLINK_OK;
}

/*
 * Starts the HTTP server (before the store: a standby answers /healthz too);
 * its line is printed later, by s_announce_http().
 */
static int s_start_http(const broker_config *c, metrics *m, http_server **http)
{
    uint16_t port = 0;
    http_limits lim;
    s_http_limits(c, &lim);
    int rc = http_start(c->http_listen, &lim, m, http, &port);
    int err = rc == ASYLINK_E_IO ? http_listen_probe(c->http_listen) : 0;
    if (err) {
        char fix[512];
        snprintf(fix, sizeof fix, "%s ([http] listen)", router_bind_hint(err));
        LOG_ERROR("main", "cannot bind the HTTP listen address",
                  "listen=%s error=%s code=%s hint=%s", LOG_Q(c->http_listen), LOG_Q(strerror(err)),
                  asylink_err_name(rc), LOG_Q(fix));
    } else if (rc != ASYLINK_OK) {
        LOG_ERROR(
            "main", "cannot serve HTTP", "listen=%s code=%s error=%s", LOG_Q(c->http_listen),
            asylink_err_name(rc),
            LOG_Q(rc == ASYLINK_E_IO ? "cannot start the HTTP server" : asylink_strerror(rc)));
    }
    if (rc != ASYLINK_OK)
        return rc;
    s_http_port = port;
    return ASYLINK_OK;
}

/* Opens the audit trail in st unless [audit] enabled = false (*out stays NULL then). */
static int s_audit_open(const broker_config *c, const keys_secret *keys, uint64_t serial, store *st,
                        audit **out)
{
    *out = NULL;
    if (!c->audit_enabled) {
        LOG_WARN("main", "audit trail disabled", "config=%s", LOG_Q("[audit] enabled = false"));
        /* the next broker with the trail on this store records that this one ran without */
        int rc = audit_mark_unaudited(st, clock_now_ms());
        if (rc != ASYLINK_OK)
            LOG_ERROR("main", "cannot mark the store as served without the audit trail", "code=%s",
                      asylink_err_name(rc));
        return rc;
    }
    audit_options ao = {.broker_node_id = c->node_id,
                        .cert_serial = serial,
                        .sign_sk = keys->sign_sk,
                        .sign_pk = keys->sign_pk,
                        .checkpoint_entries = (uint64_t)c->audit_checkpoint_entries,
                        .checkpoint_interval_ms = c->audit_checkpoint_interval_ms,
                        .retention_ms = c->audit_retention_ms};
    return audit_open(st, &ao, out);
}

/* Builds the router on the open store (it takes v, also on failure) and runs it. */
static int s_run_router(const broker_config *c, const keys_secret *keys, const cert *own,
                        metrics *m, audit *au, store *st, view *v)
{
    router_options o;
    s_router_options(c, keys, &o);
    o.metrics = m;
    o.audit = au;
    o.cert_serial = own->serial;
    o.own_cert = own;
    router *r = NULL;
    int rc = router_new(&o, st, v, &r);
    if (rc == ASYLINK_OK) {
        /* Every socket is bound by now: "listening on" comes last and means ready. */
        s_announce_http(c);
        if (o.bound_admin_endpoint)
            printf("asylinkd %s admin on %s\n", asylink_version(), o.bound_admin_endpoint);
        printf("asylinkd %s listening on %s\n", asylink_version(), o.bound_endpoint);
        fflush(stdout);
        rc = router_run(r, &s_stop, &s_reload);
    }
    router_destroy(&r);
    return rc;
}

/*
 * Serves until a signal stops us: HTTP, then the store (standing by for it
 * if asked), the audit trail, then the router.
 */
static int s_serve(const broker_config *c, const keys_secret *keys, const cert *own, view *v,
                   bool standby)
{
    /* Snapshots walk every queue: only made when someone can read them. */
    bool serve_http = c->http_listen && *c->http_listen;
    metrics *m = serve_http ? metrics_new() : NULL;
    http_server *http = NULL;
    store *st = NULL;
    audit *au = NULL;
    int rc = serve_http && !m ? ASYLINK_E_NOMEM : ASYLINK_OK;
    if (m) {
        metrics_set_role(m, METRICS_ROLE_ACTIVE, c->node_id, clock_now_ms());
        rc = s_start_http(c, m, &http);
    }
    if (rc == ASYLINK_OK && standby)
        rc = s_check_endpoints(c);
    if (rc == ASYLINK_OK)
        rc = s_open_store(c, standby, m, &v, &st);
    if (rc == ASYLINK_OK)
        rc = s_audit_open(c, keys, own->serial, st, &au);
    char err[512];
    if (rc == ASYLINK_OK && (rc = view_remember_crl(v, st, err, sizeof err)) != ASYLINK_OK)
        LOG_ERROR("main", "refusing the trust directory", "code=%s error=%s", asylink_err_name(rc),
                  LOG_Q(err));
    if (rc == ASYLINK_OK && standby)
        rc = s_wait_for_endpoints(c, m);
    if (rc == ASYLINK_OK)
        rc = s_run_router(c, keys, own, m, au, st, v);
    else
        view_unref(&v);
    http_stop(&http);
    metrics_destroy(&m);
    audit_close(&au);
    store_close(&st);
    return rc;
}

/* --print-example-config, --version, --help: the actions that need no configuration. */
static int s_print(const broker_cmdline *cl)
{
    switch (cl->action) {
    case BROKER_CMDLINE_PRINT_EXAMPLE:
        return config_write_example(stdout, broker_config_options, broker_config_options_len) == 0
                   ? 0
                   : 1;
    case BROKER_CMDLINE_VERSION: printf("asylinkd %s\n", asylink_version()); return 0;
    case BROKER_CMDLINE_HELP: broker_cmdline_usage(stdout); return 0;
    default: return -1;
    }
}

int main(int argc, char **argv)
{
    broker_cmdline cl;
    int code = broker_cmdline_parse(argc, argv, &cl);
    if (code == 0)
        code = s_print(&cl);
    if (code >= 0)
        return code;
    if (sodium_init() < 0)
        return 1;
    /* Large envelopes (up to max_envelope_bytes) pass through several buffers: ZeroMQ's,
       LMDB's dirty pages, an answer's frame. glibc raises its mmap threshold to the largest
       block freed, so after the first large message such blocks come from the heap, and what
       is freed there stays resident: a burst of 4 MiB messages left 30-50 MiB more RSS than
       the live data (bench w5: 82-90 MiB at the peak). A fixed threshold keeps blocks from
       1 MiB up mapped, so freeing one returns it (w5: 48-51 MiB). Fixing it also fixes the
       trim threshold, at 128 KiB unless set: the heaps of ordinary messages were then trimmed
       and grown again all the time (about 10 % more CPU in `capacity`); at 8 MiB they are
       not (DESIGN-CHANGES 48). */
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
    broker_config c;
    memset(&c, 0, sizeof c);
    char err[1024];
    if (broker_config_load(cl.config, &c, err, sizeof err) != ASYLINK_OK) {
        fprintf(stderr, "asylinkd: %s\n", err);
        return 2;
    }
    log_set_level((log_level)c.log_level);
    keys_secret *keys = NULL;
    cert *own = NULL;
    view *v = NULL;
    code = 2;
    if (s_load_identity(&c, &keys, &own) != ASYLINK_OK)
        goto cleanup;
    if (view_load(c.trust_dir, c.policy, &v, err, sizeof err) != ASYLINK_OK) {
        LOG_ERROR("main", "cannot load trust and policy", "error=%s", LOG_Q(err));
        goto cleanup;
    }
    if (s_check_own_cert(v, own) != ASYLINK_OK)
        goto cleanup;
    if (cl.action == BROKER_CMDLINE_CHECK) {
        printf("asylinkd: configuration OK (%s, %zu node certificates)\n", c.node_id,
               trust_count(view_trust(v)));
        code = 0;
        goto cleanup;
    }
    s_signals();
    s_raise_nofile(&c, trust_count(view_trust(v)));
    int rc = s_serve(&c, keys, own, v, cl.standby || c.standby);
    code = rc == ASYLINK_OK || rc == ASYLINK_E_SHUTDOWN ? 0 : 1;
    v = NULL; /* owned by the router now */
cleanup:
    view_unref(&v);
    cert_destroy(&own);
    keys_destroy(&keys);
    broker_config_free(&c);
    return code;
}
