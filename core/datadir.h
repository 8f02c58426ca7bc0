/*
 * datadir.h — a data directory owned by one process: created 0700 and held
 * with an exclusive flock on a lock file inside it, so a second broker or
 * client on the same directory is refused instead of corrupting it. flock
 * locks belong to the open file description, so a second open in the same
 * process conflicts too.
 */
#ifndef ASYLINK_CORE_DATADIR_H
#define ASYLINK_CORE_DATADIR_H

/*
 * Creates dir (mode 0700) if missing, checks it is a directory, and takes
 * the lock on dir/lock_name. On success *fd holds the lock until closed.
 * Returns ASYLINK_OK, ASYLINK_E_EXISTS (held by someone else),
 * ASYLINK_E_IO, ASYLINK_E_NOMEM.
 */
int datadir_open_locked(const char *dir, const char *lock_name, int *fd);

#endif
