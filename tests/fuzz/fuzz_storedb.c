/*
 * fuzz_storedb.c — libFuzzer target: a whole broker store holding what a
 * corrupt or badly restored data directory may hold. The input is a list
 * of raw entries written straight into the store's databases, each
 *   db (1 byte: meta, msgs, dedup, queue, dlq, expiry, feed, subs, modulo 8)
 *   key length (1 byte), value length (2 bytes, little-endian), key, value
 * (entries LMDB refuses, such as an empty key, are left out). The store is
 * then closed, opened again (schema and sequence checks) and used as the
 * broker uses it: statistics; every listing walked to its end (queues of
 * the recipients below, dead letters, subscriptions, the feed), each of
 * which must move forward and end within as many steps as there are
 * entries (a listing that comes back to an entry never ends); the records
 * it names read; a batch acknowledging, retrying and dead-lettering them;
 * the sweep; a purge; the kept revocation list. Nothing may crash, leak,
 * read out of bounds or loop.
 *
 * Each input gets a new store in a scratch directory made once per process
 * (in /dev/shm when there is one: no disk writes) and removed at exit.
 *
 * Seed corpus: tests/fuzz/corpus/storedb, stores as broker/store.c writes
 * them: a direct message to two recipients with its queue, dedup and
 * expiry entries, a dead letter, a feed message with a subscription, the
 * meta values.
 */
#include "asylink/errors.h"
#include "cert.h"
#include "store.h"

#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char *const s_dbs[8] = {"meta", "msgs",   "dedup", "queue",
                                     "dlq",  "expiry", "feed",  "subs"};
static const char *const s_nodes[] = {"FR", "IT", "DE", "EUAA"};
#define S_NODES (sizeof s_nodes / sizeof s_nodes[0])
#define S_NOW_MS 1767225600000ull

static char s_dir[64];
static const char *const s_files[] = {"data.mdb", "lock.mdb", "asylinkd.lock"};

static void s_clear(void)
{
    char path[sizeof s_dir + 32];
    for (size_t i = 0; i < sizeof s_files / sizeof s_files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", s_dir, s_files[i]);
        unlink(path);
    }
}

static void s_cleanup(void)
{
    s_clear();
    rmdir(s_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 32)
        tmp = "/tmp";
    snprintf(s_dir, sizeof s_dir, "%s/fuzz_storedb.XXXXXX", tmp);
    if (!mkdtemp(s_dir))
        abort();
    atexit(s_cleanup);
    return 0;
}

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t entries; /* entries written */
} s_input;

/* store_write's function: puts every entry of the input. */
static int s_fill(void *ctx, void *txnp)
{
    s_input *in = ctx;
    MDB_txn *txn = txnp;
    MDB_dbi dbi[8];
    for (int i = 0; i < 8; i++)
        if (mdb_dbi_open(txn, s_dbs[i], 0, &dbi[i]) != MDB_SUCCESS)
            abort();
    const uint8_t *p = in->data, *end = in->data + in->size;
    while (end - p >= 4) {
        size_t klen = p[1], vlen = (size_t)p[2] | (size_t)p[3] << 8;
        if ((size_t)(end - p - 4) < klen + vlen)
            break;
        MDB_val k = {klen, (void *)(p + 4)}, v = {vlen, (void *)(p + 4 + klen)};
        int rc = mdb_put(txn, dbi[p[0] % 8], &k, &v, 0);
        if (rc == MDB_SUCCESS)
            in->entries++;
        else if (rc != MDB_BAD_VALSIZE)
            return rc;
        p += 4 + klen + vlen;
    }
    return MDB_SUCCESS;
}

static int s_open(store **s)
{
    store_options o = {.dir = s_dir,
                       .map_size = 1 << 20,
                       .max_map_size = 64 << 20,
                       .durable = false,
                       .dedup_window_ms = 1000};
    return store_open(&o, s);
}

/* A recipient's queue to its end, each record read; the first entry in *first. */
static void s_queue(store *s, const char *node, size_t bound, store_entry *first)
{
    store_entry e;
    uint64_t after = 0;
    size_t steps = 0;
    first->seq = 0;
    while (store_queue_next(s, node, after, &e) == ASYLINK_OK) {
        if (e.seq <= after || ++steps > bound || !memchr(e.sender, 0, sizeof e.sender))
            abort();
        if (!first->seq)
            *first = e;
        uint8_t *env = NULL;
        size_t len = 0;
        if (store_message_get(s, e.seq, &env, &len) == ASYLINK_OK && len != e.envelope_len)
            abort();
        free(env);
        after = e.seq;
    }
    uint64_t count, bytes;
    (void)store_queue_depth(s, node, &count, &bytes);
    (void)store_dead_letter_count(s, node, &count);
}

