/*
 * test_serve_auth.c - bearer tokens (services/scorer/serve_auth.c): loaded
 * from a file and from a comma-separated list, refused when guessable or
 * malformed with an error that names the place and never the token,
 * checked against every configured token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "serve_auth.h"
#include "support.h"

static char *dir;
static char path[4200];
static mm_serve_tokens_t tokens;
static char errstr[1024];

static void setup(void) {
    dir = mmt_tmpdir("serve_auth");
    snprintf(path, sizeof(path), "%s/tokens", dir);
}

static void teardown(void) {
    mm_serve_tokens_clear(&tokens);
    mmt_rmtree(dir);
    free(dir);
}

TestSuite(serve_auth, .init = setup, .fini = teardown);

Test(serve_auth, tokens_from_a_file_and_a_list) {
    cr_assert(mmt_write_file(path, "# rotated monthly\n\n  file-token-aaaaaaaaaaaa  \r\n"
                                   "file-token-bbbbbbbbbbbb\n"));
    cr_assert_eq(
        mm_serve_tokens_load(&tokens, path, " list-token-cccccccccccc ,", errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    cr_expect_eq(tokens.n, 3);
    cr_expect(mm_serve_tokens_check(&tokens, "Bearer file-token-aaaaaaaaaaaa"));
    cr_expect(mm_serve_tokens_check(&tokens, "Bearer file-token-bbbbbbbbbbbb"));
    cr_expect(mm_serve_tokens_check(&tokens, "bearer list-token-cccccccccccc"));
    cr_expect_not(mm_serve_tokens_check(&tokens, "Bearer file-token-aaaaaaaaaaa"), "a prefix");
    cr_expect_not(mm_serve_tokens_check(&tokens, "Bearer file-token-aaaaaaaaaaaaa"), "longer");
    cr_expect_not(mm_serve_tokens_check(&tokens, "file-token-aaaaaaaaaaaa"), "no scheme");
    cr_expect_not(mm_serve_tokens_check(&tokens, "Bearer "));
    cr_expect_not(mm_serve_tokens_check(&tokens, NULL));
}

Test(serve_auth, no_tokens_means_no_authentication) {
    cr_assert_eq(mm_serve_tokens_load(&tokens, NULL, "", errstr, sizeof(errstr)), MM_OK);
    cr_expect_eq(tokens.n, 0);
    cr_expect(mm_serve_tokens_check(&tokens, NULL));
}

Test(serve_auth, bad_tokens_are_refused_without_being_shown) {
    cr_assert(mmt_write_file(path, "good-token-dddddddddddd\nshort-secret\n"));
    cr_expect_eq(mm_serve_tokens_load(&tokens, path, NULL, errstr, sizeof(errstr)), MM_ERR_CONFIG);
    cr_expect(strstr(errstr, "line 2"), "names the line: %s", errstr);
    cr_expect_null(strstr(errstr, "short-secret"), "never shows the token: %s", errstr);
    cr_expect_eq(tokens.n, 0, "nothing half-loaded");
    cr_expect_eq(mm_serve_tokens_load(&tokens, NULL, "ok-token-eeeeeeeeeeee,bad token with space!",
                                      errstr, sizeof(errstr)),
                 MM_ERR_CONFIG);
    cr_expect(strstr(errstr, "item 2"), "%s", errstr);
    cr_expect_null(strstr(errstr, "bad token"), "%s", errstr);
    char missing[4300];
    snprintf(missing, sizeof(missing), "%s/none", dir);
    cr_expect_eq(mm_serve_tokens_load(&tokens, missing, NULL, errstr, sizeof(errstr)), MM_ERR_IO);
}
