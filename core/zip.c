/*
 * zip.c — stored-only ZIP archives: an in-memory writer and a strict reader
 * for hostile input (zip.h). Layout written and required:
 *
 *   [local header 30 + name][data] ... for each member, from offset 0
 *   [central header 46 + name] ...     for each member, same order
 *   [end of central directory 22]      at the very end, no comment
 *
 * All integers little-endian. Version needed 10 (1.0, stored), made by
 * 0x031e (Unix, 3.0), external attributes 0100600 << 16 (a regular file
 * readable by its owner only, for unzip tools that restore modes).
 */
#include "zip.h"

#include "asylink/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_LOCAL_SIG 0x04034b50u
#define S_CENTRAL_SIG 0x02014b50u
#define S_END_SIG 0x06054b50u
#define S_LOCAL_LEN 30u
#define S_CENTRAL_LEN 46u
#define S_END_LEN 22u
#define S_VERSION_NEEDED 10u      /* 1.0: stored members */
#define S_VERSION_MADE_BY 0x031eu /* Unix, 3.0 */
#define S_EXTERNAL_ATTR (0100600u << 16)
#define S_MAX_MEMBERS 0xffffu /* a 16-bit count, no ZIP64 */

/* ---- little-endian fields ---- */

static void s_put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void s_put32(uint8_t *p, uint32_t v)
{
    s_put16(p, v & 0xffffu);
    s_put16(p + 2, v >> 16);
}

static uint32_t s_get16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t s_get32(const uint8_t *p)
{
    return s_get16(p) | s_get16(p + 2) << 16;
}

/* ---- CRC-32 ---- */

uint32_t zip_crc32(uint32_t crc, const uint8_t *data, size_t len)
{
    /* Reflected polynomial 0xEDB88320, four bits at a time. */
    static const uint32_t table[16] = {0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
                                       0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
                                       0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
                                       0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        crc = table[crc & 0xf] ^ (crc >> 4);
        crc = table[crc & 0xf] ^ (crc >> 4);
    }
    return ~crc;
}

/* ---- names ---- */

static bool s_name_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

bool zip_name_valid(const char *name)
{
    if (!name)
        return false;
    size_t len = strnlen(name, ZIP_NAME_MAX + 1);
    if (len == 0 || len > ZIP_NAME_MAX)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && name[i] != '/') {
            if (!s_name_char(name[i]))
                return false;
            continue;
        }
        size_t seg = i - start; /* a segment ends at '/' or at the end */
        if (seg == 0 || (seg == 1 && name[start] == '.') ||
            (seg == 2 && name[start] == '.' && name[start + 1] == '.'))
            return false;
        start = i + 1;
    }
    return true;
}

/* ---- DOS time ---- */

/* The DOS date and time of Unix ms (UTC), clamped to 1980..2107. */
static void s_dos_time(uint64_t ms, uint32_t *dos_time, uint32_t *dos_date)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || tm.tm_year < 80) {
        *dos_time = 0;
        *dos_date = (1u << 5) | 1u; /* 1980-01-01 */
        return;
    }
    if (tm.tm_year > 80 + 127) {
        *dos_time = (23u << 11) | (59u << 5) | 29u;
        *dos_date = (127u << 9) | (12u << 5) | 31u; /* 2107-12-31 23:59:58 */
        return;
    }
    *dos_time = (uint32_t)tm.tm_hour << 11 | (uint32_t)tm.tm_min << 5 | (uint32_t)tm.tm_sec / 2;
    *dos_date =
        (uint32_t)(tm.tm_year - 80) << 9 | (uint32_t)(tm.tm_mon + 1) << 5 | (uint32_t)tm.tm_mday;
}

/* ---- writer ---- */

/* What the central directory needs of a member written. */
typedef struct {
    char name[ZIP_NAME_MAX + 1];
    uint32_t crc;
    uint32_t size;
    uint32_t offset; /* of its local header */
} s_entry;

struct zip_writer {
    uint8_t *buf; /* local headers and data so far */
    size_t len, cap;
    s_entry *entries;
    size_t n, cap_entries;
    uint32_t dos_time, dos_date;
};

