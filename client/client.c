/*
 * client.c — opening and closing a client (and from a node configuration
 * file); whether it is connected, what its outbox holds. Its log, events
 * and waiting are events.c's.
 */
#define _GNU_SOURCE /* pipe2 */
#include "client_internal.h"
#include "node_config.h"

#include "clock.h"
#include "config.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define CLIENT_DEFAULT_WINDOW 256
#define CLIENT_DEFAULT_RECONNECT_MIN 100
#define CLIENT_DEFAULT_RECONNECT_MAX 10000

void asylink_options_init(asylink_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->durability = ASYLINK_DURABILITY_FSYNC;
    o->log_level = ASYLINK_LOG_INFO;
    o->sent_retention_ms = ASYLINK_SENT_RETENTION_DEFAULT_MS;
    o->metadata_retention_ms = ASYLINK_METADATA_RETENTION_DEFAULT_MS;
}

int asylink_connected(asylink_client *c)
{
    return c && atomic_load(&c->connected) ? 1 : 0;
}

const char *asylink_client_node_id(asylink_client *c)
{
    return c ? c->own->node_id : NULL; /* set at open, never changed */
}

int asylink_outbox_pending(asylink_client *c, uint64_t *count)
{
    *count = 0;
    if (!c)
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    uint64_t owed = 0; /* receipts not yet sealed count as not yet handed over */
    int rc = cstore_outbox_pending_count(c->store, count);
    if (rc == ASYLINK_OK)
        rc = cstore_owed_count(c->store, &owed);
    *count = rc == ASYLINK_OK ? *count + owed : 0;
    return rc;
}

/* The outbox's states are asylink_sent_state's numbers. */
_Static_assert(CSTORE_OUT_PENDING == (int)ASYLINK_SENT_PENDING &&
                   CSTORE_OUT_ACCEPTED == (int)ASYLINK_SENT_ACCEPTED &&
                   CSTORE_OUT_REJECTED == (int)ASYLINK_SENT_REJECTED,
               "cstore_out_state and asylink_sent_state differ");

int asylink_sent_state_get(asylink_client *c, const uint8_t message_id[16], int *state, int *code)
{
    int ignored;
    if (!code)
        code = &ignored;
    *state = 0;
    *code = ASYLINK_OK;
    if (!c)
        return ASYLINK_E_INVALID_ARG;
    CLIENT_REFUSE_REENTRY();
    return cstore_outbox_state(c->store, message_id, state, code);
}

void asylink_free(void *p)
{
    free(p);
}

/* ---- open and close ---- */

#define S_PASSPHRASE_MAX 4096 /* largest key_passphrase_file, bytes */

static char *s_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Which option of asylink_options (and its path) an open failed on, for the log. */
typedef struct {
    const char *option; /* "key_file", "node_cert", ... or NULL */
    const char *path;
    int sys_errno; /* with ASYLINK_E_IO on data_dir: the system's reason (errno), or 0 */
    bool logged;   /* the failure was logged where it was found, with its details */
} s_where;

