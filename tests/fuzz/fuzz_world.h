/*
 * fuzz_world.h — the fixed federation of the known-answer vectors (same
 * seeds, serials and names as tests/vectors/asylink-v1.json), built once per
 * fuzzer process, so seed inputs from the vectors verify and open.
 */
#ifndef ASYLINK_FUZZ_WORLD_H
#define ASYLINK_FUZZ_WORLD_H

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asylink/asylink.h"
#include "cert.h"
#include "envelope.h"
#include "keys.h"
#include "trust.h"

#define FW_NODES 5

typedef struct {
    keys_secret *keys[FW_NODES];
    cert *certs[FW_NODES];
    trust *trust;
    envelope_opener *opener_fr;
} fuzz_world;

static const char *const fw_ids[FW_NODES][3] = {
    {"ASYLINK.CA", "ca", "asylink test vector CA"},
    {"DE", "member_state", "Bundesamt fuer Migration und Fluechtlinge"},
    {"FR", "member_state", "Office francais de protection des refugies et apatrides"},
    {"IT", "member_state", "Commissione Nazionale per il Diritto di Asilo"},
    {"EUAA", "agency", "European Union Agency for Asylum"},
};

static void fw_seed(const char *id, const char *what, uint8_t out[32])
{
    char label[96];
    snprintf(label, sizeof label, "asylink vector %s %s", id, what);
    crypto_generichash(out, 32, (const uint8_t *)label, strlen(label), NULL, 0);
}

/* Writes the trust directory to a fresh temporary folder and loads it. */
static void fw_trust(fuzz_world *w)
{
    char dir[64] = "/tmp/asylink-fuzz-XXXXXX", path[128];
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/nodes", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/ca.cert", dir);
    cert_save(w->certs[0], path, 0);
    for (int i = 1; i < FW_NODES; i++) {
        snprintf(path, sizeof path, "%s/nodes/%s.cert", dir, fw_ids[i][0]);
        cert_save(w->certs[i], path, 0);
    }
    if (trust_load(dir, &w->trust) != ASYLINK_OK)
        abort();
    for (int i = 1; i < FW_NODES; i++) {
        snprintf(path, sizeof path, "%s/nodes/%s.cert", dir, fw_ids[i][0]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/ca.cert", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/nodes", dir);
    rmdir(path);
    rmdir(dir);
}

static fuzz_world *fw_get(void)
{
    static fuzz_world w;
    static int ready;
    if (ready)
        return &w;
    if (sodium_init() < 0)
        abort();
    for (int i = 0; i < FW_NODES; i++) {
        uint8_t s[32], b[32];
        uint32_t roles = 0;
        fw_seed(fw_ids[i][0], "sign", s);
        fw_seed(fw_ids[i][0], "box", b);
        keys_from_seeds(s, b, &w.keys[i]);
        cert_roles_parse(fw_ids[i][1], &roles);
        cert_fields f = {.serial = (uint64_t)i + 1, .node_id = fw_ids[i][0],
                         .display_name = fw_ids[i][2], .roles = roles,
                         .sign_pk = w.keys[i]->sign_pk, .box_pk = w.keys[i]->box_pk,
                         .not_before_ms = 1767225600000ull, .not_after_ms = 2082758400000ull};
        if (cert_sign(w.keys[0], fw_ids[0][0], &f, &w.certs[i]) != ASYLINK_OK)
            abort();
    }
    fw_trust(&w);
    envelope_opener_new(w.keys[2], "FR", &w.opener_fr);
    ready = 1;
    return &w;
}

#endif
