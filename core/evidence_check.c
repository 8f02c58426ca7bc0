/*
 * evidence_check.c — checking an evidence bundle (evidence_check.h).
 *
 * The checks, in order (each adds findings; a failure does not stop the
 * later checks unless they cannot run without what failed):
 *   1. the archive (zip_read: layout, CRC-32, names, limits);
 *   2. the manifest: present, JSON without duplicate keys or unknown fields,
 *      every member named as its type requires;
 *   3. the members: each listed one present with the listed size and
 *      SHA-256, none unlisted, one envelope, one CA, receipts with keys;
 *   4. the CA: the trust directory's (same node id and signing key);
 *   5. the revocation list: signed by that CA;
 *   6. the certificates: issued by that CA, named as listed;
 *   7. the manifest signature: by the sender's node, certificate usable then;
 *   8. the envelope: a direct message, signed under the certificate its
 *      header names, usable at its creation time; the manifest's claims
 *      equal the signed header's;
 *   9. each receipt: from a recipient, addressed to the sender, signed
 *      under a certificate usable then, its disclosed key the one its header
 *      commits to, its ReceiptSet holding an entry for this message that
 *      quotes exactly this envelope's digest, status delivered; and a
 *      receipt from every recipient.
 */
#include "evidence_check.h"

#include "armor.h"
#include "asylink/errors.h"
#include "clock.h"
#include "evidence.h"
#include "receipt.h"
#include "sig.h"
#include "uuid.h"
#include "zip.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SHA_LEN crypto_hash_sha256_BYTES

_Static_assert(EVIDENCE_MAX_MEMBER >= ENVELOPE_MAX_SIZE && EVIDENCE_MAX_MEMBER >= EVIDENCE_MAX_CRL,
               "a bundle member can be the largest envelope or revocation list");

/* A member as the manifest lists it. */
typedef struct {
    char name[ZIP_NAME_MAX + 1];
    const char *type;           /* one of the EVIDENCE_T_* strings */
    char node[NODE_ID_MAX + 1]; /* "" when the type has none */
    uint64_t serial;            /* certificates */
    uint64_t size;
    uint8_t sha256[S_SHA_LEN];
    const zip_member *z; /* the archive's member of that name, or NULL */
    bool intact;         /* present with the listed size and SHA-256 */
} s_entry;

/* The manifest's claims. */
typedef struct {
    char message_id[UUID_STR_LEN];
    char sender[NODE_ID_MAX + 1];
    char (*recipients)[NODE_ID_MAX + 1];
    size_t n_recipients;
    char content_type[ENVELOPE_CONTENT_TYPE_MAX + 1];
    char classification[16];
    uint64_t created_ms;
    uint8_t digest[ENVELOPE_DIGEST_LEN];
    char exported_by[NODE_ID_MAX + 1];
    uint64_t exporter_serial;
    uint64_t exported_ms;
    s_entry *entries;
    size_t n_entries;
} s_manifest;

/* One check run. */
typedef struct {
    evidence_report *r;
    const trust *t;
    const cert *ca; /* the trust directory's CA */
    zip_archive *zip;
    const zip_member *manifest, *manifest_sig;
    s_manifest m;
    crl *crl;     /* the bundle's revocation list, if it decoded */
    cert **certs; /* the bundle's certificates that verified */
    size_t n_certs;
    envelope *env; /* the sent envelope, if it decoded */
    bool oom;
} s_check;

/* ---- findings ---- */

static void s_find(s_check *c, int code, const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records a finding: ok when code is ASYLINK_OK. */
static void s_find(s_check *c, int code, const char *subject, const char *fmt, ...)
{
    evidence_report *r = c->r;
    evidence_finding *f = realloc(r->findings, (r->n_findings + 1) * sizeof *f);
    if (!f) {
        c->oom = true;
        return;
    }
    r->findings = f;
    f = &r->findings[r->n_findings++];
    memset(f, 0, sizeof *f);
    f->ok = code == ASYLINK_OK;
    f->code = code;
    snprintf(f->subject, sizeof f->subject, "%s", subject);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->text, sizeof f->text, fmt, ap);
    va_end(ap);
    if (code != ASYLINK_OK && r->result == ASYLINK_OK)
        r->result = code;
}

/* A hostile string made printable (non-ASCII and controls become '?'), cut to fit out. */
static const char *s_safe(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in && in[i] && i + 1 < len; i++)
        out[i] = (unsigned char)in[i] >= 0x20 && (unsigned char)in[i] < 0x7f ? in[i] : '?';
    out[i] = 0;
    return out;
}

static const char *s_hex(const uint8_t *bin, size_t len, char *hex, size_t hex_len)
{
    return sodium_bin2hex(hex, hex_len, bin, len);
}

