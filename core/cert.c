/*
 * cert.c — certificates, certificate requests and revocation lists.
 *
 * All three share one wire shape, { bytes body = 1; bytes signature = 2; },
 * with the signature over BLAKE2b-512(domain || lp(body)) (sig.h). The
 * generated protobuf-c types stay inside this file.
 */
#include "cert.h"

#include "armor.h"
#include "asylink/errors.h"
#include "asylink/v1/envelope.pb-c.h"
#include "clock.h"
#include "codec.h"
#include "file.h"
#include "sig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CERT_VERSION 1

static const char *const s_role_names[] = {
    [CERT_ROLE_MEMBER_STATE] = "member_state", [CERT_ROLE_AGENCY] = "agency",
    [CERT_ROLE_ANALYST] = "analyst",           [CERT_ROLE_OPERATOR] = "operator",
    [CERT_ROLE_BROKER] = "broker",             [CERT_ROLE_CA] = "ca",
};

bool node_id_valid(const char *id)
{
    if (!id)
        return false;
    size_t n = strlen(id);
    if (n < 2 || n > NODE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return false;
    }
    return true;
}

const char *cert_role_name(int role)
{
    return role >= 1 && role <= CERT_ROLE_MAX ? s_role_names[role] : NULL;
}

int cert_roles_parse(const char *list, uint32_t *mask)
{
    *mask = 0;
    const char *p = list;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int found = 0;
        for (int r = 1; r <= CERT_ROLE_MAX; r++) {
            if (strlen(s_role_names[r]) == n && memcmp(s_role_names[r], p, n) == 0) {
                *mask |= CERT_ROLE_BIT(r);
                found = 1;
            }
        }
        if (!found)
            return ASYLINK_E_BAD_FIELD;
        p = comma ? comma + 1 : p + n;
    }
    return *mask ? ASYLINK_OK : ASYLINK_E_BAD_FIELD;
}

const char *cert_roles_format(uint32_t mask, char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = 0;
    for (int r = 1; r <= CERT_ROLE_MAX; r++) {
        if (!(mask & CERT_ROLE_BIT(r)))
            continue;
        int n = snprintf(buf + pos, len - pos, "%s%s", pos ? "," : "", s_role_names[r]);
        if (n < 0 || (size_t)n >= len - pos)
            break;
        pos += (size_t)n;
    }
    return buf;
}

bool cert_has_role(const cert *c, int role)
{
    return role >= 1 && role <= CERT_ROLE_MAX && (c->roles & CERT_ROLE_BIT(role));
}

bool cert_is_internal(const cert *c)
{
    uint32_t internal = CERT_ROLE_BIT(CERT_ROLE_BROKER) | CERT_ROLE_BIT(CERT_ROLE_OPERATOR) |
                        CERT_ROLE_BIT(CERT_ROLE_CA);
    return (c->roles & ~internal) == 0;
}

bool cert_may_read_feeds(const cert *c)
{
    const uint32_t readers = CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE) |
                             CERT_ROLE_BIT(CERT_ROLE_AGENCY) | CERT_ROLE_BIT(CERT_ROLE_ANALYST);
    return c && c->roles != 0 && (c->roles & ~readers) == 0;
}

