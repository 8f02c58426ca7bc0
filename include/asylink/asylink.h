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
 * The error codes, asylink_strerror() and the version are in errors.h,
 * which this header includes (applications need not include it).
 *
 * It needs C99 or later (<stdint.h>, variadic macros, a comma after the
 * last enumerator): -std=c89 -pedantic warns about both headers.
 */
#ifndef ASYLINK_ASYLINK_H
#define ASYLINK_ASYLINK_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h" /* ASYLINK_EXPORT, versions, error codes, asylink_strerror() */

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * The client library: a national node's connection to the broker.
 *
 * A client owns a background I/O thread that connects to the broker with
 * CURVE, says Hello, reconnects with jittered backoff, keeps heartbeats and
 * resends everything in the durable outbox until the broker has accepted
 * it. Received messages land in a durable inbox first, so the application
 * sees each message exactly once: asylink_recv() hands a message over
 * (again after a crash) until it is acknowledged (asylink_ack_message()),
 * never after.
 * When the disk holding the data directory is full (2 MiB are kept for
 * acknowledgements), deliveries are held in memory (at most receive_window
 * of them) and stored, then acknowledged to the broker, once there is room.
 *
 * Threading: every function may be called from any of the application's
 * threads; a client is internally locked. The library never prints:
 * install a log callback. The library's own threads (the I/O thread, its
 * committer) call that callback; there, and inside the callback on any
 * thread, a function taking an asylink_client * would wait for those
 * threads or the store they hold and deadlock, so it does nothing and
 * returns ASYLINK_E_REENTRANT instead (see asylink_log_fn for the few that
 * are allowed).
 * Ownership: "const char *" and "const void *" arguments are borrowed for
 * the call only; objects returned through "T **out" belong to the caller,
 * who frees them with the matching _free function; byte buffers the
 * library allocates for the caller are freed with asylink_free().
 *
 * NULL arguments, one rule for every function:
 *   - A handle (asylink_client *, asylink_message *, asylink_event *) may
 *     always be NULL. A function returning an error code then returns
 *     ASYLINK_E_INVALID_ARG (and sets its "T **out" to NULL); an accessor
 *     returns NULL, 0, or -1 for asylink_fd(); asylink_client_close(),
 *     asylink_message_free(), asylink_event_free() and asylink_free()
 *     accept NULL (and a pointer to NULL) and do nothing.
 *   - Any other pointer parameter is either documented "may be NULL"
 *     (optional) or required. Required ones are declared ASYLINK_NONNULL:
 *     the compiler warns about a NULL it can see, and the library does not
 *     check them at run time (gcc would drop such checks anyway), so
 *     passing NULL there is undefined behaviour.
 *
 * Results: every function that returns an error code is declared
 * ASYLINK_NODISCARD (warn_unused_result); its comment lists every code it
 * can return. Three groups of codes recur and are named once here:
 *   key file codes: ASYLINK_E_NOT_FOUND, ASYLINK_E_IO,
 *     ASYLINK_E_KEY_PERMISSIONS, ASYLINK_E_MALFORMED,
 *     ASYLINK_E_UNSUPPORTED_VERSION, ASYLINK_E_PASSPHRASE_REQUIRED,
 *     ASYLINK_E_BAD_PASSPHRASE, ASYLINK_E_NOMEM;
 *   certificate file codes: ASYLINK_E_NOT_FOUND, ASYLINK_E_IO,
 *     ASYLINK_E_TOO_LARGE, ASYLINK_E_MALFORMED, ASYLINK_E_UNSUPPORTED_VERSION,
 *     ASYLINK_E_BAD_NODE_ID, ASYLINK_E_BAD_FIELD, ASYLINK_E_NOMEM;
 *   trust directory codes: the certificate file codes (for ca.cert, the
 *     nodes/ files are skipped when bad, and revoked.crl), plus
 *     ASYLINK_E_UNTRUSTED_ISSUER, ASYLINK_E_BAD_SIGNATURE, ASYLINK_E_ROLE
 *     (ca.cert not a self-signed CA, revoked.crl not signed by it).
 * ====================================================================== */

#if defined(__GNUC__)
/* The result is an error code that must be looked at. */
#define ASYLINK_NODISCARD __attribute__((warn_unused_result))
/* The listed (1-based) pointer parameters must not be NULL. */
#define ASYLINK_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#else
#define ASYLINK_NODISCARD
#define ASYLINK_NONNULL(...)
#endif

typedef struct asylink_client asylink_client;
typedef struct asylink_message asylink_message;
typedef struct asylink_event asylink_event;

/*
 * Frees a buffer the library allocated for the caller (the evidence of
 * asylink_receipt_export(), the text and bytes of asylink_payload_to_json()
 * and asylink_payload_from_json()). Use it rather than free(): the library and
 * the application may not share one allocator (static runtimes, Windows
 * DLLs, bindings). Accepts NULL. Thread-safe.
 */
ASYLINK_EXPORT void asylink_free(void *p);

/* ---- opening and closing ---- */

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
 * personal data), borrowed for the call. Called from the library's threads
 * (the client's I/O thread and its committer thread), and from the
 * application's thread inside a call that logs (e.g. asylink_send() naming
 * an unknown recipient); keep it short and non-blocking, e.g. write the
 * line or queue it. It must not call back into a client: on a library
 * thread, and inside the callback on any thread, every function taking an
 * asylink_client * (of this client or another) returns ASYLINK_E_REENTRANT
 * at once and does nothing, instead of deadlocking (waiting for the thread
 * it runs on, or for the store's write lock that thread holds); and
 * asylink_client_close() leaves the client open and *self_p unchanged.
 * Allowed there: asylink_fd() and asylink_connected() (they read only),
 * and the functions that take no open client (asylink_strerror(), the
 * message and event accessors, asylink_id_format(), the payload JSON
 * functions, ...). Hand work to an application thread instead.
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
    const char *broker_endpoint;    /* e.g. "tcp://127.0.0.1:7400" (required); may list
                                       several addresses of one broker service in order,
                                       separated by commas: see "Several broker addresses" */
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
    uint64_t sent_retention_ms;     /* keep this node's own sent envelopes this long after the
                                       broker accepted them, as evidence (asylink_evidence_export);
                                       0 = keep none; default ASYLINK_SENT_RETENTION_DEFAULT_MS */
    uint64_t metadata_retention_ms; /* how long the data directory keeps what is left of a
                                       finished message (sent: id, recipients, digest, state,
                                       receipts; received: the tombstone that makes delivery
                                       exactly-once); 0 = for ever; default
                                       ASYLINK_METADATA_RETENTION_DEFAULT_MS. See "Retention" */
} asylink_options;

/* How long a client keeps its sent envelopes unless told otherwise: 30 days. */
#define ASYLINK_SENT_RETENTION_DEFAULT_MS (30ull * 24 * 3600 * 1000)

/* How long a client keeps finished messages' metadata unless told otherwise: 365 days. */
#define ASYLINK_METADATA_RETENTION_DEFAULT_MS (365ull * 24 * 3600 * 1000)

/*
 * Fills o with defaults: everything zero or NULL but struct_size,
 * durability (FSYNC), log_level (INFO), sent_retention_ms
 * (ASYLINK_SENT_RETENTION_DEFAULT_MS) and metadata_retention_ms
 * (ASYLINK_METADATA_RETENTION_DEFAULT_MS). Thread-safe.
 */
ASYLINK_EXPORT void asylink_options_init(asylink_options *o) ASYLINK_NONNULL(1);

/*
 * Several broker addresses. broker_endpoint may name up to 16 addresses
 * (tcp://HOST:PORT or ipc://PATH, separated by commas and/or spaces, none
 * twice; no control character anywhere, and a HOST of letters, digits,
 * '-', '.', '_', or an IPv6 address in brackets: anything else is
 * ASYLINK_E_INVALID_ARG from asylink_client_open(), logged with the
 * offending byte's value), e.g. "tcp://10.0.0.1:7400, tcp://10.0.0.2:7400":
 * the brokers of one active/standby pair sharing one data directory and
 * certificate (see asylinkd --standby), never independent brokers. The I/O thread starts
 * with the first address; when a connection cannot be made (refused, the
 * CURVE handshake fails, no Welcome within 5 s) or an open session is
 * lost (the TCP connection closes, or the broker's heartbeats stop), it
 * moves to the next address in the list, wrapping around. The heartbeat
 * interval and timeout are the broker's (its Welcome), but at most 60 s
 * and 300 s: a broker announcing more is used as announcing those (a WARN
 * is logged once), so a dead connection is noticed within 300 s whatever
 * the broker says. Each attempt
 * waits a jittered delay from reconnect_min_ms; the delay doubles after
 * every full round of the list without a session, up to reconnect_max_ms,
 * and falls back to reconnect_min_ms once a session opens. A broker that
 * ends the session with a Bye asking its clients to come back later
 * (reconnect_after_ms, e.g. under overload) gets no attempt, to any
 * address, before that time (at most 60 s; the jittered delay is added on
 * top). A session that opens stays on its address until it is lost. Everything not yet
 * Accepted is published again in the new session; the broker answers
 * what it had already stored as a duplicate, so nothing is lost or
 * doubled. Which address is in use: asylink_connection_get(), the
 * CONNECTED and DISCONNECTED events (asylink_event_endpoint()), and
 * `asylink status --config NODE.ini` (asylink_connection_read()).
 */

