/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "db/library-json.h"
#include "safety/ders.h"

/* A small library: ICU forbids basic infusions, Med-Surg allows them. */
static const char library_json[] =
        "{\"format\": 1, \"version\": \"test v1\","
        " \"care_areas\": ["
        "  {\"id\": \"ICU\", \"name\": \"Intensive care\", \"allow_basic_infusion\": false},"
        "  {\"id\": \"Med-Surg\", \"name\": \"Medical-surgical\", \"allow_basic_infusion\": true}],"
        " \"drugs\": ["
        "  {\"id\": \"heparin\", \"name\": \"Heparin\", \"dose_unit\": \"units/h\","
        "   \"concentrations\": [{\"amount\": 25000, \"amount_unit\": \"units\", \"volume_ml\": 500}],"
        "   \"limits\": {\"ICU\": {\"dose\": {\"soft_min\": 500, \"soft_max\": 2000, \"hard_max\": 3000}}}},"
        "  {\"id\": \"dopamine\", \"name\": \"Dopamine\", \"dose_unit\": \"mcg/kg/min\","
        "   \"concentrations\": [{\"amount\": 400, \"amount_unit\": \"mg\", \"volume_ml\": 250},"
        "                        {\"amount\": 800, \"amount_unit\": \"mg\", \"volume_ml\": 250}],"
        "   \"limits\": {\"ICU\": {\"dose\": {\"soft_min\": 2, \"soft_max\": 20, \"hard_max\": 25}}}}]}";

static struct drug_library *lib;

static int setup(void **state) {
        struct library_errors errs;
        int r = library_from_json(library_json, sizeof(library_json) - 1, &lib, &errs);
        if (r < 0)
                fail_msg("test library refused: %s", errs.n ? errs.text[0] : "?");
        return 0;
}

static int teardown(void **state) {
        lib = drug_library_free(lib);
        return 0;
}

static void heparin_1000_units_per_h_runs_at_20_ml_per_h(void **state) {
        struct ders_result r;
        ders_check(lib, &(struct ders_request) { .care_area = "ICU", .drug = "heparin", .concentration = -1,
                                                 .have_dose = true, .dose_rate = 1000 }, &r);
        assert_int_equal(r.outcome, DERS_ACCEPTED);
        assert_int_equal(r.rate_nl_per_h, 20000000);
        assert_string_equal(r.drug->id, "heparin");
}

static void dopamine_needs_a_concentration_index_and_a_weight(void **state) {
        struct ders_result r;
        struct ders_request req = { .care_area = "ICU", .drug = "dopamine", .concentration = -1,
                                    .have_dose = true, .dose_rate = 5 };
        ders_check(lib, &req, &r);
        assert_int_equal(r.outcome, DERS_INVALID);
        assert_string_equal(r.field, "Concentration");
        req.concentration = 0;
        ders_check(lib, &req, &r);
        assert_int_equal(r.outcome, DERS_INVALID);
        assert_string_equal(r.field, "PatientWeightKg");
        req.patient.weight_kg = 80;
        ders_check(lib, &req, &r);
        assert_int_equal(r.outcome, DERS_ACCEPTED);
        assert_int_equal(r.rate_nl_per_h, 15000000);    /* 15.0 mL/h */
}

static void beyond_a_hard_limit_is_refused_naming_limit_value_and_unit(void **state) {
        struct ders_result r;
        ders_check(lib, &(struct ders_request) { .care_area = "ICU", .drug = "heparin", .concentration = -1,
                                                 .have_dose = true, .dose_rate = 3500,
                                                 .confirm_soft_limits = true, .override_reason = "trying" }, &r);
        assert_int_equal(r.outcome, DERS_HARD_LIMIT);
        assert_int_equal(r.verdict, LIMIT_HARD_HIGH);
        assert_non_null(strstr(r.message, "3500 units/h"));
        assert_non_null(strstr(r.message, "hard maximum of 3000 units/h"));
        /* the hard limit itself is allowed (inclusive), as a soft override */
        ders_check(lib, &(struct ders_request) { .care_area = "ICU", .drug = "heparin", .concentration = -1,
                                                 .have_dose = true, .dose_rate = 3000,
                                                 .confirm_soft_limits = true, .override_reason = "protocol" }, &r);
        assert_int_equal(r.outcome, DERS_OVERRIDDEN);
}

