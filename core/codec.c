/*
 * codec.c — canonical-encoding and text checks for decoded protobufs, and
 * the pre-scan of raw protobuf before it is unpacked.
 */
#include "codec.h"

#include "asylink/errors.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/*
 * True if msg or any message nested in it kept unknown fields: protobuf-c
 * re-emits them when packing, so the byte comparison alone would not
 * notice an unknown field inside a nested message.
 */
static bool s_has_unknown(const ProtobufCMessage *msg)
{
    if (msg->n_unknown_fields != 0)
        return true;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)msg;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t k = 0; k < n; k++)
                if (items[k] && s_has_unknown(items[k]))
                    return true;
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
        if (sub && s_has_unknown(sub))
            return true;
    }
    return false;
}

/*
 * A ProtobufCBuffer that compares what protobuf-c appends with the original
 * bytes instead of storing it: the message re-serializes to exactly buf
 * when every append matches the next bytes of buf and they end together.
 */
typedef struct {
    ProtobufCBuffer base; /* first: protobuf-c calls base.append */
    const uint8_t *buf;   /* the original bytes */
    size_t len;           /* their number */
    size_t off;           /* bytes matched so far */
    bool same;            /* no mismatch yet */
} s_compare;

static void s_compare_append(ProtobufCBuffer *b, size_t n, const uint8_t *data)
{
    s_compare *c = (s_compare *)b;
    if (!c->same || n == 0)
        return;
    if (n > c->len - c->off || memcmp(c->buf + c->off, data, n) != 0) {
        c->same = false;
        return;
    }
    c->off += n;
}

bool codec_is_canonical(const ProtobufCMessage *msg, const uint8_t *buf, size_t len)
{
    if (s_has_unknown(msg))
        return false;
    s_compare c = {.base = {.append = s_compare_append}, .buf = buf, .len = len, .same = true};
    size_t packed = protobuf_c_message_pack_to_buffer(msg, &c.base);
    return c.same && c.off == len && packed == len;
}

/* Length of the UTF-8 sequence starting with lead byte c, 0 if invalid. */
static size_t s_seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

bool codec_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = s_seq_len(*p);
        if (n == 0)
            return false;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        /* overlong 3/4-byte forms, surrogates, > U+10FFFF */
        if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
            (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
            return false;
        p += n;
    }
    return true;
}

/* ---------------------------------------------------------------- raw wire -- */

bool codec_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

bool codec_next_field(const uint8_t **p, const uint8_t *end, codec_field *f)
{
    uint64_t tag, v;
    if (!codec_varint(p, end, &tag))
        return false;
    f->number = tag >> 3;
    f->wire_type = (unsigned)(tag & 7);
    size_t left = (size_t)(end - *p);
    switch (f->wire_type) {
    case 0: return codec_varint(p, end, &f->value);
    case 1:
    case 5: {
        size_t n = f->wire_type == 1 ? 8 : 4;
        *p += left >= n ? n : left;
        return left >= n;
    }
    case 2:
        if (!codec_varint(p, end, &v) || v > (uint64_t)(end - *p))
            return false;
        f->data = *p;
        f->len = (size_t)v;
        *p += v;
        return true;
    default: return false; /* groups are not proto3 */
    }
}

