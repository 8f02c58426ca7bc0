/*
 * verify.c — Publish checks and the worker threads that run them.
 */
#include "verify.h"

#include "asylink/errors.h"
#include "clock.h"
#include "policy.h"
#include "thread.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOBS_ENDPOINT "inproc://asylink-verify-jobs"
#define DONE_ENDPOINT "inproc://asylink-verify-done"

struct verify_pool {
    void *ctx;
    void *jobs; /* PUSH, router side */
    void *done; /* PULL, router side */
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t lock; /* guards exited */
    pthread_cond_t exited_cond;
    int exited; /* workers that have left their loop */
    /* router side: */
    verify_job *out[VERIFY_CHUNK]; /* jobs submitted, not sent yet */
    size_t n_out;
    verify_job *in[VERIFY_CHUNK]; /* a finished chunk being taken */
    size_t n_in, next_in;
    size_t sent;        /* jobs at the workers: sent, not taken back yet */
    batch_cache *cache; /* the router thread's own, for the jobs it verifies itself */
    verify_job *back;   /* jobs back without a worker (list by ->next_failed): verified on the
                           router's thread, or refused because their chunk could not be sent */
};

/* Records why the job failed; returns the code. */
static int s_fail(verify_job *j, int code, const char *what)
{
    j->code = code;
    snprintf(j->reason, sizeof j->reason, "%s", what);
    return code;
}

/* Direct recipients: each known, usable, and allowed by policy. */
static int s_check_recipients(verify_job *j, const envelope_header *h, const cert *sender)
{
    const trust *t = view_trust(j->view);
    char why[160];
    for (size_t i = 0; i < h->n_recipients; i++) {
        const cert *r = NULL;
        int rc = trust_lookup(t, h->recipients[i], j->now_ms, ASYLINK_E_UNKNOWN_RECIPIENT, &r);
        if (rc != ASYLINK_OK) {
            snprintf(why, sizeof why, "recipient %s: %s", h->recipients[i], asylink_strerror(rc));
            return s_fail(j, rc, why);
        }
        if (policy_check_direct(view_policy(j->view), sender->roles, r->roles, h->classification) !=
            ASYLINK_OK) {
            snprintf(why, sizeof why, "policy forbids %s messages from %s to %s",
                     envelope_class_name(h->classification), h->sender, h->recipients[i]);
            return s_fail(j, ASYLINK_E_POLICY, why);
        }
    }
    return ASYLINK_OK;
}

/*
 * A feed publish: no recipients, never PERSONAL, and policy lets one of the
 * sender's roles publish on the topic at this classification. Which
 * readers the key is wrapped to is the sender's choice (from a Directory
 * answer); the broker does not check it.
 */
/* policy_node_known_fn over the job's trust. */
static bool s_node_known(void *ctx, const char *node_id)
{
    return trust_find(ctx, node_id) != NULL;
}

static int s_check_topic(verify_job *j, const envelope_header *h, const cert *sender)
{
    char why[160];
    if (h->n_recipients != 0)
        return s_fail(j, ASYLINK_E_BAD_FIELD, "a feed message has no direct recipients");
    if (h->classification == ENVELOPE_PERSONAL)
        return s_fail(j, ASYLINK_E_CLASSIFICATION,
                      "PERSONAL messages are never published to feeds");
    if (policy_check_publish(view_policy(j->view), sender->roles, sender->node_id, h->topic,
                             h->classification, s_node_known,
                             (void *)view_trust(j->view)) != ASYLINK_OK) {
        snprintf(why, sizeof why, "policy forbids %s to publish %s messages on %.64s", h->sender,
                 envelope_class_name(h->classification), h->topic);
        return s_fail(j, ASYLINK_E_POLICY, why);
    }
    return ASYLINK_OK;
}

