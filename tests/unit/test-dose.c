/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/macros.h"
#include "common/units.h"
#include "safety/dose.h"

static struct dose_unit unit(const char *s) {
        struct dose_unit u;
        assert_int_equal(dose_unit_parse(s, &u), 0);
        return u;
}

#define CONC(amount_, unit_, volume_ml_) \
        ((struct concentration) { .amount = (amount_), .amount_unit = (unit_), .volume_ml = (volume_ml_) })

static const struct patient no_patient = { 0 };

/* Clinical cases, each worked by hand to a whole number of nL/h. */
static const struct rate_case {
        const char *what;
        double dose;
        const char *unit;
        struct concentration conc;
        struct patient patient;
        int64_t rate_nl_per_h;
} rate_cases[] = {
        /* 5 * 80 * 60 = 24000 mcg/h = 24 mg/h; 400 / 250 = 1.6 mg/mL;
         * 24 / 1.6 = 15 mL/h */
        { "dopamine", 5, "mcg/kg/min", CONC(400, DOSE_AMOUNT_MG, 250), { 80, 0 }, 15 * NL_PER_ML },
        /* 25000 / 500 = 50 units/mL; 1000 / 50 = 20 mL/h */
        { "heparin", 1000, "units/h", CONC(25000, DOSE_AMOUNT_UNITS, 500), { 0, 0 }, 20 * NL_PER_ML },
        /* 50 * 70 * 60 = 210000 mcg/h = 210 mg/h; 1000 / 100 = 10 mg/mL;
         * 210 / 10 = 21 mL/h */
        { "propofol", 50, "mcg/kg/min", CONC(1000, DOSE_AMOUNT_MG, 100), { 70, 0 }, 21 * NL_PER_ML },
        /* 0.1 * 70 * 60 = 420 mcg/h = 0.42 mg/h; 4 / 250 = 0.016 mg/mL;
         * 0.42 / 0.016 = 26.25 mL/h */
        { "norepinephrine", 0.1, "mcg/kg/min", CONC(4, DOSE_AMOUNT_MG, 250), { 70, 0 }, 26250000 },
        /* 100 / 100 = 1 unit/mL; 5 / 1 = 5 mL/h */
        { "insulin", 5, "units/h", CONC(100, DOSE_AMOUNT_UNITS, 100), { 0, 0 }, 5 * NL_PER_ML },
        /* 40 / 100 = 0.4 mEq/mL; 10 / 0.4 = 25 mL/h */
        { "potassium chloride", 10, "mEq/h", CONC(40, DOSE_AMOUNT_MEQ, 100), { 0, 0 }, 25 * NL_PER_ML },
        /* 0.04 * 60 = 2.4 units/h; 20 / 100 = 0.2 units/mL; 2.4 / 0.2 = 12 mL/h */
        { "vasopressin", 0.04, "units/min", CONC(20, DOSE_AMOUNT_UNITS, 100), { 0, 0 }, 12 * NL_PER_ML },
        /* BSA = sqrt(180 * 80 / 3600) = sqrt(4) = 2 m2; 100 * 2 = 200 mg/h;
         * 1000 / 500 = 2 mg/mL; 200 / 2 = 100 mL/h */
        { "BSA-based chemotherapy", 100, "mg/m2/h", CONC(1000, DOSE_AMOUNT_MG, 500), { 80, 180 }, 100 * NL_PER_ML },
        /* 2 * 60 = 120 milliunits/h = 0.12 units/h; 30 / 500 = 0.06 units/mL;
         * 0.12 / 0.06 = 2 mL/h */
        { "oxytocin", 2, "milliunits/min", CONC(30, DOSE_AMOUNT_UNITS, 500), { 0, 0 }, 2 * NL_PER_ML },
        /* 10 * 70 * 60 = 42000 ng/h; 1.5 mg / 100 mL = 15000 ng/mL;
         * 42000 / 15000 = 2.8 mL/h */
        { "epoprostenol", 10, "ng/kg/min", CONC(1.5, DOSE_AMOUNT_MG, 100), { 70, 0 }, 2800000 },
        /* 20 g / 500 mL = 0.04 g/mL; 2 / 0.04 = 50 mL/h */
        { "magnesium sulfate", 2, "g/h", CONC(20, DOSE_AMOUNT_G, 500), { 0, 0 }, 50 * NL_PER_ML },
        /* 15 / 250 = 0.06 mmol/mL; 3 / 0.06 = 50 mL/h */
        { "sodium phosphate", 3, "mmol/h", CONC(15, DOSE_AMOUNT_MMOL, 250), { 0, 0 }, 50 * NL_PER_ML },
        /* 0.5 units/kg/h * 80 kg = 40 units/h; 25000 / 250 = 100 units/mL;
         * 40 / 100 = 0.4 mL/h */
        { "insulin by weight", 0.5, "units/kg/h", CONC(25000, DOSE_AMOUNT_UNITS, 250), { 80, 0 }, 400000 },
        /* a volume rate needs no concentration: 125 mL/h */
        { "maintenance fluid", 125, "mL/h", CONC(0, DOSE_AMOUNT_MG, 0), { 0, 0 }, 125 * NL_PER_ML },
        /* 4 mL/kg/h * 3.5 kg = 14 mL/h */
        { "neonatal fluid", 4, "mL/kg/h", CONC(0, DOSE_AMOUNT_MG, 0), { 3.5, 0 }, 14 * NL_PER_ML },
};