static void beyond_a_soft_limit_needs_confirmation_and_a_reason(void **state) {
        struct ders_result r;
        struct ders_request req = { .care_area = "ICU", .drug = "heparin", .concentration = -1,
                                    .have_dose = true, .dose_rate = 2500 };
        ders_check(lib, &req, &r);
        assert_int_equal(r.outcome, DERS_SOFT_UNCONFIRMED);
        assert_non_null(strstr(r.message, "soft maximum of 2000 units/h"));
        req.confirm_soft_limits = true;                 /* no reason yet */
        ders_check(lib, &req, &r);
        assert_int_equal(r.outcome, DERS_SOFT_UNCONFIRMED);
        req.override_reason = "aPTT below target per protocol";
        ders_check(lib, &req, &r);
        assert_int_equal(r.outcome, DERS_OVERRIDDEN);
        assert_int_equal(r.rate_nl_per_h, 50000000);
        assert_non_null(strstr(r.message, "aPTT below target"));
        /* low side too */
        req = (struct ders_request) { .care_area = "ICU", .drug = "heparin", .concentration = -1,
                                      .have_dose = true, .dose_rate = 100 };
        ders_check(lib, &req, &r);
        assert_int_equal(r.outcome, DERS_SOFT_UNCONFIRMED);
        assert_int_equal(r.verdict, LIMIT_SOFT_LOW);
}

static void a_rate_in_ml_per_h_for_a_library_drug_is_judged_as_its_dose(void **state) {
        struct ders_result r;
        /* 80 mL/h of 50 units/mL = 4000 units/h: above the hard maximum */
        ders_check(lib, &(struct ders_request) { .care_area = "ICU", .drug = "heparin", .concentration = -1,
                                                 .rate_nl_per_h = 80000000 }, &r);
        assert_int_equal(r.outcome, DERS_HARD_LIMIT);
        assert_true(fabs(r.dose_rate - 4000) < 1e-6);
}

static void unknown_drug_care_area_or_unavailable_drug_is_named(void **state) {
        struct ders_result r;
        ders_check(lib, &(struct ders_request) { .care_area = "ICU", .drug = "aspirin", .have_dose = true,
                                                 .dose_rate = 1 }, &r);
        assert_int_equal(r.outcome, DERS_UNKNOWN);
        assert_string_equal(r.field, "Drug");
        ders_check(lib, &(struct ders_request) { .care_area = "NICU", .drug = "heparin", .have_dose = true,
                                                 .dose_rate = 1 }, &r);
        assert_int_equal(r.outcome, DERS_UNKNOWN);
        assert_non_null(strstr(r.message, "ICU, Med-Surg"));
        ders_check(lib, &(struct ders_request) { .care_area = "Med-Surg", .drug = "dopamine", .have_dose = true,
                                                 .dose_rate = 5, .concentration = 0 }, &r);
        assert_int_equal(r.outcome, DERS_UNKNOWN);
        assert_non_null(strstr(r.message, "not available in care area Med-Surg"));
}

static void basic_infusion_only_where_the_care_area_allows_it(void **state) {
        struct ders_result r;
        ders_check(lib, &(struct ders_request) { .care_area = "ICU", .rate_nl_per_h = 100000000 }, &r);
        assert_int_equal(r.outcome, DERS_NOT_ALLOWED);
        ders_check(lib, &(struct ders_request) { .care_area = "Med-Surg", .rate_nl_per_h = 100000000 }, &r);
        assert_int_equal(r.outcome, DERS_ACCEPTED);
        assert_null(r.drug);
        assert_int_equal(r.rate_nl_per_h, 100000000);
        /* with a library, a care area is required */
        ders_check(lib, &(struct ders_request) { .rate_nl_per_h = 100000000 }, &r);
        assert_int_equal(r.outcome, DERS_INVALID);
        assert_string_equal(r.field, "CareArea");
}

static void without_a_library_only_basic_infusions_exist(void **state) {
        struct ders_result r;
        ders_check(NULL, &(struct ders_request) { .rate_nl_per_h = 1000000 }, &r);
        assert_int_equal(r.outcome, DERS_ACCEPTED);
        ders_check(NULL, &(struct ders_request) { .drug = "heparin", .have_dose = true, .dose_rate = 1000 }, &r);
        assert_int_equal(r.outcome, DERS_UNKNOWN);
}

static void a_dose_unit_other_than_the_librarys_is_refused(void **state) {
        struct ders_result r;
        ders_check(lib, &(struct ders_request) { .care_area = "ICU", .drug = "heparin", .concentration = -1,
                                                 .have_dose = true, .dose_rate = 18, .dose_unit = "units/kg/h" }, &r);
        assert_int_equal(r.outcome, DERS_INVALID);
        assert_string_equal(r.field, "DoseRateUnit");
        assert_non_null(strstr(r.message, "allowed: units/h"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(heparin_1000_units_per_h_runs_at_20_ml_per_h),
                cmocka_unit_test(dopamine_needs_a_concentration_index_and_a_weight),
                cmocka_unit_test(beyond_a_hard_limit_is_refused_naming_limit_value_and_unit),
                cmocka_unit_test(beyond_a_soft_limit_needs_confirmation_and_a_reason),
                cmocka_unit_test(a_rate_in_ml_per_h_for_a_library_drug_is_judged_as_its_dose),
                cmocka_unit_test(unknown_drug_care_area_or_unavailable_drug_is_named),
                cmocka_unit_test(basic_infusion_only_where_the_care_area_allows_it),
                cmocka_unit_test(without_a_library_only_basic_infusions_exist),
                cmocka_unit_test(a_dose_unit_other_than_the_librarys_is_refused),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
