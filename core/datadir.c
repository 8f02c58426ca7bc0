/*
 * datadir.c — create and lock a process's data directory.
 */
#include "datadir.h"

#include "asylink/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* dir/lock_name, malloc'd; NULL when out of memory. */
static char *s_lock_path(const char *dir, const char *lock_name)
{
    size_t len = strlen(dir) + strlen(lock_name) + 2;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/%s", dir, lock_name);
    return path;
}

/* ASYLINK_E_NOT_FOUND for a name that does not exist, else ASYLINK_E_IO. */
static int s_open_err(void)
{
    return errno == ENOENT ? ASYLINK_E_NOT_FOUND : ASYLINK_E_IO;
}

/*
 * Opens path in dir as flags say (DATADIR_MKDIR: creating dir if missing;
 * DATADIR_CREATE: creating the file); the fd is not locked yet.
 */
static int s_open_lock_file(const char *dir, const char *path, unsigned flags, int *fd)
{
    *fd = -1;
    struct stat st;
    if ((flags & DATADIR_MKDIR) && mkdir(dir, 0700) != 0 && errno != EEXIST)
        return ASYLINK_E_IO;
    if (stat(dir, &st) != 0)
        return s_open_err();
    if (!S_ISDIR(st.st_mode))
        return ASYLINK_E_IO;
    *fd = open(path,
               O_RDWR | O_CLOEXEC | (flags & DATADIR_CREATE ? O_CREAT : 0) |
                   (flags & DATADIR_FOLLOW ? 0 : O_NOFOLLOW),
               0600);
    return *fd < 0 ? s_open_err() : ASYLINK_OK;
}

/*
 * Whether path still names the file fd has open. A lock on a file that was
 * unlinked, or whose directory was moved aside or replaced since it was
 * opened, guards nothing at path any more: another process may hold the
 * lock of the file path names now.
 */
static bool s_still_at(int fd, const char *path)
{
    struct stat held, named;
    return fstat(fd, &held) == 0 && stat(path, &named) == 0 && held.st_dev == named.st_dev &&
           held.st_ino == named.st_ino;
}

/*
 * One non-blocking try: ASYLINK_OK (fd locked and still at path),
 * ASYLINK_E_EXISTS or ASYLINK_E_IO. *moved: the lock was had but path now
 * names another file (fd is unlocked again; open path anew).
 */
static int s_try_lock(int fd, const char *path, bool *moved)
{
    *moved = false;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK ? ASYLINK_E_EXISTS : ASYLINK_E_IO;
    if (s_still_at(fd, path))
        return ASYLINK_OK;
    flock(fd, LOCK_UN);
    *moved = true;
    return ASYLINK_E_EXISTS;
}

/*
 * Without stop, one try (a lock file replaced under us is opened anew a few
 * times); with stop, tries until the lock is ours or *stop.
 */
int datadir_lock(const char *dir, const char *name, unsigned flags,
                 const volatile sig_atomic_t *stop, int *fd)
{
    *fd = -1;
    char *path = s_lock_path(dir, name);
    if (!path)
        return ASYLINK_E_NOMEM;
    int lock = -1, reopens = 0;
    bool moved = true;
    int rc = ASYLINK_E_EXISTS;
    for (;;) {
        if (moved) {
            if (lock >= 0)
                close(lock);
            if ((rc = s_open_lock_file(dir, path, flags, &lock)) != ASYLINK_OK)
                break;
            reopens++;
        }
        rc = s_try_lock(lock, path, &moved);
        if (rc != ASYLINK_E_EXISTS || (!stop && (!moved || reopens >= 3)))
            break;
        if (stop && *stop) {
            rc = ASYLINK_E_SHUTDOWN;
            break;
        }
        if (stop) {
            struct timespec ts = {0, DATADIR_WAIT_POLL_MS * 1000000L};
            nanosleep(&ts, NULL); /* EINTR (a signal) only shortens the wait */
        }
    }
    int sys = errno; /* why the open or the lock failed, for the caller */
    free(path);
    if (rc != ASYLINK_OK && lock >= 0)
        close(lock);
    *fd = rc == ASYLINK_OK ? lock : -1;
    errno = sys;
    return rc;
}

/* Whether a line of /proc/locks is a granted flock() on the file dev:ino. */
static bool s_locks_line_is(const char *line, dev_t dev, ino_t ino)
{
    char type[16];
    unsigned maj = 0, min = 0;
    uintmax_t inode = 0;
    /* "1: FLOCK  ADVISORY  WRITE 4242 fe:00:1234 0 EOF"; a waiter's line has "->" as type */
    if (sscanf(line, "%*[^:]: %15s %*s %*s %*s %x:%x:%ju", type, &maj, &min, &inode) != 4)
        return false;
    return strcmp(type, "FLOCK") == 0 && maj == major(dev) && min == minor(dev) &&
           inode == (uintmax_t)ino;
}