/* A display name is valid UTF-8 text without control characters. */
bool cert_display_valid(const char *s)
{
    if (!s || strlen(s) > CERT_DISPLAY_MAX || !codec_utf8_valid(s))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* Converts repeated Role to a mask; E_BAD_FIELD on unknown or none. */
static int s_roles_from_pb(const Asylink__V1__Role *roles, size_t n, uint32_t *mask)
{
    *mask = 0;
    for (size_t i = 0; i < n; i++) {
        if ((int)roles[i] < 1 || (int)roles[i] > CERT_ROLE_MAX)
            return ASYLINK_E_BAD_FIELD;
        *mask |= CERT_ROLE_BIT((int)roles[i]);
    }
    return *mask ? ASYLINK_OK : ASYLINK_E_BAD_FIELD;
}

static size_t s_roles_to_pb(uint32_t mask, Asylink__V1__Role out[CERT_ROLE_MAX])
{
    size_t n = 0;
    for (int r = 1; r <= CERT_ROLE_MAX; r++)
        if (mask & CERT_ROLE_BIT(r))
            out[n++] = (Asylink__V1__Role)r;
    return n;
}

static void s_copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/*
 * The shared { body, signature } shape: decoded with the Certificate type,
 * which has exactly that wire form (fields 1 and 2, both bytes).
 */
static int s_unpack_signed(const uint8_t *buf, size_t len, size_t limit,
                           Asylink__V1__Certificate **out)
{
    *out = NULL;
    if (!buf || len == 0)
        return ASYLINK_E_MALFORMED;
    if (len > limit)
        return ASYLINK_E_TOO_LARGE;
    Asylink__V1__Certificate *m = asylink__v1__certificate__unpack(NULL, len, buf);
    if (!m)
        return ASYLINK_E_MALFORMED;
    if (!codec_is_canonical(&m->base, buf, len)) {
        asylink__v1__certificate__free_unpacked(m, NULL);
        return ASYLINK_E_MALFORMED;
    }
    if (m->signature.len != SIG_LEN || m->body.len == 0) {
        asylink__v1__certificate__free_unpacked(m, NULL);
        return ASYLINK_E_BAD_FIELD;
    }
    *out = m;
    return ASYLINK_OK;
}

/* Packs { body, signature } into a malloc'd buffer. */
static int s_pack_signed(const uint8_t *body, size_t body_len, const uint8_t sig[SIG_LEN],
                         uint8_t **raw, size_t *raw_len)
{
    Asylink__V1__Certificate m = ASYLINK__V1__CERTIFICATE__INIT;
    m.body.data = (uint8_t *)body;
    m.body.len = body_len;
    m.signature.data = (uint8_t *)sig;
    m.signature.len = SIG_LEN;
    *raw_len = asylink__v1__certificate__get_packed_size(&m);
    *raw = malloc(*raw_len);
    if (!*raw)
        return ASYLINK_E_NOMEM;
    asylink__v1__certificate__pack(&m, *raw);
    return ASYLINK_OK;
}

/* Fills c's fields from a decoded body, checking syntax. */
static int s_cert_from_body(cert *c, const Asylink__V1__CertificateBody *b)
{
    if (b->version != CERT_VERSION)
        return ASYLINK_E_UNSUPPORTED_VERSION;
    if (!node_id_valid(b->node_id) || !node_id_valid(b->issuer))
        return ASYLINK_E_BAD_NODE_ID;
    if (b->serial == 0 || !cert_display_valid(b->display_name) || b->sign_pk.len != 32 ||
        b->box_pk.len != 32 || b->issuer_sign_pk.len != 32 || b->not_before_ms >= b->not_after_ms)
        return ASYLINK_E_BAD_FIELD;
    int rc = s_roles_from_pb(b->roles, b->n_roles, &c->roles);
    if (rc != ASYLINK_OK)
        return rc;
    c->serial = b->serial;
    s_copy_str(c->node_id, sizeof c->node_id, b->node_id);
    s_copy_str(c->display_name, sizeof c->display_name, b->display_name);
    s_copy_str(c->issuer, sizeof c->issuer, b->issuer);
    memcpy(c->sign_pk, b->sign_pk.data, 32);
    memcpy(c->box_pk, b->box_pk.data, 32);
    memcpy(c->issuer_sign_pk, b->issuer_sign_pk.data, 32);
    c->not_before_ms = b->not_before_ms;
    c->not_after_ms = b->not_after_ms;
    return ASYLINK_OK;
}

/* Keeps copies of the serialized certificate and of its signed body. */
static int s_attach_raw(cert *c, const uint8_t *buf, size_t len, const uint8_t *body,
                        size_t body_len)
{
    c->raw = malloc(len);
    c->body = malloc(body_len);
    if (!c->raw || !c->body)
        return ASYLINK_E_NOMEM;
    memcpy(c->raw, buf, len);
    c->raw_len = len;
    memcpy(c->body, body, body_len);
    c->body_len = body_len;
    return ASYLINK_OK;
}

int cert_decode(const uint8_t *buf, size_t len, cert **out)
{
    *out = NULL;
    Asylink__V1__Certificate *m = NULL;
    Asylink__V1__CertificateBody *b = NULL;
    int rc = s_unpack_signed(buf, len, CERT_FILE_MAX, &m);
    if (rc != ASYLINK_OK)
        return rc;
    cert *c = calloc(1, sizeof *c);
    rc = ASYLINK_E_NOMEM;
    if (!c)
        goto cleanup;
    rc = ASYLINK_E_MALFORMED;
    b = asylink__v1__certificate_body__unpack(NULL, m->body.len, m->body.data);
    if (!b || !codec_is_canonical(&b->base, m->body.data, m->body.len))
        goto cleanup;
    rc = s_cert_from_body(c, b);
    if (rc != ASYLINK_OK)
        goto cleanup;
    memcpy(c->signature, m->signature.data, SIG_LEN);
    rc = s_attach_raw(c, buf, len, m->body.data, m->body.len);
    if (rc == ASYLINK_OK) {
        *out = c;
        c = NULL;
    }
cleanup:
    if (b)
        asylink__v1__certificate_body__free_unpacked(b, NULL);
    asylink__v1__certificate__free_unpacked(m, NULL);
    cert_destroy(&c);
    return rc;
}

int cert_dup(const cert *c, cert **out)
{
    return cert_decode(c->raw, c->raw_len, out);
}

void cert_destroy(cert **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->raw);
    free((*self_p)->body);
    free(*self_p);
    *self_p = NULL;
}

