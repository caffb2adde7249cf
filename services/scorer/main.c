/*
 * mm-scorer: arguments, configuration, signals and shutdown order only; the
 * logic lives in scorer.c (batch), stream.c (stream) and serve*.c (serve).
 * The first argument names the mode: `batch` (the default) catches up on the
 * scoring data, answers every key, then exits; `stream` answers
 * mm.score-requests until SIGTERM; `serve` answers HTTP requests until
 * SIGTERM (docs/serving.md).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "batch_metrics.h"
#include "mm/blob.h"
#include "mm/conf.h"
#include "mm/consumer_state.h"
#include "mm/exit.h"
#include "mm/fs.h"
#include "mm/httpd.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/service.h"
#include "mm/util.h"
#include "scorer.h"
#include "serve.h"
#include "stream.h"

typedef struct scorer_conf {
    mm_service_common_t common;
    char *sink;
    int64_t cache_bytes;
    int64_t horizon;
    char *run_id;
    char *state;
    char *group_id;
    int64_t keep_periods;
    char *as_of;
    int64_t catch_up_timeout_ms;
    int64_t request_dedupe_hours;
    int64_t serve_threads, serve_max_connections, serve_timeout_s, serve_max_body, serve_max_header,
        serve_max_keys, serve_max_horizon, serve_drain_ms, serve_failure_hold_ms;
    char *serve_token_file;
    char *serve_tokens;
    char *tls_cert;
    char *tls_key;
    char *metrics_file;
    char *metrics_push;
} scorer_conf_t;

static const mm_conf_prop_t scorer_props[] = {
    MM_SERVICE_CONF_KAFKA(scorer_conf_t, common),
    MM_SERVICE_CONF_SPEC(scorer_conf_t, common),
    MM_SERVICE_CONF_BLOB(scorer_conf_t, common),
    {"sink", MM_CONF_STR, "mm-predictions.db", 0, -1, "MM_SCORER_SINK",
     "prediction sink: a SQLite path (or sqlite://PATH) or a postgresql:// URL; upserts keyed "
     "by key and target time (docs/scoring.md)",
     MM_CONF_F_REQUIRED | MM_CONF_F_SECRET, offsetof(scorer_conf_t, sink)},
    {"cache-bytes", MM_CONF_INT, "268435456", 1048576, 1099511627776.0, "MM_SCORER_CACHE_BYTES",
     "upper bound on the memory of loaded models", 0, offsetof(scorer_conf_t, cache_bytes)},
    {"horizon", MM_CONF_INT, "0", 0, 100000, "MM_SCORER_HORIZON",
     "steps to forecast (0 = the horizon in the dataset spec)", 0,
     offsetof(scorer_conf_t, horizon)},
    {"run-id", MM_CONF_STR, NULL, 0, -1, "MM_SCORER_RUN_ID",
     "request id written with this run's predictions (default: batch-<epoch ms>)", 0,
     offsetof(scorer_conf_t, run_id)},
    {"state", MM_CONF_STR, "mm-scorer-state.db", 0, -1, "MM_SCORER_STATE",
     "SQLite state store: each key's scoring data (newest observations, planned covariates), "
     "consumed offsets, outbox",
     MM_CONF_F_REQUIRED, offsetof(scorer_conf_t, state)},
    {"group-id", MM_CONF_STR, "mm-scorer", 0, -1, "MM_SCORER_GROUP_ID",
     "consumer group on mm.observations (the scorer's own, not the trainers')", 0,
     offsetof(scorer_conf_t, group_id)},
    {"keep-periods", MM_CONF_INT, "400", 1, 1000000, "MM_SCORER_KEEP_PERIODS",
     "observed rows kept per key (lags, two seasons, rolling windows); older rows are pruned", 0,
     offsetof(scorer_conf_t, keep_periods)},
    {"as-of", MM_CONF_STR, NULL, 0, -1, "MM_SCORER_AS_OF",
     "forecast every key from this time (the spec's time format, or epoch ms); default: the "
     "latest observation of all keys",
     0, offsetof(scorer_conf_t, as_of)},
    {"catch-up-timeout-ms", MM_CONF_INT, "300000", 1000, 86400000.0,
     "MM_SCORER_CATCH_UP_TIMEOUT_MS",
     "how long a run may take to read mm.observations to its end before it fails", 0,
     offsetof(scorer_conf_t, catch_up_timeout_ms)},
    {"request-dedupe-hours", MM_CONF_INT, "168", 1, 87600, "MM_SCORER_REQUEST_DEDUPE_HOURS",
     "stream: how long answered request ids are remembered, so a repeated request is not "
     "answered twice",
     0, offsetof(scorer_conf_t, request_dedupe_hours)},
    {"metrics-file", MM_CONF_STR, NULL, 0, -1, "MM_SCORER_METRICS_FILE",
     "batch: write the run's metrics at exit to this file (Prometheus text format, atomically; "
     "for node_exporter's textfile collector, e.g. /var/lib/node_exporter/mm-scorer.prom)",
     0, offsetof(scorer_conf_t, metrics_file)},
    {"metrics-push", MM_CONF_STR, NULL, 0, -1, "MM_SCORER_METRICS_PUSH",
     "batch: push the run's metrics at exit to this Prometheus Pushgateway "
     "(http://host:9091), as job mm-scorer-batch, instance <dataset>",
     0, offsetof(scorer_conf_t, metrics_push)},
    MM_SERVICE_CONF_HTTP(scorer_conf_t, common),
    MM_SERVICE_CONF_SCHEMA_REGISTRY(scorer_conf_t, common),
    MM_SERVICE_CONF_LOG(scorer_conf_t, common),
    {"serve-threads", MM_CONF_INT, "2", 1, 256, "MM_SCORER_SERVE_THREADS",
     "serve: HTTP worker threads (libmicrohttpd thread pool)", 0,
     offsetof(scorer_conf_t, serve_threads)},
    {"serve-max-connections", MM_CONF_INT, "256", 1, 100000, "MM_SCORER_SERVE_MAX_CONNECTIONS",
     "serve: connections open at once; more are refused", 0,
     offsetof(scorer_conf_t, serve_max_connections)},
    {"serve-timeout-s", MM_CONF_INT, "30", 1, 3600, "MM_SCORER_SERVE_TIMEOUT_S",
     "serve: seconds a connection may stay idle or slow before it is closed", 0,
     offsetof(scorer_conf_t, serve_timeout_s)},
    {"serve-max-body", MM_CONF_INT, "1048576", 1024, 268435456.0, "MM_SCORER_SERVE_MAX_BODY",
     "serve: request body bytes (413 beyond)", 0, offsetof(scorer_conf_t, serve_max_body)},
    {"serve-max-header", MM_CONF_INT, "16384", 1024, 1048576, "MM_SCORER_SERVE_MAX_HEADER",
     "serve: request line and header bytes (431 beyond)", 0,
     offsetof(scorer_conf_t, serve_max_header)},
    {"serve-max-keys", MM_CONF_INT, "100", 1, 100000, "MM_SCORER_SERVE_MAX_KEYS",
     "serve: keys in one request (\"keys\": [...])", 0, offsetof(scorer_conf_t, serve_max_keys)},
    {"serve-max-horizon", MM_CONF_INT, "1000", 1, 100000, "MM_SCORER_SERVE_MAX_HORIZON",
     "serve: forecast steps one request may ask for", 0,
     offsetof(scorer_conf_t, serve_max_horizon)},
    {"serve-drain-ms", MM_CONF_INT, "10000", 0, 600000, "MM_SCORER_SERVE_DRAIN_MS",
     "serve: on SIGTERM, how long requests in flight may take to finish", 0,
     offsetof(scorer_conf_t, serve_drain_ms)},
    {"serve-failure-hold-ms", MM_CONF_INT, "5000", 0, 3600000, "MM_SCORER_SERVE_FAILURE_HOLD_MS",
     "serve: how long a failed artifact load is answered from memory before it is tried again "
     "(0: every request tries)",
     0, offsetof(scorer_conf_t, serve_failure_hold_ms)},
    {"tokens-file", MM_CONF_STR, NULL, 0, -1, "MM_SCORER_TOKENS_FILE",
     "serve: file of bearer tokens, one per line; with tokens, every route but /healthz, "
     "/readyz and /metrics needs one",
     0, offsetof(scorer_conf_t, serve_token_file)},
    {"tokens", MM_CONF_STR, NULL, 0, -1, "MM_SCORER_TOKENS",
     "serve: bearer tokens, comma-separated (prefer the environment or the token file)",
     MM_CONF_F_SECRET, offsetof(scorer_conf_t, serve_tokens)},
    {"tls-cert", MM_CONF_STR, NULL, 0, -1, "MM_SCORER_TLS_CERT",
     "serve: PEM certificate (chain) file; with --tls-key the API speaks HTTPS only", 0,
     offsetof(scorer_conf_t, tls_cert)},
    {"tls-key", MM_CONF_STR, NULL, 0, -1, "MM_SCORER_TLS_KEY", "serve: PEM private key file", 0,
     offsetof(scorer_conf_t, tls_key)},
};

static const mm_conf_schema_t scorer_schema = {
    .program = "mm-scorer",
    .summary = "mm-scorer [batch|stream|serve] [options]. batch (default): catch up on the "
               "scoring data, then answer every key (champion, labelled fallback or no model) "
               "into mm.predictions and a sink. stream: answer each request of mm.score-requests "
               "the same way, following decisions and scoring data, until SIGTERM. serve: answer "
               "forecasts and predictions over HTTP (docs/serving.md) until SIGTERM.",
    .props = scorer_props,
    .n_props = sizeof(scorer_props) / sizeof(scorer_props[0]),
};

/* --as-of: epoch milliseconds, or a time in the spec's format. */
static bool parse_as_of(const mm_spec_t *spec, const char *text, int64_t *out_ms) {
    char *end = NULL;
    long long ms = strtoll(text, &end, 10);
    if (end && end != text && *end == '\0' && ms > 0) {
        *out_ms = (int64_t)ms;
        return true;
    }
    return mm_spec_parse_time(spec, text, strlen(text), out_ms);
}

