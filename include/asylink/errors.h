/*
 * errors.h — the base of asylink's public API: the export macro, the
 * version, and the stable error codes with their names and descriptions.
 *
 * asylink.h includes this header; applications include asylink.h only.
 * asylink's own layers below the client library (core/, broker/) include
 * this header instead of asylink.h, so that they do not depend on the
 * client API.
 *
 * Error numbers are stable: a number once given keeps its meaning in every
 * later version, and the same numbers travel on the wire as reject codes
 * (asylink.v1.ErrorCode in proto/asylink/v1/broker.proto).
 */
#ifndef ASYLINK_ERRORS_H
#define ASYLINK_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ASYLINK_EXPORT __attribute__((visibility("default")))
#else
#define ASYLINK_EXPORT
#endif

/* Version of this header. asylink_version() gives the linked library's. */
#define ASYLINK_VERSION_MAJOR 0
#define ASYLINK_VERSION_MINOR 1
#define ASYLINK_VERSION_PATCH 0
#define ASYLINK_VERSION_STRING "0.1.0"
/* Comparable version number: 0xMMmmpp. */
#define ASYLINK_VERSION_NUMBER \
    ((ASYLINK_VERSION_MAJOR << 16) | (ASYLINK_VERSION_MINOR << 8) | ASYLINK_VERSION_PATCH)

/*
 * Error codes. 0 is success; every failure has its own stable number.
 * Grouped by tens: general, input format, identity and trust, message
 * checks, key files, broker, batch proofs, use of the library,
 * subscriptions.
 */