/* Parses exactly 2 * len lowercase hex digits; -1 if s is not that. */
static int s_unhex(const char *s, uint8_t *out, size_t len)
{
    if (strlen(s) != 2 * len)
        return -1;
    for (size_t i = 0; i < 2 * len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return -1;
    return sodium_hex2bin(out, len, s, 2 * len, NULL, NULL, NULL) == 0 ? 0 : -1;
}

static const char *s_when(uint64_t ms, char *buf, size_t len)
{
    return clock_format_iso(ms, buf, len);
}

/* ---- the manifest ---- */

static const char *const s_types[] = {EVIDENCE_T_ENVELOPE,    EVIDENCE_T_RECEIPT,
                                      EVIDENCE_T_RECEIPT_KEY, EVIDENCE_T_CA,
                                      EVIDENCE_T_CERT,        EVIDENCE_T_CRL};

/* The name a member of this type (node, serial) must have, into buf. */
static const char *s_expected_name(const s_entry *e, char *buf, size_t len)
{
    if (strcmp(e->type, EVIDENCE_T_ENVELOPE) == 0)
        snprintf(buf, len, "%s", EVIDENCE_ENVELOPE);
    else if (strcmp(e->type, EVIDENCE_T_CA) == 0)
        snprintf(buf, len, "%s", EVIDENCE_CA);
    else if (strcmp(e->type, EVIDENCE_T_CRL) == 0)
        snprintf(buf, len, "%s", EVIDENCE_CRL);
    else if (strcmp(e->type, EVIDENCE_T_CERT) == 0)
        evidence_cert_name(e->node, e->serial, buf, len);
    else
        evidence_receipt_name(e->node, strcmp(e->type, EVIDENCE_T_RECEIPT_KEY) == 0, buf, len);
    return buf;
}

/* Reads one member entry of the manifest into e; an error sentence into why. */
static int s_parse_entry(json_t *j, s_entry *e, char *why, size_t why_len)
{
    const char *name = NULL, *type = NULL, *node = NULL, *sha = NULL;
    json_int_t serial = -1, size = -1;
    json_error_t err;
    if (json_unpack_ex(j, &err, 0, "{s:s, s:s, s?s, s?I, s:I, s:s !}", "name", &name, "type", &type,
                       "node", &node, "serial", &serial, "size", &size, "sha256", &sha) != 0) {
        snprintf(why, why_len,
                 "a member entry is not {name, type, [node], [serial], size, "
                 "sha256}: %s",
                 err.text);
        return ASYLINK_E_MALFORMED;
    }
    char safe[ZIP_NAME_MAX + 1], expected[ZIP_NAME_MAX + 1];
    s_safe(name, safe, sizeof safe);
    for (size_t i = 0; i < sizeof s_types / sizeof s_types[0] && !e->type; i++)
        if (strcmp(type, s_types[i]) == 0)
            e->type = s_types[i];
    bool has_node = !strcmp(type, EVIDENCE_T_RECEIPT) || !strcmp(type, EVIDENCE_T_RECEIPT_KEY) ||
                    !strcmp(type, EVIDENCE_T_CERT);
    bool is_cert = e->type && !strcmp(type, EVIDENCE_T_CERT);
    bool has_serial = json_object_get(j, "serial") != NULL;
    if (!e->type || has_node != (node != NULL) || is_cert != has_serial ||
        (node && !node_id_valid(node)) || (is_cert && serial <= 0) || size < 0 ||
        s_unhex(sha, e->sha256, S_SHA_LEN) != 0 || strlen(name) > ZIP_NAME_MAX) {
        snprintf(why, why_len, "member entry '%s' has a bad type, node, serial, size or sha256",
                 safe);
        return ASYLINK_E_BAD_FIELD;
    }
    snprintf(e->node, sizeof e->node, "%s", node ? node : "");
    e->serial = is_cert ? (uint64_t)serial : 0;
    e->size = (uint64_t)size;
    snprintf(e->name, sizeof e->name, "%s", name);
    if (strcmp(name, s_expected_name(e, expected, sizeof expected)) != 0) {
        snprintf(why, why_len, "member '%s' of type %s must be called '%s'", safe, e->type,
                 expected);
        return ASYLINK_E_BAD_FIELD;
    }
    return ASYLINK_OK;
}

/* Reads the recipients array. */
static int s_parse_recipients(json_t *a, s_manifest *m, char *why, size_t why_len)
{
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    if (n == 0 || n > ENVELOPE_MAX_RECIPIENTS) {
        snprintf(why, why_len, "recipients must be an array of 1..%d node ids",
                 ENVELOPE_MAX_RECIPIENTS);
        return ASYLINK_E_BAD_FIELD;
    }
    m->recipients = calloc(n, sizeof *m->recipients);
    if (!m->recipients)
        return ASYLINK_E_NOMEM;
    m->n_recipients = n;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s || !node_id_valid(s)) {
            snprintf(why, why_len, "recipient %zu is not a node id", i + 1);
            return ASYLINK_E_BAD_NODE_ID;
        }
        snprintf(m->recipients[i], sizeof m->recipients[i], "%s", s);
    }
    return ASYLINK_OK;
}

/* Reads the members array; a name listed twice is refused. */
static int s_parse_members(json_t *a, s_manifest *m, char *why, size_t why_len)
{
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    if (n == 0 || n > EVIDENCE_MAX_MEMBERS) {
        snprintf(why, why_len, "members must be an array of 1..%d entries", EVIDENCE_MAX_MEMBERS);
        return ASYLINK_E_BAD_FIELD;
    }
    m->entries = calloc(n, sizeof *m->entries);
    if (!m->entries)
        return ASYLINK_E_NOMEM;
    m->n_entries = n;
    for (size_t i = 0; i < n; i++) {
        int rc = s_parse_entry(json_array_get(a, i), &m->entries[i], why, why_len);
        if (rc != ASYLINK_OK)
            return rc;
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->entries[k].name, m->entries[i].name) == 0) {
                snprintf(why, why_len, "member '%s' is listed twice", m->entries[i].name);
                return ASYLINK_E_BAD_FIELD;
            }
    }
    return ASYLINK_OK;
}

