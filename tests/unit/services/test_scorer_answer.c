/*
 * test_scorer_answer.c - one key's answer in a batch run
 * (services/scorer/answer.c, mm_scorer__answer_key) on the serve fixture's
 * scorer, without Kafka or a sink: the answer is handed to the test.
 */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "scorer_int.h"
#include "scoring_data.h"
#include "test_serve_fixture.h"

static sfx_t fx;

static void setup(void) {
    sfx_init(&fx, NULL);
}

static void teardown(void) {
    sfx_fini(&fx);
}

TestSuite(answer, .init = setup, .fini = teardown, .timeout = 120);

/* What the run delivered for the key. */
typedef struct answer {
    int delivered;
    mm_prediction_status_t status;
    size_t n;
    int64_t first_ms;
    int64_t model_data_end_ms;
    int32_t new_observations, planned_steps;
    char message[256];
} answer_t;

static mm_err_t capture(void *opaque, const mm_prediction_batch_t *p, char *errstr,
                        size_t errstr_size) {
    (void)errstr;
    (void)errstr_size;
    answer_t *a = opaque;
    a->delivered++;
    a->status = p->status;
    a->n = p->n;
    a->first_ms = p->n ? p->time_ms[0] : -1;
    a->model_data_end_ms = p->model_data_end_ms;
    a->new_observations = p->new_observations;
    a->planned_steps = p->planned_steps;
    snprintf(a->message, sizeof(a->message), "%s", p->message ? p->message : "");
    return MM_OK;
}

/* @p key's planned rows: days [@p from, @p to) with their price and no target. */
static void add_plan(const char *key, int from, int to) {
    static sfx_obs_t obs;
    sfx_observations(&fx, key, from, to, "plan-1", &obs);
    for (int i = 0; i < to - from; i++) obs.target[i] = NAN;
    char errstr[1024];
    mm_scoring_data_t *sd =
        mm_scoring_data_open(fx.state_path, &fx.spec, 400, "mm-scorer", errstr, sizeof(errstr));
    cr_assert_not_null(sd, "%s", errstr);
    cr_assert_eq(mm_scoring_data_apply(sd, NULL, 0, 0, &obs.batch, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    mm_scoring_data_close(sd);
}

/*
 * A batch run is as of the latest observation of all keys. A key whose
 * scoring data holds only its plan (its observations were never read, or are
 * older than the topic keeps) and whose model ends after that time cannot
 * move its origin back: it forecasts from its model's data end, with its plan.
 */
Test(answer, a_key_with_only_a_plan_forecasts_from_its_data_end_when_the_run_is_as_of_before_it) {
    const char *key = "store=5/item=1";
    mm_model_decision_t d = sfx_train_decision(&fx, key, 100, 2.0, 1); /* data end: day 99 */
    add_plan(key, 100, 100 + SFX_HORIZON);
    mm_scorer_batch_stats_t stats = {0};
    answer_t a = {0};
    mm_scorer_run_t run = {.run_id = "run-1",
                           .as_of_ms = 90 * SFX_DAY_MS, /* the other keys' latest observation */
                           .horizon = SFX_HORIZON,
                           .stats = &stats,
                           .deliver = capture,
                           .hook_opaque = &a};
    char errstr[1024] = "";
    cr_assert_eq(mm_scorer__answer_key(fx.scorer, key, &d, &run, errstr, sizeof(errstr)), MM_OK,
                 "%s", errstr);
    cr_assert_eq(a.delivered, 1);
    cr_assert_eq(a.status, MM_PREDICTION_OK, "%s", a.message);
    cr_expect_eq(stats.scored, 1);
    cr_expect_eq(a.model_data_end_ms, 99 * SFX_DAY_MS);
    cr_expect_eq(a.n, SFX_HORIZON);
    cr_expect_eq(a.first_ms, 100 * SFX_DAY_MS,
                 "starts the day after its data end, not after day 90");
    cr_expect_eq(a.planned_steps, SFX_HORIZON, "its plan reaches every step");
    cr_expect_eq(a.new_observations, 0);
    mm_model_decision_clear(&d);
}
