/*
 * avro_struct.c - the descriptor-driven operations on decoded C structs that
 * never touch the wire: clearing (freeing what a decoded record owns) and
 * field-by-field equality with the path of the first difference.
 *
 * Workload: clear runs once per decoded message, equality in tests and
 * checks; both are linear in the record and allocation-free.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "avro_int.h"

/* A decoded record owns its strings and bytes although the struct shows them const. */
static void free_owned(const void *p) {
    free((void *)p);
}

static void clear_record(const mm_avro__record_t *record, uint8_t *rec);

static void clear_value(const mm_avro__field_t *f, uint8_t *dst) {
    if (f->kind == MM_AVRO__STRING || f->kind == MM_AVRO__BYTES)
        free_owned(*(const void **)(void *)dst);
    else if (f->kind == MM_AVRO__RECORD)
        clear_record(f->record, dst);
}

static void clear_record(const mm_avro__record_t *record, uint8_t *rec) {
    for (size_t i = 0; i < record->n_fields; i++) {
        const mm_avro__field_t *f = &record->fields[i];
        if (!f->array) {
            /* Whatever the presence flag says: a partly decoded record may hold some. */
            clear_value(f, rec + f->offset);
            continue;
        }
        uint8_t *items = *MM_AVRO__AT(rec, f->offset, uint8_t *);
        if (items && (f->kind == MM_AVRO__STRING || f->kind == MM_AVRO__RECORD)) {
            /* Owning items always have their own count (checked at start-up). */
            size_t n = *MM_AVRO__AT(rec, f->count, size_t);
            for (size_t k = 0; k < n; k++) clear_value(f, items + k * f->item_size);
        }
        free(items);
    }
}

void mm_avro_clear(mm_record_type_t type, void *rec) {
    if (!rec || (int)type < 0 || type >= MM_RECORD__COUNT) return;
    const mm_avro__record_t *record = mm_avro__descriptor(type);
    clear_record(record, rec);
    memset(rec, 0, record->size);
}

/* --------------------------------------------------------------- equality */

typedef struct cmp {
    mm_avro__path_t path;
    char *diff;
    size_t diff_size;
} cmp_t;

__attribute__((format(printf, 2, 3))) static bool differ(cmp_t *c, const char *fmt, ...) {
    if (!c->diff || !c->diff_size) return false;
    char where[256], what[256];
    mm_avro__path_format(&c->path, where, sizeof(where));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(c->diff, c->diff_size, "%s: %s", where, what);
    return false;
}

/* Frames past the depth limit are not named, but still compared. */
static void cmp_push(cmp_t *c, const char *field, size_t index) {
    if (c->path.depth < MM_AVRO__MAX_DEPTH) {
        c->path.frames[c->path.depth].field = field;
        c->path.frames[c->path.depth].index = index;
    }
    c->path.depth++;
}

static void cmp_pop(cmp_t *c) {
    c->path.depth--;
}

static bool equal_record(cmp_t *c, const mm_avro__record_t *record, const uint8_t *a,
                         const uint8_t *b, const uint8_t *pa, const uint8_t *pb);

/* NaN equals NaN; -0.0 differs from 0.0: the wire carries the exact double. */
static bool same_double(double x, double y) {
    if (isnan(x) || isnan(y)) return isnan(x) && isnan(y);
    return x == y && signbit(x) == signbit(y);
}

