/*
 * pacing.c - mm-ingest waits for its pace group to consume (see pacing.h and,
 * for the estimate, ingest.h).
 *
 * Workload: per batch, one murmur2 of the key and one entry in a ring of
 * sizes; the group's lag is read only when a partition's estimated backlog
 * reaches the budget, then every PACE_READ_INTERVAL_MS while waiting.
 */
#include "pacing.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mm/log.h"
#include "mm/util.h"

#define PACE_READ_INTERVAL_MS 200  /* re-read the pace group's lag this often while waiting */
#define PACE_PROBE_TIMEOUT_MS 5000 /* bound of one lag read */
#define PACE_LOG_INTERVAL_MS  5000 /* at most one "paced" line (and probe warning) per this */
#define PACE_POLL_MS          50   /* delivery-report slice while waiting */
#define PACE_MIN_TRACKED      256  /* first ring allocation of a partition */
/* Unconsumed batches tracked per partition (4 bytes each): beyond it a partition
 * counts as full whatever its bytes. With batches of at least ~100 bytes, only
 * a budget over ~100 MB could reach it. */
#define PACE_MAX_TRACKED (1u << 20)

/*
 * One partition of the observations topic as pacing sees it. The group's lag
 * counts the newest messages of the partition, so the sizes of this load's
 * own batches are kept in produce order (= offset order) and a read drops
 * the oldest beyond the lag (consumed); lag beyond the ring is messages of
 * earlier loads or other producers, counted at this load's average size.
 * Between reads the group can only have consumed more, so the estimate errs
 * on the safe side.
 */
typedef struct pace_partition {
    uint32_t *sizes;     /* ring of encoded batch sizes, oldest first */
    size_t head, n, cap; /* cap grows by doubling up to PACE_MAX_TRACKED */
    int64_t bytes;       /* sum of the sizes in the ring */
    int64_t others;      /* unconsumed messages not in the ring, at the last read */
} pace_partition_t;

/* Pacing against a consumer group. */
struct mm_ingest_pace {
    mm_kafka_lag_probe_t *probe;
    char *group;
    char *topic;
    int64_t max_bytes;
    int32_t n_partitions;
    int64_t *lag;                 /* read buffer: one per partition */
    pace_partition_t *partitions; /* n_partitions */
    bool have_reading;
    int64_t read_mono;      /* when the last read was attempted */
    int64_t log_mono;       /* when "paced" was last logged (0: never) */
    int64_t warn_mono;      /* when a failed read was last logged (0: never) */
    int64_t bytes, batches; /* ObservationBatch records produced: their average size */
    int64_t paced_ms;
};

mm_ingest_pace_t *mm_ingest__pace_new(const char *bootstrap, const mm_kv_list_t *kafka,
                                      const char *group, const char *topic, int64_t max_bytes,
                                      char *errstr, size_t errstr_size) {
    mm_ingest_pace_t *pace = calloc(1, sizeof(*pace));
    if (!pace) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    pace->max_bytes = max_bytes;
    pace->group = strdup(group);
    pace->topic = strdup(topic);
    if (!pace->group || !pace->topic) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        mm_ingest__pace_destroy(pace);
        return NULL;
    }
    char why[768];
    pace->probe = mm_kafka_lag_probe_new(bootstrap, kafka, pace->group, topic, why, sizeof(why));
    if (!pace->probe) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                "pacing against consumer group %s: %s (--pace-group \"\" turns pacing off)",
                pace->group, why);
        mm_ingest__pace_destroy(pace);
        return NULL;
    }
    pace->n_partitions = mm_kafka_lag_probe_partitions(pace->probe);
    pace->lag = calloc((size_t)pace->n_partitions, sizeof(*pace->lag));
    pace->partitions = calloc((size_t)pace->n_partitions, sizeof(*pace->partitions));
    if (!pace->lag || !pace->partitions) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        mm_ingest__pace_destroy(pace);
        return NULL;
    }
    return pace;
}

void mm_ingest__pace_destroy(mm_ingest_pace_t *pace) {
    if (!pace) return;
    mm_kafka_lag_probe_destroy(pace->probe);
    for (int32_t p = 0; pace->partitions && p < pace->n_partitions; p++)
        free(pace->partitions[p].sizes);
    free(pace->partitions);
    free(pace->lag);
    free(pace->group);
    free(pace->topic);
    free(pace);
}

const char *mm_ingest__pace_group(const mm_ingest_pace_t *pace) {
    return pace ? pace->group : NULL;
}

int64_t mm_ingest__pace_max_bytes(const mm_ingest_pace_t *pace) {
    return pace ? pace->max_bytes : 0;
}

int64_t mm_ingest__pace_waited_ms(const mm_ingest_pace_t *pace) {
    return pace ? pace->paced_ms : 0;
}

static mm_err_t paced_stop(const mm_ingest_pace_t *pace, int32_t partition, char *errstr,
                           size_t errstr_size) {
    return mm_errf(MM_ERR_SHUTDOWN, errstr, errstr_size,
                   "interrupted while waiting for consumer group %s to consume partition %d of %s",
                   pace->group, (int)partition, pace->topic);
}

/* Estimated bytes of @p partition the pace group has not consumed yet. */
static int64_t pace_backlog(const mm_ingest_pace_t *pace, int32_t partition, size_t next_bytes) {
    const pace_partition_t *pp = &pace->partitions[partition];
    int64_t average = pace->batches ? pace->bytes / pace->batches : (int64_t)next_bytes;
    return pp->bytes + pp->others * average;
}

