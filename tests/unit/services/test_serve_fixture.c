/*
 * test_serve_fixture.c - see test_serve_fixture.h.
 */
#include "test_serve_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "mm/avro.h"
#include "mm/blob_layout.h"
#include "mm/fs.h"
#include "mm/model.h"
#include "mm/sha256.h"
#include "scoring_data.h"
#include "support.h"

#define TRAIN_MAX 400

static const char *const spec_head =
    "{\"name\": \"sales\", \"task\": \"forecast\", \"key\": [\"store\", \"item\"],\n"
    " \"time\": {\"column\": \"date\", \"format\": \"%Y-%m-%d\", \"frequency\": \"day\"},\n"
    " \"target\": {\"column\": \"sales\"},\n"
    " \"features\": {\"exogenous\": [\"price\"], \"known_in_advance\": [\"price\"],\n"
    "              \"lags\": [7]},\n"
    " \"algorithms\": [\"ridge\"], \"horizon\": 7, \"holdout\": 7";

void sfx_spec_text(char *out, size_t size, const char *extra) {
    snprintf(out, size, "%s%s%s}\n", spec_head, extra ? ",\n " : "", extra ? extra : "");
}

double sfx_price_of(int day) {
    return 10.0 + (double)((day * 7) % 5);
}

double sfx_sales_of(int day, double price_coef) {
    return 50.0 + 10.0 * sin(2.0 * M_PI * (double)(day % 7) / 7.0) + price_coef * sfx_price_of(day);
}

