/*
 * hashmap.h - a map from string keys to pointers: open addressing with
 * linear probing on a 64-bit FNV-1a hash, growing by doubling up to a named
 * bound on the number of entries.
 *
 * Ownership: the map borrows both the key bytes and the value. A key must
 * stay valid and unchanged while its entry is in the map; the usual way is
 * to point the key into the value itself (a key string the value owns).
 * Lookups, replacements and removals never allocate; an insertion allocates
 * only when the table doubles. The map never frees keys or values.
 *
 * Tuned for many more lookups than insertions (one lookup per CSV row, per
 * score request) and up to millions of entries: the table stays at most half
 * full, and each slot keeps the key's hash so probing compares hashes first
 * and growing never re-hashes a key.
 *
 * @locality not thread-safe: callers that share a map lock around it.
 */
#ifndef MM_HASHMAP_H
#define MM_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

/* Slots of a new map (a power of two); the table doubles from there. */
#define MM_HASHMAP_MIN_SLOTS 16
/* Entry bound when mm_hashmap_new() is given 0. */
#define MM_HASHMAP_DEFAULT_MAX_ENTRIES (64u * 1024u * 1024u)

typedef struct mm_hashmap mm_hashmap_t;

/**
 * @brief Create an empty map.
 * @param max_entries bound on the number of entries: mm_hashmap_put() of a
 * new key beyond it fails with MM_ERR_NOMEM; 0 means
 * MM_HASHMAP_DEFAULT_MAX_ENTRIES.
 * @returns the map (free with mm_hashmap_destroy()), or NULL when out of memory.
 */
mm_hashmap_t *mm_hashmap_new(size_t max_entries);

/** @brief Free the map's table; keys and values are borrowed and left alone. Accepts NULL. */
void mm_hashmap_destroy(mm_hashmap_t *map);

/**
 * @brief Look up @p key (@p key_len bytes, NUL not required).
 * @returns the value stored under the key, or NULL when absent.
 */
void *mm_hashmap_get(const mm_hashmap_t *map, const char *key, size_t key_len);

/**
 * @brief Store @p value under @p key, replacing the value (and the borrowed
 * key pointer) of an equal key already present.
 * @param key borrowed: must stay valid and unchanged while the entry exists.
 * @param value borrowed; must not be NULL (NULL is what mm_hashmap_get()
 * returns for "absent").
 * @returns MM_OK; MM_ERR_INVALID_ARG for a NULL value; MM_ERR_NOMEM when the
 * entry bound is reached or the table cannot grow (the map is unchanged).
 */
mm_err_t mm_hashmap_put(mm_hashmap_t *map, const char *key, size_t key_len, void *value);

/**
 * @brief Remove @p key's entry (never allocates).
 * @returns the value it held, or NULL when absent.
 */
void *mm_hashmap_remove(mm_hashmap_t *map, const char *key, size_t key_len);

/** @returns the number of entries. */
size_t mm_hashmap_count(const mm_hashmap_t *map);

/** @returns the 64-bit FNV-1a hash of @p len bytes at @p key (the map's hash). */
uint64_t mm_hashmap_hash(const char *key, size_t len);

#endif
