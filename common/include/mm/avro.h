/*
 * avro.h - Avro binary encode/decode of the record types in records.h, in the
 * Confluent wire format: byte 0x00, 4-byte big-endian schema id, Avro body.
 *
 * Knows nothing of Kafka. Schemas are the .avsc files in schemas/, embedded
 * at build time; ids come from schemas/catalog.json. Writers use a record's
 * current id; readers also accept its retired ids (schemas/retired/), decoding
 * what the older writer wrote and filling later fields with their defaults.
 *
 * Decoding never trusts the input: the framing, the schema id, and every
 * length, count and union index in the body are checked against the bytes
 * that remain before anything is allocated. A malformed payload is
 * MM_ERR_PARSE (or MM_ERR_SCHEMA for a wrong magic byte / unknown id) with a
 * reason naming the field and byte offset; it never crashes.
 *
 * Every record type is described once, by a table of field rows
 * (common/src/avro_records.c) that drives encoding, decoding, clearing,
 * equality and JSON rendering. mm_avro_init() checks each table against its
 * parsed .avsc schema and fails, naming the record and field, on any drift.
 *
 * Thread-safe after mm_avro_init() (call once at start; idempotent).
 */
#ifndef MM_AVRO_H
#define MM_AVRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/buf.h"
#include "mm/err.h"
#include "mm/records.h"

#define MM_WIRE_MAGIC      0x00
#define MM_WIRE_HEADER_LEN 5

typedef enum mm_record_type {
    MM_RECORD_OBSERVATION_BATCH = 0,
    MM_RECORD_MODEL_TRAINED = 1,
    MM_RECORD_MODEL_DECISION = 2,
    MM_RECORD_SCORE_REQUEST = 3,
    MM_RECORD_PREDICTION_BATCH = 4,
    MM_RECORD_DEAD_LETTER = 5,
    MM_RECORD__COUNT
} mm_record_type_t;

/**
 * @brief Parse the embedded schemas and catalog, and check every record
 * descriptor against its schema (field names, order, types, union branches,
 * enum symbols).
 * @returns MM_ERR_SCHEMA with a reason naming the record and field on drift.
 */
mm_err_t mm_avro_init(char *errstr, size_t errstr_size);

/**
 * @brief Check the codec's descriptor of @p type against a schema text, as
 * mm_avro_init() does with the embedded one.
 * @param schema_json an Avro record schema (JSON).
 * @returns MM_OK, or MM_ERR_SCHEMA naming the record and the first field
 * that differs.
 */
mm_err_t mm_avro_check_schema(mm_record_type_t type, const char *schema_json, char *errstr,
                              size_t errstr_size);

/**
 * @brief Check a retired schema text of @p type, as mm_avro_init() does with
 * each one the catalog lists under "retired": readers accept its id only if it
 * is an older prefix of the current schema (the same fields in the same order
 * up to its end, enum symbols a prefix of the current ones) and every field
 * appended since has a default the decoder can fill.
 * @param id the retired id, for messages.
 * @returns MM_OK, or MM_ERR_SCHEMA naming the record, the id and the field.
 */
mm_err_t mm_avro_check_retired_schema(mm_record_type_t type, int32_t id, const char *schema_json,
                                      char *errstr, size_t errstr_size);

/** @returns the catalog schema id of @p type (the one writers use). */
int32_t mm_avro_schema_id(mm_record_type_t type);
/** @returns the full Avro name ("manymodels.ObservationBatch"). */
const char *mm_avro_schema_name(mm_record_type_t type);
/** @returns the schema JSON text as embedded. */
const char *mm_avro_schema_json(mm_record_type_t type);

/**
 * @brief Read the Confluent header. A retired id gives its record type.
 * @returns MM_ERR_SCHEMA on wrong magic or an id neither current nor retired
 * in the catalog, MM_ERR_PARSE if shorter than the header.
 */
mm_err_t mm_avro_peek(const void *payload, size_t len, mm_record_type_t *type, int32_t *schema_id,
                      char *errstr, size_t errstr_size);

