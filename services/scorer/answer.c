/*
 * answer.c - mm-scorer's answer for one key of a batch run: which model
 * answers it (champion, declared fallback, or none), the key's scoring data
 * turned into the model library's scoring input, the model applied to it,
 * and the answer written to the sink and mm.predictions with its lineage.
 * With entity columns in the spec, every entity of the key with scoring
 * data gets its own answer from the key's model, applied to that entity's
 * rows (docs/dataset-spec.md, "Entities").
 *
 * Workload: one call per key per run, thousands of keys; a key's scoring
 * data is a few hundred rows, so regularising it costs microseconds next to
 * fetching the artifact (cached) and writing the rows.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/log.h"
#include "mm/model.h"
#include "mm/series.h"
#include "mm/util.h"
#include "scorer_int.h"

#define MESSAGE_MAX 600

/* Who answers a key. */
typedef enum answer_kind {
    ANSWER_CHAMPION = 0,        /* the approved production model */
    ANSWER_STORED_FALLBACK = 1, /* the declared fallback the promoter put in production/ */
    ANSWER_FITTED_FALLBACK = 2, /* the spec's fallback fitted here on the scoring data */
    ANSWER_NO_MODEL = 3,
} answer_kind_t;

/* Whether @p d names a declared fallback rather than an approved champion:
 * a ModelDecision of kind "fallback" (docs/registry.md). */
static bool decision_is_fallback(const mm_model_decision_t *d) {
    return d->decision == MM_DECISION_FALLBACK;
}

/* The key's scoring data as the model library takes it: the observed rows on the
 * spec's period (mm/series.h, the trainer's regularisation) and the planned rows. */
typedef struct key_input {
    mm_series_t recent, planned;
    mm_regular_series_t observed;
    double *p_x; /* column-major */
    const double **p_exog;
} key_input_t;

static void key_input_clear(key_input_t *in) {
    mm_regular_series_clear(&in->observed);
    free(in->p_x);
    free(in->p_exog);
    memset(in, 0, sizeof(*in));
}

/* The newest @p max_periods periods of the observed rows, regularised; the planned
 * rows go as they are. */
