/*
 * consumer_state.h - the effectively-once consumer's local half: where each
 * (topic, partition) resumes, kept in the service's own SQLite database in
 * the same transaction as the effect of the records it covers, and dead
 * letters written in one transaction with the offset that skips them.
 *
 * A consumer that uses it:
 *   - stores the next offset with mm_consumer_state_store() inside the
 *     transaction that makes a record's effect durable (never backwards: a
 *     late duplicate cannot rewind progress);
 *   - answers the rebalance callback with mm_consumer_state_resume_offset(),
 *     which logs where each partition resumes;
 *   - turns a record it cannot use into a dead letter with
 *     mm_consumer_state_dead_letter(): DeadLetter in the outbox (mm/outbox.h)
 *     and the offset past the record, committed together or not at all.
 * The Kafka commit then only mirrors progress for lag monitoring.
 *
 * The offsets table keeps the name each service released it under
 * (mm-trainer: `offsets`, mm-promoter: `consumed_offsets`). Its required
 * columns are topic, partition and next_offset; an updated_at_ms column, when
 * the table has one, is kept current. Existing databases open unchanged.
 *
 * A handle belongs to the thread that owns its database connection.
 */
#ifndef MM_CONSUMER_STATE_H
#define MM_CONSUMER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/db.h"
#include "mm/err.h"
#include "mm/kafka.h"
#include "mm/metrics.h"

/*
 * An offsets table for a new service's schema migration, e.g.
 * MM_CONSUMER_STATE_TABLE_SQL("consumed_offsets"). The text becomes part of
 * released migrations: never edit it (a change is a new migration).
 */
#define MM_CONSUMER_STATE_TABLE_SQL(table)                                                         \
    "CREATE TABLE " table " ("                                                                     \
    "  topic TEXT NOT NULL,"                                                                       \
    "  \"partition\" INTEGER NOT NULL,"                                                            \
    "  next_offset INTEGER NOT NULL,"                                                              \
    "  updated_at_ms INTEGER NOT NULL,"                                                            \
    "  PRIMARY KEY (topic, \"partition\")"                                                         \
    ");"

typedef struct mm_consumer_state mm_consumer_state_t;

/** How a service keeps its consumer state. Strings are copied. */
typedef struct mm_consumer_state_config {
    const char *table;            /* offsets table (an SQL identifier), e.g. "offsets" */
    const char *service;          /* written into DeadLetter.service, e.g. "mm-trainer" */
    const char *deadletter_topic; /* NULL: MM_TOPIC_DEADLETTER */
    size_t deadletter_cap;        /* largest encoded DeadLetter; 0: MM_BUF_CAP_MESSAGE */
} mm_consumer_state_config_t;

/**
 * @brief Extra writes a service makes in the dead letter's transaction (the
 * promoter's audit row, say). @returns MM_OK, or an error that rolls the
 * whole transaction back.
 */
typedef mm_err_t(mm_consumer_state_txn_cb_t)(void *opaque, mm_db_t *db, char *errstr,
                                             size_t errstr_size);

/** A record a consumer cannot use, and where it came from. */
typedef struct mm_consumer_dead_letter {
    const char *topic; /* source topic; NULL when not from Kafka (no offset is stored) */
    int32_t partition;
    int64_t offset;            /* the record's own offset; next_offset becomes offset + 1 */
    const char *partition_key; /* the DeadLetter's key; may be NULL */
    const void *original;      /* the record's bytes (borrowed); may be NULL */
    size_t original_len;
    mm_err_t code;                    /* what was wrong with it */
    const char *reason;               /* why, for an operator */
    mm_consumer_state_txn_cb_t *also; /* may be NULL */
    void *also_opaque;
} mm_consumer_dead_letter_t;

/**
 * @brief Bind consumer state to the offsets table @p cfg->table of @p db
 * (borrowed: it must outlive the handle). The table must exist (created by
 * the service's migrations).
 * @returns NULL with errstr set: MM_ERR_INVALID_ARG class for a bad table
 * name or a table without topic, partition and next_offset columns.
 */
