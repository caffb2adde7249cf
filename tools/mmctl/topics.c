/*
 * topics.c - `mmctl topics init`: create the mm.* topics (no error when they
 * exist), with the partitions and replication asked for. mm.decisions is
 * compacted: it holds the production-model map, the latest decision per key,
 * which must outlive any retention period.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/kafka.h"
#include "mm/util.h"
#include "mmctl.h"

#define MMCTL_BOOTSTRAP_WAIT_MS 5000 /* how long to wait for a bootstrap file */

int mmctl_topics_init(const mmctl_opts_t *o) {
    char errstr[1024];
    if ((!o->bootstrap_servers || !*o->bootstrap_servers) &&
        (!o->bootstrap_file || !*o->bootstrap_file))
        return mmctl_usage_error("topics init needs --bootstrap-servers or --bootstrap-file");
    char *bootstrap = mm_kafka_resolve_bootstrap(o->bootstrap_servers, o->bootstrap_file,
                                                 MMCTL_BOOTSTRAP_WAIT_MS, errstr, sizeof(errstr));
    if (!bootstrap) return mmctl_fail(MM_ERR_CONFIG, "bootstrap", errstr);
    static const char *const topics[] = {MM_TOPIC_OBSERVATIONS, MM_TOPIC_MODELS,
                                         MM_TOPIC_DECISIONS,    MM_TOPIC_SCORE_REQUESTS,
                                         MM_TOPIC_PREDICTIONS,  MM_TOPIC_DEADLETTER};
    static mm_kv_t compacted_items[] = {{"cleanup.policy", "compact"}};
    static const mm_kv_list_t compacted = {compacted_items, MM_ARRAY_SIZE(compacted_items)};
    int rc = EXIT_OK;
    for (size_t i = 0; i < MM_ARRAY_SIZE(topics); i++) {
        bool compact = strcmp(topics[i], MM_TOPIC_DECISIONS) == 0;
        mm_err_t err = mm_kafka_topic_ensure_configs(
            bootstrap, &o->kafka, topics[i], (int)o->partitions, (int)o->replication,
            compact ? &compacted : NULL, errstr, sizeof(errstr));
        if (err) {
            rc = mmctl_fail(err, topics[i], errstr);
            break;
        }
        if (o->format == OUT_TABLE)
            printf("%s: ok (%lld partitions)\n", topics[i], (long long)o->partitions);
    }
    if (rc == EXIT_OK && o->format == OUT_JSON)
        mmctl_print_json(json_pack("{sIsI}", "topics", (json_int_t)MM_ARRAY_SIZE(topics),
                                   "partitions", (json_int_t)o->partitions));
    free(bootstrap);
    return rc;
}
