/*
 * zip.h — the small subset of the ZIP format that evidence bundles use
 * (PKWARE APPNOTE 6.3): members "stored" (method 0, no compression) with
 * their CRC-32, no encryption, no data descriptors, no extra fields, no
 * comments, no ZIP64; a local header and the data of each member, one after
 * the other from offset 0, then the central directory, then the end record,
 * nothing else. Any ZIP tool (Python's zipfile, unzip) reads such a file.
 *
 * The writer builds the archive in memory. The reader takes the bytes as
 * hostile: every offset and length is bounds-checked in 64-bit arithmetic
 * before use, the layout must be exactly the one above (so no byte of the
 * file is unaccounted for and no two members overlap), local and central
 * headers must agree, every CRC-32 must match, member names must be
 * relative paths of [A-Za-z0-9._-] segments (no "..", no absolute paths,
 * no backslashes, no directories) and unique, and the number of members,
 * each member's size and the archive's size are limited by the caller.
 *
 * Threading: a writer or an archive belongs to one thread; zip_crc32 is
 * thread-safe.
 */
#ifndef ASYLINK_CORE_ZIP_H
#define ASYLINK_CORE_ZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZIP_NAME_MAX 128         /* bytes of a member name */
#define ZIP_SIZE_MAX 0xfffffffeu /* no member or archive reaches 4 GiB (no ZIP64) */

/* CRC-32 (ISO-HDLC, the one of ZIP and zlib) of len bytes, continuing crc (start with 0). */
uint32_t zip_crc32(uint32_t crc, const uint8_t *data, size_t len);

/*
 * True if name is a member name this format allows: 1..ZIP_NAME_MAX bytes,
 * segments of [A-Za-z0-9._-] separated by single '/', no segment "." or
 * "..", not starting or ending with '/'.
 */
bool zip_name_valid(const char *name);

typedef struct zip_writer zip_writer;

/*
 * A new, empty archive in memory. Every member gets the modification time
 * time_ms (Unix ms, UTC, shown in DOS form: 2-second steps, 1980..2107).
 * ASYLINK_OK or ASYLINK_E_NOMEM.
 */
int zip_writer_new(uint64_t time_ms, zip_writer **out);

/*
 * Adds a member (data is copied). ASYLINK_OK, ASYLINK_E_BAD_FIELD (invalid
 * name), ASYLINK_E_EXISTS (a member of that name is already there),
 * ASYLINK_E_TOO_LARGE (the archive would reach ZIP_SIZE_MAX or 65535
 * members), ASYLINK_E_NOMEM. On error the archive is unchanged.
 */
int zip_writer_add(zip_writer *w, const char *name, const uint8_t *data, size_t len);

/*
 * Appends the central directory and end record and hands the archive over:
 * *out (malloc'd, caller frees) of *len bytes. The writer is then empty
 * and can only be destroyed. ASYLINK_OK, ASYLINK_E_TOO_LARGE, ASYLINK_E_NOMEM.
 */
int zip_writer_finish(zip_writer *w, uint8_t **out, size_t *len);

/* Frees a writer (and what it held); sets *self_p to NULL. Accepts NULL. */
void zip_writer_destroy(zip_writer **self_p);

/* Limits the reader enforces. */
typedef struct zip_limits {
    size_t max_members;      /* most members (>= 1) */
    size_t max_member_size;  /* largest member, bytes */
    size_t max_archive_size; /* largest archive, bytes */
} zip_limits;

/* Why an archive was refused: a short English sentence, safe to print. */
typedef struct zip_error {
    char text[200];
} zip_error;

/* One member of a read archive. Pointers valid while the archive lives. */
typedef struct zip_member {
    const char *name;    /* NUL-terminated copy of the name */
    const uint8_t *data; /* points into the caller's buffer */
    size_t size;
} zip_member;

typedef struct zip_archive zip_archive;

/*
 * Reads the archive in buf (len bytes, borrowed: it must outlive *out, whose
 * members point into it) and checks all of the above. ASYLINK_OK, or:
 * ASYLINK_E_TOO_LARGE (a limit), ASYLINK_E_MALFORMED (not this format:
 * truncated, bad signatures, headers that disagree, bytes outside any
 * member, a wrong CRC-32), ASYLINK_E_UNSUPPORTED_VERSION (compression,
 * encryption, data descriptors, ZIP64, multi-disk), ASYLINK_E_BAD_FIELD (a
 * member name that is not allowed, or the same name twice),
 * ASYLINK_E_INVALID_ARG, ASYLINK_E_NOMEM. why (may be NULL) says what is
 * wrong and names the member. Caller destroys *out.
 */
int zip_read(const uint8_t *buf, size_t len, const zip_limits *limits, zip_archive **out,
             zip_error *why);

/* Frees an archive; sets *self_p to NULL. Accepts NULL. */
void zip_archive_destroy(zip_archive **self_p);

/* Number of members, and the i-th in archive order. */
size_t zip_count(const zip_archive *a);
const zip_member *zip_at(const zip_archive *a, size_t i);

/* The member called name, or NULL. */
const zip_member *zip_find(const zip_archive *a, const char *name);

#endif
