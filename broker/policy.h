/*
 * policy.h — the broker's access policy (DESIGN section 8): who may send
 * directly to whom and at which classification, who may publish and read
 * which topics, and how long messages are kept. Deny by default: whatever
 * the file does not allow is refused.
 *
 * The policy file is INI, read with libinih (same lexical rules as the
 * broker config, core/config.h: ';' or '#' starts a comment line, " ;"
 * starts an inline comment, lines of at most 199 bytes, names match
 * exactly). Five sections, each optional; every other section is an error.
 *
 *   [direct]            ; <sender role> = <recipient roles it may send to directly>
 *   member_state = member_state, agency
 *   agency = member_state, agency
 *
 *   [classification]    ; <sender role> = <classifications it may send directly>
 *   member_state = PUBLIC, LIMITED, PERSONAL
 *   agency = PUBLIC, LIMITED, PERSONAL
 *
 *   [publish]           ; <topic prefix> = <roles that may publish under it>
 *   stats.monthly = agency
 *   stats.monthly.{sender} = member_state, agency   ; DE only on stats.monthly.DE
 *   coi = agency
 *
 *   [subscribe]         ; <topic prefix> = <roles that may read it>
 *   stats = member_state, agency, analyst
 *   coi = member_state, agency, analyst
 *
 *   [limits]
 *   personal_max_retention = 30d  ; cap on the expiry of PERSONAL messages, 0 = no cap
 *   max_retention = 90d           ; cap on the expiry of every message, 0 = no cap
 *
 * Values:
 *   role lists   comma-separated role names: member_state, agency, analyst,
 *                operator, broker (exact case; "ca" is refused: the CA never
 *                connects). The single word "none" is the empty set, e.g. to
 *                close a subtree of topics: "coi.draft = none". An empty
 *                value is an error (write "none" if you mean it).
 *   class lists  comma-separated PUBLIC, LIMITED, PERSONAL (any case), or none.
 *   prefixes     a topic name as core/envelope.h topic_valid() accepts
 *                (dotted labels of A-Z a-z 0-9 _ -), case-sensitive. In
 *                [publish] one whole label may be {sender}: the rule then
 *                stands, for each publisher, for the prefix with its node
 *                id there ("stats.monthly.{sender}" is "stats.monthly.DE"
 *                for DE, "stats.monthly.EUAA.ANALYSIS" for EUAA.ANALYSIS).
 *   durations    as core/config.h DURATION: "30d", "12h", "0".
 * A key given twice in one section is an error.
 *
 * Rules:
 *   direct       a message from S to R at classification C is allowed when
 *                one role s of S has R's role listed under [direct] s AND C
 *                listed under [classification] s; for several recipients
 *                the caller checks each. A sender role under [direct] with
 *                no [classification] key (or the reverse) is a load error,
 *                since it is half a rule.
 *   topics       a prefix matches a topic on whole dotted labels: "stats"
 *                matches "stats" and "stats.monthly.DE" but not "statsx".
 *                Of the rules that match, the longest prefix alone decides
 *                (so "stats.internal = agency" narrows "stats = ..."). No
 *                matching rule: denied.
 *   publish      the longest [publish] rule matching the topic lists one of
 *                the sender's roles, and the classification is PUBLIC or
 *                LIMITED: feeds never carry PERSONAL data. A {sender} rule
 *                matches with the publisher's id in place and counts with
 *                that length; at equal length a rule naming the prefix
 *                outright wins. So with "stats.monthly = agency" and
 *                "stats.monthly.{sender} = member_state", DE publishes on
 *                stats.monthly.DE but not on stats.monthly.FR (only the
 *                agency rule matches there), and EUAA on either.
 *   read         (policy_may_read) the longest [subscribe] rule matching
 *                the topic lists one of the reader's roles.
 *   subscribe    a subscription prefix P is allowed only when the reader
 *                may read EVERY topic that P can match: the longest
 *                [subscribe] rule matching P lists one of the reader's
 *                roles, and so does every rule longer than P under it.
 *                So "stats" is refused when only "stats.monthly" is
 *                readable, or when "stats.internal" is closed to the reader.
 *   roles        a node with several roles is allowed when ANY role is; for
 *                direct messages the same sender role must grant both the
 *                recipient and the classification.
 *   retention    see policy_retention_cap().
 *
 * A file with no rules loads and denies everything. [limits] defaults:
 * personal_max_retention = 30d, max_retention = 90d. personal_max_retention
 * above a non-zero max_retention is a load error.
 *
 * Threading: a policy is immutable after policy_load(); share it between
 * threads freely. Reloading (SIGHUP) loads a new policy and swaps the
 * pointer; the old one is destroyed when no thread uses it any more.
 * Existing subscriptions must be checked again after a reload.
 */
