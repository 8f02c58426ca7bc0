/*
 * cliopt.c — parsing, checking and --help of the commands' option tables
 * (cliopt.h).
 *
 * One parse: the defaults of the table are applied; a pre-scan copies
 * argv, applying (with a warning) the old spellings getopt_long cannot see
 * (a flag followed by a value, a valued option given bare) and stepping
 * over the values of other options so that a value is never mistaken for
 * an option; getopt_long then parses the copy with an option array built
 * from the rows; operands, required rows and rules are checked last. Every
 * command-line value is hostile: each kind's parser rejects empty text,
 * signs, junk and out-of-range numbers, and the usage error quotes the
 * option (its value made printable and cut short) and says what was
 * expected. An option given twice, by any spelling, is a usage error too:
 * the last value would otherwise win silently.
 */
#include "cliopt.h"

#include "asylink/asylink.h"
#include "cert.h"
#include "cli.h"
#include "codec.h"
#include "uuid.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest option name (the pre-scan copies "--name" out of "--name=value"). */
#define S_NAME_MAX 64

/* The most bytes of a bad value a usage error quotes. */
#define S_QUOTE_MAX 80

/* Width of the option column in --help, and of the whole text. */
#define S_HELP_COLUMN 25
#define S_HELP_WIDTH 79

/* ---- rows ---- */

