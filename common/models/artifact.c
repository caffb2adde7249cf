/*
 * artifact.c - the model artifact: a compact, versioned, self-describing
 * binary that round-trips exactly.
 *
 * Layout (all integers little-endian, doubles as their IEEE-754 bits):
 *
 *   "MMMODEL\0"  u16 format  u16 algorithm  u32 body_len
 *   body: sections, each  u16 tag  u32 len  payload
 *     1 CONFIG   the model config (period, season, features, tuning)
 *     2 DATA     data end time, observation count, last targets (lags,
 *                seasonal naive), last exogenous values (carry-forward),
 *                residual interval sd per step
 *     3 METRICS  (metric id, backtest value, baseline value) triples
 *     4 PARAMS   named vectors: f64 arrays or byte strings (an XGBoost model;
 *                an ensemble's members as "m<i>.<name>", see ensemble.c)
 *     5 SELECTION  config fields added after the first format-1 writers:
 *                i32 ensemble_max, i32 xgb_min_history, i32 train_window,
 *                i32 xgb_max_bin, i32 backtest_fits, f64 xgb_colsample
 *                (later fields may follow; a field absent, or the whole
 *                section, = 0, the library defaults; xgb_colsample absent
 *                = 1, every feature, as trees were grown before it existed)
 *     6 TELEMETRY  classification: the last rows of raw telemetry, the
 *                longest rolling window, for mm_model_predict_latest:
 *                u32 rows, u32 columns, then f64 values column by column;
 *                absent in artifacts written before it existed
 *     7 KNOWN    u32 known_in_advance mask, written when the model has
 *                exogenous columns; absent = every column known in advance
 *                (what artifacts written before it were backtested with)
 *     8 POOLED   u32 entities: the model was fitted on the rows of this many
 *                series at once (mm_model_train_pooled); written only then.
 *                A reader that predates it loads such a model as one
 *                series' (without a tail, its lags are missing)
 *   u32 CRC-32 of everything before it
 *
 * Sections 5 to 8 and the ensemble (algorithm 10) came later without a
 * format change: a reader that predates them skips the new sections (it
 * forecasts and predicts as before), refuses an ensemble as an unknown
 * algorithm (MM_ERR_UNSUPPORTED), and this reader loads the earlier
 * artifacts, where only mm_model_predict_latest is unavailable.
 *
 * Named parameter vectors make an artifact readable without knowing the
 * algorithm ("alpha", "level", "coef", ...). Unknown section tags are
 * skipped, so a same-format writer may add sections; a newer format number
 * or an unknown algorithm is refused with MM_ERR_UNSUPPORTED; anything
 * short, inconsistent or failing the CRC is MM_ERR_PARSE. Every length is
 * checked against the bytes that remain before anything is allocated.
 *
 * Workload: the scorer loads artifacts on demand (a few KiB, microseconds);
 * the trainer writes one per key.
 */
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

#define MAGIC_LEN  8
#define HEADER_LEN (MAGIC_LEN + 2 + 2 + 4) /* magic, format, algorithm, body length */
#define CRC_LEN    4

enum {
    SEC_CONFIG = 1,
    SEC_DATA = 2,
    SEC_METRICS = 3,
    SEC_PARAMS = 4,
    SEC_SELECTION = 5,
    SEC_TELEMETRY = 6,
    SEC_KNOWN = 7,
    SEC_POOLED = 8
};

/* Telemetry rows an artifact may hold: the longest rolling window allowed. */
#define MAX_TELEMETRY_ROWS 100000

/* ------------------------------------------------------------ CRC-32 */

