/* SPDX-License-Identifier: MIT */
#include "safety/library.h"

#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/macros.h"

#define PATH_MAX_LEN 256

/* Bounds of a library's PCA limits (docs/LIBRARY.md, "pca"). Doses per
 * hour match MaxDosesPerHour (1..60, docs/API.md); the window stops at the
 * 12 h of PCA history the pump keeps, so a longer one could not be
 * enforced. */
#define PCA_LOCKOUT_MIN_MIN 1.0
#define PCA_LOCKOUT_MIN_MAX 240.0
#define PCA_DOSES_PER_HOUR_MIN 1.0
#define PCA_DOSES_PER_HOUR_MAX 60.0
#define PCA_WINDOW_H_MIN 1.0
#define PCA_WINDOW_H_MAX 12.0

/* A path or message cut at its buffer's end is still worth showing;
 * vsnprintf() says so without a -Wformat-truncation warning per call. */
__attribute__((format(printf, 3, 4)))
static void format_into(char *buf, size_t size, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(buf, size, format, ap);
        va_end(ap);
}

static void drug_free_contents(struct drug *d) {
        free(d->id);
        free(d->name);
        free(d->concentrations);
        for (size_t i = 0; i < d->n_limits; i++)
                free(d->limits[i].care_area_id);
        free(d->limits);
}

struct drug_library *drug_library_free(struct drug_library *lib) {
        if (!lib)
                return NULL;

        free(lib->version);
        for (size_t i = 0; i < lib->n_care_areas; i++) {
                free(lib->care_areas[i].id);
                free(lib->care_areas[i].name);
        }
        free(lib->care_areas);
        for (size_t i = 0; i < lib->n_drugs; i++)
                drug_free_contents(&lib->drugs[i]);
        free(lib->drugs);
        free(lib);
        return NULL;
}

static bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

const struct care_area *drug_library_find_care_area(const struct drug_library *lib, const char *id) {
        if (!lib || !id)
                return NULL;
        for (size_t i = 0; i < lib->n_care_areas; i++)
                if (streq_ptr(lib->care_areas[i].id, id))
                        return &lib->care_areas[i];
        return NULL;
}

const struct drug *drug_library_find_drug(const struct drug_library *lib, const char *id) {
        if (!lib || !id)
                return NULL;
        for (size_t i = 0; i < lib->n_drugs; i++)
                if (streq_ptr(lib->drugs[i].id, id))
                        return &lib->drugs[i];
        return NULL;
}

const struct concentration *drug_find_concentration(const struct drug *d, const struct concentration *c) {
        for (size_t i = 0; i < d->n_concentrations; i++) {
                const struct concentration *k = &d->concentrations[i];
                if (k->amount == c->amount && k->amount_unit == c->amount_unit && k->volume_ml == c->volume_ml)
                        return k;
        }
        return NULL;
}

const struct drug_limits *drug_limits_for(const struct drug *d, const char *care_area_id) {
        if (!d || !care_area_id)
                return NULL;
        for (size_t i = 0; i < d->n_limits; i++)
                if (streq_ptr(d->limits[i].care_area_id, care_area_id))
                        return &d->limits[i];
        return NULL;
}

int care_area_occlusion_level(const struct care_area *a, double asked_mmhg, double *ret_limit_mmhg) {
        if (!a)
                return -EINVAL;
        if (!a->has_occlusion)
                return -ENOENT;

        if (isnan(asked_mmhg)) {
                if (ret_limit_mmhg)
                        *ret_limit_mmhg = a->occlusion.default_mmhg;
                return 0;
        }
        /* Ascending: on a tie between two neighbours the lower, which
         * alarms sooner, is found first. Infinities match nothing. */
        for (size_t i = 0; i < a->occlusion.n_levels && i < OCCLUSION_LEVELS_MAX; i++)
                if (fabs(asked_mmhg - a->occlusion.levels_mmhg[i]) <= 0.5) {
                        if (ret_limit_mmhg)
                                *ret_limit_mmhg = a->occlusion.levels_mmhg[i];
                        return 0;
                }
        return -EINVAL;
}

