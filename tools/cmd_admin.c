/*
 * cmd_admin.c — the operator commands that use the broker's admin endpoint
 * (adminc.h): `asylink nodes`, `asylink queues`, `asylink dlq list|replay|drop`
 * and `asylink reload`. Human tables by default, the broker's answer as
 * JSON with --json.
 */
#include "adminc.h"
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "commands.h"
#include "node.h"

#include <getopt.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A command's own option: applies opt, or returns -2 when it is not one. */
typedef int (*s_apply_fn)(int opt, const char *prog, void *ctx);

/* Parses the common and the command's own options; *first is the first operand. */
static int s_parse(int argc, char **argv, const char *usage, const struct option *longs,
                   adminc_opts *o, s_apply_fn own, void *ctx, int *first)
{
    const char *prog = argv[0];
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        int rc = adminc_option(opt, prog, o);
        if (rc == -2 && own)
            rc = own(opt, prog, ctx);
        if (rc == -2)
            rc = cli_getopt_common(opt, prog, usage);
        if (rc != CLI_OK)
            return rc;
    }
    *first = optind;
    return adminc_check(prog, o);
}

/* The exit code of a parse that stopped (CLI_DONE: help printed). */
static int s_exit(int rc)
{
    return rc == CLI_DONE ? CLI_OK : rc;
}

/*
 * Parses a command that takes no positional argument and sends its request:
 * CLI_OK with *m the answer (caller releases), CLI_DONE after --help, or
 * the exit code of a usage error or failed call.
 */
