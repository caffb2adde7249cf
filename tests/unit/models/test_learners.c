/*
 * test_learners.c - ridge, logistic, XGBoost and the intermittent-demand
 * methods held to golden values from scikit-learn, xgboost and an
 * independent Python implementation (tests/fixtures/models/make_golden.py).
 *
 * Tolerances: ridge is one linear solve on both sides (1e-9 relative);
 * logistic regression compares two Newton-type solvers stopped at their own
 * tolerances (1e-6); XGBoost trains with the same library (1.7.4) and our
 * native tree walk evaluates in float as XGBoost does, so predictions agree
 * to float rounding (1e-6 relative).
 */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "golden.h"
#include "models_int.h"
#include "testdata.h"

static void assert_rel(double got, double want, double rel, const char *what, size_t i) {
    cr_assert(fabs(got - want) <= rel * fmax(1.0, fabs(want)), "%s[%zu]: got %.12g, want %.12g",
              what, i, got, want);
}

Test(learners, ridge_coefficients_match_scikit_learn) {
    size_t nx, n;
    const double *X = golden("ridge.X", &nx);
    const double *y = golden("ridge.y", &n);
    const double *coef = golden("ridge.coef", NULL);
    mm_linear_t lin;
    char errstr[256] = "";
    cr_assert_eq(mm_ridge_fit_xy(X, y, n, nx / n, 3.0, &lin, errstr, sizeof errstr), MM_OK, "%s",
                 errstr);
    for (size_t j = 0; j < lin.p; j++) assert_rel(lin.coef[j], coef[j], 1e-9, "ridge.coef", j);
    assert_rel(lin.intercept, golden1("ridge.intercept"), 1e-9, "ridge.intercept", 0);
    mm_linear_free(&lin);
}

