/*
 * test_blob_down.c - fault scenario 13 of docs/reliability.md: the blob store
 * goes down while the pipeline runs on it (Azurite, its data on disk, SharedKey).
 *
 * (a) Azurite is SIGKILLed as soon as the trainer has published its first
 *     artifact of a load, and started again on the same port and data ~10 s
 *     later. Meanwhile the batch scorer is run once: it must fail with the
 *     runtime-failure status naming the store. After the restart every key
 *     is decided without any manual action.
 * (b) Azurite is SIGSTOPped (a hung server: the kernel still accepts
 *     connections, nothing answers) once the trainer has published a few
 *     artifacts of a second load, and resumed ~10 s later: the stalled
 *     requests must time out within seconds and be retried.
 *
 * In both, while the store is down the trainer keeps its due keys in its
 * state store and the promoter's stored offset stays behind the ModelTrained
 * records it has not finished; afterwards every model has exactly one
 * version, the logs show the retries, the batch scorer answers every key,
 * and the checker finds nothing lost, no duplicate, every artifact present
 * with its sha256, and the account key in no log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "azurite.h"
#include "checker.h"
#include "fake_http.h"
#include "mm/blob.h"
#include "mm/exit.h"
#include "mm/util.h"
#include "pipeline.h"
#include "support.h"

#define STORES      6
#define ITEMS       8
#define KEYS        (STORES * ITEMS)
#define DAYS        120
#define MORE_DAYS   14
#define HORIZON     7
#define OUTAGE_MS   10000
#define PAUSE_AFTER 8 /* artifacts of the second load published before the stop */
#define WAIT_MS     180000
#define CONTAINER   "models"
#define SECOND_LOAD "2024-04-30" /* 2024-01-01 + DAYS */

/* The test's own handle on the store (it creates the container if no service has yet):
 * no retries, so a poll never waits long. */
static mm_blob_t *test_blob(mmt_pipeline_t *p) {
    char errstr[512];
    mm_blob_opts_t opts = {.account_key = p->blob_key, .max_retries = -1, .create_container = true};
    mm_blob_t *blob = mm_blob_new(p->blob_url, &opts, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
    return blob;
}

static bool count_name(void *opaque, const char *name, int64_t size) {
    (void)name;
    (void)size;
    (*(int64_t *)opaque)++;
    return true;
}

/* Candidate artifacts in the store; -1 when it does not answer (a transient failure). */
static int64_t candidates(mm_blob_t *blob) {
    char errstr[512];
    int64_t n = 0;
    mm_err_t err = mm_blob_list(blob, "candidates/", count_name, &n, errstr, sizeof(errstr));
    cr_assert(!err || mm_err_is_retriable(err), "listing the store: %s", errstr);
    return err ? -1 : n;
}

/* Poll until the store holds more than @p n candidates; @returns how many it holds. */
static int64_t wait_candidates_over(mm_blob_t *blob, int64_t n) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    for (;;) {
        int64_t have = candidates(blob);
        if (have > n) return have;
        cr_assert_lt(mm_mono_ms(), deadline, "the trainer published no artifact (%lld stored)",
                     (long long)have);
        mm_sleep_ms(10, NULL);
    }
}

static char *read_log(mmt_pipeline_t *p, const char *name) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", p->dir, name);
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

static int64_t occurrences(const char *text, const char *what) {
    int64_t n = 0;
    for (const char *at = strstr(text, what); at; at = strstr(at + 1, what)) n++;
    return n;
}

/* What is unfinished while the store is down, read from the services' own stores. */
typedef struct pending {
    int64_t trainer_due;       /* keys the trainer still has to train */
    int64_t promoter_consumed; /* mm.models records the promoter stored an offset past */
    int64_t promoter_ahead;    /* of those, how many have no registry version (one snapshot) */
    int64_t models;            /* ModelTrained records on mm.models */
} pending_t;