/* Checks the fields of a certificate to be issued. */
static int s_check_fields(const char *issuer_id, const cert_fields *f, bool self_signed)
{
    if (!node_id_valid(f->node_id) || !node_id_valid(issuer_id))
        return ASYLINK_E_BAD_NODE_ID;
    if (f->serial == 0 || !cert_display_valid(f->display_name) || !f->sign_pk || !f->box_pk ||
        f->not_before_ms >= f->not_after_ms || f->roles == 0 ||
        (f->roles & ~((CERT_ROLE_BIT(CERT_ROLE_MAX) << 1) - 2u)))
        return ASYLINK_E_BAD_FIELD;
    if (!self_signed && strcmp(f->node_id, issuer_id) == 0)
        return ASYLINK_E_BAD_NODE_ID; /* a node may not take the CA's name */
    bool is_ca = f->roles & CERT_ROLE_BIT(CERT_ROLE_CA);
    if (is_ca != self_signed || (is_ca && f->roles != CERT_ROLE_BIT(CERT_ROLE_CA)))
        return ASYLINK_E_ROLE;
    return ASYLINK_OK;
}

int cert_sign(const keys_secret *issuer_keys, const char *issuer_id, const cert_fields *f,
              cert **out)
{
    *out = NULL;
    bool self_signed = f->sign_pk && memcmp(f->sign_pk, issuer_keys->sign_pk, 32) == 0 &&
                       f->node_id && issuer_id && strcmp(f->node_id, issuer_id) == 0;
    int rc = s_check_fields(issuer_id, f, self_signed);
    if (rc != ASYLINK_OK)
        return rc;
    Asylink__V1__Role roles[CERT_ROLE_MAX];
    Asylink__V1__CertificateBody b = ASYLINK__V1__CERTIFICATE_BODY__INIT;
    b.version = CERT_VERSION;
    b.serial = f->serial;
    b.node_id = (char *)f->node_id;
    b.display_name = (char *)f->display_name;
    b.n_roles = s_roles_to_pb(f->roles, roles);
    b.roles = roles;
    b.sign_pk = (ProtobufCBinaryData){32, (uint8_t *)f->sign_pk};
    b.box_pk = (ProtobufCBinaryData){32, (uint8_t *)f->box_pk};
    b.not_before_ms = f->not_before_ms;
    b.not_after_ms = f->not_after_ms;
    b.issuer = (char *)issuer_id;
    b.issuer_sign_pk = (ProtobufCBinaryData){32, (uint8_t *)issuer_keys->sign_pk};
    size_t body_len = asylink__v1__certificate_body__get_packed_size(&b);
    uint8_t *body = malloc(body_len), *raw = NULL;
    size_t raw_len = 0;
    if (!body)
        return ASYLINK_E_NOMEM;
    asylink__v1__certificate_body__pack(&b, body);
    uint8_t digest[SIG_DIGEST_LEN], sig[SIG_LEN];
    sig_digest_body(SIG_DOMAIN_CERT, body, body_len, digest);
    sig_sign_digest(issuer_keys->sign_sk, digest, sig);
    rc = s_pack_signed(body, body_len, sig, &raw, &raw_len);
    free(body);
    if (rc != ASYLINK_OK)
        return rc;
    rc = cert_decode(raw, raw_len, out);
    free(raw);
    return rc;
}

