/* SPDX-License-Identifier: MIT */
/* The drug library over D-Bus: import, refusal of a bad file, programming
 * by dose against hard and soft limits, and what pharmacy sees in the
 * history database. Virtual time, private bus, real daemon. */
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

#define LIB_PATH "/org/infusiond/pump1/library"
#define LIB_IFACE "org.infusiond.pump1.DrugLibrary"
#define ERR "org.infusiond.pump1.Error."

static char *read_sample(void) {
        char path[512];
        snprintf(path, sizeof(path), "%s/drug-library.sample.json", getenv("CONFIG_DIR"));
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        static char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        return buf;
}

/* Import json; returns 0 or the error, whose name and message are copied. */
static int import(struct harness *h, const char *json, char *name, char *message, size_t n) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(h->bus, "org.infusiond.pump1", LIB_PATH, LIB_IFACE, "Import", &e, &reply, "s", json);
        if (name)
                snprintf(name, 128, "%s", r < 0 && e.name ? e.name : "");
        if (message)
                snprintf(message, n, "%s", r < 0 && e.message ? e.message : "");
        sd_bus_message_unref(reply);
        sd_bus_error_free(&e);
        return r < 0 ? r : 0;
}

static int setup(void **state) {
        struct harness *h = calloc(1, sizeof(*h));
        harness_setup(h);
        harness_write_config(h, "virtual", NULL);
        harness_start_daemon(h);
        assert_int_equal(import(h, read_sample(), NULL, NULL, 0), 0);
        *state = h;
        return 0;
}

static int teardown(void **state) {
        harness_teardown(*state);
        free(*state);
        return 0;
}

#define PROGRAM(h, err, n, ...) CALL_DICT(h, "Program", err, err##_msg, n, __VA_ARGS__)

static void a_good_import_changes_the_version_and_is_audited_with_the_uid(void **state) {
        struct harness *h = *state;
        char *version = get_string(h, LIB_PATH, LIB_IFACE, "Version");
        char *sha = get_string(h, LIB_PATH, LIB_IFACE, "Sha256");
        assert_string_equal(version, "2026-11 sample v1");
        assert_int_equal(strlen(sha), 64);

        /* Sha256 is of exactly what Export returns */
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *json;
        assert_true(sd_bus_call_method(h->bus, "org.infusiond.pump1", LIB_PATH, LIB_IFACE, "Export", &e, &reply, "") >= 0);
        assert_true(sd_bus_message_read(reply, "s", &json) > 0);
        unsigned char md[32];
        unsigned len;
        char hex[65];
        EVP_Digest(json, strlen(json), md, &len, EVP_sha256(), NULL);
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        assert_string_equal(hex, sha);
        sd_bus_message_unref(reply);

        char sql[256];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE method = 'DrugLibrary.Import' AND outcome = 'ok' AND uid = %d",
                 (int) geteuid());
        assert_int_equal(harness_query_i64(h, sql), 1);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM v_drug_libraries WHERE in_use AND imported_by_uid = %d AND sha256 = '%s'",
                 (int) geteuid(), sha);
        assert_int_equal(harness_query_i64(h, sql), 1);
        free(version);
        free(sha);
}

static void a_broken_library_is_refused_at_its_json_path_and_nothing_changes(void **state) {
        struct harness *h = *state;
        char name[128], message[1024];
        char *before = get_string(h, LIB_PATH, LIB_IFACE, "Sha256");

        /* the sample with its fourth drug's first concentration at 0 */
        char *json = strdup(read_sample());
        char *d = json;
        for (int i = 0; i < 4; i++)
                d = strstr(d + 1, "\"concentrations\"");
        char *amount = strstr(d, "\"amount\": ");
        assert_non_null(amount);
        amount += strlen("\"amount\": ");
        char *end = amount + strspn(amount, "0123456789.");
        memmove(amount + 1, end, strlen(end) + 1);
        amount[0] = '0';

        assert_true(import(h, json, name, message, sizeof(message)) < 0);
        assert_string_equal(name, ERR "InvalidArgument");
        if (!strstr(message, "drugs[3].concentrations[0].amount: must be > 0"))
                fail_msg("message lacks the path: %s", message);
        char *after = get_string(h, LIB_PATH, LIB_IFACE, "Sha256");
        assert_string_equal(before, after);
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM drug_libraries"), 1);
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM audit WHERE method = 'DrugLibrary.Import'"
                                      " AND outcome = 'org.infusiond.pump1.Error.InvalidArgument'"), 1);
        free(json);
        free(before);
        free(after);
}

