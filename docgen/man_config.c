/*
 * man_config.c — the two configuration file pages, asylinkd.ini(5) and
 * asylink-node.ini(5), from the option tables their parsers use
 * (broker/broker_config.c; client/client.c through client/node_config.h)
 * and core/config.h's words for types, ranges and enum values.
 */
#include "docgen.h"

#include "broker_config.h"
#include "config.h"
#include "node_config.h"

#include <string.h>

/* The value syntax every asylink INI file shares (core/config.h). */
static void s_syntax(FILE *out, const char *example_error)
{
    fputs(".PP\nAn INI file: \\fB[section]\\fR headers and \\fIkey\\fR \\fB=\\fR \\fIvalue\\fR "
          "lines. A line starting with \\fB#\\fR or \\fB;\\fR is a comment, and a \\fB;\\fR "
          "after a blank starts an inline comment. A line holds at most 199 bytes. Section and "
          "key names match exactly. One pair of double quotes around a whole value is removed.\n"
          ".PP\nUnknown sections and keys, a key given twice, a value that does not parse or is "
          "out of range and a missing required key are errors; the message names the file, the "
          "line and the key, e.g.\n"
          ".PP\n.RS\n.nf\n",
          out);
    roff_text(out, example_error);
    fputs("\n.fi\n.RE\n"
          ".PP\nValue types:\n"
          ".TP\n.B string\nAny text without control characters; empty means unset or off where "
          "the key allows it.\n"
          ".TP\n.B path\nA file or directory; a relative path is relative to the directory of "
          "the configuration file, not to the working directory.\n"
          ".TP\n.B integer\nDecimal digits, an optional sign.\n"
          ".TP\n.B boolean\ntrue/false, yes/no, on/off, 1/0 (any case).\n"
          ".TP\n.B size\nBytes with an optional unit: B; KiB, MiB, GiB, TiB (powers of 1024); "
          "KB, MB, GB, TB (powers of 1000): \\fB256MiB\\fR. Bare K, M, G are refused as "
          "ambiguous.\n"
          ".TP\n.B duration\nA number with a unit, ms, s, m, h or d: \\fB30s\\fR, \\fB7d\\fR. A "
          "bare number other than 0 is refused.\n"
          ".TP\n.B enum\nOne of the listed words (any case).\n",
          out);
}

/* One key: its tag, help, and type, default and range as the example file gives them. */
static void s_key(FILE *out, const config_option *o)
{
    char range[96], enums[256];
    fputs(".TP\n", out);
    roff_bold(out, o->name);
    fputs(" = ", out);
    roff_italic(out, config_type_name(o->type));
    fputc('\n', out);
    roff_text(out, o->help ? o->help : "");
    fputc('\n', out);
    fputs(".br\n", out);
    if (o->type == CONFIG_ENUM) {
        fputs("One of ", out);
        roff_text(out, config_format_enum(o, enums, sizeof enums));
        fputs(". ", out);
    }
    if (*config_format_range(o, range, sizeof range)) {
        fputs("Range ", out);
        roff_text(out, range);
        fputs(". ", out);
    }
    if (!o->default_value) {
        fputs("Required.\n", out);
    } else {
        fputs("Default: ", out);
        roff_bold(out, *o->default_value ? o->default_value : "\"\" (empty)");
        fputs(".\n", out);
    }
}

/* Every key, grouped by section in table order. */
static void s_keys(FILE *out, const config_option *table, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= strcmp(table[j].section, table[i].section) == 0;
        if (seen)
            continue;
        char title[80];
        snprintf(title, sizeof title, "[%s]", table[i].section);
        roff_subsection(out, title);
        for (size_t j = i; j < n; j++)
            if (strcmp(table[j].section, table[i].section) == 0)
                s_key(out, &table[j]);
    }
}

/* Lines of text as an indented list, one .IP per line. */
static void s_bullets(FILE *out, const char *lines)
{
    for (const char *p = lines; *p;) {
        size_t l = strcspn(p, "\n");
        fputs(".IP \\(bu 2\n", out);
        roff_textn(out, p, l);
        fputc('\n', out);
        p += l + (p[l] == '\n');
    }
}

