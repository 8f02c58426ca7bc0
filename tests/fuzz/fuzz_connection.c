/*
 * fuzz_connection.c — libFuzzer target: where the client library reads
 * where to connect (client/connection.c, client/client.c), from the
 * static client library. The first byte picks what the rest is (cut at
 * its first NUL where it is a C string):
 *   0  a broker_endpoint list (client_endpoints_parse): what is accepted
 *      is 1..CLIENT_MAX_ENDPOINTS distinct addresses without a control
 *      character, and the list joined again with ", " parses to the same
 *      addresses; a refusal says why in printable text (the list's bytes
 *      escaped, never echoed);
 *   1  a connection file (data_dir/connection, client_conn_read_file):
 *      what is accepted has printable text, an index within the list and
 *      a connected flag of 0 or 1; a refusal leaves *out zeroed;
 *   2  a node configuration file, then (after a NUL, if there is one) the
 *      connection file of its data directory, both in the target's
 *      scratch directory (asylink_connection_read: the node options table
 *      through core/config.c, the endpoint list, then the file; a relative
 *      data_dir is taken from the configuration's directory, so "." finds
 *      the file): a refusal is logged in one line without control
 *      characters.
 * Files are real files in a scratch directory made once per process and
 * removed at exit.
 *
 * Seed corpus: tests/fuzz/corpus/connection: lists of one and several
 * addresses (tcp names, IPv4, [IPv6], ipc), connection files as the I/O
 * thread writes them (open, closed, of an older library without start=),
 * and node configurations (examples/node.ini.example's options, data_dir
 * ".") with and without a connection file; each with its selector byte
 * in front. Regressions (tests/fuzz/regressions/connection): lists the
 * parser accepted with a control character in the host or an ipc path,
 * or UTF-8 in the host (DESIGN-CHANGES 64).
 */
#include "asylink/asylink.h"
#include "client_internal.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char s_dir[64];                 /* the scratch directory */
static char s_conn[sizeof s_dir + 16]; /* s_dir/connection */
static char s_ini[sizeof s_dir + 16];  /* s_dir/node.ini */

static void s_cleanup(void)
{
    unlink(s_conn);
    unlink(s_ini);
    rmdir(s_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 32)
        tmp = "/tmp";
    snprintf(s_dir, sizeof s_dir, "%s/fuzz_connection.XXXXXX", tmp);
    if (!mkdtemp(s_dir))
        abort();
    snprintf(s_conn, sizeof s_conn, "%s/connection", s_dir);
    snprintf(s_ini, sizeof s_ini, "%s/node.ini", s_dir);
    atexit(s_cleanup);
    return 0;
}

/* Aborts if text holds a control character or a line break. */
static void s_printable(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            abort();
}

/* Writes len bytes into path (replacing it), or removes it if data is NULL. */
static void s_file(const char *path, const uint8_t *data, size_t len)
{
    unlink(path);
    if (!data)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    if (len && write(fd, data, len) != (ssize_t)len)
        abort();
    close(fd);
}

static void s_list(const char *text)
{
    char **eps = NULL, **again = NULL, err[512] = "";
    size_t n = 0, m = 0;
    int rc = client_endpoints_parse(text, &eps, &n, err, sizeof err);
    if (rc != ASYLINK_OK) {
        if (eps || n || (rc == ASYLINK_E_INVALID_ARG && !err[0]))
            abort();
        s_printable(err);
        return;
    }
    if (!eps || n == 0 || n > CLIENT_MAX_ENDPOINTS)
        abort();
    size_t cap = n * (CLIENT_ENDPOINT_MAX + 2) + 1;
    char *joined = malloc(cap);
    if (!joined)
        abort();
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(eps[i]);
        if (len == 0 || len > CLIENT_ENDPOINT_MAX || strpbrk(eps[i], ", \t"))
            abort();
        s_printable(eps[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(eps[i], eps[j]) == 0)
                abort();
        off += (size_t)snprintf(joined + off, cap - off, "%s%s", i ? ", " : "", eps[i]);
    }
    if (client_endpoints_parse(joined, &again, &m, err, sizeof err) != ASYLINK_OK || m != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (strcmp(eps[i], again[i]) != 0)
            abort();
    free(joined);
    client_endpoints_free(&again, m);
    client_endpoints_free(&eps, n);
}

/* Aborts unless a connection read from a file is one a writer could have written. */
static void s_check_read(int rc, const asylink_connection *c)
{
    static const asylink_connection zero;
    if (rc != ASYLINK_OK) {
        if (memcmp(c, &zero, sizeof zero) != 0)
            abort();
        return;
    }
    if (!c->endpoint[0] || c->index >= c->n_endpoints || c->n_endpoints > CLIENT_MAX_ENDPOINTS ||
        (c->connected != 0 && c->connected != 1) || (c->running != 0 && c->running != 1) ||
        (!c->running && c->connected) || !memchr(c->endpoint, 0, sizeof c->endpoint) ||
        !memchr(c->broker, 0, sizeof c->broker))
        abort();
    s_printable(c->endpoint);
    s_printable(c->broker);
}

static void s_conn_file(const uint8_t *data, size_t len)
{
    asylink_connection c;
    s_file(s_conn, data, len);
    s_check_read(client_conn_read_file(s_dir, &c), &c);
}

/* The log callback of asylink_connection_read: one printable line per event. */
static void s_log(void *ctx, asylink_log_level level, const char *line)
{
    (void)level;
    (*(int *)ctx)++;
    if (!line || !line[0])
        abort();
    s_printable(line);
}

static void s_node(const uint8_t *data, size_t len)
{
    const uint8_t *nul = memchr(data, 0, len);
    size_t ini_len = nul ? (size_t)(nul - data) : len;
    s_file(s_ini, data, ini_len);
    s_file(s_conn, nul ? nul + 1 : NULL, nul ? len - ini_len - 1 : 0);
    asylink_connection c;
    int logged = 0;
    int rc = asylink_connection_read(s_ini, s_log, &logged, &c);
    if (rc == ASYLINK_E_CONFIG && logged == 0)
        abort();
    s_check_read(rc, &c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    if (data[0] % 3 == 1) {
        s_conn_file(p, len);
        return 0;
    }
    if (data[0] % 3 == 2) {
        s_node(p, len);
        return 0;
    }
    char *text = malloc(len + 1);
    if (!text)
        return 0;
    memcpy(text, p, len);
    text[len] = 0;
    s_list(text);
    free(text);
    return 0;
}
