/*
 * ingest.c - mm-ingest's logic: CSV rows to per-key ObservationBatch records
 * and dead letters (see ingest.h for the batching and counting contract).
 *
 * Workload: tens of millions of short rows per load spread over up to tens
 * of thousands of keys, in any order (series-major exports or date-major
 * appends). Per row: one CSV record (no allocation), one partition key built
 * on the stack, one open-addressing hash lookup, and a few stores into the
 * key's columnar arrays; encoding and producing happen once per batch of
 * thousands of rows. Memory is bounded by max_buffered_rows across keys.
 * Pacing (ingest.h) adds, per batch, one murmur2 of the key and one entry in
 * a ring of sizes; the consumer group's lag is read only when a partition's
 * estimated backlog reaches the budget, then every ~200 ms while waiting.
 */
#include "ingest.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mm/avro.h"
#include "mm/buf.h"
#include "mm/csv.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/records.h"
#include "mm/service.h"
#include "mm/sha256.h"
#include "mm/util.h"

#define INGEST_MIN_ROWS_ALLOC     64   /* first allocation of a key's open batch */
#define INGEST_SHRUNK_ROWS        16   /* what a key keeps after a memory-pressure flush */
#define INGEST_STOP_CHECK_ROWS    1024 /* rows between checks of the stop flag / delivery reports */
#define INGEST_LOGGED_DEADLETTERS 10   /* dead letters logged one by one; the rest are counted */
#define INGEST_SHOWN_VALUE        64   /* bytes of a bad cell quoted in a reason */
#define INGEST_DEFAULT_BLOCK_MS   60000
#define INGEST_DESTROY_FLUSH_MS   5000
#define PACE_READ_INTERVAL_MS     200  /* re-read the pace group's lag this often while waiting */
#define PACE_PROBE_TIMEOUT_MS     5000 /* bound of one lag read */
#define PACE_LOG_INTERVAL_MS      5000 /* at most one "paced" line (and probe warning) per this */
#define PACE_POLL_MS              50   /* delivery-report slice while waiting */
/* Unconsumed batches tracked per partition (4 bytes each): beyond it a partition
 * counts as full whatever its bytes. With batches of at least ~100 bytes, only
 * a budget over ~100 MB could reach it. */
#define PACE_MAX_TRACKED (1u << 20)
/* Upper bound of the Avro encoding: a long is at most 10 bytes, a double 8. */
#define AVRO_MAX_VARINT 10

typedef struct key_state {
    char *key;
    size_t key_len;
    uint64_t hash;
    int32_t batch_seq;  /* batches of this key produced so far */
    int64_t rows_total; /* rows of this key in the load: produced + open */
    const char *source; /* source of the open batch (owned by ingest->sources) */
    size_t n;           /* rows in the open batch */
    size_t cap;         /* rows allocated */
    size_t max_rows;    /* the open batch is full at this many rows */
    int64_t *time_ms;
    int64_t *line;
    double *target;
    double **cols; /* n_exog arrays of cap values */
} key_state_t;

typedef struct column_map {
    size_t n_header;
    int key[MM_SPEC_MAX_KEY_COLUMNS];
    int time;
    int target; /* target.column or target.event_column */
    int exog[MM_MODEL_MAX_EXOG];
} column_map_t;

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

/* Pacing against a consumer group (ingest.h). */
typedef struct pace {
    mm_kafka_lag_probe_t *probe; /* NULL: no pacing */
    char *group;
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
} pace_t;

struct mm_ingest {
    const mm_spec_t *spec;
    char *bootstrap;
    char *topic_obs;
    char *topic_dl;
    int64_t batch_rows;
    int64_t batch_bytes;
    int64_t max_buffered_rows;
    int block_ms;
    volatile sig_atomic_t *stop;
    char load_id[128];
    mm_kafka_producer_t *producer;

    key_state_t **keys; /* in order of first appearance */
    size_t n_keys, keys_cap;
    uint32_t *table; /* index + 1 into keys; 0 = empty slot */
    size_t table_cap;

    char **sources;
    size_t n_sources;

    int64_t allocated_rows; /* sum of key caps */
    int64_t pressure_floor; /* allocation left after the last pressure flush */

    mm_buf_t enc;
    mm_obs_column_t *batch_columns;
    mm_csv_record_t *rec;

    pace_t pace;

    mm_ingest_stats_t stats;
    int64_t started_mono;
    char first_failure[512];
    mm_err_t fatal; /* a produce error: the load cannot continue */
    bool finished;
};

/* ------------------------------------------------------------ helpers */

