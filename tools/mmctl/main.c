/*
 * mmctl - the manymodels admin CLI, noun-verb style:
 *
 *   mmctl models list|get|versions|promote|rollback   the model registry (mm-promoter's SQLite)
 *   mmctl report                                      registry counts, champion metrics vs
 *                                                     baselines, and the scorer's sink
 *   mmctl predictions list|export                     the latest predictions in the sink
 *   mmctl outbox deliver                              send pending decisions to Kafka
 *   mmctl topics init [--dry-run]                     create the topics with their configs
 *   mmctl deadletters                                 the dead-letter topic, decoded
 *   mmctl schemas sync [--verify-only]                make the schema registry agree with
 *                                                     the schema catalog
 *
 * Output: -o table (default, for people) or -o json (for scripts; stable field names);
 * predictions also -o csv.
 * stdout carries the data, stderr the diagnostics. Exit codes (mm/exit.h): 0 ok, 1 error,
 * 3 not found, 64 usage, 78 configuration.
 *
 * Workload: an operator's occasional command or a script polling `report` once a
 * second. This file parses arguments and dispatches; each noun has its own file
 * (models.c, predictions.c, report.c, outbox.c, topics.c, deadletters.c, schemas.c; output.c
 * prints). Registry
 * logic lives in libmm (mm/registry.h), the sink's schema with mm-scorer (services/scorer/sink.h).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/conf.h"
#include "mm/kafka.h"
#include "mm/log.h"
#include "mm/model.h"
#include "mm/redact.h"
#include "mm/util.h"
#include "mm/version.h"
#include "mmctl.h"

static const char usage_text[] =
    "usage: mmctl [OPTIONS] NOUN VERB [ARGS]\n"
    "\n"
    "Administer manymodels: the model registry, reports, outbox and topics.\n"
    "\n"
    "Commands:\n"
    "  models list                      one row per key: champion version, algorithm,\n"
    "                                   metric vs baseline, previous champion, served fallback\n"
    "  models get KEY                   a key's aliases, champion details and recent audit\n"
    "  models versions KEY              every registered version of a key: status, why it\n"
    "                                   was rejected or fell back, the policy's reason\n"
    "  models promote KEY VERSION --reason TEXT\n"
    "                                   make VERSION the champion (old champion -> previous)\n"
    "  models rollback KEY --reason TEXT\n"
    "                                   restore the previous champion\n"
    "  report [--sink URL]              keys, versions, approved, rejected, fallback,\n"
    "                                   champion metrics vs baselines, predictions in the sink\n"
    "  report --html FILE [--sink URL] [--state PATH]\n"
    "                                   the same as one self-contained HTML page with charts:\n"
    "                                   coverage, accuracy vs baseline, model mix, training,\n"
    "                                   rejected keys, per-key drill-down (docs/operations.md)\n"
    "  predictions list [--key K]       the latest predictions in the sink (each key's latest\n"
    "                                   run; table, json or csv; docs/scoring.md)\n"
    "  predictions export [--key K]     the same with every lineage column (csv, or -o json)\n"
    "  outbox deliver                   send pending decisions to Kafka (needs a bootstrap)\n"
    "  topics init [--partitions N] [--replication N] [--retention-ms MS] [--dry-run]\n"
    "                                   make the topics what a deployment needs: create the\n"
    "                                   missing ones, mm.decisions compacted, retention on\n"
    "                                   the others; bring configs of existing ones in line\n"
    "                                   (partitions are never changed); --dry-run prints\n"
    "                                   the plan only\n"
    "  deadletters [--key K] [--service S] [--limit N]\n"
    "                                   the dead-letter topic decoded: the newest N (default\n"
    "                                   100) with where they came from and why, and counts\n"
    "                                   by service and error over all of them\n"
    "  schemas sync [--verify-only]     register the schema catalog in the schema registry under\n"
    "                                   <topic>-value with the catalog's ids (IMPORT mode), or\n"
    "                                   only check it is there (docs/operations.md)\n"
    "\n"
    "Options:\n"
    "  --registry PATH         registry SQLite file (env MM_PROMOTER_REGISTRY)\n"
    "  --sink URL              mm-scorer's sink, for report and predictions: a SQLite path,\n"
    "                          sqlite://PATH or postgresql://... (env MM_SCORER_SINK)\n"
    "  --html FILE             report: write the HTML page to FILE\n"
    "  --state PATH            report --html: mm-scorer's state store, for each drilled key's\n"
    "                          history (env MM_SCORER_STATE)\n"
    "  --key KEY               predictions, deadletters: one partition key (default: all)\n"
    "  --service NAME          deadletters: only those of one service (mm-ingest, ...)\n"
    "  --limit N               deadletters: list the newest N (default 100; 0: counts only)\n"
    "  -o, --output FORMAT     table (default), json, or csv (predictions)\n"
    "  --reason TEXT           why (required for promote and rollback; kept in the audit log)\n"
    "  --actor NAME            who, for the audit log (default mmctl:$USER)\n"
    "  --metric NAME           metric shown by models list (default: the spec's promotion\n"
    "                          metric with --spec / MM_SPEC, else mase)\n"
    "  --spec PATH             dataset spec (env MM_SPEC)\n"
    "  --bootstrap-servers S   Kafka bootstrap (env MM_BOOTSTRAP_SERVERS)\n"
    "  --bootstrap-file PATH   file holding the bootstrap (env MM_BOOTSTRAP_FILE)\n"
    "  --blob-url URL          blob store, needed to promote a version never copied to\n"
    "                          production/ (env MM_BLOB_URL)\n"
    "  --blob-account NAME     Azure account (env MM_BLOB_ACCOUNT)\n"
    "  --blob-key KEY          Azure SharedKey (env MM_BLOB_KEY)\n"
    "  --blob-sas TOKEN        Azure SAS token (env MM_BLOB_SAS)\n"
    "  --partitions N          topics init: partitions per topic (default 4)\n"
    "  --replication N         topics init: replication factor (default 1)\n"
    "  --retention-ms MS       topics init: retention.ms of every non-compacted topic\n"
    "                          (-1: forever; default: each topic's, docs/operations.md)\n"
    "  --dry-run               topics init: print the plan, change nothing\n"
    "  --topic-prefix P        prefix of every topic and consumer group on the cluster\n"
    "                          (env MM_TOPIC_PREFIX; as the services use it)\n"
    "  --schema-registry-url URL\n"
    "                          Confluent-compatible schema registry (env MM_SCHEMA_REGISTRY_URL)\n"
    "  --schema-registry-user NAME\n"
    "                          basic-auth user (env MM_SCHEMA_REGISTRY_USER)\n"
    "  --schema-registry-password PW\n"
    "                          basic-auth password (env MM_SCHEMA_REGISTRY_PASSWORD; prefer the\n"
    "                          environment: arguments are visible to other users)\n"
    "  --verify-only           schemas sync: change nothing, fail on anything missing\n"
    "  -X KEY=VALUE            librdkafka property (repeatable; overrides the environment's\n"
    "                          MM_KAFKA_<KEY>, e.g. MM_KAFKA_SASL_USERNAME = sasl.username)\n"
    "  --version               the version, git revision and library versions\n"
    "  -h, --help              this text\n"
    "\n"
    "Decisions made by promote and rollback are written to the registry's outbox in the\n"
    "same transaction as the change. With a bootstrap (flag or env) mmctl delivers them to\n"
    "mm.decisions itself; otherwise the running mm-promoter delivers them.\n"
    "\n"
    "Exit status: 0 ok, 1 error, 3 not found (unknown key or version, nothing to roll back\n"
    "to, missing registry or sink file), 64 usage error, 78 configuration error (no\n"
    "bootstrap servers, unusable blob store settings).\n";

/* ------------------------------------------------------------ arguments */

