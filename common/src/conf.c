/*
 * conf.c - configuration driven by one declarative table per service (see
 * conf.h): defaults < MM_* environment < command-line flags, validation,
 * --help, --dump-config with secrets redacted, the registration of every
 * configured secret with the redaction (redact.h), and the Markdown reference.
 *
 * Runs once at start-up on a few dozen properties, so clarity wins over
 * speed: every lookup is a linear scan of the table.
 */
#include "mm/conf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "mm/redact.h"
#include "mm/util.h"

extern char **environ;

#define KAFKA_ENV_PREFIX "MM_KAFKA_"

/* ---- librdkafka pass-through list ---------------------------------------- */

mm_err_t mm_kv_list_set(mm_kv_list_t *list, const char *key, const char *value) {
    if (!list || !key || !*key || !value) return MM_ERR_INVALID_ARG;
    for (size_t i = 0; i < list->n; i++) {
        if (strcmp(list->items[i].key, key) == 0) {
            /* Replace in place so the first position given is kept. */
            char *copy = strdup(value);
            if (!copy) return MM_ERR_NOMEM;
            free(list->items[i].value);
            list->items[i].value = copy;
            return MM_OK;
        }
    }
    mm_kv_t *items = realloc(list->items, (list->n + 1) * sizeof(*items));
    if (!items) return MM_ERR_NOMEM;
    list->items = items;
    char *key_copy = strdup(key);
    char *value_copy = strdup(value);
    if (!key_copy || !value_copy) {
        free(key_copy);
        free(value_copy);
        return MM_ERR_NOMEM;
    }
    list->items[list->n].key = key_copy;
    list->items[list->n].value = value_copy;
    list->n++;
    return MM_OK;
}

const char *mm_kv_list_get(const mm_kv_list_t *list, const char *key) {
    if (!list || !key) return NULL;
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(list->items[i].key, key) == 0) return list->items[i].value;
    return NULL;
}

void mm_kv_list_free(mm_kv_list_t *list) {
    if (!list) return;
    for (size_t i = 0; i < list->n; i++) {
        free(list->items[i].key);
        free(list->items[i].value);
    }
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

bool mm_conf_kafka_is_secret(const char *key) {
    /* Properties whose values carry key material without saying so by name. */
    static const char *const extra[] = {"sasl.oauthbearer.config", "ssl.key.pem"};
    if (!key) return false;
    if (strcasestr(key, "password") || strcasestr(key, "secret")) return true;
    for (size_t i = 0; i < MM_ARRAY_SIZE(extra); i++)
        if (strcasecmp(key, extra[i]) == 0) return true;
    return false;
}

/* ---- typed fields ----------------------------------------------------------- */

static void *field(void *cfg, const mm_conf_prop_t *prop) {
    return (char *)cfg + prop->offset;
}

static const void *field_const(const void *cfg, const mm_conf_prop_t *prop) {
    return (const char *)cfg + prop->offset;
}

static const char *type_name(mm_conf_type_t type) {
    switch (type) {
    case MM_CONF_STR:
        return "string";
    case MM_CONF_INT:
        return "int";
    case MM_CONF_DBL:
        return "float";
    case MM_CONF_BOOL:
        return "bool";
    }
    return "?";
}

static bool has_range(const mm_conf_prop_t *prop) {
    return (prop->type == MM_CONF_INT || prop->type == MM_CONF_DBL) && prop->min <= prop->max;
}

/* Shortest text that reads back as @p v: "1", "0.5", "1e+18". */
static void format_number(double v, char *out, size_t out_size) {
    snprintf(out, out_size, "%.15g", v);
}

/*
 * Parse @p text as @p prop's type, check its range, and store it. @p source
 * names where the text came from ("--workers", "MM_WORKERS", "default of
 * --workers") so the message points at what the operator must change.
 */
static mm_err_t set_value(const mm_conf_prop_t *prop, void *cfg, const char *text,
                          const char *source, char *errstr, size_t errstr_size) {
    char lo[40], hi[40];
    format_number(prop->min, lo, sizeof(lo));
    format_number(prop->max, hi, sizeof(hi));

    switch (prop->type) {
    case MM_CONF_STR: {
        char *copy = strdup(text);
        if (!copy) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", source);
        char **slot = field(cfg, prop);
        free(*slot);
        *slot = copy;
        return MM_OK;
    }
    case MM_CONF_INT: {
        int64_t v;
        if (!mm_parse_i64(text, &v))
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: '%s' is not an integer", source,
                           text);
        if (has_range(prop) && (double)v < prop->min)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: %s is below the minimum %s",
                           source, text, lo);
        if (has_range(prop) && (double)v > prop->max)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: %s is above the maximum %s",
                           source, text, hi);
        *(int64_t *)field(cfg, prop) = v;
        return MM_OK;
    }
    case MM_CONF_DBL: {
        double v;
        if (!mm_parse_double(text, &v, false))
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: '%s' is not a finite number",
                           source, text);
        if (has_range(prop) && v < prop->min)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: %s is below the minimum %s",
                           source, text, lo);
        if (has_range(prop) && v > prop->max)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: %s is above the maximum %s",
                           source, text, hi);
        *(double *)field(cfg, prop) = v;
        return MM_OK;
    }
    case MM_CONF_BOOL: {
        bool v;
        if (!mm_parse_bool(text, &v))
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                           "%s: '%s' is not a boolean (true/false, yes/no, on/off, 1/0)", source,
                           text);
        *(bool *)field(cfg, prop) = v;
        return MM_OK;
    }
    }
    return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "%s: unknown property type %d", source,
                   (int)prop->type);
}

