/*
 * nocommitter.c — linked into client_test_nocommitter (client_test.c with
 * libasylink linked statically) with -Wl,--wrap=pthread_create: the
 * library's I/O thread cannot start its committer thread (client/io.c,
 * s_committer_start; DESIGN-CHANGES 37) and falls back to committing each
 * turn itself (s_commit_here). No hook in the library: the linker routes
 * the library's and this program's pthread_create calls here.
 *
 * The library marks every thread it starts (client_thread_create, before
 * the thread's body runs). Every pthread_create made on a library thread —
 * the committer's, the only thread the I/O thread creates — fails with
 * EAGAIN, as when the system has no thread left; each refusal is reported
 * on stderr ("nocommitter: refused"), for the test to count. Every other
 * pthread_create (client_test's sender threads, asylink_client_open's I/O
 * thread) goes through. ZeroMQ's and LMDB's threads are created inside
 * their shared libraries, which the wrap does not reach.
 */
#include "client_internal.h" /* client_library_thread */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                          void *arg);
int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                          void *arg);

int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                          void *arg)
{
    if (client_library_thread()) {
        fprintf(stderr, "nocommitter: refused the I/O thread's pthread_create (EAGAIN)\n");
        return EAGAIN;
    }
    return __real_pthread_create(thread, attr, start, arg);
}
