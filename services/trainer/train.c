/*
 * train.c - mm-trainer's training of one key, as named steps: load history,
 * build the regular series, identify (skip when unchanged), fit, write the
 * artifact, record the model and queue ModelTrained.
 *
 * Workload: one call per due key on a worker thread; the fit dominates
 * (backtests of every candidate algorithm), then one blob upload and one
 * SQLite transaction. Steps that touch the blob store or the database retry
 * transient failures under one policy (TRAIN_RETRY_*), and stop retrying at
 * shutdown: the key stays due in the state store and resumes at restart.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/avro.h"
#include "mm/blob_layout.h"
#include "mm/crash.h"
#include "mm/log.h"
#include "mm/model.h"
#include "mm/series.h"
#include "mm/sha256.h"
#include "mm/util.h"
#include "trainer_int.h"

/* Retries of a transient blob or database failure, and their backoff with jitter. */
#define TRAIN_RETRY_ATTEMPTS 8
#define TRAIN_RETRY_BASE_MS  500
#define TRAIN_RETRY_CAP_MS   30000
/* A failed key's next attempt comes this much later, so a persistent failure does not spin. */
#define TRAIN_FAILED_POSTPONE_MS 30000
#define MS_PER_SECOND            1000.0

/* One training, carried through the steps. */
typedef struct train_job {
    mm_trainer_t *trainer;
    mm_db_t *db;
    mm_blob_t *blob;
    const char *key;
    mm_trainer_history_t history;
    /* the history on the spec's period (mm/series.h), one series per entity */
    mm_regular_series_t *series;
    size_t n_series;
    int64_t data_start_ms, data_end_ms; /* over every entity */
    char train_id[MM_SHA256_HEX_LEN + 1];
    bool already; /* trained before on the same data */
    mm_train_result_t result;
    char artifact_uri[1024];
    char sha[MM_SHA256_HEX_LEN + 1];
    mm_buf_t event; /* encoded ModelTrained */
    char errstr[1024];
} train_job_t;

typedef mm_err_t (*train_step_fn)(train_job_t *job);

/* ------------------------------------------------------------ steps */

static mm_err_t load_history(train_job_t *job) {
    return mm_trainer_store_read_history(job->db, job->key, job->trainer->spec->n_feature_columns,
                                         &job->history, job->errstr, sizeof(job->errstr));
}

/* Regularise each entity onto the spec's period (mm/series.h, shared with the scorer);
 * only the newest max_series_points periods of each are kept. */
static mm_err_t build_series(train_job_t *job) {
    const mm_trainer_history_t *h = &job->history;
    job->series = calloc(h->n_entities, sizeof(*job->series));
    if (!job->series)
        return mm_errf(MM_ERR_NOMEM, job->errstr, sizeof(job->errstr), "%s: out of memory",
                       job->key);
    for (size_t e = 0; e < h->n_entities; e++) {
        size_t at = h->entity_start[e], n = h->entity_start[e + 1] - at;
        mm_regular_series_t *rs = &job->series[e];
        mm_err_t err = mm_series_regularise(job->trainer->spec->freq, h->time_ms + at, h->y + at,
                                            h->x ? h->x + at * h->n_exog : NULL, n, h->n_exog,
                                            (size_t)job->trainer->cfg.max_series_points, rs,
                                            job->errstr, sizeof(job->errstr));
        if (err == MM_ERR_NOMEM)
            snprintf(job->errstr, sizeof(job->errstr), "%s: series too large", job->key);
        if (err) return err;
        job->n_series = e + 1;
        int64_t first = rs->time_ms[0], last = rs->time_ms[rs->n - 1];
        if (e == 0 || first < job->data_start_ms) job->data_start_ms = first;
        if (e == 0 || last > job->data_end_ms) job->data_end_ms = last;
    }
    return MM_OK;
}

/* Deterministic identity: same key, spec and data -> same train id. */
static mm_err_t identify(train_job_t *job) {
    char material[2048];
    int ml =
        snprintf(material, sizeof(material), "%s\n%s\n%" PRId64 "\n%zu\n%s", job->key,
                 job->trainer->spec->hash, job->data_end_ms, job->history.n, job->history.digest);
    mm_sha256_hex(material, (size_t)(ml < (int)sizeof(material) ? ml : (int)sizeof(material) - 1),
                  job->train_id);
    return mm_trainer_store_is_trained(job->db, job->train_id, &job->already, job->errstr,
                                       sizeof(job->errstr));
}

