/*
 * service.c - what the services share (see service.h): signals, start-up,
 * the operational HTTP endpoints, and the DeadLetter of an input a service cannot use.
 */
#include "mm/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/avro.h"
#include "mm/crash.h"
#include "mm/exit.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/records.h"
#include "mm/redact.h"
#include "mm/schema_registry.h"
#include "mm/util.h"
#include "mm/version.h"

volatile sig_atomic_t mm_service_stop = 0;

static void on_signal(int sig) {
    (void)sig;
    mm_service_stop = 1;
}

void mm_service_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

mm_err_t mm_service_setup(const char *service, const mm_service_common_t *common, mm_spec_t *spec,
                          char **bootstrap, char *errstr, size_t errstr_size) {
    mm_log_level_t level = MM_LOG_INFO;
    if (common->log_level && *common->log_level && !mm_log_level_parse(common->log_level, &level))
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "--log-level: '%s' is not one of debug, info, warn, error",
                       common->log_level);
    mm_log_init(service, level);
    mm_err_t prefix_err = mm_kafka_set_topic_prefix(common->topic_prefix, errstr, errstr_size);
    if (prefix_err) return prefix_err;
    if (spec) {
        mm_err_t err = mm_spec_load_file(common->spec_path, spec, errstr, errstr_size);
        if (err) return err;
    }
    if (bootstrap) {
        *bootstrap = mm_kafka_resolve_bootstrap(common->bootstrap_servers, common->bootstrap_file,
                                                60000, errstr, errstr_size);
        if (!*bootstrap) return MM_ERR_CONFIG;
        /* A service that talks to Kafka makes the registry agree before producing. */
        return mm_service_schema_registry_sync(common, errstr, errstr_size);
    }
    return MM_OK;
}

bool mm_service_err_is_runtime(mm_err_t err) {
    return err == MM_ERR_TRANSPORT || err == MM_ERR_TIMEOUT || err == MM_ERR_THROTTLED;
}

mm_err_t mm_service_schema_registry_sync(const mm_service_common_t *common, char *errstr,
                                         size_t errstr_size) {
    if (!common->schema_registry_url || !*common->schema_registry_url) return MM_OK;
    mm_schema_registry_opts_t opts = {.url = common->schema_registry_url,
                                      .user = common->schema_registry_user,
                                      .password = common->schema_registry_password,
                                      .topic_prefix = mm_kafka_topic_prefix()};
    mm_schema_registry_report_t *report = malloc(sizeof(*report));
    if (!report) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    mm_err_t err = mm_schema_registry_sync(&opts, report, errstr, errstr_size);
    if (!err)
        mm_log_info("schema_registry_synced",
                    "schema registry agrees with the catalog: %zu schemas, %zu registered now",
                    report->n_entries, report->n_registered);
    free(report);
    return err;
}

int mm_service_start(const mm_conf_schema_t *schema, void *conf, mm_service_common_t *common,
                     int argc, char **argv, mm_kv_list_t *kafka, char ***positional,
                     size_t *n_positional, mm_spec_t *spec, char **bootstrap) {
    char errstr[1024];
    if (mm_version_requested(argc, argv))
        return mm_version_print(schema->program, stdout) == 0 ? MM_EXIT_OK : MM_EXIT_FAILURE;
    mm_conf_action_t action = MM_CONF_RUN;
    if (mm_conf_parse(schema, conf, argc, argv, kafka, positional, n_positional, &action, errstr,
                      sizeof(errstr))) {
        mm_redact_into(errstr, errstr, sizeof(errstr));
        fprintf(stderr, "%s: %s\n", schema->program, errstr);
        return MM_EXIT_USAGE;
    }
    if (action == MM_CONF_EXIT_OK) return MM_EXIT_OK;
    mm_service_install_signals();
    mm_err_t err =
        mm_service_setup(schema->program, common, spec, bootstrap, errstr, sizeof(errstr));
    if (err) {
        mm_redact_into(errstr, errstr, sizeof(errstr));
        /* Only the schema registry is asked over the network here: not reaching it is a
         * runtime failure, everything else a configuration error. */
        bool runtime = mm_service_err_is_runtime(err);
        mm_log_error(runtime ? "startup_failed" : "config_invalid", "%s", errstr);
        fprintf(stderr, "%s: %s\n", schema->program, errstr);
        return runtime ? MM_EXIT_FAILURE : MM_EXIT_CONFIG;
    }
    mm_crash_points_init();
    return MM_SERVICE_RUN;
}

