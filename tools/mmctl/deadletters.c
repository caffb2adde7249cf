/*
 * deadletters.c - `mmctl deadletters`: read the dead-letter topic from its
 * beginning to its end, decode every DeadLetter, and print the newest ones
 * (what failed, where it came from, why) with a count by service and error
 * code over all of them. Filters: --key (partition key), --service.
 *
 * A record on the topic that does not decode as a DeadLetter is listed too,
 * with the decoder's error as its reason: nothing on the topic is hidden.
 *
 * Workload: an operator's occasional look; one pass over the topic with a
 * group-less reader (no offsets committed, nothing consumed for anyone), at
 * most --limit records held (a min-heap on failure time), the counts in a
 * small table.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/avro.h"
#include "mm/kafka.h"
#include "mm/records.h"
#include "mm/util.h"
#include "mmctl.h"

#define MMCTL_BOOTSTRAP_WAIT_MS 5000  /* how long to wait for a bootstrap file */
#define READ_POLL_MS            500   /* one reader poll */
#define READ_IDLE_LIMIT_MS      30000 /* no progress for this long: the broker is not answering */
#define REASONS_MAX             256   /* distinct (service, error code) pairs counted */
#define TEXT_PREVIEW_MAX        200   /* bytes of an original row shown in a table */

/* One listed dead letter: the decoded record, or the decode error of a record that is none. */
typedef struct entry {
    mm_dead_letter_t letter; /* owned strings (mm_dead_letter_clear) */
    bool decoded;
    char *decode_error; /* when !decoded */
    int32_t partition;  /* where it is on the dead-letter topic */
    int64_t offset;
    int64_t timestamp_ms; /* failed_at, or the Kafka timestamp of an undecodable record */
} entry_t;

typedef struct reason_count {
    char *service;
    char *error_code;
    int64_t count;
} reason_count_t;

typedef struct listing {
    entry_t *heap; /* min-heap on (timestamp, partition, offset): the oldest on top */
    size_t n, cap;
    reason_count_t reasons[REASONS_MAX];
    size_t n_reasons;
    int64_t other_reasons; /* dead letters whose pair did not fit the table */
    int64_t total;         /* matching the filters */
    int64_t undecodable;
} listing_t;

static void entry_clear(entry_t *e) {
    mm_dead_letter_clear(&e->letter);
    free(e->decode_error);
    memset(e, 0, sizeof(*e));
}

static bool entry_older(const entry_t *a, const entry_t *b) {
    if (a->timestamp_ms != b->timestamp_ms) return a->timestamp_ms < b->timestamp_ms;
    if (a->partition != b->partition) return a->partition < b->partition;
    return a->offset < b->offset;
}

static void heap_swap(entry_t *a, entry_t *b) {
    entry_t t = *a;
    *a = *b;
    *b = t;
}

static void heap_sift_down(entry_t *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && entry_older(&h[l], &h[m])) m = l;
        if (r < n && entry_older(&h[r], &h[m])) m = r;
        if (m == i) return;
        heap_swap(&h[i], &h[m]);
        i = m;
    }
}

/* Keep @p e if it is among the newest cap entries (taking its strings), else clear it. */
static void listing_keep(listing_t *l, entry_t *e) {
    if (l->cap == 0) {
        entry_clear(e);
        return;
    }
    if (l->n < l->cap) {
        size_t i = l->n++;
        l->heap[i] = *e;
        while (i > 0 && entry_older(&l->heap[i], &l->heap[(i - 1) / 2])) {
            heap_swap(&l->heap[i], &l->heap[(i - 1) / 2]);
            i = (i - 1) / 2;
        }
    } else if (entry_older(&l->heap[0], e)) {
        entry_clear(&l->heap[0]);
        l->heap[0] = *e;
        heap_sift_down(l->heap, l->n, 0);
    } else {
        entry_clear(e);
    }
    memset(e, 0, sizeof(*e));
}

