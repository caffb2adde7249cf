/*
 * watch_main.c - `mm-ingest watch`: arguments, configuration, signals, the
 * operational HTTP server and shutdown order only; the logic lives in
 * watch.c (and each file's load in ingest.c).
 *
 *   mm-ingest watch --spec sales.json --manifest watch.db --dir /data/incoming
 *   mm-ingest watch --spec sales.json --manifest watch.db --blob-url URL --blob-prefix incoming/
 *
 * Runs until SIGINT/SIGTERM: exit 0 after a clean stop (a file being read is
 * read again after the restart), 1 for a configuration error or a manifest
 * that cannot be written.
 */
#include "watch_main.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "mm/blob.h"
#include "mm/conf.h"
#include "mm/httpd.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/metrics.h"
#include "mm/service.h"
#include "watch.h"

#define BOOTSTRAP_WAIT_MS 60000 /* for mm-devbroker to write its bootstrap file */

typedef struct watch_conf {
    mm_service_common_t common;
    char *manifest;
    char *dir;
    char *done_dir;
    char *failed_dir;
    char *blob_prefix;
    char *blob_done_prefix;
    char *blob_failed_prefix;
    int64_t max_blob_bytes;
    char *suffix;
    char *ready_suffix;
    int64_t settle_ms;
    int64_t poll_ms;
    int64_t batch_rows;
    int64_t batch_bytes;
    int64_t max_buffered_rows;
    int64_t flush_timeout_ms;
    char *pace_group;
    int64_t pace_max_bytes;
} watch_conf_t;