/* Loads keys, certificates and trust, and checks they belong together. */
static int s_load_identity(asylink_client *c, const asylink_options *o, s_where *w)
{
    trust *t = NULL;
    int rc;
    *w = (s_where){.option = "key_file", .path = o->key_file};
    if ((rc = keys_load(o->key_file, o->key_passphrase, &c->keys)) != ASYLINK_OK)
        return rc;
    *w = (s_where){.option = "node_cert", .path = o->node_cert};
    if ((rc = cert_load(o->node_cert, &c->own)) != ASYLINK_OK)
        return rc;
    *w = (s_where){.option = "broker_cert", .path = o->broker_cert};
    if ((rc = cert_load(o->broker_cert, &c->broker)) != ASYLINK_OK)
        return rc;
    *w = (s_where){.option = "trust_dir", .path = o->trust_dir};
    uint64_t stamp = client_trust_stamp(o->trust_dir);
    if ((rc = trust_load(o->trust_dir, &t)) != ASYLINK_OK)
        return rc;
    if ((rc = client_trust_init(c, o->trust_dir, t, stamp)) != ASYLINK_OK) {
        trust_destroy(&t);
        return rc;
    }
    *w = (s_where){.option = "key_file", .path = o->key_file};
    if (sodium_memcmp(c->own->sign_pk, c->keys->sign_pk, 32) != 0 ||
        sodium_memcmp(c->own->box_pk, c->keys->box_pk, 32) != 0)
        return ASYLINK_E_WRONG_KEY;
    *w = (s_where){.option = "node_cert", .path = o->node_cert};
    if ((rc = trust_check(t, c->own, clock_now_ms())) != ASYLINK_OK)
        return rc;
    *w = (s_where){.option = "broker_cert", .path = o->broker_cert};
    if ((rc = trust_check(t, c->broker, clock_now_ms())) != ASYLINK_OK)
        return rc;
    return cert_has_role(c->broker, CERT_ROLE_BROKER) ? ASYLINK_OK : ASYLINK_E_ROLE;
}

/* What a file named by an option is, in words. */
static const char *s_what(const char *option)
{
    static const struct {
        const char *option, *what;
    } names[] = {{"key_file", "secret key file"},       {"node_cert", "node certificate"},
                 {"broker_cert", "broker certificate"}, {"trust_dir", "trust directory"},
                 {"data_dir", "data directory"},        {"key_passphrase_file", "passphrase file"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].option, option) == 0)
            return names[i].what;
    return option;
}

/* The size limit of the file an option names (key_passphrase_file, certificates). */
static uint64_t s_file_limit(const char *option)
{
    if (strcmp(option, "key_passphrase_file") == 0)
        return S_PASSPHRASE_MAX;
    return strcmp(option, "key_file") == 0 ? KEYS_FILE_MAX : CERT_ARMORED_MAX(CERT_FILE_MAX);
}

/* The kind of that file, in the CLI's words (cli_fail_file_limit()). */
static const char *s_file_kind(const char *option)
{
    if (strcmp(option, "key_passphrase_file") == 0)
        return "a passphrase file";
    return strcmp(option, "key_file") == 0 ? "a secret key file" : "a certificate file";
}

