/*
 * test_blob_conformance.c - one suite of blob store behaviours run against
 * both backends (common/src/blob*.c): file:// in a temp directory and Azure
 * Blob as served by Azurite, started per test on a free loopback port. Then
 * backend-specific checks: Azure auth (wrong key, account SAS) and, against a
 * scripted loopback HTTP server, retries, error text, copy polling and list
 * paging.
 *
 * Azurite missing is a failure with a clear message, unless MM_SKIP_AZURITE=1.
 * Built twice (see MMT_BLOB_AZURITE below): test_blob_conformance_file is a
 * unit test, test_blob_conformance the integration test against Azurite.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "azurite.h"
#include "fake_http.h"
#include "mm/blob.h"
#include "mm/sha256.h"
#include "mm/util.h"
#include "support.h"

/* ---- fixtures: one store per test ---- */

typedef struct store {
    mm_blob_t *blob;
    char *dir;             /* file:// root */
    mmt_azurite_t azurite; /* Azurite backend */
    bool azure;
} store_t;

static store_t g_store;

#if MMT_BLOB_AZURITE
static bool azurite_skipped(void) {
    const char *skip = getenv("MM_SKIP_AZURITE");
    return skip && strcmp(skip, "1") == 0;
}

#endif

#if !MMT_BLOB_AZURITE
static void file_store_open(store_t *st) {
    char errstr[512] = "";
    memset(st, 0, sizeof(*st));
    st->dir = mmt_tmpdir("blob");
    cr_assert_not_null(st->dir);
    char url[4200];
    snprintf(url, sizeof(url), "file://%s/store", st->dir);
    mm_blob_opts_t opts = {.create_container = true};
    st->blob = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(st->blob, "mm_blob_new(%s): %s", url, errstr);
}
#endif

#if MMT_BLOB_AZURITE
static char *azurite_url(const store_t *st, const char *container) {
    char url[512];
    snprintf(url, sizeof(url), "%s/%s", st->azurite.endpoint, container);
    return strdup(url);
}

static void azurite_store_open(store_t *st) {
    char errstr[512] = "";
    memset(st, 0, sizeof(*st));
    st->azure = true;
    st->azurite.pid = -1;
    cr_assert(mmt_azurite_start(&st->azurite),
              "Azurite did not start (see stderr); install it with scripts/deps.sh or set "
              "MM_SKIP_AZURITE=1 to skip these tests");
    char *url = azurite_url(st, "models");
    mm_blob_opts_t opts = {.account_key = MMT_AZURITE_KEY,
                           .create_container = true,
                           .retry_base_ms = 10,
                           .retry_cap_ms = 100};
    st->blob = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(st->blob, "mm_blob_new(%s): %s", url, errstr);
    free(url);
}

#endif

static void store_close(void) {
    store_t *st = &g_store;
    mm_blob_destroy(st->blob);
    st->blob = NULL;
    if (st->azure) mmt_azurite_stop(&st->azurite);
    if (st->dir) {
        mmt_rmtree(st->dir);
        free(st->dir);
        st->dir = NULL;
    }
}

/*
 * This file builds two binaries: MMT_BLOB_AZURITE=0 is the unit binary
 * (file:// and the scripted loopback server: no network, no processes),
 * MMT_BLOB_AZURITE=1 the integration binary (Azurite only). One behaviour,
 * one body: Test(blob_file, name) in the first, Test(blob_azurite, name) in
 * the second.
 */
#if MMT_BLOB_AZURITE
#define BOTH_BACKENDS(name)                                                                        \
    static void name##_body(store_t *st);                                                          \
    Test(blob_azurite, name, .fini = store_close) {                                                \
        if (azurite_skipped()) cr_skip_test("MM_SKIP_AZURITE=1");                                  \
        azurite_store_open(&g_store);                                                              \
        name##_body(&g_store);                                                                     \
    }                                                                                              \
    static void name##_body(store_t *st)
#define AZURITE_ONLY(name) BOTH_BACKENDS(name)
#else
#define BOTH_BACKENDS(name)                                                                        \
    static void name##_body(store_t *st);                                                          \
    Test(blob_file, name, .fini = store_close) {                                                   \
        file_store_open(&g_store);                                                                 \
        name##_body(&g_store);                                                                     \
    }                                                                                              \
    static void name##_body(store_t *st)
#endif

/* ---- helpers ---- */

static void put_ok(mm_blob_t *blob, const char *name, const char *text) {
    char errstr[512] = "";
    mm_err_t err = mm_blob_put(blob, name, text, strlen(text), 0, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "put %s: %s: %s", name, mm_err_name(err), errstr);
}

static void expect_content(mm_blob_t *blob, const char *name, const char *text) {
    char errstr[512] = "";
    mm_buf_t out;
    mm_buf_init(&out, MM_BUF_CAP_ARTIFACT);
    mm_err_t err = mm_blob_get(blob, name, &out, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "get %s: %s: %s", name, mm_err_name(err), errstr);
    cr_expect_eq(out.len, strlen(text), "length of %s", name);
    cr_expect(out.len == strlen(text) && memcmp(out.data, text, out.len) == 0,
              "content of %s is \"%s\", expected \"%s\"", name, (char *)out.data, text);
    mm_buf_free(&out);
}

