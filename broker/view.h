/*
 * view.h — a reference-counted snapshot of what the broker trusts: the
 * trust directory, the policy, and the batch statements verified under
 * that trust directory (a verified-root cache, PROTOCOL.md 4.10, so a
 * reload or a new revocation list starts with an empty one). The router holds the current view;
 * every verification job holds a reference to the view it started with, so
 * a SIGHUP reload can swap in a new view while workers still use the old
 * one, which is freed when its last job is done.
 *
 * Threading: view_ref/view_unref are atomic; the trust and policy inside
 * are immutable and may be read from any thread; the root cache locks
 * itself (the verify workers share it).
 */
#ifndef ASYLINK_BROKER_VIEW_H
#define ASYLINK_BROKER_VIEW_H

#include "policy.h"
#include "rootcache.h"
#include "store.h"
#include "trust.h"

typedef struct view view;

/*
 * Loads trust_dir and policy_path. On failure err names the file. The
 * revocation list is judged against the store's record by
 * view_remember_crl(), not here: that record is never older than the list
 * of any view in use.
 */
int view_load(const char *trust_dir, const char *policy_path, view **out, char *err, size_t errlen);

/*
 * Compares v's revocation list with the newest the store has recorded for
 * the same CA. A newer one is recorded, with its signed bytes (an equal
 * one too if the store has no copy of it yet). An older list (or none,
 * after one) is replaced in v by the store's copy of the recorded list if
 * that verifies under v's CA and has the recorded number (logged as a
 * WARN: the trust directory's revoked.crl is out of date); else it is
 * ASYLINK_E_STALE with err saying which numbers and why the copy could not
 * be used. Store errors pass through. v must not be shared yet (it may be
 * changed).
 */
int view_remember_crl(view *v, store *st, char *err, size_t errlen);

/* Takes another reference; returns v. */
view *view_ref(view *v);

/* Drops a reference (freeing the view at zero) and nulls *self_p. */
void view_unref(view **self_p);

const trust *view_trust(const view *v);
const policy *view_policy(const view *v);

/* The verified-root cache of this view's trust (ROOTCACHE_DEFAULT_SIZE entries). */
rootcache *view_rootcache(const view *v);

#endif
