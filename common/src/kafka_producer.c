/*
 * kafka_producer.c - the services' producer (see mm/kafka.h): idempotent,
 * compressed, murmur2_random-partitioned, with a bounded local queue that
 * makes produce block, serving delivery reports, while it is full.
 *
 * A producer that fails fatally (the idempotent producer's
 * rd_kafka_fatal_error(), e.g. after OUT_OF_ORDER_SEQUENCE_NUMBER) is
 * replaced by a new librdkafka instance with the same configuration: what the
 * failed one still held is delivered or comes back as a failed delivery
 * report (the caller's outbox or counts keep it), then the next call that
 * needs the handle creates the new one. Replacements in a row, with no
 * successful delivery between them, wait 1 s, 2 s, 4 s ... up to a minute, so
 * a fault that recurs at once cannot spin.
 *
 * Workload: small to mid-size Avro payloads (well under 1 MB) at up to
 * ~100k messages/s, delivery reports served on the caller's thread. The one
 * hot call, mm_kafka_produce(), does no allocation of its own; the fatal
 * check is one atomic read.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_int.h"
#include "mm/clock.h"
#include "mm/log.h"
#include "mm/util.h"

/* How long a failed instance may take to settle its in-flight requests before the rest are
 * purged (their reports then say the delivery is unknown, and the caller sends them again). */
#define PRODUCER_FATAL_DRAIN_MS 5000
/* Backoff between replacements in a row (no successful delivery between them). */
#define PRODUCER_RECREATE_BASE_MS 1000
#define PRODUCER_RECREATE_CAP_MS  60000

struct mm_kafka_producer {
    /* Read-held while a call uses rk (librdkafka's calls are thread-safe, so several threads
     * may); write-held to retire a failed instance and to create its replacement. */
    pthread_rwlock_t lock;
    rd_kafka_t *rk; /* NULL between a fatal error and its replacement */
    mm_kafka_dr_cb_t *dr_cb;
    void *opaque;
    char *bootstrap;         /* owned: the configuration of every instance */
    mm_kv_list_t props;      /* owned copy */
    atomic_int fatal_in_row; /* fatal errors since the last successful delivery */
    int64_t recreate_at_ms;  /* mm_mono_ms() from which a replacement may be created */
    int64_t recreated;       /* instances replaced so far */
    char fatal_reason[KAFKA_ERRSTR_MAX + 64]; /* the last fatal error, for reports and errors */
};

static void producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
    mm_kafka_producer_t *producer = opaque;
    if (!producer || !producer->dr_cb) return;
    if (!rkm->err) {
        /* This instance works: the next fatal error is a first. */
        atomic_store(&producer->fatal_in_row, 0);
        producer->dr_cb(producer->opaque, rkm->_private, MM_OK, NULL);
        return;
    }
    char reason[1536];
    char fatal[KAFKA_ERRSTR_MAX];
    rd_kafka_resp_err_t fatal_err = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
        snprintf(reason, sizeof(reason), "%s: fatal producer error: %s",
                 rd_kafka_topic_name(rkm->rkt), fatal);
    } else if (fatal_err) {
        /* Failed with the instance (purged or in the failing request): say why. */
        snprintf(reason, sizeof(reason),
                 "%s [%" PRId32 "]: %s: %s (the producer failed fatally: %s: %s; it is replaced)",
                 rd_kafka_topic_name(rkm->rkt), rkm->partition, rd_kafka_err2name(rkm->err),
                 rd_kafka_err2str(rkm->err), rd_kafka_err2name(fatal_err), fatal);
    } else if (rkm->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        snprintf(reason, sizeof(reason),
                 "%s [%" PRId32 "]: %s: %s (%zu bytes: the broker's or the topic's message limit "
                 "is below this producer's message.max.bytes; set it lower with -X)",
                 rd_kafka_topic_name(rkm->rkt), rkm->partition, rd_kafka_err2name(rkm->err),
                 rd_kafka_err2str(rkm->err), rkm->len + rkm->key_len);
    } else {
        snprintf(reason, sizeof(reason), "%s [%" PRId32 "]: %s: %s", rd_kafka_topic_name(rkm->rkt),
                 rkm->partition, rd_kafka_err2name(rkm->err), rd_kafka_err2str(rkm->err));
    }
    mm_err_t err = rkm->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ? MM_ERR_TIMEOUT : MM_ERR_KAFKA;
    producer->dr_cb(producer->opaque, rkm->_private, err, reason);
}

