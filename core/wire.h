/*
 * wire.h — the client <-> broker protocol commands (asylink.v1.Command in
 * proto/asylink/v1/broker.proto) in core's own types. This is the codec
 * layer: only core/wire.c touches the generated protobuf-c types.
 *
 * A ZeroMQ message is one Command frame, plus the raw envelope as a second
 * frame for Publish and Deliver (carried outside wire_cmd: the broker
 * forwards envelope bytes without re-encoding them).
 *
 * Decoding treats its input as hostile: only the canonical encoding
 * (codec.h) is accepted, strings are length-checked into fixed buffers,
 * node ids and topics must be valid, repeated fields are bounded.
 *
 * Threading: functions are reentrant; a wire_cmd belongs to one thread.
 */
#ifndef ASYLINK_CORE_WIRE_H
#define ASYLINK_CORE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"

#define WIRE_PROTOCOL_VERSION 1              /* the version every peer speaks */
#define WIRE_PROTOCOL_PACKED 2               /* version 1 plus Packed frames (PROTOCOL.md 11.2.1) */
#define WIRE_MAX_PACKED 1024                 /* most items in one Packed frame */
/* Senders close a Packed frame at this size: its buffers (the frame, ZeroMQ's CURVE copy of
   it) stay under glibc's mmap threshold, so they are reused, not mapped and faulted anew */
#define WIRE_PACK_BYTES (512u * 1024u)
#define WIRE_REASON_MAX 255                  /* human reasons are cut to this many bytes */
#define WIRE_NAME_MAX 64                     /* client names, versions, subscription names */
#define WIRE_MAX_SEQUENCES 4096              /* most sequences in one Ack / Nack */
#define WIRE_MAX_DIRECTORY 4096              /* most certificates / node ids in a Directory */
#define WIRE_MAX_COMMAND (64u * 1024u * 1024u) /* largest Command frame accepted */
#define WIRE_ADMIN_MAX_IDS 1000 /* most dead letter ids in one replay / drop request */
/* The smallest Limits.max_envelope_bytes a conforming broker may announce (PROTOCOL.md 11.3):
   a Welcome below it is a protocol error, not a limit to apply to the outbox. */
#define WIRE_ENVELOPE_FLOOR (64u * 1024u)
/* The smallest Limits.heartbeat_interval_ms and heartbeat_timeout_ms a conforming broker may
   announce (PROTOCOL.md 4.8), and heartbeat_timeout_ms is at least twice heartbeat_interval_ms:
   a Welcome below them is a protocol error (a session that would be dropped constantly). */
#define WIRE_HEARTBEAT_INTERVAL_FLOOR_MS 100u
#define WIRE_HEARTBEAT_TIMEOUT_FLOOR_MS 1000u
/* The most a client takes of Limits.heartbeat_interval_ms and heartbeat_timeout_ms (PROTOCOL.md
   4.8): a larger value is used as the ceiling, so that a hostile or misconfigured broker
   announcing hours or days cannot keep a client from noticing a dead connection (pinging more
   often than asked, and giving up sooner, is always allowed). */
#define WIRE_HEARTBEAT_INTERVAL_CEILING_MS 60000u
#define WIRE_HEARTBEAT_TIMEOUT_CEILING_MS 300000u

/* The command kinds; numbers are the oneof field numbers of Command.body. */
typedef enum wire_kind {
    WIRE_NONE = 0,
    WIRE_HELLO = 2,
    WIRE_WELCOME = 3,
    WIRE_PUBLISH = 4,
    WIRE_ACCEPTED = 5,
    WIRE_REJECTED = 6,
    WIRE_DELIVER = 7,
    WIRE_ACK = 8,
    WIRE_NACK = 9,
    WIRE_CREDIT = 10,
    WIRE_SUBSCRIBE = 11,
    WIRE_UNSUBSCRIBE = 12,
    WIRE_DIRECTORY_REQUEST = 13,
    WIRE_DIRECTORY = 14,
    WIRE_ERROR = 15,
    WIRE_BYE = 16,
    WIRE_HEARTBEAT = 17,
    WIRE_ADMIN_REQUEST = 18, /* decoded and encoded; AdminResponse: see below */
    WIRE_SUBSCRIBED = 20,
    WIRE_UNSUBSCRIBED = 21,
} wire_kind;

/* Limits (asylink.v1.Limits). */
typedef struct wire_limits {
    uint64_t max_envelope_bytes;
    uint32_t max_in_flight;
    uint32_t heartbeat_interval_ms;
    uint32_t heartbeat_timeout_ms;
    uint32_t clock_skew_tolerance_ms;
    uint32_t max_recipients;
    uint32_t max_ack_batch;
    uint32_t max_deliveries;
} wire_limits;

