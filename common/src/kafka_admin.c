/*
 * kafka_admin.c - topic administration and the key partitioner (see
 * mm/kafka.h): create a topic (with its configs) unless it exists, and the Java-compatible
 * murmur2 partition of a key.
 *
 * Workload: topic creation once per deployment (mmctl topics init, tests);
 * the partitioner per key when a tool needs to know where a key lands.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_int.h"
#include "mm/log.h"
#include "mm/util.h"

mm_err_t mm_kafka_topic_ensure(const char *bootstrap, const mm_kv_list_t *props, const char *topic,
                               int partitions, int replication, char *errstr, size_t errstr_size) {
    return mm_kafka_topic_ensure_configs(bootstrap, props, topic, partitions, replication, NULL,
                                         errstr, errstr_size);
}

mm_err_t mm_kafka_topic_ensure_configs(const char *bootstrap, const mm_kv_list_t *props,
                                       const char *topic, int partitions, int replication,
                                       const mm_kv_list_t *configs, char *errstr,
                                       size_t errstr_size) {
    static const char *const defaults[][2] = {
        {"client.id", "mm-admin"},
    };
    if (!topic || !*topic || partitions <= 0 || replication <= 0)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "topic ensure: need a topic, partitions > 0 and replication > 0");
    rd_kafka_conf_t *conf = mm_kafka__conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults),
                                                 props, NULL, errstr, errstr_size);
    if (!conf) return MM_ERR_CONFIG;
    rd_kafka_t *rk = mm_kafka__new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    conf = NULL; /* now owned by rk (or destroyed) */
    if (!rk) return MM_ERR_CONFIG;

    /*
     * Look first: an existing topic needs no admin rights, and the dev broker
     * has no controller to answer CreateTopics at all.
     */
    int32_t have = 0;
    mm_err_t rc = mm_kafka__topic_partition_count(rk, topic, 0, &have, errstr, errstr_size);
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

    char why[KAFKA_ERRSTR_MAX];
    rd_kafka_NewTopic_t *new_topic =
        rd_kafka_NewTopic_new(topic, partitions, replication, why, sizeof(why));
    if (!new_topic) {
        rd_kafka_destroy(rk);
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "topic %s: %s", topic, why);
    }
    for (size_t i = 0; configs && i < configs->n; i++) {
        if (rd_kafka_NewTopic_set_config(new_topic, configs->items[i].key,
                                         configs->items[i].value)) {
            rd_kafka_NewTopic_destroy(new_topic);
            rd_kafka_destroy(rk);
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "topic %s: bad config %s",
                           topic, configs->items[i].key);
        }
    }
    rd_kafka_AdminOptions_t *options =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(options, KAFKA_REQUEST_TIMEOUT_MS, why, sizeof(why));
    rd_kafka_AdminOptions_set_operation_timeout(options, KAFKA_REQUEST_TIMEOUT_MS, why,
                                                sizeof(why));
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &new_topic, 1, options, queue);
    /* The request and operation timeouts bound the result; the margin covers connection setup. */
    rd_kafka_event_t *event =
        rd_kafka_queue_poll(queue, 2 * KAFKA_REQUEST_TIMEOUT_MS + KAFKA_ADMIN_CONNECT_MARGIN_MS);

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
