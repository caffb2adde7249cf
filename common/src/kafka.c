/*
 * kafka.c - the services' producer, group consumer, end-of-topic reader, lag
 * probe and topic admin over librdkafka (see kafka.h).
 *
 * Workload: a handful of handles per process; producers queue small to
 * mid-size Avro payloads (well under 1 MB) at up to ~100k messages/s and
 * serve delivery reports from the caller's thread; consumers hand one message
 * at a time to a service loop that stores offsets only after its work is
 * durable. Nothing here is on a per-row path, so clarity wins over
 * micro-optimisation; the one hot call, mm_kafka_produce(), does no
 * allocation of its own.
 */
#include "mm/kafka.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "mm/buf.h"
#include "mm/fs.h"
#include "mm/log.h"
#include "mm/util.h"

/* Broker default for message.max.bytes; payloads must stay well under it (DESIGN 4, 7). */
#define KAFKA_MESSAGE_MAX_BYTES "1000000"
/* Bounded local queue: produce blocks instead of buffering without limit. */
#define KAFKA_QUEUE_MAX_KBYTES "65536"
/* How long a blocking metadata, committed-offset or admin request may take. */
#define KAFKA_REQUEST_TIMEOUT_MS 10000
/* How long a reader waits for its topic to appear in the metadata. */
#define KAFKA_TOPIC_APPEAR_MS 3000
/* Poll slice while waiting for room in a full producer queue. */
#define KAFKA_QUEUE_FULL_POLL_MS 50
/* Cap on the wait for a bootstrap file, between checks. */
#define KAFKA_BOOTSTRAP_CHECK_MS 50

struct mm_kafka_producer {
    rd_kafka_t *rk;
    mm_kafka_dr_cb_t *dr_cb;
    void *opaque;
};

struct mm_kafka_consumer {
    rd_kafka_t *rk;
    mm_kafka_rebalance_cbs_t cbs;
    bool has_cbs;
    rd_kafka_message_t *held; /* the message last returned by poll (owned) */
};

struct mm_kafka_reader {
    rd_kafka_t *rk;
    char *topic;
    int32_t partition_cnt;
    bool *at_end; /* per partition: reached end of partition since its last message */
    int32_t n_at_end;
    rd_kafka_message_t *held;
};

/* ---------------------------------------------------------------- common */

/*
 * librdkafka logs with syslog levels (0 emerg .. 7 debug).
 * @locality librdkafka's internal threads: mm_log is thread-safe.
 */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    mm_log_level_t mm_level = level <= 3   ? MM_LOG_ERROR
                              : level == 4 ? MM_LOG_WARN
                              : level <= 6 ? MM_LOG_INFO
                                           : MM_LOG_DEBUG;
    /* One MM_KAFKA_* environment serves a service's producer and consumer
     * alike, so "consumer property ignored by this producer" is expected. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "will be ignored by this"))
        mm_level = MM_LOG_DEBUG;
    if (!mm_log_enabled(mm_level)) return;
    mm_logj(mm_level, "kafka_client_log",
            json_pack("{s:s, s:s, s:i}", "client", rd_kafka_name(rk), "facility", fac,
                      "syslog_level", level),
            "%s", buf);
}

/* @locality the thread polling the handle. */
static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        mm_logj(
            MM_LOG_ERROR, "kafka_fatal_error",
            json_pack("{s:s, s:s}", "client", rd_kafka_name(rk), "code", rd_kafka_err2name(orig)),
            "fatal Kafka client error: %s", fatal);
        return;
    }
    /* Broker connection loss and similar are retried by librdkafka: a warning, not an error. */
    mm_logj(MM_LOG_WARN, "kafka_client_error",
            json_pack("{s:s, s:s}", "client", rd_kafka_name(rk), "code",
                      rd_kafka_err2name((rd_kafka_resp_err_t)err)),
            "%s", reason);
}

static mm_err_t conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                         size_t errstr_size) {
    char why[512];
    if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "Kafka property %s: %s", key, why);
    return MM_OK;
}

/* Build a configuration: our defaults, then the pass-through properties (which win). */
static rd_kafka_conf_t *conf_build(const char *bootstrap, const char *const defaults[][2],
                                   size_t n_defaults, const mm_kv_list_t *props, void *opaque,
                                   char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "rd_kafka_conf_new failed");
        return NULL;
    }
    if (!bootstrap || !*bootstrap) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "no Kafka bootstrap servers given");
        goto fail;
    }
    if (conf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size) != MM_OK) goto fail;
    for (size_t i = 0; i < n_defaults; i++)
        if (conf_set(conf, defaults[i][0], defaults[i][1], errstr, errstr_size) != MM_OK) goto fail;
    if (props) {
        for (size_t i = 0; i < props->n; i++) {
            if (!props->items[i].key || !props->items[i].value) continue;
            if (conf_set(conf, props->items[i].key, props->items[i].value, errstr, errstr_size) !=
                MM_OK)
                goto fail;
        }
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Take ownership of @p conf in every case. */
static rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr,
                             size_t errstr_size) {
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "creating Kafka %s: %s",
                type == RD_KAFKA_PRODUCER ? "producer" : "consumer", why);
        return NULL;
    }
    return rk; /* conf is now owned by rk */
}