/**
 * @brief Encode the record @p rec of @p type (an mm_<record>_t) and append it,
 * framed, to @p out (which is not reset). On failure nothing is appended.
 * @returns MM_ERR_INVALID_ARG naming the field (NULL required string or
 * array, invalid UTF-8, enum out of range), MM_ERR_NOMEM when the buffer's
 * limit is too small.
 */
mm_err_t mm_avro_encode(mm_record_type_t type, const void *rec, mm_buf_t *out, char *errstr,
                        size_t errstr_size);

/**
 * @brief Decode a framed payload of @p type into @p rec (an mm_<record>_t),
 * which is zeroed first and cleared again on failure. Single pass: every
 * length and count is checked against the bytes that remain before anything
 * is allocated.
 * @returns MM_ERR_SCHEMA for a wrong magic byte or schema id, MM_ERR_PARSE
 * for a malformed body (with the field path and payload offset).
 */
mm_err_t mm_avro_decode(mm_record_type_t type, const void *payload, size_t len, void *rec,
                        char *errstr, size_t errstr_size);

/** @brief Free what a decoded @p rec of @p type owns and zero it. Accepts NULL. */
void mm_avro_clear(mm_record_type_t type, void *rec);

/**
 * @brief Compare two records of @p type field by field (NaN equals NaN; -0.0
 * differs from 0.0; absent differs from empty).
 * @param diff if not NULL, receives the path of the first difference.
 * @returns true if equal.
 */
bool mm_avro_equal(mm_record_type_t type, const void *a, const void *b, char *diff,
                   size_t diff_size);

/**
 * @brief Append a JSON rendering of @p rec of @p type to @p out: unions as
 * their value or null, bytes as U+0000..U+00FF, NaN and infinities as
 * strings ("NaN", "Infinity", "-Infinity").
 */
mm_err_t mm_avro_record_to_json(mm_record_type_t type, const void *rec, mm_buf_t *out, char *errstr,
                                size_t errstr_size);

/* Typed forms of mm_avro_encode(). */
mm_err_t mm_avro_encode_observation_batch(const mm_observation_batch_t *rec, mm_buf_t *out,
                                          char *errstr, size_t errstr_size);
mm_err_t mm_avro_encode_model_trained(const mm_model_trained_t *rec, mm_buf_t *out, char *errstr,
                                      size_t errstr_size);
mm_err_t mm_avro_encode_model_decision(const mm_model_decision_t *rec, mm_buf_t *out, char *errstr,
                                       size_t errstr_size);
mm_err_t mm_avro_encode_score_request(const mm_score_request_t *rec, mm_buf_t *out, char *errstr,
                                      size_t errstr_size);
mm_err_t mm_avro_encode_prediction_batch(const mm_prediction_batch_t *rec, mm_buf_t *out,
                                         char *errstr, size_t errstr_size);
mm_err_t mm_avro_encode_dead_letter(const mm_dead_letter_t *rec, mm_buf_t *out, char *errstr,
                                    size_t errstr_size);

/* Typed forms of mm_avro_decode(). */
mm_err_t mm_avro_decode_observation_batch(const void *payload, size_t len,
                                          mm_observation_batch_t *rec, char *errstr,
                                          size_t errstr_size);
mm_err_t mm_avro_decode_model_trained(const void *payload, size_t len, mm_model_trained_t *rec,
                                      char *errstr, size_t errstr_size);
mm_err_t mm_avro_decode_model_decision(const void *payload, size_t len, mm_model_decision_t *rec,
                                       char *errstr, size_t errstr_size);
mm_err_t mm_avro_decode_score_request(const void *payload, size_t len, mm_score_request_t *rec,
                                      char *errstr, size_t errstr_size);
mm_err_t mm_avro_decode_prediction_batch(const void *payload, size_t len,
                                         mm_prediction_batch_t *rec, char *errstr,
                                         size_t errstr_size);
mm_err_t mm_avro_decode_dead_letter(const void *payload, size_t len, mm_dead_letter_t *rec,
                                    char *errstr, size_t errstr_size);

/** @returns a JSON rendering of any framed record (for mmctl and debugging), malloc'd, or NULL. */
char *mm_avro_to_json(const void *payload, size_t len, char *errstr, size_t errstr_size);

#endif
