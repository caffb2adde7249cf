/*
 * mm-trainer: arguments, configuration, signals and shutdown order only; the
 * logic lives in trainer.c.
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm/blob.h"
#include "mm/conf.h"
#include "mm/consumer_state.h"
#include "mm/exit.h"
#include "mm/httpd.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/metrics.h"
#include "mm/service.h"
#include "trainer.h"

typedef struct trainer_conf {
    mm_service_common_t common;
    char *state;
    char *group_id;
    int64_t workers;
    char *instance_id;
    int64_t max_series_points;
} trainer_conf_t;

static const mm_conf_prop_t trainer_props[] = {
    MM_SERVICE_CONF_KAFKA(trainer_conf_t, common),
    MM_SERVICE_CONF_SPEC(trainer_conf_t, common),
    MM_SERVICE_CONF_BLOB(trainer_conf_t, common),
    {"state", MM_CONF_STR, "mm-trainer.db", 0, -1, "MM_TRAINER_STATE",
     "SQLite state store: per-key history, consumed offsets, outbox", MM_CONF_F_REQUIRED,
     offsetof(trainer_conf_t, state)},
    {"group-id", MM_CONF_STR, "mm-trainer", 0, -1, "MM_TRAINER_GROUP_ID", "Kafka consumer group", 0,
     offsetof(trainer_conf_t, group_id)},
    {"workers", MM_CONF_INT, "0", 0, 256, "MM_TRAINER_WORKERS",
     "training threads (0 = one per online CPU)", 0, offsetof(trainer_conf_t, workers)},
    {"instance-id", MM_CONF_STR, NULL, 0, -1, "MM_TRAINER_INSTANCE_ID",
     "name written into ModelTrained records (default: hostname-pid)", 0,
     offsetof(trainer_conf_t, instance_id)},
    {"max-series-points", MM_CONF_INT, "100000", 16, 10000000, "MM_TRAINER_MAX_SERIES_POINTS",
     "longest series trained per key (older points are left out)", 0,
     offsetof(trainer_conf_t, max_series_points)},
    MM_SERVICE_CONF_HTTP(trainer_conf_t, common),
    MM_SERVICE_CONF_SCHEMA_REGISTRY(trainer_conf_t, common),
    MM_SERVICE_CONF_LOG(trainer_conf_t, common),
};

static const mm_conf_schema_t trainer_schema = {
    .program = "mm-trainer",
    .summary = "Consume observations, keep per-key history, train and publish candidate models.",
    .props = trainer_props,
    .n_props = sizeof(trainer_props) / sizeof(trainer_props[0]),
};

/*
 * Training runs one model per worker thread; BLAS threads inside each fit
 * would only contend with the pool. OpenBLAS (when it is the BLAS in use)
 * reads OPENBLAS_NUM_THREADS at load time, so an unset variable is settled here.
 */
static void single_threaded_blas(void) {
    if (getenv("OPENBLAS_NUM_THREADS")) return;
    void *sym = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    if (!sym) return;
    void (*set_threads)(int);
    memcpy(&set_threads, &sym, sizeof(set_threads));
    set_threads(1);
}

int main(int argc, char **argv) {
    trainer_conf_t conf = {0};
    mm_kv_list_t kafka = {0};
    mm_spec_t spec = {0};
    char *bootstrap = NULL;
    mm_metrics_t *metrics = NULL;
    mm_httpd_t *httpd = NULL;
    char errstr[1024];
    int status = MM_EXIT_FAILURE;

    status = mm_service_start(&trainer_schema, &conf, &conf.common, argc, argv, &kafka, NULL, NULL,
                              &spec, &bootstrap);
    if (status != MM_SERVICE_RUN) goto out;
    status = MM_EXIT_FAILURE;
    single_threaded_blas();

    char instance[300];
    if (conf.instance_id && *conf.instance_id) {
        snprintf(instance, sizeof(instance), "%s", conf.instance_id);
    } else {
        char host[256] = "host";
        gethostname(host, sizeof(host) - 1);
        snprintf(instance, sizeof(instance), "%s-%ld", host, (long)getpid());
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    metrics = mm_metrics_new();
    if (metrics && mm_blob_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "blob request metrics: %s", errstr);
    if (metrics && mm_dead_letter_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "dead letter metrics: %s", errstr);
    if (metrics && mm_kafka_report_metrics(metrics, errstr, sizeof(errstr)))
        mm_log_warn("metrics_unavailable", "Kafka client metrics: %s", errstr);
    mm_trainer_config_t cfg = {
        .bootstrap = bootstrap,
        .kafka = &kafka,
        .group_id = conf.group_id,
        .spec = &spec,
        .state_path = conf.state,
        .blob_url = conf.common.blob_url,
        .workers = conf.workers > 0 ? (int)conf.workers : (cpus > 0 ? (int)cpus : 1),
        .instance_id = instance,
        .max_series_points = conf.max_series_points,
        .metrics = metrics,
    };
    mm_service_blob_opts(&conf.common, &cfg.blob_opts);

    mm_trainer_t *trainer = mm_trainer_new(&cfg, errstr, sizeof(errstr));
    if (!trainer) {
        mm_log_error("start_failed", "%s", errstr);
        goto out;
    }
    mm_err_t http_err = mm_service_http_start(&conf.common, metrics, mm_trainer_ready, trainer,
                                              &httpd, errstr, sizeof(errstr));
    if (http_err) {
        mm_log_error("start_failed", "--http-addr: %s", errstr);
        mm_trainer_destroy(trainer);
        status = http_err == MM_ERR_CONFIG ? MM_EXIT_CONFIG : MM_EXIT_FAILURE;
        goto out;
    }
    mm_err_t err = mm_trainer_run(trainer, &mm_service_stop);
    mm_httpd_destroy(httpd); /* its readiness asks the trainer */
    httpd = NULL;
    mm_trainer_destroy(trainer); /* consumer close, producer flush, state store close */
    status = err ? MM_EXIT_FAILURE : MM_EXIT_OK;
out:
    mm_httpd_destroy(httpd);
    mm_blob_report_metrics(NULL, NULL, 0);
    mm_dead_letter_report_metrics(NULL, NULL, 0);
    mm_kafka_report_metrics(NULL, NULL, 0);
    mm_metrics_destroy(metrics);
    free(bootstrap);
    mm_spec_clear(&spec);
    mm_kv_list_free(&kafka);
    mm_conf_free(&trainer_schema, &conf);
    return status;
}
