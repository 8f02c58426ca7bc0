/*
 * test_docgen.c — the generated manual pages and completion (docgen/)
 * hold every row of the tables they are made from: every command and
 * option of the command tree, every option of asylinkd, every key of the
 * broker's and the node's configuration tables with its default; the
 * completion offers every command and option; troff escaping keeps text
 * from being read as requests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_config.h"
#include "cli.h"
#include "cliopt.h"
#include "cmdline.h"
#include "commands.h"
#include "docgen.h"
#include "node_config.h"

static const docgen_page s_page = {"x", "1", "2026-01-01", "0.0.0"};

/* What fn writes, as a NUL-terminated string (caller frees). */
static char *s_capture(int (*fn)(FILE *, const docgen_page *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fn(f, &s_page), 0);
    fclose(f);
    return buf;
}

/* text escaped for troff, as the pages write it. */
static char *s_roff(const char *text)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    roff_text(f, text);
    fclose(f);
    return buf;
}

/* The part of page from the line `.SS "title"` (escaped) to the next .SS or .SH. */
static char *s_subsection(const char *page, const char *title)
{
    char *esc = s_roff(title), head[512];
    snprintf(head, sizeof head, ".SS \"%s\"\n", esc);
    free(esc);
    const char *start = strstr(page, head);
    if (!start)
        return NULL;
    const char *body = start + strlen(head);
    const char *ss = strstr(body, "\n.SS "), *sh = strstr(body, "\n.SH ");
    const char *end = ss && (!sh || ss < sh) ? ss : sh ? sh : body + strlen(body);
    return strndup(body, (size_t)(end - body));
}

static void s_assert_contains(const char *hay, const char *needle, const char *where)
{
    if (!strstr(hay, needle))
        fail_msg("%s: \"%s\" missing", where, needle);
}

/* Every leaf of the tree under group has its subsection, with every listed option. */
static void s_check_tree(const char *page, const char *name, const cli_command *group)
{
    for (const cli_command *c = group->sub; c->name; c++) {
        char full[128];
        snprintf(full, sizeof full, "%s %s", name, c->name);
        char *section = s_subsection(page, full);
        if (!section)
            fail_msg("asylink.1: no subsection for \"%s\"", full);
        char *summary = s_roff(c->summary);
        s_assert_contains(page, summary, full); /* in the command list */
        free(summary);
        for (size_t i = 0; c->spec && i < c->spec->n_opts; i++) {
            const cliopt *r = &c->spec->opts[i];
            char want[160], help[1024];
            if (!cliopt_row_listed(r))
                continue;
            char *esc = s_roff(r->name);
            snprintf(want, sizeof want, "\\fB\\-\\-%s\\fR", esc);
            free(esc);
            s_assert_contains(section, want, full);
            esc = s_roff(cliopt_row_help(r, help, sizeof help));
            s_assert_contains(section, esc, full); /* help with default and "(required)" */
            free(esc);
        }
        free(section);
        if (c->sub)
            s_check_tree(page, full, c);
    }
}

static void test_asylink_page(void **state)
{
    (void)state;
    char *page = s_capture(docgen_man_asylink);
    assert_non_null(strstr(page, ".TH \"X\" \"1\" \"2026-01-01\" \"asylink 0.0.0\""));
    s_check_tree(page, "asylink", &cli_root);
    /* Old spellings are documented with what replaces them. */
    char *send = s_subsection(page, "asylink send");
    s_assert_contains(send, "\\fB\\-\\-json\\-output\\fR\nnow \\fB\\-\\-json\\fR", "send");
    free(send);
    free(page);
}

static void test_asylinkd_page(void **state)
{
    (void)state;
    char *page = s_capture(docgen_man_asylinkd);
    for (size_t i = 0; i < broker_cmdline_options_len; i++) {
        char want[128], *esc = s_roff(broker_cmdline_options[i].name);
        snprintf(want, sizeof want, "\\fB\\-\\-%s\\fR", esc);
        free(esc);
        s_assert_contains(page, want, "asylinkd.8");
    }
    s_assert_contains(page, ".SH \"SIGNALS\"\n.TP\n\\fBSIGHUP\\fR", "asylinkd.8");
    free(page);
}

