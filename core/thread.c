/*
 * thread.c — see thread.h.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include "thread.h"

#include <pthread.h>
#include <string.h>

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
