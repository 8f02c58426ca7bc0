/*
 * cmd_subscribe.c — `asylink subscribe`: opens (or resumes) a durable
 * subscription to a topic prefix and prints the feed messages as JSON
 * lines or CSV, acknowledging each after printing so the broker-side
 * cursor moves on.
 *
 * CSV: MonthlyStatistics gives one row per citizenship row (and one for
 * its total): reporting_country, year, month, then every CitizenshipRow
 * column, nested decisions flattened as decisions_<field>, then the
 * provenance of the message: topic, message_id, sender, published (when
 * the publisher signed it, ISO 8601 UTC). Other types give one row per
 * message: the provenance, created_ms and the payload's fields flattened
 * the same way; repeated fields are joined with ';' (lists of messages as
 * JSON text); an unset nested message gives its defaults (zeros), as
 * proto3 reads it. Columns come from the type's descriptor
 * (pbjson_skeleton), so they are the same for every message of a type; a
 * header line precedes the first row and every change of type, and
 * --type keeps to one type (one header, one table).
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "cliopt.h"
#include "commands.h"
#include "node.h"
#include "pbjson.h"

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SUB_COLUMN_MAX 128
#define SUB_STATS_TYPE "asylink.v1.MonthlyStatistics"

/* The options of one subscribe. */
typedef struct {
    const char *config;       /* --config */
    const char *prefix;       /* --prefix */
    const char *subscription; /* --subscription */
    const char *type;         /* --type: only this content type */
    int start;                /* --start: an asylink_start (NEW 1, EARLIEST 2) */
    uint64_t count;           /* --count */
    uint64_t idle_ms;         /* --idle */
    int format;               /* --format: 1 jsonl, 2 csv */
    bool json;                /* --json: JSON lines */
    bool no_ack;              /* --no-ack */
} s_opts;

/* 1 + index = asylink_start. */
static const char *const s_starts[] = {"new", "earliest", NULL};
/* 1 + index = S_FORMAT_*. */
static const char *const s_formats[] = {"jsonl", "csv", NULL};
enum { S_FORMAT_JSONL = 1, S_FORMAT_CSV = 2 };

static const cliopt s_rows[] = {
    CLIOPT_ROW_CONFIG(s_opts, config),
    {.name = "prefix",
     .kind = CLIOPT_STRING,
     .metavar = "PREFIX",
     .offset = offsetof(s_opts, prefix),
     .flags = CLIOPT_REQUIRED,
     .help = "topic prefix, e.g. stats or stats.monthly.DE"},
    {.name = "subscription",
     .kind = CLIOPT_STRING,
     .metavar = "NAME",
     .offset = offsetof(s_opts, subscription),
     .flags = CLIOPT_REQUIRED,
     .help = "durable subscription name ([A-Za-z0-9._-]{1,64})"},
    {.name = "start",
     .kind = CLIOPT_CHOICE,
     .metavar = "earliest|new",
     .offset = offsetof(s_opts, start),
     .choices = s_starts,
     .def = "earliest",
     .help = "where a new subscription starts"},
    NODE_ROWS_COUNT_IDLE(s_opts, count, idle_ms),
    {.name = "format",
     .kind = CLIOPT_CHOICE,
     .metavar = "jsonl|csv",
     .offset = offsetof(s_opts, format),
     .choices = s_formats,
     .def = "jsonl",
     .help = "JSON lines (metadata and decoded payload) or CSV (MonthlyStatistics: one row per "
             "citizenship; every row with its topic, message_id, sender and published time; "
             "text starting with = + - @ gets a leading ' so spreadsheets do not run it)"},
    {.name = "type",
     .kind = CLIOPT_STRING,
     .metavar = "TYPE",
     .offset = offsetof(s_opts, type),
     .help = "only messages of this content type, e.g. asylink.v1.MonthlyStatistics (one CSV "
             "table); others stay unacknowledged for a later subscribe"},
    {.name = "json",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, json),
     .help = "JSON lines, as --format jsonl"},
    {.name = "no-ack",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, no_ack),
     .help = "do not acknowledge (the cursor does not move)"},
    {.name = "name", .flags = CLIOPT_DEPRECATED, .alias_of = "subscription"},
    {.name = "timeout", .flags = CLIOPT_DEPRECATED, .alias_of = "idle"},
};

