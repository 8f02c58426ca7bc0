/*
 * admin.h — the operator admin endpoint (broker.admin_endpoint): a second
 * ROUTER socket with CURVE (the broker's key), admitted by ZAP in the
 * domain AUTH_ADMIN_DOMAIN, which takes only certificates with
 * ROLE_OPERATOR (auth.h). Every message is one Command frame holding an
 * AdminRequest; the answer is an AdminResponse with the same member, or
 * an Error, echoing request_id.
 *
 * Served: stats, nodes, queues, dead_letters, dead_letter_replay,
 * dead_letter_drop, reload, audit_tail, audit_verify (admin_audit.c),
 * topics (admin_topics.c), purge (admin_erasure.c), confirm and pending
 * (four-eyes, approval.h).
 *
 * Four-eyes: with an approval table in the env, purge, dead_letter_drop
 * and a dead_letter_replay that touches a PERSONAL message are held (the
 * answer is the member's response with `pending` set) until an operator
 * with another node id confirms them (confirm), which executes them and
 * answers with their result; the one who asked cannot, and every step is
 * an ADMIN record in the audit trail.
 *
 * Every request is logged with the operator's node id, the member and the
 * result, and recorded in the audit trail (an ADMIN record; the store
 * changes a request makes carry the operator as their actor); never
 * payloads. Input is hostile: frames are capped at
 * ADMIN_MAX_FRAME bytes by the socket, a turn answers at most
 * ADMIN_TURN_BUDGET requests, and sends never block (answers to a peer
 * that does not read are dropped).
 *
 * Threading: router thread only (the router's poll loop calls
 * admin_handle_pending()).
 */
#ifndef ASYLINK_BROKER_ADMIN_H
#define ASYLINK_BROKER_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "approval.h"
#include "policy.h"
#include "router_stats.h"
#include "session.h"
#include "store.h"
#include "trust.h"
#include "wire.h"

#define ADMIN_MAX_FRAME (64 * 1024) /* largest admin message the socket accepts */
#define ADMIN_TURN_BUDGET 16        /* requests answered per router turn */
#define ADMIN_DEFAULT_LIMIT 100     /* dead letters per page when limit is 0 */
#define ADMIN_MAX_LIMIT 1000        /* most dead letters per page */
#define ADMIN_MAX_WINDOW                                                                           \
    100000 /* most of offset + limit (dead letters are                                             \
              ordered newest first in memory) */
#define ADMIN_AUDIT_TAIL_DEFAULT 20 /* audit events per tail answer when count is 0 */
#define ADMIN_AUDIT_TAIL_MAX 1000   /* most audit events per tail answer */
/* most entries one audit_verify checks (the router thread is busy meanwhile:
   a few tenths of a second) */
#define ADMIN_AUDIT_VERIFY_PAGE 100000
#define ADMIN_TOPICS_MAX 1000 /* most topics in one topics answer (total counts them all) */

/* What a reload reports (AdminReloadResponse). */
typedef struct admin_reload_result {
    uint32_t nodes;             /* node certificates loaded */
    uint32_t revoked;           /* serials on the loaded revocation list */
    uint64_t crl_number;        /* its number, 0 = none */
    uint32_t sessions_dropped;  /* sessions closed by the reload */
    char policy_digest_hex[65]; /* BLAKE2b-256 of the policy file, hex */
} admin_reload_result;

/* What a request may read and do; filled by the router for each turn. */
typedef struct admin_env {
    const char *broker_node_id;
    const char *policy_path;
    store *store;
    const session_table *sessions;
    const router_stats *stats;
    const trust *trust;
    uint64_t now_ms, started_ms;
    bool durable;
    int verify_workers;
    /* reloads trust and policy like SIGHUP; ASYLINK_OK or why (err says more) */
    int (*reload)(void *ctx, admin_reload_result *out, char *err, size_t errlen);
    /* dead letters of node were put back in its queue: deliver them */
    void (*replayed)(void *ctx, const char *node_id);
    struct audit *audit;  /* the audit trail, NULL = none (audit_* answer UNAVAILABLE) */
    const policy *policy; /* the policy in force (topic retention) */
    uint64_t dedup_window_ms; /* store.dedup_window: how long a purge's tombstone lasts */
    approval *approvals;      /* four-eyes: held requests; NULL = four-eyes off */
    void *ctx;
} admin_env;

/*
 * Creates the admin socket in ctx and binds it to endpoint, with CURVE
 * secret key box_sk. *bound (malloc'd, caller frees) is the endpoint
 * actually bound (port 0 resolved). NULL on failure (errno from zmq).
 */
void *admin_socket_new(void *ctx, const char *endpoint, const uint8_t box_sk[32], char **bound);

/*
 * Answers up to ADMIN_TURN_BUDGET pending requests without blocking; stops
 * after a reload (e->trust and e->policy belong to the view it replaced).
 */
void admin_handle_pending(void *sock, const admin_env *env);

/*
 * admin_audit.c: audit_tail and audit_verify. On ASYLINK_OK *body is the
 * member's JSON (a new reference) and why a log detail; else why says
 * what failed (the Error reason).
 */
int admin_audit_tail(const admin_env *e, const wire_admin_request *q, json_t **body, char *why,
                     size_t whylen);
int admin_audit_verify(const admin_env *e, const wire_admin_request *q, json_t **body, char *why,
                       size_t whylen);

/*
 * JSON of the answers (admin.c), for the member files: sets key to a new
 * value v (taken, also on failure); false when out of memory (v NULL or
 * the set failed). _u64 caps at INT64_MAX (a JSON integer).
 */
bool admin_json_set(json_t *o, const char *key, json_t *v);
bool admin_json_set_u64(json_t *o, const char *key, uint64_t v);

/*
 * admin_topics.c: topics (AdminTopicsResponse). Same contract as the audit
 * members above.
 */
int admin_topics(const admin_env *e, const wire_admin_request *q, json_t **body, char *why,
                 size_t whylen);

/*
 * admin_erasure.c: purge (AdminPurgeResponse) of q->node_id's message
 * q->message_id. approved_by (may be NULL) says how four-eyes approved it; it
 * goes into the PURGED audit record with the operator's reason and
 * reference. why never holds the operator's free text (it is logged).
 */
int admin_purge(const admin_env *e, const wire_admin_request *q, const char *approved_by,
                json_t **body, char *why, size_t whylen);

/* A PendingRequest JSON object of a held request (a new reference), NULL when out of memory. */
json_t *admin_pending_json(const approval_item *it);

/*
 * The summary of a held purge for the confirming operator: the message,
 * the reason and the reference (answers only; never logged).
 */
void admin_purge_summary(const wire_admin_request *q, char *out, size_t cap);

/*
 * What a purge erases, without the operator's words: "purge message ID of
 * SENDER" (for the log line and the ADMIN audit record of a held purge).
 */
void admin_purge_what(const wire_admin_request *q, char *out, size_t cap);

#endif
