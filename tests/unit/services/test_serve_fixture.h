/*
 * test_serve_fixture.h - what the serve tests share: a forecasting dataset
 * ("sales", daily, price known in advance, a ridge regressor), scoring data
 * in the scorer's state store, artifacts trained here and put in a file://
 * blob store under production/, decisions pointing at them, and a scorer
 * and serving state over all of it. No Kafka: decisions are applied
 * directly and the state is marked as caught up.
 */
#ifndef MMT_SERVE_FIXTURE_H
#define MMT_SERVE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/blob.h"
#include "mm/buf.h"
#include "mm/httpd.h"
#include "mm/metrics.h"
#include "mm/records.h"
#include "mm/spec.h"
#include "scorer.h"
#include "serve.h"

#define SFX_DAY_MS  86400000LL
#define SFX_DAYS    120 /* days of scoring data per key: 0 .. SFX_DAYS-1 */
#define SFX_HORIZON 7

/* Keys of the fixture. */
#define SFX_KEY      "store=1/item=1" /* a champion (version 1) trained on days 0..99 */
#define SFX_FALLBACK "store=2/item=1" /* scoring data, no decision: a fitted fallback */
#define SFX_BROKEN   "store=3/item=1" /* a decision whose artifact is missing */
#define SFX_UNKNOWN  "store=9/item=9" /* nothing at all */

typedef struct sfx {
    char *tmpdir;
    char blob_url[4200];
    char state_path[4200];
    char sink_path[4200];
    mm_spec_t spec;
    mm_kv_list_t kafka;
    mm_scorer_t *scorer;
    mm_serve_t *serve;
    mm_metrics_t *metrics;
    mm_httpd_t *httpd; /* routes registered; started only by sfx_listen */
    mm_serve_tokens_t tokens;
} sfx_t;

typedef struct sfx_opts {
    const char *spec_extra;  /* JSON members appended to the spec ("\"scoring\": {...}") */
    const char *tokens;      /* comma-separated bearer tokens, or NULL */
    size_t max_keys;         /* 0: the default */
    size_t max_body;         /* 0: the default */
    int64_t failure_hold_ms; /* 0: the default; < 0 none */
    bool not_caught_up;      /* leave readiness to the test */
    const char *spec_json;   /* another dataset spec; with it, no data and no decisions */
} sfx_opts_t;

/** @brief The fixture's dataset spec as JSON, with @p extra members (may be NULL). */
void sfx_spec_text(char *out, size_t size, const char *extra);

/** The fixture's data: day @p day's price, and its sales for a price coefficient. */
double sfx_price_of(int day);
double sfx_sales_of(int day, double price_coef);

/** @brief Build everything (asserts on failure). */
void sfx_init(sfx_t *fx, const sfx_opts_t *opts);

/** @brief Start listening on 127.0.0.1:0 (or HTTPS with @p cert_pem, @p key_pem). */
void sfx_listen(sfx_t *fx, const char *cert_pem, const char *key_pem);

void sfx_fini(sfx_t *fx);

/**
 * @brief Train @p key's model on days [0, @p train_days) (target: a weekly
 * pattern plus @p price_coef * price) and put its artifact under production/.
 * @returns a decision (owned: mm_model_decision_clear) naming it as version
 * @p version.
 */
mm_model_decision_t sfx_train_decision(sfx_t *fx, const char *key, int train_days,
                                       double price_coef, int32_t version);

/** @returns a deep copy of @p d (owned). */
mm_model_decision_t sfx_decision_copy(const mm_model_decision_t *d);

/** @brief A decision for @p key whose artifact does not exist. */
mm_model_decision_t sfx_missing_decision(sfx_t *fx, const char *key);

#define SFX_OBS_MAX 400 /* days one sfx_obs_t holds */

/** An ObservationBatch of one key and the arrays it points into. */
typedef struct sfx_obs {
    int64_t time_ms[SFX_OBS_MAX];
    double target[SFX_OBS_MAX];
    double price[SFX_OBS_MAX];
    int64_t line[SFX_OBS_MAX];
    mm_obs_column_t column;
    mm_observation_batch_t batch; /* points into this struct: do not copy or move it */
} sfx_obs_t;

/**
 * @brief Fill @p obs with @p key's days [@p from, @p to) of the fixture's
 * data (sfx_sales_of(day, 2.0), the price column), as one whole load
 * @p load_id of one batch (end_of_load with its row and batch counts); line
 * numbers start at 2, after a CSV header.
 */
void sfx_observations(const sfx_t *fx, const char *key, int from, int to, const char *load_id,
                      sfx_obs_t *obs);

/** @brief sfx_observations() Avro-encoded into @p out (reset first; mm_avro_init() done). */
void sfx_encode_observations(const sfx_t *fx, const char *key, int from, int to,
                             const char *load_id, mm_buf_t *out);

/** @brief Store @p key's scoring data: days [0, SFX_DAYS). */
void sfx_add_scoring_data(sfx_t *fx, const char *key);

/**
 * @brief A request through the server's routing, without a socket.
 * @param auth an Authorization header value, or NULL.
 * @returns the status; *body receives the response body (free()).
 */
int sfx_request(sfx_t *fx, const char *method, const char *path, const char *body, const char *auth,
                char **out_body);

/** @returns the epoch ms of day @p day as the API writes it ("1970-01-..T00:00:00Z"). */
void sfx_day_iso(int day, char *out, size_t out_size);

#endif
