/*
 * test_kafka_tail.c - mm_kafka_tail_scan (common/src/kafka_tail.c) against
 * mm-devbroker, or the real broker with MM_TEST_BROKER=kafka: it reads the
 * records newer than the time asked for, and not much more (windows from the
 * end backwards); an earlier time reads further back, a callback can end the
 * scan, and an empty topic reads nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "mm/clock.h"
#include "mm/kafka.h"
#include "mm/util.h"
#include "support.h"

#define OLD   600 /* records before the mark */
#define NEW   100 /* records after it */
#define TOPIC "mm.predictions"

typedef struct seen {
    bool new_seen[NEW];
    int new_count;
    int64_t calls;
    int64_t stop_after; /* end the scan after this many records (0: never) */
} seen_t;

static bool on_record(void *opaque, const mm_kafka_msg_t *msg) {
    seen_t *s = opaque;
    s->calls++;
    int i = -1;
    char value[32];
    snprintf(value, sizeof(value), "%.*s", (int)msg->value_len, (const char *)msg->value);
    if (sscanf(value, "new-%d", &i) == 1 && i >= 0 && i < NEW && !s->new_seen[i]) {
        s->new_seen[i] = true;
        s->new_count++;
    }
    return s->stop_after == 0 || s->calls < s->stop_after;
}

static void produce(mm_kafka_producer_t *producer, const char *prefix, int n) {
    char errstr[512];
    for (int i = 0; i < n; i++) {
        char value[32];
        int len = snprintf(value, sizeof(value), "%s-%d", prefix, i);
        cr_assert_eq(mm_kafka_produce(producer, TOPIC, "k", 1, value, (size_t)len, NULL, 10000,
                                      errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
    }
    cr_assert_eq(mm_kafka_producer_flush(producer, mmt_timeout_ms(30000)), MM_OK);
}

static mmt_broker_t broker;

static void setup(void) {
    mmt_broker_start(&broker, 1);
}

static void teardown(void) {
    mmt_broker_stop(&broker);
}

Test(kafka_tail, reads_back_to_the_time_asked_and_not_the_whole_topic, .init = setup,
     .fini = teardown, .timeout = 120) {
    char errstr[512];
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(broker.bootstrap, NULL, NULL, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(producer, "%s", errstr);

    /* Empty: nothing read. */
    seen_t s = {0};
    int64_t records = -1;
    cr_assert_eq(mm_kafka_tail_scan(broker.bootstrap, TOPIC, NULL, 0, on_record, &s,
                                    (int)mmt_timeout_ms(30000), &records, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(records, 0);
    cr_expect_eq(s.calls, 0);

    produce(producer, "old", OLD);
    mm_sleep_ms(50, NULL);
    int64_t mark = mm_now_ms();
    mm_sleep_ms(50, NULL);
    produce(producer, "new", NEW);

    /* Since the mark: every newer record, and only the first window (256 records). */
    memset(&s, 0, sizeof(s));
    cr_assert_eq(mm_kafka_tail_scan(broker.bootstrap, TOPIC, NULL, mark, on_record, &s,
                                    (int)mmt_timeout_ms(30000), &records, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(s.new_count, NEW, "%d of %d records after the mark read", s.new_count, NEW);
    cr_expect_eq(records, s.calls);
    cr_expect_lt(records, OLD + NEW, "the whole topic was read (%lld records)", (long long)records);
    fprintf(stderr, "tail scan since the mark: %lld of %d records read\n", (long long)records,
            OLD + NEW);

    /* Since long ago: windows grow back to the beginning, every record once. */
    memset(&s, 0, sizeof(s));
    cr_assert_eq(mm_kafka_tail_scan(broker.bootstrap, TOPIC, NULL, 0, on_record, &s,
                                    (int)mmt_timeout_ms(30000), &records, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(records, OLD + NEW);
    cr_expect_eq(s.new_count, NEW);

    /* The callback ends the scan. */
    memset(&s, 0, sizeof(s));
    s.stop_after = 10;
    cr_assert_eq(mm_kafka_tail_scan(broker.bootstrap, TOPIC, NULL, 0, on_record, &s,
                                    (int)mmt_timeout_ms(30000), &records, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_expect_eq(records, 10);
    mm_kafka_producer_destroy(producer, 5000);
}
