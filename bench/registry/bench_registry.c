/*
 * bench_registry.c - the model registry (common/src/registry*.c) at up to
 * 10^6 keys: a synthetic registry built through the registry API, then the
 * questions the services and operators ask of it, timed one by one.
 *
 * Usage:
 *   bench_registry build DIR KEYS      create DIR/registry.db with KEYS keys
 *   bench_registry measure DIR [N [PHASES]]  N timed operations per phase (default
 *                                      20000); PHASES a comma-separated subset of
 *                                      lookup,train_id,versions,promote,reject,list,stats
 *
 * The synthetic registry: keys "store=S/item=I" (1,000 items per store), each
 * with the history a key has after three loads - v1 approved (champion, then
 * previous), v2 rejected (a challenger until v3), v3 approved (champion) -
 * every version with the 5 metrics and baselines the trainer reports for a
 * forecast, a policy reason of the promoter's form and length, and one audit
 * row per judgement. The
 * outbox is empty, as it is once the promoter has delivered its decisions.
 * Built in transactions of 5,000 keys (a bulk load, not the promoter's
 * one transaction per candidate).
 *
 * measure (on a copy the build made, so a run never changes the next one):
 * - lookup: mm_registry_served_get() of random keys (what mmctl and the
 *   promoter read: the key's production model, whole row);
 * - train_id: mm_registry_find_train_id() of random registered train_ids
 *   (the promoter's replay check on every ModelTrained);
 * - versions: mm_registry_versions() of random keys (a key's history);
 * - promote: mm_promoter_handle_trained() of a new candidate of a random key
 *   that beats its champion, against a file:// blob store - replay check,
 *   champion read, policy, copy of the artifact to production/, version row,
 *   aliases, audit row, ModelDecision into the outbox and commit, exactly as
 *   mm-promoter does for a ModelTrained record (without Kafka);
 * - reject: the same with a candidate that loses (no copy);
 * - list: mm_registry_list() over every key (mmctl models list);
 * - stats: mm_registry_stats() (mmctl report).
 * Per phase: wall p50/p99 per operation and operations per second, and the
 * process CPU time per operation (less sensitive to a shared machine). Then
 * the file sizes and the process RSS.
 *
 * The phases are separate functions so that `valgrind --tool=callgrind` can
 * attribute instructions to each (bench/registry/README.md).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mm/blob.h"
#include "mm/blob_layout.h"
#include "mm/registry.h"
#include "mm/sha256.h"
#include "mm/spec.h"
#include "promoter.h"

#define ITEMS_PER_STORE 1000
#define BUILD_TX_KEYS   5000
#define VERSIONS        3
#define KEY_MAX         64
#define PATH_MAX_LEN    4096

static char errstr[1024];

static void die(const char *what) {
    fprintf(stderr, "bench_registry: %s: %s\n", what, errstr);
    exit(1);
}

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A small deterministic generator (xorshift64*), so runs pick the same keys. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng_next(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static void key_name(int64_t k, char *out, size_t size) {
    snprintf(out, size, "store=%lld/item=%lld", (long long)(k / ITEMS_PER_STORE),
             (long long)(k % ITEMS_PER_STORE));
}

static void train_id_of(int64_t k, int version, char *out, size_t size) {
    snprintf(out, size, "load-%d-store=%lld/item=%lld-%08llx", version,
             (long long)(k / ITEMS_PER_STORE), (long long)(k % ITEMS_PER_STORE),
             (unsigned long long)((uint64_t)k * 2654435761u));
}

/* ------------------------------------------------------------ a synthetic candidate */

typedef struct candidate {
    mm_model_trained_t rec;
    mm_metric_t metrics[MM_METRIC__COUNT];
    mm_metric_t baseline[MM_METRIC__COUNT];
    char key[KEY_MAX];
    char train_id[128];
    char uri[256];
    char sha[MM_SHA256_HEX_LEN + 1];
    char load_id[32];
} candidate_t;

static const char *const algorithms[] = {"ets", "theta", "arima", "combination"};

/*
 * The metrics of a forecast with MASE @p mase: the 5 regression ones, as the
 * trainer reports them (it leaves out the NaN classification metrics).
 */
