/*
 * test_buf.c - common/core/buf.c: a capped growable buffer grows, stays
 * NUL-terminated, refuses to pass its cap without changing its content, and
 * hands its storage over on steal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/buf.h"

Test(buf, zero_limit_means_the_message_cap) {
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(buf.limit, MM_BUF_CAP_MESSAGE);
    cr_assert_eq(buf.len, 0);
    cr_assert_null(buf.data);
    mm_buf_free(&buf);
}

Test(buf, appends_grow_and_stay_nul_terminated) {
    mm_buf_t buf;
    mm_buf_init(&buf, 1024 * 1024);
    for (int i = 0; i < 1000; i++) cr_assert_eq(mm_buf_append(&buf, "abc", 3), MM_OK);
    cr_assert_eq(buf.len, 3000);
    cr_assert_geq(buf.cap, buf.len + 1);
    cr_assert_eq(buf.data[buf.len], 0);
    cr_assert_eq(memcmp(buf.data + 2997, "abc", 3), 0);
    cr_assert_eq(mm_buf_append_str(&buf, "!"), MM_OK);
    cr_assert_str_eq((const char *)buf.data + 2997, "abc!");
    mm_buf_free(&buf);
}

Test(buf, empty_append_gives_an_empty_string) {
    mm_buf_t buf;
    mm_buf_init(&buf, 16);
    cr_assert_eq(mm_buf_append(&buf, "", 0), MM_OK);
    cr_assert_not_null(buf.data);
    cr_assert_str_eq((const char *)buf.data, "");
    mm_buf_free(&buf);
}

Test(buf, fills_exactly_to_its_cap_and_refuses_one_byte_more) {
    mm_buf_t buf;
    mm_buf_init(&buf, 10);
    cr_assert_eq(mm_buf_append(&buf, "0123456789", 10), MM_OK);
    cr_assert_eq(mm_buf_append(&buf, "x", 1), MM_ERR_NOMEM);
    cr_assert_eq(buf.len, 10);
    cr_assert_str_eq((const char *)buf.data, "0123456789");
    mm_buf_free(&buf);
}

Test(buf, refuses_a_reservation_that_would_overflow) {
    mm_buf_t buf;
    mm_buf_init(&buf, 64);
    cr_assert_eq(mm_buf_append(&buf, "abc", 3), MM_OK);
    cr_assert_eq(mm_buf_reserve(&buf, SIZE_MAX), MM_ERR_NOMEM);
    cr_assert_eq(mm_buf_reserve(&buf, SIZE_MAX - 1), MM_ERR_NOMEM);
    cr_assert_eq(buf.len, 3);
    mm_buf_free(&buf);
}

Test(buf, appendf_formats_and_respects_the_cap) {
    mm_buf_t buf;
    mm_buf_init(&buf, 16);
    cr_assert_eq(mm_buf_appendf(&buf, "%s=%d", "key", 42), MM_OK);
    cr_assert_eq(mm_buf_appendf(&buf, "/%05.1f", 2.25), MM_OK);
    cr_assert_str_eq((const char *)buf.data, "key=42/002.2");
    cr_assert_eq(mm_buf_appendf(&buf, "%s", "too long for the rest"), MM_ERR_NOMEM);
    cr_assert_str_eq((const char *)buf.data, "key=42/002.2");
    mm_buf_free(&buf);
}

Test(buf, reset_empties_but_keeps_storage) {
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_buf_append_str(&buf, "hello"), MM_OK);
    uint8_t *storage = buf.data;
    size_t cap = buf.cap;
    mm_buf_reset(&buf);
    cr_assert_eq(buf.len, 0);
    cr_assert_eq(buf.data, storage);
    cr_assert_eq(buf.cap, cap);
    cr_assert_str_eq((const char *)buf.data, "");
    mm_buf_free(&buf);
}

Test(buf, steal_hands_over_the_storage_and_empties_the_buffer) {
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_buf_append_str(&buf, "artifact"), MM_OK);
    size_t len = 0;
    uint8_t *data = mm_buf_steal(&buf, &len);
    cr_assert_eq(len, 8);
    cr_assert_str_eq((const char *)data, "artifact");
    cr_assert_null(buf.data);
    cr_assert_eq(buf.len, 0);
    cr_assert_eq(buf.cap, 0);
    free(data);
    cr_assert_eq(mm_buf_append_str(&buf, "again"), MM_OK);
    cr_assert_str_eq((const char *)buf.data, "again");
    mm_buf_free(&buf);
}

Test(buf, free_accepts_null_and_a_freed_buffer) {
    mm_buf_free(NULL);
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_buf_append_str(&buf, "x"), MM_OK);
    mm_buf_free(&buf);
    mm_buf_free(&buf);
    cr_assert_null(buf.data);
    cr_assert_eq(buf.len, 0);
}
