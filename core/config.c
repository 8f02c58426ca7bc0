/*
 * config.c — declarative INI configuration driven by one option table.
 *
 * inifile.c reads the file strictly, line by line, through libinih; everything
 * else is here: lookup in the table, strict parsing of each type, range
 * checks, and writing the example and the docs from the same table. Values in a file are hostile:
 * every parser rejects empty input, signs where none belong, overflow and trailing junk.
 */
#include "config.h"

#include "asylink/errors.h"
#include "inifile.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A parsed value, before it is stored into the target struct. */
typedef union config_value {
    char *str;  /* STRING, PATH: heap copy, owned until stored */
    int64_t i;  /* INT */
    bool b;     /* BOOL */
    uint64_t u; /* SIZE (bytes), DURATION (milliseconds) */
    int e;      /* ENUM index */
} config_value;

/* State of one config_load_file() run, shared with the key handler. */
typedef struct config_load_state {
    const config_option *table; /* the caller's option table */
    size_t n;                   /* rows in table */
    void *target;               /* the caller's struct being filled */
    char *dir;                  /* absolute directory of the file, heap */
    unsigned *set_on_line;      /* per option: line that set it, 0 = not set */
    inifile ini;                /* the reader: line, first error */
} config_load_state;

/* Size units: suffix and multiplier. Exact-case match. */
static const struct {
    const char *suffix; /* unit as written after the number */
    uint64_t factor;    /* bytes per unit */
} s_size_units[] = {
    {"B", 1},
    {"KiB", 1ull << 10},
    {"MiB", 1ull << 20},
    {"GiB", 1ull << 30},
    {"TiB", 1ull << 40},
    {"kB", 1000ull},
    {"KB", 1000ull},
    {"MB", 1000000ull},
    {"GB", 1000000000ull},
    {"TB", 1000000000000ull},
};

/* Duration units: suffix and milliseconds per unit, largest first. */
static const struct {
    const char *suffix; /* unit as written after the number */
    uint64_t factor;    /* milliseconds per unit */
} s_duration_units[] = {
    {"d", 86400000ull}, {"h", 3600000ull}, {"m", 60000ull}, {"s", 1000ull}, {"ms", 1ull},
};

/* Spellings accepted by config_parse_bool, true and false alternating. */
static const char *const s_bool_words[] = {"true", "false", "yes", "no", "on", "off", "1", "0"};

/* Number of elements of a static array. */
#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- text -- */

char *config_clean(char *dst, size_t len, const char *src, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; src && i < n && src[i]; i++) {
        unsigned char c = (unsigned char)src[i];
        char esc[5] = {(char)c, 0};
        if (c < 0x20 || c == 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", c);
        size_t el = strlen(esc);
        if (o + el >= len)
            break;
        memcpy(dst + o, esc, el);
        o += el;
    }
    dst[o] = '\0';
    return dst;
}

