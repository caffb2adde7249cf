/*
 * test_avro_decode.c - the decoder (common/src/avro_decode.c, avro_input.c,
 * avro_framing.c) refuses malformed payloads with a clear reason and a
 * cleared record, never a crash or a leak: framing errors, truncations,
 * bad varints, lying lengths and counts, out-of-range indices, row counts
 * that disagree. Bodies are built with the independent writer of
 * test_avro_support.c.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <criterion/criterion.h>
#include <jansson.h>

#include "test_avro_support.h"

TestSuite(avro_decode, .init = avro_suite_init);

/* --------------------------------------------------------------- framing */

Test(avro_decode, empty_payload_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    mm_dead_letter_t rec = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(NULL, 0, &rec, errstr, sizeof(errstr)), MM_ERR_PARSE);
    cr_assert(strstr(errstr, "payload of 0 bytes is shorter than the 5-byte wire header"), "%s",
              errstr);
    mm_buf_free(&b);
}

Test(avro_decode, wrong_magic_byte_is_a_schema_error) {
    const char *json = "{\"service\":\"mm-ingest\"}";
    mm_dead_letter_t rec = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(json, strlen(json), &rec, errstr, sizeof(errstr)),
                 MM_ERR_SCHEMA);
    cr_assert_str_eq(errstr, "unknown magic byte 0x7b (expected 0x00)");
    cr_assert_null(mm_avro_to_json(json, strlen(json), errstr, sizeof(errstr)));
}

Test(avro_decode, unknown_schema_id_is_a_schema_error) {
    const uint8_t payload[] = {0, 0, 0, 0, 99, 0, 0};
    mm_record_type_t type;
    cr_assert_eq(mm_avro_peek(payload, sizeof(payload), &type, NULL, errstr, sizeof(errstr)),
                 MM_ERR_SCHEMA);
    cr_assert_str_eq(errstr, "unknown schema id 99");
    mm_dead_letter_t rec = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(payload, sizeof(payload), &rec, errstr, sizeof(errstr)),
                 MM_ERR_SCHEMA);
    cr_assert_str_eq(errstr, "unknown schema id 99");
}

Test(avro_decode, decoding_a_model_trained_as_observation_batch_names_both_types) {
    mm_model_trained_t trained = sample_trained(true);
    mm_buf_t buf;
    ENCODE(mm_avro_encode_model_trained, &trained, &buf);
    mm_observation_batch_t rec = {0};
    cr_assert_eq(mm_avro_decode_observation_batch(buf.data, buf.len, &rec, errstr, sizeof(errstr)),
                 MM_ERR_SCHEMA);
    cr_assert(strstr(errstr, "manymodels.ModelTrained"), "%s", errstr);
    cr_assert(strstr(errstr, "manymodels.ObservationBatch"), "%s", errstr);
    cr_assert(all_zero(&rec, sizeof(rec)));
    mm_buf_free(&buf);
}

Test(avro_decode, trailing_garbage_is_rejected) {
    mm_dead_letter_t want = sample_dead_letter(true);
    mm_buf_t buf;
    ENCODE(mm_avro_encode_dead_letter, &want, &buf);
    size_t valid_len = buf.len;
    put_byte(&buf, 0);
    char expect[64];
    snprintf(expect, sizeof(expect), "1 trailing bytes after the record at offset %zu", valid_len);
    assert_dl_rejected(&buf, MM_ERR_PARSE, expect);
    mm_buf_free(&buf);
}

Test(avro_decode, oversized_payload_is_rejected_before_parsing) {
    size_t len = MM_BUF_CAP_MESSAGE + 1;
    uint8_t *payload = calloc(1, len);
    cr_assert_not_null(payload);
    payload[4] = 6; /* DeadLetter id, zero body */
    mm_dead_letter_t rec = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(payload, len, &rec, errstr, sizeof(errstr)),
                 MM_ERR_PARSE);
    cr_assert(strstr(errstr, "exceeds the"), "%s", errstr);
    free(payload);
}

/* ---------------------------------------------------------- malformed bodies */

