/*
 * receipt.c — Receipt payload codec.
 */
#include "receipt.h"

#include "asylink/asylink.h"
#include "asylink/v1/envelope.pb-c.h"
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_check(const receipt *r)
{
    if (!node_id_valid(r->recipient) || !node_id_valid(r->sender))
        return ASYLINK_E_BAD_NODE_ID;
    if (r->status != RECEIPT_DELIVERED && r->status != RECEIPT_REJECTED)
        return ASYLINK_E_BAD_FIELD;
    return codec_utf8_valid(r->reason) ? ASYLINK_OK : ASYLINK_E_BAD_FIELD;
}

int receipt_encode(const receipt *r, uint8_t **out, size_t *len)
{
    *out = NULL;
    int rc = s_check(r);
    if (rc != ASYLINK_OK)
        return rc;
    Asylink__V1__Receipt m = ASYLINK__V1__RECEIPT__INIT;
    m.message_id = (ProtobufCBinaryData){16, (uint8_t *)r->message_id};
    m.envelope_digest = (ProtobufCBinaryData){64, (uint8_t *)r->envelope_digest};
    m.recipient = (char *)r->recipient;
    m.sender = (char *)r->sender;
    m.acked_ms = r->acked_ms;
    m.status = (Asylink__V1__ReceiptStatus)r->status;
    m.reason = (char *)r->reason;
    *len = asylink__v1__receipt__get_packed_size(&m);
    *out = malloc(*len ? *len : 1);
    if (!*out)
        return ASYLINK_E_NOMEM;
    asylink__v1__receipt__pack(&m, *out);
    return ASYLINK_OK;
}

int receipt_decode(const uint8_t *buf, size_t len, receipt *out)
{
    memset(out, 0, sizeof *out);
    Asylink__V1__Receipt *m = asylink__v1__receipt__unpack(NULL, len, buf);
    if (!m)
        return ASYLINK_E_MALFORMED;
    int rc = ASYLINK_E_MALFORMED;
    if (!codec_is_canonical(&m->base, buf, len))
        goto cleanup;
    rc = ASYLINK_E_BAD_FIELD;
    if (m->message_id.len != 16 || m->envelope_digest.len != 64 || strlen(m->recipient) > NODE_ID_MAX ||
        strlen(m->sender) > NODE_ID_MAX || strlen(m->reason) >= sizeof out->reason)
        goto cleanup;
    memcpy(out->message_id, m->message_id.data, 16);
    memcpy(out->envelope_digest, m->envelope_digest.data, 64);
    snprintf(out->recipient, sizeof out->recipient, "%s", m->recipient);
    snprintf(out->sender, sizeof out->sender, "%s", m->sender);
    snprintf(out->reason, sizeof out->reason, "%s", m->reason);
    out->acked_ms = m->acked_ms;
    out->status = (int)m->status;
    rc = s_check(out);
cleanup:
    asylink__v1__receipt__free_unpacked(m, NULL);
    return rc;
}