/* The IEEE polynomial's byte table (reflected 0xEDB88320), as zlib. */
static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu, 0xe963a535u,
    0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u, 0x09b64c2bu, 0x7eb17cbdu,
    0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u, 0xf3b97148u, 0x84be41deu, 0x1adad47du,
    0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u, 0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu,
    0x14015c4fu, 0x63066cd9u, 0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u,
    0xa2677172u, 0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u, 0x26d930acu,
    0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u, 0xcfba9599u, 0xb8bda50fu,
    0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u, 0x2f6f7c87u, 0x58684c11u, 0xc1611dabu,
    0xb6662d3du, 0x76dc4190u, 0x01db7106u, 0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu,
    0x9fbfe4a5u, 0xe8b8d433u, 0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu,
    0x086d3d2du, 0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u, 0x8bbeb8eau,
    0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u, 0x4db26158u, 0x3ab551ceu,
    0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u, 0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au,
    0x346ed9fcu, 0xad678846u, 0xda60b8d0u, 0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u,
    0x5005713cu, 0x270241aau, 0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u,
    0xce61e49fu, 0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au, 0xead54739u,
    0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u, 0x0d6d6a3eu, 0x7a6a5aa8u,
    0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u, 0xf00f9344u, 0x8708a3d2u, 0x1e01f268u,
    0x6906c2feu, 0xf762575du, 0x806567cbu, 0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u,
    0x10da7a5au, 0x67dd4accu, 0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u,
    0xa1d1937eu, 0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u, 0x316e8eefu,
    0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u, 0xcc0c7795u, 0xbb0b4703u,
    0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u, 0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u,
    0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du, 0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au,
    0x9c0906a9u, 0xeb0e363fu, 0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu,
    0x0cb61b38u, 0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u, 0x88085ae6u,
    0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u, 0x616bffd3u, 0x166ccf45u,
    0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u, 0xa7672661u, 0xd06016f7u, 0x4969474du,
    0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu, 0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u,
    0x47b2cf7fu, 0x30b5ffe9u, 0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u,
    0xcdd70693u, 0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t mm_models__crc32(const void *data, size_t len) {
    const uint8_t *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) crc = crc_table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

/* ------------------------------------------------------------ writer */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} wbuf_t;

static void w_bytes(wbuf_t *w, const void *src, size_t n) {
    if (w->failed) return;
    if (n > MM_MODELS__ARTIFACT_MAX - w->len) {
        w->failed = true;
        return;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 1024;
        while (cap < w->len + n) cap *= 2;
        uint8_t *np = realloc(w->p, cap);
        if (!np) {
            w->failed = true;
            return;
        }
        w->p = np;
        w->cap = cap;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void w_u8(wbuf_t *w, uint8_t v) {
    w_bytes(w, &v, 1);
}

static void w_u16(wbuf_t *w, uint16_t v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    w_bytes(w, b, 2);
}

static void w_u32(wbuf_t *w, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, 4);
}

static void w_u64(wbuf_t *w, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, 8);
}

static void w_i32(wbuf_t *w, int32_t v) {
    w_u32(w, (uint32_t)v);
}

static void w_f64(wbuf_t *w, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    w_u64(w, bits);
}

static void w_f64s(wbuf_t *w, const double *v, size_t n) {
    w_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) w_f64(w, v[i]);
}

/* Sections are written with a length placeholder patched afterwards. */
static size_t w_section_begin(wbuf_t *w, uint16_t tag) {
    w_u16(w, tag);
    size_t at = w->len;
    w_u32(w, 0);
    return at;
}

static void w_section_end(wbuf_t *w, size_t at) {
    if (w->failed) return;
    uint32_t len = (uint32_t)(w->len - at - 4);
    for (int i = 0; i < 4; i++) w->p[at + (size_t)i] = (uint8_t)(len >> (8 * i));
}

