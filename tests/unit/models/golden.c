/*
 * golden.c - reader for the golden fixture: "name count v1 v2 ..." per line.
 * Small (a few hundred records), read once per test process.
 */
#include "golden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#define GOLDEN_MAX_RECORDS 512
#define GOLDEN_MAX_LINE    (1 << 20)

typedef struct record {
    char name[64];
    size_t n;
    double *v;
} record_t;

static record_t records[GOLDEN_MAX_RECORDS];
static size_t n_records;

void golden_load(void) {
    if (n_records) return;
    const char *path = MM_FIXTURES_DIR "/models/golden.txt";
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "cannot open %s", path);
    char *line = malloc(GOLDEN_MAX_LINE);
    cr_assert(line != NULL);
    while (fgets(line, GOLDEN_MAX_LINE, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        cr_assert(n_records < GOLDEN_MAX_RECORDS, "too many golden records");
        record_t *r = &records[n_records];
        char *p = line, *end;
        size_t nl = strcspn(p, " ");
        cr_assert(nl > 0 && nl < sizeof r->name, "bad golden name");
        memcpy(r->name, p, nl);
        r->name[nl] = '\0';
        p += nl;
        unsigned long cnt = strtoul(p, &end, 10);
        cr_assert(end != p && cnt < 1000000, "bad golden count for %s", r->name);
        p = end;
        r->n = cnt;
        r->v = malloc((cnt ? cnt : 1) * sizeof(double));
        cr_assert(r->v != NULL);
        for (size_t i = 0; i < cnt; i++) {
            r->v[i] = strtod(p, &end);
            cr_assert(end != p, "golden %s: value %zu missing", r->name, i);
            p = end;
        }
        n_records++;
    }
    free(line);
    fclose(f);
}

const double *golden(const char *name, size_t *n) {
    golden_load();
    for (size_t i = 0; i < n_records; i++) {
        if (strcmp(records[i].name, name) == 0) {
            if (n) *n = records[i].n;
            return records[i].v;
        }
    }
    cr_assert_fail("golden record %s missing", name);
    return NULL;
}

double golden1(const char *name) {
    size_t n;
    const double *v = golden(name, &n);
    cr_assert_eq(n, 1, "golden %s has %zu values", name, n);
    return v[0];
}