/* A new librdkafka instance with the producer's configuration. @returns NULL with errstr set. */
static rd_kafka_t *producer_instance_new(mm_kafka_producer_t *producer, char *errstr,
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
    rd_kafka_conf_t *conf =
        mm_kafka__conf_build(producer->bootstrap, defaults, MM_ARRAY_SIZE(defaults),
                             &producer->props, producer, errstr, errstr_size);
    if (!conf) return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, producer_dr_cb);
    return mm_kafka__new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size); /* owns conf */
}

mm_kafka_producer_t *mm_kafka_producer_new(const char *bootstrap, const mm_kv_list_t *props,
                                           mm_kafka_dr_cb_t *dr_cb, void *opaque, char *errstr,
                                           size_t errstr_size) {
    mm_kafka_producer_t *producer = calloc(1, sizeof(*producer));
    if (!producer) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    producer->dr_cb = dr_cb;
    producer->opaque = opaque;
    if (pthread_rwlock_init(&producer->lock, NULL) != 0) {
        free(producer);
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "producer lock: out of resources");
        return NULL;
    }
    producer->bootstrap = bootstrap ? strdup(bootstrap) : NULL;
    if (bootstrap && !producer->bootstrap) goto nomem;
    for (size_t i = 0; props && i < props->n; i++) {
        if (!props->items[i].key || !props->items[i].value) continue;
        if (mm_kv_list_set(&producer->props, props->items[i].key, props->items[i].value) != MM_OK)
            goto nomem;
    }
    producer->rk = producer_instance_new(producer, errstr, errstr_size);
    if (!producer->rk) goto fail;
    return producer;
nomem:
    mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
fail:
    pthread_rwlock_destroy(&producer->lock);
    mm_kv_list_free(&producer->props);
    free(producer->bootstrap);
    free(producer);
    return NULL;
}

/*
 * The instance failed fatally: log it, count it, let its in-flight requests
 * settle (bounded), hand every message it still holds back through a failed
 * delivery report, destroy it and set when its replacement may be created.
 */
static void producer_retire(mm_kafka_producer_t *producer) {
    rd_kafka_t *rk = producer->rk;
    char fatal[KAFKA_ERRSTR_MAX];
    rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    snprintf(producer->fatal_reason, sizeof(producer->fatal_reason), "%s: %s",
             rd_kafka_err2name(code), fatal);
    int in_row = atomic_fetch_add(&producer->fatal_in_row, 1);
    int64_t delay = in_row == 0 ? 0
                                : mm_backoff_ms(in_row - 1, PRODUCER_RECREATE_BASE_MS,
                                                PRODUCER_RECREATE_CAP_MS);
    in_row++;
    int held = rd_kafka_outq_len(rk);
    mm_logj(MM_LOG_ERROR, "kafka_producer_fatal",
            json_pack("{s:s, s:s, s:i, s:I, s:i}", "client", rd_kafka_name(rk), "code",
                      rd_kafka_err2name(code), "messages_held", held, "recreate_in_ms",
                      (json_int_t)delay, "fatal_in_row", in_row),
            "fatal Kafka producer error: %s: %s; replacing the producer (%d message(s) it held "
            "are delivered or reported failed)",
            rd_kafka_err2name(code), fatal, held);
    mm_kafka__count_producer_fatal(rd_kafka_err2name(code));
    /* librdkafka purges the queue itself; in-flight requests get their real outcome. */
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE);
    rd_kafka_flush(rk, PRODUCER_FATAL_DRAIN_MS);
    if (rd_kafka_outq_len(rk) > 0) {
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_destroy(rk);
    producer->rk = NULL;
    producer->recreate_at_ms = mm_mono_ms() + delay;
}

