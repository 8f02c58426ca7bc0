/*
 * thread.c — see thread.h.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "thread.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

void thread_name(const char *name)
{
    char cut[16];
    if (!name)
        return;
    size_t n = strnlen(name, sizeof cut - 1);
    memcpy(cut, name, n);
    cut[n] = '\0';
    (void)pthread_setname_np(pthread_self(), cut);
}

void thread_lower_priority(int steps)
{
#if defined(__linux__) && defined(SYS_gettid)
    if (steps < 1)
        return;
    if (steps > 19)
        steps = 19;
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int now = getpriority(PRIO_PROCESS, tid); /* -1 is a valid value: errno tells */
    if (now == -1 && errno != 0)
        return;
    int want = now + steps > 19 ? 19 : now + steps;
    (void)setpriority(PRIO_PROCESS, tid, want);
#else
    (void)steps;
#endif
}
