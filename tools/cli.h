/*
 * cli.h — what every `asylink` command shares: the command tree and its
 * dispatcher, exit codes, error and usage messages, parsing of option
 * values (numbers, dates, durations), passphrases, and JSON output. The
 * options themselves are declared in tables (cliopt.h).
 *
 * Conventions every command follows:
 *   exit 0 success, 1 the operation failed, 2 usage error;
 *   errors on stderr as "asylink: <context>: <ERR_NAME>: <description>";
 *   usage errors end with "Try '<command> --help' for more information.";
 *   results on stdout, as a human table or, with --json, one JSON value.
 *
 * Threading: the tool is single-threaded; none of this is thread-safe.
 */
#ifndef ASYLINK_TOOLS_CLI_H
#define ASYLINK_TOOLS_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cert.h"

/*
 * Exit codes, and CLI_DONE: "stop here and exit 0" (help was printed).
 * CLI_PENDING (send --wait, publish): the message is stored in the node's
 * outbox but the broker has not taken it yet; it goes the next time a
 * client opens the node's data_dir, and sending it again would send a
 * second message.
 */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_PENDING = 3, CLI_DONE = -1 };

struct cliopt_spec;

/*
 * A node of the command tree (tools/commands.c holds the root): a leaf
 * command with its handler and option table, or a group of subcommands.
 * run() gets argv[0] set to the full command name ("asylink ca sign"),
 * which messages and --help use, and returns an exit code. The tree with
 * the leaves' specs holds every text of the command line's documentation
 * (summaries, synopses, descriptions, options, notes), so a manual page
 * can be generated from it.
 */
typedef struct cli_command cli_command;
struct cli_command {
    const char *name;                  /* word typed after the parent command */
    int (*run)(int argc, char **argv); /* leaf: the handler; NULL for a group */
    const char *summary;               /* one line for the parent's --help */
    const struct cliopt_spec *spec;    /* leaf: its options (NULL: it parses its own) */
    const cli_command *sub;            /* group: subcommands, ended by a row with name NULL */
    const char *about;                 /* group: its description for --help */
};

/*
 * Runs the subcommand of group named by argv[1] (argv[0] is the group's
 * full name): the leaf's handler, or the next level's dispatch. Handles
 * -h/--help and a missing or unknown name (exit 2). Returns the exit code.
 */
int cli_dispatch(int argc, char **argv, const cli_command *group);

/*
 * Prints "asylink: <context>: <ERR_NAME>: <strerror>" to stderr; returns
 * CLI_FAIL. A context that is a handler's full name ("asylink nodes") is
 * printed without its leading "asylink " (asylink: nodes: ...).
 */
int cli_fail(const char *context, int code);

/* Prints "asylink: <context>: <ERR_NAME>: <text>" to stderr (context as cli_fail); returns
 * CLI_FAIL. */
