/*
 * test_kafka_broker.c - the Kafka wrappers (common/src/kafka.c) against
 * mm-devbroker (test_kafka_broker) or, built with MMT_KAFKA_REAL=1, against
 * a single-node Apache Kafka broker (test_kafka_real; tests/support/kafka_real.c).
 *
 * The real broker takes seconds to start, so test_kafka_real uses the run's
 * shared broker under CTest (MM_TEST_KAFKA_BOOTSTRAP_FILE) or else starts one
 * per binary in the runner process (a PRE_ALL report hook), creates the topics
 * with `mmctl topics init` as a deployment would, and hands the address to
 * the tests through the environment. MM_SKIP_REAL_KAFKA=1 skips those tests.
 *
 * A consumer group join on the mock broker waits session.timeout.ms - 1 s, so
 * the suite keeps joins few (five in all) and sets session.timeout.ms to 6 s.
 * The kafka_unreachable_broker tests start no broker: their producers talk
 * to a loopback port nothing listens on. Checks that open no connection at
 * all are tests/unit/common/test_kafka.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "broker.h"
#include "kafka_int.h"
#include "kafka_real.h"
#include "mm/kafka.h"
#include "mm/util.h"
#include "support.h"

#define PARTITIONS 4
#define MAX_MSGS   512
/* Nothing listens on port 1 of loopback: connections are refused at once. */
#define DEAD_BOOTSTRAP "127.0.0.1:1"

/* ---------------------------------------------------------------- helpers */

static mm_kv_t group_props_items[] = {{"session.timeout.ms", "6000"},
                                      {"heartbeat.interval.ms", "500"}};
static const mm_kv_list_t group_props = {group_props_items, MM_ARRAY_SIZE(group_props_items)};
/* The same with an eager assignor, to cover the non-cooperative rebalance path. */
static mm_kv_t eager_props_items[] = {{"session.timeout.ms", "6000"},
                                      {"heartbeat.interval.ms", "500"},
                                      {"partition.assignment.strategy", "range"}};
static const mm_kv_list_t eager_props = {eager_props_items, MM_ARRAY_SIZE(eager_props_items)};

typedef struct dr_log {
    int delivered;
    int failed;
    mm_err_t last_err;
    char last_reason[512];
    int seen[MAX_MSGS]; /* reports per msg_opaque index */
} dr_log_t;

static void record_dr(void *opaque, void *msg_opaque, mm_err_t err, const char *reason) {
    dr_log_t *log = opaque;
    intptr_t index = (intptr_t)msg_opaque;
    if (index >= 0 && index < MAX_MSGS) log->seen[index]++;
    if (err == MM_OK) {
        log->delivered++;
        return;
    }
    log->failed++;
    log->last_err = err;
    snprintf(log->last_reason, sizeof(log->last_reason), "%s", reason ? reason : "(none)");
}

static mm_kafka_producer_t *producer_new(const char *bootstrap, const mm_kv_list_t *props,
                                         dr_log_t *log) {
    char errstr[512];
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(bootstrap, props, record_dr, log, errstr, sizeof(errstr));
    cr_assert(producer, "producer_new: %s", errstr);
    return producer;
}

/* Produce "key-<i>" -> "value-<i>" for i in [first, first + n), msg_opaque i. */
static void produce_range(mm_kafka_producer_t *producer, const char *topic, int first, int n) {
    for (int i = first; i < first + n; i++) {
        char key[32], value[32], errstr[512];
        int key_len = snprintf(key, sizeof(key), "key-%d", i);
        int value_len = snprintf(value, sizeof(value), "value-%d", i);
        mm_err_t rc =
            mm_kafka_produce(producer, topic, key, (size_t)key_len, value, (size_t)value_len,
                             (void *)(intptr_t)i, 5000, errstr, sizeof(errstr));
        cr_assert_eq(rc, MM_OK, "produce %d: %s", i, errstr);
    }
}

static void flush_all(mm_kafka_producer_t *producer, const dr_log_t *log, int expected) {
    cr_assert_eq(mm_kafka_producer_flush(producer, (int)mmt_timeout_ms(30000)), MM_OK,
                 "flush timed out with %d message(s) in flight",
                 mm_kafka_producer_outq_len(producer));
    cr_assert_eq(log->failed, 0, "%d delivery failure(s), last: %s", log->failed, log->last_reason);
    cr_assert_eq(log->delivered, expected);
}

/* @returns i from "value-<i>" (test payloads only). */
static int value_index(const mm_kafka_msg_t *msg) {
    char text[32];
    cr_assert(msg->value && msg->value_len > 6 && msg->value_len < sizeof(text));
    memcpy(text, msg->value, msg->value_len);
    text[msg->value_len] = '\0';
    int64_t index = -1;
    cr_assert(mm_parse_i64(text + 6, &index), "unexpected payload %s", text);
    cr_assert(index >= 0 && index < MAX_MSGS);
    return (int)index;
}

static void expect_on_key_partition(const mm_kafka_msg_t *msg, int32_t partition_cnt) {
    cr_assert(msg->key, "message without key");
    cr_expect_eq(msg->partition, mm_kafka_partition_for_key(msg->key, msg->key_len, partition_cnt),
                 "key %.*s was put on partition %" PRId32, (int)msg->key_len,
                 (const char *)msg->key, msg->partition);
}

typedef struct consumed {
    int count;           /* messages received */
    int times[MAX_MSGS]; /* receptions per index */
    int64_t offset[MAX_MSGS];
    int32_t partition[MAX_MSGS];
    int errors; /* consumer errors returned by poll */
    char last_error[512];
} consumed_t;

/* Poll until @p want messages arrived or @p timeout_ms passed; then @p linger_ms more for extras.
 */
static void consume(mm_kafka_consumer_t *consumer, consumed_t *out, int want, int64_t timeout_ms,
                    int64_t linger_ms) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(timeout_ms);
    bool lingering = false;
    for (;;) {
        if (!lingering && out->count >= want) {
            lingering = true;
            deadline = mm_mono_ms() + linger_ms;
        }
        if (mm_mono_ms() >= deadline) break;
        mm_kafka_msg_t msg;
        char errstr[512];
        mm_err_t rc = mm_kafka_consumer_poll(consumer, 200, &msg, errstr, sizeof(errstr));
        if (rc == MM_ERR_TIMEOUT) continue;
        if (rc != MM_OK) {
            cr_assert_eq(rc, MM_ERR_KAFKA, "unexpected consumer error %s: %s", mm_err_name(rc),
                         errstr);
            out->errors++;
            snprintf(out->last_error, sizeof(out->last_error), "%s", errstr);
            continue;
        }
        int index = value_index(&msg);
        expect_on_key_partition(&msg, PARTITIONS);
        out->times[index]++;
        out->offset[index] = msg.offset;
        out->partition[index] = msg.partition;
        out->count++;
    }
}

static mm_kafka_consumer_t *consumer_new(const char *bootstrap, const char *group,
                                         const char *topic, const mm_kv_list_t *props,
                                         const mm_kafka_rebalance_cbs_t *cbs) {
    char errstr[512];
    const char *topics[] = {topic};
    mm_kafka_consumer_t *consumer =
        mm_kafka_consumer_new(bootstrap, group, topics, 1, props, cbs, errstr, sizeof(errstr));
    cr_assert(consumer, "consumer_new: %s", errstr);
    return consumer;
}

/* ------------------------------------------- no broker listening */