/* Copies a claimed string field, checking its shape. */
static int s_claim(char *dst, size_t len, const char *src, bool node, const char *what, char *why,
                   size_t why_len)
{
    if (strlen(src) >= len || (node && !node_id_valid(src))) {
        snprintf(why, why_len, "%s is not %s", what, node ? "a node id" : "of the right form");
        return node ? ASYLINK_E_BAD_NODE_ID : ASYLINK_E_BAD_FIELD;
    }
    snprintf(dst, len, "%s", src);
    return ASYLINK_OK;
}

/* Reads the top-level object of the manifest. */
static int s_parse_top(json_t *root, s_manifest *m, char *why, size_t why_len)
{
    const char *format, *id, *sender, *ctype, *cls, *digest, *by;
    json_int_t created = -1, serial = -1, exported = -1;
    json_t *recipients, *members;
    json_error_t err;
    if (json_unpack_ex(root, &err, 0,
                       "{s:s, s:s, s:s, s:o, s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:o !}", "format",
                       &format, "message_id", &id, "sender", &sender, "recipients", &recipients,
                       "content_type", &ctype, "classification", &cls, "created_ms", &created,
                       "envelope_digest", &digest, "exported_by", &by, "exporter_serial", &serial,
                       "exported_ms", &exported, "members", &members) != 0) {
        snprintf(why, why_len, "not the manifest object of this format: %s", err.text);
        return ASYLINK_E_MALFORMED;
    }
    if (strcmp(format, EVIDENCE_FORMAT) != 0) {
        char safe[64];
        snprintf(why, why_len, "format '%s' is not %s", s_safe(format, safe, sizeof safe),
                 EVIDENCE_FORMAT);
        return ASYLINK_E_UNSUPPORTED_VERSION;
    }
    int rc = s_claim(m->message_id, sizeof m->message_id, id, false, "message_id", why, why_len);
    if (rc == ASYLINK_OK)
        rc = s_claim(m->sender, sizeof m->sender, sender, true, "sender", why, why_len);
    if (rc == ASYLINK_OK)
        rc = s_claim(m->content_type, sizeof m->content_type, ctype, false, "content_type", why,
                     why_len);
    if (rc == ASYLINK_OK)
        rc = s_claim(m->classification, sizeof m->classification, cls, false, "classification", why,
                     why_len);
    if (rc == ASYLINK_OK)
        rc = s_claim(m->exported_by, sizeof m->exported_by, by, true, "exported_by", why, why_len);
    if (rc == ASYLINK_OK && (created <= 0 || serial <= 0 || exported <= 0 ||
                             s_unhex(digest, m->digest, sizeof m->digest) != 0)) {
        snprintf(why, why_len,
                 "created_ms, exporter_serial, exported_ms or envelope_digest "
                 "is not of the right form");
        rc = ASYLINK_E_BAD_FIELD;
    }
    m->created_ms = (uint64_t)created;
    m->exporter_serial = (uint64_t)serial;
    m->exported_ms = (uint64_t)exported;
    if (rc == ASYLINK_OK)
        rc = s_parse_recipients(recipients, m, why, why_len);
    if (rc == ASYLINK_OK)
        rc = s_parse_members(members, m, why, why_len);
    return rc;
}

/* Step 2: finds and parses manifest.json. False if the check cannot go on. */
static bool s_read_manifest(s_check *c)
{
    c->manifest = zip_find(c->zip, EVIDENCE_MANIFEST);
    c->manifest_sig = zip_find(c->zip, EVIDENCE_MANIFEST_SIG);
    if (!c->manifest || !c->manifest_sig) {
        s_find(c, ASYLINK_E_NOT_FOUND, "bundle", "the bundle has no %s",
               c->manifest ? EVIDENCE_MANIFEST_SIG : EVIDENCE_MANIFEST);
        return false;
    }
    if (c->manifest->size > EVIDENCE_MAX_MANIFEST) {
        s_find(c, ASYLINK_E_TOO_LARGE, EVIDENCE_MANIFEST, "%zu bytes (at most %u)",
               c->manifest->size, EVIDENCE_MAX_MANIFEST);
        return false;
    }
    json_error_t err;
    json_t *root = json_loadb((const char *)c->manifest->data, c->manifest->size,
                              JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        s_find(c, ASYLINK_E_MALFORMED, EVIDENCE_MANIFEST, "not JSON (line %d): %s", err.line,
               err.text);
        return false;
    }
    char why[300] = "";
    int rc = s_parse_top(root, &c->m, why, sizeof why);
    json_decref(root);
    if (rc == ASYLINK_E_NOMEM)
        c->oom = true;
    if (rc != ASYLINK_OK) {
        s_find(c, rc, EVIDENCE_MANIFEST, "%s", why);
        return false;
    }
    snprintf(c->r->exported_by, sizeof c->r->exported_by, "%s", c->m.exported_by);
    c->r->exported_ms = c->m.exported_ms;
    return true;
}

/* ---- members ---- */

/* The manifest entry of type (and node, if not NULL); the i-th such when several. */
static s_entry *s_entry_of(s_check *c, const char *type, const char *node)
{
    for (size_t i = 0; i < c->m.n_entries; i++)
        if (strcmp(c->m.entries[i].type, type) == 0 &&
            (!node || !strcmp(c->m.entries[i].node, node)))
            return &c->m.entries[i];
    return NULL;
}

static size_t s_count_type(const s_check *c, const char *type)
{
    size_t n = 0;
    for (size_t i = 0; i < c->m.n_entries; i++)
        n += strcmp(c->m.entries[i].type, type) == 0;
    return n;
}

