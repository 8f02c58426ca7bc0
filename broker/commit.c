/*
 * commit.c — the committer thread (commit.h): waits for a batch, commits
 * it with store_batch_commit_detached(), says so through an eventfd.
 */
#include "commit.h"

#include "asylink/errors.h"
#include "clock.h"
#include "thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Where the one commit is. */
enum { S_IDLE, S_RUNNING, S_DONE };

struct committer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* state or stop changed */
    int efd;             /* readable while state is S_DONE */
    int state;
    bool stop;
    store_batch *batch; /* S_RUNNING, S_DONE: the batch handed over */
    uint64_t now_ms;
    int rc;      /* S_DONE: the commit's code */
    bool retry;  /* S_DONE: commit it again in the store's thread */
    uint64_t us; /* S_DONE: how long the commit took */
};

static void *s_main(void *arg)
{
    thread_name("asylinkd-commit");
    committer *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->stop && c->state != S_RUNNING)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->state != S_RUNNING) /* stop, nothing to do */
            break;
        store_batch *b = c->batch;
        uint64_t now_ms = c->now_ms;
        pthread_mutex_unlock(&c->lock);
        uint64_t t0 = clock_mono_ns();
        bool retry = false;
        int rc = store_batch_commit_detached(b, now_ms, &retry);
        uint64_t us = (clock_mono_ns() - t0) / 1000;
        pthread_mutex_lock(&c->lock);
        c->rc = rc;
        c->retry = retry;
        c->us = us;
        c->state = S_DONE;
        pthread_cond_broadcast(&c->cond);
        uint64_t one = 1;
        ssize_t w;
        do
            w = write(c->efd, &one, sizeof one);
        while (w < 0 && errno == EINTR);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int committer_new(committer **out)
{
    *out = NULL;
    committer *c = calloc(1, sizeof *c);
    if (!c)
        return ASYLINK_E_NOMEM;
    c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->efd < 0) {
        free(c);
        return ASYLINK_E_IO;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        close(c->efd);
        free(c);
        return ASYLINK_E_NOMEM;
    }
    if (pthread_cond_init(&c->cond, NULL) != 0 ||
        pthread_create(&c->thread, NULL, s_main, c) != 0) {
        pthread_mutex_destroy(&c->lock);
        close(c->efd);
        free(c);
        return ASYLINK_E_NOMEM;
    }
    *out = c;
    return ASYLINK_OK;
}

void committer_destroy(committer **self_p)
{
    if (!self_p || !*self_p)
        return;
    committer *c = *self_p;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL); /* after the commit it runs, if any */
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    close(c->efd);
    free(c);
    *self_p = NULL;
}

int committer_fd(const committer *c)
{
    return c->efd;
}

void committer_start(committer *c, store_batch *b, uint64_t now_ms)
{
    pthread_mutex_lock(&c->lock);
    c->batch = b;
    c->now_ms = now_ms;
    c->state = S_RUNNING;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

bool committer_busy(const committer *c)
{
    committer *m = (committer *)c; /* the lock only */
    pthread_mutex_lock(&m->lock);
    bool busy = c->state != S_IDLE;
    pthread_mutex_unlock(&m->lock);
    return busy;
}

void committer_wait(committer *c)
{
    pthread_mutex_lock(&c->lock);
    while (c->state == S_RUNNING)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
}

bool committer_collect(committer *c, bool wait, int *rc, bool *retry, uint64_t *us)
{
    pthread_mutex_lock(&c->lock);
    while (wait && c->state == S_RUNNING)
        pthread_cond_wait(&c->cond, &c->lock);
    bool done = c->state == S_DONE;
    if (done) {
        *rc = c->rc;
        *retry = c->retry;
        *us = c->us;
        c->state = S_IDLE;
        c->batch = NULL;
        uint64_t n;
        while (read(c->efd, &n, sizeof n) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&c->lock);
    return done;
}