static void listing_count(listing_t *l, const char *service, const char *error_code) {
    for (size_t i = 0; i < l->n_reasons; i++) {
        if (strcmp(l->reasons[i].service, service) == 0 &&
            strcmp(l->reasons[i].error_code, error_code) == 0) {
            l->reasons[i].count++;
            return;
        }
    }
    if (l->n_reasons == REASONS_MAX) {
        l->other_reasons++;
        return;
    }
    reason_count_t *r = &l->reasons[l->n_reasons];
    r->service = strdup(service);
    r->error_code = strdup(error_code);
    if (!r->service || !r->error_code) {
        free(r->service);
        free(r->error_code);
        l->other_reasons++;
        return;
    }
    r->count = 1;
    l->n_reasons++;
}

static void listing_free(listing_t *l) {
    for (size_t i = 0; i < l->n; i++) entry_clear(&l->heap[i]);
    free(l->heap);
    for (size_t i = 0; i < l->n_reasons; i++) {
        free(l->reasons[i].service);
        free(l->reasons[i].error_code);
    }
}

static int compare_entries(const void *a, const void *b) {
    const entry_t *x = a, *y = b;
    return entry_older(x, y) ? -1 : entry_older(y, x) ? 1 : 0;
}

/* Decode one record of the topic and count it; keep it if it matches the filters. */
static void listing_add(listing_t *l, const mmctl_opts_t *o, const mm_kafka_msg_t *msg) {
    entry_t e;
    memset(&e, 0, sizeof(e));
    e.partition = msg->partition;
    e.offset = msg->offset;
    char why[512] = "";
    if (msg->value && mm_avro_decode_dead_letter(msg->value, msg->value_len, &e.letter, why,
                                                 sizeof(why)) == MM_OK) {
        e.decoded = true;
        e.timestamp_ms = e.letter.failed_at_ms;
    } else {
        mm_dead_letter_clear(&e.letter);
        e.decode_error = strdup(msg->value ? why : "empty record (tombstone)");
        e.timestamp_ms = msg->timestamp_ms;
    }
    const char *key = e.decoded ? e.letter.partition_key : NULL;
    char *msg_key = NULL;
    if (!key && msg->key) key = msg_key = mm_strndup(msg->key, msg->key_len);
    bool match = (!o->key || (key && strcmp(key, o->key) == 0)) &&
                 (!o->service || (e.decoded && strcmp(e.letter.service, o->service) == 0));
    free(msg_key);
    if (!match) {
        entry_clear(&e);
        return;
    }
    l->total++;
    if (!e.decoded) l->undecodable++;
    listing_count(l, e.decoded ? e.letter.service : "?",
                  e.decoded ? e.letter.error_code : "undecodable");
    listing_keep(l, &e);
}

/* The original bytes as text when they are printable (a CSV row), else NULL. */
static bool printable_text(const uint8_t *bytes, size_t len) {
    if (!bytes || len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = bytes[i];
        if (c < 0x20 && c != '\t' && c != '\r' && c != '\n') return false;
        if (c == 0x7f) return false;
    }
    return true;
}

static void source_text(const entry_t *e, char *out, size_t size) {
    const mm_dead_letter_t *d = &e->letter;
    if (!e->decoded)
        snprintf(out, size, "%s[%" PRId32 "]@%" PRId64, MM_TOPIC_DEADLETTER, e->partition,
                 e->offset);
    else if (d->source_topic)
        snprintf(out, size, "%s[%" PRId32 "]@%" PRId64, d->source_topic, d->source_partition,
                 d->source_offset);
    else if (d->source_file)
        snprintf(out, size, "%s:%" PRId64, d->source_file, d->source_line);
    else
        snprintf(out, size, "-");
}