Test(avro_decode, truncation_at_every_byte_of_an_observation_batch_is_an_error) {
    mm_observation_batch_t want = sample_obs();
    mm_buf_t buf;
    ENCODE(mm_avro_encode_observation_batch, &want, &buf);
    for (size_t len = 0; len < buf.len; len++) {
        /* A private copy, so ASan sees any read past the truncated end. */
        uint8_t *prefix = malloc(len ? len : 1);
        cr_assert_not_null(prefix);
        memcpy(prefix, buf.data, len);
        mm_observation_batch_t rec = {0};
        errstr[0] = 0;
        mm_err_t err = mm_avro_decode_observation_batch(prefix, len, &rec, errstr, sizeof(errstr));
        cr_assert_eq(err, MM_ERR_PARSE, "prefix of %zu/%zu bytes: %s (%s)", len, buf.len,
                     mm_err_name(err), errstr);
        cr_assert_neq(errstr[0], 0, "prefix of %zu bytes: no reason", len);
        cr_assert(all_zero(&rec, sizeof(rec)), "prefix of %zu bytes: record not cleared", len);
        free(prefix);
    }
    mm_buf_free(&buf);
}

Test(avro_decode, truncation_at_every_byte_of_every_record_type_is_an_error) {
    mm_observation_batch_t obs = sample_obs();
    mm_model_trained_t trained = sample_trained(true);
    mm_model_decision_t decision = sample_decision(MM_DECISION_PROMOTED, true, true);
    mm_score_request_t score = sample_score(true);
    mm_prediction_batch_t prediction = sample_prediction(true);
    mm_dead_letter_t letter = sample_dead_letter(true);
    const void *recs[MM_RECORD__COUNT] = {
        [MM_RECORD_OBSERVATION_BATCH] = &obs,       [MM_RECORD_MODEL_TRAINED] = &trained,
        [MM_RECORD_MODEL_DECISION] = &decision,     [MM_RECORD_SCORE_REQUEST] = &score,
        [MM_RECORD_PREDICTION_BATCH] = &prediction, [MM_RECORD_DEAD_LETTER] = &letter,
    };
    /* Large enough for any record struct. */
    static uint8_t rec[1024];
    for (int t = 0; t < MM_RECORD__COUNT; t++) {
        mm_record_type_t type = (mm_record_type_t)t;
        mm_buf_t buf;
        mm_buf_init(&buf, 0);
        cr_assert_eq(mm_avro_encode(type, recs[t], &buf, errstr, sizeof(errstr)), MM_OK, "%s",
                     errstr);
        for (size_t len = 0; len < buf.len; len++) {
            /* A private copy, so ASan sees any read past the truncated end. */
            uint8_t *prefix = malloc(len ? len : 1);
            cr_assert_not_null(prefix);
            memcpy(prefix, buf.data, len);
            memset(rec, 0xa5, sizeof(rec));
            errstr[0] = 0;
            mm_err_t err = mm_avro_decode(type, prefix, len, rec, errstr, sizeof(errstr));
            cr_assert_eq(err, MM_ERR_PARSE, "%s prefix of %zu/%zu bytes: %s (%s)",
                         mm_avro_schema_name(type), len, buf.len, mm_err_name(err), errstr);
            cr_assert_neq(errstr[0], 0, "prefix of %zu bytes: no reason", len);
            cr_assert(all_zero(rec, 64), "prefix of %zu bytes: record not cleared", len);
            free(prefix);
        }
        mm_buf_free(&buf);
    }
}

Test(avro_decode, varint_of_eleven_bytes_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_header(&b, MM_RECORD_DEAD_LETTER);
    for (int i = 0; i < 10; i++) put_byte(&b, 0x80);
    put_byte(&b, 0x01);
    assert_dl_rejected(&b, MM_ERR_PARSE,
                       "DeadLetter.service: varint longer than 10 bytes at offset 5");
    mm_buf_free(&b);
}

Test(avro_decode, varint_overflowing_an_int_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_dl_prefix(&b);
    put_byte(&b, 0); /* partition_key: null */
    put_byte(&b, 0); /* source_topic: null */
    /* source_partition: 5-byte varint whose last byte carries more than 32 bits */
    const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    put_bytes(&b, big, sizeof(big));
    assert_dl_rejected(&b, MM_ERR_PARSE, "DeadLetter.source_partition: varint overflows int");
    mm_buf_free(&b);
}