/* clang-format off */
static const mm_conf_prop_t watch_props[] = {
    MM_SERVICE_CONF_KAFKA(watch_conf_t, common),
    MM_SERVICE_CONF_SPEC(watch_conf_t, common),
    {"manifest", MM_CONF_STR, NULL, 0, -1, "MM_WATCH_MANIFEST",
     "SQLite file recording every file seen (name, sha256, state); keep it with the folder",
     MM_CONF_F_REQUIRED, offsetof(watch_conf_t, manifest)},
    {"dir", MM_CONF_STR, "", 0, -1, "MM_WATCH_DIR",
     "folder to follow (its top-level files); empty: none", 0, offsetof(watch_conf_t, dir)},
    {"done-dir", MM_CONF_STR, "", 0, -1, "MM_WATCH_DONE_DIR",
     "where ingested files are moved (default: DIR/done)", 0, offsetof(watch_conf_t, done_dir)},
    {"failed-dir", MM_CONF_STR, "", 0, -1, "MM_WATCH_FAILED_DIR",
     "where files that can never be ingested are moved (default: DIR/failed)", 0,
     offsetof(watch_conf_t, failed_dir)},
    {"blob-url", MM_CONF_STR, "", 0, -1, "MM_BLOB_URL",
     "blob store holding --blob-prefix: http(s)://host/account/container or file:///dir",
     0, offsetof(watch_conf_t, common.blob_url)},
    {"blob-account", MM_CONF_STR, NULL, 0, -1, "MM_BLOB_ACCOUNT",
     "Azure storage account (default: from the URL)", 0,
     offsetof(watch_conf_t, common.blob_account)},
    {"blob-key", MM_CONF_STR, NULL, 0, -1, "MM_BLOB_KEY", "Azure SharedKey (base64)",
     MM_CONF_F_SECRET, offsetof(watch_conf_t, common.blob_key)},
    {"blob-sas", MM_CONF_STR, NULL, 0, -1, "MM_BLOB_SAS", "Azure SAS token (without '?')",
     MM_CONF_F_SECRET, offsetof(watch_conf_t, common.blob_sas)},
    {"blob-prefix", MM_CONF_STR, "", 0, -1, "MM_WATCH_BLOB_PREFIX",
     "blob name prefix to follow, e.g. incoming/ (with --blob-url); empty: no blob source", 0,
     offsetof(watch_conf_t, blob_prefix)},
    {"blob-done-prefix", MM_CONF_STR, "", 0, -1, "MM_WATCH_BLOB_DONE_PREFIX",
     "where ingested blobs are moved (default: done/ + the prefix)", 0,
     offsetof(watch_conf_t, blob_done_prefix)},
    {"blob-failed-prefix", MM_CONF_STR, "", 0, -1, "MM_WATCH_BLOB_FAILED_PREFIX",
     "where blobs that can never be ingested are moved (default: failed/ + the prefix)", 0,
     offsetof(watch_conf_t, blob_failed_prefix)},
    {"max-blob-bytes", MM_CONF_INT, "268435456", 1, 4294967296.0, "MM_WATCH_MAX_BLOB_BYTES",
     "largest blob read (in memory); a larger one is reported and skipped", 0,
     offsetof(watch_conf_t, max_blob_bytes)},
    {"suffix", MM_CONF_STR, MM_WATCH_DEFAULT_SUFFIX, 0, -1, "MM_WATCH_SUFFIX",
     "only names ending in this are files to ingest", 0, offsetof(watch_conf_t, suffix)},
    {"ready-suffix", MM_CONF_STR, "", 0, -1, "MM_WATCH_READY_SUFFIX",
     "a file NAME is ready when NAME+this exists (e.g. .ready); empty: the settle rule", 0,
     offsetof(watch_conf_t, ready_suffix)},
    {"settle-ms", MM_CONF_INT, "5000", 0, 86400000, "MM_WATCH_SETTLE_MS",
     "without a ready suffix, a folder file is ready when its size and mtime did not change "
     "between two passes and the mtime is this old", 0, offsetof(watch_conf_t, settle_ms)},
    {"poll-ms", MM_CONF_INT, "2000", 50, 3600000, "MM_WATCH_POLL_MS",
     "pause between passes over the folder and the prefix", 0, offsetof(watch_conf_t, poll_ms)},
    {"batch-rows", MM_CONF_INT, "5000", 1, 1000000, "MM_INGEST_BATCH_ROWS",
     "most rows in one ObservationBatch", 0, offsetof(watch_conf_t, batch_rows)},
    {"batch-bytes", MM_CONF_INT, "524288", 4096, 900000, "MM_INGEST_BATCH_BYTES",
     "most encoded bytes in one ObservationBatch", 0, offsetof(watch_conf_t, batch_bytes)},
    {"max-buffered-rows", MM_CONF_INT, "2000000", 1000, 1000000000, "MM_INGEST_MAX_BUFFERED_ROWS",
     "rows held in memory across all keys before open batches are sent early", 0,
     offsetof(watch_conf_t, max_buffered_rows)},
    {"flush-timeout-ms", MM_CONF_INT, "120000", 1000, 3600000, "MM_INGEST_FLUSH_TIMEOUT_MS",
     "how long to wait for delivery reports at the end of each file", 0,
     offsetof(watch_conf_t, flush_timeout_ms)},
    {"pace-group", MM_CONF_STR, MM_INGEST_DEFAULT_PACE_GROUP, 0, -1, "MM_INGEST_PACE_GROUP",
     "consumer group whose committed progress on mm.observations paces each file (empty: no "
     "pacing)", 0, offsetof(watch_conf_t, pace_group)},
    {"pace-max-bytes", MM_CONF_INT, "3145728", 65536, 1099511627776.0, "MM_INGEST_PACE_MAX_BYTES",
     "most bytes the pace group may have left unconsumed in one partition of mm.observations", 0,
     offsetof(watch_conf_t, pace_max_bytes)},
    MM_SERVICE_CONF_HTTP(watch_conf_t, common),
    MM_SERVICE_CONF_LOG(watch_conf_t, common),
};
/* clang-format on */

static const mm_conf_schema_t watch_schema = {
    .program = "mm-ingest watch",
    .summary = "Follow a folder and/or an Azure Blob prefix and ingest each new CSV file exactly "
               "once (the one-shot load per file), recorded in a manifest that survives restarts; "
               "ingested files move to done/, unreadable ones to failed/ (docs/operations.md, "
               "\"Watch mode\"). Runs until SIGTERM. Exit status: 0 stopped, 1 fatal.",
    .usage_args = "",
    .props = watch_props,
    .n_props = sizeof(watch_props) / sizeof(watch_props[0]),
};

