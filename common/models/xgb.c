/*
 * xgb.c - gradient-boosted trees: fitted with XGBoost's C API (1.7),
 * evaluated natively.
 *
 * Fitting: XGBoost with one thread, a fixed seed and the "hist" tree method,
 * so the same data give the same trees on every run. XGBoost is quiet
 * (verbosity 0): the model library does no I/O, not even through a
 * dependency. Every call goes through XGB_CALL, which copies
 * XGBGetLastError() (thread-local in XGBoost) into errstr at once.
 *
 * Scoring: the trees are read out of XGBoost's binary (UBJSON) model once, after
 * fitting (a scanner that reads only the members it needs), into flat node
 * arrays that the artifact stores in a packed
 * little-endian form. Prediction walks them as XGBoost's CPU predictor
 * does (float features, "value < threshold" goes left, a missing value
 * follows the default direction, leaf values summed in float onto the base
 * margin, the logistic link in float), so predictions equal XGBoost's; but
 * loading an artifact takes microseconds instead of milliseconds, needs no
 * XGBoost runtime in the scorer, and a model is read-only, hence safe to
 * share between threads.
 *
 * Workload: up to a few thousand rows and ~50 features, 100 shallow trees:
 * milliseconds per fit; a recursive forecast predicts one row per step.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xgboost/c_api.h>

#include "models_int.h"

#define XGB_CALL(what, call)                                                                       \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            err = mm_errf(MM_ERR_NUMERIC, errstr, errstr_size, "xgboost: %s: %s", what,            \
                          XGBGetLastError());                                                      \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* Packed form: "MMXT" u32 version u32 n_trees u32 n_features u8 logistic
 * f64 base_margin, then per tree u32 n_nodes, then per node i32 left,
 * i32 right (-1 for a leaf), u32 feature, f32 threshold-or-leaf-value,
 * u8 default_left. */
#define PACK_MAGIC     "MMXT"
#define PACK_VERSION   1u
#define PACK_HEADER    (4 + 4 + 4 + 4 + 1 + 8)
#define PACK_NODE      (4 + 4 + 4 + 4 + 1)
#define MAX_TREES      100000
#define MAX_TREE_NODES (1 << 20)

struct mm_xgb {
    size_t p;
    bool logistic;
    double base_margin;
    size_t n_trees, n_nodes;
    uint32_t *tree_start;  /* n_trees + 1 offsets into the node arrays */
    int32_t *left, *right; /* child node indices within the tree, -1 at leaves */
    uint32_t *feature;
    float *value; /* split threshold, or the leaf value */
    uint8_t *default_left;
    uint8_t *raw; /* the packed form, what artifacts store */
    size_t raw_len;
    /* kept by mm_xgb_fit_resumable for mm_xgb_continue (NULL otherwise) */
    BoosterHandle booster;
    int rounds; /* boosting rounds done */
};

void mm_xgb_free(mm_xgb_t *x) {
    if (!x) return;
    if (x->booster) XGBoosterFree(x->booster);
    free(x->tree_start);
    free(x->left);
    free(x->right);
    free(x->feature);
    free(x->value);
    free(x->default_left);
    free(x->raw);
    free(x);
}

size_t mm_xgb_raw(const mm_xgb_t *x, const uint8_t **raw) {
    *raw = x->raw;
    return x->raw_len;
}

static bool alloc_nodes(mm_xgb_t *x, size_t n_trees, size_t n_nodes) {
    x->n_trees = n_trees;
    x->n_nodes = n_nodes;
    x->tree_start = malloc((n_trees + 1) * sizeof *x->tree_start);
    x->left = malloc((n_nodes + 1) * sizeof *x->left);
    x->right = malloc((n_nodes + 1) * sizeof *x->right);
    x->feature = malloc((n_nodes + 1) * sizeof *x->feature);
    x->value = malloc((n_nodes + 1) * sizeof *x->value);
    x->default_left = malloc(n_nodes + 1);
    return x->tree_start && x->left && x->right && x->feature && x->value && x->default_left;
}

/* Every child index must stay inside its tree and every feature inside the
 * row: checked once, so prediction needs no checks. Children come after
 * their parent in XGBoost's numbering, which also rules out cycles. */
