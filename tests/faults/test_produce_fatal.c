/*
 * test_produce_fatal.c - fault scenario 9 of docs/reliability.md, the
 * produce errors retrying cannot fix: CORRUPT_MESSAGE (2), which fails the
 * request's messages, and OUT_OF_ORDER_SEQUENCE_NUMBER (45), which makes the
 * idempotent producer fail fatally (its sequence state is lost). Either way
 * the project's producer must hand every message back, delivered or through
 * a failed delivery report naming the error, and the caller that sends the
 * failures again - as the services' outboxes do - must end with every
 * message on the topic. On the fatal error the producer logs it at error
 * level, counts it on /metrics and replaces its librdkafka instance once
 * (no crash loop), and goes on producing.
 *
 * The dev broker does not deduplicate an idempotent producer's resends, so
 * duplicates on the topic are counted and printed; keeping them out of
 * what is stored downstream is the checker's concern (scenarios 1, 19).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "checker.h"
#include "faults.h"
#include "mm/buf.h"
#include "mm/fs.h"
#include "mm/kafka.h"
#include "mm/metrics.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define PARTITIONS   4
#define MESSAGES     1000
#define FLUSH_MS     30000
#define BLOCK_MS     30000
#define READ_BACK_MS 20000
#define RESEND_MAX   5 /* rounds of sending the failures again */
#define LOG_MAX      (64 * 1024 * 1024)

enum { SEQ_QUEUED = 0, SEQ_DELIVERED = 1, SEQ_FAILED = 2 };

/* A producer run that knows which message each report is about, so the failures can be sent
 * again as an outbox would. */
typedef struct resend_run {
    mm_kafka_producer_t *producer;
    unsigned char state[MESSAGES];
    int delivered, failed, resent;
    char first_failure[1024];
} resend_run_t;

static void on_report(void *opaque, void *msg_opaque, mm_err_t err, const char *reason) {
    resend_run_t *run = opaque;
    int seq = (int)((uintptr_t)msg_opaque - 1);
    cr_assert(seq >= 0 && seq < MESSAGES, "a report for no message (%d)", seq);
    run->state[seq] = err == MM_OK ? SEQ_DELIVERED : SEQ_FAILED;
    if (err == MM_OK) {
        run->delivered++;
        return;
    }
    run->failed++;
    if (!run->first_failure[0])
        snprintf(run->first_failure, sizeof(run->first_failure), "%s: %s", mm_err_name(err),
                 reason ? reason : "(no reason)");
}

/* Queue seq as faults.c does: key "key-<seq % 97>", value "<key>|<seq>". */
static void produce_seq(resend_run_t *run, int seq) {
    char key[64], value[64], errstr[1024];
    int key_len = snprintf(key, sizeof(key), "key-%d", seq % MMT_FAULT_KEYS);
    int value_len = snprintf(value, sizeof(value), "%s|%d", key, seq);
    run->state[seq] = SEQ_QUEUED;
    mm_err_t rc = mm_kafka_produce(run->producer, MM_TOPIC_OBSERVATIONS, key, (size_t)key_len,
                                   value, (size_t)value_len, (void *)(uintptr_t)(seq + 1),
                                   (int)mmt_timeout_ms(BLOCK_MS), errstr, sizeof(errstr));
    cr_assert_eq(rc, MM_OK, "produce seq %d: %s", seq, errstr);
}

static void flush_all(resend_run_t *run) {
    cr_assert_eq(mm_kafka_producer_flush(run->producer, (int)mmt_timeout_ms(FLUSH_MS)), MM_OK,
                 "messages still in flight after %d ms", FLUSH_MS);
}

/* Send every failed message again until none fails (bounded); @returns the rounds it took. */
static int resend_failures(resend_run_t *run) {
    for (int round = 1; round <= RESEND_MAX; round++) {
        int again = 0;
        for (int seq = 0; seq < MESSAGES; seq++)
            if (run->state[seq] == SEQ_FAILED) {
                produce_seq(run, seq);
                again++;
            }
        if (again == 0) return round - 1;
        run->resent += again;
        flush_all(run);
    }
    return RESEND_MAX;
}