const char *config_quote(char *buf, size_t len, const char *s, size_t n)
{
    char inner[CONFIG_QUOTE_MAX * 4 + 1];
    size_t o = 0, i = 0;
    for (; i < n && i < CONFIG_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(inner + o, sizeof inner - o, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(inner + o, sizeof inner - o, "\\x%02x", c);
        else
            inner[o++] = (char)c;
    }
    inner[o] = '\0';
    snprintf(buf, len, "\"%s%s\"", inner, i < n ? "..." : "");
    return buf;
}

/* snprintf for messages, where cutting long text short is intended. */
__attribute__((format(printf, 3, 4))) static void s_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

void config_error_vset(config_error *err, const char *file, unsigned line, const char *section,
                       const char *key, const char *fmt, va_list ap)
{
    if (!err)
        return;
    config_clean(err->file, sizeof err->file, file, SIZE_MAX);
    err->line = line;
    config_clean(err->section, sizeof err->section, section, SIZE_MAX);
    config_clean(err->key, sizeof err->key, key, SIZE_MAX);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

/* Fills *err (first error wins is the caller's business). */
__attribute__((format(printf, 6, 7))) static void s_error(config_error *err, const char *file,
                                                          unsigned line, const char *section,
                                                          const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    config_error_vset(err, file, line, section, key, fmt, ap);
    va_end(ap);
}

/* True if s holds a control character (a line break could forge output). */
static bool s_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

/* ------------------------------------------------------------- parsing -- */

/*
 * Reads decimal digits at *p into *out and advances *p. Returns NULL, or why
 * not: no digit at all, or a value above UINT64_MAX.
 */
static const char *s_parse_digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*s))
        return "no digits";
    for (; isdigit((unsigned char)*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return "overflow";
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return NULL;
}

/* Skips spaces and tabs. */
static const char *s_skip_blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Parses an INT; returns NULL or the reason it is not one. */
static const char *s_parse_int(const char *s, int64_t *out)
{
    bool neg = (*s == '-');
    const char *p = (*s == '-' || *s == '+') ? s + 1 : s;
    uint64_t mag;
    const char *why = s_parse_digits(&p, &mag);
    if (why && strcmp(why, "overflow") == 0)
        return "integer is too large";
    if (why || *p)
        return "expected an integer like 42";
    if (mag > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return "integer is too large";
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return NULL;
}

/* Parses number + unit against a unit table; shared by SIZE and DURATION. */
static const char *s_parse_scaled(const char *s, const char *what, bool unit_required,
                                  const char *const *suffixes, const uint64_t *factors,
                                  size_t nunits, uint64_t *out)
{
    if (*s == '-')
        return "negative values are not allowed";
    const char *p = s;
    uint64_t num;
    const char *why = s_parse_digits(&p, &num);
    if (why && strcmp(why, "overflow") == 0)
        return "number is too large";
    if (why)
        return what;
    p = s_skip_blank(p);
    if (!*p) {
        if (unit_required && num != 0)
            return "missing unit (ms, s, m, h or d), e.g. 30s";
        *out = num;
        return NULL;
    }
    for (size_t i = 0; i < nunits; i++) {
        if (strcmp(p, suffixes[i]) != 0)
            continue;
        if (num > UINT64_MAX / factors[i])
            return "number is too large";
        *out = num * factors[i];
        return NULL;
    }
    return unit_required ? "unknown unit (use ms, s, m, h or d)"
                         : "unknown unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)";
}

/* Parses a SIZE; returns NULL or the reason it is not one. */
static const char *s_parse_size(const char *s, uint64_t *out)
{
    const char *suffixes[S_COUNT(s_size_units)];
    uint64_t factors[S_COUNT(s_size_units)];
    for (size_t i = 0; i < S_COUNT(s_size_units); i++) {
        suffixes[i] = s_size_units[i].suffix;
        factors[i] = s_size_units[i].factor;
    }
    return s_parse_scaled(s, "expected a size like 512MiB", false, suffixes, factors,
                          S_COUNT(s_size_units), out);
}

/* Parses a DURATION; returns NULL or the reason it is not one. */
static const char *s_parse_duration(const char *s, uint64_t *out)
{
    const char *suffixes[S_COUNT(s_duration_units)];
    uint64_t factors[S_COUNT(s_duration_units)];
    for (size_t i = 0; i < S_COUNT(s_duration_units); i++) {
        suffixes[i] = s_duration_units[i].suffix;
        factors[i] = s_duration_units[i].factor;
    }
    return s_parse_scaled(s, "expected a duration like 30s", true, suffixes, factors,
                          S_COUNT(s_duration_units), out);
}

int config_parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    if (!s || !out || s_parse_size(s, &v))
        return -1;
    *out = v;
    return 0;
}

int config_parse_duration_ms(const char *s, uint64_t *out)
{
    uint64_t v;
    if (!s || !out || s_parse_duration(s, &v))
        return -1;
    *out = v;
    return 0;
}

int config_parse_bool(const char *s, bool *out)
{
    if (!s || !out)
        return -1;
    for (size_t i = 0; i < S_COUNT(s_bool_words); i++) {
        if (strcasecmp(s, s_bool_words[i]) == 0) {
            *out = (i % 2 == 0);
            return 0;
        }
    }
    return -1;
}

/* Parses an ENUM name into its index; returns -1 if it is not one. */
static int s_parse_enum(const config_option *o, const char *s, int *out)
{
    for (int i = 0; o->enum_values && o->enum_values[i]; i++) {
        if (strcasecmp(s, o->enum_values[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

/* ---------------------------------------------------------- formatting -- */

/* Formats bytes with the largest exact unit: 536870912 -> "512MiB". */
static const char *s_format_size(uint64_t v, char *buf, size_t len)
{
    static const char *const names[] = {"TiB", "GiB", "MiB", "KiB"};
    for (size_t i = 0; i < S_COUNT(names) && v; i++) {
        uint64_t f = 1ull << (10 * (S_COUNT(names) - i));
        if (v % f == 0) {
            snprintf(buf, len, "%" PRIu64 "%s", v / f, names[i]);
            return buf;
        }
    }
    snprintf(buf, len, "%" PRIu64, v);
    return buf;
}

/* Formats milliseconds with the largest exact unit: 300000 -> "5m". */
static const char *s_format_duration(uint64_t v, char *buf, size_t len)
{
    for (size_t i = 0; i < S_COUNT(s_duration_units) && v; i++) {
        if (v % s_duration_units[i].factor == 0) {
            snprintf(buf, len, "%" PRIu64 "%s", v / s_duration_units[i].factor,
                     s_duration_units[i].suffix);
            return buf;
        }
    }
    snprintf(buf, len, "0");
    return buf;
}

/* Formats a range bound the way the option's type is written. */
static const char *s_format_bound(const config_option *o, int64_t v, char *buf, size_t len)
{
    if (o->type == CONFIG_SIZE && v >= 0)
        return s_format_size((uint64_t)v, buf, len);
    if (o->type == CONFIG_DURATION && v >= 0)
        return s_format_duration((uint64_t)v, buf, len);
    snprintf(buf, len, "%" PRId64, v);
    return buf;
}

/* True if the option has a range (min = max = 0 means unbounded). */
static bool s_has_range(const config_option *o)
{
    return (o->type == CONFIG_INT || o->type == CONFIG_SIZE || o->type == CONFIG_DURATION) &&
           (o->min != 0 || o->max != 0);
}

/* Formats "min .. max" for the option into buf, "" if unbounded. */
const char *config_format_range(const config_option *o, char *buf, size_t len)
{
    char lo[32], hi[32];
    if (!s_has_range(o)) {
        buf[0] = '\0';
        return buf;
    }
    snprintf(buf, len, "%s .. %s", s_format_bound(o, o->min, lo, sizeof lo),
             s_format_bound(o, o->max, hi, sizeof hi));
    return buf;
}

/* Name of a type as shown in the example and the docs. */
const char *config_type_name(config_type t)
{
    switch (t) {
    case CONFIG_STRING: return "string";
    case CONFIG_PATH: return "path";
    case CONFIG_INT: return "integer";
    case CONFIG_BOOL: return "boolean";
    case CONFIG_SIZE: return "size";
    case CONFIG_DURATION: return "duration";
    case CONFIG_ENUM: return "enum";
    }
    return "?";
}

/* Writes the option's enum names as "a, b, c" into buf. */
const char *config_format_enum(const config_option *o, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; o->enum_values && o->enum_values[i] && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", o->enum_values[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

/* ------------------------------------------------------ values, storage -- */

/* Checks a parsed INT/SIZE/DURATION against the option's range. */
static int s_check_range(const config_option *o, const config_value *v)
{
    if (!s_has_range(o))
        return 0;
    if (o->type == CONFIG_INT)
        return (v->i < o->min || v->i > o->max) ? -1 : 0;
    if (o->min > 0 && v->u < (uint64_t)o->min)
        return -1;
    return (o->max < 0 || v->u > (uint64_t)o->max) ? -1 : 0;
}

/* Joins dir and a relative path into a new heap string. */
static char *s_join_path(const char *dir, const char *rel)
{
    size_t dl = strlen(dir);
    const char *sep = (dl && dir[dl - 1] == '/') ? "" : "/";
    size_t len = dl + strlen(sep) + strlen(rel) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s%s%s", dir, sep, rel);
    return out;
}

/* Parses a STRING or PATH value into a heap copy in v->str. */
static int s_parse_text(const config_option *o, const char *text, const char *dir, config_value *v,
                        char *msg, size_t msglen)
{
    if (s_has_control(text)) {
        snprintf(msg, msglen, "contains a control character");
        return -1;
    }
    if (!*text && !o->default_value) {
        snprintf(msg, msglen, "must not be empty");
        return -1;
    }
    if (o->type == CONFIG_PATH && dir && *text && text[0] != '/')
        v->str = s_join_path(dir, text);
    else
        v->str = strdup(text);
    if (!v->str) {
        snprintf(msg, msglen, "out of memory");
        return -1;
    }
    return 0;
}

/* What a value of the option looks like, for error messages. */
static const char *s_expected(const config_option *o, char *buf, size_t len)
{
    char enums[128];
    switch (o->type) {
    case CONFIG_INT: return "an integer like 42";
    case CONFIG_BOOL: return "true or false";
    case CONFIG_SIZE: return "a size like 512MiB";
    case CONFIG_DURATION: return "a duration like 30s";
    case CONFIG_ENUM:
        snprintf(buf, len, "one of %s", config_format_enum(o, enums, sizeof enums));
        return buf;
    default: return "a value";
    }
}

/* Parses a non-text value; on error writes the reason into msg. */
static int s_parse_scalar(const config_option *o, const char *text, config_value *v, char *msg,
                          size_t msglen)
{
    const char *why = NULL;
    char enums[160];
    if (!*text) {
        snprintf(msg, msglen, "empty value, expected %s", s_expected(o, enums, sizeof enums));
        return -1;
    }
    switch (o->type) {
    case CONFIG_INT: why = s_parse_int(text, &v->i); break;
    case CONFIG_SIZE: why = s_parse_size(text, &v->u); break;
    case CONFIG_DURATION: why = s_parse_duration(text, &v->u); break;
    case CONFIG_BOOL:
        if (config_parse_bool(text, &v->b) != 0)
            why = "expected true/false, yes/no, on/off or 1/0";
        break;
    case CONFIG_ENUM:
        if (s_parse_enum(o, text, &v->e) != 0) {
            snprintf(msg, msglen, "expected one of %s", config_format_enum(o, enums, sizeof enums));
            return -1;
        }
        break;
    default: why = "unsupported option type"; break;
    }
    if (why) {
        snprintf(msg, msglen, "%s", why);
        return -1;
    }
    return 0;
}

/*
 * Parses text for option o (relative PATHs joined to dir unless dir is NULL)
 * and range-checks it. On error writes "<reason>, got \"<text>\"" into msg.
 */
static int s_parse_value(const config_option *o, const char *text, const char *dir, config_value *v,
                         char *msg, size_t msglen)
{
    char *unquoted = NULL, why[200], got[CONFIG_QUOTE_MAX * 4 + 8];
    size_t tl = strlen(text);
    int rc = -1;
    if (tl >= 2 && text[0] == '"' && text[tl - 1] == '"') {
        unquoted = strndup(text + 1, tl - 2);
        if (!unquoted) {
            snprintf(msg, msglen, "out of memory");
            goto cleanup;
        }
    }
    const char *t = unquoted ? unquoted : text;
    int r = (o->type == CONFIG_STRING || o->type == CONFIG_PATH)
                ? s_parse_text(o, t, dir, v, why, sizeof why)
                : s_parse_scalar(o, t, v, why, sizeof why);
    if (r == 0 && s_check_range(o, v) != 0) {
        char range[80];
        snprintf(why, sizeof why, "must be in the range %s",
                 config_format_range(o, range, sizeof range));
        r = -1;
    }
    if (r != 0) {
        s_fmt(msg, msglen, "%s, got %s", why, config_quote(got, sizeof got, text, strlen(text)));
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(unquoted);
    return rc;
}

/* Stores v into the option's field of target; takes v->str. */
static void s_store(const config_option *o, void *target, config_value v)
{
    char *field = (char *)target + o->offset;
    switch (o->type) {
    case CONFIG_STRING:
    case CONFIG_PATH:
        free(*(char **)field);
        *(char **)field = v.str;
        break;
    case CONFIG_INT: *(int64_t *)field = v.i; break;
    case CONFIG_BOOL: *(bool *)field = v.b; break;
    case CONFIG_SIZE:
    case CONFIG_DURATION: *(uint64_t *)field = v.u; break;
    case CONFIG_ENUM: *(int *)field = v.e; break;
    }
}

/* Index of the option section/key in table, or -1. */
static long s_find(const config_option *table, size_t n, const char *section, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].section, section) == 0 && strcmp(table[i].name, key) == 0)
            return (long)i;
    return -1;
}

/* True if any option lives in section. */
static bool s_section_known(const config_option *table, size_t n, const char *section)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].section, section) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------ public: values -- */

int config_set_defaults(const config_option *table, size_t n, void *target, config_error *err)
{
    for (size_t i = 0; i < n; i++) {
        const config_option *o = &table[i];
        config_value v;
        char msg[CONFIG_ERROR_MESSAGE_MAX];
        memset(&v, 0, sizeof v);
        if (o->default_value && s_parse_value(o, o->default_value, NULL, &v, msg, sizeof msg)) {
            s_error(err, "", 0, o->section, o->name, "invalid default: %s", msg);
            return -1;
        }
        s_store(o, target, v);
    }
    return 0;
}

int config_set(const config_option *table, size_t n, void *target, const char *section,
               const char *key, const char *value, config_error *err)
{
    if (!section || !key || !value) {
        s_error(err, "", 0, section, key, "missing section, key or value");
        return -1;
    }
    long i = s_find(table, n, section, key);
    if (i < 0) {
        s_error(err, "", 0, section, key,
                s_section_known(table, n, section) ? "unknown key" : "unknown section");
        return -1;
    }
    config_value v;
    char msg[CONFIG_ERROR_MESSAGE_MAX];
    memset(&v, 0, sizeof v);
    if (s_parse_value(&table[i], value, NULL, &v, msg, sizeof msg) != 0) {
        s_error(err, "", 0, section, key, "%s", msg);
        return -1;
    }
    s_store(&table[i], target, v);
    return 0;
}

void config_free(const config_option *table, size_t n, void *target)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type != CONFIG_STRING && table[i].type != CONFIG_PATH)
            continue;
        char **field = (char **)((char *)target + table[i].offset);
        free(*field);
        *field = NULL;
    }
}

