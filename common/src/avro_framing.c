/*
 * avro_framing.c - the Confluent wire format around every Avro body: byte
 * 0x00, then the 4-byte big-endian schema id from schemas/catalog.json: a
 * record's current id, or one of its retired ids (avro_versions.c), whose
 * writers wrote a prefix of the current fields. A wrong magic byte or an id
 * neither current nor retired is MM_ERR_SCHEMA (the consumer dead-letters
 * it), a payload shorter than the header or over the message cap is
 * MM_ERR_PARSE.
 *
 * Workload: once per message; five bytes.
 */
#include <inttypes.h>

#include "avro_int.h"

void mm_avro__header_put(uint8_t *p, int32_t schema_id) {
    uint32_t id = (uint32_t)schema_id;
    p[0] = MM_WIRE_MAGIC;
    p[1] = (uint8_t)(id >> 24);
    p[2] = (uint8_t)(id >> 16);
    p[3] = (uint8_t)(id >> 8);
    p[4] = (uint8_t)id;
}

mm_err_t mm_avro_peek(const void *payload, size_t len, mm_record_type_t *type, int32_t *schema_id,
                      char *errstr, size_t errstr_size) {
    mm_err_t err = mm_avro__ensure_init(errstr, errstr_size);
    if (err) return err;
    if (!payload && len) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "NULL payload");
    if (len < MM_WIRE_HEADER_LEN)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                       "payload of %zu bytes is shorter than the %d-byte wire header", len,
                       MM_WIRE_HEADER_LEN);
    const uint8_t *p = payload;
    if (p[0] != MM_WIRE_MAGIC)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "unknown magic byte 0x%02x (expected 0x%02x)", p[0], MM_WIRE_MAGIC);
    int32_t id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) |
                           (uint32_t)p[4]);
    for (int t = 0; t < MM_RECORD__COUNT; t++) {
        if (mm_avro__schema_id((mm_record_type_t)t) == id) {
            if (type) *type = (mm_record_type_t)t;
            if (schema_id) *schema_id = id;
            return MM_OK;
        }
    }
    const mm_avro__version_t *older = mm_avro__retired_version(id);
    if (older) {
        if (type) *type = older->type;
        if (schema_id) *schema_id = id;
        return MM_OK;
    }
    return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size, "unknown schema id %" PRId32, id);
}

mm_err_t mm_avro__frame_check(mm_record_type_t type, const void *payload, size_t len,
                              size_t *n_fields, const uint8_t **defaults, char *errstr,
                              size_t errstr_size) {
    mm_record_type_t actual = type;
    int32_t id = 0;
    mm_err_t err = mm_avro_peek(payload, len, &actual, &id, errstr, errstr_size);
    if (err) return err;
    const mm_avro__version_t *older = mm_avro__retired_version(id);
    *n_fields = older ? older->n_fields : mm_avro__descriptor(type)->n_fields;
    *defaults = older ? older->defaults : NULL;
    if (actual != type)
        return mm_errf(MM_ERR_SCHEMA, errstr, errstr_size,
                       "schema id %" PRId32 " is %s, expected %s", id, mm_avro_schema_name(actual),
                       mm_avro_schema_name(type));
    if (len > MM_BUF_CAP_MESSAGE)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                       "%s: payload of %zu bytes exceeds the %u-byte cap",
                       mm_avro__descriptor(type)->name, len, MM_BUF_CAP_MESSAGE);
    return MM_OK;
}