static uint64_t fnv1a(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* A cell quoted for a reason: at most INGEST_SHOWN_VALUE bytes. */
static int shown_len(size_t len) {
    return (int)(len > INGEST_SHOWN_VALUE ? INGEST_SHOWN_VALUE : len);
}

static const char *shown_more(size_t len) {
    return len > INGEST_SHOWN_VALUE ? "..." : "";
}

void mm_ingest_default_load_id(const char *const *sources, size_t n_sources, int64_t start_ms,
                               char *out, size_t out_size) {
    mm_sha256_ctx_t *ctx = mm_sha256_new();
    char digest[MM_SHA256_HEX_LEN + 1] = "000000000000";
    if (ctx) {
        for (size_t i = 0; i < n_sources; i++) {
            mm_sha256_update(ctx, sources[i], strlen(sources[i]));
            mm_sha256_update(ctx, "\n", 1);
        }
        char when[32];
        int n = snprintf(when, sizeof(when), "%lld", (long long)start_ms);
        mm_sha256_update(ctx, when, (size_t)n);
        mm_sha256_final_hex(ctx, digest);
    }
    time_t secs = (time_t)(start_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, out_size, "%s-%.12s", stamp, digest);
}

/* ------------------------------------------------------------ delivery */

/* msg_opaque carries (rows << 1) | is_dead_letter, so a failure knows what it lost. */
static void *dr_tag(size_t rows, bool dead_letter) {
    return (void *)(((uintptr_t)rows << 1) | (dead_letter ? 1u : 0u));
}

static void ingest_dr(void *opaque, void *msg_opaque, mm_err_t err, const char *reason) {
    mm_ingest_t *ingest = opaque;
    uintptr_t tag = (uintptr_t)msg_opaque;
    if (!err) {
        ingest->stats.messages_delivered++;
        return;
    }
    ingest->stats.messages_failed++;
    ingest->stats.rows_failed += (int64_t)(tag >> 1);
    if (!ingest->first_failure[0])
        snprintf(ingest->first_failure, sizeof(ingest->first_failure), "%s",
                 reason ? reason : mm_err2str(err));
    if (ingest->stats.messages_failed <= INGEST_LOGGED_DEADLETTERS)
        mm_log_error("delivery_failed", "%s of %zu row(s) not delivered: %s",
                     (tag & 1) ? "dead letter" : "observation batch", (size_t)(tag >> 1),
                     reason ? reason : mm_err2str(err));
}

/* ------------------------------------------------------------ new / destroy */

static mm_err_t pace_init(mm_ingest_t *ingest, const mm_ingest_config_t *cfg, char *errstr,
                          size_t errstr_size) {
    pace_t *pace = &ingest->pace;
    pace->max_bytes = cfg->pace_max_bytes ? cfg->pace_max_bytes : MM_INGEST_DEFAULT_PACE_MAX_BYTES;
    pace->group = strdup(cfg->pace_group);
    if (!pace->group) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    char why[768];
    pace->probe = mm_kafka_lag_probe_new(cfg->bootstrap, cfg->kafka, pace->group, ingest->topic_obs,
                                         why, sizeof(why));
    if (!pace->probe)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "pacing against consumer group %s: %s (--pace-group \"\" turns pacing off)",
                       pace->group, why);
    pace->n_partitions = mm_kafka_lag_probe_partitions(pace->probe);
    pace->lag = calloc((size_t)pace->n_partitions, sizeof(*pace->lag));
    pace->partitions = calloc((size_t)pace->n_partitions, sizeof(*pace->partitions));
    if (!pace->lag || !pace->partitions)
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    return MM_OK;
}

mm_ingest_t *mm_ingest_new(const mm_ingest_config_t *cfg, char *errstr, size_t errstr_size) {
    if (!cfg || !cfg->spec || !cfg->bootstrap) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "ingest: spec and bootstrap required");
        return NULL;
    }
    if (cfg->batch_rows < 0 || cfg->batch_bytes < 0 || cfg->max_buffered_rows < 0 ||
        cfg->pace_max_bytes < 0) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "ingest: negative batch or pacing limits");
        return NULL;
    }
    if (mm_avro_init(errstr, errstr_size)) return NULL;
    mm_ingest_t *ingest = calloc(1, sizeof(*ingest));
    if (!ingest) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    ingest->started_mono = mm_mono_ms();
    ingest->spec = cfg->spec;
    ingest->batch_rows = cfg->batch_rows ? cfg->batch_rows : MM_INGEST_DEFAULT_BATCH_ROWS;
    ingest->batch_bytes = cfg->batch_bytes ? cfg->batch_bytes : MM_INGEST_DEFAULT_BATCH_BYTES;
    ingest->max_buffered_rows =
        cfg->max_buffered_rows ? cfg->max_buffered_rows : MM_INGEST_DEFAULT_MAX_BUFFERED_ROWS;
    ingest->block_ms = cfg->produce_block_ms > 0 ? cfg->produce_block_ms : INGEST_DEFAULT_BLOCK_MS;
    ingest->stop = cfg->stop;
    ingest->bootstrap = strdup(cfg->bootstrap);
    ingest->topic_obs =
        strdup(cfg->topic_observations ? cfg->topic_observations : MM_TOPIC_OBSERVATIONS);
    ingest->topic_dl = strdup(cfg->topic_deadletter ? cfg->topic_deadletter : MM_TOPIC_DEADLETTER);
    ingest->rec = malloc(sizeof(*ingest->rec));
    ingest->batch_columns = calloc(MM_MODEL_MAX_EXOG, sizeof(*ingest->batch_columns));
    ingest->table_cap = 1024;
    ingest->table = calloc(ingest->table_cap, sizeof(*ingest->table));
    mm_buf_init(&ingest->enc, MM_BUF_CAP_MESSAGE);
    if (!ingest->bootstrap || !ingest->topic_obs || !ingest->topic_dl || !ingest->rec ||
        !ingest->batch_columns || !ingest->table) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        mm_ingest_destroy(ingest);
        return NULL;
    }
    if (cfg->load_id && *cfg->load_id) {
        if (strlen(cfg->load_id) >= sizeof(ingest->load_id)) {
            mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "--load-id: longer than %zu bytes",
                    sizeof(ingest->load_id) - 1);
            mm_ingest_destroy(ingest);
            return NULL;
        }
        snprintf(ingest->load_id, sizeof(ingest->load_id), "%s", cfg->load_id);
    } else {
        mm_ingest_default_load_id(NULL, 0, mm_now_ms(), ingest->load_id, sizeof(ingest->load_id));
    }
    ingest->producer =
        mm_kafka_producer_new(cfg->bootstrap, cfg->kafka, ingest_dr, ingest, errstr, errstr_size);
    if (!ingest->producer) {
        mm_ingest_destroy(ingest);
        return NULL;
    }
    if (cfg->pace_group && *cfg->pace_group &&
        pace_init(ingest, cfg, errstr, errstr_size) != MM_OK) {
        mm_ingest_destroy(ingest);
        return NULL;
    }
    mm_logj(MM_LOG_INFO, "ingest_started",
            json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I}", "load_id", ingest->load_id, "dataset",
                      ingest->spec->name ? ingest->spec->name : "", "spec_hash", ingest->spec->hash,
                      "batch_rows", (json_int_t)ingest->batch_rows, "batch_bytes",
                      (json_int_t)ingest->batch_bytes, "pace_group",
                      ingest->pace.group ? ingest->pace.group : "", "pace_max_bytes",
                      (json_int_t)ingest->pace.max_bytes),
            "load %s started%s%s", ingest->load_id,
            ingest->pace.group ? ", paced by consumer group " : " (not paced)",
            ingest->pace.group ? ingest->pace.group : "");
    return ingest;
}

