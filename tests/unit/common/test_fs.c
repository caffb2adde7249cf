/*
 * test_fs.c - common/src/fs.c: whole-file reads under a cap, atomic writes,
 * and mkdir -p. State files and artifacts go through these: a read must never
 * pass its cap, and an atomic write must leave either the old file or the new
 * one, never a torn one or a stray temporary file.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mm/fs.h"

static char dir[256];

static void setup(void) {
    snprintf(dir, sizeof(dir), "/tmp/mm-test-fs-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_rf(const char *path) {
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    cr_expect_eq(system(cmd), 0);
}

static void teardown(void) {
    rm_rf(dir);
}

static size_t entries_in(const char *path) {
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

TestSuite(fs, .init = setup, .fini = teardown);

Test(fs, atomic_write_then_read_gives_the_same_bytes_and_leaves_no_temporary_file) {
    char path[300], errstr[256];
    snprintf(path, sizeof(path), "%s/state.bin", dir);
    const char data[] = "first\0second";
    cr_assert_eq(mm_file_write_atomic(path, data, sizeof(data), errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    mm_buf_t buf;
    mm_buf_init(&buf, 1024);
    cr_assert_eq(mm_file_read(path, &buf, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(buf.len, sizeof(data));
    cr_assert_eq(memcmp(buf.data, data, sizeof(data)), 0);
    mm_buf_free(&buf);
    cr_assert_eq(entries_in(dir), 1, "a temporary file was left beside the target");
}

Test(fs, atomic_write_replaces_an_existing_file_whole) {
    char path[300], errstr[256];
    snprintf(path, sizeof(path), "%s/f", dir);
    cr_assert_eq(mm_file_write_atomic(path, "a long old content", 18, errstr, sizeof(errstr)),
                 MM_OK);
    cr_assert_eq(mm_file_write_atomic(path, "new", 3, errstr, sizeof(errstr)), MM_OK);
    mm_buf_t buf;
    mm_buf_init(&buf, 1024);
    cr_assert_eq(mm_file_read(path, &buf, errstr, sizeof(errstr)), MM_OK);
    cr_assert_eq(buf.len, 3);
    cr_assert_eq(memcmp(buf.data, "new", 3), 0);
    mm_buf_free(&buf);
}

Test(fs, read_over_the_cap_is_refused_and_a_missing_file_is_an_io_error_naming_it) {
    char path[300], errstr[256];
    snprintf(path, sizeof(path), "%s/big", dir);
    char data[100];
    memset(data, 'x', sizeof(data));
    cr_assert_eq(mm_file_write_atomic(path, data, sizeof(data), errstr, sizeof(errstr)), MM_OK);
    mm_buf_t buf;
    mm_buf_init(&buf, 50);
    cr_expect_eq(mm_file_read(path, &buf, errstr, sizeof(errstr)), MM_ERR_NOMEM);
    cr_expect_leq(buf.len, 50);
    mm_buf_free(&buf);

    snprintf(path, sizeof(path), "%s/absent", dir);
    mm_buf_init(&buf, 50);
    cr_expect_eq(mm_file_read(path, &buf, errstr, sizeof(errstr)), MM_ERR_IO);
    cr_expect_not_null(strstr(errstr, "absent"), "the error does not name the file: %s", errstr);
    mm_buf_free(&buf);
}

Test(fs, mkdirs_creates_every_level_and_accepts_an_existing_path) {
    char path[300], errstr[256];
    snprintf(path, sizeof(path), "%s/a/b/c", dir);
    cr_assert_eq(mm_mkdirs(path, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(mm_mkdirs(path, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

Test(fs, mkdirs_through_a_file_fails_with_an_io_error) {
    char path[300], errstr[256];
    snprintf(path, sizeof(path), "%s/file", dir);
    cr_assert_eq(mm_file_write_atomic(path, "x", 1, errstr, sizeof(errstr)), MM_OK);
    snprintf(path, sizeof(path), "%s/file/sub", dir);
    cr_expect_eq(mm_mkdirs(path, errstr, sizeof(errstr)), MM_ERR_IO);
}