static pending_t pending_now(mmt_pipeline_t *p) {
    static const char consumed[] =
        "SELECT COALESCE(SUM(next_offset), 0) FROM consumed_offsets WHERE topic = 'mm.models'";
    pending_t s = {
        .trainer_due =
            mmt_pipeline_try_query(p, "trainer.db", "SELECT COUNT(*) FROM keys WHERE dirty = 1"),
        .promoter_consumed = mmt_pipeline_try_query(p, "registry.db", consumed),
        .promoter_ahead = mmt_pipeline_try_query(
            p, "registry.db",
            "SELECT (SELECT COALESCE(SUM(next_offset), 0) FROM consumed_offsets "
            "WHERE topic = 'mm.models') - (SELECT COUNT(*) FROM versions)"),
        .models = mmt_pipeline_count_topic(p, "mm.models"),
    };
    return s;
}

/* The outage must not let a service skip work: the trainer keeps due keys, the promoter
 * stores no offset past a ModelTrained without its version. */
static void expect_kept(const pending_t *s, const char *state) {
    cr_expect_gt(s->trainer_due, 0, "no key left to train while the store is %s", state);
    cr_expect_eq(s->promoter_ahead, 0,
                 "store %s: the promoter stored an offset past %lld ModelTrained without a version",
                 state, (long long)s->promoter_ahead);
}

typedef struct log_counts {
    int64_t trainer_retries;  /* train_retry and blob_retry lines of mm-trainer */
    int64_t promoter_retries; /* retry and blob_retry lines of mm-promoter */
    int64_t stalls;           /* requests that timed out on a store that did not answer */
} log_counts_t;

static log_counts_t log_counts(mmt_pipeline_t *p) {
    char *trainer = read_log(p, "trainer.log");
    char *promoter = read_log(p, "promoter.log");
    log_counts_t c = {
        .trainer_retries =
            occurrences(trainer, "\"train_retry\"") + occurrences(trainer, "\"blob_retry\""),
        .promoter_retries =
            occurrences(promoter, "\"retry\"") + occurrences(promoter, "\"blob_retry\""),
        .stalls =
            occurrences(trainer, "stalled: no byte") + occurrences(promoter, "stalled: no byte"),
    };
    free(trainer);
    free(promoter);
    return c;
}

/* Poll until the registry holds @p versions versions. */
static void wait_versions(mmt_pipeline_t *p, int64_t versions) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    int64_t have = -1;
    while ((have = mmt_pipeline_try_query(p, "registry.db", "SELECT COUNT(*) FROM versions")) <
           versions) {
        cr_assert_lt(mm_mono_ms(), deadline,
                     "%lld of %lld versions registered after the store came back", (long long)have,
                     (long long)versions);
        mm_sleep_ms(200, NULL);
    }
}

/* Sales for every key on the MORE_DAYS days after the first load: a second load. */
static char *second_load(mmt_pipeline_t *p) {
    char *bin = mmt_binary("mm-datagen");
    cr_assert_not_null(bin, "mm-datagen is not built");
    char path[4200], log[4200], s[16], i[16], d[16];
    snprintf(path, sizeof(path), "%s/sales-more.csv", p->dir);
    snprintf(log, sizeof(log), "%s/datagen.log", p->dir);
    snprintf(s, sizeof(s), "%d", STORES);
    snprintf(i, sizeof(i), "%d", ITEMS);
    snprintf(d, sizeof(d), "%d", MORE_DAYS);
    char *argv[] = {bin,       "sales",     "--stores", s,    "--items", i,    "--days", d,
                    "--start", SECOND_LOAD, "--seed",   "77", "--out",   path, NULL};
    int st = mmt_wait(mmt_spawn(argv, NULL, log), mmt_timeout_ms(60000));
    cr_assert_eq(st, 0, "mm-datagen exited %d (see %s)", st, log);
    free(bin);
    return strdup(path);
}

