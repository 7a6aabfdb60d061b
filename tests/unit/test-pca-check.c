/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "db/library-json.h"
#include "safety/pca-check.h"

#define S_US INT64_C(1000000)
#define MIN_US (60 * S_US)
#define H_US (3600 * S_US)
#define ML_NL INT64_C(1000000)

/* Written with 'single quotes' so it reads in C; turned into JSON below.
 * Morphine at 1 mg/mL: in the ICU every PCA limit has all four bounds, a
 * basal rate and a loading dose are allowed; in Med-Surg neither, and the
 * cumulative limit has only a hard maximum; in Oncology no PCA at all. Fentanyl at 10 mcg/mL is dosed by weight. */
static const char library_text[] =
        "{'format': 1, 'version': 'pca test',"
        " 'care_areas': ["
        "  {'id': 'ICU', 'name': 'Intensive care', 'allow_basic_infusion': false},"
        "  {'id': 'Med-Surg', 'name': 'Medical-surgical', 'allow_basic_infusion': true},"
        "  {'id': 'Oncology', 'name': 'Oncology', 'allow_basic_infusion': true}],"
        " 'drugs': ["
        "  {'id': 'morphine-pca', 'name': 'Morphine', 'dose_unit': 'mg/h',"
        "   'concentrations': [{'amount': 1, 'amount_unit': 'mg', 'volume_ml': 1}],"
        "   'limits': {"
        "    'ICU': {'dose': {'hard_max': 20},"
        "     'loading': {'unit': 'mg', 'hard_min': 0.5, 'soft_min': 1, 'soft_max': 4, 'hard_max': 5},"
        "     'pca': {'unit': 'mg',"
        "      'demand': {'hard_min': 0.5, 'soft_min': 1, 'soft_max': 2, 'hard_max': 3},"
        "      'lockout_min': {'hard_min': 5, 'soft_min': 6, 'soft_max': 20, 'hard_max': 30},"
        "      'doses_per_hour': {'hard_min': 1, 'soft_min': 2, 'soft_max': 10, 'hard_max': 12},"
        "      'limit': {'window_h': 4, 'hard_min': 4, 'soft_min': 8, 'soft_max': 20, 'hard_max': 30},"
        "      'basal': {'hard_min': 0.1, 'soft_min': 0.2, 'soft_max': 1, 'hard_max': 2}}},"
        "    'Med-Surg': {'dose': {'hard_max': 10},"
        "     'pca': {'unit': 'mg', 'demand': {'soft_max': 2, 'hard_max': 3},"
        "      'limit': {'window_h': 4, 'hard_max': 30}}},"
        "    'Oncology': {'dose': {'hard_max': 30}}}},"
        "  {'id': 'fentanyl-pca-peds', 'name': 'Fentanyl (pediatric)', 'dose_unit': 'mcg/kg/h',"
        "   'concentrations': [{'amount': 500, 'amount_unit': 'mcg', 'volume_ml': 50}],"
        "   'limits': {"
        "    'ICU': {'dose': {'hard_max': 5},"
        "     'pca': {'unit': 'mcg/kg', 'demand': {'soft_max': 0.4, 'hard_max': 0.5},"
        "      'limit': {'window_h': 1, 'hard_max': 2}, 'basal': {'hard_max': 0.5}}}}}]}";

static struct drug_library *lib;

static int setup(void **state) {
        struct library_errors errs;
        char *text = strdup(library_text);

        assert_non_null(text);
        for (char *p = text; *p; p++)
                if (*p == '\'')
                        *p = '"';
        int r = library_from_json(text, strlen(text), &lib, &errs);
        free(text);
        if (r < 0)
                fail_msg("test library refused: %s", errs.n ? errs.text[0] : "?");
        return 0;
}

static int teardown(void **state) {
        lib = drug_library_free(lib);
        return 0;
}

