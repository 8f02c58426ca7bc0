/*
 * auditchain.h — the broker's audit trail as bytes: the canonical record
 * (asylink.v1.AuditRecord), the chain hash, signed checkpoints
 * (asylink.v1.SignedAuditCheckpoint) and a verifier that walks a chain.
 * Shared by asylinkd (which writes and verifies its own log) and the
 * asylink tool (which verifies a copied data directory offline, or the
 * pages an admin endpoint sends). docs/PROTOCOL.md "Audit trail" is the
 * specification; this header is its C form.
 *
 *   entry_hash(n) = BLAKE2b-256(AUDITCHAIN_ENTRY_DOMAIN || entry_hash(n-1) || lp(record(n)))
 *   entry_hash(0) = 32 zero bytes (the start of a log that was never pruned)
 *   checkpoint signature = Ed25519(broker sign sk,
 *                                  AUDITCHAIN_CHECKPOINT_DOMAIN || lp(checkpoint))
 *   lp(x) = u32 big-endian length || x
 *
 * A stored entry (the value under key seq, 8 bytes big-endian, in the
 * store's `audit` database) is entry_hash(32) || record.
 *
 * Threading: no global state; a verifier is used by one thread.
 */
#ifndef ASYLINK_CORE_AUDITCHAIN_H
#define ASYLINK_CORE_AUDITCHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDITCHAIN_HASH_LEN 32
#define AUDITCHAIN_SIG_LEN 64
#define AUDITCHAIN_ENTRY_DOMAIN "asylink.audit.entry.v1"
#define AUDITCHAIN_CHECKPOINT_DOMAIN "asylink.audit.checkpoint.v1"
#define AUDITCHAIN_REASON_DOMAIN "asylink.audit.reason.v1"
#define AUDITCHAIN_DETAIL_MAX 255          /* longest detail text, bytes */
#define AUDITCHAIN_NAME_MAX 255            /* longest node id, topic, subscription, request name */
#define AUDITCHAIN_MAX_RECIPIENTS 1024     /* most recipients in one record */
#define AUDITCHAIN_RECORD_MAX (512 * 1024) /* longest record this code accepts, bytes */
#define AUDITCHAIN_CHECKPOINT_MAX 1024     /* longest signed checkpoint, bytes */

/* Kinds, numbered as asylink.v1.AuditKind. */
enum auditchain_kind {
    AUDIT_ACCEPTED = 1,
    AUDIT_REJECTED = 2,
    AUDIT_DELIVERED = 3,
    AUDIT_ACKED = 4,
    AUDIT_NACKED = 5,
    AUDIT_DEAD_LETTERED = 6,
    AUDIT_EXPIRED = 7,
    AUDIT_PURGED = 8,
    AUDIT_CONNECTED = 9,
    AUDIT_DISCONNECTED = 10,
    AUDIT_AUTH_FAILED = 11,
    AUDIT_ADMIN = 12,
    AUDIT_RELOADED = 13,
    AUDIT_STARTED = 14,
    AUDIT_STOPPED = 15,
    AUDIT_DUPLICATE = 16,
    AUDIT_DLQ_REPLAYED = 17,
    AUDIT_DLQ_DROPPED = 18,
    AUDIT_SWEPT = 19,
    AUDIT_SUBSCRIBED = 20,
    AUDIT_UNSUBSCRIBED = 21,
    AUDIT_CURSOR = 22,
    AUDIT_CRL_RECORDED = 23,
    AUDIT_PRUNED = 24,
    AUDIT_KIND_MAX = 24
};

/* Short name of a kind ("ACCEPTED", ...), "UNKNOWN" otherwise. */
const char *auditchain_kind_name(int kind);

/*
 * One record. For encoding every pointer is borrowed (NULL = absent); a
 * decoded record's pointers live as long as its auditchain_decoded.
 * Strings must be valid UTF-8 without NUL (node ids are checked by their
 * producers; free text goes through auditchain_clean_text()).
 */
typedef struct auditchain_record {
    uint64_t seq;                  /* from 1, no gaps */
    uint64_t time_ms;              /* broker clock */
    int kind;                      /* enum auditchain_kind */
    const char *actor;             /* node id that caused it */
    uint64_t actor_cert_serial;    /* its certificate serial; 0 = unknown */
    const uint8_t *message_id;     /* 16 bytes, or NULL */
    const char *sender;            /* message sender */
    const char *const *recipients; /* n_recipients node ids */
    size_t n_recipients;
    const char *topic;              /* feed topic */
    const uint8_t *envelope_digest; /* 64 bytes, or NULL */
    uint64_t envelope_size;         /* envelope bytes */
    int classification;             /* enum envelope_class; 0 = none */
    uint64_t store_seq;             /* store sequence of the message */
    uint32_t attempt;               /* delivery attempt / attempts */
    int code;                       /* asylink_err */
    const char *detail;             /* short text (<= AUDITCHAIN_DETAIL_MAX bytes) */
    const char *subscription;       /* durable subscription name */
    uint64_t count;                 /* kind-specific number (see audit.proto) */
    const char *request;            /* admin request member */
    uint64_t expires_ms;            /* accepted: expiry kept; 0 = never */
    uint64_t anchor_seq;            /* pruned: the new anchor checkpoint's entry */
    const uint8_t *reason_digest;   /* AUDITCHAIN_HASH_LEN bytes: a recipient's reason, hashed
                                       (auditchain_reason_digest()), or NULL */
    uint32_t reason_size; /* that reason's bytes (1..AUDITCHAIN_DETAIL_MAX) with reason_digest,
                             else 0 */
} auditchain_record;