/* The fields the router keeps of e (verify_summary), in one allocation; NULL: out of memory. */
static verify_summary *s_summary(const envelope *e)
{
    const envelope_header *h = envelope_header_of(e);
    size_t tlen = strlen(h->topic) + 1, names = tlen;
    for (size_t i = 0; i < h->n_recipients; i++)
        names += strlen(h->recipients[i]) + 1;
    size_t ptrs = h->n_recipients * sizeof(char *);
    verify_summary *m = malloc(sizeof *m + ptrs + names);
    if (!m)
        return NULL;
    const char **rs = (const char **)(void *)(m + 1);
    char *at = (char *)(m + 1) + ptrs;
    memcpy(m->digest, envelope_digest(e), sizeof m->digest);
    m->classification = h->classification;
    m->sender_cert_serial = h->sender_cert_serial;
    m->n_recipients = h->n_recipients;
    m->recipients = rs;
    memcpy(at, h->topic, tlen);
    m->topic = at;
    at += tlen;
    for (size_t i = 0; i < h->n_recipients; i++) {
        size_t n = strlen(h->recipients[i]) + 1;
        memcpy(at, h->recipients[i], n);
        rs[i] = at;
        at += n;
    }
    return m;
}

/* Every check of an envelope decoded into *e, in the order of docs/PROTOCOL.md. */
static int s_check_envelope(verify_job *j, batch_cache *cache, envelope **e)
{
    const uint8_t *data = zmq_msg_data(&j->envelope);
    size_t len = zmq_msg_size(&j->envelope);
    const cert *sender = NULL;
    char why[160];
    int rc = envelope_decode_cached(data, len, j->max_envelope_bytes, cache, e);
    if (rc == ASYLINK_OK) {
        const envelope_header *h = envelope_header_of(*e);
        if (memcmp(h->message_id, j->message_id, 16) != 0)
            return s_fail(j, ASYLINK_E_BAD_FIELD,
                          "Publish message_id differs from the signed header");
        if (strcmp(h->sender, j->node_id) != 0) {
            snprintf(why, sizeof why, "envelope sender %s is not the authenticated node %s",
                     h->sender, j->node_id);
            return s_fail(j, ASYLINK_E_FORGED_SENDER, why);
        }
        rc = envelope_verify_cached(*e, view_trust(j->view), view_rootcache(j->view), j->now_ms,
                                    &sender);
    }
    if (rc != ASYLINK_OK) {
        snprintf(why, sizeof why, "envelope: %s", asylink_strerror(rc));
        return s_fail(j, rc, why);
    }
    const envelope_header *h = envelope_header_of(*e);
    if (h->created_ms > j->now_ms + j->clock_skew_future_ms)
        return s_fail(j, ASYLINK_E_CLOCK_SKEW, "created_ms is ahead of the broker clock");
    if (h->classification != ENVELOPE_PERSONAL && envelope_type_personal(h->content_type)) {
        snprintf(why, sizeof why, "%s carries personal data and must travel as PERSONAL",
                 h->content_type);
        return s_fail(j, ASYLINK_E_CLASSIFICATION, why);
    }
    if (h->topic[0]) {
        rc = s_check_topic(j, h, sender);
        if (rc != ASYLINK_OK)
            return rc;
    } else {
        if (h->n_recipients == 0)
            return s_fail(j, ASYLINK_E_BAD_FIELD, "neither recipients nor a topic");
        if (h->n_recipients > j->max_recipients)
            return s_fail(j, ASYLINK_E_TOO_LARGE, "more recipients than this broker accepts");
        rc = s_check_recipients(j, h, sender);
        if (rc != ASYLINK_OK)
            return rc;
    }
    j->expires_ms =
        policy_retention_cap(view_policy(j->view), h->classification, h->created_ms, h->expires_ms);
    if (j->expires_ms != 0 && j->expires_ms <= j->now_ms)
        return s_fail(j, ASYLINK_E_EXPIRED, "message expires before it could be stored");
    return s_fail(j, ASYLINK_OK, "");
}

/* Every check; the decoded envelope is freed here, what the router needs kept in j->sum. */
static void s_checks(verify_job *j, batch_cache *cache)
{
    envelope *e = NULL;
    if (s_check_envelope(j, cache, &e) == ASYLINK_OK && !(j->sum = s_summary(e)))
        s_fail(j, ASYLINK_E_NOMEM, "out of memory");
    envelope_destroy(&e);
}

void verify_job_run(verify_job *j)
{
    s_checks(j, NULL);
}