void mm_service_blob_opts(const mm_service_common_t *common, mm_blob_opts_t *opts) {
    memset(opts, 0, sizeof(*opts));
    opts->account_name =
        common->blob_account && *common->blob_account ? common->blob_account : NULL;
    opts->account_key = common->blob_key && *common->blob_key ? common->blob_key : NULL;
    opts->sas_token = common->blob_sas && *common->blob_sas ? common->blob_sas : NULL;
    opts->create_container = true;
}

mm_err_t mm_service_http_start(const mm_service_common_t *common, mm_metrics_t *metrics,
                               mm_httpd_ready_fn ready, void *ready_opaque, mm_httpd_t **httpd,
                               char *errstr, size_t errstr_size) {
    *httpd = NULL;
    if (!common->http_addr || !*common->http_addr) return MM_OK;
    mm_httpd_opts_t opts = {.addr = common->http_addr,
                            .metrics = metrics,
                            .ready = ready,
                            .ready_opaque = ready_opaque};
    mm_httpd_t *server = mm_httpd_new(&opts, errstr, errstr_size);
    if (!server) return MM_ERR_CONFIG;
    mm_err_t err = mm_httpd_start(server, errstr, errstr_size);
    if (err) {
        mm_httpd_destroy(server);
        return err;
    }
    mm_log_info("http_listening", "serving /healthz, /readyz and /metrics on %s (port %u)",
                common->http_addr, mm_httpd_port(server));
    *httpd = server;
    return MM_OK;
}

mm_err_t mm_service_dead_letter_encode(const char *service,
                                       const mm_service_dead_letter_source_t *source,
                                       const char *partition_key, const void *original,
                                       size_t original_len, mm_err_t code, const char *reason,
                                       mm_buf_t *out, char *errstr, size_t errstr_size) {
    const char *topic = source ? source->topic : NULL;
    const char *file = source ? source->file : NULL;
    mm_dead_letter_t letter;
    memset(&letter, 0, sizeof(letter));
    /* Encoding only reads the record: borrowed pointers are fine. */
    letter.service = service;
    letter.error_code = mm_err_name(code);
    /* The reason is an error text: it may quote a URL or a value that holds a secret. */
    char *redacted_reason = reason ? mm_redact(reason) : NULL;
    letter.reason = reason ? (redacted_reason ? redacted_reason : MM_REDACTED) : NULL;
    letter.partition_key = partition_key;
    letter.source_topic = topic;
    letter.source_partition = topic ? source->partition : -1;
    letter.source_offset = topic ? source->offset : -1;
    letter.source_file = file;
    letter.source_line = file ? source->line : -1;
    letter.original = original;
    letter.original_len = original ? original_len : 0;
    letter.failed_at_ms = mm_now_ms();

    mm_err_t err = mm_avro_encode_dead_letter(&letter, out, errstr, errstr_size);
    if (err == MM_ERR_NOMEM && letter.original_len > 0) {
        /* Over the cap: keep the reason and the coordinates, drop the bytes. A failed
         * encoding leaves @p out as it was. */
        letter.original = NULL;
        letter.original_len = 0;
        err = mm_avro_encode_dead_letter(&letter, out, errstr, errstr_size);
    }
    free(redacted_reason);
    return err;
}
