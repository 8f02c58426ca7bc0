/*
 * armor.c — PEM-like armor for asylink's files.
 */
#include "armor.h"

#include "asylink/errors.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARMOR_LINE 64

/* Appends n bytes to a growing buffer; returns -1 on overflow of cap. */
static int s_put(char *buf, size_t cap, size_t *pos, const char *s, size_t n)
{
    if (*pos + n >= cap)
        return -1;
    memcpy(buf + *pos, s, n);
    *pos += n;
    buf[*pos] = 0;
    return 0;
}

static size_t s_comment_size(const char *comment)
{
    if (!comment)
        return 0;
    size_t lines = 1;
    for (const char *p = comment; *p; p++)
        lines += *p == '\n';
    return strlen(comment) + lines * 3;
}

static int s_put_comment(char *buf, size_t cap, size_t *pos, const char *comment)
{
    const char *p = comment;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (s_put(buf, cap, pos, "# ", 2) || s_put(buf, cap, pos, p, n) ||
            s_put(buf, cap, pos, "\n", 1))
            return -1;
        p = nl ? nl + 1 : p + n;
    }
    return 0;
}

int armor_encode(const char *label, const char *comment, const uint8_t *data, size_t len,
                 char **out)
{
    *out = NULL;
    size_t b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    size_t cap = s_comment_size(comment) + 2 * strlen(label) + 64 + b64len + b64len / ARMOR_LINE + 4;
    char *buf = malloc(cap);
    char *b64 = malloc(b64len);
    int rc = ASYLINK_E_NOMEM;
    if (!buf || !b64)
        goto cleanup;
    sodium_bin2base64(b64, b64len, data, len, sodium_base64_VARIANT_ORIGINAL);
    size_t pos = 0, n = strlen(b64);
    char line[128];
    buf[0] = 0;
    rc = ASYLINK_E_INTERNAL;
    if (s_put_comment(buf, cap, &pos, comment))
        goto cleanup;
    snprintf(line, sizeof line, "-----BEGIN ASYLINK %s-----\n", label);
    if (s_put(buf, cap, &pos, line, strlen(line)))
        goto cleanup;
    for (size_t i = 0; i < n; i += ARMOR_LINE) {
        size_t chunk = n - i < ARMOR_LINE ? n - i : ARMOR_LINE;
        if (s_put(buf, cap, &pos, b64 + i, chunk) || s_put(buf, cap, &pos, "\n", 1))
            goto cleanup;
    }
    snprintf(line, sizeof line, "-----END ASYLINK %s-----\n", label);
    if (s_put(buf, cap, &pos, line, strlen(line)))
        goto cleanup;
    *out = buf;
    buf = NULL;
    rc = ASYLINK_OK;
cleanup:
    /* The data may be a secret key file's blob (keys_encode()): its base64 is wiped too. */
    if (b64) {
        sodium_memzero(b64, b64len);
        free(b64);
    }
    if (buf) {
        sodium_memzero(buf, cap);
        free(buf);
    }
    return rc;
}

/* The next line of text[*pos..len): start and length without "\r\n". */
static bool s_next_line(const char *text, size_t len, size_t *pos, const char **line,
                        size_t *n)
{
    if (*pos >= len)
        return false;
    const char *start = text + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    size_t full = nl ? (size_t)(nl - start) : len - *pos;
    *pos += full + (nl ? 1 : 0);
    while (full > 0 && (start[full - 1] == '\r' || start[full - 1] == ' ' ||
                        start[full - 1] == '\t'))
        full--;
    *line = start;
    *n = full;
    return true;
}

static bool s_is(const char *line, size_t n, const char *marker)
{
    return n == strlen(marker) && memcmp(line, marker, n) == 0;
}

/*
 * Finds the base64 between the BEGIN and END lines. Before BEGIN only
 * blank and '#' lines may stand, after END only blank lines: anything else
 * is refused rather than ignored.
 */
static int s_locate(const char *label, const char *text, size_t len, const char **b64,
                    size_t *b64_len)
{
    char begin[96], end[96];
    snprintf(begin, sizeof begin, "-----BEGIN ASYLINK %s-----", label);
    snprintf(end, sizeof end, "-----END ASYLINK %s-----", label);
    size_t pos = 0, n = 0;
    const char *line = NULL, *body = NULL;
    int state = 0; /* 0 before BEGIN, 1 inside, 2 after END */
    while (s_next_line(text, len, &pos, &line, &n)) {
        if (state == 0 && s_is(line, n, begin)) {
            state = 1;
            body = text + pos;
        } else if (state == 0 && n > 0 && line[0] != '#') {
            return ASYLINK_E_MALFORMED;
        } else if (state == 1 && s_is(line, n, end)) {
            state = 2;
            *b64 = body;
            *b64_len = (size_t)(line - body);
        } else if (state == 2 && n > 0) {
            return ASYLINK_E_MALFORMED;
        }
    }
    return state == 2 ? ASYLINK_OK : ASYLINK_E_MALFORMED;
}

int armor_decode(const char *label, const char *text, size_t len, int secure, uint8_t **out,
                 size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    const char *b = NULL;
    size_t b64len = 0;
    int rc = s_locate(label, text, len, &b, &b64len);
    if (rc != ASYLINK_OK)
        return rc;
    size_t cap = b64len / 4 * 3 + 3;
    uint8_t *bin = secure ? sodium_malloc(cap) : malloc(cap);
    if (!bin)
        return ASYLINK_E_NOMEM;
    size_t bin_len = 0;
    const char *last = NULL;
    int bad = sodium_base642bin(bin, cap, b, b64len, " \t\r\n", &bin_len, &last,
                                sodium_base64_VARIANT_ORIGINAL);
    if (bad || last != b + b64len || bin_len == 0) {
        if (secure) {
            sodium_free(bin);
        } else {
            free(bin);
        }
        return ASYLINK_E_MALFORMED;
    }
    *out = bin;
    *out_len = bin_len;
    return ASYLINK_OK;
}
