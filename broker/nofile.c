/*
 * nofile.c — the descriptor limit asylinkd's configuration needs, raised
 * and checked (nofile.h).
 */
#include "nofile.h"

#include "log.h"

#include <sys/resource.h>

/*
 * Descriptors asylinkd holds whatever its load: stdio, the data directory's
 * two locks and LMDB's files, /proc/self/statm, ZeroMQ's context (its I/O
 * and reaper threads, a mailbox per socket: node, admin, ZAP, monitors),
 * libmicrohttpd's listener and wake-up pipe, the committer's eventfd, the
 * files a reload reads; with room to spare (a running broker holds 40-50).
 */
#define S_OWN 128

/* Per verify worker: its ZeroMQ sockets' mailboxes. */
#define S_PER_WORKER 2

/*
 * Per node certificate in the trust directory: the node's session, and its
 * next connection while the old one is being closed (or an operator's
 * admin connection).
 */
#define S_PER_NODE 2

/*
 * Connections that have not finished the CURVE handshake: a burst of bare
 * connections holds this many before limits.handshake_timeout closes them
 * (integration test 06 opens 1,100).
 */
#define S_HANDSHAKES 1024

uint64_t nofile_needed(const nofile_config *nc, size_t nodes)
{
    uint64_t need = S_OWN + S_HANDSHAKES;
    need += (uint64_t)S_PER_WORKER * (uint64_t)(nc->verify_threads > 0 ? nc->verify_threads : 1);
    need += (uint64_t)S_PER_NODE * nodes;
    if (nc->http_max_connections > 0)
        need += (uint64_t)nc->http_max_connections;
    return need;
}

void nofile_raise(uint64_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_max != RLIM_INFINITY && want > (uint64_t)rl.rlim_max)
        want = (uint64_t)rl.rlim_max;
    if (rl.rlim_cur != RLIM_INFINITY && want <= (uint64_t)rl.rlim_cur)
        return;
    struct rlimit raised = {.rlim_cur = (rlim_t)want, .rlim_max = rl.rlim_max};
    (void)setrlimit(RLIMIT_NOFILE, &raised); /* what it got is what nofile_check() reads */
}

bool nofile_check(const char *comp, const nofile_config *nc, size_t nodes, bool info)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    uint64_t need = nofile_needed(nc, nodes);
    if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)rl.rlim_cur < need) {
        LOG_WARN(comp, "descriptor limit below what this configuration needs",
                 "open_files=%llu needed=%llu nodes=%zu http_max_connections=%lld hint=%s",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)need, nodes,
                 (long long)(nc->http_max_connections > 0 ? nc->http_max_connections : 0),
                 LOG_Q("raise the hard limit of open files to at least the needed figure "
                       "(65536 recommended): LimitNOFILE= in the systemd unit, or ulimit -Hn "
                       "as root / nofile in /etc/security/limits.conf for a shell"));
        return true;
    }
    if (info)
        LOG_INFO(comp, "descriptor limit", "open_files=%llu needed=%llu",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)need);
    return false;
}
