/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"

/* The required keys and nothing else; tests add to it. Line numbers matter
 * to the messages: [pump] is line 1, path is line 10. */
#define MINIMAL                                         \
        "[pump]\n"                                      \
        "backend = sim\n"                               \
        "[mechanism]\n"                                 \
        "lead_pitch_mm = 1\n"                           \
        "steps_per_rev = 200\n"                         \
        "microsteps = 16\n"                             \
        "syringe_inner_diameter_mm = 26.6\n"            \
        "syringe_volume_ml = 60\n"                      \
        "[database]\n"                                  \
        "path = history.db\n"

/* Parse text as "t.conf"; returns what config_load_string() returned and
 * everything it wrote to err (caller frees). */
static int load(const char *text, struct config **ret, char **ret_err) {
        char *buf = NULL;
        size_t size = 0;
        FILE *err = open_memstream(&buf, &size);
        assert_non_null(err);

        int r = config_load_string("t.conf", text, err, ret);
        assert_int_equal(fclose(err), 0);
        *ret_err = buf;
        return r;
}

/* Asserts text is refused with exactly expected_err. */
static void assert_refused(const char *text, const char *expected_err) {
        struct config *c = (struct config *) 0x1;   /* must stay untouched */
        char *err;

        assert_int_equal(load(text, &c, &err), -EINVAL);
        assert_ptr_equal(c, (struct config *) 0x1);
        assert_string_equal(err, expected_err);
        free(err);
}

static struct config *assert_loads(const char *text) {
        struct config *c = NULL;
        char *err;

        int r = load(text, &c, &err);
        assert_string_equal(err, "");
        assert_int_equal(r, 0);
        assert_non_null(c);
        free(err);
        return c;
}

static char *example_path(const char *file) {
        const char *dir = getenv("CONFIG_DIR");
        char *path;

        assert_non_null(dir);   /* set by tests/unit/meson.build */
        assert_true(asprintf(&path, "%s/%s", dir, file) > 0);
        return path;
}

static void example_sim_conf_loads_with_its_documented_values(void **state) {
        char *path = example_path("sim.conf");
        struct config *c = NULL;
        char *err = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&err, &size);

        assert_int_equal(config_load(path, f, &c), 0);
        fclose(f);
        assert_string_equal(err, "");
        assert_string_equal(c->path, path);
        assert_string_equal(c->backend, "sim");
        assert_int_equal(c->geometry.lead_pitch_um, 1000);
        assert_int_equal(c->geometry.steps_per_rev, 200);
        assert_int_equal(c->geometry.microsteps, 16);
        assert_int_equal(c->geometry.syringe_inner_diameter_um, 26600);
        assert_int_equal(c->geometry.max_step_rate_hz, 5000);
        assert_int_equal(c->syringe_volume_nl, 60000000);
        assert_int_equal(c->clock, CONFIG_CLOCK_VIRTUAL);
        assert_int_equal(c->seed, 42);
        assert_string_equal(c->database_path, "infusiond-sim.db");
        assert_true(c->occlusion_trend);
        assert_true(c->occlusion_back_off);

        config_free(c);
        free(err);
        free(path);
}

static void example_demo_conf_loads_with_real_time_and_a_relative_database(void **state) {
        char *path = example_path("demo.conf");
        struct config *c = NULL;

        assert_int_equal(config_load(path, stderr, &c), 0);
        assert_int_equal(c->clock, CONFIG_CLOCK_REAL);
        assert_string_equal(c->database_path, "infusiond-demo.db");
        assert_int_equal(c->geometry.syringe_inner_diameter_um, 26600);

        config_free(c);
        free(path);
}

