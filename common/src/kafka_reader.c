/*
 * kafka_reader.c - a group-less reader of one whole topic (see mm/kafka.h):
 * every partition assigned from the beginning, with a report once all of
 * them have reached their end (used to rebuild compacted state such as
 * mm.decisions).
 *
 * Workload: one pass over a compacted topic at start-up, then a trickle.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka_int.h"
#include "mm/log.h"
#include "mm/util.h"

struct mm_kafka_reader {
    rd_kafka_t *rk;
    char *topic;
    int32_t partition_cnt;
    bool *at_end; /* per partition: reached end of partition since its last message */
    int32_t n_at_end;
    rd_kafka_message_t *held;
};

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
    char physical[KAFKA_TOPIC_BUF];
    if (!topic || !*topic ||
        mm_kafka_topic_name(topic, physical, sizeof(physical), errstr, errstr_size) != MM_OK) {
        if (!topic || !*topic)
            mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "reader needs a topic");
        return NULL;
    }
    topic = physical;
    mm_kafka_reader_t *reader = calloc(1, sizeof(*reader));
    if (!reader || !(reader->topic = strdup(topic))) {
        free(reader);
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = mm_kafka__conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults),
                                                 props, reader, errstr, errstr_size);
    if (!conf) goto fail;
    if (mm_kafka__conf_set(conf, "group.id", group_id, errstr, errstr_size) != MM_OK) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    reader->rk = mm_kafka__new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    conf = NULL; /* now owned by rk (or destroyed) */
    if (!reader->rk) goto fail;
    rd_kafka_poll_set_consumer(reader->rk);

    if (mm_kafka__topic_partition_count(reader->rk, topic, KAFKA_TOPIC_APPEAR_MS,
                                        &reader->partition_cnt, errstr, errstr_size) != MM_OK)
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

/* A message of @p partition arrived: that partition is no longer at its end. */
static void reader_on_message(void *opaque, int32_t partition) {
    mm_kafka_reader_t *reader = opaque;
    if (partition >= 0 && partition < reader->partition_cnt && reader->at_end[partition]) {
        reader->at_end[partition] = false;
        reader->n_at_end--;
    }
}

/* @p partition reached its end: the poll ends when it was the last one to. */
static bool reader_on_eof(void *opaque, int32_t partition, char *errstr, size_t errstr_size) {
    mm_kafka_reader_t *reader = opaque;
    if (partition < 0 || partition >= reader->partition_cnt || reader->at_end[partition])
        return false;
    reader->at_end[partition] = true;
    reader->n_at_end++;
    if (reader->n_at_end < reader->partition_cnt) return false;
    mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size,
            "reached the end of all %" PRId32 " partition(s) of %s", reader->partition_cnt,
            reader->topic);
    return true;
}

mm_err_t mm_kafka_reader_poll(mm_kafka_reader_t *reader, int timeout_ms, mm_kafka_msg_t *msg,
                              char *errstr, size_t errstr_size) {
    if (!reader || !msg)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "poll: no reader or message");
    const mm_kafka__poll_hooks_t hooks = {
        .on_message = reader_on_message, .on_eof = reader_on_eof, .opaque = reader};
    return mm_kafka__poll(reader->rk, &reader->held, timeout_ms, &hooks, msg, errstr, errstr_size);
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
