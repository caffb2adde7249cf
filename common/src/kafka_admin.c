/*
 * kafka_admin.c - topic administration and the key partitioner (see
 * mm/kafka.h): create a topic (with its configs) unless it exists, describe a
 * topic (partitions, replication, configs), change some of its configs while
 * keeping the others, and the Java-compatible murmur2 partition of a key.
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

/*
 * Whether a broker of the cluster acts as controller, from a metadata
 * request: admin requests (CreateTopics, DescribeConfigs, AlterConfigs) go
 * to it. mm-devbroker's mock cluster names a controller id that is none of
 * its brokers, and answers no admin request.
 */
static bool controller_known(rd_kafka_t *rk) {
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, NULL, &md, KAFKA_REQUEST_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    int32_t controller = rd_kafka_controllerid(rk, 0);
    bool known = false;
    for (int i = 0; i < md->broker_cnt && !known; i++) known = md->brokers[i].id == controller;
    rd_kafka_metadata_destroy(md);
    return known;
}

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
    char physical[KAFKA_TOPIC_BUF];
    mm_err_t name_err = mm_kafka_topic_name(topic, physical, sizeof(physical), errstr, errstr_size);
    if (name_err) return name_err;
    topic = physical;
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
    if (!controller_known(rk)) {
        rd_kafka_destroy(rk);
        return mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                       "create topic %s: the cluster has no controller to create topics "
                       "(mm-devbroker creates its topics at start: --topics)",
                       topic);
    }

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
        /* The controller has it; wait until the broker's metadata does too, so what the caller
         * does next (describe, produce) finds it. */
        int32_t have_now = 0;
        rc = mm_kafka__topic_partition_count(rk, topic, KAFKA_TOPIC_APPEAR_MS, &have_now, errstr,
                                             errstr_size);
    } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) { /* a racing creator won */
        rc = mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "create topic %s: %s", topic, create_error);
    }
    rd_kafka_destroy(rk);
    return rc;
}

/* An admin client: a producer handle that never produces. */
static rd_kafka_t *admin_new(const char *bootstrap, const mm_kv_list_t *props, char *errstr,
                             size_t errstr_size) {
    static const char *const defaults[][2] = {
        {"client.id", "mm-admin"},
    };
    rd_kafka_conf_t *conf = mm_kafka__conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults),
                                                 props, NULL, errstr, errstr_size);
    if (!conf) return NULL;
    return mm_kafka__new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
}

/* Run one admin request queued on @p queue and wait for its result event (NULL on timeout). */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *queue) {
    return rd_kafka_queue_poll(queue, 2 * KAFKA_REQUEST_TIMEOUT_MS + KAFKA_ADMIN_CONNECT_MARGIN_MS);
}

/* Partitions and replication (of partition 0) of @p physical, from a listing of all topics. */
static mm_err_t describe_layout(rd_kafka_t *rk, const char *physical, mm_kafka_topic_info_t *info,
                                char *errstr, size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, KAFKA_REQUEST_TIMEOUT_MS);
    if (err)
        return mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "metadata for topic %s: %s", physical,
                       rd_kafka_err2str(err));
    mm_err_t rc = MM_OK;
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (strcmp(t->topic, physical) != 0) continue;
        if (t->err && t->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            rc = mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "metadata for topic %s: %s", physical,
                         rd_kafka_err2str(t->err));
        } else if (!t->err && t->partition_cnt > 0) {
            info->exists = true;
            info->partitions = t->partition_cnt;
            info->replication = t->partitions[0].replica_cnt;
        }
        break;
    }
    rd_kafka_metadata_destroy(md);
    if (!rc) info->has_controller = controller_known(rk);
    return rc;
}

/* Every config of @p physical into info->configs, those set on the topic into info->dynamic.
 * A broker that answers no DescribeConfigs (mm-devbroker) leaves configs_known false. */
static mm_err_t describe_configs(rd_kafka_t *rk, const char *physical, mm_kafka_topic_info_t *info,
                                 char *errstr, size_t errstr_size) {
    rd_kafka_ConfigResource_t *resource =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, physical);
    rd_kafka_AdminOptions_t *options =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    char why[KAFKA_ERRSTR_MAX];
    rd_kafka_AdminOptions_set_request_timeout(options, KAFKA_REQUEST_TIMEOUT_MS, why, sizeof(why));
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, &resource, 1, options, queue);
    rd_kafka_event_t *event = admin_wait(queue);
    mm_err_t rc = MM_OK;
    rd_kafka_resp_err_t err;
    if (!event) {
        rc = mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size, "describe configs of %s: no answer",
                     physical);
    } else if ((err = rd_kafka_event_error(event))) {
        /* The dev broker does not implement DescribeConfigs: configs stay unknown. */
        if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
            err == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION)
            info->configs_known = false;
        else
            rc = mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "describe configs of %s: %s", physical,
                         rd_kafka_event_error_string(event));
    } else {
        size_t n = 0;
        const rd_kafka_ConfigResource_t **res = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(event), &n);
        err = n == 1 ? rd_kafka_ConfigResource_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
        if (err) {
            const char *msg = n == 1 ? rd_kafka_ConfigResource_error_string(res[0]) : NULL;
            rc = mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "describe configs of %s: %s", physical,
                         msg ? msg : rd_kafka_err2str(err));
        } else {
            size_t n_entries = 0;
            const rd_kafka_ConfigEntry_t **entries =
                rd_kafka_ConfigResource_configs(res[0], &n_entries);
            info->configs_known = true;
            for (size_t i = 0; i < n_entries && !rc; i++) {
                const char *name = rd_kafka_ConfigEntry_name(entries[i]);
                const char *value = rd_kafka_ConfigEntry_value(entries[i]);
                if (!name) continue;
                if (mm_kv_list_set(&info->configs, name, value ? value : "") != MM_OK)
                    rc = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
                else if (rd_kafka_ConfigEntry_source(entries[i]) !=
                         RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG)
                    continue;
                else if (rd_kafka_ConfigEntry_is_sensitive(entries[i]) || !value)
                    info->hidden++; /* its value is not revealed: it cannot be written back */
                else if (mm_kv_list_set(&info->dynamic, name, value) != MM_OK)
                    rc = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
            }
        }
    }
    if (event) rd_kafka_event_destroy(event);
    rd_kafka_queue_destroy(queue);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_ConfigResource_destroy(resource);
    return rc;
}

