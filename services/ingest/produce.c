/*
 * produce.c - mm-ingest's output: a key's rows encoded as one
 * ObservationBatch (split in two while the encoding exceeds batch_bytes),
 * dead letters, and where records go: a Kafka producer, or the sink of
 * mm_ingest_config_t (tests, tools), whose result is the delivery report.
 * Delivery reports update the counts.
 *
 * Workload: once per batch of thousands of rows; the encoder reuses one
 * buffer for the whole load.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ingest_int.h"
#include "mm/avro.h"
#include "mm/log.h"
#include "mm/service.h"
#include "mm/util.h"

#define PRODUCE_LOGGED_FAILURES 10 /* failures and dead letters logged one by one; then counted */
/* Upper bound of the Avro encoding: a long is at most 10 bytes, a double 8. */
#define AVRO_MAX_VARINT   10
#define AVRO_DOUBLE_BYTES 8
#define BATCH_LONG_FIELDS 5   /* batch_seq, end_of_load, rows, batches, produced_at */
#define BATCH_ARRAYS      4   /* time, target, line, columns (each column adds one more) */
#define BATCH_SLACK       256 /* for an encoder that splits arrays into several blocks */

/* ------------------------------------------------------------ output */

/* Hand one encoded record to the output; a sink's result is its delivery report at once. */
static mm_err_t output_send(mm_ingest_t *ingest, const char *topic, const char *key, size_t key_len,
                            void *tag, char *errstr, size_t errstr_size) {
    if (!ingest->sink)
        return mm_kafka_produce(ingest->producer, topic, key, key_len, ingest->enc.data,
                                ingest->enc.len, tag, ingest->block_ms, errstr, errstr_size);
    char reason[INGEST_MAX_REASON] = "";
    mm_err_t err = ingest->sink(ingest->sink_opaque, topic, key, key_len, ingest->enc.data,
                                ingest->enc.len, reason, sizeof(reason));
    mm_ingest__delivered(ingest, tag, err, reason[0] ? reason : NULL);
    return MM_OK;
}

void mm_ingest__poll(mm_ingest_t *ingest, int timeout_ms) {
    if (ingest->producer) mm_kafka_producer_poll(ingest->producer, timeout_ms);
}

mm_err_t mm_ingest__flush(mm_ingest_t *ingest, int timeout_ms) {
    return ingest->producer ? mm_kafka_producer_flush(ingest->producer, timeout_ms) : MM_OK;
}

int mm_ingest__in_flight(const mm_ingest_t *ingest) {
    return ingest->producer ? mm_kafka_producer_outq_len(ingest->producer) : 0;
}

/* ------------------------------------------------------------ delivery */

/* msg_opaque carries (rows << 1) | is_dead_letter, so a failure knows what it lost. */
static void *dr_tag(size_t rows, bool dead_letter) {
    return (void *)(((uintptr_t)rows << 1) | (dead_letter ? 1u : 0u));
}

void mm_ingest__delivered(void *opaque, void *msg_opaque, mm_err_t err, const char *reason) {
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
    if (ingest->stats.messages_failed <= PRODUCE_LOGGED_FAILURES)
        mm_log_error("delivery_failed", "%s of %zu row(s) not delivered: %s",
                     (tag & 1) ? "dead letter" : "observation batch", (size_t)(tag >> 1),
                     reason ? reason : mm_err2str(err));
}

/* ------------------------------------------------------------ batches */

/* Upper bound of the encoded bytes of a batch with no rows of a key of @p key_len bytes from
 * @p source. */
static size_t overhead_of(const mm_ingest_t *ingest, size_t key_len, const char *source) {
    const mm_spec_t *spec = ingest->spec;
    size_t n = MM_WIRE_HEADER_LEN;
    const char *strings[] = {spec->name ? spec->name : "", spec->hash, ingest->load_id,
                             source ? source : ""};
    for (size_t i = 0; i < MM_ARRAY_SIZE(strings); i++) n += AVRO_MAX_VARINT + strlen(strings[i]);
    n += AVRO_MAX_VARINT + key_len;
    n += BATCH_LONG_FIELDS * AVRO_MAX_VARINT + 1;
    /* array block headers and terminators */
    n += (BATCH_ARRAYS + spec->n_feature_columns) * (AVRO_MAX_VARINT + 1);
    for (size_t j = 0; j < spec->n_feature_columns; j++)
        n += AVRO_MAX_VARINT + strlen(spec->feature_columns[j]);
    return n + BATCH_SLACK;
}

