/*
 * pipeline.c - end-to-end test harness: services as real processes talking
 * to a dev broker over TCP (see pipeline.h).
 */
#include "pipeline.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "mm/avro.h"
#include "mm/kafka.h"
#include "mm/records.h"
#include "mm/util.h"
#include "support.h"

static char *path_in(const mmt_pipeline_t *p, const char *name) {
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s/%s", p->dir, name);
    return strdup(buf);
}

static void pipeline_init(mmt_pipeline_t *p, const char *tag, int partitions, bool control,
                          const char *spec_json) {
    memset(p, 0, sizeof(*p));
    p->trainer = p->promoter = -1;
    p->dir = mmt_tmpdir(tag);
    cr_assert_not_null(p->dir, "cannot create a temporary directory");
    mmt_broker_opts_t opts = {.partitions = partitions, .brokers = 1, .control = control};
    mmt_broker_start_with(&p->broker, &opts);
    p->spec_path = path_in(p, "spec.json");
    cr_assert(mmt_write_file(p->spec_path, spec_json));
    char url[4200];
    snprintf(url, sizeof(url), "file://%s/blobs", p->dir);
    p->blob_url = strdup(url);
    char err[512];
    cr_assert_eq(mm_avro_init(err, sizeof(err)), MM_OK, "%s", err);
}

void mmt_pipeline_init_spec(mmt_pipeline_t *p, const char *tag, int partitions,
                            const char *spec_json) {
    pipeline_init(p, tag, partitions, false, spec_json);
}

static void sales_spec(char *spec, size_t size, int horizon);

void mmt_pipeline_init(mmt_pipeline_t *p, const char *tag, int partitions, int horizon) {
    char spec[2048];
    sales_spec(spec, sizeof(spec), horizon);
    pipeline_init(p, tag, partitions, false, spec);
}

void mmt_pipeline_init_control(mmt_pipeline_t *p, const char *tag, int partitions, int horizon) {
    char spec[2048];
    sales_spec(spec, sizeof(spec), horizon);
    pipeline_init(p, tag, partitions, true, spec);
}

/* The sales spec of the pipeline tests, forecasting @p horizon days. */
static void sales_spec(char *spec, size_t size, int horizon) {
    snprintf(spec, size,
             "{\n"
             "  \"name\": \"sales\",\n"
             "  \"task\": \"forecast\",\n"
             "  \"key\": [\"store\", \"item\"],\n"
             "  \"time\": {\"column\": \"date\", \"format\": \"%%Y-%%m-%%d\", \"frequency\": "
             "\"day\"},\n"
             "  \"target\": {\"column\": \"sales\"},\n"
             "  \"features\": {\"exogenous\": [\"price\", \"promo\"]},\n"
             "  \"horizon\": %d,\n"
             "  \"holdout\": 14,\n"
             "  \"backtest_windows\": 1,\n"
             "  \"season_length\": 7,\n"
             "  \"min_history\": 42,\n"
             "  \"algorithms\": [\"snaive\", \"ets\"],\n"
             "  \"selection_metric\": \"mase\",\n"
             "  \"retrain\": {\"on_end_of_load\": true, \"debounce_ms\": 200},\n"
             "  \"promotion\": {\"metric\": \"mase\", \"threshold\": {\"op\": \"<\", \"value\": "
             "1.2}, \"margin\": 0.0, \"require_beats_baseline\": false}\n"
             "}\n",
             horizon);
}

