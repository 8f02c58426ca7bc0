/*
 * codec.h — rules every decoded protobuf in asylink obeys.
 *
 * Signed structures carry serialized bytes that are signed as-is; to make
 * sure every implementation reads exactly what was signed, asylink accepts
 * only the canonical serialization: fields in field-number order, proto3
 * default values omitted, no unknown fields, no duplicate fields, strings
 * without NUL bytes and in valid UTF-8. A message is canonical exactly when
 * re-serializing what was decoded gives back the same bytes.
 *
 * Before unpacking hostile bytes, codec_prescan() bounds what protobuf-c
 * will allocate for them (commands in wire.c, envelopes in envelope.c).
 */
#ifndef ASYLINK_CORE_CODEC_H
#define ASYLINK_CORE_CODEC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * True if msg, decoded from buf (len bytes), re-serializes to exactly buf.
 * Compares while re-serializing (protobuf_c_message_pack_to_buffer), so it
 * allocates nothing and stops comparing at the first differing byte.
 */
bool codec_is_canonical(const ProtobufCMessage *msg, const uint8_t *buf, size_t len);

/* True if s (NUL-terminated) is valid UTF-8 without overlongs or surrogates. */
bool codec_utf8_valid(const char *s);

/* ---- Raw protobuf: reading the wire format before protobuf-c unpacks it ---- */

/* One field as it appears on the wire. */
typedef struct codec_field {
    uint64_t number;     /* field number */
    unsigned wire_type;  /* 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
    uint64_t value;      /* wire type 0: the varint */
    const uint8_t *data; /* wire type 2: the payload (inside the scanned buffer) */
    size_t len;          /* wire type 2: its length */
} codec_field;

/* Reads a varint at *p (before end) and moves past it; false if cut or longer than 10 bytes. */
bool codec_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);

/* Reads the field at *p (before end) into *f and moves past it; false on broken framing. */
bool codec_next_field(const uint8_t **p, const uint8_t *end, codec_field *f);

/*
 * Finds the first length-delimited field number in buf (len bytes):
 * *data (inside buf) and *n. False if there is none before the end or
 * before broken framing.
 */
bool codec_find_bytes(const uint8_t *buf, size_t len, uint64_t number, const uint8_t **data,
                      size_t *n);

/*
 * The pre-scan: protobuf-c allocates per element and per field occurrence
 * while it unpacks (8 bytes for every 1-byte packed number, a struct for
 * every nested message, a copy of every unknown field), so a hostile frame
 * can cost ten or more times its size before any check runs. The pre-scan
 * walks the raw bytes first and refuses what protobuf-c would expand:
 * unknown fields, a field it would refuse (wrong wire type), a single
 * field or a oneof twice, packed arrays not in one record, nesting deeper
 * than max_depth, more than CODEC_SCAN_FIELDS fields in a type (all
 * ASYLINK_E_MALFORMED: never canonical), and repeated fields longer than
 * their limit (too_many_code). What passes costs protobuf-c about the
 * input's size.
 */
#define CODEC_SCAN_FIELDS 32 /* most fields a scanned message type may declare */

typedef struct codec_scan_rules {
    int max_depth;     /* levels of nested messages below the scanned one */
    int too_many_code; /* the code for a repeated field over its limit */
    /* most elements of repeated field id of d; 0 = it must not occur */
    size_t (*repeated_max)(const ProtobufCMessageDescriptor *d, unsigned id);
    /* false refuses a known field of d as MALFORMED; NULL = all allowed */
    bool (*allowed)(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *fd);
} codec_scan_rules;

/* Pre-scans buf (len bytes) as a message of type d. ASYLINK_OK or the code (see above). */
int codec_prescan(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                  const codec_scan_rules *rules);

/*
 * The one-pass decoder: unpacks buf (len bytes) as a message of type d
 * only if buf is canonical and passes the pre-scan under rules, in one walk
 * over the bytes, with every struct, array and string taken from
 * alloc(ctx, size) (which returns NULL when it has no room; nothing is
 * ever freed one by one). Bytes fields point into buf: the caller keeps
 * buf alive as long as the message. It takes only what protobuf-c's
 * unpack followed by codec_is_canonical() accepts, and then decodes the
 * same fields: the proto3 field types asylink's signed structures use
 * (uint32, uint64, enum, bool, string, bytes, nested messages; repeated
 * strings, bytes and messages; a oneof of messages), fields in number
 * order, defaults omitted,
 * shortest varints, no NUL in strings, no unknown fields.
 *
 * NULL means "not taken", never an error code: anything else, including
 * every hostile or merely unusual input and a full allocator, goes to the
 * general path (codec_prescan(), protobuf-c, codec_is_canonical()), which
 * gives its exact error code. test_codec checks over mutated inputs that
 * a taken message is what the general path decodes.
 */
typedef void *(*codec_alloc_fn)(void *ctx, size_t size);

/* A bump arena over the caller's memory (base aligned for any type), for codec_unpack_canonical().
 */
typedef struct codec_arena {
    uint8_t *base;
    size_t cap, used;
} codec_arena;

/* A codec_alloc_fn on a codec_arena (ctx): aligned for any type; NULL when it is full. */
void *codec_arena_alloc(void *ctx, size_t size);

ProtobufCMessage *codec_unpack_canonical(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
                                         size_t len, const codec_scan_rules *rules,
                                         codec_alloc_fn alloc, void *ctx);

#endif
