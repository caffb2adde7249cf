/*
 * kafka_tail.c - a bounded look at the newest records of a topic (see
 * mm/kafka.h, mm_kafka_tail_scan): each partition read from its end
 * backwards, in windows of growing size, until a window starts with records
 * older than the caller's time or reaches the partition's beginning.
 *
 * Why not by timestamp: ListOffsets by time (rd_kafka_offsets_for_times) is
 * not implemented by the dev broker (librdkafka's mock cluster answers -1),
 * and it would cost the same requests on Apache Kafka. Record timestamps are
 * the producer's CreateTime, so a window's oldest timestamp says whether to
 * look further back.
 *
 * Workload: at a service's start, with something to check against the topic;
 * usually one window per partition (the records since a restart).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka_int.h"
#include "mm/util.h"

#define TAIL_FIRST_WINDOW 256 /* records of a partition's first (newest) window */
#define TAIL_GROWTH       4   /* each further window is this many times larger */
#define TAIL_POLL_MS      100

typedef struct tail_window {
    int32_t partition;
    int64_t stop; /* records at or past this offset belong to a later window */
    bool done;
} tail_window_t;

static bool tail_on_eof(void *opaque, int32_t partition, char *errstr, size_t errstr_size) {
    (void)errstr;
    (void)errstr_size;
    tail_window_t *w = opaque;
    if (partition == w->partition) w->done = true;
    return false;
}

/* Read [start, w->stop) of one partition; *oldest_ms receives the smallest timestamp seen. */
static mm_err_t read_window(rd_kafka_t *rk, const char *topic, int64_t start, tail_window_t *w,
                            int64_t deadline, mm_kafka_tail_cb_t *cb, void *opaque,
                            int64_t *oldest_ms, int64_t *records, bool *stopped, char *errstr,
                            size_t errstr_size) {
    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(assignment, topic, w->partition)->offset = start;
    rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    if (aerr)
        return mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "assign %s [%" PRId32 "]: %s", topic,
                       w->partition, rd_kafka_err2str(aerr));
    const mm_kafka__poll_hooks_t hooks = {.on_eof = tail_on_eof, .opaque = w};
    rd_kafka_message_t *held = NULL;
    mm_err_t err = MM_OK;
    w->done = false;
    while (!w->done && !*stopped) {
        int left = mm_kafka__remaining_ms(deadline);
        if (left == 0) {
            err = mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size,
                          "%s [%" PRId32 "] not read back to offset %" PRId64 " in time", topic,
                          w->partition, start);
            break;
        }
        mm_kafka_msg_t msg;
        err = mm_kafka__poll(rk, &held, left < TAIL_POLL_MS ? left : TAIL_POLL_MS, &hooks, &msg,
                             errstr, errstr_size);
        if (err == MM_ERR_TIMEOUT) {
            err = MM_OK;
            continue;
        }
        if (err) break;
        if (msg.partition != w->partition) continue;
        if (msg.offset >= w->stop) {
            w->done = true;
            break;
        }
        (*records)++;
        if (msg.timestamp_ms >= 0 && msg.timestamp_ms < *oldest_ms) *oldest_ms = msg.timestamp_ms;
        if (!cb(opaque, &msg)) *stopped = true;
    }
    if (held) rd_kafka_message_destroy(held);
    rd_kafka_assign(rk, NULL);
    return err;
}

mm_err_t mm_kafka_tail_scan(const char *bootstrap, const char *topic, const mm_kv_list_t *props,
                            int64_t since_ms, mm_kafka_tail_cb_t *cb, void *opaque, int timeout_ms,
                            int64_t *records, char *errstr, size_t errstr_size) {
    int64_t read = 0;
    if (records) *records = 0;
    if (!topic || !*topic || !cb)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "tail scan needs a topic and a cb");
    char physical[KAFKA_TOPIC_BUF];
    mm_err_t err = mm_kafka_topic_name(topic, physical, sizeof(physical), errstr, errstr_size);
    if (err) return err;
    /* A KafkaConsumer wants a group.id even with hand-made assignments; this one never joins. */
    char group_id[96];
    snprintf(group_id, sizeof(group_id), "mm-tail-%ld-%" PRId64, (long)getpid(), mm_now_ms());
    static const char *const defaults[][2] = {
        {"client.id", "mm-tail"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        /* A window start that retention removed meanwhile: its new beginning. */
        {"auto.offset.reset", "earliest"},
    };
    rd_kafka_conf_t *conf = mm_kafka__conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults),
                                                 props, NULL, errstr, errstr_size);
    if (!conf) return MM_ERR_CONFIG;
    if (mm_kafka__conf_set(conf, "group.id", group_id, errstr, errstr_size) != MM_OK) {
        rd_kafka_conf_destroy(conf);
        return MM_ERR_CONFIG;
    }
    rd_kafka_t *rk = mm_kafka__new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk) return MM_ERR_KAFKA;
    rd_kafka_poll_set_consumer(rk);
    int64_t deadline = mm_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int32_t partitions = 0;
    err = mm_kafka__topic_partition_count(rk, physical, KAFKA_TOPIC_APPEAR_MS, &partitions, errstr,
                                          errstr_size);
    bool stopped = false;
    for (int32_t p = 0; !err && !stopped && p < partitions; p++) {
        int64_t low = 0, high = 0;
        rd_kafka_resp_err_t werr = rd_kafka_query_watermark_offsets(
            rk, physical, p, &low, &high, mm_kafka__remaining_ms(deadline));
        if (werr) {
            err = mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "watermarks of %s [%" PRId32 "]: %s",
                          physical, p, rd_kafka_err2str(werr));
            break;
        }
        tail_window_t w = {.partition = p, .stop = high};
        int64_t window = TAIL_FIRST_WINDOW;
        while (!err && !stopped && w.stop > low) {
            int64_t start = w.stop - window > low ? w.stop - window : low;
            int64_t oldest = INT64_MAX;
            err = read_window(rk, physical, start, &w, deadline, cb, opaque, &oldest, &read,
                              &stopped, errstr, errstr_size);
            /* Older records than the caller asks about: nothing further back matters. */
            if (err || start == low || oldest < since_ms) break;
            w.stop = start;
            window *= TAIL_GROWTH;
        }
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (records) *records = read;
    return err;
}
