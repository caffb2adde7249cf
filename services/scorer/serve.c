/*
 * serve.c - mm-scorer serve's state (see serve.h): the decisions kept
 * current from mm.decisions in the state store (served_decisions.h), the scoring data kept current
 * from mm.observations, the workers that answer requests, and the serve metrics.
 *
 * Workload: many small requests (one key, tens of steps) on a few HTTP
 * threads, against up to ~100,000 keys. A request takes a worker, the key's
 * decision (from the worker's hot-key memory, else one primary-key read of
 * the state store's served_decisions table), the key's rows from SQLite (one
 * indexed range read), and the model from the cache; only a cold key fetches
 * and parses an artifact. Decisions are kept in the store, not in memory, so
 * that memory does not grow with the number of keys: at start the decisions
 * thread writes up to ~100,000 of them in transactions of DECISION_BATCH,
 * then one now and then.
 */
#include "serve.h"

#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/avro.h"
#include "mm/clock.h"
#include "mm/log.h"
#include "mm/model.h"
#include "mm/util.h"
#include "request_rows.h"
#include "scorer_int.h"
#include "served_decisions.h"

#define POLL_MS    200
#define RETRY_MS   1000
#define RUN_ID     "serve"
#define REASON_MAX 700
/* Decisions written by the decisions thread in one transaction, at most. */
#define DECISION_BATCH 256
/* Each worker's memory of hot keys' decisions: direct-mapped slots; a
 * decision larger than HOT_DECISION_MAX bytes is not kept. */
#define HOT_SLOTS        1024
#define HOT_DECISION_MAX 2048
/* SQLite page cache of each connection serve opens, KiB (PRAGMA cache_size). */
#define PAGE_CACHE_KIB 1024
#define LOAD_LABEL_OK  "ok"
#define LOAD_LABEL_ERR "error"

/*
 * A decision as read from the store: one allocation holding the record and
 * its strings, immutable, shared by a worker's hot-key memory and the
 * requests using it (a newer decision replaces the memory's reference; a
 * request in flight keeps its own until it is done).
 */
typedef struct dec {
    atomic_int refs; /* the hot-key memory's reference + one per request */
    size_t bytes;
    mm_model_decision_t d;
    char strings[]; /* d's strings, back to back */
} dec_t;

/* A hot key's decision in a worker's memory, as of the store's row seq. */
typedef struct hot {
    dec_t *dec; /* NULL: empty slot */
    int64_t seq;
    int64_t gen; /* sv->dec_gen when last known to be the latest */
} hot_t;

typedef struct worker {
    mm_scoring_data_t *sd;       /* read handle on the scoring-data store */
    mm_served_decisions_t *decs; /* reads of served_decisions, on sd's connection */
    hot_t *hot;                  /* HOT_SLOTS */
    mm_blob_t *blob;
    bool busy;
} worker_t;

struct mm_serve {
    mm_scorer_t *s;
    mm_serve_config_t cfg;

    /* The decisions' writer: its own connection on the store, used by the
     * decisions thread (in batches) and by mm_serve_put_decision. */
    pthread_mutex_t writer_lock; /* guards the writer and next_seq */
    mm_scoring_data_t *writer_sd;
    mm_served_decisions_t *writer;
    int64_t next_seq;
    /* Moves before and after every commit of decisions (odd: a commit is under
     * way): a worker's hot entry known to be the latest at an even generation
     * still is while the generation stays. */
    atomic_llong dec_gen;
    atomic_llong n_keys; /* keys with a decision */

    pthread_mutex_t pool_lock;
    pthread_cond_t pool_free;
    worker_t *workers;
    size_t n_workers;
    atomic_bool draining; /* shutting down: not ready any more */

    atomic_bool decisions_caught_up, scoring_caught_up, trimmed;
    atomic_llong decisions_applied, decisions_bad, scoring_lag;

    volatile sig_atomic_t follow_stop;
    pthread_t decisions_thread, observations_thread;
    bool decisions_started, observations_started;

    /* metrics (NULL without a registry) */
    pthread_mutex_t metrics_lock; /* guards last: counters advanced by their difference */
    mm_serve_stats_t last;
    mm_metric_t *m_loads, *m_load_seconds, *m_hits, *m_misses, *m_evictions, *m_bytes, *m_entries,
        *m_decisions, *m_decisions_bad, *m_lag, *m_keys, *m_held;
    int64_t last_held;
};

static void dec_unref(dec_t *d) {
    if (d && atomic_fetch_sub(&d->refs, 1) == 1) free(d);
}

#define DEC_STRINGS MM_SERVED_DECISION_STRINGS

/* A packed copy of @p d with one reference, or NULL when out of memory. */
static dec_t *dec_new(const mm_model_decision_t *d) {
    mm_model_decision_t probe = *d;
    const char **fields[DEC_STRINGS];
    mm_served_decision_strings(&probe, fields);
    size_t total = 0;
    for (size_t i = 0; i < DEC_STRINGS; i++)
        if (*fields[i]) total += strlen(*fields[i]) + 1;
    dec_t *nd = malloc(sizeof(*nd) + total);
    if (!nd) return NULL;
    atomic_init(&nd->refs, 1);
    nd->bytes = sizeof(*nd) + total;
    nd->d = *d;
    mm_served_decision_strings(&nd->d, fields);
    char *at = nd->strings;
    for (size_t i = 0; i < DEC_STRINGS; i++) {
        if (!*fields[i]) continue;
        size_t len = strlen(*fields[i]) + 1;
        memcpy(at, *fields[i], len);
        *fields[i] = at;
        at += len;
    }
    return nd;
}