static void key_free(key_state_t *ks, size_t n_exog) {
    if (!ks) return;
    free(ks->key);
    free(ks->time_ms);
    free(ks->line);
    free(ks->target);
    if (ks->cols)
        for (size_t j = 0; j < n_exog; j++) free(ks->cols[j]);
    free(ks->cols);
    free(ks);
}

void mm_ingest_destroy(mm_ingest_t *ingest) {
    if (!ingest) return;
    mm_kafka_producer_destroy(ingest->producer, INGEST_DESTROY_FLUSH_MS);
    mm_kafka_lag_probe_destroy(ingest->pace.probe);
    free(ingest->pace.group);
    free(ingest->pace.lag);
    for (int32_t p = 0; ingest->pace.partitions && p < ingest->pace.n_partitions; p++)
        free(ingest->pace.partitions[p].sizes);
    free(ingest->pace.partitions);
    for (size_t i = 0; i < ingest->n_keys; i++)
        key_free(ingest->keys[i], ingest->spec->n_feature_columns);
    free(ingest->keys);
    free(ingest->table);
    for (size_t i = 0; i < ingest->n_sources; i++) free(ingest->sources[i]);
    free(ingest->sources);
    mm_buf_free(&ingest->enc);
    free(ingest->batch_columns);
    free(ingest->rec);
    free(ingest->bootstrap);
    free(ingest->topic_obs);
    free(ingest->topic_dl);
    free(ingest);
}

const char *mm_ingest_load_id(const mm_ingest_t *ingest) {
    return ingest ? ingest->load_id : "";
}

void mm_ingest_get_stats(const mm_ingest_t *ingest, mm_ingest_stats_t *stats) {
    *stats = ingest->stats;
    stats->keys = (int64_t)ingest->n_keys;
    stats->seconds = (double)(mm_mono_ms() - ingest->started_mono) / 1000.0;
    stats->paced_seconds = (double)ingest->pace.paced_ms / 1000.0;
}

/* ------------------------------------------------------------ producing */

/* Upper bound of the encoded bytes of a batch of @p ks with no rows. */
static size_t batch_overhead(const mm_ingest_t *ingest, const key_state_t *ks) {
    const mm_spec_t *spec = ingest->spec;
    size_t n = MM_WIRE_HEADER_LEN;
    const char *strings[] = {spec->name ? spec->name : "", spec->hash, ks->key, ingest->load_id,
                             ks->source ? ks->source : ""};
    for (size_t i = 0; i < MM_ARRAY_SIZE(strings); i++) n += AVRO_MAX_VARINT + strlen(strings[i]);
    n += 5 * AVRO_MAX_VARINT + 1; /* batch_seq, end_of_load, rows, batches, produced_at */
    /* array block headers and terminators: time, target, line, columns, each column */
    n += (4 + spec->n_feature_columns) * (AVRO_MAX_VARINT + 1);
    for (size_t j = 0; j < spec->n_feature_columns; j++)
        n += AVRO_MAX_VARINT + strlen(spec->feature_columns[j]);
    return n + 256; /* slack for an encoder that splits arrays into several blocks */
}

static size_t row_bytes(const mm_ingest_t *ingest) {
    return 2 * AVRO_MAX_VARINT + 8 + 8 * ingest->spec->n_feature_columns;
}

static size_t batch_max_rows(const mm_ingest_t *ingest, const key_state_t *ks) {
    size_t overhead = batch_overhead(ingest, ks);
    size_t by_bytes = (size_t)ingest->batch_bytes > overhead
                          ? ((size_t)ingest->batch_bytes - overhead) / row_bytes(ingest)
                          : 1;
    size_t rows = (size_t)ingest->batch_rows < by_bytes ? (size_t)ingest->batch_rows : by_bytes;
    return rows ? rows : 1;
}

/* Drop the first @p count rows of the open batch (they were produced). */
static void key_shift(mm_ingest_t *ingest, key_state_t *ks, size_t count) {
    size_t left = ks->n - count;
    if (left) {
        memmove(ks->time_ms, ks->time_ms + count, left * sizeof(*ks->time_ms));
        memmove(ks->line, ks->line + count, left * sizeof(*ks->line));
        memmove(ks->target, ks->target + count, left * sizeof(*ks->target));
        for (size_t j = 0; j < ingest->spec->n_feature_columns; j++)
            memmove(ks->cols[j], ks->cols[j] + count, left * sizeof(double));
    }
    ks->n = left;
}

/* ------------------------------------------------------------ pacing */

static mm_err_t paced_stop(mm_ingest_t *ingest, int32_t partition, char *errstr,
                           size_t errstr_size) {
    return mm_errf(MM_ERR_SHUTDOWN, errstr, errstr_size,
                   "interrupted while waiting for consumer group %s to consume partition %d of %s",
                   ingest->pace.group, (int)partition, ingest->topic_obs);
}

/* Estimated bytes of @p partition the pace group has not consumed yet. */
static int64_t pace_backlog(const pace_t *pace, int32_t partition, size_t next_bytes) {
    const pace_partition_t *pp = &pace->partitions[partition];
    int64_t average = pace->batches ? pace->bytes / pace->batches : (int64_t)next_bytes;
    return pp->bytes + pp->others * average;
}