static void every_key_is_converted_once_to_integer_units(void **state) {
        struct config *c = assert_loads(
                "[pump]\n"
                "backend = sim\n"
                "[mechanism]\n"
                "lead_pitch_mm = 0.5\n"
                "steps_per_rev = 400\n"
                "microsteps = 256\n"
                "syringe_inner_diameter_mm = 14.5\n"
                "syringe_volume_ml = 10.5\n"
                "max_step_rate_hz = 20000\n"
                "[limits]\n"
                "max_rate_ml_per_h = 0.3\n"
                "max_vtbi_ml = 0.001\n"
                "kvo_rate_ml_per_h = 0.25\n"
                "max_kvo_rate_ml_per_h = 0.25\n"
                "pca_bolus_rate_ml_per_h = 1.5\n"
                "lease_ms = 300\n"
                "control_period_ms = 12.5\n"
                "checkpoint_period_ms = 60000\n"
                "[database]\n"
                "path = /tmp/x y.db\n"
                "[simulation]\n"
                "clock = virtual\n"
                "seed = 18446744073709551615\n"
                "line_compliance_ul_per_mmhg = 2.5\n"
                "line_resistance_mmhg_per_ml_per_h = 0.001\n"
                "patient_pressure_mmhg = -12.5\n"
                "pressure_noise_mmhg = 0\n"
                "step_log = /tmp/steps log.txt\n"
                "plunger_file = /tmp/plunger\n");

        assert_int_equal(c->geometry.lead_pitch_um, 500);
        assert_int_equal(c->geometry.steps_per_rev, 400);
        assert_int_equal(c->geometry.microsteps, 256);
        assert_int_equal(c->geometry.syringe_inner_diameter_um, 14500);
        assert_int_equal(c->syringe_volume_nl, 10500000);
        assert_int_equal(c->geometry.max_step_rate_hz, 20000);
        /* 0.3 is not exact in binary: must land on 300000, not 299999 */
        assert_int_equal(c->max_rate_nl_per_h, 300000);
        assert_int_equal(c->pca_bolus_rate_nl_per_h, 1500000);
        assert_int_equal(c->max_vtbi_nl, 1000);
        assert_int_equal(c->kvo_rate_nl_per_h, 250000);
        assert_int_equal(c->max_kvo_rate_nl_per_h, 250000);
        assert_int_equal(c->lease_us, 300000);
        assert_int_equal(c->control_period_us, 12500);
        assert_int_equal(c->checkpoint_period_us, 60000000);
        assert_string_equal(c->database_path, "/tmp/x y.db");
        assert_int_equal(c->clock, CONFIG_CLOCK_VIRTUAL);
        assert_true(c->seed == UINT64_MAX);
        assert_float_equal(c->line_compliance_nl_per_mmhg, 2500.0, 1e-9);
        assert_float_equal(c->line_resistance_mmhg_per_ml_per_h, 0.001, 1e-12);
        assert_float_equal(c->patient_pressure_mmhg, -12.5, 1e-12);
        assert_float_equal(c->pressure_noise_mmhg, 0.0, 0.0);
        assert_string_equal(c->step_log_path, "/tmp/steps log.txt");
        assert_string_equal(c->plunger_file_path, "/tmp/plunger");
        assert_string_equal(c->path, "t.conf");
        config_free(c);
}

static void defaults_apply_to_the_optional_keys_left_out(void **state) {
        struct config *c = assert_loads(MINIMAL);

        assert_int_equal(c->geometry.max_step_rate_hz, 5000);
        assert_int_equal(c->max_rate_nl_per_h, 1200000000);
        assert_int_equal(c->max_vtbi_nl, INT64_C(9999000000));
        assert_int_equal(c->kvo_rate_nl_per_h, 1000000);
        assert_int_equal(c->max_kvo_rate_nl_per_h, 20000000);
        assert_int_equal(c->lease_us, 500000);
        assert_int_equal(c->control_period_us, 100000);
        assert_int_equal(c->checkpoint_period_us, 1000000);
        assert_int_equal(c->clock, CONFIG_CLOCK_REAL);
        assert_int_equal(c->seed, 1);
        assert_float_equal(c->line_compliance_nl_per_mmhg, 1400.0, 1e-9);
        assert_float_equal(c->line_resistance_mmhg_per_ml_per_h, 0.3, 1e-12);
        assert_float_equal(c->patient_pressure_mmhg, 8.0, 1e-12);
        assert_float_equal(c->pressure_noise_mmhg, 0.5, 1e-12);
        assert_string_equal(c->step_log_path, "");      /* step times not kept */
        assert_string_equal(c->plunger_file_path, "");  /* the plunger dies with the daemon */
        /* [alarms]: GIP and CLINICAL.md figures */
        assert_int_equal(c->escalate_after_us, 120 * 1000000LL);
        assert_int_equal(c->idle_alert_us, 120 * 1000000LL);
        assert_int_equal(c->idle_alarm_us, 300 * 1000000LL);
        assert_int_equal(c->near_end_us, 5 * 60 * 1000000LL);
        assert_float_equal(c->occlusion_limit_mmhg, 300.0, 0.0);
        assert_true(c->occlusion_trend);
        assert_true(c->occlusion_back_off);
        assert_int_equal(c->occlusion_auto_restarts, 0);
        assert_int_equal(c->air_bubble_nl, 100000);
        assert_int_equal(c->air_accumulated_nl, 500000);
        assert_int_equal(c->air_window_us, 15 * 60 * 1000000LL);
        assert_float_equal(c->accuracy_tolerance_pct, 10.0, 0.0);
        assert_int_equal(c->battery_low_s, 900);
        assert_int_equal(c->battery_depleted_s, 300);
        assert_float_equal(c->movement_amplitude_mmhg, 0.0, 0.0);
        assert_float_equal(c->position_noise_mm, 0.005, 1e-12);
        assert_float_equal(c->battery_runtime_min, 240.0, 0.0);
        config_free(c);
}

