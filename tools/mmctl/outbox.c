/*
 * outbox.c - `mmctl outbox deliver`, and the delivery that follows a manual
 * promote or rollback: send the registry's pending decisions to Kafka with a
 * producer of mmctl's own (common/src/outbox.c does the work).
 */
#include "mm/outbox.h"

#include <stdio.h>
#include <stdlib.h>

#include "mm/kafka.h"
#include "mmctl.h"

#define MMCTL_DELIVER_TIMEOUT_MS 30000
#define MMCTL_BOOTSTRAP_WAIT_MS  5000 /* how long to wait for a bootstrap file */
#define MMCTL_PRODUCER_CLOSE_MS  5000

mm_err_t mmctl_deliver_outbox(const mmctl_opts_t *o, mm_db_t *db, char *errstr,
                              size_t errstr_size) {
    bool has_servers = o->bootstrap_servers && *o->bootstrap_servers;
    bool has_file = o->bootstrap_file && *o->bootstrap_file;
    if (!has_servers && !has_file) return MM_ERR_NOT_FOUND;
    char *bootstrap = mm_kafka_resolve_bootstrap(o->bootstrap_servers, o->bootstrap_file,
                                                 MMCTL_BOOTSTRAP_WAIT_MS, errstr, errstr_size);
    if (!bootstrap) return MM_ERR_CONFIG;
    mm_outbox_t outbox;
    mm_err_t err = mm_outbox_init(&outbox, db, 0, errstr, errstr_size);
    if (err) {
        free(bootstrap);
        return err;
    }
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(bootstrap, &o->kafka, mm_outbox_dr_cb, &outbox, errstr, errstr_size);
    free(bootstrap);
    if (!producer) {
        mm_outbox_free(&outbox);
        return MM_ERR_KAFKA;
    }
    err = mm_outbox_flush(&outbox, producer, MMCTL_DELIVER_TIMEOUT_MS, errstr, errstr_size);
    mm_kafka_producer_destroy(producer, MMCTL_PRODUCER_CLOSE_MS);
    mm_outbox_free(&outbox);
    return err;
}

int mmctl_outbox_deliver(const mmctl_opts_t *o) {
    mm_db_t *db = NULL;
    int rc = mmctl_open_registry(o, &db);
    if (rc) return rc;
    char errstr[1024];
    int64_t before = mm_outbox_count(db);
    mm_err_t err = mmctl_deliver_outbox(o, db, errstr, sizeof(errstr));
    int64_t after = mm_outbox_count(db);
    mm_db_close(db);
    if (err == MM_ERR_NOT_FOUND)
        return mmctl_usage_error("outbox deliver needs --bootstrap-servers or --bootstrap-file");
    if (err) return mmctl_fail(err, "outbox deliver", errstr);
    if (o->format == OUT_JSON) {
        mmctl_print_json(json_pack("{sIsI}", "delivered", (json_int_t)(before - after), "pending",
                                   (json_int_t)after));
    } else {
        printf("delivered %lld decisions; %lld pending\n", (long long)(before - after),
               (long long)after);
    }
    return EXIT_OK;
}
