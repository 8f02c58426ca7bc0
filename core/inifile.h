/*
 * inifile.h — the strict INI reader under both of asylink's INI formats:
 * the option tables of config.h and the broker's access policy
 * (broker/policy.c).
 *
 * libinih splits lines into (section, key, value); this reader hands it
 * one physical line at a time, so that every error names its line
 * (Debian's libinih is built without INI_HANDLER_LINENO), and refuses what
 * libinih would take silently: a file over INIFILE_LIMIT bytes, a NUL
 * byte, a line longer than libinih's buffer (199 bytes), a key outside any
 * [section]. Leading blanks are dropped, so an indented line is never a
 * continuation. A file is hostile input: the first error stops the read.
 *
 * Errors: the first one wins, by line: a syntax error libinih finds on an
 * earlier line than an error a callback reported replaces it. Text from
 * the file is escaped in messages (config_clean(), config_quote()).
 *
 * Threading: an inifile is used by one thread; no global state.
 */
#ifndef ASYLINK_CORE_INIFILE_H
#define ASYLINK_CORE_INIFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define INIFILE_LIMIT (1u << 20) /* largest file accepted, bytes */

typedef struct inifile inifile;

/*
 * Called for every "key = value" inside a section. Returns 0 to go on, or
 * -1 to stop after recording why with inifile_fail().
 */
typedef int (*inifile_key_fn)(inifile *f, void *ctx, const char *section, const char *key,
                              const char *value);

/*
 * Called for every "[name]" line, before the keys under it (libinih
 * reports keys, not headers, so a section without keys would go unnoticed
 * otherwise). name is NUL-terminated, not validated. 0 or -1 as above.
 */
typedef int (*inifile_section_fn)(inifile *f, void *ctx, const char *name);

struct inifile {
    const char *path;  /* file name as given, for messages (borrowed) */
    unsigned line;     /* 1-based line being read; 0 before the first and after the file */
    int code;          /* ASYLINK_OK, or the code of the first error */
    config_error *err; /* the first error: file, line, section, key, message; never NULL */
    /* the read in progress */
    FILE *file;
    size_t bytes;
    inifile_key_fn on_key;
    inifile_section_fn on_section;
    void *ctx;
};

/*
 * Prepares f to read the file named path (borrowed; NULL reads as "").
 * err (borrowed, never NULL) is cleared and receives the first error.
 */
void inifile_init(inifile *f, const char *path, config_error *err);

/*
 * Reads the open file in (borrowed; not closed) through libinih, calling
 * on_key for each key and on_section (may be NULL) for each header.
 * Returns f->code: ASYLINK_OK; ASYLINK_E_IO (read failed); ASYLINK_E_NOMEM;
 * ASYLINK_E_CONFIG (too large, NUL byte, line too long, key outside a
 * section, syntax error); or what a callback recorded.
 */
int inifile_read(inifile *f, FILE *in, inifile_key_fn on_key, inifile_section_fn on_section,
                 void *ctx);

/*
 * Records an error with its code at line (0 = none) in f->err and f->code,
 * unless one is recorded already. section and key may be "" (not NULL).
 */
__attribute__((format(printf, 6, 7))) void inifile_fail(inifile *f, int code, unsigned line,
                                                        const char *section, const char *key,
                                                        const char *fmt, ...);

#endif
