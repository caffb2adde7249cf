/*
 * metrics.c - the Prometheus metrics registry (see metrics.h).
 *
 * Tuned for a few dozen metrics updated once per record batch or request
 * and scraped every few seconds: each metric has its own mutex and a small
 * fixed array of series found by a linear scan, so an update is a lock, a
 * few string compares and an add; nothing is allocated after a series'
 * first update.
 */
#include "mm/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/redact.h"

#define DROPPED_NAME "mm_metrics_series_dropped_total"
#define DROPPED_HELP                                                                               \
    "Metric updates dropped because the metric already had its maximum number of label-value "     \
    "sets, or the label values were unusable."
#define NUM_SIZE 40 /* enough for "%.17g" of any double */

typedef enum metric_kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind_t;

typedef struct series {
    char *values[MM_METRICS_MAX_LABELS]; /* owned */
    double value;                        /* counter, gauge */
    double sum;                          /* histogram */
    uint64_t count;
    uint64_t buckets[MM_METRICS_MAX_BUCKETS]; /* per bucket, not cumulative */
} series_t;

struct mm_metric {
    metric_kind_t kind;
    char *name;
    char *help;
    size_t n_labels;
    char *label_names[MM_METRICS_MAX_LABELS];
    double bounds[MM_METRICS_MAX_BUCKETS];
    size_t n_bounds;
    pthread_mutex_t lock; /* guards series and n_series */
    series_t series[MM_METRICS_MAX_SERIES];
    size_t n_series;
    mm_metric_t *dropped; /* the registry's dropped-updates counter; NULL for itself */
    mm_metric_t *next;
};

struct mm_metrics {
    pthread_mutex_t lock; /* guards the list */
    mm_metric_t *head;
    mm_metric_t *tail;
    mm_metric_t *dropped;
};

static bool valid_name(const char *s, bool colon_ok) {
    if (!s || !*s) return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!(alpha || (i > 0 && digit) || (colon_ok && c == ':'))) return false;
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void metric_free(mm_metric_t *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_series; i++)
        for (size_t j = 0; j < m->n_labels; j++) free(m->series[i].values[j]);
    for (size_t j = 0; j < m->n_labels; j++) free(m->label_names[j]);
    pthread_mutex_destroy(&m->lock);
    free(m->name);
    free(m->help);
    free(m);
}

/* Split "a,b" into m->label_names, checking each name. */
static mm_err_t parse_labels(mm_metric_t *m, const char *labels, char *errstr, size_t errstr_size) {
    if (!labels || !*labels) return MM_OK;
    const char *p = labels;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (m->n_labels == MM_METRICS_MAX_LABELS)
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "metric %s: more than %d labels", m->name, MM_METRICS_MAX_LABELS);
        char *label = strndup(p, len);
        if (!label) return MM_ERR_NOMEM;
        m->label_names[m->n_labels++] = label;
        bool reserved =
            strncmp(label, "__", 2) == 0 || (m->kind == KIND_HISTOGRAM && strcmp(label, "le") == 0);
        if (!valid_name(label, false) || reserved)
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "metric %s: invalid label name '%s'", m->name, label);
        for (size_t j = 0; j + 1 < m->n_labels; j++)
            if (strcmp(m->label_names[j], label) == 0)
                return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                               "metric %s: label '%s' twice", m->name, label);
        if (!comma) return MM_OK;
        p = comma + 1;
    }
}

static mm_metric_t *metric_register(mm_metrics_t *metrics, metric_kind_t kind, const char *name,
                                    const char *help, const char *labels, const double *bounds,
                                    size_t n_bounds, char *errstr, size_t errstr_size) {
    if (!metrics || !help) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "metric: no registry or no help text");
        return NULL;
    }
    if (!valid_name(name, true) || (kind == KIND_COUNTER && !ends_with(name, "_total"))) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "metric name '%s' is not valid%s",
                name ? name : "(null)", kind == KIND_COUNTER ? " (a counter ends in _total)" : "");
        return NULL;
    }
    mm_metric_t *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->kind = kind;
    m->name = strdup(name);
    m->help = strdup(help);
    m->dropped = metrics->dropped;
    if (!m->name || !m->help || parse_labels(m, labels, errstr, errstr_size)) {
        metric_free(m);
        return NULL;
    }
    if (kind == KIND_HISTOGRAM) {
        bool ok = bounds && n_bounds >= 1 && n_bounds <= MM_METRICS_MAX_BUCKETS;
        for (size_t i = 0; ok && i < n_bounds; i++)
            ok = isfinite(bounds[i]) && (i == 0 || bounds[i] > bounds[i - 1]);
        if (!ok) {
            mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                    "metric %s: bounds must be 1..%d finite, strictly increasing values", name,
                    MM_METRICS_MAX_BUCKETS);
            metric_free(m);
            return NULL;
        }
        memcpy(m->bounds, bounds, n_bounds * sizeof(*bounds));
        m->n_bounds = n_bounds;
    }
    if (m->n_labels == 0) m->n_series = 1; /* the one series exists from the start */

    pthread_mutex_lock(&metrics->lock);
    for (mm_metric_t *o = metrics->head; o; o = o->next) {
        if (strcmp(o->name, name) == 0) {
            pthread_mutex_unlock(&metrics->lock);
            mm_errf(MM_ERR_EXISTS, errstr, errstr_size, "metric %s is already registered", name);
            metric_free(m);
            return NULL;
        }
    }
    if (metrics->tail)
        metrics->tail->next = m;
    else
        metrics->head = m;
    metrics->tail = m;
    pthread_mutex_unlock(&metrics->lock);
    return m;
}