int64_t mmt_pipeline_generate(mmt_pipeline_t *p, int stores, int items, int days, int seed) {
    char *bin = mmt_binary("mm-datagen");
    cr_assert_not_null(bin, "mm-datagen is not built");
    p->csv_path = path_in(p, "sales.csv");
    char s[16], i[16], d[16], sd[16];
    snprintf(s, sizeof(s), "%d", stores);
    snprintf(i, sizeof(i), "%d", items);
    snprintf(d, sizeof(d), "%d", days);
    snprintf(sd, sizeof(sd), "%d", seed);
    char *argv[] = {bin, "sales",  "--stores", s,       "--items",   i,   "--days",
                    d,   "--seed", sd,         "--out", p->csv_path, NULL};
    char *log = path_in(p, "datagen.log");
    pid_t pid = mmt_spawn(argv, NULL, log);
    int st = mmt_wait(pid, mmt_timeout_ms(60000));
    cr_assert_eq(st, 0, "mm-datagen exited %d (see %s)", st, log);
    free(log);
    free(bin);
    FILE *f = fopen(p->csv_path, "r");
    cr_assert_not_null(f);
    int64_t lines = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        if (c == '\n') lines++;
    fclose(f);
    return lines - 1; /* header */
}

void mmt_pipeline_generate_maintenance(mmt_pipeline_t *p, int machines, int days, int seed) {
    char *bin = mmt_binary("mm-datagen");
    cr_assert_not_null(bin, "mm-datagen is not built");
    char m[16], d[16], sd[16];
    snprintf(m, sizeof(m), "%d", machines);
    snprintf(d, sizeof(d), "%d", days);
    snprintf(sd, sizeof(sd), "%d", seed);
    char *out_dir = path_in(p, "maintenance");
    char *argv[] = {bin, "maintenance", "--machines", m,   "--days", d, "--seed",
                    sd,  "--out-dir",   out_dir,      NULL};
    char *log = path_in(p, "datagen.log");
    int st = mmt_wait(mmt_spawn(argv, NULL, log), mmt_timeout_ms(60000));
    cr_assert_eq(st, 0, "mm-datagen maintenance exited %d (see %s)", st, log);
    char path[4200];
    snprintf(path, sizeof(path), "%s/telemetry_labeled.csv", out_dir);
    p->csv_path = strdup(path);
    free(out_dir);
    free(log);
    free(bin);
}

char *mmt_pipeline_extra_csv(mmt_pipeline_t *p, const char *name, const char *text) {
    char *path = path_in(p, name);
    cr_assert(mmt_write_file(path, text));
    return path;
}

void mmt_pipeline_use_blob(mmt_pipeline_t *p, const char *url, const char *account_key) {
    free(p->blob_url);
    free(p->blob_key);
    p->blob_url = strdup(url);
    p->blob_key = account_key ? strdup(account_key) : NULL;
    cr_assert_not_null(p->blob_url);
}

/* Environment shared by every service process of the pipeline. */
static void service_env(mmt_pipeline_t *p, char **env, char *storage, size_t size) {
    int len = snprintf(storage, size,
                       "MM_SPEC=%s%cMM_BOOTSTRAP_SERVERS=%s%cMM_BLOB_URL=%s%c"
                       "MM_KAFKA_SESSION_TIMEOUT_MS=6000%cMM_LOG_LEVEL=info%cMM_BLOB_KEY=%s",
                       p->spec_path, 0, p->broker.bootstrap, 0, p->blob_url, 0, 0, 0,
                       p->blob_key ? p->blob_key : "");
    cr_assert(len > 0 && (size_t)len < size, "service environment too long");
    int n = p->blob_key ? 6 : 5;
    char *cur = storage;
    int k = 0;
    for (; k < n; k++) {
        env[k] = cur;
        cur += strlen(cur) + 1;
    }
    if (p->http) env[k++] = "MM_HTTP_ADDR=127.0.0.1:0";
    env[k] = NULL;
}

/* Start service @p name ("mm-trainer") with @p args (NULL-terminated, after
 * the program name), the pipeline's environment, and output appended to
 * "<name without mm->.log" in the pipeline dir. @returns its pid. */
