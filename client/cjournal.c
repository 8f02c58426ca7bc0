/*
 * cjournal.c — the client store's journal (format in cjournal.h).
 */
#include "cjournal.h"

#include "asylink/asylink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define S_HAVE_SSE42 1
#endif

#define S_MAGIC "ASYJRNL1"
#define S_VERSION 1
#define S_HEAD_FIXED 64
#define S_REC_MAGIC 0x4a524543u
#define S_EXTEND ((uint64_t)64 << 10) /* files grow by zero-filled 64 KiB, then are reused */
#define S_PSIZE_MIN 512
#define S_PSIZE_MAX 65536

struct cjournal {
    char *dir;
    int fd[2];          /* -1 while the file does not exist */
    uint64_t size[2];   /* bytes each file has (written or zero-filled) */
    uint64_t hlen[2];   /* header length of each file's valid header; 0 if none */
    int cur;            /* the current file, -1 before the first checkpoint */
    uint64_t gen;       /* current generation (0 = none yet) */
    uint64_t txnid;     /* its checkpoint's LMDB txn id */
    uint32_t psize;     /* LMDB page size */
    uint8_t *metas;     /* its two meta pages */
    uint64_t off;       /* where the next record goes */
    uint64_t seq;       /* its sequence */
    uint64_t last_off;  /* the last record appended (UINT64_MAX: none to revoke) */
    uint64_t bytes;     /* record bytes since the checkpoint */
    uint8_t *rbuf;      /* records read at open (valid ones only) */
    size_t rlen;
};

/* ---- CRC-32C ------------------------------------------------------------- */

static uint32_t s_crc_table[256];

static void s_crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        s_crc_table[i] = c;
    }
}