bool datadir_lock_held(const char *dir, const char *lock_name)
{
    char *path = s_lock_path(dir, lock_name);
    struct stat st;
    bool held = false;
    FILE *locks = NULL;
    if (path && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
        locks = fopen("/proc/locks", "re");
    char line[256];
    while (locks && !held && fgets(line, sizeof line, locks))
        held = s_locks_line_is(line, st.st_dev, st.st_ino);
    if (locks)
        fclose(locks);
    free(path);
    return held;
}

uint64_t datadir_free_bytes(int fd)
{
    struct statvfs st;
    if (fd < 0 || fstatvfs(fd, &st) != 0)
        return UINT64_MAX;
    uint64_t blocks = geteuid() == 0 ? st.f_bfree : st.f_bavail;
    return blocks > UINT64_MAX / (st.f_frsize ? st.f_frsize : 1) ? UINT64_MAX
                                                                 : blocks * st.f_frsize;
}

bool datadir_full(int fd)
{
    return datadir_free_bytes(fd) < DATADIR_FULL_BYTES;
}

/* Group and other permission bits: none may be set on a private entry. */
#define S_NOT_PRIVATE ((mode_t)(S_IRWXG | S_IRWXO))

/* Records path as the entry at fault into bad (when given). */
static void s_bad(const char *path, char *bad, size_t badlen)
{
    if (bad && badlen)
        snprintf(bad, badlen, "%s", path);
}

/*
 * Checks (and tightens to mode want) the entry open at fd, named path; it
 * must be a directory (dir true) or a regular file owned by us.
 */
static int s_private_fd(int fd, const char *path, bool dir, mode_t want,
                        datadir_tightened_fn tightened, void *arg, unsigned *uid)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ASYLINK_E_IO;
    if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        errno = 0;
        return ASYLINK_E_IO;
    }
    *uid = (unsigned)st.st_uid;
    if (st.st_uid != geteuid())
        return ASYLINK_E_KEY_PERMISSIONS;
    if (!(st.st_mode & S_NOT_PRIVATE))
        return ASYLINK_OK;
    if (fchmod(fd, want) != 0)
        return ASYLINK_E_KEY_PERMISSIONS;
    if (tightened)
        tightened(arg, path, (unsigned)(st.st_mode & 07777), (unsigned)want);
    return ASYLINK_OK;
}

/*
 * An entry of dir (open at dfd) that this process may not open: another
 * user's file (a restore run as root leaves data.mdb root's, mode 0600) is
 * KEY_PERMISSIONS with *uid its owner, as one it can open; else
 * ASYLINK_E_IO with errno EACCES.
 */
static int s_unreadable(int dfd, const char *name, unsigned *uid)
{
    struct stat st;
    if (fstatat(dfd, name, &st, 0) == 0 && st.st_uid != geteuid()) {
        *uid = (unsigned)st.st_uid;
        return ASYLINK_E_KEY_PERMISSIONS;
    }
    errno = EACCES;
    return ASYLINK_E_IO;
}

int datadir_private(const char *dir, const char *const *names, size_t n,
                    datadir_tightened_fn tightened, void *arg, char *bad, size_t badlen,
                    unsigned *uid)
{
    unsigned owner = 0;
    if (!uid)
        uid = &owner;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = dfd < 0 ? ASYLINK_E_IO : s_private_fd(dfd, dir, true, 0700, tightened, arg, uid);
    if (rc != ASYLINK_OK)
        s_bad(dir, bad, badlen);
    for (size_t i = 0; rc == ASYLINK_OK && i < n; i++) {
        char *path = s_lock_path(dir, names[i]);
        if (!path) {
            rc = ASYLINK_E_NOMEM;
            break;
        }
        /* O_NONBLOCK: a FIFO put there must not block the open (it is refused). */
        int fd = openat(dfd, names[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0 && (errno == EACCES || errno == EPERM))
            rc = s_unreadable(dfd, names[i], uid);
        else if (fd < 0 && errno != ENOENT)
            rc = ASYLINK_E_IO;
        else if (fd >= 0)
            rc = s_private_fd(fd, path, false, 0600, tightened, arg, uid);
        int sys = errno;
        if (rc != ASYLINK_OK)
            s_bad(path, bad, badlen);
        if (fd >= 0)
            close(fd);
        free(path);
        errno = sys;
    }
    int sys = errno;
    if (dfd >= 0)
        close(dfd);
    errno = sys;
    return rc;
}
