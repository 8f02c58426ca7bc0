/*
 * file.c — bounded whole-file reads and atomic, durable writes.
 */
#include "file.h"

#include "asylink/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads exactly st_size bytes (bounded by limit) from fd into buf. */
static int s_read_fd(int fd, size_t limit, uint8_t *(*alloc)(size_t), uint8_t **out,
                     size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ASYLINK_E_IO;
    if (!S_ISREG(st.st_mode))
        return ASYLINK_E_IO;
    if ((uint64_t)st.st_size > limit)
        return ASYLINK_E_TOO_LARGE;
    size_t size = (size_t)st.st_size;
    uint8_t *buf = alloc(size + 1);
    if (!buf)
        return ASYLINK_E_NOMEM;
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = 0;
    *out = buf;
    *len = got;
    return ASYLINK_OK;
}

/* limit as "132 KiB", "64 MiB", "1.5 MiB" (one decimal unless whole), "" below 1 KiB. */
static const char *s_human_size(uint64_t limit, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB"};
    buf[0] = '\0';
    for (int i = 2; i >= 0; i--) {
        uint64_t unit = (uint64_t)1024 << (10 * i);
        if (limit < unit)
            continue;
        if (limit % unit == 0)
            snprintf(buf, len, "%llu %s", (unsigned long long)(limit / unit), units[i]);
        else
            snprintf(buf, len, "%.1f %s", (double)limit / (double)unit, units[i]);
        break;
    }
    return buf;
}

const char *file_limit_text(long long size, uint64_t limit, const char *what, char *buf, size_t len)
{
    char human[32], bytes[64] = "";
    s_human_size(limit, human, sizeof human);
    if (size >= 0)
        snprintf(bytes, sizeof bytes, "%lld bytes, ", size);
    snprintf(buf, len, "%smore than the limit of %llu bytes%s%s%s for %s", bytes,
             (unsigned long long)limit, *human ? " (" : "", human, *human ? ")" : "", what);
    return buf;
}

long long file_size(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
}

static uint8_t *s_malloc(size_t n) { return malloc(n); }
static uint8_t *s_sodium_malloc(size_t n) { return sodium_malloc(n); }

/* A private file: regular, ours, no group/other bits. */
static int s_check_private_fd(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return ASYLINK_E_IO;
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & (S_IRWXG | S_IRWXO)))
        return ASYLINK_E_KEY_PERMISSIONS;
    return ASYLINK_OK;
}

static int s_read(const char *path, size_t limit, uint8_t *(*alloc)(size_t), int private,
                  uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!path)
        return ASYLINK_E_INVALID_ARG;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (private ? O_NOFOLLOW : 0));
    if (fd < 0) {
        if (errno == ELOOP)
            return ASYLINK_E_KEY_PERMISSIONS; /* a symbolic link where a key should be */
        return errno == ENOENT ? ASYLINK_E_NOT_FOUND : ASYLINK_E_IO;
    }
    int rc = private ? s_check_private_fd(fd) : ASYLINK_OK;
    if (rc == ASYLINK_OK)
        rc = s_read_fd(fd, limit ? limit : FILE_DEFAULT_LIMIT, alloc, out, len);
    close(fd);
    return rc;
}

int file_read(const char *path, size_t limit, uint8_t **out, size_t *len)
{
    return s_read(path, limit, s_malloc, 0, out, len);
}

int file_read_secret(const char *path, size_t limit, uint8_t **out, size_t *len)
{
    return s_read(path, limit, s_sodium_malloc, 0, out, len);
}

int file_read_private(const char *path, size_t limit, uint8_t **out, size_t *len)
{
    return s_read(path, limit, s_sodium_malloc, 1, out, len);
}

void file_secret_free(uint8_t *buf, size_t len)
{
    if (!buf)
        return;
    sodium_memzero(buf, len);
    sodium_free(buf);
}

/* fsyncs the directory holding path so a rename survives a crash. */
static int s_sync_dir(const char *path)
{
    char copy[PATH_MAX];
    if (strlen(path) >= sizeof copy)
        return ASYLINK_E_IO;
    memcpy(copy, path, strlen(path) + 1);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ASYLINK_E_IO;
    int rc = fsync(fd) == 0 ? ASYLINK_OK : ASYLINK_E_IO;
    close(fd);
    return rc;
}

static int s_write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      int exclusive)
{
    if (!path || (!data && len))
        return ASYLINK_E_INVALID_ARG;
    if (exclusive && access(path, F_OK) == 0)
        return ASYLINK_E_EXISTS;
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%08x%08x", path, randombytes_random(),
                     randombytes_random());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return ASYLINK_E_IO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return ASYLINK_E_IO;
    int rc = ASYLINK_E_IO;
    if (fchmod(fd, mode) != 0 || s_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        close(fd);
        goto cleanup;
    }
    if (close(fd) != 0)
        goto cleanup;
    if (exclusive) {
        /* link() fails if path appeared meanwhile: never overwrite. */
        if (link(tmp, path) != 0) {
            rc = errno == EEXIST ? ASYLINK_E_EXISTS : ASYLINK_E_IO;
            goto cleanup;
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        goto cleanup;
    }
    return s_sync_dir(path);
cleanup:
    unlink(tmp);
    return rc;
}

int file_install(const char *tmp, const char *path, int exclusive)
{
    if (!tmp || !path)
        return ASYLINK_E_INVALID_ARG;
    if (exclusive) {
        if (link(tmp, path) != 0)
            return errno == EEXIST ? ASYLINK_E_EXISTS : ASYLINK_E_IO;
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        return ASYLINK_E_IO;
    }
    return s_sync_dir(path);
}

int file_check_private(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? ASYLINK_E_NOT_FOUND : ASYLINK_E_IO;
    if (!S_ISREG(st.st_mode))
        return ASYLINK_E_IO;
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return ASYLINK_E_KEY_PERMISSIONS;
    return ASYLINK_OK;
}
