/*
 * logfmt.c — building logfmt lines that stay valid, and reading them back
 * (logfmt.h).
 *
 * A line grows by atoms: a byte, a whole escape sequence, a key. An atom
 * that does not fit stops the line; the cut then goes back to the last
 * atom boundary inside a value that leaves room for the cut marker, so a
 * cut never splits an escape sequence, never leaves a key without its
 * value and always closes an open quote.
 */
#include "logfmt.h"

#include <stdio.h>
#include <string.h>

/* Bytes kept free for the cut marker: "..." plus a closing quote. */
#define S_CUT_RESERVE 4

/* ---- building ---- */

void logfmt_buf_init(logfmt_buf *b, char *data, size_t cap)
{
    memset(b, 0, sizeof *b);
    b->data = data;
    b->cap = cap;
    data[0] = '\0';
}

/*
 * Records the current end as a cut position if we are in a value and the
 * marker fits. Never once something did not fit: the end may then be
 * where a key should have been (s_key marks after its '=').
 */
static void s_mark_safe(logfmt_buf *b)
{
    if (!b->truncated && b->in_value && b->cap >= S_CUT_RESERVE &&
        b->len <= b->cap - S_CUT_RESERVE) {
        b->safe = b->len;
        b->safe_quote = b->in_quote;
    }
}

/* Appends n bytes as one unit, or marks the buffer truncated. */
static void s_atom(logfmt_buf *b, const char *s, size_t n)
{
    if (b->truncated || n > b->cap - b->len) {
        b->truncated = true;
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    s_mark_safe(b);
}

static void s_byte(logfmt_buf *b, char c)
{
    s_atom(b, &c, 1);
}

/* True for a byte that may appear in a key or a bare value. */
static bool s_bare_byte(unsigned char c)
{
    return c > ' ' && c != '=' && c != '"' && c != 0x7f;
}

/* True if s must be quoted to be one value. */
static bool s_needs_quotes(const char *s)
{
    if (!*s)
        return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!s_bare_byte(*p))
            return true;
    return false;
}

/* Appends c escaped for the inside of a quoted value. */
static void s_escaped(logfmt_buf *b, unsigned char c)
{
    char esc[8] = {(char)c, 0};
    if (c == '"' || c == '\\')
        snprintf(esc, sizeof esc, "\\%c", c);
    else if (c == '\n')
        snprintf(esc, sizeof esc, "\\n");
    else if (c == '\r')
        snprintf(esc, sizeof esc, "\\r");
    else if (c == '\t')
        snprintf(esc, sizeof esc, "\\t");
    else if (c < 0x20 || c == 0x7f)
        snprintf(esc, sizeof esc, "\\x%02x", c);
    s_atom(b, esc, strlen(esc));
}

/* Starts a pair: " key=" (no space before the first). */
static void s_key(logfmt_buf *b, const char *key, size_t n)
{
    b->in_value = b->in_quote = false;
    if (b->len > 0)
        s_byte(b, ' ');
    s_atom(b, key, n); /* if '=' does not fit, the cut goes back to an earlier value */
    s_byte(b, '=');
    b->in_value = true;
    s_mark_safe(b);
}

/* Appends n bytes of s as a quoted value, escaping them. */
static void s_quoted_value(logfmt_buf *b, const char *s, size_t n)
{
    s_byte(b, '"');
    b->in_quote = true;
    s_mark_safe(b);
    for (size_t i = 0; i < n; i++)
        s_escaped(b, (unsigned char)s[i]);
    b->in_value = false; /* the closing quote ends the value: no cut after it */
    s_byte(b, '"');
    b->in_quote = false;
}

void logfmt_put(logfmt_buf *b, const char *key, const char *value)
{
    value = value ? value : "";
    s_key(b, key, strlen(key));
    if (s_needs_quotes(value)) {
        s_quoted_value(b, value, strlen(value));
        return;
    }
    for (const char *p = value; *p; p++)
        s_byte(b, *p);
    b->in_value = false;
}

void logfmt_put_quoted(logfmt_buf *b, const char *key, const char *value)
{
    value = value ? value : "";
    s_key(b, key, strlen(key));
    s_quoted_value(b, value, strlen(value));
}

/* Length of the escape sequence at s (after its backslash): 1, 3, or 0 if invalid. */
static size_t s_escape_len(const char *s)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    if (*s == '"' || *s == '\\' || *s == 'n' || *s == 'r' || *s == 't')
        return 1;
    if (*s == 'x' && s[1] && strchr(hex, s[1]) && s[2] && strchr(hex, s[2]))
        return 3;
    return 0;
}