int docgen_man_broker_ini(FILE *out, const docgen_page *p)
{
    roff_header(out, p, "configuration file of the asylink broker");
    roff_section(out, "SYNOPSIS");
    fputs(".I /etc/asylink/asylinkd.ini\n", out);
    roff_section(out, "DESCRIPTION");
    fputs(".PP\n", out);
    roff_ref(out, "asylinkd", "8", "");
    fputs("reads one configuration file, named by \\fB\\-\\-config\\fR, at start (a change to it "
          "needs a restart; SIGHUP reloads only the trust directory, the revocation list and "
          "the policy it names). \\fBasylinkd \\-\\-print\\-example\\-config\\fR prints an "
          "example with every key; \\fBasylinkd \\-\\-config\\fR \\fIFILE\\fR "
          "\\fB\\-\\-check\\-config\\fR checks a file and what it names.\n",
          out);
    s_syntax(out, "asylinkd.ini:12: [store] map_size: expected a size like 512MiB, got \"abc\"");
    roff_section(out, "KEYS");
    s_keys(out, broker_config_options, broker_config_options_len);
    roff_section(out, "RULES BETWEEN KEYS");
    fputs(".PP\nChecked after loading; the message names the key, not a line:\n", out);
    s_bullets(out, broker_config_rules);
    roff_section(out, "SEE ALSO");
    roff_ref(out, "asylinkd", "8", ",");
    roff_ref(out, "asylink-node.ini", "5", "");
    fputs(".PP\nOPERATIONS.md, sections 3 (configuration) and 4 (the policy file): docs/ in the "
          "source, /usr/share/doc/asylinkd/ in the Debian package.\n",
          out);
    return ferror(out) ? -1 : 0;
}

int docgen_man_node_ini(FILE *out, const docgen_page *p)
{
    roff_header(out, p, "node configuration file of asylink");
    roff_section(out, "SYNOPSIS");
    fputs(".I NODE.ini\n", out);
    roff_section(out, "DESCRIPTION");
    fputs(".PP\nA national node's connection to the asylink broker: where the broker is, the "
          "node's certificate and secret key, its trust directory and its data directory (the "
          "durable outbox and inbox). The same file is read by the C library "
          "(\\fBasylink_client_open_config\\fR()), by the Python binding "
          "(\\fBasylink.Client\\fR(\\fIpath\\fR)) and by every node command of\n",
          out);
    roff_ref(out, "asylink", "1", "");
    fputs("(\\fB\\-\\-config\\fR \\fIFILE\\fR). The operator commands (\\fBasylink nodes\\fR, "
          "\\fBqueues\\fR, \\fBdlq\\fR, \\fBreload\\fR) read an operator's file of the same form "
          "and use its \\fBadmin_endpoint\\fR.\n",
          out);
    s_syntax(out, "DE.ini:7: [node] receive_window: expected an integer, got \"many\"");
    roff_section(out, "KEYS");
    s_keys(out, client_node_options, client_node_options_len);
    roff_section(out, "EXAMPLE");
    fputs(".PP\n.RS\n.nf\n[node]\nbroker_endpoint = tcp://broker.example.eu:7400\n"
          "broker_cert = trust/nodes/BROKER.EU.cert\nnode_cert = trust/nodes/DE.cert\n"
          "key_file = keys/DE.key\ntrust_dir = trust\ndata_dir = /var/lib/asylink\\-node/DE\n"
          ".fi\n.RE\n",
          out);
    roff_section(out, "SEE ALSO");
    roff_ref(out, "asylink", "1", ",");
    roff_ref(out, "asylinkd.ini", "5", "");
    fputs(".PP\nOPERATIONS.md, section 11 (the node configuration file), and asylink.h: "
          "/usr/share/doc/asylinkd/ and /usr/include/asylink/ in the Debian packages.\n",
          out);
    return ferror(out) ? -1 : 0;
}
