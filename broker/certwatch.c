/*
 * certwatch.c — the broker's own certificate and the CA's, checked for
 * their end before the nodes find it (certwatch.h).
 */
#include "certwatch.h"

#include "asylink/errors.h"
#include "certend.h"
#include "clock.h"
#include "log.h"

static void s_log_own(const cert *own, certend_state st, int code, uint64_t now_ms)
{
    char end[32];
    clock_format_iso(own->not_after_ms, end, sizeof end);
    if (st == CERTEND_UNUSABLE)
        LOG_ERROR("certwatch",
                  "the broker's certificate is no longer usable: nodes refuse to open a client "
                  "with it, and every node that reconnects stays out",
                  "node=%s serial=%llu not_after=%s code=%s hint=%s", own->node_id,
                  (unsigned long long)own->serial, end, asylink_err_name(code),
                  LOG_Q("issue a new broker certificate (asylink ca sign), give it to every node "
                        "(broker_cert) and to this broker (cert), then restart asylinkd"));
    else if (st == CERTEND_ENDING)
        LOG_WARN("certwatch", "the broker's certificate expires soon",
                 "node=%s serial=%llu not_after=%s days_left=%llu hint=%s", own->node_id,
                 (unsigned long long)own->serial, end,
                 (unsigned long long)certend_days_left(own->not_after_ms, now_ms),
                 LOG_Q("issue a new broker certificate for the same key (asylink ca sign), give "
                       "it to every node (broker_cert) and to this broker (cert), then restart "
                       "asylinkd"));
}

static void s_log_ca(const cert *ca, certend_state st, uint64_t now_ms)
{
    char end[32];
    clock_format_iso(ca->not_after_ms, end, sizeof end);
    if (st == CERTEND_UNUSABLE)
        LOG_ERROR("certwatch",
                  "the CA certificate has expired: no certificate of the federation verifies",
                  "ca=%s not_after=%s code=%s hint=%s", ca->node_id, end,
                  asylink_err_name(ASYLINK_E_CERT_EXPIRED),
                  LOG_Q("set up the federation's certificates anew under a new CA "
                        "(docs/OPERATIONS.md, certificates)"));
    else if (st == CERTEND_ENDING)
        LOG_WARN("certwatch", "the CA certificate expires soon",
                 "ca=%s not_after=%s days_left=%llu hint=%s", ca->node_id, end,
                 (unsigned long long)certend_days_left(ca->not_after_ms, now_ms),
                 LOG_Q("every certificate ends with the CA's: plan the move to a new CA "
                       "(docs/OPERATIONS.md, certificates)"));
}

void certwatch_run(certwatch *w, const trust *t, const cert *own, uint64_t now_ms)
{
    if (w->next_ms && now_ms < w->next_ms)
        return;
    w->next_ms = now_ms + CERTEND_INTERVAL_MS;
    if (own) {
        int code = ASYLINK_OK;
        certend_state st = certend_cert(t, own, now_ms, &code);
        s_log_own(own, st, code, now_ms);
    }
    s_log_ca(trust_ca(t), certend_ca(t, now_ms), now_ms);
}

void certwatch_reset(certwatch *w)
{
    w->next_ms = 0;
}
