/*
 * armor.c — PEM-like armor for asylink's files.
 */
#include "armor.h"

#include "asylink/asylink.h"

#include <sodium.h>
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
    free(b64);
    free(buf);
    return rc;
}

/* Finds needle in the first len bytes of hay. */
static const char *s_find(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

int armor_decode(const char *label, const char *text, size_t len, int secure, uint8_t **out,
                 size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    char begin[96], end[96];
    snprintf(begin, sizeof begin, "-----BEGIN ASYLINK %s-----", label);
    snprintf(end, sizeof end, "-----END ASYLINK %s-----", label);
    const char *b = s_find(text, len, begin);
    if (!b)
        return ASYLINK_E_MALFORMED;
    b += strlen(begin);
    const char *e = s_find(b, len - (size_t)(b - text), end);
    if (!e)
        return ASYLINK_E_MALFORMED;
    size_t b64len = (size_t)(e - b);
    size_t cap = b64len / 4 * 3 + 3;
    uint8_t *bin = secure ? sodium_malloc(cap) : malloc(cap);
    if (!bin)
        return ASYLINK_E_NOMEM;
    size_t bin_len = 0;
    const char *last = NULL;
    int bad = sodium_base642bin(bin, cap, b, b64len, " \t\r\n", &bin_len, &last,
                                sodium_base64_VARIANT_ORIGINAL);
    if (bad || last != e) {
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