/*
 * Stream mode: the stream over the scorer, its metrics on --http-addr, and
 * the shutdown order: stop intake and deliver the outbox (in the run), stop
 * serving HTTP, then free. @returns the exit status.
 */
static int run_stream(const scorer_conf_t *conf, mm_scorer_t *scorer) {
    char errstr[1024];
    mm_metrics_t *metrics = mm_metrics_new();
    mm_httpd_t *httpd = NULL;
    if (metrics && mm_blob_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "blob request metrics: %s", errstr);
    if (metrics && mm_dead_letter_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "dead letter metrics: %s", errstr);
    if (metrics && mm_kafka_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "Kafka client metrics: %s", errstr);
    mm_scorer_stream_opts_t opts = {.metrics = metrics,
                                    .dedupe_window_ms = conf->request_dedupe_hours * 3600000};
    mm_scorer_stream_t *stream =
        metrics ? mm_scorer_stream_new(scorer, &opts, errstr, sizeof(errstr)) : NULL;
    if (!stream) {
        mm_log_error("start_failed", "%s", metrics ? errstr : "out of memory");
        mm_metrics_destroy(metrics);
        return MM_EXIT_FAILURE;
    }
    mm_err_t err = mm_service_http_start(&conf->common, metrics, mm_scorer_stream_ready, stream,
                                         &httpd, errstr, sizeof(errstr));
    if (err) {
        mm_log_error("start_failed", "--http-addr: %s", errstr);
        mm_scorer_stream_destroy(stream);
        mm_metrics_destroy(metrics);
        return err == MM_ERR_CONFIG ? MM_EXIT_CONFIG : MM_EXIT_FAILURE;
    }
    err = mm_scorer_stream_run(stream, &mm_service_stop, errstr, sizeof(errstr));
    if (err == MM_ERR_SHUTDOWN) err = MM_OK; /* stopped while starting */
    if (err) mm_log_error("stream_failed", "%s", errstr);
    mm_scorer_stream_stats_t stats;
    mm_scorer_stream_stats(stream, &stats);
    printf("mm-scorer: stream %s: requests %" PRId64 ", answered %" PRId64 ", duplicates %" PRId64
           ", dead-lettered %" PRId64 ", predictions %" PRId64 ", observation batches %" PRId64
           ", decisions %" PRId64 "\n",
           err ? "FAILED" : "stopped", stats.requests, stats.answered, stats.duplicates,
           stats.dead_letters, stats.predictions, stats.observations, stats.decisions);
    mm_httpd_destroy(httpd); /* before the stream its readiness reads */
    mm_scorer_stream_destroy(stream);
    mm_blob_report_metrics(NULL, NULL, 0);
    mm_dead_letter_report_metrics(NULL, NULL, 0);
    mm_kafka_report_metrics(NULL, NULL, 0);
    mm_metrics_destroy(metrics);
    return err ? MM_EXIT_FAILURE : MM_EXIT_OK;
}

