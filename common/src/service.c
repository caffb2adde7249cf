/*
 * service.c - shared start-up of the services (see service.h).
 */
#include "mm/service.h"

#include <string.h>

#include "mm/kafka.h"
#include "mm/log.h"

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

void mm_service_blob_opts(const mm_service_common_t *common, mm_blob_opts_t *opts) {
    memset(opts, 0, sizeof(*opts));
    opts->account_name = common->blob_account && *common->blob_account ? common->blob_account
                                                                        : NULL;
    opts->account_key = common->blob_key && *common->blob_key ? common->blob_key : NULL;
    opts->sas_token = common->blob_sas && *common->blob_sas ? common->blob_sas : NULL;
    opts->create_container = true;
}