int cert_verify(const cert *c, const cert *ca)
{
    if (strcmp(c->issuer, ca->node_id) != 0 ||
        sodium_memcmp(c->issuer_sign_pk, ca->sign_pk, 32) != 0)
        return ASYLINK_E_UNTRUSTED_ISSUER;
    uint8_t digest[SIG_DIGEST_LEN];
    sig_digest_body(SIG_DOMAIN_CERT, c->body, c->body_len, digest);
    int rc = sig_verify_digest(ca->sign_pk, digest, c->signature);
    if (rc != ASYLINK_OK)
        return rc;
    bool root = c == ca || (strcmp(c->node_id, ca->node_id) == 0 &&
                            memcmp(c->sign_pk, ca->sign_pk, 32) == 0);
    if (!root && strcmp(c->node_id, ca->node_id) == 0)
        return ASYLINK_E_BAD_NODE_ID; /* a node may not carry the CA's name */
    /* Only the self-signed root holds the CA role, and nothing besides it. */
    if (ca->roles != CERT_ROLE_BIT(CERT_ROLE_CA) || cert_has_role(c, CERT_ROLE_CA) != root)
        return ASYLINK_E_ROLE;
    return ASYLINK_OK;
}

int cert_check_time(const cert *c, uint64_t now_ms)
{
    if (now_ms < c->not_before_ms)
        return ASYLINK_E_CERT_NOT_YET_VALID;
    if (now_ms >= c->not_after_ms)
        return ASYLINK_E_CERT_EXPIRED;
    return ASYLINK_OK;
}

char *cert_describe(const cert *c)
{
    char roles[128], nb[32], na[32], spk[65], bpk[65], ipk[65];
    sodium_bin2hex(spk, sizeof spk, c->sign_pk, 32);
    sodium_bin2hex(bpk, sizeof bpk, c->box_pk, 32);
    sodium_bin2hex(ipk, sizeof ipk, c->issuer_sign_pk, 32);
    size_t cap = 1024 + strlen(c->display_name);
    char *out = malloc(cap);
    if (!out)
        return NULL;
    snprintf(out, cap,
             "asylink certificate (this header is informational; the signed data is below)\n"
             "node_id:      %s\ndisplay_name: %s\nroles:        %s\nserial:       %llu\n"
             "issuer:       %s\nnot_before:   %s\nnot_after:    %s\n"
             "sign_pk:      %s\nbox_pk:       %s\nissuer_pk:    %s",
             c->node_id, c->display_name,
             cert_roles_format(c->roles, roles, sizeof roles), (unsigned long long)c->serial,
             c->issuer, clock_format_iso(c->not_before_ms, nb, sizeof nb),
             clock_format_iso(c->not_after_ms, na, sizeof na), spk, bpk, ipk);
    return out;
}

/* Reads an armored file and returns its binary content (malloc'd). */
static int s_load_armored(const char *path, const char *label, size_t limit, uint8_t **bin,
                          size_t *bin_len)
{
    uint8_t *text = NULL;
    size_t text_len = 0;
    int rc = file_read(path, CERT_ARMORED_MAX(limit), &text, &text_len);
    if (rc != ASYLINK_OK)
        return rc;
    rc = armor_decode(label, (const char *)text, text_len, 0, bin, bin_len);
    free(text);
    return rc;
}

static int s_save_armored(const char *path, const char *label, const char *comment,
                          const uint8_t *data, size_t len, int exclusive)
{
    char *text = NULL;
    int rc = armor_encode(label, comment, data, len, &text);
    if (rc == ASYLINK_OK)
        rc = file_write_atomic(path, text, strlen(text), 0644, exclusive);
    free(text);
    return rc;
}

