/*
 * stream_outbox.c - at the start of mm-scorer's stream mode, the answers
 * left in the state store's outbox that already reached mm.predictions are
 * taken out of it, so a restart does not send them again.
 *
 * An outbox row is deleted when the poll loop serves its delivery report
 * (mm/outbox.h). A process killed between the broker's acknowledgement and
 * that delete leaves acknowledged rows behind, and the outbox sends whatever
 * is left at the next start: the last batch of answers went out twice
 * (fault scenario 5, docs/reliability.md). No delete can be made atomic with
 * the broker's append, so the start looks: it reads the newest records of
 * mm.predictions (mm_kafka_tail_scan), back to shortly before the oldest
 * row was written, and deletes every row whose key and payload are there.
 * A PredictionBatch names its request id, so two rows never carry the same
 * payload. Rows not found go out as before. A topic that cannot be read
 * leaves the outbox as it is (at least once, as before), with a warning.
 *
 * Workload: once per start, and only when the outbox holds answers: usually
 * one small window of the topic per partition.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mm/log.h"
#include "mm/util.h"
#include "stream_int.h"

/* How far before the oldest row the topic is read: clock steps between the row's commit
 * and its record's CreateTime (same host, normally 0). */
#define RECONCILE_MARGIN_MS 10000
#define RECONCILE_TIMEOUT   60000

typedef struct pending_row {
    int64_t id;
    char *key;
    void *payload;
    size_t payload_len;
    bool delivered;
} pending_row_t;

typedef struct pending {
    pending_row_t *rows;
    size_t n, cap;
    size_t delivered;
    size_t *slots;  /* open addressing by payload hash: index + 1 into rows, 0 empty */
    size_t n_slots; /* a power of two, at least twice n */
} pending_t;

static void pending_free(pending_t *p) {
    for (size_t i = 0; i < p->n; i++) {
        free(p->rows[i].key);
        free(p->rows[i].payload);
    }
    free(p->rows);
    free(p->slots);
}

static uint64_t payload_hash(const void *data, size_t len) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ ((const unsigned char *)data)[i]) * 1099511628211ULL;
    return h;
}

/* Index the rows by payload, so each record read costs one lookup whatever the backlog. */
static mm_err_t index_rows(pending_t *p, char *errstr, size_t errstr_size) {
    p->n_slots = 16;
    while (p->n_slots < 2 * p->n) p->n_slots *= 2;
    p->slots = calloc(p->n_slots, sizeof(*p->slots));
    if (!p->slots) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
    for (size_t i = 0; i < p->n; i++) {
        size_t at = (size_t)payload_hash(p->rows[i].payload, p->rows[i].payload_len);
        while (p->slots[at & (p->n_slots - 1)]) at++;
        p->slots[at & (p->n_slots - 1)] = i + 1;
    }
    return MM_OK;
}

