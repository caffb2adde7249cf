/*
 * test_avro_support.h - shared by the Avro codec tests (test_avro*.c): an
 * independent Avro writer, sample records of every type, fixture readers and
 * rejection checks. See test_avro_support.c.
 */
#ifndef MM_TEST_AVRO_SUPPORT_H
#define MM_TEST_AVRO_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "mm/avro.h"
#include "mm/buf.h"
#include "mm/records.h"

#ifndef MM_FIXTURES_DIR
#error "MM_FIXTURES_DIR must point at tests/fixtures"
#endif
#define AVRO_FIXTURES MM_FIXTURES_DIR "/avro"

extern char errstr[512];

/** @brief Criterion suite .init: the codec must start (schemas parse and match). */
void avro_suite_init(void);

bool dbl_same(double a, double b);
bool all_zero(const void *p, size_t n);

/* The independent writer: zig-zag varints, strings, little-endian doubles. */
void put_bytes(mm_buf_t *b, const void *p, size_t n);
void put_byte(mm_buf_t *b, uint8_t x);
void put_long(mm_buf_t *b, int64_t v);
void put_str(mm_buf_t *b, const char *s);
void put_double(mm_buf_t *b, double d);
void put_header(mm_buf_t *b, mm_record_type_t type);

/*
 * ObservationBatch up to and excluding time_ms: five one-letter strings
 * (10 bytes) and four one-byte scalars, so time_ms starts at payload offset 19.
 */
#define OBS_TIME_OFFSET 19
void put_obs_prefix(mm_buf_t *b);
/* DeadLetter up to and excluding the partition_key union (payload offset 11). */
#define DL_PARTITION_KEY_OFFSET 11
void put_dl_prefix(mm_buf_t *b);

/* Expect @p payload to be rejected with @p code and a reason containing @p want. */
void assert_dl_rejected(const mm_buf_t *payload, mm_err_t code, const char *want);
void assert_obs_rejected(const mm_buf_t *payload, mm_err_t code, const char *want);

/* Sample records; arrays and strings point at static storage. */
extern int64_t obs_time[4];
extern double obs_target[4];
extern int64_t obs_line[4];
extern double obs_price[4];
extern double obs_promo[4];
extern mm_obs_column_t obs_columns[2];
extern mm_metric_t trained_metrics[3];
extern mm_metric_t trained_baseline[1];
extern const char *score_features[2];
extern int64_t score_time[3];
extern double score_values[6];
extern int64_t pred_time[2];
extern double pred_value[2];
extern double pred_lower[2];
extern double pred_upper[2];
extern uint8_t dl_original[5];

mm_observation_batch_t sample_obs(void);
mm_model_trained_t sample_trained(bool optionals);
mm_model_decision_t sample_decision(mm_decision_kind_t kind, bool production, bool optionals);
mm_score_request_t sample_score(bool optionals);
mm_prediction_batch_t sample_prediction(bool optionals);
mm_dead_letter_t sample_dead_letter(bool optionals);

/* Fixtures under tests/fixtures/avro/. */
mm_buf_t read_hex_fixture(const char *name);
char *read_text_fixture(const char *name);
void assert_bytes_equal(const mm_buf_t *got, const mm_buf_t *want, const char *what);

/* Field-by-field equality through the codec's descriptors, naming the first difference. */
#define assert_record_equal(type, got, want)                                                       \
    do {                                                                                           \
        char diff_[512];                                                                           \
        cr_assert(mm_avro_equal((type), (got), (want), diff_, sizeof(diff_)), "%s", diff_);        \
    } while (0)

/* Encode one record into a fresh buffer (asserting success). */
#define ENCODE(fn, rec, buf)                                                                       \
    do {                                                                                           \
        mm_buf_init((buf), 0);                                                                     \
        mm_err_t enc_err_ = fn((rec), (buf), errstr, sizeof(errstr));                              \
        cr_assert_eq(enc_err_, MM_OK, #fn ": %s", errstr);                                         \
    } while (0)

#endif