/* One series: as always. Several entities: one model on all their rows (mm/model.h). */
static mm_err_t fit(train_job_t *job) {
    const mm_spec_t *spec = job->trainer->spec;
    mm_series_t *series = malloc(job->n_series * sizeof(*series));
    if (!series)
        return mm_errf(MM_ERR_NOMEM, job->errstr, sizeof(job->errstr), "%s: out of memory",
                       job->key);
    for (size_t e = 0; e < job->n_series; e++) series[e] = mm_regular_series_view(&job->series[e]);
    mm_err_t err = mm_model_train_pooled(&spec->model, series, job->n_series, &job->result,
                                         job->errstr, sizeof(job->errstr));
    free(series);
    return err;
}

static mm_err_t write_artifact(train_job_t *job) {
    const mm_spec_t *spec = job->trainer->spec;
    mm_sha256_hex(job->result.artifact, job->result.artifact_len, job->sha);
    mm_err_t err = mm_blob_layout_candidate(job->artifact_uri, sizeof(job->artifact_uri),
                                            spec->name, job->key, job->sha);
    if (err) {
        snprintf(job->errstr, sizeof(job->errstr), "no artifact name for %s: %s", job->key,
                 mm_err2str(err));
        return err;
    }
    err =
        mm_blob_put_immutable(job->blob, job->artifact_uri, job->result.artifact,
                              job->result.artifact_len, job->sha, job->errstr, sizeof(job->errstr));
    /* Scenario 3 of docs/reliability.md: the artifact is stored, the model not recorded. */
    if (!err) mm_crash_point("trainer_after_blob_put");
    return err;
}

static void metrics_to_records(const mm_metrics_t *m, mm_metric_t *out, size_t *n_out) {
    size_t n = 0;
    for (int i = 0; i < MM_METRIC__COUNT; i++) {
        if (isnan(m->v[i])) continue;
        out[n].name = (char *)mm_metric_name((mm_metric_id_t)i);
        out[n].value = m->v[i];
        n++;
    }
    *n_out = n;
}

static mm_err_t encode_event(train_job_t *job) {
    const mm_spec_t *spec = job->trainer->spec;
    const mm_train_result_t *res = &job->result;
    mm_model_trained_t ev = {0};
    mm_metric_t metrics[MM_METRIC__COUNT], baseline[MM_METRIC__COUNT];
    ev.train_id = job->train_id;
    ev.dataset = spec->name;
    ev.spec_hash = (char *)spec->hash;
    ev.partition_key = (char *)job->key;
    ev.algorithm = (char *)mm_algo_name(res->algorithm);
    ev.fallback = res->fallback;
    ev.fallback_reason = res->fallback ? (char *)res->fallback_reason : NULL;
    ev.artifact_uri = job->artifact_uri;
    ev.artifact_sha256 = job->sha;
    ev.artifact_size = (int64_t)res->artifact_len;
    ev.artifact_format = MM_ARTIFACT_FORMAT;
    metrics_to_records(&res->metrics, metrics, &ev.n_metrics);
    ev.metrics = metrics;
    metrics_to_records(&res->baseline, baseline, &ev.n_baseline);
    ev.baseline = baseline;
    ev.data_start_ms = job->data_start_ms;
    ev.data_end_ms = job->data_end_ms;
    ev.n_rows = (int64_t)job->history.n;
    ev.data_digest = job->history.digest;
    ev.trained_at_ms = mm_now_ms();
    ev.trainer = (char *)job->trainer->cfg.instance_id;
    ev.load_id = job->history.last_load_id; /* the load that last touched this key, for lineage */
    ev.adjustments = res->adjustments[0] ? res->adjustments : NULL;
    return mm_avro_encode_model_trained(&ev, &job->event, job->errstr, sizeof(job->errstr));
}

/* One transaction: the model is recorded, its event queued, the trigger cleared
 * (unless new data arrived meanwhile, which keeps the key due). */
static mm_err_t record(train_job_t *job) {
    mm_trainer_model_row_t row = {.train_id = job->train_id,
                                  .partition_key = job->key,
                                  .algorithm = mm_algo_name(job->result.algorithm),
                                  .fallback = job->result.fallback,
                                  .artifact_uri = job->artifact_uri,
                                  .sha256 = job->sha,
                                  .data_end_ms = job->data_end_ms,
                                  .n_rows = (int64_t)job->history.n};
    return mm_trainer_store_record_model(job->db, job->key, job->history.generation, job->train_id,
                                         job->already ? NULL : &row, &job->event, job->errstr,
                                         sizeof(job->errstr));
}