static bool nodes_valid(const mm_xgb_t *x) {
    for (size_t t = 0; t < x->n_trees; t++) {
        uint32_t a = x->tree_start[t], b = x->tree_start[t + 1];
        if (b <= a) return false;
        for (uint32_t i = a; i < b; i++) {
            int32_t l = x->left[i], r = x->right[i];
            bool leaf = l == -1;
            if (leaf != (r == -1)) return false;
            if (!leaf && (l <= (int32_t)(i - a) || r <= (int32_t)(i - a) || (uint32_t)l >= b - a ||
                          (uint32_t)r >= b - a || x->feature[i] >= x->p))
                return false;
            if (!isfinite(x->value[i])) return false;
        }
    }
    return isfinite(x->base_margin);
}

/*
 * Reading XGBoost's model in its binary form (UBJSON, "ubj"): a reader that
 * walks to the few members it needs and skips everything else, without
 * building a document. The tree arrays are typed arrays there (big-endian
 * int32 children and features, float32 thresholds and leaf values, uint8
 * default directions), so no number goes through text: the JSON model cost
 * a float-to-text conversion in XGBoost and a text-to-float one here for
 * every node (bench/models/RESULTS.md). Anything malformed where it is read
 * is refused.
 */
typedef struct ubj {
    const uint8_t *p, *end;
} ubj_t;

#define UBJ_MAX_DEPTH 64

static bool u_peek(const ubj_t *s, uint8_t c) {
    return s->p < s->end && *s->p == c;
}

static bool u_eat(ubj_t *s, uint8_t c) {
    if (!u_peek(s, c)) return false;
    s->p++;
    return true;
}

/* Bytes of a scalar's payload after its marker; SIZE_MAX: not a fixed-size scalar. */
static size_t u_scalar_size(uint8_t m) {
    switch (m) {
    case 'Z':
    case 'N':
    case 'T':
    case 'F':
        return 0;
    case 'i':
    case 'U':
    case 'C':
        return 1;
    case 'I':
        return 2;
    case 'l':
    case 'd':
        return 4;
    case 'L':
    case 'D':
        return 8;
    default:
        return SIZE_MAX;
    }
}