/* -------------------------------------------------------- file loading -- */

/* Records the first error of a load at the current line (0 outside the file). */
#define S_LOAD_ERROR(st, section, key, ...)                                                        \
    inifile_fail(&(st)->ini, ASYLINK_E_CONFIG, (st)->ini.line, (section), (key), __VA_ARGS__)

/* inifile handler: one key = value. 0 to go on, -1 on error. */
static int s_on_key(inifile *f, void *ctx, const char *section, const char *name, const char *value)
{
    config_load_state *st = ctx;
    char msg[CONFIG_ERROR_MESSAGE_MAX];
    (void)f;
    long i = s_find(st->table, st->n, section, name);
    if (i < 0) {
        S_LOAD_ERROR(st, section, name, "%s",
                     s_section_known(st->table, st->n, section) ? "unknown key"
                                                                : "unknown section");
        return -1;
    }
    if (st->set_on_line[i]) {
        S_LOAD_ERROR(st, section, name, "duplicate key, already set on line %u",
                     st->set_on_line[i]);
        return -1;
    }
    config_value v;
    memset(&v, 0, sizeof v);
    if (s_parse_value(&st->table[i], value, st->dir, &v, msg, sizeof msg) != 0) {
        S_LOAD_ERROR(st, section, name, "%s", msg);
        return -1;
    }
    s_store(&st->table[i], st->target, v);
    st->set_on_line[i] = st->ini.line;
    return 0;
}

