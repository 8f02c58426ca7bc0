/*
 * failmalloc.c — linked into asylinkd-failmalloc (broker/main.c and this
 * file): makes the broker's large allocations fail on demand, so that a
 * test can tell what the broker does when it has no memory for a stored
 * message it is about to deliver (68-broker-no-memory.sh). No hook in the
 * broker: this program's malloc() takes the place of the C library's for
 * the whole process, and forwards to it (__libc_malloc) but for the calls
 * it is told to fail.
 *
 *   ASYLINK_TEST_FAIL_MALLOC_ARM     a path: nothing fails while it does not
 *                                    exist (the test creates it once the
 *                                    messages are stored)
 *   ASYLINK_TEST_FAIL_MALLOC_MIN     bytes (>= 1): only allocations at least
 *                                    this large fail ...
 *   ASYLINK_TEST_FAIL_MALLOC_THREAD  ... made by a thread of this name (the
 *                                    router: "asylinkd") ...
 *   ASYLINK_TEST_FAIL_MALLOC_COUNT   ... the first N of them (1..1000); each
 *                                    failure is written to stderr
 *
 * calloc, realloc and free stay the C library's (one allocator).
 */
#define _GNU_SOURCE /* pthread_getname_np */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);

static int s_state; /* 0: not read yet, 1: configured, -1: off */
static size_t s_min;
static long s_left;
static char s_arm[512], s_thread[16];
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

/* Reads the environment once (getenv and strtoul do not allocate). */
static void s_configure(void)
{
    const char *arm = getenv("ASYLINK_TEST_FAIL_MALLOC_ARM");
    const char *min = getenv("ASYLINK_TEST_FAIL_MALLOC_MIN");
    const char *thread = getenv("ASYLINK_TEST_FAIL_MALLOC_THREAD");
    const char *count = getenv("ASYLINK_TEST_FAIL_MALLOC_COUNT");
    s_state = -1;
    if (!arm || !min || !thread || !count || strlen(arm) >= sizeof s_arm ||
        strlen(thread) >= sizeof s_thread)
        return;
    s_min = strtoul(min, NULL, 10);
    s_left = strtol(count, NULL, 10);
    if (s_min == 0 || s_left < 1 || s_left > 1000)
        return;
    memcpy(s_arm, arm, strlen(arm) + 1);
    memcpy(s_thread, thread, strlen(thread) + 1);
    s_state = 1;
}

/* Whether this call is one to fail. */
static int s_fail(size_t n)
{
    if (s_state < 0 || n < (s_state ? s_min : 1))
        return 0;
    pthread_mutex_lock(&s_lock);
    if (s_state == 0)
        s_configure();
    int fail = 0;
    char name[16] = "";
    if (s_state > 0 && n >= s_min && s_left > 0 &&
        pthread_getname_np(pthread_self(), name, sizeof name) == 0 && strcmp(name, s_thread) == 0 &&
        access(s_arm, F_OK) == 0) {
        s_left--;
        fail = 1;
    }
    pthread_mutex_unlock(&s_lock);
    if (fail) {
        char line[96];
        int k = snprintf(line, sizeof line, "failmalloc: malloc(%zu) failed on purpose\n", n);
        if (k > 0 && write(STDERR_FILENO, line, (size_t)k) < 0)
            return 1;
    }
    return fail;
}

void *malloc(size_t n)
{
    if (s_fail(n)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(n);
}
