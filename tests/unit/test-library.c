/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "db/library-json.h"
#include "safety/library.h"

/* Tests write JSON with 'single quotes' so it reads in C; q() turns them
 * into double quotes. The file format itself refuses single quotes. */
static char *q(const char *text) {
        char *s = strdup(text);
        assert_non_null(s);
        for (char *p = s; *p; p++)
                if (*p == '\'')
                        *p = '"';
        return s;
}

#define CARE_AREAS                                                                              \
        "'care_areas': ["                                                                       \
        "{'id': 'ICU', 'name': 'Intensive care', 'allow_basic_infusion': false},"              \
        "{'id': 'Med-Surg', 'name': 'Medical-surgical', 'allow_basic_infusion': true}]"

#define LIBRARY(drugs) "{'format': 1, 'version': 'test 1', " CARE_AREAS ", 'drugs': [" drugs "]}"

#define DRUG(id, unit, concentrations, limits)                                                  \
        "{'id': '" id "', 'name': 'Drug " id "', 'dose_unit': '" unit "', "                     \
        "'concentrations': [" concentrations "], 'limits': {" limits "}}"

#define HEPARIN                                                                                 \
        DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'units', 'volume_ml': 500}", \
             "'ICU': {'dose': {'soft_min': 500, 'soft_max': 1500, 'hard_max': 2000}}")

#define SENTINEL ((struct drug_library *) 0x1)
#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* A library of care areas only; AREA's extra is more members. */
#define AREAS_LIBRARY(areas) "{'format': 1, 'version': 'x', 'care_areas': [" areas "], 'drugs': []}"
#define AREA(id, extra) "{'id': '" id "', 'name': 'Area " id "', 'allow_basic_infusion': false" extra "}"
#define OCCLUSION(levels, default_mmhg, auto_restarts)                                          \
        ", 'occlusion': {'levels_mmhg': [" levels "], 'default_mmhg': " default_mmhg ", "         \
        "'auto_restarts': " auto_restarts "}"

static int import(const char *single_quoted, struct drug_library **ret, struct library_errors *errs) {
        char *text = q(single_quoted);
        int r = library_from_json(text, strlen(text), ret, errs);
        free(text);
        return r;
}

static struct drug_library *assert_imports(const char *single_quoted) {
        struct library_errors *errs = malloc(sizeof *errs);
        struct drug_library *lib = NULL;

        assert_non_null(errs);
        int r = import(single_quoted, &lib, errs);
        for (size_t i = 0; i < errs->n; i++)
                print_message("unexpected: %s\n", errs->text[i]);
        assert_int_equal(errs->n, 0);
        assert_int_equal(r, 0);
        assert_non_null(lib);
        free(errs);
        return lib;
}

/* Refused with exactly these messages, in this order, and *ret untouched. */
static void assert_refused_with(const char *single_quoted, const char *const *expected, size_t n_expected) {
        struct library_errors *errs = malloc(sizeof *errs);
        struct drug_library *lib = SENTINEL;

        assert_non_null(errs);
        assert_int_equal(import(single_quoted, &lib, errs), -EINVAL);
        assert_ptr_equal(lib, SENTINEL);
        bool same = errs->n == n_expected && !errs->truncated;
        for (size_t i = 0; same && i < n_expected; i++) {
                char *want = q(expected[i]);
                same = strcmp(errs->text[i], want) == 0;
                free(want);
        }
        if (!same)
                for (size_t i = 0; i < errs->n; i++)
                        print_message("got: %s\n", errs->text[i]);
        assert_int_equal(errs->n, n_expected);
        assert_false(errs->truncated);
        for (size_t i = 0; i < n_expected; i++) {
                char *want = q(expected[i]);
                assert_string_equal(errs->text[i], want);
                free(want);
        }
        free(errs);
}

#define assert_refused(json, ...)                                                               \
        do {                                                                                    \
                const char *const _e_[] = { __VA_ARGS__ };                                      \
                assert_refused_with(json, _e_, sizeof _e_ / sizeof _e_[0]);                     \
        } while (0)

static char *read_file(const char *path, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;

        assert_non_null(f);
        FILE *out = open_memstream(&buf, &size);
        assert_non_null(out);
        for (int c; (c = fgetc(f)) != EOF;)
                fputc(c, out);
        assert_int_equal(fclose(out), 0);
        fclose(f);
        *ret_len = size;
        return buf;
}

static char *read_sample(size_t *ret_len) {
        const char *dir = getenv("CONFIG_DIR");
        char *path;

        assert_non_null(dir);   /* set by tests/unit/meson.build */
        assert_true(asprintf(&path, "%s/drug-library.sample.json", dir) > 0);
        char *text = read_file(path, ret_len);
        free(path);
        return text;
}

static struct drug_library *import_sample(void) {
        struct drug_library *lib = NULL;
        struct library_errors errs;
        size_t len;
        char *text = read_sample(&len);

        int r = library_from_json(text, len, &lib, &errs);
        for (size_t i = 0; i < errs.n; i++)
                print_message("sample: %s\n", errs.text[i]);
        assert_int_equal(r, 0);
        free(text);
        return lib;
}

static char *export(const struct drug_library *lib) {
        char *text = NULL;
        assert_int_equal(library_to_json(lib, &text), 0);
        assert_non_null(text);
        return text;
}

static bool same_number(double a, double b) {
        return (isnan(a) && isnan(b)) || a == b;
}

static void assert_limits_equal(const struct dose_limits *a, const struct dose_limits *b) {
        assert_true(same_number(a->hard_min, b->hard_min));
        assert_true(same_number(a->soft_min, b->soft_min));
        assert_true(same_number(a->soft_max, b->soft_max));
        assert_true(same_number(a->hard_max, b->hard_max));
}

static void assert_amount_limits_equal(const struct amount_limits *a, const struct amount_limits *b) {
        assert_int_equal(a->allowed, b->allowed);
        if (!a->allowed)
                return;
        assert_memory_equal(&a->unit, &b->unit, sizeof a->unit);
        assert_limits_equal(&a->limits, &b->limits);
}

static void assert_pca_limits_equal(const struct pca_limits *a, const struct pca_limits *b) {
        assert_int_equal(a->allowed, b->allowed);
        if (!a->allowed)
                return;
        assert_memory_equal(&a->unit, &b->unit, sizeof a->unit);
        assert_limits_equal(&a->demand, &b->demand);
        assert_limits_equal(&a->lockout_min, &b->lockout_min);
        assert_limits_equal(&a->doses_per_hour, &b->doses_per_hour);
        assert_limits_equal(&a->limit, &b->limit);
        assert_true(same_number(a->window_h, b->window_h));
        assert_int_equal(a->basal_allowed, b->basal_allowed);
        if (a->basal_allowed)
                assert_limits_equal(&a->basal, &b->basal);
        assert_int_equal(a->clinician_bolus_counts, b->clinician_bolus_counts);
        assert_int_equal(a->limit_action, b->limit_action);
}

static void assert_occlusion_equal(const struct occlusion_settings *a, const struct occlusion_settings *b) {
        assert_int_equal(a->n_levels, b->n_levels);
        for (size_t i = 0; i < a->n_levels; i++)
                assert_int_equal(a->levels_mmhg[i], b->levels_mmhg[i]);
        assert_int_equal(a->default_mmhg, b->default_mmhg);
        assert_int_equal(a->auto_restarts, b->auto_restarts);
}

/* Field by field; the limits of a drug are compared by care area, since
 * import puts them in care-area order. */
static void assert_libraries_equal(const struct drug_library *a, const struct drug_library *b) {
        assert_string_equal(a->version, b->version);
        assert_int_equal(a->n_care_areas, b->n_care_areas);
        for (size_t i = 0; i < a->n_care_areas; i++) {
                assert_string_equal(a->care_areas[i].id, b->care_areas[i].id);
                assert_string_equal(a->care_areas[i].name, b->care_areas[i].name);
                assert_int_equal(a->care_areas[i].allow_basic_infusion, b->care_areas[i].allow_basic_infusion);
                assert_int_equal(a->care_areas[i].has_occlusion, b->care_areas[i].has_occlusion);
                if (a->care_areas[i].has_occlusion)
                        assert_occlusion_equal(&a->care_areas[i].occlusion, &b->care_areas[i].occlusion);
        }
        assert_int_equal(a->n_drugs, b->n_drugs);
        for (size_t i = 0; i < a->n_drugs; i++) {
                const struct drug *x = &a->drugs[i], *y = &b->drugs[i];
                assert_string_equal(x->id, y->id);
                assert_string_equal(x->name, y->name);
                assert_memory_equal(&x->dose_unit, &y->dose_unit, sizeof x->dose_unit);
                assert_int_equal(x->n_concentrations, y->n_concentrations);
                for (size_t j = 0; j < x->n_concentrations; j++) {
                        assert_true(x->concentrations[j].amount == y->concentrations[j].amount);
                        assert_int_equal(x->concentrations[j].amount_unit, y->concentrations[j].amount_unit);
                        assert_true(x->concentrations[j].volume_ml == y->concentrations[j].volume_ml);
                }
                assert_int_equal(x->n_limits, y->n_limits);
                for (size_t j = 0; j < x->n_limits; j++) {
                        const struct drug_limits *l = &x->limits[j];
                        const struct drug_limits *m = drug_limits_for(y, l->care_area_id);
                        assert_non_null(m);
                        assert_limits_equal(&l->dose, &m->dose);
                        assert_amount_limits_equal(&l->bolus, &m->bolus);
                        assert_amount_limits_equal(&l->loading, &m->loading);
                        assert_pca_limits_equal(&l->pca, &m->pca);
                }
        }
}

/* The sample library. */

static void sample_library_imports_with_every_required_drug_and_care_area(void **state) {
        static const char *const drugs[] = {
                "heparin", "insulin", "potassium-chloride", "dopamine", "norepinephrine", "propofol",
                "morphine", "fentanyl", "vancomycin", "tpn", "normal-saline", "dobutamine", "epinephrine",
                "vasopressin", "nitroglycerin", "midazolam", "dexmedetomidine", "oxytocin",
                "magnesium-sulfate", "amiodarone", "esmolol", "furosemide", "cisatracurium",
        };
        static const char *const areas[] = { "ICU", "Med-Surg", "Oncology", "Pediatrics" };
        struct drug_library *lib = import_sample();
        bool some_area_refuses_basic_infusions = false;

        assert_true(lib->n_drugs >= 20);
        assert_true(lib->n_care_areas >= 4);
        for (size_t i = 0; i < sizeof drugs / sizeof drugs[0]; i++) {
                const struct drug *d = drug_library_find_drug(lib, drugs[i]);
                if (!d)
                        print_message("missing drug %s\n", drugs[i]);
                assert_non_null(d);
                assert_true(d->n_limits > 0);   /* available somewhere */
        }
        for (size_t i = 0; i < sizeof areas / sizeof areas[0]; i++)
                assert_non_null(drug_library_find_care_area(lib, areas[i]));
        assert_true(drug_library_find_care_area(lib, "Med-Surg")->allow_basic_infusion);
        for (size_t i = 0; i < lib->n_care_areas; i++)
                some_area_refuses_basic_infusions |= !lib->care_areas[i].allow_basic_infusion;
        assert_true(some_area_refuses_basic_infusions);
        drug_library_free(lib);
}

