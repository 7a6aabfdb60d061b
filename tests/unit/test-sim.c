/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "common/units.h"
#include "core/mechanism.h"
#include "hal/hal.h"
#include "hal/sim.h"

/* The reference pump: a 26.6 mm syringe on a 1 mm lead screw, 200-step
 * motor at 16 microsteps; a line of C = 100 nL/mmHg and R = 0.3 mmHg per
 * mL/h, so tau = 0.3 * 3600 * 100 = 108000 µs, into 10 mmHg. */
#define COMPLIANCE_NL_PER_MMHG 100.0
#define RESISTANCE_MMHG_PER_ML_PER_H 0.3
#define PATIENT_MMHG 10.0
#define TAU_US INT64_C(108000)
#define NOISE_MMHG 2.0

static const struct mechanism_geometry geometry = {
        .lead_pitch_um = 1000,
        .steps_per_rev = 200,
        .microsteps = 16,
        .syringe_inner_diameter_um = 26600,
        .max_step_rate_hz = 10000,
};

struct fixture {
        int64_t now_us;                 /* the fake clock: tests move it */
        struct sim_params params;
        struct sim *sim;
        struct hal hal;
        double step_mmhg;               /* pressure rise of one step, occluded */
};

static int64_t fake_clock(void *userdata) {
        return *(const int64_t *) userdata;
}

static struct sim_params reference_params(void) {
        struct sim_params p = {
                .syringe_volume_nl = 50 * NL_PER_ML,
                .line_compliance_nl_per_mmhg = COMPLIANCE_NL_PER_MMHG,
                .line_resistance_mmhg_per_ml_per_h = RESISTANCE_MMHG_PER_ML_PER_H,
                .patient_pressure_mmhg = PATIENT_MMHG,
                .pressure_noise_mmhg = NOISE_MMHG,
                .seed = 42,
        };
        assert_int_equal(mechanism_from_geometry(&geometry, &p.mech), 0);
        return p;
}

static int fixture_start(struct fixture *f) {
        int r = sim_new(&f->params, fake_clock, &f->now_us, &f->sim);
        if (r < 0)
                return r;
        sim_fill_hal(f->sim, &f->hal);
        f->step_mmhg = (double) f->params.mech.pl_per_step / (double) PL_PER_NL / COMPLIANCE_NL_PER_MMHG;
        return 0;
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        if (!f)
                return -1;
        f->params = reference_params();
        if (fixture_start(f) < 0) {
                free(f);
                return -1;
        }
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        sim_free(f->sim);
        free(f);
        return 0;
}

static void step_ok(struct fixture *f) {
        assert_int_equal(f->hal.drive->step(f->hal.drive_ctx), 0);
}

static void set_direction(struct fixture *f, enum hal_direction dir) {
        assert_int_equal(f->hal.drive->set_direction(f->hal.drive_ctx, dir), 0);
}

static void enable(struct fixture *f) {
        assert_int_equal(f->hal.drive->enable(f->hal.drive_ctx, true), 0);
}

/* Relative comparison for pressures that went through exp(). */
static void assert_close(double actual, double expected, double tolerance) {
        if (fabs(actual - expected) > tolerance)
                fail_msg("%.9f is not within %.9f of %.9f", actual, tolerance, expected);
}

/* ---- mechanism and plunger ----------------------------------------- */

static void step_volume_follows_from_the_syringe_geometry(void **state) {
        /* r = 13.3 mm = 13300 µm; area = pi * 13300² = 555,716,324.5 µm²;
         * one revolution moves 1000 µm: 5.557163245e11 µm³; per microstep
         * (200 * 16 = 3200) 173,661,351 µm³ = 173,661.35 pL (1 µm³ = 1e-3 pL),
         * rounded to 173,661 pL. */
        struct mechanism m;
        assert_int_equal(mechanism_from_geometry(&geometry, &m), 0);
        assert_int_equal(m.pl_per_step, 173661);
        assert_int_equal(m.steps_per_mm, 3200);
}

