/*
 * node.c — the client side shared by send, recv and subscribe (node.h).
 */
#include "node.h"

#include "cli.h"
#include "clock.h"
#include "file.h"
#include "logfmt.h"
#include "pbjson.h"
#include "uuid.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define NODE_MAX_INPUT (64u * 1024 * 1024)

/* ---- the library's complaints ---- */

/*
 * The latest line the library logged at WARN or ERROR: its msg names the
 * file, node or key concerned and the fix, so a failing call is reported
 * with it (node_fail) rather than with the bare code. The library logs
 * from its I/O thread too, hence the lock.
 */
static struct {
    pthread_mutex_t lock;
    char line[1024];   /* the latest complaint (logfmt) */
    unsigned long gen; /* complaints so far */
    bool hold;         /* while opening: errors are reported by node_open, not printed */
} s_lib = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The human part of a library line: its msg, or the line itself if it has none. */
static const char *s_line_msg(const char *line, char *buf, size_t len)
{
    return logfmt_get(line, "msg", buf, len) >= 0 ? buf : line;
}

/*
 * Library log lines: complaints are kept for node_fail(); errors reach the
 * operator at once (but while opening, node_open() reports the one that
 * made it fail, so nothing is said twice); the rest is noise here.
 */
static void s_log(void *ctx, asylink_log_level level, const char *line)
{
    (void)ctx;
    if (level > ASYLINK_LOG_WARN)
        return;
    pthread_mutex_lock(&s_lib.lock);
    snprintf(s_lib.line, sizeof s_lib.line, "%s", line);
    s_lib.gen++;
    bool hold = s_lib.hold;
    pthread_mutex_unlock(&s_lib.lock);
    if (level == ASYLINK_LOG_ERROR && !hold) {
        char msg[1024];
        fprintf(stderr, "asylink: client: %s\n", s_line_msg(line, msg, sizeof msg));
    }
}

unsigned long node_lib_mark(void)
{
    pthread_mutex_lock(&s_lib.lock);
    unsigned long gen = s_lib.gen;
    pthread_mutex_unlock(&s_lib.lock);
    return gen;
}

int node_fail(const char *context, int rc, unsigned long mark)
{
    char line[sizeof s_lib.line], code[64], msg[1024];
    pthread_mutex_lock(&s_lib.lock);
    bool fresh = s_lib.gen != mark;
    snprintf(line, sizeof line, "%s", s_lib.line);
    pthread_mutex_unlock(&s_lib.lock);
    /* The library's own words when it complained about this very failure. */
    if (fresh && logfmt_get(line, "code", code, sizeof code) >= 0 &&
        strcmp(code, asylink_err_name(rc)) == 0 && logfmt_get(line, "msg", msg, sizeof msg) > 0)
        return cli_fail_text(context, rc, "%s", msg);
    return cli_fail(context, rc);
}

int node_open(const char *context, const char *path, asylink_client **out)
{
    unsigned long mark = node_lib_mark();
    pthread_mutex_lock(&s_lib.lock);
    s_lib.hold = true;
    pthread_mutex_unlock(&s_lib.lock);
    int rc = asylink_client_open_config(path, s_log, NULL, out);
    pthread_mutex_lock(&s_lib.lock);
    s_lib.hold = false;
    pthread_mutex_unlock(&s_lib.lock);
    if (rc == ASYLINK_OK)
        return CLI_OK;
    char ctx[1024];
    if (node_lib_mark() == mark) /* nothing said why: at least name the file */
        snprintf(ctx, sizeof ctx, "%s: %s", context, path);
    else
        snprintf(ctx, sizeof ctx, "%s", context);
    return node_fail(ctx, rc, mark);
}

/* ---- the broker out of reach ---- */

bool node_broker_down(asylink_client *c, bool any_session, asylink_connect_failure *f)
{
    if (asylink_connect_failure_get(c, f) != ASYLINK_OK || f->connected)
        return false;
    return f->sessions == 0 || (!any_session && f->code != ASYLINK_OK);
}

