/*
 * avro_schema_check.c - proves at start-up that each record descriptor
 * (avro_records.c) says what its schemas/ .avsc file says: the same fields in
 * the same order, with the same types, ["null", X] unions, array items,
 * nested record names and enum symbols. A table that drifted from its schema
 * would write bytes no other reader expects, so init fails instead, naming the
 * record and field. Also checks the tables' own consistency: arrays that own
 * memory carry their count, and a count an array must match is set earlier.
 *
 * The same walk proves a retired schema (schemas/retired/) is an older
 * prefix of the current one, so that its bytes decode with the current
 * descriptor: the same fields in the same order up to its end, nested records
 * identical, enum symbols a prefix of the current ones. Which appended
 * fields have defaults is avro_versions.c's concern.
 *
 * Workload: once per process, a few dozen fields; clarity over speed.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include <avro.h>

#include "avro_int.h"

typedef struct check {
    mm_avro__path_t path;
    int32_t older_id;   /* a retired schema's id, checked as a prefix; 0: the current schema */
    const char *mine;   /* "the descriptor" or "the current schema" */
    const char *theirs; /* "the schema" or "the retired one" */
    char *errstr;
    size_t errstr_size;
} check_t;

__attribute__((format(printf, 2, 3))) static mm_err_t drift(check_t *c, const char *fmt, ...) {
    char where[256], what[256];
    mm_avro__path_format(&c->path, where, sizeof(where));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (c->older_id)
        return mm_errf(MM_ERR_SCHEMA, c->errstr, c->errstr_size,
                       "retired schema id %" PRId32 " of %s is not a prefix of the current one: "
                       "%s: %s",
                       c->older_id, c->path.record, where, what);
    return mm_errf(MM_ERR_SCHEMA, c->errstr, c->errstr_size, "schema drift: %s: %s", where, what);
}

