/*
 * kafka.h - thin, opinionated wrappers over librdkafka for the services.
 *
 * Knows nothing of Avro: keys and values are bytes.
 *
 * Producer: enable.idempotence=true, compression (lz4 by default), the
 * Java-compatible murmur2_random partitioner, bounded in-flight queue
 * (produce blocks, serving delivery reports, while the local queue is full).
 *
 * Consumer: a group member with enable.auto.offset.store=false and
 * auto.offset.reset=error. Where a partition starts is decided by the
 * service (its local state store) through the on_assign callback; the Kafka
 * commit only mirrors progress for lag monitoring, sent by librdkafka's
 * auto-commit timer only while the group is steady. Cooperative-sticky
 * assignment is used when the broker supports it; eager rebalances are
 * handled the same way.
 *
 * Tail scan: a bounded read of a topic's newest records (a service checking
 * what reached the topic before it stopped).
 *
 * Reader: a group-less consumer that assigns every partition of one topic
 * from the beginning and reports when it has reached the end of all of them
 * (used to rebuild compacted state such as mm.decisions).
 *
 * Lag probe: reads how far a consumer group's committed offsets trail the
 * end of a topic, per partition, without joining that group or committing
 * (a producer paces itself with it against a broker of bounded retention).
 */
#ifndef MM_KAFKA_H
#define MM_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/conf.h"
#include "mm/err.h"
#include "mm/metrics.h"

/*
 * Logical topic names (docs/ARCHITECTURE.md, "Topics and records"). Every
 * function of this header takes and returns logical names; on the cluster
 * each carries the deployment's topic prefix (mm_kafka_set_topic_prefix).
 */
#define MM_TOPIC_OBSERVATIONS   "mm.observations"
#define MM_TOPIC_MODELS         "mm.models"
#define MM_TOPIC_DECISIONS      "mm.decisions"
#define MM_TOPIC_SCORE_REQUESTS "mm.score-requests"
#define MM_TOPIC_PREDICTIONS    "mm.predictions"
#define MM_TOPIC_DEADLETTER     "mm.deadletter"

/* Longest topic prefix accepted. */
#define MM_KAFKA_TOPIC_PREFIX_MAX 100

/* Special start offsets for on_assign. */
#define MM_OFFSET_BEGINNING (-2)
#define MM_OFFSET_END       (-1)
#define MM_OFFSET_COMMITTED (-1000) /* use the group's committed offset */

/**
 * @brief Resolve the bootstrap servers: @p servers if non-empty, else the
 * first line of @p servers_file (as written by mm-devbroker), waiting up to
 * @p wait_ms for that file to appear. @returns malloc'd string or NULL.
 */
