/*
 * test_serve.c - mm-scorer serve's API (services/scorer/serve*.c) through
 * the server's routing without a socket (mm_httpd_handle): every route and
 * every error code, keys as strings and objects, several keys at once,
 * covariates, lineage, fallbacks, readiness, bearer tokens, limits, the
 * metrics, and a hot swap of a key's model while requests run.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "scoring_data.h"
#include "test_serve_fixture.h"

#define TOKEN  "s3cret-token-0123456789"
#define BEARER "Bearer " TOKEN
#define FC     "/v1/forecast"

static sfx_t fx;

static void setup(void) {
    sfx_init(&fx, NULL);
}

static void teardown(void) {
    sfx_fini(&fx);
}

TestSuite(serve, .init = setup, .fini = teardown, .timeout = 120);

/* POST @p body to @p path; returns the status and the parsed body (decref). */
static int post(const char *path, const char *body, json_t **out) {
    char *text = NULL;
    int status = sfx_request(&fx, "POST", path, body, NULL, &text);
    json_error_t jerr;
    *out = json_loads(text, 0, &jerr);
    cr_assert_not_null(*out, "response is not JSON (%s): %s", jerr.text, text);
    free(text);
    return status;
}

static const char *error_code(json_t *o) {
    return json_string_value(json_object_get(json_object_get(o, "error"), "code"));
}

static const char *error_field(json_t *o) {
    const char *f = json_string_value(json_object_get(json_object_get(o, "error"), "field"));
    return f ? f : "";
}

/* The request gets @p status with error @p code about @p field. */
static void expect_error(const char *path, const char *body, int status, const char *code,
                         const char *field) {
    json_t *o;
    int got = post(path, body, &o);
    cr_expect_eq(got, status, "%s -> %d, expected %d", body, got, status);
    cr_expect_str_eq(error_code(o) ? error_code(o) : "(none)", code, "%s", body);
    if (field) cr_expect_str_eq(error_field(o), field, "%s", body);
    const char *msg = json_string_value(json_object_get(json_object_get(o, "error"), "message"));
    cr_expect(msg && *msg, "an error says why: %s", body);
    json_decref(o);
}

Test(serve, a_forecast_has_values_intervals_times_and_lineage) {
    json_t *o;
    cr_assert_eq(post(FC, "{\"key\": \"" SFX_KEY "\"}", &o), 200);
    cr_expect_str_eq(json_string_value(json_object_get(o, "key")), SFX_KEY);
    json_t *values = json_object_get(o, "values");
    cr_assert_eq(json_array_size(values), SFX_HORIZON, "the spec's horizon by default");
    cr_expect_eq(json_array_size(json_object_get(o, "lower")), SFX_HORIZON);
    cr_expect_eq(json_array_size(json_object_get(o, "upper")), SFX_HORIZON);
    json_t *times = json_object_get(o, "times");
    cr_assert_eq(json_array_size(times), SFX_HORIZON);
    char first[40], watermark[40];
    sfx_day_iso(SFX_DAYS, first, sizeof(first));
    sfx_day_iso(SFX_DAYS - 1, watermark, sizeof(watermark));
    cr_expect_str_eq(json_string_value(json_array_get(times, 0)), first,
                     "a forecast starts one period after the newest observation");
    cr_expect_str_eq(json_string_value(json_object_get(o, "data_watermark")), watermark);
    cr_expect_eq(json_integer_value(json_object_get(o, "model_version")), 1);
    cr_expect(json_is_string(json_object_get(o, "train_id")));
    cr_expect_eq(json_object_get(o, "fallback"), json_false());
    cr_expect_gt(json_integer_value(json_object_get(o, "new_observations")), 0,
                 "the days after the model's training data are used");
    for (size_t i = 0; i < SFX_HORIZON; i++) {
        double v = json_number_value(json_array_get(values, i));
        cr_expect(v > 20 && v < 120, "value %zu = %g is in the data's range", i, v);
        cr_expect_leq(json_number_value(json_array_get(json_object_get(o, "lower"), i)), v);
        cr_expect_geq(json_number_value(json_array_get(json_object_get(o, "upper"), i)), v);
    }
    json_decref(o);
}

Test(serve, a_key_as_an_object_of_column_values_is_the_same_key) {
    json_t *a, *b;
    cr_assert_eq(post(FC, "{\"key\": \"" SFX_KEY "\", \"horizon\": 3}", &a), 200);
    cr_assert_eq(post(FC, "{\"key\": {\"item\": 1, \"store\": \"1\"}, \"horizon\": 3}", &b), 200);
    cr_expect_str_eq(json_string_value(json_object_get(b, "key")), SFX_KEY);
    cr_expect(json_equal(json_object_get(a, "values"), json_object_get(b, "values")));
    cr_expect_eq(json_array_size(json_object_get(b, "values")), 3);
    json_decref(a);
    json_decref(b);
}

/* Two forecast requests for @p key whose covariates cover the horizon from
 * day @p first: price 5 (@p low) and price 30 (@p high). */
