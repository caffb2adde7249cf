/*
 * avro_input.c - the bounded input cursor the decoder validates with: varints
 * of the right width, string and bytes lengths and array block counts checked
 * against the bytes that remain (and an item budget) before anything is
 * allocated, and errors that name the field path and the payload offset.
 *
 * Workload: called per field and per array block; the per-item varint read is
 * inlined in avro_int.h and only falls back here for long or bad varints, so
 * this file favours precise messages over speed.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "avro_int.h"

void mm_avro__path_format(const mm_avro__path_t *path, char *out, size_t size) {
    size_t used = 0;
    int n = snprintf(out, size, "%s", path->record);
    int depth = path->depth < MM_AVRO__MAX_DEPTH ? path->depth : MM_AVRO__MAX_DEPTH;
    for (int d = 0; n >= 0 && d < depth; d++) {
        used += (size_t)n;
        if (used >= size) return;
        if (path->frames[d].field)
            n = snprintf(out + used, size - used, ".%s", path->frames[d].field);
        else
            n = snprintf(out + used, size - used, "[%zu]", path->frames[d].index);
    }
}

mm_err_t mm_avro__in_fail(mm_avro__in_t *in, mm_err_t err, size_t at, const char *fmt, ...) {
    char where[256], what[256];
    mm_avro__path_format(&in->path, where, sizeof(where));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mm_errf(err, in->errstr, in->errstr_size, "%s: %s at offset %zu", where, what,
                   in->base + at);
}

mm_err_t mm_avro__in_push(mm_avro__in_t *in, const char *field, size_t index) {
    if (in->path.depth >= MM_AVRO__MAX_DEPTH)
        return mm_avro__in_fail(in, MM_ERR_PARSE, in->pos, "nesting deeper than %d",
                                MM_AVRO__MAX_DEPTH);
    in->path.frames[in->path.depth].field = field;
    in->path.frames[in->path.depth].index = index;
    in->path.depth++;
    return MM_OK;
}

mm_err_t mm_avro__in_varint_checked(mm_avro__in_t *in, int max_bytes, int64_t *out) {
    size_t start = in->pos;
    const char *type = max_bytes == MM_AVRO__INT_BYTES ? "int" : "long";
    /* The last byte may carry only the 4 (int) or 1 (long) bits that remain. */
    uint8_t last_max = max_bytes == MM_AVRO__INT_BYTES ? 0x0F : 0x01;
    uint64_t raw = 0;
    for (int i = 0;; i++) {
        if (in->pos >= in->len)
            return mm_avro__in_fail(in, MM_ERR_PARSE, start, "truncated %s", type);
        uint8_t b = in->body[in->pos++];
        if (i == max_bytes - 1) {
            if (b & 0x80)
                return mm_avro__in_fail(in, MM_ERR_PARSE, start, "varint longer than %d bytes",
                                        max_bytes);
            if (b > last_max)
                return mm_avro__in_fail(in, MM_ERR_PARSE, start, "varint overflows %s", type);
        }
        raw |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) break;
    }
    *out = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
    return MM_OK;
}

mm_err_t mm_avro__in_length(mm_avro__in_t *in, const char *what, size_t *n) {
    size_t at = in->pos;
    int64_t v = 0;
    mm_err_t err = mm_avro__in_varint(in, MM_AVRO__LONG_BYTES, &v);
    if (err) return err;
    if (v < 0)
        return mm_avro__in_fail(in, MM_ERR_PARSE, at, "negative %s length %" PRId64, what, v);
    if ((uint64_t)v > in->len - in->pos)
        return mm_avro__in_fail(in, MM_ERR_PARSE, at,
                                "%s length %" PRId64 " exceeds remaining %zu bytes", what, v,
                                in->len - in->pos);
    *n = (size_t)v;
    return MM_OK;
}

mm_err_t mm_avro__in_block(mm_avro__in_t *in, size_t min_item, size_t *count, size_t *block_end) {
    size_t at = in->pos;
    int64_t n = 0, block_size = -1;
    *count = 0;
    *block_end = SIZE_MAX;
    mm_err_t err = mm_avro__in_varint(in, MM_AVRO__LONG_BYTES, &n);
    if (err || n == 0) return err;
    if (n < 0) {
        /* (-count, byte size, items): the spec's form for skippable blocks. */
        if (n == INT64_MIN)
            return mm_avro__in_fail(in, MM_ERR_PARSE, at,
                                    "array block count %" PRId64 " out of range", n);
        n = -n;
        size_t size_at = in->pos;
        if ((err = mm_avro__in_varint(in, MM_AVRO__LONG_BYTES, &block_size))) return err;
        if (block_size < 0 || (uint64_t)block_size > in->len - in->pos)
            return mm_avro__in_fail(in, MM_ERR_PARSE, size_at,
                                    "array block byte size %" PRId64
                                    " out of range (remaining %zu)",
                                    block_size, in->len - in->pos);
        *block_end = in->pos + (size_t)block_size;
    }
    size_t remaining = in->len - in->pos;
    if ((uint64_t)n > remaining / min_item)
        return mm_avro__in_fail(in, MM_ERR_PARSE, at,
                                "array block count %" PRId64 " exceeds remaining %zu bytes", n,
                                remaining);
    if ((uint64_t)n > MM_AVRO__MAX_ITEMS - in->items)
        return mm_avro__in_fail(in, MM_ERR_PARSE, at,
                                "array block count %" PRId64
                                " exceeds the budget of %u items per payload",
                                n, MM_AVRO__MAX_ITEMS);
    in->items += (uint64_t)n;
    *count = (size_t)n;
    return MM_OK;
}
