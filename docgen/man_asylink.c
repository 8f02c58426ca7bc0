/*
 * man_asylink.c — asylink(1) from the command tree (tools/commands.c) and
 * every leaf's option table (tools/cliopt.h): the same synopses, option
 * lines, defaults, notes and old spellings --help prints, via the
 * cliopt_* helpers --help itself uses.
 */
#include "docgen.h"

#include "cli.h"
#include "cliopt.h"
#include "commands.h"

#include <string.h>

/* Full command names ("asylink ca sign") are at most this long. */
#define S_NAME_MAX 128

static void s_options(FILE *out, const cliopt_spec *spec)
{
    char help[1024];
    for (size_t i = 0; i < spec->n_opts; i++) {
        const cliopt *r = &spec->opts[i];
        if (!cliopt_row_listed(r))
            continue;
        roff_tp(out);
        roff_option_tag(out, 0, r->name, r->metavar);
        roff_text(out, cliopt_row_help(r, help, sizeof help));
        fputc('\n', out);
    }
    roff_tp(out);
    fputs("\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nshow this help\n", out);
}

static void s_old_spellings(FILE *out, const cliopt_spec *spec)
{
    bool any = false;
    char old[128], now[128];
    for (size_t i = 0; i < spec->n_opts; i++) {
        if (!cliopt_old_spelling(spec, i, old, sizeof old, now, sizeof now))
            continue;
        if (!any)
            fputs(".PP\nOld spellings, accepted with a warning until the next release:\n", out);
        any = true;
        fputs(".TP\n", out);
        roff_bold(out, old);
        fputs("\nnow ", out);
        roff_bold(out, now);
        fputc('\n', out);
    }
}

/* One leaf: synopsis, description, options, notes, old spellings. */
static void s_leaf(FILE *out, const char *name, const cli_command *c)
{
    const cliopt_spec *spec = c->spec;
    roff_subsection(out, name);
    if (!spec) {
        fputs(".PP\n", out);
        roff_text(out, c->summary);
        fputs(".\n", out);
        return;
    }
    char line[1024];
    fputs(".PP\n.nf\n", out);
    for (size_t i = 0; cliopt_synopsis_line(spec, i, line, sizeof line); i++) {
        roff_bold(out, name);
        fputc(' ', out);
        roff_text(out, line);
        fputc('\n', out);
    }
    fputs(".fi\n", out);
    if (spec->description)
        roff_paragraphs(out, spec->description);
    s_options(out, spec);
    if (spec->notes)
        roff_paragraphs(out, spec->notes);
    s_old_spellings(out, spec);
}

/* A group and everything under it, depth first. */
static void s_group(FILE *out, const char *name, const cli_command *group)
{
    if (group != &cli_root) {
        roff_subsection(out, name);
        if (group->about)
            roff_paragraphs(out, group->about);
        fputs(".PP\nSubcommands:\n", out);
        for (const cli_command *c = group->sub; c->name; c++) {
            fputs(".TP\n", out);
            roff_bold(out, c->name);
            fputc('\n', out);
            roff_text(out, c->summary);
            fputc('\n', out);
        }
    }
    for (const cli_command *c = group->sub; c->name; c++) {
        char full[S_NAME_MAX];
        snprintf(full, sizeof full, "%s %s", name, c->name);
        if (c->sub)
            s_group(out, full, c);
        else
            s_leaf(out, full, c);
    }
}

/* The list of commands with their one-line summaries, as `asylink --help` gives it. */
static void s_command_list(FILE *out)
{
    for (const cli_command *c = cli_root.sub; c->name; c++) {
        fputs(".TP\n", out);
        roff_bold(out, c->name);
        fputc('\n', out);
        roff_text(out, c->summary);
        fputc('\n', out);
    }
}

int docgen_man_asylink(FILE *out, const docgen_page *p)
{
    roff_header(out, p, cli_root.summary);
    roff_section(out, "SYNOPSIS");
    fputs(".nf\n\\fBasylink\\fR \\fIcommand\\fR [\\fIsubcommand\\fR] [\\fIoptions\\fR]\n"
          "\\fBasylink\\fR \\fIcommand\\fR \\fB\\-\\-help\\fR\n"
          "\\fBasylink help\\fR \\fIcommand\\fR [\\fIsubcommand\\fR]\n"
          "\\fBasylink \\-\\-version\\fR\n.fi\n",
          out);
    roff_section(out, "DESCRIPTION");
    roff_paragraphs(out, cli_root.about);
    fputs(".PP\nThe commands:\n", out);
    s_command_list(out);
    fputs(".PP\nEvery command takes \\fB\\-\\-help\\fR, which prints the same as its part of "
          "this page. A flag means one thing in every command: \\fB\\-\\-config\\fR names the "
          "node configuration file (",
          out);
    roff_ref_inline(out, "asylink-node.ini", "5");
    fputs("), \\fB\\-\\-json\\fR prints the result as JSON, \\fB\\-\\-timeout\\fR bounds the wait "
          "for the broker, \\fB\\-\\-wait\\fR the wait for an outcome, \\fB\\-\\-idle\\fR the "
          "wait for the next message. Message ids are printed as 8\\-4\\-4\\-4\\-12 lowercase "
          "hex, the one form asylink uses everywhere.\n",
          out);
    roff_section(out, "COMMANDS");
    s_group(out, "asylink", &cli_root);
    roff_section(out, "ENVIRONMENT");
    fputs(".TP\n.B ASYLINK_PASSPHRASE\nThe passphrase of an encrypted secret key file, when no "
          "\\fB\\-\\-passphrase\\-file\\fR is given (else it is asked for on the terminal). It "
          "is never taken from the command line.\n",
          out);
    roff_section(out, "EXIT STATUS");
    fprintf(out,
            ".TP\n.B %d\nsuccess\n.TP\n.B %d\nthe operation failed (the message on stderr names "
            "the error code, e.g. \\fBTIMEOUT\\fR, and the file, node or key concerned)\n"
            ".TP\n.B %d\nusage error\n",
            CLI_OK, CLI_FAIL, CLI_USAGE);
    roff_section(out, "SEE ALSO");
    roff_ref(out, "asylink-node.ini", "5", ",");
    roff_ref(out, "asylinkd", "8", ",");
    roff_ref(out, "asylinkd.ini", "5", "");
    fputs(".PP\nOPERATIONS.md, section 12 (the command line): docs/ in the source, "
          "/usr/share/doc/asylinkd/ in the Debian package.\n",
          out);
    return ferror(out) ? -1 : 0;
}
