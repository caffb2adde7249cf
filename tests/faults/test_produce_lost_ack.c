/*
 * test_produce_lost_ack.c - fault scenario 19 of docs/reliability.md, its
 * lost-ack duplicates: the dev broker writes mm-ingest's Produce requests
 * but answers the first few only after a delay longer than the producer's
 * request and socket timeouts (a per-broker error stack of "no error" with an
 * RTT), so the idempotent producer, which cannot know the write happened,
 * sends the same batches again. The dev broker does not deduplicate, so the
 * topic holds the batches twice; downstream nothing may double: the
 * trainer's rows and the registry's versions are those of one load
 * (checker), and the history has no duplicate observation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "checker.h"
#include "faults.h"
#include "mm/kafka.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES     3
#define ITEMS      4
#define KEYS       (STORES * ITEMS)
#define DAYS       150
#define HORIZON    7
#define DECIDE_MS  120000
#define INGEST_MS  300000
#define READ_MS    20000
#define TIMEOUT_MS "1500" /* the producer's request.timeout.ms and socket.timeout.ms */
#define ACK_RTT_MS 4000   /* the delayed answers: well past that timeout */
#define LOST_ACKS  3

/* Records on mm.observations, read from the beginning. */
static int64_t topic_records(mmt_pipeline_t *p) {
    char errstr[512];
    mm_kafka_reader_t *reader = mm_kafka_reader_new(p->broker.bootstrap, MM_TOPIC_OBSERVATIONS,
                                                    NULL, errstr, sizeof(errstr));
    cr_assert(reader, "reader: %s", errstr);
    int64_t n = 0, deadline = mm_mono_ms() + mmt_timeout_ms(READ_MS);
    while (mm_mono_ms() < deadline) {
        mm_kafka_msg_t msg;
        mm_err_t rc = mm_kafka_reader_poll(reader, 200, &msg, errstr, sizeof(errstr));
        if (rc == MM_ERR_NOT_FOUND) break;
        if (rc == MM_ERR_TIMEOUT) continue;
        cr_assert_eq(rc, MM_OK, "reading back: %s", errstr);
        n++;
    }
    mm_kafka_reader_destroy(reader);
    return n;
}

Test(fault_produce_lost_ack, resends_after_lost_acks_double_nothing_downstream, .timeout = 600) {
    mmt_fault_seed("19-lost-ack"); /* nothing drawn: printed for the record */
    mmt_pipeline_t p;
    mmt_pipeline_init_control(&p, "lost-ack", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 47);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);

    char command[256];
    int len = snprintf(command, sizeof(command), "broker-request-errors 1 Produce");
    for (int i = 0; i < LOST_ACKS; i++)
        len += snprintf(command + len, sizeof(command) - (size_t)len, " NO_ERROR:%d", ACK_RTT_MS);
    mmt_broker_control_ok(&p.broker, command);

    /* mm-ingest with short request and socket timeouts (two -X flags: spawned here). */
    char *bin = mmt_binary("mm-ingest");
    cr_assert(bin, "mm-ingest is not built");
    char env_spec[4200], env_bootstrap[512], env_blob[4200], log[4200];
    snprintf(env_spec, sizeof(env_spec), "MM_SPEC=%s", p.spec_path);
    snprintf(env_bootstrap, sizeof(env_bootstrap), "MM_BOOTSTRAP_SERVERS=%s", p.broker.bootstrap);
    snprintf(env_blob, sizeof(env_blob), "MM_BLOB_URL=%s", p.blob_url);
    snprintf(log, sizeof(log), "%s/ingest.log", p.dir);
    char *env[] = {env_spec, env_bootstrap, env_blob, "MM_LOG_LEVEL=info", NULL};
    char *argv[] = {bin,        "--batch-rows=50",
                    "-X",       "request.timeout.ms=" TIMEOUT_MS,
                    "-X",       "socket.timeout.ms=" TIMEOUT_MS,
                    p.csv_path, NULL};
    int status = mmt_wait(mmt_spawn(argv, env, log), mmt_timeout_ms(INGEST_MS));
    free(bin);
    cr_expect_eq(status, 0, "mm-ingest exited %d (see %s)", status, log);
    char answer[64];
    cr_assert(mmt_broker_control(&p.broker, "broker-request-errors-count 1 Produce", answer,
                                 sizeof(answer)),
              "%s", answer);
    cr_expect_str_eq(answer, "ok 0", "delayed answers left unserved: %s", answer);

    bool decided = mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS);
    int64_t batches = mmt_pipeline_query(&p, "trainer.db", "SELECT COUNT(*) FROM load_batches");
    int64_t records = topic_records(&p);
    int64_t history_rows = 0;
    int64_t duplicates = mmt_check_history_duplicates(&p, &history_rows);
    fprintf(stderr,
            "fault scenario 19-lost-ack: %lld rows; %d Produce answers delayed %d ms past a %s ms "
            "timeout; mm-ingest exit %d; %lld records on %s for %lld distinct batches stored "
            "(%lld resent copies); history %lld rows, %lld duplicates; every key decided: %s\n",
            (long long)rows, LOST_ACKS, ACK_RTT_MS, TIMEOUT_MS, status, (long long)records,
            MM_TOPIC_OBSERVATIONS, (long long)batches, (long long)(records - batches),
            (long long)history_rows, (long long)duplicates, decided ? "yes" : "no");
    cr_expect_gt(records, batches, "no batch was sent twice: the acks were not lost");
    cr_expect_eq(duplicates, 0);
    cr_expect(decided, "not every key was decided");
    const char *files[] = {p.csv_path, NULL};
    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    mmt_pipeline_stop(&p);
}