static void print_table(const listing_t *l, const entry_t *sorted) {
    printf("%-20s  %-12s  %-22s  %-28s  %-36s  %s\n", "FAILED_AT", "SERVICE", "ERROR", "KEY",
           "SOURCE", "REASON");
    for (size_t i = 0; i < l->n; i++) {
        const entry_t *e = &sorted[i];
        char when[32], source[512];
        mmctl_fmt_time(e->timestamp_ms, when, sizeof(when));
        source_text(e, source, sizeof(source));
        const mm_dead_letter_t *d = &e->letter;
        printf("%-20s  %-12s  %-22s  %-28s  %-36s  %s\n", when, e->decoded ? d->service : "?",
               e->decoded ? d->error_code : "undecodable",
               e->decoded && d->partition_key ? d->partition_key : "-", source,
               e->decoded ? d->reason : e->decode_error);
        if (e->decoded && printable_text(d->original, d->original_len)) {
            int shown =
                d->original_len > TEXT_PREVIEW_MAX ? TEXT_PREVIEW_MAX : (int)d->original_len;
            while (shown > 0 && (d->original[shown - 1] == '\n' || d->original[shown - 1] == '\r'))
                shown--;
            printf("%-20s  original: %.*s%s\n", "", shown, (const char *)d->original,
                   (size_t)shown < d->original_len && d->original_len > TEXT_PREVIEW_MAX ? "..."
                                                                                         : "");
        }
    }
    printf("\n%" PRId64 " dead letter(s)", l->total);
    if (l->total > (int64_t)l->n) printf(", the newest %zu shown (--limit)", l->n);
    printf("\n");
    if (l->n_reasons) printf("%-12s  %-22s  %s\n", "SERVICE", "ERROR", "COUNT");
    for (size_t i = 0; i < l->n_reasons; i++)
        printf("%-12s  %-22s  %" PRId64 "\n", l->reasons[i].service, l->reasons[i].error_code,
               l->reasons[i].count);
    if (l->other_reasons) printf("(%" PRId64 " more of other kinds)\n", l->other_reasons);
}

static json_t *entry_json(const entry_t *e) {
    const mm_dead_letter_t *d = &e->letter;
    char when[32];
    mmctl_fmt_time(e->timestamp_ms, when, sizeof(when));
    json_t *source = json_null();
    if (e->decoded && d->source_topic)
        source = json_pack("{s:s, s:i, s:I}", "topic", d->source_topic, "partition",
                           (int)d->source_partition, "offset", (json_int_t)d->source_offset);
    else if (e->decoded && d->source_file)
        source =
            json_pack("{s:s, s:I}", "file", d->source_file, "line", (json_int_t)d->source_line);
    json_t *original_text = NULL;
    if (e->decoded && printable_text(d->original, d->original_len))
        original_text = json_stringn((const char *)d->original, d->original_len); /* NULL: not
                                                                                      UTF-8 */
    if (!original_text) original_text = json_null();
    return json_pack(
        "{s:s, s:I, s:s, s:o, s:s, s:s, s:o, s:o, s:I, s:o, s:o}", "failed_at", when,
        "failed_at_ms", (json_int_t)e->timestamp_ms, "service", e->decoded ? d->service : "?",
        "decoded", json_boolean(e->decoded), "error_code",
        e->decoded ? d->error_code : "undecodable", "reason",
        e->decoded ? d->reason : e->decode_error, "partition_key",
        mmctl_json_str_or_null(e->decoded ? d->partition_key : NULL), "source", source,
        "original_bytes", (json_int_t)(e->decoded ? d->original_len : 0), "original_text",
        original_text, "at",
        json_pack("{s:i, s:I}", "partition", (int)e->partition, "offset", (json_int_t)e->offset));
}

