/*
 * trustref.c — the client's trust directory, reloaded while it runs.
 *
 * The trust in use is an immutable trust object in a reference-counted
 * holder, with the batch statements verified under it (a verified-root
 * cache, PROTOCOL.md 4.10: a reload, hence any new revocation list, starts
 * with an empty one). Readers (sealing, verifying, Directory checks) take a reference
 * for the duration of one operation; a reload builds a new object with
 * trust_reload() (which refuses a revocation list older than the one in
 * use) and swaps the holder, and the old object is freed when its last
 * reader lets go. The I/O thread checks the directory every
 * CLIENT_TRUST_CHECK_MS and reloads when a file changed; the application
 * can force a reload with asylink_reload_trust().
 *
 * The client store remembers the highest revocation-list number used (per
 * CA), so an older list is refused also across restarts: at open and at
 * every reload (ASYLINK_E_STALE).
 */
#include "client_internal.h"

#include "bytes.h"
#include "certend.h"
#include "clock.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct client_trust {
    trust *t;
    rootcache *roots; /* batch statements verified under t (locks itself) */
    int refs;         /* readers + 1 while it is the one in use (under trust_lock) */
};

/* A holder for t (taken over), with an empty verified-root cache; NULL without memory. */
static client_trust *s_holder_new(trust *t)
{
    client_trust *h = calloc(1, sizeof *h);
    if (!h || rootcache_new(ROOTCACHE_DEFAULT_SIZE, &h->roots) != ASYLINK_OK) {
        free(h);
        return NULL;
    }
    h->t = t;
    h->refs = 1;
    return h;
}

static void s_holder_free(client_trust *h)
{
    trust_destroy(&h->t);
    rootcache_destroy(&h->roots);
    free(h);
}

int client_trust_init(asylink_client *c, const char *dir, trust *t, uint64_t stamp)
{
    c->trust = s_holder_new(t);
    c->trust_dir = strdup(dir);
    if (!c->trust || !c->trust_dir) {
        if (c->trust) {
            c->trust->t = NULL; /* on failure the caller still owns t */
            s_holder_free(c->trust);
            c->trust = NULL;
        }
        return ASYLINK_E_NOMEM;
    }
    c->trust_stamp = stamp;
    return ASYLINK_OK;
}

void client_trust_free(asylink_client *c)
{
    if (c->trust) {
        s_holder_free(c->trust);
        c->trust = NULL;
    }
    free(c->trust_dir);
    c->trust_dir = NULL;
}

const trust *client_trust_get(asylink_client *c, client_trust **hold)
{
    pthread_mutex_lock(&c->trust_lock);
    *hold = c->trust;
    c->trust->refs++;
    pthread_mutex_unlock(&c->trust_lock);
    return (*hold)->t;
}

void client_trust_put(asylink_client *c, client_trust *hold)
{
    if (!hold)
        return;
    pthread_mutex_lock(&c->trust_lock);
    bool last = --hold->refs == 0;
    pthread_mutex_unlock(&c->trust_lock);
    if (last)
        s_holder_free(hold);
}

int client_verify(asylink_client *c, const envelope *e, uint64_t now_ms)
{
    client_trust *hold = NULL;
    const trust *t = client_trust_get(c, &hold);
    int rc = envelope_verify_cached(e, t, hold->roots, now_ms, NULL);
    client_trust_put(c, hold);
    return rc;
}

/* Adds one file's identity (name, inode, size, change times) to the stamp. */
static uint64_t s_file_stamp(const char *path, const char *name)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    uint64_t v[6] = {(uint64_t)st.st_ino,         (uint64_t)st.st_size,
                     (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec,
                     (uint64_t)st.st_ctim.tv_sec, (uint64_t)st.st_ctim.tv_nsec};
    crypto_generichash_state h;
    uint64_t out = 0;
    crypto_generichash_init(&h, NULL, 0, sizeof out);
    crypto_generichash_update(&h, (const unsigned char *)name, strlen(name) + 1);
    crypto_generichash_update(&h, (const unsigned char *)v, sizeof v);
    crypto_generichash_final(&h, (unsigned char *)&out, sizeof out);
    return out;
}

