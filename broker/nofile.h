/*
 * nofile.h — the descriptor limit (RLIMIT_NOFILE) asylinkd's configuration
 * needs: 128 of its own, 1,024 for a burst of unfinished handshakes, two
 * per verify thread, two per node certificate of the trust directory and
 * every HTTP connection [http] allows. asylinkd raises its soft limit
 * towards limits.max_open_files at start; a limit below the need is a WARN
 * saying what it needs and how to raise it, at start and after every
 * reload of the trust directory (SIGHUP, the admin reload, a standby's
 * takeover), which may add nodes (DESIGN-CHANGES 61, 65).
 *
 * Threading: the functions keep no state; any thread.
 */
#ifndef ASYLINK_BROKER_NOFILE_H
#define ASYLINK_BROKER_NOFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the need depends on besides the trust directory. */
typedef struct nofile_config {
    int verify_threads;           /* [workers] verify_threads as resolved (>= 1) */
    int64_t http_max_connections; /* [http] max_connections; 0 when HTTP is off */
} nofile_config;

/* The descriptors this configuration needs with nodes certificates in the trust directory. */
uint64_t nofile_needed(const nofile_config *nc, size_t nodes);

/*
 * Raises the soft descriptor limit towards want, never beyond the hard
 * limit (a flood of bare connections must not exhaust the 1,024 a login
 * shell gives). A failure leaves the limit as it was.
 */
void nofile_raise(uint64_t want);

/*
 * Compares the soft descriptor limit with nofile_needed(nc, nodes): below
 * it a WARN under component comp ("descriptor limit below what this
 * configuration needs": the limit, the need, the nodes, how to raise the
 * hard limit); otherwise, with info, an INFO giving both figures. Returns
 * whether the limit is below the need (false when it cannot be read).
 */
bool nofile_check(const char *comp, const nofile_config *nc, size_t nodes, bool info);

#endif
