/*
 * watch.c - mm-ingest watch (watch.h): the passes over a folder and a blob
 * prefix, the ready rule, each file's load and what happens to the file
 * afterwards. The durable record is the manifest (manifest.c); what this file
 * keeps in memory (the previous pass's size and mtime of each folder file)
 * only delays a file by one pass after a restart.
 */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "manifest.h"
#include "mm/clock.h"
#include "mm/fs.h"
#include "mm/hashmap.h"
#include "mm/log.h"
#include "mm/sha256.h"

#define WATCH_MAX_FILES     100000 /* names one pass considers per source */
#define WATCH_READ_CHUNK    65536
#define WATCH_RETRY_BASE_MS 1000  /* backoff between passes that retry a file ... */
#define WATCH_RETRY_CAP_MS  30000 /* ... up to this */
#define WATCH_IDENTITY_TAIL 12    /* hex digits of the identity added to a name taken in done/ */

/* The previous pass's view of one folder file. */
typedef struct watch_seen {
    char *name;
    int64_t size;
    int64_t mtime_ms;
    bool present; /* seen in the current pass */
} watch_seen_t;

/* The names one source showed in the previous pass (forgotten once gone). */
typedef struct watch_seen_set {
    mm_hashmap_t *map; /* name -> watch_seen_t (name borrowed from it) */
    watch_seen_t **v;
    size_t n, cap;
} watch_seen_set_t;

/* One name a pass found, sorted before the files are taken. */
typedef struct watch_name {
    char *name;
    int64_t size;
} watch_name_t;

typedef struct watch_names {
    watch_name_t *v;
    size_t n, cap;
    bool truncated;
} watch_names_t;

struct mm_watch {
    mm_watch_config_t cfg;
    char *suffix;
    char *ready_suffix; /* NULL: the settle rule */
    char *dir, *done_dir, *failed_dir;
    char *dir_source; /* the folder's manifest source: its absolute path */
    char *blob_prefix, *blob_done_prefix, *blob_failed_prefix;
    char *blob_source; /* "<blob url>/<prefix>" */
    int64_t max_blob_bytes;
    mm_manifest_t *manifest;

    watch_seen_set_t dir_seen, blob_seen;

    mm_watch_stats_t totals;
    mm_metric_t *m_seen, *m_files, *m_rows, *m_dead, *m_pending, *m_poll_errors, *m_last_pass,
        *m_passes;

    pthread_mutex_t lock; /* guards ready / not_ready */
    bool ready;
    char not_ready[256];
};

/* ------------------------------------------------------------ small helpers */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static char *join(const char *a, const char *sep, const char *b) {
    size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s%s", a, sep, b);
    return s;
}

static bool stopped(const mm_watch_t *w) {
    return w->cfg.stop && *w->cfg.stop;
}

static void set_ready(mm_watch_t *w, bool ready, const char *reason) {
    pthread_mutex_lock(&w->lock);
    w->ready = ready;
    snprintf(w->not_ready, sizeof(w->not_ready), "%s", reason ? reason : "");
    pthread_mutex_unlock(&w->lock);
}

bool mm_watch_ready(void *watch, char *reason, size_t reason_size) {
    mm_watch_t *w = watch;
    if (!w) {
        snprintf(reason, reason_size, "starting");
        return false;
    }
    pthread_mutex_lock(&w->lock);
    bool ready = w->ready;
    if (!ready) snprintf(reason, reason_size, "%s", w->not_ready);
    pthread_mutex_unlock(&w->lock);
    return ready;
}

bool mm_watch_settled(bool seen_before, int64_t prev_size, int64_t prev_mtime_ms, int64_t size,
                      int64_t mtime_ms, int64_t now_ms, int64_t settle_ms) {
    if (!seen_before || prev_size != size || prev_mtime_ms != mtime_ms) return false;
    return now_ms - mtime_ms >= settle_ms;
}

static void names_free(watch_names_t *names) {
    for (size_t i = 0; i < names->n; i++) free(names->v[i].name);
    free(names->v);
    memset(names, 0, sizeof(*names));
}