static void covariate_bodies(const char *key, int first, char *low, char *high, size_t size) {
    int n = snprintf(low, size, "{\"key\": \"%s\", \"covariates\": [", key);
    int m = snprintf(high, size, "%s", low);
    for (int d = 0; d < SFX_HORIZON; d++) {
        char date[40];
        sfx_day_iso(first + d, date, sizeof(date));
        date[10] = '\0'; /* the spec's format: %Y-%m-%d */
        n += snprintf(low + n, size - (size_t)n, "%s{\"date\": \"%s\", \"price\": 5}",
                      d ? ", " : "", date);
        m += snprintf(high + m, size - (size_t)m, "%s{\"date\": \"%s\", \"price\": 30}",
                      d ? ", " : "", date);
    }
    snprintf(low + n, size - (size_t)n, "]}");
    snprintf(high + m, size - (size_t)m, "]}");
}

/* The plan reached every step and moved the forecast: price 30 instead of 5
 * raises sales (2 per unit). */
static void expect_plan_applied(const char *low, const char *high) {
    json_t *a, *b;
    cr_assert_eq(post(FC, low, &a), 200);
    cr_assert_eq(post(FC, high, &b), 200);
    cr_expect_eq(json_integer_value(json_object_get(a, "planned_steps")), SFX_HORIZON);
    cr_expect_eq(json_integer_value(json_object_get(a, "carried_steps")), 0);
    double va = json_number_value(json_array_get(json_object_get(a, "values"), 0));
    double vb = json_number_value(json_array_get(json_object_get(b, "values"), 0));
    cr_expect_gt(vb - va, 10.0, "price 30 instead of 5: %g vs %g", va, vb);
    json_decref(a);
    json_decref(b);
}

Test(serve, covariates_for_the_horizon_change_a_regressors_forecast) {
    char low[2048], high[2048];
    covariate_bodies(SFX_KEY, SFX_DAYS, low, high, sizeof(low));
    expect_plan_applied(low, high);
}

/* A key whose newer observations the scorer never received (its state lost
 * them, or they are older than the topic keeps) still forecasts from its
 * model's data end with the plan it is given. */
Test(serve, the_plan_applies_to_a_key_without_newer_observations) {
    const char *key = "store=4/item=1"; /* a decision, no scoring data */
    mm_model_decision_t d = sfx_train_decision(&fx, key, 100, 2.0, 1);
    cr_assert_eq(mm_serve_put_decision(fx.serve, &d), MM_OK);
    char low[2048], high[2048];
    covariate_bodies(key, 100, low, high, sizeof(low));
    expect_plan_applied(low, high);
    json_t *o;
    cr_assert_eq(post(FC, low, &o), 200);
    char first[40];
    sfx_day_iso(100, first, sizeof(first));
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(o, "times"), 0)), first,
                     "the forecast starts the day after the model's data end");
    cr_expect_eq(json_integer_value(json_object_get(o, "new_observations")), 0);
    json_decref(o);
}

Test(serve, a_key_without_a_decision_gets_its_labelled_fallback) {
    json_t *o;
    cr_assert_eq(post(FC, "{\"key\": \"" SFX_FALLBACK "\"}", &o), 200);
    cr_expect_eq(json_object_get(o, "fallback"), json_true());
    cr_expect(json_is_string(json_object_get(o, "fallback_reason")));
    cr_expect(json_is_null(json_object_get(o, "train_id")));
    cr_expect_eq(json_array_size(json_object_get(o, "values")), SFX_HORIZON);
    json_decref(o);
}

Test(serve, several_keys_are_answered_in_one_response_each_with_its_status) {
    json_t *o;
    cr_assert_eq(post(FC,
                      "{\"keys\": [\"" SFX_KEY "\", {\"store\": 2, \"item\": 1}, \"" SFX_UNKNOWN
                      "\", \"" SFX_BROKEN "\"], \"horizon\": 2}",
                      &o),
                 200);
    json_t *r = json_object_get(o, "results");
    cr_assert_eq(json_array_size(r), 4);
    cr_expect_eq(json_array_size(json_object_get(json_array_get(r, 0), "values")), 2);
    cr_expect_eq(json_object_get(json_array_get(r, 1), "fallback"), json_true());
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(r, 1), "key")), SFX_FALLBACK);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(r, 2), "status")), 404);
    cr_expect_str_eq(error_code(json_array_get(r, 2)), "unknown_key");
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(r, 3), "status")), 500);
    cr_expect_str_eq(error_code(json_array_get(r, 3)), "model_unavailable");
    json_decref(o);
}

