/*
 * cmdline.c — asylinkd's options table, its parser and --help
 * (cmdline.h). docgen/ makes the manual page asylinkd(8) from the same
 * table and texts.
 */
#include "cmdline.h"

#include <getopt.h>
#include <stdbool.h>
#include <string.h>

/* Widest "-c, --config FILE" column of --help. */
#define S_HELP_COLUMN 28

const broker_cmdline_option broker_cmdline_options[] = {
    {"config", 'c', "FILE", "the broker configuration (asylinkd.ini(5))",
     "The broker's configuration file; required except with --print-example-config, "
     "--version and --help."},
    {"standby", 0, NULL, "if another asylinkd holds data_dir, take over when it stops",
     "If another asylinkd holds the data directory (an active/standby pair on shared storage), "
     "wait for its lock instead of failing, answering /healthz as standby meanwhile, and take "
     "over when it stops: trust and policy are reloaded, then the broker serves. Without another "
     "holder it simply runs. A standby never creates a store: with no data.mdb in the data "
     "directory it logs an error and stands by until an asylinkd serves one there (/healthz "
     "standby-no-store). Its endpoints must be free at start (else it exits 1); one another "
     "process took meanwhile is retried every second after the takeover (/healthz "
     "endpoint-busy). [broker] standby = true does the same (OPERATIONS.md section 9)."},
    {"check-config", 0, NULL, "load config, keys, trust and policy; then exit",
     "Loads and checks the configuration, the broker's secret key and certificate (they must "
     "match each other and node_id; the certificate must be issued by the trusted CA, valid, "
     "not revoked and carry the role broker), the trust directory and the policy; prints "
     "\"asylinkd: configuration OK (...)\" and exits. Run it before every restart or reload."},
    {"print-example-config", 0, NULL, "print an example configuration and exit",
     "Writes an example configuration generated from the option table: every key with its "
     "help, type, range and default; required keys appear as \"key =\", the others commented "
     "out with their default."},
    {"version", 'V', NULL, "print the version and exit", NULL},
    {"help", 'h', NULL, "this help", NULL},
};
const size_t broker_cmdline_options_len =
    sizeof broker_cmdline_options / sizeof broker_cmdline_options[0];

const char broker_cmdline_synopsis[] = "--config FILE [--standby | --check-config]\n"
                                       "--print-example-config | --version | --help";

const char broker_cmdline_description[] =
    "asylinkd is the asylink broker: it admits nodes by certificate (CURVE), checks every "
    "signed envelope, stores it durably (LMDB, fsync before Accepted) and delivers it to every "
    "recipient until each acknowledges it.\n\n"
    "When ready it prints on stdout the HTTP and admin addresses it bound (\"http on\", "
    "\"admin on\") and last \"asylinkd VERSION listening on ENDPOINT\", the line that means "
    "ready; everything else goes to stderr as logfmt lines, one event per line, never with "
    "payloads, keys or personal data.";

const char broker_cmdline_signals[] =
    "SIGHUP\treloads the trust directory, the revocation list and the policy, all or nothing "
    "(a revocation list older than the newest this broker has used is replaced by that one, "
    "kept in the data directory, with a warning, or refused if that copy does not verify); "
    "sessions of nodes no longer trusted are closed. "
    "\"systemctl reload asylinkd\" sends it.\n"
    "SIGTERM, SIGINT\tdrain and exit 0: the Publishes already read are answered, every session "
    "gets Bye, the store is closed.\n"
    "SIGPIPE\tignored.";

const char broker_cmdline_exit_status[] = "0\tclean stop, or a successful --check-config\n"
                                          "1\truntime failure (the store cannot be opened, an "
                                          "endpoint cannot be bound)\n"
                                          "2\tusage or configuration error";

/* getopt_long's array and short string from the table. */
static void s_getopt_tables(struct option *longs, char *shorts, size_t shorts_len)
{
    size_t ns = 0;
    for (size_t i = 0; i < broker_cmdline_options_len; i++) {
        const broker_cmdline_option *o = &broker_cmdline_options[i];
        int val = o->short_name ? o->short_name : 256 + (int)i;
        longs[i] =
            (struct option){o->name, o->metavar ? required_argument : no_argument, NULL, val};
        if (o->short_name && ns + 3 < shorts_len) {
            shorts[ns++] = o->short_name;
            if (o->metavar)
                shorts[ns++] = ':';
        }
    }
    longs[broker_cmdline_options_len] = (struct option){NULL, 0, NULL, 0};
    shorts[ns] = '\0';
}

/* The row getopt_long returned val for, or NULL. */
static const broker_cmdline_option *s_row(int val)
{
    for (size_t i = 0; i < broker_cmdline_options_len; i++) {
        const broker_cmdline_option *o = &broker_cmdline_options[i];
        if (val == (o->short_name ? o->short_name : 256 + (int)i))
            return o;
    }
    return NULL;
}

