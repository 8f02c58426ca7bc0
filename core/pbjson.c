/*
 * pbjson.c — JSON <-> protobuf through protobuf-c descriptors (pbjson.h
 * states the mapping). One walker per direction: a message is a loop over
 * its field descriptors; each field's value is written or read through its
 * offset in the generated struct, so every payload type works without code
 * of its own. Messages built from JSON are malloc'd exactly like
 * protobuf-c's unpack() would, and released with
 * protobuf_c_message_free_unpacked().
 */
#include "pbjson.h"

#include "asylink/errors.h"
#include "codec.h"

#include "asylink/v1/asylum.pb-c.h"
#include "asylink/v1/audit.pb-c.h"
#include "asylink/v1/broker.pb-c.h"
#include "asylink/v1/envelope.pb-c.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PBJSON_PATH_MAX 256
#define PBJSON_NAME_MAX 128
#define PBJSON_MAX_DEPTH 32

/* The payload types, by full name: every message of asylum.proto and Receipt. */
static const ProtobufCMessageDescriptor *const s_types[] = {
    &asylink__v1__monthly_statistics__descriptor,
    &asylink__v1__coi_report__descriptor,
    &asylink__v1__trend_analysis__descriptor,
    &asylink__v1__support_request__descriptor,
    &asylink__v1__support_pledge__descriptor,
    &asylink__v1__relocation_pledge__descriptor,
    &asylink__v1__resettlement_pledge__descriptor,
    &asylink__v1__information_request__descriptor,
    &asylink__v1__information_reply__descriptor,
    &asylink__v1__receipt__descriptor,
    &asylink__v1__year_month__descriptor,
    &asylink__v1__attachment__descriptor,
    &asylink__v1__first_instance_decisions__descriptor,
    &asylink__v1__citizenship_row__descriptor,
    &asylink__v1__coi_source__descriptor,
    &asylink__v1__time_series_point__descriptor,
    &asylink__v1__trend_indicator__descriptor,
    &asylink__v1__support_need__descriptor,
    &asylink__v1__pledged_support__descriptor,
    &asylink__v1__resettlement_allocation__descriptor,
    &asylink__v1__person_details__descriptor,
    &asylink__v1__family_member__descriptor,
    &asylink__v1__information_question__descriptor,
    &asylink__v1__information_answer__descriptor,
    &asylink__v1__previous_application__descriptor,
};
#define S_N_TYPES (sizeof s_types / sizeof s_types[0])

/* Protocol types: converted like payload types, but not payload types (pbjson.h). */
static const ProtobufCMessageDescriptor *const s_protocol_types[] = {
    &asylink__v1__admin_response__descriptor,
    &asylink__v1__audit_record__descriptor,
    &asylink__v1__audit_checkpoint__descriptor,
};
#define S_N_PROTOCOL_TYPES (sizeof s_protocol_types / sizeof s_protocol_types[0])

/* A payload type by name, or NULL. */
static const ProtobufCMessageDescriptor *s_find_payload_type(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < S_N_TYPES; i++)
        if (strcmp(s_types[i]->name, name) == 0)
            return s_types[i];
    return NULL;
}

/* A payload or protocol type by name, or NULL. */
static const ProtobufCMessageDescriptor *s_find_type(const char *name)
{
    const ProtobufCMessageDescriptor *d = s_find_payload_type(name);
    for (size_t i = 0; !d && name && i < S_N_PROTOCOL_TYPES; i++)
        if (strcmp(s_protocol_types[i]->name, name) == 0)
            d = s_protocol_types[i];
    return d;
}

bool pbjson_known_type(const char *type_name)
{
    return s_find_payload_type(type_name) != NULL;
}

size_t pbjson_type_count(void)
{
    return S_N_TYPES;
}

const char *pbjson_type_name(size_t i)
{
    return i < S_N_TYPES ? s_types[i]->name : NULL;
}

/* ---- shared helpers ---- */

