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

/* Loads trust_dir and policy_path. current (may be NULL) guards against a
 * stale revocation list (trust_reload). On failure err names the file. */
int view_load(const char *trust_dir, const char *policy_path, const view *current, view **out,
              char *err, size_t errlen);

/*
 * Compares v's revocation list with the newest the store has recorded for
 * the same CA: an older list (or none, after one) is ASYLINK_E_STALE with
 * err saying which numbers; a newer one is recorded. Store errors pass
 * through.
 */
int view_remember_crl(const view *v, store *st, char *err, size_t errlen);

/* Takes another reference; returns v. */
view *view_ref(view *v);

/* Drops a reference (freeing the view at zero) and nulls *self_p. */
void view_unref(view **self_p);

const trust *view_trust(const view *v);
const policy *view_policy(const view *v);

/* The verified-root cache of this view's trust (ROOTCACHE_DEFAULT_SIZE entries). */
rootcache *view_rootcache(const view *v);

#endif
