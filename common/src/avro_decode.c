/*
 * avro_decode.c - the table-driven decoder: one pass over an Avro body,
 * guided by the record's descriptor, validating as it reads (varint widths,
 * every length and block count against the bytes that remain and the item
 * budget, union and enum indices, booleans, UTF-8, row counts, exact
 * consumption) and writing straight into the C struct. Avro C never sees the
 * bytes: its generic values ran at 2.4 M rows/s where this path runs tens of
 * millions (bench/avro/).
 *
 * Workload: ObservationBatch dominates - thousands of rows x several numeric
 * columns per message - so arrays of doubles are one memcpy per block and
 * arrays of longs a tight inlined varint loop; everything else is per field.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "avro_int.h"

static size_t record_min(const mm_avro__record_t *record);

/* The smallest encoding of one value of @p kind: the bound on a block's item count. */
static size_t kind_min(mm_avro__kind_t kind, const mm_avro__record_t *record) {
    if (kind == MM_AVRO__DOUBLE) return sizeof(double);
    if (kind == MM_AVRO__RECORD) return record_min(record);
    return 1; /* boolean, varints, lengths */
}

static size_t record_min(const mm_avro__record_t *record) {
    size_t sum = 0;
    for (size_t i = 0; i < record->n_fields; i++) {
        const mm_avro__field_t *f = &record->fields[i];
        sum += (f->array || f->nullable) ? 1 : kind_min(f->kind, f->record);
    }
    return sum ? sum : 1;
}

static mm_err_t nomem(mm_avro__in_t *in) {
    return mm_avro__in_fail(in, MM_ERR_NOMEM, in->pos, "out of memory");
}

/* Avro doubles are little-endian IEEE 754. */
static void get_doubles(const uint8_t *p, double *out, size_t n) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n) memcpy(out, p, n * sizeof(double));
#else
    for (size_t i = 0; i < n; i++, p += 8) {
        uint64_t bits = 0;
        for (int k = 0; k < 8; k++) bits |= (uint64_t)p[k] << (8 * k);
        memcpy(&out[i], &bits, sizeof(bits));
    }
#endif
}

static mm_err_t decode_record(mm_avro__in_t *in, const mm_avro__record_t *record, uint8_t *rec,
                              const uint8_t *parent);

static mm_err_t decode_string(mm_avro__in_t *in, bool bytes, uint8_t **out, size_t *len) {
    size_t at = in->pos, n = 0, bad = 0;
    mm_err_t err = mm_avro__in_length(in, bytes ? "bytes" : "string", &n);
    if (err) return err;
    const uint8_t *s = in->body + in->pos;
    if (!bytes && !mm_avro__utf8_valid(s, n, &bad))
        return mm_avro__in_fail(in, MM_ERR_PARSE, at,
                                s[bad] ? "string is not valid UTF-8 (byte %zu)"
                                       : "string contains a NUL byte (byte %zu)",
                                bad);
    /* Never NULL when present, so an empty string or bytes survives a round trip. */
    if (!(*out = malloc(n + 1))) return nomem(in);
    memcpy(*out, s, n);
    (*out)[n] = 0;
    in->pos += n;
    if (len) *len = n;
    return MM_OK;
}

/* One value of @p f's kind at @p dst; @p rec is the struct holding the field. */
static mm_err_t decode_value(mm_avro__in_t *in, const mm_avro__field_t *f, uint8_t *dst,
                             uint8_t *rec) {
    size_t at = in->pos;
    int64_t v = 0;
    uint8_t *s = NULL;
    mm_err_t err = MM_OK;
    switch (f->kind) {
    case MM_AVRO__LONG:
        err = mm_avro__in_varint(in, MM_AVRO__LONG_BYTES, &v);
        if (!err) *(int64_t *)(void *)dst = v;
        return err;
    case MM_AVRO__INT:
        err = mm_avro__in_varint(in, MM_AVRO__INT_BYTES, &v);
        if (!err) *(int32_t *)(void *)dst = (int32_t)v;
        return err;
    case MM_AVRO__DOUBLE:
        if (in->len - in->pos < sizeof(double))
            return mm_avro__in_fail(in, MM_ERR_PARSE, at, "truncated double");
        get_doubles(in->body + in->pos, (double *)(void *)dst, 1);
        in->pos += sizeof(double);
        return MM_OK;
    case MM_AVRO__BOOLEAN:
        if (in->pos >= in->len) return mm_avro__in_fail(in, MM_ERR_PARSE, at, "truncated boolean");
        if (in->body[in->pos] > 1)
            return mm_avro__in_fail(in, MM_ERR_PARSE, at, "boolean byte 0x%02x is not 0 or 1",
                                    in->body[in->pos]);
        *(bool *)(void *)dst = in->body[in->pos++] != 0;
        return MM_OK;
    case MM_AVRO__ENUM:
        if ((err = mm_avro__in_varint(in, MM_AVRO__INT_BYTES, &v))) return err;
        if (v < 0 || v >= f->n_symbols)
            return mm_avro__in_fail(in, MM_ERR_PARSE, at,
                                    "enum index %" PRId64 " out of range 0..%d", v,
                                    f->n_symbols - 1);
        *(int *)(void *)dst = (int)v;
        return MM_OK;
    case MM_AVRO__STRING:
        err = decode_string(in, false, &s, NULL);
        if (!err) *(const char **)(void *)dst = (const char *)s;
        return err;
    case MM_AVRO__BYTES:
        err = decode_string(in, true, &s, MM_AVRO__AT(rec, f->count, size_t));
        if (!err) *(const uint8_t **)(void *)dst = s;
        return err;
    case MM_AVRO__RECORD:
        return decode_record(in, f->record, dst, rec);
    }
    return mm_avro__in_fail(in, MM_ERR_SCHEMA, at, "unknown descriptor kind %d", (int)f->kind);
}