static struct pca_volume amount(double a) {
        return (struct pca_volume) { .as_amount = true, .amount = a };
}

static struct pca_volume ml(double v) {
        return (struct pca_volume) { .nl = llround(v * ML_NL) };
}

/* Within every limit of morphine in the ICU, no soft limit crossed. */
static struct pca_program good_program(void) {
        return (struct pca_program) {
                .dose = amount(1.5),
                .lockout_us = 10 * MIN_US,
                .max_doses_per_hour = 6,
                .limit = amount(16),
                .window_us = 4 * H_US,
        };
}

static struct pca_check_result check_as(const char *drug_id, const char *area, const struct patient *patient,
                                        bool confirm, const char *reason, struct pca_program *prog) {
        const struct drug *d = drug_library_find_drug(lib, drug_id);
        struct pca_check_result r;

        assert_non_null(d);
        pca_check(d, drug_limits_for(d, area), area, &d->concentrations[0], patient, confirm, reason, prog, &r);
        return r;
}

static struct pca_check_result check(const char *area, struct pca_program *prog) {
        return check_as("morphine-pca", area, NULL, false, NULL, prog);
}

static void assert_outcome(const struct pca_check_result *r, enum ders_outcome o, const char *field,
                           const char *message) {
        if (r->outcome != o)
                print_message("got %s: %s\n", ders_outcome_to_string(r->outcome), r->message);
        assert_int_equal(r->outcome, o);
        if (field)
                assert_string_equal(r->field, field);
        if (message)
                assert_string_equal(r->message, message);
}

/* Accepted, and the other side of each volume filled. */

static void program_within_every_limit_is_accepted_and_converted_to_ml(void **state) {
        struct pca_program prog = good_program();

        prog.basal = amount(0.5);
        prog.loading = ml(2);
        struct pca_check_result r = check("ICU", &prog);
        assert_outcome(&r, DERS_ACCEPTED, NULL, NULL);
        assert_string_equal(r.unit, "mg");
        assert_int_equal(prog.dose.nl, 1500000);
        assert_int_equal(prog.limit.nl, 16 * ML_NL);
        assert_int_equal(prog.basal.nl, 500000);        /* nL in one hour: nL/h */
        assert_true(prog.loading.amount == 2);
}

static void two_mg_at_one_mg_per_ml_is_exactly_two_ml_and_back(void **state) {
        struct pca_program prog = good_program();

        prog.dose = amount(2);
        struct pca_check_result r = check("ICU", &prog);
        assert_outcome(&r, DERS_ACCEPTED, NULL, NULL);
        assert_int_equal(prog.dose.nl, 2 * ML_NL);

        prog.dose = ml(2);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_ACCEPTED, NULL, NULL);
        assert_true(prog.dose.amount == 2);
        assert_true(prog.dose.nl == 2 * ML_NL);
}

/* Where PCA is not allowed, and what needs a drug. */

static void pca_of_a_drug_the_area_allows_none_of_is_a_hard_limit(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r = check("Oncology", &prog);

        assert_outcome(&r, DERS_HARD_LIMIT, "Mode",
                       "The library allows no PCA of Morphine in Oncology: choose another drug or mode");
        /* Not available there at all: no limits to look at. */
        r = check("Nowhere", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "Mode", NULL);
}