static void reset_value(const mm_conf_prop_t *prop, void *cfg) {
    switch (prop->type) {
    case MM_CONF_STR: {
        char **slot = field(cfg, prop);
        free(*slot);
        *slot = NULL;
        break;
    }
    case MM_CONF_INT:
        *(int64_t *)field(cfg, prop) = 0;
        break;
    case MM_CONF_DBL:
        *(double *)field(cfg, prop) = 0.0;
        break;
    case MM_CONF_BOOL:
        *(bool *)field(cfg, prop) = false;
        break;
    }
}

/* ---- defaults and environment ---------------------------------------------- */

static mm_err_t apply_defaults(const mm_conf_schema_t *schema, void *cfg, bool *set, char *errstr,
                               size_t errstr_size) {
    for (size_t i = 0; i < schema->n_props; i++) {
        const mm_conf_prop_t *prop = &schema->props[i];
        reset_value(prop, cfg);
        if (!prop->defval) continue;
        char source[160];
        snprintf(source, sizeof(source), "default of --%s", prop->name);
        mm_err_t err = set_value(prop, cfg, prop->defval, source, errstr, errstr_size);
        if (err) return err;
        if (set) set[i] = true;
    }
    return MM_OK;
}

mm_err_t mm_conf_defaults(const mm_conf_schema_t *schema, void *cfg, char *errstr,
                          size_t errstr_size) {
    if (!schema || !cfg)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "conf: no schema or config");
    return apply_defaults(schema, cfg, NULL, errstr, errstr_size);
}

/* An env var that some prop of the table claims is not a pass-through property. */
static bool env_is_claimed(const mm_conf_schema_t *schema, const char *name, size_t name_len) {
    for (size_t i = 0; schema && i < schema->n_props; i++) {
        const char *env = schema->props[i].env;
        if (env && strlen(env) == name_len && strncmp(env, name, name_len) == 0) return true;
    }
    return false;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * MM_KAFKA_SESSION_TIMEOUT_MS=6000 -> session.timeout.ms=6000. Keys are added
 * in sorted order so the resulting list (and --dump-config) does not depend on
 * the order of the process environment.
 */
static mm_err_t apply_kafka_env(const mm_conf_schema_t *schema, mm_kv_list_t *kafka, char *errstr,
                                size_t errstr_size) {
    size_t n = 0;
    for (char **e = environ; e && *e; e++) n++;
    const char **matches = calloc(n ? n : 1, sizeof(*matches));
    if (!matches) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "environment: out of memory");
    size_t n_matches = 0;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, KAFKA_ENV_PREFIX, strlen(KAFKA_ENV_PREFIX)) == 0) matches[n_matches++] = *e;
    qsort(matches, n_matches, sizeof(*matches), cmp_str_ptr);

    mm_err_t err = MM_OK;
    for (size_t i = 0; i < n_matches && !err; i++) {
        const char *entry = matches[i];
        const char *eq = strchr(entry, '=');
        if (!eq) continue;
        size_t name_len = (size_t)(eq - entry);
        size_t prefix_len = strlen(KAFKA_ENV_PREFIX);
        if (name_len <= prefix_len || env_is_claimed(schema, entry, name_len)) continue;
        if (!eq[1]) continue; /* empty means unset, as for the table's env vars */
        char *key = mm_strndup(entry + prefix_len, name_len - prefix_len);
        if (!key) {
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "environment: out of memory");
            break;
        }
        for (char *p = key; *p; p++) *p = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        if (mm_kv_list_set(kafka, key, eq + 1))
            err = mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "%.*s: out of memory", (int)name_len,
                          entry);
        free(key);
    }
    free(matches);
    return err;
}

