/*
 * adminc.h — the operator side of the broker's admin endpoint, shared by
 * `asylink nodes`, `queues`, `dlq` and `reload`: reading the operator's
 * node configuration, the CURVE connection, one request and its answer.
 *
 * The configuration is a node configuration file ([node]: broker_cert,
 * node_cert, key_file, key_passphrase_file, trust_dir; the other client
 * keys are accepted and ignored) with an optional admin_endpoint
 * (default ADMINC_DEFAULT_ENDPOINT); --admin overrides it.
 *
 * Threading: as cli.h, single-threaded.
 */
#ifndef ASYLINK_TOOLS_ADMINC_H
#define ASYLINK_TOOLS_ADMINC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

#define ADMINC_DEFAULT_ENDPOINT "tcp://127.0.0.1:7401"

/* The options every admin command takes. */
typedef struct adminc_opts {
    const char *config;    /* --config (required) */
    const char *endpoint;  /* --admin, NULL = from the config */
    int timeout_ms;        /* --timeout */
    bool json;             /* --json */
} adminc_opts;

/* Help lines of those options, for each command's usage text. */
#define ADMINC_USAGE_OPTIONS                                                              \
    "  --config FILE          the operator's node configuration (required)\n"             \
    "  --admin ENDPOINT       the broker's admin endpoint (default: admin_endpoint\n"     \
    "                         of the configuration, else " ADMINC_DEFAULT_ENDPOINT ")\n"  \
    "  --timeout SECONDS      give up after this long (default 10)\n"                     \
    "  --json                 print the broker's answer as JSON\n"                        \
    "  -h, --help             show this help\n"

/* getopt_long values of those options; commands number their own from ADMINC_OPT_END. */
enum { ADMINC_OPT_CONFIG = 256, ADMINC_OPT_ADMIN, ADMINC_OPT_TIMEOUT, ADMINC_OPT_JSON,
       ADMINC_OPT_END };

#define ADMINC_LONG_OPTIONS                                              \
    {"config", required_argument, NULL, ADMINC_OPT_CONFIG},              \
    {"admin", required_argument, NULL, ADMINC_OPT_ADMIN},                \
    {"timeout", required_argument, NULL, ADMINC_OPT_TIMEOUT},            \
    {"json", no_argument, NULL, ADMINC_OPT_JSON},                        \
    {"help", no_argument, NULL, 'h'}

/*
 * Applies one of the common options (optarg as getopt_long left it).
 * Returns CLI_OK, CLI_USAGE (message printed), or -2 when opt is not one
 * of them.
 */
int adminc_option(int opt, const char *prog, adminc_opts *o);

/* CLI_OK if the required options are there, else a usage error. */
int adminc_check(const char *prog, const adminc_opts *o);

/*
 * Sends one request to the broker and waits for the answer. On success
 * *member is the answer's member object (e.g. the AdminNodesResponse for
 * a nodes request) in pbjson's form (a new reference). Prints its own
 * errors (context = prog): the broker's Error, a timeout, configuration
 * or key problems. Returns CLI_OK or CLI_FAIL.
 */
int adminc_call(const char *prog, const adminc_opts *o, const wire_admin_request *q,
                json_t **member);

#endif