Test(learners, weighted_logistic_coefficients_match_scikit_learn) {
    size_t nx, n;
    const double *X = golden("logistic.X", &nx);
    const double *y = golden("logistic.y", &n);
    const double *coef = golden("logistic.coef", NULL);
    double pos = 0;
    for (size_t i = 0; i < n; i++) pos += y[i];
    double *w = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) /* class_weight="balanced" */
        w[i] = y[i] > 0.5 ? (double)n / (2 * pos) : (double)n / (2 * ((double)n - pos));
    mm_linear_t lin;
    char errstr[256] = "";
    cr_assert_eq(mm_logistic_fit_xy(X, y, w, n, nx / n, 0.5, &lin, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    for (size_t j = 0; j < lin.p; j++) assert_rel(lin.coef[j], coef[j], 1e-6, "logistic.coef", j);
    assert_rel(lin.intercept, golden1("logistic.intercept"), 1e-6, "logistic.intercept", 0);
    mm_linear_free(&lin);
    free(w);
}

Test(learners, missing_feature_values_count_as_the_training_mean) {
    double X[8] = {1, 10, 2, 20, 3, 30, 4, 40}, y[4] = {1, 2, 3, 4};
    mm_linear_t lin;
    char errstr[256] = "";
    cr_assert_eq(mm_ridge_fit_xy(X, y, 4, 2, 0.1, &lin, errstr, sizeof errstr), MM_OK);
    double row_nan[2] = {NAN, NAN}, row_mean[2] = {2.5, 25};
    cr_assert_float_eq(mm_linear_eval(&lin, row_nan), mm_linear_eval(&lin, row_mean), 1e-12);
    mm_linear_free(&lin);
}

/* Nested prefixes from one pass give each prefix's own fit: the same
 * standardisation, intercept and coefficients (to rounding), a constant
 * column included; a missing value falls back to a fit per prefix. */
Test(learners, ridge_on_nested_prefixes_equals_a_fit_per_prefix) {
    enum { N = 300, P = 5, K = 4 };
    static double X[N * P], y[N];
    td_rng_t st = {11};
    for (size_t i = 0; i < N; i++) {
        double t = (double)i;
        X[i * P + 0] = 100.0 + 0.5 * t + 3 * td_unif(&st); /* large mean, trend */
        X[i * P + 1] = (double)(i % 7);
        X[i * P + 2] = 7.0; /* constant */
        X[i * P + 3] = td_unif(&st) < 0.2 ? 1 : 0;
        X[i * P + 4] = sin(t / 10) * 50;
        y[i] = 2 + 0.3 * X[i * P + 0] - 1.5 * X[i * P + 1] + 4 * X[i * P + 3] + 0.1 * X[i * P + 4] +
               td_unif(&st);
    }
    size_t rows[K] = {120, 200, 280, N};
    for (int missing = 0; missing < 2; missing++) {
        if (missing) X[50 * P + 1] = NAN;
        mm_linear_t pre[K];
        char errstr[256] = "";
        cr_assert_eq(mm_ridge_fit_prefixes(X, y, P, 1.0, rows, K, pre, errstr, sizeof errstr),
                     MM_OK, "%s", errstr);
        for (size_t k = 0; k < K; k++) {
            mm_linear_t one;
            cr_assert_eq(mm_ridge_fit_xy(X, y, rows[k], P, 1.0, &one, errstr, sizeof errstr),
                         MM_OK);
            assert_rel(pre[k].intercept, one.intercept, 1e-9, "intercept", k);
            for (size_t j = 0; j < P; j++) {
                assert_rel(pre[k].coef[j], one.coef[j], 1e-9, "coef", j);
                assert_rel(pre[k].mean[j], one.mean[j], 1e-9, "mean", j);
                assert_rel(pre[k].scale[j], one.scale[j], 1e-9, "scale", j);
            }
            cr_assert_eq(pre[k].scale[2], 1.0, "a constant column keeps scale 1");
            cr_assert_eq(pre[k].coef[2], 0.0, "and no weight");
            mm_linear_free(&one);
            mm_linear_free(&pre[k]);
        }
    }
    /* a prefix too short to fit fails the call and leaves nothing allocated */
    size_t short_rows[2] = {1, N};
    mm_linear_t pre[2];
    char errstr[256] = "";
    cr_assert_eq(mm_ridge_fit_prefixes(X, y, P, 1.0, short_rows, 2, pre, errstr, sizeof errstr),
                 MM_ERR_INSUFFICIENT_DATA);
    cr_assert_null(pre[1].coef);
}

static mm_model_config_t xgb_cfg(void) {
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.xgb_rounds = 20;
    cfg.xgb_max_depth = 4;
    cfg.xgb_max_bin = 256;   /* XGBoost's defaults, as the golden values were made */
    cfg.xgb_colsample = 1.0; /* every feature at every node */
    cfg.xgb_eta = 0.1;
    return cfg;
}

static void check_xgb(bool classify, const char *ylabel, const char *want_name) {
    size_t nx, n, nt;
    const double *X = golden("xgb.X", &nx);
    const double *y = golden(ylabel, &n);
    const double *Xt = golden("xgb.Xtest", &nt);
    const double *want = golden(want_name, NULL);
    size_t p = nx / n, rows = nt / p;
    double spw = 1;
    if (classify) {
        double pos = 0;
        for (size_t i = 0; i < n; i++) pos += y[i];
        spw = ((double)n - pos) / pos;
    }
    mm_model_config_t cfg = xgb_cfg();
    mm_xgb_t *x = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_xgb_fit(&cfg, X, y, NULL, n, p, classify, spw, &x, errstr, sizeof errstr),
                 MM_OK, "%s", errstr);
    double pred[16];
    cr_assert_eq(mm_xgb_predict(x, Xt, rows, pred, errstr, sizeof errstr), MM_OK, "%s", errstr);
    for (size_t i = 0; i < rows; i++) assert_rel(pred[i], want[i], 1e-6, want_name, i);
    /* rebuilt from its packed bytes, the model predicts bit for bit the same */
    const uint8_t *raw;
    size_t len = mm_xgb_raw(x, &raw);
    mm_xgb_t *back = NULL;
    cr_assert_eq(mm_xgb_load(raw, len, p, &back, errstr, sizeof errstr), MM_OK, "%s", errstr);
    double again[16];
    cr_assert_eq(mm_xgb_predict(back, Xt, rows, again, errstr, sizeof errstr), MM_OK);
    cr_assert(memcmp(pred, again, rows * sizeof(double)) == 0);
    mm_xgb_free(back);
    mm_xgb_free(x);
}