int zip_writer_new(uint64_t time_ms, zip_writer **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ASYLINK_E_NOMEM;
    s_dos_time(time_ms, &(*out)->dos_time, &(*out)->dos_date);
    return ASYLINK_OK;
}

void zip_writer_destroy(zip_writer **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->buf);
    free((*self_p)->entries);
    free(*self_p);
    *self_p = NULL;
}

/* Makes room for more bytes in w->buf. */
static int s_reserve(zip_writer *w, size_t more)
{
    if (w->len + more <= w->cap)
        return ASYLINK_OK;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < w->len + more)
        cap *= 2;
    uint8_t *b = realloc(w->buf, cap);
    if (!b)
        return ASYLINK_E_NOMEM;
    w->buf = b;
    w->cap = cap;
    return ASYLINK_OK;
}

/* Writes a local (central = false) or central header for e at p. */
static void s_header(const zip_writer *w, const s_entry *e, bool central, uint8_t *p)
{
    size_t name_len = strlen(e->name);
    uint8_t *f = central ? p + 6 : p + 4; /* the fields both headers share start here */
    memset(p, 0, central ? S_CENTRAL_LEN : S_LOCAL_LEN);
    s_put32(p, central ? S_CENTRAL_SIG : S_LOCAL_SIG);
    if (central)
        s_put16(p + 4, S_VERSION_MADE_BY);
    s_put16(f, S_VERSION_NEEDED); /* flags (f + 2) and method (f + 4) stay 0 */
    s_put16(f + 6, w->dos_time);
    s_put16(f + 8, w->dos_date);
    s_put32(f + 10, e->crc);
    s_put32(f + 14, e->size);
    s_put32(f + 18, e->size);
    s_put16(f + 22, (uint32_t)name_len);
    if (central) {
        s_put32(p + 38, S_EXTERNAL_ATTR);
        s_put32(p + 42, e->offset);
    }
    memcpy(p + (central ? S_CENTRAL_LEN : S_LOCAL_LEN), e->name, name_len);
}

/* Bytes the central directory and end record will take with one more member of name_len. */
static uint64_t s_tail_len(const zip_writer *w, size_t name_len)
{
    uint64_t n = S_END_LEN + S_CENTRAL_LEN + name_len;
    for (size_t i = 0; i < w->n; i++)
        n += S_CENTRAL_LEN + strlen(w->entries[i].name);
    return n;
}

int zip_writer_add(zip_writer *w, const char *name, const uint8_t *data, size_t len)
{
    if (!w || (!data && len))
        return ASYLINK_E_INVALID_ARG;
    if (!zip_name_valid(name))
        return ASYLINK_E_BAD_FIELD;
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return ASYLINK_E_EXISTS;
    size_t name_len = strlen(name);
    uint64_t total = (uint64_t)w->len + S_LOCAL_LEN + name_len + len + s_tail_len(w, name_len);
    if (w->n >= S_MAX_MEMBERS || len > ZIP_SIZE_MAX || total > ZIP_SIZE_MAX)
        return ASYLINK_E_TOO_LARGE;
    if (w->n == w->cap_entries) {
        size_t cap = w->cap_entries ? 2 * w->cap_entries : 16;
        s_entry *e = realloc(w->entries, cap * sizeof *e);
        if (!e)
            return ASYLINK_E_NOMEM;
        w->entries = e;
        w->cap_entries = cap;
    }
    if (s_reserve(w, S_LOCAL_LEN + name_len + len) != ASYLINK_OK)
        return ASYLINK_E_NOMEM;
    s_entry *e = &w->entries[w->n];
    memcpy(e->name, name, name_len + 1);
    e->crc = zip_crc32(0, data, len);
    e->size = (uint32_t)len;
    e->offset = (uint32_t)w->len;
    s_header(w, e, false, w->buf + w->len);
    w->len += S_LOCAL_LEN + name_len;
    if (len)
        memcpy(w->buf + w->len, data, len);
    w->len += len;
    w->n++;
    return ASYLINK_OK;
}