static void write_config(wbuf_t *w, const mm_model_config_t *c) {
    size_t at = w_section_begin(w, SEC_CONFIG);
    w_u8(w, (uint8_t)c->task);
    w_u64(w, (uint64_t)c->period_ms);
    w_i32(w, c->horizon);
    w_i32(w, c->holdout);
    w_i32(w, c->backtest_windows);
    w_i32(w, c->season_length);
    w_i32(w, c->min_history);
    w_u8(w, (uint8_t)c->fallback);
    w_u32(w, c->candidates);
    w_u8(w, (uint8_t)c->selection_metric);
    w_f64(w, c->interval_level);
    w_i32(w, c->lookahead);
    const mm_feature_config_t *f = &c->features;
    w_u8(w, (uint8_t)f->n_lags);
    for (size_t i = 0; i < f->n_lags; i++) w_i32(w, f->lags[i]);
    w_u8(w, f->calendar ? 1 : 0);
    w_u8(w, (uint8_t)f->n_windows);
    for (size_t i = 0; i < f->n_windows; i++) w_i32(w, f->windows[i]);
    w_u8(w, (uint8_t)f->n_exog);
    w_i32(w, c->ets_trend);
    w_i32(w, c->ets_season);
    w_f64(w, c->ridge_lambda);
    w_f64(w, c->logistic_c);
    w_i32(w, c->xgb_rounds);
    w_i32(w, c->xgb_max_depth);
    w_f64(w, c->xgb_eta);
    w_i32(w, c->class_weight);
    w_section_end(w, at);
    at = w_section_begin(w, SEC_SELECTION);
    w_i32(w, c->ensemble_max);
    w_i32(w, c->xgb_min_history);
    w_i32(w, c->train_window);
    w_i32(w, c->xgb_max_bin);
    w_i32(w, c->backtest_fits);
    w_f64(w, c->xgb_colsample);
    w_section_end(w, at);
    if (f->n_exog > 0) {
        /* without exogenous columns the mask means nothing: artifacts stay as they were */
        at = w_section_begin(w, SEC_KNOWN);
        w_u32(w, f->known_in_advance);
        w_section_end(w, at);
    }
}

mm_err_t mm_models__serialize(const mm_model_t *model, uint8_t **out, size_t *out_len, char *errstr,
                              size_t errstr_size) {
    *out = NULL;
    *out_len = 0;
    mm_models__params_t ps = {0};
    mm_err_t err = model->ops->save(model->state, &ps);
    if (err != MM_OK) {
        mm_models__params_clear(&ps);
        return mm_errf(err, errstr, errstr_size, "%s: cannot store parameters",
                       mm_algo_name(model->algo));
    }

    wbuf_t w = {0};
    w_bytes(&w, MM_ARTIFACT_MAGIC "", MAGIC_LEN); /* includes the terminating NUL */
    w_u16(&w, MM_ARTIFACT_FORMAT);
    w_u16(&w, (uint16_t)model->algo);
    w_u32(&w, 0); /* body length, patched below */

    write_config(&w, &model->cfg);

    size_t at = w_section_begin(&w, SEC_DATA);
    w_u64(&w, (uint64_t)model->data_end_ms);
    w_u64(&w, model->n_obs);
    w_u8(&w, model->nonneg ? 1 : 0);
    w_f64s(&w, model->tail, model->n_tail);
    w_f64s(&w, model->exog_last, model->n_exog);
    w_f64s(&w, model->interval_sd, model->n_interval_sd);
    w_section_end(&w, at);

    if (model->n_telemetry > 0) {
        at = w_section_begin(&w, SEC_TELEMETRY);
        w_u32(&w, (uint32_t)model->n_telemetry);
        w_u32(&w, (uint32_t)model->n_exog);
        for (size_t i = 0; i < model->n_telemetry * model->n_exog; i++)
            w_f64(&w, model->telemetry[i]);
        w_section_end(&w, at);
    }

    if (model->n_entities > 1) {
        at = w_section_begin(&w, SEC_POOLED);
        w_u32(&w, model->n_entities);
        w_section_end(&w, at);
    }

    at = w_section_begin(&w, SEC_METRICS);
    w_u8(&w, MM_METRIC__COUNT);
    for (int i = 0; i < MM_METRIC__COUNT; i++) {
        w_u8(&w, (uint8_t)i);
        w_f64(&w, model->metrics.v[i]);
        w_f64(&w, model->baseline.v[i]);
    }
    w_section_end(&w, at);

    at = w_section_begin(&w, SEC_PARAMS);
    w_u16(&w, (uint16_t)ps.n);
    for (size_t i = 0; i < ps.n; i++) {
        const mm_models__param_t *p = &ps.p[i];
        size_t nl = strlen(p->name);
        w_u8(&w, p->kind);
        w_u8(&w, (uint8_t)nl);
        w_bytes(&w, p->name, nl);
        if (p->kind == MM_MODELS__PARAM_F64) {
            w_f64s(&w, p->v, p->n);
        } else {
            w_u32(&w, p->n);
            w_bytes(&w, p->bytes, p->n);
        }
    }
    w_section_end(&w, at);
    mm_models__params_clear(&ps);

    if (!w.failed) {
        uint32_t body = (uint32_t)(w.len - HEADER_LEN);
        for (int i = 0; i < 4; i++) w.p[MAGIC_LEN + 4 + (size_t)i] = (uint8_t)(body >> (8 * i));
        w_u32(&w, mm_models__crc32(w.p, w.len));
    }
    if (w.failed) {
        free(w.p);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size,
                       "artifact: out of memory or over the %zu-byte cap", MM_MODELS__ARTIFACT_MAX);
    }
    *out = w.p;
    *out_len = w.len;
    return MM_OK;
}