char *mm_kafka_resolve_bootstrap(const char *servers, const char *servers_file, int wait_ms,
                                 char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------- topic names */

/**
 * @brief Set the deployment's prefix, put before every topic name and every
 * consumer group id on the cluster ("retail." makes mm.observations
 * retail.mm.observations and the group mm-trainer retail.mm-trainer), so
 * several datasets share one cluster. Empty or NULL: none (the default).
 * Callers keep using logical names (MM_TOPIC_*); messages and rebalance
 * callbacks report logical names too.
 * @returns MM_ERR_CONFIG for a prefix longer than MM_KAFKA_TOPIC_PREFIX_MAX or
 * with a character Kafka does not allow in a topic name ([A-Za-z0-9._-]).
 * @locality once at start-up, before any Kafka handle is created.
 */
mm_err_t mm_kafka_set_topic_prefix(const char *prefix, char *errstr, size_t errstr_size);

/** @returns the topic prefix in force ("" for none). */
const char *mm_kafka_topic_prefix(void);

/**
 * @brief The name on the cluster of logical topic (or group id) @p name: the
 * prefix followed by @p name, into @p out.
 * @returns MM_ERR_INVALID_ARG for an empty name or one longer than Kafka's 249 characters.
 */
mm_err_t mm_kafka_topic_name(const char *name, char *out, size_t out_size, char *errstr,
                             size_t errstr_size);

/** @returns the logical name of cluster topic @p name: past the prefix if it has it, else @p
 * name. */
const char *mm_kafka_topic_logical(const char *name);

/** One topic a deployment needs, and how the cluster may clean it. */
typedef struct mm_kafka_topic_spec {
    const char *topic;    /* logical name (MM_TOPIC_*) */
    bool compacted;       /* cleanup.policy=compact (the latest record per key is kept) */
    int64_t retention_ms; /* default retention.ms of a delete topic (0 for a compacted one) */
    const char *holds;    /* what the topic holds, for people */
} mm_kafka_topic_spec_t;

/** @returns every topic of a deployment (mmctl topics init), @p n of them. */
const mm_kafka_topic_spec_t *mm_kafka_topic_specs(size_t *n);

/* ---------------------------------------------------------------- producer */

typedef struct mm_kafka_producer mm_kafka_producer_t;

/**
 * @brief Delivery report, called from mm_kafka_producer_poll()/flush() on the
 * calling thread. @p msg_opaque is what was passed to mm_kafka_produce().
 * @p err is MM_OK when the broker acknowledged the message.
 */
typedef void(mm_kafka_dr_cb_t)(void *opaque, void *msg_opaque, mm_err_t err, const char *reason);

/**
 * @param props librdkafka pass-through properties applied last (may be NULL); copied.
 * @param dr_cb may be NULL.
 * @remark A fatal error of the idempotent producer (rd_kafka_fatal_error(),
 * e.g. OUT_OF_ORDER_SEQUENCE_NUMBER) is logged (error level,
 * kafka_producer_fatal), counted, and its librdkafka instance replaced by a
 * new one with the same configuration: every message it held is delivered
 * or comes back through @p dr_cb as failed, with a reason naming the fatal
 * error. The first replacement is immediate; further ones without a
 * successful delivery between them wait 1 s, 2 s, 4 s ... up to 60 s, during
 * which mm_kafka_produce() waits within its block_ms or returns MM_ERR_BUSY.
 */
mm_kafka_producer_t *mm_kafka_producer_new(const char *bootstrap, const mm_kv_list_t *props,
                                           mm_kafka_dr_cb_t *dr_cb, void *opaque, char *errstr,
                                           size_t errstr_size);

/**
 * @brief Queue one message (copied). Blocks while the local queue is full,
 * serving delivery reports, up to @p block_ms (then MM_ERR_BUSY).
 * The partition is chosen by murmur2_random over @p key.
 */
mm_err_t mm_kafka_produce(mm_kafka_producer_t *producer, const char *topic, const void *key,
                          size_t key_len, const void *value, size_t value_len, void *msg_opaque,
                          int block_ms, char *errstr, size_t errstr_size);

/** @brief Serve delivery reports. @returns number of events served. */
int mm_kafka_producer_poll(mm_kafka_producer_t *producer, int timeout_ms);
/** @brief Wait for all queued messages. MM_ERR_TIMEOUT if some are still in flight. */
mm_err_t mm_kafka_producer_flush(mm_kafka_producer_t *producer, int timeout_ms);
/** @returns messages queued or in flight. */
int mm_kafka_producer_outq_len(mm_kafka_producer_t *producer);
/**
 * @returns how many times the producer's librdkafka instance was replaced
 * after a fatal error (see mm_kafka_producer_new).
 */
int64_t mm_kafka_producer_recreated(mm_kafka_producer_t *producer);
/**
 * @returns the largest message (key + value bytes) the producer accepts: its
 * message.max.bytes, as passed through or the default 1000000.
 */
int64_t mm_kafka_producer_max_message_bytes(const mm_kafka_producer_t *producer);
/** @brief Flush (bounded by @p flush_timeout_ms, logging what is lost) and destroy. Accepts NULL.
 */
void mm_kafka_producer_destroy(mm_kafka_producer_t *producer, int flush_timeout_ms);

/* ---------------------------------------------------------------- consumer */

typedef struct mm_kafka_consumer mm_kafka_consumer_t;

typedef struct mm_kafka_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* may be NULL */
    size_t key_len;
    const void *value; /* may be NULL (tombstone) */
    size_t value_len;
    int64_t timestamp_ms; /* -1 if unknown */
} mm_kafka_msg_t;

typedef struct mm_kafka_rebalance_cbs {
    /**
     * @brief A partition was assigned. @returns the offset to start from:
     * a real offset (from the local state store), MM_OFFSET_BEGINNING, or
     * MM_OFFSET_COMMITTED. Called on the polling thread.
     */
    int64_t (*on_assign)(void *opaque, const char *topic, int32_t partition);
    /**
     * @brief A partition is being revoked (or lost). Finish or hand back any
     * work for it before returning. Called on the polling thread. May be NULL.
     */
    void (*on_revoke)(void *opaque, const char *topic, int32_t partition, bool lost);
    void *opaque;
} mm_kafka_rebalance_cbs_t;