/* Why an open failed on w, and what to do, in one sentence into buf. */
static void s_open_reason(int rc, const s_where *w, const char *trust_dir, char *buf, size_t len)
{
    const char *what = s_what(w->option);
    const char *p = w->path ? w->path : "";
    switch (rc) {
    case ASYLINK_E_NOT_FOUND:
        if (strcmp(w->option, "trust_dir") == 0)
            snprintf(buf, len,
                     "trust directory %s has no ca.cert (or does not exist): copy the CA's "
                     "ca.cert, revoked.crl and nodes/ there (%s in the node configuration)",
                     p, w->option);
        else
            snprintf(buf, len, "%s %s does not exist (%s in the node configuration)", what, p,
                     w->option);
        return;
    case ASYLINK_E_KEY_PERMISSIONS:
    case ASYLINK_E_PASSPHRASE_REQUIRED: {
        char subject[1100];
        snprintf(subject, sizeof subject, "%s %s", what, p);
        keys_file_hint(rc, subject, p, "name a file holding its passphrase in key_passphrase_file",
                       buf, len);
        return;
    }
    case ASYLINK_E_BAD_PASSPHRASE:
        snprintf(buf, len, "the passphrase does not open secret key file %s (key_passphrase_file)",
                 p);
        return;
    case ASYLINK_E_WRONG_KEY:
        snprintf(buf, len,
                 "secret key file %s is not the key of the node certificate "
                 "(node_cert): they must come from the same asylink keygen",
                 p);
        return;
    case ASYLINK_E_REVOKED:
        snprintf(buf, len,
                 "%s %s is revoked by the CA (revoked.crl in %s): ask the CA for a new "
                 "certificate",
                 what, p, trust_dir);
        return;
    case ASYLINK_E_CERT_EXPIRED:
    case ASYLINK_E_CERT_NOT_YET_VALID:
        snprintf(buf, len,
                 "%s %s is %s (or the CA's is; check this machine's clock too): ask the "
                 "CA for a new certificate",
                 what, p, rc == ASYLINK_E_CERT_EXPIRED ? "expired" : "not valid yet");
        return;
    case ASYLINK_E_UNTRUSTED_ISSUER:
    case ASYLINK_E_BAD_SIGNATURE:
        snprintf(buf, len, "%s %s is not signed by the CA of trust directory %s", what, p,
                 trust_dir);
        return;
    case ASYLINK_E_ROLE:
        snprintf(buf, len, "%s %s %s", what, p,
                 strcmp(w->option, "broker_cert") == 0
                     ? "lacks the broker role: broker_cert must be the broker's certificate"
                     : "breaks the CA's role rules");
        return;
    case ASYLINK_E_EXISTS:
        snprintf(buf, len,
                 "data directory %s is in use by another client, in this process or another "
                 "(one client per data directory: close it first, or give this one its own "
                 "data_dir)",
                 p);
        return;
    case ASYLINK_E_STALE:
        snprintf(buf, len,
                 "the revocation list in trust directory %s is older than one this node "
                 "has already used: install the CA's latest revoked.crl there",
                 p);
        return;
    case ASYLINK_E_UNSUPPORTED_VERSION:
    case ASYLINK_E_MALFORMED:
        snprintf(buf, len, "%s %s: %s", what, p, asylink_strerror(rc));
        return;
    case ASYLINK_E_TOO_LARGE: {
        if (strcmp(w->option, "trust_dir") == 0) { /* "DIR/ca.cert: N bytes, more than ..." */
            trust_too_large_text(p, buf, len);
            return;
        }
        char text[256];
        file_limit_text(file_size(p), s_file_limit(w->option), s_file_kind(w->option), text,
                        sizeof text);
        snprintf(buf, len, "%s %s: %s (%s in the node configuration)", what, p, text, w->option);
        return;
    }
    case ASYLINK_E_IO:
        if (w->sys_errno) { /* e.g. "No such file or directory": its parent is missing */
            snprintf(buf, len,
                     "%s %s cannot be created or opened: %s (%s in the node configuration)", what,
                     p, strerror(w->sys_errno), w->option);
            return;
        }
        snprintf(buf, len, "%s %s: %s", what, p, asylink_strerror(rc));
        return;
    default: snprintf(buf, len, "%s %s: %s", what, p, asylink_strerror(rc)); return;
    }
}

static int s_make_fds(asylink_client *c)
{
    c->notify_fd[0] = c->notify_fd[1] = -1;
    c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->wake_fd < 0 || pipe2(c->notify_fd, O_CLOEXEC | O_NONBLOCK) != 0)
        return ASYLINK_E_IO;
    return ASYLINK_OK;
}

/* The first required option o leaves NULL, or NULL when it has them all. */
static const char *s_missing_option(const asylink_options *o)
{
    const struct {
        const char *name, *value;
    } required[] = {{"broker_endpoint", o->broker_endpoint},
                    {"broker_cert", o->broker_cert},
                    {"node_cert", o->node_cert},
                    {"key_file", o->key_file},
                    {"trust_dir", o->trust_dir},
                    {"data_dir", o->data_dir}};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!required[i].value)
            return required[i].name;
    return NULL;
}

/*
 * Whether o can be used. An application's asylink_options too small to
 * hold log_level cannot be read as far as its log callback either: that
 * refusal alone is not logged.
 */
static bool s_options_ok(const asylink_options *o)
{
    if (o->struct_size < offsetof(asylink_options, log_level) + sizeof o->log_level)
        return false;
    const char *missing = s_missing_option(o);
    if (missing) {
        char why[160];
        snprintf(why, sizeof why, "asylink_options.%s is required and was NULL: set it", missing);
        client_log_to(o->log, o->log_ctx, ASYLINK_LOG_ERROR, why, "code=INVALID_ARG option=%s",
                      missing);
    }
    return !missing;
}

