/*
 * cmd_admin.c — the operator commands that use the broker's admin endpoint
 * (adminc.h): `asylink nodes`, `asylink queues`, `asylink topics`,
 * `asylink dlq list|replay|drop`, `asylink pending list|confirm|cancel`
 * (four-eyes) and `asylink reload`. Human tables by default, the broker's answer as
 * JSON with --json.
 */
#include "adminc.h"
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "cert.h"
#include "cliopt.h"
#include "commands.h"
#include "node.h"
#include "topic.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The options of an admin command: the shared ones and the command's own. */
typedef struct {
    adminc_opts a;       /* --config, --admin, --timeout, --json */
    bool flag;           /* --connected, --non-empty, --all */
    const char *node_id; /* --node */
    uint64_t limit;      /* --limit (dlq list) */
    uint64_t offset;     /* --offset (dlq list) */
} s_opts;

/* The exit code of a parse that stopped (CLI_DONE: help printed). */
static int s_exit(int rc)
{
    return rc == CLI_DONE ? CLI_OK : rc;
}

/*
 * Parses a command by spec and sends its request q (filled from the
 * options): CLI_OK with *m the answer (caller releases), CLI_DONE after
 * --help, or the exit code of a usage error or failed call.
 */
static int s_request(const cliopt_spec *spec, int argc, char **argv, wire_admin_request *q,
                     s_opts *o, json_t **m)
{
    int rc = cliopt_parse(spec, argc, argv, o, NULL);
    if (rc != CLI_OK)
        return rc;
    q->flag = o->flag;
    if (o->node_id)
        snprintf(q->node_id, sizeof q->node_id, "%s", o->node_id);
    q->limit = (uint32_t)o->limit;
    q->offset = o->offset;
    return adminc_call(argv[0], &o->a, q, m);
}

/* --node NODE_ID. */
#define S_ROW_NODE(what)                                                                           \
    {                                                                                              \
        .name = "node", .kind = CLIOPT_CUSTOM, .metavar = "NODE_ID",                               \
        .offset = offsetof(s_opts, node_id), .parse = cliopt_parse_node_id,                        \
        .expect = CLIOPT_EXPECT_NODE_ID, .help = what                                              \
    }

static uint64_t s_u64(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));
    return v > 0 ? (uint64_t)v : 0;
}

static const char *s_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : "-";
}

/* An enum name without its prefix ("ERROR_CODE_NOT_FOUND" -> "NOT_FOUND"). */
static const char *s_enum(const json_t *o, const char *key, const char *prefix)
{
    const char *s = s_str(o, key);
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : s;
}

/* An ISO 8601 time, or "-" for 0. */
static const char *s_time(uint64_t ms, char *buf, size_t len)
{
    return ms ? clock_format_iso(ms, buf, len) : "-";
}

/* Ends a command: flushes stdout. */
static int s_done(int rc)
{
    if (fflush(stdout) != 0)
        return cli_fail("stdout", ASYLINK_E_IO);
    return rc;
}

/* ---- nodes ---- */

static const cliopt s_nodes_rows[] = {
    ADMINC_ROWS(s_opts, a),
    {.name = "connected",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, flag),
     .help = "only nodes with an open session"},
};

const cliopt_spec cmd_nodes_spec = {
    .description = "Lists the federation's nodes as the broker sees them: certificate, roles, "
                   "session, queue and subscriptions. Asks the broker's admin endpoint, which "
                   "admits only operator certificates.",
    .opts = s_nodes_rows,
    .n_opts = CLIOPT_LEN(s_nodes_rows),
};

/*
 * The role words of certificates and docs ("member_state") for the
 * protobuf enum names the answer carries ("ROLE_MEMBER_STATE"), in place
 * in every node's roles array, so that --json and the table say the same.
 * A value that is no known role is kept as it came.
 */
static void s_role_words(json_t *nodes)
{
    size_t i, j;
    json_t *n, *r;
    json_array_foreach(nodes, i, n)
    {
        json_array_foreach(json_object_get(n, "roles"), j, r)
        {
            const char *s = json_string_value(r);
            for (int role = 1; s && strncmp(s, "ROLE_", 5) == 0 && role <= CERT_ROLE_MAX; role++)
                if (strcasecmp(s + 5, cert_role_name(role)) == 0) {
                    json_array_set_new(json_object_get(n, "roles"), j,
                                       json_string(cert_role_name(role)));
                    break;
                }
        }
    }
}