static uint64_t u_be(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* The fixed-size scalar of type @p m at @p p, as a double. */
static double u_scalar_at(uint8_t m, const uint8_t *p) {
    switch (m) {
    case 'i':
        return (double)(int8_t)p[0];
    case 'U':
    case 'C':
        return (double)p[0];
    case 'I':
        return (double)(int16_t)u_be(p, 2);
    case 'l':
        return (double)(int32_t)u_be(p, 4);
    case 'L':
        return (double)(int64_t)u_be(p, 8);
    case 'd': {
        uint32_t b = (uint32_t)u_be(p, 4);
        float f;
        memcpy(&f, &b, sizeof f);
        return (double)f;
    }
    case 'D': {
        uint64_t b = u_be(p, 8);
        double d;
        memcpy(&d, &b, sizeof d);
        return d;
    }
    case 'T':
        return 1;
    default:
        return 0; /* 'F' */
    }
}

/* A length or count: an integer with its own marker, >= 0. */
static bool u_count(ubj_t *s, size_t *n) {
    if (s->p >= s->end) return false;
    uint8_t m = *s->p++;
    size_t sz = u_scalar_size(m);
    if (sz == SIZE_MAX || sz == 0 || m == 'd' || m == 'D' || m == 'C' ||
        (size_t)(s->end - s->p) < sz)
        return false;
    double v = u_scalar_at(m, s->p);
    s->p += sz;
    if (v < 0 || v >= 0x1p63) return false;
    *n = (size_t)v;
    return true;
}

/* A container's optional "$type" and "#count" after its '[' or '{'. */
typedef struct u_head {
    uint8_t type; /* 0: each element has its own marker */
    bool counted;
    size_t count;
} u_head_t;

static bool u_header(ubj_t *s, u_head_t *h) {
    memset(h, 0, sizeof *h);
    if (u_eat(s, '$')) {
        if (s->p >= s->end) return false;
        h->type = *s->p++;
        if (u_scalar_size(h->type) == SIZE_MAX || !u_peek(s, '#')) return false;
    }
    if (u_eat(s, '#')) {
        h->counted = true;
        if (!u_count(s, &h->count)) return false;
        /* every element takes at least a byte, unless of a zero-size type */
        return (h->type && u_scalar_size(h->type) == 0) || h->count <= (size_t)(s->end - s->p);
    }
    return true;
}

/* A string's bytes (an object key has no 'S' marker: @p marked false). */
static bool u_string(ubj_t *s, bool marked, const uint8_t **a, size_t *len) {
    if (marked && !u_eat(s, 'S')) return false;
    if (!u_count(s, len) || *len > (size_t)(s->end - s->p)) return false;
    *a = s->p;
    s->p += *len;
    return true;
}

static bool u_skip(ubj_t *s, int depth);

/* The elements (or key-value pairs) of the container whose header was read. */
static bool u_skip_items(ubj_t *s, const u_head_t *h, bool object, int depth) {
    if (h->type) { /* typed: fixed-size payloads, each after its key in an object */
        size_t sz = u_scalar_size(h->type);
        if (!object) {
            if (sz && h->count > (size_t)(s->end - s->p) / sz) return false;
            s->p += h->count * sz;
            return true;
        }
        for (size_t i = 0; i < h->count; i++) {
            const uint8_t *k;
            size_t kl;
            if (!u_string(s, false, &k, &kl) || (size_t)(s->end - s->p) < sz) return false;
            s->p += sz;
        }
        return true;
    }
    for (size_t i = 0; h->counted ? i < h->count : !u_eat(s, object ? '}' : ']'); i++) {
        const uint8_t *k;
        size_t kl;
        if ((object && !u_string(s, false, &k, &kl)) || !u_skip(s, depth + 1)) return false;
    }
    return true;
}

/* Past the value whose marker is at s->p. */
static bool u_skip(ubj_t *s, int depth) {
    if (s->p >= s->end || depth > UBJ_MAX_DEPTH) return false;
    uint8_t m = *s->p++;
    if (m == 'S' || m == 'H') { /* a string, or a number as text */
        size_t len;
        if (!u_count(s, &len) || len > (size_t)(s->end - s->p)) return false;
        s->p += len;
        return true;
    }
    if (m == '[' || m == '{') {
        u_head_t h;
        return u_header(s, &h) && u_skip_items(s, &h, m == '{', depth);
    }
    size_t sz = u_scalar_size(m);
    if (sz == SIZE_MAX || (size_t)(s->end - s->p) < sz) return false;
    s->p += sz;
    return true;
}

/* Within the object whose marker is at s->p, move to the marker of the
 * value of @p key. */
static bool u_member(ubj_t *s, const char *key) {
    ubj_t t = *s;
    u_head_t h;
    if (!u_eat(&t, '{') || !u_header(&t, &h) || h.type) return false;
    size_t klen = strlen(key);
    for (size_t i = 0; h.counted ? i < h.count : !u_eat(&t, '}'); i++) {
        const uint8_t *k;
        size_t kl;
        if (!u_string(&t, false, &k, &kl)) return false;
        if (kl == klen && memcmp(k, key, klen) == 0) {
            s->p = t.p;
            return true;
        }
        if (!u_skip(&t, 1)) return false;
    }
    return false;
}

static bool u_path(ubj_t *s, const char *const *keys) {
    for (; *keys; keys++)
        if (!u_member(s, *keys)) return false;
    return true;
}

/* A typed array of fixed-size numbers (where its data is), moving past it. */
typedef struct u_array {
    uint8_t type;
    size_t n;
    const uint8_t *data;
} u_array_t;

static bool u_typed_array(ubj_t *s, u_array_t *a) {
    u_head_t h;
    if (!u_eat(s, '[') || !u_header(s, &h) || !h.type) return false;
    size_t sz = u_scalar_size(h.type);
    if (sz == 0 || h.count > (size_t)(s->end - s->p) / sz) return false;
    a->type = h.type;
    a->n = h.count;
    a->data = s->p;
    s->p += h.count * sz;
    return true;
}

/* The arrays of a tree the model needs, in the order the nodes are filled. */
enum { T_LEFT, T_RIGHT, T_FEATURE, T_VALUE, T_DEFAULT, T__COUNT };
static const char *const k_tree_arrays[T__COUNT] = {
    "left_children", "right_children", "split_indices", "split_conditions", "default_left"};

typedef struct tree_pos {
    u_array_t at[T__COUNT];
    size_t n; /* nodes: every array has this many values */
} tree_pos_t;

/* One pass over the tree object at s->p (moving past it): where its arrays
 * are and that they agree in length. */
static bool u_tree(ubj_t *s, tree_pos_t *tp) {
    bool seen[T__COUNT] = {false};
    u_head_t h;
    if (!u_eat(s, '{') || !u_header(s, &h) || h.type) return false;
    for (size_t i = 0; h.counted ? i < h.count : !u_eat(s, '}'); i++) {
        const uint8_t *k;
        size_t kl;
        if (!u_string(s, false, &k, &kl)) return false;
        int which = -1;
        for (int c = 0; c < T__COUNT; c++)
            if (kl == strlen(k_tree_arrays[c]) && memcmp(k, k_tree_arrays[c], kl) == 0) which = c;
        if (which < 0 || seen[which]) {
            if (!u_skip(s, 1)) return false;
            continue;
        }
        if (!u_typed_array(s, &tp->at[which])) return false;
        seen[which] = true;
    }
    tp->n = tp->at[T_LEFT].n;
    for (int c = 0; c < T__COUNT; c++)
        if (!seen[c] || tp->at[c].n != tp->n) return false;
    return true;
}

typedef void (*put_fn)(mm_xgb_t *x, size_t at, double v);

static void put_left(mm_xgb_t *x, size_t at, double v) {
    x->left[at] = (int32_t)v;
}
static void put_right(mm_xgb_t *x, size_t at, double v) {
    x->right[at] = (int32_t)v;
}
static void put_feature(mm_xgb_t *x, size_t at, double v) {
    x->feature[at] = v >= 0 && v < (double)UINT32_MAX ? (uint32_t)v : UINT32_MAX;
}
static void put_value(mm_xgb_t *x, size_t at, double v) {
    x->value[at] = (float)v;
}
static void put_default_left(mm_xgb_t *x, size_t at, double v) {
    x->default_left[at] = v != 0;
}

/* base_score: a number written as a string. */
static bool u_base_score(ubj_t s, double *v) {
    static const char *const k_base[] = {"learner", "learner_model_param", "base_score", NULL};
    const uint8_t *a;
    size_t len;
    char num[64];
    if (!u_path(&s, k_base) || !u_string(&s, true, &a, &len) || len == 0 || len >= sizeof num)
        return false;
    memcpy(num, a, len);
    num[len] = '\0';
    char *end = NULL;
    *v = strtod(num, &end);
    return end == num + len && isfinite(*v);
}

static mm_err_t trees_from_ubj(mm_xgb_t *x, const uint8_t *raw, size_t len, bool logistic,
                               char *errstr, size_t errstr_size) {
    static const char *const k_trees[] = {"learner", "gradient_booster", "model", "trees", NULL};
    ubj_t root = {.p = raw, .end = raw + len}, tr = root;
    double base_score;
    u_head_t h;
    if (!u_base_score(root, &base_score) || !u_path(&tr, k_trees) || !u_eat(&tr, '[') ||
        !u_header(&tr, &h) || h.type)
        return mm_errf(MM_ERR_NUMERIC, errstr, errstr_size, "xgboost: unexpected model layout");
    /* first pass: where each tree's arrays are and how many nodes it has */
    tree_pos_t *trees = NULL;
    size_t n_trees = 0, cap = 0, n_nodes = 0;
    mm_err_t err = MM_OK;
    while (h.counted ? n_trees < h.count : !u_eat(&tr, ']')) {
        if (n_trees == MAX_TREES) {
            err = mm_errf(MM_ERR_NUMERIC, errstr, errstr_size, "xgboost: over %d trees", MAX_TREES);
            goto done;
        }
        if (n_trees == cap) {
            cap = cap ? 2 * cap : 128;
            tree_pos_t *grown = realloc(trees, cap * sizeof *trees);
            if (!grown) {
                err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "xgboost: out of memory");
                goto done;
            }
            trees = grown;
        }
        tree_pos_t *tp = &trees[n_trees];
        if (!u_tree(&tr, tp) || tp->n == 0 || tp->n > MAX_TREE_NODES) {
            err = mm_errf(MM_ERR_NUMERIC, errstr, errstr_size, "xgboost: tree %zu malformed",
                          n_trees);
            goto done;
        }
        n_nodes += tp->n;
        n_trees++;
    }
    x->logistic = logistic;
    /* binary:logistic keeps base_score as a probability; the margin is its logit */
    x->base_margin = logistic ? log(base_score / (1.0 - base_score)) : base_score;
    if (!alloc_nodes(x, n_trees, n_nodes)) {
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "xgboost: out of memory");
        goto done;
    }
    static const put_fn k_put[T__COUNT] = {put_left, put_right, put_feature, put_value,
                                           put_default_left};
    size_t k = 0;
    for (size_t t = 0; t < n_trees; t++) {
        size_t m = trees[t].n;
        x->tree_start[t] = (uint32_t)k;
        for (int c = 0; c < T__COUNT; c++) {
            const u_array_t *a = &trees[t].at[c];
            size_t sz = u_scalar_size(a->type);
            for (size_t i = 0; i < m; i++)
                k_put[c](x, k + i, u_scalar_at(a->type, a->data + i * sz));
        }
        for (size_t i = 0; i < m; i++)
            if (x->left[k + i] == -1) x->feature[k + i] = 0; /* unused at a leaf */
        k += m;
    }
    x->tree_start[n_trees] = (uint32_t)k;
    if (!nodes_valid(x))
        err = mm_errf(MM_ERR_NUMERIC, errstr, errstr_size, "xgboost: the model has invalid trees");