static bool names_add(watch_names_t *names, const char *name, int64_t size) {
    if (names->n >= WATCH_MAX_FILES) {
        names->truncated = true;
        return true;
    }
    if (names->n == names->cap) {
        size_t cap = names->cap ? names->cap * 2 : 64;
        watch_name_t *v = realloc(names->v, cap * sizeof(*v));
        if (!v) return false;
        names->v = v;
        names->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return false;
    names->v[names->n++] = (watch_name_t){.name = copy, .size = size};
    return true;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(((const watch_name_t *)a)->name, ((const watch_name_t *)b)->name);
}

static bool names_has(const watch_names_t *names, const char *name) {
    watch_name_t probe = {.name = (char *)name};
    return names->n > 0 && bsearch(&probe, names->v, names->n, sizeof(*names->v), name_cmp) != NULL;
}

/* ------------------------------------------------------------ metrics */

static mm_err_t metrics_init(mm_watch_t *w, char *errstr, size_t errstr_size) {
    mm_metrics_t *m = w->cfg.metrics;
    if (!m) return MM_OK;
    w->m_seen = mm_metrics_counter(m, "mm_ingest_watch_files_seen_total",
                                   "files matching the suffix found in the folder or blob prefix",
                                   "source", errstr, errstr_size);
    if (!w->m_seen) return MM_ERR_CONFIG;
    w->m_files = mm_metrics_counter(
        m, "mm_ingest_watch_files_total",
        "files taken, by outcome: ingested, failed (moved to failed/), duplicate (already "
        "ingested: only moved), retry (to be read again)",
        "source,outcome", errstr, errstr_size);
    if (!w->m_files) return MM_ERR_CONFIG;
    w->m_rows = mm_metrics_counter(m, "mm_ingest_watch_rows_total",
                                   "rows of ingested files, by outcome: emitted, deadlettered",
                                   "outcome", errstr, errstr_size);
    if (!w->m_rows) return MM_ERR_CONFIG;
    w->m_dead = mm_metrics_counter(m, "mm_ingest_watch_dead_letters_total",
                                   "rows sent to the dead-letter topic, every attempt counted",
                                   NULL, errstr, errstr_size);
    if (!w->m_dead) return MM_ERR_CONFIG;
    w->m_pending = mm_metrics_gauge(m, "mm_ingest_watch_files_pending",
                                    "files seen in the last pass that are not ready yet", "source",
                                    errstr, errstr_size);
    if (!w->m_pending) return MM_ERR_CONFIG;
    w->m_poll_errors = mm_metrics_counter(m, "mm_ingest_watch_list_errors_total",
                                          "passes in which a source could not be listed", "source",
                                          errstr, errstr_size);
    if (!w->m_poll_errors) return MM_ERR_CONFIG;
    w->m_passes =
        mm_metrics_counter(m, "mm_ingest_watch_passes_total",
                           "passes over the folder and the blob prefix", NULL, errstr, errstr_size);
    if (!w->m_passes) return MM_ERR_CONFIG;
    w->m_last_pass =
        mm_metrics_gauge(m, "mm_ingest_watch_last_pass_timestamp_seconds",
                         "wall-clock time of the last completed pass", NULL, errstr, errstr_size);
    return w->m_last_pass ? MM_OK : MM_ERR_CONFIG;
}

/* ------------------------------------------------------------ names seen */

static void seen_free(watch_seen_set_t *set) {
    for (size_t i = 0; i < set->n; i++) {
        free(set->v[i]->name);
        free(set->v[i]);
    }
    free(set->v);
    mm_hashmap_destroy(set->map);
    memset(set, 0, sizeof(*set));
}

static watch_seen_t *seen_get(watch_seen_set_t *set, const char *name) {
    return mm_hashmap_get(set->map, name, strlen(name));
}

static watch_seen_t *seen_put(watch_seen_set_t *set, const char *name) {
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        watch_seen_t **v = realloc(set->v, cap * sizeof(*v));
        if (!v) return NULL;
        set->v = v;
        set->cap = cap;
    }
    watch_seen_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return NULL;
    }
    if (mm_hashmap_put(set->map, s->name, strlen(s->name), s) != MM_OK) {
        free(s->name);
        free(s);
        return NULL;
    }
    set->v[set->n++] = s;
    return s;
}

/* Forget the names that were not in this pass (moved away or deleted). */
static void seen_prune(watch_seen_set_t *set) {
    size_t kept = 0;
    for (size_t i = 0; i < set->n; i++) {
        watch_seen_t *s = set->v[i];
        if (s->present) {
            s->present = false;
            set->v[kept++] = s;
            continue;
        }
        mm_hashmap_remove(set->map, s->name, strlen(s->name));
        free(s->name);
        free(s);
    }
    set->n = kept;
}

/* ------------------------------------------------------------ new / destroy */

