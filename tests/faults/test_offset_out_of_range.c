/*
 * test_offset_out_of_range.c - fault scenario 11 of docs/reliability.md: a
 * Fetch answered once with OFFSET_OUT_OF_RANGE (1), as after retention
 * removed what a consumer still needed. The consumers run with
 * auto.offset.reset=error, so the affected partition must never be skipped
 * to its end or replayed from its start in silence: either the fetch is
 * retried and everything arrives (the checker is clean), or the consumer
 * that met it (the trainer's or the promoter's: the error goes to the next
 * Fetch of any client) stops that partition with an error that names it,
 * and what was stored holds nothing twice. A stop is an alarm an operator
 * sees: an error-level kafka_partition_stopped line and, on the service's
 * /metrics, mm_kafka_partitions_stopped_total counting exactly those stops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <sqlite3.h>

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
#define HTTP_MS   10000
#define ALARM_MS  60000
#define PAST_END  1000 /* offsets a doctored state store points past a partition's end */
#define BODY_MAX  (256 * 1024)

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

/* Lines of @p log_name with event @p event at level @p level. */
static int log_events(mmt_pipeline_t *p, const char *log_name, const char *event,
                      const char *level) {
    char path[4200], line[8192], needle[128], lvl[64];
    snprintf(path, sizeof(path), "%s/%s", p->dir, log_name);
    snprintf(needle, sizeof(needle), "\"event\":\"%s\"", event);
    snprintf(lvl, sizeof(lvl), "\"level\":\"%s\"", level);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle) && strstr(line, lvl)) n++;
    fclose(f);
    return n;
}

/* The port a service logged in its last http_listening line ("... (port N)"), or 0. */
static int listening_port(mmt_pipeline_t *p, const char *log_name) {
    char path[4200], line[8192];
    snprintf(path, sizeof(path), "%s/%s", p->dir, log_name);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int port = 0;
    while (fgets(line, sizeof(line), f)) {
        const char *at =
            strstr(line, "\"event\":\"http_listening\"") ? strstr(line, "(port ") : NULL;
        int64_t v;
        char digits[16] = "";
        if (at) sscanf(at + 6, "%15[0-9]", digits);
        if (at && mm_parse_i64(digits, &v) && v > 0 && v < 65536) port = (int)v;
    }
    fclose(f);
    return port;
}

typedef struct body {
    char text[BODY_MAX];
    size_t len;
} body_t;

static size_t on_body(char *data, size_t size, size_t n, void *opaque) {
    body_t *b = opaque;
    size_t bytes = size * n, room = sizeof(b->text) - 1 - b->len;
    size_t take = bytes < room ? bytes : room;
    memcpy(b->text + b->len, data, take);
    b->len += take;
    b->text[b->len] = '\0';
    return bytes;
}

/* The sum over the series of counter @p name on the /metrics of the service logging to
 * @p log_name. */
static int64_t metric_sum(mmt_pipeline_t *p, const char *log_name, const char *name) {
    int port = listening_port(p, log_name);
    cr_assert_gt(port, 0, "%s has no http_listening line", log_name);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    body_t *b = calloc(1, sizeof(*b));
    cr_assert(b);
    CURL *curl = curl_easy_init();
    cr_assert(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)mmt_timeout_ms(HTTP_MS));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_cleanup(curl);
    cr_assert_eq(rc, CURLE_OK, "GET %s: %s", url, curl_easy_strerror(rc));
    cr_assert(strstr(b->text, "mm_metrics_series_dropped_total"), "not a metrics page: %s",
              b->text);
    int64_t sum = 0;
    size_t name_len = strlen(name);
    for (char *line = b->text; line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        if (strncmp(line, name, name_len) == 0 &&
            (line[name_len] == '{' || line[name_len] == ' ')) {
            const char *value = strrchr(line, ' ');
            int64_t v;
            if (value && mm_parse_i64(value + 1, &v)) sum += v;
        }
        line = end ? end + 1 : NULL;
    }
    free(b);
    return sum;
}

