/*
 * slowbegin.c — linked with slowsync.c into client_test_slowbegin
 * (client_test.c with libasylink linked statically) with
 * -Wl,--wrap=mdb_txn_begin: once a flush failed (slowsync.c), a write
 * transaction begun by a thread of a given name waits first. That thread is
 * the application's: its writes go through the library's committer, and the
 * only one it begins itself is the second attempt of a write whose commit
 * failed (client_io_write). Delaying it lets a test tell what the library
 * does while that attempt has not stored the message yet, in an order the
 * machine's speed does not decide (70-client-accepted-once.sh).
 *
 *   ASYLINK_TEST_SLOW_BEGIN_THREAD  the thread name (as prctl PR_GET_NAME)
 *   ASYLINK_TEST_SLOW_BEGIN_MS      the wait in milliseconds (1..60000)
 *
 * Each delayed begin prints "slowbegin: delayed ms=M" on stderr. Read-only
 * transactions, nested ones and every other thread's go straight through.
 * No hook in the library: the linker routes its calls here.
 */
#define _GNU_SOURCE
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

int __real_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn);
int __wrap_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn);
long slowsync_failures(void);

int __wrap_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
    const char *who = getenv("ASYLINK_TEST_SLOW_BEGIN_THREAD");
    const char *ms_s = getenv("ASYLINK_TEST_SLOW_BEGIN_MS");
    long ms = ms_s ? strtol(ms_s, NULL, 10) : 0;
    if (who && who[0] && ms > 0 && ms <= 60000 && !parent && !(flags & MDB_RDONLY) &&
        slowsync_failures() > 0) {
        char name[17] = "";
        (void)prctl(PR_GET_NAME, name, 0, 0, 0);
        if (strcmp(name, who) == 0) {
            fprintf(stderr, "slowbegin: delayed ms=%ld\n", ms);
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) != 0)
                ;
        }
    }
    return __real_mdb_txn_begin(env, parent, flags, txn);
}