Test(serve, bad_requests_get_400_naming_the_field) {
    expect_error(FC, "not json", 400, "invalid_json", NULL);
    expect_error(FC, "[1, 2]", 400, "invalid_json", NULL);
    expect_error(FC, "{\"key\": \"" SFX_KEY "\", \"key\": \"x\"}", 400, "invalid_json", NULL);
    expect_error(FC, "{}", 400, "invalid_field", "key");
    expect_error(FC, "{\"key\": \"\"}", 400, "invalid_field", "key");
    expect_error(FC, "{\"key\": 12}", 400, "invalid_field", "key");
    expect_error(FC, "{\"key\": \"a\\u0001b\"}", 400, "invalid_field", "key");
    expect_error(FC, "{\"key\": \"" SFX_KEY "\", \"colour\": 1}", 400, "unknown_field", "colour");
    expect_error(FC, "{\"key\": {\"store\": 1}}", 400, "invalid_field", "key.item");
    char long_name[1024] = "{\"key\": \"" SFX_KEY "\", \"";
    for (int i = 0; i < 150; i++) strcat(long_name, "\u00e9"); /* 2 bytes each in UTF-8 */
    strcat(long_name, "x\": 1}");
    json_t *o;
    cr_expect_eq(post(FC, long_name, &o), 400);
    cr_expect_gt(strlen(error_field(o)), 100, "a name cut to fit stays valid UTF-8 and is shown");
    json_decref(o);
    expect_error(FC, "{\"key\": {\"store\": 1, \"item\": 1, \"shelf\": 2}}", 400, "unknown_field",
                 "key.shelf");
    expect_error(FC, "{\"key\": {\"store\": 1.5, \"item\": 1}}", 400, "invalid_field", "key.store");
    expect_error(FC, "{\"key\": \"" SFX_KEY "\", \"keys\": []}", 400, "invalid_field", "keys");
    expect_error(FC, "{\"keys\": []}", 400, "invalid_field", "keys");
    expect_error(FC, "{\"keys\": [\"" SFX_KEY "\", 5]}", 400, "invalid_field", "keys[1]");
    expect_error(FC, "{\"key\": \"" SFX_KEY "\", \"horizon\": 0}", 400, "invalid_field", "horizon");
    expect_error(FC, "{\"key\": \"" SFX_KEY "\", \"horizon\": 100000}", 400, "invalid_field",
                 "horizon");
    expect_error(FC, "{\"key\": \"" SFX_KEY "\", \"horizon\": \"7\"}", 400, "invalid_field",
                 "horizon");
    expect_error(FC, "{\"key\": \"" SFX_KEY "\", \"as_of\": \"yesterday\"}", 400, "invalid_field",
                 "as_of");
    expect_error(FC, "{\"key\": \"" SFX_KEY "\", \"covariates\": {}}", 400, "invalid_field",
                 "covariates");
    expect_error(FC, "{\"key\": \"" SFX_KEY "\", \"covariates\": [{\"price\": 1}]}", 400,
                 "invalid_field", "covariates[0].date");
    expect_error(FC,
                 "{\"key\": \"" SFX_KEY
                 "\", \"covariates\": [{\"date\": \"1970-05-01\", \"colour\": 1}]}",
                 400, "unknown_field", "covariates[0].colour");
    expect_error(FC,
                 "{\"key\": \"" SFX_KEY
                 "\", \"covariates\": [{\"date\": \"1970-05-01\", \"price\": \"high\"}]}",
                 400, "invalid_field", "covariates[0].price");
    expect_error(FC,
                 "{\"key\": \"" SFX_KEY "\", \"covariates\": [{\"date\": \"1970-05-02\"}, "
                 "{\"date\": \"1970-05-01\"}]}",
                 400, "invalid_field", "covariates[1].date");
    expect_error(FC, "{\"key\": \"" SFX_KEY "\", \"covariates\": [{\"date\": \"1970-01-02\"}]}",
                 400, "invalid_request", NULL);
    expect_error(FC, "{\"keys\": [\"" SFX_KEY "\"], \"covariates\": []}", 400, "invalid_field",
                 "covariates");
    expect_error("/v1/predict", "{\"key\": \"" SFX_KEY "\"}", 400, "invalid_request", NULL);
}

Test(serve, unknown_keys_and_paths_are_404_and_a_wrong_method_405) {
    expect_error(FC, "{\"key\": \"" SFX_UNKNOWN "\"}", 404, "unknown_key", "key");
    char *body = NULL;
    cr_expect_eq(sfx_request(&fx, "GET", "/v1/nothing", NULL, NULL, &body), 404);
    cr_expect(strstr(body, "\"not_found\""), "%s", body);
    free(body);
    cr_expect_eq(sfx_request(&fx, "GET", FC, NULL, NULL, &body), 405);
    cr_expect(strstr(body, "\"method_not_allowed\""), "%s", body);
    free(body);
}

Test(serve, an_artifact_that_cannot_be_loaded_is_a_clear_500_and_the_server_goes_on) {
    expect_error(FC, "{\"key\": \"" SFX_BROKEN "\"}", 500, "model_unavailable", "key");
    expect_error(FC, "{\"key\": \"" SFX_BROKEN "\"}", 500, "model_unavailable", "key");
    json_t *o;
    cr_expect_eq(post(FC, "{\"key\": \"" SFX_KEY "\"}", &o), 200);
    json_decref(o);
    mm_serve_stats_t st;
    mm_serve_stats(fx.serve, &st);
    cr_expect_eq(st.cache_loads_failed, 1,
                 "the second request was answered from the held "
                 "failure, not a second load");
}

