/*
 * ingest.c - mm-ingest's load: set-up, the read loop over CSV sources,
 * finish, and the summary (see ingest.h for the batching and counting
 * contract; ingest_int.h for how the other files of services/ingest/ share
 * the work).
 *
 * Workload: tens of millions of short rows per load spread over up to tens
 * of thousands of keys, in any order (series-major exports or date-major
 * appends). Per row: one CSV record (no allocation), one partition key built
 * on the stack, one key-table lookup, and a few stores into the key's
 * columnar arrays; encoding and producing happen once per batch of
 * thousands of rows. Memory is bounded by max_buffered_rows across keys.
 */
#include "ingest.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ingest_int.h"
#include "load_metrics.h"
#include "mm/avro.h"
#include "mm/log.h"
#include "mm/sha256.h"
#include "mm/util.h"

#define INGEST_STOP_CHECK_ROWS  1024 /* rows between checks of the stop flag / delivery reports */
#define INGEST_DEFAULT_BLOCK_MS 60000
#define INGEST_DESTROY_FLUSH_MS 5000
#define INGEST_LOAD_ID_DIGEST   12 /* hex digits of the sources' digest in a default load id */
/* What a broker adds to a record's key and value in a record batch of one: the batch header
 * (61 bytes), the record's own header (varints, at most ~40) and lz4's frame (~30), rounded up. */
#define INGEST_BATCH_FRAMING_BYTES   256
#define INGEST_MIN_MESSAGE_MAX_BYTES 1000 /* librdkafka's lowest message.max.bytes */

/* ------------------------------------------------------------ load id */

void mm_ingest_default_load_id(const char *const *sources, size_t n_sources, int64_t start_ms,
                               char *out, size_t out_size) {
    mm_sha256_ctx_t *ctx = mm_sha256_new();
    char digest[MM_SHA256_HEX_LEN + 1] = "000000000000"; /* INGEST_LOAD_ID_DIGEST zeros */
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
    snprintf(out, out_size, "%s-%.*s", stamp, INGEST_LOAD_ID_DIGEST, digest);
}

/* ------------------------------------------------------------ new / destroy */

/*
 * The message limit of the observations topic itself: its max.message.bytes
 * (set on the topic, else the broker's message.max.bytes), as the cluster
 * describes it. @returns 0 when unknown: a broker that describes no configs
 * (mm-devbroker), a topic not created yet, or a request that failed (logged).
 */
static int64_t topic_message_limit(const mm_ingest_config_t *cfg, const char *topic) {
    char errstr[512];
    mm_kafka_topic_info_t info;
    if (mm_kafka_topic_describe(cfg->bootstrap, cfg->kafka, topic, &info, errstr, sizeof(errstr))) {
        mm_log_warn("topic_limit_unknown",
                    "%s: its message limit could not be read (%s); records are sized to the "
                    "producer's message.max.bytes",
                    topic, errstr);
        return 0;
    }
    const char *value =
        info.configs_known ? mm_kv_list_get(&info.configs, "max.message.bytes") : NULL;
    int64_t limit = 0;
    if (!value || !mm_parse_i64(value, &limit) || limit <= 0) limit = 0;
    mm_kafka_topic_info_clear(&info);
    return limit;
}

/*
 * A topic limit below the producer's message.max.bytes: the broker refuses
 * every record batch over it (MSG_SIZE_TOO_LARGE), one oversized record or
 * several small ones that librdkafka batched together. Replace the producer
 * (nothing was sent with it yet) by one whose message.max.bytes and
 * batch.size are the topic's limit, and size records to the limit less the
 * broker's framing of a batch of one.
 */