static bool pace_track(pace_partition_t *pp, size_t bytes) {
    if (pp->n == pp->cap) {
        size_t cap = pp->cap ? pp->cap * 2 : 256;
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
static mm_err_t pace_read(mm_ingest_t *ingest, int32_t partition, char *errstr,
                          size_t errstr_size) {
    pace_t *pace = &ingest->pace;
    while (mm_kafka_producer_flush(ingest->producer, PACE_POLL_MS) == MM_ERR_TIMEOUT)
        if (ingest->stop && *ingest->stop)
            return paced_stop(ingest, partition, errstr, errstr_size);
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

/*
 * Wait until @p bytes more for the partition of @p ks keep that partition's
 * estimated backlog within the budget (or the partition is drained: a batch
 * larger than the budget still goes out then), then account for them.
 * @returns MM_OK; MM_ERR_SHUTDOWN when the stop flag was raised meanwhile;
 * MM_ERR_NOMEM.
 */
static mm_err_t pace_wait(mm_ingest_t *ingest, const key_state_t *ks, size_t bytes, char *errstr,
                          size_t errstr_size) {
    pace_t *pace = &ingest->pace;
    if (!pace->probe) return MM_OK;
    int32_t partition = mm_kafka_partition_for_key(ks->key, ks->key_len, pace->n_partitions);
    int64_t waiting_since = 0;
    mm_err_t err = MM_OK;
    pace_partition_t *pp = &pace->partitions[partition];
    for (;;) {
        if (pace->have_reading && pp->n < PACE_MAX_TRACKED) {
            int64_t backlog = pace_backlog(pace, partition, bytes);
            if (backlog == 0 || backlog + (int64_t)bytes <= pace->max_bytes) break;
        }
        if (ingest->stop && *ingest->stop) {
            err = paced_stop(ingest, partition, errstr, errstr_size);
            break;
        }
        int64_t now = mm_mono_ms();
        if (!pace->have_reading || now - pace->read_mono >= PACE_READ_INTERVAL_MS) {
            err = pace_read(ingest, partition, errstr, errstr_size);
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
                              ingest->topic_obs, "partition", (int)partition, "backlog_bytes",
                              (json_int_t)backlog, "backlog_batches",
                              (json_int_t)((int64_t)pp->n + pp->others), "max_bytes",
                              (json_int_t)pace->max_bytes, "paced_ms",
                              (json_int_t)(pace->paced_ms + now - waiting_since)),
                    "waiting for consumer group %s: partition %d of %s holds ~%lld unconsumed "
                    "bytes (budget %lld)",
                    pace->group, (int)partition, ingest->topic_obs, (long long)backlog,
                    (long long)pace->max_bytes);
        }
        int64_t slice = PACE_READ_INTERVAL_MS - (now - pace->read_mono);
        if (slice > PACE_POLL_MS) slice = PACE_POLL_MS;
        if (slice < 1) slice = 1;
        mm_kafka_producer_poll(ingest->producer, (int)slice);
    }
    if (waiting_since) pace->paced_ms += mm_mono_ms() - waiting_since;
    if (err) return err;
    if (!pace_track(pp, bytes))
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory (pacing)");
    pace->bytes += (int64_t)bytes;
    pace->batches++;
    return MM_OK;
}

/* ------------------------------------------------------------ producing batches */

/*
 * Produce the first @p count rows of @p ks's open batch. @p final flags it
 * end_of_load (only ever with count == ks->n). A batch whose encoding turns
 * out larger than batch_bytes is split in two. MM_ERR_SHUTDOWN (stopped while
 * paced) leaves the rows with the key and the load able to finish unflagged.
 */
static mm_err_t produce_rows(mm_ingest_t *ingest, key_state_t *ks, size_t count, bool final,
                             char *errstr, size_t errstr_size) {
    if (ingest->fatal)
        return mm_errf(ingest->fatal, errstr, errstr_size, "load already failed: %s",
                       ingest->first_failure);
    const mm_spec_t *spec = ingest->spec;
    mm_observation_batch_t batch;
    memset(&batch, 0, sizeof(batch));
    batch.dataset = spec->name;
    batch.spec_hash = spec->hash;
    batch.partition_key = ks->key;
    batch.load_id = ingest->load_id;
    batch.source = ks->source ? ks->source : "-";
    batch.batch_seq = ks->batch_seq;
    batch.end_of_load = final;
    batch.load_rows_for_key = final ? ks->rows_total : -1;
    batch.load_batches_for_key = final ? ks->batch_seq + 1 : -1;
    batch.n_rows = count;
    batch.time_ms = ks->time_ms;
    batch.target = ks->target;
    batch.line = ks->line;
    batch.n_columns = spec->n_feature_columns;
    for (size_t j = 0; j < spec->n_feature_columns; j++) {
        ingest->batch_columns[j].name = spec->feature_columns[j];
        ingest->batch_columns[j].values = ks->cols[j];
    }
    batch.columns = ingest->batch_columns;
    batch.produced_at_ms = mm_now_ms();

    mm_buf_reset(&ingest->enc);
    mm_err_t err = mm_avro_encode_observation_batch(&batch, &ingest->enc, errstr, errstr_size);
    if (err) {
        ingest->fatal = err;
        return err;
    }
    if (ingest->enc.len > (size_t)ingest->batch_bytes && count > 1) {
        size_t half = count / 2;
        err = produce_rows(ingest, ks, half, false, errstr, errstr_size);
        if (!err) err = produce_rows(ingest, ks, count - half, final, errstr, errstr_size);
        return err;
    }
    err = pace_wait(ingest, ks, ingest->enc.len, errstr, errstr_size);
    if (err) {
        if (err != MM_ERR_SHUTDOWN) ingest->fatal = err;
        return err;
    }
    err = mm_kafka_produce(ingest->producer, ingest->topic_obs, ks->key, ks->key_len,
                           ingest->enc.data, ingest->enc.len, dr_tag(count, false),
                           ingest->block_ms, errstr, errstr_size);
    if (err) {
        ingest->fatal = err;
        snprintf(ingest->first_failure, sizeof(ingest->first_failure), "%s", errstr);
        return err;
    }
    ingest->stats.batches++;
    if (final) ingest->stats.end_of_load_batches++;
    ingest->stats.rows_emitted += (int64_t)count;
    ingest->stats.rows_buffered -= (int64_t)count;
    ks->batch_seq++;
    key_shift(ingest, ks, count);
    mm_kafka_producer_poll(ingest->producer, 0);
    return MM_OK;
}

static mm_err_t produce_dead_letter(mm_ingest_t *ingest, const char *source, int64_t line,
                                    const char *partition_key, mm_err_t code, const char *reason,
                                    const char *raw, size_t raw_len, char *errstr,
                                    size_t errstr_size) {
    if (ingest->fatal)
        return mm_errf(ingest->fatal, errstr, errstr_size, "load already failed: %s",
                       ingest->first_failure);
    mm_service_dead_letter_source_t from = {.file = source, .line = line};
    size_t original_len =
        raw_len > MM_INGEST_MAX_ORIGINAL_BYTES ? MM_INGEST_MAX_ORIGINAL_BYTES : raw_len;
    mm_buf_reset(&ingest->enc);
    mm_err_t err =
        mm_service_dead_letter_encode(MM_INGEST_SERVICE, &from, partition_key, raw, original_len,
                                      code, reason, &ingest->enc, errstr, errstr_size);
    if (err) {
        ingest->fatal = err;
        return err;
    }
    err = mm_kafka_produce(ingest->producer, ingest->topic_dl, partition_key,
                           partition_key ? strlen(partition_key) : 0, ingest->enc.data,
                           ingest->enc.len, dr_tag(1, true), ingest->block_ms, errstr, errstr_size);
    if (err) {
        ingest->fatal = err;
        snprintf(ingest->first_failure, sizeof(ingest->first_failure), "%s", errstr);
        return err;
    }
    ingest->stats.rows_deadlettered++;
    if (ingest->stats.rows_deadlettered <= INGEST_LOGGED_DEADLETTERS)
        mm_logj(MM_LOG_WARN, "row_deadlettered",
                json_pack("{s:s, s:I, s:s}", "file", source, "line", (json_int_t)line, "reason",
                          reason),
                "%s:%lld: %s", source, (long long)line, reason);
    else if (ingest->stats.rows_deadlettered == INGEST_LOGGED_DEADLETTERS + 1)
        mm_log_warn("row_deadlettered", "more dead-lettered rows: counted in the summary only");
    return MM_OK;
}

/* ------------------------------------------------------------ keys */

static mm_err_t table_grow(mm_ingest_t *ingest) {
    size_t cap = ingest->table_cap * 2;
    uint32_t *table = calloc(cap, sizeof(*table));
    if (!table) return MM_ERR_NOMEM;
    for (size_t i = 0; i < ingest->n_keys; i++) {
        size_t slot = (size_t)ingest->keys[i]->hash & (cap - 1);
        while (table[slot]) slot = (slot + 1) & (cap - 1);
        table[slot] = (uint32_t)(i + 1);
    }
    free(ingest->table);
    ingest->table = table;
    ingest->table_cap = cap;
    return MM_OK;
}

static key_state_t *key_lookup(mm_ingest_t *ingest, const char *key, size_t key_len) {
    uint64_t hash = fnv1a(key, key_len);
    size_t mask = ingest->table_cap - 1;
    size_t slot = (size_t)hash & mask;
    while (ingest->table[slot]) {
        key_state_t *ks = ingest->keys[ingest->table[slot] - 1];
        if (ks->hash == hash && ks->key_len == key_len && memcmp(ks->key, key, key_len) == 0)
            return ks;
        slot = (slot + 1) & mask;
    }
    if ((ingest->n_keys + 1) * 2 > ingest->table_cap || ingest->n_keys >= UINT32_MAX - 1) {
        if (ingest->n_keys >= UINT32_MAX - 1 || table_grow(ingest)) return NULL;
        return key_lookup(ingest, key, key_len); /* find the free slot in the new table */
    }
    if (ingest->n_keys == ingest->keys_cap) {
        size_t cap = ingest->keys_cap ? ingest->keys_cap * 2 : 256;
        key_state_t **keys = realloc(ingest->keys, cap * sizeof(*keys));
        if (!keys) return NULL;
        ingest->keys = keys;
        ingest->keys_cap = cap;
    }
    key_state_t *ks = calloc(1, sizeof(*ks));
    if (!ks) return NULL;
    ks->key = mm_strndup(key, key_len);
    size_t n_exog = ingest->spec->n_feature_columns;
    ks->cols = n_exog ? calloc(n_exog, sizeof(*ks->cols)) : NULL;
    if (!ks->key || (n_exog && !ks->cols)) {
        key_free(ks, n_exog);
        return NULL;
    }
    ks->key_len = key_len;
    ks->hash = hash;
    ingest->keys[ingest->n_keys++] = ks;
    ingest->table[slot] = (uint32_t)ingest->n_keys;
    return ks;
}

static bool key_resize(mm_ingest_t *ingest, key_state_t *ks, size_t cap) {
    int64_t *t = realloc(ks->time_ms, cap * sizeof(*t));
    if (t) ks->time_ms = t;
    int64_t *l = realloc(ks->line, cap * sizeof(*l));
    if (l) ks->line = l;
    double *y = realloc(ks->target, cap * sizeof(*y));
    if (y) ks->target = y;
    bool ok = t && l && y;
    for (size_t j = 0; j < ingest->spec->n_feature_columns; j++) {
        double *c = realloc(ks->cols[j], cap * sizeof(*c));
        if (c)
            ks->cols[j] = c;
        else
            ok = false;
    }
    if (!ok) return false; /* arrays that grew are fine to keep: cap stays the old size */
    ingest->allocated_rows += (int64_t)cap - (int64_t)ks->cap;
    ks->cap = cap;
    return true;
}

/*
 * Too many rows held across keys: produce every open batch except its newest
 * row (so each key's end-of-load batch still has a row), and shrink.
 */
static mm_err_t relieve_pressure(mm_ingest_t *ingest, char *errstr, size_t errstr_size) {
    int64_t before = ingest->stats.rows_buffered;
    for (size_t i = 0; i < ingest->n_keys; i++) {
        key_state_t *ks = ingest->keys[i];
        if (ks->n >= 2) {
            mm_err_t err = produce_rows(ingest, ks, ks->n - 1, false, errstr, errstr_size);
            if (err) return err;
        }
        if (ks->cap > INGEST_SHRUNK_ROWS) key_resize(ingest, ks, INGEST_SHRUNK_ROWS);
    }
    ingest->pressure_floor = ingest->allocated_rows;
    mm_log_debug("memory_pressure", "produced %lld held rows early across %zu keys",
                 (long long)(before - ingest->stats.rows_buffered), ingest->n_keys);
    return MM_OK;
}

/* ------------------------------------------------------------ rows */

static mm_err_t map_columns(const mm_spec_t *spec, const mm_csv_record_t *header,
                            const char *source, column_map_t *map, char *errstr,
                            size_t errstr_size) {
    map->n_header = header->n_fields;
    struct {
        const char *name;
        const char *role;
        int *slot;
    } wanted[MM_SPEC_MAX_KEY_COLUMNS + MM_MODEL_MAX_EXOG + 2];
    char roles[MM_SPEC_MAX_KEY_COLUMNS + MM_MODEL_MAX_EXOG + 2][48];
    size_t n = 0;
    for (size_t i = 0; i < spec->n_key_columns; i++) {
        snprintf(roles[n], sizeof(roles[n]), "key[%zu]", i);
        wanted[n].name = spec->key_columns[i];
        wanted[n].role = roles[n];
        wanted[n].slot = &map->key[i];
        n++;
    }
    wanted[n].name = spec->time_column;
    wanted[n].role = "time.column";
    wanted[n].slot = &map->time;
    n++;
    wanted[n].name = spec->event_column ? spec->event_column : spec->target_column;
    wanted[n].role = spec->event_column ? "target.event_column" : "target.column";
    wanted[n].slot = &map->target;
    n++;
    for (size_t j = 0; j < spec->n_feature_columns; j++) {
        snprintf(roles[n], sizeof(roles[n]), "features.exogenous[%zu]", j);
        wanted[n].name = spec->feature_columns[j];
        wanted[n].role = roles[n];
        wanted[n].slot = &map->exog[j];
        n++;
    }
    for (size_t w = 0; w < n; w++) {
        if (!wanted[w].name)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: spec has no %s", source,
                           wanted[w].role);
        int found = -1;
        for (size_t c = 0; c < header->n_fields; c++) {
            if (strcmp(header->fields[c], wanted[w].name) != 0) continue;
            if (found >= 0)
                return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                               "%s:%lld: column \"%s\" appears twice in the header (columns %d "
                               "and %zu)",
                               source, (long long)header->line, wanted[w].name, found + 1, c + 1);
            found = (int)c;
        }
        if (found < 0)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                           "%s:%lld: missing column \"%s\" (%s in spec \"%s\")", source,
                           (long long)header->line, wanted[w].name, wanted[w].role,
                           spec->name ? spec->name : "");
        *wanted[w].slot = found;
    }
    return MM_OK;
}

