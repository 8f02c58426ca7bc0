/*
 * config.h — declarative INI configuration.
 *
 * A program declares its options once, in a table of config_option rows
 * (section, key, type, default, offset into the program's own struct, range,
 * help). That one table drives the INI parser (libinih), the defaults,
 * command-line overrides, the example config and the reference table in the
 * docs, so the four can never disagree.
 *
 * Value syntax (the same for the file, defaults and config_set):
 *   STRING    any text without control characters; "" is allowed and means
 *             "unset" unless the option is required. Stored as char * (heap).
 *   PATH      like STRING; a relative path read from a file (or a relative
 *             default applied by config_load_file) is resolved against the
 *             absolute directory of that file. Values given to config_set are
 *             kept as they are (relative to the working directory).
 *   INT       decimal, optional sign: "-12", "+7", "300". Stored as int64_t.
 *   BOOL      true/false, yes/no, on/off, 1/0 (any case). Stored as bool.
 *   SIZE      decimal number of bytes with an optional unit, exact case:
 *             B; KiB MiB GiB TiB (powers of 1024); KB MB GB TB (powers of
 *             1000, "kB" also accepted). "1048576", "64KiB", "512 MiB".
 *             Bare K/M/G are rejected as ambiguous. Stored as uint64_t bytes.
 *   DURATION  decimal number with a mandatory unit: ms, s, m, h, d
 *             ("250ms", "30s", "5m", "1h", "7d"). A bare number is rejected
 *             (is "30" seconds or milliseconds?) except "0". Stored as
 *             uint64_t milliseconds.
 *   ENUM      one of the option's enum_values (any case). Stored as int, the
 *             index into enum_values.
 * Blanks between a number and its unit are allowed ("512 MiB", "90 m").
 * Numbers are decimal digits only: no hex, no fractions, no exponent, no
 * surrounding junk. One pair of double quotes around a whole value is
 * removed ("512MiB" == 512MiB). In a file, "key = value ; comment" drops the
 * comment (a ';' preceded by whitespace starts an inline comment), lines
 * beginning with '#' or ';' are comments, leading indentation is ignored
 * (there are no continuation lines), and a line may hold at most 199 bytes
 * (libinih's line buffer). An unknown section that holds no keys goes
 * unnoticed, since libinih reports keys, not section headers.
 * Section and key names match exactly (case-sensitive).
 *
 * Errors: every function returns 0 on success and -1 on error after filling
 * *err (which may be NULL when the caller does not want details). The
 * config_* functions keep no global state; a target struct must not be used
 * by two threads at once.
 */
#ifndef ASYLINK_CORE_CONFIG_H
#define ASYLINK_CORE_CONFIG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The type of an option's value; decides syntax and storage (see above). */
typedef enum config_type {
    CONFIG_STRING,   /* char *, heap, freed by config_free */
    CONFIG_PATH,     /* char *, heap, relative values resolved per file */
    CONFIG_INT,      /* int64_t */
    CONFIG_BOOL,     /* bool */
    CONFIG_SIZE,     /* uint64_t, bytes */
    CONFIG_DURATION, /* uint64_t, milliseconds */
    CONFIG_ENUM      /* int, index into enum_values */
} config_type;

/* One row of an option table. Tables are static const data of the program. */
typedef struct config_option {
    const char *section;            /* INI section, e.g. "store" */
    const char *name;               /* key within the section, e.g. "map_size" */
    config_type type;               /* value syntax and storage type */
    const char *default_value;      /* text form, parsed like file input; NULL = required */
    size_t offset;                  /* offsetof() of the field in the caller's struct */
    int64_t min;                    /* lowest allowed value for INT/SIZE/DURATION */
    int64_t max;                    /* highest allowed value; min = max = 0: unbounded */
    const char *const *enum_values; /* NULL-terminated names, CONFIG_ENUM only */
    const char *help;               /* one-line description for example and docs */
} config_option;

/* Number of rows of a static option table. */
#define CONFIG_TABLE_LEN(t) (sizeof(t) / sizeof((t)[0]))

/* Longest part of a hostile value quoted back in an error message, bytes. */
#define CONFIG_QUOTE_MAX 48

/* Size of the text fields of config_error (longer text is truncated). */
#define CONFIG_ERROR_FILE_MAX 256
#define CONFIG_ERROR_NAME_MAX 64
#define CONFIG_ERROR_MESSAGE_MAX 256

/*
 * Where and why configuration failed. All fields are plain NUL-terminated
 * text with control characters escaped, safe to print or log; hostile values
 * quoted in message are cut short.
 */