static void clinical_dose_rates_give_the_pump_rate_worked_by_hand(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(rate_cases); i++) {
                const struct rate_case *t = &rate_cases[i];
                struct dose_unit u = unit(t->unit);
                struct dose_error err = { 0 };
                int64_t rate_nl_per_h = -1;
                int r = dose_rate_to_nl_per_h(t->dose, &u, &t->conc, &t->patient, &rate_nl_per_h, &err);
                if (r < 0)
                        fail_msg("%s: %s", t->what, err.text);
                if (rate_nl_per_h != t->rate_nl_per_h)
                        fail_msg("%s: %" PRId64 " nL/h, expected %" PRId64, t->what, rate_nl_per_h, t->rate_nl_per_h);
        }
}

static void pump_rate_converts_back_to_the_programmed_dose(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(rate_cases); i++) {
                const struct rate_case *t = &rate_cases[i];
                struct dose_unit u = unit(t->unit);
                int64_t rate_nl_per_h;
                double dose = -1;
                assert_int_equal(dose_rate_to_nl_per_h(t->dose, &u, &t->conc, &t->patient, &rate_nl_per_h, NULL), 0);
                assert_int_equal(dose_rate_from_nl_per_h(rate_nl_per_h, &u, &t->conc, &t->patient, &dose, NULL), 0);
                if (fabs(dose - t->dose) > 1e-9 * t->dose)
                        fail_msg("%s: %.17g back, programmed %.17g", t->what, dose, t->dose);
        }

        /* Doses that do not land on whole nL/h come back within the 1e-6
         * the forward conversion allows. */
        const double doses[] = { 1.1, 2.7, 3.14159, 7.77, 13.333333 };
        const struct concentration c = CONC(400, DOSE_AMOUNT_MG, 250);
        const struct patient p = { 72.3, 0 };
        struct dose_unit u = unit("mcg/kg/min");
        for (size_t i = 0; i < ELEMENTSOF(doses); i++) {
                int64_t rate_nl_per_h;
                double dose;
                assert_int_equal(dose_rate_to_nl_per_h(doses[i], &u, &c, &p, &rate_nl_per_h, NULL), 0);
                assert_int_equal(dose_rate_from_nl_per_h(rate_nl_per_h, &u, &c, &p, &dose, NULL), 0);
                assert_true(fabs(dose - doses[i]) <= 1e-6 * doses[i]);
        }
}

static void pump_rate_is_shown_in_any_compatible_unit(void **state) {
        /* Dopamine at 15 mL/h of 1.6 mg/mL is 24 mg/h, 400 mcg/min, and for
         * 80 kg 5 mcg/kg/min. */
        const struct concentration c = CONC(400, DOSE_AMOUNT_MG, 250);
        const struct patient p = { 80, 0 };
        const struct {
                const char *unit;
                double dose;
        } shown[] = {
                { "mg/h", 24 },
                { "mcg/min", 400 },
                { "mcg/kg/min", 5 },
                { "mL/h", 15 },
        };
        for (size_t i = 0; i < ELEMENTSOF(shown); i++) {
                struct dose_unit u = unit(shown[i].unit);
                double dose;
                assert_int_equal(dose_rate_from_nl_per_h(15 * NL_PER_ML, &u, &c, &p, &dose, NULL), 0);
                assert_true(fabs(dose - shown[i].dose) <= 1e-9 * shown[i].dose);
        }
}

