/*
 * thread.h — naming the calling thread, so that `top -H`, `ps -L`, perf
 * and gdb tell the broker's and the library's threads apart.
 */
#ifndef ASYLINK_CORE_THREAD_H
#define ASYLINK_CORE_THREAD_H

/*
 * Names the calling thread (Linux: at most 15 bytes are kept, longer names
 * are cut). Best effort: a failure changes nothing else.
 */
void thread_name(const char *name);

#endif
