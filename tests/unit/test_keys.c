/*
 * test_keys.c — key generation and the secret key file: mode 0600,
 * passphrase protection, permissions checks, hostile files.
 */
#include "fixture.h"

#include "armor.h"
#include "file.h"

static const keys_kdf_cost s_fast = {.opslimit = 1, .memlimit_kib = 8 * 1024};

static char s_dir[256];

static int s_setup(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    snprintf(s_dir, sizeof s_dir, "/tmp/asylink-keys-XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    fx_rmtree(s_dir);
    return 0;
}

static const char *s_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", s_dir, name);
    return buf;
}

static void s_same_keys(const keys_secret *a, const keys_secret *b)
{
    assert_memory_equal(a->sign_sk, b->sign_sk, sizeof a->sign_sk);
    assert_memory_equal(a->sign_pk, b->sign_pk, sizeof a->sign_pk);
    assert_memory_equal(a->box_sk, b->box_sk, sizeof a->box_sk);
    assert_memory_equal(a->box_pk, b->box_pk, sizeof a->box_pk);
}

static void test_plain_roundtrip_and_mode(void **state)
{
    (void)state;
    keys_secret *k = NULL, *l = NULL;
    assert_int_equal(keys_generate(&k), ASYLINK_OK);
    const char *p = s_path("plain.key");
    assert_int_equal(keys_save(k, p, NULL, NULL, "DE test key"), ASYLINK_OK);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(keys_file_is_encrypted(p), 0);
    assert_int_equal(keys_load(p, NULL, &l), ASYLINK_OK);
    s_same_keys(k, l);
    /* Never overwrites an existing key. */
    assert_int_equal(keys_save(k, p, NULL, NULL, NULL), ASYLINK_E_EXISTS);
    keys_destroy(&k);
    keys_destroy(&l);
    assert_null(k);
    keys_destroy(&k); /* NULL is fine */
}

static void test_permissions_refused(void **state)
{
    (void)state;
    keys_secret *k = NULL, *l = NULL;
    assert_int_equal(keys_generate(&k), ASYLINK_OK);
    const char *p = s_path("open.key");
    assert_int_equal(keys_save(k, p, NULL, NULL, NULL), ASYLINK_OK);
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(keys_load(p, NULL, &l), ASYLINK_E_KEY_PERMISSIONS);
    assert_null(l);
    assert_int_equal(chmod(p, 0620), 0);
    assert_int_equal(keys_load(p, NULL, &l), ASYLINK_E_KEY_PERMISSIONS);
    assert_int_equal(chmod(p, 0400), 0);
    assert_int_equal(keys_load(p, NULL, &l), ASYLINK_OK);
    keys_destroy(&k);
    keys_destroy(&l);
    assert_int_equal(keys_load(s_path("missing.key"), NULL, &l), ASYLINK_E_NOT_FOUND);
    /* A symbolic link to a good key file is refused: it could be swapped. */
    char target[512];
    snprintf(target, sizeof target, "%s", s_path("open.key"));
    assert_int_equal(chmod(target, 0600), 0);
    assert_int_equal(symlink(target, s_path("link.key")), 0);
    assert_int_equal(keys_load(s_path("link.key"), NULL, &l), ASYLINK_E_KEY_PERMISSIONS);
    assert_null(l);
}

