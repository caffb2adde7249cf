/*
 * testdata.h - deterministic synthetic series for the model tests: a small
 * PRNG (splitmix64 + Box-Muller) so tests never depend on libc's rand();
 * and artifact surgery for the compatibility tests.
 */
#ifndef MM_TEST_MODELS_TESTDATA_H
#define MM_TEST_MODELS_TESTDATA_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

#define TD_DAY_MS   INT64_C(86400000)
#define TD_START_MS INT64_C(1640995200000) /* 2022-01-01T00:00:00Z, a Saturday */

typedef struct td_rng {
    uint64_t s;
} td_rng_t;

static inline uint64_t td_next(td_rng_t *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline double td_unif(td_rng_t *r) {
    return ((double)(td_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

static inline double td_norm(td_rng_t *r) {
    double u1 = td_unif(r), u2 = td_unif(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* A daily series owning its arrays. */
typedef struct td_series {
    size_t n;
    int64_t *t;
    double *y;
    double *x[4];
    size_t n_exog;
    mm_series_t s;
} td_series_t;

static inline void td_alloc(td_series_t *ts, size_t n, size_t n_exog) {
    ts->n = n;
    ts->n_exog = n_exog;
    ts->t = malloc((n ? n : 1) * sizeof(int64_t));
    ts->y = malloc((n ? n : 1) * sizeof(double));
    for (size_t j = 0; j < n_exog; j++) ts->x[j] = malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) ts->t[i] = TD_START_MS + (int64_t)i * TD_DAY_MS;
    ts->s.n = n;
    ts->s.time_ms = ts->t;
    ts->s.y = ts->y;
    ts->s.n_exog = n_exog;
    ts->s.exog = (const double *const *)ts->x;
}

/* level + trend + weekly pattern + noise */
static inline void td_seasonal(td_series_t *ts, size_t n, uint64_t seed, double level, double trend,
                               double amp, double noise) {
    td_alloc(ts, n, 0);
    td_rng_t r = {seed};
    for (size_t i = 0; i < n; i++)
        ts->y[i] =
            level + trend * (double)i + amp * sin(2 * M_PI * (double)i / 7.0) + noise * td_norm(&r);
}

static inline void td_free(td_series_t *ts) {
    free(ts->t);
    free(ts->y);
    for (size_t j = 0; j < ts->n_exog; j++) free(ts->x[j]);
}

/*
 * Artifact surgery for compatibility tests (layout in common/models/
 * artifact.c: a 16-byte header ending in the u32 body length, tagged
 * sections "u16 tag, u32 len, payload", a CRC-32 trailer): a malloc'd copy
 * of @p a without the sections tagged @p drop_tag, with @p extra (a whole
 * section, may be NULL) appended, length and CRC re-sealed.
 */
static inline uint8_t *td_artifact_edit(const uint8_t *a, size_t len, unsigned drop_tag,
                                        const uint8_t *extra, size_t extra_len, size_t *out_len) {
    uint8_t *b = malloc(len + extra_len);
    size_t at = 16, k = 16;
    memcpy(b, a, 16);
    while (at + 6 <= len - 4) {
        unsigned tag = (unsigned)a[at] | (unsigned)a[at + 1] << 8;
        size_t sec = 6 + ((size_t)a[at + 2] | (size_t)a[at + 3] << 8 | (size_t)a[at + 4] << 16 |
                          (size_t)a[at + 5] << 24);
        if (tag != drop_tag) {
            memcpy(b + k, a + at, sec);
            k += sec;
        }
        at += sec;
    }
    if (extra) {
        memcpy(b + k, extra, extra_len);
        k += extra_len;
    }
    uint32_t body = (uint32_t)(k - 16);
    for (int i = 0; i < 4; i++) b[12 + i] = (uint8_t)(body >> (8 * i));
    uint32_t crc = mm_models__crc32(b, k);
    for (int i = 0; i < 4; i++) b[k + (size_t)i] = (uint8_t)(crc >> (8 * i));
    *out_len = k + 4;
    return b;
}

#endif
