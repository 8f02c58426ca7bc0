/*
 * cmd_audit.c — `asylink audit tail|verify|export|reason-digest`: the
 * broker's hash-chained audit trail (docs/OPERATIONS.md "Audit trail", the format
 * in docs/PROTOCOL.md "Audit trail").
 *
 * Two sources. Online (--config OPS.ini): the broker's admin endpoint
 * (audit_tail pages, audit_verify pages). Offline (--data DIR): a copy of
 * the broker's data directory (or the live one, read-only), read with
 * LMDB directly; verify then needs --trust DIR (the broker's certificate
 * checks the checkpoint signatures), so an auditor needs nothing from the
 * operator but the files. Both sources hand the same stored values
 * (entry_hash || record, SignedAuditCheckpoint) to the same printing and
 * verifying code (core/auditchain.h).
 */
#include "adminc.h"
#include "asylink/asylink.h"
#include "auditchain.h"
#include "cert.h"
#include "cli.h"
#include "cliopt.h"
#include "clock.h"
#include "codec.h"
#include "commands.h"
#include "pbjson.h"
#include "trust.h"
#include "uuid.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_PAGE 1000      /* entries per online page */
#define S_FOLLOW_MS 1000 /* --follow polls this often */
#define S_HASH AUDITCHAIN_HASH_LEN

/*
 * A head published earlier (verify --head SEQ:HASH): the log must still
 * hold entry seq with this entry hash. The chain and its checkpoints live
 * in the same files, so removing the newest entries together with the
 * checkpoints that cover them (or restoring an older copy of the store)
 * leaves a log that verifies on its own; only a head kept elsewhere tells.
 */
typedef struct {
    bool given;
    uint64_t seq;
    uint8_t hash[S_HASH];
} s_head;

/* One command's options and its source. */
typedef struct {
    adminc_opts o;         /* online: --config, --admin, --timeout, --json */
    const char *data;      /* --data DIR: offline */
    const char *trust_dir; /* --trust DIR */
    bool follow;           /* tail --follow */
    uint64_t count;        /* tail --count */
    uint64_t from, to;     /* export / verify range; 0 = from the first / to the newest */
    const char *out;       /* export --out FILE; NULL = stdout */
    s_head head;           /* verify --head */
    const char *text;      /* reason-digest --text */
    MDB_env *env;          /* offline environment */
    MDB_dbi log, ckpt;     /* offline databases */
    trust *trust;          /* --trust, loaded */
} s_ctx;

/* Called per stored entry (seq, entry_hash || record) or checkpoint; nonzero stops. */
typedef int (*s_item_fn)(void *ctx, uint64_t seq, const uint8_t *val, size_t len);

/* ---- offline source ---- */

static int s_off_open(s_ctx *c)
{
    int rc = mdb_env_create(&c->env);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_maxdbs(c->env, 16);
    if (rc == MDB_SUCCESS) {
        rc = mdb_env_open(c->env, c->data, MDB_RDONLY, 0600);
        if (rc == EACCES || rc == EROFS) /* a copy on read-only media: no lock file */
            rc = mdb_env_open(c->env, c->data, MDB_RDONLY | MDB_NOLOCK, 0600);
    }
    MDB_txn *txn = NULL;
    if (rc == MDB_SUCCESS)
        rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "audit", 0, &c->log);
    if (rc == MDB_SUCCESS)
        rc = mdb_dbi_open(txn, "audit_ckpt", 0, &c->ckpt);
    if (txn && rc == MDB_SUCCESS)
        rc = mdb_txn_commit(txn); /* keeps the database handles (an abort would close them) */
    else if (txn)
        mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return cli_failf("%s: no audit log in this data directory (an asylinkd older than the "
                         "audit trail, or [audit] enabled = false)",
                         c->data);
    if (rc != MDB_SUCCESS)
        return cli_failf("%s: cannot open the LMDB store: %s", c->data, mdb_strerror(rc));
    return CLI_OK;
}

/* Walks dbi from seq `from` (at most limit items, up to to; 0 = the end) in a fresh read txn. */
static int s_off_walk(s_ctx *c, MDB_dbi dbi, uint64_t from, uint64_t to, size_t limit, s_item_fn fn,
                      void *ctx)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    uint8_t key[8];
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(from >> (56 - 8 * i));
    MDB_val k = {sizeof key, key}, v;
    int rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    for (size_t n = 0; rc == MDB_SUCCESS && n < limit; n++) {
        if (k.mv_size != 8) {
            rc = MDB_CORRUPTED;
            break;
        }
        uint64_t seq = 0;
        for (int i = 0; i < 8; i++)
            seq = seq << 8 | ((const uint8_t *)k.mv_data)[i];
        if ((to && seq > to) || fn(ctx, seq, v.mv_data, v.mv_size) != 0)
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return cli_failf("%s: reading the audit log: %s", c->data, mdb_strerror(rc));
    return CLI_OK;
}

/* The last entry's seq offline (0 if empty). */
static int s_off_last(s_ctx *c, uint64_t *last)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    *last = 0;
    int rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_open(txn, c->log, &cur);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (rc == MDB_SUCCESS && k.mv_size == 8)
        for (int i = 0; i < 8; i++)
            *last = *last << 8 | ((const uint8_t *)k.mv_data)[i];
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND ? CLI_OK
                                                   : cli_failf("%s: %s", c->data, mdb_strerror(rc));
}