static void volume_rate_needs_no_concentration(void **state) {
        struct dose_unit u = unit("mL/h");
        int64_t rate_nl_per_h;
        double dose;
        assert_int_equal(dose_rate_to_nl_per_h(125, &u, NULL, NULL, &rate_nl_per_h, NULL), 0);
        assert_int_equal(rate_nl_per_h, 125 * NL_PER_ML);
        assert_int_equal(dose_rate_from_nl_per_h(rate_nl_per_h, &u, NULL, NULL, &dose, NULL), 0);
        assert_true(dose == 125);
}

static void body_surface_area_is_mosteller(void **state) {
        /* sqrt(180 * 80 / 3600) = sqrt(4) = 2 */
        assert_true(dose_bsa_m2(&(struct patient) { 80, 180 }) == 2.0);
        /* sqrt(170 * 60 / 3600) = sqrt(2.8333) = 1.6833 */
        assert_true(fabs(dose_bsa_m2(&(struct patient) { 60, 170 }) - 1.683251) < 1e-6);
        assert_true(isnan(dose_bsa_m2(&(struct patient) { 80, 0 })));
        assert_true(isnan(dose_bsa_m2(&(struct patient) { 0, 180 })));
        assert_true(isnan(dose_bsa_m2(&(struct patient) { -80, -180 })));
        assert_true(isnan(dose_bsa_m2(&(struct patient) { 80, 1800 })));
        assert_true(isnan(dose_bsa_m2(NULL)));
}

/* Checks the refusal and that nothing was written. */
static void assert_rate_refused(double dose, const char *unit_str, const struct concentration *c,
                                const struct patient *p, const char *field) {
        struct dose_unit u = unit(unit_str);
        struct dose_error err = { 0 };
        int64_t rate_nl_per_h = -1;
        assert_int_equal(dose_rate_to_nl_per_h(dose, &u, c, p, &rate_nl_per_h, &err), -EINVAL);
        assert_int_equal(rate_nl_per_h, -1);
        assert_non_null(err.field);
        assert_string_equal(err.field, field);
        assert_non_null(strstr(err.text, field));
        /* and the same refusal without an error struct */
        assert_int_equal(dose_rate_to_nl_per_h(dose, &u, c, p, &rate_nl_per_h, NULL), -EINVAL);
}

static void weight_based_unit_without_a_valid_weight_is_refused(void **state) {
        const struct concentration c = CONC(400, DOSE_AMOUNT_MG, 250);
        assert_rate_refused(5, "mcg/kg/min", &c, &no_patient, "PatientWeightKg");
        assert_rate_refused(5, "mcg/kg/min", &c, NULL, "PatientWeightKg");
        assert_rate_refused(5, "mcg/kg/min", &c, &(struct patient) { 600, 0 }, "PatientWeightKg");
        assert_rate_refused(5, "mcg/kg/min", &c, &(struct patient) { 0.05, 0 }, "PatientWeightKg");
        assert_rate_refused(5, "mcg/kg/min", &c, &(struct patient) { -80, 0 }, "PatientWeightKg");
        assert_rate_refused(5, "mcg/kg/min", &c, &(struct patient) { NAN, 0 }, "PatientWeightKg");
        assert_rate_refused(5, "mcg/kg/min", &c, &(struct patient) { INFINITY, 0 }, "PatientWeightKg");
        /* /m2 needs the weight as well */
        assert_rate_refused(100, "mg/m2/h", &c, &(struct patient) { 0, 180 }, "PatientWeightKg");

        struct dose_unit u = unit("mcg/kg/min");
        struct dose_error err = { 0 };
        int64_t rate_nl_per_h;
        dose_rate_to_nl_per_h(5, &u, &c, &no_patient, &rate_nl_per_h, &err);
        assert_string_equal(err.text, "DoseRateUnit mcg/kg/min needs PatientWeightKg");

        /* A weight not needed is not read. */
        u = unit("mg/h");
        assert_int_equal(dose_rate_to_nl_per_h(24, &u, &c, &(struct patient) { -1, -1 }, &rate_nl_per_h, NULL), 0);
        assert_int_equal(rate_nl_per_h, 15 * NL_PER_ML);
}

static void per_m2_unit_without_a_valid_height_is_refused(void **state) {
        const struct concentration c = CONC(1000, DOSE_AMOUNT_MG, 500);
        assert_rate_refused(100, "mg/m2/h", &c, &(struct patient) { 80, 0 }, "PatientHeightCm");
        assert_rate_refused(100, "mg/m2/h", &c, &(struct patient) { 80, 10 }, "PatientHeightCm");
        assert_rate_refused(100, "mg/m2/h", &c, &(struct patient) { 80, 301 }, "PatientHeightCm");
        assert_rate_refused(100, "mg/m2/h", &c, &(struct patient) { 80, NAN }, "PatientHeightCm");
}

