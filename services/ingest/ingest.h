/*
 * ingest.h - mm-ingest's logic (docs/ARCHITECTURE.md, "Topics and records"
 * and "mm-ingest"; operator guide docs/ingest.md): CSV rows in,
 * ObservationBatch records per partition key out on mm.observations, bad rows
 * to mm.deadletter. main.c only wires arguments, config and signals to this.
 *
 * One mm_ingest_t is one load: feed it any number of sources with
 * mm_ingest_file() / mm_ingest_stream(), then mm_ingest_finish() once, which
 * emits every key's last batch flagged end_of_load and waits for delivery.
 *
 * Batching per key: rows are appended to the key's open batch; a batch is
 * full at batch_rows rows or when its encoded size could pass batch_bytes. A
 * full batch is held back until another row of that key arrives (then it is
 * produced, not flagged) or the load ends (then it is the key's flagged last
 * batch), so the end-of-load batch of a key is never empty. A batch never
 * mixes sources (its `source` field names one). Memory is bounded by
 * max_buffered_rows across all keys: past it, every key's open batch except
 * its newest row is produced early (unflagged). Open rows are held in blocks
 * of up to 16 rows from a pool that reuses them (keys.c), so what the open
 * batches take is at most max(max_buffered_rows, 2 x 16 x keys) rows
 * (stats.held_bytes_peak says how much it was), whatever the load's length.
 *
 * Pacing: the broker may keep only a bounded amount per partition (the dev
 * broker keeps the newest ~5 MiB and silently drops older batches: docs/ARCHITECTURE.md,
 * "The dev broker"). With a pace group set, a batch for partition p is produced only
 * while the bytes that group has not yet consumed from p stay within
 * pace_max_bytes. The group's lag[p] (mm_kafka_lag_probe) says how many of
 * p's newest messages are unconsumed: those that are this load's batches
 * count at their encoded size, any older ones at this load's average, and
 * batches produced since the read are added. Until a batch fits, the load
 * waits, serving delivery reports and re-reading the lag (after everything
 * in flight is acknowledged) every ~200 ms. A group with no members at all
 * makes the load wait as long as it takes: that is correct, since the data
 * would be lost otherwise. Dead letters are small and not paced (pacing.c).
 *
 * Counting: every data record read (header rows and blank lines excluded,
 * malformed records included) is either emitted in a batch or dead-lettered:
 * rows_read == rows_emitted + rows_deadlettered after mm_ingest_finish(),
 * unless the load was stopped (cfg->stop) while pacing held rows back: those
 * are counted in rows_buffered (reported as not sent).
 *
 * @locality one thread: all calls on one mm_ingest_t from the same thread.
 */
#ifndef MM_INGEST_H
#define MM_INGEST_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mm/conf.h"
#include "mm/err.h"
#include "mm/exit.h"
#include "mm/spec.h"

#define MM_INGEST_SERVICE                   "mm-ingest"
#define MM_INGEST_DEFAULT_BATCH_ROWS        5000
#define MM_INGEST_DEFAULT_BATCH_BYTES       (512 * 1024)
#define MM_INGEST_DEFAULT_MAX_BUFFERED_ROWS 2000000
/* Per partition: well under the dev broker's ~5 MiB retention (docs/ARCHITECTURE.md,
 * "The dev broker"). */
#define MM_INGEST_DEFAULT_PACE_MAX_BYTES (3 * 1024 * 1024)
/* The consumer group mm-ingest paces itself against by default (mm-trainer's). */
#define MM_INGEST_DEFAULT_PACE_GROUP "mm-trainer"
#define MM_INGEST_MAX_KEY_BYTES      1024  /* canonical partition key, encoded */
#define MM_INGEST_MAX_ORIGINAL_BYTES 65536 /* row bytes kept in a dead letter */

/* Exit statuses of mm-ingest (the convention of mm/exit.h; docs/ingest.md; scripts rely on
 * them). */
#define MM_INGEST_EXIT_OK    MM_EXIT_OK      /* every row emitted and delivered */
#define MM_INGEST_EXIT_FATAL MM_EXIT_FAILURE /* input or broker error: the load did not finish */
/* finished and delivered, but some rows were dead-lettered */
#define MM_INGEST_EXIT_DEADLETTERS MM_EXIT_PARTIAL
/* some messages were not acknowledged by the broker: a runtime failure */
#define MM_INGEST_EXIT_DELIVERY MM_EXIT_FAILURE
/* SIGINT/SIGTERM: what was read was flushed, no end-of-load */
#define MM_INGEST_EXIT_INTERRUPTED MM_EXIT_INTERRUPTED