static void steps_while_disabled_fail_and_move_nothing(void **state) {
        struct fixture *f = *state;

        assert_false(sim_motor_enabled(f->sim));
        assert_int_equal(f->hal.drive->step(f->hal.drive_ctx), -EPERM);
        assert_int_equal(sim_plunger_steps(f->sim), 0);
        assert_int_equal(sim_pushed_nl(f->sim), 0);
        assert_int_equal(sim_last_step_us(f->sim), -1);
        assert_true(sim_line_pressure_mmhg(f->sim) == PATIENT_MMHG);

        enable(f);
        assert_true(sim_motor_enabled(f->sim));
        step_ok(f);
        assert_int_equal(f->hal.drive->enable(f->hal.drive_ctx, false), 0);
        assert_int_equal(f->hal.drive->step(f->hal.drive_ctx), -EPERM);
        assert_int_equal(sim_plunger_steps(f->sim), 1);
}

static void enabled_forward_steps_push_exactly_their_volume(void **state) {
        struct fixture *f = *state;
        double position_mm = -1;

        enable(f);
        for (int i = 0; i < 1000; i++) {
                f->now_us += 1000;
                step_ok(f);
        }
        assert_int_equal(sim_plunger_steps(f->sim), 1000);
        /* 1000 * 173,661 pL = 173,661,000 pL = 173,661 nL, no rounding */
        assert_int_equal(sim_pushed_nl(f->sim), 173661);
        assert_int_equal(sim_last_step_us(f->sim), 1000 * 1000);

        assert_int_equal(f->hal.sensors->read(f->hal.sensors_ctx, HAL_SENSOR_PLUNGER_POSITION, &position_mm), 0);
        assert_true(position_mm == 1000.0 / 3200.0);
}

static void stepping_past_the_syringe_volume_stalls_at_the_end_stop(void **state) {
        struct fixture *f = *state;
        bool end = true;

        /* 1000 nL holds 5 whole steps: 5 * 173,661 = 868,305 pL, six would
         * be 1,041,966 pL. */
        sim_free(f->sim);
        f->params.syringe_volume_nl = 1000;
        assert_int_equal(fixture_start(f), 0);

        enable(f);
        for (int i = 0; i < 5; i++) {
                assert_int_equal(f->hal.inputs->read(f->hal.inputs_ctx, HAL_INPUT_END_STOP, &end), 0);
                assert_false(end);
                step_ok(f);
        }
        assert_int_equal(f->hal.drive->step(f->hal.drive_ctx), -ENOSPC);
        assert_int_equal(f->hal.drive->step(f->hal.drive_ctx), -ENOSPC);
        assert_int_equal(sim_plunger_steps(f->sim), 5);
        assert_int_equal(sim_pushed_nl(f->sim), 868);
        assert_true(sim_pushed_nl(f->sim) <= f->params.syringe_volume_nl);
        assert_int_equal(f->hal.inputs->read(f->hal.inputs_ctx, HAL_INPUT_END_STOP, &end), 0);
        assert_true(end);

        /* Backing off leaves the end stop, and there is room again. */
        set_direction(f, HAL_DIRECTION_REVERSE);
        step_ok(f);
        assert_int_equal(f->hal.inputs->read(f->hal.inputs_ctx, HAL_INPUT_END_STOP, &end), 0);
        assert_false(end);
        set_direction(f, HAL_DIRECTION_FORWARD);
        step_ok(f);
        assert_int_equal(f->hal.drive->step(f->hal.drive_ctx), -ENOSPC);
}

/* ---- line ----------------------------------------------------------- */

