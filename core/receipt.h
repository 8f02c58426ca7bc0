/*
 * receipt.h — the signed proof of delivery: a ReceiptSet of one or more
 * asylink.v1.Receipt entries is the payload of an ordinary envelope with
 * content type RECEIPT_CONTENT_TYPE, sent by a recipient to the original
 * sender when its application acknowledges messages (one envelope, one
 * signature, for every message of that sender acknowledged together). The
 * envelope's signature makes it evidence; each entry's digest ties it to
 * the exact envelope that was delivered.
 */
#ifndef ASYLINK_CORE_RECEIPT_H
#define ASYLINK_CORE_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "cert.h"

#define RECEIPT_CONTENT_TYPE "asylink.v1.ReceiptSet"
/*
 * The name of the single Receipt message. No receipt travels under it, but
 * an older envelope.proto said one did; libasylink refuses a direct
 * envelope with this content type (ASYLINK_E_BAD_FIELD) rather than hand
 * it to the application as data (PROTOCOL.md section 5).
 */
#define RECEIPT_SINGLE_CONTENT_TYPE "asylink.v1.Receipt"
#define RECEIPT_SET_MAX 1000 /* entries in one ReceiptSet */
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

/*
 * Serializes n receipts (1..RECEIPT_SET_MAX, one recipient and one sender
 * for all, distinct message ids) as a ReceiptSet into a malloc'd buffer.
 * ASYLINK_OK, E_INVALID_ARG (n out of range), E_BAD_NODE_ID, E_BAD_FIELD
 * (a bad entry, mixed recipients/senders, a repeated id), E_NOMEM.
 */
int receipt_set_encode(const receipt *r, size_t n, uint8_t **out, size_t *len);

/*
 * Parses a ReceiptSet payload (canonical encoding only) into a malloc'd
 * array *out of *n entries (caller frees with free()). The same rules as
 * receipt_set_encode(). ASYLINK_OK, ASYLINK_E_MALFORMED (not a canonical
 * ReceiptSet), ASYLINK_E_TOO_LARGE (more than RECEIPT_SET_MAX entries),
 * ASYLINK_E_BAD_FIELD, ASYLINK_E_BAD_NODE_ID, ASYLINK_E_NOMEM.
 */
int receipt_set_decode(const uint8_t *buf, size_t len, receipt **out, size_t *n);

#endif