typedef struct wire_hello {
    uint32_t protocol_version;
    char node_id[NODE_ID_MAX + 1];
    char client_name[WIRE_NAME_MAX + 1];
    char client_version[WIRE_NAME_MAX + 1];
    uint32_t heartbeat_interval_ms;
    uint32_t initial_credit_messages;
    uint64_t initial_credit_bytes;
    uint64_t client_time_ms;
} wire_hello;

typedef struct wire_welcome {
    uint32_t protocol_version;
    char broker_node_id[NODE_ID_MAX + 1];
    wire_limits limits;
    uint64_t server_time_ms;
    uint8_t session_id[16];
    uint32_t roles; /* CERT_ROLE_BIT mask */
    uint64_t client_cert_serial;
    char broker_version[WIRE_NAME_MAX + 1];
} wire_welcome;

typedef struct wire_publish {
    uint8_t message_id[16];
} wire_publish;

typedef struct wire_accepted {
    uint8_t message_id[16];
    bool duplicate;
    uint64_t store_sequence;
    uint64_t accepted_ms;
} wire_accepted;

typedef struct wire_rejected {
    uint8_t message_id[16]; /* zero if unknown */
    bool has_message_id;
    int code; /* asylink_err */
    char reason[WIRE_REASON_MAX + 1];
    bool retryable;
} wire_rejected;

typedef struct wire_deliver {
    uint64_t sequence;
    uint32_t attempt;
    char subscription[WIRE_NAME_MAX + 1];
    uint64_t accepted_ms;
    char topic[256];
} wire_deliver;

/* Ack and Nack share this shape; the sequences array is owned by the cmd. */
typedef struct wire_acks {
    uint64_t *sequences;
    size_t n_sequences;
    char subscription[WIRE_NAME_MAX + 1];
    int disposition; /* Nack: 1 retry (also for 0), 2 dead letter */
    int code;        /* Nack: asylink_err */
    char reason[WIRE_REASON_MAX + 1];
    uint32_t retry_after_ms; /* Nack */
} wire_acks;

#define WIRE_NACK_RETRY 1
#define WIRE_NACK_DEAD_LETTER 2

typedef struct wire_credit {
    uint32_t window_messages;
    uint64_t window_bytes;
} wire_credit;

typedef struct wire_subscribe {
    char topic_prefix[256];
    char subscription[WIRE_NAME_MAX + 1];
    int start; /* 1 new, 2 earliest, 3 sequence, 4 time (0 = new) */
    uint64_t start_value;
    bool reset;
} wire_subscribe;

typedef struct wire_subscribed {
    char subscription[WIRE_NAME_MAX + 1];
    char topic_prefix[256];
    bool created;
    uint64_t next_sequence;
    uint64_t head_sequence;
} wire_subscribed;

typedef struct wire_unsubscribe {
    char subscription[WIRE_NAME_MAX + 1];
    bool delete_cursor; /* Unsubscribe: delete; Unsubscribed: deleted */
} wire_unsubscribe;

/* DirectoryRequest: node ids and/or a topic. Arrays owned by the cmd. */
typedef struct wire_directory_request {
    char (*node_ids)[NODE_ID_MAX + 1];
    size_t n_node_ids;
    char topic[256];
} wire_directory_request;

/* Directory: serialized certificates (binary). Arrays owned by the cmd. */
typedef struct wire_directory {
    uint8_t **certificates;
    size_t *certificate_lens;
    size_t n_certificates;
    char (*unknown_node_ids)[NODE_ID_MAX + 1];
    size_t n_unknown;
    uint8_t *revocation_list;
    size_t revocation_list_len;
    char topic[256];
} wire_directory;

typedef struct wire_error {
    int code; /* asylink_err */
    char reason[WIRE_REASON_MAX + 1];
    bool fatal;                  /* Error: session ends */
    uint32_t reconnect_after_ms; /* Bye */
} wire_error;

typedef struct wire_heartbeat {
    bool pong;
    uint64_t sent_ms;
} wire_heartbeat;

/* AdminRequest members; numbers are the oneof field numbers of AdminRequest.request. */
typedef enum wire_admin_op {
    WIRE_ADMIN_NONE = 0,
    WIRE_ADMIN_STATS = 1,
    WIRE_ADMIN_NODES = 2,
    WIRE_ADMIN_QUEUES = 3,
    WIRE_ADMIN_TOPICS = 4,
    WIRE_ADMIN_DEAD_LETTERS = 5,
    WIRE_ADMIN_DEAD_LETTER_REPLAY = 6,
    WIRE_ADMIN_DEAD_LETTER_DROP = 7,
    WIRE_ADMIN_AUDIT_TAIL = 8,
    WIRE_ADMIN_AUDIT_VERIFY = 9,
    WIRE_ADMIN_PURGE = 10,
    WIRE_ADMIN_RELOAD = 11,
    WIRE_ADMIN_CONFIRM = 12,
    WIRE_ADMIN_PENDING = 13,
} wire_admin_op;

