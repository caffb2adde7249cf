/*
 * test_avro.c - tests of the Avro record codec (common/src/avro*.c): the
 * catalog, round trips of the six record types compared field by field
 * through their descriptors, the wire format pinned by golden bytes and read
 * back by Avro C as an independent oracle, JSON rendering, clearing and
 * equality, and concurrent use. Malformed input is in test_avro_decode.c,
 * encoder errors in test_avro_encode.c, schema drift in
 * test_avro_schema_check.c.
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

TestSuite(avro, .init = avro_suite_init);

/* ------------------------------------------------------------ catalog */

Test(avro, catalog_ids_are_the_committed_ones) {
    /* Changing an id changes the bytes on the wire: ids are stable and never reused. */
    cr_assert_eq(mm_avro_schema_id(MM_RECORD_OBSERVATION_BATCH), 9); /* 1 retired */
    cr_assert_eq(mm_avro_schema_id(MM_RECORD_MODEL_TRAINED), 11);    /* 2 retired */
    cr_assert_eq(mm_avro_schema_id(MM_RECORD_MODEL_DECISION), 8);    /* 3 retired */
    cr_assert_eq(mm_avro_schema_id(MM_RECORD_SCORE_REQUEST), 4);
    cr_assert_eq(mm_avro_schema_id(MM_RECORD_PREDICTION_BATCH), 10); /* 5, 7 retired */
    cr_assert_eq(mm_avro_schema_id(MM_RECORD_DEAD_LETTER), 6);
    cr_assert_eq(mm_avro_schema_id(MM_RECORD__COUNT), -1);
}

Test(avro, schema_names_and_texts_are_embedded) {
    for (int t = 0; t < MM_RECORD__COUNT; t++) {
        const char *name = mm_avro_schema_name((mm_record_type_t)t);
        const char *json = mm_avro_schema_json((mm_record_type_t)t);
        cr_assert(name && strncmp(name, "manymodels.", 11) == 0, "type %d: name %s", t, name);
        cr_assert(json, "type %d: no schema text", t);
        json_error_t jerr;
        json_t *schema = json_loads(json, 0, &jerr);
        cr_assert(schema, "%s: embedded schema is not JSON: %s", name, jerr.text);
        cr_assert_str_eq(json_string_value(json_object_get(schema, "name")), name + 11);
        cr_assert_str_eq(json_string_value(json_object_get(schema, "namespace")), "manymodels");
        json_decref(schema);
    }
    cr_assert_null(mm_avro_schema_name(MM_RECORD__COUNT));
    cr_assert_str_eq(mm_avro_schema_name(MM_RECORD_DEAD_LETTER), "manymodels.DeadLetter");
}

Test(avro, init_is_idempotent) {
    cr_assert_eq(mm_avro_init(errstr, sizeof(errstr)), MM_OK);
    cr_assert_eq(mm_avro_init(NULL, 0), MM_OK);
}

Test(avro, enum_names_match_the_schema_symbols) {
    cr_assert_str_eq(mm_decision_kind_name(MM_DECISION_APPROVED), "approved");
    cr_assert_str_eq(mm_decision_kind_name(MM_DECISION_REJECTED), "rejected");
    cr_assert_str_eq(mm_decision_kind_name(MM_DECISION_ROLLED_BACK), "rolled_back");
    cr_assert_str_eq(mm_decision_kind_name(MM_DECISION_PROMOTED), "promoted");
    cr_assert_str_eq(mm_decision_kind_name(MM_DECISION_FALLBACK), "fallback");
    cr_assert_str_eq(mm_decision_kind_name((mm_decision_kind_t)42), "unknown");
    cr_assert_str_eq(mm_prediction_status_name(MM_PREDICTION_OK), "ok");
    cr_assert_str_eq(mm_prediction_status_name(MM_PREDICTION_NO_MODEL), "no_model");
    cr_assert_str_eq(mm_prediction_status_name(MM_PREDICTION_ERROR), "error");
    cr_assert_str_eq(mm_prediction_status_name((mm_prediction_status_t)-1), "unknown");
    const char *decision = mm_avro_schema_json(MM_RECORD_MODEL_DECISION);
    cr_assert(strstr(decision,
                     "[\"approved\", \"rejected\", \"rolled_back\", \"promoted\", \"fallback\"]"));
    const char *prediction = mm_avro_schema_json(MM_RECORD_PREDICTION_BATCH);
    cr_assert(strstr(prediction, "[\"ok\", \"no_model\", \"error\"]"));
}