/* Compares one listed member with the archive's. */
static void s_check_entry(s_check *c, s_entry *e)
{
    if (!e->z) {
        s_find(c, ASYLINK_E_NOT_FOUND, e->name,
               "listed in the manifest but not in the bundle "
               "(removed?)");
        return;
    }
    uint8_t sha[S_SHA_LEN];
    char got[2 * S_SHA_LEN + 1], want[2 * S_SHA_LEN + 1];
    crypto_hash_sha256(sha, e->z->data, e->z->size);
    if (e->z->size != e->size || sodium_memcmp(sha, e->sha256, S_SHA_LEN) != 0) {
        s_find(c, ASYLINK_E_TAMPERED, e->name,
               "changed: %zu bytes with SHA-256 %s, the manifest lists %llu bytes with %s",
               e->z->size, s_hex(sha, sizeof sha, got, sizeof got), (unsigned long long)e->size,
               s_hex(e->sha256, S_SHA_LEN, want, sizeof want));
        return;
    }
    e->intact = true;
}

/* The manifest's shape: one envelope, one CA, receipts with keys. False if unusable. */
static bool s_check_shape(s_check *c)
{
    for (size_t i = 0; i < c->m.n_entries; i++) {
        s_entry *e = &c->m.entries[i];
        e->z = zip_find(c->zip, e->name);
        bool is_receipt = !strcmp(e->type, EVIDENCE_T_RECEIPT);
        if ((is_receipt || !strcmp(e->type, EVIDENCE_T_RECEIPT_KEY)) &&
            !s_entry_of(c, is_receipt ? EVIDENCE_T_RECEIPT_KEY : EVIDENCE_T_RECEIPT, e->node))
            s_find(c, ASYLINK_E_MALFORMED, e->name,
                   "the manifest lists %s's receipt %s without its %s", e->node,
                   is_receipt ? "envelope" : "key", is_receipt ? "key" : "envelope");
    }
    if (s_count_type(c, EVIDENCE_T_ENVELOPE) != 1 || s_count_type(c, EVIDENCE_T_CA) != 1 ||
        s_count_type(c, EVIDENCE_T_CRL) > 1) {
        s_find(c, ASYLINK_E_MALFORMED, EVIDENCE_MANIFEST,
               "a bundle holds exactly one envelope, one CA certificate and at most one "
               "revocation list");
        return false;
    }
    return true;
}

/* Step 3: every member against the manifest. */
static void s_check_members(s_check *c)
{
    size_t before = c->r->n_findings, intact = 0;
    for (size_t i = 0; i < c->m.n_entries; i++) {
        s_check_entry(c, &c->m.entries[i]);
        intact += c->m.entries[i].intact;
    }
    for (size_t i = 0; i < zip_count(c->zip); i++) {
        const zip_member *z = zip_at(c->zip, i);
        bool listed =
            !strcmp(z->name, EVIDENCE_MANIFEST) || !strcmp(z->name, EVIDENCE_MANIFEST_SIG);
        for (size_t k = 0; !listed && k < c->m.n_entries; k++)
            listed = strcmp(c->m.entries[k].name, z->name) == 0;
        if (!listed)
            s_find(c, ASYLINK_E_TAMPERED, z->name,
                   "in the bundle but not in the manifest (added?)");
    }
    if (c->r->n_findings == before)
        s_find(c, ASYLINK_OK, "bundle",
               "all %zu files are intact: sizes and SHA-256 digests as the signed manifest "
               "lists them",
               intact);
}

/* The armored member of entry e decoded (label), malloc'd; code on failure. */
static int s_unarmor(const s_entry *e, const char *label, uint8_t **raw, size_t *len)
{
    *raw = NULL;
    *len = 0;
    if (!e->z)
        return ASYLINK_E_NOT_FOUND;
    return armor_decode(label, (const char *)e->z->data, e->z->size, 0, raw, len);
}

/* ---- CA, revocation list, certificates ---- */

static const char *s_fpr(const uint8_t pk[32], char *buf, size_t len)
{
    return s_hex(pk, 8, buf, len); /* 16 hex digits are enough to tell keys apart for a person */
}

/* Step 4: the bundle's CA is the trust directory's. */
static void s_check_ca(s_check *c)
{
    s_entry *e = s_entry_of(c, EVIDENCE_T_CA, NULL);
    snprintf(c->r->ca_node, sizeof c->r->ca_node, "%s", c->ca->node_id);
    if (!e->z)
        return; /* reported missing */
    uint8_t *raw = NULL;
    size_t len = 0;
    cert *ca = NULL;
    int rc = s_unarmor(e, ARMOR_CERTIFICATE, &raw, &len);
    if (rc == ASYLINK_OK)
        rc = cert_decode(raw, len, &ca);
    free(raw);
    char have[17], want[17];
    if (rc != ASYLINK_OK)
        s_find(c, rc, e->name, "not a certificate: %s", asylink_strerror(rc));
    else if (strcmp(ca->node_id, c->ca->node_id) != 0 ||
             sodium_memcmp(ca->sign_pk, c->ca->sign_pk, 32) != 0)
        s_find(c, ASYLINK_E_UNTRUSTED_ISSUER, e->name,
               "the bundle's CA %s (key %s...) is not the trust directory's CA %s (key %s...)",
               ca->node_id, s_fpr(ca->sign_pk, have, sizeof have), c->ca->node_id,
               s_fpr(c->ca->sign_pk, want, sizeof want));
    else
        s_find(c, ASYLINK_OK, e->name, "CA %s (key %s...) is the CA of the trust directory",
               ca->node_id, s_fpr(ca->sign_pk, have, sizeof have));
    cert_destroy(&ca);
}

