/*
 * kafka_int.h - what the kafka_*.c files share (see mm/kafka.h): tuning
 * constants, client configuration, handle creation, message conversion, the
 * one poll loop of the group consumer and the reader, and topic metadata.
 * Internal to libmm.
 */
#ifndef MM_KAFKA_INT_H
#define MM_KAFKA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "mm/kafka.h"

/* Broker default for message.max.bytes; payloads must stay well under it (docs/ARCHITECTURE.md,
 * "Topics and records"). */
#define KAFKA_MESSAGE_MAX_BYTES "1000000"
/* Bounded local queue: produce blocks instead of buffering without limit. */
#define KAFKA_QUEUE_MAX_KBYTES "65536"
/* How long a blocking metadata, committed-offset or admin request may take. */
#define KAFKA_REQUEST_TIMEOUT_MS 10000
/* Slack on an admin result's wait beyond its request and operation timeouts. */
#define KAFKA_ADMIN_CONNECT_MARGIN_MS 5000
/* How long a reader or lag probe waits for its topic to appear in the metadata. */
#define KAFKA_TOPIC_APPEAR_MS 3000
/* Backoff between metadata looks while a topic has not appeared yet. */
#define KAFKA_TOPIC_APPEAR_BASE_MS 100
#define KAFKA_TOPIC_APPEAR_CAP_MS  1000
/* Poll slice while waiting for room in a full producer queue. */
#define KAFKA_QUEUE_FULL_POLL_MS 50
/* Cap on the wait for a bootstrap file, between checks. */
#define KAFKA_BOOTSTRAP_CHECK_MS 50
/* Largest bootstrap file read (it holds one line of host:port pairs). */
#define KAFKA_BOOTSTRAP_FILE_MAX (64 * 1024)
/* Kafka's longest topic name, and room for one with its terminator. */
#define KAFKA_TOPIC_NAME_MAX 249
#define KAFKA_TOPIC_BUF      256
/* Room for a librdkafka error or fatal-error string. */
#define KAFKA_ERRSTR_MAX 512

/** @brief Set one property, with the property's name in errstr on failure. */
mm_err_t mm_kafka__conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                            size_t errstr_size);

/**
 * @brief A configuration: bootstrap servers, our @p defaults, then the
 * pass-through @p props (which win), our log and error callbacks and
 * @p opaque. @returns NULL with errstr set.
 */
rd_kafka_conf_t *mm_kafka__conf_build(const char *bootstrap, const char *const defaults[][2],
                                      size_t n_defaults, const mm_kv_list_t *props, void *opaque,
                                      char *errstr, size_t errstr_size);

/** @brief Create a handle; takes ownership of @p conf in every case. */
rd_kafka_t *mm_kafka__new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr,
                          size_t errstr_size);

/** @brief Milliseconds left until @p deadline (mm_mono_ms), 0 when past. */
int mm_kafka__remaining_ms(int64_t deadline);

/**
 * @brief Partition count of @p topic from a listing of all topics, waiting
 * up to @p wait_ms for it to appear. MM_ERR_NOT_FOUND when it does not.
 */
mm_err_t mm_kafka__topic_partition_count(rd_kafka_t *rk, const char *topic, int wait_ms,
                                         int32_t *count, char *errstr, size_t errstr_size);

/** How a poll loop's caller sees messages and end-of-partition events. */
typedef struct mm_kafka__poll_hooks {
    /** A message of @p partition is being returned (may be NULL). */
    void (*on_message)(void *opaque, int32_t partition);
    /**
     * @brief @p partition reached its end. @returns true to end the poll with
     * MM_ERR_NOT_FOUND (errstr set by the hook); false to keep polling.
     * NULL: end-of-partition events are skipped.
     */
    bool (*on_eof)(void *opaque, int32_t partition, char *errstr, size_t errstr_size);
    void *opaque;
} mm_kafka__poll_hooks_t;

/**
 * @brief The one poll loop of a consumer handle: release the message held
 * since the last poll, wait up to @p timeout_ms for the next one, hold it in
 * *@p held and describe it in @p msg.
 * @returns MM_OK, MM_ERR_TIMEOUT, MM_ERR_NOT_FOUND (from on_eof), or the
 * consumer error's code with errstr set.
 */
mm_err_t mm_kafka__poll(rd_kafka_t *rk, rd_kafka_message_t **held, int timeout_ms,
                        const mm_kafka__poll_hooks_t *hooks, mm_kafka_msg_t *msg, char *errstr,
                        size_t errstr_size);

/** @returns the librdkafka handle of a group consumer (for the lag of its assignment). */
rd_kafka_t *mm_kafka__consumer_handle(mm_kafka_consumer_t *consumer);

/* ------------------------------------------------ metrics (kafka_metrics.c) */

/** @brief Count a producer instance that failed fatally with @p error (a librdkafka error name). */
void mm_kafka__count_producer_fatal(const char *error);
/** @brief Count a producer instance created to replace a failed one. */
void mm_kafka__count_producer_recreated(void);
/** @brief Count a consumer error event on @p topic (physical name; may be NULL), and a stopped
 * partition when @p stopped. */
void mm_kafka__count_consumer_error(const char *topic, const char *error, bool stopped);

#endif