static void msg_fill(const rd_kafka_message_t *rkm, mm_kafka_msg_t *msg) {
    rd_kafka_timestamp_type_t tstype;
    msg->topic = rd_kafka_topic_name(rkm->rkt);
    msg->partition = rkm->partition;
    msg->offset = rkm->offset;
    msg->key = rkm->key;
    msg->key_len = rkm->key_len;
    msg->value = rkm->payload;
    msg->value_len = rkm->len;
    msg->timestamp_ms = rd_kafka_message_timestamp(rkm, &tstype);
}

/* Describe a consumed error event; @returns the mm code for it. */
static mm_err_t msg_error(rd_kafka_t *rk, const rd_kafka_message_t *rkm, char *errstr,
                          size_t errstr_size) {
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
        /* Consumer fatal errors (a fenced static member) come from configuration. */
        char fatal[512];
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "fatal Kafka consumer error: %s", fatal);
    }
    if (rkm->rkt)
        return mm_errf(MM_ERR_KAFKA, errstr, errstr_size,
                       "%s [%" PRId32 "] at offset %" PRId64 ": %s: %s",
                       rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset,
                       rd_kafka_err2name(rkm->err), rd_kafka_message_errstr(rkm));
    return mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "consumer: %s: %s",
                   rd_kafka_err2name(rkm->err), rd_kafka_message_errstr(rkm));
}

static int remaining_ms(int64_t deadline) {
    int64_t left = deadline - mm_mono_ms();
    if (left <= 0) return 0;
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* -------------------------------------------------------------- bootstrap */

static char *first_line(const char *text, size_t len) {
    size_t start = 0;
    while (start < len && (text[start] == ' ' || text[start] == '\t')) start++;
    size_t end = start;
    while (end < len && text[end] != '\n' && text[end] != '\r') end++;
    while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t')) end--;
    return mm_strndup(text + start, end - start);
}

char *mm_kafka_resolve_bootstrap(const char *servers, const char *servers_file, int wait_ms,
                                 char *errstr, size_t errstr_size) {
    if (servers && *servers) {
        char *copy = strdup(servers);
        if (!copy) mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return copy;
    }
    if (!servers_file || !*servers_file) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                "no Kafka bootstrap servers: set the servers or a bootstrap file");
        return NULL;
    }
    int64_t deadline = mm_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    for (;;) {
        if (access(servers_file, F_OK) == 0) {
            mm_buf_t text;
            mm_buf_init(&text, 64 * 1024);
            char why[256];
            mm_err_t rc = mm_file_read(servers_file, &text, why, sizeof(why));
            char *line = NULL;
            if (rc == MM_OK && text.len > 0) {
                line = first_line((const char *)text.data, text.len);
                if (line && !*line) {
                    free(line);
                    line = NULL;
                }
            }
            mm_buf_free(&text);
            if (line) return line;
            /* Present but empty: the writer is not done (or wrote nothing); keep waiting. */
            if (rc != MM_OK && remaining_ms(deadline) == 0) {
                mm_errf(rc, errstr, errstr_size, "bootstrap file %s: %s", servers_file, why);
                return NULL;
            }
        }
        int left = remaining_ms(deadline);
        if (left == 0) break;
        mm_sleep_ms(left < KAFKA_BOOTSTRAP_CHECK_MS ? left : KAFKA_BOOTSTRAP_CHECK_MS, NULL);
    }
    mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size,
            "bootstrap file %s did not appear (or stayed empty) within %d ms", servers_file,
            wait_ms);
    return NULL;
}

/* ---------------------------------------------------------------- producer */

static void producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
    mm_kafka_producer_t *producer = opaque;
    if (!producer || !producer->dr_cb) return;
    if (!rkm->err) {
        producer->dr_cb(producer->opaque, rkm->_private, MM_OK, NULL);
        return;
    }
    char reason[768];
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        snprintf(reason, sizeof(reason), "%s: fatal producer error: %s",
                 rd_kafka_topic_name(rkm->rkt), fatal);
    } else {
        snprintf(reason, sizeof(reason), "%s [%" PRId32 "]: %s: %s", rd_kafka_topic_name(rkm->rkt),
                 rkm->partition, rd_kafka_err2name(rkm->err), rd_kafka_err2str(rkm->err));
    }
    mm_err_t err = rkm->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ? MM_ERR_TIMEOUT : MM_ERR_KAFKA;
    producer->dr_cb(producer->opaque, rkm->_private, err, reason);
}