static const cliopt_rule s_rules[] = {{CLIOPT_AT_MOST_ONE, "json format"}};

const cliopt_spec cmd_subscribe_spec = {
    .description = "Opens (or resumes) the durable subscription NAME to the topics starting "
                   "with PREFIX and prints each feed message, then acknowledges it: a later "
                   "subscribe with the same NAME continues after it.",
    .opts = s_rows,
    .n_opts = CLIOPT_LEN(s_rows),
    .rules = s_rules,
    .n_rules = CLIOPT_LEN(s_rules),
    .notes = "Exit status: 0 done, 1 failed or fewer than --count messages arrived, 2 usage.\n",
};

/* CSV state: the columns of the type whose header was printed last. */
typedef struct {
    char *type;                  /* content type of the current header, or NULL */
    char *cols[SUB_COLUMN_MAX];  /* payload column names (flattened) */
    size_t n_cols;
    json_t *defaults;            /* column -> default value (unset nested messages are zeros) */
} s_csv;

/* What s_print gets. */
typedef struct {
    const s_opts *o;
    s_csv csv;
} s_state;

/* ---- CSV ---- */

/*
 * Text a spreadsheet would take for a formula (OWASP's "CSV injection"): it
 * starts with = + - @, a tab or a carriage return. Feed payloads come from
 * other nodes; a cell like =HYPERLINK(...) must not run on an analyst's desk.
 */
static bool s_formula_like(const char *s)
{
    return *s && strchr("=+-@\t\r", *s);
}

/*
 * Writes one cell, quoted when it holds a comma, quote or line break (RFC
 * 4180). guard: data from a payload; formula-like text is written quoted
 * with a leading apostrophe, which spreadsheets show as text.
 */
static void s_cell_text(const char *s, bool first, bool guard)
{
    if (!first)
        fputc(',', stdout);
    bool formula = guard && s_formula_like(s);
    if (!formula && !strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    fputc('"', stdout);
    if (formula)
        fputc('\'', stdout);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', stdout);
        fputc(*s, stdout);
    }
    fputc('"', stdout);
}

/* A cell of the program's own text (column names): never guarded. */
static void s_cell(const char *s, bool first)
{
    s_cell_text(s, first, false);
}

/* A scalar's text into buf; returns buf ("" for null). */
static const char *s_scalar_text(const json_t *v, char *buf, size_t len)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, len, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
    else
        buf[0] = '\0';
    return buf;
}

/* A value as one cell: scalars as text, arrays of scalars joined by ';', else JSON. */
static void s_value_cell(const json_t *v, bool first)
{
    char buf[64];
    if (!json_is_array(v) && !json_is_object(v)) { /* numbers stay numbers, e.g. -5 */
        s_cell_text(s_scalar_text(v, buf, sizeof buf), first, json_is_string(v));
        return;
    }
    bool scalars = json_is_array(v);
    for (size_t i = 0; scalars && i < json_array_size(v); i++)
        scalars = !json_is_array(json_array_get(v, i)) && !json_is_object(json_array_get(v, i));
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f) {
        s_cell("", first);
        return;
    }
    if (scalars) {
        for (size_t i = 0; i < json_array_size(v); i++)
            fprintf(f, "%s%s", i ? ";" : "", s_scalar_text(json_array_get(v, i), buf, sizeof buf));
    } else {
        json_dumpf(v, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    fclose(f);
    s_cell_text(text ? text : "", first, true);
    free(text);
}

/* Flattens o into out: nested objects become "<key>_<field>" entries. */
static void s_flatten(const json_t *o, const char *prefix, json_t *out)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "_" : "", key);
        if (json_is_object(v))
            s_flatten(v, name, out);
        else
            json_object_set(out, name, v);
    }
}

static void s_csv_clear(s_csv *c)
{
    free(c->type);
    c->type = NULL;
    for (size_t i = 0; i < c->n_cols; i++)
        free(c->cols[i]);
    c->n_cols = 0;
    json_decref(c->defaults);
    c->defaults = NULL;
}

/* The fixed columns before the payload's, by content type, and the provenance. */
static const char *const s_stats_lead[] = {"reporting_country", "year", "month"};
static const char *const s_generic_lead[] = {"topic", "message_id", "sender", "published",
                                             "created_ms"};
