/*
 * keys.h — a node's long-term secret keys and the secret key file.
 *
 * Each node has an Ed25519 key pair (signatures) and an X25519 key pair
 * (CurveZMQ transport and end-to-end key wrapping). The secret halves live
 * only in sodium_malloc'd memory and are wiped on destruction.
 *
 * Secret key file: armored "SECRET KEY" block over this binary layout
 * (big-endian integers), written with mode 0600:
 *   0  "ASYLKEY1"                      magic, 8 bytes
 *   8  kdf                             1 byte: 0 = none, 1 = Argon2id v1.3
 *   9  0, 0, 0                         reserved
 *   12 opslimit                        u32, Argon2id passes (0 if kdf 0)
 *   16 memlimit_kib                    u32, Argon2id memory in KiB (0 if kdf 0)
 *   20 salt                            16 bytes (zero if kdf 0)
 *   36 nonce                           24 bytes (zero if kdf 0)
 *   60 secret                          kdf 0: sign_seed(32) || box_sk(32)
 *                                      kdf 1: crypto_secretbox_easy of those 64
 *                                      bytes (80 bytes) under the Argon2id key
 *
 * Threading: a keys_secret is immutable after creation and may be shared
 * between threads for reading.
 */
#ifndef ASYLINK_CORE_KEYS_H
#define ASYLINK_CORE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_PK_LEN 32
#define KEYS_SIGN_SK_LEN 64
#define KEYS_SEED_LEN 32
#define KEYS_SALT_LEN 16  /* Argon2id salt in an encrypted key file */
#define KEYS_NONCE_LEN 24 /* secretbox nonce in an encrypted key file */
#define KEYS_FILE_MAX 4096 /* the most bytes of a secret key file */

/* A node's secret and public keys; always in sodium_malloc'd memory. */
typedef struct keys_secret {
    uint8_t sign_sk[KEYS_SIGN_SK_LEN]; /* Ed25519 secret key (seed || pk) */
    uint8_t sign_pk[KEYS_PK_LEN];      /* Ed25519 public key */
    uint8_t box_sk[KEYS_PK_LEN];       /* X25519 secret key */
    uint8_t box_pk[KEYS_PK_LEN];       /* X25519 public key */
} keys_secret;

/* Bounds on Argon2id cost, enforced on save and on load (hostile files). */
#define KEYS_KDF_MAX_OPS 16
#define KEYS_KDF_MIN_MEM_KIB 8
#define KEYS_KDF_MAX_MEM_KIB (1024u * 1024u) /* 1 GiB */

/* Argon2id cost for an encrypted key file; zeros pick the defaults. */
typedef struct keys_kdf_cost {
    uint32_t opslimit;     /* passes; 0 = crypto_pwhash_OPSLIMIT_MODERATE */
    uint32_t memlimit_kib; /* KiB; 0 = crypto_pwhash_MEMLIMIT_MODERATE */
} keys_kdf_cost;

/* Generates fresh key pairs. Returns ASYLINK_OK or ASYLINK_E_NOMEM. */
int keys_generate(keys_secret **out);

/*
 * Derives key pairs from fixed seeds (known-answer vectors, tests):
 * Ed25519 from sign_seed, X25519 secret = box_seed. ASYLINK_OK / E_NOMEM.
 */
int keys_from_seeds(const uint8_t sign_seed[KEYS_SEED_LEN], const uint8_t box_seed[KEYS_SEED_LEN],
                    keys_secret **out);

/* Wipes and frees *self_p and sets it to NULL. Accepts NULL. */
void keys_destroy(keys_secret **self_p);

/*
 * Writes the secret key file at path (mode 0600, atomically). With a
 * non-NULL, non-empty passphrase the secret is encrypted with a key derived
 * by Argon2id (cost: NULL = defaults). comment (may be NULL) is written as
 * the file's readable header. Refuses to overwrite an existing file
 * (ASYLINK_E_EXISTS). Returns ASYLINK_OK, ASYLINK_E_EXISTS, ASYLINK_E_IO,
 * ASYLINK_E_NOMEM.
 */
int keys_save(const keys_secret *keys, const char *path, const char *passphrase,
              const keys_kdf_cost *cost, const char *comment);

/*
 * The text keys_save() writes, in *out (malloc'd, NUL-terminated; it holds
 * the secret: wipe it with sodium_memzero() before free()). salt
 * (KEYS_SALT_LEN bytes) and nonce (KEYS_NONCE_LEN) are used for an
 * encrypted file; NULL draws them at random, as keys_save() does. Fixed
 * values are for known-answer vectors only. Returns ASYLINK_OK,
 * ASYLINK_E_INVALID_ARG (empty passphrase, cost out of bounds),
 * ASYLINK_E_NOMEM.
 */
int keys_encode(const keys_secret *keys, const char *passphrase, const keys_kdf_cost *cost,
                const uint8_t *salt, const uint8_t *nonce, const char *comment, char **out);

/*
 * Reads a secret key file. Refuses symbolic links, files owned by another
 * user and files readable or writable by group or others
 * (ASYLINK_E_KEY_PERMISSIONS), checked on the opened file itself. Returns ASYLINK_OK,
 * ASYLINK_E_NOT_FOUND, ASYLINK_E_IO, ASYLINK_E_MALFORMED, ASYLINK_E_UNSUPPORTED_VERSION,
 * ASYLINK_E_PASSPHRASE_REQUIRED (encrypted and passphrase NULL),
 * ASYLINK_E_BAD_PASSPHRASE, ASYLINK_E_KEY_PERMISSIONS, ASYLINK_E_NOMEM.
 */
int keys_load(const char *path, const char *passphrase, keys_secret **out);

/*
 * What to do about a secret file that keys_load() or file_read_private()
 * refused with rc, in one sentence into buf (len bytes, always
 * terminated); returns buf. subject names the file as the sentence's
 * subject ("secret key file /etc/asylink/DE.key", "the key file").
 * ASYLINK_E_KEY_PERMISSIONS: what the file must be, and "chmod 600 path";
 * ASYLINK_E_PASSPHRASE_REQUIRED: that it is encrypted, then
 * passphrase_how, the caller's own way to give a passphrase. Any other
 * code: "". The one wording of the library, the CLI and the broker.
 */
const char *keys_file_hint(int rc, const char *subject, const char *path,
                           const char *passphrase_how, char *buf, size_t len);

/*
 * Decodes the text of a secret key file already in memory (len bytes);
 * codes as keys_load() without the file and permission ones.
 */
int keys_decode(const uint8_t *text, size_t len, const char *passphrase, keys_secret **out);

/* Nonzero if the key file at path is passphrase-protected; -1 on error. */
int keys_file_is_encrypted(const char *path);

#endif