/* "member_state,operator" from a roles array (after s_role_words). */
static void s_roles(const json_t *roles, char *buf, size_t len)
{
    size_t i, used = 0;
    json_t *r;
    buf[0] = 0;
    json_array_foreach(roles, i, r) {
        const char *s = json_string_value(r);
        int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", s ? s : "?");
        used = n < 0 ? used : used + (size_t)n < len ? used + (size_t)n : len - 1;
    }
}

int cmd_nodes(int argc, char **argv)
{
    s_opts o = {0};
    wire_admin_request q = {.op = WIRE_ADMIN_NODES};
    json_t *m = NULL;
    int rc = s_request(&cmd_nodes_spec, argc, argv, &q, &o, &m);
    if (rc != CLI_OK)
        return s_exit(rc);
    json_t *nodes = json_object_get(m, "nodes"), *n;
    s_role_words(nodes);
    if (o.a.json)
        return cli_json_print(m);
    size_t i;
    printf("%-20s %-24s %8s %-9s %8s %9s %5s %s\n", "NODE", "ROLES", "SERIAL", "CONNECTED",
           "QUEUE", "IN FLIGHT", "SUBS", "STATUS");
    json_array_foreach(nodes, i, n) {
        char roles[128];
        s_roles(json_object_get(n, "roles"), roles, sizeof roles);
        bool revoked = json_is_true(json_object_get(n, "revoked"));
        bool connected = json_is_true(json_object_get(n, "connected"));
        printf("%-20s %-24s %8llu %-9s %8llu %9llu %5llu %s\n", s_str(n, "node_id"), roles,
               (unsigned long long)s_u64(n, "cert_serial"), connected ? "yes" : "no",
               (unsigned long long)s_u64(n, "queue_depth"),
               (unsigned long long)s_u64(n, "in_flight"),
               (unsigned long long)s_u64(n, "subscriptions"), revoked ? "REVOKED" : "ok");
    }
    if (json_array_size(nodes) == 0)
        printf("(no nodes)\n");
    json_decref(m);
    return s_done(CLI_OK);
}

/* ---- queues ---- */

static const cliopt s_queues_rows[] = {
    ADMINC_ROWS(s_opts, a),
    S_ROW_NODE("only this node's queue"),
    {.name = "non-empty",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, flag),
     .help = "skip empty queues"},
};

const cliopt_spec cmd_queues_spec = {
    .description = "Lists the direct queue of every member node: messages waiting, bytes, age of "
                   "the oldest, deliveries in flight, dead letters. Internal nodes (only the "
                   "broker, operator or ca role) are listed only while something waits in their "
                   "queue or dead letters, as on the broker's /status and /metrics; --node shows "
                   "one anyway.",
    .opts = s_queues_rows,
    .n_opts = CLIOPT_LEN(s_queues_rows),
};

int cmd_queues(int argc, char **argv)
{
    s_opts o = {0};
    wire_admin_request q = {.op = WIRE_ADMIN_QUEUES};
    json_t *m = NULL;
    int rc = s_request(&cmd_queues_spec, argc, argv, &q, &o, &m);
    if (rc != CLI_OK)
        return s_exit(rc);
    if (o.a.json)
        return cli_json_print(m);
    json_t *queues = json_object_get(m, "queues"), *n;
    size_t i;
    printf("%-20s %-9s %8s %12s %10s %9s %12s\n", "NODE", "CONNECTED", "WAITING", "BYTES",
           "OLDEST(s)", "IN FLIGHT", "DEAD LETTERS");
    json_array_foreach(queues, i, n) {
        printf("%-20s %-9s %8llu %12llu %10llu %9llu %12llu\n", s_str(n, "node_id"),
               json_is_true(json_object_get(n, "connected")) ? "yes" : "no",
               (unsigned long long)s_u64(n, "depth"), (unsigned long long)s_u64(n, "size_bytes"),
               (unsigned long long)(s_u64(n, "oldest_age_ms") / 1000),
               (unsigned long long)s_u64(n, "in_flight"),
               (unsigned long long)s_u64(n, "dead_letters"));
    }
    if (json_array_size(queues) == 0)
        printf("(no queues)\n");
    json_decref(m);
    return s_done(CLI_OK);
}

