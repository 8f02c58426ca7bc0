/*
 * cliopt.h — the declarative option tables of the `asylink` commands.
 *
 * Like core/config.h for the INI files, a command declares its options
 * once, as rows of a table: name, kind (the value's syntax and storage),
 * metavariable, offsetof() of the field it fills in the command's own
 * options struct, range, default, help text and flags. With the command's
 * synopsis, description, operands, notes and the rules between its options
 * (a cliopt_spec), that one table drives getopt_long, the defaults,
 * value and range checks with their usage errors, required-option and
 * rule checks, `--help`, and the deprecation of old spellings; a manual
 * page can be generated from it (every text a page needs is in the spec).
 *
 * Words every command uses in one sense only (README "Command line"):
 *   --config FILE     a node configuration file ([node] section); for
 *                     `asylink status`, the broker's (its [http] listen)
 *   --json            print the result as JSON (never an input)
 *   --payload FILE|-  the message payload as JSON, converted to --type
 *   --file FILE       a payload file sent as it is
 *   --timeout SECONDS give up waiting for the broker (or server) after
 *                     SECONDS in all; whole seconds
 *   --wait SECONDS    first wait up to SECONDS for an outcome (accepted,
 *                     every receipt) and fail with TIMEOUT without it
 *   --idle SECONDS    stop after SECONDS without a new message
 *   --dir DIR         the directory the command writes or reads its files in
 *   --out FILE        the one file the command writes
 *
 * Old spellings stay for one release: a row flagged CLIOPT_DEPRECATED
 * with alias_of names the row it stands for; a FLAG row may say that, when
 * followed by a value, it is the old spelling of another row
 * (old_with_value: `--json FILE` of send and publish); a row taking a value
 * may say that, given without one, it is the old spelling of a hidden
 * FLAG row (old_without_value: send's bare `--wait`). Each use prints one
 * warning to stderr naming the new spelling.
 *
 * Threading: as cli.h, single-threaded (getopt_long has global state).
 */
#ifndef ASYLINK_TOOLS_CLIOPT_H
#define ASYLINK_TOOLS_CLIOPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What an option's value is, and the type of the field it fills. */
typedef enum cliopt_kind {
    CLIOPT_FLAG,     /* no value; bool, set to true */
    CLIOPT_STRING,   /* any text; const char *, borrowed from argv */
    CLIOPT_UINT,     /* decimal digits in [min, max]; uint64_t */
    CLIOPT_SECONDS,  /* whole seconds in [min, max]; uint64_t milliseconds */
    CLIOPT_DURATION, /* a number with unit s, m, h or d ("90s", "7d"), in [min, max]
                        seconds; uint64_t milliseconds */
    CLIOPT_TIME,     /* a UTC date "YYYY-MM-DD" or time "YYYY-MM-DDTHH:MM:SSZ"; uint64_t
                        Unix ms */
    CLIOPT_CHOICE,   /* one of choices (any case); int, 1 + its index (0 = not given) */
    CLIOPT_CUSTOM,   /* parse() decides; any type */
} cliopt_kind;

/* Row flags. */
enum {
    CLIOPT_REQUIRED = 1u << 0,   /* the command needs it */
    CLIOPT_DEPRECATED = 1u << 1, /* an old spelling of alias_of: accepted with a warning */
    CLIOPT_HIDDEN = 1u << 2,     /* not listed by --help (internal target of an old spelling) */
};

/* One option of a command. Tables are static const data of the command. */
typedef struct cliopt {
    const char *name;           /* long name without "--", e.g. "timeout" */
    cliopt_kind kind;           /* value syntax and field type */
    const char *metavar;        /* the value's name in help, e.g. "SECONDS"; NULL for FLAG */
    size_t offset;              /* offsetof() of the field in the command's options struct */
    uint64_t min, max;          /* range of UINT, SECONDS, DURATION (seconds); 0, 0 = any */
    const char *def;            /* default, parsed like input; NULL = none (field stays zero) */
    unsigned flags;             /* CLIOPT_REQUIRED, CLIOPT_DEPRECATED, CLIOPT_HIDDEN */
    const char *const *choices; /* CHOICE: the words, NULL-terminated */
    int (*parse)(const char *text, void *field); /* CUSTOM: 0, or -1 if text is invalid */
    const char *expect;            /* what a valid value looks like, for errors; NULL = by kind */
    const char *help;              /* one sentence (no "(default ...)": added from def) */
    const char *alias_of;          /* DEPRECATED: the row this old spelling stands for */
    const char *old_with_value;    /* FLAG: followed by a value, old spelling of this row */
    const char *old_without_value; /* valued: given bare, old spelling of this FLAG row */
} cliopt;

