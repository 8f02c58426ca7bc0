/*
 * rngbuf.c — random bytes drawn a page at a time (see rngbuf.h).
 */
#include "rngbuf.h"

#include "asylink/asylink.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/random.h>

#define S_PAGE 4096

/* The mapped page: zeroed in a child after fork (left = 0: empty). */
typedef struct {
    size_t left;                            /* bytes not yet handed out, at the end of bytes */
    uint8_t bytes[S_PAGE - sizeof(size_t)]; /* handed out from the front, wiped when taken */
} s_page;

struct client_rng {
    s_page *page; /* NULL: unbuffered (no MADV_WIPEONFORK here) */
};

int client_rng_new(client_rng **out)
{
    *out = NULL;
    client_rng *r = calloc(1, sizeof *r);
    if (!r)
        return ASYLINK_E_NOMEM;
#ifdef MADV_WIPEONFORK
    void *p = mmap(NULL, S_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED && madvise(p, S_PAGE, MADV_WIPEONFORK) == 0) {
#ifdef MADV_DONTDUMP
        (void)madvise(p, S_PAGE, MADV_DONTDUMP); /* best effort */
#endif
        (void)mlock(p, S_PAGE); /* kept off swap where the OS allows, as sodium_malloc's */
        r->page = p;            /* zero-filled: empty */
    } else if (p != MAP_FAILED) {
        munmap(p, S_PAGE);
    }
#endif
    *out = r;
    return ASYLINK_OK;
}

void client_rng_free(client_rng **rng_p)
{
    if (!rng_p || !*rng_p)
        return;
    client_rng *r = *rng_p;
    if (r->page) {
        sodium_memzero(r->page, S_PAGE);
        (void)munlock(r->page, S_PAGE);
        munmap(r->page, S_PAGE);
    }
    free(r);
    *rng_p = NULL;
}

/*
 * Fills the page with one getrandom(2) call (libsodium's randombytes_buf()
 * asks for 256 bytes per call), falling back to randombytes_buf().
 */
static void s_refill(s_page *p)
{
    size_t got = 0;
    while (got < sizeof p->bytes) {
        ssize_t n = getrandom(p->bytes + got, sizeof p->bytes - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            randombytes_buf(p->bytes + got, sizeof p->bytes - got);
            break;
        }
        got += (size_t)n;
    }
    p->left = sizeof p->bytes;
}

void client_rng_fill(void *ctx, uint8_t *buf, size_t n)
{
    client_rng *r = ctx;
    s_page *p = r ? r->page : NULL;
    if (!p || n >= sizeof p->bytes) {
        randombytes_buf(buf, n);
        return;
    }
    while (n > 0) {
        if (p->left == 0 || p->left > sizeof p->bytes) /* empty (or scribbled): refill */
            s_refill(p);
        size_t at = sizeof p->bytes - p->left, take = n < p->left ? n : p->left;
        memcpy(buf, p->bytes + at, take);
        sodium_memzero(p->bytes + at, take);
        p->left -= take;
        buf += take;
        n -= take;
    }
}