mm_err_t mm_kafka_topic_describe(const char *bootstrap, const mm_kv_list_t *props,
                                 const char *topic, mm_kafka_topic_info_t *info, char *errstr,
                                 size_t errstr_size) {
    memset(info, 0, sizeof(*info));
    char physical[KAFKA_TOPIC_BUF];
    mm_err_t rc = mm_kafka_topic_name(topic, physical, sizeof(physical), errstr, errstr_size);
    if (rc) return rc;
    rd_kafka_t *rk = admin_new(bootstrap, props, errstr, errstr_size);
    if (!rk) return MM_ERR_CONFIG;
    rc = describe_layout(rk, physical, info, errstr, errstr_size);
    /* Without a controller nothing answers DescribeConfigs: the configs stay unknown. */
    if (!rc && info->exists && info->has_controller)
        rc = describe_configs(rk, physical, info, errstr, errstr_size);
    rd_kafka_destroy(rk);
    if (rc) mm_kafka_topic_info_clear(info);
    return rc;
}

void mm_kafka_topic_info_clear(mm_kafka_topic_info_t *info) {
    if (!info) return;
    mm_kv_list_free(&info->configs);
    mm_kv_list_free(&info->dynamic);
    memset(info, 0, sizeof(*info));
}

mm_err_t mm_kafka_topic_alter_configs(const char *bootstrap, const mm_kv_list_t *props,
                                      const char *topic, const mm_kv_list_t *configs, char *errstr,
                                      size_t errstr_size) {
    if (!configs || configs->n == 0) return MM_OK;
    char physical[KAFKA_TOPIC_BUF];
    mm_err_t rc = mm_kafka_topic_name(topic, physical, sizeof(physical), errstr, errstr_size);
    if (rc) return rc;
    rd_kafka_t *rk = admin_new(bootstrap, props, errstr, errstr_size);
    if (!rk) return MM_ERR_CONFIG;
    /*
     * AlterConfigs replaces the whole set of configs set on the topic (librdkafka 2.0 has no
     * incremental variant): send the ones already set, with ours over them, so nothing an
     * operator set by hand is lost.
     */
    mm_kafka_topic_info_t info;
    memset(&info, 0, sizeof(info));
    if (controller_known(rk)) rc = describe_configs(rk, physical, &info, errstr, errstr_size);
    if (!rc && !info.configs_known)
        rc = mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                     "topic %s: the broker does not describe configs, so they cannot be changed "
                     "safely",
                     physical);
    if (!rc && info.hidden > 0)
        rc = mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                     "topic %s: %zu config(s) set on it do not reveal their values, and changing "
                     "configs would drop them; change them with the cluster's own tools",
                     physical, info.hidden);
    for (size_t i = 0; !rc && i < configs->n; i++)
        if (mm_kv_list_set(&info.dynamic, configs->items[i].key, configs->items[i].value))
            rc = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    rd_kafka_ConfigResource_t *resource =
        rc ? NULL : rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, physical);
    for (size_t i = 0; !rc && i < info.dynamic.n; i++)
        if (rd_kafka_ConfigResource_set_config(resource, info.dynamic.items[i].key,
                                               info.dynamic.items[i].value))
            rc = mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "topic %s: bad config %s",
                         physical, info.dynamic.items[i].key);
    if (!rc) {
        rd_kafka_AdminOptions_t *options =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
        char why[KAFKA_ERRSTR_MAX];
        rd_kafka_AdminOptions_set_request_timeout(options, KAFKA_REQUEST_TIMEOUT_MS, why,
                                                  sizeof(why));
        rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
        rd_kafka_AlterConfigs(rk, &resource, 1, options, queue);
        rd_kafka_event_t *event = admin_wait(queue);
        rd_kafka_resp_err_t err;
        if (!event) {
            rc = mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size, "alter configs of %s: no answer",
                         physical);
        } else if ((err = rd_kafka_event_error(event))) {
            rc = mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "alter configs of %s: %s", physical,
                         rd_kafka_event_error_string(event));
        } else {
            size_t n = 0;
            const rd_kafka_ConfigResource_t **res = rd_kafka_AlterConfigs_result_resources(
                rd_kafka_event_AlterConfigs_result(event), &n);
            err = n == 1 ? rd_kafka_ConfigResource_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
            if (err) {
                const char *msg = n == 1 ? rd_kafka_ConfigResource_error_string(res[0]) : NULL;
                rc = mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "alter configs of %s: %s", physical,
                             msg ? msg : rd_kafka_err2str(err));
            } else {
                mm_log_info("kafka_topic_configs_altered", "topic %s: %zu config(s) set", physical,
                            configs->n);
            }
        }
        if (event) rd_kafka_event_destroy(event);
        rd_kafka_queue_destroy(queue);
        rd_kafka_AdminOptions_destroy(options);
    }
    if (resource) rd_kafka_ConfigResource_destroy(resource);
    mm_kafka_topic_info_clear(&info);
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