static size_t hot_slot(const char *key) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *p = key; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return (size_t)(h % HOT_SLOTS);
}

/*
 * The key's latest decision, with a reference taken, into *@p out (NULL: the
 * key has none). From the worker's memory when no decision was committed
 * since it was known to be the latest; else the store's row, decoded only
 * when its seq differs from the one in memory. The generation is read before
 * the store: a commit after that read moves it, so the entry is checked again
 * next time. While a commit is under way (odd generation) the memory is not
 * trusted: another worker may already read the new row, and no request may
 * see an older decision after one has seen a newer.
 */
static mm_err_t dec_get(mm_serve_t *sv, worker_t *w, const char *key, dec_t **out, char *errstr,
                        size_t errstr_size) {
    *out = NULL;
    int64_t gen = atomic_load(&sv->dec_gen);
    hot_t *h = &w->hot[hot_slot(key)];
    bool mine = h->dec && strcmp(h->dec->d.partition_key, key) == 0;
    if (gen & 1) gen = -1; /* checked against the store, not marked as checked */
    if (mine && h->gen == gen && gen >= 0) {
        atomic_fetch_add(&h->dec->refs, 1);
        *out = h->dec;
        return MM_OK;
    }
    int64_t seq;
    bool found;
    const mm_model_decision_t *d = NULL;
    mm_err_t err = mm_served_decisions_get(w->decs, key, mine ? h->seq : -1, &seq, &d, &found,
                                           errstr, errstr_size);
    if (err || !found) return err;
    if (mine && seq == h->seq) {
        h->gen = gen;
        atomic_fetch_add(&h->dec->refs, 1);
        *out = h->dec;
        return MM_OK;
    }
    dec_t *nd = dec_new(d);
    if (!nd) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", key);
    if (nd->bytes <= HOT_DECISION_MAX) {
        dec_unref(h->dec); /* a request still holding it keeps it */
        atomic_fetch_add(&nd->refs, 1);
        *h = (hot_t){.dec = nd, .seq = seq, .gen = gen};
    } else if (mine) {
        dec_unref(h->dec);
        *h = (hot_t){0};
    }
    *out = nd;
    return MM_OK;
}

static char *dup_opt(const char *s) {
    return s ? strdup(s) : NULL;
}

/* Deep copy of a decision (mm_model_decision_clear frees it). */
static bool decision_copy(const mm_model_decision_t *in, mm_model_decision_t *out) {
    *out = *in;
    out->partition_key = dup_opt(in->partition_key);
    out->dataset = dup_opt(in->dataset);
    out->spec_hash = dup_opt(in->spec_hash);
    out->reason = dup_opt(in->reason);
    out->candidate_train_id = dup_opt(in->candidate_train_id);
    out->production.train_id = dup_opt(in->production.train_id);
    out->production.algorithm = dup_opt(in->production.algorithm);
    out->production.artifact_uri = dup_opt(in->production.artifact_uri);
    out->production.artifact_sha256 = dup_opt(in->production.artifact_sha256);
    out->production.load_id = dup_opt(in->production.load_id);
    bool ok = (!in->partition_key || out->partition_key) && (!in->dataset || out->dataset) &&
              (!in->spec_hash || out->spec_hash) && (!in->reason || out->reason) &&
              (!in->candidate_train_id || out->candidate_train_id) &&
              (!in->production.train_id || out->production.train_id) &&
              (!in->production.algorithm || out->production.algorithm) &&
              (!in->production.artifact_uri || out->production.artifact_uri) &&
              (!in->production.artifact_sha256 || out->production.artifact_sha256) &&
              (!in->production.load_id || out->production.load_id);
    if (!ok) mm_model_decision_clear(out);
    return ok;
}

/* ------------------------------------------------------------ life cycle */

static void on_load(void *opaque, double seconds, mm_err_t err) {
    mm_serve_t *sv = opaque;
    const char *label[] = {err ? LOAD_LABEL_ERR : LOAD_LABEL_OK};
    mm_metric_add(sv->m_loads, label, 1);
    mm_metric_observe(sv->m_load_seconds, NULL, seconds);
}

/* Artifact load latency buckets, seconds: 100 us .. 10 s. */
static const double load_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