mm_err_t mm_models__train_result_fill(const mm_model_t *model, mm_train_result_t *out, char *errstr,
                                      size_t errstr_size) {
    out->algorithm = model->algo;
    out->metrics = model->metrics;
    out->baseline = model->baseline;
    out->n_members =
        mm_model_members(model, out->members, out->member_weights, MM_MODEL_MAX_ENSEMBLE);
    return mm_models__serialize(model, &out->artifact, &out->artifact_len, errstr, errstr_size);
}

/* ------------------------------------------------------------ reader */

typedef struct rbuf {
    const uint8_t *p;
    size_t len, pos;
    bool failed;
} rbuf_t;

static bool r_need(rbuf_t *r, size_t n) {
    if (r->failed || n > r->len - r->pos) {
        r->failed = true;
        return false;
    }
    return true;
}

static uint64_t r_le(rbuf_t *r, int nbytes) {
    if (!r_need(r, (size_t)nbytes)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++) v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
    r->pos += (size_t)nbytes;
    return v;
}

static uint8_t r_u8(rbuf_t *r) {
    return (uint8_t)r_le(r, 1);
}
static uint16_t r_u16(rbuf_t *r) {
    return (uint16_t)r_le(r, 2);
}
static uint32_t r_u32(rbuf_t *r) {
    return (uint32_t)r_le(r, 4);
}
static int32_t r_i32(rbuf_t *r) {
    return (int32_t)r_u32(r);
}
static double r_f64(rbuf_t *r) {
    uint64_t bits = r_le(r, 8);
    double v;
    memcpy(&v, &bits, 8);
    return v;
}

/* A length-prefixed f64 array; the count is checked against what remains. */
static bool r_f64s(rbuf_t *r, double **out, size_t *n_out, size_t max_n) {
    *out = NULL;
    *n_out = 0;
    uint32_t n = r_u32(r);
    if (r->failed || n > max_n || (size_t)n > (r->len - r->pos) / 8) {
        r->failed = true;
        return false;
    }
    if (n == 0) return true;
    double *v = malloc((size_t)n * sizeof *v);
    if (!v) {
        r->failed = true;
        return false;
    }
    for (uint32_t i = 0; i < n; i++) v[i] = r_f64(r);
    *out = v;
    *n_out = n;
    return true;
}

static bool read_config(rbuf_t *r, mm_model_config_t *c) {
    memset(c, 0, sizeof *c);
    c->task = (mm_task_t)r_u8(r);
    c->period_ms = (int64_t)r_le(r, 8);
    c->horizon = r_i32(r);
    c->holdout = r_i32(r);
    c->backtest_windows = r_i32(r);
    c->season_length = r_i32(r);
    c->min_history = r_i32(r);
    c->fallback = (mm_algo_t)r_u8(r);
    c->candidates = r_u32(r);
    c->selection_metric = (mm_metric_id_t)r_u8(r);
    c->interval_level = r_f64(r);
    c->lookahead = r_i32(r);
    mm_feature_config_t *f = &c->features;
    f->n_lags = r_u8(r);
    if (f->n_lags > MM_MODEL_MAX_LAGS) return false;
    for (size_t i = 0; i < f->n_lags; i++) f->lags[i] = r_i32(r);
    f->calendar = r_u8(r) != 0;
    f->n_windows = r_u8(r);
    if (f->n_windows > MM_MODEL_MAX_WINDOWS) return false;
    for (size_t i = 0; i < f->n_windows; i++) f->windows[i] = r_i32(r);
    f->n_exog = r_u8(r);
    c->ets_trend = r_i32(r);
    c->ets_season = r_i32(r);
    c->ridge_lambda = r_f64(r);
    c->logistic_c = r_f64(r);
    c->xgb_rounds = r_i32(r);
    c->xgb_max_depth = r_i32(r);
    c->xgb_eta = r_f64(r);
    c->class_weight = r_i32(r);
    return !r->failed;
}