static void basic_pca_takes_volumes_only(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.dose = ml(1);
        prog.limit = ml(10);
        prog.basal = ml(0.5);
        prog.loading = ml(3);
        pca_check(NULL, NULL, "Med-Surg", NULL, NULL, false, NULL, &prog, &r);
        assert_outcome(&r, DERS_ACCEPTED, NULL, "");
        assert_string_equal(r.unit, "");

        prog.dose = amount(1);
        pca_check(NULL, NULL, "Med-Surg", NULL, NULL, false, NULL, &prog, &r);
        assert_outcome(&r, DERS_INVALID, "PcaDose", "PcaDose needs a library drug; give PcaDoseMl");
        prog.dose = ml(1);
        prog.limit = amount(10);
        pca_check(NULL, NULL, "Med-Surg", NULL, NULL, false, NULL, &prog, &r);
        assert_outcome(&r, DERS_INVALID, "LimitDose", "LimitDose needs a library drug; give LimitMl");
        prog.limit = ml(10);
        prog.basal = amount(1);
        pca_check(NULL, NULL, "Med-Surg", NULL, NULL, false, NULL, &prog, &r);
        assert_outcome(&r, DERS_INVALID, "BasalDose", "BasalDose needs a library drug; give BasalRateMlPerHour");
        prog.basal = ml(0);
        prog.loading = amount(2);
        pca_check(NULL, NULL, "Med-Surg", NULL, NULL, false, NULL, &prog, &r);
        assert_outcome(&r, DERS_INVALID, "LoadingDose", "LoadingDose needs a library drug; give LoadingDoseMl");
}

static void amounts_need_a_concentration(void **state) {
        const struct drug *d = drug_library_find_drug(lib, "morphine-pca");
        struct pca_program prog = good_program();
        struct pca_check_result r;

        pca_check(d, drug_limits_for(d, "ICU"), "ICU", NULL, NULL, false, NULL, &prog, &r);
        assert_outcome(&r, DERS_INVALID, "Concentration", "PCA of Morphine is dosed in mg: choose its Concentration");
}

static void values_that_are_not_above_zero_are_invalid(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.dose = amount(0);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_INVALID, "PcaDose", "PcaDose 0 mg must be a number above 0");
        prog.dose = ml(0);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_INVALID, "PcaDoseMl", "PcaDoseMl 0 mL must be above 0");
        prog = good_program();
        prog.limit = amount(NAN);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_INVALID, "LimitDose", NULL);
        prog = good_program();
        prog.basal = amount(-1);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_INVALID, "BasalDose", "BasalDose -1 mg/h must be a number above 0");
        prog = good_program();
        prog.lockout_us = 0;
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_INVALID, "LockoutSec", NULL);
        prog = good_program();
        prog.max_doses_per_hour = 0;
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_INVALID, "MaxDosesPerHour", NULL);
        prog = good_program();
        prog.window_us = 0;
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_INVALID, "LimitWindowSec", NULL);
}

/* Each parameter against its hard limits. */

static void demand_dose_beyond_a_hard_limit_is_refused_naming_value_limit_drug_and_area(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.dose = amount(3.5);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "PcaDose",
                       "PcaDose 3.5 mg is above the hard maximum of 3 mg for Morphine in ICU: it cannot be given; reprogram");
        prog.dose = amount(3);  /* inclusive */
        assert_int_equal(check("ICU", &prog).outcome, DERS_SOFT_UNCONFIRMED);
        prog.dose = amount(0.4);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "PcaDose",
                       "PcaDose 0.4 mg is below the hard minimum of 0.5 mg for Morphine in ICU: it cannot be given; reprogram");
}

static void demand_dose_in_ml_is_judged_as_its_amount_under_its_own_key(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.dose = ml(3.5);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "PcaDoseMl",
                       "PcaDoseMl 3.5 mL (3.5 mg) is above the hard maximum of 3 mg for Morphine in ICU: "
                       "it cannot be given; reprogram");
        assert_true(prog.dose.amount == 3.5);
        prog.dose = ml(3);
        assert_int_equal(check("ICU", &prog).outcome, DERS_SOFT_UNCONFIRMED);
}

static void lockout_is_set_in_seconds_and_judged_in_minutes(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.lockout_us = 240 * S_US;
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LockoutSec",
                       "LockoutSec 240 (4 min) is below the hard minimum of 5 min for Morphine in ICU: "
                       "it cannot be given; reprogram");
        prog.lockout_us = 5 * MIN_US;
        assert_int_equal(check("ICU", &prog).outcome, DERS_SOFT_UNCONFIRMED);
        prog.lockout_us = 31 * MIN_US;
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LockoutSec",
                       "LockoutSec 1860 (31 min) is above the hard maximum of 30 min for Morphine in ICU: "
                       "it cannot be given; reprogram");
}

