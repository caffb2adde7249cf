/*
 * outbox.c - the transactional outbox (see outbox.h): rows written in the
 * same transaction as their effect, handed to the producer in id order one
 * batch at a time, deleted on a successful delivery report.
 *
 * Workload: bursts of thousands of small rows (one per trained model or
 * decision) that must leave quickly, and long idle stretches. A drain pass is
 * one indexed SELECT of at most batch_cap rows; a delivery report is one
 * DELETE by primary key. Statements come from the connection's statement
 * cache (db.h): a row's insert or delete is not worth a prepare of its own.
 */
#include "mm/outbox.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mm/log.h"
#include "mm/util.h"

#define OUTBOX_DEFAULT_BATCH 500

enum {
    OUTBOX_QUEUED = 1,
    OUTBOX_DELIVERED = 2,
    OUTBOX_DELIVERED_UNDELETED = 3, /* acknowledged, but the delete failed: retry it */
    OUTBOX_FAILED = 4,
};

mm_err_t mm_outbox_insert(mm_db_t *db, const char *topic, const char *key, const mm_buf_t *payload,
                          int64_t now_ms, char *errstr, size_t errstr_size) {
    if (!payload)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "outbox insert: no payload");
    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_cached(
        db, "INSERT INTO outbox (topic, key, payload, created_at_ms) VALUES (?, ?, ?, ?)", &stmt,
        errstr, errstr_size);
    if (err != MM_OK) return err;
    const void *data = payload->data ? (const void *)payload->data : "";
    int rc = topic ? sqlite3_bind_text(stmt, 1, topic, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(stmt, 1);
    if (rc == SQLITE_OK)
        rc = key ? sqlite3_bind_text(stmt, 2, key, -1, SQLITE_TRANSIENT)
                 : sqlite3_bind_null(stmt, 2);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob64(stmt, 3, data, (sqlite3_uint64)payload->len, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 4, (sqlite3_int64)now_ms);
    err = rc == SQLITE_OK ? mm_db_step_done(db, stmt, errstr, errstr_size)
                          : mm_db_err(db, "bind", errstr, errstr_size);
    mm_db_release(db, stmt);
    return err;
}

int64_t mm_outbox_count(mm_db_t *db) {
    char errstr[256];
    int64_t n = 0;
    bool found = false;
    if (mm_db_query_i64(db, "SELECT count(*) FROM outbox", &n, &found, errstr, sizeof(errstr)) !=
        MM_OK)
        return -1;
    return found ? n : 0;
}

mm_err_t mm_outbox_init(mm_outbox_t *outbox, mm_db_t *db, size_t batch_cap, char *errstr,
                        size_t errstr_size) {
    memset(outbox, 0, sizeof(*outbox));
    outbox->db = db;
    outbox->batch_cap = batch_cap ? batch_cap : OUTBOX_DEFAULT_BATCH;
    outbox->batch = calloc(outbox->batch_cap, sizeof(*outbox->batch));
    if (!outbox->batch) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "outbox: out of memory");
    return MM_OK;
}

void mm_outbox_free(mm_outbox_t *outbox) {
    if (!outbox) return;
    for (size_t i = 0; i < outbox->batch_len; i++) free(outbox->batch[i].key);
    free(outbox->batch);
    memset(outbox, 0, sizeof(*outbox));
}

static mm_err_t outbox_delete(mm_db_t *db, int64_t id, char *errstr, size_t errstr_size) {
    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_cached(db, "DELETE FROM outbox WHERE id = ?", &stmt, errstr, errstr_size);
    if (err != MM_OK) return err;
    if (sqlite3_bind_int64(stmt, 1, (sqlite3_int64)id) != SQLITE_OK)
        err = mm_db_err(db, "bind", errstr, errstr_size);
    else
        err = mm_db_step_done(db, stmt, errstr, errstr_size);
    mm_db_release(db, stmt);
    return err;
}

void mm_outbox_dr_cb(void *opaque, void *msg_opaque, mm_err_t err, const char *reason) {
    mm_outbox_t *outbox = opaque;
    mm_outbox_entry_t *entry = msg_opaque;
    if (!outbox || !entry || entry->state != OUTBOX_QUEUED) return;
    if (err == MM_OK) {
        char errstr[256];
        outbox->delivered++;
        if (outbox_delete(outbox->db, entry->id, errstr, sizeof(errstr)) == MM_OK) {
            entry->state = OUTBOX_DELIVERED;
        } else {
            entry->state = OUTBOX_DELIVERED_UNDELETED;
            mm_log_warn("outbox", "row %lld delivered but not deleted yet: %s",
                        (long long)entry->id, errstr);
        }
    } else {
        outbox->failed++;
        entry->state = OUTBOX_FAILED;
        mm_log_warn("outbox", "row %lld not delivered (will retry): %s", (long long)entry->id,
                    reason ? reason : mm_err2str(err));
    }
    if (outbox->pending > 0) outbox->pending--;
}

/*
 * Close a batch whose reports are all in. A failed row with a newer
 * delivered row for the same key is dropped: sent again, it would land
 * after the newer record on the compacted topic and win.
 */
