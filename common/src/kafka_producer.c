/*
 * kafka_producer.c - the services' producer (see mm/kafka.h): idempotent,
 * compressed, murmur2_random-partitioned, with a bounded local queue that
 * makes produce block, serving delivery reports, while it is full.
 *
 * Workload: small to mid-size Avro payloads (well under 1 MB) at up to
 * ~100k messages/s, delivery reports served on the caller's thread. The one
 * hot call, mm_kafka_produce(), does no allocation of its own.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_int.h"
#include "mm/log.h"
#include "mm/util.h"

struct mm_kafka_producer {
    rd_kafka_t *rk;
    mm_kafka_dr_cb_t *dr_cb;
    void *opaque;
};

static void producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
    mm_kafka_producer_t *producer = opaque;
    if (!producer || !producer->dr_cb) return;
    if (!rkm->err) {
        producer->dr_cb(producer->opaque, rkm->_private, MM_OK, NULL);
        return;
    }
    char reason[768];
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[KAFKA_ERRSTR_MAX];
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
        /* Java-compatible: one key lands on one partition whoever produces it
           (docs/ARCHITECTURE.md, "Topics and records"). */
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
    rd_kafka_conf_t *conf = mm_kafka__conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults),
                                                 props, producer, errstr, errstr_size);
    if (!conf) goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr_cb);
    producer->rk = mm_kafka__new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
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
    char physical[KAFKA_TOPIC_BUF];
    mm_err_t name_err = mm_kafka_topic_name(topic, physical, sizeof(physical), errstr, errstr_size);
    if (name_err) return name_err;
    topic = physical;
    int64_t deadline = mm_mono_ms() + (block_ms > 0 ? block_ms : 0);
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        if (!err) return MM_OK;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            int left = mm_kafka__remaining_ms(deadline);
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
            char fatal[KAFKA_ERRSTR_MAX];
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