done:
    free(trees);
    return err;
}

static float *to_float(const double *X, size_t n, size_t p) {
    float *f = malloc((n * p + 1) * sizeof(float));
    if (!f) return NULL;
    for (size_t i = 0; i < n * p; i++) f[i] = isnan(X[i]) ? NAN : (float)X[i];
    return f;
}

static mm_err_t set_param(BoosterHandle b, const char *k, const char *v, char *errstr,
                          size_t errstr_size) {
    if (XGBoosterSetParam(b, k, v) != 0)
        return mm_errf(MM_ERR_NUMERIC, errstr, errstr_size, "xgboost: set %s=%s: %s", k, v,
                       XGBGetLastError());
    return MM_OK;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static mm_err_t pack(mm_xgb_t *x, char *errstr, size_t errstr_size) {
    size_t len = PACK_HEADER + 4 * x->n_trees + PACK_NODE * x->n_nodes;
    uint8_t *b = malloc(len);
    if (!b) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "xgboost: out of memory");
    memcpy(b, PACK_MAGIC, 4);
    put32(b + 4, PACK_VERSION);
    put32(b + 8, (uint32_t)x->n_trees);
    put32(b + 12, (uint32_t)x->p);
    b[16] = x->logistic;
    uint64_t bits;
    memcpy(&bits, &x->base_margin, 8);
    for (int i = 0; i < 8; i++) b[17 + i] = (uint8_t)(bits >> (8 * i));
    uint8_t *q = b + PACK_HEADER;
    for (size_t t = 0; t < x->n_trees; t++, q += 4)
        put32(q, x->tree_start[t + 1] - x->tree_start[t]);
    for (size_t i = 0; i < x->n_nodes; i++, q += PACK_NODE) {
        uint32_t vb;
        memcpy(&vb, &x->value[i], 4);
        put32(q, (uint32_t)x->left[i]);
        put32(q + 4, (uint32_t)x->right[i]);
        put32(q + 8, x->feature[i]);
        put32(q + 12, vb);
        q[16] = x->default_left[i];
    }
    x->raw = b;
    x->raw_len = len;
    return MM_OK;
}

