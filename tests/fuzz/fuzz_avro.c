/*
 * fuzz_avro.c - libFuzzer target: the Avro record decoder
 * (common/src/avro_decode.c) on arbitrary framed payloads, for every record
 * type, and the JSON rendering of any payload (mmctl, dead letters).
 *
 * A payload that decodes is encoded again and decoded once more: the second
 * decode must succeed and equal the first (a record the codec reads, it must
 * write as it read it). Seeds: tests/fuzz/corpus/avro/ (one of each type).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mm/avro.h"
#include "mm/records.h"

typedef union any_record {
    mm_observation_batch_t observation_batch;
    mm_model_trained_t model_trained;
    mm_model_decision_t model_decision;
    mm_score_request_t score_request;
    mm_prediction_batch_t prediction_batch;
    mm_dead_letter_t dead_letter;
} any_record_t;

static void round_trip(mm_record_type_t type, const any_record_t *rec) {
    char errstr[512];
    mm_buf_t out;
    mm_buf_init(&out, 0);
    if (mm_avro_encode(type, rec, &out, errstr, sizeof(errstr)) == MM_OK) {
        any_record_t again;
        if (mm_avro_decode(type, out.data, out.len, &again, errstr, sizeof(errstr)) != MM_OK)
            mm_fuzz_fail("avro: type %d re-encoded does not decode: %s", (int)type, errstr);
        char diff[512];
        if (!mm_avro_equal(type, rec, &again, diff, sizeof(diff)))
            mm_fuzz_fail("avro: type %d changed in a round trip at %s", (int)type, diff);
        mm_avro_clear(type, &again);
    }
    mm_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int initialised;
    char errstr[512];
    if (!initialised) {
        if (mm_avro_init(errstr, sizeof(errstr)) != MM_OK) mm_fuzz_fail("avro init: %s", errstr);
        initialised = 1;
    }
    for (int type = 0; type < MM_RECORD__COUNT; type++) {
        any_record_t rec;
        if (mm_avro_decode((mm_record_type_t)type, data, size, &rec, errstr, sizeof(errstr)) !=
            MM_OK)
            continue;
        round_trip((mm_record_type_t)type, &rec);
        mm_avro_clear((mm_record_type_t)type, &rec);
    }
    free(mm_avro_to_json(data, size, errstr, sizeof(errstr)));
    return 0;
}
