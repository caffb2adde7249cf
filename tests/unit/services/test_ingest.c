/*
 * test_ingest.c - mm-ingest's logic (services/ingest/) without a broker:
 * records go to a sink (mm_ingest_config_t.sink) that decodes and keeps
 * them, so each test sees exactly what would have been produced, in order.
 *
 * The main fixture is tests/fixtures/csv/ingest_good_and_bad_rows/input.csv
 * (also a CSV reader fixture): three interleaved keys (10, 8 and 5 rows, one
 * key value quoted with a comma) and six bad rows. With batch_rows = 4 the
 * key with 8 rows ends on a full batch, which exercises the hold-back rule.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "ingest.h"
#include "mm/avro.h"
#include "mm/fs.h"
#include "mm/kafka.h"
#include "mm/records.h"
#include "mm/spec.h"
#include "mm/util.h"
#include "support.h"

#define FIXTURE_CSV  MM_FIXTURES_DIR "/csv/ingest_good_and_bad_rows/input.csv"
#define SALES_SPEC   MM_SOURCE_DIR "/tools/datagen/specs/sales.json"
#define MAX_RECORDS  4096
#define FIXTURE_ROWS 29
#define KEY_1_1      "store=1/item=1"
#define KEY_1_2      "store=1/item=2"
#define KEY_2_XY     "store=2/item=x%2Cy"

/* ------------------------------------------------------------ the sink */

typedef struct produced {
    bool dead_letter;
    size_t bytes; /* encoded size */
    char key[256];
    mm_observation_batch_t batch; /* !dead_letter */
    mm_dead_letter_t dl;          /* dead_letter */
} produced_t;

typedef struct capture {
    produced_t *records;
    size_t n;
    int fail_every; /* > 0: every fail_every-th record is reported undelivered */
} capture_t;

