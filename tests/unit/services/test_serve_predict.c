/*
 * test_serve_predict.c - POST /v1/predict on a classification dataset
 * (services/scorer/serve*.c, without a socket): the probability as of the
 * newest stored telemetry, or of rows given in the request, with lineage;
 * the forecast route refuses such a dataset.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mm/blob_layout.h"
#include "mm/model.h"
#include "mm/sha256.h"
#include "scoring_data.h"
#include "test_serve_fixture.h"

#define HOUR_MS 3600000LL
#define HOURS   600
#define KEY     "machineID=1"

static const char *const classify_spec =
    "{\"name\": \"maint\", \"task\": \"classify\", \"key\": [\"machineID\"],\n"
    " \"time\": {\"column\": \"datetime\", \"format\": \"%Y-%m-%d %H:%M:%S\", \"frequency\": "
    "\"hour\"},\n"
    " \"target\": {\"event_column\": \"failure\", \"lookahead\": 24},\n"
    " \"features\": {\"exogenous\": [\"volt\"]}}\n";

static sfx_t fx;
static int64_t t[HOURS];
static double y[HOURS], volt[HOURS];

/* A failure every 100 hours; the voltage climbs in the day before one. */
static void make_data(void) {
    for (int h = 0; h < HOURS; h++) {
        int to_failure = 100 - (h % 100);
        t[h] = h * HOUR_MS;
        y[h] = h % 100 == 99 ? 1.0 : 0.0;
        volt[h] = 170.0 + (to_failure <= 24 ? 30.0 : 0.0) + (double)((h * 13) % 7);
    }
}

