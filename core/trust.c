/*
 * trust.c — loading and querying the trust directory.
 */
#include "trust.h"

#include "asylink/errors.h"
#include "file.h"

#include <dirent.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most node certificates one directory may hold: bounds hostile input. */
#define TRUST_MAX_NODES 4096

struct trust {
    cert *ca;                 /* self-signed federation CA */
    crl *revoked;             /* NULL if no revoked.crl */
    cert **nodes;             /* sorted by node id */
    size_t n_nodes;
    trust_problem *problems;  /* files left out */
    size_t n_problems;
};

/* Orders by node id, then serial descending (current certificate first). */
static int s_cmp_node(const void *a, const void *b)
{
    const cert *const *x = a, *const *y = b;
    int c = strcmp((*x)->node_id, (*y)->node_id);
    if (c != 0)
        return c;
    return (*x)->serial > (*y)->serial ? -1 : (*x)->serial < (*y)->serial;
}

static int s_add_problem(trust *t, const char *path, int code)
{
    trust_problem *p = realloc(t->problems, (t->n_problems + 1) * sizeof *p);
    if (!p)
        return ASYLINK_E_NOMEM;
    t->problems = p;
    snprintf(p[t->n_problems].path, sizeof p[t->n_problems].path, "%s", path);
    p[t->n_problems].code = code;
    t->n_problems++;
    return ASYLINK_OK;
}

/* Adds c (taking it); a second copy of one serial is dropped. */
static int s_add_node(trust *t, cert *c)
{
    for (size_t i = 0; i < t->n_nodes; i++) {
        if (t->nodes[i]->serial == c->serial && strcmp(t->nodes[i]->node_id, c->node_id) == 0) {
            cert_destroy(&c);
            return ASYLINK_OK;
        }
    }
    if (t->n_nodes >= TRUST_MAX_NODES) {
        cert_destroy(&c);
        return ASYLINK_E_TOO_LARGE;
    }
    cert **n = realloc(t->nodes, (t->n_nodes + 1) * sizeof *n);
    if (!n) {
        cert_destroy(&c);
        return ASYLINK_E_NOMEM;
    }
    t->nodes = n;
    t->nodes[t->n_nodes++] = c;
    return ASYLINK_OK;
}

static int s_has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n > s && strcmp(name + n - s, suffix) == 0;
}

/* Loads one node certificate file; bad files become problems. */
static int s_load_node(trust *t, const char *path)
{
    cert *c = NULL;
    int rc = cert_load(path, &c);
    if (rc == ASYLINK_OK)
        rc = cert_verify(c, t->ca);
    if (rc == ASYLINK_OK && cert_has_role(c, CERT_ROLE_CA))
        rc = ASYLINK_E_ROLE;
    if (rc != ASYLINK_OK) {
        cert_destroy(&c);
        return rc == ASYLINK_E_NOMEM ? rc : s_add_problem(t, path, rc);
    }
    return s_add_node(t, c);
}

/* True if a and b are different nodes with a public key in common. */
static bool s_keys_clash(const cert *a, const cert *b)
{
    if (strcmp(a->node_id, b->node_id) == 0)
        return false;
    return sodium_memcmp(a->box_pk, b->box_pk, 32) == 0 ||
           sodium_memcmp(a->sign_pk, b->sign_pk, 32) == 0;
}

/*
 * Leaves out every certificate whose key another node's certificate also
 * carries: a CURVE key must map to exactly one node.
 */