int mm_ingest_watch_main(int argc, char **argv) {
    watch_conf_t conf = {0};
    mm_kv_list_t kafka = {0};
    mm_spec_t spec = {0};
    char *bootstrap = NULL;
    mm_blob_t *blob = NULL;
    mm_metrics_t *metrics = NULL;
    mm_httpd_t *httpd = NULL;
    mm_watch_t *watch = NULL;
    char errstr[1024];
    int status = mm_service_start(&watch_schema, &conf, &conf.common, argc, argv, &kafka, NULL,
                                  NULL, &spec, &bootstrap, MM_INGEST_EXIT_FATAL);
    if (status != MM_SERVICE_RUN) goto out;
    status = MM_INGEST_EXIT_FATAL;

    /* The blob store is followed only under an explicit prefix: MM_BLOB_URL alone (the artifact
     * store every service is given) is not input. */
    if (conf.blob_prefix && *conf.blob_prefix) {
        if (!conf.common.blob_url || !*conf.common.blob_url) {
            mm_log_error("config_invalid", "--blob-prefix needs --blob-url");
            fprintf(stderr, "mm-ingest watch: --blob-prefix needs --blob-url\n");
            goto out;
        }
        mm_blob_opts_t opts;
        mm_service_blob_opts(&conf.common, &opts);
        blob = mm_blob_new(conf.common.blob_url, &opts, errstr, sizeof(errstr));
        if (!blob) {
            mm_log_error("config_invalid", "--blob-url: %s", errstr);
            fprintf(stderr, "mm-ingest watch: --blob-url: %s\n", errstr);
            goto out;
        }
    }
    metrics = mm_metrics_new();
    if (!metrics) {
        fprintf(stderr, "mm-ingest watch: out of memory\n");
        goto out;
    }

    mm_ingest_config_t icfg = {
        .bootstrap = bootstrap,
        .kafka = &kafka,
        .spec = &spec,
        .batch_rows = conf.batch_rows,
        .batch_bytes = conf.batch_bytes,
        .max_buffered_rows = conf.max_buffered_rows,
        .pace_group = conf.pace_group,
        .pace_max_bytes = conf.pace_max_bytes,
    };
    mm_watch_config_t wcfg = {
        .ingest = &icfg,
        .flush_timeout_ms = (int)conf.flush_timeout_ms,
        .manifest_path = conf.manifest,
        .dir = conf.dir,
        .done_dir = conf.done_dir,
        .failed_dir = conf.failed_dir,
        .blob = blob,
        .blob_prefix = conf.blob_prefix,
        .blob_done_prefix = conf.blob_done_prefix,
        .blob_failed_prefix = conf.blob_failed_prefix,
        .max_blob_bytes = conf.max_blob_bytes,
        .suffix = conf.suffix,
        .ready_suffix = conf.ready_suffix,
        .settle_ms = conf.settle_ms,
        .metrics = metrics,
        .stop = &mm_service_stop,
    };
    watch = mm_watch_new(&wcfg, errstr, sizeof(errstr));
    if (!watch) {
        mm_log_error("start_failed", "%s", errstr);
        fprintf(stderr, "mm-ingest watch: %s\n", errstr);
        goto out;
    }
    if (mm_service_http_start(&conf.common, metrics, mm_watch_ready, watch, &httpd, errstr,
                              sizeof(errstr)) != MM_OK) {
        mm_log_error("start_failed", "--http-addr: %s", errstr);
        fprintf(stderr, "mm-ingest watch: --http-addr: %s\n", errstr);
        goto out;
    }
    status = mm_watch_run(watch, conf.poll_ms);

out:
    mm_httpd_destroy(httpd); /* before the watch its readiness callback reads */
    mm_watch_destroy(watch);
    mm_metrics_destroy(metrics);
    mm_blob_destroy(blob);
    free(bootstrap);
    mm_spec_clear(&spec);
    mm_kv_list_free(&kafka);
    mm_conf_free(&watch_schema, &conf);
    return status;
}