static const char *const s_provenance[] = {"topic", "message_id", "sender", "published"};

/* Sets the columns for type and prints its header line. */
static int s_csv_header(s_csv *c, const char *type)
{
    s_csv_clear(c);
    bool stats = strcmp(type, SUB_STATS_TYPE) == 0;
    json_t *skel = NULL, *flat = json_object();
    if (pbjson_known_type(type) &&
        pbjson_skeleton(stats ? "asylink.v1.CitizenshipRow" : type, &skel) != ASYLINK_OK) {
        json_decref(flat);
        return cli_fail("subscribe: csv", ASYLINK_E_NOMEM);
    }
    if (skel)
        s_flatten(skel, "", flat);
    else
        json_object_set_new(flat, "payload_base64", json_null());
    json_decref(skel);
    c->type = strdup(type);
    const char *key;
    json_t *v;
    json_object_foreach(flat, key, v) {
        if (c->n_cols < SUB_COLUMN_MAX)
            c->cols[c->n_cols++] = strdup(key);
    }
    c->defaults = flat;
    const char *const *lead = stats ? s_stats_lead : s_generic_lead;
    size_t n_lead =
        stats ? sizeof s_stats_lead / sizeof *lead : sizeof s_generic_lead / sizeof *lead;
    for (size_t i = 0; i < n_lead; i++)
        s_cell(lead[i], i == 0);
    for (size_t i = 0; i < c->n_cols; i++)
        s_cell(c->cols[i] ? c->cols[i] : "", false);
    for (size_t i = 0; stats && i < sizeof s_provenance / sizeof *s_provenance; i++)
        s_cell(s_provenance[i], false);
    fputc('\n', stdout);
    return CLI_OK;
}

/* Prints the payload columns of obj (flattened). */
static void s_csv_payload_cells(const s_csv *c, const json_t *obj)
{
    json_t *flat = json_object();
    s_flatten(obj, "", flat);
    for (size_t i = 0; i < c->n_cols; i++) {
        const char *col = c->cols[i] ? c->cols[i] : "";
        json_t *v = json_object_get(flat, col);
        s_value_cell(v ? v : json_object_get(c->defaults, col), false);
    }
    json_decref(flat);
}

/* Prints the provenance cells of msg (node_message_json), s_provenance's columns. */
static void s_provenance_cells(const json_t *msg, bool first)
{
    s_value_cell(json_object_get(msg, "topic"), first);
    s_value_cell(json_object_get(msg, "message_id"), false);
    s_value_cell(json_object_get(msg, "sender"), false);
    s_value_cell(json_object_get(msg, "created"), false);
}

static void s_csv_stats_row(const s_csv *c, const json_t *msg, const json_t *row)
{
    const json_t *stats = json_object_get(msg, "payload");
    const json_t *period = json_object_get(stats, "period");
    s_value_cell(json_object_get(stats, "reporting_country"), true);
    s_value_cell(json_object_get(period, "year"), false);
    s_value_cell(json_object_get(period, "month"), false);
    s_csv_payload_cells(c, row);
    s_provenance_cells(msg, false);
    fputc('\n', stdout);
}

static void s_csv_generic_row(const s_csv *c, const json_t *msg)
{
    s_provenance_cells(msg, true);
    s_value_cell(json_object_get(msg, "created_ms"), false);
    json_t *payload = json_object_get(msg, "payload");
    if (json_is_object(payload)) {
        s_csv_payload_cells(c, payload);
    } else {
        json_t *wrap = json_pack("{s:O}", "payload_base64", payload ? payload : json_null());
        s_csv_payload_cells(c, wrap);
        json_decref(wrap);
    }
    fputc('\n', stdout);
}

/*
 * A message of a known type whose payload does not decode has no row that
 * would not lie: its cells would be the type's defaults (zeros) under the
 * type's header, or the generic columns shifted under it. Refused: it is
 * not printed nor acknowledged, and the error says how to look at it.
 */