/* Where the walker is, for error messages: "rows[2].decisions.total". */
typedef struct {
    char *err;       /* caller's buffer, or NULL */
    size_t errlen;   /* its size */
    char path[PBJSON_PATH_MAX]; /* the current field path */
} s_ctx;

static int s_err(s_ctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int s_err(s_ctx *c, int code, const char *fmt, ...)
{
    if (!c->err || c->errlen == 0)
        return code;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (c->path[0])
        snprintf(c->err, c->errlen, "%s: %s", c->path, what);
    else
        snprintf(c->err, c->errlen, "%s", what);
    return code;
}

/* Appends ".name" or "[i]" to the path; returns the old length to restore. */
static size_t s_path_push(s_ctx *c, const char *name, long index)
{
    size_t old = strlen(c->path);
    size_t room = sizeof c->path - old;
    if (name)
        snprintf(c->path + old, room, "%s%s", old ? "." : "", name);
    else
        snprintf(c->path + old, room, "[%ld]", index);
    return old;
}

static void s_path_pop(s_ctx *c, size_t old)
{
    c->path[old] = '\0';
}

/* lowerCamelCase JSON name of a proto field name ("reply_deadline_ms" -> "replyDeadlineMs"). */
static void s_json_name(const char *proto, char *buf, size_t len)
{
    size_t o = 0;
    bool upper = false;
    for (const char *p = proto; *p && o + 1 < len; p++) {
        if (*p == '_') {
            upper = true;
            continue;
        }
        buf[o++] = upper && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        upper = false;
    }
    buf[o] = '\0';
}

/* Bytes one element of a field takes in the generated struct (or its array). */
static size_t s_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM: return 4;
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static bool s_is_signed(ProtobufCType t)
{
    return t == PROTOBUF_C_TYPE_INT32 || t == PROTOBUF_C_TYPE_SINT32 ||
           t == PROTOBUF_C_TYPE_SFIXED32 || t == PROTOBUF_C_TYPE_INT64 ||
           t == PROTOBUF_C_TYPE_SINT64 || t == PROTOBUF_C_TYPE_SFIXED64;
}

static bool s_is_64(ProtobufCType t)
{
    return s_elem_size(t) == 8 && t != PROTOBUF_C_TYPE_DOUBLE;
}

/* ======================================================================
 * JSON -> protobuf
 * ====================================================================== */

static int s_message_from_json(s_ctx *c, const ProtobufCMessageDescriptor *d, const json_t *v,
                               ProtobufCMessage **out, int depth);

/* A JSON integer, or a string of decimal digits (with '-' for signed types). */
static int s_json_integer(s_ctx *c, const json_t *v, bool is_signed, int64_t *sv, uint64_t *uv)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        *sv = (int64_t)i;
        *uv = (uint64_t)i;
        if (i < 0 && !is_signed)
            return s_err(c, ASYLINK_E_BAD_FIELD, "negative value for an unsigned field");
        return ASYLINK_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < -9.2e18 || d > 1.8e19)
            return s_err(c, ASYLINK_E_BAD_FIELD, "expected an integer, got %g", d);
        if (d < 0 && !is_signed)
            return s_err(c, ASYLINK_E_BAD_FIELD, "negative value for an unsigned field");
        if (is_signed && d >= 9223372036854775808.0)
            return s_err(c, ASYLINK_E_BAD_FIELD, "%g is out of range for a signed integer", d);
        /* only values inside int64_t converted to it: outside, the conversion is undefined */
        *sv = d < 9223372036854775808.0 ? (int64_t)d : INT64_MAX;
        *uv = d < 0 ? (uint64_t)*sv : (uint64_t)d;
        return ASYLINK_OK;
    }
    const char *s = json_string_value(v);
    if (!s || !*s || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
        return s_err(c, ASYLINK_E_BAD_FIELD, "expected an integer");
    char *end = NULL;
    errno = 0;
    if (s[0] == '-') {
        if (!is_signed)
            return s_err(c, ASYLINK_E_BAD_FIELD, "negative value for an unsigned field");
        long long x = strtoll(s, &end, 10);
        *sv = x;
        *uv = (uint64_t)x;
    } else {
        unsigned long long x = strtoull(s, &end, 10);
        *uv = x;
        *sv = (int64_t)x;
        if (is_signed && x > INT64_MAX)
            errno = ERANGE;
    }
    if (errno != 0 || *end != '\0')
        return s_err(c, ASYLINK_E_BAD_FIELD, "'%s' is not an integer in range", s);
    return ASYLINK_OK;
}