Test(serve, the_model_route_describes_the_production_model) {
    char *text = NULL;
    cr_assert_eq(sfx_request(&fx, "GET", "/v1/models/" SFX_KEY, NULL, NULL, &text), 200, "%s",
                 text);
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    cr_assert_not_null(o);
    json_t *p = json_object_get(o, "production");
    cr_assert(json_is_object(p));
    cr_expect_eq(json_integer_value(json_object_get(p, "version")), 1);
    cr_expect_str_eq(json_string_value(json_object_get(p, "algorithm")), "ridge");
    cr_expect_eq(json_array_size(json_object_get(p, "members")), 1);
    cr_expect_gt(json_object_size(json_object_get(p, "metrics")), 0, "backtest metrics");
    cr_expect(json_is_number(json_object_get(json_object_get(p, "metrics"), "mase")));
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(p, "data_window"), "rows")),
                 100);
    cr_expect_str_eq(json_string_value(json_object_get(o, "decision")), "approved");
    json_decref(o);
    cr_expect_eq(sfx_request(&fx, "GET", "/v1/models/" SFX_UNKNOWN, NULL, NULL, &text), 404);
    cr_expect(strstr(text, "unknown_key"), "%s", text);
    free(text);
    cr_expect_eq(sfx_request(&fx, "GET", "/v1/models/" SFX_BROKEN, NULL, NULL, &text), 500);
    cr_expect(strstr(text, "model_unavailable"), "%s", text);
    free(text);
    cr_expect_eq(sfx_request(&fx, "GET", "/v1/models/", NULL, NULL, &text), 400);
    free(text);
}

Test(serve, metrics_count_requests_by_route_and_status_and_never_name_a_key) {
    json_t *o;
    cr_assert_eq(post(FC, "{\"key\": \"" SFX_KEY "\"}", &o), 200);
    json_decref(o);
    cr_assert_eq(post(FC, "{\"key\": \"" SFX_KEY "\"}", &o), 200);
    json_decref(o);
    cr_assert_eq(post(FC, "{\"key\": \"" SFX_UNKNOWN "\"}", &o), 404);
    json_decref(o);
    char *text = NULL;
    cr_assert_eq(sfx_request(&fx, "GET", "/metrics", NULL, NULL, &text), 200);
    cr_expect(strstr(text, "mm_http_requests_total{route=\"/v1/forecast\",method=\"POST\","
                           "status=\"200\"} 2"),
              "%s", text);
    cr_expect(strstr(text, "status=\"404\"} 1"), "%s", text);
    cr_expect(strstr(text, "mm_http_request_duration_seconds_bucket{route=\"/v1/forecast\""), "%s",
              text);
    cr_expect(strstr(text, "mm_scorer_model_cache_hits_total 1"), "%s", text);
    cr_expect(strstr(text, "mm_scorer_model_cache_misses_total 1"), "%s", text);
    cr_expect(strstr(text, "mm_scorer_model_loads_total{outcome=\"ok\"} 1"), "%s", text);
    cr_expect(strstr(text, "mm_scorer_model_load_duration_seconds_count 1"), "%s", text);
    cr_expect(strstr(text, "mm_scorer_decisions_applied_total 2"), "%s", text);
    cr_expect(strstr(text, "mm_scorer_scoring_data_lag 0"), "%s", text);
    cr_expect(strstr(text, "mm_scorer_model_cache_bytes "), "%s", text);
    cr_expect_null(strstr(text, "store="), "no label names a key");
    free(text);
}

Test(serve, a_body_over_the_limit_is_413) {
    sfx_fini(&fx);
    sfx_opts_t opts = {.max_body = 64};
    sfx_init(&fx, &opts);
    char body[256];
    snprintf(body, sizeof(body), "{\"key\": \"" SFX_KEY "\", \"horizon\": 3%*s}", 100, "");
    expect_error(FC, body, 413, "body_too_large", NULL);
    expect_error(FC, "{\"key\": \"" SFX_UNKNOWN "\"}", 404, "unknown_key", NULL);
}

Test(serve, more_keys_than_the_limit_is_400) {
    sfx_fini(&fx);
    sfx_opts_t opts = {.max_keys = 2};
    sfx_init(&fx, &opts);
    expect_error(FC, "{\"keys\": [\"a=1\", \"a=2\", \"a=3\"]}", 400, "too_many_keys", "keys");
}

