/*
 * test_stream_rows.c - rows carried by an mm.score-requests record in
 * mm-scorer's stream mode (services/scorer/request_rows.c, the same code the
 * HTTP API uses): planned covariates give the forecast the HTTP API gives for
 * the same covariates; telemetry rows of a classification request are what
 * is scored, as through the HTTP API; rows that cannot apply to the key are dead-lettered
 * naming the field, and nothing of the request is answered.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <sqlite3.h>

#include "mm/avro.h"
#include "mm/blob_layout.h"
#include "mm/model.h"
#include "mm/sha256.h"
#include "mm/util.h"
#include "scoring_data.h"
#include "stream_int.h"
#include "test_serve_fixture.h"

static sfx_t fx;
static mm_scorer_stream_t *stream;
static int64_t next_offset;

/* @p d given to the scorer the way mm.decisions would. */
static void give_scorer(const mm_model_decision_t *d) {
    mm_buf_t buf;
    mm_buf_init(&buf, MM_BUF_CAP_MESSAGE);
    char errstr[512];
    cr_assert_eq(mm_avro_encode_model_decision(d, &buf, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    mm_kafka_msg_t msg = {.topic = MM_TOPIC_DECISIONS,
                          .key = d->partition_key,
                          .key_len = strlen(d->partition_key),
                          .value = buf.data,
                          .value_len = buf.len,
                          .timestamp_ms = -1};
    bool applied = false;
    cr_assert_eq(mm_scorer__apply_decision(fx.scorer, &msg, &applied, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert(applied);
    mm_buf_free(&buf);
}

static void give_scorer_the_decision(void) {
    mm_model_decision_t d = sfx_train_decision(&fx, SFX_KEY, 100, 2.0, 1);
    give_scorer(&d);
    mm_model_decision_clear(&d);
}

static void setup(void) {
    sfx_opts_t opts = {0};
    sfx_init(&fx, &opts);
    give_scorer_the_decision();
    char errstr[1024];
    mm_scorer_stream_opts_t sopts = {0};
    stream = mm_scorer_stream_new(fx.scorer, &sopts, errstr, sizeof(errstr));
    cr_assert_not_null(stream, "%s", errstr);
    next_offset = 0;
}

static void teardown(void) {
    mm_scorer_stream_destroy(stream);
    sfx_fini(&fx);
}

TestSuite(stream_rows, .init = setup, .fini = teardown, .timeout = 120);

static void consume_bytes(const char *key, const void *value, size_t len) {
    char errstr[1024];
    mm_kafka_msg_t msg = {.topic = MM_TOPIC_SCORE_REQUESTS,
                          .partition = 0,
                          .offset = next_offset++,
                          .key = key,
                          .key_len = strlen(key),
                          .value = value,
                          .value_len = len,
                          .timestamp_ms = -1};
    cr_assert_eq(mm_scorer_stream__handle_request(stream, &msg, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
}

static void consume_request(const mm_score_request_t *r) {
    mm_buf_t buf;
    mm_buf_init(&buf, MM_BUF_CAP_MESSAGE);
    char errstr[1024];
    cr_assert_eq(mm_avro_encode_score_request(r, &buf, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    consume_bytes(r->partition_key, buf.data, buf.len);
    mm_buf_free(&buf);
}

/* Avro binary by hand (a producer that does not check its counts). */
static size_t put_long(uint8_t *out, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        out[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    out[n++] = (uint8_t)z;
    return n;
}

static size_t put_str(uint8_t *out, const char *s) {
    size_t n = put_long(out, (int64_t)strlen(s));
    memcpy(out + n, s, strlen(s));
    return n + strlen(s);
}

/* A ScoreRequest with one feature, one row and @p n_values values, framed as the encoder frames. */
static size_t miscounted_request(uint8_t *out, const char *id, int n_values) {
    mm_score_request_t framing = {.request_id = "", .partition_key = ""};
    mm_buf_t buf;
    mm_buf_init(&buf, MM_BUF_CAP_MESSAGE);
    char errstr[256];
    cr_assert_eq(mm_avro_encode_score_request(&framing, &buf, errstr, sizeof(errstr)), MM_OK);
    memcpy(out, buf.data, 5); /* magic byte and schema id */
    mm_buf_free(&buf);
    out += 5;
    size_t n = put_str(out, id);
    n += put_str(out + n, SFX_KEY);
    n += put_long(out + n, 0); /* dataset: null */
    n += put_long(out + n, 0); /* horizon */
    n += put_long(out + n, 1); /* feature_names */
    n += put_str(out + n, "price");
    n += put_long(out + n, 0);
    n += put_long(out + n, 1); /* time_ms */
    n += put_long(out + n, (SFX_DAYS + 1) * SFX_DAY_MS);
    n += put_long(out + n, 0);
    n += put_long(out + n, n_values); /* values */
    for (int i = 0; i < n_values; i++) {
        double v = 1.0 + i;
        memcpy(out + n, &v, 8); /* little-endian hosts only, as the project's targets are */
        n += 8;
    }
    n += put_long(out + n, 0);
    n += put_long(out + n, 0); /* requested_at_ms */
    return n + 5;
}

/* Payloads in the outbox for @p topic, in order; *n receives the count. */
static int outbox(const char *topic, int nth, void **payload, size_t *len) {
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(fx.state_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(
        sqlite3_prepare_v2(db,
                           "SELECT payload, (SELECT COUNT(*) FROM outbox WHERE topic = "
                           "?1) FROM outbox WHERE topic = ?1 ORDER BY id LIMIT 1 OFFSET ?2",
                           -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, nth);
    int count = 0;
    if (payload) *payload = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        count = sqlite3_column_int(st, 1);
        if (payload) {
            *len = (size_t)sqlite3_column_bytes(st, 0);
            *payload = malloc(*len);
            memcpy(*payload, sqlite3_column_blob(st, 0), *len);
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return count;
}

static mm_prediction_batch_t prediction(int nth) {
    void *payload;
    size_t len = 0;
    outbox(MM_TOPIC_PREDICTIONS, nth, &payload, &len);
    cr_assert_not_null(payload, "no prediction %d", nth);
    mm_prediction_batch_t p = {0};
    char errstr[512];
    cr_assert_eq(mm_avro_decode_prediction_batch(payload, len, &p, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    free(payload);
    return p;
}

static char *dead_letter_reason(int nth) {
    void *payload;
    size_t len = 0;
    outbox(MM_TOPIC_DEADLETTER, nth, &payload, &len);
    cr_assert_not_null(payload, "no dead letter %d", nth);
    mm_dead_letter_t dl = {0};
    char errstr[512];
    cr_assert_eq(mm_avro_decode_dead_letter(payload, len, &dl, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    char *reason = strdup(dl.reason);
    mm_dead_letter_clear(&dl);
    free(payload);
    return reason;
}

/* The HTTP API's forecast for SFX_KEY with price @p price on every step of the horizon. */
static json_t *http_forecast(double price) {
    char body[2048];
    int n = snprintf(body, sizeof(body), "{\"key\": \"" SFX_KEY "\", \"covariates\": [");
    for (int d = 0; d < SFX_HORIZON; d++) {
        char date[40];
        sfx_day_iso(SFX_DAYS + d, date, sizeof(date));
        date[10] = '\0';
        n += snprintf(body + n, sizeof(body) - (size_t)n, "%s{\"date\": \"%s\", \"price\": %g}",
                      d ? ", " : "", date, price);
    }
    snprintf(body + n, sizeof(body) - (size_t)n, "]}");
    char *text = NULL;
    int status = sfx_request(&fx, "POST", "/v1/forecast", body, NULL, &text);
    cr_assert_eq(status, 200, "%s", text);
    json_t *o = json_loads(text, 0, NULL);
    cr_assert_not_null(o, "%s", text);
    free(text);
    return o;
}

Test(stream_rows, planned_covariates_give_the_forecast_the_http_api_gives) {
    const char *names[] = {"price"};
    int64_t t[SFX_HORIZON];
    double low[SFX_HORIZON], high[SFX_HORIZON];
    for (int d = 0; d < SFX_HORIZON; d++) {
        t[d] = (SFX_DAYS + d) * SFX_DAY_MS;
        low[d] = 5.0;
        high[d] = 30.0;
    }
    mm_score_request_t r = {.request_id = "low",
                            .partition_key = SFX_KEY,
                            .horizon = SFX_HORIZON,
                            .n_features = 1,
                            .feature_names = names,
                            .n_rows = SFX_HORIZON,
                            .time_ms = t,
                            .values = low};
    consume_request(&r);
    r.request_id = "high";
    r.values = high;
    consume_request(&r);
    cr_assert_eq(outbox(MM_TOPIC_PREDICTIONS, 0, NULL, NULL), 2);
    cr_assert_eq(outbox(MM_TOPIC_DEADLETTER, 0, NULL, NULL), 0);

    const double prices[] = {5.0, 30.0};
    double first[2];
    for (int k = 0; k < 2; k++) {
        mm_prediction_batch_t p = prediction(k);
        json_t *o = http_forecast(prices[k]);
        json_t *values = json_object_get(o, "values");
        cr_assert_eq(p.status, MM_PREDICTION_OK, "%s", p.message ? p.message : "");
        cr_assert_eq(p.n, json_array_size(values));
        cr_assert_eq(p.n, (size_t)SFX_HORIZON);
        for (size_t i = 0; i < p.n; i++) {
            double v = json_number_value(json_array_get(values, i));
            cr_expect(fabs(p.value[i] - v) <= 1e-9 * (1.0 + fabs(v)),
                      "price %g, step %zu: stream %.12g, HTTP %.12g", prices[k], i, p.value[i], v);
            cr_expect_eq(p.time_ms[i], t[i]);
        }
        first[k] = p.value[0];
        json_decref(o);
        mm_prediction_batch_clear(&p);
    }
    cr_expect_gt(first[1] - first[0], 10.0, "the rows were applied: %g vs %g", first[0], first[1]);
}

Test(stream_rows, rows_that_cannot_apply_are_dead_lettered_naming_the_field) {
    const char *price[] = {"price"}, *colour[] = {"colour"}, *twice[] = {"price", "price"};
    int64_t future[] = {(SFX_DAYS + 1) * SFX_DAY_MS, (SFX_DAYS + 2) * SFX_DAY_MS};
    int64_t backwards[] = {(SFX_DAYS + 2) * SFX_DAY_MS, (SFX_DAYS + 1) * SFX_DAY_MS};
    int64_t past[] = {10 * SFX_DAY_MS};
    double v[] = {1.0, 2.0, 3.0, 4.0};
    struct {
        mm_score_request_t r;
        const char *expect;
    } cases[] = {
        {{.n_features = 1, .feature_names = colour, .n_rows = 1, .time_ms = future, .values = v},
         "feature_names[0] 'colour'"},
        {{.n_features = 2, .feature_names = twice, .n_rows = 1, .time_ms = future, .values = v},
         "feature_names[1] 'price' repeats"},
        {{.n_features = 1, .feature_names = price, .n_rows = 2, .time_ms = backwards, .values = v},
         "time_ms[1]"},
        {{.n_features = 1, .feature_names = price, .n_rows = 1, .time_ms = past, .values = v},
         "time_ms[0]: its time is not after the key's newest observation"},
    };
    char ids[MM_ARRAY_SIZE(cases)][8];
    for (size_t i = 0; i < MM_ARRAY_SIZE(cases); i++) {
        snprintf(ids[i], sizeof(ids[i]), "bad%zu", i);
        cases[i].r.request_id = ids[i];
        cases[i].r.partition_key = SFX_KEY;
        consume_request(&cases[i].r);
    }
    uint8_t raw[256];
    consume_bytes(SFX_KEY, raw, miscounted_request(raw, "count", 2));
    /* The stream goes on: a good request with rows is answered. */
    mm_score_request_t ok = {.request_id = "ok",
                             .partition_key = SFX_KEY,
                             .n_features = 1,
                             .feature_names = price,
                             .n_rows = 2,
                             .time_ms = future,
                             .values = v};
    consume_request(&ok);

    cr_assert_eq(outbox(MM_TOPIC_DEADLETTER, 0, NULL, NULL), (int)MM_ARRAY_SIZE(cases) + 1);
    char *count = dead_letter_reason((int)MM_ARRAY_SIZE(cases));
    cr_expect(strstr(count, "values"), "a wrong count names values: %s", count);
    free(count);
    for (size_t i = 0; i < MM_ARRAY_SIZE(cases); i++) {
        char *reason = dead_letter_reason((int)i);
        cr_expect(strstr(reason, cases[i].expect), "case %zu: '%s' lacks '%s'", i, reason,
                  cases[i].expect);
        cr_expect(strstr(reason, ids[i]), "case %zu: '%s' names no request", i, reason);
        free(reason);
    }
    cr_assert_eq(outbox(MM_TOPIC_PREDICTIONS, 0, NULL, NULL), 1, "only the good request answered");
    mm_prediction_batch_t p = prediction(0);
    cr_expect_str_eq(p.request_id, "ok");
    cr_expect_eq(p.status, MM_PREDICTION_OK);
    mm_prediction_batch_clear(&p);
    mm_scorer_stream_stats_t stats;
    mm_scorer_stream_stats(stream, &stats);
    cr_expect_eq(stats.dead_letters, (int64_t)MM_ARRAY_SIZE(cases) + 1);
    cr_expect_eq(stats.answered, 1);
}

/* ---- classify: telemetry rows in the request are what is scored */

#define HOUR_MS 3600000LL
#define HOURS   600
#define MACHINE "machineID=1"

static const char *const classify_spec =
    "{\"name\": \"maint\", \"task\": \"classify\", \"key\": [\"machineID\"],\n"
    " \"time\": {\"column\": \"datetime\", \"format\": \"%Y-%m-%d %H:%M:%S\", \"frequency\": "
    "\"hour\"},\n"
    " \"target\": {\"event_column\": \"failure\", \"lookahead\": 24},\n"
    " \"features\": {\"exogenous\": [\"volt\"]}}\n";

static int64_t ht[HOURS];
static double hy[HOURS], volt[HOURS];

/* Telemetry and a classifier trained on it (a failure every 100 hours; the
 * voltage climbs in the day before one), known to serve and to the stream. */
static void setup_classify(void) {
    sfx_opts_t opts = {.spec_json = classify_spec};
    sfx_init(&fx, &opts);
    for (int h = 0; h < HOURS; h++) {
        int to_failure = 100 - (h % 100);
        ht[h] = h * HOUR_MS;
        hy[h] = h % 100 == 99 ? 1.0 : 0.0;
        volt[h] = 170.0 + (to_failure <= 24 ? 30.0 : 0.0) + (double)((h * 13) % 7);
    }
    char errstr[1024];
    mm_scoring_data_t *sd =
        mm_scoring_data_open(fx.state_path, &fx.spec, 400, "mm-scorer", errstr, sizeof(errstr));
    cr_assert_not_null(sd, "%s", errstr);
    mm_obs_column_t col = {.name = "volt", .values = volt};
    mm_observation_batch_t b = {.dataset = "maint",
                                .spec_hash = fx.spec.hash,
                                .partition_key = MACHINE,
                                .load_id = "load-1",
                                .n_rows = HOURS,
                                .time_ms = ht,
                                .target = hy,
                                .n_columns = 1,
                                .columns = &col};
    cr_assert_eq(mm_scoring_data_apply(sd, NULL, 0, 0, &b, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    mm_scoring_data_close(sd);
    const double *exog[] = {volt};
    mm_series_t series = {.n = HOURS, .time_ms = ht, .y = hy, .n_exog = 1, .exog = exog};
    mm_train_result_t res = {0};
    cr_assert_eq(mm_model_train(&fx.spec.model, &series, &res, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    char sha[MM_SHA256_HEX_LEN + 1], cand[1024], prod[1024];
    mm_sha256_hex(res.artifact, res.artifact_len, sha);
    cr_assert_eq(mm_blob_layout_candidate(cand, sizeof(cand), "maint", MACHINE, sha), MM_OK);
    cr_assert_eq(mm_blob_layout_production(cand, prod, sizeof(prod)), MM_OK);
    mm_blob_t *blob = mm_blob_new(fx.blob_url, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
    cr_assert_eq(mm_blob_put_immutable(blob, prod, res.artifact, res.artifact_len, sha, errstr,
                                       sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_blob_destroy(blob);
    mm_model_decision_t d = {.partition_key = strdup(MACHINE),
                             .dataset = strdup("maint"),
                             .spec_hash = strdup(fx.spec.hash),
                             .reason = strdup("approved"),
                             .candidate_train_id = strdup("train-maint-1"),
                             .candidate_version = 4,
                             .decision = MM_DECISION_APPROVED,
                             .has_production = true,
                             .production = {.train_id = strdup("train-maint-1"),
                                            .version = 4,
                                            .algorithm = strdup(mm_algo_name(res.algorithm)),
                                            .artifact_uri = strdup(prod),
                                            .artifact_sha256 = strdup(sha),
                                            .artifact_size = (int64_t)res.artifact_len,
                                            .data_end_ms = ht[HOURS - 1],
                                            .n_rows = HOURS}};
    mm_train_result_clear(&res);
    give_scorer(&d);
    cr_assert_eq(mm_serve_put_decision(fx.serve, &d), MM_OK);
    mm_scorer_stream_opts_t sopts = {0};
    stream = mm_scorer_stream_new(fx.scorer, &sopts, errstr, sizeof(errstr));
    cr_assert_not_null(stream, "%s", errstr);
    next_offset = 0;
}

TestSuite(stream_rows_classify, .init = setup_classify, .fini = teardown, .timeout = 120);

/* The HTTP API's probability for MACHINE's rows at hours 744, 745 with volts @p v0, @p v1. */
static double http_probability(int v0, int v1) {
    char body[512];
    snprintf(body, sizeof(body),
             "{\"key\": \"" MACHINE "\", \"rows\": ["
             "{\"datetime\": \"1970-02-01 00:00:00\", \"volt\": %d},"
             "{\"datetime\": \"1970-02-01 01:00:00\", \"volt\": %d}]}",
             v0, v1);
    char *text = NULL;
    int status = sfx_request(&fx, "POST", "/v1/predict", body, NULL, &text);
    cr_assert_eq(status, 200, "%s", text);
    json_t *o = json_loads(text, 0, NULL);
    cr_assert_not_null(o, "%s", text);
    free(text);
    double p = json_number_value(json_object_get(o, "probability"));
    json_decref(o);
    return p;
}

Test(stream_rows_classify, the_rows_in_the_request_are_scored) {
    const char *names[] = {"volt"};
    int64_t t[] = {744 * HOUR_MS, 745 * HOUR_MS}; /* 1970-02-01 00:00, 01:00 */
    double low[] = {171, 172}, high[] = {201, 202};
    mm_score_request_t r = {.request_id = "low",
                            .partition_key = MACHINE,
                            .n_features = 1,
                            .feature_names = names,
                            .n_rows = 2,
                            .time_ms = t,
                            .values = low};
    consume_request(&r);
    r.request_id = "high";
    r.values = high;
    consume_request(&r);
    cr_assert_eq(outbox(MM_TOPIC_PREDICTIONS, 0, NULL, NULL), 2);
    const int volts[2][2] = {{171, 172}, {201, 202}};
    double prob[2];
    for (int k = 0; k < 2; k++) {
        mm_prediction_batch_t p = prediction(k);
        cr_assert_eq(p.status, MM_PREDICTION_OK, "%s", p.message ? p.message : "");
        cr_assert_eq(p.n, 1);
        cr_expect_eq(p.time_ms[0], t[1], "as of the request's last row");
        double http = http_probability(volts[k][0], volts[k][1]);
        cr_expect(fabs(p.value[0] - http) <= 1e-9, "volts %d: stream %.15g, HTTP %.15g (10 digits)",
                  volts[k][1], p.value[0], http);
        prob[k] = p.value[0];
        mm_prediction_batch_clear(&p);
    }
    cr_expect(fabs(prob[1] - prob[0]) > 1e-9, "the rows given are what is scored: %g vs %g",
              prob[0], prob[1]);
}
