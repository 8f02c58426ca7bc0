/*
 * file.h — whole-file reads with a size limit, and atomic, durable writes.
 *
 * Every file asylink reads (certificates, keys, revocation lists, configs)
 * is hostile input: reads are bounded, writes go to a temporary file that is
 * fsync'd and renamed over the target so a crash never leaves half a file.
 */
#ifndef ASYLINK_CORE_FILE_H
#define ASYLINK_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest file file_read() accepts when the caller passes 0 as limit. */
#define FILE_DEFAULT_LIMIT (1u << 20)

/*
 * Reads the whole of path into a new malloc'd buffer (NUL-terminated, the
 * NUL not counted in *len). Caller frees *out. Returns ASYLINK_OK,
 * ASYLINK_E_NOT_FOUND, ASYLINK_E_IO or ASYLINK_E_TOO_LARGE (file larger than
 * limit bytes; 0 = FILE_DEFAULT_LIMIT). Anything but a regular file (a
 * directory, a FIFO, a device) is ASYLINK_E_IO, at once: a FIFO is opened
 * without waiting for a writer. On error *out is NULL.
 */
int file_read(const char *path, size_t limit, uint8_t **out, size_t *len);

/*
 * Like file_read() but into sodium_malloc'd memory, for files holding
 * secrets; the caller wipes and frees it with file_secret_free().
 */
int file_read_secret(const char *path, size_t limit, uint8_t **out, size_t *len);

/*
 * Reads a file holding secrets into sodium_malloc'd memory, refusing
 * (ASYLINK_E_KEY_PERMISSIONS) a symbolic link, a file owned by another user
 * or one with any group or other permission bit. The checks are made on the
 * opened descriptor, so the file cannot be swapped between check and read.
 * Other codes as file_read().
 */
int file_read_private(const char *path, size_t limit, uint8_t **out, size_t *len);

/*
 * Says why a file was refused as too large (ASYLINK_E_TOO_LARGE from the
 * reads above), in the words every asylink program uses: "N bytes, more
 * than the limit of L bytes (X KiB) for WHAT" into buf (len bytes,
 * truncated if short). size is the file's size, or negative when unknown
 * ("N bytes, " left out); the unit in brackets is left out below 1 KiB.
 * Returns buf.
 */
const char *file_limit_text(long long size, uint64_t limit, const char *what, char *buf,
                            size_t len);

/* The size of the regular file path (stat(), following links), or -1. */
long long file_size(const char *path);

/* Wipes and frees a buffer from file_read_secret(). Accepts NULL. */
void file_secret_free(uint8_t *buf, size_t len);

/*
 * Writes data to path atomically with the given mode: a new temporary file
 * (O_EXCL, random name) in the same directory, fsync, rename, fsync of the
 * directory. If exclusive is
 * nonzero and path exists, returns ASYLINK_E_EXISTS and writes nothing.
 * Returns ASYLINK_OK or ASYLINK_E_IO / ASYLINK_E_EXISTS.
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                      int exclusive);

/*
 * Moves the finished file tmp (written and fsync'd, e.g. by
 * file_write_atomic()) to path in the same directory, then fsyncs the
 * directory. If exclusive is nonzero and path exists, returns
 * ASYLINK_E_EXISTS and leaves tmp where it is; otherwise path is replaced
 * in one step (rename), so a reader or a crash sees the old file or the
 * new one, never neither. Returns ASYLINK_OK, ASYLINK_E_EXISTS or
 * ASYLINK_E_IO.
 */
int file_install(const char *tmp, const char *path, int exclusive);

/*
 * Returns ASYLINK_OK if path is a regular file with no group or other
 * permission bits, ASYLINK_E_KEY_PERMISSIONS if it has some,
 * ASYLINK_E_NOT_FOUND / ASYLINK_E_IO otherwise.
 */
int file_check_private(const char *path);

#endif