static pid_t spawn_service(mmt_pipeline_t *p, const char *name, const char *const *args) {
    char *bin = mmt_binary(name);
    cr_assert_not_null(bin, "%s is not built", name);
    char log_name[64];
    snprintf(log_name, sizeof(log_name), "%s.log", strncmp(name, "mm-", 3) == 0 ? name + 3 : name);
    char *log = path_in(p, log_name);
    char storage[8192];
    char *env[8]; /* service_env: up to 7 and the NULL */
    service_env(p, env, storage, sizeof(storage));
    char *argv[24];
    size_t n = 0;
    argv[n++] = bin;
    for (size_t i = 0; args[i]; i++) {
        cr_assert_lt(n, MM_ARRAY_SIZE(argv) - 1, "too many arguments for %s", name);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    pid_t pid = mmt_spawn(argv, env, log);
    cr_assert_gt(pid, 0, "cannot start %s", name);
    free(bin);
    free(log);
    return pid;
}

void mmt_pipeline_start_trainer(mmt_pipeline_t *p) {
    char *state = path_in(p, "trainer.db");
    const char *args[] = {"--state", state, "--workers", "2", NULL};
    p->trainer = spawn_service(p, "mm-trainer", args);
    p->trainer_starts++;
    free(state);
}

void mmt_pipeline_kill_trainer(mmt_pipeline_t *p) {
    if (p->trainer <= 0) return;
    kill(p->trainer, SIGKILL);
    mmt_wait(p->trainer, 10000);
    p->trainer = -1;
}

void mmt_pipeline_start_promoter(mmt_pipeline_t *p) {
    char *registry = path_in(p, "registry.db");
    const char *args[] = {"--registry", registry, NULL};
    p->promoter = spawn_service(p, "mm-promoter", args);
    free(registry);
}

pid_t mmt_pipeline_ingest_async(mmt_pipeline_t *p, const char *const *files,
                                const char *extra_arg) {
    const char *args[20];
    size_t n = 0;
    if (extra_arg) args[n++] = extra_arg;
    for (size_t i = 0; files[i]; i++) {
        cr_assert_lt(n, MM_ARRAY_SIZE(args) - 1, "too many input files");
        args[n++] = files[i];
    }
    args[n] = NULL;
    return spawn_service(p, "mm-ingest", args);
}

int mmt_pipeline_ingest(mmt_pipeline_t *p, const char *const *files, const char *extra_arg) {
    pid_t pid = mmt_pipeline_ingest_async(p, files, extra_arg);
    cr_assert_gt(pid, 0);
    return mmt_wait(pid, mmt_timeout_ms(300000));
}

typedef struct key_set {
    char **keys;
    bool *production; /* the latest decision of the key names a production model */
    size_t n, cap;
} key_set_t;

static void key_set_put(key_set_t *s, const char *key, bool production) {
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->keys[i], key) == 0) {
            s->production[i] = production;
            return;
        }
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->keys = realloc(s->keys, s->cap * sizeof(char *));
        s->production = realloc(s->production, s->cap * sizeof(bool));
    }
    s->production[s->n] = production;
    s->keys[s->n++] = strdup(key);
}

static void key_set_free(key_set_t *s) {
    for (size_t i = 0; i < s->n; i++) free(s->keys[i]);
    free(s->keys);
    free(s->production);
}

int64_t mmt_pipeline_decided_keys(mmt_pipeline_t *p) {
    int64_t with_production = 0;
    return mmt_pipeline_decisions(p, &with_production);
}

