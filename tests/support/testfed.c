/*
 * testfed.c — the test federation: CA, nodes, trust directory (testfed.h).
 */
#define _GNU_SOURCE /* nftw */
#include "testfed.h"

#include <errno.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "asylink/errors.h"
#include "clock.h"

/* Reports a failed step on stderr and passes its code on. */
static int s_failed(const char *step, const char *what, int rc)
{
    fprintf(stderr, "testfed: %s%s%s: %s\n", step, what ? " " : "", what ? what : "",
            asylink_err_name(rc));
    return rc;
}

/* New keys for node id: seeded from the label, or random. */
static int s_keys(const testfed *f, const char *id, keys_secret **out)
{
    if (!f->params.seed_label)
        return keys_generate(out);
    uint8_t seeds[2][KEYS_SEED_LEN];
    static const char *const what[2] = {"sign", "box"};
    for (int i = 0; i < 2; i++) {
        char label[160];
        snprintf(label, sizeof label, "%s %s %s", f->params.seed_label, id, what[i]);
        crypto_generichash(seeds[i], KEYS_SEED_LEN, (const uint8_t *)label, strlen(label), NULL, 0);
    }
    int rc = keys_from_seeds(seeds[0], seeds[1], out);
    sodium_memzero(seeds, sizeof seeds);
    return rc;
}

/* The directory: the caller's, or a new temporary one. */
static int s_dir(testfed *f)
{
    const char *dir = f->params.dir;
    if (dir) {
        if ((size_t)snprintf(f->dir, sizeof f->dir, "%s", dir) >= sizeof f->dir)
            return ASYLINK_E_INVALID_ARG;
    } else {
        snprintf(f->dir, sizeof f->dir, "/tmp/asylink-test-XXXXXX");
        if (!mkdtemp(f->dir))
            return ASYLINK_E_IO;
        f->own_dir = true;
    }
    snprintf(f->trust_dir, sizeof f->trust_dir, "%s/trust", f->dir);
    return ASYLINK_OK;
}

static int s_ca(testfed *f)
{
    const testfed_params *p = &f->params;
    const char *id = p->ca_id ? p->ca_id : "TEST.CA";
    int rc = s_keys(f, id, &f->ca_keys);
    if (rc != ASYLINK_OK)
        return s_failed("CA keys", id, rc);
    uint64_t now = clock_now_ms();
    cert_fields cf = {.serial = 1,
                      .node_id = id,
                      .display_name = p->ca_name ? p->ca_name : "Test CA",
                      .roles = CERT_ROLE_BIT(CERT_ROLE_CA),
                      .sign_pk = f->ca_keys->sign_pk,
                      .box_pk = f->ca_keys->box_pk,
                      .not_before_ms = p->not_before_ms ? p->not_before_ms : now - TESTFED_HOUR_MS,
                      .not_after_ms =
                          p->ca_not_after_ms ? p->ca_not_after_ms : now + 10 * TESTFED_YEAR_MS};
    rc = cert_sign(f->ca_keys, id, &cf, &f->ca);
    if (rc != ASYLINK_OK)
        return s_failed("CA certificate", id, rc);
    f->next_serial = 2;
    return ASYLINK_OK;
}

int testfed_new(const testfed_params *params, testfed **out)
{
    *out = NULL;
    if (sodium_init() < 0)
        return s_failed("sodium_init", NULL, ASYLINK_E_INTERNAL);
    testfed *f = calloc(1, sizeof *f);
    if (!f)
        return s_failed("new", NULL, ASYLINK_E_NOMEM);
    if (params)
        f->params = *params;
    int rc = s_dir(f);
    if (rc != ASYLINK_OK) {
        s_failed("directory", f->params.dir, rc);
        testfed_destroy(&f);
        return rc;
    }
    rc = s_ca(f);
    if (rc != ASYLINK_OK) {
        testfed_destroy(&f);
        return rc;
    }
    *out = f;
    return ASYLINK_OK;
}