/* The answers waiting in the outbox; *oldest_ms receives the oldest row's creation time. */
static mm_err_t load_rows(mm_db_t *db, pending_t *p, int64_t *oldest_ms, char *errstr,
                          size_t errstr_size) {
    sqlite3_stmt *stmt = NULL;
    mm_err_t err = mm_db_prepare(db, &stmt,
                                 "SELECT id, key, payload, created_at_ms FROM outbox "
                                 "WHERE topic = ?1 ORDER BY id",
                                 errstr, errstr_size);
    if (!err) err = mm_db_bind(db, stmt, errstr, errstr_size, "t", MM_TOPIC_PREDICTIONS);
    *oldest_ms = INT64_MAX;
    while (!err && (err = mm_db_step_row(db, stmt, errstr, errstr_size)) == MM_OK) {
        if (p->n == p->cap) {
            size_t cap = p->cap ? p->cap * 2 : 64;
            pending_row_t *rows = realloc(p->rows, cap * sizeof(*rows));
            if (!rows) {
                err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
                break;
            }
            p->rows = rows;
            p->cap = cap;
        }
        pending_row_t *r = &p->rows[p->n];
        memset(r, 0, sizeof(*r));
        const unsigned char *key = sqlite3_column_text(stmt, 1);
        r->id = sqlite3_column_int64(stmt, 0);
        r->payload_len = (size_t)sqlite3_column_bytes(stmt, 2);
        r->key = key ? strdup((const char *)key) : NULL;
        r->payload = malloc(r->payload_len ? r->payload_len : 1);
        if ((key && !r->key) || !r->payload) {
            free(r->key);
            free(r->payload);
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
            break;
        }
        if (r->payload_len) memcpy(r->payload, sqlite3_column_blob(stmt, 2), r->payload_len);
        p->n++;
        int64_t created = sqlite3_column_int64(stmt, 3);
        if (created < *oldest_ms) *oldest_ms = created;
    }
    sqlite3_finalize(stmt);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

/* A record of mm.predictions: the row with its key and payload was delivered. */
static bool match_record(void *opaque, const mm_kafka_msg_t *msg) {
    pending_t *p = opaque;
    if (!msg->value) return true;
    size_t at = (size_t)payload_hash(msg->value, msg->value_len);
    for (size_t slot; (slot = p->slots[at & (p->n_slots - 1)]) != 0; at++) {
        pending_row_t *r = &p->rows[slot - 1];
        if (r->delivered || r->payload_len != msg->value_len ||
            memcmp(r->payload, msg->value, r->payload_len) != 0)
            continue;
        size_t key_len = r->key ? strlen(r->key) : 0;
        if (key_len != (msg->key ? msg->key_len : 0) ||
            (key_len && memcmp(r->key, msg->key, key_len) != 0))
            continue;
        r->delivered = true;
        p->delivered++;
        break;
    }
    return p->delivered < p->n; /* all found: nothing more to read */
}

static mm_err_t delete_delivered(mm_db_t *db, const pending_t *p, char *errstr,
                                 size_t errstr_size) {
    mm_err_t err = mm_db_begin(db, errstr, errstr_size);
    for (size_t i = 0; !err && i < p->n; i++)
        if (p->rows[i].delivered)
            err = mm_db_run(db, errstr, errstr_size, "DELETE FROM outbox WHERE id = ?1", "i",
                            p->rows[i].id);
    if (!err) err = mm_db_commit(db, errstr, errstr_size);
    if (err) mm_db_rollback(db);
    return err;
}

mm_err_t mm_scorer_stream__outbox_reconcile(mm_scorer_stream_t *st, char *errstr,
                                            size_t errstr_size) {
    mm_scorer_t *s = st->scorer;
    mm_db_t *db = mm_scoring_data_db(s->scoring);
    pending_t p = {0};
    int64_t oldest = INT64_MAX;
    mm_err_t err = load_rows(db, &p, &oldest, errstr, errstr_size);
    if (!err && p.n > 0) err = index_rows(&p, errstr, errstr_size);
    if (err || p.n == 0) {
        pending_free(&p);
        return err;
    }
    char why[512];
    int64_t records = 0, started = mm_mono_ms();
    mm_err_t scan = mm_kafka_tail_scan(s->cfg.bootstrap, MM_TOPIC_PREDICTIONS, &s->consumer_kafka,
                                       oldest - RECONCILE_MARGIN_MS, match_record, &p,
                                       RECONCILE_TIMEOUT, &records, why, sizeof(why));
    if (scan) {
        /* Nothing is deleted: every row goes out (again), as without this check. */
        mm_log_warn("outbox_reconcile_failed",
                    "%zu answer(s) in the outbox not checked against %s (%s): sent again", p.n,
                    MM_TOPIC_PREDICTIONS, why);
        pending_free(&p);
        return MM_OK;
    }
    if (p.delivered > 0) err = delete_delivered(db, &p, errstr, errstr_size);
    if (!err)
        mm_logj(MM_LOG_INFO, "outbox_reconciled",
                json_pack("{s:I, s:I, s:I, s:I}", "rows", (json_int_t)p.n, "already_delivered",
                          (json_int_t)p.delivered, "records_read", (json_int_t)records,
                          "duration_ms", (json_int_t)(mm_mono_ms() - started)),
                "%zu of %zu answer(s) in the outbox were already on %s", p.delivered, p.n,
                MM_TOPIC_PREDICTIONS);
    pending_free(&p);
    return err;
}