enum limit_verdict limit_check(const struct dose_limits *l, double value) {
        if (!isfinite(value) || value <= 0)
                return LIMIT_INVALID;

        /* Hard before soft: a value past both must be refused, not merely
         * confirmed. Absent limits are NAN and compare false anyway; the
         * isnan() tests say so. */
        if (!isnan(l->hard_min) && value < l->hard_min)
                return LIMIT_HARD_LOW;
        if (!isnan(l->hard_max) && value > l->hard_max)
                return LIMIT_HARD_HIGH;
        if (!isnan(l->soft_min) && value < l->soft_min)
                return LIMIT_SOFT_LOW;
        if (!isnan(l->soft_max) && value > l->soft_max)
                return LIMIT_SOFT_HIGH;
        return LIMIT_OK;
}

static const char *const verdict_names[_LIMIT_VERDICT_MAX] = {
        [LIMIT_OK] = "ok",
        [LIMIT_SOFT_LOW] = "below-soft-min",
        [LIMIT_SOFT_HIGH] = "above-soft-max",
        [LIMIT_HARD_LOW] = "below-hard-min",
        [LIMIT_HARD_HIGH] = "above-hard-max",
        [LIMIT_INVALID] = "invalid",
};

const char *limit_verdict_to_string(enum limit_verdict v) {
        return (unsigned) v < _LIMIT_VERDICT_MAX ? verdict_names[v] : "invalid";
}

static const char *const pca_limit_action_names[_PCA_LIMIT_ACTION_MAX] = {
        [PCA_LIMIT_KVO] = "kvo",
        [PCA_LIMIT_STOP] = "stop",
};

const char *pca_limit_action_to_string(enum pca_limit_action a) {
        return (unsigned) a < _PCA_LIMIT_ACTION_MAX ? pca_limit_action_names[a] : NULL;
}

int pca_limit_action_from_string(const char *s, enum pca_limit_action *ret) {
        if (!s)
                return -EINVAL;
        for (int a = 0; a < _PCA_LIMIT_ACTION_MAX; a++)
                if (streq(s, pca_limit_action_names[a])) {
                        if (ret)
                                *ret = a;
                        return 0;
                }
        return -EINVAL;
}

/* Length of the well-formed UTF-8 sequence at s (at most avail bytes) and
 * its code point, or 0 if the bytes there are not one (overlong forms,
 * surrogates and values past U+10FFFF included). */
