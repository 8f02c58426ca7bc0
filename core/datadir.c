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
#include <unistd.h>

int datadir_open_locked(const char *dir, const char *lock_name, int *fd)
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
    int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    free(path);
    if (lock < 0)
        return ASYLINK_E_IO;
    if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
        int rc = errno == EWOULDBLOCK ? ASYLINK_E_EXISTS : ASYLINK_E_IO;
        close(lock);
        return rc;
    }
    *fd = lock;
    return ASYLINK_OK;
}
