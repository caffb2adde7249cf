/*
 * trainer.c - mm-trainer: per-key history, retrain triggers, training pool.
 *
 * Workload: a steady stream of ObservationBatch records (up to a few
 * thousand rows each) for thousands of keys, and bursts of training when a
 * load ends. The poll thread only does cheap, durable work: one SQLite
 * transaction per record (rows upserted by (key, time), the batch noted for
 * load completeness, the key's trigger, and the consumed offset). Training
 * runs on a worker pool, each worker with its own SQLite connection and blob
 * handle, so the poll loop never starves.
 *
 * Effectively-once (DESIGN.md section 9):
 *   - history and the consumed offset commit together; on assignment the
 *     consumer seeks to the stored offset, so a crash replays nothing twice;
 *   - a batch is identified by (key, load, batch_seq): a redelivered batch is
 *     ignored, a re-sent observation (same key and time) replaces the old one;
 *   - train_id = sha256(key, spec hash, data watermark, data digest): a key
 *     whose data has not changed since its last model is not retrained;
 *   - artifacts are content-addressed and written with If-None-Match: *;
 *   - ModelTrained and dead letters go through an outbox (mm/outbox.h) written
 *     in the same transaction as the effect and deleted on a successful
 *     delivery report.
 */
#include "trainer.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/avro.h"
#include "mm/db.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/model.h"
#include "mm/outbox.h"
#include "mm/records.h"
#include "mm/service.h"
#include "mm/sha256.h"
#include "mm/util.h"

#define SERVICE_NAME         "mm-trainer"
#define JOB_QUEUE_CAP        256 /* keys queued for training at once */
#define OUTBOX_BATCH         200 /* outbox rows handed to the producer per batch */
#define SCHEDULE_INTERVAL_MS 100 /* how often due keys are looked up */

const char *const mm_trainer_migrations[] = {
    /* v1 */
    "CREATE TABLE history ("
    "  partition_key TEXT NOT NULL,"
    "  t INTEGER NOT NULL,"
    "  y REAL,"
    "  x BLOB,"
    "  PRIMARY KEY (partition_key, t)) WITHOUT ROWID;"
    "CREATE TABLE keys ("
    "  partition_key TEXT PRIMARY KEY,"
    "  generation INTEGER NOT NULL DEFAULT 0," /* bumped on every data change */
    "  new_rows INTEGER NOT NULL DEFAULT 0,"   /* rows since the last model */
    "  dirty INTEGER NOT NULL DEFAULT 0,"      /* a retrain is due */
    "  trigger_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_load_id TEXT,"
    "  last_train_id TEXT,"
    "  last_trained_at_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX keys_due ON keys(dirty, trigger_at_ms);"
    "CREATE TABLE load_batches ("
    "  partition_key TEXT NOT NULL,"
    "  load_id TEXT NOT NULL,"
    "  batch_seq INTEGER NOT NULL,"
    "  n_rows INTEGER NOT NULL,"
    "  end_of_load INTEGER NOT NULL,"
    "  expected_rows INTEGER NOT NULL,"
    "  expected_batches INTEGER NOT NULL,"
    "  PRIMARY KEY (partition_key, load_id, batch_seq)) WITHOUT ROWID;"
    "CREATE TABLE offsets ("
    "  topic TEXT NOT NULL,"
    "  partition INTEGER NOT NULL,"
    "  next_offset INTEGER NOT NULL,"
    "  PRIMARY KEY (topic, partition));"
    "CREATE TABLE trained ("
    "  train_id TEXT PRIMARY KEY,"
    "  partition_key TEXT NOT NULL,"
    "  algorithm TEXT NOT NULL,"
    "  fallback INTEGER NOT NULL,"
    "  artifact_uri TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  data_end_ms INTEGER NOT NULL,"
    "  n_rows INTEGER NOT NULL,"
    "  trained_at_ms INTEGER NOT NULL);" MM_OUTBOX_TABLE_SQL,
};
const size_t mm_trainer_n_migrations = MM_ARRAY_SIZE(mm_trainer_migrations);

/* ------------------------------------------------------------------ types */

typedef struct job {
    char *partition_key;
} job_t;

struct mm_trainer {
    mm_trainer_config_t cfg;
    const mm_spec_t *spec;
    mm_db_t *db; /* poll thread's connection */
    mm_kafka_producer_t *producer;
    mm_kafka_consumer_t *consumer;

    /* prepared statements of the poll thread */
    sqlite3_stmt *st_history_upsert;
    sqlite3_stmt *st_batch_insert;
    sqlite3_stmt *st_key_touch;
    sqlite3_stmt *st_key_trigger;
    sqlite3_stmt *st_offset_store;

    /* worker pool */
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t lock;
    pthread_cond_t cond_jobs;
    job_t queue[JOB_QUEUE_CAP];
    size_t q_head, q_len;
    char **inflight; /* keys queued or training (small: <= JOB_QUEUE_CAP + workers) */
    size_t n_inflight, cap_inflight;
    bool stopping;

    /* outbox delivery over db (poll thread; the producer's delivery reports land here) */
    mm_outbox_t outbox;

    /* counters (poll thread, except trained/train_failed under lock) */
    int64_t batches, rows, dead_letters, duplicate_batches;
    int64_t trained, train_skipped, train_failed;
};

/* ---------------------------------------------------------------- helpers */

static mm_err_t bind_text(sqlite3_stmt *st, int idx, const char *text) {
    return sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT) == SQLITE_OK ? MM_OK : MM_ERR_DB;
}

static bool inflight_has(mm_trainer_t *t, const char *key) {
    for (size_t i = 0; i < t->n_inflight; i++)
        if (strcmp(t->inflight[i], key) == 0) return true;
    return false;
}

