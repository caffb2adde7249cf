/*
 * metrics_job.c - a one-shot job's metrics written for node_exporter's
 * textfile collector and pushed to a Pushgateway (see metrics_job.h).
 *
 * Runs once at the end of a run: one render of a few dozen metrics, one
 * small file, at most one HTTP request; nothing here is on a hot path.
 */
#include "mm/metrics_job.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mm/buf.h"
#include "mm/fs.h"
#include "mm/http.h"
#include "mm/redact.h"
#include "mm/sha256.h"
#include "mm/util.h"

#define RENDER_MAX (4u << 20) /* bytes of one rendering: far above a job's few dozen metrics */

static bool is_set(const char *s) {
    return s && *s;
}

static mm_err_t render(mm_metrics_t *metrics, mm_buf_t *out, char *errstr, size_t errstr_size) {
    mm_buf_init(out, RENDER_MAX);
    mm_err_t err = mm_metrics_render(metrics, out);
    if (err) {
        mm_buf_free(out);
        return mm_errf(err, errstr, errstr_size, "rendering the metrics: %s", mm_err2str(err));
    }
    return MM_OK;
}

mm_err_t mm_metrics_write_file(mm_metrics_t *metrics, const char *path, char *errstr,
                               size_t errstr_size) {
    if (!metrics || !is_set(path))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "metrics file: no path");
    mm_buf_t text;
    mm_err_t err = render(metrics, &text, errstr, errstr_size);
    if (err) return err;
    char why[512];
    err = mm_file_write_atomic(path, text.data ? (const void *)text.data : "", text.len, why,
                               sizeof(why));
    mm_buf_free(&text);
    if (err) return mm_errf(err, errstr, errstr_size, "metrics file %s: %s", path, why);
    return MM_OK;
}

mm_err_t mm_metrics_file_value(const char *path, const char *name, double *value, char *errstr,
                               size_t errstr_size) {
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "%s: no such file", path);
    mm_buf_t text;
    mm_buf_init(&text, MM_METRICS_JOB_FILE_MAX);
    char why[512] = "larger than the limit";
    mm_err_t err = mm_file_read(path, &text, why, sizeof(why));
    if (err == MM_OK) err = mm_buf_append(&text, "", 1); /* a string to scan */
    if (err) {
        mm_buf_free(&text);
        return mm_errf(err, errstr, errstr_size, "metrics file %s: %s", path, why);
    }
    const size_t name_len = strlen(name);
    err = mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "%s: no sample %s", path, name);
    for (char *line = (char *)text.data; line && *line;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        /* "name value" (a sample with labels has '{' after the name, a comment '#' first) */
        if (strncmp(line, name, name_len) == 0 && line[name_len] == ' ') {
            char *end = NULL;
            errno = 0;
            double v = strtod(line + name_len + 1, &end);
            if (end == line + name_len + 1 || errno == ERANGE || (*end && *end != ' ')) {
                err = mm_errf(MM_ERR_PARSE, errstr, errstr_size, "%s: %s: bad value '%s'", path,
                              name, line + name_len + 1);
            } else {
                *value = v;
                err = MM_OK;
            }
            break;
        }
        line = next;
    }
    mm_buf_free(&text);
    return err;
}

/* "/<name>/<value>", or "/<name>@base64/<base64url>" when the value has other characters. */
static mm_err_t append_label(mm_buf_t *url, const char *name, const char *value) {
    bool plain = *value != '\0';
    for (const char *c = value; *c && plain; c++)
        plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                *c == '_' || *c == '.' || *c == '-';
    if (plain) return mm_buf_appendf(url, "/%s/%s", name, value);
    char *b64 = mm_base64_encode((const uint8_t *)value, strlen(value));
    if (!b64) return MM_ERR_NOMEM;
    for (char *c = b64; *c; c++) {
        if (*c == '+') *c = '-';
        if (*c == '/') *c = '_';
    }
    /* An empty value is "=" (the Pushgateway's spelling of base64 ""). */
    mm_err_t err = mm_buf_appendf(url, "/%s@base64/%s", name, *b64 ? b64 : "=");
    free(b64);
    return err;
}

static mm_err_t push_url(mm_buf_t *url, const char *base, const char *job, const char *instance) {
    size_t base_len = strlen(base);
    while (base_len > 0 && base[base_len - 1] == '/') base_len--;
    mm_err_t err = mm_buf_append(url, base, base_len);
    if (!err) err = mm_buf_append_str(url, "/metrics");
    if (!err) err = append_label(url, "job", job);
    if (!err) err = append_label(url, "instance", instance);
    if (!err) err = mm_buf_append(url, "", 1);
    return err;
}