uint64_t client_trust_stamp(const char *dir)
{
    char path[4096];
    uint64_t sum = 0; /* a sum: independent of the order readdir returns */
    const char *top[] = {"ca.cert", "revoked.crl", "nodes"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, top[i]);
        sum += s_file_stamp(path, top[i]);
    }
    snprintf(path, sizeof path, "%s/nodes", dir);
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/nodes/%s", dir, e->d_name);
        sum += s_file_stamp(path, e->d_name);
    }
    if (d)
        closedir(d);
    return sum;
}

/* Records a newer list; refuses one older than this node has used (or none, after one). */
static int s_remember_crl(asylink_client *c, const trust *t)
{
    uint64_t ca = 0, number = 0;
    int rc = cstore_crl_get(c->store, &ca, &number);
    if (rc != ASYLINK_OK)
        return rc;
    const crl *l = trust_crl(t);
    uint64_t have = l ? l->number : 0, tag = bytes_get_le(trust_ca(t)->sign_pk, 8);
    if (ca == tag && have < number) {
        client_log(c, ASYLINK_LOG_ERROR,
                   "revocation list older than the one this node has used: refused",
                   "number=%llu used=%llu", (unsigned long long)have, (unsigned long long)number);
        return ASYLINK_E_STALE;
    }
    if ((ca == tag && have == number) || (ca == 0 && number == 0 && have == 0))
        return ASYLINK_OK; /* nothing new to record */
    for (int attempt = 0; attempt < 4; attempt++) {
        cstore_txn *txn = NULL;
        rc = cstore_begin(c->store, &txn);
        if (rc == ASYLINK_OK)
            rc = cstore_crl_put(txn, tag, have);
        if (rc != ASYLINK_OK) {
            cstore_abort(&txn);
            if (rc == ASYLINK_E_STORE_FULL)
                continue; /* the map grows when the transaction ends */
            return rc;
        }
        rc = cstore_commit(&txn);
        if (rc != ASYLINK_E_STORE_FULL)
            return rc;
    }
    return rc;
}

int client_trust_remember(asylink_client *c)
{
    return s_remember_crl(c, c->trust->t);
}

/* Logs what t says about one certificate the node relies on (what: "our own", "the broker's"). */
static void s_check_end(asylink_client *c, const trust *t, const cert *x, const char *what,
                        const char *option, uint64_t now)
{
    int code = ASYLINK_OK;
    certend_state st = certend_cert(t, x, now, &code);
    char msg[96];
    if (st == CERTEND_UNUSABLE) {
        snprintf(msg, sizeof msg, "%s certificate is no longer usable", what);
        client_log(c, ASYLINK_LOG_ERROR, msg, "option=%s node=%s serial=%llu code=%s", option,
                   x->node_id, (unsigned long long)x->serial, asylink_err_name(code));
    } else if (st == CERTEND_ENDING) {
        char end[32];
        snprintf(msg, sizeof msg, "%s certificate expires soon", what);
        client_log(c, ASYLINK_LOG_WARN, msg,
                   "option=%s node=%s serial=%llu not_after=%s days_left=%llu hint=%s", option,
                   x->node_id, (unsigned long long)x->serial,
                   clock_format_iso(x->not_after_ms, end, sizeof end),
                   (unsigned long long)certend_days_left(x->not_after_ms, now),
                   CLIENT_Q(strcmp(option, "node_cert") == 0
                                ? "have the federation's CA issue a new certificate for this "
                                  "node's key and point node_cert at it"
                                : "ask the broker's operators for its new certificate and point "
                                  "broker_cert at it"));
    }
}

/* The node certificates trust_load() left out of t, and why (it goes on without them). */
static void s_log_trust_problems(asylink_client *c, const trust *t)
{
    for (size_t i = 0; i < trust_problem_count(t); i++) {
        const trust_problem *p = trust_problem_at(t, i);
        if (p->code == ASYLINK_E_WRONG_KEY) /* p->path is the node id of both clashing ones */
            client_log(c, ASYLINK_LOG_WARN,
                       "node certificate left out: another node's certificate carries the same key",
                       "option=trust_dir node=%s code=%s", CLIENT_Q(p->path),
                       asylink_err_name(p->code));
        else
            client_log(c, ASYLINK_LOG_WARN, "node certificate left out",
                       "option=trust_dir path=%s code=%s reason=%s", CLIENT_Q(p->path),
                       asylink_err_name(p->code), CLIENT_Q(asylink_strerror(p->code)));
    }
}

