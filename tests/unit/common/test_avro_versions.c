/*
 * test_avro_versions.c - readers that know two versions of a record
 * (common/src/avro_versions.c): bytes written by Avro C from the retired
 * schemas in schemas/retired/ (the test oracle) decode with today's reader,
 * the fields appended since filled with their schema defaults; writers use
 * the current ids; a retired schema that is not an older prefix of the
 * current one fails the start-up check naming the record, the id and the
 * field; an id neither current nor retired is refused.
 */
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <criterion/criterion.h>

#include "test_avro_support.h"

TestSuite(avro_versions, .init = avro_suite_init);

#define DECISION_RETIRED_ID   3
#define DECISION_CURRENT_ID   8
#define PREDICTION_RETIRED_ID 5
#define PREDICTION_CURRENT_ID 10
#define OBS_RETIRED_ID        1
#define TRAINED_RETIRED_ID    2
#define TRAINED_CURRENT_ID    11

/* The committed text of a retired schema, relative to tests/fixtures/avro. */
static char *retired_schema(const char *file) {
    char name[256];
    snprintf(name, sizeof(name), "../../../schemas/retired/%s", file);
    return read_text_fixture(name);
}

/* ------------------------------------------------- the Avro C oracle writer */

typedef struct oracle {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t rec;
} oracle_t;

static oracle_t oracle_new(const char *file) {
    oracle_t o;
    char *json = retired_schema(file);
    cr_assert_eq(avro_schema_from_json_length(json, strlen(json), &o.schema), 0, "%s",
                 avro_strerror());
    free(json);
    o.iface = avro_generic_class_from_schema(o.schema);
    cr_assert_eq(avro_generic_value_new(o.iface, &o.rec), 0);
    return o;
}

static void oracle_free(oracle_t *o) {
    avro_value_decref(&o->rec);
    avro_value_iface_decref(o->iface);
    avro_schema_decref(o->schema);
}

static avro_value_t field(avro_value_t *rec, const char *name) {
    avro_value_t out;
    cr_assert_eq(avro_value_get_by_name(rec, name, &out, NULL), 0, "no field %s", name);
    return out;
}

static void set_str(avro_value_t *rec, const char *name, const char *s) {
    avro_value_t f = field(rec, name);
    cr_assert_eq(avro_value_set_string(&f, s), 0, "%s: %s", name, avro_strerror());
}

static void set_long(avro_value_t *rec, const char *name, int64_t v) {
    avro_value_t f = field(rec, name);
    cr_assert_eq(avro_value_set_long(&f, v), 0, "%s: %s", name, avro_strerror());
}

static void set_int(avro_value_t *rec, const char *name, int32_t v) {
    avro_value_t f = field(rec, name);
    cr_assert_eq(avro_value_set_int(&f, v), 0, "%s: %s", name, avro_strerror());
}

/* A ["null", "string"] field: null for NULL. */
static void set_opt_str(avro_value_t *rec, const char *name, const char *s) {
    avro_value_t f = field(rec, name), branch;
    cr_assert_eq(avro_value_set_branch(&f, s ? 1 : 0, &branch), 0, "%s", name);
    if (s)
        cr_assert_eq(avro_value_set_string(&branch, s), 0);
    else
        cr_assert_eq(avro_value_set_null(&branch), 0);
}

static void set_doubles(avro_value_t *rec, const char *name, const double *v, size_t n) {
    avro_value_t f = field(rec, name), item;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(avro_value_append(&f, &item, NULL), 0);
        cr_assert_eq(avro_value_set_double(&item, v[i]), 0);
    }
}

