/*
 * kafka_topics.c - the names and settings of manymodels' topics (see
 * mm/kafka.h): the deployment's topic prefix, the mapping between the
 * logical names the code uses (MM_TOPIC_*) and the names on the cluster,
 * and the catalogue of topics a deployment needs with their cleanup and
 * retention.
 *
 * The prefix is set once at start-up, before any Kafka handle exists, and
 * only read afterwards (by any thread).
 *
 * Workload: a prefix join per produced message (a short snprintf), a prefix
 * comparison per consumed message.
 */
#include <stdio.h>
#include <string.h>

#include "kafka_int.h"
#include "mm/util.h"

static char topic_prefix[MM_KAFKA_TOPIC_PREFIX_MAX + 1];
static size_t topic_prefix_len;

/* Kafka's legal topic characters (and those of a group id we derive). */
static bool legal_topic_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

mm_err_t mm_kafka_set_topic_prefix(const char *prefix, char *errstr, size_t errstr_size) {
    size_t len = prefix ? strlen(prefix) : 0;
    if (len > MM_KAFKA_TOPIC_PREFIX_MAX)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "topic prefix: %zu characters, at most %d allowed", len,
                       MM_KAFKA_TOPIC_PREFIX_MAX);
    for (size_t i = 0; i < len; i++)
        if (!legal_topic_char(prefix[i]))
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                           "topic prefix '%s': character %zu ('%c') is not one of "
                           "[A-Za-z0-9._-]",
                           prefix, i + 1, prefix[i]);
    if (len) memcpy(topic_prefix, prefix, len);
    topic_prefix[len] = '\0';
    topic_prefix_len = len;
    return MM_OK;
}

const char *mm_kafka_topic_prefix(void) {
    return topic_prefix;
}

mm_err_t mm_kafka_topic_name(const char *name, char *out, size_t out_size, char *errstr,
                             size_t errstr_size) {
    if (!name || !*name)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "empty topic name");
    int n = snprintf(out, out_size, "%s%s", topic_prefix, name);
    if (n < 0 || (size_t)n >= out_size || n > KAFKA_TOPIC_NAME_MAX)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size,
                       "topic %s%s: longer than Kafka's %d characters", topic_prefix, name,
                       KAFKA_TOPIC_NAME_MAX);
    return MM_OK;
}

const char *mm_kafka_topic_logical(const char *name) {
    if (!name || topic_prefix_len == 0) return name;
    if (strncmp(name, topic_prefix, topic_prefix_len) == 0 && name[topic_prefix_len])
        return name + topic_prefix_len;
    return name;
}

/*
 * What each topic holds decides how the cluster may clean it: mm.decisions is
 * the production-model map (the latest decision per key must outlive any
 * retention), the others are streams whose durable state lives with their
 * consumers (docs/ARCHITECTURE.md, "Delivery semantics"), kept long enough
 * for a consumer to be down for days and for an operator to read dead letters.
 */
#define DAY_MS (24LL * 3600 * 1000)
static const mm_kafka_topic_spec_t topic_specs[] = {
    {MM_TOPIC_OBSERVATIONS, false, 7 * DAY_MS, "ObservationBatch by partition key"},
    {MM_TOPIC_MODELS, false, 7 * DAY_MS, "ModelTrained by partition key"},
    {MM_TOPIC_DECISIONS, true, 0, "ModelDecision; the latest per key is its production model"},
    {MM_TOPIC_SCORE_REQUESTS, false, 1 * DAY_MS, "ScoreRequest by partition key"},
    {MM_TOPIC_PREDICTIONS, false, 7 * DAY_MS, "PredictionBatch by partition key"},
    {MM_TOPIC_DEADLETTER, false, 30 * DAY_MS, "DeadLetter: inputs a service could not use"},
};

const mm_kafka_topic_spec_t *mm_kafka_topic_specs(size_t *n) {
    *n = MM_ARRAY_SIZE(topic_specs);
    return topic_specs;
}
