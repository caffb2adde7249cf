/*
 * test_blob_sign.c - Azure SharedKey string-to-sign, signature and account
 * SAS (common/src/blob_azure_sign.c), checked against values computed
 * independently of this code.
 *
 * The expected signatures below were obtained once with OpenSSL from the
 * documented string-to-sign, e.g.:
 *   HEXKEY=$(printf '%s' "$KEY" | base64 -d | xxd -p -c 256)
 *   printf '%s' "$STRING_TO_SIGN" |
 *     openssl dgst -sha256 -mac HMAC -macopt hexkey:$HEXKEY -binary | base64
 * with KEY the Azurite development account key (MMT_AZURITE_KEY).
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "azurite.h"
#include "mm/blob.h"
#include "mm/http.h"

#define DATE "Sat, 21 Nov 2026 22:50:00 GMT"

/* A Put Blob with If-None-Match on a path-style (Azurite) URL; the account
 * appears twice in the resource, and a name holding "%2F" is encoded again. */
static const char put_sts[] = "PUT\n"
                              "\n"   /* Content-Encoding */
                              "\n"   /* Content-Language */
                              "11\n" /* Content-Length */
                              "\n"   /* Content-MD5 */
                              "application/octet-stream\n"
                              "\n" /* Date: x-ms-date is used instead */
                              "\n" /* If-Modified-Since */
                              "\n" /* If-Match */
                              "*\n"
                              "\n" /* If-Unmodified-Since */
                              "\n" /* Range */
                              "x-ms-blob-type:BlockBlob\n"
                              "x-ms-date:" DATE "\n"
                              "x-ms-meta-note:a b c\n"
                              "x-ms-version:2021-08-06\n"
                              "/devstoreaccount1/devstoreaccount1/models/candidates/store=1/"
                              "item%252F2/a.mm";
static const char put_sig[] = "Q/ftbj+uaJk2BVLv7EX7CZk3ftsS1YdlxPue6r3GHMU=";

Test(blob_sign, put_string_to_sign_follows_documented_layout) {
    /* Unsorted, mixed-case names and a value with runs of whitespace: the
     * canonical form lower-cases, sorts and folds them. */
    const char *names[] = {"X-MS-Version", "x-ms-date",      "Content-Length", "If-None-Match",
                           "Content-Type", "x-ms-blob-type", "x-ms-meta-Note"};
    const char *values[] = {"2021-08-06", DATE,          "11", "*", "application/octet-stream",
                            "BlockBlob",  "  a   b\tc  "};
    char *sts = mm_blob_azure_string_to_sign(
        "PUT", names, values, 7,
        "/devstoreaccount1/devstoreaccount1/models/candidates/store=1/item%252F2/a.mm");
    cr_assert_not_null(sts);
    cr_expect_str_eq(sts, put_sts);
    free(sts);
}

Test(blob_sign, put_signature_matches_openssl_hmac) {
    char *sig = mm_blob_azure_sign(MMT_AZURITE_KEY, put_sts);
    cr_assert_not_null(sig);
    cr_expect_str_eq(sig, put_sig);
    free(sig);
}

Test(blob_sign, list_query_parameters_and_zero_length_sign_as_documented) {
    const char *names[] = {"x-ms-date", "x-ms-version", "Content-Length"};
    const char *values[] = {DATE, "2021-08-06", "0"};
    const char *resource = "/devstoreaccount1/devstoreaccount1/models\n"
                           "comp:list\nmarker:2!80!abc\nmaxresults:2\n"
                           "prefix:candidates/store=1/\nrestype:container";
    char *sts = mm_blob_azure_string_to_sign("GET", names, values, 3, resource);
    cr_assert_not_null(sts);
    /* A zero Content-Length is signed as an empty line (version 2015-02-21+). */
    const char *want = "GET\n\n\n\n\n\n\n\n\n\n\n\n"
                       "x-ms-date:" DATE "\nx-ms-version:2021-08-06\n"
                       "/devstoreaccount1/devstoreaccount1/models\n"
                       "comp:list\nmarker:2!80!abc\nmaxresults:2\n"
                       "prefix:candidates/store=1/\nrestype:container";
    cr_expect_str_eq(sts, want);
    char *sig = mm_blob_azure_sign(MMT_AZURITE_KEY, sts);
    cr_assert_not_null(sig);
    cr_expect_str_eq(sig, "RV3tfmfgClVXAMltLKODGKqoPIfcKb7LmqTuy8Is9sQ=");
    free(sig);
    free(sts);
}

Test(blob_sign, sign_refuses_a_key_that_is_not_base64) {
    cr_expect_null(mm_blob_azure_sign("not base64!", "x"));
    cr_expect_null(mm_blob_azure_sign("", "x"));
}

Test(blob_sign, different_key_gives_different_signature) {
    char *sig = mm_blob_azure_sign("AAAAAAAAAAAAAAAAAAAAAA==", put_sts);
    cr_assert_not_null(sig);
    cr_expect_str_neq(sig, put_sig);
    free(sig);
}

Test(blob_sign, account_sas_token_is_signed_over_documented_fields) {
    /* String-to-sign (version 2020-12-06+): account, sp, ss, srt, st, se, sip,
     * spr, sv, ses, each followed by a newline; signed with openssl as above:
     * "devstoreaccount1\nrwdlac\nb\nsco\n\n2030-01-01T00:00:00Z\n\nhttps,http\n2021-08-06\n\n" */
    char *sas = mm_blob_azure_account_sas(MMT_AZURITE_ACCOUNT, MMT_AZURITE_KEY, "rwdlac", "sco",
                                          1893456000 /* 2030-01-01T00:00:00Z */);
    cr_assert_not_null(sas);
    cr_expect_str_eq(sas, "sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00%3A00%3A00Z"
                          "&spr=https%2Chttp&sig=1Mh1LSBeLSI4EKTerU15bv2Ml2MomydA5vFxFzkTOyw%3D");
    free(sas);
    cr_expect_null(mm_blob_azure_account_sas(MMT_AZURITE_ACCOUNT, "bad key", "r", "o", 0));
}

Test(blob_sign, url_encode_keeps_unreserved_and_optionally_slash) {
    char *a = mm_url_encode("a-b_c.d~e/f g=h%2F+", "/");
    char *b = mm_url_encode("a/b", "");
    cr_assert(a && b);
    cr_expect_str_eq(a, "a-b_c.d~e/f%20g%3Dh%252F%2B");
    cr_expect_str_eq(b, "a%2Fb");
    free(a);
    free(b);
}