static void alarm_keys_are_read_and_checked_against_each_other(void **state) {
        struct config *c = assert_loads(MINIMAL "[alarms]\nocclusion_trend = off\nair_bubble_ul = 50\n"
                                        "occlusion_limit_mmhg = 517\nbattery_low_min = 30\n");
        assert_false(c->occlusion_trend);
        assert_int_equal(c->air_bubble_nl, 50000);
        assert_float_equal(c->occlusion_limit_mmhg, 517.0, 0.0);
        assert_int_equal(c->battery_low_s, 1800);
        config_free(c);

        assert_refused(MINIMAL "[alarms]\nocclusion_trend = maybe\n",
                       "t.conf:12: occlusion_trend: \"maybe\" is not allowed "
                       "(allowed: yes, no, true, false, on, off, 1, 0)\n");
        /* Back-off off: the pump stops at the alarm but does not reverse. */
        c = assert_loads(MINIMAL "[alarms]\nocclusion_back_off = no\n");
        assert_false(c->occlusion_back_off);
        assert_true(c->occlusion_trend);
        config_free(c);
        c = assert_loads(MINIMAL "[alarms]\nocclusion_back_off = yes\n");
        assert_true(c->occlusion_back_off);
        config_free(c);
        assert_refused(MINIMAL "[alarms]\nocclusion_back_off = later\n",
                       "t.conf:12: occlusion_back_off: \"later\" is not allowed "
                       "(allowed: yes, no, true, false, on, off, 1, 0)\n");
        /* GIP 1.9.1: a bubble over 200 µL must alarm, so a higher limit is refused. */
        assert_refused(MINIMAL "[alarms]\nair_bubble_ul = 250\n",
                       "t.conf:12: air_bubble_ul: \"250\" is out of range (allowed: 20 to 200 µL)\n");
        /* ECRI: 1034 mmHg is the ceiling; we stop at 1000. */
        assert_refused(MINIMAL "[alarms]\nocclusion_limit_mmhg = 1034\n",
                       "t.conf:12: occlusion_limit_mmhg: \"1034\" is out of range (allowed: 50 to 1000 mmHg)\n");
        assert_refused(MINIMAL "[alarms]\nidle_alert_s = 400\n",
                       "t.conf:12: idle_alert_s: idle_alarm_s (300 s) must be longer than idle_alert_s (400 s)\n");
        assert_refused(MINIMAL "[alarms]\nbattery_depleted_min = 20\n",
                       "t.conf:12: battery_depleted_min: battery_depleted_min (20 min) must be less than "
                       "battery_low_min (15 min)\n");
}

static void comments_blank_lines_and_indentation_are_accepted(void **state) {
        struct config *c = assert_loads(
                "\xEF\xBB\xBF# a BOM, then a comment\n"
                "; another\n"
                "\n"
                "   [pump]   ; why sim: no hardware here\n"
                "\tbackend = sim\n"
                "[mechanism]\r\n"
                "lead_pitch_mm = 1 ; mm\r\n"
                "steps_per_rev = 200\n"
                "microsteps = 16\n"
                "syringe_inner_diameter_mm = 26.6\n"
                "syringe_volume_ml = 60\n"
                "[database]\n"
                "path = a;b.db\n"       /* ';' not after a blank is not a comment */
                "[limits]\n"
                "max_rate_ml_per_h = 500");     /* no final newline */

        assert_int_equal(c->geometry.lead_pitch_um, 1000);
        assert_string_equal(c->database_path, "a;b.db");
        assert_int_equal(c->max_rate_nl_per_h, 500000000);
        config_free(c);
}

static void misspelt_key_is_refused_with_file_line_and_key(void **state) {
        assert_refused(
                "[pump]\n"
                "backend = sim\n"
                "[mechanism]\n"
                "lead_pich_mm = 1\n"
                "steps_per_rev = 200\n"
                "microsteps = 16\n"
                "syringe_inner_diameter_mm = 26.6\n"
                "syringe_volume_ml = 60\n"
                "[database]\n"
                "path = history.db\n",
                "t.conf:4: lead_pich_mm: unknown key in [mechanism] (known: lead_pitch_mm, "
                "steps_per_rev, microsteps, syringe_inner_diameter_mm, syringe_volume_ml, max_step_rate_hz)\n"
                "t.conf: [mechanism] lead_pitch_mm: missing (required)\n");
}