Test(fault_blob_down, the_pipeline_rides_out_azurite_killed_and_stopped_for_ten_seconds,
     .timeout = 900) {
    const char *skip = getenv("MM_SKIP_AZURITE");
    if (skip && strcmp(skip, "1") == 0) cr_skip_test("MM_SKIP_AZURITE=1");
    mmt_azurite_t azurite;
    cr_assert(mmt_azurite_start_persistent(&azurite), "Azurite did not start (see above)");
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "blob-down", 4, HORIZON);
    char url[256];
    snprintf(url, sizeof(url), "%s/%s", azurite.endpoint, CONTAINER);
    mmt_pipeline_use_blob(&p, url, MMT_AZURITE_KEY);
    int64_t rows = mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 47);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    mm_blob_t *blob = test_blob(&p);

    /* (a) Killed while the trainer publishes the first load's artifacts. */
    const char *first[] = {p.csv_path, NULL};
    pid_t ingest = mmt_pipeline_ingest_async(&p, first, NULL);
    int64_t published = wait_candidates_over(blob, 0);
    mmt_azurite_kill(&azurite);
    int64_t killed_at = mm_mono_ms();
    cr_assert_eq(mmt_wait(ingest, mmt_timeout_ms(300000)), 0, "mm-ingest failed");

    /* The batch scorer meets the dead store: a runtime failure naming it, at once. */
    int64_t scorer_started = mm_mono_ms();
    int down_status = mmt_pipeline_score(&p);
    int64_t scorer_ms = mm_mono_ms() - scorer_started;
    char *scorer_log = read_log(&p, "scorer.log");
    char store[64];
    snprintf(store, sizeof(store), "127.0.0.1 port %d", azurite.port);
    cr_expect_eq(down_status, MM_EXIT_FAILURE, "the scorer exited %d with the store down",
                 down_status);
    cr_expect(strstr(scorer_log, "start_failed") && strstr(scorer_log, "container " CONTAINER) &&
                  strstr(scorer_log, store),
              "the scorer's error does not name the store:\n%s", scorer_log);
    free(scorer_log);

    /* Unfinished work is kept, not skipped: keys still due in the trainer's store, and the
     * promoter's stored offset at no ModelTrained without its registry version. */
    while (mm_mono_ms() - killed_at < OUTAGE_MS - 1000) mm_sleep_ms(100, NULL);
    pending_t down_a = pending_now(&p);
    expect_kept(&down_a, "down");
    while (mm_mono_ms() - killed_at < OUTAGE_MS) mm_sleep_ms(50, NULL);
    cr_assert(mmt_azurite_restart(&azurite), "Azurite did not restart on port %d", azurite.port);
    int64_t up_at = mm_mono_ms();
    int64_t kept = candidates(blob);
    cr_expect_geq(kept, published, "artifacts stored before the kill are gone");
    wait_candidates_over(blob, kept);
    int64_t resumed_a = mm_mono_ms() - up_at;
    wait_versions(&p, KEYS);
    int64_t recovery_a = mm_mono_ms() - up_at;
    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, WAIT_MS), "not every key was decided");
    log_counts_t logs_a = log_counts(&p);
    cr_expect_gt(logs_a.trainer_retries, 0, "the trainer logged no retry while the store was down");
    if (down_a.models > down_a.promoter_consumed)
        cr_expect_gt(logs_a.promoter_retries, 0, "the promoter, blocked, logged no retry");
    fprintf(stderr,
            "fault scenario 13a (blob store killed): %lld rows, %d keys; killed after %lld "
            "artifact(s); scorer exit %d in %.1f s; 9 s into the outage: %lld keys due, promoter "
            "at %lld of %lld ModelTrained; retries logged: trainer %lld, promoter %lld; after the "
            "restart (port open %.1f s after the kill): first artifact %.1f s, every key "
            "registered %.1f s\n",
            (long long)rows, KEYS, (long long)published, down_status, (double)scorer_ms / 1000.0,
            (long long)down_a.trainer_due, (long long)down_a.promoter_consumed,
            (long long)down_a.models, (long long)logs_a.trainer_retries,
            (long long)logs_a.promoter_retries, (double)(up_at - killed_at) / 1000.0,
            (double)resumed_a / 1000.0, (double)recovery_a / 1000.0);

    /* (b) Hung while the trainer publishes the second load's artifacts. */
    char *more = second_load(&p);
    int64_t before = candidates(blob);
    const char *second[] = {more, NULL};
    ingest = mmt_pipeline_ingest_async(&p, second, NULL);
    /* Not at the first artifact: by the time a few are out, the promoter is busy copying
     * them, so the stop catches it too (the trainer published them in under 3 s in the
     * runs recorded in docs/reliability.md). */
    int64_t published_b = wait_candidates_over(blob, before + PAUSE_AFTER - 1) - before;
    mmt_azurite_pause(&azurite);
    int64_t paused_at = mm_mono_ms();
    cr_assert_eq(mmt_wait(ingest, mmt_timeout_ms(300000)), 0, "mm-ingest failed");
    while (mm_mono_ms() - paused_at < OUTAGE_MS - 1000) mm_sleep_ms(100, NULL);
    pending_t down_b = pending_now(&p);
    expect_kept(&down_b, "hung");
    while (mm_mono_ms() - paused_at < OUTAGE_MS) mm_sleep_ms(50, NULL);
    mmt_azurite_resume(&azurite);
    int64_t resumed_at = mm_mono_ms();
    wait_versions(&p, 2 * KEYS);
    int64_t recovery_b = mm_mono_ms() - resumed_at;

    /* The logs show the retries, and the stalled requests timing out within seconds. */
    log_counts_t logs = log_counts(&p);
    int64_t stalls = logs.stalls - logs_a.stalls;
    cr_expect_gt(logs.trainer_retries, logs_a.trainer_retries,
                 "the trainer logged no retry while the store hung");
    cr_expect_gt(stalls, 0, "no request to the stopped store timed out");
    if (down_b.models > down_b.promoter_consumed)
        cr_expect_gt(logs.promoter_retries, logs_a.promoter_retries,
                     "the promoter, blocked, logged no retry");

    /* After recovery nothing is left over and the scorer answers every key. */
    int status = mmt_pipeline_score(&p);
    cr_expect_eq(status, MM_EXIT_OK, "the scorer exited %d after the store came back", status);
    pending_t end = pending_now(&p);
    cr_expect_eq(end.trainer_due, 0, "keys left untrained");
    cr_expect_eq(end.promoter_consumed, end.models, "ModelTrained records left unjudged");
    fprintf(stderr,
            "fault scenario 13b (blob store stopped): stopped after %lld artifact(s); 9 s into the "
            "stop: %lld keys due, promoter at %lld of %lld ModelTrained; requests timed out on "
            "the stalled store: %lld; "
            "retries logged: trainer %lld, promoter %lld; every key's second version %.1f s "
            "after SIGCONT; scorer exit %d\n",
            (long long)published_b, (long long)down_b.trainer_due,
            (long long)down_b.promoter_consumed, (long long)down_b.models, (long long)stalls,
            (long long)(logs.trainer_retries - logs_a.trainer_retries),
            (long long)(logs.promoter_retries - logs_a.promoter_retries),
            (double)recovery_b / 1000.0, status);

    const char *inputs[] = {p.csv_path, more, NULL};
    const char *secrets[] = {MMT_AZURITE_KEY, NULL};
    mmt_check_opts_t opts = {.inputs = inputs, .keys = KEYS, .scored = true, .secrets = secrets};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    cr_expect_eq(result.versions, 2 * KEYS, "one version per model: %lld versions for %d models",
                 (long long)result.versions, 2 * KEYS);
    mm_blob_destroy(blob);
    free(more);
    mmt_pipeline_stop(&p);
    mmt_azurite_stop(&azurite);
}

