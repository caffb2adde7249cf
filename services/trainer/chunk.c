/*
 * chunk.c - encoding and decoding of one history chunk (see chunk.h).
 *
 * Workload: the poll thread encodes one or two chunks per ObservationBatch
 * (a few thousand rows), a worker decodes a key's chunks once per training;
 * both are a pass over the rows plus zlib at its fastest level.
 */
#include "chunk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "mm/util.h"

#define CHUNK_MAGIC      "MMHC"
#define CHUNK_VERSION    1
#define CHUNK_HEADER     16
#define CHUNK_FLAG_ZLIB  0x01
#define CHUNK_ZLIB_LEVEL 1 /* fastest: most of the gain comes from the byte transposition */
/* Smaller chunks are stored raw: setting up deflate costs more than it saves on
 * the few rows of a small append (a day at a time). */
#define CHUNK_ZLIB_MIN_ROWS 256
#define CHUNK_MAX_EXOG      255
#define WORD                8

bool mm_trainer_rows_reserve(mm_trainer_rows_t *r, size_t cap) {
    if (cap <= r->cap) return true;
    size_t ncap = r->cap ? r->cap : 256;
    while (ncap < cap) ncap *= 2;
    int64_t *t = realloc(r->t, ncap * sizeof(*t));
    if (t) r->t = t;
    double *y = realloc(r->y, ncap * sizeof(*y));
    if (y) r->y = y;
    double *x = r->n_exog ? realloc(r->x, ncap * r->n_exog * sizeof(*x)) : r->x;
    if (x) r->x = x;
    if (!t || !y || (r->n_exog && !x)) return false;
    r->cap = ncap;
    return true;
}

void mm_trainer_rows_free(mm_trainer_rows_t *r) {
    free(r->t);
    free(r->y);
    free(r->x);
    size_t n_exog = r->n_exog;
    memset(r, 0, sizeof(*r));
    r->n_exog = n_exog;
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}

/* Word w of the payload, little-endian, at its transposed place among n words. */
static void put_word(uint8_t *payload, size_t n, size_t w, uint64_t v) {
    for (size_t b = 0; b < WORD; b++) payload[b * n + w] = (uint8_t)(v >> (8 * b));
}

static uint64_t get_word(const uint8_t *payload, size_t n, size_t w) {
    uint64_t v = 0;
    for (size_t b = 0; b < WORD; b++) v |= (uint64_t)payload[b * n + w] << (8 * b);
    return v;
}

static uint64_t dbits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bitsd(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

mm_err_t mm_trainer_chunk_encode(const mm_trainer_rows_t *r, size_t from, size_t n, mm_buf_t *out,
                                 char *errstr, size_t errstr_size) {
    const size_t nx = r->n_exog;
    if (n == 0 || n > UINT32_MAX / WORD / (2 + nx) || nx > CHUNK_MAX_EXOG)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "history chunk of %zu rows x %zu columns cannot be encoded", n, nx);
    const size_t words = n * (2 + nx), raw_len = words * WORD;
    uint8_t *raw = malloc(raw_len);
    if (!raw) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "history chunk: out of memory");
    size_t w = 0;
    put_word(raw, words, w++, (uint64_t)r->t[from]);
    for (size_t i = 1; i < n; i++)
        put_word(raw, words, w++, (uint64_t)r->t[from + i] - (uint64_t)r->t[from + i - 1]);
    for (size_t i = 0; i < n; i++) put_word(raw, words, w++, dbits(r->y[from + i]));
    for (size_t j = 0; j < nx; j++)
        for (size_t i = 0; i < n; i++) put_word(raw, words, w++, dbits(r->x[(from + i) * nx + j]));

    uLongf zlen = compressBound((uLong)raw_len);
    mm_buf_reset(out);
    mm_err_t err = mm_buf_reserve(out, CHUNK_HEADER + (size_t)zlen);
    if (err) {
        free(raw);
        return mm_errf(err, errstr, errstr_size, "history chunk: out of memory");
    }
    uint8_t *hdr = out->data;
    memcpy(hdr, CHUNK_MAGIC, 4);
    hdr[4] = CHUNK_VERSION;
    hdr[5] = 0;
    hdr[6] = (uint8_t)nx;
    hdr[7] = 0;
    put_u32(hdr + 8, (uint32_t)n);
    put_u32(hdr + 12, (uint32_t)raw_len);
    if (n >= CHUNK_ZLIB_MIN_ROWS &&
        compress2(hdr + CHUNK_HEADER, &zlen, raw, (uLong)raw_len, CHUNK_ZLIB_LEVEL) == Z_OK &&
        zlen < raw_len) {
        hdr[5] = CHUNK_FLAG_ZLIB;
        out->len = CHUNK_HEADER + (size_t)zlen;
    } else {
        memcpy(hdr + CHUNK_HEADER, raw, raw_len);
        out->len = CHUNK_HEADER + raw_len;
    }
    free(raw);
    return MM_OK;
}

mm_err_t mm_trainer_chunk_decode(const void *blob, size_t len, mm_trainer_rows_t *r,
                                 const char *what, char *errstr, size_t errstr_size) {
    const uint8_t *p = blob;
    if (!p || len < CHUNK_HEADER || memcmp(p, CHUNK_MAGIC, 4) != 0)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "%s: not a history chunk", what);
    if (p[4] != CHUNK_VERSION || (p[5] & ~CHUNK_FLAG_ZLIB))
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                       "%s: history chunk format %u (flags %#x) is not known", what, p[4], p[5]);
    const size_t cnx = p[6], n = get_u32(p + 8), raw_len = get_u32(p + 12);
    const size_t words = n * (2 + cnx);
    if (n == 0 || raw_len != words * WORD ||
        (!(p[5] & CHUNK_FLAG_ZLIB) && len != CHUNK_HEADER + raw_len))
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                       "%s: history chunk of %zu rows has %zu bytes", what, n, len);
    const uint8_t *payload = p + CHUNK_HEADER;
    uint8_t *inflated = NULL;
    if (p[5] & CHUNK_FLAG_ZLIB) {
        inflated = malloc(raw_len);
        uLongf got = (uLongf)raw_len;
        if (!inflated) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", what);
        if (uncompress(inflated, &got, payload, (uLong)(len - CHUNK_HEADER)) != Z_OK ||
            got != raw_len) {
            free(inflated);
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "%s: history chunk is corrupt", what);
        }
        payload = inflated;
    }
    if (!mm_trainer_rows_reserve(r, r->n + n)) {
        free(inflated);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: history too large", what);
    }
    const size_t at = r->n, nx = r->n_exog;
    size_t w = 0;
    int64_t t = (int64_t)get_word(payload, words, w++);
    r->t[at] = t;
    for (size_t i = 1; i < n; i++) {
        t = (int64_t)((uint64_t)t + get_word(payload, words, w++));
        r->t[at + i] = t;
    }
    for (size_t i = 0; i < n; i++) r->y[at + i] = bitsd(get_word(payload, words, w++));
    for (size_t j = 0; j < cnx; j++)
        for (size_t i = 0; i < n; i++) {
            double v = bitsd(get_word(payload, words, w++));
            if (j < nx) r->x[(at + i) * nx + j] = v;
        }
    for (size_t j = cnx; j < nx; j++)
        for (size_t i = 0; i < n; i++) r->x[(at + i) * nx + j] = NAN;
    r->n += n;
    free(inflated);
    return MM_OK;
}
