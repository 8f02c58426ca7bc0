/*
 * fuzz_world.h — the fixed federation of the known-answer vectors (same
 * seeds, serials and names as tests/vectors/asylink-v1.json), built once per
 * fuzzer process by tests/support/testfed.h, so seed inputs from the vectors
 * verify and open. Index 0 is the CA, 1..4 the nodes of fw_ids.
 */
#ifndef ASYLINK_FUZZ_WORLD_H
#define ASYLINK_FUZZ_WORLD_H

#include <stdlib.h>

#include "asylink/asylink.h"
#include "cert.h"
#include "envelope.h"
#include "keys.h"
#include "testfed.h"
#include "trust.h"

#define FW_NODES 5

typedef struct {
    keys_secret *keys[FW_NODES]; /* borrowed from fed */
    cert *certs[FW_NODES];       /* borrowed from fed */
    trust *trust;                /* borrowed from fed */
    envelope_opener *opener_fr;
    testfed *fed;
} fuzz_world;

static const char *const fw_ids[FW_NODES][3] = {
    {"ASYLINK.CA", "ca", "asylink test vector CA"},
    {"DE", "member_state", "Bundesamt fuer Migration und Fluechtlinge"},
    {"FR", "member_state", "Office francais de protection des refugies et apatrides"},
    {"IT", "member_state", "Commissione Nazionale per il Diritto di Asilo"},
    {"EUAA", "agency", "European Union Agency for Asylum"},
};

static fuzz_world *fw_get(void)
{
    static fuzz_world w;
    if (w.fed)
        return &w;
    testfed_params p = {.ca_id = fw_ids[0][0],
                        .ca_name = fw_ids[0][2],
                        .seed_label = "asylink vector",
                        .not_before_ms = 1767225600000ull,
                        .ca_not_after_ms = 2082758400000ull,
                        .not_after_ms = 2082758400000ull};
    if (testfed_new(&p, &w.fed) != ASYLINK_OK)
        abort();
    w.keys[0] = w.fed->ca_keys;
    w.certs[0] = w.fed->ca;
    for (int i = 1; i < FW_NODES; i++) {
        uint32_t roles = 0;
        testfed_node *n = NULL;
        if (cert_roles_parse(fw_ids[i][1], &roles) != ASYLINK_OK ||
            testfed_add(w.fed, fw_ids[i][0], fw_ids[i][2], roles, &n) != ASYLINK_OK)
            abort();
        w.keys[i] = n->keys;
        w.certs[i] = n->cert;
    }
    if (testfed_write_trust(w.fed) != ASYLINK_OK)
        abort();
    testfed_rmtree(w.fed->dir); /* the trust is loaded: nothing left behind */
    w.trust = w.fed->trust;
    envelope_opener_new(w.keys[2], "FR", &w.opener_fr);
    return &w;
}

#endif