mm_kafka_producer_t *mm_kafka_producer_new(const char *bootstrap, const mm_kv_list_t *props,
                                           mm_kafka_dr_cb_t *dr_cb, void *opaque, char *errstr,
                                           size_t errstr_size) {
    static const char *const defaults[][2] = {
        {"client.id", "mm-producer"},
        {"enable.idempotence", "true"},
        {"compression.type", "lz4"},
        /* Java-compatible: one key lands on one partition whoever produces it (DESIGN 4). */
        {"partitioner", "murmur2_random"},
        {"linger.ms", "5"},
        {"message.max.bytes", KAFKA_MESSAGE_MAX_BYTES},
        {"queue.buffering.max.kbytes", KAFKA_QUEUE_MAX_KBYTES},
    };
    mm_kafka_producer_t *producer = calloc(1, sizeof(*producer));
    if (!producer) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    producer->dr_cb = dr_cb;
    producer->opaque = opaque;
    rd_kafka_conf_t *conf = conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults), props,
                                       producer, errstr, errstr_size);
    if (!conf) goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr_cb);
    producer->rk = kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    conf = NULL; /* now owned by rk (or destroyed) */
    if (!producer->rk) goto fail;
    return producer;
fail:
    free(producer);
    return NULL;
}

mm_err_t mm_kafka_produce(mm_kafka_producer_t *producer, const char *topic, const void *key,
                          size_t key_len, const void *value, size_t value_len, void *msg_opaque,
                          int block_ms, char *errstr, size_t errstr_size) {
    if (!producer || !topic)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "produce: no producer or topic");
    int64_t deadline = mm_mono_ms() + (block_ms > 0 ? block_ms : 0);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        if (!err) return MM_OK;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            int left = remaining_ms(deadline);
            if (left == 0)
                return mm_errf(MM_ERR_BUSY, errstr, errstr_size,
                               "produce to %s: local queue still full after %d ms (%d queued)",
                               topic, block_ms, rd_kafka_outq_len(producer->rk));
            /* Delivery reports free queue space; serve them while we wait. */
            rd_kafka_poll(producer->rk,
                          left < KAFKA_QUEUE_FULL_POLL_MS ? left : KAFKA_QUEUE_FULL_POLL_MS);
            continue;
        }
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
            char fatal[512];
            rd_kafka_fatal_error(producer->rk, fatal, sizeof(fatal));
            return mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "produce to %s: fatal: %s", topic,
                           fatal);
        }
        mm_err_t code =
            err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? MM_ERR_INVALID_ARG : MM_ERR_KAFKA;
        return mm_errf(code, errstr, errstr_size, "produce to %s (%zu bytes): %s: %s", topic,
                       value_len, rd_kafka_err2name(err), rd_kafka_err2str(err));
    }
}

int mm_kafka_producer_poll(mm_kafka_producer_t *producer, int timeout_ms) {
    if (!producer) return 0;
    return rd_kafka_poll(producer->rk, timeout_ms);
}

mm_err_t mm_kafka_producer_flush(mm_kafka_producer_t *producer, int timeout_ms) {
    if (!producer) return MM_OK;
    rd_kafka_resp_err_t err = rd_kafka_flush(producer->rk, timeout_ms);
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) return MM_ERR_TIMEOUT;
    return err ? MM_ERR_KAFKA : MM_OK;
}

int mm_kafka_producer_outq_len(mm_kafka_producer_t *producer) {
    if (!producer) return 0;
    return rd_kafka_outq_len(producer->rk);
}

