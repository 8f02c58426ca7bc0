/*
 * ids.c — message ids as text through the public API (asylink_id_*): the
 * 8-4-4-4-12 form of core/uuid.c, which the command line and the broker
 * print, so that applications and the Python binding print ids the same
 * way. Parsing is strict about the shape (core's uuid_parse() alone would
 * take dashes anywhere).
 */
#include "asylink/asylink.h"

#include "uuid.h"

#include <stdbool.h>
#include <string.h>

const char *asylink_id_format(const uint8_t id[16], char out[ASYLINK_ID_TEXT_LEN])
{
    return uuid_format(id, out, ASYLINK_ID_TEXT_LEN);
}

static bool s_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* True if text is 32 hex digits, or 8-4-4-4-12 hex digits with dashes. */
static bool s_shape_ok(const char *text)
{
    size_t n = strlen(text);
    if (n != 32 && n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash_here = n == 36 && (i == 8 || i == 13 || i == 18 || i == 23);
        if (dash_here ? text[i] != '-' : !s_is_hex(text[i]))
            return false;
    }
    return true;
}

int asylink_id_parse(const char *text, uint8_t out[16])
{
    uint8_t id[UUID_LEN];
    if (!s_shape_ok(text) || uuid_parse(text, id) != 0)
        return ASYLINK_E_BAD_FIELD;
    memcpy(out, id, sizeof id);
    return ASYLINK_OK;
}
