/*
 * receipt.h — the signed proof of delivery (asylink.v1.Receipt): the
 * payload of an ordinary envelope with content type RECEIPT_CONTENT_TYPE,
 * sent by a recipient to the original sender when its application
 * acknowledges a message. The envelope's signature makes it evidence; the
 * digest ties it to the exact envelope that was delivered.
 */
#ifndef ASYLINK_CORE_RECEIPT_H
#define ASYLINK_CORE_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "cert.h"

#define RECEIPT_CONTENT_TYPE "asylink.v1.Receipt"
#define RECEIPT_DELIVERED 1
#define RECEIPT_REJECTED 2

typedef struct receipt {
    uint8_t message_id[16];          /* the acknowledged message */
    uint8_t envelope_digest[64];     /* its envelope signature digest */
    char recipient[NODE_ID_MAX + 1]; /* who acknowledges (the receipt's signer) */
    char sender[NODE_ID_MAX + 1];    /* who sent the message (the receipt's addressee) */
    uint64_t acked_ms;
    int status;                      /* RECEIPT_DELIVERED or RECEIPT_REJECTED */
    char reason[256];
} receipt;

/* Serializes r into a malloc'd buffer. ASYLINK_OK, E_BAD_NODE_ID, E_BAD_FIELD, E_NOMEM. */
int receipt_encode(const receipt *r, uint8_t **out, size_t *len);

/*
 * Parses a Receipt payload (canonical encoding only). ASYLINK_OK,
 * ASYLINK_E_MALFORMED, ASYLINK_E_BAD_FIELD, ASYLINK_E_BAD_NODE_ID.
 */
int receipt_decode(const uint8_t *buf, size_t len, receipt *out);

#endif