enum {
    OPT_REGISTRY = 256,
    OPT_SINK,
    OPT_KEY,
    OPT_REASON,
    OPT_ACTOR,
    OPT_METRIC,
    OPT_SPEC,
    OPT_BOOTSTRAP_SERVERS,
    OPT_BOOTSTRAP_FILE,
    OPT_BLOB_URL,
    OPT_BLOB_ACCOUNT,
    OPT_BLOB_KEY,
    OPT_BLOB_SAS,
    OPT_PARTITIONS,
    OPT_REPLICATION,
    OPT_HTML,
    OPT_STATE,
    OPT_RETENTION_MS,
    OPT_DRY_RUN,
    OPT_TOPIC_PREFIX,
    OPT_SERVICE,
    OPT_LIMIT,
    OPT_SCHEMA_REGISTRY_URL,
    OPT_SCHEMA_REGISTRY_USER,
    OPT_SCHEMA_REGISTRY_PASSWORD,
    OPT_VERIFY_ONLY,
};

static const struct option long_options[] = {
    {"registry", required_argument, NULL, OPT_REGISTRY},
    {"sink", required_argument, NULL, OPT_SINK},
    {"key", required_argument, NULL, OPT_KEY},
    {"output", required_argument, NULL, 'o'},
    {"reason", required_argument, NULL, OPT_REASON},
    {"actor", required_argument, NULL, OPT_ACTOR},
    {"metric", required_argument, NULL, OPT_METRIC},
    {"spec", required_argument, NULL, OPT_SPEC},
    {"bootstrap-servers", required_argument, NULL, OPT_BOOTSTRAP_SERVERS},
    {"bootstrap-file", required_argument, NULL, OPT_BOOTSTRAP_FILE},
    {"blob-url", required_argument, NULL, OPT_BLOB_URL},
    {"blob-account", required_argument, NULL, OPT_BLOB_ACCOUNT},
    {"blob-key", required_argument, NULL, OPT_BLOB_KEY},
    {"blob-sas", required_argument, NULL, OPT_BLOB_SAS},
    {"partitions", required_argument, NULL, OPT_PARTITIONS},
    {"replication", required_argument, NULL, OPT_REPLICATION},
    {"html", required_argument, NULL, OPT_HTML},
    {"state", required_argument, NULL, OPT_STATE},
    {"retention-ms", required_argument, NULL, OPT_RETENTION_MS},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"topic-prefix", required_argument, NULL, OPT_TOPIC_PREFIX},
    {"service", required_argument, NULL, OPT_SERVICE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"schema-registry-url", required_argument, NULL, OPT_SCHEMA_REGISTRY_URL},
    {"schema-registry-user", required_argument, NULL, OPT_SCHEMA_REGISTRY_USER},
    {"schema-registry-password", required_argument, NULL, OPT_SCHEMA_REGISTRY_PASSWORD},
    {"verify-only", no_argument, NULL, OPT_VERIFY_ONLY},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* @returns -1 to go on, else an exit status. */
