/*
 * kafka_consumer.c - the services' group consumer (see mm/kafka.h): a group
 * member whose partitions start where the service's own state store says
 * (on_assign), with offsets stored only after the work they cover is
 * durable and commits that only mirror progress for lag monitoring.
 *
 * Workload: one message at a time handed to a service loop; rebalances are
 * rare and served on the polling thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_int.h"
#include "mm/clock.h"
#include "mm/log.h"
#include "mm/util.h"

struct mm_kafka_consumer {
    rd_kafka_t *rk;
    mm_kafka_rebalance_cbs_t cbs;
    bool has_cbs;
    rd_kafka_message_t *held; /* the message last returned by poll (owned) */
    bool assigned_once;       /* a rebalance has handed this member its (possibly empty) share */
    bool closing;             /* mm_kafka_consumer_close is waiting for that first share */
};

mm_err_t mm_kafka_consumer_props_bounded(const mm_kv_list_t *user, int queue_kbytes,
                                         mm_kv_list_t *out) {
    char queue[24];
    snprintf(queue, sizeof(queue), "%d",
             queue_kbytes > 0 ? queue_kbytes : MM_KAFKA_QUEUE_KBYTES_FOLLOW);
    if (mm_kv_list_set(out, "queued.max.messages.kbytes", queue) ||
        mm_kv_list_set(out, "fetch.max.bytes", "4194304"))
        return MM_ERR_NOMEM;
    for (size_t i = 0; user && i < user->n; i++) {
        const mm_kv_t *kv = &user->items[i];
        if (kv->key && kv->value && mm_kv_list_set(out, kv->key, kv->value)) return MM_ERR_NOMEM;
    }
    return MM_OK;
}

/* How long a close waits for the member's first assignment (see mm_kafka_consumer_close). */
#define CLOSE_FIRST_ASSIGNMENT_WAIT_MS 10000

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

/*
 * Store the offsets the service's state chose for newly assigned partitions,
 * so the next commit mirrors them at once. Without this a partition whose
 * new owner resumes at its end (it consumed it in an earlier assignment)
 * stores nothing until a new record arrives, and the group's committed
 * offset - what lag monitoring and mm-ingest's pacing read - stays behind
 * for as long as the partition is quiet (fault scenario 12, docs/reliability.md;
 * after a broker restart, scenario 6-K, mm-ingest's pacing waited on it for good).
 */
