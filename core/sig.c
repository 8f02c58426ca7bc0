/*
 * sig.c — domain-separated Ed25519 over BLAKE2b-512 digests.
 */
#include "sig.h"

#include "asylink/errors.h"

#include <string.h>

void sig_digest_init(crypto_generichash_state *st, const char *domain)
{
    crypto_generichash_init(st, NULL, 0, SIG_DIGEST_LEN);
    crypto_generichash_update(st, (const uint8_t *)domain, strlen(domain));
}

void sig_digest_lp(crypto_generichash_state *st, const uint8_t *data, size_t len)
{
    uint8_t be[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                     (uint8_t)len};
    crypto_generichash_update(st, be, sizeof be);
    if (len)
        crypto_generichash_update(st, data, len);
}

void sig_digest_final(crypto_generichash_state *st, uint8_t out[SIG_DIGEST_LEN])
{
    crypto_generichash_final(st, out, SIG_DIGEST_LEN);
}

void sig_digest_body(const char *domain, const uint8_t *body, size_t len,
                     uint8_t out[SIG_DIGEST_LEN])
{
    crypto_generichash_state st;
    sig_digest_init(&st, domain);
    sig_digest_lp(&st, body, len);
    sig_digest_final(&st, out);
}

void sig_sign_digest(const uint8_t sign_sk[64], const uint8_t digest[SIG_DIGEST_LEN],
                     uint8_t sig[SIG_LEN])
{
    crypto_sign_detached(sig, NULL, digest, SIG_DIGEST_LEN, sign_sk);
}

int sig_verify_digest(const uint8_t pk[32], const uint8_t digest[SIG_DIGEST_LEN],
                      const uint8_t sig[SIG_LEN])
{
    return crypto_sign_verify_detached(sig, digest, SIG_DIGEST_LEN, pk) == 0
               ? ASYLINK_OK
               : ASYLINK_E_BAD_SIGNATURE;
}
