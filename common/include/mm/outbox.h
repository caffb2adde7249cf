/*
 * outbox.h - the transactional outbox: a record that must follow a local
 * SQLite write (ModelTrained, ModelDecision, a dead letter found by a
 * consumer) is inserted into the database's `outbox` table in the same
 * transaction as the write, handed to a Kafka producer later, and deleted on
 * its successful delivery report. Whatever is left at a restart is sent
 * again, so every committed effect reaches Kafka at least once.
 *
 * Used by mm-trainer (its state store), mm-promoter and mmctl (the registry).
 *
 * Delivery state. Rows go out in id order, one batch at a time; a row is
 * deleted on its successful delivery report. A row whose delivery failed is
 * sent again with the next batch, unless a newer row for the same key was
 * delivered meanwhile (on a compacted topic it would then overwrite the newer
 * record), in which case it is dropped as superseded.
 *
 * An mm_outbox_t and its database handle belong to the thread that drains it
 * and polls the producer (delivery reports are served there). Other threads
 * insert rows with mm_outbox_insert() on their own connections.
 */
#ifndef MM_OUTBOX_H
#define MM_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "mm/buf.h"
#include "mm/db.h"
#include "mm/err.h"
#include "mm/kafka.h"

/*
 * The outbox table, for a schema migration. The text is part of released
 * migrations: never edit it (a change is a new migration).
 */
#define MM_OUTBOX_TABLE_SQL                                                                        \
    "CREATE TABLE outbox ("                                                                        \
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"                                                      \
    "  topic TEXT NOT NULL,"                                                                       \
    "  key TEXT,"                                                                                  \
    "  payload BLOB NOT NULL,"                                                                     \
    "  created_at_ms INTEGER NOT NULL"                                                             \
    ");"

/** One outbox row handed to the producer and not yet reported on. */
typedef struct mm_outbox_entry {
    int64_t id;
    char *key; /* partition key (NULL for a keyless row) */
    int state; /* internal */
} mm_outbox_entry_t;

/** Outbox delivery state (see the file comment). */
typedef struct mm_outbox {
    mm_db_t *db;              /* borrowed */
    mm_outbox_entry_t *batch; /* owned; batch_cap entries */
    size_t batch_cap;
    size_t batch_len;
    size_t pending;    /* entries awaiting a delivery report */
    int64_t delivered; /* counters since init */
    int64_t failed;
    int64_t superseded;
} mm_outbox_t;

/**
 * @brief Insert a row for @p topic (keyed by @p key, which may be NULL) with
 * a copy of @p payload, inside the caller's transaction on @p db.
 * @locality any thread, on its own connection.
 */
mm_err_t mm_outbox_insert(mm_db_t *db, const char *topic, const char *key, const mm_buf_t *payload,
                          int64_t now_ms, char *errstr, size_t errstr_size);

/**
 * @brief Prepare delivery of the outbox of @p db (borrowed: it must stay open
 * until mm_outbox_free()).
 * @param batch_cap rows per batch (0 = 500).
 */
mm_err_t mm_outbox_init(mm_outbox_t *outbox, mm_db_t *db, size_t batch_cap, char *errstr,
                        size_t errstr_size);

/**
 * @brief Release the batch. Destroy the producer first: the reports it serves
 * at destroy point into the batch. Accepts NULL.
 */
void mm_outbox_free(mm_outbox_t *outbox);

/**
 * @brief mm_kafka_dr_cb_t for a producer whose opaque is the outbox (every
 * message it sends with a non-NULL msg_opaque must come from mm_outbox_drain()).
 * @locality the thread calling mm_kafka_producer_poll()/flush().
 */
void mm_outbox_dr_cb(void *opaque, void *msg_opaque, mm_err_t err, const char *reason);

/**
 * @brief Settle the previous batch if every report is in, then hand the next
 * batch of rows to @p producer. Does not block for delivery reports: call
 * mm_kafka_producer_poll() between calls. *@p queued (may be NULL) receives
 * how many rows were handed over.
 */
mm_err_t mm_outbox_drain(mm_outbox_t *outbox, mm_kafka_producer_t *producer, size_t *queued,
                         char *errstr, size_t errstr_size);

/**
 * @brief Drain until the outbox is empty or @p timeout_ms passes (polling the
 * producer meanwhile). @returns MM_ERR_TIMEOUT if rows remain.
 */
mm_err_t mm_outbox_flush(mm_outbox_t *outbox, mm_kafka_producer_t *producer, int timeout_ms,
                         char *errstr, size_t errstr_size);

/** @returns rows waiting in the outbox of @p db, or -1 on a database error. */
int64_t mm_outbox_count(mm_db_t *db);

#endif
