/*
 * test_avro.c - tests of common/src/avro.c and records.c: round trips of the
 * six record types, the wire format pinned by golden bytes, and rejection of
 * malformed payloads (truncations, bad varints, lying lengths and counts,
 * out-of-range indices, framing errors) without crashes or leaks.
 *
 * Malformed bodies are built by hand with the small Avro writer below, which
 * follows the Avro specification independently of avro.c.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <criterion/criterion.h>
#include <jansson.h>

#include "mm/avro.h"
#include "mm/buf.h"
#include "mm/records.h"

#ifndef MM_FIXTURES_DIR
#error "MM_FIXTURES_DIR must point at tests/fixtures"
#endif
#define AVRO_FIXTURES MM_FIXTURES_DIR "/avro"

static char errstr[512];

static void suite_init(void) {
    cr_assert_eq(mm_avro_init(errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

TestSuite(avro, .init = suite_init);

/* ------------------------------------------------------- comparison helpers */

static bool str_same(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

/* NaN equals NaN; -0.0 differs from 0.0: the wire must carry the exact double. */
static bool dbl_same(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

static void assert_str(const char *field, const char *got, const char *want) {
    cr_assert(str_same(got, want), "%s: got %s%s%s, want %s%s%s", field, got ? "\"" : "",
              got ? got : "NULL", got ? "\"" : "", want ? "\"" : "", want ? want : "NULL",
              want ? "\"" : "");
}

static void assert_doubles(const char *field, const double *got, const double *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        cr_assert(dbl_same(got[i], want[i]), "%s[%zu]: got %.17g, want %.17g", field, i, got[i],
                  want[i]);
}

static void assert_longs(const char *field, const int64_t *got, const int64_t *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "%s[%zu]: got %lld, want %lld", field, i, (long long)got[i],
                     (long long)want[i]);
}

static bool all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

/* --------------------------------------------- an independent Avro writer */

static void put_bytes(mm_buf_t *b, const void *p, size_t n) {
    cr_assert_eq(mm_buf_append(b, p, n), MM_OK);
}

static void put_byte(mm_buf_t *b, uint8_t x) {
    put_bytes(b, &x, 1);
}

/* Zig-zag varint, as the Avro specification defines int and long. */
static void put_long(mm_buf_t *b, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        put_byte(b, (uint8_t)(z | 0x80));
        z >>= 7;
    }
    put_byte(b, (uint8_t)z);
}

static void put_str(mm_buf_t *b, const char *s) {
    put_long(b, (int64_t)strlen(s));
    put_bytes(b, s, strlen(s));
}

static void put_double(mm_buf_t *b, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    for (int i = 0; i < 8; i++) put_byte(b, (uint8_t)(bits >> (8 * i)));
}