static mm_err_t key_input_build(const mm_spec_t *spec, const mm_scoring_rows_t *rows,
                                size_t max_periods, key_input_t *in, char *errstr,
                                size_t errstr_size) {
    memset(in, 0, sizeof(*in));
    const size_t nx = rows->n_exog, n = rows->n_observed, np = rows->n - rows->n_observed;
    if (n > 0) { /* none: the model's own tail is the history, the planned rows still apply */
        mm_err_t err = mm_series_regularise(spec->freq, rows->time_ms, rows->y, rows->x, n, nx,
                                            max_periods, &in->observed, errstr, errstr_size);
        if (err) return err;
    }
    in->p_x = nx && np ? malloc(np * nx * sizeof(double)) : NULL;
    in->p_exog = nx ? calloc(nx, sizeof(double *)) : NULL;
    if ((nx && !in->p_exog) || (nx && np && !in->p_x)) {
        key_input_clear(in);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    for (size_t j = 0; j < nx; j++) {
        for (size_t i = 0; i < np; i++) in->p_x[j * np + i] = rows->x[(n + i) * nx + j];
        in->p_exog[j] = in->p_x ? in->p_x + j * np : NULL;
    }
    in->recent = mm_regular_series_view(&in->observed);
    in->planned = (mm_series_t){.n = np,
                                .time_ms = rows->time_ms + n,
                                .y = rows->y + n,
                                .n_exog = np ? nx : 0,
                                .exog = np ? in->p_exog : NULL};
    return MM_OK;
}

/* A one-step answer (a classifier's probability) without an interval. */
static mm_err_t forecast_one(mm_forecast_t *fc, double value, int64_t at_ms, char *errstr,
                             size_t errstr_size) {
    memset(fc, 0, sizeof(*fc));
    fc->time_ms = malloc(sizeof(int64_t));
    fc->mean = malloc(sizeof(double));
    fc->lower = malloc(sizeof(double));
    fc->upper = malloc(sizeof(double));
    if (!fc->time_ms || !fc->mean || !fc->lower || !fc->upper) {
        mm_forecast_clear(fc);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    fc->h = 1;
    fc->level = NAN;
    fc->time_ms[0] = at_ms;
    fc->mean[0] = value;
    fc->lower[0] = fc->upper[0] = NAN;
    return MM_OK;
}

/*
 * A classifier's answer: the probability of the positive class as of the
 * key's newest telemetry row (rows at or before as-of when the operator set
 * one), or as of its training data's end when the scorer has no telemetry.
 */
static mm_err_t classify_key(const mm_model_t *model, const mm_scoring_rows_t *rows,
                             const mm_scorer_run_t *run, mm_forecast_t *fc,
                             mm_forecast_info_t *info, char *errstr, size_t errstr_size) {
    size_t m = rows->n;
    while (run->as_of_given && m > 0 && rows->time_ms[m - 1] > run->as_of_ms) m--;
    if (m == 0) {
        double p;
        int64_t at;
        mm_err_t err = mm_model_predict_latest(model, &p, &at, errstr, errstr_size);
        info->watermark_ms = at;
        return err ? err : forecast_one(fc, p, at, errstr, errstr_size);
    }
    const size_t nx = rows->n_exog;
    double *x = nx ? malloc(m * nx * sizeof(double)) : NULL;
    const double **exog = nx ? malloc(nx * sizeof(double *)) : NULL;
    double *proba = malloc(m * sizeof(double));
    mm_err_t err = MM_OK;
    if (!proba || (nx && (!x || !exog))) {
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    for (size_t j = 0; j < nx; j++) {
        for (size_t i = 0; i < m; i++) x[j * m + i] = rows->x[i * nx + j];
        exog[j] = x + j * m;
    }
    err = mm_model_predict(model, m, rows->time_ms, exog, proba, errstr, errstr_size);
    if (!err) err = forecast_one(fc, proba[m - 1], rows->time_ms[m - 1], errstr, errstr_size);
    info->watermark_ms = rows->time_ms[m - 1];
    for (size_t i = 0; i < m; i++)
        if (rows->time_ms[i] > mm_model_data_end_ms(model)) info->n_new++;
out:
    free(x);
    free(exog);
    free(proba);
    return err;
}

/* A forecaster's answer from the key's newest observations and planned rows. */
static mm_err_t forecast_key(const mm_scorer_t *s, const mm_model_t *model,
                             const mm_scoring_rows_t *rows, const mm_scorer_run_t *run,
                             mm_forecast_t *fc, mm_forecast_info_t *info, char *errstr,
                             size_t errstr_size) {
    if (rows->n == 0) { /* nothing newer than the model and no plan: its own forecast */
        info->watermark_ms = mm_model_data_end_ms(model);
        return mm_model_forecast(model, run->horizon, NULL, fc, errstr, errstr_size);
    }
    size_t keep = s->cfg.keep_observed ? s->cfg.keep_observed : MM_SCORING_DATA_DEFAULT_KEEP;
    size_t need = mm_model_history_needed(model);
    key_input_t in;
    mm_err_t err =
        key_input_build(s->cfg.spec, rows, keep > need ? keep : need, &in, errstr, errstr_size);
    if (err) return err;
    /* Without newer observations an as-of before the model's data end (the
     * latest observation of other keys) cannot move its origin: it forecasts
     * from its data end, as a key with no scoring data at all does. */
    int64_t as_of = run->as_of_ms;
    if (rows->n_observed == 0 && as_of < mm_model_data_end_ms(model)) as_of = 0;
    mm_scoring_input_t scoring = {
        .recent = &in.recent, .planned = in.planned.n ? &in.planned : NULL, .as_of_ms = as_of};
    err = mm_model_forecast_from(model, &scoring, run->horizon, fc, info, errstr, errstr_size);
    key_input_clear(&in);
    return err;
}

/* Fit the spec's declared fallback on the key's scoring data (no approved model anywhere). */
static mm_err_t fit_fallback(const mm_scorer_t *s, const mm_scoring_rows_t *rows,
                             mm_model_t **model, char *errstr, size_t errstr_size) {
    mm_model_config_t cfg = s->cfg.spec->model;
    cfg.min_history = INT32_MAX; /* every series is "too short": the declared fallback */
    key_input_t in;
    mm_err_t err =
        key_input_build(s->cfg.spec, rows, rows->n_observed * 2 + 1, &in, errstr, errstr_size);
    if (err) return err;
    mm_train_result_t res = {0};
    err = mm_model_train(&cfg, &in.recent, &res, errstr, errstr_size);
    if (!err) err = mm_model_load(res.artifact, res.artifact_len, model, errstr, errstr_size);
    mm_train_result_clear(&res);
    key_input_clear(&in);
    return err;
}

/* Decide who answers; @p why receives the reason when nobody approved does. */
static answer_kind_t choose(const mm_scorer_t *s, const mm_model_decision_t *d,
                            const mm_scoring_rows_t *rows, char *why, size_t why_size) {
    if (d && d->has_production && !decision_is_fallback(d)) return ANSWER_CHAMPION;
    const char *reason = !d                  ? "no decision for the key yet"
                         : d->has_production ? "only a declared fallback"
                         : d->reason         ? d->reason
                                             : "no candidate has been approved";
    snprintf(why, why_size, "no approved model: %s", reason);
    if (!s->cfg.spec->serve_fallback) return ANSWER_NO_MODEL;
    if (d && d->has_production) return ANSWER_STORED_FALLBACK;
    if (s->cfg.spec->task == MM_TASK_FORECAST && rows->n_observed > 0)
        return ANSWER_FITTED_FALLBACK;
    return ANSWER_NO_MODEL;
}

/* Write an answer to the sink and hand it to the producer (or to the run's own deliver). */
static mm_err_t deliver(mm_scorer_t *s, const mm_scorer_run_t *run, const mm_prediction_batch_t *p,
                        char *errstr, size_t errstr_size) {
    if (run->deliver) return run->deliver(run->hook_opaque, p, errstr, errstr_size);
    double started = mm_scorer__mono_seconds();
    mm_err_t err = mm_scorer_sink_answer(s->sink, p, errstr, errstr_size);
    run->stats->sink_seconds += mm_scorer__mono_seconds() - started;
    return err ? err : mm_scorer__produce(s, p, errstr, errstr_size);
}

/* The answer for one entity of @p key ("" when the spec names no entity columns). */
static mm_err_t answer_entity(mm_scorer_t *s, const char *key, const char *entity,
                              const mm_model_decision_t *d, const mm_scorer_run_t *run,
                              char *errstr, size_t errstr_size) {
    const bool forecast = s->cfg.spec->task == MM_TASK_FORECAST;
    char message[MESSAGE_MAX] = "", why[512];
    mm_prediction_batch_t p = {.request_id = run->run_id,
                               .partition_key = key,
                               .entity = entity[0] ? entity : NULL,
                               .dataset = s->cfg.spec->name,
                               .interval_level = s->cfg.spec->model.interval_level,
                               .produced_at_ms = mm_now_ms(),
                               .data_watermark_ms = -1,
                               .model_data_end_ms = -1};
    mm_scoring_rows_t rows;
    mm_err_t err =
        mm_scoring_data_read_entity(run->scoring ? run->scoring : s->scoring, key, entity,
                                    forecast ? run->as_of_ms : 0, &rows, errstr, errstr_size);
    if (!err && run->amend_rows)
        err = run->amend_rows(run->hook_opaque, &rows, errstr, errstr_size);
    if (err) {
        mm_scoring_rows_clear(&rows);
        return err;
    }
    answer_kind_t kind = choose(s, d, &rows, message, sizeof(message));
    if (kind == ANSWER_NO_MODEL) {
        p.status = MM_PREDICTION_NO_MODEL;
        p.message = message;
        run->stats->no_model++;
        err = deliver(s, run, &p, errstr, errstr_size);
        mm_scoring_rows_clear(&rows);
        return err;
    }

    const mm_production_model_t *pm = d && d->has_production ? &d->production : NULL;
    const mm_model_t *model = NULL;
    mm_model_t *fitted = NULL;
    if (pm) {
        err = mm_model_cache_get(s->cache, run->blob ? run->blob : s->blob, pm->artifact_uri,
                                 pm->artifact_sha256, &model, why, sizeof(why));
        if (err && run->stop_on_store_error && mm_err_is_retriable(err)) {
            mm_scoring_rows_clear(&rows);
            return mm_errf(err, errstr, errstr_size,
                           "%s: model %s: the blob store does not answer: %s", key,
                           pm->artifact_uri, why);
        }
    } else {
        err = fit_fallback(s, &rows, &fitted, why, sizeof(why));
        model = fitted;
    }
    mm_forecast_t fc = {0};
    mm_forecast_info_t info = {.watermark_ms = -1};
    if (!err) {
        err = forecast ? forecast_key(s, model, &rows, run, &fc, &info, why, sizeof(why))
                       : classify_key(model, &rows, run, &fc, &info, why, sizeof(why));
        p.model_data_end_ms = mm_model_data_end_ms(model);
        if (!pm) p.algorithm = mm_algo_name(mm_model_algorithm(model));
    }
    if (pm) {
        if (model) mm_model_cache_release(s->cache, pm->artifact_sha256);
        p.train_id = pm->train_id;
        p.model_version = pm->version;
        p.algorithm = pm->algorithm;
    }
    mm_model_destroy(fitted);
    p.fallback = kind != ANSWER_CHAMPION;
    if (err) {
        snprintf(message, sizeof(message), "%s unusable: %s",
                 pm ? pm->artifact_uri : "fallback fitted on the scoring data", why);
        mm_log_error("score_failed", "%s%s%s: %s", key, entity[0] ? " " : "", entity, message);
        p.status = MM_PREDICTION_ERROR;
        p.message = message;
        run->stats->failed++;
        err = deliver(s, run, &p, errstr, errstr_size);
        mm_scoring_rows_clear(&rows);
        return err;
    }
    p.status = MM_PREDICTION_OK;
    if (kind != ANSWER_CHAMPION) p.message = message;
    p.n = fc.h;
    p.time_ms = fc.time_ms;
    p.value = fc.mean;
    p.lower = fc.lower;
    p.upper = fc.upper;
    p.interval_level = fc.level;
    p.data_watermark_ms = info.watermark_ms;
    /* The load that delivered the newest observation, else the training data's. */
    p.load_id = rows.n_observed > 0 && rows.load_id ? rows.load_id : pm ? pm->load_id : NULL;
    p.new_observations = (int32_t)info.n_new;
    p.planned_steps = (int32_t)info.n_planned_steps;
    p.carried_steps = (int32_t)info.n_carried_steps;
    err = deliver(s, run, &p, errstr, errstr_size);
    if (!err) {
        if (kind == ANSWER_CHAMPION)
            run->stats->scored++;
        else
            run->stats->fallback++;
        run->stats->predictions += (int64_t)fc.h;
    }
    mm_forecast_clear(&fc);
    mm_scoring_rows_clear(&rows);
    return err;
}

/* The entities of a key, collected from the scoring data. */
typedef struct entity_list {
    char **names;
    size_t n, cap;
    bool failed;
} entity_list_t;

static bool collect_entity(void *opaque, const char *entity) {
    entity_list_t *l = opaque;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **names = realloc(l->names, cap * sizeof(*names));
        if (!names) {
            l->failed = true;
            return false;
        }
        l->names = names;
        l->cap = cap;
    }
    if (!(l->names[l->n] = strdup(entity))) {
        l->failed = true;
        return false;
    }
    l->n++;
    return true;
}

mm_err_t mm_scorer__answer_key(mm_scorer_t *s, const char *key, const mm_model_decision_t *d,
                               const mm_scorer_run_t *run, char *errstr, size_t errstr_size) {
    if (s->cfg.spec->n_entity_columns == 0)
        return answer_entity(s, key, "", d, run, errstr, errstr_size);
    entity_list_t list = {0};
    mm_err_t err = mm_scoring_data_entities(run->scoring ? run->scoring : s->scoring, key,
                                            collect_entity, &list, errstr, errstr_size);
    if (!err && list.failed) err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if (!err && list.n == 0) {
        /* A decision without scoring data: nothing to answer any entity from. */
        mm_prediction_batch_t p = {.request_id = run->run_id,
                                   .partition_key = key,
                                   .dataset = s->cfg.spec->name,
                                   .status = MM_PREDICTION_NO_MODEL,
                                   .message = "no scoring data for any entity of the key",
                                   .interval_level = s->cfg.spec->model.interval_level,
                                   .produced_at_ms = mm_now_ms(),
                                   .data_watermark_ms = -1,
                                   .model_data_end_ms = -1};
        run->stats->no_model++;
        err = deliver(s, run, &p, errstr, errstr_size);
    }
    for (size_t i = 0; !err && i < list.n; i++)
        err = answer_entity(s, key, list.names[i], d, run, errstr, errstr_size);
    for (size_t i = 0; i < list.n; i++) free(list.names[i]);
    free(list.names);
    return err;
}
