/*
 * test_blob.c - unit tests of common/src/blob.c through the file:// backend:
 * mm_blob_get_verified() checks size and sha256 and names the blob and both
 * values when they differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/blob.h"
#include "mm/sha256.h"
#include "support.h"

static char *tmpdir;
static mm_blob_t *blob;
static char errstr[1024];
static const char bytes[] = "model artifact bytes";
static char sha[MM_SHA256_HEX_LEN + 1];

static void setup(void) {
    char url[4200];
    tmpdir = mmt_tmpdir("blob");
    cr_assert_not_null(tmpdir);
    snprintf(url, sizeof(url), "file://%s/blobs", tmpdir);
    mm_blob_opts_t opts = {.create_container = true};
    blob = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
    mm_sha256_hex(bytes, strlen(bytes), sha);
    cr_assert_eq(
        mm_blob_put(blob, "candidates/a.mm", bytes, strlen(bytes), 0, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
}

static void teardown(void) {
    mm_blob_destroy(blob);
    mmt_rmtree(tmpdir);
    free(tmpdir);
}

TestSuite(blob, .init = setup, .fini = teardown);

Test(blob, get_verified_returns_the_bytes_when_size_and_digest_match) {
    mm_buf_t out;
    mm_buf_init(&out, MM_BUF_CAP_ARTIFACT);
    cr_assert_eq(mm_blob_get_verified(blob, "candidates/a.mm", sha, (int64_t)strlen(bytes), &out,
                                      errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(out.len, strlen(bytes));
    cr_expect_eq(memcmp(out.data, bytes, out.len), 0);
    /* Hex digests compare case-insensitively; a negative size is not checked. */
    char upper[MM_SHA256_HEX_LEN + 1];
    for (size_t i = 0; i <= MM_SHA256_HEX_LEN; i++)
        upper[i] = (char)((sha[i] >= 'a' && sha[i] <= 'f') ? sha[i] - 'a' + 'A' : sha[i]);
    cr_expect_eq(
        mm_blob_get_verified(blob, "candidates/a.mm", upper, -1, &out, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    mm_buf_free(&out);
}

Test(blob, get_verified_names_the_blob_and_both_digests_on_a_mismatch) {
    char other[MM_SHA256_HEX_LEN + 1];
    mm_sha256_hex("something else", 14, other);
    mm_buf_t out;
    mm_buf_init(&out, MM_BUF_CAP_ARTIFACT);
    cr_expect_eq(
        mm_blob_get_verified(blob, "candidates/a.mm", other, -1, &out, errstr, sizeof(errstr)),
        MM_ERR_INTEGRITY);
    cr_expect(strstr(errstr, "candidates/a.mm") != NULL, "%s", errstr);
    cr_expect(strstr(errstr, sha) != NULL, "actual digest missing: %s", errstr);
    cr_expect(strstr(errstr, other) != NULL, "expected digest missing: %s", errstr);
    cr_expect_eq(out.len, 0, "nothing unverified is handed back");
    cr_expect_eq(
        mm_blob_get_verified(blob, "candidates/a.mm", NULL, -1, &out, errstr, sizeof(errstr)),
        MM_ERR_INTEGRITY, "no expected digest verifies nothing");
    mm_buf_free(&out);
}

Test(blob, get_verified_refuses_a_size_mismatch_and_reports_a_missing_blob) {
    mm_buf_t out;
    mm_buf_init(&out, MM_BUF_CAP_ARTIFACT);
    cr_expect_eq(
        mm_blob_get_verified(blob, "candidates/a.mm", sha, 3, &out, errstr, sizeof(errstr)),
        MM_ERR_INTEGRITY);
    cr_expect(strstr(errstr, "candidates/a.mm") != NULL, "%s", errstr);
    cr_expect_eq(
        mm_blob_get_verified(blob, "candidates/missing.mm", sha, -1, &out, errstr, sizeof(errstr)),
        MM_ERR_NOT_FOUND);
    cr_expect(strstr(errstr, "candidates/missing.mm") != NULL, "%s", errstr);
    mm_buf_free(&out);
}