mm_watch_t *mm_watch_new(const mm_watch_config_t *cfg, char *errstr, size_t errstr_size) {
    if (!cfg || !cfg->ingest || !cfg->manifest_path || !*cfg->manifest_path) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                "watch: ingest config and manifest needed");
        return NULL;
    }
    bool has_dir = cfg->dir && *cfg->dir;
    if (!has_dir && !cfg->blob) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                "nothing to follow: give --dir, --blob-prefix with --blob-url, or both");
        return NULL;
    }
    if (cfg->settle_ms < 0 || cfg->max_blob_bytes < 0) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "negative settle time or blob size");
        return NULL;
    }
    mm_watch_t *w = calloc(1, sizeof(*w));
    if (!w) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    snprintf(w->not_ready, sizeof(w->not_ready), "no pass yet");
    w->cfg = *cfg;
    w->max_blob_bytes = cfg->max_blob_bytes ? cfg->max_blob_bytes : MM_WATCH_DEFAULT_MAX_BLOB_BYTES;
    w->suffix = strdup(cfg->suffix && *cfg->suffix ? cfg->suffix : MM_WATCH_DEFAULT_SUFFIX);
    if (cfg->ready_suffix && *cfg->ready_suffix) w->ready_suffix = strdup(cfg->ready_suffix);
    w->dir_seen.map = mm_hashmap_new(0);
    w->blob_seen.map = mm_hashmap_new(0);
    if (!w->suffix || (cfg->ready_suffix && *cfg->ready_suffix && !w->ready_suffix) ||
        !w->dir_seen.map || !w->blob_seen.map)
        goto nomem;
    if (w->ready_suffix && ends_with(w->ready_suffix, w->suffix)) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                "--ready-suffix %s must not end in --suffix %s (a marker would be taken "
                "for a file)",
                w->ready_suffix, w->suffix);
        goto fail;
    }
    if (has_dir) {
        char resolved[PATH_MAX];
        if (!realpath(cfg->dir, resolved)) {
            mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "--dir %s: %s", cfg->dir, strerror(errno));
            goto fail;
        }
        w->dir = strdup(resolved);
        w->dir_source = strdup(resolved);
        w->done_dir =
            cfg->done_dir && *cfg->done_dir ? strdup(cfg->done_dir) : join(resolved, "/", "done");
        w->failed_dir = cfg->failed_dir && *cfg->failed_dir ? strdup(cfg->failed_dir)
                                                            : join(resolved, "/", "failed");
        if (!w->dir || !w->dir_source || !w->done_dir || !w->failed_dir) goto nomem;
        if (mm_mkdirs(w->done_dir, errstr, errstr_size) ||
            mm_mkdirs(w->failed_dir, errstr, errstr_size))
            goto fail;
    }
    if (cfg->blob) {
        const char *prefix = cfg->blob_prefix ? cfg->blob_prefix : "";
        w->blob_prefix = strdup(prefix);
        w->blob_done_prefix = cfg->blob_done_prefix && *cfg->blob_done_prefix
                                  ? strdup(cfg->blob_done_prefix)
                                  : join("done/", "", prefix);
        w->blob_failed_prefix = cfg->blob_failed_prefix && *cfg->blob_failed_prefix
                                    ? strdup(cfg->blob_failed_prefix)
                                    : join("failed/", "", prefix);
        w->blob_source = join(mm_blob_url(cfg->blob), "/", prefix);
        if (!w->blob_prefix || !w->blob_done_prefix || !w->blob_failed_prefix || !w->blob_source)
            goto nomem;
    }
    if (metrics_init(w, errstr, errstr_size)) goto fail;
    w->manifest = mm_manifest_open(cfg->manifest_path, errstr, errstr_size);
    if (!w->manifest) goto fail;
    mm_logj(MM_LOG_INFO, "watch_started",
            json_pack("{s:s, s:s, s:s, s:s, s:I}", "dir", w->dir ? w->dir : "", "blob",
                      w->blob_source ? w->blob_source : "", "suffix", w->suffix, "ready_suffix",
                      w->ready_suffix ? w->ready_suffix : "", "settle_ms",
                      (json_int_t)cfg->settle_ms),
            "watching%s%s%s%s for *%s (%s)", w->dir ? " folder " : "", w->dir ? w->dir : "",
            w->blob_source ? " blob prefix " : "", w->blob_source ? w->blob_source : "", w->suffix,
            w->ready_suffix ? "ready marker" : "settle rule");
    return w;
nomem:
    mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
fail:
    mm_watch_destroy(w);
    return NULL;
}

