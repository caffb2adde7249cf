/*
 * policy.c - the promotion policy (see policy.h): the absolute threshold,
 * the seasonal-naive baseline, then the champion by a relative margin; every
 * check is stated in the reason with the numbers it used. Declared fallbacks
 * are not judged on merit (docs/registry.md, "Policy").
 *
 * Workload: one verdict per trained model; string formatting dominates.
 */
#include "policy.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "mm/model.h"

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
    if (v->status == MM_REGISTRY_STATUS_APPROVED) v->failed_check = check;
    v->status = MM_REGISTRY_STATUS_REJECTED;
}

/* The candidate is the seasonal-naive model the baseline metrics were computed with. */
static bool is_seasonal_naive(const mm_model_trained_t *rec) {
    return rec->algorithm && strcmp(rec->algorithm, mm_algo_name(MM_ALGO_SNAIVE)) == 0;
}

/*
 * Not worse than seasonal naive on the same windows. A seasonal-naive
 * candidate is the baseline: comparing it with itself would reject the
 * very model the gate measures others against.
 */
static void check_baseline(const mm_model_trained_t *rec, const char *metric, bool higher_better,
                           double cand, char *body, size_t body_size, mm_promoter_verdict_t *v) {
    double base = metric_find(rec->baseline, rec->n_baseline, metric);
    char b[32];
    fmt_num(base, b, sizeof(b));
    if (is_seasonal_naive(rec)) {
        reason_add(body, body_size, "is the seasonal-naive baseline");
    } else if (isnan(base)) {
        verdict_fail(v, "baseline");
        reason_add(body, body_size, "no baseline %s to compare with", metric);
    } else if (isnan(cand)) {
        verdict_fail(v, "baseline");
        reason_add(body, body_size, "not comparable with baseline %s", b);
    } else if (higher_better ? cand > base : cand < base) {
        reason_add(body, body_size, "beats baseline %s", b);
    } else if (cand == base) {
        reason_add(body, body_size, "ties baseline %s (not worse)", b);
    } else {
        verdict_fail(v, "baseline");
        reason_add(body, body_size, "worse than baseline %s", b);
    }
}

/* A declared fallback: registered as such, never crowned on its metrics. */
static void judge_fallback(const mm_model_trained_t *rec, const mm_registry_version_t *champion,
                           mm_promoter_verdict_t *v) {
    const char *why =
        rec->fallback_reason && *rec->fallback_reason ? rec->fallback_reason : "no reason given";
    v->status = MM_REGISTRY_STATUS_FALLBACK;
    v->failed_check = NULL;
    if (champion)
        snprintf(v->reason, sizeof(v->reason),
                 "fallback: declared fallback (%s), not judged on merit; champion v%d kept", why,
                 (int)champion->version);
    else
        snprintf(v->reason, sizeof(v->reason),
                 "fallback: declared fallback (%s), not judged on merit; no approved model:"
                 " served as a labelled fallback",
                 why);
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
    char c[32], t[32], h[32];

    if (rec->fallback) {
        judge_fallback(rec, champion, v);
        return;
    }
    v->status = MM_REGISTRY_STATUS_APPROVED;
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
    if (policy->require_beats_baseline)
        check_baseline(rec, metric, higher_better, cand, body, sizeof(body), v);
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
    snprintf(v->reason, sizeof(v->reason), "%s: %s", mm_registry_status_name(v->status), body);
}