static int s_csv_refuse(const json_t *msg, const char *type)
{
    const char *err = json_string_value(json_object_get(msg, "payload_error"));
    int code = err && strcmp(err, "NOMEM") == 0 ? ASYLINK_E_NOMEM : ASYLINK_E_MALFORMED;
    return cli_fail_text("subscribe", code,
                         "message %s from %s on %s does not decode as %s: no CSV row written "
                         "for it and it stays unacknowledged; --format jsonl shows it (payload as "
                         "base64, payload_error) and acknowledges it",
                         json_string_value(json_object_get(msg, "message_id")),
                         json_string_value(json_object_get(msg, "sender")),
                         json_string_value(json_object_get(msg, "topic")), type);
}

static int s_print_csv(s_csv *c, const asylink_message *m)
{
    json_t *msg = node_message_json(m);
    if (!msg)
        return cli_fail("subscribe", ASYLINK_E_NOMEM);
    const char *type = asylink_message_content_type(m);
    if (pbjson_known_type(type) && !json_is_object(json_object_get(msg, "payload"))) {
        int refused = s_csv_refuse(msg, type);
        json_decref(msg);
        return refused;
    }
    int rc = CLI_OK;
    if (!c->type || strcmp(c->type, type) != 0)
        rc = s_csv_header(c, type);
    json_t *payload = json_object_get(msg, "payload");
    if (rc == CLI_OK && strcmp(type, SUB_STATS_TYPE) == 0 && json_is_object(payload)) {
        json_t *row;
        size_t i;
        json_array_foreach(json_object_get(payload, "rows"), i, row) s_csv_stats_row(c, msg, row);
        if (json_is_object(json_object_get(payload, "total")))
            s_csv_stats_row(c, msg, json_object_get(payload, "total"));
    } else if (rc == CLI_OK) {
        s_csv_generic_row(c, msg);
    }
    json_decref(msg);
    if (rc == CLI_OK && fflush(stdout) != 0)
        rc = cli_fail("stdout", ASYLINK_E_IO);
    return rc;
}

static int s_print(void *ctx, const asylink_message *m)
{
    s_state *st = ctx;
    if (st->o->format == S_FORMAT_CSV)
        return s_print_csv(&st->csv, m);
    return node_json_line(node_message_json(m));
}

/* ---- subscribing ---- */

/* Subscribes once a session is open, retrying while the broker is unavailable. */
static int s_subscribe(asylink_client *c, const s_opts *o)
{
    uint64_t wait_ms = o->idle_ms > 10000 ? o->idle_ms : 10000;
    uint64_t deadline = clock_now_ms() + wait_ms;
    unsigned long mark = node_lib_mark();
    int rc;
    for (;;) {
        rc = asylink_subscribe(c, o->prefix, o->subscription, (asylink_start)o->start, 0, 10000);
        if (rc != ASYLINK_E_UNAVAILABLE || clock_now_ms() >= deadline)
            break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (rc == ASYLINK_OK)
        return CLI_OK;
    char ctx[512];
    snprintf(ctx, sizeof ctx, "subscribe: %s as %s", o->prefix, o->subscription);
    asylink_connect_failure f;
    if ((rc == ASYLINK_E_UNAVAILABLE || rc == ASYLINK_E_TIMEOUT) && node_broker_down(c, false, &f))
        return node_fail_broker(ctx, &f, wait_ms, NULL);
    if (rc == ASYLINK_E_PREFIX_MISMATCH)
        return cli_fail_text(ctx, rc,
                             "the subscription %s exists with another topic prefix (the broker "
                             "keeps it with its cursor): subscribe with the prefix it was created "
                             "with, or use another --subscription name",
                             o->subscription);
    return node_fail(ctx, rc, mark);
}

int cmd_subscribe(int argc, char **argv)
{
    s_opts o = {0};
    int rc = cliopt_parse(&cmd_subscribe_spec, argc, argv, &o, NULL);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    asylink_client *c = NULL;
    if (node_open("subscribe", o.config, &c) != CLI_OK)
        return CLI_FAIL;
    rc = s_subscribe(c, &o);
    s_state st = {.o = &o};
    node_recv_opts ro = {.count = o.count,
                         .idle_ms = o.idle_ms,
                         .ack = !o.no_ack,
                         .prefix = o.prefix,
                         .subscription = o.subscription,
                         .content_type = o.type,
                         .print = s_print,
                         .ctx = &st};
    if (rc == CLI_OK)
        rc = node_receive("subscribe", c, &ro);
    s_csv_clear(&st.csv);
    asylink_client_close(&c);
    return rc;
}
