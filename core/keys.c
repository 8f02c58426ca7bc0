/*
 * keys.c — key pair generation and the secret key file.
 */
#include "keys.h"

#include "armor.h"
#include "asylink/errors.h"
#include "file.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS_MAGIC "ASYLKEY1"
#define KEYS_HDR_LEN 60
#define KEYS_PLAIN_LEN (2 * KEYS_SEED_LEN)
#define KEYS_KDF_NONE 0
#define KEYS_KDF_ARGON2ID 1

_Static_assert(KEYS_NONCE_LEN == crypto_secretbox_NONCEBYTES,
               "key file nonce is a secretbox nonce");
_Static_assert(KEYS_SALT_LEN == crypto_pwhash_SALTBYTES, "key file salt is an Argon2id salt");

static keys_secret *s_alloc(void)
{
    if (sodium_init() < 0)
        return NULL;
    keys_secret *k = sodium_malloc(sizeof *k);
    if (k)
        sodium_memzero(k, sizeof *k);
    return k;
}

int keys_from_seeds(const uint8_t sign_seed[KEYS_SEED_LEN], const uint8_t box_seed[KEYS_SEED_LEN],
                    keys_secret **out)
{
    *out = NULL;
    keys_secret *k = s_alloc();
    if (!k)
        return ASYLINK_E_NOMEM;
    crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, sign_seed);
    memcpy(k->box_sk, box_seed, KEYS_PK_LEN);
    crypto_scalarmult_base(k->box_pk, k->box_sk);
    *out = k;
    return ASYLINK_OK;
}

int keys_generate(keys_secret **out)
{
    *out = NULL;
    keys_secret *k = s_alloc();
    if (!k)
        return ASYLINK_E_NOMEM;
    crypto_sign_keypair(k->sign_pk, k->sign_sk);
    crypto_box_keypair(k->box_pk, k->box_sk);
    *out = k;
    return ASYLINK_OK;
}

void keys_destroy(keys_secret **self_p)
{
    if (!self_p || !*self_p)
        return;
    sodium_memzero(*self_p, sizeof **self_p);
    sodium_free(*self_p);
    *self_p = NULL;
}

static void s_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t s_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Derives the file key from a passphrase; 0 on success. */
static int s_derive(uint8_t key[crypto_secretbox_KEYBYTES], const char *passphrase,
                    const uint8_t *salt, uint32_t opslimit, uint32_t memlimit_kib)
{
    return crypto_pwhash(key, crypto_secretbox_KEYBYTES, passphrase, strlen(passphrase), salt,
                         opslimit, (size_t)memlimit_kib * 1024u, crypto_pwhash_ALG_ARGON2ID13);
}

static uint32_t s_ops(const keys_kdf_cost *cost)
{
    return cost && cost->opslimit ? cost->opslimit : crypto_pwhash_OPSLIMIT_MODERATE;
}

static uint32_t s_mem(const keys_kdf_cost *cost)
{
    return cost && cost->memlimit_kib ? cost->memlimit_kib
                                      : (uint32_t)(crypto_pwhash_MEMLIMIT_MODERATE / 1024);
}

/* The cost bounds a file may ask for, on save and on load alike. */
static bool s_cost_ok(uint32_t ops, uint32_t mem_kib)
{
    return ops >= crypto_pwhash_OPSLIMIT_MIN && ops <= KEYS_KDF_MAX_OPS &&
           mem_kib >= KEYS_KDF_MIN_MEM_KIB && mem_kib <= KEYS_KDF_MAX_MEM_KIB;
}

/*
 * Fills blob (KEYS_HDR_LEN + room) and returns its length, or 0 on failure.
 * salt and nonce: NULL draws them at random.
 */