static bool read_params(rbuf_t *r, mm_models__params_t *ps) {
    uint16_t count = r_u16(r);
    if (r->failed || count > MM_MODELS__MAX_PARAMS) return false;
    for (uint16_t i = 0; i < count; i++) {
        uint8_t kind = r_u8(r);
        uint8_t nl = r_u8(r);
        if (r->failed || nl == 0 || nl > MM_MODELS__PARAM_NAME_MAX || !r_need(r, nl)) return false;
        char name[MM_MODELS__PARAM_NAME_MAX + 1];
        memcpy(name, r->p + r->pos, nl);
        name[nl] = '\0';
        r->pos += nl;
        if (strlen(name) != nl || mm_models__params_get(ps, name, 0))
            return false; /* embedded NUL or a duplicate name */
        if (kind == MM_MODELS__PARAM_F64) {
            double *v;
            size_t n;
            if (!r_f64s(r, &v, &n, UINT32_MAX)) return false;
            mm_err_t err = mm_models__params_add(ps, name, v, n);
            free(v);
            if (err != MM_OK) return false;
        } else if (kind == MM_MODELS__PARAM_BYTES) {
            uint32_t n = r_u32(r);
            if (!r_need(r, n)) return false;
            if (mm_models__params_add_bytes(ps, name, r->p + r->pos, n) != MM_OK) return false;
            r->pos += n;
        } else {
            return false;
        }
    }
    return true;
}

/* Section 6: rows x columns values, counts checked against what remains. */
static bool read_telemetry(rbuf_t *r, mm_model_t *model, size_t *cols) {
    uint32_t rows = r_u32(r);
    *cols = r_u32(r);
    if (r->failed || rows == 0 || rows > MAX_TELEMETRY_ROWS || *cols > MM_MODEL_MAX_EXOG ||
        (size_t)rows * *cols > (r->len - r->pos) / 8)
        return false;
    size_t count = (size_t)rows * *cols;
    model->telemetry = malloc((count + 1) * sizeof(double));
    if (!model->telemetry) return false;
    for (size_t i = 0; i < count; i++) model->telemetry[i] = r_f64(r);
    model->n_telemetry = rows;
    return !r->failed;
}

/* The header and the CRC; @returns the algorithm's operations, or NULL
 * with the error in @p err. */