void mm_kafka_producer_destroy(mm_kafka_producer_t *producer, int flush_timeout_ms) {
    if (!producer) return;
    rd_kafka_flush(producer->rk, flush_timeout_ms > 0 ? flush_timeout_ms : 0);
    int undelivered = rd_kafka_outq_len(producer->rk);
    if (undelivered > 0) {
        mm_logj(
            MM_LOG_WARN, "kafka_producer_undelivered",
            json_pack("{s:i, s:i}", "messages", undelivered, "flush_timeout_ms", flush_timeout_ms),
            "destroying producer with %d message(s) not delivered", undelivered);
        /* Purged messages get a failed delivery report, so an outbox keeps them for a retry. */
        rd_kafka_purge(producer->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(producer->rk, 0);
    }
    rd_kafka_destroy(producer->rk);
    free(producer);
}

/* ---------------------------------------------------------------- consumer */

/* Where a partition starts when the service has no say: committed, else the beginning. */
static void offsets_from_committed(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *partitions) {
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(partitions);
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, committed, KAFKA_REQUEST_TIMEOUT_MS);
    for (int i = 0; i < partitions->cnt; i++) {
        rd_kafka_topic_partition_t *rktpar = &partitions->elems[i];
        const rd_kafka_topic_partition_t *c = &committed->elems[i];
        if (err || c->err) {
            /*
             * Unknown: let librdkafka fetch the committed offset itself. With
             * auto.offset.reset=error a missing one then surfaces as a consumer
             * error instead of a silent replay or skip.
             */
            mm_log_warn("kafka_committed_unknown", "committed offset of %s [%" PRId32 "]: %s",
                        rktpar->topic, rktpar->partition, rd_kafka_err2str(err ? err : c->err));
            rktpar->offset = RD_KAFKA_OFFSET_STORED;
        } else if (c->offset < 0) {
            rktpar->offset = RD_KAFKA_OFFSET_BEGINNING; /* the group never committed here */
        } else {
            rktpar->offset = c->offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(committed);
}

static int64_t start_offset(int64_t wanted, const char *topic, int32_t partition) {
    if (wanted >= 0) return wanted;
    switch (wanted) {
    case MM_OFFSET_BEGINNING:
        return RD_KAFKA_OFFSET_BEGINNING;
    case MM_OFFSET_END:
        return RD_KAFKA_OFFSET_END;
    case MM_OFFSET_COMMITTED:
        return RD_KAFKA_OFFSET_STORED;
    default:
        mm_log_error("kafka_bad_start_offset",
                     "on_assign returned %" PRId64 " for %s [%" PRId32
                     "]; using the committed offset",
                     wanted, topic, partition);
        return RD_KAFKA_OFFSET_STORED;
    }
}

static void log_assignment(const char *event, const rd_kafka_topic_partition_list_t *partitions,
                           const char *protocol) {
    json_t *parts = json_array();
    for (int i = 0; i < partitions->cnt; i++)
        json_array_append_new(parts,
                              json_pack("{s:s, s:i, s:I}", "topic", partitions->elems[i].topic,
                                        "partition", (int)partitions->elems[i].partition, "offset",
                                        (json_int_t)partitions->elems[i].offset));
    mm_logj(MM_LOG_INFO, event, json_pack("{s:o, s:s}", "partitions", parts, "protocol", protocol),
            "%d partition(s)", partitions->cnt);
}

static void consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t *partitions, void *opaque) {
    mm_kafka_consumer_t *consumer = opaque;
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    bool cooperative = protocol && strcmp(protocol, "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t assign_err = RD_KAFKA_RESP_ERR_NO_ERROR;

    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        if (consumer->has_cbs && consumer->cbs.on_assign) {
            for (int i = 0; i < partitions->cnt; i++) {
                rd_kafka_topic_partition_t *rktpar = &partitions->elems[i];
                int64_t wanted =
                    consumer->cbs.on_assign(consumer->cbs.opaque, rktpar->topic, rktpar->partition);
                rktpar->offset = start_offset(wanted, rktpar->topic, rktpar->partition);
            }
        } else if (partitions->cnt > 0) {
            offsets_from_committed(rk, partitions);
        }
        log_assignment("kafka_assigned", partitions, protocol ? protocol : "?");
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, partitions);
        else
            assign_err = rd_kafka_assign(rk, partitions);
        break;

    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: {
        bool lost = rd_kafka_assignment_lost(rk) != 0;
        log_assignment(lost ? "kafka_lost" : "kafka_revoked", partitions,
                       protocol ? protocol : "?");
        if (consumer->has_cbs && consumer->cbs.on_revoke)
            for (int i = 0; i < partitions->cnt; i++)
                consumer->cbs.on_revoke(consumer->cbs.opaque, partitions->elems[i].topic,
                                        partitions->elems[i].partition, lost);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, partitions);
        else
            assign_err = rd_kafka_assign(rk, NULL);
        break;
    }

    default:
        mm_log_error("kafka_rebalance_error", "rebalance failed: %s", rd_kafka_err2str(err));
        assign_err = rd_kafka_assign(rk, NULL);
        break;
    }

    if (error) {
        mm_log_error("kafka_assign_failed", "incremental (un)assign: %s",
                     rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (assign_err) {
        mm_log_error("kafka_assign_failed", "assign: %s", rd_kafka_err2str(assign_err));
    }
}

mm_kafka_consumer_t *mm_kafka_consumer_new(const char *bootstrap, const char *group_id,
                                           const char *const *topics, size_t n_topics,
                                           const mm_kv_list_t *props,
                                           const mm_kafka_rebalance_cbs_t *cbs, char *errstr,
                                           size_t errstr_size) {
    static const char *const defaults[][2] = {
        {"client.id", "mm-consumer"},
        /* An offset is stored only after the work it covers is durable (DESIGN 4). */
        {"enable.auto.offset.store", "false"},
        /* Never silently skip or replay (DESIGN 9). */
        {"auto.offset.reset", "error"},
        /* Commits only what was stored: they mirror progress for lag monitoring. */
        {"enable.auto.commit", "true"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"enable.partition.eof", "false"},
    };
    if (!group_id || !*group_id || !topics || n_topics == 0) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "consumer needs a group id and topics");
        return NULL;
    }
    mm_kafka_consumer_t *consumer = calloc(1, sizeof(*consumer));
    if (!consumer) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (cbs) {
        consumer->cbs = *cbs;
        consumer->has_cbs = true;
    }
    rd_kafka_topic_partition_list_t *subscription = NULL;
    rd_kafka_conf_t *conf = conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults), props,
                                       consumer, errstr, errstr_size);
    if (!conf) goto fail;
    if (conf_set(conf, "group.id", group_id, errstr, errstr_size) != MM_OK) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(conf, consumer_rebalance_cb);
    consumer->rk = kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    conf = NULL; /* now owned by rk (or destroyed) */
    if (!consumer->rk) goto fail;
    rd_kafka_poll_set_consumer(consumer->rk);

    subscription = rd_kafka_topic_partition_list_new((int)n_topics);
    for (size_t i = 0; i < n_topics; i++)
        rd_kafka_topic_partition_list_add(subscription, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer->rk, subscription);
    rd_kafka_topic_partition_list_destroy(subscription);
    if (err) {
        mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "subscribe (group %s): %s", group_id,
                rd_kafka_err2str(err));
        rd_kafka_destroy(consumer->rk);
        goto fail;
    }
    return consumer;