/** Fetch queue of a consumer that follows a topic (mm-trainer, mm-scorer serve and stream). */
#define MM_KAFKA_QUEUE_KBYTES_FOLLOW 16384
/** Fetch queue of a consumer whose job is to read a backlog to its end (mm-scorer batch). */
#define MM_KAFKA_QUEUE_KBYTES_CATCH_UP 65536

/**
 * @brief A consumer's properties with bounded fetch buffers: @p out gets
 * queued.max.messages.kbytes @p queue_kbytes and fetch.max.bytes 4 MiB,
 * then every entry of @p user (may be NULL), which overrides them.
 * librdkafka's own defaults (64 MiB queued per consumer, 50 MiB per fetch)
 * let a consumer catching up on a backlog hold tens of MiB of fetched
 * batches. The queue bounds the speed of a catch-up too: a partition whose
 * queue is full waits a fixed second before its next fetch (librdkafka 2.0
 * has no fetch.queue.backoff.ms), so a consumer reads at most about its
 * queue a second. Measured on a real broker (bench/seed/RESULTS.md):
 * mm-scorer's catch-up on 4 M rows 20.0 s with 4 MiB, 6.2 s with 16 MiB,
 * 4.8 s unbounded; on 40 M rows 70.5 s with 16 MiB, 38.3 s with 32 MiB,
 * 22.9-25.7 s with 64 MiB (there bound by its CPU).
 * @param queue_kbytes MM_KAFKA_QUEUE_KBYTES_FOLLOW or _CATCH_UP (any value; 0 = _FOLLOW)
 * @returns MM_ERR_NOMEM, or MM_OK; free @p out with mm_kv_list_free.
 */
mm_err_t mm_kafka_consumer_props_bounded(const mm_kv_list_t *user, int queue_kbytes,
                                         mm_kv_list_t *out);

/**
 * @param cbs may be NULL: every assigned partition then starts at the committed
 * offset, or the beginning if the group has none.
 */
mm_kafka_consumer_t *mm_kafka_consumer_new(const char *bootstrap, const char *group_id,
                                           const char *const *topics, size_t n_topics,
                                           const mm_kv_list_t *props,
                                           const mm_kafka_rebalance_cbs_t *cbs, char *errstr,
                                           size_t errstr_size);

/**
 * @brief Wait up to @p timeout_ms for the next message.
 * @returns MM_OK with *msg filled (valid until the next poll or close);
 * MM_ERR_TIMEOUT when nothing arrived; another code for a consumer error
 * (errstr says which; MM_ERR_KAFKA errors that are not fatal can be logged and polling continued).
 */
mm_err_t mm_kafka_consumer_poll(mm_kafka_consumer_t *consumer, int timeout_ms, mm_kafka_msg_t *msg,
                                char *errstr, size_t errstr_size);

/** @brief Record that everything before @p next_offset is durable (for the lag-monitoring commit).
 */
mm_err_t mm_kafka_consumer_store_offset(mm_kafka_consumer_t *consumer, const char *topic,
                                        int32_t partition, int64_t next_offset);
/**
 * @brief Ask the broker now for the watermarks of (@p topic, @p partition):
 * *@p low, the first offset it still holds, and *@p high, the offset the
 * next message will get (the end). One request, bounded by @p timeout_ms.
 * A service compares them with the offsets it has processed to know when it
 * has caught up with what was in the log when it asked.
 * @returns MM_OK; MM_ERR_TIMEOUT; MM_ERR_KAFKA (errstr says why);
 * MM_ERR_INVALID_ARG. @locality the consumer's polling thread.
 */
mm_err_t mm_kafka_consumer_watermarks(mm_kafka_consumer_t *consumer, const char *topic,
                                      int32_t partition, int64_t *low, int64_t *high,
                                      int timeout_ms, char *errstr, size_t errstr_size);
/** @brief Leave the group (revoking partitions through the callbacks), then destroy. Accepts NULL.
 */
void mm_kafka_consumer_close(mm_kafka_consumer_t *consumer);

/* ---------------------------------------------------------------- reader */

typedef struct mm_kafka_reader mm_kafka_reader_t;

/** @brief Assign every partition of @p topic from the beginning, no group. */
mm_kafka_reader_t *mm_kafka_reader_new(const char *bootstrap, const char *topic,
                                       const mm_kv_list_t *props, char *errstr, size_t errstr_size);
