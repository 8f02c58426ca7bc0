/*
 * stalereader.h — a stale LMDB reader slot for the store tests: a child
 * process opens an environment without any asylink lock (as mdb_copy
 * does) and begins a read transaction, and is killed with SIGKILL, leaving
 * its slot in lock.mdb; another child keeps the environment open meanwhile,
 * so that the next open is not the first (LMDB resets the reader table
 * only then). stalereader_count() reads the table with mdb_reader_list().
 *
 *   int hold;
 *   pid_t holder = stalereader_child(dir, false, &hold);   keeps it open
 *   pid_t dead = stalereader_kill(dir);                    leaves a slot
 *   stalereader_count(dir, dead) == 1
 *   ... the store opens and clears it ...
 *   stalereader_release(holder, hold);
 */
#ifndef ASYLINK_TEST_STALEREADER_H
#define ASYLINK_TEST_STALEREADER_H

#include <lmdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Forks a child that opens dir's environment read-only and, if reader,
 * begins a read transaction; returns its pid once it has, *hold the pipe
 * end that releases it (close it: the child exits 0). -1 on failure.
 */
static inline pid_t stalereader_child(const char *dir, bool reader, int *hold)
{
    int ready[2], go[2];
    if (pipe(ready) != 0 || pipe(go) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        MDB_env *env = NULL;
        MDB_txn *txn = NULL;
        if (mdb_env_create(&env) != 0 || mdb_env_open(env, dir, MDB_RDONLY, 0600) != 0)
            _exit(10);
        if (reader && mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
            _exit(11);
        char b = 'r';
        if (write(ready[1], &b, 1) != 1)
            _exit(12);
        ssize_t n = read(go[0], &b, 1); /* until released (or the parent is gone) */
        (void)n;
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    char b = 0;
    ssize_t n = pid > 0 ? read(ready[0], &b, 1) : -1;
    close(ready[0]);
    if (n != 1) {
        close(go[1]);
        return -1;
    }
    *hold = go[1];
    return pid;
}

/* A reader child killed with SIGKILL inside its read transaction: its pid, or -1. */
static inline pid_t stalereader_kill(const char *dir)
{
    int hold = -1;
    pid_t pid = stalereader_child(dir, true, &hold);
    if (pid < 0)
        return -1;
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(hold);
    return WIFSIGNALED(status) ? pid : -1;
}

/* Releases a child of stalereader_child(); its exit status (0), or -1. */
static inline int stalereader_release(pid_t pid, int hold)
{
    int status = 0;
    close(hold);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

typedef struct {
    pid_t pid; /* the reader looked for */
    int n;     /* its slots seen */
} stalereader_ctx;

static inline int stalereader_line(const char *msg, void *ctx)
{
    stalereader_ctx *c = ctx;
    int pid = 0;
    if (sscanf(msg, "%d", &pid) == 1 && pid == (int)c->pid)
        c->n++;
    return 0;
}

/*
 * Reader slots of pid in dir's lock.mdb, read through an environment of
 * this process (opened and closed here; the caller has none open on dir);
 * -1 on failure.
 */
static inline int stalereader_count(const char *dir, pid_t pid)
{
    MDB_env *env = NULL;
    stalereader_ctx c = {pid, 0};
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_open(env, dir, MDB_RDONLY, 0600);
    if (rc == 0)
        rc = mdb_reader_list(env, stalereader_line, &c) < 0 ? -1 : 0;
    if (env)
        mdb_env_close(env);
    return rc == 0 ? c.n : -1;
}

#endif