/* Absolute directory holding path, as a new heap string, or NULL. */
static char *s_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return NULL;
    char *abs = realpath(dir, NULL);
    free(dir);
    return abs;
}

/*
 * After the file: required options must have been set, and relative PATH
 * defaults are resolved against the file's directory like file values.
 */
static int s_finish(config_load_state *st)
{
    for (size_t i = 0; i < st->n; i++) {
        const config_option *o = &st->table[i];
        if (st->set_on_line[i])
            continue;
        if (!o->default_value) {
            S_LOAD_ERROR(st, o->section, o->name, "required option is missing");
            return -1;
        }
        char **field = (char **)((char *)st->target + o->offset);
        if (o->type != CONFIG_PATH || !*field || !**field || **field == '/')
            continue;
        char *abs = s_join_path(st->dir, *field);
        if (!abs) {
            S_LOAD_ERROR(st, o->section, o->name, "out of memory");
            return -1;
        }
        free(*field);
        *field = abs;
    }
    return 0;
}

int config_load_file(const char *path, const config_option *table, size_t n, void *target,
                     config_error *err)
{
    config_error local;
    config_load_state st;
    FILE *in = NULL;
    int rc = -1;
    memset(&st, 0, sizeof st);
    st.table = table;
    st.n = n;
    st.target = target;
    inifile_init(&st.ini, path, err ? err : &local);
    if (config_set_defaults(table, n, target, st.ini.err) != 0)
        return -1;
    in = path ? fopen(path, "r") : NULL;
    if (!in) {
        S_LOAD_ERROR(&st, "", "", "cannot open: %s", strerror(path ? errno : EINVAL));
        goto cleanup;
    }
    st.dir = s_dir_of(path);
    st.set_on_line = calloc(n ? n : 1, sizeof *st.set_on_line);
    if (!st.dir || !st.set_on_line) {
        S_LOAD_ERROR(&st, "", "", "cannot resolve directory: %s", strerror(errno));
        goto cleanup;
    }
    if (inifile_read(&st.ini, in, s_on_key, NULL, &st) != ASYLINK_OK || s_finish(&st) != 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (in)
        fclose(in);
    free(st.dir);
    free(st.set_on_line);
    return rc;
}

/* ------------------------------------------------------- example, docs -- */

/* True if an option before index i already has table[i]'s section. */
static bool s_section_seen_before(const config_option *table, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(table[j].section, table[i].section) == 0)
            return true;
    return false;
}