mm_consumer_state_t *mm_consumer_state_new(mm_db_t *db, const mm_consumer_state_config_t *cfg,
                                           char *errstr, size_t errstr_size);

/** @brief Finalize the handle's statements. Accepts NULL. */
void mm_consumer_state_destroy(mm_consumer_state_t *cs);

/**
 * @brief Record that (@p topic, @p partition) resumes at @p next_offset,
 * inside the caller's open transaction. A lower offset than the stored one
 * leaves the stored one in place.
 * @returns MM_OK; MM_ERR_INVALID_ARG when no transaction is open (the offset
 * would not commit with its effect); MM_ERR_DB.
 */
mm_err_t mm_consumer_state_store(mm_consumer_state_t *cs, const char *topic, int32_t partition,
                                 int64_t next_offset, char *errstr, size_t errstr_size);

/**
 * @brief Read the stored next offset of (@p topic, @p partition).
 * @param next_offset receives it, or MM_OFFSET_BEGINNING when none is stored.
 * @param found receives whether one is stored (may be NULL).
 */
mm_err_t mm_consumer_state_load(mm_consumer_state_t *cs, const char *topic, int32_t partition,
                                int64_t *next_offset, bool *found, char *errstr,
                                size_t errstr_size);

/**
 * @brief Where an assigned partition resumes: the stored next offset, or
 * MM_OFFSET_BEGINNING when none is stored or it cannot be read (replays are
 * harmless to an effectively-once consumer; losing records is not). Logs
 * which, as event "partition_assigned".
 * @locality the consumer's polling thread (from on_assign).
 */
int64_t mm_consumer_state_resume_offset(mm_consumer_state_t *cs, const char *topic,
                                        int32_t partition);

/**
 * @brief mm_kafka_rebalance_cbs_t.on_assign with the consumer state as
 * opaque: mm_consumer_state_resume_offset().
 */
int64_t mm_consumer_state_on_assign(void *opaque, const char *topic, int32_t partition);

/**
 * @brief Dead-letter @p dl in one transaction: the DeadLetter into the
 * outbox, @p dl->also's writes, and the offset past the record (when
 * @p dl->topic is set). Opens and commits its own transaction; on any failure
 * everything is rolled back. Logs event "dead_letter" on success.
 * @returns MM_OK; the encoder's, the callback's or the database's error.
 */
mm_err_t mm_consumer_state_dead_letter(mm_consumer_state_t *cs, const mm_consumer_dead_letter_t *dl,
                                       char *errstr, size_t errstr_size);

/**
 * @brief mm_consumer_state_dead_letter() for a consumed message as it came:
 * its coordinates, its key (when it has one) as the DeadLetter's partition
 * key and its bytes as the original.
 */
mm_err_t mm_consumer_state_dead_letter_message(mm_consumer_state_t *cs, const mm_kafka_msg_t *msg,
                                               mm_err_t code, const char *reason, char *errstr,
                                               size_t errstr_size);

/** @returns the database the handle writes to (borrowed). */
mm_db_t *mm_consumer_state_db(const mm_consumer_state_t *cs);

/**
 * @brief Count every dead letter this process makes durable through
 * mm_consumer_state_dead_letter() in @p metrics as
 * mm_dead_letters_total{topic,error} (the source topic and the error kind).
 * Process-wide: call once at start-up; NULL stops counting (before the
 * registry is destroyed).
 * @returns MM_OK; an error when the registry refuses the metric.
 */
mm_err_t mm_dead_letter_report_metrics(mm_metrics_t *metrics, char *errstr, size_t errstr_size);

/** @brief Count one durable dead letter (consumer_state.c; dead_letter_metrics.c). */
void mm_consumer_state__count_dead_letter(const char *topic, mm_err_t code);

#endif
