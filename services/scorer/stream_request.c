/*
 * stream_request.c - one mm.score-requests record in mm-scorer's stream
 * mode: the request checked against the dataset spec, answered the way a
 * batch run answers its key (answer.c), and made durable effectively once.
 * Rows the request carries (feature_names/time_ms/values) are applied as the
 * HTTP API applies its covariates and rows (request_rows.c): planned
 * exogenous values for the horizon (forecast) or telemetry to score
 * (classify); rows that cannot apply are dead-lettered, naming the field.
 *
 * One request is one unit of work, committed in this order:
 *   1. the sink's upserts (keyed by key and target time, plus the key's
 *      latest answer), in the sink's own transaction, committed first;
 *   2. in one transaction of the scorer's state store: the PredictionBatch
 *      in the outbox, the request id remembered in `stream_requests`, and
 *      the consumed offset.
 * A crash between the two commits replays the record: the sink's upserts
 * write the same rows again and the answer goes out once, with (2). A
 * request id found in `stream_requests` is a duplicate (a client's retry or
 * a replayed topic): only its offset is stored, nothing is answered again.
 *
 * The request table lives in the state store next to the offsets and the
 * outbox it must commit with; stream mode creates it on its first start.
 * Ids are remembered for the dedupe window (--request-dedupe-hours), then
 * forgotten: a request id older than that is answered again.
 *
 * Workload: one request at a time off the consumer loop; the cost is the
 * key's scoring data read, a cached model's forecast and two small commits.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/avro.h"
#include "mm/crash.h"
#include "mm/log.h"
#include "mm/util.h"
#include "request_rows.h"
#include "stream_int.h"

#define REASON_MAX        700
#define DEFAULT_DEDUPE_MS (7LL * 24 * 3600 * 1000)

/* Created on the first start of stream mode; never edit (a change is a new table or column). */
static const char REQUESTS_TABLE_SQL[] =
    "CREATE TABLE IF NOT EXISTS stream_requests ("
    "  request_id TEXT PRIMARY KEY,"
    "  partition_key TEXT NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  topic TEXT NOT NULL,"
    "  \"partition\" INTEGER NOT NULL,"
    "  \"offset\" INTEGER NOT NULL,"
    "  answered_at_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS stream_requests_answered ON stream_requests(answered_at_ms);";

static const char *const outcome_names[MM_STREAM__N_OUTCOMES] = {
    [MM_STREAM_OK] = "ok",
    [MM_STREAM_FALLBACK] = "fallback",
    [MM_STREAM_NO_MODEL] = "no_model",
    [MM_STREAM_ERROR] = "error",
    [MM_STREAM_DUPLICATE] = "duplicate",
    [MM_STREAM_DEAD_LETTER] = "dead_letter",
};

const char *mm_scorer_stream__outcome_name(mm_scorer_stream_outcome_t outcome) {
    return outcome < MM_STREAM__N_OUTCOMES ? outcome_names[outcome] : "unknown";
}

static mm_db_t *state_db(const mm_scorer_stream_t *st) {
    return mm_scoring_data_db(st->scorer->scoring);
}

mm_err_t mm_scorer_stream__requests_open(mm_scorer_stream_t *st, char *errstr, size_t errstr_size) {
    mm_db_t *db = state_db(st);
    mm_err_t err = mm_db_exec(db, REQUESTS_TABLE_SQL, errstr, errstr_size);
    if (!err)
        err = mm_db_prepare(db, &st->st_seen,
                            "SELECT outcome FROM stream_requests WHERE request_id = ?1", errstr,
                            errstr_size);
    if (!err)
        err =
            mm_db_prepare(db, &st->st_remember,
                          "INSERT INTO stream_requests(request_id, partition_key, outcome, topic, "
                          "\"partition\", \"offset\", answered_at_ms) VALUES (?1, ?2, ?3, ?4, "
                          "?5, ?6, ?7) ON CONFLICT(request_id) DO NOTHING",
                          errstr, errstr_size);
    return err;
}

