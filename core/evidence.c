/*
 * evidence.c — building evidence bundles (evidence.h, PROTOCOL.md 14).
 *
 * The manifest is written here by hand rather than with a JSON library,
 * because this code is part of libasylink, which does not depend on one.
 * Every string it writes is a node id, a UUID, hex, a member name, a
 * classification or a content type (printable ASCII, of which '"' and '\'
 * are escaped), so the output is plain ASCII JSON.
 */
#include "evidence.h"

#include "armor.h"
#include "asylink/errors.h"
#include "envelope.h"
#include "receipt.h"
#include "sig.h"
#include "uuid.h"
#include "zip.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One member to write. */
typedef struct {
    char name[ZIP_NAME_MAX + 1];
    const char *type;           /* EVIDENCE_T_* */
    char node[NODE_ID_MAX + 1]; /* receipt, receipt_key, certificate: the node; else "" */
    uint64_t serial;            /* certificate: its serial; else 0 */
    const uint8_t *data;        /* the bytes (owned when owned is set) */
    size_t len;
    bool owned;
} s_member;

/* The bundle being built. */
typedef struct {
    s_member *m;
    size_t n, cap;
    char *json; /* the manifest text */
    size_t json_len, json_cap;
    bool oom; /* a manifest append failed */
} s_bundle;

void evidence_manifest_digest(const uint8_t *manifest, size_t len, uint8_t out[64])
{
    crypto_generichash_state st;
    sig_digest_init(&st, EVIDENCE_SIG_DOMAIN);
    sig_digest_lp(&st, manifest, len);
    sig_digest_final(&st, out);
}

const char *evidence_cert_name(const char *node, uint64_t serial, char *buf, size_t len)
{
    snprintf(buf, len, "certs/%s.%llu.cert", node, (unsigned long long)serial);
    return buf;
}

const char *evidence_receipt_name(const char *node, int key, char *buf, size_t len)
{
    snprintf(buf, len, "receipts/%s.%s", node, key ? "key" : "bin");
    return buf;
}

/* ---- members ---- */

static void s_bundle_free(s_bundle *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->m[i].owned)
            free((void *)b->m[i].data);
    free(b->m);
    free(b->json);
}

/* Adds a member; data is taken over (freed with the bundle) when owned. */
static int s_add(s_bundle *b, const char *name, const char *type, const char *node, uint64_t serial,
                 const uint8_t *data, size_t len, bool owned)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        s_member *m = realloc(b->m, cap * sizeof *m);
        if (!m) {
            if (owned)
                free((void *)data);
            return ASYLINK_E_NOMEM;
        }
        b->m = m;
        b->cap = cap;
    }
    s_member *m = &b->m[b->n++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->type = type;
    snprintf(m->node, sizeof m->node, "%s", node ? node : "");
    m->serial = serial;
    m->data = data;
    m->len = len;
    m->owned = owned;
    return ASYLINK_OK;
}

/* Adds raw (e.g. a certificate) armored under label with comment (may be NULL). */
static int s_add_armored(s_bundle *b, const char *name, const char *type, const char *node,
                         uint64_t serial, const char *label, const char *comment,
                         const uint8_t *raw, size_t raw_len)
{
    char *text = NULL;
    int rc = armor_encode(label, comment, raw, raw_len, &text);
    if (rc != ASYLINK_OK)
        return rc;
    return s_add(b, name, type, node, serial, (const uint8_t *)text, strlen(text), true);
}

static int s_add_cert(s_bundle *b, const char *name, const char *type, const cert *c)
{
    char *about = cert_describe(c);
    if (!about)
        return ASYLINK_E_NOMEM;
    int rc = s_add_armored(b, name, type, strcmp(type, EVIDENCE_T_CA) == 0 ? NULL : c->node_id,
                           strcmp(type, EVIDENCE_T_CA) == 0 ? 0 : c->serial, ARMOR_CERTIFICATE,
                           about, c->raw, c->raw_len);
    free(about);
    return rc;
}

/* ---- the manifest ---- */

