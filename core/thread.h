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

/*
 * Lowers the calling thread's scheduling priority by steps nice levels
 * (1..19; relative to the process's, at most 19). Linux keeps a nice value
 * per thread; elsewhere, or when refused, nothing changes. For threads whose
 * work is parallel and may wait (the broker's verify workers), so that the
 * pipeline's single threads get a core first when both are busy.
 */
void thread_lower_priority(int steps);

#endif