/* ---- online source ---- */

/* Decodes base64 member key of o into a new buffer; NULL if absent or invalid. */
static uint8_t *s_b64(const json_t *o, const char *key, size_t *len)
{
    const char *s = json_string_value(json_object_get(o, key));
    size_t n = s ? strlen(s) : 0;
    uint8_t *b = n ? malloc(n) : NULL;
    if (b && sodium_base642bin(b, n, s, n, NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(b);
        b = NULL;
    }
    return b;
}

static uint64_t s_u64(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));
    return v > 0 ? (uint64_t)v : 0;
}

/* ---- printing ---- */

/* What printing keeps between entries. */
typedef struct {
    s_ctx *c;
    FILE *f;              /* output */
    bool json;            /* JSON lines */
    uint8_t prev[S_HASH]; /* hash of the entry before the next */
    bool have_prev;
    uint64_t last;      /* last entry printed */
    uint64_t last_ckpt; /* last checkpoint printed */
    uint64_t n;         /* entries printed */
    bool failed;
} s_print;

static void s_hex(const uint8_t *b, size_t n, char *out, size_t cap)
{
    sodium_bin2hex(out, cap, b, n);
}

/* One record as a JSON line: type, seq, hashes, record bytes, decoded fields. */
static int s_record_json(s_print *p, uint64_t seq, const uint8_t *val, size_t len)
{
    const uint8_t *rec = val + S_HASH;
    size_t rlen = len - S_HASH;
    json_t *o = NULL;
    if (pbjson_decode("asylink.v1.AuditRecord", rec, rlen, &o) != ASYLINK_OK)
        o = json_object();
    else if (cli_json_message_ids("asylink audit", o) != CLI_OK) {
        json_decref(o);
        return CLI_FAIL;
    }
    char hex[2 * S_HASH + 1], uuid[40];
    size_t b64n = sodium_base64_ENCODED_LEN(rlen, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64n);
    if (!o || !b64) {
        json_decref(o);
        free(b64);
        return cli_fail("asylink audit", ASYLINK_E_NOMEM);
    }
    sodium_bin2base64(b64, b64n, rec, rlen, sodium_base64_VARIANT_ORIGINAL);
    json_object_set_new(o, "type", json_string("record"));
    json_object_set_new(o, "seq", json_integer((json_int_t)seq));
    s_hex(val, S_HASH, hex, sizeof hex);
    json_object_set_new(o, "hash", json_string(hex));
    if (p->have_prev) {
        s_hex(p->prev, S_HASH, hex, sizeof hex);
        json_object_set_new(o, "prev_hash", json_string(hex));
    }
    json_object_set_new(o, "record_b64", json_string(b64));
    auditchain_decoded *d = NULL;
    if (auditchain_record_decode(rec, rlen, &d) == ASYLINK_OK) {
        const auditchain_record *r = auditchain_decoded_record(d);
        json_object_set_new(o, "kind_name", json_string(auditchain_kind_name(r->kind)));
        if (r->message_id)
            json_object_set_new(o, "message_uuid",
                                json_string(uuid_format(r->message_id, uuid, sizeof uuid)));
        char t[40];
        json_object_set_new(o, "time", json_string(clock_format_iso(r->time_ms, t, sizeof t)));
        if (r->reason_digest) { /* as hex too, to compare with a text's digest */
            s_hex(r->reason_digest, S_HASH, hex, sizeof hex);
            json_object_set_new(o, "reason_digest_hex", json_string(hex));
        }
    }
    auditchain_decoded_destroy(&d);
    free(b64);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line)
        return cli_fail("asylink audit", ASYLINK_E_NOMEM);
    fprintf(p->f, "%s\n", line);
    free(line);
    return CLI_OK;
}