#define FORECAST_METRICS 5
static void fill_metrics(mm_metric_t *m, double mase, double scale) {
    static const mm_metric_id_t ids[FORECAST_METRICS] = {
        MM_METRIC_RMSE, MM_METRIC_MAE, MM_METRIC_SMAPE, MM_METRIC_MASE, MM_METRIC_BIAS};
    const double values[FORECAST_METRICS] = {12.0 * mase * scale, 9.5 * mase * scale,
                                             30.0 + 15.0 * mase, mase, -0.25 * scale};
    for (int i = 0; i < FORECAST_METRICS; i++) {
        m[i].name = mm_metric_name(ids[i]);
        m[i].value = values[i];
    }
}

static void candidate_fill(candidate_t *c, int64_t k, int version, double mase,
                           const char *spec_hash) {
    memset(c, 0, sizeof(*c));
    key_name(k, c->key, sizeof(c->key));
    train_id_of(k, version, c->train_id, sizeof(c->train_id));
    mm_sha256_hex(c->train_id, strlen(c->train_id), c->sha);
    snprintf(c->uri, sizeof(c->uri), "candidates/sales/%s/%s.mm", c->key, c->sha);
    snprintf(c->load_id, sizeof(c->load_id), "load-%d", version);
    double scale = 1.0 + (double)(k % 97) / 10.0;
    fill_metrics(c->metrics, mase, scale);
    fill_metrics(c->baseline, 1.05, scale);
    mm_model_trained_t *r = &c->rec;
    r->train_id = c->train_id;
    r->dataset = "sales";
    r->spec_hash = spec_hash;
    r->partition_key = c->key;
    r->algorithm = algorithms[(k + version) % 4];
    r->artifact_uri = c->uri;
    r->artifact_sha256 = c->sha;
    r->artifact_size = 2200 + (k % 700);
    r->artifact_format = 1;
    r->n_metrics = FORECAST_METRICS;
    r->metrics = c->metrics;
    r->n_baseline = FORECAST_METRICS;
    r->baseline = c->baseline;
    r->data_start_ms = 1262304000000;
    r->data_end_ms = 1262304000000 + (int64_t)(3972 + 28 * version) * 86400000;
    r->n_rows = 3972 + 28 * version;
    r->data_digest = c->sha;
    r->load_id = c->load_id;
    r->trained_at_ms = 1700000000000 + (int64_t)version * 86400000;
    r->trainer = "mm-trainer-0";
}

/* The policy of the seed's spec: mase < 1.0, beat the baseline, beat the champion by 2%. */
static void spec_init(mm_spec_t *spec) {
    memset(spec, 0, sizeof(*spec));
    spec->name = "sales";
    spec->task = MM_TASK_FORECAST;
    snprintf(spec->hash, sizeof(spec->hash), "%064d", 7);
    spec->promotion.metric = MM_METRIC_MASE;
    spec->promotion.has_threshold = true;
    spec->promotion.op = MM_OP_LT;
    spec->promotion.threshold = 1.0;
    spec->promotion.margin = 0.02;
    spec->promotion.require_beats_baseline = true;
}

/* A reason in the policy's words and of its length (services/promoter/policy.c). */
static void reason_of(char *out, size_t size, const char *status, double mase, int champion) {
    if (champion <= 0)
        snprintf(out, size, "%s: mase %.4g < 1; mase %.4g beats baseline 1.05; no champion yet",
                 status, mase, mase);
    else
        snprintf(out, size,
                 "%s: mase %.4g < 1; mase %.4g beats baseline 1.05; %s champion v%d 0.82 by the "
                 "margin 2.0%% (%.1f%%)",
                 status, mase, mase, strcmp(status, "approved") == 0 ? "beats" : "does not beat",
                 champion, (0.82 - mase) / 0.82 * 100.0);
}

/* ------------------------------------------------------------ build */

