/*
 * test_offset_out_of_range.c - fault scenario 11 of docs/reliability.md: a
 * Fetch answered once with OFFSET_OUT_OF_RANGE (1), as after retention
 * removed what a consumer still needed. The consumers run with
 * auto.offset.reset=error, so the affected partition must never be skipped
 * to its end or replayed from its start in silence: either the fetch is
 * retried and everything arrives (the checker is clean), or the consumer
 * that met it (the trainer's or the promoter's: the error goes to the next
 * Fetch of any client) stops that partition with an error that names it,
 * and what was stored holds nothing twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "broker.h"
#include "checker.h"
#include "faults.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES    3
#define ITEMS     4
#define KEYS      (STORES * ITEMS)
#define DAYS      150
#define HORIZON   7
#define DECIDE_MS 45000

static const char *const service_logs[] = {"trainer.log", "promoter.log"};

/* Lines of the consumers' logs that mention @p what (case-insensitive); with @p print,
 * their warnings and errors are printed too. */
static int logs_mention(mmt_pipeline_t *p, const char *what, bool print) {
    int n = 0;
    for (size_t i = 0; i < MM_ARRAY_SIZE(service_logs); i++) {
        char path[4200], line[8192];
        snprintf(path, sizeof(path), "%s/%s", p->dir, service_logs[i]);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        while (fgets(line, sizeof(line), f)) {
            if (strcasestr(line, what)) n++;
            if (print && (strstr(line, "\"warn\"") || strstr(line, "\"error\"")))
                fprintf(stderr, "%s: %s", service_logs[i], line);
        }
        fclose(f);
    }
    return n;
}

Test(fault_offset_out_of_range, a_fetch_out_of_range_is_never_a_silent_skip_or_replay,
     .timeout = 600) {
    uint64_t rng = mmt_fault_seed("11-offset-out-of-range");
    int64_t after_batches = mmt_fault_rand(&rng, 20, 150);
    mmt_pipeline_t p;
    mmt_pipeline_init_control(&p, "out-of-range", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 61);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    setenv("MM_INGEST_PACE_MAX_BYTES", "65536", 1);
    pid_t ingest = mmt_pipeline_ingest_async(&p, files, "--batch-rows=2");
    unsetenv("MM_INGEST_PACE_MAX_BYTES");
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(120000), batches = 0;
    while (mm_mono_ms() < deadline &&
           (batches = mmt_pipeline_try_query(&p, "trainer.db",
                                             "SELECT COUNT(*) FROM load_batches")) < after_batches)
        mm_sleep_ms(5, NULL);
    mmt_broker_control_ok(&p.broker, "request-errors Fetch 1");
    int ingest_status = mmt_wait(ingest, mmt_timeout_ms(300000));
    bool decided = mmt_pipeline_wait_decisions(&p, KEYS, DECIDE_MS);
    int alarms = logs_mention(&p, "out of range", !decided);
    fprintf(stderr,
            "fault scenario 11: %lld rows; Fetch OFFSET_OUT_OF_RANGE after %lld batches; "
            "mm-ingest exit %d; every key decided: %s; log lines naming the error: %d\n",
            (long long)rows, (long long)batches, ingest_status, decided ? "yes" : "no", alarms);

    mmt_check_opts_t opts = {.inputs = files, .keys = KEYS};
    mmt_check_result_t result;
    if (decided) {
        /* The fetch was retried: nothing may be missing. */
        mmt_check(&p, &opts, &result);
    } else {
        /* The partition stopped: it must have said so, and what was stored is clean. */
        fprintf(stderr, "fault scenario 11: %lld of %lld keys decided, %lld rows stored\n",
                (long long)mmt_pipeline_decided_keys(&p), (long long)KEYS,
                (long long)mmt_pipeline_query(
                    &p, "trainer.db", "SELECT COALESCE(SUM(n_rows), 0) FROM history_chunks"));
        cr_expect_gt(alarms, 0, "a partition stopped without an error naming the cause");
        cr_expect_eq(mmt_check_history_duplicates(&p, NULL), 0);
    }
    mmt_pipeline_stop(&p);
}
