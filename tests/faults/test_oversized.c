/*
 * test_oversized.c - fault scenario 19 of docs/reliability.md, its oversized
 * records: a load whose batches are larger than the message limit the
 * producer is given (-X message.max.bytes, as a deployment sets it to a
 * topic's lower max.message.bytes). mm-ingest must size and split its
 * batches to fit, so the whole load arrives (checker clean) with no record
 * over the limit; a row that alone encodes to a record over the limit cannot
 * be split and must become a dead letter with the sizes as its reason - never
 * a silent drop, never a failed load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "checker.h"
#include "ingest.h"
#include "mm/avro.h"
#include "mm/kafka.h"
#include "mm/spec.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES       3
#define ITEMS        4
#define KEYS         (STORES * ITEMS)
#define DAYS         150
#define HORIZON      7
#define DECIDE_MS    120000
#define READ_MS      20000
#define LIMIT_BYTES  2048 /* -X message.max.bytes of the load: a key's 150 rows need 3+ batches */
#define SALES_SPEC   MM_SOURCE_DIR "/tools/datagen/specs/sales.json"
#define SINK_LIMIT   900 /* bytes: several rows of a short key fit, one row of a long key not */
#define LONG_KEY_LEN 420
#define SINK_MAX     1024

/* Records on @p topic: how many, and the largest key + value. */
static void topic_sizes(mmt_pipeline_t *p, const char *topic, int64_t *records, int64_t *largest) {
    char errstr[512];
    *records = *largest = 0;
    mm_kafka_reader_t *reader =
        mm_kafka_reader_new(p->broker.bootstrap, topic, NULL, errstr, sizeof(errstr));
    cr_assert(reader, "reader: %s", errstr);
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(READ_MS);
    while (mm_mono_ms() < deadline) {
        mm_kafka_msg_t msg;
        mm_err_t rc = mm_kafka_reader_poll(reader, 200, &msg, errstr, sizeof(errstr));
        if (rc == MM_ERR_NOT_FOUND) break;
        if (rc == MM_ERR_TIMEOUT) continue;
        cr_assert_eq(rc, MM_OK, "reading %s: %s", topic, errstr);
        (*records)++;
        int64_t size = (int64_t)(msg.key_len + msg.value_len);
        if (size > *largest) *largest = size;
    }
    mm_kafka_reader_destroy(reader);
}

Test(fault_oversized, batches_over_the_message_limit_are_split_to_fit_and_the_load_arrives,
     .timeout = 600) {
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "oversized", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 43);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    char limit[64];
    snprintf(limit, sizeof(limit), "-Xmessage.max.bytes=%d", LIMIT_BYTES);
    /* The default --batch-bytes (512 KiB) is far above the limit. */
    int status = mmt_pipeline_ingest(&p, files, limit);
    cr_expect_eq(status, 0, "mm-ingest exited %d under a %d-byte message limit", status,
                 LIMIT_BYTES);
    bool decided = mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS);
    int64_t records = 0, largest = 0;
    topic_sizes(&p, MM_TOPIC_OBSERVATIONS, &records, &largest);
    fprintf(stderr,
            "fault scenario 19-oversized: %lld rows under -X message.max.bytes=%d: mm-ingest exit "
            "%d, %lld records on %s (%.1f per key), largest %lld bytes, every key decided: %s\n",
            (long long)rows, LIMIT_BYTES, status, (long long)records, MM_TOPIC_OBSERVATIONS,
            (double)records / KEYS, (long long)largest, decided ? "yes" : "no");
    cr_expect_leq(largest, LIMIT_BYTES, "a record of %lld bytes, over the limit",
                  (long long)largest);
    cr_expect_gt(records, 2 * KEYS, "%lld records: the batches were not split", (long long)records);
    cr_expect(decided, "not every key was decided");
    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    mmt_pipeline_stop(&p);
}

/* ------------------------------------------------ one row over the limit */

typedef struct sunk {
    int batches, dead_letters;
    int64_t rows_in_batches;
    size_t largest_batch; /* key + value */
    char first_reason[1024];
    int dead_letters_of_long_key;
    int dead_letters_with_row; /* carrying the row's original bytes (its CSV line) */
} sunk_t;

