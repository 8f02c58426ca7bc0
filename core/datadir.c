/*
 * datadir.c — create and lock a process's data directory.
 */
#include "datadir.h"

#include "asylink/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Creates dir if missing and opens (creating) dir/lock_name; the fd is not locked yet. */
static int s_open_lock_file(const char *dir, const char *lock_name, int *fd)
{
    *fd = -1;
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return ASYLINK_E_IO;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ASYLINK_E_IO;
    size_t len = strlen(dir) + strlen(lock_name) + 2;
    char *path = malloc(len);
    if (!path)
        return ASYLINK_E_NOMEM;
    snprintf(path, len, "%s/%s", dir, lock_name);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    free(path);
    return *fd < 0 ? ASYLINK_E_IO : ASYLINK_OK;
}

/* One non-blocking try: ASYLINK_OK, ASYLINK_E_EXISTS or ASYLINK_E_IO. */
static int s_try_lock(int fd)
{
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return ASYLINK_OK;
    return errno == EWOULDBLOCK ? ASYLINK_E_EXISTS : ASYLINK_E_IO;
}

int datadir_open_locked(const char *dir, const char *lock_name, int *fd)
{
    int lock = -1;
    int rc = s_open_lock_file(dir, lock_name, &lock);
    if (rc == ASYLINK_OK)
        rc = s_try_lock(lock);
    if (rc != ASYLINK_OK && lock >= 0)
        close(lock);
    *fd = rc == ASYLINK_OK ? lock : -1;
    return rc;
}

int datadir_wait_locked(const char *dir, const char *lock_name, const volatile sig_atomic_t *stop,
                        int *fd)
{
    int lock = -1;
    int rc = s_open_lock_file(dir, lock_name, &lock);
    if (rc == ASYLINK_OK)
        rc = s_try_lock(lock);
    while (rc == ASYLINK_E_EXISTS) {
        if (stop && *stop) {
            rc = ASYLINK_E_SHUTDOWN;
            break;
        }
        struct timespec ts = {0, DATADIR_WAIT_POLL_MS * 1000000L};
        nanosleep(&ts, NULL); /* EINTR (a signal) only shortens the wait */
        rc = s_try_lock(lock);
    }
    if (rc != ASYLINK_OK && lock >= 0)
        close(lock);
    *fd = rc == ASYLINK_OK ? lock : -1;
    return rc;
}