static size_t s_build_blob(const keys_secret *keys, const char *passphrase,
                           const keys_kdf_cost *cost, const uint8_t *salt, const uint8_t *nonce,
                           uint8_t *blob)
{
    uint8_t *plain = blob + KEYS_HDR_LEN;
    memcpy(blob, KEYS_MAGIC, 8);
    memcpy(plain, keys->sign_sk, KEYS_SEED_LEN); /* Ed25519 sk starts with the seed */
    memcpy(plain + KEYS_SEED_LEN, keys->box_sk, KEYS_PK_LEN);
    if (!passphrase)
        return KEYS_HDR_LEN + KEYS_PLAIN_LEN;

    uint32_t ops = s_ops(cost), mem = s_mem(cost);
    uint8_t key[crypto_secretbox_KEYBYTES];
    blob[8] = KEYS_KDF_ARGON2ID;
    s_put_u32(blob + 12, ops);
    s_put_u32(blob + 16, mem);
    if (salt)
        memcpy(blob + 20, salt, KEYS_SALT_LEN);
    else
        randombytes_buf(blob + 20, KEYS_SALT_LEN);
    if (nonce)
        memcpy(blob + 36, nonce, KEYS_NONCE_LEN);
    else
        randombytes_buf(blob + 36, KEYS_NONCE_LEN);
    if (s_derive(key, passphrase, blob + 20, ops, mem) != 0)
        return 0;
    uint8_t tmp[KEYS_PLAIN_LEN];
    memcpy(tmp, plain, sizeof tmp);
    crypto_secretbox_easy(plain, tmp, sizeof tmp, blob + 36, key);
    sodium_memzero(tmp, sizeof tmp);
    sodium_memzero(key, sizeof key);
    return KEYS_HDR_LEN + KEYS_PLAIN_LEN + crypto_secretbox_MACBYTES;
}

int keys_encode(const keys_secret *keys, const char *passphrase, const keys_kdf_cost *cost,
                const uint8_t *salt, const uint8_t *nonce, const char *comment, char **out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    if (!keys || (passphrase && !*passphrase))
        return ASYLINK_E_INVALID_ARG;
    if (passphrase && !s_cost_ok(s_ops(cost), s_mem(cost)))
        return ASYLINK_E_INVALID_ARG;
    size_t cap = KEYS_HDR_LEN + KEYS_PLAIN_LEN + crypto_secretbox_MACBYTES;
    uint8_t *blob = sodium_malloc(cap);
    int rc = ASYLINK_E_NOMEM;
    if (!blob)
        return rc;
    sodium_memzero(blob, cap);
    size_t len = s_build_blob(keys, passphrase, cost, salt, nonce, blob);
    if (len != 0)
        rc = armor_encode(ARMOR_SECRET_KEY, comment, blob, len, out);
    sodium_free(blob);
    return rc;
}

int keys_save(const keys_secret *keys, const char *path, const char *passphrase,
              const keys_kdf_cost *cost, const char *comment)
{
    if (!keys || !path)
        return ASYLINK_E_INVALID_ARG;
    char *text = NULL;
    int rc = keys_encode(keys, passphrase, cost, NULL, NULL, comment, &text);
    if (rc != ASYLINK_OK)
        return rc;
    rc = file_write_atomic(path, text, strlen(text), 0600, 1);
    sodium_memzero(text, strlen(text));
    free(text);
    return rc;
}

