/*
 * rows.c - mm-ingest's view of a CSV source: where the spec's columns sit in
 * the header, and each record checked and converted into a row, or the
 * reason it is a dead letter (wrong column count, empty key or entity column,
 * key or entity too long, unparsable time or number, label not 0/1). A row whose target cell
 * is empty is a row with a missing target, such as a planned row.
 *
 * Workload: once per record, tens of millions per load: no allocation; the
 * partition key is built into the caller's buffer and cells are read in
 * place (mm/cells.h through the spec).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ingest_int.h"
#include "mm/spec.h"
#include "mm/util.h"

#define ROWS_SHOWN_VALUE 64 /* bytes of a bad cell quoted in a reason */
#define ROWS_MAX_ROLE    48 /* bytes of a column's role in the spec, e.g. "features.exogenous[3]" */

/* A cell quoted for a reason: at most ROWS_SHOWN_VALUE bytes. */
static int shown_len(size_t len) {
    return (int)(len > ROWS_SHOWN_VALUE ? ROWS_SHOWN_VALUE : len);
}

static const char *shown_more(size_t len) {
    return len > ROWS_SHOWN_VALUE ? "..." : "";
}

mm_err_t mm_ingest__map_columns(const mm_spec_t *spec, const mm_csv_record_t *header,
                                const char *source, mm_ingest_column_map_t *map, char *errstr,
                                size_t errstr_size) {
    map->n_header = header->n_fields;
    struct {
        const char *name;
        const char *role;
        int *slot;
    } wanted[2 * MM_SPEC_MAX_KEY_COLUMNS + MM_MODEL_MAX_EXOG + 2];
    char roles[2 * MM_SPEC_MAX_KEY_COLUMNS + MM_MODEL_MAX_EXOG + 2][ROWS_MAX_ROLE];
    size_t n = 0;
    for (size_t i = 0; i < spec->n_key_columns; i++) {
        snprintf(roles[n], sizeof(roles[n]), "key[%zu]", i);
        wanted[n].name = spec->key_columns[i];
        wanted[n].role = roles[n];
        wanted[n].slot = &map->key[i];
        n++;
    }
    for (size_t i = 0; i < spec->n_entity_columns; i++) {
        snprintf(roles[n], sizeof(roles[n]), "entity[%zu]", i);
        wanted[n].name = spec->entity_columns[i];
        wanted[n].role = roles[n];
        wanted[n].slot = &map->entity[i];
        n++;
    }
    wanted[n].name = spec->time_column;
    wanted[n].role = "time.column";
    wanted[n].slot = &map->time;
    n++;
    wanted[n].name = spec->event_column ? spec->event_column : spec->target_column;
    wanted[n].role = spec->event_column ? "target.event_column" : "target.column";
    wanted[n].slot = &map->target;
    n++;
    for (size_t j = 0; j < spec->n_feature_columns; j++) {
        snprintf(roles[n], sizeof(roles[n]), "features.exogenous[%zu]", j);
        wanted[n].name = spec->feature_columns[j];
        wanted[n].role = roles[n];
        wanted[n].slot = &map->exog[j];
        n++;
    }
    for (size_t w = 0; w < n; w++) {
        if (!wanted[w].name)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: spec has no %s", source,
                           wanted[w].role);
        int found = -1;
        for (size_t c = 0; c < header->n_fields; c++) {
            if (strcmp(header->fields[c], wanted[w].name) != 0) continue;
            if (found >= 0)
                return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                               "%s:%lld: column \"%s\" appears twice in the header (columns %d "
                               "and %zu)",
                               source, (long long)header->line, wanted[w].name, found + 1, c + 1);
            found = (int)c;
        }
        if (found < 0)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                           "%s:%lld: missing column \"%s\" (%s in spec \"%s\")", source,
                           (long long)header->line, wanted[w].name, wanted[w].role,
                           spec->name ? spec->name : "");
        *wanted[w].slot = found;
    }
    return MM_OK;
}

/* Whether the record's key cells are those the cache holds. */
static bool key_cells_cached(const mm_ingest_key_cache_t *cache, size_t n,
                             const char *const *values, const size_t *lens) {
    if (!cache || !cache->valid) return false;
    const char *p = cache->cells;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] != cache->lens[i] || memcmp(values[i], p, lens[i]) != 0) return false;
        p += lens[i];
    }
    return true;
}

/* Remember the key cells (when they fit) and the key built from them. */
static void key_cells_keep(mm_ingest_key_cache_t *cache, size_t n, const char *const *values,
                           const size_t *lens, const char *key) {
    if (!cache) return;
    size_t total = 0, key_len = strlen(key);
    for (size_t i = 0; i < n; i++) total += lens[i];
    cache->valid = total <= sizeof(cache->cells) && key_len < sizeof(cache->key);
    if (!cache->valid) return;
    char *p = cache->cells;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, values[i], lens[i]);
        cache->lens[i] = lens[i];
        p += lens[i];
    }
    memcpy(cache->key, key, key_len + 1);
    cache->key_len = key_len;
}

/* Check the key cells and build the partition key into @p key (kept in @p cache). */
static bool key_build(const mm_spec_t *spec, const char *const *values, const size_t *lens,
                      mm_ingest_key_cache_t *cache, char *key, size_t key_size, char *reason,
                      size_t reason_size) {
    for (size_t i = 0; i < spec->n_key_columns; i++) {
        if (lens[i] == 0) {
            snprintf(reason, reason_size, "empty key column \"%s\"", spec->key_columns[i]);
            return false;
        }
        /* A key in another encoding (Latin-1) would become a key of its own. */
        size_t bad;
        if (!mm_utf8_valid(values[i], lens[i], &bad)) {
            snprintf(reason, reason_size, "key column \"%s\" is not valid UTF-8 (byte %zu)",
                     spec->key_columns[i], bad + 1);
            return false;
        }
    }
    mm_err_t err = mm_spec_partition_key(spec, values, lens, key, key_size);
    if (err) {
        snprintf(reason, reason_size, "partition key longer than %zu bytes", key_size - 1);
        return false;
    }
    key_cells_keep(cache, spec->n_key_columns, values, lens, key);
    return true;
}