/*
 * Serializes r canonically into buf (cap bytes); *len its length.
 * ASYLINK_OK; ASYLINK_E_TOO_LARGE (does not fit cap or AUDITCHAIN_RECORD_MAX);
 * ASYLINK_E_BAD_FIELD (seq 0, kind out of range, a string not valid UTF-8
 * or too long, too many recipients); ASYLINK_E_INVALID_ARG.
 */
int auditchain_record_encode(const auditchain_record *r, uint8_t *buf, size_t cap, size_t *len);

/*
 * Rewrites the seq of an encoded record in place (seq is a fixed64 and
 * always the first field: bytes 0x09 then seq little-endian), so that a
 * record can be encoded before its place in the chain is known. False if
 * rec does not start that way or seq is 0.
 */
bool auditchain_record_set_seq(uint8_t *rec, size_t len, uint64_t seq);

/* Upper bound of the encoded size of r (what to allocate for encode). */
size_t auditchain_record_bound(const auditchain_record *r);

/* A decoded record: owns the memory its view points into. */
typedef struct auditchain_decoded auditchain_decoded;

/*
 * Decodes a record. Accepts only the canonical encoding of a valid record
 * (as auditchain_record_encode() checks). Caller destroys *out.
 * ASYLINK_OK; ASYLINK_E_MALFORMED (not a record, or not canonical);
 * ASYLINK_E_BAD_FIELD (decodes, but a field is invalid); ASYLINK_E_NOMEM.
 */
int auditchain_record_decode(const uint8_t *buf, size_t len, auditchain_decoded **out);

/* The record's fields. Valid while d lives. */
const auditchain_record *auditchain_decoded_record(const auditchain_decoded *d);

void auditchain_decoded_destroy(auditchain_decoded **self_p);

/*
 * Copies text into out (cap bytes, NUL-terminated, at most
 * AUDITCHAIN_DETAIL_MAX bytes of text), replacing every byte that is not
 * printable ASCII or part of a valid UTF-8 sequence with '?', and cutting
 * only between characters. For free text from the network (reasons).
 */
void auditchain_clean_text(const char *text, char *out, size_t cap);

/*
 * A recipient's free-text reason (a Nack's) as the audit trail keeps it:
 * out = BLAKE2b-256(AUDITCHAIN_REASON_DOMAIN || text[0..len)), the text's
 * bytes exactly as received. The record holds this digest and len instead
 * of the text, which may name a person and would outlive an erasure in the
 * chain; whoever holds the text can show that it was the reason
 * (PROTOCOL.md 13.1).
 */
void auditchain_reason_digest(const char *text, size_t len, uint8_t out[AUDITCHAIN_HASH_LEN]);

/* entry_hash = BLAKE2b-256(domain || prev || lp(record)). */
void auditchain_hash(const uint8_t prev[AUDITCHAIN_HASH_LEN], const uint8_t *record, size_t len,
                     uint8_t out[AUDITCHAIN_HASH_LEN]);

/* A checkpoint's statement. */
typedef struct auditchain_checkpoint {
    uint64_t seq;                            /* the entry it covers, >= 1 */
    uint8_t entry_hash[AUDITCHAIN_HASH_LEN]; /* that entry's hash */
    uint64_t time_ms;                        /* when it was signed */
    char broker_node_id[AUDITCHAIN_NAME_MAX + 1];
    uint64_t cert_serial; /* the signing certificate */
} auditchain_checkpoint;

/*
 * Signs c with the broker's Ed25519 secret key (64 bytes, libsodium form)
 * and serializes the SignedAuditCheckpoint into buf (cap bytes, at least
 * AUDITCHAIN_CHECKPOINT_MAX is always enough). ASYLINK_OK;
 * ASYLINK_E_BAD_FIELD (seq 0, invalid node id); ASYLINK_E_TOO_LARGE.
 */
int auditchain_checkpoint_sign(const auditchain_checkpoint *c, const uint8_t sign_sk[64],
                               uint8_t *buf, size_t cap, size_t *len);

