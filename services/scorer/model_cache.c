/*
 * model_cache.c - byte-bounded LRU of loaded models (see model_cache.h).
 *
 * Tuned for thousands of small models (a few KiB each) and many more
 * lookups than loads: a hash map on the sha256 (mm/hashmap.h, keyed by the
 * entry's own copy of the digest) plus an intrusive LRU list. Entries in use (refcount > 0) or
 * loading are never evicted, so the bound can be exceeded only by what is borrowed at that moment.
 */
#include "model_cache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/clock.h"
#include "mm/hashmap.h"
#include "mm/sha256.h"

#define FAILURE_MSG_MAX 400

typedef struct entry {
    char sha[MM_SHA256_HEX_LEN + 1];
    mm_model_t *model; /* NULL while loading or failed */
    size_t bytes;
    int refs;
    bool loading;
    bool failed; /* a held failure: fail_err and fail_msg until fail_until_ms */
    mm_err_t fail_err;
    int64_t fail_until_ms;
    char fail_msg[FAILURE_MSG_MAX];
    struct entry *prev, *next; /* LRU: head = most recent */
} entry_t;

struct mm_model_cache {
    pthread_mutex_t lock;
    pthread_cond_t loaded;
    mm_hashmap_t *by_sha; /* sha -> entry_t; keys borrowed from entry->sha */
    entry_t *head, *tail;
    size_t max_bytes;
    int64_t failure_hold_ms;
    mm_model_cache_fetch_fn *fetch;
    void *fetch_opaque;
    mm_model_cache_load_fn *observer;
    void *observer_opaque;
    mm_model_cache_stats_t stats;
};

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static entry_t *table_find(mm_model_cache_t *c, const char *sha) {
    return mm_hashmap_get(c->by_sha, sha, strlen(sha));
}

static void lru_unlink(mm_model_cache_t *c, entry_t *e) {
    if (e->prev)
        e->prev->next = e->next;
    else if (c->head == e)
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else if (c->tail == e)
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(mm_model_cache_t *c, entry_t *e) {
    e->prev = NULL;
    e->next = c->head;
    if (c->head) c->head->prev = e;
    c->head = e;
    if (!c->tail) c->tail = e;
}

static void table_remove(mm_model_cache_t *c, entry_t *e) {
    mm_hashmap_remove(c->by_sha, e->sha, MM_SHA256_HEX_LEN);
}

/* Unlink and free an entry nobody borrows (a loaded model or a held failure). */
static void drop(mm_model_cache_t *c, entry_t *e) {
    lru_unlink(c, e);
    mm_hashmap_remove(c->by_sha, e->sha, MM_SHA256_HEX_LEN);
    c->stats.bytes -= e->bytes;
    c->stats.entries--;
    mm_model_destroy(e->model);
    free(e);
}

/* Least recently used first, skipping what is borrowed or loading. */
static void evict(mm_model_cache_t *c) {
    entry_t *e = c->tail;
    while (c->stats.bytes > c->max_bytes && e) {
        entry_t *prev = e->prev;
        if (e->refs == 0 && !e->loading) {
            if (!e->failed) c->stats.evictions++;
            drop(c, e);
        }
        e = prev;
    }
}

mm_model_cache_t *mm_model_cache_new(size_t max_bytes) {
    mm_model_cache_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->by_sha = mm_hashmap_new(0);
    if (!c->by_sha) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->loaded, NULL);
    c->max_bytes = max_bytes;
    return c;
}

void mm_model_cache_destroy(mm_model_cache_t *c) {
    if (!c) return;
    entry_t *e = c->head;
    while (e) {
        entry_t *next = e->next;
        mm_model_destroy(e->model);
        free(e);
        e = next;
    }
    mm_hashmap_destroy(c->by_sha);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->loaded);
    free(c);
}