static mm_err_t get_err(mm_blob_t *blob, const char *name) {
    char errstr[512] = "";
    mm_buf_t out;
    mm_buf_init(&out, MM_BUF_CAP_ARTIFACT);
    mm_err_t err = mm_blob_get(blob, name, &out, errstr, sizeof(errstr));
    mm_buf_free(&out);
    return err;
}

typedef struct listing {
    char names[64][256];
    int64_t sizes[64];
    int n;
    int stop_after; /* 0 = never stop */
} listing_t;

static bool collect(void *opaque, const char *name, int64_t size) {
    listing_t *l = opaque;
    if (l->n < 64) {
        snprintf(l->names[l->n], sizeof(l->names[l->n]), "%s", name);
        l->sizes[l->n] = size;
    }
    l->n++;
    return !(l->stop_after && l->n >= l->stop_after);
}

/* ---- behaviours shared by both backends ---- */

BOTH_BACKENDS(put_then_get_round_trips_bytes) {
    char errstr[512] = "";
    uint8_t bytes[3000];
    for (size_t i = 0; i < sizeof(bytes); i++) bytes[i] = (uint8_t)(i * 7 + i / 256);
    mm_err_t err = mm_blob_put(st->blob, "candidates/ds/a.mm", bytes, sizeof(bytes), 0, errstr,
                               sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    mm_buf_t out;
    mm_buf_init(&out, MM_BUF_CAP_ARTIFACT);
    err = mm_blob_get(st->blob, "candidates/ds/a.mm", &out, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    cr_assert_eq(out.len, sizeof(bytes));
    cr_expect(memcmp(out.data, bytes, sizeof(bytes)) == 0);

    /* An empty blob is a blob, not a missing one. */
    err = mm_blob_put(st->blob, "empty", "", 0, 0, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    err = mm_blob_get(st->blob, "empty", &out, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    cr_expect_eq(out.len, 0);
    mm_buf_free(&out);
}

BOTH_BACKENDS(get_respects_the_buffer_limit) {
    char errstr[512] = "";
    put_ok(st->blob, "big", "0123456789");
    mm_buf_t out;
    mm_buf_init(&out, 4);
    mm_err_t err = mm_blob_get(st->blob, "big", &out, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_NOMEM, "got %s", mm_err_name(err));
    mm_buf_free(&out);
}

BOTH_BACKENDS(put_if_none_match_refuses_to_overwrite_existing_blob) {
    char errstr[512] = "";
    put_ok(st->blob, "candidates/x.mm", "first");
    mm_err_t err = mm_blob_put(st->blob, "candidates/x.mm", "second", 6, MM_BLOB_IF_NONE_MATCH,
                               errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_EXISTS, "got %s: %s", mm_err_name(err), errstr);
    expect_content(st->blob, "candidates/x.mm", "first");

    /* Without the flag a put replaces the content. */
    put_ok(st->blob, "candidates/x.mm", "third");
    expect_content(st->blob, "candidates/x.mm", "third");

    /* With the flag on a new name it simply stores. */
    err = mm_blob_put(st->blob, "candidates/y.mm", "new", 3, MM_BLOB_IF_NONE_MATCH, errstr,
                      sizeof(errstr));
    cr_expect_eq(err, MM_OK, "%s", errstr);
    expect_content(st->blob, "candidates/y.mm", "new");
}

BOTH_BACKENDS(put_immutable_accepts_identical_content_and_rejects_different) {
    char errstr[512] = "";
    const char *data = "model bytes v1";
    char sha[MM_SHA256_HEX_LEN + 1];
    mm_sha256_hex(data, strlen(data), sha);
    char name[128];
    snprintf(name, sizeof(name), "candidates/ds/%s.mm", sha);

    mm_err_t err =
        mm_blob_put_immutable(st->blob, name, data, strlen(data), sha, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "first put: %s", errstr);
    err = mm_blob_put_immutable(st->blob, name, data, strlen(data), sha, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_OK, "identical re-put: %s: %s", mm_err_name(err), errstr);

    /* Different bytes under the same name: shorter, longer and same length. */
    const char *others[] = {"model", "model bytes v1 and more", "model bytes v2"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(others); i++) {
        char other_sha[MM_SHA256_HEX_LEN + 1];
        mm_sha256_hex(others[i], strlen(others[i]), other_sha);
        err = mm_blob_put_immutable(st->blob, name, others[i], strlen(others[i]), other_sha, errstr,
                                    sizeof(errstr));
        cr_expect_eq(err, MM_ERR_INTEGRITY, "\"%s\": got %s", others[i], mm_err_name(err));
    }
    expect_content(st->blob, name, data);

    /* Bytes that do not match the caller's digest are never stored. */
    err = mm_blob_put_immutable(st->blob, "candidates/ds/liar.mm", "abc", 3, sha, errstr,
                                sizeof(errstr));
    cr_expect_eq(err, MM_ERR_INTEGRITY);
    cr_expect_eq(get_err(st->blob, "candidates/ds/liar.mm"), MM_ERR_NOT_FOUND);
}

BOTH_BACKENDS(get_of_missing_name_is_not_found) {
    char errstr[512] = "";
    mm_buf_t out;
    mm_buf_init(&out, 1024);
    mm_err_t err = mm_blob_get(st->blob, "candidates/nope.mm", &out, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_NOT_FOUND, "got %s: %s", mm_err_name(err), errstr);
    /* A "directory" of other blobs is not a blob either. */
    put_ok(st->blob, "dir/inside", "x");
    err = mm_blob_get(st->blob, "dir", &out, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_NOT_FOUND, "got %s: %s", mm_err_name(err), errstr);
    mm_buf_free(&out);
}

BOTH_BACKENDS(list_returns_exactly_the_prefixed_names_in_lexical_order) {
    char errstr[512] = "";
    /* Inserted out of order; '-' < '.' < '/' < '0' in byte order, so a
     * per-directory walk would get "p/a/b" vs "p/a.txt" wrong. */
    const char *names[] = {"p/b",   "p/a/b", "p/a.txt", "p/a-b", "p/a/a",  "p/0",
                           "p/a/c", "q/a",   "pa",      "o/p/x", "p/z/y/x"};
    const char *want[] = {"p/0", "p/a-b", "p/a.txt", "p/a/a", "p/a/b", "p/a/c", "p/b", "p/z/y/x"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(names); i++) put_ok(st->blob, names[i], names[i]);
    /* Two names per page: on Azure the listing takes several NextMarker round trips. */
    mm_blob_set_list_page_size(st->blob, 2);

    listing_t l = {0};
    mm_err_t err = mm_blob_list(st->blob, "p/", collect, &l, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    cr_assert_eq(l.n, (int)MM_ARRAY_SIZE(want), "listed %d names", l.n);
    for (size_t i = 0; i < MM_ARRAY_SIZE(want); i++) {
        cr_expect_str_eq(l.names[i], want[i], "name %zu", i);
        cr_expect_eq(l.sizes[i], (int64_t)strlen(want[i]), "size of %s", want[i]);
    }

    /* A partial last segment is a prefix too. */
    memset(&l, 0, sizeof(l));
    err = mm_blob_list(st->blob, "p/a", collect, &l, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    cr_assert_eq(l.n, 5);
    cr_expect_str_eq(l.names[0], "p/a-b");
    cr_expect_str_eq(l.names[4], "p/a/c");

    /* The empty prefix lists everything. */
    memset(&l, 0, sizeof(l));
    err = mm_blob_list(st->blob, "", collect, &l, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    cr_expect_eq(l.n, (int)MM_ARRAY_SIZE(names));
    cr_expect_str_eq(l.names[0], "o/p/x");
    cr_expect_str_eq(l.names[l.n - 1], "q/a");

    /* No match is an empty listing, not an error. */
    memset(&l, 0, sizeof(l));
    err = mm_blob_list(st->blob, "nothing/", collect, &l, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_OK, "%s", errstr);
    cr_expect_eq(l.n, 0);
}

BOTH_BACKENDS(list_stops_when_the_callback_returns_false) {
    char errstr[512] = "";
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof(name), "s/%d", i);
        put_ok(st->blob, name, "x");
    }
    mm_blob_set_list_page_size(st->blob, 2);
    listing_t l = {.stop_after = 3};
    mm_err_t err = mm_blob_list(st->blob, "s/", collect, &l, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_OK, "%s", errstr);
    cr_expect_eq(l.n, 3);
    cr_expect_str_eq(l.names[2], "s/2");
}

BOTH_BACKENDS(delete_then_get_is_not_found) {
    char errstr[512] = "";
    put_ok(st->blob, "production/ds/k=1/m.mm", "m");
    put_ok(st->blob, "production/ds/k=1/n.mm", "n");
    mm_err_t err = mm_blob_delete(st->blob, "production/ds/k=1/m.mm", errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    cr_expect_eq(get_err(st->blob, "production/ds/k=1/m.mm"), MM_ERR_NOT_FOUND);
    expect_content(st->blob, "production/ds/k=1/n.mm", "n");
    err = mm_blob_delete(st->blob, "production/ds/k=1/m.mm", errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_NOT_FOUND, "second delete: %s", mm_err_name(err));

    /* Deleting the last name under a prefix leaves nothing listed there,
     * and the name can be written again. */
    err = mm_blob_delete(st->blob, "production/ds/k=1/n.mm", errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    listing_t l = {0};
    cr_assert_eq(mm_blob_list(st->blob, "production/", collect, &l, errstr, sizeof(errstr)), MM_OK);
    cr_expect_eq(l.n, 0);
    put_ok(st->blob, "production/ds/k=1/n.mm", "again");
    expect_content(st->blob, "production/ds/k=1/n.mm", "again");
}

BOTH_BACKENDS(copy_creates_the_destination_with_the_same_bytes) {
    char errstr[512] = "";
    put_ok(st->blob, "candidates/ds/k=1/abc.mm", "artifact");
    mm_err_t err = mm_blob_copy(st->blob, "candidates/ds/k=1/abc.mm", "production/ds/k=1/abc.mm",
                                MM_BLOB_IF_NONE_MATCH, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s: %s", mm_err_name(err), errstr);
    expect_content(st->blob, "production/ds/k=1/abc.mm", "artifact");
    expect_content(st->blob, "candidates/ds/k=1/abc.mm", "artifact");

    err = mm_blob_copy(st->blob, "candidates/missing.mm", "production/missing.mm", 0, errstr,
                       sizeof(errstr));
    cr_expect_eq(err, MM_ERR_NOT_FOUND, "copy of a missing source: %s: %s", mm_err_name(err),
                 errstr);
    cr_expect_eq(get_err(st->blob, "production/missing.mm"), MM_ERR_NOT_FOUND);
}

BOTH_BACKENDS(copy_onto_identical_existing_is_success_and_onto_different_is_exists) {
    char errstr[512] = "";
    put_ok(st->blob, "candidates/a.mm", "same bytes");
    put_ok(st->blob, "production/a.mm", "same bytes");
    mm_err_t err = mm_blob_copy(st->blob, "candidates/a.mm", "production/a.mm",
                                MM_BLOB_IF_NONE_MATCH, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_OK, "identical: %s: %s", mm_err_name(err), errstr);

    put_ok(st->blob, "production/b.mm", "other bytes");
    put_ok(st->blob, "candidates/b.mm", "new bytes");
    err = mm_blob_copy(st->blob, "candidates/b.mm", "production/b.mm", MM_BLOB_IF_NONE_MATCH,
                       errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_EXISTS, "different: %s", mm_err_name(err));
    expect_content(st->blob, "production/b.mm", "other bytes");

    /* Without the flag a copy overwrites. */
    err = mm_blob_copy(st->blob, "candidates/b.mm", "production/b.mm", 0, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_OK, "%s", errstr);
    expect_content(st->blob, "production/b.mm", "new bytes");
}

BOTH_BACKENDS(names_with_equals_and_percent_round_trip) {
    char errstr[512] = "";
    /* Partition keys: '=' between column and value, values percent-encoded,
     * so a literal "%2F" must stay "%2F" and never become a '/'. */
    const char *name = "candidates/sales/store=12/item=a%2Fb c+d/x.mm";
    put_ok(st->blob, name, "pk");
    expect_content(st->blob, name, "pk");
    cr_expect_eq(get_err(st->blob, "candidates/sales/store=12/item=a/b c+d/x.mm"),
                 MM_ERR_NOT_FOUND);

    listing_t l = {0};
    mm_err_t err = mm_blob_list(st->blob, "candidates/sales/store=12/item=a%2F", collect, &l,
                                errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    cr_assert_eq(l.n, 1);
    cr_expect_str_eq(l.names[0], name);

    const char *dst = "production/sales/store=12/item=a%2Fb c+d/x.mm";
    err = mm_blob_copy(st->blob, name, dst, MM_BLOB_IF_NONE_MATCH, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    expect_content(st->blob, dst, "pk");
    err = mm_blob_delete(st->blob, dst, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_OK, "%s", errstr);
    cr_expect_eq(get_err(st->blob, dst), MM_ERR_NOT_FOUND);
}

BOTH_BACKENDS(names_that_could_escape_or_are_ambiguous_are_rejected) {
    char errstr[512] = "";
    const char *bad[] = {"",   "/abs", "a//b", "a/../../etc/passwd", "..", "./a",
                         "a/", "a\nb", "a\\b"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(bad); i++) {
        mm_err_t err = mm_blob_put(st->blob, bad[i], "x", 1, 0, errstr, sizeof(errstr));
        cr_expect_eq(err, MM_ERR_INVALID_ARG, "put \"%s\": %s", bad[i], mm_err_name(err));
    }
    listing_t l = {0};
    cr_expect_eq(mm_blob_list(st->blob, "../", collect, &l, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
}

#if MMT_BLOB_AZURITE
/* ---- Azure only: authorization ---- */

AZURITE_ONLY(wrong_account_key_is_an_auth_error) {
    char errstr[512] = "";
    put_ok(st->blob, "k", "v");
    char *url = azurite_url(st, "models");
    /* A well-formed key that is not the account's. */
    mm_blob_opts_t opts = {.account_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
                           .retry_base_ms = 1};
    mm_blob_t *bad = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(bad, "%s", errstr);
    mm_buf_t out;
    mm_buf_init(&out, 1024);
    mm_err_t err = mm_blob_get(bad, "k", &out, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_AUTH, "got %s: %s", mm_err_name(err), errstr);
    cr_expect(strstr(errstr, "403") != NULL, "errstr names the status: %s", errstr);
    err = mm_blob_put(bad, "k2", "v", 1, 0, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_AUTH, "got %s: %s", mm_err_name(err), errstr);
    mm_buf_free(&out);
    mm_blob_destroy(bad);
    free(url);
}

AZURITE_ONLY(account_sas_store_can_put_get_list_copy_and_delete) {
    char errstr[512] = "";
    char *sas = mm_blob_azure_account_sas(MMT_AZURITE_ACCOUNT, MMT_AZURITE_KEY, "rwdlac", "sco",
                                          mm_now_ms() / 1000 + 3600);
    cr_assert_not_null(sas);
    char *url = azurite_url(st, "sas-models");
    mm_blob_opts_t opts = {.sas_token = sas, .create_container = true};
    mm_blob_t *blob = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "SAS store: %s", errstr);
    put_ok(blob, "candidates/k=1/a.mm", "via sas");
    expect_content(blob, "candidates/k=1/a.mm", "via sas");
    mm_err_t err = mm_blob_copy(blob, "candidates/k=1/a.mm", "production/k=1/a.mm",
                                MM_BLOB_IF_NONE_MATCH, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_OK, "copy: %s", errstr);
    expect_content(blob, "production/k=1/a.mm", "via sas");
    listing_t l = {0};
    err = mm_blob_list(blob, "", collect, &l, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_OK, "%s", errstr);
    cr_expect_eq(l.n, 2);
    err = mm_blob_delete(blob, "production/k=1/a.mm", errstr, sizeof(errstr));
    cr_expect_eq(err, MM_OK, "%s", errstr);
    mm_blob_destroy(blob);

    /* The same token, read-only and expired, is refused. */
    char *expired = mm_blob_azure_account_sas(MMT_AZURITE_ACCOUNT, MMT_AZURITE_KEY, "r", "sco",
                                              mm_now_ms() / 1000 - 3600);
    cr_assert_not_null(expired);
    mm_blob_opts_t bad_opts = {.sas_token = expired, .retry_base_ms = 1};
    blob = mm_blob_new(url, &bad_opts, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
    mm_buf_t out;
    mm_buf_init(&out, 1024);
    err = mm_blob_get(blob, "candidates/k=1/a.mm", &out, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_AUTH, "expired SAS: %s: %s", mm_err_name(err), errstr);
    mm_buf_free(&out);
    mm_blob_destroy(blob);
    free(expired);
    free(sas);
    free(url);
}

AZURITE_ONLY(store_url_with_a_path_keeps_names_under_it) {
    char errstr[512] = "";
    char *url = azurite_url(st, "models/tenant-a");
    mm_blob_opts_t opts = {.account_key = MMT_AZURITE_KEY};
    mm_blob_t *sub = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(sub, "%s", errstr);
    put_ok(sub, "x/y", "scoped");
    expect_content(st->blob, "tenant-a/x/y", "scoped");
    listing_t l = {0};
    cr_assert_eq(mm_blob_list(sub, "x/", collect, &l, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(l.n, 1);
    cr_expect_str_eq(l.names[0], "x/y");
    mm_blob_destroy(sub);
    free(url);
}
#endif

#if !MMT_BLOB_AZURITE
/* ---- file:// only ---- */

Test(blob_file, put_leaves_no_temp_files_and_delete_prunes_empty_directories, .fini = store_close) {
    char errstr[512] = "";
    file_store_open(&g_store);
    store_t *st = &g_store;
    put_ok(st->blob, "a/b/c.mm", "1");
    mm_err_t err =
        mm_blob_put(st->blob, "a/b/c.mm", "2", 1, MM_BLOB_IF_NONE_MATCH, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_EXISTS);
    char path[4300];
    snprintf(path, sizeof(path), "%s/store/.mm-tmp", st->dir);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    int entries = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') entries++;
    closedir(d);
    cr_expect_eq(entries, 0, "temp files left behind");

    cr_assert_eq(mm_blob_delete(st->blob, "a/b/c.mm", errstr, sizeof(errstr)), MM_OK);
    struct stat sb;
    snprintf(path, sizeof(path), "%s/store/a", st->dir);
    cr_expect(stat(path, &sb) != 0, "emptied directory %s still exists", path);
    /* The reserved temp directory is not a blob namespace. */
    err = mm_blob_put(st->blob, ".mm-tmp/x", "1", 1, 0, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_INVALID_ARG);
}

Test(blob_file, missing_root_is_an_error_unless_create_container) {
    char errstr[512] = "";
    char *dir = mmt_tmpdir("blobroot");
    cr_assert_not_null(dir);
    char url[4200];
    snprintf(url, sizeof(url), "file://%s/not/there", dir);
    mm_blob_t *blob = mm_blob_new(url, NULL, errstr, sizeof(errstr));
    cr_expect_null(blob);
    cr_expect(strstr(errstr, "not/there") != NULL, "errstr names the path: %s", errstr);
    mm_blob_opts_t opts = {.create_container = true};
    blob = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    cr_expect_not_null(blob, "%s", errstr);
    mm_blob_destroy(blob);
    cr_expect_null(mm_blob_new("file://relative/path", NULL, errstr, sizeof(errstr)));
    cr_expect_null(mm_blob_new("ftp://host/x", NULL, errstr, sizeof(errstr)));
    mmt_rmtree(dir);
    free(dir);
}

Test(blob_file, stale_temp_files_from_crashed_puts_are_swept_on_open, .fini = store_close) {
    char errstr[512] = "";
    file_store_open(&g_store);
    store_t *st = &g_store;
    put_ok(st->blob, "a", "1"); /* creates the temp directory */
    char old_tmp[4300], new_tmp[4300], url[4200];
    snprintf(old_tmp, sizeof(old_tmp), "%s/store/.mm-tmp/put.1.1", st->dir);
    snprintf(new_tmp, sizeof(new_tmp), "%s/store/.mm-tmp/put.1.2", st->dir);
    cr_assert(mmt_write_file(old_tmp, "partial"));
    cr_assert(mmt_write_file(new_tmp, "in flight"));
    struct timespec times[2] = {{.tv_sec = time(NULL) - 3 * 86400},
                                {.tv_sec = time(NULL) - 3 * 86400}};
    cr_assert_eq(utimensat(AT_FDCWD, old_tmp, times, 0), 0);
    snprintf(url, sizeof(url), "file://%s/store", st->dir);
    mm_blob_t *again = mm_blob_new(url, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(again, "%s", errstr);
    cr_expect_neq(access(old_tmp, F_OK), 0, "a day-old temp file survived");
    cr_expect_eq(access(new_tmp, F_OK), 0, "a fresh temp file (a put in flight) was removed");
    listing_t l = {0};
    cr_assert_eq(mm_blob_list(again, "", collect, &l, errstr, sizeof(errstr)), MM_OK);
    cr_expect_eq(l.n, 1, "temp files are never listed");
    mm_blob_destroy(again);
}

typedef struct racer {
    const char *url;
    int id;
    mm_err_t err;
} racer_t;

static void *race_put(void *arg) {
    racer_t *r = arg;
    char errstr[256], text[32];
    mm_blob_t *blob = mm_blob_new(r->url, NULL, errstr, sizeof(errstr));
    if (!blob) {
        r->err = MM_ERR_IO;
        return NULL;
    }
    snprintf(text, sizeof(text), "writer %d", r->id);
    r->err = mm_blob_put(blob, "race/k=1/m.mm", text, strlen(text), MM_BLOB_IF_NONE_MATCH, errstr,
                         sizeof(errstr));
    mm_blob_destroy(blob);
    return NULL;
}

Test(blob_file, concurrent_if_none_match_puts_have_exactly_one_winner, .fini = store_close) {
    file_store_open(&g_store);
    store_t *st = &g_store;
    char url[4200];
    snprintf(url, sizeof(url), "file://%s/store", st->dir);
    for (int round = 0; round < 20; round++) {
        enum { N = 6 };
        pthread_t th[N];
        racer_t racers[N];
        for (int i = 0; i < N; i++) {
            racers[i] = (racer_t){.url = url, .id = i, .err = MM_ERR__COUNT};
            cr_assert_eq(pthread_create(&th[i], NULL, race_put, &racers[i]), 0);
        }
        int winners = 0, winner = -1;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            if (racers[i].err == MM_OK) {
                winners++;
                winner = i;
            } else {
                cr_expect_eq(racers[i].err, MM_ERR_EXISTS, "loser %d: %s", i,
                             mm_err_name(racers[i].err));
            }
        }
        cr_assert_eq(winners, 1, "round %d: %d winners", round, winners);
        char text[32], errstr[256];
        snprintf(text, sizeof(text), "writer %d", winner);
        expect_content(st->blob, "race/k=1/m.mm", text);
        cr_assert_eq(mm_blob_delete(st->blob, "race/k=1/m.mm", errstr, sizeof(errstr)), MM_OK);
    }
}

/* ---- Azure protocol against a scripted loopback HTTP server ---- */

static mm_blob_t *fake_store(const mmt_fake_http_t *fs, int max_retries) {
    char url[128], errstr[512] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s/models", fs->port, MMT_AZURITE_ACCOUNT);
    mm_blob_opts_t opts = {.account_key = MMT_AZURITE_KEY,
                           .max_retries = max_retries,
                           .retry_base_ms = 1,
                           .retry_cap_ms = 5,
                           .total_timeout_ms = 10000};
    mm_blob_t *blob = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
    return blob;
}

Test(blob_azure_protocol, put_retries_503_and_re_signs_each_attempt) {
    static const mmt_fake_reply_t script[] = {
        {503, "x-ms-error-code: ServerBusy\r\n", NULL},
        {503, "x-ms-error-code: ServerBusy\r\n", NULL},
        {201, NULL, NULL},
    };
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    mm_blob_t *blob = fake_store(&fs, 5);
    char errstr[512] = "";
    mm_err_t err = mm_blob_put(blob, "candidates/k=1/a.mm", "hello", 5, MM_BLOB_IF_NONE_MATCH,
                               errstr, sizeof(errstr));
    mmt_fake_http_join(&fs);
    cr_expect_eq(err, MM_OK, "%s: %s", mm_err_name(err), errstr);
    cr_assert_eq(fs.n_requests, 3);
    for (size_t i = 0; i < 3; i++) {
        const char *r = fs.requests[i];
        cr_expect(strncmp(r, "PUT /devstoreaccount1/models/candidates/k=1/a.mm HTTP/1.1\r\n", 58) ==
                      0,
                  "request line: %.80s", r);
        cr_expect(strstr(r, "\r\nAuthorization: SharedKey devstoreaccount1:") != NULL,
                  "attempt %zu signed", i);
        cr_expect(strstr(r, "\r\nx-ms-date: ") != NULL, "attempt %zu dated", i);
        cr_expect(strstr(r, "\r\nIf-None-Match: *\r\n") != NULL);
        cr_expect(strstr(r, "\r\nx-ms-blob-type: BlockBlob\r\n") != NULL);
        cr_expect(strstr(r, "\r\nContent-Length: 5\r\n") != NULL);
        cr_expect(strcasestr(r, "\r\nExpect:") == NULL, "no Expect: 100-continue");
    }
    mm_blob_destroy(blob);
}

Test(blob_azure_protocol, gives_up_after_max_retries_with_the_last_error) {
    static const mmt_fake_reply_t script[] = {
        {500, "x-ms-error-code: InternalError\r\n", NULL},
        {500, "x-ms-error-code: InternalError\r\n", NULL},
        {500, "x-ms-error-code: InternalError\r\n", NULL},
    };
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    mm_blob_t *blob = fake_store(&fs, 2);
    char errstr[512] = "";
    mm_buf_t out;
    mm_buf_init(&out, 1024);
    mm_err_t err = mm_blob_get(blob, "a", &out, errstr, sizeof(errstr));
    mmt_fake_http_join(&fs);
    cr_expect_eq(err, MM_ERR_THROTTLED, "%s", mm_err_name(err));
    cr_expect_eq(fs.n_requests, 3, "one try and two retries");
    cr_expect(strstr(errstr, "InternalError") != NULL, "%s", errstr);
    mm_buf_free(&out);
    mm_blob_destroy(blob);
}

Test(blob_azure_protocol, does_not_retry_4xx_and_reports_error_code_and_message) {
    static const mmt_fake_reply_t script[] = {
        {400, "x-ms-error-code: InvalidHeaderValue\r\n",
         "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>InvalidHeaderValue</Code>"
         "<Message>The value for one of the HTTP headers is not in the correct format.\n"
         "RequestId:1</Message></Error>"},
        {201, NULL, NULL},
    };
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    mm_blob_t *blob = fake_store(&fs, 5);
    char errstr[512] = "";
    mm_err_t err = mm_blob_put(blob, "a", "x", 1, 0, errstr, sizeof(errstr));
    /* Let the server's accept time out on the second slot. */
    shutdown(fs.fd, SHUT_RDWR);
    mmt_fake_http_join(&fs);
    cr_expect_eq(err, MM_ERR_HTTP, "%s", mm_err_name(err));
    cr_expect_eq(fs.n_requests, 1, "a 400 is not retried");
    cr_expect(strstr(errstr, "400") && strstr(errstr, "InvalidHeaderValue") &&
                  strstr(errstr, "not in the correct format"),
              "errstr: %s", errstr);
    mm_blob_destroy(blob);
}

Test(blob_azure_protocol, put_conflict_maps_to_exists) {
    static const mmt_fake_reply_t script[] = {
        {409, "x-ms-error-code: BlobAlreadyExists\r\n", NULL},
        {412, "x-ms-error-code: ConditionNotMet\r\n", NULL},
    };
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    mm_blob_t *blob = fake_store(&fs, 5);
    char errstr[512] = "";
    mm_err_t e1 = mm_blob_put(blob, "a", "x", 1, MM_BLOB_IF_NONE_MATCH, errstr, sizeof(errstr));
    mm_err_t e2 = mm_blob_put(blob, "a", "x", 1, MM_BLOB_IF_NONE_MATCH, errstr, sizeof(errstr));
    mmt_fake_http_join(&fs);
    cr_expect_eq(e1, MM_ERR_EXISTS, "409: %s", mm_err_name(e1));
    cr_expect_eq(e2, MM_ERR_EXISTS, "412: %s", mm_err_name(e2));
    cr_expect_eq(fs.n_requests, 2);
    mm_blob_destroy(blob);
}

Test(blob_azure_protocol, pending_copy_is_polled_until_success) {
    static const mmt_fake_reply_t script[] = {
        {202, "x-ms-copy-id: c1\r\nx-ms-copy-status: pending\r\n", NULL},
        {200, "x-ms-copy-id: c1\r\nx-ms-copy-status: pending\r\n", NULL},
        {200, "x-ms-copy-id: c1\r\nx-ms-copy-status: success\r\n", NULL},
    };
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    mm_blob_t *blob = fake_store(&fs, 5);
    char errstr[512] = "";
    mm_err_t err = mm_blob_copy(blob, "src/a%2Fb", "dst/a", 0, errstr, sizeof(errstr));
    mmt_fake_http_join(&fs);
    cr_expect_eq(err, MM_OK, "%s: %s", mm_err_name(err), errstr);
    cr_assert_eq(fs.n_requests, 3);
    char want[256];
    snprintf(want, sizeof(want),
             "\r\nx-ms-copy-source: http://127.0.0.1:%d/devstoreaccount1/models/src/a%%252Fb\r\n",
             fs.port);
    cr_expect(strstr(fs.requests[0], want) != NULL, "copy request: %s", fs.requests[0]);
    cr_expect(strncmp(fs.requests[1], "HEAD /devstoreaccount1/models/dst/a ", 36) == 0, "%s",
              fs.requests[1]);
    mm_blob_destroy(blob);
}

Test(blob_azure_protocol, failed_copy_is_an_error_with_its_description) {
    static const mmt_fake_reply_t script[] = {
        {202, "x-ms-copy-id: c1\r\nx-ms-copy-status: pending\r\n", NULL},
        {200,
         "x-ms-copy-id: c1\r\nx-ms-copy-status: failed\r\n"
         "x-ms-copy-status-description: 500 InternalError\r\n",
         NULL},
    };
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    mm_blob_t *blob = fake_store(&fs, 5);
    char errstr[512] = "";
    mm_err_t err = mm_blob_copy(blob, "a", "b", 0, errstr, sizeof(errstr));
    mmt_fake_http_join(&fs);
    cr_expect_neq(err, MM_OK);
    cr_expect(strstr(errstr, "failed") && strstr(errstr, "500 InternalError"), "%s", errstr);
    mm_blob_destroy(blob);
}

Test(blob_azure_protocol, list_follows_next_marker_and_decodes_names) {
    static const mmt_fake_reply_t script[] = {
        {200, "Content-Type: application/xml\r\n",
         "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"x\" "
         "ContainerName=\"models\"><Prefix>p/</Prefix><MaxResults>2</MaxResults><Blobs>"
         "<Blob><Name>p/a&amp;b</Name><Properties><Content-Length>3</Content-Length>"
         "</Properties></Blob>"
         "<Blob><Name>p/c&#x20;d&lt;</Name><Properties><Content-Length>0</Content-Length>"
         "</Properties></Blob></Blobs><NextMarker>2!8!p/c d&lt;+</NextMarker>"
         "</EnumerationResults>"},
        {200, "Content-Type: application/xml\r\n",
         "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults><Blobs>"
         "<Blob><Name Encoded=\"true\">p/e%01f</Name><Properties>"
         "<Content-Length>12</Content-Length></Properties></Blob></Blobs><NextMarker />"
         "</EnumerationResults>"},
    };
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    mm_blob_t *blob = fake_store(&fs, 5);
    mm_blob_set_list_page_size(blob, 2);
    char errstr[512] = "";
    listing_t l = {0};
    mm_err_t err = mm_blob_list(blob, "p/", collect, &l, errstr, sizeof(errstr));
    mmt_fake_http_join(&fs);
    cr_expect_eq(err, MM_OK, "%s", errstr);
    cr_assert_eq(l.n, 3);
    cr_expect_str_eq(l.names[0], "p/a&b");
    cr_expect_eq(l.sizes[0], 3);
    cr_expect_str_eq(l.names[1], "p/c d<");
    cr_expect_str_eq(l.names[2], "p/e\001f");
    cr_expect_eq(l.sizes[2], 12);
    cr_assert_eq(fs.n_requests, 2);
    cr_expect(strstr(fs.requests[0],
                     "GET /devstoreaccount1/models?comp=list&maxresults=2&prefix=p%2F"
                     "&restype=container HTTP/1.1") != NULL,
              "%s", fs.requests[0]);
    cr_expect(strstr(fs.requests[1], "&marker=2%218%21p%2Fc%20d%3C%2B&") != NULL, "%s",
              fs.requests[1]);
    mm_blob_destroy(blob);
}

Test(blob_azure_protocol, malformed_list_response_is_a_parse_error) {
    static const mmt_fake_reply_t script[] = {
        {200, NULL, "<EnumerationResults><Blobs><Blob><Name>p/a</Name>"},
    };
    mmt_fake_http_t fs;
    mmt_fake_http_start(&fs, script, MM_ARRAY_SIZE(script));
    mm_blob_t *blob = fake_store(&fs, 5);
    char errstr[512] = "";
    listing_t l = {0};
    mm_err_t err = mm_blob_list(blob, "", collect, &l, errstr, sizeof(errstr));
    mmt_fake_http_join(&fs);
    cr_expect_eq(err, MM_ERR_PARSE, "%s: %s", mm_err_name(err), errstr);
    cr_expect_eq(l.n, 0);
    mm_blob_destroy(blob);
}

Test(blob_azure_protocol, connection_refused_is_retried_then_transport_error) {
    /* Bind a port, then close it: nothing listens there. */
    mmt_fake_http_t fs;
    static const mmt_fake_reply_t none[] = {{200, NULL, NULL}};
    mmt_fake_http_start(&fs, none, 0);
    mmt_fake_http_join(&fs);
    mm_blob_t *blob = fake_store(&fs, 2);
    char errstr[512] = "";
    mm_buf_t out;
    mm_buf_init(&out, 1024);
    mm_err_t err = mm_blob_get(blob, "a", &out, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_ERR_TRANSPORT, "%s: %s", mm_err_name(err), errstr);
    cr_expect(strstr(errstr, "gave up after 3 attempts") != NULL, "%s", errstr);
    mm_buf_free(&out);
    mm_blob_destroy(blob);
}
#endif
