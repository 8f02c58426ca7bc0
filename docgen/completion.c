/*
 * completion.c — bash completion for asylink(1) from the command tree and
 * the option tables: the commands and subcommands at each level, each
 * leaf's options, the words of CHOICE options, files for FILE values and
 * operands, directories for DIR values. The script is data (one case per
 * command) plus a small fixed function that walks COMP_WORDS; it needs
 * only bash, not the bash-completion package's helpers.
 */
#include "docgen.h"

#include "cli.h"
#include "cliopt.h"
#include "commands.h"

#include <stdbool.h>
#include <string.h>

#define S_NAME_MAX 128

/* Words the script holds unquoted must be plain: letters, digits, ".", "_", "-". */
static bool s_plain(const char *w)
{
    if (!w || !*w)
        return false;
    for (const char *p = w; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

/* How a value completes: file, dir, choice, or text (anything: nothing offered). */
static const char *s_value_kind(const cliopt *r)
{
    if (r->kind == CLIOPT_CHOICE)
        return "choice";
    if (r->metavar && strstr(r->metavar, "DIR"))
        return "dir";
    if (r->metavar && strstr(r->metavar, "FILE"))
        return "file";
    return "text";
}

/* The words after path: subcommands (groups) or options (leaves), and --help. */
static int s_words(FILE *out, const char *path, const cli_command *c)
{
    fprintf(out, "    \"%s\") echo \"", path);
    bool first = true;
    if (c->sub) {
        for (const cli_command *s = c->sub; s->name; s++) {
            if (!s_plain(s->name))
                return -1;
            fprintf(out, "%s%s", first ? "" : " ", s->name);
            first = false;
        }
    } else if (c->spec) {
        for (size_t i = 0; i < c->spec->n_opts; i++) {
            const cliopt *r = &c->spec->opts[i];
            if (!cliopt_row_listed(r))
                continue;
            if (!s_plain(r->name))
                return -1;
            fprintf(out, "%s--%s", first ? "" : " ", r->name);
            first = false;
        }
    } else if (strcmp(path, "help") == 0) {
        /* `asylink help COMMAND`: the commands. */
        for (const cli_command *s = cli_root.sub; s->name; s++)
            if (s != c) {
                fprintf(out, "%s%s", first ? "" : " ", s->name);
                first = false;
            }
    }
    fprintf(out, "%s--help%s\" ;;\n", first ? "" : " ", c == &cli_root ? " --version" : "");
    return 0;
}

/* The value kinds of a leaf's valued options. */
static int s_values(FILE *out, const char *path, const cliopt_spec *spec)
{
    for (size_t i = 0; spec && i < spec->n_opts; i++) {
        const cliopt *r = &spec->opts[i];
        if (!cliopt_row_listed(r) || r->kind == CLIOPT_FLAG)
            continue;
        fprintf(out, "    \"%s|--%s\") echo \"%s", path, r->name, s_value_kind(r));
        for (size_t k = 0; r->kind == CLIOPT_CHOICE && r->choices && r->choices[k]; k++) {
            if (!s_plain(r->choices[k]))
                return -1;
            fprintf(out, " %s", r->choices[k]);
        }
        fputs("\" ;;\n", out);
    }
    return 0;
}

/* Applies fn to every command under c (c included), depth first. */
static int s_walk(FILE *out, const char *path, const cli_command *c,
                  int (*fn)(FILE *, const char *, const cli_command *))
{
    if (fn(out, path, c) != 0)
        return -1;
    for (const cli_command *s = c->sub; s && s->name; s++) {
        char sub[S_NAME_MAX];
        int n = snprintf(sub, sizeof sub, "%s%s%s", path, *path ? " " : "", s->name);
        if (n < 0 || (size_t)n >= sizeof sub || s_walk(out, sub, s, fn) != 0)
            return -1;
    }
    return 0;
}

static int s_value_case(FILE *out, const char *path, const cli_command *c)
{
    return c->sub ? 0 : s_values(out, path, c->spec);
}

static int s_operand_case(FILE *out, const char *path, const cli_command *c)
{
    if (!c->sub && c->spec && c->spec->operands && strstr(c->spec->operands, "FILE"))
        fprintf(out, "    \"%s\") echo file ;;\n", path);
    return 0;
}

static const char s_main[] =
    "# _asylink: the completion function. It walks the words typed so far down\n"
    "# the command tree, then offers a value of the option just typed, a file\n"
    "# operand, or the next subcommands and options.\n"
    "_asylink() {\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
    "    local path=\"\" i w kind\n"
    "    COMPREPLY=()\n"
    "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
    "        w=${COMP_WORDS[i]}\n"
    "        [[ $w == -* ]] && break\n"
    "        [[ \" $(_asylink_words \"$path\") \" == *\" $w \"* ]] || break\n"
    "        path=${path:+$path }$w\n"
    "    done\n"
    "    if ((COMP_CWORD > 1)) && [[ $prev == --* ]]; then\n"
    "        kind=$(_asylink_value \"$path\" \"$prev\")\n"
    "        case $kind in\n"
    "        file) compopt -o filenames 2>/dev/null\n"
    "            mapfile -t COMPREPLY < <(compgen -f -- \"$cur\"); return 0 ;;\n"
    "        dir) compopt -o filenames 2>/dev/null\n"
    "            mapfile -t COMPREPLY < <(compgen -d -- \"$cur\"); return 0 ;;\n"
    "        choice\\ *) mapfile -t COMPREPLY < <(compgen -W \"${kind#choice }\" -- \"$cur\")\n"
    "            return 0 ;;\n"
    "        text) return 0 ;;\n"
    "        esac\n"
    "    fi\n"
    "    if [[ $cur != -* && $(_asylink_operands \"$path\") == file ]]; then\n"
    "        compopt -o filenames 2>/dev/null\n"
    "        mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
    "        return 0\n"
    "    fi\n"
    "    mapfile -t COMPREPLY < <(compgen -W \"$(_asylink_words \"$path\")\" -- \"$cur\")\n"
    "}\n"
    "complete -F _asylink asylink\n";

int docgen_bash_completion(FILE *out)
{
    fputs("# bash completion for asylink(1).\n"
          "# Generated by asylink-docgen from the command tree and option tables\n"
          "# (tools/commands.c, tools/cliopt.h); do not edit. Installed as\n"
          "# share/bash-completion/completions/asylink.\n\n"
          "# _asylink_words PATH: what may follow \"asylink PATH\".\n"
          "_asylink_words() {\n    case \"$1\" in\n",
          out);
    if (s_walk(out, "", &cli_root, s_words) != 0)
        return -1;
    fputs("    esac\n}\n\n"
          "# _asylink_value PATH OPTION: how OPTION's value completes (file, dir,\n"
          "# choice WORDS..., text); nothing for a flag.\n"
          "_asylink_value() {\n    case \"$1|$2\" in\n",
          out);
    if (s_walk(out, "", &cli_root, s_value_case) != 0)
        return -1;
    fputs("    esac\n}\n\n"
          "# _asylink_operands PATH: \"file\" if the command's operands are files.\n"
          "_asylink_operands() {\n    case \"$1\" in\n",
          out);
    s_walk(out, "", &cli_root, s_operand_case);
    fputs("    esac\n}\n\n", out);
    fputs(s_main, out);
    return ferror(out) ? -1 : 0;
}