mm_err_t mm_model_cache_get(mm_model_cache_t *c, mm_blob_t *blob, const char *uri,
                            const char *sha256_hex, const mm_model_t **model, char *errstr,
                            size_t errstr_size) {
    *model = NULL;
    if (!sha256_hex || strlen(sha256_hex) != MM_SHA256_HEX_LEN)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "%s: invalid sha256 '%s'", uri,
                       sha256_hex ? sha256_hex : "");
    pthread_mutex_lock(&c->lock);
    for (;;) {
        entry_t *e = table_find(c, sha256_hex);
        if (!e) break;
        if (e->loading) { /* someone else is loading it: wait, then look again */
            c->stats.waiting++;
            pthread_cond_wait(&c->loaded, &c->lock);
            c->stats.waiting--;
            continue;
        }
        if (e->failed) {
            if (mm_mono_ms() >= e->fail_until_ms) {
                drop(c, e); /* the hold is over: load again */
                break;
            }
            mm_err_t held = e->fail_err;
            c->stats.failures_held++;
            mm_errf(held, errstr, errstr_size, "%s (load failure held for %lld ms)", e->fail_msg,
                    (long long)c->failure_hold_ms);
            pthread_mutex_unlock(&c->lock);
            return held;
        }
        e->refs++;
        lru_unlink(c, e);
        lru_push_front(c, e);
        c->stats.hits++;
        *model = e->model;
        pthread_mutex_unlock(&c->lock);
        return MM_OK;
    }
    /* Miss: insert a loading placeholder so concurrent callers wait for us. */
    entry_t *e = calloc(1, sizeof(*e));
    if (!e) {
        pthread_mutex_unlock(&c->lock);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    memcpy(e->sha, sha256_hex, MM_SHA256_HEX_LEN + 1);
    e->loading = true;
    if (mm_hashmap_put(c->by_sha, e->sha, MM_SHA256_HEX_LEN, e) != MM_OK) {
        pthread_mutex_unlock(&c->lock);
        free(e);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    c->stats.misses++;
    mm_model_cache_fetch_fn *fetch = c->fetch;
    void *fetch_opaque = c->fetch_opaque;
    pthread_mutex_unlock(&c->lock);

    int64_t load_started = mono_ns();
    mm_buf_t bytes;
    mm_buf_init(&bytes, MM_BUF_CAP_ARTIFACT);
    mm_model_t *loaded = NULL;
    /* The decision names no size: the digest alone vouches for the bytes. */
    mm_err_t err =
        fetch ? fetch(fetch_opaque, blob, uri, sha256_hex, &bytes, errstr, errstr_size)
              : mm_blob_get_verified(blob, uri, sha256_hex, -1, &bytes, errstr, errstr_size);
    if (!err) err = mm_model_load(bytes.data, bytes.len, &loaded, errstr, errstr_size);
    size_t size = loaded ? mm_model_memory_size(loaded) + bytes.len : 0;
    mm_buf_free(&bytes);
    double load_s = (double)(mono_ns() - load_started) / 1e9;

    pthread_mutex_lock(&c->lock);
    c->stats.loads++;
    if (err && c->failure_hold_ms > 0) {
        /* Held: waiters and the next callers get this error until the hold ends. */
        e->loading = false;
        e->failed = true;
        e->fail_err = err;
        e->fail_until_ms = mm_mono_ms() + c->failure_hold_ms;
        snprintf(e->fail_msg, sizeof(e->fail_msg), "%s", errstr ? errstr : mm_err2str(err));
        e->bytes = sizeof(*e);
        lru_push_front(c, e);
        c->stats.bytes += e->bytes;
        c->stats.entries++;
        c->stats.loads_failed++;
        evict(c);
    } else if (err) {
        table_remove(c, e);
        free(e);
        c->stats.loads_failed++;
    } else {
        e->model = loaded;
        e->bytes = size;
        e->loading = false;
        e->refs = 1;
        lru_push_front(c, e);
        c->stats.bytes += size;
        c->stats.entries++;
        evict(c);
        *model = loaded;
    }
    pthread_cond_broadcast(&c->loaded);
    mm_model_cache_load_fn *observer = c->observer;
    void *observer_opaque = c->observer_opaque;
    pthread_mutex_unlock(&c->lock);
    if (observer) observer(observer_opaque, load_s, err);
    return err;
}

void mm_model_cache_release(mm_model_cache_t *c, const char *sha256_hex) {
    if (!sha256_hex) return;
    pthread_mutex_lock(&c->lock);
    entry_t *e = table_find(c, sha256_hex);
    if (e && e->refs > 0) e->refs--;
    evict(c);
    pthread_mutex_unlock(&c->lock);
}

void mm_model_cache_stats(mm_model_cache_t *c, mm_model_cache_stats_t *out) {
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    out->in_use = 0;
    for (const entry_t *e = c->head; e; e = e->next)
        if (e->refs > 0) out->in_use++;
    pthread_mutex_unlock(&c->lock);
}

void mm_model_cache_set_failure_hold(mm_model_cache_t *c, int64_t hold_ms) {
    pthread_mutex_lock(&c->lock);
    c->failure_hold_ms = hold_ms > 0 ? hold_ms : 0;
    pthread_mutex_unlock(&c->lock);
}

void mm_model_cache_set_fetch(mm_model_cache_t *c, mm_model_cache_fetch_fn *fn, void *opaque) {
    pthread_mutex_lock(&c->lock);
    c->fetch = fn;
    c->fetch_opaque = opaque;
    pthread_mutex_unlock(&c->lock);
}

void mm_model_cache_set_observer(mm_model_cache_t *c, mm_model_cache_load_fn *fn, void *opaque) {
    pthread_mutex_lock(&c->lock);
    c->observer = fn;
    c->observer_opaque = opaque;
    pthread_mutex_unlock(&c->lock);
}
