#include <time.h>
#include <stdio.h>
#include <stdlib.h>
static inline double dbg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
#define DBG_N 100000
typedef struct {
    double v[DBG_N];
    long n;
    const char *name;
} dbg_hist;
static inline void dbg_add(dbg_hist *h, double x)
{
    if (h->n < DBG_N)
        h->v[h->n++] = x;
}
static int dbg_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static inline void dbg_print(dbg_hist *h)
{
    if (h->n < 10)
        return;
    qsort(h->v, h->n, sizeof(double), dbg_cmp);
    fprintf(stderr, "DBG %s n=%ld p50=%.3f p90=%.3f p99=%.3f\n", h->name, h->n, h->v[h->n / 2],
            h->v[h->n * 9 / 10], h->v[h->n * 99 / 100]);
    h->n = 0;
}