void testfed_destroy(testfed **self_p)
{
    testfed *f = self_p ? *self_p : NULL;
    if (!f)
        return;
    for (size_t i = 0; i < f->n_nodes; i++) {
        keys_destroy(&f->nodes[i].keys);
        cert_destroy(&f->nodes[i].cert);
    }
    keys_destroy(&f->ca_keys);
    cert_destroy(&f->ca);
    trust_destroy(&f->trust);
    if (f->own_dir)
        testfed_rmtree(f->dir);
    free(f);
    *self_p = NULL;
}

int testfed_issue(testfed *f, const char *id, const char *display_name, uint32_t roles,
                  const keys_secret *keys, uint64_t nb_ms, uint64_t na_ms, cert **out)
{
    cert_fields cf = {.serial = f->next_serial++,
                      .node_id = id,
                      .display_name = display_name ? display_name : id,
                      .roles = roles,
                      .sign_pk = keys->sign_pk,
                      .box_pk = keys->box_pk,
                      .not_before_ms = nb_ms,
                      .not_after_ms = na_ms};
    int rc = cert_sign(f->ca_keys, f->ca->node_id, &cf, out);
    return rc == ASYLINK_OK ? rc : s_failed("certificate", id, rc);
}

int testfed_add(testfed *f, const char *id, const char *display_name, uint32_t roles,
                testfed_node **out)
{
    if (f->n_nodes == TESTFED_MAX_NODES)
        return s_failed("add", id, ASYLINK_E_TOO_LARGE);
    testfed_node *n = &f->nodes[f->n_nodes];
    if (strlen(id) >= sizeof n->id)
        return s_failed("add", id, ASYLINK_E_INVALID_ARG);
    int rc = s_keys(f, id, &n->keys);
    if (rc != ASYLINK_OK)
        return s_failed("keys", id, rc);
    f->n_nodes++; /* from here on the testfed owns the keys */
    snprintf(n->id, sizeof n->id, "%s", id);
    uint64_t now = clock_now_ms();
    uint64_t nb = f->params.not_before_ms ? f->params.not_before_ms : now - TESTFED_HOUR_MS;
    uint64_t na = f->params.not_after_ms ? f->params.not_after_ms : now + TESTFED_YEAR_MS;
    rc = testfed_issue(f, id, display_name, roles, n->keys, nb, na, &n->cert);
    if (rc == ASYLINK_OK && out)
        *out = n;
    return rc;
}

testfed_node *testfed_node_by_id(testfed *f, const char *id)
{
    for (size_t i = 0; i < f->n_nodes; i++)
        if (strcmp(f->nodes[i].id, id) == 0)
            return &f->nodes[i];
    return NULL;
}

int testfed_write_trust(testfed *f)
{
    char path[512];
    snprintf(path, sizeof path, "%s/nodes", f->trust_dir);
    if ((mkdir(f->trust_dir, 0700) != 0 && errno != EEXIST) ||
        (mkdir(path, 0700) != 0 && errno != EEXIST))
        return s_failed("mkdir", path, ASYLINK_E_IO);
    snprintf(path, sizeof path, "%s/ca.cert", f->trust_dir);
    int rc = cert_save(f->ca, path, 0);
    for (size_t i = 0; rc == ASYLINK_OK && i < f->n_nodes; i++) {
        if (!f->nodes[i].cert)
            continue; /* testfed_add failed half way */
        snprintf(path, sizeof path, "%s/nodes/%s.cert", f->trust_dir, f->nodes[i].id);
        rc = cert_save(f->nodes[i].cert, path, 0);
    }
    if (rc != ASYLINK_OK)
        return s_failed("save", path, rc);
    trust_destroy(&f->trust);
    rc = trust_load(f->trust_dir, &f->trust);
    return rc == ASYLINK_OK ? rc : s_failed("trust_load", f->trust_dir, rc);
}

static int s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void testfed_rmtree(const char *dir)
{
    nftw(dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}
