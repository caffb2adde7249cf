/*
 * sink.c - the prediction sink's interface (see sink.h): the sink URL, the
 * choice of backend (sink_sqlite.c, sink_pg.c through sink_int.h), and what
 * both share: a key's answer as its predictions or "no model", and in every
 * case its latest run.
 *
 * Workload: one call per key of a batch run, forwarded to the backend; the
 * cost is the backend's.
 */
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_int.h"

#define SQLITE_SCHEME "sqlite://"

struct mm_scorer_sink {
    const mm_scorer_sink_ops_t *ops;
    mm_scorer_sink_kind_t kind;
    void *impl;
};

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

mm_err_t mm_scorer_sink_parse_url(const char *url, mm_scorer_sink_kind_t *kind,
                                  const char **sqlite_path, char *errstr, size_t errstr_size) {
    *sqlite_path = NULL;
    if (!url || !*url)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "sink: empty URL (expected a path, sqlite://PATH or postgresql://...)");
    if (starts_with(url, "postgresql://") || starts_with(url, "postgres://")) {
        *kind = MM_SCORER_SINK_POSTGRES;
        return MM_OK;
    }
    *kind = MM_SCORER_SINK_SQLITE;
    if (starts_with(url, SQLITE_SCHEME)) {
        *sqlite_path = url + strlen(SQLITE_SCHEME);
        if (!**sqlite_path)
            return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                           "sink: sqlite:// names no file (expected sqlite://PATH)");
        return MM_OK;
    }
    const char *sep = strstr(url, "://");
    if (sep) {
        /* Name only the scheme: the rest may hold a password. */
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "sink: unknown URL scheme '%.*s' (expected a path, sqlite://PATH or "
                       "postgresql://...)",
                       (int)(sep - url > 32 ? 32 : sep - url), url);
    }
    *sqlite_path = url;
    return MM_OK;
}

/* Append @p n bytes of @p s to out[*len], truncating at @p size. */
static void put(char *out, size_t size, size_t *len, const char *s, size_t n) {
    if (*len + 1 >= size) return;
    size_t room = size - 1 - *len;
    if (n > room) n = room;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = 0;
}

void mm_scorer_sink_url_redacted(const char *url, char *out, size_t out_size) {
    if (!out || out_size == 0) return;
    out[0] = 0;
    if (!url) return;
    size_t len = 0;
    const char *p = url;
    const char *scheme_end = strstr(url, "://");
    if (scheme_end) {
        const char *auth = scheme_end + 3;
        size_t auth_len = strcspn(auth, "/?#");
        const char *at = NULL;
        for (size_t i = 0; i < auth_len; i++)
            if (auth[i] == '@') at = auth + i; /* the last '@' ends the userinfo */
        put(out, out_size, &len, url, (size_t)(auth - url));
        p = auth;
        if (at) {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon) {
                put(out, out_size, &len, auth, (size_t)(colon - auth));
                put(out, out_size, &len, ":***", 4);
                p = at;
            }
        }
    }
    /* password=... as a query parameter or a keyword=value conninfo pair. */
    while (*p) {
        const char *hit = strstr(p, "password=");
        bool at_boundary = hit && (hit == url || strchr("?&; \t", hit[-1]) != NULL);
        if (!hit) {
            put(out, out_size, &len, p, strlen(p));
            break;
        }
        size_t head = (size_t)(hit - p) + strlen("password=");
        put(out, out_size, &len, p, head);
        p += head;
        if (!at_boundary) continue;
        put(out, out_size, &len, "***", 3);
        p += strcspn(p, "&#; \t");
    }
}

mm_scorer_sink_t *mm_scorer_sink_open(const char *url, char *errstr, size_t errstr_size) {
    mm_scorer_sink_kind_t kind;
    const char *path = NULL;
    if (mm_scorer_sink_parse_url(url, &kind, &path, errstr, errstr_size)) return NULL;
    mm_scorer_sink_t *sink = calloc(1, sizeof(*sink));
    if (!sink) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "sink: out of memory");
        return NULL;
    }
    sink->kind = kind;
    if (kind == MM_SCORER_SINK_SQLITE) {
        sink->ops = &mm_scorer_sink_sqlite_ops;
        sink->impl = mm_scorer_sink_sqlite_open(path, errstr, errstr_size);
    } else {
        char shown[512];
        mm_scorer_sink_url_redacted(url, shown, sizeof(shown));
        sink->ops = &mm_scorer_sink_pg_ops;
        sink->impl = mm_scorer_sink_pg_open(url, shown, errstr, errstr_size);
    }
    if (!sink->impl) {
        free(sink);
        return NULL;
    }
    return sink;
}

mm_scorer_sink_kind_t mm_scorer_sink_kind(const mm_scorer_sink_t *sink) {
    return sink->kind;
}

void mm_scorer_sink_close(mm_scorer_sink_t *sink) {
    if (!sink) return;
    sink->ops->close(sink->impl);
    free(sink);
}

mm_err_t mm_scorer_sink_begin(mm_scorer_sink_t *sink, char *errstr, size_t errstr_size) {
    return sink->ops->begin(sink->impl, errstr, errstr_size);
}

mm_err_t mm_scorer_sink_commit(mm_scorer_sink_t *sink, char *errstr, size_t errstr_size) {
    return sink->ops->commit(sink->impl, errstr, errstr_size);
}

void mm_scorer_sink_rollback(mm_scorer_sink_t *sink) {
    sink->ops->rollback(sink->impl);
}

mm_err_t mm_scorer_sink_predictions(mm_scorer_sink_t *sink, const mm_prediction_batch_t *p,
                                    char *errstr, size_t errstr_size) {
    return sink->ops->predictions(sink->impl, p, errstr, errstr_size);
}

mm_err_t mm_scorer_sink_no_model(mm_scorer_sink_t *sink, const char *partition_key,
                                 const char *reason, int64_t at_ms, char *errstr,
                                 size_t errstr_size) {
    return sink->ops->no_model(sink->impl, partition_key, reason, at_ms, errstr, errstr_size);
}

mm_err_t mm_scorer_sink_answer(mm_scorer_sink_t *sink, const mm_prediction_batch_t *p, char *errstr,
                               size_t errstr_size) {
    mm_err_t err = MM_OK;
    if (p->status == MM_PREDICTION_OK)
        err = mm_scorer_sink_predictions(sink, p, errstr, errstr_size);
    else if (p->status == MM_PREDICTION_NO_MODEL)
        err = mm_scorer_sink_no_model(sink, p->partition_key, p->message, p->produced_at_ms, errstr,
                                      errstr_size);
    if (err) return err;
    return sink->ops->key_run(sink->impl, p, errstr, errstr_size);
}

mm_err_t mm_scorer_sink_counts(mm_scorer_sink_t *sink, mm_scorer_sink_counts_t *counts,
                               char *errstr, size_t errstr_size) {
    return sink->ops->counts(sink->impl, counts, errstr, errstr_size);
}

mm_err_t mm_scorer_sink_latest(mm_scorer_sink_t *sink, const char *partition_key,
                               mm_scorer_sink_row_cb_t *cb, void *opaque, char *errstr,
                               size_t errstr_size) {
    return sink->ops->latest(sink->impl, partition_key, cb, opaque, errstr, errstr_size);
}
