/*
 * test_avro_encode.c - the encoder (common/src/avro_encode.c) refuses records
 * it cannot write faithfully, naming the field, and appends nothing then.
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

TestSuite(avro_encode, .init = avro_suite_init);

/* ------------------------------------------------------------ encoder errors */

Test(avro_encode, encoder_rejects_a_null_required_string_naming_the_field) {
    mm_observation_batch_t rec = sample_obs();
    rec.partition_key = NULL;
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_avro_encode_observation_batch(&rec, &buf, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "ObservationBatch.partition_key"), "%s", errstr);
    cr_assert_eq(buf.len, 0, "nothing may be appended on failure");
    mm_buf_free(&buf);
}

Test(avro_encode, encoder_rejects_a_null_column_name_naming_the_column) {
    mm_obs_column_t columns[2] = {{"price", obs_price}, {NULL, obs_promo}};
    mm_observation_batch_t rec = sample_obs();
    rec.columns = columns;
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_avro_encode_observation_batch(&rec, &buf, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "ObservationBatch.columns[1].name"), "%s", errstr);
    mm_buf_free(&buf);
}

Test(avro_encode, encoder_rejects_invalid_utf8) {
    mm_dead_letter_t rec = sample_dead_letter(false);
    rec.reason = "caf\xe9"; /* Latin-1, not UTF-8 */
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_avro_encode_dead_letter(&rec, &buf, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "DeadLetter.reason: not valid UTF-8 (byte 3)"), "%s", errstr);
    mm_buf_free(&buf);
}

Test(avro_encode, encoder_rejects_rows_without_their_array) {
    mm_prediction_batch_t rec = sample_prediction(true);
    rec.lower = NULL;
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_avro_encode_prediction_batch(&rec, &buf, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "PredictionBatch.lower"), "%s", errstr);
    mm_buf_free(&buf);
}

Test(avro_encode, encoder_rejects_an_enum_value_out_of_range) {
    mm_model_decision_t rec = sample_decision((mm_decision_kind_t)9, false, false);
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_avro_encode_model_decision(&rec, &buf, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "ModelDecision.decision"), "%s", errstr);
    mm_buf_free(&buf);
}

Test(avro_encode, encoder_respects_the_buffer_limit) {
    mm_observation_batch_t rec = sample_obs();
    mm_buf_t buf;
    mm_buf_init(&buf, 16);
    cr_assert_eq(mm_avro_encode_observation_batch(&rec, &buf, errstr, sizeof(errstr)),
                 MM_ERR_NOMEM);
    cr_assert_eq(buf.len, 0);
    mm_buf_free(&buf);
}
