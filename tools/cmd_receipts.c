/*
 * cmd_receipts.c — `asylink receipts`: the signed receipts a node holds for
 * a message it sent. Lists them (optionally waiting until every recipient
 * has answered), exports one recipient's signed receipt envelope as
 * evidence, or verifies such evidence against the node's trust directory
 * and outbox.
 */
#include "asylink/asylink.h"
#include "cli.h"
#include "clock.h"
#include "commands.h"
#include "file.h"
#include "node.h"
#include "uuid.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECEIPTS_MAX 256        /* recipients of one message */
#define EVIDENCE_MAX (1u << 20) /* a receipt envelope of 1,000 receipts is ~200 KiB */

static const char s_usage[] =
    "Usage: asylink receipts --config NODE.ini --id UUID [--wait SECONDS] [--json-output]\n"
    "       asylink receipts --config NODE.ini --id UUID --export RECIPIENT --out FILE\n"
    "       asylink receipts --config NODE.ini --verify FILE [--id UUID] [--json-output]\n"
    "\n"
    "The signed receipts this node holds for a message it sent: proof that\n"
    "each recipient's application took the exact envelope that was sent.\n"
    "\n"
    "  --config FILE          the node's configuration ([node] section)\n"
    "  --id UUID              the message id (as printed by asylink send)\n"
    "  --wait SECONDS         first wait until every recipient has sent its receipt\n"
    "  --export RECIPIENT     write RECIPIENT's signed receipt envelope to --out\n"
    "  --out FILE             the evidence file to write (mode 0600, not overwritten)\n"
    "  --verify FILE          check evidence: signed by a trusted recipient, addressed\n"
    "                         to this node, quoting the digest of a message it sent\n"
    "                         (with --id: of that message; without, the first\n"
    "                         receipt in the file is shown)\n"
    "  --json-output          print the result as JSON\n"
    "  -h, --help             show this help\n"
    "\n"
    "Exit status: 0 listed / exported / verified (with --wait: every recipient\n"
    "answered), 1 failed, not found, timed out or not valid evidence, 2 usage.\n";

typedef struct {
    const char *config;  /* --config */
    const char *id_text; /* --id */
    uint8_t id[16];
    uint64_t wait_ms;      /* --wait, 0 = do not wait */
    const char *export_to; /* --export */
    const char *out;       /* --out */
    const char *verify;    /* --verify */
    bool json;             /* --json-output */
} s_opts;

enum { OPT_CONFIG = 256, OPT_ID, OPT_WAIT, OPT_EXPORT, OPT_OUT, OPT_VERIFY, OPT_JSON_OUT };

static const struct option s_long[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"id", required_argument, NULL, OPT_ID},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"export", required_argument, NULL, OPT_EXPORT},
    {"out", required_argument, NULL, OPT_OUT},
    {"verify", required_argument, NULL, OPT_VERIFY},
    {"json-output", no_argument, NULL, OPT_JSON_OUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int s_apply(int opt, const char *prog, s_opts *o)
{
    uint64_t secs;
    switch (opt) {
    case OPT_CONFIG: o->config = optarg; break;
    case OPT_ID:
        if (uuid_parse(optarg, o->id) != ASYLINK_OK)
            return cli_usage(prog, "invalid --id '%s' (a UUID as printed by asylink send)", optarg);
        o->id_text = optarg;
        break;
    case OPT_WAIT:
        if (cli_parse_u64(optarg, 1, 86400, &secs) != 0)
            return cli_usage(prog, "invalid --wait '%s' (1..86400 seconds)", optarg);
        o->wait_ms = secs * 1000u;
        break;
    case OPT_EXPORT: o->export_to = optarg; break;
    case OPT_OUT: o->out = optarg; break;
    case OPT_VERIFY: o->verify = optarg; break;
    case OPT_JSON_OUT: o->json = true; break;
    default: return cli_getopt_common(opt, prog, s_usage);
    }
    return CLI_OK;
}

static int s_parse(int argc, char **argv, s_opts *o)
{
    const char *prog = argv[0];
    int opt, rc;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", s_long, NULL)) != -1)
        if ((rc = s_apply(opt, prog, o)) != CLI_OK)
            return rc;
    if (optind < argc)
        return cli_usage(prog, "unexpected argument '%s'", argv[optind]);
    if (!o->config)
        return cli_usage(prog, "--config is required");
    if (o->verify && (o->export_to || o->out || o->wait_ms))
        return cli_usage(prog, "--verify does not go with --export, --out or --wait");
    if (!o->verify && !o->id_text)
        return cli_usage(prog, "--id is required (or --verify FILE)");
    if (!o->export_to != !o->out)
        return cli_usage(prog, "--export and --out go together");
    if (o->export_to && o->wait_ms)
        return cli_usage(prog, "--wait is for listing; export once the receipt is in");
    if (o->export_to && !node_id_valid(o->export_to))
        return cli_usage(prog, "invalid --export '%s' (a node id)", o->export_to);
    return CLI_OK;
}

/* A receipt status as a word. */
static const char *s_status_name(int status)
{
    switch (status) {
    case ASYLINK_RECEIPT_DELIVERED: return "delivered";
    case ASYLINK_RECEIPT_REJECTED: return "rejected";
    default: return "unknown";
    }
}

static json_t *s_receipt_json(const asylink_receipt_info *r)
{
    char when[40], digest[129];
    for (size_t i = 0; i < 64; i++)
        snprintf(digest + 2 * i, 3, "%02x", r->envelope_digest[i]);
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "recipient", r->recipient, "status",
                     s_status_name(r->status), "acked_ms", (json_int_t)r->acked_ms, "acked",
                     clock_format_iso(r->acked_ms, when, sizeof when), "envelope_digest", digest);
}

