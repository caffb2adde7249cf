/*
 * checker.c - the checker every pipeline fault scenario ends with (see
 * checker.h). It reads what the run left behind - the input files, the
 * trainer's state store, the registry, the sink, the blob store, the topics
 * and the logs - and never the services' own counters.
 */
#include "checker.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "mm/avro.h"
#include "mm/blob.h"
#include "mm/buf.h"
#include "mm/csv.h"
#include "mm/hashmap.h"
#include "mm/kafka.h"
#include "mm/records.h"
#include "mm/sha256.h"
#include "mm/spec.h"
#include "mm/util.h"
#include "store.h"
#include "support.h"

#define CHECK_MAX_ROWS   (4u * 1024u * 1024u)
#define CHECK_DRAIN_MS   30000
#define CHECK_READ_MS    30000
#define CHECK_IDENTITY_N 600 /* "key\x1ftime" */

/* Strings the maps point at, owned here. */
typedef struct arena {
    char **items;
    size_t n, cap;
} arena_t;

static const char *arena_dup(arena_t *a, const char *s) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 1024;
        a->items = realloc(a->items, a->cap * sizeof(*a->items));
        cr_assert_not_null(a->items);
    }
    char *copy = strdup(s);
    cr_assert_not_null(copy);
    a->items[a->n++] = copy;
    return copy;
}

static void arena_free(arena_t *a) {
    for (size_t i = 0; i < a->n; i++) free(a->items[i]);
    free(a->items);
}

/* What each input row is: its identity when it has one, and what became of it. */
typedef struct input_row {
    const char *identity; /* NULL: no valid key or time (only a dead letter can account for it) */
    bool stored, dead;
} input_row_t;

typedef struct input_rows {
    input_row_t **items;
    size_t n, cap;
} input_rows_t;

static input_row_t *input_row_add(input_rows_t *rows) {
    if (rows->n == rows->cap) {
        rows->cap = rows->cap ? rows->cap * 2 : 1024;
        rows->items = realloc(rows->items, rows->cap * sizeof(*rows->items));
        cr_assert_not_null(rows->items);
    }
    input_row_t *row = calloc(1, sizeof(*row));
    cr_assert_not_null(row);
    rows->items[rows->n++] = row;
    return row;
}

static sqlite3 *open_db(mmt_pipeline_t *p, const char *name) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", p->dir, name);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static int64_t query_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (db && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int column_index(const mm_csv_record_t *header, const char *name) {
    for (size_t i = 0; name && i < header->n_fields; i++)
        if (strcmp(header->fields[i], name) == 0) return (int)i;
    return -1;
}

/* "file:line" -> input_row_t, and identity -> input_row_t, for every data row of the inputs. */
static void read_inputs(const mm_spec_t *spec, const char *const *inputs, input_rows_t *rows,
                        mm_hashmap_t *by_line, mm_hashmap_t *by_identity, arena_t *arena) {
    static mm_csv_record_t rec;
    char errstr[512];
    for (size_t f = 0; inputs[f]; f++) {
        FILE *file = fopen(inputs[f], "rb");
        cr_assert_not_null(file, "input %s", inputs[f]);
        mm_csv_reader_t *reader = mm_csv_reader_new(file, inputs[f]);
        cr_assert_not_null(reader);
        int key_idx[MM_SPEC_MAX_KEY_COLUMNS];
        int time_idx = -1;
        bool header = true;
        for (;;) {
            mm_err_t err = mm_csv_next(reader, &rec, errstr, sizeof(errstr));
            if (err == MM_ERR_NOT_FOUND) break;
            cr_assert_neq(err, MM_ERR_IO, "%s: %s", inputs[f], errstr);
            if (header) {
                cr_assert_eq(err, MM_OK, "%s: no header: %s", inputs[f], errstr);
                for (size_t k = 0; k < spec->n_key_columns; k++)
                    key_idx[k] = column_index(&rec, spec->key_columns[k]);
                time_idx = column_index(&rec, spec->time_column);
                header = false;
                continue;
            }
            input_row_t *row = input_row_add(rows);
            if (err == MM_OK && time_idx >= 0 && (size_t)time_idx < rec.n_fields) {
                const char *values[MM_SPEC_MAX_KEY_COLUMNS];
                size_t lens[MM_SPEC_MAX_KEY_COLUMNS];
                bool have_key = true;
                for (size_t k = 0; k < spec->n_key_columns; k++) {
                    if (key_idx[k] < 0 || (size_t)key_idx[k] >= rec.n_fields) {
                        have_key = false;
                        break;
                    }
                    values[k] = rec.fields[key_idx[k]];
                    lens[k] = rec.lens[key_idx[k]];
                }
                char key[512];
                int64_t t;
                if (have_key &&
                    mm_spec_partition_key(spec, values, lens, key, sizeof(key)) == MM_OK &&
                    mm_spec_parse_time(spec, rec.fields[time_idx], rec.lens[time_idx], &t)) {
                    char identity[CHECK_IDENTITY_N];
                    snprintf(identity, sizeof(identity), "%s\x1f%lld", key, (long long)t);
                    row->identity = arena_dup(arena, identity);
                    /* A row sent twice is one row of the store: the later one stands for both. */
                    mm_hashmap_put(by_identity, row->identity, strlen(row->identity), row);
                }
            }
            char where[4200];
            snprintf(where, sizeof(where), "%s:%lld", inputs[f], (long long)rec.line);
            const char *at = arena_dup(arena, where);
            cr_assert_eq(mm_hashmap_put(by_line, at, strlen(at), row), MM_OK);
        }
        mm_csv_reader_destroy(reader);
        fclose(file);
    }
}