/* One record as a table line. */
static void s_record_line(s_print *p, uint64_t seq, const uint8_t *val, size_t len)
{
    auditchain_decoded *d = NULL;
    if (auditchain_record_decode(val + S_HASH, len - S_HASH, &d) != ASYLINK_OK) {
        fprintf(p->f, "%8llu  (record does not decode)\n", (unsigned long long)seq);
        return;
    }
    const auditchain_record *r = auditchain_decoded_record(d);
    char t[40], uuid[40], rcpt[200] = "";
    size_t off = 0;
    for (size_t i = 0; i < r->n_recipients && off < sizeof rcpt - 1; i++)
        off +=
            (size_t)snprintf(rcpt + off, sizeof rcpt - off, "%s%s", i ? "," : "", r->recipients[i]);
    if (off >= sizeof rcpt)
        off = sizeof rcpt - 1;
    fprintf(p->f, "%8llu  %s  %-13s %-14s", (unsigned long long)seq,
            clock_format_iso(r->time_ms, t, sizeof t), auditchain_kind_name(r->kind),
            r->actor ? r->actor : "-");
    if (r->message_id)
        fprintf(p->f, " msg=%s", uuid_format(r->message_id, uuid, sizeof uuid));
    if (r->sender || rcpt[0])
        fprintf(p->f, " %s->%s", r->sender ? r->sender : "?", rcpt[0] ? rcpt : "-");
    if (r->topic)
        fprintf(p->f, " topic=%s", r->topic);
    if (r->subscription)
        fprintf(p->f, " sub=%s", r->subscription);
    if (r->store_seq)
        fprintf(p->f, " seq=%llu", (unsigned long long)r->store_seq);
    if (r->attempt)
        fprintf(p->f, " attempt=%u", r->attempt);
    if (r->envelope_size)
        fprintf(p->f, " size=%llu", (unsigned long long)r->envelope_size);
    if (r->request)
        fprintf(p->f, " request=%s", r->request);
    if (r->code)
        fprintf(p->f, " code=%s", asylink_err_name(r->code));
    if (r->detail)
        fprintf(p->f, " \"%s\"", r->detail);
    if (r->reason_digest) { /* a recipient's reason: recorded as its size and digest only */
        char hex[2 * AUDITCHAIN_HASH_LEN + 1];
        s_hex(r->reason_digest, AUDITCHAIN_HASH_LEN, hex, sizeof hex);
        fprintf(p->f, " reason=%u-bytes:%s", r->reason_size, hex);
    }
    fputc('\n', p->f);
    auditchain_decoded_destroy(&d);
}

static int s_print_entry(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    s_print *p = ctx;
    if (p->c->to && seq > p->c->to)
        return 1;
    if (seq <= p->last || len <= S_HASH)
        return 0;
    if (p->json ? s_record_json(p, seq, val, len) != CLI_OK
                : (s_record_line(p, seq, val, len), 0)) {
        p->failed = true;
        return 1;
    }
    memcpy(p->prev, val, S_HASH);
    p->have_prev = true;
    p->last = seq;
    p->n++;
    return 0;
}

static int s_print_ckpt(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    s_print *p = ctx;
    auditchain_checkpoint c;
    uint8_t sig[AUDITCHAIN_SIG_LEN];
    if (seq <= p->last_ckpt || !p->json ||
        auditchain_checkpoint_decode(val, len, &c, sig) != ASYLINK_OK)
        return 0;
    char hash[2 * S_HASH + 1], sighex[2 * AUDITCHAIN_SIG_LEN + 1], t[40];
    size_t b64n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(b64n);
    if (!b64)
        return 1;
    sodium_bin2base64(b64, b64n, val, len, sodium_base64_VARIANT_ORIGINAL);
    s_hex(c.entry_hash, S_HASH, hash, sizeof hash);
    s_hex(sig, sizeof sig, sighex, sizeof sighex);
    json_t *o =
        json_pack("{s:s, s:I, s:s, s:I, s:s, s:s, s:I, s:s, s:s}", "type", "checkpoint", "seq",
                  (json_int_t)c.seq, "entry_hash", hash, "time_ms", (json_int_t)c.time_ms, "time",
                  clock_format_iso(c.time_ms, t, sizeof t), "broker_node_id", c.broker_node_id,
                  "cert_serial", (json_int_t)c.cert_serial, "signature", sighex, "signed_b64", b64);
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (line)
        fprintf(p->f, "%s\n", line);
    free(line);
    json_decref(o);
    free(b64);
    p->last_ckpt = seq;
    return 0;
}

/* ---- verifying ---- */

static const uint8_t *s_key(void *ctx, const char *node, uint64_t serial)
{
    const trust *t = ctx;
    const cert *c = t ? trust_find_serial(t, node, serial) : NULL;
    return c && cert_has_role(c, CERT_ROLE_BROKER) ? c->sign_pk : NULL;
}

static int s_feed_ckpt(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    auditchain_verifier_checkpoint(ctx, seq, val, len);
    return 0;
}

/* The offline walk of verify: the verifier, and the stored hash of the published head. */
typedef struct {
    auditchain_verifier *v;
    const s_head *head;   /* --head (given or not) */
    bool seen;            /* entry head->seq was walked */
    uint8_t hash[S_HASH]; /* its stored entry hash */
} s_walk;

static int s_feed_entry(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    s_walk *w = ctx;
    if (w->head->given && seq == w->head->seq && val && len > S_HASH) {
        memcpy(w->hash, val, S_HASH);
        w->seen = true;
    }
    return auditchain_verifier_entry(w->v, seq, val, len) ? 0 : 1;
}

/* "SEQ:HASH" (verify --head): a decimal seq >= 1 and 64 hex digits. */
static int s_parse_head(const char *text, void *field)
{
    s_head *h = field;
    char *end = NULL;
    size_t got = 0;
    if (text[0] < '1' || text[0] > '9')
        return -1;
    errno = 0;
    unsigned long long seq = strtoull(text, &end, 10);
    if (errno || !end || *end != ':' || strlen(end + 1) != 2 * S_HASH ||
        sodium_hex2bin(h->hash, S_HASH, end + 1, 2 * S_HASH, NULL, &got, NULL) != 0 ||
        got != S_HASH)
        return -1;
    h->seq = seq;
    h->given = true;
    return 0;
}