static void build_key(mm_db_t *db, int64_t k, const char *spec_hash) {
    static const struct {
        mm_registry_status_t status;
        double mase;
    } history[VERSIONS] = {{MM_REGISTRY_STATUS_APPROVED, 0.82},
                           {MM_REGISTRY_STATUS_REJECTED, 0.84},
                           {MM_REGISTRY_STATUS_APPROVED, 0.76}};
    int32_t champion = 0;
    for (int v = 1; v <= VERSIONS; v++) {
        candidate_t c;
        char reason[MM_REGISTRY_REASON_MAX], production[512];
        mm_registry_status_t status = history[v - 1].status;
        double mase = history[v - 1].mase + (double)(k % 13) / 1000.0;
        candidate_fill(&c, k, v, mase, spec_hash);
        reason_of(reason, sizeof(reason), mm_registry_status_name(status), mase, champion);
        bool approved = status == MM_REGISTRY_STATUS_APPROVED;
        if (approved && mm_blob_layout_production(c.uri, production, sizeof(production)) != MM_OK)
            snprintf(errstr, sizeof(errstr), "%s", c.uri), die("production name");
        mm_registry_judged_t judged = {.rec = &c.rec,
                                       .version = v,
                                       .dataset = "sales",
                                       .production_uri = approved ? production : NULL,
                                       .status = status,
                                       .reason = reason,
                                       .failed_check = approved ? NULL : "champion",
                                       .source_topic = MM_TOPIC_MODELS,
                                       .source_partition = (int32_t)(k % 4),
                                       .source_offset = k * VERSIONS + v,
                                       .now_ms = c.rec.trained_at_ms + 1000};
        int64_t now = judged.now_ms;
        if (mm_registry_version_insert(db, &judged, errstr, sizeof(errstr)) != MM_OK)
            die("version insert");
        if (approved) {
            if (champion > 0 && mm_registry_alias_set(db, c.key, MM_ALIAS_PREVIOUS, champion, now,
                                                      errstr, sizeof(errstr)) != MM_OK)
                die("alias previous");
            if (mm_registry_alias_set(db, c.key, MM_ALIAS_CHAMPION, v, now, errstr,
                                      sizeof(errstr)) != MM_OK ||
                mm_registry_alias_set(db, c.key, MM_ALIAS_CHALLENGER, 0, now, errstr,
                                      sizeof(errstr)) != MM_OK)
                die("alias champion");
            champion = v;
        } else if (mm_registry_alias_set(db, c.key, MM_ALIAS_CHALLENGER, v, now, errstr,
                                         sizeof(errstr)) != MM_OK) {
            die("alias challenger");
        }
        if (mm_registry_audit_add(db, now, c.key, v, "judge", approved ? "approved" : "rejected",
                                  reason, "mm-promoter", errstr, sizeof(errstr)) != MM_OK)
            die("audit");
    }
}

static int64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static int cmd_build(const char *dir, int64_t keys) {
    char path[PATH_MAX_LEN];
    mm_spec_t spec;
    spec_init(&spec);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(errstr, sizeof(errstr), "%s", strerror(errno));
        die(dir);
    }
    snprintf(path, sizeof(path), "%s/registry.db", dir);
    mm_db_t *db = mm_registry_open(path, errstr, sizeof(errstr));
    if (!db) die("open");
    double t0 = wall_s(), c0 = cpu_s();
    for (int64_t k = 0; k < keys; k += BUILD_TX_KEYS) {
        if (mm_db_begin(db, errstr, sizeof(errstr)) != MM_OK) die("begin");
        for (int64_t j = k; j < k + BUILD_TX_KEYS && j < keys; j++) build_key(db, j, spec.hash);
        if (mm_db_commit(db, errstr, sizeof(errstr)) != MM_OK) die("commit");
        if ((k / BUILD_TX_KEYS) % 20 == 19)
            fprintf(stderr, "%lld keys, %.0f s\n", (long long)(k + BUILD_TX_KEYS), wall_s() - t0);
    }
    if (mm_db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", errstr, sizeof(errstr)) != MM_OK)
        die("checkpoint");
    mm_db_close(db);
    printf("build: %lld keys, %lld versions in %.1f s wall, %.1f s CPU; registry.db %.1f MiB\n",
           (long long)keys, (long long)(keys * VERSIONS), wall_s() - t0, cpu_s() - c0,
           (double)file_size(path) / 1048576.0);
    return 0;
}

/* ------------------------------------------------------------ measure */

typedef struct phase {
    const char *name;
    double *lat; /* seconds per operation */
    int n;
    double wall, cpu;
} phase_t;

