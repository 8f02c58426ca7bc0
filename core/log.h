/*
 * log.h — logfmt logging for the broker and the tools.
 *
 * One line per event, written to stderr with a single write() (or handed to
 * a sink installed with log_set_sink):
 *
 *   ts=2026-11-27T15:09:42.123Z level=info comp=router msg="session opened" node=DE credit=100
 *
 * ts is UTC with milliseconds; msg is always quoted; the key=value tail is the
 * caller's printf format. Every line is valid logfmt (core/logfmt.h): a
 * value that is not a fixed word (a node id, an error name, a number) goes
 * through LOG_Q() or log_quote(), which quote and escape it when needed:
 *
 *   LOG_ERROR("main", "cannot load the broker key", "path=%s code=%s", LOG_Q(path), name);
 *
 * A tail that still does not parse (a raw "%s" holding a space, a quote, an
 * '=' or a line break) goes, escaped, into one pair rest="...": a value can
 * never forge a key or a second line. A line is at most LOG_LINE_MAX bytes including its newline;
 * a longer one is cut inside a value, which ends in "..." (and its quote).
 *
 * NEVER LOG PAYLOADS, KEYS OR OTHER SECRETS. Logs leave the security
 * boundary (journald, log shippers, support tickets): log identifiers,
 * sizes, counts and outcomes — message ids, node codes, byte counts — never
 * message bodies, personal data from envelopes, key material, passphrases or
 * tokens, not even truncated or hashed "for debugging".
 *
 * Threads: all functions may be called from any thread. The level is an
 * atomic; the sink is called with an internal mutex held, so sinks see one
 * line at a time and need no locking of their own, but must not log.
 *
 * The client library must not use this module: a library never prints.
 *
 * The LOG_* macro names clash with <syslog.h>; a file needs one or the other.
 */
#ifndef ASYLINK_CORE_LOG_H
#define ASYLINK_CORE_LOG_H

#if defined(LOG_INFO) || defined(LOG_DEBUG)
#error "core/log.h clashes with <syslog.h> (LOG_INFO, LOG_DEBUG); include only one"
#endif

#include <stdbool.h>
#include <stddef.h>

/* Longest line written, in bytes, including the trailing newline. */
#define LOG_LINE_MAX 2048

/* Severity, most severe first: a level lets through itself and all above. */
typedef enum log_level {
    LOG_LEVEL_ERROR = 0, /* the process or a session cannot go on as asked */
    LOG_LEVEL_WARN = 1,  /* something is wrong but handled: rejected input, retry */
    LOG_LEVEL_INFO = 2,  /* lifecycle: start, stop, sessions, config (default) */
    LOG_LEVEL_DEBUG = 3  /* detail for developers; may be voluminous */
} log_level;

/*
 * Level names indexed by log_level, NULL-terminated: "error", "warn",
 * "info", "debug". Usable as enum_values of a CONFIG_ENUM option.
 */
extern const char *const log_level_names[];

/*
 * A sink receives each finished line (NUL-terminated, without the trailing
 * newline) and the level it was logged at. line is valid only during the
 * call. ctx is the pointer given to log_set_sink.
 */
typedef void (*log_sink_fn)(void *ctx, log_level lvl, const char *line);

/* Sets the process-wide level; out-of-range values are clamped. */
void log_set_level(log_level lvl);

/* Returns the process-wide level (LOG_LEVEL_INFO until set). */
log_level log_get_level(void);

/*
 * Parses a level name ("error", "warn" or "warning", "info", "debug"; any
 * case) into *out. Returns 0, or -1 with *out unchanged.
 */
int log_level_parse(const char *s, log_level *out);

/* Returns the name of lvl ("info"), or "unknown". Static storage. */
const char *log_level_name(log_level lvl);

/*
 * Sends every following line to sink(ctx, ...) instead of stderr; NULL
 * restores stderr. ctx is borrowed and must stay valid until the sink is
 * replaced. Returns after any line in progress has reached the old sink.
 */
void log_set_sink(log_sink_fn sink, void *ctx);

/* True if a line at lvl would be written at the current level. */
bool log_enabled(log_level lvl);

/*
 * Writes one line at lvl if enabled. comp names the component ("router");
 * msg is a fixed, human sentence, always quoted; kv_fmt is a printf format
 * for the key=value tail, or NULL for none. Never fails visibly: a write
 * error to stderr is ignored.
 */
void log_write(log_level lvl, const char *comp, const char *msg, const char *kv_fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Makes s safe as a logfmt value for "%s": if s is empty or contains a
 * space, '=', '"' or a control character, writes it double-quoted with '"',
 * '\' and control characters escaped; otherwise copies it as it is. The
 * result is cut (ending in "..." and, if quoted, a closing quote) to fit
 * len bytes. NULL becomes "". Returns buf, for use as a printf argument.
 * buf must hold at least 8 bytes. (logfmt_quote() under another name.)
 */
const char *log_quote(char *buf, size_t len, const char *s);

/* Longest value LOG_Q() writes, in bytes, with its quotes and NUL. */
#define LOG_Q_MAX 512

/*
 * s as one logfmt value (log_quote() into a buffer that lives until the end
 * of the enclosing block, i.e. the LOG_* statement), for "%s" in a kv
 * format. Evaluated only when the line is written.
 */
#define LOG_Q(s) log_quote((char[LOG_Q_MAX]){0}, LOG_Q_MAX, (s))

/*
 * Logging macros: arguments are evaluated only when the level is enabled.
 * The third argument is the kv format: LOG_INFO("router", "session opened",
 * "node=%s credit=%d", node, credit), LOG_INFO("router", "started", "pid=1"),
 * or NULL when there is no tail: LOG_WARN("auth", "bad certificate", NULL).
 */
#define LOG_AT_(lvl, comp, msg, ...)                   \
    do {                                               \
        if (log_enabled(lvl))                          \
            log_write((lvl), (comp), (msg), __VA_ARGS__); \
    } while (0)

#define LOG_ERROR(comp, msg, ...) LOG_AT_(LOG_LEVEL_ERROR, comp, msg, __VA_ARGS__)
#define LOG_WARN(comp, msg, ...) LOG_AT_(LOG_LEVEL_WARN, comp, msg, __VA_ARGS__)
#define LOG_INFO(comp, msg, ...) LOG_AT_(LOG_LEVEL_INFO, comp, msg, __VA_ARGS__)
#define LOG_DEBUG(comp, msg, ...) LOG_AT_(LOG_LEVEL_DEBUG, comp, msg, __VA_ARGS__)

#endif