Test(avro_decode, huge_string_length_is_rejected_before_allocating) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_header(&b, MM_RECORD_DEAD_LETTER);
    put_long(&b, (int64_t)1 << 40);
    put_str(&b, "x");
    assert_dl_rejected(&b, MM_ERR_PARSE,
                       "DeadLetter.service: string length 1099511627776 exceeds remaining 2 "
                       "bytes at offset 5");
    mm_buf_free(&b);
}

Test(avro_decode, huge_bytes_length_is_rejected_before_allocating) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_dl_prefix(&b);
    put_long(&b, 0);  /* partition_key: null */
    put_long(&b, 0);  /* source_topic: null */
    put_long(&b, -1); /* source_partition */
    put_long(&b, -1); /* source_offset */
    put_long(&b, 0);  /* source_file: null */
    put_long(&b, -1); /* source_line */
    put_long(&b, 1);  /* original: bytes */
    put_long(&b, INT64_MAX);
    assert_dl_rejected(&b, MM_ERR_PARSE,
                       "DeadLetter.original: bytes length 9223372036854775807 exceeds remaining 0 "
                       "bytes at offset 18");
    mm_buf_free(&b);
}

Test(avro_decode, negative_string_length_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_header(&b, MM_RECORD_DEAD_LETTER);
    put_long(&b, -5);
    assert_dl_rejected(&b, MM_ERR_PARSE, "DeadLetter.service: negative string length -5");
    mm_buf_free(&b);
}

Test(avro_decode, huge_array_count_is_rejected_naming_field_and_offset) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_obs_prefix(&b);
    put_long(&b, (int64_t)1 << 62);
    put_long(&b, 0); /* 12 bytes of whatever follows */
    put_double(&b, 1.0);
    put_long(&b, 0);
    put_long(&b, 0);
    put_long(&b, 0);
    char expect[160];
    snprintf(expect, sizeof(expect),
             "ObservationBatch.time_ms: array block count 4611686018427387904 exceeds remaining "
             "12 bytes at offset %d",
             OBS_TIME_OFFSET);
    assert_obs_rejected(&b, MM_ERR_PARSE, expect);
    mm_buf_free(&b);
}

Test(avro_decode, array_count_of_doubles_is_bounded_by_eight_bytes_each) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_obs_prefix(&b);
    put_long(&b, 0); /* time_ms: empty */
    put_long(&b, 3); /* target: 3 doubles claimed, 16 bytes follow */
    put_double(&b, 1.0);
    put_double(&b, 2.0);
    assert_obs_rejected(&b, MM_ERR_PARSE,
                        "ObservationBatch.target: array block count 3 exceeds remaining 16 bytes");
    mm_buf_free(&b);
}

Test(avro_decode, array_item_budget_is_enforced) {
    /* 5 Mi one-byte longs fit in the message cap but exceed the per-payload item budget. */
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_obs_prefix(&b);
    int64_t count = 5 * 1024 * 1024;
    put_long(&b, count);
    cr_assert_eq(mm_buf_reserve(&b, (size_t)count + 8), MM_OK);
    memset(b.data + b.len, 0, (size_t)count);
    b.len += (size_t)count;
    put_long(&b, 0);
    assert_obs_rejected(&b, MM_ERR_PARSE, "exceeds the budget");
    mm_buf_free(&b);
}