static const mm_models__ops_t *check_header(const uint8_t *p, size_t len, mm_err_t *err,
                                            char *errstr, size_t errstr_size) {
    *err = MM_ERR_PARSE;
    if (!p || len < HEADER_LEN + CRC_LEN) {
        mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                "artifact: %zu bytes is shorter than any artifact (truncated)", len);
        return NULL;
    }
    if (len > MM_MODELS__ARTIFACT_MAX) {
        mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: %zu bytes is over the %zu-byte cap",
                len, MM_MODELS__ARTIFACT_MAX);
        return NULL;
    }
    rbuf_t r = {.p = p, .len = len};
    if (memcmp(r.p, MM_ARTIFACT_MAGIC "", MAGIC_LEN) != 0) {
        mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                "artifact: bad magic (not a manymodels model artifact)");
        return NULL;
    }
    r.pos = MAGIC_LEN;
    uint16_t format = r_u16(&r);
    uint16_t algo = r_u16(&r);
    uint32_t body_len = r_u32(&r);
    if (format == 0 || format > MM_ARTIFACT_FORMAT) {
        *err = mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                       "artifact: format version %u is not supported (this build reads 1..%d)",
                       (unsigned)format, MM_ARTIFACT_FORMAT);
        return NULL;
    }
    const mm_models__ops_t *ops = algo < MM_ALGO__COUNT ? mm_models__ops((mm_algo_t)algo) : NULL;
    if (!ops) {
        *err = mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                       "artifact: algorithm id %u is unknown to this build", (unsigned)algo);
        return NULL;
    }
    if ((size_t)body_len != len - HEADER_LEN - CRC_LEN) {
        mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                "artifact: body length %u does not match the %zu bytes given (truncated?)",
                (unsigned)body_len, len);
        return NULL;
    }
    uint32_t crc_stored = 0;
    for (int i = 0; i < CRC_LEN; i++)
        crc_stored |= (uint32_t)p[len - CRC_LEN + (size_t)i] << (8 * i);
    if (mm_models__crc32(p, len - CRC_LEN) != crc_stored) {
        mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: CRC mismatch (corrupt)");
        return NULL;
    }
    *err = MM_OK;
    return ops;
}

/* What the body's sections gave besides the model's own fields. */
typedef struct loaded {
    mm_models__params_t ps;
    bool have_config, have_data, have_params, have_telemetry, have_known;
    size_t telemetry_cols;
    uint32_t known_in_advance;
    int32_t ensemble_max, xgb_min_history, train_window, xgb_max_bin, backtest_fits;
    double xgb_colsample;
} loaded_t;

static const char *read_data(rbuf_t *s, mm_model_t *model) {
    model->data_end_ms = (int64_t)r_le(s, 8);
    model->n_obs = r_le(s, 8);
    model->nonneg = r_u8(s) != 0;
    if (!r_f64s(s, &model->tail, &model->n_tail, UINT32_MAX) ||
        !r_f64s(s, &model->exog_last, &model->n_exog, MM_MODEL_MAX_EXOG) ||
        !r_f64s(s, &model->interval_sd, &model->n_interval_sd, UINT32_MAX))
        return "data section";
    return NULL;
}

static const char *read_metrics(rbuf_t *s, mm_model_t *model) {
    uint8_t count = r_u8(s);
    for (uint8_t i = 0; i < count && !s->failed; i++) {
        uint8_t id = r_u8(s);
        double v = r_f64(s), b = r_f64(s);
        if (id < MM_METRIC__COUNT) {
            model->metrics.v[id] = v;
            model->baseline.v[id] = b;
        }
    }
    return s->failed ? "metrics section" : NULL;
}

/* One section's payload. @returns what is wrong with it, or NULL. */
static const char *read_section(uint16_t tag, rbuf_t *s, mm_model_t *model, loaded_t *ld) {
    switch (tag) {
    case SEC_CONFIG:
        ld->have_config = true;
        return read_config(s, &model->cfg) ? NULL : "config section";
    case SEC_DATA:
        ld->have_data = true;
        return read_data(s, model);
    case SEC_METRICS:
        return read_metrics(s, model);
    case SEC_PARAMS:
        ld->have_params = true;
        return read_params(s, &ld->ps) ? NULL : "parameters section";
    case SEC_SELECTION:
        /* fields appended later may follow: the rest is skipped */
        ld->ensemble_max = r_i32(s);
        ld->xgb_min_history = r_i32(s);
        if (s->len - s->pos >= 4) ld->train_window = r_i32(s); /* absent before it existed */
        if (s->len - s->pos >= 4) ld->xgb_max_bin = r_i32(s);
        if (s->len - s->pos >= 4) ld->backtest_fits = r_i32(s);
        if (s->len - s->pos >= 8) ld->xgb_colsample = r_f64(s);
        s->pos = s->len;
        return s->failed ? "selection section" : NULL;
    case SEC_KNOWN:
        ld->have_known = true;
        ld->known_in_advance = r_u32(s);
        return s->failed ? "known-in-advance section" : NULL;
    case SEC_POOLED:
        model->n_entities = r_u32(s);
        return s->failed || model->n_entities < 2 ? "pooled section" : NULL;
    case SEC_TELEMETRY:
        ld->have_telemetry = true;
        return read_telemetry(s, model, &ld->telemetry_cols) ? NULL : "telemetry section";
    default:
        s->pos = s->len; /* a section this build does not know: skip it */
        return NULL;
    }
}

