/*
 * bench_envelope.c — cost of sealing, verifying and opening envelopes on
 * this machine: 1 KiB to 1, 2 and 27 recipients, and 16 MiB to one. A
 * program, never a timed test. Usage: bench_envelope [ITERATIONS], or
 * bench_envelope --help.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "asylink/asylink.h"
#include "cert.h"
#include "clock.h"
#include "envelope.h"
#include "keys.h"
#include "testfed.h"
#include "trust.h"

#define NODES 28

typedef struct {
    testfed *t;               /* CA, nodes, trust directory (tests/support/testfed.h) */
    keys_secret *keys[NODES]; /* borrowed from t */
    cert *certs[NODES];       /* borrowed from t */
    const char *ids[NODES];   /* borrowed from t */
    trust *trust;             /* borrowed from t */
} s_fed;

static void s_die(const char *what, int rc)
{
    fprintf(stderr, "bench_envelope: %s: %s\n", what, asylink_strerror(rc));
    exit(1);
}

static void s_fed_init(s_fed *f)
{
    testfed_params p = {.ca_id = "BENCH.CA", .ca_name = "bench CA"};
    int rc = testfed_new(&p, &f->t);
    if (rc)
        s_die("federation", rc);
    for (int i = 0; i < NODES; i++) {
        char id[8];
        testfed_node *n = NULL;
        snprintf(id, sizeof id, "N%02d", i);
        if ((rc = testfed_add(f->t, id, NULL, CERT_ROLE_BIT(CERT_ROLE_MEMBER_STATE), &n)))
            s_die("node cert", rc);
        f->keys[i] = n->keys;
        f->certs[i] = n->cert;
        f->ids[i] = n->id;
    }
    if ((rc = testfed_write_trust(f->t)))
        s_die("trust", rc);
    f->trust = f->t->trust;
}

/* One workload: n_rcpt recipients, len bytes, iters rounds. */
static void s_run(s_fed *f, size_t n_rcpt, size_t len, int iters)
{
    const char *to[NODES];
    const cert *readers[NODES];
    for (size_t i = 0; i < n_rcpt; i++) {
        to[i] = f->ids[i + 1];
        readers[i] = f->certs[i + 1];
    }
    envelope_sealer *s = NULL;
    envelope_opener *op = NULL;
    envelope_sealer_new(f->keys[0], f->ids[0], f->certs[0]->serial, NULL, NULL, &s);
    envelope_opener_new(f->keys[1], f->ids[1], &op);
    envelope_params p = {.recipients = to,
                         .n_recipients = n_rcpt,
                         .readers = readers,
                         .n_readers = n_rcpt,
                         .content_type = "asylink.v1.MonthlyStatistics",
                         .classification = ENVELOPE_LIMITED};
    uint8_t *payload = malloc(len);
    randombytes_buf(payload, len);
    uint8_t *env = NULL;
    size_t env_len = 0;
    uint64_t seal_ns = 0, verify_ns = 0, open_ns = 0;
    for (int i = 0; i < iters; i++) {
        uint64_t t0 = clock_mono_ns();
        int rc = envelope_seal(s, &p, payload, len, &env, &env_len, NULL);
        uint64_t t1 = clock_mono_ns();
        envelope *e = NULL;
        if (rc || (rc = envelope_decode(env, env_len, 0, &e)) ||
            (rc = envelope_verify(e, f->trust, clock_now_ms(), NULL)))
            s_die("seal/verify", rc);
        uint64_t t2 = clock_mono_ns();
        uint8_t *pt = NULL;
        size_t pt_len = 0;
        if ((rc = envelope_open(op, e, &pt, &pt_len)))
            s_die("open", rc);
        uint64_t t3 = clock_mono_ns();
        seal_ns += t1 - t0;
        verify_ns += t2 - t1;
        open_ns += t3 - t2;
        envelope_payload_free(pt, pt_len);
        envelope_destroy(&e);
        free(env);
    }
    double mb = (double)len / (1024.0 * 1024.0);
    printf("payload=%-9zu recipients=%-3zu iters=%-6d seal=%10.1f us  decode+verify=%10.1f us"
           "  open=%10.1f us  seal_rate=%9.0f/s  seal_MBps=%7.1f\n",
           len, n_rcpt, iters, seal_ns / 1e3 / iters, verify_ns / 1e3 / iters,
           open_ns / 1e3 / iters, iters / (seal_ns / 1e9), mb * iters / (seal_ns / 1e9));
    free(payload);
    envelope_sealer_destroy(&s);
    envelope_opener_destroy(&op);
}

#define ITERS_DEFAULT 20000
#define ITERS_MAX 100000000

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: bench_envelope [ITERATIONS]\n\n"
            "Seal, decode+verify and open costs of one envelope on one core: 1 KiB to 1 and 2\n"
            "recipients (ITERATIONS times), to 27 (ITERATIONS/10), 16 MiB to one (20 times).\n\n"
            "  ITERATIONS  1..%d (default %d)\n"
            "  -h, --help  this text\n",
            ITERS_MAX, ITERS_DEFAULT);
}

int main(int argc, char **argv)
{
    int iters = ITERS_DEFAULT;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        s_usage(stdout);
        return 0;
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "bench_envelope: %s '%s'\n",
                argc > 2 ? "unexpected argument" : "unrecognized option", argv[argc > 2 ? 2 : 1]);
        s_usage(stderr);
        return 2;
    }
    if (argc == 2) {
        char *end = NULL;
        errno = 0;
        long n = strtol(argv[1], &end, 10);
        if (errno || end == argv[1] || *end || n < 1 || n > ITERS_MAX) {
            fprintf(stderr, "bench_envelope: ITERATIONS: expected an integer 1..%d, got \"%s\"\n",
                    ITERS_MAX, argv[1]);
            s_usage(stderr);
            return 2;
        }
        iters = (int)n;
    }
    if (sodium_init() < 0)
        return 1;
    s_fed f = {0};
    s_fed_init(&f);
    printf("asylink %s envelope costs (one core, libsodium %s)\n", asylink_version(),
           sodium_version_string());
    s_run(&f, 1, 1024, iters);
    s_run(&f, 2, 1024, iters);
    s_run(&f, 27, 1024, iters / 10 > 0 ? iters / 10 : 1);
    s_run(&f, 1, 16u * 1024 * 1024, 20);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss=%ld KiB\n", ru.ru_maxrss);
    testfed_destroy(&f.t);
    return 0;
}