static int parse_args(int argc, char **argv, mmctl_opts_t *o) {
    o->registry = mmctl_env_or("MM_PROMOTER_REGISTRY", NULL);
    o->sink = mmctl_env_or("MM_SCORER_SINK", NULL);
    o->spec = mmctl_env_or("MM_SPEC", NULL);
    o->state = mmctl_env_or("MM_SCORER_STATE", NULL);
    o->bootstrap_servers = mmctl_env_or("MM_BOOTSTRAP_SERVERS", NULL);
    o->bootstrap_file = mmctl_env_or("MM_BOOTSTRAP_FILE", NULL);
    o->blob_url = mmctl_env_or("MM_BLOB_URL", NULL);
    o->blob_account = mmctl_env_or("MM_BLOB_ACCOUNT", NULL);
    o->blob_key = mmctl_env_or("MM_BLOB_KEY", NULL);
    o->blob_sas = mmctl_env_or("MM_BLOB_SAS", NULL);
    o->topic_prefix = mmctl_env_or("MM_TOPIC_PREFIX", NULL);
    o->schema_registry_url = mmctl_env_or("MM_SCHEMA_REGISTRY_URL", NULL);
    o->schema_registry_user = mmctl_env_or("MM_SCHEMA_REGISTRY_USER", NULL);
    o->schema_registry_password = mmctl_env_or("MM_SCHEMA_REGISTRY_PASSWORD", NULL);
    o->partitions = 4;
    o->limit = 100;
    o->replication = 1;
    o->format = OUT_TABLE;

    /* librdkafka properties: MM_KAFKA_<KEY> as the services read them, then -X (wins). */
    char kafka_err[256];
    if (mm_conf_kafka_env(&o->kafka, kafka_err, sizeof(kafka_err)) != MM_OK)
        return mmctl_fail(MM_ERR_NOMEM, "MM_KAFKA_*", kafka_err);

    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+ho:X:", long_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        case 'o':
            if (strcmp(optarg, "table") == 0)
                o->format = OUT_TABLE;
            else if (strcmp(optarg, "json") == 0)
                o->format = OUT_JSON;
            else if (strcmp(optarg, "csv") == 0)
                o->format = OUT_CSV;
            else
                return mmctl_usage_error("-o: expected table, json or csv, not '%s'", optarg);
            break;
        case 'X': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg)
                return mmctl_usage_error("-X: expected KEY=VALUE, not '%s'", optarg);
            char *key = mm_strndup(optarg, (size_t)(eq - optarg));
            if (!key || mm_kv_list_set(&o->kafka, key, eq + 1) != MM_OK) {
                free(key);
                return mmctl_fail(MM_ERR_NOMEM, "-X", "out of memory");
            }
            free(key);
            break;
        }
        case OPT_REGISTRY:
            o->registry = optarg;
            break;
        case OPT_SINK:
            o->sink = optarg;
            break;
        case OPT_KEY:
            o->key = optarg;
            break;
        case OPT_REASON:
            o->reason = optarg;
            break;
        case OPT_ACTOR:
            o->actor = optarg;
            break;
        case OPT_METRIC: {
            mm_metric_id_t id;
            if (!mm_metric_parse(optarg, &id))
                return mmctl_usage_error("--metric: unknown metric '%s'", optarg);
            o->metric = optarg;
            break;
        }
        case OPT_SPEC:
            o->spec = optarg;
            break;
        case OPT_BOOTSTRAP_SERVERS:
            o->bootstrap_servers = optarg;
            break;
        case OPT_BOOTSTRAP_FILE:
            o->bootstrap_file = optarg;
            break;
        case OPT_BLOB_URL:
            o->blob_url = optarg;
            break;
        case OPT_BLOB_ACCOUNT:
            o->blob_account = optarg;
            break;
        case OPT_BLOB_KEY:
            o->blob_key = optarg;
            break;
        case OPT_BLOB_SAS:
            o->blob_sas = optarg;
            break;
        case OPT_PARTITIONS:
            if (!mm_parse_i64(optarg, &o->partitions) || o->partitions < 1 || o->partitions > 10000)
                return mmctl_usage_error("--partitions: expected 1..10000, not '%s'", optarg);
            break;
        case OPT_REPLICATION:
            if (!mm_parse_i64(optarg, &o->replication) || o->replication < 1 ||
                o->replication > 100)
                return mmctl_usage_error("--replication: expected 1..100, not '%s'", optarg);
            break;
        case OPT_HTML:
            o->html = optarg;
            break;
        case OPT_STATE:
            o->state = optarg;
            break;
        case OPT_RETENTION_MS:
            if (!mm_parse_i64(optarg, &o->retention_ms) ||
                (o->retention_ms < 1 && o->retention_ms != -1))
                return mmctl_usage_error("--retention-ms: expected milliseconds >= 1 or -1, not "
                                         "'%s'",
                                         optarg);
            break;
        case OPT_DRY_RUN:
            o->dry_run = true;
            break;
        case OPT_TOPIC_PREFIX:
            o->topic_prefix = optarg;
            break;
        case OPT_SERVICE:
            o->service = optarg;
            break;
        case OPT_LIMIT:
            if (!mm_parse_i64(optarg, &o->limit) || o->limit < 0 || o->limit > 1000000)
                return mmctl_usage_error("--limit: expected 0..1000000, not '%s'", optarg);
            break;
        case OPT_SCHEMA_REGISTRY_URL:
            o->schema_registry_url = optarg;
            break;
        case OPT_SCHEMA_REGISTRY_USER:
            o->schema_registry_user = optarg;
            break;
        case OPT_SCHEMA_REGISTRY_PASSWORD:
            o->schema_registry_password = optarg;
            break;
        case OPT_VERIFY_ONLY:
            o->verify_only = true;
            break;
        case '?':
        default:
            return mmctl_usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    return -1;
}