#define SERVE_DEFAULT_ADDR "127.0.0.1:8080"
#define TLS_FILE_MAX       (1u << 20)
#define SERVE_TICK_MS      100

/* A PEM file into a NUL-terminated string (freed by the caller). */
static char *read_pem(const char *what, const char *path) {
    mm_buf_t buf;
    mm_buf_init(&buf, TLS_FILE_MAX);
    char errstr[512];
    if (mm_file_read(path, &buf, errstr, sizeof(errstr)) || mm_buf_append(&buf, "", 1)) {
        mm_log_error("bad_config", "--%s %s: %s", what, path, errstr);
        mm_buf_free(&buf);
        return NULL;
    }
    size_t len;
    return (char *)mm_buf_steal(&buf, &len);
}

/*
 * serve: the API until SIGTERM, then stop accepting, drain the requests in
 * flight within --serve-drain-ms, stop the server, and close the consumers
 * (mm.observations, then mm.decisions).
 */
static int run_serve(scorer_conf_t *conf, mm_scorer_t *scorer) {
    char errstr[1024];
    int status = MM_EXIT_FAILURE;
    mm_serve_tokens_t *tokens = calloc(1, sizeof(*tokens));
    mm_metrics_t *metrics = mm_metrics_new();
    mm_serve_t *serve = NULL;
    mm_httpd_t *httpd = NULL;
    char *cert = NULL, *key = NULL;
    if (!tokens || !metrics) goto out;
    if (metrics && mm_blob_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "blob request metrics: %s", errstr);
    if (metrics && mm_dead_letter_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "dead letter metrics: %s", errstr);
    if (metrics && mm_kafka_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "Kafka client metrics: %s", errstr);
    if (mm_serve_tokens_load(tokens, conf->serve_token_file, conf->serve_tokens, errstr,
                             sizeof(errstr))) {
        mm_log_error("bad_config", "%s", errstr);
        status = MM_EXIT_CONFIG;
        goto out;
    }
    if ((conf->tls_cert && *conf->tls_cert) || (conf->tls_key && *conf->tls_key)) {
        if (!conf->tls_cert || !*conf->tls_cert || !conf->tls_key || !*conf->tls_key) {
            mm_log_error("bad_config", "TLS needs both --tls-cert and --tls-key");
            status = MM_EXIT_CONFIG;
            goto out;
        }
        cert = read_pem("tls-cert", conf->tls_cert);
        key = cert ? read_pem("tls-key", conf->tls_key) : NULL;
        if (!key) {
            status = MM_EXIT_CONFIG;
            goto out;
        }
    }
    mm_serve_config_t cfg = {.max_keys = (size_t)conf->serve_max_keys,
                             .max_horizon = (size_t)conf->serve_max_horizon,
                             .workers = (unsigned)conf->serve_threads,
                             .failure_hold_ms =
                                 conf->serve_failure_hold_ms ? conf->serve_failure_hold_ms : -1,
                             .tokens = tokens,
                             .metrics = metrics};
    serve = mm_serve_new(scorer, &cfg, errstr, sizeof(errstr));
    if (!serve) {
        mm_log_error("start_failed", "%s", errstr);
        goto out;
    }
    const char *addr = conf->common.http_addr && *conf->common.http_addr ? conf->common.http_addr
                                                                         : SERVE_DEFAULT_ADDR;
    mm_httpd_opts_t opts = {.addr = addr,
                            .threads = (unsigned)conf->serve_threads,
                            .max_connections = (unsigned)conf->serve_max_connections,
                            .timeout_s = (unsigned)conf->serve_timeout_s,
                            .max_body = (size_t)conf->serve_max_body,
                            .max_header = (size_t)conf->serve_max_header,
                            .metrics = metrics,
                            .ready = mm_serve_ready,
                            .ready_opaque = serve,
                            .tls_cert_pem = cert,
                            .tls_key_pem = key,
                            .json_errors = true,
                            .collect = mm_serve_collect,
                            .collect_opaque = serve,
                            .request_metrics = true};
    httpd = mm_httpd_new(&opts, errstr, sizeof(errstr));
    if (!httpd) {
        mm_log_error("bad_config", "--http-addr: %s", errstr);
        status = MM_EXIT_CONFIG;
        goto out;
    }
    if (mm_serve_routes(serve, httpd, errstr, sizeof(errstr)) ||
        mm_httpd_start(httpd, errstr, sizeof(errstr))) {
        mm_log_error("start_failed", "%s", errstr);
        goto out;
    }
    if (mm_serve_start_followers(serve, errstr, sizeof(errstr))) {
        mm_log_error("start_failed", "%s", errstr);
        goto out;
    }
    mm_log_info("serving", "%s API on %s (port %u)%s", cert ? "HTTPS" : "HTTP", addr,
                mm_httpd_port(httpd), tokens->n ? ", bearer tokens required" : "");
    while (!mm_service_stop) mm_sleep_ms(SERVE_TICK_MS, NULL);

    mm_serve_set_draining(serve);
    int left = mm_httpd_drain(httpd, conf->serve_drain_ms);
    mm_log_info("shutdown", "stopped accepting; %d requests still in flight after %" PRId64 " ms",
                left, conf->serve_drain_ms);
    status = 0;
out:
    mm_httpd_destroy(httpd); /* the server stops: nothing uses the serving state */
    mm_serve_destroy(serve); /* consumers closed: observations, then decisions */
    if (key) {
        OPENSSL_cleanse(key, strlen(key)); /* the key does not outlive the server */
        free(key);
    }
    free(cert);
    mm_serve_tokens_clear(tokens);
    free(tokens);
    mm_blob_report_metrics(NULL, NULL, 0);
    mm_dead_letter_report_metrics(NULL, NULL, 0);
    mm_kafka_report_metrics(NULL, NULL, 0);
    mm_metrics_destroy(metrics);
    return status;
}