/* Validate and convert one record; on a bad row fill @p reason and return false. */
static bool convert_row(const mm_ingest_t *ingest, const column_map_t *map,
                        const mm_csv_record_t *rec, char *key, size_t key_size, bool *key_ok,
                        int64_t *time_ms, double *target, double *exog, char *reason,
                        size_t reason_size) {
    const mm_spec_t *spec = ingest->spec;
    *key_ok = false;
    if (rec->n_fields != map->n_header) {
        snprintf(reason, reason_size, "wrong column count: %zu fields, the header has %zu",
                 rec->n_fields, map->n_header);
        return false;
    }
    const char *values[MM_SPEC_MAX_KEY_COLUMNS];
    size_t lens[MM_SPEC_MAX_KEY_COLUMNS];
    for (size_t i = 0; i < spec->n_key_columns; i++) {
        values[i] = rec->fields[map->key[i]];
        lens[i] = rec->lens[map->key[i]];
        if (lens[i] == 0) {
            snprintf(reason, reason_size, "empty key column \"%s\"", spec->key_columns[i]);
            return false;
        }
    }
    mm_err_t err = mm_spec_partition_key(spec, values, lens, key, key_size);
    if (err) {
        snprintf(reason, reason_size, "partition key longer than %zu bytes", key_size - 1);
        return false;
    }
    *key_ok = true;

    const char *cell = rec->fields[map->time];
    size_t len = rec->lens[map->time];
    if (!mm_spec_parse_time(spec, cell, len, time_ms)) {
        snprintf(reason, reason_size, "unparsable time in column \"%s\": \"%.*s%s\" (format %s)",
                 spec->time_column, shown_len(len), cell, shown_more(len), spec->time_format);
        return false;
    }
    cell = rec->fields[map->target];
    len = rec->lens[map->target];
    if (spec->event_column) {
        *target = mm_spec_event_value(cell, len);
    } else if (!mm_spec_parse_number(cell, len, target)) {
        snprintf(reason, reason_size, "unparsable number in column \"%s\": \"%.*s%s\"",
                 spec->target_column, shown_len(len), cell, shown_more(len));
        return false;
    } else if (spec->task == MM_TASK_CLASSIFY && !isnan(*target) && *target != 0 && *target != 1) {
        snprintf(reason, reason_size, "label column \"%s\" must be 0 or 1: \"%.*s%s\"",
                 spec->target_column, shown_len(len), cell, shown_more(len));
        return false;
    }
    for (size_t j = 0; j < spec->n_feature_columns; j++) {
        cell = rec->fields[map->exog[j]];
        len = rec->lens[map->exog[j]];
        if (!mm_spec_parse_number(cell, len, &exog[j])) {
            snprintf(reason, reason_size, "unparsable number in column \"%s\": \"%.*s%s\"",
                     spec->feature_columns[j], shown_len(len), cell, shown_more(len));
            return false;
        }
    }
    return true;
}