static void setup(void) {
    sfx_opts_t opts = {.spec_json = classify_spec};
    sfx_init(&fx, &opts);
    make_data();
    char errstr[1024];
    /* Scoring data: the same telemetry. */
    mm_scoring_data_t *sd =
        mm_scoring_data_open(fx.state_path, &fx.spec, 400, "mm-scorer", errstr, sizeof(errstr));
    cr_assert_not_null(sd, "%s", errstr);
    mm_obs_column_t col = {.name = "volt", .values = volt};
    mm_observation_batch_t b = {.dataset = "maint",
                                .spec_hash = fx.spec.hash,
                                .partition_key = KEY,
                                .load_id = "load-1",
                                .n_rows = HOURS,
                                .time_ms = t,
                                .target = y,
                                .n_columns = 1,
                                .columns = &col};
    cr_assert_eq(mm_scoring_data_apply(sd, NULL, 0, 0, &b, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    mm_scoring_data_close(sd);
    /* A classifier trained on it, in production/. */
    const double *exog[] = {volt};
    mm_series_t series = {.n = HOURS, .time_ms = t, .y = y, .n_exog = 1, .exog = exog};
    mm_train_result_t res = {0};
    cr_assert_eq(mm_model_train(&fx.spec.model, &series, &res, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    char sha[MM_SHA256_HEX_LEN + 1], cand[1024], prod[1024];
    mm_sha256_hex(res.artifact, res.artifact_len, sha);
    cr_assert_eq(mm_blob_layout_candidate(cand, sizeof(cand), "maint", KEY, sha), MM_OK);
    cr_assert_eq(mm_blob_layout_production(cand, prod, sizeof(prod)), MM_OK);
    mm_blob_t *blob = mm_blob_new(fx.blob_url, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
    cr_assert_eq(mm_blob_put_immutable(blob, prod, res.artifact, res.artifact_len, sha, errstr,
                                       sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_blob_destroy(blob);
    mm_model_decision_t d = {.partition_key = strdup(KEY),
                             .dataset = strdup("maint"),
                             .decision = MM_DECISION_APPROVED,
                             .has_production = true,
                             .production = {.train_id = strdup("train-maint-1"),
                                            .version = 4,
                                            .algorithm = strdup(mm_algo_name(res.algorithm)),
                                            .artifact_uri = strdup(prod),
                                            .artifact_sha256 = strdup(sha),
                                            .artifact_size = (int64_t)res.artifact_len,
                                            .data_end_ms = t[HOURS - 1],
                                            .n_rows = HOURS}};
    mm_train_result_clear(&res);
    cr_assert_eq(mm_serve_put_decision(fx.serve, &d), MM_OK);
}

static void teardown(void) {
    sfx_fini(&fx);
}

TestSuite(serve_predict, .init = setup, .fini = teardown, .timeout = 120);

static json_t *post(const char *path, const char *body, int *status) {
    char *text = NULL;
    *status = sfx_request(&fx, "POST", path, body, NULL, &text);
    json_t *o = json_loads(text, 0, NULL);
    cr_assert_not_null(o, "%s", text);
    free(text);
    return o;
}

Test(serve_predict, the_probability_as_of_the_newest_telemetry) {
    int status;
    json_t *o = post("/v1/predict", "{\"key\": \"" KEY "\"}", &status);
    cr_assert_eq(status, 200, "%s", json_dumps(o, 0));
    double p = json_number_value(json_object_get(o, "probability"));
    cr_expect(p >= 0.0 && p <= 1.0, "a probability: %g", p);
    cr_expect_str_eq(json_string_value(json_object_get(o, "time")), "1970-01-25T23:00:00Z",
                     "as of the newest row (hour %d)", HOURS - 1);
    cr_expect_eq(json_integer_value(json_object_get(o, "model_version")), 4);
    cr_expect_str_eq(json_string_value(json_object_get(o, "train_id")), "train-maint-1");
    cr_expect_eq(json_object_get(o, "fallback"), json_false());
    json_decref(o);
}

Test(serve_predict, rows_in_the_request_are_scored_instead_of_the_stored_ones) {
    int status;
    json_t *low = post("/v1/predict",
                       "{\"key\": \"" KEY "\", \"rows\": ["
                       "{\"datetime\": \"1970-02-01 00:00:00\", \"volt\": 171},"
                       "{\"datetime\": \"1970-02-01 01:00:00\", \"volt\": 172}]}",
                       &status);
    cr_assert_eq(status, 200);
    cr_expect_str_eq(json_string_value(json_object_get(low, "time")), "1970-02-01T01:00:00Z");
    json_t *high = post("/v1/predict",
                        "{\"key\": \"" KEY "\", \"rows\": ["
                        "{\"datetime\": \"1970-02-01 00:00:00\", \"volt\": 201},"
                        "{\"datetime\": \"1970-02-01 01:00:00\", \"volt\": 202}]}",
                        &status);
    cr_assert_eq(status, 200);
    double pl = json_number_value(json_object_get(low, "probability"));
    double ph = json_number_value(json_object_get(high, "probability"));
    cr_expect(pl >= 0 && pl <= 1 && ph >= 0 && ph <= 1);
    cr_expect(fabs(ph - pl) > 1e-9, "the rows given are what is scored: %g vs %g", ph, pl);
    json_decref(low);
    json_decref(high);
}

Test(serve_predict, several_keys_and_the_wrong_route) {
    int status;
    json_t *o = post("/v1/predict", "{\"keys\": [\"" KEY "\", \"machineID=2\"]}", &status);
    cr_assert_eq(status, 200);
    json_t *r = json_object_get(o, "results");
    cr_expect(json_is_number(json_object_get(json_array_get(r, 0), "probability")));
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(r, 1), "status")), 404);
    json_decref(o);
    o = post("/v1/forecast", "{\"key\": \"" KEY "\"}", &status);
    cr_expect_eq(status, 400);
    json_decref(o);
    o = post("/v1/predict", "{\"key\": \"" KEY "\", \"horizon\": 3}", &status);
    cr_expect_eq(status, 400, "horizon is a forecast's");
    json_decref(o);
    o = post("/v1/predict", "{\"key\": \"" KEY "\", \"rows\": [{\"volt\": 1}]}", &status);
    cr_expect_eq(status, 400, "a row needs its time");
    json_decref(o);
}
