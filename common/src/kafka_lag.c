/*
 * kafka_lag.c - consumer lag (see mm/kafka.h): the lag probe, how far a
 * consumer group's committed offsets trail the end of a topic, read without
 * joining that group or committing; and a group consumer's own lag per
 * assigned partition, from the values the client already holds.
 *
 * Workload: a producer pacing itself reads the probe every few hundred
 * milliseconds: one OffsetFetch and one watermark query per partition. The
 * services' metrics read their own consumer's lag every second or so: no
 * request at all.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_int.h"
#include "mm/log.h"
#include "mm/util.h"

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
    rd_kafka_conf_t *conf = mm_kafka__conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults),
                                                 props, probe, errstr, errstr_size);
    if (!conf) goto fail;
    for (size_t i = 0; i < MM_ARRAY_SIZE(forced); i++) {
        if (mm_kafka__conf_set(conf, forced[i][0], forced[i][1], errstr, errstr_size) != MM_OK) {
            rd_kafka_conf_destroy(conf);
            goto fail;
        }
    }
    if (mm_kafka__conf_set(conf, "group.id", group_id, errstr, errstr_size) != MM_OK) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    /* A consumer that never subscribes: it fetches committed offsets without joining. */
    probe->rk = mm_kafka__new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    conf = NULL; /* now owned by rk (or destroyed) */
    if (!probe->rk) goto fail;
    if (mm_kafka__topic_partition_count(probe->rk, topic, KAFKA_TOPIC_APPEAR_MS,
                                        &probe->partition_cnt, errstr, errstr_size) != MM_OK)
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
    rd_kafka_resp_err_t err =
        rd_kafka_committed(probe->rk, committed, mm_kafka__remaining_ms(deadline));
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
                                               mm_kafka__remaining_ms(deadline));
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

mm_err_t mm_kafka_consumer_lag(mm_kafka_consumer_t *consumer, mm_kafka_lag_cb_t *cb, void *opaque,
                               char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = mm_kafka__consumer_handle(consumer);
    if (!rk || !cb)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "consumer lag: no consumer");
    rd_kafka_topic_partition_list_t *assigned = NULL;
    rd_kafka_resp_err_t err = rd_kafka_assignment(rk, &assigned);
    if (!err && assigned) err = rd_kafka_position(rk, assigned);
    if (err) {
        if (assigned) rd_kafka_topic_partition_list_destroy(assigned);
        return mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "consumer lag: assignment: %s",
                       rd_kafka_err2str(err));
    }
    for (int i = 0; assigned && i < assigned->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &assigned->elems[i];
        int64_t low = RD_KAFKA_OFFSET_INVALID, high = RD_KAFKA_OFFSET_INVALID;
        /* Cached values only: no broker round trip. */
        int64_t lag = -1;
        if (rd_kafka_get_watermark_offsets(rk, tp->topic, tp->partition, &low, &high) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            high >= 0 && tp->offset >= 0)
            lag = high > tp->offset ? high - tp->offset : 0;
        cb(opaque, tp->topic, tp->partition, lag);
    }
    rd_kafka_topic_partition_list_destroy(assigned);
    return MM_OK;
}
