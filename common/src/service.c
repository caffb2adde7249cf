/*
 * service.c - what the services share (see service.h): signals, start-up,
 * the operational HTTP endpoints, and the DeadLetter of an input a service cannot use.
 */
#include "mm/service.h"

#include <stdio.h>
#include <string.h>

#include "mm/avro.h"
#include "mm/crash.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/records.h"
#include "mm/redact.h"
#include "mm/util.h"

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
    if (spec) {
        mm_err_t err = mm_spec_load_file(common->spec_path, spec, errstr, errstr_size);
        if (err) return err;
    }
    if (bootstrap) {
        *bootstrap = mm_kafka_resolve_bootstrap(common->bootstrap_servers, common->bootstrap_file,
                                                60000, errstr, errstr_size);
        if (!*bootstrap) return MM_ERR_CONFIG;
    }
    return MM_OK;
}

int mm_service_start(const mm_conf_schema_t *schema, void *conf, mm_service_common_t *common,
                     int argc, char **argv, mm_kv_list_t *kafka, char ***positional,
                     size_t *n_positional, mm_spec_t *spec, char **bootstrap,
                     int config_error_status) {
    char errstr[1024];
    mm_conf_action_t action = MM_CONF_RUN;
    if (mm_conf_parse(schema, conf, argc, argv, kafka, positional, n_positional, &action, errstr,
                      sizeof(errstr))) {
        mm_redact_into(errstr, errstr, sizeof(errstr));
        fprintf(stderr, "%s: %s\n", schema->program, errstr);
        return config_error_status;
    }
    if (action == MM_CONF_EXIT_OK) return 0;
    mm_service_install_signals();
    if (mm_service_setup(schema->program, common, spec, bootstrap, errstr, sizeof(errstr))) {
        mm_redact_into(errstr, errstr, sizeof(errstr));
        mm_log_error("config_invalid", "%s", errstr);
        fprintf(stderr, "%s: %s\n", schema->program, errstr);
        return config_error_status;
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