static int s_int_from_json(s_ctx *c, ProtobufCType t, const json_t *v, void *slot)
{
    int64_t sv = 0;
    uint64_t uv = 0;
    bool sig = s_is_signed(t);
    int rc = s_json_integer(c, v, sig, &sv, &uv);
    if (rc != ASYLINK_OK)
        return rc;
    if (s_is_64(t)) {
        if (sig)
            memcpy(slot, &sv, 8);
        else
            memcpy(slot, &uv, 8);
        return ASYLINK_OK;
    }
    if (sig) {
        if (sv < INT32_MIN || sv > INT32_MAX)
            return s_err(c, ASYLINK_E_BAD_FIELD, "%lld is out of range for a 32-bit integer",
                         (long long)sv);
        int32_t x = (int32_t)sv;
        memcpy(slot, &x, 4);
    } else {
        if (uv > UINT32_MAX)
            return s_err(c, ASYLINK_E_BAD_FIELD,
                         "%llu is out of range for an unsigned 32-bit integer",
                         (unsigned long long)uv);
        uint32_t x = (uint32_t)uv;
        memcpy(slot, &x, 4);
    }
    return ASYLINK_OK;
}

static int s_float_from_json(s_ctx *c, ProtobufCType t, const json_t *v, void *slot)
{
    double d;
    const char *s = json_string_value(v);
    if (json_is_number(v))
        d = json_number_value(v);
    else if (s && strcmp(s, "NaN") == 0)
        d = NAN;
    else if (s && strcmp(s, "Infinity") == 0)
        d = INFINITY;
    else if (s && strcmp(s, "-Infinity") == 0)
        d = -INFINITY;
    else
        return s_err(c, ASYLINK_E_BAD_FIELD, "expected a number");
    if (t == PROTOBUF_C_TYPE_FLOAT) {
        float f = (float)d;
        memcpy(slot, &f, sizeof f);
    } else {
        memcpy(slot, &d, sizeof d);
    }
    return ASYLINK_OK;
}

static int s_enum_from_json(s_ctx *c, const ProtobufCEnumDescriptor *ed, const json_t *v,
                            void *slot)
{
    int32_t x;
    if (json_is_string(v)) {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));
        if (!ev)
            return s_err(c, ASYLINK_E_BAD_FIELD, "'%s' is not a value of %s",
                         json_string_value(v), ed->name);
        x = ev->value;
    } else if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < INT32_MIN || i > INT32_MAX)
            return s_err(c, ASYLINK_E_BAD_FIELD, "enum number out of range");
        x = (int32_t)i;
    } else {
        return s_err(c, ASYLINK_E_BAD_FIELD, "expected a value name of %s", ed->name);
    }
    memcpy(slot, &x, 4);
    return ASYLINK_OK;
}

/* Base64 in any of the four usual variants (standard/URL-safe, padded or not). */
static int s_bytes_from_json(s_ctx *c, const json_t *v, ProtobufCBinaryData *out)
{
    const char *s = json_string_value(v);
    if (!s)
        return s_err(c, ASYLINK_E_BAD_FIELD, "expected a base64 string");
    size_t n = strlen(s);
    uint8_t *bin = malloc(n / 4 * 3 + 3);
    if (!bin)
        return s_err(c, ASYLINK_E_NOMEM, "out of memory");
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL,
                                   sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                   sodium_base64_VARIANT_URLSAFE,
                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        size_t got = 0;
        const char *end = NULL;
        if (sodium_base642bin(bin, n / 4 * 3 + 3, s, n, NULL, &got, &end, variants[i]) == 0 &&
            end == s + n) {
            out->data = bin;
            out->len = got;
            return ASYLINK_OK;
        }
    }
    free(bin);
    return s_err(c, ASYLINK_E_BAD_FIELD, "not valid base64");
}