mm_metrics_t *mm_metrics_new(void) {
    mm_metrics_t *metrics = calloc(1, sizeof(*metrics));
    if (!metrics) return NULL;
    pthread_mutex_init(&metrics->lock, NULL);
    metrics->dropped =
        metric_register(metrics, KIND_COUNTER, DROPPED_NAME, DROPPED_HELP, NULL, NULL, 0, NULL, 0);
    if (!metrics->dropped) {
        mm_metrics_destroy(metrics);
        return NULL;
    }
    return metrics;
}

void mm_metrics_destroy(mm_metrics_t *metrics) {
    if (!metrics) return;
    mm_metric_t *m = metrics->head;
    while (m) {
        mm_metric_t *next = m->next;
        metric_free(m);
        m = next;
    }
    pthread_mutex_destroy(&metrics->lock);
    free(metrics);
}

mm_metric_t *mm_metrics_counter(mm_metrics_t *metrics, const char *name, const char *help,
                                const char *labels, char *errstr, size_t errstr_size) {
    return metric_register(metrics, KIND_COUNTER, name, help, labels, NULL, 0, errstr, errstr_size);
}

mm_metric_t *mm_metrics_gauge(mm_metrics_t *metrics, const char *name, const char *help,
                              const char *labels, char *errstr, size_t errstr_size) {
    return metric_register(metrics, KIND_GAUGE, name, help, labels, NULL, 0, errstr, errstr_size);
}

mm_metric_t *mm_metrics_histogram(mm_metrics_t *metrics, const char *name, const char *help,
                                  const char *labels, const double *bounds, size_t n_bounds,
                                  char *errstr, size_t errstr_size) {
    return metric_register(metrics, KIND_HISTOGRAM, name, help, labels, bounds, n_bounds, errstr,
                           errstr_size);
}

/* The series for @p values, created on first use; NULL when the values are
 * unusable or the metric has no room for another set. Called with m->lock. */
static series_t *series_find(mm_metric_t *m, const char *const *values) {
    if (m->n_labels == 0) return &m->series[0];
    if (!values) return NULL;
    for (size_t i = 0; i < m->n_series; i++) {
        size_t j = 0;
        while (j < m->n_labels && strcmp(m->series[i].values[j], values[j]) == 0) j++;
        if (j == m->n_labels) return &m->series[i];
    }
    if (m->n_series == MM_METRICS_MAX_SERIES) return NULL;
    for (size_t j = 0; j < m->n_labels; j++)
        if (!values[j] || strlen(values[j]) > MM_METRICS_MAX_LABEL_VALUE) return NULL;
    series_t *s = &m->series[m->n_series];
    memset(s, 0, sizeof(*s));
    for (size_t j = 0; j < m->n_labels; j++) {
        s->values[j] = strdup(values[j]);
        if (!s->values[j]) {
            for (size_t k = 0; k < j; k++) free(s->values[k]);
            return NULL;
        }
    }
    m->n_series++;
    return s;
}

typedef enum update_op { OP_ADD, OP_SET, OP_OBSERVE } update_op_t;

