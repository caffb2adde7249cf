/*
 * schema_registry.h - make a Confluent-compatible schema registry agree with
 * the schema catalog (schemas/catalog.json), so that tools reading Avro
 * through a registry decode the topics. The bytes on the wire do not change:
 * the registry is told the catalog's ids, never asked for new ones.
 *
 * Every schema of the catalog, current and retired, belongs under the subject
 * "<topic>-value" of the topic its record type travels on (TopicNameStrategy;
 * docs/ARCHITECTURE.md, "Topics and records"), retired ids before the current
 * one. For each (subject, id) the registry must map the id to the same Avro
 * schema (compared as parsed Avro schemas, not as text) and list the subject
 * among the id's subjects; the subject's latest version must be the current
 * id. What is missing is registered in IMPORT mode (PUT /mode/<subject>
 * {"mode":"IMPORT"}, POST /subjects/<subject>/versions {"schema","id"}) and
 * the subject's mode is restored afterwards; what disagrees is an error
 * naming the subject, the id and what differs. Nothing is ever deleted.
 *
 * Credentials (basic-auth user and password) never appear in an error message
 * or a log line; a URL with user:password@ is refused (MM_ERR_CONFIG).
 *
 * Workload: once at a service's start-up or per `mmctl schemas sync`; a few
 * dozen HTTP requests.
 */
#ifndef MM_SCHEMA_REGISTRY_H
#define MM_SCHEMA_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/err.h"

/* Subjects and ids the catalog can hold (6 record types, a few retired ids each). */
#define MM_SCHEMA_REGISTRY_MAX_ENTRIES 32
#define MM_SCHEMA_REGISTRY_SUBJECT_MAX 256

typedef struct mm_schema_registry_opts {
    const char *url;          /* base URL: http(s)://host:port[/path], no credentials */
    const char *user;         /* basic auth; NULL or "" for none */
    const char *password;     /* secret; never logged */
    const char *topic_prefix; /* prepended to every topic name; NULL or "" for none */
    bool verify_only;         /* check only: anything missing is an error */
    long timeout_ms;          /* per request; 0 = 10000 */
    int attempts;             /* per request, on transport errors, 429 and 5xx; 0 = 4 */
} mm_schema_registry_opts_t;

typedef enum mm_schema_registry_state {
    MM_SCHEMA_REGISTRY_PLANNED = 0, /* not looked at (yet) */
    MM_SCHEMA_REGISTRY_PRESENT,     /* the registry already agreed */
    MM_SCHEMA_REGISTRY_REGISTERED,  /* registered by this run */
} mm_schema_registry_state_t;

/** One schema of the catalog and where it belongs in the registry. */
typedef struct mm_schema_registry_entry {
    char subject[MM_SCHEMA_REGISTRY_SUBJECT_MAX]; /* "<prefix><topic>-value" */
    int32_t id;
    const char *record; /* "manymodels.ModelDecision" (static) */
    const char *schema; /* the embedded .avsc text (static) */
    bool retired;       /* a retired id (readers still accept it) */
    mm_schema_registry_state_t state;
} mm_schema_registry_entry_t;

typedef struct mm_schema_registry_report {
    mm_schema_registry_entry_t entries[MM_SCHEMA_REGISTRY_MAX_ENTRIES];
    size_t n_entries;
    size_t n_registered;
} mm_schema_registry_report_t;

/**
 * @brief The catalog's schemas and their subjects, in the order a sync
 * handles them (by subject; retired ids first, then the current one), every
 * state MM_SCHEMA_REGISTRY_PLANNED. No network.
 * @returns MM_OK, MM_ERR_SCHEMA when the embedded catalog cannot be read,
 * MM_ERR_INVALID_ARG when a subject would be too long.
 */
mm_err_t mm_schema_registry_plan(const char *topic_prefix, mm_schema_registry_report_t *report,
                                 char *errstr, size_t errstr_size);

/** @returns the subject of @p topic: "<prefix><topic>-value" into @p out (false if too long). */
bool mm_schema_registry_subject(const char *topic_prefix, const char *topic, char *out,
                                size_t out_size);

/**
 * @brief Make the registry at @p opts->url agree with the catalog (or, with
 * verify_only, check that it does). @p report receives every entry with its
 * state, also on failure (entries after the failing one stay PLANNED).
 * @returns MM_OK; MM_ERR_CONFIG for a missing or unusable URL;
 * MM_ERR_NOT_FOUND (verify only) when an id or subject is missing;
 * MM_ERR_SCHEMA when the registry maps an id to another schema, or a subject's
 * latest version is not the catalog's current id; MM_ERR_AUTH when the
 * registry refuses the credentials; MM_ERR_UNSUPPORTED when something is missing
 * and the registry has no IMPORT mode (nothing is registered then: such a
 * registry numbers new schemas itself); MM_ERR_EXISTS (409) or MM_ERR_HTTP when it
 * refuses a registration (its error code and message quoted); MM_ERR_TRANSPORT,
 * MM_ERR_TIMEOUT, MM_ERR_THROTTLED or MM_ERR_HTTP when it cannot be asked.
 * The message names the subject and the id.
 */
mm_err_t mm_schema_registry_sync(const mm_schema_registry_opts_t *opts,
                                 mm_schema_registry_report_t *report, char *errstr,
                                 size_t errstr_size);

/** @returns "planned", "present" or "registered". */
const char *mm_schema_registry_state_name(mm_schema_registry_state_t state);

#endif
