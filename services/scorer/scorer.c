/*
 * scorer.c - mm-scorer: production model map and batch scoring; predictions go
 * to mm.predictions and to the sink (sink.c).
 *
 * Workload: thousands of keys, each a few-KiB artifact and a horizon of tens
 * of steps: the cost is fetching artifacts (cached, byte-bounded) and writing
 * rows (one sink transaction per batch of keys), not the arithmetic.
 */
#include "scorer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/avro.h"
#include "mm/hashmap.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/model.h"
#include "mm/records.h"
#include "mm/service.h"
#include "mm/util.h"
#include "model_cache.h"
#include "sink.h"

#define SERVICE_NAME  "mm-scorer"
#define SINK_TXN_KEYS 200 /* keys per sink transaction */

typedef struct key_entry {
    mm_model_decision_t decision; /* latest decision for the key (owned) */
} key_entry_t;

struct mm_scorer {
    mm_scorer_config_t cfg;
    mm_scorer_sink_t *sink;
    mm_blob_t *blob;
    mm_model_cache_t *cache;
    mm_kafka_producer_t *producer;
    mm_hashmap_t *by_key;  /* partition key -> key_entry_t (keys borrowed from the decisions) */
    key_entry_t **entries; /* insertion order, for a stable scoring order */
    size_t n_entries, cap_entries;
    int64_t decisions_read, decisions_bad;
    int64_t delivered, delivery_failed;
};

static void on_delivery(void *opaque, void *msg_opaque, mm_err_t err, const char *reason) {
    mm_scorer_t *s = opaque;
    (void)msg_opaque;
    if (err) {
        s->delivery_failed++;
        mm_log_error("delivery_failed", "prediction record not delivered: %s",
                     reason ? reason : mm_err2str(err));
    } else {
        s->delivered++;
    }
}

mm_scorer_t *mm_scorer_new(const mm_scorer_config_t *cfg, char *errstr, size_t errstr_size) {
    mm_scorer_t *s = calloc(1, sizeof(*s));
    if (!s) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->by_key = mm_hashmap_new(0);
    if (!s->by_key) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (mm_avro_init(errstr, errstr_size)) goto fail;
    s->sink = mm_scorer_sink_open(cfg->sink_path, errstr, errstr_size);
    if (!s->sink) goto fail;
    s->blob = mm_blob_new(cfg->blob_url, &cfg->blob_opts, errstr, errstr_size);
    if (!s->blob) goto fail;
    s->cache = mm_model_cache_new(cfg->cache_bytes ? cfg->cache_bytes : 256u << 20);
    if (!s->cache) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    s->producer =
        mm_kafka_producer_new(cfg->bootstrap, cfg->kafka, on_delivery, s, errstr, errstr_size);
    if (!s->producer) goto fail;
    return s;
fail:
    mm_scorer_destroy(s);
    return NULL;
}

void mm_scorer_destroy(mm_scorer_t *s) {
    if (!s) return;
    mm_kafka_producer_destroy(s->producer, 10000);
    for (size_t i = 0; i < s->n_entries; i++) {
        mm_model_decision_clear(&s->entries[i]->decision);
        free(s->entries[i]);
    }
    free(s->entries);
    mm_hashmap_destroy(s->by_key);
    mm_model_cache_destroy(s->cache);
    mm_blob_destroy(s->blob);
    mm_scorer_sink_close(s->sink);
    free(s);
}

/* Replace the key's decision with @p d (stolen). */
static mm_err_t map_put(mm_scorer_t *s, mm_model_decision_t *d) {
    const char *key = d->partition_key;
    size_t key_len = strlen(key);
    key_entry_t *e = mm_hashmap_get(s->by_key, key, key_len);
    if (e) {
        /* Re-point the map at the new decision's key before the old one is freed. */
        mm_hashmap_put(s->by_key, key, key_len, e);
        mm_model_decision_clear(&e->decision);
        e->decision = *d;
        memset(d, 0, sizeof(*d));
        return MM_OK;
    }
    if (s->n_entries == s->cap_entries) {
        size_t cap = s->cap_entries ? s->cap_entries * 2 : 1024;
        key_entry_t **n = realloc(s->entries, cap * sizeof(*n));
        if (!n) return MM_ERR_NOMEM;
        s->entries = n;
        s->cap_entries = cap;
    }
    e = calloc(1, sizeof(*e));
    if (!e) return MM_ERR_NOMEM;
    if (mm_hashmap_put(s->by_key, key, key_len, e) != MM_OK) {
        free(e);
        return MM_ERR_NOMEM;
    }
    e->decision = *d;
    memset(d, 0, sizeof(*d));
    s->entries[s->n_entries++] = e;
    return MM_OK;
}