static int s_string_from_json(s_ctx *c, const json_t *v, char **slot)
{
    const char *s = json_string_value(v);
    if (!s)
        return s_err(c, ASYLINK_E_BAD_FIELD, "expected a string");
    size_t n = json_string_length(v);
    if (memchr(s, '\0', n))
        return s_err(c, ASYLINK_E_BAD_FIELD, "string contains a NUL character");
    char *copy = malloc(n + 1);
    if (!copy)
        return s_err(c, ASYLINK_E_NOMEM, "out of memory");
    memcpy(copy, s, n + 1);
    *slot = copy;
    return ASYLINK_OK;
}

/* One value of field f from v into slot (a struct member or an array element). */
static int s_elem_from_json(s_ctx *c, const ProtobufCFieldDescriptor *f, const json_t *v,
                            void *slot, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: return s_float_from_json(c, f->type, v, slot);
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(v))
            return s_err(c, ASYLINK_E_BAD_FIELD, "expected true or false");
        *(protobuf_c_boolean *)slot = json_is_true(v);
        return ASYLINK_OK;
    case PROTOBUF_C_TYPE_ENUM: return s_enum_from_json(c, f->descriptor, v, slot);
    case PROTOBUF_C_TYPE_STRING: return s_string_from_json(c, v, (char **)slot);
    case PROTOBUF_C_TYPE_BYTES: return s_bytes_from_json(c, v, (ProtobufCBinaryData *)slot);
    case PROTOBUF_C_TYPE_MESSAGE:
        return s_message_from_json(c, f->descriptor, v, (ProtobufCMessage **)slot, depth + 1);
    default: return s_int_from_json(c, f->type, v, slot);
    }
}

/* A repeated field: v is an array. The array is zeroed and counted whole
 * from the start: free_unpacked skips NULL strings, bytes and messages, so
 * a failure half-way frees exactly what was filled in. */
static int s_repeated_from_json(s_ctx *c, const ProtobufCFieldDescriptor *f, const json_t *v,
                                ProtobufCMessage *m, int depth)
{
    if (!json_is_array(v))
        return s_err(c, ASYLINK_E_BAD_FIELD, "expected an array");
    size_t n = json_array_size(v);
    if (n == 0)
        return ASYLINK_OK;
    size_t es = s_elem_size(f->type);
    uint8_t *arr = calloc(n, es);
    if (!arr)
        return s_err(c, ASYLINK_E_NOMEM, "out of memory");
    size_t *count = (size_t *)((uint8_t *)m + f->quantifier_offset);
    *(void **)((uint8_t *)m + f->offset) = arr;
    *count = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        size_t old = s_path_push(c, NULL, (long)i);
        int rc = json_is_null(e) ? s_err(c, ASYLINK_E_BAD_FIELD, "null in an array")
                                 : s_elem_from_json(c, f, e, arr + i * es, depth);
        if (rc != ASYLINK_OK)
            return rc; /* path kept: it names the element */
        s_path_pop(c, old);
    }
    return ASYLINK_OK;
}

/* Marks a field present where the struct says so (proto3 optional, oneof). */
static void s_mark_present(const ProtobufCFieldDescriptor *f, ProtobufCMessage *m)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)((uint8_t *)m + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
        *(protobuf_c_boolean *)((uint8_t *)m + f->quantifier_offset) = 1;
}

static int s_field_from_json(s_ctx *c, const ProtobufCFieldDescriptor *f, const json_t *v,
                             ProtobufCMessage *m, int depth)
{
    if (json_is_null(v))
        return ASYLINK_OK; /* proto3 JSON: null is the default value */
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return s_repeated_from_json(c, f, v, m, depth);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        s_mark_present(f, m); /* first: a nested message that fails half-way is freed with m */
    int rc = s_elem_from_json(c, f, v, (uint8_t *)m + f->offset, depth);
    if (rc == ASYLINK_OK)
        s_mark_present(f, m);
    return rc;
}