Test(kafka_unreachable_broker,
     produce_returns_busy_when_queue_stays_full_and_destroy_reports_the_rest) {
    mm_kv_t items[] = {{"queue.buffering.max.messages", "3"}};
    mm_kv_list_t props = {items, MM_ARRAY_SIZE(items)};
    dr_log_t log = {0};
    mm_kafka_producer_t *producer = producer_new(DEAD_BOOTSTRAP, &props, &log);
    produce_range(producer, MM_TOPIC_MODELS, 0, 3);
    /* The out-queue length also counts pending client events (connection errors). */
    cr_expect_geq(mm_kafka_producer_outq_len(producer), 3);

    char errstr[512] = "";
    mm_err_t rc = mm_kafka_produce(producer, MM_TOPIC_MODELS, "k", 1, "v", 1, (void *)(intptr_t)3,
                                   100, errstr, sizeof(errstr));
    cr_expect_eq(rc, MM_ERR_BUSY, "got %s: %s", mm_err_name(rc), errstr);
    cr_expect_eq(log.delivered + log.failed, 0, "nothing can have been delivered yet");

    /* Undelivered messages get a failed report at destroy, so an outbox can keep them. */
    mm_kafka_producer_destroy(producer, 100);
    cr_expect_eq(log.delivered, 0);
    cr_expect_eq(log.failed, 3, "failed reports: %d", log.failed);
    for (int i = 0; i < 3; i++) cr_expect_eq(log.seen[i], 1, "message %d reported once", i);
}

Test(kafka_unreachable_broker, message_to_unreachable_broker_times_out_instead_of_hanging) {
    mm_kv_t items[] = {{"message.timeout.ms", "1000"}};
    mm_kv_list_t props = {items, MM_ARRAY_SIZE(items)};
    dr_log_t log = {0};
    mm_kafka_producer_t *producer = producer_new(DEAD_BOOTSTRAP, &props, &log);
    produce_range(producer, MM_TOPIC_MODELS, 0, 1);
    cr_expect_eq(mm_kafka_producer_flush(producer, (int)mmt_timeout_ms(20000)), MM_OK);
    cr_expect_eq(log.failed, 1);
    cr_expect_eq(log.last_err, MM_ERR_TIMEOUT, "got %s: %s", mm_err_name(log.last_err),
                 log.last_reason);
    cr_expect(strstr(log.last_reason, MM_TOPIC_MODELS), "reason: %s", log.last_reason);
    mm_kafka_producer_destroy(producer, 0);
}

/* ------------------------------------------------ mmctl topics init, topic names */

#define TOPICS_INIT_TIMEOUT_MS 60000
#define MMCTL_OUTPUT_MAX       16384

/*
 * Run `mmctl topics init` against @p bootstrap with @p extra arguments
 * (NULL-terminated; may be NULL); its stdout lands in @p output (may be NULL)
 * and its stderr in the test's. @returns the exit status.
 */