/* cstore_open_private()'s callback: a WARN naming the entry whose mode was tightened. */
static void s_tightened(void *arg, const char *path, unsigned before, unsigned after)
{
    client_log(arg, ASYLINK_LOG_WARN,
               "data directory entry was accessible to other users: mode tightened (the store "
               "holds personal data)",
               "path=%s mode=%04o now=%04o", CLIENT_Q(path), before, after);
}

/*
 * Opens the node's store. The data directory must be the node's user's
 * alone (a restore with mdb_copy leaves data.mdb 0644): group and other
 * bits are removed with a WARN each, an entry owned by another user is
 * refused (logged here). cstore_open_private() checks before LMDB holds its
 * locks on lock.mdb, which closing a descriptor of that file would drop.
 */
static int s_store_open(asylink_client *c, const asylink_options *o, s_where *w)
{
    char bad[1024] = "";
    unsigned uid = 0;
    cstore_private_check chk = {s_tightened, c, bad, sizeof bad, &uid};
    errno = 0;
    int rc = cstore_open_private(o->data_dir, o->durability == ASYLINK_DURABILITY_FSYNC, &chk,
                                 &c->store);
    if (rc == ASYLINK_E_KEY_PERMISSIONS) {
        char why[1400];
        snprintf(why, sizeof why,
                 "data directory entry %s is owned by another user (uid %u, this process runs "
                 "as uid %u), or its mode cannot be tightened: the data directory and its files "
                 "must belong to the user running the node, with no group or other access "
                 "(chown -R that user, chmod 700 the directory and 600 its files)",
                 bad, uid, (unsigned)geteuid());
        client_log(c, ASYLINK_LOG_ERROR, why, "code=%s option=data_dir file=%s",
                   asylink_err_name(rc), CLIENT_Q(bad));
        w->logged = true;
    } else if (rc != ASYLINK_OK) {
        w->sys_errno = rc == ASYLINK_E_IO ? errno : 0;
    }
    return rc;
}

