/*
 * avro_int.h - internals of the Avro record codec shared by common/src/avro*.c:
 * the record descriptors (one static table of field rows per record type,
 * avro_records.c), the bounded input cursor the decoder validates with
 * (avro_input.c), the field path used in every error, and the small wire
 * primitives the encoder and decoder share, and the retired schema versions
 * a reader still accepts (avro_versions.c).
 *
 * A descriptor row says where a field lives in its C struct (offsetof) and
 * what it is on the wire; encode, decode, clear, equality and JSON rendering
 * all walk the same rows, and avro_schema_check.c proves at start-up that the
 * rows agree with the parsed schemas/ .avsc files.
 */
#ifndef MM_AVRO_INT_H
#define MM_AVRO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mm/avro.h"

/* ------------------------------------------------------------ descriptors */

typedef enum mm_avro__kind {
    MM_AVRO__LONG,    /* int64_t */
    MM_AVRO__INT,     /* int32_t */
    MM_AVRO__DOUBLE,  /* double */
    MM_AVRO__BOOLEAN, /* bool */
    MM_AVRO__STRING,  /* const char *, NUL-terminated UTF-8 */
    MM_AVRO__BYTES,   /* const uint8_t * with a size_t length (see mm_avro__field_t.count) */
    MM_AVRO__ENUM,    /* a C enum stored as int */
    MM_AVRO__RECORD,  /* a nested struct (inline, or the items of an array) */
} mm_avro__kind_t;

/* Where an array's item count lives and what it must be. */
typedef enum mm_avro__count_rule {
    MM_AVRO__COUNT_OWN,     /* the array sets the size_t at .count */
    MM_AVRO__COUNT_SAME,    /* must equal the size_t at .count, set by an earlier array */
    MM_AVRO__COUNT_PARENT,  /* must equal the size_t at .count in the enclosing record */
    MM_AVRO__COUNT_PRODUCT, /* must equal (size_t at .count) x (size_t at .count2) */
} mm_avro__count_rule_t;

struct mm_avro__record;

typedef struct mm_avro__field {
    const char *name;     /* the Avro field name (also the struct member's name) */
    mm_avro__kind_t kind; /* of the value, or of an array's items */
    bool array;           /* {"type": "array", "items": kind} */
    bool nullable;        /* ["null", kind]; absent = NULL pointer, or false at .presence */
    size_t offset;        /* the value, or the pointer to an array's items or to bytes */
    size_t item_size;     /* arrays: bytes per item in C */
    mm_avro__count_rule_t count_rule;
    size_t count;         /* arrays: offset of a size_t item count; bytes: of the size_t length */
    size_t count2;        /* COUNT_PRODUCT: offset of the second factor */
    const char *count_of; /* COUNT_SAME/PARENT/PRODUCT, for messages */
    size_t presence;      /* nullable record: offset of its bool */
    const struct mm_avro__record *record; /* RECORD: the nested descriptor */
    const char *const *symbols;           /* ENUM: the symbols, in schema order */
    int n_symbols;
} mm_avro__field_t;

typedef struct mm_avro__record {
    const char *name; /* Avro name without namespace: "ObservationBatch" */
    size_t size;      /* sizeof the C struct */
    const mm_avro__field_t *fields;
    size_t n_fields;
} mm_avro__record_t;

/** @returns the descriptor of @p type (a valid type). */
const mm_avro__record_t *mm_avro__descriptor(mm_record_type_t type);

/** @returns the catalog schema id of @p type once initialised (no checks). */
int32_t mm_avro__schema_id(mm_record_type_t type);

/* Typed access to a field of a struct seen as bytes. */
#define MM_AVRO__AT(base, off, type) ((type *)(void *)((uint8_t *)(base) + (off)))
#define MM_AVRO__CAT(base, off, type)                                                              \
    ((const type *)(const void *)((const uint8_t *)(base) + (off)))

/* ------------------------------------------------------------------ paths */

/* Nesting of record fields and array items; our records need 4. */
#define MM_AVRO__MAX_DEPTH 16

typedef struct mm_avro__path {
    const char *record; /* "ObservationBatch" */
    struct {
        const char *field; /* record field name, or NULL for an array item */
        size_t index;
    } frames[MM_AVRO__MAX_DEPTH];
    int depth;
} mm_avro__path_t;

/** @brief Render "Record.field[3].name" into @p out. */
void mm_avro__path_format(const mm_avro__path_t *path, char *out, size_t size);

/* ------------------------------------------------------------ input cursor */

/*
 * Array and map items in one payload. Every item takes at least one byte of
 * input, but a decoded item costs far more memory than that (an empty string
 * is a heap block), so a payload of MM_BUF_CAP_MESSAGE one-byte items must
 * not be accepted blindly.
 */
#define MM_AVRO__MAX_ITEMS (4u * 1024u * 1024u)

#define MM_AVRO__INT_BYTES  5 /* longest zig-zag varint of an int */
#define MM_AVRO__LONG_BYTES 10

/*
 * A body being decoded: every read checks the bytes that remain, and every
 * failure names the field path and the payload offset.
 */
typedef struct mm_avro__in {
    const uint8_t *body;
    size_t len;
    size_t pos;
    size_t base; /* offset of body in the payload: errors report payload offsets */
    mm_avro__path_t path;
    uint64_t items; /* array items so far, against MM_AVRO__MAX_ITEMS */
    char *errstr;
    size_t errstr_size;
} mm_avro__in_t;