static mm_err_t fit_topic_limit(mm_ingest_t *ingest, const mm_ingest_config_t *cfg,
                                int64_t topic_limit, char *errstr, size_t errstr_size) {
    int64_t producer_limit = mm_kafka_producer_max_message_bytes(ingest->producer);
    if (topic_limit <= 0 || topic_limit >= producer_limit) return MM_OK;
    mm_kv_list_t props = {0};
    char value[32];
    mm_err_t err = MM_OK;
    for (size_t i = 0; cfg->kafka && i < cfg->kafka->n && !err; i++)
        if (cfg->kafka->items[i].key && cfg->kafka->items[i].value)
            err = mm_kv_list_set(&props, cfg->kafka->items[i].key, cfg->kafka->items[i].value);
    snprintf(value, sizeof(value), "%lld",
             (long long)(topic_limit > INGEST_MIN_MESSAGE_MAX_BYTES
                             ? topic_limit
                             : INGEST_MIN_MESSAGE_MAX_BYTES));
    if (!err) err = mm_kv_list_set(&props, "message.max.bytes", value);
    int64_t batch_size = 0;
    const char *given = mm_kv_list_get(&props, "batch.size");
    if (!given || !mm_parse_i64(given, &batch_size) || batch_size <= 0 ||
        batch_size > topic_limit) {
        snprintf(value, sizeof(value), "%lld", (long long)topic_limit);
        if (!err) err = mm_kv_list_set(&props, "batch.size", value);
    }
    if (err) {
        mm_kv_list_free(&props);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    mm_kafka_producer_destroy(ingest->producer, 0);
    ingest->producer = mm_kafka_producer_new(cfg->bootstrap, &props, mm_ingest__delivered, ingest,
                                             errstr, errstr_size);
    mm_kv_list_free(&props);
    if (!ingest->producer) return MM_ERR_KAFKA;
    int64_t record_limit = topic_limit > 2 * INGEST_BATCH_FRAMING_BYTES
                               ? topic_limit - INGEST_BATCH_FRAMING_BYTES
                               : topic_limit / 2;
    if (!ingest->max_message_bytes || record_limit < ingest->max_message_bytes)
        ingest->max_message_bytes = record_limit;
    mm_logj(MM_LOG_WARN, "message_limit_from_topic",
            json_pack("{s:s, s:I, s:I, s:I}", "topic", ingest->topic_obs, "topic_limit",
                      (json_int_t)topic_limit, "producer_limit", (json_int_t)producer_limit,
                      "record_limit", (json_int_t)ingest->max_message_bytes),
            "%s takes records of at most %lld bytes (max.message.bytes), below the producer's "
            "message.max.bytes of %lld: batches are sized to %lld bytes (key included)",
            ingest->topic_obs, (long long)topic_limit, (long long)producer_limit,
            (long long)ingest->max_message_bytes);
    return MM_OK;
}

/* Where records go: the sink, or a Kafka producer (and the pacer, when a pace group is set). */
static mm_err_t output_init(mm_ingest_t *ingest, const mm_ingest_config_t *cfg, char *errstr,
                            size_t errstr_size) {
    if (cfg->sink) {
        if (cfg->pace_group && *cfg->pace_group)
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "ingest: pacing needs a Kafka producer, not a sink");
        ingest->sink = cfg->sink;
        ingest->sink_opaque = cfg->sink_opaque;
        return MM_OK;
    }
    int64_t topic_limit = topic_message_limit(cfg, ingest->topic_obs);
    ingest->producer = mm_kafka_producer_new(cfg->bootstrap, cfg->kafka, mm_ingest__delivered,
                                             ingest, errstr, errstr_size);
    if (!ingest->producer) return MM_ERR_KAFKA;
    mm_err_t err = fit_topic_limit(ingest, cfg, topic_limit, errstr, errstr_size);
    if (err) return err;
    if (!ingest->max_message_bytes)
        ingest->max_message_bytes = mm_kafka_producer_max_message_bytes(ingest->producer);
    if (cfg->pace_group && *cfg->pace_group) {
        int64_t max_bytes =
            cfg->pace_max_bytes ? cfg->pace_max_bytes : MM_INGEST_DEFAULT_PACE_MAX_BYTES;
        ingest->pace = mm_ingest__pace_new(cfg->bootstrap, cfg->kafka, cfg->pace_group,
                                           ingest->topic_obs, max_bytes, errstr, errstr_size);
        if (!ingest->pace) return MM_ERR_CONFIG;
    }
    return MM_OK;
}