static void inflight_remove(mm_trainer_t *t, const char *key) {
    for (size_t i = 0; i < t->n_inflight; i++) {
        if (strcmp(t->inflight[i], key) == 0) {
            free(t->inflight[i]);
            t->inflight[i] = t->inflight[--t->n_inflight];
            return;
        }
    }
}

/* ------------------------------------------------------- intake (poll thread) */

static mm_err_t store_offset_txn(mm_trainer_t *t, const mm_kafka_msg_t *msg, char *errstr,
                                 size_t errstr_size) {
    sqlite3_stmt *st = t->st_offset_store;
    sqlite3_bind_text(st, 1, msg->topic, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, msg->partition);
    sqlite3_bind_int64(st, 3, msg->offset + 1);
    return mm_db_step_done(t->db, st, errstr, errstr_size);
}

/* Dead-letter a record we cannot use: outbox + offset in one transaction. */
static mm_err_t dead_letter_msg(mm_trainer_t *t, const mm_kafka_msg_t *msg, mm_err_t why,
                                const char *reason, char *errstr, size_t errstr_size) {
    char *key = msg->key ? mm_strndup(msg->key, msg->key_len) : NULL;
    mm_service_dead_letter_source_t source = {
        .topic = msg->topic, .partition = msg->partition, .offset = msg->offset};
    mm_buf_t payload;
    mm_buf_init(&payload, MM_BUF_CAP_MESSAGE + 65536);
    mm_err_t err =
        mm_service_dead_letter_encode(SERVICE_NAME, &source, key, msg->value, msg->value_len, why,
                                      reason, &payload, errstr, errstr_size);
    if (!err) err = mm_db_begin(t->db, errstr, errstr_size);
    if (!err) {
        err = mm_outbox_insert(t->db, MM_TOPIC_DEADLETTER, key, &payload, mm_now_ms(), errstr,
                               errstr_size);
        if (!err) err = store_offset_txn(t, msg, errstr, errstr_size);
        if (!err) err = mm_db_commit(t->db, errstr, errstr_size);
        if (err) mm_db_rollback(t->db);
    }
    mm_buf_free(&payload);
    free(key);
    if (!err) {
        t->dead_letters++;
        mm_logj(MM_LOG_WARN, "dead_letter",
                json_pack("{s:s, s:i, s:I, s:s}", "topic", msg->topic, "partition", msg->partition,
                          "offset", (json_int_t)msg->offset, "error", mm_err_name(why)),
                "record dead-lettered: %s", reason);
    }
    return err;
}

/* Map the batch's columns onto the spec's exogenous features (by name). */
static void map_columns(const mm_spec_t *spec, const mm_observation_batch_t *b, int *col_of) {
    for (size_t j = 0; j < spec->n_feature_columns; j++) {
        col_of[j] = -1;
        for (size_t c = 0; c < b->n_columns; c++)
            if (b->columns[c].name && strcmp(b->columns[c].name, spec->feature_columns[j]) == 0)
                col_of[j] = (int)c;
    }
}