/* ------------------------------------------- the batch scorer and a stopped store */

#define SCORER_STORES 3
#define SCORER_ITEMS  4
#define SCORER_KEYS   (SCORER_STORES * SCORER_ITEMS)
/* Attempts of one blob request (mm_blob_opts_t: max_retries 5, then it gives up). */
#define BLOB_ATTEMPTS 6

/* The sink's answers, summed so that any rewritten key changes it. */
typedef struct sink_state {
    int64_t keys_ok;     /* keys whose last answer is ok */
    int64_t answered_at; /* sum of the answers' produced_at_ms */
    int64_t predictions; /* prediction rows */
} sink_state_t;

static sink_state_t sink_now(mmt_pipeline_t *p) {
    sink_state_t s = {
        .keys_ok = mmt_pipeline_try_query(p, "predictions.db",
                                          "SELECT COUNT(DISTINCT partition_key) FROM key_runs "
                                          "WHERE status = 'ok'"),
        .answered_at = mmt_pipeline_try_query(p, "predictions.db",
                                              "SELECT COALESCE(SUM(produced_at_ms), 0) FROM "
                                              "key_runs"),
        .predictions = mmt_pipeline_try_query(p, "predictions.db",
                                              "SELECT COUNT(*) FROM "
                                              "predictions"),
    };
    return s;
}