/* --------------------------------------------------------------- round trips */

Test(avro, observation_batch_round_trips_every_field) {
    mm_observation_batch_t want = sample_obs(), got = {0};
    mm_buf_t buf;
    ENCODE(mm_avro_encode_observation_batch, &want, &buf);
    mm_record_type_t type;
    int32_t id;
    cr_assert_eq(mm_avro_peek(buf.data, buf.len, &type, &id, errstr, sizeof(errstr)), MM_OK);
    cr_assert_eq(type, MM_RECORD_OBSERVATION_BATCH);
    cr_assert_eq(id, 9);
    cr_assert_eq(mm_avro_decode_observation_batch(buf.data, buf.len, &got, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    assert_record_equal(MM_RECORD_OBSERVATION_BATCH, &got, &want);
    mm_observation_batch_clear(&got);
    cr_assert(all_zero(&got, sizeof(got)));
    mm_buf_free(&buf);
}

Test(avro, observation_batch_bytes_are_read_back_by_avro_c) {
    /* ObservationBatch is coded without Avro C: check Avro C's own reader agrees. */
    mm_observation_batch_t want = sample_obs();
    mm_buf_t buf;
    ENCODE(mm_avro_encode_observation_batch, &want, &buf);
    const char *json = mm_avro_schema_json(MM_RECORD_OBSERVATION_BATCH);
    avro_schema_t schema;
    cr_assert_eq(avro_schema_from_json_length(json, strlen(json), &schema), 0, "%s",
                 avro_strerror());
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t rec, field, item, column;
    cr_assert_eq(avro_generic_value_new(iface, &rec), 0);
    avro_reader_t reader = avro_reader_memory((const char *)buf.data + MM_WIRE_HEADER_LEN,
                                              (int64_t)(buf.len - MM_WIRE_HEADER_LEN));
    cr_assert_eq(avro_value_read(reader, &rec), 0, "%s", avro_strerror());
    const char *s;
    size_t size;
    int64_t l;
    double d;
    int b;
    cr_assert_eq(avro_value_get_by_name(&rec, "source", &field, NULL), 0);
    cr_assert_eq(avro_value_get_string(&field, &s, &size), 0);
    cr_assert_str_eq(s, want.source);
    cr_assert_eq(avro_value_get_by_name(&rec, "end_of_load", &field, NULL), 0);
    cr_assert_eq(avro_value_get_boolean(&field, &b), 0);
    cr_assert_eq(b, 1);
    cr_assert_eq(avro_value_get_by_name(&rec, "time_ms", &field, NULL), 0);
    cr_assert_eq(avro_value_get_size(&field, &size), 0);
    cr_assert_eq(size, want.n_rows);
    cr_assert_eq(avro_value_get_by_index(&field, 2, &item, NULL), 0);
    cr_assert_eq(avro_value_get_long(&item, &l), 0);
    cr_assert_eq(l, INT64_MIN);
    cr_assert_eq(avro_value_get_by_name(&rec, "columns", &field, NULL), 0);
    cr_assert_eq(avro_value_get_by_index(&field, 0, &column, NULL), 0);
    cr_assert_eq(avro_value_get_by_name(&column, "values", &field, NULL), 0);
    cr_assert_eq(avro_value_get_by_index(&field, 3, &item, NULL), 0);
    cr_assert_eq(avro_value_get_double(&item, &d), 0);
    cr_assert(dbl_same(d, -INFINITY));
    cr_assert_eq(avro_value_get_by_name(&rec, "produced_at_ms", &field, NULL), 0);
    cr_assert_eq(avro_value_get_long(&field, &l), 0);
    cr_assert_eq(l, want.produced_at_ms);
    avro_reader_free(reader);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    mm_buf_free(&buf);
}

Test(avro, observation_batch_round_trips_with_no_rows_and_no_columns) {
    mm_observation_batch_t want = sample_obs(), got = {0};
    want.n_rows = 0;
    want.n_columns = 0;
    want.time_ms = NULL;
    want.target = NULL;
    want.line = NULL;
    want.columns = NULL;
    want.n_entity_of_row = 0;
    want.entity_of_row = NULL;
    want.end_of_load = false;
    want.load_rows_for_key = -1;
    want.load_batches_for_key = -1;
    mm_buf_t buf;
    ENCODE(mm_avro_encode_observation_batch, &want, &buf);
    cr_assert_eq(mm_avro_decode_observation_batch(buf.data, buf.len, &got, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    assert_record_equal(MM_RECORD_OBSERVATION_BATCH, &got, &want);
    mm_observation_batch_clear(&got);
    mm_buf_free(&buf);
}

Test(avro, model_trained_round_trips_with_optionals_set_and_null) {
    for (int optionals = 0; optionals <= 1; optionals++) {
        mm_model_trained_t want = sample_trained(optionals), got = {0};
        mm_buf_t buf;
        ENCODE(mm_avro_encode_model_trained, &want, &buf);
        cr_assert_eq(mm_avro_decode_model_trained(buf.data, buf.len, &got, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
        assert_record_equal(MM_RECORD_MODEL_TRAINED, &got, &want);
        mm_model_trained_clear(&got);
        mm_buf_free(&buf);
    }
}

Test(avro, model_decision_round_trips_every_kind_with_and_without_production) {
    for (int kind = MM_DECISION_APPROVED; kind <= MM_DECISION_PROMOTED; kind++) {
        for (int variant = 0; variant < 3; variant++) {
            /* 0: no production model; 1: production without load_id; 2: with load_id */
            mm_model_decision_t want = sample_decision((mm_decision_kind_t)kind, variant > 0,
                                                       variant == 2),
                                got = {0};
            mm_buf_t buf;
            ENCODE(mm_avro_encode_model_decision, &want, &buf);
            cr_assert_eq(
                mm_avro_decode_model_decision(buf.data, buf.len, &got, errstr, sizeof(errstr)),
                MM_OK, "%s", errstr);
            assert_record_equal(MM_RECORD_MODEL_DECISION, &got, &want);
            mm_model_decision_clear(&got);
            mm_buf_free(&buf);
        }
    }
}

Test(avro, score_request_round_trips_with_optionals_set_and_null) {
    for (int optionals = 0; optionals <= 1; optionals++) {
        mm_score_request_t want = sample_score(optionals), got = {0};
        mm_buf_t buf;
        ENCODE(mm_avro_encode_score_request, &want, &buf);
        cr_assert_eq(mm_avro_decode_score_request(buf.data, buf.len, &got, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
        assert_record_equal(MM_RECORD_SCORE_REQUEST, &got, &want);
        mm_score_request_clear(&got);
        mm_buf_free(&buf);
    }
}

Test(avro, score_request_round_trips_a_forecast_with_rows_but_no_features) {
    mm_score_request_t want = sample_score(true), got = {0};
    want.n_features = 0;
    want.feature_names = NULL;
    want.values = NULL;
    mm_buf_t buf;
    ENCODE(mm_avro_encode_score_request, &want, &buf);
    cr_assert_eq(mm_avro_decode_score_request(buf.data, buf.len, &got, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    assert_record_equal(MM_RECORD_SCORE_REQUEST, &got, &want);
    mm_score_request_clear(&got);
    mm_buf_free(&buf);
}

Test(avro, prediction_batch_round_trips_with_optionals_set_and_null) {
    for (int optionals = 0; optionals <= 1; optionals++) {
        mm_prediction_batch_t want = sample_prediction(optionals), got = {0};
        mm_buf_t buf;
        ENCODE(mm_avro_encode_prediction_batch, &want, &buf);
        cr_assert_eq(
            mm_avro_decode_prediction_batch(buf.data, buf.len, &got, errstr, sizeof(errstr)), MM_OK,
            "%s", errstr);
        assert_record_equal(MM_RECORD_PREDICTION_BATCH, &got, &want);
        mm_prediction_batch_clear(&got);
        mm_buf_free(&buf);
    }
}

Test(avro, dead_letter_round_trips_with_optionals_set_and_null) {
    for (int optionals = 0; optionals <= 1; optionals++) {
        mm_dead_letter_t want = sample_dead_letter(optionals), got = {0};
        mm_buf_t buf;
        ENCODE(mm_avro_encode_dead_letter, &want, &buf);
        cr_assert_eq(mm_avro_decode_dead_letter(buf.data, buf.len, &got, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
        assert_record_equal(MM_RECORD_DEAD_LETTER, &got, &want);
        mm_dead_letter_clear(&got);
        mm_buf_free(&buf);
    }
}

Test(avro, dead_letter_keeps_an_empty_original_distinct_from_none) {
    static uint8_t empty[1];
    mm_dead_letter_t want = sample_dead_letter(false), got = {0};
    want.original = empty;
    want.original_len = 0;
    mm_buf_t buf;
    ENCODE(mm_avro_encode_dead_letter, &want, &buf);
    cr_assert_eq(mm_avro_decode_dead_letter(buf.data, buf.len, &got, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_not_null(got.original);
    cr_assert_eq(got.original_len, 0);
    mm_dead_letter_clear(&got);
    mm_buf_free(&buf);
}

Test(avro, encoders_append_after_existing_content) {
    mm_dead_letter_t first = sample_dead_letter(true), second = sample_dead_letter(false);
    mm_buf_t one, both;
    ENCODE(mm_avro_encode_dead_letter, &second, &one);
    ENCODE(mm_avro_encode_dead_letter, &first, &both);
    size_t first_len = both.len;
    cr_assert_eq(mm_avro_encode_dead_letter(&second, &both, errstr, sizeof(errstr)), MM_OK);
    cr_assert_eq(both.len, first_len + one.len);
    cr_assert(memcmp(both.data + first_len, one.data, one.len) == 0);
    mm_dead_letter_t got = {0};
    cr_assert_eq(
        mm_avro_decode_dead_letter(both.data + first_len, one.len, &got, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    assert_record_equal(MM_RECORD_DEAD_LETTER, &got, &second);
    mm_dead_letter_clear(&got);
    mm_buf_free(&one);
    mm_buf_free(&both);
}

Test(avro, dead_letter_encoding_matches_golden_bytes) {
    mm_dead_letter_t rec = sample_dead_letter(true);
    mm_buf_t got, want = read_hex_fixture("dead_letter.hex");
    ENCODE(mm_avro_encode_dead_letter, &rec, &got);
    assert_bytes_equal(&got, &want, "DeadLetter");
    mm_dead_letter_t back = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(want.data, want.len, &back, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    assert_record_equal(MM_RECORD_DEAD_LETTER, &back, &rec);
    mm_dead_letter_clear(&back);
    mm_buf_free(&got);
    mm_buf_free(&want);
}

Test(avro, observation_batch_encoding_matches_golden_bytes) {
    mm_observation_batch_t rec = sample_obs();
    mm_buf_t got, want = read_hex_fixture("observation_batch.hex");
    ENCODE(mm_avro_encode_observation_batch, &rec, &got);
    assert_bytes_equal(&got, &want, "ObservationBatch");
    mm_buf_free(&got);
    mm_buf_free(&want);
}

Test(avro, dead_letter_encoding_follows_the_avro_spec) {
    /* The same record written by the independent writer above: checks the golden file itself. */
    mm_dead_letter_t rec = sample_dead_letter(true);
    mm_buf_t got, want;
    ENCODE(mm_avro_encode_dead_letter, &rec, &got);
    mm_buf_init(&want, 0);
    put_header(&want, MM_RECORD_DEAD_LETTER);
    put_str(&want, rec.service);
    put_str(&want, rec.error_code);
    put_str(&want, rec.reason);
    put_long(&want, 1);
    put_str(&want, rec.partition_key);
    put_long(&want, 1);
    put_str(&want, rec.source_topic);
    put_long(&want, rec.source_partition);
    put_long(&want, rec.source_offset);
    put_long(&want, 1);
    put_str(&want, rec.source_file);
    put_long(&want, rec.source_line);
    put_long(&want, 1);
    put_long(&want, (int64_t)rec.original_len);
    put_bytes(&want, rec.original, rec.original_len);
    put_long(&want, rec.failed_at_ms);
    assert_bytes_equal(&got, &want, "DeadLetter");
    mm_buf_free(&got);
    mm_buf_free(&want);
}

/* ------------------------------------------------------ Avro C as the oracle */

/* One encoded sample of every record type, optionals set. */
static void encode_samples(mm_buf_t bufs[MM_RECORD__COUNT]) {
    mm_observation_batch_t obs = sample_obs();
    mm_model_trained_t trained = sample_trained(true);
    mm_model_decision_t decision = sample_decision(MM_DECISION_APPROVED, true, true);
    mm_score_request_t score = sample_score(true);
    mm_prediction_batch_t prediction = sample_prediction(true);
    mm_dead_letter_t letter = sample_dead_letter(true);
    ENCODE(mm_avro_encode_observation_batch, &obs, &bufs[MM_RECORD_OBSERVATION_BATCH]);
    ENCODE(mm_avro_encode_model_trained, &trained, &bufs[MM_RECORD_MODEL_TRAINED]);
    ENCODE(mm_avro_encode_model_decision, &decision, &bufs[MM_RECORD_MODEL_DECISION]);
    ENCODE(mm_avro_encode_score_request, &score, &bufs[MM_RECORD_SCORE_REQUEST]);
    ENCODE(mm_avro_encode_prediction_batch, &prediction, &bufs[MM_RECORD_PREDICTION_BATCH]);
    ENCODE(mm_avro_encode_dead_letter, &letter, &bufs[MM_RECORD_DEAD_LETTER]);
}

Test(avro, every_record_type_is_read_back_whole_by_avro_c) {
    /* The codec never uses Avro C on the wire: Avro C's own reader must agree on every byte. */
    mm_buf_t bufs[MM_RECORD__COUNT];
    encode_samples(bufs);
    for (int t = 0; t < MM_RECORD__COUNT; t++) {
        const char *json = mm_avro_schema_json((mm_record_type_t)t);
        avro_schema_t schema;
        cr_assert_eq(avro_schema_from_json_length(json, strlen(json), &schema), 0, "%s",
                     avro_strerror());
        avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
        avro_value_t rec;
        cr_assert_eq(avro_generic_value_new(iface, &rec), 0);
        int64_t body = (int64_t)(bufs[t].len - MM_WIRE_HEADER_LEN);
        avro_reader_t reader =
            avro_reader_memory((const char *)bufs[t].data + MM_WIRE_HEADER_LEN, body);
        cr_assert_eq(avro_value_read(reader, &rec), 0, "%s: %s",
                     mm_avro_schema_name((mm_record_type_t)t), avro_strerror());
        size_t size = 0;
        cr_assert_eq(avro_value_sizeof(&rec, &size), 0);
        cr_assert_eq((int64_t)size, body, "%s: Avro C sizes it %zu bytes, we wrote %lld",
                     mm_avro_schema_name((mm_record_type_t)t), size, (long long)body);
        avro_reader_free(reader);
        avro_value_decref(&rec);
        avro_value_iface_decref(iface);
        avro_schema_decref(schema);
        mm_buf_free(&bufs[t]);
    }
}

/* ------------------------------------------------------- equality and clear */

Test(avro, equality_names_the_first_field_that_differs) {
    mm_observation_batch_t a = sample_obs(), b = sample_obs();
    char diff[256];
    cr_assert(mm_avro_equal(MM_RECORD_OBSERVATION_BATCH, &a, &b, diff, sizeof(diff)));
    double target[4];
    memcpy(target, obs_target, sizeof(target));
    target[2] = 0.0; /* was -0.0 */
    b.target = target;
    cr_assert_not(mm_avro_equal(MM_RECORD_OBSERVATION_BATCH, &a, &b, diff, sizeof(diff)));
    cr_assert_str_eq(diff, "ObservationBatch.target[2]: -0 != 0");
    mm_obs_column_t columns[2] = {{"price", obs_price}, {"promotion", obs_promo}};
    b = sample_obs();
    b.columns = columns;
    cr_assert_not(mm_avro_equal(MM_RECORD_OBSERVATION_BATCH, &a, &b, diff, sizeof(diff)));
    cr_assert_str_eq(diff, "ObservationBatch.columns[1].name: \"promo\" != \"promotion\"");
    b = sample_obs();
    b.n_rows = 3;
    cr_assert_not(mm_avro_equal(MM_RECORD_OBSERVATION_BATCH, &a, &b, diff, sizeof(diff)));
    cr_assert_str_eq(diff, "ObservationBatch.time_ms: 4 items != 3 items");
}

Test(avro, equality_tells_absent_from_empty_and_nested_records_apart) {
    static uint8_t empty[1];
    mm_dead_letter_t a = sample_dead_letter(false), b = sample_dead_letter(false);
    char diff[256];
    b.original = empty;
    cr_assert_not(mm_avro_equal(MM_RECORD_DEAD_LETTER, &a, &b, diff, sizeof(diff)));
    cr_assert_str_eq(diff, "DeadLetter.original: NULL != bytes");
    mm_model_decision_t x = sample_decision(MM_DECISION_APPROVED, true, true);
    mm_model_decision_t y = sample_decision(MM_DECISION_APPROVED, true, false);
    cr_assert_not(mm_avro_equal(MM_RECORD_MODEL_DECISION, &x, &y, diff, sizeof(diff)));
    cr_assert_str_eq(diff, "ModelDecision.production.load_id: \"load-7\" != NULL");
    y = sample_decision(MM_DECISION_APPROVED, false, false);
    cr_assert_not(mm_avro_equal(MM_RECORD_MODEL_DECISION, &x, &y, diff, sizeof(diff)));
    cr_assert_str_eq(diff, "ModelDecision.production: present != null");
    mm_score_request_t s = sample_score(true), r = sample_score(true);
    const char *names[2] = {"price", "discount"};
    r.feature_names = names;
    cr_assert_not(mm_avro_equal(MM_RECORD_SCORE_REQUEST, &s, &r, diff, sizeof(diff)));
    cr_assert_str_eq(diff, "ScoreRequest.feature_names[1]: \"promo\" != \"discount\"");
}

Test(avro, clear_accepts_null_and_zeroed_records) {
    mm_observation_batch_clear(NULL);
    mm_model_trained_t rec = {0};
    mm_model_trained_clear(&rec);
    cr_assert(all_zero(&rec, sizeof(rec)));
    mm_avro_clear(MM_RECORD__COUNT, &rec);
}

Test(avro, record_to_json_renders_a_struct_without_encoding_it) {
    mm_model_decision_t rec = sample_decision(MM_DECISION_ROLLED_BACK, false, false);
    mm_buf_t json;
    mm_buf_init(&json, 0);
    cr_assert_eq(
        mm_avro_record_to_json(MM_RECORD_MODEL_DECISION, &rec, &json, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    cr_assert(strstr((const char *)json.data, "\"decision\":\"rolled_back\""), "%s", json.data);
    cr_assert(strstr((const char *)json.data, "\"production\":null}"), "%s", json.data);
    mm_buf_reset(&json);
    rec.decision = (mm_decision_kind_t)7;
    cr_assert_eq(
        mm_avro_record_to_json(MM_RECORD_MODEL_DECISION, &rec, &json, errstr, sizeof(errstr)),
        MM_ERR_INVALID_ARG);
    cr_assert_eq(json.len, 0);
    mm_buf_free(&json);
}

/* ----------------------------------------------------------------- JSON */

Test(avro, to_json_renders_nan_bytes_and_unions_readably) {
    mm_dead_letter_t rec = sample_dead_letter(true);
    mm_buf_t buf;
    ENCODE(mm_avro_encode_dead_letter, &rec, &buf);
    char *json = mm_avro_to_json(buf.data, buf.len, errstr, sizeof(errstr));
    cr_assert_not_null(json, "%s", errstr);
    char *want = read_text_fixture("dead_letter.json");
    cr_assert_str_eq(json, want);
    free(want);
    free(json);
    mm_buf_free(&buf);

    mm_observation_batch_t obs = sample_obs();
    ENCODE(mm_avro_encode_observation_batch, &obs, &buf);
    json = mm_avro_to_json(buf.data, buf.len, errstr, sizeof(errstr));
    cr_assert_not_null(json, "%s", errstr);
    json_error_t jerr;
    json_t *parsed = json_loads(json, 0, &jerr);
    cr_assert_not_null(parsed, "not JSON (%s): %s", jerr.text, json);
    json_t *target = json_object_get(parsed, "target");
    cr_assert_eq(json_array_size(target), 4);
    cr_assert_str_eq(json_string_value(json_array_get(target, 1)), "NaN");
    cr_assert_str_eq(json_string_value(json_object_get(parsed, "source")),
                     "data/sales \xc3\xa9t\xc3\xa9.csv");
    json_t *columns = json_object_get(parsed, "columns");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(columns, 1), "name")),
                     "promo");
    cr_assert_str_eq(
        json_string_value(json_array_get(json_object_get(json_array_get(columns, 0), "values"), 3)),
        "-Infinity");
    json_decref(parsed);
    free(json);
    mm_buf_free(&buf);
}

Test(avro, to_json_rejects_a_malformed_body_with_a_reason) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_header(&b, MM_RECORD_DEAD_LETTER);
    put_long(&b, 100);
    cr_assert_null(mm_avro_to_json(b.data, b.len, errstr, sizeof(errstr)));
    cr_assert(strstr(errstr, "DeadLetter.service: string length 100 exceeds remaining 0 bytes"),
              "%s", errstr);
    mm_buf_free(&b);
}

/* ------------------------------------------------------------- threads */

static void *encode_decode_loop(void *arg) {
    (void)arg;
    char err[256];
    mm_observation_batch_t want = sample_obs();
    for (int i = 0; i < 300; i++) {
        mm_buf_t buf;
        mm_buf_init(&buf, 0);
        mm_observation_batch_t got = {0};
        if (mm_avro_encode_observation_batch(&want, &buf, err, sizeof(err)) != MM_OK ||
            mm_avro_decode_observation_batch(buf.data, buf.len, &got, err, sizeof(err)) != MM_OK ||
            got.n_rows != want.n_rows || !dbl_same(got.columns[0].values[0], obs_price[0])) {
            mm_observation_batch_clear(&got);
            mm_buf_free(&buf);
            return (void *)1;
        }
        mm_observation_batch_clear(&got);
        mm_buf_free(&buf);
    }
    return NULL;
}

Test(avro, concurrent_encode_and_decode_from_several_threads) {
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, encode_decode_loop, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *result;
        pthread_join(threads[i], &result);
        cr_assert_null(result, "thread %d failed", i);
    }
}
