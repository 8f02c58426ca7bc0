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
 *   ASYLINK_TEST_SLOW_SYNC_AFTER_MS  once this long has passed since the
 *                                program started (default 0: always), so
 *                                that the store opens and the session
 *                                starts at the disk's own pace
 *
 * Each delayed flush prints "slowsync: delayed fd=N ms=M" on stderr. Any
 * other fdatasync() goes straight to the system call.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

__attribute__((visibility("default"))) int fdatasync(int fd); /* the project builds hidden */

static struct timespec s_start;

__attribute__((constructor)) static void s_started(void)
{
    clock_gettime(CLOCK_MONOTONIC, &s_start);
}

/* Milliseconds since the program started. */
static long s_elapsed_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - s_start.tv_sec) * 1000 + (now.tv_nsec - s_start.tv_nsec) / 1000000;
}

int fdatasync(int fd)
{
    const char *dir = getenv("ASYLINK_TEST_SLOW_SYNC_PATH");
    const char *ms_s = getenv("ASYLINK_TEST_SLOW_SYNC_MS");
    const char *after_s = getenv("ASYLINK_TEST_SLOW_SYNC_AFTER_MS");
    long ms = ms_s ? strtol(ms_s, NULL, 10) : 0;
    long after = after_s ? strtol(after_s, NULL, 10) : 0;
    if (dir && dir[0] && ms > 0 && ms <= 60000 && s_elapsed_ms() >= after) {
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
