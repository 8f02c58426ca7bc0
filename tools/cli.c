/*
 * cli.c — the shared machinery of the `asylink` command line: dispatching
 * through command tables, messages and exit codes, option value parsing,
 * passphrases, and JSON output. See cli.h for the conventions.
 */
#define _XOPEN_SOURCE 700 /* strptime */

#include "cli.h"

#include "asylink/asylink.h"
#include "clock.h"
#include "file.h"
#include "keys.h"
#include "uuid.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CLI_NAME_MAX 128
#define CLI_PASSPHRASE_MAX 1024
#define CLI_MS_PER_DAY 86400000ull

/* ---- dispatching ---- */

static void s_print_group(const char *prog, const cli_command *group)
{
    printf("Usage: %s <command> [options]\n\n%s\n\nCommands:\n", prog, group->about);
    int width = 10; /* the names' column: at least 10, as wide as the longest name */
    for (const cli_command *c = group->sub; c->name; c++)
        if (strlen(c->name) > (size_t)width && strlen(c->name) < 40)
            width = (int)strlen(c->name);
    for (const cli_command *c = group->sub; c->name; c++)
        printf("  %-*s %s\n", width, c->name, c->summary);
    printf("\nRun '%s <command> --help' for the options of a command.\n", prog);
}

static const cli_command *s_find_command(const cli_command *group, const char *name)
{
    for (const cli_command *c = group->sub; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int cli_dispatch(int argc, char **argv, const cli_command *group)
{
    const char *prog = argv[0];
    if (argc < 2)
        return cli_usage(prog, "missing command");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        s_print_group(prog, group);
        return CLI_OK;
    }
    const cli_command *cmd = s_find_command(group, argv[1]);
    if (!cmd)
        return cli_usage(prog, "unknown command '%s'", argv[1]);
    char name[CLI_NAME_MAX];
    int len = snprintf(name, sizeof name, "%s %s", prog, cmd->name);
    if (len < 0 || (size_t)len >= sizeof name)
        return cli_failf("%s: command name too long", prog);
    argv[1] = name; /* the handler's argv[0]: its full name */
    if (cmd->sub)
        return cli_dispatch(argc - 1, argv + 1, cmd);
    return cmd->run(argc - 1, argv + 1);
}

/* ---- messages ---- */

/*
 * A handler's argv[0] is its full name ("asylink dlq replay", for usage
 * lines), and commands pass it as the context: the line already starts
 * with "asylink: ", so the context is the command alone ("dlq replay").
 */
static const char *s_command_context(const char *context)
{
    return strncmp(context, "asylink ", 8) == 0 && context[8] ? context + 8 : context;
}

/* "asylink: <context>: <ERR_NAME>: <text>" with the context as given (a path, say). */
static int s_vfail(const char *context, int code, const char *fmt, va_list ap)
{
    fprintf(stderr, "asylink: %s: %s: ", context, asylink_err_name(code));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

static int s_fail_path(const char *path, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int s_fail_path(const char *path, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(path, code, fmt, ap);
    va_end(ap);
    return CLI_FAIL;
}

int cli_fail(const char *context, int code)
{
    return cli_fail_text(context, code, "%s", asylink_strerror(code));
}

int cli_fail_text(const char *context, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(s_command_context(context), code, fmt, ap);
    va_end(ap);
    return CLI_FAIL;
}

/* The CLI's ways to give a key file's passphrase (cli_keys_load). */
#define S_PASSPHRASE_HOW                                                                           \
    "give --passphrase-file FILE, or set ASYLINK_PASSPHRASE, or run on a terminal to be asked"

/* Why a file could not be read or written: not a regular file, or else permissions or disk. */
static const char *s_io_hint(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
        return "cannot read or write it (check its permissions and the disk)";
    if (S_ISDIR(st.st_mode))
        return "a directory, not a file: give the file itself";
    if (S_ISFIFO(st.st_mode))
        return "a FIFO (named pipe), not a regular file: not read";
    return "not a regular file (a device or socket): not read";
}

int cli_fail_file(const char *path, int code)
{
    const char *fix = NULL;
    char hint[2400];
    switch (code) {
    case ASYLINK_E_NOT_FOUND: fix = "no such file"; break;
    case ASYLINK_E_KEY_PERMISSIONS:
    case ASYLINK_E_PASSPHRASE_REQUIRED:
        fix = keys_file_hint(code,
                             code == ASYLINK_E_KEY_PERMISSIONS ? "a secret file" : "the key file",
                             path, S_PASSPHRASE_HOW, hint, sizeof hint);
        break;
    case ASYLINK_E_BAD_PASSPHRASE: fix = "the passphrase does not open this key file"; break;
    case ASYLINK_E_EXISTS:
        fix = "it exists already: not overwritten (remove it, or choose another name)";
        break;
    case ASYLINK_E_IO: fix = s_io_hint(path); break;
    case ASYLINK_E_MALFORMED: fix = "not a file of the expected kind, or damaged"; break;
    default: break;
    }
    return s_fail_path(path, code, "%s", fix ? fix : asylink_strerror(code));
}

int cli_fail_file_limit(const char *path, int code, uint64_t limit, const char *what)
{
    if (code != ASYLINK_E_TOO_LARGE)
        return cli_fail_file(path, code);
    char text[256];
    return s_fail_path(path, code, "%s",
                       file_limit_text(file_size(path), limit, what, text, sizeof text));
}

int cli_failf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("asylink: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_FAIL;
}

const char *cli_plural(unsigned long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

void cli_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("asylink: note: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage(const char *prog, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", prog);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    fprintf(stderr, "Try '%s --help' for more information.\n", prog);
    return CLI_USAGE;
}

/* ---- option values ---- */

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1; /* strtoull would accept spaces, signs and "" */
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* strptime() with format fmt that must consume all of s. */
static int s_strptime_all(const char *s, const char *fmt, struct tm *tm)
{
    memset(tm, 0, sizeof *tm);
    const char *end = strptime(s, fmt, tm);
    return end && *end == '\0' ? 0 : -1;
}

int cli_parse_time(const char *s, uint64_t *ms)
{
    struct tm tm;
    if (!s || strlen(s) < 10 || s[4] != '-' || s[7] != '-')
        return -1; /* insist on the full YYYY-MM-DD form */
    if (s_strptime_all(s, "%Y-%m-%d", &tm) != 0 &&
        s_strptime_all(s, "%Y-%m-%dT%H:%M:%SZ", &tm) != 0)
        return -1;
    struct tm want = tm;
    time_t t = timegm(&tm);
    /* timegm() normalizes 02-30 to 03-02: refuse dates that moved. */
    if (t < 0 || tm.tm_year != want.tm_year || tm.tm_mon != want.tm_mon ||
        tm.tm_mday != want.tm_mday || tm.tm_hour != want.tm_hour ||
        tm.tm_min != want.tm_min || tm.tm_sec != want.tm_sec)
        return -1;
    *ms = (uint64_t)t * 1000u;
    return 0;
}

int cli_parse_duration(const char *s, uint64_t *ms)
{
    static const struct {
        char unit;
        uint64_t ms;
    } units[] = {{'s', 1000u}, {'m', 60000u}, {'h', 3600000u}, {'d', CLI_MS_PER_DAY}};
    char num[24];
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= sizeof num)
        return -1;
    uint64_t mult = 1000u;
    memcpy(num, s, n + 1);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (num[n - 1] == units[i].unit) {
            mult = units[i].ms;
            num[n - 1] = '\0';
        }
    uint64_t v;
    if (cli_parse_u64(num, 0, 100ull * 366 * CLI_MS_PER_DAY / mult, &v) != 0)
        return -1;
    *ms = v * mult;
    return 0;
}

int cli_add_days(uint64_t ms, uint64_t days, uint64_t *out)
{
    if (days > (UINT64_MAX - ms) / CLI_MS_PER_DAY)
        return -1;
    *out = ms + days * CLI_MS_PER_DAY;
    return 0;
}

/* ---- passphrases ---- */

/* Copies the first line of text (n bytes) into new sodium_malloc'd memory. */
static char *s_secure_first_line(const char *text, size_t n)
{
    size_t len = 0;
    while (len < n && text[len] != '\n' && text[len] != '\0')
        len++;
    if (len > 0 && text[len - 1] == '\r')
        len--;
    char *p = sodium_malloc(len + 1);
    if (!p)
        return NULL;
    memcpy(p, text, len);
    p[len] = '\0';
    return p;
}

static int s_passphrase_from_file(const char *context, const char *file, char **out)
{
    uint8_t *text = NULL;
    size_t len = 0;
    int rc = file_read_secret(file, CLI_PASSPHRASE_MAX, &text, &len);
    if (rc == ASYLINK_E_TOO_LARGE)
        return cli_fail_file_limit(file, rc, CLI_PASSPHRASE_MAX, "a passphrase file");
    if (rc != ASYLINK_OK) {
        char ctx[512];
        snprintf(ctx, sizeof ctx, "%s: passphrase file %s", context, file);
        return cli_fail(ctx, rc);
    }
    *out = s_secure_first_line((const char *)text, len);
    file_secret_free(text, len);
    return *out ? CLI_OK : cli_fail(context, ASYLINK_E_NOMEM);
}

/* Reads one line from the terminal fd with echo off into secure memory. */
static char *s_read_tty_line(int fd, const char *prompt)
{
    struct termios old, quiet;
    if (tcgetattr(fd, &old) != 0)
        return NULL;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ICANON;
    char *buf = sodium_malloc(CLI_PASSPHRASE_MAX);
    if (!buf || tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        sodium_free(buf);
        return NULL;
    }
    ssize_t w = write(fd, prompt, strlen(prompt));
    ssize_t n = w < 0 ? -1 : read(fd, buf, CLI_PASSPHRASE_MAX - 1);
    tcsetattr(fd, TCSAFLUSH, &old);
    w = write(fd, "\n", 1);
    (void)w;
    char *line = n > 0 ? s_secure_first_line(buf, (size_t)n) : NULL;
    sodium_memzero(buf, CLI_PASSPHRASE_MAX);
    sodium_free(buf);
    return line;
}

/* Asks on the terminal (twice if confirm); prints why on failure. */
static int s_passphrase_prompt(const char *context, bool confirm, char **out)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return cli_failf("%s: cannot open the terminal to ask for the passphrase", context);
    char prompt[600];
    snprintf(prompt, sizeof prompt, "Passphrase for %s: ", context);
    char *first = s_read_tty_line(fd, prompt);
    char *again = first && confirm ? s_read_tty_line(fd, "Same passphrase again: ") : NULL;
    close(fd);
    int rc = CLI_OK;
    if (!first || (confirm && !again))
        rc = cli_failf("%s: no passphrase read from the terminal", context);
    else if (confirm && strcmp(first, again) != 0)
        rc = cli_failf("%s: the passphrases do not match", context);
    cli_passphrase_free(&again);
    if (rc != CLI_OK)
        cli_passphrase_free(&first);
    *out = first;
    return rc;
}

extern char **environ;

/* The environment variable a passphrase may come from. */
#define S_ENV_NAME "ASYLINK_PASSPHRASE"

/*
 * ASYLINK_PASSPHRASE as cli_passphrase_env_take() found it, in
 * sodium_malloc'd memory, until exit (s_env_wipe); NULL if it was not set.
 * s_env_lost: it was set, but could not be copied (out of memory).
 */
static char *s_env_pass;
static bool s_env_lost;

/* atexit(): wipes and frees the copy. */
static void s_env_wipe(void)
{
    if (!s_env_pass)
        return;
    sodium_memzero(s_env_pass, strlen(s_env_pass));
    sodium_free(s_env_pass);
    s_env_pass = NULL;
}

/* The entries "ASYLINK_PASSPHRASE=..." of environ (n of them) into a new array; NULL if none. */
static char **s_env_entries(size_t *n)
{
    size_t len = sizeof S_ENV_NAME - 1, count = 0;
    *n = 0;
    for (char **e = environ; e && *e; e++)
        count += strncmp(*e, S_ENV_NAME, len) == 0 && (*e)[len] == '=';
    char **found = count ? calloc(count, sizeof *found) : NULL;
    for (char **e = environ; found && e && *e; e++)
        if (strncmp(*e, S_ENV_NAME, len) == 0 && (*e)[len] == '=')
            found[(*n)++] = *e;
    return found;
}

void cli_passphrase_env_take(void)
{
    size_t n = 0;
    char **entries = s_env_entries(&n);
    const char *value = getenv(S_ENV_NAME);
    if (!value) {
        free(entries);
        return;
    }
    size_t len = strlen(value);
    s_env_pass = sodium_malloc(len + 1);
    if (s_env_pass) {
        memcpy(s_env_pass, value, len + 1);
        atexit(s_env_wipe);
    }
    s_env_lost = !s_env_pass;
    /* unsetenv() only takes the entries out of environ; their bytes stay where the kernel
       put them at exec, which is what /proc/PID/environ shows. Nothing else owns them
       (glibc frees only strings its own setenv() made, and nothing in this process has
       called it yet: this runs first in main()), so they are wiped in place. */
    /* (Without the list, out of memory, the bytes stay in /proc/PID/environ; the variable
       is out of environ, and so out of any child's environment, all the same.) */
    unsetenv(S_ENV_NAME);
    for (size_t i = 0; i < n; i++)
        sodium_memzero(entries[i], strlen(entries[i]));
    free(entries);
}

static int s_passphrase_from_env(const char *context, char **out)
{
    if (s_env_lost)
        return cli_fail(context, ASYLINK_E_NOMEM);
    *out = s_secure_first_line(s_env_pass, strlen(s_env_pass));
    return *out ? CLI_OK : cli_fail(context, ASYLINK_E_NOMEM);
}

int cli_passphrase_get(const char *context, const char *file, bool ask, bool confirm,
                       char **out)
{
    *out = NULL;
    int rc = CLI_OK;
    if (file)
        rc = s_passphrase_from_file(context, file, out);
    else if (s_env_pass || s_env_lost)
        rc = s_passphrase_from_env(context, out);
    else if (ask)
        rc = s_passphrase_prompt(context, confirm, out);
    if (rc == CLI_OK && *out && **out == '\0') {
        cli_passphrase_free(out);
        rc = cli_failf("%s: the passphrase is empty", context);
    }
    return rc;
}

void cli_passphrase_free(char **p)
{
    if (!p || !*p)
        return;
    sodium_memzero(*p, strlen(*p));
    sodium_free(*p);
    *p = NULL;
}

int cli_keys_load(const char *path, const char *passphrase_file, keys_secret **out)
{
    *out = NULL;
    char *pass = NULL;
    int enc = keys_file_is_encrypted(path);
    bool ask = isatty(STDIN_FILENO); /* else keys_load() says PASSPHRASE_REQUIRED */
    if (enc > 0 && cli_passphrase_get(path, passphrase_file, ask, false, &pass) != CLI_OK)
        return CLI_KEYS_REPORTED;
    int rc = keys_load(path, pass, out);
    cli_passphrase_free(&pass);
    return rc;
}

int cli_keys_open(const char *path, const char *passphrase_file, keys_secret **out)
{
    int rc = cli_keys_load(path, passphrase_file, out);
    if (rc == ASYLINK_OK)
        return CLI_OK;
    return rc == CLI_KEYS_REPORTED
               ? CLI_FAIL
               : cli_fail_file_limit(path, rc, KEYS_FILE_MAX, "a secret key file");
}

/* ---- output ---- */

int cli_json_print(json_t *value)
{
    if (!value)
        return cli_fail("json", ASYLINK_E_NOMEM);
    int rc = json_dumpf(value, stdout, JSON_INDENT(2));
    json_decref(value);
    if (rc != 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0)
        return cli_fail("stdout", ASYLINK_E_IO);
    return CLI_OK;
}

int cli_json_message_ids(const char *prog, json_t *value)
{
    const char *key;
    size_t i;
    json_t *v;
    if (json_is_array(value)) {
        json_array_foreach(value, i, v)
        {
            if (cli_json_message_ids(prog, v) != CLI_OK)
                return CLI_FAIL;
        }
        return CLI_OK;
    }
    json_object_foreach(value, key, v)
    {
        if (strcmp(key, "message_id") != 0) {
            if (cli_json_message_ids(prog, v) != CLI_OK)
                return CLI_FAIL;
            continue;
        }
        const char *b64 = json_string_value(v);
        uint8_t id[UUID_LEN];
        size_t n = 0;
        char text[UUID_STR_LEN];
        if (!b64 ||
            sodium_base642bin(id, sizeof id, b64, strlen(b64), NULL, &n, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            n != UUID_LEN)
            continue;
        if (json_object_set_new(value, key, json_string(uuid_format(id, text, sizeof text))) != 0)
            return cli_fail(prog, ASYLINK_E_NOMEM);
    }
    return CLI_OK;
}

const char *cli_hex32(const uint8_t bytes[32], char buf[65])
{
    return sodium_bin2hex(buf, 65, bytes, 32);
}

json_t *cli_roles_json(uint32_t mask)
{
    json_t *a = json_array();
    for (int r = 1; a && r <= CERT_ROLE_MAX; r++)
        if (mask & CERT_ROLE_BIT(r))
            json_array_append_new(a, json_string(cert_role_name(r)));
    return a;
}

json_t *cli_cert_json(const cert *c)
{
    char nb[32], na[32], spk[65], bpk[65], ipk[65];
    return json_pack("{s:s, s:s, s:s, s:o, s:I, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s}",
                     "kind", "certificate", "node_id", c->node_id, "display_name",
                     c->display_name, "roles", cli_roles_json(c->roles), "serial",
                     (json_int_t)c->serial, "issuer", c->issuer, "issuer_sign_pk",
                     cli_hex32(c->issuer_sign_pk, ipk), "not_before",
                     clock_format_iso(c->not_before_ms, nb, sizeof nb), "not_before_ms",
                     (json_int_t)c->not_before_ms, "not_after",
                     clock_format_iso(c->not_after_ms, na, sizeof na), "not_after_ms",
                     (json_int_t)c->not_after_ms, "sign_pk", cli_hex32(c->sign_pk, spk),
                     "box_pk", cli_hex32(c->box_pk, bpk));
}

int cli_path_join(char *buf, size_t len, const char *dir, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}