int main(int argc, char **argv) {
    mmctl_opts_t o;
    memset(&o, 0, sizeof(o));
    if (mm_version_requested(argc, argv))
        return mm_version_print("mmctl", stdout) == 0 ? EXIT_OK : EXIT_ERROR;
    mm_log_init("mmctl", MM_LOG_WARN);

    /* Options may come before, between or after the words: collect the words first. */
    char **words = calloc((size_t)argc + 1, sizeof(char *));
    char **opt_argv = calloc((size_t)argc + 1, sizeof(char *));
    if (!words || !opt_argv) {
        free(words);
        free(opt_argv);
        return mmctl_fail(MM_ERR_NOMEM, "mmctl", "out of memory");
    }
    int n_words = 0, n_opts = 0;
    opt_argv[n_opts++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (++i < argc) words[n_words++] = argv[i];
            break;
        }
        if (a[0] == '-' && a[1] != 0) {
            opt_argv[n_opts++] = argv[i];
            /* An option taking a value in the next argument carries it along. */
            bool takes_value = false;
            if (strcmp(a, "-o") == 0 || strcmp(a, "-X") == 0) takes_value = true;
            if (a[1] == '-' && !strchr(a, '='))
                for (const struct option *lo = long_options; lo->name; lo++)
                    if (strcmp(a + 2, lo->name) == 0 && lo->has_arg == required_argument)
                        takes_value = true;
            if (takes_value && i + 1 < argc) opt_argv[n_opts++] = argv[++i];
        } else {
            words[n_words++] = argv[i];
        }
    }
    int rc = parse_args(n_opts, opt_argv, &o);
    if (rc >= 0) goto out;
    char errstr[512];
    if (mm_kafka_set_topic_prefix(o.topic_prefix, errstr, sizeof(errstr)) != MM_OK) {
        rc = mmctl_fail(MM_ERR_CONFIG, "--topic-prefix", errstr);
        goto out;
    }
    /* No secret in any diagnostic: the blob key and SAS, and what the URLs carry. */
    if (mm_redact_register(o.blob_key) || mm_redact_register(o.blob_sas) ||
        mm_redact_register_url(o.blob_url) || mm_redact_register_url(o.sink) ||
        mm_redact_register(o.schema_registry_password)) {
        rc = mmctl_fail(MM_ERR_NOMEM, "start", "cannot register the secrets for redaction");
        goto out;
    }
    if (mm_conf_register_secrets(NULL, NULL, &o.kafka, errstr, sizeof(errstr)) != MM_OK) {
        rc = mmctl_fail(MM_ERR_NOMEM, "start", errstr); /* SASL / SSL passwords of -X, MM_KAFKA_* */
        goto out;
    }

    const char *noun = n_words > 0 ? words[0] : NULL;
    const char *verb = n_words > 1 ? words[1] : NULL;
    if (!noun) {
        fputs(usage_text, stderr);
        rc = EXIT_USAGE;
    } else if (strcmp(noun, "models") == 0 && verb && strcmp(verb, "list") == 0 && n_words == 2) {
        rc = mmctl_models_list(&o);
    } else if (strcmp(noun, "models") == 0 && verb && strcmp(verb, "get") == 0 && n_words == 3) {
        rc = mmctl_models_get(&o, words[2]);
    } else if (strcmp(noun, "models") == 0 && verb && strcmp(verb, "versions") == 0 &&
               n_words == 3) {
        rc = mmctl_models_versions(&o, words[2]);
    } else if (strcmp(noun, "models") == 0 && verb && strcmp(verb, "promote") == 0 &&
               n_words == 4) {
        rc = mmctl_models_promote(&o, words[2], words[3]);
    } else if (strcmp(noun, "models") == 0 && verb && strcmp(verb, "rollback") == 0 &&
               n_words == 3) {
        rc = mmctl_models_rollback(&o, words[2]);
    } else if (strcmp(noun, "report") == 0 && n_words == 1) {
        rc = mmctl_report(&o);
    } else if (strcmp(noun, "predictions") == 0 && verb && n_words == 2 &&
               (strcmp(verb, "list") == 0 || strcmp(verb, "export") == 0)) {
        rc = strcmp(verb, "list") == 0 ? mmctl_predictions_list(&o) : mmctl_predictions_export(&o);
    } else if (strcmp(noun, "outbox") == 0 && verb && strcmp(verb, "deliver") == 0 &&
               n_words == 2) {
        rc = mmctl_outbox_deliver(&o);
    } else if (strcmp(noun, "topics") == 0 && verb && strcmp(verb, "init") == 0 && n_words == 2) {
        rc = mmctl_topics_init(&o);
    } else if (strcmp(noun, "deadletters") == 0 &&
               (n_words == 1 || (n_words == 2 && strcmp(verb, "list") == 0))) {
        rc = mmctl_deadletters(&o);
    } else if (strcmp(noun, "schemas") == 0 && verb && strcmp(verb, "sync") == 0 && n_words == 2) {
        rc = mmctl_schemas_sync(&o);
    } else {
        fprintf(stderr, "mmctl: unknown command or wrong arguments:");
        for (int i = 0; i < n_words; i++) fprintf(stderr, " %s", words[i]);
        fprintf(stderr, "\nTry 'mmctl --help'.\n");
        rc = EXIT_USAGE;
    }
out:
    mm_kv_list_free(&o.kafka);
    free(words);
    free(opt_argv);
    return rc;
}