/* The certificates' ends under t, and what it left out (the caller holds reload_lock). */
static void s_check_certs(asylink_client *c, const trust *t, uint64_t now)
{
    c->certs_checked_ms = now;
    s_log_trust_problems(c, t);
    s_check_end(c, t, c->own, "our own", "node_cert", now);
    s_check_end(c, t, c->broker, "the broker's", "broker_cert", now);
    const cert *ca = trust_ca(t);
    certend_state st = certend_ca(t, now);
    if (st != CERTEND_OK) {
        char end[32];
        client_log(c, st == CERTEND_UNUSABLE ? ASYLINK_LOG_ERROR : ASYLINK_LOG_WARN,
                   st == CERTEND_UNUSABLE ? "the CA certificate has expired"
                                          : "the CA certificate expires soon",
                   "option=trust_dir ca=%s not_after=%s days_left=%llu", ca->node_id,
                   clock_format_iso(ca->not_after_ms, end, sizeof end),
                   (unsigned long long)certend_days_left(ca->not_after_ms, now));
    }
}

void client_certs_check(asylink_client *c, bool force)
{
    uint64_t now = clock_now_ms();
    pthread_mutex_lock(&c->reload_lock);
    if (force || now - c->certs_checked_ms >= CERTEND_INTERVAL_MS) {
        client_trust *hold = NULL;
        const trust *t = client_trust_get(c, &hold);
        s_check_certs(c, t, now);
        client_trust_put(c, hold);
    }
    pthread_mutex_unlock(&c->reload_lock);
}

int client_trust_refresh(asylink_client *c, bool force)
{
    pthread_mutex_lock(&c->reload_lock); /* one reload at a time */
    uint64_t stamp = client_trust_stamp(c->trust_dir);
    if (!force && stamp == c->trust_stamp) {
        pthread_mutex_unlock(&c->reload_lock);
        return ASYLINK_OK;
    }
    client_trust *cur = NULL;
    const trust *current = client_trust_get(c, &cur);
    trust *fresh = NULL;
    int rc = trust_reload(c->trust_dir, current, &fresh);
    client_trust_put(c, cur);
    if (rc == ASYLINK_OK)
        rc = s_remember_crl(c, fresh);
    client_trust *holder = rc == ASYLINK_OK ? s_holder_new(fresh) : NULL;
    if (rc == ASYLINK_OK && !holder)
        rc = ASYLINK_E_NOMEM;
    if (rc != ASYLINK_OK) {
        trust_destroy(&fresh);
        c->trust_stamp = stamp; /* do not retry until the files change again */
        pthread_mutex_unlock(&c->reload_lock);
        char why[4600] = "trust directory not reloaded: the previous one stays in use";
        if (rc == ASYLINK_E_TOO_LARGE) { /* say which file, its size and the limit */
            size_t n = strlen(why);
            snprintf(why + n, sizeof why - n, ": ");
            trust_too_large_text(c->trust_dir, why + n + 2, sizeof why - n - 2);
        }
        client_log(c, ASYLINK_LOG_ERROR, why, "code=%s", asylink_err_name(rc));
        return rc;
    }
    s_check_certs(c, fresh, clock_now_ms());
    pthread_mutex_lock(&c->trust_lock);
    client_trust *old = c->trust;
    c->trust = holder;
    pthread_mutex_unlock(&c->trust_lock);
    client_trust_put(c, old); /* freed once its last reader is done */
    client_readers_forget(c); /* checked under the old trust */
    c->trust_stamp = stamp;
    pthread_mutex_unlock(&c->reload_lock);
    client_log(c, ASYLINK_LOG_INFO, "trust directory reloaded", "nodes=%zu", trust_count(fresh));
    return ASYLINK_OK;
}

int asylink_reload_trust(asylink_client *c)
{
    if (!c)
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    return client_trust_refresh(c, true);
}
