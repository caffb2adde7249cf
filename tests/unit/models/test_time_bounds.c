/*
 * test_time_bounds.c - forecast times data_end + k * period stay inside
 * int64: the config refuses periods over 100 years, the loader refuses
 * artifacts (with a valid CRC) whose period or data end is out of range,
 * training refuses times outside years 1..9999, and at the edges of the
 * accepted range the longest forecast computes its times exactly.
 */
#include <criterion/criterion.h>

#include "models_int.h"
#include "testdata.h"

#define SERIES_LEN 120

static mm_model_config_t snaive_cfg(mm_algo_t algo) {
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = MM_MODELS__BIT(algo);
    cfg.holdout = 7;
    cfg.horizon = 7;
    cfg.min_history = 0;
    return cfg;
}

/* A trained and loaded model of @p algo on a weekly-seasonal daily series. */
static mm_model_t *trained(mm_algo_t algo) {
    td_series_t ts;
    td_seasonal(&ts, SERIES_LEN, 7, 50, 0.1, 5, 1);
    mm_model_config_t cfg = snaive_cfg(algo);
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_eq(res.algorithm, algo, "%s", res.fallback_reason);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_OK, "%s", errstr);
    mm_train_result_clear(&res);
    td_free(&ts);
    return model;
}

/* Write @p model back (a valid artifact, CRC included) and load it again. */
static mm_err_t reload(const mm_model_t *model, mm_model_t **out, char *errstr, size_t size) {
    uint8_t *bytes = NULL;
    size_t len = 0;
    cr_assert_eq(mm_models__serialize(model, &bytes, &len, errstr, size), MM_OK, "%s", errstr);
    mm_err_t err = mm_model_load(bytes, len, out, errstr, size);
    free(bytes);
    return err;
}

Test(time_bounds, config_refuses_a_period_over_a_hundred_years) {
    mm_model_config_t cfg = snaive_cfg(MM_ALGO_SNAIVE);
    char errstr[256] = "";
    cfg.period_ms = INT64_C(8000000000000000000);
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cr_assert(strstr(errstr, "period_ms") != NULL, "%s", errstr);
    cfg.period_ms = MM_MODELS__MAX_PERIOD_MS + 1;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_ERR_CONFIG);
    cfg.period_ms = MM_MODELS__MAX_PERIOD_MS;
    cr_assert_eq(mm_model_config_validate(&cfg, errstr, sizeof errstr), MM_OK, "%s", errstr);
}

Test(time_bounds, artifact_with_a_huge_period_is_a_load_error) {
    const mm_algo_t algos[] = {MM_ALGO_SNAIVE, MM_ALGO_RIDGE};
    for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++) {
        mm_model_t *model = trained(algos[i]);
        model->cfg.period_ms = INT64_C(8000000000000000000);
        mm_model_t *again = NULL;
        char errstr[256] = "";
        cr_assert_eq(reload(model, &again, errstr, sizeof errstr), MM_ERR_PARSE, "%s",
                     mm_algo_name(algos[i]));
        cr_assert_null(again);
        cr_assert(strstr(errstr, "period_ms") != NULL, "%s", errstr);
        mm_model_destroy(model);
    }
}

Test(time_bounds, artifact_with_a_data_end_near_int64_max_is_a_load_error) {
    const mm_algo_t algos[] = {MM_ALGO_SNAIVE, MM_ALGO_RIDGE};
    const int64_t ends[] = {INT64_C(9223372036854775000), MM_MODELS__MAX_TIME_MS + 1,
                            MM_MODELS__MIN_TIME_MS - 1, INT64_MIN};
    for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++) {
        mm_model_t *model = trained(algos[i]);
        for (size_t k = 0; k < sizeof ends / sizeof ends[0]; k++) {
            model->data_end_ms = ends[k];
            mm_model_t *again = NULL;
            char errstr[256] = "";
            cr_assert_eq(reload(model, &again, errstr, sizeof errstr), MM_ERR_PARSE, "%s %lld",
                         mm_algo_name(algos[i]), (long long)ends[k]);
            cr_assert_null(again);
            cr_assert(strstr(errstr, "data end") != NULL, "%s", errstr);
        }
        mm_model_destroy(model);
    }
}

Test(time_bounds, longest_forecast_at_the_edges_of_the_range_has_exact_times) {
    const mm_algo_t algos[] = {MM_ALGO_SNAIVE, MM_ALGO_RIDGE};
    for (size_t i = 0; i < sizeof algos / sizeof algos[0]; i++) {
        mm_model_t *model = trained(algos[i]);
        model->data_end_ms = MM_MODELS__MAX_TIME_MS;
        model->cfg.period_ms = MM_MODELS__MAX_PERIOD_MS;
        mm_model_t *again = NULL;
        char errstr[256] = "";
        cr_assert_eq(reload(model, &again, errstr, sizeof errstr), MM_OK, "%s", errstr);
        mm_forecast_t fc;
        size_t h = MM_MODELS__MAX_FORECAST_STEPS;
        cr_assert_eq(mm_model_forecast(again, h, NULL, &fc, errstr, sizeof errstr), MM_OK, "%s",
                     errstr);
        for (size_t k = 0; k < h; k++)
            cr_assert_eq(fc.time_ms[k],
                         MM_MODELS__MAX_TIME_MS + (int64_t)(k + 1) * MM_MODELS__MAX_PERIOD_MS);
        cr_assert(fc.time_ms[h - 1] > fc.time_ms[0], "no wrap-around");
        mm_forecast_clear(&fc);
        mm_model_destroy(again);
        mm_model_destroy(model);
    }
}

Test(time_bounds, training_refuses_times_outside_years_1_to_9999) {
    td_series_t ts;
    td_seasonal(&ts, SERIES_LEN, 7, 50, 0.1, 5, 1);
    mm_model_config_t cfg = snaive_cfg(MM_ALGO_SNAIVE);
    mm_train_result_t res;
    char errstr[256] = "";
    int64_t last = ts.t[SERIES_LEN - 1];
    ts.t[SERIES_LEN - 1] = INT64_C(9223372036854775000);
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "years") != NULL, "%s", errstr);
    ts.t[SERIES_LEN - 1] = last;
    ts.t[0] = MM_MODELS__MIN_TIME_MS - 1;
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_ERR_INVALID_ARG);
    ts.t[0] = MM_MODELS__MIN_TIME_MS;
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    mm_train_result_clear(&res);
    td_free(&ts);
}