static void metric_update(mm_metric_t *m, const char *const *values, double value, update_op_t op) {
    if (!m) return;
    bool fits = (op == OP_OBSERVE) == (m->kind == KIND_HISTOGRAM) &&
                !(op == OP_SET && m->kind != KIND_GAUGE) &&
                !(m->kind == KIND_COUNTER && !(value >= 0));
    if (!fits) return; /* a misuse by the caller, not a cardinality drop */
    pthread_mutex_lock(&m->lock);
    series_t *s = series_find(m, values);
    if (s) {
        if (op == OP_ADD)
            s->value += value;
        else if (op == OP_SET)
            s->value = value;
        else {
            size_t b = 0;
            while (b < m->n_bounds && value > m->bounds[b]) b++;
            if (b < m->n_bounds) s->buckets[b]++;
            s->sum += value;
            s->count++;
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (!s) metric_update(m->dropped, NULL, 1, OP_ADD);
}

void mm_metric_add(mm_metric_t *metric, const char *const *label_values, double value) {
    metric_update(metric, label_values, value, OP_ADD);
}

void mm_metric_set(mm_metric_t *metric, const char *const *label_values, double value) {
    metric_update(metric, label_values, value, OP_SET);
}

void mm_metric_observe(mm_metric_t *metric, const char *const *label_values, double value) {
    metric_update(metric, label_values, value, OP_OBSERVE);
}

/* Shortest "%g" form that reads back as @p v; Prometheus spellings of the
 * non-finite values. */
static void format_number(double v, char out[NUM_SIZE]) {
    if (isnan(v)) {
        snprintf(out, NUM_SIZE, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, NUM_SIZE, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    snprintf(out, NUM_SIZE, "%.15g", v);
    if (strtod(out, NULL) != v) snprintf(out, NUM_SIZE, "%.17g", v);
}

/* Append @p s escaped: backslash and newline always, the double quote in a
 * label value. */
static mm_err_t append_escaped(mm_buf_t *out, const char *s, bool quote) {
    mm_err_t err = MM_OK;
    for (; *s && !err; s++) {
        if (*s == '\\')
            err = mm_buf_append_str(out, "\\\\");
        else if (*s == '\n')
            err = mm_buf_append_str(out, "\\n");
        else if (quote && *s == '"')
            err = mm_buf_append_str(out, "\\\"");
        else
            err = mm_buf_append(out, s, 1);
    }
    return err;
}

/* "{a="x",le="0.5"}" or nothing when there is no label at all. */
static mm_err_t append_labels(mm_buf_t *out, const mm_metric_t *m, const series_t *s,
                              const char *le) {
    if (m->n_labels == 0 && !le) return MM_OK;
    mm_err_t err = mm_buf_append_str(out, "{");
    for (size_t j = 0; j < m->n_labels && !err; j++) {
        err = mm_buf_appendf(out, "%s%s=\"", j ? "," : "", m->label_names[j]);
        /* A label value is data (a key, a name): redacted like a log line. */
        char *value = err ? NULL : mm_redact(s->values[j]);
        if (!err) err = append_escaped(out, value ? value : MM_REDACTED, true);
        free(value);
        if (!err) err = mm_buf_append_str(out, "\"");
    }
    if (le && !err) err = mm_buf_appendf(out, "%sle=\"%s\"", m->n_labels ? "," : "", le);
    if (!err) err = mm_buf_append_str(out, "}");
    return err;
}

static mm_err_t append_sample(mm_buf_t *out, const mm_metric_t *m, const series_t *s,
                              const char *suffix, const char *le, double v) {
    char num[NUM_SIZE];
    format_number(v, num);
    mm_err_t err = mm_buf_appendf(out, "%s%s", m->name, suffix);
    if (!err) err = append_labels(out, m, s, le);
    if (!err) err = mm_buf_appendf(out, " %s\n", num);
    return err;
}

static mm_err_t render_series(mm_buf_t *out, const mm_metric_t *m, const series_t *s) {
    if (m->kind != KIND_HISTOGRAM) return append_sample(out, m, s, "", NULL, s->value);
    mm_err_t err = MM_OK;
    uint64_t cumulative = 0;
    char le[NUM_SIZE];
    for (size_t b = 0; b < m->n_bounds && !err; b++) {
        cumulative += s->buckets[b];
        format_number(m->bounds[b], le);
        err = append_sample(out, m, s, "_bucket", le, (double)cumulative);
    }
    if (!err) err = append_sample(out, m, s, "_bucket", "+Inf", (double)s->count);
    if (!err) err = append_sample(out, m, s, "_sum", NULL, s->sum);
    if (!err) err = append_sample(out, m, s, "_count", NULL, (double)s->count);
    return err;
}

static mm_err_t render_metric(mm_buf_t *out, mm_metric_t *m) {
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    mm_err_t err = mm_buf_appendf(out, "# HELP %s ", m->name);
    if (!err) err = append_escaped(out, m->help, false);
    if (!err) err = mm_buf_appendf(out, "\n# TYPE %s %s\n", m->name, type_names[m->kind]);
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_series && !err; i++) err = render_series(out, m, &m->series[i]);
    pthread_mutex_unlock(&m->lock);
    return err;
}

mm_err_t mm_metrics_render(mm_metrics_t *metrics, mm_buf_t *out) {
    if (!metrics || !out) return MM_ERR_INVALID_ARG;
    mm_err_t err = MM_OK;
    pthread_mutex_lock(&metrics->lock);
    for (mm_metric_t *m = metrics->head; m && !err; m = m->next) err = render_metric(out, m);
    pthread_mutex_unlock(&metrics->lock);
    return err;
}
