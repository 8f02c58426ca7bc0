/*
 * lmdbkit.h — what asylink's two LMDB stores share: the broker's store
 * (broker/store.c) and the client's outbox and inbox (client/cstore.c).
 *
 * One error mapping, opening an environment, setting and measuring the
 * map, put and delete, little-endian numbers in a "meta" database, the
 * schema version and the next sequence number. Each store keeps its own
 * databases, records, transactions and growth policy (the broker grows in
 * its one thread, the client behind a gate for many).
 *
 * Functions return an LMDB code (MDB_SUCCESS, MDB_NOTFOUND, ...), errno
 * values LMDB passes on, or LMDBKIT_BAD_RECORD; lmdbkit_err() turns any of
 * them into an asylink_err. A store's own internal codes live between
 * LMDBKIT_CODE_MIN and LMDBKIT_BAD_RECORD, outside LMDB's and errno's.
 *
 * Threading: as LMDB's (a transaction belongs to one thread; the map size
 * changes only while no transaction of the process is open).
 */
#ifndef ASYLINK_CORE_LMDBKIT_H
#define ASYLINK_CORE_LMDBKIT_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LMDBKIT_BAD_RECORD (-29999)           /* a stored value failed validation: ASYLINK_E_IO */
#define LMDBKIT_CODE_MIN (-29990)             /* stores' own codes: LMDBKIT_CODE_MIN..-29998 */
#define LMDBKIT_META_VERSION "schema_version" /* meta key of the 4-byte schema version */

/*
 * The asylink_err for an LMDB code: MDB_SUCCESS OK, MDB_NOTFOUND NOT_FOUND,
 * MDB_MAP_FULL STORE_FULL, and so are ENOSPC, EDQUOT and EFBIG (the file
 * system or a file size limit is full), MDB_VERSION_MISMATCH
 * UNSUPPORTED_VERSION (a file of another LMDB format), ENOMEM NOMEM;
 * anything else (EIO, MDB_CORRUPTED, MDB_INVALID, LMDBKIT_BAD_RECORD, ...)
 * IO. (LMDB reports a write cut short by a full disk as EIO: the stores
 * turn that into ENOSPC when datadir_full() says so.)
 */
int lmdbkit_err(int rc);

/*
 * Creates *env, allows max_dbs named databases and opens the environment
 * in dir (files mode 0600) with flags. initial_map (0 = LMDB's default, or
 * the size kept in an existing file if larger) is set before opening. On
 * failure *env may still be set: the caller closes it with mdb_env_close().
 */
int lmdbkit_env_open(MDB_env **env, const char *dir, unsigned flags, unsigned max_dbs,
                     size_t initial_map);

/*
 * Clears the reader slots in env's lock.mdb left by processes that are
 * gone (mdb_reader_check()): a reader killed with kill -9 while its read
 * transaction was open, an mdb_copy killed mid-backup, a crashed process.
 * Such a slot pins the pages its snapshot sees, so the data file grows,
 * until someone clears it; LMDB itself resets the table only when the
 * first process opens the environment, not while another has it open.
 * Returns how many were cleared (0 also when the check fails: it is
 * housekeeping, never a reason to refuse the store).
 */
int lmdbkit_stale_readers_clear(MDB_env *env);

/*
 * Sets the map size (0 = adopt the size another process set) while no
 * transaction of this process is open; *actual gets what LMDB made of it.
 */
int lmdbkit_map_set(MDB_env *env, size_t size, size_t *actual);

/* The map size and the bytes the data occupies (pages in use). */
int lmdbkit_usage(MDB_env *env, size_t *map_size, size_t *used);

/* A named database and where its handle goes. */
typedef struct lmdbkit_db {
    const char *name;
    MDB_dbi *dbi;
} lmdbkit_db;

/* Opens (creating) the n named databases of dbs in a write transaction. */
int lmdbkit_dbs_open(MDB_txn *txn, const lmdbkit_db *dbs, size_t n);

/*
 * LMDB's default key order (bytes compared as unsigned, then the shorter
 * first: mdb_cmp_memn), compared eight bytes at a time in place of a
 * memcmp() call per comparison. The order is the same, so a database may
 * use it (mdb_set_compare) with no change on disk and stays readable by
 * any program using the default order (mdb_stat, mdb_dump, older builds).
 */
int lmdbkit_cmp_bytes(const MDB_val *a, const MDB_val *b);

/* Puts key -> value into dbi with flags (0 overwrites). */
int lmdbkit_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, const void *val,
                size_t vlen, unsigned flags);

/* Deletes key from dbi if present (absent is success); *deleted (may be NULL) says if it was. */
int lmdbkit_del_if(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t len, bool *deleted);

/*
 * Reads the little-endian number of exactly len (1..8) bytes under name in
 * meta: *v (0 if absent); *found (may be NULL) says if present. A value of
 * another length is LMDBKIT_BAD_RECORD.
 */
int lmdbkit_meta_get(MDB_txn *txn, MDB_dbi meta, const char *name, size_t len, uint64_t *v,
                     bool *found);

/* Writes v as a little-endian number of len (1..8) bytes under name in meta. */
int lmdbkit_meta_put(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t v, size_t len);

/*
 * Reads the schema version in meta (LMDBKIT_META_VERSION, 4 bytes) and
 * judges it against current. *version gets it, 0 in a new store (none
 * stored). *code gets ASYLINK_OK (new, current or older: the caller
 * migrates what it must, then writes current with lmdbkit_schema_set()),
 * ASYLINK_E_UNSUPPORTED_VERSION (newer than current) or ASYLINK_E_IO (a
 * stored 0, or not 4 bytes). Returns an LMDB code.
 */
int lmdbkit_schema_get(MDB_txn *txn, MDB_dbi meta, uint32_t current, uint32_t *version, int *code);

/* Writes the schema version. */
int lmdbkit_schema_set(MDB_txn *txn, MDB_dbi meta, uint32_t version);

/*
 * The highest sequence dbi has used: the larger of its last key (8 bytes,
 * big-endian) and the high-water mark in meta under hwm_name (8 bytes);
 * 0 if neither exists. LMDBKIT_BAD_RECORD if the last key or the mark is
 * malformed.
 */
int lmdbkit_seq_last(MDB_txn *txn, MDB_dbi dbi, MDB_dbi meta, const char *hwm_name, uint64_t *last);

/* Free disk above which a store's room need not count LMDB's reusable pages. */
#define LMDBKIT_ROOM_PLENTY ((uint64_t)256 << 20)

/*
 * Bytes LMDB can reuse inside its file without growing it: the pages on
 * its free list (read as mdb_stat -f does: each record a count, then page
 * numbers) and those a failed commit wrote past the last page in use.
 * rtxn must be read-only: LMDB opens the free list to no other. 0 on error.
 */
uint64_t lmdbkit_reusable(MDB_txn *rtxn);

/*
 * Bytes new data (Publishes, sends, deliveries) may still take in a store
 * near a full disk: disk_free (datadir_free_bytes() of its data directory)
 * plus lmdbkit_reusable(rtxn), less DATADIR_RESERVE_BYTES, which is kept for
 * the writes that free space (acknowledgements); 0 below it. rtxn is read
 * only when disk_free < DATADIR_RESERVE_BYTES + LMDBKIT_ROOM_PLENTY (the
 * caller opens one then; NULL counts the disk alone).
 */
uint64_t lmdbkit_room(uint64_t disk_free, MDB_txn *rtxn);

#endif
