/*
 * test_ingest_broker.c - mm-ingest's logic (services/ingest/) against
 * mm-devbroker: rows in, ObservationBatch records and dead letters out, read
 * back from the topics and checked row by row; pacing against a real
 * consumer group; a broker that does not answer. The same logic without a
 * broker (a sink in place of the producer) is tests/unit/services/test_ingest.c.
 *
 * The main fixture is tests/fixtures/csv/ingest_good_and_bad_rows/input.csv
 * (also a CSV reader fixture): three interleaved keys (10, 8 and 5 rows, one
 * key value quoted with a comma) and six bad rows. With batch_rows = 4 the
 * key with 8 rows ends on a full batch, which exercises the hold-back rule.
 * The ingest_unreachable_broker suite starts no broker: its producer talks to
 * a loopback port nothing listens on. Pacing is off (no pace
 * group) except in the test about it, which is the only one with a consumer
 * group (one join, ~5 s on the dev broker).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "ingest.h"
#include "mm/avro.h"
#include "mm/kafka.h"
#include "mm/records.h"
#include "mm/spec.h"
#include "mm/util.h"
#include "support.h"

#define FIXTURE_CSV      MM_FIXTURES_DIR "/csv/ingest_good_and_bad_rows/input.csv"
#define SALES_SPEC       MM_SOURCE_DIR "/tools/datagen/specs/sales.json"
#define PARTITIONS       3
#define MAX_KEYS         64
#define MAX_LINES        4096
#define READ_TIMEOUT_MS  30000
#define FLUSH_TIMEOUT_MS 30000
/* Nothing listens on port 1 of loopback. */
#define DEAD_BOOTSTRAP "127.0.0.1:1"

/* ------------------------------------------------------------ read back */

typedef struct key_seen {
    char key[256];
    int batches;
    int max_seq;
    int seq_seen[256];
    int end_of_load; /* batches flagged */
    int end_seq;     /* batch_seq of the flagged one */
    int64_t rows;
    int64_t load_rows;    /* from the flagged batch */
    int32_t load_batches; /* from the flagged batch */
    bool empty_batch;
    bool bad_unflagged_counts; /* an unflagged batch without -1 counts */
} key_seen_t;

typedef struct row_seen {
    int count;
    char key[256];
    int64_t time_ms;
    double target;
    double price;
    double promo;
    char source[256];
} row_seen_t;

typedef struct dl_seen {
    int count;
    char reason[512];
    char file[256];
    char original[512];
    char error_code[64];
    char service[64];
    bool has_key;
} dl_seen_t;

typedef struct batch_seen {
    char source[64];
    size_t n_rows;
    double target_sum;
    double promo_sum;
    bool end_of_load;
} batch_seen_t;

typedef struct readback {
    key_seen_t keys[MAX_KEYS];
    batch_seen_t batch_list[64]; /* the first 64 batches, in read order */
    size_t n_keys;
    row_seen_t *rows; /* by source line (single-source tests) */
    dl_seen_t *dls;   /* by source line */
    int64_t batches;
    int64_t rows_total;
    int64_t dead_letters;
    bool wrong_load;
} readback_t;

static readback_t *readback_new(void) {
    readback_t *rb = calloc(1, sizeof(*rb));
    cr_assert(rb);
    rb->rows = calloc(MAX_LINES, sizeof(*rb->rows));
    rb->dls = calloc(MAX_LINES, sizeof(*rb->dls));
    cr_assert(rb->rows && rb->dls);
    return rb;
}

static void readback_free(readback_t *rb) {
    free(rb->rows);
    free(rb->dls);
    free(rb);
}

static key_seen_t *key_slot(readback_t *rb, const char *key) {
    for (size_t i = 0; i < rb->n_keys; i++)
        if (strcmp(rb->keys[i].key, key) == 0) return &rb->keys[i];
    cr_assert_lt(rb->n_keys, MAX_KEYS);
    key_seen_t *ks = &rb->keys[rb->n_keys++];
    snprintf(ks->key, sizeof(ks->key), "%s", key);
    ks->max_seq = -1;
    ks->end_seq = -1;
    return ks;
}