static int count_state(const resend_run_t *run, int state) {
    int n = 0;
    for (int seq = 0; seq < MESSAGES; seq++) n += run->state[seq] == state;
    return n;
}

/* stderr (where mm_log writes) into a file while the producer runs. */
typedef struct captured {
    char path[4200];
    int saved;
} captured_t;

static void capture_start(captured_t *c, const char *dir) {
    snprintf(c->path, sizeof(c->path), "%s/producer.log", dir);
    fflush(stderr);
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0, "cannot open %s", c->path);
    c->saved = dup(2);
    cr_assert_geq(c->saved, 0);
    dup2(fd, 2);
    close(fd);
}

/* Restore stderr; @returns the captured text (malloc'd), which is also echoed to stderr. */
static char *capture_stop(captured_t *c) {
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    mm_buf_t text;
    mm_buf_init(&text, LOG_MAX);
    char why[256];
    cr_assert_eq(mm_file_read(c->path, &text, why, sizeof(why)), MM_OK, "%s", why);
    mm_buf_append(&text, "", 1);
    char *copy = strdup((const char *)text.data);
    mm_buf_free(&text);
    cr_assert(copy);
    fputs(copy, stderr);
    return copy;
}

/* Lines of @p log with event @p event at level @p level. */
static int log_events(const char *log, const char *event, const char *level) {
    char needle[128], lvl[64];
    snprintf(needle, sizeof(needle), "\"event\":\"%s\"", event);
    snprintf(lvl, sizeof(lvl), "\"level\":\"%s\"", level);
    int n = 0;
    for (const char *line = log; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = mm_strndup(line, len);
        if (copy && strstr(copy, needle) && strstr(copy, lvl)) n++;
        free(copy);
        line = end ? end + 1 : NULL;
    }
    return n;
}

static void metrics_text(mm_metrics_t *metrics, char **out) {
    mm_buf_t text;
    mm_buf_init(&text, 1024 * 1024);
    cr_assert_eq(mm_metrics_render(metrics, &text), MM_OK);
    mm_buf_append(&text, "", 1);
    *out = strdup((const char *)text.data);
    mm_buf_free(&text);
}

/*
 * Produce the first half, push @p command, produce the second half, flush,
 * send the failures again, and read everything back. Fills @p run and @p back.
 */
static void run_scenario(mmt_broker_t *broker, const char *command, resend_run_t *run,
                         int *resend_rounds, mmt_fault_readback_t *back) {
    char errstr[512];
    memset(run, 0, sizeof(*run));
    run->producer =
        mm_kafka_producer_new(broker->bootstrap, NULL, on_report, run, errstr, sizeof(errstr));
    cr_assert(run->producer, "producer: %s", errstr);
    for (int seq = 0; seq < MESSAGES / 2; seq++) produce_seq(run, seq);
    flush_all(run); /* the topic and the producer are warm */
    cr_assert_eq(run->failed, 0, "a failure before the fault: %s", run->first_failure);
    mmt_broker_control_ok(broker, command);
    for (int seq = MESSAGES / 2; seq < MESSAGES; seq++) produce_seq(run, seq);
    flush_all(run);
    cr_expect_eq(count_state(run, SEQ_QUEUED), 0, "%d message(s) without a report",
                 count_state(run, SEQ_QUEUED));
    *resend_rounds = resend_failures(run);
    cr_expect_eq(count_state(run, SEQ_DELIVERED), MESSAGES, "%d message(s) never delivered",
                 MESSAGES - count_state(run, SEQ_DELIVERED));
    mmt_fault_read_back(broker->bootstrap, MM_TOPIC_OBSERVATIONS, MESSAGES, READ_BACK_MS, back);
    cr_expect_eq(back->foreign, 0);
    cr_expect_eq(back->lost, 0, "%d message(s) missing on the topic", back->lost);
}

