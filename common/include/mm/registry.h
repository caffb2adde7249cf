/*
 * registry.h - the model registry (SQLite): its schema and migrations, its
 * rows (versions, aliases, tags, the audit log), the queries operators and
 * reports ask, and the promotion primitives (judged version insert, manual
 * promote and rollback, a decision into the registry's outbox, the copy of
 * an approved artifact to production/).
 *
 * Owned by mm-promoter, which writes it as it judges ModelTrained records;
 * read and changed by hand through mmctl. The promotion *policy* (thresholds,
 * champion/challenger margins) is not here: it belongs to mm-promoter.
 *
 * Every function works on an mm_db_t opened by mm_registry_open(); a handle
 * belongs to one thread at a time. Functions that change several rows say
 * whether they open their own transaction or expect the caller's.
 *
 * The schema also holds the consumer's consumed_offsets table (written by
 * mm-promoter in the same transaction as a decision) and the outbox table
 * (mm/outbox.h).
 */
#ifndef MM_REGISTRY_H
#define MM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/blob.h"
#include "mm/db.h"
#include "mm/err.h"
#include "mm/model.h"
#include "mm/records.h"

/* Aliases a key can carry in the registry. */
#define MM_ALIAS_CHAMPION   "champion"
#define MM_ALIAS_PREVIOUS   "previous"
#define MM_ALIAS_CHALLENGER "challenger"
#define MM_ALIAS_FALLBACK   "fallback" /* the declared fallback served while there is no champion */

/* The audit actor of a manual operation that names none: the admin CLI. */
#define MM_REGISTRY_DEFAULT_ACTOR "mmctl"

/* Longest reason kept for a decision (audit row, ModelDecision, outcome). */
#define MM_REGISTRY_REASON_MAX 512

/* ------------------------------------------------------------ schema */

/**
 * @brief Open (creating and migrating) the registry database at @p path.
 * @returns a handle owned by the caller (mm_db_close), or NULL with errstr set.
 */
mm_db_t *mm_registry_open(const char *path, char *errstr, size_t errstr_size);

/** @returns the registry schema version the code migrates to. */
int mm_registry_schema_version(void);

/* ------------------------------------------------------------ versions */

/*
 * What a judged candidate became (the versions table's status column). A
 * zeroed value is REJECTED: nothing reaches production by default.
 */
typedef enum mm_registry_status {
    MM_REGISTRY_STATUS_REJECTED = 0, /* failed the policy; production unchanged */
    MM_REGISTRY_STATUS_APPROVED = 1, /* passed the policy and became champion */
    MM_REGISTRY_STATUS_FALLBACK = 2, /* a declared fallback: never a champion on merit */
} mm_registry_status_t;

/** @returns "rejected", "approved" or "fallback" (the status column's spelling). */
const char *mm_registry_status_name(mm_registry_status_t status);

/** One row of the versions table (strings owned; clear with mm_registry_version_clear). */
typedef struct mm_registry_version {
    int32_t version;
    char *train_id;
    char *dataset;
    char *spec_hash;
    char *algorithm;
    char *artifact_uri;   /* the candidate blob */
    char *production_uri; /* NULL until copied to production/ */
    char *sha256;
    char *metrics;         /* JSON object name -> value (null = NaN) */
    char *baseline;        /* likewise, the seasonal-naive baseline's */
    char *load_id;         /* may be NULL */
    char *status;          /* "approved", "rejected" or "fallback" */
    char *reason;          /* the policy's reason, every check with its numbers */
    char *fallback_reason; /* why training fell back (declared fallbacks); may be NULL */
    char *failed_check;    /* the first check a rejected version failed; may be NULL */
    char *aliases;         /* comma-separated aliases naming this version; NULL if none */
    char *adjustments;     /* what training changed in the config for the key; may be NULL */
    int64_t size;
    int64_t data_start_ms;
    int64_t data_end_ms;
    int64_t n_rows;
    int64_t created_at_ms;
    bool fallback;
} mm_registry_version_t;

/** @brief Free a row's strings and zero it. Accepts a zeroed row. */
void mm_registry_version_clear(mm_registry_version_t *v);

/**
 * @brief Load (@p partition_key, @p version) into @p v (cleared by the caller
 * afterwards). *@p found is false (MM_OK) when there is no such row.
 */
mm_err_t mm_registry_version_get(mm_db_t *db, const char *partition_key, int32_t version,
                                 mm_registry_version_t *v, bool *found, char *errstr,
                                 size_t errstr_size);

/** @brief The key's champion row; *@p found false when the key has none. */
mm_err_t mm_registry_champion_get(mm_db_t *db, const char *partition_key, mm_registry_version_t *v,
                                  bool *found, char *errstr, size_t errstr_size);

/**
 * @brief The model the key is served with: its champion, else the version its
 * fallback alias names (*@p is_fallback true); *@p found false when neither.
 */