int node_fail_broker(const char *context, const asylink_connect_failure *f, uint64_t waited_ms,
                     const char *then)
{
    if (f->code != ASYLINK_OK)
        return cli_fail_text(context,
                             f->code == ASYLINK_E_TIMEOUT ? ASYLINK_E_UNAVAILABLE : f->code,
                             "%s%s%s", f->reason, then ? "; " : "", then ? then : "");
    return cli_fail_text(context, ASYLINK_E_UNAVAILABLE,
                         "cannot reach broker at %s: no session opened within %llu s%s%s",
                         f->endpoint, (unsigned long long)((waited_ms + 999) / 1000),
                         then ? "; " : "", then ? then : "");
}

bool node_flush(asylink_client *c, uint64_t timeout_ms)
{
    uint64_t deadline = clock_now_ms() + timeout_ms, pending = 1;
    for (;;) {
        if (asylink_outbox_pending(c, &pending) == ASYLINK_OK && pending == 0)
            return true;
        if (clock_now_ms() >= deadline)
            return false;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

const char *node_class_name(asylink_classification cls)
{
    switch (cls) {
    case ASYLINK_PUBLIC: return "PUBLIC";
    case ASYLINK_LIMITED: return "LIMITED";
    case ASYLINK_PERSONAL: return "PERSONAL";
    }
    return "UNKNOWN";
}

int node_parse_class(const char *s, asylink_classification *out)
{
    static const asylink_classification all[] = {ASYLINK_PUBLIC, ASYLINK_LIMITED,
                                                 ASYLINK_PERSONAL};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcasecmp(s, node_class_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

const char *node_id_str(const uint8_t id[16], char buf[37])
{
    return uuid_format(id, buf, UUID_STR_LEN);
}

static json_t *s_base64(const void *data, size_t len)
{
    size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(n);
    if (!s)
        return NULL;
    sodium_bin2base64(s, n, data ? data : (const void *)"", len, sodium_base64_VARIANT_ORIGINAL);
    json_t *v = json_string(s);
    free(s);
    return v;
}

/* Adds payload and payload_encoding: decoded when the type is known and decodes. */
static int s_add_payload(json_t *o, const asylink_message *m)
{
    size_t len = 0;
    const uint8_t *p = asylink_message_payload(m, &len);
    const char *type = asylink_message_content_type(m);
    json_t *decoded = NULL;
    int rc = pbjson_known_type(type) ? pbjson_decode(type, p, len, &decoded) : ASYLINK_E_NOT_FOUND;
    if (rc == ASYLINK_OK)
        return json_object_set_new(o, "payload", decoded) |
               json_object_set_new(o, "payload_encoding", json_string("json"));
    int r = json_object_set_new(o, "payload", s_base64(p, len)) |
            json_object_set_new(o, "payload_encoding", json_string("base64"));
    if (rc != ASYLINK_E_NOT_FOUND) /* a known type that does not decode */
        r |= json_object_set_new(o, "payload_error", json_string(asylink_err_name(rc)));
    return r;
}

static json_t *s_time_json(uint64_t ms)
{
    char buf[32];
    return ms ? json_string(clock_format_iso(ms, buf, sizeof buf)) : json_null();
}

json_t *node_message_json(const asylink_message *m)
{
    char id[UUID_STR_LEN], corr[UUID_STR_LEN];
    const uint8_t *cid = asylink_message_correlation_id(m);
    size_t len = 0;
    asylink_message_payload(m, &len);
    json_t *rcpt = json_array();
    for (size_t i = 0; rcpt && i < asylink_message_recipient_count(m); i++)
        json_array_append_new(rcpt, json_string(asylink_message_recipient(m, i)));
    json_t *o = json_pack(
        "{s:s, s:s, s:o, s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:o, s:o, s:I}", "message_id",
        node_id_str(asylink_message_id(m), id), "sender", asylink_message_sender(m),
        "recipients", rcpt ? rcpt : json_array(), "topic", asylink_message_topic(m),
        "subscription", asylink_message_subscription(m),
        "content_type", asylink_message_content_type(m), "classification",
        node_class_name(asylink_message_classification(m)), "created_ms",
        (json_int_t)asylink_message_created_ms(m), "created",
        s_time_json(asylink_message_created_ms(m)), "expires_ms",
        (json_int_t)asylink_message_expires_ms(m), "expires",
        s_time_json(asylink_message_expires_ms(m)), "correlation_id",
        cid ? json_string(node_id_str(cid, corr)) : json_null(), "size", (json_int_t)len);
    if (o && s_add_payload(o, m) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

void node_message_print(const asylink_message *m)
{
    char id[UUID_STR_LEN], when[32];
    size_t len = 0;
    const uint8_t *p = asylink_message_payload(m, &len);
    const char *type = asylink_message_content_type(m);
    const char *topic = asylink_message_topic(m);
    printf("message         %s\n", node_id_str(asylink_message_id(m), id));
    printf("sender          %s\n", asylink_message_sender(m));
    printf("topic           %s\n", topic && *topic ? topic : "(direct message)");
    printf("content type    %s\n", type);
    printf("classification  %s\n", node_class_name(asylink_message_classification(m)));
    printf("created         %s\n",
           clock_format_iso(asylink_message_created_ms(m), when, sizeof when));
    printf("size            %zu %s\n", len, cli_plural(len, "byte", "bytes"));
    json_t *decoded = NULL;
    int rc = pbjson_known_type(type) ? pbjson_decode(type, p, len, &decoded) : ASYLINK_E_NOT_FOUND;
    if (rc == ASYLINK_OK) {
        printf("payload:\n");
        json_dumpf(decoded, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(decoded);
    } else if (rc == ASYLINK_E_NOT_FOUND) {
        printf("payload         (not an asylink.v1 type: use --json for base64)\n");
    } else {
        printf("payload         (does not decode as %s: %s)\n", type, asylink_err_name(rc));
    }
    printf("\n");
}

int node_json_line(json_t *value)
{
    if (!value)
        return cli_fail("json", ASYLINK_E_NOMEM);
    int rc = json_dumpf(value, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(value);
    if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
        return cli_fail("stdout", ASYLINK_E_IO);
    return CLI_OK;
}

/* True if m is one node_receive() should hand to print(). */
static bool s_wanted(const node_recv_opts *o, const asylink_message *m)
{
    if (o->content_type && strcmp(asylink_message_content_type(m), o->content_type) != 0)
        return false;
    if (!o->prefix)
        return true;
    const char *topic = asylink_message_topic(m);
    size_t n = strlen(o->prefix);
    /* whole dotted labels, as the broker matches: "stats" is not a prefix of "statsx" */
    bool under =
        topic && strncmp(topic, o->prefix, n) == 0 && (topic[n] == '\0' || topic[n] == '.');
    if (!under || !o->subscription)
        return under;
    /* Each subscription's copy is its own: only ours; a feed message the
     * inbox holds without a subscription (received before it recorded
     * them) goes to whichever subscription reads its topic first. */
    const char *sub = asylink_message_subscription(m);
    return strcmp(sub, o->subscription) == 0 || sub[0] == '\0';
}

/* Prints (and acks) one message; *printed counts those given to print(). */
static int s_take(const char *context, asylink_client *c, const node_recv_opts *o,
                  const asylink_message *m, uint64_t *printed)
{
    if (!s_wanted(o, m))
        return CLI_OK;
    if (o->print(o->ctx, m) != CLI_OK)
        return CLI_FAIL;
    (*printed)++;
    if (!o->ack)
        return CLI_OK;
    int rc = asylink_ack_message(c, m);
    if (rc != ASYLINK_OK) {
        char id[UUID_STR_LEN], ctx[256];
        snprintf(ctx, sizeof ctx, "%s: ack %s", context, node_id_str(asylink_message_id(m), id));
        return cli_fail(ctx, rc);
    }
    return CLI_OK;
}

/* True once a session with the broker has opened since the client was opened. */
static bool s_ever_connected(asylink_client *c)
{
    asylink_connect_failure f;
    return asylink_connect_failure_get(c, &f) == ASYLINK_OK && f.sessions > 0;
}

/*
 * Reports what the library refused on its way in (RECEIVE_FAILED events: a
 * delivery that failed verification, dead-lettered at the broker or, for a
 * feed, skipped; a stored message that no longer opens), one line each on
 * stderr; other events are not the receiving commands' business. Returns
 * how many messages were lost so (receipts for messages no longer held
 * here, dropped, are only noted).
 */
static uint64_t s_report_refused(const char *context, asylink_client *c)
{
    uint64_t lost = 0;
    asylink_event *e = NULL;
    while (asylink_next_event(c, 0, &e) == ASYLINK_OK) {
        if (asylink_event_get_type(e) == ASYLINK_EVENT_RECEIVE_FAILED) {
            char id[UUID_STR_LEN];
            const char *from = asylink_event_node(e);
            int code = asylink_event_code(e);
            if (code == ASYLINK_E_NOT_FOUND) {
                cli_note("%s: note: %s from %s: %s", context,
                         node_id_str(asylink_event_message_id(e), id), *from ? from : "?",
                         asylink_event_reason(e));
            } else {
                lost++;
                fprintf(stderr, "asylink: %s: %s: message %s from %s refused: %s\n", context,
                        asylink_err_name(code), node_id_str(asylink_event_message_id(e), id),
                        *from ? from : "?", asylink_event_reason(e));
            }
        }
        asylink_event_free(&e);
    }
    return lost;
}

int node_receive(const char *context, asylink_client *c, const node_recv_opts *o)
{
    uint64_t printed = 0, refused = 0, start = clock_now_ms();
    int rc = ASYLINK_OK, result = CLI_OK;
    uint64_t idle = o->idle_ms > INT32_MAX ? INT32_MAX : o->idle_ms;
    /* The time allowed for the first session: --idle, but never less than the grace. */
    uint64_t connect_by = start + (idle > NODE_CONNECT_GRACE_MS ? idle : NODE_CONNECT_GRACE_MS);
    while (result == CLI_OK && (o->count == 0 || printed < o->count)) {
        asylink_message *m = NULL;
        uint64_t now = clock_now_ms(), wait = idle;
        bool connected = s_ever_connected(c);
        if (!connected) /* waiting for the first session: --idle counts from it */
            wait = now >= connect_by ? 0 : connect_by - now < 100 ? connect_by - now : 100;
        rc = asylink_recv(c, (int)wait, &m);
        if (rc == ASYLINK_E_TIMEOUT && !connected && clock_now_ms() < connect_by)
            continue;
        if (rc != ASYLINK_OK)
            break;
        result = s_take(context, c, o, m, &printed);
        asylink_message_free(&m);
        refused += s_report_refused(context, c);
    }
    refused += s_report_refused(context, c);
    asylink_connect_failure f;
    if (result == CLI_OK && rc == ASYLINK_E_TIMEOUT && node_broker_down(c, true, &f))
        result = node_fail_broker(context, &f, clock_now_ms() - start, NULL);
    if (o->ack && printed > 0 && !node_flush(c, 10000))
        cli_note("%s: receipts not yet sent stay in the outbox", context);
    if (result != CLI_OK)
        return result;
    if (refused > 0)
        return cli_failf("%s: %llu message%s refused (above): each direct one is in the broker's "
                         "dead letters (asylink dlq list); once the cause is fixed its operator "
                         "replays it (asylink dlq replay)",
                         context, (unsigned long long)refused, refused == 1 ? "" : "s");
    if (rc == ASYLINK_E_TIMEOUT && o->count && printed < o->count)
        return cli_fail_text(context, rc, "%llu of %llu %s received", (unsigned long long)printed,
                             (unsigned long long)o->count,
                             cli_plural(o->count, "message", "messages"));
    if (rc != ASYLINK_OK && rc != ASYLINK_E_TIMEOUT)
        return cli_fail(context, rc);
    return CLI_OK;
}

/* ---- payloads ---- */

/* Reads all of stdin into a new NUL-terminated buffer. */
static int s_read_stdin(uint8_t **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    uint8_t *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            uint8_t *bigger = cap < NODE_MAX_INPUT ? realloc(buf, cap * 2 + 1) : NULL;
            if (!bigger) {
                free(buf);
                return cap < NODE_MAX_INPUT ? ASYLINK_E_NOMEM : ASYLINK_E_TOO_LARGE;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (!buf)
        return ASYLINK_E_NOMEM;
    if (ferror(stdin)) {
        free(buf);
        return ASYLINK_E_IO;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return ASYLINK_OK;
}

/* Reads a file (or stdin for "-") as a NUL-terminated buffer. */
static int s_read_input(const char *path, uint8_t **out, size_t *len)
{
    if (strcmp(path, "-") == 0)
        return s_read_stdin(out, len);
    return file_read(path, NODE_MAX_INPUT, out, len); /* NUL-terminated too */
}

int node_read_input(const char *path, uint8_t **out, size_t *len)
{
    int rc = s_read_input(path, out, len);
    if (rc == ASYLINK_OK)
        return CLI_OK;
    if (strcmp(path, "-") != 0)
        return cli_fail_file_limit(path, rc, NODE_MAX_INPUT, "an input file");
    if (rc == ASYLINK_E_TOO_LARGE)
        return cli_fail_text("stdin", rc,
                             "holds more than the limit of %u bytes (64 MiB) for an "
                             "input",
                             NODE_MAX_INPUT);
    return cli_fail("stdin", rc);
}

int node_read_payload(const char *context, const char *type, const char *payload_file,
                      const char *raw_file, uint8_t **out, size_t *len)
{
    const char *path = payload_file ? payload_file : raw_file;
    uint8_t *text = NULL;
    size_t n = 0;
    int rc = s_read_input(path, &text, &n);
    const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
    struct stat st;
    if (rc == ASYLINK_E_TOO_LARGE && strcmp(path, "-") != 0 && stat(path, &st) == 0)
        return cli_fail_text(context, rc,
                             "%s is %lld bytes: larger than the limit of %u bytes "
                             "(64 MiB) for a payload file",
                             name, (long long)st.st_size, NODE_MAX_INPUT);
    if (rc == ASYLINK_E_TOO_LARGE)
        return cli_fail_text(context, rc,
                             "%s holds more than the limit of %u bytes (64 MiB) for "
                             "a payload",
                             name, NODE_MAX_INPUT);
    if (rc != ASYLINK_OK)
        return cli_fail_file(name, rc);
    if (raw_file) {
        *out = text;
        *len = n;
        return CLI_OK;
    }
    char err[512];
    rc = pbjson_from_json(type, (const char *)text, out, len, err, sizeof err);
    free(text);
    if (rc != ASYLINK_OK) {
        char ctx[1024];
        snprintf(ctx, sizeof ctx, "%s: %s as %s", context, path, type);
        return cli_fail_text(ctx, rc, "%s", err);
    }
    return CLI_OK;
}

/* Waits for the Accepted or Rejected event of id (other events are skipped). */
void node_wait_outcome(asylink_client *c, const uint8_t id[16], uint64_t timeout_ms,
                       node_outcome *out)
{
    uint64_t deadline = clock_now_ms() + timeout_ms;
    out->state = "pending";
    for (uint64_t now = clock_now_ms(); now < deadline; now = clock_now_ms()) {
        asylink_event *e = NULL;
        if (asylink_next_event(c, (int)(deadline - now), &e) != ASYLINK_OK)
            return;
        asylink_event_type t = asylink_event_get_type(e);
        bool ours = memcmp(asylink_event_message_id(e), id, 16) == 0;
        if (ours && (t == ASYLINK_EVENT_ACCEPTED || t == ASYLINK_EVENT_REJECTED)) {
            out->state = t == ASYLINK_EVENT_ACCEPTED ? "accepted" : "rejected";
            out->code = asylink_event_code(e);
            snprintf(out->reason, sizeof out->reason, "%s", asylink_event_reason(e));
            asylink_event_free(&e);
            return;
        }
        asylink_event_free(&e);
    }
}