int64_t mmt_pipeline_decisions(mmt_pipeline_t *p, int64_t *with_production) {
    char err[512];
    mm_kafka_reader_t *r =
        mm_kafka_reader_new(p->broker.bootstrap, "mm.decisions", NULL, err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    key_set_t keys = {0};
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(30000);
    for (;;) {
        mm_kafka_msg_t msg;
        mm_err_t e = mm_kafka_reader_poll(r, 200, &msg, err, sizeof(err));
        if (e == MM_ERR_NOT_FOUND) break;
        if (e == MM_ERR_TIMEOUT) {
            cr_assert_lt(mm_mono_ms(), deadline, "mm.decisions not readable to its end");
            continue;
        }
        if (e) continue;
        mm_model_decision_t d = {0};
        if (mm_avro_decode_model_decision(msg.value, msg.value_len, &d, err, sizeof(err)) ==
            MM_OK) {
            key_set_put(&keys, d.partition_key, d.has_production);
            mm_model_decision_clear(&d);
        }
    }
    mm_kafka_reader_destroy(r);
    int64_t n = (int64_t)keys.n;
    *with_production = 0;
    for (size_t i = 0; i < keys.n; i++) *with_production += keys.production[i];
    key_set_free(&keys);
    return n;
}

bool mmt_pipeline_wait_decisions(mmt_pipeline_t *p, int64_t keys, int64_t timeout_ms) {
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(timeout_ms);
    while (mm_mono_ms() < deadline) {
        if (mmt_pipeline_decided_keys(p) >= keys) return true;
        mm_sleep_ms(1000, NULL);
    }
    return false;
}

int64_t mmt_pipeline_count_topic(mmt_pipeline_t *p, const char *topic) {
    char err[512];
    mm_kafka_reader_t *r = mm_kafka_reader_new(p->broker.bootstrap, topic, NULL, err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    int64_t n = 0;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(30000);
    for (;;) {
        mm_kafka_msg_t msg;
        mm_err_t e = mm_kafka_reader_poll(r, 200, &msg, err, sizeof(err));
        if (e == MM_ERR_NOT_FOUND) break;
        if (e == MM_ERR_TIMEOUT) {
            cr_assert_lt(mm_mono_ms(), deadline, "%s not readable to its end", topic);
            continue;
        }
        if (!e) n++;
    }
    mm_kafka_reader_destroy(r);
    return n;
}

int mmt_pipeline_score_with(mmt_pipeline_t *p, const char *const *extra) {
    char *sink = path_in(p, "predictions.db");
    int st = mmt_pipeline_score_into(p, sink, extra);
    free(sink);
    return st;
}

static pid_t score_start(mmt_pipeline_t *p, const char *sink_url, const char *const *extra) {
    char *state = path_in(p, "scorer.db");
    const char *args[16] = {"--sink", sink_url, "--state", state};
    size_t n = 4;
    for (size_t i = 0; extra && extra[i]; i++) {
        cr_assert_lt(n, MM_ARRAY_SIZE(args) - 1, "too many scorer arguments");
        args[n++] = extra[i];
    }
    args[n] = NULL;
    pid_t pid = spawn_service(p, "mm-scorer", args);
    free(state);
    return pid;
}

int mmt_pipeline_score_into(mmt_pipeline_t *p, const char *sink_url, const char *const *extra) {
    return mmt_wait(score_start(p, sink_url, extra), mmt_timeout_ms(300000));
}

pid_t mmt_pipeline_score_async(mmt_pipeline_t *p) {
    char *sink = path_in(p, "predictions.db");
    pid_t pid = score_start(p, sink, NULL);
    free(sink);
    return pid;
}

int mmt_pipeline_score(mmt_pipeline_t *p) {
    return mmt_pipeline_score_with(p, NULL);
}

int64_t mmt_pipeline_try_query(mmt_pipeline_t *p, const char *db_name, const char *sql) {
    char *path = path_in(p, db_name);
    sqlite3 *db = NULL;
    int64_t v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 10000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    free(path);
    return v;
}

int64_t mmt_pipeline_query(mmt_pipeline_t *p, const char *db_name, const char *sql) {
    char *path = path_in(p, db_name);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    cr_assert_eq(rc, SQLITE_OK, "open %s: %s", path, sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
    return v;
}

void mmt_pipeline_stop(mmt_pipeline_t *p) {
    if (p->trainer > 0) mmt_stop(p->trainer, 15000);
    if (p->promoter > 0) mmt_stop(p->promoter, 15000);
    mmt_broker_stop(&p->broker);
    if (!getenv("MM_TEST_KEEP")) mmt_rmtree(p->dir);
    free(p->dir);
    free(p->spec_path);
    free(p->blob_url);
    free(p->blob_key);
    free(p->csv_path);
    memset(p, 0, sizeof(*p));
}