static const char *kind_name(mm_avro__kind_t kind) {
    static const char *const names[] = {
        [MM_AVRO__LONG] = "long",       [MM_AVRO__INT] = "int",       [MM_AVRO__DOUBLE] = "double",
        [MM_AVRO__BOOLEAN] = "boolean", [MM_AVRO__STRING] = "string", [MM_AVRO__BYTES] = "bytes",
        [MM_AVRO__ENUM] = "enum",       [MM_AVRO__RECORD] = "record",
    };
    return (size_t)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

static avro_schema_t resolve(avro_schema_t schema) {
    return is_avro_link(schema) ? avro_schema_link_target(schema) : schema;
}

static mm_err_t check_record(check_t *c, const mm_avro__record_t *record, avro_schema_t schema);

static mm_err_t check_enum(check_t *c, const mm_avro__field_t *f, avro_schema_t schema) {
    int n = avro_schema_enum_number_of_symbols(schema);
    /* An older writer may know fewer symbols: the current ones only append. */
    if (c->older_id ? n > f->n_symbols : n != f->n_symbols)
        return drift(c, "%s has %d enum symbols, %s %d", c->mine, f->n_symbols, c->theirs, n);
    for (int i = 0; i < n; i++) {
        const char *symbol = avro_schema_enum_get(schema, i);
        if (!symbol || strcmp(symbol, f->symbols[i]) != 0)
            return drift(c, "enum symbol %d is \"%s\" in %s, \"%s\" in %s", i, f->symbols[i],
                         c->mine, symbol ? symbol : "?", c->theirs);
    }
    return MM_OK;
}

/* One value of @p f's kind (an array's items, or a union's non-null branch). */
static mm_err_t check_value(check_t *c, const mm_avro__field_t *f, avro_schema_t schema) {
    static const avro_type_t types[] = {
        [MM_AVRO__LONG] = AVRO_INT64,    [MM_AVRO__INT] = AVRO_INT32,
        [MM_AVRO__DOUBLE] = AVRO_DOUBLE, [MM_AVRO__BOOLEAN] = AVRO_BOOLEAN,
        [MM_AVRO__STRING] = AVRO_STRING, [MM_AVRO__BYTES] = AVRO_BYTES,
        [MM_AVRO__ENUM] = AVRO_ENUM,     [MM_AVRO__RECORD] = AVRO_RECORD,
    };
    schema = resolve(schema);
    if ((size_t)f->kind >= sizeof(types) / sizeof(types[0]) ||
        avro_typeof(schema) != types[f->kind])
        return drift(c, "%s says %s%s, %s %s", c->mine, f->array ? "array of " : "",
                     kind_name(f->kind), c->theirs, avro_schema_type_name(schema));
    if (f->kind == MM_AVRO__ENUM) return check_enum(c, f, schema);
    if (f->kind == MM_AVRO__RECORD) return check_record(c, f->record, schema);
    return MM_OK;
}

static mm_err_t check_field(check_t *c, const mm_avro__field_t *f, avro_schema_t schema) {
    schema = resolve(schema);
    bool is_union = avro_typeof(schema) == AVRO_UNION;
    if (f->nullable != is_union)
        return drift(c, "%s says %s, %s %s", c->mine,
                     f->nullable ? "[\"null\", ...] union" : "not a union", c->theirs,
                     avro_schema_type_name(schema));
    if (is_union) {
        if (avro_schema_union_size(schema) != 2 ||
            avro_typeof(resolve(avro_schema_union_branch(schema, 0))) != AVRO_NULL)
            return drift(c, "only [\"null\", X] unions are supported");
        schema = resolve(avro_schema_union_branch(schema, 1));
    }
    if (f->array) {
        if (avro_typeof(schema) != AVRO_ARRAY)
            return drift(c, "%s says array of %s, %s %s", c->mine, kind_name(f->kind), c->theirs,
                         avro_schema_type_name(schema));
        schema = avro_schema_array_items(schema);
    }
    return check_value(c, f, schema);
}

/* The descriptor's own consistency: what clear, decode and encode rely on. */
static mm_err_t check_counts(check_t *c, const mm_avro__record_t *record, size_t i) {
    const mm_avro__field_t *f = &record->fields[i];
    if (!f->array) return MM_OK;
    bool owning = f->kind == MM_AVRO__STRING || f->kind == MM_AVRO__RECORD;
    if (f->count_rule == MM_AVRO__COUNT_OWN || f->count_rule == MM_AVRO__COUNT_PARENT)
        return owning && f->count_rule != MM_AVRO__COUNT_OWN
                   ? drift(c, "an array of %s must own its count", kind_name(f->kind))
                   : MM_OK;
    if (owning) return drift(c, "an array of %s must own its count", kind_name(f->kind));
    /* COUNT_SAME / COUNT_PRODUCT: each factor is set by an earlier array of this record. */
    size_t factors[2] = {f->count, f->count2};
    int n_factors = f->count_rule == MM_AVRO__COUNT_PRODUCT ? 2 : 1;
    for (int k = 0; k < n_factors; k++) {
        bool set = false;
        for (size_t j = 0; j < i && !set; j++)
            set = record->fields[j].array && record->fields[j].count_rule == MM_AVRO__COUNT_OWN &&
                  record->fields[j].count == factors[k];
        if (!set) return drift(c, "its item count is not set by an earlier array");
    }
    return MM_OK;
}

static mm_err_t check_record(check_t *c, const mm_avro__record_t *record, avro_schema_t schema) {
    schema = resolve(schema);
    const char *name = avro_schema_name(schema);
    if (avro_typeof(schema) != AVRO_RECORD)
        return drift(c, "%s says record %s, %s %s", c->mine, record->name, c->theirs,
                     avro_schema_type_name(schema));
    if (!name || strcmp(name, record->name) != 0)
        return drift(c, "%s says record %s, %s record %s", c->mine, record->name, c->theirs,
                     name ? name : "?");
    size_t n = avro_schema_record_size(schema);
    /* Only the top level of a retired schema may end early: nested records are whole. */
    size_t upto = c->older_id && c->path.depth == 0 && n < record->n_fields ? n : record->n_fields;
    for (size_t i = 0; i < n || i < upto; i++) {
        const char *field = i < n ? avro_schema_record_field_name(schema, (int)i) : NULL;
        if (i >= record->n_fields && c->older_id)
            return drift(c, "retired field %zu \"%s\" is not in the current schema", i, field);
        if (i >= record->n_fields)
            return drift(c, "schema field %zu \"%s\" has no descriptor row", i, field);
        const mm_avro__field_t *f = &record->fields[i];
        if (!field && c->older_id)
            return drift(c,
                         "field %zu \"%s\" of the current schema is missing from the retired "
                         "one, and only appended fields may be",
                         i, f->name);
        if (!field) return drift(c, "descriptor row %zu \"%s\" is not in the schema", i, f->name);
        if (strcmp(field, f->name) != 0)
            return drift(c, "field %zu is \"%s\" in %s, \"%s\" in %s", i, f->name, c->mine, field,
                         c->theirs);
        if (c->path.depth >= MM_AVRO__MAX_DEPTH) return drift(c, "nesting too deep");
        c->path.frames[c->path.depth].field = f->name;
        c->path.depth++;
        mm_err_t err = check_field(c, f, avro_schema_record_field_get_by_index(schema, (int)i));
        if (!err) err = check_counts(c, record, i);
        if (err) return err;
        c->path.depth--;
    }
    return MM_OK;
}

/** @brief Check @p type's descriptor against a parsed schema (internal; used by init). */
mm_err_t mm_avro__check_descriptor(mm_record_type_t type, avro_schema_t schema, char *errstr,
                                   size_t errstr_size) {
    const mm_avro__record_t *record = mm_avro__descriptor(type);
    check_t c = {.path = {.record = record->name},
                 .mine = "the descriptor",
                 .theirs = "the schema",
                 .errstr = errstr,
                 .errstr_size = errstr_size};
    return check_record(&c, record, schema);
}

mm_err_t mm_avro__check_older(mm_record_type_t type, int32_t id, avro_schema_t schema,
                              size_t *n_fields, char *errstr, size_t errstr_size) {
    const mm_avro__record_t *record = mm_avro__descriptor(type);
    check_t c = {.path = {.record = record->name},
                 .older_id = id,
                 .mine = "the current schema",
                 .theirs = "the retired one",
                 .errstr = errstr,
                 .errstr_size = errstr_size};
    mm_err_t err = check_record(&c, record, schema);
    if (!err) *n_fields = (size_t)avro_schema_record_size(resolve(schema));
    return err;
}

mm_err_t mm_avro_check_schema(mm_record_type_t type, const char *schema_json, char *errstr,
                              size_t errstr_size) {
    if ((int)type < 0 || type >= MM_RECORD__COUNT || !schema_json)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "check_schema: bad type or NULL schema");
    avro_schema_t schema = NULL;
    if (avro_schema_from_json_length(schema_json, strlen(schema_json), &schema) != 0)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size, "%s: %s",
                       mm_avro__descriptor(type)->name, avro_strerror());
    mm_err_t err = mm_avro__check_descriptor(type, schema, errstr, errstr_size);
    avro_schema_decref(schema);
    return err;
}
