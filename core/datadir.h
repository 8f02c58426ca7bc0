/*
 * datadir.h — a data directory owned by one process: created 0700 and held
 * with an exclusive flock on a lock file inside it, so a second broker or
 * client on the same directory is refused instead of corrupting it. flock
 * locks belong to the open file description, so a second open in the same
 * process conflicts too. The kernel releases the lock when its holder
 * exits, however it exits (kill -9 included): that is what lets a standby
 * broker wait for it (datadir_wait_locked). A lock counts only while
 * dir/lock_name still names the locked file: one got on a lock file that
 * was unlinked, or whose directory was moved aside or replaced, since it
 * was opened is dropped and the file path names now is opened and tried
 * instead (else a standby waiting on a moved directory's lock would open
 * the store another process holds at the path).
 */
#ifndef ASYLINK_CORE_DATADIR_H
#define ASYLINK_CORE_DATADIR_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* How often datadir_wait_locked() tries the lock, in milliseconds. */
#define DATADIR_WAIT_POLL_MS 10

/*
 * Creates dir (mode 0700) if missing, checks it is a directory, and takes
 * the lock on dir/lock_name. On success *fd holds the lock until closed.
 * Returns ASYLINK_OK, ASYLINK_E_EXISTS (held by someone else),
 * ASYLINK_E_IO, ASYLINK_E_NOMEM.
 */
int datadir_open_locked(const char *dir, const char *lock_name, int *fd);

/*
 * As datadir_open_locked(), but while another process holds the lock it
 * tries again every DATADIR_WAIT_POLL_MS until it gets it, or until *stop
 * (set by a signal handler) is non-zero: then ASYLINK_E_SHUTDOWN. Polling
 * rather than a blocking flock() so that a signal arriving just before the
 * call cannot leave the caller blocked for good. Other codes as
 * datadir_open_locked(); never ASYLINK_E_EXISTS.
 */
int datadir_wait_locked(const char *dir, const char *lock_name, const volatile sig_atomic_t *stop,
                        int *fd);

/*
 * As datadir_open_locked() (stop NULL) or datadir_wait_locked() (stop
 * non-NULL), for a file another library also opens, such as LMDB's data
 * file: dir/name is created empty (mode 0600) if missing, and a symbolic
 * link there is followed, as that library follows it. The lock is on the
 * file itself, so deleting another name in dir (the lock file) does not
 * release it.
 */
int datadir_lock_file(const char *dir, const char *name, const volatile sig_atomic_t *stop,
                      int *fd);

/*
 * As datadir_lock_file() with a stop pointer or without, but creating
 * nothing but dir/lock_name: dir must exist, else ASYLINK_E_NOT_FOUND
 * (also when it vanished while waiting). For a process that must only
 * ever take over an existing data directory (a standby broker).
 */
int datadir_lock_existing(const char *dir, const char *lock_name, const volatile sig_atomic_t *stop,
                          int *fd);

/*
 * As datadir_lock_file(), but creating nothing: dir/name must exist, else
 * ASYLINK_E_NOT_FOUND (also when it vanished while waiting).
 */
int datadir_lock_existing_file(const char *dir, const char *name, const volatile sig_atomic_t *stop,
                               int *fd);

/*
 * Whether some process holds a flock() on dir/lock_name now (read from
 * /proc/locks, without taking the lock: a probe that took it could make a
 * process starting at that moment find the directory "in use"). False
 * when the file does not exist or /proc/locks cannot be read.
 */
bool datadir_lock_held(const char *dir, const char *lock_name);

/* Below this many free bytes the file system counts as full. */
#define DATADIR_FULL_BYTES ((uint64_t)1 << 20)

/*
 * Room kept for the writes that free space (acknowledgements): a store
 * takes new data (Publishes at the broker; sends and deliveries at a
 * client) only while more than this is left, counting the free space of
 * the file system and the pages LMDB can reuse inside its file.
 */
#define DATADIR_RESERVE_BYTES ((uint64_t)2 << 20)

/*
 * Free bytes of the file system holding the open file fd (e.g. the lock
 * file), for this process (the blocks reserved for root count for root);
 * UINT64_MAX when fd is invalid or fstatvfs fails.
 */
uint64_t datadir_free_bytes(int fd);

/*
 * Whether that file system is full: fewer than DATADIR_FULL_BYTES free.
 * LMDB reports a write cut short by a full disk as EIO, not ENOSPC; this
 * tells that case from a failing device. False when unknown.
 */
bool datadir_full(int fd);

#endif