static size_t utf8_sequence(const unsigned char *s, size_t avail, uint32_t *ret_cp) {
        uint32_t cp;
        size_t len;
        unsigned char lo = 0x80, hi = 0xbf;     /* allowed range of the second byte */

        if (avail == 0)
                return 0;
        if (s[0] < 0x80) {
                *ret_cp = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                len = 2;
                cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                len = 3;
                cp = s[0] & 0x0f;
                if (s[0] == 0xe0)
                        lo = 0xa0;
                else if (s[0] == 0xed)
                        hi = 0x9f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4;
                cp = s[0] & 0x07;
                if (s[0] == 0xf0)
                        lo = 0x90;
                else if (s[0] == 0xf4)
                        hi = 0x8f;
        } else
                return 0;

        if (avail < len)
                return 0;
        if (s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        *ret_cp = cp;
        return len;
}

static bool is_control(uint32_t cp) {
        return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Copy src to dst (size bytes with the NUL) as printable UTF-8: control
 * characters and broken sequences become '?', and truncation never splits
 * a character. Messages go to D-Bus, which refuses invalid UTF-8, and to
 * terminals, where a stray escape sequence could hide text. */
static void copy_printable(char *dst, size_t size, const char *src) {
        const unsigned char *s = (const unsigned char *) src;
        size_t avail = strlen(src), out = 0;

        while (avail > 0) {
                uint32_t cp;
                size_t len = utf8_sequence(s, avail, &cp);
                bool ok = len > 0 && !is_control(cp);
                size_t n = ok ? len : 1;

                if (out + n >= size)
                        break;
                if (ok)
                        memcpy(dst + out, s, len);
                else
                        dst[out] = '?';
                out += n;
                s += n;
                avail -= n;
        }
        dst[out] = '\0';
}

void library_errors_reset(struct library_errors *e) {
        e->n = 0;
        e->truncated = false;
}

/* Does a problem at path a make one at path b redundant? Same value, or a
 * value inside it; the whole file ("") covers everything. */
static bool path_covers(const char *a, size_t a_len, const char *b) {
        if (a_len == 0)
                return true;
        if (strncmp(a, b, a_len) != 0)
                return false;
        return b[a_len] == '\0' || b[a_len] == '.' || b[a_len] == '[';
}

void library_errors_add(struct library_errors *e, const char *path, const char *format, ...) {
        char clean_path[PATH_MAX_LEN];
        char message[LIBRARY_ERROR_MAX];
        char text[LIBRARY_ERROR_MAX];
        va_list ap;

        copy_printable(clean_path, sizeof clean_path, path);
        for (size_t i = 0; i < e->n; i++)
                if (path_covers(e->text[i], e->path_len[i], clean_path))
                        return;
        if (e->n >= LIBRARY_ERRORS_MAX) {
                e->truncated = true;
                return;
        }

        va_start(ap, format);
        vsnprintf(message, sizeof message, format, ap);
        va_end(ap);

        if (clean_path[0])
                format_into(text, sizeof text, "%s: %s", clean_path, message);
        else
                format_into(text, sizeof text, "%s", message);
        copy_printable(e->text[e->n], sizeof e->text[e->n], text);
        e->path_len[e->n] = MIN(strlen(clean_path), strlen(e->text[e->n]));
        e->n++;
}

const char *library_number_to_string(double d, char buf[static LIBRARY_NUMBER_MAX]) {
        if (!isfinite(d)) {
                snprintf(buf, LIBRARY_NUMBER_MAX, "%s", isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
                return buf;
        }

        /* printf and strtod follow LC_NUMERIC; the "C" locale object is
         * static in glibc, so this costs no allocation. */
        locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
        locale_t old = c_locale ? uselocale(c_locale) : (locale_t) 0;

        /* Fewest significant digits that read back exactly; at most 17
         * for any double. */
        char sci[40];
        for (int digits = 1; digits <= 17; digits++) {
                snprintf(sci, sizeof sci, "%.*e", digits - 1, d);
                if (strtod(sci, NULL) == d)
                        break;
        }

        if (c_locale) {
                uselocale(old);
                freelocale(c_locale);
        }

        /* sci is "[-]D[.DDD]e[+-]XX": lay the digits out in plain notation
         * where that is readable, as JavaScript does. */
        const char *s = sci;
        char mantissa[20];
        size_t n = 0;
        char *o = buf;

        if (*s == '-')
                *o++ = *s++;
        for (; *s && *s != 'e'; s++)
                if (*s >= '0' && *s <= '9' && n < sizeof mantissa)
                        mantissa[n++] = *s;
        int exp10 = *s == 'e' ? atoi(s + 1) : 0;
        while (n > 1 && mantissa[n - 1] == '0')
                n--;

        if (exp10 >= 0 && exp10 < 21) {
                for (int i = 0; i <= exp10; i++)
                        *o++ = (size_t) i < n ? mantissa[i] : '0';
                if (n > (size_t) exp10 + 1) {
                        *o++ = '.';
                        for (size_t i = exp10 + 1; i < n; i++)
                                *o++ = mantissa[i];
                }
                *o = '\0';
        } else if (exp10 < 0 && exp10 >= -6) {
                *o++ = '0';
                *o++ = '.';
                for (int i = 0; i < -exp10 - 1; i++)
                        *o++ = '0';
                for (size_t i = 0; i < n; i++)
                        *o++ = mantissa[i];
                *o = '\0';
        } else {
                *o++ = mantissa[0];
                if (n > 1) {
                        *o++ = '.';
                        for (size_t i = 1; i < n; i++)
                                *o++ = mantissa[i];
                }
                snprintf(o, LIBRARY_NUMBER_MAX - (o - buf), "e%d", exp10);
        }
        return buf;
}

/* Validation. Paths and messages are those of the JSON file: the model
 * keeps the file's order, so drugs[i] here is drugs[i] there. */

static bool text_is_printable_utf8(const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        size_t avail = strlen(s);

        while (avail > 0) {
                uint32_t cp;
                size_t len = utf8_sequence(p, avail, &cp);
                if (len == 0 || is_control(cp))
                        return false;
                p += len;
                avail -= len;
        }
        return true;
}

static void validate_text(struct library_errors *errs, const char *path, const char *s) {
        if (!s || !*s)
                library_errors_add(errs, path, "must not be empty");
        else if (strlen(s) > DRUG_LIBRARY_TEXT_MAX)
                library_errors_add(errs, path, "is %zu bytes long; at most %d are allowed",
                                   strlen(s), DRUG_LIBRARY_TEXT_MAX);
        else if (!text_is_printable_utf8(s))
                library_errors_add(errs, path, "must be valid UTF-8 without control characters");
}

static void validate_id(struct library_errors *errs, const char *path, const char *id) {
        if (!id || !*id) {
                library_errors_add(errs, path, "must not be empty");
                return;
        }
        if (strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(id)) {
                library_errors_add(errs, path, "\"%s\" may contain only A-Z, a-z, 0-9, _ and -", id);
                return;
        }
        if (strlen(id) > DRUG_LIBRARY_ID_MAX)
                library_errors_add(errs, path, "is %zu characters long; at most %d are allowed",
                                   strlen(id), DRUG_LIBRARY_ID_MAX);
}

static bool occlusion_level_in_range(int mmhg) {
        return mmhg >= OCCLUSION_LIMIT_MMHG_MIN && mmhg <= OCCLUSION_LIMIT_MMHG_MAX;
}

static void validate_occlusion(struct library_errors *errs, const char *path, const struct occlusion_settings *o) {
        bool usable = true;     /* every level in range and ascending: the default can be judged */
        char p[PATH_MAX_LEN];

        format_into(p, sizeof p, "%s.levels_mmhg", path);
        if (o->n_levels == 0) {
                library_errors_add(errs, p, "at least one level is required");
                usable = false;
        } else if (o->n_levels > OCCLUSION_LEVELS_MAX) {
                library_errors_add(errs, p, "%zu levels; at most %d are allowed", o->n_levels,
                                   OCCLUSION_LEVELS_MAX);
                usable = false;
        }

        /* As for limit sets: each level in range is compared with the
         * nearest one in range before it, so a misplaced level is
         * reported once. */
        int prev = -1;
        for (int i = 0; i < (int) MIN(o->n_levels, (size_t) OCCLUSION_LEVELS_MAX); i++) {
                int v = o->levels_mmhg[i];

                format_into(p, sizeof p, "%s.levels_mmhg[%d]", path, i);
                if (!occlusion_level_in_range(v)) {
                        library_errors_add(errs, p, "%d is out of range (%d..%d mmHg)", v,
                                           OCCLUSION_LIMIT_MMHG_MIN, OCCLUSION_LIMIT_MMHG_MAX);
                        usable = false;
                        continue;
                }
                if (prev >= 0 && v <= o->levels_mmhg[prev]) {
                        library_errors_add(errs, p,
                                           "%d is not above levels_mmhg[%d] %d; levels must be strictly ascending",
                                           v, prev, o->levels_mmhg[prev]);
                        usable = false;
                }
                prev = i;
        }

        format_into(p, sizeof p, "%s.default_mmhg", path);
        if (usable) {
                bool found = false;
                for (size_t i = 0; i < o->n_levels && !found; i++)
                        found = o->levels_mmhg[i] == o->default_mmhg;
                if (!found) {
                        char levels[OCCLUSION_LEVELS_MAX * 16] = "";
                        size_t len = 0;
                        for (size_t i = 0; i < o->n_levels; i++)
                                len += snprintf(levels + len, sizeof levels - len, "%s%d", i ? ", " : "",
                                                o->levels_mmhg[i]);
                        library_errors_add(errs, p, "%d is not one of levels_mmhg (%s)", o->default_mmhg, levels);
                }
        }

        format_into(p, sizeof p, "%s.auto_restarts", path);
        if (o->auto_restarts < 0 || o->auto_restarts > OCCLUSION_AUTO_RESTARTS_MAX)
                library_errors_add(errs, p, "%d is out of range (0..%d per rolling 10 min; 0: never)",
                                   o->auto_restarts, OCCLUSION_AUTO_RESTARTS_MAX);
}

struct id_ref {
        const char *id;
        size_t index;
};

static int id_ref_compare(const void *a, const void *b) {
        const struct id_ref *x = a, *y = b;
        int r = strcasecmp(x->id, y->id);
        if (r != 0)
                return r;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Ids differing only in case are refused too: "Heparin" beside "heparin"
 * is a look-alike a person picking from a list can confuse. Sorting keeps
 * this O(n log n) for 5000 drugs; problems are reported in file order. */
static int validate_unique_ids(struct library_errors *errs, const char *what, size_t n,
                               const char *(*get_id)(const void *items, size_t i), const void *items) {
        _cleanup_(freep) struct id_ref *refs = NULL;
        _cleanup_(freep) size_t *first = NULL;  /* of the id at i, or SIZE_MAX if i is the first */
        size_t n_refs = 0;

        if (n < 2)
                return 0;
        refs = calloc(n, sizeof *refs);
        first = calloc(n, sizeof *first);
        if (!refs || !first)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                first[i] = SIZE_MAX;
                const char *id = get_id(items, i);
                if (id && *id)
                        refs[n_refs++] = (struct id_ref) { id, i };
        }
        qsort(refs, n_refs, sizeof *refs, id_ref_compare);
        for (size_t i = 1, head = 0; i < n_refs; i++) {
                if (strcasecmp(refs[i].id, refs[head].id) == 0)
                        first[refs[i].index] = refs[head].index;
                else
                        head = i;
        }

        for (size_t i = 0; i < n; i++) {
                if (first[i] == SIZE_MAX)
                        continue;
                char path[PATH_MAX_LEN];
                format_into(path, sizeof path, "%s[%zu].id", what, i);
                library_errors_add(errs, path, "\"%s\" is used twice (first at %s[%zu])",
                                   get_id(items, i), what, first[i]);
        }
        return 0;
}

static const char *care_area_id_at(const void *items, size_t i) {
        return ((const struct care_area *) items)[i].id;
}

static const char *drug_id_at(const void *items, size_t i) {
        return ((const struct drug *) items)[i].id;
}

static bool dose_unit_in_range(const struct dose_unit *u) {
        return (unsigned) u->amount < _DOSE_AMOUNT_MAX && (unsigned) u->basis < _DOSE_BASIS_MAX &&
               (unsigned) u->time < _DOSE_TIME_MAX;
}

static const char *const limit_names[4] = { "hard_min", "soft_min", "soft_max", "hard_max" };

static void validate_limits(struct library_errors *errs, const char *path, const struct dose_limits *l) {
        const double v[4] = { l->hard_min, l->soft_min, l->soft_max, l->hard_max };
        bool usable[4] = {};
        char p[PATH_MAX_LEN];

        for (size_t i = 0; i < 4; i++) {
                if (isnan(v[i]))
                        continue;       /* absent */
                format_into(p, sizeof p, "%s.%s", path, limit_names[i]);
                if (!isfinite(v[i]))
                        library_errors_add(errs, p, "must be a finite number");
                else if (v[i] <= 0 && i < 2)
                        library_errors_add(errs, p, "must be > 0 (leave it out for no lower limit)");
                else if (v[i] <= 0)
                        library_errors_add(errs, p, "must be > 0");
                else
                        usable[i] = true;
        }

        /* Comparing each limit with the nearest one present before it is
         * enough for the whole order, and reports each misplaced value once. */
        int prev = -1;
        for (int i = 0; i < 4; i++) {
                if (!usable[i])
                        continue;
                if (prev >= 0 && v[i] < v[prev]) {
                        char a[LIBRARY_NUMBER_MAX], b[LIBRARY_NUMBER_MAX];
                        format_into(p, sizeof p, "%s.%s", path, limit_names[i]);
                        library_errors_add(errs, p, "%s is below %s %s", library_number_to_string(v[i], a),
                                           limit_names[prev], library_number_to_string(v[prev], b));
                }
                prev = i;
        }
}

/* The unit of a bolus, loading or PCA dose at path: an amount, with a
 * concentration to give it from unless it is in mL. */
static void validate_amount_unit(struct library_errors *errs, const char *path, const char *what,
                                 const struct dose_unit *u, const struct drug *d) {
        char unit[32];

        if (!dose_unit_in_range(u))
                library_errors_add(errs, path, "is not a valid amount unit");
        else if (u->time != DOSE_TIME_NONE)
                library_errors_add(errs, path, "\"%s\" is a rate; a %s is an amount such as mg or mcg/kg",
                                   dose_unit_to_string(u, unit, sizeof unit), what);
        else if (u->amount != DOSE_AMOUNT_ML && d->n_concentrations == 0)
                library_errors_add(errs, path, "a %s in %s needs a concentration", what,
                                   dose_unit_to_string(u, unit, sizeof unit));
        else
                for (size_t j = 0; j < d->n_concentrations; j++) {
                        enum dose_amount c = d->concentrations[j].amount_unit;
                        /* A concentration in mL or out of range is reported
                         * at the concentration itself. */
                        if ((unsigned) c >= _DOSE_AMOUNT_MAX || c == DOSE_AMOUNT_ML)
                                continue;
                        if (!dose_amounts_compatible(u->amount, c)) {
                                library_errors_add(errs, path, "%s is not compatible with concentrations[%zu] in %s",
                                                   dose_unit_to_string(u, unit, sizeof unit), j,
                                                   dose_amount_to_string(c));
                                break;
                        }
                }
}

static void validate_amount_limits(struct library_errors *errs, const char *path, const char *what,
                                   const struct amount_limits *a, const struct drug *d) {
        char p[PATH_MAX_LEN];

        if (!a->allowed)
                return;

        format_into(p, sizeof p, "%s.unit", path);
        validate_amount_unit(errs, p, what, &a->unit, d);
        validate_limits(errs, path, &a->limits);
}

static bool limits_any(const struct dose_limits *l) {
        return !isnan(l->hard_min) || !isnan(l->soft_min) || !isnan(l->soft_max) || !isnan(l->hard_max);
}

/* A limit set whose bounds must also lie within min..max (doses per hour,
 * lockout minutes). Values that are not finite or not > 0 are left to
 * validate_limits(), which says so in the words used for every set. */
static void validate_limits_within(struct library_errors *errs, const char *path, const struct dose_limits *l,
                                   double min, double max, const char *range) {
        const double v[4] = { l->hard_min, l->soft_min, l->soft_max, l->hard_max };
        char p[PATH_MAX_LEN], a[LIBRARY_NUMBER_MAX];

        for (size_t i = 0; i < 4; i++) {
                if (!isfinite(v[i]) || v[i] <= 0 || (v[i] >= min && v[i] <= max))
                        continue;
                format_into(p, sizeof p, "%s.%s", path, limit_names[i]);
                library_errors_add(errs, p, "%s is out of range (%s)", library_number_to_string(v[i], a), range);
        }
        validate_limits(errs, path, l);
}

static void validate_pca_limits(struct library_errors *errs, const char *path, const struct pca_limits *pca,
                                const struct drug *d) {
        char p[PATH_MAX_LEN], a[LIBRARY_NUMBER_MAX];

        if (!pca->allowed)
                return;

        format_into(p, sizeof p, "%s.unit", path);
        validate_amount_unit(errs, p, "PCA dose", &pca->unit, d);

        /* Without a ceiling on each demand, nothing bounds what one press
         * gives: the one limit a PCA entry may not leave out. */
        format_into(p, sizeof p, "%s.demand", path);
        validate_limits(errs, p, &pca->demand);
        format_into(p, sizeof p, "%s.demand.hard_max", path);
        if (isnan(pca->demand.hard_max))
                library_errors_add(errs, p, "is required");

        format_into(p, sizeof p, "%s.lockout_min", path);
        validate_limits_within(errs, p, &pca->lockout_min, PCA_LOCKOUT_MIN_MIN, PCA_LOCKOUT_MIN_MAX,
                               "1..240 min");
        format_into(p, sizeof p, "%s.doses_per_hour", path);
        validate_limits_within(errs, p, &pca->doses_per_hour, PCA_DOSES_PER_HOUR_MIN, PCA_DOSES_PER_HOUR_MAX,
                               "1..60 doses per hour");

        /* A cumulative limit means nothing without its window, and a
         * window without a limit would look like one that is enforced. */
        format_into(p, sizeof p, "%s.limit", path);
        validate_limits(errs, p, &pca->limit);
        format_into(p, sizeof p, "%s.limit.window_h", path);
        if (limits_any(&pca->limit)) {
                if (isnan(pca->window_h))
                        library_errors_add(errs, p, "is required");
                else if (!(pca->window_h >= PCA_WINDOW_H_MIN && pca->window_h <= PCA_WINDOW_H_MAX))
                        library_errors_add(errs, p, "%s is out of range (1..12 h)",
                                           library_number_to_string(pca->window_h, a));
        } else if (!isnan(pca->window_h))
                library_errors_add(errs, p, "is given without a limit: add hard_max or soft_max, "
                                   "or leave limit out");

        if (pca->basal_allowed) {
                format_into(p, sizeof p, "%s.basal", path);
                validate_limits(errs, p, &pca->basal);
        }

        format_into(p, sizeof p, "%s.limit_action", path);
        if (!pca_limit_action_to_string(pca->limit_action))
                library_errors_add(errs, p, "is not a valid action");
}

static void validate_concentration(struct library_errors *errs, const char *path, const struct concentration *c,
                                   const struct dose_unit *dose_unit) {
        char p[PATH_MAX_LEN], unit[32];

        format_into(p, sizeof p, "%s.amount", path);
        if (!isfinite(c->amount) || c->amount <= 0)
                library_errors_add(errs, p, "must be > 0");

        format_into(p, sizeof p, "%s.amount_unit", path);
        if ((unsigned) c->amount_unit >= _DOSE_AMOUNT_MAX)
                library_errors_add(errs, p, "is not a valid amount");
        else if (c->amount_unit == DOSE_AMOUNT_ML)
                library_errors_add(errs, p, "must be an amount of drug, not mL");
        else if (dose_unit_in_range(dose_unit) && !dose_amounts_compatible(dose_unit->amount, c->amount_unit))
                library_errors_add(errs, p, "%s is not compatible with the dose unit %s",
                                   dose_amount_to_string(c->amount_unit),
                                   dose_unit_to_string(dose_unit, unit, sizeof unit));

        format_into(p, sizeof p, "%s.volume_ml", path);
        if (!isfinite(c->volume_ml) || c->volume_ml <= 0)
                library_errors_add(errs, p, "must be > 0");
}

static bool same_concentration(const struct concentration *a, const struct concentration *b) {
        return a->amount == b->amount && a->amount_unit == b->amount_unit && a->volume_ml == b->volume_ml;
}

static void validate_drug(struct library_errors *errs, const struct drug_library *lib, size_t index,
                          bool care_area_ids_known) {
        const struct drug *d = &lib->drugs[index];
        char base[PATH_MAX_LEN], p[PATH_MAX_LEN], unit[32];

        format_into(base, sizeof base, "drugs[%zu]", index);

        format_into(p, sizeof p, "%s.id", base);
        validate_id(errs, p, d->id);
        format_into(p, sizeof p, "%s.name", base);
        validate_text(errs, p, d->name);

        format_into(p, sizeof p, "%s.dose_unit", base);
        bool unit_ok = false;
        if (!dose_unit_in_range(&d->dose_unit))
                library_errors_add(errs, p, "is not a valid dose unit");
        else if (d->dose_unit.time == DOSE_TIME_NONE)
                library_errors_add(errs, p, "\"%s\" is an amount, not a dose rate (add /min or /h)",
                                   dose_unit_to_string(&d->dose_unit, unit, sizeof unit));
        else
                unit_ok = true;

        format_into(p, sizeof p, "%s.concentrations", base);
        if (d->n_concentrations == 0 && unit_ok && d->dose_unit.amount != DOSE_AMOUNT_ML)
                library_errors_add(errs, p, "a dose in %s needs at least one concentration",
                                   dose_unit_to_string(&d->dose_unit, unit, sizeof unit));
        for (size_t j = 0; j < d->n_concentrations; j++) {
                format_into(p, sizeof p, "%s.concentrations[%zu]", base, j);
                validate_concentration(errs, p, &d->concentrations[j], &d->dose_unit);
                /* One in mL (a placeholder, or refused above) matches nothing. */
                for (size_t k = 0; k < j && d->concentrations[j].amount_unit != DOSE_AMOUNT_ML; k++)
                        if (same_concentration(&d->concentrations[j], &d->concentrations[k])) {
                                library_errors_add(errs, p, "is the same as concentrations[%zu]", k);
                                break;
                        }
        }

        for (size_t j = 0; j < d->n_limits; j++) {
                const struct drug_limits *l = &d->limits[j];
                const char *area = l->care_area_id ? l->care_area_id : "";

                format_into(p, sizeof p, "%s.limits.%s", base, area);
                if (!*area) {
                        library_errors_add(errs, p, "care area id must not be empty");
                        continue;
                }
                /* With a care area id already refused we cannot tell a
                 * dangling reference from one to that area. */
                if (care_area_ids_known && !drug_library_find_care_area(lib, area))
                        library_errors_add(errs, p, "\"%s\" is not in care_areas", area);
                for (size_t k = 0; k < j; k++)
                        if (streq_ptr(d->limits[k].care_area_id, area)) {
                                library_errors_add(errs, p, "is given twice");
                                break;
                        }

                char q[PATH_MAX_LEN];
                format_into(q, sizeof q, "%s.dose", p);
                validate_limits(errs, q, &l->dose);
                format_into(q, sizeof q, "%s.bolus", p);
                validate_amount_limits(errs, q, "bolus", &l->bolus, d);
                format_into(q, sizeof q, "%s.loading", p);
                validate_amount_limits(errs, q, "loading dose", &l->loading, d);
                format_into(q, sizeof q, "%s.pca", p);
                validate_pca_limits(errs, q, &l->pca, d);
        }
}

int drug_library_validate(const struct drug_library *lib, struct library_errors *errs) {
        char p[PATH_MAX_LEN];
        bool care_area_ids_known = true;
        int r;

        validate_text(errs, "version", lib->version);

        if (lib->n_care_areas == 0)
                library_errors_add(errs, "care_areas", "at least one care area is required");
        else if (lib->n_care_areas > DRUG_LIBRARY_CARE_AREAS_MAX)
                library_errors_add(errs, "care_areas", "%zu care areas; at most %d are allowed",
                                   lib->n_care_areas, DRUG_LIBRARY_CARE_AREAS_MAX);
        if (lib->n_drugs > DRUG_LIBRARY_DRUGS_MAX)
                library_errors_add(errs, "drugs", "%zu drugs; at most %d are allowed",
                                   lib->n_drugs, DRUG_LIBRARY_DRUGS_MAX);

        for (size_t i = 0; i < lib->n_care_areas; i++) {
                const struct care_area *a = &lib->care_areas[i];

                format_into(p, sizeof p, "care_areas[%zu].id", i);
                validate_id(errs, p, a->id);
                if (!a->id || !*a->id)
                        care_area_ids_known = false;
                format_into(p, sizeof p, "care_areas[%zu].name", i);
                validate_text(errs, p, a->name);
                if (a->has_occlusion) {
                        format_into(p, sizeof p, "care_areas[%zu].occlusion", i);
                        validate_occlusion(errs, p, &a->occlusion);
                }
        }
        r = validate_unique_ids(errs, "care_areas", lib->n_care_areas, care_area_id_at, lib->care_areas);
        if (r < 0)
                return r;

        for (size_t i = 0; i < lib->n_drugs; i++)
                validate_drug(errs, lib, i, care_area_ids_known);
        r = validate_unique_ids(errs, "drugs", lib->n_drugs, drug_id_at, lib->drugs);
        if (r < 0)
                return r;

        return library_errors_any(errs) ? -EINVAL : 0;
}