void sfx_day_iso(int day, char *out, size_t out_size) {
    time_t secs = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void sfx_observations(const sfx_t *fx, const char *key, int from, int to, const char *load_id,
                      sfx_obs_t *obs) {
    cr_assert(from >= 0 && from <= to && to - from <= SFX_OBS_MAX, "days [%d, %d)", from, to);
    size_t n = 0;
    for (int d = from; d < to; d++, n++) {
        obs->time_ms[n] = d * SFX_DAY_MS;
        obs->target[n] = sfx_sales_of(d, 2.0);
        obs->price[n] = sfx_price_of(d);
        obs->line[n] = (int64_t)n + 2;
    }
    obs->column = (mm_obs_column_t){.name = "price", .values = obs->price};
    obs->batch = (mm_observation_batch_t){.dataset = "sales",
                                          .spec_hash = fx->spec.hash,
                                          .partition_key = key,
                                          .load_id = load_id,
                                          .source = "test",
                                          .end_of_load = true,
                                          .load_rows_for_key = (int64_t)n,
                                          .load_batches_for_key = 1,
                                          .n_rows = n,
                                          .time_ms = obs->time_ms,
                                          .target = obs->target,
                                          .line = obs->line,
                                          .n_columns = 1,
                                          .columns = &obs->column};
}

void sfx_encode_observations(const sfx_t *fx, const char *key, int from, int to,
                             const char *load_id, mm_buf_t *out) {
    static sfx_obs_t obs; /* 13 KB: off the stack */
    sfx_observations(fx, key, from, to, load_id, &obs);
    char errstr[512];
    mm_buf_reset(out);
    cr_assert_eq(mm_avro_encode_observation_batch(&obs.batch, out, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
}

void sfx_add_scoring_data(sfx_t *fx, const char *key) {
    char errstr[1024];
    mm_scoring_data_t *sd =
        mm_scoring_data_open(fx->state_path, &fx->spec, 400, "mm-scorer", errstr, sizeof(errstr));
    cr_assert_not_null(sd, "%s", errstr);
    static sfx_obs_t obs;
    sfx_observations(fx, key, 0, SFX_DAYS, "load-1", &obs);
    cr_assert_eq(mm_scoring_data_apply(sd, NULL, 0, 0, &obs.batch, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    mm_scoring_data_close(sd);
}

mm_model_decision_t sfx_train_decision(sfx_t *fx, const char *key, int train_days,
                                       double price_coef, int32_t version) {
    cr_assert_leq(train_days, TRAIN_MAX);
    static int64_t t[TRAIN_MAX];
    static double y[TRAIN_MAX], price[TRAIN_MAX];
    for (int d = 0; d < train_days; d++) {
        t[d] = d * SFX_DAY_MS;
        y[d] = sfx_sales_of(d, price_coef);
        price[d] = sfx_price_of(d);
    }
    const double *exog[] = {price};
    mm_series_t series = {.n = (size_t)train_days, .time_ms = t, .y = y, .n_exog = 1, .exog = exog};
    mm_train_result_t res = {0};
    char errstr[1024];
    cr_assert_eq(mm_model_train(&fx->spec.model, &series, &res, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    char sha[MM_SHA256_HEX_LEN + 1], cand[1024], prod[1024];
    mm_sha256_hex(res.artifact, res.artifact_len, sha);
    cr_assert_eq(mm_blob_layout_candidate(cand, sizeof(cand), "sales", key, sha), MM_OK);
    cr_assert_eq(mm_blob_layout_production(cand, prod, sizeof(prod)), MM_OK);
    mm_blob_t *blob = mm_blob_new(fx->blob_url, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
    cr_assert_eq(mm_blob_put_immutable(blob, prod, res.artifact, res.artifact_len, sha, errstr,
                                       sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_blob_destroy(blob);
    char train_id[80];
    snprintf(train_id, sizeof(train_id), "train-%s-v%d", sha, (int)version);
    train_id[sizeof(train_id) - 1] = '\0';
    mm_model_decision_t d = {
        .partition_key = strdup(key),
        .dataset = strdup("sales"),
        .spec_hash = strdup(fx->spec.hash),
        .decision = MM_DECISION_APPROVED,
        .reason = strdup("approved in the test"),
        .candidate_train_id = strdup(train_id),
        .candidate_version = version,
        .decided_at_ms = 1000,
        .has_production = true,
        .production = {.train_id = strdup(train_id),
                       .version = version,
                       .algorithm = strdup(mm_algo_name(res.algorithm)),
                       .artifact_uri = strdup(prod),
                       .artifact_sha256 = strdup(sha),
                       .artifact_size = (int64_t)res.artifact_len,
                       .data_end_ms = (train_days - 1) * SFX_DAY_MS,
                       .n_rows = train_days,
                       .load_id = strdup("load-1")},
    };
    mm_train_result_clear(&res);
    return d;
}

static char *dup_opt(const char *s) {
    return s ? strdup(s) : NULL;
}

mm_model_decision_t sfx_decision_copy(const mm_model_decision_t *in) {
    mm_model_decision_t d = *in;
    d.partition_key = dup_opt(in->partition_key);
    d.dataset = dup_opt(in->dataset);
    d.spec_hash = dup_opt(in->spec_hash);
    d.reason = dup_opt(in->reason);
    d.candidate_train_id = dup_opt(in->candidate_train_id);
    d.production.train_id = dup_opt(in->production.train_id);
    d.production.algorithm = dup_opt(in->production.algorithm);
    d.production.artifact_uri = dup_opt(in->production.artifact_uri);
    d.production.artifact_sha256 = dup_opt(in->production.artifact_sha256);
    d.production.load_id = dup_opt(in->production.load_id);
    return d;
}

mm_model_decision_t sfx_missing_decision(sfx_t *fx, const char *key) {
    (void)fx;
    char sha[MM_SHA256_HEX_LEN + 1], cand[1024], prod[1024];
    mm_sha256_hex(key, strlen(key), sha);
    cr_assert_eq(mm_blob_layout_candidate(cand, sizeof(cand), "sales", key, sha), MM_OK);
    cr_assert_eq(mm_blob_layout_production(cand, prod, sizeof(prod)), MM_OK);
    mm_model_decision_t d = {.partition_key = strdup(key),
                             .dataset = strdup("sales"),
                             .decision = MM_DECISION_APPROVED,
                             .has_production = true,
                             .production = {.train_id = strdup("train-missing"),
                                            .version = 1,
                                            .algorithm = strdup("ridge"),
                                            .artifact_uri = strdup(prod),
                                            .artifact_sha256 = strdup(sha),
                                            .artifact_size = -1,
                                            .data_end_ms = 0}};
    return d;
}

void sfx_init(sfx_t *fx, const sfx_opts_t *opts) {
    static const sfx_opts_t none = {0};
    if (!opts) opts = &none;
    memset(fx, 0, sizeof(*fx));
    char errstr[1024];
    fx->tmpdir = mmt_tmpdir("serve");
    cr_assert_not_null(fx->tmpdir);
    snprintf(fx->blob_url, sizeof(fx->blob_url), "file://%s/blobs", fx->tmpdir);
    cr_assert_eq(mm_mkdirs(fx->blob_url + strlen("file://"), errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    snprintf(fx->state_path, sizeof(fx->state_path), "%s/state.db", fx->tmpdir);
    snprintf(fx->sink_path, sizeof(fx->sink_path), "%s/sink.db", fx->tmpdir);
    char spec_text[4096];
    if (opts->spec_json)
        snprintf(spec_text, sizeof(spec_text), "%s", opts->spec_json);
    else
        sfx_spec_text(spec_text, sizeof(spec_text), opts->spec_extra);
    cr_assert_eq(
        mm_spec_parse(spec_text, strlen(spec_text), "test spec", &fx->spec, errstr, sizeof(errstr)),
        MM_OK, "%s", errstr);
    mm_scorer_config_t cfg = {.bootstrap = "127.0.0.1:9",
                              .kafka = &fx->kafka,
                              .spec = &fx->spec,
                              .blob_url = fx->blob_url,
                              .sink_path = fx->sink_path,
                              .cache_bytes = 64u << 20,
                              .state_path = fx->state_path,
                              .group_id = "mm-scorer-test"};
    fx->scorer = mm_scorer_new(&cfg, errstr, sizeof(errstr));
    cr_assert_not_null(fx->scorer, "%s", errstr);
    if (!opts->spec_json) {
        sfx_add_scoring_data(fx, SFX_KEY);
        sfx_add_scoring_data(fx, SFX_FALLBACK);
        sfx_add_scoring_data(fx, SFX_BROKEN);
    }
    if (opts->tokens)
        cr_assert_eq(mm_serve_tokens_load(&fx->tokens, NULL, opts->tokens, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
    fx->metrics = mm_metrics_new();
    mm_serve_config_t scfg = {.max_keys = opts->max_keys,
                              .failure_hold_ms = opts->failure_hold_ms,
                              .tokens = &fx->tokens,
                              .metrics = fx->metrics};
    fx->serve = mm_serve_new(fx->scorer, &scfg, errstr, sizeof(errstr));
    cr_assert_not_null(fx->serve, "%s", errstr);
    if (!opts->spec_json) {
        mm_model_decision_t d = sfx_train_decision(fx, SFX_KEY, 100, 2.0, 1);
        cr_assert_eq(mm_serve_put_decision(fx->serve, &d), MM_OK);
        d = sfx_missing_decision(fx, SFX_BROKEN);
        cr_assert_eq(mm_serve_put_decision(fx->serve, &d), MM_OK);
    }
    if (!opts->not_caught_up) mm_serve_set_caught_up(fx->serve);
    mm_httpd_opts_t hopts = {.addr = "127.0.0.1:0",
                             .threads = 4,
                             .max_body = opts->max_body,
                             .metrics = fx->metrics,
                             .ready = mm_serve_ready,
                             .ready_opaque = fx->serve,
                             .json_errors = true,
                             .collect = mm_serve_collect,
                             .collect_opaque = fx->serve,
                             .request_metrics = true};
    fx->httpd = mm_httpd_new(&hopts, errstr, sizeof(errstr));
    cr_assert_not_null(fx->httpd, "%s", errstr);
    cr_assert_eq(mm_serve_routes(fx->serve, fx->httpd, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
}

void sfx_listen(sfx_t *fx, const char *cert_pem, const char *key_pem) {
    char errstr[1024];
    if (cert_pem) { /* a new server with the same routes, speaking HTTPS */
        mm_httpd_destroy(fx->httpd);
        mm_httpd_opts_t hopts = {.addr = "127.0.0.1:0",
                                 .threads = 2,
                                 .metrics = fx->metrics,
                                 .ready = mm_serve_ready,
                                 .ready_opaque = fx->serve,
                                 .json_errors = true,
                                 .tls_cert_pem = cert_pem,
                                 .tls_key_pem = key_pem};
        fx->httpd = mm_httpd_new(&hopts, errstr, sizeof(errstr));
        cr_assert_not_null(fx->httpd, "%s", errstr);
        cr_assert_eq(mm_serve_routes(fx->serve, fx->httpd, errstr, sizeof(errstr)), MM_OK);
    }
    cr_assert_eq(mm_httpd_start(fx->httpd, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

void sfx_fini(sfx_t *fx) {
    mm_httpd_destroy(fx->httpd);
    mm_serve_destroy(fx->serve);
    mm_scorer_destroy(fx->scorer);
    mm_metrics_destroy(fx->metrics);
    mm_kv_list_free(&fx->kafka);
    mm_spec_clear(&fx->spec);
    mmt_rmtree(fx->tmpdir);
    free(fx->tmpdir);
}

int sfx_request(sfx_t *fx, const char *method, const char *path, const char *body, const char *auth,
                char **out_body) {
    mm_httpd_header_t headers[] = {{"Authorization", auth}};
    mm_httpd_request_t req = {.method = method,
                              .path = path,
                              .body = (const uint8_t *)body,
                              .body_len = body ? strlen(body) : 0,
                              .headers = headers,
                              .n_headers = auth ? 1 : 0};
    mm_httpd_response_t resp;
    mm_httpd_handle(fx->httpd, &req, &resp);
    if (out_body) {
        *out_body = malloc(resp.body.len + 1);
        cr_assert_not_null(*out_body);
        if (resp.body.len) memcpy(*out_body, resp.body.data, resp.body.len);
        (*out_body)[resp.body.len] = '\0';
    }
    mm_buf_free(&resp.body);
    return resp.status;
}