/* Index of the row named name (exact), or -1. */
static int s_find(const cliopt_spec *spec, const char *name, size_t len)
{
    for (size_t i = 0; i < spec->n_opts; i++)
        if (strlen(spec->opts[i].name) == len && strncmp(spec->opts[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

/* The row an option given as name (exactly, or as getopt's unique prefix) means; -1. */
static int s_resolve(const cliopt_spec *spec, const char *name, size_t len)
{
    int exact = s_find(spec, name, len), found = -1;
    if (exact >= 0)
        return exact;
    for (size_t i = 0; i < spec->n_opts; i++) {
        const cliopt *r = &spec->opts[i];
        if (!(r->flags & CLIOPT_HIDDEN) && strncmp(r->name, name, len) == 0) {
            if (found >= 0)
                return -1; /* ambiguous: getopt_long says so */
            found = (int)i;
        }
    }
    return found;
}

/* The row that takes the value of row i: its alias_of target for an old spelling. */
static int s_effective(const cliopt_spec *spec, int i)
{
    const cliopt *r = &spec->opts[i];
    if (!(r->flags & CLIOPT_DEPRECATED) || !r->alias_of)
        return i;
    return s_find(spec, r->alias_of, strlen(r->alias_of));
}

static bool s_takes_value(const cliopt_spec *spec, int i)
{
    int e = s_effective(spec, i);
    return e >= 0 && spec->opts[e].kind != CLIOPT_FLAG;
}

/* ---- values ---- */

/* Writes what a valid value of r looks like into buf. */
static const char *s_expect(const cliopt *r, char *buf, size_t len)
{
    if (r->expect)
        return r->expect;
    switch (r->kind) {
    case CLIOPT_UINT:
        snprintf(buf, len, "a number from %llu to %llu", (unsigned long long)r->min,
                 (unsigned long long)(r->max ? r->max : UINT64_MAX));
        break;
    case CLIOPT_SECONDS:
        snprintf(buf, len, "%llu to %llu seconds", (unsigned long long)r->min,
                 (unsigned long long)r->max);
        break;
    case CLIOPT_DURATION: snprintf(buf, len, "a duration like 90s, 30m, 12h or 7d"); break;
    case CLIOPT_TIME: snprintf(buf, len, "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC"); break;
    case CLIOPT_CHOICE: {
        size_t used = (size_t)snprintf(buf, len, "one of");
        for (size_t k = 0; r->choices && r->choices[k] && used < len; k++)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", k ? ", " : " ", r->choices[k]);
        break;
    }
    default: snprintf(buf, len, "a non-empty value"); break;
    }
    return buf;
}

static int s_parse_choice(const cliopt *r, const char *text, int *out)
{
    for (size_t k = 0; r->choices && r->choices[k]; k++)
        if (strcasecmp(text, r->choices[k]) == 0) {
            *out = (int)k + 1;
            return 0;
        }
    return -1;
}

/* Parses text as row r into its field of target; 0 or -1. */
static int s_parse_value(const cliopt *r, const char *text, void *target)
{
    void *field = (char *)target + r->offset;
    uint64_t v = 0, max = r->max ? r->max : UINT64_MAX;
    switch (r->kind) {
    case CLIOPT_FLAG: *(bool *)field = true; return 0;
    case CLIOPT_STRING:
        if (!text || !*text)
            return -1;
        *(const char **)field = text;
        return 0;
    case CLIOPT_UINT:
        if (cli_parse_u64(text, r->min, max, &v) != 0)
            return -1;
        *(uint64_t *)field = v;
        return 0;
    case CLIOPT_SECONDS:
        if (cli_parse_u64(text, r->min, max, &v) != 0 || v > UINT64_MAX / 1000)
            return -1;
        *(uint64_t *)field = v * 1000u;
        return 0;
    case CLIOPT_DURATION:
        if (cli_parse_duration(text, &v) != 0 || v / 1000 < r->min || v / 1000 > max)
            return -1;
        *(uint64_t *)field = v;
        return 0;
    case CLIOPT_TIME:
        if (cli_parse_time(text, &v) != 0)
            return -1;
        *(uint64_t *)field = v;
        return 0;
    case CLIOPT_CHOICE: return s_parse_choice(r, text, (int *)field);
    case CLIOPT_CUSTOM: return r->parse && text ? r->parse(text, field) : -1;
    }
    return -1;
}

/*
 * A hostile value as it may be quoted in one line of an error: printable
 * ASCII and valid UTF-8 as they are, other bytes (control characters,
 * broken sequences) as \xHH, cut after S_QUOTE_MAX bytes of the value.
 */
static const char *s_quote(const char *text, char *buf, size_t len)
{
    size_t used = 0, i = 0;
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    for (; p[i] && i < S_QUOTE_MAX && used + 8 < len; i++) {
        char seq[5] = {0};
        size_t n = p[i] < 0x80 ? 1 : p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : 2;
        for (size_t k = 0; k < n && p[i + k]; k++)
            seq[k] = (char)p[i + k];
        if (p[i] >= 0x80 && strlen(seq) == n && codec_utf8_valid(seq)) {
            memcpy(buf + used, seq, n);
            used += n;
            i += n - 1;
        } else if (p[i] >= 0x20 && p[i] < 0x7f) {
            buf[used++] = (char)p[i];
        } else {
            used += (size_t)snprintf(buf + used, len - used, "\\x%02x", p[i]);
        }
    }
    buf[used] = '\0';
    if (p[i] && used + 4 < len)
        memcpy(buf + used, "...", 4);
    return buf;
}

/* The name of the old spelling of row r (a DEPRECATED alias of it), or NULL. */
static const char *s_old_name(const cliopt_spec *spec, const cliopt *r)
{
    for (size_t i = 0; i < spec->n_opts; i++)
        if ((spec->opts[i].flags & CLIOPT_DEPRECATED) && spec->opts[i].alias_of &&
            strcmp(spec->opts[i].alias_of, r->name) == 0)
            return spec->opts[i].name;
    return NULL;
}

/*
 * The other row of the same option typed by the user: for a row with
 * old_without_value, that hidden FLAG row; for such a hidden row, the row
 * whose bare spelling it stands for (send's --wait and its "wait-old"); -1.
 */
static int s_bare_twin(const cliopt_spec *spec, int e)
{
    const cliopt *r = &spec->opts[e];
    if (r->old_without_value)
        return s_find(spec, r->old_without_value, strlen(r->old_without_value));
    for (size_t k = 0; (r->flags & CLIOPT_HIDDEN) && k < spec->n_opts; k++)
        if (spec->opts[k].old_without_value &&
            strcmp(spec->opts[k].old_without_value, r->name) == 0)
            return (int)k;
    return -1;
}

/* Applies row i (as given; old spellings resolved) with value text. */
static int s_apply(const cliopt_spec *spec, int i, const char *text, const char *prog, void *target,
                   cliopt_result *res)
{
    int e = s_effective(spec, i), twin = s_bare_twin(spec, e);
    const cliopt *given = &spec->opts[i], *r = &spec->opts[e];
    /* The last one would silently win: --to FR --to IT; --wait 5 --wait (its bare spelling). */
    if ((res->given >> e & 1) || (twin >= 0 && (res->given >> twin & 1))) {
        /* Named as typed: a hidden row's name was never on the command line. */
        const cliopt *typed = (r->flags & CLIOPT_HIDDEN) && twin >= 0 ? &spec->opts[twin] : r;
        const char *old = s_old_name(spec, typed);
        return cli_usage(prog, "--%s given twice%s%s%s: give it once%s", typed->name,
                         old ? " (counting its old spelling --" : "", old ? old : "",
                         old ? ")" : "", typed->kind == CLIOPT_FLAG ? "" : ", with one value");
    }
    if (given->flags & CLIOPT_DEPRECATED)
        fprintf(stderr,
                "%s: warning: --%s is deprecated and will be removed in the next release; "
                "use --%s\n",
                prog, given->name, r->name);
    if (s_parse_value(r, text, target) != 0) {
        char expect[256], quoted[S_QUOTE_MAX * 4 + 8];
        return cli_usage(prog, "invalid --%s '%s' (%s)", given->name,
                         s_quote(text, quoted, sizeof quoted), s_expect(r, expect, sizeof expect));
    }
    res->given |= 1ull << e;
    return CLI_OK;
}

static int s_defaults(const cliopt_spec *spec, const char *prog, void *target)
{
    for (size_t i = 0; i < spec->n_opts; i++) {
        const cliopt *r = &spec->opts[i];
        if (r->def && !(r->flags & CLIOPT_DEPRECATED) && s_parse_value(r, r->def, target) != 0)
            return cli_failf("%s: bad default of --%s in the option table", prog, r->name);
    }
    return CLI_OK;
}

/* ---- old spellings getopt_long cannot see ---- */

/* A value rather than an option: "-" (stdin) or text not starting with '-'. */
static bool s_is_value(const char *arg)
{
    return arg && (arg[0] != '-' || strcmp(arg, "-") == 0);
}

/*
 * If argv[*i] is an old spelling hidden from getopt_long, applies it
 * (advancing *i past its value) and sets *taken. CLI_OK or CLI_USAGE.
 */
static int s_old_spelling(const cliopt_spec *spec, int argc, char **argv, int *i, const char *prog,
                          void *target, cliopt_result *res, bool *taken)
{
    const char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    int k = s_resolve(spec, arg, len);
    *taken = false;
    if (k < 0)
        return CLI_OK;
    const cliopt *r = &spec->opts[k];
    const char *next = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (r->old_with_value && (eq || s_is_value(next))) {
        int to = s_find(spec, r->old_with_value, strlen(r->old_with_value));
        fprintf(stderr,
                "%s: warning: --%s %s is deprecated and will be removed in the next release; "
                "use --%s %s\n",
                prog, r->name, spec->opts[to].metavar, r->old_with_value, spec->opts[to].metavar);
        *taken = true;
        if (!eq)
            (*i)++;
        return s_apply(spec, to, eq ? eq + 1 : next, prog, target, res);
    }
    if (r->old_without_value && !eq && !s_is_value(next)) {
        int to = s_find(spec, r->old_without_value, strlen(r->old_without_value));
        fprintf(stderr,
                "%s: warning: --%s without %s is deprecated and will be removed in the next "
                "release; use --%s %s\n",
                prog, r->name, r->metavar, r->name, r->metavar);
        *taken = true;
        return s_apply(spec, to, NULL, prog, target, res);
    }
    return CLI_OK;
}

/*
 * Copies argv[0..argc) into out, applying and leaving out the old spellings
 * of s_old_spelling(). *n is the copy's length. CLI_OK or CLI_USAGE.
 */
static int s_prescan(const cliopt_spec *spec, int argc, char **argv, const char *prog, void *target,
                     cliopt_result *res, char **out, int *n)
{
    *n = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        bool option = i > 0 && arg[0] == '-' && arg[1] == '-' && arg[2] != '\0';
        if (i > 0 && strcmp(arg, "--") == 0) {
            while (i < argc)
                out[(*n)++] = argv[i++];
            break;
        }
        if (option) {
            bool taken = false;
            int rc = s_old_spelling(spec, argc, argv, &i, prog, target, res, &taken);
            if (rc != CLI_OK)
                return rc;
            if (taken)
                continue;
        }
        out[(*n)++] = argv[i];
        if (!option || strchr(arg, '='))
            continue;
        /* Step over an option's separate value: it is never an option itself. */
        int k = s_resolve(spec, arg + 2, strlen(arg + 2));
        if (k >= 0 && s_takes_value(spec, k) && i + 1 < argc)
            out[(*n)++] = argv[++i];
    }
    return CLI_OK;
}

/* ---- checks after parsing ---- */

/* The rows a rule names, in its order. */
typedef struct {
    int idx[CLIOPT_MAX_ROWS];
    size_t n;
} s_names;

static void s_rule_names(const cliopt_spec *spec, const char *names, s_names *out)
{
    out->n = 0;
    for (const char *p = names; *p && out->n < CLIOPT_MAX_ROWS;) {
        size_t l = strcspn(p, " ");
        if (l)
            out->idx[out->n++] = s_find(spec, p, l);
        p += l + (p[l] == ' ');
    }
}

/* How many of ns[from..] were given. */
static size_t s_count_given(const s_names *ns, size_t from, const cliopt_result *res)
{
    size_t n = 0;
    for (size_t k = from; k < ns->n; k++)
        n += ns->idx[k] >= 0 && (res->given >> ns->idx[k] & 1);
    return n;
}

/* "--a, --b and --c" (conj "and" or "or") for ns[from..] into buf. */
static const char *s_join(const cliopt_spec *spec, const s_names *ns, size_t from, const char *conj,
                          char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t k = from; k < ns->n && used < len; k++) {
        const char *sep = k == from ? "" : k + 1 == ns->n ? conj : ", ";
        const char *name = ns->idx[k] >= 0 ? spec->opts[ns->idx[k]].name : "?";
        used += (size_t)snprintf(buf + used, len - used, "%s--%s", sep, name);
    }
    return buf;
}

static int s_check_rule(const cliopt_spec *spec, const cliopt_rule *rule, const cliopt_result *res,
                        const char *prog)
{
    s_names ns;
    char text[512];
    s_rule_names(spec, rule->names, &ns);
    size_t given = s_count_given(&ns, 0, res), others = s_count_given(&ns, 1, res);
    bool first = given > others;
    switch (rule->kind) {
    case CLIOPT_EXACTLY_ONE:
        if (given != 1)
            return cli_usage(prog, "give exactly one of %s",
                             s_join(spec, &ns, 0, " and ", text, sizeof text));
        break;
    case CLIOPT_AT_LEAST_ONE:
        if (given == 0)
            return cli_usage(prog, "give %s", s_join(spec, &ns, 0, " or ", text, sizeof text));
        break;
    case CLIOPT_AT_MOST_ONE:
        if (given > 1)
            return cli_usage(prog, "give at most one of %s",
                             s_join(spec, &ns, 0, " and ", text, sizeof text));
        break;
    case CLIOPT_TOGETHER:
        if (given != 0 && given != ns.n)
            return cli_usage(prog, "%s go together",
                             s_join(spec, &ns, 0, " and ", text, sizeof text));
        break;
    case CLIOPT_NEEDS:
        if (first && others != ns.n - 1)
            return cli_usage(prog, "--%s needs %s", spec->opts[ns.idx[0]].name,
                             s_join(spec, &ns, 1, " and ", text, sizeof text));
        break;
    case CLIOPT_EXCLUDES:
        if (first && others != 0)
            return cli_usage(prog, "--%s does not go with %s", spec->opts[ns.idx[0]].name,
                             s_join(spec, &ns, 1, " or ", text, sizeof text));
        break;
    }
    return CLI_OK;
}

static int s_check_required(const cliopt_spec *spec, const cliopt_result *res, const char *prog)
{
    char missing[512];
    size_t used = 0;
    missing[0] = '\0';
    for (size_t i = 0; i < spec->n_opts; i++) {
        const cliopt *r = &spec->opts[i];
        if ((r->flags & CLIOPT_REQUIRED) && !(res->given >> i & 1))
            used += (size_t)snprintf(
                missing + used, used < sizeof missing ? sizeof missing - used : 0, "%s--%s%s%s",
                used ? ", " : "", r->name, r->metavar ? " " : "", r->metavar ? r->metavar : "");
    }
    return used ? cli_usage(prog, "missing %s", missing) : CLI_OK;
}

static int s_check_operands(const cliopt_spec *spec, const cliopt_result *res, char **argv,
                            const char *prog)
{
    if ((unsigned)res->n_operands < spec->min_operands)
        return cli_usage(prog, "missing %s", spec->operands ? spec->operands : "operand");
    if ((unsigned)res->n_operands > spec->max_operands && spec->max_operands > 1)
        return cli_usage(prog, "at most %u %s at once", spec->max_operands, spec->operands);
    if ((unsigned)res->n_operands > spec->max_operands)
        return cli_usage(prog, "unexpected argument '%s'",
                         argv[res->first_operand + (int)spec->max_operands]);
    return CLI_OK;
}

/* ---- parsing ---- */

/* getopt_long's array for the visible rows (plus --help) into longs. */
static void s_longopts(const cliopt_spec *spec, struct option *longs)
{
    size_t n = 0;
    for (size_t i = 0; i < spec->n_opts; i++) {
        if (spec->opts[i].flags & CLIOPT_HIDDEN)
            continue;
        longs[n++] = (struct option){spec->opts[i].name,
                                     s_takes_value(spec, (int)i) ? required_argument : no_argument,
                                     NULL, 256 + (int)i};
    }
    longs[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longs[n] = (struct option){NULL, 0, NULL, 0};
}

static int s_getopt(const cliopt_spec *spec, int argc, char **argv, void *target,
                    cliopt_result *res)
{
    struct option longs[CLIOPT_MAX_ROWS + 2];
    const char *prog = argv[0];
    s_longopts(spec, longs);
    optind = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (opt == 'h') {
            cliopt_print_help(stdout, prog, spec);
            return CLI_DONE;
        }
        if (opt < 256 || opt >= 256 + (int)spec->n_opts)
            return cli_usage(prog, NULL); /* getopt_long said what was wrong */
        int rc = s_apply(spec, opt - 256, optarg, prog, target, res);
        if (rc != CLI_OK)
            return rc;
    }
    res->first_operand = optind;
    res->n_operands = argc - optind;
    return CLI_OK;
}

int cliopt_parse(const cliopt_spec *spec, int argc, char **argv, void *target, cliopt_result *res)
{
    cliopt_result local;
    res = res ? res : &local;
    memset(res, 0, sizeof *res);
    const char *prog = argv[0];
    if (spec->n_opts > CLIOPT_MAX_ROWS)
        return cli_failf("%s: too many options in the option table", prog);
    char **copy = calloc((size_t)argc + 1, sizeof *copy);
    if (!copy)
        return cli_fail(prog, ASYLINK_E_NOMEM);
    int n = 0;
    int rc = s_defaults(spec, prog, target);
    if (rc == CLI_OK)
        rc = s_prescan(spec, argc, argv, prog, target, res, copy, &n);
    if (rc == CLI_OK)
        rc = s_getopt(spec, n, copy, target, res);
    /* The caller finds the operands in its own argv. */
    for (int i = 0; i < argc; i++)
        argv[i] = i < n ? copy[i] : NULL;
    free(copy);
    if (rc == CLI_OK)
        rc = s_check_operands(spec, res, argv, prog);
    if (rc == CLI_OK)
        rc = s_check_required(spec, res, prog);
    for (size_t i = 0; rc == CLI_OK && i < spec->n_rules; i++)
        rc = s_check_rule(spec, &spec->rules[i], res, prog);
    return rc;
}

bool cliopt_given(const cliopt_spec *spec, const cliopt_result *res, const char *name)
{
    int i = s_find(spec, name, strlen(name));
    return i >= 0 && (res->given >> i & 1);
}

/* ---- --help ---- */

/* Writes text word-wrapped from column col to S_HELP_WIDTH, continuing at indent. */
static void s_wrap(FILE *out, const char *text, size_t col, size_t indent)
{
    const char *p = text;
    while (*p) {
        if (*p == '\n') {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
            p++;
            continue;
        }
        size_t word = strcspn(p, " \n");
        if (col > indent && col + 1 + word > S_HELP_WIDTH) {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fwrite(p, 1, word, out);
        col += word;
        p += word;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

/* Appends printf output to buf (len bytes) at *used, cutting it short at the end. */
__attribute__((format(printf, 4, 5))) static void s_append(char *buf, size_t len, size_t *used,
                                                           const char *fmt, ...)
{
    if (*used >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t)n < len ? *used + (size_t)n : len;
}

/* The synopsis made from the table: required rows, exactly-one groups, [options], operands. */
static void s_make_synopsis(const cliopt_spec *spec, char *buf, size_t len)
{
    size_t used = 0;
    bool optional = false;
    buf[0] = '\0';
    for (size_t i = 0; i < spec->n_opts; i++) {
        const cliopt *r = &spec->opts[i];
        if (!cliopt_row_listed(r))
            continue;
        if (r->flags & CLIOPT_REQUIRED)
            s_append(buf, len, &used, "%s--%s%s%s", used ? " " : "", r->name, r->metavar ? " " : "",
                     r->metavar ? r->metavar : "");
        else
            optional = true;
    }
    for (size_t k = 0; k < spec->n_rules; k++) {
        if (spec->rules[k].kind != CLIOPT_EXACTLY_ONE)
            continue;
        s_append(buf, len, &used, "%s(", used ? " " : "");
        const char *p = spec->rules[k].names;
        for (bool first = true; *p; first = false) {
            size_t l = strcspn(p, " ");
            int i = s_find(spec, p, l);
            const char *mv = i >= 0 ? spec->opts[i].metavar : NULL;
            s_append(buf, len, &used, "%s--%.*s%s%s", first ? "" : " | ", (int)l, p, mv ? " " : "",
                     mv ? mv : "");
            p += l + (p[l] == ' ');
        }
        s_append(buf, len, &used, ")");
    }
    if (optional)
        s_append(buf, len, &used, "%s[options]", used ? " " : "");
    if (spec->operands)
        s_append(buf, len, &used, spec->min_operands ? "%s%s" : "%s[%s]", used ? " " : "",
                 spec->operands);
}

bool cliopt_synopsis_line(const cliopt_spec *spec, size_t i, char *buf, size_t len)
{
    if (len == 0)
        return false;
    if (!spec->synopsis) {
        if (i == 0)
            s_make_synopsis(spec, buf, len);
        return i == 0;
    }
    const char *p = spec->synopsis;
    for (size_t k = 0; *p; k++) {
        size_t l = strcspn(p, "\n");
        if (k == i) {
            snprintf(buf, len, "%.*s", (int)l, p);
            return true;
        }
        p += l + (p[l] == '\n');
    }
    return false;
}

bool cliopt_row_listed(const cliopt *r)
{
    return !(r->flags & (CLIOPT_DEPRECATED | CLIOPT_HIDDEN));
}

const char *cliopt_row_label(const cliopt *r, char *buf, size_t len)
{
    snprintf(buf, len, "--%s%s%s", r->name, r->metavar ? " " : "", r->metavar ? r->metavar : "");
    return buf;
}

const char *cliopt_row_help(const cliopt *r, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s%s", r->help ? r->help : "",
             r->flags & CLIOPT_REQUIRED ? " (required)" : "", r->def ? " (default: " : "",
             r->def ? r->def : "", r->def ? ")" : "");
    return buf;
}

static void s_print_option(FILE *out, const cliopt *r)
{
    char left[136], label[128], help[1024];
    snprintf(left, sizeof left, "  %s", cliopt_row_label(r, label, sizeof label));
    cliopt_row_help(r, help, sizeof help);
    fputs(left, out);
    size_t col = strlen(left);
    if (col + 2 > S_HELP_COLUMN) {
        fprintf(out, "\n%*s", S_HELP_COLUMN, "");
        col = S_HELP_COLUMN;
    } else {
        fprintf(out, "%*s", (int)(S_HELP_COLUMN - col), "");
        col = S_HELP_COLUMN;
    }
    s_wrap(out, help, col, S_HELP_COLUMN);
}

bool cliopt_old_spelling(const cliopt_spec *spec, size_t i, char *old, size_t old_len, char *now,
                         size_t now_len)
{
    const cliopt *r = &spec->opts[i];
    int to;
    if ((r->flags & CLIOPT_DEPRECATED) && r->alias_of) {
        to = s_find(spec, r->alias_of, strlen(r->alias_of));
        const char *mv = to >= 0 ? spec->opts[to].metavar : NULL;
        snprintf(old, old_len, "--%s%s%s", r->name, mv ? " " : "", mv ? mv : "");
        snprintf(now, now_len, "--%s%s%s", r->alias_of, mv ? " " : "", mv ? mv : "");
    } else if (r->old_with_value) {
        to = s_find(spec, r->old_with_value, strlen(r->old_with_value));
        const char *mv = to >= 0 ? spec->opts[to].metavar : "VALUE";
        snprintf(old, old_len, "--%s %s", r->name, mv);
        snprintf(now, now_len, "--%s %s", r->old_with_value, mv);
    } else if (r->old_without_value) {
        snprintf(old, old_len, "--%s (without %s)", r->name, r->metavar);
        snprintf(now, now_len, "--%s %s", r->name, r->metavar);
    } else {
        return false;
    }
    return true;
}

/* The old spellings of the table, one line each ("" if there are none). */
static void s_print_old(FILE *out, const cliopt_spec *spec)
{
    bool any = false;
    for (size_t i = 0; i < spec->n_opts; i++) {
        char left[128], right[128];
        if (!cliopt_old_spelling(spec, i, left, sizeof left, right, sizeof right))
            continue;
        if (!any)
            fputs("\nOld spellings, accepted with a warning until the next release:\n", out);
        any = true;
        if (strlen(left) + 3 > S_HELP_COLUMN)
            fprintf(out, "  %s\n%*snow %s\n", left, S_HELP_COLUMN, "", right);
        else
            fprintf(out, "  %-*s now %s\n", S_HELP_COLUMN - 3, left, right);
    }
}

void cliopt_print_help(FILE *out, const char *prog, const cliopt_spec *spec)
{
    char line[1024];
    for (size_t i = 0; cliopt_synopsis_line(spec, i, line, sizeof line); i++)
        fprintf(out, "%s %s%s%s\n", i == 0 ? "Usage:" : "   or:", prog, *line ? " " : "", line);
    if (spec->description) {
        fputc('\n', out);
        for (const char *p = spec->description; *p;) {
            const char *end = strstr(p, "\n\n");
            size_t l = end ? (size_t)(end - p) : strlen(p);
            char para[2048];
            snprintf(para, sizeof para, "%.*s", (int)l, p);
            for (char *q = para; *q; q++)
                if (*q == '\n')
                    *q = ' '; /* a paragraph is re-wrapped */
            s_wrap(out, para, 0, 0);
            p += l;
            if (*p) {
                fputc('\n', out);
                p += 2;
            }
        }
    }
    fputs("\nOptions:\n", out);
    for (size_t i = 0; i < spec->n_opts; i++)
        if (cliopt_row_listed(&spec->opts[i]))
            s_print_option(out, &spec->opts[i]);
    fprintf(out, "  %-*s show this help\n", S_HELP_COLUMN - 3, "-h, --help");
    if (spec->notes) {
        fputc('\n', out);
        fputs(spec->notes, out);
        if (spec->notes[strlen(spec->notes) - 1] != '\n')
            fputc('\n', out);
    }
    s_print_old(out, spec);
}

/* ---- checking tables ---- */

/* A problem: one line to err; returns 1. */
__attribute__((format(printf, 2, 3))) static int s_problem(FILE *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(err, fmt, ap);
        va_end(ap);
        fputc('\n', err);
    }
    return 1;
}

static int s_check_row_names(const cliopt_spec *spec, const cliopt *r, FILE *err)
{
    int n = 0;
    const char *refs[] = {r->alias_of, r->old_with_value, r->old_without_value};
    for (size_t k = 0; k < sizeof refs / sizeof refs[0]; k++)
        if (refs[k] && s_find(spec, refs[k], strlen(refs[k])) < 0)
            n += s_problem(err, "--%s names an unknown row '%s'", r->name, refs[k]);
    if (r->old_without_value) {
        int to = s_find(spec, r->old_without_value, strlen(r->old_without_value));
        if (to >= 0 &&
            (spec->opts[to].kind != CLIOPT_FLAG || !(spec->opts[to].flags & CLIOPT_HIDDEN)))
            n += s_problem(err, "--%s: '%s' must be a hidden FLAG row", r->name,
                           r->old_without_value);
    }
    return n;
}

static int s_check_row(const cliopt_spec *spec, size_t i, FILE *err)
{
    const cliopt *r = &spec->opts[i];
    int n = 0;
    static union {
        max_align_t align;
        char bytes[8192];
    } scratch; /* an options struct to try the default on */
    if (!r->name || strlen(r->name) >= S_NAME_MAX)
        return s_problem(err, "a row without a usable name");
    for (size_t k = 0; k < i; k++)
        if (strcmp(spec->opts[k].name, r->name) == 0)
            n += s_problem(err, "--%s is declared twice", r->name);
    n += s_check_row_names(spec, r, err);
    if (r->flags & CLIOPT_DEPRECATED)
        return n + (r->alias_of ? 0 : s_problem(err, "--%s: deprecated without alias_of", r->name));
    if (!r->help)
        n += s_problem(err, "--%s has no help", r->name);
    if ((r->kind == CLIOPT_FLAG) != (r->metavar == NULL))
        n += s_problem(err, "--%s: a metavariable goes with exactly the valued kinds", r->name);
    if (r->kind == CLIOPT_CHOICE && !r->choices)
        n += s_problem(err, "--%s: CHOICE without choices", r->name);
    if (r->kind == CLIOPT_CUSTOM && (!r->parse || !r->expect))
        n += s_problem(err, "--%s: CUSTOM needs parse and expect", r->name);
    if (r->old_with_value && r->kind != CLIOPT_FLAG)
        n += s_problem(err, "--%s: old_with_value is for FLAG rows", r->name);
    if (r->def && (r->kind == CLIOPT_CUSTOM || r->kind == CLIOPT_FLAG))
        n += s_problem(err, "--%s: defaults are for the built-in valued kinds", r->name);
    else if (r->offset + sizeof(uint64_t) > sizeof scratch.bytes)
        n += s_problem(err, "--%s: offset beyond the check's scratch struct", r->name);
    else if (r->def && s_parse_value(r, r->def, scratch.bytes) != 0)
        n += s_problem(err, "--%s: default '%s' does not parse", r->name, r->def);
    return n;
}

static int s_check_rules(const cliopt_spec *spec, FILE *err)
{
    int n = 0;
    for (size_t k = 0; k < spec->n_rules; k++) {
        int names = 0;
        for (const char *p = spec->rules[k].names; *p;) {
            size_t l = strcspn(p, " ");
            char name[S_NAME_MAX];
            snprintf(name, sizeof name, "%.*s", (int)l, p);
            if (l && s_find(spec, p, l) < 0)
                n += s_problem(err, "a rule names an unknown option '%s'", name);
            names += l > 0;
            p += l + (p[l] == ' ');
        }
        if (names < 2)
            n += s_problem(err, "a rule over fewer than two options: '%s'", spec->rules[k].names);
    }
    return n;
}

int cliopt_check_spec(const cliopt_spec *spec, FILE *err)
{
    int n = 0;
    if (spec->n_opts > CLIOPT_MAX_ROWS)
        return s_problem(err, "more than CLIOPT_MAX_ROWS rows");
    if (!spec->description)
        n += s_problem(err, "no description");
    if (spec->min_operands > spec->max_operands || (spec->max_operands && !spec->operands))
        n += s_problem(err, "operands: bad counts or no name");
    for (size_t i = 0; i < spec->n_opts && spec->max_operands; i++)
        if (spec->opts[i].old_with_value || spec->opts[i].old_without_value)
            n += s_problem(err,
                           "--%s: an old spelling told apart by the next argument needs a "
                           "command without operands",
                           spec->opts[i].name);
    for (size_t i = 0; i < spec->n_opts; i++)
        n += s_check_row(spec, i, err);
    return n + s_check_rules(spec, err);
}

/* ---- shared values ---- */

int cliopt_parse_node_id(const char *text, void *field)
{
    if (!node_id_valid(text))
        return -1;
    *(const char **)field = text;
    return 0;
}

int cliopt_parse_display_name(const char *text, void *field)
{
    if (!*text || !cert_display_valid(text))
        return -1;
    *(const char **)field = text;
    return 0;
}

int cliopt_parse_roles(const char *text, void *field)
{
    return cert_roles_parse(text, (uint32_t *)field) == ASYLINK_OK ? 0 : -1;
}

int cliopt_parse_uuid(const char *text, void *field)
{
    cliopt_uuid *u = field;
    if (uuid_parse(text, u->bytes) != ASYLINK_OK)
        return -1;
    u->text = text;
    return 0;
}
