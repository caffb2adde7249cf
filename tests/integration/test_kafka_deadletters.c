/*
 * test_kafka_deadletters.c - `mmctl deadletters` against mm-devbroker: dead
 * letters from a file row and from a consumed record, written the way the
 * services write them (mm_service_dead_letter_encode), plus a record that is
 * no DeadLetter at all, listed decoded with their reasons and counted, in
 * table and JSON, filtered by key and service, limited to the newest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "broker.h"
#include "mm/buf.h"
#include "mm/kafka.h"
#include "mm/service.h"
#include "mm/util.h"
#include "support.h"

#define PARTITIONS  2
#define OUTPUT_MAX  (256 * 1024)
#define MMCTL_WAIT  60000
#define FILE_ROWS   5
#define BAD_RECORDS 2

static mmt_broker_t broker;

static void up(void) {
    mmt_broker_start(&broker, PARTITIONS);
}

static void down(void) {
    mmt_broker_stop(&broker);
}

TestSuite(deadletters, .init = up, .fini = down);

static int delivered, failed;

static void on_delivery(void *opaque, void *msg_opaque, mm_err_t err, const char *reason) {
    (void)opaque;
    (void)msg_opaque;
    (void)reason;
    if (err == MM_OK)
        delivered++;
    else
        failed++;
}

/* Write FILE_ROWS rows of sales.csv as mm-ingest would, BAD_RECORDS consumed records as mm-trainer
 * would, and one record that is not a DeadLetter. */