/* ---- dlq ---- */

static const cliopt s_dlq_list_rows[] = {
    ADMINC_ROWS(s_opts, a),
    S_ROW_NODE("only dead letters for this recipient"),
    {.name = "limit",
     .kind = CLIOPT_UINT,
     .metavar = "N",
     .offset = offsetof(s_opts, limit),
     .min = 1,
     .max = 1000,
     .def = "100",
     .help = "at most N entries"},
    {.name = "offset",
     .kind = CLIOPT_UINT,
     .metavar = "N",
     .offset = offsetof(s_opts, offset),
     .min = 0,
     .max = 99999,
     .help = "skip the N newest entries first"},
};

static const cliopt_spec s_dlq_list_spec = {
    .description = "Lists dead letters, newest first (metadata only, never payloads). The ID "
                   "column is what `dlq replay` and `dlq drop` take.",
    .opts = s_dlq_list_rows,
    .n_opts = CLIOPT_LEN(s_dlq_list_rows),
};

static int s_dlq_list(int argc, char **argv)
{
    s_opts o = {0};
    wire_admin_request q = {.op = WIRE_ADMIN_DEAD_LETTERS};
    json_t *m = NULL;
    int rc = s_request(&s_dlq_list_spec, argc, argv, &q, &o, &m);
    if (rc != CLI_OK)
        return s_exit(rc);
    if (o.a.json)
        return cli_json_print(m);
    json_t *entries = json_object_get(m, "entries"), *e;
    size_t i;
    printf("%-8s %-36s %-16s %-16s %-24s %8s %-16s %s\n", "ID", "MESSAGE ID", "SENDER",
           "RECIPIENT", "DEAD-LETTERED", "ATTEMPTS", "CODE", "REASON");
    json_array_foreach(entries, i, e) {
        char when[32];
        printf("%-8llu %-36s %-16s %-16s %-24s %8llu %-16s %s\n",
               (unsigned long long)s_u64(e, "id"), s_str(e, "message_id"), s_str(e, "sender"),
               s_str(e, "recipient"), s_time(s_u64(e, "dead_lettered_ms"), when, sizeof when),
               (unsigned long long)s_u64(e, "attempts"), s_enum(e, "code", "ERROR_CODE_"),
               s_str(e, "reason"));
    }
    printf("(%zu shown of %llu %s)\n", json_array_size(entries),
           (unsigned long long)s_u64(m, "total"),
           cli_plural(s_u64(m, "total"), "dead letter", "dead letters"));
    json_decref(m);
    return s_done(CLI_OK);
}

static const cliopt s_dlq_change_rows[] = {
    ADMINC_ROWS(s_opts, a),
    S_ROW_NODE("only this recipient's dead letters"),
    {.name = "all",
     .kind = CLIOPT_FLAG,
     .offset = offsetof(s_opts, flag),
     .help = "every dead letter of --node (no IDs)"},
};

static const cliopt_rule s_dlq_change_rules[] = {{CLIOPT_NEEDS, "all node"}};

static const cliopt_spec s_dlq_replay_spec = {
    .synopsis = "--config OPS.ini [options] ID...\n--config OPS.ini [options] --all --node NODE_ID",
    .description = "Puts dead letters back into their recipient's queue for a fresh round of "
                   "delivery attempts. An ID (from `dlq list`) names a message; without --node "
                   "it is replayed for every recipient it was dead-lettered for. Messages whose "
                   "expiry has passed are not replayed. Prints how many were replayed and why "
                   "others were not (expired, not found); an ID not found is also an error "
                   "(NOT_FOUND, exit 1).\n\n"
                   "With four-eyes on ([admin] four_eyes), a replay that touches a PERSONAL "
                   "message is held until another operator confirms it (`asylink pending "
                   "confirm ID`); a held --all then replays only the dead letters its summary "
                   "counted, not those dead-lettered while it waited.",
    .opts = s_dlq_change_rows,
    .n_opts = CLIOPT_LEN(s_dlq_change_rows),
    .rules = s_dlq_change_rules,
    .n_rules = CLIOPT_LEN(s_dlq_change_rules),
    .operands = "ID...",
    .min_operands = 0,
    .max_operands = WIRE_ADMIN_MAX_IDS,
};