static void sample_library_doses_every_pediatric_drug_by_weight(void **state) {
        struct drug_library *lib = import_sample();
        size_t n = 0;

        for (size_t i = 0; i < lib->n_drugs; i++) {
                const struct drug *d = &lib->drugs[i];
                if (!drug_limits_for(d, "Pediatrics"))
                        continue;
                if (d->dose_unit.basis != DOSE_BASIS_KG)
                        print_message("%s is not weight-based\n", d->id);
                assert_int_equal(d->dose_unit.basis, DOSE_BASIS_KG);
                n++;
        }
        assert_true(n >= 10);
        drug_library_free(lib);
}

static void sample_library_holds_the_documented_example_limits(void **state) {
        struct drug_library *lib = import_sample();
        const struct drug_limits *l;
        char unit[DOSE_UNIT_STRING_MAX];

        l = drug_limits_for(drug_library_find_drug(lib, "dopamine"), "ICU");
        assert_non_null(l);
        assert_true(isnan(l->dose.hard_min));   /* 0: no lower hard limit */
        assert_true(l->dose.soft_min == 2 && l->dose.soft_max == 20 && l->dose.hard_max == 25);

        l = drug_limits_for(drug_library_find_drug(lib, "insulin"), "ICU");
        assert_true(isnan(l->dose.soft_min) && l->dose.soft_max == 15 && l->dose.hard_max == 30);

        l = drug_limits_for(drug_library_find_drug(lib, "potassium-chloride"), "Med-Surg");
        assert_true(l->dose.hard_max == 10);
        l = drug_limits_for(drug_library_find_drug(lib, "potassium-chloride"), "ICU");
        assert_true(l->dose.hard_max == 20);

        l = drug_limits_for(drug_library_find_drug(lib, "propofol"), "ICU");
        assert_true(l->dose.soft_min == 5 && l->dose.soft_max == 50 && l->dose.hard_max == 80);
        assert_null(drug_limits_for(drug_library_find_drug(lib, "propofol"), "Med-Surg"));

        const struct drug *tpn = drug_library_find_drug(lib, "tpn");
        assert_string_equal(dose_unit_to_string(&tpn->dose_unit, unit, sizeof unit), "mL/h");
        assert_int_equal(tpn->n_concentrations, 0);
        const struct drug *saline = drug_library_find_drug(lib, "normal-saline");
        assert_string_equal(dose_unit_to_string(&saline->dose_unit, unit, sizeof unit), "mL/h");
        drug_library_free(lib);
}

static void sample_library_sets_occlusion_per_care_area(void **state) {
        static const struct {
                const char *area;
                struct occlusion_settings occlusion;
        } want[] = {
                { "ICU", { { 150, 300, 500 }, 3, 300, 0 } },
                { "Med-Surg", { { 300, 500, 750 }, 3, 500, 2 } },
                { "Oncology", { { 300, 500, 750 }, 3, 500, 2 } },
                { "Pediatrics", { { 100, 200, 300 }, 3, 200, 0 } },
                { "Anesthesia", { { 300, 517, 750 }, 3, 517, 0 } },  /* epidurals: ~10 psi */
        };
        struct drug_library *lib = import_sample();

        assert_int_equal(lib->n_care_areas, ELEMENTS(want));
        for (size_t i = 0; i < ELEMENTS(want); i++) {
                const struct care_area *a = drug_library_find_care_area(lib, want[i].area);
                double mmhg;

                assert_non_null(a);
                assert_true(a->has_occlusion);
                assert_occlusion_equal(&a->occlusion, &want[i].occlusion);
                assert_int_equal(care_area_occlusion_level(a, NAN, &mmhg), 0);
                assert_true(mmhg == want[i].occlusion.default_mmhg);
        }
        drug_library_free(lib);
}

static void sample_file_is_already_in_canonical_form(void **state) {
        size_t len;
        char *text = read_sample(&len);
        struct drug_library *lib = import_sample();
        char *exported = export(lib);

        /* So the file's own SHA-256 is the one the daemon will record. */
        assert_string_equal(exported, text);
        free(exported);
        free(text);
        drug_library_free(lib);
}

static void sample_library_has_a_pca_opioid_with_basal_only_in_the_icu(void **state) {
        struct drug_library *lib = import_sample();
        const struct drug *d = drug_library_find_drug(lib, "morphine-pca");
        char unit[DOSE_UNIT_STRING_MAX];

        assert_non_null(d);
        assert_int_equal(d->n_concentrations, 1);
        assert_true(d->concentrations[0].amount == 1 && d->concentrations[0].amount_unit == DOSE_AMOUNT_MG &&
                    d->concentrations[0].volume_ml == 1);
        for (size_t i = 0; i < 2; i++) {
                const char *area = i == 0 ? "ICU" : "Med-Surg";
                const struct drug_limits *l = drug_limits_for(d, area);
                assert_non_null(l);
                const struct pca_limits *pca = &l->pca;

                assert_true(pca->allowed);
                assert_string_equal(dose_unit_to_string(&pca->unit, unit, sizeof unit), "mg");
                assert_limits_equal(&pca->demand, &(struct dose_limits) { NAN, NAN, 2, 3 });
                assert_limits_equal(&pca->lockout_min, &(struct dose_limits) { 5, 6, NAN, NAN });
                assert_limits_equal(&pca->doses_per_hour, &(struct dose_limits) { NAN, NAN, NAN, 12 });
                assert_limits_equal(&pca->limit, &(struct dose_limits) { NAN, NAN, 20, 30 });
                assert_true(pca->window_h == 4);
                assert_true(pca->clinician_bolus_counts);
                /* Med-Surg stops all flow at the limit: no KVO of an opioid
                 * on a ward without continuous monitoring. */
                assert_int_equal(pca->limit_action, i == 0 ? PCA_LIMIT_KVO : PCA_LIMIT_STOP);
                assert_int_equal(pca->basal_allowed, i == 0);
                assert_true(l->loading.allowed);
                assert_string_equal(dose_unit_to_string(&l->loading.unit, unit, sizeof unit), "mg");
                assert_true(l->loading.limits.hard_max == 5);
        }
        assert_true(drug_limits_for(d, "ICU")->pca.basal.hard_max == 2);
        assert_null(drug_limits_for(d, "Oncology"));
        /* PCA is a choice per drug entry: plain morphine has none. */
        assert_false(drug_limits_for(drug_library_find_drug(lib, "morphine"), "ICU")->pca.allowed);
        drug_library_free(lib);
}

/* Round trips. */

static void export_import_export_is_byte_identical(void **state) {
        struct drug_library *lib = import_sample(), *again = NULL;
        char *first = export(lib), *second;

        assert_int_equal(library_from_json(first, strlen(first), &again, NULL), 0);
        assert_libraries_equal(lib, again);
        second = export(again);
        assert_string_equal(first, second);
        free(first);
        free(second);
        drug_library_free(lib);
        drug_library_free(again);
}

/* The ICU entry's PCA limits in awkward_library(): every key, the flags
 * away from their defaults, a basal allowed without bounds. */
static struct pca_limits awkward_library_pca_icu(void) {
        return (struct pca_limits) {
                .allowed = true,
                .unit = { DOSE_AMOUNT_MG, DOSE_BASIS_NONE, DOSE_TIME_NONE },
                .demand = { 0.25, NAN, 1.5, 2 },
                .lockout_min = { 5, 7.5, NAN, 240 },
                .doses_per_hour = { NAN, NAN, 4, 60 },
                .limit = { NAN, NAN, 20, 30 },
                .window_h = 1.5,
                .basal_allowed = true,
                .basal = DOSE_LIMITS_NONE,
                .clinician_bolus_counts = false,
                .limit_action = PCA_LIMIT_STOP,
        };
}

/* A library built in code, as the SQLite store will: limits not in
 * care-area order, numbers without a short binary form, names that need
 * escaping. */
static struct drug_library *awkward_library(void) {
        struct drug_library *lib = calloc(1, sizeof *lib);
        assert_non_null(lib);

        lib->version = strdup("v \"3\" \\ caf\xc3\xa9 \xe2\x80\x94 2026-11");
        lib->n_care_areas = 2;
        lib->care_areas = calloc(2, sizeof *lib->care_areas);
        lib->care_areas[0] = (struct care_area) {
                .id = strdup("ICU"),
                .name = strdup("Intensive care"),
                .has_occlusion = true,
                .occlusion = { .levels_mmhg = { 150, 300, 517 }, .n_levels = 3, .default_mmhg = 517, .auto_restarts = 9 },
        };
        lib->care_areas[1] = (struct care_area) { .id = strdup("NICU"), .name = strdup("Neonatal") };

        lib->n_drugs = 1;
        lib->drugs = calloc(1, sizeof *lib->drugs);
        struct drug *d = &lib->drugs[0];
        d->id = strdup("dopamine_2");
        d->name = strdup("Dopamine");
        d->dose_unit = (struct dose_unit) { DOSE_AMOUNT_MCG, DOSE_BASIS_KG, DOSE_TIME_MIN };
        d->n_concentrations = 2;
        d->concentrations = calloc(2, sizeof *d->concentrations);
        d->concentrations[0] = (struct concentration) { 0.1, DOSE_AMOUNT_G, 0.3 };
        d->concentrations[1] = (struct concentration) { 1.0 / 3.0, DOSE_AMOUNT_MG, 1e-7 };
        d->n_limits = 2;
        d->limits = calloc(2, sizeof *d->limits);
        d->limits[0] = (struct drug_limits) {
                .care_area_id = strdup("NICU"),
                .dose = { NAN, 0.1, 12345.678, 1e21 },
                .bolus = { true, { DOSE_AMOUNT_MCG, DOSE_BASIS_KG, DOSE_TIME_NONE }, DOSE_LIMITS_NONE },
                .loading = { false, {}, DOSE_LIMITS_NONE },
                /* The least a PCA entry can say: the rest at its defaults. */
                .pca = {
                        .allowed = true,
                        .unit = { DOSE_AMOUNT_MCG, DOSE_BASIS_KG, DOSE_TIME_NONE },
                        .demand = { NAN, NAN, NAN, 0.1 },
                        .lockout_min = DOSE_LIMITS_NONE,
                        .doses_per_hour = DOSE_LIMITS_NONE,
                        .limit = DOSE_LIMITS_NONE,
                        .window_h = NAN,
                        .clinician_bolus_counts = true,
                        .limit_action = PCA_LIMIT_KVO,
                },
        };
        d->limits[1] = (struct drug_limits) {
                .care_area_id = strdup("ICU"),
                .dose = { 2.5e-8, NAN, NAN, 0.30000000000000004 },
                .bolus = { false, {}, DOSE_LIMITS_NONE },
                .loading = { true, { DOSE_AMOUNT_MG, DOSE_BASIS_NONE, DOSE_TIME_NONE }, { 1, 1, 1, 1 } },
                .pca = awkward_library_pca_icu(),
        };
        return lib;
}

