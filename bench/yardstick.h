/*
 * yardstick.h — what a benchmark run measures about the machine before it
 * measures asylink, so that figures from different days and machines (which
 * differ by 2x and more) can be compared as ratios: the Ed25519
 * verification rate of one core (the cost the broker and readers pay per
 * signature) and the time of a 4 KiB write + fdatasync (what every durable
 * commit waits for); and, because the verification rate alone does not
 * follow what the kernel costs on a given day (on one VM the broker's CPU
 * per message rose by half within two hours at the same verification
 * rate), two kernel-bound ones: a thread wake-up round trip (what every
 * hand-off between the library's and the broker's threads pays) and a
 * 4 KiB pwrite of a new page into the page cache (what every page a commit
 * writes pays before its fdatasync). Header-only; used by bench_broker and
 * bench_client.
 */
#ifndef ASYLINK_BENCH_YARDSTICK_H
#define ASYLINK_BENCH_YARDSTICK_H

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct {
    double verify_per_s;      /* Ed25519 verifications per second of this thread's CPU time:
                                 the fastest of YARDSTICK_VERIFY_BLOCKS blocks */
    double verify_median_per_s; /* the blocks' median */
    double verify_min_per_s;    /* the slowest block */
    double verify_per_wall_s; /* all blocks per second of wall time (less on a busy machine) */
    double fsync_mean_ms, fsync_p50_ms, fsync_p99_ms; /* 4 KiB pwrite + fdatasync */
    double wakeup_rtt_p50_us, wakeup_rtt_p99_us;      /* two threads, a pipe each way */
    double pwrite_p50_us;                             /* 4 KiB into a new page, no sync */
    double fault_anon_us; /* first touch of a fresh anonymous page (malloc'd buffers) */
    double fault_file_us; /* first read of a cached file page through a map (LMDB's reads) */
} yardstick;

static inline double yardstick_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline double yardstick_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int yardstick_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The other end of the wake-up round trip: echoes each byte from fds[0] to fds[1]. */
static inline void *yardstick_echo(void *arg)
{
    const int *fds = arg;
    char b;
    while (read(fds[0], &b, 1) == 1 && b != 'q')
        if (write(fds[1], &b, 1) != 1)
            break;
    return NULL;
}

/* Median and p99 of n samples (sorted in place). */
static inline void yardstick_p50_p99(double *v, int n, double *p50, double *p99)
{
    if (n <= 0)
        return;
    qsort(v, (size_t)n, sizeof v[0], yardstick_cmp);
    *p50 = v[n / 2];
    *p99 = v[(size_t)((n - 1) * 0.99)];
}

/*
 * Microseconds per page fault: the fastest of 8 rounds, each touching 512
 * pages once. fd >= 0: pages of that file (len bytes, in the page cache),
 * read through a shared map; else fresh anonymous pages, written. Page
 * faults are what the broker pays for every store page it reads after a
 * release (store_release_pages()) and for every fresh buffer; on a VM whose
 * page tables are kept by the hypervisor they cost several times more than
 * on another at the same verification rate. 0 where it could not run.
 */
static inline double yardstick_fault_us(int fd, size_t len)
{
    enum { PAGES = 512, ROUNDS = 8 };
    size_t bytes = (size_t)PAGES * 4096;
    double best = 0;
    if (fd >= 0 && len < bytes)
        return 0;
    for (int r = 0; r < ROUNDS; r++) {
        volatile uint8_t *p =
            fd >= 0 ? mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0)
                    : mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 0;
        double s = yardstick_now_s();
        for (size_t i = 0; i < bytes; i += 4096) {
            if (fd >= 0)
                (void)p[i]; /* volatile: a read the compiler keeps */
            else
                p[i] = 1;
        }
        double us = (yardstick_now_s() - s) * 1e6 / PAGES;
        munmap((void *)p, bytes);
        if (best == 0 || us < best)
            best = us;
    }
    return best;
}