static mm_err_t metrics_register(mm_serve_t *sv, char *errstr, size_t errstr_size) {
    mm_metrics_t *m = sv->cfg.metrics;
    if (!m) return MM_OK;
    struct {
        mm_metric_t **out;
        bool gauge;
        const char *name, *help, *labels;
    } defs[] = {
        {&sv->m_loads, false, "mm_scorer_model_loads_total",
         "model artifacts fetched, verified and parsed, by outcome", "outcome"},
        {&sv->m_hits, false, "mm_scorer_model_cache_hits_total",
         "model lookups answered from the cache", NULL},
        {&sv->m_misses, false, "mm_scorer_model_cache_misses_total",
         "model lookups that had to load the artifact", NULL},
        {&sv->m_evictions, false, "mm_scorer_model_cache_evictions_total",
         "models evicted to keep the cache within its byte bound", NULL},
        {&sv->m_held, false, "mm_scorer_model_load_failures_held_total",
         "lookups answered with a recent load failure instead of loading again", NULL},
        {&sv->m_bytes, true, "mm_scorer_model_cache_bytes",
         "memory of the cached models (bounded by --cache-bytes)", NULL},
        {&sv->m_entries, true, "mm_scorer_model_cache_entries", "models in the cache", NULL},
        {&sv->m_decisions, false, "mm_scorer_decisions_applied_total",
         "mm.decisions records applied to the production model map", NULL},
        {&sv->m_decisions_bad, false, "mm_scorer_decisions_dead_lettered_total",
         "undecodable mm.decisions records (dead-lettered)", NULL},
        {&sv->m_lag, true, "mm_scorer_scoring_data_lag",
         "records of mm.observations the scorer's group has not applied yet (-1 unknown)", NULL},
        {&sv->m_keys, true, "mm_scorer_keys_with_decisions",
         "keys with a production model decision", NULL},
    };
    for (size_t i = 0; i < MM_ARRAY_SIZE(defs); i++) {
        *defs[i].out = defs[i].gauge ? mm_metrics_gauge(m, defs[i].name, defs[i].help,
                                                        defs[i].labels, errstr, errstr_size)
                                     : mm_metrics_counter(m, defs[i].name, defs[i].help,
                                                          defs[i].labels, errstr, errstr_size);
        if (!*defs[i].out) return MM_ERR_CONFIG;
    }
    sv->m_load_seconds =
        mm_metrics_histogram(m, "mm_scorer_model_load_duration_seconds",
                             "time to fetch, verify and parse one model artifact", NULL,
                             load_bounds, MM_ARRAY_SIZE(load_bounds), errstr, errstr_size);
    return sv->m_load_seconds ? MM_OK : MM_ERR_CONFIG;
}

/* Bound the SQLite page cache of @p sd's connection. */
static mm_err_t page_cache_bound(mm_scoring_data_t *sd, char *errstr, size_t errstr_size) {
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", PAGE_CACHE_KIB);
    return mm_db_exec(mm_scoring_data_db(sd), sql, errstr, errstr_size);
}

/*
 * The decisions' writer on a connection of its own; the stored decisions of
 * a previous run are deleted (mm.decisions is read again from its
 * beginning). The scorer's own store handle (the scoring data's follower)
 * gets the same page cache bound.
 */
static mm_err_t writer_open(mm_serve_t *sv, char *errstr, size_t errstr_size) {
    mm_scorer_t *s = sv->s;
    sv->writer_sd = mm_scoring_data_open(s->cfg.state_path, s->cfg.spec,
                                         s->cfg.keep_observed ? s->cfg.keep_observed
                                                              : MM_SCORING_DATA_DEFAULT_KEEP,
                                         MM_SCORER_SERVICE_NAME, errstr, errstr_size);
    if (!sv->writer_sd) return MM_ERR_DB;
    mm_err_t err = page_cache_bound(sv->writer_sd, errstr, errstr_size);
    if (!err && s->scoring) err = page_cache_bound(s->scoring, errstr, errstr_size);
    if (err) return err;
    sv->writer = mm_served_decisions_open(mm_scoring_data_db(sv->writer_sd), errstr, errstr_size);
    if (!sv->writer) return MM_ERR_DB;
    return mm_served_decisions_clear(sv->writer, errstr, errstr_size);
}

mm_serve_t *mm_serve_new(mm_scorer_t *s, const mm_serve_config_t *cfg, char *errstr,
                         size_t errstr_size) {
    mm_serve_t *sv = calloc(1, sizeof(*sv));
    if (!sv) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    sv->s = s;
    if (cfg) sv->cfg = *cfg;
    if (!sv->cfg.max_keys) sv->cfg.max_keys = MM_SERVE_DEFAULT_MAX_KEYS;
    if (!sv->cfg.max_horizon) sv->cfg.max_horizon = MM_SERVE_DEFAULT_MAX_HORIZON;
    if (!sv->cfg.workers) sv->cfg.workers = MM_SERVE_DEFAULT_WORKERS;
    if (sv->cfg.failure_hold_ms == 0) sv->cfg.failure_hold_ms = MM_SERVE_DEFAULT_FAILURE_HOLD;
    if (sv->cfg.failure_hold_ms < 0) sv->cfg.failure_hold_ms = 0;
    pthread_mutex_init(&sv->writer_lock, NULL);
    pthread_mutex_init(&sv->pool_lock, NULL);
    pthread_cond_init(&sv->pool_free, NULL);
    pthread_mutex_init(&sv->metrics_lock, NULL);
    atomic_init(&sv->scoring_lag, -1);
    sv->next_seq = 1;
    sv->workers = calloc(sv->cfg.workers, sizeof(*sv->workers));
    if (!sv->workers) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (; sv->n_workers < sv->cfg.workers; sv->n_workers++) {
        worker_t *w = &sv->workers[sv->n_workers];
        w->sd = mm_scoring_data_open(s->cfg.state_path, s->cfg.spec,
                                     s->cfg.keep_observed ? s->cfg.keep_observed
                                                          : MM_SCORING_DATA_DEFAULT_KEEP,
                                     MM_SCORER_SERVICE_NAME, errstr, errstr_size);
        if (w->sd && mm_scoring_data_cache(w->sd,
                                           sv->cfg.rows_cache_bytes ? sv->cfg.rows_cache_bytes
                                                                    : MM_SERVE_DEFAULT_ROWS_CACHE,
                                           errstr, errstr_size)) {
            sv->n_workers++;
            goto fail;
        }
        if (w->sd && page_cache_bound(w->sd, errstr, errstr_size)) {
            sv->n_workers++;
            goto fail;
        }
        if (w->sd)
            w->decs = mm_served_decisions_open(mm_scoring_data_db(w->sd), errstr, errstr_size);
        if (w->decs) w->hot = calloc(HOT_SLOTS, sizeof(*w->hot));
        if (w->decs && !w->hot) mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        if (w->hot) w->blob = mm_blob_new(s->cfg.blob_url, &s->cfg.blob_opts, errstr, errstr_size);
        if (!w->sd || !w->blob) {
            sv->n_workers++;
            goto fail;
        }
    }
    if (writer_open(sv, errstr, errstr_size)) goto fail;
    if (metrics_register(sv, errstr, errstr_size)) goto fail;
    mm_model_cache_set_failure_hold(s->cache, sv->cfg.failure_hold_ms);
    mm_model_cache_set_observer(s->cache, on_load, sv);
    return sv;
fail:
    mm_serve_destroy(sv);
    return NULL;
}