/**
 * @returns MM_OK with a message; MM_ERR_TIMEOUT if nothing arrived;
 * MM_ERR_NOT_FOUND once every partition has reached its end at least once
 * (later messages are still delivered by further polls).
 */
mm_err_t mm_kafka_reader_poll(mm_kafka_reader_t *reader, int timeout_ms, mm_kafka_msg_t *msg,
                              char *errstr, size_t errstr_size);
void mm_kafka_reader_destroy(mm_kafka_reader_t *reader);

/* ---------------------------------------------------------------- tail scan */

/** Called by mm_kafka_tail_scan() for each record read; @returns false to end the scan. */
typedef bool(mm_kafka_tail_cb_t)(void *opaque, const mm_kafka_msg_t *msg);

/**
 * @brief Read the newest records of every partition of @p topic, back to
 * records older than @p since_ms (by their timestamps) or the partition's
 * beginning, calling @p cb for each: a group-less consumer of its own reads
 * each partition backwards from its end in windows of 256, 1,024, ...
 * records (in offset order within a window), and stops after a window whose
 * oldest record is older than @p since_ms. The cost is the records written
 * since then, not the topic's retention.
 * @param props librdkafka pass-through properties (may be NULL).
 * @param records receives how many records were read (may be NULL).
 * @returns MM_OK; MM_ERR_TIMEOUT when @p timeout_ms passed first; MM_ERR_KAFKA.
 */