static void keys_are_case_sensitive(void **state) {
        assert_refused(MINIMAL "[limits]\nLease_ms = 500\n",
                       "t.conf:12: Lease_ms: unknown key in [limits] (known: max_rate_ml_per_h, max_vtbi_ml, "
                       "kvo_rate_ml_per_h, max_kvo_rate_ml_per_h, pca_bolus_rate_ml_per_h, lease_ms, control_period_ms, "
                       "checkpoint_period_ms)\n");
}

static void unknown_section_is_refused_once_at_its_header(void **state) {
        assert_refused(MINIMAL "[limit]\nmax_rate_ml_per_h = 100\nlease_ms = 400\n[alarm]\n",
                       "t.conf:11: [limit]: unknown section (known: pump, mechanism, limits, database, alarms, simulation, "
                       "stepper, dc_motor, inputs, outputs, pressure_downstream, pressure_upstream, "
                       "plunger_position, battery_voltage, power)\n"
                       "t.conf:14: [alarm]: unknown section (known: pump, mechanism, limits, database, alarms, simulation, "
                       "stepper, dc_motor, inputs, outputs, pressure_downstream, pressure_upstream, "
                       "plunger_position, battery_voltage, power)\n");
}

static void key_before_any_section_is_refused(void **state) {
        assert_refused("lease_ms = 500\n" MINIMAL,
                       "t.conf:1: lease_ms: outside any section (sections: pump, mechanism, limits, database, alarms, simulation, "
                       "stepper, dc_motor, inputs, outputs, pressure_downstream, pressure_upstream, "
                       "plunger_position, battery_voltage, power)\n");
}

static void bad_number_names_the_allowed_range_and_unit(void **state) {
        assert_refused(MINIMAL "[limits]\nmax_rate_ml_per_h = abc\nlease_ms =\n",
                       "t.conf:12: max_rate_ml_per_h: \"abc\" is not a number (allowed: 0.01 to 9999 mL/h)\n"
                       "t.conf:13: lease_ms: empty (allowed: 20 to 5000 ms)\n");
}

static void trailing_garbage_after_a_number_is_refused(void **state) {
        assert_refused(MINIMAL "[limits]\nmax_vtbi_ml = 12abc\nmax_rate_ml_per_h = 1,5\n"
                       "[mechanism]\nmax_step_rate_hz = 12abc\n",
                       "t.conf:12: max_vtbi_ml: \"12abc\" is not a number (allowed: 0.001 to 9999 mL)\n"
                       "t.conf:13: max_rate_ml_per_h: \"1,5\" is not a number (allowed: 0.01 to 9999 mL/h)\n"
                       "t.conf:15: max_step_rate_hz: \"12abc\" is not a whole number (allowed: 1 to 100000 Hz)\n");
}

static void nan_infinity_and_hex_floats_are_refused(void **state) {
        assert_refused(MINIMAL "[simulation]\n"
                       "patient_pressure_mmhg = nan\n"
                       "pressure_noise_mmhg = inf\n"
                       "line_compliance_ul_per_mmhg = -INFINITY\n"
                       "line_resistance_mmhg_per_ml_per_h = 0x1p-4\n",
                       "t.conf:12: patient_pressure_mmhg: \"nan\" is not a number (allowed: -50 to 300 mmHg)\n"
                       "t.conf:13: pressure_noise_mmhg: \"inf\" is not a number (allowed: 0 to 50 mmHg)\n"
                       "t.conf:14: line_compliance_ul_per_mmhg: \"-INFINITY\" is not a number (allowed: 0.01 to 100 µL/mmHg)\n"
                       "t.conf:15: line_resistance_mmhg_per_ml_per_h: \"0x1p-4\" is not a number "
                       "(allowed: 0.001 to 100 mmHg per mL/h)\n");
}

static void out_of_range_value_names_the_range_and_unit(void **state) {
        assert_refused(MINIMAL "[limits]\n"
                       "max_rate_ml_per_h = 10000\n"
                       "max_kvo_rate_ml_per_h = 1e400\n"
                       "max_vtbi_ml = 0.0009\n"
                       "[simulation]\n"
                       "patient_pressure_mmhg = 300.5\n",
                       "t.conf:12: max_rate_ml_per_h: \"10000\" is out of range (allowed: 0.01 to 9999 mL/h)\n"
                       "t.conf:13: max_kvo_rate_ml_per_h: \"1e400\" is out of range (allowed: 0 to 50 mL/h)\n"
                       "t.conf:14: max_vtbi_ml: \"0.0009\" is out of range (allowed: 0.001 to 9999 mL)\n"
                       "t.conf:16: patient_pressure_mmhg: \"300.5\" is out of range (allowed: -50 to 300 mmHg)\n");
}