static const char *read_body(rbuf_t *r, mm_model_t *model, loaded_t *ld) {
    uint32_t seen = 0;
    while (r->pos < r->len) {
        uint16_t tag = r_u16(r);
        uint32_t sec_len = r_u32(r);
        if (r->failed || !r_need(r, sec_len)) return "section header runs past the end";
        rbuf_t s = {.p = r->p + r->pos, .len = sec_len};
        r->pos += sec_len;
        if (tag >= SEC_CONFIG && tag <= SEC_POOLED) {
            /* a second copy would leak the first, and means a broken writer */
            if (seen & (1u << tag)) return "a section appears twice";
            seen |= 1u << tag;
        }
        const char *bad = read_section(tag, &s, model, ld);
        if (bad) return bad;
        if (s.pos != s.len) return "section length does not match its content";
    }
    return NULL;
}

/* Consistency of what was read, config validation included. */
static const char *check_body(mm_model_t *model, const loaded_t *ld, const mm_models__ops_t *ops,
                              char *why, size_t why_size) {
    if (!(ld->have_config && ld->have_data && ld->have_params))
        return "a required section is missing";
    model->cfg.ensemble_max = ld->ensemble_max;
    model->cfg.xgb_min_history = ld->xgb_min_history;
    model->cfg.train_window = ld->train_window;
    model->cfg.xgb_max_bin = ld->xgb_max_bin;
    model->cfg.backtest_fits = ld->backtest_fits;
    model->cfg.xgb_colsample = ld->xgb_colsample;
    size_t n_exog = model->cfg.features.n_exog;
    model->cfg.features.known_in_advance =
        ld->have_known ? ld->known_in_advance
                       : (n_exog >= 32 ? UINT32_MAX : (UINT32_C(1) << n_exog) - 1u);
    if (mm_model_config_validate(&model->cfg, why, why_size) != MM_OK)
        return "config section is inconsistent";
    if (!mm_models__time_in_range(model->data_end_ms))
        return "data end time is outside years 1..9999";
    if (model->cfg.features.n_exog != model->n_exog)
        return "exogenous column count disagrees with the config";
    if (ld->have_telemetry && ld->telemetry_cols != model->n_exog)
        return "telemetry column count disagrees with the config";
    if (ops->task != model->cfg.task) return "algorithm does not match the task";
    return NULL;
}

mm_err_t mm_model_load(const void *artifact, size_t len, mm_model_t **out, char *errstr,
                       size_t errstr_size) {
    *out = NULL;
    mm_err_t err;
    const mm_models__ops_t *ops = check_header(artifact, len, &err, errstr, errstr_size);
    if (!ops) return err;
    mm_model_t *model = mm_models__model_new(NULL);
    if (!model) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "artifact: out of memory");
    model->algo = ops->algo;
    /* trees grown before xgb_colsample existed saw every feature */
    loaded_t ld = {.xgb_colsample = 1.0};
    rbuf_t r = {.p = artifact, .len = len - CRC_LEN, .pos = HEADER_LEN};
    char why[160] = "";
    const char *bad = read_body(&r, model, &ld);
    if (!bad) bad = check_body(model, &ld, ops, why, sizeof why);
    if (bad) {
        mm_models__params_clear(&ld.ps);
        mm_model_destroy(model);
        if (why[0])
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: %s (%s)", bad, why);
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: %s", bad);
    }
    model->ops = ops;
    err = ops->load(&ld.ps, &model->cfg, &model->state, errstr, errstr_size);
    mm_models__params_clear(&ld.ps);
    if (err != MM_OK) {
        mm_model_destroy(model);
        return err;
    }
    model->state_bytes = ops->memsize ? ops->memsize(model->state) : 0;
    *out = model;
    return MM_OK;
}
