/* SPDX-License-Identifier: MIT */
/* The occlusion detector on the simulated line itself: the sim's physics
 * (compliance, resistance, sensor noise, a patient who moves) driven step
 * by step at the pump's exact schedule, sampled every control tick, for a
 * whole virtual day. At 100 mL/h a day is 2.4 L, more than any syringe the
 * daemon accepts, so this runs the line and the detector without the
 * daemon around them (tests/integration/test-alarms.c runs the day at
 * 1 mL/h through the daemon). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "common/units.h"
#include "core/mechanism.h"
#include "hal/sim.h"
#include "safety/occlusion.h"

#define TICK_US (100 * 1000)

static int64_t now_us;

static int64_t clock_fn(void *userdata) {
        return now_us;
}

/* Run `hours` at rate; close the line at occlude_at_us (-1 never).
 * Returns the time of the first verdict, or -1 if none. */
static int64_t run(int64_t rate_nl_per_h, double hours, double movement_mmhg, int64_t occlude_at_us,
                   enum occlusion_verdict *ret_verdict) {
        struct mechanism_geometry g = {
                .lead_pitch_um = 1000, .steps_per_rev = 200, .microsteps = 16,
                .syringe_inner_diameter_um = 26600, .max_step_rate_hz = 5000,
        };
        struct mechanism m;
        assert_int_equal(mechanism_from_geometry(&g, &m), 0);
        struct sim_params p = {
                .mech = m,
                .syringe_volume_nl = 3000 * NL_PER_ML,
                .line_compliance_nl_per_mmhg = 1400,
                .line_resistance_mmhg_per_ml_per_h = 0.3,
                .patient_pressure_mmhg = 8,
                .pressure_noise_mmhg = 0.5,
                .seed = 42,
                .movement_amplitude_mmhg = movement_mmhg,
                .movement_mean_interval_s = 120,
        };
        struct sim *s = NULL;
        struct hal h;
        now_us = 0;
        assert_int_equal(sim_new(&p, clock_fn, NULL, &s), 0);
        sim_fill_hal(s, &h);
        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);

        struct occlusion_params op;
        struct occlusion_detector d;
        occlusion_params_default(&op, 300, 1400);
        occlusion_init(&d, &op);
        occlusion_reset(&d, 0);

        int64_t num, den, steps = 0, found = -1;
        mechanism_step_interval(&m, rate_nl_per_h, &num, &den);
        int64_t end_us = (int64_t) (hours * US_PER_HOUR);
        for (int64_t t = TICK_US; t <= end_us && found < 0; t += TICK_US) {
                /* Every step due by this tick, at its own time. */
                for (;;) {
                        int64_t due = (steps + 1) * num / den;
                        if (due > t)
                                break;
                        now_us = due;
                        assert_int_equal(h.drive->step(h.drive_ctx), 0);
                        steps++;
                }
                now_us = t;
                if (occlude_at_us >= 0 && t == occlude_at_us)
                        sim_set_occlusion(s, true);
                double mmhg;
                assert_int_equal(h.sensors->read(h.sensors_ctx, HAL_SENSOR_PRESSURE_DOWNSTREAM, &mmhg), 0);
                enum occlusion_verdict v = occlusion_sample(&d, t, mmhg, rate_nl_per_h);
                if (v != OCCLUSION_NONE) {
                        found = t;
                        if (ret_verdict)
                                *ret_verdict = v;
                }
        }
        /* Every step of the run really went into the line. */
        if (found < 0)
                assert_int_equal(sim_plunger_steps(s), mechanism_nl_to_steps_floor(&m, rate_nl_per_h * end_us / US_PER_HOUR));
        sim_free(s);
        return found;
}

static void a_day_on_the_simulated_line_with_a_moving_patient_raises_no_occlusion(void **state) {
        assert_int_equal(run(1 * NL_PER_ML, 24, 40, -1, NULL), -1);
        assert_int_equal(run(100 * NL_PER_ML, 24, 40, -1, NULL), -1);
}

/* And the same line, closed, is caught: the quiet day above is not a
 * detector that never fires. */
static void the_same_moving_line_closed_is_caught_by_the_trend(void **state) {
        enum occlusion_verdict v = OCCLUSION_NONE;
        int64_t at = run(1 * NL_PER_ML, 2, 40, 30 * US_PER_MIN, &v);
        assert_true(at > 0);
        print_message("1 mL/h, moving patient: occlusion found %.0f s after the line closed (%s)\n",
                      (double) (at - 30 * US_PER_MIN) / US_PER_SEC, occlusion_verdict_to_string(v));
        assert_int_equal(v, OCCLUSION_TREND);
        assert_true(at - 30 * US_PER_MIN < 10 * US_PER_MIN);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(a_day_on_the_simulated_line_with_a_moving_patient_raises_no_occlusion),
                cmocka_unit_test(the_same_moving_line_closed_is_caught_by_the_trend),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
