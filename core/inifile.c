/*
 * inifile.c — the strict, line-counting INI reader (see inifile.h).
 */
#include "inifile.h"

#include "asylink/errors.h"
#include "file.h"

#include <ctype.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void inifile_init(inifile *f, const char *path, config_error *err)
{
    memset(f, 0, sizeof *f);
    f->path = path ? path : "";
    f->err = err;
    f->code = ASYLINK_OK;
    memset(err, 0, sizeof *err);
}

void inifile_fail(inifile *f, int code, unsigned line, const char *section, const char *key,
                  const char *fmt, ...)
{
    if (f->code != ASYLINK_OK)
        return;
    f->code = code;
    va_list ap;
    va_start(ap, fmt);
    config_error_vset(f->err, f->path, line, section, key, fmt, ap);
    va_end(ap);
}

/* Reports a "[name]" line to on_section; a line without ']' is libinih's syntax error. */
static void s_header(inifile *f, const char *line)
{
    const char *end = strchr(line, ']');
    if (!f->on_section || line[0] != '[' || !end)
        return;
    char name[INI_MAX_LINE];
    size_t n = (size_t)(end - line - 1);
    memcpy(name, line + 1, n);
    name[n] = '\0';
    if (f->on_section(f, f->ctx, name) != 0 && f->code == ASYLINK_OK)
        inifile_fail(f, ASYLINK_E_CONFIG, f->line, "", "", "section not accepted");
}

/* A file over INIFILE_LIMIT: its size (when fstat() knows it) and the limit. */
static void s_fail_size(inifile *f)
{
    struct stat st;
    int fd = fileno(f->file);
    long long size = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;
    char text[160];
    inifile_fail(f, ASYLINK_E_CONFIG, f->line, "", "", "%s",
                 file_limit_text(size, INIFILE_LIMIT, "a configuration file", text, sizeof text));
}

/*
 * libinih reader: hands over one physical line per call so f->line is the
 * number of the line being parsed. Leading blanks are dropped, which also
 * keeps libinih from treating indented lines as continuations. Returns NULL
 * at end of file or after any error, which stops libinih.
 */
static char *s_read_line(char *buf, int num, void *stream)
{
    inifile *f = stream;
    size_t len = 0;
    bool any = false, nul = false, too_long = false;
    int c;
    if (f->code != ASYLINK_OK || num < 2)
        return NULL;
    while ((c = getc(f->file)) != EOF) {
        any = true;
        f->bytes++;
        if (c == '\n')
            break;
        nul |= (c == '\0');
        if (len + 1 < (size_t)num)
            buf[len++] = (char)c;
        else
            too_long = true;
    }
    if (ferror(f->file)) {
        inifile_fail(f, ASYLINK_E_IO, f->line, "", "", "read failed");
        return NULL;
    }
    if (!any)
        return NULL;
    f->line++;
    if (f->bytes > INIFILE_LIMIT)
        s_fail_size(f);
    else if (nul)
        inifile_fail(f, ASYLINK_E_CONFIG, f->line, "", "", "line contains a NUL byte");
    else if (too_long)
        inifile_fail(f, ASYLINK_E_CONFIG, f->line, "", "", "line is longer than %d bytes", num - 1);
    if (f->code != ASYLINK_OK)
        return NULL;
    buf[len] = '\0';
    size_t skip = 0;
    while (buf[skip] && isspace((unsigned char)buf[skip]))
        skip++;
    memmove(buf, buf + skip, len - skip + 1);
    s_header(f, buf);
    return f->code == ASYLINK_OK ? buf : NULL;
}

/* libinih handler: one key = value. Returns 1 to go on, 0 on error. */
static int s_on_key(void *user, const char *section, const char *key, const char *value)
{
    inifile *f = user;
    if (f->code != ASYLINK_OK)
        return 0;
    if (!key || !value)
        return 1; /* a bare section header, if libinih reports those */
    if (!*section) {
        inifile_fail(f, ASYLINK_E_CONFIG, f->line, "", key, "key outside of any [section]");
        return 0;
    }
    if (f->on_key(f, f->ctx, section, key, value) == 0)
        return 1;
    if (f->code == ASYLINK_OK) /* a callback that failed without saying why */
        inifile_fail(f, ASYLINK_E_CONFIG, f->line, section, key, "invalid");
    return 0;
}

int inifile_read(inifile *f, FILE *in, inifile_key_fn on_key, inifile_section_fn on_section,
                 void *ctx)
{
    f->file = in;
    f->on_key = on_key;
    f->on_section = on_section;
    f->ctx = ctx;
    int ret = ini_parse_stream(s_read_line, f, s_on_key, f);
    f->file = NULL;
    f->line = 0;
    if (ret == -2)
        inifile_fail(f, ASYLINK_E_NOMEM, 0, "", "", "out of memory");
    if (ret > 0 && (f->code == ASYLINK_OK || (unsigned)ret < f->err->line)) {
        /* libinih found a malformed line before any error of ours. */
        f->code = ASYLINK_OK;
        inifile_fail(f, ASYLINK_E_CONFIG, (unsigned)ret, "", "",
                     "syntax error, expected \"[section]\" or \"key = value\"");
    }
    return f->code;
}