static void s_dead_letters(store *s, size_t bound)
{
    store_dead_letter d;
    char after[STORE_NAME_MAX + 1] = "";
    uint64_t after_seq = 0;
    size_t steps = 0;
    while (store_dead_letter_next(s, NULL, after[0] ? after : NULL, after_seq, &d) == ASYLINK_OK) {
        int order = strcmp(d.recipient, after);
        if ((after[0] && (order < 0 || (order == 0 && d.seq <= after_seq))) || ++steps > bound)
            abort();
        memcpy(after, d.recipient, sizeof after);
        after_seq = d.seq;
    }
}

static void s_subs(store *s, size_t bound)
{
    char node[NODE_ID_MAX + 1] = "", name[STORE_SUB_NAME_MAX + 1] = "";
    char an[NODE_ID_MAX + 1] = "", aname[STORE_SUB_NAME_MAX + 1] = "";
    store_sub sub;
    size_t steps = 0;
    while (store_sub_next(s, an, aname, node, name, &sub) == ASYLINK_OK) {
        if ((an[0] && strcmp(node, an) == 0 && strcmp(name, aname) == 0) || ++steps > bound)
            abort();
        uint64_t lag = 0;
        (void)store_feed_count_after(s, sub.cursor, sub.prefix, 100, &lag);
        memcpy(an, node, sizeof an);
        memcpy(aname, name, sizeof aname);
    }
}

static int s_feed_visit(void *ctx, const store_feed_entry *e)
{
    uint64_t *last = ctx;
    if (e->seq <= *last || !memchr(e->topic, 0, sizeof e->topic))
        abort();
    *last = e->seq;
    return 0;
}

static void s_feed(store *s, size_t bound)
{
    store_feed_entry e;
    uint64_t after = 0, last = 0, head = 0;
    size_t steps = 0;
    while (store_feed_next(s, after, "", &e) == ASYLINK_OK) {
        if (e.seq <= after || ++steps > bound)
            abort();
        after = e.seq;
    }
    (void)store_feed_walk(s, "", s_feed_visit, &last);
    (void)store_feed_head(s, "", &head);
    (void)store_feed_before(s, S_NOW_MS, &head);
}

/* What the router does with deliveries: one of each operation, then a purge and sweeps. */
static void s_write(store *s, const store_entry *first)
{
    store_batch *b = NULL;
    if (store_batch_new(s, &b) != ASYLINK_OK)
        return;
    for (size_t i = 0; i < S_NODES; i++) {
        uint64_t seq = first[i].seq ? first[i].seq : 1;
        switch (i % 3) {
        case 0: (void)store_batch_ack(b, s_nodes[i], seq); break;
        case 1: (void)store_batch_retry(b, s_nodes[i], seq, S_NOW_MS + 1000, 2, 7, "busy"); break;
        default: (void)store_batch_dead_letter(b, s_nodes[i], seq, 9, "gone"); break;
        }
    }
    (void)store_batch_sub_cursor(b, "EUAA", "s1", 5);
    (void)store_batch_commit(b, S_NOW_MS);
    store_batch_destroy(&b);
    for (size_t i = 0; i < S_NODES; i++) {
        if (!first[i].seq)
            continue;
        uint64_t seq = 0;
        if (store_message_find(s, first[i].sender, first[i].message_id, &seq) != ASYLINK_OK)
            seq = 0;
        store_purge_request q = {
            .sender = first[i].sender, .message_id = first[i].message_id, .seq = seq};
        store_purge_result r;
        (void)store_purge(s, &q, S_NOW_MS, &r);
        break;
    }
    store_sweep_stats st;
    for (int i = 0; i < 3; i++)
        (void)store_sweep(s, UINT64_MAX / 2, 64, &st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_clear();
    store *s = NULL;
    if (s_open(&s) != ASYLINK_OK)
        abort(); /* an empty directory: nothing hostile yet */
    s_input in = {data, size, 0};
    int rc = store_write(s, s_fill, &in);
    store_close(&s);
    if (rc != ASYLINK_OK || s_open(&s) != ASYLINK_OK)
        return 0; /* refused at open (a bad schema version, sequence or map): fine */
    store_stats stats;
    (void)store_get_stats(s, &stats);
    size_t bound = in.entries + 1;
    store_entry first[S_NODES];
    for (size_t i = 0; i < S_NODES; i++)
        s_queue(s, s_nodes[i], bound, &first[i]);
    s_dead_letters(s, bound);
    s_subs(s, bound);
    s_feed(s, bound);
    uint64_t ca = 0, number = 0;
    uint8_t *crl = NULL;
    size_t crl_len = 0;
    (void)store_crl_get(s, &ca, &number);
    if (store_crl_signed_get(s, &crl, &crl_len) == ASYLINK_OK)
        free(crl);
    s_write(s, first);
    s_dead_letters(s, bound + S_NODES);
    store_close(&s);
    return 0;
}
