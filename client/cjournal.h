/*
 * cjournal.h — the client store's journal: an append-only log in front of
 * the LMDB environment (DESIGN-CHANGES 42, PROTOCOL.md 11.11).
 *
 * A durable client store commits by appending one record (the
 * transaction's puts and deletes, as bytes) to the journal and fdatasync'ing
 * it: one sequential write and one flush, instead of LMDB's copy-on-write
 * pages of every database touched and their flush. LMDB then commits the
 * same transaction without syncing. Now and then a checkpoint syncs LMDB's
 * file and starts a new journal generation; its header keeps a copy of
 * LMDB's two meta pages as they were on disk right after that sync, so that
 * recovery can put the environment back to the checkpoint exactly and
 * replay the records on top of it (the store keeps the checkpoint's pages
 * from being reused until the next checkpoint: cstore.c).
 *
 * Two files alternate, `asylink-journal.0` and `asylink-journal.1` (mode
 * 0600): a checkpoint writes its header into the file not in use, so a
 * header torn by a crash leaves the previous one (and its records) valid.
 * The file with the valid header of the highest generation is current.
 *
 * Header (little-endian, at offset 0):
 *   0  magic "ASYJRNL1"        8
 *   8  version (1)             4
 *   12 page size p             4
 *   16 generation              8
 *   24 checkpoint txn id       8
 *   32 records offset H        8
 *   40 zero                    24
 *   64 meta page 0, meta page 1 (2p)
 *   64+2p CRC-32C of the bytes before it (4)
 *   H = 64 + 2p + 4 rounded up to 4096
 * Record (at H, then each after the previous):
 *   0  magic 0x4a524543        4
 *   4  length L (all of it)    4
 *   8  generation              8
 *   16 sequence (1, 2, ...)    8
 *   24 operations              4
 *   28 payload length P        4
 *   32 payload                 P
 *   32+P CRC-32C of the bytes before it (4)
 * The records of a generation end at the first one whose magic, length,
 * generation, sequence or checksum does not fit: a torn tail, a revoked
 * record (its magic zeroed) or an older generation's bytes.
 *
 * Threading: one writer at a time (the store calls it under LMDB's write
 * lock); not thread-safe otherwise.
 */
#ifndef ASYLINK_CLIENT_CJOURNAL_H
#define ASYLINK_CLIENT_CJOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CJOURNAL_REC_HEAD 32 /* record bytes before the payload */
#define CJOURNAL_REC_TAIL 4  /* record bytes after it (the checksum) */
#define CJOURNAL_REC_MAX ((size_t)1 << 30) /* largest record */
#define CJOURNAL_NAME0 "asylink-journal.0"
#define CJOURNAL_NAME1 "asylink-journal.1"

typedef struct cjournal cjournal;

/* One operation of a record, as cjournal_next_op() decodes it. */
enum { CJOURNAL_PUT = 1, CJOURNAL_DEL = 2, CJOURNAL_DROP = 3 };
typedef struct cjournal_op {
    int op;          /* CJOURNAL_PUT, _DEL or _DROP */
    unsigned db;     /* the store's database index */
    const void *key; /* into the record (PUT, DEL) */
    size_t klen;
    const void *val; /* into the record (PUT) */
    size_t vlen;
} cjournal_op;

/*
 * Opens dir's journal: reads both headers, picks the current one and reads
 * its records into memory. *out is a journal with no file yet (the first
 * checkpoint creates one) if neither file exists. Returns ASYLINK_OK,
 * ASYLINK_E_IO (a file exists but no header is valid, or a read failed;
 * *why says which), ASYLINK_E_NOMEM.
 */
int cjournal_open(const char *dir, cjournal **out, const char **why);

/* Whether the current generation has records (the store must be restored and replayed). */
bool cjournal_has_records(const cjournal *j);

/* The checkpoint's page size and its two meta pages (2 * psize bytes); NULL without a header. */
const uint8_t *cjournal_metas(const cjournal *j, uint32_t *psize, uint64_t *txnid);

/*
 * Walks the records read by cjournal_open(): *pos starts at 0. Returns 1
 * and the next record's payload (into the journal's memory), 0 at the end.
 */
int cjournal_next_record(const cjournal *j, size_t *pos, const uint8_t **payload, size_t *len,
                         uint32_t *nops);

/* Decodes the operation at *off of a payload; 1 and advances *off, 0 at its end, -1 if malformed. */
int cjournal_next_op(const uint8_t *payload, size_t len, size_t *off, cjournal_op *op);

/*
 * Where the records read by cjournal_open() end: the current file's name
 * and the offset after its last valid record; NULL without a header.
 */
const char *cjournal_records_end(const cjournal *j, uint64_t *end);

/*
 * Checks the len bytes of a journal file as cjournal_open() reads one:
 * header, the current generation's records, their operations. 0 and the
 * counts if it is valid (*records may be 0), -1 if the header is not or a
 * record's operations do not decode. (The fuzz target's entry.)
 */
int cjournal_check_file(const uint8_t *data, size_t len, size_t *records, size_t *ops);

/* Drops the records read by cjournal_open() from memory (after the replay). */
void cjournal_forget(cjournal *j);

/*
 * A record buffer: CJOURNAL_REC_HEAD bytes for the header, then the
 * operations appended with cjournal_buf_*, then room for the tail.
 */
typedef struct cjournal_buf {
    uint8_t *data;
    size_t len; /* CJOURNAL_REC_HEAD + payload bytes */
    size_t cap;
    uint32_t nops;
} cjournal_buf;

/* Empties b (keeping its memory, up to CJOURNAL_BUF_KEEP bytes). */
#define CJOURNAL_BUF_KEEP ((size_t)4 << 20)
void cjournal_buf_reset(cjournal_buf *b);
/* Frees b's memory. */
void cjournal_buf_free(cjournal_buf *b);
/*
 * Appends an operation; val may be NULL with vlen > 0 to reserve the value's bytes, whose
 * offset in b->data *val_off gets (may be NULL). false if out of memory (b unchanged).
 */
bool cjournal_buf_op(cjournal_buf *b, int op, unsigned db, const void *key, size_t klen,
                     const void *val, size_t vlen, size_t *val_off);

/*
 * Appends b as the next record and fdatasyncs it. 0, or an errno (ENOSPC,
 * EIO, E2BIG for a record over CJOURNAL_REC_MAX); the journal then has no
 * such record (the write offset stays).
 */
int cjournal_append(cjournal *j, cjournal_buf *b);

/*
 * Takes back the last record appended (its LMDB commit failed): zeroes its
 * magic and fdatasyncs. 0 or an errno.
 */
int cjournal_revoke_last(cjournal *j);

/*
 * Starts a new generation at checkpoint txnid: writes the header with the
 * two meta pages (2 * psize bytes) into the file not in use (creating it)
 * and fdatasyncs it; that file is then current, with no records. 0 or an
 * errno (the previous generation stays current).
 */
int cjournal_checkpoint(cjournal *j, uint64_t txnid, const uint8_t *metas, uint32_t psize);

/* Record bytes appended since the last checkpoint. */
uint64_t cjournal_bytes(const cjournal *j);

/*
 * Cuts both files down to their header (after a checkpoint, with no
 * records): the records' bytes leave the files. 0 or an errno.
 */
int cjournal_trim(cjournal *j);

/* Closes the files and frees j; sets *j to NULL. */
void cjournal_close(cjournal **j);

/* CRC-32C (Castagnoli) of len bytes, continuing crc (start with 0). */
uint32_t cjournal_crc32c(uint32_t crc, const void *data, size_t len);

#endif