fail:
    free(consumer);
    return NULL;
}

mm_err_t mm_kafka_consumer_poll(mm_kafka_consumer_t *consumer, int timeout_ms, mm_kafka_msg_t *msg,
                                char *errstr, size_t errstr_size) {
    if (!consumer || !msg)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "poll: no consumer or message");
    if (consumer->held) {
        rd_kafka_message_destroy(consumer->held);
        consumer->held = NULL;
    }
    int64_t deadline = mm_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(consumer->rk, remaining_ms(deadline));
        if (!rkm) return MM_ERR_TIMEOUT;
        if (!rkm->err) {
            consumer->held = rkm;
            msg_fill(rkm, msg);
            return MM_OK;
        }
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* Only seen if a caller enabled enable.partition.eof: not an error here. */
            rd_kafka_message_destroy(rkm);
            if (remaining_ms(deadline) == 0) return MM_ERR_TIMEOUT;
            continue;
        }
        mm_err_t rc = msg_error(consumer->rk, rkm, errstr, errstr_size);
        rd_kafka_message_destroy(rkm);
        return rc;
    }
}

mm_err_t mm_kafka_consumer_store_offset(mm_kafka_consumer_t *consumer, const char *topic,
                                        int32_t partition, int64_t next_offset) {
    if (!consumer || !topic || next_offset < 0) return MM_ERR_INVALID_ARG;
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offsets, topic, partition)->offset = next_offset;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(consumer->rk, offsets);
    if (!err) err = offsets->elems[0].err;
    rd_kafka_topic_partition_list_destroy(offsets);
    if (err) {
        /* Typically the partition was revoked meanwhile: its new owner resumes from its state. */
        mm_log_warn("kafka_store_offset_failed",
                    "store offset %" PRId64 " for %s [%" PRId32 "]: %s", next_offset, topic,
                    partition, rd_kafka_err2str(err));
        return MM_ERR_KAFKA;
    }
    return MM_OK;
}

void mm_kafka_consumer_commit_async(mm_kafka_consumer_t *consumer) {
    if (!consumer) return;
    rd_kafka_resp_err_t err = rd_kafka_commit(consumer->rk, NULL, 1);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
        mm_log_warn("kafka_commit_failed", "commit: %s", rd_kafka_err2str(err));
}

void mm_kafka_consumer_close(mm_kafka_consumer_t *consumer) {
    if (!consumer) return;
    if (consumer->held) rd_kafka_message_destroy(consumer->held);
    /* Leaves the group: the revoke callback runs and stored offsets are committed. */
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(consumer->rk);
    if (err) mm_log_warn("kafka_close_failed", "consumer close: %s", rd_kafka_err2str(err));
    rd_kafka_destroy(consumer->rk);
    free(consumer);
}

/* ---------------------------------------------------------------- reader */

/*
 * Partition count of @p topic from a listing of all topics: asking for one
 * topic by name would make brokers with auto-creation (the dev broker always)
 * create it with their defaults. Waits up to @p wait_ms for it to appear.
 */
static mm_err_t topic_partition_count(rd_kafka_t *rk, const char *topic, int wait_ms,
                                      int32_t *count, char *errstr, size_t errstr_size) {
    int64_t deadline = mm_mono_ms() + wait_ms;
    for (int attempt = 0;; attempt++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, KAFKA_REQUEST_TIMEOUT_MS);
        int32_t found = -1;
        if (!err) {
            for (int i = 0; i < md->topic_cnt; i++) {
                if (strcmp(md->topics[i].topic, topic) != 0) continue;
                if (!md->topics[i].err)
                    found = md->topics[i].partition_cnt;
                else
                    err = md->topics[i].err;
                break;
            }
        }
        if (md) rd_kafka_metadata_destroy(md);
        if (found > 0) {
            *count = found;
            return MM_OK;
        }
        if (remaining_ms(deadline) == 0) {
            if (err)
                return mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "metadata for topic %s: %s",
                               topic, rd_kafka_err2str(err));
            return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "topic %s does not exist", topic);
        }
        /* A topic created a moment ago may not be in every broker's metadata yet. */
        int pause = (int)mm_backoff_ms(attempt, 100, 1000);
        int left = remaining_ms(deadline);
        mm_sleep_ms(pause < left ? pause : left, NULL);
    }
}