static int s_open(asylink_client *c, const asylink_options *o, s_where *w)
{
    char err[300];
    int rc =
        client_endpoints_parse(o->broker_endpoint, &c->endpoints, &c->n_endpoints, err, sizeof err);
    if (rc == ASYLINK_E_INVALID_ARG) {
        client_log(c, ASYLINK_LOG_ERROR, "invalid broker_endpoint", "code=INVALID_ARG error=%s",
                   CLIENT_Q(err));
        w->logged = true;
    }
    if (rc != ASYLINK_OK)
        return rc;
    c->data_dir = s_dup(o->data_dir);
    c->receive_window = o->receive_window ? o->receive_window : CLIENT_DEFAULT_WINDOW;
    c->reconnect_min_ms = o->reconnect_min_ms ? o->reconnect_min_ms : CLIENT_DEFAULT_RECONNECT_MIN;
    c->reconnect_max_ms = o->reconnect_max_ms ? o->reconnect_max_ms : CLIENT_DEFAULT_RECONNECT_MAX;
    /* An application built against an older header has no such field: the default. */
    c->sent_retention_ms =
        o->struct_size >= offsetof(asylink_options, sent_retention_ms) + sizeof o->sent_retention_ms
            ? o->sent_retention_ms
            : ASYLINK_SENT_RETENTION_DEFAULT_MS;
    c->metadata_retention_ms = o->struct_size >= offsetof(asylink_options, metadata_retention_ms) +
                                                     sizeof o->metadata_retention_ms
                                   ? o->metadata_retention_ms
                                   : ASYLINK_METADATA_RETENTION_DEFAULT_MS;
    if (!c->data_dir)
        return ASYLINK_E_NOMEM;
    rc = s_load_identity(c, o, w);
    if (rc != ASYLINK_OK)
        return rc;
    *w = (s_where){0};
    rc = client_rng_new(&c->rng);
    if (rc == ASYLINK_OK) /* its random bytes drawn a page at a time (rngbuf.h) */
        rc = envelope_sealer_new(c->keys, c->own->node_id, c->own->serial, client_rng_fill, c->rng,
                                 &c->sealer);
    if (rc == ASYLINK_OK)
        rc = envelope_opener_new(c->keys, c->own->node_id, &c->opener);
    if (rc != ASYLINK_OK)
        return rc;
    *w = (s_where){.option = "data_dir", .path = o->data_dir};
    errno = 0;
    if ((rc = s_store_open(c, o, w)) != ASYLINK_OK)
        return rc;
    if (cstore_stale_readers(c->store) > 0)
        client_log(c, ASYLINK_LOG_INFO, "stale LMDB reader slots cleared in the local store",
                   "count=%d data_dir=%s", cstore_stale_readers(c->store), CLIENT_Q(o->data_dir));
    *w = (s_where){.option = "trust_dir", .path = o->trust_dir};
    if ((rc = client_trust_remember(c)) != ASYLINK_OK)
        return rc;
    *w = (s_where){0};
    client_certs_check(c, true);   /* an end within 30 days told at once; then daily (io.c) */
    uint64_t now = clock_now_ms(); /* then the I/O thread, periodically; kept envelopes first */
    client_sent_sweep(c, now);
    client_retention_sweep(c, now);
    /* Receipts owed when the last client stopped are due at once (owed_since_ms 0). */
    if (cstore_owed_count(c->store, &c->owed_count) != ASYLINK_OK)
        c->owed_count = 1; /* unknown: the I/O thread looks */
    if (rc == ASYLINK_OK)
        rc = s_make_fds(c);
    c->io_writes = rc == ASYLINK_OK;
    if (rc == ASYLINK_OK && client_thread_create(&c->io, client_io_main, c) != 0)
        rc = ASYLINK_E_IO;
    if (rc != ASYLINK_OK)
        c->io_writes = false;
    if (rc == ASYLINK_OK)
        c->io_started = true;
    return rc;
}

/* Stops the I/O thread and frees c (asylink_client_close(), and a failed open). */
static void s_close(asylink_client *c)
{
    atomic_store(&c->stop, true);
    pthread_mutex_lock(&c->lock);
    pthread_cond_broadcast(&c->cond);
    pthread_cond_broadcast(&c->ev_cond);
    pthread_cond_broadcast(&c->done_cond);
    pthread_mutex_unlock(&c->lock);
    if (c->io_started) {
        client_wake_io(c);
        pthread_join(c->io, NULL);
        client_conn_closed(c, clock_now_ms());
    }
    while (c->events_head) {
        client_event *e = c->events_head;
        c->events_head = e->next;
        free(e);
    }
    client_early_clear(&c->early);
    free(c->handed);
    free(c->accepted);
    client_feeds_free(c);
    cstore_close(&c->store);
    envelope_sealer_destroy(&c->sealer);
    client_rng_free(&c->rng); /* after the sealer that draws from it */
    envelope_opener_destroy(&c->opener);
    client_trust_free(c);
    cert_destroy(&c->broker);
    cert_destroy(&c->own);
    keys_destroy(&c->keys);
    for (int i = 0; i < 2; i++)
        if (c->notify_fd[i] >= 0)
            close(c->notify_fd[i]);
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->seal_lock);
    pthread_mutex_destroy(&c->open_lock);
    pthread_mutex_destroy(&c->trust_lock);
    pthread_mutex_destroy(&c->ack_lock);
    pthread_mutex_destroy(&c->reload_lock);
    pthread_cond_destroy(&c->cond);
    pthread_cond_destroy(&c->commit_cond);
    pthread_cond_destroy(&c->ev_cond);
    pthread_cond_destroy(&c->done_cond);
    client_endpoints_free(&c->endpoints, c->n_endpoints);
    free(c->data_dir);
    free(c);
}