static void mass_dose_from_a_units_concentration_is_refused(void **state) {
        const struct concentration heparin = CONC(25000, DOSE_AMOUNT_UNITS, 500);
        assert_rate_refused(24, "mg/h", &heparin, NULL, "DoseRateUnit");
        assert_rate_refused(10, "mEq/h", &heparin, NULL, "DoseRateUnit");
        assert_rate_refused(1000, "units/h", &CONC(40, DOSE_AMOUNT_MEQ, 100), NULL, "DoseRateUnit");
        assert_rate_refused(3, "mmol/h", &CONC(40, DOSE_AMOUNT_MEQ, 100), NULL, "DoseRateUnit");

        struct dose_unit u = unit("mg/h");
        struct dose_error err = { 0 };
        int64_t rate_nl_per_h;
        dose_rate_to_nl_per_h(24, &u, &heparin, NULL, &rate_nl_per_h, &err);
        assert_string_equal(err.text, "DoseRateUnit mg/h cannot be given from a concentration in units");
}

static void amounts_are_compatible_within_their_family_only(void **state) {
        assert_true(dose_amounts_compatible(DOSE_AMOUNT_MCG, DOSE_AMOUNT_MG));
        assert_true(dose_amounts_compatible(DOSE_AMOUNT_G, DOSE_AMOUNT_NG));
        assert_true(dose_amounts_compatible(DOSE_AMOUNT_MILLIUNITS, DOSE_AMOUNT_UNITS));
        assert_true(dose_amounts_compatible(DOSE_AMOUNT_MEQ, DOSE_AMOUNT_MEQ));
        assert_true(dose_amounts_compatible(DOSE_AMOUNT_MMOL, DOSE_AMOUNT_MMOL));
        assert_true(dose_amounts_compatible(DOSE_AMOUNT_ML, DOSE_AMOUNT_UNITS));
        assert_false(dose_amounts_compatible(DOSE_AMOUNT_MG, DOSE_AMOUNT_UNITS));
        assert_false(dose_amounts_compatible(DOSE_AMOUNT_MEQ, DOSE_AMOUNT_MMOL));
        assert_false(dose_amounts_compatible(DOSE_AMOUNT_MG, DOSE_AMOUNT_ML));
        assert_false(dose_amounts_compatible(_DOSE_AMOUNT_MAX, DOSE_AMOUNT_MG));
        assert_false(dose_amounts_compatible(DOSE_AMOUNT_ML, _DOSE_AMOUNT_MAX));
}

static void dose_that_is_not_a_finite_number_above_zero_is_refused(void **state) {
        const struct concentration c = CONC(400, DOSE_AMOUNT_MG, 250);
        const struct patient p = { 80, 0 };
        const double bad[] = { NAN, INFINITY, -INFINITY, -5, 0, -0.0 };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_rate_refused(bad[i], "mcg/kg/min", &c, &p, "DoseRate");
}

static void concentration_that_is_not_an_amount_in_a_volume_is_refused(void **state) {
        const struct patient p = { 80, 0 };
        assert_rate_refused(5, "mcg/kg/min", &CONC(400, DOSE_AMOUNT_MG, 0), &p, "Concentration");
        assert_rate_refused(5, "mcg/kg/min", &CONC(0, DOSE_AMOUNT_MG, 250), &p, "Concentration");
        assert_rate_refused(5, "mcg/kg/min", &CONC(-400, DOSE_AMOUNT_MG, 250), &p, "Concentration");
        assert_rate_refused(5, "mcg/kg/min", &CONC(NAN, DOSE_AMOUNT_MG, 250), &p, "Concentration");
        assert_rate_refused(5, "mcg/kg/min", &CONC(400, DOSE_AMOUNT_MG, INFINITY), &p, "Concentration");
        assert_rate_refused(5, "mcg/kg/min", &CONC(400, DOSE_AMOUNT_ML, 250), &p, "Concentration");
        assert_rate_refused(5, "mcg/kg/min", &CONC(400, _DOSE_AMOUNT_MAX, 250), &p, "Concentration");
        assert_rate_refused(5, "mcg/kg/min", NULL, &p, "Concentration");
}

