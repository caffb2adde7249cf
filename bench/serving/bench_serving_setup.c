/*
 * bench_serving_setup.c - the data of the serving benchmark (bench/serving/README.md):
 * for keys 0..N-1 ("store=<i/100>/item=<i%100>"), a daily series, a model
 * trained on it (distinct artifact per key) under production/ in the blob
 * store, the key's newest observations on mm.observations (the scoring data
 * the server consumes), a ModelDecision on mm.decisions, and the same model's
 * parameters as JSON for the Python reference server.
 *
 *   bench_serving_setup DIR KEYS BLOB_URL BOOTSTRAP [VERSION FIRST COUNT]
 *
 * With VERSION, only keys FIRST..FIRST+COUNT-1 get a new model (its level
 * moved by 10%) and a decision naming it as VERSION: the hot swap.
 * BOOTSTRAP "-" skips Kafka (no records produced).
 *
 * Each artifact put is durable (file:// syncs the file and its folder), so
 * one process would wait on the disk for most of its time: the keys are
 * split over MM_BENCH_SETUP_PROCS processes (8 by default), each with its own
 * blob handle and producer.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/avro.h"
#include "mm/blob.h"
#include "mm/blob_layout.h"
#include "mm/kafka.h"
#include "mm/model.h"
#include "mm/sha256.h"
#include "mm/spec.h"

#define DAYS     120
#define DAY_MS   86400000LL
#define SEASON   7
#define KEY_MAX  64
#define OBS_DAYS 35 /* observations sent as scoring data: five seasons */

static const char *const spec_json =
    "{\"name\": \"serving\", \"task\": \"forecast\", \"key\": [\"store\", \"item\"],\n"
    " \"time\": {\"column\": \"date\", \"format\": \"%Y-%m-%d\", \"frequency\": \"day\"},\n"
    " \"target\": {\"column\": \"sales\"}, \"algorithms\": [\"snaive\"],\n"
    " \"horizon\": 28, \"holdout\": 14}\n";

static void die(const char *what, const char *why) {
    fprintf(stderr, "bench_serving_setup: %s: %s\n", what, why);
    exit(1);
}

static void key_of(long i, char *out, size_t size) {
    snprintf(out, size, "store=%ld/item=%ld", i / 100, i % 100);
}

/* Key i's series: a level, a weekly pattern, a little noise. */
static void series_of(long i, double scale, int64_t *t, double *y) {
    unsigned s = (unsigned)i * 2654435761u + 1;
    double level = 20.0 + (double)(i % 997);
    for (int d = 0; d < DAYS; d++) {
        s = s * 1103515245u + 12345u;
        t[d] = d * DAY_MS;
        y[d] = scale * (level + 5.0 * sin(2.0 * M_PI * (d % SEASON) / SEASON)) +
               (double)((s >> 16) % 100) / 100.0;
    }
}

static void on_delivery(void *opaque, void *msg_opaque, mm_err_t err, const char *reason) {
    (void)msg_opaque;
    if (err) {
        ++*(long *)opaque;
        fprintf(stderr, "decision not delivered: %s\n", reason ? reason : "");
    }
}

static int setup_range(const mm_spec_t *spec, const char *dir, const char *blob_url,
                       const char *bootstrap, int version, long first, long count);