/* The item count an array must have, when another field fixes it (else SIZE_MAX). */
static size_t expected_count(const mm_avro__field_t *f, const uint8_t *rec, const uint8_t *parent) {
    switch (f->count_rule) {
    case MM_AVRO__COUNT_OWN:
        return SIZE_MAX;
    case MM_AVRO__COUNT_SAME:
        return *MM_AVRO__CAT(rec, f->count, size_t);
    case MM_AVRO__COUNT_PARENT:
        return parent ? *MM_AVRO__CAT(parent, f->count, size_t) : 0;
    case MM_AVRO__COUNT_PRODUCT: {
        size_t a = *MM_AVRO__CAT(rec, f->count, size_t), b = *MM_AVRO__CAT(rec, f->count2, size_t);
        return b && a > SIZE_MAX / b ? SIZE_MAX - 1 : a * b;
    }
    }
    return 0;
}

/* The items of one block, appended at items[n..n+count). */
static mm_err_t decode_items(mm_avro__in_t *in, const mm_avro__field_t *f, uint8_t *items, size_t n,
                             size_t count, uint8_t *rec, size_t *own) {
    mm_err_t err = MM_OK;
    if (f->kind == MM_AVRO__DOUBLE) {
        /* count <= remaining / 8 was checked with the block header. */
        get_doubles(in->body + in->pos, (double *)(void *)items + n, count);
        in->pos += count * sizeof(double);
        return MM_OK;
    }
    if ((err = mm_avro__in_push(in, NULL, n))) return err;
    int frame = in->path.depth - 1;
    if (f->kind == MM_AVRO__LONG) {
        int64_t *out = (int64_t *)(void *)items + n;
        for (size_t i = 0; i < count && !err; i++) {
            in->path.frames[frame].index = n + i;
            err = mm_avro__in_varint(in, MM_AVRO__LONG_BYTES, &out[i]);
        }
    } else {
        for (size_t i = 0; i < count && !err; i++) {
            in->path.frames[frame].index = n + i;
            /* Counted before filling, so a failure frees what was read. */
            if (own) *own = n + i + 1;
            err = decode_value(in, f, items + (n + i) * f->item_size, rec);
        }
    }
    in->path.depth--;
    return err;
}

static mm_err_t count_mismatch(mm_avro__in_t *in, size_t at, const mm_avro__field_t *f, size_t got,
                               size_t want) {
    return mm_avro__in_fail(in, MM_ERR_PARSE, at, "%zu items, expected %zu (%s)", got, want,
                            f->count_of ? f->count_of : "count");
}

/* Owning items (strings, records) start zeroed so that a partial array can be freed. */
static bool grow(void **items, size_t *cap, size_t need, const mm_avro__field_t *f) {
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap * 2 : need;
    if (cap2 < need) cap2 = need;
    uint8_t *grown = realloc(*items, cap2 * f->item_size);
    if (!grown) return false;
    if (f->kind == MM_AVRO__STRING || f->kind == MM_AVRO__RECORD)
        memset(grown + *cap * f->item_size, 0, (cap2 - *cap) * f->item_size);
    *items = grown;
    *cap = cap2;
    return true;
}