/* Step 5: the bundle's revocation list, signed by the trusted CA. */
static void s_check_crl(s_check *c)
{
    const crl *mine = trust_crl(c->t);
    c->r->trust_has_crl = mine != NULL;
    c->r->trust_crl_number = mine ? mine->number : 0;
    s_entry *e = s_entry_of(c, EVIDENCE_T_CRL, NULL);
    char when[40];
    if (!e) {
        s_find(c, ASYLINK_OK, "bundle",
               "the bundle holds no revocation list (its exporter had none)%s",
               mine ? "; the trust directory's is checked" : "");
        return;
    }
    uint8_t *raw = NULL;
    size_t len = 0;
    int rc = s_unarmor(e, ARMOR_CRL, &raw, &len);
    if (rc == ASYLINK_OK)
        rc = crl_decode(raw, len, c->ca, &c->crl);
    free(raw);
    if (rc != ASYLINK_OK) {
        s_find(c, rc, e->name, "not a revocation list of the CA: %s", asylink_strerror(rc));
        return;
    }
    c->r->has_crl = true;
    c->r->crl_number = c->crl->number;
    c->r->crl_issued_ms = c->crl->issued_ms;
    s_find(c, ASYLINK_OK, e->name, "revocation list number %llu of %s, signed by the CA%s",
           (unsigned long long)c->crl->number, s_when(c->crl->issued_ms, when, sizeof when),
           mine && mine->number > c->crl->number
               ? "; the trust directory's newer one is checked too"
               : "");
}

/* Step 6: every certificate, issued by the trusted CA and named as listed. */
static void s_check_certs(s_check *c)
{
    size_t n = s_count_type(c, EVIDENCE_T_CERT), good = 0;
    c->certs = calloc(n ? n : 1, sizeof *c->certs);
    if (!c->certs) {
        c->oom = true;
        return;
    }
    for (size_t i = 0; i < c->m.n_entries; i++) {
        const s_entry *e = &c->m.entries[i];
        if (strcmp(e->type, EVIDENCE_T_CERT) != 0 || !e->z)
            continue; /* not a certificate, or reported missing */
        uint8_t *raw = NULL;
        size_t len = 0;
        cert *x = NULL;
        int rc = s_unarmor(e, ARMOR_CERTIFICATE, &raw, &len);
        if (rc == ASYLINK_OK)
            rc = cert_decode(raw, len, &x);
        free(raw);
        if (rc == ASYLINK_OK && (strcmp(x->node_id, e->node) != 0 || x->serial != e->serial))
            rc = ASYLINK_E_TAMPERED;
        if (rc == ASYLINK_OK)
            rc = cert_verify(x, c->ca);
        if (rc != ASYLINK_OK) {
            s_find(c, rc, e->name, "not a certificate of %s serial %llu issued by the CA: %s",
                   e->node, (unsigned long long)e->serial,
                   rc == ASYLINK_E_TAMPERED ? "it is another node's or serial"
                                            : asylink_strerror(rc));
            cert_destroy(&x);
            continue;
        }
        c->certs[c->n_certs++] = x;
        good++;
    }
    if (good == n)
        s_find(c, ASYLINK_OK, "bundle", "%zu node certificate%s, all issued by the CA", n,
               n == 1 ? "" : "s");
}

/* The bundle's verified certificate of (node, serial), or NULL. */
static const cert *s_cert(const s_check *c, const char *node, uint64_t serial)
{
    for (size_t i = 0; i < c->n_certs; i++)
        if (strcmp(c->certs[i]->node_id, node) == 0 && c->certs[i]->serial == serial)
            return c->certs[i];
    return NULL;
}

/* The revocation entry of serial in the bundle's or the trust directory's list, or NULL. */
static const crl_entry *s_revoked(const s_check *c, uint64_t serial)
{
    const crl_entry *r = c->crl ? crl_find(c->crl, serial) : NULL;
    const crl *mine = trust_crl(c->t);
    return r ? r : mine ? crl_find(mine, serial) : NULL;
}

/*
 * May certificate x (or the CA) have signed at at_ms? Writes why not into
 * why. CERT_NOT_YET_VALID / CERT_EXPIRED / REVOKED.
 */
static int s_usable(const s_check *c, const cert *x, uint64_t at_ms, char *why, size_t len)
{
    char a[40], b[40], d[40];
    int rc = cert_check_time(c->ca, at_ms);
    const cert *judged = rc != ASYLINK_OK ? c->ca : x;
    if (rc == ASYLINK_OK)
        rc = cert_check_time(x, at_ms);
    if (rc != ASYLINK_OK) {
        snprintf(why, len, "the certificate of %s serial %llu is valid from %s to %s, not at %s",
                 judged->node_id, (unsigned long long)judged->serial,
                 s_when(judged->not_before_ms, a, sizeof a),
                 s_when(judged->not_after_ms, b, sizeof b), s_when(at_ms, d, sizeof d));
        return rc;
    }
    const crl_entry *r = s_revoked(c, x->serial);
    if (r) {
        char reason[sizeof r->reason];
        snprintf(why, len, "the certificate of %s serial %llu was revoked on %s (%s)", x->node_id,
                 (unsigned long long)x->serial, s_when(r->revoked_ms, a, sizeof a),
                 s_safe(r->reason, reason, sizeof reason));
        return ASYLINK_E_REVOKED;
    }
    return ASYLINK_OK;
}