/** @brief Fail with "<path>: <what> at offset <base + at>". @returns @p err. */
mm_err_t mm_avro__in_fail(mm_avro__in_t *in, mm_err_t err, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** @brief Enter a record field (@p field) or an array item (@p field NULL). */
mm_err_t mm_avro__in_push(mm_avro__in_t *in, const char *field, size_t index);

/** @brief Read a varint with every check and a precise error (the slow path). */
mm_err_t mm_avro__in_varint_checked(mm_avro__in_t *in, int max_bytes, int64_t *out);

/*
 * Zig-zag varint of at most @p max_bytes (5 for int, 10 for long); the last
 * byte may carry only the bits that remain (4 for int, 1 for long). Inline:
 * arrays of longs (timestamps, line numbers) are the decoder's hot loop.
 */
static inline mm_err_t mm_avro__in_varint(mm_avro__in_t *in, int max_bytes, int64_t *out) {
    size_t pos = in->pos;
    if (in->len - pos >= (size_t)max_bytes) {
        const uint8_t *p = in->body + pos;
        uint64_t raw = 0;
        for (int i = 0; i < max_bytes - 1; i++) {
            raw |= (uint64_t)(p[i] & 0x7f) << (7 * i);
            if (!(p[i] & 0x80)) {
                in->pos = pos + (size_t)i + 1;
                *out = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
                return MM_OK;
            }
        }
    }
    return mm_avro__in_varint_checked(in, max_bytes, out);
}

/** @brief Read a string or bytes length, checked against the bytes that remain. */
mm_err_t mm_avro__in_length(mm_avro__in_t *in, const char *what, size_t *n);

/**
 * @brief Read the next array block header: @p count items (0 at the end),
 * checked against the bytes that remain (at least @p min_item bytes each) and
 * the item budget. @p block_end is where a block with a byte size must end,
 * or SIZE_MAX when the block did not say.
 */
mm_err_t mm_avro__in_block(mm_avro__in_t *in, size_t min_item, size_t *count, size_t *block_end);

/* ----------------------------------------------------------- wire helpers */

/** @returns true if s[0..n) is well-formed UTF-8 without NUL; else *bad is the offending offset. */
bool mm_avro__utf8_valid(const uint8_t *s, size_t n, size_t *bad);

/** @brief Write the 5-byte Confluent header for @p schema_id at @p p. */
void mm_avro__header_put(uint8_t *p, int32_t schema_id);

struct avro_obj_t; /* avro_schema_t, without including avro.h everywhere */

/** @brief Check @p type's descriptor against a parsed schema: MM_ERR_SCHEMA naming the field. */
mm_err_t mm_avro__check_descriptor(mm_record_type_t type, struct avro_obj_t *schema, char *errstr,
                                   size_t errstr_size);

/**
 * @brief Check a retired schema of @p type (id @p id) against the descriptor as
 * an older prefix of it: the same fields in the same order up to its end,
 * nested records whole, enum symbols a prefix of the current ones.
 * @param n_fields receives the number of top-level fields the retired schema has.
 * @returns MM_ERR_SCHEMA naming the record, the id and the field.
 */
mm_err_t mm_avro__check_older(mm_record_type_t type, int32_t id, struct avro_obj_t *schema,
                              size_t *n_fields, char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------- versions */

/* What the catalog says of a current record type; avro.c fills one per type. */
typedef struct mm_avro__current {
    const char *name; /* "manymodels.ModelDecision" */
    int32_t id;
    const char *json; /* the embedded current schema */
} mm_avro__current_t;

/* A retired schema id whose bytes readers still accept (avro_versions.c). */
typedef struct mm_avro__version {
    int32_t id;
    mm_record_type_t type;
    size_t n_fields;         /* top-level fields its writers wrote: a prefix of the descriptor */
    const uint8_t *defaults; /* a record of @c type holding the default of every later field */
} mm_avro__version_t;

struct json_t; /* jansson's, without including jansson.h everywhere */

/**
 * @brief Load the catalog's "retired" object (id -> {record, schema}) and the
 * embedded schemas/retired/ files it names, checking each is a prefix of its
 * record's current schema whose later fields all have supported defaults.
 * @param retired the "retired" object, or NULL when there is none.
 * @returns MM_ERR_SCHEMA naming the record, the id and the field.
 */
mm_err_t mm_avro__versions_init(const struct json_t *retired,
                                const mm_avro__current_t current[MM_RECORD__COUNT], char *errstr,
                                size_t errstr_size);

/**
 * @brief The start-up check of one retired schema text, without keeping it
 * (mm_avro_check_retired_schema()).
 */
mm_err_t mm_avro__version_check(mm_record_type_t type, int32_t id, const char *schema_json,
                                const char *current_json, char *errstr, size_t errstr_size);

/** @returns the retired version with schema id @p id, or NULL (init done, no checks). */
const mm_avro__version_t *mm_avro__retired_version(int32_t id);

/**
 * @brief The frame check of a payload for @p type, accepting a retired id of it.
 * @param n_fields receives how many top-level fields the writer wrote.
 * @param defaults receives the defaults of the fields after those, or NULL.
 */
mm_err_t mm_avro__frame_check(mm_record_type_t type, const void *payload, size_t len,
                              size_t *n_fields, const uint8_t **defaults, char *errstr,
                              size_t errstr_size);

/** @brief Ensure the codec is initialised (schemas parsed and checked). */
mm_err_t mm_avro__ensure_init(char *errstr, size_t errstr_size);

#endif
