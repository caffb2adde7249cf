/*
 * mm-ingest: arguments, configuration, signals and shutdown order only; the
 * logic lives in ingest.c.
 *
 *   mm-ingest --spec sales.json [--bootstrap-servers host:port] [FILE|-]...
 *   mm-ingest --spec sales.json --check-spec
 *   mm-ingest watch --spec sales.json --manifest F --dir D   (watch_main.c)
 *
 * With no FILE, stdin is read. --check-spec validates the spec and prints its
 * effective configuration (every default written out) as JSON on stdout,
 * without a broker. Exit status (mm/exit.h, docs/ingest.md): 0 all rows
 * emitted and delivered; 1 fatal (input, broker, delivery); 2 finished but
 * some rows were dead-lettered; 4 interrupted by a signal; 64 usage, 78
 * configuration error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "load_metrics.h"
#include "mm/conf.h"
#include "mm/exit.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/service.h"
#include "mm/util.h"
#include "watch_main.h"

#define BOOTSTRAP_WAIT_MS 60000 /* for mm-devbroker to write its bootstrap file */

typedef struct ingest_conf {
    mm_service_common_t common;
    int64_t batch_rows;
    int64_t batch_bytes;
    int64_t max_buffered_rows;
    char *load_id;
    int64_t flush_timeout_ms;
    char *pace_group;
    int64_t pace_max_bytes;
    bool check_spec;
    bool grouped_by_key;
    char *metrics_file;
    char *metrics_push;
} ingest_conf_t;

static const mm_conf_prop_t ingest_props[] = {
    MM_SERVICE_CONF_KAFKA(ingest_conf_t, common),
    MM_SERVICE_CONF_SPEC(ingest_conf_t, common),
    {"batch-rows", MM_CONF_INT, "5000", 1, 1000000, "MM_INGEST_BATCH_ROWS",
     "most rows in one ObservationBatch", 0, offsetof(ingest_conf_t, batch_rows)},
    /* The broker's message limit is 1 MB: batches stay well under it (docs/ingest.md). */
    {"batch-bytes", MM_CONF_INT, "524288", 4096, 900000, "MM_INGEST_BATCH_BYTES",
     "most encoded bytes in one ObservationBatch", 0, offsetof(ingest_conf_t, batch_bytes)},
    {"max-buffered-rows", MM_CONF_INT, "2000000", 1000, 1000000000, "MM_INGEST_MAX_BUFFERED_ROWS",
     "rows held in memory across all keys before open batches are sent early", 0,
     offsetof(ingest_conf_t, max_buffered_rows)},
    {"load-id", MM_CONF_STR, NULL, 0, -1, "MM_INGEST_LOAD_ID",
     "identifier of this load (default: start time + digest of the source names)", 0,
     offsetof(ingest_conf_t, load_id)},
    {"flush-timeout-ms", MM_CONF_INT, "120000", 1000, 3600000, "MM_INGEST_FLUSH_TIMEOUT_MS",
     "how long to wait for delivery reports at the end of the load", 0,
     offsetof(ingest_conf_t, flush_timeout_ms)},
    /* The dev broker keeps only ~5 MiB per partition (docs/ARCHITECTURE.md, "The dev broker"):
     * pace.
     */
    {"pace-group", MM_CONF_STR, MM_INGEST_DEFAULT_PACE_GROUP, 0, -1, "MM_INGEST_PACE_GROUP",
     "consumer group whose committed progress on mm.observations paces the load (empty: no "
     "pacing)",
     0, offsetof(ingest_conf_t, pace_group)},
    {"pace-max-bytes", MM_CONF_INT, "3145728", 65536, 1099511627776.0, "MM_INGEST_PACE_MAX_BYTES",
     "most bytes the pace group may have left unconsumed in one partition of mm.observations", 0,
     offsetof(ingest_conf_t, pace_max_bytes)},
    {"check-spec", MM_CONF_BOOL, "false", 0, -1, "MM_INGEST_CHECK_SPEC",
     "validate the spec, print its effective configuration (every default) as JSON and exit: 0 "
     "valid, 78 invalid; no broker is needed",
     0, offsetof(ingest_conf_t, check_spec)},
    {"grouped-by-key", MM_CONF_BOOL, "false", 0, -1, "MM_INGEST_GROUPED_BY_KEY",
     "the input keeps each key's rows together (sorted by key): send a key's end of load when the "
     "next key begins, so its training starts during the load",
     0, offsetof(ingest_conf_t, grouped_by_key)},
    {"metrics-file", MM_CONF_STR, NULL, 0, -1, "MM_INGEST_METRICS_FILE",
     "write the load's metrics at exit to this file (Prometheus text format, atomically; for "
     "node_exporter's textfile collector, e.g. /var/lib/node_exporter/mm-ingest.prom)",
     0, offsetof(ingest_conf_t, metrics_file)},
    {"metrics-push", MM_CONF_STR, NULL, 0, -1, "MM_INGEST_METRICS_PUSH",
     "push the load's metrics at exit to this Prometheus Pushgateway (http://host:9091), as job "
     "mm-ingest, instance <dataset>",
     0, offsetof(ingest_conf_t, metrics_push)},
    MM_SERVICE_CONF_SCHEMA_REGISTRY(ingest_conf_t, common),
    MM_SERVICE_CONF_LOG(ingest_conf_t, common),
};

