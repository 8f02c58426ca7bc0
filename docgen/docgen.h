/*
 * docgen.h — asylink-docgen: the manual pages and the bash completion,
 * generated at build time from the tables that drive the programs
 * themselves, so that they cannot drift from what the programs accept:
 *
 *   asylink(1)            the command tree (tools/commands.c) and each
 *                         command's option table (tools/cliopt.h)
 *   asylinkd(8)           asylinkd's options table (broker/cmdline.h)
 *   asylinkd.ini(5)       the broker's configuration table
 *                         (broker/broker_config.c, core/config.h)
 *   asylink-node.ini(5)   the node configuration file's table (client/client.c,
 *                         client/node_config.h)
 *   bash completion       the command tree and option tables again
 *
 * Only the prose around the tables (what a file is for, where it lives,
 * environment, exit codes) is written here.
 *
 * roff_* write troff for the man(7) macros; every text from a table goes
 * through roff_text(), which escapes what troff would interpret.
 *
 * Threading: a program of one thread; nothing here is thread-safe.
 */
#ifndef ASYLINK_DOCGEN_H
#define ASYLINK_DOCGEN_H

#include <stdio.h>

/* What every page's .TH line names. */
typedef struct docgen_page {
    const char *name;    /* "asylink" */
    const char *section; /* "1" */
    const char *date;    /* "2026-05-01" (SOURCE_DATE_EPOCH at configure time) */
    const char *version; /* "0.1.0" */
} docgen_page;

/* ---- troff (roff.c) ---- */

/* Writes text escaped for troff: backslashes, '-', and '.' or '\'' at a line start. */
void roff_text(FILE *out, const char *text);
/* As roff_text() for the first n bytes. */
void roff_textn(FILE *out, const char *text, size_t n);
/* .TH and the NAME section: "name \- what". */
void roff_header(FILE *out, const docgen_page *p, const char *what);
/* .SH TITLE / .SS TITLE (the title escaped). */
void roff_section(FILE *out, const char *title);
void roff_subsection(FILE *out, const char *title);
/* Paragraphs: text whose "\n\n" separate paragraphs, each started with .PP. */
void roff_paragraphs(FILE *out, const char *text);
/* .TP with the tag already written as troff by the caller's tag() text. */
void roff_tp(FILE *out);
/* "\fBbold\fR" and "\fIitalic\fR" of escaped text, no newline. */
void roff_bold(FILE *out, const char *text);
void roff_italic(FILE *out, const char *text);
/*
 * An option's tag: "--name METAVAR" or "-c, --name METAVAR" with the
 * option bold and the metavariable italic, then a newline.
 */
void roff_option_tag(FILE *out, char short_name, const char *name, const char *metavar);
/*
 * "asylinkd.ini(5)" as a cross reference: bold name, section in
 * parentheses: roff_ref() as a line of its own (.BR, with after glued to
 * it), roff_ref_inline() within a line.
 */
void roff_ref(FILE *out, const char *name, const char *section, const char *after);
void roff_ref_inline(FILE *out, const char *name, const char *section);

/* ---- the pages and the completion ---- */

int docgen_man_asylink(FILE *out, const docgen_page *p);    /* man_asylink.c */
int docgen_man_asylinkd(FILE *out, const docgen_page *p);   /* man_asylinkd.c */
int docgen_man_broker_ini(FILE *out, const docgen_page *p); /* man_config.c */
int docgen_man_node_ini(FILE *out, const docgen_page *p);   /* man_config.c */
int docgen_bash_completion(FILE *out);                      /* completion.c */

#endif
