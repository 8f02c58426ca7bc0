/*
 * err.c — names and descriptions of asylink's stable error codes, and the
 * library version. The table is the single source of both strings.
 */
#include "asylink/errors.h"

#include <stddef.h>

/* One row per code: its number, symbolic name and English description. */
typedef struct {
    int code;
    const char *name;
    const char *text;
} s_err_row;

static const s_err_row s_errors[] = {
    {ASYLINK_OK, "OK", "success"},
    {ASYLINK_E_INVALID_ARG, "INVALID_ARG", "invalid argument"},
    {ASYLINK_E_NOMEM, "NOMEM", "out of memory"},
    {ASYLINK_E_IO, "IO", "input/output error"},
    {ASYLINK_E_INTERNAL, "INTERNAL", "internal error"},
    {ASYLINK_E_NOT_FOUND, "NOT_FOUND", "not found"},
    {ASYLINK_E_EXISTS, "EXISTS", "already exists"},
    {ASYLINK_E_CONFIG, "CONFIG", "invalid configuration"},
    {ASYLINK_E_TIMEOUT, "TIMEOUT", "timed out"},
    {ASYLINK_E_AMBIGUOUS, "AMBIGUOUS", "the message id names several messages"},
    {ASYLINK_E_MALFORMED, "MALFORMED", "malformed data"},
    {ASYLINK_E_UNSUPPORTED_VERSION, "UNSUPPORTED_VERSION",
     "unsupported format or protocol version"},
    {ASYLINK_E_TOO_LARGE, "TOO_LARGE", "too large"},
    {ASYLINK_E_BAD_FIELD, "BAD_FIELD", "missing or invalid field"},
    {ASYLINK_E_STALE, "STALE", "older than the version already in use"},
    {ASYLINK_E_BAD_SIGNATURE, "BAD_SIGNATURE", "signature does not verify"},
    {ASYLINK_E_UNKNOWN_SENDER, "UNKNOWN_SENDER",
     "sender has no certificate in the trust directory"},
    {ASYLINK_E_REVOKED, "REVOKED", "certificate revoked"},
    {ASYLINK_E_CERT_EXPIRED, "CERT_EXPIRED", "certificate expired"},
    {ASYLINK_E_CERT_NOT_YET_VALID, "CERT_NOT_YET_VALID", "certificate not yet valid"},
    {ASYLINK_E_UNTRUSTED_ISSUER, "UNTRUSTED_ISSUER", "not issued by the federation CA"},
    {ASYLINK_E_BAD_NODE_ID, "BAD_NODE_ID", "invalid node id"},
    {ASYLINK_E_ROLE, "ROLE", "certificate lacks the required role"},
    {ASYLINK_E_WRONG_KEY, "WRONG_KEY", "key does not match the certificate"},
    {ASYLINK_E_EXPIRED, "EXPIRED", "message expired"},
    {ASYLINK_E_NOT_RECIPIENT, "NOT_RECIPIENT", "not a recipient of this message"},
    {ASYLINK_E_TAMPERED, "TAMPERED", "ciphertext or key wrap does not open"},
    {ASYLINK_E_KEYWRAP_MISMATCH, "KEYWRAP_MISMATCH", "key wraps do not match the header's readers"},
    {ASYLINK_E_CLASSIFICATION, "CLASSIFICATION", "classification not allowed here"},
    {ASYLINK_E_CLOCK_SKEW, "CLOCK_SKEW", "creation time too far from the current time"},
    {ASYLINK_E_BAD_PASSPHRASE, "BAD_PASSPHRASE", "wrong passphrase for the secret key file"},
    {ASYLINK_E_KEY_PERMISSIONS, "KEY_PERMISSIONS", "secret key file is accessible to other users"},
    {ASYLINK_E_PASSPHRASE_REQUIRED, "PASSPHRASE_REQUIRED",
     "secret key file is encrypted: passphrase required"},
    {ASYLINK_E_POLICY, "POLICY", "forbidden by policy"},
    {ASYLINK_E_UNKNOWN_RECIPIENT, "UNKNOWN_RECIPIENT", "unknown recipient"},
    {ASYLINK_E_DUPLICATE, "DUPLICATE", "duplicate message id"},
    {ASYLINK_E_STORE_FULL, "STORE_FULL", "store full"},
    {ASYLINK_E_FORGED_SENDER, "FORGED_SENDER", "sender differs from the authenticated node"},
    {ASYLINK_E_PROTOCOL, "PROTOCOL", "protocol violation"},
    {ASYLINK_E_UNAVAILABLE, "UNAVAILABLE", "service unavailable"},
    {ASYLINK_E_SHUTDOWN, "SHUTDOWN", "shutting down"},
    {ASYLINK_E_REFUSED, "REFUSED", "the broker refused this node's connection"},
    {ASYLINK_E_PURGED, "PURGED", "message erased on request; it is not accepted again"},
    {ASYLINK_E_BATCH_SIZE, "BATCH_SIZE", "batch size outside 2..1024"},
    {ASYLINK_E_BATCH_SINGLE, "BATCH_SINGLE", "batch proof for a batch of one"},
    {ASYLINK_E_BATCH_INDEX, "BATCH_INDEX", "batch index not below the batch size"},
    {ASYLINK_E_BATCH_PATH, "BATCH_PATH", "batch path does not fit the tree"},
    {ASYLINK_E_BATCH_SALT, "BATCH_SALT", "batch salt is not 32 bytes"},
    {ASYLINK_E_BATCH_DUPLICATE, "BATCH_DUPLICATE", "duplicate leaf in a batch"},
    {ASYLINK_E_REENTRANT, "REENTRANT",
     "called from a library thread, e.g. inside the log callback: not allowed there"},
    {ASYLINK_E_PREFIX_MISMATCH, "PREFIX_MISMATCH",
     "a durable subscription of that name exists with another topic prefix"},
};

static const s_err_row *s_find(int err)
{
    for (size_t i = 0; i < sizeof s_errors / sizeof s_errors[0]; i++)
        if (s_errors[i].code == err)
            return &s_errors[i];
    return NULL;
}

const char *asylink_strerror(int err)
{
    const s_err_row *row = s_find(err);
    return row ? row->text : "unknown error";
}

const char *asylink_err_name(int err)
{
    const s_err_row *row = s_find(err);
    return row ? row->name : "UNKNOWN";
}

const char *asylink_version(void)
{
    return ASYLINK_VERSION_STRING;
}
