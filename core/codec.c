/*
 * codec.c — canonical-encoding and text checks for decoded protobufs.
 */
#include "codec.h"

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
