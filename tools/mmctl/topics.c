/*
 * topics.c - `mmctl topics init`: make the cluster's topics what a
 * deployment needs (mm/kafka.h, mm_kafka_topic_specs): each topic with its
 * partitions, replication factor and configs — mm.decisions compacted (it
 * holds the production-model map, the latest decision per key, which must
 * outlive any retention), the others deleted after their retention.
 *
 * Idempotent: a missing topic is created; an existing one keeps its
 * partitions and replication (Kafka cannot shrink partitions, and growing
 * them moves keys between partitions: both are reported, never done), and
 * its configs are brought to what is asked, keeping any other config set on
 * it. --dry-run prints the plan and changes nothing. A broker that answers
 * no DescribeConfigs (mm-devbroker) gets its missing topics created and its
 * configs reported as unchecked.
 *
 * Workload: once per deployment, six topics, a few admin requests each.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/kafka.h"
#include "mm/util.h"
#include "mmctl.h"

#define MMCTL_BOOTSTRAP_WAIT_MS 5000 /* how long to wait for a bootstrap file */
#define CHANGES_MAX             4    /* configs a plan may change on one topic */

typedef enum { ACTION_CREATE, ACTION_OK, ACTION_ALTER, ACTION_UNCHECKED } action_t;

static const char *const action_names[] = {"create", "ok", "alter", "unchecked"};

typedef struct change {
    const char *name;
    char *from; /* NULL: not reported */
    const char *to;
} change_t;

/* What topics init will do (or did) to one topic. */
typedef struct topic_plan {
    const mm_kafka_topic_spec_t *spec;
    char physical[256];
    action_t action;
    mm_kv_t wanted_items[2];
    char retention[32];
    mm_kv_list_t wanted;
    int32_t partitions, replication; /* as they are (existing) or will be (created) */
    change_t changes[CHANGES_MAX];
    size_t n_changes;
    char note[256]; /* partitions or replication that differ from what was asked */
} topic_plan_t;

static void plan_free(topic_plan_t *plan) {
    for (size_t i = 0; i < plan->n_changes; i++) free(plan->changes[i].from);
    plan->n_changes = 0;
}

/* The configs asked for @p spec: the cleanup policy, and a delete topic's retention. */
static void plan_wanted(topic_plan_t *plan, const mmctl_opts_t *o) {
    const mm_kafka_topic_spec_t *spec = plan->spec;
    plan->wanted_items[0] = (mm_kv_t){"cleanup.policy", spec->compacted ? "compact" : "delete"};
    plan->wanted.items = plan->wanted_items;
    plan->wanted.n = 1;
    if (!spec->compacted) {
        int64_t retention = o->retention_ms != 0 ? o->retention_ms : spec->retention_ms;
        snprintf(plan->retention, sizeof(plan->retention), "%" PRId64, retention);
        plan->wanted_items[1] = (mm_kv_t){"retention.ms", plan->retention};
        plan->wanted.n = 2;
    }
}

/* Describe the topic and decide. @returns MM_OK or the describe error. */
static mm_err_t plan_topic(const char *bootstrap, const mmctl_opts_t *o, topic_plan_t *plan,
                           char *errstr, size_t errstr_size) {
    plan_wanted(plan, o);
    mm_err_t err = mm_kafka_topic_name(plan->spec->topic, plan->physical, sizeof(plan->physical),
                                       errstr, errstr_size);
    if (err) return err;
    mm_kafka_topic_info_t info;
    err = mm_kafka_topic_describe(bootstrap, &o->kafka, plan->spec->topic, &info, errstr,
                                  errstr_size);
    if (err) return err;
    if (!info.exists) {
        plan->action = ACTION_CREATE;
        plan->partitions = (int32_t)o->partitions;
        plan->replication = (int32_t)o->replication;
        mm_kafka_topic_info_clear(&info);
        return MM_OK;
    }
    plan->partitions = info.partitions;
    plan->replication = info.replication;
    if (info.partitions != o->partitions || info.replication != o->replication)
        snprintf(plan->note, sizeof(plan->note),
                 "exists with %" PRId32 " partition(s) and replication %" PRId32
                 " (asked %lld and %lld): not changed",
                 info.partitions, info.replication, (long long)o->partitions,
                 (long long)o->replication);
    if (!info.configs_known) {
        plan->action = ACTION_UNCHECKED;
        mm_kafka_topic_info_clear(&info);
        return MM_OK;
    }
    for (size_t i = 0; i < plan->wanted.n && plan->n_changes < CHANGES_MAX; i++) {
        const char *have = mm_kv_list_get(&info.configs, plan->wanted.items[i].key);
        if (have && strcmp(have, plan->wanted.items[i].value) == 0) continue;
        change_t *c = &plan->changes[plan->n_changes++];
        c->name = plan->wanted.items[i].key;
        c->from = have ? strdup(have) : NULL;
        c->to = plan->wanted.items[i].value;
    }
    plan->action = plan->n_changes ? ACTION_ALTER : ACTION_OK;
    mm_kafka_topic_info_clear(&info);
    return MM_OK;
}