/**
 * @brief Where records go instead of Kafka (tests, tools): called once per
 * record, in produce order, with the topic, the key (NULL for a dead letter
 * of a row without one) and the encoded value, all borrowed for the call.
 * @returns the record's delivery outcome, reported at once: MM_OK delivered;
 * anything else counts as a failed delivery, with @p reason (may be left
 * empty) as its reason.
 */
typedef mm_err_t (*mm_ingest_sink_fn)(void *opaque, const char *topic, const char *key,
                                      size_t key_len, const void *value, size_t value_len,
                                      char *reason, size_t reason_size);

typedef struct mm_ingest_config {
    const char *bootstrap;     /* Kafka bootstrap servers (unused with a sink) */
    const mm_kv_list_t *kafka; /* librdkafka pass-through properties; may be NULL */
    const mm_spec_t *spec;     /* borrowed; outlives the ingest */
    const char *load_id;       /* NULL or "": derived (mm_ingest_default_load_id, no sources) */
    int64_t batch_rows;        /* 0: MM_INGEST_DEFAULT_BATCH_ROWS */
    int64_t batch_bytes;       /* 0: MM_INGEST_DEFAULT_BATCH_BYTES */
    int64_t max_buffered_rows; /* 0: MM_INGEST_DEFAULT_MAX_BUFFERED_ROWS */
    /* Largest record (key + value) the output takes; 0: the producer's
     * message.max.bytes (-X message.max.bytes), none with a sink. Batches are
     * sized and split to fit it; a single row whose record cannot fit is
     * dead-lettered with the sizes as its reason. */
    int64_t max_message_bytes;
    const char *topic_observations; /* NULL: MM_TOPIC_OBSERVATIONS */
    const char *topic_deadletter;   /* NULL: MM_TOPIC_DEADLETTER */
    int produce_block_ms;           /* wait for room in a full producer queue; 0: 60000 */
    volatile sig_atomic_t *stop;    /* polled while reading and while paced; may be NULL */
    /* Consumer group whose committed offsets on topic_observations pace the
     * load; NULL or "": no pacing (main.c defaults to MM_INGEST_DEFAULT_PACE_GROUP). */
    const char *pace_group;
    int64_t pace_max_bytes; /* unconsumed bytes allowed per partition; 0: the default */
    /* NULL: produce to Kafka at bootstrap. Otherwise every record goes to
     * sink(sink_opaque, ...) and no producer is created (no pacing then). */
    mm_ingest_sink_fn sink;
    void *sink_opaque;
    /* The input keeps each key's rows together (a file sorted by key): a key's
     * end of load is sent as soon as the next key's first row is read, so its
     * training starts during the load. A key that comes back later is sent
     * again (and trained again) with a warning. */
    bool grouped_by_key;
} mm_ingest_config_t;

/* Why a row was dead-lettered, in kinds a metric label can take (load_metrics.c). */
typedef enum mm_ingest_reject {
    MM_INGEST_REJECT_CSV = 0, /* malformed CSV record (quotes, bytes) */
    MM_INGEST_REJECT_COLUMNS, /* wrong column count */
    MM_INGEST_REJECT_KEY,     /* key column empty, not UTF-8, or the key too long */
    MM_INGEST_REJECT_ENTITY,  /* entity column empty or too long */
    MM_INGEST_REJECT_TIME,    /* unparsable time */
    MM_INGEST_REJECT_VALUE,   /* unparsable number, label not 0 or 1 */
    MM_INGEST_REJECT_OTHER,
    MM_INGEST_REJECT_COUNT
} mm_ingest_reject_t;

typedef struct mm_ingest_stats {
    int64_t files;             /* sources opened */
    int64_t rows_read;         /* data records read (malformed ones included) */
    int64_t rows_emitted;      /* rows in produced ObservationBatch records */
    int64_t rows_deadlettered; /* rows sent to the dead-letter topic */
    int64_t rows_deadlettered_by[MM_INGEST_REJECT_COUNT]; /* of which, by kind of reason */
    int64_t rows_buffered; /* rows read but not yet produced (after finish: not sent) */
    int64_t keys;          /* distinct partition keys */
    int64_t batches;       /* ObservationBatch records produced */
    int64_t end_of_load_batches;
    int64_t messages_delivered; /* acknowledged by the broker (batches and dead letters) */
    int64_t messages_failed;    /* delivery failed */
    int64_t rows_failed;        /* rows inside batches or dead letters whose delivery failed */
    int64_t pressure_flushes;   /* times the rows held across keys reached max_buffered_rows */
    int64_t held_rows_peak;     /* most rows the open batches' blocks could hold at once */
    int64_t held_bytes_peak;    /* the bytes of those blocks */
    double seconds;             /* since mm_ingest_new */
    double paced_seconds;       /* of which spent waiting for the pace group */
} mm_ingest_stats_t;

