/*
 * view.c — reference-counted trust + policy snapshots.
 */
#include "view.h"

#include "asylink/errors.h"
#include "bytes.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct view {
    atomic_int refs; /* holders: the router and in-flight jobs */
    trust *trust;    /* owned */
    policy *policy;  /* owned */
    rootcache *roots; /* owned: batch statements verified under this trust */
};

int view_load(const char *trust_dir, const char *policy_path, const view *current, view **out,
              char *err, size_t errlen)
{
    *out = NULL;
    view *v = calloc(1, sizeof *v);
    if (!v)
        return ASYLINK_E_NOMEM;
    atomic_init(&v->refs, 1);
    int rc = trust_reload(trust_dir, current ? current->trust : NULL, &v->trust);
    if (rc != ASYLINK_OK) {
        snprintf(err, errlen, "trust directory %s: %s", trust_dir, asylink_strerror(rc));
        free(v);
        return rc;
    }
    char perr[512];
    rc = policy_load(policy_path, &v->policy, perr, sizeof perr);
    if (rc != ASYLINK_OK) {
        snprintf(err, errlen, "%s", perr);
        trust_destroy(&v->trust);
        free(v);
        return rc;
    }
    rc = rootcache_new(ROOTCACHE_DEFAULT_SIZE, &v->roots);
    if (rc != ASYLINK_OK) {
        snprintf(err, errlen, "verified-root cache: %s", asylink_strerror(rc));
        policy_destroy(&v->policy);
        trust_destroy(&v->trust);
        free(v);
        return rc;
    }
    *out = v;
    return ASYLINK_OK;
}

int view_remember_crl(const view *v, store *st, char *err, size_t errlen)
{
    uint64_t ca = 0, number = 0;
    int rc = store_crl_get(st, &ca, &number);
    if (rc != ASYLINK_OK) {
        snprintf(err, errlen, "cannot read the recorded revocation list number: %s",
                 asylink_strerror(rc));
        return rc;
    }
    const crl *l = trust_crl(v->trust);
    uint64_t have = l ? l->number : 0, tag = bytes_get_le(trust_ca(v->trust)->sign_pk, 8);
    if (ca == tag && have < number) {
        snprintf(err, errlen,
                 "revocation list number %llu is older than number %llu this broker has used "
                 "(an old revoked.crl would un-revoke nodes)",
                 (unsigned long long)have, (unsigned long long)number);
        return ASYLINK_E_STALE;
    }
    if ((ca == tag && have == number) || (ca == 0 && number == 0 && have == 0))
        return ASYLINK_OK;
    rc = store_crl_put(st, tag, have);
    if (rc != ASYLINK_OK)
        snprintf(err, errlen, "cannot record the revocation list number: %s", asylink_strerror(rc));
    return rc;
}

view *view_ref(view *v)
{
    atomic_fetch_add(&v->refs, 1);
    return v;
}

void view_unref(view **self_p)
{
    if (!self_p || !*self_p)
        return;
    view *v = *self_p;
    *self_p = NULL;
    if (atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    trust_destroy(&v->trust);
    policy_destroy(&v->policy);
    rootcache_destroy(&v->roots);
    free(v);
}

const trust *view_trust(const view *v)
{
    return v->trust;
}
const policy *view_policy(const view *v)
{
    return v->policy;
}
rootcache *view_rootcache(const view *v)
{
    return v->roots;
}