mm_err_t mm_registry_served_get(mm_db_t *db, const char *partition_key, mm_registry_version_t *v,
                                bool *found, bool *is_fallback, char *errstr, size_t errstr_size);

/** @brief Called once per version, oldest first; the row is borrowed. Return false to stop. */
typedef bool(mm_registry_version_cb_t)(void *opaque, const mm_registry_version_t *v);

/** @brief Every version of @p partition_key, oldest first. */
mm_err_t mm_registry_versions(mm_db_t *db, const char *partition_key, mm_registry_version_cb_t *cb,
                              void *opaque, char *errstr, size_t errstr_size);

/** @brief How many versions @p partition_key has (0 for an unknown key). */
mm_err_t mm_registry_version_count(mm_db_t *db, const char *partition_key, int64_t *count,
                                   char *errstr, size_t errstr_size);

/** @brief The version number the key's next registered candidate gets (newest + 1). */
mm_err_t mm_registry_next_version(mm_db_t *db, const char *partition_key, int32_t *version,
                                  char *errstr, size_t errstr_size);

/**
 * @brief Look up a registered train_id: *@p version 0 when unknown, else its
 * version, its status, and its key (copied into @p partition_key).
 */
mm_err_t mm_registry_find_train_id(mm_db_t *db, const char *train_id, char *partition_key,
                                   size_t partition_key_size, int32_t *version,
                                   mm_registry_status_t *status, char *errstr, size_t errstr_size);

/** A judged candidate, as the promoter registers it. Everything borrowed. */
typedef struct mm_registry_judged {
    const mm_model_trained_t *rec; /* the ModelTrained record judged */
    int32_t version;               /* from mm_registry_next_version() */
    const char *dataset;           /* used when rec->dataset is NULL */
    const char *production_uri;    /* the production copy; NULL when none was made */
    mm_registry_status_t status;
    const char *reason;       /* the policy's reason, stated in full */
    const char *failed_check; /* kept as tag failed_check when rejected; may be NULL */
    const char *source_topic; /* where the record was consumed; NULL when not from Kafka */
    int32_t source_partition;
    int64_t source_offset;
    int64_t now_ms;
} mm_registry_judged_t;

/**
 * @brief Insert a judged candidate's version row, plus its tags (failed_check
 * when rejected, fallback when the model is a declared fallback), inside the
 * caller's transaction. Aliases are not touched.
 */
mm_err_t mm_registry_version_insert(mm_db_t *db, const mm_registry_judged_t *judged, char *errstr,
                                    size_t errstr_size);

/* ------------------------------------------------------------ aliases */

/** @brief The version @p alias names for the key; 0 when unset. */
mm_err_t mm_registry_alias_get(mm_db_t *db, const char *partition_key, const char *alias,
                               int32_t *version, char *errstr, size_t errstr_size);

