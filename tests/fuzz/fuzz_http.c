/*
 * fuzz_http.c - libFuzzer target: the HTTP request handling of mm-scorer
 * serve (services/scorer/serve*.c behind common/src/httpd.c's routing),
 * through mm_httpd_handle: the same routing, authentication, body limit and
 * handlers as a request on a socket, without one.
 *
 * Input, as text: the method on the first line, the path on the second, then
 * header lines ("Name: value") up to an empty line, then the body (the rest,
 * bytes as they are). A missing part is empty.
 *
 * The fixture, built once: the dataset "sales" (daily forecasts, price known
 * in advance), scoring data for three keys, a trained champion for
 * store=1/item=1, a decision whose artifact is missing for store=3/item=1,
 * and two bearer tokens (FUZZ_TOKEN_A, FUZZ_TOKEN_B).
 *
 * Invariants: every answer has a status in 100..599 and a content type;
 * a protected route (/v1/...) without a valid token is 401; /healthz is 200;
 * no answer carries a configured token the request did not put in its path
 * or body (an echo of the request's own bytes is not a leak).
 * Seeds: tests/fuzz/corpus/http/.
 */
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mm/blob.h"
#include "mm/blob_layout.h"
#include "mm/fs.h"
#include "mm/httpd.h"
#include "mm/metrics.h"
#include "mm/model.h"
#include "mm/records.h"
#include "mm/sha256.h"
#include "mm/spec.h"
#include "scorer.h"
#include "scoring_data.h"
#include "serve.h"
#include "serve_auth.h"

#define FUZZ_TOKEN_A "fuzz-token-aaaaaaaaaaaaaaaa"
#define FUZZ_TOKEN_B "fuzz-token-bbbbbbbbbbbbbbbb"
#define DAY_MS       86400000LL
#define DAYS         120
#define MAX_HEADERS  16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char spec_text[] =
    "{\"name\": \"sales\", \"task\": \"forecast\", \"key\": [\"store\", \"item\"],\n"
    " \"time\": {\"column\": \"date\", \"format\": \"%Y-%m-%d\", \"frequency\": \"day\"},\n"
    " \"target\": {\"column\": \"sales\"},\n"
    " \"features\": {\"exogenous\": [\"price\"], \"known_in_advance\": [\"price\"],\n"
    "              \"lags\": [7]},\n"
    " \"algorithms\": [\"ridge\"], \"horizon\": 7, \"holdout\": 7}\n";

static struct {
    char tmpdir[256];
    char blob_url[512];
    char state_path[512];
    char sink_path[512];
    mm_spec_t spec;
    mm_kv_list_t kafka;
    mm_serve_tokens_t tokens;
    mm_metrics_t *metrics;
    mm_scorer_t *scorer;
    mm_serve_t *serve;
    mm_httpd_t *httpd;
} fx;

static double price_of(int day) {
    return 10.0 + (double)((day * 7) % 5);
}

static double sales_of(int day) {
    return 50.0 + 10.0 * sin(2.0 * M_PI * (double)(day % 7) / 7.0) + 2.0 * price_of(day);
}

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) mm_fuzz_fail("fuzz_http fixture: %s: %s", what, errstr);                      \
    } while (0)

static void add_scoring_data(const char *key) {
    char errstr[1024] = "";
    mm_scoring_data_t *sd =
        mm_scoring_data_open(fx.state_path, &fx.spec, 400, "mm-scorer", errstr, sizeof(errstr));
    CHECK(sd, "scoring data");
    static int64_t t[DAYS];
    static double y[DAYS], price[DAYS];
    for (int d = 0; d < DAYS; d++) {
        t[d] = d * DAY_MS;
        y[d] = sales_of(d);
        price[d] = price_of(d);
    }
    mm_obs_column_t col = {.name = "price", .values = price};
    mm_observation_batch_t b = {.dataset = "sales",
                                .spec_hash = fx.spec.hash,
                                .partition_key = key,
                                .load_id = "load-1",
                                .n_rows = DAYS,
                                .time_ms = t,
                                .target = y,
                                .n_columns = 1,
                                .columns = &col};
    CHECK(mm_scoring_data_apply(sd, NULL, 0, 0, &b, errstr, sizeof(errstr)) == MM_OK, "apply");
    mm_scoring_data_close(sd);
}

