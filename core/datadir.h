/*
 * datadir.h — a data directory owned by one process: created 0700 and held
 * with an exclusive flock on a lock file inside it, so a second broker or
 * client on the same directory is refused instead of corrupting it. flock
 * locks belong to the open file description, so a second open in the same
 * process conflicts too. The kernel releases the lock when its holder
 * exits, however it exits (kill -9 included): that is what lets a standby
 * broker wait for it (datadir_lock() with a stop flag). A lock counts only while
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

/* How often datadir_lock() with a stop flag tries the lock, in milliseconds. */
#define DATADIR_WAIT_POLL_MS 10

/* How datadir_lock() opens dir/name: what it may create, whether it follows a link. */
enum {
    DATADIR_MKDIR = 1,  /* create dir (mode 0700) if missing; else dir must exist */
    DATADIR_CREATE = 2, /* create dir/name empty (mode 0600) if missing; else it must exist */
    /* follow a symbolic link at dir/name, as another library opening the file
       does (LMDB's data file); else a link there is refused (ASYLINK_E_IO) */
    DATADIR_FOLLOW = 4
};

/*
 * Checks dir is a directory and takes the lock on dir/name, creating what
 * flags (DATADIR_*) allow. With stop NULL it tries once (ASYLINK_E_EXISTS
 * while another process holds the lock); with stop non-NULL, while another
 * process holds it, it tries again every DATADIR_WAIT_POLL_MS until it gets
 * it, or until *stop (set by a signal handler) is non-zero: then
 * ASYLINK_E_SHUTDOWN (polling rather than a blocking flock() so that a
 * signal arriving just before the call cannot leave the caller blocked for
 * good). The lock is on the file itself: for a file another library also
 * opens (DATADIR_FOLLOW), deleting another name in dir (the lock file) does
 * not release it. On success *fd holds the lock until closed, else it is
 * -1. Returns ASYLINK_OK, ASYLINK_E_EXISTS (held by someone else; never
 * with stop), ASYLINK_E_SHUTDOWN, ASYLINK_E_NOT_FOUND (dir or dir/name
 * missing and not to be created, also when it vanished while waiting),
 * ASYLINK_E_IO (errno says why: EACCES for a file this process may not
 * open), ASYLINK_E_NOMEM.
 */
int datadir_lock(const char *dir, const char *name, unsigned flags,
                 const volatile sig_atomic_t *stop, int *fd);

/*
 * Whether some process holds a flock() on dir/lock_name now (read from
 * /proc/locks, without taking the lock: a probe that took it could make a
 * process starting at that moment find the directory "in use"). False
 * when the file does not exist or /proc/locks cannot be read.
 */
bool datadir_lock_held(const char *dir, const char *lock_name);

/*
 * Called by datadir_private() for each entry whose mode it tightened:
 * path (dir, or dir/name), its mode before and after (permission bits).
 */
typedef void (*datadir_tightened_fn)(void *arg, const char *path, unsigned before, unsigned after);

/*
 * Keeps a data directory private to the user running the process, as a
 * restore can leave it otherwise (mdb_copy creates data.mdb with mode 0666
 * less the umask, 0644 as a rule): dir itself and each of the n entries of
 * names that exists in it (followed if a symbolic link: the file that holds
 * the data counts) must be owned by this process's effective user; any
 * group or other permission bit is removed (dir to 0700, files to 0600)
 * and reported to tightened (may be NULL). Missing entries are skipped.
 * Returns ASYLINK_OK; ASYLINK_E_KEY_PERMISSIONS when an entry is owned by
 * another user (also one this process may not even open), or its mode
 * cannot be changed (*bad gets its path, *uid its owner); ASYLINK_E_IO
 * when an entry cannot be examined or is neither a directory (dir) nor a
 * regular file (the names) (*bad gets its path, errno says why when a
 * system call failed). bad may be NULL.
 */
int datadir_private(const char *dir, const char *const *names, size_t n,
                    datadir_tightened_fn tightened, void *arg, char *bad, size_t badlen,
                    unsigned *uid);

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