void mm_serve_destroy(mm_serve_t *sv) {
    if (!sv) return;
    mm_serve_stop_followers(sv);
    if (sv->s && sv->s->cache) mm_model_cache_set_observer(sv->s->cache, NULL, NULL);
    for (size_t i = 0; i < sv->n_workers; i++) {
        worker_t *w = &sv->workers[i];
        for (size_t j = 0; w->hot && j < HOT_SLOTS; j++) dec_unref(w->hot[j].dec);
        free(w->hot);
        mm_served_decisions_close(w->decs);
        mm_scoring_data_close(w->sd);
        mm_blob_destroy(w->blob);
    }
    free(sv->workers);
    mm_served_decisions_close(sv->writer);
    mm_scoring_data_close(sv->writer_sd);
    pthread_mutex_destroy(&sv->writer_lock);
    pthread_mutex_destroy(&sv->pool_lock);
    pthread_cond_destroy(&sv->pool_free);
    pthread_mutex_destroy(&sv->metrics_lock);
    free(sv);
}

const mm_serve_config_t *mm_serve_config(const mm_serve_t *sv) {
    return &sv->cfg;
}

const mm_spec_t *mm_serve_spec(const mm_serve_t *sv) {
    return sv->s->cfg.spec;
}

/* ------------------------------------------------------------ decisions */

/*
 * Writing decisions: under writer_lock, in one transaction of the writer's
 * connection; what it wrote is seen by the workers once it commits
 * (decisions_end), which moves dec_gen.
 */
typedef struct dec_batch {
    size_t records, written, new_keys;
} dec_batch_t;

static mm_err_t decisions_begin(mm_serve_t *sv, dec_batch_t *b, char *errstr, size_t errstr_size) {
    pthread_mutex_lock(&sv->writer_lock);
    *b = (dec_batch_t){0};
    mm_err_t err = mm_db_begin(mm_scoring_data_db(sv->writer_sd), errstr, errstr_size);
    if (err) pthread_mutex_unlock(&sv->writer_lock);
    return err;
}

/* Write @p d (stolen; cleared on return) in the open batch; another dataset's is skipped. */
static mm_err_t decisions_write(mm_serve_t *sv, dec_batch_t *b, mm_model_decision_t *d,
                                char *errstr, size_t errstr_size) {
    const mm_spec_t *spec = sv->s->cfg.spec;
    mm_err_t err = MM_OK;
    b->records++;
    if (d->partition_key && !(spec && d->dataset && strcmp(d->dataset, spec->name) != 0)) {
        bool new_key = false;
        err = mm_served_decisions_put(sv->writer, d, sv->next_seq, &new_key, errstr, errstr_size);
        if (!err) {
            sv->next_seq++;
            b->written++;
            b->new_keys += new_key;
        }
    }
    mm_model_decision_clear(d);
    return err;
}

/* Commit the batch (roll it back when @p failed or the commit fails) and release the writer. */
static mm_err_t decisions_end(mm_serve_t *sv, dec_batch_t *b, bool failed, char *errstr,
                              size_t errstr_size) {
    mm_db_t *db = mm_scoring_data_db(sv->writer_sd);
    mm_err_t err = MM_ERR_DB;
    if (!failed) {
        atomic_fetch_add(&sv->dec_gen, 1); /* odd: a commit under way (see dec_get) */
        err = mm_db_commit(db, errstr, errstr_size);
        atomic_fetch_add(&sv->dec_gen, 1);
    }
    if (err) {
        mm_db_rollback(db);
    } else if (b->written) {
        atomic_fetch_add(&sv->n_keys, (long long)b->new_keys);
        atomic_fetch_add(&sv->decisions_applied, (long long)b->written);
        mm_metric_add(sv->m_decisions, NULL, (double)b->written);
    }
    pthread_mutex_unlock(&sv->writer_lock);
    return err;
}