/* The field whose proto name or JSON name is key, or NULL. */
static const ProtobufCFieldDescriptor *s_field_by_key(const ProtobufCMessageDescriptor *d,
                                                      const char *key)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
    if (f)
        return f;
    char jn[PBJSON_NAME_MAX];
    for (unsigned i = 0; i < d->n_fields; i++) {
        s_json_name(d->fields[i].name, jn, sizeof jn);
        if (strcmp(jn, key) == 0)
            return &d->fields[i];
    }
    return NULL;
}

/*
 * The member of f's oneof that m holds already, or NULL (also when f is in
 * no oneof). Its members share one slot: a second one would overwrite the
 * first (which leaked), and the message would silently hold only the last.
 */
static const ProtobufCFieldDescriptor *s_oneof_taken(const ProtobufCMessageDescriptor *d,
                                                     const ProtobufCFieldDescriptor *f,
                                                     const ProtobufCMessage *m)
{
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return NULL;
    uint32_t held = *(const uint32_t *)((const uint8_t *)m + f->quantifier_offset);
    return held ? protobuf_c_message_descriptor_get_field(d, (unsigned)held) : NULL;
}

/* Fills m (initialised) from the object v; on failure m holds what was set. */
static int s_fill_message(s_ctx *c, const ProtobufCMessageDescriptor *d, const json_t *v,
                          ProtobufCMessage *m, int depth)
{
    const char *key;
    json_t *val;
    const ProtobufCFieldDescriptor *seen[256] = {0};
    json_object_foreach((json_t *)v, key, val) {
        const ProtobufCFieldDescriptor *f = s_field_by_key(d, key);
        if (!f)
            return s_err(c, ASYLINK_E_BAD_FIELD, "unknown field '%s' in %s", key, d->name);
        size_t idx = (size_t)(f - d->fields);
        if (idx < 256 && seen[idx])
            return s_err(c, ASYLINK_E_BAD_FIELD, "field '%s' given twice", f->name);
        if (idx < 256)
            seen[idx] = f;
        const ProtobufCFieldDescriptor *other = s_oneof_taken(d, f, m);
        if (other && !json_is_null(val))
            return s_err(c, ASYLINK_E_BAD_FIELD, "fields '%s' and '%s' are members of one oneof",
                         other->name, f->name);
        size_t old = s_path_push(c, f->name, 0);
        int rc = s_field_from_json(c, f, val, m, depth);
        if (rc != ASYLINK_OK)
            return rc;
        s_path_pop(c, old);
    }
    return ASYLINK_OK;
}

static int s_message_from_json(s_ctx *c, const ProtobufCMessageDescriptor *d, const json_t *v,
                               ProtobufCMessage **out, int depth)
{
    if (depth > PBJSON_MAX_DEPTH)
        return s_err(c, ASYLINK_E_BAD_FIELD, "nested too deeply");
    if (!json_is_object(v))
        return s_err(c, ASYLINK_E_BAD_FIELD, "expected an object (%s)", d->name);
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    if (!m)
        return s_err(c, ASYLINK_E_NOMEM, "out of memory");
    d->message_init(m);
    *out = m; /* owned by the parent from here on, freed with it */
    return s_fill_message(c, d, v, m, depth);
}

