/*
 * policy.c - the promotion policy (see policy.h): the absolute threshold,
 * the seasonal-naive baseline, then the champion by a relative margin; every
 * check is stated in the reason with the numbers it used.
 *
 * Workload: one verdict per trained model; string formatting dominates.
 */
#include "policy.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

static double metric_find(const mm_metric_t *metrics, size_t n, const char *name) {
    double value = NAN;
    for (size_t i = 0; i < n; i++)
        if (metrics[i].name && name && strcmp(metrics[i].name, name) == 0) value = metrics[i].value;
    return value;
}

static bool metric_present(const mm_metric_t *metrics, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (metrics[i].name && name && strcmp(metrics[i].name, name) == 0) return true;
    return false;
}

static double metrics_json_get(const char *json_text, const char *name) {
    double value = NAN;
    if (!json_text || !name) return value;
    json_t *obj = json_loads(json_text, 0, NULL);
    if (!obj) return value;
    json_t *member = json_object_get(obj, name);
    if (member && json_is_number(member)) value = json_number_value(member);
    json_decref(obj);
    return value;
}

/* Short, readable numbers for reasons: "0.71", "1.00", "0.0123", "1.23e+05". */
static void fmt_num(double v, char *out, size_t out_size) {
    double a = fabs(v);
    if (isnan(v))
        snprintf(out, out_size, "NaN");
    else if (a == 0.0 || (a >= 0.1 && a < 1e5))
        snprintf(out, out_size, "%.2f", v);
    else
        snprintf(out, out_size, "%.3g", v);
}

static const char *op_text(mm_threshold_op_t op) {
    switch (op) {
    case MM_OP_LT:
        return "<";
    case MM_OP_LE:
        return "<=";
    case MM_OP_GT:
        return ">";
    case MM_OP_GE:
        return ">=";
    }
    return "?";
}

static bool op_holds(mm_threshold_op_t op, double a, double b) {
    switch (op) { /* comparisons with NaN are false: a NaN metric never passes */
    case MM_OP_LT:
        return a < b;
    case MM_OP_LE:
        return a <= b;
    case MM_OP_GT:
        return a > b;
    case MM_OP_GE:
        return a >= b;
    }
    return false;
}

static void reason_add(char *reason, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reason_add(char *reason, size_t size, const char *fmt, ...) {
    size_t used = strlen(reason);
    if (used + 1 >= size) return;
    if (used > 0 && reason[used - 1] != ' ') {
        snprintf(reason + used, size - used, "; ");
        used = strlen(reason);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason + used, size - used, fmt, ap);
    va_end(ap);
}

static void verdict_fail(mm_promoter_verdict_t *v, const char *check) {
    if (v->approved) v->failed_check = check;
    v->approved = false;
}

/*
 * Judge a candidate: the absolute threshold, the seasonal-naive baseline,
 * then the champion by the relative margin. Every check is stated in the
 * reason, passed or not, with the numbers it used.
 */
void mm_promoter_policy_judge(const mm_promotion_policy_t *policy, const mm_model_trained_t *rec,
                              const mm_registry_version_t *champion, mm_promoter_verdict_t *v) {
    const char *metric = mm_metric_name(policy->metric);
    bool higher_better = mm_metric_higher_is_better(policy->metric);
    double cand = metric_find(rec->metrics, rec->n_metrics, metric);
    char body[448] = "";
    char c[32], t[32], b[32], h[32];

    v->approved = true;
    v->failed_check = NULL;
    fmt_num(cand, c, sizeof(c));

    if (isnan(cand)) {
        verdict_fail(v, "metric");
        reason_add(body, sizeof(body), "%s is %s", metric,
                   metric_present(rec->metrics, rec->n_metrics, metric) ? "NaN" : "missing");
    }
    if (policy->has_threshold) {
        fmt_num(policy->threshold, t, sizeof(t));
        if (op_holds(policy->op, cand, policy->threshold)) {
            reason_add(body, sizeof(body), "%s %s %s %s", metric, c, op_text(policy->op), t);
        } else {
            verdict_fail(v, "threshold");
            reason_add(body, sizeof(body), "%s %s not %s %s", metric, c, op_text(policy->op), t);
        }
    } else if (!isnan(cand)) {
        reason_add(body, sizeof(body), "%s %s (no threshold)", metric, c);
    }
    if (policy->require_beats_baseline) {
        double base = metric_find(rec->baseline, rec->n_baseline, metric);
        fmt_num(base, b, sizeof(b));
        if (isnan(base)) {
            verdict_fail(v, "baseline");
            reason_add(body, sizeof(body), "no baseline %s to beat", metric);
        } else if (higher_better ? cand > base : cand < base) {
            reason_add(body, sizeof(body), "beats baseline %s", b);
        } else {
            verdict_fail(v, "baseline");
            reason_add(body, sizeof(body), "does not beat baseline %s", b);
        }
    }
    if (champion) {
        double champ = metrics_json_get(champion->metrics, metric);
        double margin_pct = policy->margin * 100.0;
        if (isnan(champ)) {
            reason_add(body, sizeof(body), "champion v%d has no %s", (int)champion->version,
                       metric);
        } else {
            /* Relative to |champ| so a negative metric (bias) moves the right way. */
            double need = higher_better ? champ + fabs(champ) * policy->margin
                                        : champ - fabs(champ) * policy->margin;
            bool beats = higher_better ? cand >= need : cand <= need;
            double gain = higher_better ? cand - champ : champ - cand;
            double gain_pct = champ != 0.0 ? gain / fabs(champ) * 100.0
                                           : (gain > 0   ? INFINITY
                                              : gain < 0 ? -INFINITY
                                                         : 0.0);
            fmt_num(champ, h, sizeof(h));
            if (beats) {
                reason_add(body, sizeof(body), "beats champion v%d %s by %.1f%% (margin %.1f%%)",
                           (int)champion->version, h, gain_pct, margin_pct);
            } else {
                verdict_fail(v, "champion");
                reason_add(body, sizeof(body),
                           "does not beat champion v%d %s by the margin %.1f%% (%.1f%%)",
                           (int)champion->version, h, margin_pct, gain_pct);
            }
        }
    } else {
        reason_add(body, sizeof(body), "no champion yet");
    }
    snprintf(v->reason, sizeof(v->reason), "%s: %s", v->approved ? "approved" : "rejected", body);
}