static mm_err_t set_params(BoosterHandle booster, const mm_model_config_t *cfg, bool classify,
                           double scale_pos_weight, double ymean, char *errstr,
                           size_t errstr_size) {
    mm_err_t err;
    char buf[64];
    const char *params[][2] = {
        {"verbosity", "0"},
        {"nthread", "1"},
        {"seed", "0"},
        {"tree_method", "hist"},
        {"objective", classify ? "binary:logistic" : "reg:squarederror"},
    };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if ((err = set_param(booster, params[i][0], params[i][1], errstr, errstr_size))) return err;
    snprintf(buf, sizeof buf, "%d", cfg->xgb_max_bin > 0 ? cfg->xgb_max_bin : 256);
    if ((err = set_param(booster, "max_bin", buf, errstr, errstr_size))) return err;
    snprintf(buf, sizeof buf, "%d", cfg->xgb_max_depth);
    if ((err = set_param(booster, "max_depth", buf, errstr, errstr_size))) return err;
    snprintf(buf, sizeof buf, "%.17g", cfg->xgb_eta);
    if ((err = set_param(booster, "eta", buf, errstr, errstr_size))) return err;
    if (cfg->xgb_colsample > 0 && cfg->xgb_colsample < 1) {
        snprintf(buf, sizeof buf, "%.17g", cfg->xgb_colsample);
        if ((err = set_param(booster, "colsample_bynode", buf, errstr, errstr_size))) return err;
    }
    if (classify) {
        snprintf(buf, sizeof buf, "%.17g", scale_pos_weight > 0 ? scale_pos_weight : 1.0);
        return set_param(booster, "scale_pos_weight", buf, errstr, errstr_size);
    }
    /* start from the mean so 100 rounds need not climb from 0.5 */
    snprintf(buf, sizeof buf, "%.17g", (double)(float)ymean);
    return set_param(booster, "base_score", buf, errstr, errstr_size);
}