/* Poll the scorer's log until it holds more than @p n blob_retry lines. */
static void wait_scorer_retries_over(mmt_pipeline_t *p, int64_t n) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    for (;;) {
        char *log = read_log(p, "scorer.log");
        int64_t have = occurrences(log, "\"blob_retry\"");
        free(log);
        if (have > n) return;
        cr_assert_lt(mm_mono_ms(), deadline,
                     "the scorer logged no retry against the stopped store");
        mm_sleep_ms(50, NULL);
    }
}

/*
 * Scenario 13 with the batch scorer against a STOPPED store (SIGSTOP: connections accepted,
 * nothing answered). Its start-up check of the container is one blob request: each attempt
 * stalls for the 5 s stall timeout and is retried, logged, with backoff, 6 attempts in all.
 * (c) The store is resumed after the first retry: the run then succeeds, every key answered.
 * (d) The store stays stopped: the run gives up after the 6 attempts with the runtime-failure
 * status naming the store and the stall, having written nothing to the sink; resumed, the
 * same run is repeated to completion and the checker is clean.
 */
Test(fault_blob_down, the_batch_scorer_waits_a_bounded_time_for_a_stopped_store, .timeout = 900) {
    const char *skip = getenv("MM_SKIP_AZURITE");
    if (skip && strcmp(skip, "1") == 0) cr_skip_test("MM_SKIP_AZURITE=1");
    mmt_azurite_t azurite;
    cr_assert(mmt_azurite_start_persistent(&azurite), "Azurite did not start (see above)");
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "blob-stopped-scorer", 4, HORIZON);
    char url[256];
    snprintf(url, sizeof(url), "%s/%s", azurite.endpoint, CONTAINER);
    mmt_pipeline_use_blob(&p, url, MMT_AZURITE_KEY);
    int64_t rows = mmt_pipeline_generate(&p, SCORER_STORES, SCORER_ITEMS, DAYS, 53);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, NULL), 0, "mm-ingest failed");
    wait_versions(&p, SCORER_KEYS);
    cr_assert(mmt_pipeline_wait_decisions(&p, SCORER_KEYS, WAIT_MS), "not every key was decided");
    char store[64]; /* as the request's URL names it */
    snprintf(store, sizeof(store), "127.0.0.1:%d", azurite.port);

    /* (c) Stopped when the run starts, resumed once it has retried. */
    mmt_azurite_pause(&azurite);
    int64_t started = mm_mono_ms();
    pid_t scorer = mmt_pipeline_score_async(&p);
    wait_scorer_retries_over(&p, 0);
    mmt_azurite_resume(&azurite);
    int64_t resumed_after = mm_mono_ms() - started;
    int status_c = mmt_wait(scorer, mmt_timeout_ms(300000));
    int64_t run_c = mm_mono_ms() - started;
    char *log = read_log(&p, "scorer.log");
    int64_t retries_c = occurrences(log, "\"blob_retry\"");
    int64_t stalls_c = occurrences(log, "stalled: no byte");
    free(log);
    sink_state_t after_c = sink_now(&p);
    cr_expect_eq(status_c, MM_EXIT_OK, "the scorer exited %d after the store came back", status_c);
    cr_expect_gt(stalls_c, 0, "no request to the stopped store timed out as stalled");
    cr_expect_eq(after_c.keys_ok, SCORER_KEYS, "%lld of %d keys answered ok",
                 (long long)after_c.keys_ok, SCORER_KEYS);

    /* (d) Stopped for the whole run: a bounded wait, then a clear failure that writes nothing. */
    mmt_azurite_pause(&azurite);
    started = mm_mono_ms();
    int status_d = mmt_pipeline_score(&p);
    int64_t run_d = mm_mono_ms() - started;
    sink_state_t after_d = sink_now(&p);
    mmt_azurite_resume(&azurite);
    log = read_log(&p, "scorer.log");
    int64_t retries_d = occurrences(log, "\"blob_retry\"") - retries_c;
    const char *failed = strstr(log, "start_failed");
    cr_expect_eq(status_d, MM_EXIT_FAILURE, "the scorer exited %d with the store stopped",
                 status_d);
    cr_expect_eq(retries_d, BLOB_ATTEMPTS - 1, "%lld retries logged, not %d", (long long)retries_d,
                 BLOB_ATTEMPTS - 1);
    cr_expect(failed && strstr(failed, "container " CONTAINER) && strstr(failed, store) &&
                  strstr(failed, "stalled") && strstr(failed, "gave up after 6 attempts"),
              "the scorer's error does not name the store, the stall and the attempts:\n%s", log);
    cr_expect(after_d.keys_ok == after_c.keys_ok && after_d.answered_at == after_c.answered_at &&
                  after_d.predictions == after_c.predictions,
              "the failed run changed the sink: %lld keys ok, %lld predictions before; %lld, %lld "
              "after",
              (long long)after_c.keys_ok, (long long)after_c.predictions,
              (long long)after_d.keys_ok, (long long)after_d.predictions);
    free(log);

    /* Re-run once the store answers: to completion. */
    started = mm_mono_ms();
    int status_e = mmt_pipeline_score(&p);
    int64_t run_e = mm_mono_ms() - started;
    sink_state_t after_e = sink_now(&p);
    cr_expect_eq(status_e, MM_EXIT_OK, "the re-run exited %d", status_e);
    cr_expect_eq(after_e.keys_ok, SCORER_KEYS);
    cr_expect_eq(after_e.predictions, after_c.predictions, "the re-run's predictions differ");
    fprintf(stderr,
            "fault scenario 13c (batch scorer, store stopped): %lld rows, %d keys; (c) resumed "
            "%.1f s after the start, at the first retry: scorer exit %d in %.1f s, %lld retries "
            "logged (%lld stalled), %lld keys answered ok, %lld predictions; (d) stopped for the "
            "whole run: exit %d in %.1f s, %lld retries logged, sink unchanged: %s; re-run after "
            "SIGCONT: exit %d in %.1f s, %lld keys ok, %lld predictions\n",
            (long long)rows, SCORER_KEYS, (double)resumed_after / 1000.0, status_c,
            (double)run_c / 1000.0, (long long)retries_c, (long long)stalls_c,
            (long long)after_c.keys_ok, (long long)after_c.predictions, status_d,
            (double)run_d / 1000.0, (long long)retries_d,
            after_d.answered_at == after_c.answered_at && after_d.predictions == after_c.predictions
                ? "yes"
                : "no",
            status_e, (double)run_e / 1000.0, (long long)after_e.keys_ok,
            (long long)after_e.predictions);

    const char *secrets[] = {MMT_AZURITE_KEY, NULL};
    mmt_check_opts_t opts = {
        .inputs = files, .keys = SCORER_KEYS, .scored = true, .secrets = secrets};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    mmt_pipeline_stop(&p);
    mmt_azurite_stop(&azurite);
}