/*
 * Batch: the run's registry, with the blob store's and dead letters' counters
 * in it (on /metrics with --http-addr while the run lasts); the run's own
 * metrics join it at the end, when they are written or pushed. Out of memory
 * or a refused metric only costs the metrics: the run goes on (NULL).
 */
static mm_metrics_t *batch_metrics_new(void) {
    mm_metrics_t *metrics = mm_metrics_new();
    char errstr[512];
    if (!metrics) mm_log_warn("metrics_unavailable", "out of memory");
    if (metrics && mm_blob_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "blob request metrics: %s", errstr);
    if (metrics && mm_dead_letter_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "dead letter metrics: %s", errstr);
    return metrics;
}

int main(int argc, char **argv) {
    /* The mode is the first argument when it is not an option. */
    const char *mode = "batch";
    if (argc > 1 && argv[1][0] != '-') {
        mode = argv[1];
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    if (strcmp(mode, "batch") != 0 && strcmp(mode, "stream") != 0 && strcmp(mode, "serve") != 0) {
        fprintf(stderr,
                "mm-scorer: unknown mode '%s' (batch, stream or serve; --help lists options)\n",
                mode);
        return MM_EXIT_USAGE;
    }
    scorer_conf_t conf = {0};
    mm_kv_list_t kafka = {0};
    mm_spec_t spec = {0};
    char *bootstrap = NULL;
    mm_httpd_t *httpd = NULL;
    mm_metrics_t *batch_metrics = NULL;
    char errstr[1024];
    int status = MM_EXIT_FAILURE;

    status = mm_service_start(&scorer_schema, &conf, &conf.common, argc, argv, &kafka, NULL, NULL,
                              &spec, &bootstrap);
    if (status != MM_SERVICE_RUN) goto out;
    status = MM_EXIT_FAILURE;
    mm_scorer_config_t cfg = {
        .bootstrap = bootstrap,
        .kafka = &kafka,
        .spec = &spec,
        .blob_url = conf.common.blob_url,
        .sink_path = conf.sink,
        .cache_bytes = (size_t)conf.cache_bytes,
        .horizon = (int)conf.horizon,
        .state_path = conf.state,
        .group_id = conf.group_id,
        .keep_observed = (size_t)conf.keep_periods,
        .catch_up_timeout_ms = conf.catch_up_timeout_ms,
    };
    if (conf.as_of && *conf.as_of && !parse_as_of(&spec, conf.as_of, &cfg.as_of_ms)) {
        mm_log_error("bad_config", "--as-of: '%s' is neither epoch ms nor a time in the format %s",
                     conf.as_of, spec.time_format);
        status = MM_EXIT_USAGE;
        goto out;
    }
    mm_service_blob_opts(&conf.common, &cfg.blob_opts);
    char run_id[128];
    if (conf.run_id && *conf.run_id)
        snprintf(run_id, sizeof(run_id), "%s", conf.run_id);
    else
        snprintf(run_id, sizeof(run_id), "batch-%" PRId64, mm_now_ms());

    int64_t started = mm_mono_ms();
    mm_scorer_batch_stats_t stats = {0};
    mm_scorer_intake_stats_t intake = {0};
    const bool batch = strcmp(mode, "batch") == 0;
    if (batch) batch_metrics = batch_metrics_new(); /* before anything can fail */
    /* a batch run reads what arrived since the last one: a backlog, fetched faster
     * with a larger queue (mm_kafka_consumer_props_bounded) */
    cfg.consumer_queue_kbytes =
        batch ? MM_KAFKA_QUEUE_KBYTES_CATCH_UP : MM_KAFKA_QUEUE_KBYTES_FOLLOW;
    mm_scorer_t *scorer = mm_scorer_new(&cfg, errstr, sizeof(errstr));
    if (!scorer) {
        mm_log_error("start_failed", "%s", errstr);
        goto done;
    }
    if (strcmp(mode, "stream") == 0) {
        status = run_stream(&conf, scorer);
        mm_scorer_destroy(scorer); /* producer flush, sink close */
        goto out;
    }
    if (strcmp(mode, "serve") == 0) {
        status = run_serve(&conf, scorer);
        mm_scorer_destroy(scorer); /* producer flush (dead letters), stores closed */
        goto out;
    }
    mm_err_t http_err = mm_service_http_start(&conf.common, batch_metrics, NULL, NULL, &httpd,
                                              errstr, sizeof(errstr));
    if (http_err) {
        mm_log_error("start_failed", "--http-addr: %s", errstr);
        mm_scorer_destroy(scorer);
        status = http_err == MM_ERR_CONFIG ? MM_EXIT_CONFIG : MM_EXIT_FAILURE;
        goto done;
    }
    mm_httpd_set_ready(httpd, false, "reading scoring data and decisions");
    mm_err_t err = mm_scorer_catch_up(scorer, &mm_service_stop, &intake, errstr, sizeof(errstr));
    if (!err) err = mm_scorer_load_decisions(scorer, &mm_service_stop, errstr, sizeof(errstr));
    if (!err) mm_httpd_set_ready(httpd, true, NULL); /* decisions read to the end */
    if (!err)
        err = mm_scorer_run_batch(scorer, run_id, &mm_service_stop, &stats, errstr, sizeof(errstr));
    mm_scorer_destroy(scorer); /* producer flush, sink close */
    if (err) mm_log_error("batch_failed", "%s", errstr);
    printf("mm-scorer: %s run %s: scoring data %" PRId64 " batches (%" PRId64
           " dead-lettered), keys %" PRId64 ", scored %" PRId64 ", fallback %" PRId64
           ", no model %" PRId64 ", failed %" PRId64 ", predictions %" PRId64 ", %.1f s\n",
           err ? "FAILED" : "ok", run_id, intake.batches, intake.dead_letters, stats.keys,
           stats.scored, stats.fallback, stats.no_model, stats.failed, stats.predictions,
           (double)(mm_mono_ms() - started) / 1000.0);
    /* Every key answered but some could not be scored: partial; stopped by a signal:
     * interrupted (mm/exit.h). */
    status = !err                                          ? MM_EXIT_OK
             : err == MM_ERR_SHUTDOWN                      ? MM_EXIT_INTERRUPTED
             : err == MM_ERR_INTEGRITY && stats.failed > 0 ? MM_EXIT_PARTIAL
                                                           : MM_EXIT_FAILURE;
done: /* a batch run's end, also when it could not start: its metrics */
    if (batch_metrics &&
        ((conf.metrics_file && *conf.metrics_file) || (conf.metrics_push && *conf.metrics_push))) {
        mm_scorer_batch_report_t report = {.file = conf.metrics_file,
                                           .push_url = conf.metrics_push,
                                           .instance = spec.name,
                                           .exit_status = status,
                                           .duration_seconds =
                                               (double)(mm_mono_ms() - started) / 1000.0,
                                           .intake = &intake,
                                           .stats = &stats};
        if (mm_scorer_batch_metrics_export(batch_metrics, &report, errstr, sizeof(errstr)))
            mm_log_error("metrics_export_failed", "%s", errstr);
    }
out:
    mm_httpd_destroy(httpd);
    if (batch_metrics) {
        mm_blob_report_metrics(NULL, NULL, 0);
        mm_dead_letter_report_metrics(NULL, NULL, 0);
        mm_metrics_destroy(batch_metrics);
    }
    free(bootstrap);
    mm_spec_clear(&spec);
    mm_kv_list_free(&kafka);
    mm_conf_free(&scorer_schema, &conf);
    return status;
}