Test(fault_offset_out_of_range, a_fetch_out_of_range_is_never_a_silent_skip_or_replay,
     .timeout = 600) {
    uint64_t rng = mmt_fault_seed("11-offset-out-of-range");
    int64_t after_batches = mmt_fault_rand(&rng, 20, 150);
    mmt_pipeline_t p;
    mmt_pipeline_init_control(&p, "out-of-range", 4, HORIZON);
    p.http = true; /* /metrics of the trainer and the promoter */
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

    /* Every stop is an alarm: an error-level line and its count on /metrics. */
    int stops = 0;
    for (size_t i = 0; i < MM_ARRAY_SIZE(service_logs); i++) {
        int lines = log_events(&p, service_logs[i], "kafka_partition_stopped", "error");
        int64_t counted = metric_sum(&p, service_logs[i], "mm_kafka_partitions_stopped_total");
        fprintf(stderr,
                "fault scenario 11: %s: %d kafka_partition_stopped error line(s), "
                "mm_kafka_partitions_stopped_total %lld\n",
                service_logs[i], lines, (long long)counted);
        cr_expect_eq(counted, lines, "%s: %d stop(s) logged, %lld counted on /metrics",
                     service_logs[i], lines, (long long)counted);
        stops += lines;
    }
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
        cr_expect_gt(stops, 0, "keys undecided, yet no kafka_partition_stopped alarm");
        cr_expect_eq(mmt_check_history_duplicates(&p, NULL), 0);
    }
    mmt_pipeline_stop(&p);
}

/*
 * The same alarm, deterministic: the trainer's state store points past the
 * end of one partition (a state file restored from another cluster, a topic
 * recreated), so its Fetch is answered OFFSET_OUT_OF_RANGE for that
 * partition alone. The trainer must stop exactly that partition, say so at
 * error level, count it on /metrics, and keep its other partitions.
 */
Test(fault_offset_out_of_range, a_stored_offset_past_the_end_stops_that_partition_with_an_alarm,
     .timeout = 600) {
    mmt_pipeline_t p;
    mmt_pipeline_init(&p, "past-the-end", 4, HORIZON);
    p.http = true;
    mmt_pipeline_generate(&p, STORES, ITEMS, DAYS, 67);
    mmt_pipeline_start_trainer(&p);
    mmt_pipeline_start_promoter(&p);
    const char *files[] = {p.csv_path, NULL};
    cr_assert_eq(mmt_pipeline_ingest(&p, files, "--batch-rows=50"), 0, "mm-ingest failed");
    cr_assert(mmt_pipeline_wait_decisions(&p, KEYS, mmt_timeout_ms(120000)),
              "not every key was decided");
    cr_assert_geq(mmt_stop(p.trainer, mmt_timeout_ms(30000)), 0);
    p.trainer = -1;
    int before = log_events(&p, "trainer.log", "kafka_partition_stopped", "error");

    char path[4200];
    snprintf(path, sizeof(path), "%s/trainer.db", p.dir);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK, "%s", path);
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "UPDATE offsets SET next_offset = next_offset + ?1 WHERE "
                                    "partition = (SELECT MIN(partition) FROM offsets) "
                                    "RETURNING partition, next_offset",
                                    -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_int(st, 1, PAST_END);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "no stored offset to move: %s", sqlite3_errmsg(db));
    int partition = sqlite3_column_int(st, 0);
    long long offset = (long long)sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    sqlite3_close(db);

    mmt_pipeline_start_trainer(&p);
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(ALARM_MS);
    int lines = 0;
    while ((lines = log_events(&p, "trainer.log", "kafka_partition_stopped", "error") - before) ==
               0 &&
           mm_mono_ms() < deadline)
        mm_sleep_ms(100, NULL);
    int64_t counted = metric_sum(&p, "trainer.log", "mm_kafka_partitions_stopped_total");
    int64_t errors = metric_sum(&p, "trainer.log", "mm_kafka_consumer_errors_total");
    fprintf(stderr,
            "fault scenario 11-past-the-end: partition %d of %s set to offset %lld; %d "
            "kafka_partition_stopped error line(s), mm_kafka_partitions_stopped_total %lld, "
            "mm_kafka_consumer_errors_total %lld\n",
            partition, MM_TOPIC_OBSERVATIONS, offset, lines, (long long)counted, (long long)errors);
    cr_expect_eq(lines, 1, "%d kafka_partition_stopped lines after the restart", lines);
    cr_expect_eq(counted, 1, "mm_kafka_partitions_stopped_total %lld", (long long)counted);
    cr_expect_geq(errors, 1);
    char needle[128];
    snprintf(needle, sizeof(needle), "[%d] at offset %lld", partition, offset);
    cr_expect_gt(logs_mention(&p, needle, false), 0, "no alarm names partition %d at offset %lld",
                 partition, offset);
    cr_expect_eq(mmt_check_history_duplicates(&p, NULL), 0);
    mmt_pipeline_stop(&p);
}