/* Create the replacement instance if its time has come. @returns true when there is one. */
static bool producer_replace(mm_kafka_producer_t *producer) {
    if (producer->rk) return true;
    if (mm_mono_ms() < producer->recreate_at_ms) return false;
    char why[KAFKA_ERRSTR_MAX];
    producer->rk = producer_instance_new(producer, why, sizeof(why));
    if (!producer->rk) {
        /* The configuration served before, so this is resources: try again later. */
        producer->recreate_at_ms =
            mm_mono_ms() + mm_backoff_ms(atomic_load(&producer->fatal_in_row),
                                         PRODUCER_RECREATE_BASE_MS, PRODUCER_RECREATE_CAP_MS);
        mm_log_error("kafka_producer_recreate_failed", "replacing the failed producer: %s", why);
        return false;
    }
    producer->recreated++;
    mm_kafka__count_producer_recreated();
    mm_logj(MM_LOG_WARN, "kafka_producer_recreated",
            json_pack("{s:s, s:I, s:i, s:s}", "client", rd_kafka_name(producer->rk), "recreated",
                      (json_int_t)producer->recreated, "fatal_in_row",
                      atomic_load(&producer->fatal_in_row), "after", producer->fatal_reason),
            "new producer instance after a fatal error (%s)", producer->fatal_reason);
    return true;
}

static bool instance_failed(rd_kafka_t *rk) {
    return rk && rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

/*
 * Read-lock a usable instance: a failed one is first retired and its
 * replacement created when due, under the write lock. @returns true with the
 * read lock held (release with producer_release); false, holding nothing,
 * while there is no instance to use (*due_ms then says when there will be,
 * and @p why, when given, why).
 */
static bool producer_acquire(mm_kafka_producer_t *producer, int64_t *due_ms, char *why,
                             size_t why_size) {
    pthread_rwlock_rdlock(&producer->lock);
    if (producer->rk && !instance_failed(producer->rk)) return true;
    pthread_rwlock_unlock(&producer->lock);
    pthread_rwlock_wrlock(&producer->lock);
    if (instance_failed(producer->rk)) producer_retire(producer);
    bool usable = producer_replace(producer);
    if (!usable) {
        if (due_ms) *due_ms = producer->recreate_at_ms - mm_mono_ms();
        if (why) snprintf(why, why_size, "%s", producer->fatal_reason);
    }
    pthread_rwlock_unlock(&producer->lock);
    if (!usable) return false;
    return producer_acquire(producer, due_ms, why, why_size); /* a new, usable instance */
}

static void producer_release(mm_kafka_producer_t *producer) {
    pthread_rwlock_unlock(&producer->lock);
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
        int64_t due = 0;
        char why[sizeof(producer->fatal_reason)];
        if (!producer_acquire(producer, &due, why, sizeof(why))) {
            /* Between a fatal error and the replacement: wait for it within block_ms. */
            int left = mm_kafka__remaining_ms(deadline);
            if (due > left)
                return mm_errf(MM_ERR_BUSY, errstr, errstr_size,
                               "produce to %s: the producer failed fatally (%s) and is replaced "
                               "in %lld ms",
                               topic, why, (long long)due);
            mm_sleep_ms(due > 0 ? due : 1, NULL);
            continue;
        }
        rd_kafka_resp_err_t err = rd_kafka_producev(
            producer->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            int left = mm_kafka__remaining_ms(deadline);
            if (left > 0) /* Delivery reports free queue space; serve them while we wait. */
                rd_kafka_poll(producer->rk,
                              left < KAFKA_QUEUE_FULL_POLL_MS ? left : KAFKA_QUEUE_FULL_POLL_MS);
            int queued = rd_kafka_outq_len(producer->rk);
            producer_release(producer);
            if (left == 0)
                return mm_errf(MM_ERR_BUSY, errstr, errstr_size,
                               "produce to %s: local queue still full after %d ms (%d queued)",
                               topic, block_ms, queued);
            continue;
        }
        producer_release(producer);
        if (!err) return MM_OK;
        if (err == RD_KAFKA_RESP_ERR__FATAL) continue; /* retired and replaced at the top */
        mm_err_t code =
            err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ? MM_ERR_INVALID_ARG : MM_ERR_KAFKA;
        return mm_errf(code, errstr, errstr_size, "produce to %s (%zu bytes): %s: %s", topic,
                       value_len, rd_kafka_err2name(err), rd_kafka_err2str(err));
    }
}