int zip_writer_finish(zip_writer *w, uint8_t **out, size_t *len)
{
    if (!w || !out || !len)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    *len = 0;
    uint64_t tail = s_tail_len(w, 0) - S_CENTRAL_LEN; /* no extra member */
    if ((uint64_t)w->len + tail > ZIP_SIZE_MAX)
        return ASYLINK_E_TOO_LARGE;
    if (s_reserve(w, (size_t)tail) != ASYLINK_OK)
        return ASYLINK_E_NOMEM;
    uint32_t cd_offset = (uint32_t)w->len;
    for (size_t i = 0; i < w->n; i++) {
        s_header(w, &w->entries[i], true, w->buf + w->len);
        w->len += S_CENTRAL_LEN + strlen(w->entries[i].name);
    }
    uint8_t *end = w->buf + w->len;
    memset(end, 0, S_END_LEN);
    s_put32(end, S_END_SIG);
    s_put16(end + 8, (uint32_t)w->n);
    s_put16(end + 10, (uint32_t)w->n);
    s_put32(end + 12, (uint32_t)w->len - cd_offset);
    s_put32(end + 16, cd_offset);
    w->len += S_END_LEN;
    *out = w->buf;
    *len = w->len;
    w->buf = NULL;
    w->len = w->cap = 0;
    w->n = 0;
    return ASYLINK_OK;
}

/* ---- reader ---- */

struct zip_archive {
    zip_member *members;
    char *names; /* n * (ZIP_NAME_MAX + 1) bytes */
    size_t n;
};