/* The oracle's record in the wire framing, with schema id @p id. */
static mm_buf_t oracle_frame(oracle_t *o, int32_t id) {
    size_t size = 0;
    cr_assert_eq(avro_value_sizeof(&o->rec, &size), 0, "%s", avro_strerror());
    char *body = malloc(size ? size : 1);
    cr_assert_not_null(body);
    avro_writer_t writer = avro_writer_memory(body, (int64_t)size);
    cr_assert_eq(avro_value_write(writer, &o->rec), 0, "%s", avro_strerror());
    avro_writer_free(writer);
    mm_buf_t out;
    mm_buf_init(&out, 0);
    uint8_t header[MM_WIRE_HEADER_LEN] = {MM_WIRE_MAGIC, (uint8_t)(id >> 24), (uint8_t)(id >> 16),
                                          (uint8_t)(id >> 8), (uint8_t)id};
    put_bytes(&out, header, sizeof(header));
    put_bytes(&out, body, size);
    free(body);
    return out;
}

/* @p want written with the retired ModelDecision schema (id 3) by Avro C. */
static mm_buf_t old_decision_bytes(const mm_model_decision_t *want) {
    oracle_t o = oracle_new("ModelDecision.3.avsc");
    set_str(&o.rec, "partition_key", want->partition_key);
    set_str(&o.rec, "dataset", want->dataset);
    set_str(&o.rec, "spec_hash", want->spec_hash);
    avro_value_t decision = field(&o.rec, "decision");
    cr_assert_eq(avro_value_set_enum(&decision, (int)want->decision), 0, "%s", avro_strerror());
    set_str(&o.rec, "reason", want->reason);
    set_str(&o.rec, "candidate_train_id", want->candidate_train_id);
    set_int(&o.rec, "candidate_version", want->candidate_version);
    set_long(&o.rec, "decided_at_ms", want->decided_at_ms);
    avro_value_t production = field(&o.rec, "production"), p;
    cr_assert_eq(avro_value_set_branch(&production, want->has_production ? 1 : 0, &p), 0);
    if (want->has_production) {
        const mm_production_model_t *m = &want->production;
        set_str(&p, "train_id", m->train_id);
        set_int(&p, "version", m->version);
        set_str(&p, "algorithm", m->algorithm);
        set_str(&p, "artifact_uri", m->artifact_uri);
        set_str(&p, "artifact_sha256", m->artifact_sha256);
        set_long(&p, "artifact_size", m->artifact_size);
        set_long(&p, "data_end_ms", m->data_end_ms);
        set_long(&p, "n_rows", m->n_rows);
        set_opt_str(&p, "load_id", m->load_id);
    } else {
        cr_assert_eq(avro_value_set_null(&p), 0);
    }
    mm_buf_t out = oracle_frame(&o, DECISION_RETIRED_ID);
    oracle_free(&o);
    return out;
}

/* @p want written with the retired PredictionBatch schema (id 5) by Avro C. */
static mm_buf_t old_prediction_bytes(const mm_prediction_batch_t *want) {
    oracle_t o = oracle_new("PredictionBatch.5.avsc");
    set_str(&o.rec, "request_id", want->request_id);
    set_str(&o.rec, "partition_key", want->partition_key);
    set_str(&o.rec, "dataset", want->dataset);
    avro_value_t status = field(&o.rec, "status");
    cr_assert_eq(avro_value_set_enum(&status, (int)want->status), 0);
    set_opt_str(&o.rec, "message", want->message);
    set_opt_str(&o.rec, "train_id", want->train_id);
    set_int(&o.rec, "model_version", want->model_version);
    set_opt_str(&o.rec, "algorithm", want->algorithm);
    set_long(&o.rec, "data_watermark_ms", want->data_watermark_ms);
    set_opt_str(&o.rec, "load_id", want->load_id);
    avro_value_t level = field(&o.rec, "interval_level"), times = field(&o.rec, "time_ms"), item;
    cr_assert_eq(avro_value_set_double(&level, want->interval_level), 0);
    for (size_t i = 0; i < want->n; i++) {
        cr_assert_eq(avro_value_append(&times, &item, NULL), 0);
        cr_assert_eq(avro_value_set_long(&item, want->time_ms[i]), 0);
    }
    set_doubles(&o.rec, "value", want->value, want->n);
    set_doubles(&o.rec, "lower", want->lower, want->n);
    set_doubles(&o.rec, "upper", want->upper, want->n);
    set_long(&o.rec, "produced_at_ms", want->produced_at_ms);
    mm_buf_t out = oracle_frame(&o, PREDICTION_RETIRED_ID);
    oracle_free(&o);
    return out;
}