static void library_built_in_code_survives_a_round_trip_exactly(void **state) {
        struct drug_library *lib = awkward_library(), *again = NULL;
        struct library_errors errs;
        char *first = export(lib), *second;

        int r = library_from_json(first, strlen(first), &again, &errs);
        for (size_t i = 0; i < errs.n; i++)
                print_message("%s\n", errs.text[i]);
        assert_int_equal(r, 0);
        assert_libraries_equal(lib, again);
        second = export(again);
        assert_string_equal(first, second);

        /* Imported limits follow the care areas: ICU first. */
        assert_string_equal(again->drugs[0].limits[0].care_area_id, "ICU");
        assert_non_null(strstr(first, "\"hard_max\": 0.30000000000000004"));
        assert_non_null(strstr(first, "\"hard_min\": 2.5e-8"));
        assert_non_null(strstr(first, "\"occlusion\": { \"levels_mmhg\": [150, 300, 517], \"default_mmhg\": 517, "
                                      "\"auto_restarts\": 9 }"));
        assert_non_null(strstr(first, "\"soft_max\": 12345.678, \"hard_max\": 1e21"));
        assert_non_null(strstr(first, "\"version\": \"v \\\"3\\\" \\\\ caf\xc3\xa9 \xe2\x80\x94 2026-11\""));
        assert_non_null(strstr(first, "\"pca\": {\n"
                                      "            \"unit\": \"mg\",\n"
                                      "            \"demand\": { \"hard_min\": 0.25, \"soft_max\": 1.5, \"hard_max\": 2 },\n"
                                      "            \"lockout_min\": { \"hard_min\": 5, \"soft_min\": 7.5, \"hard_max\": 240 },\n"
                                      "            \"doses_per_hour\": { \"soft_max\": 4, \"hard_max\": 60 },\n"
                                      "            \"limit\": { \"window_h\": 1.5, \"soft_max\": 20, \"hard_max\": 30 },\n"
                                      "            \"basal\": {},\n"
                                      "            \"clinician_bolus_counts\": false,\n"
                                      "            \"limit_action\": \"stop\"\n"
                                      "          }\n"));
        assert_non_null(strstr(first, "\"pca\": {\n"
                                      "            \"unit\": \"mcg/kg\",\n"
                                      "            \"demand\": { \"hard_max\": 0.1 },\n"
                                      "            \"clinician_bolus_counts\": true,\n"
                                      "            \"limit_action\": \"kvo\"\n"
                                      "          }\n"));
        free(first);
        free(second);
        drug_library_free(lib);
        drug_library_free(again);
}

static void order_of_keys_and_of_limits_in_the_file_does_not_change_the_export(void **state) {
        struct drug_library *a = assert_imports(LIBRARY(
                DRUG("x", "mg/h", "{'amount': 1, 'amount_unit': 'mg', 'volume_ml': 1}",
                     "'ICU': {'dose': {'hard_max': 3, 'soft_max': 2}}, 'Med-Surg': {}")));
        struct drug_library *b = assert_imports(
                "{'drugs': [{'limits': {'Med-Surg': {'dose': {}}, 'ICU': {'dose': {'soft_max': 2, 'hard_max': 3}}},"
                " 'concentrations': [{'volume_ml': 1, 'amount_unit': 'mg', 'amount': 1.0}],"
                " 'dose_unit': 'mg/h', 'name': 'Drug x', 'id': 'x'}], "
                CARE_AREAS ", 'version': 'test 1', 'format': 1}");
        char *ta = export(a), *tb = export(b);

        assert_string_equal(ta, tb);
        free(ta);
        free(tb);
        drug_library_free(a);
        drug_library_free(b);
}

static void export_refuses_a_library_that_could_not_be_read_back(void **state) {
        struct drug_library *lib = awkward_library();
        char *text = (char *) 0x1;

        lib->drugs[0].limits[0].dose.soft_max = INFINITY;
        assert_int_equal(library_to_json(lib, &text), -EINVAL);
        assert_ptr_equal(text, (char *) 0x1);
        drug_library_free(lib);
}

/* What a refused file leaves behind. */

static void invalid_file_leaves_the_library_in_use_untouched(void **state) {
        struct drug_library *in_use = import_sample(), *ret = in_use;
        struct library_errors errs;
        const char *bad = "{\"format\": 1, \"version\": \"x\", \"care_areas\": [], \"drugs\": []}";

        assert_int_equal(library_from_json(bad, strlen(bad), &ret, &errs), -EINVAL);
        assert_ptr_equal(ret, in_use);
        assert_non_null(drug_library_find_drug(in_use, "heparin"));
        drug_library_free(in_use);

        ret = NULL;
        assert_int_equal(library_from_json(bad, strlen(bad), &ret, NULL), -EINVAL);
        assert_null(ret);
}

static void valid_minimal_library_imports(void **state) {
        struct drug_library *lib = assert_imports(LIBRARY(HEPARIN));

        assert_string_equal(lib->version, "test 1");
        assert_false(lib->care_areas[0].has_occlusion);        /* the pump's configuration applies */
        assert_false(lib->care_areas[0].allow_basic_infusion);
        assert_true(lib->care_areas[1].allow_basic_infusion);
        const struct drug_limits *l = drug_limits_for(&lib->drugs[0], "ICU");
        assert_non_null(l);
        assert_true(isnan(l->dose.hard_min));
        assert_true(l->dose.soft_min == 500);
        assert_false(l->bolus.allowed);
        assert_false(l->loading.allowed);
        assert_null(drug_limits_for(&lib->drugs[0], "Med-Surg"));
        drug_library_free(lib);
}

static void library_without_drugs_is_accepted(void **state) {
        drug_library_free(assert_imports(LIBRARY("")));
}

/* JSON errors. */

static void syntax_error_names_line_and_column(void **state) {
        struct library_errors errs;
        struct drug_library *lib = NULL;
        const char *text = "{\"format\": 1,\n  \"version\": \"x\"\n  \"care_areas\": []}";

        /* json-c's own words after the position (they hold a ' that q() would turn). */
        assert_int_equal(library_from_json(text, strlen(text), &lib, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.text[0], "line 3, column 3: object value separator ',' expected");
        assert_refused("{'format': 1", "line 1, column 13: the text ends before the JSON value does");
        assert_refused("", "line 1, column 1: the text ends before the JSON value does");
        assert_refused("{}\n{}", "line 2, column 1: unexpected character");
}

static void trailing_whitespace_is_accepted_but_not_a_nul_byte(void **state) {
        struct library_errors errs;
        struct drug_library *lib = NULL;
        char *text = q(LIBRARY("") "\n\t \n");

        assert_int_equal(library_from_json(text, strlen(text), &lib, &errs), 0);
        drug_library_free(lib);
        lib = NULL;
        assert_int_equal(library_from_json(text, strlen(text) + 1, &lib, &errs), -EINVAL);
        assert_null(lib);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.text[0], "line 3, column 1: NUL byte in the text");
        free(text);
}

static void single_quoted_strings_are_refused(void **state) {
        struct library_errors errs;
        struct drug_library *lib = NULL;
        char *text = q(LIBRARY(""));

        text[1] = '\'';
        text[8] = '\'';         /* 'format' */
        assert_int_equal(library_from_json(text, strlen(text), &lib, &errs), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.text[0], "line 1, column 2: strings must be in double quotes");
        free(text);
}

static void top_level_must_be_an_object(void **state) {
        assert_refused("[1, 2]", "the top level must be an object, not an array");
}

static void file_larger_than_the_limit_is_refused_before_parsing(void **state) {
        size_t len = LIBRARY_JSON_MAX_BYTES + 1;
        char *text = malloc(len);
        struct library_errors errs;
        struct drug_library *lib = NULL;
        char want[128];

        assert_non_null(text);
        memset(text, ' ', len);
        assert_int_equal(library_from_json(text, len, &lib, &errs), -EINVAL);
        snprintf(want, sizeof want, "the file is %zu bytes; at most %d are allowed", len, LIBRARY_JSON_MAX_BYTES);
        assert_string_equal(errs.text[0], want);
        free(text);
}

static void misspelt_key_is_refused_by_name(void **state) {
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'units', 'volume_ml': 500}",
                                    "'ICU': {'dose': {'soft_max': 1500, 'hard_mx': 2000}}")),
                       "drugs[0].limits.ICU.dose.hard_mx: unknown key (expected one of: hard_min, soft_min, soft_max, hard_max)");
        assert_refused("{'format': 1, 'versoin': 'x', " CARE_AREAS ", 'drugs': []}",
                       "versoin: unknown key (expected one of: format, version, care_areas, drugs)",
                       "version: is required");
}

static void key_given_twice_is_refused_not_resolved_silently(void **state) {
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'units', 'volume_ml': 500}",
                                    "'ICU': {'dose': {'hard_max': 20, 'soft_max': 15, 'hard_max': 2000}}")),
                       "drugs[0].limits.ICU.dose.hard_max: is given twice");
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'units', 'volume_ml': 500}",
                                    "'ICU': {}, 'ICU': {'dose': {}}")),
                       "drugs[0].limits.ICU: is given twice");
}

static void key_spelt_with_escapes_is_refused(void **state) {
        /* json-c would decode it to a second "ICU" and keep one of them. */
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'units', 'volume_ml': 500}",
                                    "'ICU': {}, 'I\\u0043U': {}")),
                       "drugs[0].limits.I\\u0043U: key must be written without \\ escapes");
}

static void wrong_json_types_are_named(void **state) {
        assert_refused("{'format': '1', 'version': 3, 'care_areas': {}, 'drugs': null}",
                       "format: must be a whole number, not a string",
                       "version: must be a string, not a number",
                       "care_areas: must be an array, not an object",
                       "drugs: must be an array, not null");
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': '25000', 'amount_unit': 'units', 'volume_ml': 500}",
                                    "'ICU': []")),
                       "drugs[0].concentrations[0].amount: must be a number, not a string",
                       "drugs[0].limits.ICU: must be an object, not an array");
        assert_refused("{'format': 1, 'version': 'x', 'care_areas': [{'id': 'ICU', 'name': 'I', "
                       "'allow_basic_infusion': 'yes', 'occlusion': 300}], 'drugs': [7]}",
                       "care_areas[0].allow_basic_infusion: must be true or false, not a string",
                       "care_areas[0].occlusion: must be an object, not a number",
                       "drugs[0]: must be an object, not a number");
}

static void missing_keys_are_named(void **state) {
        assert_refused(LIBRARY("{'id': 'heparin', 'concentrations': [{'amount_unit': 'units'}]}"),
                       "drugs[0].name: is required",
                       "drugs[0].dose_unit: is required",
                       "drugs[0].concentrations[0].amount: is required",
                       "drugs[0].concentrations[0].volume_ml: is required",
                       "drugs[0].limits: is required");
}

static void nan_infinity_and_inexact_integers_are_refused(void **state) {
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'units', 'volume_ml': 500}",
                                    "'ICU': {'dose': {'hard_min': NaN, 'soft_min': -Infinity, "
                                    "'soft_max': 99999999999999999999999, 'hard_max': 1e400}}")),
                       "drugs[0].limits.ICU.dose.hard_min: must be a finite number",
                       "drugs[0].limits.ICU.dose.soft_min: must be a finite number",
                       "drugs[0].limits.ICU.dose.soft_max: is too large",
                       "drugs[0].limits.ICU.dose.hard_max: must be a finite number");
}

static void nul_in_a_string_is_refused(void **state) {
        assert_refused("{'format': 1, 'version': 'a\\u0000b', " CARE_AREAS ", 'drugs': []}",
                       "version: must not contain \\u0000");
}

static void format_other_than_1_is_refused(void **state) {
        assert_refused("{'format': 2, 'version': 'x', " CARE_AREAS ", 'drugs': []}",
                       "format: 2 is not supported (this build reads format 1)");
}

/* Library rules. */

static void care_area_id_used_twice_is_refused(void **state) {
        assert_refused("{'format': 1, 'version': 'x', 'care_areas': ["
                       "{'id': 'ICU', 'name': 'A', 'allow_basic_infusion': false},"
                       "{'id': 'ICU', 'name': 'B', 'allow_basic_infusion': false}], 'drugs': []}",
                       "care_areas[1].id: 'ICU' is used twice (first at care_areas[0])");
}

