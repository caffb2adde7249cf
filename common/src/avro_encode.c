/*
 * avro_encode.c - the table-driven encoder: a sizing pass over the record's
 * descriptor that also validates (required strings and arrays present, UTF-8,
 * enum ranges, row counts that do not overflow), one reservation in the
 * output buffer, then a writing pass that cannot fail. Arrays are written as
 * one block of n items followed by 0 (nothing but 0 when empty), which is
 * what Avro C writes: the golden bytes in tests/fixtures/avro/ pin it.
 *
 * Workload: ObservationBatch dominates - thousands of rows x several numeric
 * columns - so arrays of doubles are one memcpy and nothing is allocated.
 */
#include <stdarg.h>
#include <stdio.h>

#include "avro_int.h"

typedef struct enc {
    mm_avro__path_t path;
    char *errstr;
    size_t errstr_size;
} enc_t;

__attribute__((format(printf, 3, 4))) static mm_err_t enc_fail(enc_t *e, mm_err_t err,
                                                               const char *fmt, ...) {
    char where[256], what[256];
    mm_avro__path_format(&e->path, where, sizeof(where));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mm_errf(err, e->errstr, e->errstr_size, "%s: %s", where, what);
}

static mm_err_t enc_push(enc_t *e, const char *field, size_t index) {
    if (e->path.depth >= MM_AVRO__MAX_DEPTH)
        return enc_fail(e, MM_ERR_INVALID_ARG, "nesting deeper than %d", MM_AVRO__MAX_DEPTH);
    e->path.frames[e->path.depth].field = field;
    e->path.frames[e->path.depth].index = index;
    e->path.depth++;
    return MM_OK;
}

/* Bytes of the zig-zag varint of @p v: one per 7 significant bits (branch-free: hot on timestamps).
 */
static inline size_t varint_size(int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    return (size_t)(64 - __builtin_clzll(z | 1) + 6) / 7;
}

static inline uint8_t *put_varint(uint8_t *p, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    return p;
}

/* Avro doubles are little-endian IEEE 754. */
static uint8_t *put_doubles(uint8_t *p, const double *x, size_t n) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n) memcpy(p, x, n * sizeof(double));
    return p + n * sizeof(double);
#else
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, &x[i], sizeof(bits));
        for (int k = 0; k < 8; k++) *p++ = (uint8_t)(bits >> (8 * k));
    }
    return p;
#endif
}

/* ------------------------------------------------------------ sizing pass */

static mm_err_t add(enc_t *e, size_t *size, size_t n) {
    if (n > SIZE_MAX / 2 - *size) return enc_fail(e, MM_ERR_NOMEM, "record is too large");
    *size += n;
    return MM_OK;
}

/* The item count of an array field, checked against its other counts. */
static mm_err_t array_count(enc_t *e, const mm_avro__field_t *f, const uint8_t *rec,
                            const uint8_t *parent, size_t *n) {
    const uint8_t *holder = f->count_rule == MM_AVRO__COUNT_PARENT ? parent : rec;
    *n = holder ? *MM_AVRO__CAT(holder, f->count, size_t) : 0;
    if (f->count_rule == MM_AVRO__COUNT_PRODUCT) {
        size_t b = *MM_AVRO__CAT(rec, f->count2, size_t);
        if (b && *n > SIZE_MAX / b)
            return enc_fail(e, MM_ERR_INVALID_ARG, "%zu x %zu items (%s) overflows", *n, b,
                            f->count_of);
        *n *= b;
    }
    return MM_OK;
}

static mm_err_t size_record(enc_t *e, const mm_avro__record_t *record, const uint8_t *rec,
                            const uint8_t *parent, size_t *size);

static mm_err_t size_string(enc_t *e, const char *s, size_t *size) {
    if (!s) return enc_fail(e, MM_ERR_INVALID_ARG, "required string is NULL");
    size_t len = strlen(s), bad = 0;
    if (!mm_avro__utf8_valid((const uint8_t *)s, len, &bad))
        return enc_fail(e, MM_ERR_INVALID_ARG, "not valid UTF-8 (byte %zu)", bad);
    return add(e, size, varint_size((int64_t)len) + len);
}