static void range_edges_are_accepted(void **state) {
        struct config *c = assert_loads(MINIMAL "[limits]\n"
                                        "max_rate_ml_per_h = 0.01\n"
                                        "max_vtbi_ml = 9999\n"
                                        "kvo_rate_ml_per_h = 0\n"
                                        "max_kvo_rate_ml_per_h = 0\n"
                                        "lease_ms = 5000\n"
                                        "control_period_ms = 5\n");
        assert_int_equal(c->max_rate_nl_per_h, 10000);
        assert_int_equal(c->kvo_rate_nl_per_h, 0);
        assert_int_equal(c->control_period_us, 5000);
        config_free(c);
}

static void value_finer_than_the_stored_unit_is_refused_not_rounded(void **state) {
        assert_refused(
                "[pump]\n"
                "backend = sim\n"
                "[mechanism]\n"
                "lead_pitch_mm = 1.0004\n"
                "steps_per_rev = 200\n"
                "microsteps = 16\n"
                "syringe_inner_diameter_mm = 26.6\n"
                "syringe_volume_ml = 60.0000001\n"
                "[database]\n"
                "path = history.db\n"
                "[limits]\n"
                "lease_ms = 500.0001\n",
                "t.conf:4: lead_pitch_mm: \"1.0004\" is finer than the resolution of 1 µm (allowed: 0.1 to 20 mm)\n"
                "t.conf:8: syringe_volume_ml: \"60.0000001\" is finer than the resolution of 1 nL (allowed: 0.5 to 1000 mL)\n"
                "t.conf:12: lease_ms: \"500.0001\" is finer than the resolution of 1 µs (allowed: 20 to 5000 ms)\n");
}

static void tiny_lead_pitch_is_refused_not_turned_into_zero(void **state) {
        assert_refused(
                "[pump]\n"
                "backend = sim\n"
                "[mechanism]\n"
                "lead_pitch_mm = 0.0000001\n"
                "steps_per_rev = 200\n"
                "microsteps = 16\n"
                "syringe_inner_diameter_mm = 26.6\n"
                "syringe_volume_ml = 60\n"
                "[database]\n"
                "path = history.db\n",
                "t.conf:4: lead_pitch_mm: \"0.0000001\" is out of range (allowed: 0.1 to 20 mm)\n");
}

static void whole_number_keys_refuse_fractions_and_overflow(void **state) {
        assert_refused(MINIMAL "[mechanism]\nmax_step_rate_hz = 1.5\n"
                       "[simulation]\nseed = -1\n",
                       "t.conf:12: max_step_rate_hz: \"1.5\" is not a whole number (allowed: 1 to 100000 Hz)\n"
                       "t.conf:14: seed: \"-1\" is not a whole number (allowed: 0 to 18446744073709551615)\n");
        assert_refused(MINIMAL "[simulation]\nseed = 18446744073709551616\n"
                       "[mechanism]\nmax_step_rate_hz = 99999999999999999999\n",
                       "t.conf:12: seed: \"18446744073709551616\" is out of range (allowed: 0 to 18446744073709551615)\n"
                       "t.conf:14: max_step_rate_hz: \"99999999999999999999\" is out of range (allowed: 1 to 100000 Hz)\n");
}

static void microsteps_must_be_a_power_of_two_up_to_256(void **state) {
        const char *allowed = "(allowed: 1, 2, 4, 8, 16, 32, 64, 128, 256)";
        char *expected;

        assert_true(asprintf(&expected, "t.conf:6: microsteps: \"12\" is not allowed %s\n", allowed) > 0);
        assert_refused("[pump]\nbackend = sim\n[mechanism]\nlead_pitch_mm = 1\nsteps_per_rev = 200\n"
                       "microsteps = 12\nsyringe_inner_diameter_mm = 26.6\nsyringe_volume_ml = 60\n"
                       "[database]\npath = h.db\n", expected);
        free(expected);

        assert_true(asprintf(&expected, "t.conf:6: microsteps: \"512\" is not allowed %s\n", allowed) > 0);
        assert_refused("[pump]\nbackend = sim\n[mechanism]\nlead_pitch_mm = 1\nsteps_per_rev = 200\n"
                       "microsteps = 512\nsyringe_inner_diameter_mm = 26.6\nsyringe_volume_ml = 60\n"
                       "[database]\npath = h.db\n", expected);
        free(expected);
}

static void missing_required_keys_are_reported_without_a_line(void **state) {
        assert_refused("[pump]\nbackend = sim\n",
                       "t.conf: [mechanism] lead_pitch_mm: missing (required)\n"
                       "t.conf: [mechanism] steps_per_rev: missing (required)\n"
                       "t.conf: [mechanism] microsteps: missing (required)\n"
                       "t.conf: [mechanism] syringe_inner_diameter_mm: missing (required)\n"
                       "t.conf: [mechanism] syringe_volume_ml: missing (required)\n"
                       "t.conf: [database] path: missing (required)\n");
}