void mm_watch_destroy(mm_watch_t *w) {
    if (!w) return;
    mm_manifest_close(w->manifest);
    seen_free(&w->dir_seen);
    seen_free(&w->blob_seen);
    free(w->suffix);
    free(w->ready_suffix);
    free(w->dir);
    free(w->done_dir);
    free(w->failed_dir);
    free(w->dir_source);
    free(w->blob_prefix);
    free(w->blob_done_prefix);
    free(w->blob_failed_prefix);
    free(w->blob_source);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void mm_watch_totals(const mm_watch_t *w, mm_watch_stats_t *totals) {
    *totals = w->totals;
}

/* ------------------------------------------------------------ one file's load */

typedef enum {
    FILE_INGESTED,
    FILE_FAILED,    /* can never be read: to failed/ */
    FILE_RETRY,     /* read it again next pass */
    FILE_STOPPED,   /* interrupted by a signal: read it again after the restart */
    FILE_DUPLICATE, /* done already */
} file_outcome_t;

/* A file about to be read: where it is and what it is. */
typedef struct watch_file {
    const char *kind;   /* "dir" or "blob" (metric label) */
    const char *source; /* manifest source */
    const char *name;   /* relative to the source */
    const char *origin; /* what batches and dead letters name as their source */
    char identity[MM_SHA256_HEX_LEN + 1];
    int64_t size;
} watch_file_t;

static void count_outcome(mm_watch_t *w, const watch_file_t *f, file_outcome_t outcome,
                          mm_watch_stats_t *pass) {
    static const char *const names[] = {"ingested", "failed", "retry", "retry", "duplicate"};
    const char *labels[] = {f->kind, names[outcome]};
    if (outcome != FILE_STOPPED) mm_metric_add(w->m_files, labels, 1);
    int64_t *counter = outcome == FILE_INGESTED    ? &pass->files_ingested
                       : outcome == FILE_FAILED    ? &pass->files_failed
                       : outcome == FILE_DUPLICATE ? &pass->files_duplicate
                                                   : &pass->files_retry;
    (*counter)++;
}

/*
 * Read @p stream as one load under the file's deterministic load id. Only a
 * read that reached the end is finished (end_of_load flags); an interrupted
 * or failed one is dropped after a short flush of what is in flight, so the
 * next attempt produces exactly the same batches.
 */
static file_outcome_t load_file(mm_watch_t *w, const watch_file_t *f, FILE *stream,
                                const char *load_id, mm_manifest_counts_t *counts, char *why,
                                size_t why_size) {
    mm_ingest_config_t icfg = *w->cfg.ingest;
    icfg.load_id = load_id;
    icfg.stop = w->cfg.stop;
    char errstr[1024];
    mm_ingest_t *ingest = mm_ingest_new(&icfg, errstr, sizeof(errstr));
    if (!ingest) {
        snprintf(why, why_size, "%s", errstr);
        return FILE_RETRY;
    }
    mm_err_t err = mm_ingest_stream(ingest, stream, f->origin, errstr, sizeof(errstr));
    file_outcome_t outcome = FILE_INGESTED;
    if (err == MM_OK) {
        err = mm_ingest_finish(ingest, true, w->cfg.flush_timeout_ms, errstr, sizeof(errstr));
        if (err == MM_ERR_SHUTDOWN)
            outcome = FILE_STOPPED;
        else if (err)
            outcome = FILE_RETRY;
    } else if (err == MM_ERR_SHUTDOWN) {
        outcome = FILE_STOPPED;
    } else if (err == MM_ERR_CONFIG || err == MM_ERR_PARSE) {
        outcome = FILE_FAILED; /* the header: the same bytes will never fit */
    } else {
        outcome = FILE_RETRY;
    }
    if (err) snprintf(why, why_size, "%s", errstr);
    mm_ingest_stats_t stats;
    mm_ingest_get_stats(ingest, &stats);
    counts->rows_read = stats.rows_read;
    counts->rows_emitted = stats.rows_emitted;
    counts->rows_deadlettered = stats.rows_deadlettered;
    mm_metric_add(w->m_dead, NULL, (double)stats.rows_deadlettered);
    mm_ingest_summary(ingest, NULL);
    mm_ingest_destroy(ingest);
    return outcome;
}

/*
 * After take_file(): count the outcome, and say whether the pass goes on to
 * move the file (true) or stops here (false: a fatal error, into @p errstr; a
 * stop; or a retry, which the broker most likely being away makes the next
 * pass's, recorded as the pass's first error).
 */
static bool pass_goes_on(mm_watch_t *w, const watch_file_t *f, file_outcome_t outcome, bool fatal,
                         const char *why, mm_watch_stats_t *pass, mm_err_t *first, char *errstr,
                         size_t errstr_size) {
    if (fatal) {
        snprintf(errstr, errstr_size, "%s", why);
        return false;
    }
    count_outcome(w, f, outcome, pass);
    if (outcome == FILE_STOPPED) return false;
    if (outcome == FILE_RETRY) {
        if (!*first) *first = mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "%s", why);
        return false;
    }
    return true;
}

/*
 * Look the file up, read it unless it is done or failed already, and record
 * the outcome. @p open_stream opens the bytes to read (the same bytes the
 * identity was computed from, for a blob).
 */
typedef FILE *(*open_stream_fn)(void *opaque, char *errstr, size_t errstr_size);