static const mm_conf_schema_t ingest_schema = {
    .program = "mm-ingest",
    .summary = "Read CSV files (or stdin), group rows by partition key and publish "
               "ObservationBatch records; bad rows go to the dead-letter topic. Exit status: "
               "0 ok, 1 failure (input, broker, delivery), 2 some rows dead-lettered, "
               "4 interrupted, 64 usage error, 78 configuration error. "
               "`mm-ingest watch --help`: follow a folder or blob prefix instead.",
    .usage_args = "[FILE|-]...",
    .props = ingest_props,
    .n_props = sizeof(ingest_props) / sizeof(ingest_props[0]),
};

/* --check-spec: the spec loaded, so it is valid; print what it means. */
static int check_spec(const mm_spec_t *spec) {
    char *text = mm_spec_effective_json(spec);
    if (!text) {
        fprintf(stderr, "mm-ingest: out of memory\n");
        return MM_INGEST_EXIT_FATAL;
    }
    fprintf(stdout, "%s\n", text);
    free(text);
    return fflush(stdout) == 0 ? 0 : MM_INGEST_EXIT_FATAL;
}

int main(int argc, char **argv) {
    ingest_conf_t conf = {0};
    mm_kv_list_t kafka = {0};
    char **positional = NULL;
    size_t n_positional = 0;
    mm_spec_t spec = {0};
    char *bootstrap = NULL;
    mm_ingest_t *ingest = NULL;
    mm_metrics_t *metrics = NULL;
    char errstr[1024];
    int status = MM_INGEST_EXIT_FATAL;

    /* `mm-ingest watch ...`: follow a folder / blob prefix (watch_main.c). */
    if (argc > 1 && strcmp(argv[1], "watch") == 0) return mm_ingest_watch_main(argc - 1, argv + 1);

    /* The bootstrap servers are resolved below, after --check-spec, which needs no broker. */
    status = mm_service_start(&ingest_schema, &conf, &conf.common, argc, argv, &kafka, &positional,
                              &n_positional, &spec, NULL);
    if (status != MM_SERVICE_RUN) goto out;
    if (conf.check_spec) {
        status = check_spec(&spec);
        goto out;
    }
    status = MM_INGEST_EXIT_FATAL;
    if ((conf.metrics_file && *conf.metrics_file) || (conf.metrics_push && *conf.metrics_push)) {
        metrics = mm_metrics_new(); /* before anything can fail: a failed load reports too */
        if (!metrics) mm_log_warn("metrics_unavailable", "out of memory");
    }
    bootstrap =
        mm_kafka_resolve_bootstrap(conf.common.bootstrap_servers, conf.common.bootstrap_file,
                                   BOOTSTRAP_WAIT_MS, errstr, sizeof(errstr));
    if (!bootstrap) {
        mm_log_error("config_invalid", "%s", errstr);
        fprintf(stderr, "mm-ingest: %s\n", errstr);
        status = MM_EXIT_CONFIG;
        goto done;
    }
    mm_err_t registry_err = mm_service_schema_registry_sync(&conf.common, errstr, sizeof(errstr));
    if (registry_err) {
        mm_log_error("schema_registry_failed", "%s", errstr);
        fprintf(stderr, "mm-ingest: %s\n", errstr);
        status = mm_service_err_is_runtime(registry_err) ? MM_EXIT_FAILURE : MM_EXIT_CONFIG;
        goto done;
    }

    static const char *const stdin_only[] = {"-"};
    const char *const *sources = n_positional ? (const char *const *)positional : stdin_only;
    size_t n_sources = n_positional ? n_positional : 1;
    char load_id[128];
    if (conf.load_id && *conf.load_id)
        snprintf(load_id, sizeof(load_id), "%s", conf.load_id);
    else
        mm_ingest_default_load_id(sources, n_sources, mm_now_ms(), load_id, sizeof(load_id));

    mm_ingest_config_t cfg = {
        .bootstrap = bootstrap,
        .kafka = &kafka,
        .spec = &spec,
        .load_id = load_id,
        .batch_rows = conf.batch_rows,
        .batch_bytes = conf.batch_bytes,
        .max_buffered_rows = conf.max_buffered_rows,
        .grouped_by_key = conf.grouped_by_key,
        .stop = &mm_service_stop,
        .pace_group = conf.pace_group,
        .pace_max_bytes = conf.pace_max_bytes,
    };
    ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
    if (!ingest) {
        mm_log_error("start_failed", "%s", errstr);
        fprintf(stderr, "mm-ingest: %s\n", errstr);
        goto done;
    }

    status = mm_ingest_run(ingest, sources, n_sources, (int)conf.flush_timeout_ms, stdout);

done: /* the load's end, also when it could not start: its metrics */
    if (metrics) {
        mm_ingest_stats_t stats = {0};
        if (ingest) mm_ingest_get_stats(ingest, &stats);
        mm_ingest_load_report_t report = {.file = conf.metrics_file,
                                          .push_url = conf.metrics_push,
                                          .instance = spec.name,
                                          .exit_status = status,
                                          .stats = &stats};
        if (mm_ingest_load_metrics_export(metrics, &report, errstr, sizeof(errstr)))
            mm_log_error("metrics_export_failed", "%s", errstr);
    }
out:
    mm_metrics_destroy(metrics);
    mm_ingest_destroy(ingest); /* producer already flushed by finish */
    free(bootstrap);
    free(positional);
    mm_spec_clear(&spec);
    mm_kv_list_free(&kafka);
    mm_conf_free(&ingest_schema, &conf);
    return status;
}
