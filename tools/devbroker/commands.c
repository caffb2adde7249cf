/*
 * commands.c - the dev broker's fault-injection commands (see commands.h):
 * parse one line, check every argument, then call librdkafka's rd_kafka_mock_*
 * API. Nothing a client sends can crash the broker: bad input gets an
 * "error <why>" answer and changes nothing.
 *
 * Workload: a handful of commands per test scenario, typed by a test harness
 * or a person with nc; clarity of the answers matters, speed does not.
 */
#include "commands.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <librdkafka/rdkafka.h>

#include "mm/util.h"

/* Words a command line may have (a line is at most ~1 KiB, see control.c). */
#define COMMAND_MAX_WORDS 64
/* Upper bound of an injected delay: ten minutes is far beyond any client timeout. */
#define COMMAND_RTT_MAX_MS 600000
/* "all" for broker commands: librdkafka's id for every broker. */
#define COMMAND_ALL_BROKERS (-1)

static const char command_help[] =
    "commands: broker down|up <id|all>; broker rtt <id|all> <ms>; "
    "request-errors <api> <err>...; clear-request-errors <api>; "
    "broker-request-errors <id> <api> <err>[:<rtt_ms>]...; "
    "broker-request-errors-count <id> <api>; partition leader <topic> <partition> <id|none>; "
    "help. <api> is a number or a name (Produce, Fetch, OffsetCommit, Heartbeat, ...); "
    "<err> is a number or a name (NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT, _TRANSPORT, ...)";

/* Request types by name (Kafka protocol ApiKeys), for readable commands. */
static const struct {
    const char *name;
    int16_t key;
} api_names[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"DescribeGroups", 15},
    {"ListGroups", 16},
    {"SaslHandshake", 17},
    {"ApiVersions", 18},
    {"CreateTopics", 19},
    {"DeleteTopics", 20},
    {"InitProducerId", 22},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

typedef struct words {
    char buf[1024];
    char *w[COMMAND_MAX_WORDS];
    int n;
} words_t;

static bool fail(char *answer, size_t answer_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *answer, size_t answer_size, const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(answer, answer_size, "error %s", why);
    return false;
}

static bool ok(char *answer, size_t answer_size) {
    snprintf(answer, answer_size, "ok");
    return true;
}

/* Split @p line at blanks into @p words; false when it has too many words or is too long. */
static bool split_words(const char *line, words_t *words) {
    size_t len = strlen(line);
    words->n = 0;
    if (len >= sizeof(words->buf)) return false;
    memcpy(words->buf, line, len + 1);
    char *p = words->buf;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r') *p++ = '\0';
        if (!*p) return true;
        if (words->n == COMMAND_MAX_WORDS) return false;
        words->w[words->n++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r') p++;
    }
}