static void heparin_by_dose_is_shown_in_ml_per_h(void **state) {
        struct harness *h = *state;
        char err[128], err_msg[512];
        assert_int_equal(PROGRAM(h, err, 4, "CareArea", "s", "ICU", "Drug", "s", "heparin",
                                 "DoseRate", "d", 1000.0, "VtbiMl", "d", 50.0), 0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "RateMlPerHour") == 20.0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "DoseRate") == 1000.0);
        char *unit = get_string(h, CH_PATH, CH_IFACE, "DoseRateUnit");
        char *drug = get_string(h, CH_PATH, CH_IFACE, "DrugName");
        assert_string_equal(unit, "units/h");
        assert_string_equal(drug, "Heparin");
        free(unit);
        free(drug);

        /* it runs at that rate, and the history says what it was */
        assert_int_equal(call_simple(h, "Start", err, sizeof(err)), 0);
        call_advance(h, 30 * 60 * 1000000ULL);
        assert_true(fabs(get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl") - 10.0) < 0.0002);
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM infusions WHERE drug_id = 'heparin' AND care_area = 'ICU'"
                                      " AND dose_rate = 1000 AND dose_unit = 'units/h' AND rate_nl_per_h = 20000000"), 1);
}

static void dopamine_by_weight_gives_15_ml_per_h(void **state) {
        struct harness *h = *state;
        char err[128], err_msg[512];
        /* 5 mcg/kg/min, 80 kg, 400 mg / 250 mL (concentration 0) */
        assert_true(PROGRAM(h, err, 5, "CareArea", "s", "ICU", "Drug", "s", "dopamine", "Concentration", "u", 0,
                            "DoseRate", "d", 5.0, "VtbiMl", "d", 50.0) < 0);
        assert_string_equal(err, ERR "InvalidArgument");
        assert_non_null(strstr(err_msg, "PatientWeightKg"));
        assert_int_equal(PROGRAM(h, err, 6, "CareArea", "s", "ICU", "Drug", "s", "dopamine", "Concentration", "u", 0,
                                 "DoseRate", "d", 5.0, "PatientWeightKg", "d", 80.0, "VtbiMl", "d", 50.0), 0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "RateMlPerHour") == 15.0);

        /* The concentration by value instead of index: 800 mg / 250 mL
         * is twice as strong, so half the rate. */
        assert_int_equal(PROGRAM(h, err, 6, "CareArea", "s", "ICU", "Drug", "s", "dopamine",
                                 "Concentration", "(dsd)", 800.0, "mg", 250.0,
                                 "DoseRate", "d", 5.0, "PatientWeightKg", "d", 80.0, "VtbiMl", "d", 50.0), 0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "RateMlPerHour") == 7.5);
        char *conc = get_string(h, CH_PATH, CH_IFACE, "Concentration");
        assert_string_equal(conc, "800 mg / 250 mL");
        free(conc);
        /* a strength the library does not stock is refused by name */
        assert_true(PROGRAM(h, err, 6, "CareArea", "s", "ICU", "Drug", "s", "dopamine",
                            "Concentration", "(dsd)", 1600.0, "mg", 250.0,
                            "DoseRate", "d", 5.0, "PatientWeightKg", "d", 80.0, "VtbiMl", "d", 50.0) < 0);
        assert_string_equal(err, ERR "InvalidArgument");
        assert_non_null(strstr(err_msg, "not stocked as 1600 mg / 250 mL"));
}

static void over_a_hard_limit_is_refused_and_nothing_changes(void **state) {
        struct harness *h = *state;
        char err[128], err_msg[512];
        assert_int_equal(PROGRAM(h, err, 4, "CareArea", "s", "ICU", "Drug", "s", "heparin",
                                 "DoseRate", "d", 1000.0, "VtbiMl", "d", 50.0), 0);
        assert_true(PROGRAM(h, err, 6, "CareArea", "s", "ICU", "Drug", "s", "heparin", "DoseRate", "d", 5000.0,
                            "VtbiMl", "d", 50.0, "ConfirmSoftLimits", "b", 1, "OverrideReason", "s", "please") < 0);
        assert_string_equal(err, ERR "HardLimit");
        assert_non_null(strstr(err_msg, "5000 units/h"));
        assert_non_null(strstr(err_msg, "hard maximum of 3000 units/h"));
        /* the earlier program stands */
        assert_true(get_double(h, CH_PATH, CH_IFACE, "DoseRate") == 1000.0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "RateMlPerHour") == 20.0);
        /* a rate in mL/h is judged as the dose it gives: 80 mL/h = 4000 units/h */
        assert_true(PROGRAM(h, err, 4, "CareArea", "s", "ICU", "Drug", "s", "heparin",
                            "RateMlPerHour", "d", 80.0, "VtbiMl", "d", 50.0) < 0);
        assert_string_equal(err, ERR "HardLimit");
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM limit_events WHERE kind = 'hard-refused' AND care_area = 'ICU'"
                                      " AND drug_id = 'heparin'"), 2);
        assert_int_equal(harness_query_i64(h, "SELECT hard_stops FROM v_library_compliance WHERE care_area = 'ICU'"), 2);
}