static void open_line_at_a_steady_rate_settles_at_patient_pressure_plus_r_times_q(void **state) {
        struct fixture *f = *state;
        const int64_t interval_us = 6250;

        /* Q = 173.661 nL per 6250 µs = 100.029 mL/h; R * Q = 30.009 mmHg */
        double q_ml_per_h = (double) f->params.mech.pl_per_step / (double) PL_PER_NL *
                            ((double) US_PER_HOUR / (double) interval_us) / (double) NL_PER_ML;
        double expected_mmhg = PATIENT_MMHG + RESISTANCE_MMHG_PER_ML_PER_H * q_ml_per_h;
        assert_close(expected_mmhg, 40.0, 0.1);

        enable(f);
        /* 5 s is 46 tau: the start-up transient is long gone. */
        for (int64_t t = 0; t < 5 * US_PER_SEC; t += interval_us) {
                f->now_us = t;
                step_ok(f);
        }
        f->now_us += interval_us;
        double low_mmhg = sim_line_pressure_mmhg(f->sim);
        step_ok(f);
        double high_mmhg = sim_line_pressure_mmhg(f->sim);

        /* A sawtooth: one step's rise on top, decaying until the next. Its
         * mean is exactly P_b + R*Q, so the two extremes bracket it. */
        assert_close(high_mmhg - low_mmhg, f->step_mmhg, 1e-9);
        assert_true(low_mmhg < expected_mmhg);
        assert_true(high_mmhg > expected_mmhg);
        assert_close((low_mmhg + high_mmhg) / 2.0, expected_mmhg, 0.05);

        /* Open and settled: what goes in comes out, less one step's worth
         * held in the compliance. */
        int64_t held_nl = sim_pushed_nl(f->sim) - sim_delivered_nl(f->sim);
        assert_true(held_nl > 0);
        assert_close((double) held_nl, COMPLIANCE_NL_PER_MMHG * (high_mmhg - PATIENT_MMHG), 1.0);
}

static void open_line_relaxes_with_time_constant_r_times_c(void **state) {
        struct fixture *f = *state;

        enable(f);
        for (int i = 0; i < 10; i++)
                step_ok(f);
        double excess_mmhg = sim_line_pressure_mmhg(f->sim) - PATIENT_MMHG;
        assert_close(excess_mmhg, 10 * f->step_mmhg, 1e-9);

        f->now_us += TAU_US;
        assert_close(sim_line_pressure_mmhg(f->sim) - PATIENT_MMHG, excess_mmhg * exp(-1.0), 1e-9);
}

static void occluded_line_holds_every_step_and_delivers_nothing_more(void **state) {
        struct fixture *f = *state;

        /* Deliver something first, with the line at rest afterwards. */
        enable(f);
        for (int i = 0; i < 50; i++) {
                f->now_us += 10000;
                step_ok(f);
        }
        f->now_us += 40 * TAU_US;
        int64_t delivered_nl = sim_delivered_nl(f->sim);
        assert_int_equal(delivered_nl, sim_pushed_nl(f->sim));

        sim_set_occlusion(f->sim, true);
        double start_mmhg = sim_line_pressure_mmhg(f->sim);
        for (int i = 1; i <= 100; i++) {
                f->now_us += 10000;
                step_ok(f);
                assert_close(sim_line_pressure_mmhg(f->sim), start_mmhg + i * f->step_mmhg, 1e-9);
                assert_int_equal(sim_delivered_nl(f->sim), delivered_nl);
        }

        double occluded_mmhg = sim_line_pressure_mmhg(f->sim);
        f->now_us += 100 * US_PER_SEC;
        assert_true(sim_line_pressure_mmhg(f->sim) == occluded_mmhg);
        assert_int_equal(sim_delivered_nl(f->sim), delivered_nl);
        assert_true(sim_pushed_nl(f->sim) > delivered_nl + 17000);
}