static void dead_letter(mm_scorer_t *s, const mm_kafka_msg_t *msg, mm_err_t why,
                        const char *reason) {
    char *key = msg->key ? mm_strndup(msg->key, msg->key_len) : NULL;
    mm_service_dead_letter_source_t source = {
        .topic = msg->topic, .partition = msg->partition, .offset = msg->offset};
    mm_buf_t payload;
    mm_buf_init(&payload, MM_BUF_CAP_MESSAGE + 65536);
    char errstr[256];
    if (mm_service_dead_letter_encode(SERVICE_NAME, &source, key, msg->value, msg->value_len, why,
                                      reason, &payload, errstr, sizeof(errstr)) == MM_OK)
        mm_kafka_produce(s->producer, MM_TOPIC_DEADLETTER, key, key ? strlen(key) : 0, payload.data,
                         payload.len, NULL, 5000, errstr, sizeof(errstr));
    mm_buf_free(&payload);
    free(key);
    mm_log_warn("dead_letter", "%s", reason);
}

mm_err_t mm_scorer_load_decisions(mm_scorer_t *s, volatile sig_atomic_t *stop, char *errstr,
                                  size_t errstr_size) {
    mm_kafka_reader_t *reader = mm_kafka_reader_new(s->cfg.bootstrap, MM_TOPIC_DECISIONS,
                                                    s->cfg.kafka, errstr, errstr_size);
    if (!reader) return MM_ERR_KAFKA;
    mm_err_t result = MM_OK;
    int64_t deadline = mm_mono_ms() + 120000;
    while (!*stop) {
        mm_kafka_msg_t msg;
        char why[512];
        mm_err_t err = mm_kafka_reader_poll(reader, 200, &msg, why, sizeof(why));
        if (err == MM_ERR_NOT_FOUND) break; /* every partition read to its end */
        if (err == MM_ERR_TIMEOUT) {
            if (mm_mono_ms() > deadline) {
                result = mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size,
                                 "%s was not read to its end within 120 s", MM_TOPIC_DECISIONS);
                break;
            }
            continue;
        }
        if (err) {
            mm_log_warn("consumer_error", "%s", why);
            continue;
        }
        s->decisions_read++;
        mm_model_decision_t d = {0};
        err = mm_avro_decode_model_decision(msg.value, msg.value ? msg.value_len : 0, &d, why,
                                            sizeof(why));
        if (err) {
            char reason[700];
            snprintf(reason, sizeof(reason), "%s [%d] offset %" PRId64 ": %s", msg.topic,
                     msg.partition, msg.offset, why);
            s->decisions_bad++;
            dead_letter(s, &msg, err, reason);
            continue;
        }
        if (s->cfg.spec && d.dataset && strcmp(d.dataset, s->cfg.spec->name) != 0) {
            mm_model_decision_clear(&d); /* another dataset's decision */
            continue;
        }
        if (map_put(s, &d)) {
            mm_model_decision_clear(&d);
            result = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
            break;
        }
    }
    mm_kafka_reader_destroy(reader);
    if (*stop && !result)
        result = mm_errf(MM_ERR_SHUTDOWN, errstr, errstr_size, "stopped while reading decisions");
    mm_log_info("decisions_loaded",
                "%zu keys from %" PRId64 " decision records (%" PRId64 " undecodable)",
                s->n_entries, s->decisions_read, s->decisions_bad);
    return result;
}

/* ------------------------------------------------------------- scoring */

static mm_err_t produce_prediction(mm_scorer_t *s, const mm_prediction_batch_t *p, char *errstr,
                                   size_t errstr_size) {
    mm_buf_t payload;
    mm_buf_init(&payload, MM_BUF_CAP_MESSAGE);
    mm_err_t err = mm_avro_encode_prediction_batch(p, &payload, errstr, errstr_size);
    if (!err)
        err = mm_kafka_produce(s->producer, MM_TOPIC_PREDICTIONS, p->partition_key,
                               strlen(p->partition_key), payload.data, payload.len, NULL, 30000,
                               errstr, errstr_size);
    mm_buf_free(&payload);
    return err;
}

/*
 * What a batch run asks of a model: a forecast of the horizon after the end
 * of its data, or, for a classifier, the probability of the positive class
 * (e.g. a failure within the look-ahead window) as of the end of its data,
 * as a one-step answer without an interval.
 */
static mm_err_t apply_model(const mm_scorer_t *s, const mm_model_t *model, mm_forecast_t *fc,
                            char *errstr, size_t errstr_size) {
    if (mm_model_task(model) == MM_TASK_FORECAST) {
        size_t h = (size_t)(s->cfg.horizon > 0 ? s->cfg.horizon : mm_model_config(model)->horizon);
        return mm_model_forecast(model, h, NULL, fc, errstr, errstr_size);
    }
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
    fc->lower[0] = fc->upper[0] = NAN;
    mm_err_t err = mm_model_predict_latest(model, fc->mean, fc->time_ms, errstr, errstr_size);
    if (err) mm_forecast_clear(fc);
    return err;
}

