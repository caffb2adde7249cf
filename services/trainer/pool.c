/*
 * pool.c - mm-trainer's training workers: a bounded queue of due keys, fed by
 * the poll thread from the state store, drained by cfg.workers threads, each
 * with its own SQLite connection and blob handle. A key is never queued or
 * trained twice at once (the in-flight set).
 *
 * Workload: the poll thread looks for due keys every few hundred
 * milliseconds; a burst of thousands of keys at the end of a load goes
 * through the queue a queue-full at a time. The lock is held only to move
 * keys in and out of the queue, never while training.
 */
#include <stdlib.h>
#include <string.h>

#include "mm/log.h"
#include "mm/util.h"
#include "trainer_int.h"

/* First size of the in-flight set (doubled as it grows). */
#define INFLIGHT_INITIAL_CAP 64

/* ------------------------------------------------------------ in-flight set (under lock) */

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

/* Queue @p key unless it is queued or training already; false when full. */
static bool enqueue_due(void *opaque, const char *key) {
    mm_trainer_t *t = opaque;
    if (t->q_len >= MM_TRAINER_JOB_QUEUE_CAP) return false;
    if (inflight_has(t, key)) return true;
    if (t->n_inflight == t->cap_inflight) {
        size_t cap = t->cap_inflight ? t->cap_inflight * 2 : INFLIGHT_INITIAL_CAP;
        char **grown = realloc(t->inflight, cap * sizeof(char *));
        if (!grown) return false;
        t->inflight = grown;
        t->cap_inflight = cap;
    }
    char *k1 = strdup(key), *k2 = strdup(key);
    if (!k1 || !k2) {
        free(k1);
        free(k2);
        return false;
    }
    t->inflight[t->n_inflight++] = k1;
    t->queue[(t->q_head + t->q_len) % MM_TRAINER_JOB_QUEUE_CAP].partition_key = k2;
    t->q_len++;
    pthread_cond_signal(&t->cond_jobs);
    return true;
}

void mm_trainer__pool_schedule_due(mm_trainer_t *t) {
    char errstr[512];
    pthread_mutex_lock(&t->lock);
    mm_err_t err =
        mm_trainer_store_due_keys(t->store.db, t->spec, mm_now_ms(), MM_TRAINER_JOB_QUEUE_CAP,
                                  enqueue_due, t, errstr, sizeof(errstr));
    pthread_mutex_unlock(&t->lock);
    if (err) mm_log_error("schedule_failed", "%s", errstr);
}

/* ------------------------------------------------------------ workers */

typedef struct worker_arg {
    mm_trainer_t *trainer;
    int index;
} worker_arg_t;

/* The next job, or false once stopping with the queue drained. */
static bool next_job(mm_trainer_t *t, mm_trainer_job_t *job) {
    pthread_mutex_lock(&t->lock);
    while (!t->stopping && t->q_len == 0) pthread_cond_wait(&t->cond_jobs, &t->lock);
    bool got = t->q_len > 0;
    if (got) {
        *job = t->queue[t->q_head];
        t->q_head = (t->q_head + 1) % MM_TRAINER_JOB_QUEUE_CAP;
        t->q_len--;
    }
    pthread_mutex_unlock(&t->lock);
    return got;
}

static void *worker_main(void *arg_) {
    worker_arg_t *arg = arg_;
    mm_trainer_t *t = arg->trainer;
    char errstr[512];
    mm_db_t *db = mm_db_open(t->cfg.state_path, mm_trainer_migrations, mm_trainer_n_migrations,
                             errstr, sizeof(errstr));
    /* The container was made (or found) at start-up: a worker's handle needs no request, so a
     * store that went down since cannot leave the worker without one (a handle's requests are
     * retried when they are made, per key). */
    mm_blob_opts_t opts = t->cfg.blob_opts;
    opts.create_container = false;
    mm_blob_t *blob = db ? mm_blob_new(t->cfg.blob_url, &opts, errstr, sizeof(errstr)) : NULL;
    if (!db || !blob)
        mm_log_error("worker_failed", "worker %d cannot start: %s", arg->index, errstr);

    mm_trainer_job_t job;
    while (next_job(t, &job)) {
        if (db && blob) mm_trainer__train_key(t, db, blob, job.partition_key);
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

mm_err_t mm_trainer__pool_start(mm_trainer_t *t, char *errstr, size_t errstr_size) {
    t->threads = calloc((size_t)t->cfg.workers, sizeof(pthread_t));
    if (!t->threads) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    for (int i = 0; i < t->cfg.workers; i++) {
        worker_arg_t *arg = malloc(sizeof(*arg));
        if (!arg) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        arg->trainer = t;
        arg->index = i;
        if (pthread_create(&t->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "cannot start worker thread %d", i);
        }
        t->n_threads++;
    }
    return MM_OK;
}

void mm_trainer__pool_stop(mm_trainer_t *t) {
    /* Queued keys stay due in the state store and resume at restart. */
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    while (t->q_len > 0) {
        mm_trainer_job_t job = t->queue[t->q_head];
        t->q_head = (t->q_head + 1) % MM_TRAINER_JOB_QUEUE_CAP;
        t->q_len--;
        inflight_remove(t, job.partition_key);
        free(job.partition_key);
    }
    pthread_cond_broadcast(&t->cond_jobs);
    pthread_mutex_unlock(&t->lock);
    for (int i = 0; i < t->n_threads; i++) pthread_join(t->threads[i], NULL);
    t->n_threads = 0;
}

void mm_trainer__pool_free(mm_trainer_t *t) {
    free(t->threads);
    t->threads = NULL;
    for (size_t i = 0; i < t->n_inflight; i++) free(t->inflight[i]);
    free(t->inflight);
    t->inflight = NULL;
    t->n_inflight = 0;
}