/* Upper bound of the encoded bytes of a batch of @p ks with no rows. */
static size_t batch_overhead(const mm_ingest_t *ingest, const mm_ingest_key_t *ks) {
    return overhead_of(ingest, ks->key_len, ks->source);
}

static size_t row_bytes(const mm_ingest_t *ingest) {
    /* time and line are longs, the target and every column a double, the entity an int (its
     * name, once per batch, is checked by the encoded size) */
    return (ingest->spec->n_entity_columns ? 3 : 2) * AVRO_MAX_VARINT +
           AVRO_DOUBLE_BYTES * (1 + ingest->spec->n_feature_columns);
}

/* The batch's entities: those of its first @p count rows (@p entity_of_row: each row's index
 * among the key's entities), each once, and each row's index among them (@p index and @p names
 * hold @p count items; @p remap one per entity of the key). */
static void batch_entities(const mm_ingest_key_t *ks, const int32_t *entity_of_row, size_t count,
                           int32_t *remap, const char **names, int32_t *index, size_t *n_names) {
    for (size_t e = 0; e < ks->n_entities; e++) remap[e] = -1;
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        int32_t e = entity_of_row[i];
        if (remap[e] < 0) {
            remap[e] = (int32_t)n;
            names[n++] = ks->entities[e];
        }
        index[i] = remap[e];
    }
    *n_names = n;
}

/* Encoded bytes a batch of @p ks may have: batch_bytes, and room for the key under the output's
 * message limit. */
static size_t batch_budget(const mm_ingest_t *ingest, const mm_ingest_key_t *ks) {
    size_t budget = (size_t)ingest->batch_bytes;
    if (ingest->max_message_bytes > 0) {
        size_t limit = (size_t)ingest->max_message_bytes;
        size_t room = limit > ks->key_len ? limit - ks->key_len : 0;
        if (room < budget) budget = room;
    }
    return budget;
}

size_t mm_ingest__batch_max_rows(const mm_ingest_t *ingest, const mm_ingest_key_t *ks) {
    size_t overhead = batch_overhead(ingest, ks);
    size_t budget = batch_budget(ingest, ks);
    size_t by_bytes = budget > overhead ? (budget - overhead) / row_bytes(ingest) : 1;
    size_t rows = (size_t)ingest->batch_rows < by_bytes ? (size_t)ingest->batch_rows : by_bytes;
    return rows ? rows : 1;
}

/* The dead-letter reason of a row of @p key whose record alone is @p record_len bytes. */
static void oversized_reason(const mm_ingest_t *ingest, const char *key, size_t key_len,
                             size_t record_len, char *reason, size_t reason_size) {
    snprintf(reason, reason_size,
             "row of key %.64s%s encodes to a %zu-byte ObservationBatch record (key included), "
             "over the %lld-byte message limit (message.max.bytes): a batch of one row cannot be "
             "split further",
             key, key_len > 64 ? "..." : "", record_len, (long long)ingest->max_message_bytes);
}