static void take_batch(readback_t *rb, const mm_kafka_msg_t *msg, const char *load_id) {
    mm_observation_batch_t b;
    memset(&b, 0, sizeof(b));
    char errstr[512];
    cr_assert_eq(
        mm_avro_decode_observation_batch(msg->value, msg->value_len, &b, errstr, sizeof(errstr)),
        MM_OK, "decode: %s", errstr);
    cr_assert_eq(msg->key_len, strlen(b.partition_key), "Kafka key is not the partition key");
    cr_assert(memcmp(msg->key, b.partition_key, msg->key_len) == 0,
              "Kafka key is not the partition key");
    if (strcmp(b.load_id, load_id) != 0) rb->wrong_load = true;
    key_seen_t *ks = key_slot(rb, b.partition_key);
    ks->batches++;
    rb->batches++;
    cr_assert(b.batch_seq >= 0 && b.batch_seq < 256);
    ks->seq_seen[b.batch_seq]++;
    if (b.batch_seq > ks->max_seq) ks->max_seq = b.batch_seq;
    if (b.n_rows == 0) ks->empty_batch = true;
    if (b.end_of_load) {
        ks->end_of_load++;
        ks->end_seq = b.batch_seq;
        ks->load_rows = b.load_rows_for_key;
        ks->load_batches = b.load_batches_for_key;
    } else if (b.load_rows_for_key != -1 || b.load_batches_for_key != -1) {
        ks->bad_unflagged_counts = true;
    }
    if (rb->batches <= 64) {
        batch_seen_t *bs = &rb->batch_list[rb->batches - 1];
        snprintf(bs->source, sizeof(bs->source), "%s", b.source);
        bs->n_rows = b.n_rows;
        bs->end_of_load = b.end_of_load;
        for (size_t i = 0; i < b.n_rows; i++) {
            bs->target_sum += b.target[i];
            bs->promo_sum += b.columns[1].values[i];
        }
    }
    ks->rows += (int64_t)b.n_rows;
    rb->rows_total += (int64_t)b.n_rows;
    cr_assert_eq(b.n_columns, 2);
    cr_assert_str_eq(b.columns[0].name, "price");
    cr_assert_str_eq(b.columns[1].name, "promo");
    for (size_t i = 0; i < b.n_rows; i++) {
        int64_t line = b.line[i];
        cr_assert(line > 0 && line < MAX_LINES, "line %lld out of range", (long long)line);
        row_seen_t *r = &rb->rows[line];
        r->count++;
        snprintf(r->key, sizeof(r->key), "%s", b.partition_key);
        snprintf(r->source, sizeof(r->source), "%s", b.source);
        r->time_ms = b.time_ms[i];
        r->target = b.target[i];
        r->price = b.columns[0].values[i];
        r->promo = b.columns[1].values[i];
    }
    mm_observation_batch_clear(&b);
}

static void take_dead_letter(readback_t *rb, const mm_kafka_msg_t *msg) {
    mm_dead_letter_t dl;
    memset(&dl, 0, sizeof(dl));
    char errstr[512];
    cr_assert_eq(
        mm_avro_decode_dead_letter(msg->value, msg->value_len, &dl, errstr, sizeof(errstr)), MM_OK,
        "decode: %s", errstr);
    rb->dead_letters++;
    cr_assert(dl.source_line > 0 && dl.source_line < MAX_LINES);
    dl_seen_t *d = &rb->dls[dl.source_line];
    d->count++;
    snprintf(d->reason, sizeof(d->reason), "%s", dl.reason);
    snprintf(d->file, sizeof(d->file), "%s", dl.source_file ? dl.source_file : "");
    snprintf(d->original, sizeof(d->original), "%.*s", (int)dl.original_len,
             dl.original ? (const char *)dl.original : "");
    snprintf(d->error_code, sizeof(d->error_code), "%s", dl.error_code);
    snprintf(d->service, sizeof(d->service), "%s", dl.service);
    d->has_key = dl.partition_key != NULL;
    cr_assert_eq(dl.source_partition, -1);
    cr_assert_eq(dl.source_offset, -1);
    mm_dead_letter_clear(&dl);
}

/* Read @p topic from the beginning to its end. */
static void read_topic(const char *bootstrap, const char *topic, readback_t *rb,
                       const char *load_id) {
    char errstr[512];
    mm_kafka_reader_t *reader = mm_kafka_reader_new(bootstrap, topic, NULL, errstr, sizeof(errstr));
    cr_assert(reader, "reader %s: %s", topic, errstr);
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(READ_TIMEOUT_MS);
    mm_kafka_msg_t msg;
    mm_err_t rc;
    while ((rc = mm_kafka_reader_poll(reader, 200, &msg, errstr, sizeof(errstr))) !=
           MM_ERR_NOT_FOUND) {
        cr_assert(mm_mono_ms() < deadline, "reading %s never reached the end", topic);
        if (rc == MM_ERR_TIMEOUT) continue;
        cr_assert_eq(rc, MM_OK, "reader %s: %s", topic, errstr);
        if (strcmp(topic, MM_TOPIC_DEADLETTER) == 0)
            take_dead_letter(rb, &msg);
        else
            take_batch(rb, &msg, load_id);
    }
    mm_kafka_reader_destroy(reader);
}