static mm_err_t apply_batch(mm_trainer_t *t, const mm_kafka_msg_t *msg,
                            const mm_observation_batch_t *b, char *errstr, size_t errstr_size) {
    const mm_spec_t *spec = t->spec;
    mm_err_t err = mm_db_begin(t->db, errstr, errstr_size);
    if (err) return err;

    /* A batch already seen (a redelivery) changes nothing but the offset. */
    sqlite3_stmt *st = t->st_batch_insert;
    bind_text(st, 1, b->partition_key);
    bind_text(st, 2, b->load_id);
    sqlite3_bind_int(st, 3, b->batch_seq);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)b->n_rows);
    sqlite3_bind_int(st, 5, b->end_of_load ? 1 : 0);
    sqlite3_bind_int64(st, 6, b->load_rows_for_key);
    sqlite3_bind_int(st, 7, b->load_batches_for_key);
    err = mm_db_step_done(t->db, st, errstr, errstr_size);
    if (err) goto fail;
    bool fresh = sqlite3_changes(t->db->sqlite) > 0;

    if (fresh) {
        int col_of[MM_MODEL_MAX_EXOG];
        map_columns(spec, b, col_of);
        double x[MM_MODEL_MAX_EXOG];
        sqlite3_stmt *hs = t->st_history_upsert;
        for (size_t i = 0; i < b->n_rows; i++) {
            bind_text(hs, 1, b->partition_key);
            sqlite3_bind_int64(hs, 2, b->time_ms[i]);
            if (isnan(b->target[i]))
                sqlite3_bind_null(hs, 3);
            else
                sqlite3_bind_double(hs, 3, b->target[i]);
            if (spec->n_feature_columns > 0) {
                for (size_t j = 0; j < spec->n_feature_columns; j++)
                    x[j] = col_of[j] >= 0 ? b->columns[col_of[j]].values[i] : NAN;
                sqlite3_bind_blob(hs, 4, x, (int)(spec->n_feature_columns * sizeof(double)),
                                  SQLITE_TRANSIENT);
            } else {
                sqlite3_bind_null(hs, 4);
            }
            err = mm_db_step_done(t->db, hs, errstr, errstr_size);
            if (err) goto fail;
        }
        /* The key's generation moves; an end of load or enough new rows is a trigger. */
        sqlite3_stmt *ks = t->st_key_touch;
        bind_text(ks, 1, b->partition_key);
        sqlite3_bind_int64(ks, 2, (sqlite3_int64)b->n_rows);
        bind_text(ks, 3, b->load_id);
        err = mm_db_step_done(t->db, ks, errstr, errstr_size);
        if (err) goto fail;

        bool trigger = b->end_of_load && spec->retrain.on_end_of_load;
        if (!trigger && spec->retrain.min_new_rows > 0) {
            char sql[] = "SELECT new_rows FROM keys WHERE partition_key = ?1";
            sqlite3_stmt *q = NULL;
            if (mm_db_prepare(t->db, &q, sql, errstr, errstr_size) == MM_OK) {
                bind_text(q, 1, b->partition_key);
                if (sqlite3_step(q) == SQLITE_ROW)
                    trigger = sqlite3_column_int64(q, 0) >= spec->retrain.min_new_rows;
                sqlite3_finalize(q);
            }
        }
        if (trigger) {
            sqlite3_stmt *ts = t->st_key_trigger;
            bind_text(ts, 1, b->partition_key);
            sqlite3_bind_int64(ts, 2, mm_now_ms() + spec->retrain.debounce_ms);
            err = mm_db_step_done(t->db, ts, errstr, errstr_size);
            if (err) goto fail;
        }
    } else {
        t->duplicate_batches++;
    }
    err = store_offset_txn(t, msg, errstr, errstr_size);
    if (err) goto fail;
    err = mm_db_commit(t->db, errstr, errstr_size);
    if (err) goto fail;

    if (fresh) {
        t->batches++;
        t->rows += (int64_t)b->n_rows;
        if (b->end_of_load) {
            /* Completeness: every batch of the key's load should be here by now. */
            char sql[] = "SELECT COUNT(*), COALESCE(SUM(n_rows),0) FROM load_batches "
                         "WHERE partition_key = ?1 AND load_id = ?2";
            sqlite3_stmt *q = NULL;
            if (mm_db_prepare(t->db, &q, sql, errstr, errstr_size) == MM_OK) {
                bind_text(q, 1, b->partition_key);
                bind_text(q, 2, b->load_id);
                if (sqlite3_step(q) == SQLITE_ROW) {
                    int64_t got_batches = sqlite3_column_int64(q, 0);
                    int64_t got_rows = sqlite3_column_int64(q, 1);
                    if ((b->load_batches_for_key >= 0 && got_batches != b->load_batches_for_key) ||
                        (b->load_rows_for_key >= 0 && got_rows != b->load_rows_for_key))
                        mm_logj(MM_LOG_WARN, "load_incomplete",
                                json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "partition_key",
                                          b->partition_key, "load_id", b->load_id, "expected_rows",
                                          (json_int_t)b->load_rows_for_key, "received_rows",
                                          (json_int_t)got_rows, "expected_batches",
                                          (json_int_t)b->load_batches_for_key, "received_batches",
                                          (json_int_t)got_batches),
                                "end of load for %s arrived but %" PRId64 " of %" PRId64
                                " rows are here; training on what arrived",
                                b->partition_key, got_rows, b->load_rows_for_key);
                }
                sqlite3_finalize(q);
            }
        }
    }
    return MM_OK;
fail:
    mm_db_rollback(t->db);
    return err;
}

static mm_err_t handle_message(mm_trainer_t *t, const mm_kafka_msg_t *msg) {
    char errstr[512];
    mm_observation_batch_t batch = {0};
    mm_err_t err = mm_avro_decode_observation_batch(msg->value, msg->value ? msg->value_len : 0,
                                                    &batch, errstr, sizeof(errstr));
    if (err) {
        char reason[700];
        snprintf(reason, sizeof(reason), "%s [%d] offset %" PRId64 ": %s", msg->topic,
                 msg->partition, msg->offset, errstr);
        return dead_letter_msg(t, msg, err, reason, errstr, sizeof(errstr));
    }
    if (!batch.spec_hash || strcmp(batch.spec_hash, t->spec->hash) != 0) {
        char reason[512];
        snprintf(reason, sizeof(reason),
                 "dataset spec mismatch: record was produced with spec %.16s..., this trainer "
                 "runs spec %.16s... (%s)",
                 batch.spec_hash ? batch.spec_hash : "(none)", t->spec->hash, t->spec->name);
        mm_observation_batch_clear(&batch);
        return dead_letter_msg(t, msg, MM_ERR_CONFIG, reason, errstr, sizeof(errstr));
    }
    err = apply_batch(t, msg, &batch, errstr, sizeof(errstr));
    if (err)
        mm_log_error("state_write_failed", "%s [%d] offset %" PRId64 ": %s", msg->topic,
                     msg->partition, msg->offset, errstr);
    mm_observation_batch_clear(&batch);
    return err;
}

/* ------------------------------------------------------------- training */

typedef struct key_data {
    size_t n_rows; /* observations stored */
    size_t n;      /* regular series length */
    int64_t *time_ms;
    double *y;
    double *x; /* n_exog * n, column-major */
    const double **exog;
    int64_t generation;
    char digest[MM_SHA256_HEX_LEN + 1];
} key_data_t;

static void key_data_free(key_data_t *d) {
    free(d->time_ms);
    free(d->y);
    free(d->x);
    free(d->exog);
    memset(d, 0, sizeof(*d));
}

/* Period index of @p t relative to @p t0 (calendar months for monthly data). */
static int64_t period_index(const mm_spec_t *spec, int64_t t0, int64_t t) {
    if (spec->freq == MM_FREQ_MONTH) {
        time_t a = (time_t)(t0 / 1000), b = (time_t)(t / 1000);
        struct tm ta, tb;
        gmtime_r(&a, &ta);
        gmtime_r(&b, &tb);
        return (int64_t)(tb.tm_year - ta.tm_year) * 12 + (tb.tm_mon - ta.tm_mon);
    }
    int64_t p = mm_freq_period_ms(spec->freq);
    return (t - t0 + p / 2) / p;
}

