/*
 * service.h - what every long-running service shares: the common
 * configuration entries (Kafka, dataset spec, blob store, logging), signal
 * handling that only sets a flag, start-up (logging, spec, bootstrap), and
 * the DeadLetter record for an input the service cannot use.
 */
#ifndef MM_SERVICE_H
#define MM_SERVICE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/blob.h"
#include "mm/buf.h"
#include "mm/conf.h"
#include "mm/err.h"
#include "mm/httpd.h"
#include "mm/metrics.h"
#include "mm/spec.h"

typedef struct mm_service_common {
    char *bootstrap_servers;
    char *bootstrap_file;
    char *topic_prefix;
    char *spec_path;
    char *blob_url;
    char *blob_account;
    char *blob_key;
    char *blob_sas;
    char *log_level;
    char *http_addr;
    char *schema_registry_url; /* empty: no schema registry */
    char *schema_registry_user;
    char *schema_registry_password;
} mm_service_common_t;

/* Configuration entries shared by the services; @p type is the service's
 * config struct, @p member its mm_service_common_t member. */
/* clang-format off */
#define MM_SERVICE_CONF_KAFKA(type, member)                                                        \
    {"bootstrap-servers", MM_CONF_STR, NULL, 0, -1, "MM_BOOTSTRAP_SERVERS",                        \
     "Kafka bootstrap servers (host:port,...)", 0,                                                 \
     offsetof(type, member.bootstrap_servers)},                                                    \
    {"bootstrap-file", MM_CONF_STR, NULL, 0, -1, "MM_BOOTSTRAP_FILE",                              \
     "file holding the bootstrap servers (written by mm-devbroker); used when "                    \
     "--bootstrap-servers is empty",                                                               \
     0, offsetof(type, member.bootstrap_file)},                                                    \
    {"topic-prefix", MM_CONF_STR, "", 0, -1, "MM_TOPIC_PREFIX",                                    \
     "prefix of every topic name and consumer group id on the cluster (e.g. retail.), so "         \
     "several datasets share one cluster; empty: none",                                            \
     0, offsetof(type, member.topic_prefix)}

#define MM_SERVICE_CONF_SPEC(type, member)                                                         \
    {"spec", MM_CONF_STR, NULL, 0, -1, "MM_SPEC", "dataset spec JSON file", MM_CONF_F_REQUIRED,    \
     offsetof(type, member.spec_path)}

#define MM_SERVICE_CONF_BLOB(type, member)                                                         \
    {"blob-url", MM_CONF_STR, NULL, 0, -1, "MM_BLOB_URL",                                          \
     "blob store: file:///dir or http(s)://host/account/container", MM_CONF_F_REQUIRED,            \
     offsetof(type, member.blob_url)},                                                             \
    {"blob-account", MM_CONF_STR, NULL, 0, -1, "MM_BLOB_ACCOUNT",                                  \
     "Azure storage account (default: from the URL)", 0, offsetof(type, member.blob_account)},     \
    {"blob-key", MM_CONF_STR, NULL, 0, -1, "MM_BLOB_KEY", "Azure SharedKey (base64)",              \
     MM_CONF_F_SECRET, offsetof(type, member.blob_key)},                                           \
    {"blob-sas", MM_CONF_STR, NULL, 0, -1, "MM_BLOB_SAS", "Azure SAS token (without '?')",         \
     MM_CONF_F_SECRET, offsetof(type, member.blob_sas)}

#define MM_SERVICE_CONF_HTTP(type, member)                                                         \
    {"http-addr", MM_CONF_STR, "", 0, -1, "MM_HTTP_ADDR",                                          \
     "serve /healthz, /readyz and /metrics on host:port (port 0: any free port); empty: off",     \
     0, offsetof(type, member.http_addr)}

#define MM_SERVICE_CONF_SCHEMA_REGISTRY(type, member)                                              \
    {"schema-registry-url", MM_CONF_STR, "", 0, -1, "MM_SCHEMA_REGISTRY_URL",                      \
     "Confluent-compatible schema registry (http(s)://host:port): at start-up, register the "     \
     "catalog's schemas under <topic>-value with their ids, or check that they are there; "       \
     "empty: none",                                                                                \
     0, offsetof(type, member.schema_registry_url)},                                               \
    {"schema-registry-user", MM_CONF_STR, "", 0, -1, "MM_SCHEMA_REGISTRY_USER",                    \
     "schema registry basic-auth user", 0, offsetof(type, member.schema_registry_user)},           \
    {"schema-registry-password", MM_CONF_STR, "", 0, -1, "MM_SCHEMA_REGISTRY_PASSWORD",            \
     "schema registry basic-auth password", MM_CONF_F_SECRET,                                      \
     offsetof(type, member.schema_registry_password)}

#define MM_SERVICE_CONF_LOG(type, member)                                                          \
    {"log-level", MM_CONF_STR, "info", 0, -1, "MM_LOG_LEVEL", "debug, info, warn or error", 0,     \
     offsetof(type, member.log_level)}
/* clang-format on */

/** Set by SIGINT/SIGTERM (the handler does nothing else). */
extern volatile sig_atomic_t mm_service_stop;