/*
 * Opens a client: loads keys, certificates and trust, opens (creating)
 * the data directory, and starts the I/O thread, which connects in the
 * background (asylink_client_open does not wait for the broker). On
 * success *out is a new client (close it with asylink_client_close); on
 * error *out is NULL and the reason is also logged (naming the option and
 * file), except for a struct_size too small to reach log. A certificate
 * the node relies on that ends soon is logged as a WARN (node_cert and
 * broker_cert within 30 days, the CA's within 90: "... certificate
 * expires soon", with days_left and what to do) at open, at every trust
 * reload and once a day while the client is open; one no longer usable
 * after a reload (revoked, expired) as an ERROR.
 * Errors: ASYLINK_E_INVALID_ARG (a required option missing, struct_size
 * too small, or a broker_endpoint list that does not parse); the key file
 * codes (key_file); the certificate file codes
 * (node_cert, broker_cert); the trust directory codes (trust_dir);
 * ASYLINK_E_WRONG_KEY (the key does not match node_cert); for node_cert and
 * broker_cert against the trust directory ASYLINK_E_UNTRUSTED_ISSUER,
 * ASYLINK_E_BAD_SIGNATURE, ASYLINK_E_REVOKED, ASYLINK_E_CERT_EXPIRED,
 * ASYLINK_E_CERT_NOT_YET_VALID (also when the CA's own certificate is
 * outside its validity); ASYLINK_E_ROLE (broker_cert lacks the broker role,
 * or a certificate breaks the CA role rules); ASYLINK_E_STALE (the trust
 * directory's revocation list is older than one this node's data
 * directory has already used, or missing after one was used);
 * ASYLINK_E_EXISTS (data_dir in use by another client, in this process or
 * another);
 * ASYLINK_E_KEY_PERMISSIONS (data_dir, or its lock file, data.mdb or
 * lock.mdb, is owned by another user, or its mode cannot be tightened: a
 * group or other permission bit there is removed with a WARN naming the
 * file, as a restore with mdb_copy leaves data.mdb 0644);
 * ASYLINK_E_UNSUPPORTED_VERSION (data_dir written by a newer library);
 * ASYLINK_E_STORE_FULL; ASYLINK_E_IO; ASYLINK_E_NOMEM; ASYLINK_E_INTERNAL
 * (libsodium cannot be initialised).
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_client_open(const asylink_options *o,
                                                         asylink_client **out)
    ASYLINK_NONNULL(1, 2);

/*
 * Opens a client from a node configuration file (INI):
 *   [node] broker_endpoint (one address or several, as broker_endpoint in
 *          asylink_options), broker_cert, node_cert, key_file,
 *          key_passphrase_file, trust_dir, data_dir, receive_window,
 *          durability (fsync|relaxed), sent_retention (a duration such as
 *          30d; 0 = keep no sent envelopes), metadata_retention (a duration
 *          such as 365d; 0 = for ever), admin_endpoint (for the CLI only)
 *   [log]  level (error|warn|info|debug, default info): log_level of
 *          asylink_options, the most verbose level passed to log
 * Relative paths are relative to the file. log and log_ctx may be NULL.
 * The function is thread-safe; the client it opens is as asylink_client_open's.
 * Errors: those of asylink_client_open(), plus ASYLINK_E_CONFIG (the file
 * cannot be read or holds a bad line, key or value, e.g. a [log] level
 * other than those four words; the reason is logged, naming the file,
 * line, key and the values it takes),
 * and for key_passphrase_file ASYLINK_E_NOT_FOUND, ASYLINK_E_IO,
 * ASYLINK_E_TOO_LARGE (over 4 KiB), ASYLINK_E_KEY_PERMISSIONS.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_client_open_config(const char *path,
                                                                asylink_log_fn log, void *log_ctx,
                                                                asylink_client **out)
    ASYLINK_NONNULL(1, 4);

/*
 * Stops the I/O thread (sending Bye) and frees the client; sets *self_p to
 * NULL. Receipts owed are sealed and, with what the outbox holds, published
 * once more; the call waits at most 1 s for those last frames and the Bye
 * to leave. Messages still in the outbox stay there and are sent by the next
 * client opened on the same data directory. Accepts NULL and a pointer to
 * NULL. Do not use the client from other threads during or after this call.
 * On a library thread or inside the log callback it does nothing: the
 * client stays open and *self_p unchanged (it would join the thread it
 * runs on; see asylink_log_fn).
 */
ASYLINK_EXPORT void asylink_client_close(asylink_client **self_p);

/* ---- sending ---- */

/* What to send. Initialise with asylink_send_params_init(). */
typedef struct asylink_send_params {
    size_t struct_size;               /* sizeof(asylink_send_params) */
    const char *const *recipients;    /* node ids (required, 1..256, no duplicates) */
    size_t n_recipients;
    const char *content_type;         /* e.g. "asylink.v1.InformationRequest" (required) */
    /* default ASYLINK_LIMITED: the types that carry personal data (asylink.v1.InformationRequest
       and InformationReply) must be ASYLINK_PERSONAL, as asylum.proto requires and
       `asylink send` sets by default; sent as anything else the library refuses them
       (ASYLINK_E_CLASSIFICATION) and so does the broker (PROTOCOL.md 3.1) */
    asylink_classification classification;
    uint64_t expires_ms;              /* absolute Unix ms after which nobody delivers it; 0 = never */
    const uint8_t *correlation_id;    /* 16-byte id of the message this answers, or NULL */
} asylink_send_params;

/* Fills p with defaults (LIMITED, no recipients). Thread-safe. */
ASYLINK_EXPORT void asylink_send_params_init(asylink_send_params *p) ASYLINK_NONNULL(1);

/*
 * Signs and encrypts payload (len bytes; may be NULL when len is 0) for
 * the recipients, commits it to the durable outbox and returns; the I/O
 * thread delivers it to the broker until it is Accepted. When the message
 * is next in outbox order and the session has room, the I/O thread
 * publishes it while that commit's fsync runs (DESIGN-CHANGES 43): by the
 * time this call returns the broker may have it, and after a crash before
 * the return it may arrive although the call never returned (the outcome
 * of an unfinished call is unknown, as for any network request); its
 * ASYLINK_EVENT_ACCEPTED or _REJECTED event may then come for an id this
 * call did not return. A later Rejected
 * arrives as an event. The message id is written to message_id_out (may
 * be NULL), also when the call returns ASYLINK_E_IO or
 * ASYLINK_E_STORE_FULL: the message may have reached the broker then (see
 * below), and if it did, an ASYLINK_EVENT_ACCEPTED naming that id follows,
 * as for any message (the broker has it and delivers it;
 * nothing publishes it again). A message id gets at most one
 * ASYLINK_EVENT_ACCEPTED or one _REJECTED event per client, never both,
 * however often the library published it (ASYLINK_EVENT_ACCEPTED).
 * Thread-safe; concurrent calls share one disk commit and one
 * signature: the thread that commits signs every message of the commit at
 * once as a batch (each envelope carries its own proof and is still
 * checked on its own, PROTOCOL.md 4.10); a message committed alone is
 * signed alone.
 * Errors: ASYLINK_E_INVALID_ARG (c NULL, struct_size too small, payload
 * NULL with len > 0, no recipients, an unknown classification);
 * ASYLINK_E_CLASSIFICATION (a personal-data content type,
 * asylink.v1.InformationRequest or InformationReply, not sent as
 * ASYLINK_PERSONAL: nothing sent, the reason logged);
 * ASYLINK_E_SHUTDOWN (the client is closing); ASYLINK_E_TOO_LARGE (more
 * than 256 recipients, payload over 32 MiB); ASYLINK_E_BAD_NODE_ID (a
 * recipient is not a valid node id); ASYLINK_E_BAD_FIELD (a bad content
 * type, a recipient named twice, or a content type reserved for the
 * library's receipts, asylink.v1.ReceiptSet or asylink.v1.Receipt: nothing
 * sent, the reason logged); ASYLINK_E_UNKNOWN_RECIPIENT (no
 * certificate in the trust directory); ASYLINK_E_REVOKED,
 * ASYLINK_E_CERT_EXPIRED, ASYLINK_E_CERT_NOT_YET_VALID (no usable
 * certificate for a recipient); ASYLINK_E_STORE_FULL (the disk holding the
 * data directory is full: less than 2 MiB, kept for acknowledgements, would
 * be left; nothing was stored and the message is not sent, unless the disk
 * filled up during the commit itself: then as for ASYLINK_E_IO); ASYLINK_E_IO
 * (the outbox commit failed, and a second attempt too: the message may not
 * be stored here, and the broker may have received it while the commit
 * ran; or the commit succeeded and its flush to disk, or another flush of
 * the local store meanwhile, failed: then the message is in the outbox and
 * is sent, but may not survive a power loss until the library has written
 * the store again whole: at once or, if it last did so less than 30 s
 * before, at the first commit once 30 s have passed; it needs free space
 * for a copy of the store and logs what it did); the message id is
 * returned with it (see above)); ASYLINK_E_NOMEM; ASYLINK_E_REENTRANT
 * (called on a library thread or inside the log callback: nothing sent).
 * A broker answering STORE_FULL is not an error of this call: the message
 * stays in the outbox and is published again until the broker has room.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_send(asylink_client *c, const asylink_send_params *p,
                                                  const void *payload, size_t len,
                                                  uint8_t message_id_out[16]) ASYLINK_NONNULL(2);

/* Most messages, and most payload bytes in all, one asylink_send_many() call takes. */
#define ASYLINK_SEND_MAX 1000
#define ASYLINK_SEND_MANY_MAX_BYTES ((size_t)64 << 20)