int pbjson_encode(const char *type_name, const json_t *value, uint8_t **out, size_t *len,
                  char *err, size_t errlen)
{
    s_ctx c = {.err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    if (!type_name || !value || !out || !len)
        return s_err(&c, ASYLINK_E_INVALID_ARG, "missing argument");
    *out = NULL;
    *len = 0;
    const ProtobufCMessageDescriptor *d = s_find_type(type_name);
    if (!d)
        return s_err(&c, ASYLINK_E_NOT_FOUND, "unknown payload type '%s'", type_name);
    if (!json_is_object(value))
        return s_err(&c, ASYLINK_E_MALFORMED, "a %s must be a JSON object", type_name);
    ProtobufCMessage *m = NULL;
    int rc = s_message_from_json(&c, d, value, &m, 0);
    if (rc == ASYLINK_OK) {
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf) {
            rc = s_err(&c, ASYLINK_E_NOMEM, "out of memory");
        } else {
            *len = protobuf_c_message_pack(m, buf);
            *out = buf;
        }
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int pbjson_from_json(const char *type_name, const char *json_text, uint8_t **out, size_t *len,
                     char *err, size_t errlen)
{
    if (!json_text) {
        if (err && errlen)
            snprintf(err, errlen, "missing JSON text");
        return ASYLINK_E_INVALID_ARG;
    }
    json_error_t je;
    json_t *v = json_loads(json_text, JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        if (err && errlen)
            snprintf(err, errlen, "not valid JSON (line %d, column %d): %s", je.line, je.column,
                     je.text);
        if (out)
            *out = NULL;
        return ASYLINK_E_MALFORMED;
    }
    int rc = pbjson_encode(type_name, v, out, len, err, errlen);
    json_decref(v);
    return rc;
}

/* ======================================================================
 * protobuf -> JSON
 * ====================================================================== */

static json_t *s_message_to_json(const ProtobufCMessage *m);

static json_t *s_uint64_json(uint64_t u)
{
    if (u > (uint64_t)INT64_MAX) {
        char buf[24];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)u);
        return json_string(buf);
    }
    return json_integer((json_int_t)u);
}

static json_t *s_double_json(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

static json_t *s_enum_json(const ProtobufCEnumDescriptor *ed, int32_t x)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, x);
    return ev ? json_string(ev->name) : json_integer(x);
}

static json_t *s_bytes_json(const ProtobufCBinaryData *b)
{
    size_t n = sodium_base64_encoded_len(b->len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(n);
    if (!s)
        return NULL;
    sodium_bin2base64(s, n, b->data ? b->data : (const uint8_t *)"", b->len,
                      sodium_base64_VARIANT_ORIGINAL);
    json_t *v = json_string(s);
    free(s);
    return v;
}

/* One element of field f stored at slot, as JSON (NULL when out of memory). */
static json_t *s_elem_to_json(const ProtobufCFieldDescriptor *f, const void *slot)
{
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    float fl;
    double db;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: memcpy(&i32, slot, 4); return json_integer(i32);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: memcpy(&u32, slot, 4); return json_integer(u32);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: memcpy(&i64, slot, 8); return json_integer(i64);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: memcpy(&u64, slot, 8); return s_uint64_json(u64);
    case PROTOBUF_C_TYPE_FLOAT: memcpy(&fl, slot, sizeof fl); return s_double_json(fl);
    case PROTOBUF_C_TYPE_DOUBLE: memcpy(&db, slot, sizeof db); return s_double_json(db);
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_ENUM: memcpy(&i32, slot, 4); return s_enum_json(f->descriptor, i32);
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        return json_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: return s_bytes_json((const ProtobufCBinaryData *)slot);
    case PROTOBUF_C_TYPE_MESSAGE: return s_message_to_json(*(ProtobufCMessage *const *)slot);
    }
    return NULL;
}

