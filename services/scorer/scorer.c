/*
 * scorer.c - mm-scorer: the production model map (from mm.decisions) and the
 * batch run over every key; a key's answer is answer.c's, the catch-up on
 * scoring data intake.c's. Predictions go to mm.predictions and the sink.
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
#include "mm/crash.h"
#include "mm/log.h"
#include "mm/model.h"
#include "mm/service.h"
#include "mm/util.h"
#include "scorer_int.h"

#define SINK_TXN_KEYS       200          /* keys per sink transaction */
#define DEFAULT_CACHE_BYTES (256u << 20) /* model cache bound when none is configured */
#define OUTBOX_BATCH        200          /* dead letters handed to the producer per batch */

static void on_delivery(void *opaque, void *msg_opaque, mm_err_t err, const char *reason) {
    mm_scorer_t *s = opaque;
    if (msg_opaque) { /* a dead letter from the state store's outbox */
        mm_outbox_dr_cb(&s->outbox, msg_opaque, err, reason);
        return;
    }
    if (err) {
        s->delivery_failed++;
        mm_log_error("delivery_failed", "prediction record not delivered: %s",
                     reason ? reason : mm_err2str(err));
    } else {
        s->delivered++;
    }
}

/*
 * Catching up on the observations and decisions of 100,000 keys with
 * librdkafka's default buffers would hold tens of MiB of fetched batches,
 * above a serving scorer's memory bound (model cache + 64 MiB,
 * docs/serving.md): its consumers take the bounded buffers
 * (mm_kafka_consumer_props_bounded, 16 MiB queued). A batch run, whose
 * catch-up is most of its work, asks for a larger queue
 * (consumer_queue_kbytes). MM_KAFKA_* settings override both.
 */
static mm_err_t consumer_props(mm_scorer_t *s, char *errstr, size_t errstr_size) {
    if (mm_kafka_consumer_props_bounded(s->cfg.kafka, s->cfg.consumer_queue_kbytes,
                                        &s->consumer_kafka) != MM_OK)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return MM_OK;
}

mm_scorer_t *mm_scorer_new(const mm_scorer_config_t *cfg, char *errstr, size_t errstr_size) {
    mm_scorer_t *s = calloc(1, sizeof(*s));
    if (!s) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    if (consumer_props(s, errstr, errstr_size)) goto fail;
    s->by_key = mm_hashmap_new(0);
    if (!s->by_key) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (mm_avro_init(errstr, errstr_size)) goto fail;
    s->sink = mm_scorer_sink_open(cfg->sink_path, errstr, errstr_size);
    if (!s->sink) goto fail;
    s->scoring = mm_scoring_data_open(cfg->state_path, cfg->spec, cfg->keep_observed,
                                      MM_SCORER_SERVICE_NAME, errstr, errstr_size);
    if (!s->scoring) goto fail;
    if (mm_outbox_init(&s->outbox, mm_scoring_data_db(s->scoring), OUTBOX_BATCH, errstr,
                       errstr_size))
        goto fail;
    s->outbox_ready = true;
    s->blob = mm_blob_new(cfg->blob_url, &cfg->blob_opts, errstr, errstr_size);
    if (!s->blob) goto fail;
    s->cache = mm_model_cache_new(cfg->cache_bytes ? cfg->cache_bytes : DEFAULT_CACHE_BYTES);
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
    /* After the producer: its last delivery reports point into the outbox batch. */
    if (s->outbox_ready) mm_outbox_free(&s->outbox);
    mm_scoring_data_close(s->scoring);
    for (size_t i = 0; i < s->n_entries; i++) {
        mm_model_decision_clear(&s->entries[i]->decision);
        free(s->entries[i]);
    }
    free(s->entries);
    mm_hashmap_destroy(s->by_key);
    mm_model_cache_destroy(s->cache);
    mm_blob_destroy(s->blob);
    mm_scorer_sink_close(s->sink);
    mm_kv_list_free(&s->consumer_kafka);
    free(s);
}

