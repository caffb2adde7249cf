/*
 * test_service.c - unit tests of common/src/service.c: the DeadLetter of an
 * input a service cannot use (a consumed Kafka record or a line of a file),
 * encoded and decoded back, and the fallback that drops the original bytes
 * when the record would exceed the buffer's cap.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/avro.h"
#include "mm/buf.h"
#include "mm/records.h"
#include "mm/service.h"
#include "mm/util.h"

static char errstr[512];

static void decode(const mm_buf_t *out, mm_dead_letter_t *letter) {
    memset(letter, 0, sizeof(*letter));
    cr_assert_eq(mm_avro_decode_dead_letter(out->data, out->len, letter, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
}

Test(service, dead_letter_of_a_consumed_record_carries_its_coordinates_and_bytes) {
    static const uint8_t original[] = {0x00, 0x00, 0x00, 0x00, 0x09, 0xff, 0x00};
    mm_service_dead_letter_source_t source = {
        .topic = "mm.models", .partition = 3, .offset = 1234567890123};
    mm_buf_t out;
    mm_buf_init(&out, MM_BUF_CAP_MESSAGE);
    int64_t before = mm_now_ms();
    cr_assert_eq(mm_service_dead_letter_encode("mm-promoter", &source, "store=1/item=1", original,
                                               sizeof(original), MM_ERR_PARSE, "undecodable", &out,
                                               errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    int64_t after = mm_now_ms();

    mm_dead_letter_t letter;
    decode(&out, &letter);
    cr_expect_str_eq(letter.service, "mm-promoter");
    cr_expect_str_eq(letter.error_code, "MM_ERR_PARSE");
    cr_expect_str_eq(letter.reason, "undecodable");
    cr_expect_str_eq(letter.partition_key, "store=1/item=1");
    cr_expect_str_eq(letter.source_topic, "mm.models");
    cr_expect_eq(letter.source_partition, 3);
    cr_expect_eq(letter.source_offset, 1234567890123);
    cr_expect_null(letter.source_file);
    cr_expect_eq(letter.source_line, -1);
    cr_expect_eq(letter.original_len, sizeof(original));
    cr_expect(letter.original && memcmp(letter.original, original, sizeof(original)) == 0);
    cr_expect(letter.failed_at_ms >= before && letter.failed_at_ms <= after);
    mm_dead_letter_clear(&letter);
    mm_buf_free(&out);
}

Test(service, dead_letter_without_a_topic_has_no_partition_or_offset) {
    mm_service_dead_letter_source_t source = {.topic = NULL, .partition = 3, .offset = 77};
    mm_buf_t out;
    mm_buf_init(&out, MM_BUF_CAP_MESSAGE);
    cr_assert_eq(mm_service_dead_letter_encode("mm-trainer", &source, NULL, NULL, 5, MM_ERR_CONFIG,
                                               "no source", &out, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_dead_letter_t letter;
    decode(&out, &letter);
    cr_expect_null(letter.source_topic);
    cr_expect_eq(letter.source_partition, -1);
    cr_expect_eq(letter.source_offset, -1);
    cr_expect_eq(letter.source_line, -1);
    cr_expect_null(letter.partition_key);
    cr_expect_null(letter.original, "no original bytes were given");
    cr_expect_eq(letter.original_len, 0);
    mm_dead_letter_clear(&letter);

    mm_buf_reset(&out);
    cr_assert_eq(mm_service_dead_letter_encode("mm-trainer", NULL, NULL, NULL, 0, MM_ERR_CONFIG,
                                               "no source", &out, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    decode(&out, &letter);
    cr_expect_eq(letter.source_partition, -1);
    cr_expect_eq(letter.source_offset, -1);
    cr_expect_eq(letter.source_line, -1);
    mm_dead_letter_clear(&letter);
    mm_buf_free(&out);
}

Test(service, dead_letter_of_a_file_line_carries_file_and_line) {
    const char row[] = "2024-01-01,store=1,abc";
    mm_service_dead_letter_source_t source = {.file = "data/sales.csv", .line = 7};
    mm_buf_t out;
    mm_buf_init(&out, MM_BUF_CAP_MESSAGE);
    cr_assert_eq(mm_service_dead_letter_encode("mm-ingest", &source, "store=1", row, strlen(row),
                                               MM_ERR_PARSE, "line 7: not a number", &out, errstr,
                                               sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_dead_letter_t letter;
    decode(&out, &letter);
    cr_expect_str_eq(letter.source_file, "data/sales.csv");
    cr_expect_eq(letter.source_line, 7);
    cr_expect_null(letter.source_topic);
    cr_expect_eq(letter.source_partition, -1);
    cr_expect_eq(letter.source_offset, -1);
    cr_expect_eq(letter.original_len, strlen(row));
    cr_expect(letter.original && memcmp(letter.original, row, strlen(row)) == 0);
    mm_dead_letter_clear(&letter);
    mm_buf_free(&out);
}

Test(service, dead_letter_over_the_cap_drops_the_original_bytes_but_keeps_the_rest) {
    size_t original_len = 16384;
    uint8_t *original = malloc(original_len);
    cr_assert_not_null(original);
    memset(original, 0xab, original_len);
    mm_service_dead_letter_source_t source = {.topic = "mm.models", .partition = 1, .offset = 9};
    mm_buf_t out;
    mm_buf_init(&out, 4096);
    cr_assert_eq(mm_service_dead_letter_encode("mm-promoter", &source, "k", original, original_len,
                                               MM_ERR_PARSE, "too big", &out, errstr,
                                               sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_leq(out.len, 4096);
    mm_dead_letter_t letter;
    decode(&out, &letter);
    cr_expect_null(letter.original);
    cr_expect_eq(letter.original_len, 0);
    cr_expect_str_eq(letter.reason, "too big");
    cr_expect_str_eq(letter.partition_key, "k");
    cr_expect_str_eq(letter.source_topic, "mm.models");
    cr_expect_eq(letter.source_partition, 1);
    cr_expect_eq(letter.source_offset, 9);
    mm_dead_letter_clear(&letter);
    mm_buf_free(&out);
    free(original);
}

Test(service, dead_letter_that_cannot_fit_even_without_its_bytes_fails_and_leaves_out_unchanged) {
    char reason[2048];
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = 0;
    static const uint8_t original[] = {1, 2, 3};
    mm_buf_t out;
    mm_buf_init(&out, 1024);
    cr_assert_eq(mm_buf_append_str(&out, "prefix"), MM_OK);
    cr_expect_eq(mm_service_dead_letter_encode("mm-scorer", NULL, NULL, original, sizeof(original),
                                               MM_ERR_PARSE, reason, &out, errstr, sizeof(errstr)),
                 MM_ERR_NOMEM);
    cr_expect_eq(out.len, strlen("prefix"));
    cr_expect_str_eq((const char *)out.data, "prefix");
    mm_buf_free(&out);
}
