/*
 * commit.h — the committer: a thread that commits the router's store
 * batches (store_batch_commit_detached()) while the router thread goes on
 * reading, delivering and recording the next batch: pipelined group
 * commit. One commit at a time; the router hands the next one over only
 * after it collected the previous one (committer_collect()).
 *
 * Threading: every function is called by the router thread only; the
 * committer's own thread touches nothing but the batch it was handed.
 */
#ifndef ASYLINK_BROKER_COMMIT_H
#define ASYLINK_BROKER_COMMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

typedef struct committer committer;

/* Starts the committer thread. ASYLINK_OK, ASYLINK_E_NOMEM or ASYLINK_E_IO. */
int committer_new(committer **out);

/* Stops the thread after the commit it runs (if any). Accepts NULL. */
void committer_destroy(committer **self_p);

/*
 * A file descriptor (eventfd) that becomes readable when a commit has
 * finished and is waiting to be collected: for zmq_poll().
 */
int committer_fd(const committer *c);

/*
 * Hands b over to be committed at now_ms (store_batch_commit_detached()).
 * The committer must be idle (!committer_busy()); b is borrowed until
 * collected.
 */
void committer_start(committer *c, store_batch *b, uint64_t now_ms);

/* Whether a batch was handed over and not collected yet. */
bool committer_busy(const committer *c);

/* Returns once no commit is running (it may still wait to be collected). */
void committer_wait(committer *c);

/*
 * Collects the finished commit: true with its code, *retry (commit it
 * again with store_batch_commit() in this thread) and its time in
 * microseconds; false if none is finished (wait: blocks until it is, false
 * only if none was handed over).
 */
bool committer_collect(committer *c, bool wait, int *rc, bool *retry, uint64_t *us);

#endif