static void doses_per_hour_beyond_a_hard_limit_is_refused(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.max_doses_per_hour = 13;
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "MaxDosesPerHour",
                       "MaxDosesPerHour 13 is above the hard maximum of 12 for Morphine in ICU: "
                       "it cannot be given; reprogram");
        prog.max_doses_per_hour = 12;
        assert_int_equal(check("ICU", &prog).outcome, DERS_SOFT_UNCONFIRMED);

        /* hard_min 1 admits every program (MaxDosesPerHour 0 is invalid);
         * a library asking for at least 2 refuses 1. */
        struct drug_limits dl = *drug_limits_for(drug_library_find_drug(lib, "morphine-pca"), "ICU");
        dl.pca.doses_per_hour.hard_min = 2;
        dl.pca.doses_per_hour.soft_min = NAN;
        prog.max_doses_per_hour = 1;
        const struct drug *d = drug_library_find_drug(lib, "morphine-pca");
        pca_check(d, &dl, "ICU", &d->concentrations[0], NULL, false, NULL, &prog, &r);
        assert_outcome(&r, DERS_HARD_LIMIT, "MaxDosesPerHour",
                       "MaxDosesPerHour 1 is below the hard minimum of 2 for Morphine in ICU: "
                       "it cannot be given; reprogram");
}

static void cumulative_limit_beyond_a_hard_limit_is_refused(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.limit = amount(31);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LimitDose",
                       "LimitDose 31 mg per 4 h is above the hard maximum of 30 mg per 4 h for Morphine in ICU: "
                       "it cannot be given; reprogram");
        prog.limit = ml(3);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LimitMl",
                       "LimitMl 3 mL (3 mg) per 4 h is below the hard minimum of 4 mg per 4 h for Morphine in ICU: "
                       "it cannot be given; reprogram");
        assert_int_equal(prog.limit.nl, 3 * ML_NL);
}

/* The library's window against the program's. */

static void limit_over_a_shorter_window_is_judged_as_what_it_lets_through_in_the_librarys(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        /* Med-Surg: at most 30 mg in 4 h, no soft limit. 10 mg in any
         * 1 h lets 40 mg through in 4 h. */
        prog.limit = amount(10);
        prog.window_us = 1 * H_US;
        r = check("Med-Surg", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LimitDose",
                       "LimitDose 10 mg per 1 h (up to 40 mg per 4 h) is above the hard maximum of 30 mg per 4 h "
                       "for Morphine in Med-Surg: it cannot be given; reprogram");
        prog.limit = amount(7.5);
        assert_int_equal(check("Med-Surg", &prog).outcome, DERS_ACCEPTED);

        /* 1.5 h windows: ceil(4 / 1.5) = 3 of them start in 4 h. */
        prog.window_us = 90 * MIN_US;
        prog.limit = amount(10);
        assert_int_equal(check("Med-Surg", &prog).outcome, DERS_ACCEPTED);
        prog.limit = amount(10.5);
        r = check("Med-Surg", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LimitDose",
                       "LimitDose 10.5 mg per 1.5 h (up to 31.5 mg per 4 h) is above the hard maximum of 30 mg per 4 h "
                       "for Morphine in Med-Surg: it cannot be given; reprogram");

        /* In mL, converted first, then multiplied. */
        prog.limit = ml(10);
        prog.window_us = 2 * H_US;
        assert_int_equal(check("Med-Surg", &prog).outcome, DERS_ACCEPTED);
        prog.limit = ml(15.5);
        r = check("Med-Surg", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LimitMl",
                       "LimitMl 15.5 mL (15.5 mg) per 2 h (up to 31 mg per 4 h) is above the hard maximum of "
                       "30 mg per 4 h for Morphine in Med-Surg: it cannot be given; reprogram");
}