static const cliopt_spec s_dlq_drop_spec = {
    .synopsis = "--config OPS.ini [options] ID...\n--config OPS.ini [options] --all --node NODE_ID",
    .description = "Deletes dead letters for good. An ID (from `dlq list`) names a message; "
                   "without --node it is dropped for every recipient it was dead-lettered for.\n\n"
                   "With four-eyes on ([admin] four_eyes), the broker holds the request until "
                   "another operator confirms it (`asylink pending confirm ID`); its summary "
                   "counts the dead letters, and a held --all then drops only those, not the "
                   "ones dead-lettered while it waited.",
    .opts = s_dlq_change_rows,
    .n_opts = CLIOPT_LEN(s_dlq_change_rows),
    .rules = s_dlq_change_rules,
    .n_rules = CLIOPT_LEN(s_dlq_change_rules),
    .operands = "ID...",
    .min_operands = 0,
    .max_operands = WIRE_ADMIN_MAX_IDS,
};

static void s_dlq_result(const json_t *m, bool replay);

/* dlq replay and dlq drop. */
static int s_dlq_change(int argc, char **argv, bool replay)
{
    const cliopt_spec *spec = replay ? &s_dlq_replay_spec : &s_dlq_drop_spec;
    s_opts o = {0};
    cliopt_result res;
    wire_admin_request q = {.op = replay ? WIRE_ADMIN_DEAD_LETTER_REPLAY
                                         : WIRE_ADMIN_DEAD_LETTER_DROP};
    int rc = cliopt_parse(spec, argc, argv, &o, &res);
    if (rc != CLI_OK)
        return s_exit(rc);
    const char *prog = argv[0];
    int first = res.first_operand;
    size_t n = (size_t)res.n_operands;
    q.flag = o.flag;
    if (o.node_id)
        snprintf(q.node_id, sizeof q.node_id, "%s", o.node_id);
    if (q.flag && n)
        return cli_usage(prog, "--all takes --node NODE_ID and no IDs");
    if (!q.flag && n == 0)
        return cli_usage(prog, "give dead letter IDs, or --all --node NODE_ID");
    uint64_t ids[WIRE_ADMIN_MAX_IDS];
    for (size_t i = 0; i < n; i++)
        if (cli_parse_u64(argv[first + (int)i], 1, UINT64_MAX, &ids[i]) != 0)
            return cli_usage(prog, "invalid ID '%s' (a number from `dlq list`)",
                             argv[first + (int)i]);
    q.ids = n ? ids : NULL;
    q.n_ids = n;
    json_t *m = NULL;
    if ((rc = adminc_call(prog, &o.a, &q, &m)) != CLI_OK)
        return rc;
    json_t *nf = json_object_get(m, "not_found");
    size_t n_nf = json_array_size(nf);
    if (o.a.json) {
        rc = cli_json_print(json_incref(m));
    } else if (adminc_print_held(m)) {
        rc = s_done(CLI_OK);
    } else {
        s_dlq_result(m, replay);
        rc = s_done(CLI_OK);
    }
    for (size_t i = 0; i < n_nf; i++)
        rc = cli_fail_text(prog, ASYLINK_E_NOT_FOUND, "no dead letter with ID %lld%s%s",
                           (long long)json_integer_value(json_array_get(nf, i)),
                           q.node_id[0] ? " for " : "", q.node_id);
    json_decref(m);
    return rc;
}

/*
 * The result line of a replay or drop answer (also a confirmed one), with
 * why some were not, only the reasons that apply: "replayed 2 dead letters
 * (1 not replayed: expired; 1 not found; 3 dead-lettered after the request:
 * left alone)". Each id not found is also an error line (NOT_FOUND) on
 * stderr.
 */