/*
 * Writes text as comment lines of at most CONFIG_EXAMPLE_WIDTH columns
 * (a word longer than that gets a line of its own): the ini reader refuses
 * lines of 200 bytes and more, and the help texts are longer.
 */
#define CONFIG_EXAMPLE_WIDTH 78
static void s_write_comment(FILE *out, const char *text)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t len = strlen(p), cut = len;
        if (len > CONFIG_EXAMPLE_WIDTH - 2) {
            cut = CONFIG_EXAMPLE_WIDTH - 2;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0) /* one long word */
                cut = strcspn(p, " ");
        }
        if (cut)
            fprintf(out, "# %.*s\n", (int)cut, p);
        p += cut;
    }
}

/* Writes one option of the example file. */
static void s_write_example_option(FILE *out, const config_option *o)
{
    char range[80], enums[160];
    fputc('\n', out);
    s_write_comment(out, o->help ? o->help : "");
    fprintf(out, "# Type: %s", config_type_name(o->type));
    if (o->type == CONFIG_ENUM)
        fprintf(out, ", one of %s", config_format_enum(o, enums, sizeof enums));
    if (s_has_range(o))
        fprintf(out, ", range %s", config_format_range(o, range, sizeof range));
    if (o->default_value)
        fprintf(out, ".\n#%s = %s\n", o->name, o->default_value);
    else
        fprintf(out, ". Required.\n%s =\n", o->name);
}