Test(fault_produce_fatal, corrupt_message_failures_are_reported_and_the_resent_ones_all_arrive,
     .timeout = 180) {
    uint64_t rng = mmt_fault_seed("9-corrupt-message");
    int64_t errors = mmt_fault_rand(&rng, 1, 3);
    mmt_broker_t broker;
    mmt_broker_opts_t opts = {.partitions = PARTITIONS, .brokers = 1, .control = true};
    mmt_broker_start_with(&broker, &opts);
    char command[128];
    int len = snprintf(command, sizeof(command), "request-errors Produce");
    for (int64_t i = 0; i < errors; i++)
        len += snprintf(command + len, sizeof(command) - (size_t)len,
                        " 2"); /* CORRUPT_MESSAGE, librdkafka INVALID_MSG */

    resend_run_t *run = calloc(1, sizeof(*run));
    cr_assert(run);
    int rounds = 0;
    mmt_fault_readback_t back;
    run_scenario(&broker, command, run, &rounds, &back);
    cr_expect_gt(run->failed, 0, "no failure reported for %lld CORRUPT_MESSAGE errors",
                 (long long)errors);
    cr_expect(strstr(run->first_failure, "INVALID_MSG") != NULL,
              "the failure does not name the error: %s", run->first_failure);
    cr_expect_eq(mm_kafka_producer_recreated(run->producer), 0,
                 "a non-fatal error replaced the producer");
    fprintf(stderr,
            "fault scenario 9-corrupt-message: %lld CORRUPT_MESSAGE pushed; %d produced, %d "
            "reported failed (first: %s), %d resent in %d round(s); read %d, missing %d, "
            "duplicates %d\n",
            (long long)errors, MESSAGES, run->failed, run->first_failure, run->resent, rounds,
            back.received, back.lost, back.duplicates);
    mm_kafka_producer_destroy(run->producer, 0);
    free(run);
    mmt_broker_stop(&broker);
}

Test(fault_produce_fatal, out_of_order_sequence_replaces_the_producer_once_and_nothing_is_lost,
     .timeout = 180) {
    mmt_fault_seed("9-fatal"); /* nothing drawn: printed for the record */
    mmt_broker_t broker;
    mmt_broker_opts_t opts = {.partitions = PARTITIONS, .brokers = 1, .control = true};
    mmt_broker_start_with(&broker, &opts);
    mm_metrics_t *metrics = mm_metrics_new();
    char errstr[512];
    cr_assert_eq(mm_kafka_report_metrics(metrics, errstr, sizeof(errstr)), MM_OK, "%s", errstr);
    char *dir = mmt_tmpdir("produce-fatal");

    resend_run_t *run = calloc(1, sizeof(*run));
    cr_assert(run);
    int rounds = 0;
    mmt_fault_readback_t back;
    captured_t capture;
    capture_start(&capture, dir);
    run_scenario(&broker, "request-errors Produce OUT_OF_ORDER_SEQUENCE_NUMBER", run, &rounds,
                 &back);
    int64_t recreated = mm_kafka_producer_recreated(run->producer);
    mm_kafka_producer_destroy(run->producer, 0);
    char *log = capture_stop(&capture);

    cr_expect_gt(run->failed, 0, "the fatal error failed no message");
    cr_expect(strstr(run->first_failure, "OUT_OF_ORDER_SEQUENCE_NUMBER") != NULL,
              "the failure does not name the fatal error: %s", run->first_failure);
    cr_expect_eq(recreated, 1, "the producer was replaced %lld times, not once",
                 (long long)recreated);
    int fatal_lines = log_events(log, "kafka_producer_fatal", "error");
    int recreated_lines = log_events(log, "kafka_producer_recreated", "warn");
    cr_expect_eq(fatal_lines, 1, "%d error-level kafka_producer_fatal lines", fatal_lines);
    cr_expect_eq(recreated_lines, 1, "%d kafka_producer_recreated lines", recreated_lines);
    char *text = NULL;
    metrics_text(metrics, &text);
    cr_expect(strstr(text, "mm_kafka_producer_fatal_errors_total{error=\"OUT_OF_ORDER_SEQUENCE_"
                           "NUMBER\"} 1\n") != NULL,
              "%s", text);
    cr_expect(strstr(text, "\nmm_kafka_producer_recreated_total 1\n") != NULL, "%s", text);
    fprintf(stderr,
            "fault scenario 9-fatal: OUT_OF_ORDER_SEQUENCE_NUMBER pushed; %d produced, %d "
            "reported failed (first: %s), producer replaced %lld time(s), %d resent in %d "
            "round(s); read %d, missing %d, duplicates %d\n",
            MESSAGES, run->failed, run->first_failure, (long long)recreated, run->resent, rounds,
            back.received, back.lost, back.duplicates);
    mm_kafka_report_metrics(NULL, NULL, 0);
    mm_metrics_destroy(metrics);
    free(text);
    free(log);
    free(run);
    mmt_rmtree(dir);
    free(dir);
    mmt_broker_stop(&broker);
}

