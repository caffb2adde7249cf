/*
 * consumer_state.c - stored consumer offsets and dead letters for the
 * effectively-once consumers (see consumer_state.h).
 *
 * Workload: one offset upsert per consumed record, inside a transaction the
 * service already holds, on the polling thread; a lookup per partition
 * assignment; a dead letter now and then. The two hot statements are
 * prepared once per handle, the table name is fixed at creation.
 */
#include "mm/consumer_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/buf.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/outbox.h"
#include "mm/service.h"
#include "mm/util.h"

/* Longest offsets table name accepted. */
#define TABLE_NAME_MAX 64
/* Room for one statement naming the table. */
#define SQL_MAX 512

struct mm_consumer_state {
    mm_db_t *db; /* borrowed */
    char table[TABLE_NAME_MAX + 1];
    char *service;
    char *deadletter_topic;
    size_t deadletter_cap;
    sqlite3_stmt *st_store;
    sqlite3_stmt *st_load;
};

/* A plain SQL identifier: the table name is spliced into statement text. */
static bool table_name_ok(const char *name) {
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > TABLE_NAME_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

/* Which of the columns the handle relies on the table has. */
typedef struct table_shape {
    bool topic, partition, next_offset, updated_at_ms;
} table_shape_t;

static mm_err_t read_table_shape(mm_db_t *db, const char *table, table_shape_t *shape, char *errstr,
                                 size_t errstr_size) {
    char sql[SQL_MAX];
    snprintf(sql, sizeof(sql), "PRAGMA table_info(\"%s\")", table);
    sqlite3_stmt *st = NULL;
    mm_err_t err = mm_db_prepare(db, &st, sql, errstr, errstr_size);
    if (err) return err;
    memset(shape, 0, sizeof(*shape));
    while ((err = mm_db_step_row(db, st, errstr, errstr_size)) == MM_OK) {
        const char *name = (const char *)sqlite3_column_text(st, 1);
        if (!name) continue;
        if (strcmp(name, "topic") == 0) shape->topic = true;
        if (strcmp(name, "partition") == 0) shape->partition = true;
        if (strcmp(name, "next_offset") == 0) shape->next_offset = true;
        if (strcmp(name, "updated_at_ms") == 0) shape->updated_at_ms = true;
    }
    sqlite3_finalize(st);
    return err == MM_ERR_NOT_FOUND ? MM_OK : err;
}

mm_consumer_state_t *mm_consumer_state_new(mm_db_t *db, const mm_consumer_state_config_t *cfg,
                                           char *errstr, size_t errstr_size) {
    if (!db || !cfg || !cfg->service || !table_name_ok(cfg->table)) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                "consumer state: a database, a service name and a plain table name are needed "
                "(table \"%s\")",
                cfg && cfg->table ? cfg->table : "");
        return NULL;
    }
    table_shape_t shape;
    if (read_table_shape(db, cfg->table, &shape, errstr, errstr_size)) return NULL;
    if (!shape.topic || !shape.partition || !shape.next_offset) {
        mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                "%s: table %s lacks topic, partition or next_offset (was it migrated?)",
                db->path ? db->path : "database", cfg->table);
        return NULL;
    }

    mm_consumer_state_t *cs = calloc(1, sizeof(*cs));
    if (!cs) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    cs->db = db;
    snprintf(cs->table, sizeof(cs->table), "%s", cfg->table);
    cs->service = strdup(cfg->service);
    cs->deadletter_topic =
        strdup(cfg->deadletter_topic ? cfg->deadletter_topic : MM_TOPIC_DEADLETTER);
    cs->deadletter_cap = cfg->deadletter_cap ? cfg->deadletter_cap : MM_BUF_CAP_MESSAGE;
    if (!cs->service || !cs->deadletter_topic) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto fail;
    }

    /* Never backwards: a duplicate delivered late must not rewind progress. */
    char sql[SQL_MAX];
    if (shape.updated_at_ms)
        snprintf(sql, sizeof(sql),
                 "INSERT INTO \"%s\" (topic, \"partition\", next_offset, updated_at_ms)"
                 " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (topic, \"partition\") DO UPDATE SET"
                 " next_offset = max(next_offset, excluded.next_offset),"
                 " updated_at_ms = excluded.updated_at_ms",
                 cs->table);
    else
        snprintf(sql, sizeof(sql),
                 "INSERT INTO \"%s\" (topic, \"partition\", next_offset) VALUES (?1, ?2, ?3)"
                 " ON CONFLICT (topic, \"partition\") DO UPDATE SET"
                 " next_offset = max(next_offset, excluded.next_offset)",
                 cs->table);
    if (mm_db_prepare(db, &cs->st_store, sql, errstr, errstr_size)) goto fail;
    snprintf(sql, sizeof(sql),
             "SELECT next_offset FROM \"%s\" WHERE topic = ?1 AND \"partition\" = ?2", cs->table);
    if (mm_db_prepare(db, &cs->st_load, sql, errstr, errstr_size)) goto fail;
    return cs;