Test(avro_decode, negative_block_count_with_matching_byte_size_is_accepted) {
    /* The Avro spec allows a block as (-count, byte size, items): readers must accept it. */
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_obs_prefix(&b);
    put_long(&b, -2); /* time_ms: one block of 2 items, 2 bytes */
    put_long(&b, 2);
    put_long(&b, 10);
    put_long(&b, 20);
    put_long(&b, 0);
    put_long(&b, -1); /* target: block of 1, then block of 1 */
    put_long(&b, 8);
    put_double(&b, 1.5);
    put_long(&b, 1);
    put_double(&b, NAN);
    put_long(&b, 0);
    put_long(&b, 2); /* line */
    put_long(&b, 7);
    put_long(&b, 8);
    put_long(&b, 0);
    put_long(&b, 0);  /* columns: none */
    put_long(&b, 99); /* produced_at_ms */
    put_long(&b, 0);  /* entities: none */
    put_long(&b, 0);  /* entity_of_row: none */
    mm_observation_batch_t rec = {0};
    cr_assert_eq(mm_avro_decode_observation_batch(b.data, b.len, &rec, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(rec.n_rows, 2);
    cr_assert_eq(rec.time_ms[1], 20);
    cr_assert(dbl_same(rec.target[0], 1.5) && isnan(rec.target[1]));
    cr_assert_eq(rec.line[1], 8);
    cr_assert_eq(rec.produced_at_ms, 99);
    mm_observation_batch_clear(&rec);
    mm_buf_free(&b);
}

Test(avro_decode, negative_block_count_with_wrong_byte_size_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_obs_prefix(&b);
    put_long(&b, -2);
    put_long(&b, 3); /* but the two items take 2 bytes */
    put_long(&b, 10);
    put_long(&b, 20);
    put_long(&b, 0);
    put_long(&b, 0);
    put_long(&b, 0);
    put_long(&b, 0);
    put_long(&b, 0);
    assert_obs_rejected(&b, MM_ERR_PARSE, "ObservationBatch.time_ms: array block byte size 3");
    mm_buf_free(&b);
}

Test(avro_decode, union_index_out_of_range_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_dl_prefix(&b);
    put_long(&b, 2);
    put_str(&b, "store=1");
    char expect[128];
    snprintf(expect, sizeof(expect),
             "DeadLetter.partition_key: union index 2 out of range 0..1 at offset %d",
             DL_PARTITION_KEY_OFFSET);
    assert_dl_rejected(&b, MM_ERR_PARSE, expect);
    mm_buf_reset(&b);
    put_dl_prefix(&b);
    put_long(&b, -1);
    assert_dl_rejected(&b, MM_ERR_PARSE, "union index -1 out of range");
    mm_buf_free(&b);
}

Test(avro_decode, enum_index_out_of_range_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_header(&b, MM_RECORD_MODEL_DECISION);
    put_str(&b, "k");
    put_str(&b, "d");
    put_str(&b, "h");
    put_long(&b, 5); /* decision: only 0..4 exist */
    mm_model_decision_t rec = {0};
    cr_assert_eq(mm_avro_decode_model_decision(b.data, b.len, &rec, errstr, sizeof(errstr)),
                 MM_ERR_PARSE);
    cr_assert(strstr(errstr, "ModelDecision.decision: enum index 5 out of range 0..4 at offset 11"),
              "%s", errstr);
    mm_buf_free(&b);
}

Test(avro_decode, boolean_other_than_zero_or_one_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_header(&b, MM_RECORD_OBSERVATION_BATCH);
    for (int i = 0; i < 5; i++) put_str(&b, "x");
    put_long(&b, 0);
    put_byte(&b, 2);
    assert_obs_rejected(
        &b, MM_ERR_PARSE,
        "ObservationBatch.end_of_load: boolean byte 0x02 is not 0 or 1 at offset 16");
    mm_buf_free(&b);
}

Test(avro_decode, invalid_utf8_and_nul_in_strings_are_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_header(&b, MM_RECORD_DEAD_LETTER);
    put_long(&b, 3);
    put_bytes(&b, "a\xc0\xaf", 3); /* overlong '/' */
    assert_dl_rejected(&b, MM_ERR_PARSE, "DeadLetter.service: string is not valid UTF-8 (byte 1)");
    mm_buf_reset(&b);
    put_header(&b, MM_RECORD_DEAD_LETTER);
    put_long(&b, 3);
    put_bytes(&b, "a\0b", 3);
    assert_dl_rejected(&b, MM_ERR_PARSE, "DeadLetter.service: string contains a NUL byte (byte 1)");
    mm_buf_free(&b);
}

Test(avro_decode, row_arrays_of_different_lengths_are_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_obs_prefix(&b);
    put_long(&b, 2); /* time_ms: 2 rows */
    put_long(&b, 1);
    put_long(&b, 2);
    put_long(&b, 0);
    put_long(&b, 1); /* target: 1 item */
    put_double(&b, 1.0);
    put_long(&b, 0);
    put_long(&b, 0); /* line: none */
    put_long(&b, 0); /* columns: none */
    put_long(&b, 0);
    assert_obs_rejected(&b, MM_ERR_PARSE, "ObservationBatch.target: 1 items, expected 2");
    mm_buf_free(&b);
}

Test(avro_decode, column_with_the_wrong_number_of_values_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_obs_prefix(&b);
    put_long(&b, 1); /* time_ms */
    put_long(&b, 1);
    put_long(&b, 0);
    put_long(&b, 1); /* target */
    put_double(&b, 1.0);
    put_long(&b, 0);
    put_long(&b, 1); /* line */
    put_long(&b, 2);
    put_long(&b, 0);
    put_long(&b, 2); /* columns: the second has 2 values for 1 row */
    put_str(&b, "a");
    put_long(&b, 1);
    put_double(&b, 3.0);
    put_long(&b, 0);
    put_str(&b, "b");
    put_long(&b, 2);
    put_double(&b, 3.0);
    put_double(&b, 4.0);
    put_long(&b, 0);
    put_long(&b, 0);
    put_long(&b, 0); /* produced_at_ms */
    assert_obs_rejected(&b, MM_ERR_PARSE,
                        "ObservationBatch.columns[1].values: 2 items, expected 1");
    mm_buf_free(&b);
}

Test(avro_decode, score_request_values_must_be_rows_times_features) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_header(&b, MM_RECORD_SCORE_REQUEST);
    put_str(&b, "r");
    put_str(&b, "k");
    put_long(&b, 0); /* dataset: null */
    put_long(&b, 0); /* horizon */
    put_long(&b, 2); /* feature_names */
    put_str(&b, "a");
    put_str(&b, "b");
    put_long(&b, 0);
    put_long(&b, 1); /* time_ms: 1 row */
    put_long(&b, 5);
    put_long(&b, 0);
    put_long(&b, 3); /* values: 3, not 2 */
    put_double(&b, 1);
    put_double(&b, 2);
    put_double(&b, 3);
    put_long(&b, 0);
    put_long(&b, 0); /* requested_at_ms */
    mm_score_request_t rec = {0};
    cr_assert_eq(mm_avro_decode_score_request(b.data, b.len, &rec, errstr, sizeof(errstr)),
                 MM_ERR_PARSE);
    cr_assert(strstr(errstr, "ScoreRequest.values: 3 items, expected 2"), "%s", errstr);
    cr_assert(all_zero(&rec, sizeof(rec)));
    mm_buf_free(&b);
}

Test(avro_decode, random_corruption_never_crashes) {
    /* Deterministic mutations of valid payloads: any outcome but a crash or leak is fine. */
    mm_observation_batch_t obs = sample_obs();
    mm_model_trained_t trained = sample_trained(true);
    mm_buf_t bufs[2];
    ENCODE(mm_avro_encode_observation_batch, &obs, &bufs[0]);
    ENCODE(mm_avro_encode_model_trained, &trained, &bufs[1]);
    uint32_t seed = 12345;
    int accepted = 0, rejected = 0;
    for (int round = 0; round < 4000; round++) {
        mm_buf_t *src = &bufs[round % 2];
        uint8_t *p = malloc(src->len);
        cr_assert_not_null(p);
        memcpy(p, src->data, src->len);
        int flips = 1 + round % 4;
        for (int f = 0; f < flips; f++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = MM_WIRE_HEADER_LEN + (seed >> 8) % (src->len - MM_WIRE_HEADER_LEN);
            seed = seed * 1103515245u + 12345u;
            p[at] = (uint8_t)(seed >> 16);
        }
        mm_err_t err;
        if (round % 2 == 0) {
            mm_observation_batch_t rec = {0};
            err = mm_avro_decode_observation_batch(p, src->len, &rec, errstr, sizeof(errstr));
            mm_observation_batch_clear(&rec);
        } else {
            mm_model_trained_t rec = {0};
            err = mm_avro_decode_model_trained(p, src->len, &rec, errstr, sizeof(errstr));
            mm_model_trained_clear(&rec);
        }
        char *json = mm_avro_to_json(p, src->len, errstr, sizeof(errstr));
        cr_assert_eq(json != NULL, err == MM_OK, "to_json and decode disagree: %s", errstr);
        free(json);
        if (err == MM_OK)
            accepted++;
        else
            rejected++;
        free(p);
    }
    cr_assert_gt(rejected, 0);
    cr_assert_gt(accepted, 0, "mutations of numeric bytes should still decode");
    mm_buf_free(&bufs[0]);
    mm_buf_free(&bufs[1]);
}
