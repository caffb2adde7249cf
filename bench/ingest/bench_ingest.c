/*
 * bench_ingest.c - mm-ingest's CSV -> ObservationBatch path without a broker:
 * the library of services/ingest/ (mm_ingest_new / mm_ingest_file /
 * mm_ingest_finish, as mm-ingest runs it) with a sink that only counts what
 * would be produced, so the work measured is reading the CSV, checking and
 * converting each row, batching per key and Avro-encoding the batches.
 *
 * Usage: bench_ingest SPEC CSV [runs] [--grouped-by-key] [--digest]   (runs default 1)
 *
 * --digest hashes every record produced (FNV-1a of topic, key and value) and
 * prints it, so two builds can be shown to produce the same bytes; it costs
 * time, so leave it off when measuring.
 *
 * Prints, per run, the rows and records out, wall and CPU seconds and rows per
 * CPU second; with several runs, the median. For instructions per row run it
 * once under `valgrind --tool=callgrind` (bench/ingest/README.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest.h"
#include "mm/avro.h"
#include "mm/buf.h"
#include "mm/spec.h"

#define MAX_RUNS 31

typedef struct sink_count {
    int64_t records;
    int64_t bytes;
    uint64_t digest; /* FNV-1a over every topic, key and value: compares two builds' output */
} sink_count_t;

static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static mm_err_t count_sink(void *opaque, const char *topic, const char *key, size_t key_len,
                           const void *value, size_t value_len, char *reason, size_t reason_size) {
    (void)reason, (void)reason_size;
    sink_count_t *c = opaque;
    if (c->digest) {
        c->digest = fnv1a(c->digest, topic, strlen(topic) + 1);
        c->digest = fnv1a(c->digest, key ? key : "", key ? key_len : 0);
        /* The batch as produced, with its production time (which differs per run) zeroed. */
        mm_observation_batch_t batch;
        mm_buf_t again;
        char why[256];
        mm_buf_init(&again, MM_BUF_CAP_MESSAGE);
        if (mm_avro_decode_observation_batch(value, value_len, &batch, why, sizeof(why)) == MM_OK) {
            batch.produced_at_ms = 0;
            if (mm_avro_encode_observation_batch(&batch, &again, why, sizeof(why)) == MM_OK)
                c->digest = fnv1a(c->digest, again.data, again.len);
            mm_observation_batch_clear(&batch);
        } else {
            c->digest = fnv1a(c->digest, value, value_len); /* not a batch: as it is */
        }
        mm_buf_free(&again);
    }
    c->records++;
    c->bytes += (int64_t)(key_len + value_len);
    return MM_OK;
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_ingest SPEC CSV [runs] [--grouped-by-key] [--digest]\n");
        return 2;
    }
    int runs = 1;
    bool grouped = false, digest = false;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--grouped-by-key") == 0)
            grouped = true;
        else if (strcmp(argv[i], "--digest") == 0)
            digest = true;
        else
            runs = (int)strtol(argv[i], NULL, 10);
    }
    if (runs < 1 || runs > MAX_RUNS) runs = 1;
    char errstr[1024];
    mm_spec_t spec;
    if (mm_spec_load_file(argv[1], &spec, errstr, sizeof(errstr)) != MM_OK) {
        fprintf(stderr, "bench_ingest: %s\n", errstr);
        return 1;
    }
    double rate[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        sink_count_t count = {.digest = digest ? 14695981039346656037ULL : 0};
        mm_ingest_config_t cfg = {.spec = &spec,
                                  .load_id = "bench",
                                  .sink = count_sink,
                                  .sink_opaque = &count,
                                  .grouped_by_key = grouped};
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        mm_ingest_t *ingest = mm_ingest_new(&cfg, errstr, sizeof(errstr));
        if (!ingest || mm_ingest_file(ingest, argv[2], errstr, sizeof(errstr)) != MM_OK ||
            mm_ingest_finish(ingest, true, 10000, errstr, sizeof(errstr)) != MM_OK) {
            fprintf(stderr, "bench_ingest: %s\n", errstr);
            return 1;
        }
        double wall = clock_s(CLOCK_MONOTONIC) - w0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        mm_ingest_stats_t stats;
        mm_ingest_get_stats(ingest, &stats);
        rate[r] = (double)stats.rows_read / cpu;
        printf("run %d: %lld rows read, %lld emitted, %lld dead-lettered, %lld keys, %lld records "
               "(%.1f MiB); %.2f s wall, %.2f s CPU, %.0f rows per CPU second\n",
               r + 1, (long long)stats.rows_read, (long long)stats.rows_emitted,
               (long long)stats.rows_deadlettered, (long long)stats.keys, (long long)count.records,
               (double)count.bytes / 1048576.0, wall, cpu, rate[r]);
        if (digest) printf("digest %016llx\n", (unsigned long long)count.digest);
        mm_ingest_destroy(ingest);
    }
    if (runs > 1) {
        qsort(rate, (size_t)runs, sizeof(double), cmp_double);
        printf("median: %.0f rows per CPU second over %d runs\n", rate[runs / 2], runs);
    }
    mm_spec_clear(&spec);
    return 0;
}