static mm_err_t load_key(mm_trainer_t *t, mm_db_t *db, const char *key, key_data_t *d, char *errstr,
                         size_t errstr_size) {
    const mm_spec_t *spec = t->spec;
    size_t nx = spec->n_feature_columns;
    memset(d, 0, sizeof(*d));
    mm_err_t err = mm_db_begin(db, errstr, errstr_size); /* one consistent snapshot */
    if (err) return err;
    sqlite3_stmt *st = NULL;
    err = mm_db_prepare(db, &st, "SELECT generation FROM keys WHERE partition_key = ?1", errstr,
                        errstr_size);
    if (err) goto out;
    bind_text(st, 1, key);
    if (sqlite3_step(st) == SQLITE_ROW) d->generation = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;

    err = mm_db_prepare(db, &st, "SELECT t, y, x FROM history WHERE partition_key = ?1 ORDER BY t",
                        errstr, errstr_size);
    if (err) goto out;
    bind_text(st, 1, key);
    size_t cap = 0, n = 0;
    int64_t *ts = NULL;
    double *ys = NULL, *xs = NULL;
    mm_sha256_ctx_t *sha = mm_sha256_new();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            int64_t *nt = realloc(ts, cap * sizeof(*ts));
            double *ny = realloc(ys, cap * sizeof(*ys));
            double *nxs = nx ? realloc(xs, cap * nx * sizeof(*xs)) : xs;
            if (!nt || !ny || (nx && !nxs)) {
                free(nt ? nt : ts);
                free(ny ? ny : ys);
                free(nxs ? nxs : xs);
                mm_sha256_final_hex(sha, d->digest);
                sqlite3_finalize(st);
                mm_db_rollback(db);
                return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: history too large", key);
            }
            ts = nt;
            ys = ny;
            xs = nxs;
        }
        ts[n] = sqlite3_column_int64(st, 0);
        ys[n] = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
        const void *blob = sqlite3_column_blob(st, 2);
        int blen = sqlite3_column_bytes(st, 2);
        for (size_t j = 0; j < nx; j++) {
            double v = NAN;
            if (blob && (size_t)blen >= (j + 1) * sizeof(double))
                memcpy(&v, (const uint8_t *)blob + j * sizeof(double), sizeof(double));
            xs[n * nx + j] = v;
        }
        mm_sha256_update(sha, &ts[n], sizeof(int64_t));
        mm_sha256_update(sha, &ys[n], sizeof(double));
        if (nx) mm_sha256_update(sha, &xs[n * nx], nx * sizeof(double));
        n++;
    }
    mm_sha256_final_hex(sha, d->digest);
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_DONE) {
        free(ts);
        free(ys);
        free(xs);
        err = mm_db_err(db, "read history", errstr, errstr_size);
        goto out;
    }
    mm_db_rollback(db); /* read-only snapshot: nothing to commit */
    d->n_rows = n;
    if (n == 0) {
        free(ts);
        free(ys);
        free(xs);
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size, "%s: no history", key);
    }

    /* Regularise onto the spec's period: gaps become NaN targets (the model
     * library's gap handling), exogenous values missing there are NaN too. */
    int64_t last = period_index(spec, ts[0], ts[n - 1]);
    int64_t first_kept = 0;
    if (last + 1 > t->cfg.max_series_points) first_kept = last + 1 - t->cfg.max_series_points;
    size_t len = (size_t)(last - first_kept + 1);
    d->n = len;
    d->time_ms = malloc(len * sizeof(int64_t));
    d->y = malloc(len * sizeof(double));
    d->x = nx ? malloc(len * nx * sizeof(double)) : NULL;
    d->exog = nx ? calloc(nx, sizeof(double *)) : NULL;
    if (!d->time_ms || !d->y || (nx && (!d->x || !d->exog))) {
        free(ts);
        free(ys);
        free(xs);
        key_data_free(d);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: series too large", key);
    }
    int64_t period = mm_freq_period_ms(spec->freq);
    for (size_t i = 0; i < len; i++) {
        d->y[i] = NAN;
        d->time_ms[i] = 0;
        for (size_t j = 0; j < nx; j++) d->x[j * len + i] = NAN;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t idx = period_index(spec, ts[0], ts[i]) - first_kept;
        if (idx < 0 || idx >= (int64_t)len) continue;
        d->y[idx] = ys[i];
        d->time_ms[idx] = ts[i];
        for (size_t j = 0; j < nx; j++) d->x[j * len + (size_t)idx] = xs[i * nx + j];
    }
    /* Times of gap slots: interpolate from the nearest known neighbour. */
    for (size_t i = 0; i < len; i++) {
        if (d->time_ms[i] != 0 || (i == 0 && first_kept == 0)) continue;
        d->time_ms[i] = i > 0 ? d->time_ms[i - 1] + period : ts[0] + first_kept * period;
    }
    for (size_t j = 0; j < nx; j++) d->exog[j] = d->x + j * len;
    free(ts);
    free(ys);
    free(xs);
    return MM_OK;
out:
    if (st) sqlite3_finalize(st);
    mm_db_rollback(db);
    return err;
}

static void metrics_to_records(const mm_metrics_t *m, mm_metric_t *out, size_t *n_out) {
    size_t n = 0;
    for (int i = 0; i < MM_METRIC__COUNT; i++) {
        if (isnan(m->v[i])) continue;
        out[n].name = mm_metric_name((mm_metric_id_t)i);
        out[n].value = m->v[i];
        n++;
    }
    *n_out = n;
}