mm_ingest_t *mm_ingest_new(const mm_ingest_config_t *cfg, char *errstr, size_t errstr_size) {
    if (!cfg || !cfg->spec || (!cfg->bootstrap && !cfg->sink)) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                "ingest: spec and bootstrap (or a sink) required");
        return NULL;
    }
    if (cfg->batch_rows < 0 || cfg->batch_bytes < 0 || cfg->max_buffered_rows < 0 ||
        cfg->pace_max_bytes < 0 || cfg->max_message_bytes < 0) {
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
    ingest->grouped_by_key = cfg->grouped_by_key;
    ingest->batch_bytes = cfg->batch_bytes ? cfg->batch_bytes : MM_INGEST_DEFAULT_BATCH_BYTES;
    ingest->max_message_bytes = cfg->max_message_bytes;
    ingest->max_buffered_rows =
        cfg->max_buffered_rows ? cfg->max_buffered_rows : MM_INGEST_DEFAULT_MAX_BUFFERED_ROWS;
    mm_ingest__blocks_init(ingest);
    ingest->block_ms = cfg->produce_block_ms > 0 ? cfg->produce_block_ms : INGEST_DEFAULT_BLOCK_MS;
    ingest->stop = cfg->stop;
    ingest->topic_obs =
        strdup(cfg->topic_observations ? cfg->topic_observations : MM_TOPIC_OBSERVATIONS);
    ingest->topic_dl = strdup(cfg->topic_deadletter ? cfg->topic_deadletter : MM_TOPIC_DEADLETTER);
    ingest->rec = malloc(sizeof(*ingest->rec));
    ingest->batch_columns = calloc(MM_MODEL_MAX_EXOG, sizeof(*ingest->batch_columns));
    ingest->key_table = mm_hashmap_new(0);
    mm_buf_init(&ingest->enc, MM_BUF_CAP_MESSAGE);
    if (!ingest->topic_obs || !ingest->topic_dl || !ingest->rec || !ingest->batch_columns ||
        !ingest->key_table) {
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
    if (output_init(ingest, cfg, errstr, errstr_size) != MM_OK) {
        mm_ingest_destroy(ingest);
        return NULL;
    }
    const char *pace_group = mm_ingest__pace_group(ingest->pace);
    mm_logj(MM_LOG_INFO, "ingest_started",
            json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I}", "load_id", ingest->load_id, "dataset",
                      ingest->spec->name ? ingest->spec->name : "", "spec_hash", ingest->spec->hash,
                      "batch_rows", (json_int_t)ingest->batch_rows, "batch_bytes",
                      (json_int_t)ingest->batch_bytes, "pace_group", pace_group ? pace_group : "",
                      "pace_max_bytes", (json_int_t)mm_ingest__pace_max_bytes(ingest->pace)),
            "load %s started%s%s", ingest->load_id,
            pace_group ? ", paced by consumer group " : " (not paced)",
            pace_group ? pace_group : "");
    return ingest;
}

void mm_ingest_destroy(mm_ingest_t *ingest) {
    if (!ingest) return;
    mm_kafka_producer_destroy(ingest->producer, INGEST_DESTROY_FLUSH_MS);
    mm_ingest__pace_destroy(ingest->pace);
    mm_ingest__keys_free(ingest);
    for (size_t i = 0; i < ingest->n_sources; i++) free(ingest->sources[i]);
    free(ingest->sources);
    mm_buf_free(&ingest->enc);
    free(ingest->batch_columns);
    free(ingest->rec);
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
    stats->paced_seconds = (double)mm_ingest__pace_waited_ms(ingest->pace) / 1000.0;
}

/* ------------------------------------------------------------ reading */

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
    mm_ingest_column_map_t map;
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
    err = mm_ingest__map_columns(ingest->spec, rec, src, &map, errstr, errstr_size);
    if (err) {
        mm_csv_reader_destroy(reader);
        return err;
    }

    mm_ingest_row_t row;
    mm_ingest_key_cache_t key_cache = {.valid = false};
    char key[MM_INGEST_MAX_KEY_BYTES + 1];
    char reason[INGEST_MAX_REASON];
    int64_t since_check = 0;
    for (;;) {
        if (++since_check >= INGEST_STOP_CHECK_ROWS) {
            since_check = 0;
            mm_ingest__poll(ingest, 0);
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
            err = mm_ingest__produce_dead_letter(ingest, src, rec->line, NULL,
                                                 mm_ingest__csv_reason(csv_err, src, rec->line),
                                                 rec->raw, rec->raw_len, errstr, errstr_size);
            if (err) break;
            ingest->stats.rows_deadlettered_by[MM_INGEST_REJECT_CSV]++;
            continue;
        }
        if (err) {
            mm_errf(err, errstr, errstr_size, "%s", csv_err);
            break;
        }
        bool key_ok;
        row.time_ms = 0;
        row.target = NAN;
        if (!mm_ingest__convert_row_cached(ingest->spec, &map, rec, &key_cache, key, sizeof(key),
                                           &key_ok, &row, reason, sizeof(reason))) {
            err =
                mm_ingest__produce_dead_letter(ingest, src, rec->line, key_ok ? key : NULL, reason,
                                               rec->raw, rec->raw_len, errstr, errstr_size);
            if (err) break;
            ingest->stats.rows_deadlettered_by[mm_ingest_reject_kind(reason)]++;
            continue;
        }
        size_t key_len = strlen(key);
        if (!mm_ingest__row_fits_alone(ingest, src, key, key_len, &row, reason, sizeof(reason))) {
            err = mm_ingest__produce_dead_letter(ingest, src, rec->line, key, reason, rec->raw,
                                                 rec->raw_len, errstr, errstr_size);
            if (err) break;
            ingest->stats.rows_deadlettered_by[MM_INGEST_REJECT_OTHER]++;
            continue;
        }
        err = mm_ingest__append_row(ingest, src, key, key_len, &row, errstr, errstr_size);
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
            mm_ingest_key_t *ks = ingest->keys[i];
            if (ks->n > 0)
                err = mm_ingest__produce_rows(ingest, ks, ks->n, complete, errstr, errstr_size);
        }
    } else {
        complete = false;
    }
    /* Wait for every delivery report, even after a failure: the counts must be final. */
    mm_err_t flush_err = mm_ingest__flush(ingest, flush_timeout_ms);
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
                       mm_ingest__in_flight(ingest), flush_timeout_ms);
    return MM_OK;
}