/* Copies a pair that parsed (its value still escaped) atom by atom. */
static void s_copy_pair(logfmt_buf *b, const logfmt_pair *p)
{
    s_key(b, p->key, p->key_len);
    if (!p->quoted) {
        for (size_t i = 0; i < p->value_len; i++)
            s_byte(b, p->value[i]);
        b->in_value = false;
        return;
    }
    s_byte(b, '"');
    b->in_quote = true;
    s_mark_safe(b);
    for (size_t i = 0; i < p->value_len; i++) {
        size_t n = p->value[i] == '\\' ? 1 + s_escape_len(p->value + i + 1) : 1;
        s_atom(b, p->value + i, n);
        i += n - 1;
    }
    b->in_value = false;
    s_byte(b, '"');
    b->in_quote = false;
}

void logfmt_put_tail(logfmt_buf *b, const char *tail)
{
    const char *p = tail ? tail : "";
    logfmt_pair pair;
    if (!logfmt_valid(p)) {
        /* Where a raw value ended cannot be known: keep the text, not guesses. */
        while (*p == ' ')
            p++;
        s_key(b, LOGFMT_REST_KEY, strlen(LOGFMT_REST_KEY));
        s_quoted_value(b, p, strlen(p));
        return;
    }
    while (logfmt_next(&p, &pair) == 1)
        s_copy_pair(b, &pair);
}

const char *logfmt_buf_finish(logfmt_buf *b)
{
    if (!b->truncated || b->cap < S_CUT_RESERVE)
        return b->data;
    const char *mark = b->safe_quote ? LOGFMT_CUT_MARK "\"" : LOGFMT_CUT_MARK;
    size_t n = strlen(mark);
    memcpy(b->data + b->safe, mark, n + 1);
    b->len = b->safe + n;
    return b->data;
}

const char *logfmt_quote(char *buf, size_t len, const char *s)
{
    if (!buf || len < 8)
        return "";
    logfmt_buf b;
    logfmt_buf_init(&b, buf, len - 1);
    s = s ? s : "";
    b.in_value = true;
    s_mark_safe(&b);
    if (s_needs_quotes(s)) {
        s_quoted_value(&b, s, strlen(s));
    } else {
        for (const char *p = s; *p; p++)
            s_byte(&b, *p);
    }
    return logfmt_buf_finish(&b);
}

/* ---- reading ---- */

int logfmt_next(const char **p, logfmt_pair *out)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    if (!*s) {
        *p = s;
        return 0;
    }
    const char *key = s;
    while (s_bare_byte((unsigned char)*s))
        s++;
    if (s == key || *s != '=')
        return -1;
    memset(out, 0, sizeof *out);
    out->key = key;
    out->key_len = (size_t)(s - key);
    s++;
    if (*s == '"') {
        const char *v = ++s;
        while (*s != '"') {
            unsigned char c = (unsigned char)*s;
            if (c == '\0' || c < 0x20 || c == 0x7f)
                return -1;
            if (c == '\\') {
                size_t n = s_escape_len(s + 1);
                if (n == 0)
                    return -1;
                s += n;
            }
            s++;
        }
        out->value = v;
        out->value_len = (size_t)(s - v);
        out->quoted = true;
        s++;
    } else {
        const char *v = s;
        while (s_bare_byte((unsigned char)*s))
            s++;
        out->value = v;
        out->value_len = (size_t)(s - v);
    }
    if (*s != ' ' && *s != '\0')
        return -1;
    *p = s;
    return 1;
}

bool logfmt_valid(const char *line)
{
    logfmt_pair pair;
    int rc;
    while ((rc = logfmt_next(&line, &pair)) == 1)
        ;
    return rc == 0;
}

/* The value of hex digit c. */
static int s_hex(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

int logfmt_unescape(const logfmt_pair *pair, char *buf, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < pair->value_len; i++) {
        char c = pair->value[i];
        if (pair->quoted && c == '\\' && i + 1 < pair->value_len) {
            char e = pair->value[++i];
            c = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
            if (e == 'x' && i + 2 < pair->value_len) { /* logfmt_next() checked the digits */
                c = (char)(s_hex(pair->value[i + 1]) * 16 + s_hex(pair->value[i + 2]));
                i += 2;
            }
        }
        if (n + 1 >= len)
            return -1;
        buf[n++] = c;
    }
    if (len == 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

int logfmt_get(const char *line, const char *key, char *buf, size_t len)
{
    logfmt_pair pair;
    size_t kl = strlen(key);
    while (logfmt_next(&line, &pair) == 1)
        if (pair.key_len == kl && memcmp(pair.key, key, kl) == 0)
            return logfmt_unescape(&pair, buf, len);
    return -1;
}
