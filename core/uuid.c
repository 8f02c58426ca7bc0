/*
 * uuid.c — UUIDv7 generation and text form.
 */
#include "uuid.h"

#include "clock.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void uuid_v7_from(uint64_t ms, const uint8_t random10[10], uint8_t out[UUID_LEN])
{
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(ms >> (40 - 8 * i));
    memcpy(out + 6, random10, 10);
    out[6] = (uint8_t)(0x70 | (out[6] & 0x0f)); /* version 7 */
    out[8] = (uint8_t)(0x80 | (out[8] & 0x3f)); /* variant 10 */
}

void uuid_v7(uint8_t out[UUID_LEN])
{
    uint8_t rnd[10];
    randombytes_buf(rnd, sizeof rnd);
    uuid_v7_from(clock_now_ms(), rnd, out);
}

const char *uuid_format(const uint8_t id[UUID_LEN], char *buf, size_t len)
{
    char hex[33];
    sodium_bin2hex(hex, sizeof hex, id, UUID_LEN);
    snprintf(buf, len, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return buf;
}

int uuid_parse(const char *s, uint8_t out[UUID_LEN])
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (!s || sodium_hex2bin(out, UUID_LEN, s, strlen(s), "-", &bin_len, &end) != 0)
        return -1;
    return bin_len == UUID_LEN && *end == 0 ? 0 : -1;
}

uint64_t uuid_v7_time(const uint8_t id[UUID_LEN])
{
    uint64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | id[i];
    return ms;
}
