/*
 * test_malformed_input.c - fault scenarios 16 and 17 of docs/reliability.md:
 * malformed CSV through mm-ingest and malformed Avro on mm.observations
 * straight to the trainer, in one pipeline run that ends with the common
 * checker (checker.h).
 *
 * 16: a file with a UTF-8 BOM and CRLF line ends, blank lines, a row with a
 * column missing, invalid UTF-8 in a key, NaN and Inf targets, a time in an
 * unknown format, a line over 1 MiB and a stray quote, between good rows.
 * Every bad row is dead-lettered with its file, line and reason, the good
 * ones are stored (the checker: in == stored + dead-lettered, disjoint).
 *
 * 17: empty, truncated, wrong magic, unknown schema id, a negative length,
 * a huge length, an endless varint and plain text, keyed like real batches.
 * The trainer dead-letters each with its topic coordinates and carries on:
 * every key is still decided.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "checker.h"
#include "faults.h"
#include "mm/avro.h"
#include "mm/kafka.h"
#include "mm/records.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES  3
#define ITEMS   4
#define KEYS    (STORES * ITEMS + 1) /* and store 9 / item 9 from the malformed file */
#define DAYS    150
#define HORIZON 7

typedef struct bad_avro {
    const char *what;
    const unsigned char *bytes;
    size_t len;
} bad_avro_t;

static const unsigned char truncated[] = {0x00, 0x00, 0x00, 0x00, 0x01};
static const unsigned char wrong_magic[] = {0x01, 0x00, 0x00, 0x00, 0x01, 0x02, 0x61};
static const unsigned char unknown_id[] = {0x00, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x61};
static const unsigned char negative_len[] = {0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x61};
static const unsigned char huge_len[] = {0x00, 0x00, 0x00, 0x00, 0x01, 0xfe,
                                         0xff, 0xff, 0xff, 0xff, 0x0f};