int asylink_client_open(const asylink_options *o, asylink_client **out)
{
    *out = NULL;
    if (!s_options_ok(o))
        return ASYLINK_E_INVALID_ARG;
    if (sodium_init() < 0)
        return ASYLINK_E_INTERNAL;
    asylink_client *c = calloc(1, sizeof *c);
    if (!c)
        return ASYLINK_E_NOMEM;
    c->log = o->log;
    c->log_ctx = o->log_ctx;
    c->log_level = o->log_level;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->seal_lock, NULL);
    pthread_mutex_init(&c->open_lock, NULL);
    pthread_mutex_init(&c->trust_lock, NULL);
    pthread_mutex_init(&c->ack_lock, NULL);
    pthread_mutex_init(&c->reload_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&c->cond, &ca);
    pthread_cond_init(&c->commit_cond, &ca);
    pthread_cond_init(&c->ev_cond, &ca);
    pthread_cond_init(&c->done_cond, &ca);
    pthread_condattr_destroy(&ca);
    c->wake_fd = -1;
    c->notify_fd[0] = c->notify_fd[1] = -1;
    c->handed = calloc(CLIENT_HANDED_SLOTS, sizeof *c->handed); /* optional: NULL is fine */
    s_where w = {0};
    int rc = s_open(c, o, &w);
    if (rc != ASYLINK_OK) {
        char why[1024] = "cannot open the client";
        if (w.option)
            s_open_reason(rc, &w, o->trust_dir, why, sizeof why);
        if (!w.logged)
            client_log(c, ASYLINK_LOG_ERROR, why, "code=%s option=%s file=%s", asylink_err_name(rc),
                       w.option ? w.option : "-", CLIENT_Q(w.path ? w.path : ""));
        s_close(c); /* (not published yet: also when opened inside a log callback) */
        return rc;
    }
    client_log(c, ASYLINK_LOG_INFO, "client opened", "node=%s broker=%s addresses=%zu",
               c->own->node_id, CLIENT_Q(c->endpoints[0]), c->n_endpoints);
    *out = c;
    return ASYLINK_OK;
}

void asylink_client_close(asylink_client **self_p)
{
    if (!self_p || !*self_p)
        return;
    /* On a library thread this would join itself or free what the thread still uses; inside
       the log callback it would free the client under the call that is logging. */
    if (client_reentered())
        return;
    s_close(*self_p);
    *self_p = NULL;
}

/* ---- node configuration file ---- */

typedef struct {
    char *broker_endpoint, *broker_cert, *node_cert, *key_file, *key_passphrase_file;
    char *trust_dir, *data_dir, *admin_endpoint;
    int64_t receive_window;
    int durability;
    uint64_t sent_retention_ms;
    uint64_t metadata_retention_ms;
    int log_level; /* [log] level: an asylink_log_level */
} s_node_config;

static const char *const s_durability_names[] = {"fsync", "relaxed", NULL};

/*
 * [log] level's words, indexed by asylink_log_level; the broker's [log]
 * level takes the same ones (core/log.c, not linked into the library: it
 * keeps the broker's process-wide log state).
 */
static const char *const s_log_level_names[] = {"error", "warn", "info", "debug", NULL};
_Static_assert(ASYLINK_LOG_ERROR == 0 && ASYLINK_LOG_WARN == 1 && ASYLINK_LOG_INFO == 2 &&
                   ASYLINK_LOG_DEBUG == 3,
               "s_log_level_names is indexed by asylink_log_level");