fail:
    mm_consumer_state_destroy(cs);
    return NULL;
}

void mm_consumer_state_destroy(mm_consumer_state_t *cs) {
    if (!cs) return;
    sqlite3_finalize(cs->st_store);
    sqlite3_finalize(cs->st_load);
    free(cs->service);
    free(cs->deadletter_topic);
    free(cs);
}

mm_db_t *mm_consumer_state_db(const mm_consumer_state_t *cs) {
    return cs->db;
}

mm_err_t mm_consumer_state_store(mm_consumer_state_t *cs, const char *topic, int32_t partition,
                                 int64_t next_offset, char *errstr, size_t errstr_size) {
    if (sqlite3_get_autocommit(cs->db->sqlite))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "%s [%" PRId32 "]: offset %" PRId64
                       " stored outside a transaction would not commit with its effect",
                       topic, partition, next_offset);
    sqlite3_stmt *st = cs->st_store;
    /* The updated_at_ms parameter is absent from a table without that column. */
    if (sqlite3_bind_text(st, 1, topic, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, partition) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, next_offset) != SQLITE_OK ||
        (sqlite3_bind_parameter_count(st) >= 4 &&
         sqlite3_bind_int64(st, 4, mm_now_ms()) != SQLITE_OK)) {
        sqlite3_reset(st);
        return mm_db_err(cs->db, "bind offset", errstr, errstr_size);
    }
    return mm_db_step_done(cs->db, st, errstr, errstr_size);
}

mm_err_t mm_consumer_state_load(mm_consumer_state_t *cs, const char *topic, int32_t partition,
                                int64_t *next_offset, bool *found, char *errstr,
                                size_t errstr_size) {
    *next_offset = MM_OFFSET_BEGINNING;
    if (found) *found = false;
    sqlite3_stmt *st = cs->st_load;
    if (sqlite3_bind_text(st, 1, topic, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, partition) != SQLITE_OK) {
        sqlite3_reset(st);
        return mm_db_err(cs->db, "bind offset lookup", errstr, errstr_size);
    }
    mm_err_t err = mm_db_step_row(cs->db, st, errstr, errstr_size);
    if (err == MM_OK) {
        *next_offset = sqlite3_column_int64(st, 0);
        if (found) *found = true;
    } else if (err == MM_ERR_NOT_FOUND) {
        err = MM_OK;
    }
    sqlite3_reset(st);
    return err;
}

int64_t mm_consumer_state_resume_offset(mm_consumer_state_t *cs, const char *topic,
                                        int32_t partition) {
    char errstr[512];
    int64_t next_offset;
    bool found;
    mm_err_t err =
        mm_consumer_state_load(cs, topic, partition, &next_offset, &found, errstr, sizeof(errstr));
    if (err) {
        mm_logj(MM_LOG_ERROR, "partition_assigned",
                json_pack("{s:s, s:i, s:s}", "topic", topic, "partition", (int)partition, "error",
                          mm_err_name(err)),
                "%s [%" PRId32 "] resumes at the beginning: stored offset unreadable (%s)", topic,
                partition, errstr);
        return MM_OFFSET_BEGINNING;
    }
    if (!found) {
        mm_logj(MM_LOG_INFO, "partition_assigned",
                json_pack("{s:s, s:i}", "topic", topic, "partition", (int)partition),
                "%s [%" PRId32 "] resumes at the beginning (no stored offset)", topic, partition);
        return MM_OFFSET_BEGINNING;
    }
    mm_logj(MM_LOG_INFO, "partition_assigned",
            json_pack("{s:s, s:i, s:I}", "topic", topic, "partition", (int)partition, "next_offset",
                      (json_int_t)next_offset),
            "%s [%" PRId32 "] resumes at offset %" PRId64, topic, partition, next_offset);
    return next_offset;
}

