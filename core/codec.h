/*
 * codec.h — rules every decoded protobuf in asylink obeys.
 *
 * Signed structures carry serialized bytes that are signed as-is; to make
 * sure every implementation reads exactly what was signed, asylink accepts
 * only the canonical serialization: fields in field-number order, proto3
 * default values omitted, no unknown fields, no duplicate fields, strings
 * without NUL bytes and in valid UTF-8. A message is canonical exactly when
 * re-serializing what was decoded gives back the same bytes.
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

#endif