/* The manifest's signer: the sender's node, with a certificate usable at export time. */
static int s_exporter(s_check *c, const cert **x, char *why, size_t len)
{
    *x = s_cert(c, c->m.exported_by, c->m.exporter_serial);
    if (strcmp(c->m.exported_by, c->m.sender) != 0) {
        snprintf(why, len, "exported by %s, but only the sender %s can export its evidence",
                 c->m.exported_by, c->m.sender);
        return ASYLINK_E_BAD_FIELD;
    }
    if (!*x) {
        snprintf(why, len, "no usable certificate of %s serial %llu in the bundle",
                 c->m.exported_by, (unsigned long long)c->m.exporter_serial);
        return ASYLINK_E_UNKNOWN_SENDER;
    }
    if (c->manifest_sig->size != SIG_LEN) {
        snprintf(why, len, "%zu bytes, not a %d-byte signature", c->manifest_sig->size, SIG_LEN);
        return ASYLINK_E_BAD_FIELD;
    }
    return s_usable(c, *x, c->m.exported_ms, why, len);
}

/* Step 7: the manifest's signature. */
static void s_check_manifest_sig(s_check *c)
{
    const cert *x = NULL;
    char why[300] = "", when[40];
    int rc = s_exporter(c, &x, why, sizeof why);
    if (rc == ASYLINK_OK) {
        uint8_t digest[64];
        evidence_manifest_digest(c->manifest->data, c->manifest->size, digest);
        rc = sig_verify_digest(x->sign_pk, digest, c->manifest_sig->data);
        if (rc != ASYLINK_OK)
            snprintf(why, sizeof why,
                     "the signature of %s serial %llu does not verify: %s or %s was changed",
                     x->node_id, (unsigned long long)x->serial, EVIDENCE_MANIFEST,
                     EVIDENCE_MANIFEST_SIG);
    }
    if (rc != ASYLINK_OK)
        s_find(c, rc, EVIDENCE_MANIFEST_SIG, "%s", why);
    else
        s_find(c, ASYLINK_OK, EVIDENCE_MANIFEST_SIG,
               "the manifest is signed by %s (certificate serial %llu), exported %s", x->node_id,
               (unsigned long long)x->serial, s_when(c->m.exported_ms, when, sizeof when));
}

/* ---- the envelope ---- */

/* Copies what the signed header says into the report. */
static void s_report_message(s_check *c, const envelope_header *h)
{
    evidence_report *r = c->r;
    r->have_message = true;
    uuid_format(h->message_id, r->message_id, sizeof r->message_id);
    snprintf(r->sender, sizeof r->sender, "%s", h->sender);
    r->sender_serial = h->sender_cert_serial;
    snprintf(r->content_type, sizeof r->content_type, "%s", h->content_type);
    r->classification = h->classification;
    r->created_ms = h->created_ms;
    r->expires_ms = h->expires_ms;
    r->payload_size = h->payload_size;
    r->encrypted = h->encryption != ENVELOPE_ENC_NONE;
    memcpy(r->digest, envelope_digest(c->env), ENVELOPE_DIGEST_LEN);
    r->recipients = calloc(h->n_recipients ? h->n_recipients : 1, sizeof *r->recipients);
    if (!r->recipients) {
        c->oom = true;
        return;
    }
    r->n_recipients = h->n_recipients;
    for (size_t i = 0; i < h->n_recipients; i++)
        snprintf(r->recipients[i].node, sizeof r->recipients[i].node, "%s", h->recipients[i]);
}

/* The manifest's claims against the signed header. */
static void s_check_claims(s_check *c, const envelope_header *h)
{
    const s_manifest *m = &c->m;
    bool same_recipients = m->n_recipients == h->n_recipients;
    for (size_t i = 0; same_recipients && i < h->n_recipients; i++)
        same_recipients = strcmp(m->recipients[i], h->recipients[i]) == 0;
    const char *field = NULL;
    if (strcmp(m->message_id, c->r->message_id) != 0)
        field = "message_id";
    else if (strcmp(m->sender, h->sender) != 0)
        field = "sender";
    else if (!same_recipients)
        field = "recipients";
    else if (strcmp(m->content_type, h->content_type) != 0)
        field = "content_type";
    else if (strcmp(m->classification, envelope_class_name(h->classification)) != 0)
        field = "classification";
    else if (m->created_ms != h->created_ms)
        field = "created_ms";
    else if (sodium_memcmp(m->digest, envelope_digest(c->env), ENVELOPE_DIGEST_LEN) != 0)
        field = "envelope_digest";
    if (field)
        s_find(c, ASYLINK_E_TAMPERED, EVIDENCE_MANIFEST,
               "its %s differs from what the signed envelope says", field);
}

