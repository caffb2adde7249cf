/*
 * avro_typed.c - the typed per-record functions of avro.h
 * (mm_avro_encode_observation_batch, mm_model_trained_clear, ...): thin
 * wrappers over the table-driven codec, so callers keep a type-checked API.
 * They sit above the encoder, the decoder and the descriptors, which never
 * call back into this file.
 */
#include "avro_int.h"

#define WRAPPERS(lower, TYPE, ctype)                                                               \
    mm_err_t mm_avro_encode_##lower(const ctype *rec, mm_buf_t *out, char *errstr,                 \
                                    size_t errstr_size) {                                          \
        return mm_avro_encode(TYPE, rec, out, errstr, errstr_size);                                \
    }                                                                                              \
    mm_err_t mm_avro_decode_##lower(const void *payload, size_t len, ctype *rec, char *errstr,     \
                                    size_t errstr_size) {                                          \
        return mm_avro_decode(TYPE, payload, len, rec, errstr, errstr_size);                       \
    }                                                                                              \
    void mm_##lower##_clear(ctype *rec) {                                                          \
        mm_avro_clear(TYPE, rec);                                                                  \
    }

WRAPPERS(observation_batch, MM_RECORD_OBSERVATION_BATCH, mm_observation_batch_t)
WRAPPERS(model_trained, MM_RECORD_MODEL_TRAINED, mm_model_trained_t)
WRAPPERS(model_decision, MM_RECORD_MODEL_DECISION, mm_model_decision_t)
WRAPPERS(score_request, MM_RECORD_SCORE_REQUEST, mm_score_request_t)
WRAPPERS(prediction_batch, MM_RECORD_PREDICTION_BATCH, mm_prediction_batch_t)
WRAPPERS(dead_letter, MM_RECORD_DEAD_LETTER, mm_dead_letter_t)