/*
 * One AdminRequest, flattened: only the fields of op are meaningful.
 * Decoding checks every field (node ids, text, lengths): purge needs a
 * sender and a 16-byte message id, confirm a pending_id.
 */
typedef struct wire_admin_request {
    wire_admin_op op;
    char node_id[NODE_ID_MAX + 1]; /* queues, dead_letters, replay, drop; "" = all;
                                      purge: the message's sender (required) */
    bool flag;                     /* nodes: connected_only; queues: non_empty_only;
                                      replay, drop: all; confirm: cancel */
    uint32_t limit;                /* dead_letters; audit_tail: count */
    uint64_t offset;               /* dead_letters */
    uint64_t *ids;                 /* replay, drop: owned by the cmd */
    size_t n_ids;
    bool trust, policy;               /* reload */
    uint64_t seq_from;                /* audit_tail, audit_verify: from_seq; confirm: pending_id */
    uint64_t seq_to;                  /* audit_verify: to_seq */
    char topic[256];                  /* topics: prefix; "" = all */
    uint8_t message_id[16];           /* purge */
    char reason[WIRE_REASON_MAX + 1]; /* purge: why (text, at most WIRE_REASON_MAX bytes) */
    char reference[WIRE_REASON_MAX + 1]; /* purge: case or ticket reference */
} wire_admin_request;

/* One command. Only the member named by kind is meaningful. */
typedef struct wire_cmd {
    wire_kind kind;
    uint64_t request_id;
    union {
        wire_hello hello;
        wire_welcome welcome;
        wire_publish publish;
        wire_accepted accepted;
        wire_rejected rejected;
        wire_deliver deliver;
        wire_acks ack; /* WIRE_ACK and WIRE_NACK */
        wire_credit credit;
        wire_subscribe subscribe;
        wire_subscribed subscribed;
        wire_unsubscribe unsubscribe; /* WIRE_UNSUBSCRIBE and WIRE_UNSUBSCRIBED */
        wire_directory_request directory_request;
        wire_directory directory;
        wire_error error; /* WIRE_ERROR and WIRE_BYE */
        wire_heartbeat heartbeat;
        wire_admin_request admin;
    } u;
} wire_cmd;

/*
 * Decodes one Command frame into *cmd (zeroed first). Returns ASYLINK_OK;
 * ASYLINK_E_MALFORMED (not protobuf, not canonical, no body, or a body kind
 * this codec does not handle: AdminResponse, see below); ASYLINK_E_TOO_LARGE;
 * ASYLINK_E_BAD_FIELD (wrong lengths, strings too long or with control
 * characters, too many sequences); ASYLINK_E_BAD_NODE_ID; ASYLINK_E_NOMEM.
 * Free with wire_cmd_clear() in every case.
 */
int wire_decode(const uint8_t *buf, size_t len, wire_cmd *cmd);

/*
 * wire_decode() through its general path only (pre-scan, protobuf-c,
 * canonical check), without the fast paths for Publish and the one pass
 * (codec_unpack_canonical): the same result by design. For tests and
 * fuzzers that check so.
 */
int wire_decode_general(const uint8_t *buf, size_t len, wire_cmd *cmd);

/*
 * Encodes cmd into a new malloc'd buffer (*out, caller frees). Strings are
 * taken up to their NUL. Returns ASYLINK_OK, ASYLINK_E_INVALID_ARG (unknown
 * kind), ASYLINK_E_NOMEM.
 */
int wire_encode(const wire_cmd *cmd, uint8_t **out, size_t *out_len);

/*
 * AdminResponse framing. The broker builds the AdminResponse message itself
 * (a serialized asylink.v1.AdminResponse, e.g. with pbjson) and frames it
 * as Command {request_id, admin_response}; the operator tool takes the
 * body back out. wire_admin_response_frame: *out malloc'd (caller frees);
 * ASYLINK_OK, ASYLINK_E_TOO_LARGE (body over WIRE_MAX_COMMAND),
 * ASYLINK_E_INVALID_ARG, ASYLINK_E_NOMEM.
 */
int wire_admin_response_frame(uint64_t request_id, const uint8_t *body, size_t body_len,
                              uint8_t **out, size_t *out_len);

