/*
 * slowsync.c — linked into client_test_slowsync (client_test.c): makes
 * every fdatasync() of files under one directory take longer, so that a
 * test can tell what the library does while its outbox commit's flush
 * runs (37-client-early-publish.sh; DESIGN-CHANGES 43), and can make the
 * first few of them fail, so that it can tell what the library does when
 * such a commit fails after its messages left early or were handed over
 * early (38-client-commit-failure.sh). No hook in the
 * library: this program's own fdatasync() interposes on the C library's
 * for LMDB (liblmdb.so calls it through its PLT; a symbol of the
 * executable exported with --export-dynamic-symbol, CMakeLists.txt).
 *
 *   ASYLINK_TEST_SLOW_SYNC_PATH  a directory; fdatasync() of a file whose
 *                                path starts with it sleeps first ...
 *   ASYLINK_TEST_SLOW_SYNC_MS    ... this many milliseconds (1..60000),
 *                                once client_test has called slowsync_arm()
 *                                (--wait-connected: after its session with
 *                                the broker opened), so that the store opens
 *                                and the session starts at the disk's own pace
 *
 *   ASYLINK_TEST_FAIL_SYNC       N (1..1000): the first N of those flushes once
 *                                armed (after their delay) return -1 with errno
 *                                EIO instead of flushing, as a failing disk's
 *                                would; LMDB then fails and undoes that commit
 *   ASYLINK_TEST_FAIL_SYNC_SKIP  K (0..1000): ... after the first K of them passed
 *   ASYLINK_TEST_FAIL_SYNC_THREAD  if set, only flushes called by a thread of
 *                                one of these names (comma-separated) fail and
 *                                count, e.g. asylink-commit (the library's
 *                                committer), not a sweep's in its I/O thread
 *   ASYLINK_TEST_FAIL_SYNC_EXACT if 1, ASYLINK_TEST_SLOW_SYNC_PATH names one
 *                                file, not a directory: only its flushes count
 *   ASYLINK_TEST_FAIL_SYNC_WAIT  a file: a flush about to fail first waits
 *                                until it exists (at most 60 s), so that a
 *                                test decides when the failure comes, e.g.
 *                                once the broker has what left early
 *                                (70-client-accepted-once.sh); instead of a
 *                                delay that a loaded machine can outlast
 *   ASYLINK_TEST_FAIL_SYNC_EACH  if 1, each thread name counts its own
 *                                flushes: the first N of every listed name fail (a
 *                                committer's commits after a failure flush
 *                                too, cstore.c "Durability", and would
 *                                otherwise take a failure meant for another
 *                                thread)
 *
 * test_cstore_flush.c links it too (the unit test of the client store's
 * answer to a failed flush), arming it and counting from 0 for each case.
 *
 * Each delayed flush prints "slowsync: delayed fd=N ms=M" on stderr, each
 * failed one "slowsync: failed fd=N thread=NAME". Any other fdatasync() goes straight
 * to the system call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

__attribute__((visibility("default"))) int fdatasync(int fd); /* the project builds hidden */

static atomic_bool s_armed;
static atomic_long s_failed; /* flushes counted so far (skipped, failed or after) */
static pthread_mutex_t s_names_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[17];
    long count;
} s_names[16];           /* flushes counted by thread name (ASYLINK_TEST_FAIL_SYNC_EACH) */
static size_t s_n_names; /* ... entries used */

/* client_test calls it (a weak reference there) once it is connected. */
void slowsync_arm(void);
/* Counts the flushes from 0 again (test_cstore_flush.c, between its cases). */
void slowsync_reset(void);
/* How many flushes this program made fail so far (slowbegin.c). */
long slowsync_failures(void);

static atomic_long s_failures; /* flushes failed so far */

long slowsync_failures(void)
{
    return atomic_load(&s_failures);
}

void slowsync_reset(void)
{
    atomic_store(&s_failed, 0);
    pthread_mutex_lock(&s_names_lock);
    s_n_names = 0;
    pthread_mutex_unlock(&s_names_lock);
}