static void s_dlq_result(const json_t *m, bool replay)
{
    uint64_t done = s_u64(m, replay ? "replayed" : "dropped");
    uint64_t expired = replay ? s_u64(m, "expired") : 0;
    uint64_t later = s_u64(m, "later"); /* a confirmed --all: dead-lettered since it was held */
    size_t not_found = json_array_size(json_object_get(m, "not_found"));
    printf("%s %llu %s", replay ? "replayed" : "dropped", (unsigned long long)done,
           cli_plural(done, "dead letter", "dead letters"));
    const char *sep = " (";
    if (expired) {
        printf("%s%llu not replayed: expired", sep, (unsigned long long)expired);
        sep = "; ";
    }
    if (not_found) {
        printf("%s%zu not found", sep, not_found);
        sep = "; ";
    }
    if (later) {
        printf("%s%llu dead-lettered after the request: left alone, ask again for them", sep,
               (unsigned long long)later);
        sep = "; ";
    }
    printf("%s\n", sep[0] == ';' ? ")" : "");
}

static int s_dlq_replay(int argc, char **argv)
{
    return s_dlq_change(argc, argv, true);
}

static int s_dlq_drop(int argc, char **argv)
{
    return s_dlq_change(argc, argv, false);
}

const char cmd_dlq_about[] = "The broker's dead letter queue, through its admin endpoint "
                             "(operator certificates only).";

