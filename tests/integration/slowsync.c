/*
 * slowsync.c — linked into client_test_slowsync (client_test.c): makes
 * every fdatasync() of files under one directory take longer, so that a
 * test can tell what the library does while its outbox commit's flush
 * runs (37-client-early-publish.sh; DESIGN-CHANGES 43). No hook in the
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
 * Each delayed flush prints "slowsync: delayed fd=N ms=M" on stderr. Any
 * other fdatasync() goes straight to the system call.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

__attribute__((visibility("default"))) int fdatasync(int fd); /* the project builds hidden */

static atomic_bool s_armed;

/* client_test calls it (a weak reference there) once it is connected. */
void slowsync_arm(void);

void slowsync_arm(void)
{
    atomic_store(&s_armed, true);
    fprintf(stderr, "slowsync: armed\n");
}

int fdatasync(int fd)
{
    const char *dir = getenv("ASYLINK_TEST_SLOW_SYNC_PATH");
    const char *ms_s = getenv("ASYLINK_TEST_SLOW_SYNC_MS");
    long ms = ms_s ? strtol(ms_s, NULL, 10) : 0;
    if (atomic_load(&s_armed) && dir && dir[0] && ms > 0 && ms <= 60000) {
        char link[64], path[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        if (n > 0) {
            path[n] = '\0';
            if (strncmp(path, dir, strlen(dir)) == 0) {
                fprintf(stderr, "slowsync: delayed fd=%d ms=%ld\n", fd, ms);
                struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
                while (nanosleep(&ts, &ts) != 0)
                    ;
            }
        }
    }
    return (int)syscall(SYS_fdatasync, fd);
}