/*
 * If buf is a Command holding exactly request_id (optional) and
 * admin_response, canonically framed, points *body into buf at the
 * serialized AdminResponse. ASYLINK_OK; ASYLINK_E_MALFORMED (another
 * command, or broken framing); ASYLINK_E_TOO_LARGE. The body itself is not
 * checked: decode it with the AdminResponse type.
 */
int wire_admin_response_body(const uint8_t *buf, size_t len, uint64_t *request_id,
                             const uint8_t **body, size_t *body_len);

/* Name of an admin op ("stats", "dead_letter_replay", ...), "unknown" otherwise. */
const char *wire_admin_op_name(wire_admin_op op);

/* ---- Packed frames (protocol version 2, PROTOCOL.md 11.2.1) ---- */

/* One item of a Packed frame: a command frame and the optional envelope frame, inside the frame. */
typedef struct wire_item {
    const uint8_t *cmd;
    size_t cmd_len; /* >= 1 */
    const uint8_t *env;
    size_t env_len; /* 0: no envelope frame */
} wire_item;

/* Walks the items of a checked Packed frame. */
typedef struct wire_unpacker {
    const uint8_t *p, *end;
} wire_unpacker;

/*
 * Whether buf begins as a Packed frame does (Command.packed's tag, no
 * request_id). Cheap; wire_unpack_begin() checks the rest.
 */
bool wire_is_packed(const uint8_t *buf, size_t len);

/*
 * Checks the whole Packed frame buf (len bytes) before anything in it is
 * used: canonical framing (Command with only `packed`, its items with a
 * non-empty command and an optional non-empty envelope, fields in order,
 * shortest varints, nothing else), 1 .. WIRE_MAX_PACKED items. The items'
 * commands are not decoded here (wire_decode each). On success *u walks
 * the items (slices into buf, which must outlive the walk) and *n_items
 * says how many. ASYLINK_OK; ASYLINK_E_MALFORMED; ASYLINK_E_TOO_LARGE
 * (over WIRE_MAX_COMMAND); ASYLINK_E_BAD_FIELD (no item, or more than
 * WIRE_MAX_PACKED).
 */
int wire_unpack_begin(wire_unpacker *u, const uint8_t *buf, size_t len, size_t *n_items);

/* The next item of a walk wire_unpack_begin() started; false after the last. */
bool wire_unpack_next(wire_unpacker *u, wire_item *it);

/*
 * Builds one Packed frame in a malloc'd block that keeps `room` bytes in
 * front of the frame for the caller (e.g. the broker's frame account).
 * Zero-initialize, then wire_packer_init(). Not thread-safe; one owner.
 */
typedef struct wire_packer {
    uint8_t *buf; /* the block: room, then head space, then the items */
    size_t cap;   /* bytes allocated */
    size_t len;   /* bytes used, from the start of the block */
    size_t room;  /* caller's bytes in front */
    size_t items; /* items added */
    size_t hint;  /* bytes the last finished block used: the next one starts at that size */
} wire_packer;

void wire_packer_init(wire_packer *p, size_t room);

/*
 * Adds one item: the command bytes (cmd_len >= 1) and the envelope (NULL,
 * 0 for none). ASYLINK_OK; ASYLINK_E_INVALID_ARG; ASYLINK_E_NOMEM. The
 * caller keeps to WIRE_MAX_PACKED items and about WIRE_PACK_BYTES.
 */
int wire_packer_add(wire_packer *p, const uint8_t *cmd, size_t cmd_len, const uint8_t *env,
                    size_t env_len);

/* Encodes c and adds it with env (may be NULL): as wire_encode() and wire_packer_add(). */
int wire_packer_add_cmd(wire_packer *p, const wire_cmd *c, const uint8_t *env, size_t env_len);

/* The size of the frame wire_packer_finish() would make now (0 when empty). */
size_t wire_packer_frame_len(const wire_packer *p);

/*
 * Finishes the frame: returns the block (the caller frees it; NULL if no
 * item was added), the frame at block + *off, *len bytes, *off >= room.
 * The packer is empty again (and may be reused).
 */
uint8_t *wire_packer_finish(wire_packer *p, size_t *off, size_t *len);

/* Frees the packer's block. Accepts a zeroed packer. */
void wire_packer_free(wire_packer *p);

/* Frees what a decoded command owns (arrays) and zeroes it. Accepts NULL. */
void wire_cmd_clear(wire_cmd *cmd);

/* Name of a kind ("Hello", "Publish", ...), "unknown" otherwise. */
const char *wire_kind_name(wire_kind kind);

#endif