int cert_load(const char *path, cert **out)
{
    *out = NULL;
    uint8_t *bin = NULL;
    size_t len = 0;
    int rc = s_load_armored(path, ARMOR_CERTIFICATE, CERT_FILE_MAX, &bin, &len);
    if (rc == ASYLINK_OK)
        rc = cert_decode(bin, len, out);
    free(bin);
    return rc;
}

int cert_save(const cert *c, const char *path, int exclusive)
{
    char *comment = cert_describe(c);
    if (!comment)
        return ASYLINK_E_NOMEM;
    int rc = s_save_armored(path, ARMOR_CERTIFICATE, comment, c->raw, c->raw_len, exclusive);
    free(comment);
    return rc;
}

/* ---- certificate requests ---- */

static int s_request_from_body(cert_request *r, const Asylink__V1__CertificateRequestBody *b)
{
    if (b->version != CERT_VERSION)
        return ASYLINK_E_UNSUPPORTED_VERSION;
    if (!node_id_valid(b->node_id))
        return ASYLINK_E_BAD_NODE_ID;
    if (!cert_display_valid(b->display_name) || b->sign_pk.len != 32 || b->box_pk.len != 32)
        return ASYLINK_E_BAD_FIELD;
    int rc = s_roles_from_pb(b->roles, b->n_roles, &r->roles);
    if (rc != ASYLINK_OK)
        return rc;
    if (r->roles & CERT_ROLE_BIT(CERT_ROLE_CA))
        return ASYLINK_E_BAD_FIELD; /* nobody may request the CA role */
    s_copy_str(r->node_id, sizeof r->node_id, b->node_id);
    s_copy_str(r->display_name, sizeof r->display_name, b->display_name);
    memcpy(r->sign_pk, b->sign_pk.data, 32);
    memcpy(r->box_pk, b->box_pk.data, 32);
    r->created_ms = b->created_ms;
    return ASYLINK_OK;
}

int cert_request_decode(const uint8_t *buf, size_t len, cert_request **out)
{
    *out = NULL;
    Asylink__V1__Certificate *m = NULL;
    Asylink__V1__CertificateRequestBody *b = NULL;
    int rc = s_unpack_signed(buf, len, CERT_FILE_MAX, &m);
    if (rc != ASYLINK_OK)
        return rc;
    cert_request *r = calloc(1, sizeof *r);
    rc = ASYLINK_E_NOMEM;
    if (!r)
        goto cleanup;
    rc = ASYLINK_E_MALFORMED;
    b = asylink__v1__certificate_request_body__unpack(NULL, m->body.len, m->body.data);
    if (!b || !codec_is_canonical(&b->base, m->body.data, m->body.len))
        goto cleanup;
    rc = s_request_from_body(r, b);
    if (rc != ASYLINK_OK)
        goto cleanup;
    uint8_t digest[SIG_DIGEST_LEN];
    sig_digest_body(SIG_DOMAIN_REQUEST, m->body.data, m->body.len, digest);
    rc = sig_verify_digest(r->sign_pk, digest, m->signature.data);
    if (rc != ASYLINK_OK)
        goto cleanup;
    rc = ASYLINK_E_NOMEM;
    r->raw = malloc(len);
    if (!r->raw)
        goto cleanup;
    memcpy(r->raw, buf, len);
    r->raw_len = len;
    *out = r;
    r = NULL;
    rc = ASYLINK_OK;
cleanup:
    if (b)
        asylink__v1__certificate_request_body__free_unpacked(b, NULL);
    asylink__v1__certificate__free_unpacked(m, NULL);
    cert_request_destroy(&r);
    return rc;
}