/* Every key of table is documented in its section with its default. */
static void s_check_keys(const char *page, const config_option *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const config_option *o = &table[i];
        char title[80], want[256];
        snprintf(title, sizeof title, "[%s]", o->section);
        char *section = s_subsection(page, title);
        if (!section)
            fail_msg("no subsection %s", title);
        char *esc = s_roff(o->name);
        snprintf(want, sizeof want, ".TP\n\\fB%s\\fR = \\fI%s\\fR\n", esc,
                 config_type_name(o->type));
        free(esc);
        s_assert_contains(section, want, title);
        if (o->default_value && *o->default_value) {
            esc = s_roff(o->default_value);
            snprintf(want, sizeof want, "Default: \\fB%s\\fR.", esc);
            free(esc);
        } else {
            snprintf(want, sizeof want, "%s", o->default_value ? "Default: " : "Required.");
        }
        s_assert_contains(section, want, o->name);
        free(section);
    }
}

static void test_config_pages(void **state)
{
    (void)state;
    char *page = s_capture(docgen_man_broker_ini);
    s_check_keys(page, broker_config_options, broker_config_options_len);
    s_assert_contains(page, "Range 1 .. 256.", "max_recipients");
    s_assert_contains(page, "One of fsync, relaxed.", "durability");
    s_assert_contains(page, ".SH \"RULES BETWEEN KEYS\"", "asylinkd.ini.5");
    free(page);
    page = s_capture(docgen_man_node_ini);
    s_check_keys(page, client_node_options, client_node_options_len);
    assert_true(client_node_options_len >= 9);
    free(page);
}

/* Every command path and every listed option is in the completion's data. */
static void s_check_completion(const char *script, const char *path, const cli_command *c)
{
    char line[256];
    snprintf(line, sizeof line, "\n    \"%s\") echo \"", path);
    s_assert_contains(script, line, path);
    const char *words = strstr(script, line) + strlen(line);
    char *end = strchr(words, '"');
    char *list = strndup(words, (size_t)(end - words));
    for (const cli_command *s = c->sub; s && s->name; s++) {
        char w[96];
        snprintf(w, sizeof w, " %s ", s->name);
        char padded[2048];
        snprintf(padded, sizeof padded, " %s ", list);
        s_assert_contains(padded, w, path);
        char sub[128];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? " " : "", s->name);
        s_check_completion(script, sub, s);
    }
    for (size_t i = 0; !c->sub && c->spec && i < c->spec->n_opts; i++) {
        if (!cliopt_row_listed(&c->spec->opts[i]))
            continue;
        char w[96], padded[2048];
        snprintf(w, sizeof w, " --%s ", c->spec->opts[i].name);
        snprintf(padded, sizeof padded, " %s ", list);
        s_assert_contains(padded, w, path);
    }
    free(list);
}

static void test_completion(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(docgen_bash_completion(f), 0);
    fclose(f);
    s_check_completion(buf, "", &cli_root);
    s_assert_contains(buf, "\"send|--class\") echo \"choice PUBLIC LIMITED PERSONAL\"", "send");
    s_assert_contains(buf, "\"send|--payload\") echo \"file\"", "send");
    s_assert_contains(buf, "\"keygen|--dir\") echo \"dir\"", "keygen");
    s_assert_contains(buf, "\n    \"cert show\") echo file ;;", "operands");
    s_assert_contains(buf, "complete -F _asylink asylink\n", "end");
    free(buf);
}

static void test_roff_escapes(void **state)
{
    (void)state;
    char *s = s_roff(".TH evil\n'also\nback\\slash and --option");
    assert_string_equal(s, "\\&.TH evil\n\\&'also\nback\\eslash and \\-\\-option");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_asylink_page), cmocka_unit_test(test_asylinkd_page),
        cmocka_unit_test(test_config_pages), cmocka_unit_test(test_completion),
        cmocka_unit_test(test_roff_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