static void put_header(mm_buf_t *b, mm_record_type_t type) {
    uint32_t id = (uint32_t)mm_avro_schema_id(type);
    uint8_t h[5] = {0, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    put_bytes(b, h, sizeof(h));
}

/*
 * ObservationBatch up to and excluding time_ms: five one-letter strings
 * (10 bytes) and four one-byte scalars, so time_ms starts at payload offset 19.
 */
#define OBS_TIME_OFFSET 19
static void put_obs_prefix(mm_buf_t *b) {
    put_header(b, MM_RECORD_OBSERVATION_BATCH);
    put_str(b, "d");
    put_str(b, "h");
    put_str(b, "k");
    put_str(b, "l");
    put_str(b, "s");
    put_long(b, 0);  /* batch_seq */
    put_byte(b, 0);  /* end_of_load */
    put_long(b, -1); /* load_rows_for_key */
    put_long(b, -1); /* load_batches_for_key */
}

/* DeadLetter up to and excluding the partition_key union (payload offset 11). */
#define DL_PARTITION_KEY_OFFSET 11
static void put_dl_prefix(mm_buf_t *b) {
    put_header(b, MM_RECORD_DEAD_LETTER);
    put_str(b, "s");
    put_str(b, "e");
    put_str(b, "r");
}

/* Expect @p payload to be rejected as a dead letter with @p code and a reason containing @p want.
 */
static void assert_dl_rejected(const mm_buf_t *payload, mm_err_t code, const char *want) {
    mm_dead_letter_t rec = {0};
    errstr[0] = 0;
    mm_err_t err =
        mm_avro_decode_dead_letter(payload->data, payload->len, &rec, errstr, sizeof(errstr));
    cr_assert_eq(err, code, "got %s (%s), want %s", mm_err_name(err), errstr, mm_err_name(code));
    cr_assert(strstr(errstr, want), "reason \"%s\" lacks \"%s\"", errstr, want);
    cr_assert(all_zero(&rec, sizeof(rec)), "record not cleared after failure");
}

static void assert_obs_rejected(const mm_buf_t *payload, mm_err_t code, const char *want) {
    mm_observation_batch_t rec = {0};
    errstr[0] = 0;
    mm_err_t err =
        mm_avro_decode_observation_batch(payload->data, payload->len, &rec, errstr, sizeof(errstr));
    cr_assert_eq(err, code, "got %s (%s), want %s", mm_err_name(err), errstr, mm_err_name(code));
    cr_assert(strstr(errstr, want), "reason \"%s\" lacks \"%s\"", errstr, want);
    cr_assert(all_zero(&rec, sizeof(rec)), "record not cleared after failure");
}

/* ------------------------------------------------------------ sample records */

static int64_t obs_time[4] = {1700000000000, 1700086400000, INT64_MIN, INT64_MAX};
static double obs_target[4] = {1.5, NAN, -0.0, 1e308};
static int64_t obs_line[4] = {2, 3, 4, 5000000};
static double obs_price[4] = {9.99, 10.49, NAN, -INFINITY};
static double obs_promo[4] = {0, 1, 0, 1};
static mm_obs_column_t obs_columns[2] = {{"price", obs_price}, {"promo", obs_promo}};

static mm_observation_batch_t sample_obs(void) {
    return (mm_observation_batch_t){
        .dataset = "retail",
        .spec_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        .partition_key = "store=12/item=345",
        .load_id = "load-2024-01-01",
        .source = "data/sales \xc3\xa9t\xc3\xa9.csv", /* UTF-8 survives */
        .batch_seq = 3,
        .end_of_load = true,
        .load_rows_for_key = 4000,
        .load_batches_for_key = 4,
        .n_rows = 4,
        .time_ms = obs_time,
        .target = obs_target,
        .line = obs_line,
        .n_columns = 2,
        .columns = obs_columns,
        .produced_at_ms = 1700000000123,
    };
}

static void assert_obs_equal(const mm_observation_batch_t *got,
                             const mm_observation_batch_t *want) {
    assert_str("dataset", got->dataset, want->dataset);
    assert_str("spec_hash", got->spec_hash, want->spec_hash);
    assert_str("partition_key", got->partition_key, want->partition_key);
    assert_str("load_id", got->load_id, want->load_id);
    assert_str("source", got->source, want->source);
    cr_assert_eq(got->batch_seq, want->batch_seq);
    cr_assert_eq(got->end_of_load, want->end_of_load);
    cr_assert_eq(got->load_rows_for_key, want->load_rows_for_key);
    cr_assert_eq(got->load_batches_for_key, want->load_batches_for_key);
    cr_assert_eq(got->n_rows, want->n_rows);
    assert_longs("time_ms", got->time_ms, want->time_ms, want->n_rows);
    assert_doubles("target", got->target, want->target, want->n_rows);
    assert_longs("line", got->line, want->line, want->n_rows);
    cr_assert_eq(got->n_columns, want->n_columns);
    for (size_t i = 0; i < want->n_columns; i++) {
        assert_str("columns.name", got->columns[i].name, want->columns[i].name);
        assert_doubles("columns.values", got->columns[i].values, want->columns[i].values,
                       want->n_rows);
    }
    cr_assert_eq(got->produced_at_ms, want->produced_at_ms);
}

static mm_metric_t trained_metrics[3] = {{"rmse", 1.25}, {"mase", 0.8}, {"smape", NAN}};
static mm_metric_t trained_baseline[1] = {{"rmse", 2.5}};

static mm_model_trained_t sample_trained(bool optionals) {
    return (mm_model_trained_t){
        .train_id = "a1b2",
        .dataset = "retail",
        .spec_hash = "c3d4",
        .partition_key = "store=1/item=2",
        .algorithm = optionals ? "snaive" : "ets",
        .fallback = optionals,
        .fallback_reason = optionals ? "only 3 observations" : NULL,
        .artifact_uri = "candidates/retail/store=1/item=2/a1b2.mmm",
        .artifact_sha256 = "e5f6",
        .artifact_size = 4096,
        .artifact_format = 1,
        .n_metrics = optionals ? 3 : 0,
        .metrics = optionals ? trained_metrics : NULL,
        .n_baseline = optionals ? 1 : 0,
        .baseline = optionals ? trained_baseline : NULL,
        .data_start_ms = 1600000000000,
        .data_end_ms = 1700000000000,
        .n_rows = 1000,
        .data_digest = "7788",
        .load_id = optionals ? "load-7" : NULL,
        .trained_at_ms = 1700000001000,
        .trainer = "trainer-0",
    };
}

static void assert_metrics(const char *field, const mm_metric_t *got, size_t n_got,
                           const mm_metric_t *want, size_t n_want) {
    cr_assert_eq(n_got, n_want, "%s: %zu metrics, want %zu", field, n_got, n_want);
    for (size_t i = 0; i < n_want; i++) {
        assert_str(field, got[i].name, want[i].name);
        cr_assert(dbl_same(got[i].value, want[i].value), "%s[%zu].value", field, i);
    }
}

static void assert_trained_equal(const mm_model_trained_t *got, const mm_model_trained_t *want) {
    assert_str("train_id", got->train_id, want->train_id);
    assert_str("dataset", got->dataset, want->dataset);
    assert_str("spec_hash", got->spec_hash, want->spec_hash);
    assert_str("partition_key", got->partition_key, want->partition_key);
    assert_str("algorithm", got->algorithm, want->algorithm);
    cr_assert_eq(got->fallback, want->fallback);
    assert_str("fallback_reason", got->fallback_reason, want->fallback_reason);
    assert_str("artifact_uri", got->artifact_uri, want->artifact_uri);
    assert_str("artifact_sha256", got->artifact_sha256, want->artifact_sha256);
    cr_assert_eq(got->artifact_size, want->artifact_size);
    cr_assert_eq(got->artifact_format, want->artifact_format);
    assert_metrics("metrics", got->metrics, got->n_metrics, want->metrics, want->n_metrics);
    assert_metrics("baseline", got->baseline, got->n_baseline, want->baseline, want->n_baseline);
    cr_assert_eq(got->data_start_ms, want->data_start_ms);
    cr_assert_eq(got->data_end_ms, want->data_end_ms);
    cr_assert_eq(got->n_rows, want->n_rows);
    assert_str("data_digest", got->data_digest, want->data_digest);
    assert_str("load_id", got->load_id, want->load_id);
    cr_assert_eq(got->trained_at_ms, want->trained_at_ms);
    assert_str("trainer", got->trainer, want->trainer);
}

static mm_model_decision_t sample_decision(mm_decision_kind_t kind, bool production,
                                           bool optionals) {
    return (mm_model_decision_t){
        .partition_key = "store=1/item=2",
        .dataset = "retail",
        .spec_hash = "c3d4",
        .decision = kind,
        .reason = "mase 0.80 < 1.00 and beats champion by 12%",
        .candidate_train_id = "a1b2",
        .candidate_version = 7,
        .decided_at_ms = 1700000002000,
        .has_production = production,
        .production = production ? (mm_production_model_t){
            .train_id = "a1b2",
            .version = 7,
            .algorithm = "ets",
            .artifact_uri = "production/retail/store=1/item=2/a1b2.mmm",
            .artifact_sha256 = "e5f6",
            .artifact_size = 4096,
            .data_end_ms = 1700000000000,
            .n_rows = 1000,
            .load_id = optionals ? "load-7" : NULL,
        } : (mm_production_model_t){0},
    };
}

static void assert_decision_equal(const mm_model_decision_t *got, const mm_model_decision_t *want) {
    assert_str("partition_key", got->partition_key, want->partition_key);
    assert_str("dataset", got->dataset, want->dataset);
    assert_str("spec_hash", got->spec_hash, want->spec_hash);
    cr_assert_eq(got->decision, want->decision);
    assert_str("reason", got->reason, want->reason);
    assert_str("candidate_train_id", got->candidate_train_id, want->candidate_train_id);
    cr_assert_eq(got->candidate_version, want->candidate_version);
    cr_assert_eq(got->decided_at_ms, want->decided_at_ms);
    cr_assert_eq(got->has_production, want->has_production);
    const mm_production_model_t *g = &got->production, *w = &want->production;
    assert_str("production.train_id", g->train_id, w->train_id);
    cr_assert_eq(g->version, w->version);
    assert_str("production.algorithm", g->algorithm, w->algorithm);
    assert_str("production.artifact_uri", g->artifact_uri, w->artifact_uri);
    assert_str("production.artifact_sha256", g->artifact_sha256, w->artifact_sha256);
    cr_assert_eq(g->artifact_size, w->artifact_size);
    cr_assert_eq(g->data_end_ms, w->data_end_ms);
    cr_assert_eq(g->n_rows, w->n_rows);
    assert_str("production.load_id", g->load_id, w->load_id);
}

static const char *score_features[2] = {"price", "promo"};
static int64_t score_time[3] = {1700000000000, 1700086400000, 1700172800000};
static double score_values[6] = {9.99, 0, NAN, 1, 10.5, 0};

static mm_score_request_t sample_score(bool optionals) {
    return (mm_score_request_t){
        .request_id = "req-1",
        .partition_key = "store=1/item=2",
        .dataset = optionals ? "retail" : NULL,
        .horizon = optionals ? 3 : 0,
        .n_features = 2,
        .feature_names = score_features,
        .n_rows = 3,
        .time_ms = score_time,
        .values = score_values,
        .requested_at_ms = 1700000003000,
    };
}

static void assert_score_equal(const mm_score_request_t *got, const mm_score_request_t *want) {
    assert_str("request_id", got->request_id, want->request_id);
    assert_str("partition_key", got->partition_key, want->partition_key);
    assert_str("dataset", got->dataset, want->dataset);
    cr_assert_eq(got->horizon, want->horizon);
    cr_assert_eq(got->n_features, want->n_features);
    for (size_t i = 0; i < want->n_features; i++)
        assert_str("feature_names", got->feature_names[i], want->feature_names[i]);
    cr_assert_eq(got->n_rows, want->n_rows);
    assert_longs("time_ms", got->time_ms, want->time_ms, want->n_rows);
    assert_doubles("values", got->values, want->values, want->n_rows * want->n_features);
    cr_assert_eq(got->requested_at_ms, want->requested_at_ms);
}

static int64_t pred_time[2] = {1700086400000, 1700172800000};
static double pred_value[2] = {12.5, 13.25};
static double pred_lower[2] = {10.0, NAN};
static double pred_upper[2] = {15.0, NAN};

static mm_prediction_batch_t sample_prediction(bool optionals) {
    return (mm_prediction_batch_t){
        .request_id = "req-1",
        .partition_key = "store=1/item=2",
        .dataset = "retail",
        .status = optionals ? MM_PREDICTION_OK : MM_PREDICTION_NO_MODEL,
        .message = optionals ? "served from cache" : NULL,
        .train_id = optionals ? "a1b2" : NULL,
        .model_version = optionals ? 7 : 0,
        .algorithm = optionals ? "ets" : NULL,
        .data_watermark_ms = optionals ? 1700000000000 : 0,
        .load_id = optionals ? "load-7" : NULL,
        .interval_level = 0.95,
        .n = optionals ? 2 : 0,
        .time_ms = optionals ? pred_time : NULL,
        .value = optionals ? pred_value : NULL,
        .lower = optionals ? pred_lower : NULL,
        .upper = optionals ? pred_upper : NULL,
        .produced_at_ms = 1700000004000,
    };
}

static void assert_prediction_equal(const mm_prediction_batch_t *got,
                                    const mm_prediction_batch_t *want) {
    assert_str("request_id", got->request_id, want->request_id);
    assert_str("partition_key", got->partition_key, want->partition_key);
    assert_str("dataset", got->dataset, want->dataset);
    cr_assert_eq(got->status, want->status);
    assert_str("message", got->message, want->message);
    assert_str("train_id", got->train_id, want->train_id);
    cr_assert_eq(got->model_version, want->model_version);
    assert_str("algorithm", got->algorithm, want->algorithm);
    cr_assert_eq(got->data_watermark_ms, want->data_watermark_ms);
    assert_str("load_id", got->load_id, want->load_id);
    cr_assert(dbl_same(got->interval_level, want->interval_level));
    cr_assert_eq(got->n, want->n);
    assert_longs("time_ms", got->time_ms, want->time_ms, want->n);
    assert_doubles("value", got->value, want->value, want->n);
    assert_doubles("lower", got->lower, want->lower, want->n);
    assert_doubles("upper", got->upper, want->upper, want->n);
    cr_assert_eq(got->produced_at_ms, want->produced_at_ms);
}

static uint8_t dl_original[] = {'a', ',', 0, 0xff, '\n'};

static mm_dead_letter_t sample_dead_letter(bool optionals) {
    return (mm_dead_letter_t){
        .service = "mm-ingest",
        .error_code = "MM_ERR_PARSE",
        .reason = "line 7: column 3 \"qty\": not a number",
        .partition_key = optionals ? "store=1/item=2" : NULL,
        .source_topic = optionals ? "mm.observations" : NULL,
        .source_partition = optionals ? 5 : -1,
        .source_offset = optionals ? 123456789012 : -1,
        .source_file = optionals ? "data/sales.csv" : NULL,
        .source_line = optionals ? 7 : -1,
        .original = optionals ? dl_original : NULL,
        .original_len = optionals ? sizeof(dl_original) : 0,
        .failed_at_ms = 1700000005000,
    };
}

static void assert_dead_letter_equal(const mm_dead_letter_t *got, const mm_dead_letter_t *want) {
    assert_str("service", got->service, want->service);
    assert_str("error_code", got->error_code, want->error_code);
    assert_str("reason", got->reason, want->reason);
    assert_str("partition_key", got->partition_key, want->partition_key);
    assert_str("source_topic", got->source_topic, want->source_topic);
    cr_assert_eq(got->source_partition, want->source_partition);
    cr_assert_eq(got->source_offset, want->source_offset);
    assert_str("source_file", got->source_file, want->source_file);
    cr_assert_eq(got->source_line, want->source_line);
    cr_assert_eq(got->original == NULL, want->original == NULL, "original presence differs");
    cr_assert_eq(got->original_len, want->original_len);
    if (want->original_len)
        cr_assert(memcmp(got->original, want->original, want->original_len) == 0);
    cr_assert_eq(got->failed_at_ms, want->failed_at_ms);
}

/* Encode one record into a fresh buffer (asserting success). */
#define ENCODE(fn, rec, buf)                                                                       \
    do {                                                                                           \
        mm_buf_init((buf), 0);                                                                     \
        mm_err_t enc_err_ = fn((rec), (buf), errstr, sizeof(errstr));                              \
        cr_assert_eq(enc_err_, MM_OK, #fn ": %s", errstr);                                         \
    } while (0)

/* ------------------------------------------------------------ catalog */

Test(avro, catalog_ids_are_the_committed_ones) {
    /* Changing an id changes the bytes on the wire: ids are stable and never reused. */
    cr_assert_eq(mm_avro_schema_id(MM_RECORD_OBSERVATION_BATCH), 1);
    cr_assert_eq(mm_avro_schema_id(MM_RECORD_MODEL_TRAINED), 2);
    cr_assert_eq(mm_avro_schema_id(MM_RECORD_MODEL_DECISION), 3);
    cr_assert_eq(mm_avro_schema_id(MM_RECORD_SCORE_REQUEST), 4);
    cr_assert_eq(mm_avro_schema_id(MM_RECORD_PREDICTION_BATCH), 5);
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
    cr_assert_str_eq(mm_decision_kind_name((mm_decision_kind_t)42), "unknown");
    cr_assert_str_eq(mm_prediction_status_name(MM_PREDICTION_OK), "ok");
    cr_assert_str_eq(mm_prediction_status_name(MM_PREDICTION_NO_MODEL), "no_model");
    cr_assert_str_eq(mm_prediction_status_name(MM_PREDICTION_ERROR), "error");
    cr_assert_str_eq(mm_prediction_status_name((mm_prediction_status_t)-1), "unknown");
    const char *decision = mm_avro_schema_json(MM_RECORD_MODEL_DECISION);
    cr_assert(strstr(decision, "[\"approved\", \"rejected\", \"rolled_back\", \"promoted\"]"));
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
    cr_assert_eq(id, 1);
    cr_assert_eq(mm_avro_decode_observation_batch(buf.data, buf.len, &got, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    assert_obs_equal(&got, &want);
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
    want.end_of_load = false;
    want.load_rows_for_key = -1;
    want.load_batches_for_key = -1;
    mm_buf_t buf;
    ENCODE(mm_avro_encode_observation_batch, &want, &buf);
    cr_assert_eq(mm_avro_decode_observation_batch(buf.data, buf.len, &got, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    assert_obs_equal(&got, &want);
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
        assert_trained_equal(&got, &want);
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
            assert_decision_equal(&got, &want);
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
        assert_score_equal(&got, &want);
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
    assert_score_equal(&got, &want);
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
        assert_prediction_equal(&got, &want);
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
        assert_dead_letter_equal(&got, &want);
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
    assert_dead_letter_equal(&got, &second);
    mm_dead_letter_clear(&got);
    mm_buf_free(&one);
    mm_buf_free(&both);
}

/* ------------------------------------------------------------ encoder errors */

Test(avro, encoder_rejects_a_null_required_string_naming_the_field) {
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

Test(avro, encoder_rejects_a_null_column_name_naming_the_column) {
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

Test(avro, encoder_rejects_invalid_utf8) {
    mm_dead_letter_t rec = sample_dead_letter(false);
    rec.reason = "caf\xe9"; /* Latin-1, not UTF-8 */
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_avro_encode_dead_letter(&rec, &buf, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "DeadLetter.reason: not valid UTF-8 (byte 3)"), "%s", errstr);
    mm_buf_free(&buf);
}

Test(avro, encoder_rejects_rows_without_their_array) {
    mm_prediction_batch_t rec = sample_prediction(true);
    rec.lower = NULL;
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_avro_encode_prediction_batch(&rec, &buf, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "PredictionBatch.lower"), "%s", errstr);
    mm_buf_free(&buf);
}

Test(avro, encoder_rejects_an_enum_value_out_of_range) {
    mm_model_decision_t rec = sample_decision((mm_decision_kind_t)9, false, false);
    mm_buf_t buf;
    mm_buf_init(&buf, 0);
    cr_assert_eq(mm_avro_encode_model_decision(&rec, &buf, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "ModelDecision.decision"), "%s", errstr);
    mm_buf_free(&buf);
}

Test(avro, encoder_respects_the_buffer_limit) {
    mm_observation_batch_t rec = sample_obs();
    mm_buf_t buf;
    mm_buf_init(&buf, 16);
    cr_assert_eq(mm_avro_encode_observation_batch(&rec, &buf, errstr, sizeof(errstr)),
                 MM_ERR_NOMEM);
    cr_assert_eq(buf.len, 0);
    mm_buf_free(&buf);
}

/* --------------------------------------------------------------- framing */

Test(avro, empty_payload_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    mm_dead_letter_t rec = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(NULL, 0, &rec, errstr, sizeof(errstr)), MM_ERR_PARSE);
    cr_assert(strstr(errstr, "payload of 0 bytes is shorter than the 5-byte wire header"), "%s",
              errstr);
    mm_buf_free(&b);
}

Test(avro, wrong_magic_byte_is_a_schema_error) {
    const char *json = "{\"service\":\"mm-ingest\"}";
    mm_dead_letter_t rec = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(json, strlen(json), &rec, errstr, sizeof(errstr)),
                 MM_ERR_SCHEMA);
    cr_assert_str_eq(errstr, "unknown magic byte 0x7b (expected 0x00)");
    cr_assert_null(mm_avro_to_json(json, strlen(json), errstr, sizeof(errstr)));
}

Test(avro, unknown_schema_id_is_a_schema_error) {
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

Test(avro, decoding_a_model_trained_as_observation_batch_names_both_types) {
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

Test(avro, trailing_garbage_is_rejected) {
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

Test(avro, oversized_payload_is_rejected_before_parsing) {
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

Test(avro, truncation_at_every_byte_of_an_observation_batch_is_an_error) {
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

Test(avro, varint_of_eleven_bytes_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_header(&b, MM_RECORD_DEAD_LETTER);
    for (int i = 0; i < 10; i++) put_byte(&b, 0x80);
    put_byte(&b, 0x01);
    assert_dl_rejected(&b, MM_ERR_PARSE,
                       "DeadLetter.service: varint longer than 10 bytes at offset 5");
    mm_buf_free(&b);
}

Test(avro, varint_overflowing_an_int_is_rejected) {
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

Test(avro, huge_string_length_is_rejected_before_allocating) {
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

Test(avro, huge_bytes_length_is_rejected_before_allocating) {
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

Test(avro, negative_string_length_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_header(&b, MM_RECORD_DEAD_LETTER);
    put_long(&b, -5);
    assert_dl_rejected(&b, MM_ERR_PARSE, "DeadLetter.service: negative string length -5");
    mm_buf_free(&b);
}

Test(avro, huge_array_count_is_rejected_naming_field_and_offset) {
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

Test(avro, array_count_of_doubles_is_bounded_by_eight_bytes_each) {
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

Test(avro, array_item_budget_is_enforced) {
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

Test(avro, negative_block_count_with_matching_byte_size_is_accepted) {
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

Test(avro, negative_block_count_with_wrong_byte_size_is_rejected) {
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

Test(avro, union_index_out_of_range_is_rejected) {
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

Test(avro, enum_index_out_of_range_is_rejected) {
    mm_buf_t b;
    mm_buf_init(&b, 0);
    put_header(&b, MM_RECORD_MODEL_DECISION);
    put_str(&b, "k");
    put_str(&b, "d");
    put_str(&b, "h");
    put_long(&b, 4); /* decision: only 0..3 exist */
    mm_model_decision_t rec = {0};
    cr_assert_eq(mm_avro_decode_model_decision(b.data, b.len, &rec, errstr, sizeof(errstr)),
                 MM_ERR_PARSE);
    cr_assert(strstr(errstr, "ModelDecision.decision: enum index 4 out of range 0..3 at offset 11"),
              "%s", errstr);
    mm_buf_free(&b);
}

Test(avro, boolean_other_than_zero_or_one_is_rejected) {
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

Test(avro, invalid_utf8_and_nul_in_strings_are_rejected) {
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

Test(avro, row_arrays_of_different_lengths_are_rejected) {
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

Test(avro, column_with_the_wrong_number_of_values_is_rejected) {
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

Test(avro, score_request_values_must_be_rows_times_features) {
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

Test(avro, random_corruption_never_crashes) {
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

/* ------------------------------------------------------------- golden bytes */

static mm_buf_t read_hex_fixture(const char *name) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", AVRO_FIXTURES, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    mm_buf_t out;
    mm_buf_init(&out, 0);
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#') continue;
        for (char *c = line; *c;) {
            if (*c == ' ' || *c == '\n' || *c == '\t' || *c == '\r') {
                c++;
                continue;
            }
            unsigned int byte;
            cr_assert_eq(sscanf(c, "%2x", &byte), 1, "%s: bad hex near \"%.8s\"", path, c);
            put_byte(&out, (uint8_t)byte);
            c += 2;
        }
    }
    fclose(f);
    return out;
}

static char *read_text_fixture(const char *name) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", AVRO_FIXTURES, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    mm_buf_t out;
    mm_buf_init(&out, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) put_bytes(&out, chunk, n);
    fclose(f);
    while (out.len && (out.data[out.len - 1] == '\n')) out.data[--out.len] = 0;
    return (char *)mm_buf_steal(&out, NULL);
}

static void assert_bytes_equal(const mm_buf_t *got, const mm_buf_t *want, const char *what) {
    size_t n = got->len < want->len ? got->len : want->len;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got->data[i], want->data[i], "%s: byte %zu is 0x%02x, golden 0x%02x", what, i,
                     got->data[i], want->data[i]);
    cr_assert_eq(got->len, want->len, "%s: %zu bytes, golden %zu", what, got->len, want->len);
}

Test(avro, dead_letter_encoding_matches_golden_bytes) {
    mm_dead_letter_t rec = sample_dead_letter(true);
    mm_buf_t got, want = read_hex_fixture("dead_letter.hex");
    ENCODE(mm_avro_encode_dead_letter, &rec, &got);
    assert_bytes_equal(&got, &want, "DeadLetter");
    mm_dead_letter_t back = {0};
    cr_assert_eq(mm_avro_decode_dead_letter(want.data, want.len, &back, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    assert_dead_letter_equal(&back, &rec);
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