/** @brief Point @p alias at @p version; a version <= 0 removes the alias. */
mm_err_t mm_registry_alias_set(mm_db_t *db, const char *partition_key, const char *alias,
                               int32_t version, int64_t now_ms, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------ audit log */

/**
 * @brief Append an audit row. @p version <= 0 and @p decision NULL are stored
 * as NULL. @p action: judge | promote | rollback | dead_letter.
 */
mm_err_t mm_registry_audit_add(mm_db_t *db, int64_t now_ms, const char *partition_key,
                               int32_t version, const char *action, const char *decision,
                               const char *reason, const char *actor, char *errstr,
                               size_t errstr_size);

/** One audit row, borrowed for the duration of a callback. */
typedef struct mm_registry_audit_entry {
    int64_t at_ms;
    int32_t version; /* 0 when the row names none */
    const char *action;
    const char *decision; /* NULL when the row names none */
    const char *reason;
    const char *actor;
} mm_registry_audit_entry_t;

typedef bool(mm_registry_audit_cb_t)(void *opaque, const mm_registry_audit_entry_t *entry);

/** @brief The key's newest @p limit audit rows, newest first. */
mm_err_t mm_registry_audit_recent(mm_db_t *db, const char *partition_key, int limit,
                                  mm_registry_audit_cb_t *cb, void *opaque, char *errstr,
                                  size_t errstr_size);

/* ------------------------------------------------------------ queries and reports */

/** One key of the registry as `models list` shows it; borrowed for a callback. */
typedef struct mm_registry_key_summary {
    const char *partition_key;
    int64_t versions;
    int32_t champion; /* 0 = none; then algorithm is NULL and value/baseline NaN */
    int32_t previous; /* 0 = none */
    int32_t challenger;
    int32_t fallback_version; /* the fallback alias: served while there is no champion; 0 = none */
    const char *algorithm;
    double value;    /* the champion's value of the requested metric; NaN if absent */
    double baseline; /* its baseline's value; NaN if absent */
    bool fallback;   /* the champion is a declared fallback */
} mm_registry_key_summary_t;

typedef bool(mm_registry_key_cb_t)(void *opaque, const mm_registry_key_summary_t *key);

/** @brief One summary per key with a version, in key order, showing metric @p metric. */
mm_err_t mm_registry_list(mm_db_t *db, const char *metric, mm_registry_key_cb_t *cb, void *opaque,
                          char *errstr, size_t errstr_size);

typedef struct mm_registry_metric_mean {
    int64_t n;    /* champions with both the model's and the baseline's value */
    double model; /* mean over those champions; NaN when n == 0 */
    double baseline;
} mm_registry_metric_mean_t;

typedef struct mm_registry_stats {
    int64_t keys;              /* keys with at least one registered version */
    int64_t versions;          /* registered versions (every judged candidate) */
    int64_t approved;          /* versions approved by policy */
    int64_t rejected;          /* versions rejected by policy */
    int64_t fallback_versions; /* versions registered as declared fallbacks */
    int64_t fallback;          /* keys whose newest version is a declared fallback */
    int64_t fallback_served;   /* keys without a champion that are served a declared fallback */
    int64_t champions;         /* keys with a champion (a production model) */
    int64_t decided_keys;      /* keys with at least one decision in the audit log */
    int64_t promoted;          /* manual promotions */
    int64_t rolled_back;       /* manual rollbacks */
    int64_t outbox;            /* decisions and dead letters not yet delivered */
    mm_registry_metric_mean_t metrics[MM_METRIC__COUNT]; /* champions vs their baselines */
} mm_registry_stats_t;

/** @brief Count the registry for reports (mmctl report). */
mm_err_t mm_registry_stats(mm_db_t *db, mm_registry_stats_t *stats, char *errstr,
                           size_t errstr_size);

/* ------------------------------------------------------------ promotion primitives */

/** A decision to put into the outbox. Everything borrowed. */
typedef struct mm_registry_decision {
    const char *topic; /* e.g. MM_TOPIC_DECISIONS */
    const char *partition_key;
    const char *dataset;
    const char *spec_hash;
    mm_decision_kind_t kind;
    const char *reason;
    const char *candidate_train_id;
    int32_t candidate_version;
    const mm_registry_version_t *production; /* the key's production model; NULL = none */
    int64_t now_ms;
} mm_registry_decision_t;

/** @brief Encode a ModelDecision and insert it into the outbox, inside the caller's transaction. */
mm_err_t mm_registry_decision_to_outbox(mm_db_t *db, const mm_registry_decision_t *decision,
                                        char *errstr, size_t errstr_size);

/**
 * @brief Verify a candidate against its recorded size and sha256
 * (mm_blob_get_verified), then copy it to @p production without ever
 * overwriting (an identical copy already there is success).
 * @returns MM_ERR_NOT_FOUND / MM_ERR_INTEGRITY when the artifact itself is
 * unusable; MM_ERR_INVALID_ARG without a @p blob; other errors are the
 * store's (retry).
 */
mm_err_t mm_registry_artifact_publish(mm_blob_t *blob, const char *candidate,
                                      const char *production, const char *sha256_hex, int64_t size,
                                      char *errstr, size_t errstr_size);

/** What a manual operation did. */
typedef struct mm_registry_change {
    bool changed; /* false when nothing had to change */
    mm_decision_kind_t decision;
    int32_t version;  /* the version the decision is about */
    int32_t champion; /* the key's champion after the operation */
    char reason[MM_REGISTRY_REASON_MAX];
} mm_registry_change_t;

/**
 * @brief Make @p version of @p partition_key the champion (the old champion
 * becomes previous), writing an audit row and a MM_DECISION_PROMOTED
 * decision into the outbox (topic mm.decisions) in one transaction. A
 * version never copied to production/ (a rejected one) is verified and
 * copied first, which needs @p blob (may be NULL otherwise). Promoting the
 * current champion changes nothing (@p change->changed false).
 * @param actor NULL or empty: MM_REGISTRY_DEFAULT_ACTOR.
 * @returns MM_ERR_NOT_FOUND for an unknown key or version.
 */
mm_err_t mm_registry_promote(mm_db_t *db, mm_blob_t *blob, const char *partition_key,
                             int32_t version, const char *reason, const char *actor,
                             mm_registry_change_t *change, char *errstr, size_t errstr_size);

/**
 * @brief Make the previous champion of @p partition_key the champion again.
 * The new previous is the newest production version older than it (none:
 * the alias is removed), so repeated rollbacks walk back through history.
 * Writes an audit row and a MM_DECISION_ROLLED_BACK decision into the outbox.
 * @returns MM_ERR_NOT_FOUND for an unknown key or when there is no previous.
 */
mm_err_t mm_registry_rollback(mm_db_t *db, const char *partition_key, const char *reason,
                              const char *actor, mm_registry_change_t *change, char *errstr,
                              size_t errstr_size);

#endif
