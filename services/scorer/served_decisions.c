/*
 * served_decisions.c - mm-scorer serve's decisions in the state store (see
 * served_decisions.h).
 *
 * Workload: at start, one upsert per mm.decisions record (up to ~100,000,
 * in transactions of a few hundred, by the decisions thread); then a
 * decision now and then. Reads: one primary-key lookup per request whose
 * key is not in the worker's memory, through a statement prepared once, and
 * a copy of the row with ten pointer fix-ups (no decoding).
 */
#include "served_decisions.h"

#include <stdlib.h>
#include <string.h>

#include "mm/buf.h"

/* A stored decision's bound (its strings are ids, a reason and a URI). */
#define DECISION_MAX (1u << 20)

struct mm_served_decisions {
    mm_db_t *db;
    sqlite3_stmt *st_insert; /* a key's first decision; nothing when it has one */
    sqlite3_stmt *st_update; /* a later decision */
    sqlite3_stmt *st_get;
    mm_buf_t enc;
    /* The last read decision: the row's bytes with its strings pointing into them. */
    void *row;
    size_t row_cap;
};

void mm_served_decision_strings(mm_model_decision_t *d,
                                const char **out[MM_SERVED_DECISION_STRINGS]) {
    const char **f[MM_SERVED_DECISION_STRINGS] = {&d->partition_key,
                                                  &d->dataset,
                                                  &d->spec_hash,
                                                  &d->reason,
                                                  &d->candidate_train_id,
                                                  &d->production.train_id,
                                                  &d->production.algorithm,
                                                  &d->production.artifact_uri,
                                                  &d->production.artifact_sha256,
                                                  &d->production.load_id};
    memcpy(out, f, sizeof(f));
}

mm_served_decisions_t *mm_served_decisions_open(mm_db_t *db, char *errstr, size_t errstr_size) {
    mm_served_decisions_t *sd = calloc(1, sizeof(*sd));
    if (!sd) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "served decisions: out of memory");
        return NULL;
    }
    sd->db = db;
    mm_buf_init(&sd->enc, DECISION_MAX);
    if (mm_db_prepare(db, &sd->st_insert,
                      "INSERT INTO served_decisions(partition_key, seq, decision) "
                      "VALUES (?1, ?2, ?3) ON CONFLICT(partition_key) DO NOTHING",
                      errstr, errstr_size) ||
        mm_db_prepare(db, &sd->st_update,
                      "UPDATE served_decisions SET seq = ?2, decision = ?3 "
                      "WHERE partition_key = ?1",
                      errstr, errstr_size) ||
        mm_db_prepare(db, &sd->st_get,
                      "SELECT seq, decision FROM served_decisions WHERE partition_key = ?1", errstr,
                      errstr_size)) {
        mm_served_decisions_close(sd);
        return NULL;
    }
    return sd;
}

void mm_served_decisions_close(mm_served_decisions_t *sd) {
    if (!sd) return;
    sqlite3_finalize(sd->st_insert);
    sqlite3_finalize(sd->st_update);
    sqlite3_finalize(sd->st_get);
    mm_buf_free(&sd->enc);
    free(sd->row);
    free(sd);
}

mm_err_t mm_served_decisions_clear(mm_served_decisions_t *sd, char *errstr, size_t errstr_size) {
    return mm_db_exec(sd->db, "DELETE FROM served_decisions", errstr, errstr_size);
}

/*
 * @p d member by member into zeroed bytes. A struct copy keeps the source's
 * padding, which is indeterminate, and the record's bytes are written to the
 * state store as they are: Valgrind found uninitialised bytes written to the
 * SQLite WAL and its checksums branching on them. A member added to
 * mm_model_decision_t or mm_production_model_t must be added here.
 */
static void copy_members(mm_model_decision_t *to, const mm_model_decision_t *d) {
    memset(to, 0, sizeof(*to));
    to->partition_key = d->partition_key;
    to->dataset = d->dataset;
    to->spec_hash = d->spec_hash;
    to->decision = d->decision;
    to->reason = d->reason;
    to->candidate_train_id = d->candidate_train_id;
    to->candidate_version = d->candidate_version;
    to->decided_at_ms = d->decided_at_ms;
    to->has_production = d->has_production;
    const mm_production_model_t *from = &d->production;
    mm_production_model_t *p = &to->production;
    p->train_id = from->train_id;
    p->version = from->version;
    p->algorithm = from->algorithm;
    p->artifact_uri = from->artifact_uri;
    p->artifact_sha256 = from->artifact_sha256;
    p->artifact_size = from->artifact_size;
    p->data_end_ms = from->data_end_ms;
    p->n_rows = from->n_rows;
    p->load_id = from->load_id;
}

