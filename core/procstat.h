/*
 * procstat.h — numbers from /proc/PID/stat (proc(5)): a process's start
 * time (field 22), its user and system CPU time (fields 14 and 15). Read by
 * the library (is the PID in a connection file still that client?) and by
 * the benchmark programs (the broker's CPU time).
 *
 * Threading: no state; thread-safe.
 */
#ifndef ASYLINK_CORE_PROCSTAT_H
#define ASYLINK_CORE_PROCSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Reads n consecutive numeric fields of /proc/PID/stat, the first being
 * field number `first` as proc(5) counts them (first >= 3: the fields after
 * the command name, which may hold spaces and ')'), into out. False if the
 * file cannot be read or a field is missing or not a number.
 */
bool procstat_fields(long pid, int first, size_t n, uint64_t *out);

#endif