mm_kafka_reader_t *mm_kafka_reader_new(const char *bootstrap, const char *topic,
                                       const mm_kv_list_t *props, char *errstr,
                                       size_t errstr_size) {
    /*
     * librdkafka wants a group.id on a KafkaConsumer even when partitions are
     * assigned by hand; a unique one with commits off never joins or commits.
     */
    char group_id[96];
    snprintf(group_id, sizeof(group_id), "mm-reader-%ld-%" PRId64, (long)getpid(), mm_now_ms());
    static const char *const defaults[][2] = {
        {"client.id", "mm-reader"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        /* Reading from the beginning: if retention moved it meanwhile, the new beginning. */
        {"auto.offset.reset", "earliest"},
    };
    if (!topic || !*topic) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "reader needs a topic");
        return NULL;
    }
    mm_kafka_reader_t *reader = calloc(1, sizeof(*reader));
    if (!reader || !(reader->topic = strdup(topic))) {
        free(reader);
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults), props, reader,
                                       errstr, errstr_size);
    if (!conf) goto fail;
    if (conf_set(conf, "group.id", group_id, errstr, errstr_size) != MM_OK) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    reader->rk = kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    conf = NULL; /* now owned by rk (or destroyed) */
    if (!reader->rk) goto fail;
    rd_kafka_poll_set_consumer(reader->rk);

    if (topic_partition_count(reader->rk, topic, KAFKA_TOPIC_APPEAR_MS, &reader->partition_cnt,
                              errstr, errstr_size) != MM_OK)
        goto fail;
    reader->at_end = calloc((size_t)reader->partition_cnt, sizeof(*reader->at_end));
    if (!reader->at_end) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }
    rd_kafka_topic_partition_list_t *assignment =
        rd_kafka_topic_partition_list_new(reader->partition_cnt);
    for (int32_t p = 0; p < reader->partition_cnt; p++)
        rd_kafka_topic_partition_list_add(assignment, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(reader->rk, assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    if (err) {
        mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "assign %s: %s", topic, rd_kafka_err2str(err));
        goto fail;
    }
    return reader;
fail:
    mm_kafka_reader_destroy(reader);
    return NULL;
}

mm_err_t mm_kafka_reader_poll(mm_kafka_reader_t *reader, int timeout_ms, mm_kafka_msg_t *msg,
                              char *errstr, size_t errstr_size) {
    if (!reader || !msg)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "poll: no reader or message");
    if (reader->held) {
        rd_kafka_message_destroy(reader->held);
        reader->held = NULL;
    }
    int64_t deadline = mm_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(reader->rk, remaining_ms(deadline));
        if (!rkm) return MM_ERR_TIMEOUT;
        bool in_range = rkm->partition >= 0 && rkm->partition < reader->partition_cnt;
        if (!rkm->err) {
            if (in_range && reader->at_end[rkm->partition]) {
                reader->at_end[rkm->partition] = false;
                reader->n_at_end--;
            }
            reader->held = rkm;
            msg_fill(rkm, msg);
            return MM_OK;
        }
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            bool now_all = false;
            if (in_range && !reader->at_end[rkm->partition]) {
                reader->at_end[rkm->partition] = true;
                reader->n_at_end++;
                now_all = reader->n_at_end == reader->partition_cnt;
            }
            rd_kafka_message_destroy(rkm);
            if (now_all)
                return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size,
                               "reached the end of all %" PRId32 " partition(s) of %s",
                               reader->partition_cnt, reader->topic);
            if (remaining_ms(deadline) == 0) return MM_ERR_TIMEOUT;
            continue;
        }
        mm_err_t rc = msg_error(reader->rk, rkm, errstr, errstr_size);
        rd_kafka_message_destroy(rkm);
        return rc;
    }
}

void mm_kafka_reader_destroy(mm_kafka_reader_t *reader) {
    if (!reader) return;
    if (reader->held) rd_kafka_message_destroy(reader->held);
    if (reader->rk) {
        rd_kafka_consumer_close(reader->rk);
        rd_kafka_destroy(reader->rk);
    }
    free(reader->at_end);
    free(reader->topic);
    free(reader);
}

/* ---------------------------------------------------------------- lag probe */

struct mm_kafka_lag_probe {
    rd_kafka_t *rk;
    char *topic;
    char *group_id;
    int32_t partition_cnt;
};

static mm_err_t kafka_code(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR__TIMED_OUT ? MM_ERR_TIMEOUT : MM_ERR_KAFKA;
}