/* Lines of the pipeline log @p log_name with event @p event at level @p level. */
static int pipeline_log_events(mmt_pipeline_t *p, const char *log_name, const char *event,
                               const char *level) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", p->dir, log_name);
    mm_buf_t text;
    mm_buf_init(&text, LOG_MAX);
    char why[256];
    int n = 0;
    if (mm_file_read(path, &text, why, sizeof(why)) == MM_OK) {
        mm_buf_append(&text, "", 1);
        n = log_events((const char *)text.data, event, level);
    }
    mm_buf_free(&text);
    return n;
}

/*
 * The fatal error in a pipeline: mm-ingest's producer is the first to produce
 * after the injection, so its first request fails fatally. mm-ingest must go
 * on with a new producer instance, finish the load, and report the rows it
 * could not deliver (exit 1, naming the error); the load sent again, as an
 * operator does, must leave nothing lost and nothing doubled downstream.
 */
Test(fault_produce_fatal, mm_ingest_replaces_its_producer_reports_the_loss_and_a_resend_is_clean,
     .timeout = 600) {
    mmt_fault_seed("9-fatal-pipeline"); /* nothing drawn: printed for the record */
    mmt_pipeline_t p;
    mmt_pipeline_init_control(&p, "fatal-pipeline", 4, 7);
    int64_t rows = mmt_pipeline_generate(&p, 3, 4, 150, 71);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    mmt_broker_control_ok(&p.broker, "request-errors Produce OUT_OF_ORDER_SEQUENCE_NUMBER");
    const char *files[] = {p.csv_path, NULL};
    int first = mmt_pipeline_ingest(&p, files, "--batch-rows=50");
    int fatal_lines = pipeline_log_events(&p, "ingest.log", "kafka_producer_fatal", "error");
    int recreated_lines = pipeline_log_events(&p, "ingest.log", "kafka_producer_recreated", "warn");
    int failed_lines = pipeline_log_events(&p, "ingest.log", "delivery_failed", "error");
    cr_expect_eq(first, 1, "mm-ingest exited %d after losing deliveries", first);
    cr_expect_eq(fatal_lines, 1, "%d kafka_producer_fatal lines in ingest.log", fatal_lines);
    cr_expect_eq(recreated_lines, 1, "%d kafka_producer_recreated lines", recreated_lines);
    cr_expect_gt(failed_lines, 0, "no delivery_failed line");
    int second = mmt_pipeline_ingest(&p, files, "--batch-rows=50");
    cr_expect_eq(second, 0, "the resent load: mm-ingest exited %d", second);
    bool decided = mmt_pipeline_wait_decisions(&p, 12, mmt_timeout_ms(120000));
    fprintf(stderr,
            "fault scenario 9-fatal-pipeline: %lld rows; OUT_OF_ORDER_SEQUENCE_NUMBER met by "
            "mm-ingest: exit %d, %d kafka_producer_fatal, %d kafka_producer_recreated, %d "
            "delivery_failed line(s); the load sent again: exit %d; every key decided: %s\n",
            (long long)rows, first, fatal_lines, recreated_lines, failed_lines, second,
            decided ? "yes" : "no");
    cr_expect(decided, "not every key was decided");
    mmt_check_opts_t opts = {.inputs = files, .keys = 12};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    mmt_pipeline_stop(&p);
}