static mm_err_t append_row(mm_ingest_t *ingest, const char *source, const char *key, size_t key_len,
                           int64_t line, int64_t time_ms, double target, const double *exog,
                           char *errstr, size_t errstr_size) {
    key_state_t *ks = key_lookup(ingest, key, key_len);
    if (!ks) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory (key table)");
    mm_err_t err;
    /* A held-back full batch, or one from another source, goes out now: this row follows it. */
    if (ks->n > 0 && (ks->n >= ks->max_rows || ks->source != source)) {
        err = produce_rows(ingest, ks, ks->n, false, errstr, errstr_size);
        if (err) {
            /* Stopped while paced: this row was read and is not sent (counted so). */
            if (err == MM_ERR_SHUTDOWN) ingest->stats.rows_buffered++;
            return err;
        }
    }
    if (ks->n == 0) {
        ks->source = source;
        ks->max_rows = batch_max_rows(ingest, ks);
    }
    if (ks->n == ks->cap) {
        size_t cap = ks->cap ? ks->cap * 2 : INGEST_MIN_ROWS_ALLOC;
        if (cap > ks->max_rows) cap = ks->max_rows;
        if (cap <= ks->n) cap = ks->n + 1;
        if (!key_resize(ingest, ks, cap))
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory (batch of %s)",
                           ks->key);
    }
    size_t i = ks->n++;
    ks->time_ms[i] = time_ms;
    ks->line[i] = line;
    ks->target[i] = target;
    for (size_t j = 0; j < ingest->spec->n_feature_columns; j++) ks->cols[j][i] = exog[j];
    ks->rows_total++;
    ingest->stats.rows_buffered++;

    int64_t limit = ingest->max_buffered_rows;
    if (limit < 2 * ingest->pressure_floor) limit = 2 * ingest->pressure_floor;
    if (ingest->allocated_rows > limit) return relieve_pressure(ingest, errstr, errstr_size);
    return MM_OK;
}