static void phase_report(phase_t *p) {
    if (p->n <= 0) return;
    qsort(p->lat, (size_t)p->n, sizeof(double), cmp_double);
    double p50 = p->lat[p->n / 2], p99 = p->lat[(int)((double)p->n * 0.99)];
    printf("%-9s n=%-7d p50 %9.1f us  p99 %9.1f us  %10.0f ops/s wall  %8.1f us CPU/op\n", p->name,
           p->n, p50 * 1e6, p99 * 1e6, (double)p->n / p->wall, p->cpu / p->n * 1e6);
}

static int64_t registry_keys(mm_db_t *db) {
    int64_t n = 0;
    bool found = false;
    if (mm_db_query_i64(db, "SELECT count(*) FROM aliases WHERE alias = 'champion'", &n, &found,
                        errstr, sizeof(errstr)) != MM_OK)
        die("count keys");
    return n;
}

__attribute__((noinline)) static void phase_lookup(mm_db_t *db, int64_t keys, phase_t *p) {
    double w0 = wall_s(), c0 = cpu_s();
    for (int i = 0; i < p->n; i++) {
        char key[KEY_MAX];
        key_name((int64_t)(rng_next() % (uint64_t)keys), key, sizeof(key));
        mm_registry_version_t v;
        bool found = false, is_fallback = false;
        double t = wall_s();
        if (mm_registry_served_get(db, key, &v, &found, &is_fallback, errstr, sizeof(errstr)) !=
            MM_OK)
            die("served_get");
        p->lat[i] = wall_s() - t;
        if (!found || v.version != VERSIONS) {
            snprintf(errstr, sizeof(errstr), "%s: found %d version %d", key, found, v.version);
            die("lookup");
        }
        mm_registry_version_clear(&v);
    }
    p->wall = wall_s() - w0, p->cpu = cpu_s() - c0;
}

__attribute__((noinline)) static void phase_train_id(mm_db_t *db, int64_t keys, phase_t *p) {
    double w0 = wall_s(), c0 = cpu_s();
    for (int i = 0; i < p->n; i++) {
        char train_id[128], key[KEY_MAX];
        int32_t version = 0;
        mm_registry_status_t status;
        train_id_of((int64_t)(rng_next() % (uint64_t)keys), 2, train_id, sizeof(train_id));
        double t = wall_s();
        if (mm_registry_find_train_id(db, train_id, key, sizeof(key), &version, &status, errstr,
                                      sizeof(errstr)) != MM_OK)
            die("find_train_id");
        p->lat[i] = wall_s() - t;
        if (version != 2) die("train_id not found");
    }
    p->wall = wall_s() - w0, p->cpu = cpu_s() - c0;
}

static bool count_version(void *opaque, const mm_registry_version_t *v) {
    (void)v;
    (*(int *)opaque)++;
    return true;
}

__attribute__((noinline)) static void phase_versions(mm_db_t *db, int64_t keys, phase_t *p) {
    double w0 = wall_s(), c0 = cpu_s();
    for (int i = 0; i < p->n; i++) {
        char key[KEY_MAX];
        int n = 0;
        key_name((int64_t)(rng_next() % (uint64_t)keys), key, sizeof(key));
        double t = wall_s();
        if (mm_registry_versions(db, key, count_version, &n, errstr, sizeof(errstr)) != MM_OK)
            die("versions");
        p->lat[i] = wall_s() - t;
        if (n < VERSIONS) die("versions: too few");
    }
    p->wall = wall_s() - w0, p->cpu = cpu_s() - c0;
}

/*
 * Judge p->n new candidates of distinct random keys through the promoter:
 * winners (MASE 0.5, approved, copied to production/) or losers (MASE 0.99,
 * rejected). The artifacts are stored before the clock starts.
 */