mm_err_t mm_serve_put_decision(mm_serve_t *sv, mm_model_decision_t *d) {
    char errstr[512];
    dec_batch_t b;
    mm_err_t err = decisions_begin(sv, &b, errstr, sizeof(errstr));
    if (err) {
        mm_model_decision_clear(d);
    } else {
        err = decisions_write(sv, &b, d, errstr, sizeof(errstr));
        mm_err_t end = decisions_end(sv, &b, err != MM_OK, errstr, sizeof(errstr));
        if (!err) err = end;
    }
    if (err) mm_log_error("decision_dropped", "%s", errstr);
    return err;
}

void mm_serve_set_caught_up(mm_serve_t *sv) {
    atomic_store(&sv->decisions_caught_up, true);
    atomic_store(&sv->scoring_caught_up, true);
    atomic_store(&sv->scoring_lag, 0);
}

bool mm_serve_ready(void *opaque, char *reason, size_t reason_size) {
    mm_serve_t *sv = opaque;
    if (!atomic_load(&sv->decisions_caught_up)) {
        snprintf(reason, reason_size, "reading %s to its end", MM_TOPIC_DECISIONS);
        return false;
    }
    if (!atomic_load(&sv->scoring_caught_up)) {
        snprintf(reason, reason_size, "reading the scoring data (%s) to its end",
                 MM_TOPIC_OBSERVATIONS);
        return false;
    }
    if (atomic_load(&sv->draining)) {
        snprintf(reason, reason_size, "shutting down");
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ followers */

/*
 * Once both followers have caught up, hand the memory freed by the catch-up
 * (the consumers' fetch buffers, the decisions' batches: freed, but kept by
 * the allocator's per-thread arenas) back to the system, once.
 */
static void caught_up_trim(mm_serve_t *sv) {
    if (!atomic_load(&sv->decisions_caught_up) || !atomic_load(&sv->scoring_caught_up)) return;
    if (atomic_exchange(&sv->trimmed, true)) return;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/*
 * Follow mm.decisions from its beginning: records are written in batches of
 * up to DECISION_BATCH, committed as soon as the reader has nothing more at
 * hand (so a decision is served within a poll of its arrival). When a batch
 * cannot be written, the topic is read again from its beginning (the latest
 * decision per key wins, so writing one again changes nothing).
 */
static void *follow_decisions(void *opaque) {
    mm_serve_t *sv = opaque;
    mm_scorer_t *s = sv->s;
    while (!sv->follow_stop) {
        char errstr[512];
        mm_kafka_reader_t *reader = mm_kafka_reader_new(s->cfg.bootstrap, MM_TOPIC_DECISIONS,
                                                        &s->consumer_kafka, errstr, sizeof(errstr));
        if (!reader) {
            mm_log_warn("decisions_unavailable", "%s (trying again)", errstr);
            mm_sleep_ms(RETRY_MS, NULL);
            continue;
        }
        dec_batch_t batch;
        bool open = false, failed = false;
        while (!sv->follow_stop && !failed) {
            mm_kafka_msg_t msg;
            char why[512];
            mm_err_t err = mm_kafka_reader_poll(reader, open ? 0 : POLL_MS, &msg, why, sizeof(why));
            if (err && open) {
                open = false;
                failed = decisions_end(sv, &batch, false, errstr, sizeof(errstr)) != MM_OK;
                if (failed) break;
            }
            if (err == MM_ERR_NOT_FOUND) {
                if (!atomic_exchange(&sv->decisions_caught_up, true))
                    mm_log_info("decisions_loaded",
                                "%s read to its end: %" PRId64 " decisions applied",
                                MM_TOPIC_DECISIONS, (int64_t)atomic_load(&sv->decisions_applied));
                caught_up_trim(sv);
                continue;
            }
            if (err == MM_ERR_TIMEOUT) continue;
            if (err) {
                mm_log_warn("consumer_error", "%s", why);
                continue;
            }
            mm_model_decision_t d = {0};
            err = mm_avro_decode_model_decision(msg.value, msg.value ? msg.value_len : 0, &d, why,
                                                sizeof(why));
            if (err) {
                if (open) { /* the dead letter may wait on the producer: not inside a batch */
                    open = false;
                    failed = decisions_end(sv, &batch, false, errstr, sizeof(errstr)) != MM_OK;
                    if (failed) break;
                }
                char reason[REASON_MAX];
                snprintf(reason, sizeof(reason), "%s [%d] offset %" PRId64 ": %s", msg.topic,
                         msg.partition, msg.offset, why);
                atomic_fetch_add(&sv->decisions_bad, 1);
                mm_metric_add(sv->m_decisions_bad, NULL, 1);
                mm_scorer__dead_letter(s, &msg, err, reason);
                continue;
            }
            if (!open && decisions_begin(sv, &batch, errstr, sizeof(errstr)) != MM_OK) {
                mm_model_decision_clear(&d);
                failed = true;
                break;
            }
            open = true;
            err = decisions_write(sv, &batch, &d, errstr, sizeof(errstr));
            if (err || batch.records >= DECISION_BATCH) {
                open = false;
                failed = decisions_end(sv, &batch, err != MM_OK, errstr, sizeof(errstr)) != MM_OK ||
                         err != MM_OK;
            }
        }
        if (open) failed = decisions_end(sv, &batch, false, errstr, sizeof(errstr)) != MM_OK;
        mm_kafka_reader_destroy(reader);
        if (failed && !sv->follow_stop) {
            mm_log_error("decisions_not_stored", "%s (reading %s again from its beginning)", errstr,
                         MM_TOPIC_DECISIONS);
            mm_sleep_ms(RETRY_MS, NULL);
        }
    }
    return NULL;
}

static void on_lag(void *opaque, int64_t lag, bool caught_up) {
    mm_serve_t *sv = opaque;
    atomic_store(&sv->scoring_lag, lag);
    if (caught_up && !atomic_exchange(&sv->scoring_caught_up, true)) {
        mm_log_info("scoring_data_caught_up", "scoring data read to the end of %s",
                    MM_TOPIC_OBSERVATIONS);
        caught_up_trim(sv);
    }
}

static void *follow_observations(void *opaque) {
    mm_serve_t *sv = opaque;
    int attempt = 0;
    while (!sv->follow_stop) {
        mm_scorer_intake_stats_t stats;
        char errstr[512];
        mm_err_t err =
            mm_scorer_follow(sv->s, &sv->follow_stop, on_lag, sv, &stats, errstr, sizeof(errstr));
        if (sv->follow_stop) break;
        mm_log_error("scoring_data_failed", "%s: %s (following again)", mm_err_name(err), errstr);
        mm_sleep_ms(mm_backoff_ms(attempt++, RETRY_MS, 30 * RETRY_MS), NULL);
    }
    return NULL;
}

mm_err_t mm_serve_start_followers(mm_serve_t *sv, char *errstr, size_t errstr_size) {
    sv->follow_stop = 0;
    if (pthread_create(&sv->decisions_thread, NULL, follow_decisions, sv) != 0)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "cannot start the decisions thread");
    sv->decisions_started = true;
    if (pthread_create(&sv->observations_thread, NULL, follow_observations, sv) != 0)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "cannot start the scoring data thread");
    sv->observations_started = true;
    return MM_OK;
}

void mm_serve_stop_followers(mm_serve_t *sv) {
    if (!sv) return;
    sv->follow_stop = 1;
    /* The observations consumer first (it leaves its group, flushes its
     * dead letters), then the decisions reader. */
    if (sv->observations_started) pthread_join(sv->observations_thread, NULL);
    if (sv->decisions_started) pthread_join(sv->decisions_thread, NULL);
    sv->observations_started = sv->decisions_started = false;
}

/* ------------------------------------------------------------ workers */

static worker_t *worker_take(mm_serve_t *sv) {
    pthread_mutex_lock(&sv->pool_lock);
    worker_t *w = NULL;
    for (;;) {
        for (size_t i = 0; i < sv->n_workers && !w; i++)
            if (!sv->workers[i].busy) w = &sv->workers[i];
        if (w) break;
        pthread_cond_wait(&sv->pool_free, &sv->pool_lock);
    }
    if (w) w->busy = true;
    pthread_mutex_unlock(&sv->pool_lock);
    return w;
}

static void worker_give(mm_serve_t *sv, worker_t *w) {
    pthread_mutex_lock(&sv->pool_lock);
    w->busy = false;
    pthread_cond_signal(&sv->pool_free);
    pthread_mutex_unlock(&sv->pool_lock);
}

/* ------------------------------------------------------------ answers */

void mm_serve_answer_clear(mm_serve_answer_t *a) {
    if (!a) return;
    mm_prediction_batch_clear(&a->p);
    for (size_t i = 0; i < a->n_more; i++) mm_prediction_batch_clear(&a->more[i]);
    free(a->more);
    memset(a, 0, sizeof(*a));
}

typedef struct answer_ctx {
    mm_serve_t *sv;
    bool forecast;
    const mm_serve_query_t *q;
    const dec_t *dec;
    mm_serve_answer_t *out;
    bool unknown, bad, delivered;
} answer_ctx_t;

static void *dup_array(const void *p, size_t n, size_t size) {
    if (!p || n == 0) return NULL;
    void *c = malloc(n * size);
    if (c) memcpy(c, p, n * size);
    return c;
}

/* The run's deliver: keep a copy of the answer (mm_prediction_batch_clear frees it). */
static mm_err_t capture(void *opaque, const mm_prediction_batch_t *p, char *errstr,
                        size_t errstr_size) {
    answer_ctx_t *ctx = opaque;
    mm_serve_answer_t *out = ctx->out;
    mm_prediction_batch_t *c = &out->p;
    if (ctx->delivered) { /* another entity of the key */
        mm_prediction_batch_t *more = realloc(out->more, (out->n_more + 1) * sizeof(*more));
        if (!more) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        out->more = more;
        c = &out->more[out->n_more++];
    }
    *c = *p;
    c->request_id = dup_opt(p->request_id);
    c->partition_key = dup_opt(p->partition_key);
    c->entity = dup_opt(p->entity);
    c->dataset = dup_opt(p->dataset);
    c->message = dup_opt(p->message);
    c->train_id = dup_opt(p->train_id);
    c->algorithm = dup_opt(p->algorithm);
    c->load_id = dup_opt(p->load_id);
    c->time_ms = dup_array(p->time_ms, p->n, sizeof(*p->time_ms));
    c->value = dup_array(p->value, p->n, sizeof(*p->value));
    c->lower = dup_array(p->lower, p->n, sizeof(*p->lower));
    c->upper = dup_array(p->upper, p->n, sizeof(*p->upper));
    if (p->n && (!c->time_ms || !c->value || !c->lower || !c->upper)) {
        mm_prediction_batch_clear(c);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    ctx->delivered = true;
    return MM_OK;
}

/* The run's amend_rows: unknown keys, and the rows the request brought. */
static mm_err_t amend(void *opaque, mm_scoring_rows_t *rows, char *errstr, size_t errstr_size) {
    answer_ctx_t *ctx = opaque;
    const mm_serve_query_t *q = ctx->q;
    if (rows->n == 0 && !ctx->dec) {
        ctx->unknown = true;
        return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size,
                       "unknown key: no production model decision and no scoring data");
    }
    mm_request_rows_t given = {
        .given = q->rows_given, .n_rows = q->n_rows, .time_ms = q->time_ms, .x = q->x};
    mm_err_t err =
        mm_request_rows_apply(&given, ctx->forecast, "covariates", rows, errstr, errstr_size);
    if (err == MM_ERR_INVALID_ARG) ctx->bad = true;
    return err;
}

void mm_serve_answer(mm_serve_t *sv, bool forecast, const mm_serve_query_t *q,
                     mm_serve_answer_t *out) {
    memset(out, 0, sizeof(*out));
    const mm_spec_t *spec = sv->s->cfg.spec;
    if (forecast != (spec->task == MM_TASK_FORECAST)) {
        out->outcome = MM_SERVE_BAD_QUERY;
        snprintf(out->message, sizeof(out->message), "dataset %s is a %s dataset: ask %s",
                 spec->name, spec->task == MM_TASK_FORECAST ? "forecasting" : "classification",
                 spec->task == MM_TASK_FORECAST ? "/v1/forecast" : "/v1/predict");
        return;
    }
    worker_t *w = worker_take(sv);
    if (!w) {
        out->outcome = MM_SERVE_NOT_READY;
        snprintf(out->message, sizeof(out->message), "shutting down");
        return;
    }
    dec_t *dec = NULL;
    if (dec_get(sv, w, q->key, &dec, out->message, sizeof(out->message))) {
        worker_give(sv, w);
        out->outcome = MM_SERVE_INTERNAL;
        mm_log_error("serve_failed", "%s: %s", q->key, out->message);
        return;
    }
    /* An as-of forecasts from the model's grid: the newest step at or before
     * it; before the model's training data there is nothing to forecast from. */
    int64_t as_of = q->as_of_ms;
    const mm_production_model_t *pm = dec && dec->d.has_production ? &dec->d.production : NULL;
    if (forecast && as_of != 0 && pm && pm->data_end_ms > 0) {
        int64_t period = mm_freq_period_ms(spec->freq);
        if (as_of < pm->data_end_ms) {
            worker_give(sv, w);
            dec_unref(dec);
            out->outcome = MM_SERVE_BAD_QUERY;
            snprintf(out->message, sizeof(out->message),
                     "as_of: before the end of the model's training data (epoch ms %" PRId64
                     "); forecasts start after it",
                     pm->data_end_ms);
            return;
        }
        if (spec->freq != MM_FREQ_MONTH && period > 0) as_of -= (as_of - pm->data_end_ms) % period;
    }
    size_t horizon = q->horizon               ? q->horizon
                     : sv->s->cfg.horizon > 0 ? (size_t)sv->s->cfg.horizon
                                              : (size_t)spec->model.horizon;
    mm_scorer_batch_stats_t stats = {0};
    answer_ctx_t ctx = {.sv = sv, .forecast = forecast, .q = q, .dec = dec, .out = out};
    mm_scorer_run_t run = {.run_id = RUN_ID,
                           .as_of_ms = as_of,
                           .as_of_given = as_of != 0,
                           .horizon = horizon,
                           .stats = &stats,
                           .scoring = w->sd,
                           .blob = w->blob,
                           .amend_rows = amend,
                           .deliver = capture,
                           .hook_opaque = &ctx};
    char errstr[512] = "";
    mm_err_t err =
        mm_scorer__answer_key(sv->s, q->key, dec ? &dec->d : NULL, &run, errstr, sizeof(errstr));
    worker_give(sv, w);
    dec_unref(dec);
    if (err || !ctx.delivered) {
        out->outcome = ctx.unknown ? MM_SERVE_UNKNOWN_KEY
                       : ctx.bad   ? MM_SERVE_BAD_QUERY
                                   : MM_SERVE_INTERNAL;
        snprintf(out->message, sizeof(out->message), "%s", errstr[0] ? errstr : "no answer");
        if (out->outcome == MM_SERVE_INTERNAL)
            mm_log_error("serve_failed", "%s: %s", q->key, out->message);
        return;
    }
    switch (out->p.status) {
    case MM_PREDICTION_OK:
        out->outcome = MM_SERVE_OK;
        break;
    case MM_PREDICTION_NO_MODEL:
        out->outcome = MM_SERVE_NO_MODEL;
        break;
    default:
        /* The model refused the request's as-of (off its grid): the caller's to fix. */
        out->outcome = as_of != 0 && out->p.message && strstr(out->p.message, "as_of")
                           ? MM_SERVE_BAD_QUERY
                           : MM_SERVE_MODEL_FAILED;
        break;
    }
    if (out->outcome != MM_SERVE_OK)
        snprintf(out->message, sizeof(out->message), "%s",
                 out->p.message ? out->p.message : "no answer");
}

/* ------------------------------------------------------------ model info */

void mm_serve_model_info_clear(mm_serve_model_info_t *info) {
    if (!info) return;
    mm_model_decision_clear(&info->decision);
    memset(info, 0, sizeof(*info));
}

static void info_from_model(mm_serve_model_info_t *info, const mm_model_t *model) {
    info->loaded = true;
    snprintf(info->algorithm, sizeof(info->algorithm), "%s",
             mm_algo_name(mm_model_algorithm(model)));
    mm_algo_t algos[MM_ARRAY_SIZE(info->member_algos)];
    double weights[MM_ARRAY_SIZE(info->member_weights)];
    size_t n = mm_model_members(model, algos, weights, MM_ARRAY_SIZE(algos));
    if (n > MM_ARRAY_SIZE(algos)) n = MM_ARRAY_SIZE(algos);
    info->n_members = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(info->member_algos[i], sizeof(info->member_algos[i]), "%s",
                 mm_algo_name(algos[i]));
        info->member_weights[i] = weights[i];
    }
    mm_metrics_t metrics, baseline;
    mm_model_backtest_metrics(model, &metrics, &baseline);
    for (int id = 0; id < MM_METRIC__COUNT && info->n_metrics < MM_ARRAY_SIZE(info->metric_names);
         id++) {
        if (isnan(metrics.v[id])) continue;
        size_t k = info->n_metrics++;
        snprintf(info->metric_names[k], sizeof(info->metric_names[k]), "%s",
                 mm_metric_name((mm_metric_id_t)id));
        info->metric_values[k] = metrics.v[id];
        info->baseline_values[k] = baseline.v[id];
    }
    info->model_data_end_ms = mm_model_data_end_ms(model);
}