int main(int argc, char **argv) {
    if (argc != 5 && argc != 8) {
        fprintf(stderr, "usage: %s DIR KEYS BLOB_URL BOOTSTRAP [VERSION FIRST COUNT]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1], *blob_url = argv[3], *bootstrap = argv[4];
    long keys = atol(argv[2]);
    int version = argc == 8 ? atoi(argv[5]) : 1;
    long first = argc == 8 ? atol(argv[6]) : 0, count = argc == 8 ? atol(argv[7]) : keys;
    char errstr[1024], path[4096];
    mm_spec_t spec = {0};
    if (mm_spec_parse(spec_json, strlen(spec_json), "bench spec", &spec, errstr, sizeof(errstr)))
        die("spec", errstr);
    if (mm_avro_init(errstr, sizeof(errstr))) die("avro", errstr);
    snprintf(path, sizeof(path), "%s/spec.json", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(spec_json, f) < 0 || fclose(f)) die(path, "cannot write");
    snprintf(path, sizeof(path), "%s/ref", dir);
    mkdir(path, 0755);

    if (version == 1) {
        snprintf(path, sizeof(path), "%s/keys.txt", dir);
        FILE *keys_file = fopen(path, "w");
        if (!keys_file) die(path, "cannot write");
        for (long i = first; i < first + count; i++) {
            char key[KEY_MAX];
            key_of(i, key, sizeof(key));
            fprintf(keys_file, "%s\n", key);
        }
        if (fclose(keys_file)) die(path, "cannot write");
    }
    /* The container once, before the processes race to create it. */
    mm_blob_opts_t bopts = {0};
    bopts.account_key = getenv("MM_BLOB_KEY");
    bopts.create_container = true;
    mm_blob_t *blob = mm_blob_new(blob_url, &bopts, errstr, sizeof(errstr));
    if (!blob) die(blob_url, errstr);
    mm_blob_destroy(blob);

    const char *procs_env = getenv("MM_BENCH_SETUP_PROCS");
    long procs = procs_env ? atol(procs_env) : 8;
    if (procs < 1) procs = 1;
    if (procs > count) procs = count > 0 ? count : 1;
    pid_t pids[64];
    if (procs > (long)(sizeof(pids) / sizeof(pids[0]))) procs = sizeof(pids) / sizeof(pids[0]);
    fflush(NULL);
    for (long p = 0; p < procs; p++) {
        long lo = first + count * p / procs, hi = first + count * (p + 1) / procs;
        pids[p] = fork();
        if (pids[p] < 0) die("fork", "failed");
        if (pids[p] == 0) _exit(setup_range(&spec, dir, blob_url, bootstrap, version, lo, hi - lo));
    }
    int bad = 0;
    for (long p = 0; p < procs; p++) {
        int status = 0;
        if (waitpid(pids[p], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bad++;
    }
    mm_spec_clear(&spec);
    if (bad) die("setup", "a setup process failed (see above)");
    return 0;
}

/* Keys first..first+count-1: models, artifacts, reference files, records. @returns 0 or exits. */
static int setup_range(const mm_spec_t *spec, const char *dir, const char *blob_url,
                       const char *bootstrap, int version, long first, long count) {
    char errstr[1024], path[4096];
    mm_blob_opts_t bopts = {0};
    bopts.account_key = getenv("MM_BLOB_KEY");
    mm_blob_t *blob = mm_blob_new(blob_url, &bopts, errstr, sizeof(errstr));
    if (!blob) die(blob_url, errstr);
    long failed = 0;
    mm_kafka_producer_t *producer = NULL;
    if (strcmp(bootstrap, "-") != 0) {
        producer =
            mm_kafka_producer_new(bootstrap, NULL, on_delivery, &failed, errstr, sizeof(errstr));
        if (!producer) die("producer", errstr);
    }

    static int64_t t[DAYS], lines[OBS_DAYS];
    static double y[DAYS];
    for (long i = first; i < first + count; i++) {
        char key[KEY_MAX];
        key_of(i, key, sizeof(key));
        series_of(i, version == 1 ? 1.0 : 1.0 + 0.1 * (version - 1), t, y);
        mm_series_t series = {.n = DAYS, .time_ms = t, .y = y};
        mm_train_result_t res = {0};
        if (mm_model_train(&spec->model, &series, &res, errstr, sizeof(errstr))) die(key, errstr);
        char sha[MM_SHA256_HEX_LEN + 1], cand[1024], prod[1024];
        mm_sha256_hex(res.artifact, res.artifact_len, sha);
        if (mm_blob_layout_candidate(cand, sizeof(cand), spec->name, key, sha) ||
            mm_blob_layout_production(cand, prod, sizeof(prod)))
            die(key, "blob name");
        if (mm_blob_put_immutable(blob, prod, res.artifact, res.artifact_len, sha, errstr,
                                  sizeof(errstr)))
            die(prod, errstr);
        /* The reference server's model: the last season, per key. */
        snprintf(path, sizeof(path), "%s/ref/%ld.json", dir, i);
        FILE *rf = fopen(path, "w");
        if (!rf) die(path, "cannot write");
        fprintf(rf, "{\"key\": \"%s\", \"version\": %d, \"last_season\": [", key, version);
        for (int d = DAYS - SEASON; d < DAYS; d++)
            fprintf(rf, "%s%.6f", d > DAYS - SEASON ? ", " : "", y[d]);
        fprintf(rf, "], \"data_end_ms\": %" PRId64 "}\n", t[DAYS - 1]);
        fclose(rf);
        if (producer && version == 1) {
            mm_observation_batch_t b = {.dataset = spec->name,
                                        .spec_hash = spec->hash,
                                        .partition_key = key,
                                        .load_id = "bench",
                                        .source = "bench",
                                        .end_of_load = true,
                                        .load_rows_for_key = OBS_DAYS,
                                        .load_batches_for_key = 1,
                                        .n_rows = OBS_DAYS,
                                        .time_ms = t + DAYS - OBS_DAYS,
                                        .target = y + DAYS - OBS_DAYS,
                                        .line = lines};
            mm_buf_t payload;
            mm_buf_init(&payload, 0);
            if (mm_avro_encode_observation_batch(&b, &payload, errstr, sizeof(errstr)) ||
                mm_kafka_produce(producer, MM_TOPIC_OBSERVATIONS, key, strlen(key), payload.data,
                                 payload.len, NULL, 30000, errstr, sizeof(errstr)))
                die(key, errstr);
            mm_buf_free(&payload);
        }
        if (producer) {
            char train_id[MM_SHA256_HEX_LEN + 1];
            char seed[256];
            snprintf(seed, sizeof(seed), "%s/%s/%d", key, sha, version);
            mm_sha256_hex(seed, strlen(seed), train_id);
            mm_model_decision_t d = {.partition_key = key,
                                     .dataset = spec->name,
                                     .spec_hash = spec->hash,
                                     .decision = MM_DECISION_APPROVED,
                                     .reason = "bench",
                                     .candidate_train_id = train_id,
                                     .candidate_version = version,
                                     .decided_at_ms = 1,
                                     .has_production = true,
                                     .production = {.train_id = train_id,
                                                    .version = version,
                                                    .algorithm = mm_algo_name(res.algorithm),
                                                    .artifact_uri = prod,
                                                    .artifact_sha256 = sha,
                                                    .artifact_size = (int64_t)res.artifact_len,
                                                    .data_end_ms = t[DAYS - 1],
                                                    .n_rows = DAYS,
                                                    .load_id = "bench"}};
            mm_buf_t payload;
            mm_buf_init(&payload, 0);
            if (mm_avro_encode_model_decision(&d, &payload, errstr, sizeof(errstr)) ||
                mm_kafka_produce(producer, MM_TOPIC_DECISIONS, key, strlen(key), payload.data,
                                 payload.len, NULL, 30000, errstr, sizeof(errstr)))
                die(key, errstr);
            mm_buf_free(&payload);
        }
        mm_train_result_clear(&res);
        if ((i - first + 1) % 10000 == 0)
            fprintf(stderr, "  %ld keys in a process\n", i - first + 1);
    }
    if (producer) {
        if (mm_kafka_producer_flush(producer, 120000)) die("decisions", "not all delivered");
        mm_kafka_producer_destroy(producer, 10000);
    }
    mm_blob_destroy(blob);
    if (failed) die("decisions", "some were not delivered");
    return 0;
}
