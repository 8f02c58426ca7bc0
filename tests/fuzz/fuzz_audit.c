/*
 * fuzz_audit.c — libFuzzer target: the audit trail's decoders
 * (core/auditchain.h). The first byte picks what the rest is: 0 an
 * AuditRecord (whatever decodes must re-encode to the same bytes), 1 a
 * SignedAuditCheckpoint (decode, and verify against a fixed key: a
 * decoded checkpoint must have seq >= 1 and a 32-byte hash), 2 a stored
 * entry (entry_hash || record) fed to a verifier as entry 1 and as its
 * own checkpoint. Nothing may crash, leak or read out of bounds.
 */
#include "asylink/errors.h"
#include "auditchain.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t s_pk[32] = {1, 2, 3};

static const uint8_t *s_key(void *ctx, const char *node, uint64_t serial)
{
    (void)ctx;
    (void)node;
    (void)serial;
    return s_pk;
}

static void s_record(const uint8_t *p, size_t n)
{
    auditchain_decoded *d = NULL;
    if (auditchain_record_decode(p, n, &d) != ASYLINK_OK)
        return;
    const auditchain_record *r = auditchain_decoded_record(d);
    size_t cap = auditchain_record_bound(r), len = 0;
    uint8_t *again = malloc(cap ? cap : 1);
    if (!again || r->seq == 0 || auditchain_record_encode(r, again, cap, &len) != ASYLINK_OK ||
        len != n || memcmp(again, p, n) != 0)
        abort();
    free(again);
    auditchain_decoded_destroy(&d);
}

static void s_checkpoint(const uint8_t *p, size_t n)
{
    auditchain_checkpoint c;
    uint8_t sig[AUDITCHAIN_SIG_LEN];
    if (auditchain_checkpoint_decode(p, n, &c, sig) == ASYLINK_OK &&
        (c.seq == 0 || !c.broker_node_id[0]))
        abort();
    (void)auditchain_checkpoint_verify(p, n, s_pk, &c);
}

static void s_entry(const uint8_t *p, size_t n)
{
    auditchain_verifier *v = NULL;
    if (auditchain_verifier_new(s_key, NULL, &v) != ASYLINK_OK)
        return;
    auditchain_verifier_checkpoint(v, 1, p, n);
    auditchain_verifier_entry(v, 1, p, n);
    auditchain_verifier_entry(v, 2, p, n);
    auditchain_result r;
    auditchain_verifier_finish(v, true, &r);
    if (!r.ok && r.first_bad_seq == 0 && r.reason[0] == 0)
        abort();
    auditchain_verifier_destroy(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0: s_record(data + 1, size - 1); break;
    case 1: s_checkpoint(data + 1, size - 1); break;
    default: s_entry(data + 1, size - 1); break;
    }
    return 0;
}