/*
 * The published head against a log that verified (r->ok): r fails unless
 * the log holds entry h->seq (or a pruned log's anchor checkpoint covers
 * it) with h->hash. seen: the walk found it, with hash its stored hash.
 */
static void s_check_head(const s_head *h, bool seen, const uint8_t *hash, auditchain_result *r)
{
    if (!h->given || !r->ok)
        return;
    unsigned long long seq = h->seq, last = r->last_seq;
    char have[2 * S_HASH + 1];
    if (!seen && r->anchor_seq && seq == r->anchor_seq) { /* pruned: the anchor states it */
        seen = true;
        hash = r->prev_hash;
    }
    r->ok = false;
    if (!r->entries || seq > last) {
        r->first_bad_seq = last + 1;
        snprintf(r->reason, sizeof r->reason,
                 "entry %llu is missing: the log ends at entry %llu, before the published head "
                 "(entry %llu); its newest entries were removed, or this is an older copy of the "
                 "store",
                 last + 1, last, seq);
    } else if (!seen) {
        r->first_bad_seq = seq;
        snprintf(r->reason, sizeof r->reason,
                 "the published head (entry %llu) cannot be checked: the log was pruned and "
                 "starts after entry %llu; check a newer published head",
                 seq, (unsigned long long)(r->anchor_seq ? r->anchor_seq : r->first_seq - 1));
    } else if (sodium_memcmp(hash, h->hash, S_HASH) != 0) {
        r->first_bad_seq = seq;
        snprintf(r->reason, sizeof r->reason,
                 "entry %llu is not the published head: its hash is %s; the log was rewritten "
                 "from there on, or replaced",
                 seq, (s_hex(hash, S_HASH, have, sizeof have), have));
    } else {
        r->ok = true;
    }
}

/* Prints a verification result; CLI_OK only if it holds. */
static int s_report(const s_ctx *c, const auditchain_result *r, uint64_t log_last)
{
    char head[2 * S_HASH + 1];
    s_hex(r->head_hash, S_HASH, head, sizeof head);
    if (c->o.json) {
        json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s}", "ok", r->ok,
                              "entries_checked", (json_int_t)r->entries, "first_seq",
                              (json_int_t)r->first_seq, "last_seq", (json_int_t)r->last_seq,
                              "checkpoints_checked", (json_int_t)r->checkpoints, "anchor_seq",
                              (json_int_t)r->anchor_seq, "first_bad_seq",
                              (json_int_t)r->first_bad_seq, "head_hash", head, "reason", r->reason);
        cli_json_print(o);
    } else if (r->ok) {
        printf("audit log OK: entries %llu..%llu (%llu checked, log ends at %llu), %llu signed "
               "%s verified%s\nhead hash %s\n",
               (unsigned long long)r->first_seq, (unsigned long long)r->last_seq,
               (unsigned long long)r->entries, (unsigned long long)log_last,
               (unsigned long long)r->checkpoints,
               cli_plural(r->checkpoints, "checkpoint", "checkpoints"),
               r->anchor_seq ? " (pruned: starts after the signed checkpoint of an older entry)"
                             : "",
               head);
        if (r->anchor_seq)
            printf("anchor: checkpoint of entry %llu\n", (unsigned long long)r->anchor_seq);
        if (c->head.given)
            printf("published head: entry %llu is in the log with that hash\n",
                   (unsigned long long)c->head.seq);
    } else {
        printf("audit log BROKEN at entry %llu: %s\n", (unsigned long long)r->first_bad_seq,
               r->reason);
    }
    fflush(stdout);
    return r->ok ? CLI_OK : CLI_FAIL;
}

static int s_verify_offline(s_ctx *c)
{
    auditchain_verifier *v = NULL;
    uint64_t last = 0;
    if (auditchain_verifier_new(s_key, c->trust, &v) != ASYLINK_OK)
        return cli_fail("asylink audit verify", ASYLINK_E_NOMEM);
    s_walk w = {.v = v, .head = &c->head};
    int rc = s_off_last(c, &last);
    if (rc == CLI_OK)
        rc = s_off_walk(c, c->ckpt, 0, 0, SIZE_MAX, s_feed_ckpt, v);
    if (rc == CLI_OK)
        rc = s_off_walk(c, c->log, 0, 0, SIZE_MAX, s_feed_entry, &w);
    auditchain_result r;
    auditchain_verifier_finish(v, true, &r);
    auditchain_verifier_destroy(&v);
    s_check_head(&c->head, w.seen, w.hash, &r);
    return rc == CLI_OK ? s_report(c, &r, last) : rc;
}

/*
 * The stored hash of entry seq online: that entry's, or the hash the entry
 * after it starts from (a pruned log's anchor). *seen false if neither.
 */
static int s_on_entry_hash(s_ctx *c, uint64_t seq, uint8_t hash[S_HASH], bool *seen)
{
    wire_admin_request q = {.op = WIRE_ADMIN_AUDIT_TAIL, .limit = 1, .seq_from = seq};
    json_t *m = NULL;
    *seen = false;
    int rc = adminc_call("asylink audit verify", &c->o, &q, &m);
    if (rc != CLI_OK)
        return rc;
    const json_t *ev = json_array_get(json_object_get(m, "events"), 0);
    uint64_t got = ev ? s_u64(ev, "seq") : 0;
    const char *hex = got == seq       ? json_string_value(json_object_get(ev, "hash_hex"))
                      : got == seq + 1 ? json_string_value(json_object_get(ev, "prev_hash_hex"))
                                       : NULL;
    size_t n = 0;
    *seen =
        hex && sodium_hex2bin(hash, S_HASH, hex, strlen(hex), NULL, &n, NULL) == 0 && n == S_HASH;
    json_decref(m);
    return CLI_OK;
}

