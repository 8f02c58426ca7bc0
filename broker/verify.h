/*
 * verify.h — the pool of threads that check Publishes.
 *
 * Ed25519 verification costs 50-90 us per message, most of the broker's CPU,
 * so it runs on worker threads while the router thread keeps reading the
 * socket and committing (at low load, a small job or two with none at the
 * workers is verified on the router's thread instead: verify_pool_flush).
 * The envelopes of a batch (PROTOCOL.md 4.10) share one signature: the
 * workers share the view's verified-root cache, so the first envelope of a
 * batch pays the verification and the others a hash
 * walk, which each worker shortens with its own cache of the batch's
 * nodes (batch.h batch_cache: a walk stops at a known node whose known
 * siblings the proof repeats). The router submits jobs in arrival order (each
 * with an arrival number); workers finish them in any order; the router
 * puts the results back in arrival order before the store sees them, so
 * per-sender FIFO holds.
 *
 * Jobs travel as pointers over inproc PUSH/PULL sockets, up to
 * VERIFY_CHUNK of them in one frame (one hand-off and one wake-up per
 * chunk, not per job); a job is owned by whoever holds the pointer: the
 * pool from submit, a worker until it sends the result, the router again
 * after verify_pool_take().
 */
#ifndef ASYLINK_BROKER_VERIFY_H
#define ASYLINK_BROKER_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "cert.h"
#include "envelope.h"
#include "view.h"

#define VERIFY_CHUNK 16 /* jobs handed to a worker at once */
/* A flush of at most this many jobs, none at the workers, each envelope at most
   VERIFY_INLINE_BYTES, is verified on the router's thread (verify_pool_flush). */
#define VERIFY_INLINE_MAX 2
#define VERIFY_INLINE_BYTES (64 * 1024) /* larger: decoding and hashing would stall the loop */
#define VERIFY_NICE_STEPS 5 /* the workers' nice value above the broker's (thread_lower_priority) */

/*
 * What the router needs of a checked envelope once the worker has freed its
 * decoded form (about 2.5 KiB of arena per 1 KiB message, held for every
 * Publish in flight otherwise): one allocation, the strings inside it.
 */
typedef struct verify_summary {
    uint8_t digest[ENVELOPE_DIGEST_LEN]; /* envelope digest (PROTOCOL.md 4.5) */
    int classification;                  /* enum envelope_class */
    uint64_t sender_cert_serial;         /* Header.sender_cert_serial */
    const char *topic;                   /* "" for a direct message */
    const char *const *recipients;       /* direct recipients, n_recipients of them */
    size_t n_recipients;
} verify_summary;

/* One Publish to check. */
typedef struct verify_job {
    /* set by the router */
    uint64_t arrival;              /* arrival number: commit order */
    uint64_t session_id;           /* router session that sent it */
    char node_id[NODE_ID_MAX + 1]; /* authenticated sender (ZAP identity) */
    uint8_t message_id[16];        /* from the Publish command */
    zmq_msg_t envelope;            /* the envelope frame, owned */
    view *view;                    /* trust + policy reference, owned */
    uint64_t now_ms;               /* broker clock at arrival */
    uint64_t max_envelope_bytes;   /* limit */
    uint64_t clock_skew_future_ms; /* how far created_ms may be ahead */
    uint32_t max_recipients;       /* most direct recipients accepted */
    /* set by the worker */
    int code;                       /* ASYLINK_OK or why it is rejected */
    char reason[160];               /* human reason, never payload data */
    verify_summary *sum;            /* the checked envelope's fields (when code is OK) */
    uint64_t expires_ms;            /* expiry the store keeps (policy caps applied) */
    struct verify_job *next_failed; /* pool-internal: list of jobs back without a worker */
} verify_job;

/* Runs every check on one job; public for tests. */
void verify_job_run(verify_job *j);

/* The same with a batch walk cache (batch.h; NULL: none), what a worker does with its own. */
void verify_job_run_cached(verify_job *j, batch_cache *cache);

/* Frees a job and what it owns. Accepts NULL. */
void verify_job_destroy(verify_job **self_p);

typedef struct verify_pool verify_pool;

/* Starts n worker threads (n >= 1) in ctx. ASYLINK_OK or ASYLINK_E_IO / E_NOMEM. */
int verify_pool_new(void *ctx, int n, verify_pool **out);

/* Stops and joins the workers; jobs still queued are destroyed. Accepts NULL. */
void verify_pool_destroy(verify_pool **self_p);

/*
 * Hands a job to the workers (takes ownership). Jobs go out in chunks of
 * VERIFY_CHUNK; call verify_pool_flush() once the jobs at hand are
 * submitted (the router: after each read of its socket). A chunk that
 * cannot be sent comes back from verify_pool_take() with code
 * ASYLINK_E_UNAVAILABLE.
 */
void verify_pool_submit(verify_pool *p, verify_job *job);

/*
 * Sends the jobs submitted and not sent yet; or, when no job is at the
 * workers and at most VERIFY_INLINE_MAX are at hand, none larger than
 * VERIFY_INLINE_BYTES, verifies them on the calling (router) thread, ready
 * for verify_pool_take() at once: at low load two thread hand-offs cost
 * more than the check.
 */
void verify_pool_flush(verify_pool *p);

/* The socket to poll for finished jobs (ZMQ_POLLIN). */
void *verify_pool_socket(verify_pool *p);

/* Jobs sent to the workers and not taken back yet (router thread). */
size_t verify_pool_at_workers(const verify_pool *p);

/* A finished job, or NULL if none is ready (never blocks). */
verify_job *verify_pool_take(verify_pool *p);

#endif