typedef struct config_error {
    char file[CONFIG_ERROR_FILE_MAX];       /* config file as given, "" if none */
    unsigned line;                          /* 1-based line in file, 0 = no line */
    char section[CONFIG_ERROR_NAME_MAX];    /* section of the offending key, "" if none */
    char key[CONFIG_ERROR_NAME_MAX];        /* offending key, "" if none */
    char message[CONFIG_ERROR_MESSAGE_MAX]; /* what is wrong, e.g. "unknown key" */
} config_error;

/*
 * Fills every option of target from its default; required options (NULL
 * default) get NULL / 0 / false. Old strings in target are freed, so target
 * must be zero-initialised before its first use with any config_ function.
 * Returns -1 only if a default in the table is invalid (a programmer error;
 * err names the option).
 */
int config_set_defaults(const config_option *table, size_t n, void *target, config_error *err);

/*
 * Applies the defaults, then reads the INI file at path into target.
 * Errors: the file cannot be opened or read, is larger than 1 MiB, holds a
 * NUL byte, a line too long or a syntax error; a key outside any section,
 * an unknown section or key, a key given twice, a value that does not parse
 * or is out of range, a required option missing or empty. err reports the
 * first error by line. On error target holds a mix of defaults and values
 * from the file; the caller still owns it and frees it with config_free.
 */
int config_load_file(const char *path, const config_option *table, size_t n, void *target,
                     config_error *err);

/*
 * Sets one option from text, e.g. a command-line override "store.map_size=1GiB"
 * split by the caller. Same syntax and range checks as the file. Errors:
 * unknown option, bad or out-of-range value, empty value for a required
 * string. On error target is unchanged.
 */
int config_set(const config_option *table, size_t n, void *target, const char *section,
               const char *key, const char *value, config_error *err);

/* Frees the strings of target and sets them to NULL. Safe to call twice. */
void config_free(const config_option *table, size_t n, void *target);

/*
 * Writes an example INI file: options grouped by section in table order,
 * each preceded by its help, type, range and default as comments. Optional
 * options appear commented out with their default; required ones appear as
 * "key =" to be filled in. Returns -1 if writing to out failed.
 */
int config_write_example(FILE *out, const config_option *table, size_t n);

/*
 * Writes a Markdown reference table (option, type, default, range,
 * description) for docs/OPERATIONS.md. Returns -1 if writing failed.
 */
int config_write_markdown(FILE *out, const config_option *table, size_t n);

/*
 * The words the example and the reference use for an option, for other
 * writers of its documentation (the manual pages): the type's name
 * ("size"); "min .. max" in the type's own units ("1MiB .. 64TiB", "" when
 * unbounded); the ENUM names joined by ", " ("fsync, relaxed"). The
 * format functions write into buf (len > 0, text cut to fit) and return it.
 */
const char *config_type_name(config_type t);
const char *config_format_range(const config_option *o, char *buf, size_t len);
const char *config_format_enum(const config_option *o, char *buf, size_t len);

/*
 * Formats e as one line into buf (always NUL-terminated if len > 0), e.g.
 * broker.ini:12: [store] map_size: expected a size like 512MiB, got "abc"
 * Parts that are empty in e are left out.
 */
void config_error_format(const config_error *e, char *buf, size_t len);

/*
 * Fills every field of *err (nothing if err is NULL): file, section and key
 * (NULL reads as "") escaped by config_clean(), line, and the message from
 * fmt. For readers of other INI formats (inifile.h) and their checks.
 */
__attribute__((format(printf, 6, 0))) void config_error_vset(config_error *err, const char *file,
                                                             unsigned line, const char *section,
                                                             const char *key, const char *fmt,
                                                             va_list ap);

/*
 * Copies the first n bytes of src (fewer if a NUL comes first; NULL reads
 * as "") into dst (len > 0), control bytes escaped as \xNN, cut short to
 * fit. Returns dst.
 */
char *config_clean(char *dst, size_t len, const char *src, size_t n);

/*
 * Writes the first n bytes of s into buf (len > 0) double-quoted, with '"',
 * '\\' and control bytes escaped, cut after CONFIG_QUOTE_MAX bytes with
 * "..."; e.g. "abc" or "aaaa...". Returns buf.
 */
const char *config_quote(char *buf, size_t len, const char *s, size_t n);

/* Parses a SIZE value into bytes. Returns 0, or -1 (and *out unchanged). */
int config_parse_size(const char *s, uint64_t *out);

/* Parses a DURATION value into milliseconds. Returns 0, or -1. */
int config_parse_duration_ms(const char *s, uint64_t *out);

/* Parses a BOOL value. Returns 0, or -1. */
int config_parse_bool(const char *s, bool *out);

#endif
