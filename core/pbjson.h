/*
 * pbjson.h — generic JSON <-> protobuf for asylink's payload types, driven
 * by the protobuf-c descriptors of asylum.proto (and envelope.proto's
 * Receipt), so the CLI needs no code per payload type. Three protocol
 * types are converted the same way: asylink.v1.AdminResponse (the broker
 * builds its admin answers from JSON, the operator tool shows them) and
 * asylink.v1.AuditRecord / AuditCheckpoint (audit export); they are not
 * payload types: pbjson_known_type() and the type list leave them out.
 *
 * The mapping follows the proto3 JSON conventions:
 *   - a message is an object; output keys are the proto field names
 *     ("reporting_country"), as protoc's preserving_proto_field_names
 *     (protobuf-c 1.4 descriptors carry no json_name); input accepts the
 *     proto name or its lowerCamelCase JSON name ("reportingCountry");
 *   - 32-bit integers, bool, string as JSON numbers, true/false, strings;
 *     64-bit integers as JSON numbers (strings accepted on input; written
 *     as strings only above 2^63-1, which jansson cannot hold);
 *   - float/double as numbers ("NaN", "Infinity", "-Infinity" as strings);
 *   - enums by value name ("LEGAL_BASIS_DUBLIN_III_ART_34"; numbers
 *     accepted on input, written for values the descriptor does not name);
 *   - bytes as base64 (standard or URL-safe, padded or not on input);
 *   - repeated fields as arrays, nested messages as objects; null means
 *     "default" on input; at most one member of a oneof (only
 *     AdminResponse has one) may be given, else the input is refused.
 * Output lists every field (defaults too, so columns are stable), in field
 * number order; unset nested messages are left out. Unknown keys, values
 * of the wrong type or out of range are errors naming the field's path
 * ("rows[2].decisions.total").
 *
 * Threading: no state; every function is thread-safe.
 */
#ifndef ASYLINK_CORE_PBJSON_H
#define ASYLINK_CORE_PBJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if type_name ("asylink.v1.MonthlyStatistics") is a payload type pbjson knows. */
bool pbjson_known_type(const char *type_name);

/* The number of known types, and the i-th one's full name (static string). */
size_t pbjson_type_count(void);
const char *pbjson_type_name(size_t i);

/*
 * Converts JSON text into the serialized protobuf message type_name. On
 * success *out is malloc'd (caller frees) and *len its length (may be 0
 * for an all-default message, *out then still non-NULL). On failure err
 * (errlen bytes, may be NULL) says why, naming the key or field.
 * Errors: ASYLINK_E_NOT_FOUND (unknown type), ASYLINK_E_MALFORMED (not
 * JSON, or not an object), ASYLINK_E_BAD_FIELD (unknown key, wrong type,
 * out of range, bad enum name or base64), ASYLINK_E_NOMEM, ASYLINK_E_INVALID_ARG.
 */
int pbjson_from_json(const char *type_name, const char *json_text, uint8_t **out, size_t *len,
                     char *err, size_t errlen);

/* As pbjson_from_json(), from a parsed JSON value (borrowed). */
int pbjson_encode(const char *type_name, const json_t *value, uint8_t **out, size_t *len,
                  char *err, size_t errlen);

/*
 * Converts the serialized message type_name (buf, len bytes) into compact
 * JSON text: *json_out is malloc'd, the caller frees it. Errors:
 * ASYLINK_E_NOT_FOUND (unknown type), ASYLINK_E_MALFORMED (not a valid
 * message of that type, or a string field that is not UTF-8),
 * ASYLINK_E_NOMEM, ASYLINK_E_INVALID_ARG.
 */
int pbjson_to_json(const char *type_name, const uint8_t *buf, size_t len, char **json_out);

/* As pbjson_to_json(), into a new JSON object (*value_out: a new reference). */
int pbjson_decode(const char *type_name, const uint8_t *buf, size_t len, json_t **value_out);

/*
 * The shape of type_name as a JSON object: every field at its default, and
 * every (non-repeated) nested message expanded the same way, so callers can
 * derive stable columns (CSV) from it. *value_out is a new reference.
 * Errors: ASYLINK_E_NOT_FOUND, ASYLINK_E_NOMEM, ASYLINK_E_INVALID_ARG.
 */
int pbjson_skeleton(const char *type_name, json_t **value_out);

#endif