const cli_command cmd_dlq_commands[] = {
    {"list", s_dlq_list, "list dead letters, newest first", &s_dlq_list_spec, NULL, NULL},
    {"replay", s_dlq_replay, "put dead letters back into their queue", &s_dlq_replay_spec, NULL,
     NULL},
    {"drop", s_dlq_drop, "delete dead letters for good", &s_dlq_drop_spec, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

/* ---- reload ---- */

static const cliopt s_reload_rows[] = {ADMINC_ROWS(s_opts, a)};

const cliopt_spec cmd_reload_spec = {
    .description = "Makes the broker reload its trust directory (CA, node certificates, "
                   "revocation list) and policy, as SIGHUP does. On failure the broker keeps "
                   "what it had and the reason is printed. Sessions whose certificate is no "
                   "longer usable are closed.",
    .opts = s_reload_rows,
    .n_opts = CLIOPT_LEN(s_reload_rows),
};

int cmd_reload(int argc, char **argv)
{
    s_opts o = {0};
    wire_admin_request q = {.op = WIRE_ADMIN_RELOAD, .trust = true, .policy = true};
    json_t *m = NULL;
    int rc = s_request(&cmd_reload_spec, argc, argv, &q, &o, &m);
    if (rc != CLI_OK)
        return s_exit(rc);
    if (o.a.json)
        return cli_json_print(m);
    printf("reloaded: %llu %s, revocation list %llu (%llu revoked), %llu %s closed\n",
           (unsigned long long)s_u64(m, "nodes"), cli_plural(s_u64(m, "nodes"), "node", "nodes"),
           (unsigned long long)s_u64(m, "crl_number"), (unsigned long long)s_u64(m, "revoked"),
           (unsigned long long)s_u64(m, "sessions_dropped"),
           cli_plural(s_u64(m, "sessions_dropped"), "session", "sessions"));
    printf("policy digest: %s\n", s_str(m, "policy_digest_hex"));
    json_decref(m);
    return s_done(CLI_OK);
}

/* ---- topics ---- */

/* The options of topics. */
typedef struct {
    adminc_opts a;      /* --config, --admin, --timeout, --json */
    const char *prefix; /* --prefix */
} s_topics_opts;

static int s_parse_prefix(const char *text, void *field)
{
    if (!topic_valid(text))
        return -1;
    *(const char **)field = text;
    return 0;
}

static const cliopt s_topics_rows[] = {
    ADMINC_ROWS(s_topics_opts, a),
    {.name = "prefix",
     .kind = CLIOPT_CUSTOM,
     .metavar = "PREFIX",
     .offset = offsetof(s_topics_opts, prefix),
     .parse = s_parse_prefix,
     .expect = "a dotted topic prefix such as stats.monthly",
     .help = "only topics under this dotted prefix"},
};

const cliopt_spec cmd_topics_spec = {
    .description = "Lists the broker's feed topics: messages and envelope bytes retained, first "
                   "and last sequence, the oldest message's age, the retention from the policy, "
                   "and every durable subscription that reads the topic with how many of its "
                   "messages it has not acknowledged (lag).",
    .opts = s_topics_rows,
    .n_opts = CLIOPT_LEN(s_topics_rows),
};

int cmd_topics(int argc, char **argv)
{
    s_topics_opts o = {0};
    int rc = cliopt_parse(&cmd_topics_spec, argc, argv, &o, NULL);
    if (rc != CLI_OK)
        return s_exit(rc);
    wire_admin_request q = {.op = WIRE_ADMIN_TOPICS};
    if (o.prefix)
        snprintf(q.topic, sizeof q.topic, "%s", o.prefix);
    json_t *m = NULL;
    if ((rc = adminc_call(argv[0], &o.a, &q, &m)) != CLI_OK)
        return rc;
    if (o.a.json)
        return cli_json_print(m);
    json_t *topics = json_object_get(m, "topics"), *t, *sub;
    size_t i, k;
    printf("%-32s %8s %12s %10s %10s %-24s %s\n", "TOPIC", "MESSAGES", "BYTES", "FIRST", "LAST",
           "OLDEST", "SUBSCRIPTIONS");
    json_array_foreach(topics, i, t)
    {
        char when[32];
        json_t *subs = json_object_get(t, "subscriptions");
        printf("%-32s %8llu %12llu %10llu %10llu %-24s %zu\n", s_str(t, "topic"),
               (unsigned long long)s_u64(t, "messages"), (unsigned long long)s_u64(t, "size_bytes"),
               (unsigned long long)s_u64(t, "first_sequence"),
               (unsigned long long)s_u64(t, "last_sequence"),
               s_time(s_u64(t, "oldest_ms"), when, sizeof when), json_array_size(subs));
        json_array_foreach(subs, k, sub)
        {
            printf("    subscription %s/%s (prefix %s): lag %llu, %s\n", s_str(sub, "node_id"),
                   s_str(sub, "subscription"), s_str(sub, "topic_prefix"),
                   (unsigned long long)s_u64(sub, "lag"),
                   json_is_true(json_object_get(sub, "connected")) ? "connected" : "not connected");
        }
    }
    printf("(%zu shown of %llu %s)\n", json_array_size(topics),
           (unsigned long long)s_u64(m, "total"), cli_plural(s_u64(m, "total"), "topic", "topics"));
    json_decref(m);
    return s_done(CLI_OK);
}

/* ---- pending (four-eyes) ---- */

static const cliopt s_pending_list_rows[] = {ADMINC_ROWS(s_opts, a)};

static const cliopt_spec s_pending_list_spec = {
    .description = "Lists the destructive requests the broker holds for a second operator "
                   "(four-eyes, [admin] four_eyes): purge, dlq drop, and dlq replay of PERSONAL "
                   "messages. Each waits until another operator confirms it or it lapses.",
    .opts = s_pending_list_rows,
    .n_opts = CLIOPT_LEN(s_pending_list_rows),
};

static int s_pending_list(int argc, char **argv)
{
    s_opts o = {0};
    wire_admin_request q = {.op = WIRE_ADMIN_PENDING};
    json_t *m = NULL;
    int rc = s_request(&s_pending_list_spec, argc, argv, &q, &o, &m);
    if (rc != CLI_OK)
        return s_exit(rc);
    if (o.a.json)
        return cli_json_print(m);
    if (!json_is_true(json_object_get(m, "four_eyes")))
        printf("four-eyes is off on this broker: nothing is held\n");
    json_t *reqs = json_object_get(m, "requests"), *r;
    size_t i;
    printf("%-6s %-20s %-16s %-24s %s\n", "ID", "REQUEST", "OPERATOR", "EXPIRES", "SUMMARY");
    json_array_foreach(reqs, i, r)
    {
        char when[32];
        printf("%-6llu %-20s %-16s %-24s %s\n", (unsigned long long)s_u64(r, "id"),
               s_str(r, "request"), s_str(r, "operator"),
               s_time(s_u64(r, "expires_ms"), when, sizeof when), s_str(r, "summary"));
    }
    printf("(%zu waiting)\n", json_array_size(reqs));
    json_decref(m);
    return s_done(CLI_OK);
}

static const cliopt s_pending_change_rows[] = {ADMINC_ROWS(s_opts, a)};

static const cliopt_spec s_pending_confirm_spec = {
    .synopsis = "--config OPS.ini [options] ID",
    .description = "Confirms a request another operator made, which the broker held for "
                   "four-eyes (ID from `asylink pending list`, or from the answer to the "
                   "request): the broker executes it now and the result is printed. The "
                   "operator who asked cannot confirm it (POLICY); a lapsed request is EXPIRED.",
    .opts = s_pending_change_rows,
    .n_opts = CLIOPT_LEN(s_pending_change_rows),
    .operands = "ID",
    .min_operands = 1,
    .max_operands = 1,
};

static const cliopt_spec s_pending_cancel_spec = {
    .synopsis = "--config OPS.ini [options] ID",
    .description = "Withdraws a held request (any operator may, also the one who asked); it is "
                   "never executed.",
    .opts = s_pending_change_rows,
    .n_opts = CLIOPT_LEN(s_pending_change_rows),
    .operands = "ID",
    .min_operands = 1,
    .max_operands = 1,
};

/* Prints what a confirmed request did. */
static void s_confirmed_print(const json_t *m)
{
    const json_t *req = json_object_get(m, "request"), *x;
    printf("confirmed pending %llu (%s asked by %s)\n", (unsigned long long)s_u64(req, "id"),
           s_str(req, "request"), s_str(req, "operator"));
    if ((x = json_object_get(m, "purge")) != NULL)
        adminc_print_purged(x, "the message");
    else if ((x = json_object_get(m, "dead_letter_drop")) != NULL)
        s_dlq_result(x, false);
    else if ((x = json_object_get(m, "dead_letter_replay")) != NULL)
        s_dlq_result(x, true);
}

/* pending confirm (cancel false) and pending cancel. */
static int s_pending_change(int argc, char **argv, bool cancel)
{
    s_opts o = {0};
    cliopt_result res;
    const cliopt_spec *spec = cancel ? &s_pending_cancel_spec : &s_pending_confirm_spec;
    int rc = cliopt_parse(spec, argc, argv, &o, &res);
    if (rc != CLI_OK)
        return s_exit(rc);
    wire_admin_request q = {.op = WIRE_ADMIN_CONFIRM, .flag = cancel};
    if (cli_parse_u64(argv[res.first_operand], 1, UINT64_MAX, &q.seq_from) != 0)
        return cli_usage(argv[0], "invalid ID '%s' (a number from `asylink pending list`)",
                         argv[res.first_operand]);
    json_t *m = NULL;
    if ((rc = adminc_call(argv[0], &o.a, &q, &m)) != CLI_OK)
        return rc;
    if (o.a.json)
        return cli_json_print(m);
    if (cancel) {
        const json_t *req = json_object_get(m, "request");
        printf("cancelled pending %llu (%s asked by %s)\n", (unsigned long long)s_u64(req, "id"),
               s_str(req, "request"), s_str(req, "operator"));
    } else {
        s_confirmed_print(m);
    }
    json_decref(m);
    return s_done(CLI_OK);
}

static int s_pending_confirm(int argc, char **argv)
{
    return s_pending_change(argc, argv, false);
}

static int s_pending_cancel(int argc, char **argv)
{
    return s_pending_change(argc, argv, true);
}

const char cmd_pending_about[] =
    "Four-eyes: the destructive requests the broker holds until a second operator confirms "
    "them ([admin] four_eyes in broker.ini), through its admin endpoint.";

const cli_command cmd_pending_commands[] = {
    {"list", s_pending_list, "list the requests waiting for a second operator",
     &s_pending_list_spec, NULL, NULL},
    {"confirm", s_pending_confirm, "confirm (execute) another operator's held request",
     &s_pending_confirm_spec, NULL, NULL},
    {"cancel", s_pending_cancel, "withdraw a held request", &s_pending_cancel_spec, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};
