/*
 * test_model_cache.c - the scorer's model cache (services/scorer/model_cache.c)
 * with real artifacts in a file:// blob store: concurrent requests for one
 * cold artifact load it once; eviction under pressure never frees a model
 * in use (run under ASan, a freed model in use is a crash); a hot swap keeps
 * the old model alive for its borrowers; a digest mismatch is an integrity
 * error; a failed load is held, then tried again.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/clock.h"
#include "mm/model.h"
#include "model_cache.h"
#include "support.h"
#include "test_serve_fixture.h"

#define WAIT_MS 20000

static sfx_t fx;
static mm_blob_t *blob;
static char errstr[1024];

static void setup(void) {
    sfx_init(&fx, NULL);
    blob = mm_blob_new(fx.blob_url, NULL, errstr, sizeof(errstr));
    cr_assert_not_null(blob, "%s", errstr);
}

static void teardown(void) {
    mm_blob_destroy(blob);
    sfx_fini(&fx);
}

TestSuite(model_cache, .init = setup, .fini = teardown, .timeout = 120);

/* A model answers: its forecast has @p h finite values (under ASan, a freed model would crash). */
static void use(const mm_model_t *m) {
    mm_forecast_t fc = {0};
    cr_assert_eq(mm_model_forecast(m, SFX_HORIZON, NULL, &fc, errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_expect_eq(fc.h, SFX_HORIZON);
    mm_forecast_clear(&fc);
}

/* ------------------------------------------------------------ single flight */

typedef struct flight {
    mm_model_cache_t *cache;
    const mm_model_decision_t *d;
    atomic_int fetches;
    atomic_bool release;
    const mm_model_t *got[16];
    mm_err_t errs[16];
} flight_t;

static mm_err_t slow_fetch(void *opaque, mm_blob_t *b, const char *uri, const char *sha,
                           mm_buf_t *out, char *es, size_t es_size) {
    flight_t *f = opaque;
    atomic_fetch_add(&f->fetches, 1);
    while (!atomic_load(&f->release)) mm_sleep_ms(1, NULL); /* held until every caller waits */
    return mm_blob_get_verified(b, uri, sha, -1, out, es, es_size);
}

typedef struct caller {
    flight_t *f;
    int i;
} caller_t;

static void *call(void *opaque) {
    caller_t *c = opaque;
    char es[512];
    mm_blob_t *own = mm_blob_new(fx.blob_url, NULL, es, sizeof(es));
    c->f->errs[c->i] =
        mm_model_cache_get(c->f->cache, own, c->f->d->production.artifact_uri,
                           c->f->d->production.artifact_sha256, &c->f->got[c->i], es, sizeof(es));
    mm_blob_destroy(own);
    return NULL;
}

Test(model_cache, concurrent_requests_for_one_cold_artifact_load_it_once) {
    enum { N = 8 };
    mm_model_decision_t d = sfx_train_decision(&fx, SFX_KEY, 100, 2.0, 1);
    flight_t f = {.cache = mm_model_cache_new(64u << 20), .d = &d};
    mm_model_cache_set_fetch(f.cache, slow_fetch, &f);
    pthread_t th[N];
    caller_t callers[N];
    for (int i = 0; i < N; i++) {
        callers[i] = (caller_t){.f = &f, .i = i};
        cr_assert_eq(pthread_create(&th[i], NULL, call, &callers[i]), 0);
    }
    /* Every caller but the loader ends up waiting for the one load in progress. */
    mm_model_cache_stats_t st;
    int64_t deadline = mm_mono_ms() + mmt_timeout_ms(WAIT_MS);
    do {
        mm_sleep_ms(2, NULL);
        mm_model_cache_stats(f.cache, &st);
    } while (st.waiting < N - 1 && mm_mono_ms() < deadline);
    cr_expect_eq(st.waiting, (size_t)N - 1, "the other callers wait for the first one's load");
    cr_expect_eq(atomic_load(&f.fetches), 1, "one fetch while %d callers asked", N);
    atomic_store(&f.release, true);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    mm_model_cache_stats(f.cache, &st);
    cr_expect_eq(atomic_load(&f.fetches), 1);
    cr_expect_eq(st.loads, 1);
    cr_expect_eq(st.misses, 1);
    cr_expect_eq(st.hits, N - 1);
    cr_expect_eq(st.in_use, 1, "one entry, borrowed %d times", N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(f.errs[i], MM_OK);
        cr_expect_eq(f.got[i], f.got[0], "everyone got the same model");
        use(f.got[i]);
        mm_model_cache_release(f.cache, d.production.artifact_sha256);
    }
    mm_model_cache_stats(f.cache, &st);
    cr_expect_eq(st.in_use, 0);
    mm_model_cache_destroy(f.cache);
    mm_model_decision_clear(&d);
}

/* ------------------------------------------------------------ eviction */

static const mm_model_t *get(mm_model_cache_t *c, const mm_model_decision_t *d) {
    const mm_model_t *m = NULL;
    mm_err_t err = mm_model_cache_get(c, blob, d->production.artifact_uri,
                                      d->production.artifact_sha256, &m, errstr, sizeof(errstr));
    cr_assert_eq(err, MM_OK, "%s", errstr);
    return m;
}

static void put(mm_model_cache_t *c, const mm_model_decision_t *d) {
    mm_model_cache_release(c, d->production.artifact_sha256);
}

Test(model_cache, eviction_under_pressure_never_frees_a_model_in_use) {
    enum { N = 6 };
    mm_model_decision_t d[N];
    for (int i = 0; i < N; i++) d[i] = sfx_train_decision(&fx, SFX_KEY, 60 + 5 * i, 2.0, i + 1);
    /* Measure one model, then bound the cache to about two of them. */
    mm_model_cache_t *probe = mm_model_cache_new(1u << 30);
    get(probe, &d[0]);
    put(probe, &d[0]);
    mm_model_cache_stats_t st;
    mm_model_cache_stats(probe, &st);
    size_t one = st.bytes;
    mm_model_cache_destroy(probe);
    cr_assert_gt(one, 0);

    mm_model_cache_t *c = mm_model_cache_new(one * 2 + one / 2);
    const mm_model_t *held = get(c, &d[0]); /* borrowed through everything below */
    for (int i = 1; i < N; i++) {
        use(get(c, &d[i]));
        put(c, &d[i]);
        use(held);
    }
    mm_model_cache_stats(c, &st);
    cr_expect_geq(st.evictions, N - 3, "the bound forced evictions (%lld)",
                  (long long)st.evictions);
    cr_expect_leq(st.bytes, one * 2 + one / 2 + one, "within the bound plus what is borrowed");
    cr_expect_eq(st.in_use, 1);
    int64_t loads = st.loads;
    cr_expect_eq(get(c, &d[0]), held, "the model in use stayed in the cache");
    mm_model_cache_stats(c, &st);
    cr_expect_eq(st.loads, loads, "no load for the model in use");
    put(c, &d[0]);
    put(c, &d[0]);
    /* Released, it is evicted like any other. */
    for (int i = 1; i < N; i++) {
        get(c, &d[i]);
        put(c, &d[i]);
    }
    get(c, &d[0]);
    put(c, &d[0]);
    mm_model_cache_stats(c, &st);
    cr_expect_gt(st.loads, loads + 1, "once released, the old model was evicted and reloaded");
    mm_model_cache_destroy(c);
    for (int i = 0; i < N; i++) mm_model_decision_clear(&d[i]);
}

Test(model_cache, a_hot_swap_keeps_the_old_model_for_its_borrowers) {
    mm_model_decision_t v1 = sfx_train_decision(&fx, SFX_KEY, 100, 2.0, 1);
    mm_model_decision_t v2 = sfx_train_decision(&fx, SFX_KEY, 90, 2.5, 2);
    mm_model_cache_t *c = mm_model_cache_new(1); /* nothing stays unless borrowed */
    const mm_model_t *old = get(c, &v1);
    const mm_model_t *cur = get(c, &v2);
    cr_expect_neq(old, cur);
    use(old);
    use(cur);
    put(c, &v1);
    put(c, &v2);
    mm_model_cache_stats_t st;
    mm_model_cache_stats(c, &st);
    cr_expect_eq(st.entries, 0, "both evicted once released");
    cr_expect_eq(st.bytes, 0);
    mm_model_cache_destroy(c);
    mm_model_decision_clear(&v1);
    mm_model_decision_clear(&v2);
}

/* ------------------------------------------------------------ failures */

Test(model_cache, a_digest_mismatch_is_an_integrity_error) {
    mm_model_decision_t d = sfx_train_decision(&fx, SFX_KEY, 100, 2.0, 1);
    mm_model_cache_t *c = mm_model_cache_new(1u << 20);
    const mm_model_t *m = NULL;
    char wrong[65];
    memset(wrong, 'a', 64);
    wrong[64] = '\0';
    cr_expect_eq(
        mm_model_cache_get(c, blob, d.production.artifact_uri, wrong, &m, errstr, sizeof(errstr)),
        MM_ERR_INTEGRITY);
    cr_expect_null(m);
    cr_expect(strstr(errstr, d.production.artifact_uri), "the error names the blob: %s", errstr);
    cr_expect_eq(mm_model_cache_get(c, blob, d.production.artifact_uri, "nothex", &m, errstr,
                                    sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    mm_model_cache_destroy(c);
    mm_model_decision_clear(&d);
}

Test(model_cache, a_failed_load_is_held_then_tried_again) {
    mm_model_decision_t d = sfx_missing_decision(&fx, SFX_BROKEN);
    mm_model_cache_t *c = mm_model_cache_new(1u << 20);
    mm_model_cache_set_failure_hold(c, 3600 * 1000);
    const mm_model_t *m = NULL;
    const char *uri = d.production.artifact_uri, *sha = d.production.artifact_sha256;
    cr_expect_eq(mm_model_cache_get(c, blob, uri, sha, &m, errstr, sizeof(errstr)),
                 MM_ERR_NOT_FOUND);
    cr_expect_eq(mm_model_cache_get(c, blob, uri, sha, &m, errstr, sizeof(errstr)),
                 MM_ERR_NOT_FOUND);
    cr_expect(strstr(errstr, "held"), "the error says it is held: %s", errstr);
    mm_model_cache_stats_t st;
    mm_model_cache_stats(c, &st);
    cr_expect_eq(st.loads, 1, "held: not loaded again");
    cr_expect_eq(st.failures_held, 1);
    mm_model_cache_destroy(c);

    c = mm_model_cache_new(1u << 20);
    mm_model_cache_set_failure_hold(c, 1);
    mm_model_cache_get(c, blob, uri, sha, &m, errstr, sizeof(errstr));
    mm_sleep_ms(20, NULL); /* past the hold */
    cr_expect_eq(mm_model_cache_get(c, blob, uri, sha, &m, errstr, sizeof(errstr)),
                 MM_ERR_NOT_FOUND);
    mm_model_cache_stats(c, &st);
    cr_expect_eq(st.loads, 2, "after the hold the artifact is tried again");
    mm_model_cache_destroy(c);
    mm_model_decision_clear(&d);
}
