/*
 * test_blob_layout.c - unit tests of common/src/blob_layout.c: the names of
 * candidate and production artifacts.
 */
#include <criterion/criterion.h>

#include "mm/blob_layout.h"

Test(blob_layout, candidate_name_is_dataset_key_and_digest_under_candidates) {
    char out[256];
    cr_assert_eq(mm_blob_layout_candidate(out, sizeof(out), "sales", "store=1/item=2", "ab12"),
                 MM_OK);
    cr_expect_str_eq(out, "candidates/sales/store=1/item=2/ab12.mm");
    cr_expect(mm_blob_layout_is_candidate(out));
}

Test(blob_layout, candidate_name_refuses_missing_parts_and_a_short_buffer) {
    char out[16];
    cr_expect_eq(mm_blob_layout_candidate(out, sizeof(out), "", "k=1", "ab"), MM_ERR_INVALID_ARG);
    cr_expect_eq(mm_blob_layout_candidate(out, sizeof(out), "sales", NULL, "ab"),
                 MM_ERR_INVALID_ARG);
    cr_expect_eq(mm_blob_layout_candidate(out, sizeof(out), "sales", "k=1", "abcdef0123456789"),
                 MM_ERR_NOMEM);
}

Test(blob_layout, production_name_replaces_only_the_leading_candidates_prefix) {
    char out[256];
    cr_expect_eq(mm_blob_layout_production("candidates/sales/k=candidates/x.mm", out, sizeof(out)),
                 MM_OK);
    cr_expect_str_eq(out, "production/sales/k=candidates/x.mm");
    cr_expect_eq(mm_blob_layout_production("production/x.mm", out, sizeof(out)),
                 MM_ERR_INVALID_ARG);
    cr_expect_eq(mm_blob_layout_production("candidates/", out, sizeof(out)), MM_ERR_INVALID_ARG);
    cr_expect_eq(mm_blob_layout_production(NULL, out, sizeof(out)), MM_ERR_INVALID_ARG);
    cr_expect_eq(mm_blob_layout_production("candidates/abc", out, 8), MM_ERR_NOMEM);
}