Test(serve, every_route_but_health_is_503_until_caught_up) {
    sfx_fini(&fx);
    sfx_opts_t opts = {.not_caught_up = true};
    sfx_init(&fx, &opts);
    expect_error(FC, "{\"key\": \"" SFX_KEY "\"}", 503, "not_ready", NULL);
    char *text = NULL;
    cr_expect_eq(sfx_request(&fx, "GET", "/v1/models/" SFX_KEY, NULL, NULL, &text), 503);
    free(text);
    cr_expect_eq(sfx_request(&fx, "GET", "/readyz", NULL, NULL, &text), 503);
    cr_expect(strstr(text, "mm.decisions"), "the reason: %s", text);
    free(text);
    cr_expect_eq(sfx_request(&fx, "GET", "/healthz", NULL, NULL, &text), 200);
    free(text);
    mm_serve_set_caught_up(fx.serve);
    cr_expect_eq(sfx_request(&fx, "GET", "/readyz", NULL, NULL, &text), 200);
    free(text);
    json_t *o;
    cr_expect_eq(post(FC, "{\"key\": \"" SFX_KEY "\"}", &o), 200);
    json_decref(o);
    mm_serve_set_draining(fx.serve);
    cr_expect_eq(sfx_request(&fx, "GET", "/readyz", NULL, NULL, &text), 503,
                 "not ready while shutting down");
    free(text);
}

Test(serve, without_fallbacks_a_key_without_a_model_is_404_no_model) {
    sfx_fini(&fx);
    sfx_opts_t opts = {.spec_extra = "\"scoring\": {\"fallback\": \"none\"}"};
    sfx_init(&fx, &opts);
    expect_error(FC, "{\"key\": \"" SFX_FALLBACK "\"}", 404, "no_model", "key");
    json_t *o;
    cr_expect_eq(post(FC, "{\"key\": \"" SFX_KEY "\"}", &o), 200);
    json_decref(o);
}

Test(serve, bearer_tokens_guard_every_route_but_health_and_metrics) {
    sfx_fini(&fx);
    sfx_opts_t opts = {.tokens = "another-token-abcdefgh," TOKEN};
    sfx_init(&fx, &opts);
    const char *body = "{\"key\": \"" SFX_KEY "\"}";
    char *text = NULL;
    cr_expect_eq(sfx_request(&fx, "POST", FC, body, NULL, &text), 401, "no token");
    cr_expect(strstr(text, "\"unauthorized\""), "%s", text);
    free(text);
    cr_expect_eq(sfx_request(&fx, "POST", FC, body, "Bearer wrong-token-0123456789", &text), 401);
    free(text);
    cr_expect_eq(sfx_request(&fx, "POST", FC, body, "Basic " TOKEN, &text), 401, "not a bearer");
    free(text);
    cr_expect_eq(sfx_request(&fx, "POST", FC, body, BEARER "x", &text), 401, "a longer token");
    free(text);
    cr_expect_eq(sfx_request(&fx, "GET", "/v1/models/" SFX_KEY, NULL, NULL, &text), 401);
    free(text);
    cr_expect_eq(sfx_request(&fx, "POST", FC, body, BEARER, &text), 200, "%s", text);
    free(text);
    cr_expect_eq(sfx_request(&fx, "POST", FC, body, "bearer another-token-abcdefgh", &text), 200);
    free(text);
    cr_expect_eq(sfx_request(&fx, "GET", "/healthz", NULL, NULL, &text), 200);
    free(text);
    cr_expect_eq(sfx_request(&fx, "GET", "/readyz", NULL, NULL, &text), 200);
    free(text);
    cr_expect_eq(sfx_request(&fx, "GET", "/metrics", NULL, NULL, &text), 200);
    cr_expect_null(strstr(text, TOKEN), "no token in the metrics");
    free(text);
}

/* ------------------------------------------------------------ hot swap */

typedef struct swap_run {
    atomic_bool stop;
    atomic_int requests, failures, bad_versions;
    atomic_int seen_v2_after_swap;
    atomic_bool swapped;
} swap_run_t;

static void *hammer(void *opaque) {
    swap_run_t *run = opaque;
    while (!atomic_load(&run->stop)) {
        bool after = atomic_load(&run->swapped);
        char *text = NULL;
        int status =
            sfx_request(&fx, "POST", FC, "{\"key\": \"" SFX_KEY "\", \"horizon\": 3}", NULL, &text);
        json_t *o = json_loads(text, 0, NULL);
        free(text);
        atomic_fetch_add(&run->requests, 1);
        if (status != 200 || !o) {
            atomic_fetch_add(&run->failures, 1);
        } else {
            json_int_t v = json_integer_value(json_object_get(o, "model_version"));
            if (v != 1 && v != 2) atomic_fetch_add(&run->bad_versions, 1);
            if (after && v != 2) atomic_fetch_add(&run->bad_versions, 1);
            if (after && v == 2) atomic_fetch_add(&run->seen_v2_after_swap, 1);
        }
        json_decref(o);
    }
    return NULL;
}