/* ------------------------------------------------------------ driver */

/*
 * Run @p step, retrying a transient failure (mm_err_is_retriable) with
 * jittered exponential backoff until it succeeds, fails for good, runs out of
 * attempts, or the trainer shuts down.
 */
static mm_err_t with_retries(train_job_t *job, train_step_fn step, const char *what) {
    mm_trainer_t *t = job->trainer;
    for (int attempt = 0;; attempt++) {
        mm_err_t err = step(job);
        if (!err || !mm_err_is_retriable(err) || attempt + 1 >= TRAIN_RETRY_ATTEMPTS ||
            t->stop_retries)
            return err;
        mm_log_warn("train_retry", "%s: %s: %s (attempt %d of %d)", job->key, what, job->errstr,
                    attempt + 1, TRAIN_RETRY_ATTEMPTS);
        mm_sleep_ms(mm_backoff_ms(attempt, TRAIN_RETRY_BASE_MS, TRAIN_RETRY_CAP_MS),
                    &t->stop_retries);
    }
}

static void count(mm_trainer_t *t, int64_t *counter) {
    pthread_mutex_lock(&t->lock);
    (*counter)++;
    pthread_mutex_unlock(&t->lock);
}

static void log_trained(const train_job_t *job, int64_t started_ms) {
    const mm_spec_t *spec = job->trainer->spec;
    const mm_train_result_t *res = &job->result;
    const int sel = spec->model.selection_metric;
    mm_logj(MM_LOG_DEBUG, "model_trained",
            json_pack("{s:s, s:s, s:s, s:b, s:f, s:f, s:I, s:I}", "partition_key", job->key,
                      "train_id", job->train_id, "algorithm", mm_algo_name(res->algorithm),
                      "fallback", res->fallback, "metric",
                      isnan(res->metrics.v[sel]) ? -1.0 : res->metrics.v[sel], "baseline",
                      isnan(res->baseline.v[sel]) ? -1.0 : res->baseline.v[sel], "rows",
                      (json_int_t)job->history.n, "ms", (json_int_t)(mm_mono_ms() - started_ms)),
            "%s trained with %s", job->key, mm_algo_name(res->algorithm));
}

void mm_trainer__train_key(mm_trainer_t *t, mm_db_t *db, mm_blob_t *blob, const char *key) {
    static const struct {
        train_step_fn fn;
        const char *what;
        bool retry;          /* transient failures are retried */
        bool unless_already; /* skipped when the data was trained on before */
    } steps[] = {
        {load_history, "cannot load history", true, false},
        {build_series, "cannot build the series", false, false},
        {identify, "cannot look up the train id", true, false},
        {fit, "fit", false, true},
        {write_artifact, "artifact upload failed", true, true},
        {encode_event, "encode ModelTrained", false, true},
        {record, "state write failed", true, false},
    };
    train_job_t job = {.trainer = t, .db = db, .blob = blob, .key = key};
    mm_buf_init(&job.event, MM_BUF_CAP_MESSAGE);
    int64_t started = mm_mono_ms();
    mm_err_t err = MM_OK;
    for (size_t i = 0; i < MM_ARRAY_SIZE(steps) && !err; i++) {
        if (steps[i].unless_already && job.already) continue;
        err = steps[i].retry ? with_retries(&job, steps[i].fn, steps[i].what) : steps[i].fn(&job);
        if (err) mm_log_error("train_failed", "%s: %s: %s", key, steps[i].what, job.errstr);
    }

    if (err) {
        count(t, &t->train_failed);
        /* The key stays dirty; its next attempt comes later. */
        if (job.history.n > 0 &&
            mm_trainer_store_postpone(db, key, mm_now_ms() + TRAIN_FAILED_POSTPONE_MS, job.errstr,
                                      sizeof(job.errstr)))
            mm_log_warn("train_postpone_failed", "%s: %s", key, job.errstr);
    } else if (job.already) {
        mm_log_debug("train_skipped", "%s: data unchanged since model %.12s", key, job.train_id);
        count(t, &t->train_skipped);
    } else {
        log_trained(&job, started);
        count(t, &t->trained);
        mm_metric_observe(t->metrics.train_seconds, NULL,
                          (double)(mm_mono_ms() - started) / MS_PER_SECOND);
    }
    mm_train_result_clear(&job.result);
    mm_buf_free(&job.event);
    for (size_t e = 0; e < job.n_series; e++) mm_regular_series_clear(&job.series[e]);
    free(job.series);
    mm_trainer_history_clear(&job.history);
}