int config_write_example(FILE *out, const config_option *table, size_t n)
{
    fprintf(out, "# Example configuration, generated from the option table.\n"
                 "# Lines starting with '#' are comments. Commented-out keys show their\n"
                 "# default; remove the '#' to change one. Keys without '#' are required.\n");
    for (size_t i = 0; i < n; i++) {
        if (s_section_seen_before(table, i))
            continue;
        fprintf(out, "\n[%s]\n", table[i].section);
        for (size_t j = i; j < n; j++)
            if (strcmp(table[j].section, table[i].section) == 0)
                s_write_example_option(out, &table[j]);
    }
    return (fflush(out) != 0 || ferror(out)) ? -1 : 0;
}

/* Writes text with Markdown table cell escaping ('|' would end the cell). */
static void s_md_put(FILE *out, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++) {
        if (*p == '|')
            fputc('\\', out);
        fputc(*p == '\n' ? ' ' : *p, out);
    }
}

/* Writes one row of the Markdown reference table. */
static void s_write_markdown_row(FILE *out, const config_option *o)
{
    char range[80], enums[160];
    fprintf(out, "| `%s.%s` | %s", o->section, o->name, config_type_name(o->type));
    if (o->type == CONFIG_ENUM) {
        fputs(": ", out);
        s_md_put(out, config_format_enum(o, enums, sizeof enums));
    }
    fputs(" | ", out);
    if (!o->default_value) {
        fputs("*required*", out);
    } else {
        fputc('`', out);
        s_md_put(out, *o->default_value ? o->default_value : "\"\"");
        fputc('`', out);
    }
    fprintf(out, " | %s | ", config_format_range(o, range, sizeof range));
    s_md_put(out, o->help);
    fputs(" |\n", out);
}