/* @p d as a row: the record with each string as its offset + 1 after it (0: NULL), then them. */
static mm_err_t encode(mm_served_decisions_t *sd, const mm_model_decision_t *d, char *errstr,
                       size_t errstr_size) {
    mm_model_decision_t head;
    copy_members(&head, d);
    const char **fields[MM_SERVED_DECISION_STRINGS];
    mm_served_decision_strings(&head, fields);
    mm_buf_reset(&sd->enc);
    mm_err_t err = mm_buf_append(&sd->enc, &head, sizeof(head));
    size_t at = 0;
    for (size_t i = 0; !err && i < MM_SERVED_DECISION_STRINGS; i++) {
        const char *str = *fields[i];
        if (!str) continue;
        size_t len = strlen(str) + 1;
        err = mm_buf_append(&sd->enc, str, len);
        *fields[i] = (const char *)(uintptr_t)(at + 1);
        at += len;
    }
    if (err)
        return mm_errf(err, errstr, errstr_size, "%s: decision over %u bytes", d->partition_key,
                       DECISION_MAX);
    memcpy(sd->enc.data, &head, sizeof(head)); /* with the offsets */
    return MM_OK;
}

mm_err_t mm_served_decisions_put(mm_served_decisions_t *sd, const mm_model_decision_t *d,
                                 int64_t seq, bool *new_key, char *errstr, size_t errstr_size) {
    *new_key = false;
    if (!d->partition_key)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "served decisions: a decision without a partition key");
    mm_err_t err = encode(sd, d, errstr, errstr_size);
    if (err) return err;
    err = mm_db_bind(sd->db, sd->st_insert, errstr, errstr_size, "tib", d->partition_key, seq,
                     (const void *)sd->enc.data, sd->enc.len);
    if (!err) err = mm_db_step_done(sd->db, sd->st_insert, errstr, errstr_size);
    if (err) return err;
    if (sqlite3_changes(sd->db->sqlite) == 1) {
        *new_key = true;
        return MM_OK;
    }
    err = mm_db_bind(sd->db, sd->st_update, errstr, errstr_size, "tib", d->partition_key, seq,
                     (const void *)sd->enc.data, sd->enc.len);
    if (!err) err = mm_db_step_done(sd->db, sd->st_update, errstr, errstr_size);
    return err;
}

/* The row @p blob into sd->row, its strings pointed at; NULL when it is not a stored decision. */
static const mm_model_decision_t *decode(mm_served_decisions_t *sd, const void *blob, size_t len,
                                         bool *nomem) {
    *nomem = false;
    const size_t head = sizeof(mm_model_decision_t);
    if (!blob || len < head) return NULL;
    if (len > sd->row_cap) {
        void *n = realloc(sd->row, len);
        if (!n) {
            *nomem = true;
            return NULL;
        }
        sd->row = n;
        sd->row_cap = len;
    }
    memcpy(sd->row, blob, len);
    mm_model_decision_t *d = sd->row;
    const char *strings = (const char *)sd->row + head;
    size_t n_strings = len - head;
    const char **fields[MM_SERVED_DECISION_STRINGS];
    mm_served_decision_strings(d, fields);
    for (size_t i = 0; i < MM_SERVED_DECISION_STRINGS; i++) {
        uintptr_t off = (uintptr_t)*fields[i];
        if (!off) continue;
        if (off - 1 >= n_strings || !memchr(strings + off - 1, '\0', n_strings - (off - 1)))
            return NULL;
        *fields[i] = strings + off - 1;
    }
    return d;
}

mm_err_t mm_served_decisions_get(mm_served_decisions_t *sd, const char *key, int64_t known_seq,
                                 int64_t *seq, const mm_model_decision_t **out, bool *found,
                                 char *errstr, size_t errstr_size) {
    *found = false;
    *seq = -1;
    *out = NULL;
    sqlite3_stmt *st = sd->st_get;
    mm_err_t err = MM_OK;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
        err = mm_db_err(sd->db, "bind", errstr, errstr_size);
    if (!err) err = mm_db_step_row(sd->db, st, errstr, errstr_size);
    if (err == MM_OK) {
        *found = true;
        *seq = sqlite3_column_int64(st, 0);
        if (*seq != known_seq) {
            const void *blob = sqlite3_column_blob(st, 1);
            size_t len = (size_t)sqlite3_column_bytes(st, 1);
            bool nomem;
            *out = decode(sd, blob, len, &nomem);
            if (!*out)
                err = nomem ? mm_errf(MM_ERR_NOMEM, errstr, errstr_size,
                                      "served decisions: %s: out of memory", key)
                            : mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                                      "served decisions: %s: the stored row is not a decision "
                                      "(%zu bytes)",
                                      key, len);
        }
    } else if (err == MM_ERR_NOT_FOUND) {
        err = MM_OK;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return err;
}
