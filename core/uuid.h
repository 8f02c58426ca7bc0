/*
 * uuid.h — UUIDv7 message ids (RFC 9562): 48-bit Unix ms timestamp, version
 * 7, 74 random bits. Time-ordered, so LMDB keys built from them stay local.
 */
#ifndef ASYLINK_CORE_UUID_H
#define ASYLINK_CORE_UUID_H

#include <stddef.h>
#include <stdint.h>

#define UUID_LEN 16
#define UUID_STR_LEN 37 /* 36 characters and NUL */

/* Makes a UUIDv7 for time ms from 10 random bytes. */
void uuid_v7_from(uint64_t ms, const uint8_t random10[10], uint8_t out[UUID_LEN]);

/* Makes a UUIDv7 for the current time with random bits from libsodium. */
void uuid_v7(uint8_t out[UUID_LEN]);

/* Formats as 8-4-4-4-12 lowercase hex into buf (>= UUID_STR_LEN). */
const char *uuid_format(const uint8_t id[UUID_LEN], char *buf, size_t len);

/* Parses the 8-4-4-4-12 form (or 32 plain hex digits). 0 on success, -1 otherwise. */
int uuid_parse(const char *s, uint8_t out[UUID_LEN]);

/* The timestamp of a UUIDv7 in Unix ms. */
uint64_t uuid_v7_time(const uint8_t id[UUID_LEN]);

#endif
