/*
 * rngbuf.h — random bytes for the sealer, drawn from the kernel a page at
 * a time.
 *
 * libsodium's randombytes_buf() is one getrandom(2) system call per call;
 * sealing takes four per message (the UUIDv7's 10 bytes, the content key,
 * the body nonce, a nonce per key wrap: PROTOCOL.md 4.6), and asks for at
 * most 256 bytes per call. A client_rng fills a buffer of about 4 KiB with
 * one getrandom(2) call (the kernel's generator, as libsodium's) and hands
 * its bytes out in order, each exactly once: the sealer gets the same kind
 * of bytes in the same order (the known-answer vectors use their own
 * source and are not affected).
 *
 * The buffer is a page of its own, mapped with MADV_WIPEONFORK (a child
 * process after fork() sees it zeroed, i.e. empty, and draws fresh bytes:
 * parent and child never hand out the same bytes) and MADV_DONTDUMP (not
 * in core dumps), locked against swapping where the OS allows; bytes
 * handed out are wiped from it at once. Where the
 * kernel lacks MADV_WIPEONFORK the rng is unbuffered: every draw is a
 * randombytes_buf() call, as without it.
 *
 * Threading: none; the caller serialises (the client draws under its
 * seal_lock, where the sealer runs).
 */
#ifndef ASYLINK_CLIENT_RNGBUF_H
#define ASYLINK_CLIENT_RNGBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct client_rng client_rng;

/* A new rng (never fails to be usable: ASYLINK_OK, or ASYLINK_E_NOMEM). */
int client_rng_new(client_rng **out);

/* Wipes and frees; *rng_p becomes NULL. NULL is fine. */
void client_rng_free(client_rng **rng_p);

/* Fills buf with n random bytes; an envelope_rng (ctx is the client_rng). */
void client_rng_fill(void *ctx, uint8_t *buf, size_t n);

#endif