int cli_fail_text(const char *context, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Prints "asylink: <path>: <ERR_NAME>: <what is wrong with the file, and
 * the fix>" to stderr (e.g. KEY_PERMISSIONS: "... chmod 600 <path>");
 * returns CLI_FAIL. For errors about one file the command read or wrote.
 */
int cli_fail_file(const char *path, int code);

/*
 * cli_fail_file() for a file read with a size limit: ASYLINK_E_TOO_LARGE
 * says the file's size, the limit in bytes (and in KiB or MiB) and what
 * kind of file it applies to ("a certificate file"), e.g.
 * "asylink: big.cert: TOO_LARGE: 70000000 bytes, more than the limit of
 * 135168 bytes (132 KiB) for a certificate file"; other codes as
 * cli_fail_file(). Returns CLI_FAIL.
 */
int cli_fail_file_limit(const char *path, int code, uint64_t limit, const char *what);

/* Prints "asylink: <message>" to stderr; returns CLI_FAIL. */
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a note "asylink: <message>" to stderr (not an error). */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* one if n is 1, else many, for counts in messages: "1 dead letter", "2 dead letters". */
const char *cli_plural(unsigned long long n, const char *one, const char *many);

/*
 * Prints "<prog>: <message>" (if fmt is not NULL) and the hint to run
 * "<prog> --help" to stderr; returns CLI_USAGE.
 */
int cli_usage(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Parses a decimal unsigned number in [min, max]: digits only, no sign, no
 * spaces, no trailing text. Returns 0, or -1 if s is not such a number.
 */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Parses a UTC date "YYYY-MM-DD" (midnight) or time "YYYY-MM-DDTHH:MM:SSZ"
 * into Unix ms. Rejects impossible dates (2026-02-30) and times before
 * 1970. Returns 0 or -1.
 */
int cli_parse_time(const char *s, uint64_t *ms);

/*
 * Parses a duration: a number with a unit s, m, h or d ("90s", "7d"; a
 * bare number is seconds) into ms, at most 100 years. Returns 0 or -1.
 */
int cli_parse_duration(const char *s, uint64_t *ms);

/* Adds days to a time in ms; -1 if the result would overflow. */
int cli_add_days(uint64_t ms, uint64_t days, uint64_t *out);

/*
 * Gets a passphrase: from the first line of file (trailing CR/LF removed)
 * if file is not NULL, else from the environment variable
 * ASYLINK_PASSPHRASE (as cli_passphrase_env_take() took it at start),
 * else, if ask is true, by prompting on /dev/tty (twice
 * if confirm; failing if there is no terminal). *out is NULL when there is none.
 * The passphrase lives in sodium_malloc'd memory; release it with
 * cli_passphrase_free(). An empty passphrase is refused. Prints its own
 * errors (context names the command); returns CLI_OK or CLI_FAIL.
 */
int cli_passphrase_get(const char *context, const char *file, bool ask, bool confirm,
                       char **out);

/*
 * Takes ASYLINK_PASSPHRASE out of the environment, once, first thing in
 * main() (after sodium_init): its value is copied into sodium_malloc'd
 * memory for cli_passphrase_get() (every call gets it, so a command may
 * need it twice), wiped at exit; the variable is removed (unsetenv) and
 * its bytes in the process's initial environment are wiped, so neither a
 * child process nor /proc/PID/environ of a long-running command shows it.
 * Does nothing when it is not set.
 */
void cli_passphrase_env_take(void);

/* Wipes and frees a passphrase from cli_passphrase_get(); sets *p to NULL. */
void cli_passphrase_free(char **p);

/* cli_keys_load(): the passphrase could not be read, and why was printed already. */
#define CLI_KEYS_REPORTED (-1)

/*
 * Loads a secret key file. If it is encrypted, the passphrase comes from
 * passphrase_file / ASYLINK_PASSPHRASE / a prompt when stdin is a terminal,
 * as cli_passphrase_get(). Returns ASYLINK_OK or the codes of keys_load();
 * if the passphrase cannot be read, prints why and returns
 * CLI_KEYS_REPORTED. Prints nothing else: the caller reports errors in its
 * own context (cli_fail_file), each once. Caller destroys *out with
 * keys_destroy().
 */
int cli_keys_load(const char *path, const char *passphrase_file, keys_secret **out);

/*
 * cli_keys_load() that reports its own errors (once, naming path and the
 * fix): CLI_OK or CLI_FAIL.
 */
int cli_keys_open(const char *path, const char *passphrase_file, keys_secret **out);

/* Writes value as indented JSON and a newline to stdout, then releases it. */
int cli_json_print(json_t *value);

/*
 * Spells the message ids in value (a pbjson object or array, changed in
 * place, nested ones too) as `recv --json` does: every "message_id" member
 * that is base64 of 16 bytes (protobuf's JSON mapping of `bytes`) becomes
 * its 8-4-4-4-12 UUID text. An empty one (no message) and anything else
 * stay as they are. Returns CLI_OK, or CLI_FAIL when memory ran out
 * (printed, context prog).
 */
int cli_json_message_ids(const char *prog, json_t *value);

/*
 * The JSON form of a certificate, shared by every command that shows one:
 * node_id, display_name, roles, serial, issuer, validity in ISO 8601 and
 * ms, keys in hex. New reference (NULL when out of memory).
 */
json_t *cli_cert_json(const cert *c);

/* A role mask as a JSON array of role names. New reference, NULL if out of memory. */
json_t *cli_roles_json(uint32_t mask);

/* Lower-case hex of 32 bytes into buf (>= 65 bytes). Returns buf. */
const char *cli_hex32(const uint8_t bytes[32], char buf[65]);

/* Joins dir and name with '/' into buf; -1 if it does not fit. */
int cli_path_join(char *buf, size_t len, const char *dir, const char *name);

#endif