static void empty_database_path_is_refused(void **state) {
        assert_refused("[pump]\nbackend = sim\n[mechanism]\nlead_pitch_mm = 1\nsteps_per_rev = 200\n"
                       "microsteps = 16\nsyringe_inner_diameter_mm = 26.6\nsyringe_volume_ml = 60\n"
                       "[database]\npath =\n",
                       "t.conf:10: path: empty (required: a file name)\n");
}

static void retention_keys_default_to_five_years_and_1_gb_and_refuse_out_of_range(void **state) {
        struct config *c = assert_loads(MINIMAL);
        assert_int_equal(c->database_keep_us, INT64_C(1825) * 24 * 3600 * 1000000);
        assert_int_equal(c->database_max_size_bytes, INT64_C(1024) * 1024 * 1024);
        config_free(c);

        /* 0: no size limit; the range edges */
        c = assert_loads(MINIMAL "keep_days = 2\nmax_size_mb = 0\n");
        assert_int_equal(c->database_keep_us, INT64_C(2) * 24 * 3600 * 1000000);
        assert_int_equal(c->database_max_size_bytes, 0);
        config_free(c);
        c = assert_loads(MINIMAL "keep_days = 36500\nmax_size_mb = 16\n");
        assert_int_equal(c->database_keep_us, INT64_C(36500) * 24 * 3600 * 1000000);
        assert_int_equal(c->database_max_size_bytes, 16 * 1024 * 1024);
        config_free(c);

        assert_refused(MINIMAL "keep_days = 1\n",
                       "t.conf:11: keep_days: \"1\" is out of range (allowed: 2 to 36500 days)\n");
        assert_refused(MINIMAL "keep_days = 36501\n",
                       "t.conf:11: keep_days: \"36501\" is out of range (allowed: 2 to 36500 days)\n");
        assert_refused(MINIMAL "keep_days = 30\nmax_size_mb = 8\n",
                       "t.conf:12: max_size_mb: \"8\" is out of range "
                       "(allowed: 0 for no size limit, or 16 to 1048576 MB)\n");
        assert_refused(MINIMAL "max_size_mb = 1048577\n",
                       "t.conf:11: max_size_mb: \"1048577\" is out of range (allowed: 0 to 1048576 MB)\n");
        assert_refused(MINIMAL "max_size_mb = -1\n",
                       "t.conf:11: max_size_mb: \"-1\" is out of range (allowed: 0 to 1048576 MB)\n");
}

static void duplicate_key_is_refused_naming_the_first_line(void **state) {
        assert_refused(MINIMAL "[limits]\nlease_ms = 500\n\n[limits]\nlease_ms = 400\n",
                       "t.conf:15: lease_ms: duplicate (first set on line 12)\n");
}

static void unknown_backend_is_refused_naming_the_choices(void **state) {
        assert_refused("[pump]\nbackend = gpiod\n[mechanism]\nlead_pitch_mm = 1\nsteps_per_rev = 200\n"
                       "microsteps = 16\nsyringe_inner_diameter_mm = 26.6\nsyringe_volume_ml = 60\n"
                       "[database]\npath = h.db\n",
                       "t.conf:2: backend: \"gpiod\" is not allowed (allowed: sim, rig)\n");
        assert_refused("[pump]\nbackend = Sim\n[mechanism]\nlead_pitch_mm = 1\nsteps_per_rev = 200\n"
                       "microsteps = 16\nsyringe_inner_diameter_mm = 26.6\nsyringe_volume_ml = 60\n"
                       "[database]\npath = h.db\n",
                       "t.conf:2: backend: \"Sim\" is not allowed (allowed: sim, rig)\n");
}

static void unknown_clock_is_refused_naming_the_choices(void **state) {
        assert_refused(MINIMAL "[simulation]\nclock = fast\n",
                       "t.conf:12: clock: \"fast\" is not allowed (allowed: real, virtual)\n");
}

static void kvo_rate_above_max_kvo_rate_is_refused_naming_both(void **state) {
        assert_refused(MINIMAL "[limits]\nkvo_rate_ml_per_h = 15\nmax_kvo_rate_ml_per_h = 10\n",
                       "t.conf:12: kvo_rate_ml_per_h: kvo_rate_ml_per_h (15 mL/h) is above "
                       "max_kvo_rate_ml_per_h (10 mL/h)\n");
        /* Only the maximum written: the message points at the line to change. */
        assert_refused(MINIMAL "[limits]\nmax_kvo_rate_ml_per_h = 0.5\n",
                       "t.conf:12: max_kvo_rate_ml_per_h: kvo_rate_ml_per_h (1 mL/h) is above "
                       "max_kvo_rate_ml_per_h (0.5 mL/h)\n");
}