#ifndef ASYLINK_BROKER_POLICY_H
#define ASYLINK_BROKER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default [limits] when the file does not set them, in milliseconds. */
#define POLICY_DEFAULT_PERSONAL_MAX_RETENTION_MS (30ull * 24 * 3600 * 1000)
#define POLICY_DEFAULT_MAX_RETENTION_MS (90ull * 24 * 3600 * 1000)

/* Most rules in [publish] or [subscribe] each. */
#define POLICY_MAX_TOPIC_RULES 4096

/* The label of a [publish] prefix that stands for the publisher's node id. */
#define POLICY_SENDER "{sender}"

typedef struct policy policy;

/*
 * Loads the policy file at path into a new policy (*out, caller destroys).
 * On error *out is untouched and err (errlen bytes, may be NULL/0) holds one
 * line naming the file, the line and the key, e.g.
 *   policy.ini:7: [direct] member_state: unknown role "agencyy" (roles: ...)
 * Returns ASYLINK_OK; ASYLINK_E_CONFIG (syntax or content error);
 * ASYLINK_E_IO (cannot open or read the file); ASYLINK_E_NOMEM;
 * ASYLINK_E_INVALID_ARG (path or out NULL).
 */
int policy_load(const char *path, policy **out, char *err, size_t errlen);

/* Frees *self_p and sets it to NULL. Accepts NULL and *self_p == NULL. */
void policy_destroy(policy **self_p);

/*
 * May a node with sender_roles send a direct message of classification
 * (enum envelope_class) to a node with recipient_roles? Role sets are
 * CERT_ROLE_BIT masks. Returns ASYLINK_OK or ASYLINK_E_POLICY (also for an
 * unknown classification or an empty role set). No allocation.
 */
int policy_check_direct(const policy *p, uint32_t sender_roles, uint32_t recipient_roles,
                        int classification);

/* Whether node_id names a node of the federation (any certificate of it). */
typedef bool (*policy_node_known_fn)(void *ctx, const char *node_id);

/*
 * May node sender (its node id, for {sender} rules; NULL or an invalid id
 * matches none of them) with sender_roles publish an envelope of
 * classification on topic? PERSONAL, unknown classifications, an invalid
 * or NULL topic: ASYLINK_E_POLICY. Returns ASYLINK_OK or ASYLINK_E_POLICY.
 *
 * Node ids may nest (EUAA and EUAA.ANALYSIS): a topic under a {sender}
 * rule's prefix for sender that is also under the same rule's prefix for
 * a known node whose id is sender's followed by more of the topic's labels
 * is that node's bound topic, not sender's (the longer prefix wins, as
 * between rules), so the rule does not reach it for sender. known (may be
 * NULL: no node nests) says which node ids exist; ctx is passed to it.
 */
int policy_check_publish(const policy *p, uint32_t sender_roles, const char *sender,
                         const char *topic, int classification, policy_node_known_fn known,
                         void *ctx);

/*
 * May a node with reader_roles subscribe to topic_prefix (the whole-label
 * prefix of the topics it wants)? Allowed only if the reader may read every
 * topic the prefix matches (see "subscribe" above). An invalid or NULL
 * prefix (including "" and "stats.") is refused. Returns ASYLINK_OK or
 * ASYLINK_E_POLICY. Feed delivery should still call policy_may_read() per
 * message, which costs little and survives policy reloads.
 */
int policy_check_subscribe(const policy *p, uint32_t reader_roles, const char *topic_prefix);

/*
 * True if a node with reader_roles may read envelopes published on topic
 * (the Directory uses it to choose who gets key wraps). False for an
 * invalid or NULL topic.
 */
bool policy_may_read(const policy *p, uint32_t reader_roles, const char *topic);

/*
 * The expiry (ms since the epoch, 0 = never) the broker stores for a
 * message created at created_ms that asks for expires_ms (0 = never):
 * the earlier of expires_ms and created_ms + cap, where cap is
 * personal_max_retention for PERSONAL (or max_retention if that is
 * smaller or the personal cap is 0) and max_retention otherwise. A cap of
 * 0 means none; the sum saturates at UINT64_MAX. Retention counts from
 * creation, so a message resent long after an outage may already be due.
 */
uint64_t policy_retention_cap(const policy *p, int classification, uint64_t created_ms,
                              uint64_t expires_ms);

#endif