static void write_dead_letters(const char *prefix) {
    char errstr[512] = "";
    if (prefix)
        cr_assert_eq(mm_kafka_set_topic_prefix(prefix, errstr, sizeof(errstr)), MM_OK, "%s",
                     errstr);
    mm_kafka_producer_t *producer =
        mm_kafka_producer_new(broker.bootstrap, NULL, on_delivery, NULL, errstr, sizeof(errstr));
    cr_assert(producer, "%s", errstr);
    mm_buf_t out;
    mm_buf_init(&out, MM_BUF_CAP_MESSAGE);
    for (int i = 0; i < FILE_ROWS; i++) {
        char key[64], row[128], reason[128];
        snprintf(key, sizeof(key), "store=%d/item=1", i);
        snprintf(row, sizeof(row), "2024-01-0%d,%d,1,not-a-number\n", i + 1, i);
        snprintf(reason, sizeof(reason), "column units: 'not-a-number' is not a number");
        mm_service_dead_letter_source_t source = {
            .topic = NULL, .partition = -1, .offset = -1, .file = "sales.csv", .line = i + 2};
        mm_buf_reset(&out);
        cr_assert_eq(mm_service_dead_letter_encode("mm-ingest", &source, key, row, strlen(row),
                                                   MM_ERR_PARSE, reason, &out, errstr,
                                                   sizeof(errstr)),
                     MM_OK, "%s", errstr);
        cr_assert_eq(mm_kafka_produce(producer, MM_TOPIC_DEADLETTER, key, strlen(key), out.data,
                                      out.len, NULL, 5000, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
    }
    for (int i = 0; i < BAD_RECORDS; i++) {
        static const uint8_t garbage[] = {0x00, 0x00, 0x00, 0x00, 0x63, 0x01};
        mm_service_dead_letter_source_t source = {.topic = MM_TOPIC_OBSERVATIONS,
                                                  .partition = 1,
                                                  .offset = 100 + i,
                                                  .file = NULL,
                                                  .line = -1};
        mm_buf_reset(&out);
        cr_assert_eq(mm_service_dead_letter_encode(
                         "mm-trainer", &source, NULL, garbage, sizeof(garbage), MM_ERR_SCHEMA,
                         "unknown schema id 99", &out, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
        cr_assert_eq(mm_kafka_produce(producer, MM_TOPIC_DEADLETTER, NULL, 0, out.data, out.len,
                                      NULL, 5000, errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
    }
    static const char not_a_dead_letter[] = "hello";
    cr_assert_eq(mm_kafka_produce(producer, MM_TOPIC_DEADLETTER, "k", 1, not_a_dead_letter,
                                  strlen(not_a_dead_letter), NULL, 5000, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(mm_kafka_producer_flush(producer, (int)mmt_timeout_ms(30000)), MM_OK);
    cr_assert_eq(delivered, FILE_ROWS + BAD_RECORDS + 1);
    cr_assert_eq(failed, 0);
    mm_buf_free(&out);
    mm_kafka_producer_destroy(producer, 1000);
}

/* Run mmctl deadletters with @p extra (NULL-terminated); @returns its status, stdout in @p out. */
static int run_deadletters(const char *const *extra, char *output, size_t output_size) {
    char *mmctl = mmt_binary("mmctl");
    cr_assert(mmctl, "mmctl is not built");
    char *argv[24] = {mmctl, "deadletters", "--bootstrap-servers", broker.bootstrap};
    size_t argc = 4;
    for (size_t i = 0; extra && extra[i] && argc + 1 < MM_ARRAY_SIZE(argv); i++)
        argv[argc++] = (char *)extra[i];
    argv[argc] = NULL;
    char path[4200];
    snprintf(path, sizeof(path), "%s/deadletters.out", broker.dir);
    remove(path);
    pid_t pid = mmt_spawn(argv, NULL, path);
    cr_assert_gt(pid, 0);
    int status = mmt_wait(pid, mmt_timeout_ms(MMCTL_WAIT));
    if (status < 0) mmt_stop(pid, 0);
    free(mmctl);
    FILE *f = fopen(path, "r");
    size_t len = f ? fread(output, 1, output_size - 1, f) : 0;
    output[len] = '\0';
    if (f) fclose(f);
    return status;
}

static json_t *run_json(const char *const *extra) {
    static char output[OUTPUT_MAX];
    const char *args[16] = {"-o", "json"};
    size_t n = 2;
    for (size_t i = 0; extra && extra[i] && n + 1 < MM_ARRAY_SIZE(args); i++) args[n++] = extra[i];
    args[n] = NULL;
    int status = run_deadletters(args, output, sizeof(output));
    cr_assert_eq(status, 0, "mmctl deadletters exited %d: %s", status, output);
    /* Diagnostics (if any) go to stderr, which shares the file: the document starts at '{'. */
    const char *start = strchr(output, '{');
    cr_assert(start, "%s", output);
    json_error_t jerr;
    json_t *doc = json_loads(start, JSON_DISABLE_EOF_CHECK, &jerr);
    cr_assert(doc, "%s: %s", jerr.text, output);
    return doc;
}

static int64_t reason_count(json_t *doc, const char *service, const char *error_code) {
    json_t *reasons = json_object_get(doc, "by_reason");
    for (size_t i = 0; i < json_array_size(reasons); i++) {
        json_t *r = json_array_get(reasons, i);
        if (strcmp(json_string_value(json_object_get(r, "service")), service) == 0 &&
            strcmp(json_string_value(json_object_get(r, "error_code")), error_code) == 0)
            return json_integer_value(json_object_get(r, "count"));
    }
    return 0;
}

Test(deadletters, lists_every_dead_letter_decoded_with_its_source_and_reason) {
    write_dead_letters(NULL);
    json_t *doc = run_json(NULL);
    cr_expect_eq(json_integer_value(json_object_get(doc, "total")), FILE_ROWS + BAD_RECORDS + 1);
    cr_expect_eq(json_integer_value(json_object_get(doc, "undecodable")), 1);
    cr_expect_eq(reason_count(doc, "mm-ingest", "MM_ERR_PARSE"), FILE_ROWS);
    cr_expect_eq(reason_count(doc, "mm-trainer", "MM_ERR_SCHEMA"), BAD_RECORDS);
    cr_expect_eq(reason_count(doc, "?", "undecodable"), 1);
    json_t *letters = json_object_get(doc, "dead_letters");
    cr_assert_eq(json_array_size(letters), FILE_ROWS + BAD_RECORDS + 1);
    int from_file = 0, from_topic = 0;
    int64_t previous = 0;
    for (size_t i = 0; i < json_array_size(letters); i++) {
        json_t *l = json_array_get(letters, i);
        int64_t at = json_integer_value(json_object_get(l, "failed_at_ms"));
        cr_expect_geq(at, previous, "oldest first");
        previous = at;
        json_t *source = json_object_get(l, "source");
        const char *service = json_string_value(json_object_get(l, "service"));
        if (strcmp(service, "mm-ingest") == 0) {
            from_file++;
            cr_expect_str_eq(json_string_value(json_object_get(source, "file")), "sales.csv");
            cr_expect_geq(json_integer_value(json_object_get(source, "line")), 2);
            cr_expect(strstr(json_string_value(json_object_get(l, "reason")), "not a number"));
            cr_expect(
                strstr(json_string_value(json_object_get(l, "original_text")), "not-a-number"),
                "the row itself is shown");
            cr_expect(
                strncmp(json_string_value(json_object_get(l, "partition_key")), "store=", 6) == 0);
        } else if (strcmp(service, "mm-trainer") == 0) {
            from_topic++;
            cr_expect_str_eq(json_string_value(json_object_get(source, "topic")),
                             MM_TOPIC_OBSERVATIONS);
            cr_expect_eq(json_integer_value(json_object_get(source, "partition")), 1);
            cr_expect(json_is_null(json_object_get(l, "original_text")),
                      "binary originals are counted, not printed");
            cr_expect_eq(json_integer_value(json_object_get(l, "original_bytes")), 6);
        } else {
            cr_expect(json_is_false(json_object_get(l, "decoded")));
            cr_expect(strlen(json_string_value(json_object_get(l, "reason"))) > 0,
                      "the decoder says why");
        }
    }
    cr_expect_eq(from_file, FILE_ROWS);
    cr_expect_eq(from_topic, BAD_RECORDS);
    json_decref(doc);

    /* The table, for people: one line per dead letter, the row under it, the counts. */
    static char table[OUTPUT_MAX];
    cr_assert_eq(run_deadletters(NULL, table, sizeof(table)), 0, "%s", table);
    cr_expect(strstr(table, "FAILED_AT") && strstr(table, "REASON"), "%s", table);
    cr_expect(strstr(table, "sales.csv:2"), "%s", table);
    cr_expect(strstr(table, "original: 2024-01-01,0,1,not-a-number"), "%s", table);
    cr_expect(strstr(table, "mm.observations[1]@100"), "%s", table);
    cr_expect(strstr(table, "8 dead letter(s)"), "%s", table);
}

Test(deadletters, filters_by_key_and_service_and_limits_to_the_newest) {
    write_dead_letters(NULL);
    static const char *const by_key[] = {"--key", "store=3/item=1", NULL};
    json_t *doc = run_json(by_key);
    cr_expect_eq(json_integer_value(json_object_get(doc, "total")), 1);
    json_t *only = json_array_get(json_object_get(doc, "dead_letters"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(only, "partition_key")), "store=3/item=1");
    json_decref(doc);

    static const char *const by_service[] = {"--service", "mm-trainer", NULL};
    doc = run_json(by_service);
    cr_expect_eq(json_integer_value(json_object_get(doc, "total")), BAD_RECORDS);
    json_decref(doc);

    static const char *const newest[] = {"--limit", "2", NULL};
    doc = run_json(newest);
    cr_expect_eq(json_integer_value(json_object_get(doc, "total")), FILE_ROWS + BAD_RECORDS + 1,
                 "counts cover every dead letter");
    cr_expect_eq(json_array_size(json_object_get(doc, "dead_letters")), 2);
    json_decref(doc);

    static char output[4096];
    static const char *const csv[] = {"-o", "csv", NULL};
    cr_expect_eq(run_deadletters(csv, output, sizeof(output)), 64, "%s", output);
}

Test(deadletters, reads_the_prefixed_topic_of_a_deployment) {
    write_dead_letters("ds9.");
    static const char *const prefixed[] = {"--topic-prefix", "ds9.", NULL};
    json_t *doc = run_json(prefixed);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "topic")), "ds9.mm.deadletter");
    cr_expect_eq(json_integer_value(json_object_get(doc, "total")), FILE_ROWS + BAD_RECORDS + 1);
    json_decref(doc);
    /* Without the prefix, the bare topic of this fresh broker holds none of them. */
    doc = run_json(NULL);
    cr_expect_eq(json_integer_value(json_object_get(doc, "total")), 0);
    json_decref(doc);
}