/* Step 8: the sent envelope and its signature. */
static void s_check_envelope(s_check *c)
{
    const s_entry *e = s_entry_of(c, EVIDENCE_T_ENVELOPE, NULL);
    if (!e->z)
        return; /* reported missing */
    int rc = envelope_decode(e->z->data, e->z->size, 0, &c->env);
    if (rc != ASYLINK_OK) {
        s_find(c, rc, e->name, "not an envelope: %s", asylink_strerror(rc));
        return;
    }
    const envelope_header *h = envelope_header_of(c->env);
    s_report_message(c, h);
    if (h->n_recipients == 0) {
        s_find(c, ASYLINK_E_BAD_FIELD, e->name,
               "a feed message: it has no recipients and no receipts");
        return;
    }
    const cert *x = s_cert(c, h->sender, h->sender_cert_serial);
    char why[300] = "", when[40];
    if (!x)
        snprintf(why, sizeof why,
                 "no usable certificate of the sender %s serial %llu in the bundle", h->sender,
                 (unsigned long long)h->sender_cert_serial);
    rc = x ? s_usable(c, x, h->created_ms, why, sizeof why) : ASYLINK_E_UNKNOWN_SENDER;
    if (rc == ASYLINK_OK && (rc = envelope_verify_signature(c->env, x->sign_pk)) != ASYLINK_OK)
        snprintf(why, sizeof why,
                 "the sender's signature does not verify: the envelope was changed");
    if (x)
        snprintf(c->r->sender_name, sizeof c->r->sender_name, "%s", x->display_name);
    if (rc != ASYLINK_OK)
        s_find(c, rc, e->name, "%s", why);
    else
        s_find(c, ASYLINK_OK, e->name,
               "signed by %s with certificate serial %llu (valid and not revoked on %s): "
               "signature valid",
               h->sender, (unsigned long long)h->sender_cert_serial,
               s_when(h->created_ms, when, sizeof when));
    s_check_claims(c, h);
}

/* ---- receipts ---- */

/* Decodes and checks the receipt envelope of node: sender, addressee, type, signature. */
static int s_receipt_envelope(s_check *c, const s_entry *e, envelope **out, char *why, size_t len)
{
    const envelope_header *h = envelope_header_of(c->env);
    int rc = e->z ? envelope_decode(e->z->data, e->z->size, EVIDENCE_MAX_RECEIPT, out)
                  : ASYLINK_E_NOT_FOUND;
    if (rc != ASYLINK_OK) {
        snprintf(why, len, "not an envelope: %s", asylink_strerror(rc));
        return rc;
    }
    const envelope_header *r = envelope_header_of(*out);
    if (strcmp(r->sender, e->node) != 0 || r->n_recipients != 1 ||
        strcmp(r->recipients[0], h->sender) != 0 ||
        strcmp(r->content_type, RECEIPT_CONTENT_TYPE) != 0) {
        snprintf(why, len, "not a receipt envelope from %s to %s (%s to %s, content type %s)",
                 e->node, h->sender, r->sender, r->n_recipients ? r->recipients[0] : "a topic",
                 r->content_type);
        return ASYLINK_E_TAMPERED;
    }
    const cert *x = s_cert(c, r->sender, r->sender_cert_serial);
    if (!x) {
        snprintf(why, len, "no usable certificate of %s serial %llu in the bundle", r->sender,
                 (unsigned long long)r->sender_cert_serial);
        return ASYLINK_E_UNKNOWN_SENDER;
    }
    rc = s_usable(c, x, r->created_ms, why, len);
    if (rc == ASYLINK_OK && (rc = envelope_verify_signature(*out, x->sign_pk)) != ASYLINK_OK)
        snprintf(why, len, "%s's signature does not verify: the receipt was changed", r->sender);
    if (rc == ASYLINK_OK && r->encryption == ENVELOPE_ENC_NONE) {
        /* PROTOCOL.md 5: receipts travel encrypted to the sender; libasylink refuses one that
           is not, and there is no content key to disclose */
        snprintf(why, len, "signed only, not encrypted to %s: not a receipt", h->sender);
        rc = ASYLINK_E_CLASSIFICATION;
    }
    return rc;
}

/* Finds this message's entry in the decrypted ReceiptSet and checks it. */
static int s_receipt_entry(s_check *c, const s_entry *e, const uint8_t *payload, size_t plen,
                           evidence_recipient *out, char *why, size_t len)
{
    const envelope_header *h = envelope_header_of(c->env);
    receipt *set = NULL;
    size_t n = 0;
    int rc = receipt_set_decode(payload, plen, &set, &n);
    if (rc != ASYLINK_OK) {
        snprintf(why, len, "its content is not a ReceiptSet: %s", asylink_strerror(rc));
        return rc;
    }
    size_t at = 0;
    while (at < n && memcmp(set[at].message_id, h->message_id, 16) != 0)
        at++;
    char got[2 * ENVELOPE_DIGEST_LEN + 1];
    if (at == n) {
        snprintf(why, len, "the signed receipt does not name message %s", c->r->message_id);
        rc = ASYLINK_E_NOT_FOUND;
    } else if (strcmp(set[at].recipient, e->node) != 0 || strcmp(set[at].sender, h->sender) != 0) {
        snprintf(why, len, "the receipt is about a message from %s to %s", set[at].sender,
                 set[at].recipient);
        rc = ASYLINK_E_TAMPERED;
    } else if (sodium_memcmp(set[at].envelope_digest, envelope_digest(c->env), 64) != 0) {
        snprintf(why, len, "the receipt quotes envelope digest %.32s..., not this envelope's",
                 s_hex(set[at].envelope_digest, 64, got, sizeof got));
        rc = ASYLINK_E_TAMPERED;
    } else if (set[at].status != RECEIPT_DELIVERED) {
        char reason[sizeof set[at].reason];
        snprintf(why, len, "%s refused the message: %.160s", e->node,
                 s_safe(set[at].reason, reason, sizeof reason));
        rc = ASYLINK_E_NOT_RECIPIENT;
    } else {
        out->acked_ms = set[at].acked_ms;
        out->others = n - 1;
    }
    free(set);
    return rc;
}