static void amount_without_a_time_is_not_a_rate(void **state) {
        const struct concentration c = CONC(1, DOSE_AMOUNT_MG, 1);
        assert_rate_refused(2, "mg", &c, NULL, "DoseRateUnit");
        assert_rate_refused(0.1, "mg/kg", &c, &(struct patient) { 70, 0 }, "DoseRateUnit");
        assert_rate_refused(100, "mL", NULL, NULL, "DoseRateUnit");

        struct dose_unit u = unit("mg");
        double dose;
        assert_int_equal(dose_rate_from_nl_per_h(NL_PER_ML, &u, &c, NULL, &dose, NULL), -EINVAL);
}

static void unit_outside_the_enums_is_refused(void **state) {
        const struct concentration c = CONC(1, DOSE_AMOUNT_MG, 1);
        const struct dose_unit bad[] = {
                { _DOSE_AMOUNT_MAX, DOSE_BASIS_NONE, DOSE_TIME_H },
                { DOSE_AMOUNT_MG, _DOSE_BASIS_MAX, DOSE_TIME_H },
                { DOSE_AMOUNT_MG, DOSE_BASIS_NONE, _DOSE_TIME_MAX },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct dose_error err = { 0 };
                int64_t rate_nl_per_h;
                assert_int_equal(dose_rate_to_nl_per_h(1, &bad[i], &c, NULL, &rate_nl_per_h, &err), -EINVAL);
                assert_string_equal(err.field, "DoseRateUnit");
        }
        struct dose_error err = { 0 };
        int64_t rate_nl_per_h;
        assert_int_equal(dose_rate_to_nl_per_h(1, NULL, &c, NULL, &rate_nl_per_h, &err), -EINVAL);
        assert_string_equal(err.field, "DoseRateUnit");
}

static void dose_beyond_the_pump_range_is_refused(void **state) {
        const struct concentration c = CONC(1, DOSE_AMOUNT_MG, 1);
        /* 1e10 mg/h at 1 mg/mL = 1e10 mL/h = 1e16 nL/h, above 1e13 */
        assert_rate_refused(1e10, "mg/h", &c, NULL, "DoseRate");
        assert_rate_refused(DBL_MAX, "g/kg/min", &c, &(struct patient) { 500, 0 }, "DoseRate");
        /* 1e-10 mg/h at 1 mg/mL = 1e-4 nL/h: nothing to deliver */
        assert_rate_refused(1e-10, "mg/h", &c, NULL, "DoseRate");
        assert_rate_refused(DBL_MIN, "ng/min", &CONC(1e300, DOSE_AMOUNT_G, 1), NULL, "DoseRate");

        /* The edges themselves: 1e7 mL/h = 1e13 nL/h, 1e-6 mL/h = 1 nL/h. */
        struct dose_unit u = unit("mL/h");
        int64_t rate_nl_per_h;
        assert_int_equal(dose_rate_to_nl_per_h(1e7, &u, NULL, NULL, &rate_nl_per_h, NULL), 0);
        assert_int_equal(rate_nl_per_h, INT64_C(10000000000000));
        assert_int_equal(dose_rate_to_nl_per_h(1e-6, &u, NULL, NULL, &rate_nl_per_h, NULL), 0);
        assert_int_equal(rate_nl_per_h, 1);
        assert_rate_refused(1.00001e7, "mL/h", NULL, NULL, "DoseRate");
}

static void neonatal_rate_between_whole_nl_per_h_rounds_to_the_nearest(void **state) {
        /* 5 mcg/kg/min for 737 g at 800 mg/250 mL is 5 * 0.737 * 60 =
         * 221.1 mcg/h / 3200 mcg/mL = 0.06909375 mL/h = 69093.75 nL/h. The
         * nearest whole nL/h is 0.25 nL/h away: 3.6e-6 of the rate, a
         * millionth of a pump step per hour. Refusing it would refuse a
         * real neonate's dose for no safety gain; the channel's 1 % check
         * decides what the mechanism can do. */
        const struct concentration c = CONC(800, DOSE_AMOUNT_MG, 250);
        struct dose_unit u = unit("mcg/kg/min");
        int64_t rate_nl_per_h;
        assert_int_equal(dose_rate_to_nl_per_h(5, &u, &c, &(struct patient) { 0.737, 0 }, &rate_nl_per_h, NULL), 0);
        assert_int_equal(rate_nl_per_h, 69094);
        /* 738 g: 69187.5 nL/h, a tie that binary arithmetic may land on
         * either side of: either neighbour is within half a nL/h */
        assert_int_equal(dose_rate_to_nl_per_h(5, &u, &c, &(struct patient) { 0.738, 0 }, &rate_nl_per_h, NULL), 0);
        assert_in_range(rate_nl_per_h, 69187, 69188);
        /* 736 g: 0.069 mL/h exactly */
        assert_int_equal(dose_rate_to_nl_per_h(5, &u, &c, &(struct patient) { 0.736, 0 }, &rate_nl_per_h, NULL), 0);
        assert_int_equal(rate_nl_per_h, 69000);
}