__attribute__((noinline)) static void phase_promote(mm_promoter_t *promoter, mm_blob_t *blob,
                                                    int64_t keys, bool win, int round,
                                                    const char *spec_hash, phase_t *p) {
    candidate_t *c = calloc((size_t)p->n, sizeof(*c));
    if (!c) die("calloc");
    /* Distinct keys (a prime stride; keys are a power of ten in practice), so
     * every winner beats the champion the registry was built with. */
    int64_t first = (int64_t)(rng_next() % (uint64_t)keys), stride = 7919;
    if (keys % stride == 0) stride = 1;
    for (int i = 0; i < p->n; i++) {
        int64_t k = (first + (int64_t)i * stride) % keys;
        candidate_fill(&c[i], k, 10 + round, win ? 0.5 : 0.99, spec_hash);
        /* Unique per candidate even when a key is drawn twice. */
        snprintf(c[i].train_id, sizeof(c[i].train_id), "bench-%d-%d-%lld", round, i, (long long)k);
        char artifact[160];
        int len = snprintf(artifact, sizeof(artifact), "MMMODEL artifact of %s", c[i].train_id);
        mm_sha256_hex(artifact, (size_t)len, c[i].sha);
        snprintf(c[i].uri, sizeof(c[i].uri), "candidates/sales/%s/%s.mm", c[i].key, c[i].sha);
        c[i].rec.artifact_size = len;
        if (win && mm_blob_put_immutable(blob, c[i].uri, artifact, (size_t)len, c[i].sha, errstr,
                                         sizeof(errstr)) != MM_OK)
            die("artifact put");
    }
    double w0 = wall_s(), c0 = cpu_s();
    for (int i = 0; i < p->n; i++) {
        mm_promoter_outcome_t out;
        double t = wall_s();
        if (mm_promoter_handle_trained(promoter, &c[i].rec, MM_TOPIC_MODELS, 0,
                                       1000000000 + (int64_t)round * 100000 + i, &out, errstr,
                                       sizeof(errstr)) != MM_OK)
            die("handle_trained");
        p->lat[i] = wall_s() - t;
        if (out.status != (win ? MM_REGISTRY_STATUS_APPROVED : MM_REGISTRY_STATUS_REJECTED)) {
            snprintf(errstr, sizeof(errstr), "%s: %s", c[i].key, out.reason);
            die("unexpected verdict");
        }
    }
    p->wall = wall_s() - w0, p->cpu = cpu_s() - c0;
    free(c);
}

static bool count_key(void *opaque, const mm_registry_key_summary_t *key) {
    (void)key;
    (*(int64_t *)opaque)++;
    return true;
}

__attribute__((noinline)) static void phase_list(mm_db_t *db, int64_t keys, phase_t *p) {
    double w0 = wall_s(), c0 = cpu_s();
    int64_t n = 0;
    if (mm_registry_list(db, "mase", count_key, &n, errstr, sizeof(errstr)) != MM_OK) die("list");
    p->wall = wall_s() - w0, p->cpu = cpu_s() - c0;
    p->lat[0] = p->wall;
    if (n != keys) die("list: wrong number of keys");
    printf("list      %lld keys in %.2f s wall, %.2f s CPU (%.0f keys/s)\n", (long long)n, p->wall,
           p->cpu, (double)n / p->wall);
}

__attribute__((noinline)) static void phase_stats(mm_db_t *db, phase_t *p) {
    double w0 = wall_s(), c0 = cpu_s();
    mm_registry_stats_t stats;
    if (mm_registry_stats(db, &stats, errstr, sizeof(errstr)) != MM_OK) die("stats");
    p->wall = wall_s() - w0, p->cpu = cpu_s() - c0;
    printf("stats     in %.2f s wall, %.2f s CPU: keys %lld, versions %lld (approved %lld, "
           "rejected %lld, fallback %lld), newest fallback %lld, fallback served %lld, champions "
           "%lld, decided keys %lld, promoted %lld, rolled back %lld, outbox %lld, mase %lld "
           "champions %.6f vs baseline %.6f\n",
           p->wall, p->cpu, (long long)stats.keys, (long long)stats.versions,
           (long long)stats.approved, (long long)stats.rejected, (long long)stats.fallback_versions,
           (long long)stats.fallback, (long long)stats.fallback_served, (long long)stats.champions,
           (long long)stats.decided_keys, (long long)stats.promoted, (long long)stats.rolled_back,
           (long long)stats.outbox, (long long)stats.metrics[MM_METRIC_MASE].n,
           stats.metrics[MM_METRIC_MASE].model, stats.metrics[MM_METRIC_MASE].baseline);
}

static int64_t vm_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int64_t kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtoll(line + 6, NULL, 10);
    if (f) fclose(f);
    return kib;
}

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    static char buf[1 << 20];
    size_t n;
    int rc = in && out ? 0 : -1;
    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    if (in) fclose(in);
    if (out && fclose(out) != 0) rc = -1;
    return rc;
}