mm_err_t mm_kafka_tail_scan(const char *bootstrap, const char *topic, const mm_kv_list_t *props,
                            int64_t since_ms, mm_kafka_tail_cb_t *cb, void *opaque, int timeout_ms,
                            int64_t *records, char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------- lag probe */

typedef struct mm_kafka_lag_probe mm_kafka_lag_probe_t;

/**
 * @brief Watch consumer group @p group_id on @p topic. The probe is a
 * consumer handle with that group.id that never subscribes (so it never
 * joins the group or disturbs its members) and never commits
 * (enable.auto.commit=false, whatever @p props say).
 * @param props librdkafka pass-through properties (may be NULL); group.id and
 *        the commit settings are ours.
 * @returns NULL with errstr set: bad arguments or properties
 * (MM_ERR_CONFIG class), or @p topic absent from the cluster's metadata
 * (waited for up to 3 s; the topic is never auto-created by asking).
 * @remark The partition count is read once, here.
 */
mm_kafka_lag_probe_t *mm_kafka_lag_probe_new(const char *bootstrap, const mm_kv_list_t *props,
                                             const char *group_id, const char *topic, char *errstr,
                                             size_t errstr_size);

/** @returns the partition count of the probed topic (as read by mm_kafka_lag_probe_new). */
int32_t mm_kafka_lag_probe_partitions(const mm_kafka_lag_probe_t *probe);

/**
 * @brief Read the group's lag: for each partition p, the messages still in the
 * log that the group has not committed past, high watermark - max(committed,
 * low watermark). A partition the group never committed counts from its low
 * watermark; a committed offset below it (the broker dropped those messages)
 * counts from there too, since only messages still held can be consumed.
 * @param lag receives one value per partition, indexed by partition.
 * @param max_partitions room in @p lag; must be at least the partition count.
 * @param n_partitions receives the partition count (may be NULL).
 * @param timeout_ms bounds the whole read (one OffsetFetch, one
 *        watermark query per partition).
 * @returns MM_OK; MM_ERR_TIMEOUT when a request did not complete in time;
 * MM_ERR_KAFKA for a broker or client error (errstr says which partition);
 * MM_ERR_INVALID_ARG when @p lag is too small. @p lag is unspecified on error.
 * @locality any one thread at a time.
 */
mm_err_t mm_kafka_lag_probe_read(mm_kafka_lag_probe_t *probe, int64_t *lag, int32_t max_partitions,
                                 int32_t *n_partitions, int timeout_ms, char *errstr,
                                 size_t errstr_size);

/** @brief Destroy (nothing is committed, no group is left). Accepts NULL. */
void mm_kafka_lag_probe_destroy(mm_kafka_lag_probe_t *probe);

/** @brief Called by mm_kafka_consumer_lag() once per assigned partition; @p lag is -1 while
 * unknown. */
typedef void(mm_kafka_lag_cb_t)(void *opaque, const char *topic, int32_t partition, int64_t lag);

/**
 * @brief The lag of a group consumer's own assignment, as that consumer
 * sees it: per assigned partition, the high watermark last reported by the
 * broker (it comes with every fetch response) minus the consumer's position
 * (the offset after the last message returned by mm_kafka_consumer_poll()),
 * never negative. No request is sent: cheap enough for every metrics
 * publish. A partition's lag is -1 while either value is unknown (just
 * assigned, nothing fetched or consumed yet).
 * @returns MM_OK; MM_ERR_KAFKA when the assignment cannot be read.
 * @locality the consumer's polling thread.
 */
mm_err_t mm_kafka_consumer_lag(mm_kafka_consumer_t *consumer, mm_kafka_lag_cb_t *cb, void *opaque,
                               char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------- admin */

/* Admin functions take logical names: the topic prefix is applied. */

/** @brief Create @p topic with @p partitions (no error if it exists). */
mm_err_t mm_kafka_topic_ensure(const char *bootstrap, const mm_kv_list_t *props, const char *topic,
                               int partitions, int replication, char *errstr, size_t errstr_size);

/**
 * @brief Create @p topic with @p partitions, @p replication and the topic
 * @p configs (e.g. cleanup.policy=compact); no error if it exists. An existing
 * topic is left as it is: its configs are not changed.
 * @param configs topic-level configs for CreateTopics; NULL or empty for none.
 * @returns MM_OK, MM_ERR_INVALID_ARG (bad arguments or config), MM_ERR_CONFIG,
 * MM_ERR_KAFKA (the broker refused), or the metadata lookup's error.
 */
mm_err_t mm_kafka_topic_ensure_configs(const char *bootstrap, const mm_kv_list_t *props,
                                       const char *topic, int partitions, int replication,
                                       const mm_kv_list_t *configs, char *errstr,
                                       size_t errstr_size);

/** What the cluster says of one topic (mm_kafka_topic_describe). */
typedef struct mm_kafka_topic_info {
    bool exists;
    int32_t partitions;
    int32_t replication; /* replicas of partition 0 */
    bool has_controller; /* false: no broker acts as controller (mm-devbroker): no admin requests */
    bool configs_known;  /* false: the configs could not be read (mm-devbroker) */
    mm_kv_list_t configs; /* every config of the topic, as the broker reports it */
    mm_kv_list_t dynamic; /* those set on the topic itself (not broker defaults) */
    size_t hidden;        /* set on the topic, but sensitive: the broker does not reveal them */
} mm_kafka_topic_info_t;

/**
 * @brief Describe @p topic: whether it exists, its partitions and replication
 * (from metadata, never auto-creating it) and its configs (DescribeConfigs).
 * @returns MM_OK (also for a missing topic: info->exists false) or the error;
 * release @p info with mm_kafka_topic_info_clear.
 */
mm_err_t mm_kafka_topic_describe(const char *bootstrap, const mm_kv_list_t *props,
                                 const char *topic, mm_kafka_topic_info_t *info, char *errstr,
                                 size_t errstr_size);

/** @brief Free what mm_kafka_topic_describe filled in. Accepts NULL. */
void mm_kafka_topic_info_clear(mm_kafka_topic_info_t *info);

/**
 * @brief Set @p configs on existing @p topic, keeping every other config set
 * on it (read first with DescribeConfigs, then written back together).
 * @returns MM_OK, MM_ERR_UNSUPPORTED when the broker describes no configs or
 * the topic has a sensitive config set (its value cannot be written back),
 * MM_ERR_KAFKA when it refuses (errstr says why), MM_ERR_TIMEOUT.
 */
mm_err_t mm_kafka_topic_alter_configs(const char *bootstrap, const mm_kv_list_t *props,
                                      const char *topic, const mm_kv_list_t *configs, char *errstr,
                                      size_t errstr_size);

/** @returns the partition murmur2_random assigns @p key among @p partition_cnt. */
int32_t mm_kafka_partition_for_key(const void *key, size_t key_len, int32_t partition_cnt);

/* ---------------------------------------------------------------- metrics */

/**
 * @brief Report every Kafka handle's fatal producer errors, producer
 * replacements, consumer errors and stopped partitions in @p metrics
 * (process-wide; NULL stops reporting). See docs/operations.md.
 * @returns MM_OK, or MM_ERR_INVALID_ARG when a metric cannot be registered.
 */
mm_err_t mm_kafka_report_metrics(mm_metrics_t *metrics, char *errstr, size_t errstr_size);

#endif