/* How the options of a command relate (checked after parsing). */
typedef enum cliopt_rule_kind {
    CLIOPT_EXACTLY_ONE,  /* exactly one of the named options */
    CLIOPT_AT_LEAST_ONE, /* one or more of them */
    CLIOPT_AT_MOST_ONE,  /* none or one of them */
    CLIOPT_TOGETHER,     /* all of them or none */
    CLIOPT_NEEDS,        /* the first one needs all the others */
    CLIOPT_EXCLUDES,     /* the first one goes with none of the others */
} cliopt_rule_kind;

/* A rule over option names (space-separated, without "--"). */
typedef struct cliopt_rule {
    cliopt_rule_kind kind;
    const char *names; /* e.g. "payload file" */
} cliopt_rule;

/* Everything about a command's command line: the source of its --help and manual page. */
typedef struct cliopt_spec {
    const char *synopsis;    /* usage after the command name; forms separated by '\n';
                                NULL = made from the required rows and the rules */
    const char *description; /* what the command does, paragraphs separated by "\n\n" */
    const cliopt *opts;      /* the option rows (-h/--help is implicit) */
    size_t n_opts;
    const cliopt_rule *rules;
    size_t n_rules;
    const char *operands; /* the operands' name, e.g. "FILE" or "ID..."; NULL = none */
    unsigned min_operands, max_operands;
    const char *notes; /* text after the options (exit status, environment) */
} cliopt_spec;

/* Number of rows of a static table. */
#define CLIOPT_LEN(t) (sizeof(t) / sizeof((t)[0]))

/* The most option rows a command may have (the bitmask of given rows). */
#define CLIOPT_MAX_ROWS 64

/* What parsing found besides the fields: given rows and the operands. */
typedef struct cliopt_result {
    uint64_t given;    /* bit i: row i was given (directly or by an old spelling) */
    int first_operand; /* index in argv of the first operand */
    int n_operands;    /* how many */
} cliopt_result;

/*
 * Parses argv (argv[0] = the command's full name, e.g. "asylink send") by
 * spec into target, the command's options struct, zero-initialised by the
 * caller: defaults first, then the options, then the operand count, the
 * required rows and the rules; an option given twice (also as its old
 * spelling) is a usage error. Prints --help to stdout (CLI_DONE), usage
 * errors to stderr (CLI_USAGE) and deprecation warnings to stderr.
 * Returns CLI_OK, CLI_DONE or CLI_USAGE. res may be NULL. argv is permuted
 * (getopt_long), not otherwise changed.
 */
int cliopt_parse(const cliopt_spec *spec, int argc, char **argv, void *target, cliopt_result *res);

/* True if the row named name was given (a programmer error if there is none). */
bool cliopt_given(const cliopt_spec *spec, const cliopt_result *res, const char *name);

/* Writes the --help text of a command (prog: its full name) to out. */
void cliopt_print_help(FILE *out, const char *prog, const cliopt_spec *spec);

/*
 * The pieces --help is made of, for other writers of the same text (the
 * manual page and the shell completion generated from the tables):
 *
 * cliopt_synopsis_line(): writes usage form i (from 0) of the command,
 * without "Usage:" and the command's name ("--config FILE (--payload
 * FILE|- | --file FILE) [options]"), into buf (len > 0); false when there
 * is no form i. A spec without synopsis has one form, made from the
 * table (required rows, exactly-one rules, [options], operands).
 * cliopt_row_listed(): true for a row --help lists (not deprecated or hidden).
 * cliopt_row_label(): "--name METAVAR" (or "--name") into buf; returns buf.
 * cliopt_row_help(): the help text with " (required)" and " (default: X)"
 * as --help prints it, into buf; returns buf.
 * cliopt_old_spelling(): if row i is an old spelling, writes it ("--json
 * FILE") and what replaces it ("--payload FILE") and returns true.
 * Texts longer than their buffer are cut.
 */
