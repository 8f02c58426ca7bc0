/*
 * datadir.h — a data directory owned by one process: created 0700 and held
 * with an exclusive flock on a lock file inside it, so a second broker or
 * client on the same directory is refused instead of corrupting it. flock
 * locks belong to the open file description, so a second open in the same
 * process conflicts too.
 */
#ifndef ASYLINK_CORE_DATADIR_H
#define ASYLINK_CORE_DATADIR_H

#include <stdbool.h>

/*
 * Creates dir (mode 0700) if missing, checks it is a directory, and takes
 * the lock on dir/lock_name. On success *fd holds the lock until closed.
 * Returns ASYLINK_OK, ASYLINK_E_EXISTS (held by someone else),
 * ASYLINK_E_IO, ASYLINK_E_NOMEM.
 */
int datadir_open_locked(const char *dir, const char *lock_name, int *fd);

/* Below this many free bytes the file system counts as full. */
#define DATADIR_FULL_BYTES ((unsigned long long)1 << 20)

/*
 * Whether the file system holding the open file fd (e.g. the lock file) is
 * full for this process: fewer than DATADIR_FULL_BYTES free (the blocks
 * reserved for root count for root). LMDB reports a write cut short by a
 * full disk as EIO, not ENOSPC; this tells that case from a failing device.
 * False when fd is invalid or fstatvfs fails.
 */
bool datadir_full(int fd);

#endif
