/*
 * avro_versions.c - the retired schema ids a reader still accepts. A record
 * type is written with its current id only, but topics keep older bytes (the
 * compacted mm.decisions keeps the latest decision per key for ever), so the
 * catalog's "retired" object maps each retired id to its record and its
 * schema file under schemas/retired/, and a payload with that id decodes with
 * the current descriptor: the fields the older writer wrote, then the schema
 * defaults of the fields appended since.
 *
 * That is sound only when the retired schema is a prefix of the current one:
 * checked at start-up (avro_schema_check.c walks the fields; this file reads
 * the appended fields' "default" values from the current .avsc). Anything
 * else stops the process with an error naming the record, the id and the
 * field.
 *
 * Workload: init once; afterwards one lookup per message over a handful of
 * entries, read-only and lock-free.
 */
#include <inttypes.h>
#include <stdlib.h>

#include <avro.h>
#include <jansson.h>

#include "avro_int.h"
#include "mm/util.h"
#include "schemas_embedded.h"

/* Retired ids kept readable; a few per record type over the system's life. */
#define MAX_RETIRED 32

/* Written once under avro.c's pthread_once, read-only afterwards. */
static mm_avro__version_t retired[MAX_RETIRED];
static size_t n_retired;

const mm_avro__version_t *mm_avro__retired_version(int32_t id) {
    for (size_t i = 0; i < n_retired; i++)
        if (retired[i].id == id) return &retired[i];
    return NULL;
}

/* ------------------------------------------------------------- defaults */

/* Store the JSON default @p value of the appended field @p f into @p rec. */
static mm_err_t put_default(const mm_avro__record_t *record, int32_t id, const mm_avro__field_t *f,
                            const json_t *value, uint8_t *rec, char *errstr, size_t errstr_size) {
    const char *why = NULL;
    if (!value) {
        why = "has no default, so the retired bytes lack it";
    } else if (f->nullable) {
        /* Zeroed is absent: a NULL pointer, or false at .presence. */
        if (!json_is_null(value)) why = "has a default other than null";
    } else if (f->array) {
        /* Zeroed is the empty array: a NULL pointer and a count of 0. */
        if (!json_is_array(value) || json_array_size(value) != 0)
            why = "is an appended array whose default is not [] (the only one the reader fills)";
    } else if (f->kind == MM_AVRO__BYTES || f->kind == MM_AVRO__RECORD ||
               f->kind == MM_AVRO__STRING) {
        why = "is an appended field of a kind whose default the reader cannot fill (only numbers, "
              "booleans, enums, null and [])";
    } else if (f->kind == MM_AVRO__LONG && json_is_integer(value)) {
        *MM_AVRO__AT(rec, f->offset, int64_t) = json_integer_value(value);
    } else if (f->kind == MM_AVRO__INT && json_is_integer(value) &&
               json_integer_value(value) >= INT32_MIN && json_integer_value(value) <= INT32_MAX) {
        *MM_AVRO__AT(rec, f->offset, int32_t) = (int32_t)json_integer_value(value);
    } else if (f->kind == MM_AVRO__DOUBLE && json_is_number(value)) {
        *MM_AVRO__AT(rec, f->offset, double) = json_number_value(value);
    } else if (f->kind == MM_AVRO__BOOLEAN && json_is_boolean(value)) {
        *MM_AVRO__AT(rec, f->offset, bool) = json_is_true(value);
    } else if (f->kind == MM_AVRO__ENUM && json_is_string(value)) {
        int k = 0;
        while (k < f->n_symbols && strcmp(f->symbols[k], json_string_value(value)) != 0) k++;
        if (k == f->n_symbols) why = "has a default that is not one of its symbols";
        *MM_AVRO__AT(rec, f->offset, int) = k;
    } else {
        why = "has a default of the wrong type";
    }
    if (!why) return MM_OK;
    return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                   "retired schema id %" PRId32 " of %s: %s.%s, appended since, %s", id,
                   record->name, record->name, f->name, why);
}

/* Fill @p rec with the defaults of @p record's fields from @p from on, read from @p current_json.
 */
static mm_err_t read_defaults(const mm_avro__record_t *record, int32_t id, size_t from,
                              const char *current_json, uint8_t *rec, char *errstr,
                              size_t errstr_size) {
    json_error_t jerr;
    json_t *schema = json_loads(current_json, 0, &jerr);
    json_t *fields = json_object_get(schema, "fields");
    mm_err_t err = MM_OK;
    if (!json_is_array(fields) || json_array_size(fields) != record->n_fields) {
        err = mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                      "retired schema id %" PRId32 " of %s: the current schema's fields are "
                      "unreadable",
                      id, record->name);
    }
    for (size_t i = from; !err && i < record->n_fields; i++) {
        const json_t *value = json_object_get(json_array_get(fields, i), "default");
        err = put_default(record, id, &record->fields[i], value, rec, errstr, errstr_size);
    }
    json_decref(schema);
    return err;
}