static int s_drop_shared_keys(trust *t)
{
    bool *drop = calloc(t->n_nodes ? t->n_nodes : 1, sizeof *drop);
    if (!drop)
        return ASYLINK_E_NOMEM;
    for (size_t i = 0; i < t->n_nodes; i++)
        for (size_t j = i + 1; j < t->n_nodes; j++)
            if (s_keys_clash(t->nodes[i], t->nodes[j]))
                drop[i] = drop[j] = true;
    size_t kept = 0;
    int rc = ASYLINK_OK;
    for (size_t i = 0; i < t->n_nodes; i++) {
        if (!drop[i]) {
            t->nodes[kept++] = t->nodes[i];
            continue;
        }
        if (rc == ASYLINK_OK)
            rc = s_add_problem(t, t->nodes[i]->node_id, ASYLINK_E_WRONG_KEY);
        cert_destroy(&t->nodes[i]);
    }
    t->n_nodes = kept;
    free(drop);
    return rc;
}

static int s_load_nodes(trust *t, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/nodes", dir);
    DIR *d = opendir(path);
    if (!d)
        return ASYLINK_OK; /* no nodes yet */
    int rc = ASYLINK_OK;
    struct dirent *e;
    while (rc == ASYLINK_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !s_has_suffix(e->d_name, ".cert"))
            continue;
        int n = snprintf(path, sizeof path, "%s/nodes/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue;
        rc = s_load_node(t, path);
    }
    closedir(d);
    if (rc == ASYLINK_OK)
        rc = s_drop_shared_keys(t);
    if (t->n_nodes > 1)
        qsort(t->nodes, t->n_nodes, sizeof *t->nodes, s_cmp_node);
    return rc;
}

static int s_load_ca(trust *t, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ca.cert", dir);
    int rc = cert_load(path, &t->ca);
    if (rc != ASYLINK_OK)
        return rc;
    return cert_verify(t->ca, t->ca);
}

static int s_load_crl(trust *t, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/revoked.crl", dir);
    int rc = crl_load(path, t->ca, &t->revoked);
    return rc == ASYLINK_E_NOT_FOUND ? ASYLINK_OK : rc;
}

int trust_load(const char *dir, trust **out)
{
    *out = NULL;
    if (!dir)
        return ASYLINK_E_INVALID_ARG;
    trust *t = calloc(1, sizeof *t);
    if (!t)
        return ASYLINK_E_NOMEM;
    int rc = s_load_ca(t, dir);
    if (rc == ASYLINK_OK)
        rc = s_load_crl(t, dir);
    if (rc == ASYLINK_OK)
        rc = s_load_nodes(t, dir);
    if (rc != ASYLINK_OK) {
        trust_destroy(&t);
        return rc;
    }
    *out = t;
    return ASYLINK_OK;
}

/* If path is over limit bytes, says so into buf and returns true. */
static bool s_over(const char *path, uint64_t limit, const char *what, char *buf, size_t len)
{
    long long size = file_size(path);
    if (size < 0 || (uint64_t)size <= limit)
        return false;
    char text[256];
    snprintf(buf, len, "%s: %s", path, file_limit_text(size, limit, what, text, sizeof text));
    return true;
}

void trust_too_large_text(const char *dir, char *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ca.cert", dir);
    if (s_over(path, CERT_ARMORED_MAX(CERT_FILE_MAX), "a certificate file", buf, len))
        return;
    snprintf(path, sizeof path, "%s/revoked.crl", dir);
    if (s_over(path, CERT_ARMORED_MAX(CRL_FILE_MAX), "a revocation list", buf, len))
        return;
    snprintf(buf, len, "%s/nodes: more than the limit of %u certificates", dir, TRUST_MAX_NODES);
}

void trust_destroy(trust **self_p)
{
    if (!self_p || !*self_p)
        return;
    trust *t = *self_p;
    for (size_t i = 0; i < t->n_nodes; i++)
        cert_destroy(&t->nodes[i]);
    free(t->nodes);
    free(t->problems);
    cert_destroy(&t->ca);
    crl_destroy(&t->revoked);
    free(t);
    *self_p = NULL;
}

const cert *trust_ca(const trust *t) { return t->ca; }
const crl *trust_crl(const trust *t) { return t->revoked; }
size_t trust_count(const trust *t) { return t->n_nodes; }
size_t trust_problem_count(const trust *t) { return t->n_problems; }

