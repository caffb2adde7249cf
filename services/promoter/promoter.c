/*
 * promoter.c - the promoter handle (see promoter.h): the registry, the blob
 * store, and with Kafka the outbox, producer and consumer, created in
 * mm_promoter_new() and shut down in order in mm_promoter_destroy().
 *
 * The rest of the service lives beside it: intake.c (ModelTrained in,
 * effectively once), decide.c (a verdict into the registry), policy.c (the
 * promotion policy), run.c (the consume loop), progress.c (readiness and
 * lag). The registry itself is common/src/registry*.c.
 *
 * Workload: one handle per process, made once at start.
 */
#include <stdlib.h>
#include <string.h>

#include "mm/avro.h"
#include "mm/log.h"
#include "promoter_int.h"

#define PROMOTER_PRODUCER_CLOSE_MS 5000 /* wait for the producer's last reports at destroy */

/* Outbox, producer and the mm.models consumer: what mm_promoter_run() needs. */
static mm_err_t kafka_new(mm_promoter_t *promoter, const mm_promoter_config_t *cfg, char *errstr,
                          size_t errstr_size) {
    char why[768];
    if (mm_outbox_init(&promoter->outbox, promoter->db, cfg->outbox_batch, why, sizeof(why)))
        return mm_errf(MM_ERR_DB, errstr, errstr_size, "outbox: %s", why);
    promoter->has_outbox = true;
    promoter->producer = mm_kafka_producer_new(cfg->bootstrap, cfg->kafka, mm_outbox_dr_cb,
                                               &promoter->outbox, why, sizeof(why));
    if (!promoter->producer) return mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "producer: %s", why);
    static const char *const topics[] = {MM_TOPIC_MODELS};
    /* Resume where the registry says, and follow the partitions for readiness (progress.c). */
    mm_kafka_rebalance_cbs_t cbs = {.on_assign = mm_promoter__on_assign,
                                    .on_revoke = mm_promoter__on_revoke,
                                    .opaque = promoter};
    promoter->consumer =
        mm_kafka_consumer_new(cfg->bootstrap, cfg->group_id ? cfg->group_id : MM_PROMOTER_GROUP,
                              topics, 1, cfg->kafka, &cbs, why, sizeof(why));
    if (!promoter->consumer) return mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "consumer: %s", why);
    return MM_OK;
}

/* The service loop's metrics (docs/operations.md); none without a registry. */
static mm_err_t metrics_new(mm_promoter_t *promoter, mm_metrics_t *metrics, char *errstr,
                            size_t errstr_size) {
    if (!metrics) return MM_OK;
    promoter->decisions = mm_metrics_counter(
        metrics, "mm_promoter_decisions_total",
        "ModelTrained records handled, by outcome: approved, rejected, fallback (a declared "
        "fallback registered), replayed (seen before, nothing changed), dead_letter.",
        "outcome", errstr, errstr_size);
    if (!promoter->decisions) return MM_ERR_INVALID_ARG;
    promoter->outbox_pending =
        mm_metrics_gauge(metrics, "mm_promoter_outbox_pending",
                         "Decisions and dead letters written but not yet delivered to Kafka.", NULL,
                         errstr, errstr_size);
    return promoter->outbox_pending ? MM_OK : MM_ERR_INVALID_ARG;
}

/* The blob store: the caller's, or one opened from the configured URL. */
static mm_err_t blob_open(mm_promoter_t *promoter, const mm_promoter_config_t *cfg, char *errstr,
                          size_t errstr_size) {
    promoter->blob = cfg->blob;
    if (promoter->blob || !cfg->blob_url) return MM_OK;
    char why[768];
    promoter->owned_blob = mm_blob_new(cfg->blob_url, &cfg->blob_opts, why, sizeof(why));
    if (!promoter->owned_blob)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "blob store: %s", why);
    promoter->blob = promoter->owned_blob;
    return MM_OK;
}

mm_promoter_t *mm_promoter_new(const mm_promoter_config_t *cfg, char *errstr, size_t errstr_size) {
    if (!cfg || !cfg->spec) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "promoter: a dataset spec is required");
        return NULL;
    }
    if (mm_avro_init(errstr, errstr_size) != MM_OK) return NULL;
    mm_promoter_t *promoter = calloc(1, sizeof(*promoter));
    if (!promoter) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "promoter: out of memory");
        return NULL;
    }
    promoter->spec = cfg->spec;
    promoter->flush_timeout_ms = cfg->flush_timeout_ms;
    promoter->actor = strdup(cfg->actor ? cfg->actor : MM_PROMOTER_SERVICE);
    promoter->decisions_topic =
        strdup(cfg->decisions_topic ? cfg->decisions_topic : MM_TOPIC_DECISIONS);
    promoter->deadletter_topic =
        strdup(cfg->deadletter_topic ? cfg->deadletter_topic : MM_TOPIC_DEADLETTER);
    if (!promoter->actor || !promoter->decisions_topic || !promoter->deadletter_topic) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "promoter: out of memory");
        goto fail;
    }
    if (blob_open(promoter, cfg, errstr, errstr_size) != MM_OK) goto fail;
    if (metrics_new(promoter, cfg->metrics, errstr, errstr_size) != MM_OK) goto fail;
    if (mm_promoter__progress_init(promoter, cfg->metrics, errstr, errstr_size) != MM_OK) goto fail;
    char why[768];
    promoter->db = mm_registry_open(cfg->registry_path, why, sizeof(why));
    if (!promoter->db) {
        mm_errf(MM_ERR_DB, errstr, errstr_size, "registry %s: %s",
                cfg->registry_path ? cfg->registry_path : "", why);
        goto fail;
    }
    mm_consumer_state_config_t offsets_cfg = {.table = MM_PROMOTER__OFFSETS_TABLE,
                                              .service = MM_PROMOTER_SERVICE,
                                              .deadletter_topic = promoter->deadletter_topic};
    promoter->offsets = mm_consumer_state_new(promoter->db, &offsets_cfg, why, sizeof(why));
    if (!promoter->offsets) {
        mm_errf(MM_ERR_DB, errstr, errstr_size, "registry %s: %s",
                cfg->registry_path ? cfg->registry_path : "", why);
        goto fail;
    }
    if (cfg->bootstrap && kafka_new(promoter, cfg, errstr, errstr_size) != MM_OK) goto fail;
    return promoter;
fail:
    mm_promoter_destroy(promoter);
    return NULL;
}

void mm_promoter_destroy(mm_promoter_t *promoter) {
    if (!promoter) return;
    /* Leave the group, deliver what the outbox holds within the timeout (the rest is
     * re-sent at the next start), then destroy. */
    mm_kafka_consumer_close(promoter->consumer);
    if (promoter->producer) {
        char errstr[512];
        if (mm_outbox_flush(&promoter->outbox, promoter->producer, promoter->flush_timeout_ms,
                            errstr, sizeof(errstr)))
            mm_log_warn("shutdown", "%s", errstr);
        mm_kafka_producer_destroy(promoter->producer, PROMOTER_PRODUCER_CLOSE_MS);
    }
    if (promoter->has_outbox) mm_outbox_free(&promoter->outbox);
    mm_promoter__progress_free(promoter);
    mm_consumer_state_destroy(promoter->offsets);
    mm_db_close(promoter->db);
    mm_blob_destroy(promoter->owned_blob);
    free(promoter->actor);
    free(promoter->decisions_topic);
    free(promoter->deadletter_topic);
    free(promoter);
}

mm_db_t *mm_promoter_db(mm_promoter_t *promoter) {
    return promoter->db;
}