static mm_err_t sink(void *opaque, const char *topic, const char *key, size_t key_len,
                     const void *value, size_t value_len, char *reason, size_t reason_size) {
    (void)key;
    (void)reason;
    (void)reason_size;
    sunk_t *s = opaque;
    char errstr[512];
    if (strcmp(topic, MM_TOPIC_DEADLETTER) == 0) {
        mm_dead_letter_t dl;
        memset(&dl, 0, sizeof(dl));
        cr_assert_eq(mm_avro_decode_dead_letter(value, value_len, &dl, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
        s->dead_letters++;
        if (key_len == LONG_KEY_LEN + strlen("store=/item=1")) s->dead_letters_of_long_key++;
        if (dl.original_len > LONG_KEY_LEN && memcmp(dl.original, "2024-01-", 8) == 0)
            s->dead_letters_with_row++;
        if (!s->first_reason[0])
            snprintf(s->first_reason, sizeof(s->first_reason), "%s", dl.reason ? dl.reason : "");
        mm_avro_clear(MM_RECORD_DEAD_LETTER, &dl);
        return MM_OK;
    }
    mm_observation_batch_t batch;
    memset(&batch, 0, sizeof(batch));
    cr_assert_eq(mm_avro_decode_observation_batch(value, value_len, &batch, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    s->batches++;
    s->rows_in_batches += (int64_t)batch.n_rows;
    if (key_len + value_len > s->largest_batch) s->largest_batch = key_len + value_len;
    mm_avro_clear(MM_RECORD_OBSERVATION_BATCH, &batch);
    return MM_OK;
}

Test(fault_oversized, a_row_whose_record_cannot_fit_alone_is_dead_lettered_with_the_sizes,
     .timeout = 60) {
    char errstr[1024];
    mm_spec_t spec;
    cr_assert_eq(mm_spec_load_file(SALES_SPEC, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    char *dir = mmt_tmpdir("oversized-row");
    char path[4200];
    snprintf(path, sizeof(path), "%s/long-key.csv", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    char *long_store = malloc(LONG_KEY_LEN + 1);
    cr_assert(long_store);
    memset(long_store, 's', LONG_KEY_LEN);
    long_store[LONG_KEY_LEN] = '\0';
    fprintf(f, "date,store,item,sales,price,promo\n");
    const int days = 30;
    for (int d = 1; d <= days; d++) {
        fprintf(f, "2024-01-%02d,1,1,%d,2.5,0\n", d, 10 + d);
        fprintf(f, "2024-01-%02d,%s,1,%d,2.5,0\n", d, long_store, 20 + d);
    }
    fclose(f);
    free(long_store);

    sunk_t sunk;
    memset(&sunk, 0, sizeof(sunk));
    mm_ingest_config_t cfg = {
        .spec = &spec, .sink = sink, .sink_opaque = &sunk, .max_message_bytes = SINK_LIMIT};
    mm_ingest_t *ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
    cr_assert(ingest, "%s", errstr);
    mm_err_t err = mm_ingest_file(ingest, path, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_OK, "%s", errstr);
    err = mm_ingest_finish(ingest, true, 1000, errstr, sizeof(errstr));
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(ingest, &stats);
    fprintf(stderr,
            "fault scenario 19-oversized-row: %lld rows read, %lld emitted in %d batches "
            "(largest %zu bytes, limit %d), %lld dead-lettered (first reason: %s); finish: %s\n",
            (long long)stats.rows_read, (long long)stats.rows_emitted, sunk.batches,
            sunk.largest_batch, SINK_LIMIT, (long long)stats.rows_deadlettered, sunk.first_reason,
            err ? errstr : "ok");
    cr_expect_eq(stats.rows_read, 2 * days);
    cr_expect_eq(stats.rows_emitted, days, "the short key's rows are all sent");
    cr_expect_eq(sunk.rows_in_batches, days);
    cr_expect_gt(sunk.batches, 1, "the short key's rows were not split");
    cr_expect_leq(sunk.largest_batch, SINK_LIMIT, "a batch over the limit");
    cr_expect_eq(stats.rows_deadlettered, days, "every long-key row is a dead letter");
    cr_expect_eq(sunk.dead_letters_of_long_key, days);
    cr_expect_eq(sunk.dead_letters_with_row, days, "%d of %d dead letters carry their row",
                 sunk.dead_letters_with_row, days);
    cr_expect_eq(stats.rows_read, stats.rows_emitted + stats.rows_deadlettered,
                 "the counts do not add up");
    cr_expect(strstr(sunk.first_reason, "message limit") && strstr(sunk.first_reason, "900"),
              "the reason does not name the limit: %s", sunk.first_reason);
    mm_ingest_destroy(ingest);
    mm_spec_clear(&spec);
    mmt_rmtree(dir);
    free(dir);
}

/* ------------------------------------- a key's last row over the limit */

#define FLEET_SPEC  MM_SOURCE_DIR "/tools/datagen/specs/maintenance_fleet.json"
#define FLEET_LIMIT 1100 /* bytes: a few rows of a short machine id fit, one of a long one not */
#define LONG_ENTITY 1000 /* an entity may have up to 1024 bytes */
#define FLEET_HOURS 20

typedef struct ends {
    int batches, dead_letters, empty_batches;
    int64_t rows_in_batches;
    bool last_was_end;             /* the last batch was flagged end_of_load */
    int64_t end_rows, end_batches; /* its counts for the key's load */
    int32_t end_seq;               /* its batch_seq */
    int64_t dead_letter_line;      /* the dead letter's source line */
    char dead_letter_row[64];      /* the start of its original bytes */
    size_t dead_letter_len;        /* their length */
} ends_t;

static mm_err_t ends_sink(void *opaque, const char *topic, const char *key, size_t key_len,
                          const void *value, size_t value_len, char *reason, size_t reason_size) {
    (void)key;
    (void)key_len;
    (void)reason;
    (void)reason_size;
    ends_t *s = opaque;
    char errstr[512];
    if (strcmp(topic, MM_TOPIC_DEADLETTER) == 0) {
        mm_dead_letter_t dl;
        memset(&dl, 0, sizeof(dl));
        cr_assert_eq(mm_avro_decode_dead_letter(value, value_len, &dl, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
        s->dead_letters++;
        s->dead_letter_line = dl.source_line;
        s->dead_letter_len = dl.original_len;
        snprintf(s->dead_letter_row, sizeof(s->dead_letter_row), "%.*s",
                 (int)(dl.original_len < 40 ? dl.original_len : 40),
                 dl.original ? (const char *)dl.original : "");
        mm_avro_clear(MM_RECORD_DEAD_LETTER, &dl);
        return MM_OK;
    }
    mm_observation_batch_t batch;
    memset(&batch, 0, sizeof(batch));
    cr_assert_eq(mm_avro_decode_observation_batch(value, value_len, &batch, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    s->batches++;
    s->rows_in_batches += (int64_t)batch.n_rows;
    if (batch.n_rows == 0) s->empty_batches++;
    s->last_was_end = batch.end_of_load;
    s->end_rows = batch.load_rows_for_key;
    s->end_batches = batch.load_batches_for_key;
    s->end_seq = batch.batch_seq;
    mm_avro_clear(MM_RECORD_OBSERVATION_BATCH, &batch);
    return MM_OK;
}

Test(fault_oversized, a_keys_last_row_over_the_limit_still_lets_its_end_of_load_out,
     .timeout = 60) {
    char errstr[1024];
    mm_spec_t spec;
    cr_assert_eq(mm_spec_load_file(FLEET_SPEC, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    char *dir = mmt_tmpdir("oversized-last-row");
    char path[4200];
    snprintf(path, sizeof(path), "%s/fleet.csv", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    char *long_id = malloc(LONG_ENTITY + 1);
    cr_assert(long_id);
    memset(long_id, '7', LONG_ENTITY);
    long_id[LONG_ENTITY] = '\0';
    fprintf(f, "datetime,model,machineID,volt,rotate,pressure,vibration,failure\n");
    for (int h = 0; h < FLEET_HOURS; h++) /* the last row: a machine id no record can hold */
        fprintf(f, "2024-01-01 %02d:00:00,model1,%s,170.5,450.2,100.1,40.3,0\n", h,
                h == FLEET_HOURS - 1 ? long_id : "1");
    fclose(f);
    free(long_id);

    ends_t ends;
    memset(&ends, 0, sizeof(ends));
    mm_ingest_config_t cfg = {
        .spec = &spec, .sink = ends_sink, .sink_opaque = &ends, .max_message_bytes = FLEET_LIMIT};
    mm_ingest_t *ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
    cr_assert(ingest, "%s", errstr);
    mm_err_t err = mm_ingest_file(ingest, path, errstr, sizeof(errstr));
    cr_expect_eq(err, MM_OK, "%s", errstr);
    err = mm_ingest_finish(ingest, true, 1000, errstr, sizeof(errstr));
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(ingest, &stats);
    fprintf(stderr,
            "fault scenario 19-oversized-last-row: %lld rows read, %lld emitted in %d batches "
            "(%d of no rows), %lld dead-lettered (line %lld, %zu original bytes: %s...); last "
            "batch end_of_load %s, rows %lld, batches %lld, seq %d; finish: %s\n",
            (long long)stats.rows_read, (long long)stats.rows_emitted, ends.batches,
            ends.empty_batches, (long long)stats.rows_deadlettered,
            (long long)ends.dead_letter_line, ends.dead_letter_len, ends.dead_letter_row,
            ends.last_was_end ? "yes" : "no", (long long)ends.end_rows, (long long)ends.end_batches,
            ends.end_seq, err ? errstr : "ok");
    cr_expect_eq(err, MM_OK, "%s", errstr);
    cr_expect_eq(stats.rows_read, FLEET_HOURS);
    cr_expect_eq(stats.rows_deadlettered, 1, "the long row is a dead letter");
    cr_expect_eq(ends.dead_letter_line, FLEET_HOURS + 1, "the dead letter names another line");
    cr_expect_eq(stats.rows_emitted, FLEET_HOURS - 1);
    cr_expect_gt(ends.batches, 2, "the short rows were not split");
    cr_expect(ends.last_was_end, "the key's end of load was not sent");
    cr_expect_gt(ends.dead_letter_len, LONG_ENTITY, "the dead letter does not carry the row");
    cr_expect_eq(strncmp(ends.dead_letter_row, "2024-01-01 19:00:00,model1,", 27), 0,
                 "the dead letter carries other bytes: %s", ends.dead_letter_row);
    cr_expect_eq(ends.end_rows, FLEET_HOURS - 1, "the end of load counts the dead-lettered row");
    cr_expect_eq(ends.end_batches, ends.batches, "the end of load counts %lld batches of %d",
                 (long long)ends.end_batches, ends.batches);
    cr_expect_eq(ends.end_seq, ends.batches - 1);
    mm_ingest_destroy(ingest);
    mm_spec_clear(&spec);
    mmt_rmtree(dir);
    free(dir);
}