static bool pace_track(pace_partition_t *pp, size_t bytes) {
    if (pp->n == pp->cap) {
        size_t cap = pp->cap ? pp->cap * 2 : PACE_MIN_TRACKED;
        uint32_t *sizes = malloc(cap * sizeof(*sizes));
        if (!sizes) return false;
        for (size_t i = 0; i < pp->n; i++) sizes[i] = pp->sizes[(pp->head + i) % pp->cap];
        free(pp->sizes);
        pp->sizes = sizes;
        pp->head = 0;
        pp->cap = cap;
    }
    pp->sizes[(pp->head + pp->n) % pp->cap] = (uint32_t)bytes;
    pp->n++;
    pp->bytes += (int64_t)bytes;
    return true;
}

/* The group has @p lag messages of the partition left: the older ones in the ring are consumed. */
static void pace_consumed(pace_partition_t *pp, int64_t lag) {
    while ((int64_t)pp->n > lag) {
        pp->bytes -= pp->sizes[pp->head];
        pp->head = (pp->head + 1) % pp->cap;
        pp->n--;
    }
    pp->others = lag - (int64_t)pp->n;
}

/*
 * Read the pace group's lag. Everything produced so far is acknowledged
 * first, so that it is inside the high watermarks being read. A failed read
 * keeps the previous (conservative) estimate and is retried at the next
 * interval.
 */
static mm_err_t pace_read(mm_ingest_pace_t *pace, mm_kafka_producer_t *producer,
                          volatile sig_atomic_t *stop, int32_t partition, char *errstr,
                          size_t errstr_size) {
    while (mm_kafka_producer_flush(producer, PACE_POLL_MS) == MM_ERR_TIMEOUT)
        if (stop && *stop) return paced_stop(pace, partition, errstr, errstr_size);
    char why[512];
    mm_err_t err = mm_kafka_lag_probe_read(pace->probe, pace->lag, pace->n_partitions, NULL,
                                           PACE_PROBE_TIMEOUT_MS, why, sizeof(why));
    int64_t now = mm_mono_ms();
    pace->read_mono = now;
    if (err) {
        if (pace->warn_mono == 0 || now - pace->warn_mono >= PACE_LOG_INTERVAL_MS) {
            pace->warn_mono = now;
            mm_log_warn("pace_probe_failed", "reading the progress of consumer group %s: %s",
                        pace->group, why);
        }
        return MM_OK;
    }
    for (int32_t p = 0; p < pace->n_partitions; p++)
        pace_consumed(&pace->partitions[p], pace->lag[p]);
    pace->have_reading = true;
    return MM_OK;
}

mm_err_t mm_ingest__pace_wait(mm_ingest_pace_t *pace, mm_kafka_producer_t *producer,
                              volatile sig_atomic_t *stop, const char *key, size_t key_len,
                              size_t bytes, char *errstr, size_t errstr_size) {
    if (!pace) return MM_OK;
    int32_t partition = mm_kafka_partition_for_key(key, key_len, pace->n_partitions);
    int64_t waiting_since = 0;
    mm_err_t err = MM_OK;
    pace_partition_t *pp = &pace->partitions[partition];
    for (;;) {
        if (pace->have_reading && pp->n < PACE_MAX_TRACKED) {
            int64_t backlog = pace_backlog(pace, partition, bytes);
            if (backlog == 0 || backlog + (int64_t)bytes <= pace->max_bytes) break;
        }
        if (stop && *stop) {
            err = paced_stop(pace, partition, errstr, errstr_size);
            break;
        }
        int64_t now = mm_mono_ms();
        if (!pace->have_reading || now - pace->read_mono >= PACE_READ_INTERVAL_MS) {
            err = pace_read(pace, producer, stop, partition, errstr, errstr_size);
            if (err) break;
            if (pace->have_reading) continue; /* a fresh reading: look again */
        }
        /* Over the budget by a fresh enough reading: this is waiting for the group. */
        if (!waiting_since) waiting_since = now;
        if (pace->have_reading &&
            (pace->log_mono == 0 || now - pace->log_mono >= PACE_LOG_INTERVAL_MS)) {
            pace->log_mono = now;
            int64_t backlog = pace_backlog(pace, partition, bytes);
            mm_logj(MM_LOG_INFO, "paced",
                    json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:I}", "group", pace->group, "topic",
                              pace->topic, "partition", (int)partition, "backlog_bytes",
                              (json_int_t)backlog, "backlog_batches",
                              (json_int_t)((int64_t)pp->n + pp->others), "max_bytes",
                              (json_int_t)pace->max_bytes, "paced_ms",
                              (json_int_t)(pace->paced_ms + now - waiting_since)),
                    "waiting for consumer group %s: partition %d of %s holds ~%lld unconsumed "
                    "bytes (budget %lld)",
                    pace->group, (int)partition, pace->topic, (long long)backlog,
                    (long long)pace->max_bytes);
        }
        int64_t slice = PACE_READ_INTERVAL_MS - (now - pace->read_mono);
        if (slice > PACE_POLL_MS) slice = PACE_POLL_MS;
        if (slice < 1) slice = 1;
        mm_kafka_producer_poll(producer, (int)slice);
    }
    if (waiting_since) pace->paced_ms += mm_mono_ms() - waiting_since;
    if (err) return err;
    if (!pace_track(pp, bytes))
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory (pacing)");
    pace->bytes += (int64_t)bytes;
    pace->batches++;
    return MM_OK;
}
