/*
 * fixture.h — a small federation for unit tests: a CA, node certificates
 * issued by it, a trust directory on disk (tests/support/testfed.h, with
 * cmocka asserts), and helpers to seal and open envelopes. Header-only:
 * each test program includes it once.
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

#include "testfed.h"

/* The federation is tests/support/testfed.h; here it fails the test instead of returning codes. */
#define FX_MAX_NODES TESTFED_MAX_NODES
#define FX_YEAR_MS TESTFED_YEAR_MS

typedef testfed_node fx_node; /* id, keys, cert */
typedef testfed fx_fed;       /* dir, trust_dir, ca_keys, ca, nodes, n_nodes, next_serial, trust */

/* Removes a directory tree. */
static inline void fx_rmtree(const char *dir)
{
    testfed_rmtree(dir);
}

/* Issues a certificate for keys with explicit validity. */
static inline cert *fx_issue(fx_fed *f, const char *id, uint32_t roles, const keys_secret *keys,
                             uint64_t nb, uint64_t na)
{
    cert *c = NULL;
    assert_int_equal(testfed_issue(f, id, NULL, roles, keys, nb, na, &c), ASYLINK_OK);
    return c;
}

/* Adds a node with fresh keys and a one-year certificate. */
static inline fx_node *fx_add(fx_fed *f, const char *id, uint32_t roles)
{
    fx_node *n = NULL;
    assert_int_equal(testfed_add(f, id, NULL, roles, &n), ASYLINK_OK);
    return n;
}

static inline fx_node *fx_node_by_id(fx_fed *f, const char *id)
{
    fx_node *n = testfed_node_by_id(f, id);
    if (!n)
        fail_msg("no node %s", id);
    return n;
}

/* Writes ca.cert and the node certificates and (re)loads the trust. */
static inline void fx_write_trust(fx_fed *f)
{
    assert_int_equal(testfed_write_trust(f), ASYLINK_OK);
}

/* A federation with a CA and the named member states (NULL-terminated). */
static inline fx_fed *fx_new(const char *const *ids)
{
    fx_fed *f = NULL;
    assert_int_equal(testfed_new(NULL, &f), ASYLINK_OK);
    for (size_t i = 0; ids && ids[i]; i++)
        fx_add(f, ids[i], CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE));
    fx_write_trust(f);
    return f;
}

static inline void fx_free(fx_fed *f)
{
    testfed_destroy(&f);
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
    envelope_params p = {.recipients = to,
                         .n_recipients = n,
                         .readers = readers,
                         .n_readers = classification == ENVELOPE_PUBLIC ? 0 : n,
                         .content_type = "asylink.v1.InformationRequest",
                         .classification = classification};
    int rc = envelope_seal(sealer, &p, payload, len, out, out_len, NULL);
    envelope_sealer_destroy(&sealer);
    return rc;
}

/* Decodes, verifies and opens buf as reader `as`; returns the first failing code. */
static inline int fx_open(fx_fed *f, const char *as, const uint8_t *buf, size_t len,
                          uint8_t **payload, size_t *plen)
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
