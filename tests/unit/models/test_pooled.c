/*
 * test_pooled.c - one model for several series (mm_model_train_pooled):
 * only learners pool, the backtest judges every entity, the artifact is
 * marked pooled and a forecast from scoring data takes every lag from the
 * entity's own rows, the pooled fallback is each entity's seasonal naive,
 * and a pooled classifier scores each entity's newest telemetry.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/model.h"
#include "testdata.h"

#define ENTITIES 4
#define DAYS     300

static char errstr[512];

/* Entity e: level 20 * (e + 1), a weekly pattern, a little noise. */
static void make_entities(td_series_t *ts, mm_series_t *series) {
    for (size_t e = 0; e < ENTITIES; e++) {
        td_seasonal(&ts[e], DAYS, 7 + e, 20.0 * (double)(e + 1), 0.0, 5.0, 1.0);
        series[e] = ts[e].s;
    }
}

static mm_model_config_t daily_config(void) {
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    return cfg;
}

static mm_model_t *load(const mm_train_result_t *res) {
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res->artifact, res->artifact_len, &model, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    return model;
}

/* Forecast entity @p ts from its last @p keep points with @p model. */
static double mean_forecast(const mm_model_t *model, const td_series_t *ts, size_t keep, size_t h) {
    mm_series_t recent = {
        .n = keep, .time_ms = ts->t + ts->n - keep, .y = ts->y + ts->n - keep, .n_exog = 0};
    mm_scoring_input_t in = {.recent = &recent};
    mm_forecast_t fc;
    mm_forecast_info_t info;
    cr_assert_eq(mm_model_forecast_from(model, &in, h, &fc, &info, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_eq(info.watermark_ms, ts->t[ts->n - 1],
                 "the forecast starts after the entity's "
                 "latest row");
    cr_assert_eq(fc.time_ms[0], ts->t[ts->n - 1] + TD_DAY_MS);
    double sum = 0;
    for (size_t k = 0; k < h; k++) sum += fc.mean[k];
    mm_forecast_clear(&fc);
    return sum / (double)h;
}

Test(pooled, a_learner_trained_on_all_entities_forecasts_each_from_its_own_rows) {
    td_series_t ts[ENTITIES];
    mm_series_t series[ENTITIES];
    make_entities(ts, series);
    mm_model_config_t cfg = daily_config();
    mm_train_result_t res;
    cr_assert_eq(mm_model_train_pooled(&cfg, series, ENTITIES, &res, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert(res.algorithm == MM_ALGO_RIDGE || res.algorithm == MM_ALGO_XGBOOST,
              "only learners pool: got %s", mm_algo_name(res.algorithm));
    cr_assert(isfinite(res.per_algo[MM_ALGO_RIDGE].v[MM_METRIC_MASE]));
    cr_assert(isfinite(res.per_algo[MM_ALGO_XGBOOST].v[MM_METRIC_MASE]),
              "1,200 rows reach xgb_min_history: the trees are tried too");
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    cr_assert(isnan(res.per_algo[MM_ALGO_ETS].v[MM_METRIC_MASE]), "ETS is no pooled candidate");
    cr_assert(isfinite(res.metrics.v[MM_METRIC_MASE]));
    cr_assert(isfinite(res.baseline.v[MM_METRIC_MASE]), "seasonal naive per entity is measured");
    cr_assert_lt(res.metrics.v[MM_METRIC_MASE], 1.5);
    mm_model_t *model = load(&res);
    cr_assert_eq(mm_model_entities(model), ENTITIES);
    for (size_t e = 0; e < ENTITIES; e++) {
        double level = 20.0 * (double)(e + 1), got = mean_forecast(model, &ts[e], 60, 28);
        cr_assert(fabs(got - level) < 3.0, "entity %zu: mean forecast %g, level %g", e, got, level);
    }
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    for (size_t e = 0; e < ENTITIES; e++) td_free(&ts[e]);
}

Test(pooled, without_a_learner_among_the_candidates_each_entity_gets_its_seasonal_naive) {
    td_series_t ts[ENTITIES];
    mm_series_t series[ENTITIES];
    make_entities(ts, series);
    mm_model_config_t cfg = daily_config();
    cfg.candidates = (1u << MM_ALGO_ETS) | (1u << MM_ALGO_SNAIVE);
    mm_train_result_t res;
    cr_assert_eq(mm_model_train_pooled(&cfg, series, ENTITIES, &res, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert(res.fallback);
    cr_assert_eq(res.algorithm, MM_ALGO_SNAIVE);
    cr_assert(strstr(res.fallback_reason, "no pooled learner"), "%s", res.fallback_reason);
    mm_model_t *model = load(&res);
    for (size_t e = 0; e < ENTITIES; e++) {
        /* a 7-step forecast of seasonal naive is the entity's last week, in order */
        mm_series_t recent = {.n = 14, .time_ms = ts[e].t + DAYS - 14, .y = ts[e].y + DAYS - 14};
        mm_scoring_input_t in = {.recent = &recent};
        mm_forecast_t fc;
        cr_assert_eq(mm_model_forecast_from(model, &in, 7, &fc, NULL, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
        for (size_t k = 0; k < 7; k++)
            cr_assert_float_eq(fc.mean[k], ts[e].y[DAYS - 7 + k], 1e-9, "entity %zu step %zu", e,
                               k);
        mm_forecast_clear(&fc);
    }
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    for (size_t e = 0; e < ENTITIES; e++) td_free(&ts[e]);
}

Test(pooled, one_series_is_trained_as_mm_model_train_does) {
    td_series_t ts;
    td_seasonal(&ts, DAYS, 3, 50, 0.01, 5, 1);
    mm_model_config_t cfg = daily_config();
    mm_train_result_t a, b;
    cr_assert_eq(mm_model_train_pooled(&cfg, &ts.s, 1, &a, errstr, sizeof(errstr)), MM_OK);
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &b, errstr, sizeof(errstr)), MM_OK);
    cr_assert_eq(a.artifact_len, b.artifact_len);
    cr_assert(memcmp(a.artifact, b.artifact, a.artifact_len) == 0);
    mm_model_t *model = load(&a);
    cr_assert_eq(mm_model_entities(model), 0);
    mm_model_destroy(model);
    mm_train_result_clear(&a);
    mm_train_result_clear(&b);
    td_free(&ts);
}

Test(pooled, short_entities_fall_back_with_a_reason_and_bad_input_is_refused) {
    td_series_t ts[ENTITIES];
    mm_series_t series[ENTITIES];
    for (size_t e = 0; e < ENTITIES; e++) {
        td_seasonal(&ts[e], 20, 11 + e, 10, 0, 1, 0.1);
        series[e] = ts[e].s;
    }
    mm_model_config_t cfg = daily_config();
    mm_train_result_t res;
    cr_assert_eq(mm_model_train_pooled(&cfg, series, ENTITIES, &res, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert(res.fallback);
    cr_assert(strstr(res.fallback_reason, "below min_history"), "%s", res.fallback_reason);
    mm_train_result_clear(&res);
    cr_assert_eq(mm_model_train_pooled(&cfg, series, 0, &res, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    series[2].n_exog = 1;
    series[2].exog = NULL;
    cr_assert_eq(mm_model_train_pooled(&cfg, series, ENTITIES, &res, errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_assert(strstr(errstr, "series 2"), "%s", errstr);
    for (size_t e = 0; e < ENTITIES; e++) td_free(&ts[e]);
}

/* Hourly telemetry of machine e: a failure follows a run of high voltage. */
static void make_machine(td_series_t *ts, size_t n, uint64_t seed) {
    td_alloc(ts, n, 1);
    td_rng_t r = {seed};
    for (size_t i = 0; i < n; i++) {
        ts->t[i] = TD_START_MS + (int64_t)i * 3600000;
        ts->x[0][i] = 170 + 5 * td_norm(&r);
        ts->y[i] = 0;
    }
    for (size_t at = 150; at + 30 < n; at += 150 + (size_t)(td_unif(&r) * 60)) {
        for (size_t i = at - 12; i < at; i++) ts->x[0][i] = 230 + 5 * td_norm(&r);
        ts->y[at] = 1;
    }
}

Test(pooled, a_pooled_classifier_scores_each_machine_from_its_own_telemetry) {
    enum { MACHINES = 3, HOURS = 2000 };
    td_series_t ts[MACHINES];
    mm_series_t series[MACHINES];
    for (size_t e = 0; e < MACHINES; e++) {
        make_machine(&ts[e], HOURS, 100 + e);
        series[e] = ts[e].s;
    }
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_CLASSIFY);
    cfg.lookahead = 24;
    cfg.candidates = 1u << MM_ALGO_LOGISTIC;
    mm_train_result_t res;
    cr_assert_eq(mm_model_train_pooled(&cfg, series, MACHINES, &res, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    cr_assert_eq(res.algorithm, MM_ALGO_LOGISTIC);
    cr_assert_gt(res.metrics.v[MM_METRIC_AUC], 0.7);
    mm_model_t *model = load(&res);
    cr_assert_eq(mm_model_entities(model), MACHINES);
    double p;
    cr_assert_eq(mm_model_predict_latest(model, &p, NULL, errstr, sizeof(errstr)),
                 MM_ERR_UNSUPPORTED, "a pooled model has no telemetry of its own");
    /* The same 48 hours of telemetry, quiet or ending in high voltage. */
    double quiet[48], hot[48];
    for (size_t i = 0; i < 48; i++) quiet[i] = hot[i] = 170;
    for (size_t i = 36; i < 48; i++) hot[i] = 230;
    const double *xq[1] = {quiet}, *xh[1] = {hot};
    double pq[48], ph[48];
    cr_assert_eq(mm_model_predict(model, 48, ts[0].t, xq, pq, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_assert_eq(mm_model_predict(model, 48, ts[0].t, xh, ph, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_assert_gt(ph[47], pq[47], "high voltage raises the failure probability: %g vs %g", ph[47],
                 pq[47]);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    for (size_t e = 0; e < MACHINES; e++) td_free(&ts[e]);
}