static void drug_ids_differing_only_in_case_are_refused(void **state) {
        assert_refused(LIBRARY(HEPARIN ", " DRUG("Heparin", "mL/h", "", "")),
                       "drugs[1].id: 'Heparin' is used twice (first at drugs[0])");
}

static void ids_must_be_short_and_plain(void **state) {
        assert_refused(LIBRARY(DRUG("hep arin", "mL/h", "", "") ", " DRUG("", "mL/h", "", "") ", "
                               DRUG("a123456789b123456789c123456789d123456789e123456789f123456789g1234", "mL/h", "", "")),
                       "drugs[0].id: 'hep arin' may contain only A-Z, a-z, 0-9, _ and -",
                       "drugs[1].id: must not be empty",
                       "drugs[2].id: is 65 characters long; at most 64 are allowed");
}

static void names_must_be_printable_and_not_empty(void **state) {
        assert_refused("{'format': 1, 'version': '', 'care_areas': ["
                       "{'id': 'ICU', 'name': 'bell\\u0007', 'allow_basic_infusion': false}], 'drugs': []}",
                       "version: must not be empty",
                       "care_areas[0].name: must be valid UTF-8 without control characters");
}

static void unknown_care_area_reference_is_refused(void **state) {
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'units', 'volume_ml': 500}",
                                    "'PICU': {}")),
                       "drugs[0].limits.PICU: 'PICU' is not in care_areas");
}

static void limits_out_of_order_are_refused_naming_both(void **state) {
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'units', 'volume_ml': 500}",
                                    "'ICU': {'dose': {'soft_max': 20, 'hard_max': 10}}")),
                       "drugs[0].limits.ICU.dose.hard_max: 10 is below soft_max 20");
        /* Each misplaced value is compared with the nearest one present. */
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'units', 'volume_ml': 500}",
                                    "'ICU': {'bolus': {'unit': 'units', 'hard_min': 5, 'soft_max': 4.5}}")),
                       "drugs[0].limits.ICU.bolus.soft_max: 4.5 is below hard_min 5");
}

static void equal_soft_and_hard_limits_are_accepted(void **state) {
        drug_library_free(assert_imports(LIBRARY(DRUG("kcl", "mEq/h", "{'amount': 10, 'amount_unit': 'mEq', 'volume_ml': 100}",
                                                      "'ICU': {'dose': {'hard_min': 1, 'soft_min': 1, 'soft_max': 10, 'hard_max': 10}}"))));
}

static void limits_must_be_above_zero(void **state) {
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'units', 'volume_ml': 500}",
                                    "'ICU': {'dose': {'hard_min': 0, 'hard_max': -1}}")),
                       "drugs[0].limits.ICU.dose.hard_min: must be > 0 (leave it out for no lower limit)",
                       "drugs[0].limits.ICU.dose.hard_max: must be > 0");
}

static void concentration_amount_and_volume_must_be_above_zero(void **state) {
        assert_refused(LIBRARY(HEPARIN ", " DRUG("b", "mL/h", "", "") ", " DRUG("c", "mL/h", "", "") ", "
                               DRUG("d", "mg/h", "{'amount': 0, 'amount_unit': 'mg', 'volume_ml': -5}", "")),
                       "drugs[3].concentrations[0].amount: must be > 0",
                       "drugs[3].concentrations[0].volume_ml: must be > 0");
}

static void concentration_unit_must_be_a_compatible_amount(void **state) {
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'mg', 'volume_ml': 500}, "
                                    "{'amount': 5, 'amount_unit': 'mL', 'volume_ml': 500}, "
                                    "{'amount': 5, 'amount_unit': 'grams', 'volume_ml': 500}", "")),
                       "drugs[0].concentrations[2].amount_unit: 'grams' is not an amount "
                       "(allowed: g, mg, mcg, ng, units, milliunits, mEq, mmol)",
                       "drugs[0].concentrations[0].amount_unit: mg is not compatible with the dose unit units/h",
                       "drugs[0].concentrations[1].amount_unit: must be an amount of drug, not mL");
}

static void same_concentration_twice_is_refused(void **state) {
        assert_refused(LIBRARY(DRUG("d", "mg/h", "{'amount': 1, 'amount_unit': 'mg', 'volume_ml': 1}, "
                                    "{'amount': 1, 'amount_unit': 'mg', 'volume_ml': 1}", "")),
                       "drugs[0].concentrations[1]: is the same as concentrations[0]");
}

static void dose_unit_must_be_a_known_rate(void **state) {
        assert_refused(LIBRARY(DRUG("a", "mL/h", "", "") ", " DRUG("b", "mL/h", "", "") ", "
                               DRUG("c", "mcg/min/kg", "{'amount': 1, 'amount_unit': 'units', 'volume_ml': 1}", "") ", "
                               DRUG("d", "mg", "{'amount': 1, 'amount_unit': 'mg', 'volume_ml': 1}", "")),
                       "drugs[2].dose_unit: 'mcg/min/kg' is not a dose unit (allowed: mL/h, mg/h, mcg/kg/min, ...: "
                       "an amount (mL, g, mg, mcg, ng, units, milliunits, mEq, mmol), "
                       "then /kg or /m2 if weight- or BSA-based, then /min or /h)",
                       "drugs[3].dose_unit: 'mg' is an amount, not a dose rate (add /min or /h)");
}

static void drug_dosed_by_amount_needs_a_concentration_but_a_fluid_does_not(void **state) {
        assert_refused(LIBRARY(DRUG("d", "mg/h", "", "")),
                       "drugs[0].concentrations: a dose in mg/h needs at least one concentration");
        drug_library_free(assert_imports(LIBRARY(DRUG("saline", "mL/kg/h", "", "'ICU': {'dose': {'hard_max': 20}}"))));
}

static void bolus_and_loading_units_must_be_compatible_amounts(void **state) {
        assert_refused(LIBRARY(DRUG("heparin", "units/h", "{'amount': 25000, 'amount_unit': 'units', 'volume_ml': 500}",
                                    "'ICU': {'bolus': {'unit': 'units/h'}, 'loading': {'unit': 'mg/kg', 'hard_max': 1}}, "
                                    "'Med-Surg': {'bolus': {'unit': 'unit', 'hard_max': 1}, 'loading': {'hard_max': 1}}")),
                       "drugs[0].limits.Med-Surg.bolus.unit: 'unit' is not an amount unit (allowed: mg, mcg/kg, units, ...: "
                       "an amount (mL, g, mg, mcg, ng, units, milliunits, mEq, mmol), then /kg or /m2 if weight- or BSA-based)",
                       "drugs[0].limits.Med-Surg.loading.unit: is required",
                       "drugs[0].limits.ICU.bolus.unit: 'units/h' is a rate; a bolus is an amount such as mg or mcg/kg",
                       "drugs[0].limits.ICU.loading.unit: mg/kg is not compatible with concentrations[0] in units");
        assert_refused(LIBRARY(DRUG("saline", "mL/h", "", "'ICU': {'bolus': {'unit': 'mg'}}")),
                       "drugs[0].limits.ICU.bolus.unit: a bolus in mg needs a concentration");
}

/* PCA limits of a drug in a care area. */

/* A drug at 1 mg/mL whose only entry, in the ICU, is pca. */
#define PCA_DRUG_AS(id, pca)                                                                    \
        DRUG(id, "mg/h", "{'amount': 1, 'amount_unit': 'mg', 'volume_ml': 1}", "'ICU': {'pca': {" pca "}}")
#define PCA_DRUG(pca) PCA_DRUG_AS("m", pca)
#define PCA_MINIMAL "'unit': 'mg', 'demand': {'hard_max': 2}"

static void pca_limits_import_with_every_key(void **state) {
        struct drug_library *lib = assert_imports(LIBRARY(DRUG(
                "m", "mg/h", "{'amount': 1, 'amount_unit': 'mg', 'volume_ml': 1}",
                "'ICU': {'pca': {'unit': 'mg', 'demand': {'soft_max': 1.5, 'hard_max': 2}, "
                "'lockout_min': {'hard_min': 5, 'soft_min': 8}, 'doses_per_hour': {'hard_max': 6}, "
                "'limit': {'window_h': 4, 'soft_max': 20, 'hard_max': 30}, 'basal': {'hard_max': 1}, "
                "'clinician_bolus_counts': false, 'limit_action': 'stop'}}, 'Med-Surg': {}")));
        const struct pca_limits *pca = &drug_limits_for(&lib->drugs[0], "ICU")->pca;
        char unit[DOSE_UNIT_STRING_MAX];

        assert_true(pca->allowed);
        assert_string_equal(dose_unit_to_string(&pca->unit, unit, sizeof unit), "mg");
        assert_limits_equal(&pca->demand, &(struct dose_limits) { NAN, NAN, 1.5, 2 });
        assert_limits_equal(&pca->lockout_min, &(struct dose_limits) { 5, 8, NAN, NAN });
        assert_limits_equal(&pca->doses_per_hour, &(struct dose_limits) { NAN, NAN, NAN, 6 });
        assert_limits_equal(&pca->limit, &(struct dose_limits) { NAN, NAN, 20, 30 });
        assert_true(pca->window_h == 4);
        assert_true(pca->basal_allowed);
        assert_limits_equal(&pca->basal, &(struct dose_limits) { NAN, NAN, NAN, 1 });
        assert_false(pca->clinician_bolus_counts);
        assert_int_equal(pca->limit_action, PCA_LIMIT_STOP);

        /* No "pca": no PCA of this drug there. */
        assert_false(drug_limits_for(&lib->drugs[0], "Med-Surg")->pca.allowed);
        drug_library_free(lib);
}

static void pca_optional_keys_take_their_defaults(void **state) {
        struct drug_library *lib = assert_imports(LIBRARY(PCA_DRUG(PCA_MINIMAL)));
        const struct pca_limits *pca = &lib->drugs[0].limits[0].pca;

        assert_true(pca->allowed);
        assert_limits_equal(&pca->lockout_min, &DOSE_LIMITS_NONE);
        assert_limits_equal(&pca->doses_per_hour, &DOSE_LIMITS_NONE);
        assert_limits_equal(&pca->limit, &DOSE_LIMITS_NONE);
        assert_true(isnan(pca->window_h));
        assert_false(pca->basal_allowed);       /* no basal rate without "basal" */
        assert_true(pca->clinician_bolus_counts);
        assert_int_equal(pca->limit_action, PCA_LIMIT_KVO);
        drug_library_free(lib);

        /* "basal": {} allows a basal rate of any size. */
        lib = assert_imports(LIBRARY(PCA_DRUG(PCA_MINIMAL ", 'basal': {}")));
        assert_true(lib->drugs[0].limits[0].pca.basal_allowed);
        assert_limits_equal(&lib->drugs[0].limits[0].pca.basal, &DOSE_LIMITS_NONE);
        drug_library_free(lib);
}