static void over_a_soft_limit_needs_confirmation_and_the_override_is_recorded(void **state) {
        struct harness *h = *state;
        char err[128], err_msg[512], sql[256];
        assert_true(PROGRAM(h, err, 4, "CareArea", "s", "ICU", "Drug", "s", "heparin", "DoseRate", "d", 2500.0,
                            "VtbiMl", "d", 50.0) < 0);
        assert_string_equal(err, ERR "SoftLimitUnconfirmed");
        assert_non_null(strstr(err_msg, "soft maximum of 2000 units/h"));
        char *ch_state = get_string(h, CH_PATH, CH_IFACE, "State");
        assert_string_equal(ch_state, "idle");
        free(ch_state);

        assert_int_equal(PROGRAM(h, err, 6, "CareArea", "s", "ICU", "Drug", "s", "heparin", "DoseRate", "d", 2500.0,
                                 "VtbiMl", "d", 50.0, "ConfirmSoftLimits", "b", 1,
                                 "OverrideReason", "s", "aPTT below range per protocol"), 0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "RateMlPerHour") == 50.0);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM v_limit_events WHERE kind = 'soft-override' AND value = 2500"
                 " AND unit = 'units/h' AND reason = 'aPTT below range per protocol' AND uid = %d", (int) geteuid());
        assert_int_equal(harness_query_i64(h, sql), 1);
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM limit_events WHERE kind = 'soft-refused'"), 1);
        assert_int_equal(harness_query_i64(h, "SELECT soft_overrides FROM v_library_compliance WHERE care_area = 'ICU'"), 1);
}

static void unknown_drug_and_unavailable_drug_are_named(void **state) {
        struct harness *h = *state;
        char err[128], err_msg[512];
        assert_true(PROGRAM(h, err, 4, "CareArea", "s", "ICU", "Drug", "s", "snake-oil", "DoseRate", "d", 1.0,
                            "VtbiMl", "d", 10.0) < 0);
        assert_string_equal(err, ERR "UnknownDrug");
        assert_true(PROGRAM(h, err, 4, "CareArea", "s", "NICU", "Drug", "s", "heparin", "DoseRate", "d", 1.0,
                            "VtbiMl", "d", 10.0) < 0);
        assert_string_equal(err, ERR "UnknownDrug");
        assert_non_null(strstr(err_msg, "ICU"));
}

static void basic_infusions_only_where_the_care_area_allows_and_marked_as_such(void **state) {
        struct harness *h = *state;
        char err[128], err_msg[512];
        assert_true(PROGRAM(h, err, 3, "CareArea", "s", "ICU", "RateMlPerHour", "d", 100.0, "VtbiMl", "d", 10.0) < 0);
        assert_string_equal(err, ERR "BasicInfusionNotAllowed");
        assert_true(PROGRAM(h, err, 2, "RateMlPerHour", "d", 100.0, "VtbiMl", "d", 10.0) < 0);
        assert_string_equal(err, ERR "InvalidArgument");         /* care area required */
        assert_int_equal(PROGRAM(h, err, 3, "CareArea", "s", "Med-Surg", "RateMlPerHour", "d", 100.0,
                                 "VtbiMl", "d", 10.0), 0);
        assert_int_equal(call_simple(h, "Start", err, sizeof(err)), 0);
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM infusions WHERE care_area = 'Med-Surg' AND drug_id IS NULL"), 1);
        assert_int_equal(harness_query_i64(h, "SELECT library_use_pct FROM v_library_compliance WHERE care_area = 'Med-Surg'"), 0);
}

#define TITRATE(h, err, n, ...) CALL_DICT(h, "Titrate", err, err##_msg, n, __VA_ARGS__)