/*
 * Decodes a SignedAuditCheckpoint into *out and copies its 64-byte
 * signature into sig. Does not check the signature. ASYLINK_OK; ASYLINK_E_MALFORMED (not canonical,
 * wrong sizes); ASYLINK_E_BAD_FIELD; ASYLINK_E_NOMEM.
 */
int auditchain_checkpoint_decode(const uint8_t *buf, size_t len, auditchain_checkpoint *out,
                                 uint8_t sig[AUDITCHAIN_SIG_LEN]);

/*
 * Decodes and checks the signature of a SignedAuditCheckpoint against
 * sign_pk. ASYLINK_OK; ASYLINK_E_BAD_SIGNATURE; decode errors as above.
 */
int auditchain_checkpoint_verify(const uint8_t *buf, size_t len, const uint8_t sign_pk[32],
                                 auditchain_checkpoint *out);

/* ---- verifying a chain ---- */

/*
 * The public key that signed checkpoints of (broker node id, certificate
 * serial), or NULL if unknown. ctx is the verifier's.
 */
typedef const uint8_t *(*auditchain_key_fn)(void *ctx, const char *broker_node_id,
                                            uint64_t cert_serial);

/* Outcome of a verification. */
typedef struct auditchain_result {
    bool ok;                                /* everything checked holds */
    uint64_t entries;                       /* entries checked */
    uint64_t checkpoints;                   /* checkpoints whose signature was checked */
    uint64_t first_seq, last_seq;           /* range of entries checked; 0 if none */
    uint64_t anchor_seq;                    /* checkpoint the log starts from; 0 = genesis */
    uint8_t prev_hash[AUDITCHAIN_HASH_LEN]; /* hash the range starts from */
    uint8_t head_hash[AUDITCHAIN_HASH_LEN]; /* entry hash of last_seq */
    uint64_t first_bad_seq;                 /* first broken or missing entry; 0 if ok */
    char reason[256];                       /* what is wrong, for a person */
} auditchain_result;

typedef struct auditchain_verifier auditchain_verifier;

/*
 * A verifier. key (may be NULL: checkpoint signatures are then reported
 * unchecked, which is a failure) finds checkpoint keys. ASYLINK_OK or
 * ASYLINK_E_NOMEM.
 */
int auditchain_verifier_new(auditchain_key_fn key, void *ctx, auditchain_verifier **out);

void auditchain_verifier_destroy(auditchain_verifier **self_p);

/*
 * Hands over one stored checkpoint (key seq, value): before the entries
 * they refer to, e.g. all of them first. A checkpoint that does not decode
 * or whose signature fails makes the result fail at its seq.
 */
void auditchain_verifier_checkpoint(auditchain_verifier *v, uint64_t key_seq, const uint8_t *val,
                                    size_t len);

/*
 * Starts a range at entry from_seq whose predecessor's hash is prev (a
 * page of a longer verification). Without this call the first entry fed
 * decides: seq 1 starts from zeros, a later seq needs a checkpoint at
 * seq - 1 (the anchor left by pruning).
 */
void auditchain_verifier_start_at(auditchain_verifier *v, uint64_t from_seq,
                                  const uint8_t prev[AUDITCHAIN_HASH_LEN]);

/*
 * The seq of the log's first stored entry, for a walk that covers only a
 * page of the log (auditchain_verifier_start_at()): the end check of the
 * last PRUNED record walked (PROTOCOL.md 13.6 step 4) compares its anchor
 * with where the log starts, not with where the page does. Without this
 * call the first entry fed is taken as the log's first.
 */
void auditchain_verifier_log_first(auditchain_verifier *v, uint64_t first_seq);

/*
 * For a walk over a page of a log that starts after entry 1 (the broker
 * checks a long log in pages): seq is the entry the store names as the
 * log's last PRUNED record (0: it records none). The page that walks seq
 * checks that it is the last PRUNED record walked and that its anchor is
 * where the log starts (auditchain_verifier_log_first()); the last page
 * (complete) fails a log that starts after entry 1 with none recorded, or
 * with one beyond its end. Without this call a page cannot tell a pruned
 * log from one whose oldest entries were cut.
 */
void auditchain_verifier_last_pruned(auditchain_verifier *v, uint64_t seq);

/*
 * Feeds the next stored entry (key seq, value = entry_hash || record), in
 * ascending key order. Returns false once the chain is broken (stop
 * feeding; the result names the entry).
 */
bool auditchain_verifier_entry(auditchain_verifier *v, uint64_t key_seq, const uint8_t *val,
                               size_t len);

/*
 * Ends the walk. complete: the entries fed were the whole log (then a
 * checkpoint beyond the last entry means entries are missing at the end).
 * Fills *out.
 */
void auditchain_verifier_finish(auditchain_verifier *v, bool complete, auditchain_result *out);

#endif