/* Train one key; runs on a worker thread with its own db and blob handles. */
static void train_key(mm_trainer_t *t, mm_db_t *db, mm_blob_t *blob, const char *key) {
    const mm_spec_t *spec = t->spec;
    char errstr[1024];
    int64_t started = mm_mono_ms();
    key_data_t d;
    mm_err_t err = load_key(t, db, key, &d, errstr, sizeof(errstr));
    if (err) {
        mm_log_error("train_failed", "%s: cannot load history: %s", key, errstr);
        pthread_mutex_lock(&t->lock);
        t->train_failed++;
        pthread_mutex_unlock(&t->lock);
        return;
    }

    /* Deterministic identity: same key, spec and data -> same train id. */
    char train_id[MM_SHA256_HEX_LEN + 1];
    {
        char material[2048];
        int ml = snprintf(material, sizeof(material), "%s\n%s\n%" PRId64 "\n%zu\n%s", key,
                          spec->hash, d.time_ms[d.n - 1], d.n_rows, d.digest);
        mm_sha256_hex(material,
                      (size_t)(ml < (int)sizeof(material) ? ml : (int)sizeof(material) - 1),
                      train_id);
    }

    bool already = false;
    {
        sqlite3_stmt *q = NULL;
        if (mm_db_prepare(db, &q, "SELECT 1 FROM trained WHERE train_id = ?1", errstr,
                          sizeof(errstr)) == MM_OK) {
            bind_text(q, 1, train_id);
            already = sqlite3_step(q) == SQLITE_ROW;
            sqlite3_finalize(q);
        }
    }

    mm_train_result_t res = {0};
    mm_buf_t payload;
    mm_buf_init(&payload, MM_BUF_CAP_MESSAGE);
    char artifact_uri[1024] = "";
    char sha[MM_SHA256_HEX_LEN + 1] = "";

    if (!already) {
        mm_series_t series = {.n = d.n,
                              .time_ms = d.time_ms,
                              .y = d.y,
                              .n_exog = spec->n_feature_columns,
                              .exog = d.exog};
        err = mm_model_train(&spec->model, &series, &res, errstr, sizeof(errstr));
        if (err) {
            mm_log_error("train_failed", "%s: %s", key, errstr);
            goto done_failed;
        }
        mm_sha256_hex(res.artifact, res.artifact_len, sha);
        snprintf(artifact_uri, sizeof(artifact_uri), "candidates/%s/%s/%s.mm", spec->name, key,
                 sha);
        /* Blob outages are retried inside the blob layer; keep trying here too,
         * since losing the model is not an option while we run. */
        for (int attempt = 0;; attempt++) {
            err = mm_blob_put_immutable(blob, artifact_uri, res.artifact, res.artifact_len, sha,
                                        errstr, sizeof(errstr));
            if (!err || !mm_err_is_retriable(err) || attempt >= 8) break;
            mm_log_warn("blob_retry", "%s: %s (attempt %d)", artifact_uri, errstr, attempt + 1);
            mm_sleep_ms(mm_backoff_ms(attempt, 500, 30000), NULL);
        }
        if (err) {
            mm_log_error("train_failed", "%s: artifact upload failed: %s", key, errstr);
            goto done_failed;
        }

        mm_model_trained_t ev = {0};
        mm_metric_t metrics[MM_METRIC__COUNT], baseline[MM_METRIC__COUNT];
        ev.train_id = train_id;
        ev.dataset = spec->name;
        ev.spec_hash = spec->hash;
        ev.partition_key = key;
        ev.algorithm = mm_algo_name(res.algorithm);
        ev.fallback = res.fallback;
        ev.fallback_reason = res.fallback ? res.fallback_reason : NULL;
        ev.artifact_uri = artifact_uri;
        ev.artifact_sha256 = sha;
        ev.artifact_size = (int64_t)res.artifact_len;
        ev.artifact_format = MM_ARTIFACT_FORMAT;
        metrics_to_records(&res.metrics, metrics, &ev.n_metrics);
        ev.metrics = metrics;
        metrics_to_records(&res.baseline, baseline, &ev.n_baseline);
        ev.baseline = baseline;
        ev.data_start_ms = d.time_ms[0];
        ev.data_end_ms = d.time_ms[d.n - 1];
        ev.n_rows = (int64_t)d.n_rows;
        ev.data_digest = d.digest;
        ev.trained_at_ms = mm_now_ms();
        ev.trainer = t->cfg.instance_id;

        /* The load that last touched this key, for lineage. */
        char *load_id = NULL;
        sqlite3_stmt *q = NULL;
        if (mm_db_prepare(db, &q, "SELECT last_load_id FROM keys WHERE partition_key = ?1", errstr,
                          sizeof(errstr)) == MM_OK) {
            bind_text(q, 1, key);
            if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
                load_id = strdup((const char *)sqlite3_column_text(q, 0));
            sqlite3_finalize(q);
        }
        ev.load_id = load_id;
        err = mm_avro_encode_model_trained(&ev, &payload, errstr, sizeof(errstr));
        free(load_id);
        if (err) {
            mm_log_error("train_failed", "%s: encode ModelTrained: %s", key, errstr);
            goto done_failed;
        }
    }

    /* One transaction: the model is recorded, its event queued, the trigger cleared
     * (unless new data arrived meanwhile, which keeps the key due). */
    err = mm_db_begin(db, errstr, sizeof(errstr));
    if (!err && !already) {
        sqlite3_stmt *st = NULL;
        err = mm_db_prepare(db, &st,
                            "INSERT OR IGNORE INTO trained(train_id, partition_key, algorithm, "
                            "fallback, artifact_uri, sha256, data_end_ms, n_rows, trained_at_ms) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                            errstr, sizeof(errstr));
        if (!err) {
            bind_text(st, 1, train_id);
            bind_text(st, 2, key);
            bind_text(st, 3, mm_algo_name(res.algorithm));
            sqlite3_bind_int(st, 4, res.fallback);
            bind_text(st, 5, artifact_uri);
            bind_text(st, 6, sha);
            sqlite3_bind_int64(st, 7, d.time_ms[d.n - 1]);
            sqlite3_bind_int64(st, 8, (sqlite3_int64)d.n_rows);
            sqlite3_bind_int64(st, 9, mm_now_ms());
            err = mm_db_step_done(db, st, errstr, sizeof(errstr));
            sqlite3_finalize(st);
        }
        if (!err)
            err = mm_outbox_insert(db, MM_TOPIC_MODELS, key, &payload, mm_now_ms(), errstr,
                                   sizeof(errstr));
    }
    if (!err) {
        sqlite3_stmt *st = NULL;
        err = mm_db_prepare(db, &st,
                            "UPDATE keys SET dirty = CASE WHEN generation = ?2 THEN 0 ELSE dirty "
                            "END, new_rows = CASE WHEN generation = ?2 THEN 0 ELSE new_rows END, "
                            "last_train_id = ?3, last_trained_at_ms = ?4 WHERE partition_key = ?1",
                            errstr, sizeof(errstr));
        if (!err) {
            bind_text(st, 1, key);
            sqlite3_bind_int64(st, 2, d.generation);
            bind_text(st, 3, train_id);
            sqlite3_bind_int64(st, 4, mm_now_ms());
            err = mm_db_step_done(db, st, errstr, sizeof(errstr));
            sqlite3_finalize(st);
        }
    }
    if (!err) err = mm_db_commit(db, errstr, sizeof(errstr));
    if (err) {
        mm_db_rollback(db);
        mm_log_error("train_failed", "%s: state write failed: %s", key, errstr);
        goto done_failed;
    }

    if (already) {
        mm_log_debug("train_skipped", "%s: data unchanged since model %.12s", key, train_id);
        pthread_mutex_lock(&t->lock);
        t->train_skipped++;
        pthread_mutex_unlock(&t->lock);
    } else {
        const int sel = spec->model.selection_metric;
        mm_logj(MM_LOG_DEBUG, "model_trained",
                json_pack("{s:s, s:s, s:s, s:b, s:f, s:f, s:I, s:I}", "partition_key", key,
                          "train_id", train_id, "algorithm", mm_algo_name(res.algorithm),
                          "fallback", res.fallback, "metric",
                          isnan(res.metrics.v[sel]) ? -1.0 : res.metrics.v[sel], "baseline",
                          isnan(res.baseline.v[sel]) ? -1.0 : res.baseline.v[sel], "rows",
                          (json_int_t)d.n_rows, "ms", (json_int_t)(mm_mono_ms() - started)),
                "%s trained with %s", key, mm_algo_name(res.algorithm));
        pthread_mutex_lock(&t->lock);
        t->trained++;
        pthread_mutex_unlock(&t->lock);
    }
    mm_train_result_clear(&res);
    mm_buf_free(&payload);
    key_data_free(&d);
    return;

done_failed:
    pthread_mutex_lock(&t->lock);
    t->train_failed++;
    pthread_mutex_unlock(&t->lock);
    mm_train_result_clear(&res);
    mm_buf_free(&payload);
    key_data_free(&d);
    /* The key stays dirty; push its next attempt back so a persistent failure
     * does not spin. */
    sqlite3_stmt *st = NULL;
    if (mm_db_prepare(db, &st,
                      "UPDATE keys SET trigger_at_ms = ?2 WHERE partition_key = ?1 AND dirty = 1",
                      errstr, sizeof(errstr)) == MM_OK) {
        bind_text(st, 1, key);
        sqlite3_bind_int64(st, 2, mm_now_ms() + 30000);
        mm_db_step_done(db, st, errstr, sizeof(errstr));
        sqlite3_finalize(st);
    }
}

typedef struct worker_arg {
    mm_trainer_t *trainer;
    int index;
} worker_arg_t;

static void *worker_main(void *arg_) {
    worker_arg_t *arg = arg_;
    mm_trainer_t *t = arg->trainer;
    char errstr[512];
    mm_db_t *db = mm_db_open(t->cfg.state_path, mm_trainer_migrations, mm_trainer_n_migrations,
                             errstr, sizeof(errstr));
    mm_blob_t *blob =
        db ? mm_blob_new(t->cfg.blob_url, &t->cfg.blob_opts, errstr, sizeof(errstr)) : NULL;
    if (!db || !blob)
        mm_log_error("worker_failed", "worker %d cannot start: %s", arg->index, errstr);

    for (;;) {
        pthread_mutex_lock(&t->lock);
        while (!t->stopping && t->q_len == 0) pthread_cond_wait(&t->cond_jobs, &t->lock);
        if (t->q_len == 0) { /* stopping and drained */
            pthread_mutex_unlock(&t->lock);
            break;
        }
        job_t job = t->queue[t->q_head];
        t->q_head = (t->q_head + 1) % JOB_QUEUE_CAP;
        t->q_len--;
        pthread_mutex_unlock(&t->lock);

        if (db && blob) train_key(t, db, blob, job.partition_key);

        pthread_mutex_lock(&t->lock);
        inflight_remove(t, job.partition_key);
        pthread_mutex_unlock(&t->lock);
        free(job.partition_key);
    }
    mm_blob_destroy(blob);
    mm_db_close(db);
    free(arg);
    return NULL;
}

/* Queue due keys that are not already queued or training (poll thread). */
static void schedule_due(mm_trainer_t *t) {
    char errstr[512];
    sqlite3_stmt *st = NULL;
    const mm_retrain_policy_t *rp = &t->spec->retrain;
    int64_t now = mm_now_ms();
    if (mm_db_prepare(t->db, &st,
                      "SELECT partition_key FROM keys WHERE (dirty = 1 AND trigger_at_ms <= ?1) "
                      "OR (?2 > 0 AND new_rows > 0 AND last_trained_at_ms > 0 AND "
                      "last_trained_at_ms <= ?1 - ?2 * 1000) ORDER BY trigger_at_ms LIMIT ?3",
                      errstr, sizeof(errstr)) != MM_OK) {
        mm_log_error("schedule_failed", "%s", errstr);
        return;
    }
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, rp->max_age_s);
    sqlite3_bind_int(st, 3, JOB_QUEUE_CAP);
    pthread_mutex_lock(&t->lock);
    while (t->q_len < JOB_QUEUE_CAP && sqlite3_step(st) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        if (!key || inflight_has(t, key)) continue;
        if (t->n_inflight == t->cap_inflight) {
            size_t cap = t->cap_inflight ? t->cap_inflight * 2 : 64;
            char **n = realloc(t->inflight, cap * sizeof(char *));
            if (!n) break;
            t->inflight = n;
            t->cap_inflight = cap;
        }
        char *k1 = strdup(key), *k2 = strdup(key);
        if (!k1 || !k2) {
            free(k1);
            free(k2);
            break;
        }
        t->inflight[t->n_inflight++] = k1;
        t->queue[(t->q_head + t->q_len) % JOB_QUEUE_CAP].partition_key = k2;
        t->q_len++;
        pthread_cond_signal(&t->cond_jobs);
    }
    pthread_mutex_unlock(&t->lock);
    sqlite3_finalize(st);
}