/* Every stored observation of the trainer's state store, read through the
 * store's own reader (chunks decoded), as (key, entity, time). */
typedef void (*history_row_fn)(void *opaque, const char *key, const char *entity, int64_t t);

static void each_history_row_of(mmt_pipeline_t *p, const char *store_name, const mm_spec_t *spec,
                                history_row_fn fn, void *opaque) {
    sqlite3 *db = open_db(p, store_name);
    cr_assert_not_null(db, "no %s", store_name);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", p->dir, store_name);
    mm_db_t store = {.sqlite = db, .path = path};
    sqlite3_stmt *st = NULL;
    cr_assert_eq(
        sqlite3_prepare_v2(db, "SELECT DISTINCT partition_key FROM history_chunks", -1, &st, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        char key[1024];
        snprintf(key, sizeof(key), "%s", (const char *)sqlite3_column_text(st, 0));
        mm_trainer_history_t h = {0};
        char errstr[512];
        mm_err_t err = mm_trainer_store_read_history(&store, key, spec->n_feature_columns, &h,
                                                     errstr, sizeof(errstr));
        if (err == MM_ERR_INSUFFICIENT_DATA) continue; /* planned rows only: not observations */
        cr_assert_eq(err, MM_OK, "%s: %s", key, errstr);
        for (size_t e = 0; e < h.n_entities; e++)
            for (size_t i = h.entity_start[e]; i < h.entity_start[e + 1]; i++)
                fn(opaque, key, h.entity[e], h.time_ms[i]);
        mm_trainer_history_clear(&h);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void each_history_row(mmt_pipeline_t *p, const mm_spec_t *spec, history_row_fn fn,
                             void *opaque) {
    each_history_row_of(p, "trainer.db", spec, fn, opaque);
}

static const char *const default_stores[] = {"trainer.db", NULL};

typedef struct history_marks {
    mm_hashmap_t *by_identity;
    mmt_check_result_t *out;
} history_marks_t;

static void mark_stored(void *opaque, const char *key, const char *entity, int64_t t) {
    history_marks_t *m = opaque;
    (void)entity; /* the scenarios' specs have no entity columns */
    char identity[CHECK_IDENTITY_N];
    snprintf(identity, sizeof(identity), "%s\x1f%lld", key, (long long)t);
    input_row_t *row = mm_hashmap_get(m->by_identity, identity, strlen(identity));
    if (row && row->stored) return; /* held by another store too: one row */
    m->out->rows_stored++;
    if (row)
        row->stored = true;
    else
        m->out->rows_foreign++;
}

/* Mark each history row of every store stored; count those that were never sent. */
static void read_history(mmt_pipeline_t *p, const char *const *stores, const mm_spec_t *spec,
                         mm_hashmap_t *by_identity, mmt_check_result_t *out) {
    history_marks_t m = {.by_identity = by_identity, .out = out};
    for (size_t i = 0; stores[i]; i++) each_history_row_of(p, stores[i], spec, mark_stored, &m);
}

typedef struct history_count {
    mm_hashmap_t *seen;
    arena_t arena;
    int64_t rows, duplicates;
} history_count_t;

static void count_row(void *opaque, const char *key, const char *entity, int64_t t) {
    history_count_t *c = opaque;
    char identity[CHECK_IDENTITY_N];
    snprintf(identity, sizeof(identity), "%s\x1f%s\x1f%lld", key, entity, (long long)t);
    c->rows++;
    if (mm_hashmap_get(c->seen, identity, strlen(identity))) {
        c->duplicates++;
        return;
    }
    const char *copy = arena_dup(&c->arena, identity);
    cr_assert_eq(mm_hashmap_put(c->seen, copy, strlen(copy), (void *)copy), MM_OK);
}

int64_t mmt_check_history_duplicates(mmt_pipeline_t *p, int64_t *rows) {
    char errstr[1024];
    mm_spec_t spec;
    cr_assert_eq(mm_spec_load_file(p->spec_path, &spec, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    history_count_t c = {.seen = mm_hashmap_new(CHECK_MAX_ROWS)};
    cr_assert_not_null(c.seen);
    each_history_row(p, &spec, count_row, &c);
    mm_hashmap_destroy(c.seen);
    arena_free(&c.arena);
    mm_spec_clear(&spec);
    if (rows) *rows = c.rows;
    return c.duplicates;
}

typedef void (*topic_fn)(const mm_kafka_msg_t *msg, void *opaque);

/* Every record of @p topic, from the beginning to its end. */
static void read_topic(mmt_pipeline_t *p, const char *topic, topic_fn fn, void *opaque) {
    char err[512];
    mm_kafka_reader_t *r = mm_kafka_reader_new(p->broker.bootstrap, topic, NULL, err, sizeof(err));
    cr_assert_not_null(r, "%s: %s", topic, err);
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(CHECK_READ_MS);
    for (;;) {
        mm_kafka_msg_t msg;
        mm_err_t e = mm_kafka_reader_poll(r, 200, &msg, err, sizeof(err));
        if (e == MM_ERR_NOT_FOUND) break;
        if (e == MM_ERR_TIMEOUT) {
            cr_assert_lt(mm_mono_ms(), deadline, "%s not readable to its end", topic);
            continue;
        }
        if (!e) fn(&msg, opaque);
    }
    mm_kafka_reader_destroy(r);
}

static void on_dead_letter(const mm_kafka_msg_t *msg, void *opaque) {
    mm_hashmap_t *by_line = opaque;
    mm_dead_letter_t d;
    char err[512];
    if (mm_avro_decode_dead_letter(msg->value, msg->value_len, &d, err, sizeof(err)) != MM_OK)
        return;
    if (d.service && strcmp(d.service, "mm-ingest") == 0 && d.source_file) {
        char where[4200];
        snprintf(where, sizeof(where), "%s:%lld", d.source_file, (long long)d.source_line);
        input_row_t *row = mm_hashmap_get(by_line, where, strlen(where));
        cr_expect_not_null(row, "a dead letter for %s, which is no input row", where);
        cr_expect(d.reason && *d.reason, "the dead letter for %s gives no reason", where);
        if (row) row->dead = true;
    }
    mm_dead_letter_clear(&d);
}

typedef struct decided {
    mm_hashmap_t *keys;
    arena_t *arena;
} decided_t;

static void on_decision(const mm_kafka_msg_t *msg, void *opaque) {
    decided_t *dec = opaque;
    mm_model_decision_t d = {0};
    char err[512];
    if (mm_avro_decode_model_decision(msg->value, msg->value_len, &d, err, sizeof(err)) != MM_OK)
        return;
    if (d.partition_key && !mm_hashmap_get(dec->keys, d.partition_key, strlen(d.partition_key))) {
        const char *key = arena_dup(dec->arena, d.partition_key);
        mm_hashmap_put(dec->keys, key, strlen(key), (void *)key);
    }
    mm_model_decision_clear(&d);
}

/* Every registered artifact (and production copy) is in the blob store with its sha256. */
static void check_artifacts(mmt_pipeline_t *p, sqlite3 *registry, mmt_check_result_t *out) {
    char errstr[512];
    mm_blob_opts_t blob_opts = {.account_key = p->blob_key};
    mm_blob_t *blob = mm_blob_new(p->blob_url, &blob_opts, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(registry,
                                    "SELECT artifact_uri, sha256 FROM versions UNION ALL "
                                    "SELECT production_uri, sha256 FROM versions "
                                    "WHERE production_uri IS NOT NULL",
                                    -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(registry));
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *sha = (const char *)sqlite3_column_text(st, 1);
        mm_buf_t data;
        mm_buf_init(&data, 256u * 1024u * 1024u);
        out->artifacts_checked++;
        mm_err_t err = mm_blob_get(blob, name, &data, errstr, sizeof(errstr));
        char got[MM_SHA256_HEX_LEN + 1] = "";
        if (!err) mm_sha256_hex(data.data, data.len, got);
        if (err || strcmp(got, sha) != 0) {
            out->artifacts_bad++;
            fprintf(stderr, "checker: artifact %s: %s\n", name,
                    err ? errstr : "its sha256 is not the registered one");
        }
        mm_buf_free(&data);
    }
    sqlite3_finalize(st);
    mm_blob_destroy(blob);
}

static int64_t outbox_rows_of(mmt_pipeline_t *p, const char *name) {
    sqlite3 *db = open_db(p, name);
    int64_t v = query_int(db, "SELECT COUNT(*) FROM outbox");
    sqlite3_close(db);
    return v > 0 ? v : 0;
}

static int64_t outbox_rows(mmt_pipeline_t *p, const char *const *stores) {
    int64_t n = outbox_rows_of(p, "registry.db");
    for (size_t i = 0; stores[i]; i++) n += outbox_rows_of(p, stores[i]);
    return n;
}

/* Occurrences of any secret in the run's logs. */
static int64_t secrets_in_logs(mmt_pipeline_t *p, const char *const *secrets) {
    if (!secrets) return 0;
    int64_t found = 0;
    DIR *d = opendir(p->dir);
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".log") != 0) continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", p->dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        mm_buf_t text;
        mm_buf_init(&text, 1024u * 1024u * 1024u);
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) mm_buf_append(&text, chunk, n);
        fclose(f);
        for (size_t s = 0; secrets[s] && text.data; s++) {
            if (strstr((const char *)text.data, secrets[s])) {
                found++;
                cr_expect_fail("%s holds the secret %s", e->d_name, secrets[s]);
            }
        }
        mm_buf_free(&text);
    }
    closedir(d);
    return found;
}

void mmt_check(mmt_pipeline_t *p, const mmt_check_opts_t *opts, mmt_check_result_t *out) {
    memset(out, 0, sizeof(*out));
    char errstr[1024];
    mm_spec_t spec;
    cr_assert_eq(mm_spec_load_file(p->spec_path, &spec, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    arena_t arena = {0};
    mm_hashmap_t *by_line = mm_hashmap_new(CHECK_MAX_ROWS);
    mm_hashmap_t *by_identity = mm_hashmap_new(CHECK_MAX_ROWS);
    cr_assert(by_line && by_identity);

    /* Rows: in == stored + dead-lettered, disjoint, nothing foreign. */
    const char *const *stores = opts->stores ? opts->stores : default_stores;
    input_rows_t rows = {0};
    read_inputs(&spec, opts->inputs, &rows, by_line, by_identity, &arena);
    out->rows_in = (int64_t)rows.n;
    read_history(p, stores, &spec, by_identity, out);
    read_topic(p, MM_TOPIC_DEADLETTER, on_dead_letter, by_line);
    for (size_t i = 0; i < rows.n; i++) {
        input_row_t *row = rows.items[i];
        /* A stored identity sent twice marks only its later row: it stands for both. */
        input_row_t *holder =
            row->identity ? mm_hashmap_get(by_identity, row->identity, strlen(row->identity))
                          : NULL;
        bool stored = row->stored || (holder && holder->stored);
        if (row->dead) out->rows_dead_lettered++;
        if (stored && row->dead) out->rows_both++;
        if (!stored && !row->dead) out->rows_lost++;
    }
    for (size_t i = 0; i < rows.n; i++) free(rows.items[i]);
    free(rows.items);
    cr_expect_eq(out->rows_lost, 0, "%lld input row(s) neither stored nor dead-lettered",
                 (long long)out->rows_lost);
    cr_expect_eq(out->rows_both, 0, "%lld input row(s) both stored and dead-lettered",
                 (long long)out->rows_both);
    cr_expect_eq(out->rows_foreign, 0, "%lld stored row(s) were never sent",
                 (long long)out->rows_foreign);

    /* Models: unique versions, artifacts present with their sha256. */
    sqlite3 *registry = open_db(p, "registry.db");
    cr_assert_not_null(registry, "no registry.db");
    out->versions = query_int(registry, "SELECT COUNT(*) FROM versions");
    out->duplicate_versions =
        query_int(registry, "SELECT COUNT(*) - COUNT(DISTINCT train_id) FROM versions") +
        query_int(registry, "SELECT COUNT(*) FROM (SELECT 1 FROM versions "
                            "GROUP BY partition_key, version HAVING COUNT(*) > 1)");
    cr_expect_eq(out->duplicate_versions, 0, "duplicate model versions in the registry");
    check_artifacts(p, registry, out);
    cr_expect_eq(out->artifacts_bad, opts->artifacts_lost,
                 "%lld registered artifact(s) missing or changed (printed above), %lld removed "
                 "by the scenario",
                 (long long)out->artifacts_bad, (long long)opts->artifacts_lost);
    sqlite3_close(registry);

    /* Outboxes drained (the services may still be publishing: give them time). */
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(CHECK_DRAIN_MS);
    while ((out->outbox_left = outbox_rows(p, stores)) > 0 && mm_mono_ms() < deadline)
        mm_sleep_ms(500, NULL);
    cr_expect_eq(out->outbox_left, 0, "%lld outbox row(s) never published",
                 (long long)out->outbox_left);

    /* Every key decided, and answered when the scorer ran. */
    mm_hashmap_t *decided_keys = mm_hashmap_new(CHECK_MAX_ROWS);
    cr_assert_not_null(decided_keys);
    decided_t dec = {.keys = decided_keys, .arena = &arena};
    read_topic(p, MM_TOPIC_DECISIONS, on_decision, &dec);
    out->keys_decided = (int64_t)mm_hashmap_count(decided_keys);
    mm_hashmap_destroy(decided_keys);
    cr_expect_eq(out->keys_decided, opts->keys, "keys decided");
    if (opts->scored) {
        sqlite3 *sink = open_db(p, "predictions.db");
        cr_assert_not_null(sink, "no predictions.db");
        out->keys_answered = query_int(sink, "SELECT COUNT(DISTINCT partition_key) FROM key_runs");
        out->duplicate_predictions = query_int(
            sink, "SELECT COUNT(*) - (SELECT COUNT(*) FROM (SELECT DISTINCT partition_key, "
                  "target_time_ms FROM predictions)) FROM predictions");
        sqlite3_close(sink);
        cr_expect_eq(out->keys_answered, opts->keys, "keys answered by the scorer");
        cr_expect_eq(out->duplicate_predictions, 0, "duplicate prediction rows in the sink");
    }

    out->secrets_found = secrets_in_logs(p, opts->secrets);

    fprintf(stderr,
            "checker: rows in %lld = stored %lld + dead-lettered %lld (lost %lld, both %lld, "
            "foreign %lld); versions %lld (duplicates %lld); artifacts %lld (bad %lld); outbox "
            "left %lld; keys decided %lld, answered %lld; duplicate predictions %lld; secrets "
            "in logs %lld\n",
            (long long)out->rows_in, (long long)out->rows_stored,
            (long long)out->rows_dead_lettered, (long long)out->rows_lost,
            (long long)out->rows_both, (long long)out->rows_foreign, (long long)out->versions,
            (long long)out->duplicate_versions, (long long)out->artifacts_checked,
            (long long)out->artifacts_bad, (long long)out->outbox_left,
            (long long)out->keys_decided, (long long)out->keys_answered,
            (long long)out->duplicate_predictions, (long long)out->secrets_found);
    mm_hashmap_destroy(by_line);
    mm_hashmap_destroy(by_identity);
    arena_free(&arena);
    mm_spec_clear(&spec);
}