bool mm_serve_model_info(mm_serve_t *sv, const char *key, mm_serve_model_info_t *info) {
    memset(info, 0, sizeof(*info));
    info->model_data_end_ms = -1;
    worker_t *w = worker_take(sv);
    if (!w) {
        snprintf(info->message, sizeof(info->message), "shutting down");
        return true;
    }
    dec_t *dec = NULL;
    if (dec_get(sv, w, key, &dec, info->message, sizeof(info->message))) {
        worker_give(sv, w);
        mm_log_error("serve_failed", "%s: %s", key, info->message);
        return true;
    }
    if (!dec) {
        worker_give(sv, w);
        return false;
    }
    bool copied = decision_copy(&dec->d, &info->decision);
    dec_unref(dec);
    if (!copied) {
        worker_give(sv, w);
        snprintf(info->message, sizeof(info->message), "out of memory");
        return true;
    }
    const mm_production_model_t *pm = &info->decision.production;
    if (!info->decision.has_production) {
        worker_give(sv, w);
        return true;
    }
    const mm_model_t *model = NULL;
    mm_err_t err = mm_model_cache_get(sv->s->cache, w->blob, pm->artifact_uri, pm->artifact_sha256,
                                      &model, info->message, sizeof(info->message));
    if (!err) {
        info_from_model(info, model);
        mm_model_cache_release(sv->s->cache, pm->artifact_sha256);
    }
    worker_give(sv, w);
    return true;
}