/* The broker checks page after page; each page must start where the last ended. */
static int s_verify_online(s_ctx *c)
{
    auditchain_result total = {.ok = true};
    char head[2 * S_HASH + 1] = "";
    uint64_t from = c->from, log_last = 0;
    for (;;) {
        wire_admin_request q = {.op = WIRE_ADMIN_AUDIT_VERIFY, .seq_from = from, .seq_to = c->to};
        json_t *m = NULL;
        int rc = adminc_call("asylink audit verify", &c->o, &q, &m);
        if (rc != CLI_OK)
            return rc;
        const char *prev = json_string_value(json_object_get(m, "prev_hash_hex"));
        const char *h = json_string_value(json_object_get(m, "head_hash_hex"));
        bool ok = json_is_true(json_object_get(m, "ok")),
             more = json_is_true(json_object_get(m, "more"));
        log_last = s_u64(m, "log_last_seq");
        if (total.entries == 0) {
            total.first_seq = s_u64(m, "first_seq");
            total.anchor_seq = s_u64(m, "anchor_seq");
        }
        total.entries += s_u64(m, "events_checked");
        total.checkpoints += s_u64(m, "checkpoints_checked");
        if (s_u64(m, "last_seq"))
            total.last_seq = s_u64(m, "last_seq");
        if (!ok) {
            total.ok = false;
            total.first_bad_seq = s_u64(m, "first_bad_seq");
            snprintf(total.reason, sizeof total.reason, "%s",
                     json_string_value(json_object_get(m, "reason")));
        } else if (head[0] && (!prev || strcmp(prev, head) != 0)) {
            total.ok = false;
            total.first_bad_seq = s_u64(m, "first_seq");
            snprintf(total.reason, sizeof total.reason,
                     "entry %llu does not follow the page before (the log changed while being "
                     "checked, or the broker answers inconsistently)",
                     (unsigned long long)total.first_bad_seq);
        }
        if (h)
            snprintf(head, sizeof head, "%s", h);
        from = s_u64(m, "last_seq") + 1;
        json_decref(m);
        if (!total.ok || !more)
            break;
    }
    if (head[0])
        sodium_hex2bin(total.head_hash, S_HASH, head, strlen(head), NULL, NULL, NULL);
    if (c->head.given && total.ok) {
        uint8_t hash[S_HASH];
        bool seen = false;
        int rc = s_on_entry_hash(c, c->head.seq, hash, &seen);
        if (rc != CLI_OK)
            return rc;
        s_check_head(&c->head, seen, hash, &total);
    }
    return s_report(c, &total, log_last);
}

/* ---- options ---- */

/* --config (not required here: --data is the other source), --admin, --timeout, --json. */
#define S_ROWS_SOURCE                                                                              \
    {.name = "config",                                                                             \
     .kind = CLIOPT_STRING,                                                                        \
     .metavar = "FILE",                                                                            \
     .offset = offsetof(s_ctx, o.config),                                                          \
     .help = "ask the broker's admin endpoint: the operator's node configuration file"},           \
        {.name = "admin",                                                                          \
         .kind = CLIOPT_CUSTOM,                                                                    \
         .metavar = "ENDPOINT",                                                                    \
         .offset = offsetof(s_ctx, o.endpoint),                                                    \
         .parse = adminc_parse_endpoint,                                                           \
         .expect = "tcp://HOST:PORT or ipc://PATH",                                                \
         .help = "with --config: the broker's admin endpoint (default: admin_endpoint of the "     \
                 "configuration, else " ADMINC_DEFAULT_ENDPOINT ")"},                              \
        CLIOPT_ROW_TIMEOUT(s_ctx, o.timeout_ms, "10"), CLIOPT_ROW_JSON(s_ctx, o.json),             \
    {                                                                                              \
        .name = "data", .kind = CLIOPT_STRING, .metavar = "DIR", .offset = offsetof(s_ctx, data),  \
        .help = "read a copy of the broker's data directory (offline) instead"                     \
    }

/* Checks the source options and opens an offline source (cliopt checked the rules). */
static int s_setup(const char *prog, s_ctx *c)
{
    if (c->from && c->to && c->from > c->to)
        return cli_usage(prog, "--from is after --to");
    if (!c->data)
        return CLI_OK;
    int rc = s_off_open(c);
    if (rc == CLI_OK && c->trust_dir) {
        int t = trust_load(c->trust_dir, &c->trust);
        if (t != ASYLINK_OK)
            return cli_fail_text(prog, t, "cannot load the trust directory %s", c->trust_dir);
    }
    return rc;
}

static const cliopt_rule s_source_rules[] = {{CLIOPT_EXACTLY_ONE, "config data"},
                                             {CLIOPT_EXCLUDES, "data admin"}};