static void limit_over_the_same_or_a_longer_window_is_judged_as_it_is(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.limit = amount(30);
        prog.window_us = 4 * H_US;
        r = check("Med-Surg", &prog);
        assert_outcome(&r, DERS_ACCEPTED, NULL, NULL);
        prog.window_us = 8 * H_US;
        r = check("Med-Surg", &prog);
        assert_outcome(&r, DERS_ACCEPTED, NULL, NULL);
        prog.limit = amount(31);
        r = check("Med-Surg", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LimitDose",
                       "LimitDose 31 mg per 8 h is above the hard maximum of 30 mg per 4 h for Morphine in Med-Surg: "
                       "it cannot be given; reprogram");

        /* The ICU's soft maximum of 20 mg per 4 h is judged the same way. */
        prog.limit = amount(25);
        prog.window_us = 12 * H_US;
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_SOFT_UNCONFIRMED, "LimitDose",
                       "LimitDose 25 mg per 12 h is above the soft maximum of 20 mg per 4 h for Morphine in ICU: "
                       "confirm with ConfirmSoftLimits=true and give an OverrideReason");
}

/* Basal rate and loading dose. */

static void basal_rate_is_judged_per_hour_in_either_key(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.basal = amount(2.5);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "BasalDose",
                       "BasalDose 2.5 mg/h is above the hard maximum of 2 mg/h for Morphine in ICU: "
                       "it cannot be given; reprogram");
        assert_int_equal(prog.basal.nl, 2500000);
        prog.basal = ml(0.05);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "BasalRateMlPerHour",
                       "BasalRateMlPerHour 0.05 mL/h (0.05 mg/h) is below the hard minimum of 0.1 mg/h for Morphine "
                       "in ICU: it cannot be given; reprogram");
        prog.basal = ml(2);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_SOFT_UNCONFIRMED, "BasalRateMlPerHour", NULL);
        assert_true(prog.basal.amount == 2);
}

static void basal_rate_where_the_library_allows_none_is_a_hard_limit(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.basal = ml(0.5);
        r = check("Med-Surg", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "BasalRateMlPerHour",
                       "BasalRateMlPerHour 0.5 mL/h (0.5 mg/h): the library allows no basal rate with PCA of "
                       "Morphine in Med-Surg; give none");
        prog.basal = amount(0.5);
        r = check("Med-Surg", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "BasalDose", NULL);
        prog.basal = ml(0);
        assert_int_equal(check("Med-Surg", &prog).outcome, DERS_ACCEPTED);
}

static void loading_dose_is_judged_against_the_drugs_loading_limits(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.loading = amount(6);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LoadingDose",
                       "LoadingDose 6 mg is above the hard maximum of 5 mg for Morphine in ICU: "
                       "it cannot be given; reprogram");
        prog.loading = ml(0.25);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LoadingDoseMl",
                       "LoadingDoseMl 0.25 mL (0.25 mg) is below the hard minimum of 0.5 mg for Morphine in ICU: "
                       "it cannot be given; reprogram");
        prog.loading = amount(4.5);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_SOFT_UNCONFIRMED, "LoadingDose", NULL);
        assert_int_equal(prog.loading.nl, 4500000);
}

