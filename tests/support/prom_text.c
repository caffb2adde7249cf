/*
 * prom_text.c - a strict reader of the Prometheus text exposition for tests
 * (see prom_text.h). Written from the format's description, independent of
 * common/src/metrics.c, so a rendering bug cannot hide behind itself.
 */
#include "prom_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#define MAX_FAMILIES 256
#define NAME_MAX_LEN 200

typedef struct family {
    char name[NAME_MAX_LEN];
    char type[16];
    bool help, has_type, closed;
} family_t;

static bool name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* The metric name at @p s into @p out; @returns its length (0: not a name). */
static size_t read_name(const char *s, char out[NAME_MAX_LEN]) {
    size_t n = 0;
    while (name_char(s[n], n == 0) && n < NAME_MAX_LEN - 1) n++;
    memcpy(out, s, n);
    out[n] = '\0';
    return n;
}

static family_t *find(family_t *f, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0) return &f[i];
    return NULL;
}

/* The family a sample named @p name belongs to (a histogram's suffixes stripped). */
static family_t *family_of(family_t *f, size_t n, const char *name) {
    family_t *fam = find(f, n, name);
    if (fam) return fam;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t len = strlen(name), sl = strlen(suffixes[i]);
        if (len <= sl || strcmp(name + len - sl, suffixes[i]) != 0) continue;
        char base[NAME_MAX_LEN];
        snprintf(base, sizeof(base), "%.*s", (int)(len - sl), name);
        fam = find(f, n, base);
        if (fam && (strcmp(fam->type, "histogram") == 0 || strcmp(fam->type, "summary") == 0))
            return fam;
    }
    return NULL;
}

/* Labels "{a="x",b="y"}" at @p s; @returns the position after '}' or NULL. */
static const char *skip_labels(const char *s) {
    if (*s != '{') return s;
    s++;
    while (*s != '}') {
        char label[NAME_MAX_LEN];
        size_t n = read_name(s, label);
        if (n == 0 || s[n] != '=' || s[n + 1] != '"') return NULL;
        s += n + 2;
        while (*s && *s != '"') {
            if (*s == '\\') {
                if (s[1] != '\\' && s[1] != '"' && s[1] != 'n') return NULL;
                s++;
            }
            if (*s == '\n') return NULL;
            s++;
        }
        if (*s != '"') return NULL;
        s++;
        if (*s == ',')
            s++;
        else if (*s != '}')
            return NULL;
    }
    return s + 1;
}

bool mmt_prom_check(const char *text, char *why, size_t why_size) {
    static family_t fams[MAX_FAMILIES];
    size_t n_fams = 0;
    family_t *current = NULL;
    size_t len = strlen(text);
    if (len > 0 && text[len - 1] != '\n') {
        snprintf(why, why_size, "the text does not end in a newline");
        return false;
    }
    int line_no = 0;
    for (const char *line = text; *line;) {
        line_no++;
        const char *eol = strchr(line, '\n');
        size_t line_len = (size_t)(eol - line);
        char buf[4096];
        snprintf(buf, sizeof(buf), "%.*s", (int)line_len, line);
        line = eol + 1;
        char name[NAME_MAX_LEN];
        if (strncmp(buf, "# HELP ", 7) == 0 || strncmp(buf, "# TYPE ", 7) == 0) {
            bool help = buf[2] == 'H';
            size_t n = read_name(buf + 7, name);
            if (n == 0 || buf[7 + n] != ' ') {
                snprintf(why, why_size, "line %d: bad name: %s", line_no, buf);
                return false;
            }
            family_t *fam = find(fams, n_fams, name);
            if (!fam) {
                if (n_fams == MAX_FAMILIES) {
                    snprintf(why, why_size, "more than %d families", MAX_FAMILIES);
                    return false;
                }
                fam = &fams[n_fams++];
                memset(fam, 0, sizeof(*fam));
                snprintf(fam->name, sizeof(fam->name), "%s", name);
            }
            if (fam->closed || (help && fam->help) || (!help && fam->has_type)) {
                snprintf(why, why_size, "line %d: %s declared twice or after other families",
                         line_no, name);
                return false;
            }
            if (current && current != fam) current->closed = true;
            current = fam;
            if (help) {
                fam->help = true;
                continue;
            }
            const char *type = buf + 7 + n + 1;
            if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram") &&
                strcmp(type, "summary") && strcmp(type, "untyped")) {
                snprintf(why, why_size, "line %d: unknown type '%s'", line_no, type);
                return false;
            }
            fam->has_type = true;
            snprintf(fam->type, sizeof(fam->type), "%s", type);
            continue;
        }
        if (buf[0] == '#' || buf[0] == '\0') continue; /* another comment; an empty line */
        size_t n = read_name(buf, name);
        family_t *fam = n ? family_of(fams, n_fams, name) : NULL;
        if (!fam || !fam->has_type || fam->closed) {
            snprintf(why, why_size, "line %d: sample of an undeclared or closed family: %s",
                     line_no, buf);
            return false;
        }
        if (current && current != fam) current->closed = true;
        current = fam;
        const char *rest = skip_labels(buf + n);
        if (!rest || *rest != ' ') {
            snprintf(why, why_size, "line %d: bad labels: %s", line_no, buf);
            return false;
        }
        char *end = NULL;
        strtod(rest + 1, &end);
        if (end == rest + 1 || (*end != '\0' && *end != ' ')) {
            snprintf(why, why_size, "line %d: bad value: %s", line_no, buf);
            return false;
        }
    }
    return true;
}

double mmt_prom_value(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') return strtod(line + n + 1, NULL);
        line = strchr(line, '\n');
        if (line) line++;
    }
    return NAN;
}

const char *mmt_prom_type(const char *text, const char *name) {
    static char type[16];
    char prefix[NAME_MAX_LEN + 16];
    snprintf(prefix, sizeof(prefix), "# TYPE %s ", name);
    const char *at = strstr(text, prefix);
    if (!at) return NULL;
    snprintf(type, sizeof(type), "%.*s", (int)strcspn(at + strlen(prefix), "\n"),
             at + strlen(prefix));
    return type;
}

char *mmt_prom_read(const char *path) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "metrics file %s missing", path);
    char *text = NULL;
    size_t len = 0, cap = 0;
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + got + 1 > cap) {
            cap = (len + got + 1) * 2;
            text = realloc(text, cap);
            cr_assert_not_null(text);
        }
        memcpy(text + len, chunk, got);
        len += got;
    }
    fclose(f);
    if (!text) text = calloc(1, 1);
    text[len] = '\0';
    return text;
}