int cert_request_create(const keys_secret *keys, const char *node_id, const char *display_name,
                        uint32_t roles, uint64_t created_ms, cert_request **out)
{
    *out = NULL;
    if (!node_id_valid(node_id))
        return ASYLINK_E_BAD_NODE_ID;
    if (!cert_display_valid(display_name) || roles == 0 || (roles & CERT_ROLE_BIT(CERT_ROLE_CA)))
        return ASYLINK_E_BAD_FIELD;
    Asylink__V1__Role pbroles[CERT_ROLE_MAX];
    Asylink__V1__CertificateRequestBody b = ASYLINK__V1__CERTIFICATE_REQUEST_BODY__INIT;
    b.version = CERT_VERSION;
    b.node_id = (char *)node_id;
    b.display_name = (char *)display_name;
    b.n_roles = s_roles_to_pb(roles, pbroles);
    b.roles = pbroles;
    b.sign_pk = (ProtobufCBinaryData){32, (uint8_t *)keys->sign_pk};
    b.box_pk = (ProtobufCBinaryData){32, (uint8_t *)keys->box_pk};
    b.created_ms = created_ms;
    size_t body_len = asylink__v1__certificate_request_body__get_packed_size(&b);
    uint8_t *body = malloc(body_len), *raw = NULL;
    size_t raw_len = 0;
    if (!body)
        return ASYLINK_E_NOMEM;
    asylink__v1__certificate_request_body__pack(&b, body);
    uint8_t digest[SIG_DIGEST_LEN], sig[SIG_LEN];
    sig_digest_body(SIG_DOMAIN_REQUEST, body, body_len, digest);
    sig_sign_digest(keys->sign_sk, digest, sig);
    int rc = s_pack_signed(body, body_len, sig, &raw, &raw_len);
    free(body);
    if (rc == ASYLINK_OK)
        rc = cert_request_decode(raw, raw_len, out);
    free(raw);
    return rc;
}

void cert_request_destroy(cert_request **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->raw);
    free(*self_p);
    *self_p = NULL;
}

int cert_request_load(const char *path, cert_request **out)
{
    *out = NULL;
    uint8_t *bin = NULL;
    size_t len = 0;
    int rc = s_load_armored(path, ARMOR_REQUEST, CERT_FILE_MAX, &bin, &len);
    if (rc == ASYLINK_OK)
        rc = cert_request_decode(bin, len, out);
    free(bin);
    return rc;
}

int cert_request_save(const cert_request *r, const char *path, int exclusive)
{
    char roles[128], comment[512];
    snprintf(comment, sizeof comment,
             "asylink certificate request (send this file to the federation CA)\n"
             "node_id:      %s\ndisplay_name: %s\nroles:        %s",
             r->node_id, r->display_name, cert_roles_format(r->roles, roles, sizeof roles));
    return s_save_armored(path, ARMOR_REQUEST, comment, r->raw, r->raw_len, exclusive);
}

/* ---- revocation lists ---- */

static int s_crl_from_body(crl *l, const Asylink__V1__RevocationListBody *b)
{
    if (b->version != CERT_VERSION)
        return ASYLINK_E_UNSUPPORTED_VERSION;
    if (!node_id_valid(b->issuer))
        return ASYLINK_E_BAD_NODE_ID;
    s_copy_str(l->issuer, sizeof l->issuer, b->issuer);
    l->number = b->number;
    l->issued_ms = b->issued_ms;
    l->entries = calloc(b->n_entries ? b->n_entries : 1, sizeof *l->entries);
    if (!l->entries)
        return ASYLINK_E_NOMEM;
    for (size_t i = 0; i < b->n_entries; i++) {
        const Asylink__V1__RevokedEntry *e = b->entries[i];
        if (e->serial == 0 || !cert_display_valid(e->reason))
            return ASYLINK_E_BAD_FIELD;
        l->entries[i].serial = e->serial;
        l->entries[i].revoked_ms = e->revoked_ms;
        s_copy_str(l->entries[i].reason, sizeof l->entries[i].reason, e->reason);
    }
    l->n_entries = b->n_entries;
    return ASYLINK_OK;
}

