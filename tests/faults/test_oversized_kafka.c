/*
 * test_oversized_kafka.c - fault scenario 19 of docs/reliability.md, its
 * oversized records on a real broker (K): the topic mm.observations is given
 * a max.message.bytes far below the producer's message.max.bytes (its
 * default, 1,000,000) and mm-ingest runs with no -X at all, as a deployment
 * that never heard of the topic's limit would. The broker refuses a record
 * batch over the topic's limit with MESSAGE_TOO_LARGE (librdkafka's
 * MSG_SIZE_TOO_LARGE), whether one record or several small ones batched
 * together are over it, so mm-ingest must learn the limit and size both its
 * records and the producer's batches to it: the load arrives, exit 0, no
 * record over the limit, and the common checker is clean. Only a real broker
 * has such a limit (the dev broker accepts any size).
 *
 * On the shared real broker of the CTest run (tests/support/kafka_shared.c)
 * or, run by hand, a broker of its own (MM_TEST_BROKER=kafka).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "checker.h"
#include "kafka_real.h"
#include "mm/kafka.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES      3
#define ITEMS       4
#define KEYS        (STORES * ITEMS)
#define DAYS        150
#define HORIZON     7
#define DECIDE_MS   240000
#define READ_MS     30000
#define TOPIC_LIMIT 2048 /* bytes: a key's 150 rows need several records */

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

static char *read_text(const char *dir, const char *name) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)size + 1);
    cr_assert_not_null(text);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return text;
}

Test(fault_oversized_kafka, a_topic_limit_below_the_producers_is_met_by_smaller_batches,
     .timeout = 900) {
    if (mmt_kafka_skipped()) cr_skip_test("MM_SKIP_REAL_KAFKA=1");
    setenv("MM_TEST_BROKER", "kafka", 1);
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "oversized-kafka", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 43);

    /* The topic's own limit, as an operator sets it (kafka-configs --alter). */
    char errstr[1024];
    mm_kv_list_t configs = {0};
    char limit[32];
    snprintf(limit, sizeof(limit), "%d", TOPIC_LIMIT);
    cr_assert_eq(mm_kv_list_set(&configs, "max.message.bytes", limit), MM_OK);
    cr_assert_eq(mm_kafka_topic_alter_configs(p.broker.bootstrap, NULL, MM_TOPIC_OBSERVATIONS,
                                              &configs, errstr, sizeof(errstr)),
                 MM_OK, "setting max.message.bytes on %s: %s", MM_TOPIC_OBSERVATIONS, errstr);
    mm_kv_list_free(&configs);
    mm_kafka_topic_info_t info;
    cr_assert_eq(mm_kafka_topic_describe(p.broker.bootstrap, NULL, MM_TOPIC_OBSERVATIONS, &info,
                                         errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    const char *set = mm_kv_list_get(&info.configs, "max.message.bytes");
    cr_assert(set && strcmp(set, limit) == 0, "the topic's max.message.bytes is %s, not %s",
              set ? set : "(unknown)", limit);
    mm_kafka_topic_info_clear(&info);

    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    int status = mmt_pipeline_ingest(&p, files, NULL); /* no -X: the producer's default limit */
    char *log = read_text(p.dir, "ingest.log");
    bool too_large = strstr(log, "MSG_SIZE_TOO_LARGE") != NULL;
    bool fitted = strstr(log, "\"message_limit_from_topic\"") != NULL;
    free(log);
    bool decided = mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS);
    int64_t records = 0, largest = 0;
    topic_sizes(&p, MM_TOPIC_OBSERVATIONS, &records, &largest);
    fprintf(stderr,
            "fault scenario 19-oversized-kafka: %lld rows, topic max.message.bytes=%d, producer "
            "message.max.bytes default: mm-ingest exit %d (limit from the topic logged: %s, "
            "MSG_SIZE_TOO_LARGE in its log: %s), %lld records on %s (%.1f per key), largest "
            "%lld bytes, every key decided: %s\n",
            (long long)rows, TOPIC_LIMIT, status, fitted ? "yes" : "no", too_large ? "yes" : "no",
            (long long)records, MM_TOPIC_OBSERVATIONS, (double)records / KEYS, (long long)largest,
            decided ? "yes" : "no");
    cr_expect_eq(status, 0,
                 "mm-ingest exited %d under the topic's %d-byte limit (see %s/ingest.log)", status,
                 TOPIC_LIMIT, p.dir);
    cr_expect(!too_large, "a delivery failed with MSG_SIZE_TOO_LARGE (see %s/ingest.log)", p.dir);
    cr_expect(fitted, "mm-ingest did not log the limit it took from the topic");
    cr_expect_leq(largest, TOPIC_LIMIT, "a record of %lld bytes, over the topic's limit",
                  (long long)largest);
    cr_expect_gt(records, 2 * KEYS, "%lld records: the batches were not split", (long long)records);
    cr_expect(decided, "not every key was decided");
    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    mmt_pipeline_stop(&p);
}
