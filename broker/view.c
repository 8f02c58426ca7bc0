/*
 * view.c — reference-counted trust + policy snapshots.
 */
#include "view.h"

#include "asylink/errors.h"
#include "bytes.h"
#include "log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct view {
    atomic_int refs; /* holders: the router and in-flight jobs */
    trust *trust;    /* owned */
    policy *policy;  /* owned */
    rootcache *roots; /* owned: batch statements verified under this trust */
};

/*
 * Says which node certificates trust_load() left out of t and why: it goes on
 * without them, and a node whose certificate is missing is otherwise only
 * "unknown" when it connects or is named as a recipient.
 */
static void s_log_trust_problems(const trust *t)
{
    for (size_t i = 0; i < trust_problem_count(t); i++) {
        const trust_problem *p = trust_problem_at(t, i);
        if (p->code == ASYLINK_E_WRONG_KEY) /* p->path is the node id of both clashing ones */
            LOG_WARN("trust",
                     "node certificate left out: another node's certificate carries the same key",
                     "node=%s code=%s", LOG_Q(p->path), asylink_err_name(p->code));
        else
            LOG_WARN("trust", "node certificate left out", "file=%s code=%s reason=%s",
                     LOG_Q(p->path), asylink_err_name(p->code), LOG_Q(asylink_strerror(p->code)));
    }
}

int view_load(const char *trust_dir, const char *policy_path, view **out, char *err, size_t errlen)
{
    *out = NULL;
    view *v = calloc(1, sizeof *v);
    if (!v)
        return ASYLINK_E_NOMEM;
    atomic_init(&v->refs, 1);
    int rc = trust_load(trust_dir, &v->trust);
    if (rc != ASYLINK_OK) {
        snprintf(err, errlen, "trust directory %s: %s", trust_dir, asylink_strerror(rc));
        free(v);
        return rc;
    }
    s_log_trust_problems(v->trust);
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

/*
 * The list the store holds (number `number`, v's CA), adopted into v's
 * trust in place of its older one if it verifies under the CA. why says
 * what stood in the way otherwise.
 */
static int s_adopt_recorded(view *v, store *st, uint64_t number, char *why, size_t whylen)
{
    uint8_t *raw = NULL;
    size_t len = 0;
    int rc = store_crl_signed_get(st, &raw, &len);
    if (rc == ASYLINK_OK) {
        rc = trust_adopt_crl(v->trust, raw, len, number);
        free(raw);
        if (rc != ASYLINK_OK)
            snprintf(why, whylen, "the copy in the data directory is not usable: %s",
                     rc == ASYLINK_E_STALE ? "it is not that list (an older asylinkd recorded the "
                                             "number)"
                                           : asylink_strerror(rc));
    } else if (rc == ASYLINK_E_NOT_FOUND) {
        snprintf(why, whylen, "the data directory holds no copy of it (an older asylinkd's)");
    } else {
        snprintf(why, whylen, "cannot read its copy in the data directory: %s",
                 asylink_strerror(rc));
    }
    return rc;
}

/*
 * Whether the store's copy of the list is other than l (absent included):
 * an equal number recorded by an asylinkd that kept no copy, or kept an
 * older one, gets l's bytes.
 */
static bool s_copy_differs(store *st, const crl *l)
{
    uint8_t *raw = NULL;
    size_t len = 0;
    bool differs = store_crl_signed_get(st, &raw, &len) != ASYLINK_OK || !l || len != l->raw_len ||
                   memcmp(raw, l->raw, len) != 0;
    free(raw);
    return differs;
}

int view_remember_crl(view *v, store *st, char *err, size_t errlen)
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
        char why[256];
        if (s_adopt_recorded(v, st, number, why, sizeof why) == ASYLINK_OK) {
            LOG_WARN("view",
                     have ? "the trust directory's revoked.crl is older than the revocation list "
                            "in the data directory; using the data directory's"
                          : "the trust directory has no revoked.crl but the data directory has a "
                            "revocation list; using the data directory's",
                     "trust_dir_crl=%llu data_dir_crl=%llu hint=%s", (unsigned long long)have,
                     (unsigned long long)number,
                     LOG_Q("copy the newest revoked.crl into this broker's trust directory"));
            return ASYLINK_OK;
        }
        snprintf(err, errlen,
                 "revocation list number %llu is older than number %llu this broker has used "
                 "(an old revoked.crl would un-revoke nodes), and %s",
                 (unsigned long long)have, (unsigned long long)number, why);
        return ASYLINK_E_STALE;
    }
    if (ca == 0 && number == 0 && have == 0)
        return ASYLINK_OK;
    if (ca == tag && have == number && (!l || !s_copy_differs(st, l)))
        return ASYLINK_OK;
    rc = store_crl_put(st, tag, have, l ? l->raw : NULL, l ? l->raw_len : 0);
    if (rc != ASYLINK_OK)
        snprintf(err, errlen, "cannot record the revocation list: %s", asylink_strerror(rc));
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