static file_outcome_t take_file(mm_watch_t *w, const watch_file_t *f, open_stream_fn open_stream,
                                void *opaque, mm_watch_stats_t *pass, mm_err_t *fatal, char *errstr,
                                size_t errstr_size) {
    mm_manifest_entry_t entry;
    bool found = false;
    *fatal = mm_manifest_get(w->manifest, f->source, f->name, f->identity, &entry, &found, errstr,
                             errstr_size);
    if (*fatal) return FILE_RETRY;
    if (found && strcmp(entry.state, MM_MANIFEST_DONE) == 0) {
        mm_log_info("file_already_ingested", "%s (%s): ingested before as load %s; moving it",
                    f->name, f->identity, entry.load_id);
        return FILE_DUPLICATE;
    }
    if (found && strcmp(entry.state, MM_MANIFEST_FAILED) == 0) return FILE_FAILED;

    char load_id[128];
    mm_manifest_load_id(f->source, f->name, f->identity, load_id, sizeof(load_id));
    if (found && entry.attempts > 0)
        mm_logj(MM_LOG_WARN, "file_resumed",
                json_pack("{s:s, s:s, s:I}", "file", f->origin, "load_id", load_id, "attempt",
                          (json_int_t)entry.attempts + 1),
                "%s: reading again as load %s (attempt %lld; batches already delivered are "
                "ignored downstream)",
                f->origin, load_id, (long long)entry.attempts + 1);
    *fatal = mm_manifest_begin(w->manifest, f->source, f->name, f->identity, f->size, load_id,
                               mm_now_ms(), errstr, errstr_size);
    if (*fatal) return FILE_RETRY;

    char why[1024] = "";
    mm_manifest_counts_t counts = {0};
    file_outcome_t outcome;
    FILE *stream = open_stream(opaque, why, sizeof(why));
    if (!stream)
        outcome = FILE_RETRY;
    else {
        outcome = load_file(w, f, stream, load_id, &counts, why, sizeof(why));
        fclose(stream);
    }
    const char *state = outcome == FILE_INGESTED ? MM_MANIFEST_DONE
                        : outcome == FILE_FAILED ? MM_MANIFEST_FAILED
                                                 : MM_MANIFEST_INGESTING;
    *fatal = mm_manifest_finish(w->manifest, f->source, f->name, f->identity, state, &counts, why,
                                mm_now_ms(), errstr, errstr_size);
    if (*fatal) return FILE_RETRY;
    if (outcome == FILE_INGESTED) {
        pass->rows_emitted += counts.rows_emitted;
        pass->rows_deadlettered += counts.rows_deadlettered;
        mm_metric_add(w->m_rows, (const char *[]){"emitted"}, (double)counts.rows_emitted);
        mm_metric_add(w->m_rows, (const char *[]){"deadlettered"},
                      (double)counts.rows_deadlettered);
        mm_logj(MM_LOG_INFO, "file_ingested",
                json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "file", f->origin, "sha256",
                          f->identity, "load_id", load_id, "rows_read",
                          (json_int_t)counts.rows_read, "rows_emitted",
                          (json_int_t)counts.rows_emitted, "rows_deadlettered",
                          (json_int_t)counts.rows_deadlettered),
                "%s: ingested as load %s: %lld rows emitted, %lld dead-lettered", f->origin,
                load_id, (long long)counts.rows_emitted, (long long)counts.rows_deadlettered);
    } else if (outcome == FILE_FAILED) {
        mm_log_error("file_failed", "%s: cannot be ingested, moving it aside: %s", f->origin, why);
    } else if (outcome == FILE_RETRY) {
        mm_log_warn("file_retry", "%s: will be read again: %s", f->origin, why);
        snprintf(errstr, errstr_size, "%s: %s", f->origin, why);
    }
    return outcome;
}

/* ------------------------------------------------------------ the folder */

static mm_err_t hash_file(const char *path, char identity[MM_SHA256_HEX_LEN + 1], int64_t *size,
                          char *errstr, size_t errstr_size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
    mm_sha256_ctx_t *ctx = mm_sha256_new();
    char *chunk = malloc(WATCH_READ_CHUNK);
    if (!ctx || !chunk) {
        if (ctx) mm_sha256_final_hex(ctx, identity);
        free(chunk);
        fclose(fp);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    size_t n;
    *size = 0;
    while ((n = fread(chunk, 1, WATCH_READ_CHUNK, fp)) > 0) {
        mm_sha256_update(ctx, chunk, n);
        *size += (int64_t)n;
    }
    bool failed = ferror(fp) != 0;
    mm_sha256_final_hex(ctx, identity);
    free(chunk);
    fclose(fp);
    if (failed) return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: read error", path);
    return MM_OK;
}

static FILE *open_path(void *opaque, char *errstr, size_t errstr_size) {
    const char *path = opaque;
    FILE *fp = fopen(path, "rb");
    if (!fp) mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));
    return fp;
}

/* Move @p path into @p to_dir under its name, or name.<identity head> when that is taken. */
static mm_err_t move_into(const char *path, const char *name, const char *to_dir,
                          const char *identity, char *errstr, size_t errstr_size) {
    char target[PATH_MAX];
    snprintf(target, sizeof(target), "%s/%s", to_dir, name);
    struct stat st;
    if (stat(target, &st) == 0)
        snprintf(target, sizeof(target), "%s/%s.%.*s", to_dir, name, WATCH_IDENTITY_TAIL, identity);
    if (rename(path, target) != 0)
        return mm_errf(MM_ERR_IO, errstr, errstr_size, "move %s to %s: %s", path, target,
                       strerror(errno));
    return MM_OK;
}