/*
 * Scenario 13 with the batch scorer and a store that goes away in the middle of its run,
 * deterministically: a scripted HTTP server answers the run's container check (201) and then
 * closes its port, so every artifact request after it is refused and retried until the blob
 * layer gives up. The run must stop at the first key whose model the store did not deliver,
 * with the runtime-failure status, rolling back its open sink transaction, instead of waiting
 * out the retries of every key and answering each with an error record (which would also
 * overwrite the keys' good answers in the sink). Then, on the store again, the run completes.
 */
Test(fault_blob_down, the_batch_scorer_stops_at_a_store_gone_in_the_middle_of_its_run,
     .timeout = 600) {
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "blob-gone-scorer", 4, HORIZON);
    int64_t rows = mmt_pipeline_generate(&p, SCORER_STORES, SCORER_ITEMS, DAYS, 59);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, NULL), 0, "mm-ingest failed");
    wait_versions(&p, SCORER_KEYS);
    cr_assert(mmt_pipeline_wait_decisions(&p, SCORER_KEYS, WAIT_MS), "not every key was decided");
    cr_assert_eq(mmt_pipeline_score(&p), MM_EXIT_OK, "the first run failed");
    sink_state_t before = sink_now(&p);
    cr_assert_eq(before.keys_ok, SCORER_KEYS);
    char *store_url = strdup(p.blob_url);
    cr_assert_not_null(store_url);

    static const mmt_fake_reply_t script[] = {{.status = 201}}; /* the container check */
    mmt_fake_http_t fake;
    mmt_fake_http_start(&fake, script, MM_ARRAY_SIZE(script));
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/devstoreaccount1/" CONTAINER, fake.port);
    mmt_pipeline_use_blob(&p, url, MMT_AZURITE_KEY);
    char *log = read_log(&p, "scorer.log");
    int64_t retries_before = occurrences(log, "\"blob_retry\"");
    free(log);
    int64_t started = mm_mono_ms();
    pid_t scorer = mmt_pipeline_score_async(&p);
    mmt_fake_http_join(&fake); /* after the one reply: the port is closed */
    int status = mmt_wait(scorer, mmt_timeout_ms(300000));
    int64_t run_ms = mm_mono_ms() - started;
    sink_state_t after = sink_now(&p);
    log = read_log(&p, "scorer.log");
    int64_t retries = occurrences(log, "\"blob_retry\"") - retries_before;
    const char *failed = strstr(log, "\"batch_failed\"");
    int64_t answered_error = occurrences(log, "\"score_failed\"");
    cr_expect_eq(status, MM_EXIT_FAILURE, "the scorer exited %d with the store gone", status);
    cr_expect(failed && strstr(failed, "does not answer"),
              "no batch_failed line naming the store:\n%s", log);
    cr_expect_eq(answered_error, 0, "%lld keys answered with an error record",
                 (long long)answered_error);
    cr_expect_eq(retries, BLOB_ATTEMPTS - 1, "%lld retries: more than one key's model was tried",
                 (long long)retries);
    cr_expect(after.keys_ok == before.keys_ok && after.answered_at == before.answered_at &&
                  after.predictions == before.predictions,
              "the failed run changed the sink: %lld keys ok, %lld predictions before; %lld, "
              "%lld after",
              (long long)before.keys_ok, (long long)before.predictions, (long long)after.keys_ok,
              (long long)after.predictions);
    free(log);

    mmt_pipeline_use_blob(&p, store_url, NULL);
    int64_t rerun_started = mm_mono_ms();
    int rerun = mmt_pipeline_score(&p);
    int64_t rerun_ms = mm_mono_ms() - rerun_started;
    sink_state_t end = sink_now(&p);
    cr_expect_eq(rerun, MM_EXIT_OK, "the re-run exited %d", rerun);
    cr_expect_eq(end.keys_ok, SCORER_KEYS);
    cr_expect_eq(end.predictions, before.predictions);
    fprintf(stderr,
            "fault scenario 13e (batch scorer, store gone mid-run): %lld rows, %d keys; exit %d "
            "in %.1f s, %lld retries logged, %lld keys answered error, sink unchanged: %s; re-run "
            "on the store: exit %d in %.1f s, %lld keys ok, %lld predictions\n",
            (long long)rows, SCORER_KEYS, status, (double)run_ms / 1000.0, (long long)retries,
            (long long)answered_error,
            after.answered_at == before.answered_at && after.predictions == before.predictions
                ? "yes"
                : "no",
            rerun, (double)rerun_ms / 1000.0, (long long)end.keys_ok, (long long)end.predictions);
    mmt_check_opts_t opts = {.inputs = files, .keys = SCORER_KEYS, .scored = true};
    mmt_check_result_t result;
    mmt_check(&p, &opts, &result);
    free(store_url);
    mmt_pipeline_stop(&p);
}