static void store_start_offsets(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions) {
    rd_kafka_topic_partition_list_t *start = rd_kafka_topic_partition_list_new(partitions->cnt);
    for (int i = 0; i < partitions->cnt; i++)
        if (partitions->elems[i].offset >= 0)
            rd_kafka_topic_partition_list_add(start, partitions->elems[i].topic,
                                              partitions->elems[i].partition)
                ->offset = partitions->elems[i].offset;
    rd_kafka_resp_err_t err = start->cnt > 0 ? rd_kafka_offsets_store(rk, start) : 0;
    for (int i = 0; i < start->cnt && !err; i++) err = start->elems[i].err;
    if (err)
        mm_log_warn("kafka_store_failed",
                    "storing the start offsets of %d assigned partition(s): %s", start->cnt,
                    rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(start);
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
        consumer->assigned_once = true;
        if (consumer->closing) {
            /* Taken only to be given back by the close: the service never sees them. */
            for (int i = 0; i < partitions->cnt; i++)
                partitions->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
        } else if (consumer->has_cbs && consumer->cbs.on_assign) {
            for (int i = 0; i < partitions->cnt; i++) {
                rd_kafka_topic_partition_t *rktpar = &partitions->elems[i];
                int64_t wanted = consumer->cbs.on_assign(
                    consumer->cbs.opaque, mm_kafka_topic_logical(rktpar->topic), rktpar->partition);
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
        if (!error && !assign_err && !consumer->closing) store_start_offsets(rk, partitions);
        break;

    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: {
        bool lost = rd_kafka_assignment_lost(rk) != 0;
        log_assignment(lost ? "kafka_lost" : "kafka_revoked", partitions,
                       protocol ? protocol : "?");
        if (consumer->has_cbs && consumer->cbs.on_revoke && !consumer->closing)
            for (int i = 0; i < partitions->cnt; i++)
                consumer->cbs.on_revoke(consumer->cbs.opaque,
                                        mm_kafka_topic_logical(partitions->elems[i].topic),
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

/*
 * Results of the (auto and explicit) asynchronous commits, served on the polling
 * thread. A failed commit loses nothing - the next one carries the same stored
 * offsets, and a restart resumes from the service's state - but an operator
 * watching lag must know why it stopped falling.
 */
static void consumer_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *offsets, void *opaque) {
    (void)rk;
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
        if (!offsets) return;
        for (int i = 0; i < offsets->cnt; i++)
            if (offsets->elems[i].err) {
                err = offsets->elems[i].err;
                break;
            }
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    }
    mm_log_warn("kafka_commit_failed", "commit of %d partition(s): %s", offsets ? offsets->cnt : 0,
                rd_kafka_err2str(err));
}

mm_kafka_consumer_t *mm_kafka_consumer_new(const char *bootstrap, const char *group_id,
                                           const char *const *topics, size_t n_topics,
                                           const mm_kv_list_t *props,
                                           const mm_kafka_rebalance_cbs_t *cbs, char *errstr,
                                           size_t errstr_size) {
    static const char *const defaults[][2] = {
        {"client.id", "mm-consumer"},
        /* An offset is stored only after the work it covers is durable (docs/ARCHITECTURE.md,
           "Delivery semantics"). */
        {"enable.auto.offset.store", "false"},
        /* Never silently skip or replay (docs/ARCHITECTURE.md, "Delivery semantics"). */
        {"auto.offset.reset", "error"},
        /* Commits only what was stored: they mirror progress for lag monitoring. Only
           librdkafka's timer commits, every second, and it skips a group that is
           rebalancing: an explicit commit sent during a join is refused as of the old
           generation (ILLEGAL_GENERATION) and costs the member its whole assignment
           (fault scenario 12, docs/reliability.md). The close commits what is left. */
        {"enable.auto.commit", "true"},
        {"auto.commit.interval.ms", "1000"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"enable.partition.eof", "false"},
    };
    if (!group_id || !*group_id || !topics || n_topics == 0) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "consumer needs a group id and topics");
        return NULL;
    }
    /* The deployment's prefix goes before the group id as before the topics (mm/kafka.h). */
    char group[KAFKA_TOPIC_BUF];
    if (mm_kafka_topic_name(group_id, group, sizeof(group), errstr, errstr_size) != MM_OK)
        return NULL;
    group_id = group;
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
    rd_kafka_conf_t *conf = mm_kafka__conf_build(bootstrap, defaults, MM_ARRAY_SIZE(defaults),
                                                 props, consumer, errstr, errstr_size);
    if (!conf) goto fail;
    if (mm_kafka__conf_set(conf, "group.id", group_id, errstr, errstr_size) != MM_OK) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(conf, consumer_rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, consumer_commit_cb);
    consumer->rk = mm_kafka__new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    conf = NULL; /* now owned by rk (or destroyed) */
    if (!consumer->rk) goto fail;
    rd_kafka_poll_set_consumer(consumer->rk);

    subscription = rd_kafka_topic_partition_list_new((int)n_topics);
    for (size_t i = 0; i < n_topics; i++) {
        char topic[KAFKA_TOPIC_BUF];
        if (mm_kafka_topic_name(topics[i], topic, sizeof(topic), errstr, errstr_size) != MM_OK) {
            rd_kafka_topic_partition_list_destroy(subscription);
            rd_kafka_destroy(consumer->rk);
            goto fail;
        }
        rd_kafka_topic_partition_list_add(subscription, topic, RD_KAFKA_PARTITION_UA);
    }
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
    return mm_kafka__poll(consumer->rk, &consumer->held, timeout_ms, NULL, msg, errstr,
                          errstr_size);
}

mm_err_t mm_kafka_consumer_store_offset(mm_kafka_consumer_t *consumer, const char *topic,
                                        int32_t partition, int64_t next_offset) {
    if (!consumer || !topic || next_offset < 0) return MM_ERR_INVALID_ARG;
    char physical[KAFKA_TOPIC_BUF];
    char why[KAFKA_ERRSTR_MAX];
    if (mm_kafka_topic_name(topic, physical, sizeof(physical), why, sizeof(why)) != MM_OK)
        return MM_ERR_INVALID_ARG;
    topic = physical;
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

mm_err_t mm_kafka_consumer_watermarks(mm_kafka_consumer_t *consumer, const char *topic,
                                      int32_t partition, int64_t *low, int64_t *high,
                                      int timeout_ms, char *errstr, size_t errstr_size) {
    if (!consumer || !topic || !low || !high)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "watermarks: no consumer or topic");
    char physical[KAFKA_TOPIC_BUF];
    if (mm_kafka_topic_name(topic, physical, sizeof(physical), errstr, errstr_size) != MM_OK)
        return MM_ERR_INVALID_ARG;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(consumer->rk, physical, partition, low, high, timeout_ms);
    if (err)
        return mm_errf(err == RD_KAFKA_RESP_ERR__TIMED_OUT ? MM_ERR_TIMEOUT : MM_ERR_KAFKA, errstr,
                       errstr_size, "watermarks of %s [%" PRId32 "]: %s", physical, partition,
                       rd_kafka_err2str(err));
    return MM_OK;
}

/*
 * No OffsetCommit of our own: librdkafka's auto-commit timer sends one every
 * auto.commit.interval.ms and skips it while the member is not in a steady
 * group (rdkafka_cgrp.c, rd_kafka_cgrp_offset_commit_tmr_cb); an explicit
 * rd_kafka_commit() is sent in any join state. One sent while this member's
 * JoinGroup waits at the coordinator is answered only after that join
 * completes, under the new generation, so ILLEGAL_GENERATION, which
 * librdkafka 2.0.2 (as later versions) handles by declaring the whole
 * assignment lost and joining again: in fault scenario 12 every join of a
 * second trainer made the first lose all its partitions and wait a further
 * join (about 5 s on the dev broker) instead of a cooperative revocation of
 * the partitions that move (docs/reliability.md). The dev broker's group
 * coordinator answers requests queued behind a blocked JoinGroup that way
 * (rdkafka_mock_cgrp.c), and Apache Kafka likewise (test_rebalance_storm.c,
 * its two-member test, lost the whole assignment on both brokers).
 */
/*
 * librdkafka before 2.3.0 aborts in rd_kafka_destroy() when a cooperative-sticky
 * member is destroyed after its JoinGroup succeeded and before its first
 * SyncGroup answer (librdkafka issue #4312, fixed by PR #4381: the assignor's
 * state is destroyed while still NULL). A trainer stopped right after it
 * joined a group that is rebalancing hit it (fault scenario 12,
 * docs/reliability.md). Debian bookworm ships 2.0.2.
 */
static bool destroy_may_abort(const mm_kafka_consumer_t *consumer) {
    if (consumer->assigned_once || rd_kafka_version() >= 0x020300ff) return false;
    const char *protocol = rd_kafka_rebalance_protocol(consumer->rk);
    if (protocol && strcmp(protocol, "COOPERATIVE") != 0) return false;
    /* No member id: no JoinGroup answered yet, so no assignor chosen. */
    char *member = rd_kafka_memberid(consumer->rk);
    bool joining = member && *member;
    rd_kafka_mem_free(consumer->rk, member);
    return joining;
}

void mm_kafka_consumer_close(mm_kafka_consumer_t *consumer) {
    if (!consumer) return;
    if (consumer->held) rd_kafka_message_destroy(consumer->held);
    consumer->held = NULL;
    /* Decided before the close, which leaves the group and clears the member id. */
    bool at_risk = destroy_may_abort(consumer);
    if (at_risk) {
        /* Let the join finish (bounded): its first assignment is taken and given back at
         * once, and records fetched meanwhile are dropped unstored (nothing is lost: the
         * next owner starts at the stored offsets). */
        consumer->closing = true;
        int64_t until = mm_mono_ms() + CLOSE_FIRST_ASSIGNMENT_WAIT_MS;
        while (!consumer->assigned_once && mm_mono_ms() < until) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer->rk, 100);
            if (m) rd_kafka_message_destroy(m);
        }
    }
    /* Leaves the group: the revoke callback runs and stored offsets are committed. */
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(consumer->rk);
    if (err) mm_log_warn("kafka_close_failed", "consumer close: %s", rd_kafka_err2str(err));
    if (at_risk && !consumer->assigned_once) {
        /* Still between join and sync: destroying the handle would abort the process.
         * It has left the group; its threads and memory go with the process. */
        mm_log_warn("kafka_destroy_skipped",
                    "the consumer was closed before its group's first assignment; its handle "
                    "is not destroyed (librdkafka %s would abort)",
                    rd_kafka_version_str());
    } else {
        rd_kafka_destroy(consumer->rk);
    }
    free(consumer);
}

rd_kafka_t *mm_kafka__consumer_handle(mm_kafka_consumer_t *consumer) {
    return consumer ? consumer->rk : NULL;
}