static mm_err_t list_dir(mm_watch_t *w, watch_names_t *names, char *errstr, size_t errstr_size) {
    DIR *d = opendir(w->dir);
    if (!d) return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s: %s", w->dir, strerror(errno));
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        if (!ends_with(de->d_name, w->suffix) &&
            !(w->ready_suffix && ends_with(de->d_name, w->ready_suffix)))
            continue;
        if (!names_add(names, de->d_name, -1)) {
            closedir(d);
            return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
    }
    closedir(d);
    if (names->n > 1) qsort(names->v, names->n, sizeof(*names->v), name_cmp);
    return MM_OK;
}

static mm_err_t poll_dir(mm_watch_t *w, mm_watch_stats_t *pass, mm_err_t *fatal, char *errstr,
                         size_t errstr_size) {
    watch_names_t names = {0};
    mm_err_t err = list_dir(w, &names, errstr, errstr_size);
    if (err) {
        mm_metric_add(w->m_poll_errors, (const char *[]){"dir"}, 1);
        return err;
    }
    mm_err_t first = MM_OK;
    int64_t pending = 0;
    size_t i = 0;
    for (; i < names.n && !stopped(w) && !*fatal; i++) {
        const char *name = names.v[i].name;
        if (!ends_with(name, w->suffix)) continue; /* a marker */
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", w->dir, name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        int64_t mtime_ms =
            (int64_t)st.st_mtim.tv_sec * 1000 + (int64_t)st.st_mtim.tv_nsec / 1000000;
        watch_seen_t *seen = seen_get(&w->dir_seen, name);
        bool seen_before = seen != NULL;
        if (!seen) {
            if (!(seen = seen_put(&w->dir_seen, name))) {
                names_free(&names);
                return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
            }
            pass->files_seen++;
            mm_metric_add(w->m_seen, (const char *[]){"dir"}, 1);
        }
        seen->present = true;
        bool ready;
        char marker[PATH_MAX + 64] = "";
        if (w->ready_suffix) {
            char marker_name[NAME_MAX * 2];
            snprintf(marker_name, sizeof(marker_name), "%s%s", name, w->ready_suffix);
            snprintf(marker, sizeof(marker), "%s/%s", w->dir, marker_name);
            ready = names_has(&names, marker_name);
        } else {
            ready = mm_watch_settled(seen_before, seen->size, seen->mtime_ms, (int64_t)st.st_size,
                                     mtime_ms, mm_now_ms(), w->cfg.settle_ms);
        }
        seen->size = (int64_t)st.st_size;
        seen->mtime_ms = mtime_ms;
        if (!ready) {
            pending++;
            continue;
        }
        watch_file_t f = {.kind = "dir", .source = w->dir_source, .name = name, .origin = path};
        char why[1024];
        if (hash_file(path, f.identity, &f.size, why, sizeof(why))) {
            mm_log_warn("file_unreadable", "%s", why);
            if (!first) first = mm_errf(MM_ERR_IO, errstr, errstr_size, "%s", why);
            continue;
        }
        file_outcome_t outcome = take_file(w, &f, open_path, path, pass, fatal, why, sizeof(why));
        if (!pass_goes_on(w, &f, outcome, *fatal, why, pass, &first, errstr, errstr_size)) break;
        const char *to = outcome == FILE_FAILED ? w->failed_dir : w->done_dir;
        if (move_into(path, name, to, f.identity, why, sizeof(why))) {
            mm_log_error("file_move_failed", "%s", why);
            if (!first) first = mm_errf(MM_ERR_IO, errstr, errstr_size, "%s", why);
            continue;
        }
        if (*marker && unlink(marker) != 0 && errno != ENOENT)
            mm_log_warn("marker_not_removed", "%s: %s", marker, strerror(errno));
    }
    pass->files_pending += pending;
    mm_metric_set(w->m_pending, (const char *[]){"dir"}, (double)pending);
    /* Forget what is gone, once the whole listing was gone through (a pass cut short by a
     * retry has not looked at every name). */
    if (i == names.n) seen_prune(&w->dir_seen);
    names_free(&names);
    return first;
}

/* ------------------------------------------------------------ the blob prefix */

typedef struct blob_list_ctx {
    mm_watch_t *w;
    watch_names_t *names;
    bool nomem;
} blob_list_ctx_t;

static bool blob_listed(void *opaque, const char *name, int64_t size) {
    blob_list_ctx_t *ctx = opaque;
    mm_watch_t *w = ctx->w;
    if (*w->blob_done_prefix && starts_with(name, w->blob_done_prefix)) return true;
    if (*w->blob_failed_prefix && starts_with(name, w->blob_failed_prefix)) return true;
    if (!ends_with(name, w->suffix) && !(w->ready_suffix && ends_with(name, w->ready_suffix)))
        return true;
    if (!names_add(ctx->names, name, size)) {
        ctx->nomem = true;
        return false;
    }
    return true;
}