static void releasing_an_occlusion_lets_the_held_volume_through(void **state) {
        struct fixture *f = *state;

        enable(f);
        sim_set_occlusion(f->sim, true);
        for (int i = 0; i < 100; i++) {
                f->now_us += 10000;
                step_ok(f);
        }
        int64_t pushed_nl = sim_pushed_nl(f->sim);
        double excess_mmhg = sim_line_pressure_mmhg(f->sim) - PATIENT_MMHG;
        assert_int_equal(sim_delivered_nl(f->sim), 0);

        sim_set_occlusion(f->sim, false);
        f->now_us += 5 * TAU_US;
        assert_close(sim_line_pressure_mmhg(f->sim) - PATIENT_MMHG, excess_mmhg * exp(-5.0), 1e-9);
        /* e^-5 of 17,366 nL is 117 nL still held: under 1 %. */
        assert_true(pushed_nl - sim_delivered_nl(f->sim) <= pushed_nl / 100);

        f->now_us += 30 * TAU_US;
        assert_int_equal(sim_delivered_nl(f->sim), pushed_nl);
}

static void reverse_steps_lower_the_pressure(void **state) {
        struct fixture *f = *state;

        enable(f);
        sim_set_occlusion(f->sim, true);
        for (int i = 0; i < 50; i++)
                step_ok(f);
        assert_close(sim_line_pressure_mmhg(f->sim), PATIENT_MMHG + 50 * f->step_mmhg, 1e-9);

        /* Back-off: each reverse step takes one step's volume out again. */
        set_direction(f, HAL_DIRECTION_REVERSE);
        for (int i = 0; i < 20; i++)
                step_ok(f);
        assert_int_equal(sim_plunger_steps(f->sim), 30);
        assert_close(sim_line_pressure_mmhg(f->sim), PATIENT_MMHG + 30 * f->step_mmhg, 1e-9);

        /* Far enough back the line bottoms out, 100 mmHg below the patient
         * (it would collapse), and stays there. */
        for (int i = 0; i < 200; i++)
                step_ok(f);
        assert_true(sim_line_pressure_mmhg(f->sim) == PATIENT_MMHG - 100.0);
        assert_int_equal(sim_delivered_nl(f->sim), 0);
}

static void time_never_goes_backwards(void **state) {
        struct fixture *f = *state;

        enable(f);
        f->now_us = 5 * TAU_US;
        step_ok(f);
        f->now_us = 6 * TAU_US;
        double later_mmhg = sim_line_pressure_mmhg(f->sim);
        assert_true(later_mmhg < PATIENT_MMHG + f->step_mmhg);

        /* An earlier time, from the clock or from sim_update(), is ignored:
         * no un-relaxing, and a step then happens at the latest time seen. */
        f->now_us = 0;
        sim_update(f->sim, 2 * TAU_US);
        assert_true(sim_line_pressure_mmhg(f->sim) == later_mmhg);
        step_ok(f);
        assert_int_equal(sim_last_step_us(f->sim), 6 * TAU_US);
        assert_close(sim_line_pressure_mmhg(f->sim), later_mmhg + f->step_mmhg, 1e-12);

        /* sim_update() moves model time ahead of the clock, too. */
        double before_mmhg = sim_line_pressure_mmhg(f->sim);
        sim_update(f->sim, 7 * TAU_US);
        f->now_us = 6 * TAU_US;
        assert_close(sim_line_pressure_mmhg(f->sim) - PATIENT_MMHG,
                     (before_mmhg - PATIENT_MMHG) * exp(-1.0), 1e-9);
}

/* ---- sensors -------------------------------------------------------- */

static void read_downstream(struct sim *s, struct hal *h, double *ret) {
        assert_int_equal(h->sensors->read(h->sensors_ctx, HAL_SENSOR_PRESSURE_DOWNSTREAM, ret), 0);
}

static void same_seed_gives_the_same_readings_and_another_seed_others(void **state) {
        struct sim_params p = reference_params();
        int64_t now_us = 0;
        struct sim *a, *b, *c;
        struct hal ha, hb, hc;
        unsigned differ = 0;

        assert_int_equal(sim_new(&p, fake_clock, &now_us, &a), 0);
        assert_int_equal(sim_new(&p, fake_clock, &now_us, &b), 0);
        p.seed = 43;
        assert_int_equal(sim_new(&p, fake_clock, &now_us, &c), 0);
        sim_fill_hal(a, &ha);
        sim_fill_hal(b, &hb);
        sim_fill_hal(c, &hc);

        for (int i = 0; i < 1000; i++) {
                double va, vb, vc;
                read_downstream(a, &ha, &va);
                read_downstream(b, &hb, &vb);
                read_downstream(c, &hc, &vc);
                assert_true(va == vb);
                differ += va != vc;
        }
        assert_int_equal(differ, 1000);

        sim_free(a);
        sim_free(b);
        sim_free(c);
}

