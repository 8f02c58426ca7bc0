/*
 * yardstick.h — what a benchmark run measures about the machine before it
 * measures asylink, so that figures from different days and machines (which
 * differ by 2x and more) can be compared as ratios: the Ed25519
 * verification rate of one core (the cost the broker and readers pay per
 * signature) and the time of a 4 KiB write + fdatasync (what every durable
 * commit waits for). Header-only; used by bench_broker and bench_client.
 */
#ifndef ASYLINK_BENCH_YARDSTICK_H
#define ASYLINK_BENCH_YARDSTICK_H

#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    double verify_per_s;      /* Ed25519 verifications per second of this thread's CPU time */
    double verify_per_wall_s; /* the same per second of wall time (less on a busy machine) */
    double fsync_mean_ms, fsync_p50_ms, fsync_p99_ms; /* 4 KiB pwrite + fdatasync */
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

/*
 * Measures the yardsticks (about 1 s: 3,000 verifications, 200 synced
 * writes in dir) and prints one line "yardstick ed25519_verify_per_s=N
 * ed25519_verify_per_wall_s=W fsync_ms=MEAN fsync_p50_ms=P50
 * fsync_p99_ms=P99" to stdout. The verification rate is counted against
 * this thread's CPU time, so that it measures the core and not how busy
 * the machine is: a shared machine gives a run less than whole cores, and
 * the wall-clock rate (also printed) then falls with it.
 */
static inline yardstick yardstick_measure(const char *dir)
{
    yardstick y = {0};
    uint8_t pk[32], sk[64], sig[64], msg[64] = {0};
    crypto_sign_keypair(pk, sk);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    int n = 3000, bad = 0;
    double t0 = yardstick_now_s(), c0 = yardstick_cpu_s();
    for (int i = 0; i < n; i++)
        bad += crypto_sign_verify_detached(sig, msg, sizeof msg, pk) != 0;
    double dt = yardstick_now_s() - t0, dc = yardstick_cpu_s() - c0;
    y.verify_per_s = dc > 0 && !bad ? n / dc : 0;
    y.verify_per_wall_s = dt > 0 && !bad ? n / dt : 0;
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
    printf("yardstick ed25519_verify_per_s=%.0f ed25519_verify_per_wall_s=%.0f fsync_ms=%.3f "
           "fsync_p50_ms=%.3f fsync_p99_ms=%.3f%s\n",
           y.verify_per_s, y.verify_per_wall_s, y.fsync_mean_ms, y.fsync_p50_ms, y.fsync_p99_ms,
           done < M ? " fsync_failed" : "");
    fflush(stdout);
    return y;
}

#endif