/* Log @p errstr as @p event at @p level and echo it for the person at the terminal. */
static void report(mm_log_level_t level, const char *event, const char *errstr) {
    mm_log(level, event, "%s", errstr);
    fprintf(stderr, "mm-ingest: %s\n", errstr);
}

int mm_ingest_run(mm_ingest_t *ingest, const char *const *sources, size_t n_sources,
                  int flush_timeout_ms, FILE *human) {
    char errstr[1024];
    mm_err_t err = MM_OK;
    for (size_t i = 0; i < n_sources && !err; i++) {
        err = mm_ingest_file(ingest, sources[i], errstr, sizeof(errstr));
        if (err == MM_ERR_SHUTDOWN)
            report(MM_LOG_WARN, "interrupted", errstr);
        else if (err)
            report(MM_LOG_ERROR, "load_failed", errstr);
    }
    mm_err_t finish_err =
        mm_ingest_finish(ingest, err == MM_OK, flush_timeout_ms, errstr, sizeof(errstr));
    if (finish_err == MM_ERR_SHUTDOWN) /* pacing held the last batches back: not sent */
        report(MM_LOG_WARN, "interrupted", errstr);
    else if (finish_err)
        report(MM_LOG_ERROR, "delivery_failed", errstr);
    if (!err) err = finish_err;
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(ingest, &stats);
    mm_ingest_summary(ingest, human);
    return mm_ingest_exit_status(err, &stats);
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
    mm_logj(MM_LOG_INFO, "ingest_summary",
            json_pack(
                "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                "s:I}",
                "load_id", ingest->load_id, "dataset", ingest->spec->name ? ingest->spec->name : "",
                "files", (json_int_t)s.files, "rows_read", (json_int_t)s.rows_read, "rows_emitted",
                (json_int_t)s.rows_emitted, "rows_deadlettered", (json_int_t)s.rows_deadlettered,
                "rows_unsent", (json_int_t)s.rows_buffered, "keys", (json_int_t)s.keys, "batches",
                (json_int_t)s.batches, "messages_failed", (json_int_t)s.messages_failed,
                "rows_failed", (json_int_t)s.rows_failed, "duration_ms",
                (json_int_t)(s.seconds * 1000), "paced_ms",
                (json_int_t)mm_ingest__pace_waited_ms(ingest->pace), "pressure_flushes",
                (json_int_t)s.pressure_flushes, "held_bytes_peak", (json_int_t)s.held_bytes_peak),
            "load %s: %lld rows read, %lld emitted, %lld dead-lettered", ingest->load_id,
            (long long)s.rows_read, (long long)s.rows_emitted, (long long)s.rows_deadlettered);
    if (!human) return;
    fprintf(human,
            "mm-ingest: load %s: %lld rows read, %lld emitted, %lld dead-lettered, %lld keys, "
            "%lld batches, %.2f s",
            ingest->load_id, (long long)s.rows_read, (long long)s.rows_emitted,
            (long long)s.rows_deadlettered, (long long)s.keys, (long long)s.batches, s.seconds);
    if (mm_ingest__pace_waited_ms(ingest->pace) > 0)
        fprintf(human, " (%.2f s waiting for consumer group %s)", s.paced_seconds,
                mm_ingest__pace_group(ingest->pace));
    if (s.rows_buffered > 0) fprintf(human, ", %lld rows not sent", (long long)s.rows_buffered);
    if (s.messages_failed > 0)
        fprintf(human, ", %lld messages NOT DELIVERED (%lld rows)", (long long)s.messages_failed,
                (long long)s.rows_failed);
    fputc('\n', human);
    fflush(human);
}
