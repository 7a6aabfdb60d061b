/* SPDX-License-Identifier: MIT */
#include "db/library-json.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"

#define PATH_MAX_LEN 256
/* The format nests six deep (drugs[].limits.ICU.dose); anything much
 * deeper is not a library and need not cost stack or time. */
#define DEPTH_MAX 16
/* Integers past 2^53 have no exact double; json-c also quietly clamps
 * those past 2^64. Either way the number in the file is not the one read. */
#define EXACT_INTEGER_MAX 9007199254740992.0

#define streq(a, b) (strcmp((a), (b)) == 0)

static inline void json_object_putp(struct json_object **o) {
        if (*o)
                json_object_put(*o);
}

static inline void json_tokener_freep(struct json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

/* Paths cut at their buffer's end are still worth showing; vsnprintf()
 * says so without a -Wformat-truncation warning per call. */
__attribute__((format(printf, 3, 4)))
static void format_into(char *buf, size_t size, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(buf, size, format, ap);
        va_end(ap);
}

static void path_key(char buf[static PATH_MAX_LEN], const char *parent, const char *key) {
        if (*parent)
                format_into(buf, PATH_MAX_LEN, "%s.%s", parent, key);
        else
                format_into(buf, PATH_MAX_LEN, "%s", key);
}

static void path_index(char buf[static PATH_MAX_LEN], const char *parent, size_t i) {
        format_into(buf, PATH_MAX_LEN, "%s[%zu]", parent, i);
}

/* "a, b, c" into buf. */
static void join(char *buf, size_t size, const char *const *items, size_t n) {
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < n && len < size; i++) {
                int k = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", items[i]);
                if (k < 0)
                        break;
                len += k;
        }
}

/* The amounts dose.c knows, for messages: never out of step with it. */
static void amount_list(char *buf, size_t size, bool with_ml) {
        const char *names[_DOSE_AMOUNT_MAX];
        size_t n = 0;

        for (int a = 0; a < _DOSE_AMOUNT_MAX; a++)
                if (with_ml || a != DOSE_AMOUNT_ML)
                        names[n++] = dose_amount_to_string(a);
        join(buf, size, names, n);
}

/* Import. Every problem is reported and parsing goes on, so one pass
 * shows them all. A value that is missing or refused gets a placeholder
 * that the model's validation either reports at the same path (and
 * library_errors_add() drops as already reported) or accepts without
 * complaint elsewhere; it never reaches a caller, as the file is refused. */

enum kind {
        KIND_STRING,
        KIND_NUMBER,
        KIND_INTEGER,
        KIND_BOOLEAN,
        KIND_OBJECT,
        KIND_ARRAY,
};

static const char *const kind_names[] = {
        [KIND_STRING] = "a string",
        [KIND_NUMBER] = "a number",
        [KIND_INTEGER] = "a whole number",
        [KIND_BOOLEAN] = "true or false",
        [KIND_OBJECT] = "an object",
        [KIND_ARRAY] = "an array",
};

static const char *found_name(struct json_object *v) {
        switch (json_object_get_type(v)) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return "a boolean";
        case json_type_double:
        case json_type_int:
                return "a number";
        case json_type_object:
                return "an object";
        case json_type_array:
                return "an array";
        case json_type_string:
                return "a string";
        }
        return "something else";
}

static bool is_kind(struct json_object *v, enum kind k) {
        enum json_type t = json_object_get_type(v);

        switch (k) {
        case KIND_STRING:
                return t == json_type_string;
        case KIND_NUMBER:
                return t == json_type_double || t == json_type_int;
        case KIND_INTEGER:
                return t == json_type_int;
        case KIND_BOOLEAN:
                return t == json_type_boolean;
        case KIND_OBJECT:
                return t == json_type_object;
        case KIND_ARRAY:
                return t == json_type_array;
        }
        return false;
}

/* v is at path: true if it is of kind k, else reported. */
static bool expect_kind(struct library_errors *errs, const char *path, struct json_object *v, enum kind k) {
        if (is_kind(v, k))
                return true;
        if (k == KIND_INTEGER && json_object_get_type(v) == json_type_double)
                library_errors_add(errs, path, "must be a whole number");
        else
                library_errors_add(errs, path, "must be %s, not %s", kind_names[k], found_name(v));
        return false;
}

/* Member key of the object at path, if present and of kind k; NULL if it
 * is absent (reported when required) or of another kind (reported). */
static struct json_object *member(struct library_errors *errs, struct json_object *obj, const char *path,
                                  const char *key, bool required, enum kind k) {
        struct json_object *v;
        char p[PATH_MAX_LEN];

        path_key(p, path, key);
        if (!json_object_object_get_ex(obj, key, &v)) {
                if (required)
                        library_errors_add(errs, p, "is required");
                return NULL;
        }
        return expect_kind(errs, p, v, k) ? v : NULL;
}

/* Unknown keys are refused by name: a misspelt "hard_mx" silently
 * ignored would drop a limit. Messages list the first n_shown keys; the
 * rest are read but not advertised (older forms). */
static void check_keys_shown(struct library_errors *errs, struct json_object *obj, const char *path,
                             const char *const *keys, size_t n_keys, size_t n_shown) {
        char expected[256], p[PATH_MAX_LEN];

        json_object_object_foreach(obj, key, value) {
                bool known = false;
                for (size_t i = 0; i < n_keys && !known; i++)
                        known = streq(key, keys[i]);
                if (known)
                        continue;
                join(expected, sizeof expected, keys, MIN(n_shown, n_keys));
                path_key(p, path, key);
                library_errors_add(errs, p, "unknown key (expected one of: %s)", expected);
        }
}