static int topics_init_run(const char *bootstrap, const char *const *extra, char *output,
                           size_t output_size) {
    char *mmctl = mmt_binary("mmctl");
    if (!mmctl) return -1;
    char partitions[16];
    snprintf(partitions, sizeof(partitions), "%d", PARTITIONS);
    char *argv[24] = {mmctl,
                      "topics",
                      "init",
                      "--bootstrap-servers",
                      (char *)bootstrap,
                      "--partitions",
                      partitions,
                      "--replication",
                      "1"};
    size_t argc = 9;
    for (size_t i = 0; extra && extra[i] && argc + 1 < MM_ARRAY_SIZE(argv); i++)
        argv[argc++] = (char *)extra[i];
    argv[argc] = NULL;
    char out_path[512] = "";
    if (output) {
        snprintf(out_path, sizeof(out_path), "%s/mmctl-topics-%ld.out",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
        remove(out_path);
    }
    pid_t pid = mmt_spawn(argv, NULL, output ? out_path : NULL);
    int status = pid > 0 ? mmt_wait(pid, mmt_timeout_ms(TOPICS_INIT_TIMEOUT_MS)) : -1;
    if (status < 0 && pid > 0) mmt_stop(pid, 0);
    free(mmctl);
    if (output) {
        FILE *f = fopen(out_path, "r");
        size_t len = f ? fread(output, 1, output_size - 1, f) : 0;
        output[len] = '\0';
        if (f) fclose(f);
        remove(out_path);
    }
    return status;
}

#if MMT_KAFKA_REAL
/* `mmctl topics init` against @p bootstrap; @returns false with the reason in @p why. */
static bool topics_init(const char *bootstrap, char *why, size_t why_size) {
    int status = topics_init_run(bootstrap, NULL, NULL, 0);
    if (status != 0) snprintf(why, why_size, "mmctl topics init exited with %d", status);
    return status == 0;
}

/* The "topics" entry of `mmctl topics init -o json` output for cluster topic @p physical. */
static json_t *plan_entry(json_t *doc, const char *physical) {
    json_t *topics = json_object_get(doc, "topics");
    for (size_t i = 0; i < json_array_size(topics); i++) {
        json_t *t = json_array_get(topics, i);
        if (strcmp(json_string_value(json_object_get(t, "topic")), physical) == 0) return t;
    }
    return NULL;
}
#endif

static json_t *topics_init_json(const char *bootstrap, const char *const *extra) {
    static char output[MMCTL_OUTPUT_MAX];
    const char *args[16] = {"-o", "json"};
    size_t n = 2;
    for (size_t i = 0; extra && extra[i] && n + 1 < MM_ARRAY_SIZE(args); i++) args[n++] = extra[i];
    args[n] = NULL;
    int status = topics_init_run(bootstrap, args, output, sizeof(output));
    cr_assert_eq(status, 0, "mmctl topics init exited with %d: %s", status, output);
    json_error_t jerr;
    json_t *doc = json_loads(output, 0, &jerr);
    cr_assert(doc, "mmctl topics init -o json: %s: %s", jerr.text, output);
    return doc;
}

/* ------------------------------------------------------- against the broker */

#if MMT_KAFKA_REAL

#define KAFKA_BOOTSTRAP_ENV      "MMT_KAFKA_BOOTSTRAP"
#define KAFKA_WHY_ENV            "MMT_KAFKA_WHY"
#define DESCRIBE_CONFIGS_WAIT_MS 30000

/* The runner's broker, shared by every test of this binary. */
static mmt_kafka_t shared_kafka;

/* The run's shared broker when CTest offers one (broker.h): these tests alone use the bare topic
 * names and the prefixes below on it; every other test there has a random prefix of its own. */
static char *shared_run_bootstrap(const char *file, char *why, size_t why_size) {
    char *bootstrap = mm_kafka_resolve_bootstrap(NULL, file, 0, why, why_size);
    if (!bootstrap)
        snprintf(why + strlen(why), why_size - strlen(why),
                 " (%s: CTest's fixture test kafka_broker_start writes it)", MMT_KAFKA_SHARED_ENV);
    return bootstrap;
}

ReportHook(PRE_ALL)(struct criterion_test_set *set) {
    (void)set;
    if (mmt_kafka_skipped()) return;
    char why[1024] = "";
    const char *file = getenv(MMT_KAFKA_SHARED_ENV);
    char *bootstrap = NULL;
    if (file && *file)
        bootstrap = shared_run_bootstrap(file, why, sizeof(why));
    else if (mmt_kafka_start(&shared_kafka, PARTITIONS, why, sizeof(why)))
        bootstrap = strdup(shared_kafka.bootstrap);
    if (bootstrap && topics_init(bootstrap, why, sizeof(why)))
        setenv(KAFKA_BOOTSTRAP_ENV, bootstrap, 1);
    else
        setenv(KAFKA_WHY_ENV, why, 1);
    free(bootstrap);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
    (void)stats;
    mmt_kafka_stop(&shared_kafka);
}

static struct { char *bootstrap; } broker;

static void broker_up(void) {
    if (mmt_kafka_skipped()) cr_skip_test("MM_SKIP_REAL_KAFKA=1");
    const char *bootstrap = getenv(KAFKA_BOOTSTRAP_ENV);
    const char *why = getenv(KAFKA_WHY_ENV);
    cr_assert(bootstrap, "%s", why ? why : "the shared Kafka broker was not started");
    broker.bootstrap = strdup(bootstrap);
    cr_assert(broker.bootstrap);
}

static void broker_down(void) {
    free(broker.bootstrap);
    broker.bootstrap = NULL;
}

#else

static mmt_broker_t broker;

static void broker_up(void) {
    mmt_broker_start(&broker, PARTITIONS);
}

static void broker_down(void) {
    mmt_broker_stop(&broker);
}

#endif

TestSuite(kafka, .init = broker_up, .fini = broker_down);

Test(kafka, group_consumer_gets_every_message_on_its_key_partition_and_resumes_after_stored) {
    enum { N = 200, STORED = 100 };
    dr_log_t log = {0};
    mm_kafka_producer_t *producer = producer_new(broker.bootstrap, NULL, &log);
    produce_range(producer, MM_TOPIC_OBSERVATIONS, 0, N);
    flush_all(producer, &log, N);
    mm_kafka_producer_destroy(producer, 1000);

    /* A new group without callbacks starts at the beginning. */
    static consumed_t first;
    mm_kafka_consumer_t *consumer =
        consumer_new(broker.bootstrap, "g-resume", MM_TOPIC_OBSERVATIONS, &group_props, NULL);
    consume(consumer, &first, N, 60000, 0);
    cr_assert_eq(first.count, N, "received %d of %d (last error: %s)", first.count, N,
                 first.last_error);
    for (int i = 0; i < N; i++)
        cr_expect_eq(first.times[i], 1, "message %d seen %d times", i, first.times[i]);

    /* Store "durable up to" the first STORED messages of each partition (order is per partition).
     */
    int64_t next[PARTITIONS];
    for (int p = 0; p < PARTITIONS; p++) next[p] = 0;
    for (int i = 0; i < STORED; i++)
        if (first.offset[i] + 1 > next[first.partition[i]])
            next[first.partition[i]] = first.offset[i] + 1;
    for (int p = 0; p < PARTITIONS; p++)
        if (next[p] > 0)
            cr_assert_eq(
                mm_kafka_consumer_store_offset(consumer, MM_TOPIC_OBSERVATIONS, p, next[p]), MM_OK);
    mm_kafka_consumer_close(consumer); /* commits what was stored */

    /* The group is empty now, so the next member may switch to an eager assignor. */
    static consumed_t second;
    consumer =
        consumer_new(broker.bootstrap, "g-resume", MM_TOPIC_OBSERVATIONS, &eager_props, NULL);
    consume(consumer, &second, N - STORED, 60000, 1500);
    mm_kafka_consumer_close(consumer);
    cr_expect_eq(second.count, N - STORED, "resumed consumer got %d messages (last error: %s)",
                 second.count, second.last_error);
    for (int i = 0; i < N; i++)
        cr_expect_eq(second.times[i], i < STORED ? 0 : 1, "message %d seen %d times after resume",
                     i, second.times[i]);
}

typedef struct assign_state {
    int64_t start[PARTITIONS];
    int assigned;
    int revoked;
    int lost;
} assign_state_t;

static int64_t start_from_table(void *opaque, const char *topic, int32_t partition) {
    assign_state_t *state = opaque;
    cr_assert_str_eq(topic, MM_TOPIC_MODELS);
    cr_assert(partition >= 0 && partition < PARTITIONS);
    state->assigned++;
    return state->start[partition];
}

static void count_revoke(void *opaque, const char *topic, int32_t partition, bool lost) {
    assign_state_t *state = opaque;
    (void)topic;
    (void)partition;
    state->revoked++;
    if (lost) state->lost++;
}

Test(kafka, on_assign_start_offsets_are_honoured_and_missing_commit_is_an_error_not_a_replay) {
    enum { PER_PARTITION = 10, SKIP = 3 };
    /* Keys chosen so each partition gets exactly PER_PARTITION messages, in index order. */
    dr_log_t log = {0};
    mm_kafka_producer_t *producer = producer_new(broker.bootstrap, NULL, &log);
    int per[PARTITIONS] = {0};
    int produced = 0;
    static int32_t partition_of[MAX_MSGS];
    for (int i = 0; produced < PER_PARTITION * PARTITIONS; i++) {
        char key[32];
        int key_len = snprintf(key, sizeof(key), "key-%d", i);
        int32_t p = mm_kafka_partition_for_key(key, (size_t)key_len, PARTITIONS);
        if (per[p] == PER_PARTITION) continue;
        per[p]++;
        produce_range(producer, MM_TOPIC_MODELS, i, 1);
        partition_of[i] = p;
        produced++;
        cr_assert(i < MAX_MSGS);
    }
    flush_all(producer, &log, produced);
    mm_kafka_producer_destroy(producer, 1000);

    assign_state_t state = {.start = {SKIP, SKIP, MM_OFFSET_BEGINNING, MM_OFFSET_COMMITTED}};
    mm_kafka_rebalance_cbs_t cbs = {start_from_table, count_revoke, &state};
    static consumed_t got;
    int want = 2 * (PER_PARTITION - SKIP) + PER_PARTITION;
    mm_kafka_consumer_t *consumer =
        consumer_new(broker.bootstrap, "g-start", MM_TOPIC_MODELS, &group_props, &cbs);
    consume(consumer, &got, want, 60000, 1500);
    cr_expect_eq(state.assigned, PARTITIONS);
    mm_kafka_consumer_close(consumer);
    cr_expect_eq(state.revoked, PARTITIONS, "on_revoke calls at close: %d", state.revoked);
    cr_expect_eq(state.lost, 0);

    cr_expect_eq(got.count, want, "received %d, expected %d", got.count, want);
    for (int i = 0; i < MAX_MSGS; i++) {
        if (!got.times[i]) continue;
        cr_expect_eq(got.times[i], 1, "message %d seen %d times", i, got.times[i]);
        cr_expect_eq(got.partition[i], partition_of[i]);
        cr_expect_neq(got.partition[i], 3, "partition 3 has no commit: must not be read");
        if (got.partition[i] < 2)
            cr_expect_geq(got.offset[i], SKIP, "offset %" PRId64 " before the start offset",
                          got.offset[i]);
    }
    /* auto.offset.reset=error: the partition without a committed offset reports, never guesses. */
    cr_expect_geq(got.errors, 1, "no error for the partition without a committed offset");
    cr_expect(strstr(got.last_error, "[3]"), "error names the partition: %s", got.last_error);
}

typedef struct member_state {
    int assigned;
    int revoked;
} member_state_t;

static int64_t start_at_beginning(void *opaque, const char *topic, int32_t partition) {
    (void)topic;
    (void)partition;
    ((member_state_t *)opaque)->assigned++;
    return MM_OFFSET_BEGINNING;
}

static void count_member_revoke(void *opaque, const char *topic, int32_t partition, bool lost) {
    (void)topic;
    (void)partition;
    (void)lost;
    ((member_state_t *)opaque)->revoked++;
}

/* The real broker is shared by the whole binary: each test that produces uses a
 * topic of its own, so no test sees another's messages. */
#define LAG_TOPIC MM_TOPIC_SCORE_REQUESTS

static mm_kafka_lag_probe_t *lag_probe_new(const char *group) {
    /* Pass-through properties that ask for commits must not make the probe commit. */
    mm_kv_t items[] = {{"enable.auto.commit", "true"}, {"session.timeout.ms", "6000"}};
    mm_kv_list_t props = {items, MM_ARRAY_SIZE(items)};
    char errstr[512];
    mm_kafka_lag_probe_t *probe =
        mm_kafka_lag_probe_new(broker.bootstrap, &props, group, LAG_TOPIC, errstr, sizeof(errstr));
    cr_assert(probe, "lag_probe_new: %s", errstr);
    cr_assert_eq(mm_kafka_lag_probe_partitions(probe), PARTITIONS);
    return probe;
}

static void lag_read(mm_kafka_lag_probe_t *probe, int64_t lag[PARTITIONS]) {
    char errstr[512];
    int32_t n = -1;
    mm_err_t rc = mm_kafka_lag_probe_read(probe, lag, PARTITIONS, &n, (int)mmt_timeout_ms(10000),
                                          errstr, sizeof(errstr));
    cr_assert_eq(rc, MM_OK, "lag_probe_read: %s: %s", mm_err_name(rc), errstr);
    cr_assert_eq(n, PARTITIONS);
}

Test(kafka, lag_probe_counts_what_the_group_has_not_committed_without_joining_or_committing) {
    enum { N = 120, STORED = 50 };
    dr_log_t log = {0};
    mm_kafka_producer_t *producer = producer_new(broker.bootstrap, NULL, &log);
    produce_range(producer, LAG_TOPIC, 0, N);
    flush_all(producer, &log, N);
    mm_kafka_producer_destroy(producer, 1000);
    int64_t produced[PARTITIONS] = {0};
    for (int i = 0; i < N; i++) {
        char key[32];
        int key_len = snprintf(key, sizeof(key), "key-%d", i);
        produced[mm_kafka_partition_for_key(key, (size_t)key_len, PARTITIONS)]++;
    }

    /* A group that never committed: everything in the log counts. */
    mm_kafka_lag_probe_t *probe = lag_probe_new("g-lag");
    int64_t lag[PARTITIONS];
    lag_read(probe, lag);
    for (int p = 0; p < PARTITIONS; p++)
        cr_expect_eq(lag[p], produced[p], "partition %d: lag %" PRId64 ", produced %" PRId64, p,
                     lag[p], produced[p]);
    char errstr[512] = "";
    int64_t small[PARTITIONS - 1];
    cr_expect_eq(
        mm_kafka_lag_probe_read(probe, small, PARTITIONS - 1, NULL, 1000, errstr, sizeof(errstr)),
        MM_ERR_INVALID_ARG, "an array too small must be refused");

    /* A member of the group consumes everything, stores offsets for the first
     * STORED messages (order is per partition) and commits them. */
    member_state_t member = {0};
    mm_kafka_rebalance_cbs_t cbs = {start_at_beginning, count_member_revoke, &member};
    mm_kafka_consumer_t *consumer =
        consumer_new(broker.bootstrap, "g-lag", LAG_TOPIC, &group_props, &cbs);
    static consumed_t got;
    consume(consumer, &got, N, 60000, 0);
    cr_assert_eq(got.count, N, "received %d of %d (last error: %s)", got.count, N, got.last_error);
    int64_t next[PARTITIONS] = {0};
    for (int i = 0; i < STORED; i++)
        if (got.offset[i] + 1 > next[got.partition[i]]) next[got.partition[i]] = got.offset[i] + 1;
    for (int p = 0; p < PARTITIONS; p++)
        if (next[p] > 0)
            cr_assert_eq(mm_kafka_consumer_store_offset(consumer, LAG_TOPIC, p, next[p]), MM_OK);
    /* librdkafka's auto-commit timer commits them within a second. */

    /* The probe sees the commit; reading while the member is active disturbs nothing. */
    bool seen = false;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(30000);
    while (!seen && mm_mono_ms() < deadline) {
        mm_kafka_msg_t msg;
        mm_kafka_consumer_poll(consumer, 100, &msg, errstr, sizeof(errstr));
        lag_read(probe, lag);
        seen = true;
        for (int p = 0; p < PARTITIONS; p++) seen = seen && lag[p] == produced[p] - next[p];
    }
    for (int p = 0; p < PARTITIONS; p++)
        cr_expect_eq(lag[p], produced[p] - next[p],
                     "partition %d: lag %" PRId64 " after committing %" PRId64 " of %" PRId64, p,
                     lag[p], next[p], produced[p]);
    cr_expect_eq(member.assigned, PARTITIONS, "the member should hold every partition");
    cr_expect_eq(member.revoked, 0, "a probe read caused a rebalance");
    mm_kafka_lag_probe_destroy(probe);
    mm_kafka_consumer_close(consumer); /* commits the same stored offsets again */
    cr_expect_eq(member.revoked, PARTITIONS);

    /* The first probe committed nothing of its own: a new one reads the same lag. */
    probe = lag_probe_new("g-lag");
    lag_read(probe, lag);
    for (int p = 0; p < PARTITIONS; p++)
        cr_expect_eq(lag[p], produced[p] - next[p], "partition %d: lag %" PRId64, p, lag[p]);
    mm_kafka_lag_probe_destroy(probe);

    /* Asking about a topic never creates it. */
    cr_expect_null(mm_kafka_lag_probe_new(broker.bootstrap, NULL, "g-lag", "mm.no-such-topic",
                                          errstr, sizeof(errstr)));
    cr_expect(strstr(errstr, "mm.no-such-topic"), "errstr: %s", errstr);
}

Test(kafka, reader_reads_all_partitions_to_the_end_then_reports_not_found) {
    enum { N = 60 };
    dr_log_t log = {0};
    mm_kafka_producer_t *producer = producer_new(broker.bootstrap, NULL, &log);
    produce_range(producer, MM_TOPIC_DECISIONS, 0, N);
    flush_all(producer, &log, N);

    char errstr[512];
    mm_kafka_reader_t *reader =
        mm_kafka_reader_new(broker.bootstrap, MM_TOPIC_DECISIONS, NULL, errstr, sizeof(errstr));
    cr_assert(reader, "reader_new: %s", errstr);
    int times[N] = {0};
    bool partition_seen[PARTITIONS] = {false};
    int count = 0;
    mm_err_t rc;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(30000);
    mm_kafka_msg_t msg;
    while ((rc = mm_kafka_reader_poll(reader, 200, &msg, errstr, sizeof(errstr))) !=
           MM_ERR_NOT_FOUND) {
        cr_assert(mm_mono_ms() < deadline, "reader never reported the end (%d messages)", count);
        if (rc == MM_ERR_TIMEOUT) continue;
        cr_assert_eq(rc, MM_OK, "reader: %s", errstr);
        int index = value_index(&msg);
        cr_assert(index < N);
        expect_on_key_partition(&msg, PARTITIONS);
        times[index]++;
        partition_seen[msg.partition] = true;
        count++;
    }
    cr_expect_eq(count, N, "read %d of %d before the end", count, N);
    for (int i = 0; i < N; i++) cr_expect_eq(times[i], 1, "message %d read %d times", i, times[i]);
    for (int p = 0; p < PARTITIONS; p++) cr_expect(partition_seen[p], "partition %d not read", p);

    /* Messages produced after the end are still delivered, then the end is reported again. */
    dr_log_t more_log = {0};
    mm_kafka_producer_t *more = producer_new(broker.bootstrap, NULL, &more_log);
    produce_range(more, MM_TOPIC_DECISIONS, N - 1, 1);
    flush_all(more, &more_log, 1);
    mm_kafka_producer_destroy(more, 1000);
    bool again = false, end_again = false;
    deadline = mm_mono_ms() + mmt_timeout_ms(30000);
    while (!end_again && mm_mono_ms() < deadline) {
        rc = mm_kafka_reader_poll(reader, 200, &msg, errstr, sizeof(errstr));
        if (rc == MM_OK)
            again = value_index(&msg) == N - 1;
        else if (rc == MM_ERR_NOT_FOUND)
            end_again = again;
        else
            cr_assert_eq(rc, MM_ERR_TIMEOUT, "reader: %s", errstr);
    }
    cr_expect(again, "a message produced after the end was not delivered");
    cr_expect(end_again, "the end was not reported again");
    mm_kafka_reader_destroy(reader);
    mm_kafka_producer_destroy(producer, 1000);
}

Test(kafka, reader_of_empty_topic_reports_not_found_without_messages) {
    char errstr[512];
    mm_kafka_reader_t *reader =
        mm_kafka_reader_new(broker.bootstrap, MM_TOPIC_PREDICTIONS, NULL, errstr, sizeof(errstr));
    cr_assert(reader, "reader_new: %s", errstr);
    mm_kafka_msg_t msg;
    mm_err_t rc;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(30000);
    while ((rc = mm_kafka_reader_poll(reader, 200, &msg, errstr, sizeof(errstr))) == MM_ERR_TIMEOUT)
        cr_assert(mm_mono_ms() < deadline, "no end reported for an empty topic");
    cr_expect_eq(rc, MM_ERR_NOT_FOUND, "got %s: %s", mm_err_name(rc), errstr);
    mm_kafka_reader_destroy(reader);
}

Test(kafka, reader_of_missing_topic_fails_with_not_found) {
    char errstr[512] = "";
    mm_kv_t items[] = {{"topic.metadata.refresh.interval.ms", "1000"}};
    mm_kv_list_t props = {items, MM_ARRAY_SIZE(items)};
    mm_kafka_reader_t *reader =
        mm_kafka_reader_new(broker.bootstrap, "mm.no-such-topic", &props, errstr, sizeof(errstr));
    cr_expect_null(reader);
    cr_expect(strstr(errstr, "mm.no-such-topic"), "errstr: %s", errstr);
    mm_kafka_reader_destroy(reader);
}

Test(kafka, topic_ensure_accepts_an_existing_topic) {
    char errstr[512] = "";
    cr_expect_eq(mm_kafka_topic_ensure(broker.bootstrap, NULL, MM_TOPIC_MODELS, PARTITIONS, 1,
                                       errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
}

#if MMT_KAFKA_REAL
/* @returns @p topic's value of config @p name (malloc'd) as DescribeConfigs reports it. */
static char *topic_config(const char *topic, const char *name) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert_eq(
        rd_kafka_conf_set(conf, "bootstrap.servers", broker.bootstrap, errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK, "%s", errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    cr_assert(rk, "%s", errstr);
    rd_kafka_ConfigResource_t *resource =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, &resource, 1, NULL, queue);
    rd_kafka_event_t *event =
        rd_kafka_queue_poll(queue, (int)mmt_timeout_ms(DESCRIBE_CONFIGS_WAIT_MS));
    cr_assert(event, "no DescribeConfigs result for %s", topic);
    cr_assert_eq(rd_kafka_event_error(event), RD_KAFKA_RESP_ERR_NO_ERROR, "DescribeConfigs: %s",
                 rd_kafka_event_error_string(event));
    size_t n_resources = 0;
    const rd_kafka_ConfigResource_t **resources = rd_kafka_DescribeConfigs_result_resources(
        rd_kafka_event_DescribeConfigs_result(event), &n_resources);
    cr_assert_eq(n_resources, 1);
    cr_assert_eq(rd_kafka_ConfigResource_error(resources[0]), RD_KAFKA_RESP_ERR_NO_ERROR,
                 "DescribeConfigs %s: %s", topic,
                 rd_kafka_ConfigResource_error_string(resources[0]));
    size_t n_entries = 0;
    const rd_kafka_ConfigEntry_t **entries =
        rd_kafka_ConfigResource_configs(resources[0], &n_entries);
    char *value = NULL;
    for (size_t i = 0; i < n_entries && !value; i++)
        if (strcmp(rd_kafka_ConfigEntry_name(entries[i]), name) == 0)
            value = strdup(rd_kafka_ConfigEntry_value(entries[i])
                               ? rd_kafka_ConfigEntry_value(entries[i])
                               : "");
    rd_kafka_event_destroy(event);
    rd_kafka_queue_destroy(queue);
    rd_kafka_ConfigResource_destroy(resource);
    rd_kafka_destroy(rk);
    cr_assert(value, "%s has no config %s", topic, name);
    return value;
}

/* The dev broker answers no DescribeConfigs: this is a real-broker check only. */
Test(kafka, topics_init_makes_decisions_compacted_and_leaves_the_others_to_retention) {
    char *policy = topic_config(MM_TOPIC_DECISIONS, "cleanup.policy");
    cr_expect_str_eq(policy, "compact", "%s has cleanup.policy=%s", MM_TOPIC_DECISIONS, policy);
    free(policy);
    size_t n = 0;
    const mm_kafka_topic_spec_t *specs = mm_kafka_topic_specs(&n);
    cr_assert_eq(n, 6, "every topic of docs/ARCHITECTURE.md");
    for (size_t i = 0; i < n; i++) {
        policy = topic_config(specs[i].topic, "cleanup.policy");
        cr_expect_str_eq(policy, specs[i].compacted ? "compact" : "delete",
                         "%s has cleanup.policy=%s", specs[i].topic, policy);
        free(policy);
        if (specs[i].compacted) continue;
        char *retention = topic_config(specs[i].topic, "retention.ms");
        char want[32];
        snprintf(want, sizeof(want), "%" PRId64, specs[i].retention_ms);
        cr_expect_str_eq(retention, want, "%s has retention.ms=%s", specs[i].topic, retention);
        free(retention);
        mm_kafka_topic_info_t info;
        char errstr[512] = "";
        cr_assert_eq(mm_kafka_topic_describe(broker.bootstrap, NULL, specs[i].topic, &info, errstr,
                                             sizeof(errstr)),
                     MM_OK, "%s", errstr);
        cr_expect(info.exists && info.has_controller && info.configs_known);
        cr_expect_eq(info.partitions, PARTITIONS);
        cr_expect_eq(info.replication, 1);
        cr_expect_str_eq(mm_kv_list_get(&info.dynamic, "retention.ms"), want,
                         "retention.ms is set on the topic, not a broker default");
        mm_kafka_topic_info_clear(&info);
    }
    /* Running it again changes nothing and succeeds. */
    json_t *doc = topics_init_json(broker.bootstrap, NULL);
    json_t *topics = json_object_get(doc, "topics");
    cr_expect_eq(json_array_size(topics), n);
    for (size_t i = 0; i < json_array_size(topics); i++)
        cr_expect_str_eq(json_string_value(json_object_get(json_array_get(topics, i), "action")),
                         "ok", "second init: %s",
                         json_string_value(json_object_get(json_array_get(topics, i), "topic")));
    json_decref(doc);
    policy = topic_config(MM_TOPIC_DECISIONS, "cleanup.policy");
    cr_expect_str_eq(policy, "compact");
    free(policy);
}

static void alter_config(const char *topic, const char *name, const char *value) {
    mm_kv_t items[] = {{(char *)name, (char *)value}};
    mm_kv_list_t configs = {items, 1};
    char errstr[512] = "";
    cr_assert_eq(mm_kafka_topic_alter_configs(broker.bootstrap, NULL, topic, &configs, errstr,
                                              sizeof(errstr)),
                 MM_OK, "%s", errstr);
}

/* @p topic is a logical name: the prefix in force is applied. */
static void expect_config(const char *topic, const char *name, const char *want) {
    char physical[256], errstr[512];
    cr_assert_eq(mm_kafka_topic_name(topic, physical, sizeof(physical), errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    topic = physical;
    char *have = topic_config(topic, name);
    cr_expect_str_eq(have, want, "%s: %s=%s, expected %s", topic, name, have, want);
    free(have);
}

Test(kafka, topics_init_brings_drifted_configs_back_and_keeps_the_ones_it_does_not_manage) {
    /* A prefix of its own: these topics are this test's alone. */
    static const char *const prefix_args[] = {"--topic-prefix", "drift.", NULL};
    char errstr[512] = "";
    json_t *doc = topics_init_json(broker.bootstrap, prefix_args);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "topic_prefix")), "drift.");
    json_t *entry = plan_entry(doc, "drift.mm.predictions");
    cr_assert(entry, "the plan names the prefixed topic");
    cr_expect_str_eq(json_string_value(json_object_get(entry, "logical")), MM_TOPIC_PREDICTIONS);
    cr_expect_str_eq(json_string_value(json_object_get(entry, "action")), "create");
    json_decref(doc);
    cr_assert_eq(mm_kafka_set_topic_prefix("drift.", errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    expect_config(MM_TOPIC_PREDICTIONS, "retention.ms", "604800000");

    /* Something an operator set by hand survives changes of other configs. */
    alter_config(MM_TOPIC_PREDICTIONS, "max.message.bytes", "500000");
    expect_config(MM_TOPIC_PREDICTIONS, "retention.ms", "604800000");
    expect_config(MM_TOPIC_PREDICTIONS, "cleanup.policy", "delete");
    /* Drift: a retention nobody planned, and mm.decisions no longer compacted. */
    alter_config(MM_TOPIC_PREDICTIONS, "retention.ms", "3600000");
    alter_config(MM_TOPIC_DECISIONS, "cleanup.policy", "delete");

    /* --dry-run says what would change and changes nothing. */
    static const char *const dry_args[] = {"--topic-prefix", "drift.", "--dry-run", NULL};
    doc = topics_init_json(broker.bootstrap, dry_args);
    cr_expect(json_is_true(json_object_get(doc, "dry_run")));
    entry = plan_entry(doc, "drift.mm.predictions");
    cr_assert(entry);
    cr_expect_str_eq(json_string_value(json_object_get(entry, "action")), "alter");
    json_t *change = json_array_get(json_object_get(entry, "changes"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(change, "config")), "retention.ms");
    cr_expect_str_eq(json_string_value(json_object_get(change, "from")), "3600000");
    cr_expect_str_eq(json_string_value(json_object_get(change, "to")), "604800000");
    entry = plan_entry(doc, "drift.mm.decisions");
    cr_assert(entry);
    cr_expect_str_eq(json_string_value(json_object_get(entry, "action")), "alter");
    entry = plan_entry(doc, "drift.mm.models");
    cr_assert(entry);
    cr_expect_str_eq(json_string_value(json_object_get(entry, "action")), "ok");
    json_decref(doc);
    expect_config(MM_TOPIC_PREDICTIONS, "retention.ms", "3600000");
    expect_config(MM_TOPIC_DECISIONS, "cleanup.policy", "delete");

    /* The real run brings both back and keeps the hand-set config. */
    static const char *const table_args[] = {"--topic-prefix", "drift.", NULL};
    static char output[MMCTL_OUTPUT_MAX];
    cr_assert_eq(topics_init_run(broker.bootstrap, table_args, output, sizeof(output)), 0, "%s",
                 output);
    cr_expect(strstr(output, "retention.ms: 3600000 -> 604800000") != NULL, "%s", output);
    expect_config(MM_TOPIC_PREDICTIONS, "retention.ms", "604800000");
    expect_config(MM_TOPIC_PREDICTIONS, "max.message.bytes", "500000");
    expect_config(MM_TOPIC_DECISIONS, "cleanup.policy", "compact");

    /* An explicit retention applies to every delete topic; -1 keeps forever. */
    static const char *const forever_args[] = {"--topic-prefix", "drift.", "--retention-ms", "-1",
                                               NULL};
    doc = topics_init_json(broker.bootstrap, forever_args);
    json_decref(doc);
    expect_config(MM_TOPIC_OBSERVATIONS, "retention.ms", "-1");
    expect_config(MM_TOPIC_DEADLETTER, "retention.ms", "-1");
    expect_config(MM_TOPIC_DECISIONS, "cleanup.policy", "compact");
}
#endif

#if !MMT_KAFKA_REAL
/* Poll @p a (and @p b when given) until @p done says so or @p timeout_ms passes. */
static bool poll_until(mm_kafka_consumer_t *a, mm_kafka_consumer_t *b, bool (*done)(void *),
                       void *arg, int64_t timeout_ms) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(timeout_ms);
    while (!done(arg) && mm_mono_ms() < deadline) {
        mm_kafka_msg_t msg;
        char errstr[512];
        (void)mm_kafka_consumer_poll(a, 50, &msg, errstr, sizeof(errstr));
        if (b) (void)mm_kafka_consumer_poll(b, 50, &msg, errstr, sizeof(errstr));
    }
    return done(arg);
}

static bool all_assigned(void *arg) {
    return ((member_state_t *)arg)->assigned >= PARTITIONS;
}

static bool join_answered(void *arg) {
    char *member = rd_kafka_memberid(mm_kafka__consumer_handle(arg));
    bool answered = member && *member;
    rd_kafka_mem_free(NULL, member);
    return answered;
}

/*
 * A member stopped after its JoinGroup was answered and before its first
 * SyncGroup answer (a trainer stopped while it joins a rebalancing group,
 * fault scenario 12) closes cleanly: librdkafka before 2.3.0 aborts the
 * process when such a handle is destroyed (mm_kafka_consumer_close).
 */
Test(kafka, consumer_closed_between_join_and_first_assignment_stops_without_aborting) {
    if (mmt_broker_real()) cr_skip_test("a dev-broker fault (MM_TEST_BROKER=kafka)");
    /* A broker of its own, with the fault-injection control channel. */
    static mmt_broker_t faulty;
    mmt_broker_start_with(&faulty, &(mmt_broker_opts_t){.partitions = PARTITIONS, .control = true});
    member_state_t first = {0}, second = {0};
    mm_kafka_rebalance_cbs_t cbs1 = {start_at_beginning, count_member_revoke, &first};
    mm_kafka_rebalance_cbs_t cbs2 = {start_at_beginning, count_member_revoke, &second};
    mm_kafka_consumer_t *a = consumer_new(faulty.bootstrap, "g-close-joining", MM_TOPIC_PREDICTIONS,
                                          &group_props, &cbs1);
    cr_assert(poll_until(a, NULL, all_assigned, &first, 30000), "the first member got %d of %d",
              first.assigned, PARTITIONS);
    /* The next SyncGroup answers (the first member's and the second's) come 3 s late. */
    mmt_broker_control_ok(&faulty, "broker-request-errors 1 SyncGroup NO_ERROR:3000 NO_ERROR:3000");
    mm_kafka_consumer_t *b = consumer_new(faulty.bootstrap, "g-close-joining", MM_TOPIC_PREDICTIONS,
                                          &group_props, &cbs2);
    cr_assert(poll_until(a, b, join_answered, b, 30000), "the second member never joined");
    cr_assert_eq(second.assigned, 0, "the second member was assigned before the test closed it");
    mm_kafka_consumer_close(b);
    /* The partitions it was handed while closing were given back without reaching the service. */
    cr_expect_eq(second.assigned, 0);
    cr_expect_eq(second.revoked, 0);
    /* The first member goes on and closes normally. */
    first.assigned = 0;
    first.revoked = 0;
    (void)poll_until(a, NULL, all_assigned, &first, 2000);
    mm_kafka_consumer_close(a);
    cr_expect_gt(first.revoked, 0, "the first member gave nothing back when it closed");
    mmt_broker_stop(&faulty);
}

Test(kafka, topics_init_on_the_dev_broker_checks_layout_but_reports_configs_unchecked) {
    /* The dev broker has no controller: its topics exist from the start, configs are unknown. */
    if (mmt_broker_real()) cr_skip_test("a dev-broker check (MM_TEST_BROKER=kafka)");
    json_t *doc = topics_init_json(broker.bootstrap, NULL);
    json_t *topics = json_object_get(doc, "topics");
    cr_expect_eq(json_array_size(topics), 6);
    for (size_t i = 0; i < json_array_size(topics); i++) {
        json_t *t = json_array_get(topics, i);
        cr_expect_str_eq(json_string_value(json_object_get(t, "action")), "unchecked", "%s",
                         json_string_value(json_object_get(t, "topic")));
        cr_expect_eq(json_integer_value(json_object_get(t, "partitions")), PARTITIONS);
    }
    json_decref(doc);
    /* A topic it lacks cannot be created there: a clear failure, not a hang. */
    static const char *const prefix_args[] = {"--topic-prefix", "absent.", NULL};
    static char output[MMCTL_OUTPUT_MAX];
    cr_expect_eq(topics_init_run(broker.bootstrap, prefix_args, output, sizeof(output)), 1);
}
#endif

static int64_t assigned_logical;

static int64_t note_logical_assign(void *opaque, const char *topic, int32_t partition) {
    (void)opaque;
    (void)partition;
    if (strcmp(topic, MM_TOPIC_PREDICTIONS) == 0) assigned_logical++;
    return MM_OFFSET_BEGINNING;
}

/* @returns the offset group @p group (as named on the cluster) committed on @p topic [p]. */
static int64_t committed_offset(const char *group, const char *topic, int32_t partition) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert_eq(
        rd_kafka_conf_set(conf, "bootstrap.servers", broker.bootstrap, errstr, sizeof(errstr)),
        RD_KAFKA_CONF_OK);
    cr_assert_eq(rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)),
                 RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    cr_assert(rk, "%s", errstr);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition);
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, list, (int)mmt_timeout_ms(20000));
    int64_t offset = err ? -2 : list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return offset;
}