/* @p x: the trees of @p a then those of @p b (same features and base margin). */
static mm_err_t append_trees(mm_xgb_t *x, const mm_xgb_t *a, const mm_xgb_t *b, char *errstr,
                             size_t errstr_size) {
    if (a->p != b->p || a->logistic != b->logistic || a->base_margin != b->base_margin)
        return mm_errf(MM_ERR_NUMERIC, errstr, errstr_size,
                       "xgboost: continued trees do not match the earlier ones");
    if (!alloc_nodes(x, a->n_trees + b->n_trees, a->n_nodes + b->n_nodes))
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "xgboost: out of memory");
    x->p = a->p;
    x->logistic = a->logistic;
    x->base_margin = a->base_margin;
    memcpy(x->tree_start, a->tree_start, a->n_trees * sizeof *x->tree_start);
    for (size_t t = 0; t <= b->n_trees; t++)
        x->tree_start[a->n_trees + t] = (uint32_t)a->n_nodes + b->tree_start[t];
    const mm_xgb_t *parts[2] = {a, b};
    for (size_t k = 0, at = 0; k < 2; at += parts[k]->n_nodes, k++) {
        const mm_xgb_t *q = parts[k];
        memcpy(x->left + at, q->left, q->n_nodes * sizeof *x->left);
        memcpy(x->right + at, q->right, q->n_nodes * sizeof *x->right);
        memcpy(x->feature + at, q->feature, q->n_nodes * sizeof *x->feature);
        memcpy(x->value + at, q->value, q->n_nodes * sizeof *x->value);
        memcpy(x->default_left + at, q->default_left, q->n_nodes);
    }
    return MM_OK;
}

/* Boost @p rounds rounds on the rows: on a new booster (@p *from NULL), or
 * on the one @p *from holds (taken: *from is set to NULL), which then adds
 * trees to those it has (@p before: the trees read from it so far). The
 * booster is kept in the result when @p keep. */