bool cliopt_synopsis_line(const cliopt_spec *spec, size_t i, char *buf, size_t len);
bool cliopt_row_listed(const cliopt *r);
const char *cliopt_row_label(const cliopt *r, char *buf, size_t len);
const char *cliopt_row_help(const cliopt *r, char *buf, size_t len);
bool cliopt_old_spelling(const cliopt_spec *spec, size_t i, char *old, size_t old_len, char *now,
                         size_t now_len);

/*
 * Checks a spec for programmer errors: duplicate or unknown names (rules,
 * alias_of, old_with_value, old_without_value), defaults that do not parse,
 * missing help or metavariables, CHOICE rows without choices, CUSTOM rows
 * without parse(), too many rows. Writes each problem as one line to err
 * (may be NULL); returns the number found. Used by the unit test of every
 * command's table.
 */
int cliopt_check_spec(const cliopt_spec *spec, FILE *err);

/* ---- rows every command shares ---- */

/* --config FILE: the node configuration (required). */
#define CLIOPT_ROW_CONFIG(type, field)                                                             \
    {                                                                                              \
        .name = "config", .kind = CLIOPT_STRING, .metavar = "FILE",                                \
        .offset = offsetof(type, field), .flags = CLIOPT_REQUIRED,                                 \
        .help = "the node configuration file ([node] section)"                                     \
    }

/* --timeout SECONDS: the longest the command waits for the broker or server. */
#define CLIOPT_ROW_TIMEOUT(type, field, default_seconds)                                           \
    {                                                                                              \
        .name = "timeout", .kind = CLIOPT_SECONDS, .metavar = "SECONDS",                           \
        .offset = offsetof(type, field), .min = 1, .max = 86400, .def = default_seconds,           \
        .help = "give up waiting for the broker after SECONDS in all"                              \
    }

/* --json: the result as JSON on stdout. */
#define CLIOPT_ROW_JSON(type, field)                                                               \
    {                                                                                              \
        .name = "json", .kind = CLIOPT_FLAG, .offset = offsetof(type, field),                      \
        .help = "print the result as JSON"                                                         \
    }

/*
 * --json for the commands whose --json once named the payload file (send,
 * publish): followed by a value, it is the old spelling of --payload FILE.
 */
#define CLIOPT_ROW_JSON_OR_OLD_PAYLOAD(type, field)                                                \
    {                                                                                              \
        .name = "json", .kind = CLIOPT_FLAG, .offset = offsetof(type, field),                      \
        .help = "print the result as JSON", .old_with_value = "payload"                            \
    }

/* --json-output: the old spelling of --json (send, receipts). */
#define CLIOPT_ROW_JSON_OUTPUT_OLD                                                                 \
    {                                                                                              \
        .name = "json-output", .flags = CLIOPT_DEPRECATED, .alias_of = "json"                      \
    }

/* --passphrase-file FILE: the passphrase of a secret key file. */
#define CLIOPT_ROW_PASSPHRASE_FILE(type, field, what)                                              \
    {                                                                                              \
        .name = "passphrase-file", .kind = CLIOPT_STRING, .metavar = "FILE",                       \
        .offset = offsetof(type, field), .help = what                                              \
    }

/* ---- values shared by several commands (CUSTOM parsers) ---- */

/* A node id (^[A-Z0-9][A-Z0-9._-]{1,63}$) into a const char *. */
int cliopt_parse_node_id(const char *text, void *field);
#define CLIOPT_EXPECT_NODE_ID "a node id, ^[A-Z0-9][A-Z0-9._-]{1,63}$"

/* A display name (cert_display_valid()) into a const char *. */
int cliopt_parse_display_name(const char *text, void *field);
#define CLIOPT_EXPECT_DISPLAY_NAME                                                                 \
    "one line of UTF-8 text, 1 to 256 bytes, without control characters"

/* A comma-separated role list into a uint32_t mask (cert.h roles). */
int cliopt_parse_roles(const char *text, void *field);
#define CLIOPT_EXPECT_ROLES                                                                        \
    "a comma-separated list of member_state, agency, analyst, operator, broker"

/* A message id as printed by asylink send, into a cliopt_uuid. */
typedef struct cliopt_uuid {
    const char *text;  /* as given */
    uint8_t bytes[16]; /* parsed */
} cliopt_uuid;
int cliopt_parse_uuid(const char *text, void *field);

#endif