Test(kafka, topic_prefix_names_topics_and_groups_on_the_cluster_and_callers_see_logical_names) {
    enum { N = 40 };
    char errstr[512] = "";
#if MMT_KAFKA_REAL
    /* As a deployment would: the prefixed topics first. */
    static const char *const prefix_args[] = {"--topic-prefix", "ds2.", NULL};
    json_decref(topics_init_json(broker.bootstrap, prefix_args));
#endif
    cr_assert_eq(mm_kafka_set_topic_prefix("ds2.", errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    dr_log_t log = {0};
    mm_kafka_producer_t *producer = producer_new(broker.bootstrap, NULL, &log);
    produce_range(producer, MM_TOPIC_PREDICTIONS, 0, N);
    flush_all(producer, &log, N);
    mm_kafka_producer_destroy(producer, 1000);

    mm_kafka_rebalance_cbs_t cbs = {.on_assign = note_logical_assign};
    mm_kafka_consumer_t *consumer =
        consumer_new(broker.bootstrap, "prefix-group", MM_TOPIC_PREDICTIONS, &group_props, &cbs);
    int got = 0;
    int64_t last_offset[PARTITIONS];
    for (int p = 0; p < PARTITIONS; p++) last_offset[p] = -1;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(60000);
    while (got < N && mm_mono_ms() < deadline) {
        mm_kafka_msg_t msg;
        mm_err_t rc = mm_kafka_consumer_poll(consumer, 500, &msg, errstr, sizeof(errstr));
        if (rc == MM_ERR_TIMEOUT) continue;
        cr_assert_eq(rc, MM_OK, "%s", errstr);
        cr_expect_str_eq(msg.topic, MM_TOPIC_PREDICTIONS, "messages carry the logical name");
        cr_assert(msg.partition >= 0 && msg.partition < PARTITIONS);
        last_offset[msg.partition] = msg.offset;
        mm_kafka_consumer_store_offset(consumer, msg.topic, msg.partition, msg.offset + 1);
        got++;
    }
    cr_expect_eq(got, N);
    cr_expect_gt(assigned_logical, 0, "on_assign got the logical topic name");
    mm_kafka_consumer_close(consumer); /* commits what was stored */

    /* On the cluster: the topic and the group carry the prefix; nothing went to the bare name. */
    int checked = 0;
    for (int32_t p = 0; p < PARTITIONS; p++) {
        if (last_offset[p] < 0) continue;
        cr_expect_eq(committed_offset("ds2.prefix-group", "ds2.mm.predictions", p),
                     last_offset[p] + 1, "partition %d committed under the prefixed group", p);
        checked++;
    }
    cr_expect_gt(checked, 0);
    cr_assert_eq(mm_kafka_set_topic_prefix("", errstr, sizeof(errstr)), MM_OK);
    mm_kafka_lag_probe_t *probe = NULL;
    probe = mm_kafka_lag_probe_new(broker.bootstrap, NULL, "ds2.prefix-group", "ds2.mm.predictions",
                                   errstr, sizeof(errstr));
    cr_assert(probe, "the prefixed topic exists under its full name: %s", errstr);
    int64_t lag[PARTITIONS];
    cr_expect_eq(mm_kafka_lag_probe_read(probe, lag, PARTITIONS, NULL, (int)mmt_timeout_ms(20000),
                                         errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    for (int p = 0; p < PARTITIONS; p++) cr_expect_eq(lag[p], 0, "partition %d fully consumed", p);
    mm_kafka_lag_probe_destroy(probe);
}

#if MMT_KAFKA_REAL
/* Read @p topic (logical; the prefix in force applies) to its end: value of the last record per
 * key into @p latest (index = key number, "k<i>" keys only), @returns the records read. */
static int read_latest(const char *topic, char latest[][32], int keys, int *per_key) {
    char errstr[512] = "";
    mm_kafka_reader_t *reader =
        mm_kafka_reader_new(broker.bootstrap, topic, NULL, errstr, sizeof(errstr));
    cr_assert(reader, "%s", errstr);
    int records = 0;
    for (int k = 0; k < keys; k++) per_key[k] = 0;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(30000);
    for (;;) {
        mm_kafka_msg_t msg;
        mm_err_t rc = mm_kafka_reader_poll(reader, 500, &msg, errstr, sizeof(errstr));
        if (rc == MM_ERR_NOT_FOUND) break;
        if (rc == MM_ERR_TIMEOUT) {
            cr_assert_lt(mm_mono_ms(), deadline, "reader did not reach the end of %s", topic);
            continue;
        }
        cr_assert_eq(rc, MM_OK, "%s", errstr);
        records++;
        int64_t k = -1;
        char key[32] = "";
        if (msg.key && msg.key_len < sizeof(key)) memcpy(key, msg.key, msg.key_len);
        if (key[0] == 'k' && mm_parse_i64(key + 1, &k) && k >= 0 && k < keys) {
            per_key[k]++;
            snprintf(latest[k], 32, "%.*s", (int)msg.value_len, (const char *)msg.value);
        }
    }
    mm_kafka_reader_destroy(reader);
    return records;
}

/*
 * What the dev broker cannot show: mm.decisions as topics init makes it is
 * compacted, so the log cleaner leaves the latest decision per key and the
 * production-model map survives any retention. Segments roll every 100 ms and
 * the cleaner may clean at once here, so compaction happens within seconds.
 */
Test(kafka, compaction_of_decisions_keeps_the_latest_record_per_key) {
    enum { KEYS = 20, ROUNDS = 5 };
    static const char *const prefix_args[] = {"--topic-prefix", "compact.", NULL};
    json_decref(topics_init_json(broker.bootstrap, prefix_args));
    char errstr[512] = "";
    cr_assert_eq(mm_kafka_set_topic_prefix("compact.", errstr, sizeof(errstr)), MM_OK);
    mm_kv_t quick_items[] = {{"segment.ms", "100"},
                             {"min.cleanable.dirty.ratio", "0.01"},
                             {"min.compaction.lag.ms", "0"}};
    mm_kv_list_t quick = {quick_items, MM_ARRAY_SIZE(quick_items)};
    cr_assert_eq(mm_kafka_topic_alter_configs(broker.bootstrap, NULL, MM_TOPIC_DECISIONS, &quick,
                                              errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    expect_config(MM_TOPIC_DECISIONS, "cleanup.policy", "compact");

    dr_log_t log = {0};
    mm_kafka_producer_t *producer = producer_new(broker.bootstrap, NULL, &log);
    for (int round = 0; round < ROUNDS; round++) {
        for (int k = 0; k < KEYS; k++) {
            char key[16], value[32];
            snprintf(key, sizeof(key), "k%d", k);
            snprintf(value, sizeof(value), "decision-%d-%d", k, round);
            cr_assert_eq(mm_kafka_produce(producer, MM_TOPIC_DECISIONS, key, strlen(key), value,
                                          strlen(value), NULL, 5000, errstr, sizeof(errstr)),
                         MM_OK, "%s", errstr);
        }
        cr_assert_eq(mm_kafka_producer_flush(producer, (int)mmt_timeout_ms(20000)), MM_OK);
        mm_sleep_ms(300, NULL); /* past segment.ms: the next record starts a new segment */
    }
    /* One more record in every partition closes the segment holding the last round: the
     * cleaner never touches a partition's active segment. */
    for (int32_t p = 0; p < PARTITIONS; p++) {
        char key[32];
        for (int i = 0;; i++) {
            snprintf(key, sizeof(key), "roll-%d", i);
            if (mm_kafka_partition_for_key(key, strlen(key), PARTITIONS) == p) break;
        }
        cr_assert_eq(mm_kafka_produce(producer, MM_TOPIC_DECISIONS, key, strlen(key), "roll", 4,
                                      NULL, 5000, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
    }
    cr_assert_eq(mm_kafka_producer_flush(producer, (int)mmt_timeout_ms(20000)), MM_OK);
    mm_kafka_producer_destroy(producer, 1000);
    const int produced = KEYS * ROUNDS + PARTITIONS;

    char latest[KEYS][32];
    int per_key[KEYS];
    int records = produced;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(90000);
    while (mm_mono_ms() < deadline) {
        records = read_latest(MM_TOPIC_DECISIONS, latest, KEYS, per_key);
        if (records == KEYS + PARTITIONS) break;
        mm_sleep_ms(1000, NULL);
    }
    cr_expect_eq(records, KEYS + PARTITIONS,
                 "after compaction: one decision per key and the records in the active segments "
                 "(%d of %d records left)",
                 records, produced);
    for (int k = 0; k < KEYS; k++) {
        char want[32];
        snprintf(want, sizeof(want), "decision-%d-%d", k, ROUNDS - 1);
        cr_expect_eq(per_key[k], 1, "key k%d appears %d times", k, per_key[k]);
        cr_expect_str_eq(latest[k], want, "key k%d keeps its latest decision", k);
    }
}

/*
 * The dev broker keeps only the newest ~5 MiB per partition and drops the
 * rest silently; the real broker with the retention topics init sets keeps
 * a load far larger than that, every record.
 */
Test(kafka, retention_keeps_a_load_larger_than_the_dev_brokers_window) {
    enum { RECORDS = 800, RECORD_BYTES = 32 * 1024 };
    static const char *const prefix_args[] = {"--topic-prefix", "retain.", NULL};
    json_decref(topics_init_json(broker.bootstrap, prefix_args));
    char errstr[512] = "";
    cr_assert_eq(mm_kafka_set_topic_prefix("retain.", errstr, sizeof(errstr)), MM_OK);
    expect_config(MM_TOPIC_OBSERVATIONS, "retention.ms", "604800000");

    static uint8_t value[RECORD_BYTES];
    uint64_t state = 0x9e3779b97f4a7c15ull;
    dr_log_t log = {0};
    mm_kafka_producer_t *producer = producer_new(broker.bootstrap, NULL, &log);
    for (int i = 0; i < RECORDS; i++) {
        /* Incompressible bytes (lz4 is on), the record's index first. */
        for (size_t b = 0; b < sizeof(value); b++) {
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;
            value[b] = (uint8_t)state;
        }
        memcpy(value, &i, sizeof(i));
        char key[16];
        snprintf(key, sizeof(key), "key-%d", i % 16);
        cr_assert_eq(mm_kafka_produce(producer, MM_TOPIC_OBSERVATIONS, key, strlen(key), value,
                                      sizeof(value), (void *)(intptr_t)-1, 30000, errstr,
                                      sizeof(errstr)),
                     MM_OK, "%s", errstr);
    }
    cr_assert_eq(mm_kafka_producer_flush(producer, (int)mmt_timeout_ms(60000)), MM_OK);
    cr_assert_eq(log.delivered, RECORDS);
    mm_kafka_producer_destroy(producer, 1000);

    mm_kafka_reader_t *reader =
        mm_kafka_reader_new(broker.bootstrap, MM_TOPIC_OBSERVATIONS, NULL, errstr, sizeof(errstr));
    cr_assert(reader, "%s", errstr);
    static int seen[RECORDS];
    int64_t bytes[PARTITIONS] = {0};
    int got = 0;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(60000);
    for (;;) {
        mm_kafka_msg_t msg;
        mm_err_t rc = mm_kafka_reader_poll(reader, 500, &msg, errstr, sizeof(errstr));
        if (rc == MM_ERR_NOT_FOUND) break;
        if (rc == MM_ERR_TIMEOUT) {
            cr_assert_lt(mm_mono_ms(), deadline, "the reader did not reach the end");
            continue;
        }
        cr_assert_eq(rc, MM_OK, "%s", errstr);
        int index = -1;
        if (msg.value_len == RECORD_BYTES) memcpy(&index, msg.value, sizeof(index));
        cr_assert(index >= 0 && index < RECORDS, "record of %zu bytes", msg.value_len);
        seen[index]++;
        bytes[msg.partition] += (int64_t)msg.value_len;
        got++;
    }
    mm_kafka_reader_destroy(reader);
    cr_expect_eq(got, RECORDS, "every record is still there");
    for (int i = 0; i < RECORDS; i++)
        cr_expect_eq(seen[i], 1, "record %d seen %d times", i, seen[i]);
    int64_t largest = 0;
    for (int p = 0; p < PARTITIONS; p++)
        if (bytes[p] > largest) largest = bytes[p];
    cr_expect_gt(largest, 5 * 1024 * 1024,
                 "a partition holds more than the dev broker's ~5 MiB (%" PRId64 " bytes)",
                 largest);
}
#endif

/* The real broker of this test is its own: stopping the shared one would end the others. */
#if MMT_KAFKA_REAL
static mmt_kafka_t own_kafka;

static void own_broker_up(void) {
    if (mmt_kafka_skipped()) cr_skip_test("MM_SKIP_REAL_KAFKA=1");
    char why[1024];
    bool up = mmt_kafka_start(&own_kafka, PARTITIONS, why, sizeof(why));
    if (!up) mmt_kafka_stop(&own_kafka);
    cr_assert(up, "%s", why);
}

static void own_broker_down(void) {
    mmt_kafka_stop(&own_kafka);
}

#define STOPPED_BROKER_SUITE kafka_own_broker
#define STOPPED_BROKER_OPTS  .init = own_broker_up, .fini = own_broker_down
#define STOPPED_BOOTSTRAP    own_kafka.bootstrap
#define stop_the_broker()    mmt_kafka_stop(&own_kafka)
#else
#define STOPPED_BROKER_SUITE kafka
#define STOPPED_BROKER_OPTS  .disabled = false
#define STOPPED_BOOTSTRAP    broker.bootstrap
#define stop_the_broker()    mmt_broker_stop(&broker)
#endif

Test(STOPPED_BROKER_SUITE, producing_to_a_stopped_broker_reports_failure_instead_of_hanging,
     STOPPED_BROKER_OPTS) {
    mm_kv_t items[] = {{"message.timeout.ms", "3000"}};
    mm_kv_list_t props = {items, MM_ARRAY_SIZE(items)};
    dr_log_t log = {0};
    mm_kafka_producer_t *producer = producer_new(STOPPED_BOOTSTRAP, &props, &log);
    produce_range(producer, MM_TOPIC_MODELS, 0, 1);
    flush_all(producer, &log, 1);

    stop_the_broker();
    produce_range(producer, MM_TOPIC_MODELS, 1, 1);
    cr_expect_eq(mm_kafka_producer_flush(producer, (int)mmt_timeout_ms(30000)), MM_OK,
                 "flush did not return after message.timeout.ms");
    cr_expect_eq(log.delivered, 1);
    cr_expect_eq(log.failed, 1, "the message for the stopped broker was not reported failed");
    cr_expect_eq(log.seen[1], 1);
    mm_kafka_producer_destroy(producer, 0);
}