void mm_scorer_stream__requests_close(mm_scorer_stream_t *st) {
    sqlite3_finalize(st->st_seen);
    sqlite3_finalize(st->st_remember);
    st->st_seen = st->st_remember = NULL;
}

void mm_scorer_stream__requests_prune(mm_scorer_stream_t *st) {
    int64_t window = st->opts.dedupe_window_ms > 0 ? st->opts.dedupe_window_ms : DEFAULT_DEDUPE_MS;
    char errstr[256];
    if (mm_db_run(state_db(st), errstr, sizeof(errstr),
                  "DELETE FROM stream_requests WHERE answered_at_ms < ?1", "i",
                  mm_now_ms() - window) != MM_OK)
        mm_log_warn("stream_prune_failed", "forgetting old request ids: %s", errstr);
}

/* Whether @p request_id was answered before. */
static mm_err_t seen_before(mm_scorer_stream_t *st, const char *request_id, bool *seen,
                            char *errstr, size_t errstr_size) {
    *seen = false;
    mm_db_t *db = state_db(st);
    mm_err_t err = mm_db_bind(db, st->st_seen, errstr, errstr_size, "t", request_id);
    if (!err) err = mm_db_step_row(db, st->st_seen, errstr, errstr_size);
    if (err == MM_OK) *seen = true;
    sqlite3_reset(st->st_seen);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

/* Store the record's offset alone (a duplicate), in its own transaction. */
static mm_err_t store_offset_only(mm_scorer_stream_t *st, const mm_kafka_msg_t *msg, char *errstr,
                                  size_t errstr_size) {
    mm_db_t *db = state_db(st);
    mm_err_t err = mm_db_begin(db, errstr, errstr_size);
    if (err) return err;
    err = mm_consumer_state_store(mm_scoring_data_offsets(st->scorer->scoring), msg->topic,
                                  msg->partition, msg->offset + 1, errstr, errstr_size);
    if (!err) err = mm_db_commit(db, errstr, errstr_size);
    if (err) mm_db_rollback(db);
    return err;
}

static mm_err_t dead_letter(mm_scorer_stream_t *st, const mm_kafka_msg_t *msg, mm_err_t code,
                            const char *why, char *errstr, size_t errstr_size) {
    char reason[REASON_MAX];
    snprintf(reason, sizeof(reason), "%s [%d] offset %" PRId64 ": %s", msg->topic, msg->partition,
             msg->offset, why);
    mm_err_t err = mm_consumer_state_dead_letter_message(
        mm_scoring_data_offsets(st->scorer->scoring), msg, code, reason, errstr, errstr_size);
    if (!err) {
        st->stats.dead_letters++;
        mm_scorer_stream__metrics_request(st, MM_STREAM_DEAD_LETTER, 0, 0);
        mm_scorer_stream__metrics_dead_letter(st, msg->topic);
    }
    return err;
}

/*
 * What makes a decoded request unusable here, with the field named; MM_OK
 * when it can be answered.
 */
static mm_err_t check_request(const mm_spec_t *spec, const mm_kafka_msg_t *msg,
                              const mm_score_request_t *r, char *why, size_t why_size) {
    size_t id_len = r->request_id ? strlen(r->request_id) : 0;
    size_t key_len = r->partition_key ? strlen(r->partition_key) : 0;
    if (id_len == 0 || id_len > MM_SCORER_STREAM_MAX_ID)
        return mm_errf(MM_ERR_INVALID_ARG, why, why_size, "request_id: %zu bytes, must be 1 to %d",
                       id_len, MM_SCORER_STREAM_MAX_ID);
    if (key_len == 0 || key_len > MM_SCORER_STREAM_MAX_KEY)
        return mm_errf(MM_ERR_INVALID_ARG, why, why_size,
                       "request %.64s: partition_key: %zu bytes, must be 1 to %d", r->request_id,
                       key_len, MM_SCORER_STREAM_MAX_KEY);
    if (msg->key && (msg->key_len != key_len || memcmp(msg->key, r->partition_key, key_len) != 0))
        return mm_errf(MM_ERR_INVALID_ARG, why, why_size,
                       "request %.64s: the Kafka key differs from partition_key '%.128s'",
                       r->request_id, r->partition_key);
    if (r->dataset && strcmp(r->dataset, spec->name) != 0)
        return mm_errf(MM_ERR_CONFIG, why, why_size,
                       "request %.64s: dataset '%.64s', this scorer serves '%s'", r->request_id,
                       r->dataset, spec->name);
    if (r->horizon < 0 || r->horizon > MM_SCORER_STREAM_MAX_HORIZON)
        return mm_errf(MM_ERR_INVALID_ARG, why, why_size,
                       "request %.64s: horizon %" PRId32 " is outside 0..%d (0 = the spec's)",
                       r->request_id, r->horizon, MM_SCORER_STREAM_MAX_HORIZON);
    if (r->n_rows > 0 && r->n_features == 0)
        return mm_errf(MM_ERR_INVALID_ARG, why, why_size,
                       "request %.64s: %zu rows in time_ms but no feature_names", r->request_id,
                       r->n_rows);
    return MM_OK;
}

/* What the run's amend_rows needs: the request's rows and whether they were unusable. */
typedef struct rows_ctx {
    const mm_request_rows_t *rows;
    bool forecast;
    bool bad; /* the rows cannot apply to the key: dead-letter the request */
} rows_ctx_t;

/* The run's amend_rows: the rows the request brought (request_rows.c, as serve applies them). */
static mm_err_t amend(void *opaque, mm_scoring_rows_t *rows, char *errstr, size_t errstr_size) {
    rows_ctx_t *ctx = opaque;
    mm_err_t err =
        mm_request_rows_apply(ctx->rows, ctx->forecast, "time_ms", rows, errstr, errstr_size);
    if (err == MM_ERR_INVALID_ARG) ctx->bad = true;
    return err;
}

static mm_scorer_stream_outcome_t outcome_of(const mm_scorer_batch_stats_t *stats) {
    if (stats->failed) return MM_STREAM_ERROR;
    if (stats->no_model) return MM_STREAM_NO_MODEL;
    if (stats->fallback) return MM_STREAM_FALLBACK;
    return MM_STREAM_OK;
}

/* Answer @p r and commit the answer with its request id and offset (see the file comment). */
static mm_err_t answer(mm_scorer_stream_t *st, const mm_kafka_msg_t *msg,
                       const mm_score_request_t *r, rows_ctx_t *rows,
                       mm_scorer_stream_outcome_t *outcome, int64_t *predictions, char *errstr,
                       size_t errstr_size) {
    mm_scorer_t *s = st->scorer;
    mm_db_t *db = state_db(st);
    mm_scorer_batch_stats_t stats = {0};
    size_t horizon = r->horizon > 0       ? (size_t)r->horizon
                     : s->cfg.horizon > 0 ? (size_t)s->cfg.horizon
                                          : (size_t)s->cfg.spec->model.horizon;
    /* as_of 0: the key's forecast starts one period after its own newest observation. */
    mm_scorer_run_t run = {.run_id = r->request_id,
                           .horizon = horizon,
                           .stats = &stats,
                           .amend_rows = rows->rows->given ? amend : NULL,
                           .hook_opaque = rows};
    mm_err_t err = mm_scorer_sink_begin(s->sink, errstr, errstr_size);
    if (err) return err;
    err = mm_db_begin(db, errstr, errstr_size);
    if (err) {
        mm_scorer_sink_rollback(s->sink);
        return err;
    }
    s->answers_outbox = db;
    err = mm_scorer__answer_key(s, r->partition_key, mm_scorer__decision(s, r->partition_key), &run,
                                errstr, errstr_size);
    s->answers_outbox = NULL;
    *outcome = outcome_of(&stats);
    *predictions = stats.predictions;
    if (!err)
        err = mm_db_bind(db, st->st_remember, errstr, errstr_size, "ttttiii", r->request_id,
                         r->partition_key, mm_scorer_stream__outcome_name(*outcome), msg->topic,
                         (int64_t)msg->partition, msg->offset, mm_now_ms());
    if (!err) err = mm_db_step_done(db, st->st_remember, errstr, errstr_size);
    if (!err)
        err = mm_consumer_state_store(mm_scoring_data_offsets(s->scoring), msg->topic,
                                      msg->partition, msg->offset + 1, errstr, errstr_size);
    if (!err)
        err = mm_scorer_sink_commit(s->sink, errstr, errstr_size);
    else
        mm_scorer_sink_rollback(s->sink);
    /* The sink holds the answer, the state store not yet: the record is replayed
     * (docs/reliability.md). */
    if (!err) mm_crash_point("scorer_stream_after_sink_commit");
    if (!err) err = mm_db_commit(db, errstr, errstr_size);
    if (err) mm_db_rollback(db);
    return err;
}

mm_err_t mm_scorer_stream__handle_request(mm_scorer_stream_t *st, const mm_kafka_msg_t *msg,
                                          char *errstr, size_t errstr_size) {
    const int64_t started = mm_mono_ms();
    char why[REASON_MAX - 100];
    mm_score_request_t r = {0};
    st->stats.requests++;
    mm_err_t code = mm_avro_decode_score_request(msg->value, msg->value ? msg->value_len : 0, &r,
                                                 why, sizeof(why));
    if (!code) code = check_request(st->scorer->cfg.spec, msg, &r, why, sizeof(why));
    mm_request_rows_t rows = {0};
    double *rows_x = NULL;
    if (!code) {
        char e[sizeof(why) - 80];
        code = mm_request_rows_from_named(
            st->scorer->cfg.spec, r.n_features, (const char *const *)r.feature_names, r.n_rows,
            r.time_ms, r.values, r.n_rows * r.n_features, &rows, &rows_x, e, sizeof(e));
        if (code) snprintf(why, sizeof(why), "request %.64s: %s", r.request_id, e);
    }
    if (code) {
        mm_score_request_clear(&r);
        return dead_letter(st, msg, code, why, errstr, errstr_size);
    }
    bool seen = false;
    mm_err_t err = seen_before(st, r.request_id, &seen, errstr, errstr_size);
    if (!err && seen) {
        err = store_offset_only(st, msg, errstr, errstr_size);
        if (!err) {
            st->stats.duplicates++;
            mm_scorer_stream__metrics_request(st, MM_STREAM_DUPLICATE, 0, 0);
            mm_log_info("request_duplicate", "request %s for %s was answered before: skipped",
                        r.request_id, r.partition_key);
        }
    } else if (!err) {
        mm_scorer_stream_outcome_t outcome = MM_STREAM_ERROR;
        int64_t predictions = 0;
        rows_ctx_t ctx = {.rows = &rows,
                          .forecast = st->scorer->cfg.spec->task == MM_TASK_FORECAST};
        err = answer(st, msg, &r, &ctx, &outcome, &predictions, errstr, errstr_size);
        if (err && ctx.bad) { /* the rows do not fit the key: nothing was committed */
            snprintf(why, sizeof(why), "request %.64s: %s", r.request_id, errstr);
            err = dead_letter(st, msg, MM_ERR_INVALID_ARG, why, errstr, errstr_size);
        } else if (!err) {
            st->stats.answered++;
            st->stats.predictions += predictions;
            mm_scorer_stream__metrics_request(st, outcome, predictions,
                                              (double)(mm_mono_ms() - started) / 1000.0);
            mm_log_debug("request_answered", "request %s for %s: %s", r.request_id, r.partition_key,
                         mm_scorer_stream__outcome_name(outcome));
        }
    }
    free(rows_x);
    mm_score_request_clear(&r);
    return err;
}
