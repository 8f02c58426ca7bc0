/*
 * codec.c — canonical-encoding and text checks for decoded protobufs, and
 * the pre-scan of raw protobuf before it is unpacked.
 */
#include "codec.h"

#include "asylink/errors.h"

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