/* Record reason without the "source:line: " prefix the CSV reader puts first. */
static const char *csv_reason(const char *errstr, const char *source, int64_t line) {
    char prefix[64];
    int n = snprintf(prefix, sizeof(prefix), ":%lld: ", (long long)line);
    size_t slen = strlen(source);
    if (strncmp(errstr, source, slen) == 0 && strncmp(errstr + slen, prefix, (size_t)n) == 0)
        return errstr + slen + (size_t)n;
    return errstr;
}

static const char *intern_source(mm_ingest_t *ingest, const char *source) {
    for (size_t i = 0; i < ingest->n_sources; i++)
        if (strcmp(ingest->sources[i], source) == 0) return ingest->sources[i];
    char **sources = realloc(ingest->sources, (ingest->n_sources + 1) * sizeof(*sources));
    if (!sources) return NULL;
    ingest->sources = sources;
    char *copy = strdup(source);
    if (!copy) return NULL;
    ingest->sources[ingest->n_sources++] = copy;
    return copy;
}

mm_err_t mm_ingest_stream(mm_ingest_t *ingest, FILE *file, const char *source, char *errstr,
                          size_t errstr_size) {
    if (!ingest || !file || !source)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "ingest: NULL argument");
    if (ingest->finished)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "ingest: load already finished");
    if (ingest->fatal)
        return mm_errf(ingest->fatal, errstr, errstr_size, "load already failed: %s",
                       ingest->first_failure);
    const char *src = intern_source(ingest, source);
    if (!src) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    mm_csv_reader_t *reader = mm_csv_reader_new(file, src);
    if (!reader) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    ingest->stats.files++;

    mm_csv_record_t *rec = ingest->rec;
    column_map_t map;
    char csv_err[512];
    mm_err_t err = mm_csv_next(reader, rec, csv_err, sizeof(csv_err));
    if (err == MM_ERR_NOT_FOUND) {
        mm_log_warn("empty_source", "%s: no header row: nothing to read", src);
        mm_csv_reader_destroy(reader);
        return MM_OK;
    }
    if (err) {
        mm_csv_reader_destroy(reader);
        return mm_errf(err == MM_ERR_IO ? MM_ERR_IO : MM_ERR_CONFIG, errstr, errstr_size,
                       "header: %s", csv_err);
    }
    err = map_columns(ingest->spec, rec, src, &map, errstr, errstr_size);
    if (err) {
        mm_csv_reader_destroy(reader);
        return err;
    }

    double exog[MM_MODEL_MAX_EXOG];
    char key[MM_INGEST_MAX_KEY_BYTES + 1];
    char reason[512];
    int64_t since_check = 0;
    for (;;) {
        if (++since_check >= INGEST_STOP_CHECK_ROWS) {
            since_check = 0;
            mm_kafka_producer_poll(ingest->producer, 0);
            if (ingest->stop && *ingest->stop) {
                err = mm_errf(MM_ERR_SHUTDOWN, errstr, errstr_size,
                              "%s: interrupted after %lld lines", src,
                              (long long)mm_csv_lines(reader));
                break;
            }
        }
        err = mm_csv_next(reader, rec, csv_err, sizeof(csv_err));
        if (err == MM_ERR_NOT_FOUND) {
            err = MM_OK;
            break;
        }
        if (err == MM_ERR_IO) {
            /* A signal interrupts a blocking read of stdin: that is a stop, not an I/O error. */
            if (ingest->stop && *ingest->stop)
                err = mm_errf(MM_ERR_SHUTDOWN, errstr, errstr_size, "%s: interrupted", src);
            else
                mm_errf(MM_ERR_IO, errstr, errstr_size, "%s", csv_err);
            break;
        }
        ingest->stats.rows_read++;
        if (err == MM_ERR_PARSE) {
            err = produce_dead_letter(ingest, src, rec->line, NULL, MM_ERR_PARSE,
                                      csv_reason(csv_err, src, rec->line), rec->raw, rec->raw_len,
                                      errstr, errstr_size);
            if (err) break;
            continue;
        }
        if (err) {
            mm_errf(err, errstr, errstr_size, "%s", csv_err);
            break;
        }
        bool key_ok;
        int64_t time_ms = 0;
        double target = NAN;
        if (!convert_row(ingest, &map, rec, key, sizeof(key), &key_ok, &time_ms, &target, exog,
                         reason, sizeof(reason))) {
            err = produce_dead_letter(ingest, src, rec->line, key_ok ? key : NULL, MM_ERR_PARSE,
                                      reason, rec->raw, rec->raw_len, errstr, errstr_size);
            if (err) break;
            continue;
        }
        err = append_row(ingest, src, key, strlen(key), rec->line, time_ms, target, exog, errstr,
                         errstr_size);
        if (err) break;
    }
    mm_csv_reader_destroy(reader);
    return err;
}