/* The kernel-bound yardsticks (about 0.1 s); zero where they could not run. */
static inline void yardstick_kernel(yardstick *y, const char *dir)
{
    enum { N = 2000 };
    double *us = malloc(N * sizeof *us);
    if (!us)
        return;
    int to[2], from[2], n = 0;
    if (pipe(to) == 0) {
        if (pipe(from) == 0) {
            int echo_fds[2] = {to[0], from[1]};
            pthread_t t;
            if (pthread_create(&t, NULL, yardstick_echo, echo_fds) == 0) {
                char b = 'x';
                for (; n < N; n++) {
                    double s = yardstick_now_s();
                    if (write(to[1], &b, 1) != 1 || read(from[0], &b, 1) != 1)
                        break;
                    us[n] = (yardstick_now_s() - s) * 1e6;
                }
                b = 'q';
                if (write(to[1], &b, 1) == 1)
                    pthread_join(t, NULL);
                else
                    pthread_detach(t);
            }
            close(from[0]);
            close(from[1]);
        }
        close(to[0]);
        close(to[1]);
    }
    if (n == N)
        yardstick_p50_p99(us, n, &y->wakeup_rtt_p50_us, &y->wakeup_rtt_p99_us);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/pwrite-probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    uint8_t page[4096];
    memset(page, 0x5a, sizeof page);
    n = 0;
    for (; fd >= 0 && n < N; n++) {
        double s = yardstick_now_s();
        if (pwrite(fd, page, sizeof page, (off_t)n * (off_t)sizeof page) != (ssize_t)sizeof page)
            break;
        us[n] = (yardstick_now_s() - s) * 1e6;
    }
    if (fd >= 0) {
        int rfd = open(path, O_RDONLY);
        y->fault_file_us = yardstick_fault_us(rfd, (size_t)n * sizeof page);
        if (rfd >= 0)
            close(rfd);
        close(fd);
    }
    unlink(path);
    y->fault_anon_us = yardstick_fault_us(-1, 0);
    double p99 = 0;
    if (n == N)
        yardstick_p50_p99(us, n, &y->pwrite_p50_us, &p99);
    free(us);
}

#define YARDSTICK_VERIFY_BLOCKS 10

/* The verification rates of y (fastest, median and slowest block, and per
   wall-clock second) from YARDSTICK_VERIFY_BLOCKS blocks of 300; all zero if
   a verification failed. About 0.12 s. */
static inline void yardstick_verify(yardstick *y)
{
    uint8_t pk[32], sk[64], sig[64], msg[64] = {0};
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    enum { PER_BLOCK = 300 };
    double rate[YARDSTICK_VERIFY_BLOCKS];
    int bad = 0, blocks = 0;
    double t0 = yardstick_now_s();
    for (; blocks < YARDSTICK_VERIFY_BLOCKS; blocks++) {
        double c0 = yardstick_cpu_s();
        for (int i = 0; i < PER_BLOCK; i++)
            bad += crypto_sign_verify_detached(sig, msg, sizeof msg, pk) != 0;
        double dc = yardstick_cpu_s() - c0;
        rate[blocks] = dc > 0 ? PER_BLOCK / dc : 0;
    }
    double dt = yardstick_now_s() - t0;
    qsort(rate, (size_t)blocks, sizeof rate[0], yardstick_cmp);
    y->verify_per_s = !bad ? rate[blocks - 1] : 0;
    y->verify_median_per_s = !bad ? rate[blocks / 2] : 0;
    y->verify_min_per_s = !bad ? rate[0] : 0;
    y->verify_per_wall_s = dt > 0 && !bad ? blocks * PER_BLOCK / dt : 0;
}

/*
 * The verification rate a run's ratios are taken against: the faster of
 * the one measured before the run (before_per_s) and one measured again
 * now, after it; the second is stored in *after_per_s. A core that ran
 * slower throughout the first measurement (it happens for a second or more
 * on a shared VM) would otherwise make that run's ratios too high: the
 * slower reading is the disturbed one, the faster what the core does.
 */