static void pressure_noise_has_the_configured_spread(void **state) {
        struct fixture *f = *state;
        const int n = 10000;
        double sum = 0, sum_sq = 0;

        for (int i = 0; i < n; i++) {
                double v;
                read_downstream(f->sim, &f->hal, &v);
                sum += v;
                sum_sq += v * v;
        }
        double mean = sum / n;
        double sd = sqrt((sum_sq - n * mean * mean) / (n - 1));

        assert_close(mean, PATIENT_MMHG, 4.0 * NOISE_MMHG / sqrt(n));
        assert_close(sd, NOISE_MMHG, 0.1 * NOISE_MMHG);
        /* The model underneath is untouched by noise. */
        assert_true(sim_line_pressure_mmhg(f->sim) == PATIENT_MMHG);
}

static void other_sensors_and_power_read_their_constants(void **state) {
        struct fixture *f = *state;
        struct hal_power_status ps;
        double v = NAN;

        assert_int_equal(f->hal.sensors->read(f->hal.sensors_ctx, HAL_SENSOR_PRESSURE_UPSTREAM, &v), 0);
        assert_close(v, 0.0, 10.0 * NOISE_MMHG);
        assert_int_equal(f->hal.sensors->read(f->hal.sensors_ctx, HAL_SENSOR_BATTERY_VOLTAGE, &v), 0);
        assert_true(v == 4.1);
        assert_int_equal(f->hal.sensors->read(f->hal.sensors_ctx, _HAL_SENSOR_MAX, &v), -EINVAL);

        assert_int_equal(f->hal.power->read(f->hal.power_ctx, &ps), 0);
        assert_true(ps.on_mains);
        assert_int_equal(ps.capacity_pct, 100);
        assert_int_equal(ps.time_to_empty_s, -1);
        assert_string_equal(f->hal.backend, "sim");
}

/* ---- inputs and outputs --------------------------------------------- */

struct edge_log {
        unsigned count;
        enum hal_input input;
        bool active;
        int64_t when_us;
};

static void record_edge(enum hal_input i, bool active, int64_t when_us, void *userdata) {
        struct edge_log *log = userdata;
        log->count++;
        log->input = i;
        log->active = active;
        log->when_us = when_us;
}

static void inputs_start_inactive_and_report_injected_edges(void **state) {
        struct fixture *f = *state;
        struct edge_log log = {};
        bool active = true;

        for (enum hal_input i = 0; i < _HAL_INPUT_MAX; i++) {
                assert_int_equal(f->hal.inputs->read(f->hal.inputs_ctx, i, &active), 0);
                assert_false(active);
        }
        assert_int_equal(f->hal.inputs->set_handler(f->hal.inputs_ctx, record_edge, &log), 0);

        f->now_us = 1234;
        assert_int_equal(sim_set_input(f->sim, HAL_INPUT_PCA_BUTTON, true), 0);
        assert_int_equal(log.count, 1);
        assert_int_equal(log.input, HAL_INPUT_PCA_BUTTON);
        assert_true(log.active);
        assert_int_equal(log.when_us, 1234);
        assert_int_equal(f->hal.inputs->read(f->hal.inputs_ctx, HAL_INPUT_PCA_BUTTON, &active), 0);
        assert_true(active);

        /* No edge, no event. */
        assert_int_equal(sim_set_input(f->sim, HAL_INPUT_PCA_BUTTON, true), 0);
        assert_int_equal(log.count, 1);

        /* The end stop belongs to the plunger. */
        assert_int_equal(sim_set_input(f->sim, HAL_INPUT_END_STOP, true), -EINVAL);
        assert_int_equal(f->hal.inputs->read(f->hal.inputs_ctx, _HAL_INPUT_MAX, &active), -EINVAL);
}