static void s_cleanup(s_ctx *c)
{
    if (c->env)
        mdb_env_close(c->env);
    trust_destroy(&c->trust);
}

static int s_exit(s_ctx *c, int rc)
{
    s_cleanup(c);
    if (fflush(stdout) != 0 && rc == CLI_OK)
        return cli_fail("stdout", ASYLINK_E_IO);
    return rc == CLI_DONE ? CLI_OK : rc;
}

/* The hash before entry seq offline: the entry before, or the anchor checkpoint. */
static int s_prev_entry(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    (void)seq;
    s_print *p = ctx;
    if (len > S_HASH) {
        memcpy(p->prev, val, S_HASH);
        p->have_prev = true;
    }
    return 1;
}

static int s_prev_ckpt(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    s_print *p = ctx;
    auditchain_checkpoint k;
    if (!p->have_prev && auditchain_checkpoint_decode(val, len, &k, NULL) == ASYLINK_OK &&
        k.seq == seq) {
        memcpy(p->prev, k.entry_hash, S_HASH);
        p->have_prev = true;
    }
    return 1;
}

/* The seq of the first stored entry walked (ctx: uint64_t). */
static int s_first_entry(void *ctx, uint64_t seq, const uint8_t *val, size_t len)
{
    (void)val;
    (void)len;
    *(uint64_t *)ctx = seq;
    return 1;
}

/* Prints entries after p->last offline (at most limit), with checkpoints when JSON. */
static int s_off_print(s_ctx *c, s_print *p, uint64_t to, size_t limit)
{
    uint64_t from = p->last + 1;
    if (!p->have_prev) /* the first entry printed: a pruned log starts after its anchor */
        s_off_walk(c, c->log, from, 0, 1, s_first_entry, &from);
    if (!p->have_prev && from > 1) {
        s_off_walk(c, c->log, from - 1, from - 1, 1, s_prev_entry, p);
        if (!p->have_prev)
            s_off_walk(c, c->ckpt, from - 1, from - 1, 1, s_prev_ckpt, p);
    }
    if (!p->have_prev && from <= 1) {
        memset(p->prev, 0, S_HASH);
        p->have_prev = true;
    }
    uint64_t before = p->last;
    int rc = s_off_walk(c, c->log, from, to, limit, s_print_entry, p);
    if (rc == CLI_OK && p->json && p->last > before)
        rc = s_off_walk(c, c->ckpt, before ? before + 1 : 0, p->last, SIZE_MAX, s_print_ckpt, p);
    return rc == CLI_OK && p->failed ? CLI_FAIL : rc;
}

/* Prints one online page: the events from seq p->last + 1 on (or, with
 * newest, the newest count); *got the number of events, *log_last the log's end. */
static int s_on_print(s_ctx *c, s_print *p, bool newest, uint32_t count, size_t *got,
                      uint64_t *log_last)
{
    wire_admin_request q = {
        .op = WIRE_ADMIN_AUDIT_TAIL, .limit = count, .seq_from = newest ? 0 : p->last + 1};
    json_t *m = NULL;
    int rc = adminc_call("asylink audit", &c->o, &q, &m);
    if (rc != CLI_OK)
        return rc;
    json_t *evs = json_object_get(m, "events"), *x;
    size_t i;
    *got = json_array_size(evs);
    *log_last = s_u64(m, "last_seq");
    json_array_foreach(evs, i, x)
    {
        size_t len = 0;
        uint8_t *rec = s_b64(x, "record", &len);
        uint8_t *val = rec ? malloc(S_HASH + len) : NULL;
        const char *hex = json_string_value(json_object_get(x, "hash_hex"));
        const char *prev = json_string_value(json_object_get(x, "prev_hash_hex"));
        if (!val || !hex || sodium_hex2bin(val, S_HASH, hex, strlen(hex), NULL, NULL, NULL) != 0) {
            free(rec);
            free(val);
            json_decref(m);
            return cli_failf("asylink audit: the broker sent an unreadable event (seq %llu)",
                             (unsigned long long)s_u64(x, "seq"));
        }
        if (i == 0 && prev &&
            sodium_hex2bin(p->prev, S_HASH, prev, strlen(prev), NULL, NULL, NULL) == 0)
            p->have_prev = true;
        memcpy(val + S_HASH, rec, len);
        uint64_t before = p->last;
        s_print_entry(p, s_u64(x, "seq"), val, S_HASH + len);
        free(rec);
        free(val);
        if (p->failed)
            break;
        if (p->json) { /* the checkpoints up to this entry */
            json_t *k;
            size_t j;
            json_array_foreach(json_object_get(m, "checkpoints"), j, k)
            {
                uint64_t ks = s_u64(k, "seq");
                size_t klen = 0;
                uint8_t *b =
                    ks <= p->last && (ks > before || i == 0) ? s_b64(k, "signed", &klen) : NULL;
                if (b)
                    s_print_ckpt(p, ks, b, klen);
                free(b);
            }
        }
    }
    json_decref(m);
    return p->failed ? CLI_FAIL : CLI_OK;
}

static void s_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- tail ---- */