static const config_option s_node_options[] = {
    {"node", "broker_endpoint", CONFIG_STRING, NULL, offsetof(s_node_config, broker_endpoint), 0, 0,
     NULL,
     "The broker's endpoint as reachable from this node, e.g. tcp://broker.example.eu:7400; or "
     "several, in order, separated by commas (an active/standby pair: the client tries the next "
     "when one does not answer)."},
    {"node", "broker_cert", CONFIG_PATH, NULL, offsetof(s_node_config, broker_cert), 0, 0, NULL,
     "The broker's certificate; its X25519 key is the CURVE server key. It must verify against "
     "trust_dir, be valid and carry the role broker."},
    {"node", "node_cert", CONFIG_PATH, NULL, offsetof(s_node_config, node_cert), 0, 0, NULL,
     "This node's certificate; it must match key_file (else WRONG_KEY) and verify against "
     "trust_dir."},
    {"node", "key_file", CONFIG_PATH, NULL, offsetof(s_node_config, key_file), 0, 0, NULL,
     "This node's secret key file: mode 0600 and owned by the user running the node, else "
     "refused (KEY_PERMISSIONS)."},
    {"node", "key_passphrase_file", CONFIG_PATH, "", offsetof(s_node_config, key_passphrase_file),
     0, 0, NULL,
     "File whose first line is the passphrase of an encrypted key file (read with the key's "
     "permission checks); empty = the key is not encrypted."},
    {"node", "trust_dir", CONFIG_PATH, NULL, offsetof(s_node_config, trust_dir), 0, 0, NULL,
     "The federation's trust directory (ca.cert, nodes/*.cert, revoked.crl); a running client "
     "reloads it within 5 s of a change, refusing an older revocation list."},
    {"node", "data_dir", CONFIG_PATH, NULL, offsetof(s_node_config, data_dir), 0, 0, NULL,
     "The node's durable outbox, inbox and receipts (LMDB), created with mode 0700; one client "
     "at a time (a second one gets EXISTS). Back it up like case files."},
    {"node", "receive_window", CONFIG_INT, "256", offsetof(s_node_config, receive_window), 1,
     100000, NULL,
     "How many deliveries the broker may have in flight to this node (the credit of its "
     "Hello)."},
    {"node", "durability", CONFIG_ENUM, "fsync", offsetof(s_node_config, durability), 0, 0,
     s_durability_names,
     "fsync: a send and every inbox commit reach the disk before they count; relaxed: survives "
     "a crash of the application, not a power cut."},
    {"node", "sent_retention", CONFIG_DURATION, "30d", offsetof(s_node_config, sent_retention_ms),
     0, 3650ll * 24 * 3600 * 1000, NULL,
     "How long this node keeps its own sent envelopes after the broker accepted them, as "
     "evidence (asylink evidence export); 0 = keep none."},
    {"node", "metadata_retention", CONFIG_DURATION, "365d",
     offsetof(s_node_config, metadata_retention_ms), 0, 100ll * 366 * 24 * 3600 * 1000, NULL,
     "How long what is left of a finished message is kept (sent: id, recipients, digest, "
     "receipts; received: the tombstone that makes delivery exactly-once); 0 = for ever. Never "
     "what is unsent, unacknowledged or kept as evidence."},
    {"node", "admin_endpoint", CONFIG_STRING, "", offsetof(s_node_config, admin_endpoint), 0, 0,
     NULL,
     "The broker's admin endpoint, for the operator commands (asylink nodes, queues, topics, "
     "dlq, purge, pending, reload; empty = tcp://127.0.0.1:7401); the library ignores it."},
    {"log", "level", CONFIG_ENUM, "info", offsetof(s_node_config, log_level), 0, 0,
     s_log_level_names,
     "The most verbose level passed to the log callback (asylink_options.log_level): error, "
     "warn, info or debug. The asylink command line words its errors from the library's "
     "warnings: keep warn or more there."},
};
#define S_NODE_OPTIONS (sizeof s_node_options / sizeof s_node_options[0])

