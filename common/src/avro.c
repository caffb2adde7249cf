/*
 * avro.c - start-up of the Avro record codec: the schema catalog
 * (schemas/catalog.json: name -> Confluent id, retired ids never reused), the
 * .avsc schemas parsed with Avro C, and the check of every record descriptor
 * against its parsed schema (avro_schema_check.c), so a table that drifted
 * from its schema stops the process at start instead of writing bad bytes;
 * then the retired ids readers still accept (avro_versions.c).
 * The codec itself is split by concern: avro_framing.c (wire header),
 * avro_records.c (descriptors), avro_encode.c, avro_decode.c with
 * avro_input.c (the bounded cursor), avro_struct.c (clear, equality),
 * avro_json.c and avro_utf8.c.
 *
 * Workload: once per process, under pthread_once; read-only afterwards, so
 * every other entry point is thread-safe without locks.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <avro.h>
#include <jansson.h>

#include "avro_int.h"
#include "schemas_embedded.h"

static const char *const record_names[MM_RECORD__COUNT] = {
    [MM_RECORD_OBSERVATION_BATCH] = "manymodels.ObservationBatch",
    [MM_RECORD_MODEL_TRAINED] = "manymodels.ModelTrained",
    [MM_RECORD_MODEL_DECISION] = "manymodels.ModelDecision",
    [MM_RECORD_SCORE_REQUEST] = "manymodels.ScoreRequest",
    [MM_RECORD_PREDICTION_BATCH] = "manymodels.PredictionBatch",
    [MM_RECORD_DEAD_LETTER] = "manymodels.DeadLetter",
};

typedef struct record_schema {
    int32_t id;
    avro_schema_t schema;
    const char *json;
} record_schema_t;

/* Written once under pthread_once, read-only afterwards. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static mm_err_t init_err = MM_OK;
static char init_errstr[512];
static record_schema_t schemas[MM_RECORD__COUNT];

/* ------------------------------------------------------------------ init */

/* The current ids from the catalog's "schemas" object (the retired ones: avro_versions.c). */
static mm_err_t init_catalog(const json_t *catalog) {
    mm_err_t err = MM_OK;
    json_t *ids = json_object_get(catalog, "schemas");
    if (!json_is_object(ids))
        return mm_errf(MM_ERR_SCHEMA, init_errstr, sizeof(init_errstr),
                       "schemas/catalog.json: \"schemas\" must be an object of name -> id");
    const char *name;
    json_t *id;
    json_object_foreach(ids, name, id) {
        int type = -1;
        for (int t = 0; t < MM_RECORD__COUNT; t++)
            if (strcmp(name, record_names[t]) == 0) type = t;
        if (type < 0) {
            return mm_errf(MM_ERR_SCHEMA, init_errstr, sizeof(init_errstr),
                           "schemas/catalog.json: %s is not a known record type", name);
        }
        if (!json_is_integer(id) || json_integer_value(id) < 1 ||
            json_integer_value(id) > INT32_MAX) {
            return mm_errf(MM_ERR_SCHEMA, init_errstr, sizeof(init_errstr),
                           "schemas/catalog.json: id of %s must be an integer in 1..%d", name,
                           INT32_MAX);
        }
        int32_t value = (int32_t)json_integer_value(id);
        for (int t = 0; t < MM_RECORD__COUNT; t++) {
            if (schemas[t].id == value)
                return mm_errf(MM_ERR_SCHEMA, init_errstr, sizeof(init_errstr),
                               "schemas/catalog.json: id %" PRId32 " is used by both %s and %s",
                               value, record_names[t], name);
        }
        schemas[type].id = value;
    }
    for (int t = 0; t < MM_RECORD__COUNT; t++)
        if (schemas[t].id == 0)
            return mm_errf(MM_ERR_SCHEMA, init_errstr, sizeof(init_errstr),
                           "schemas/catalog.json: no id for %s", record_names[t]);
    return err;
}

