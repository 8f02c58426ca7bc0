/*
 * asylink.h — the public C API of libasylink.
 *
 * asylink is the secure message exchange of the Common European Asylum
 * System: national asylum systems and the EU asylum agency exchange signed,
 * end-to-end encrypted envelopes through the asylinkd broker.
 *
 * This header is the only one applications include. It exposes no struct
 * fields and includes no header of ZeroMQ, libsodium, LMDB or protobuf-c.
 *
 * Error numbers are stable: a number once given keeps its meaning in every
 * later version, and the same numbers travel on the wire as reject codes
 * (asylink.v1.ErrorCode in proto/asylink/v1/broker.proto).
 */
#ifndef ASYLINK_ASYLINK_H
#define ASYLINK_ASYLINK_H

#include <stddef.h>
#include <stdint.h>

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
 * checks, key files, broker, batch proofs.
 */
typedef enum asylink_err {
    ASYLINK_OK = 0,                    /* success */

    ASYLINK_E_INVALID_ARG = 1,         /* a caller passed an invalid argument */
    ASYLINK_E_NOMEM = 2,               /* out of memory */
    ASYLINK_E_IO = 3,                  /* a file or system call failed (see errno) */
    ASYLINK_E_INTERNAL = 4,            /* an internal invariant failed (a bug) */
    ASYLINK_E_NOT_FOUND = 5,           /* a named file, node or item does not exist */
    ASYLINK_E_EXISTS = 6,              /* refusing to overwrite something that exists */
    ASYLINK_E_CONFIG = 7,              /* a configuration file or value is invalid */
    ASYLINK_E_TIMEOUT = 8,             /* the operation timed out */

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
    ASYLINK_E_STORE_FULL = 53,         /* the broker's store cannot take more data */
    ASYLINK_E_FORGED_SENDER = 54,      /* envelope sender differs from the authenticated node */
    ASYLINK_E_PROTOCOL = 55,           /* a command out of sequence or not allowed in this state */
    ASYLINK_E_UNAVAILABLE = 56,        /* the broker or a needed service is not reachable */
    ASYLINK_E_SHUTDOWN = 57,           /* the object is shutting down */

    ASYLINK_E_BATCH_SIZE = 60,         /* a batch proof's size is 0 or above 1024 */
    ASYLINK_E_BATCH_SINGLE = 61,       /* a batch proof with size 1 (a batch of one is a plain envelope) */
    ASYLINK_E_BATCH_INDEX = 62,        /* a batch proof's index is not below its size */
    ASYLINK_E_BATCH_PATH = 63,         /* a batch proof's path length is not the tree depth, or an element not 32 bytes */
    ASYLINK_E_BATCH_SALT = 64,         /* a batch proof's salt is not 32 bytes */
    ASYLINK_E_BATCH_DUPLICATE = 65,    /* a batch holds the same leaf twice */
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


/* ======================================================================
 * The client library: a national node's connection to the broker.
 *
 * A client owns a background I/O thread that connects to the broker with
 * CURVE, says Hello, reconnects with jittered backoff, keeps heartbeats and
 * resends everything in the durable outbox until the broker has accepted
 * it. Received messages land in a durable inbox first, so the application
 * sees each message exactly once: asylink_recv() hands a message over
 * (again after a crash) until asylink_ack() is called for it, never after.
 *
 * Threading: every function may be called from any thread; a client is
 * internally locked. The library never prints: install a log callback.
 * Ownership: "const char *" and "const void *" arguments are borrowed for
 * the call only; objects returned through "T **out" belong to the caller,
 * who frees them with the matching _free function.
 * ====================================================================== */

typedef struct asylink_client asylink_client;
typedef struct asylink_message asylink_message;
typedef struct asylink_event asylink_event;

/* Sensitivity of a message (numbers as asylink.v1.Classification). */
typedef enum asylink_classification {
    ASYLINK_PUBLIC = 1,   /* may travel signed only (still encrypted when sent to recipients) */
    ASYLINK_LIMITED = 2,  /* encrypted end to end to its recipients */
    ASYLINK_PERSONAL = 3, /* personal data: encrypted, direct recipients only */
} asylink_classification;

/* Log levels passed to the log callback. */
typedef enum asylink_log_level {
    ASYLINK_LOG_ERROR = 0,
    ASYLINK_LOG_WARN = 1,
    ASYLINK_LOG_INFO = 2,
    ASYLINK_LOG_DEBUG = 3,
} asylink_log_level;

/*
 * Log callback: one logfmt line without newline (never payloads, keys or
 * personal data). Called from library threads; must not call back into
 * the client.
 */
typedef void (*asylink_log_fn)(void *ctx, asylink_log_level level, const char *line);

/* Durability of the client's outbox and inbox commits. */
typedef enum asylink_durability {
    ASYLINK_DURABILITY_FSYNC = 0,   /* fsync before asylink_send() returns (default) */
    ASYLINK_DURABILITY_RELAXED = 1, /* survives an application crash, not a power loss */
} asylink_durability;

/* How to open a client. Initialise with asylink_options_init(). */
typedef struct asylink_options {
    size_t struct_size;             /* sizeof(asylink_options), set by asylink_options_init */
    const char *broker_endpoint;    /* e.g. "tcp://127.0.0.1:7400" (required) */
    const char *broker_cert;        /* broker certificate file (required): its key is the CURVE server key */
    const char *node_cert;          /* this node's certificate file (required) */
    const char *key_file;           /* this node's secret key file, mode 0600 (required) */
    const char *key_passphrase;     /* passphrase of an encrypted key file, or NULL */
    const char *trust_dir;          /* trust directory: ca.cert, nodes/, revoked.crl (required) */
    const char *data_dir;           /* outbox and inbox (LMDB), created 0700 (required) */
    uint32_t receive_window;        /* deliveries in flight from the broker; 0 = 256 */
    asylink_durability durability;  /* default ASYLINK_DURABILITY_FSYNC */
    uint32_t reconnect_min_ms;      /* first reconnect delay; 0 = 100 ms (jittered, doubling) */
    uint32_t reconnect_max_ms;      /* longest reconnect delay; 0 = 10 s */
    asylink_log_fn log;             /* NULL = no logging */
    void *log_ctx;                  /* passed to log */
    asylink_log_level log_level;    /* most verbose level passed to log; default INFO */
} asylink_options;

/* Fills o with defaults (everything zero or NULL but struct_size). Thread-safe. */
ASYLINK_EXPORT void asylink_options_init(asylink_options *o);

/*
 * Opens a client: loads keys, certificates and trust, opens (creating)
 * the data directory, and starts the I/O thread, which connects in the
 * background (asylink_client_open does not wait for the broker). On
 * success *out is a new client (close it with asylink_client_close).
 * Errors: ASYLINK_E_INVALID_ARG (a required option missing), the codes of
 * loading the key (ASYLINK_E_NOT_FOUND, ASYLINK_E_KEY_PERMISSIONS,
 * ASYLINK_E_BAD_PASSPHRASE, ASYLINK_E_PASSPHRASE_REQUIRED, ASYLINK_E_MALFORMED),
 * certificates and trust (ASYLINK_E_WRONG_KEY when the key does not match
 * node_cert, ASYLINK_E_REVOKED, ASYLINK_E_CERT_EXPIRED, ...), ASYLINK_E_STALE
 * (the trust directory's revocation list is older than one this node's data
 * directory has already used, or missing after one was used), ASYLINK_E_EXISTS
 * (data_dir in use by another client), ASYLINK_E_IO, ASYLINK_E_NOMEM.
 */
ASYLINK_EXPORT int asylink_client_open(const asylink_options *o, asylink_client **out);

/*
 * Opens a client from a node configuration file (INI):
 *   [node] broker_endpoint, broker_cert, node_cert, key_file,
 *          key_passphrase_file, trust_dir, data_dir, receive_window,
 *          durability (fsync|relaxed)
 * Relative paths are relative to the file. Errors as asylink_client_open,
 * plus ASYLINK_E_CONFIG for a bad file. log/log_ctx may be NULL.
 */
ASYLINK_EXPORT int asylink_client_open_config(const char *path, asylink_log_fn log,
                                              void *log_ctx, asylink_client **out);

/*
 * Stops the I/O thread (sending Bye) and frees the client; sets *self_p to
 * NULL. Messages still in the outbox stay there and are sent by the next
 * client opened on the same data directory. Accepts NULL. Do not use the
 * client from other threads during or after this call.
 */
ASYLINK_EXPORT void asylink_client_close(asylink_client **self_p);

/* What to send. Initialise with asylink_send_params_init(). */
typedef struct asylink_send_params {
    size_t struct_size;               /* sizeof(asylink_send_params) */
    const char *const *recipients;    /* node ids (required, 1..256, no duplicates) */
    size_t n_recipients;
    const char *content_type;         /* e.g. "asylink.v1.InformationRequest" (required) */
    asylink_classification classification; /* default ASYLINK_LIMITED */
    uint64_t expires_ms;              /* absolute Unix ms after which nobody delivers it; 0 = never */
    const uint8_t *correlation_id;    /* 16-byte id of the message this answers, or NULL */
} asylink_send_params;

ASYLINK_EXPORT void asylink_send_params_init(asylink_send_params *p);

/*
 * Signs and encrypts payload (len bytes) for the recipients, commits it to
 * the durable outbox and returns; the I/O thread delivers it to the broker
 * until it is Accepted. A later Rejected arrives as an event. The message
 * id is written to message_id_out (may be NULL). Thread-safe; concurrent
 * calls share one disk commit and one signature: the thread that commits
 * signs every message of the commit at once as a batch (each envelope
 * carries its own proof and is still checked on its own, PROTOCOL.md 4.10);
 * a message committed alone is signed alone.
 * Errors: ASYLINK_E_INVALID_ARG, ASYLINK_E_UNKNOWN_RECIPIENT (no usable
 * certificate in the trust directory), ASYLINK_E_REVOKED,
 * ASYLINK_E_CERT_EXPIRED, ASYLINK_E_CLASSIFICATION, ASYLINK_E_BAD_NODE_ID,
 * ASYLINK_E_BAD_FIELD, ASYLINK_E_TOO_LARGE, ASYLINK_E_IO, ASYLINK_E_NOMEM,
 * ASYLINK_E_SHUTDOWN.
 */
ASYLINK_EXPORT int asylink_send(asylink_client *c, const asylink_send_params *p,
                                const void *payload, size_t len, uint8_t message_id_out[16]);

/* Most messages, and most payload bytes in all, one asylink_send_many() call takes. */
#define ASYLINK_SEND_MAX 1000
#define ASYLINK_SEND_MANY_MAX_BYTES ((size_t)64 << 20)

/* One message of asylink_send_many(). */
typedef struct asylink_send_item {
    const asylink_send_params *params; /* what and to whom (borrowed; may be shared by items) */
    const void *payload;               /* len bytes (borrowed) */
    size_t len;
    uint8_t message_id[16];            /* out: the message id (valid when the call succeeds) */
    int result;                        /* out: ASYLINK_OK, or why this item cannot be sent */
} asylink_send_item;

/*
 * Sends n messages (0..ASYLINK_SEND_MAX, payloads of at most
 * ASYLINK_SEND_MANY_MAX_BYTES together) at once, all or nothing: each is
 * sealed as by asylink_send(), then all are committed to the outbox in one
 * disk commit and signed with one Ed25519 signature over the root of a
 * tree of their digests (a batch, PROTOCOL.md 4.10: every envelope carries
 * its own proof and remains standalone evidence), so a single-threaded
 * sender pays one fsync and one signature per call rather than one per
 * message, and the broker and the readers one verification. On ASYLINK_OK every item's message_id
 * is set and every result is ASYLINK_OK. On an error nothing is sent and every items[i].result is
 * set: the item's own outcome when sealing failed for some item (ASYLINK_OK for an item that would
 * have been sent alone), else the call's error. The items array is owned by the caller. Errors:
 * those of asylink_send() (the first failing item's), ASYLINK_E_TOO_LARGE (n or the payload bytes
 * over the limits), ASYLINK_E_STORE_FULL (the disk holding the data directory is full).
 * Thread-safe; concurrent calls share disk commits.
 */
ASYLINK_EXPORT int asylink_send_many(asylink_client *c, asylink_send_item *items, size_t n);

/*
 * Waits up to timeout_ms (0 = poll, -1 = forever) for the next received,
 * verified and decrypted message not yet handed over in this process and
 * not yet acknowledged. On success *out is a new message (free with
 * asylink_message_free). Errors: ASYLINK_E_TIMEOUT, ASYLINK_E_SHUTDOWN,
 * ASYLINK_E_IO, ASYLINK_E_NOMEM; a stored message that no longer opens is
 * skipped and reported as an ASYLINK_EVENT_RECEIVE_FAILED event.
 */
ASYLINK_EXPORT int asylink_recv(asylink_client *c, int timeout_ms, asylink_message **out);

/*
 * The application is done with a received message: it is never handed
 * over again, and its sender gets a signed receipt (direct messages only:
 * a feed message is just marked done; no receipt either when the sender's
 * certificate is not usable here, which is logged). Returns after the
 * acknowledgement is committed to disk (fsync under
 * ASYLINK_DURABILITY_FSYNC). Errors: ASYLINK_E_NOT_FOUND (unknown id),
 * ASYLINK_E_INVALID_ARG, ASYLINK_E_STORE_FULL, ASYLINK_E_IO,
 * ASYLINK_E_NOMEM. Acking twice is ASYLINK_OK. Thread-safe.
 */
ASYLINK_EXPORT int asylink_ack(asylink_client *c, const uint8_t message_id[16]);

/* Most message ids one asylink_ack_many() call takes. */
#define ASYLINK_ACK_MAX 1000

/*
 * Acknowledges n received messages (0..ASYLINK_ACK_MAX) at once, all or
 * nothing: one disk commit, and one signed receipt envelope per sender
 * covering all of that sender's messages in the call (a ReceiptSet); the
 * receipt envelopes of one call are signed together as one batch, so a
 * consumer working through a batch pays one fsync and one signature per
 * call instead of one per message. message_ids is an array of n 16-byte
 * ids (borrowed); repeated and already acknowledged ids are fine. A sender
 * whose certificate is not usable here (unknown, revoked, expired) gets no
 * receipt (logged); any other failure to make a receipt fails the call.
 * Errors (nothing is then acknowledged): ASYLINK_E_INVALID_ARG (NULL with
 * n > 0), ASYLINK_E_TOO_LARGE (n > ASYLINK_ACK_MAX), ASYLINK_E_NOT_FOUND (an
 * id that was never received), ASYLINK_E_STORE_FULL, ASYLINK_E_IO,
 * ASYLINK_E_NOMEM. Thread-safe; acknowledgements are serialised.
 */
ASYLINK_EXPORT int asylink_ack_many(asylink_client *c, const uint8_t (*message_ids)[16],
                                    size_t n);

/* Accessors; returned pointers are valid until asylink_message_free(). */
ASYLINK_EXPORT const uint8_t *asylink_message_id(const asylink_message *m);   /* 16 bytes */
ASYLINK_EXPORT const char *asylink_message_sender(const asylink_message *m);
ASYLINK_EXPORT size_t asylink_message_recipient_count(const asylink_message *m); /* 0 on feeds */
ASYLINK_EXPORT const char *asylink_message_recipient(const asylink_message *m, size_t i);
ASYLINK_EXPORT const char *asylink_message_content_type(const asylink_message *m);
ASYLINK_EXPORT asylink_classification asylink_message_classification(const asylink_message *m);
ASYLINK_EXPORT uint64_t asylink_message_created_ms(const asylink_message *m);
ASYLINK_EXPORT uint64_t asylink_message_expires_ms(const asylink_message *m);
/* The 16-byte id this message answers, or NULL. */
ASYLINK_EXPORT const uint8_t *asylink_message_correlation_id(const asylink_message *m);
/* The decrypted payload and its length (payload may be non-NULL with len 0). */
ASYLINK_EXPORT const void *asylink_message_payload(const asylink_message *m, size_t *len);
/* Wipes the payload and frees the message; sets *self_p to NULL. Accepts NULL. */
ASYLINK_EXPORT void asylink_message_free(asylink_message **self_p);

/* What happened to sent messages and to the connection. */
typedef enum asylink_event_type {
    ASYLINK_EVENT_ACCEPTED = 1,     /* the broker stored a sent message */
    ASYLINK_EVENT_REJECTED = 2,     /* the broker refused a sent message: code and reason */
    ASYLINK_EVENT_RECEIPT = 3,      /* a recipient's signed receipt arrived and verified */
    ASYLINK_EVENT_CONNECTED = 4,    /* a session with the broker is open */
    ASYLINK_EVENT_DISCONNECTED = 5, /* the session ended; reconnecting */
    ASYLINK_EVENT_RECEIVE_FAILED = 6, /* a delivered message failed verification: code */
} asylink_event_type;

/*
 * Waits up to timeout_ms (0 = poll, -1 = forever) for the next event. On
 * success *out is a new event (free with asylink_event_free). Errors:
 * ASYLINK_E_TIMEOUT, ASYLINK_E_SHUTDOWN, ASYLINK_E_NOMEM.
 */
ASYLINK_EXPORT int asylink_next_event(asylink_client *c, int timeout_ms, asylink_event **out);
ASYLINK_EXPORT asylink_event_type asylink_event_get_type(const asylink_event *e);
/* The message concerned (16 bytes; zeros for connection events). */
ASYLINK_EXPORT const uint8_t *asylink_event_message_id(const asylink_event *e);
/* asylink_err code (REJECTED, RECEIVE_FAILED, DISCONNECTED), else 0. */
ASYLINK_EXPORT int asylink_event_code(const asylink_event *e);
/* Human reason, never NULL (may be ""). Valid until asylink_event_free(). */
ASYLINK_EXPORT const char *asylink_event_reason(const asylink_event *e);
/* RECEIPT: the recipient who signed it; else "" . Valid until asylink_event_free(). */
ASYLINK_EXPORT const char *asylink_event_node(const asylink_event *e);
ASYLINK_EXPORT void asylink_event_free(asylink_event **self_p);

/* One verified receipt for a sent message. */
typedef struct asylink_receipt_info {
    char recipient[65];       /* node id that signed it */
    uint64_t acked_ms;        /* when its application acknowledged the message */
    int status;               /* 1 delivered, 2 rejected */
    uint8_t envelope_digest[64]; /* digest of the sent envelope the receipt covers */
} asylink_receipt_info;

/*
 * Lists the receipts held for message_id: writes up to max into out and
 * the number held into *n (may exceed max). Errors: ASYLINK_E_NOT_FOUND
 * (not a message this client sent), ASYLINK_E_IO.
 */
ASYLINK_EXPORT int asylink_receipts(asylink_client *c, const uint8_t message_id[16],
                                    asylink_receipt_info *out, size_t max, size_t *n);

/*
 * Waits up to timeout_ms (-1 = forever) until every recipient of
 * message_id has sent a receipt. ASYLINK_OK, ASYLINK_E_TIMEOUT,
 * ASYLINK_E_NOT_FOUND, ASYLINK_E_SHUTDOWN.
 */
ASYLINK_EXPORT int asylink_receipt_wait(asylink_client *c, const uint8_t message_id[16],
                                        int timeout_ms);

/*
 * The signed receipt envelope from recipient for message_id, as evidence
 * (*env malloc'd, caller frees with free()). asylink_receipt_verify()
 * checks such evidence later. Errors: ASYLINK_E_NOT_FOUND, ASYLINK_E_NOMEM.
 */
ASYLINK_EXPORT int asylink_receipt_export(asylink_client *c, const uint8_t message_id[16],
                                          const char *recipient, uint8_t **env, size_t *len);

/*
 * Verifies a receipt envelope (as exported) against this client's trust
 * directory and outbox: signed by a trusted recipient, addressed to this
 * node, and every receipt in it about a message this client sent to that
 * recipient, quoting that envelope's exact digest. One envelope may prove
 * several messages (see asylink_ack_many()): message_id (16 bytes, or NULL
 * for the first) selects the receipt whose details go into info (may be
 * NULL). Errors: the envelope codes (ASYLINK_E_BAD_SIGNATURE,
 * ASYLINK_E_UNKNOWN_SENDER, ...), ASYLINK_E_NOT_FOUND (not our message, or
 * message_id is not covered by this envelope), ASYLINK_E_TAMPERED (digest
 * or names do not match), ASYLINK_E_MALFORMED, ASYLINK_E_INVALID_ARG.
 */
ASYLINK_EXPORT int asylink_receipt_verify(asylink_client *c, const uint8_t *env, size_t len,
                                          const uint8_t message_id[16],
                                          asylink_receipt_info *info);

/*
 * A file descriptor that is readable while asylink_recv() or
 * asylink_next_event() has something to return, for poll/epoll/select
 * loops. Owned by the client: do not read, write or close it. Valid until
 * asylink_client_close(). Thread-safe.
 */
ASYLINK_EXPORT int asylink_fd(asylink_client *c);

/*
 * Reloads the trust directory now (the CA certificate, nodes/ and
 * revoked.crl): new and renewed node certificates become usable and
 * revoked ones stop being used, for sending and for verifying, without
 * reopening the client. The I/O thread also does this by itself within
 * about 5 seconds of a change to those files. A revocation list older
 * than the one in use, or than the newest this node's data directory has
 * recorded (for the same CA key), is refused (ASYLINK_E_STALE), as is a
 * directory that
 * does not load; the trust in use then stays, and the error is logged.
 * Errors: ASYLINK_E_STALE, ASYLINK_E_NOT_FOUND, ASYLINK_E_MALFORMED,
 * ASYLINK_E_UNTRUSTED_ISSUER, ASYLINK_E_IO, ASYLINK_E_NOMEM,
 * ASYLINK_E_INVALID_ARG. Thread-safe; calls in progress finish with the
 * trust they started with.
 */
ASYLINK_EXPORT int asylink_reload_trust(asylink_client *c);

/* Messages in the outbox not yet Accepted by the broker. Thread-safe. */
ASYLINK_EXPORT int asylink_outbox_pending(asylink_client *c, uint64_t *count);

/* True (1) while a session with the broker is open, else 0. Thread-safe. */
ASYLINK_EXPORT int asylink_connected(asylink_client *c);

/* ---- feeds (topics) ---- */

/* What to publish on a feed. Initialise with asylink_publish_params_init(). */
typedef struct asylink_publish_params {
    size_t struct_size;                  /* sizeof(asylink_publish_params) */
    const char *topic;                   /* dotted topic, e.g. "stats.monthly.DE" (required) */
    const char *content_type;            /* e.g. "asylink.v1.MonthlyStatistics" (required) */
    asylink_classification classification; /* PUBLIC (default): signed, readable by every
                                              subscriber; LIMITED: encrypted to the readers
                                              the broker's CA-signed Directory names.
                                              PERSONAL is never allowed on feeds. */
    uint64_t expires_ms;                 /* absolute Unix ms; 0 = the broker's retention */
} asylink_publish_params;

ASYLINK_EXPORT void asylink_publish_params_init(asylink_publish_params *p);

/*
 * Signs (and for LIMITED encrypts) payload for a topic and commits it to
 * the outbox, like asylink_send(). For LIMITED the library asks the broker
 * for the topic's readers (a Directory), checks every certificate against
 * its own trust directory (the broker cannot substitute keys), leaves out
 * unusable ones and keeps the list for 60 s. Feed messages have no
 * recipients and get no receipts. Errors: as asylink_send(), plus
 * ASYLINK_E_CLASSIFICATION (PERSONAL), ASYLINK_E_UNAVAILABLE (LIMITED
 * while no session is open to ask the broker for the readers),
 * ASYLINK_E_TIMEOUT (no Directory answer within 10 s),
 * ASYLINK_E_UNKNOWN_RECIPIENT (LIMITED: no usable reader). Thread-safe.
 */
ASYLINK_EXPORT int asylink_publish(asylink_client *c, const asylink_publish_params *p,
                                   const void *payload, size_t len, uint8_t message_id_out[16]);

/* One message of asylink_publish_many(). */
typedef struct asylink_publish_item {
    const asylink_publish_params *params; /* topic and kind (borrowed; may be shared by items) */
    const void *payload;                  /* len bytes (borrowed) */
    size_t len;
    uint8_t message_id[16]; /* out: the message id (valid when the call succeeds) */
    int result;             /* out: ASYLINK_OK, or why this item cannot be sent */
} asylink_publish_item;

/*
 * Publishes n feed messages (0..ASYLINK_SEND_MAX, payloads of at most
 * ASYLINK_SEND_MANY_MAX_BYTES together) at once, all or nothing, as
 * asylink_send_many() does for direct messages: each is sealed as by
 * asylink_publish() (items may name different topics), all are committed
 * in one disk commit and signed with one signature (a batch, see
 * asylink_send_many()). Results and errors as asylink_send_many(), with
 * the per-item codes of asylink_publish(). The items array is owned by the
 * caller. Thread-safe.
 */
ASYLINK_EXPORT int asylink_publish_many(asylink_client *c, asylink_publish_item *items, size_t n);

/* Where a new subscription starts (numbers as asylink.v1.StartPosition). */
typedef enum asylink_start {
    ASYLINK_START_NEW = 1,      /* only messages published from now on */
    ASYLINK_START_EARLIEST = 2, /* everything the broker still retains */
    ASYLINK_START_SEQUENCE = 3, /* from feed sequence start_value */
    ASYLINK_START_TIME = 4,     /* from messages accepted at or after start_value (Unix ms) */
} asylink_start;

/*
 * Opens (or resumes) the durable subscription `name` (^[A-Za-z0-9._-]{1,64}$)
 * to topic_prefix; its cursor lives at the broker, so a later subscribe
 * with the same name continues after the last acknowledged message. The
 * client re-subscribes by itself after reconnecting. Feed messages arrive
 * through asylink_recv() like direct ones (asylink_message_topic() names
 * the topic) and are acknowledged with asylink_ack() (no receipt is sent).
 * Subscriptions live in this client's memory: subscribe again after
 * reopening a client. While no session is open the Subscribe is sent when
 * one opens, and this call waits for it. Errors: ASYLINK_E_INVALID_ARG,
 * ASYLINK_E_POLICY (the broker refused; forgotten), ASYLINK_E_TIMEOUT (a
 * session is open but no answer came within timeout_ms, -1 = forever),
 * ASYLINK_E_UNAVAILABLE (no session opened within timeout_ms, or the
 * broker does not serve feeds); after TIMEOUT and UNAVAILABLE without a
 * refusal the subscription stays remembered and is sent in the next
 * session. ASYLINK_E_SHUTDOWN. Thread-safe.
 */
ASYLINK_EXPORT int asylink_subscribe(asylink_client *c, const char *topic_prefix,
                                     const char *name, asylink_start start,
                                     uint64_t start_value, int timeout_ms);

/*
 * Stops a subscription in this client (delete_cursor nonzero: forget it at
 * the broker too, also for a name this client did not subscribe). Does not
 * wait for the broker; deliveries still in flight are handed back to it.
 * Errors: ASYLINK_E_INVALID_ARG, ASYLINK_E_NOMEM, ASYLINK_E_SHUTDOWN.
 */
ASYLINK_EXPORT int asylink_unsubscribe(asylink_client *c, const char *name, int delete_cursor);

/* The message's topic, or "" for a direct message. Valid until asylink_message_free(). */
ASYLINK_EXPORT const char *asylink_message_topic(const asylink_message *m);

#ifdef __cplusplus
}
#endif
#endif /* ASYLINK_ASYLINK_H */