static void control_period_longer_than_a_third_of_the_lease_is_refused(void **state) {
        assert_refused(MINIMAL "[limits]\ncontrol_period_ms = 200\n",
                       "t.conf:12: control_period_ms: control_period_ms (200 ms) is more than a third of "
                       "lease_ms (500 ms): two missed control ticks would let the lease lapse\n");
        assert_refused(MINIMAL "[limits]\nlease_ms = 299\n",
                       "t.conf:12: lease_ms: control_period_ms (100 ms) is more than a third of "
                       "lease_ms (299 ms): two missed control ticks would let the lease lapse\n");

        struct config *c = assert_loads(MINIMAL "[limits]\nlease_ms = 300\n");
        config_free(c);
}

static void geometry_below_a_picolitre_per_step_is_refused(void **state) {
        assert_refused("[pump]\nbackend = sim\n[mechanism]\nlead_pitch_mm = 0.1\nsteps_per_rev = 100000\n"
                       "microsteps = 256\nsyringe_inner_diameter_mm = 1\nsyringe_volume_ml = 0.5\n"
                       "[database]\npath = h.db\n",
                       "t.conf: [mechanism]: this geometry moves less than 1 pL per microstep; use fewer "
                       "steps_per_rev or microsteps, or a larger lead_pitch_mm or syringe_inner_diameter_mm\n");
}

static void syntax_errors_are_each_reported_with_their_line(void **state) {
        assert_refused(MINIMAL
                       "[limits\n"
                       "lease_ms 500\n"
                       "[simulation] seed = 3\n"
                       "= 5\n",
                       "t.conf:11: syntax error: \"[\" without \"]\"\n"
                       "t.conf:12: syntax error: expected \"key = value\", \"[section]\" or a comment\n"
                       "t.conf:13: syntax error: text after \"]\"\n"
                       "t.conf:14: syntax error: no key before \"=\"\n");
}

static void indented_line_is_a_key_of_its_own_not_a_continuation(void **state) {
        /* libinih would append "  lease_ms = 50" to path's value. */
        assert_refused(MINIMAL "  lease_ms = 50\n",
                       "t.conf:11: lease_ms: unknown key in [database] (known: path, keep_days, max_size_mb)\n");
}

static void overlong_line_is_refused_not_truncated(void **state) {
        char path[400];
        char *text;

        memset(path, 'a', sizeof(path) - 1);
        path[sizeof(path) - 1] = '\0';
        assert_true(asprintf(&text, MINIMAL "[simulation]\n# %s\nseed = 5\n", path) > 0);

        struct config *c = NULL;
        char *err;
        assert_int_equal(load(text, &c, &err), -EINVAL);
        assert_non_null(strstr(err, "t.conf:12: syntax error: line longer than "));
        /* The rest of the line was skipped, not parsed as a line of its
         * own: that one line is the only complaint. */
        assert_ptr_equal(strchr(err, '\n'), err + strlen(err) - 1);
        free(err);
        free(text);
}

static void every_problem_is_reported_not_just_the_first(void **state) {
        assert_refused("[pump]\n"
                       "backend = gpiod\n"
                       "[mechanism]\n"
                       "lead_pich_mm = 1\n"
                       "steps_per_rev = 0\n"
                       "microsteps = 16\n"
                       "syringe_inner_diameter_mm = 26.6\n"
                       "syringe_volume_ml = 60\n"
                       "[limits]\n"
                       "kvo_rate_ml_per_h = 30\n"
                       "control_period_ms = 400\n"
                       "[databse]\n"
                       "path = h.db\n",
                       "t.conf:2: backend: \"gpiod\" is not allowed (allowed: sim, rig)\n"
                       "t.conf:4: lead_pich_mm: unknown key in [mechanism] (known: lead_pitch_mm, steps_per_rev, "
                       "microsteps, syringe_inner_diameter_mm, syringe_volume_ml, max_step_rate_hz)\n"
                       "t.conf:5: steps_per_rev: \"0\" is out of range (allowed: 1 to 100000 full steps)\n"
                       "t.conf:10: kvo_rate_ml_per_h: \"30\" is out of range (allowed: 0 to 20 mL/h)\n"
                       "t.conf:12: [databse]: unknown section (known: pump, mechanism, limits, database, alarms, simulation, "
                       "stepper, dc_motor, inputs, outputs, pressure_downstream, pressure_upstream, "
                       "plunger_position, battery_voltage, power)\n"
                       "t.conf: [mechanism] lead_pitch_mm: missing (required)\n"
                       "t.conf: [database] path: missing (required)\n"
                       "t.conf:11: control_period_ms: control_period_ms (400 ms) is more than a third of "
                       "lease_ms (500 ms): two missed control ticks would let the lease lapse\n");
}