bool codec_find_bytes(const uint8_t *buf, size_t len, uint64_t number, const uint8_t **data,
                      size_t *n)
{
    const uint8_t *p = buf, *end = buf + len;
    codec_field f = {0};
    while (p < end && codec_next_field(&p, end, &f)) {
        if (f.number == number && f.wire_type == 2) {
            *data = f.data;
            *n = f.len;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------- pre-scan -- */

/* The wire type protobuf-c expects for a field. */
static unsigned s_wire_type(const ProtobufCFieldDescriptor *fd)
{
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED)
        return 2;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE: return 2;
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 1;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT: return 5;
    default: return 0;
    }
}

/* Occurrence slot of a field: members of one oneof share the first member's slot. */
static size_t s_slot(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *fd)
{
    if (!(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return (size_t)(fd - d->fields);
    size_t i = 0; /* terminates at fd itself at the latest */
    while (!(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
           d->fields[i].quantifier_offset != fd->quantifier_offset)
        i++;
    return i;
}

/* Counts one occurrence of fd (the f on the wire) into *seen. */
static int s_count(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *fd,
                   const codec_field *f, size_t *seen, const codec_scan_rules *rules)
{
    if (fd->label != PROTOBUF_C_LABEL_REPEATED)
        return ++*seen > 1 ? ASYLINK_E_MALFORMED : ASYLINK_OK;
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED) {
        /* canonical: one non-empty record of whole varints */
        if (*seen || f->len == 0 || (f->data[f->len - 1] & 0x80))
            return ASYLINK_E_MALFORMED;
        for (size_t i = 0; i < f->len; i++)
            *seen += !(f->data[i] & 0x80); /* each varint ends in one such byte */
    } else {
        ++*seen;
    }
    return *seen > rules->repeated_max(d, fd->id) ? rules->too_many_code : ASYLINK_OK;
}

/* Walks one message of type d in buf[0..len) at nesting depth. */
static int s_prescan(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                     const codec_scan_rules *rules, int depth)
{
    size_t seen[CODEC_SCAN_FIELDS] = {0};
    const uint8_t *p = buf, *end = buf + len;
    if (depth > rules->max_depth || d->n_fields > CODEC_SCAN_FIELDS)
        return ASYLINK_E_MALFORMED;
    while (p < end) {
        codec_field f = {0};
        if (!codec_next_field(&p, end, &f) || f.number == 0 || f.number > UINT32_MAX)
            return ASYLINK_E_MALFORMED;
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(d, (unsigned)f.number);
        if (!fd || f.wire_type != s_wire_type(fd))
            return ASYLINK_E_MALFORMED; /* unknown field or one protobuf-c refuses */
        if (rules->allowed && !rules->allowed(d, fd))
            return ASYLINK_E_MALFORMED;
        int rc = s_count(d, fd, &f, &seen[s_slot(d, fd)], rules);
        if (rc == ASYLINK_OK && fd->type == PROTOBUF_C_TYPE_MESSAGE)
            rc = s_prescan(fd->descriptor, f.data, f.len, rules, depth + 1);
        if (rc != ASYLINK_OK)
            return rc;
    }
    return ASYLINK_OK;
}

int codec_prescan(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                  const codec_scan_rules *rules)
{
    if (!d || !rules || (!buf && len))
        return ASYLINK_E_INVALID_ARG;
    return s_prescan(d, buf, len, rules, 0);
}

/* ------------------------------------------------------- one-pass decoder -- */

void *codec_arena_alloc(void *ctx, size_t size)
{
    codec_arena *a = ctx;
    size_t align = _Alignof(max_align_t);
    size_t at = (a->used + align - 1) & ~(align - 1);
    if (at > a->cap || size > a->cap - at)
        return NULL;
    a->used = at + size;
    return a->base + at;
}

typedef struct {
    const codec_scan_rules *rules;
    codec_alloc_fn alloc;
    void *ctx;
} s_fast;

/*
 * A varint in its shortest form (what protobuf-c writes): more than one
 * byte only if the last is not zero; ten bytes only if the value needs
 * them (the tenth byte is then 1).
 */
static bool s_varint_shortest(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *start = *p;
    if (!codec_varint(p, end, v))
        return false;
    size_t n = (size_t)(*p - start);
    return n == 1 || (start[n - 1] != 0 && (n < 10 || start[9] == 1));
}

/* A length-delimited payload at *p: its bytes, moved past. */
static bool s_fast_len(const uint8_t **p, const uint8_t *end, const uint8_t **data, size_t *n)
{
    uint64_t v;
    if (!s_varint_shortest(p, end, &v) || v > (uint64_t)(end - *p))
        return false;
    *data = *p;
    *n = (size_t)v;
    *p += v;
    return true;
}

static bool s_fast_msg(const s_fast *f, const ProtobufCMessageDescriptor *d, const uint8_t *buf,
                       size_t len, int depth, ProtobufCMessage **out);

/* A string, bytes or message element (n bytes at data) into *slot; empty allowed. */
static bool s_fast_element(const s_fast *f, const ProtobufCFieldDescriptor *fd, const uint8_t *data,
                           size_t n, int depth, void *slot)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING: {
        if (memchr(data, 0, n))
            return false; /* protobuf-c would cut it: not canonical */
        char *s = f->alloc(f->ctx, n + 1);
        if (!s)
            return false;
        memcpy(s, data, n);
        s[n] = '\0';
        *(char **)slot = s;
        return true;
    }
    case PROTOBUF_C_TYPE_BYTES:
        *(ProtobufCBinaryData *)slot =
            (ProtobufCBinaryData){.len = n, .data = n ? (uint8_t *)data : NULL};
        return true;
    case PROTOBUF_C_TYPE_MESSAGE:
        return s_fast_msg(f, fd->descriptor, data, n, depth + 1, (ProtobufCMessage **)slot);
    default: return false;
    }
}

/* A single (proto3, implicit presence) varint field: present only if not the default. */
static bool s_fast_scalar(const ProtobufCFieldDescriptor *fd, uint64_t v, void *member)
{
    switch (fd->type) {
    case PROTOBUF_C_TYPE_UINT32:
        if (v == 0 || v > UINT32_MAX)
            return false;
        *(uint32_t *)member = (uint32_t)v;
        return true;
    case PROTOBUF_C_TYPE_UINT64:
        if (v == 0)
            return false;
        *(uint64_t *)member = v;
        return true;
    case PROTOBUF_C_TYPE_ENUM:
        /* An enum is an int32: a negative one is written sign-extended to
         * 64 bits (ten bytes), which protobuf-c reads back by its low 32 bits
         * and writes again the same way; any other value over INT32_MAX does
         * not re-serialize to itself. */
        if (v == 0 || (v > INT32_MAX && v < (uint64_t)INT64_C(-2147483648)))
            return false;
        *(int *)member = (int)(int32_t)(uint32_t)v;
        return true;
    case PROTOBUF_C_TYPE_BOOL:
        if (v != 1)
            return false;
        *(protobuf_c_boolean *)member = 1;
        return true;
    default: return false;
    }
}

/* The contiguous run of a repeated field starting with the tag at *p. */
static bool s_fast_repeated(const s_fast *f, const ProtobufCMessageDescriptor *d,
                            const ProtobufCFieldDescriptor *fd, uint64_t tag, const uint8_t **p,
                            const uint8_t *end, int depth, void *msg)
{
    const uint8_t *q = *p, *data;
    size_t n = 0, len;
    uint64_t t;
    for (const uint8_t *at = q; at < end; n++) { /* count first: one array */
        const uint8_t *next = at;
        if (!s_varint_shortest(&next, end, &t) || t != tag)
            break;
        if (!s_fast_len(&next, end, &data, &len))
            return false;
        at = next;
    }
    if (n == 0 || n > f->rules->repeated_max(d, fd->id))
        return false;
    size_t elem = fd->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData) : sizeof(void *);
    uint8_t *arr = f->alloc(f->ctx, n * elem);
    if (!arr)
        return false;
    for (size_t i = 0; i < n; i++) {
        (void)s_varint_shortest(&q, end, &t); /* as counted above */
        (void)s_fast_len(&q, end, &data, &len);
        if (!s_fast_element(f, fd, data, len, depth, arr + i * elem))
            return false;
    }
    *(size_t *)((char *)msg + fd->quantifier_offset) = n;
    *(void **)((char *)msg + fd->offset) = arr;
    *p = q;
    return true;
}

