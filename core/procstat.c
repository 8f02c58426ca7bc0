/*
 * procstat.c — numbers from /proc/PID/stat (procstat.h).
 */
#include "procstat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool procstat_fields(long pid, int first, size_t n, uint64_t *out)
{
    char path[64], buf[1024];
    if (first < 3)
        return false;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
    if (!p)
        return false;
    p++;
    for (int field = 3; field < first; field++) { /* after ')' comes field 3 (the state) */
        p += strspn(p, " ");
        p += strcspn(p, " ");
    }
    for (size_t i = 0; i < n; i++) {
        p += strspn(p, " ");
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno || end == p || (*end != ' ' && *end != '\0' && *end != '\n'))
            return false;
        out[i] = v;
        p = end;
    }
    return true;
}