static void check_keys(struct library_errors *errs, struct json_object *obj, const char *path,
                       const char *const *keys, size_t n_keys) {
        check_keys_shown(errs, obj, path, keys, n_keys, n_keys);
}

/* A string member, copied into *ret (left alone when absent or refused). */
static int read_string(struct library_errors *errs, struct json_object *obj, const char *path, const char *key,
                       bool required, char **ret) {
        struct json_object *v = member(errs, obj, path, key, required, KIND_STRING);
        char p[PATH_MAX_LEN];

        if (!v)
                return 0;
        const char *s = json_object_get_string(v);
        if ((size_t) json_object_get_string_len(v) != strlen(s)) {
                path_key(p, path, key);
                library_errors_add(errs, p, "must not contain \\u0000");
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* A number member into *ret (left alone when absent or refused). */
static void read_number(struct library_errors *errs, struct json_object *obj, const char *path, const char *key,
                        bool required, double *ret) {
        struct json_object *v = member(errs, obj, path, key, required, KIND_NUMBER);
        char p[PATH_MAX_LEN];

        if (!v)
                return;
        double d = json_object_get_double(v);
        path_key(p, path, key);
        /* json-c reads NaN and Infinity even in strict mode. */
        if (!isfinite(d))
                library_errors_add(errs, p, "must be a finite number");
        else if (json_object_is_type(v, json_type_int) && fabs(d) > EXACT_INTEGER_MAX)
                library_errors_add(errs, p, "is too large");
        else
                *ret = d;
}

static bool read_integer(struct library_errors *errs, struct json_object *obj, const char *path, const char *key,
                         bool required, int64_t *ret) {
        struct json_object *v = member(errs, obj, path, key, required, KIND_INTEGER);

        if (!v)
                return false;
        *ret = json_object_get_int64(v);
        return true;
}

/* The whole number v at path into *ret if it fits an int: the range is
 * the model's to check. One that does not fit is refused here in the
 * model's words, "N is out of range (range)". */
static void int_value(struct library_errors *errs, const char *path, struct json_object *v, const char *range,
                      int *ret) {
        if (!expect_kind(errs, path, v, KIND_INTEGER))
                return;
        int64_t n = json_object_get_int64(v);
        if (n >= INT_MIN && n <= INT_MAX)
                *ret = (int) n;
        else if (n >= -EXACT_INTEGER_MAX && n <= EXACT_INTEGER_MAX)
                library_errors_add(errs, path, "%" PRId64 " is out of range (%s)", n, range);
        else    /* json-c clamps what it cannot hold: the number is not the file's */
                library_errors_add(errs, path, "is out of range (%s)", range);
}

static void read_int(struct library_errors *errs, struct json_object *obj, const char *path, const char *key,
                     bool required, const char *range, int *ret) {
        struct json_object *v;
        char p[PATH_MAX_LEN];

        path_key(p, path, key);
        if (!json_object_object_get_ex(obj, key, &v)) {
                if (required)
                        library_errors_add(errs, p, "is required");
                return;
        }
        int_value(errs, p, v, range, ret);
}

static void read_boolean(struct library_errors *errs, struct json_object *obj, const char *path, const char *key,
                         bool required, bool *ret) {
        struct json_object *v = member(errs, obj, path, key, required, KIND_BOOLEAN);

        if (v)
                *ret = json_object_get_boolean(v);
}

/* A unit member: true and *ret set if it is present and parses. */
static int read_unit(struct library_errors *errs, struct json_object *obj, const char *path, const char *key,
                     bool rate, struct dose_unit *ret) {
        _cleanup_(freep) char *s = NULL;
        char amounts[128], p[PATH_MAX_LEN];
        int r;

        r = read_string(errs, obj, path, key, true, &s);
        if (r < 0 || !s)
                return r;
        if (dose_unit_parse(s, ret) >= 0)
                return 0;

        path_key(p, path, key);
        amount_list(amounts, sizeof amounts, true);
        if (rate)
                library_errors_add(errs, p, "\"%s\" is not a dose unit (allowed: mL/h, mg/h, mcg/kg/min, ...: "
                                   "an amount (%s), then /kg or /m2 if weight- or BSA-based, then /min or /h)",
                                   s, amounts);
        else
                library_errors_add(errs, p, "\"%s\" is not an amount unit (allowed: mg, mcg/kg, units, ...: "
                                   "an amount (%s), then /kg or /m2 if weight- or BSA-based)",
                                   s, amounts);
        return 0;
}

static const char *const root_keys[] = { "format", "version", "care_areas", "drugs" };
/* The last, occlusion_limit_mmhg, is the older form of occlusion: still
 * read, so a library stored before occlusion existed loads, but no longer
 * offered in messages or written. */
static const char *const care_area_keys[] = { "id", "name", "allow_basic_infusion", "occlusion",
                                              "occlusion_limit_mmhg" };
#define CARE_AREA_KEYS_SHOWN 4
static const char *const occlusion_keys[] = { "levels_mmhg", "default_mmhg", "auto_restarts" };
static const char *const drug_keys[] = { "id", "name", "dose_unit", "concentrations", "limits" };
static const char *const concentration_keys[] = { "amount", "amount_unit", "volume_ml" };
static const char *const drug_limits_keys[] = { "dose", "bolus", "loading", "pca" };
static const char *const dose_limits_keys[] = { "hard_min", "soft_min", "soft_max", "hard_max" };
static const char *const amount_limits_keys[] = { "unit", "hard_min", "soft_min", "soft_max", "hard_max" };
static const char *const pca_keys[] = { "unit", "demand", "lockout_min", "doses_per_hour", "limit", "basal",
                                        "clinician_bolus_counts", "limit_action" };
static const char *const pca_limit_keys[] = { "window_h", "hard_min", "soft_min", "soft_max", "hard_max" };

static void parse_occlusion(struct library_errors *errs, struct json_object *o, const char *path,
                            struct occlusion_settings *ret) {
        struct json_object *levels;
        char p[PATH_MAX_LEN], mmhg_range[32], restarts_range[64];

        format_into(mmhg_range, sizeof mmhg_range, "%d..%d mmHg", OCCLUSION_LIMIT_MMHG_MIN, OCCLUSION_LIMIT_MMHG_MAX);
        format_into(restarts_range, sizeof restarts_range, "0..%d per rolling 10 min; 0: never",
                    OCCLUSION_AUTO_RESTARTS_MAX);

        /* Placeholders the model refuses at these same paths: no levels,
         * a level of 0, a default of 0, -1 restarts. */
        *ret = (struct occlusion_settings) { .auto_restarts = -1 };
        check_keys(errs, o, path, occlusion_keys, ELEMENTSOF(occlusion_keys));

        levels = member(errs, o, path, "levels_mmhg", true, KIND_ARRAY);
        if (levels) {
                size_t n = json_object_array_length(levels);

                path_key(p, path, "levels_mmhg");
                if (n > OCCLUSION_LEVELS_MAX)
                        library_errors_add(errs, p, "%zu levels; at most %d are allowed", n, OCCLUSION_LEVELS_MAX);
                else {
                        ret->n_levels = n;
                        for (size_t i = 0; i < n; i++) {
                                char q[PATH_MAX_LEN];
                                path_index(q, p, i);
                                int_value(errs, q, json_object_array_get_idx(levels, i), mmhg_range,
                                          &ret->levels_mmhg[i]);
                        }
                }
        }
        read_int(errs, o, path, "default_mmhg", true, mmhg_range, &ret->default_mmhg);
        read_int(errs, o, path, "auto_restarts", true, restarts_range, &ret->auto_restarts);
}

static int parse_care_area(struct library_errors *errs, struct json_object *o, const char *path,
                           struct care_area *a) {
        struct json_object *occlusion;
        int64_t mmhg;
        int r;

        if (!expect_kind(errs, path, o, KIND_OBJECT))
                return 0;
        check_keys_shown(errs, o, path, care_area_keys, ELEMENTSOF(care_area_keys), CARE_AREA_KEYS_SHOWN);

        r = read_string(errs, o, path, "id", true, &a->id);
        if (r < 0)
                return r;
        r = read_string(errs, o, path, "name", true, &a->name);
        if (r < 0)
                return r;
        read_boolean(errs, o, path, "allow_basic_infusion", true, &a->allow_basic_infusion);

        occlusion = member(errs, o, path, "occlusion", false, KIND_OBJECT);
        if (occlusion) {
                char p[PATH_MAX_LEN];
                path_key(p, path, "occlusion");
                a->has_occlusion = true;
                parse_occlusion(errs, occlusion, p, &a->occlusion);
        }

        /* The older form: one limit, no choice, no restarts. Its range was
         * 50..1034; a value above 1000 must now be given as occlusion. */
        if (read_integer(errs, o, path, "occlusion_limit_mmhg", false, &mmhg)) {
                char p[PATH_MAX_LEN];
                path_key(p, path, "occlusion_limit_mmhg");
                if (json_object_object_get_ex(o, "occlusion", NULL))
                        library_errors_add(errs, p, "is the older form of occlusion; give occlusion only");
                else if (mmhg < OCCLUSION_LIMIT_MMHG_MIN || mmhg > OCCLUSION_LIMIT_MMHG_MAX)
                        library_errors_add(errs, p, "%" PRId64 " is out of range (%d..%d mmHg)", mmhg,
                                           OCCLUSION_LIMIT_MMHG_MIN, OCCLUSION_LIMIT_MMHG_MAX);
                else {
                        a->has_occlusion = true;
                        a->occlusion = (struct occlusion_settings) {
                                .levels_mmhg = { (int) mmhg },
                                .n_levels = 1,
                                .default_mmhg = (int) mmhg,
                                .auto_restarts = 0,
                        };
                }
        }
        return 0;
}

static void parse_limit_values(struct library_errors *errs, struct json_object *o, const char *path,
                               struct dose_limits *l) {
        read_number(errs, o, path, "hard_min", false, &l->hard_min);
        read_number(errs, o, path, "soft_min", false, &l->soft_min);
        read_number(errs, o, path, "soft_max", false, &l->soft_max);
        read_number(errs, o, path, "hard_max", false, &l->hard_max);
}

static int parse_amount_limits(struct library_errors *errs, struct json_object *parent, const char *parent_path,
                               const char *key, struct amount_limits *a) {
        struct json_object *o = member(errs, parent, parent_path, key, false, KIND_OBJECT);
        char path[PATH_MAX_LEN];

        if (!o)
                return 0;
        path_key(path, parent_path, key);
        a->allowed = true;
        check_keys(errs, o, path, amount_limits_keys, ELEMENTSOF(amount_limits_keys));
        parse_limit_values(errs, o, path, &a->limits);
        return read_unit(errs, o, path, "unit", false, &a->unit);
}

/* A limit set member (without unit) of the object at parent_path: true if
 * it is present, even as {}. */
static bool parse_limit_set(struct library_errors *errs, struct json_object *parent, const char *parent_path,
                            const char *key, bool required, struct dose_limits *l) {
        struct json_object *o = member(errs, parent, parent_path, key, required, KIND_OBJECT);
        char p[PATH_MAX_LEN];

        if (!o)
                return false;
        path_key(p, parent_path, key);
        check_keys(errs, o, p, dose_limits_keys, ELEMENTSOF(dose_limits_keys));
        parse_limit_values(errs, o, p, l);
        return true;
}

/* Left out, pca->allowed stays false. The defaults of the optional keys
 * are the caller's placeholders (see parse_drug_limits()). */
static int parse_pca(struct library_errors *errs, struct json_object *parent, const char *parent_path,
                     struct pca_limits *pca) {
        struct json_object *o = member(errs, parent, parent_path, "pca", false, KIND_OBJECT), *limit;
        _cleanup_(freep) char *action = NULL;
        char path[PATH_MAX_LEN], p[PATH_MAX_LEN];
        int r;

        if (!o)
                return 0;
        path_key(path, parent_path, "pca");
        pca->allowed = true;
        check_keys(errs, o, path, pca_keys, ELEMENTSOF(pca_keys));

        r = read_unit(errs, o, path, "unit", false, &pca->unit);
        if (r < 0)
                return r;
        parse_limit_set(errs, o, path, "demand", true, &pca->demand);
        parse_limit_set(errs, o, path, "lockout_min", false, &pca->lockout_min);
        parse_limit_set(errs, o, path, "doses_per_hour", false, &pca->doses_per_hour);

        limit = member(errs, o, path, "limit", false, KIND_OBJECT);
        if (limit) {
                path_key(p, path, "limit");
                check_keys(errs, limit, p, pca_limit_keys, ELEMENTSOF(pca_limit_keys));
                read_number(errs, limit, p, "window_h", true, &pca->window_h);
                parse_limit_values(errs, limit, p, &pca->limit);
        }

        /* Present, even as {}: a basal rate may run here, within these bounds. */
        pca->basal_allowed = parse_limit_set(errs, o, path, "basal", false, &pca->basal);

        read_boolean(errs, o, path, "clinician_bolus_counts", false, &pca->clinician_bolus_counts);

        r = read_string(errs, o, path, "limit_action", false, &action);
        if (r < 0)
                return r;
        if (action && pca_limit_action_from_string(action, &pca->limit_action) < 0) {
                path_key(p, path, "limit_action");
                library_errors_add(errs, p, "\"%s\" is not a limit action (allowed: %s, %s)", action,
                                   pca_limit_action_to_string(PCA_LIMIT_KVO),
                                   pca_limit_action_to_string(PCA_LIMIT_STOP));
        }
        return 0;
}

static int parse_drug_limits(struct library_errors *errs, struct json_object *o, const char *path,
                             const char *care_area_id, struct drug_limits *l) {
        struct json_object *dose;
        int r;

        l->dose = DOSE_LIMITS_NONE;
        /* Placeholder unit "mL": compatible with any concentration. */
        l->bolus = l->loading = (struct amount_limits) {
                .unit = { DOSE_AMOUNT_ML, DOSE_BASIS_NONE, DOSE_TIME_NONE },
                .limits = DOSE_LIMITS_NONE,
        };
        /* No PCA here unless "pca" says so; inside it, the defaults of
         * its optional keys. */
        l->pca = (struct pca_limits) {
                .unit = { DOSE_AMOUNT_ML, DOSE_BASIS_NONE, DOSE_TIME_NONE },
                .demand = DOSE_LIMITS_NONE,
                .lockout_min = DOSE_LIMITS_NONE,
                .doses_per_hour = DOSE_LIMITS_NONE,
                .limit = DOSE_LIMITS_NONE,
                .window_h = NAN,
                .basal = DOSE_LIMITS_NONE,
                .clinician_bolus_counts = true,
                .limit_action = PCA_LIMIT_KVO,
        };
        l->care_area_id = strdup(care_area_id);
        if (!l->care_area_id)
                return -ENOMEM;

        if (!expect_kind(errs, path, o, KIND_OBJECT))
                return 0;
        check_keys(errs, o, path, drug_limits_keys, ELEMENTSOF(drug_limits_keys));

        dose = member(errs, o, path, "dose", false, KIND_OBJECT);
        if (dose) {
                char p[PATH_MAX_LEN];
                path_key(p, path, "dose");
                check_keys(errs, dose, p, dose_limits_keys, ELEMENTSOF(dose_limits_keys));
                parse_limit_values(errs, dose, p, &l->dose);
        }
        r = parse_amount_limits(errs, o, path, "bolus", &l->bolus);
        if (r < 0)
                return r;
        r = parse_amount_limits(errs, o, path, "loading", &l->loading);
        if (r < 0)
                return r;
        return parse_pca(errs, o, path, &l->pca);
}

static int parse_concentration(struct library_errors *errs, struct json_object *o, const char *path,
                               struct concentration *c) {
        _cleanup_(freep) char *unit = NULL;
        char amounts[128], p[PATH_MAX_LEN];
        int r;

        /* Placeholders the model refuses at these same paths. */
        *c = (struct concentration) { .amount = NAN, .amount_unit = DOSE_AMOUNT_ML, .volume_ml = NAN };
        if (!expect_kind(errs, path, o, KIND_OBJECT))
                return 0;
        check_keys(errs, o, path, concentration_keys, ELEMENTSOF(concentration_keys));

        read_number(errs, o, path, "amount", true, &c->amount);
        r = read_string(errs, o, path, "amount_unit", true, &unit);
        if (r < 0)
                return r;
        if (unit && dose_amount_parse(unit, &c->amount_unit) < 0) {
                path_key(p, path, "amount_unit");
                amount_list(amounts, sizeof amounts, false);
                library_errors_add(errs, p, "\"%s\" is not an amount (allowed: %s)", unit, amounts);
        }
        read_number(errs, o, path, "volume_ml", true, &c->volume_ml);
        return 0;
}

static int parse_drug(struct library_errors *errs, struct json_object *o, const char *path, struct drug *d) {
        struct json_object *a, *limits;
        char p[PATH_MAX_LEN];
        int r;

        /* Placeholder "mL/h" needs no concentration and fits any, so a
         * refused unit does not also fail every concentration. */
        d->dose_unit = (struct dose_unit) { DOSE_AMOUNT_ML, DOSE_BASIS_NONE, DOSE_TIME_H };
        if (!expect_kind(errs, path, o, KIND_OBJECT))
                return 0;
        check_keys(errs, o, path, drug_keys, ELEMENTSOF(drug_keys));

        r = read_string(errs, o, path, "id", true, &d->id);
        if (r < 0)
                return r;
        r = read_string(errs, o, path, "name", true, &d->name);
        if (r < 0)
                return r;
        r = read_unit(errs, o, path, "dose_unit", true, &d->dose_unit);
        if (r < 0)
                return r;

        a = member(errs, o, path, "concentrations", true, KIND_ARRAY);
        if (a && json_object_array_length(a) > 0) {
                size_t n = json_object_array_length(a);
                d->concentrations = calloc(n, sizeof *d->concentrations);
                if (!d->concentrations)
                        return -ENOMEM;
                d->n_concentrations = n;
                path_key(p, path, "concentrations");
                for (size_t i = 0; i < n; i++) {
                        char q[PATH_MAX_LEN];
                        path_index(q, p, i);
                        r = parse_concentration(errs, json_object_array_get_idx(a, i), q, &d->concentrations[i]);
                        if (r < 0)
                                return r;
                }
        }

        limits = member(errs, o, path, "limits", true, KIND_OBJECT);
        if (limits && json_object_object_length(limits) > 0) {
                size_t n = json_object_object_length(limits), i = 0;
                d->limits = calloc(n, sizeof *d->limits);
                if (!d->limits)
                        return -ENOMEM;
                path_key(p, path, "limits");
                json_object_object_foreach(limits, area, value) {
                        char q[PATH_MAX_LEN];
                        path_key(q, p, area);
                        d->n_limits = i + 1;
                        r = parse_drug_limits(errs, value, q, area, &d->limits[i++]);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Too many entries are refused before anything is allocated for them. */
static struct json_object *array_member(struct library_errors *errs, struct json_object *root, const char *key,
                                        const char *what, size_t max, size_t *ret_n) {
        struct json_object *a = member(errs, root, "", key, true, KIND_ARRAY);

        *ret_n = 0;
        if (!a)
                return NULL;
        size_t n = json_object_array_length(a);
        if (n > max) {
                library_errors_add(errs, key, "%zu %s; at most %zu are allowed", n, what, max);
                return NULL;
        }
        *ret_n = n;
        return a;
}

static int parse_root(struct library_errors *errs, struct json_object *root, struct drug_library *lib) {
        struct json_object *a;
        char p[PATH_MAX_LEN];
        int64_t format;
        size_t n;
        int r;

        if (!json_object_is_type(root, json_type_object)) {
                library_errors_add(errs, "", "the top level must be an object, not %s", found_name(root));
                return 0;
        }
        check_keys(errs, root, "", root_keys, ELEMENTSOF(root_keys));

        if (read_integer(errs, root, "", "format", true, &format) && format != LIBRARY_JSON_FORMAT)
                library_errors_add(errs, "format", "%" PRId64 " is not supported (this build reads format %d)",
                                   format, LIBRARY_JSON_FORMAT);
        r = read_string(errs, root, "", "version", true, &lib->version);
        if (r < 0)
                return r;

        a = array_member(errs, root, "care_areas", "care areas", DRUG_LIBRARY_CARE_AREAS_MAX, &n);
        if (a && n > 0) {
                lib->care_areas = calloc(n, sizeof *lib->care_areas);
                if (!lib->care_areas)
                        return -ENOMEM;
                lib->n_care_areas = n;
                for (size_t i = 0; i < n; i++) {
                        path_index(p, "care_areas", i);
                        r = parse_care_area(errs, json_object_array_get_idx(a, i), p, &lib->care_areas[i]);
                        if (r < 0)
                                return r;
                }
        }

        a = array_member(errs, root, "drugs", "drugs", DRUG_LIBRARY_DRUGS_MAX, &n);
        if (a && n > 0) {
                lib->drugs = calloc(n, sizeof *lib->drugs);
                if (!lib->drugs)
                        return -ENOMEM;
                lib->n_drugs = n;
                for (size_t i = 0; i < n; i++) {
                        path_index(p, "drugs", i);
                        r = parse_drug(errs, json_object_array_get_idx(a, i), p, &lib->drugs[i]);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static void position(const char *text, size_t offset, unsigned *ret_line, unsigned *ret_column) {
        unsigned line = 1;
        size_t line_start = 0;

        for (size_t i = 0; i < offset; i++)
                if (text[i] == '\n') {
                        line++;
                        line_start = i + 1;
                }
        *ret_line = line;
        *ret_column = (unsigned) (offset - line_start + 1);
}

static void report_at(struct library_errors *errs, const char *text, size_t offset, const char *message) {
        char where[64];
        unsigned line, column;

        position(text, offset, &line, &column);
        format_into(where, sizeof where, "line %u, column %u", line, column);
        library_errors_add(errs, where, "%s", message);
}

/* json-c keeps the last of two members with one name, silently, and
 * takes 'single-quoted' strings even in strict mode. A file with
 * "hard_max" twice is ambiguous, and one that other JSON tools refuse
 * cannot be reviewed with them, so this pass over the text (which json-c
 * has already parsed) refuses both. */

struct key_span {
        const char *s;
        size_t len;
};

struct scan_frame {
        bool is_object;
        size_t index;                   /* array: the element being read */
        size_t path_len;                /* of this container's path */
        struct key_span key;            /* object: the member being read */
        struct key_span *keys;
        size_t n_keys, n_alloc;
};

static int key_span_compare(const void *a, const void *b) {
        const struct key_span *x = a, *y = b;
        int r = memcmp(x->s, y->s, MIN(x->len, y->len));

        if (r != 0)
                return r;
        if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        return x->s < y->s ? -1 : x->s > y->s;  /* file order */
}

static void report_duplicate_keys(struct library_errors *errs, struct scan_frame *f, const char *path) {
        char p[PATH_MAX_LEN], key[PATH_MAX_LEN];

        /* An empty object has no key array: qsort() must not see NULL. */
        if (f->n_keys < 2)
                return;
        qsort(f->keys, f->n_keys, sizeof *f->keys, key_span_compare);
        for (size_t i = 1; i < f->n_keys; i++) {
                const struct key_span *a = &f->keys[i - 1], *b = &f->keys[i];
                if (a->len != b->len || memcmp(a->s, b->s, a->len) != 0)
                        continue;
                format_into(key, sizeof key, "%.*s", (int) MIN(b->len, sizeof key - 1), b->s);
                path_key(p, path, key);
                library_errors_add(errs, p, "is given twice");   /* a third time adds nothing */
        }
}

static int check_duplicate_keys(struct library_errors *errs, const char *text, size_t len) {
        struct scan_frame frames[DEPTH_MAX + 1] = {};
        char path[PATH_MAX_LEN] = "";
        size_t depth = 0;               /* frames in use */
        bool expect_key = false, quote_reported = false;
        int r = 0;

        for (size_t i = 0; i < len;) {
                char c = text[i];
                struct scan_frame *top = depth > 0 ? &frames[depth - 1] : NULL;

                if (c == '{' || c == '[') {
                        if (depth > DEPTH_MAX)
                                break;  /* json-c refuses this deep already */
                        size_t at = strlen(path);
                        if (top && top->is_object) {
                                char key[PATH_MAX_LEN], p[PATH_MAX_LEN];
                                format_into(key, sizeof key, "%.*s", (int) MIN(top->key.len, sizeof key - 1),
                                            top->key.s);
                                path_key(p, path, key);
                                format_into(path, sizeof path, "%s", p);
                        } else if (top) {
                                char p[PATH_MAX_LEN];
                                path_index(p, path, top->index);
                                format_into(path, sizeof path, "%s", p);
                        }
                        frames[depth++] = (struct scan_frame) { .is_object = c == '{', .path_len = at };
                        expect_key = c == '{';
                        i++;
                } else if (c == '}' || c == ']') {
                        if (!top)
                                break;
                        if (top->is_object)
                                report_duplicate_keys(errs, top, path);
                        path[top->path_len] = '\0';
                        free(top->keys);
                        *top = (struct scan_frame) {};
                        depth--;
                        expect_key = false;
                        i++;
                } else if (c == ',') {
                        if (top && top->is_object)
                                expect_key = true;
                        else if (top)
                                top->index++;
                        i++;
                } else if (c == '"' || c == '\'') {
                        if (c == '\'' && !quote_reported) {
                                report_at(errs, text, i, "strings must be in double quotes");
                                quote_reported = true;
                        }
                        size_t start = ++i;
                        bool escaped = false;
                        while (i < len && text[i] != c) {
                                if (text[i] == '\\') {
                                        escaped = true;
                                        i++;
                                }
                                i++;
                        }
                        if (top && top->is_object && expect_key) {
                                top->key = (struct key_span) { text + start, MIN(i, len) - start };
                                expect_key = false;
                                /* Escapes could spell one name two ways; no
                                 * name in this format needs one. */
                                if (escaped) {
                                        char key[PATH_MAX_LEN], p[PATH_MAX_LEN];
                                        format_into(key, sizeof key, "%.*s",
                                                    (int) MIN(top->key.len, sizeof key - 1), top->key.s);
                                        path_key(p, path, key);
                                        library_errors_add(errs, p, "key must be written without \\ escapes");
                                }
                                if (top->n_keys == top->n_alloc) {
                                        size_t n = top->n_alloc ? top->n_alloc * 2 : 16;
                                        struct key_span *k = realloc(top->keys, n * sizeof *k);
                                        if (!k) {
                                                r = -ENOMEM;
                                                break;
                                        }
                                        top->keys = k;
                                        top->n_alloc = n;
                                }
                                top->keys[top->n_keys++] = top->key;
                        }
                        i++;    /* the closing quote */
                } else if (strchr(" \t\r\n:", c))   /* never '\0': NUL bytes were refused */
                        i++;
                else
                        /* A number or a literal: at least c itself. */
                        while (i < len && !strchr(" \t\r\n,:[]{}", text[i]))
                                i++;
        }

        for (size_t f = 0; f < depth; f++)
                free(frames[f].keys);
        return r;
}

/* Limits in the order of the care areas, whatever their order in the
 * file: the same library then makes the same model, and the same export.
 * Only for a library that passed validation (every area exists once). */
static int sort_limits(struct drug_library *lib) {
        for (size_t i = 0; i < lib->n_drugs; i++) {
                struct drug *d = &lib->drugs[i];
                size_t k = 0;

                if (d->n_limits < 2)
                        continue;
                struct drug_limits *sorted = calloc(d->n_limits, sizeof *sorted);
                if (!sorted)
                        return -ENOMEM;
                for (size_t a = 0; a < lib->n_care_areas; a++)
                        for (size_t j = 0; j < d->n_limits; j++)
                                if (streq(d->limits[j].care_area_id, lib->care_areas[a].id))
                                        sorted[k++] = d->limits[j];
                if (k != d->n_limits) {
                        free(sorted);
                        return -EINVAL;
                }
                free(d->limits);
                d->limits = sorted;
        }
        return 0;
}

int library_from_json(const char *json_text, size_t len, struct drug_library **ret, struct library_errors *errs) {
        _cleanup_(json_tokener_freep) struct json_tokener *tok = NULL;
        _cleanup_(json_object_putp) struct json_object *root = NULL;
        _cleanup_(drug_library_freep) struct drug_library *lib = NULL;
        _cleanup_(freep) struct library_errors *own = NULL;
        const char *nul;
        int r;

        if (!errs) {
                own = malloc(sizeof *own);
                if (!own)
                        return -ENOMEM;
                errs = own;
        }
        library_errors_reset(errs);

        if (!ret || (!json_text && len > 0)) {
                library_errors_add(errs, "", "no text to read");
                return -EINVAL;
        }
        if (len > LIBRARY_JSON_MAX_BYTES) {
                library_errors_add(errs, "", "the file is %zu bytes; at most %d are allowed", len,
                                   LIBRARY_JSON_MAX_BYTES);
                return -EINVAL;
        }
        nul = len > 0 ? memchr(json_text, '\0', len) : NULL;
        if (nul) {
                report_at(errs, json_text, nul - json_text, "NUL byte in the text");
                return -EINVAL;
        }

        tok = json_tokener_new_ex(DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        root = json_tokener_parse_ex(tok, json_text ?: "", (int) len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        if (!root) {
                report_at(errs, json_text, end,
                          jerr == json_tokener_continue ? "the text ends before the JSON value does"
                                                        : json_tokener_error_desc(jerr));
                return -EINVAL;
        }
        for (; end < len; end++)
                if (!strchr(" \t\r\n", json_text[end])) {
                        report_at(errs, json_text, end, "text after the end of the JSON value");
                        return -EINVAL;
                }

        r = check_duplicate_keys(errs, json_text, len);
        if (r < 0)
                return r;

        lib = calloc(1, sizeof *lib);
        if (!lib)
                return -ENOMEM;
        r = parse_root(errs, root, lib);
        if (r < 0)
                return r;
        /* Even after JSON problems: the model's own rules are checked on
         * what could be read, so one round of fixes can address them all. */
        r = drug_library_validate(lib, errs);
        if (r == -ENOMEM)
                return r;
        if (library_errors_any(errs))
                return -EINVAL;

        r = sort_limits(lib);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(lib);
        return 0;
}

/* Export. Written by hand, not by json-c's printer, so the canonical form
 * is ours (docs/LIBRARY.md) and does not move with json-c's formatting. */

static void write_string(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                default:
                        if (*p < 0x20)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);
                }
        fputc('"', f);
}

/* Members of a one-line object: { "a": 1, "b": 2 }. first: none written yet. */
static void write_key(FILE *f, bool *first, const char *key) {
        fprintf(f, "%s\"%s\": ", *first ? " " : ", ", key);
        *first = false;
}

static void write_number_member(FILE *f, bool *first, const char *key, double d) {
        char buf[LIBRARY_NUMBER_MAX];

        if (isnan(d))
                return;         /* absent */
        write_key(f, first, key);
        fputs(library_number_to_string(d, buf), f);
}

static void write_limit_values(FILE *f, bool *first, const struct dose_limits *l) {
        write_number_member(f, first, "hard_min", l->hard_min);
        write_number_member(f, first, "soft_min", l->soft_min);
        write_number_member(f, first, "soft_max", l->soft_max);
        write_number_member(f, first, "hard_max", l->hard_max);
}

static void write_amount_limits(FILE *f, const char *key, const struct amount_limits *a) {
        char unit[DOSE_UNIT_STRING_MAX];
        bool first = true;

        if (!a->allowed)
                return;
        fprintf(f, ",\n          \"%s\": {", key);
        write_key(f, &first, "unit");
        write_string(f, dose_unit_to_string(&a->unit, unit, sizeof unit));
        write_limit_values(f, &first, &a->limits);
        fputs(" }", f);
}

/* A limit set on one line; {} when empty. */
static void write_limit_set(FILE *f, const char *indent, const char *key, const struct dose_limits *l) {
        bool first = true;

        fprintf(f, ",\n%s\"%s\": {", indent, key);
        write_limit_values(f, &first, l);
        fputs(first ? "}" : " }", f);
}

static bool limits_any(const struct dose_limits *l) {
        return !isnan(l->hard_min) || !isnan(l->soft_min) || !isnan(l->soft_max) || !isnan(l->hard_max);
}

/* One member a line, in the order of pca_keys. Empty lockout_min,
 * doses_per_hour and limit are left out (they read back the same); basal
 * is written whenever it is allowed, as {} if it has no bounds, since
 * leaving it out would forbid it. The two flags are always written, so a
 * reviewer sees them without knowing their defaults. */
static void write_pca(FILE *f, const struct pca_limits *pca) {
        char unit[DOSE_UNIT_STRING_MAX];
        const char *indent = "            ";

        if (!pca->allowed)
                return;
        fputs(",\n          \"pca\": {\n            \"unit\": ", f);
        write_string(f, dose_unit_to_string(&pca->unit, unit, sizeof unit));
        write_limit_set(f, indent, "demand", &pca->demand);
        if (limits_any(&pca->lockout_min))
                write_limit_set(f, indent, "lockout_min", &pca->lockout_min);
        if (limits_any(&pca->doses_per_hour))
                write_limit_set(f, indent, "doses_per_hour", &pca->doses_per_hour);
        if (limits_any(&pca->limit)) {
                bool first = true;

                fprintf(f, ",\n%s\"limit\": {", indent);
                write_number_member(f, &first, "window_h", pca->window_h);
                write_limit_values(f, &first, &pca->limit);
                fputs(" }", f);
        }
        if (pca->basal_allowed)
                write_limit_set(f, indent, "basal", &pca->basal);
        fprintf(f, ",\n%s\"clinician_bolus_counts\": %s", indent, pca->clinician_bolus_counts ? "true" : "false");
        fprintf(f, ",\n%s\"limit_action\": ", indent);
        write_string(f, pca_limit_action_to_string(pca->limit_action));
        fputs("\n          }", f);
}

/* On one line, like a limit set. */
static void write_occlusion(FILE *f, const struct occlusion_settings *o) {
        fputs(",\n      \"occlusion\": { \"levels_mmhg\": [", f);
        for (size_t i = 0; i < o->n_levels; i++)
                fprintf(f, "%s%d", i ? ", " : "", o->levels_mmhg[i]);
        fprintf(f, "], \"default_mmhg\": %d, \"auto_restarts\": %d }", o->default_mmhg, o->auto_restarts);
}

static void write_drug(FILE *f, const struct drug_library *lib, const struct drug *d) {
        char unit[DOSE_UNIT_STRING_MAX];
        bool first_area = true;

        fputs("    {\n      \"id\": ", f);
        write_string(f, d->id);
        fputs(",\n      \"name\": ", f);
        write_string(f, d->name);
        fputs(",\n      \"dose_unit\": ", f);
        write_string(f, dose_unit_to_string(&d->dose_unit, unit, sizeof unit));

        fputs(",\n      \"concentrations\": [", f);
        for (size_t i = 0; i < d->n_concentrations; i++) {
                const struct concentration *c = &d->concentrations[i];
                bool first = true;

                fprintf(f, "%s\n        {", i ? "," : "");
                write_number_member(f, &first, "amount", c->amount);
                write_key(f, &first, "amount_unit");
                write_string(f, dose_amount_to_string(c->amount_unit));
                write_number_member(f, &first, "volume_ml", c->volume_ml);
                fputs(" }", f);
        }
        fputs(d->n_concentrations ? "\n      ]" : "]", f);

        fputs(",\n      \"limits\": {", f);
        for (size_t a = 0; a < lib->n_care_areas; a++) {
                const struct drug_limits *l = drug_limits_for(d, lib->care_areas[a].id);
                bool first = true;

                if (!l)
                        continue;
                fprintf(f, "%s\n        ", first_area ? "" : ",");
                first_area = false;
                write_string(f, l->care_area_id);
                fputs(": {\n          \"dose\": {", f);
                write_limit_values(f, &first, &l->dose);
                fputs(first ? "}" : " }", f);
                write_amount_limits(f, "bolus", &l->bolus);
                write_amount_limits(f, "loading", &l->loading);
                write_pca(f, &l->pca);
                fputs("\n        }", f);
        }
        fputs(first_area ? "}" : "\n      }", f);
        fputs("\n    }", f);
}

int library_to_json(const struct drug_library *lib, char **ret_text) {
        _cleanup_(freep) struct library_errors *errs = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(freep) char *text = NULL;
        size_t size = 0;
        int r;

        if (!lib || !ret_text)
                return -EINVAL;

        /* Never write what could not be read back. */
        errs = malloc(sizeof *errs);
        if (!errs)
                return -ENOMEM;
        library_errors_reset(errs);
        r = drug_library_validate(lib, errs);
        if (r < 0)
                return r;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;

        fprintf(f, "{\n  \"format\": %d,\n  \"version\": ", LIBRARY_JSON_FORMAT);
        write_string(f, lib->version);

        fputs(",\n  \"care_areas\": [", f);
        for (size_t i = 0; i < lib->n_care_areas; i++) {
                const struct care_area *a = &lib->care_areas[i];

                fprintf(f, "%s\n    {\n      \"id\": ", i ? "," : "");
                write_string(f, a->id);
                fputs(",\n      \"name\": ", f);
                write_string(f, a->name);
                fprintf(f, ",\n      \"allow_basic_infusion\": %s", a->allow_basic_infusion ? "true" : "false");
                if (a->has_occlusion)
                        write_occlusion(f, &a->occlusion);
                fputs("\n    }", f);
        }
        fputs(lib->n_care_areas ? "\n  ]" : "]", f);

        fputs(",\n  \"drugs\": [", f);
        for (size_t i = 0; i < lib->n_drugs; i++) {
                fputs(i ? ",\n" : "\n", f);
                write_drug(f, lib, &lib->drugs[i]);
        }
        fputs(lib->n_drugs ? "\n  ]\n}\n" : "]\n}\n", f);

        if (ferror(f))
                return -ENOMEM;
        r = fclose(TAKE_PTR(f));
        if (r != 0)
                return -ENOMEM;
        *ret_text = TAKE_PTR(text);
        return 0;
}