/* The fields PredictionBatch appended after id 5, at their schema defaults. */
static void prediction_defaults(mm_prediction_batch_t *p) {
    p->fallback = false;
    p->model_data_end_ms = -1;
    p->new_observations = 0;
    p->planned_steps = 0;
    p->carried_steps = 0;
    p->entity = NULL;
}

/* @p want (without entities) written with the retired ObservationBatch schema (id 1) by Avro C. */
static mm_buf_t old_observation_bytes(const mm_observation_batch_t *want) {
    oracle_t o = oracle_new("ObservationBatch.1.avsc");
    set_str(&o.rec, "dataset", want->dataset);
    set_str(&o.rec, "spec_hash", want->spec_hash);
    set_str(&o.rec, "partition_key", want->partition_key);
    set_str(&o.rec, "load_id", want->load_id);
    set_str(&o.rec, "source", want->source);
    set_int(&o.rec, "batch_seq", want->batch_seq);
    avro_value_t eol = field(&o.rec, "end_of_load"), item;
    cr_assert_eq(avro_value_set_boolean(&eol, want->end_of_load), 0);
    set_long(&o.rec, "load_rows_for_key", want->load_rows_for_key);
    set_int(&o.rec, "load_batches_for_key", want->load_batches_for_key);
    avro_value_t times = field(&o.rec, "time_ms"), lines = field(&o.rec, "line");
    for (size_t i = 0; i < want->n_rows; i++) {
        cr_assert_eq(avro_value_append(&times, &item, NULL), 0);
        cr_assert_eq(avro_value_set_long(&item, want->time_ms[i]), 0);
        cr_assert_eq(avro_value_append(&lines, &item, NULL), 0);
        cr_assert_eq(avro_value_set_long(&item, want->line[i]), 0);
    }
    set_doubles(&o.rec, "target", want->target, want->n_rows);
    avro_value_t columns = field(&o.rec, "columns"), column;
    for (size_t j = 0; j < want->n_columns; j++) {
        cr_assert_eq(avro_value_append(&columns, &column, NULL), 0);
        set_str(&column, "name", want->columns[j].name);
        set_doubles(&column, "values", want->columns[j].values, want->n_rows);
    }
    set_long(&o.rec, "produced_at_ms", want->produced_at_ms);
    mm_buf_t out = oracle_frame(&o, OBS_RETIRED_ID);
    oracle_free(&o);
    return out;
}

static void set_metrics(avro_value_t *rec, const char *name, const mm_metric_t *m, size_t n) {
    avro_value_t f = field(rec, name), item;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(avro_value_append(&f, &item, NULL), 0);
        set_str(&item, "name", m[i].name);
        avro_value_t value = field(&item, "value");
        cr_assert_eq(avro_value_set_double(&value, m[i].value), 0);
    }
}