static void pca_limits_are_written_in_a_fixed_order_and_read_back_the_same(void **state) {
        /* Keys in an order of their own, numbers in another spelling. */
        struct drug_library *lib = assert_imports(LIBRARY(PCA_DRUG(
                "'limit_action': 'kvo', 'basal': {'hard_max': 1.0}, 'limit': {'hard_max': 30, 'window_h': 4.0}, "
                "'clinician_bolus_counts': true, 'doses_per_hour': {'hard_max': 6}, "
                "'lockout_min': {'soft_min': 8, 'hard_min': 5}, 'demand': {'hard_max': 2, 'soft_max': 1.5}, "
                "'unit': 'mg'")));
        struct drug_library *again = NULL;
        char *first = export(lib);

        assert_non_null(strstr(first, "          \"dose\": {},\n"
                                      "          \"pca\": {\n"
                                      "            \"unit\": \"mg\",\n"
                                      "            \"demand\": { \"soft_max\": 1.5, \"hard_max\": 2 },\n"
                                      "            \"lockout_min\": { \"hard_min\": 5, \"soft_min\": 8 },\n"
                                      "            \"doses_per_hour\": { \"hard_max\": 6 },\n"
                                      "            \"limit\": { \"window_h\": 4, \"hard_max\": 30 },\n"
                                      "            \"basal\": { \"hard_max\": 1 },\n"
                                      "            \"clinician_bolus_counts\": true,\n"
                                      "            \"limit_action\": \"kvo\"\n"
                                      "          }\n"
                                      "        }\n"));
        assert_int_equal(library_from_json(first, strlen(first), &again, NULL), 0);
        assert_libraries_equal(lib, again);
        char *second = export(again);
        assert_string_equal(first, second);
        free(first);
        free(second);
        drug_library_free(lib);
        drug_library_free(again);

        /* Without "pca" nothing of it is written. */
        lib = assert_imports(LIBRARY(HEPARIN));
        first = export(lib);
        assert_null(strstr(first, "pca"));
        free(first);
        drug_library_free(lib);
}

static void pca_needs_a_unit_and_a_demand_hard_max(void **state) {
        assert_refused(LIBRARY(PCA_DRUG("")),
                       "drugs[0].limits.ICU.pca.unit: is required",
                       "drugs[0].limits.ICU.pca.demand: is required");
        assert_refused(LIBRARY(PCA_DRUG("'unit': 'mg', 'demand': {'soft_max': 1}")),
                       "drugs[0].limits.ICU.pca.demand.hard_max: is required");
        assert_refused(LIBRARY(DRUG("m", "mg/h", "{'amount': 1, 'amount_unit': 'mg', 'volume_ml': 1}",
                                    "'ICU': {'pca': true}")),
                       "drugs[0].limits.ICU.pca: must be an object, not a boolean");
}

static void pca_unit_follows_the_rules_of_a_bolus_unit(void **state) {
        assert_refused(LIBRARY(PCA_DRUG_AS("a", "'unit': 'mg/h', 'demand': {'hard_max': 2}") ", "
                               PCA_DRUG_AS("b", "'unit': 'units', 'demand': {'hard_max': 2}") ", "
                               PCA_DRUG_AS("c", "'unit': 'mgs', 'demand': {'hard_max': 2}") ", "
                               DRUG("saline", "mL/h", "", "'ICU': {'pca': {" PCA_MINIMAL "}}")),
                       "drugs[2].limits.ICU.pca.unit: 'mgs' is not an amount unit (allowed: mg, mcg/kg, units, ...: "
                       "an amount (mL, g, mg, mcg, ng, units, milliunits, mEq, mmol), "
                       "then /kg or /m2 if weight- or BSA-based)",
                       "drugs[0].limits.ICU.pca.unit: 'mg/h' is a rate; a PCA dose is an amount such as mg or mcg/kg",
                       "drugs[1].limits.ICU.pca.unit: units is not compatible with concentrations[0] in mg",
                       "drugs[3].limits.ICU.pca.unit: a PCA dose in mg needs a concentration");
        /* mL needs no concentration; mcg/kg comes from one in mg. */
        drug_library_free(assert_imports(LIBRARY(
                DRUG("saline", "mL/h", "", "'ICU': {'pca': {'unit': 'mL', 'demand': {'hard_max': 2}}}") ", "
                PCA_DRUG("'unit': 'mcg/kg', 'demand': {'hard_max': 20}"))));
}

static void pca_limit_sets_must_be_ordered_and_above_zero(void **state) {
        assert_refused(LIBRARY(PCA_DRUG("'unit': 'mg', 'demand': {'soft_max': 3, 'hard_max': 2}, "
                                        "'lockout_min': {'soft_min': 5, 'hard_min': 6}, "
                                        "'limit': {'window_h': 4, 'hard_max': -1}, 'basal': {'hard_min': 0}")),
                       "drugs[0].limits.ICU.pca.demand.hard_max: 2 is below soft_max 3",
                       "drugs[0].limits.ICU.pca.lockout_min.soft_min: 5 is below hard_min 6",
                       "drugs[0].limits.ICU.pca.limit.hard_max: must be > 0",
                       "drugs[0].limits.ICU.pca.basal.hard_min: must be > 0 (leave it out for no lower limit)");
}

static void pca_window_is_required_with_a_cumulative_limit_and_refused_without_one(void **state) {
        assert_refused(LIBRARY(PCA_DRUG(PCA_MINIMAL ", 'limit': {'hard_max': 30}")),
                       "drugs[0].limits.ICU.pca.limit.window_h: is required");
        assert_refused(LIBRARY(PCA_DRUG(PCA_MINIMAL ", 'limit': {}")),
                       "drugs[0].limits.ICU.pca.limit.window_h: is required");
        assert_refused(LIBRARY(PCA_DRUG(PCA_MINIMAL ", 'limit': {'window_h': 4}")),
                       "drugs[0].limits.ICU.pca.limit.window_h: is given without a limit: "
                       "add hard_max or soft_max, or leave limit out");
        assert_refused(LIBRARY(PCA_DRUG(PCA_MINIMAL ", 'limit': {'window_h': 12.5, 'soft_max': 30}") ", "
                               PCA_DRUG_AS("n", PCA_MINIMAL ", 'limit': {'window_h': 0.5, 'hard_max': 30}")),
                       "drugs[0].limits.ICU.pca.limit.window_h: 12.5 is out of range (1..12 h)",
                       "drugs[1].limits.ICU.pca.limit.window_h: 0.5 is out of range (1..12 h)");
        drug_library_free(assert_imports(LIBRARY(
                PCA_DRUG(PCA_MINIMAL ", 'limit': {'window_h': 1, 'hard_max': 10}") ", "
                PCA_DRUG_AS("n", PCA_MINIMAL ", 'limit': {'window_h': 12, 'hard_max': 60}"))));
}

static void pca_lockout_and_doses_per_hour_bounds_have_ranges(void **state) {
        assert_refused(LIBRARY(PCA_DRUG(PCA_MINIMAL ", 'lockout_min': {'hard_min': 0.5, 'hard_max': 241}, "
                                        "'doses_per_hour': {'soft_max': 61, 'hard_max': 0}")),
                       "drugs[0].limits.ICU.pca.lockout_min.hard_min: 0.5 is out of range (1..240 min)",
                       "drugs[0].limits.ICU.pca.lockout_min.hard_max: 241 is out of range (1..240 min)",
                       "drugs[0].limits.ICU.pca.doses_per_hour.soft_max: 61 is out of range (1..60 doses per hour)",
                       "drugs[0].limits.ICU.pca.doses_per_hour.hard_max: must be > 0");
        drug_library_free(assert_imports(LIBRARY(PCA_DRUG(PCA_MINIMAL ", 'lockout_min': {'hard_min': 1, 'hard_max': 240}, "
                                                          "'doses_per_hour': {'hard_min': 1, 'hard_max': 60}"))));
}

static void pca_unknown_keys_and_wrong_values_are_named(void **state) {
        assert_refused(LIBRARY(PCA_DRUG(PCA_MINIMAL ", 'lockout': {'hard_min': 5}, "
                                        "'limit': {'window': 4, 'window_h': 4, 'hard_max': 30}, "
                                        "'basal': {'unit': 'mg/h'}, 'clinician_bolus_counts': 'yes', "
                                        "'limit_action': 'pause'")),
                       "drugs[0].limits.ICU.pca.lockout: unknown key (expected one of: unit, demand, lockout_min, "
                       "doses_per_hour, limit, basal, clinician_bolus_counts, limit_action)",
                       "drugs[0].limits.ICU.pca.limit.window: unknown key (expected one of: window_h, hard_min, "
                       "soft_min, soft_max, hard_max)",
                       "drugs[0].limits.ICU.pca.basal.unit: unknown key (expected one of: hard_min, soft_min, "
                       "soft_max, hard_max)",
                       "drugs[0].limits.ICU.pca.clinician_bolus_counts: must be true or false, not a string",
                       "drugs[0].limits.ICU.pca.limit_action: 'pause' is not a limit action (allowed: kvo, stop)");
        assert_refused(LIBRARY(PCA_DRUG(PCA_MINIMAL ", 'limit': {'window_h': '4h', 'hard_max': 30}")),
                       "drugs[0].limits.ICU.pca.limit.window_h: must be a number, not a string");
        assert_refused(LIBRARY(DRUG("m", "mg/h", "{'amount': 1, 'amount_unit': 'mg', 'volume_ml': 1}",
                                    "'ICU': {'pcaa': {}}")),
                       "drugs[0].limits.ICU.pcaa: unknown key (expected one of: dose, bolus, loading, pca)");
}

static void pca_limits_built_in_code_are_checked_by_the_same_paths(void **state) {
        struct drug_library *lib = awkward_library();
        struct pca_limits *pca = &lib->drugs[0].limits[1].pca;
        struct library_errors errs;

        /* Limits of a drug without PCA in an area are not looked at. */
        lib->drugs[0].limits[0].pca.allowed = false;
        lib->drugs[0].limits[0].pca.demand = (struct dose_limits) { -1, -1, -1, -1 };
        lib->drugs[0].limits[0].pca.limit_action = 99;
        library_errors_reset(&errs);
        assert_int_equal(drug_library_validate(lib, &errs), 0);

        pca->unit.time = DOSE_TIME_H;
        pca->demand.hard_max = NAN;
        pca->window_h = NAN;
        pca->limit_action = _PCA_LIMIT_ACTION_MAX;
        pca->basal = (struct dose_limits) { NAN, NAN, 2, 1 };
        assert_int_equal(drug_library_validate(lib, &errs), -EINVAL);
        assert_int_equal(errs.n, 5);
        assert_string_equal(errs.text[0], "drugs[0].limits.ICU.pca.unit: \"mg/h\" is a rate; "
                                          "a PCA dose is an amount such as mg or mcg/kg");
        assert_string_equal(errs.text[1], "drugs[0].limits.ICU.pca.demand.hard_max: is required");
        assert_string_equal(errs.text[2], "drugs[0].limits.ICU.pca.limit.window_h: is required");
        assert_string_equal(errs.text[3], "drugs[0].limits.ICU.pca.basal.hard_max: 1 is below soft_max 2");
        assert_string_equal(errs.text[4], "drugs[0].limits.ICU.pca.limit_action: is not a valid action");

        /* A basal not allowed is not looked at either. */
        library_errors_reset(&errs);
        *pca = awkward_library_pca_icu();
        pca->basal_allowed = false;
        pca->basal = (struct dose_limits) { -1, -1, -1, -1 };
        assert_int_equal(drug_library_validate(lib, &errs), 0);
        drug_library_free(lib);
}