Test(serve, a_new_decision_swaps_the_model_while_requests_run) {
    enum { THREADS = 4, SWAPS = 5 };
    swap_run_t run = {0};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) cr_assert_eq(pthread_create(&th[i], NULL, hammer, &run), 0);
    /* Versions alternate 2, 1, 2, ... (distinct artifacts); the last one is 2. */
    mm_model_decision_t v2 = sfx_train_decision(&fx, SFX_KEY, 90, 2.5, 2);
    mm_model_decision_t v1 = sfx_train_decision(&fx, SFX_KEY, 100, 2.0, 1);
    for (int i = 0; i < SWAPS; i++) {
        while (atomic_load(&run.requests) < (i + 1) * 10) sched_yield();
        mm_model_decision_t d = sfx_decision_copy(i % 2 == 0 ? &v2 : &v1);
        cr_assert_eq(mm_serve_put_decision(fx.serve, &d), MM_OK);
    }
    atomic_store(&run.swapped, true);
    int base = atomic_load(&run.requests);
    while (atomic_load(&run.requests) < base + 40) sched_yield();
    atomic_store(&run.stop, true);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    mm_model_decision_clear(&v1);
    mm_model_decision_clear(&v2);
    cr_expect_eq(atomic_load(&run.failures), 0, "no request failed during the swaps");
    cr_expect_eq(atomic_load(&run.bad_versions), 0,
                 "every answer came from version 1 or 2, and from 2 after the last swap");
    cr_expect_gt(atomic_load(&run.seen_v2_after_swap), 0);
}

/* A copy of @p base numbered @p k: candidate_version k, reason "decision <k> ..." (long, so
 * that a freed one's memory is soon reused). */
static mm_model_decision_t numbered_decision(const mm_model_decision_t *base, int k) {
    mm_model_decision_t d = sfx_decision_copy(base);
    char reason[512];
    snprintf(reason, sizeof(reason), "decision %d %0400d", k, k);
    free((char *)d.reason);
    d.reason = strdup(reason);
    cr_assert_not_null(d.reason);
    d.candidate_version = k;
    return d;
}

/* The decision GET /v1/models/{key} would describe, checked whole: its number, or -1. */
static int described_decision(void) {
    mm_serve_model_info_t info;
    cr_assert(mm_serve_model_info(fx.serve, SFX_KEY, &info), "the key has a decision");
    int k = info.decision.candidate_version;
    char reason[512];
    snprintf(reason, sizeof(reason), "decision %d %0400d", k, k);
    bool whole = info.decision.reason && strcmp(info.decision.reason, reason) == 0 &&
                 info.decision.partition_key && strcmp(info.decision.partition_key, SFX_KEY) == 0;
    mm_serve_model_info_clear(&info);
    return whole ? k : -1;
}

typedef struct stale_run {
    atomic_int round; /* the decision number put last; -1 = stop */
    atomic_int stale, torn, reads;
} stale_run_t;

/* Ask for the key's decision right after each new one was put: never the older one. */
static void *ask_each_round(void *opaque) {
    stale_run_t *run = opaque;
    for (int seen = 0;;) {
        int round = atomic_load(&run->round);
        if (round < 0) break;
        if (round == seen) {
            sched_yield();
            continue;
        }
        for (int i = 0; i < 20; i++) {
            int k = described_decision();
            atomic_fetch_add(&run->reads, 1);
            if (k < 0)
                atomic_fetch_add(&run->torn, 1);
            else if (k < round)
                atomic_fetch_add(&run->stale, 1);
        }
        seen = round;
    }
    return NULL;
}

Test(serve, a_workers_hot_memory_never_answers_a_decision_older_than_the_last_applied) {
    enum { THREADS = 4, ROUNDS = 40 };
    mm_serve_model_info_t info;
    cr_assert(mm_serve_model_info(fx.serve, SFX_KEY, &info));
    mm_model_decision_t base = sfx_decision_copy(&info.decision);
    mm_serve_model_info_clear(&info);
    base.has_production = false; /* the decision's own fields only: no artifact to read */
    stale_run_t run = {0};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, ask_each_round, &run), 0);
    for (int k = 1; k <= ROUNDS; k++) {
        mm_model_decision_t d = numbered_decision(&base, k);
        cr_assert_eq(mm_serve_put_decision(fx.serve, &d), MM_OK);
        atomic_store(&run.round, k);
        /* every thread's questions about this round, from every worker's memory */
        while (atomic_load(&run.reads) < k * THREADS * 20) sched_yield();
    }
    atomic_store(&run.round, -1);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    mm_model_decision_clear(&base);
    cr_expect_eq(atomic_load(&run.torn), 0, "every decision read was whole");
    cr_expect_eq(atomic_load(&run.stale), 0,
                 "no read after a decision was applied answered an older one");
    mm_serve_stats_t st;
    mm_serve_stats(fx.serve, &st);
    cr_expect_eq(st.keys_with_decisions, 2, "two keys (the key and the broken one)");
}

typedef struct hold_run {
    atomic_bool stop;
    atomic_int torn, backwards, reads;
} hold_run_t;