static const cliopt s_tail_rows[] = {
    S_ROWS_SOURCE,
    {.name = "count",
     .kind = CLIOPT_UINT,
     .metavar = "N",
     .offset = offsetof(s_ctx, count),
     .min = 1,
     .max = 1000,
     .def = "20",
     .help = "how many of the newest entries"},
    {.name = "follow",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_ctx, follow),
     .help = "keep printing new entries (every second) until interrupted"},
};

static const cliopt_spec s_tail_spec = {
    .description = "Prints the newest entries of the broker's audit trail, one line each: "
                   "sequence, time, kind, actor, message and details. With --json, JSON lines "
                   "as `asylink audit export` writes them (records and their checkpoints).",
    .opts = s_tail_rows,
    .n_opts = CLIOPT_LEN(s_tail_rows),
    .rules = s_source_rules,
    .n_rules = CLIOPT_LEN(s_source_rules),
};

static int s_tail(int argc, char **argv)
{
    s_ctx c = {0};
    int rc = cliopt_parse(&s_tail_spec, argc, argv, &c, NULL);
    if (rc == CLI_OK)
        rc = s_setup(argv[0], &c);
    if (rc != CLI_OK)
        return s_exit(&c, rc);
    s_print p = {.c = &c, .f = stdout, .json = c.o.json};
    uint64_t last = 0;
    size_t got = 0;
    if (c.data) {
        rc = s_off_last(&c, &last);
        p.last = last > c.count ? last - c.count : 0;
        if (rc == CLI_OK)
            rc = s_off_print(&c, &p, 0, SIZE_MAX);
    } else {
        rc = s_on_print(&c, &p, true, (uint32_t)c.count, &got, &last);
    }
    while (rc == CLI_OK && c.follow) {
        fflush(stdout);
        s_sleep_ms(S_FOLLOW_MS);
        rc = c.data ? s_off_print(&c, &p, 0, S_PAGE)
                    : s_on_print(&c, &p, p.last == 0, S_PAGE, &got, &last);
    }
    return s_exit(&c, rc);
}

/* ---- verify ---- */

static const cliopt s_verify_rows[] = {
    S_ROWS_SOURCE,
    {.name = "trust",
     .kind = CLIOPT_STRING,
     .metavar = "DIR",
     .offset = offsetof(s_ctx, trust_dir),
     .help = "with --data: the trust directory whose broker certificates check the checkpoint "
             "signatures"},
    {.name = "head",
     .kind = CLIOPT_CUSTOM,
     .metavar = "SEQ:HASH",
     .offset = offsetof(s_ctx, head),
     .parse = s_parse_head,
     .expect = "an entry number and its 64-digit hash, as verify printed them: 1234:9f3c...",
     .help = "a head published earlier (the last entry and head hash a verify printed): the log "
             "must still hold that entry with that hash, else its newest entries were removed or "
             "it was rewritten or restored from an older copy"},
};

static const cliopt_rule s_verify_rules[] = {{CLIOPT_EXACTLY_ONE, "config data"},
                                             {CLIOPT_EXCLUDES, "data admin"},
                                             {CLIOPT_TOGETHER, "data trust"}};

static const cliopt_spec s_verify_spec = {
    .description =
        "Walks the whole audit chain: every entry's hash over the previous hash and its record, "
        "no entry missing, every signed checkpoint's signature (by the broker's certificate) and "
        "the entry it covers. Names the first broken or missing entry and exits 1 if anything "
        "does not hold, 0 if all does.\n\nOnline (--config) the broker checks, page by page; "
        "offline (--data, --trust) this program checks a copy of the data directory itself, "
        "trusting only the trust directory.\n\nThe chain and its checkpoints are stored "
        "together: a log whose newest entries were removed with their checkpoints, or an older "
        "copy of the store, verifies on its own. Keep the last entry and head hash a verify "
        "prints somewhere the operator cannot change, and pass them later with --head.",
    .opts = s_verify_rows,
    .n_opts = CLIOPT_LEN(s_verify_rows),
    .rules = s_verify_rules,
    .n_rules = CLIOPT_LEN(s_verify_rules),
};

static int s_verify(int argc, char **argv)
{
    s_ctx c = {0};
    int rc = cliopt_parse(&s_verify_spec, argc, argv, &c, NULL);
    if (rc == CLI_OK)
        rc = s_setup(argv[0], &c);
    if (rc == CLI_OK)
        rc = c.data ? s_verify_offline(&c) : s_verify_online(&c);
    return s_exit(&c, rc);
}

/* ---- export ---- */

static const cliopt s_export_rows[] = {
    S_ROWS_SOURCE,
    {.name = "from",
     .kind = CLIOPT_UINT,
     .metavar = "N",
     .offset = offsetof(s_ctx, from),
     .min = 1,
     .max = UINT64_MAX,
     .help = "first entry (default: the oldest kept)"},
    {.name = "to",
     .kind = CLIOPT_UINT,
     .metavar = "N",
     .offset = offsetof(s_ctx, to),
     .min = 1,
     .max = UINT64_MAX,
     .help = "last entry (default: the newest)"},
    {.name = "out",
     .kind = CLIOPT_STRING,
     .metavar = "FILE",
     .offset = offsetof(s_ctx, out),
     .help = "write there (a new file, mode 0600) instead of stdout"},
};