/* ------------------------------------------------------------- rebalance */

static int64_t on_assign(void *opaque, const char *topic, int32_t partition) {
    mm_trainer_t *t = opaque;
    char errstr[256];
    sqlite3_stmt *st = NULL;
    int64_t offset = MM_OFFSET_BEGINNING;
    if (mm_db_prepare(t->db, &st,
                      "SELECT next_offset FROM offsets WHERE topic = ?1 AND partition = ?2", errstr,
                      sizeof(errstr)) == MM_OK) {
        bind_text(st, 1, topic);
        sqlite3_bind_int(st, 2, partition);
        if (sqlite3_step(st) == SQLITE_ROW) offset = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    mm_log_info("partition_assigned", "%s [%d] resumes at %s%" PRId64, topic, partition,
                offset == MM_OFFSET_BEGINNING ? "the beginning " : "offset ",
                offset == MM_OFFSET_BEGINNING ? (int64_t)0 : offset);
    return offset;
}

static void on_revoke(void *opaque, const char *topic, int32_t partition, bool lost) {
    (void)opaque;
    /* Every consumed record is durable before the next poll, so there is no
     * in-flight intake to hand back; keys already due keep training here and
     * their deterministic train ids make any overlap with the new owner harmless. */
    mm_log_info("partition_revoked", "%s [%d]%s", topic, partition, lost ? " (lost)" : "");
}

/* ------------------------------------------------------------- lifecycle */

static const char *const poll_sql[] = {
    /* history upsert: a re-sent observation replaces the earlier value */
    "INSERT INTO history(partition_key, t, y, x) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT(partition_key, t) DO UPDATE SET y = excluded.y, x = excluded.x",
    "INSERT OR IGNORE INTO load_batches(partition_key, load_id, batch_seq, n_rows, end_of_load, "
    "expected_rows, expected_batches) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    "INSERT INTO keys(partition_key, generation, new_rows, last_load_id) VALUES (?1, 1, ?2, ?3) "
    "ON CONFLICT(partition_key) DO UPDATE SET generation = generation + 1, "
    "new_rows = new_rows + excluded.new_rows, last_load_id = excluded.last_load_id",
    "UPDATE keys SET dirty = 1, trigger_at_ms = ?2 WHERE partition_key = ?1",
    "INSERT INTO offsets(topic, partition, next_offset) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
};

mm_trainer_t *mm_trainer_new(const mm_trainer_config_t *cfg, char *errstr, size_t errstr_size) {
    mm_trainer_t *t = calloc(1, sizeof(*t));
    if (!t) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    t->cfg = *cfg;
    t->spec = cfg->spec;
    if (t->cfg.workers < 1) t->cfg.workers = 1;
    if (t->cfg.max_series_points <= 0) t->cfg.max_series_points = 100000;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond_jobs, NULL);

    if (mm_avro_init(errstr, errstr_size)) goto fail;
    t->db = mm_db_open(cfg->state_path, mm_trainer_migrations, mm_trainer_n_migrations, errstr,
                       errstr_size);
    if (!t->db) goto fail;
    sqlite3_stmt **stmts[] = {&t->st_history_upsert, &t->st_batch_insert, &t->st_key_touch,
                              &t->st_key_trigger, &t->st_offset_store};
    for (size_t i = 0; i < MM_ARRAY_SIZE(stmts); i++)
        if (mm_db_prepare(t->db, stmts[i], poll_sql[i], errstr, errstr_size)) goto fail;
    /* Delivery reports are served on the poll thread (mm_kafka_producer_poll), so the
     * outbox uses the poll thread's connection; workers insert on their own. */
    if (mm_outbox_init(&t->outbox, t->db, OUTBOX_BATCH, errstr, errstr_size)) goto fail;

    /* Check the blob store before consuming anything. */
    {
        mm_blob_t *probe = mm_blob_new(cfg->blob_url, &cfg->blob_opts, errstr, errstr_size);
        if (!probe) goto fail;
        mm_blob_destroy(probe);
    }

    t->producer = mm_kafka_producer_new(cfg->bootstrap, cfg->kafka, mm_outbox_dr_cb, &t->outbox,
                                        errstr, errstr_size);
    if (!t->producer) goto fail;
    mm_kafka_rebalance_cbs_t cbs = {.on_assign = on_assign, .on_revoke = on_revoke, .opaque = t};
    const char *topics[] = {MM_TOPIC_OBSERVATIONS};
    t->consumer = mm_kafka_consumer_new(cfg->bootstrap, cfg->group_id, topics, 1, cfg->kafka, &cbs,
                                        errstr, errstr_size);
    if (!t->consumer) goto fail;

    t->threads = calloc((size_t)t->cfg.workers, sizeof(pthread_t));
    if (!t->threads) goto fail;
    for (int i = 0; i < t->cfg.workers; i++) {
        worker_arg_t *arg = malloc(sizeof(*arg));
        if (!arg) goto fail;
        arg->trainer = t;
        arg->index = i;
        if (pthread_create(&t->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
            mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "cannot start worker thread %d", i);
            goto fail;
        }
        t->n_threads++;
    }
    return t;
fail:
    mm_trainer_destroy(t);
    return NULL;
}