static void pca_limit_actions_have_one_name_each(void **state) {
        enum pca_limit_action a = _PCA_LIMIT_ACTION_MAX;

        assert_string_equal(pca_limit_action_to_string(PCA_LIMIT_KVO), "kvo");
        assert_string_equal(pca_limit_action_to_string(PCA_LIMIT_STOP), "stop");
        assert_null(pca_limit_action_to_string(_PCA_LIMIT_ACTION_MAX));
        assert_int_equal(pca_limit_action_from_string("stop", &a), 0);
        assert_int_equal(a, PCA_LIMIT_STOP);
        assert_int_equal(pca_limit_action_from_string("kvo", &a), 0);
        assert_int_equal(a, PCA_LIMIT_KVO);
        assert_int_equal(pca_limit_action_from_string("KVO", &a), -EINVAL);
        assert_int_equal(pca_limit_action_from_string("", &a), -EINVAL);
        assert_int_equal(pca_limit_action_from_string(NULL, &a), -EINVAL);
        assert_int_equal(a, PCA_LIMIT_KVO);     /* untouched on failure */
}

/* Occlusion settings of a care area. */

static void occlusion_settings_import_and_survive_a_round_trip_exactly(void **state) {
        struct drug_library *lib = assert_imports(AREAS_LIBRARY(
                AREA("A", ", 'occlusion': {'auto_restarts': 9, 'default_mmhg': 1000, 'levels_mmhg': [50, 1000]}") ", "
                AREA("B", OCCLUSION("100, 200, 300, 400, 517", "517", "0")) ", "
                AREA("C", "")));
        struct drug_library *again = NULL;
        const struct occlusion_settings *a = &lib->care_areas[0].occlusion, *b = &lib->care_areas[1].occlusion;

        assert_true(lib->care_areas[0].has_occlusion);
        assert_int_equal(a->n_levels, 2);
        assert_int_equal(a->levels_mmhg[0], 50);
        assert_int_equal(a->levels_mmhg[1], 1000);
        assert_int_equal(a->default_mmhg, 1000);
        assert_int_equal(a->auto_restarts, 9);
        assert_true(lib->care_areas[1].has_occlusion);
        assert_int_equal(b->n_levels, OCCLUSION_LEVELS_MAX);
        assert_int_equal(b->levels_mmhg[4], 517);
        assert_int_equal(b->auto_restarts, 0);
        assert_false(lib->care_areas[2].has_occlusion);

        /* Keys in the documented order, on one line, whatever the file's order. */
        char *first = export(lib);
        assert_non_null(strstr(first, "      \"allow_basic_infusion\": false,\n"
                                      "      \"occlusion\": { \"levels_mmhg\": [50, 1000], \"default_mmhg\": 1000, "
                                      "\"auto_restarts\": 9 }\n    },"));
        assert_non_null(strstr(first, "\"occlusion\": { \"levels_mmhg\": [100, 200, 300, 400, 517], "
                                      "\"default_mmhg\": 517, \"auto_restarts\": 0 }"));
        assert_int_equal(library_from_json(first, strlen(first), &again, NULL), 0);
        assert_libraries_equal(lib, again);
        char *second = export(again);
        assert_string_equal(first, second);
        free(first);
        free(second);
        drug_library_free(lib);
        drug_library_free(again);
}

static void care_area_without_occlusion_settings_is_written_without_them(void **state) {
        struct drug_library *lib = assert_imports(AREAS_LIBRARY(AREA("A", "")));
        char *text = export(lib);

        assert_false(lib->care_areas[0].has_occlusion);
        assert_null(strstr(text, "occlusion"));
        assert_non_null(strstr(text, "      \"allow_basic_infusion\": false\n    }\n  ]"));
        free(text);
        drug_library_free(lib);
}

static void occlusion_levels_not_strictly_ascending_are_refused(void **state) {
        assert_refused(AREAS_LIBRARY(AREA("A", OCCLUSION("300, 150, 500", "300", "0")) ", "
                                     AREA("B", OCCLUSION("150, 300, 300", "300", "0"))),
                       "care_areas[0].occlusion.levels_mmhg[1]: 150 is not above levels_mmhg[0] 300; "
                       "levels must be strictly ascending",
                       "care_areas[1].occlusion.levels_mmhg[2]: 300 is not above levels_mmhg[1] 300; "
                       "levels must be strictly ascending");
}

static void occlusion_levels_must_be_within_50_to_1000_mmhg(void **state) {
        /* 1034 mmHg (20 psi) is the most any pump may allow; we stay below. */
        assert_refused(AREAS_LIBRARY(AREA("A", OCCLUSION("49, 300, 1001", "300", "0")) ", "
                                     AREA("B", OCCLUSION("1034", "1034", "0")) ", "
                                     AREA("C", OCCLUSION("0, -300", "300", "0")) ", "
                                     AREA("D", OCCLUSION("99999999999", "99999999999", "0"))),
                       "care_areas[3].occlusion.levels_mmhg[0]: 99999999999 is out of range (50..1000 mmHg)",
                       "care_areas[3].occlusion.default_mmhg: 99999999999 is out of range (50..1000 mmHg)",
                       "care_areas[0].occlusion.levels_mmhg[0]: 49 is out of range (50..1000 mmHg)",
                       "care_areas[0].occlusion.levels_mmhg[2]: 1001 is out of range (50..1000 mmHg)",
                       "care_areas[1].occlusion.levels_mmhg[0]: 1034 is out of range (50..1000 mmHg)",
                       "care_areas[2].occlusion.levels_mmhg[0]: 0 is out of range (50..1000 mmHg)",
                       "care_areas[2].occlusion.levels_mmhg[1]: -300 is out of range (50..1000 mmHg)");
        drug_library_free(assert_imports(AREAS_LIBRARY(AREA("A", OCCLUSION("50, 1000", "50", "0")))));
}

static void occlusion_needs_one_to_five_levels(void **state) {
        assert_refused(AREAS_LIBRARY(AREA("A", OCCLUSION("", "300", "0")) ", "
                                     AREA("B", OCCLUSION("100, 200, 300, 400, 500, 600", "300", "0"))),
                       "care_areas[1].occlusion.levels_mmhg: 6 levels; at most 5 are allowed",
                       "care_areas[0].occlusion.levels_mmhg: at least one level is required");
        drug_library_free(assert_imports(AREAS_LIBRARY(AREA("A", OCCLUSION("300", "300", "0")))));
}

static void occlusion_default_must_be_one_of_the_levels(void **state) {
        assert_refused(AREAS_LIBRARY(AREA("A", OCCLUSION("150, 300, 500", "250", "0")) ", "
                                     AREA("B", OCCLUSION("150", "1500", "0"))),
                       "care_areas[0].occlusion.default_mmhg: 250 is not one of levels_mmhg (150, 300, 500)",
                       "care_areas[1].occlusion.default_mmhg: 1500 is not one of levels_mmhg (150)");
        /* Levels already refused: the default is not judged against them too. */
        assert_refused(AREAS_LIBRARY(AREA("A", OCCLUSION("1500", "300", "0"))),
                       "care_areas[0].occlusion.levels_mmhg[0]: 1500 is out of range (50..1000 mmHg)");
}

static void occlusion_auto_restarts_must_be_0_to_9(void **state) {
        assert_refused(AREAS_LIBRARY(AREA("A", OCCLUSION("300", "300", "10")) ", "
                                     AREA("B", OCCLUSION("300", "300", "-1"))),
                       "care_areas[0].occlusion.auto_restarts: 10 is out of range (0..9 per rolling 10 min; 0: never)",
                       "care_areas[1].occlusion.auto_restarts: -1 is out of range (0..9 per rolling 10 min; 0: never)");
        drug_library_free(assert_imports(AREAS_LIBRARY(AREA("A", OCCLUSION("300", "300", "0")) ", "
                                                       AREA("B", OCCLUSION("300", "300", "9")))));
}

static void unknown_key_inside_occlusion_is_refused_by_name(void **state) {
        assert_refused(AREAS_LIBRARY(AREA("A", ", 'occlusion': {'levels_mmhg': [300], 'default': 300, "
                                               "'auto_restarts': 0, 'psi': true}")),
                       "care_areas[0].occlusion.default: unknown key "
                       "(expected one of: levels_mmhg, default_mmhg, auto_restarts)",
                       "care_areas[0].occlusion.psi: unknown key "
                       "(expected one of: levels_mmhg, default_mmhg, auto_restarts)",
                       "care_areas[0].occlusion.default_mmhg: is required");
}

static void occlusion_values_of_the_wrong_type_are_named(void **state) {
        assert_refused(AREAS_LIBRARY(AREA("A", ", 'occlusion': [300]") ", "
                                     AREA("B", ", 'occlusion': null") ", "
                                     AREA("C", ", 'occlusion': {'levels_mmhg': 300, 'default_mmhg': '300', "
                                               "'auto_restarts': 1.5}") ", "
                                     AREA("D", OCCLUSION("150, 300.5, '500', null, true", "150", "false"))),
                       "care_areas[0].occlusion: must be an object, not an array",
                       "care_areas[1].occlusion: must be an object, not null",
                       "care_areas[2].occlusion.levels_mmhg: must be an array, not a number",
                       "care_areas[2].occlusion.default_mmhg: must be a whole number, not a string",
                       "care_areas[2].occlusion.auto_restarts: must be a whole number",
                       "care_areas[3].occlusion.levels_mmhg[1]: must be a whole number",
                       "care_areas[3].occlusion.levels_mmhg[2]: must be a whole number, not a string",
                       "care_areas[3].occlusion.levels_mmhg[3]: must be a whole number, not null",
                       "care_areas[3].occlusion.levels_mmhg[4]: must be a whole number, not a boolean",
                       "care_areas[3].occlusion.auto_restarts: must be a whole number, not a boolean");
}

static void occlusion_keys_are_all_required(void **state) {
        assert_refused(AREAS_LIBRARY(AREA("A", ", 'occlusion': {}")),
                       "care_areas[0].occlusion.levels_mmhg: is required",
                       "care_areas[0].occlusion.default_mmhg: is required",
                       "care_areas[0].occlusion.auto_restarts: is required");
}

/* Libraries stored before "occlusion" existed have "occlusion_limit_mmhg"
 * in every care area; they must still load. */
static void older_occlusion_limit_mmhg_reads_as_a_single_level(void **state) {
        struct drug_library *lib = assert_imports(AREAS_LIBRARY(AREA("A", ", 'occlusion_limit_mmhg': 200")));
        const struct care_area *a = &lib->care_areas[0];

        assert_true(a->has_occlusion);
        assert_int_equal(a->occlusion.n_levels, 1);
        assert_int_equal(a->occlusion.levels_mmhg[0], 200);
        assert_int_equal(a->occlusion.default_mmhg, 200);
        assert_int_equal(a->occlusion.auto_restarts, 0);
        char *text = export(lib);
        assert_null(strstr(text, "occlusion_limit_mmhg"));
        assert_non_null(strstr(text, "\"occlusion\": { \"levels_mmhg\": [200], \"default_mmhg\": 200, \"auto_restarts\": 0 }"));
        free(text);
        drug_library_free(lib);

        assert_refused(AREAS_LIBRARY(AREA("A", ", 'occlusion_limit_mmhg': 49") ", "
                                     AREA("B", ", 'occlusion_limit_mmhg': 1034") ", "
                                     AREA("C", ", 'occlusion_limit_mmhg': 300.5") ", "
                                     AREA("D", ", 'occlusion_limit_mmhg': 300" OCCLUSION("300", "300", "0"))),
                       "care_areas[0].occlusion_limit_mmhg: 49 is out of range (50..1000 mmHg)",
                       "care_areas[1].occlusion_limit_mmhg: 1034 is out of range (50..1000 mmHg)",
                       "care_areas[2].occlusion_limit_mmhg: must be a whole number",
                       "care_areas[3].occlusion_limit_mmhg: is the older form of occlusion; give occlusion only");
}