/* One value of @p f's kind at @p src; @p rec is the struct holding the field. */
static mm_err_t size_value(enc_t *e, const mm_avro__field_t *f, const uint8_t *src,
                           const uint8_t *rec, size_t *size) {
    switch (f->kind) {
    case MM_AVRO__LONG:
        return add(e, size, varint_size(*(const int64_t *)(const void *)src));
    case MM_AVRO__INT:
        return add(e, size, varint_size(*(const int32_t *)(const void *)src));
    case MM_AVRO__DOUBLE:
        return add(e, size, sizeof(double));
    case MM_AVRO__BOOLEAN:
        return add(e, size, 1);
    case MM_AVRO__ENUM: {
        int v = *(const int *)(const void *)src;
        if (v < 0 || v >= f->n_symbols)
            return enc_fail(e, MM_ERR_INVALID_ARG, "value %d out of range 0..%d", v,
                            f->n_symbols - 1);
        return add(e, size, varint_size(v));
    }
    case MM_AVRO__STRING:
        return size_string(e, *(const char *const *)(const void *)src, size);
    case MM_AVRO__BYTES: {
        size_t len = *MM_AVRO__CAT(rec, f->count, size_t);
        return add(e, size, varint_size((int64_t)len) + len);
    }
    case MM_AVRO__RECORD:
        return size_record(e, f->record, src, rec, size);
    }
    return enc_fail(e, MM_ERR_INVALID_ARG, "unknown descriptor kind %d", (int)f->kind);
}

static mm_err_t size_array(enc_t *e, const mm_avro__field_t *f, const uint8_t *rec,
                           const uint8_t *parent, size_t *size) {
    size_t n = 0;
    mm_err_t err = array_count(e, f, rec, parent, &n);
    if (err) return err;
    const uint8_t *items = *MM_AVRO__CAT(rec, f->offset, const uint8_t *);
    if (n && !items) return enc_fail(e, MM_ERR_INVALID_ARG, "NULL array of %zu items", n);
    if ((err = add(e, size, n ? varint_size((int64_t)n) + 1 : 1))) return err;
    /* Larger arrays cannot fit any buffer; the bound keeps the sums below from overflowing. */
    if (n > SIZE_MAX / 4 / MM_AVRO__LONG_BYTES) return enc_fail(e, MM_ERR_NOMEM, "too many items");
    if (f->kind == MM_AVRO__DOUBLE) return add(e, size, n * sizeof(double));
    if (f->kind == MM_AVRO__LONG) {
        const int64_t *x = (const int64_t *)(const void *)items;
        size_t sum = 0;
        for (size_t i = 0; i < n; i++) sum += varint_size(x[i]);
        return add(e, size, sum);
    }
    if ((err = enc_push(e, NULL, 0))) return err;
    for (size_t i = 0; i < n && !err; i++) {
        e->path.frames[e->path.depth - 1].index = i;
        err = size_value(e, f, items + i * f->item_size, rec, size);
    }
    e->path.depth--;
    return err;
}

/* Whether the nullable field @p f holds a value (branch 1 of ["null", X]). */
static bool present(const mm_avro__field_t *f, const uint8_t *rec) {
    if (f->kind == MM_AVRO__RECORD) return *MM_AVRO__CAT(rec, f->presence, bool);
    return *MM_AVRO__CAT(rec, f->offset, const void *) != NULL;
}

static mm_err_t size_field(enc_t *e, const mm_avro__field_t *f, const uint8_t *rec,
                           const uint8_t *parent, size_t *size) {
    if (f->kind == MM_AVRO__BYTES && !*MM_AVRO__CAT(rec, f->offset, const void *) &&
        *MM_AVRO__CAT(rec, f->count, size_t))
        return enc_fail(e, MM_ERR_INVALID_ARG, "NULL with %zu bytes",
                        *MM_AVRO__CAT(rec, f->count, size_t));
    if (f->nullable) {
        mm_err_t err = add(e, size, 1); /* union index 0 or 1: one byte */
        if (err || !present(f, rec)) return err;
    }
    if (f->array) return size_array(e, f, rec, parent, size);
    return size_value(e, f, rec + f->offset, rec, size);
}

static mm_err_t size_record(enc_t *e, const mm_avro__record_t *record, const uint8_t *rec,
                            const uint8_t *parent, size_t *size) {
    for (size_t i = 0; i < record->n_fields; i++) {
        mm_err_t err = enc_push(e, record->fields[i].name, 0);
        if (!err) err = size_field(e, &record->fields[i], rec, parent, size);
        if (err) return err;
        e->path.depth--;
    }
    return MM_OK;
}

/* ----------------------------------------------------------- writing pass */

static uint8_t *put_record(uint8_t *p, const mm_avro__record_t *record, const uint8_t *rec,
                           const uint8_t *parent);