static mm_err_t boost(const mm_model_config_t *cfg, const double *X, const double *y,
                      const double *w, size_t n, size_t p, bool classify, double scale_pos_weight,
                      BoosterHandle *from, const mm_xgb_t *before, int rounds_done, int rounds,
                      bool keep, mm_xgb_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    BoosterHandle slice = NULL;
    mm_xgb_t *added = NULL;
    if (n < 2 || p == 0)
        return mm_errf(MM_ERR_INSUFFICIENT_DATA, errstr, errstr_size,
                       "xgboost: %zu rows x %zu features", n, p);
    mm_err_t err = MM_OK;
    DMatrixHandle dm = NULL;
    BoosterHandle booster = NULL;
    mm_xgb_t *x = calloc(1, sizeof *x);
    float *fx = to_float(X, n, p);
    float *fy = malloc(n * sizeof(float));
    float *fw = w ? malloc(n * sizeof(float)) : NULL;
    if (!x || !fx || !fy || (w && !fw)) {
        err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "xgboost: out of memory");
        goto fail;
    }
    double ymean = 0;
    for (size_t i = 0; i < n; i++) {
        fy[i] = (float)y[i];
        ymean += y[i];
        if (fw) fw[i] = (float)w[i];
    }
    ymean /= (double)n;
    x->p = p;
    XGB_CALL("create matrix", XGDMatrixCreateFromMat(fx, (bst_ulong)n, (bst_ulong)p, NAN, &dm));
    XGB_CALL("set labels", XGDMatrixSetFloatInfo(dm, "label", fy, (bst_ulong)n));
    if (fw) XGB_CALL("set weights", XGDMatrixSetFloatInfo(dm, "weight", fw, (bst_ulong)n));
    if (*from) {
        booster = *from; /* its parameters and trees carry over */
        *from = NULL;
    } else {
        XGB_CALL("create booster", XGBoosterCreate(&dm, 1, &booster));
        err = set_params(booster, cfg, classify, scale_pos_weight, ymean, errstr, errstr_size);
        if (err) goto fail;
    }
    for (int it = rounds_done; it < rounds_done + rounds; it++)
        XGB_CALL("update", XGBoosterUpdateOneIter(booster, it, dm));
    x->rounds = rounds_done + rounds;
    bst_ulong len = 0;
    const char *raw = NULL;
    if (before) {
        /* only the new rounds' trees are read (the model grows with every
         * tree); the earlier ones are @p before's */
        XGB_CALL("slice", XGBoosterSlice(booster, rounds_done, rounds_done + rounds, 1, &slice));
        XGB_CALL("save model",
                 XGBoosterSaveModelToBuffer(slice, "{\"format\": \"ubj\"}", &len, &raw));
        added = calloc(1, sizeof *added);
        if (!added) {
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "xgboost: out of memory");
            goto fail;
        }
        added->p = p;
        if ((err = trees_from_ubj(added, (const uint8_t *)raw, (size_t)len, classify, errstr,
                                  errstr_size)))
            goto fail;
        if ((err = append_trees(x, before, added, errstr, errstr_size))) goto fail;
        XGBoosterFree(slice);
        slice = NULL;
        mm_xgb_free(added);
        added = NULL;
    } else {
        XGB_CALL("save model",
                 XGBoosterSaveModelToBuffer(booster, "{\"format\": \"ubj\"}", &len, &raw));
        if ((err = trees_from_ubj(x, (const uint8_t *)raw, (size_t)len, classify, errstr,
                                  errstr_size)))
            goto fail;
    }
    if ((err = pack(x, errstr, errstr_size))) goto fail;
    if (keep)
        x->booster = booster;
    else
        XGBoosterFree(booster);
    XGDMatrixFree(dm);
    free(fx);
    free(fy);
    free(fw);
    *out = x;
    return MM_OK;
fail:
    if (slice) XGBoosterFree(slice);
    mm_xgb_free(added);
    if (booster) XGBoosterFree(booster);
    if (dm) XGDMatrixFree(dm);
    free(fx);
    free(fy);
    free(fw);
    mm_xgb_free(x);
    return err;
}

mm_err_t mm_xgb_fit(const mm_model_config_t *cfg, const double *X, const double *y, const double *w,
                    size_t n, size_t p, bool classify, double scale_pos_weight, mm_xgb_t **out,
                    char *errstr, size_t errstr_size) {
    BoosterHandle none = NULL;
    return boost(cfg, X, y, w, n, p, classify, scale_pos_weight, &none, NULL, 0, cfg->xgb_rounds,
                 false, out, errstr, errstr_size);
}

mm_err_t mm_xgb_fit_resumable(const mm_model_config_t *cfg, const double *X, const double *y,
                              size_t n, size_t p, mm_xgb_t **out, char *errstr,
                              size_t errstr_size) {
    BoosterHandle none = NULL;
    return boost(cfg, X, y, NULL, n, p, false, 0, &none, NULL, 0, cfg->xgb_rounds, true, out,
                 errstr, errstr_size);
}

mm_err_t mm_xgb_continue(const mm_model_config_t *cfg, mm_xgb_t *prev, const double *X,
                         const double *y, size_t n, size_t p, int rounds, mm_xgb_t **out,
                         char *errstr, size_t errstr_size) {
    *out = NULL;
    if (!prev->booster || prev->p != p || prev->logistic)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "xgboost: no resumable regression booster of %zu features to continue", p);
    BoosterHandle from = prev->booster;
    prev->booster = NULL;
    mm_err_t err = boost(cfg, X, y, NULL, n, p, false, 0, &from, prev, prev->rounds, rounds, true,
                         out, errstr, errstr_size);
    if (from) XGBoosterFree(from); /* not taken: failed before boosting */
    return err;
}

