/*
 * avro_json.c - JSON rendering of records, driven by their descriptors: for
 * mmctl, logs and debugging of dead letters and other payloads. Unions render
 * as their value or null, enums as their symbol, bytes as code points
 * U+0000..U+00FF (as in Avro's JSON encoding), and NaN and the infinities as
 * the strings "NaN", "Infinity", "-Infinity" - avro_value_to_json() cannot
 * render them, and missing values are NaN throughout our data.
 *
 * Workload: occasional, one record at a time; output is capped by the buffer.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "avro_int.h"

/* Big enough for a whole ObservationBatch rendered as text. */
#define JSON_CAP MM_BUF_CAP_HTTP_BODY

typedef struct render {
    mm_buf_t *out;
    mm_err_t err;
} render_t;

static void put(render_t *r, const char *s, size_t n) {
    if (!r->err && mm_buf_append(r->out, s, n)) r->err = MM_ERR_NOMEM;
}

static void put_lit(render_t *r, const char *s) {
    put(r, s, strlen(s));
}

/* Strings pass through as UTF-8; bytes map each byte to U+0000..U+00FF. */
static void put_string(render_t *r, const uint8_t *s, size_t n, bool bytes) {
    put(r, "\"", 1);
    size_t run = 0; /* bytes [run, i) are copied verbatim */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        bool plain = c >= 0x20 && c != '"' && c != '\\' && (!bytes || c < 0x7f);
        if (plain) continue;
        put(r, (const char *)s + run, i - run);
        char esc[8];
        int k = (c == '"' || c == '\\') ? snprintf(esc, sizeof(esc), "\\%c", c)
                                        : snprintf(esc, sizeof(esc), "\\u%04x", c);
        put(r, esc, (size_t)k);
        run = i + 1;
    }
    put(r, (const char *)s + run, n - run);
    put(r, "\"", 1);
}

static void put_double(render_t *r, double v) {
    if (isnan(v)) return put_lit(r, "\"NaN\"");
    if (isinf(v)) return put_lit(r, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    char num[40];
    /* The shortest of %.15g / %.17g that reads back as the same double. */
    snprintf(num, sizeof(num), "%.15g", v);
    if (strtod(num, NULL) != v) snprintf(num, sizeof(num), "%.17g", v);
    put_lit(r, num);
}

static void put_record(render_t *r, const mm_avro__record_t *record, const uint8_t *rec,
                       const uint8_t *parent);

static void put_value(render_t *r, const mm_avro__field_t *f, const uint8_t *src,
                      const uint8_t *rec) {
    char num[32];
    switch (f->kind) {
    case MM_AVRO__LONG:
        snprintf(num, sizeof(num), "%" PRId64, *(const int64_t *)(const void *)src);
        return put_lit(r, num);
    case MM_AVRO__INT:
        snprintf(num, sizeof(num), "%" PRId32, *(const int32_t *)(const void *)src);
        return put_lit(r, num);
    case MM_AVRO__DOUBLE:
        return put_double(r, *(const double *)(const void *)src);
    case MM_AVRO__BOOLEAN:
        return put_lit(r, *(const bool *)(const void *)src ? "true" : "false");
    case MM_AVRO__ENUM: {
        int v = *(const int *)(const void *)src;
        if (v < 0 || v >= f->n_symbols) {
            r->err = MM_ERR_INVALID_ARG;
            return;
        }
        const char *symbol = f->symbols[v];
        return put_string(r, (const uint8_t *)symbol, strlen(symbol), false);
    }
    case MM_AVRO__STRING: {
        const char *s = *(const char *const *)(const void *)src;
        if (!s) return put_lit(r, "null");
        return put_string(r, (const uint8_t *)s, strlen(s), false);
    }
    case MM_AVRO__BYTES: {
        const uint8_t *s = *(const uint8_t *const *)(const void *)src;
        if (!s) return put_lit(r, "null");
        return put_string(r, s, *MM_AVRO__CAT(rec, f->count, size_t), true);
    }
    case MM_AVRO__RECORD:
        return put_record(r, f->record, src, rec);
    }
}

static void put_array(render_t *r, const mm_avro__field_t *f, const uint8_t *rec,
                      const uint8_t *parent) {
    const uint8_t *holder = f->count_rule == MM_AVRO__COUNT_PARENT ? parent : rec;
    size_t n = holder ? *MM_AVRO__CAT(holder, f->count, size_t) : 0;
    if (f->count_rule == MM_AVRO__COUNT_PRODUCT) n *= *MM_AVRO__CAT(rec, f->count2, size_t);
    const uint8_t *items = *MM_AVRO__CAT(rec, f->offset, const uint8_t *);
    if (n && !items) {
        r->err = MM_ERR_INVALID_ARG;
        return;
    }
    put(r, "[", 1);
    for (size_t i = 0; i < n && !r->err; i++) {
        if (i) put(r, ",", 1);
        put_value(r, f, items + i * f->item_size, rec);
    }
    put(r, "]", 1);
}

static void put_record(render_t *r, const mm_avro__record_t *record, const uint8_t *rec,
                       const uint8_t *parent) {
    put(r, "{", 1);
    for (size_t i = 0; i < record->n_fields && !r->err; i++) {
        const mm_avro__field_t *f = &record->fields[i];
        if (i) put(r, ",", 1);
        put_string(r, (const uint8_t *)f->name, strlen(f->name), false);
        put(r, ":", 1);
        if (f->nullable && f->kind == MM_AVRO__RECORD && !*MM_AVRO__CAT(rec, f->presence, bool))
            put_lit(r, "null");
        else if (f->array)
            put_array(r, f, rec, parent);
        else
            put_value(r, f, rec + f->offset, rec);
    }
    put(r, "}", 1);
}

mm_err_t mm_avro_record_to_json(mm_record_type_t type, const void *rec, mm_buf_t *out, char *errstr,
                                size_t errstr_size) {
    if ((int)type < 0 || type >= MM_RECORD__COUNT || !rec || !out)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "to_json: bad type, NULL record or NULL buffer");
    const mm_avro__record_t *record = mm_avro__descriptor(type);
    size_t start = out->len;
    render_t r = {.out = out};
    put_record(&r, record, rec, NULL);
    if (!r.err) return MM_OK;
    out->len = start;
    if (out->data) out->data[start] = 0;
    if (r.err == MM_ERR_NOMEM)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size,
                       "%s: JSON rendering exceeds the %zu-byte buffer limit", record->name,
                       out->limit);
    return mm_errf(r.err, errstr, errstr_size,
                   "%s: an enum value out of range or a NULL array cannot be rendered",
                   record->name);
}

char *mm_avro_to_json(const void *payload, size_t len, char *errstr, size_t errstr_size) {
    mm_record_type_t type = MM_RECORD_OBSERVATION_BATCH;
    if (mm_avro_peek(payload, len, &type, NULL, errstr, errstr_size)) return NULL;
    void *rec = calloc(1, mm_avro__descriptor(type)->size);
    if (!rec) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "to_json: out of memory");
        return NULL;
    }
    mm_buf_t json;
    mm_buf_init(&json, JSON_CAP);
    char *text = NULL;
    if (mm_avro_decode(type, payload, len, rec, errstr, errstr_size) == MM_OK &&
        mm_avro_record_to_json(type, rec, &json, errstr, errstr_size) == MM_OK &&
        mm_buf_append(&json, "", 0) == MM_OK)
        text = (char *)mm_buf_steal(&json, NULL);
    mm_avro_clear(type, rec);
    free(rec);
    mm_buf_free(&json);
    return text;
}
