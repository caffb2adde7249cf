/*
 * pipeline.h - run the services as real processes against a dev broker, for
 * the end-to-end tests: sample data, trainer, promoter, ingest, scorer, and
 * readers of what they produced (topics, state stores, sink).
 */
#ifndef MM_TEST_PIPELINE_H
#define MM_TEST_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "broker.h"

typedef struct mmt_pipeline {
    mmt_broker_t broker;
    char *dir; /* everything lives here */
    char *spec_path;
    char *blob_url;
    char *blob_key; /* Azure SharedKey of blob_url (MM_BLOB_KEY of every service); NULL */
    char *csv_path; /* generated sales data */
    pid_t trainer, promoter;
    int trainer_starts;
    bool http; /* set before starting services: each serves /metrics on a port of its own
                  (MM_HTTP_ADDR=127.0.0.1:0; the port is in its http_listening log line) */
} mmt_pipeline_t;

/** @brief Start a broker and write a sales spec (horizon @p horizon) into a fresh dir. */
void mmt_pipeline_init(mmt_pipeline_t *p, const char *tag, int partitions, int horizon);
/** @brief Like mmt_pipeline_init, with the broker's fault-injection control channel open
 * (p->broker.control_file; mmt_broker_control()). */
void mmt_pipeline_init_control(mmt_pipeline_t *p, const char *tag, int partitions, int horizon);
/** @brief Like mmt_pipeline_init with the dataset spec given as JSON text. */
void mmt_pipeline_init_spec(mmt_pipeline_t *p, const char *tag, int partitions,
                            const char *spec_json);
/**
 * @brief Use the Azure Blob store at @p url (e.g. an Azurite endpoint plus a container) with
 * the SharedKey @p account_key instead of the file:// store in the pipeline dir. Call before
 * starting any service.
 */
void mmt_pipeline_use_blob(mmt_pipeline_t *p, const char *url, const char *account_key);
/** @brief Generate predictive-maintenance data; csv_path is its telemetry_labeled.csv. */
void mmt_pipeline_generate_maintenance(mmt_pipeline_t *p, int machines, int days, int seed);
/** @brief Generate sales CSV with mm-datagen; @returns the data rows written. */
int64_t mmt_pipeline_generate(mmt_pipeline_t *p, int stores, int items, int days, int seed);
/** @brief Append @p text (CSV rows incl. header) as a second file; @returns its path (malloc'd). */
char *mmt_pipeline_extra_csv(mmt_pipeline_t *p, const char *name, const char *text);

void mmt_pipeline_start_trainer(mmt_pipeline_t *p);
void mmt_pipeline_kill_trainer(mmt_pipeline_t *p); /* SIGKILL, no goodbye */
void mmt_pipeline_start_promoter(mmt_pipeline_t *p);

/** @brief Run mm-ingest on the files (NULL-terminated); @returns its exit status. */
int mmt_pipeline_ingest(mmt_pipeline_t *p, const char *const *files, const char *extra_arg);
/** @brief Start mm-ingest without waiting; @returns its pid. */
pid_t mmt_pipeline_ingest_async(mmt_pipeline_t *p, const char *const *files, const char *extra_arg);

/** @brief Read mm.decisions: the number of distinct keys with a decision. */
int64_t mmt_pipeline_decided_keys(mmt_pipeline_t *p);
/** @brief Read mm.decisions: distinct keys, and those whose latest decision names a production
 * model. */
int64_t mmt_pipeline_decisions(mmt_pipeline_t *p, int64_t *with_production);
/** @brief Poll until @p keys keys have a decision or the (scaled) timeout passes. */
bool mmt_pipeline_wait_decisions(mmt_pipeline_t *p, int64_t keys, int64_t timeout_ms);
/** @brief Count records on @p topic (reading it to the end). */
int64_t mmt_pipeline_count_topic(mmt_pipeline_t *p, const char *topic);

/** @brief Run mm-scorer (batch; sink predictions.db, state scorer.db); @returns its exit status. */
int mmt_pipeline_score(mmt_pipeline_t *p);
/** @brief Like mmt_pipeline_score with extra arguments (NULL-terminated; may be NULL). */
int mmt_pipeline_score_with(mmt_pipeline_t *p, const char *const *extra);
/** @brief Start mmt_pipeline_score's run without waiting (log scorer.log); @returns its pid. */
pid_t mmt_pipeline_score_async(mmt_pipeline_t *p);

/**
 * @brief Like mmt_pipeline_score_with, writing to the sink at @p sink_url (a path, sqlite://...
 * or postgresql://...) instead of predictions.db.
 */
int mmt_pipeline_score_into(mmt_pipeline_t *p, const char *sink_url, const char *const *extra);

/** @brief Query one integer from a SQLite file in the pipeline dir ("trainer.db", ...). */
int64_t mmt_pipeline_query(mmt_pipeline_t *p, const char *db_name, const char *sql);

/** @brief Like mmt_pipeline_query, but -1 when the database or table does not exist yet. */
int64_t mmt_pipeline_try_query(mmt_pipeline_t *p, const char *db_name, const char *sql);

/** @brief Stop the services and the broker, remove the directory. */
void mmt_pipeline_stop(mmt_pipeline_t *p);

#endif