mm_kafka_lag_probe_t *mm_kafka_lag_probe_new(const char *bootstrap, const mm_kv_list_t *props,
                                             const char *group_id, const char *topic, char *errstr,
                                             size_t errstr_size) {
    static const char *const defaults[][2] = {
        {"client.id", "mm-lag-probe"},
    };
    /*
     * Set after the pass-through properties, which a service shares between
     * its clients: the probe must never commit for the group it watches.
     */
    static const char *const forced[][2] = {
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
    };
    if (!group_id || !*group_id || !topic || !*topic) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "lag probe needs a group id and a topic");
        return NULL;
    }
    mm_kafka_lag_probe_t *probe = calloc(1, sizeof(*probe));
    if (!probe || !(probe->topic = strdup(topic)) || !(probe->group_id = strdup(group_id))) {
        mm_kafka_lag_probe_destroy(probe);
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf =
        conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults), props, probe, errstr, errstr_size);
    if (!conf) goto fail;
    for (size_t i = 0; i < MM_ARRAY_SIZE(forced); i++) {
        if (conf_set(conf, forced[i][0], forced[i][1], errstr, errstr_size) != MM_OK) {
            rd_kafka_conf_destroy(conf);
            goto fail;
        }
    }
    if (conf_set(conf, "group.id", group_id, errstr, errstr_size) != MM_OK) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    /* A consumer that never subscribes: it fetches committed offsets without joining. */
    probe->rk = kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    conf = NULL; /* now owned by rk (or destroyed) */
    if (!probe->rk) goto fail;
    if (topic_partition_count(probe->rk, topic, KAFKA_TOPIC_APPEAR_MS, &probe->partition_cnt,
                              errstr, errstr_size) != MM_OK)
        goto fail;
    return probe;
fail:
    mm_kafka_lag_probe_destroy(probe);
    return NULL;
}

int32_t mm_kafka_lag_probe_partitions(const mm_kafka_lag_probe_t *probe) {
    return probe ? probe->partition_cnt : 0;
}

mm_err_t mm_kafka_lag_probe_read(mm_kafka_lag_probe_t *probe, int64_t *lag, int32_t max_partitions,
                                 int32_t *n_partitions, int timeout_ms, char *errstr,
                                 size_t errstr_size) {
    if (!probe || !lag)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "lag probe: no probe or array");
    if (n_partitions) *n_partitions = probe->partition_cnt;
    if (max_partitions < probe->partition_cnt)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "lag probe: room for %" PRId32 " of %" PRId32 " partitions of %s",
                       max_partitions, probe->partition_cnt, probe->topic);
    /* Nothing else polls this handle: serve its error events (connection loss and such). */
    rd_kafka_poll(probe->rk, 0);
    int64_t deadline = mm_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);

    rd_kafka_topic_partition_list_t *committed =
        rd_kafka_topic_partition_list_new(probe->partition_cnt);
    for (int32_t p = 0; p < probe->partition_cnt; p++)
        rd_kafka_topic_partition_list_add(committed, probe->topic, p)->offset =
            RD_KAFKA_OFFSET_INVALID;
    mm_err_t rc = MM_OK;
    rd_kafka_resp_err_t err = rd_kafka_committed(probe->rk, committed, remaining_ms(deadline));
    if (err) {
        rc =
            mm_errf(kafka_code(err), errstr, errstr_size, "committed offsets of group %s on %s: %s",
                    probe->group_id, probe->topic, rd_kafka_err2str(err));
        goto out;
    }
    for (int i = 0; i < committed->cnt; i++) {
        const rd_kafka_topic_partition_t *c = &committed->elems[i];
        if (c->err) {
            rc = mm_errf(kafka_code(c->err), errstr, errstr_size,
                         "committed offset of group %s on %s [%" PRId32 "]: %s", probe->group_id,
                         probe->topic, c->partition, rd_kafka_err2str(c->err));
            goto out;
        }
        int64_t low = 0, high = 0;
        err = rd_kafka_query_watermark_offsets(probe->rk, probe->topic, c->partition, &low, &high,
                                               remaining_ms(deadline));
        if (err) {
            rc = mm_errf(kafka_code(err), errstr, errstr_size, "watermarks of %s [%" PRId32 "]: %s",
                         probe->topic, c->partition, rd_kafka_err2str(err));
            goto out;
        }
        /* No commit (a negative logical offset), or one below what the log still holds. */
        int64_t from = c->offset > low ? c->offset : low;
        lag[c->partition] = high > from ? high - from : 0;
    }
out:
    rd_kafka_topic_partition_list_destroy(committed);
    return rc;
}

void mm_kafka_lag_probe_destroy(mm_kafka_lag_probe_t *probe) {
    if (!probe) return;
    if (probe->rk) {
        /* Never subscribed and never joined: closing leaves no group and commits nothing. */
        rd_kafka_consumer_close(probe->rk);
        rd_kafka_destroy(probe->rk);
    }
    free(probe->group_id);
    free(probe->topic);
    free(probe);
}