typedef enum asylink_err {
    ASYLINK_OK = 0,                    /* success */

    ASYLINK_E_INVALID_ARG = 1,         /* a caller passed an invalid argument */
    ASYLINK_E_NOMEM = 2,               /* out of memory */
    ASYLINK_E_IO = 3,                  /* a file or system call failed (the log says which) */
    ASYLINK_E_INTERNAL = 4,            /* an internal invariant failed (a bug) */
    ASYLINK_E_NOT_FOUND = 5,           /* a named file, node or item does not exist */
    ASYLINK_E_EXISTS = 6,              /* refusing to overwrite something that exists */
    ASYLINK_E_CONFIG = 7,              /* a configuration file or value is invalid */
    ASYLINK_E_TIMEOUT = 8,             /* the operation timed out */
    ASYLINK_E_AMBIGUOUS = 9,           /* a message id names several messages (use the full key) */

    ASYLINK_E_MALFORMED = 10,          /* bytes are not a well-formed structure (bad protobuf, bad armor) */
    ASYLINK_E_UNSUPPORTED_VERSION = 11,/* a format or protocol version this library does not speak */
    ASYLINK_E_TOO_LARGE = 12,          /* a message, payload or file exceeds its size limit */
    ASYLINK_E_BAD_FIELD = 13,          /* a field is missing, has the wrong length or an invalid value */
    ASYLINK_E_STALE = 14,              /* older than the version already in use (e.g. a revocation list) */

    ASYLINK_E_BAD_SIGNATURE = 20,      /* a signature does not verify over the signed bytes */
    ASYLINK_E_UNKNOWN_SENDER = 21,     /* the signer has no certificate in the trust directory */
    ASYLINK_E_REVOKED = 22,            /* the certificate's serial is on the revocation list */
    ASYLINK_E_CERT_EXPIRED = 23,       /* the certificate's validity has ended */
    ASYLINK_E_CERT_NOT_YET_VALID = 24, /* the certificate's validity has not begun */
    ASYLINK_E_UNTRUSTED_ISSUER = 25,   /* signed by a key that is not the federation CA */
    ASYLINK_E_BAD_NODE_ID = 26,        /* a node id does not match ^[A-Z0-9][A-Z0-9._-]{1,63}$ */
    ASYLINK_E_ROLE = 27,               /* the certificate lacks the role the action needs */
    ASYLINK_E_WRONG_KEY = 28,          /* a key does not match the certificate that names it */

    ASYLINK_E_EXPIRED = 30,            /* the message's expiry time has passed */
    ASYLINK_E_NOT_RECIPIENT = 31,      /* the reader is not among the message's readers */
    ASYLINK_E_TAMPERED = 32,           /* signature valid but the ciphertext or key wrap does not open */
    ASYLINK_E_KEYWRAP_MISMATCH = 33,   /* key wraps do not match the readers named in the header */
    ASYLINK_E_CLASSIFICATION = 34,     /* classification not allowed here (e.g. PERSONAL unencrypted) */
    ASYLINK_E_CLOCK_SKEW = 35,         /* created time too far from the verifier's clock */

    ASYLINK_E_BAD_PASSPHRASE = 40,     /* the passphrase does not open the secret key file */
    ASYLINK_E_KEY_PERMISSIONS = 41,    /* a secret key file is readable or writable by others */
    ASYLINK_E_PASSPHRASE_REQUIRED = 42,/* the secret key file is encrypted and no passphrase was given */

    ASYLINK_E_POLICY = 50,             /* policy forbids this sender, recipient or topic */
    ASYLINK_E_UNKNOWN_RECIPIENT = 51,  /* a recipient node is not in the federation */
    ASYLINK_E_DUPLICATE = 52,          /* (sender, message_id) was already accepted */
    ASYLINK_E_STORE_FULL = 53,         /* the broker's store, or a node's data_dir disk, is full */
    ASYLINK_E_FORGED_SENDER = 54,      /* envelope sender differs from the authenticated node */
    ASYLINK_E_PROTOCOL = 55,           /* a command out of sequence or not allowed in this state */
    ASYLINK_E_UNAVAILABLE = 56,        /* the broker or a needed service is not reachable */
    ASYLINK_E_SHUTDOWN = 57,           /* the object is shutting down */
    ASYLINK_E_REFUSED = 58,            /* the broker refused this node's connection (CURVE handshake) */
    ASYLINK_E_PURGED = 59,             /* the message was erased on request; it is not accepted again */

    ASYLINK_E_BATCH_SIZE = 60,         /* a batch proof's size is 0 or above 1024 */
    ASYLINK_E_BATCH_SINGLE = 61,       /* a batch proof with size 1 (a batch of one is a plain envelope) */
    ASYLINK_E_BATCH_INDEX = 62,        /* a batch proof's index is not below its size */
    ASYLINK_E_BATCH_PATH = 63,         /* a batch proof's path length is not the tree depth, or an element not 32 bytes */
    ASYLINK_E_BATCH_SALT = 64,         /* a batch proof's salt is not 32 bytes */
    ASYLINK_E_BATCH_DUPLICATE = 65,    /* a batch holds the same leaf twice */

    ASYLINK_E_REENTRANT = 70,          /* called on a library thread or inside the log callback */

    ASYLINK_E_PREFIX_MISMATCH = 80,    /* the durable subscription exists with another topic prefix */
} asylink_err;

/*
 * asylink_strerror — a short English description of an error code.
 * Returns a static string, valid forever; never NULL (unknown codes give
 * "unknown error"). Thread-safe.
 */
ASYLINK_EXPORT const char *asylink_strerror(int err);

/*
 * asylink_err_name — the code's symbolic name without prefix, e.g.
 * "BAD_SIGNATURE" for ASYLINK_E_BAD_SIGNATURE, "OK" for 0. Static string,
 * never NULL ("UNKNOWN" for unknown codes). Thread-safe.
 */
ASYLINK_EXPORT const char *asylink_err_name(int err);

/*
 * asylink_version — the linked library's version as "MAJOR.MINOR.PATCH".
 * Static string, never NULL. Thread-safe.
 */
ASYLINK_EXPORT const char *asylink_version(void);

#ifdef __cplusplus
}
#endif

#endif
