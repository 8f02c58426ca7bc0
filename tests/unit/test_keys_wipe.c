/*
 * test_keys_wipe.c — no copy of an unencrypted secret key file's contents
 * is left in freed heap memory (SECURITY.md 10: "the armored text is wiped
 * after writing"). keys_save() of a key without a passphrase armors the
 * plain seeds (PROTOCOL.md 9, kdf 0); every buffer the core frees meanwhile
 * is looked at just before it goes back to the allocator: none may still
 * hold the base64 of the seeds.
 *
 * This test is linked with -Wl,--wrap=free (tests/CMakeLists.txt): every
 * free() of the statically linked core reaches __wrap_free() below, which
 * only looks at the block and then frees it as usual (__real_free).
 */
#include "fixture.h"

#include "armor.h"
#include "file.h"

#include <malloc.h>

void __real_free(void *p);
void __wrap_free(void *p);

static const char *s_secret; /* watched: the base64 of the seeds; NULL while not watching */
static size_t s_secret_len;  /* its length */
static size_t s_leaks;       /* freed blocks that still held it */
static size_t s_blocks;      /* blocks freed while watching */

void __wrap_free(void *p)
{
    if (p && s_secret) {
        size_t n = malloc_usable_size(p);
        s_blocks++;
        if (n >= s_secret_len && memmem(p, n, s_secret, s_secret_len))
            s_leaks++;
    }
    __real_free(p);
}

static char s_dir[256];

/* Saves keys made from fixed seeds without a passphrase, watching every free() meanwhile. */
static void test_plain_key_file_not_left_in_heap(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    snprintf(s_dir, sizeof s_dir, "/tmp/asylink-wipe-XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    uint8_t sign_seed[32], box_seed[32];
    for (int i = 0; i < 32; i++) {
        sign_seed[i] = (uint8_t)(0x11 * (i % 15) + 1);
        box_seed[i] = (uint8_t)(0xa5 ^ (7 * i));
    }
    keys_secret *k = NULL;
    assert_int_equal(keys_from_seeds(sign_seed, box_seed, &k), ASYLINK_OK);
    /* The blob of a kdf 0 file holds sign_seed || box_seed at offset 60 (PROTOCOL.md 9): its
       base64 from offset 63 (a multiple of 3) encodes seed bytes only, whatever precedes. */
    uint8_t seeds[63];
    memcpy(seeds, sign_seed + 3, 29);
    memcpy(seeds + 29, box_seed, 32);
    memset(seeds + 61, 0, 2);
    char b64[sodium_base64_ENCODED_LEN(60, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, seeds, 60, sodium_base64_VARIANT_ORIGINAL);
    char path[512];
    snprintf(path, sizeof path, "%s/node.key", s_dir);

    s_secret_len = 48; /* 36 seed bytes: far more than any chance match */
    s_secret = b64;
    int rc = keys_save(k, path, NULL, NULL, "a test key");
    s_secret = NULL;
    assert_int_equal(rc, ASYLINK_OK);
    assert_true(s_blocks > 0); /* the wrap was linked in: frees were seen */

    /* The file does hold them (the search string is right), and reads back. */
    uint8_t *text = NULL;
    size_t len = 0;
    assert_int_equal(file_read_private(path, 4096, &text, &len), ASYLINK_OK);
    char *flat = calloc(1, len + 1);
    assert_non_null(flat);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (text[i] != '\n')
            flat[n++] = (char)text[i];
    assert_non_null(memmem(flat, n, b64, s_secret_len));
    sodium_memzero(flat, len);
    free(flat);
    file_secret_free(text, len);
    keys_secret *back = NULL;
    assert_int_equal(keys_load(path, NULL, &back), ASYLINK_OK);
    assert_memory_equal(back->box_sk, box_seed, 32);
    keys_destroy(&back);
    keys_destroy(&k);
    fx_rmtree(s_dir);

    if (s_leaks)
        fail_msg("%zu freed heap block(s) still held the base64 of the secret seeds", s_leaks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_key_file_not_left_in_heap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
