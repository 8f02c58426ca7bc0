/*
 * peernode.h — who a raw protocol peer is: its keys and certificate, the
 * broker's certificate (the CURVE server key), the federation's trust, a
 * sealer and an opener as this node; message ids that only grow; payloads
 * a receiver can check without knowing the sender's settings.
 *
 * Message ids are UUIDv7 made strictly increasing per process (a counter
 * in rand_a), so a receiver can check per-sender FIFO order by comparing
 * ids. Payload bytes are derived from the message id.
 *
 * Errors: asylink codes, with a line on stderr naming what failed.
 * Threading: a peernode belongs to one thread.
 */
#ifndef ASYLINK_PEERNODE_H
#define ASYLINK_PEERNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"
#include "envelope.h"
#include "keys.h"
#include "trust.h"

#define PEERNODE_MAX_TO 16 /* most recipients (or readers) of one message */

/* The files a peer is made of. */
typedef struct {
    const char *key;         /* own secret key file */
    const char *cert;        /* own certificate */
    const char *broker_cert; /* the broker's certificate */
    const char *trust;       /* trust directory */
    const char *message_id;  /* NULL, or a UUID for every message (dedup tests) */
} peernode_files;

typedef struct {
    keys_secret *keys;       /* own keys */
    cert *own;               /* own certificate */
    cert *broker;            /* broker certificate (CURVE server key) */
    trust *trust;            /* trust directory */
    envelope_sealer *sealer; /* seals as own node */
    envelope_opener *opener; /* opens as own node */
    const char *node;        /* own node id (own->node_id) */
    uint64_t last_id_ms;     /* monotonic message ids */
    uint32_t id_counter;
    bool fixed; /* every message gets fixed_id */
    uint8_t fixed_id[16];
} peernode;

/* What to seal, beyond the payload. */
typedef struct {
    const char *const *to; /* recipients; with topic, the readers */
    size_t n_to;
    int classification;
    const char *content_type;
    uint64_t created_ms;     /* 0 = now */
    uint64_t expires_ms;     /* 0 = never */
    bool no_readers;         /* PUBLIC, signed only */
    envelope_sealer *sealer; /* NULL = the node's own */
    const char *topic;       /* feed topic: `to` are then the readers, not recipients */
} peernode_seal_spec;

/* Loads the node from files; on failure *n is still safe to peernode_free. */
int peernode_load(peernode *n, const peernode_files *files);
void peernode_free(peernode *n);

/* A fresh UUIDv7, strictly greater than every earlier one (or the fixed id). */
void peernode_next_id(peernode *n, uint8_t out[16]);

/* The payload of message id: len bytes derived from the id; and its check. */
void peernode_payload(const uint8_t id[16], uint8_t *p, size_t len);
bool peernode_payload_ok(const uint8_t id[16], const uint8_t *p, size_t len);

/*
 * Seals len payload bytes for spec with a fresh id (msg_id) into *env
 * (malloc'd, the caller's). Readers are looked up in the trust.
 */
int peernode_seal(peernode *n, const peernode_seal_spec *sp, size_t len, uint8_t **env,
                  size_t *env_len, uint8_t msg_id[16]);

#endif
