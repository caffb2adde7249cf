/*
 * test_avro_schema_check.c - the start-up check of the record descriptors
 * against their schemas (common/src/avro_schema_check.c): the embedded
 * schemas pass, and every kind of drift - a renamed, retyped, added, missing
 * or reordered field, a changed union, array item or enum, a nested record
 * that changed - is caught with a reason naming the record and field.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "test_avro_support.h"

TestSuite(avro_schema, .init = avro_suite_init);

/* The embedded schema of @p type with the one occurrence of @p from replaced by @p to. */
static char *altered(mm_record_type_t type, const char *from, const char *to) {
    const char *json = mm_avro_schema_json(type);
    cr_assert_not_null(json);
    const char *at = strstr(json, from);
    cr_assert_not_null(at, "\"%s\" is not in %s", from, mm_avro_schema_name(type));
    cr_assert_null(strstr(at + 1, from), "\"%s\" occurs twice in %s", from,
                   mm_avro_schema_name(type));
    size_t head = (size_t)(at - json), n = strlen(json) - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    cr_assert_not_null(out);
    memcpy(out, json, head);
    memcpy(out + head, to, strlen(to));
    memcpy(out + head + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
    return out;
}

/* Expect the altered schema to fail the check with a reason containing @p want. */
static void assert_drift(mm_record_type_t type, const char *from, const char *to,
                         const char *want) {
    char *schema = altered(type, from, to);
    errstr[0] = 0;
    mm_err_t err = mm_avro_check_schema(type, schema, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_ERR_SCHEMA, "drift \"%s\" -> \"%s\" not caught: %s (%s)", from, to,
                 mm_err_name(err), errstr);
    cr_assert(strstr(errstr, want), "reason \"%s\" lacks \"%s\"", errstr, want);
    free(schema);
}

Test(avro_schema, embedded_schemas_match_their_descriptors) {
    for (int t = 0; t < MM_RECORD__COUNT; t++) {
        mm_record_type_t type = (mm_record_type_t)t;
        cr_assert_eq(mm_avro_check_schema(type, mm_avro_schema_json(type), errstr, sizeof(errstr)),
                     MM_OK, "%s", errstr);
    }
}

Test(avro_schema, a_schema_of_another_record_is_refused) {
    cr_assert_eq(mm_avro_check_schema(MM_RECORD_DEAD_LETTER,
                                      mm_avro_schema_json(MM_RECORD_SCORE_REQUEST), errstr,
                                      sizeof(errstr)),
                 MM_ERR_SCHEMA);
    cr_assert(strstr(errstr, "DeadLetter: the descriptor says record DeadLetter"), "%s", errstr);
}

Test(avro_schema, an_unparsable_schema_is_refused) {
    cr_assert_eq(mm_avro_check_schema(MM_RECORD_DEAD_LETTER, "{\"type\": \"record\"", errstr,
                                      sizeof(errstr)),
                 MM_ERR_SCHEMA);
}

Test(avro_schema, a_renamed_field_is_drift) {
    assert_drift(MM_RECORD_SCORE_REQUEST, "\"name\": \"horizon\"", "\"name\": \"steps\"",
                 "schema drift: ScoreRequest: field 3 is \"horizon\" in the descriptor, "
                 "\"steps\" in the schema");
}

Test(avro_schema, a_retyped_field_is_drift) {
    assert_drift(MM_RECORD_DEAD_LETTER, "{\"name\": \"source_partition\", \"type\": \"int\"",
                 "{\"name\": \"source_partition\", \"type\": \"long\"",
                 "DeadLetter.source_partition: the descriptor says int, the schema long");
}

Test(avro_schema, an_added_field_is_drift) {
    assert_drift(MM_RECORD_MODEL_TRAINED, "null when nothing.\"}",
                 "null when nothing.\"}, {\"name\": \"host\", \"type\": \"string\"}",
                 "ModelTrained: schema field 21 \"host\" has no descriptor row");
}

Test(avro_schema, a_missing_field_is_drift) {
    assert_drift(MM_RECORD_SCORE_REQUEST,
                 ",\n    {\"name\": \"requested_at_ms\", \"type\": {\"type\": \"long\", "
                 "\"logicalType\": \"timestamp-millis\"}, \"doc\": \"When the request was "
                 "made.\"}",
                 "", "ScoreRequest: descriptor row 7 \"requested_at_ms\" is not in the schema");
}

Test(avro_schema, a_union_with_swapped_branches_is_drift) {
    assert_drift(MM_RECORD_PREDICTION_BATCH,
                 "{\"name\": \"message\", \"type\": [\"null\", \"string\"]",
                 "{\"name\": \"message\", \"type\": [\"string\", \"null\"]",
                 "PredictionBatch.message: only [\"null\", X] unions are supported");
}

Test(avro_schema, a_field_made_optional_is_drift) {
    assert_drift(MM_RECORD_DEAD_LETTER, "{\"name\": \"service\", \"type\": \"string\"",
                 "{\"name\": \"service\", \"type\": [\"null\", \"string\"]",
                 "DeadLetter.service: the descriptor says not a union, the schema union");
}

Test(avro_schema, an_array_item_type_change_is_drift) {
    assert_drift(MM_RECORD_OBSERVATION_BATCH,
                 "{\"name\": \"target\", \"type\": {\"type\": \"array\", \"items\": \"double\"}",
                 "{\"name\": \"target\", \"type\": {\"type\": \"array\", \"items\": \"float\"}",
                 "ObservationBatch.target: the descriptor says array of double, the schema "
                 "float");
}

Test(avro_schema, an_added_enum_symbol_is_drift) {
    assert_drift(MM_RECORD_MODEL_DECISION, "\"promoted\", \"fallback\"]",
                 "\"promoted\", \"fallback\", \"archived\"]",
                 "ModelDecision.decision: the descriptor has 5 enum symbols, the schema 6");
}

Test(avro_schema, a_renamed_enum_symbol_is_drift) {
    assert_drift(MM_RECORD_PREDICTION_BATCH, "[\"ok\", \"no_model\", \"error\"]",
                 "[\"ok\", \"missing\", \"error\"]",
                 "PredictionBatch.status: enum symbol 1 is \"no_model\" in the descriptor, "
                 "\"missing\" in the schema");
}

Test(avro_schema, drift_inside_a_nested_record_names_the_path) {
    assert_drift(MM_RECORD_MODEL_TRAINED, "{\"name\": \"value\", \"type\": \"double\"",
                 "{\"name\": \"value\", \"type\": \"float\"",
                 "ModelTrained.metrics.value: the descriptor says double, the schema float");
    assert_drift(MM_RECORD_MODEL_DECISION, "{\"name\": \"version\", \"type\": \"int\"",
                 "{\"name\": \"version\", \"type\": \"long\"",
                 "ModelDecision.production.version: the descriptor says int, the schema long");
    assert_drift(MM_RECORD_OBSERVATION_BATCH, "\"name\": \"ObservationColumn\"",
                 "\"name\": \"Column\"",
                 "ObservationBatch.columns: the descriptor says record ObservationColumn, the "
                 "schema record Column");
}