/* Step 9, one receipt: everything about node's receipt. */
static void s_check_receipt(s_check *c, const s_entry *e, evidence_recipient *out)
{
    envelope *re = NULL;
    char why[300] = "", when[40];
    out->has_receipt = true;
    int rc = s_receipt_envelope(c, e, &re, why, sizeof why);
    const s_entry *k = s_entry_of(c, EVIDENCE_T_RECEIPT_KEY, e->node);
    uint8_t *payload = NULL;
    size_t plen = 0;
    if (rc == ASYLINK_OK && (!k || !k->z || k->z->size != EVIDENCE_KEY_LEN)) {
        snprintf(why, sizeof why, "no %d-byte key to open it", EVIDENCE_KEY_LEN);
        rc = ASYLINK_E_BAD_FIELD;
    }
    if (rc == ASYLINK_OK &&
        (rc = envelope_open_with_key(re, k->z->data, &payload, &plen)) != ASYLINK_OK)
        snprintf(why, sizeof why,
                 "the disclosed key %s is not the one %s committed to, or the "
                 "receipt does not open with it",
                 k->name, e->node);
    if (rc == ASYLINK_OK)
        rc = s_receipt_entry(c, e, payload, plen, out, why, sizeof why);
    envelope_payload_free(payload, plen);
    if (rc == ASYLINK_OK) {
        const envelope_header *r = envelope_header_of(re);
        const cert *x = s_cert(c, r->sender, r->sender_cert_serial);
        out->proven = true;
        out->receipt_created_ms = r->created_ms;
        out->cert_serial = r->sender_cert_serial;
        snprintf(out->display_name, sizeof out->display_name, "%s", x->display_name);
        s_find(c, ASYLINK_OK, e->name,
               "signed by %s with certificate serial %llu (valid and not revoked then), "
               "quotes exactly this envelope's digest: delivered, acknowledged %s",
               e->node, (unsigned long long)r->sender_cert_serial,
               s_when(out->acked_ms, when, sizeof when));
    } else {
        s_find(c, rc, e->name, "%s", why);
    }
    envelope_destroy(&re);
}

/* Step 9: a checked receipt from every recipient, and from nobody else. */
static void s_check_receipts(s_check *c)
{
    for (size_t i = 0; i < c->m.n_entries; i++) {
        const s_entry *e = &c->m.entries[i];
        if (strcmp(e->type, EVIDENCE_T_RECEIPT) != 0)
            continue;
        evidence_recipient *to = NULL;
        for (size_t k = 0; k < c->r->n_recipients && !to; k++)
            if (strcmp(c->r->recipients[k].node, e->node) == 0)
                to = &c->r->recipients[k];
        if (to)
            s_check_receipt(c, e, to);
        else
            s_find(c, ASYLINK_E_TAMPERED, e->name, "a receipt from %s, who is not a recipient",
                   e->node);
    }
    for (size_t k = 0; k < c->r->n_recipients; k++)
        if (!c->r->recipients[k].has_receipt)
            s_find(c, ASYLINK_E_NOT_FOUND, "bundle",
                   "no receipt from %s: delivery to %s is not proven", c->r->recipients[k].node,
                   c->r->recipients[k].node);
}

/* ---- the whole check ---- */

static void s_check_free(s_check *c)
{
    zip_archive_destroy(&c->zip);
    free(c->m.recipients);
    free(c->m.entries);
    crl_destroy(&c->crl);
    for (size_t i = 0; i < c->n_certs; i++)
        cert_destroy(&c->certs[i]);
    free(c->certs);
    envelope_destroy(&c->env);
}

static void s_run(s_check *c, const uint8_t *buf, size_t len)
{
    zip_limits lim = {.max_members = EVIDENCE_MAX_MEMBERS,
                      .max_member_size = EVIDENCE_MAX_MEMBER,
                      .max_archive_size = EVIDENCE_MAX_BUNDLE};
    zip_error why;
    int rc = zip_read(buf, len, &lim, &c->zip, &why);
    if (rc != ASYLINK_OK) {
        s_find(c, rc, "bundle", "not an evidence bundle: %s", why.text);
        return;
    }
    c->r->n_members = zip_count(c->zip);
    if (!s_read_manifest(c) || !s_check_shape(c))
        return;
    /* The signers first, then the manifest's signature, so that a changed
     * manifest is reported as such before what it (wrongly) lists. */
    s_check_ca(c);
    s_check_crl(c);
    s_check_certs(c);
    if (c->oom)
        return;
    s_check_manifest_sig(c);
    s_check_members(c);
    s_check_envelope(c);
    if (c->env && !c->oom && c->r->n_recipients > 0)
        s_check_receipts(c);
}

int evidence_check(const uint8_t *buf, size_t len, const trust *t, evidence_report **out)
{
    if (!out)
        return ASYLINK_E_INVALID_ARG;
    *out = NULL;
    if ((!buf && len) || !t)
        return ASYLINK_E_INVALID_ARG;
    s_check c = {.t = t, .ca = trust_ca(t)};
    c.r = calloc(1, sizeof *c.r);
    if (!c.r)
        return ASYLINK_E_NOMEM;
    s_run(&c, buf, len);
    s_check_free(&c);
    if (c.oom) {
        evidence_report_free(&c.r);
        return ASYLINK_E_NOMEM;
    }
    if (c.r->n_findings == 0) /* cannot happen: every path records a finding */
        c.r->result = ASYLINK_E_INTERNAL;
    *out = c.r;
    return ASYLINK_OK;
}

void evidence_report_free(evidence_report **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->recipients);
    free((*self_p)->findings);
    free(*self_p);
    *self_p = NULL;
}
