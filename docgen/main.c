/*
 * main.c — asylink-docgen: writes one generated document (docgen.h).
 *
 *   asylink-docgen man PAGE DATE OUT       PAGE: asylink.1, asylinkd.8,
 *                                          asylinkd.ini.5, asylink-node.ini.5
 *   asylink-docgen bash-completion OUT
 *
 * Run by the build (docgen/CMakeLists.txt). OUT is written whole or not at
 * all (a temporary file renamed into place). Exit 0, 1 on failure, 2 usage.
 */
#include "docgen.h"

#include "asylink/errors.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *file;    /* "asylinkd.ini.5" */
    const char *name;    /* "asylinkd.ini" */
    const char *section; /* "5" */
    int (*write)(FILE *out, const docgen_page *p);
} s_man;

static const s_man s_pages[] = {
    {"asylink.1", "asylink", "1", docgen_man_asylink},
    {"asylinkd.8", "asylinkd", "8", docgen_man_asylinkd},
    {"asylinkd.ini.5", "asylinkd.ini", "5", docgen_man_broker_ini},
    {"asylink-node.ini.5", "asylink-node.ini", "5", docgen_man_node_ini},
};

static int s_usage(void)
{
    fputs("usage: asylink-docgen man PAGE DATE OUT | bash-completion OUT\n"
          "PAGE: asylink.1, asylinkd.8, asylinkd.ini.5, asylink-node.ini.5\n",
          stderr);
    return 2;
}

/* Writes through a temporary file renamed to path on success. */
static int s_write(const char *path, const s_man *man, const docgen_page *page)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return 1;
    FILE *out = fopen(tmp, "w");
    if (!out) {
        perror(tmp);
        return 1;
    }
    int rc = man ? man->write(out, page) : docgen_bash_completion(out);
    if (fclose(out) != 0)
        rc = -1;
    if (rc != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "asylink-docgen: cannot write %s\n", path);
        remove(tmp);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "bash-completion") == 0)
        return s_write(argv[2], NULL, NULL);
    if (argc != 5 || strcmp(argv[1], "man") != 0)
        return s_usage();
    for (size_t i = 0; i < sizeof s_pages / sizeof s_pages[0]; i++) {
        if (strcmp(argv[2], s_pages[i].file) != 0)
            continue;
        docgen_page page = {.name = s_pages[i].name,
                            .section = s_pages[i].section,
                            .date = argv[3],
                            .version = asylink_version()};
        return s_write(argv[4], &s_pages[i], &page);
    }
    return s_usage();
}
