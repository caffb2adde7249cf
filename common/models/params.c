/*
 * params.c - named parameter vectors: the fitted parameters of one model as
 * (name, f64 array | byte string) pairs. Algorithms save into them and load
 * from them; the artifact stores them, so an artifact can be inspected
 * without knowing the algorithm ("alpha", "level", "coef", ...).
 *
 * Workload: a handful of vectors per model, looked up by a linear scan.
 */
#include <stdlib.h>
#include <string.h>

#include "models_int.h"

static mm_models__param_t *params_slot(mm_models__params_t *ps, const char *name) {
    size_t len = strlen(name);
    if (ps->n >= MM_MODELS__MAX_PARAMS || len == 0 || len > MM_MODELS__PARAM_NAME_MAX) return NULL;
    mm_models__param_t *p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    memcpy(p->name, name, len + 1);
    return p;
}

mm_err_t mm_models__params_add(mm_models__params_t *ps, const char *name, const double *v,
                               size_t n) {
    mm_models__param_t *p = params_slot(ps, name);
    if (!p || n > UINT32_MAX) return MM_ERR_INVALID_ARG;
    p->kind = MM_MODELS__PARAM_F64;
    p->n = (uint32_t)n;
    p->v = malloc(n ? n * sizeof(double) : 1);
    if (!p->v) return MM_ERR_NOMEM;
    if (n) memcpy(p->v, v, n * sizeof(double));
    ps->n++;
    return MM_OK;
}

mm_err_t mm_models__params_add1(mm_models__params_t *ps, const char *name, double v) {
    return mm_models__params_add(ps, name, &v, 1);
}

mm_err_t mm_models__params_add_bytes(mm_models__params_t *ps, const char *name, const void *bytes,
                                     size_t n) {
    mm_models__param_t *p = params_slot(ps, name);
    if (!p || n > UINT32_MAX) return MM_ERR_INVALID_ARG;
    p->kind = MM_MODELS__PARAM_BYTES;
    p->n = (uint32_t)n;
    p->bytes = malloc(n ? n : 1);
    if (!p->bytes) return MM_ERR_NOMEM;
    if (n) memcpy(p->bytes, bytes, n);
    ps->n++;
    return MM_OK;
}

const mm_models__param_t *mm_models__params_get(const mm_models__params_t *ps, const char *name,
                                                size_t n) {
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i].name, name) == 0) return (n == 0 || ps->p[i].n == n) ? &ps->p[i] : NULL;
    return NULL;
}

void mm_models__params_clear(mm_models__params_t *ps) {
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->p[i].v);
        free(ps->p[i].bytes);
    }
    ps->n = 0;
}