static uint32_t s_crc_sw(uint32_t crc, const uint8_t *p, size_t n)
{
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        s_crc_table_init(); /* idempotent: racing threads write the same values */
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    uint32_t c = ~crc;
    while (n--)
        c = s_crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

#ifdef S_HAVE_SSE42
__attribute__((target("sse4.2"))) static uint32_t s_crc_hw(uint32_t crc, const uint8_t *p,
                                                           size_t n)
{
    uint64_t c = ~crc & 0xffffffffu;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}
#endif

uint32_t cjournal_crc32c(uint32_t crc, const void *data, size_t len)
{
#ifdef S_HAVE_SSE42
    static int hw = -1;
    int h = __atomic_load_n(&hw, __ATOMIC_RELAXED);
    if (h < 0) {
        h = __builtin_cpu_supports("sse4.2") ? 1 : 0;
        __atomic_store_n(&hw, h, __ATOMIC_RELAXED);
    }
    if (h)
        return s_crc_hw(crc, data, len);
#endif
    return s_crc_sw(crc, data, len);
}

/* ---- little-endian fields -------------------------------------------------- */

static void s_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void s_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t s_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t s_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- files ---------------------------------------------------------------- */

static uint64_t s_head_len(uint32_t psize)
{
    uint64_t n = S_HEAD_FIXED + 2 * (uint64_t)psize + 4;
    return (n + 4095) / 4096 * 4096;
}

/* Writes all n bytes at off; 0 or an errno. */
static int s_pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return EIO;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Reads exactly n bytes at off; 0, an errno, or ENODATA if the file is shorter. */
static int s_pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (r == 0)
            return ENODATA;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int s_datasync(int fd)
{
    return fdatasync(fd) == 0 ? 0 : errno;
}

static char *s_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static const char *s_name(int i)
{
    return i == 0 ? CJOURNAL_NAME0 : CJOURNAL_NAME1;
}

/*
 * The header's length from its fixed part (S_HEAD_FIXED bytes): the bytes
 * its checksum covers plus the checksum; 0 if the fixed part is not valid.
 */
static size_t s_header_need(const uint8_t *fixed, uint32_t *psize, uint64_t *hlen)
{
    if (memcmp(fixed, S_MAGIC, 8) != 0 || s_get32(fixed + 8) != S_VERSION)
        return 0;
    uint32_t p = s_get32(fixed + 12);
    if (p < S_PSIZE_MIN || p > S_PSIZE_MAX || (p & (p - 1)) != 0)
        return 0;
    uint64_t h = s_head_len(p);
    if (s_get64(fixed + 32) != h)
        return 0;
    *psize = p;
    *hlen = h;
    return S_HEAD_FIXED + 2 * (size_t)p + 4;
}

/* Whether the n header bytes (s_header_need's) check; fills *gen and *txnid. */
static bool s_header_check(const uint8_t *buf, size_t n, uint64_t *gen, uint64_t *txnid)
{
    if (cjournal_crc32c(0, buf, n - 4) != s_get32(buf + n - 4))
        return false;
    *gen = s_get64(buf + 16);
    *txnid = s_get64(buf + 24);
    return true;
}

/*
 * Reads file i's header. 1 valid (fills *gen, *txnid, *psize, *hlen and, if metas is
 * not NULL, a malloc'd copy of the meta pages), 0 not valid, -errno on a read error.
 */
static int s_read_header(int fd, uint64_t *gen, uint64_t *txnid, uint32_t *psize, uint64_t *hlen,
                         uint8_t **metas)
{
    uint8_t fixed[S_HEAD_FIXED];
    int rc = s_pread_all(fd, fixed, sizeof fixed, 0);
    if (rc == ENODATA)
        return 0;
    if (rc != 0)
        return -rc;
    uint32_t p = 0;
    uint64_t h = 0;
    size_t n = s_header_need(fixed, &p, &h);
    if (n == 0)
        return 0;
    uint8_t *buf = malloc(n);
    if (!buf)
        return -ENOMEM;
    rc = s_pread_all(fd, buf, n, 0);
    if (rc != 0) {
        free(buf);
        return rc == ENODATA ? 0 : -rc;
    }
    if (!s_header_check(buf, n, gen, txnid)) {
        free(buf);
        return 0;
    }
    *psize = p;
    *hlen = h;
    if (metas) {
        memmove(buf, buf + S_HEAD_FIXED, 2 * (size_t)p);
        *metas = buf;
    } else {
        free(buf);
    }
    return 1;
}

/* The length of the valid records of generation gen at the start of buf (n bytes); *seq the next. */
static size_t s_scan(const uint8_t *buf, size_t n, uint64_t gen, uint64_t *seq_out)
{
    size_t pos = 0;
    uint64_t seq = 1;
    while (n - pos >= CJOURNAL_REC_HEAD + CJOURNAL_REC_TAIL) {
        const uint8_t *r = buf + pos;
        uint32_t len = s_get32(r + 4);
        if (s_get32(r) != S_REC_MAGIC || len < CJOURNAL_REC_HEAD + CJOURNAL_REC_TAIL ||
            len > n - pos || s_get64(r + 8) != gen || s_get64(r + 16) != seq ||
            (uint64_t)s_get32(r + 28) + CJOURNAL_REC_HEAD + CJOURNAL_REC_TAIL != len ||
            cjournal_crc32c(0, r, len - 4) != s_get32(r + len - 4))
            break;
        pos += len;
        seq++;
    }
    *seq_out = seq;
    return pos;
}

/* Keeps the valid records of the current generation from rbuf (n bytes read after the header). */
static void s_scan_records(cjournal *j, size_t n)
{
    j->rlen = s_scan(j->rbuf, n, j->gen, &j->seq);
    j->bytes = j->rlen;
}

int cjournal_check_file(const uint8_t *data, size_t len, size_t *records, size_t *ops)
{
    *records = *ops = 0;
    uint32_t psize = 0;
    uint64_t hlen = 0, gen = 0, txnid = 0, seq = 0;
    if (len < S_HEAD_FIXED)
        return -1;
    size_t need = s_header_need(data, &psize, &hlen);
    if (need == 0 || need > len || hlen > len || !s_header_check(data, need, &gen, &txnid))
        return -1;
    const uint8_t *recs = data + hlen;
    size_t rlen = s_scan(recs, len - (size_t)hlen, gen, &seq);
    for (size_t pos = 0; pos < rlen;) {
        const uint8_t *r = recs + pos;
        size_t plen = s_get32(r + 28), off = 0;
        uint32_t nops = s_get32(r + 24), seen = 0;
        cjournal_op op;
        int more;
        while ((more = cjournal_next_op(r + CJOURNAL_REC_HEAD, plen, &off, &op)) == 1)
            seen++;
        if (more < 0 || seen != nops)
            return -1;
        *ops += seen;
        (*records)++;
        pos += s_get32(r + 4);
    }
    return 0;
}

int cjournal_open(const char *dir, cjournal **out, const char **why)
{
    *out = NULL;
    *why = NULL;
    cjournal *j = calloc(1, sizeof *j);
    if (!j || !(j->dir = strdup(dir))) {
        free(j);
        return ASYLINK_E_NOMEM;
    }
    j->fd[0] = j->fd[1] = -1;
    j->cur = -1;
    j->last_off = UINT64_MAX;
    int rc = ASYLINK_OK;
    bool any = false;
    for (int i = 0; i < 2 && rc == ASYLINK_OK; i++) {
        char *path = s_path(dir, s_name(i));
        if (!path) {
            rc = ASYLINK_E_NOMEM;
            break;
        }
        int fd = open(path, O_RDWR | O_CLOEXEC);
        free(path);
        if (fd < 0) {
            if (errno != ENOENT) {
                *why = "cannot open a journal file";
                rc = ASYLINK_E_IO;
            }
            continue;
        }
        any = true;
        j->fd[i] = fd;
        struct stat st;
        if (fstat(fd, &st) != 0) {
            *why = "cannot stat a journal file";
            rc = ASYLINK_E_IO;
            break;
        }
        j->size[i] = (uint64_t)st.st_size;
        uint64_t gen = 0, txnid = 0, hlen = 0;
        uint32_t psize = 0;
        uint8_t *metas = NULL;
        int v = s_read_header(fd, &gen, &txnid, &psize, &hlen, &metas);
        if (v < 0) {
            *why = "cannot read a journal file";
            rc = v == -ENOMEM ? ASYLINK_E_NOMEM : ASYLINK_E_IO;
            break;
        }
        if (v == 0)
            continue; /* a torn header: the other file's is current */
        j->hlen[i] = hlen;
        if (j->cur < 0 || gen > j->gen) {
            free(j->metas);
            j->metas = metas;
            j->cur = i;
            j->gen = gen;
            j->txnid = txnid;
            j->psize = psize;
        } else {
            free(metas);
        }
    }
    if (rc == ASYLINK_OK && any && j->cur < 0) {
        *why = "no journal file has a valid header";
        rc = ASYLINK_E_IO;
    }
    if (rc == ASYLINK_OK && j->cur >= 0) {
        uint64_t h = j->hlen[j->cur], size = j->size[j->cur];
        j->off = h;
        j->seq = 1;
        if (size > h) {
            if (size - h > SIZE_MAX / 2) {
                *why = "journal file too large";
                rc = ASYLINK_E_IO;
            } else if (!(j->rbuf = malloc((size_t)(size - h)))) {
                rc = ASYLINK_E_NOMEM;
            } else {
                int r = s_pread_all(j->fd[j->cur], j->rbuf, (size_t)(size - h), h);
                if (r != 0) {
                    *why = "cannot read the journal's records";
                    rc = ASYLINK_E_IO;
                } else {
                    s_scan_records(j, (size_t)(size - h));
                    j->off = h + j->rlen;
                }
            }
        }
    }
    if (rc != ASYLINK_OK) {
        cjournal_close(&j);
        return rc;
    }
    *out = j;
    return ASYLINK_OK;
}

bool cjournal_has_records(const cjournal *j)
{
    return j && j->rlen > 0;
}

const uint8_t *cjournal_metas(const cjournal *j, uint32_t *psize, uint64_t *txnid)
{
    if (!j || j->cur < 0)
        return NULL;
    *psize = j->psize;
    *txnid = j->txnid;
    return j->metas;
}

int cjournal_next_record(const cjournal *j, size_t *pos, const uint8_t **payload, size_t *len,
                         uint32_t *nops)
{
    if (!j->rbuf || *pos >= j->rlen)
        return 0;
    const uint8_t *r = j->rbuf + *pos;
    uint32_t total = s_get32(r + 4);
    *nops = s_get32(r + 24);
    *len = s_get32(r + 28);
    *payload = r + CJOURNAL_REC_HEAD;
    *pos += total;
    return 1;
}

/* An operation: op (1), db (1), key length (4), value length (4), key, value. */
#define S_OP_HEAD 10

int cjournal_next_op(const uint8_t *payload, size_t len, size_t *off, cjournal_op *op)
{
    if (*off == len)
        return 0;
    if (len - *off < S_OP_HEAD)
        return -1;
    const uint8_t *p = payload + *off;
    size_t klen = s_get32(p + 2), vlen = s_get32(p + 6);
    if (klen > len - *off - S_OP_HEAD || vlen > len - *off - S_OP_HEAD - klen)
        return -1;
    op->op = p[0];
    op->db = p[1];
    if (op->op < CJOURNAL_PUT || op->op > CJOURNAL_DROP || (op->op != CJOURNAL_PUT && vlen) ||
        (op->op == CJOURNAL_DROP && klen))
        return -1;
    op->key = p + S_OP_HEAD;
    op->klen = klen;
    op->val = p + S_OP_HEAD + klen;
    op->vlen = vlen;
    *off += S_OP_HEAD + klen + vlen;
    return 1;
}

const char *cjournal_records_end(const cjournal *j, uint64_t *end)
{
    if (!j || j->cur < 0)
        return NULL;
    *end = j->hlen[j->cur] + j->rlen;
    return s_name(j->cur);
}

void cjournal_forget(cjournal *j)
{
    if (!j)
        return;
    free(j->rbuf);
    j->rbuf = NULL;
    j->rlen = 0;
}

/* ---- record buffers ----------------------------------------------------------- */

void cjournal_buf_reset(cjournal_buf *b)
{
    if (b->cap > CJOURNAL_BUF_KEEP) { /* a large transaction's memory is not kept */
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
    b->len = CJOURNAL_REC_HEAD;
    b->nops = 0;
}

void cjournal_buf_free(cjournal_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

bool cjournal_buf_op(cjournal_buf *b, int op, unsigned db, const void *key, size_t klen,
                     const void *val, size_t vlen, size_t *val_off)
{
    if (b->len < CJOURNAL_REC_HEAD)
        b->len = CJOURNAL_REC_HEAD;
    if (klen > UINT32_MAX || vlen > UINT32_MAX || db > 255)
        return false;
    size_t need = S_OP_HEAD + klen + vlen;
    if (need > SIZE_MAX - b->len - CJOURNAL_REC_TAIL)
        return false;
    if (b->len + need + CJOURNAL_REC_TAIL > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + need + CJOURNAL_REC_TAIL)
            cap = cap > SIZE_MAX / 2 ? b->len + need + CJOURNAL_REC_TAIL : cap * 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d)
            return false;
        b->data = d;
        b->cap = cap;
    }
    uint8_t *p = b->data + b->len;
    p[0] = (uint8_t)op;
    p[1] = (uint8_t)db;
    s_put32(p + 2, (uint32_t)klen);
    s_put32(p + 6, (uint32_t)vlen);
    if (klen)
        memcpy(p + S_OP_HEAD, key, klen);
    if (vlen && val)
        memcpy(p + S_OP_HEAD + klen, val, vlen);
    if (val_off)
        *val_off = b->len + S_OP_HEAD + klen;
    b->len += need;
    b->nops++;
    return true;
}

/* ---- writing -------------------------------------------------------------------- */

/* Zero-fills file i from its size up to at least end (in S_EXTEND steps). */
static int s_extend(cjournal *j, int i, uint64_t end)
{
    static const uint8_t zeros[65536];
    uint64_t target = (end + S_EXTEND - 1) / S_EXTEND * S_EXTEND;
    while (j->size[i] < target) {
        uint64_t n = target - j->size[i];
        if (n > sizeof zeros)
            n = sizeof zeros;
        int rc = s_pwrite_all(j->fd[i], zeros, (size_t)n, j->size[i]);
        if (rc != 0)
            return rc;
        j->size[i] += n;
    }
    return 0;
}

int cjournal_append(cjournal *j, cjournal_buf *b)
{
    if (j->cur < 0)
        return EINVAL;
    size_t plen = b->len - CJOURNAL_REC_HEAD;
    size_t total = b->len + CJOURNAL_REC_TAIL;
    if (total > CJOURNAL_REC_MAX)
        return E2BIG;
    uint8_t *r = b->data;
    s_put32(r, S_REC_MAGIC);
    s_put32(r + 4, (uint32_t)total);
    s_put64(r + 8, j->gen);
    s_put64(r + 16, j->seq);
    s_put32(r + 24, b->nops);
    s_put32(r + 28, (uint32_t)plen);
    s_put32(r + b->len, cjournal_crc32c(0, r, b->len));
    int fd = j->fd[j->cur];
    int rc = 0;
    if (j->off + total > j->size[j->cur])
        rc = s_extend(j, j->cur, j->off + total);
    if (rc == 0)
        rc = s_pwrite_all(fd, r, total, j->off);
    if (rc == 0)
        rc = s_datasync(fd);
    if (rc != 0) {
        /* Whatever reached the file must not read as a record: zero its magic. */
        static const uint8_t zero[4];
        (void)s_pwrite_all(fd, zero, sizeof zero, j->off);
        return rc;
    }
    j->last_off = j->off;
    j->off += total;
    j->seq++;
    j->bytes += total;
    return 0;
}

int cjournal_revoke_last(cjournal *j)
{
    if (j->cur < 0 || j->last_off == UINT64_MAX)
        return EINVAL;
    static const uint8_t zero[4];
    int fd = j->fd[j->cur];
    int rc = s_pwrite_all(fd, zero, sizeof zero, j->last_off);
    if (rc == 0)
        rc = s_datasync(fd);
    if (rc != 0)
        return rc;
    j->bytes -= j->off - j->last_off;
    j->off = j->last_off;
    j->seq--;
    j->last_off = UINT64_MAX;
    return 0;
}

/* fsyncs the directory (a file was created or renamed in it). */
static int s_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

/* Creates file i holding hdr (through a temporary file and a rename). */
static int s_create(cjournal *j, int i, const uint8_t *hdr, size_t hlen)
{
    char name[64];
    snprintf(name, sizeof name, "%s.new", s_name(i));
    char *tmp = s_path(j->dir, name), *path = s_path(j->dir, s_name(i));
    int rc = tmp && path ? 0 : ENOMEM;
    int fd = -1;
    if (rc == 0) {
        fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        rc = fd < 0 ? errno : 0;
    }
    if (rc == 0)
        rc = s_pwrite_all(fd, hdr, hlen, 0);
    if (rc == 0)
        rc = s_datasync(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = errno;
    if (rc == 0)
        rc = s_sync_dir(j->dir);
    if (rc != 0) {
        if (fd >= 0)
            close(fd);
        if (tmp)
            unlink(tmp);
    } else {
        j->fd[i] = fd;
        j->size[i] = hlen;
    }
    free(tmp);
    free(path);
    return rc;
}

int cjournal_checkpoint(cjournal *j, uint64_t txnid, const uint8_t *metas, uint32_t psize)
{
    if (psize < S_PSIZE_MIN || psize > S_PSIZE_MAX || (psize & (psize - 1)) != 0)
        return EINVAL;
    uint64_t hlen = s_head_len(psize);
    uint8_t *hdr = calloc(1, (size_t)hlen);
    uint8_t *copy = malloc(2 * (size_t)psize);
    if (!hdr || !copy) {
        free(hdr);
        free(copy);
        return ENOMEM;
    }
    uint64_t gen = j->gen + 1;
    memcpy(hdr, S_MAGIC, 8);
    s_put32(hdr + 8, S_VERSION);
    s_put32(hdr + 12, psize);
    s_put64(hdr + 16, gen);
    s_put64(hdr + 24, txnid);
    s_put64(hdr + 32, hlen);
    memcpy(hdr + S_HEAD_FIXED, metas, 2 * (size_t)psize);
    size_t n = S_HEAD_FIXED + 2 * (size_t)psize;
    s_put32(hdr + n, cjournal_crc32c(0, hdr, n));
    memcpy(copy, metas, 2 * (size_t)psize);
    int other = j->cur < 0 ? 0 : 1 - j->cur;
    int rc;
    if (j->fd[other] < 0) {
        rc = s_create(j, other, hdr, (size_t)hlen);
    } else {
        rc = s_pwrite_all(j->fd[other], hdr, (size_t)hlen, 0);
        if (rc == 0)
            rc = s_datasync(j->fd[other]);
        if (rc == 0 && j->size[other] < hlen)
            j->size[other] = hlen;
    }
    free(hdr);
    if (rc != 0) {
        free(copy);
        return rc;
    }
    free(j->metas);
    j->metas = copy;
    j->hlen[other] = hlen;
    j->cur = other;
    j->gen = gen;
    j->txnid = txnid;
    j->psize = psize;
    j->off = hlen;
    j->seq = 1;
    j->last_off = UINT64_MAX;
    j->bytes = 0;
    return 0;
}

uint64_t cjournal_bytes(const cjournal *j)
{
    return j ? j->bytes : 0;
}

int cjournal_trim(cjournal *j)
{
    if (j->bytes != 0)
        return EINVAL;
    for (int i = 0; i < 2; i++) {
        if (j->fd[i] < 0 || !j->hlen[i] || j->size[i] <= j->hlen[i])
            continue;
        if (ftruncate(j->fd[i], (off_t)j->hlen[i]) != 0)
            return errno;
        int rc = s_datasync(j->fd[i]);
        if (rc != 0)
            return rc;
        j->size[i] = j->hlen[i];
    }
    return 0;
}

void cjournal_close(cjournal **jp)
{
    if (!jp || !*jp)
        return;
    cjournal *j = *jp;
    for (int i = 0; i < 2; i++)
        if (j->fd[i] >= 0)
            close(j->fd[i]);
    free(j->metas);
    free(j->rbuf);
    free(j->dir);
    free(j);
    *jp = NULL;
}
