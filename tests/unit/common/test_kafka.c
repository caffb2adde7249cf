/*
 * test_kafka.c - the Kafka wrappers (common/src/kafka.c) without a broker:
 * the key partitioner against Java and librdkafka murmur2, configuration
 * checks of producers, consumers and lag probes, bootstrap resolution.
 * Against mm-devbroker: tests/integration/test_kafka.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>

#include "mm/kafka.h"
#include "mm/util.h"
#include "support.h"

/* Nothing listens on port 1 of loopback; these tests never send anything there. */
#define DEAD_BOOTSTRAP "127.0.0.1:1"

Test(kafka, partition_for_key_matches_java_murmur2_vectors) {
    /* Kafka's Utils.murmur2 test vectors (signed 32-bit results). */
    static const struct {
        const char *key;
        int32_t java;
    } cases[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    for (size_t i = 0; i < MM_ARRAY_SIZE(cases); i++) {
        uint32_t positive = (uint32_t)cases[i].java & 0x7fffffffu;
        cr_expect_eq(mm_kafka_partition_for_key(cases[i].key, strlen(cases[i].key), INT32_MAX),
                     (int32_t)(positive % INT32_MAX), "key %s", cases[i].key);
        cr_expect_eq(mm_kafka_partition_for_key(cases[i].key, strlen(cases[i].key), 12),
                     (int32_t)(positive % 12), "key %s", cases[i].key);
    }
}

Test(kafka, partition_for_key_agrees_with_librdkafka_murmur2) {
    static const int32_t counts[] = {1, 3, 4, 7, 64, 1000};
    char key[128];
    for (int i = 0; i < 500; i++) {
        /* Lengths 0..~60 exercise every tail length of the 4-byte blocks. */
        int len = snprintf(key, sizeof(key), "store=%d/item=%.*s", i, i % 40,
                           "abcdefghijklmnopqrstuvwxyz0123456789ABCD");
        for (size_t c = 0; c < MM_ARRAY_SIZE(counts); c++) {
            int32_t want =
                rd_kafka_msg_partitioner_murmur2(NULL, key, (size_t)len, counts[c], NULL, NULL);
            cr_assert_eq(mm_kafka_partition_for_key(key, (size_t)len, counts[c]), want,
                         "key %s among %" PRId32, key, counts[c]);
        }
    }
    cr_expect_eq(mm_kafka_partition_for_key("x", 1, 0), -1, "no partitions: no answer");
}

Test(kafka, producer_new_names_the_rejected_property) {
    mm_kv_t items[] = {{"linger.ms", "5"}, {"no.such.property", "1"}};
    mm_kv_list_t props = {items, MM_ARRAY_SIZE(items)};
    char errstr[512] = "";
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(DEAD_BOOTSTRAP, &props, NULL, NULL, errstr, sizeof(errstr));
    cr_assert_null(producer);
    cr_expect(strstr(errstr, "no.such.property"), "errstr: %s", errstr);
}

Test(kafka, pass_through_properties_override_the_defaults) {
    /* An idempotent producer rejects acks=0: the override must reach librdkafka after ours. */
    mm_kv_t items[] = {{"acks", "0"}};
    mm_kv_list_t props = {items, MM_ARRAY_SIZE(items)};
    char errstr[512] = "";
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(DEAD_BOOTSTRAP, &props, NULL, NULL, errstr, sizeof(errstr));
    cr_expect_null(producer, "acks=0 with enable.idempotence=true must be refused");
    mm_kafka_producer_destroy(producer, 0);

    mm_kv_t allowed[] = {{"enable.idempotence", "false"}, {"acks", "0"}};
    mm_kv_list_t props2 = {allowed, MM_ARRAY_SIZE(allowed)};
    producer = mm_kafka_producer_new(DEAD_BOOTSTRAP, &props2, NULL, NULL, errstr, sizeof(errstr));
    cr_expect(producer, "overriding enable.idempotence: %s", errstr);
    mm_kafka_producer_destroy(producer, 0);
}

Test(kafka, bounded_consumer_props_size_the_queue_and_yield_to_the_user) {
    mm_kv_list_t out = {0};
    cr_assert_eq(mm_kafka_consumer_props_bounded(NULL, MM_KAFKA_QUEUE_KBYTES_CATCH_UP, &out),
                 MM_OK);
    cr_expect_str_eq(mm_kv_list_get(&out, "queued.max.messages.kbytes"), "65536");
    cr_expect_str_eq(mm_kv_list_get(&out, "fetch.max.bytes"), "4194304");
    mm_kv_list_free(&out);

    /* 0 asks for the following consumer's bound, not an unbounded or empty queue */
    cr_assert_eq(mm_kafka_consumer_props_bounded(NULL, 0, &out), MM_OK);
    cr_expect_str_eq(mm_kv_list_get(&out, "queued.max.messages.kbytes"), "16384");
    mm_kv_list_free(&out);

    mm_kv_t items[] = {{"queued.max.messages.kbytes", "2048"}, {"client.id", "x"}};
    mm_kv_list_t user = {items, MM_ARRAY_SIZE(items)};
    cr_assert_eq(mm_kafka_consumer_props_bounded(&user, MM_KAFKA_QUEUE_KBYTES_CATCH_UP, &out),
                 MM_OK);
    cr_expect_str_eq(mm_kv_list_get(&out, "queued.max.messages.kbytes"), "2048");
    cr_expect_str_eq(mm_kv_list_get(&out, "client.id"), "x");
    mm_kv_list_free(&out);
}

Test(kafka, consumer_new_requires_a_group_and_topics) {
    char errstr[256];
    const char *topics[] = {MM_TOPIC_MODELS};
    cr_expect_null(
        mm_kafka_consumer_new(DEAD_BOOTSTRAP, "", topics, 1, NULL, NULL, errstr, sizeof(errstr)));
    cr_expect_null(
        mm_kafka_consumer_new(DEAD_BOOTSTRAP, "g", topics, 0, NULL, NULL, errstr, sizeof(errstr)));
}

Test(kafka, lag_probe_requires_a_group_and_a_topic) {
    char errstr[256] = "";
    cr_expect_null(mm_kafka_lag_probe_new(DEAD_BOOTSTRAP, NULL, "", MM_TOPIC_OBSERVATIONS, errstr,
                                          sizeof(errstr)));
    cr_expect(strstr(errstr, "group"), "errstr: %s", errstr);
    cr_expect_null(mm_kafka_lag_probe_new(DEAD_BOOTSTRAP, NULL, "g", NULL, errstr, sizeof(errstr)));
    cr_expect_eq(mm_kafka_lag_probe_partitions(NULL), 0);
    mm_kafka_lag_probe_destroy(NULL);
}

Test(kafka, resolve_bootstrap_prefers_servers_then_first_line_of_file) {
    char errstr[256];
    char *dir = mmt_tmpdir("kafka");
    cr_assert(dir);
    char path[1024];
    snprintf(path, sizeof(path), "%s/bootstrap", dir);
    cr_assert(mmt_write_file(path, "127.0.0.1:9092,127.0.0.1:9093\r\nignored\n"));

    char *servers = mm_kafka_resolve_bootstrap("broker:9092", path, 0, errstr, sizeof(errstr));
    cr_expect_str_eq(servers, "broker:9092");
    free(servers);
    servers = mm_kafka_resolve_bootstrap("", path, 0, errstr, sizeof(errstr));
    cr_assert(servers, "%s", errstr);
    cr_expect_str_eq(servers, "127.0.0.1:9092,127.0.0.1:9093");
    free(servers);
    mmt_rmtree(dir);
    free(dir);
}

Test(kafka, resolve_bootstrap_fails_when_file_never_appears) {
    char errstr[256] = "";
    char *servers =
        mm_kafka_resolve_bootstrap(NULL, "/nonexistent/mm/bootstrap", 100, errstr, sizeof(errstr));
    cr_expect_null(servers);
    cr_expect(strstr(errstr, "/nonexistent/mm/bootstrap"), "errstr: %s", errstr);
    cr_expect_null(mm_kafka_resolve_bootstrap(NULL, NULL, 0, errstr, sizeof(errstr)));
}