static void outputs_record_their_state_and_changes(void **state) {
        struct fixture *f = *state;

        assert_int_equal(f->hal.outputs->set(f->hal.outputs_ctx, HAL_OUTPUT_BUZZER, true), 0);
        assert_int_equal(f->hal.outputs->set(f->hal.outputs_ctx, HAL_OUTPUT_BUZZER, true), 0);
        assert_int_equal(f->hal.outputs->set(f->hal.outputs_ctx, HAL_OUTPUT_BUZZER, false), 0);
        assert_int_equal(f->hal.outputs->set(f->hal.outputs_ctx, HAL_OUTPUT_LED_RED, true), 0);

        assert_false(sim_output_state(f->sim, HAL_OUTPUT_BUZZER));
        assert_int_equal(sim_output_changes(f->sim, HAL_OUTPUT_BUZZER), 2);
        assert_true(sim_output_state(f->sim, HAL_OUTPUT_LED_RED));
        assert_int_equal(sim_output_changes(f->sim, HAL_OUTPUT_LED_RED), 1);
        assert_false(sim_output_state(f->sim, HAL_OUTPUT_NURSE_CALL));
        assert_int_equal(sim_output_changes(f->sim, HAL_OUTPUT_NURSE_CALL), 0);
        assert_int_equal(f->hal.outputs->set(f->hal.outputs_ctx, _HAL_OUTPUT_MAX, true), -EINVAL);
}

static void device_names_are_lower_case_with_dashes(void **state) {
        assert_string_equal(hal_sensor_to_string(HAL_SENSOR_PRESSURE_DOWNSTREAM), "pressure-downstream");
        assert_string_equal(hal_sensor_to_string(HAL_SENSOR_PRESSURE_UPSTREAM), "pressure-upstream");
        assert_string_equal(hal_sensor_to_string(HAL_SENSOR_PLUNGER_POSITION), "plunger-position");
        assert_string_equal(hal_sensor_to_string(HAL_SENSOR_BATTERY_VOLTAGE), "battery-voltage");
        assert_string_equal(hal_input_to_string(HAL_INPUT_PCA_BUTTON), "pca-button");
        assert_string_equal(hal_input_to_string(HAL_INPUT_AIR_IN_LINE), "air-in-line");
        assert_string_equal(hal_input_to_string(HAL_INPUT_DOOR_OPEN), "door-open");
        assert_string_equal(hal_input_to_string(HAL_INPUT_END_STOP), "end-stop");
        assert_string_equal(hal_output_to_string(HAL_OUTPUT_BUZZER), "buzzer");
        assert_string_equal(hal_output_to_string(HAL_OUTPUT_LED_RED), "led-red");
        assert_string_equal(hal_output_to_string(HAL_OUTPUT_LED_YELLOW), "led-yellow");
        assert_string_equal(hal_output_to_string(HAL_OUTPUT_NURSE_CALL), "nurse-call");
        assert_null(hal_sensor_to_string(_HAL_SENSOR_MAX));
        assert_null(hal_input_to_string((enum hal_input) -1));
        assert_null(hal_output_to_string(_HAL_OUTPUT_MAX));
}

/* ---- lifetime and threads ------------------------------------------- */