static bool parse_int_in(const char *text, int64_t lo, int64_t hi, int64_t *out) {
    int64_t v;
    if (!mm_parse_i64(text, &v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_broker(const mm_devbroker_commands_t *c, const char *text, bool allow_all,
                         int32_t *id, char *answer, size_t answer_size) {
    int64_t v;
    if (allow_all && strcasecmp(text, "all") == 0) {
        *id = COMMAND_ALL_BROKERS;
        return true;
    }
    if (!parse_int_in(text, 1, c->brokers, &v))
        return fail(answer, answer_size, "broker id '%s': expected 1..%d%s", text, c->brokers,
                    allow_all ? " or all" : "");
    *id = (int32_t)v;
    return true;
}

static bool parse_api(const char *text, int16_t *key, char *answer, size_t answer_size) {
    for (size_t i = 0; i < MM_ARRAY_SIZE(api_names); i++) {
        if (strcasecmp(text, api_names[i].name) == 0) {
            *key = api_names[i].key;
            return true;
        }
    }
    int64_t v;
    if (!parse_int_in(text, 0, MM_DEVBROKER_API_KEY_MAX - 1, &v))
        return fail(answer, answer_size, "ApiKey '%s': expected 0..%d or a name such as Produce",
                    text, MM_DEVBROKER_API_KEY_MAX - 1);
    *key = (int16_t)v;
    return true;
}

/* An error code librdkafka knows, by number (6, -195) or name (NOT_LEADER_FOR_PARTITION). */
static bool parse_err(const char *text, rd_kafka_resp_err_t *err, char *answer,
                      size_t answer_size) {
    const struct rd_kafka_err_desc *descs;
    size_t n;
    rd_kafka_get_err_descs(&descs, &n);
    int64_t v;
    bool numeric = mm_parse_i64(text, &v);
    for (size_t i = 0; i < n; i++) {
        if (!descs[i].name) continue;
        if (numeric ? v == (int64_t)descs[i].code : strcasecmp(text, descs[i].name) == 0) {
            *err = descs[i].code;
            return true;
        }
    }
    return fail(answer, answer_size, "err '%s': not a librdkafka error number or name", text);
}

static bool mock_result(rd_kafka_resp_err_t err, const char *what, char *answer,
                        size_t answer_size) {
    if (err) return fail(answer, answer_size, "%s: %s", what, rd_kafka_err2str(err));
    return ok(answer, answer_size);
}

/* broker down|up <id|all>; broker rtt <id|all> <ms> */
static bool run_broker(mm_devbroker_commands_t *c, const words_t *w, char *answer,
                       size_t answer_size) {
    int32_t id = 0;
    if (w->n >= 3 && (strcmp(w->w[1], "down") == 0 || strcmp(w->w[1], "up") == 0)) {
        if (w->n != 3) return fail(answer, answer_size, "usage: broker %s <id|all>", w->w[1]);
        if (!parse_broker(c, w->w[2], true, &id, answer, answer_size)) return false;
        bool down = strcmp(w->w[1], "down") == 0;
        return mock_result(down ? rd_kafka_mock_broker_set_down(c->mcluster, id)
                                : rd_kafka_mock_broker_set_up(c->mcluster, id),
                           down ? "broker down" : "broker up", answer, answer_size);
    }
    if (w->n >= 2 && strcmp(w->w[1], "rtt") == 0) {
        int64_t ms;
        if (w->n != 4) return fail(answer, answer_size, "usage: broker rtt <id|all> <ms>");
        if (!parse_broker(c, w->w[2], true, &id, answer, answer_size)) return false;
        if (!parse_int_in(w->w[3], 0, COMMAND_RTT_MAX_MS, &ms))
            return fail(answer, answer_size, "rtt '%s': expected 0..%d ms", w->w[3],
                        COMMAND_RTT_MAX_MS);
        return mock_result(rd_kafka_mock_broker_set_rtt(c->mcluster, id, (int)ms), "broker rtt",
                           answer, answer_size);
    }
    return fail(answer, answer_size, "usage: broker down|up <id|all> or broker rtt <id|all> <ms>");
}

/* request-errors <api> <err>... (cluster-wide: the next requests of that type on any broker) */
static bool run_request_errors(mm_devbroker_commands_t *c, const words_t *w, char *answer,
                               size_t answer_size) {
    int16_t api = 0;
    rd_kafka_resp_err_t errs[COMMAND_MAX_WORDS];
    if (w->n < 3) return fail(answer, answer_size, "usage: request-errors <api> <err>...");
    if (!parse_api(w->w[1], &api, answer, answer_size)) return false;
    for (int i = 2; i < w->n; i++)
        if (!parse_err(w->w[i], &errs[i - 2], answer, answer_size)) return false;
    for (int b = 1; b <= c->brokers; b++)
        if (c->broker_stack[b][api])
            return fail(answer, answer_size,
                        "broker %d has its own error stack for ApiKey %d, which makes the mock "
                        "ignore cluster-wide errors there; use broker-request-errors or a fresh "
                        "broker",
                        b, (int)api);
    rd_kafka_mock_push_request_errors_array(c->mcluster, api, (size_t)(w->n - 2), errs);
    return ok(answer, answer_size);
}

/* broker-request-errors <id> <api> <err>[:<rtt_ms>]... */
static bool run_broker_request_errors(mm_devbroker_commands_t *c, const words_t *w, char *answer,
                                      size_t answer_size) {
    int32_t id = 0;
    int16_t api = 0;
    rd_kafka_resp_err_t errs[COMMAND_MAX_WORDS];
    int rtts[COMMAND_MAX_WORDS];
    if (w->n < 4)
        return fail(answer, answer_size,
                    "usage: broker-request-errors <id> <api> <err>[:<rtt_ms>]...");
    if (!parse_broker(c, w->w[1], false, &id, answer, answer_size)) return false;
    if (!parse_api(w->w[2], &api, answer, answer_size)) return false;
    /* Check every pair before pushing any, so a bad one leaves the stack as it was. */
    for (int i = 3; i < w->n; i++) {
        char *colon = strchr(w->w[i], ':');
        int64_t ms = 0;
        if (colon) {
            *colon = '\0';
            if (!parse_int_in(colon + 1, 0, COMMAND_RTT_MAX_MS, &ms))
                return fail(answer, answer_size, "rtt '%s': expected 0..%d ms", colon + 1,
                            COMMAND_RTT_MAX_MS);
        }
        if (!parse_err(w->w[i], &errs[i - 3], answer, answer_size)) return false;
        rtts[i - 3] = (int)ms;
    }
    /* One pair per call: the stack is a FIFO, so the order is kept. */
    for (int i = 0; i < w->n - 3; i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_broker_push_request_error_rtts(c->mcluster, id, api, 1, errs[i], rtts[i]);
        c->broker_stack[id][api] = true;
        if (err) return mock_result(err, "broker-request-errors", answer, answer_size);
    }
    return ok(answer, answer_size);
}

/* broker-request-errors-count <id> <api>: "ok <n>", the per-broker errors not yet served */
static bool run_broker_request_errors_count(mm_devbroker_commands_t *c, const words_t *w,
                                            char *answer, size_t answer_size) {
    int32_t id = 0;
    int16_t api = 0;
    size_t cnt = 0;
    if (w->n != 3)
        return fail(answer, answer_size, "usage: broker-request-errors-count <id> <api>");
    if (!parse_broker(c, w->w[1], false, &id, answer, answer_size)) return false;
    if (!parse_api(w->w[2], &api, answer, answer_size)) return false;
    rd_kafka_resp_err_t err = rd_kafka_mock_broker_error_stack_cnt(c->mcluster, id, api, &cnt);
    if (err) return mock_result(err, "broker-request-errors-count", answer, answer_size);
    snprintf(answer, answer_size, "ok %zu", cnt);
    return true;
}

/* partition leader <topic> <partition> <id|none> */
static bool run_partition(mm_devbroker_commands_t *c, const words_t *w, char *answer,
                          size_t answer_size) {
    int64_t partition;
    int32_t id = -1;
    if (w->n != 5 || strcmp(w->w[1], "leader") != 0)
        return fail(answer, answer_size, "usage: partition leader <topic> <partition> <id|none>");
    if (!parse_int_in(w->w[3], 0, INT32_MAX, &partition))
        return fail(answer, answer_size, "partition '%s': expected a number >= 0", w->w[3]);
    if (strcasecmp(w->w[4], "none") != 0 &&
        !parse_broker(c, w->w[4], false, &id, answer, answer_size))
        return false;
    return mock_result(
        rd_kafka_mock_partition_set_leader(c->mcluster, w->w[2], (int32_t)partition, id),
        "partition leader", answer, answer_size);
}

void mm_devbroker_commands_init(mm_devbroker_commands_t *commands,
                                rd_kafka_mock_cluster_t *mcluster, int brokers) {
    memset(commands, 0, sizeof(*commands));
    commands->mcluster = mcluster;
    commands->brokers = brokers < 1                          ? 1
                        : brokers > MM_DEVBROKER_MAX_BROKERS ? MM_DEVBROKER_MAX_BROKERS
                                                             : brokers;
}

bool mm_devbroker_command_run(mm_devbroker_commands_t *commands, const char *line, char *answer,
                              size_t answer_size) {
    words_t w;
    if (!split_words(line, &w))
        return fail(answer, answer_size, "line too long or more than %d words", COMMAND_MAX_WORDS);
    if (w.n == 0) return fail(answer, answer_size, "empty command (try help)");
    const char *verb = w.w[0];
    if (strcmp(verb, "help") == 0) {
        snprintf(answer, answer_size, "ok %s", command_help);
        return true;
    }
    if (strcmp(verb, "broker") == 0) return run_broker(commands, &w, answer, answer_size);
    if (strcmp(verb, "request-errors") == 0)
        return run_request_errors(commands, &w, answer, answer_size);
    if (strcmp(verb, "clear-request-errors") == 0) {
        int16_t api = 0;
        if (w.n != 2) return fail(answer, answer_size, "usage: clear-request-errors <api>");
        if (!parse_api(w.w[1], &api, answer, answer_size)) return false;
        rd_kafka_mock_clear_request_errors(commands->mcluster, api);
        return ok(answer, answer_size);
    }
    if (strcmp(verb, "broker-request-errors") == 0)
        return run_broker_request_errors(commands, &w, answer, answer_size);
    if (strcmp(verb, "broker-request-errors-count") == 0)
        return run_broker_request_errors_count(commands, &w, answer, answer_size);
    if (strcmp(verb, "partition") == 0) return run_partition(commands, &w, answer, answer_size);
    return fail(answer, answer_size, "unknown command '%.64s' (try help)", verb);
}