static mm_err_t init_schemas(void) {
    for (size_t i = 0; i < mm__schema_file_count; i++) {
        const mm__schema_file_t *file = &mm__schema_files[i];
        avro_schema_t schema = NULL;
        if (avro_schema_from_json_length(file->text, file->len, &schema) != 0)
            return mm_errf(MM_ERR_SCHEMA, init_errstr, sizeof(init_errstr), "schemas/%s: %s",
                           file->file, avro_strerror());
        char full[256];
        snprintf(full, sizeof(full), "%s.%s",
                 avro_schema_namespace(schema) ? avro_schema_namespace(schema) : "",
                 avro_schema_name(schema) ? avro_schema_name(schema) : "");
        int type = -1;
        for (int t = 0; t < MM_RECORD__COUNT; t++)
            if (strcmp(full, record_names[t]) == 0) type = t;
        if (type < 0 || !is_avro_record(schema) || schemas[type].schema) {
            avro_schema_decref(schema);
            return mm_errf(MM_ERR_SCHEMA, init_errstr, sizeof(init_errstr),
                           "schemas/%s: %s is not a record type in the catalog, or is defined "
                           "twice",
                           file->file, full);
        }
        /* Kept for the life of the process, like the texts it was parsed from. */
        schemas[type].schema = schema;
        schemas[type].json = file->text;
    }
    for (int t = 0; t < MM_RECORD__COUNT; t++) {
        if (!schemas[t].schema)
            return mm_errf(MM_ERR_SCHEMA, init_errstr, sizeof(init_errstr),
                           "no schemas/*.avsc defines %s", record_names[t]);
        mm_err_t err = mm_avro__check_descriptor((mm_record_type_t)t, schemas[t].schema,
                                                 init_errstr, sizeof(init_errstr));
        if (err) return err;
    }
    return MM_OK;
}

/* The retired ids, checked against the current schemas (a reused id is refused there). */
static mm_err_t init_versions(const json_t *catalog) {
    mm_avro__current_t current[MM_RECORD__COUNT];
    for (int t = 0; t < MM_RECORD__COUNT; t++)
        current[t] = (mm_avro__current_t){record_names[t], schemas[t].id, schemas[t].json};
    return mm_avro__versions_init(json_object_get(catalog, "retired"), current, init_errstr,
                                  sizeof(init_errstr));
}

static void init_once_fn(void) {
    json_error_t jerr;
    /* A duplicate key would silently drop an id: refuse it. */
    json_t *catalog =
        json_loadb(mm__schema_catalog, mm__schema_catalog_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!catalog) {
        init_err = mm_errf(MM_ERR_SCHEMA, init_errstr, sizeof(init_errstr),
                           "schemas/catalog.json:%d: %s", jerr.line, jerr.text);
        return;
    }
    init_err = init_catalog(catalog);
    if (!init_err) init_err = init_schemas();
    if (!init_err) init_err = init_versions(catalog);
    json_decref(catalog);
}

mm_err_t mm_avro__ensure_init(char *errstr, size_t errstr_size) {
    pthread_once(&init_once, init_once_fn);
    if (init_err) return mm_errf(init_err, errstr, errstr_size, "avro init: %s", init_errstr);
    return MM_OK;
}

mm_err_t mm_avro_init(char *errstr, size_t errstr_size) {
    return mm_avro__ensure_init(errstr, errstr_size);
}

int32_t mm_avro_schema_id(mm_record_type_t type) {
    if ((int)type < 0 || type >= MM_RECORD__COUNT || mm_avro__ensure_init(NULL, 0)) return -1;
    return schemas[type].id;
}

const char *mm_avro_schema_name(mm_record_type_t type) {
    if ((int)type < 0 || type >= MM_RECORD__COUNT) return NULL;
    return record_names[type];
}

int32_t mm_avro__schema_id(mm_record_type_t type) {
    return schemas[type].id;
}

const char *mm_avro_schema_json(mm_record_type_t type) {
    if ((int)type < 0 || type >= MM_RECORD__COUNT || mm_avro__ensure_init(NULL, 0)) return NULL;
    return schemas[type].json;
}

mm_err_t mm_avro_check_retired_schema(mm_record_type_t type, int32_t id, const char *schema_json,
                                      char *errstr, size_t errstr_size) {
    if ((int)type < 0 || type >= MM_RECORD__COUNT || !schema_json)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "check_retired_schema: bad type or NULL schema");
    mm_err_t err = mm_avro__ensure_init(errstr, errstr_size);
    if (err) return err;
    return mm_avro__version_check(type, id, schema_json, schemas[type].json, errstr, errstr_size);
}
