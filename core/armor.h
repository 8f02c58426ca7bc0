/*
 * armor.h — the PEM-like text form of asylink files (certificates, requests,
 * revocation lists, secret keys):
 *
 *   # free comment lines, informational only, never trusted
 *   -----BEGIN ASYLINK CERTIFICATE-----
 *   base64 (standard alphabet, padded), 64 characters a line
 *   -----END ASYLINK CERTIFICATE-----
 *
 * The label ("CERTIFICATE", "CERTIFICATE REQUEST", "REVOCATION LIST",
 * "SECRET KEY") says what the bytes are; decoding checks it.
 */
#ifndef ASYLINK_CORE_ARMOR_H
#define ASYLINK_CORE_ARMOR_H

#include <stddef.h>
#include <stdint.h>

#define ARMOR_CERTIFICATE "CERTIFICATE"
#define ARMOR_REQUEST "CERTIFICATE REQUEST"
#define ARMOR_CRL "REVOCATION LIST"
#define ARMOR_SECRET_KEY "SECRET KEY"

/*
 * Encodes data as armored text. comment (may be NULL) is a string of lines
 * separated by '\n'; each is written prefixed with "# ". Returns a malloc'd
 * NUL-terminated string in *out (caller frees) or ASYLINK_E_NOMEM. Its own
 * scratch copies of data (the base64) are wiped before they are freed, as
 * data may be a secret key file's blob; wiping *out is the caller's part.
 */
int armor_encode(const char *label, const char *comment, const uint8_t *data, size_t len,
                 char **out);

/*
 * Decodes the block with the given label from text (len bytes, need not be
 * NUL-terminated). Only blank and '#' lines may precede the BEGIN line and
 * only blank lines may follow the END line. With secure nonzero the result is in
 * sodium_malloc'd memory (free with file_secret_free()), else malloc'd.
 * Returns ASYLINK_OK, ASYLINK_E_MALFORMED (no such block, bad base64, empty
 * block, missing END line, stray text) or ASYLINK_E_NOMEM.
 */
int armor_decode(const char *label, const char *text, size_t len, int secure, uint8_t **out,
                 size_t *out_len);

#endif