/* --------------------------------------------------------------- checks */

/*
 * Check one retired schema text of @p type; on success, when @p out is not
 * NULL, fill it (its defaults malloc'd and kept for the life of the process).
 */
static mm_err_t load_version(mm_record_type_t type, int32_t id, const char *schema_json,
                             const char *current_json, mm_avro__version_t *out, char *errstr,
                             size_t errstr_size) {
    const mm_avro__record_t *record = mm_avro__descriptor(type);
    avro_schema_t schema = NULL;
    if (avro_schema_from_json_length(schema_json, strlen(schema_json), &schema) != 0)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "retired schema id %" PRId32 " of %s: %s", id, record->name,
                       avro_strerror());
    size_t n_fields = 0;
    mm_err_t err = mm_avro__check_older(type, id, schema, &n_fields, errstr, errstr_size);
    avro_schema_decref(schema);
    if (err) return err;
    uint8_t *defaults = calloc(1, record->size);
    if (!defaults) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    err = read_defaults(record, id, n_fields, current_json, defaults, errstr, errstr_size);
    if (err || !out) {
        free(defaults);
        return err;
    }
    *out = (mm_avro__version_t){.id = id, .type = type, .n_fields = n_fields, .defaults = defaults};
    return MM_OK;
}

mm_err_t mm_avro__version_check(mm_record_type_t type, int32_t id, const char *schema_json,
                                const char *current_json, char *errstr, size_t errstr_size) {
    return load_version(type, id, schema_json, current_json, NULL, errstr, errstr_size);
}

/* ---------------------------------------------------------------- catalog */

static const mm__schema_file_t *embedded_file(const char *name) {
    for (size_t i = 0; i < mm__retired_schema_file_count; i++)
        if (strcmp(mm__retired_schema_files[i].file, name) == 0)
            return &mm__retired_schema_files[i];
    return NULL;
}

/* One "retired" entry: "<id>": {"record": "manymodels.X", "schema": "retired/X.<id>.avsc"}. */
static mm_err_t load_entry(const char *key, const json_t *entry,
                           const mm_avro__current_t current[MM_RECORD__COUNT], char *errstr,
                           size_t errstr_size) {
    int64_t id = 0;
    if (!mm_parse_i64(key, &id) || id < 1 || id > INT32_MAX)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "schemas/catalog.json: retired key \"%s\" is not an id in 1..%d", key,
                       INT32_MAX);
    const char *name = json_string_value(json_object_get(entry, "record"));
    const char *file = json_string_value(json_object_get(entry, "schema"));
    if (!name || !file)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "schemas/catalog.json: retired id %s needs \"record\" and \"schema\" "
                       "strings",
                       key);
    int type = -1;
    for (int t = 0; t < MM_RECORD__COUNT; t++) {
        if (current[t].id == id)
            return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                           "schemas/catalog.json: id %s of %s was retired and may not be reused",
                           key, current[t].name);
        if (strcmp(name, current[t].name) == 0) type = t;
    }
    if (type < 0)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "schemas/catalog.json: retired id %s: %s is not a known record type", key,
                       name);
    const mm__schema_file_t *embedded = embedded_file(file);
    if (!embedded)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "schemas/catalog.json: retired id %s: schemas/%s is not embedded (only "
                       "schemas/retired/*.avsc are)",
                       key, file);
    if (n_retired == MAX_RETIRED)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "schemas/catalog.json: more than %d retired ids", MAX_RETIRED);
    mm_err_t err = load_version((mm_record_type_t)type, (int32_t)id, embedded->text,
                                current[type].json, &retired[n_retired], errstr, errstr_size);
    if (!err) n_retired++;
    return err;
}

mm_err_t mm_avro__versions_init(const json_t *catalog_retired,
                                const mm_avro__current_t current[MM_RECORD__COUNT], char *errstr,
                                size_t errstr_size) {
    if (catalog_retired && !json_is_object(catalog_retired))
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "schemas/catalog.json: \"retired\" must be an object of id -> {record, "
                       "schema}");
    const char *key;
    const json_t *entry;
    /* json_object_foreach wants a non-const object; nothing here modifies it. */
    json_t *object = (json_t *)(uintptr_t)catalog_retired;
    json_object_foreach(object, key, entry) {
        mm_err_t err = load_entry(key, entry, current, errstr, errstr_size);
        if (err) return err;
    }
    /* A schema file nobody names would be dead weight, or a forgotten catalog entry. */
    for (size_t i = 0; i < mm__retired_schema_file_count; i++) {
        bool named = false;
        json_object_foreach(object, key, entry) {
            const char *file = json_string_value(json_object_get(entry, "schema"));
            named = named || (file && strcmp(file, mm__retired_schema_files[i].file) == 0);
        }
        if (!named)
            return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                           "schemas/%s is not named in schemas/catalog.json's \"retired\"",
                           mm__retired_schema_files[i].file);
    }
    return MM_OK;
}