/* Every key: batch_seq 0..n-1 once each, one flagged batch, the last, with matching counts. */
static void check_key_invariants(const readback_t *rb) {
    for (size_t i = 0; i < rb->n_keys; i++) {
        const key_seen_t *ks = &rb->keys[i];
        cr_assert_eq(ks->end_of_load, 1, "%s: %d end-of-load batches", ks->key, ks->end_of_load);
        cr_assert_eq(ks->end_seq, ks->max_seq, "%s: end-of-load batch %d is not the last (%d)",
                     ks->key, ks->end_seq, ks->max_seq);
        cr_assert_eq(ks->max_seq + 1, ks->batches, "%s: batch_seq has gaps", ks->key);
        for (int s = 0; s < ks->batches; s++)
            cr_assert_eq(ks->seq_seen[s], 1, "%s: batch_seq %d seen %d times", ks->key, s,
                         ks->seq_seen[s]);
        cr_assert_eq(ks->load_rows, ks->rows, "%s: load_rows_for_key %lld, rows %lld", ks->key,
                     (long long)ks->load_rows, (long long)ks->rows);
        cr_assert_eq(ks->load_batches, ks->batches, "%s: load_batches_for_key %d, batches %d",
                     ks->key, ks->load_batches, ks->batches);
        cr_assert_not(ks->empty_batch, "%s: an empty batch was produced", ks->key);
        cr_assert_not(ks->bad_unflagged_counts, "%s: unflagged batch with counts", ks->key);
    }
}

/* ------------------------------------------------------------ setup */