int crl_decode(const uint8_t *buf, size_t len, const cert *ca, crl **out)
{
    *out = NULL;
    Asylink__V1__Certificate *m = NULL;
    Asylink__V1__RevocationListBody *b = NULL;
    int rc = s_unpack_signed(buf, len, CRL_FILE_MAX, &m);
    if (rc != ASYLINK_OK)
        return rc;
    crl *l = calloc(1, sizeof *l);
    rc = ASYLINK_E_NOMEM;
    if (!l)
        goto cleanup;
    rc = ASYLINK_E_MALFORMED;
    b = asylink__v1__revocation_list_body__unpack(NULL, m->body.len, m->body.data);
    if (!b || !codec_is_canonical(&b->base, m->body.data, m->body.len))
        goto cleanup;
    rc = s_crl_from_body(l, b);
    if (rc != ASYLINK_OK)
        goto cleanup;
    rc = ASYLINK_E_UNTRUSTED_ISSUER;
    if (strcmp(l->issuer, ca->node_id) != 0)
        goto cleanup;
    uint8_t digest[SIG_DIGEST_LEN];
    sig_digest_body(SIG_DOMAIN_CRL, m->body.data, m->body.len, digest);
    rc = sig_verify_digest(ca->sign_pk, digest, m->signature.data);
    if (rc != ASYLINK_OK)
        goto cleanup;
    rc = ASYLINK_E_NOMEM;
    l->raw = malloc(len);
    if (!l->raw)
        goto cleanup;
    memcpy(l->raw, buf, len);
    l->raw_len = len;
    *out = l;
    l = NULL;
    rc = ASYLINK_OK;
cleanup:
    if (b)
        asylink__v1__revocation_list_body__free_unpacked(b, NULL);
    asylink__v1__certificate__free_unpacked(m, NULL);
    crl_destroy(&l);
    return rc;
}

int crl_sign(const keys_secret *ca_keys, const cert *ca, uint64_t number, uint64_t issued_ms,
             const crl_entry *entries, size_t n, crl **out)
{
    *out = NULL;
    Asylink__V1__RevokedEntry *pe = calloc(n ? n : 1, sizeof *pe);
    Asylink__V1__RevokedEntry **pp = calloc(n ? n : 1, sizeof *pp);
    uint8_t *body = NULL, *raw = NULL;
    size_t raw_len = 0;
    int rc = ASYLINK_E_NOMEM;
    if (!pe || !pp)
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        Asylink__V1__RevokedEntry init = ASYLINK__V1__REVOKED_ENTRY__INIT;
        pe[i] = init;
        pe[i].serial = entries[i].serial;
        pe[i].revoked_ms = entries[i].revoked_ms;
        pe[i].reason = (char *)entries[i].reason;
        pp[i] = &pe[i];
    }
    Asylink__V1__RevocationListBody b = ASYLINK__V1__REVOCATION_LIST_BODY__INIT;
    b.version = CERT_VERSION;
    b.issuer = (char *)ca->node_id;
    b.number = number;
    b.issued_ms = issued_ms;
    b.n_entries = n;
    b.entries = pp;
    size_t body_len = asylink__v1__revocation_list_body__get_packed_size(&b);
    body = malloc(body_len);
    if (!body)
        goto cleanup;
    asylink__v1__revocation_list_body__pack(&b, body);
    uint8_t digest[SIG_DIGEST_LEN], sig[SIG_LEN];
    sig_digest_body(SIG_DOMAIN_CRL, body, body_len, digest);
    sig_sign_digest(ca_keys->sign_sk, digest, sig);
    rc = s_pack_signed(body, body_len, sig, &raw, &raw_len);
    if (rc == ASYLINK_OK)
        rc = crl_decode(raw, raw_len, ca, out);
cleanup:
    free(raw);
    free(body);
    free(pp);
    free(pe);
    return rc;
}

const crl_entry *crl_find(const crl *l, uint64_t serial)
{
    for (size_t i = 0; l && i < l->n_entries; i++)
        if (l->entries[i].serial == serial)
            return &l->entries[i];
    return NULL;
}

void crl_destroy(crl **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->entries);
    free((*self_p)->raw);
    free(*self_p);
    *self_p = NULL;
}

int crl_load(const char *path, const cert *ca, crl **out)
{
    *out = NULL;
    uint8_t *bin = NULL;
    size_t len = 0;
    int rc = s_load_armored(path, ARMOR_CRL, CRL_FILE_MAX, &bin, &len);
    if (rc == ASYLINK_OK)
        rc = crl_decode(bin, len, ca, out);
    free(bin);
    return rc;
}

int crl_save(const crl *l, const char *path)
{
    char comment[256], when[32];
    snprintf(comment, sizeof comment,
             "asylink revocation list (signed by the federation CA)\n"
             "issuer:  %s\nnumber:  %llu\nissued:  %s\nrevoked: %zu certificate(s)",
             l->issuer, (unsigned long long)l->number,
             clock_format_iso(l->issued_ms, when, sizeof when), l->n_entries);
    return s_save_armored(path, ARMOR_CRL, comment, l->raw, l->raw_len, 0);
}