const cert *trust_at(const trust *t, size_t i)
{
    return i < t->n_nodes ? t->nodes[i] : NULL;
}

const trust_problem *trust_problem_at(const trust *t, size_t i)
{
    return i < t->n_problems ? &t->problems[i] : NULL;
}

/* Index of node_id's first (highest-serial) certificate, or n_nodes. */
static size_t s_first(const trust *t, const char *node_id)
{
    size_t lo = 0, hi = t->n_nodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(t->nodes[mid]->node_id, node_id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n_nodes && strcmp(t->nodes[lo]->node_id, node_id) == 0 ? lo : t->n_nodes;
}

const cert *trust_find(const trust *t, const char *node_id)
{
    size_t i = s_first(t, node_id);
    return i < t->n_nodes ? t->nodes[i] : NULL;
}

const cert *trust_find_serial(const trust *t, const char *node_id, uint64_t serial)
{
    for (size_t i = s_first(t, node_id);
         i < t->n_nodes && strcmp(t->nodes[i]->node_id, node_id) == 0; i++)
        if (t->nodes[i]->serial == serial)
            return t->nodes[i];
    return NULL;
}

const cert *trust_find_by_box_pk(const trust *t, const uint8_t box_pk[32])
{
    for (size_t i = 0; i < t->n_nodes; i++)
        if (sodium_memcmp(t->nodes[i]->box_pk, box_pk, 32) == 0)
            return t->nodes[i];
    return NULL;
}

int trust_usable(const trust *t, const cert *c, uint64_t now_ms)
{
    int rc = cert_check_time(t->ca, now_ms);
    if (rc != ASYLINK_OK)
        return rc;
    if (crl_find(t->revoked, c->serial))
        return ASYLINK_E_REVOKED;
    return cert_check_time(c, now_ms);
}

int trust_check(const trust *t, const cert *c, uint64_t now_ms)
{
    int rc = cert_verify(c, t->ca);
    return rc == ASYLINK_OK ? trust_usable(t, c, now_ms) : rc;
}

int trust_lookup(const trust *t, const char *node_id, uint64_t now_ms, int unknown_code,
                 const cert **out)
{
    *out = NULL;
    size_t first = s_first(t, node_id);
    if (first == t->n_nodes)
        return unknown_code;
    for (size_t i = first; i < t->n_nodes && strcmp(t->nodes[i]->node_id, node_id) == 0; i++) {
        if (trust_usable(t, t->nodes[i], now_ms) == ASYLINK_OK) {
            *out = t->nodes[i];
            return ASYLINK_OK;
        }
    }
    return trust_usable(t, t->nodes[first], now_ms);
}

int trust_adopt_crl(trust *t, const uint8_t *raw, size_t len, uint64_t expect_number)
{
    if (!t || !raw)
        return ASYLINK_E_INVALID_ARG;
    crl *l = NULL;
    int rc = crl_decode(raw, len, t->ca, &l);
    if (rc != ASYLINK_OK)
        return rc;
    if (l->number != expect_number) {
        crl_destroy(&l);
        return ASYLINK_E_STALE;
    }
    crl_destroy(&t->revoked);
    t->revoked = l;
    return ASYLINK_OK;
}

int trust_reload(const char *dir, const trust *current, trust **out)
{
    int rc = trust_load(dir, out);
    if (rc != ASYLINK_OK || !current || !current->revoked)
        return rc;
    if (memcmp(trust_ca(*out)->sign_pk, trust_ca(current)->sign_pk, 32) != 0)
        return ASYLINK_OK; /* another CA: its lists are numbered on their own */
    if (!(*out)->revoked || (*out)->revoked->number < current->revoked->number) {
        trust_destroy(out);
        return ASYLINK_E_STALE;
    }
    return ASYLINK_OK;
}