static mm_spec_t load_spec(void) {
    mm_spec_t spec;
    char errstr[512];
    cr_assert_eq(mm_spec_load_file(SALES_SPEC, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    return spec;
}

static mm_ingest_t *ingest_new(const char *bootstrap, const mm_spec_t *spec, const char *load_id,
                               int64_t batch_rows, int64_t max_buffered,
                               volatile sig_atomic_t *stop) {
    mm_ingest_config_t cfg = {
        .bootstrap = bootstrap,
        .spec = spec,
        .load_id = load_id,
        .batch_rows = batch_rows,
        .max_buffered_rows = max_buffered,
        .stop = stop,
    };
    char errstr[512];
    mm_ingest_t *ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
    cr_assert(ingest, "mm_ingest_new: %s", errstr);
    return ingest;
}

static int64_t day_ms(int y, int m, int d) {
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return (int64_t)timegm(&tm) * 1000;
}

/* ------------------------------------------------------------ tests */

typedef struct bad_row {
    int64_t line;
    const char *fragment;
    bool has_key;
} bad_row_t;

static const bad_row_t fixture_bad_rows[] = {
    {7, "empty key column \"item\"", false},
    {11, "unparsable time in column \"date\": \"2023-02-29\"", true},
    {14, "unparsable number in column \"sales\": \"lots\"", true},
    {17, "wrong column count: 5 fields, the header has 6", false},
    {20, "quote inside an unquoted field", false},
    {23, "unparsable number in column \"price\": \"cheap\"", true},
};

Test(ingest, every_good_row_lands_once_under_its_key_and_bad_rows_are_dead_lettered) {
    mmt_broker_t broker;
    mmt_broker_start(&broker, PARTITIONS);
    mm_spec_t spec = load_spec();
    mm_ingest_t *ingest = ingest_new(broker.bootstrap, &spec, "load-fixture", 4, 0, NULL);
    char errstr[1024];
    cr_assert_eq(mm_ingest_file(ingest, FIXTURE_CSV, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_ingest_finish(ingest, true, (int)mmt_timeout_ms(FLUSH_TIMEOUT_MS), errstr,
                                  sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(ingest, &stats);
    mm_ingest_destroy(ingest);

    /* counts add up */
    size_t n_bad = MM_ARRAY_SIZE(fixture_bad_rows);
    cr_assert_eq(stats.rows_read, 29, "rows_read %lld", (long long)stats.rows_read);
    cr_assert_eq(stats.rows_deadlettered, (int64_t)n_bad);
    cr_assert_eq(stats.rows_emitted, 29 - (int64_t)n_bad);
    cr_assert_eq(stats.rows_read, stats.rows_emitted + stats.rows_deadlettered);
    cr_assert_eq(stats.rows_buffered, 0);
    cr_assert_eq(stats.keys, 3);
    cr_assert_eq(stats.batches, 3 + 2 + 2, "10 rows -> 4+4+2, 8 -> 4+4, 5 -> 4+1");
    cr_assert_eq(stats.end_of_load_batches, 3);
    cr_assert_eq(stats.messages_failed, 0);
    cr_assert_eq(stats.messages_delivered, stats.batches + stats.rows_deadlettered);
    cr_assert_eq(mm_ingest_exit_status(MM_OK, &stats), MM_INGEST_EXIT_DEADLETTERS);

    readback_t *rb = readback_new();
    read_topic(broker.bootstrap, MM_TOPIC_OBSERVATIONS, rb, "load-fixture");
    read_topic(broker.bootstrap, MM_TOPIC_DEADLETTER, rb, "load-fixture");
    cr_assert_not(rb->wrong_load);
    cr_assert_eq(rb->batches, stats.batches);
    cr_assert_eq(rb->rows_total, stats.rows_emitted);
    cr_assert_eq(rb->dead_letters, stats.rows_deadlettered);
    cr_assert_eq(rb->n_keys, 3);
    check_key_invariants(rb);

    /* every good row exactly once, under the right key, with its values */
    FILE *f = fopen(FIXTURE_CSV, "r");
    cr_assert(f);
    char text[256];
    int64_t line = 0;
    int good = 0;
    while (fgets(text, sizeof(text), f)) {
        line++;
        bool bad = false;
        for (size_t i = 0; i < n_bad; i++) bad = bad || fixture_bad_rows[i].line == line;
        if (line == 1 || bad) {
            cr_assert_eq(rb->rows[line].count, 0, "line %lld was emitted", (long long)line);
            continue;
        }
        good++;
        const row_seen_t *r = &rb->rows[line];
        cr_assert_eq(r->count, 1, "line %lld emitted %d times", (long long)line, r->count);
        const char *want_key = strncmp(text, "1,1,", 4) == 0   ? "store=1/item=1"
                               : strncmp(text, "1,2,", 4) == 0 ? "store=1/item=2"
                                                               : "store=2/item=x%2Cy";
        cr_assert_str_eq(r->key, want_key, "line %lld", (long long)line);
        cr_assert_str_eq(r->source, FIXTURE_CSV);
        /* date: the field after the key columns */
        const char *date = strstr(text, ",2024-");
        cr_assert(date, "line %lld", (long long)line);
        int day = (date[9] - '0') * 10 + (date[10] - '0');
        cr_assert_eq(r->time_ms, day_ms(2024, 1, day), "line %lld", (long long)line);
        double want_sales = strtod(date + 12, NULL);
        cr_assert_float_eq(r->target, want_sales, 1e-9, "line %lld", (long long)line);
        if (strstr(text, ",,0")) /* the row with an empty price */
            cr_assert(isnan(r->price), "line %lld: empty price should be missing", (long long)line);
        else
            cr_assert(r->price > 1.0 && r->price < 3.5, "line %lld price %g", (long long)line,
                      r->price);
        cr_assert(r->promo == 0.0 || r->promo == 1.0);
    }
    fclose(f);
    cr_assert_eq(good, 23);

    /* bad rows: dead-lettered once with file, line, reason and the original bytes */
    for (size_t i = 0; i < n_bad; i++) {
        const dl_seen_t *d = &rb->dls[fixture_bad_rows[i].line];
        cr_assert_eq(d->count, 1, "line %lld dead-lettered %d times",
                     (long long)fixture_bad_rows[i].line, d->count);
        cr_assert(strstr(d->reason, fixture_bad_rows[i].fragment), "line %lld: reason '%s'",
                  (long long)fixture_bad_rows[i].line, d->reason);
        cr_assert_str_eq(d->file, FIXTURE_CSV);
        cr_assert_str_eq(d->service, "mm-ingest");
        cr_assert_str_eq(d->error_code, "MM_ERR_PARSE");
        cr_assert(strlen(d->original) > 10 && strchr(d->original, '\n') == NULL,
                  "line %lld: original '%s'", (long long)fixture_bad_rows[i].line, d->original);
        cr_assert_eq(d->has_key, fixture_bad_rows[i].has_key, "line %lld",
                     (long long)fixture_bad_rows[i].line);
    }
    cr_assert_str_eq(rb->dls[17].original, "3,7,2024-01-06,5,1.0");

    readback_free(rb);
    mm_spec_clear(&spec);
    mmt_broker_stop(&broker);
}

/* A CSV of @p keys x @p days rows, date-major (every key interleaved). */
static char *interleaved_csv(int keys, int days, size_t *len) {
    size_t cap = (size_t)keys * (size_t)days * 48 + 64;
    char *text = malloc(cap);
    cr_assert(text);
    size_t n = (size_t)snprintf(text, cap, "store,item,date,sales,price,promo\n");
    for (int d = 0; d < days; d++)
        for (int k = 0; k < keys; k++)
            n += (size_t)snprintf(text + n, cap - n, "%d,%d,2024-%02d-%02d,%d,1.5,0\n", k / 10,
                                  k % 10, 1 + d / 28, 1 + d % 28, d);
    *len = n;
    return text;
}

Test(ingest, bounded_memory_with_interleaved_keys_keeps_every_invariant) {
    mmt_broker_t broker;
    mmt_broker_start(&broker, PARTITIONS);
    mm_spec_t spec = load_spec();
    /* 40 keys x 60 days, at most ~1000 rows held: open batches go out early */
    mm_ingest_t *ingest = ingest_new(broker.bootstrap, &spec, "load-pressure", 50, 1000, NULL);
    size_t len;
    char *text = interleaved_csv(40, 60, &len);
    FILE *f = fmemopen(text, len, "r");
    cr_assert(f);
    char errstr[1024];
    cr_assert_eq(mm_ingest_stream(ingest, f, "interleaved.csv", errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    fclose(f);
    cr_assert_eq(mm_ingest_finish(ingest, true, (int)mmt_timeout_ms(FLUSH_TIMEOUT_MS), errstr,
                                  sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(ingest, &stats);
    mm_ingest_destroy(ingest);
    cr_assert_eq(stats.rows_read, 2400);
    cr_assert_eq(stats.rows_emitted, 2400);
    cr_assert_eq(stats.rows_deadlettered, 0);
    cr_assert_eq(stats.keys, 40);
    cr_assert_gt(stats.batches, 40 * 2, "memory pressure should have split batches early");
    cr_assert_eq(mm_ingest_exit_status(MM_OK, &stats), MM_INGEST_EXIT_OK);

    readback_t *rb = readback_new();
    read_topic(broker.bootstrap, MM_TOPIC_OBSERVATIONS, rb, "load-pressure");
    cr_assert_eq(rb->n_keys, 40);
    cr_assert_eq(rb->rows_total, 2400);
    check_key_invariants(rb);
    for (int64_t line = 2; line <= 2401; line++)
        cr_assert_eq(rb->rows[line].count, 1, "line %lld seen %d times", (long long)line,
                     rb->rows[line].count);
    readback_free(rb);
    free(text);
    mm_spec_clear(&spec);
    mmt_broker_stop(&broker);
}

Test(ingest, a_key_spanning_two_sources_gets_one_end_of_load_and_batches_never_mix_sources) {
    mmt_broker_t broker;
    mmt_broker_start(&broker, PARTITIONS);
    mm_spec_t spec = load_spec();
    mm_ingest_t *ingest = ingest_new(broker.bootstrap, &spec, "load-two", 100, 0, NULL);
    static const char first[] = "store,item,date,sales,price,promo\n"
                                "1,1,2024-01-01,1,2,0\n1,1,2024-01-02,2,2,0\n";
    /* other column order: mapping is by header name */
    static const char second[] = "date,promo,price,sales,item,store,extra\n"
                                 "2024-01-03,1,2,3,1,1,ignored\n2024-01-04,0,2,4,1,1,x\n";
    char errstr[1024];
    FILE *f = fmemopen((void *)first, strlen(first), "r");
    cr_assert_eq(mm_ingest_stream(ingest, f, "first.csv", errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    fclose(f);
    f = fmemopen((void *)second, strlen(second), "r");
    cr_assert_eq(mm_ingest_stream(ingest, f, "second.csv", errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    fclose(f);
    cr_assert_eq(mm_ingest_finish(ingest, true, (int)mmt_timeout_ms(FLUSH_TIMEOUT_MS), errstr,
                                  sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(ingest, &stats);
    mm_ingest_destroy(ingest);
    cr_assert_eq(stats.files, 2);
    cr_assert_eq(stats.rows_emitted, 4);
    cr_assert_eq(stats.keys, 1);
    cr_assert_eq(stats.batches, 2, "one batch per source");

    readback_t *rb = readback_new();
    read_topic(broker.bootstrap, MM_TOPIC_OBSERVATIONS, rb, "load-two");
    cr_assert_eq(rb->n_keys, 1);
    check_key_invariants(rb);
    cr_assert_eq(rb->keys[0].load_rows, 4);
    cr_assert_eq(rb->batches, 2);
    /* one key, one partition: read in produce order */
    const batch_seen_t *b0 = &rb->batch_list[0], *b1 = &rb->batch_list[1];
    cr_assert_str_eq(b0->source, "first.csv");
    cr_assert_eq(b0->n_rows, 2);
    cr_assert_float_eq(b0->target_sum, 1 + 2, 1e-9);
    cr_assert_not(b0->end_of_load);
    cr_assert_str_eq(b1->source, "second.csv");
    cr_assert_eq(b1->n_rows, 2);
    cr_assert_float_eq(b1->target_sum, 3 + 4, 1e-9, "columns mapped by header name");
    cr_assert_float_eq(b1->promo_sum, 1, 1e-9, "columns mapped by header name");
    cr_assert(b1->end_of_load);
    readback_free(rb);
    mm_spec_clear(&spec);
    mmt_broker_stop(&broker);
}

Test(ingest, interrupted_load_flushes_what_was_read_without_end_of_load) {
    mmt_broker_t broker;
    mmt_broker_start(&broker, PARTITIONS);
    mm_spec_t spec = load_spec();
    volatile sig_atomic_t stop = 1; /* raised before the load: reading stops at the first check */
    mm_ingest_t *ingest = ingest_new(broker.bootstrap, &spec, "load-stop", 100, 0, &stop);
    size_t len;
    char *text = interleaved_csv(10, 300, &len);
    FILE *f = fmemopen(text, len, "r");
    char errstr[1024];
    mm_err_t err = mm_ingest_stream(ingest, f, "big.csv", errstr, sizeof(errstr));
    fclose(f);
    cr_assert_eq(err, MM_ERR_SHUTDOWN, "%s", errstr);
    cr_assert_eq(mm_ingest_finish(ingest, false, (int)mmt_timeout_ms(FLUSH_TIMEOUT_MS), errstr,
                                  sizeof(errstr)),
                 MM_OK, "%s", errstr);
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(ingest, &stats);
    mm_ingest_destroy(ingest);
    cr_assert_gt(stats.rows_read, 0);
    cr_assert_lt(stats.rows_read, 3000, "reading should stop early");
    cr_assert_eq(stats.rows_read, stats.rows_emitted + stats.rows_deadlettered);
    cr_assert_eq(stats.end_of_load_batches, 0);
    cr_assert_eq(mm_ingest_exit_status(err, &stats), MM_INGEST_EXIT_INTERRUPTED);

    readback_t *rb = readback_new();
    read_topic(broker.bootstrap, MM_TOPIC_OBSERVATIONS, rb, "load-stop");
    cr_assert_eq(rb->rows_total, stats.rows_emitted);
    for (size_t i = 0; i < rb->n_keys; i++)
        cr_assert_eq(rb->keys[i].end_of_load, 0, "%s flagged end-of-load", rb->keys[i].key);
    readback_free(rb);
    free(text);
    mm_spec_clear(&spec);
    mmt_broker_stop(&broker);
}

/* ------------------------------------------------------------ pacing */

#define PACE_GROUP  "g-paced"
#define PACE_BUDGET 65536

/* One load on its own thread (the only thread touching the mm_ingest_t until joined). */
typedef struct paced_load {
    mm_ingest_t *ingest;
    char *csv;
    size_t csv_len;
    mm_err_t stream_err;
    mm_err_t finish_err;
    char errstr[1024];
    atomic_bool done;
} paced_load_t;

static void *paced_load_run(void *arg) {
    paced_load_t *load = arg;
    FILE *f = fmemopen(load->csv, load->csv_len, "r");
    load->stream_err =
        f ? mm_ingest_stream(load->ingest, f, "paced.csv", load->errstr, sizeof(load->errstr))
          : MM_ERR_IO;
    if (f) fclose(f);
    if (load->stream_err == MM_OK)
        load->finish_err =
            mm_ingest_finish(load->ingest, true, (int)mmt_timeout_ms(FLUSH_TIMEOUT_MS),
                             load->errstr, sizeof(load->errstr));
    atomic_store(&load->done, true);
    return NULL;
}

static int64_t lag_total(mm_kafka_lag_probe_t *probe, int64_t *lag) {
    char errstr[512];
    mm_err_t rc = mm_kafka_lag_probe_read(probe, lag, PARTITIONS, NULL, (int)mmt_timeout_ms(10000),
                                          errstr, sizeof(errstr));
    cr_assert_eq(rc, MM_OK, "lag probe: %s", errstr);
    int64_t total = 0;
    for (int p = 0; p < PARTITIONS; p++) total += lag[p];
    return total;
}

Test(ingest, pacing_holds_the_load_until_the_pace_group_consumes_and_commits) {
    enum { KEYS = 40, DAYS = 300, ROWS = KEYS * DAYS };
    mmt_broker_t broker;
    mmt_broker_start(&broker, PARTITIONS);
    mm_spec_t spec = load_spec();

    /* Premise: some partition gets far more than the budget (~30 encoded bytes a row). */
    int keys_on[PARTITIONS] = {0}, most = 0;
    for (int k = 0; k < KEYS; k++) {
        char key[64];
        int len = snprintf(key, sizeof(key), "store=%d/item=%d", k / 10, k % 10);
        int32_t p = mm_kafka_partition_for_key(key, (size_t)len, PARTITIONS);
        if (++keys_on[p] > most) most = keys_on[p];
    }
    cr_assert_geq(most * DAYS * 30, 2 * PACE_BUDGET, "test data too small to need pacing");

    mm_ingest_config_t cfg = {
        .bootstrap = broker.bootstrap,
        .spec = &spec,
        .load_id = "load-paced",
        .batch_rows = 50,
        .pace_group = PACE_GROUP,
        .pace_max_bytes = PACE_BUDGET,
    };
    static paced_load_t load;
    load.ingest = mm_ingest_new(&cfg, load.errstr, sizeof(load.errstr));
    cr_assert(load.ingest, "mm_ingest_new: %s", load.errstr);
    load.csv = interleaved_csv(KEYS, DAYS, &load.csv_len);
    atomic_init(&load.done, false);
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, paced_load_run, &load), 0);

    /* No member, no commit: the load must stall. Wait until the topic stops growing. */
    char errstr[512];
    mm_kafka_lag_probe_t *probe = mm_kafka_lag_probe_new(
        broker.bootstrap, NULL, PACE_GROUP, MM_TOPIC_OBSERVATIONS, errstr, sizeof(errstr));
    cr_assert(probe, "%s", errstr);
    int64_t stalled[PARTITIONS];
    int64_t last = -1;
    int steady = 0;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(60000);
    while (steady < 10) {
        cr_assert(mm_mono_ms() < deadline, "the load never settled");
        cr_assert_not(atomic_load(&load.done),
                      "the load finished although its pace group consumed nothing (%s)",
                      load.errstr);
        mm_sleep_ms(200, NULL);
        int64_t total = lag_total(probe, stalled);
        steady = total > 0 && total == last ? steady + 1 : 0;
        last = total;
    }
    cr_assert_not(atomic_load(&load.done), "the load finished without its pace group");

    /* Now a member of the pace group consumes, stores and commits as it goes. */
    const char *topics[] = {MM_TOPIC_OBSERVATIONS};
    /* Its stored offsets committed every 100 ms by librdkafka's timer. */
    mm_kv_t items[] = {{"session.timeout.ms", "6000"},
                       {"heartbeat.interval.ms", "500"},
                       {"auto.commit.interval.ms", "100"}};
    mm_kv_list_t props = {items, MM_ARRAY_SIZE(items)};
    mm_kafka_consumer_t *consumer = mm_kafka_consumer_new(broker.bootstrap, PACE_GROUP, topics, 1,
                                                          &props, NULL, errstr, sizeof(errstr));
    cr_assert(consumer, "%s", errstr);
    int64_t stalled_bytes[PARTITIONS] = {0};
    int64_t batches = 0, rows = 0, ends = 0, expected_batches = -1;
    size_t largest = 0;
    deadline = mm_mono_ms() + mmt_timeout_ms(120000);
    while (expected_batches < 0 || batches < expected_batches) {
        cr_assert(mm_mono_ms() < deadline, "consumed %lld batches, %lld rows; load done: %d",
                  (long long)batches, (long long)rows, (int)atomic_load(&load.done));
        mm_kafka_msg_t msg;
        mm_err_t rc = mm_kafka_consumer_poll(consumer, 100, &msg, errstr, sizeof(errstr));
        if (rc == MM_OK) {
            mm_observation_batch_t b;
            memset(&b, 0, sizeof(b));
            cr_assert_eq(mm_avro_decode_observation_batch(msg.value, msg.value_len, &b, errstr,
                                                          sizeof(errstr)),
                         MM_OK, "decode: %s", errstr);
            batches++;
            rows += (int64_t)b.n_rows;
            ends += b.end_of_load ? 1 : 0;
            mm_observation_batch_clear(&b);
            cr_assert(msg.partition >= 0 && msg.partition < PARTITIONS);
            if (msg.offset < stalled[msg.partition])
                stalled_bytes[msg.partition] += (int64_t)msg.value_len;
            if (msg.value_len > largest) largest = msg.value_len;
            cr_assert_eq(
                mm_kafka_consumer_store_offset(consumer, msg.topic, msg.partition, msg.offset + 1),
                MM_OK);
        } else {
            cr_assert_eq(rc, MM_ERR_TIMEOUT, "consumer: %s", errstr);
        }
        if (expected_batches < 0 && atomic_load(&load.done)) {
            cr_assert_eq(pthread_join(thread, NULL), 0);
            mm_ingest_stats_t stats;
            mm_ingest_get_stats(load.ingest, &stats);
            expected_batches = stats.batches;
        }
    }
    mm_kafka_consumer_close(consumer);
    mm_kafka_lag_probe_destroy(probe);

    cr_assert_eq(load.stream_err, MM_OK, "%s", load.errstr);
    cr_assert_eq(load.finish_err, MM_OK, "%s", load.errstr);
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(load.ingest, &stats);
    cr_assert_eq(stats.rows_read, ROWS);
    cr_assert_eq(stats.rows_emitted, ROWS);
    cr_assert_eq(stats.rows_buffered, 0);
    cr_assert_eq(stats.messages_failed, 0);
    cr_assert_gt(stats.paced_seconds, 0.0, "the load never waited");
    cr_assert_leq(stats.paced_seconds, stats.seconds);
    cr_assert_eq(rows, ROWS, "the pace group got %lld of %d rows", (long long)rows, ROWS);
    cr_assert_eq(ends, KEYS, "%lld end-of-load batches", (long long)ends);

    /* While stalled, no partition held more than the budget (the estimate uses the average
     * batch size, so allow one batch), and some partition was held at it. */
    int64_t fullest = 0;
    for (int p = 0; p < PARTITIONS; p++) {
        cr_assert_leq(stalled_bytes[p], PACE_BUDGET + (int64_t)largest,
                      "partition %d held %lld unconsumed bytes", p, (long long)stalled_bytes[p]);
        if (stalled_bytes[p] > fullest) fullest = stalled_bytes[p];
    }
    cr_assert_gt(fullest + 2 * (int64_t)largest, PACE_BUDGET,
                 "the fullest partition held only %lld bytes", (long long)fullest);

    mm_ingest_destroy(load.ingest);
    free(load.csv);
    mm_spec_clear(&spec);
    mmt_broker_stop(&broker);
}

Test(ingest, stop_raised_while_paced_ends_the_wait_and_counts_held_rows_as_unsent) {
    mmt_broker_t broker;
    mmt_broker_start(&broker, PARTITIONS);
    mm_spec_t spec = load_spec();
    /* Raised once the load has stalled, as SIGINT/SIGTERM would. */
    static volatile sig_atomic_t stop;
    stop = 0;
    mm_ingest_config_t cfg = {
        .bootstrap = broker.bootstrap,
        .spec = &spec,
        .load_id = "load-paced-stop",
        .batch_rows = 50,
        .pace_group = PACE_GROUP,
        .pace_max_bytes = PACE_BUDGET,
        .stop = &stop,
    };
    static paced_load_t load;
    load.ingest = mm_ingest_new(&cfg, load.errstr, sizeof(load.errstr));
    cr_assert(load.ingest, "mm_ingest_new: %s", load.errstr);
    load.csv = interleaved_csv(40, 300, &load.csv_len);
    atomic_init(&load.done, false);
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, paced_load_run, &load), 0);

    char errstr[512];
    mm_kafka_lag_probe_t *probe = mm_kafka_lag_probe_new(
        broker.bootstrap, NULL, PACE_GROUP, MM_TOPIC_OBSERVATIONS, errstr, sizeof(errstr));
    cr_assert(probe, "%s", errstr);
    int64_t lag[PARTITIONS];
    int64_t last = -1;
    int steady = 0;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(60000);
    while (steady < 5) {
        cr_assert(mm_mono_ms() < deadline, "the load never settled");
        cr_assert_not(atomic_load(&load.done), "the load finished without its pace group");
        mm_sleep_ms(200, NULL);
        int64_t total = lag_total(probe, lag);
        steady = total > 0 && total == last ? steady + 1 : 0;
        last = total;
    }
    mm_kafka_lag_probe_destroy(probe);
    stop = 1;
    deadline = mm_mono_ms() + mmt_timeout_ms(30000);
    while (!atomic_load(&load.done)) {
        cr_assert(mm_mono_ms() < deadline, "the paced load ignored the stop flag");
        mm_sleep_ms(50, NULL);
    }
    cr_assert_eq(pthread_join(thread, NULL), 0);
    cr_assert_eq(load.stream_err, MM_ERR_SHUTDOWN, "%s", load.errstr);
    cr_assert(strstr(load.errstr, PACE_GROUP), "%s", load.errstr);
    /* An interrupted load claims no completeness: what pacing held back stays unsent. */
    cr_assert_eq(mm_ingest_finish(load.ingest, false, (int)mmt_timeout_ms(FLUSH_TIMEOUT_MS),
                                  load.errstr, sizeof(load.errstr)),
                 MM_ERR_SHUTDOWN, "%s", load.errstr);
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(load.ingest, &stats);
    cr_assert_gt(stats.rows_buffered, 0);
    cr_assert_eq(stats.rows_read,
                 stats.rows_emitted + stats.rows_deadlettered + stats.rows_buffered,
                 "read %lld, emitted %lld, unsent %lld", (long long)stats.rows_read,
                 (long long)stats.rows_emitted, (long long)stats.rows_buffered);
    cr_assert_eq(stats.end_of_load_batches, 0);
    cr_assert_eq(stats.messages_failed, 0);
    cr_assert_eq(mm_ingest_exit_status(load.stream_err, &stats), MM_INGEST_EXIT_INTERRUPTED);
    mm_ingest_destroy(load.ingest);
    free(load.csv);
    mm_spec_clear(&spec);
    mmt_broker_stop(&broker);
}

/* ------------------------------------------------------------ no broker listening */

Test(ingest_unreachable_broker, undeliverable_messages_make_finish_fail_with_delivery_status) {
    mm_spec_t spec = load_spec();
    mm_kv_t items[] = {{"message.timeout.ms", "1500"}};
    mm_kv_list_t props = {items, 1};
    mm_ingest_config_t cfg = {
        .bootstrap = DEAD_BOOTSTRAP, .kafka = &props, .spec = &spec, .load_id = "load-dead"};
    char errstr[1024];
    mm_ingest_t *ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
    cr_assert(ingest, "%s", errstr);
    static const char text[] = "store,item,date,sales,price,promo\n1,1,2024-01-01,1,2,0\n";
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    cr_assert_eq(mm_ingest_stream(ingest, f, "one.csv", errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    fclose(f);
    mm_err_t err =
        mm_ingest_finish(ingest, true, (int)mmt_timeout_ms(20000), errstr, sizeof(errstr));
    cr_assert_neq(err, MM_OK);
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(ingest, &stats);
    cr_assert_eq(stats.messages_failed, 1, "%s", errstr);
    cr_assert_eq(stats.rows_failed, 1);
    cr_assert(strstr(errstr, "not delivered"), "%s", errstr);
    cr_assert_eq(mm_ingest_exit_status(err, &stats), MM_INGEST_EXIT_DELIVERY);
    mm_ingest_destroy(ingest);
    mm_spec_clear(&spec);
}
