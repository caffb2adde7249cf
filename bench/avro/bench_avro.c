/*
 * bench_avro.c - rows per second of the Avro record codec (common/src/avro*.c)
 * on the hot record: ObservationBatch of 5,000 rows x 4 numeric columns, the
 * shape mm-ingest produces and mm-trainer consumes. Also times a small record
 * (ModelTrained, 3 metrics), which is rare but shows the fixed cost per call.
 *
 * Usage: bench_avro [runs]   (default 7). Prints the median of the runs and
 * every run, so that two builds can be compared side by side on one machine.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/avro.h"

#define ROWS          5000
#define COLUMNS       4
#define BATCH_REPEATS 400   /* batches per run: 2 M rows */
#define SMALL_REPEATS 20000 /* ModelTrained records per run */
#define MAX_RUNS      31

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, const char *errstr) {
    fprintf(stderr, "bench_avro: %s: %s\n", what, errstr);
    exit(1);
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 7;
    if (runs < 1 || runs > MAX_RUNS) runs = 7;
    char errstr[512];
    if (mm_avro_init(errstr, sizeof(errstr))) die("init", errstr);

    static int64_t time_ms[ROWS], line[ROWS];
    static double target[ROWS], values[COLUMNS][ROWS];
    mm_obs_column_t columns[COLUMNS];
    static const char *const column_names[COLUMNS] = {"price", "promo", "temperature", "holiday"};
    for (int i = 0; i < ROWS; i++) {
        time_ms[i] = 1700000000000 + (int64_t)i * 86400000;
        line[i] = i + 2;
        target[i] = i % 17 ? 100.0 + i * 0.25 : NAN;
        for (int c = 0; c < COLUMNS; c++) values[c][i] = (double)(i * (c + 1)) / 7.0;
    }
    for (int c = 0; c < COLUMNS; c++) {
        memset(&columns[c], 0, sizeof(columns[c]));
        columns[c].name = column_names[c];
        columns[c].values = values[c];
    }
    mm_observation_batch_t batch;
    memset(&batch, 0, sizeof(batch));
    batch.dataset = "retail";
    batch.spec_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    batch.partition_key = "store=12/item=345";
    batch.load_id = "load-2024-01-01";
    batch.source = "data/sales.csv";
    batch.load_rows_for_key = -1;
    batch.load_batches_for_key = -1;
    batch.n_rows = ROWS;
    batch.time_ms = time_ms;
    batch.target = target;
    batch.line = line;
    batch.n_columns = COLUMNS;
    batch.columns = columns;

    mm_metric_t metrics[3];
    memset(metrics, 0, sizeof(metrics));
    static const char *const metric_names[3] = {"rmse", "mase", "smape"};
    for (int i = 0; i < 3; i++) {
        metrics[i].name = metric_names[i];
        metrics[i].value = 1.0 + i;
    }
    mm_model_trained_t trained;
    memset(&trained, 0, sizeof(trained));
    trained.train_id = "a1b2c3";
    trained.dataset = "retail";
    trained.spec_hash = "c3d4";
    trained.partition_key = "store=1/item=2";
    trained.algorithm = "ets";
    trained.artifact_uri = "candidates/retail/store=1/item=2/a1b2.mmm";
    trained.artifact_sha256 = "e5f6";
    trained.data_digest = "7788";
    trained.trainer = "trainer-0";
    trained.n_metrics = 3;
    trained.metrics = metrics;

    mm_buf_t enc, small;
    mm_buf_init(&enc, 0);
    mm_buf_init(&small, 0);
    if (mm_avro_encode_observation_batch(&batch, &enc, errstr, sizeof(errstr)))
        die("encode", errstr);
    if (mm_avro_encode_model_trained(&trained, &small, errstr, sizeof(errstr)))
        die("encode small", errstr);

    double enc_rate[MAX_RUNS], dec_rate[MAX_RUNS], small_rate[MAX_RUNS];
    mm_buf_t scratch;
    mm_buf_init(&scratch, 0);
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        for (int k = 0; k < BATCH_REPEATS; k++) {
            mm_buf_reset(&scratch);
            if (mm_avro_encode_observation_batch(&batch, &scratch, errstr, sizeof(errstr)))
                die("encode", errstr);
        }
        double t1 = now_s();
        for (int k = 0; k < BATCH_REPEATS; k++) {
            mm_observation_batch_t got;
            if (mm_avro_decode_observation_batch(enc.data, enc.len, &got, errstr, sizeof(errstr)))
                die("decode", errstr);
            mm_observation_batch_clear(&got);
        }
        double t2 = now_s();
        for (int k = 0; k < SMALL_REPEATS; k++) {
            mm_model_trained_t got;
            if (mm_avro_decode_model_trained(small.data, small.len, &got, errstr, sizeof(errstr)))
                die("decode small", errstr);
            mm_model_trained_clear(&got);
        }
        double t3 = now_s();
        enc_rate[r] = (double)ROWS * BATCH_REPEATS / (t1 - t0);
        dec_rate[r] = (double)ROWS * BATCH_REPEATS / (t2 - t1);
        small_rate[r] = (double)SMALL_REPEATS / (t3 - t2);
        printf("run %d: encode %.1f M rows/s, decode %.1f M rows/s, ModelTrained decode %.0f k "
               "records/s\n",
               r + 1, enc_rate[r] / 1e6, dec_rate[r] / 1e6, small_rate[r] / 1e3);
    }
    printf("median of %d runs (ObservationBatch %d rows x %d columns, %zu bytes): encode %.1f M "
           "rows/s, decode %.1f M rows/s; ModelTrained (%zu bytes) decode %.0f k records/s\n",
           runs, ROWS, COLUMNS, enc.len, median(enc_rate, runs) / 1e6, median(dec_rate, runs) / 1e6,
           small.len, median(small_rate, runs) / 1e3);
    mm_buf_free(&scratch);
    mm_buf_free(&enc);
    mm_buf_free(&small);
    return 0;
}
