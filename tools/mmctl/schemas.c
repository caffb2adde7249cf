/*
 * schemas.c - `mmctl schemas sync [--verify-only]`: make the schema registry
 * at --schema-registry-url agree with the schema catalog (mm/schema_registry.h):
 * each schema of schemas/catalog.json, current and retired, under
 * "<topic>-value" with its catalog id (the topic as named on the cluster,
 * with --topic-prefix), registered in IMPORT mode when missing
 * (or, with --verify-only, only checked). Prints one row per subject and id.
 */
#include <stdio.h>
#include <stdlib.h>

#include "mm/kafka.h"
#include "mm/schema_registry.h"
#include "mmctl.h"

static void print_report(const mmctl_opts_t *o, const mm_schema_registry_report_t *r) {
    if (o->format == OUT_JSON) {
        json_t *rows = json_array();
        for (size_t i = 0; i < r->n_entries; i++) {
            const mm_schema_registry_entry_t *e = &r->entries[i];
            json_array_append_new(rows,
                                  json_pack("{s:s,s:i,s:s,s:b,s:s}", "subject", e->subject, "id",
                                            (int)e->id, "record", e->record, "retired", e->retired,
                                            "state", mm_schema_registry_state_name(e->state)));
        }
        mmctl_print_json(
            json_pack("{s:o,s:i}", "schemas", rows, "registered", (int)r->n_registered));
        return;
    }
    printf("%-32s %4s  %-30s %-8s %s\n", "SUBJECT", "ID", "RECORD", "VERSION", "STATE");
    for (size_t i = 0; i < r->n_entries; i++) {
        const mm_schema_registry_entry_t *e = &r->entries[i];
        printf("%-32s %4d  %-30s %-8s %s\n", e->subject, (int)e->id, e->record,
               e->retired ? "retired" : "current", mm_schema_registry_state_name(e->state));
    }
}

int mmctl_schemas_sync(const mmctl_opts_t *o) {
    if (!o->schema_registry_url || !*o->schema_registry_url)
        return mmctl_usage_error(
            "schemas sync needs --schema-registry-url (or MM_SCHEMA_REGISTRY_URL)");
    mm_schema_registry_opts_t opts = {.url = o->schema_registry_url,
                                      .user = o->schema_registry_user,
                                      .password = o->schema_registry_password,
                                      .topic_prefix = mm_kafka_topic_prefix(),
                                      .verify_only = o->verify_only};
    mm_schema_registry_report_t *report = malloc(sizeof(*report));
    if (!report) return mmctl_fail(MM_ERR_NOMEM, "schemas sync", "out of memory");
    char errstr[2048];
    mm_err_t err = mm_schema_registry_sync(&opts, report, errstr, sizeof(errstr));
    int rc = EXIT_OK;
    if (err)
        rc =
            mmctl_fail(err, o->verify_only ? "schemas sync --verify-only" : "schemas sync", errstr);
    else
        print_report(o, report);
    free(report);
    return rc;
}