/* ---------------------------------------------------------------- admin */

mm_err_t mm_kafka_topic_ensure(const char *bootstrap, const mm_kv_list_t *props, const char *topic,
                               int partitions, int replication, char *errstr, size_t errstr_size) {
    static const char *const defaults[][2] = {
        {"client.id", "mm-admin"},
    };
    if (!topic || !*topic || partitions <= 0 || replication <= 0)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "topic ensure: need a topic, partitions > 0 and replication > 0");
    rd_kafka_conf_t *conf =
        conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults), props, NULL, errstr, errstr_size);
    if (!conf) return MM_ERR_CONFIG;
    rd_kafka_t *rk = kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    conf = NULL; /* now owned by rk (or destroyed) */
    if (!rk) return MM_ERR_CONFIG;

    /*
     * Look first: an existing topic needs no admin rights, and the dev broker
     * has no controller to answer CreateTopics at all.
     */
    int32_t have = 0;
    mm_err_t rc = topic_partition_count(rk, topic, 0, &have, errstr, errstr_size);
    if (rc == MM_OK) {
        if (have != partitions)
            mm_log_warn("kafka_topic_partitions",
                        "topic %s exists with %" PRId32 " partition(s), not %d", topic, have,
                        partitions);
        rd_kafka_destroy(rk);
        return MM_OK;
    }
    if (rc != MM_ERR_NOT_FOUND) {
        rd_kafka_destroy(rk);
        return rc;
    }
    rc = MM_OK;

    char why[512];
    rd_kafka_NewTopic_t *new_topic =
        rd_kafka_NewTopic_new(topic, partitions, replication, why, sizeof(why));
    if (!new_topic) {
        rd_kafka_destroy(rk);
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "topic %s: %s", topic, why);
    }
    rd_kafka_AdminOptions_t *options =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(options, KAFKA_REQUEST_TIMEOUT_MS, why, sizeof(why));
    rd_kafka_AdminOptions_set_operation_timeout(options, KAFKA_REQUEST_TIMEOUT_MS, why,
                                                sizeof(why));
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &new_topic, 1, options, queue);
    /* The request timeout bounds the result; the margin covers connection setup. */
    rd_kafka_event_t *event = rd_kafka_queue_poll(queue, 2 * KAFKA_REQUEST_TIMEOUT_MS + 5000);

    rd_kafka_resp_err_t err;
    char create_error[512] = "";
    if (!event) {
        err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        snprintf(create_error, sizeof(create_error), "no CreateTopics result");
    } else if ((err = rd_kafka_event_error(event))) {
        snprintf(create_error, sizeof(create_error), "%s", rd_kafka_event_error_string(event));
    } else {
        size_t cnt = 0;
        const rd_kafka_topic_result_t **results =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &cnt);
        err = cnt == 1 ? rd_kafka_topic_result_error(results[0]) : RD_KAFKA_RESP_ERR__FAIL;
        if (err) {
            const char *msg = cnt == 1 ? rd_kafka_topic_result_error_string(results[0]) : NULL;
            snprintf(create_error, sizeof(create_error), "%s", msg ? msg : rd_kafka_err2str(err));
        }
    }
    if (event) rd_kafka_event_destroy(event);
    rd_kafka_queue_destroy(queue);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_NewTopic_destroy(new_topic);

    if (!err) {
        mm_log_info("kafka_topic_created", "created topic %s (%d partitions, replication %d)",
                    topic, partitions, replication);
    } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) { /* a racing creator won */
        rc = mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "create topic %s: %s", topic, create_error);
    }
    rd_kafka_destroy(rk);
    return rc;
}

/*
 * Java's Utils.murmur2 (seed 0x9747b28c), as used by the Java client's
 * default partitioner and by librdkafka's murmur2/murmur2_random.
 */
static uint32_t murmur2(const uint8_t *data, size_t len) {
    const uint32_t seed = 0x9747b28c;
    const uint32_t m = 0x5bd1e995;
    const int r = 24;
    uint32_t h = seed ^ (uint32_t)len;
    while (len >= 4) {
        uint32_t k = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                     (uint32_t)data[3] << 24;
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
        data += 4;
        len -= 4;
    }
    switch (len) {
    case 3:
        h ^= (uint32_t)data[2] << 16; /* fall through */
    case 2:
        h ^= (uint32_t)data[1] << 8; /* fall through */
    case 1:
        h ^= data[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t mm_kafka_partition_for_key(const void *key, size_t key_len, int32_t partition_cnt) {
    if (partition_cnt <= 0) return -1;
    static const uint8_t empty[1];
    uint32_t h = murmur2(key ? key : empty, key ? key_len : 0);
    return (int32_t)((h & 0x7fffffffu) % (uint32_t)partition_cnt);
}