mm_err_t mm_conf_kafka_env(mm_kv_list_t *kafka, char *errstr, size_t errstr_size) {
    return apply_kafka_env(NULL, kafka, errstr, errstr_size);
}

static mm_err_t apply_env(const mm_conf_schema_t *schema, void *cfg, bool *set, char *errstr,
                          size_t errstr_size) {
    for (size_t i = 0; i < schema->n_props; i++) {
        const mm_conf_prop_t *prop = &schema->props[i];
        if (!prop->env) continue;
        const char *text = getenv(prop->env);
        /* Empty counts as unset: compose files and manifests often declare FOO= as a blank. */
        if (!text || !*text) continue;
        mm_err_t err = set_value(prop, cfg, text, prop->env, errstr, errstr_size);
        if (err) return err;
        set[i] = true;
    }
    return MM_OK;
}

/* ---- command line ------------------------------------------------------------ */

static const mm_conf_prop_t *find_prop(const mm_conf_schema_t *schema, const char *name,
                                       size_t name_len, size_t *index) {
    for (size_t i = 0; i < schema->n_props; i++) {
        const char *p = schema->props[i].name;
        if (strlen(p) == name_len && strncmp(p, name, name_len) == 0) {
            *index = i;
            return &schema->props[i];
        }
    }
    return NULL;
}

static mm_err_t add_kafka_flag(mm_kv_list_t *kafka, const char *arg, char *errstr,
                               size_t errstr_size) {
    if (!kafka)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                       "-X: this program takes no librdkafka properties");
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "-X: '%s' is not key=value", arg);
    char *key = mm_strndup(arg, (size_t)(eq - arg));
    if (!key) return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "-X: out of memory");
    mm_err_t err = mm_kv_list_set(kafka, key, eq + 1);
    free(key);
    if (err) return mm_errf(err, errstr, errstr_size, "-X %s: out of memory", arg);
    return MM_OK;
}

/* Handles one "--..." argument at argv[*i]; advances *i past a consumed value. */
static mm_err_t parse_long_flag(const mm_conf_schema_t *schema, void *cfg, bool *set, int argc,
                                char **argv, int *i, char *errstr, size_t errstr_size) {
    const char *arg = argv[*i];
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
    size_t index = 0;
    const mm_conf_prop_t *prop = find_prop(schema, name, name_len, &index);
    char source[160];
    snprintf(source, sizeof(source), "--%.*s", (int)name_len, name);

    if (!prop && name_len > 3 && strncmp(name, "no-", 3) == 0) {
        const mm_conf_prop_t *negated = find_prop(schema, name + 3, name_len - 3, &index);
        if (negated && negated->type == MM_CONF_BOOL) {
            if (eq)
                return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: takes no value", source);
            *(bool *)field(cfg, negated) = false;
            set[index] = true;
            return MM_OK;
        }
    }
    if (!prop)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: unknown flag (see --help)", source);

    const char *value = NULL;
    if (eq) {
        value = eq + 1;
    } else if (prop->type == MM_CONF_BOOL) {
        /*
         * A bare boolean flag means true; the next argument is taken as its
         * value only if it reads as a boolean, so "--follow data.csv" keeps
         * data.csv as a positional argument.
         */
        bool ignored;
        if (*i + 1 < argc && mm_parse_bool(argv[*i + 1], &ignored)) {
            value = argv[++*i];
        } else {
            value = "true";
        }
    } else {
        if (*i + 1 >= argc)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: missing value", source);
        value = argv[++*i];
    }
    mm_err_t err = set_value(prop, cfg, value, source, errstr, errstr_size);
    if (err) return err;
    set[index] = true;
    return MM_OK;
}

/*
 * Help is handled before anything is validated so that --help works even
 * when the environment holds a bad value. Scanning stops at "--".
 */
static int find_help_flag(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
        if (strcmp(argv[i], "--help-markdown") == 0) return 2;
    }
    return 0;
}

