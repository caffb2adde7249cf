/*
 * mmctl.h - what mmctl's files share: the parsed options, exit statuses,
 * output helpers (output.c) and one entry point per command (models.c,
 * predictions.c, report.c, outbox.c, topics.c). main.c parses arguments and dispatches.
 */
#ifndef MMCTL_H
#define MMCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mm/conf.h"
#include "mm/db.h"
#include "mm/err.h"

enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,
    EXIT_USAGE = 2,
    EXIT_NOT_FOUND = 3,
};

typedef enum { OUT_TABLE = 0, OUT_JSON = 1, OUT_CSV = 2 } out_format_t;

typedef struct mmctl_opts {
    const char *registry;
    const char *sink;
    const char *html;  /* report: write the HTML page here */
    const char *state; /* report --html: mm-scorer's state store (history) */
    const char *key;   /* predictions: one partition key, or NULL for all */
    const char *reason;
    const char *actor;
    const char *metric;
    const char *spec;
    const char *bootstrap_servers;
    const char *bootstrap_file;
    const char *blob_url;
    const char *blob_account;
    const char *blob_key;
    const char *blob_sas;
    int64_t partitions;
    int64_t replication;
    out_format_t format;
    mm_kv_list_t kafka;
} mmctl_opts_t;

/* ---- output.c: diagnostics and printing */

/** @brief "mmctl: <why>" and a hint on stderr. @returns EXIT_USAGE. */
int mmctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** @brief "mmctl: <what>: <why>" on stderr. @returns the exit status for @p err. */
int mmctl_fail(mm_err_t err, const char *what, const char *why);
/** @returns the environment variable @p name when set and non-empty, else @p fallback. */
const char *mmctl_env_or(const char *name, const char *fallback);
/** @brief Print @p doc indented to stdout and release it (steals @p doc). */
void mmctl_print_json(json_t *doc);
/** @returns a JSON real, or null for NaN and infinities. */
json_t *mmctl_json_num_or_null(double v);
/** @returns a JSON integer, or null for 0 (a version that is not set). */
json_t *mmctl_json_version_or_null(int32_t version);
/** @returns a JSON string, or null for NULL. */
json_t *mmctl_json_str_or_null(const char *s);
/** @returns @p text parsed as JSON, else as a string; null for NULL. */
json_t *mmctl_json_parsed_or_null(const char *text);
/** @brief "YYYY-MM-DDTHH:MM:SSZ" of epoch @p ms, or "-" when unset. */
void mmctl_fmt_time(int64_t ms, char *out, size_t size);
/** @returns true if @p path is an existing regular file. */
bool mmctl_file_exists(const char *path);

/* ---- models.c */
int mmctl_models_list(const mmctl_opts_t *o);
int mmctl_models_get(const mmctl_opts_t *o, const char *key);
int mmctl_models_versions(const mmctl_opts_t *o, const char *key);
int mmctl_models_promote(const mmctl_opts_t *o, const char *key, const char *version_text);
int mmctl_models_rollback(const mmctl_opts_t *o, const char *key);
/** @brief Open the registry named by the options. @returns EXIT_OK or an exit status. */
int mmctl_open_registry(const mmctl_opts_t *o, mm_db_t **db);

/* ---- outbox.c */
/**
 * @brief Deliver the registry's outbox with a producer of our own.
 * @returns MM_OK when delivered, MM_ERR_NOT_FOUND when no bootstrap is configured.
 */
mm_err_t mmctl_deliver_outbox(const mmctl_opts_t *o, mm_db_t *db, char *errstr, size_t errstr_size);
int mmctl_outbox_deliver(const mmctl_opts_t *o);

/* ---- predictions.c */
struct mm_scorer_sink;
/**
 * @brief Open the sink named by --sink (a path, sqlite://PATH or postgresql://...); a SQLite
 * file that does not exist is EXIT_NOT_FOUND. Messages never show the URL's password.
 * @returns EXIT_OK with *@p sink set (mm_scorer_sink_close), or an exit status.
 */
int mmctl_open_sink(const mmctl_opts_t *o, struct mm_scorer_sink **sink);
int mmctl_predictions_list(const mmctl_opts_t *o);
int mmctl_predictions_export(const mmctl_opts_t *o);

/* ---- report.c, topics.c */
int mmctl_report(const mmctl_opts_t *o);
int mmctl_topics_init(const mmctl_opts_t *o);

#endif