void mm_xgb_drop_booster(mm_xgb_t *x) {
    if (x && x->booster) {
        XGBoosterFree(x->booster);
        x->booster = NULL;
    }
}

mm_err_t mm_models__xgb_from_ubj(const uint8_t *ubj, size_t len, size_t p, bool logistic,
                                 mm_xgb_t **out, char *errstr, size_t errstr_size) {
    *out = NULL;
    mm_xgb_t *x = calloc(1, sizeof *x);
    if (!x) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "xgboost: out of memory");
    x->p = p;
    mm_err_t err = trees_from_ubj(x, ubj, len, logistic, errstr, errstr_size);
    if (!err) err = pack(x, errstr, errstr_size);
    if (err) {
        mm_xgb_free(x);
        return err;
    }
    *out = x;
    return MM_OK;
}

mm_err_t mm_xgb_load(const uint8_t *raw, size_t len, size_t p, mm_xgb_t **out, char *errstr,
                     size_t errstr_size) {
    *out = NULL;
    if (len < PACK_HEADER || memcmp(raw, PACK_MAGIC, 4) != 0)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: tree model header");
    if (get32(raw + 4) != PACK_VERSION)
        return mm_errf(MM_ERR_UNSUPPORTED, errstr, errstr_size,
                       "artifact: tree model version %u is not supported",
                       (unsigned)get32(raw + 4));
    size_t n_trees = get32(raw + 8), n_feat = get32(raw + 12);
    if (n_feat != p)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                       "artifact: tree model has %zu features, the config gives %zu", n_feat, p);
    if (n_trees > MAX_TREES || n_trees > (len - PACK_HEADER) / 4)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: tree count %zu", n_trees);
    size_t n_nodes = 0;
    const uint8_t *q = raw + PACK_HEADER;
    for (size_t t = 0; t < n_trees; t++) n_nodes += get32(q + 4 * t);
    if (n_nodes > (len - PACK_HEADER - 4 * n_trees) / PACK_NODE ||
        PACK_HEADER + 4 * n_trees + PACK_NODE * n_nodes != len)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: tree model length");
    mm_xgb_t *x = calloc(1, sizeof *x);
    if (!x || !alloc_nodes(x, n_trees, n_nodes) || !(x->raw = malloc(len))) {
        mm_xgb_free(x);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "xgboost: out of memory");
    }
    memcpy(x->raw, raw, len);
    x->raw_len = len;
    x->p = p;
    x->logistic = raw[16] != 0;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits |= (uint64_t)raw[17 + i] << (8 * i);
    memcpy(&x->base_margin, &bits, 8);
    uint32_t k = 0;
    for (size_t t = 0; t < n_trees; t++) {
        x->tree_start[t] = k;
        k += get32(q + 4 * t);
    }
    x->tree_start[n_trees] = k;
    q += 4 * n_trees;
    for (size_t i = 0; i < n_nodes; i++, q += PACK_NODE) {
        uint32_t vb = get32(q + 12);
        x->left[i] = (int32_t)get32(q);
        x->right[i] = (int32_t)get32(q + 4);
        x->feature[i] = get32(q + 8);
        memcpy(&x->value[i], &vb, 4);
        x->default_left[i] = q[16] != 0;
    }
    if (!nodes_valid(x)) {
        mm_xgb_free(x);
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "artifact: tree model has invalid nodes");
    }
    *out = x;
    return MM_OK;
}

mm_err_t mm_xgb_predict(const mm_xgb_t *x, const double *X, size_t n, double *out, char *errstr,
                        size_t errstr_size) {
    (void)errstr;
    (void)errstr_size;
    for (size_t r = 0; r < n; r++) {
        const double *row = X + r * x->p;
        float margin = (float)x->base_margin;
        for (size_t t = 0; t < x->n_trees; t++) {
            uint32_t base = x->tree_start[t], i = 0;
            while (x->left[base + i] != -1) {
                uint32_t node = base + i;
                double v = row[x->feature[node]];
                bool go_left = isnan(v) ? x->default_left[node] : (float)v < x->value[node];
                i = (uint32_t)(go_left ? x->left[node] : x->right[node]);
            }
            margin += x->value[base + i];
        }
        out[r] = x->logistic ? (double)(1.0f / (1.0f + expf(-margin))) : (double)margin;
    }
    return MM_OK;
}