bool mm_ingest__row_fits_alone(mm_ingest_t *ingest, const char *source, const char *key,
                               size_t key_len, const mm_ingest_row_t *row, char *reason,
                               size_t reason_size) {
    if (ingest->max_message_bytes <= 0) return true;
    size_t limit = (size_t)ingest->max_message_bytes;
    /* The bound: the empty batch, the row, its entity's name, index and two array blocks, and
     * the key again (the record's key); what does not vary is summed once. */
    if (!ingest->row_bound_base)
        ingest->row_bound_base =
            overhead_of(ingest, 0, NULL) + row_bytes(ingest) + 4 * (AVRO_MAX_VARINT + 1);
    size_t bound =
        ingest->row_bound_base + 2 * key_len + (source ? strlen(source) : 1) + strlen(row->entity);
    if (bound <= limit) return true; /* nearly every row: no encoding */
    /* Near the limit: encode the row alone as its key's last batch with the largest counts, so
     * that a row passing here fits in whatever batch of one it is later sent. */
    const mm_spec_t *spec = ingest->spec;
    int64_t time_ms = row->time_ms, line = row->line;
    double target = row->target;
    double values[MM_MODEL_MAX_EXOG];
    for (size_t j = 0; j < spec->n_feature_columns; j++) {
        values[j] = row->exog[j];
        ingest->batch_columns[j].name = spec->feature_columns[j];
        ingest->batch_columns[j].values = &values[j];
    }
    const char *entities[1] = {row->entity};
    int32_t entity_of_row[1] = {0};
    mm_observation_batch_t batch = {
        .dataset = spec->name,
        .spec_hash = spec->hash,
        .partition_key = key,
        .load_id = ingest->load_id,
        .source = source ? source : "-",
        .batch_seq = INT32_MAX,
        .end_of_load = true,
        .load_rows_for_key = INT64_MAX,
        .load_batches_for_key = INT32_MAX,
        .n_rows = 1,
        .time_ms = &time_ms,
        .target = &target,
        .line = &line,
        .n_columns = spec->n_feature_columns,
        .columns = ingest->batch_columns,
        .produced_at_ms = INT64_MAX,
    };
    if (spec->n_entity_columns) {
        batch.entities = entities;
        batch.n_entities = 1;
        batch.entity_of_row = entity_of_row;
        batch.n_entity_of_row = 1;
    }
    char errstr[256];
    mm_buf_reset(&ingest->enc);
    if (mm_avro_encode_observation_batch(&batch, &ingest->enc, errstr, sizeof(errstr)))
        return true; /* not this check's concern: producing the row reports it */
    size_t record_len = ingest->enc.len + key_len;
    if (record_len <= limit) return true;
    oversized_reason(ingest, key, key_len, record_len, reason, reason_size);
    return false;
}

/*
 * The first row of @p ks alone encodes to a record of @p record_len bytes, over the output's
 * message limit: the broker would refuse it, so it becomes a dead letter naming the sizes (its
 * original bytes are not kept: the row was parsed, not held as text) and leaves the key, whose
 * end-of-load count no longer includes it. When it was the key's last row (@p final) and the
 * key's earlier batches went out, the key's end of load goes out in a batch of no rows.
 */
static mm_err_t produce_oversized_row(mm_ingest_t *ingest, mm_ingest_key_t *ks, bool final,
                                      size_t record_len, char *errstr, size_t errstr_size) {
    char reason[INGEST_MAX_REASON];
    oversized_reason(ingest, ks->key, ks->key_len, record_len, reason, sizeof(reason));
    mm_err_t err = mm_ingest__produce_dead_letter(ingest, ks->source ? ks->source : "-",
                                                  ingest->gather_line[0], ks->key, reason, NULL, 0,
                                                  errstr, errstr_size);
    if (err) return err;
    ingest->stats.rows_buffered--;
    ks->rows_total--;
    mm_ingest__key_shift(ingest, ks, 1);
    /* The flag rode on this row's batch. Nothing of the key sent: there is no load to end. */
    if (!final || ks->batch_seq == 0) return MM_OK;
    return mm_ingest__produce_rows(ingest, ks, 0, true, errstr, errstr_size);
}

/*
 * Produce the first @p count rows of @p ks's open batch. @p final flags it
 * end_of_load (only ever with count == ks->n). A batch whose encoding turns
 * out larger than batch_bytes is split in two. MM_ERR_SHUTDOWN (stopped while
 * paced) leaves the rows with the key and the load able to finish unflagged.
 */