/* Everything of a row after its key: entity, time, target, features. */
static bool convert_rest(const mm_spec_t *spec, const mm_ingest_column_map_t *map,
                         const mm_csv_record_t *rec, mm_ingest_row_t *row, char *reason,
                         size_t reason_size) {
    int64_t *time_ms = &row->time_ms;
    double *target = &row->target;
    double *exog = row->exog;
    const char *values[MM_SPEC_MAX_KEY_COLUMNS] = {NULL};
    size_t lens[MM_SPEC_MAX_KEY_COLUMNS] = {0};
    for (size_t i = 0; i < spec->n_entity_columns; i++) {
        values[i] = rec->fields[map->entity[i]];
        lens[i] = rec->lens[map->entity[i]];
        if (lens[i] == 0) {
            snprintf(reason, reason_size, "empty entity column \"%s\"", spec->entity_columns[i]);
            return false;
        }
    }
    if (mm_spec_entity_key(spec, values, lens, row->entity, sizeof(row->entity))) {
        snprintf(reason, reason_size, "entity longer than %zu bytes", sizeof(row->entity) - 1);
        return false;
    }

    const char *cell = rec->fields[map->time];
    size_t len = rec->lens[map->time];
    if (!mm_spec_parse_time(spec, cell, len, time_ms)) {
        snprintf(reason, reason_size, "unparsable time in column \"%s\": \"%.*s%s\" (format %s)",
                 spec->time_column, shown_len(len), cell, shown_more(len), spec->time_format);
        return false;
    }
    /* An empty target is a missing value (NaN), not a bad row: planned rows
     * (future dates with a planned price and promotion) have none yet. */
    cell = rec->fields[map->target];
    len = rec->lens[map->target];
    if (spec->event_column) {
        *target = mm_spec_event_value(cell, len);
    } else if (!mm_spec_parse_number(cell, len, target)) {
        snprintf(reason, reason_size, "unparsable number in column \"%s\": \"%.*s%s\"",
                 spec->target_column, shown_len(len), cell, shown_more(len));
        return false;
    } else if (spec->task == MM_TASK_CLASSIFY && !isnan(*target) && *target != 0 && *target != 1) {
        snprintf(reason, reason_size, "label column \"%s\" must be 0 or 1: \"%.*s%s\"",
                 spec->target_column, shown_len(len), cell, shown_more(len));
        return false;
    }
    for (size_t j = 0; j < spec->n_feature_columns; j++) {
        cell = rec->fields[map->exog[j]];
        len = rec->lens[map->exog[j]];
        if (!mm_spec_parse_number(cell, len, &exog[j])) {
            snprintf(reason, reason_size, "unparsable number in column \"%s\": \"%.*s%s\"",
                     spec->feature_columns[j], shown_len(len), cell, shown_more(len));
            return false;
        }
    }
    return true;
}

bool mm_ingest__convert_row(const mm_spec_t *spec, const mm_ingest_column_map_t *map,
                            const mm_csv_record_t *rec, char *key, size_t key_size, bool *key_ok,
                            mm_ingest_row_t *row, char *reason, size_t reason_size) {
    return mm_ingest__convert_row_cached(spec, map, rec, NULL, key, key_size, key_ok, row, reason,
                                         reason_size);
}

bool mm_ingest__convert_row_cached(const mm_spec_t *spec, const mm_ingest_column_map_t *map,
                                   const mm_csv_record_t *rec, mm_ingest_key_cache_t *cache,
                                   char *key, size_t key_size, bool *key_ok, mm_ingest_row_t *row,
                                   char *reason, size_t reason_size) {
    row->line = rec->line;
    *key_ok = false;
    if (rec->n_fields != map->n_header) {
        snprintf(reason, reason_size, "wrong column count: %zu fields, the header has %zu",
                 rec->n_fields, map->n_header);
        return false;
    }
    const char *values[MM_SPEC_MAX_KEY_COLUMNS] = {NULL};
    size_t lens[MM_SPEC_MAX_KEY_COLUMNS] = {0};
    for (size_t i = 0; i < spec->n_key_columns; i++) {
        values[i] = rec->fields[map->key[i]];
        lens[i] = rec->lens[map->key[i]];
    }
    if (key_cells_cached(cache, spec->n_key_columns, values, lens) && cache->key_len < key_size) {
        /* The previous row's key cells: checked and encoded already. */
        memcpy(key, cache->key, cache->key_len + 1);
    } else if (!key_build(spec, values, lens, cache, key, key_size, reason, reason_size)) {
        return false;
    }
    *key_ok = true;
    return convert_rest(spec, map, rec, row, reason, reason_size);
}

const char *mm_ingest__csv_reason(const char *errstr, const char *source, int64_t line) {
    char prefix[64];
    int n = snprintf(prefix, sizeof(prefix), ":%lld: ", (long long)line);
    size_t slen = strlen(source);
    if (strncmp(errstr, source, slen) == 0 && strncmp(errstr + slen, prefix, (size_t)n) == 0)
        return errstr + slen + (size_t)n;
    return errstr;
}