static bool equal_value(cmp_t *c, const mm_avro__field_t *f, const uint8_t *x, const uint8_t *y,
                        const uint8_t *ra, const uint8_t *rb) {
    switch (f->kind) {
    case MM_AVRO__LONG: {
        int64_t u = *(const int64_t *)(const void *)x, v = *(const int64_t *)(const void *)y;
        return u == v || differ(c, "%" PRId64 " != %" PRId64, u, v);
    }
    case MM_AVRO__INT: {
        int32_t u = *(const int32_t *)(const void *)x, v = *(const int32_t *)(const void *)y;
        return u == v || differ(c, "%" PRId32 " != %" PRId32, u, v);
    }
    case MM_AVRO__ENUM: {
        int u = *(const int *)(const void *)x, v = *(const int *)(const void *)y;
        return u == v || differ(c, "%d != %d", u, v);
    }
    case MM_AVRO__BOOLEAN: {
        bool u = *(const bool *)(const void *)x, v = *(const bool *)(const void *)y;
        return u == v || differ(c, "%s != %s", u ? "true" : "false", v ? "true" : "false");
    }
    case MM_AVRO__DOUBLE: {
        double u = *(const double *)(const void *)x, v = *(const double *)(const void *)y;
        return same_double(u, v) || differ(c, "%.17g != %.17g", u, v);
    }
    case MM_AVRO__STRING: {
        const char *u = *(const char *const *)(const void *)x;
        const char *v = *(const char *const *)(const void *)y;
        if (u && v ? strcmp(u, v) == 0 : u == v) return true;
        return differ(c, "%s%s%s != %s%s%s", u ? "\"" : "", u ? u : "NULL", u ? "\"" : "",
                      v ? "\"" : "", v ? v : "NULL", v ? "\"" : "");
    }
    case MM_AVRO__BYTES: {
        const uint8_t *u = *(const uint8_t *const *)(const void *)x;
        const uint8_t *v = *(const uint8_t *const *)(const void *)y;
        size_t nu = *MM_AVRO__CAT(ra, f->count, size_t), nv = *MM_AVRO__CAT(rb, f->count, size_t);
        if (!u != !v) return differ(c, "%s != %s", u ? "bytes" : "NULL", v ? "bytes" : "NULL");
        if (nu != nv) return differ(c, "%zu bytes != %zu bytes", nu, nv);
        return !u || !nu || memcmp(u, v, nu) == 0 || differ(c, "bytes differ");
    }
    case MM_AVRO__RECORD:
        return equal_record(c, f->record, x, y, ra, rb);
    }
    return differ(c, "unknown descriptor kind %d", (int)f->kind);
}

static size_t item_count(const mm_avro__field_t *f, const uint8_t *rec, const uint8_t *parent) {
    const uint8_t *holder = f->count_rule == MM_AVRO__COUNT_PARENT ? parent : rec;
    size_t n = holder ? *MM_AVRO__CAT(holder, f->count, size_t) : 0;
    if (f->count_rule == MM_AVRO__COUNT_PRODUCT) n *= *MM_AVRO__CAT(rec, f->count2, size_t);
    return n;
}

static bool equal_array(cmp_t *c, const mm_avro__field_t *f, const uint8_t *a, const uint8_t *b,
                        const uint8_t *pa, const uint8_t *pb) {
    size_t na = item_count(f, a, pa), nb = item_count(f, b, pb);
    if (na != nb) return differ(c, "%zu items != %zu items", na, nb);
    const uint8_t *ia = *MM_AVRO__CAT(a, f->offset, const uint8_t *);
    const uint8_t *ib = *MM_AVRO__CAT(b, f->offset, const uint8_t *);
    if (na && (!ia || !ib)) return differ(c, "NULL array of %zu items", na);
    bool same = true;
    for (size_t i = 0; i < na && same; i++) {
        cmp_push(c, NULL, i);
        same = equal_value(c, f, ia + i * f->item_size, ib + i * f->item_size, a, b);
        cmp_pop(c);
    }
    return same;
}

static bool equal_field(cmp_t *c, const mm_avro__field_t *f, const uint8_t *a, const uint8_t *b,
                        const uint8_t *pa, const uint8_t *pb) {
    if (f->nullable && f->kind == MM_AVRO__RECORD) {
        bool ha = *MM_AVRO__CAT(a, f->presence, bool), hb = *MM_AVRO__CAT(b, f->presence, bool);
        if (ha != hb)
            return differ(c, "%s != %s", ha ? "present" : "null", hb ? "present" : "null");
        if (!ha) return true;
    }
    if (f->array) return equal_array(c, f, a, b, pa, pb);
    return equal_value(c, f, a + f->offset, b + f->offset, a, b);
}

static bool equal_record(cmp_t *c, const mm_avro__record_t *record, const uint8_t *a,
                         const uint8_t *b, const uint8_t *pa, const uint8_t *pb) {
    bool same = true;
    for (size_t i = 0; i < record->n_fields && same; i++) {
        cmp_push(c, record->fields[i].name, 0);
        same = equal_field(c, &record->fields[i], a, b, pa, pb);
        cmp_pop(c);
    }
    return same;
}

bool mm_avro_equal(mm_record_type_t type, const void *a, const void *b, char *diff,
                   size_t diff_size) {
    if (diff && diff_size) diff[0] = 0;
    if ((int)type < 0 || type >= MM_RECORD__COUNT || !a || !b) {
        if (diff && diff_size) snprintf(diff, diff_size, "bad type or NULL record");
        return a == b && a != NULL;
    }
    const mm_avro__record_t *record = mm_avro__descriptor(type);
    cmp_t c = {.path = {.record = record->name}, .diff = diff, .diff_size = diff_size};
    return equal_record(&c, record, a, b, NULL, NULL);
}