static inline double yardstick_verify_base(double before_per_s, double *after_per_s)
{
    yardstick y = {0};
    yardstick_verify(&y);
    *after_per_s = y.verify_per_s;
    return y.verify_per_s > before_per_s ? y.verify_per_s : before_per_s;
}

/* yardstick_verify_base() for a result line: prints " ed25519_verify_after_per_s=A
   ed25519_verify_base_per_s=B" and returns B, the rate the line's ratios are taken to. */
static inline double yardstick_print_base(double before_per_s)
{
    double after = 0, base = yardstick_verify_base(before_per_s, &after);
    printf(" ed25519_verify_after_per_s=%.0f ed25519_verify_base_per_s=%.0f", after, base);
    return base;
}

/*
 * Measures the yardsticks (about 1 s: 3,000 verifications, 200 synced
 * writes in dir) and prints one line "yardstick ed25519_verify_per_s=N
 * ed25519_verify_median_per_s=M ed25519_verify_min_per_s=L
 * ed25519_verify_per_wall_s=W fsync_ms=MEAN fsync_p50_ms=P50
 * fsync_p99_ms=P99 wakeup_rtt_p50_us=R wakeup_rtt_p99_us=R99
 * pwrite_4k_p50_us=W fault_anon_us=A fault_file_us=F" to stdout. The
 * verification rate is counted against
 * this thread's CPU time, so that it measures the core and not how busy
 * the machine is: a shared machine gives a run less than whole cores, and
 * the wall-clock rate (also printed) then falls with it. It is the fastest
 * of YARDSTICK_VERIFY_BLOCKS blocks of 300: on the project's shared VM a
 * single block of 3,000 read 15-20k instead of 24k in about one run in ten
 * (2026-12-06; the kernel counted almost no steal time, so the core itself
 * ran slower for a while), which made that run's ratios a third too high.
 * The fastest block is what the core does; the median and the slowest are
 * printed beside it, so a yardstick disturbed throughout still shows, and
 * the programs measure the rate again after each run and take their ratios
 * to the faster reading (yardstick_verify_base()).
 */
static inline yardstick yardstick_measure(const char *dir)
{
    yardstick y = {0};
    yardstick_verify(&y);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/fsync-probe", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    enum { M = 200 };
    double ms[M], sum = 0;
    uint8_t page[4096] = {0};
    int done = 0;
    for (; fd >= 0 && done < M; done++) {
        double s = yardstick_now_s();
        if (pwrite(fd, page, sizeof page, (off_t)(done % 16) * (off_t)sizeof page) !=
                (ssize_t)sizeof page ||
            fdatasync(fd) != 0)
            break;
        ms[done] = (yardstick_now_s() - s) * 1000;
        sum += ms[done];
    }
    if (fd >= 0)
        close(fd);
    unlink(path);
    if (done > 0) {
        qsort(ms, (size_t)done, sizeof ms[0], yardstick_cmp);
        y.fsync_mean_ms = sum / done;
        y.fsync_p50_ms = ms[done / 2];
        y.fsync_p99_ms = ms[(size_t)((done - 1) * 0.99)];
    }
    yardstick_kernel(&y, dir);
    printf("yardstick ed25519_verify_per_s=%.0f ed25519_verify_median_per_s=%.0f "
           "ed25519_verify_min_per_s=%.0f ed25519_verify_per_wall_s=%.0f fsync_ms=%.3f "
           "fsync_p50_ms=%.3f fsync_p99_ms=%.3f wakeup_rtt_p50_us=%.1f wakeup_rtt_p99_us=%.1f "
           "pwrite_4k_p50_us=%.1f fault_anon_us=%.2f fault_file_us=%.2f%s\n",
           y.verify_per_s, y.verify_median_per_s, y.verify_min_per_s, y.verify_per_wall_s,
           y.fsync_mean_ms, y.fsync_p50_ms, y.fsync_p99_ms, y.wakeup_rtt_p50_us,
           y.wakeup_rtt_p99_us, y.pwrite_p50_us, y.fault_anon_us, y.fault_file_us,
           done < M ? " fsync_failed" : "");
    fflush(stdout);
    return y;
}

#endif