int64_t mm_consumer_state_on_assign(void *opaque, const char *topic, int32_t partition) {
    return mm_consumer_state_resume_offset(opaque, topic, partition);
}

/* The writes of one dead letter, inside the open transaction. */
static mm_err_t dead_letter_txn(mm_consumer_state_t *cs, const mm_consumer_dead_letter_t *dl,
                                const mm_buf_t *payload, char *errstr, size_t errstr_size) {
    mm_err_t err = mm_outbox_insert(cs->db, cs->deadletter_topic, dl->partition_key, payload,
                                    mm_now_ms(), errstr, errstr_size);
    if (!err && dl->also) err = dl->also(dl->also_opaque, cs->db, errstr, errstr_size);
    if (!err && dl->topic)
        err = mm_consumer_state_store(cs, dl->topic, dl->partition, dl->offset + 1, errstr,
                                      errstr_size);
    return err;
}

mm_err_t mm_consumer_state_dead_letter(mm_consumer_state_t *cs, const mm_consumer_dead_letter_t *dl,
                                       char *errstr, size_t errstr_size) {
    mm_service_dead_letter_source_t source = {
        .topic = dl->topic,
        .partition = dl->topic ? dl->partition : -1,
        .offset = dl->topic ? dl->offset : -1,
        .line = -1,
    };
    mm_buf_t payload;
    mm_buf_init(&payload, cs->deadletter_cap);
    mm_err_t err = mm_service_dead_letter_encode(
        cs->service, &source, dl->partition_key, dl->original, dl->original ? dl->original_len : 0,
        dl->code, dl->reason, &payload, errstr, errstr_size);
    if (!err) err = mm_db_begin(cs->db, errstr, errstr_size);
    if (!err) {
        err = dead_letter_txn(cs, dl, &payload, errstr, errstr_size);
        if (!err) err = mm_db_commit(cs->db, errstr, errstr_size);
        if (err) mm_db_rollback(cs->db);
    }
    mm_buf_free(&payload);
    if (err) return err;

    json_t *fields = json_pack("{s:s, s:s}", "error", mm_err_name(dl->code), "deadletter_topic",
                               cs->deadletter_topic);
    if (fields && dl->topic) {
        json_object_set_new(fields, "topic", json_string(dl->topic));
        json_object_set_new(fields, "partition", json_integer(dl->partition));
        json_object_set_new(fields, "offset", json_integer((json_int_t)dl->offset));
    }
    if (fields && dl->partition_key)
        json_object_set_new(fields, "partition_key", json_string(dl->partition_key));
    mm_logj(MM_LOG_WARN, "dead_letter", fields, "record dead-lettered: %s",
            dl->reason ? dl->reason : mm_err_name(dl->code));
    mm_consumer_state__count_dead_letter(dl->topic, dl->code);
    return MM_OK;
}

mm_err_t mm_consumer_state_dead_letter_message(mm_consumer_state_t *cs, const mm_kafka_msg_t *msg,
                                               mm_err_t code, const char *reason, char *errstr,
                                               size_t errstr_size) {
    char *key = msg->key ? mm_strndup(msg->key, msg->key_len) : NULL;
    mm_consumer_dead_letter_t dl = {.topic = msg->topic,
                                    .partition = msg->partition,
                                    .offset = msg->offset,
                                    .partition_key = key,
                                    .original = msg->value,
                                    .original_len = msg->value_len,
                                    .code = code,
                                    .reason = reason};
    mm_err_t err = mm_consumer_state_dead_letter(cs, &dl, errstr, errstr_size);
    free(key);
    return err;
}
