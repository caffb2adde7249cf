/*
 * mm-datagen - deterministic synthetic datasets for demos, tests and
 * benchmarks.
 *
 *   mm-datagen sales --stores N --items M --days D [--start 2024-01-01]
 *                    [--seed S] [--intermittent-share 0.15] [--out FILE|-]
 *                    [--planned-days N --planned-out FILE]
 *   mm-datagen maintenance --machines N --days D [--start 2015-01-01]
 *                    [--seed S] --out-dir DIR
 *
 * sales: CSV store,item,date,sales,price,promo, one row per series and day,
 * series-major (store, item, date) like the usual store-item exports. Each
 * series has a level, a trend, weekly and yearly seasonality, promotions with
 * price cuts that lift sales, and count noise; a share of the series is
 * intermittent (mostly zero). Specs: tools/datagen/specs/sales.json.
 * With --planned-days N the last N days of every series go to the planned
 * file instead, with an empty sales cell and the planned price and
 * promotion: the scoring data of a holdout. The series themselves do not
 * change, so the same command without the flag gives the actual sales.
 *
 * maintenance: the layout of the public Azure predictive-maintenance sample
 * (machines, telemetry, errors, maint, failures) where telemetry drifts in
 * the two days before a component fails, plus telemetry_labeled.csv (hourly
 * telemetry with a 0/1 failure event column) that mm-ingest reads directly
 * with tools/datagen/specs/maintenance.json (one model per machine). Its
 * rows also carry the machine's model type, so the same file is a
 * multi-entity dataset: maintenance_fleet.json trains one classifier per
 * machine model on all its machines (key model, entity machineID),
 * maintenance_global.json one for the whole fleet (no key columns).
 *
 * Tuned for tens of millions of rows: every series draws from its own PRNG
 * stream seeded from (seed, series id), so output does not depend on
 * anything but the arguments; rows are formatted by hand (dates pre-rendered
 * once, integers and fixed-point numbers without printf) into a 1 MiB
 * buffer written with fwrite.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/fs.h"
#include "mm/util.h"

#define OUT_BUF_BYTES (1u << 20)
#define SALES_HEADER  "store,item,date,sales,price,promo\n"
#define MAX_DAYS      36600 /* a century of days */

/* ------------------------------------------------------------ PRNG */

