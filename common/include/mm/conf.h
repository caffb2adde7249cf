/*
 * conf.h - one declarative configuration table per service.
 *
 * The table drives parsing (defaults < MM_* environment < command-line
 * flags), validation (type and range), --help, --dump-config (secrets
 * redacted) and the generated configuration reference (--help-markdown).
 * Any librdkafka property passes through: `-X key=value` on the command line
 * or `MM_KAFKA_<KEY>` in the environment (underscores become dots:
 * MM_KAFKA_SESSION_TIMEOUT_MS -> session.timeout.ms). Flags win over env.
 */
#ifndef MM_CONF_H
#define MM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mm/err.h"

typedef enum mm_conf_type {
    MM_CONF_STR = 0,  /* char * (owned by the config, freed by mm_conf_free) */
    MM_CONF_INT = 1,  /* int64_t */
    MM_CONF_DBL = 2,  /* double */
    MM_CONF_BOOL = 3, /* bool */
} mm_conf_type_t;

#define MM_CONF_F_SECRET   0x1 /* redacted in --dump-config and logs */
#define MM_CONF_F_REQUIRED 0x2 /* must be set (non-empty) */

typedef struct mm_conf_prop {
    const char *name; /* flag name without dashes: "bootstrap-servers" -> --bootstrap-servers */
    mm_conf_type_t type;
    const char *defval; /* default as text (NULL = unset / empty string) */
    double min, max;    /* inclusive range for INT/DBL (ignored when min > max) */
    const char *env;    /* environment variable: "MM_BOOTSTRAP_SERVERS" */
    const char *desc;   /* one line for --help and the docs */
    int flags;          /* MM_CONF_F_* */
    size_t offset;      /* offsetof(service config struct, field) */
} mm_conf_prop_t;

/* librdkafka pass-through properties, in the order given. */
typedef struct mm_kv {
    char *key;
    char *value;
} mm_kv_t;

typedef struct mm_kv_list {
    mm_kv_t *items;
    size_t n;
} mm_kv_list_t;

mm_err_t mm_kv_list_set(mm_kv_list_t *list, const char *key, const char *value);
const char *mm_kv_list_get(const mm_kv_list_t *list, const char *key);
void mm_kv_list_free(mm_kv_list_t *list);

typedef struct mm_conf_schema {
    const char *program;    /* "mm-trainer" */
    const char *summary;    /* one line: what the program does */
    const char *usage_args; /* positional args in usage ("[FILE...]"), or NULL */
    const mm_conf_prop_t *props;
    size_t n_props;
} mm_conf_schema_t;

typedef enum mm_conf_action {
    MM_CONF_RUN = 0,     /* parsed: run the program */
    MM_CONF_EXIT_OK = 1, /* --help / --dump-config / --help-markdown printed: exit 0 */
} mm_conf_action_t;

/**
 * @brief Fill @p cfg (a struct laid out as the table's offsets say) from
 * defaults, environment and @p argv, in that order of precedence.
 * @param kafka receives -X and MM_KAFKA_* properties (flags win).
 * @param positional receives the remaining non-option arguments (pointers into argv;
 *        array allocated, caller frees it with free()); may be NULL if none accepted.
 * @param action set to MM_CONF_EXIT_OK when a help/dump flag was handled (printed to stdout).
 * @returns MM_ERR_CONFIG with "--flag: why" or "MM_ENV: why" in errstr.
 * @remark @p cfg must start zeroed (or hold strings of an earlier parse): old
 *         strings are freed as they are replaced. An empty environment
 *         variable counts as unset. A bare boolean flag takes the next argument
 *         as its value only if that reads as a boolean. Help flags are handled
 *         before anything is validated; --dump-config prints even when a
 *         required property is missing.
 * @remark On failure the strings of @p cfg and @p kafka are freed and
 *         *positional is NULL; calling mm_conf_free / mm_kv_list_free again is
 *         harmless.
 */
mm_err_t mm_conf_parse(const mm_conf_schema_t *schema, void *cfg, int argc, char **argv,
                       mm_kv_list_t *kafka, char ***positional, size_t *n_positional,
                       mm_conf_action_t *action, char *errstr, size_t errstr_size);

/** @brief Same as mm_conf_parse without argv/env: set defaults only (used by tests).
 * @p cfg must start zeroed, as for mm_conf_parse. */
mm_err_t mm_conf_defaults(const mm_conf_schema_t *schema, void *cfg, char *errstr,
                          size_t errstr_size);

/**
 * @brief The librdkafka properties of the environment, as services read them
 * (MM_KAFKA_SASL_USERNAME=u -> sasl.username=u; empty values are unset),
 * added to @p kafka in name order; for tools without a configuration table.
 * @returns MM_OK; MM_ERR_NOMEM.
 */
mm_err_t mm_conf_kafka_env(mm_kv_list_t *kafka, char *errstr, size_t errstr_size);

/** @brief Print the effective configuration as JSON, secrets replaced by "***": secret
 * properties whole, and inside every other value what the redaction replaces (a SAS
 * `sig` in --blob-url, a URL password, any registered secret). */
void mm_conf_dump(const mm_conf_schema_t *schema, const void *cfg, const mm_kv_list_t *kafka,
                  FILE *out);
/** @brief Print --help text. */
void mm_conf_help(const mm_conf_schema_t *schema, FILE *out);
/** @brief Print the reference table in Markdown (docs/CONFIGURATION.md is generated from it). */
void mm_conf_markdown(const mm_conf_schema_t *schema, FILE *out);
/** @brief Free the string fields of @p cfg and set them NULL (safe to call twice). */
void mm_conf_free(const mm_conf_schema_t *schema, void *cfg);

/**
 * @brief Register with the redaction (redact.h) every secret of @p cfg: the
 * values of MM_CONF_F_SECRET properties, secret librdkafka properties, and
 * what other strings carry (a SAS `sig` or a password inside a URL).
 * mm_conf_parse calls it; a program with its own argument parsing passes
 * NULL @p schema and @p cfg for its librdkafka properties alone and calls
 * mm_redact_register for the rest.
 * @returns MM_ERR_NOMEM or MM_ERR_CONFIG (too many secrets) with errstr.
 */
mm_err_t mm_conf_register_secrets(const mm_conf_schema_t *schema, const void *cfg,
                                  const mm_kv_list_t *kafka, char *errstr, size_t errstr_size);

/** @returns true if @p key names a secret librdkafka property (sasl.password, ...). */
bool mm_conf_kafka_is_secret(const char *key);

#endif
