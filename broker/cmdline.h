/*
 * cmdline.h — asylinkd's command line, declared once: its options as a
 * table (name, short letter, value, help) with the texts around them
 * (synopsis, description, signals, files, exit status). The table drives
 * getopt_long and --help here, and the manual page asylinkd(8), which
 * docgen/ generates from it at build time, so the page cannot drift from
 * what the program accepts. The configuration file's keys are another
 * table (broker_config.h).
 *
 * Threading: parsing uses getopt_long (global state): call it once, from
 * main().
 */
#ifndef ASYLINK_BROKER_CMDLINE_H
#define ASYLINK_BROKER_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* What a command line asks for. */
typedef enum broker_cmdline_action {
    BROKER_CMDLINE_RUN = 0,       /* run the broker (--config FILE) */
    BROKER_CMDLINE_CHECK,         /* --check-config: load everything, then exit */
    BROKER_CMDLINE_PRINT_EXAMPLE, /* --print-example-config */
    BROKER_CMDLINE_VERSION,       /* --version */
    BROKER_CMDLINE_HELP,          /* --help */
} broker_cmdline_action;

/* The parsed command line; strings borrowed from argv. */
typedef struct broker_cmdline {
    broker_cmdline_action action;
    const char *config; /* --config FILE, or NULL */
    bool standby;       /* --standby: wait for a data_dir another asylinkd holds */
} broker_cmdline;

/* One option of asylinkd. */
typedef struct broker_cmdline_option {
    const char *name;    /* long name without "--" */
    char short_name;     /* the one-letter form, or 0 */
    const char *metavar; /* the value's name ("FILE"), NULL for a flag */
    const char *help;    /* one line for --help */
    const char *detail;  /* what the manual page adds, or NULL */
} broker_cmdline_option;

/* The options, in the order --help and the manual page list them. */
extern const broker_cmdline_option broker_cmdline_options[];
extern const size_t broker_cmdline_options_len;

/* Usage forms after "asylinkd", one per line. */
extern const char broker_cmdline_synopsis[];
/* What asylinkd is and does (paragraphs separated by a blank line). */
extern const char broker_cmdline_description[];
/* Signals, one per line "SIGNAL<TAB>effect". */
extern const char broker_cmdline_signals[];
/* Exit codes, one per line "CODE<TAB>meaning". */
extern const char broker_cmdline_exit_status[];

/*
 * Parses argv into *out (zeroed first). Errors (an unknown option, a
 * missing --config, an operand) are printed to stderr with a hint to run
 * --help. Returns 0 on success, else the exit code 2.
 */
int broker_cmdline_parse(int argc, char **argv, broker_cmdline *out);

/* Writes --help (usage, description, options, signals) to out. */
void broker_cmdline_usage(FILE *out);

#endif