/* One message of type d from buf[0..len): fields strictly in the descriptor's (number) order. */
static bool s_fast_msg(const s_fast *f, const ProtobufCMessageDescriptor *d, const uint8_t *buf,
                       size_t len, int depth, ProtobufCMessage **out)
{
    if (depth > f->rules->max_depth || d->n_fields > CODEC_SCAN_FIELDS)
        return false;
    ProtobufCMessage *m = f->alloc(f->ctx, d->sizeof_message);
    if (!m)
        return false;
    protobuf_c_message_init(d, m);
    const uint8_t *p = buf, *end = buf + len;
    unsigned next = 0; /* index of the first field that may still come */
    while (p < end) {
        const uint8_t *at = p, *data;
        uint64_t tag, v;
        size_t n;
        if (!s_varint_shortest(&p, end, &tag))
            return false;
        while (next < d->n_fields && d->fields[next].id < (tag >> 3))
            next++;
        if (next == d->n_fields || d->fields[next].id != (tag >> 3))
            return false; /* unknown, repeated out of its run, or out of order */
        const ProtobufCFieldDescriptor *fd = &d->fields[next++];
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED) ||
            (fd->label != PROTOBUF_C_LABEL_NONE && fd->label != PROTOBUF_C_LABEL_REPEATED) ||
            (tag & 7) != s_wire_type(fd) || (f->rules->allowed && !f->rules->allowed(d, fd)))
            return false;
        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) { /* a message member, the first one set */
            uint32_t *which = (uint32_t *)((char *)m + fd->quantifier_offset);
            if (fd->type != PROTOBUF_C_TYPE_MESSAGE || *which)
                return false;
            *which = fd->id;
        }
        void *member = (char *)m + fd->offset;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            p = at;
            if ((tag & 7) != 2 || !s_fast_repeated(f, d, fd, tag, &p, end, depth, m))
                return false;
        } else if ((tag & 7) == 0) {
            if (!s_varint_shortest(&p, end, &v) || !s_fast_scalar(fd, v, member))
                return false;
        } else if ((tag & 7) != 2 || !s_fast_len(&p, end, &data, &n) ||
                   (n == 0 && fd->type != PROTOBUF_C_TYPE_MESSAGE) ||
                   !s_fast_element(f, fd, data, n, depth, member)) {
            return false; /* an empty string or bytes field is the default: never written */
        }
    }
    *out = m;
    return true;
}

ProtobufCMessage *codec_unpack_canonical(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
                                         size_t len, const codec_scan_rules *rules,
                                         codec_alloc_fn alloc, void *ctx)
{
    ProtobufCMessage *m = NULL;
    if (!d || !rules || !rules->repeated_max || !alloc || (!buf && len))
        return NULL;
    s_fast f = {.rules = rules, .alloc = alloc, .ctx = ctx};
    return s_fast_msg(&f, d, buf, len, 0, &m) ? m : NULL;
}