static void log_progress(mm_trainer_t *t, const char *event) {
    pthread_mutex_lock(&t->lock);
    json_t *f = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "batches",
                          (json_int_t)t->batches, "rows", (json_int_t)t->rows, "duplicate_batches",
                          (json_int_t)t->duplicate_batches, "dead_letters",
                          (json_int_t)t->dead_letters, "trained", (json_int_t)t->trained,
                          "train_skipped", (json_int_t)t->train_skipped, "train_failed",
                          (json_int_t)t->train_failed, "training_queue", (json_int_t)t->n_inflight);
    pthread_mutex_unlock(&t->lock);
    mm_logj(MM_LOG_INFO, event, f, "trainer progress");
}

mm_err_t mm_trainer_run(mm_trainer_t *t, volatile sig_atomic_t *stop) {
    char errstr[512];
    int64_t next_schedule = 0, next_report = mm_mono_ms() + 10000, next_commit = 0;
    mm_log_info("trainer_started", "consuming %s with %d training workers", MM_TOPIC_OBSERVATIONS,
                t->cfg.workers);
    while (!*stop) {
        mm_kafka_msg_t msg;
        mm_err_t err = mm_kafka_consumer_poll(t->consumer, 100, &msg, errstr, sizeof(errstr));
        if (err == MM_OK) {
            if (handle_message(t, &msg) == MM_OK) {
                mm_kafka_consumer_store_offset(t->consumer, msg.topic, msg.partition,
                                               msg.offset + 1);
            } else {
                /* The state store refused the write (disk full, corruption):
                 * stop rather than skip the record. */
                mm_log_error("trainer_stopping", "cannot make progress; stopping");
                break;
            }
        } else if (err != MM_ERR_TIMEOUT) {
            mm_log_warn("consumer_error", "%s", errstr);
            if (mm_err_is_fatal(err)) break;
        }
        int64_t now = mm_mono_ms();
        if (now >= next_schedule) {
            schedule_due(t);
            if (mm_outbox_drain(&t->outbox, t->producer, NULL, errstr, sizeof(errstr)))
                mm_log_warn("outbox_drain_failed", "%s", errstr);
            next_schedule = now + SCHEDULE_INTERVAL_MS;
        }
        mm_kafka_producer_poll(t->producer, 0);
        if (now >= next_commit) {
            mm_kafka_consumer_commit_async(t->consumer);
            next_commit = now + 1000;
        }
        if (now >= next_report) {
            log_progress(t, "trainer_progress");
            next_report = now + 10000;
        }
    }

    /* Orderly shutdown: no new intake; let running jobs finish, drop queued
     * ones (their keys stay due in the state store and resume at restart). */
    mm_log_info("trainer_stopping", "finishing in-flight training");
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    while (t->q_len > 0) {
        job_t job = t->queue[t->q_head];
        t->q_head = (t->q_head + 1) % JOB_QUEUE_CAP;
        t->q_len--;
        inflight_remove(t, job.partition_key);
        free(job.partition_key);
    }
    pthread_cond_broadcast(&t->cond_jobs);
    pthread_mutex_unlock(&t->lock);
    for (int i = 0; i < t->n_threads; i++) pthread_join(t->threads[i], NULL);
    t->n_threads = 0;

    /* Deliver what the outbox holds, bounded in time (the rest goes at the next start). */
    if (mm_outbox_flush(&t->outbox, t->producer, 10000, errstr, sizeof(errstr)))
        mm_log_warn("outbox_flush_failed", "%s", errstr);
    log_progress(t, "trainer_stopped");
    return MM_OK;
}