static mm_err_t check_required(const mm_conf_schema_t *schema, const void *cfg, const bool *set,
                               char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < schema->n_props; i++) {
        const mm_conf_prop_t *prop = &schema->props[i];
        if (!(prop->flags & MM_CONF_F_REQUIRED)) continue;
        bool present = set[i];
        if (prop->type == MM_CONF_STR) {
            const char *s = *(char *const *)field_const(cfg, prop);
            present = s && *s;
        }
        if (present) continue;
        if (prop->env)
            return mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                           "--%s: required but not set (use --%s or %s)", prop->name, prop->name,
                           prop->env);
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "--%s: required but not set",
                       prop->name);
    }
    return MM_OK;
}

mm_err_t mm_conf_parse(const mm_conf_schema_t *schema, void *cfg, int argc, char **argv,
                       mm_kv_list_t *kafka, char ***positional, size_t *n_positional,
                       mm_conf_action_t *action, char *errstr, size_t errstr_size) {
    if (action) *action = MM_CONF_RUN;
    if (positional) *positional = NULL;
    if (n_positional) *n_positional = 0;
    if (!schema || !cfg || argc < 0 || (argc > 0 && !argv) || (positional && !n_positional))
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "conf: invalid arguments");

    switch (find_help_flag(argc, argv)) {
    case 1:
        mm_conf_help(schema, stdout);
        if (action) *action = MM_CONF_EXIT_OK;
        return MM_OK;
    case 2:
        mm_conf_markdown(schema, stdout);
        if (action) *action = MM_CONF_EXIT_OK;
        return MM_OK;
    default:
        break;
    }

    bool *set = calloc(schema->n_props ? schema->n_props : 1, sizeof(*set));
    char **args = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*args));
    if (!set || !args) {
        free(set);
        free(args);
        return mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "conf: out of memory");
    }
    size_t n_args = 0;
    bool dump = false;

    mm_err_t err = apply_defaults(schema, cfg, set, errstr, errstr_size);
    if (!err) err = apply_env(schema, cfg, set, errstr, errstr_size);
    if (!err && kafka) err = apply_kafka_env(schema, kafka, errstr, errstr_size);

    bool options_done = false;
    for (int i = 1; !err && i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
            args[n_args++] = argv[i];
        } else if (strcmp(arg, "--") == 0) {
            options_done = true;
        } else if (strcmp(arg, "--dump-config") == 0) {
            dump = true;
        } else if (strcmp(arg, "-X") == 0) {
            if (i + 1 >= argc)
                err = mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "-X: missing key=value");
            else
                err = add_kafka_flag(kafka, argv[++i], errstr, errstr_size);
        } else if (strncmp(arg, "-X", 2) == 0) {
            err = add_kafka_flag(kafka, arg + 2, errstr, errstr_size);
        } else if (strncmp(arg, "--", 2) == 0) {
            err = parse_long_flag(schema, cfg, set, argc, argv, &i, errstr, errstr_size);
        } else {
            err = mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "%s: unknown flag (see --help)", arg);
        }
    }

    if (!err && n_args > 0 && !positional)
        err = mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                      "%s: unexpected argument (this program takes none)", args[0]);

    /* Every secret is known to the redaction before anything can print it. */
    if (!err) err = mm_conf_register_secrets(schema, cfg, kafka, errstr, errstr_size);

    if (!err && dump) {
        /* --dump-config shows what is set, including what is still missing. */
        mm_conf_dump(schema, cfg, kafka, stdout);
        if (action) *action = MM_CONF_EXIT_OK;
    } else if (!err) {
        err = check_required(schema, cfg, set, errstr, errstr_size);
    }
    free(set);

    if (err || n_args == 0 || !positional) {
        free(args);
        if (err) {
            mm_conf_free(schema, cfg);
            if (kafka) mm_kv_list_free(kafka);
        }
        return err;
    }
    *positional = args;
    *n_positional = n_args;
    return MM_OK;
}

void mm_conf_free(const mm_conf_schema_t *schema, void *cfg) {
    if (!schema || !cfg) return;
    for (size_t i = 0; i < schema->n_props; i++) {
        if (schema->props[i].type != MM_CONF_STR) continue;
        char **slot = field(cfg, &schema->props[i]);
        free(*slot);
        *slot = NULL;
    }
}