static uint8_t *put_value(uint8_t *p, const mm_avro__field_t *f, const uint8_t *src,
                          const uint8_t *rec) {
    switch (f->kind) {
    case MM_AVRO__LONG:
        return put_varint(p, *(const int64_t *)(const void *)src);
    case MM_AVRO__INT:
        return put_varint(p, *(const int32_t *)(const void *)src);
    case MM_AVRO__DOUBLE:
        return put_doubles(p, (const double *)(const void *)src, 1);
    case MM_AVRO__BOOLEAN:
        *p++ = *(const bool *)(const void *)src ? 1 : 0;
        return p;
    case MM_AVRO__ENUM:
        return put_varint(p, *(const int *)(const void *)src);
    case MM_AVRO__STRING: {
        const char *s = *(const char *const *)(const void *)src;
        size_t len = strlen(s);
        p = put_varint(p, (int64_t)len);
        memcpy(p, s, len);
        return p + len;
    }
    case MM_AVRO__BYTES: {
        const uint8_t *s = *(const uint8_t *const *)(const void *)src;
        size_t len = *MM_AVRO__CAT(rec, f->count, size_t);
        p = put_varint(p, (int64_t)len);
        if (len) memcpy(p, s, len);
        return p + len;
    }
    case MM_AVRO__RECORD:
        return put_record(p, f->record, src, rec);
    }
    return p;
}

static uint8_t *put_array(uint8_t *p, const mm_avro__field_t *f, const uint8_t *rec,
                          const uint8_t *parent) {
    const uint8_t *holder = f->count_rule == MM_AVRO__COUNT_PARENT ? parent : rec;
    size_t n = holder ? *MM_AVRO__CAT(holder, f->count, size_t) : 0;
    if (f->count_rule == MM_AVRO__COUNT_PRODUCT) n *= *MM_AVRO__CAT(rec, f->count2, size_t);
    const uint8_t *items = *MM_AVRO__CAT(rec, f->offset, const uint8_t *);
    if (n) {
        p = put_varint(p, (int64_t)n);
        if (f->kind == MM_AVRO__DOUBLE) {
            p = put_doubles(p, (const double *)(const void *)items, n);
        } else if (f->kind == MM_AVRO__LONG) {
            const int64_t *x = (const int64_t *)(const void *)items;
            for (size_t i = 0; i < n; i++) p = put_varint(p, x[i]);
        } else {
            for (size_t i = 0; i < n; i++) p = put_value(p, f, items + i * f->item_size, rec);
        }
    }
    *p++ = 0;
    return p;
}

static uint8_t *put_record(uint8_t *p, const mm_avro__record_t *record, const uint8_t *rec,
                           const uint8_t *parent) {
    for (size_t i = 0; i < record->n_fields; i++) {
        const mm_avro__field_t *f = &record->fields[i];
        if (f->nullable) {
            bool has = present(f, rec);
            *p++ = has ? 2 : 0; /* zig-zag of branch 1 or 0 */
            if (!has) continue;
        }
        p = f->array ? put_array(p, f, rec, parent) : put_value(p, f, rec + f->offset, rec);
    }
    return p;
}

mm_err_t mm_avro_encode(mm_record_type_t type, const void *rec, mm_buf_t *out, char *errstr,
                        size_t errstr_size) {
    mm_err_t err = mm_avro__ensure_init(errstr, errstr_size);
    if (err) return err;
    if ((int)type < 0 || type >= MM_RECORD__COUNT)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "encode: unknown record type %d",
                       (int)type);
    const mm_avro__record_t *record = mm_avro__descriptor(type);
    if (!rec || !out)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "%s: NULL record or buffer",
                       record->name);
    enc_t e = {.path = {.record = record->name}, .errstr = errstr, .errstr_size = errstr_size};
    size_t size = 0;
    if ((err = size_record(&e, record, rec, NULL, &size))) return err;
    if (mm_buf_reserve(out, MM_WIRE_HEADER_LEN + size) != MM_OK)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size,
                       "%s: %zu encoded bytes do not fit the buffer (%zu used of a %zu-byte "
                       "limit)",
                       record->name, MM_WIRE_HEADER_LEN + size, out->len, out->limit);
    uint8_t *start = out->data + out->len;
    mm_avro__header_put(start, mm_avro__schema_id(type));
    uint8_t *end = put_record(start + MM_WIRE_HEADER_LEN, record, rec, NULL);
    if ((size_t)(end - start) != MM_WIRE_HEADER_LEN + size)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "%s: wrote %zu bytes, sized %zu",
                       record->name, (size_t)(end - start), MM_WIRE_HEADER_LEN + size);
    out->len += MM_WIRE_HEADER_LEN + size;
    out->data[out->len] = 0;
    return MM_OK;
}
