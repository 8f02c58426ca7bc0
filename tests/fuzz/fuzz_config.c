/*
 * fuzz_config.c — libFuzzer target: the broker's INI files, read by
 * core/inifile.c under core/config.c's option tables and under
 * broker/policy.c (both compiled into this target: the fuzzing build
 * holds no broker library). The first byte picks what the rest is:
 *   even  the broker's configuration (broker_config_load: its option
 *         table, which has every option type, then the rules between
 *         options);
 *   odd   the broker's access policy (policy_load).
 * A node's configuration goes through the same config_load_file() and
 * inifile reader with another table.
 * The file is a real file: a memfd, read back as /proc/self/fd/N.
 * Checks, beyond "no crash, no leak, no over-read": a refusal says why in
 * one line without control characters (text from the file is escaped);
 * a loaded policy exists, a refused one does not.
 *
 * Seed corpus: tests/fuzz/corpus/config, the example federation's
 * certs-example/broker.ini and policy.ini and a few small files (quoted,
 * indented and commented values; an empty file), each with its selector
 * byte in front.
 */
#define _GNU_SOURCE
#include "asylink/errors.h"
#include "broker_config.h"
#include "policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts if text holds a control character or a line break. */
static void s_printable(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            abort();
}

/* Writes data into a new memfd; its path in path. -1 if that failed. */
static int s_memfile(const uint8_t *data, size_t size, char *path, size_t len)
{
    int fd = memfd_create("fuzz_config", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return -1;
    }
    snprintf(path, len, "/proc/self/fd/%d", fd);
    return fd;
}

static void s_broker(const char *path)
{
    broker_config c;
    char err[512];
    if (broker_config_load(path, &c, err, sizeof err) == ASYLINK_OK) {
        broker_config_free(&c);
        return;
    }
    if (!err[0])
        abort();
    s_printable(err);
}

static void s_policy(const char *path)
{
    policy *p = NULL;
    char err[512];
    int rc = policy_load(path, &p, err, sizeof err);
    if (rc == ASYLINK_OK) {
        if (!p)
            abort();
        policy_destroy(&p);
        return;
    }
    if (p || !err[0])
        abort();
    s_printable(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char path[64];
    int fd = s_memfile(data + 1, size - 1, path, sizeof path);
    if (fd < 0)
        return 0;
    if (data[0] % 2 == 0)
        s_broker(path);
    else
        s_policy(path);
    close(fd);
    return 0;
}