/* Read the key's decision (and its model) over and over while it is replaced. */
static void *read_while_replaced(void *opaque) {
    hold_run_t *run = opaque;
    int last = 0;
    while (!atomic_load(&run->stop)) {
        int k = described_decision();
        atomic_fetch_add(&run->reads, 1);
        if (k < 0)
            atomic_fetch_add(&run->torn, 1);
        else if (k < last)
            atomic_fetch_add(&run->backwards, 1);
        if (k > last) last = k;
    }
    return NULL;
}

Test(serve, a_decision_replaced_while_requests_hold_it_stays_whole_until_they_are_done) {
    enum { THREADS = 4, DECISIONS = 300 };
    mm_serve_model_info_t info;
    cr_assert(mm_serve_model_info(fx.serve, SFX_KEY, &info));
    mm_model_decision_t base = sfx_decision_copy(&info.decision);
    mm_serve_model_info_clear(&info);
    mm_model_decision_t first = numbered_decision(&base, 1);
    cr_assert_eq(mm_serve_put_decision(fx.serve, &first), MM_OK);
    hold_run_t run = {0};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, read_while_replaced, &run), 0);
    for (int k = 2; k <= DECISIONS; k++) {
        /* let requests take the current one before it is replaced */
        int base_reads = atomic_load(&run.reads);
        while (atomic_load(&run.reads) < base_reads + 2) sched_yield();
        mm_model_decision_t d = numbered_decision(&base, k);
        cr_assert_eq(mm_serve_put_decision(fx.serve, &d), MM_OK);
    }
    atomic_store(&run.stop, true);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    cr_expect_eq(described_decision(), DECISIONS, "the last decision applied is the key's");
    mm_model_decision_clear(&base);
    cr_expect_eq(atomic_load(&run.torn), 0,
                 "a request held its decision whole while newer ones replaced it");
    cr_expect_eq(atomic_load(&run.backwards), 0,
                 "no request saw an older decision after a newer one");
}

Test(serve, as_of_forecasts_from_that_time) {
    json_t *o;
    cr_assert_eq(
        post(FC, "{\"key\": \"" SFX_KEY "\", \"as_of\": \"1970-04-20\", \"horizon\": 2}", &o), 200);
    char first[40], watermark[40];
    sfx_day_iso(109, watermark, sizeof(watermark)); /* 1970-04-20 is day 109 */
    sfx_day_iso(110, first, sizeof(first));
    cr_expect_str_eq(json_string_value(json_object_get(o, "data_watermark")), watermark,
                     "observations after as_of are not used");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(o, "times"), 0)), first);
    json_decref(o);
    cr_assert_eq(post(FC, "{\"key\": \"" SFX_KEY "\", \"as_of\": 9417600000, \"horizon\": 1}", &o),
                 200, "epoch milliseconds work too");
    cr_expect_str_eq(json_string_value(json_object_get(o, "data_watermark")), watermark);
    json_decref(o);
    cr_assert_eq(post(FC, "{\"key\": \"" SFX_KEY "\", \"as_of\": 9430000000, \"horizon\": 1}", &o),
                 200, "a time between steps forecasts from the step before it");
    cr_expect_str_eq(json_string_value(json_object_get(o, "data_watermark")), watermark);
    json_decref(o);
    expect_error(FC, "{\"key\": \"" SFX_KEY "\", \"as_of\": \"1970-01-10\"}", 400,
                 "invalid_request", NULL);
}

/* Arbitrary bytes get an answer (never a crash or a hang): a bounded set of statuses. */
Test(serve, arbitrary_bodies_get_a_clear_answer) {
    static const char *const seeds[] = {
        "{\"key\": \"" SFX_KEY "\", \"horizon\": 3}",
        "{\"keys\": [\"" SFX_KEY "\", {\"store\": 1, \"item\": 1}], \"as_of\": 1}",
        "{\"key\": \"" SFX_KEY "\", \"covariates\": [{\"date\": \"1970-05-01\", \"price\": 1}]}",
    };
    unsigned seed = 12345;
    char body[512];
    for (int i = 0; i < 3000; i++) {
        const char *s = seeds[i % 3];
        size_t n = strlen(s);
        memcpy(body, s, n + 1);
        for (int k = 0; k < 1 + i % 4; k++) { /* flip, cut or duplicate a few bytes */
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            switch ((seed >> 4) % 3) {
            case 0:
                body[at] = (char)(seed >> 16);
                break;
            case 1:
                body[at] = '\0';
                break;
            default:
                body[at] = body[(at + 7) % n];
                break;
            }
        }
        char *text = NULL;
        int status = sfx_request(&fx, "POST", FC, body, NULL, &text);
        cr_assert(status == 200 || status == 400 || status == 404 || status == 500,
                  "status %d for %s", status, body);
        cr_assert(text[0] == '{', "JSON for %s: %s", body, text);
        free(text);
    }
    json_t *o;
    cr_expect_eq(post(FC, "{\"key\": \"" SFX_KEY "\"}", &o), 200, "still answering");
    json_decref(o);
}