static bool wanted(const char *phases, const char *name) {
    if (!phases) return true;
    size_t len = strlen(name);
    for (const char *p = strstr(phases, name); p; p = strstr(p + 1, name))
        if ((p == phases || p[-1] == ',') && (p[len] == ',' || p[len] == 0)) return true;
    return false;
}

static int cmd_measure(const char *dir, int n, const char *phases) {
    char built[PATH_MAX_LEN], path[PATH_MAX_LEN], url[PATH_MAX_LEN + 16];
    snprintf(built, sizeof(built), "%s/registry.db", dir);
    snprintf(path, sizeof(path), "%s/work.db", dir);
    unlink(path);
    snprintf(url, sizeof(url), "%s/work.db-wal", dir);
    unlink(url);
    if (copy_file(built, path) != 0) {
        snprintf(errstr, sizeof(errstr), "cannot copy the built registry");
        die(built);
    }
    snprintf(url, sizeof(url), "file://%s/blobs", dir);
    mm_blob_opts_t opts = {.create_container = true};
    mm_blob_t *blob = mm_blob_new(url, &opts, errstr, sizeof(errstr));
    if (!blob) die("blob");
    mm_spec_t spec;
    spec_init(&spec);
    mm_promoter_config_t cfg = {.registry_path = path, .spec = &spec, .blob = blob};
    mm_promoter_t *promoter = mm_promoter_new(&cfg, errstr, sizeof(errstr));
    if (!promoter) die("promoter");
    mm_db_t *db = mm_promoter_db(promoter);
    int64_t keys = registry_keys(db);
    int np = n / 10 > 0 ? n / 10 : 1;
    printf("registry: %lld keys, %.1f MiB; %d operations per phase (%d per promotion phase)\n",
           (long long)keys, (double)file_size(path) / 1048576.0, n, np);

    double *lat = calloc((size_t)n + 1, sizeof(double));
    if (!lat) die("calloc");
    phase_t p;
    p = (phase_t){.name = "lookup", .lat = lat, .n = n};
    if (wanted(phases, p.name)) {
        phase_lookup(db, keys, &p);
        phase_report(&p);
    }
    p = (phase_t){.name = "train_id", .lat = lat, .n = n};
    if (wanted(phases, p.name)) {
        phase_train_id(db, keys, &p);
        phase_report(&p);
    }
    p = (phase_t){.name = "versions", .lat = lat, .n = n};
    if (wanted(phases, p.name)) {
        phase_versions(db, keys, &p);
        phase_report(&p);
    }
    p = (phase_t){.name = "promote", .lat = lat, .n = np};
    if (wanted(phases, p.name)) {
        phase_promote(promoter, blob, keys, true, 1, spec.hash, &p);
        phase_report(&p);
    }
    p = (phase_t){.name = "reject", .lat = lat, .n = np};
    if (wanted(phases, p.name)) {
        phase_promote(promoter, blob, keys, false, 2, spec.hash, &p);
        phase_report(&p);
    }
    p = (phase_t){.name = "list", .lat = lat, .n = 1};
    if (wanted(phases, p.name)) phase_list(db, keys, &p);
    p = (phase_t){.name = "stats", .lat = lat, .n = 1};
    if (wanted(phases, p.name)) phase_stats(db, &p);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    snprintf(url, sizeof(url), "%s-wal", path);
    printf("files     registry %.1f MiB (%.0f bytes/key), WAL %.1f MiB\n",
           (double)file_size(path) / 1048576.0, (double)file_size(path) / (double)keys,
           (double)file_size(url) / 1048576.0);
    printf("memory    RSS %.1f MiB now, %.1f MiB peak\n", (double)vm_rss_kib() / 1024.0,
           (double)ru.ru_maxrss / 1024.0);
    free(lat);
    mm_promoter_destroy(promoter);
    mm_blob_destroy(blob);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "build") == 0) {
        int64_t keys = strtoll(argv[3], NULL, 10);
        if (keys < 1) keys = 1;
        return cmd_build(argv[2], keys);
    }
    if (argc >= 3 && strcmp(argv[1], "measure") == 0) {
        int n = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 20000;
        if (n < 10) n = 10;
        return cmd_measure(argv[2], n, argc > 4 ? argv[4] : NULL);
    }
    fprintf(stderr, "usage: bench_registry build DIR KEYS | measure DIR [N [PHASES]]\n");
    return 2;
}
