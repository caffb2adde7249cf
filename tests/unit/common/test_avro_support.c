/*
 * test_avro_support.c - what the Avro codec tests share: an independent Avro
 * writer for hand-built (often malformed) bodies, which follows the Avro
 * specification without using common/src/avro*.c; sample records of every
 * type; fixture readers; and rejection checks.
 */
#include "test_avro_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char errstr[512];

void avro_suite_init(void) {
    cr_assert_eq(mm_avro_init(errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

/* NaN equals NaN; -0.0 differs from 0.0: the wire must carry the exact double. */
bool dbl_same(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

bool all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

/* ------------------------------------------------ an independent Avro writer */

void put_bytes(mm_buf_t *b, const void *p, size_t n) {
    cr_assert_eq(mm_buf_append(b, p, n), MM_OK);
}

void put_byte(mm_buf_t *b, uint8_t x) {
    put_bytes(b, &x, 1);
}

/* Zig-zag varint, as the Avro specification defines int and long. */
void put_long(mm_buf_t *b, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        put_byte(b, (uint8_t)(z | 0x80));
        z >>= 7;
    }
    put_byte(b, (uint8_t)z);
}

void put_str(mm_buf_t *b, const char *s) {
    put_long(b, (int64_t)strlen(s));
    put_bytes(b, s, strlen(s));
}

void put_double(mm_buf_t *b, double d) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    for (int i = 0; i < 8; i++) put_byte(b, (uint8_t)(bits >> (8 * i)));
}

void put_header(mm_buf_t *b, mm_record_type_t type) {
    uint32_t id = (uint32_t)mm_avro_schema_id(type);
    uint8_t h[5] = {0, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    put_bytes(b, h, sizeof(h));
}

/*
 * ObservationBatch up to and excluding time_ms: five one-letter strings
 * (10 bytes) and four one-byte scalars, so time_ms starts at payload offset 19.
 */
void put_obs_prefix(mm_buf_t *b) {
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
void put_dl_prefix(mm_buf_t *b) {
    put_header(b, MM_RECORD_DEAD_LETTER);
    put_str(b, "s");
    put_str(b, "e");
    put_str(b, "r");
}

/* Expect @p payload to be rejected as a dead letter with @p code and a reason containing @p want.
 */
void assert_dl_rejected(const mm_buf_t *payload, mm_err_t code, const char *want) {
    mm_dead_letter_t rec = {0};
    errstr[0] = 0;
    mm_err_t err =
        mm_avro_decode_dead_letter(payload->data, payload->len, &rec, errstr, sizeof(errstr));
    cr_assert_eq(err, code, "got %s (%s), want %s", mm_err_name(err), errstr, mm_err_name(code));
    cr_assert(strstr(errstr, want), "reason \"%s\" lacks \"%s\"", errstr, want);
    cr_assert(all_zero(&rec, sizeof(rec)), "record not cleared after failure");
}

void assert_obs_rejected(const mm_buf_t *payload, mm_err_t code, const char *want) {
    mm_observation_batch_t rec = {0};
    errstr[0] = 0;
    mm_err_t err =
        mm_avro_decode_observation_batch(payload->data, payload->len, &rec, errstr, sizeof(errstr));
    cr_assert_eq(err, code, "got %s (%s), want %s", mm_err_name(err), errstr, mm_err_name(code));
    cr_assert(strstr(errstr, want), "reason \"%s\" lacks \"%s\"", errstr, want);
    cr_assert(all_zero(&rec, sizeof(rec)), "record not cleared after failure");
}

/* ------------------------------------------------------------ sample records */

int64_t obs_time[4] = {1700000000000, 1700086400000, INT64_MIN, INT64_MAX};
double obs_target[4] = {1.5, NAN, -0.0, 1e308};
int64_t obs_line[4] = {2, 3, 4, 5000000};
double obs_price[4] = {9.99, 10.49, NAN, -INFINITY};
double obs_promo[4] = {0, 1, 0, 1};
mm_obs_column_t obs_columns[2] = {{"price", obs_price}, {"promo", obs_promo}};

const char *obs_entities[2] = {"machine=1", "machine=2"};
int32_t obs_entity_of_row[4] = {0, 1, 1, 0};

mm_observation_batch_t sample_obs(void) {
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
        .n_entities = 2,
        .entities = obs_entities,
        .n_entity_of_row = 4,
        .entity_of_row = obs_entity_of_row,
    };
}

mm_metric_t trained_metrics[3] = {{"rmse", 1.25}, {"mase", 0.8}, {"smape", NAN}};
mm_metric_t trained_baseline[1] = {{"rmse", 2.5}};

mm_model_trained_t sample_trained(bool optionals) {
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
        .adjustments = optionals ? "season_length 7 -> 1: 40 points are too few" : NULL,
    };
}

mm_model_decision_t sample_decision(mm_decision_kind_t kind, bool production, bool optionals) {
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

const char *score_features[2] = {"price", "promo"};
int64_t score_time[3] = {1700000000000, 1700086400000, 1700172800000};
double score_values[6] = {9.99, 0, NAN, 1, 10.5, 0};

mm_score_request_t sample_score(bool optionals) {
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

int64_t pred_time[2] = {1700086400000, 1700172800000};
double pred_value[2] = {12.5, 13.25};
double pred_lower[2] = {10.0, NAN};
double pred_upper[2] = {15.0, NAN};

mm_prediction_batch_t sample_prediction(bool optionals) {
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

uint8_t dl_original[5] = {'a', ',', 0, 0xff, '\n'};

mm_dead_letter_t sample_dead_letter(bool optionals) {
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

/* ------------------------------------------------------------------ fixtures */

mm_buf_t read_hex_fixture(const char *name) {
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

char *read_text_fixture(const char *name) {
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

void assert_bytes_equal(const mm_buf_t *got, const mm_buf_t *want, const char *what) {
    size_t n = got->len < want->len ? got->len : want->len;
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got->data[i], want->data[i], "%s: byte %zu is 0x%02x, golden 0x%02x", what, i,
                     got->data[i], want->data[i]);
    cr_assert_eq(got->len, want->len, "%s: %zu bytes, golden %zu", what, got->len, want->len);
}