static json_t *s_repeated_to_json(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
    size_t n = *(const size_t *)((const uint8_t *)m + f->quantifier_offset);
    const uint8_t *arr = *(uint8_t *const *)((const uint8_t *)m + f->offset);
    size_t es = s_elem_size(f->type);
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *e = s_elem_to_json(f, arr + i * es);
        if (!e || json_array_append_new(a, e) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* False when the field is absent: unset message, other oneof member, optional without has_. */
static bool s_field_present(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
    const uint8_t *base = (const uint8_t *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED)
        return *(ProtobufCMessage *const *)(base + f->offset) != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
        f->type != PROTOBUF_C_TYPE_STRING)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
    return true;
}

static json_t *s_message_to_json(const ProtobufCMessage *m)
{
    if (!m)
        return json_null();
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *o = json_object();
    for (unsigned i = 0; o && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label != PROTOBUF_C_LABEL_REPEATED && !s_field_present(f, m))
            continue;
        json_t *v = f->label == PROTOBUF_C_LABEL_REPEATED
                        ? s_repeated_to_json(f, m)
                        : s_elem_to_json(f, (const uint8_t *)m + f->offset);
        if (!v || json_object_set_new(o, f->name, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/*
 * True if every string field of m (nested messages included) is UTF-8:
 * protobuf-c does not check, and JSON cannot carry anything else.
 */
static bool s_strings_utf8(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        bool rep = f->label == PROTOBUF_C_LABEL_REPEATED;
        if (!rep && !s_field_present(f, m))
            continue;
        size_t n = rep ? *(const size_t *)((const uint8_t *)m + f->quantifier_offset) : 1;
        void *const *slots = rep ? *(void *const *const *)((const uint8_t *)m + f->offset)
                                 : (void *const *)((const uint8_t *)m + f->offset);
        for (size_t k = 0; k < n; k++) {
            bool ok = f->type == PROTOBUF_C_TYPE_STRING ? !slots[k] || codec_utf8_valid(slots[k])
                                                        : !slots[k] || s_strings_utf8(slots[k]);
            if (!ok)
                return false;
        }
    }
    return true;
}

int pbjson_decode(const char *type_name, const uint8_t *buf, size_t len, json_t **value_out)
{
    if (!type_name || (!buf && len) || !value_out)
        return ASYLINK_E_INVALID_ARG;
    *value_out = NULL;
    const ProtobufCMessageDescriptor *d = s_find_type(type_name);
    if (!d)
        return ASYLINK_E_NOT_FOUND;
    static const uint8_t empty[1] = {0};
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, buf ? buf : empty);
    if (!m)
        return ASYLINK_E_MALFORMED;
    json_t *v = s_message_to_json(m);
    /* json_string() refuses text that is not UTF-8: such a payload is malformed. */
    bool utf8 = v || s_strings_utf8(m);
    protobuf_c_message_free_unpacked(m, NULL);
    if (!v)
        return utf8 ? ASYLINK_E_NOMEM : ASYLINK_E_MALFORMED;
    *value_out = v;
    return ASYLINK_OK;
}

int pbjson_to_json(const char *type_name, const uint8_t *buf, size_t len, char **json_out)
{
    if (!json_out)
        return ASYLINK_E_INVALID_ARG;
    *json_out = NULL;
    json_t *v = NULL;
    int rc = pbjson_decode(type_name, buf, len, &v);
    if (rc != ASYLINK_OK)
        return rc;
    *json_out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    return *json_out ? ASYLINK_OK : ASYLINK_E_NOMEM;
}

/* The skeleton of d: an empty message's fields, nested messages expanded, in field order. */
static json_t *s_skeleton(const ProtobufCMessageDescriptor *d, int depth)
{
    static const uint8_t empty[1] = {0};
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, 0, empty);
    json_t *base = m ? s_message_to_json(m) : NULL;
    protobuf_c_message_free_unpacked(m, NULL);
    json_t *o = base ? json_object() : NULL;
    for (unsigned i = 0; o && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        json_t *v;
        if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED)
            v = depth < PBJSON_MAX_DEPTH ? s_skeleton(f->descriptor, depth + 1) : json_null();
        else
            v = json_incref(json_object_get(base, f->name));
        if (!v || json_object_set_new(o, f->name, v) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    json_decref(base);
    return o;
}

int pbjson_skeleton(const char *type_name, json_t **value_out)
{
    if (!type_name || !value_out)
        return ASYLINK_E_INVALID_ARG;
    *value_out = NULL;
    const ProtobufCMessageDescriptor *d = s_find_type(type_name);
    if (!d)
        return ASYLINK_E_NOT_FOUND;
    *value_out = s_skeleton(d, 0);
    return *value_out ? ASYLINK_OK : ASYLINK_E_NOMEM;
}