Test(serve, a_key_with_entity_columns_is_answered_per_entity) {
    sfx_fini(&fx);
    sfx_opts_t opts = {.spec_extra = "\"entity\": [\"shelf\"]"};
    sfx_init(&fx, &opts);
    /* Two entities of SFX_KEY with their own rows. */
    char errstr[1024];
    mm_scoring_data_t *sd =
        mm_scoring_data_open(fx.state_path, &fx.spec, 400, "mm-scorer", errstr, sizeof(errstr));
    cr_assert_not_null(sd, "%s", errstr);
    static int64_t t[2 * SFX_DAYS];
    static double y[2 * SFX_DAYS], price[2 * SFX_DAYS];
    static int32_t which[2 * SFX_DAYS];
    for (int e = 0; e < 2; e++)
        for (int d = 0; d < SFX_DAYS; d++) {
            int i = e * SFX_DAYS + d;
            t[i] = d * SFX_DAY_MS;
            y[i] = sfx_sales_of(d, 2.0) + 10.0 * e;
            price[i] = sfx_price_of(d);
            which[i] = e;
        }
    const char *names[] = {"shelf=a", "shelf=b"};
    mm_obs_column_t col = {.name = "price", .values = price};
    mm_observation_batch_t b = {.dataset = "sales",
                                .spec_hash = fx.spec.hash,
                                .partition_key = SFX_KEY,
                                .load_id = "load-2",
                                .n_rows = 2 * SFX_DAYS,
                                .time_ms = t,
                                .target = y,
                                .n_columns = 1,
                                .columns = &col,
                                .n_entities = 2,
                                .entities = names,
                                .n_entity_of_row = 2 * SFX_DAYS,
                                .entity_of_row = which};
    cr_assert_eq(mm_scoring_data_apply(sd, NULL, 0, 0, &b, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    mm_scoring_data_close(sd);
    json_t *o;
    cr_assert_eq(post(FC, "{\"key\": \"" SFX_KEY "\", \"horizon\": 2}", &o), 200);
    json_t *entities = json_object_get(o, "entities");
    cr_assert(json_is_array(entities), "one answer per entity");
    int seen = 0;
    for (size_t i = 0; i < json_array_size(entities); i++) {
        const char *e = json_string_value(json_object_get(json_array_get(entities, i), "entity"));
        if (e && (strcmp(e, "shelf=a") == 0 || strcmp(e, "shelf=b") == 0)) {
            seen++;
            cr_expect_eq(json_array_size(json_object_get(json_array_get(entities, i), "values")),
                         2);
        }
    }
    cr_expect_eq(seen, 2, "both entities answered: %s", json_dumps(o, 0));
    json_decref(o);
}

/* Apply one more observed day (@p day) of @p key to the store the server reads. */
static void add_observed_day(const char *key, int day) {
    char errstr[1024];
    mm_scoring_data_t *sd =
        mm_scoring_data_open(fx.state_path, &fx.spec, 400, "mm-scorer", errstr, sizeof(errstr));
    cr_assert_not_null(sd, "%s", errstr);
    int64_t t = day * SFX_DAY_MS;
    double y = sfx_sales_of(day, 2.0), price = sfx_price_of(day);
    mm_obs_column_t col = {.name = "price", .values = &price};
    mm_observation_batch_t b = {.dataset = "sales",
                                .spec_hash = fx.spec.hash,
                                .partition_key = key,
                                .load_id = "load-2",
                                .n_rows = 1,
                                .time_ms = &t,
                                .target = &y,
                                .n_columns = 1,
                                .columns = &col};
    cr_assert_eq(mm_scoring_data_apply(sd, NULL, 0, 0, &b, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    mm_scoring_data_close(sd);
}

Test(serve, repeated_forecasts_are_identical_and_see_new_observations) {
    const char *body = "{\"key\": \"" SFX_KEY "\"}";
    char *first = NULL;
    cr_assert_eq(sfx_request(&fx, "POST", FC, body, NULL, &first), 200);
    for (int i = 0; i < 20; i++) {
        char *again = NULL;
        cr_assert_eq(sfx_request(&fx, "POST", FC, body, NULL, &again), 200);
        cr_assert_str_eq(again, first, "request %d answers the same as the first", i);
        free(again);
    }
    free(first);
    add_observed_day(SFX_KEY, SFX_DAYS);
    json_t *o;
    cr_assert_eq(post(FC, body, &o), 200);
    char watermark[40], next[40];
    sfx_day_iso(SFX_DAYS, watermark, sizeof(watermark));
    sfx_day_iso(SFX_DAYS + 1, next, sizeof(next));
    cr_expect_str_eq(json_string_value(json_object_get(o, "data_watermark")), watermark,
                     "an observation applied after the reads is in the next answer");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(o, "times"), 0)), next);
    cr_expect_str_eq(json_string_value(json_object_get(o, "load_id")), "load-2");
    json_decref(o);
}