static void pump_rate_outside_the_range_cannot_be_shown_as_a_dose(void **state) {
        const struct concentration c = CONC(400, DOSE_AMOUNT_MG, 250);
        struct dose_unit u = unit("mg/h");
        const int64_t bad[] = { 0, -1, INT64_MIN, INT64_C(10000000000001), INT64_MAX };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct dose_error err = { 0 };
                double dose = -1;
                assert_int_equal(dose_rate_from_nl_per_h(bad[i], &u, &c, NULL, &dose, &err), -EINVAL);
                assert_true(dose == -1);
                assert_string_equal(err.field, "RateMlPerHour");
        }

        /* the same input checks as the forward conversion */
        struct dose_error err = { 0 };
        double dose;
        u = unit("mcg/kg/min");
        assert_int_equal(dose_rate_from_nl_per_h(NL_PER_ML, &u, &c, &no_patient, &dose, &err), -EINVAL);
        assert_string_equal(err.field, "PatientWeightKg");
        u = unit("units/h");
        assert_int_equal(dose_rate_from_nl_per_h(NL_PER_ML, &u, &c, NULL, &dose, &err), -EINVAL);
        assert_string_equal(err.field, "DoseRateUnit");
        assert_int_equal(dose_rate_from_nl_per_h(NL_PER_ML, &u, &CONC(1, DOSE_AMOUNT_UNITS, 0), NULL, &dose, &err),
                         -EINVAL);
        assert_string_equal(err.field, "Concentration");
}

static void bolus_and_loading_dose_give_a_volume(void **state) {
        struct dose_unit u;
        struct dose_error err = { 0 };
        int64_t volume_nl;

        /* morphine 2 mg at 1 mg/mL: 2 mL */
        u = unit("mg");
        assert_int_equal(dose_amount_to_nl(2, &u, &CONC(1, DOSE_AMOUNT_MG, 1), NULL, &volume_nl, &err), 0);
        assert_int_equal(volume_nl, 2 * NL_PER_ML);

        /* loading 0.1 mg/kg * 70 kg = 7 mg; 1000 mg / 100 mL = 10 mg/mL;
         * 7 / 10 = 0.7 mL */
        u = unit("mg/kg");
        assert_int_equal(dose_amount_to_nl(0.1, &u, &CONC(1000, DOSE_AMOUNT_MG, 100), &(struct patient) { 70, 0 },
                                           &volume_nl, &err), 0);
        assert_int_equal(volume_nl, 700000);

        /* heparin bolus 80 units/kg * 80 kg = 6400 units; 1000 units/mL:
         * 6.4 mL */
        u = unit("units/kg");
        assert_int_equal(dose_amount_to_nl(80, &u, &CONC(5000, DOSE_AMOUNT_UNITS, 5), &(struct patient) { 80, 0 },
                                           &volume_nl, &err), 0);
        assert_int_equal(volume_nl, 6400000);

        /* fluid bolus 20 mL/kg * 3.5 kg = 70 mL, no concentration */
        u = unit("mL/kg");
        assert_int_equal(dose_amount_to_nl(20, &u, NULL, &(struct patient) { 3.5, 0 }, &volume_nl, &err), 0);
        assert_int_equal(volume_nl, 70 * NL_PER_ML);
}

