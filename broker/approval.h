/*
 * approval.h — four-eyes for destructive operator requests ([admin]
 * four_eyes, docs/OPERATIONS.md "Four-eyes"): a request that needs a
 * second operator (purge, dead_letter_drop, a dead_letter_replay touching
 * PERSONAL messages) is held here as a pending request — a copy of the
 * request, who asked (node id and certificate serial), when, until when,
 * and a summary for the confirming operator — and admin.c executes it only
 * when an operator with another node id confirms it before it lapses.
 *
 * The table is memory only: a broker restart drops what is held (the
 * audit trail still shows it was asked and never executed). Ids count
 * from 1 for the broker's life and are never reused. A lapsed request is
 * no longer listed, but is remembered for one more confirmation period so
 * that a late confirmation is answered EXPIRED rather than NOT_FOUND; at
 * most APPROVAL_MAX requests are held or remembered.
 *
 * Threading: router thread only, like admin.c.
 */
#ifndef ASYLINK_BROKER_APPROVAL_H
#define ASYLINK_BROKER_APPROVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define APPROVAL_MAX 64          /* requests held (or remembered lapsed) at once */
#define APPROVAL_SUMMARY_MAX 255 /* longest summary, bytes */

typedef struct approval approval;

/* One held request. */
typedef struct approval_item {
    uint64_t id;                            /* what a confirmation names */
    wire_admin_request req;                 /* the request as decoded; req.ids owned by the item */
    char op_node[NODE_ID_MAX + 1];          /* the operator who asked */
    uint64_t op_serial;                     /* that operator's certificate serial */
    uint64_t created_ms;                    /* when */
    uint64_t expires_ms;                    /* confirm before this */
    char summary[APPROVAL_SUMMARY_MAX + 1]; /* what it will do, for a person */
} approval_item;

/*
 * A table whose requests lapse confirm_within_ms after they are held
 * (>= 1). ASYLINK_OK, ASYLINK_E_INVALID_ARG, ASYLINK_E_NOMEM.
 */
int approval_new(uint64_t confirm_within_ms, approval **out);

/* Frees the table and what it holds. Accepts NULL. */
void approval_destroy(approval **self_p);

/* The confirmation period. */
uint64_t approval_within_ms(const approval *a);

/*
 * Holds a copy of q (its ids copied too) asked by op_node at now_ms, with
 * summary (cut to APPROVAL_SUMMARY_MAX bytes on a character boundary).
 * *out points at the held item, valid until the next call that changes
 * the table. ASYLINK_OK; ASYLINK_E_UNAVAILABLE (APPROVAL_MAX requests are
 * waiting); ASYLINK_E_NOMEM; ASYLINK_E_INVALID_ARG.
 */
int approval_hold(approval *a, const wire_admin_request *q, const char *op_node, uint64_t op_serial,
                  uint64_t now_ms, const char *summary, const approval_item **out);

/*
 * The held request id at now_ms: ASYLINK_OK with *out pointing at it
 * (valid until the next call that changes the table); ASYLINK_E_EXPIRED
 * (it lapsed unconfirmed; *out points at it all the same, for the
 * answer); ASYLINK_E_NOT_FOUND (never held, already confirmed or
 * cancelled, or lapsed long ago).
 */
int approval_get(approval *a, uint64_t id, uint64_t now_ms, const approval_item **out);

/*
 * Removes request id from the table, moving it into *out (the caller
 * clears it with approval_item_clear()). ASYLINK_OK or ASYLINK_E_NOT_FOUND.
 */
int approval_take(approval *a, uint64_t id, approval_item *out);

/* Frees what an item taken out of the table owns. Accepts NULL. */
void approval_item_clear(approval_item *it);

/* Number of requests waiting (not lapsed) at now_ms. */
size_t approval_count(const approval *a, uint64_t now_ms);

/*
 * The i-th request waiting at now_ms (0 <= i < approval_count()), oldest
 * first; NULL past the end. Valid until the next call that changes the table.
 */
const approval_item *approval_at(const approval *a, size_t i, uint64_t now_ms);

#endif