/* ---- secrets ------------------------------------------------------------------- */

mm_err_t mm_conf_register_secrets(const mm_conf_schema_t *schema, const void *cfg,
                                  const mm_kv_list_t *kafka, char *errstr, size_t errstr_size) {
    for (size_t i = 0; schema && cfg && i < schema->n_props; i++) {
        const mm_conf_prop_t *prop = &schema->props[i];
        if (prop->type != MM_CONF_STR) continue;
        const char *s = *(char *const *)field_const(cfg, prop);
        if (!s || !*s) continue;
        /* A secret property whole; any other string for what it may carry
         * (a SAS inside --blob-url, a password inside a connection URL). */
        mm_err_t err =
            (prop->flags & MM_CONF_F_SECRET) ? mm_redact_register(s) : mm_redact_register_url(s);
        if (err)
            return mm_errf(err, errstr, errstr_size, "--%s: cannot register the secret (%s)",
                           prop->name, err == MM_ERR_NOMEM ? "out of memory" : "too many secrets");
    }
    for (size_t i = 0; kafka && i < kafka->n; i++) {
        const mm_kv_t *kv = &kafka->items[i];
        mm_err_t err = mm_conf_kafka_is_secret(kv->key) ? mm_redact_register(kv->value)
                                                        : mm_redact_register_url(kv->value);
        if (err)
            return mm_errf(err, errstr, errstr_size, "-X %s: cannot register the secret (%s)",
                           kv->key, err == MM_ERR_NOMEM ? "out of memory" : "too many secrets");
    }
    return MM_OK;
}

/* ---- output -------------------------------------------------------------------- */

/* A JSON string of @p s with anything secret inside it redacted; NULL on failure. */
static json_t *redacted_string(const char *s) {
    char *redacted = mm_redact(s);
    json_t *value = redacted ? json_string(redacted) : json_string(MM_REDACTED);
    free(redacted);
    return value;
}

void mm_conf_dump(const mm_conf_schema_t *schema, const void *cfg, const mm_kv_list_t *kafka,
                  FILE *out) {
    if (!schema || !cfg || !out) return;
    json_t *root = json_object();
    if (!root) return;
    for (size_t i = 0; i < schema->n_props; i++) {
        const mm_conf_prop_t *prop = &schema->props[i];
        const void *slot = field_const(cfg, prop);
        json_t *value = NULL;
        switch (prop->type) {
        case MM_CONF_STR: {
            const char *s = *(char *const *)slot;
            if (!s || !*s)
                value = json_null();
            else if (prop->flags & MM_CONF_F_SECRET)
                value = json_string(MM_REDACTED);
            else
                value = redacted_string(s);
            break;
        }
        case MM_CONF_INT:
            value = json_integer((json_int_t) * (const int64_t *)slot);
            break;
        case MM_CONF_DBL:
            value = json_real(*(const double *)slot);
            break;
        case MM_CONF_BOOL:
            value = json_boolean(*(const bool *)slot);
            break;
        }
        /* A secret number or flag is unusual, but never print one either. */
        if (prop->type != MM_CONF_STR && (prop->flags & MM_CONF_F_SECRET)) {
            json_decref(value);
            value = json_string("***");
        }
        /* Invalid UTF-8 in a string makes json_string fail; show it as null. */
        json_object_set_new(root, prop->name, value ? value : json_null());
    }
    json_t *kafka_obj = json_object();
    for (size_t i = 0; kafka && kafka_obj && i < kafka->n; i++) {
        const mm_kv_t *kv = &kafka->items[i];
        json_t *value = mm_conf_kafka_is_secret(kv->key) ? json_string(MM_REDACTED)
                                                         : redacted_string(kv->value);
        json_object_set_new(kafka_obj, kv->key, value ? value : json_null());
    }
    if (kafka_obj) json_object_set_new(root, "kafka", kafka_obj);
    json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(root);
}

/* Default as shown to people: secrets stay hidden even in help. */
static const char *shown_default(const mm_conf_prop_t *prop) {
    if (!prop->defval || !*prop->defval) return NULL;
    return (prop->flags & MM_CONF_F_SECRET) ? "***" : prop->defval;
}

static void print_range(const mm_conf_prop_t *prop, FILE *out) {
    char lo[40], hi[40];
    format_number(prop->min, lo, sizeof(lo));
    format_number(prop->max, hi, sizeof(hi));
    fprintf(out, "[%s, %s]", lo, hi);
}