static void occlusion_settings_built_in_code_are_checked_by_the_same_paths(void **state) {
        struct drug_library *lib = awkward_library();
        struct library_errors errs;

        /* Settings of an area without has_occlusion are not looked at. */
        lib->care_areas[1].occlusion = (struct occlusion_settings) { .n_levels = 99, .auto_restarts = -5 };
        library_errors_reset(&errs);
        assert_int_equal(drug_library_validate(lib, &errs), 0);

        lib->care_areas[0].occlusion.n_levels = OCCLUSION_LEVELS_MAX + 1;
        lib->care_areas[0].occlusion.auto_restarts = 10;
        lib->care_areas[1].has_occlusion = true;
        lib->care_areas[1].occlusion = (struct occlusion_settings) {
                .levels_mmhg = { 100, 150 }, .n_levels = 2, .default_mmhg = 120,
        };
        assert_int_equal(drug_library_validate(lib, &errs), -EINVAL);
        assert_int_equal(errs.n, 3);
        assert_string_equal(errs.text[0], "care_areas[0].occlusion.levels_mmhg: 6 levels; at most 5 are allowed");
        assert_string_equal(errs.text[1], "care_areas[0].occlusion.auto_restarts: "
                                          "10 is out of range (0..9 per rolling 10 min; 0: never)");
        assert_string_equal(errs.text[2], "care_areas[1].occlusion.default_mmhg: 120 is not one of levels_mmhg (100, 150)");
        drug_library_free(lib);
}

static void occlusion_level_without_settings_is_enoent(void **state) {
        const struct care_area a = { .id = (char *) "A", .name = (char *) "A" };
        double mmhg = -1;

        assert_int_equal(care_area_occlusion_level(&a, NAN, &mmhg), -ENOENT);
        assert_int_equal(care_area_occlusion_level(&a, 300, &mmhg), -ENOENT);
        assert_true(mmhg == -1);        /* untouched */
        assert_int_equal(care_area_occlusion_level(NULL, NAN, &mmhg), -EINVAL);
}

static const struct care_area icu_occlusion = {
        .id = (char *) "ICU",
        .name = (char *) "ICU",
        .has_occlusion = true,
        .occlusion = { .levels_mmhg = { 150, 300, 301, 500 }, .n_levels = 4, .default_mmhg = 300, .auto_restarts = 0 },
};

static void occlusion_level_nan_gives_the_area_default(void **state) {
        double mmhg = -1;

        assert_int_equal(care_area_occlusion_level(&icu_occlusion, NAN, &mmhg), 0);
        assert_true(mmhg == 300);
        assert_int_equal(care_area_occlusion_level(&icu_occlusion, NAN, NULL), 0);
}

static void occlusion_level_asked_matches_a_level_within_half_a_mmhg(void **state) {
        const struct {
                double asked, limit;
        } cases[] = {
                { 150, 150 }, { 149.5, 150 }, { 150.5, 150 }, { 500, 500 },
                { 299.8, 300 },                 /* 5.8 psi converted */
                { 300.5, 300 },                 /* between 300 and 301: the lower alarms sooner */
                { 300.6, 301 },
        };

        for (size_t i = 0; i < ELEMENTS(cases); i++) {
                double mmhg = -1;
                assert_int_equal(care_area_occlusion_level(&icu_occlusion, cases[i].asked, &mmhg), 0);
                if (mmhg != cases[i].limit)
                        print_message("asked %g: got %g\n", cases[i].asked, mmhg);
                assert_true(mmhg == cases[i].limit);
        }
}

static void occlusion_level_not_offered_is_refused(void **state) {
        const double refused[] = { 149.4, 150.6, 400, 0, -300, 1000, INFINITY, -INFINITY };
        double mmhg = -1;

        for (size_t i = 0; i < ELEMENTS(refused); i++)
                assert_int_equal(care_area_occlusion_level(&icu_occlusion, refused[i], &mmhg), -EINVAL);
        assert_true(mmhg == -1);        /* untouched */
}

static void at_least_one_care_area_is_required(void **state) {
        assert_refused("{'format': 1, 'version': 'x', 'care_areas': [], 'drugs': []}",
                       "care_areas: at least one care area is required");
}

/* prefix, then n items "before<i>after" separated by commas, then suffix. */
static char *repeat(const char *prefix, const char *before, const char *after, size_t n, const char *suffix) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        fputs(prefix, f);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%s%zu%s", i ? ", " : "", before, i, after);
        fputs(suffix, f);
        assert_int_equal(fclose(f), 0);
        return buf;
}

static void more_than_64_care_areas_are_refused(void **state) {
        char *text = repeat("{'format': 1, 'version': 'x', 'care_areas': [",
                            "{'id': 'A", "', 'name': 'A', 'allow_basic_infusion': true}", 65, "], 'drugs': []}");
        assert_refused(text, "care_areas: 65 care areas; at most 64 are allowed");
        free(text);

        text = repeat("{'format': 1, 'version': 'x', 'care_areas': [",
                      "{'id': 'A", "', 'name': 'A', 'allow_basic_infusion': true}", 64, "], 'drugs': []}");
        drug_library_free(assert_imports(text));
        free(text);
}

static void more_than_5000_drugs_are_refused(void **state) {
        char *text = repeat("{'format': 1, 'version': 'x', " CARE_AREAS ", 'drugs': [",
                            "{'id': 'd", "', 'name': 'D', 'dose_unit': 'mL/h', 'concentrations': [], 'limits': {}}",
                            5001, "]}");
        assert_refused(text, "drugs: 5001 drugs; at most 5000 are allowed");
        free(text);

        text = repeat("{'format': 1, 'version': 'x', " CARE_AREAS ", 'drugs': [",
                      "{'id': 'd", "', 'name': 'D', 'dose_unit': 'mL/h', 'concentrations': [], 'limits': {'ICU': {}}}",
                      5000, "]}");
        struct drug_library *lib = assert_imports(text);
        assert_int_equal(lib->n_drugs, 5000);
        assert_non_null(drug_library_find_drug(lib, "d4999"));
        drug_library_free(lib);
        free(text);
}

static void several_problems_are_all_reported_in_one_pass(void **state) {
        assert_refused("{'format': 1, 'version': 'x', 'care_areas': ["
                       "{'id': 'ICU', 'name': 'I', 'allow_basic_infusion': false},"
                       "{'id': 'ICU', 'name': 'I', 'allow_basic_infusion': false, 'colour': 'red'}], 'drugs': ["
                       DRUG("heparin", "units/h", "{'amount': -1, 'amount_unit': 'units', 'volume_ml': 500}",
                            "'ICU': {'dose': {'soft_max': 20, 'hard_max': 10}}, 'PICU': {}") ", "
                       DRUG("insulin", "units/hr", "{'amount': 100, 'amount_unit': 'units', 'volume_ml': 100}",
                            "'ICU': {'dose': {'hard_mx': 30}}") "]}",
                       "care_areas[1].colour: unknown key (expected one of: id, name, allow_basic_infusion, occlusion)",
                       "drugs[1].dose_unit: 'units/hr' is not a dose unit (allowed: mL/h, mg/h, mcg/kg/min, ...: "
                       "an amount (mL, g, mg, mcg, ng, units, milliunits, mEq, mmol), "
                       "then /kg or /m2 if weight- or BSA-based, then /min or /h)",
                       "drugs[1].limits.ICU.dose.hard_mx: unknown key (expected one of: hard_min, soft_min, soft_max, hard_max)",
                       "care_areas[1].id: 'ICU' is used twice (first at care_areas[0])",
                       "drugs[0].concentrations[0].amount: must be > 0",
                       "drugs[0].limits.ICU.dose.hard_max: 10 is below soft_max 20",
                       "drugs[0].limits.PICU: 'PICU' is not in care_areas");
}

static void problems_past_the_cap_are_counted_as_truncated(void **state) {
        char *text = repeat("{'format': 1, 'version': 'x', " CARE_AREAS ", 'drugs': [",
                            "{'id': 'd", "', 'name': 'D', 'dose_unit': 'mL/h', 'concentrations': [], 'limits': {'X': {}}}",
                            60, "]}");
        char *json = q(text);
        struct library_errors errs;
        struct drug_library *lib = NULL;

        assert_int_equal(library_from_json(json, strlen(json), &lib, &errs), -EINVAL);
        assert_int_equal(errs.n, LIBRARY_ERRORS_MAX);
        assert_true(errs.truncated);
        assert_string_equal(errs.text[49], "drugs[49].limits.X: \"X\" is not in care_areas");
        free(json);
        free(text);
}

static void messages_never_carry_control_characters(void **state) {
        assert_refused("{'format': 1, 'version': 'x', 'a\x1b[2Jb': 1, " CARE_AREAS ", 'drugs': []}",
                       "a?[2Jb: unknown key (expected one of: format, version, care_areas, drugs)");
}

/* The model in code. */

static void validation_reports_a_model_built_in_code_by_the_same_paths(void **state) {
        struct drug_library *lib = awkward_library();
        struct library_errors errs;

        library_errors_reset(&errs);
        assert_int_equal(drug_library_validate(lib, &errs), 0);

        free(lib->care_areas[1].name);
        lib->care_areas[1].name = NULL;
        lib->drugs[0].dose_unit.time = _DOSE_TIME_MAX;
        lib->drugs[0].concentrations[1].volume_ml = NAN;
        lib->drugs[0].limits[1].loading.unit.time = DOSE_TIME_H;
        assert_int_equal(drug_library_validate(lib, &errs), -EINVAL);
        assert_int_equal(errs.n, 4);
        assert_string_equal(errs.text[0], "care_areas[1].name: must not be empty");
        assert_string_equal(errs.text[1], "drugs[0].dose_unit: is not a valid dose unit");
        assert_string_equal(errs.text[2], "drugs[0].concentrations[1].volume_ml: must be > 0");
        assert_string_equal(errs.text[3], "drugs[0].limits.ICU.loading.unit: \"mg/h\" is a rate; "
                                          "a loading dose is an amount such as mg or mcg/kg");
        drug_library_free(lib);
}

static void errors_at_a_path_already_reported_are_dropped(void **state) {
        struct library_errors errs;

        library_errors_reset(&errs);
        library_errors_add(&errs, "drugs[2]", "must be an object");
        library_errors_add(&errs, "drugs[2]", "again");
        library_errors_add(&errs, "drugs[2].id", "inside");
        library_errors_add(&errs, "drugs[20].id", "another drug");
        assert_int_equal(errs.n, 2);
        assert_string_equal(errs.text[1], "drugs[20].id: another drug");
}

static void lookups_find_by_exact_id(void **state) {
        struct drug_library *lib = import_sample();
        const struct drug *heparin = drug_library_find_drug(lib, "heparin");

        assert_non_null(heparin);
        assert_string_equal(heparin->id, "heparin");
        assert_null(drug_library_find_drug(lib, "Heparin"));
        assert_null(drug_library_find_drug(lib, "nonexistent"));
        assert_null(drug_library_find_drug(NULL, "heparin"));
        assert_non_null(drug_library_find_care_area(lib, "ICU"));
        assert_null(drug_library_find_care_area(lib, "icu"));
        assert_non_null(drug_limits_for(heparin, "ICU"));
        assert_null(drug_limits_for(heparin, "Anesthesia"));   /* not available there */
        assert_null(drug_limits_for(heparin, NULL));
        assert_null(drug_library_free(lib));
        assert_null(drug_library_free(NULL));
}

