/*
 * certend.c — a certificate's nearness to its end (certend.h).
 */
#include "certend.h"

#include "asylink/errors.h"

certend_state certend_cert(const trust *t, const cert *c, uint64_t now_ms, int *code)
{
    *code = trust_check(t, c, now_ms);
    if (*code != ASYLINK_OK)
        return CERTEND_UNUSABLE;
    return c->not_after_ms - now_ms <= CERTEND_WARN_MS ? CERTEND_ENDING : CERTEND_OK;
}

certend_state certend_ca(const trust *t, uint64_t now_ms)
{
    const cert *ca = trust_ca(t);
    if (ca->not_after_ms <= now_ms)
        return CERTEND_UNUSABLE;
    return ca->not_after_ms - now_ms <= CERTEND_CA_WARN_MS ? CERTEND_ENDING : CERTEND_OK;
}

uint64_t certend_days_left(uint64_t not_after_ms, uint64_t now_ms)
{
    return not_after_ms > now_ms ? (not_after_ms - now_ms) / 86400000 : 0;
}
