/*
 * peernode.c — a raw protocol peer's identity, ids and sealing (peernode.h).
 */
#include "peernode.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "asylink/asylink.h"
#include "clock.h"
#include "peerwire.h"
#include "uuid.h"

int peernode_load(peernode *n, const peernode_files *files)
{
    memset(n, 0, sizeof *n);
    int rc = keys_load(files->key, NULL, &n->keys);
    const char *what = files->key;
    if (rc == ASYLINK_OK) {
        what = files->cert;
        rc = cert_load(files->cert, &n->own);
    }
    if (rc == ASYLINK_OK) {
        what = files->broker_cert;
        rc = cert_load(files->broker_cert, &n->broker);
    }
    if (rc == ASYLINK_OK) {
        what = files->trust;
        rc = trust_load(files->trust, &n->trust);
    }
    if (rc == ASYLINK_OK) {
        what = "sealer";
        n->node = n->own->node_id;
        rc = envelope_sealer_new(n->keys, n->node, n->own->serial, NULL, NULL, &n->sealer);
    }
    if (rc == ASYLINK_OK)
        rc = envelope_opener_new(n->keys, n->node, &n->opener);
    if (rc == ASYLINK_OK && files->message_id) {
        what = "--message-id";
        n->fixed = uuid_parse(files->message_id, n->fixed_id) == 0;
        rc = n->fixed ? ASYLINK_OK : ASYLINK_E_BAD_FIELD;
    }
    if (rc != ASYLINK_OK)
        peerwire_warn("%s: %s", what, asylink_err_name(rc));
    return rc;
}

void peernode_free(peernode *n)
{
    envelope_opener_destroy(&n->opener);
    envelope_sealer_destroy(&n->sealer);
    trust_destroy(&n->trust);
    cert_destroy(&n->broker);
    cert_destroy(&n->own);
    keys_destroy(&n->keys);
}

void peernode_next_id(peernode *n, uint8_t out[16])
{
    if (n->fixed) {
        memcpy(out, n->fixed_id, 16);
        return;
    }
    uint64_t ms = clock_now_ms();
    if (ms <= n->last_id_ms) {
        ms = n->last_id_ms;
        if (++n->id_counter > 0xfff) {
            ms++;
            n->id_counter = 0;
        }
    } else {
        n->id_counter = 0;
    }
    n->last_id_ms = ms;
    uint8_t rnd[10];
    randombytes_buf(rnd, sizeof rnd);
    rnd[0] = (uint8_t)(n->id_counter >> 8); /* rand_a: 12 bits of counter */
    rnd[1] = (uint8_t)n->id_counter;
    uuid_v7_from(ms, rnd, out);
}

static uint8_t s_payload_byte(const uint8_t id[16], size_t k)
{
    return (uint8_t)(id[k % 16] ^ (uint8_t)(k * 31u));
}

void peernode_payload(const uint8_t id[16], uint8_t *p, size_t len)
{
    for (size_t k = 0; k < len; k++)
        p[k] = s_payload_byte(id, k);
}

bool peernode_payload_ok(const uint8_t id[16], const uint8_t *p, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (p[k] != s_payload_byte(id, k))
            return false;
    return true;
}

int peernode_seal(peernode *n, const peernode_seal_spec *sp, size_t len, uint8_t **env,
                  size_t *env_len, uint8_t msg_id[16])
{
    const cert *readers[PEERNODE_MAX_TO];
    size_t n_readers = 0;
    for (size_t i = 0; !sp->no_readers && i < sp->n_to && i < PEERNODE_MAX_TO; i++) {
        int rc = trust_lookup(n->trust, sp->to[i], clock_now_ms(), ASYLINK_E_UNKNOWN_RECIPIENT,
                              &readers[n_readers]);
        if (rc != ASYLINK_OK) {
            peerwire_warn("recipient %s: %s", sp->to[i], asylink_err_name(rc));
            return rc;
        }
        n_readers++;
    }
    peernode_next_id(n, msg_id);
    uint8_t *payload = malloc(len ? len : 1);
    if (!payload)
        return ASYLINK_E_NOMEM;
    peernode_payload(msg_id, payload, len);
    envelope_params p = {.recipients = sp->topic ? NULL : sp->to,
                         .n_recipients = sp->topic ? 0 : sp->n_to,
                         .topic = sp->topic,
                         .readers = readers,
                         .n_readers = n_readers,
                         .content_type = sp->content_type,
                         .classification = sp->classification,
                         .created_ms = sp->created_ms,
                         .expires_ms = sp->expires_ms,
                         .message_id = msg_id};
    int rc =
        envelope_seal(sp->sealer ? sp->sealer : n->sealer, &p, payload, len, env, env_len, NULL);
    free(payload);
    if (rc != ASYLINK_OK)
        peerwire_warn("seal: %s", asylink_err_name(rc));
    return rc;
}