/* ------------------------------------------------------------ stats, metrics */

void mm_serve_stats(mm_serve_t *sv, mm_serve_stats_t *out) {
    memset(out, 0, sizeof(*out));
    mm_model_cache_stats_t cs;
    mm_model_cache_stats(sv->s->cache, &cs);
    out->cache_hits = cs.hits;
    out->cache_misses = cs.misses;
    out->cache_evictions = cs.evictions;
    out->cache_loads = cs.loads;
    out->cache_loads_failed = cs.loads_failed;
    out->cache_bytes = cs.bytes;
    out->cache_entries = cs.entries;
    out->decisions_applied = atomic_load(&sv->decisions_applied);
    out->decisions_bad = atomic_load(&sv->decisions_bad);
    out->scoring_lag = atomic_load(&sv->scoring_lag);
    out->keys_with_decisions = (size_t)atomic_load(&sv->n_keys);
}

void mm_serve_collect(void *opaque) {
    mm_serve_t *sv = opaque;
    if (!sv->cfg.metrics) return;
    mm_model_cache_stats_t cs;
    mm_model_cache_stats(sv->s->cache, &cs);
    mm_serve_stats_t st;
    mm_serve_stats(sv, &st);
    pthread_mutex_lock(&sv->metrics_lock);
    /* Counters advance by what happened since the last scrape. */
    mm_metric_add(sv->m_hits, NULL, (double)(st.cache_hits - sv->last.cache_hits));
    mm_metric_add(sv->m_misses, NULL, (double)(st.cache_misses - sv->last.cache_misses));
    mm_metric_add(sv->m_evictions, NULL, (double)(st.cache_evictions - sv->last.cache_evictions));
    mm_metric_add(sv->m_held, NULL, (double)(cs.failures_held - sv->last_held));
    sv->last = st;
    sv->last_held = cs.failures_held;
    pthread_mutex_unlock(&sv->metrics_lock);
    mm_metric_set(sv->m_bytes, NULL, (double)st.cache_bytes);
    mm_metric_set(sv->m_entries, NULL, (double)st.cache_entries);
    mm_metric_set(sv->m_lag, NULL, (double)st.scoring_lag);
    mm_metric_set(sv->m_keys, NULL, (double)st.keys_with_decisions);
}

void mm_serve_set_draining(mm_serve_t *sv) {
    atomic_store(&sv->draining, true);
}