static void unreadable_file_returns_enoent_and_names_the_file(void **state) {
        struct config *c = (struct config *) 0x1;
        char *err = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&err, &size);

        assert_int_equal(config_load("/nonexistent/infusiond.conf", f, &c), -ENOENT);
        fclose(f);
        assert_string_equal(err, "/nonexistent/infusiond.conf: cannot open: No such file or directory\n");
        assert_ptr_equal(c, (struct config *) 0x1);
        free(err);
}

static void directory_is_refused_with_the_read_error(void **state) {
        struct config *c = (struct config *) 0x1;
        char *err = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&err, &size);

        /* fopen() succeeds on a directory; the first read fails. */
        assert_int_equal(config_load("/", f, &c), -EISDIR);
        fclose(f);
        assert_string_equal(err, "/: cannot read: Is a directory\n");
        assert_ptr_equal(c, (struct config *) 0x1);
        free(err);
}

static void only_the_files_own_faults_need_a_person(void **state) {
        /* What config_load() returns for a bad file, path or mode: infusiond
         * exits 6 and is not restarted. */
        assert_true(config_error_needs_a_person(-EINVAL));
        assert_true(config_error_needs_a_person(-ENOENT));
        assert_true(config_error_needs_a_person(-EISDIR));
        assert_true(config_error_needs_a_person(-EACCES));
        /* Passing failures: exit 1, and systemd restarts it. */
        assert_false(config_error_needs_a_person(-ENOMEM));
        assert_false(config_error_needs_a_person(-EMFILE));
        assert_false(config_error_needs_a_person(-ENFILE));
        assert_false(config_error_needs_a_person(-EIO));
        assert_false(config_error_needs_a_person(-EINTR));
}

static void config_free_accepts_null(void **state) {
        assert_null(config_free(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(example_sim_conf_loads_with_its_documented_values),
                cmocka_unit_test(example_demo_conf_loads_with_real_time_and_a_relative_database),
                cmocka_unit_test(every_key_is_converted_once_to_integer_units),
                cmocka_unit_test(defaults_apply_to_the_optional_keys_left_out),
                cmocka_unit_test(alarm_keys_are_read_and_checked_against_each_other),
                cmocka_unit_test(comments_blank_lines_and_indentation_are_accepted),
                cmocka_unit_test(misspelt_key_is_refused_with_file_line_and_key),
                cmocka_unit_test(keys_are_case_sensitive),
                cmocka_unit_test(unknown_section_is_refused_once_at_its_header),
                cmocka_unit_test(key_before_any_section_is_refused),
                cmocka_unit_test(bad_number_names_the_allowed_range_and_unit),
                cmocka_unit_test(trailing_garbage_after_a_number_is_refused),
                cmocka_unit_test(nan_infinity_and_hex_floats_are_refused),
                cmocka_unit_test(out_of_range_value_names_the_range_and_unit),
                cmocka_unit_test(range_edges_are_accepted),
                cmocka_unit_test(value_finer_than_the_stored_unit_is_refused_not_rounded),
                cmocka_unit_test(tiny_lead_pitch_is_refused_not_turned_into_zero),
                cmocka_unit_test(whole_number_keys_refuse_fractions_and_overflow),
                cmocka_unit_test(microsteps_must_be_a_power_of_two_up_to_256),
                cmocka_unit_test(missing_required_keys_are_reported_without_a_line),
                cmocka_unit_test(empty_database_path_is_refused),
                cmocka_unit_test(retention_keys_default_to_five_years_and_1_gb_and_refuse_out_of_range),
                cmocka_unit_test(duplicate_key_is_refused_naming_the_first_line),
                cmocka_unit_test(unknown_backend_is_refused_naming_the_choices),
                cmocka_unit_test(unknown_clock_is_refused_naming_the_choices),
                cmocka_unit_test(kvo_rate_above_max_kvo_rate_is_refused_naming_both),
                cmocka_unit_test(control_period_longer_than_a_third_of_the_lease_is_refused),
                cmocka_unit_test(geometry_below_a_picolitre_per_step_is_refused),
                cmocka_unit_test(syntax_errors_are_each_reported_with_their_line),
                cmocka_unit_test(indented_line_is_a_key_of_its_own_not_a_continuation),
                cmocka_unit_test(overlong_line_is_refused_not_truncated),
                cmocka_unit_test(every_problem_is_reported_not_just_the_first),
                cmocka_unit_test(unreadable_file_returns_enoent_and_names_the_file),
                cmocka_unit_test(directory_is_refused_with_the_read_error),
                cmocka_unit_test(only_the_files_own_faults_need_a_person),
                cmocka_unit_test(config_free_accepts_null),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
