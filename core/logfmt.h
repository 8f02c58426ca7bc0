/*
 * logfmt.h — the logfmt format of asylink's log lines: building lines that
 * stay valid whatever their values hold, and reading them back.
 *
 * A line is pairs separated by one space: key=value. A key is one or more
 * bytes other than space, '=', '"' and control characters. A value is
 * either bare (zero or more bytes other than those) or double-quoted, with
 * the escapes \" \\ \n \r \t and \xHH, and no raw control character
 * inside. Bytes >= 0x80 (UTF-8) are kept as they are.
 *
 *   ts=2026-11-27T15:09:42.123Z level=info comp=router msg="session opened" node=DE
 *
 * Building (logfmt_buf): a line is built in a caller's buffer from pairs;
 * values are quoted and escaped when they need it. A free-form tail
 ("node=DE path=%s" after printf) is checked: if it is not valid logfmt
 * (a raw value with a space, a quote, an '=' or a line break), all of it
 * goes, escaped, into one pair rest="..." (where a raw value ended cannot
 * be known), so a value can never forge a key or a second line. A line that does not fit is cut
 * inside a value, which then ends in "..." (and its closing quote): the
 * cut line is still valid logfmt.
 *
 * Reading: logfmt_next() walks the pairs of a line, logfmt_get() finds a
 * key and unescapes its value, logfmt_valid() checks a whole line.
 *
 * Pure functions, no I/O and no global state: thread-safe. Used by the
 * broker's and tools' logger (log.c), by the client library's log lines
 * (client/events.c), and by the CLI to read the library's lines.
 */
#ifndef ASYLINK_CORE_LOGFMT_H
#define ASYLINK_CORE_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>

/* The marker that ends a value that had to be cut. */
#define LOGFMT_CUT_MARK "..."

/* The key of the pair that carries a tail's unparsable remainder. */
#define LOGFMT_REST_KEY "rest"

/*
 * A line being built in a caller's buffer of cap + 1 bytes (always
 * NUL-terminated). Once something does not fit, nothing more is appended;
 * logfmt_buf_finish() then ends the line inside the last value that left
 * room for the cut marker.
 */
typedef struct logfmt_buf {
    char *data;      /* the buffer */
    size_t cap;      /* usable bytes, excluding the NUL */
    size_t len;      /* bytes used */
    size_t safe;     /* a position inside a value where the cut marker fits */
    bool safe_quote; /* that position is inside a quoted value */
    bool in_value;   /* appending a value now (cuts may happen here) */
    bool in_quote;   /* ... a quoted one */
    bool truncated;  /* something did not fit */
} logfmt_buf;

/* Starts an empty line over data (cap + 1 bytes; cap >= 8). */
void logfmt_buf_init(logfmt_buf *b, char *data, size_t cap);

/*
 * Appends " key=value" (no space before the first pair): value quoted and
 * escaped if it needs it (empty, or holding a space, '=', '"' or a control
 * character). key must be a valid key (a constant of the caller); NULL
 * value is "".
 */
void logfmt_put(logfmt_buf *b, const char *key, const char *value);

/* Appends " key=value" with value always quoted (e.g. msg). */
void logfmt_put_quoted(logfmt_buf *b, const char *key, const char *value);

/*
 * Appends a free-form tail of pairs (e.g. printf output of "node=%s n=%d"):
 * its pairs if it is valid logfmt, else one pair rest="<the escaped tail>".
 * NULL or "" adds nothing.
 */
void logfmt_put_tail(logfmt_buf *b, const char *tail);

/* Ends a line that was cut with the cut marker (and a closing quote). Returns b->data. */
const char *logfmt_buf_finish(logfmt_buf *b);

/*
 * Makes s one logfmt value: copied as it is if it needs no quotes, else
 * double-quoted and escaped; cut (ending in "..." and the closing quote) to
 * fit len bytes. NULL is "". Returns buf, for use as a printf argument.
 * len must be at least 8.
 */
const char *logfmt_quote(char *buf, size_t len, const char *s);

/* One pair of a line, pointing into it. */
typedef struct logfmt_pair {
    const char *key; /* the key (not NUL-terminated) */
    size_t key_len;
    const char *value; /* the value as written: without the quotes, still escaped */
    size_t value_len;
    bool quoted; /* the value was quoted */
} logfmt_pair;

/*
 * Reads the pair at *p (a position in a line: its start, or just after a
 * pair) and moves *p past it. Returns 1 for a pair, 0 at the end of the
 * line, -1 if the text there is not logfmt (*p is not moved).
 */
int logfmt_next(const char **p, logfmt_pair *out);

/* True if the whole line is valid logfmt (an empty line is). */
bool logfmt_valid(const char *line);

/*
 * Unescapes the value of pair into buf (len bytes, NUL-terminated).
 * Returns the value's length, or -1 if it does not fit.
 */
int logfmt_unescape(const logfmt_pair *pair, char *buf, size_t len);

/*
 * Finds the first pair named key in line and writes its unescaped value to
 * buf (len bytes). Returns its length, or -1 if the key is absent, the
 * line is not valid logfmt before it, or the value does not fit.
 */
int logfmt_get(const char *line, const char *key, char *buf, size_t len);

#endif
