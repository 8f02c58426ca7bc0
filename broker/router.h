/*
 * router.h — asylinkd's main loop: the ROUTER socket, sessions, Publish
 * checks on the verify pool, group commit, delivery, timers. The work is
 * split over router.c (loop, reading, dispatch, Hello, timers, life
 * cycle), publish.c, deliver.c, feeds.c and out.c; router_internal.h says
 * which file does what.
 *
 * One loop turn: poll; answer ZAP requests; read up to a bounded number of
 * commands; collect verified Publishes in arrival order; commit everything
 * the turns produced (publishes, acks, retries) in one store transaction
 * (durable: on the committer thread while the next turns go on, one
 * commit at a time; see publish_pipeline()); only once it returned send
 * Accepted / Rejected; deliver within each session's credit (the turn's
 * store reads share one read transaction, see store_read_begin()); run due
 * timers (heartbeats, redelivery, sweep, reload).
 *
 * Threading: everything here runs in the thread that calls router_run(),
 * except the checks, which run on the verify pool, and the group commits
 * of a durable store, which run on the committer (commit.h).
 */
#ifndef ASYLINK_BROKER_ROUTER_H
#define ASYLINK_BROKER_ROUTER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "keys.h"
#include "nofile.h"
#include "router_stats.h"
#include "store.h"
#include "view.h"

typedef struct router_options {
    const char *node_id;        /* the broker's node id */
    const char *endpoint;       /* ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:7400 */
    const char *admin_endpoint; /* operator admin endpoint (admin.h); NULL or "" = none */
    const keys_secret *keys;    /* broker keys: the CURVE secret is keys->box_sk */
    const char *trust_dir;      /* reloaded on SIGHUP */
    const char *policy_path;    /* reloaded on SIGHUP */
    uint64_t max_envelope_bytes;
    uint32_t max_in_flight;       /* Publishes being verified per session */
    uint64_t max_in_flight_bytes; /* their envelope bytes, per session */
    uint64_t max_transit_bytes;   /* envelope bytes of every session's unanswered Publishes */
    uint32_t max_recipients;
    uint32_t max_ack_batch;
    uint64_t clock_skew_future_ms;
    uint32_t max_deliveries;
    uint64_t backoff_ms, backoff_max_ms;
    uint64_t heartbeat_interval_ms, heartbeat_timeout_ms;
    uint64_t handshake_timeout_ms; /* ZMQ_HANDSHAKE_IVL of both endpoints */
    uint64_t max_session_output;   /* bytes queued towards one session (out.c) */
    uint64_t max_map_size;         /* store.max_map_size, for the status page */
    int verify_threads;            /* >= 1 */
    nofile_config nofile;          /* what the descriptor limit must cover besides the nodes,
                                      checked again after each reload (nofile.h) */
    uint64_t sweep_interval_ms;
    uint64_t dedup_window_ms;      /* store.dedup_window (a purge's tombstone lasts this long) */
    uint64_t four_eyes_timeout_ms; /* [admin] four_eyes: held requests lapse after this;
                                      0 = four-eyes off */
    bool durable;
    uint64_t sync_interval_ms;  /* relaxed durability: env sync period */
    struct metrics *metrics;    /* snapshots for HTTP, published each second; may be NULL */
    struct audit *audit;        /* audit trail (audit.h), borrowed; NULL = none */
    uint64_t cert_serial;       /* serial of the broker's own certificate */
    const struct cert *own_cert; /* the broker's own certificate, borrowed (outlives the router);
                                    NULL: its end is not watched (certwatch.h) */
    char *bound_endpoint;       /* out: the endpoint actually bound (port 0 resolved), malloc'd */
    char *bound_admin_endpoint; /* out: the admin endpoint bound, malloc'd; NULL if none */
} router_options;

typedef struct router router;

/*
 * Binds the socket (and the admin socket, if any) and starts the workers. Takes ownership of v (a
 * view reference); st is borrowed and must outlive the router. On success o->bound_endpoint is set.
 * Returns ASYLINK_OK, ASYLINK_E_IO (bind failed: errno / zmq_errno()), ASYLINK_E_NOMEM.
 */
int router_new(router_options *o, store *st, view *v, router **out);

/*
 * Whether a tcp:// endpoint (router_options.endpoint or admin_endpoint)
 * can be bound now: a socket of a ZeroMQ context of its own is bound to it
 * and closed at once, serving nothing. 0, or the errno of the failed bind
 * (EADDRINUSE: another process holds the port; EADDRNOTAVAIL: not an
 * address of this host). Other endpoints (ipc://, which ZeroMQ takes over
 * from any file at its path) are not probed: 0. A standby checks its
 * endpoints at start and before serving what it took over (main.c).
 */
int router_endpoint_probe(const char *endpoint);

/*
 * What an operator can do about err, the errno of a failed bind (of an
 * endpoint, or of the HTTP listener): for EADDRINUSE, EADDRNOTAVAIL,
 * EACCES a specific hint, for others a general one. A static string.
 */
const char *router_bind_hint(int err);

/*
 * Runs until *stop becomes nonzero, then drains: Publishes already being
 * verified are committed and answered, sessions get Bye(SHUTDOWN).
 * *reload nonzero (SIGHUP) reloads trust and policy and is reset.
 * Returns ASYLINK_OK or ASYLINK_E_IO on a fatal store or socket error.
 */
int router_run(router *r, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

/* Counters since start (router_stats.h); valid until the next router call. */
const router_stats *router_get_stats(const router *r);

/* Number of open sessions. */
size_t router_session_count(const router *r);

void router_destroy(router **self_p);

#endif