/* Opens the secret part of a decoded blob into *out. */
static int s_open_blob(const uint8_t *blob, size_t len, const char *passphrase, keys_secret **out)
{
    if (len < KEYS_HDR_LEN || memcmp(blob, KEYS_MAGIC, 8) != 0)
        return ASYLINK_E_MALFORMED;
    uint8_t kdf = blob[8];
    if (kdf == KEYS_KDF_NONE) {
        if (len != KEYS_HDR_LEN + KEYS_PLAIN_LEN)
            return ASYLINK_E_MALFORMED;
        return keys_from_seeds(blob + KEYS_HDR_LEN, blob + KEYS_HDR_LEN + KEYS_SEED_LEN, out);
    }
    if (kdf != KEYS_KDF_ARGON2ID)
        return ASYLINK_E_UNSUPPORTED_VERSION;
    if (len != KEYS_HDR_LEN + KEYS_PLAIN_LEN + crypto_secretbox_MACBYTES)
        return ASYLINK_E_MALFORMED;
    if (!passphrase)
        return ASYLINK_E_PASSPHRASE_REQUIRED;
    uint32_t ops = s_get_u32(blob + 12), mem = s_get_u32(blob + 16);
    /* Hostile files must not make us burn unbounded memory or time. */
    if (!s_cost_ok(ops, mem))
        return ASYLINK_E_MALFORMED;
    uint8_t *sec = sodium_malloc(crypto_secretbox_KEYBYTES + KEYS_PLAIN_LEN);
    if (!sec)
        return ASYLINK_E_NOMEM;
    uint8_t *key = sec, *plain = sec + crypto_secretbox_KEYBYTES;
    int rc = ASYLINK_E_NOMEM;
    if (s_derive(key, passphrase, blob + 20, ops, mem) != 0)
        goto cleanup;
    rc = ASYLINK_E_BAD_PASSPHRASE;
    if (crypto_secretbox_open_easy(plain, blob + KEYS_HDR_LEN,
                                   KEYS_PLAIN_LEN + crypto_secretbox_MACBYTES, blob + 36, key) != 0)
        goto cleanup;
    rc = keys_from_seeds(plain, plain + KEYS_SEED_LEN, out);
cleanup:
    sodium_free(sec);
    return rc;
}

int keys_decode(const uint8_t *text, size_t len, const char *passphrase, keys_secret **out)
{
    *out = NULL;
    if (!text || sodium_init() < 0)
        return ASYLINK_E_INVALID_ARG;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    int rc = armor_decode(ARMOR_SECRET_KEY, (const char *)text, len, 1, &blob, &blob_len);
    if (rc != ASYLINK_OK)
        return rc;
    rc = s_open_blob(blob, blob_len, passphrase, out);
    file_secret_free(blob, blob_len);
    return rc;
}

int keys_load(const char *path, const char *passphrase, keys_secret **out)
{
    *out = NULL;
    if (!path)
        return ASYLINK_E_INVALID_ARG;
    uint8_t *text = NULL;
    size_t len = 0;
    int rc = file_read_private(path, KEYS_FILE_MAX, &text, &len);
    if (rc != ASYLINK_OK)
        return rc; /* TOO_LARGE: callers say the size and KEYS_FILE_MAX */
    rc = keys_decode(text, len, passphrase, out);
    file_secret_free(text, len);
    return rc;
}

int keys_file_is_encrypted(const char *path)
{
    uint8_t *text = NULL, *blob = NULL;
    size_t text_len = 0, len = 0;
    if (file_read_private(path, KEYS_FILE_MAX, &text, &text_len) != ASYLINK_OK)
        return -1;
    int rc = armor_decode(ARMOR_SECRET_KEY, (const char *)text, text_len, 1, &blob, &len);
    file_secret_free(text, text_len);
    if (rc != ASYLINK_OK)
        return -1;
    int enc = len > 8 && memcmp(blob, KEYS_MAGIC, 8) == 0 ? blob[8] != KEYS_KDF_NONE : -1;
    file_secret_free(blob, len);
    return enc;
}

const char *keys_file_hint(int rc, const char *subject, const char *path,
                           const char *passphrase_how, char *buf, size_t len)
{
    if (rc == ASYLINK_E_KEY_PERMISSIONS)
        snprintf(buf, len,
                 "%s must be a regular file, not a symbolic link, owned by the user running this "
                 "program and closed to everyone else: chmod 600 %s",
                 subject, path);
    else if (rc == ASYLINK_E_PASSPHRASE_REQUIRED)
        snprintf(buf, len, "%s is encrypted: %s", subject, passphrase_how);
    else if (len)
        buf[0] = 0;
    return buf;
}
