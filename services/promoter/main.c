/*
 * mm-promoter: arguments, configuration, signals and shutdown order only; the
 * logic (intake, policy, decisions, the consume loop) lives beside it and the
 * registry in libmm (mm/registry.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "mm/blob.h"
#include "mm/conf.h"
#include "mm/consumer_state.h"
#include "mm/exit.h"
#include "mm/httpd.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/service.h"
#include "promoter.h"

typedef struct promoter_conf {
    mm_service_common_t common;
    char *registry;
    char *group_id;
    int64_t outbox_batch;
    int64_t flush_timeout_ms;
} promoter_conf_t;

static const mm_conf_prop_t promoter_props[] = {
    MM_SERVICE_CONF_KAFKA(promoter_conf_t, common),
    MM_SERVICE_CONF_SPEC(promoter_conf_t, common),
    MM_SERVICE_CONF_BLOB(promoter_conf_t, common),
    {"registry", MM_CONF_STR, NULL, 0, -1, "MM_PROMOTER_REGISTRY",
     "SQLite model registry: versions, aliases, tags, audit, consumed offsets, outbox",
     MM_CONF_F_REQUIRED, offsetof(promoter_conf_t, registry)},
    {"group-id", MM_CONF_STR, MM_PROMOTER_GROUP, 0, -1, "MM_PROMOTER_GROUP_ID",
     "Kafka consumer group", 0, offsetof(promoter_conf_t, group_id)},
    {"outbox-batch", MM_CONF_INT, "500", 1, 100000, "MM_PROMOTER_OUTBOX_BATCH",
     "outbox rows handed to the producer per batch", 0, offsetof(promoter_conf_t, outbox_batch)},
    {"flush-timeout-ms", MM_CONF_INT, "10000", 0, 600000, "MM_PROMOTER_FLUSH_TIMEOUT_MS",
     "at shutdown, how long to keep delivering the outbox (the rest is sent at the next start)", 0,
     offsetof(promoter_conf_t, flush_timeout_ms)},
    MM_SERVICE_CONF_HTTP(promoter_conf_t, common),
    MM_SERVICE_CONF_SCHEMA_REGISTRY(promoter_conf_t, common),
    MM_SERVICE_CONF_LOG(promoter_conf_t, common),
};

static const mm_conf_schema_t promoter_schema = {
    .program = "mm-promoter",
    .summary = "Judge trained models against the promotion policy, keep the model registry, "
               "publish decisions.",
    .props = promoter_props,
    .n_props = sizeof(promoter_props) / sizeof(promoter_props[0]),
};

int main(int argc, char **argv) {
    promoter_conf_t conf = {0};
    mm_kv_list_t kafka = {0};
    mm_spec_t spec = {0};
    char *bootstrap = NULL;
    mm_httpd_t *httpd = NULL;
    mm_metrics_t *metrics = NULL;
    char errstr[1024];
    int status = MM_EXIT_FAILURE;

    status = mm_service_start(&promoter_schema, &conf, &conf.common, argc, argv, &kafka, NULL, NULL,
                              &spec, &bootstrap);
    if (status != MM_SERVICE_RUN) goto out;
    status = MM_EXIT_FAILURE;
    metrics = mm_metrics_new();
    if (!metrics) {
        mm_log_error("start_failed", "out of memory");
        goto out;
    }
    if (metrics && mm_blob_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "blob request metrics: %s", errstr);
    if (metrics && mm_dead_letter_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "dead letter metrics: %s", errstr);
    if (metrics && mm_kafka_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "Kafka client metrics: %s", errstr);
    mm_promoter_config_t cfg = {
        .registry_path = conf.registry,
        .spec = &spec,
        .blob_url = conf.common.blob_url,
        .bootstrap = bootstrap,
        .kafka = &kafka,
        .group_id = conf.group_id,
        .outbox_batch = (size_t)conf.outbox_batch,
        .flush_timeout_ms = (int)conf.flush_timeout_ms,
        .metrics = metrics,
    };
    mm_service_blob_opts(&conf.common, &cfg.blob_opts);

    mm_promoter_t *promoter = mm_promoter_new(&cfg, errstr, sizeof(errstr));
    if (!promoter) {
        mm_log_error("start_failed", "%s", errstr);
        goto out;
    }
    mm_err_t http_err = mm_service_http_start(&conf.common, metrics, mm_promoter_ready, promoter,
                                              &httpd, errstr, sizeof(errstr));
    if (http_err) {
        mm_log_error("start_failed", "--http-addr: %s", errstr);
        mm_promoter_destroy(promoter);
        status = http_err == MM_ERR_CONFIG ? MM_EXIT_CONFIG : MM_EXIT_FAILURE;
        goto out;
    }
    mm_log_info("started", "registry %s, group %s, policy from %s", conf.registry, conf.group_id,
                conf.common.spec_path);
    mm_err_t err = mm_promoter_run(promoter, &mm_service_stop, errstr, sizeof(errstr));
    mm_httpd_destroy(httpd); /* its readiness asks the promoter */
    httpd = NULL;
    if (err) mm_log_error("stopped", "%s", errstr);
    mm_promoter_destroy(
        promoter); /* consumer close, outbox flush, producer close, registry close */
    status = err ? MM_EXIT_FAILURE : MM_EXIT_OK;
    if (status == MM_EXIT_OK) mm_log_info("exit", "mm-promoter stopped");
out:
    mm_httpd_destroy(httpd);
    mm_blob_report_metrics(NULL, NULL, 0);
    mm_dead_letter_report_metrics(NULL, NULL, 0);
    mm_kafka_report_metrics(NULL, NULL, 0);
    mm_metrics_destroy(metrics);
    free(bootstrap);
    mm_spec_clear(&spec);
    mm_kv_list_free(&kafka);
    mm_conf_free(&promoter_schema, &conf);
    return status;
}