/* The next count of the flushes of the calling thread's name (each) or of all threads'. */
static long s_next_count(bool each)
{
    if (!each)
        return atomic_fetch_add(&s_failed, 1);
    char name[17] = "";
    (void)prctl(PR_GET_NAME, name, 0, 0, 0);
    pthread_mutex_lock(&s_names_lock);
    size_t i = 0;
    while (i < s_n_names && strcmp(s_names[i].name, name) != 0)
        i++;
    long k = LONG_MAX; /* (a name beyond the table's: never fails) */
    if (i == s_n_names && i < sizeof s_names / sizeof s_names[0]) {
        snprintf(s_names[i].name, sizeof s_names[i].name, "%s", name);
        s_names[i].count = 0;
        s_n_names++;
    }
    if (i < s_n_names)
        k = s_names[i].count++;
    pthread_mutex_unlock(&s_names_lock);
    return k;
}
void slowsync_arm(void)
{
    atomic_store(&s_armed, true);
    fprintf(stderr, "slowsync: armed\n");
}

/* Waits until the file ASYLINK_TEST_FAIL_SYNC_WAIT names exists, at most 60 s (if set). */
static void s_wait_file(void)
{
    const char *path = getenv("ASYLINK_TEST_FAIL_SYNC_WAIT");
    if (!path || !path[0])
        return;
    struct stat st;
    int i = 0;
    for (; i < 6000 && stat(path, &st) != 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "slowsync: %s after %d ms\n", i < 6000 ? "released" : "not released", i * 10);
}

/* Whether fd is a file under dir (or, exact, the file of that path). */
static bool s_under(int fd, const char *dir, bool exact)
{
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return false;
    path[n] = '\0';
    return exact ? strcmp(path, dir) == 0 : strncmp(path, dir, strlen(dir)) == 0;
}

/* Whether the calling thread's name is in list (comma-separated); an unset or empty list: yes. */
static bool s_thread_listed(const char *list)
{
    char name[17] = "";
    if (!list || !list[0])
        return true;
    (void)prctl(PR_GET_NAME, name, 0, 0, 0);
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, n) == 0)
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

int fdatasync(int fd)
{
    const char *dir = getenv("ASYLINK_TEST_SLOW_SYNC_PATH");
    const char *ms_s = getenv("ASYLINK_TEST_SLOW_SYNC_MS");
    const char *fail_s = getenv("ASYLINK_TEST_FAIL_SYNC");
    long ms = ms_s ? strtol(ms_s, NULL, 10) : 0;
    long fail = fail_s ? strtol(fail_s, NULL, 10) : 0;
    const char *exact = getenv("ASYLINK_TEST_FAIL_SYNC_EXACT");
    if (atomic_load(&s_armed) && dir && dir[0] && s_under(fd, dir, exact && !strcmp(exact, "1"))) {
        if (ms > 0 && ms <= 60000) {
            fprintf(stderr, "slowsync: delayed fd=%d ms=%ld\n", fd, ms);
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0)
                ;
        }
        const char *skip_s = getenv("ASYLINK_TEST_FAIL_SYNC_SKIP");
        long skip = skip_s ? strtol(skip_s, NULL, 10) : 0, k = 0;
        if (skip < 0 || skip > 1000)
            skip = 0;
        const char *each_s = getenv("ASYLINK_TEST_FAIL_SYNC_EACH");
        bool each = each_s && strcmp(each_s, "1") == 0;
        if (fail > 0 && fail <= 1000 && s_thread_listed(getenv("ASYLINK_TEST_FAIL_SYNC_THREAD")) &&
            (k = s_next_count(each)) >= skip && k < skip + fail) {
            s_wait_file();
            char name[17] = "";
            (void)prctl(PR_GET_NAME, name, 0, 0, 0);
            fprintf(stderr, "slowsync: failed fd=%d thread=%s\n", fd, name);
            atomic_fetch_add(&s_failures, 1);
            errno = EIO;
            return -1;
        }
    }
    return (int)syscall(SYS_fdatasync, fd);
}