static void loading_dose_where_the_library_allows_none_is_a_hard_limit(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.loading = amount(2);
        r = check("Med-Surg", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LoadingDose",
                       "The library allows no loading dose of Morphine in Med-Surg; give none");
        prog.loading = ml(2);
        r = check("Med-Surg", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LoadingDoseMl", NULL);
}

/* Soft limits. */

static void soft_limit_crossed_needs_a_confirmation_and_a_reason(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.dose = amount(2.5);
        r = check("ICU", &prog);
        assert_outcome(&r, DERS_SOFT_UNCONFIRMED, "PcaDose",
                       "PcaDose 2.5 mg is above the soft maximum of 2 mg for Morphine in ICU: "
                       "confirm with ConfirmSoftLimits=true and give an OverrideReason");
        r = check_as("morphine-pca", "ICU", NULL, true, "", &prog);
        assert_int_equal(r.outcome, DERS_SOFT_UNCONFIRMED);
        r = check_as("morphine-pca", "ICU", NULL, true, NULL, &prog);
        assert_int_equal(r.outcome, DERS_SOFT_UNCONFIRMED);
        r = check_as("morphine-pca", "ICU", NULL, false, "opioid tolerant", &prog);
        assert_int_equal(r.outcome, DERS_SOFT_UNCONFIRMED);

        /* Every parameter has its own soft limits: each one alone. */
        struct pca_program low = good_program();
        low.lockout_us = 330 * S_US;
        r = check("ICU", &low);
        assert_outcome(&r, DERS_SOFT_UNCONFIRMED, "LockoutSec",
                       "LockoutSec 330 (5.5 min) is below the soft minimum of 6 min for Morphine in ICU: "
                       "confirm with ConfirmSoftLimits=true and give an OverrideReason");
        low = good_program();
        low.max_doses_per_hour = 1;
        r = check("ICU", &low);
        assert_outcome(&r, DERS_SOFT_UNCONFIRMED, "MaxDosesPerHour", NULL);
        low = good_program();
        low.limit = ml(6);
        r = check("ICU", &low);
        assert_outcome(&r, DERS_SOFT_UNCONFIRMED, "LimitMl", NULL);
        low = good_program();
        low.basal = amount(0.15);
        r = check("ICU", &low);
        assert_outcome(&r, DERS_SOFT_UNCONFIRMED, "BasalDose", NULL);
}

static void soft_limits_overridden_are_all_named_with_the_reason(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.dose = amount(2.5);
        r = check_as("morphine-pca", "ICU", NULL, true, "opioid tolerant", &prog);
        assert_outcome(&r, DERS_OVERRIDDEN, "PcaDose",
                       "PcaDose 2.5 mg is above the soft maximum of 2 mg for Morphine in ICU; overridden: opioid tolerant");

        prog.lockout_us = 330 * S_US;
        prog.max_doses_per_hour = 11;
        prog.limit = amount(25);
        r = check_as("morphine-pca", "ICU", NULL, true, "opioid tolerant", &prog);
        assert_outcome(&r, DERS_OVERRIDDEN, "PcaDose",
                       "PcaDose 2.5 mg is above the soft maximum of 2 mg, "
                       "LockoutSec 330 (5.5 min) is below the soft minimum of 6 min, "
                       "MaxDosesPerHour 11 is above the soft maximum of 10 and "
                       "LimitDose 25 mg per 4 h is above the soft maximum of 20 mg per 4 h "
                       "for Morphine in ICU; overridden: opioid tolerant");
}

static void hard_limit_wins_over_any_soft_one(void **state) {
        struct pca_program prog = good_program();
        struct pca_check_result r;

        prog.dose = amount(2.5);                /* soft, first in order */
        prog.loading = amount(6);               /* hard, last in order */
        r = check_as("morphine-pca", "ICU", NULL, true, "opioid tolerant", &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "LoadingDose", NULL);
}

/* Weight-based units. */

static void weight_based_pca_converts_with_the_patients_weight(void **state) {
        const struct patient kid = { .weight_kg = 20 };
        struct pca_program prog = {
                .dose = amount(0.25),           /* 5 mcg at 10 mcg/mL: 0.5 mL */
                .lockout_us = 10 * MIN_US,
                .max_doses_per_hour = 4,
                .limit = ml(4),                 /* 40 mcg: 2 mcg/kg */
                .window_us = 1 * H_US,
                .basal = ml(1),                 /* 10 mcg/h: 0.5 mcg/kg/h */
        };
        struct pca_check_result r = check_as("fentanyl-pca-peds", "ICU", &kid, false, NULL, &prog);

        assert_outcome(&r, DERS_ACCEPTED, NULL, NULL);
        assert_string_equal(r.unit, "mcg/kg");
        assert_int_equal(prog.dose.nl, 500000);
        assert_true(fabs(prog.limit.amount - 2) < 1e-12);
        assert_true(fabs(prog.basal.amount - 0.5) < 1e-12);

        prog.dose = ml(1.2);                    /* 12 mcg: 0.6 mcg/kg */
        r = check_as("fentanyl-pca-peds", "ICU", &kid, false, NULL, &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "PcaDoseMl",
                       "PcaDoseMl 1.2 mL (0.6 mcg/kg) is above the hard maximum of 0.5 mcg/kg for "
                       "Fentanyl (pediatric) in ICU: it cannot be given; reprogram");
        prog.dose = amount(0.25);
        prog.basal = amount(0.6);
        r = check_as("fentanyl-pca-peds", "ICU", &kid, false, NULL, &prog);
        assert_outcome(&r, DERS_HARD_LIMIT, "BasalDose",
                       "BasalDose 0.6 mcg/kg/h is above the hard maximum of 0.5 mcg/kg/h for "
                       "Fentanyl (pediatric) in ICU: it cannot be given; reprogram");
        assert_int_equal(prog.basal.nl, 1200000);

        prog.basal = ml(0);
        r = check_as("fentanyl-pca-peds", "ICU", &(struct patient) {}, false, NULL, &prog);
        assert_outcome(&r, DERS_INVALID, "PatientWeightKg", "PcaDose: mcg/kg needs PatientWeightKg");
        r = check_as("fentanyl-pca-peds", "ICU", NULL, false, NULL, &prog);
        assert_outcome(&r, DERS_INVALID, "PatientWeightKg", NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(program_within_every_limit_is_accepted_and_converted_to_ml),
                cmocka_unit_test(two_mg_at_one_mg_per_ml_is_exactly_two_ml_and_back),
                cmocka_unit_test(pca_of_a_drug_the_area_allows_none_of_is_a_hard_limit),
                cmocka_unit_test(basic_pca_takes_volumes_only),
                cmocka_unit_test(amounts_need_a_concentration),
                cmocka_unit_test(values_that_are_not_above_zero_are_invalid),
                cmocka_unit_test(demand_dose_beyond_a_hard_limit_is_refused_naming_value_limit_drug_and_area),
                cmocka_unit_test(demand_dose_in_ml_is_judged_as_its_amount_under_its_own_key),
                cmocka_unit_test(lockout_is_set_in_seconds_and_judged_in_minutes),
                cmocka_unit_test(doses_per_hour_beyond_a_hard_limit_is_refused),
                cmocka_unit_test(cumulative_limit_beyond_a_hard_limit_is_refused),
                cmocka_unit_test(limit_over_a_shorter_window_is_judged_as_what_it_lets_through_in_the_librarys),
                cmocka_unit_test(limit_over_the_same_or_a_longer_window_is_judged_as_it_is),
                cmocka_unit_test(basal_rate_is_judged_per_hour_in_either_key),
                cmocka_unit_test(basal_rate_where_the_library_allows_none_is_a_hard_limit),
                cmocka_unit_test(loading_dose_is_judged_against_the_drugs_loading_limits),
                cmocka_unit_test(loading_dose_where_the_library_allows_none_is_a_hard_limit),
                cmocka_unit_test(soft_limit_crossed_needs_a_confirmation_and_a_reason),
                cmocka_unit_test(soft_limits_overridden_are_all_named_with_the_reason),
                cmocka_unit_test(hard_limit_wins_over_any_soft_one),
                cmocka_unit_test(weight_based_pca_converts_with_the_patients_weight),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