/* Sets why's text and returns code. */
static int s_fail(zip_error *why, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(zip_error *why, int code, const char *fmt, ...)
{
    if (why) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why->text, sizeof why->text, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* The fields a central and a local header share (same order in both). */
typedef struct {
    uint32_t version, flags, method, time, date, crc, csize, usize, name_len, extra_len;
} s_common;

static void s_common_get(const uint8_t *f, s_common *c)
{
    c->version = s_get16(f);
    c->flags = s_get16(f + 2);
    c->method = s_get16(f + 4);
    c->time = s_get16(f + 6);
    c->date = s_get16(f + 8);
    c->crc = s_get32(f + 10);
    c->csize = s_get32(f + 14);
    c->usize = s_get32(f + 18);
    c->name_len = s_get16(f + 22);
    c->extra_len = s_get16(f + 24);
}

/* Checks a central header's fields that do not depend on where things are. */
static int s_check_central(const s_common *c, const uint8_t *p, zip_error *why, size_t i)
{
    if (c->version > 20 || c->flags != 0 || c->method != 0)
        return s_fail(why, ASYLINK_E_UNSUPPORTED_VERSION,
                      "member %zu is compressed, encrypted or needs ZIP %u.%u (only stored "
                      "members, flags 0)",
                      i + 1, c->version / 10, c->version % 10);
    if (c->csize == 0xffffffffu || c->usize == 0xffffffffu || s_get16(p + 34) != 0)
        return s_fail(why, ASYLINK_E_UNSUPPORTED_VERSION, "member %zu uses ZIP64 or several disks",
                      i + 1);
    if (c->csize != c->usize)
        return s_fail(why, ASYLINK_E_MALFORMED, "member %zu: stored size %u differs from size %u",
                      i + 1, c->csize, c->usize);
    if (c->extra_len != 0 || s_get16(p + 32) != 0)
        return s_fail(why, ASYLINK_E_MALFORMED, "member %zu has extra fields or a comment", i + 1);
    if (c->name_len == 0 || c->name_len > ZIP_NAME_MAX)
        return s_fail(why, ASYLINK_E_BAD_FIELD, "member %zu: name of %u bytes (1..%d allowed)",
                      i + 1, c->name_len, ZIP_NAME_MAX);
    return ASYLINK_OK;
}

/* Copies and checks member i's name (raw, name_len bytes) into name. */
static int s_take_name(const zip_archive *a, size_t i, const uint8_t *raw, size_t name_len,
                       char *name, zip_error *why)
{
    memcpy(name, raw, name_len);
    name[name_len] = 0;
    if (memchr(raw, 0, name_len) != NULL || !zip_name_valid(name)) {
        for (size_t k = 0; k < name_len; k++) /* printable in the message */
            if ((unsigned char)name[k] < 0x20 || (unsigned char)name[k] > 0x7e)
                name[k] = '?';
        return s_fail(why, ASYLINK_E_BAD_FIELD,
                      "member %zu: name '%s' is not allowed (absolute, '..', backslash or "
                      "another character)",
                      i + 1, name);
    }
    for (size_t k = 0; k < i; k++)
        if (strcmp(a->members[k].name, name) == 0)
            return s_fail(why, ASYLINK_E_BAD_FIELD, "two members are called '%s'", name);
    return ASYLINK_OK;
}

/* Checks member i's local header at offset against its central header c; sets data. */
static int s_check_local(const uint8_t *buf, uint64_t offset, uint64_t data_end, const s_common *c,
                         zip_member *m, zip_error *why)
{
    if (offset + S_LOCAL_LEN + c->name_len + c->usize > data_end)
        return s_fail(why, ASYLINK_E_MALFORMED, "member '%s' runs past the member area", m->name);
    const uint8_t *p = buf + offset;
    s_common l;
    s_common_get(p + 4, &l);
    if (s_get32(p) != S_LOCAL_SIG || l.version != c->version || l.flags != c->flags ||
        l.method != c->method || l.time != c->time || l.date != c->date || l.crc != c->crc ||
        l.csize != c->csize || l.usize != c->usize || l.name_len != c->name_len ||
        l.extra_len != 0 || memcmp(p + S_LOCAL_LEN, m->name, c->name_len) != 0)
        return s_fail(why, ASYLINK_E_MALFORMED,
                      "member '%s': local header differs from the central directory", m->name);
    m->data = p + S_LOCAL_LEN + c->name_len;
    m->size = c->usize;
    if (zip_crc32(0, m->data, m->size) != c->crc)
        return s_fail(why, ASYLINK_E_MALFORMED, "member '%s': CRC-32 does not match its data",
                      m->name);
    return ASYLINK_OK;
}

/* Reads the end record: member count, central directory offset and size. */
static int s_read_end(const uint8_t *buf, size_t len, const zip_limits *lim, size_t *n,
                      uint64_t *cd_off, zip_error *why)
{
    if (len > lim->max_archive_size || len > ZIP_SIZE_MAX)
        return s_fail(why, ASYLINK_E_TOO_LARGE, "archive of %zu bytes (at most %zu)", len,
                      lim->max_archive_size);
    if (len < S_END_LEN)
        return s_fail(why, ASYLINK_E_MALFORMED, "not a ZIP archive: %zu bytes", len);
    const uint8_t *e = buf + len - S_END_LEN;
    if (s_get32(e) != S_END_SIG || s_get16(e + 20) != 0)
        return s_fail(why, ASYLINK_E_MALFORMED,
                      "not a ZIP archive of this format: no end record at the end of the file "
                      "(trailing bytes or a comment?)");
    if (s_get16(e + 4) != 0 || s_get16(e + 6) != 0 || s_get16(e + 8) != s_get16(e + 10) ||
        s_get16(e + 10) == 0xffffu || s_get32(e + 12) == 0xffffffffu ||
        s_get32(e + 16) == 0xffffffffu)
        return s_fail(why, ASYLINK_E_UNSUPPORTED_VERSION, "a multi-disk or ZIP64 archive");
    *n = s_get16(e + 10);
    *cd_off = s_get32(e + 16);
    if (*n == 0)
        return s_fail(why, ASYLINK_E_MALFORMED, "the archive has no member");
    if (*n > lim->max_members)
        return s_fail(why, ASYLINK_E_TOO_LARGE, "%zu members (at most %zu)", *n, lim->max_members);
    if (*cd_off + s_get32(e + 12) != len - S_END_LEN)
        return s_fail(why, ASYLINK_E_MALFORMED,
                      "the central directory does not end where the end record begins");
    return ASYLINK_OK;
}

/* Walks the central directory from cd_off, checking every member. */
static int s_read_members(zip_archive *a, const uint8_t *buf, uint64_t cd_off, uint64_t cd_end,
                          const zip_limits *lim, zip_error *why)
{
    uint64_t p = cd_off, next_local = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (p + S_CENTRAL_LEN > cd_end || s_get32(buf + p) != S_CENTRAL_SIG)
            return s_fail(why, ASYLINK_E_MALFORMED, "central directory entry %zu is damaged",
                          i + 1);
        s_common c;
        s_common_get(buf + p + 6, &c);
        int rc = s_check_central(&c, buf + p, why, i);
        if (rc != ASYLINK_OK)
            return rc;
        if (p + S_CENTRAL_LEN + c.name_len > cd_end)
            return s_fail(why, ASYLINK_E_MALFORMED, "central directory entry %zu is cut short",
                          i + 1);
        char *name = a->names + i * (ZIP_NAME_MAX + 1);
        a->members[i].name = name;
        rc = s_take_name(a, i, buf + p + S_CENTRAL_LEN, c.name_len, name, why);
        if (rc != ASYLINK_OK)
            return rc;
        if (c.usize > lim->max_member_size)
            return s_fail(why, ASYLINK_E_TOO_LARGE, "member '%s' of %u bytes (at most %zu)", name,
                          c.usize, lim->max_member_size);
        if (s_get32(buf + p + 42) != next_local)
            return s_fail(why, ASYLINK_E_MALFORMED,
                          "member '%s' does not start where the previous one ends", name);
        rc = s_check_local(buf, next_local, cd_off, &c, &a->members[i], why);
        if (rc != ASYLINK_OK)
            return rc;
        next_local += S_LOCAL_LEN + c.name_len + c.usize;
        p += S_CENTRAL_LEN + c.name_len;
    }
    if (p != cd_end)
        return s_fail(why, ASYLINK_E_MALFORMED, "the central directory holds more than %zu entries",
                      a->n);
    if (next_local != cd_off)
        return s_fail(why, ASYLINK_E_MALFORMED,
                      "bytes between the last member and the central directory");
    return ASYLINK_OK;
}

int zip_read(const uint8_t *buf, size_t len, const zip_limits *limits, zip_archive **out,
             zip_error *why)
{
    if (why)
        why->text[0] = 0;
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    if ((!buf && len) || !limits || limits->max_members == 0)
        return s_fail(why, ASYLINK_E_INVALID_ARG, "invalid arguments");
    size_t n = 0;
    uint64_t cd_off = 0;
    int rc = s_read_end(buf, len, limits, &n, &cd_off, why);
    if (rc != ASYLINK_OK)
        return rc;
    zip_archive *a = calloc(1, sizeof *a);
    if (a) {
        a->members = calloc(n, sizeof *a->members);
        a->names = malloc(n * (ZIP_NAME_MAX + 1));
    }
    if (!a || !a->members || !a->names) {
        zip_archive_destroy(&a);
        return s_fail(why, ASYLINK_E_NOMEM, "out of memory");
    }
    a->n = n;
    rc = s_read_members(a, buf, cd_off, len - S_END_LEN, limits, why);
    if (rc != ASYLINK_OK) {
        zip_archive_destroy(&a);
        return rc;
    }
    *out = a;
    return ASYLINK_OK;
}

void zip_archive_destroy(zip_archive **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->members);
    free((*self_p)->names);
    free(*self_p);
    *self_p = NULL;
}

size_t zip_count(const zip_archive *a)
{
    return a ? a->n : 0;
}

const zip_member *zip_at(const zip_archive *a, size_t i)
{
    return a && i < a->n ? &a->members[i] : NULL;
}

const zip_member *zip_find(const zip_archive *a, const char *name)
{
    for (size_t i = 0; a && name && i < a->n; i++)
        if (strcmp(a->members[i].name, name) == 0)
            return &a->members[i];
    return NULL;
}
