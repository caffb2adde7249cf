/*
 * store_bench.c - the benchmark of mm-trainer's state store on the seed's data shape: KEYS
 * keys x DAYS daily rows (target, price, promotion) applied as
 * ObservationBatches of BATCH rows, in the order mm-ingest sends a file
 * sorted by key (each key's batches in time order, the last one its end of
 * load), through mm_trainer_store_apply_batch() (one transaction per batch,
 * its offset included), then every key's history read once as a training
 * worker does. Prints rows/s stored, bytes on disk per row, and keys/s read.
 *
 *   mm-trainer-store-bench DIR [KEYS [DAYS [BATCH]]]   (defaults 200 4000 5000)
 *
 * Uses only the store's interface (store.h), so the same source measures
 * another version of the store (bench/pipeline/store-compare.sh).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"

#define DAY_MS 86400000LL

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [KEYS [DAYS [BATCH]]]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    const long keys = argc > 2 ? atol(argv[2]) : 200;
    const long days = argc > 3 ? atol(argv[3]) : 4000;
    const long batch = argc > 4 ? atol(argv[4]) : 5000;
    if (keys <= 0 || days <= 0 || batch <= 0) {
        fprintf(stderr, "mm-trainer-store-bench: KEYS, DAYS and BATCH must be positive\n");
        return 2;
    }
    char path[4096], wal[4200];
    snprintf(path, sizeof(path), "%s/bench-trainer.db", dir);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    remove(path);
    remove(wal);

    static char price[] = "price", promo[] = "promo";
    mm_spec_t spec;
    memset(&spec, 0, sizeof(spec));
    spec.name = "sales";
    spec.freq = MM_FREQ_DAY;
    spec.retrain.on_end_of_load = true;
    spec.feature_columns[0] = price;
    spec.feature_columns[1] = promo;
    spec.n_feature_columns = 2;
    snprintf(spec.hash, sizeof(spec.hash), "%064d", 7);

    char errstr[1024];
    mm_trainer_store_t store;
    if (mm_trainer_store_open(&store, path, &spec, "bench", errstr, sizeof(errstr))) {
        fprintf(stderr, "mm-trainer-store-bench: %s\n", errstr);
        return 1;
    }
    int64_t *t = malloc((size_t)batch * sizeof(*t));
    double *y = malloc((size_t)batch * sizeof(*y));
    double *xp = malloc((size_t)batch * sizeof(*xp)), *xq = malloc((size_t)batch * sizeof(*xq));
    if (!t || !y || !xp || !xq) return 1;
    mm_obs_column_t cols[2] = {{.name = price, .values = xp}, {.name = promo, .values = xq}};
    uint64_t rng = 88172645463325252ULL;
    int64_t offset = 0, rows = 0;
    double t0 = now_s();
    for (long k = 0; k < keys; k++) {
        char key[64];
        snprintf(key, sizeof(key), "store=%ld/item=%ld", k / 100, k % 100);
        int32_t seq = 0;
        for (long d0 = 0; d0 < days; d0 += batch, seq++) {
            long n = days - d0 < batch ? days - d0 : batch;
            for (long i = 0; i < n; i++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                long day = d0 + i;
                t[i] = (int64_t)(day + 10000) * DAY_MS;
                y[i] = (double)(rng % 40) + (day % 7 == 5 ? 10.0 : 0.0);
                xp[i] = 2.49 + (double)(rng % 3) * 0.5;
                xq[i] = (double)((rng >> 8) % 10 == 0);
            }
            bool end = d0 + n >= days;
            mm_observation_batch_t b = {.dataset = "sales",
                                        .spec_hash = spec.hash,
                                        .partition_key = key,
                                        .load_id = "load-1",
                                        .batch_seq = seq,
                                        .end_of_load = end,
                                        .load_rows_for_key = end ? days : -1,
                                        .load_batches_for_key = end ? seq + 1 : -1,
                                        .n_rows = (size_t)n,
                                        .time_ms = t,
                                        .target = y,
                                        .n_columns = 2,
                                        .columns = cols};
            mm_trainer_batch_outcome_t outcome;
            if (mm_trainer_store_apply_batch(&store, "mm.observations", 0, offset++, &b, &outcome,
                                             errstr, sizeof(errstr))) {
                fprintf(stderr, "mm-trainer-store-bench: %s\n", errstr);
                return 1;
            }
            rows += n;
        }
    }
    double t_store = now_s() - t0;
    mm_db_exec(store.db, "PRAGMA wal_checkpoint(TRUNCATE)", errstr, sizeof(errstr));
    int64_t bytes = file_size(path) + file_size(wal);

    t0 = now_s();
    int64_t read_rows = 0;
    for (long k = 0; k < keys; k++) {
        char key[64];
        snprintf(key, sizeof(key), "store=%ld/item=%ld", k / 100, k % 100);
        mm_trainer_history_t h;
        if (mm_trainer_store_read_history(store.db, key, 2, &h, errstr, sizeof(errstr))) {
            fprintf(stderr, "mm-trainer-store-bench: %s\n", errstr);
            return 1;
        }
        read_rows += (int64_t)h.n;
        mm_trainer_history_clear(&h);
    }
    double t_read = now_s() - t0;
    mm_trainer_store_close(&store);
    printf("store: %ld keys x %ld days, batches of %ld: %" PRId64 " rows in %.2f s = %.0f rows/s; "
           "%" PRId64 " bytes on disk = %.1f bytes/row; read %" PRId64
           " rows of %ld keys in %.2f s = %.0f keys/s\n",
           keys, days, batch, rows, t_store, (double)rows / t_store, bytes,
           (double)bytes / (double)rows, read_rows, keys, t_read, (double)keys / t_read);
    free(t);
    free(y);
    free(xp);
    free(xq);
    remove(path);
    remove(wal);
    return 0;
}