mm_err_t mm_ingest__produce_rows(mm_ingest_t *ingest, mm_ingest_key_t *ks, size_t count, bool final,
                                 char *errstr, size_t errstr_size) {
    if (ingest->fatal)
        return mm_errf(ingest->fatal, errstr, errstr_size, "load already failed: %s",
                       ingest->first_failure);
    const mm_spec_t *spec = ingest->spec;
    if (!mm_ingest__key_gather(ingest, ks, count))
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory (batch of %s)", ks->key);
    mm_observation_batch_t batch;
    memset(&batch, 0, sizeof(batch));
    batch.dataset = spec->name;
    batch.spec_hash = (char *)spec->hash;
    batch.partition_key = ks->key;
    batch.load_id = ingest->load_id;
    batch.source = (char *)(ks->source ? ks->source : "-");
    batch.batch_seq = ks->batch_seq;
    batch.end_of_load = final;
    batch.load_rows_for_key = final ? ks->rows_total : -1;
    batch.load_batches_for_key = final ? ks->batch_seq + 1 : -1;
    batch.n_rows = count;
    batch.time_ms = ingest->gather_time_ms;
    batch.target = ingest->gather_target;
    batch.line = ingest->gather_line;
    batch.n_columns = spec->n_feature_columns;
    for (size_t j = 0; j < spec->n_feature_columns; j++) {
        ingest->batch_columns[j].name = spec->feature_columns[j];
        ingest->batch_columns[j].values = ingest->gather_cols[j];
    }
    batch.columns = ingest->batch_columns;
    batch.produced_at_ms = mm_now_ms();
    int32_t *scratch = NULL;
    const char **names = NULL;
    if (spec->n_entity_columns && count > 0) {
        scratch = malloc((count + ks->n_entities) * sizeof(*scratch));
        names = malloc(count * sizeof(*names));
        if (!scratch || !names) {
            free(scratch);
            free(names);
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory (entities of %s)",
                           ks->key);
        }
        batch_entities(ks, ingest->gather_entity, count, scratch + count, names, scratch,
                       &batch.n_entities);
        batch.entities = names;
        batch.entity_of_row = scratch;
        batch.n_entity_of_row = count;
    }

    mm_buf_reset(&ingest->enc);
    mm_err_t err = mm_avro_encode_observation_batch(&batch, &ingest->enc, errstr, errstr_size);
    free(scratch);
    free(names);
    if (err) {
        ingest->fatal = err;
        return err;
    }
    if (ingest->enc.len > batch_budget(ingest, ks) && count > 1) {
        size_t half = count / 2;
        err = mm_ingest__produce_rows(ingest, ks, half, false, errstr, errstr_size);
        if (!err)
            err = mm_ingest__produce_rows(ingest, ks, count - half, final, errstr, errstr_size);
        return err;
    }
    size_t record_len = ingest->enc.len + ks->key_len;
    if (ingest->max_message_bytes > 0 && record_len > (size_t)ingest->max_message_bytes) {
        if (count > 0)
            return produce_oversized_row(ingest, ks, final, record_len, errstr, errstr_size);
        /* A key's closing batch of no rows over the limit: never when the key's earlier
         * batches fitted (this one is smaller), but never a dead letter of no row either. */
        mm_logj(MM_LOG_WARN, "end_of_load_not_sent",
                json_pack("{s:s, s:I, s:I}", "partition_key", ks->key, "batches_sent",
                          (json_int_t)ks->batch_seq, "record_bytes", (json_int_t)record_len),
                "key %.64s: its end of load alone encodes to %zu bytes, over the %lld-byte "
                "message limit; it is not sent",
                ks->key, record_len, (long long)ingest->max_message_bytes);
        return MM_OK;
    }
    err = mm_ingest__pace_wait(ingest->pace, ingest->producer, ingest->stop, ks->key, ks->key_len,
                               ingest->enc.len, errstr, errstr_size);
    if (err) {
        if (err != MM_ERR_SHUTDOWN) ingest->fatal = err;
        return err;
    }
    err = output_send(ingest, ingest->topic_obs, ks->key, ks->key_len, dr_tag(count, false), errstr,
                      errstr_size);
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
    mm_ingest__key_shift(ingest, ks, count);
    mm_ingest__poll(ingest, 0);
    return MM_OK;
}

mm_err_t mm_ingest__produce_dead_letter(mm_ingest_t *ingest, const char *source, int64_t line,
                                        const char *partition_key, const char *reason,
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
                                      MM_ERR_PARSE, reason, &ingest->enc, errstr, errstr_size);
    if (err) {
        ingest->fatal = err;
        return err;
    }
    err = output_send(ingest, ingest->topic_dl, partition_key,
                      partition_key ? strlen(partition_key) : 0, dr_tag(1, true), errstr,
                      errstr_size);
    if (err) {
        ingest->fatal = err;
        snprintf(ingest->first_failure, sizeof(ingest->first_failure), "%s", errstr);
        return err;
    }
    ingest->stats.rows_deadlettered++;
    if (ingest->stats.rows_deadlettered <= PRODUCE_LOGGED_FAILURES)
        mm_logj(MM_LOG_WARN, "row_deadlettered",
                json_pack("{s:s, s:I, s:s}", "file", source, "line", (json_int_t)line, "reason",
                          reason),
                "%s:%lld: %s", source, (long long)line, reason);
    else if (ingest->stats.rows_deadlettered == PRODUCE_LOGGED_FAILURES + 1)
        mm_log_warn("row_deadlettered", "more dead-lettered rows: counted in the summary only");
    return MM_OK;
}