int config_write_markdown(FILE *out, const config_option *table, size_t n)
{
    fputs("| Option | Type | Default | Range | Description |\n"
          "|--------|------|---------|-------|-------------|\n",
          out);
    for (size_t i = 0; i < n; i++)
        s_write_markdown_row(out, &table[i]);
    return (fflush(out) != 0 || ferror(out)) ? -1 : 0;
}

/* ------------------------------------------------------------- errors -- */

void config_error_format(const config_error *e, char *buf, size_t len)
{
    char where[CONFIG_ERROR_FILE_MAX + 16] = "", opt[2 * CONFIG_ERROR_NAME_MAX + 8] = "";
    if (!buf || len == 0)
        return;
    if (!e) {
        snprintf(buf, len, "unknown configuration error");
        return;
    }
    if (e->file[0] && e->line)
        snprintf(where, sizeof where, "%s:%u: ", e->file, e->line);
    else if (e->file[0])
        snprintf(where, sizeof where, "%s: ", e->file);
    if (e->section[0] && e->key[0])
        snprintf(opt, sizeof opt, "[%s] %s: ", e->section, e->key);
    else if (e->section[0] || e->key[0])
        snprintf(opt, sizeof opt, "%s%s%s: ", e->section[0] ? "[" : "",
                 e->section[0] ? e->section : e->key, e->section[0] ? "]" : "");
    snprintf(buf, len, "%s%s%s", where, opt, e->message);
}