void mm_trainer_destroy(mm_trainer_t *t) {
    if (!t) return;
    if (t->n_threads > 0) {
        pthread_mutex_lock(&t->lock);
        t->stopping = true;
        pthread_cond_broadcast(&t->cond_jobs);
        pthread_mutex_unlock(&t->lock);
        for (int i = 0; i < t->n_threads; i++) pthread_join(t->threads[i], NULL);
    }
    free(t->threads);
    mm_kafka_consumer_close(t->consumer);
    /* The producer before the outbox (its last reports point into the batch), the outbox
     * before its database. */
    mm_kafka_producer_destroy(t->producer, 5000);
    mm_outbox_free(&t->outbox);
    sqlite3_stmt *stmts[] = {t->st_history_upsert, t->st_batch_insert, t->st_key_touch,
                             t->st_key_trigger, t->st_offset_store};
    for (size_t i = 0; i < MM_ARRAY_SIZE(stmts); i++) sqlite3_finalize(stmts[i]);
    mm_db_close(t->db);
    for (size_t i = 0; i < t->n_inflight; i++) free(t->inflight[i]);
    free(t->inflight);
    for (size_t i = 0; i < t->q_len; i++)
        free(t->queue[(t->q_head + i) % JOB_QUEUE_CAP].partition_key);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond_jobs);
    free(t);
}
