/*
 * test_hashmap.c - the string-keyed map (common/src/hashmap.c): lookups by
 * length-delimited keys, replacement, removal keeping probe runs intact,
 * growth, and the entry bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/hashmap.h"

#define MANY_KEYS 20000
#define KEY_BYTES 48

/* Keys that live as long as the map, as the ownership rule asks. */
static char (*make_keys(size_t n))[KEY_BYTES] {
    char(*keys)[KEY_BYTES] = calloc(n, KEY_BYTES);
    cr_assert_not_null(keys);
    for (size_t i = 0; i < n; i++) snprintf(keys[i], KEY_BYTES, "store=%zu/item=%zu", i % 97, i);
    return keys;
}

Test(hashmap, get_finds_what_put_stored_and_null_for_absent_keys) {
    mm_hashmap_t *map = mm_hashmap_new(0);
    cr_assert_not_null(map);
    int a = 1, b = 2;
    cr_assert_eq(mm_hashmap_put(map, "store=1", 7, &a), MM_OK);
    cr_assert_eq(mm_hashmap_put(map, "store=2", 7, &b), MM_OK);
    cr_expect_eq(mm_hashmap_get(map, "store=1", 7), &a);
    cr_expect_eq(mm_hashmap_get(map, "store=2", 7), &b);
    cr_expect_null(mm_hashmap_get(map, "store=3", 7));
    cr_expect_eq(mm_hashmap_count(map), 2);
    mm_hashmap_destroy(map);
}

Test(hashmap, keys_are_compared_by_length_not_by_terminator) {
    mm_hashmap_t *map = mm_hashmap_new(0);
    int a = 1;
    const char *row = "store=12,2024-01-01"; /* a key inside a longer buffer */
    cr_assert_eq(mm_hashmap_put(map, row, 8, &a), MM_OK);
    cr_expect_eq(mm_hashmap_get(map, "store=12", 8), &a);
    cr_expect_null(mm_hashmap_get(map, "store=1", 7), "a prefix is another key");
    cr_expect_null(mm_hashmap_get(map, "store=12,", 9), "a longer key is another key");
    mm_hashmap_destroy(map);
}

Test(hashmap, put_of_an_existing_key_replaces_value_and_key_pointer) {
    mm_hashmap_t *map = mm_hashmap_new(0);
    int a = 1, b = 2;
    char *first = strdup("k");
    char *second = strdup("k");
    cr_assert_eq(mm_hashmap_put(map, first, 1, &a), MM_OK);
    cr_assert_eq(mm_hashmap_put(map, second, 1, &b), MM_OK);
    cr_expect_eq(mm_hashmap_count(map), 1);
    /* The map now borrows `second`: freeing `first` must not matter. */
    free(first);
    cr_expect_eq(mm_hashmap_get(map, "k", 1), &b);
    free(second);
    mm_hashmap_destroy(map);
}

Test(hashmap, null_value_is_refused) {
    mm_hashmap_t *map = mm_hashmap_new(0);
    cr_expect_eq(mm_hashmap_put(map, "k", 1, NULL), MM_ERR_INVALID_ARG);
    cr_expect_eq(mm_hashmap_count(map), 0);
    mm_hashmap_destroy(map);
}

Test(hashmap, grows_past_many_keys_and_finds_every_one) {
    mm_hashmap_t *map = mm_hashmap_new(0);
    char(*keys)[KEY_BYTES] = make_keys(MANY_KEYS);
    for (size_t i = 0; i < MANY_KEYS; i++)
        cr_assert_eq(mm_hashmap_put(map, keys[i], strlen(keys[i]), keys[i]), MM_OK);
    cr_assert_eq(mm_hashmap_count(map), MANY_KEYS);
    for (size_t i = 0; i < MANY_KEYS; i++) {
        char probe[KEY_BYTES];
        snprintf(probe, sizeof(probe), "%s", keys[i]); /* an equal key, not the same pointer */
        cr_assert_eq(mm_hashmap_get(map, probe, strlen(probe)), keys[i], "%s", probe);
    }
    mm_hashmap_destroy(map);
    free(keys);
}

Test(hashmap, remove_keeps_every_other_key_reachable) {
    mm_hashmap_t *map = mm_hashmap_new(0);
    char(*keys)[KEY_BYTES] = make_keys(MANY_KEYS);
    for (size_t i = 0; i < MANY_KEYS; i++)
        cr_assert_eq(mm_hashmap_put(map, keys[i], strlen(keys[i]), keys[i]), MM_OK);
    /* Remove every third key: removals inside probe runs must not hide later members. */
    for (size_t i = 0; i < MANY_KEYS; i += 3)
        cr_assert_eq(mm_hashmap_remove(map, keys[i], strlen(keys[i])), keys[i]);
    cr_expect_null(mm_hashmap_remove(map, keys[0], strlen(keys[0])), "already removed");
    for (size_t i = 0; i < MANY_KEYS; i++) {
        void *want = i % 3 == 0 ? NULL : keys[i];
        cr_assert_eq(mm_hashmap_get(map, keys[i], strlen(keys[i])), want, "%s", keys[i]);
    }
    cr_expect_eq(mm_hashmap_count(map), MANY_KEYS - (MANY_KEYS + 2) / 3);
    /* Removed keys can come back. */
    cr_assert_eq(mm_hashmap_put(map, keys[0], strlen(keys[0]), keys[0]), MM_OK);
    cr_expect_eq(mm_hashmap_get(map, keys[0], strlen(keys[0])), keys[0]);
    mm_hashmap_destroy(map);
    free(keys);
}

Test(hashmap, entry_bound_refuses_new_keys_but_allows_replacing) {
    mm_hashmap_t *map = mm_hashmap_new(2);
    int a = 1, b = 2, c = 3;
    cr_assert_eq(mm_hashmap_put(map, "a", 1, &a), MM_OK);
    cr_assert_eq(mm_hashmap_put(map, "b", 1, &b), MM_OK);
    cr_expect_eq(mm_hashmap_put(map, "c", 1, &c), MM_ERR_NOMEM);
    cr_expect_null(mm_hashmap_get(map, "c", 1));
    cr_expect_eq(mm_hashmap_put(map, "a", 1, &c), MM_OK, "replacing is not a new entry");
    cr_expect_eq(mm_hashmap_get(map, "a", 1), &c);
    cr_expect_eq(mm_hashmap_count(map), 2);
    mm_hashmap_destroy(map);
}

Test(hashmap, hash_is_fnv1a_64) {
    /* Reference values of the 64-bit FNV-1a function. */
    cr_expect_eq(mm_hashmap_hash("", 0), 0xcbf29ce484222325ull);
    cr_expect_eq(mm_hashmap_hash("a", 1), 0xaf63dc4c8601ec8cull);
    cr_expect_eq(mm_hashmap_hash("foobar", 6), 0x85944171f73967e8ull);
}

Test(hashmap, destroy_accepts_null) {
    mm_hashmap_destroy(NULL);
    cr_expect_eq(mm_hashmap_count(NULL), 0);
}