/* Replace the key's decision with @p d (stolen). */
static mm_err_t map_put(mm_scorer_t *s, mm_model_decision_t *d) {
    const char *key = d->partition_key;
    size_t key_len = strlen(key);
    mm_scorer_key_entry_t *e = mm_hashmap_get(s->by_key, key, key_len);
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
        mm_scorer_key_entry_t **n = realloc(s->entries, cap * sizeof(*n));
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

void mm_scorer__dead_letter(mm_scorer_t *s, const mm_kafka_msg_t *msg, mm_err_t why,
                            const char *reason) {
    char *key = msg->key ? mm_strndup(msg->key, msg->key_len) : NULL;
    mm_service_dead_letter_source_t source = {
        .topic = msg->topic, .partition = msg->partition, .offset = msg->offset};
    mm_buf_t payload;
    mm_buf_init(&payload, MM_BUF_CAP_MESSAGE + 65536);
    char errstr[256];
    if (mm_service_dead_letter_encode(MM_SCORER_SERVICE_NAME, &source, key, msg->value,
                                      msg->value_len, why, reason, &payload, errstr,
                                      sizeof(errstr)) == MM_OK)
        mm_kafka_produce(s->producer, MM_TOPIC_DEADLETTER, key, key ? strlen(key) : 0, payload.data,
                         payload.len, NULL, 5000, errstr, sizeof(errstr));
    mm_buf_free(&payload);
    free(key);
    mm_log_warn("dead_letter", "%s", reason);
}

mm_err_t mm_scorer__apply_decision(mm_scorer_t *s, const mm_kafka_msg_t *msg, bool *applied,
                                   char *errstr, size_t errstr_size) {
    char why[512];
    if (applied) *applied = false;
    s->decisions_read++;
    mm_model_decision_t d = {0};
    mm_err_t err = mm_avro_decode_model_decision(msg->value, msg->value ? msg->value_len : 0, &d,
                                                 why, sizeof(why));
    if (err) {
        char reason[700];
        snprintf(reason, sizeof(reason), "%s [%d] offset %" PRId64 ": %s", msg->topic,
                 msg->partition, msg->offset, why);
        s->decisions_bad++;
        mm_scorer__dead_letter(s, msg, err, reason);
        return MM_OK;
    }
    if (s->cfg.spec && d.dataset && strcmp(d.dataset, s->cfg.spec->name) != 0) {
        mm_model_decision_clear(&d); /* another dataset's decision */
        return MM_OK;
    }
    if (map_put(s, &d)) {
        mm_model_decision_clear(&d);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    if (applied) *applied = true;
    return MM_OK;
}

const mm_model_decision_t *mm_scorer__decision(mm_scorer_t *s, const char *key) {
    mm_scorer_key_entry_t *e = mm_hashmap_get(s->by_key, key, strlen(key));
    return e ? &e->decision : NULL;
}

size_t mm_scorer__decision_keys(const mm_scorer_t *s) {
    return s->n_entries;
}

mm_err_t mm_scorer_load_decisions(mm_scorer_t *s, volatile sig_atomic_t *stop, char *errstr,
                                  size_t errstr_size) {
    mm_kafka_reader_t *reader = mm_kafka_reader_new(s->cfg.bootstrap, MM_TOPIC_DECISIONS,
                                                    &s->consumer_kafka, errstr, errstr_size);
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
        result = mm_scorer__apply_decision(s, &msg, NULL, errstr, errstr_size);
        if (result) break;
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

mm_err_t mm_scorer__produce(mm_scorer_t *s, const mm_prediction_batch_t *p, char *errstr,
                            size_t errstr_size) {
    mm_buf_t payload;
    mm_buf_init(&payload, MM_BUF_CAP_MESSAGE);
    mm_err_t err = mm_avro_encode_prediction_batch(p, &payload, errstr, errstr_size);
    if (!err && s->answers_outbox) /* stream mode: in the state store's open transaction */
        err = mm_outbox_insert(s->answers_outbox, MM_TOPIC_PREDICTIONS, p->partition_key, &payload,
                               mm_now_ms(), errstr, errstr_size);
    else if (!err)
        err = mm_kafka_produce(s->producer, MM_TOPIC_PREDICTIONS, p->partition_key,
                               strlen(p->partition_key), payload.data, payload.len, NULL, 30000,
                               errstr, errstr_size);
    mm_buf_free(&payload);
    return err;
}

/* The keys a run answers: those with scoring data, then those with only a decision. */
typedef struct run_keys {
    char **keys;
    size_t n, cap;
    mm_hashmap_t *seen;
    bool failed;
} run_keys_t;

static bool run_keys_add(void *opaque, const char *key) {
    run_keys_t *rk = opaque;
    size_t len = strlen(key);
    if (mm_hashmap_get(rk->seen, key, len)) return true;
    if (rk->n == rk->cap) {
        size_t cap = rk->cap ? rk->cap * 2 : 1024;
        char **n = realloc(rk->keys, cap * sizeof(*n));
        if (!n) goto nomem;
        rk->keys = n;
        rk->cap = cap;
    }
    char *copy = mm_strndup(key, len);
    if (!copy) goto nomem;
    rk->keys[rk->n++] = copy;
    if (mm_hashmap_put(rk->seen, copy, len, copy) != MM_OK) goto nomem;
    return true;
nomem:
    rk->failed = true;
    return false;
}

static void run_keys_free(run_keys_t *rk) {
    for (size_t i = 0; i < rk->n; i++) free(rk->keys[i]);
    free(rk->keys);
    mm_hashmap_destroy(rk->seen);
}

static mm_err_t collect_keys(mm_scorer_t *s, run_keys_t *rk, char *errstr, size_t errstr_size) {
    memset(rk, 0, sizeof(*rk));
    rk->seen = mm_hashmap_new(0);
    if (!rk->seen) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    mm_err_t err = mm_scoring_data_keys(s->scoring, run_keys_add, rk, errstr, errstr_size);
    for (size_t i = 0; !err && !rk->failed && i < s->n_entries; i++)
        run_keys_add(rk, s->entries[i]->decision.partition_key);
    if (!err && rk->failed) err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return err;
}

/* The run's as-of: the configured one, else the latest observation of all keys. */
static mm_err_t run_settings(mm_scorer_t *s, const char *run_id, mm_scorer_batch_stats_t *stats,
                             mm_scorer_run_t *run, char *errstr, size_t errstr_size) {
    *run = (mm_scorer_run_t){.run_id = run_id, .stats = stats, .stop_on_store_error = true};
    run->horizon = (size_t)(s->cfg.horizon > 0 ? s->cfg.horizon : s->cfg.spec->model.horizon);
    if (s->cfg.as_of_ms != 0) {
        run->as_of_ms = s->cfg.as_of_ms;
        run->as_of_given = true;
    } else {
        bool found = false;
        mm_err_t err =
            mm_scoring_data_latest(s->scoring, &run->as_of_ms, &found, errstr, errstr_size);
        if (err) return err;
    }
    stats->as_of_ms = run->as_of_ms;
    return MM_OK;
}

mm_err_t mm_scorer_run_batch(mm_scorer_t *s, const char *run_id, volatile sig_atomic_t *stop,
                             mm_scorer_batch_stats_t *stats, char *errstr, size_t errstr_size) {
    memset(stats, 0, sizeof(*stats));
    stats->decisions_read = s->decisions_read;
    stats->decisions_bad = s->decisions_bad;
    mm_scorer_run_t run;
    run_keys_t rk;
    mm_err_t err = run_settings(s, run_id, stats, &run, errstr, errstr_size);
    if (!err) err = collect_keys(s, &rk, errstr, errstr_size);
    if (err) return err;
    stats->keys = (int64_t)rk.n;

    for (size_t i = 0; i < rk.n && !*stop && !err; i += SINK_TXN_KEYS) {
        double sink_started = mm_scorer__mono_seconds();
        err = mm_scorer_sink_begin(s->sink, errstr, errstr_size);
        stats->sink_seconds += mm_scorer__mono_seconds() - sink_started;
        if (err) break;
        for (size_t j = i; j < rk.n && j < i + SINK_TXN_KEYS && !err; j++) {
            const char *key = rk.keys[j];
            mm_scorer_key_entry_t *e = mm_hashmap_get(s->by_key, key, strlen(key));
            err = mm_scorer__answer_key(s, key, e ? &e->decision : NULL, &run, errstr, errstr_size);
            mm_crash_point("scorer_after_answer"); /* mid-transaction (docs/reliability.md) */
        }
        if (!err) {
            sink_started = mm_scorer__mono_seconds();
            err = mm_scorer_sink_commit(s->sink, errstr, errstr_size);
            stats->sink_seconds += mm_scorer__mono_seconds() - sink_started;
            if (!err) mm_crash_point("scorer_after_sink_commit"); /* predictions not flushed */
        } else {
            mm_scorer_sink_rollback(s->sink);
        }
        mm_kafka_producer_poll(s->producer, 0);
    }
    run_keys_free(&rk);
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
    stats->model_loads = cs.loads;
    stats->model_load_failures = cs.loads_failed;
    stats->model_cache_hits = cs.hits;
    mm_logj(MM_LOG_INFO, "batch_scored",
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "run_id", run_id,
                      "as_of_ms", (json_int_t)stats->as_of_ms, "keys", (json_int_t)stats->keys,
                      "scored", (json_int_t)stats->scored, "fallback", (json_int_t)stats->fallback,
                      "no_model", (json_int_t)stats->no_model, "failed", (json_int_t)stats->failed,
                      "predictions", (json_int_t)stats->predictions, "cache_hits",
                      (json_int_t)cs.hits, "cache_misses", (json_int_t)cs.misses, "cache_bytes",
                      (json_int_t)cs.bytes),
            "batch scoring finished");
    return err;
}