static int s_request(int argc, char **argv, const char *usage, const struct option *longs,
                     s_apply_fn own, wire_admin_request *q, adminc_opts *o, json_t **m)
{
    int first, rc = s_parse(argc, argv, usage, longs, o, own, q, &first);
    if (rc != CLI_OK)
        return rc;
    if (first < argc)
        return cli_usage(argv[0], "unexpected argument '%s'", argv[first]);
    return adminc_call(argv[0], o, q, m);
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

static const char s_nodes_usage[] =
    "Usage: asylink nodes --config OPS.ini [options]\n"
    "\n"
    "Lists the federation's nodes as the broker sees them: certificate, roles,\n"
    "session, queue and subscriptions. Asks the broker's admin endpoint, which\n"
    "admits only operator certificates.\n"
    "\n"
    "  --connected            only nodes with an open session\n" ADMINC_USAGE_OPTIONS;

enum { OPT_CONNECTED = ADMINC_OPT_END, OPT_NODE, OPT_NON_EMPTY, OPT_LIMIT, OPT_OFFSET, OPT_ALL,
       OPT_TRUST, OPT_POLICY };

static int s_nodes_apply(int opt, const char *prog, void *ctx)
{
    (void)prog;
    if (opt != OPT_CONNECTED)
        return -2;
    ((wire_admin_request *)ctx)->flag = true;
    return CLI_OK;
}

/* "member_state,operator" from a roles array of "ROLE_X" names. */
static void s_roles(const json_t *roles, char *buf, size_t len)
{
    size_t i, used = 0;
    json_t *r;
    buf[0] = 0;
    json_array_foreach(roles, i, r) {
        const char *s = json_string_value(r);
        s = s && strncmp(s, "ROLE_", 5) == 0 ? s + 5 : (s ? s : "?");
        int n = snprintf(buf + used, len - used, "%s", used ? "," : "");
        for (const char *p = s; n >= 0 && used + (size_t)n + 1 < len && *p; p++)
            buf[used + (size_t)n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        used += n > 0 ? (size_t)n : 0;
        buf[used] = 0;
    }
}

int cmd_nodes(int argc, char **argv)
{
    static const struct option longs[] = {
        ADMINC_LONG_OPTIONS, {"connected", no_argument, NULL, OPT_CONNECTED}, {NULL, 0, NULL, 0}};
    adminc_opts o = {.timeout_ms = 10000};
    wire_admin_request q = {.op = WIRE_ADMIN_NODES};
    json_t *m = NULL;
    int rc = s_request(argc, argv, s_nodes_usage, longs, s_nodes_apply, &q, &o, &m);
    if (rc != CLI_OK)
        return s_exit(rc);
    if (o.json)
        return cli_json_print(m);
    json_t *nodes = json_object_get(m, "nodes"), *n;
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

static const char s_queues_usage[] =
    "Usage: asylink queues --config OPS.ini [options]\n"
    "\n"
    "Lists the direct queue of every node: messages waiting, bytes, age of\n"
    "the oldest, deliveries in flight, dead letters.\n"
    "\n"
    "  --node NODE_ID         only this node's queue\n"
    "  --non-empty            skip empty queues\n" ADMINC_USAGE_OPTIONS;

static int s_queues_apply(int opt, const char *prog, void *ctx)
{
    wire_admin_request *q = ctx;
    switch (opt) {
    case OPT_NODE:
        if (!node_id_valid(optarg))
            return cli_usage(prog, "invalid node id '%s'", optarg);
        snprintf(q->node_id, sizeof q->node_id, "%s", optarg);
        return CLI_OK;
    case OPT_NON_EMPTY: q->flag = true; return CLI_OK;
    default: return -2;
    }
}

int cmd_queues(int argc, char **argv)
{
    static const struct option longs[] = {ADMINC_LONG_OPTIONS,
                                          {"node", required_argument, NULL, OPT_NODE},
                                          {"non-empty", no_argument, NULL, OPT_NON_EMPTY},
                                          {NULL, 0, NULL, 0}};
    adminc_opts o = {.timeout_ms = 10000};
    wire_admin_request q = {.op = WIRE_ADMIN_QUEUES};
    json_t *m = NULL;
    int rc = s_request(argc, argv, s_queues_usage, longs, s_queues_apply, &q, &o, &m);
    if (rc != CLI_OK)
        return s_exit(rc);
    if (o.json)
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

static const char s_dlq_list_usage[] =
    "Usage: asylink dlq list --config OPS.ini [options]\n"
    "\n"
    "Lists dead letters, newest first (metadata only, never payloads). The ID\n"
    "column is what `dlq replay` and `dlq drop` take.\n"
    "\n"
    "  --node NODE_ID         only dead letters for this recipient\n"
    "  --limit N              at most N entries (1..1000, default 100)\n"
    "  --offset N             skip the N newest entries first\n" ADMINC_USAGE_OPTIONS;

static int s_dlq_list_apply(int opt, const char *prog, void *ctx)
{
    wire_admin_request *q = ctx;
    uint64_t v;
    switch (opt) {
    case OPT_LIMIT:
        if (cli_parse_u64(optarg, 1, 1000, &v) != 0)
            return cli_usage(prog, "invalid --limit '%s' (1..1000)", optarg);
        q->limit = (uint32_t)v;
        return CLI_OK;
    case OPT_OFFSET:
        if (cli_parse_u64(optarg, 0, 99999, &v) != 0)
            return cli_usage(prog, "invalid --offset '%s' (0..99999)", optarg);
        q->offset = v;
        return CLI_OK;
    default: return s_queues_apply(opt == OPT_NODE ? opt : -1, prog, ctx);
    }
}

/* A base64 message id as a UUID, or "-". */
static const char *s_uuid(const char *b64, char buf[37])
{
    uint8_t id[16];
    size_t n = 0;
    if (!b64 || sodium_base642bin(id, sizeof id, b64, strlen(b64), NULL, &n, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) != 0 || n != 16)
        return "-";
    return node_id_str(id, buf);
}

static int s_dlq_list(int argc, char **argv)
{
    static const struct option longs[] = {ADMINC_LONG_OPTIONS,
                                          {"node", required_argument, NULL, OPT_NODE},
                                          {"limit", required_argument, NULL, OPT_LIMIT},
                                          {"offset", required_argument, NULL, OPT_OFFSET},
                                          {NULL, 0, NULL, 0}};
    adminc_opts o = {.timeout_ms = 10000};
    wire_admin_request q = {.op = WIRE_ADMIN_DEAD_LETTERS};
    json_t *m = NULL;
    int rc = s_request(argc, argv, s_dlq_list_usage, longs, s_dlq_list_apply, &q, &o, &m);
    if (rc != CLI_OK)
        return s_exit(rc);
    if (o.json)
        return cli_json_print(m);
    json_t *entries = json_object_get(m, "entries"), *e;
    size_t i;
    printf("%-8s %-36s %-16s %-16s %-24s %8s %-16s %s\n", "ID", "MESSAGE ID", "SENDER",
           "RECIPIENT", "DEAD-LETTERED", "ATTEMPTS", "CODE", "REASON");
    json_array_foreach(entries, i, e) {
        char uuid[37], when[32];
        printf("%-8llu %-36s %-16s %-16s %-24s %8llu %-16s %s\n",
               (unsigned long long)s_u64(e, "id"),
               s_uuid(json_string_value(json_object_get(e, "message_id")), uuid),
               s_str(e, "sender"), s_str(e, "recipient"),
               s_time(s_u64(e, "dead_lettered_ms"), when, sizeof when),
               (unsigned long long)s_u64(e, "attempts"), s_enum(e, "code", "ERROR_CODE_"),
               s_str(e, "reason"));
    }
    printf("(%zu shown of %llu dead letters)\n", json_array_size(entries),
           (unsigned long long)s_u64(m, "total"));
    json_decref(m);
    return s_done(CLI_OK);
}

static const char s_dlq_replay_usage[] =
    "Usage: asylink dlq replay --config OPS.ini [options] ID...\n"
    "       asylink dlq replay --config OPS.ini [options] --all --node NODE_ID\n"
    "\n"
    "Puts dead letters back into their recipient's queue for a fresh round of\n"
    "delivery attempts. An ID (from `dlq list`) names a message; without --node\n"
    "it is replayed for every recipient it was dead-lettered for. Messages whose\n"
    "expiry has passed are not replayed.\n"
    "\n"
    "  --node NODE_ID         only this recipient's dead letters\n"
    "  --all                  every dead letter of --node (no IDs)\n" ADMINC_USAGE_OPTIONS;

static const char s_dlq_drop_usage[] =
    "Usage: asylink dlq drop --config OPS.ini [options] ID...\n"
    "       asylink dlq drop --config OPS.ini [options] --all --node NODE_ID\n"
    "\n"
    "Deletes dead letters for good. An ID (from `dlq list`) names a message;\n"
    "without --node it is dropped for every recipient it was dead-lettered for.\n"
    "\n"
    "  --node NODE_ID         only this recipient's dead letters\n"
    "  --all                  every dead letter of --node (no IDs)\n" ADMINC_USAGE_OPTIONS;

static int s_dlq_change_apply(int opt, const char *prog, void *ctx)
{
    if (opt == OPT_ALL) {
        ((wire_admin_request *)ctx)->flag = true;
        return CLI_OK;
    }
    return s_queues_apply(opt == OPT_NODE ? opt : -1, prog, ctx);
}

/* dlq replay and dlq drop. */
static int s_dlq_change(int argc, char **argv, bool replay)
{
    static const struct option longs[] = {ADMINC_LONG_OPTIONS,
                                          {"node", required_argument, NULL, OPT_NODE},
                                          {"all", no_argument, NULL, OPT_ALL},
                                          {NULL, 0, NULL, 0}};
    const char *usage = replay ? s_dlq_replay_usage : s_dlq_drop_usage;
    adminc_opts o = {.timeout_ms = 10000};
    wire_admin_request q = {.op = replay ? WIRE_ADMIN_DEAD_LETTER_REPLAY
                                         : WIRE_ADMIN_DEAD_LETTER_DROP};
    int first, rc = s_parse(argc, argv, usage, longs, &o, s_dlq_change_apply, &q, &first);
    if (rc != CLI_OK)
        return s_exit(rc);
    const char *prog = argv[0];
    size_t n = (size_t)(argc - first);
    if (q.flag && (n || !q.node_id[0]))
        return cli_usage(prog, "--all takes --node NODE_ID and no IDs");
    if (!q.flag && n == 0)
        return cli_usage(prog, "give dead letter IDs, or --all --node NODE_ID");
    if (n > WIRE_ADMIN_MAX_IDS)
        return cli_usage(prog, "at most %d IDs at once", WIRE_ADMIN_MAX_IDS);
    uint64_t ids[WIRE_ADMIN_MAX_IDS];
    for (size_t i = 0; i < n; i++)
        if (cli_parse_u64(argv[first + (int)i], 1, UINT64_MAX, &ids[i]) != 0)
            return cli_usage(prog, "invalid ID '%s' (a number from `dlq list`)",
                             argv[first + (int)i]);
    q.ids = n ? ids : NULL;
    q.n_ids = n;
    json_t *m = NULL;
    if ((rc = adminc_call(prog, &o, &q, &m)) != CLI_OK)
        return rc;
    json_t *nf = json_object_get(m, "not_found");
    size_t n_nf = json_array_size(nf);
    if (o.json) {
        rc = cli_json_print(json_incref(m));
    } else {
        if (replay)
            printf("replayed %llu dead letters (%llu not replayed: expired)\n",
                   (unsigned long long)s_u64(m, "replayed"), (unsigned long long)s_u64(m, "expired"));
        else
            printf("dropped %llu dead letters\n", (unsigned long long)s_u64(m, "dropped"));
        rc = s_done(CLI_OK);
    }
    for (size_t i = 0; i < n_nf; i++)
        rc = cli_fail_text(prog, ASYLINK_E_NOT_FOUND, "no dead letter with ID %lld%s%s",
                           (long long)json_integer_value(json_array_get(nf, i)),
                           q.node_id[0] ? " for " : "", q.node_id);
    json_decref(m);
    return rc;
}

static int s_dlq_replay(int argc, char **argv)
{
    return s_dlq_change(argc, argv, true);
}

static int s_dlq_drop(int argc, char **argv)
{
    return s_dlq_change(argc, argv, false);
}

int cmd_dlq(int argc, char **argv)
{
    static const cli_command table[] = {
        {"list", s_dlq_list, "list dead letters, newest first"},
        {"replay", s_dlq_replay, "put dead letters back into their queue"},
        {"drop", s_dlq_drop, "delete dead letters for good"},
    };
    return cli_dispatch(argc, argv, table, sizeof table / sizeof table[0],
                        "The broker's dead letter queue, through its admin endpoint "
                        "(operator certificates only).");
}

/* ---- reload ---- */

static const char s_reload_usage[] =
    "Usage: asylink reload --config OPS.ini [options]\n"
    "\n"
    "Makes the broker reload its trust directory (CA, node certificates,\n"
    "revocation list) and policy, as SIGHUP does. On failure the broker keeps\n"
    "what it had and the reason is printed. Sessions whose certificate is no\n"
    "longer usable are closed.\n"
    "\n" ADMINC_USAGE_OPTIONS;

int cmd_reload(int argc, char **argv)
{
    static const struct option longs[] = {ADMINC_LONG_OPTIONS, {NULL, 0, NULL, 0}};
    adminc_opts o = {.timeout_ms = 10000};
    wire_admin_request q = {.op = WIRE_ADMIN_RELOAD, .trust = true, .policy = true};
    json_t *m = NULL;
    int rc = s_request(argc, argv, s_reload_usage, longs, NULL, &q, &o, &m);
    if (rc != CLI_OK)
        return s_exit(rc);
    if (o.json)
        return cli_json_print(m);
    printf("reloaded: %llu nodes, revocation list %llu (%llu revoked), %llu sessions closed\n",
           (unsigned long long)s_u64(m, "nodes"), (unsigned long long)s_u64(m, "crl_number"),
           (unsigned long long)s_u64(m, "revoked"),
           (unsigned long long)s_u64(m, "sessions_dropped"));
    printf("policy digest: %s\n", s_str(m, "policy_digest_hex"));
    json_decref(m);
    return s_done(CLI_OK);
}
