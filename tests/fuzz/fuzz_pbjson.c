/*
 * fuzz_pbjson.c — libFuzzer target: JSON <-> protobuf for every type
 * core/pbjson.c converts (the payload types, which `asylink send` and
 * `publish` read from files and `asylink recv` prints from what another
 * node sent; AdminResponse, which the operator tool prints from the
 * broker; AuditRecord and AuditCheckpoint, printed by the audit export).
 *
 * Input: [type u8][mode u8][data]. The type byte picks one of the
 * pbjson_type_count() payload types or the three protocol types (modulo
 * their number); an even mode byte makes data JSON text (read with
 * pbjson_from_json), an odd one serialized protobuf (pbjson_decode).
 * Checks, beyond "no crash, no leak, no over-read":
 *   - JSON that converts gives bytes that convert back to JSON, and that
 *     JSON converts to the same bytes again;
 *   - bytes that convert to JSON give JSON that converts back (what recv
 *     prints, send must read), and those bytes give the same JSON.
 *
 * The seed corpus (tests/fuzz/corpus/pbjson) is made by this program:
 *   ASYLINK_FUZZ_WRITE_SEEDS=DIR fuzz_pbjson [TYPE=FILE.json]...
 * writes, for every type, its skeleton (pbjson_skeleton: every field at
 * its default) as JSON and as protobuf, and the same for each FILE given
 * (a JSON value of TYPE, e.g. scripts/demo/information-request.json),
 * then exits.
 */
#include "asylink/errors.h"
#include "pbjson.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char *const s_protocol[] = {"asylink.v1.AdminResponse", "asylink.v1.AuditRecord",
                                         "asylink.v1.AuditCheckpoint"};
#define S_N_PROTOCOL (sizeof s_protocol / sizeof s_protocol[0])

static size_t s_type_count(void)
{
    return pbjson_type_count() + S_N_PROTOCOL;
}

static const char *s_type(size_t i)
{
    size_t n = pbjson_type_count();
    return i < n ? pbjson_type_name(i) : s_protocol[i - n];
}

/* The index of type name, or abort(): only for the seed writer. */
static size_t s_index(const char *name)
{
    for (size_t i = 0; i < s_type_count(); i++)
        if (strcmp(s_type(i), name) == 0)
            return i;
    abort();
}

/* JSON of bytes (must convert) as a value; aborts otherwise. */
static json_t *s_must_decode(const char *type, const uint8_t *buf, size_t len)
{
    json_t *v = NULL;
    if (pbjson_decode(type, buf, len, &v) != ASYLINK_OK)
        abort();
    return v;
}

/* Bytes of a value (must convert); aborts otherwise. */
static uint8_t *s_must_encode(const char *type, const json_t *v, size_t *len)
{
    uint8_t *out = NULL;
    char err[256];
    if (pbjson_encode(type, v, &out, len, err, sizeof err) != ASYLINK_OK) {
        fprintf(stderr, "fuzz_pbjson: %s does not read its own JSON back: %s\n", type, err);
        abort();
    }
    return out;
}

static void s_from_json(const char *type, const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = 0;
    uint8_t *bytes = NULL;
    size_t len = 0;
    char err[256];
    int rc = pbjson_from_json(type, text, &bytes, &len, err, sizeof err);
    free(text);
    if (rc != ASYLINK_OK) {
        if (bytes || err[0] == 0)
            abort(); /* a refusal frees everything and says why */
        return;
    }
    json_t *v = s_must_decode(type, bytes, len);
    size_t again_len = 0;
    uint8_t *again = s_must_encode(type, v, &again_len);
    if (again_len != len || memcmp(again, bytes, len) != 0)
        abort();
    json_decref(v);
    free(again);
    free(bytes);
}

static void s_from_bytes(const char *type, const uint8_t *data, size_t size)
{
    json_t *v = NULL;
    if (pbjson_decode(type, data, size, &v) != ASYLINK_OK)
        return;
    size_t len = 0;
    uint8_t *bytes = s_must_encode(type, v, &len);
    json_t *again = s_must_decode(type, bytes, len);
    if (!json_equal(v, again))
        abort();
    char *text = NULL;
    if (pbjson_to_json(type, data, size, &text) != ASYLINK_OK)
        abort(); /* the text form of what decoded */
    free(text);
    json_decref(again);
    json_decref(v);
    free(bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *type = s_type(data[0] % s_type_count());
    if (data[1] % 2 == 0)
        s_from_json(type, data + 2, size - 2);
    else
        s_from_bytes(type, data + 2, size - 2);
    return 0;
}

/* ---- the seed writer ---- */

static void s_write(const char *dir, const char *name, const char *suffix, size_t type,
                    uint8_t mode, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, suffix);
    uint8_t head[2] = {(uint8_t)type, mode};
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(head, 1, 2, f) != 2 || (len && fwrite(data, 1, len, f) != len) ||
        fclose(f) != 0)
        abort();
}

/*
 * Writes value v of type i as a JSON seed and, if it converts, a protobuf
 * seed named name (a skeleton lists every member of a oneof, which no
 * message may hold at once: it stays a JSON seed only).
 */
static void s_seed(const char *dir, size_t i, const char *name, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t len = 0;
    uint8_t *bytes = NULL;
    if (!text)
        abort();
    s_write(dir, name, ".json", i, 0, text, strlen(text));
    if (pbjson_encode(s_type(i), v, &bytes, &len, NULL, 0) == ASYLINK_OK)
        s_write(dir, name, ".pb", i, 1, bytes, len);
    free(text);
    free(bytes);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("ASYLINK_FUZZ_WRITE_SEEDS");
    if (!dir)
        return 0;
    for (size_t i = 0; i < s_type_count(); i++) {
        json_t *v = NULL;
        char name[160];
        if (pbjson_skeleton(s_type(i), &v) != ASYLINK_OK)
            abort();
        snprintf(name, sizeof name, "skeleton-%s", s_type(i) + strlen("asylink.v1."));
        s_seed(dir, i, name, v);
        json_decref(v);
    }
    for (int a = 1; a < *argc; a++) {
        char *arg = (*argv)[a], *eq = strchr(arg, '=');
        if (!eq)
            abort();
        *eq = 0;
        json_error_t jerr;
        json_t *v = json_load_file(eq + 1, 0, &jerr);
        const char *base = strrchr(eq + 1, '/');
        char name[256];
        snprintf(name, sizeof name, "%s", base ? base + 1 : eq + 1);
        char *dot = strrchr(name, '.');
        if (!v || !dot)
            abort();
        *dot = 0;
        s_seed(dir, s_index(arg), name, v);
        json_decref(v);
    }
    exit(0);
}