static void a_volume_converts_back_to_its_amount_exactly(void **state) {
        struct dose_error err = { 0 };
        double amount = -1;
        /* norepinephrine 4 mg / 250 mL = 16000 ng/mL: 1 ng is 62.5 nL,
         * which a whole-nL "volume per unit" would make 63 (0.8 % off).
         * 1000 nL holds exactly 16 ng. */
        struct dose_unit u = unit("ng");
        const struct concentration c = CONC(4, DOSE_AMOUNT_MG, 250);
        assert_int_equal(dose_amount_from_nl(1000, &u, &c, NULL, &amount, &err), 0);
        assert_true(fabs(amount - 16.0) < 1e-9);
        /* oxytocin 30 units / 500 mL = 60 milliunits/mL: 0.5 mL is 30 */
        u = unit("milliunits");
        assert_int_equal(dose_amount_from_nl(500000, &u, &CONC(30, DOSE_AMOUNT_UNITS, 500), NULL, &amount, &err), 0);
        assert_true(fabs(amount - 30.0) < 1e-9);
        /* per kg: 0.7 mL of 10 mg/mL for 70 kg is 0.1 mg/kg */
        u = unit("mg/kg");
        assert_int_equal(dose_amount_from_nl(700000, &u, &CONC(1000, DOSE_AMOUNT_MG, 100), &(struct patient) { 70, 0 },
                                             &amount, &err), 0);
        assert_true(fabs(amount - 0.1) < 1e-12);
        /* and refusals: no weight, no volume */
        amount = -1;
        assert_int_equal(dose_amount_from_nl(700000, &u, &CONC(1000, DOSE_AMOUNT_MG, 100), &no_patient, &amount, &err),
                         -EINVAL);
        assert_string_equal(err.field, "PatientWeightKg");
        assert_int_equal(dose_amount_from_nl(0, &u, &CONC(1000, DOSE_AMOUNT_MG, 100), &(struct patient) { 70, 0 },
                                             &amount, &err), -EINVAL);
        assert_true(amount == -1);
}

static void bolus_refusals_name_the_amount(void **state) {
        struct dose_unit u;
        struct dose_error err = { 0 };
        int64_t volume_nl = -1;
        const struct concentration c = CONC(1, DOSE_AMOUNT_MG, 1);

        u = unit("mg/h");
        assert_int_equal(dose_amount_to_nl(2, &u, &c, NULL, &volume_nl, &err), -EINVAL);
        assert_string_equal(err.field, "DoseAmountUnit");
        u = unit("mg/kg");
        assert_int_equal(dose_amount_to_nl(0.1, &u, &c, &no_patient, &volume_nl, &err), -EINVAL);
        assert_string_equal(err.field, "PatientWeightKg");
        assert_string_equal(err.text, "DoseAmountUnit mg/kg needs PatientWeightKg");
        u = unit("units");
        assert_int_equal(dose_amount_to_nl(2, &u, &c, NULL, &volume_nl, &err), -EINVAL);
        assert_string_equal(err.field, "DoseAmountUnit");
        u = unit("mg");
        assert_int_equal(dose_amount_to_nl(NAN, &u, &c, NULL, &volume_nl, &err), -EINVAL);
        assert_string_equal(err.field, "DoseAmount");
        assert_int_equal(dose_amount_to_nl(0, &u, &c, NULL, &volume_nl, &err), -EINVAL);
        assert_string_equal(err.field, "DoseAmount");
        assert_int_equal(dose_amount_to_nl(1e12, &u, &c, NULL, &volume_nl, &err), -EINVAL);
        assert_string_equal(err.field, "DoseAmount");
        /* 0.0123456789 mg at 1 mg/mL = 12345.6789 nL: the nearest whole nL */
        assert_int_equal(dose_amount_to_nl(0.0123456789, &u, &c, NULL, &volume_nl, &err), 0);
        assert_int_equal(volume_nl, 12346);
        volume_nl = -1;
        assert_int_equal(dose_amount_to_nl(2, &u, &CONC(1, DOSE_AMOUNT_MG, 0), NULL, &volume_nl, &err), -EINVAL);
        assert_string_equal(err.field, "Concentration");
        /* nothing is written on a refusal */
        assert_int_equal(volume_nl, -1);
}

static void every_unit_spelling_parses_back_to_itself(void **state) {
        unsigned n = 0;
        for (int a = 0; a < _DOSE_AMOUNT_MAX; a++)
                for (int b = 0; b < _DOSE_BASIS_MAX; b++)
                        for (int t = 0; t < _DOSE_TIME_MAX; t++) {
                                struct dose_unit u = { a, b, t }, back;
                                char buf[DOSE_UNIT_STRING_MAX];
                                assert_non_null(dose_unit_to_string(&u, buf, sizeof(buf)));
                                assert_int_equal(dose_unit_parse(buf, &back), 0);
                                assert_int_equal(back.amount, a);
                                assert_int_equal(back.basis, b);
                                assert_int_equal(back.time, t);
                                n++;
                        }
        assert_int_equal(n, 9 * 3 * 3);

        const char *const spellings[] = {
                "mcg/kg/min", "units/h", "mg/m2/h", "mL/h", "mL/kg/h", "mg", "mg/kg", "mL",
                "milliunits/kg/min", "mEq/h", "mmol/kg/h", "ng/kg/min", "g/h", "units/kg",
        };
        for (size_t i = 0; i < ELEMENTSOF(spellings); i++) {
                struct dose_unit u;
                char buf[DOSE_UNIT_STRING_MAX];
                assert_int_equal(dose_unit_parse(spellings[i], &u), 0);
                assert_string_equal(dose_unit_to_string(&u, buf, sizeof(buf)), spellings[i]);
        }

        for (int a = 0; a < _DOSE_AMOUNT_MAX; a++) {
                enum dose_amount back;
                assert_int_equal(dose_amount_parse(dose_amount_to_string(a), &back), 0);
                assert_int_equal(back, a);
        }
        assert_null(dose_amount_to_string(_DOSE_AMOUNT_MAX));
}

