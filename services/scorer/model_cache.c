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
#include <stdlib.h>
#include <string.h>

#include "mm/hashmap.h"
#include "mm/sha256.h"

typedef struct entry {
    char sha[MM_SHA256_HEX_LEN + 1];
    mm_model_t *model; /* NULL while loading */
    size_t bytes;
    int refs;
    bool loading;
    struct entry *prev, *next; /* LRU: head = most recent */
} entry_t;

struct mm_model_cache {
    pthread_mutex_t lock;
    pthread_cond_t loaded;
    mm_hashmap_t *by_sha; /* sha -> entry_t; keys borrowed from entry->sha */
    entry_t *head, *tail;
    size_t max_bytes;
    mm_model_cache_stats_t stats;
};

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

static void evict(mm_model_cache_t *c) {
    entry_t *e = c->tail;
    while (c->stats.bytes > c->max_bytes && e) {
        entry_t *prev = e->prev;
        if (e->refs == 0 && !e->loading) {
            lru_unlink(c, e);
            table_remove(c, e);
            c->stats.bytes -= e->bytes;
            c->stats.entries--;
            c->stats.evictions++;
            mm_model_destroy(e->model);
            free(e);
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
            pthread_cond_wait(&c->loaded, &c->lock);
            continue;
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
    pthread_mutex_unlock(&c->lock);

    mm_buf_t bytes;
    mm_buf_init(&bytes, MM_BUF_CAP_ARTIFACT);
    mm_model_t *loaded = NULL;
    /* The decision names no size: the digest alone vouches for the bytes. */
    mm_err_t err = mm_blob_get_verified(blob, uri, sha256_hex, -1, &bytes, errstr, errstr_size);
    if (!err) err = mm_model_load(bytes.data, bytes.len, &loaded, errstr, errstr_size);
    size_t size = loaded ? mm_model_memory_size(loaded) + bytes.len : 0;
    mm_buf_free(&bytes);

    pthread_mutex_lock(&c->lock);
    if (err) {
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
    pthread_mutex_unlock(&c->lock);
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
    pthread_mutex_unlock(&c->lock);
}