Test(learners, xgboost_regressor_matches_python_xgboost) {
    check_xgb(false, "xgb.y", "xgb.reg_pred");
}

Test(learners, xgboost_classifier_with_imbalance_weight_matches_python_xgboost) {
    check_xgb(true, "xgb.yc", "xgb.clf_pred");
}

/* xgb_colsample below 1: each node chooses its split among a share of the
 * features, drawn with a fixed seed: other trees than with every feature,
 * the same trees on every fit of the same rows. */
Test(learners, xgboost_nodes_choose_among_a_seeded_share_of_the_features) {
    size_t nx, n;
    const double *X = golden("xgb.X", &nx);
    const double *y = golden("xgb.y", &n);
    size_t p = nx / n;
    cr_assert_geq(p, 2);
    mm_model_config_t cfg = xgb_cfg();
    char errstr[256] = "";
    mm_xgb_t *all = NULL, *half = NULL, *again = NULL;
    cr_assert_eq(mm_xgb_fit(&cfg, X, y, NULL, n, p, false, 0, &all, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    cfg.xgb_colsample = 0.5;
    cr_assert_eq(mm_xgb_fit(&cfg, X, y, NULL, n, p, false, 0, &half, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    cr_assert_eq(mm_xgb_fit(&cfg, X, y, NULL, n, p, false, 0, &again, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    const uint8_t *a, *h, *g;
    size_t la = mm_xgb_raw(all, &a), lh = mm_xgb_raw(half, &h), lg = mm_xgb_raw(again, &g);
    cr_assert(la != lh || memcmp(a, h, la) != 0, "sampled features grow other trees");
    cr_assert(lh == lg && memcmp(h, g, lh) == 0, "the same draws on every fit");
    mm_xgb_free(all);
    mm_xgb_free(half);
    mm_xgb_free(again);
}

/* A model in XGBoost's binary form (UBJSON), written by hand as XGBoost
 * writes it: objects with length-prefixed keys, typed arrays of big-endian
 * numbers, members the reader skips around the ones it reads. */
typedef struct ubj_doc {
    uint8_t b[1024];
    size_t n;
} ubj_doc_t;

static void ubj_put(ubj_doc_t *d, const void *p, size_t len) {
    cr_assert_leq(d->n + len, sizeof d->b);
    memcpy(d->b + d->n, p, len);
    d->n += len;
}
static void ubj_byte(ubj_doc_t *d, uint8_t c) {
    ubj_put(d, &c, 1);
}
static void ubj_be(ubj_doc_t *d, uint64_t v, size_t bytes) {
    for (size_t i = bytes; i-- > 0;) ubj_byte(d, (uint8_t)(v >> (8 * i)));
}
static void ubj_len(ubj_doc_t *d, size_t n) {
    ubj_byte(d, 'L');
    ubj_be(d, n, 8);
}
static void ubj_key(ubj_doc_t *d, const char *k) {
    ubj_len(d, strlen(k));
    ubj_put(d, k, strlen(k));
}
static void ubj_str(ubj_doc_t *d, const char *s) {
    ubj_byte(d, 'S');
    ubj_key(d, s);
}
static void ubj_typed(ubj_doc_t *d, uint8_t type, size_t n) {
    ubj_put(d, "[$", 2);
    ubj_byte(d, type);
    ubj_byte(d, '#');
    ubj_len(d, n);
}
static void ubj_i32s(ubj_doc_t *d, const char *k, const int32_t *v, size_t n) {
    ubj_key(d, k);
    ubj_typed(d, 'l', n);
    for (size_t i = 0; i < n; i++) ubj_be(d, (uint32_t)v[i], 4);
}
static void ubj_f32s(ubj_doc_t *d, const char *k, const float *v, size_t n) {
    ubj_key(d, k);
    ubj_typed(d, 'd', n);
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        ubj_be(d, bits, 4);
    }
}

/* One tree: x1 < 0.5 (a missing x1 goes left) ? 1.0 : 2.0, base_score 0.5.
 * @returns the offset where the reader has read all it needs. */
static size_t ubj_model(ubj_doc_t *d) {
    static const int32_t left[3] = {1, -1, -1}, right[3] = {2, -1, -1}, feat[3] = {1, 0, 0};
    static const float cond[3] = {0.5f, 1.0f, 2.0f}, weights[3] = {0, 1, 2};
    d->n = 0;
    ubj_byte(d, '{');
    ubj_key(d, "learner");
    ubj_byte(d, '{');
    ubj_key(d, "attributes");
    ubj_put(d, "{}", 2);
    ubj_key(d, "gradient_booster");
    ubj_byte(d, '{');
    ubj_key(d, "model");
    ubj_byte(d, '{');
    ubj_key(d, "tree_info");
    ubj_put(d, "[#", 2);
    ubj_len(d, 1);
    ubj_put(d, "i\0", 2);
    ubj_key(d, "trees");
    ubj_byte(d, '['); /* not counted: closed by ']' */
    ubj_byte(d, '{');
    ubj_f32s(d, "base_weights", weights, 3);
    ubj_i32s(d, "left_children", left, 3);
    ubj_i32s(d, "right_children", right, 3);
    ubj_i32s(d, "split_indices", feat, 3);
    ubj_f32s(d, "split_conditions", cond, 3);
    ubj_key(d, "default_left");
    ubj_typed(d, 'U', 3);
    ubj_put(d, "\1\0\0", 3);
    ubj_key(d, "tree_param");
    ubj_byte(d, '{');
    ubj_key(d, "num_nodes");
    ubj_str(d, "3");
    ubj_byte(d, '}');
    ubj_byte(d, '}');
    ubj_byte(d, ']');
    ubj_byte(d, '}');
    ubj_byte(d, '}');
    ubj_key(d, "learner_model_param");
    ubj_byte(d, '{');
    ubj_key(d, "base_score");
    ubj_str(d, "5E-1");
    size_t read_all = d->n;
    ubj_key(d, "num_feature");
    ubj_str(d, "2");
    ubj_byte(d, '}');
    ubj_byte(d, '}');
    ubj_byte(d, '}');
    return read_all;
}

Test(learners, xgboost_trees_are_read_from_the_binary_model_and_a_cut_one_is_refused) {
    ubj_doc_t d;
    size_t read_all = ubj_model(&d);
    mm_xgb_t *x = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_models__xgb_from_ubj(d.b, d.n, 2, false, &x, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    const double X[6] = {0, 0.2, 0, 0.9, 0, NAN};
    double pred[3];
    cr_assert_eq(mm_xgb_predict(x, X, 3, pred, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_float_eq(pred[0], 1.5, 1e-12, "left of the split: base 0.5 + leaf 1");
    cr_assert_float_eq(pred[1], 2.5, 1e-12, "right: base 0.5 + leaf 2");
    cr_assert_float_eq(pred[2], 1.5, 1e-12, "missing: the default direction, left");
    mm_xgb_free(x);
    for (size_t cut = 0; cut < read_all; cut++) {
        x = NULL;
        cr_assert_eq(mm_models__xgb_from_ubj(d.b, cut, 2, false, &x, errstr, sizeof errstr),
                     MM_ERR_NUMERIC, "cut at %zu of %zu", cut, d.n);
        cr_assert_null(x);
    }
    /* a feature index the config does not have, and an array count past the end */
    cr_assert_eq(mm_models__xgb_from_ubj(d.b, d.n, 1, false, &x, errstr, sizeof errstr),
                 MM_ERR_NUMERIC);
    size_t at = 0;
    while (at + 16 <= d.n && memcmp(d.b + at, "split_conditions", 16) != 0) at++;
    cr_assert_leq(at + 16, d.n);
    d.b[at + 16 + 5] = 0x7f; /* after the key, '[' '$' 'd' '#' 'L': the count's high byte */
    cr_assert_eq(mm_models__xgb_from_ubj(d.b, d.n, 2, false, &x, errstr, sizeof errstr),
                 MM_ERR_NUMERIC);
    cr_assert_null(x);
}

/* Continued boosting keeps the earlier trees as they were and adds the new
 * rounds, fitted to what they left on the new rows; the booster moves to
 * the continued model and can be dropped. */
Test(learners, xgboost_continues_a_resumable_fit_on_new_rows) {
    size_t nx, n;
    const double *X = golden("xgb.X", &nx);
    const double *y = golden("xgb.y", &n);
    size_t p = nx / n, half = n / 2;
    mm_model_config_t cfg = xgb_cfg();
    char errstr[256] = "";
    mm_xgb_t *first = NULL, *plain = NULL, *next = NULL;
    cr_assert_eq(mm_xgb_fit_resumable(&cfg, X, y, half, p, &first, errstr, sizeof errstr), MM_OK,
                 "%s", errstr);
    cr_assert_eq(mm_xgb_fit(&cfg, X, y, NULL, half, p, false, 0, &plain, errstr, sizeof errstr),
                 MM_OK);
    const uint8_t *a, *b;
    size_t la = mm_xgb_raw(first, &a), lb = mm_xgb_raw(plain, &b);
    cr_assert(la == lb && memcmp(a, b, la) == 0, "resumable or not, the same trees");
    /* 5 more rounds on the rows after the first quarter */
    size_t off = n / 4;
    cr_assert_eq(mm_xgb_continue(&cfg, first, X + off * p, y + off, n - off, p, 5, &next, errstr,
                                 sizeof errstr),
                 MM_OK, "%s", errstr);
    const uint8_t *c;
    size_t lc = mm_xgb_raw(next, &c);
    uint32_t trees_a = (uint32_t)a[8] | (uint32_t)a[9] << 8,
             trees_c = (uint32_t)c[8] | (uint32_t)c[9] << 8;
    cr_assert_eq(trees_a, (uint32_t)cfg.xgb_rounds);
    cr_assert_eq(trees_c, (uint32_t)cfg.xgb_rounds + 5);
    cr_assert(lc > la);
    /* the new trees move the training error on the new rows down */
    double *pa = malloc(n * sizeof(double)), *pc = malloc(n * sizeof(double));
    cr_assert_eq(mm_xgb_predict(first, X + off * p, n - off, pa, errstr, sizeof errstr), MM_OK);
    cr_assert_eq(mm_xgb_predict(next, X + off * p, n - off, pc, errstr, sizeof errstr), MM_OK);
    double sa = 0, sc = 0;
    for (size_t i = 0; i < n - off; i++) {
        sa += (y[off + i] - pa[i]) * (y[off + i] - pa[i]);
        sc += (y[off + i] - pc[i]) * (y[off + i] - pc[i]);
    }
    cr_assert_lt(sc, sa);
    /* the booster went with the continued model: the first cannot continue again */
    mm_xgb_t *again = NULL;
    cr_assert_eq(mm_xgb_continue(&cfg, first, X, y, n, p, 5, &again, errstr, sizeof errstr),
                 MM_ERR_INVALID_ARG);
    cr_assert_null(again);
    mm_xgb_drop_booster(next);
    cr_assert_eq(mm_xgb_continue(&cfg, next, X, y, n, p, 5, &again, errstr, sizeof errstr),
                 MM_ERR_INVALID_ARG);
    free(pa);
    free(pc);
    mm_xgb_free(first);
    mm_xgb_free(plain);
    mm_xgb_free(next);
}

Test(learners, xgboost_model_bytes_with_wrong_feature_count_are_refused) {
    size_t nx, n;
    const double *X = golden("xgb.X", &nx);
    const double *y = golden("xgb.y", &n);
    mm_model_config_t cfg = xgb_cfg();
    mm_xgb_t *x = NULL, *back = NULL;
    char errstr[256] = "";
    cr_assert_eq(mm_xgb_fit(&cfg, X, y, NULL, n, nx / n, false, 1, &x, errstr, sizeof errstr),
                 MM_OK);
    const uint8_t *raw;
    size_t len = mm_xgb_raw(x, &raw);
    cr_assert_eq(mm_xgb_load(raw, len, nx / n + 1, &back, errstr, sizeof errstr), MM_ERR_PARSE);
    cr_assert_eq(mm_xgb_load(raw, len / 2, nx / n, &back, errstr, sizeof errstr), MM_ERR_PARSE);
    cr_assert_null(back);
    mm_xgb_free(x);
}

/* Intermittent demand through the public API: fit on the golden series,
 * read the chosen constants and forecast back from the artifact. */
static void check_intermittent(mm_algo_t algo, const char *name, size_t n_params) {
    size_t n;
    const double *y = golden("interm.y", &n);
    const double *want = golden(name, NULL);
    td_series_t ts;
    td_alloc(&ts, n, 0);
    memcpy(ts.y, y, n * sizeof(double));
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = 1u << algo;
    cfg.holdout = 7;
    cfg.min_history = 10;
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert_eq(res.algorithm, algo);
    cr_assert_not(res.fallback, "%s", res.fallback_reason);
    mm_model_t *model = NULL;
    cr_assert_eq(mm_model_load(res.artifact, res.artifact_len, &model, errstr, sizeof errstr),
                 MM_OK);
    const mm_models__ops_t *ops = mm_models__ops(algo);
    mm_models__params_t ps = {0};
    cr_assert_eq(ops->save(model->state, &ps), MM_OK);
    assert_rel(mm_models__params_get(&ps, "alpha", 1)->v[0], want[0], 1e-12, name, 0);
    if (n_params == 3)
        assert_rel(mm_models__params_get(&ps, "beta", 1)->v[0], want[1], 1e-12, name, 1);
    mm_models__params_clear(&ps);
    mm_forecast_t fc;
    cr_assert_eq(mm_model_forecast(model, 5, NULL, &fc, errstr, sizeof errstr), MM_OK);
    for (size_t k = 0; k < 5; k++) {
        assert_rel(fc.mean[k], want[n_params - 1], 1e-12, name, k);
        cr_assert(fc.lower[k] >= 0, "demand intervals stay non-negative");
        cr_assert(fc.upper[k] > fc.mean[k]);
    }
    mm_forecast_clear(&fc);
    mm_model_destroy(model);
    mm_train_result_clear(&res);
    td_free(&ts);
}

Test(learners, croston_matches_reference_implementation) {
    check_intermittent(MM_ALGO_CROSTON, "interm.croston", 2);
}

Test(learners, sba_matches_reference_implementation) {
    check_intermittent(MM_ALGO_SBA, "interm.sba", 2);
}

Test(learners, tsb_matches_reference_implementation) {
    check_intermittent(MM_ALGO_TSB, "interm.tsb", 3);
}

Test(learners, intermittent_methods_refuse_negative_demand) {
    td_series_t ts;
    td_seasonal(&ts, 200, 3, 0, 0, 5, 1); /* oscillates around zero */
    mm_model_config_t cfg;
    mm_model_config_defaults(&cfg, MM_TASK_FORECAST);
    cfg.candidates = (1u << MM_ALGO_CROSTON) | (1u << MM_ALGO_TSB);
    mm_train_result_t res;
    char errstr[256] = "";
    cr_assert_eq(mm_model_train(&cfg, &ts.s, &res, errstr, sizeof errstr), MM_OK, "%s", errstr);
    cr_assert(res.fallback, "no candidate fits, so the declared fallback is used");
    cr_assert(isnan(res.per_algo[MM_ALGO_CROSTON].v[MM_METRIC_RMSE]));
    cr_assert(strstr(res.fallback_reason, "negative") != NULL, "%s", res.fallback_reason);
    mm_train_result_clear(&res);
    td_free(&ts);
}