/* One message of asylink_send_many(). */
typedef struct asylink_send_item {
    const asylink_send_params *params; /* what and to whom (borrowed; may be shared by items) */
    const void *payload;               /* len bytes (borrowed) */
    size_t len;
    /* out: the message id (valid when the call succeeds, and when its outbox commit failed:
       ASYLINK_E_IO or ASYLINK_E_STORE_FULL, every item's result the same; the message may have
       reached the broker then, see asylink_send()) */
    uint8_t message_id[16];
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
 * message, and the broker and the readers one verification. items may be NULL when n is 0. On ASYLINK_OK every
 * item's message_id is set and every result is ASYLINK_OK. On an error
 * nothing is stored, except after an ASYLINK_E_IO whose commit succeeded
 * and a flush of the local store failed (its own or another): then they
 * are stored and sent, perhaps not on disk (see asylink_send()) (after ASYLINK_E_IO or ASYLINK_E_STORE_FULL from the commit the
 * broker may have received the messages, as for asylink_send())
 * and every items[i].result
 * is set: the item's own outcome
 * when sealing failed for some item (ASYLINK_OK for an item that would
 * have been sent alone), else the call's error. The items array is owned
 * by the caller. Errors: those of asylink_send() (the first failing
 * item's; ASYLINK_E_INVALID_ARG also for an item without params, or items
 * NULL with n > 0), ASYLINK_E_TOO_LARGE (n or the payload bytes over the
 * limits). Thread-safe; concurrent calls share disk commits.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_send_many(asylink_client *c, asylink_send_item *items,
                                                       size_t n);

/* ---- receiving ---- */

/*
 * Waits up to timeout_ms (0 = poll, -1 = forever) for the next received,
 * verified and decrypted message not yet handed over in this process and
 * not yet acknowledged. A message is handed over as soon as the I/O thread
 * has verified it and written it into its inbox transaction, while that
 * transaction's commit (an fsync) is still running; the broker is
 * acknowledged only after the commit, so a crash before it loses nothing
 * (the broker delivers again and the message is handed over again, as after
 * any crash), and a commit that fails (the disk full) hands it over again
 * once it is stored. On success *out is a new message (free with
 * asylink_message_free), else *out is NULL. A stored message that no
 * longer opens is skipped and reported as an ASYLINK_EVENT_RECEIVE_FAILED
 * event. Errors: ASYLINK_E_INVALID_ARG (c NULL), ASYLINK_E_TIMEOUT,
 * ASYLINK_E_SHUTDOWN, ASYLINK_E_IO, ASYLINK_E_NOMEM, ASYLINK_E_REENTRANT
 * (a library thread or the log callback). Thread-safe.
 *
 * What is one message here: a direct message is (sender, message id), so
 * two senders using the same id are two messages; a feed message is
 * (sender, message id, subscription): one published message delivered
 * through two of this node's subscriptions is handed over twice, once per
 * subscription (asylink_message_subscription() says which), and each copy
 * is acknowledged on its own, as each subscription's broker cursor is.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_recv(asylink_client *c, int timeout_ms,
                                                  asylink_message **out) ASYLINK_NONNULL(3);

/*
 * The application is done with received message m (borrowed; it may be
 * freed afterwards): it is never handed over again, and its sender gets a
 * signed receipt (direct messages only: a feed message is just marked
 * done, for m's subscription only; no receipt either when the sender's
 * certificate is not usable here, which is logged), sealed within 10 ms
 * with the other receipts owed to that sender (see asylink_ack_many()).
 * Returns after the acknowledgement is committed to disk (fsync under
 * ASYLINK_DURABILITY_FSYNC). Errors: ASYLINK_E_INVALID_ARG (c or m NULL),
 * ASYLINK_E_NOT_FOUND, ASYLINK_E_PURGED (erased on this node with
 * asylink_purge() meanwhile: no receipt), ASYLINK_E_STORE_FULL, ASYLINK_E_IO
 * (not stored; or stored and a flush of the local store failed, its own or
 * another: then it holds unless the power fails before the library has
 * written the store again whole, which it does as for asylink_send() and
 * logs), ASYLINK_E_NOMEM, ASYLINK_E_REENTRANT (a library
 * thread or the log callback: nothing acknowledged). Acking twice is
 * ASYLINK_OK. Thread-safe. This is the
 * acknowledgement to use: it names exactly the message handed over.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_ack_message(asylink_client *c,
                                                         const asylink_message *m);

/*
 * What names one received message, for acknowledging it without its
 * handle (e.g. from a binding, or from ids an application kept): its id,
 * its sender and the subscription it came through (NULL or "" for a
 * direct message), as asylink_message_id(), asylink_message_sender() and
 * asylink_message_subscription() give them. Strings borrowed.
 */
typedef struct asylink_ack_key {
    uint8_t message_id[16];
    const char *sender;
    const char *subscription;
} asylink_ack_key;

/*
 * Acknowledges n received messages (0..ASYLINK_ACK_MAX) named by their
 * full keys, all or nothing, as asylink_ack_many() does (one disk commit,
 * one signed receipt set per sender). Repeated and already acknowledged
 * keys are fine. Errors (nothing is then acknowledged, but for an
 * ASYLINK_E_IO whose commit succeeded: see asylink_ack_message()):
 * ASYLINK_E_INVALID_ARG (c NULL, keys NULL with n > 0, a key without
 * sender, a subscription over 64 bytes), ASYLINK_E_TOO_LARGE
 * (n > ASYLINK_ACK_MAX), ASYLINK_E_NOT_FOUND (a key that was never
 * received), ASYLINK_E_PURGED (a key purged on this node),
 * ASYLINK_E_STORE_FULL, ASYLINK_E_IO, ASYLINK_E_NOMEM, ASYLINK_E_REENTRANT
 * (a library thread or the log callback). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_ack_keys(asylink_client *c,
                                                      const asylink_ack_key *keys, size_t n);

/*
 * Acknowledges the received message with this id when the id names one
 * message: as asylink_ack_message() for it. The id alone is ambiguous when
 * two senders used it, or when one feed message came through several
 * subscriptions, and more than one of those is not acknowledged yet: then
 * nothing is acknowledged and the call returns ASYLINK_E_AMBIGUOUS (use
 * asylink_ack_message() or asylink_ack_keys()). Errors:
 * ASYLINK_E_INVALID_ARG (c NULL), ASYLINK_E_NOT_FOUND (an id this client
 * never received), ASYLINK_E_AMBIGUOUS, ASYLINK_E_STORE_FULL, ASYLINK_E_IO,
 * ASYLINK_E_NOMEM, ASYLINK_E_REENTRANT (a library thread or the log
 * callback). Acking twice is ASYLINK_OK (every message with the id
 * acknowledged, or purged with asylink_purge(): nothing to do, no receipt).
 * Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_ack(asylink_client *c, const uint8_t message_id[16])
    ASYLINK_NONNULL(2);

/* Most message ids one asylink_ack_many() call takes. */
#define ASYLINK_ACK_MAX 1000

/*
 * Acknowledges n received messages (0..ASYLINK_ACK_MAX) at once, all or
 * nothing, in one disk commit (shared with the I/O thread's next commit of
 * deliveries). The receipts are owed from that commit on (a crash does not
 * lose them) and sealed by the I/O thread within 10 ms: every receipt owed
 * to one sender in that time goes in one signed receipt envelope (a
 * ReceiptSet), all envelopes of a flush signed together as one batch, so a
 * consumer pays one fsync per call and one signature per flush instead of
 * one of each per message. message_ids is an array of n 16-byte
 * ids (borrowed; may be NULL when n is 0); repeated and already
 * acknowledged ids are fine; each id must name one message, as for
 * asylink_ack(). A sender whose certificate is not usable here (unknown,
 * revoked, expired) gets no receipt (logged); any other failure to make a
 * receipt fails the call.
 * Errors (nothing is then acknowledged, but for an ASYLINK_E_IO whose flush
 * alone failed: see asylink_ack_message()): ASYLINK_E_INVALID_ARG (c NULL, or
 * message_ids NULL with n > 0), ASYLINK_E_TOO_LARGE (n > ASYLINK_ACK_MAX),
 * ASYLINK_E_NOT_FOUND (an id that was never received), ASYLINK_E_AMBIGUOUS
 * (an id naming several unacknowledged messages: use asylink_ack_keys()),
 * ASYLINK_E_STORE_FULL, ASYLINK_E_IO, ASYLINK_E_NOMEM, ASYLINK_E_REENTRANT
 * (a library thread or the log callback); for a message
 * handed over before its own inbox commit finished (see asylink_recv())
 * and that commit failing, that commit's error (ASYLINK_E_STORE_FULL,
 * ASYLINK_E_IO), also for a call made after that commit failed and before
 * the message is stored again (not ASYLINK_E_NOT_FOUND): the message is
 * handed over again once stored, and the call's other messages (not
 * acknowledged either) are handed over again too. Only the commit of a
 * message the call names is waited for. Thread-safe;
 * acknowledgements are serialised.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_ack_many(asylink_client *c,
                                                      const uint8_t (*message_ids)[16], size_t n);

/*
 * ---- a received message ----
 * Read-only accessors of a message from asylink_recv(). Returned pointers
 * are valid until asylink_message_free(). For a NULL message every
 * accessor returns NULL or 0. Safe from several threads at once (they do
 * not change the message); asylink_message_free() must not race them.
 */

/* The 16-byte message id. */
ASYLINK_EXPORT const uint8_t *asylink_message_id(const asylink_message *m);
/* The sending node's id. */
ASYLINK_EXPORT const char *asylink_message_sender(const asylink_message *m);
/* The number of direct recipients (0 for a feed message). */
ASYLINK_EXPORT size_t asylink_message_recipient_count(const asylink_message *m);
/* Recipient i (0 <= i < count), else NULL. */
ASYLINK_EXPORT const char *asylink_message_recipient(const asylink_message *m, size_t i);
/* The feed topic, or "" for a direct message. */
ASYLINK_EXPORT const char *asylink_message_topic(const asylink_message *m);
/*
 * The subscription a feed message came through, or "" for a direct
 * message (and for a feed message received into a data directory before
 * its inbox recorded subscriptions, client store schema 3: see
 * docs/DESIGN-CHANGES.md).
 */
ASYLINK_EXPORT const char *asylink_message_subscription(const asylink_message *m);
/* The content type, e.g. "asylink.v1.InformationRequest". */
ASYLINK_EXPORT const char *asylink_message_content_type(const asylink_message *m);
ASYLINK_EXPORT asylink_classification asylink_message_classification(const asylink_message *m);
/* When the sender made it, Unix ms. */
ASYLINK_EXPORT uint64_t asylink_message_created_ms(const asylink_message *m);
/* After when nobody delivers it, Unix ms; 0 = never. */
ASYLINK_EXPORT uint64_t asylink_message_expires_ms(const asylink_message *m);
/* The 16-byte id this message answers, or NULL. */
ASYLINK_EXPORT const uint8_t *asylink_message_correlation_id(const asylink_message *m);
/*
 * The decrypted payload; its length goes to *len (len may be NULL; *len
 * is 0 for a NULL message). The payload may be non-NULL with length 0.
 */
ASYLINK_EXPORT const void *asylink_message_payload(const asylink_message *m, size_t *len);
/* Wipes the payload and frees the message; sets *self_p to NULL. Accepts NULL. */
ASYLINK_EXPORT void asylink_message_free(asylink_message **self_p);

/* ---- events ---- */

/*
 * What happened to sent messages and to the connection. ACCEPTED and
 * REJECTED come for every envelope this client publishes, also the signed
 * receipts it sends on the application's behalf after an acknowledgement:
 * ids asylink_send() never returned. An application that tracks its own
 * messages ignores ids it does not know.
 *
 * A message id gets at most one ACCEPTED or one REJECTED event from a
 * client (one asylink_client_open() to asylink_client_close()), never
 * both, however often the library published it (again after a lost
 * session, a failed outbox commit, or a rescan): the broker answers a copy
 * it holds already as a duplicate, and that answer is recorded without an
 * event. The event follows the commit that records the answer in the
 * outbox. ACCEPTED also comes for a message whose asylink_send() (or
 * _send_many(), _publish(), _publish_many()) returned ASYLINK_E_IO after it
 * went out while its commit ran, and for one purged with asylink_purge()
 * before the broker's answer came while a copy was on its way: the broker
 * has it, and the outbox entry, refused with ASYLINK_E_PURGED by the purge,
 * becomes ACCEPTED (the purge erased its content here all the same). After a
 * crash or a power loss, a client opened again on the same data directory
 * may tell again an answer whose record did not reach the disk (the outbox
 * publishes the message again and the broker answers it as a duplicate).
 */
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
 * success *out is a new event (free with asylink_event_free), else *out
 * is NULL. Errors: ASYLINK_E_INVALID_ARG (c NULL), ASYLINK_E_TIMEOUT,
 * ASYLINK_E_SHUTDOWN, ASYLINK_E_REENTRANT (a library thread or the log
 * callback). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_next_event(asylink_client *c, int timeout_ms,
                                                        asylink_event **out) ASYLINK_NONNULL(3);

/*
 * Accessors of an event from asylink_next_event(); returned pointers are
 * valid until asylink_event_free(). For a NULL event they return 0 or
 * NULL. Safe from several threads at once; asylink_event_free() must not
 * race them.
 */
/* The event's type (0 for NULL). */
ASYLINK_EXPORT asylink_event_type asylink_event_get_type(const asylink_event *e);
/* The message concerned (16 bytes; zeros for connection events). */
ASYLINK_EXPORT const uint8_t *asylink_event_message_id(const asylink_event *e);
/* asylink_err code (REJECTED, RECEIVE_FAILED, DISCONNECTED), else 0. */
ASYLINK_EXPORT int asylink_event_code(const asylink_event *e);
/*
 * Human reason, never NULL for an event (may be ""). RECEIVE_FAILED: why,
 * naming the sender's certificate the envelope was signed under for
 * WRONG_KEY, UNKNOWN_SENDER and REVOKED (what this node's trust directory
 * lacks), and what became of the delivery ("dead-lettered at the broker",
 * or for a feed message "skipped"); the broker keeps the same reason with
 * the dead letter.
 */
ASYLINK_EXPORT const char *asylink_event_reason(const asylink_event *e);
/*
 * RECEIPT: the recipient who signed it; CONNECTED: the broker; RECEIVE_FAILED:
 * the sender its envelope names (not necessarily verified); else "".
 */
ASYLINK_EXPORT const char *asylink_event_node(const asylink_event *e);
/*
 * The broker address (one of broker_endpoint's) of the session the event
 * came through: for CONNECTED the address now in use, for DISCONNECTED the
 * one just lost, for ACCEPTED, REJECTED and RECEIPT the session that
 * answered; "" for events made outside a session (a RECEIVE_FAILED found
 * by asylink_recv()); NULL for a NULL event.
 */
ASYLINK_EXPORT const char *asylink_event_endpoint(const asylink_event *e);
/* Frees the event; sets *self_p to NULL. Accepts NULL. */
ASYLINK_EXPORT void asylink_event_free(asylink_event **self_p);

/* ---- receipts ---- */

/* What a receipt says the recipient did (numbers as asylink.v1.ReceiptStatus). */
typedef enum asylink_receipt_status {
    ASYLINK_RECEIPT_DELIVERED = 1, /* its application took the message (asylink_ack) */
    ASYLINK_RECEIPT_REJECTED = 2,  /* it refused the message (this library never sends it) */
} asylink_receipt_status;

/*
 * One verified receipt for a sent message. A receipt was verified when it
 * arrived; status says whether it proves delivery (DELIVERED) or a refusal
 * (REJECTED), and signer_revoked whether it still proves anything now.
 */
typedef struct asylink_receipt_info {
    char recipient[65];       /* node id that signed it */
    /*
     * asylink_receipts(): 1 if the certificate that signed the receipt is
     * on this client's revocation list now (revoked after the receipt
     * arrived): asylink_receipt_verify() refuses its evidence
     * (ASYLINK_E_REVOKED) and so does a check of an evidence bundle holding
     * it; else 0 (always 0 from asylink_receipt_verify()). It fills what
     * was padding after recipient: the struct's size and the other fields'
     * offsets are unchanged (the ABI of earlier builds).
     */
    uint8_t signer_revoked;
    uint64_t acked_ms;        /* when its application acknowledged the message */
    int status;               /* an asylink_receipt_status */
    uint8_t envelope_digest[64]; /* digest of the sent envelope the receipt covers */
} asylink_receipt_info;

/*
 * Lists the receipts held for message_id: writes up to max into out (may
 * be NULL when max is 0) and the number held into *n (may exceed max; 0 on
 * error). Each says whether the recipient took the message or refused it
 * (status) and whether its signer's certificate has been revoked since
 * (signer_revoked), judged against the trust directory in use. Errors:
 * ASYLINK_E_INVALID_ARG (c NULL, out NULL with max > 0),
 * ASYLINK_E_NOT_FOUND (not a message this client sent), ASYLINK_E_IO,
 * ASYLINK_E_NOMEM, ASYLINK_E_REENTRANT (a library thread or the log
 * callback). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_receipts(asylink_client *c,
                                                      const uint8_t message_id[16],
                                                      asylink_receipt_info *out, size_t max,
                                                      size_t *n) ASYLINK_NONNULL(2, 5);

/*
 * Waits up to timeout_ms (0 = check once, -1 = forever) until every
 * recipient of message_id has sent a receipt saying its application took
 * the message. Returns ASYLINK_OK when all have, under certificates not
 * revoked now. Returns as soon as the answer is known to be no:
 * ASYLINK_E_NOT_RECIPIENT when a recipient's receipt says it refused the
 * message (ASYLINK_RECEIPT_REJECTED; the code an evidence bundle check
 * gives for it), else ASYLINK_E_REVOKED when a receipt is signed under a
 * certificate revoked since (its evidence no longer holds);
 * asylink_receipts() then tells which. Other errors: ASYLINK_E_INVALID_ARG
 * (c NULL), ASYLINK_E_TIMEOUT, ASYLINK_E_NOT_FOUND (not a message this
 * client sent), ASYLINK_E_SHUTDOWN, ASYLINK_E_IO, ASYLINK_E_NOMEM,
 * ASYLINK_E_REENTRANT (a library thread or the log callback). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_receipt_wait(asylink_client *c,
                                                          const uint8_t message_id[16],
                                                          int timeout_ms) ASYLINK_NONNULL(2);

/*
 * The signed receipt envelope from recipient for message_id, as evidence:
 * *env is a new buffer of *len bytes, freed by the caller with
 * asylink_free() (*env NULL and *len 0 on error). asylink_receipt_verify()
 * checks such evidence later. Errors: ASYLINK_E_INVALID_ARG (c NULL, or
 * recipient not a node id), ASYLINK_E_NOT_FOUND (no receipt from recipient
 * for that message), ASYLINK_E_IO, ASYLINK_E_NOMEM, ASYLINK_E_REENTRANT (a
 * library thread or the log callback). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_receipt_export(asylink_client *c,
                                                            const uint8_t message_id[16],
                                                            const char *recipient, uint8_t **env,
                                                            size_t *len)
    ASYLINK_NONNULL(2, 3, 4, 5);

/*
 * Verifies a receipt envelope (as exported, len bytes) against this
 * client's trust directory and outbox: signed by a trusted recipient,
 * addressed to this node, and every receipt in it about a message this
 * client sent to that recipient, quoting that envelope's exact digest. One
 * envelope may prove several messages (see asylink_ack_many()): message_id
 * (16 bytes, or NULL for the first) selects the receipt whose details go
 * into info (may be NULL). Errors: ASYLINK_E_INVALID_ARG (c NULL);
 * decoding the envelope: ASYLINK_E_TOO_LARGE, ASYLINK_E_MALFORMED (also: not
 * a receipt set), ASYLINK_E_UNSUPPORTED_VERSION, ASYLINK_E_BAD_NODE_ID,
 * ASYLINK_E_BAD_FIELD, ASYLINK_E_CLASSIFICATION, ASYLINK_E_KEYWRAP_MISMATCH;
 * verifying it: ASYLINK_E_UNKNOWN_SENDER, ASYLINK_E_WRONG_KEY,
 * ASYLINK_E_REVOKED, ASYLINK_E_CERT_EXPIRED, ASYLINK_E_CERT_NOT_YET_VALID,
 * ASYLINK_E_BAD_SIGNATURE, ASYLINK_E_EXPIRED; opening it:
 * ASYLINK_E_NOT_RECIPIENT (also: a feed message, which is nobody's
 * receipt), ASYLINK_E_CLASSIFICATION (not encrypted: a receipt travels
 * encrypted to the original sender), ASYLINK_E_TAMPERED (also: signer, addressee or
 * digest do not match the sent message); ASYLINK_E_NOT_FOUND (not our
 * message, or message_id is not covered by this envelope); ASYLINK_E_IO;
 * ASYLINK_E_NOMEM; ASYLINK_E_REENTRANT (a library thread or the log
 * callback). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_receipt_verify(asylink_client *c,
                                                            const uint8_t *env, size_t len,
                                                            const uint8_t message_id[16],
                                                            asylink_receipt_info *info)
    ASYLINK_NONNULL(2);

/*
 * Writes the evidence bundle of message_id, a direct message this client
 * sent, to path (a new file, mode 0600, written atomically; an existing
 * file is never overwritten): one ZIP file holding the sent envelope as
 * kept (see sent_retention_ms), every signed receipt held for it with the
 * receipt's content key (which opens that receipt envelope and nothing
 * else), the certificates of the sender and of every recipient from this
 * client's trust directory, its CA certificate and revocation list, and a
 * manifest listing every file with its SHA-256, signed with this node's
 * key. A third party checks it offline (`asylink evidence verify`, or any
 * implementation of docs/PROTOCOL.md section 14). The payload stays
 * encrypted: the bundle never holds plaintext. A bundle may lack receipts
 * that have not arrived; its check then says so. A receipt held that
 * does not prove delivery, a refusal (ASYLINK_RECEIPT_REJECTED) or one
 * signed under a certificate revoked since (signer_revoked of
 * asylink_receipts()), goes in as held, with a warning in the log: the
 * bundle's check then fails (NOT_RECIPIENT, REVOKED).
 * Errors: ASYLINK_E_INVALID_ARG (c NULL, path empty); ASYLINK_E_NOT_FOUND
 * (not a message this client sent, its envelope is no longer kept, or a
 * certificate a signature needs is not in the trust directory);
 * ASYLINK_E_BAD_FIELD (a feed message, which has no receipts, or one sent
 * under another node id); ASYLINK_E_TAMPERED (this node's key does not
 * open a receipt it holds: the key was replaced since, or the kept receipt
 * is damaged); ASYLINK_E_EXISTS (path exists); ASYLINK_E_TOO_LARGE (over
 * the bundle's limits); ASYLINK_E_IO (the data directory, a damaged kept
 * envelope or receipt, or writing path); ASYLINK_E_NOMEM;
 * ASYLINK_E_INTERNAL (a bug); ASYLINK_E_REENTRANT (a library thread or the
 * log callback). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_evidence_export(asylink_client *c,
                                                             const uint8_t message_id[16],
                                                             const char *path)
    ASYLINK_NONNULL(2, 3);

/* ---- erasure and retention ----
 *
 * Retention. What the data directory holds of a message after it is done
 * with is metadata, no payload: for a sent message its id, recipients,
 * envelope digest, state and the recipients' signed receipts; for a
 * received one a tombstone (id, sender, subscription, broker sequence,
 * time) that recognises a redelivery, so that the application sees it
 * once. The I/O thread removes both once they are older than
 * metadata_retention_ms (counted from sending, or from receipt): when the
 * client opens and then every 10 minutes, in bounded transactions. It
 * never removes what exactly-once and receipts still need: a message not
 * yet accepted by the broker (it is resent), a
 * received message the application has not acknowledged, nor a sent
 * message's record while its receipts are kept (they go together) or
 * while its envelope is kept as evidence (sent_retention_ms). A
 * receipt arriving after its message was removed is dropped (logged), and
 * a redelivery after its tombstone was removed is handed over again: keep
 * the retention well above how long the broker may hold or redeliver a
 * message (its policy's max_retention, 90 days by default, plus the
 * longest a node stays offline) and as long as receipts must be shown.
 */

/*
 * Erases this node's own copies of message_id (an erasure request, or a
 * message sent to the wrong authority), in one disk commit. With sender
 * NULL or this node's id: the message this node sent. If the broker has
 * not accepted it yet, it is not sent any more (its outbox entry ends
 * refused with ASYLINK_E_PURGED, with no ASYLINK_EVENT_REJECTED); a copy
 * already on its way may still be accepted: then the entry becomes
 * ACCEPTED after all and ASYLINK_EVENT_ACCEPTED comes (the broker has the
 * message), and one the broker accepted is erased there by its operator
 * (`asylink purge`); the copy of its envelope kept as evidence goes too
 * (asylink_evidence_export() then finds none). With sender NULL or another
 * node's id: every message received
 * with that id from that sender (any sender if NULL), through any
 * subscription: its stored envelope is deleted, it is never handed over
 * again and a redelivery of it is dropped. A message asylink_recv()
 * already handed over is the application's copy; acknowledging it later
 * fails with ASYLINK_E_PURGED and sends no receipt. What stays is the
 * metadata described under "Retention", until the retention sweep. The
 * freed LMDB pages of the data directory may keep the bytes until they
 * are reused (docs/OPERATIONS.md says how to compact a data directory).
 * *n_purged (may be NULL) gets the number of copies whose content was
 * erased by this call. sender may be NULL. Errors: ASYLINK_E_INVALID_ARG
 * (c NULL, sender not a node id), ASYLINK_E_NOT_FOUND (this node never
 * sent nor received message_id from sender), ASYLINK_E_STORE_FULL,
 * ASYLINK_E_IO, ASYLINK_E_NOMEM, ASYLINK_E_REENTRANT (a library thread or
 * the log callback). Purging again is ASYLINK_OK with
 * *n_purged 0. Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_purge(asylink_client *c, const uint8_t message_id[16],
                                                   const char *sender, size_t *n_purged)
    ASYLINK_NONNULL(2);

/* ---- state, trust and event loops ---- */

/*
 * A file descriptor that is readable while asylink_recv() or
 * asylink_next_event() has something to return, for poll/epoll/select
 * loops; -1 for a NULL client. Owned by the client: do not read, write or
 * close it. Valid until asylink_client_close(). Thread-safe; allowed inside
 * the log callback.
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
 * directory that does not load; the trust in use then stays, and the
 * error is logged. Errors: ASYLINK_E_INVALID_ARG (c NULL), the trust
 * directory codes, ASYLINK_E_STALE, ASYLINK_E_STORE_FULL (recording the
 * list's number), ASYLINK_E_REENTRANT (a library thread or the log
 * callback). Thread-safe; calls in progress finish with the trust they
 * started with.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_reload_trust(asylink_client *c);

/*
 * Writes the number of messages in the outbox not yet Accepted by the
 * broker (and receipts not yet handed to it, including receipts owed and
 * not yet sealed) to *count (0 on error). An outbox entry that no longer
 * reads back (a damaged data directory) is logged as an error, never sent
 * and, once the I/O thread met it, no longer counted.
 * Errors: ASYLINK_E_INVALID_ARG (c NULL), ASYLINK_E_IO, ASYLINK_E_NOMEM,
 * ASYLINK_E_REENTRANT (a library thread or the log callback). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_outbox_pending(asylink_client *c, uint64_t *count)
    ASYLINK_NONNULL(2);

/* What became of a message this client sent (asylink_sent_state_get()). */
typedef enum asylink_sent_state {
    ASYLINK_SENT_PENDING = 1,  /* in the outbox, not yet accepted by the broker: it is sent,
                                  again after a restart, until the broker answers */
    ASYLINK_SENT_ACCEPTED = 2, /* the broker stored it (and delivers it) */
    ASYLINK_SENT_REJECTED = 3, /* refused for good, never sent again: *code says why */
} asylink_sent_state;

/*
 * What this node's outbox says of message_id (16 bytes, borrowed), a
 * message this client (or an earlier one on the same data directory) sent
 * with asylink_send(), _send_many(), _publish() or _publish_many(): *state
 * gets an asylink_sent_state and *code (may be NULL) ASYLINK_OK, or for
 * ASYLINK_SENT_REJECTED why: the broker's code (e.g. ASYLINK_E_POLICY,
 * ASYLINK_E_EXPIRED), ASYLINK_E_TOO_LARGE (larger than the broker's
 * max_envelope_bytes: the library did not publish it), or ASYLINK_E_PURGED
 * for a message asylink_purge() erased here before the broker accepted it.
 * Read from the data directory (durable: the same answer after a restart),
 * one record, no envelope. The state is the outbox's, as the events tell
 * it: ACCEPTED from the commit after which ASYLINK_EVENT_ACCEPTED comes (a
 * call made after that event answers ACCEPTED; one made before it may
 * still answer PENDING while the broker's answer is being recorded),
 * likewise REJECTED and ASYLINK_EVENT_REJECTED. A purged message one of whose copies was already
 * on its way may still become ACCEPTED (see asylink_purge()). The ids of
 * the signed receipts the library sends on the application's behalf (the
 * ids of the ACCEPTED and REJECTED events asylink_send() never returned)
 * are outbox entries too, and are answered like any other.
 *
 * What the application may conclude, e.g. after asylink_send() returned
 * ASYLINK_E_IO or ASYLINK_E_STORE_FULL with an id, or after a restart for
 * the ids earlier asylink_send() calls returned that it recorded with its
 * own work (the library chooses the id: a send cut short by a crash before
 * it returned gave none, and its content must be looked for by what it
 * was, or sent again):
 *   - PENDING or ACCEPTED: the message is stored and is (or was) delivered:
 *     do not send its content again.
 *   - REJECTED: the broker does not deliver it; whether to send the content
 *     again, under a new id, depends on *code (a POLICY refusal stays one).
 *   - ASYLINK_E_NOT_FOUND: this outbox holds no message with that id, so
 *     nothing here sends it, now or after a restart: its commit did not
 *     store it (the send failed, or the process ended before the call
 *     returned), or the id is not one this node sent. Sending the content
 *     again, under a new id, is then the only way it reaches the broker,
 *     with one exception: a copy the I/O thread published while the
 *     failed commit ran (see asylink_send()) may have reached the broker,
 *     and if this client is told that broker's answer, an
 *     ASYLINK_EVENT_ACCEPTED (or _REJECTED) event names the id although
 *     this call goes on answering ASYLINK_E_NOT_FOUND (the outbox has no
 *     entry to record it in); after a crash during the commit nothing
 *     tells. So a content sent again may arrive twice, under two ids,
 *     rarely: the recipient's processing must be safe to repeat anyway.
 *   A record that is no longer PENDING is removed by the retention sweep
 *   once older than metadata_retention_ms (default 365 days, counted from
 *   sending; see "Retention"), also ASYLINK_E_NOT_FOUND then. For an id
 *   sent less than that long ago ASYLINK_E_NOT_FOUND means "never stored
 *   here": the application tells the two apart by when it sent the id.
 * Errors: ASYLINK_E_INVALID_ARG (c NULL), ASYLINK_E_NOT_FOUND (above),
 * ASYLINK_E_IO (the data directory cannot be read, or the entry is
 * damaged), ASYLINK_E_NOMEM, ASYLINK_E_REENTRANT (a library thread or the
 * log callback); *state is then 0 and *code ASYLINK_OK. Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int
asylink_sent_state_get(asylink_client *c, const uint8_t message_id[16], int *state, int *code)
    ASYLINK_NONNULL(2, 3);

/*
 * 1 while a session with the broker is open, else 0 (also for NULL).
 * Thread-safe; allowed inside the log callback.
 */
ASYLINK_EXPORT int asylink_connected(asylink_client *c);

/*
 * This client's own node id, from its certificate (e.g. "DE"), as
 * recipients name it and as payloads such as InformationRequest's
 * requesting_state want it; NULL for NULL. Owned by the client, valid
 * until asylink_client_close(). Thread-safe; allowed inside the log
 * callback.
 */
ASYLINK_EXPORT const char *asylink_client_node_id(asylink_client *c);

/* Where a client is connected, or was last (see "Several broker addresses"). */
typedef struct asylink_connection {
    char endpoint[256];   /* address of the current or last session; before any, the
                             address being tried ("" only when read from a file) */
    char broker[65];      /* node id the broker gave in its Welcome; "" before any */
    int connected;        /* 1 while that session is open */
    int running;          /* 1 if the client holding the data directory runs (always 1
                             from asylink_connection_get) */
    uint64_t since_ms;    /* Unix ms when the session opened, or (connected 0) ended */
    uint32_t index;       /* position of endpoint in the broker_endpoint list, from 0 */
    uint32_t n_endpoints; /* addresses in the list */
    uint64_t sessions;    /* sessions opened since the client was opened */
} asylink_connection;

/*
 * Fills *out (required) with where this client's I/O thread is now.
 * Errors: ASYLINK_E_INVALID_ARG (c NULL), ASYLINK_E_REENTRANT (a library
 * thread or the log callback; *out is then zeroed). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_connection_get(asylink_client *c,
                                                            asylink_connection *out)
    ASYLINK_NONNULL(2);

/*
 * Reads, from another process, where the client of a node configuration
 * file is connected: the client writes data_dir/connection (mode 0600)
 * each time a session opens or ends, and at close. running says whether
 * the process that wrote it still runs on this host, by its process id
 * and start time (another process given a dead client's id later does not
 * count; files of older versions give the id alone); if not, connected is
 * 0 and the rest tells the last session. Does not open the client nor
 * take its data directory. config_path and out are required; log and
 * log_ctx may be NULL (log gets the reason of a bad configuration file).
 * Errors: ASYLINK_E_CONFIG (the node file cannot be read or holds a bad
 * line, key or value), ASYLINK_E_NOT_FOUND (no client has run on its
 * data_dir yet), ASYLINK_E_MALFORMED (the connection file is not one
 * libasylink wrote), ASYLINK_E_IO, ASYLINK_E_INVALID_ARG (a data_dir path
 * too long), ASYLINK_E_NOMEM. Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_connection_read(const char *config_path,
                                                             asylink_log_fn log, void *log_ctx,
                                                             asylink_connection *out)
    ASYLINK_NONNULL(1, 4);

/*
 * Why no session with the broker is open, as far as the I/O thread knows
 * (asylink_connect_failure_get()). The I/O thread keeps trying whatever
 * happened (every address of broker_endpoint in turn); this only says what
 * is in the way, e.g. for a command that must fail loudly when the broker
 * cannot be reached. asylink_connection_get() says where the client is.
 */
typedef struct asylink_connect_failure {
    int code;           /* ASYLINK_OK: no attempt has failed since the last session
                           opened (or since the open); else why the latest failed:
                           ASYLINK_E_UNAVAILABLE  no connection to the broker (nothing
                                                  listens at the address, or it cannot be
                                                  reached), or the connection was lost;
                           ASYLINK_E_REFUSED      the broker denied this node's key in the
                                                  CURVE handshake (its certificate unknown
                                                  there, revoked or expired, or the broker
                                                  has not reloaded its trust directory);
                           ASYLINK_E_PROTOCOL     the CURVE handshake failed otherwise
                                                  (broker_cert not the certificate of the
                                                  broker at that address, or not an asylinkd),
                                                  or the broker's Welcome announced a
                                                  max_envelope_bytes below the protocol's
                                                  floor of 64 KiB (the session is dropped,
                                                  the outbox kept; PROTOCOL.md 11.11);
                           ASYLINK_E_TIMEOUT      connected, but no Welcome answered Hello
                                                  within 5 s;
                           the broker's code of a fatal Error or Bye (e.g.
                           ASYLINK_E_REVOKED, ASYLINK_E_FORGED_SENDER,
                           ASYLINK_E_UNSUPPORTED_VERSION, ASYLINK_E_SHUTDOWN), also one
                           that ended an open session; ASYLINK_E_IO (no socket) */
    char reason[512];   /* that failure in words, naming the address and what to do;
                           "" with ASYLINK_OK */
    char endpoint[256]; /* the broker address of that attempt (with ASYLINK_OK: the
                           one being tried or in use) */
    uint64_t at_ms;     /* when it was found, Unix ms; 0 with ASYLINK_OK */
    uint32_t attempts;  /* connection attempts that failed since the last session
                           opened (or since the open) */
    uint64_t sessions;  /* sessions opened since asylink_client_open() (0: never
                           connected yet) */
    int connected;      /* 1 while a session is open (as asylink_connected()) */
} asylink_connect_failure;

/*
 * Fills *out (required) with why no session with the broker is open: the
 * latest failure since the last session opened, how many attempts failed,
 * and how many sessions opened since the client was opened. A copy: it
 * does not change afterwards. The same failures are logged at WARN, once
 * per change of reason. Errors: ASYLINK_E_INVALID_ARG (c NULL),
 * ASYLINK_E_REENTRANT (a library thread or the log callback); *out is then
 * zeroed. Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_connect_failure_get(asylink_client *c,
                                                                 asylink_connect_failure *out)
    ASYLINK_NONNULL(2);
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

/* Fills p with defaults (PUBLIC, no topic). Thread-safe. */
ASYLINK_EXPORT void asylink_publish_params_init(asylink_publish_params *p) ASYLINK_NONNULL(1);

/*
 * Signs (and for LIMITED encrypts) payload (may be NULL when len is 0) for
 * a topic and commits it to the outbox, like asylink_send(). For LIMITED
 * the library asks the broker for the topic's readers (a Directory),
 * checks every certificate against its own trust directory (the broker
 * cannot substitute keys), leaves out unusable ones and keeps the list for
 * 60 s (a trust reload forgets it). Feed messages have no recipients and get no receipts.
 * message_id_out may be NULL. Errors: ASYLINK_E_INVALID_ARG (c NULL,
 * struct_size too small, topic or content_type NULL, payload NULL with
 * len > 0, an unknown classification), ASYLINK_E_CLASSIFICATION (PERSONAL,
 * or a personal-data content type: asylink.v1.InformationRequest or
 * InformationReply), ASYLINK_E_BAD_FIELD (a bad topic or content type, or a
 * content type reserved for receipts, as asylink_send()), ASYLINK_E_TOO_LARGE
 * (payload over 32 MiB), ASYLINK_E_SHUTDOWN; for LIMITED also
 * ASYLINK_E_UNAVAILABLE (no session is open to ask the broker for the
 * readers), ASYLINK_E_TIMEOUT (no Directory answer within 10 s), the
 * broker's refusal code (e.g. ASYLINK_E_POLICY), ASYLINK_E_UNKNOWN_RECIPIENT
 * (no usable reader); ASYLINK_E_STORE_FULL, ASYLINK_E_IO (both as for
 * asylink_send(): the message is published while its commit runs, so after
 * a commit that failed the broker may have it; its id is written to
 * message_id_out then too, and its ASYLINK_EVENT_ACCEPTED names it),
 * ASYLINK_E_NOMEM;
 * ASYLINK_E_REENTRANT (a library thread or the log callback). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_publish(asylink_client *c,
                                                     const asylink_publish_params *p,
                                                     const void *payload, size_t len,
                                                     uint8_t message_id_out[16]) ASYLINK_NONNULL(2);

/* One message of asylink_publish_many(). */
typedef struct asylink_publish_item {
    const asylink_publish_params *params; /* topic and kind (borrowed; may be shared by items) */
    const void *payload;                  /* len bytes (borrowed) */
    size_t len;
    /* out: the message id (valid when the call succeeds, and when its outbox commit failed, as
       in asylink_send_item) */
    uint8_t message_id[16];
    int result;             /* out: ASYLINK_OK, or why this item cannot be sent */
} asylink_publish_item;

/*
 * Publishes n feed messages (0..ASYLINK_SEND_MAX, payloads of at most
 * ASYLINK_SEND_MANY_MAX_BYTES together) at once, all or nothing, as
 * asylink_send_many() does for direct messages: each is sealed as by
 * asylink_publish() (items may name different topics and kinds), all are
 * committed in one disk commit and signed with one signature (a batch, see
 * asylink_send_many()). items may be NULL when n is 0. On ASYLINK_OK every
 * item's message_id is set and every result is ASYLINK_OK. On an error
 * nothing is stored, except after an ASYLINK_E_IO whose commit succeeded
 * and a flush of the local store failed (its own or another): then they
 * are stored and sent, perhaps not on disk (see asylink_send()) (after ASYLINK_E_IO or ASYLINK_E_STORE_FULL from the commit the
 * broker may have received the messages, as for asylink_send())
 * and every items[i].result is set: the item's own
 * outcome when sealing failed for some item (ASYLINK_OK for an item that
 * would have been published alone), else the call's error. The items
 * array is owned by the caller. Errors: those of asylink_publish() (the
 * first failing item's; ASYLINK_E_INVALID_ARG also for an item without
 * params, or items NULL with n > 0), ASYLINK_E_TOO_LARGE (n or the payload
 * bytes over the limits). Thread-safe; concurrent calls share disk commits.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_publish_many(asylink_client *c,
                                                          asylink_publish_item *items, size_t n);

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
 * the topic, asylink_message_subscription() the subscription) and are
 * acknowledged with asylink_ack_message() (no receipt is sent). Every
 * subscription gets every message under its prefix, independently of the
 * node's other subscriptions: two subscriptions over one topic hand each
 * message over twice, and each copy is acknowledged on its own.
 * Subscriptions live in this client's memory: subscribe again after
 * reopening a client. While no session is open the Subscribe is sent when
 * one opens, and this call waits for it (timeout_ms, -1 = forever).
 * The name is bound to its prefix: a durable subscription that exists
 * with another prefix (at the broker, or held by this client) is never
 * resumed for a new one, but refused with ASYLINK_E_PREFIX_MISMATCH, the
 * existing one left as it is; subscribe with the prefix it was created
 * with, use another name, or delete it first (asylink_unsubscribe with
 * delete_cursor).
 * Errors: ASYLINK_E_INVALID_ARG (c NULL, a bad prefix, name or start);
 * ASYLINK_E_PREFIX_MISMATCH (above; also from a broker that resumes the
 * subscription with another prefix, which this client then closes in
 * that session); the broker's refusal code, after which the subscription
 * is forgotten (ASYLINK_E_POLICY, or e.g. ASYLINK_E_BAD_FIELD,
 * ASYLINK_E_PROTOCOL);
 * ASYLINK_E_TIMEOUT (a session is open but no answer came in time);
 * ASYLINK_E_UNAVAILABLE (no session opened in time, or the broker does not
 * serve feeds) -- after TIMEOUT and UNAVAILABLE without a refusal the
 * subscription stays remembered and is sent in the next session;
 * ASYLINK_E_NOT_FOUND (another thread unsubscribed the name meanwhile);
 * ASYLINK_E_SHUTDOWN; ASYLINK_E_NOMEM; ASYLINK_E_REENTRANT (a library
 * thread or the log callback). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_subscribe(asylink_client *c, const char *topic_prefix,
                                                       const char *name, asylink_start start,
                                                       uint64_t start_value, int timeout_ms)
    ASYLINK_NONNULL(2, 3);

/*
 * Stops a subscription in this client (delete_cursor nonzero: forget it at
 * the broker too, also for a name this client did not subscribe). Does not
 * wait for the broker; deliveries still in flight are handed back to it.
 * Errors: ASYLINK_E_INVALID_ARG (c NULL, a bad name), ASYLINK_E_NOMEM,
 * ASYLINK_E_SHUTDOWN, ASYLINK_E_REENTRANT (a library thread or the log
 * callback). Thread-safe.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_unsubscribe(asylink_client *c, const char *name,
                                                         int delete_cursor) ASYLINK_NONNULL(2);

/* ======================================================================
 * Message ids as text.
 *
 * A message id is 16 bytes (a UUIDv7). asylink writes it in one form
 * everywhere -- the command line, the broker's logs and admin answers, the
 * Python binding -- the 8-4-4-4-12 lowercase hex of RFC 9562:
 * "0190a3f2-7c1e-7b3a-9f00-2c5d8e4b1a77". Applications that show or store
 * ids as text should use these two functions to get the same form.
 * Neither needs a client; both are thread-safe and keep no state.
 * ====================================================================== */

/* Bytes of an id's text form, with its terminating NUL. */
#define ASYLINK_ID_TEXT_LEN 37

/*
 * Writes the 16-byte id as 36 characters of 8-4-4-4-12 lowercase hex and
 * a NUL into out (ASYLINK_ID_TEXT_LEN bytes, owned by the caller).
 * Returns out. Cannot fail.
 */
ASYLINK_EXPORT const char *asylink_id_format(const uint8_t id[16], char out[ASYLINK_ID_TEXT_LEN])
    ASYLINK_NONNULL(1, 2);

/*
 * Parses an id written as 8-4-4-4-12 hex (dashes exactly there) or as 32
 * hex digits without dashes; upper or lower case. Writes the 16 bytes to
 * out only on success. Errors: ASYLINK_E_BAD_FIELD (anything else: another
 * length, a misplaced dash, a non-hex character, surrounding blanks).
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_id_parse(const char *text, uint8_t out[16])
    ASYLINK_NONNULL(1, 2);

/* ======================================================================
 * Payloads as JSON.
 *
 * The payload types of asylink's message catalogue -- every message of
 * proto/asylink/v1/asylum.proto ("asylink.v1.InformationRequest",
 * "asylink.v1.MonthlyStatistics", ...) and envelope.proto's
 * "asylink.v1.Receipt" -- convert between their protobuf bytes (what
 * asylink_send() sends and asylink_message_payload() gives) and JSON, by
 * the same code the asylink command line uses (send --payload, recv
 * --json, subscribe), so both give the same JSON for the same bytes.
 *
 * The mapping is proto3's JSON mapping: a message is an object; output
 * keys are the .proto field names ("reporting_country"), input takes them
 * or their lowerCamelCase JSON names ("reportingCountry"); 32-bit
 * integers, bool and string as JSON numbers, true/false and strings;
 * 64-bit integers as numbers (strings accepted on input; written as
 * strings only above 2^63-1); float and double as numbers ("NaN",
 * "Infinity", "-Infinity" as strings); enums by value name (numbers
 * accepted on input); bytes as base64 (standard or URL-safe, padded or
 * not, on input); repeated fields as arrays; null on input means the
 * default. Output lists every field, defaults too, in field-number order;
 * unset nested messages are left out.
 *
 * None of these functions needs a client; all are thread-safe and keep no
 * state. Buffers they return belong to the caller, who frees them with
 * asylink_free().
 * ====================================================================== */

/* The number of payload types this library converts. Thread-safe. */
ASYLINK_EXPORT size_t asylink_payload_type_count(void);

/*
 * The full name of payload type i ("asylink.v1.MonthlyStatistics"), a
 * static string; NULL when i >= asylink_payload_type_count(). Thread-safe.
 */
ASYLINK_EXPORT const char *asylink_payload_type_name(size_t i);

/* Flags of asylink_payload_to_json(). */
#define ASYLINK_JSON_PRETTY 1u /* indent by two spaces, one key per line (default: one line) */

/*
 * Converts a payload (len bytes; may be NULL when len is 0, the
 * all-default message) of payload type content_type into JSON text: *json
 * is a new NUL-terminated string (freed with asylink_free()), NULL on
 * error. flags: 0 or ASYLINK_JSON_PRETTY. Errors: ASYLINK_E_INVALID_ARG
 * (payload NULL with len > 0, an unknown flag); ASYLINK_E_NOT_FOUND
 * (content_type is not a payload type, e.g. "text/plain": such payloads
 * are the application's own bytes); ASYLINK_E_MALFORMED (the bytes are not
 * a message of that type, or one of its string fields is not UTF-8);
 * ASYLINK_E_NOMEM.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_payload_to_json(const char *content_type,
                                                             const void *payload, size_t len,
                                                             unsigned flags, char **json)
    ASYLINK_NONNULL(1, 5);

/*
 * Converts JSON text (NUL-terminated; one object) into the protobuf bytes
 * of payload type content_type, ready for asylink_send() or
 * asylink_publish(): *payload is a new buffer of *len bytes (freed with
 * asylink_free(); non-NULL even when *len is 0, for an all-default
 * message), NULL and 0 on error. On error, err (errlen bytes; may be NULL
 * when errlen is 0) receives one line saying why, naming the JSON path of
 * the offending field ("rows[2].decisions.total: expected an integer"),
 * else "". Errors: ASYLINK_E_NOT_FOUND (content_type is not a payload
 * type); ASYLINK_E_MALFORMED (not JSON, duplicate keys, or not an object);
 * ASYLINK_E_BAD_FIELD (an unknown key, a value of the wrong type or out of
 * range, an unknown enum name, bad base64); ASYLINK_E_NOMEM.
 */
ASYLINK_EXPORT ASYLINK_NODISCARD int asylink_payload_from_json(const char *content_type,
                                                               const char *json, uint8_t **payload,
                                                               size_t *len, char *err,
                                                               size_t errlen)
    ASYLINK_NONNULL(1, 2, 3, 4);

#ifdef __cplusplus
}
#endif
#endif /* ASYLINK_ASYLINK_H */