static void impossible_parameters_are_refused(void **state) {
        struct sim *s = (struct sim *) 0x1;
        struct sim_params p;

#define ASSERT_REFUSED(field, value)                                            \
        do {                                                                    \
                p = reference_params();                                         \
                p.field = value;                                                \
                assert_int_equal(sim_new(&p, NULL, NULL, &s), -EINVAL);         \
                assert_ptr_equal(s, (struct sim *) 0x1);                        \
        } while (0)

        ASSERT_REFUSED(line_compliance_nl_per_mmhg, 0.0);
        ASSERT_REFUSED(line_compliance_nl_per_mmhg, NAN);
        ASSERT_REFUSED(line_resistance_mmhg_per_ml_per_h, -0.3);
        ASSERT_REFUSED(mech.pl_per_step, 0);
        ASSERT_REFUSED(pressure_noise_mmhg, -1.0);
        ASSERT_REFUSED(syringe_volume_nl, 0);
        ASSERT_REFUSED(patient_pressure_mmhg, INFINITY);
#undef ASSERT_REFUSED

        p = reference_params();
        p.pressure_noise_mmhg = 0.0;
        assert_int_equal(sim_new(&p, NULL, NULL, &s), 0);
        assert_null(sim_free(s));
        assert_null(sim_free(NULL));
}

struct stepper_job {
        struct hal *hal;
        int steps;
};

static void *stepper_thread(void *userdata) {
        struct stepper_job *job = userdata;
        for (int i = 0; i < job->steps; i++)
                if (job->hal->drive->step(job->hal->drive_ctx) < 0)
                        return (void *) 1;
        return NULL;
}

static void steps_on_another_thread_are_all_counted(void **state) {
        struct sim_params p = reference_params();
        struct sim *s;
        struct hal h;
        pthread_t thread;
        void *result = (void *) 1;

        /* No clock: only the reader thread moves time, via sim_update(). */
        assert_int_equal(sim_new(&p, NULL, NULL, &s), 0);
        sim_fill_hal(s, &h);
        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);

        struct stepper_job job = { .hal = &h, .steps = 100000 };
        assert_int_equal(pthread_create(&thread, NULL, stepper_thread, &job), 0);
        for (int64_t t = 0; t < 20000; t++) {
                double v;
                sim_update(s, t * 100);
                assert_int_equal(h.sensors->read(h.sensors_ctx, HAL_SENSOR_PRESSURE_DOWNSTREAM, &v), 0);
                (void) sim_delivered_nl(s);
        }
        assert_int_equal(pthread_join(thread, &result), 0);
        assert_null(result);
        assert_int_equal(sim_plunger_steps(s), 100000);
        sim_free(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(step_volume_follows_from_the_syringe_geometry),
                cmocka_unit_test_setup_teardown(steps_while_disabled_fail_and_move_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(enabled_forward_steps_push_exactly_their_volume, setup, teardown),
                cmocka_unit_test_setup_teardown(stepping_past_the_syringe_volume_stalls_at_the_end_stop, setup, teardown),
                cmocka_unit_test_setup_teardown(open_line_at_a_steady_rate_settles_at_patient_pressure_plus_r_times_q, setup, teardown),
                cmocka_unit_test_setup_teardown(open_line_relaxes_with_time_constant_r_times_c, setup, teardown),
                cmocka_unit_test_setup_teardown(occluded_line_holds_every_step_and_delivers_nothing_more, setup, teardown),
                cmocka_unit_test_setup_teardown(releasing_an_occlusion_lets_the_held_volume_through, setup, teardown),
                cmocka_unit_test_setup_teardown(reverse_steps_lower_the_pressure, setup, teardown),
                cmocka_unit_test_setup_teardown(time_never_goes_backwards, setup, teardown),
                cmocka_unit_test(same_seed_gives_the_same_readings_and_another_seed_others),
                cmocka_unit_test_setup_teardown(pressure_noise_has_the_configured_spread, setup, teardown),
                cmocka_unit_test_setup_teardown(other_sensors_and_power_read_their_constants, setup, teardown),
                cmocka_unit_test_setup_teardown(inputs_start_inactive_and_report_injected_edges, setup, teardown),
                cmocka_unit_test_setup_teardown(outputs_record_their_state_and_changes, setup, teardown),
                cmocka_unit_test(device_names_are_lower_case_with_dashes),
                cmocka_unit_test(impossible_parameters_are_refused),
                cmocka_unit_test(steps_on_another_thread_are_all_counted),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