static const cliopt_spec s_export_spec = {
    .description =
        "Writes the audit entries from..to and the signed checkpoints among them as JSON lines "
        "for jq: {\"type\":\"record\", \"seq\", \"hash\", \"prev_hash\", \"record_b64\" (the exact "
        "hashed bytes), the decoded fields...} and {\"type\":\"checkpoint\", \"seq\", "
        "\"entry_hash\", \"signature\", \"signed_b64\", ...}. docs/PROTOCOL.md \"Audit trail\" "
        "says "
        "how to re-verify them.",
    .opts = s_export_rows,
    .n_opts = CLIOPT_LEN(s_export_rows),
    .rules = s_source_rules,
    .n_rules = CLIOPT_LEN(s_source_rules),
};

static int s_export(int argc, char **argv)
{
    s_ctx c = {0};
    int rc = cliopt_parse(&s_export_spec, argc, argv, &c, NULL);
    if (rc == CLI_OK)
        rc = s_setup(argv[0], &c);
    if (rc != CLI_OK)
        return s_exit(&c, rc);
    s_print p = {.c = &c, .f = stdout, .json = true, .last = c.from ? c.from - 1 : 0};
    if (c.out) {
        /* 0600: the log names nodes, messages and operators' reasons */
        int fd = open(c.out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return s_exit(&c, e == EEXIST ? cli_fail_file(c.out, ASYLINK_E_EXISTS)
                                          : cli_fail_text(c.out, ASYLINK_E_IO, "cannot create: %s",
                                                          strerror(e)));
        }
        p.f = f;
    }
    if (c.data) {
        rc = s_off_print(&c, &p, c.to, SIZE_MAX);
    } else {
        size_t got = 0;
        uint64_t last = 0;
        do {
            rc = s_on_print(&c, &p, false, S_PAGE, &got, &last);
        } while (rc == CLI_OK && got > 0 && (!c.to || p.last < c.to) && p.last < last);
    }
    if (c.out && fclose(p.f) != 0 && rc == CLI_OK)
        rc = cli_fail_text(c.out, ASYLINK_E_IO, "cannot write: %s", strerror(errno));
    if (rc == CLI_OK && c.out)
        cli_note("%llu audit %s written to %s", (unsigned long long)p.n,
                 cli_plural(p.n, "entry", "entries"), c.out);
    return s_exit(&c, rc);
}

/* ---- reason-digest ---- */

/* A Nack's reason as a node sends it: UTF-8 without control characters, at most 255 bytes. */
static int s_parse_reason(const char *text, void *field)
{
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return -1;
    if (n == 0 || n > AUDITCHAIN_DETAIL_MAX || !codec_utf8_valid(text))
        return -1;
    *(const char **)field = text;
    return 0;
}

static const cliopt s_reason_rows[] = {
    {.name = "text",
     .kind = CLIOPT_CUSTOM,
     .metavar = "TEXT",
     .offset = offsetof(s_ctx, text),
     .flags = CLIOPT_REQUIRED,
     .parse = s_parse_reason,
     .expect = "the reason as the recipient sent it: UTF-8 without control characters, 1 to 255 "
               "bytes",
     .help = "the reason a recipient gave in its Nack, exactly"},
};

static const cliopt_spec s_reason_spec = {
    .description =
        "Prints the size and BLAKE2b digest of a recipient's refusal reason as the audit trail "
        "records it (`reason=N-bytes:HEX` in `asylink audit tail`; reason_size and "
        "reason_digest_hex in export): the trail never holds such a reason's text, which may "
        "name a person, so whoever holds the text shows with this that it was the reason given "
        "(docs/PROTOCOL.md \"Audit trail\"). Needs no broker.",
    .opts = s_reason_rows,
    .n_opts = CLIOPT_LEN(s_reason_rows),
};

static int s_reason_digest(int argc, char **argv)
{
    s_ctx c = {0};
    int rc = cliopt_parse(&s_reason_spec, argc, argv, &c, NULL);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    uint8_t d[S_HASH];
    char hex[2 * S_HASH + 1];
    size_t n = strlen(c.text);
    auditchain_reason_digest(c.text, n, d);
    s_hex(d, S_HASH, hex, sizeof hex);
    printf("reason=%zu-bytes:%s\n", n, hex);
    return fflush(stdout) == 0 ? CLI_OK : cli_fail("stdout", ASYLINK_E_IO);
}

const char cmd_audit_about[] =
    "The broker's hash-chained audit trail: through the admin endpoint (--config, operator "
    "certificates only) or from a copy of its data directory (--data).";

const cli_command cmd_audit_commands[] = {
    {"tail", s_tail, "print the newest audit entries (--follow: and new ones)", &s_tail_spec, NULL,
     NULL},
    {"verify", s_verify, "check the hash chain and the signed checkpoints", &s_verify_spec, NULL,
     NULL},
    {"export", s_export, "write audit entries and checkpoints as JSON lines", &s_export_spec, NULL,
     NULL},
    {"reason-digest", s_reason_digest,
     "the size and digest under which the audit trail keeps a recipient's reason", &s_reason_spec,
     NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