/* limit_check. */

static void limit_check_at_and_around_every_bound(void **state) {
        const struct dose_limits l = { 2, 5, 20, 25 };
        const struct {
                double value;
                enum limit_verdict verdict;
        } cases[] = {
                { 1, LIMIT_HARD_LOW },
                { 1.9999999, LIMIT_HARD_LOW },
                { 2, LIMIT_SOFT_LOW },          /* hard limits are inclusive */
                { 4.9999999, LIMIT_SOFT_LOW },
                { 5, LIMIT_OK },                /* so are soft ones */
                { 12, LIMIT_OK },
                { 20, LIMIT_OK },
                { 20.0000001, LIMIT_SOFT_HIGH },
                { 25, LIMIT_SOFT_HIGH },
                { 25.0000001, LIMIT_HARD_HIGH },
                { 1e300, LIMIT_HARD_HIGH },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                enum limit_verdict v = limit_check(&l, cases[i].value);
                if (v != cases[i].verdict)
                        print_message("%.10g: %s\n", cases[i].value, limit_verdict_to_string(v));
                assert_int_equal(v, cases[i].verdict);
        }
        assert_int_equal(limit_check(&l, nextafter(25, 26)), LIMIT_HARD_HIGH);
        assert_int_equal(limit_check(&l, nextafter(2, 1)), LIMIT_HARD_LOW);
        assert_int_equal(limit_check(&l, nextafter(20, 21)), LIMIT_SOFT_HIGH);
        assert_int_equal(limit_check(&l, nextafter(5, 4)), LIMIT_SOFT_LOW);
}

static void limit_check_with_soft_limits_equal_to_hard_ones_goes_straight_to_hard(void **state) {
        const struct dose_limits l = { 1, 1, 10, 10 };

        assert_int_equal(limit_check(&l, 10), LIMIT_OK);
        assert_int_equal(limit_check(&l, nextafter(10, 11)), LIMIT_HARD_HIGH);
        assert_int_equal(limit_check(&l, 1), LIMIT_OK);
        assert_int_equal(limit_check(&l, nextafter(1, 0)), LIMIT_HARD_LOW);
}

static void limit_check_ignores_absent_limits(void **state) {
        const struct dose_limits none = DOSE_LIMITS_NONE;
        const struct dose_limits hard_max_only = { NAN, NAN, NAN, 30 };

        assert_int_equal(limit_check(&none, 1e-9), LIMIT_OK);
        assert_int_equal(limit_check(&none, 1e9), LIMIT_OK);
        assert_int_equal(limit_check(&hard_max_only, 30), LIMIT_OK);
        assert_int_equal(limit_check(&hard_max_only, 31), LIMIT_HARD_HIGH);
}

static void limit_check_refuses_nan_infinity_zero_and_negatives(void **state) {
        const struct dose_limits none = DOSE_LIMITS_NONE;
        const struct dose_limits l = { 2, 5, 20, 25 };

        assert_int_equal(limit_check(&none, NAN), LIMIT_INVALID);
        assert_int_equal(limit_check(&l, NAN), LIMIT_INVALID);
        assert_int_equal(limit_check(&none, INFINITY), LIMIT_INVALID);
        assert_int_equal(limit_check(&none, 0), LIMIT_INVALID);
        assert_int_equal(limit_check(&none, -1), LIMIT_INVALID);
        assert_string_equal(limit_verdict_to_string(LIMIT_HARD_HIGH), "above-hard-max");
        assert_string_equal(limit_verdict_to_string(_LIMIT_VERDICT_MAX), "invalid");
}

/* Numbers. */

static void numbers_are_written_in_their_shortest_exact_form(void **state) {
        const struct {
                double d;
                const char *text;
        } cases[] = {
                { 0.1, "0.1" }, { 25000, "25000" }, { 2.5, "2.5" }, { 1e-7, "1e-7" }, { 1.5e-7, "1.5e-7" },
                { 1e-6, "0.000001" }, { 0.30000000000000004, "0.30000000000000004" }, { 1e20, "100000000000000000000" },
                { 1e21, "1e21" }, { 123456.789, "123456.789" }, { 1.0 / 3, "0.3333333333333333" },
                { 5e-324, "5e-324" }, { 1.7976931348623157e308, "1.7976931348623157e308" }, { -0.5, "-0.5" },
        };
        char buf[LIBRARY_NUMBER_MAX];

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                assert_string_equal(library_number_to_string(cases[i].d, buf), cases[i].text);
                assert_true(strtod(buf, NULL) == cases[i].d);
        }

        /* Any double reads back exactly. */
        srand(1);
        for (int i = 0; i < 20000; i++) {
                uint64_t bits = ((uint64_t) rand() << 42) ^ ((uint64_t) rand() << 21) ^ (uint64_t) rand();
                double d;
                memcpy(&d, &bits, sizeof d);
                if (!isfinite(d))
                        continue;
                library_number_to_string(d, buf);
                assert_true(strtod(buf, NULL) == d);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(sample_library_imports_with_every_required_drug_and_care_area),
                cmocka_unit_test(sample_library_doses_every_pediatric_drug_by_weight),
                cmocka_unit_test(sample_library_holds_the_documented_example_limits),
                cmocka_unit_test(sample_file_is_already_in_canonical_form),
                cmocka_unit_test(sample_library_sets_occlusion_per_care_area),
                cmocka_unit_test(sample_library_has_a_pca_opioid_with_basal_only_in_the_icu),
                cmocka_unit_test(export_import_export_is_byte_identical),
                cmocka_unit_test(library_built_in_code_survives_a_round_trip_exactly),
                cmocka_unit_test(order_of_keys_and_of_limits_in_the_file_does_not_change_the_export),
                cmocka_unit_test(export_refuses_a_library_that_could_not_be_read_back),
                cmocka_unit_test(invalid_file_leaves_the_library_in_use_untouched),
                cmocka_unit_test(valid_minimal_library_imports),
                cmocka_unit_test(library_without_drugs_is_accepted),
                cmocka_unit_test(syntax_error_names_line_and_column),
                cmocka_unit_test(trailing_whitespace_is_accepted_but_not_a_nul_byte),
                cmocka_unit_test(single_quoted_strings_are_refused),
                cmocka_unit_test(top_level_must_be_an_object),
                cmocka_unit_test(file_larger_than_the_limit_is_refused_before_parsing),
                cmocka_unit_test(misspelt_key_is_refused_by_name),
                cmocka_unit_test(key_given_twice_is_refused_not_resolved_silently),
                cmocka_unit_test(key_spelt_with_escapes_is_refused),
                cmocka_unit_test(wrong_json_types_are_named),
                cmocka_unit_test(missing_keys_are_named),
                cmocka_unit_test(nan_infinity_and_inexact_integers_are_refused),
                cmocka_unit_test(nul_in_a_string_is_refused),
                cmocka_unit_test(format_other_than_1_is_refused),
                cmocka_unit_test(care_area_id_used_twice_is_refused),
                cmocka_unit_test(drug_ids_differing_only_in_case_are_refused),
                cmocka_unit_test(ids_must_be_short_and_plain),
                cmocka_unit_test(names_must_be_printable_and_not_empty),
                cmocka_unit_test(unknown_care_area_reference_is_refused),
                cmocka_unit_test(limits_out_of_order_are_refused_naming_both),
                cmocka_unit_test(equal_soft_and_hard_limits_are_accepted),
                cmocka_unit_test(limits_must_be_above_zero),
                cmocka_unit_test(concentration_amount_and_volume_must_be_above_zero),
                cmocka_unit_test(concentration_unit_must_be_a_compatible_amount),
                cmocka_unit_test(same_concentration_twice_is_refused),
                cmocka_unit_test(dose_unit_must_be_a_known_rate),
                cmocka_unit_test(drug_dosed_by_amount_needs_a_concentration_but_a_fluid_does_not),
                cmocka_unit_test(bolus_and_loading_units_must_be_compatible_amounts),
                cmocka_unit_test(pca_limits_import_with_every_key),
                cmocka_unit_test(pca_optional_keys_take_their_defaults),
                cmocka_unit_test(pca_limits_are_written_in_a_fixed_order_and_read_back_the_same),
                cmocka_unit_test(pca_needs_a_unit_and_a_demand_hard_max),
                cmocka_unit_test(pca_unit_follows_the_rules_of_a_bolus_unit),
                cmocka_unit_test(pca_limit_sets_must_be_ordered_and_above_zero),
                cmocka_unit_test(pca_window_is_required_with_a_cumulative_limit_and_refused_without_one),
                cmocka_unit_test(pca_lockout_and_doses_per_hour_bounds_have_ranges),
                cmocka_unit_test(pca_unknown_keys_and_wrong_values_are_named),
                cmocka_unit_test(pca_limits_built_in_code_are_checked_by_the_same_paths),
                cmocka_unit_test(pca_limit_actions_have_one_name_each),
                cmocka_unit_test(occlusion_settings_import_and_survive_a_round_trip_exactly),
                cmocka_unit_test(care_area_without_occlusion_settings_is_written_without_them),
                cmocka_unit_test(occlusion_levels_not_strictly_ascending_are_refused),
                cmocka_unit_test(occlusion_levels_must_be_within_50_to_1000_mmhg),
                cmocka_unit_test(occlusion_needs_one_to_five_levels),
                cmocka_unit_test(occlusion_default_must_be_one_of_the_levels),
                cmocka_unit_test(occlusion_auto_restarts_must_be_0_to_9),
                cmocka_unit_test(unknown_key_inside_occlusion_is_refused_by_name),
                cmocka_unit_test(occlusion_values_of_the_wrong_type_are_named),
                cmocka_unit_test(occlusion_keys_are_all_required),
                cmocka_unit_test(older_occlusion_limit_mmhg_reads_as_a_single_level),
                cmocka_unit_test(occlusion_settings_built_in_code_are_checked_by_the_same_paths),
                cmocka_unit_test(occlusion_level_without_settings_is_enoent),
                cmocka_unit_test(occlusion_level_nan_gives_the_area_default),
                cmocka_unit_test(occlusion_level_asked_matches_a_level_within_half_a_mmhg),
                cmocka_unit_test(occlusion_level_not_offered_is_refused),
                cmocka_unit_test(at_least_one_care_area_is_required),
                cmocka_unit_test(more_than_64_care_areas_are_refused),
                cmocka_unit_test(more_than_5000_drugs_are_refused),
                cmocka_unit_test(several_problems_are_all_reported_in_one_pass),
                cmocka_unit_test(problems_past_the_cap_are_counted_as_truncated),
                cmocka_unit_test(messages_never_carry_control_characters),
                cmocka_unit_test(validation_reports_a_model_built_in_code_by_the_same_paths),
                cmocka_unit_test(errors_at_a_path_already_reported_are_dropped),
                cmocka_unit_test(lookups_find_by_exact_id),
                cmocka_unit_test(limit_check_at_and_around_every_bound),
                cmocka_unit_test(limit_check_with_soft_limits_equal_to_hard_ones_goes_straight_to_hard),
                cmocka_unit_test(limit_check_ignores_absent_limits),
                cmocka_unit_test(limit_check_refuses_nan_infinity_zero_and_negatives),
                cmocka_unit_test(numbers_are_written_in_their_shortest_exact_form),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