void mm_conf_help(const mm_conf_schema_t *schema, FILE *out) {
    if (!schema || !out) return;
    const char *program = schema->program ? schema->program : "program";
    fprintf(out, "Usage: %s [OPTIONS]%s%s\n", program, schema->usage_args ? " " : "",
            schema->usage_args ? schema->usage_args : "");
    if (schema->summary) fprintf(out, "%s\n", schema->summary);
    fputs("\nOptions (precedence: default < environment < flag):\n", out);
    for (size_t i = 0; i < schema->n_props; i++) {
        const mm_conf_prop_t *prop = &schema->props[i];
        char flag[200];
        if (prop->type == MM_CONF_BOOL)
            snprintf(flag, sizeof(flag), "--[no-]%s", prop->name);
        else
            snprintf(flag, sizeof(flag), "--%s %s", prop->name,
                     prop->type == MM_CONF_STR   ? "STRING"
                     : prop->type == MM_CONF_INT ? "INT"
                                                 : "FLOAT");
        fprintf(out, "  %-32s %s\n", flag, prop->desc ? prop->desc : "");
        fprintf(out, "  %-32s type: %s", "", type_name(prop->type));
        const char *def = shown_default(prop);
        if (def) fprintf(out, ", default: %s", def);
        if (has_range(prop)) {
            fputs(", range: ", out);
            print_range(prop, out);
        }
        if (prop->env) fprintf(out, ", env: %s", prop->env);
        if (prop->flags & MM_CONF_F_REQUIRED) fputs(", required", out);
        if (prop->flags & MM_CONF_F_SECRET) fputs(", secret", out);
        fputc('\n', out);
    }
    fprintf(out, "  %-32s %s\n", "-X KEY=VALUE",
            "librdkafka property (repeatable; env: " KAFKA_ENV_PREFIX "<KEY>, '_' -> '.')");
    fprintf(out, "  %-32s %s\n", "--dump-config",
            "print the effective configuration as JSON (secrets redacted) and exit");
    fprintf(out, "  %-32s %s\n", "--help-markdown",
            "print the configuration reference as Markdown and exit");
    fprintf(out, "  %-32s %s\n", "--version",
            "print the version, git revision and library versions and exit");
    fprintf(out, "  %-32s %s\n", "-h, --help", "print this help and exit");
    fprintf(out, "  %-32s %s\n", "--", "end of options");
}

/* Markdown table cell: '|' would end the cell and a newline the row. */
static void md_cell(const char *text, FILE *out) {
    for (const char *p = text; p && *p; p++) {
        if (*p == '|')
            fputs("\\|", out);
        else if (*p == '\n' || *p == '\r')
            fputc(' ', out);
        else
            fputc(*p, out);
    }
}

void mm_conf_markdown(const mm_conf_schema_t *schema, FILE *out) {
    if (!schema || !out) return;
    fprintf(out, "## `%s`\n\n", schema->program ? schema->program : "program");
    if (schema->summary) {
        md_cell(schema->summary, out);
        fputs("\n\n", out);
    }
    fputs("| Flag | Type | Default | Range | Env | Description |\n", out);
    fputs("|---|---|---|---|---|---|\n", out);
    for (size_t i = 0; i < schema->n_props; i++) {
        const mm_conf_prop_t *prop = &schema->props[i];
        fprintf(out, "| `--%s` | %s | ", prop->name, type_name(prop->type));
        const char *def = shown_default(prop);
        if (def) {
            fputc('`', out);
            md_cell(def, out);
            fputc('`', out);
        }
        fputs(" | ", out);
        if (has_range(prop)) print_range(prop, out);
        fputs(" | ", out);
        if (prop->env) fprintf(out, "`%s`", prop->env);
        fputs(" | ", out);
        md_cell(prop->desc, out);
        if (prop->flags & MM_CONF_F_REQUIRED) fputs(" (required)", out);
        if (prop->flags & MM_CONF_F_SECRET) fputs(" (secret)", out);
        fputs(" |\n", out);
    }
    fputs("\nAny librdkafka property passes through: `-X key=value`, or `" KAFKA_ENV_PREFIX
          "<KEY>` in the environment (upper case, `.` written as `_`: `" KAFKA_ENV_PREFIX
          "SESSION_TIMEOUT_MS` is `session.timeout.ms`). Flags win over the environment.\n",
          out);
}