static void titration_by_dose_is_checked_against_the_same_limits_and_recorded(void **state) {
        struct harness *h = *state;
        char err[128], err_msg[512];
        assert_int_equal(PROGRAM(h, err, 4, "CareArea", "s", "ICU", "Drug", "s", "heparin",
                                 "DoseRate", "d", 1000.0, "VtbiMl", "d", 50.0), 0);
        assert_int_equal(call_simple(h, "Start", err, sizeof(err)), 0);
        call_advance(h, 30 * 60 * 1000000ULL);                          /* 10 mL at 20 mL/h */

        assert_int_equal(TITRATE(h, err, 1, "DoseRate", "d", 1500.0), 0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 30.0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "DoseRate") == 1500.0);
        call_advance(h, 20 * 60 * 1000000ULL);                          /* + 10 mL at 30 mL/h */
        double v = get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
        assert_true(fabs(v - 20.0) < 0.02);

        /* beyond the hard limit: refused, the rate stands */
        assert_true(TITRATE(h, err, 1, "DoseRate", "d", 5000.0) < 0);
        assert_string_equal(err, ERR "HardLimit");
        assert_true(get_double(h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 30.0);
        /* beyond a soft limit: needs confirmation, as at Program */
        assert_true(TITRATE(h, err, 1, "RateMlPerHour", "d", 50.0) < 0);
        assert_string_equal(err, ERR "SoftLimitUnconfirmed");
        assert_int_equal(TITRATE(h, err, 3, "RateMlPerHour", "d", 50.0, "ConfirmSoftLimits", "b", 1,
                                 "OverrideReason", "s", "bolus protocol"), 0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "DoseRate") == 2500.0);
        char *ch_state = get_string(h, CH_PATH, CH_IFACE, "State");
        assert_string_equal(ch_state, "running");
        free(ch_state);

        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM events WHERE kind = 'titrated'"), 2);
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM limit_events WHERE kind = 'soft-override'"
                                      " AND reason = 'bolus protocol'"), 1);
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM audit WHERE method = 'Channel.Titrate'"), 4);
}

#define BOLUS(h, err, n, ...) CALL_DICT(h, "Bolus", err, err##_msg, n, __VA_ARGS__)

static void clinician_bolus_is_checked_against_the_bolus_limits(void **state) {
        struct harness *h = *state;
        char err[128], err_msg[512];
        /* ICU heparin bolus: soft max 5000 units, hard max 10000 (50 units/mL) */
        assert_int_equal(PROGRAM(h, err, 4, "CareArea", "s", "ICU", "Drug", "s", "heparin",
                                 "DoseRate", "d", 1000.0, "VtbiMl", "d", 50.0), 0);
        assert_true(BOLUS(h, err, 2, "BolusDose", "d", 1000.0, "BolusRateMlPerHour", "d", 600.0) < 0);
        assert_string_equal(err, ERR "InvalidState");           /* not running yet */
        assert_int_equal(call_simple(h, "Start", err, sizeof(err)), 0);
        call_advance(h, 6 * 60 * 1000000ULL);                   /* 2 mL */

        assert_true(BOLUS(h, err, 2, "BolusDose", "d", 12000.0, "BolusRateMlPerHour", "d", 600.0) < 0);
        assert_string_equal(err, ERR "HardLimit");
        assert_non_null(strstr(err_msg, "hard maximum of 10000 units"));
        assert_true(BOLUS(h, err, 2, "BolusDose", "d", 6000.0, "BolusRateMlPerHour", "d", 600.0) < 0);
        assert_string_equal(err, ERR "SoftLimitUnconfirmed");

        /* 1000 units = 20 mL at 600 mL/h: 2 min, then back to 20 mL/h */
        assert_int_equal(BOLUS(h, err, 2, "BolusDose", "d", 1000.0, "BolusRateMlPerHour", "d", 600.0), 0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 600.0);
        call_advance(h, 2 * 60 * 1000000ULL + 200000);
        assert_true(fabs(get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl") - 22.0) < 0.01);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 20.0);
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM events WHERE kind = 'bolus'"), 1);
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM limit_events WHERE kind = 'hard-refused'"), 1);
}

static void the_library_survives_a_restart(void **state) {
        struct harness *h = *state;
        char *before = get_string(h, LIB_PATH, LIB_IFACE, "Sha256");
        harness_kill_daemon(h, SIGKILL);
        harness_start_daemon(h);
        char *after = get_string(h, LIB_PATH, LIB_IFACE, "Sha256");
        assert_string_equal(before, after);
        free(before);
        free(after);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(a_good_import_changes_the_version_and_is_audited_with_the_uid),
                T(a_broken_library_is_refused_at_its_json_path_and_nothing_changes),
                T(heparin_by_dose_is_shown_in_ml_per_h),
                T(dopamine_by_weight_gives_15_ml_per_h),
                T(over_a_hard_limit_is_refused_and_nothing_changes),
                T(over_a_soft_limit_needs_confirmation_and_the_override_is_recorded),
                T(unknown_drug_and_unavailable_drug_are_named),
                T(basic_infusions_only_where_the_care_area_allows_and_marked_as_such),
                T(titration_by_dose_is_checked_against_the_same_limits_and_recorded),
                T(clinician_bolus_is_checked_against_the_bolus_limits),
                T(the_library_survives_a_restart),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