static void test_cost_bounds(void **state)
{
    (void)state;
    keys_secret *k = NULL;
    assert_int_equal(keys_generate(&k), ASYLINK_OK);
    keys_kdf_cost huge = {.opslimit = 100, .memlimit_kib = 8192};
    assert_int_equal(keys_save(k, s_path("c1.key"), "pw", &huge, NULL), ASYLINK_E_INVALID_ARG);
    keys_kdf_cost big = {.opslimit = 1, .memlimit_kib = 2u * 1024 * 1024};
    assert_int_equal(keys_save(k, s_path("c2.key"), "pw", &big, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(keys_save(k, s_path("c3.key"), "", &s_fast, NULL), ASYLINK_E_INVALID_ARG);
    assert_int_equal(access(s_path("c1.key"), F_OK), -1);
    keys_destroy(&k);
}

static void test_passphrase(void **state)
{
    (void)state;
    keys_secret *k = NULL, *l = NULL;
    assert_int_equal(keys_generate(&k), ASYLINK_OK);
    const char *p = s_path("enc.key");
    assert_int_equal(keys_save(k, p, "correct horse battery staple", &s_fast, NULL), ASYLINK_OK);
    assert_int_equal(keys_file_is_encrypted(p), 1);
    assert_int_equal(keys_load(p, NULL, &l), ASYLINK_E_PASSPHRASE_REQUIRED);
    assert_int_equal(keys_load(p, "wrong", &l), ASYLINK_E_BAD_PASSPHRASE);
    assert_null(l);
    assert_int_equal(keys_load(p, "correct horse battery staple", &l), ASYLINK_OK);
    s_same_keys(k, l);
    /* The secret seed does not appear in the file. */
    uint8_t *text = NULL, *bin = NULL;
    size_t tl = 0, bl = 0;
    assert_int_equal(file_read(p, 0, &text, &tl), ASYLINK_OK);
    assert_int_equal(armor_decode(ARMOR_SECRET_KEY, (char *)text, tl, 0, &bin, &bl), ASYLINK_OK);
    assert_null(memmem(bin, bl, k->sign_sk, 32));
    assert_null(memmem(bin, bl, k->box_sk, 32));
    free(text);
    free(bin);
    keys_destroy(&k);
    keys_destroy(&l);
}

/* Writes an armored key blob with mode 0600. */
static void s_write_blob(const char *path, const uint8_t *blob, size_t len)
{
    char *text = NULL;
    assert_int_equal(armor_encode(ARMOR_SECRET_KEY, NULL, blob, len, &text), ASYLINK_OK);
    unlink(path);
    assert_int_equal(file_write_atomic(path, text, strlen(text), 0600, 0), ASYLINK_OK);
    free(text);
}

static void test_hostile_files(void **state)
{
    (void)state;
    keys_secret *l = NULL;
    const char *p = s_path("bad.key");
    assert_int_equal(file_write_atomic(p, "garbage\n", 8, 0600, 0), ASYLINK_OK);
    assert_int_equal(keys_load(p, NULL, &l), ASYLINK_E_MALFORMED);
    uint8_t blob[140] = "ASYLKEY1";
    s_write_blob(p, blob, 30); /* truncated */
    assert_int_equal(keys_load(p, NULL, &l), ASYLINK_E_MALFORMED);
    blob[8] = 7; /* unknown KDF */
    s_write_blob(p, blob, 140);
    assert_int_equal(keys_load(p, "x", &l), ASYLINK_E_UNSUPPORTED_VERSION);
    /* Argon2id asking for 4 TiB of memory must be refused, not attempted. */
    blob[8] = 1;
    blob[15] = 2;                       /* opslimit 2 */
    memset(blob + 16, 0xff, 4);         /* memlimit 4 TiB */
    s_write_blob(p, blob, 140);
    assert_int_equal(keys_load(p, "x", &l), ASYLINK_E_MALFORMED);
    assert_int_equal(file_write_atomic(p, "x", 1, 0600, 0), ASYLINK_OK);
    assert_int_equal(keys_load(p, NULL, &l), ASYLINK_E_MALFORMED);
    /* over KEYS_FILE_MAX: TOO_LARGE (callers say the size and the limit), not MALFORMED */
    char big[KEYS_FILE_MAX + 1];
    memset(big, 'x', sizeof big);
    assert_int_equal(file_write_atomic(p, big, sizeof big, 0600, 0), ASYLINK_OK);
    assert_int_equal(keys_load(p, NULL, &l), ASYLINK_E_TOO_LARGE);
    assert_int_equal(file_write_atomic(p, big, KEYS_FILE_MAX, 0600, 0), ASYLINK_OK);
    assert_int_equal(keys_load(p, NULL, &l), ASYLINK_E_MALFORMED); /* at the limit: read, parsed */
    assert_null(l);
}

static void test_from_seeds_deterministic(void **state)
{
    (void)state;
    uint8_t s1[32], s2[32];
    memset(s1, 1, 32);
    memset(s2, 2, 32);
    keys_secret *a = NULL, *b = NULL;
    assert_int_equal(keys_from_seeds(s1, s2, &a), ASYLINK_OK);
    assert_int_equal(keys_from_seeds(s1, s2, &b), ASYLINK_OK);
    s_same_keys(a, b);
    assert_memory_equal(a->box_sk, s2, 32);
    keys_destroy(&a);
    keys_destroy(&b);
}

/* The one wording of the permission and passphrase advice, with the caller's parts. */
static void test_file_hint(void **state)
{
    (void)state;
    char buf[512];
    assert_string_equal(keys_file_hint(ASYLINK_E_KEY_PERMISSIONS, "the key file", "/k/B.key",
                                       "unused", buf, sizeof buf),
                        "the key file must be a regular file, not a symbolic link, owned by the "
                        "user running this program and closed to everyone else: chmod 600 "
                        "/k/B.key");
    assert_string_equal(keys_file_hint(ASYLINK_E_PASSPHRASE_REQUIRED, "the key file", "/k/B.key",
                                       "set it in X", buf, sizeof buf),
                        "the key file is encrypted: set it in X");
    assert_string_equal(keys_file_hint(ASYLINK_E_IO, "s", "p", "h", buf, sizeof buf), "");
    char small[16];
    assert_int_equal(
        strlen(keys_file_hint(ASYLINK_E_KEY_PERMISSIONS, "s", "p", "h", small, sizeof small)),
        sizeof small - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_roundtrip_and_mode),
        cmocka_unit_test(test_permissions_refused),
        cmocka_unit_test(test_passphrase),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_cost_bounds),
        cmocka_unit_test(test_from_seeds_deterministic),
        cmocka_unit_test(test_file_hint),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
