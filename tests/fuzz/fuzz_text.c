/*
 * fuzz_text.c — libFuzzer target: the small text parsers of hostile
 * strings, and the logfmt line builder that must stay valid whatever its
 * values hold. The first byte picks one; the rest is the text (cut at its
 * first NUL, as a C string would be):
 *   0  message ids: uuid_parse (core) and asylink_id_parse (public); an id
 *      that parses formats and parses back to the same bytes;
 *   1  topics, node ids and endpoints: topic_valid, topic_under,
 *      node_id_valid, cert_roles_parse, envelope_class_parse,
 *      log_level_parse, endpoint_valid (what a connection takes, a bind
 *      takes too);
 *   2  option values: config_parse_size, _duration_ms, _bool;
 *   3  armored text (all four labels, plain and secure memory): what
 *      decodes encodes and decodes back to the same bytes;
 *   4  logfmt reading: logfmt_valid agrees with walking logfmt_next,
 *      every pair unescapes, logfmt_get finds the first pair's value;
 *   5  logfmt building: the second byte sets the line's size (8..263);
 *      the text goes in as a bare value, a quoted value, a free-form tail
 *      and a key; the finished line must be valid logfmt, and the bare
 *      value of a line that was not cut must read back unchanged.
 *
 * Seed corpus: tests/fuzz/corpus/text, one or more valid texts per parser
 * with its selector byte in front (the armored ones are certs-example/'s
 * certificate, request, revocation list and public demo key of DE).
 */
#include "armor.h"
#include "asylink/asylink.h"
#include "cert.h"
#include "config.h"
#include "endpoint.h"
#include "envelope.h"
#include "file.h"
#include "log.h"
#include "logfmt.h"
#include "topic.h"
#include "uuid.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0) /* as every program does first: sodium_malloc needs it */
        abort();
    return 0;
}

static void s_ids(const char *s)
{
    uint8_t id[UUID_LEN], again[UUID_LEN];
    char text[UUID_STR_LEN];
    if (uuid_parse(s, id) == 0) {
        uuid_format(id, text, sizeof text);
        if (uuid_parse(text, again) != 0 || memcmp(id, again, UUID_LEN) != 0)
            abort();
    }
    if (asylink_id_parse(s, id) == ASYLINK_OK) {
        asylink_id_format(id, text);
        if (asylink_id_parse(text, again) != ASYLINK_OK || memcmp(id, again, UUID_LEN) != 0 ||
            uuid_parse(s, again) != 0 || memcmp(id, again, UUID_LEN) != 0)
            abort();
    }
}

static void s_names(const char *s)
{
    if (topic_valid(s) && (strlen(s) > TOPIC_MAX || !topic_under(s, s)))
        abort();
    const char *dot = strrchr(s, '.');
    if (dot && topic_valid(s) && !topic_under_n(s, strlen(s), s, (size_t)(dot - s)))
        abort();
    if (node_id_valid(s) && strlen(s) > 64)
        abort();
    uint32_t mask = 0;
    (void)cert_roles_parse(s, &mask);
    int c = envelope_class_parse(s);
    if (c >= 0 && !envelope_class_name(c))
        abort();
    log_level lvl;
    (void)log_level_parse(s, &lvl);
    if (endpoint_valid(s, false) && !endpoint_valid(s, true))
        abort();
}

static void s_values(const char *s)
{
    uint64_t v = 0;
    bool b = false;
    (void)config_parse_size(s, &v);
    (void)config_parse_duration_ms(s, &v);
    (void)config_parse_bool(s, &b);
}

static void s_armor(const uint8_t *data, size_t size)
{
    static const char *const labels[] = {ARMOR_CERTIFICATE, ARMOR_REQUEST, ARMOR_CRL,
                                         ARMOR_SECRET_KEY};
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
        uint8_t *bin = NULL, *again = NULL;
        size_t n = 0, m = 0;
        char *text = NULL;
        if (armor_decode(labels[i], (const char *)data, size, (int)(i == 3), &bin, &n) !=
            ASYLINK_OK)
            continue;
        if (n == 0 || armor_encode(labels[i], "comment", bin, n, &text) != ASYLINK_OK ||
            armor_decode(labels[i], text, strlen(text), 0, &again, &m) != ASYLINK_OK || m != n ||
            memcmp(again, bin, n) != 0)
            abort();
        free(text);
        free(again);
        if (i == 3)
            file_secret_free(bin, n);
        else
            free(bin);
    }
}

static void s_read(const char *s)
{
    const char *p = s;
    logfmt_pair pair, first = {0};
    int rc, pairs = 0;
    char buf[4096];
    while ((rc = logfmt_next(&p, &pair)) == 1) {
        if (pair.key_len == 0 || pair.value + pair.value_len > s + strlen(s))
            abort();
        if (logfmt_unescape(&pair, buf, sizeof buf) < 0 && pair.value_len < sizeof buf)
            abort();
        if (pairs++ == 0)
            first = pair;
    }
    if ((rc == 0) != logfmt_valid(s))
        abort();
    if (rc != 0 || pairs == 0 || first.key_len >= 256)
        return;
    char key[256], want[4096];
    memcpy(key, first.key, first.key_len);
    key[first.key_len] = 0;
    int n = logfmt_unescape(&first, want, sizeof want);
    if (n >= 0 && (logfmt_get(s, key, buf, sizeof buf) != n || memcmp(buf, want, (size_t)n) != 0))
        abort();
}

/* A key made of the text's bare bytes (at least one), or "k". */
static void s_key_of(const char *s, char *key, size_t len)
{
    size_t n = 0;
    for (; *s && n + 1 < len; s++)
        if ((unsigned char)*s > ' ' && *s != '=' && *s != '"' && *s != 0x7f)
            key[n++] = *s;
    if (n == 0)
        key[n++] = 'k';
    key[n] = 0;
}

static void s_build(uint8_t size_byte, const char *s)
{
    size_t cap = 8 + size_byte;
    char *line = malloc(cap + 1), key[64], got[4096];
    if (!line)
        return;
    logfmt_buf b;
    logfmt_buf_init(&b, line, cap);
    logfmt_put(&b, "ts", "1");
    logfmt_put(&b, "bare", s);
    logfmt_put_quoted(&b, "msg", s);
    logfmt_put_tail(&b, s);
    s_key_of(s, key, sizeof key);
    logfmt_put(&b, key, "v");
    bool whole = !b.truncated;
    logfmt_buf_finish(&b);
    if (!logfmt_valid(line) || strlen(line) > cap)
        abort();
    if (whole && strlen(s) < sizeof got &&
        (logfmt_get(line, "bare", got, sizeof got) < 0 || strcmp(got, s) != 0))
        abort();
    char quoted[64];
    logfmt_quote(quoted, sizeof quoted, s);
    logfmt_buf_init(&b, line, cap);
    logfmt_put(&b, "ts", "1");
    logfmt_put_tail(&b, s);
    logfmt_buf_finish(&b);
    if (!logfmt_valid(line))
        abort();
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    switch (data[0] % 6) {
    case 0: s_ids(s); break;
    case 1: s_names(s); break;
    case 2: s_values(s); break;
    case 3: s_armor(data + 1, size - 1); break;
    case 4: s_read(s); break;
    default: s_build(data[1], s + 1); break;
    }
    free(s);
    return 0;
}