/* A decision for @p key; trained on 100 days, or (@p missing) naming an absent artifact. */
static void put_decision(const char *key, bool missing) {
    char errstr[1024] = "";
    char sha[MM_SHA256_HEX_LEN + 1], cand[1024], prod[1024];
    mm_train_result_t res = {0};
    if (missing) {
        mm_sha256_hex(key, strlen(key), sha);
    } else {
        static int64_t t[100];
        static double y[100], price[100];
        for (int d = 0; d < 100; d++) {
            t[d] = d * DAY_MS;
            y[d] = sales_of(d);
            price[d] = price_of(d);
        }
        const double *exog[] = {price};
        mm_series_t series = {.n = 100, .time_ms = t, .y = y, .n_exog = 1, .exog = exog};
        CHECK(mm_model_train(&fx.spec.model, &series, &res, errstr, sizeof(errstr)) == MM_OK,
              "train");
        mm_sha256_hex(res.artifact, res.artifact_len, sha);
    }
    CHECK(mm_blob_layout_candidate(cand, sizeof(cand), "sales", key, sha) == MM_OK, "layout");
    CHECK(mm_blob_layout_production(cand, prod, sizeof(prod)) == MM_OK, "layout");
    if (!missing) {
        mm_blob_t *blob = mm_blob_new(fx.blob_url, NULL, errstr, sizeof(errstr));
        CHECK(blob, "blob");
        CHECK(mm_blob_put_immutable(blob, prod, res.artifact, res.artifact_len, sha, errstr,
                                    sizeof(errstr)) == MM_OK,
              "put artifact");
        mm_blob_destroy(blob);
    }
    mm_model_decision_t d = {
        .partition_key = strdup(key),
        .dataset = strdup("sales"),
        .spec_hash = strdup(fx.spec.hash),
        .decision = MM_DECISION_APPROVED,
        .reason = strdup("approved"),
        .candidate_train_id = strdup("train-1"),
        .candidate_version = 1,
        .decided_at_ms = 1000,
        .has_production = true,
        .production = {.train_id = strdup("train-1"),
                       .version = 1,
                       .algorithm = strdup(missing ? "ridge" : mm_algo_name(res.algorithm)),
                       .artifact_uri = strdup(prod),
                       .artifact_sha256 = strdup(sha),
                       .artifact_size = missing ? -1 : (int64_t)res.artifact_len,
                       .data_end_ms = 99 * DAY_MS,
                       .n_rows = 100,
                       .load_id = strdup("load-1")},
    };
    mm_train_result_clear(&res);
    CHECK(mm_serve_put_decision(fx.serve, &d) == MM_OK, "decision");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void fixture_fini(void) {
    mm_httpd_destroy(fx.httpd);
    mm_serve_destroy(fx.serve);
    mm_scorer_destroy(fx.scorer);
    mm_metrics_destroy(fx.metrics);
    mm_serve_tokens_clear(&fx.tokens);
    mm_kv_list_free(&fx.kafka);
    mm_spec_clear(&fx.spec);
    nftw(fx.tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void fixture_init(void) {
    char errstr[1024] = "";
    const char *base = getenv("TMPDIR");
    snprintf(fx.tmpdir, sizeof(fx.tmpdir), "%s/mm-fuzz-http-XXXXXX", base && *base ? base : "/tmp");
    CHECK(mkdtemp(fx.tmpdir), "mkdtemp");
    snprintf(fx.blob_url, sizeof(fx.blob_url), "file://%s/blobs", fx.tmpdir);
    CHECK(mm_mkdirs(fx.blob_url + strlen("file://"), errstr, sizeof(errstr)) == MM_OK, "mkdirs");
    snprintf(fx.state_path, sizeof(fx.state_path), "%s/state.db", fx.tmpdir);
    snprintf(fx.sink_path, sizeof(fx.sink_path), "%s/sink.db", fx.tmpdir);
    CHECK(mm_spec_parse(spec_text, strlen(spec_text), "fuzz spec", &fx.spec, errstr,
                        sizeof(errstr)) == MM_OK,
          "spec");
    mm_scorer_config_t cfg = {.bootstrap = "127.0.0.1:9",
                              .kafka = &fx.kafka,
                              .spec = &fx.spec,
                              .blob_url = fx.blob_url,
                              .sink_path = fx.sink_path,
                              .cache_bytes = 64u << 20,
                              .state_path = fx.state_path,
                              .group_id = "mm-scorer-fuzz"};
    fx.scorer = mm_scorer_new(&cfg, errstr, sizeof(errstr));
    CHECK(fx.scorer, "scorer");
    add_scoring_data("store=1/item=1");
    add_scoring_data("store=2/item=1");
    add_scoring_data("store=3/item=1");
    CHECK(mm_serve_tokens_load(&fx.tokens, NULL, FUZZ_TOKEN_A "," FUZZ_TOKEN_B, errstr,
                               sizeof(errstr)) == MM_OK,
          "tokens");
    fx.metrics = mm_metrics_new();
    mm_serve_config_t scfg = {.max_keys = 8, .tokens = &fx.tokens, .metrics = fx.metrics};
    fx.serve = mm_serve_new(fx.scorer, &scfg, errstr, sizeof(errstr));
    CHECK(fx.serve, "serve");
    put_decision("store=1/item=1", false);
    put_decision("store=3/item=1", true);
    mm_serve_set_caught_up(fx.serve);
    mm_httpd_opts_t hopts = {.addr = "127.0.0.1:0",
                             .threads = 1,
                             .max_body = 16384,
                             .metrics = fx.metrics,
                             .ready = mm_serve_ready,
                             .ready_opaque = fx.serve,
                             .json_errors = true,
                             .collect = mm_serve_collect,
                             .collect_opaque = fx.serve,
                             .request_metrics = true};
    fx.httpd = mm_httpd_new(&hopts, errstr, sizeof(errstr));
    CHECK(fx.httpd, "httpd");
    CHECK(mm_serve_routes(fx.serve, fx.httpd, errstr, sizeof(errstr)) == MM_OK, "routes");
    atexit(fixture_fini);
}

/* The next line of [*p, end) as a NUL-terminated copy (without CR LF); NULL at the end. */
static char *next_line(const char **p, const char *end) {
    if (*p >= end) return NULL;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *stop = nl ? nl : end;
    size_t len = (size_t)(stop - *p);
    if (len && (*p)[len - 1] == '\r') len--;
    char *s = strndup(*p, len); /* stops at an embedded NUL, as a C header value would */
    if (!s) mm_fuzz_fail("fuzz_http: out of memory");
    *p = nl ? nl + 1 : end;
    return s;
}

static bool contains(const void *data, size_t len, const char *token) {
    return len && memmem(data, len, token, strlen(token)) != NULL;
}

/* The answer carries @p token though the request gave it only in a header. */
static bool leaks(const mm_httpd_request_t *req, const mm_buf_t *answer, const char *token) {
    return contains(answer->data, answer->len, token) &&
           !contains(req->path, strlen(req->path), token) &&
           !contains(req->body, req->body_len, token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fx.httpd) fixture_init();
    const char *p = (const char *)data, *end = p + size;
    char *method = next_line(&p, end);
    char *path = next_line(&p, end);
    char *lines[MAX_HEADERS];
    mm_httpd_header_t headers[MAX_HEADERS];
    size_t n_headers = 0, n_lines = 0;
    char *line;
    while (n_lines < MAX_HEADERS && (line = next_line(&p, end)) != NULL) {
        lines[n_lines++] = line;
        if (!*line) break; /* the empty line before the body */
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = '\0';
        const char *value = colon + 1;
        while (*value == ' ' || *value == '\t') value++;
        headers[n_headers++] = (mm_httpd_header_t){line, value};
    }
    mm_httpd_request_t req = {.method = method ? method : "",
                              .path = path ? path : "",
                              .body = (const uint8_t *)p,
                              .body_len = (size_t)(end - p),
                              .headers = headers,
                              .n_headers = n_headers};
    mm_httpd_response_t resp;
    mm_httpd_handle(fx.httpd, &req, &resp);

    if (resp.status < 100 || resp.status > 599) mm_fuzz_fail("http: status %d", resp.status);
    if (!resp.content_type || !*resp.content_type) mm_fuzz_fail("http: no content type");
    const char *auth = mm_httpd_request_header(&req, "Authorization");
    if (strncmp(req.path, "/v1/", 4) == 0 && !mm_serve_tokens_check(&fx.tokens, auth) &&
        resp.status != 401 && resp.status != 404 && resp.status != 405 && resp.status != 413)
        mm_fuzz_fail("http: %s %s without a valid token answered %d", req.method, req.path,
                     resp.status);
    if (strcmp(req.method, "GET") == 0 && strcmp(req.path, "/healthz") == 0 && resp.status != 200)
        mm_fuzz_fail("http: /healthz answered %d", resp.status);
    if (leaks(&req, &resp.body, FUZZ_TOKEN_A) || leaks(&req, &resp.body, FUZZ_TOKEN_B))
        mm_fuzz_fail("http: the answer to %s %s carries a configured token", req.method, req.path);

    mm_buf_free(&resp.body);
    for (size_t i = 0; i < n_lines; i++) free(lines[i]);
    free(path);
    free(method);
    return 0;
}
