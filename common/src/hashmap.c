/*
 * hashmap.c - string-keyed map, open addressing with linear probing (see
 * hashmap.h).
 *
 * Workload: one lookup per CSV row or score request against up to millions
 * of keys, insertions once per new key, removals rare (cache evictions). The
 * table stays at most half full so probe runs stay short; removal shifts the
 * following run back instead of leaving tombstones, so lookups never slow
 * down with churn.
 */
#include "mm/hashmap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FNV1A_OFFSET_BASIS 0xcbf29ce484222325ull
#define FNV1A_PRIME        0x100000001b3ull

typedef struct slot {
    uint64_t hash;
    const char *key; /* borrowed */
    size_t key_len;
    void *value; /* borrowed; NULL: empty slot */
} slot_t;

struct mm_hashmap {
    slot_t *slots;
    size_t n_slots; /* a power of two */
    size_t count;
    size_t max_entries;
};

uint64_t mm_hashmap_hash(const char *key, size_t len) {
    uint64_t h = FNV1A_OFFSET_BASIS;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= FNV1A_PRIME;
    }
    return h;
}

mm_hashmap_t *mm_hashmap_new(size_t max_entries) {
    mm_hashmap_t *map = calloc(1, sizeof(*map));
    if (!map) return NULL;
    map->n_slots = MM_HASHMAP_MIN_SLOTS;
    map->slots = calloc(map->n_slots, sizeof(*map->slots));
    if (!map->slots) {
        free(map);
        return NULL;
    }
    map->max_entries = max_entries ? max_entries : MM_HASHMAP_DEFAULT_MAX_ENTRIES;
    return map;
}

void mm_hashmap_destroy(mm_hashmap_t *map) {
    if (!map) return;
    free(map->slots);
    free(map);
}

size_t mm_hashmap_count(const mm_hashmap_t *map) {
    return map ? map->count : 0;
}

/* The slot holding @p key, or the empty slot that ends its probe run. */
static size_t find_slot(const mm_hashmap_t *map, uint64_t hash, const char *key, size_t key_len) {
    size_t mask = map->n_slots - 1;
    size_t i = (size_t)hash & mask;
    for (;;) {
        const slot_t *s = &map->slots[i];
        if (!s->value) return i;
        if (s->hash == hash && s->key_len == key_len && memcmp(s->key, key, key_len) == 0) return i;
        i = (i + 1) & mask;
    }
}

void *mm_hashmap_get(const mm_hashmap_t *map, const char *key, size_t key_len) {
    if (!map || !key) return NULL;
    return map->slots[find_slot(map, mm_hashmap_hash(key, key_len), key, key_len)].value;
}

static bool grow(mm_hashmap_t *map) {
    if (map->n_slots > SIZE_MAX / 2 / sizeof(slot_t)) return false;
    size_t n_slots = map->n_slots * 2;
    slot_t *slots = calloc(n_slots, sizeof(*slots));
    if (!slots) return false;
    size_t mask = n_slots - 1;
    for (size_t j = 0; j < map->n_slots; j++) {
        const slot_t *s = &map->slots[j];
        if (!s->value) continue;
        size_t i = (size_t)s->hash & mask;
        while (slots[i].value) i = (i + 1) & mask;
        slots[i] = *s;
    }
    free(map->slots);
    map->slots = slots;
    map->n_slots = n_slots;
    return true;
}

mm_err_t mm_hashmap_put(mm_hashmap_t *map, const char *key, size_t key_len, void *value) {
    if (!map || !key || !value) return MM_ERR_INVALID_ARG;
    uint64_t hash = mm_hashmap_hash(key, key_len);
    size_t i = find_slot(map, hash, key, key_len);
    slot_t *s = &map->slots[i];
    if (s->value) { /* replace: the new key pointer may belong to the new value */
        s->key = key;
        s->value = value;
        return MM_OK;
    }
    if (map->count >= map->max_entries) return MM_ERR_NOMEM;
    if ((map->count + 1) * 2 > map->n_slots) {
        if (!grow(map)) return MM_ERR_NOMEM;
        i = find_slot(map, hash, key, key_len);
        s = &map->slots[i];
    }
    s->hash = hash;
    s->key = key;
    s->key_len = key_len;
    s->value = value;
    map->count++;
    return MM_OK;
}

void *mm_hashmap_remove(mm_hashmap_t *map, const char *key, size_t key_len) {
    if (!map || !key) return NULL;
    size_t mask = map->n_slots - 1;
    size_t hole = find_slot(map, mm_hashmap_hash(key, key_len), key, key_len);
    void *value = map->slots[hole].value;
    if (!value) return NULL;
    /* Backward-shift: move each later member of the run whose home slot is
     * not between the hole and it into the hole, so no probe run is broken. */
    size_t i = hole;
    for (;;) {
        i = (i + 1) & mask;
        slot_t *s = &map->slots[i];
        if (!s->value) break;
        size_t home = (size_t)s->hash & mask;
        bool stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
        if (stays) continue;
        map->slots[hole] = *s;
        hole = i;
    }
    memset(&map->slots[hole], 0, sizeof(map->slots[hole]));
    map->count--;
    return value;
}