/* Answer one key: a forecast from its production model, or an explicit refusal. */
static mm_err_t score_key(mm_scorer_t *s, const mm_model_decision_t *d, const char *run_id,
                          mm_scorer_batch_stats_t *stats, char *errstr, size_t errstr_size) {
    mm_prediction_batch_t p = {0};
    p.request_id = run_id;
    p.partition_key = d->partition_key;
    p.dataset = d->dataset;
    p.interval_level = s->cfg.spec ? s->cfg.spec->model.interval_level : 0.95;
    p.produced_at_ms = mm_now_ms();
    p.data_watermark_ms = -1;
    char message[600];

    if (!d->has_production) {
        snprintf(message, sizeof(message), "no production model: %s",
                 d->reason ? d->reason : "no candidate has been approved");
        p.status = MM_PREDICTION_NO_MODEL;
        p.message = message;
        stats->no_model++;
        mm_err_t err = mm_scorer_sink_no_model(s->sink, d->partition_key, message, mm_now_ms(),
                                               errstr, errstr_size);
        if (!err) err = produce_prediction(s, &p, errstr, errstr_size);
        return err;
    }

    const mm_production_model_t *pm = &d->production;
    p.train_id = pm->train_id;
    p.model_version = pm->version;
    p.algorithm = pm->algorithm;
    p.data_watermark_ms = pm->data_end_ms;
    p.load_id = pm->load_id;

    const mm_model_t *model = NULL;
    char why[512];
    mm_err_t err = mm_model_cache_get(s->cache, s->blob, pm->artifact_uri, pm->artifact_sha256,
                                      &model, why, sizeof(why));
    mm_forecast_t fc = {0};
    if (!err) {
        err = apply_model(s, model, &fc, why, sizeof(why));
        mm_model_cache_release(s->cache, pm->artifact_sha256);
    }
    if (err) {
        snprintf(message, sizeof(message), "model v%d (%s) unusable: %s", pm->version,
                 pm->artifact_uri, why);
        mm_log_error("score_failed", "%s: %s", d->partition_key, message);
        p.status = MM_PREDICTION_ERROR;
        p.message = message;
        stats->failed++;
        return produce_prediction(s, &p, errstr, errstr_size);
    }
    p.status = MM_PREDICTION_OK;
    p.n = fc.h;
    p.time_ms = fc.time_ms;
    p.value = fc.mean;
    p.lower = fc.lower;
    p.upper = fc.upper;
    p.interval_level = fc.level;
    err = mm_scorer_sink_predictions(s->sink, &p, errstr, errstr_size);
    if (!err) err = produce_prediction(s, &p, errstr, errstr_size);
    if (!err) {
        stats->scored++;
        stats->predictions += (int64_t)fc.h;
    }
    mm_forecast_clear(&fc);
    return err;
}

mm_err_t mm_scorer_run_batch(mm_scorer_t *s, const char *run_id, volatile sig_atomic_t *stop,
                             mm_scorer_batch_stats_t *stats, char *errstr, size_t errstr_size) {
    memset(stats, 0, sizeof(*stats));
    stats->keys = (int64_t)s->n_entries;
    stats->decisions_read = s->decisions_read;
    stats->decisions_bad = s->decisions_bad;
    mm_err_t err = MM_OK;

    for (size_t i = 0; i < s->n_entries && !*stop && !err; i += SINK_TXN_KEYS) {
        err = mm_scorer_sink_begin(s->sink, errstr, errstr_size);
        if (err) break;
        for (size_t j = i; j < s->n_entries && j < i + SINK_TXN_KEYS && !err; j++)
            err = score_key(s, &s->entries[j]->decision, run_id, stats, errstr, errstr_size);
        if (!err)
            err = mm_scorer_sink_commit(s->sink, errstr, errstr_size);
        else
            mm_scorer_sink_rollback(s->sink);
        mm_kafka_producer_poll(s->producer, 0);
    }
    if (!err && *stop)
        err = mm_errf(MM_ERR_SHUTDOWN, errstr, errstr_size, "stopped before every key was scored");

    mm_err_t ferr = mm_kafka_producer_flush(s->producer, 60000);
    if (!err && ferr)
        err = mm_errf(ferr, errstr, errstr_size, "%d prediction records still undelivered",
                      mm_kafka_producer_outq_len(s->producer));
    if (!err && s->delivery_failed > 0)
        err = mm_errf(MM_ERR_KAFKA, errstr, errstr_size,
                      "%" PRId64 " prediction records could not be delivered", s->delivery_failed);
    if (!err && stats->failed > 0)
        err =
            mm_errf(MM_ERR_INTEGRITY, errstr, errstr_size,
                    "%" PRId64 " keys could not be scored (see score_failed logs)", stats->failed);

    mm_model_cache_stats_t cs;
    mm_model_cache_stats(s->cache, &cs);
    mm_logj(MM_LOG_INFO, "batch_scored",
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "run_id", run_id, "keys",
                      (json_int_t)stats->keys, "scored", (json_int_t)stats->scored, "no_model",
                      (json_int_t)stats->no_model, "failed", (json_int_t)stats->failed,
                      "predictions", (json_int_t)stats->predictions, "cache_hits",
                      (json_int_t)cs.hits, "cache_misses", (json_int_t)cs.misses, "cache_bytes",
                      (json_int_t)cs.bytes),
            "batch scoring finished");
    return err;
}