/* Loads a node configuration file into *nc (config_free it), logging a bad file. */
static int s_node_config_load(const char *path, asylink_log_fn log, void *log_ctx,
                              s_node_config *nc)
{
    memset(nc, 0, sizeof *nc);
    config_error err;
    if (!path)
        return ASYLINK_E_INVALID_ARG;
    if (config_load_file(path, s_node_options, S_NODE_OPTIONS, nc, &err) == 0) {
        /* The address list is checked here so that a bad one is a configuration error. */
        char **eps = NULL;
        size_t n = 0;
        int rc =
            client_endpoints_parse(nc->broker_endpoint, &eps, &n, err.message, sizeof err.message);
        client_endpoints_free(&eps, n);
        if (rc == ASYLINK_OK)
            return ASYLINK_OK;
        if (rc != ASYLINK_E_INVALID_ARG)
            return rc;
        snprintf(err.file, sizeof err.file, "%s", path);
        err.line = 0;
        snprintf(err.section, sizeof err.section, "node");
        snprintf(err.key, sizeof err.key, "broker_endpoint");
    }
    char line[700], why[800];
    config_error_format(&err, line, sizeof line);
    if (access(path, F_OK) != 0)
        snprintf(why, sizeof why,
                 "node configuration %s: %s (give the node's .ini file, see "
                 "examples/node.ini.example)",
                 path, strerror(errno));
    else
        snprintf(why, sizeof why, "node configuration %s", line);
    client_log_to(log, log_ctx, ASYLINK_LOG_ERROR, why, "code=CONFIG file=%s", CLIENT_Q(path));
    config_free(s_node_options, S_NODE_OPTIONS, nc);
    return ASYLINK_E_CONFIG;
}

/* The table for the manual page asylink-node.ini(5), generated from it (node_config.h). */
const config_option *const client_node_options = s_node_options;
const size_t client_node_options_len = sizeof s_node_options / sizeof s_node_options[0];

int asylink_client_open_config(const char *path, asylink_log_fn log, void *log_ctx,
                               asylink_client **out)
{
    *out = NULL;
    s_node_config nc;
    int rc = s_node_config_load(path, log, log_ctx, &nc);
    if (rc != ASYLINK_OK)
        return rc;
    uint8_t *pass = NULL;
    size_t pass_len = 0;
    if (nc.key_passphrase_file && *nc.key_passphrase_file) {
        rc = file_read_private(nc.key_passphrase_file, S_PASSPHRASE_MAX, &pass, &pass_len);
        for (size_t i = 0; rc == ASYLINK_OK && i < pass_len; i++)
            if (pass[i] == '\n' || pass[i] == '\r')
                pass[i] = 0;
        if (rc != ASYLINK_OK) {
            char why[1200];
            s_where w = {.option = "key_passphrase_file", .path = nc.key_passphrase_file};
            s_open_reason(rc, &w, nc.trust_dir, why, sizeof why);
            client_log_to(log, log_ctx, ASYLINK_LOG_ERROR, why, "code=%s option=%s file=%s",
                          asylink_err_name(rc), w.option, CLIENT_Q(w.path));
        }
    }
    asylink_options o;
    asylink_options_init(&o);
    o.broker_endpoint = nc.broker_endpoint;
    o.broker_cert = nc.broker_cert;
    o.node_cert = nc.node_cert;
    o.key_file = nc.key_file;
    o.key_passphrase = (const char *)pass;
    o.trust_dir = nc.trust_dir;
    o.data_dir = nc.data_dir;
    o.receive_window = (uint32_t)nc.receive_window;
    o.durability = nc.durability ? ASYLINK_DURABILITY_RELAXED : ASYLINK_DURABILITY_FSYNC;
    o.sent_retention_ms = nc.sent_retention_ms;
    o.metadata_retention_ms = nc.metadata_retention_ms;
    o.log = log;
    o.log_ctx = log_ctx;
    o.log_level = (asylink_log_level)nc.log_level;
    if (rc == ASYLINK_OK)
        rc = asylink_client_open(&o, out);
    file_secret_free(pass, pass_len);
    config_free(s_node_options, S_NODE_OPTIONS, &nc);
    return rc;
}

int asylink_connection_read(const char *config_path, asylink_log_fn log, void *log_ctx,
                            asylink_connection *out)
{
    memset(out, 0, sizeof *out);
    s_node_config nc;
    int rc = s_node_config_load(config_path, log, log_ctx, &nc);
    if (rc != ASYLINK_OK)
        return rc;
    rc = client_conn_read_file(nc.data_dir, out);
    config_free(s_node_options, S_NODE_OPTIONS, &nc);
    return rc;
}