static void misspelled_units_are_refused(void **state) {
        const char *const bad[] = {
                "mcg/min/kg", "MG/h", "mg/", "", "/h", "mg//h", "mg/h/", "mg/kg/m2", "mg/hr", "mg/hour",
                "ug/kg/min", "µg/kg/min", "mcg/kg/min ", " mcg/kg/min", "ml/h", "ML/h", "U/h", "unit/h",
                "Units/h", "meq/h", "mEq/H", "mg/m²/h", "mg/kg/min/h", "mg/min/min", "h", "kg",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct dose_unit u = { DOSE_AMOUNT_G, DOSE_BASIS_M2, DOSE_TIME_MIN };
                if (dose_unit_parse(bad[i], &u) != -EINVAL)
                        fail_msg("\"%s\" was accepted", bad[i]);
                /* not written on failure */
                assert_int_equal(u.amount, DOSE_AMOUNT_G);
        }
        struct dose_unit u;
        assert_int_equal(dose_unit_parse(NULL, &u), -EINVAL);

        enum dose_amount a;
        assert_int_equal(dose_amount_parse("MG", &a), -EINVAL);
        assert_int_equal(dose_amount_parse("mg/h", &a), -EINVAL);
        assert_int_equal(dose_amount_parse("", &a), -EINVAL);
        assert_int_equal(dose_amount_parse(NULL, &a), -EINVAL);
}

static void unit_that_does_not_fit_the_buffer_is_not_printed(void **state) {
        struct dose_unit u = unit("milliunits/kg/min");
        char buf[DOSE_UNIT_STRING_MAX];
        assert_null(dose_unit_to_string(&u, buf, strlen("milliunits/kg/min")));
        assert_non_null(dose_unit_to_string(&u, buf, strlen("milliunits/kg/min") + 1));
        u.time = _DOSE_TIME_MAX;
        assert_null(dose_unit_to_string(&u, buf, sizeof(buf)));
        assert_null(dose_unit_to_string(NULL, buf, sizeof(buf)));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(clinical_dose_rates_give_the_pump_rate_worked_by_hand),
                cmocka_unit_test(pump_rate_converts_back_to_the_programmed_dose),
                cmocka_unit_test(pump_rate_is_shown_in_any_compatible_unit),
                cmocka_unit_test(volume_rate_needs_no_concentration),
                cmocka_unit_test(body_surface_area_is_mosteller),
                cmocka_unit_test(weight_based_unit_without_a_valid_weight_is_refused),
                cmocka_unit_test(per_m2_unit_without_a_valid_height_is_refused),
                cmocka_unit_test(mass_dose_from_a_units_concentration_is_refused),
                cmocka_unit_test(amounts_are_compatible_within_their_family_only),
                cmocka_unit_test(dose_that_is_not_a_finite_number_above_zero_is_refused),
                cmocka_unit_test(concentration_that_is_not_an_amount_in_a_volume_is_refused),
                cmocka_unit_test(amount_without_a_time_is_not_a_rate),
                cmocka_unit_test(unit_outside_the_enums_is_refused),
                cmocka_unit_test(dose_beyond_the_pump_range_is_refused),
                cmocka_unit_test(neonatal_rate_between_whole_nl_per_h_rounds_to_the_nearest),
                cmocka_unit_test(pump_rate_outside_the_range_cannot_be_shown_as_a_dose),
                cmocka_unit_test(bolus_and_loading_dose_give_a_volume),
                cmocka_unit_test(bolus_refusals_name_the_amount),
                cmocka_unit_test(a_volume_converts_back_to_its_amount_exactly),
                cmocka_unit_test(every_unit_spelling_parses_back_to_itself),
                cmocka_unit_test(misspelled_units_are_refused),
                cmocka_unit_test(unit_that_does_not_fit_the_buffer_is_not_printed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