mm_err_t mm_ingest_file(mm_ingest_t *ingest, const char *path, char *errstr, size_t errstr_size) {
    if (!ingest || !path)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "ingest: NULL argument");
    if (strcmp(path, "-") == 0) return mm_ingest_stream(ingest, stdin, "-", errstr, errstr_size);
    FILE *file = fopen(path, "rb");
    if (!file) return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
    mm_err_t err = mm_ingest_stream(ingest, file, path, errstr, errstr_size);
    fclose(file);
    return err;
}

/* ------------------------------------------------------------ finish */

mm_err_t mm_ingest_finish(mm_ingest_t *ingest, bool complete, int flush_timeout_ms, char *errstr,
                          size_t errstr_size) {
    if (!ingest) return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "ingest: NULL argument");
    if (ingest->finished)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "ingest: load already finished");
    ingest->finished = true;
    mm_err_t err = MM_OK;
    if (!ingest->fatal) {
        for (size_t i = 0; i < ingest->n_keys && !err; i++) {
            key_state_t *ks = ingest->keys[i];
            if (ks->n > 0) err = produce_rows(ingest, ks, ks->n, complete, errstr, errstr_size);
        }
    } else {
        complete = false;
    }
    /* Wait for every delivery report, even after a failure: the counts must be final. */
    mm_err_t flush_err = mm_kafka_producer_flush(ingest->producer, flush_timeout_ms);
    if (err) return err;
    if (ingest->fatal)
        return mm_errf(ingest->fatal, errstr, errstr_size, "load failed: %s",
                       ingest->first_failure);
    if (ingest->stats.messages_failed > 0)
        return mm_errf(MM_ERR_KAFKA, errstr, errstr_size,
                       "%lld message(s) with %lld row(s) not delivered; first: %s",
                       (long long)ingest->stats.messages_failed,
                       (long long)ingest->stats.rows_failed, ingest->first_failure);
    if (flush_err)
        return mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size,
                       "%d message(s) still unacknowledged after %d ms",
                       mm_kafka_producer_outq_len(ingest->producer), flush_timeout_ms);
    return MM_OK;
}

int mm_ingest_exit_status(mm_err_t err, const mm_ingest_stats_t *stats) {
    /* Lost messages outrank an interruption: they need an operator's attention. */
    if ((stats && stats->messages_failed > 0) || err == MM_ERR_TIMEOUT)
        return MM_INGEST_EXIT_DELIVERY;
    if (err == MM_ERR_SHUTDOWN) return MM_INGEST_EXIT_INTERRUPTED;
    if (err) return MM_INGEST_EXIT_FATAL;
    if (stats && stats->rows_deadlettered > 0) return MM_INGEST_EXIT_DEADLETTERS;
    return MM_INGEST_EXIT_OK;
}

void mm_ingest_summary(const mm_ingest_t *ingest, FILE *human) {
    if (!ingest) return;
    mm_ingest_stats_t s;
    mm_ingest_get_stats(ingest, &s);
    mm_logj(
        MM_LOG_INFO, "ingest_summary",
        json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "load_id",
                  ingest->load_id, "dataset", ingest->spec->name ? ingest->spec->name : "", "files",
                  (json_int_t)s.files, "rows_read", (json_int_t)s.rows_read, "rows_emitted",
                  (json_int_t)s.rows_emitted, "rows_deadlettered", (json_int_t)s.rows_deadlettered,
                  "rows_unsent", (json_int_t)s.rows_buffered, "keys", (json_int_t)s.keys, "batches",
                  (json_int_t)s.batches, "messages_failed", (json_int_t)s.messages_failed,
                  "rows_failed", (json_int_t)s.rows_failed, "duration_ms",
                  (json_int_t)(s.seconds * 1000), "paced_ms", (json_int_t)ingest->pace.paced_ms),
        "load %s: %lld rows read, %lld emitted, %lld dead-lettered", ingest->load_id,
        (long long)s.rows_read, (long long)s.rows_emitted, (long long)s.rows_deadlettered);
    if (!human) return;
    fprintf(human,
            "mm-ingest: load %s: %lld rows read, %lld emitted, %lld dead-lettered, %lld keys, "
            "%lld batches, %.2f s",
            ingest->load_id, (long long)s.rows_read, (long long)s.rows_emitted,
            (long long)s.rows_deadlettered, (long long)s.keys, (long long)s.batches, s.seconds);
    if (ingest->pace.paced_ms > 0)
        fprintf(human, " (%.2f s waiting for consumer group %s)", s.paced_seconds,
                ingest->pace.group);
    if (s.rows_buffered > 0) fprintf(human, ", %lld rows not sent", (long long)s.rows_buffered);
    if (s.messages_failed > 0)
        fprintf(human, ", %lld messages NOT DELIVERED (%lld rows)", (long long)s.messages_failed,
                (long long)s.rows_failed);
    fputc('\n', human);
    fflush(human);
}
