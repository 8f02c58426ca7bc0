/*
 * clock.h — wall-clock and monotonic time in milliseconds.
 */
#ifndef ASYLINK_CORE_CLOCK_H
#define ASYLINK_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Unix epoch time in milliseconds (CLOCK_REALTIME). */
static inline uint64_t clock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Monotonic time in nanoseconds, for measuring intervals. */
static inline uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The CLOCK_REALTIME time ms milliseconds from now, for pthread_cond_timedwait(). */
static inline void clock_deadline_in(long ms, struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Formats ms since the epoch as "2026-11-27T15:09:42Z" into buf (>= 21 bytes). */
static inline const char *clock_format_iso(uint64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

#endif