typedef struct mm_ingest mm_ingest_t;

/**
 * @brief Start a load: creates the producer (unless cfg->sink is set), and
 * the lag probe when pacing.
 * @returns NULL with errstr set (MM_ERR_CONFIG-class problems: bad sizes,
 * producer configuration; with pacing, topic_observations missing from the
 * cluster; a sink together with a pace group).
 */
mm_ingest_t *mm_ingest_new(const mm_ingest_config_t *cfg, char *errstr, size_t errstr_size);

/**
 * @brief Read one CSV source: @p path, or stdin for "-".
 * @returns MM_OK when the source was read to its end (bad rows are dead
 * letters, not errors); MM_ERR_CONFIG when the header lacks a column the spec
 * needs (errstr names it) or is unreadable; MM_ERR_IO for open/read errors;
 * MM_ERR_SHUTDOWN when cfg->stop was raised (also while paced); MM_ERR_KAFKA /
 * MM_ERR_BUSY when producing failed.
 */
mm_err_t mm_ingest_file(mm_ingest_t *ingest, const char *path, char *errstr, size_t errstr_size);

/** @brief Same as mm_ingest_file() for an open stream (borrowed); @p source names it. */
mm_err_t mm_ingest_stream(mm_ingest_t *ingest, FILE *file, const char *source, char *errstr,
                          size_t errstr_size);

/**
 * @brief End the load: produce every key's open batch — flagged end_of_load
 * with load_rows_for_key / load_batches_for_key when @p complete, unflagged
 * otherwise (an interrupted or failed load claims no completeness) — then
 * wait up to @p flush_timeout_ms for delivery reports.
 * @returns MM_OK; MM_ERR_KAFKA if any delivery failed (errstr has the first
 * reason); MM_ERR_TIMEOUT if messages were still in flight; MM_ERR_SHUTDOWN
 * if cfg->stop was raised while pacing held batches back (they stay unsent).
 */
mm_err_t mm_ingest_finish(mm_ingest_t *ingest, bool complete, int flush_timeout_ms, char *errstr,
                          size_t errstr_size);

/** @brief Copy the load's counts so far into @p stats. */
void mm_ingest_get_stats(const mm_ingest_t *ingest, mm_ingest_stats_t *stats);
/** @returns the load id (borrowed; lives as long as @p ingest), "" for NULL. */
const char *mm_ingest_load_id(const mm_ingest_t *ingest);

/**
 * @brief Log the summary as one JSON line (event "ingest_summary") and, when
 * @p human is non-NULL, write a one-line human summary to it.
 */
void mm_ingest_summary(const mm_ingest_t *ingest, FILE *human);

/**
 * @brief The process exit status for a load that ended with @p err
 * (MM_OK, or what mm_ingest_file/finish returned) and these @p stats.
 */
int mm_ingest_exit_status(mm_err_t err, const mm_ingest_stats_t *stats);

/**
 * @brief The whole load, as mm-ingest runs it: every source in order (the
 * first fatal error stops reading), then mm_ingest_finish() (end-of-load
 * flags only for a complete load), errors logged and echoed on stderr, the
 * summary logged and written to @p human (may be NULL).
 * @param sources paths, "-" for stdin.
 * @returns the process exit status (mm_ingest_exit_status()).
 */
int mm_ingest_run(mm_ingest_t *ingest, const char *const *sources, size_t n_sources,
                  int flush_timeout_ms, FILE *human);

/** @brief Destroy (the producer is flushed for at most 5 s first). Accepts NULL. */
void mm_ingest_destroy(mm_ingest_t *ingest);

/**
 * @brief Deterministic default load id: "<UTC start time>-<12 hex>" where the
 * hex is a digest of the source names and @p start_ms, e.g.
 * "20240101T120000Z-3f2a9c01b7de". Same sources and start: same id.
 */
void mm_ingest_default_load_id(const char *const *sources, size_t n_sources, int64_t start_ms,
                               char *out, size_t out_size);

#endif