/* Applies one option; 0, or -1 for an action given twice. */
static int s_apply(const broker_cmdline_option *o, const char *value, broker_cmdline *out)
{
    broker_cmdline_action action = BROKER_CMDLINE_RUN;
    if (strcmp(o->name, "config") == 0) {
        out->config = value;
        return 0;
    }
    if (strcmp(o->name, "standby") == 0) {
        out->standby = true;
        return 0;
    }
    if (strcmp(o->name, "check-config") == 0)
        action = BROKER_CMDLINE_CHECK;
    else if (strcmp(o->name, "print-example-config") == 0)
        action = BROKER_CMDLINE_PRINT_EXAMPLE;
    else if (strcmp(o->name, "version") == 0)
        action = BROKER_CMDLINE_VERSION;
    else if (strcmp(o->name, "help") == 0)
        action = BROKER_CMDLINE_HELP;
    if (out->action != BROKER_CMDLINE_RUN && out->action != action)
        return -1;
    out->action = action;
    return 0;
}

static int s_usage_error(const char *what)
{
    if (what)
        fprintf(stderr, "asylinkd: %s\n", what);
    fprintf(stderr, "see asylinkd --help\n");
    return 2;
}

int broker_cmdline_parse(int argc, char **argv, broker_cmdline *out)
{
    struct option longs[16];
    char shorts[32];
    memset(out, 0, sizeof *out);
    if (broker_cmdline_options_len + 1 > sizeof longs / sizeof longs[0])
        return s_usage_error("too many options in the table");
    s_getopt_tables(longs, shorts, sizeof shorts);
    optind = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        const broker_cmdline_option *o = s_row(ch);
        if (!o)
            return s_usage_error(NULL); /* getopt_long said what was wrong */
        if (s_apply(o, optarg, out) != 0)
            return s_usage_error("give one of --check-config, --print-example-config, "
                                 "--version and --help");
    }
    if (optind < argc)
        return s_usage_error("unexpected argument");
    bool needs_config = out->action == BROKER_CMDLINE_RUN || out->action == BROKER_CMDLINE_CHECK;
    if (needs_config && !out->config)
        return s_usage_error("--config FILE is required");
    if (out->standby && out->action != BROKER_CMDLINE_RUN)
        return s_usage_error("--standby goes with running the broker only");
    return 0;
}

/*
 * Writes text wrapped at 79 columns: lines start at column first (also
 * after a '\n' of the text), continuation lines at column indent.
 */
static void s_wrap(FILE *out, const char *text, int first, int indent)
{
    int col = fprintf(out, "%*s", first, "");
    bool line_start = true;
    for (const char *p = text; *p;) {
        if (*p == '\n') {
            col = fprintf(out, "\n%*s", first, "") - 1;
            line_start = true;
            p++;
            continue;
        }
        size_t word = strcspn(p, " \n");
        if (!line_start && col + 1 + (int)word > 79) {
            col = fprintf(out, "\n%*s", indent, "") - 1;
            line_start = true;
        }
        if (!line_start) {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, word, out);
        col += (int)word;
        line_start = false;
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

void broker_cmdline_usage(FILE *out)
{
    const char *p = broker_cmdline_synopsis;
    for (int first = 1; *p; first = 0) {
        size_t l = strcspn(p, "\n");
        fprintf(out, "%s asylinkd %.*s\n", first ? "usage:" : "      ", (int)l, p);
        p += l + (p[l] == '\n');
    }
    fputc('\n', out);
    s_wrap(out, broker_cmdline_description, 0, 0);
    fputc('\n', out);
    for (size_t i = 0; i < broker_cmdline_options_len; i++) {
        const broker_cmdline_option *o = &broker_cmdline_options[i];
        char left[64];
        snprintf(left, sizeof left, "  %c%c%s--%s%s%s", o->short_name ? '-' : ' ',
                 o->short_name ? o->short_name : ' ', o->short_name ? ", " : "  ", o->name,
                 o->metavar ? " " : "", o->metavar ? o->metavar : "");
        if ((int)strlen(left) + 1 > S_HELP_COLUMN)
            fprintf(out, "%s\n%*s%s\n", left, S_HELP_COLUMN, "", o->help);
        else
            fprintf(out, "%-*s%s\n", S_HELP_COLUMN, left, o->help);
    }
    fputs("\nSignals:\n", out);
    for (p = broker_cmdline_signals; *p;) {
        size_t l = strcspn(p, "\n"), tab = strcspn(p, "\t");
        char line[1024];
        snprintf(line, sizeof line, "%.*s: %.*s", (int)tab, p, (int)(l - tab - 1), p + tab + 1);
        s_wrap(out, line, 2, 4);
        p += l + (p[l] == '\n');
    }
}