typedef struct blob_stream {
    mm_buf_t *data;
} blob_stream_t;

static FILE *open_blob_bytes(void *opaque, char *errstr, size_t errstr_size) {
    blob_stream_t *bs = opaque;
    /* fmemopen of zero bytes fails on some C libraries: an empty blob reads as /dev/null. */
    FILE *fp =
        bs->data->len ? fmemopen(bs->data->data, bs->data->len, "rb") : fopen("/dev/null", "rb");
    if (!fp) mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "open blob bytes: %s", strerror(errno));
    return fp;
}

/* Copy @p name to @p to_prefix + its part under the watched prefix, then delete it. */
static mm_err_t blob_move(mm_watch_t *w, const char *name, const char *to_prefix,
                          const char *identity, char *errstr, size_t errstr_size) {
    const char *rest = name + strlen(w->blob_prefix);
    char *dst = join(to_prefix, "", rest);
    if (!dst) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    mm_err_t err = mm_blob_copy(w->cfg.blob, name, dst, MM_BLOB_IF_NONE_MATCH, errstr, errstr_size);
    if (err == MM_ERR_EXISTS) { /* an earlier file of that name, other bytes */
        char tail[WATCH_IDENTITY_TAIL + 2];
        snprintf(tail, sizeof(tail), ".%.*s", WATCH_IDENTITY_TAIL, identity);
        char *alt = join(dst, "", tail);
        free(dst);
        if (!(dst = alt)) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        err = mm_blob_copy(w->cfg.blob, name, dst, MM_BLOB_IF_NONE_MATCH, errstr, errstr_size);
    }
    free(dst);
    if (err) return err;
    err = mm_blob_delete(w->cfg.blob, name, errstr, errstr_size);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

static mm_err_t poll_blob(mm_watch_t *w, mm_watch_stats_t *pass, mm_err_t *fatal, char *errstr,
                          size_t errstr_size) {
    watch_names_t names = {0};
    blob_list_ctx_t ctx = {.w = w, .names = &names};
    mm_err_t err =
        mm_blob_list(w->cfg.blob, w->blob_prefix, blob_listed, &ctx, errstr, errstr_size);
    if (!err && ctx.nomem) err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    if (err) {
        mm_metric_add(w->m_poll_errors, (const char *[]){"blob"}, 1);
        names_free(&names);
        return err;
    }
    if (names.n > 1) qsort(names.v, names.n, sizeof(*names.v), name_cmp);
    mm_err_t first = MM_OK;
    int64_t pending = 0;
    mm_buf_t data;
    mm_buf_init(&data, (size_t)w->max_blob_bytes);
    size_t i = 0;
    for (; i < names.n && !stopped(w) && !*fatal; i++) {
        const char *name = names.v[i].name;
        if (!ends_with(name, w->suffix)) continue; /* a marker */
        watch_seen_t *seen = seen_get(&w->blob_seen, name);
        if (!seen) {
            if (!(seen = seen_put(&w->blob_seen, name))) {
                first = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
                break;
            }
            pass->files_seen++;
            mm_metric_add(w->m_seen, (const char *[]){"blob"}, 1);
        }
        seen->present = true;
        char marker[4096] = "";
        if (w->ready_suffix) {
            snprintf(marker, sizeof(marker), "%s%s", name, w->ready_suffix);
            if (!names_has(&names, marker)) {
                pending++;
                continue;
            }
        }
        char why[1024];
        if (names.v[i].size > w->max_blob_bytes) {
            snprintf(why, sizeof(why), "%s: %lld bytes, over --max-blob-bytes %lld", name,
                     (long long)names.v[i].size, (long long)w->max_blob_bytes);
            mm_log_error("file_too_big", "%s", why);
            if (!first) first = mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s", why);
            continue;
        }
        err = mm_blob_get(w->cfg.blob, name, &data, why, sizeof(why));
        if (err == MM_ERR_NOT_FOUND) continue; /* deleted since the listing */
        if (err) {
            mm_log_warn("file_unreadable", "%s", why);
            if (!first) first = mm_errf(err, errstr, errstr_size, "%s", why);
            continue;
        }
        char *origin = join(mm_blob_url(w->cfg.blob), "/", name);
        if (!origin) {
            first = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
            break;
        }
        watch_file_t f = {.kind = "blob",
                          .source = w->blob_source,
                          .name = name,
                          .origin = origin,
                          .size = (int64_t)data.len};
        mm_sha256_hex(data.data, data.len, f.identity);
        blob_stream_t bs = {.data = &data};
        file_outcome_t outcome =
            take_file(w, &f, open_blob_bytes, &bs, pass, fatal, why, sizeof(why));
        free(origin);
        if (!pass_goes_on(w, &f, outcome, *fatal, why, pass, &first, errstr, errstr_size)) break;
        const char *to = outcome == FILE_FAILED ? w->blob_failed_prefix : w->blob_done_prefix;
        if (blob_move(w, name, to, f.identity, why, sizeof(why))) {
            mm_log_error("file_move_failed", "%s", why);
            if (!first) first = mm_errf(MM_ERR_IO, errstr, errstr_size, "%s", why);
            continue;
        }
        if (*marker) {
            mm_err_t merr = mm_blob_delete(w->cfg.blob, marker, why, sizeof(why));
            if (merr && merr != MM_ERR_NOT_FOUND) mm_log_warn("marker_not_removed", "%s", why);
        }
    }
    mm_buf_free(&data);
    if (i == names.n) seen_prune(&w->blob_seen);
    pass->files_pending += pending;
    mm_metric_set(w->m_pending, (const char *[]){"blob"}, (double)pending);
    names_free(&names);
    return first;
}

/* ------------------------------------------------------------ passes */

static void add_stats(mm_watch_stats_t *to, const mm_watch_stats_t *from) {
    to->files_seen += from->files_seen;
    to->files_ingested += from->files_ingested;
    to->files_failed += from->files_failed;
    to->files_duplicate += from->files_duplicate;
    to->files_retry += from->files_retry;
    to->files_pending = from->files_pending;
    to->rows_emitted += from->rows_emitted;
    to->rows_deadlettered += from->rows_deadlettered;
}

mm_err_t mm_watch_poll(mm_watch_t *w, mm_watch_stats_t *pass_out, char *errstr,
                       size_t errstr_size) {
    mm_watch_stats_t pass = {0};
    mm_err_t fatal = MM_OK, first = MM_OK;
    char listing[1100] = "";
    if (w->dir && !stopped(w)) {
        char why[1024];
        mm_err_t err = poll_dir(w, &pass, &fatal, why, sizeof(why));
        if (err || fatal) {
            first = fatal ? fatal : err;
            snprintf(errstr, errstr_size, "%s", why);
            if (err && !fatal && err != MM_ERR_KAFKA)
                snprintf(listing, sizeof(listing), "folder: %s", why);
        }
    }
    if (w->cfg.blob && !stopped(w) && !fatal) {
        char why[1024];
        mm_err_t err = poll_blob(w, &pass, &fatal, why, sizeof(why));
        if (err || fatal) {
            if (!first || fatal) {
                first = fatal ? fatal : err;
                snprintf(errstr, errstr_size, "%s", why);
            }
            if (err && !fatal && err != MM_ERR_KAFKA && !*listing)
                snprintf(listing, sizeof(listing), "blob prefix: %s", why);
        }
    }
    add_stats(&w->totals, &pass);
    if (pass_out) *pass_out = pass;
    if (fatal) {
        set_ready(w, false, "manifest not writable");
        return MM_ERR_DB;
    }
    set_ready(w, !*listing, listing);
    mm_metric_set(w->m_last_pass, NULL, (double)mm_now_ms() / 1000.0);
    mm_metric_add(w->m_passes, NULL, 1);
    if (stopped(w)) return mm_errf(MM_ERR_SHUTDOWN, errstr, errstr_size, "stopped");
    return first;
}

int mm_watch_run(mm_watch_t *w, int64_t poll_ms) {
    int retries = 0; /* consecutive passes that left a file to be read again */
    for (;;) {
        char errstr[1024];
        mm_watch_stats_t pass;
        mm_err_t err = mm_watch_poll(w, &pass, errstr, sizeof(errstr));
        if (err == MM_ERR_SHUTDOWN || stopped(w)) break;
        if (err == MM_ERR_DB) {
            mm_log_error("watch_failed", "%s", errstr);
            return MM_INGEST_EXIT_FATAL;
        }
        if (err) mm_log_warn("watch_pass_incomplete", "%s", errstr);
        if (pass.files_ingested + pass.files_failed + pass.files_duplicate > 0)
            mm_log_info("watch_pass", "%lld ingested, %lld failed, %lld duplicate, %lld pending",
                        (long long)pass.files_ingested, (long long)pass.files_failed,
                        (long long)pass.files_duplicate, (long long)pass.files_pending);
        /* A broker away for a while is not hammered: back off between retrying passes. */
        retries = pass.files_retry > 0 ? retries + 1 : 0;
        int64_t pause = poll_ms;
        if (retries > 0) {
            int64_t backoff = mm_backoff_ms(retries, WATCH_RETRY_BASE_MS, WATCH_RETRY_CAP_MS);
            if (backoff > pause) pause = backoff;
        }
        mm_sleep_ms(pause, (volatile int *)w->cfg.stop);
    }
    mm_log_info("watch_stopped", "stopped: %lld files ingested, %lld failed since start",
                (long long)w->totals.files_ingested, (long long)w->totals.files_failed);
    return 0;
}