static mm_err_t outbox_settle(mm_outbox_t *outbox, char *errstr, size_t errstr_size) {
    mm_err_t err = MM_OK;
    for (size_t i = 0; i < outbox->batch_len; i++) {
        mm_outbox_entry_t *e = &outbox->batch[i];
        if (e->state == OUTBOX_DELIVERED_UNDELETED) {
            if (outbox_delete(outbox->db, e->id, errstr, errstr_size) == MM_OK)
                e->state = OUTBOX_DELIVERED;
            else
                err = MM_ERR_BUSY;
        }
    }
    if (err != MM_OK) return err; /* keep the batch: retry the deletes before sending more */
    for (size_t i = 0; i < outbox->batch_len; i++) {
        mm_outbox_entry_t *e = &outbox->batch[i];
        if (e->state != OUTBOX_FAILED || !e->key) continue;
        for (size_t j = 0; j < outbox->batch_len; j++) {
            mm_outbox_entry_t *later = &outbox->batch[j];
            if (later->state == OUTBOX_DELIVERED && later->id > e->id && later->key &&
                strcmp(later->key, e->key) == 0) {
                if (outbox_delete(outbox->db, e->id, errstr, errstr_size) != MM_OK)
                    return MM_ERR_BUSY;
                e->state = OUTBOX_DELIVERED;
                outbox->superseded++;
                break;
            }
        }
    }
    for (size_t i = 0; i < outbox->batch_len; i++) {
        free(outbox->batch[i].key);
        outbox->batch[i].key = NULL;
    }
    outbox->batch_len = 0;
    return MM_OK;
}

mm_err_t mm_outbox_drain(mm_outbox_t *outbox, mm_kafka_producer_t *producer, size_t *queued,
                         char *errstr, size_t errstr_size) {
    if (queued) *queued = 0;
    if (outbox->pending > 0) return MM_OK; /* the batch is still in flight */
    mm_err_t err = MM_OK;
    if (outbox->batch_len > 0) {
        err = outbox_settle(outbox, errstr, errstr_size);
        if (err != MM_OK) return err;
    }
    sqlite3_stmt *stmt = NULL;
    err = mm_db_cached(outbox->db, "SELECT id, topic, key, payload FROM outbox ORDER BY id LIMIT ?",
                       &stmt, errstr, errstr_size);
    if (err != MM_OK) return err;
    if (sqlite3_bind_int64(stmt, 1, (sqlite3_int64)outbox->batch_cap) != SQLITE_OK) {
        err = mm_db_err(outbox->db, "bind", errstr, errstr_size);
        mm_db_release(outbox->db, stmt);
        return err;
    }
    while ((err = mm_db_step_row(outbox->db, stmt, errstr, errstr_size)) == MM_OK) {
        mm_outbox_entry_t *entry = &outbox->batch[outbox->batch_len];
        const char *topic = (const char *)sqlite3_column_text(stmt, 1);
        const unsigned char *key = sqlite3_column_text(stmt, 2);
        const void *payload = sqlite3_column_blob(stmt, 3);
        size_t payload_len = (size_t)sqlite3_column_bytes(stmt, 3);
        entry->id = sqlite3_column_int64(stmt, 0);
        entry->key = key ? strdup((const char *)key) : NULL;
        entry->state = OUTBOX_QUEUED;
        outbox->batch_len++;
        outbox->pending++;
        char why[256];
        mm_err_t perr = mm_kafka_produce(producer, topic ? topic : "", entry->key,
                                         entry->key ? strlen(entry->key) : 0, payload, payload_len,
                                         entry, 0, why, sizeof(why));
        if (perr != MM_OK) {
            /* Stop here so rows of one key never overtake each other. */
            entry->state = OUTBOX_FAILED;
            outbox->pending--;
            if (perr != MM_ERR_BUSY)
                mm_log_warn("outbox", "row %lld not queued: %s", (long long)entry->id, why);
            err = MM_ERR_NOT_FOUND;
            break;
        }
        if (queued) (*queued)++;
        if (outbox->batch_len == outbox->batch_cap) {
            err = MM_ERR_NOT_FOUND;
            break;
        }
    }
    mm_db_release(outbox->db, stmt);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

mm_err_t mm_outbox_flush(mm_outbox_t *outbox, mm_kafka_producer_t *producer, int timeout_ms,
                         char *errstr, size_t errstr_size) {
    int64_t deadline = mm_mono_ms() + timeout_ms;
    for (;;) {
        mm_err_t err = mm_outbox_drain(outbox, producer, NULL, errstr, errstr_size);
        if (err != MM_OK && err != MM_ERR_BUSY) return err;
        if (outbox->pending == 0 && outbox->batch_len == 0 && mm_outbox_count(outbox->db) == 0)
            return MM_OK;
        if (mm_mono_ms() >= deadline) break;
        mm_kafka_producer_poll(producer, 50);
    }
    /* Settle what came back so counts are right, even when time is up. */
    if (outbox->pending == 0 && outbox->batch_len > 0) outbox_settle(outbox, errstr, errstr_size);
    int64_t left = mm_outbox_count(outbox->db);
    return mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size,
                   "outbox: %lld rows still undelivered after %d ms", (long long)left, timeout_ms);
}
