/*
 * test_datadir.c — datadir_private(): a data directory made private again
 * (group and other bits removed, each change reported), an entry of
 * another user refused, missing entries skipped, a FIFO refused without
 * blocking.
 */
#include "fixture.h"

#include "asylink/errors.h"
#include "datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const s_names[] = {"lock", "data.mdb", "lock.mdb"};
#define S_N (sizeof s_names / sizeof s_names[0])

/* What the tightened callback was told. */
typedef struct {
    int calls;
    char path[3][512];
    unsigned before[3], after[3];
} s_told;

static void s_tightened(void *arg, const char *path, unsigned before, unsigned after)
{
    s_told *t = arg;
    if (t->calls < 3) {
        snprintf(t->path[t->calls], sizeof t->path[0], "%s", path);
        t->before[t->calls] = before;
        t->after[t->calls] = after;
    }
    t->calls++;
}

/* A fresh directory with mode dir_mode holding data.mdb (file_mode) and lock (0600). */
static void s_make(char *dir, size_t len, mode_t dir_mode, mode_t file_mode)
{
    snprintf(dir, len, "/tmp/asylink-test-datadir.XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[600];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(chmod(path, file_mode), 0);
    snprintf(path, sizeof path, "%s/lock", dir);
    fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(chmod(dir, dir_mode), 0);
}

static mode_t s_mode(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s%s%s", dir, name ? "/" : "", name ? name : "");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void s_remove(const char *dir)
{
    char path[600];
    for (size_t i = 0; i < S_N; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, s_names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void test_private_untouched(void **state)
{
    (void)state;
    char dir[64];
    s_make(dir, sizeof dir, 0700, 0600);
    s_told told = {0};
    char bad[600] = "";
    assert_int_equal(datadir_private(dir, s_names, S_N, s_tightened, &told, bad, sizeof bad, NULL),
                     ASYLINK_OK);
    assert_int_equal(told.calls, 0); /* lock.mdb is missing: skipped */
    assert_int_equal(s_mode(dir, NULL), 0700);
    assert_int_equal(s_mode(dir, "data.mdb"), 0600);
    s_remove(dir);
}

static void test_restored_tightened(void **state)
{
    (void)state;
    char dir[64], want[600];
    s_make(dir, sizeof dir, 0755, 0644); /* as mdb_copy with umask 022 leaves it */
    s_told told = {0};
    assert_int_equal(datadir_private(dir, s_names, S_N, s_tightened, &told, NULL, 0, NULL),
                     ASYLINK_OK);
    assert_int_equal(told.calls, 2);
    assert_string_equal(told.path[0], dir);
    assert_int_equal(told.before[0], 0755);
    assert_int_equal(told.after[0], 0700);
    snprintf(want, sizeof want, "%s/data.mdb", dir);
    assert_string_equal(told.path[1], want);
    assert_int_equal(told.before[1], 0644);
    assert_int_equal(told.after[1], 0600);
    assert_int_equal(s_mode(dir, NULL), 0700);
    assert_int_equal(s_mode(dir, "data.mdb"), 0600);
    assert_int_equal(s_mode(dir, "lock"), 0600);
    /* Again: nothing left to tighten. */
    told.calls = 0;
    assert_int_equal(datadir_private(dir, s_names, S_N, s_tightened, &told, NULL, 0, NULL),
                     ASYLINK_OK);
    assert_int_equal(told.calls, 0);
    s_remove(dir);
}

static void test_other_owner_refused(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip(); /* only root can give a file to another user */
    char dir[64], path[600], bad[600] = "";
    s_make(dir, sizeof dir, 0700, 0600);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    assert_int_equal(chown(path, 65534, 65534), 0);
    unsigned uid = 0;
    s_told told = {0};
    assert_int_equal(datadir_private(dir, s_names, S_N, s_tightened, &told, bad, sizeof bad, &uid),
                     ASYLINK_E_KEY_PERMISSIONS);
    assert_string_equal(bad, path);
    assert_int_equal(uid, 65534);
    s_remove(dir);
}

static void test_fifo_refused(void **state)
{
    (void)state;
    char dir[64], path[600], bad[600] = "";
    s_make(dir, sizeof dir, 0700, 0600);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(datadir_private(dir, s_names, S_N, NULL, NULL, bad, sizeof bad, NULL),
                     ASYLINK_E_IO);
    assert_string_equal(bad, path);
    s_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_private_untouched),
        cmocka_unit_test(test_restored_tightened),
        cmocka_unit_test(test_other_owner_refused),
        cmocka_unit_test(test_fifo_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