static mm_err_t capture_sink(void *opaque, const char *topic, const char *key, size_t key_len,
                             const void *value, size_t value_len, char *reason,
                             size_t reason_size) {
    capture_t *cap = opaque;
    cr_assert_lt(cap->n, MAX_RECORDS);
    produced_t *p = &cap->records[cap->n++];
    p->bytes = value_len;
    snprintf(p->key, sizeof(p->key), "%.*s", (int)key_len, key ? key : "");
    char errstr[512];
    if (strcmp(topic, MM_TOPIC_DEADLETTER) == 0) {
        p->dead_letter = true;
        cr_assert_eq(mm_avro_decode_dead_letter(value, value_len, &p->dl, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
    } else {
        cr_assert_str_eq(topic, MM_TOPIC_OBSERVATIONS);
        cr_assert_eq(
            mm_avro_decode_observation_batch(value, value_len, &p->batch, errstr, sizeof(errstr)),
            MM_OK, "%s", errstr);
        cr_assert_str_eq(p->key, p->batch.partition_key, "the Kafka key is the partition key");
    }
    if (cap->fail_every > 0 && cap->n % (size_t)cap->fail_every == 0) {
        snprintf(reason, reason_size, "broker said no");
        return MM_ERR_KAFKA;
    }
    return MM_OK;
}

static capture_t *capture_new(void) {
    capture_t *cap = calloc(1, sizeof(*cap));
    cr_assert_not_null(cap);
    cap->records = calloc(MAX_RECORDS, sizeof(*cap->records));
    cr_assert_not_null(cap->records);
    return cap;
}

static void capture_free(capture_t *cap) {
    for (size_t i = 0; i < cap->n; i++) {
        if (cap->records[i].dead_letter)
            mm_dead_letter_clear(&cap->records[i].dl);
        else
            mm_observation_batch_clear(&cap->records[i].batch);
    }
    free(cap->records);
    free(cap);
}

/* ------------------------------------------------------------ set-up */

typedef struct load {
    mm_spec_t spec;
    capture_t *cap;
    mm_ingest_t *ingest;
    mm_ingest_stats_t stats;
} load_t;

static void load_start(load_t *load, int64_t batch_rows, int64_t batch_bytes,
                       int64_t max_buffered) {
    memset(load, 0, sizeof(*load));
    char errstr[1024];
    cr_assert_eq(mm_spec_load_file(SALES_SPEC, &load->spec, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    load->cap = capture_new();
    mm_ingest_config_t cfg = {
        .spec = &load->spec,
        .load_id = "load-unit",
        .batch_rows = batch_rows,
        .batch_bytes = batch_bytes,
        .max_buffered_rows = max_buffered,
        .sink = capture_sink,
        .sink_opaque = load->cap,
    };
    load->ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
    cr_assert_not_null(load->ingest, "mm_ingest_new: %s", errstr);
}

static void load_text(load_t *load, const char *text, const char *source) {
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    cr_assert_not_null(f);
    char errstr[1024];
    cr_assert_eq(mm_ingest_stream(load->ingest, f, source, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    fclose(f);
}

static mm_err_t load_finish(load_t *load, bool complete, char *errstr, size_t errstr_size) {
    mm_err_t err = mm_ingest_finish(load->ingest, complete, 1000, errstr, errstr_size);
    mm_ingest_get_stats(load->ingest, &load->stats);
    return err;
}

static void load_end(load_t *load) {
    mm_ingest_destroy(load->ingest);
    capture_free(load->cap);
    mm_spec_clear(&load->spec);
}

static void load_fixture(load_t *load, int64_t batch_rows) {
    load_start(load, batch_rows, 0, 0);
    char errstr[1024];
    cr_assert_eq(mm_ingest_file(load->ingest, FIXTURE_CSV, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_assert_eq(load_finish(load, true, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
}

static int64_t day_ms(int y, int m, int d) {
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return (int64_t)timegm(&tm) * 1000;
}

/* The row of source line @p line, wherever it was produced; NULL if not produced. */
static const mm_observation_batch_t *find_line(const capture_t *cap, int64_t line, size_t *row) {
    const mm_observation_batch_t *found = NULL;
    for (size_t i = 0; i < cap->n; i++) {
        if (cap->records[i].dead_letter) continue;
        const mm_observation_batch_t *b = &cap->records[i].batch;
        for (size_t r = 0; r < b->n_rows; r++) {
            if (b->line[r] != line) continue;
            cr_assert_null(found, "line %lld produced twice", (long long)line);
            found = b;
            *row = r;
        }
    }
    return found;
}

static const mm_dead_letter_t *find_dead_letter(const capture_t *cap, int64_t line) {
    for (size_t i = 0; i < cap->n; i++)
        if (cap->records[i].dead_letter && cap->records[i].dl.source_line == line)
            return &cap->records[i].dl;
    return NULL;
}

/* Batch sizes of @p key in produce order, and how many were flagged end_of_load. */
static size_t key_batches(const capture_t *cap, const char *key, size_t *sizes, size_t max,
                          int *flagged) {
    size_t n = 0;
    *flagged = 0;
    for (size_t i = 0; i < cap->n; i++) {
        const produced_t *p = &cap->records[i];
        if (p->dead_letter || strcmp(p->key, key) != 0) continue;
        cr_assert_eq(p->batch.batch_seq, (int32_t)n, "%s: batch_seq out of order", key);
        if (n < max) sizes[n] = p->batch.n_rows;
        if (p->batch.end_of_load) (*flagged)++;
        n++;
    }
    return n;
}

/* Every key: one flagged batch, last, with the counts; no empty batch; unflagged carry -1. */
static void check_key_invariants(const capture_t *cap) {
    for (size_t i = 0; i < cap->n; i++) {
        const produced_t *p = &cap->records[i];
        if (p->dead_letter) continue;
        const mm_observation_batch_t *b = &p->batch;
        cr_assert_gt(b->n_rows, 0, "%s: empty batch", p->key);
        if (!b->end_of_load) {
            cr_assert_eq(b->load_rows_for_key, -1);
            cr_assert_eq(b->load_batches_for_key, -1);
            continue;
        }
        int64_t rows = 0;
        int32_t batches = 0;
        for (size_t j = 0; j <= i; j++) {
            const produced_t *q = &cap->records[j];
            if (q->dead_letter || strcmp(q->key, p->key) != 0) continue;
            rows += (int64_t)q->batch.n_rows;
            batches++;
        }
        cr_assert_eq(b->load_rows_for_key, rows, "%s", p->key);
        cr_assert_eq(b->load_batches_for_key, batches, "%s", p->key);
        for (size_t j = i + 1; j < cap->n; j++)
            cr_assert(cap->records[j].dead_letter || strcmp(cap->records[j].key, p->key) != 0,
                      "%s: a batch after its end-of-load batch", p->key);
    }
}

/* ------------------------------------------------------------ rows */

Test(ingest, good_rows_are_mapped_by_the_spec_columns_under_their_partition_key) {
    load_t load;
    load_fixture(&load, 4);
    size_t r;
    const mm_observation_batch_t *b = find_line(load.cap, 4, &r); /* 2,"x,y",2024-01-01,21,1.25,0 */
    cr_assert_not_null(b);
    cr_assert_str_eq(b->partition_key, KEY_2_XY, "values are percent-encoded in the key");
    cr_assert_str_eq(b->dataset, "sales");
    cr_assert_str_eq(b->spec_hash, load.spec.hash);
    cr_assert_str_eq(b->load_id, "load-unit");
    cr_assert_str_eq(b->source, FIXTURE_CSV);
    cr_assert_eq(b->time_ms[r], day_ms(2024, 1, 1));
    cr_assert_float_eq(b->target[r], 21.0, 0);
    cr_assert_eq(b->n_columns, 2);
    cr_assert_str_eq(b->columns[0].name, "price");
    cr_assert_str_eq(b->columns[1].name, "promo");
    cr_assert_float_eq(b->columns[0].values[r], 1.25, 0);
    cr_assert_float_eq(b->columns[1].values[r], 0.0, 0);

    b = find_line(load.cap, 12, &r); /* 2,"x,y",2024-01-03,23,,0: an empty price */
    cr_assert_not_null(b);
    cr_assert(isnan(b->columns[0].values[r]), "an empty cell is missing, not zero");
    cr_assert_float_eq(b->target[r], 23.0, 0);

    b = find_line(load.cap, 3, &r); /* 1,2,2024-01-01,11,3.00,1 */
    cr_assert_not_null(b);
    cr_assert_str_eq(b->partition_key, KEY_1_2);
    cr_assert_float_eq(b->columns[1].values[r], 1.0, 0);
    cr_assert_null(find_line(load.cap, 1, &r), "the header is not a row");
    load_end(&load);
}

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

Test(ingest, bad_rows_are_dead_lettered_with_file_line_reason_and_original_bytes) {
    load_t load;
    load_fixture(&load, 4);
    for (size_t i = 0; i < MM_ARRAY_SIZE(fixture_bad_rows); i++) {
        const bad_row_t *want = &fixture_bad_rows[i];
        size_t r;
        cr_assert_null(find_line(load.cap, want->line, &r), "line %lld was emitted",
                       (long long)want->line);
        const mm_dead_letter_t *dl = find_dead_letter(load.cap, want->line);
        cr_assert_not_null(dl, "line %lld not dead-lettered", (long long)want->line);
        cr_assert(strstr(dl->reason, want->fragment), "line %lld: reason '%s'",
                  (long long)want->line, dl->reason);
        cr_assert_str_eq(dl->source_file, FIXTURE_CSV);
        cr_assert_str_eq(dl->service, "mm-ingest");
        cr_assert_str_eq(dl->error_code, "MM_ERR_PARSE");
        cr_assert_eq(dl->partition_key != NULL, want->has_key, "line %lld", (long long)want->line);
        cr_assert_eq(dl->source_partition, -1);
        cr_assert_eq(dl->source_offset, -1);
    }
    const mm_dead_letter_t *dl = find_dead_letter(load.cap, 17);
    cr_assert_eq(dl->original_len, strlen("3,7,2024-01-06,5,1.0"));
    cr_assert(memcmp(dl->original, "3,7,2024-01-06,5,1.0", dl->original_len) == 0);
    dl = find_dead_letter(load.cap, 11);
    cr_assert_str_eq(dl->partition_key, "store=3/item=7");
    load_end(&load);
}

Test(ingest, label_of_a_classify_spec_must_be_zero_or_one) {
    static const char spec_text[] =
        "{\"name\":\"c\",\"task\":\"classify\",\"key\":[\"m\"],\"time\":{\"column\":\"t\","
        "\"format\":\"%Y-%m-%d\",\"frequency\":\"day\"},\"target\":{\"column\":\"y\"},"
        "\"features\":{\"exogenous\":[\"v\"]},\"algorithms\":[\"logistic\"]}";
    mm_spec_t spec;
    char errstr[1024];
    cr_assert_eq(mm_spec_parse(spec_text, strlen(spec_text), "c", &spec, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    capture_t *cap = capture_new();
    mm_ingest_config_t cfg = {
        .spec = &spec, .load_id = "l", .sink = capture_sink, .sink_opaque = cap};
    mm_ingest_t *ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
    cr_assert_not_null(ingest, "%s", errstr);
    static const char text[] =
        "m,t,y,v\na,2024-01-01,1,0.5\na,2024-01-02,2,0.5\na,2024-01-03,,0.5\n";
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    cr_assert_eq(mm_ingest_stream(ingest, f, "c.csv", errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    fclose(f);
    cr_assert_eq(mm_ingest_finish(ingest, true, 1000, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    const mm_dead_letter_t *dl = find_dead_letter(cap, 3);
    cr_assert_not_null(dl);
    cr_assert(strstr(dl->reason, "label column \"y\" must be 0 or 1: \"2\""), "%s", dl->reason);
    size_t r;
    cr_assert_not_null(find_line(cap, 4, &r), "a missing label is a row (to be scored)");
    mm_ingest_destroy(ingest);
    capture_free(cap);
    mm_spec_clear(&spec);
}

/* History, then planned rows (empty target, planned price and promotion), then
 * bad planned rows: a bad time, a wrong column count, an unparsable price,
 * and a target that is not empty but not a number either. */
static const char planned_csv[] = "store,item,date,sales,price,promo\n" /* line 1 */
                                  "1,1,2024-01-01,10,2.50,0\n"          /* 2 */
                                  "1,1,2024-01-02,12,2.50,0\n"          /* 3 */
                                  "1,1,2024-01-03,,2.00,1\n"            /* 4: planned */
                                  "1,1,2024-01-04, ,2.00,1\n"           /* 5: planned, blank */
                                  "1,1,2024-01-05,,2.25,0\n"            /* 6: planned */
                                  "1,1,2024-01-3x,,2.00,1\n"            /* 7: bad time */
                                  "1,1,2024-01-06,,2.00\n"              /* 8: a column short */
                                  "1,1,2024-01-07,,cheap,1\n"           /* 9: bad price */
                                  "1,1,2024-01-08,soon,2.00,1\n";       /* 10: bad target */

Test(ingest, planned_rows_with_an_empty_target_are_rows_with_a_missing_target) {
    load_t load;
    load_start(&load, 100, 0, 0);
    load_text(&load, planned_csv, "planned.csv");
    char errstr[1024];
    cr_assert_eq(load_finish(&load, true, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    static const struct {
        int64_t line;
        int day;
        double price, promo;
    } planned[] = {{4, 3, 2.00, 1}, {5, 4, 2.00, 1}, {6, 5, 2.25, 0}};
    for (size_t i = 0; i < MM_ARRAY_SIZE(planned); i++) {
        size_t r;
        const mm_observation_batch_t *b = find_line(load.cap, planned[i].line, &r);
        cr_assert_not_null(b, "planned line %lld was not ingested", (long long)planned[i].line);
        cr_assert_str_eq(b->partition_key, KEY_1_1);
        cr_assert_eq(b->time_ms[r], day_ms(2024, 1, planned[i].day));
        cr_assert(isnan(b->target[r]), "line %lld: an empty target is missing",
                  (long long)planned[i].line);
        cr_assert_float_eq(b->columns[0].values[r], planned[i].price, 0);
        cr_assert_float_eq(b->columns[1].values[r], planned[i].promo, 0);
    }
    size_t r;
    cr_assert_float_eq(find_line(load.cap, 3, &r)->target[r], 12.0, 0);
    cr_assert_eq(load.stats.rows_emitted, 5, "two observed and three planned rows");
    cr_assert_eq(load.stats.rows_deadlettered, 4);
    check_key_invariants(load.cap);
    load_end(&load);
}

Test(ingest, a_bad_planned_row_is_dead_lettered_like_any_bad_row) {
    load_t load;
    load_start(&load, 100, 0, 0);
    load_text(&load, planned_csv, "planned.csv");
    char errstr[1024];
    cr_assert_eq(load_finish(&load, true, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    static const bad_row_t bad[] = {
        {7, "unparsable time in column \"date\": \"2024-01-3x\"", true},
        {8, "wrong column count: 5 fields, the header has 6", false},
        {9, "unparsable number in column \"price\": \"cheap\"", true},
        {10, "unparsable number in column \"sales\": \"soon\"", true},
    };
    for (size_t i = 0; i < MM_ARRAY_SIZE(bad); i++) {
        size_t r;
        cr_assert_null(find_line(load.cap, bad[i].line, &r), "line %lld was emitted",
                       (long long)bad[i].line);
        const mm_dead_letter_t *dl = find_dead_letter(load.cap, bad[i].line);
        cr_assert_not_null(dl, "line %lld not dead-lettered", (long long)bad[i].line);
        cr_assert(strstr(dl->reason, bad[i].fragment), "line %lld: reason '%s'",
                  (long long)bad[i].line, dl->reason);
        cr_assert_str_eq(dl->source_file, "planned.csv");
        cr_assert_eq(dl->partition_key != NULL, bad[i].has_key, "line %lld",
                     (long long)bad[i].line);
    }
    load_end(&load);
}

/* ------------------------------------------------------------ keys and batches */

Test(ingest, rows_are_grouped_by_key_and_split_by_batch_rows_with_a_never_empty_last_batch) {
    load_t load;
    load_fixture(&load, 4);
    size_t sizes[8];
    int flagged;
    cr_assert_eq(key_batches(load.cap, KEY_1_1, sizes, 8, &flagged), 3);
    cr_assert(sizes[0] == 4 && sizes[1] == 4 && sizes[2] == 2, "10 rows -> 4+4+2");
    cr_assert_eq(flagged, 1);
    /* 8 rows end on a full batch: it is held back and becomes the flagged one. */
    cr_assert_eq(key_batches(load.cap, KEY_1_2, sizes, 8, &flagged), 2);
    cr_assert(sizes[0] == 4 && sizes[1] == 4, "8 rows -> 4+4");
    cr_assert_eq(flagged, 1);
    cr_assert_eq(key_batches(load.cap, KEY_2_XY, sizes, 8, &flagged), 2);
    cr_assert(sizes[0] == 4 && sizes[1] == 1, "5 rows -> 4+1");
    check_key_invariants(load.cap);
    cr_assert_eq(load.stats.batches, 7);
    cr_assert_eq(load.stats.end_of_load_batches, 3);
    cr_assert_eq(load.stats.keys, 3);
    load_end(&load);
}

Test(ingest, counts_add_up_and_every_message_is_delivered) {
    load_t load;
    load_fixture(&load, 4);
    size_t n_bad = MM_ARRAY_SIZE(fixture_bad_rows);
    cr_assert_eq(load.stats.files, 1);
    cr_assert_eq(load.stats.rows_read, FIXTURE_ROWS);
    cr_assert_eq(load.stats.rows_deadlettered, (int64_t)n_bad);
    cr_assert_eq(load.stats.rows_emitted, FIXTURE_ROWS - (int64_t)n_bad);
    cr_assert_eq(load.stats.rows_read, load.stats.rows_emitted + load.stats.rows_deadlettered);
    cr_assert_eq(load.stats.rows_buffered, 0);
    cr_assert_eq(load.stats.messages_failed, 0);
    cr_assert_eq(load.stats.messages_delivered, load.stats.batches + load.stats.rows_deadlettered);
    cr_assert_eq((int64_t)load.cap->n, load.stats.messages_delivered);
    cr_assert_eq(mm_ingest_exit_status(MM_OK, &load.stats), MM_INGEST_EXIT_DEADLETTERS);
    load_end(&load);
}

/* A CSV of @p keys x @p days rows, date-major (every key interleaved). */
static char *interleaved_csv(int keys, int days) {
    size_t cap = (size_t)keys * (size_t)days * 48 + 64;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    size_t len = (size_t)snprintf(text, cap, "store,item,date,sales,price,promo\n");
    for (int d = 1; d <= days; d++)
        for (int k = 0; k < keys; k++)
            len += (size_t)snprintf(text + len, cap - len, "%d,%d,2024-01-%02d,%d,1.5,%d\n", k % 3,
                                    k, d, k * 100 + d, d % 2);
    return text;
}

Test(ingest, batches_stay_within_batch_bytes) {
    enum { KEYS = 2, DAYS = 28, BATCH_BYTES = 700 };
    load_t load;
    load_start(&load, 0, BATCH_BYTES, 0);
    char *text = interleaved_csv(KEYS, DAYS);
    load_text(&load, text, "bytes.csv");
    char errstr[1024];
    cr_assert_eq(load_finish(&load, true, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_gt(load.stats.batches, KEYS, "the byte budget must split each key's rows");
    for (size_t i = 0; i < load.cap->n; i++)
        cr_assert_leq(load.cap->records[i].bytes, (size_t)BATCH_BYTES, "batch %zu: %zu bytes", i,
                      load.cap->records[i].bytes);
    cr_assert_eq(load.stats.rows_emitted, KEYS * DAYS);
    check_key_invariants(load.cap);
    free(text);
    load_end(&load);
}

Test(ingest, bounded_memory_with_interleaved_keys_keeps_every_invariant) {
    enum { KEYS = 40, DAYS = 20 };
    load_t load;
    load_start(&load, 8, 0, 100); /* far fewer buffered rows than KEYS * DAYS */
    char *text = interleaved_csv(KEYS, DAYS);
    load_text(&load, text, "interleaved.csv");
    char errstr[1024];
    cr_assert_eq(load_finish(&load, true, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(load.stats.keys, KEYS);
    cr_assert_eq(load.stats.rows_emitted, KEYS * DAYS);
    cr_assert_eq(load.stats.end_of_load_batches, KEYS);
    check_key_invariants(load.cap);
    /* Rows of a key stay in source order across its batches. */
    int64_t last_time[KEYS];
    memset(last_time, 0, sizeof(last_time));
    for (size_t i = 0; i < load.cap->n; i++) {
        const mm_observation_batch_t *b = &load.cap->records[i].batch;
        int item = atoi(strstr(b->partition_key, "item=") + 5);
        for (size_t r = 0; r < b->n_rows; r++) {
            cr_assert_gt(b->time_ms[r], last_time[item], "%s out of order", b->partition_key);
            last_time[item] = b->time_ms[r];
        }
    }
    free(text);
    load_end(&load);
}

/*
 * @p keys series of @p days daily rows from 2020-01-01, key-major (every row
 * of a key together, as mm-datagen writes them) or day-major (one row of
 * every key per day). A row's sales are key * 100000 + day, so a row
 * carries its key and time in its target.
 */
static char *series_csv(int keys, int days, bool key_major) {
    size_t cap = (size_t)keys * (size_t)days * 48 + 64;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    size_t len = (size_t)snprintf(text, cap, "store,item,date,sales,price,promo\n");
    int64_t day0 = day_ms(2020, 1, 1) / 1000;
    for (int a = 0; a < (key_major ? keys : days); a++)
        for (int b = 0; b < (key_major ? days : keys); b++) {
            int k = key_major ? a : b, d = key_major ? b : a;
            time_t secs = (time_t)(day0 + (int64_t)d * 86400);
            struct tm tm;
            gmtime_r(&secs, &tm);
            char date[16];
            strftime(date, sizeof(date), "%Y-%m-%d", &tm);
            len += (size_t)snprintf(text + len, cap - len, "1,%d,%s,%d,1.5,%d\n", k, date,
                                    k * 100000 + d, d % 2);
        }
    return text;
}

/* Every row of every key exactly once, in the key's order, each column with its own row. */
static void check_series(const capture_t *cap, int keys, int days) {
    int *next = calloc((size_t)keys, sizeof(*next));
    cr_assert_not_null(next);
    int64_t day0 = day_ms(2020, 1, 1);
    for (size_t i = 0; i < cap->n; i++) {
        const mm_observation_batch_t *b = &cap->records[i].batch;
        cr_assert_not(cap->records[i].dead_letter);
        int k = atoi(strstr(b->partition_key, "item=") + 5);
        cr_assert(k >= 0 && k < keys);
        for (size_t r = 0; r < b->n_rows; r++) {
            int d = next[k]++;
            cr_assert_eq(b->time_ms[r], day0 + (int64_t)d * 86400000, "%s: row %d out of order",
                         b->partition_key, d);
            cr_assert_eq(b->target[r], (double)(k * 100000 + d), "%s: row %d", b->partition_key, d);
            cr_assert_eq(b->columns[1].values[r], (double)(d % 2), "%s: promo of row %d",
                         b->partition_key, d);
        }
    }
    for (int k = 0; k < keys; k++) cr_assert_eq(next[k], days, "item %d: rows lost", k);
    free(next);
}

/*
 * What the open batches hold stays within max(max_buffered_rows, 2 x 16 x
 * keys) rows (blocks of 16 rows, ingest.h) in either row order, for a load
 * and one four times as long: memory scales with keys and the bound, not
 * with rows. (Per-key arrays that grew by doubling and shrank after a
 * pressure flush kept within their count but fragmented the heap, so the
 * count alone said nothing; the pool's blocks are never returned to the
 * heap, so its size is what the rows cost.)
 */
Test(ingest, rows_held_across_keys_stay_within_the_bound_however_long_the_load) {
    enum { KEYS = 100, DAYS = 60, MAX_BUFFERED = 1024, BLOCK_ROWS = 16 };
    const int64_t bound =
        2 * BLOCK_ROWS * KEYS > MAX_BUFFERED ? 2 * BLOCK_ROWS * KEYS : MAX_BUFFERED;
    for (int key_major = 0; key_major <= 1; key_major++) {
        for (int len = 0; len < 2; len++) {
            int days = DAYS * (len ? 4 : 1);
            load_t load;
            load_start(&load, 0, 0, MAX_BUFFERED);
            char *text = series_csv(KEYS, days, key_major);
            load_text(&load, text, "series.csv");
            char errstr[1024];
            cr_assert_eq(load_finish(&load, true, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
            cr_assert_eq(load.stats.rows_emitted, (int64_t)KEYS * days);
            cr_assert_eq(load.stats.end_of_load_batches, KEYS);
            cr_assert_gt(load.stats.pressure_flushes, 1, "the bound must be reached, and again");
            check_key_invariants(load.cap);
            check_series(load.cap, KEYS, days);
            int64_t peak = load.stats.held_rows_peak;
            cr_assert_leq(peak, bound + BLOCK_ROWS, "%s order, %d days: %lld rows held",
                          key_major ? "key" : "day", days, (long long)peak);
            cr_assert_gt(load.stats.held_bytes_peak, peak * (int64_t)sizeof(double));
            free(text);
            load_end(&load);
        }
    }
}

Test(ingest, a_key_spanning_two_sources_gets_one_end_of_load_and_batches_never_mix_sources) {
    load_t load;
    load_start(&load, 100, 0, 0);
    load_text(&load,
              "store,item,date,sales,price,promo\n1,1,2024-01-01,1,1,0\n1,1,2024-01-02,2,1,0\n",
              "a.csv");
    load_text(&load, "store,item,date,sales,price,promo\n1,1,2024-01-03,3,1,0\n", "b.csv");
    char errstr[1024];
    cr_assert_eq(load_finish(&load, true, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(load.cap->n, 2);
    cr_assert_str_eq(load.cap->records[0].batch.source, "a.csv");
    cr_assert_eq(load.cap->records[0].batch.n_rows, 2);
    cr_assert_not(load.cap->records[0].batch.end_of_load);
    cr_assert_str_eq(load.cap->records[1].batch.source, "b.csv");
    cr_assert(load.cap->records[1].batch.end_of_load);
    cr_assert_eq(load.cap->records[1].batch.load_rows_for_key, 3);
    cr_assert_eq(load.cap->records[1].batch.load_batches_for_key, 2);
    cr_assert_eq(load.stats.files, 2);
    load_end(&load);
}

Test(ingest, an_incomplete_load_flags_no_batch_end_of_load) {
    load_t load;
    load_start(&load, 4, 0, 0);
    char errstr[1024];
    cr_assert_eq(mm_ingest_file(load.ingest, FIXTURE_CSV, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_assert_eq(load_finish(&load, false, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(load.stats.end_of_load_batches, 0);
    for (size_t i = 0; i < load.cap->n; i++) {
        if (load.cap->records[i].dead_letter) continue;
        cr_assert_not(load.cap->records[i].batch.end_of_load);
        cr_assert_eq(load.cap->records[i].batch.load_rows_for_key, -1);
    }
    cr_assert_eq(load.stats.rows_read, load.stats.rows_emitted + load.stats.rows_deadlettered);
    load_end(&load);
}

/* ------------------------------------------------------------ outcomes */

Test(ingest, undelivered_records_make_finish_fail_and_are_counted_with_their_rows) {
    load_t load;
    load_start(&load, 4, 0, 0);
    load.cap->fail_every = 2;
    char errstr[1024];
    cr_assert_eq(mm_ingest_file(load.ingest, FIXTURE_CSV, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    mm_err_t err = load_finish(&load, true, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_ERR_KAFKA);
    cr_assert(strstr(errstr, "not delivered; first: broker said no"), "%s", errstr);
    int64_t failed = 0, rows_failed = 0;
    for (size_t i = 1; i < load.cap->n; i += 2) {
        failed++;
        const produced_t *p = &load.cap->records[i];
        rows_failed += p->dead_letter ? 1 : (int64_t)p->batch.n_rows;
    }
    cr_assert_eq(load.stats.messages_failed, failed);
    cr_assert_eq(load.stats.rows_failed, rows_failed);
    cr_assert_eq(load.stats.messages_delivered + load.stats.messages_failed, (int64_t)load.cap->n);
    cr_assert_eq(mm_ingest_exit_status(err, &load.stats), MM_INGEST_EXIT_DELIVERY);
    load_end(&load);
}

Test(ingest, missing_required_column_is_a_config_error_naming_it) {
    load_t load;
    load_start(&load, 0, 0, 0);
    static const char text[] = "store,item,date,price,promo\n1,1,2024-01-01,2,0\n";
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    char errstr[1024] = "";
    cr_assert_eq(mm_ingest_stream(load.ingest, f, "nosales.csv", errstr, sizeof(errstr)),
                 MM_ERR_CONFIG);
    fclose(f);
    cr_assert(strstr(errstr, "nosales.csv:1: missing column \"sales\" (target.column"), "%s",
              errstr);
    mm_ingest_get_stats(load.ingest, &load.stats);
    cr_assert_eq(load.stats.rows_read, 0);
    load_end(&load);
}

Test(ingest, duplicate_header_column_is_a_config_error) {
    load_t load;
    load_start(&load, 0, 0, 0);
    static const char text[] = "store,item,date,sales,price,promo,sales\n";
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    char errstr[1024] = "";
    cr_assert_eq(mm_ingest_stream(load.ingest, f, "dup.csv", errstr, sizeof(errstr)),
                 MM_ERR_CONFIG);
    fclose(f);
    cr_assert(strstr(errstr, "column \"sales\" appears twice"), "%s", errstr);
    load_end(&load);
}

Test(ingest, missing_file_is_an_io_error) {
    load_t load;
    load_start(&load, 0, 0, 0);
    char errstr[1024] = "";
    cr_assert_eq(mm_ingest_file(load.ingest, "/nonexistent/data.csv", errstr, sizeof(errstr)),
                 MM_ERR_IO);
    cr_assert(strstr(errstr, "/nonexistent/data.csv"), "%s", errstr);
    load_end(&load);
}

Test(ingest, a_sink_cannot_be_paced) {
    mm_spec_t spec;
    char errstr[1024] = "";
    cr_assert_eq(mm_spec_load_file(SALES_SPEC, &spec, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    capture_t *cap = capture_new();
    mm_ingest_config_t cfg = {
        .spec = &spec, .sink = capture_sink, .sink_opaque = cap, .pace_group = "mm-trainer"};
    cr_assert_null(mm_ingest_new(&cfg, errstr, sizeof(errstr)));
    cr_assert(strstr(errstr, "pacing"), "%s", errstr);
    capture_free(cap);
    mm_spec_clear(&spec);
}

Test(ingest, exit_status_says_the_outcome) {
    mm_ingest_stats_t s;
    memset(&s, 0, sizeof(s));
    cr_assert_eq(mm_ingest_exit_status(MM_OK, &s), MM_INGEST_EXIT_OK);
    s.rows_deadlettered = 1;
    cr_assert_eq(mm_ingest_exit_status(MM_OK, &s), MM_INGEST_EXIT_DEADLETTERS);
    cr_assert_eq(mm_ingest_exit_status(MM_ERR_CONFIG, &s), MM_INGEST_EXIT_FATAL);
    cr_assert_eq(mm_ingest_exit_status(MM_ERR_SHUTDOWN, &s), MM_INGEST_EXIT_INTERRUPTED);
    cr_assert_eq(mm_ingest_exit_status(MM_ERR_TIMEOUT, &s), MM_INGEST_EXIT_DELIVERY);
    s.messages_failed = 1;
    cr_assert_eq(mm_ingest_exit_status(MM_ERR_KAFKA, &s), MM_INGEST_EXIT_DELIVERY);
    cr_assert_eq(mm_ingest_exit_status(MM_ERR_SHUTDOWN, &s), MM_INGEST_EXIT_DELIVERY,
                 "lost messages outrank an interruption");
}

Test(ingest, default_load_id_is_deterministic_per_sources_and_start) {
    const char *a[] = {"sales.csv", "more.csv"};
    const char *b[] = {"sales.csv"};
    char id1[128], id2[128], id3[128], id4[128];
    mm_ingest_default_load_id(a, 2, 1704067200000LL, id1, sizeof(id1));
    mm_ingest_default_load_id(a, 2, 1704067200000LL, id2, sizeof(id2));
    mm_ingest_default_load_id(b, 1, 1704067200000LL, id3, sizeof(id3));
    mm_ingest_default_load_id(a, 2, 1704067201000LL, id4, sizeof(id4));
    cr_assert_str_eq(id1, id2);
    cr_assert_str_neq(id1, id3);
    cr_assert_str_neq(id1, id4);
    cr_assert(strncmp(id1, "20240101T000000Z-", 17) == 0, "%s", id1);
    cr_assert_eq(strlen(id1), 17 + 12);
}

/* ------------------------------------------------------------ --check-spec */

#define CHECK_SPEC_TIMEOUT_MS 30000

/* Run mm-ingest --check-spec on @p spec_path without a broker; its output into @p out. */
static int run_check_spec(const char *spec_path, mm_buf_t *out) {
    char *bin = mmt_binary("mm-ingest");
    cr_assert_not_null(bin, "mm-ingest is not built");
    char *dir = mmt_tmpdir("check_spec");
    cr_assert_not_null(dir);
    char log[4200], errstr[256];
    snprintf(log, sizeof(log), "%s/out.log", dir);
    char *argv[] = {bin, "--spec", (char *)spec_path, "--check-spec", NULL};
    char *env[] = {"MM_BOOTSTRAP_SERVERS=", "MM_BOOTSTRAP_FILE=", NULL};
    pid_t pid = mmt_spawn(argv, env, log);
    cr_assert_gt(pid, 0);
    int status = mmt_wait(pid, mmt_timeout_ms(CHECK_SPEC_TIMEOUT_MS));
    mm_buf_init(out, 1u << 20);
    cr_assert_eq(mm_file_read(log, out, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_assert_eq(mm_buf_append(out, "", 1), MM_OK); /* NUL-terminated */
    mmt_rmtree(dir);
    free(dir);
    free(bin);
    return status;
}

Test(ingest, check_spec_prints_the_effective_configuration_without_a_broker) {
    mm_buf_t out;
    int status = run_check_spec(SALES_SPEC, &out);
    const char *text = (const char *)out.data;
    cr_assert_eq(status, 0, "%s", text);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    cr_assert_not_null(doc, "not JSON (%s): %s", jerr.text, text);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "name")), "sales");
    cr_expect_eq(json_integer_value(json_object_get(doc, "backtest_windows")), 5);
    cr_expect_eq(json_integer_value(json_object_get(doc, "backtest_fits")), 3);
    json_t *features = json_object_get(doc, "features");
    cr_expect_eq(json_array_size(json_object_get(features, "lags")), 7,
                 "the lags the spec leaves out are the daily defaults");
    cr_expect_eq(json_array_size(json_object_get(features, "known_in_advance")), 2);
    cr_expect_eq(json_array_size(json_object_get(features, "rolling_windows")), 2,
                 "a default the spec leaves out is written out");
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(doc, "scoring"), "fallback")), "serve");
    json_decref(doc);
    mm_buf_free(&out);
}

Test(ingest, check_spec_of_an_invalid_spec_names_the_field_and_fails) {
    mm_buf_t out;
    int status =
        run_check_spec(MM_FIXTURES_DIR "/specs/invalid/known_in_advance_not_exogenous.json", &out);
    const char *text = (const char *)out.data;
    cr_expect_eq(status, MM_EXIT_CONFIG, "an invalid spec is a configuration error: %s", text);
    cr_expect(strstr(text, "features.known_in_advance[1]"), "%s", text);
    mm_buf_free(&out);
}

/* ------------------------------------------------------------ entities */

/* Ingest @p text with a spec of key @p key_json and entity [machine] (batches of @p batch_rows). */
static capture_t *ingest_entities(const char *key_json, const char *text, int64_t batch_rows,
                                  mm_spec_t *spec) {
    char spec_text[512];
    snprintf(spec_text, sizeof(spec_text),
             "{\"name\":\"pm\",\"task\":\"classify\",\"key\":%s,\"entity\":[\"machine\"],"
             "\"time\":{\"column\":\"t\",\"format\":\"%%Y-%%m-%%d\",\"frequency\":\"day\"},"
             "\"target\":{\"event_column\":\"failure\",\"lookahead\":2},"
             "\"features\":{\"exogenous\":[\"volt\"]}}",
             key_json);
    char errstr[1024];
    cr_assert_eq(mm_spec_parse(spec_text, strlen(spec_text), "pm", spec, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    capture_t *cap = capture_new();
    mm_ingest_config_t cfg = {.spec = spec,
                              .load_id = "l",
                              .batch_rows = batch_rows,
                              .sink = capture_sink,
                              .sink_opaque = cap};
    mm_ingest_t *ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
    cr_assert_not_null(ingest, "%s", errstr);
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    cr_assert_eq(mm_ingest_stream(ingest, f, "pm.csv", errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    fclose(f);
    cr_assert_eq(mm_ingest_finish(ingest, true, 1000, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    mm_ingest_destroy(ingest);
    return cap;
}

/* Date-major telemetry of two machine models: machines 1, 2 are model A, 3 is model B. */
static const char entity_csv[] = "t,model,machine,volt,failure\n" /* line 1 */
                                 "2024-01-01,A,1,170,\n"          /* 2 */
                                 "2024-01-01,A,2,171,\n"          /* 3 */
                                 "2024-01-01,B,3,172,\n"          /* 4 */
                                 "2024-01-02,A,1,173,comp1\n"     /* 5 */
                                 "2024-01-02,A,2,174,\n"          /* 6 */
                                 "2024-01-02,B,3,175,\n"          /* 7 */
                                 "2024-01-03,A,,176,\n"           /* 8: no machine */
                                 "2024-01-03,A,m 1/x,177,\n";     /* 9 */

Test(ingest, rows_carry_their_entity_under_the_key_of_their_model) {
    mm_spec_t spec;
    capture_t *cap = ingest_entities("[\"model\"]", entity_csv, 3, &spec);
    static const struct {
        int64_t line;
        const char *key, *entity;
    } want[] = {{2, "model=A", "machine=1"},        {3, "model=A", "machine=2"},
                {4, "model=B", "machine=3"},        {5, "model=A", "machine=1"},
                {6, "model=A", "machine=2"},        {7, "model=B", "machine=3"},
                {9, "model=A", "machine=m%201%2Fx"}};
    for (size_t i = 0; i < MM_ARRAY_SIZE(want); i++) {
        size_t r;
        const mm_observation_batch_t *b = find_line(cap, want[i].line, &r);
        cr_assert_not_null(b, "line %lld", (long long)want[i].line);
        char errstr[256];
        cr_assert_eq(mm_observation_batch_entities_check(b, errstr, sizeof(errstr)), MM_OK, "%s",
                     errstr);
        cr_assert_str_eq(b->partition_key, want[i].key, "the record key stays the partition key");
        cr_assert_str_eq(mm_observation_batch_entity(b, r), want[i].entity, "line %lld",
                         (long long)want[i].line);
    }
    /* A batch names each of its entities once. */
    for (size_t i = 0; i < cap->n; i++) {
        const mm_observation_batch_t *b = &cap->records[i].batch;
        if (cap->records[i].dead_letter) continue;
        for (size_t e = 0; e < b->n_entities; e++)
            for (size_t f = e + 1; f < b->n_entities; f++)
                cr_assert_str_neq(b->entities[e], b->entities[f]);
    }
    const mm_dead_letter_t *dl = find_dead_letter(cap, 8);
    cr_assert_not_null(dl, "a row without its entity is dead-lettered");
    cr_assert_str_eq(dl->reason, "empty entity column \"machine\"");
    cr_assert_str_eq(dl->partition_key, "model=A");
    check_key_invariants(cap);
    capture_free(cap);
    mm_spec_clear(&spec);
}

Test(ingest, an_empty_key_list_sends_every_row_under_the_global_key) {
    mm_spec_t spec;
    capture_t *cap = ingest_entities("[]", entity_csv, 100, &spec);
    size_t rows = 0, batches = 0;
    for (size_t i = 0; i < cap->n; i++) {
        if (cap->records[i].dead_letter) continue;
        cr_assert_str_eq(cap->records[i].key, MM_SPEC_GLOBAL_KEY);
        rows += cap->records[i].batch.n_rows;
        batches++;
    }
    cr_assert_eq(batches, 1);
    cr_assert_eq(rows, 7);
    size_t r;
    const mm_observation_batch_t *b = find_line(cap, 4, &r);
    cr_assert_str_eq(mm_observation_batch_entity(b, r), "machine=3");
    cr_assert_eq(b->n_entities, 4, "machines 1, 2, 3 and m 1/x");
    capture_free(cap);
    mm_spec_clear(&spec);
}

Test(ingest, a_missing_entity_column_is_a_config_error_naming_it) {
    mm_spec_t spec;
    char spec_text[] =
        "{\"name\":\"pm\",\"task\":\"forecast\",\"key\":[],\"entity\":[\"machine\"],"
        "\"time\":{\"column\":\"t\",\"frequency\":\"day\"},\"target\":{\"column\":\"y\"}}";
    char errstr[1024];
    cr_assert_eq(mm_spec_parse(spec_text, strlen(spec_text), "pm", &spec, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    capture_t *cap = capture_new();
    mm_ingest_config_t cfg = {
        .spec = &spec, .load_id = "l", .sink = capture_sink, .sink_opaque = cap};
    mm_ingest_t *ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
    static const char text[] = "t,y\n2024-01-01,1\n";
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    cr_assert_eq(mm_ingest_stream(ingest, f, "pm.csv", errstr, sizeof(errstr)), MM_ERR_CONFIG);
    fclose(f);
    cr_assert(strstr(errstr, "missing column \"machine\" (entity[0] in spec \"pm\")"), "%s",
              errstr);
    mm_ingest_destroy(ingest);
    capture_free(cap);
    mm_spec_clear(&spec);
}

/* ------------------------------------------------------------ grouped by key */

/* Key-major rows: keys[0..n) each with days 1..days. */
static char *grouped_csv(const int *keys, int n, int days) {
    size_t cap = (size_t)n * (size_t)days * 48 + 64;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    size_t len = (size_t)snprintf(text, cap, "store,item,date,sales,price,promo\n");
    for (int i = 0; i < n; i++)
        for (int d = 1; d <= days; d++)
            len += (size_t)snprintf(text + len, cap - len, "1,%d,2024-01-%02d,%d,1.5,0\n", keys[i],
                                    d, keys[i] * 100 + d);
    return text;
}

static size_t end_of_load_batches(const capture_t *cap, const char *key, int64_t *rows) {
    size_t n = 0;
    for (size_t i = 0; i < cap->n; i++) {
        const produced_t *p = &cap->records[i];
        if (p->dead_letter || !p->batch.end_of_load || strcmp(p->key, key) != 0) continue;
        n++;
        *rows = p->batch.load_rows_for_key;
    }
    return n;
}

Test(ingest, grouped_input_ends_each_key_when_the_next_one_begins) {
    load_t load;
    memset(&load, 0, sizeof(load));
    char errstr[1024];
    cr_assert_eq(mm_spec_load_file(SALES_SPEC, &load.spec, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    load.cap = capture_new();
    mm_ingest_config_t cfg = {.spec = &load.spec,
                              .load_id = "load-grouped",
                              .batch_rows = 4,
                              .sink = capture_sink,
                              .sink_opaque = load.cap,
                              .grouped_by_key = true};
    load.ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
    cr_assert_not_null(load.ingest, "%s", errstr);

    static const int first[] = {1, 2, 3};
    char *text = grouped_csv(first, 3, 6);
    load_text(&load, text, "first.csv");
    free(text);
    /* before the load ends: keys 1 and 2 are complete and flagged, key 3 is still open */
    int64_t rows = 0;
    cr_expect_eq(end_of_load_batches(load.cap, "store=1/item=1", &rows), 1u);
    cr_expect_eq(rows, 6);
    cr_expect_eq(end_of_load_batches(load.cap, "store=1/item=2", &rows), 1u);
    cr_expect_eq(end_of_load_batches(load.cap, "store=1/item=3", &rows), 0u, "still open");
    size_t sizes[4];
    int flagged = 0;
    cr_expect_eq(key_batches(load.cap, "store=1/item=3", sizes, 4, &flagged), 1u,
                 "its first full batch only; the rest waits for its end");
    check_key_invariants(load.cap);

    /* key 1 comes back: it is sent again and ends again with every row of the load */
    static const int again[] = {1};
    text = grouped_csv(again, 1, 2);
    load_text(&load, text, "second.csv");
    free(text);
    cr_assert_eq(load_finish(&load, true, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    cr_expect_eq(end_of_load_batches(load.cap, "store=1/item=3", &rows), 1u);
    cr_expect_eq(rows, 6);
    cr_expect_eq(end_of_load_batches(load.cap, "store=1/item=1", &rows), 2u);
    cr_expect_eq(rows, 8, "the second end counts the key's rows in the whole load");
    cr_expect_eq(load.stats.rows_emitted, 3 * 6 + 2);
    cr_expect_eq(load.stats.rows_buffered, 0);
    load_end(&load);
}