static void s_receipt_print(const asylink_receipt_info *r)
{
    char when[40];
    printf("%-12s %-9s %s\n", r->recipient, s_status_name(r->status),
           clock_format_iso(r->acked_ms, when, sizeof when));
}

/* Lists the receipts of o->id (after waiting for all of them with --wait). */
static int s_list(const s_opts *o, asylink_client *c)
{
    int wait_rc = ASYLINK_OK;
    if (o->wait_ms)
        wait_rc = asylink_receipt_wait(c, o->id, (int)o->wait_ms);
    if (wait_rc != ASYLINK_OK && wait_rc != ASYLINK_E_TIMEOUT)
        return cli_fail("receipts", wait_rc);
    asylink_receipt_info *r = calloc(RECEIPTS_MAX, sizeof *r);
    size_t n = 0;
    int rc = r ? asylink_receipts(c, o->id, r, RECEIPTS_MAX, &n) : ASYLINK_E_NOMEM;
    if (rc != ASYLINK_OK) {
        free(r);
        return cli_fail_text("receipts", rc, "%s: %s", o->id_text,
                             rc == ASYLINK_E_NOT_FOUND ? "not a message this node sent"
                                                       : asylink_strerror(rc));
    }
    n = n > RECEIPTS_MAX ? RECEIPTS_MAX : n;
    if (o->json) {
        json_t *list = json_array();
        for (size_t i = 0; list && i < n; i++)
            json_array_append_new(list, s_receipt_json(&r[i]));
        rc = cli_json_print(json_pack("{s:s, s:b, s:o}", "message_id", o->id_text, "complete",
                                      wait_rc == ASYLINK_OK, "receipts", list));
    } else {
        printf("%s: %zu receipt%s\n", o->id_text, n, n == 1 ? "" : "s");
        for (size_t i = 0; i < n; i++)
            s_receipt_print(&r[i]);
        fflush(stdout);
        rc = CLI_OK;
    }
    free(r);
    if (wait_rc == ASYLINK_E_TIMEOUT)
        return cli_fail_text("receipts", ASYLINK_E_TIMEOUT,
                             "not every recipient has sent its receipt yet");
    return rc;
}

static int s_export(const s_opts *o, asylink_client *c)
{
    uint8_t *env = NULL;
    size_t len = 0;
    int rc = asylink_receipt_export(c, o->id, o->export_to, &env, &len);
    if (rc == ASYLINK_E_NOT_FOUND)
        return cli_fail_text("receipts", rc, "no receipt from %s for %s", o->export_to, o->id_text);
    if (rc != ASYLINK_OK)
        return cli_fail("receipts", rc);
    rc = file_write_atomic(o->out, env, len, 0600, 1);
    asylink_free(env);
    if (rc == ASYLINK_E_EXISTS)
        return cli_fail_text("receipts", rc, "%s exists: not overwritten", o->out);
    if (rc != ASYLINK_OK)
        return cli_fail_text("receipts", rc, "cannot write %s", o->out);
    if (o->json)
        return cli_json_print(json_pack("{s:s, s:s, s:s, s:I}", "message_id", o->id_text,
                                        "recipient", o->export_to, "file", o->out, "bytes",
                                        (json_int_t)len));
    printf("%s: receipt of %s written to %s (%zu bytes)\n", o->id_text, o->export_to, o->out, len);
    return CLI_OK;
}

static int s_verify(const s_opts *o, asylink_client *c)
{
    uint8_t *env = NULL;
    size_t len = 0;
    int rc = file_read(o->verify, EVIDENCE_MAX, &env, &len);
    if (rc != ASYLINK_OK)
        return cli_fail_text("receipts", rc, "cannot read %s", o->verify);
    asylink_receipt_info info;
    rc = asylink_receipt_verify(c, env, len, o->id_text ? o->id : NULL, &info);
    free(env);
    if (rc != ASYLINK_OK)
        return cli_fail_text("receipts", rc, "%s is not valid evidence%s%s: %s", o->verify,
                             o->id_text ? " for " : "", o->id_text ? o->id_text : "",
                             asylink_strerror(rc));
    if (o->json) {
        json_t *v = s_receipt_json(&info);
        if (v)
            json_object_set_new(v, "valid", json_true());
        return cli_json_print(v);
    }
    printf("valid receipt: ");
    s_receipt_print(&info);
    return CLI_OK;
}

int cmd_receipts(int argc, char **argv)
{
    s_opts o = {0};
    int rc = s_parse(argc, argv, &o);
    if (rc != CLI_OK)
        return rc == CLI_DONE ? CLI_OK : rc;
    asylink_client *c = NULL;
    if (node_open("receipts", o.config, &c) != CLI_OK)
        return CLI_FAIL;
    if (o.verify)
        rc = s_verify(&o, c);
    else if (o.export_to)
        rc = s_export(&o, c);
    else
        rc = s_list(&o, c);
    asylink_client_close(&c);
    return rc;
}