static void s_json(s_bundle *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends formatted text to the manifest. */
static void s_json(s_bundle *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        size_t room = b->json_cap - b->json_len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->json ? b->json + b->json_len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < room) {
            b->json_len += (size_t)n;
            return;
        }
        size_t cap = b->json_cap ? 2 * b->json_cap : 4096;
        while (cap < b->json_len + (size_t)n + 1)
            cap *= 2;
        char *j = realloc(b->json, cap);
        if (!j) {
            b->oom = true;
            return;
        }
        b->json = j;
        b->json_cap = cap;
    }
}

/* Appends s as a JSON string (s is printable ASCII: only '"' and '\' need escaping). */
static void s_json_str(s_bundle *b, const char *s)
{
    s_json(b, "\"");
    for (; *s; s++)
        s_json(b, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
    s_json(b, "\"");
}

static void s_hex(const uint8_t *bin, size_t len, char *hex)
{
    sodium_bin2hex(hex, 2 * len + 1, bin, len);
}

static void s_json_members(s_bundle *b)
{
    s_json(b, "\"members\":[");
    for (size_t i = 0; i < b->n; i++) {
        const s_member *m = &b->m[i];
        uint8_t sha[crypto_hash_sha256_BYTES];
        char hex[2 * crypto_hash_sha256_BYTES + 1];
        crypto_hash_sha256(sha, m->data, m->len);
        s_hex(sha, sizeof sha, hex);
        s_json(b, "%s{\"name\":\"%s\",\"type\":\"%s\"", i ? "," : "", m->name, m->type);
        if (m->node[0])
            s_json(b, ",\"node\":\"%s\"", m->node);
        if (strcmp(m->type, EVIDENCE_T_CERT) == 0)
            s_json(b, ",\"serial\":%llu", (unsigned long long)m->serial);
        s_json(b, ",\"size\":%zu,\"sha256\":\"%s\"}", m->len, hex);
    }
    s_json(b, "]");
}

/* Writes the manifest for the members gathered and the envelope e. */
static int s_manifest(s_bundle *b, const envelope *e, const evidence_parts *p)
{
    const envelope_header *h = envelope_header_of(e);
    char id[UUID_STR_LEN], digest[2 * ENVELOPE_DIGEST_LEN + 1];
    uuid_format(h->message_id, id, sizeof id);
    s_hex(envelope_digest(e), ENVELOPE_DIGEST_LEN, digest);
    s_json(b, "{\"format\":\"%s\",\"message_id\":\"%s\",\"sender\":\"%s\",\"recipients\":[",
           EVIDENCE_FORMAT, id, h->sender);
    for (size_t i = 0; i < h->n_recipients; i++)
        s_json(b, "%s\"%s\"", i ? "," : "", h->recipients[i]);
    s_json(b, "],\"content_type\":");
    s_json_str(b, h->content_type);
    s_json(b,
           ",\"classification\":\"%s\",\"created_ms\":%llu,\"envelope_digest\":\"%s\","
           "\"exported_by\":\"%s\",\"exporter_serial\":%llu,\"exported_ms\":%llu,",
           envelope_class_name(h->classification), (unsigned long long)h->created_ms, digest,
           p->exporter->node_id, (unsigned long long)p->exporter->serial,
           (unsigned long long)p->exported_ms);
    s_json_members(b);
    s_json(b, "}\n");
    return b->oom ? ASYLINK_E_NOMEM : ASYLINK_OK;
}

/* ---- gathering ---- */

static bool s_is_recipient(const envelope_header *h, const char *node)
{
    for (size_t i = 0; i < h->n_recipients; i++)
        if (strcmp(h->recipients[i], node) == 0)
            return true;
    return false;
}

/* The certificate (node, serial) among p's, or the exporter's; NULL if none. */
static const cert *s_cert_of(const evidence_parts *p, const char *node, uint64_t serial)
{
    if (strcmp(p->exporter->node_id, node) == 0 && p->exporter->serial == serial)
        return p->exporter;
    for (size_t i = 0; i < p->n_certs; i++)
        if (p->certs[i] && strcmp(p->certs[i]->node_id, node) == 0 && p->certs[i]->serial == serial)
            return p->certs[i];
    return NULL;
}

/*
 * Decodes the receipts and adds them in the order of h's recipients. A
 * receipt from a non-recipient or a second one from a node is BAD_FIELD; a
 * signer whose certificate is missing NOT_FOUND.
 */
static int s_add_receipts(s_bundle *b, const envelope_header *h, const evidence_parts *p)
{
    envelope **e = calloc(p->n_receipts ? p->n_receipts : 1, sizeof *e);
    if (!e)
        return ASYLINK_E_NOMEM;
    int rc = ASYLINK_OK;
    for (size_t i = 0; rc == ASYLINK_OK && i < p->n_receipts; i++) {
        rc = envelope_decode(p->receipts[i].envelope, p->receipts[i].envelope_len, 0, &e[i]);
        const envelope_header *r = rc == ASYLINK_OK ? envelope_header_of(e[i]) : NULL;
        if (r && !s_is_recipient(h, r->sender))
            rc = ASYLINK_E_BAD_FIELD;
        for (size_t k = 0; r && rc == ASYLINK_OK && k < i; k++)
            if (strcmp(envelope_header_of(e[k])->sender, r->sender) == 0)
                rc = ASYLINK_E_BAD_FIELD;
        if (r && rc == ASYLINK_OK && !s_cert_of(p, r->sender, r->sender_cert_serial))
            rc = ASYLINK_E_NOT_FOUND;
        if (rc == ASYLINK_OK && !p->receipts[i].key)
            rc = ASYLINK_E_INVALID_ARG;
    }
    for (size_t k = 0; rc == ASYLINK_OK && k < h->n_recipients; k++) {
        for (size_t i = 0; rc == ASYLINK_OK && i < p->n_receipts; i++) {
            const char *node = envelope_header_of(e[i])->sender;
            if (strcmp(node, h->recipients[k]) != 0)
                continue;
            char name[ZIP_NAME_MAX + 1];
            rc = s_add(b, evidence_receipt_name(node, 0, name, sizeof name), EVIDENCE_T_RECEIPT,
                       node, 0, p->receipts[i].envelope, p->receipts[i].envelope_len, false);
            if (rc == ASYLINK_OK)
                rc = s_add(b, evidence_receipt_name(node, 1, name, sizeof name),
                           EVIDENCE_T_RECEIPT_KEY, node, 0, p->receipts[i].key, EVIDENCE_KEY_LEN,
                           false);
        }
    }
    for (size_t i = 0; i < p->n_receipts; i++)
        envelope_destroy(&e[i]);
    free(e);
    return rc;
}

static int s_cert_order(const void *a, const void *b)
{
    const cert *x = *(const cert *const *)a, *y = *(const cert *const *)b;
    int c = strcmp(x->node_id, y->node_id);
    return c ? c : (x->serial > y->serial) - (x->serial < y->serial);
}

/* Adds the node certificates (each (node, serial) once, sorted) and the exporter's. */
static int s_add_certs(s_bundle *b, const evidence_parts *p)
{
    const cert **all = calloc(p->n_certs + 1, sizeof *all);
    if (!all)
        return ASYLINK_E_NOMEM;
    size_t n = 0;
    all[n++] = p->exporter;
    for (size_t i = 0; i < p->n_certs; i++) {
        bool seen = !p->certs[i];
        for (size_t k = 0; !seen && k < n; k++)
            seen = strcmp(all[k]->node_id, p->certs[i]->node_id) == 0 &&
                   all[k]->serial == p->certs[i]->serial;
        if (!seen)
            all[n++] = p->certs[i];
    }
    qsort(all, n, sizeof *all, s_cert_order);
    int rc = ASYLINK_OK;
    for (size_t i = 0; rc == ASYLINK_OK && i < n; i++) {
        char name[ZIP_NAME_MAX + 1];
        rc = s_add_cert(b, evidence_cert_name(all[i]->node_id, all[i]->serial, name, sizeof name),
                        EVIDENCE_T_CERT, all[i]);
    }
    free(all);
    return rc;
}

static int s_add_crl(s_bundle *b, const crl *l)
{
    if (!l)
        return ASYLINK_OK;
    char about[160];
    snprintf(about, sizeof about, "revocation list number %llu of %s, %zu entries",
             (unsigned long long)l->number, l->issuer, l->n_entries);
    return s_add_armored(b, EVIDENCE_CRL, EVIDENCE_T_CRL, NULL, 0, ARMOR_CRL, about, l->raw,
                         l->raw_len);
}

/* Gathers every member but the manifest and its signature. */
static int s_gather(s_bundle *b, const envelope *e, const evidence_parts *p)
{
    const envelope_header *h = envelope_header_of(e);
    if (h->n_recipients == 0 || strcmp(h->sender, p->exporter->node_id) != 0)
        return ASYLINK_E_BAD_FIELD;
    if (!s_cert_of(p, h->sender, h->sender_cert_serial))
        return ASYLINK_E_NOT_FOUND;
    int rc = s_add(b, EVIDENCE_ENVELOPE, EVIDENCE_T_ENVELOPE, NULL, 0, p->envelope, p->envelope_len,
                   false);
    if (rc == ASYLINK_OK)
        rc = s_add_receipts(b, h, p);
    if (rc == ASYLINK_OK)
        rc = s_add_cert(b, EVIDENCE_CA, EVIDENCE_T_CA, p->ca);
    if (rc == ASYLINK_OK)
        rc = s_add_certs(b, p);
    if (rc == ASYLINK_OK)
        rc = s_add_crl(b, p->crl);
    if (rc == ASYLINK_OK && b->n + 2 > EVIDENCE_MAX_MEMBERS)
        rc = ASYLINK_E_TOO_LARGE;
    return rc;
}

/* Writes the zip: manifest, its signature, then the members. */
static int s_write(s_bundle *b, const evidence_parts *p, uint8_t **out, size_t *len)
{
    uint8_t digest[64], sig[SIG_LEN];
    evidence_manifest_digest((const uint8_t *)b->json, b->json_len, digest);
    sig_sign_digest(p->exporter_keys->sign_sk, digest, sig);
    zip_writer *w = NULL;
    int rc = zip_writer_new(p->exported_ms, &w);
    if (rc == ASYLINK_OK)
        rc = zip_writer_add(w, EVIDENCE_MANIFEST, (const uint8_t *)b->json, b->json_len);
    if (rc == ASYLINK_OK)
        rc = zip_writer_add(w, EVIDENCE_MANIFEST_SIG, sig, sizeof sig);
    for (size_t i = 0; rc == ASYLINK_OK && i < b->n; i++)
        rc = zip_writer_add(w, b->m[i].name, b->m[i].data, b->m[i].len);
    if (rc == ASYLINK_OK)
        rc = zip_writer_finish(w, out, len);
    zip_writer_destroy(&w);
    if (rc == ASYLINK_OK && *len > EVIDENCE_MAX_BUNDLE) {
        free(*out);
        *out = NULL;
        *len = 0;
        rc = ASYLINK_E_TOO_LARGE;
    }
    return rc == ASYLINK_E_EXISTS ? ASYLINK_E_INTERNAL : rc;
}

int evidence_build(const evidence_parts *p, uint8_t **out, size_t *len)
{
    if (!out || !len)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    *len = 0;
    if (!p || !p->envelope || !p->ca || !p->exporter || !p->exporter_keys ||
        (p->n_receipts && !p->receipts) || (p->n_certs && !p->certs))
        return ASYLINK_E_INVALID_ARG;
    envelope *e = NULL;
    int rc = envelope_decode(p->envelope, p->envelope_len, 0, &e);
    if (rc != ASYLINK_OK)
        return rc;
    s_bundle b = {0};
    rc = s_gather(&b, e, p);
    if (rc == ASYLINK_OK)
        rc = s_manifest(&b, e, p);
    if (rc == ASYLINK_OK)
        rc = s_write(&b, p, out, len);
    s_bundle_free(&b);
    envelope_destroy(&e);
    return rc;
}