static mm_err_t apply_plan(const char *bootstrap, const mmctl_opts_t *o, const topic_plan_t *plan,
                           char *errstr, size_t errstr_size) {
    switch (plan->action) {
    case ACTION_CREATE:
        return mm_kafka_topic_ensure_configs(bootstrap, &o->kafka, plan->spec->topic,
                                             (int)o->partitions, (int)o->replication, &plan->wanted,
                                             errstr, errstr_size);
    case ACTION_ALTER:
        return mm_kafka_topic_alter_configs(bootstrap, &o->kafka, plan->spec->topic, &plan->wanted,
                                            errstr, errstr_size);
    default:
        return MM_OK;
    }
}

static void print_table(const topic_plan_t *plans, size_t n, bool dry_run) {
    const char *prefix = mm_kafka_topic_prefix();
    if (*prefix) printf("topic prefix: %s\n", prefix);
    printf("%-32s %-10s %10s %11s  %s\n", "TOPIC", dry_run ? "PLAN" : "DONE", "PARTITIONS",
           "REPLICATION", "CONFIGS");
    for (size_t i = 0; i < n; i++) {
        const topic_plan_t *p = &plans[i];
        printf("%-32s %-10s %10" PRId32 " %11" PRId32 " ", p->physical, action_names[p->action],
               p->partitions, p->replication);
        if (p->action == ACTION_ALTER) {
            for (size_t c = 0; c < p->n_changes; c++)
                printf(" %s: %s -> %s", p->changes[c].name,
                       p->changes[c].from ? p->changes[c].from : "(unset)", p->changes[c].to);
        } else {
            for (size_t c = 0; c < p->wanted.n; c++)
                printf(" %s=%s", p->wanted.items[c].key, p->wanted.items[c].value);
            if (p->action == ACTION_UNCHECKED) printf(" (the broker does not describe configs)");
        }
        putchar('\n');
        if (*p->note) printf("%-32s   note: %s\n", "", p->note);
    }
}

static void print_json(const topic_plan_t *plans, size_t n, bool dry_run) {
    json_t *topics = json_array();
    for (size_t i = 0; i < n; i++) {
        const topic_plan_t *p = &plans[i];
        json_t *configs = json_object();
        for (size_t c = 0; c < p->wanted.n; c++)
            json_object_set_new(configs, p->wanted.items[c].key,
                                json_string(p->wanted.items[c].value));
        json_t *changes = json_array();
        for (size_t c = 0; c < p->n_changes; c++)
            json_array_append_new(changes,
                                  json_pack("{s:s, s:o, s:s}", "config", p->changes[c].name, "from",
                                            mmctl_json_str_or_null(p->changes[c].from), "to",
                                            p->changes[c].to));
        json_array_append_new(
            topics,
            json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:o, s:o}", "topic", p->physical, "logical",
                      p->spec->topic, "action", action_names[p->action], "partitions",
                      (int)p->partitions, "replication", (int)p->replication, "configs", configs,
                      "changes", changes, "note", *p->note ? json_string(p->note) : json_null()));
    }
    mmctl_print_json(json_pack("{s:s, s:b, s:o}", "topic_prefix", mm_kafka_topic_prefix(),
                               "dry_run", dry_run, "topics", topics));
}

int mmctl_topics_init(const mmctl_opts_t *o) {
    char errstr[1024];
    if ((!o->bootstrap_servers || !*o->bootstrap_servers) &&
        (!o->bootstrap_file || !*o->bootstrap_file))
        return mmctl_usage_error("topics init needs --bootstrap-servers or --bootstrap-file");
    char *bootstrap = mm_kafka_resolve_bootstrap(o->bootstrap_servers, o->bootstrap_file,
                                                 MMCTL_BOOTSTRAP_WAIT_MS, errstr, sizeof(errstr));
    if (!bootstrap) return mmctl_fail(MM_ERR_CONFIG, "bootstrap", errstr);

    size_t n = 0;
    const mm_kafka_topic_spec_t *specs = mm_kafka_topic_specs(&n);
    topic_plan_t *plans = calloc(n, sizeof(*plans));
    if (!plans) {
        free(bootstrap);
        return mmctl_fail(MM_ERR_NOMEM, "topics init", "out of memory");
    }
    int rc = EXIT_OK;
    for (size_t i = 0; i < n && rc == EXIT_OK; i++) {
        plans[i].spec = &specs[i];
        mm_err_t err = plan_topic(bootstrap, o, &plans[i], errstr, sizeof(errstr));
        if (err) rc = mmctl_fail(err, specs[i].topic, errstr);
    }
    for (size_t i = 0; i < n && rc == EXIT_OK && !o->dry_run; i++) {
        mm_err_t err = apply_plan(bootstrap, o, &plans[i], errstr, sizeof(errstr));
        if (err) rc = mmctl_fail(err, plans[i].physical, errstr);
    }
    if (rc == EXIT_OK) {
        if (o->format == OUT_JSON)
            print_json(plans, n, o->dry_run);
        else
            print_table(plans, n, o->dry_run);
    }
    for (size_t i = 0; i < n; i++) plan_free(&plans[i]);
    free(plans);
    free(bootstrap);
    return rc;
}