typedef struct rng {
    uint64_t s[4];
} rng_t;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A stream per (seed, a, b): independent of generation order. */
static void rng_seed(rng_t *r, uint64_t seed, uint64_t a, uint64_t b) {
    uint64_t x = seed ^ (a * 0xd1342543de82ef95ull) ^ (b * 0xaf251af3b0f025b5ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng_t *r) { /* xoshiro256** */
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static inline double rng_uniform(rng_t *r) { /* [0, 1) */
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double rng_range(rng_t *r, double lo, double hi) {
    return lo + (hi - lo) * rng_uniform(r);
}

static double rng_normal(rng_t *r) {
    double u = rng_uniform(r);
    double v = rng_uniform(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static int64_t rng_poisson(rng_t *r, double lambda) {
    if (lambda <= 0) return 0;
    if (lambda < 30) { /* Knuth: exact, cheap for small means */
        double limit = exp(-lambda), p = 1.0;
        int64_t k = 0;
        do {
            k++;
            p *= rng_uniform(r);
        } while (p > limit);
        return k - 1;
    }
    double x = floor(lambda + sqrt(lambda) * rng_normal(r) + 0.5);
    return x < 0 ? 0 : (int64_t)x;
}

/* ------------------------------------------------------------ output */

typedef struct out {
    FILE *file;
    const char *path;
    char *buf;
    size_t len;
    bool failed;
} out_t;

static bool out_open(out_t *o, const char *path) {
    memset(o, 0, sizeof(*o));
    o->path = path;
    if (strcmp(path, "-") == 0) {
        o->file = stdout;
    } else {
        o->file = fopen(path, "wb");
        if (!o->file) {
            fprintf(stderr, "mm-datagen: %s: %s\n", path, strerror(errno));
            return false;
        }
    }
    o->buf = malloc(OUT_BUF_BYTES);
    if (!o->buf) {
        fprintf(stderr, "mm-datagen: out of memory\n");
        if (o->file != stdout) fclose(o->file);
        return false;
    }
    return true;
}

static void out_flush(out_t *o) {
    if (o->len && !o->failed && fwrite(o->buf, 1, o->len, o->file) != o->len) o->failed = true;
    o->len = 0;
}

/* Room for one row: rows are far shorter than this. */
static inline void out_room(out_t *o) {
    if (o->len > OUT_BUF_BYTES - 1024) out_flush(o);
}

static inline void out_mem(out_t *o, const char *s, size_t n) {
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static inline void out_str(out_t *o, const char *s) {
    out_mem(o, s, strlen(s));
}

static inline void out_char(out_t *o, char c) {
    o->buf[o->len++] = c;
}

static inline void out_i64(out_t *o, int64_t v) {
    char tmp[24];
    size_t n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) out_char(o, '-');
    while (n) out_char(o, tmp[--n]);
}

/* @p v rounded to @p decimals places, fixed point, no exponent. */
static inline void out_fixed(out_t *o, double v, int decimals) {
    static const int64_t scale[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    int64_t s = scale[decimals];
    double r = floor(v * (double)s + 0.5);
    int64_t x = (int64_t)r;
    if (x < 0) {
        out_char(o, '-');
        x = -x;
    }
    out_i64(o, x / s);
    if (decimals == 0) return;
    out_char(o, '.');
    int64_t frac = x % s;
    for (int64_t d = s / 10; d > 0; d /= 10) out_char(o, (char)('0' + (frac / d) % 10));
}

static bool out_close(out_t *o) {
    out_flush(o);
    bool ok = !o->failed && !ferror(o->file);
    if (o->file == stdout)
        ok = fflush(stdout) == 0 && ok;
    else
        ok = fclose(o->file) == 0 && ok;
    if (!ok) fprintf(stderr, "mm-datagen: %s: write failed\n", o->path);
    free(o->buf);
    o->buf = NULL;
    return ok;
}

/* ------------------------------------------------------------ dates */

static bool parse_date(const char *s, int64_t *days) {
    int v[3] = {0, 0, 0};
    static const int width[3] = {4, 2, 2};
    const char *p = s;
    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < width[f]; i++, p++) {
            if (*p < '0' || *p > '9') return false;
            v[f] = v[f] * 10 + (*p - '0');
        }
        if (f < 2 && *p++ != '-') return false;
    }
    if (*p) return false;
    if (v[0] < 1900 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31) return false;
    int64_t z = mm_days_from_civil(v[0], v[1], v[2]);
    int y2, m2, d2;
    mm_civil_from_days(z, &y2, &m2, &d2);
    if (y2 != v[0] || m2 != v[1] || d2 != v[2]) return false; /* 2023-02-30 */
    *days = z;
    return true;
}

/* "YYYY-MM-DD" into out (11 bytes). */
static void format_date(int64_t days, char *out) {
    int y, m, d;
    mm_civil_from_days(days, &y, &m, &d);
    unsigned yy = (unsigned)y % 10000u, mm = (unsigned)m, dd = (unsigned)d;
    out[0] = (char)('0' + yy / 1000);
    out[1] = (char)('0' + yy / 100 % 10);
    out[2] = (char)('0' + yy / 10 % 10);
    out[3] = (char)('0' + yy % 10);
    out[4] = '-';
    out[5] = (char)('0' + mm / 10);
    out[6] = (char)('0' + mm % 10);
    out[7] = '-';
    out[8] = (char)('0' + dd / 10);
    out[9] = (char)('0' + dd % 10);
    out[10] = 0;
}

/* ------------------------------------------------------------ arguments */

typedef struct args {
    int64_t stores, items, machines, days;
    int64_t start_days;
    bool start_set;
    uint64_t seed;
    double intermittent_share;
    const char *out;
    const char *out_dir;
    int64_t planned_days; /* sales: the last days written to planned_out, sales left empty */
    const char *planned_out;
} args_t;

static void usage(FILE *f) {
    fprintf(f, "usage: mm-datagen sales --stores N --items M --days D [--start YYYY-MM-DD]\n"
               "                        [--seed S] [--intermittent-share 0.15] [--out FILE|-]\n"
               "                        [--planned-days N --planned-out FILE]\n"
               "       mm-datagen maintenance --machines N --days D [--start YYYY-MM-DD]\n"
               "                        [--seed S] --out-dir DIR\n"
               "\n"
               "Deterministic: the same arguments always give the same bytes.\n");
}

static bool arg_int(const char *name, const char *text, int64_t lo, int64_t hi, int64_t *out) {
    int64_t v;
    if (!mm_parse_i64(text, &v) || v < lo || v > hi) {
        fprintf(stderr, "mm-datagen: --%s: must be an integer between %lld and %lld (got \"%s\")\n",
                name, (long long)lo, (long long)hi, text);
        return false;
    }
    *out = v;
    return true;
}

/* @returns 0 ok, 1 bad arguments, 2 help printed. */
static int parse_args(int argc, char **argv, args_t *a) {
    static const struct option opts[] = {
        {"stores", required_argument, NULL, 's'},
        {"items", required_argument, NULL, 'i'},
        {"machines", required_argument, NULL, 'm'},
        {"days", required_argument, NULL, 'd'},
        {"start", required_argument, NULL, 'S'},
        {"seed", required_argument, NULL, 'r'},
        {"intermittent-share", required_argument, NULL, 'p'},
        {"out", required_argument, NULL, 'o'},
        {"out-dir", required_argument, NULL, 'O'},
        {"planned-days", required_argument, NULL, 'P'},
        {"planned-out", required_argument, NULL, 'Q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    a->seed = 42;
    a->intermittent_share = 0.15;
    a->out = "-";
    int c;
    int64_t v;
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!arg_int("stores", optarg, 1, 1000000, &a->stores)) return 1;
            break;
        case 'i':
            if (!arg_int("items", optarg, 1, 1000000, &a->items)) return 1;
            break;
        case 'm':
            if (!arg_int("machines", optarg, 1, 1000000, &a->machines)) return 1;
            break;
        case 'd':
            if (!arg_int("days", optarg, 1, MAX_DAYS, &a->days)) return 1;
            break;
        case 'S':
            if (!parse_date(optarg, &a->start_days)) {
                fprintf(stderr, "mm-datagen: --start: must be a date YYYY-MM-DD (got \"%s\")\n",
                        optarg);
                return 1;
            }
            a->start_set = true;
            break;
        case 'r':
            if (!arg_int("seed", optarg, 0, INT64_MAX, &v)) return 1;
            a->seed = (uint64_t)v;
            break;
        case 'p':
            if (!mm_parse_double(optarg, &a->intermittent_share, false) ||
                a->intermittent_share < 0 || a->intermittent_share > 1) {
                fprintf(stderr,
                        "mm-datagen: --intermittent-share: must be a number between 0 and 1 "
                        "(got \"%s\")\n",
                        optarg);
                return 1;
            }
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'O':
            a->out_dir = optarg;
            break;
        case 'P':
            if (!arg_int("planned-days", optarg, 1, MAX_DAYS, &a->planned_days)) return 1;
            break;
        case 'Q':
            a->planned_out = optarg;
            break;
        case 'h':
            usage(stdout);
            return 2;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mm-datagen: unexpected argument \"%s\"\n", argv[optind]);
        return 1;
    }
    if ((a->planned_days > 0) != (a->planned_out != NULL)) {
        fprintf(stderr, "mm-datagen: --planned-days and --planned-out go together\n");
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------ sales */

typedef struct series {
    bool intermittent;
    double level;     /* mean daily units at day 0 */
    double trend;     /* relative change per day */
    double weekly[7]; /* multiplicative, by day of week (0 = Monday) */
    double yearly_amp;
    double yearly_phase;
    double base_price;
    double elasticity;  /* lift per unit of relative price cut */
    double promo_rate;  /* promotion starts per day */
    double demand_rate; /* intermittent: probability of a non-zero day */
    double demand_size; /* intermittent: mean units on a non-zero day */
} series_t;

static void series_init(series_t *s, rng_t *r, double intermittent_share) {
    static const double week_shape[7] = {0.86, 0.9, 0.94, 1.0, 1.08, 1.25, 1.17};
    s->intermittent = rng_uniform(r) < intermittent_share;
    s->level = exp(rng_range(r, 1.6, 4.2)); /* ~5 to ~65 units per day */
    s->trend = rng_normal(r) * 0.0004;
    double strength = rng_range(r, 0.3, 1.2);
    for (int d = 0; d < 7; d++)
        s->weekly[d] = 1.0 + (week_shape[d] - 1.0) * strength + rng_normal(r) * 0.02;
    s->yearly_amp = rng_range(r, 0.03, 0.25);
    s->yearly_phase = rng_range(r, 0, 2 * M_PI);
    s->base_price = floor(rng_range(r, 0.99, 24.99) * 100 + 0.5) / 100;
    s->elasticity = rng_range(r, 1.2, 3.0);
    s->promo_rate = rng_range(r, 1.0 / 90, 1.0 / 30);
    s->demand_rate = rng_range(r, 0.05, 0.35);
    s->demand_size = rng_range(r, 0.5, 4.0);
}

static int run_sales(const args_t *a) {
    if (!a->stores || !a->items || !a->days) {
        fprintf(stderr, "mm-datagen sales: --stores, --items and --days are required\n");
        return 1;
    }
    if (a->planned_days >= a->days) {
        fprintf(stderr, "mm-datagen sales: --planned-days must be fewer than --days\n");
        return 1;
    }
    int64_t start = a->start_set ? a->start_days : mm_days_from_civil(2024, 1, 1);
    char(*dates)[11] = malloc((size_t)a->days * sizeof(*dates));
    int *dow = malloc((size_t)a->days * sizeof(*dow));
    double *doy = malloc((size_t)a->days * sizeof(*doy));
    if (!dates || !dow || !doy) {
        fprintf(stderr, "mm-datagen: out of memory\n");
        free(dates);
        free(dow);
        free(doy);
        return 1;
    }
    for (int64_t t = 0; t < a->days; t++) {
        int64_t z = start + t;
        format_date(z, dates[t]);
        dow[t] = (int)(((z % 7) + 7 + 3) % 7); /* 1970-01-01 was a Thursday (3) */
        int y, m, d;
        mm_civil_from_days(z, &y, &m, &d);
        doy[t] = (double)(z - mm_days_from_civil(y, 1, 1));
    }

    out_t o = {0}, planned = {0};
    bool with_planned = a->planned_days > 0;
    int64_t first_planned = a->days - a->planned_days;
    if (!out_open(&o, a->out) || (with_planned && !out_open(&planned, a->planned_out))) {
        if (o.buf) out_close(&o);
        free(dates);
        free(dow);
        free(doy);
        return 1;
    }
    out_str(&o, SALES_HEADER);
    if (with_planned) out_str(&planned, SALES_HEADER);
    for (int64_t store = 1; store <= a->stores; store++) {
        for (int64_t item = 1; item <= a->items; item++) {
            rng_t r;
            rng_seed(&r, a->seed, (uint64_t)store, (uint64_t)item);
            series_t s;
            series_init(&s, &r, a->intermittent_share);
            int promo_left = 0;
            double cut = 0;
            for (int64_t t = 0; t < a->days; t++) {
                if (promo_left == 0 && rng_uniform(&r) < s.promo_rate) {
                    promo_left = 3 + (int)(rng_uniform(&r) * 8); /* 3..10 days */
                    cut = rng_range(&r, 0.10, 0.35);
                }
                bool promo = promo_left > 0;
                if (promo_left > 0) promo_left--;
                double price =
                    promo ? floor(s.base_price * (1 - cut) * 100 + 0.5) / 100 : s.base_price;
                double lift = promo ? 1 + s.elasticity * cut : 1;
                int64_t units;
                if (s.intermittent) {
                    double p = s.demand_rate * (promo ? 1.5 : 1.0) * s.weekly[dow[t]];
                    units =
                        rng_uniform(&r) < p ? 1 + rng_poisson(&r, s.demand_size * lift - 0.5) : 0;
                } else {
                    double yearly =
                        1 + s.yearly_amp * sin(2 * M_PI * doy[t] / 365.25 + s.yearly_phase);
                    double trend = exp(s.trend * (double)t);
                    double mean = s.level * trend * s.weekly[dow[t]] * yearly * lift;
                    /* extra-Poisson noise: a gamma-ish day effect */
                    mean *= exp(rng_normal(&r) * 0.08);
                    units = rng_poisson(&r, mean);
                }
                bool is_planned = with_planned && t >= first_planned;
                out_t *w = is_planned ? &planned : &o;
                out_room(w);
                out_i64(w, store);
                out_char(w, ',');
                out_i64(w, item);
                out_char(w, ',');
                out_mem(w, dates[t], 10);
                out_char(w, ',');
                if (!is_planned) out_i64(w, units); /* planned: sales not known yet */
                out_char(w, ',');
                out_fixed(w, price, 2);
                out_char(w, ',');
                out_char(w, promo ? '1' : '0');
                out_char(w, '\n');
            }
            if (o.failed || (with_planned && planned.failed)) break;
        }
        if (o.failed || (with_planned && planned.failed)) break;
    }
    bool ok = out_close(&o);
    if (with_planned) ok = out_close(&planned) && ok;
    free(dates);
    free(dow);
    free(doy);
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------ maintenance */

#define N_COMPONENTS  4
#define DEGRADE_HOURS 48

typedef struct failure {
    int64_t hour; /* hour index from the start */
    int comp;     /* 0..3 -> comp1..comp4 */
} failure_t;

static void out_datetime(out_t *o, const char (*dates)[11], int64_t hour) {
    static const char two[] = "00010203040506070809101112131415161718192021222324";
    out_mem(o, dates[hour / 24], 10);
    out_char(o, ' ');
    out_mem(o, two + 2 * (hour % 24), 2);
    out_str(o, ":00:00");
}

static bool open_in(out_t *o, const char *dir, const char *name, char *path, size_t path_size) {
    if (snprintf(path, path_size, "%s/%s", dir, name) >= (int)path_size) {
        fprintf(stderr, "mm-datagen: %s/%s: path too long\n", dir, name);
        return false;
    }
    return out_open(o, path);
}

static int run_maintenance(const args_t *a) {
    if (!a->machines || !a->days || !a->out_dir) {
        fprintf(stderr, "mm-datagen maintenance: --machines, --days and --out-dir are required\n");
        return 1;
    }
    char errstr[512];
    if (mm_mkdirs(a->out_dir, errstr, sizeof(errstr)) != MM_OK) {
        fprintf(stderr, "mm-datagen: %s\n", errstr);
        return 1;
    }
    int64_t start = a->start_set ? a->start_days : mm_days_from_civil(2015, 1, 1);
    int64_t hours = a->days * 24;
    char(*dates)[11] = malloc((size_t)a->days * sizeof(*dates));
    failure_t *failures = malloc((size_t)(a->days + 1) * sizeof(*failures));
    if (!dates || !failures) {
        fprintf(stderr, "mm-datagen: out of memory\n");
        free(dates);
        free(failures);
        return 1;
    }
    for (int64_t t = 0; t < a->days; t++) format_date(start + t, dates[t]);

    enum { F_MACHINES, F_TELEMETRY, F_ERRORS, F_MAINT, F_FAILURES, F_LABELED, F__COUNT };
    static const char *const names[F__COUNT] = {"machines.csv", "telemetry.csv",
                                                "errors.csv",   "maint.csv",
                                                "failures.csv", "telemetry_labeled.csv"};
    static const char *const headers[F__COUNT] = {
        "machineID,model,age\n",
        "datetime,machineID,volt,rotate,pressure,vibration\n",
        "datetime,machineID,errorID\n",
        "datetime,machineID,comp\n",
        "datetime,machineID,failure\n",
        "datetime,machineID,model,volt,rotate,pressure,vibration,failure\n"};
    static const char *const comps[N_COMPONENTS] = {"comp1", "comp2", "comp3", "comp4"};
    out_t outs[F__COUNT];
    char paths[F__COUNT][4096];
    int opened = 0;
    bool ok = true;
    for (; opened < F__COUNT; opened++) {
        if (!open_in(&outs[opened], a->out_dir, names[opened], paths[opened],
                     sizeof(paths[opened]))) {
            ok = false;
            break;
        }
        out_str(&outs[opened], headers[opened]);
    }

    for (int64_t machine = 1; ok && machine <= a->machines; machine++) {
        rng_t r;
        rng_seed(&r, a->seed, (uint64_t)machine, 0x6d61696e74ull);
        int model = 1 + (int)(rng_uniform(&r) * 4);
        int age = (int)(rng_uniform(&r) * 21);
        out_t *m = &outs[F_MACHINES];
        out_room(m);
        out_i64(m, machine);
        out_str(m, ",model");
        out_i64(m, model);
        out_char(m, ',');
        out_i64(m, age);
        out_char(m, '\n');

        /* Failures: older machines and model 3/4 fail more often. */
        double mtbf_days = rng_range(&r, 60, 200) / (1 + age / 20.0) / (model >= 3 ? 1.3 : 1.0);
        size_t n_fail = 0;
        int64_t h = (int64_t)(-log(1 - rng_uniform(&r)) * mtbf_days * 24);
        while (h < hours && n_fail < (size_t)a->days) {
            if (h >= DEGRADE_HOURS) { /* need the degradation window inside the data */
                failures[n_fail].hour = h - h % 24 + 6; /* failures are logged at 06:00 */
                failures[n_fail].comp = (int)(rng_uniform(&r) * N_COMPONENTS);
                if (failures[n_fail].hour < hours &&
                    (n_fail == 0 || failures[n_fail].hour > failures[n_fail - 1].hour))
                    n_fail++;
            }
            h += 24 * 7 + (int64_t)(-log(1 - rng_uniform(&r)) * mtbf_days * 24);
        }
        /* Scheduled maintenance: each component every ~15 days, at 06:00. */
        int64_t next_maint[N_COMPONENTS];
        for (int c = 0; c < N_COMPONENTS; c++)
            next_maint[c] = 24 * (int64_t)rng_range(&r, 1, 30) + 6;

        double base[4] = {170 + rng_normal(&r) * 3, 446 + rng_normal(&r) * 10,
                          100 + rng_normal(&r) * 2, 40 + rng_normal(&r) * 1};
        static const double sd[4] = {15, 50, 10, 5};
        /* drift at the failure hour, per failing component, in standard deviations */
        static const double drift[N_COMPONENTS][4] = {
            {2.5, 0, 0, 0}, {0, -2.5, 0, 0}, {0, 0, 2.5, 0}, {0, 0, 0, 2.5}};
        size_t fi = 0;
        for (int64_t hr = 0; hr < hours; hr++) {
            while (fi < n_fail && failures[fi].hour < hr) fi++;
            double v[4];
            for (int k = 0; k < 4; k++) v[k] = base[k] + rng_normal(&r) * sd[k];
            bool failing_now = fi < n_fail && failures[fi].hour == hr;
            double error_rate = 0.0012;
            if (fi < n_fail && failures[fi].hour - hr < DEGRADE_HOURS) {
                double frac = 1.0 - (double)(failures[fi].hour - hr) / DEGRADE_HOURS;
                for (int k = 0; k < 4; k++) v[k] += drift[failures[fi].comp][k] * sd[k] * frac;
                error_rate = 0.02 + 0.1 * frac;
            }
            out_t *t = &outs[F_TELEMETRY];
            out_room(t);
            out_datetime(t, (const char(*)[11])dates, hr);
            out_char(t, ',');
            out_i64(t, machine);
            for (int k = 0; k < 4; k++) {
                out_char(t, ',');
                out_fixed(t, v[k], 3);
            }
            out_char(t, '\n');

            out_t *l = &outs[F_LABELED];
            out_room(l);
            out_datetime(l, (const char(*)[11])dates, hr);
            out_char(l, ',');
            out_i64(l, machine);
            out_str(l, ",model");
            out_i64(l, model);
            for (int k = 0; k < 4; k++) {
                out_char(l, ',');
                out_fixed(l, v[k], 3);
            }
            out_str(l, failing_now ? ",1\n" : ",0\n");

            if (rng_uniform(&r) < error_rate) {
                out_t *e = &outs[F_ERRORS];
                out_room(e);
                out_datetime(e, (const char(*)[11])dates, hr);
                out_char(e, ',');
                out_i64(e, machine);
                out_str(e, ",error");
                int err_id = (fi < n_fail && failures[fi].hour - hr < DEGRADE_HOURS)
                                 ? failures[fi].comp + 1
                                 : 1 + (int)(rng_uniform(&r) * 5);
                out_i64(e, err_id);
                out_char(e, '\n');
            }
            if (failing_now) {
                int c = failures[fi].comp;
                out_t *f = &outs[F_FAILURES];
                out_room(f);
                out_datetime(f, (const char(*)[11])dates, hr);
                out_char(f, ',');
                out_i64(f, machine);
                out_char(f, ',');
                out_str(f, comps[c]);
                out_char(f, '\n');
                next_maint[c] = hr; /* a failure is repaired at once: a maint record */
            }
            for (int c = 0; c < N_COMPONENTS; c++) {
                if (next_maint[c] != hr) continue;
                out_t *mt = &outs[F_MAINT];
                out_room(mt);
                out_datetime(mt, (const char(*)[11])dates, hr);
                out_char(mt, ',');
                out_i64(mt, machine);
                out_char(mt, ',');
                out_str(mt, comps[c]);
                out_char(mt, '\n');
                next_maint[c] = hr + 24 * (int64_t)rng_range(&r, 12, 18);
            }
        }
        for (int k = 0; k < F__COUNT; k++) ok = ok && !outs[k].failed;
    }
    for (int k = 0; k < opened; k++) ok = out_close(&outs[k]) && ok;
    free(dates);
    free(failures);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc == 2) return 0;
    if (rc != 0) return 1;
    if (strcmp(argv[1], "sales") == 0) return run_sales(&a);
    if (strcmp(argv[1], "maintenance") == 0) return run_maintenance(&a);
    fprintf(stderr, "mm-datagen: unknown dataset \"%s\" (sales or maintenance)\n", argv[1]);
    usage(stderr);
    return 1;
}