/* @p want written with the retired ModelTrained schema (id 2) by Avro C. */
static mm_buf_t old_trained_bytes(const mm_model_trained_t *want) {
    oracle_t o = oracle_new("ModelTrained.2.avsc");
    set_str(&o.rec, "train_id", want->train_id);
    set_str(&o.rec, "dataset", want->dataset);
    set_str(&o.rec, "spec_hash", want->spec_hash);
    set_str(&o.rec, "partition_key", want->partition_key);
    set_str(&o.rec, "algorithm", want->algorithm);
    avro_value_t fallback = field(&o.rec, "fallback");
    cr_assert_eq(avro_value_set_boolean(&fallback, want->fallback), 0);
    set_opt_str(&o.rec, "fallback_reason", want->fallback_reason);
    set_str(&o.rec, "artifact_uri", want->artifact_uri);
    set_str(&o.rec, "artifact_sha256", want->artifact_sha256);
    set_long(&o.rec, "artifact_size", want->artifact_size);
    set_int(&o.rec, "artifact_format", want->artifact_format);
    set_metrics(&o.rec, "metrics", want->metrics, want->n_metrics);
    set_metrics(&o.rec, "baseline", want->baseline, want->n_baseline);
    set_long(&o.rec, "data_start_ms", want->data_start_ms);
    set_long(&o.rec, "data_end_ms", want->data_end_ms);
    set_long(&o.rec, "n_rows", want->n_rows);
    set_str(&o.rec, "data_digest", want->data_digest);
    set_opt_str(&o.rec, "load_id", want->load_id);
    set_long(&o.rec, "trained_at_ms", want->trained_at_ms);
    set_str(&o.rec, "trainer", want->trainer);
    mm_buf_t out = oracle_frame(&o, TRAINED_RETIRED_ID);
    oracle_free(&o);
    return out;
}

Test(avro_versions, old_model_trained_decodes_without_adjustments) {
    for (int optionals = 0; optionals <= 1; optionals++) {
        mm_model_trained_t want = sample_trained(optionals), got;
        mm_buf_t bytes = old_trained_bytes(&want);
        want.adjustments = NULL; /* the old schema has no field for them */
        cr_assert_eq(
            mm_avro_decode_model_trained(bytes.data, bytes.len, &got, errstr, sizeof(errstr)),
            MM_OK, "%s", errstr);
        assert_record_equal(MM_RECORD_MODEL_TRAINED, &got, &want);
        cr_assert_null(got.adjustments);
        mm_avro_clear(MM_RECORD_MODEL_TRAINED, &got);
        mm_buf_free(&bytes);
    }
}