void verify_job_run_cached(verify_job *j, batch_cache *cache)
{
    s_checks(j, cache);
}

void verify_job_destroy(verify_job **self_p)
{
    if (!self_p || !*self_p)
        return;
    verify_job *j = *self_p;
    zmq_msg_close(&j->envelope);
    free(j->sum);
    view_unref(&j->view);
    free(j);
    *self_p = NULL;
}

/* Sends a chunk of n job pointers (n == 0: the stop message) as one frame. */
static int s_send_chunk(void *sock, verify_job *const *jobs, size_t n, int flags)
{
    size_t len = n * sizeof *jobs;
    return zmq_send(sock, n ? (const void *)jobs : "", len, flags) == (int)len ? 0 : -1;
}

/* Receives a chunk into jobs[VERIFY_CHUNK]; its count, or -1 (nothing, or an error). */
static int s_recv_chunk(void *sock, int flags, verify_job **jobs)
{
    int len = zmq_recv(sock, jobs, VERIFY_CHUNK * sizeof *jobs, flags);
    if (len < 0 || len > (int)(VERIFY_CHUNK * sizeof *jobs) || len % (int)sizeof *jobs)
        return -1;
    return len / (int)sizeof *jobs;
}

/* A worker: PULL chunks of jobs, run them, PUSH each chunk back; an empty chunk means stop. */
static void *s_worker(void *arg)
{
    thread_name("asylinkd-verify");
    /* The workers share out what the single threads (router, committer, ZeroMQ's I/O) cannot:
       when the cores are all busy those go first (DESIGN-CHANGES 42). */
    thread_lower_priority(VERIFY_NICE_STEPS);
    verify_pool *p = arg;
    void *in = zmq_socket(p->ctx, ZMQ_PULL), *out = zmq_socket(p->ctx, ZMQ_PUSH);
    batch_cache *cache = NULL;     /* this worker's: the nodes of the batch it verifies */
    (void)batch_cache_new(&cache); /* without one, every proof is walked in full */
    if (!in || !out || zmq_connect(in, JOBS_ENDPOINT) != 0 || zmq_connect(out, DONE_ENDPOINT) != 0)
        goto done;
    for (;;) {
        verify_job *jobs[VERIFY_CHUNK];
        int n = s_recv_chunk(in, 0, jobs);
        if (n < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break;
        }
        if (n == 0)
            break;
        for (int i = 0; i < n; i++)
            verify_job_run_cached(jobs[i], cache);
        if (s_send_chunk(out, jobs, (size_t)n, 0) != 0)
            for (int i = 0; i < n; i++)
                verify_job_destroy(&jobs[i]);
    }
done:
    batch_cache_destroy(&cache);
    if (in)
        zmq_close(in);
    if (out)
        zmq_close(out);
    pthread_mutex_lock(&p->lock);
    p->exited++;
    pthread_cond_signal(&p->exited_cond);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/*
 * Stops every worker. PUSH hands each stop message to the next pipe it
 * knows, and a worker whose connection the router's socket has not taken in
 * yet (a thread that started late; ZeroMQ also looks at new connections only
 * now and then) gets none while another gets two: so stops are sent until
 * every worker has said it left, one per worker still running each round.
 * Extra stops die with the pipes of workers that are gone; a stop finding
 * no connected worker at all is not waited for.
 */
static void s_stop_workers(verify_pool *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->exited < p->n_threads) {
        int running = p->n_threads - p->exited;
        pthread_mutex_unlock(&p->lock);
        for (int i = 0; i < running; i++) /* no worker connected: none now, retried */
            s_send_chunk(p->jobs, NULL, 0, ZMQ_DONTWAIT);
        pthread_mutex_lock(&p->lock);
        struct timespec until;
        clock_deadline_in(5, &until);
        while (p->exited < p->n_threads && p->n_threads - p->exited == running &&
               pthread_cond_timedwait(&p->exited_cond, &p->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&p->lock);
}

int verify_pool_new(void *ctx, int n, verify_pool **out)
{
    *out = NULL;
    verify_pool *p = calloc(1, sizeof *p);
    if (!p)
        return ASYLINK_E_NOMEM;
    p->ctx = ctx;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->exited_cond, NULL);
    p->jobs = zmq_socket(ctx, ZMQ_PUSH);
    p->done = zmq_socket(ctx, ZMQ_PULL);
    p->threads = calloc((size_t)(n > 0 ? n : 1), sizeof *p->threads);
    (void)batch_cache_new(&p->cache); /* without one, every proof is walked in full */
    int hwm = 0; /* unlimited: the router bounds jobs in flight itself */
    if (!p->jobs || !p->done || !p->threads ||
        zmq_setsockopt(p->jobs, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(p->done, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_bind(p->jobs, JOBS_ENDPOINT) != 0 || zmq_bind(p->done, DONE_ENDPOINT) != 0) {
        verify_pool_destroy(&p);
        return ASYLINK_E_IO;
    }
    for (int i = 0; i < (n > 0 ? n : 1); i++) {
        if (pthread_create(&p->threads[i], NULL, s_worker, p) != 0) {
            verify_pool_destroy(&p);
            return ASYLINK_E_IO;
        }
        p->n_threads++;
    }
    *out = p;
    return ASYLINK_OK;
}

void verify_pool_destroy(verify_pool **self_p)
{
    if (!self_p || !*self_p)
        return;
    verify_pool *p = *self_p;
    verify_pool_flush(p);
    s_stop_workers(p);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    verify_job *j;
    while ((j = verify_pool_take(p)) != NULL)
        verify_job_destroy(&j);
    int linger = 0;
    if (p->jobs) {
        zmq_setsockopt(p->jobs, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(p->jobs);
    }
    if (p->done)
        zmq_close(p->done);
    free(p->threads);
    batch_cache_destroy(&p->cache);
    pthread_cond_destroy(&p->exited_cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
    *self_p = NULL;
}

void verify_pool_submit(verify_pool *p, verify_job *job)
{
    p->out[p->n_out++] = job;
    if (p->n_out == VERIFY_CHUNK)
        verify_pool_flush(p);
}

/* Puts a job on the list of those back without a worker. */
static void s_back(verify_pool *p, verify_job *j)
{
    j->next_failed = p->back;
    p->back = j;
}

void verify_pool_flush(verify_pool *p)
{
    if (!p->n_out)
        return;
    bool small = p->sent == 0 && p->n_out <= VERIFY_INLINE_MAX;
    for (size_t i = 0; small && i < p->n_out; i++)
        small = zmq_msg_size(&p->out[i]->envelope) <= VERIFY_INLINE_BYTES;
    if (small) {
        /* Nothing at the workers and little at hand: verified here, in this turn, without two
           thread hand-offs (at low load those cost more than the check; the router puts
           results in arrival order in any case). */
        for (size_t i = 0; i < p->n_out; i++) {
            verify_job_run_cached(p->out[i], p->cache);
            s_back(p, p->out[i]);
        }
    } else if (s_send_chunk(p->jobs, p->out, p->n_out, 0) == 0) {
        p->sent += p->n_out;
    } else {
        /* not expected (inproc, no high-water mark): the jobs come back refused */
        for (size_t i = 0; i < p->n_out; i++) {
            verify_job *j = p->out[i];
            j->code = ASYLINK_E_UNAVAILABLE;
            snprintf(j->reason, sizeof j->reason, "verification unavailable");
            s_back(p, j);
        }
    }
    p->n_out = 0;
}

void *verify_pool_socket(verify_pool *p)
{
    return p->done;
}

size_t verify_pool_at_workers(const verify_pool *p)
{
    return p->sent;
}

verify_job *verify_pool_take(verify_pool *p)
{
    if (p->back) {
        verify_job *j = p->back;
        p->back = j->next_failed;
        j->next_failed = NULL;
        return j;
    }
    if (p->next_in == p->n_in) {
        int n = s_recv_chunk(p->done, ZMQ_DONTWAIT, p->in);
        if (n <= 0)
            return NULL;
        p->n_in = (size_t)n;
        p->next_in = 0;
        p->sent -= p->sent >= (size_t)n ? (size_t)n : p->sent;
    }
    return p->in[p->next_in++];
}