/* Blocks of (count, [byte size if count < 0], items), ending with count 0. */
static mm_err_t decode_array(mm_avro__in_t *in, const mm_avro__field_t *f, uint8_t *rec,
                             const uint8_t *parent) {
    void **slot = MM_AVRO__AT(rec, f->offset, void *);
    size_t *own = f->count_rule == MM_AVRO__COUNT_OWN ? MM_AVRO__AT(rec, f->count, size_t) : NULL;
    size_t want = expected_count(f, rec, parent);
    size_t min = kind_min(f->kind, f->record), n = 0, cap = 0, at = in->pos;
    for (;;) {
        size_t count = 0, block_end = SIZE_MAX, block_at = in->pos;
        mm_err_t err = mm_avro__in_block(in, min, &count, &block_end);
        if (err) return err;
        if (!count) break;
        size_t block_start = in->pos;
        if (!own && count > want - n) return count_mismatch(in, block_at, f, n + count, want);
        if (!grow(slot, &cap, n + count, f)) return nomem(in);
        if ((err = decode_items(in, f, *slot, n, count, rec, own))) return err;
        n += count;
        if (block_end != SIZE_MAX && in->pos != block_end)
            return mm_avro__in_fail(in, MM_ERR_PARSE, block_at,
                                    "array block byte size %zu does not match its items "
                                    "(%zu bytes)",
                                    block_end - block_start, in->pos - block_start);
    }
    if (own)
        *own = n;
    else if (n != want)
        return count_mismatch(in, at, f, n, want);
    return MM_OK;
}

static mm_err_t decode_field(mm_avro__in_t *in, const mm_avro__field_t *f, uint8_t *rec,
                             const uint8_t *parent) {
    if (f->nullable) {
        size_t at = in->pos;
        int64_t branch = 0;
        mm_err_t err = mm_avro__in_varint(in, MM_AVRO__LONG_BYTES, &branch);
        if (err) return err;
        if (branch < 0 || branch > 1)
            return mm_avro__in_fail(in, MM_ERR_PARSE, at,
                                    "union index %" PRId64 " out of range 0..1", branch);
        if (branch == 0) return MM_OK;
        if (f->kind == MM_AVRO__RECORD) *MM_AVRO__AT(rec, f->presence, bool) = true;
    }
    if (f->array) return decode_array(in, f, rec, parent);
    return decode_value(in, f, rec + f->offset, rec);
}

/* The first @p n_fields fields of @p record: all of them, or what an older writer wrote. */
static mm_err_t decode_fields(mm_avro__in_t *in, const mm_avro__record_t *record, size_t n_fields,
                              uint8_t *rec, const uint8_t *parent) {
    for (size_t i = 0; i < n_fields; i++) {
        const mm_avro__field_t *f = &record->fields[i];
        mm_err_t err = mm_avro__in_push(in, f->name, 0);
        if (!err) err = decode_field(in, f, rec, parent);
        if (err) return err;
        in->path.depth--;
    }
    return MM_OK;
}

static mm_err_t decode_record(mm_avro__in_t *in, const mm_avro__record_t *record, uint8_t *rec,
                              const uint8_t *parent) {
    return decode_fields(in, record, record->n_fields, rec, parent);
}

/*
 * The fields a retired writer did not write take their schema defaults.
 * avro_versions.c admits only scalars and null there, so this copies values
 * and allocates nothing.
 */
static void fill_defaults(const mm_avro__record_t *record, size_t from, const uint8_t *defaults,
                          uint8_t *rec) {
    static const size_t sizes[] = {
        [MM_AVRO__LONG] = sizeof(int64_t),  [MM_AVRO__INT] = sizeof(int32_t),
        [MM_AVRO__DOUBLE] = sizeof(double), [MM_AVRO__BOOLEAN] = sizeof(bool),
        [MM_AVRO__ENUM] = sizeof(int),
    };
    for (size_t i = from; i < record->n_fields; i++) {
        const mm_avro__field_t *f = &record->fields[i];
        if (f->nullable || f->array || (size_t)f->kind >= sizeof(sizes) / sizeof(sizes[0]))
            continue; /* absent: already zeroed */
        memcpy(rec + f->offset, defaults + f->offset, sizes[f->kind]);
    }
}

mm_err_t mm_avro_decode(mm_record_type_t type, const void *payload, size_t len, void *rec,
                        char *errstr, size_t errstr_size) {
    if ((int)type < 0 || type >= MM_RECORD__COUNT || !rec)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "decode: bad type or NULL record");
    const mm_avro__record_t *record = mm_avro__descriptor(type);
    memset(rec, 0, record->size);
    size_t n_fields = 0;
    const uint8_t *defaults = NULL;
    mm_err_t err =
        mm_avro__frame_check(type, payload, len, &n_fields, &defaults, errstr, errstr_size);
    if (err) return err;
    mm_avro__in_t in = {
        .body = (const uint8_t *)payload + MM_WIRE_HEADER_LEN,
        .len = len - MM_WIRE_HEADER_LEN,
        .base = MM_WIRE_HEADER_LEN,
        .path = {.record = record->name},
        .errstr = errstr,
        .errstr_size = errstr_size,
    };
    err = decode_fields(&in, record, n_fields, rec, NULL);
    if (!err && defaults) fill_defaults(record, n_fields, defaults, rec);
    if (!err && in.pos != in.len)
        err = mm_avro__in_fail(&in, MM_ERR_PARSE, in.pos, "%zu trailing bytes after the record",
                               in.len - in.pos);
    if (err) mm_avro_clear(type, rec);
    return err;
}