/** @brief Install SIGINT/SIGTERM handlers that set mm_service_stop; ignore SIGPIPE. */
void mm_service_install_signals(void);

/**
 * @brief Start-up shared by the services: logging, the topic prefix, the
 * dataset spec (if @p spec is non-NULL), the bootstrap servers (if @p bootstrap is non-NULL,
 * waiting up to 60 s for the bootstrap file) and then, when --schema-registry-url is set,
 * mm_service_schema_registry_sync().
 */
mm_err_t mm_service_setup(const char *service, const mm_service_common_t *common, mm_spec_t *spec,
                          char **bootstrap, char *errstr, size_t errstr_size);

#define MM_SERVICE_RUN (-1)

/**
 * @brief Everything a service's main() does before its own work: answer
 * --version, parse the configuration (defaults < MM_* environment < flags;
 * -X pass-through into @p kafka), answer --help / --dump-config /
 * --help-markdown, install the signal handlers, then mm_service_setup()
 * (logging, spec, bootstrap).
 * @param positional, n_positional receive the non-option arguments (NULL if
 *        the program takes none).
 * @returns MM_SERVICE_RUN to go on, or the exit status main() should return
 * (mm/exit.h): MM_EXIT_OK after --version or a help or dump flag,
 * MM_EXIT_USAGE when the flags or environment do not parse, MM_EXIT_CONFIG
 * when the setup fails (log level, spec, bootstrap); the reason goes to
 * stderr as "program: why" (and to the log for a setup failure). Either way
 * the caller frees @p conf, @p kafka, @p positional, @p spec and
 * @p bootstrap as usual.
 */
int mm_service_start(const mm_conf_schema_t *schema, void *conf, mm_service_common_t *common,
                     int argc, char **argv, mm_kv_list_t *kafka, char ***positional,
                     size_t *n_positional, mm_spec_t *spec, char **bootstrap);

/**
 * @brief When --schema-registry-url is set, make the registry agree with the
 * schema catalog (mm_schema_registry_sync(): register what is missing under
 * its catalog id, verify what is there) and log one line with what was done;
 * otherwise nothing.
 * @returns MM_OK, or the sync's error naming the subject and the id (never the
 * password): MM_ERR_TRANSPORT, MM_ERR_TIMEOUT or MM_ERR_THROTTLED when the
 * registry could not be asked (see mm_service_err_is_runtime), anything else
 * when it disagrees or refuses.
 */
mm_err_t mm_service_schema_registry_sync(const mm_service_common_t *common, char *errstr,
                                         size_t errstr_size);

/** @returns true for a start-up error that retrying may cure (MM_EXIT_FAILURE), false for a
 *  configuration error (MM_EXIT_CONFIG). */
bool mm_service_err_is_runtime(mm_err_t err);

/** @brief Blob options from the common configuration (pointers borrowed). */
void mm_service_blob_opts(const mm_service_common_t *common, mm_blob_opts_t *opts);

/**
 * @brief Start the operational HTTP server (/healthz, /readyz, /metrics) when
 * --http-addr is set, and log the address it listens on.
 * @param metrics rendered by /metrics (borrowed; outlives the server).
 * @param ready readiness callback (see mm_httpd_ready_fn), called on the
 *        server's threads with @p ready_opaque.
 * @param httpd receives the server (free with mm_httpd_destroy), or NULL
 *        when --http-addr is empty.
 * @returns MM_OK, MM_ERR_CONFIG for an address that does not parse, MM_ERR_IO
 * when it cannot be bound.
 */
mm_err_t mm_service_http_start(const mm_service_common_t *common, mm_metrics_t *metrics,
                               mm_httpd_ready_fn ready, void *ready_opaque, mm_httpd_t **httpd,
                               char *errstr, size_t errstr_size);

/** Where a dead-lettered input came from: a consumed Kafka record or a line of a file. */
typedef struct mm_service_dead_letter_source {
    const char *topic; /* NULL when not from Kafka: partition and offset are then -1 */
    int32_t partition;
    int64_t offset;
    const char *file; /* NULL when not from a file: line is then -1 */
    int64_t line;
} mm_service_dead_letter_source_t;

/**
 * @brief Encode the DeadLetter of an input @p service cannot use and append it
 * (framed Avro) to @p out: error_code mm_err_name(@p code), @p reason, where
 * it came from, failed_at now. When the encoding exceeds @p out's limit
 * (MM_ERR_NOMEM) and @p original bytes are present, they are dropped and the
 * record is encoded again, so the coordinates and the reason still go out.
 * @param source where the input came from (NULL: nowhere known).
 * @param partition_key may be NULL.
 * @param original the input's bytes (borrowed); NULL for none.
 * @returns MM_OK, or the encoder's error with @p out unchanged.
 */
mm_err_t mm_service_dead_letter_encode(const char *service,
                                       const mm_service_dead_letter_source_t *source,
                                       const char *partition_key, const void *original,
                                       size_t original_len, mm_err_t code, const char *reason,
                                       mm_buf_t *out, char *errstr, size_t errstr_size);

#endif