Test(avro_versions, old_observation_batch_decodes_with_rows_without_entity) {
    mm_observation_batch_t want = sample_obs(), got;
    mm_buf_t bytes = old_observation_bytes(&want);
    want.n_entities = 0;
    want.entities = NULL;
    want.n_entity_of_row = 0;
    want.entity_of_row = NULL;
    cr_assert_eq(
        mm_avro_decode_observation_batch(bytes.data, bytes.len, &got, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    assert_record_equal(MM_RECORD_OBSERVATION_BATCH, &got, &want);
    cr_assert_eq(mm_observation_batch_entities_check(&got, errstr, sizeof(errstr)), MM_OK);
    cr_assert_str_eq(mm_observation_batch_entity(&got, 2), "");
    mm_avro_clear(MM_RECORD_OBSERVATION_BATCH, &got);
    mm_buf_free(&bytes);
}

Test(avro_versions, observation_batch_entities_are_checked_against_the_rows) {
    mm_observation_batch_t rec = sample_obs();
    cr_assert_eq(mm_observation_batch_entities_check(&rec, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_assert_str_eq(mm_observation_batch_entity(&rec, 1), "machine=2");
    cr_assert_str_eq(mm_observation_batch_entity(&rec, 3), "machine=1");
    int32_t bad[4] = {0, 1, 2, 0};
    rec.entity_of_row = bad;
    cr_assert_eq(mm_observation_batch_entities_check(&rec, errstr, sizeof(errstr)), MM_ERR_PARSE);
    cr_assert_str_eq(errstr, "ObservationBatch.entity_of_row[2]: index 2 outside entities (2)");
    rec.n_entity_of_row = 3;
    cr_assert_eq(mm_observation_batch_entities_check(&rec, errstr, sizeof(errstr)), MM_ERR_PARSE);
    cr_assert_str_eq(errstr,
                     "ObservationBatch.entity_of_row: 3 items, expected 0 or len(time_ms) 4");
    const char *empty[2] = {"machine=1", ""};
    int32_t good[4] = {0, 0, 0, 0};
    rec.n_entity_of_row = 4;
    rec.entity_of_row = good;
    rec.entities = empty;
    cr_assert_eq(mm_observation_batch_entities_check(&rec, errstr, sizeof(errstr)), MM_ERR_PARSE);
    cr_assert_str_eq(errstr, "ObservationBatch.entities[1]: an entity may not be empty");
}

/* --------------------------------------------------------------- reading */

Test(avro_versions, retired_ids_are_known_as_their_record_type) {
    uint8_t decision[MM_WIRE_HEADER_LEN] = {0, 0, 0, 0, DECISION_RETIRED_ID};
    uint8_t prediction[MM_WIRE_HEADER_LEN] = {0, 0, 0, 0, PREDICTION_RETIRED_ID};
    mm_record_type_t type = MM_RECORD__COUNT;
    int32_t id = 0;
    cr_assert_eq(mm_avro_peek(decision, sizeof(decision), &type, &id, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(type, MM_RECORD_MODEL_DECISION);
    cr_assert_eq(id, DECISION_RETIRED_ID);
    cr_assert_eq(mm_avro_peek(prediction, sizeof(prediction), &type, &id, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(type, MM_RECORD_PREDICTION_BATCH);
    cr_assert_eq(id, PREDICTION_RETIRED_ID);
}

Test(avro_versions, old_model_decisions_decode_with_every_old_kind) {
    mm_decision_kind_t kinds[] = {MM_DECISION_APPROVED, MM_DECISION_REJECTED,
                                  MM_DECISION_ROLLED_BACK, MM_DECISION_PROMOTED};
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        for (int production = 0; production <= 1; production++) {
            mm_model_decision_t want = sample_decision(kinds[k], production, production), got;
            mm_buf_t bytes = old_decision_bytes(&want);
            cr_assert_eq(
                mm_avro_decode_model_decision(bytes.data, bytes.len, &got, errstr, sizeof(errstr)),
                MM_OK, "kind %d: %s", (int)kinds[k], errstr);
            assert_record_equal(MM_RECORD_MODEL_DECISION, &got, &want);
            mm_avro_clear(MM_RECORD_MODEL_DECISION, &got);
            mm_buf_free(&bytes);
        }
    }
}

Test(avro_versions, old_prediction_batch_decodes_with_appended_fields_at_their_defaults) {
    for (int optionals = 0; optionals <= 1; optionals++) {
        mm_prediction_batch_t want = sample_prediction(optionals), got;
        /* Set, to show the old bytes cannot carry them: the reader fills defaults. */
        want.fallback = true;
        want.model_data_end_ms = 1700000000000;
        want.new_observations = 3;
        mm_buf_t bytes = old_prediction_bytes(&want);
        prediction_defaults(&want);
        cr_assert_eq(
            mm_avro_decode_prediction_batch(bytes.data, bytes.len, &got, errstr, sizeof(errstr)),
            MM_OK, "%s", errstr);
        assert_record_equal(MM_RECORD_PREDICTION_BATCH, &got, &want);
        cr_assert_eq(got.model_data_end_ms, -1);
        mm_avro_clear(MM_RECORD_PREDICTION_BATCH, &got);
        mm_buf_free(&bytes);
    }
}

Test(avro_versions, old_prediction_batch_renders_as_json_with_defaults) {
    mm_prediction_batch_t want = sample_prediction(true);
    mm_buf_t bytes = old_prediction_bytes(&want);
    char *json = mm_avro_to_json(bytes.data, bytes.len, errstr, sizeof(errstr));
    cr_assert_not_null(json, "%s", errstr);
    cr_assert(strstr(json, "\"model_data_end_ms\": -1") || strstr(json, "\"model_data_end_ms\":-1"),
              "%s", json);
    free(json);
    mm_buf_free(&bytes);
}

Test(avro_versions, truncation_of_old_bytes_is_an_error_at_every_byte) {
    mm_prediction_batch_t want = sample_prediction(true), got;
    mm_buf_t bytes = old_prediction_bytes(&want);
    for (size_t len = 0; len < bytes.len; len++) {
        mm_err_t err =
            mm_avro_decode_prediction_batch(bytes.data, len, &got, errstr, sizeof(errstr));
        cr_assert_neq(err, MM_OK, "%zu of %zu bytes decoded", len, bytes.len);
        cr_assert(all_zero(&got, sizeof(got)), "record not cleared after failing at %zu", len);
    }
    mm_buf_free(&bytes);
}

Test(avro_versions, old_bytes_with_trailing_fields_of_the_new_version_are_rejected) {
    /* A writer that used id 5 wrote 16 fields: more bytes after them are not a record. */
    mm_prediction_batch_t want = sample_prediction(true), got;
    mm_buf_t bytes = old_prediction_bytes(&want);
    put_byte(&bytes, 0); /* fallback = false, as the current writer would add */
    cr_assert_eq(
        mm_avro_decode_prediction_batch(bytes.data, bytes.len, &got, errstr, sizeof(errstr)),
        MM_ERR_PARSE);
    cr_assert(strstr(errstr, "1 trailing bytes after the record"), "%s", errstr);
    mm_buf_free(&bytes);
}

Test(avro_versions, an_old_id_of_another_record_type_is_refused_naming_both) {
    mm_model_decision_t want = sample_decision(MM_DECISION_APPROVED, true, true);
    mm_buf_t bytes = old_decision_bytes(&want);
    mm_prediction_batch_t got;
    cr_assert_eq(
        mm_avro_decode_prediction_batch(bytes.data, bytes.len, &got, errstr, sizeof(errstr)),
        MM_ERR_SCHEMA);
    cr_assert_str_eq(
        errstr, "schema id 3 is manymodels.ModelDecision, expected manymodels.PredictionBatch");
    mm_buf_free(&bytes);
}

Test(avro_versions, an_id_neither_current_nor_retired_is_refused) {
    int32_t unknown[] = {12, 0, 100, -1};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        mm_model_decision_t want = sample_decision(MM_DECISION_APPROVED, false, false), got;
        mm_buf_t bytes;
        ENCODE(mm_avro_encode_model_decision, &want, &bytes);
        uint32_t id = (uint32_t)unknown[i];
        for (int k = 0; k < 4; k++) bytes.data[1 + k] = (uint8_t)(id >> (24 - 8 * k));
        cr_assert_eq(
            mm_avro_decode_model_decision(bytes.data, bytes.len, &got, errstr, sizeof(errstr)),
            MM_ERR_SCHEMA);
        char expect[64];
        snprintf(expect, sizeof(expect), "unknown schema id %d", (int)unknown[i]);
        cr_assert_str_eq(errstr, expect);
        mm_buf_free(&bytes);
    }
}

/* --------------------------------------------------------------- writing */

Test(avro_versions, writers_use_the_current_ids_and_round_trip) {
    mm_model_trained_t trained = sample_trained(true), got_t;
    mm_buf_t t;
    ENCODE(mm_avro_encode_model_trained, &trained, &t);
    uint8_t want_t[MM_WIRE_HEADER_LEN] = {0, 0, 0, 0, TRAINED_CURRENT_ID};
    cr_assert_arr_eq(t.data, want_t, sizeof(want_t));
    cr_assert_eq(mm_avro_decode_model_trained(t.data, t.len, &got_t, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    assert_record_equal(MM_RECORD_MODEL_TRAINED, &got_t, &trained);
    cr_assert_str_eq(got_t.adjustments, trained.adjustments);
    mm_avro_clear(MM_RECORD_MODEL_TRAINED, &got_t);
    mm_buf_free(&t);

    mm_model_decision_t decision = sample_decision(MM_DECISION_FALLBACK, true, true), got_d;
    mm_prediction_batch_t prediction = sample_prediction(true), got_p;
    prediction.fallback = true;
    prediction.model_data_end_ms = 1699000000000;
    prediction.planned_steps = 2;
    mm_buf_t d, p;
    ENCODE(mm_avro_encode_model_decision, &decision, &d);
    ENCODE(mm_avro_encode_prediction_batch, &prediction, &p);
    uint8_t want_d[MM_WIRE_HEADER_LEN] = {0, 0, 0, 0, DECISION_CURRENT_ID};
    uint8_t want_p[MM_WIRE_HEADER_LEN] = {0, 0, 0, 0, PREDICTION_CURRENT_ID};
    cr_assert_arr_eq(d.data, want_d, sizeof(want_d));
    cr_assert_arr_eq(p.data, want_p, sizeof(want_p));
    cr_assert_eq(mm_avro_decode_model_decision(d.data, d.len, &got_d, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_avro_decode_prediction_batch(p.data, p.len, &got_p, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    assert_record_equal(MM_RECORD_MODEL_DECISION, &got_d, &decision);
    assert_record_equal(MM_RECORD_PREDICTION_BATCH, &got_p, &prediction);
    mm_avro_clear(MM_RECORD_MODEL_DECISION, &got_d);
    mm_avro_clear(MM_RECORD_PREDICTION_BATCH, &got_p);
    mm_buf_free(&d);
    mm_buf_free(&p);
}

/* ------------------------------------------------------ the start-up check */

/* The committed retired schema @p file with the one occurrence of @p from replaced by @p to. */
static char *altered_retired(const char *file, const char *from, const char *to) {
    char *json = retired_schema(file);
    const char *at = strstr(json, from);
    cr_assert_not_null(at, "\"%s\" is not in %s", from, file);
    cr_assert_null(strstr(at + 1, from), "\"%s\" occurs twice in %s", from, file);
    size_t head = (size_t)(at - json), n = strlen(json) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    cr_assert_not_null(out);
    memcpy(out, json, head);
    memcpy(out + head, to, strlen(to));
    memcpy(out + head + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
    free(json);
    return out;
}

static void assert_not_prefix(mm_record_type_t type, int32_t id, const char *file, const char *from,
                              const char *to, const char *want) {
    char *schema = altered_retired(file, from, to);
    errstr[0] = 0;
    mm_err_t err = mm_avro_check_retired_schema(type, id, schema, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_ERR_SCHEMA, "\"%s\" -> \"%s\" accepted: %s (%s)", from, to,
                 mm_err_name(err), errstr);
    cr_assert(strstr(errstr, want), "reason \"%s\" lacks \"%s\"", errstr, want);
    free(schema);
}

Test(avro_versions, the_committed_retired_schemas_pass_the_check) {
    char *decision = retired_schema("ModelDecision.3.avsc");
    char *prediction = retired_schema("PredictionBatch.5.avsc");
    char *trained = retired_schema("ModelTrained.2.avsc");
    cr_assert_eq(mm_avro_check_retired_schema(MM_RECORD_MODEL_DECISION, DECISION_RETIRED_ID,
                                              decision, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_avro_check_retired_schema(MM_RECORD_MODEL_TRAINED, TRAINED_RETIRED_ID, trained,
                                              errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    free(trained);
    cr_assert_eq(mm_avro_check_retired_schema(MM_RECORD_PREDICTION_BATCH, PREDICTION_RETIRED_ID,
                                              prediction, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    free(decision);
    free(prediction);
}

Test(avro_versions, a_retired_schema_with_a_retyped_field_fails_the_check) {
    assert_not_prefix(MM_RECORD_MODEL_DECISION, DECISION_RETIRED_ID, "ModelDecision.3.avsc",
                      "{\"name\": \"candidate_version\", \"type\": \"int\"",
                      "{\"name\": \"candidate_version\", \"type\": \"long\"",
                      "retired schema id 3 of ModelDecision is not a prefix of the current one: "
                      "ModelDecision.candidate_version: the current schema says int, the retired "
                      "one long");
}

Test(avro_versions, a_retired_schema_with_reordered_enum_symbols_fails_the_check) {
    assert_not_prefix(MM_RECORD_MODEL_DECISION, DECISION_RETIRED_ID, "ModelDecision.3.avsc",
                      "[\"approved\", \"rejected\",", "[\"rejected\", \"approved\",",
                      "retired schema id 3 of ModelDecision is not a prefix of the current one: "
                      "ModelDecision.decision: enum symbol 0 is \"approved\" in the current "
                      "schema, \"rejected\" in the retired one");
}

Test(avro_versions, a_retired_schema_with_an_enum_symbol_the_current_lacks_fails_the_check) {
    assert_not_prefix(MM_RECORD_PREDICTION_BATCH, PREDICTION_RETIRED_ID, "PredictionBatch.5.avsc",
                      "[\"ok\", \"no_model\", \"error\"]",
                      "[\"ok\", \"no_model\", \"error\", \"stale\"]",
                      "retired schema id 5 of PredictionBatch is not a prefix of the current one: "
                      "PredictionBatch.status: the current schema has 3 enum symbols, the retired "
                      "one 4");
}

Test(avro_versions, a_retired_schema_missing_a_middle_field_fails_the_check) {
    assert_not_prefix(MM_RECORD_MODEL_DECISION, DECISION_RETIRED_ID, "ModelDecision.3.avsc",
                      "\"name\": \"reason\"", "\"name\": \"why\"",
                      "ModelDecision: field 4 is \"reason\" in the current schema, \"why\" in the "
                      "retired one");
}

Test(avro_versions, a_retired_schema_with_a_changed_nested_record_fails_the_check) {
    /* Only the top level may end early: a nested record must be whole. */
    assert_not_prefix(MM_RECORD_MODEL_DECISION, DECISION_RETIRED_ID, "ModelDecision.3.avsc",
                      ",\n        {\"name\": \"load_id\", \"type\": [\"null\", \"string\"], "
                      "\"default\": null, \"doc\": \"The load that produced the training "
                      "data.\"}",
                      "",
                      "retired schema id 3 of ModelDecision is not a prefix of the current one: "
                      "ModelDecision.production: field 8 \"load_id\" of the current schema is "
                      "missing from the retired one");
}

Test(avro_versions, a_retired_schema_longer_than_the_current_fails_the_check) {
    assert_not_prefix(
        MM_RECORD_PREDICTION_BATCH, PREDICTION_RETIRED_ID, "PredictionBatch.5.avsc",
        "\"doc\": \"When the predictions were made.\"}",
        "\"doc\": \"When the predictions were made.\"}, {\"name\": \"fallback\", \"type\": "
        "\"boolean\"}, {\"name\": \"model_data_end_ms\", \"type\": \"long\"}, {\"name\": "
        "\"new_observations\", \"type\": \"int\"}, {\"name\": \"planned_steps\", \"type\": "
        "\"int\"}, {\"name\": \"carried_steps\", \"type\": \"int\"}, {\"name\": \"entity\", "
        "\"type\": [\"null\", \"string\"]}, {\"name\": \"extra\", \"type\": \"int\"}",
        "PredictionBatch: retired field 22 \"extra\" is not in the current schema");
}

Test(avro_versions, a_retired_schema_of_another_record_fails_the_check) {
    char *prediction = retired_schema("PredictionBatch.5.avsc");
    cr_assert_eq(mm_avro_check_retired_schema(MM_RECORD_MODEL_DECISION, DECISION_RETIRED_ID,
                                              prediction, errstr, sizeof(errstr)),
                 MM_ERR_SCHEMA);
    cr_assert(strstr(errstr, "retired schema id 3 of ModelDecision"), "%s", errstr);
    free(prediction);
}