int mm_kafka_producer_poll(mm_kafka_producer_t *producer, int timeout_ms) {
    if (!producer) return 0;
    int64_t due = 0;
    if (!producer_acquire(producer, &due, NULL, 0)) {
        /* Nothing to serve until the replacement: wait for it, up to the timeout. */
        int64_t wait = due < timeout_ms ? due : timeout_ms;
        if (wait > 0) mm_sleep_ms(wait, NULL);
        return 0;
    }
    int served = rd_kafka_poll(producer->rk, timeout_ms);
    bool failed = instance_failed(producer->rk);
    producer_release(producer);
    if (failed && producer_acquire(producer, NULL, NULL, 0)) /* retire at once */
        producer_release(producer);
    return served;
}

mm_err_t mm_kafka_producer_flush(mm_kafka_producer_t *producer, int timeout_ms) {
    if (!producer) return MM_OK;
    /* A failed instance hands everything back when retired: then nothing is in flight. */
    if (!producer_acquire(producer, NULL, NULL, 0)) return MM_OK;
    rd_kafka_resp_err_t err = rd_kafka_flush(producer->rk, timeout_ms);
    bool failed = instance_failed(producer->rk);
    producer_release(producer);
    if (failed) {
        if (producer_acquire(producer, NULL, NULL, 0)) producer_release(producer);
        return MM_OK;
    }
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) return MM_ERR_TIMEOUT;
    return err ? MM_ERR_KAFKA : MM_OK;
}

int mm_kafka_producer_outq_len(mm_kafka_producer_t *producer) {
    if (!producer) return 0;
    pthread_rwlock_rdlock(&producer->lock);
    int n = producer->rk ? rd_kafka_outq_len(producer->rk) : 0;
    pthread_rwlock_unlock(&producer->lock);
    return n;
}

int64_t mm_kafka_producer_recreated(mm_kafka_producer_t *producer) {
    if (!producer) return 0;
    pthread_rwlock_rdlock(&producer->lock);
    int64_t n = producer->recreated;
    pthread_rwlock_unlock(&producer->lock);
    return n;
}

int64_t mm_kafka_producer_max_message_bytes(const mm_kafka_producer_t *producer) {
    const char *value = producer ? mm_kv_list_get(&producer->props, "message.max.bytes") : NULL;
    int64_t bytes;
    if (!value || !mm_parse_i64(value, &bytes) || bytes <= 0)
        mm_parse_i64(KAFKA_MESSAGE_MAX_BYTES, &bytes);
    return bytes;
}

void mm_kafka_producer_destroy(mm_kafka_producer_t *producer, int flush_timeout_ms) {
    if (!producer) return;
    /* The caller's last call: no other thread uses the producer now. */
    if (instance_failed(producer->rk)) producer_retire(producer);
    if (producer->rk) {
        rd_kafka_flush(producer->rk, flush_timeout_ms > 0 ? flush_timeout_ms : 0);
        int undelivered = rd_kafka_outq_len(producer->rk);
        if (undelivered > 0) {
            mm_logj(MM_LOG_WARN, "kafka_producer_undelivered",
                    json_pack("{s:i, s:i}", "messages", undelivered, "flush_timeout_ms",
                              flush_timeout_ms),
                    "destroying producer with %d message(s) not delivered", undelivered);
            /* Purged messages get a failed delivery report, so an outbox keeps them for a retry.
             */
            rd_kafka_purge(producer->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_poll(producer->rk, 0);
        }
        rd_kafka_destroy(producer->rk);
    }
    pthread_rwlock_destroy(&producer->lock);
    mm_kv_list_free(&producer->props);
    free(producer->bootstrap);
    free(producer);
}
