/*
 * sig.h — domain-separated Ed25519 signatures over BLAKE2b-512 digests.
 *
 * Every signed structure in asylink is signed the same way:
 *   digest    = BLAKE2b-512(domain || lp(part1) || lp(part2) || ...)
 *   signature = Ed25519(signer sk, digest)        (64 bytes, detached)
 *   lp(x)     = u32 big-endian length of x || x
 * The domain string (e.g. "asylink.certificate.v1") is hashed without a
 * length prefix or terminator; each structure has its own.
 */
#ifndef ASYLINK_CORE_SIG_H
#define ASYLINK_CORE_SIG_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define SIG_LEN 64
#define SIG_DIGEST_LEN 64

#define SIG_DOMAIN_ENVELOPE "asylink.envelope.v1"
#define SIG_DOMAIN_CERT "asylink.certificate.v1"
#define SIG_DOMAIN_REQUEST "asylink.certificate-request.v1"
#define SIG_DOMAIN_CRL "asylink.revocation-list.v1"

/* Starts a digest with the domain string. */
void sig_digest_init(crypto_generichash_state *st, const char *domain);

/* Adds lp(data) to a digest. */
void sig_digest_lp(crypto_generichash_state *st, const uint8_t *data, size_t len);

/* Finishes a digest into out (64 bytes). */
void sig_digest_final(crypto_generichash_state *st, uint8_t out[SIG_DIGEST_LEN]);

/* digest = BLAKE2b-512(domain || lp(body)). */
void sig_digest_body(const char *domain, const uint8_t *body, size_t len,
                     uint8_t out[SIG_DIGEST_LEN]);

/* Signs a digest with an Ed25519 secret key (64 bytes). */
void sig_sign_digest(const uint8_t sign_sk[64], const uint8_t digest[SIG_DIGEST_LEN],
                     uint8_t sig[SIG_LEN]);

/* ASYLINK_OK if sig is pk's signature of digest, else ASYLINK_E_BAD_SIGNATURE. */
int sig_verify_digest(const uint8_t pk[32], const uint8_t digest[SIG_DIGEST_LEN],
                      const uint8_t sig[SIG_LEN]);

#endif
