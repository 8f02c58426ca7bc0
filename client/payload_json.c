/*
 * payload_json.c — the payload types' JSON form through the public API
 * (asylink_payload_*): thin wrappers over core/pbjson.c, the converter
 * the command line uses, so an application, the Python binding and
 * `asylink recv --json` give the same JSON for the same bytes.
 *
 * Only payload types are converted (pbjson_known_type()): the protocol
 * type pbjson also knows (AdminResponse) is not an application payload.
 * Returned buffers are copied into plain malloc() memory, so that
 * asylink_free() releases them even when the application has given
 * jansson allocation functions of its own (json_set_alloc_funcs()).
 */
#include "asylink/asylink.h"

#include "pbjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t asylink_payload_type_count(void)
{
    return pbjson_type_count();
}

const char *asylink_payload_type_name(size_t i)
{
    return i < pbjson_type_count() ? pbjson_type_name(i) : NULL;
}

/* A malloc'd copy of text from json_dumps(), which is released with jansson's allocator. */
static char *s_copy_text(char *text)
{
    json_malloc_t jmalloc = NULL;
    json_free_t jfree = NULL;
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, text, n);
    json_get_alloc_funcs(&jmalloc, &jfree);
    (jfree ? jfree : free)(text);
    return copy;
}

int asylink_payload_to_json(const char *content_type, const void *payload, size_t len,
                            unsigned flags, char **json)
{
    *json = NULL;
    if ((!payload && len > 0) || (flags & ~ASYLINK_JSON_PRETTY))
        return ASYLINK_E_INVALID_ARG;
    if (!pbjson_known_type(content_type))
        return ASYLINK_E_NOT_FOUND;
    json_t *value = NULL;
    int rc = pbjson_decode(content_type, payload, len, &value);
    if (rc != ASYLINK_OK)
        return rc;
    size_t dump_flags =
        JSON_PRESERVE_ORDER | ((flags & ASYLINK_JSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT);
    char *text = json_dumps(value, dump_flags);
    json_decref(value);
    if (text)
        *json = s_copy_text(text);
    return *json ? ASYLINK_OK : ASYLINK_E_NOMEM;
}

int asylink_payload_from_json(const char *content_type, const char *json, uint8_t **payload,
                              size_t *len, char *err, size_t errlen)
{
    *payload = NULL;
    *len = 0;
    if (err && errlen)
        err[0] = '\0';
    if (!pbjson_known_type(content_type)) {
        if (err && errlen)
            snprintf(err, errlen, "not a payload type this library converts");
        return ASYLINK_E_NOT_FOUND;
    }
    uint8_t *bytes = NULL;
    size_t n = 0;
    int rc = pbjson_from_json(content_type, json, &bytes, &n, err, errlen);
    if (rc != ASYLINK_OK)
        return rc;
    *payload = bytes; /* pbjson packs into malloc() memory: asylink_free() releases it */
    *len = n;
    return ASYLINK_OK;
}
