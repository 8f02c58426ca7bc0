/*
 * fixture.h — a small federation for unit tests: a CA, node certificates
 * issued by it, a trust directory on disk, and helpers to seal, decode and
 * re-sign envelopes. Header-only: each test program includes it once.
 */
#ifndef ASYLINK_TEST_FIXTURE_H
#define ASYLINK_TEST_FIXTURE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, memmem */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asylink/asylink.h"
#include "cert.h"
#include "clock.h"
#include "envelope.h"
#include "keys.h"
#include "trust.h"

#define FX_MAX_NODES 32
#define FX_YEAR_MS (365ull * 24 * 3600 * 1000)

/* One node of the test federation. */
typedef struct {
    char id[NODE_ID_MAX + 1];
    keys_secret *keys;
    cert *cert;
} fx_node;

/* The test federation. */
typedef struct {
    char dir[256];        /* temporary directory holding trust/ */
    char trust_dir[300];  /* dir/trust */
    keys_secret *ca_keys;
    cert *ca;
    fx_node nodes[FX_MAX_NODES];
    size_t n_nodes;
    uint64_t next_serial;
    trust *trust;
} fx_fed;

static inline int fx_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

/* Removes a directory tree. */
static inline void fx_rmtree(const char *dir)
{
    nftw(dir, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Issues a certificate for keys with explicit validity. */
static inline cert *fx_issue(fx_fed *f, const char *id, uint32_t roles, const keys_secret *keys,
                      uint64_t nb, uint64_t na)
{
    cert_fields cf = {.serial = f->next_serial++, .node_id = id, .display_name = id,
                      .roles = roles, .sign_pk = keys->sign_pk, .box_pk = keys->box_pk,
                      .not_before_ms = nb, .not_after_ms = na};
    cert *c = NULL;
    assert_int_equal(cert_sign(f->ca_keys, "TEST.CA", &cf, &c), ASYLINK_OK);
    return c;
}

/* Adds a node with fresh keys and a one-year certificate. */
static inline fx_node *fx_add(fx_fed *f, const char *id, uint32_t roles)
{
    assert_true(f->n_nodes < FX_MAX_NODES);
    fx_node *n = &f->nodes[f->n_nodes++];
    snprintf(n->id, sizeof n->id, "%s", id);
    assert_int_equal(keys_generate(&n->keys), ASYLINK_OK);
    uint64_t now = clock_now_ms();
    n->cert = fx_issue(f, id, roles, n->keys, now - 3600 * 1000, now + FX_YEAR_MS);
    return n;
}

static inline fx_node *fx_node_by_id(fx_fed *f, const char *id)
{
    for (size_t i = 0; i < f->n_nodes; i++)
        if (strcmp(f->nodes[i].id, id) == 0)
            return &f->nodes[i];
    fail_msg("no node %s", id);
    return NULL;
}

/* Writes ca.cert and the node certificates and (re)loads the trust. */
static inline void fx_write_trust(fx_fed *f)
{
    char path[512];
    mkdir(f->trust_dir, 0700);
    snprintf(path, sizeof path, "%s/nodes", f->trust_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/ca.cert", f->trust_dir);
    assert_int_equal(cert_save(f->ca, path, 0), ASYLINK_OK);
    for (size_t i = 0; i < f->n_nodes; i++) {
        snprintf(path, sizeof path, "%s/nodes/%s.cert", f->trust_dir, f->nodes[i].id);
        assert_int_equal(cert_save(f->nodes[i].cert, path, 0), ASYLINK_OK);
    }
    trust_destroy(&f->trust);
    assert_int_equal(trust_load(f->trust_dir, &f->trust), ASYLINK_OK);
}

/* A federation with a CA and the named member states (NULL-terminated). */
static inline fx_fed *fx_new(const char *const *ids)
{
    assert_true(sodium_init() >= 0);
    fx_fed *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/asylink-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->trust_dir, sizeof f->trust_dir, "%s/trust", f->dir);
    assert_int_equal(keys_generate(&f->ca_keys), ASYLINK_OK);
    uint64_t now = clock_now_ms();
    cert_fields cf = {.serial = 1, .node_id = "TEST.CA", .display_name = "Test CA",
                      .roles = CERT_ROLE_BIT(CERT_ROLE_CA), .sign_pk = f->ca_keys->sign_pk,
                      .box_pk = f->ca_keys->box_pk, .not_before_ms = now - 3600 * 1000,
                      .not_after_ms = now + 10 * FX_YEAR_MS};
    assert_int_equal(cert_sign(f->ca_keys, "TEST.CA", &cf, &f->ca), ASYLINK_OK);
    f->next_serial = 2;
    for (size_t i = 0; ids && ids[i]; i++)
        fx_add(f, ids[i], CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE));
    fx_write_trust(f);
    return f;
}

static inline void fx_free(fx_fed *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_nodes; i++) {
        keys_destroy(&f->nodes[i].keys);
        cert_destroy(&f->nodes[i].cert);
    }
    keys_destroy(&f->ca_keys);
    cert_destroy(&f->ca);
    trust_destroy(&f->trust);
    fx_rmtree(f->dir);
    free(f);
}

/* Seals payload from `from` to the recipients (NULL-terminated ids). */
static inline int fx_seal(fx_fed *f, const char *from, const char *const *to, int classification,
                   const uint8_t *payload, size_t len, uint8_t **out, size_t *out_len)
{
    fx_node *s = fx_node_by_id(f, from);
    const cert *readers[FX_MAX_NODES];
    size_t n = 0;
    while (to[n]) {
        readers[n] = fx_node_by_id(f, to[n])->cert;
        n++;
    }
    envelope_sealer *sealer = NULL;
    assert_int_equal(envelope_sealer_new(s->keys, s->id, s->cert->serial, NULL, NULL, &sealer),
                     ASYLINK_OK);
    envelope_params p = {.recipients = to, .n_recipients = n, .readers = readers,
                         .n_readers = classification == ENVELOPE_PUBLIC ? 0 : n,
                         .content_type = "asylink.v1.InformationRequest",
                         .classification = classification};
    int rc = envelope_seal(sealer, &p, payload, len, out, out_len, NULL);
    envelope_sealer_destroy(&sealer);
    return rc;
}

/* Decodes, verifies and opens buf as reader `as`; returns the first failing code. */
static inline int fx_open(fx_fed *f, const char *as, const uint8_t *buf, size_t len, uint8_t **payload,
                   size_t *plen)
{
    envelope *e = NULL;
    *payload = NULL;
    *plen = 0;
    int rc = envelope_decode(buf, len, 0, &e);
    if (rc == ASYLINK_OK)
        rc = envelope_verify(e, f->trust, clock_now_ms(), NULL);
    if (rc == ASYLINK_OK) {
        fx_node *r = fx_node_by_id(f, as);
        envelope_opener *op = NULL;
        assert_int_equal(envelope_opener_new(r->keys, r->id, &op), ASYLINK_OK);
        rc = envelope_open(op, e, payload, plen);
        envelope_opener_destroy(&op);
    }
    envelope_destroy(&e);
    return rc;
}

#endif
