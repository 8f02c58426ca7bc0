/*
 * testfed.h — a federation for tests and benchmarks: a CA, nodes with keys
 * and certificates issued by it, and the trust directory on disk
 * (DIR/trust/ca.cert, DIR/trust/nodes/ID.cert) loaded as a trust.
 *
 * The one federation builder of the unit tests (tests/unit/fixture.h wraps
 * it in cmocka asserts), the fuzz targets (tests/fuzz/fuzz_world.h: the
 * known-answer vectors' fixed federation, from seeds) and the benchmarks.
 * It needs only asylink_core, so the clang fuzz build compiles it too.
 *
 * Errors: every function returns ASYLINK_OK or the asylink code of the
 * step that failed, after one line "testfed: STEP: CODE" on stderr (a test
 * that cannot build its federation has nothing else to say).
 *
 * Threading: a testfed is not thread-safe; once built, its keys, certs and
 * trust are immutable and may be read from any thread.
 */
#ifndef ASYLINK_TESTFED_H
#define ASYLINK_TESTFED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"
#include "keys.h"
#include "trust.h"

#define TESTFED_MAX_NODES 32
#define TESTFED_HOUR_MS (3600ull * 1000)
#define TESTFED_YEAR_MS (365ull * 24 * TESTFED_HOUR_MS)

/* How to build a federation; a zeroed struct (or NULL) gives the defaults. */
typedef struct {
    const char *ca_id;        /* the CA's node id; NULL = "TEST.CA" */
    const char *ca_name;      /* its display name; NULL = "Test CA" */
    const char *dir;          /* an existing directory to hold trust/, kept by
                                 testfed_destroy; NULL = a new /tmp/asylink-test-XXXXXX
                                 that testfed_destroy removes */
    const char *seed_label;   /* NULL: random keys. Else every key pair (the CA's too)
                                 comes from BLAKE2b-256("LABEL ID sign") and
                                 ("LABEL ID box"), the known-answer vectors' rule */
    uint64_t not_before_ms;   /* start of every certificate's validity; 0 = an hour
                                 before it is issued */
    uint64_t ca_not_after_ms; /* end of the CA's; 0 = ten years after it is issued */
    uint64_t not_after_ms;    /* end of each node's; 0 = a year after it is issued */
} testfed_params;

/* One node: its id, keys and certificate (owned by the testfed). */
typedef struct {
    char id[NODE_ID_MAX + 1];
    keys_secret *keys;
    cert *cert;
} testfed_node;

/* The federation. Fields are read by tests directly; change them only
 * through the functions below. */
typedef struct {
    char dir[256];                         /* directory holding trust/ */
    char trust_dir[300];                   /* dir/trust */
    keys_secret *ca_keys;                  /* the CA's keys */
    cert *ca;                              /* the CA's self-signed certificate (serial 1) */
    testfed_node nodes[TESTFED_MAX_NODES]; /* in the order added; the CA is not one */
    size_t n_nodes;
    uint64_t next_serial;  /* serial of the next certificate issued */
    trust *trust;          /* loaded by testfed_write_trust(); NULL before */
    testfed_params params; /* as given (strings borrowed: they must outlive f) */
    bool own_dir;          /* dir was made here: testfed_destroy removes it */
} testfed;

/*
 * Makes the directory (unless params->dir names one) and the CA. params may
 * be NULL; its strings are borrowed for the testfed's life. The trust
 * directory is written by testfed_write_trust(), once the nodes are added.
 * On success *out is the new testfed (free with testfed_destroy).
 * Errors: ASYLINK_E_IO (directory), those of keys_generate/keys_from_seeds
 * and cert_sign, ASYLINK_E_NOMEM.
 */
int testfed_new(const testfed_params *params, testfed **out);

/* Frees everything and removes the directory if testfed_new made it.
 * Accepts NULL and *self_p == NULL; sets *self_p to NULL. */
void testfed_destroy(testfed **self_p);

/*
 * Issues a certificate to `keys` as node `id` (display_name NULL = id),
 * valid from nb_ms to na_ms, with the next serial. *out is the caller's.
 * Errors: those of cert_sign.
 */
int testfed_issue(testfed *f, const char *id, const char *display_name, uint32_t roles,
                  const keys_secret *keys, uint64_t nb_ms, uint64_t na_ms, cert **out);

/*
 * Adds node `id` with new keys (random or seeded, as the params say) and a
 * certificate with the params' validity. *out (may be NULL) points into f.
 * Errors: ASYLINK_E_TOO_LARGE (more than TESTFED_MAX_NODES), ASYLINK_E_INVALID_ARG (id too
 * long), those of key generation and cert_sign.
 */
int testfed_add(testfed *f, const char *id, const char *display_name, uint32_t roles,
                testfed_node **out);

/* The node named id, or NULL. The pointer is valid as long as f. */
testfed_node *testfed_node_by_id(testfed *f, const char *id);

/*
 * Writes trust_dir (ca.cert and nodes/ID.cert for every node, replacing
 * what is there) and (re)loads f->trust from it.
 * Errors: ASYLINK_E_IO, those of cert_save and trust_load.
 */
int testfed_write_trust(testfed *f);

/* Removes a directory tree (links are not followed). Missing is fine. */
void testfed_rmtree(const char *dir);

#endif
