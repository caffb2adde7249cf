/*
 * faults.c - shared parts of the fault scenarios (see faults.h).
 *
 * Workload: a few thousand small messages per scenario on one partition set
 * of the dev broker; everything is read back once after the producer has
 * flushed, so reaching the end of every partition means everything was read.
 */
#include "faults.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "mm/util.h"
#include "support.h"

/* How long one produce call may wait for room in the local queue. */
#define FAULT_PRODUCE_BLOCK_MS 30000
#define FAULT_POLL_MS          200
#define FAULT_TEXT_MAX         64

uint64_t mmt_fault_seed(const char *scenario) {
    uint64_t seed = 0;
    const char *env = getenv("MM_FAULT_SEED");
    int64_t parsed;
    if (env && *env && mm_parse_i64(env, &parsed) && parsed > 0) {
        seed = (uint64_t)parsed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec;
        seed &= INT64_MAX; /* printable and replayable through MM_FAULT_SEED */
        if (seed == 0) seed = 1;
    }
    fprintf(stderr, "fault scenario %s: seed %" PRIu64 " (replay with MM_FAULT_SEED=%" PRIu64 ")\n",
            scenario, seed, seed);
    return seed;
}

int64_t mmt_fault_rand(uint64_t *state, int64_t lo, int64_t hi) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    if (hi <= lo) return lo;
    return lo + (int64_t)(z % (uint64_t)(hi - lo + 1));
}

static void record_report(void *opaque, void *msg_opaque, mm_err_t err, const char *reason) {
    (void)msg_opaque;
    mmt_fault_producer_t *run = opaque;
    run->last_report_ms = mm_mono_ms();
    if (run->mark_ms > 0 && run->first_report_after_mark_ms == 0)
        run->first_report_after_mark_ms = run->last_report_ms;
    if (err == MM_OK) {
        run->delivered++;
        return;
    }
    run->failed++;
    snprintf(run->last_failure, sizeof(run->last_failure), "%s: %s", mm_err_name(err),
             reason ? reason : "(no reason)");
}

void mmt_fault_producer_new(mmt_fault_producer_t *run, const char *bootstrap, const char *topic,
                            const mm_kv_list_t *props) {
    char errstr[512];
    memset(run, 0, sizeof(*run));
    run->topic = topic;
    run->producer =
        mm_kafka_producer_new(bootstrap, props, record_report, run, errstr, sizeof(errstr));
    cr_assert(run->producer, "producer: %s", errstr);
}

void mmt_fault_produce(mmt_fault_producer_t *run, int count) {
    for (int i = 0; i < count; i++) {
        int seq = run->produced;
        char key[FAULT_TEXT_MAX], value[FAULT_TEXT_MAX], errstr[512];
        int key_len = snprintf(key, sizeof(key), "key-%d", seq % MMT_FAULT_KEYS);
        int value_len = snprintf(value, sizeof(value), "%s|%d", key, seq);
        mm_err_t rc = mm_kafka_produce(
            run->producer, run->topic, key, (size_t)key_len, value, (size_t)value_len, NULL,
            (int)mmt_timeout_ms(FAULT_PRODUCE_BLOCK_MS), errstr, sizeof(errstr));
        cr_assert_eq(rc, MM_OK, "produce seq %d: %s", seq, errstr);
        run->produced++;
    }
    mm_kafka_producer_poll(run->producer, 0);
}

bool mmt_fault_producer_finish(mmt_fault_producer_t *run, int64_t timeout_ms) {
    bool flushed = mm_kafka_producer_flush(run->producer, (int)mmt_timeout_ms(timeout_ms)) == MM_OK;
    mm_kafka_producer_destroy(run->producer, 0);
    run->producer = NULL;
    return flushed;
}

/* @returns the seq of a test message whose value names its own key, else -1. */
static int message_seq(const mm_kafka_msg_t *msg) {
    char value[FAULT_TEXT_MAX];
    if (!msg->value || !msg->key || msg->value_len >= sizeof(value)) return -1;
    memcpy(value, msg->value, msg->value_len);
    value[msg->value_len] = '\0';
    char *bar = strchr(value, '|');
    int64_t seq;
    if (!bar || !mm_parse_i64(bar + 1, &seq) || seq < 0 || seq > INT32_MAX) return -1;
    if ((size_t)(bar - value) != msg->key_len || memcmp(value, msg->key, msg->key_len) != 0)
        return -1;
    return (int)seq;
}

void mmt_fault_read_back(const char *bootstrap, const char *topic, int expected, int64_t timeout_ms,
                         mmt_fault_readback_t *out) {
    char errstr[512];
    memset(out, 0, sizeof(*out));
    out->expected = expected;
    unsigned char *seen = calloc((size_t)expected + 1, 1);
    cr_assert(seen, "out of memory");
    mm_kafka_reader_t *reader = mm_kafka_reader_new(bootstrap, topic, NULL, errstr, sizeof(errstr));
    cr_assert(reader, "reader: %s", errstr);
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(timeout_ms);
    while (mm_mono_ms() < deadline) {
        mm_kafka_msg_t msg;
        mm_err_t rc = mm_kafka_reader_poll(reader, FAULT_POLL_MS, &msg, errstr, sizeof(errstr));
        if (rc == MM_ERR_NOT_FOUND) break; /* every partition read to its end */
        if (rc == MM_ERR_TIMEOUT) continue;
        cr_assert_eq(rc, MM_OK, "reading %s back: %s", topic, errstr);
        out->received++;
        int seq = message_seq(&msg);
        if (seq < 0 || seq >= expected) {
            out->foreign++;
            continue;
        }
        if (!seen[seq]) out->distinct++;
        seen[seq] = 1;
    }
    mm_kafka_reader_destroy(reader);
    free(seen);
    out->lost = expected - out->distinct;
    out->duplicates = out->received - out->foreign - out->distinct;
}