static const unsigned char endless_varint[] = {0x00, 0x00, 0x00, 0x00, 0x01, 0xff,
                                               0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                               0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
static const unsigned char plain_text[] = "store=1/item=1 is not an Avro record";
static const unsigned char empty[] = {0};

static const bad_avro_t bad_avro[] = {
    {"empty", empty, 0},
    {"truncated after the header", truncated, sizeof(truncated)},
    {"wrong magic byte", wrong_magic, sizeof(wrong_magic)},
    {"unknown schema id", unknown_id, sizeof(unknown_id)},
    {"negative string length", negative_len, sizeof(negative_len)},
    {"huge string length", huge_len, sizeof(huge_len)},
    {"varint longer than 10 bytes", endless_varint, sizeof(endless_varint)},
    {"plain text", plain_text, sizeof(plain_text) - 1},
};

static void delivered(void *opaque, void *msg_opaque, mm_err_t err, const char *reason) {
    (void)msg_opaque;
    (void)reason;
    int *failed = opaque;
    if (err) (*failed)++;
}

static void send_bad_avro(mmt_pipeline_t *p) {
    char errstr[512];
    int failed = 0;
    mm_kafka_producer_t *producer = mm_kafka_producer_new(p->broker.bootstrap, NULL, delivered,
                                                          &failed, errstr, sizeof(errstr));
    cr_assert_not_null(producer, "%s", errstr);
    for (size_t i = 0; i < MM_ARRAY_SIZE(bad_avro); i++) {
        char key[64];
        snprintf(key, sizeof(key), "store=%zu/item=%zu", i % STORES + 1, i % ITEMS + 1);
        cr_assert_eq(mm_kafka_produce(producer, MM_TOPIC_OBSERVATIONS, key, strlen(key),
                                      bad_avro[i].bytes, bad_avro[i].len, NULL,
                                      (int)mmt_timeout_ms(10000), errstr, sizeof(errstr)),
                     MM_OK, "%s: %s", bad_avro[i].what, errstr);
    }
    cr_assert_eq(mm_kafka_producer_flush(producer, (int)mmt_timeout_ms(30000)), MM_OK);
    mm_kafka_producer_destroy(producer, 1000);
    cr_assert_eq(failed, 0, "malformed records not delivered");
}

typedef struct trainer_letters {
    int n;
    int without_coordinates;
} trainer_letters_t;

static int64_t count_trainer_dead_letters(mmt_pipeline_t *p, trainer_letters_t *out) {
    char err[512];
    mm_kafka_reader_t *r =
        mm_kafka_reader_new(p->broker.bootstrap, MM_TOPIC_DEADLETTER, NULL, err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    memset(out, 0, sizeof(*out));
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(30000);
    for (;;) {
        mm_kafka_msg_t msg;
        mm_err_t e = mm_kafka_reader_poll(r, 200, &msg, err, sizeof(err));
        if (e == MM_ERR_NOT_FOUND) break;
        if (e == MM_ERR_TIMEOUT) {
            cr_assert_lt(mm_mono_ms(), deadline, "mm.deadletter not readable to its end");
            continue;
        }
        if (e) continue;
        mm_dead_letter_t d;
        if (mm_avro_decode_dead_letter(msg.value, msg.value_len, &d, err, sizeof(err)) != MM_OK)
            continue;
        if (d.service && strcmp(d.service, "mm-trainer") == 0) {
            out->n++;
            if (!d.source_topic || strcmp(d.source_topic, MM_TOPIC_OBSERVATIONS) != 0 ||
                d.source_offset < 0 || !d.reason || !*d.reason)
                out->without_coordinates++;
        }
        mm_dead_letter_clear(&d);
    }
    mm_kafka_reader_destroy(r);
    return out->n;
}

/* The malformed file (16): BOM, CRLF, blank lines, bad rows between good ones. */
static char *malformed_csv(mmt_pipeline_t *p, int *bad_rows) {
    size_t long_len = (1u << 20) + 4096;
    size_t cap = long_len + 4096;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    size_t n = 0;
#define PUT(s)                                                                                     \
    do {                                                                                           \
        size_t len_ = strlen(s);                                                                   \
        memcpy(text + n, (s), len_);                                                               \
        n += len_;                                                                                 \
    } while (0)
    PUT("\xEF\xBB\xBFstore,item,date,sales,price,promo\r\n");
    PUT("9,9,2024-01-01,3,1.0,0\r\n9,9,2024-01-02,4,1.0,0\r\n9,9,2024-01-03,5,1.0,1\r\n");
    PUT("\r\n");
    PUT("9,9,2024-01-04,3\r\n");               /* a column missing */
    PUT("9\xff\xfe,9,2024-01-05,3,1.0,0\r\n"); /* invalid UTF-8 in a key */
    PUT("9,9,2024-01-06,Inf,1.0,0\r\n");       /* an infinite target */
    PUT("9,9,01/07/2024,3,1.0,0\r\n");         /* a time in an unknown format */
    PUT("9,9,2024-01-08,3\"x,1.0,0\r\n");      /* a stray quote */
    PUT("9,9,2024-01-09,3,1.0,");              /* a line over 1 MiB */
    memset(text + n, 'x', long_len);
    n += long_len;
    PUT("\r\n");
    PUT("\r\n\r\n");
    PUT("9,9,2024-01-10,NaN,1.0,0\r\n"); /* a missing target: stored as missing or dead-lettered */
    PUT("9,9,2024-01-11,6,1.0,0\r\n9,9,2024-01-12,7,1.0,0");
#undef PUT
    text[n] = 0;
    *bad_rows = 6;
    char *path = mmt_pipeline_extra_csv(p, "malformed.csv", text);
    free(text);
    return path;
}

Test(fault_malformed_input, csv_and_avro_are_dead_lettered_and_nothing_else_is_lost,
     .timeout = 600) {
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "malformed", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 31);
    int bad_rows = 0;
    char *bad = malformed_csv(&p, &bad_rows);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);

    /* 17 first, so the good batches arrive after the bad records on the same partitions. */
    send_bad_avro(&p);
    const char *files[] = {p.csv_path, bad, NULL};
    int st = mmt_pipeline_ingest(&p, files, NULL);
    cr_expect_eq(st, 2, "mm-ingest should finish with dead-lettered rows (exit 2), got %d", st);
    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, 240000), "not every key was decided");

    trainer_letters_t letters;
    count_trainer_dead_letters(&p, &letters);
    cr_expect_eq(letters.n, (int)MM_ARRAY_SIZE(bad_avro),
                 "the trainer dead-lettered %d of %zu malformed records", letters.n,
                 MM_ARRAY_SIZE(bad_avro));
    cr_expect_eq(letters.without_coordinates, 0,
                 "trainer dead letters without topic, offset or reason");
    /* The trainer is still up. */
    cr_expect_eq(mmt_wait(p.trainer, 0), -1, "the trainer exited");

    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    cr_expect_geq(result.rows_dead_lettered, bad_rows, "fewer dead letters than bad rows");
    fprintf(stderr,
            "fault scenario 16-17: %lld generated rows + malformed.csv (%d bad rows); ingest "
            "dead-lettered %lld rows; %zu malformed Avro records, %d dead-lettered by the "
            "trainer\n",
            (long long)rows, bad_rows, (long long)result.rows_dead_lettered,
            MM_ARRAY_SIZE(bad_avro), letters.n);
    free(bad);
    mmt_pipeline_stop(&p);
}