mm_err_t mm_metrics_push(mm_metrics_t *metrics, const char *url, const char *job,
                         const char *instance, bool replace, char *errstr, size_t errstr_size) {
    if (!metrics || !is_set(url) || !is_set(job) || !instance)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "metrics push: URL, job and instance required");
    mm_redact_register_url(url); /* userinfo password, if any, stays out of messages */
    mm_buf_t target;
    mm_buf_init(&target, 8192);
    if (push_url(&target, url, job, instance)) {
        mm_buf_free(&target);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "metrics push: URL too long");
    }
    mm_buf_t body;
    mm_err_t err = render(metrics, &body, errstr, errstr_size);
    if (err) {
        mm_buf_free(&target);
        return err;
    }
    const char *method = replace ? "PUT" : "POST";
    const mm_http_header_t headers[] = {{"Content-Type", MM_METRICS_CONTENT_TYPE}};
    mm_http_request_t req = {.method = method,
                             .url = (const char *)target.data,
                             .headers = headers,
                             .n_headers = MM_ARRAY_SIZE(headers),
                             .body = body.data,
                             .body_len = body.len,
                             .connect_timeout_ms = MM_METRICS_PUSH_CONNECT_MS,
                             .total_timeout_ms = MM_METRICS_PUSH_TIMEOUT_MS,
                             .max_response_bytes = 65536};
    mm_http_response_t resp = {0};
    char why[1024];
    mm_http_t *http = mm_http_new(why, sizeof(why));
    err = http ? mm_http_perform(http, &req, &resp, why, sizeof(why)) : MM_ERR_NOMEM;
    if (err) {
        mm_errf(err, errstr, errstr_size, "metrics push: %s", http ? why : "out of memory");
    } else if (resp.status < 200 || resp.status > 299) {
        int shown = resp.body.len > MM_METRICS_PUSH_ERROR_SHOWN ? MM_METRICS_PUSH_ERROR_SHOWN
                                                                : (int)resp.body.len;
        err = mm_errf(MM_ERR_HTTP, errstr, errstr_size, "metrics push: %s %s: HTTP %ld: %.*s",
                      method, (const char *)target.data, resp.status, shown,
                      resp.body.data ? (const char *)resp.body.data : "");
    }
    if (err && errstr && errstr_size) mm_redact_into(errstr, errstr, errstr_size);
    mm_http_response_clear(&resp);
    mm_http_destroy(http);
    mm_buf_free(&body);
    mm_buf_free(&target);
    return err;
}

/* The last success: now, or on failure the value the previous file holds (none: unset). */
static mm_err_t last_success(mm_metrics_t *metrics, const mm_metrics_job_t *job, char *errstr,
                             size_t errstr_size) {
    if (!is_set(job->last_success_name)) return MM_OK;
    double when = (double)mm_now_ms() / 1000.0;
    if (!job->success) {
        char why[512];
        if (!is_set(job->file) ||
            mm_metrics_file_value(job->file, job->last_success_name, &when, why, sizeof(why)) ||
            !isfinite(when))
            return MM_OK; /* no earlier success known: the metric stays out */
    }
    mm_metric_t *gauge = mm_metrics_gauge(metrics, job->last_success_name,
                                          job->last_success_help ? job->last_success_help : "",
                                          NULL, errstr, errstr_size);
    if (!gauge) return MM_ERR_INVALID_ARG;
    mm_metric_set(gauge, NULL, when);
    return MM_OK;
}

mm_err_t mm_metrics_job_export(mm_metrics_t *metrics, const mm_metrics_job_t *job, char *errstr,
                               size_t errstr_size) {
    if (!metrics || !job)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "metrics export: NULL argument");
    /* On failure the last success is the previous file's, or stays out of both the file and
     * the push (a POST then keeps the Pushgateway's own). */
    mm_err_t first = last_success(metrics, job, errstr, errstr_size);
    if (!first && is_set(job->file))
        first = mm_metrics_write_file(metrics, job->file, errstr, errstr_size);
    if (is_set(job->push_url)) {
        char why[1024];
        mm_err_t err = mm_metrics_push(metrics, job->push_url, job->job, job->instance,
                                       job->success, why, sizeof(why));
        if (err && !first) first = mm_errf(err, errstr, errstr_size, "%s", why);
    }
    return first;
}