static void print_json(const listing_t *l, const entry_t *sorted) {
    json_t *letters = json_array();
    for (size_t i = 0; i < l->n; i++) json_array_append_new(letters, entry_json(&sorted[i]));
    json_t *reasons = json_array();
    for (size_t i = 0; i < l->n_reasons; i++)
        json_array_append_new(
            reasons, json_pack("{s:s, s:s, s:I}", "service", l->reasons[i].service, "error_code",
                               l->reasons[i].error_code, "count", (json_int_t)l->reasons[i].count));
    char topic[256], errstr[256];
    if (mm_kafka_topic_name(MM_TOPIC_DEADLETTER, topic, sizeof(topic), errstr, sizeof(errstr)))
        snprintf(topic, sizeof(topic), "%s", MM_TOPIC_DEADLETTER);
    mmctl_print_json(json_pack("{s:s, s:I, s:I, s:i, s:o, s:I, s:o}", "topic", topic, "total",
                               (json_int_t)l->total, "undecodable", (json_int_t)l->undecodable,
                               "shown", (int)l->n, "by_reason", reasons, "other_reasons",
                               (json_int_t)l->other_reasons, "dead_letters", letters));
}

int mmctl_deadletters(const mmctl_opts_t *o) {
    char errstr[1024];
    if (o->format == OUT_CSV) return mmctl_usage_error("deadletters: -o table or json");
    if (mm_avro_init(errstr, sizeof(errstr)) != MM_OK)
        return mmctl_fail(MM_ERR_SCHEMA, "schemas", errstr);
    if ((!o->bootstrap_servers || !*o->bootstrap_servers) &&
        (!o->bootstrap_file || !*o->bootstrap_file))
        return mmctl_usage_error("deadletters needs --bootstrap-servers or --bootstrap-file");
    char *bootstrap = mm_kafka_resolve_bootstrap(o->bootstrap_servers, o->bootstrap_file,
                                                 MMCTL_BOOTSTRAP_WAIT_MS, errstr, sizeof(errstr));
    if (!bootstrap) return mmctl_fail(MM_ERR_CONFIG, "bootstrap", errstr);
    mm_kafka_reader_t *reader =
        mm_kafka_reader_new(bootstrap, MM_TOPIC_DEADLETTER, &o->kafka, errstr, sizeof(errstr));
    free(bootstrap);
    if (!reader) return mmctl_fail(MM_ERR_NOT_FOUND, MM_TOPIC_DEADLETTER, errstr);

    listing_t l;
    memset(&l, 0, sizeof(l));
    l.cap = (size_t)o->limit;
    l.heap = l.cap ? calloc(l.cap, sizeof(*l.heap)) : NULL;
    int rc = EXIT_OK;
    if (l.cap && !l.heap) rc = mmctl_fail(MM_ERR_NOMEM, "deadletters", "out of memory");
    int64_t idle_since = mm_mono_ms();
    while (rc == EXIT_OK) {
        mm_kafka_msg_t msg;
        mm_err_t err = mm_kafka_reader_poll(reader, READ_POLL_MS, &msg, errstr, sizeof(errstr));
        if (err == MM_OK) {
            listing_add(&l, o, &msg);
            idle_since = mm_mono_ms();
        } else if (err == MM_ERR_NOT_FOUND) {
            break; /* every partition read to its end */
        } else if (err == MM_ERR_TIMEOUT) {
            if (mm_mono_ms() - idle_since > READ_IDLE_LIMIT_MS)
                rc = mmctl_fail(MM_ERR_TIMEOUT, MM_TOPIC_DEADLETTER,
                                "no progress towards the end of the topic for 30 s");
        } else {
            rc = mmctl_fail(err, MM_TOPIC_DEADLETTER, errstr);
        }
    }
    mm_kafka_reader_destroy(reader);
    if (rc == EXIT_OK) {
        qsort(l.heap, l.n, sizeof(*l.heap), compare_entries); /* oldest first */
        if (o->format == OUT_JSON)
            print_json(&l, l.heap);
        else
            print_table(&l, l.heap);
    }
    listing_free(&l);
    return rc;
}
