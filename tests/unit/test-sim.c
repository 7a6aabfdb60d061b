/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/macros.h"
#include "common/units.h"
#include "core/mechanism.h"
#include "hal/hal.h"
#include "hal/sim.h"
#include "hal/sim-plunger-file.h"

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

static void the_step_log_keeps_each_step_time_and_counts_what_did_not_fit(void **state) {
        struct fixture *f = *state;
        char dir[] = "/tmp/test-sim-steplog-XXXXXX", path[64], line[64];

        assert_int_equal(sim_write_step_log(f->sim, "/nonexistent"), -ENODATA);
        assert_int_equal(sim_step_log_start(f->sim, 0), -EINVAL);
        assert_int_equal(sim_step_log_start(f->sim, 3), 0);
        assert_int_equal(sim_step_log_start(f->sim, 3), -EBUSY);
        enable(f);
        static const int64_t times_us[] = { 1500, 2750, 2751, 9000 };
        for (size_t i = 0; i < ELEMENTSOF(times_us); i++) {
                f->now_us = times_us[i];
                step_ok(f);
        }
        /* A refused step (motor off) is no step: not kept. */
        assert_int_equal(f->hal.drive->enable(f->hal.drive_ctx, false), 0);
        f->now_us = 10000;
        assert_int_equal(f->hal.drive->step(f->hal.drive_ctx), -EPERM);

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/steps.txt", dir);
        assert_int_equal(sim_write_step_log(f->sim, path), 0);
        FILE *in = fopen(path, "re");
        assert_non_null(in);
        assert_non_null(fgets(line, sizeof(line), in));
        assert_string_equal(line, "# infusiond step log: 3 steps, 1 not kept\n");
        for (size_t i = 0; i < 3; i++) {
                assert_non_null(fgets(line, sizeof(line), in));
                assert_int_equal(strtoll(line, NULL, 10), times_us[i]);
        }
        assert_null(fgets(line, sizeof(line), in));
        fclose(in);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
        assert_int_equal(sim_write_step_log(f->sim, "/nonexistent-dir/steps.txt"), -ENOENT);
}

/* A child steps a sim keeping its plunger in a file, as fast as it can,
 * at a gain that leaves a sub-pL remainder, and is killed at a random
 * moment, hundreds of times over the same file. Every time the file holds a
 * whole position: its travel is exactly what its step count moved, so no
 * kill ever caught it half written. Then a new sim starts from it. */
static void the_plunger_file_keeps_a_whole_position_through_kill_9_and_the_next_sim_starts_there(void **state) {
        struct fixture *f = *state;
        char dir[] = "/tmp/test-sim-plunger-XXXXXX", path[64];
        struct sim_plunger_position pos = {}, last = {};
        const int64_t gain_ppm = 800000;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/plunger", dir);
        struct sim_params big = f->params;
        big.syringe_volume_nl = 1000000 * NL_PER_ML;   /* 1000 L: never empty, however fast it steps */

        /* Enough kills that some land inside a store: a record written
         * in place is caught half written within a few hundred. */
        for (int kill_no = 0; kill_no < 400; kill_no++) {
                /* The random moment starts once the child steps: under
                 * qemu (the cross tests) starting up alone takes longer
                 * than the shortest delay, and a kill before the first
                 * record is written leaves no file to judge. */
                int ready[2];
                assert_int_equal(pipe(ready), 0);
                pid_t pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        close(ready[0]);
                        struct sim *s;
                        struct hal h;
                        if (sim_new(&big, NULL, NULL, &s) < 0 || sim_keep_plunger(s, path) < 0 ||
                            sim_set_motor_gain(s, 0.8) < 0)
                                _exit(1);
                        sim_fill_hal(s, &h);
                        h.drive->enable(h.drive_ctx, true);
                        h.drive->step(h.drive_ctx);
                        if (write(ready[1], "x", 1) != 1)
                                _exit(1);
                        for (;;)
                                h.drive->step(h.drive_ctx);
                }
                close(ready[1]);
                char byte;
                assert_int_equal(read(ready[0], &byte, 1), 1);
                close(ready[0]);
                struct timespec ts = { .tv_nsec = (500 + kill_no * 37 % 1500) * 1000L };
                nanosleep(&ts, NULL);
                int status;
                assert_int_equal(kill(pid, SIGKILL), 0);
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

                int64_t pl_per_step, fill_nl;
                assert_int_equal(sim_plunger_file_read(path, &pos, &pl_per_step, &fill_nl), 0);
                assert_int_equal(pl_per_step, big.mech.pl_per_step);
                assert_int_equal(fill_nl, big.syringe_volume_nl);
                /* Each child carried on where the last one was killed. */
                assert_true(pos.plunger_steps >= last.plunger_steps);
                assert_true(pos.travel_pl * 1000000 + pos.travel_rem_pl_ppm ==
                            pos.plunger_steps * big.mech.pl_per_step * gain_ppm);
                last = pos;
        }
        assert_true(pos.plunger_steps > 0);

        /* Same syringe: the plunger is where it was left, and steps on from there. */
        struct sim *s;
        struct hal h;
        assert_int_equal(sim_new(&big, NULL, NULL, &s), 0);
        assert_int_equal(sim_keep_plunger(s, path), 1);
        assert_int_equal(sim_keep_plunger(s, path), -EBUSY);
        assert_int_equal(sim_plunger_steps(s), pos.plunger_steps);
        assert_int_equal(sim_pushed_nl(s), pos.travel_pl / PL_PER_NL);
        assert_int_equal(sim_delivered_nl(s), pos.travel_pl / PL_PER_NL);     /* the line has relaxed */
        sim_fill_hal(s, &h);
        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(sim_plunger_file_read(path, &last, NULL, NULL), 0);
        assert_int_equal(last.plunger_steps, pos.plunger_steps + 1);
        assert_int_equal(last.travel_pl, pos.travel_pl + big.mech.pl_per_step);
        sim_free(s);

        /* Another syringe (another fill): a full one, and the file is its now. */
        assert_int_equal(sim_new(&f->params, NULL, NULL, &s), 0);
        assert_int_equal(sim_keep_plunger(s, path), 0);
        assert_int_equal(sim_plunger_steps(s), 0);
        assert_int_equal(sim_plunger_file_read(path, &last, NULL, NULL), 0);
        assert_int_equal(last.plunger_steps, 0);
        sim_free(s);

        /* Only before the first step. */
        enable(f);
        step_ok(f);
        assert_int_equal(sim_keep_plunger(f->sim, path), -EPERM);
        assert_int_equal(sim_plunger_file_read("/nonexistent", &last, NULL, NULL), -ENOENT);

        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
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
        /* A full cell on mains: the top of the 3.3 .. 4.2 V line. */
        assert_int_equal(f->hal.sensors->read(f->hal.sensors_ctx, HAL_SENSOR_BATTERY_VOLTAGE, &v), 0);
        assert_true(v == 4.2);
        assert_int_equal(f->hal.sensors->read(f->hal.sensors_ctx, _HAL_SENSOR_MAX, &v), -EINVAL);

        assert_int_equal(f->hal.power->read(f->hal.power_ctx, &ps), 0);
        assert_true(ps.on_mains);
        assert_int_equal(ps.capacity_pct, 100);
        assert_int_equal(ps.time_to_empty_s, -1);
        assert_true(ps.voltage_v == 4.2);
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

/* ---- patient movement ----------------------------------------------- */

#define MOVEMENT_MMHG 20.0
#define MOVEMENT_INTERVAL_S 60.0

static struct sim_params moving_params(void) {
        struct sim_params p = reference_params();
        p.movement_amplitude_mmhg = MOVEMENT_MMHG;
        p.movement_mean_interval_s = MOVEMENT_INTERVAL_S;
        return p;
}

static double read_sensor(struct hal *h, enum hal_sensor sensor) {
        double v = NAN;
        assert_int_equal(h->sensors->read(h->sensors_ctx, sensor, &v), 0);
        return v;
}

static void without_a_movement_amplitude_the_patient_stays_at_rest(void **state) {
        struct sim_params p = reference_params();
        struct sim *s;

        /* An interval alone moves nothing. */
        p.movement_mean_interval_s = 1.0;
        assert_int_equal(sim_new(&p, NULL, NULL, &s), 0);
        for (int64_t t = 0; t <= 3600; t++) {
                sim_update(s, t * US_PER_SEC);
                assert_true(sim_patient_pressure_mmhg(s) == PATIENT_MMHG);
                assert_true(sim_line_pressure_mmhg(s) == PATIENT_MMHG);
        }
        sim_free(s);
}

static void patient_movement_moves_the_measured_pressure_away_and_back(void **state) {
        struct sim_params p = moving_params();
        struct sim *s;
        struct hal h;
        unsigned departures = 0, returns = 0;
        bool at_rest = true;
        double largest_mmhg = 0;

        /* Noise-free, so the sensor must show exactly what the line does. */
        p.pressure_noise_mmhg = 0.0;
        assert_int_equal(sim_new(&p, NULL, NULL, &s), 0);
        sim_fill_hal(s, &h);

        /* An hour of samples every 100 ms; tau is 108 ms, so each
         * excursion (2 s or longer) settles before it ends. */
        for (int64_t t = 0; t <= 3600 * 10; t++) {
                sim_update(s, t * 100 * US_PER_MS);
                double line_mmhg = sim_line_pressure_mmhg(s);
                double deviation_mmhg = fabs(line_mmhg - PATIENT_MMHG);

                assert_true(read_sensor(&h, HAL_SENSOR_PRESSURE_DOWNSTREAM) == line_mmhg);
                assert_true(fabs(sim_patient_pressure_mmhg(s) - PATIENT_MMHG) <= MOVEMENT_MMHG);
                largest_mmhg = MAX(largest_mmhg, deviation_mmhg);

                if (at_rest && deviation_mmhg > 1.0) {
                        departures++;
                        at_rest = false;
                } else if (!at_rest && deviation_mmhg < 0.01) {
                        returns++;
                        at_rest = true;
                }
        }

        /* One excursion about every 60 + 16 s: about 47 in the hour, of
         * which some are too small to count. */
        assert_in_range(departures, 20, 80);
        assert_true(returns + 1 >= departures);
        assert_true(largest_mmhg > MOVEMENT_MMHG / 2);
        assert_true(largest_mmhg <= MOVEMENT_MMHG);
        /* Pumping nothing, the patient moving delivered nothing. */
        assert_int_equal(sim_delivered_nl(s), 0);
        sim_free(s);
}

static void patient_movement_replays_for_a_seed_and_differs_for_another(void **state) {
        struct sim_params p = moving_params();
        struct sim *a, *b, *c;
        unsigned differ = 0, moved = 0;

        assert_int_equal(sim_new(&p, NULL, NULL, &a), 0);
        assert_int_equal(sim_new(&p, NULL, NULL, &b), 0);
        p.seed = 43;
        assert_int_equal(sim_new(&p, NULL, NULL, &c), 0);

        for (int64_t t = 0; t <= 3600; t++) {
                sim_update(a, t * US_PER_SEC);
                sim_update(b, t * US_PER_SEC);
                sim_update(c, t * US_PER_SEC);
                assert_true(sim_patient_pressure_mmhg(a) == sim_patient_pressure_mmhg(b));
                assert_true(sim_line_pressure_mmhg(a) == sim_line_pressure_mmhg(b));
                differ += sim_patient_pressure_mmhg(a) != sim_patient_pressure_mmhg(c);
                moved += sim_patient_pressure_mmhg(a) != PATIENT_MMHG;
        }
        assert_true(moved > 100);
        assert_true(differ > 100);

        sim_free(a);
        sim_free(b);
        sim_free(c);
}

static void patient_movement_does_not_depend_on_how_often_the_model_is_updated(void **state) {
        struct sim_params p = moving_params();
        struct sim *often, *seldom;
        struct hal h_often, h_seldom;
        double largest_mmhg = 0;

        /* A slow line (tau 10.8 s) so the pressure is mid-way between
         * back-pressures much of the time, not settled. */
        p.line_resistance_mmhg_per_ml_per_h = 30.0;
        assert_int_equal(sim_new(&p, NULL, NULL, &often), 0);
        assert_int_equal(sim_new(&p, NULL, NULL, &seldom), 0);
        sim_fill_hal(often, &h_often);
        sim_fill_hal(seldom, &h_seldom);
        assert_int_equal(h_often.drive->enable(h_often.drive_ctx, true), 0);
        assert_int_equal(h_seldom.drive->enable(h_seldom.drive_ctx, true), 0);

        /* Half an hour: one every 10 ms, the other every second; both read
         * and step at the whole seconds. */
        for (int64_t t_ms = 0; t_ms <= 1800 * 1000; t_ms += 10) {
                sim_update(often, t_ms * US_PER_MS);
                if (t_ms % 1000 != 0)
                        continue;
                sim_update(seldom, t_ms * US_PER_MS);

                assert_close(sim_line_pressure_mmhg(often), sim_line_pressure_mmhg(seldom), 1e-6);
                assert_close(read_sensor(&h_often, HAL_SENSOR_PRESSURE_DOWNSTREAM),
                             read_sensor(&h_seldom, HAL_SENSOR_PRESSURE_DOWNSTREAM), 1e-6);
                assert_true(sim_patient_pressure_mmhg(often) == sim_patient_pressure_mmhg(seldom));
                assert_int_equal(sim_delivered_nl(often), sim_delivered_nl(seldom));
                largest_mmhg = MAX(largest_mmhg, fabs(sim_patient_pressure_mmhg(often) - PATIENT_MMHG));

                assert_int_equal(h_often.drive->step(h_often.drive_ctx), 0);
                assert_int_equal(h_seldom.drive->step(h_seldom.drive_ctx), 0);
        }
        assert_true(largest_mmhg > MOVEMENT_MMHG / 2);

        sim_free(often);
        sim_free(seldom);
}

/* ---- motor gain and position ---------------------------------------- */

static void step_n(struct fixture *f, int n) {
        for (int i = 0; i < n; i++)
                step_ok(f);
}

static void motor_gain_zero_stalls_the_plunger_while_steps_are_still_counted(void **state) {
        struct fixture *f = *state;
        bool end = true;

        assert_int_equal(sim_set_motor_gain(f->sim, 0.0), 0);
        enable(f);
        step_n(f, 1000);

        assert_int_equal(sim_plunger_steps(f->sim), 1000);
        assert_int_equal(sim_last_step_us(f->sim), 0);
        assert_int_equal(sim_pushed_nl(f->sim), 0);
        assert_int_equal(sim_delivered_nl(f->sim), 0);
        assert_true(sim_line_pressure_mmhg(f->sim) == PATIENT_MMHG);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_PLUNGER_POSITION) == 0.0);
        assert_int_equal(f->hal.inputs->read(f->hal.inputs_ctx, HAL_INPUT_END_STOP, &end), 0);
        assert_false(end);
}

static void motor_gain_of_one_point_two_pushes_twenty_percent_more(void **state) {
        struct fixture *f = *state;

        assert_int_equal(sim_set_motor_gain(f->sim, 1.2), 0);
        enable(f);
        sim_set_occlusion(f->sim, true);
        step_n(f, 1000);

        /* 1000 * 173,661 pL * 1.2 = 208,393,200 pL: the 0.2 pL of each step
         * is carried, not lost. */
        assert_int_equal(sim_plunger_steps(f->sim), 1000);
        assert_int_equal(sim_pushed_nl(f->sim), 208393);
        assert_close(read_sensor(&f->hal, HAL_SENSOR_PLUNGER_POSITION), 1.2 * 1000.0 / 3200.0, 1e-12);
        assert_close(sim_line_pressure_mmhg(f->sim), PATIENT_MMHG + 1.2 * 1000 * f->step_mmhg, 1e-9);

        sim_set_occlusion(f->sim, false);
        f->now_us += 40 * TAU_US;
        assert_int_equal(sim_delivered_nl(f->sim), 208393);
}

static void at_any_gain_forward_and_back_return_the_plunger_exactly(void **state) {
        struct fixture *f = *state;

        assert_int_equal(sim_set_motor_gain(f->sim, 1.234567), 0);
        enable(f);
        step_n(f, 777);
        assert_int_equal(sim_set_motor_gain(f->sim, 0.8), 0);
        step_n(f, 223);
        /* 777 * 173,661 pL * 1.234567 = 166,585,800.61 pL, then
         * 223 * 173,661 pL * 0.8 = 30,981,122.4 pL: 197,566,923.01 pL. */
        assert_int_equal(sim_pushed_nl(f->sim), 197566);

        set_direction(f, HAL_DIRECTION_REVERSE);
        step_n(f, 223);
        assert_int_equal(sim_set_motor_gain(f->sim, 1.234567), 0);
        step_n(f, 777);
        assert_int_equal(sim_plunger_steps(f->sim), 0);
        assert_int_equal(sim_pushed_nl(f->sim), 0);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_PLUNGER_POSITION) == 0.0);
}

static void at_double_gain_the_syringe_empties_in_half_the_steps(void **state) {
        struct fixture *f = *state;
        bool end = false;

        /* 1000 nL holds 5 steps at gain 1 and 2 at gain 2: 694,644 pL,
         * a third would make 1,041,966. */
        sim_free(f->sim);
        f->params.syringe_volume_nl = 1000;
        assert_int_equal(fixture_start(f), 0);

        assert_int_equal(sim_set_motor_gain(f->sim, 2.0), 0);
        enable(f);
        step_n(f, 2);
        assert_int_equal(f->hal.drive->step(f->hal.drive_ctx), -ENOSPC);
        assert_int_equal(sim_plunger_steps(f->sim), 2);
        assert_int_equal(sim_pushed_nl(f->sim), 694);
        assert_int_equal(f->hal.inputs->read(f->hal.inputs_ctx, HAL_INPUT_END_STOP, &end), 0);
        assert_true(end);

        /* A slipping drive does not reach the end stop either way. */
        assert_int_equal(sim_set_motor_gain(f->sim, 0.0), 0);
        assert_int_equal(f->hal.inputs->read(f->hal.inputs_ctx, HAL_INPUT_END_STOP, &end), 0);
        assert_false(end);
        step_ok(f);
        assert_int_equal(sim_pushed_nl(f->sim), 694);
}

static void position_sensor_reads_the_real_travel_plus_its_noise(void **state) {
        struct fixture *f = *state;
        const double noise_mm = 0.01;
        const int n = 10000;
        double sum = 0, sum_sq = 0;

        sim_free(f->sim);
        f->params.position_noise_mm = noise_mm;
        assert_int_equal(fixture_start(f), 0);
        enable(f);
        step_n(f, 1000);

        for (int i = 0; i < n; i++) {
                double v = read_sensor(&f->hal, HAL_SENSOR_PLUNGER_POSITION);
                sum += v;
                sum_sq += v * v;
        }
        double mean = sum / n;
        double sd = sqrt((sum_sq - n * mean * mean) / (n - 1));

        assert_close(mean, 1000.0 / 3200.0, 4.0 * noise_mm / sqrt(n));
        assert_close(sd, noise_mm, 0.1 * noise_mm);
}

/* ---- upstream occlusion --------------------------------------------- */

static void upstream_occlusion_pulls_the_upstream_pressure_down_and_clearing_recovers(void **state) {
        struct fixture *f = *state;
        /* One step over the upstream compliance of 500 nL/mmHg. */
        const double drop_mmhg = 173.661 / 500.0;

        sim_free(f->sim);
        f->params.pressure_noise_mmhg = 0.0;
        assert_int_equal(fixture_start(f), 0);
        enable(f);

        step_n(f, 100);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_PRESSURE_UPSTREAM) == 0.0);

        sim_set_upstream_occlusion(f->sim, true);
        step_n(f, 100);
        assert_close(sim_upstream_pressure_mmhg(f->sim), -100 * drop_mmhg, 1e-9);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_PRESSURE_UPSTREAM) == sim_upstream_pressure_mmhg(f->sim));

        /* Time alone does not recover it, and backing off does not either. */
        f->now_us += 3600 * US_PER_SEC;
        set_direction(f, HAL_DIRECTION_REVERSE);
        step_n(f, 10);
        assert_close(sim_upstream_pressure_mmhg(f->sim), -100 * drop_mmhg, 1e-9);

        /* 600 mmHg is 1727.6 steps' worth: the floor holds after that. */
        set_direction(f, HAL_DIRECTION_FORWARD);
        step_n(f, 2000);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_PRESSURE_UPSTREAM) == -600.0);

        sim_set_upstream_occlusion(f->sim, false);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_PRESSURE_UPSTREAM) == 0.0);
        step_n(f, 100);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_PRESSURE_UPSTREAM) == 0.0);
}

/* ---- air ------------------------------------------------------------ */

static bool air_active(struct fixture *f) {
        bool active = false;
        assert_int_equal(f->hal.inputs->read(f->hal.inputs_ctx, HAL_INPUT_AIR_IN_LINE, &active), 0);
        return active;
}

static void a_150_ul_bubble_keeps_the_air_input_active_for_exactly_the_steps_covering_it(void **state) {
        struct fixture *f = *state;
        struct edge_log log = {};

        assert_int_equal(f->hal.inputs->set_handler(f->hal.inputs_ctx, record_edge, &log), 0);
        enable(f);
        assert_false(air_active(f));
        assert_int_equal(sim_inject_air(f->sim, 150 * 1000), 0);

        /* 863 steps push 149,869,443 pL, still inside the bubble; 864 push
         * 150,043,104 pL, past it. */
        for (int k = 0; k < 864; k++) {
                if (!air_active(f))
                        fail_msg("no air after %d steps", k);
                step_ok(f);
        }
        assert_false(air_active(f));
        step_n(f, 1000);
        assert_false(air_active(f));

        /* Polled, never pushed to the handler from the stepping path. */
        assert_int_equal(log.count, 0);
}

static void two_queued_bubbles_pass_one_after_the_other_with_a_gap(void **state) {
        struct fixture *f = *state;
        int edges[8], n_edges = 0;
        bool was = false;

        /* 100 µL now, then 50 µL of fluid, then 50 µL of air. */
        assert_int_equal(sim_inject_air(f->sim, 100 * 1000), 0);
        assert_int_equal(sim_inject_air(f->sim, 50 * 1000), 0);
        enable(f);

        for (int k = 0; k < 2000; k++) {
                bool now = air_active(f);
                if (now != was) {
                        assert_true(n_edges < (int) ELEMENTSOF(edges));
                        edges[n_edges++] = k;
                        was = now;
                }
                step_ok(f);
        }

        /* Edges at the first step count whose travel reaches 0, 100, 150
         * and 200 µL: 173,661 pL * 576 = 100,028,736, * 864 = 150,043,104,
         * * 1152 = 200,057,472. */
        assert_int_equal(n_edges, 4);
        assert_int_equal(edges[0], 0);
        assert_int_equal(edges[1], 576);
        assert_int_equal(edges[2], 864);
        assert_int_equal(edges[3], 1152);
}

static void a_bubble_moves_only_with_the_real_forward_travel(void **state) {
        struct fixture *f = *state;

        enable(f);
        assert_int_equal(sim_inject_air(f->sim, 1000), 0);

        /* A slipping drive and a back-off leave it at the detector. */
        assert_int_equal(sim_set_motor_gain(f->sim, 0.0), 0);
        step_n(f, 100);
        assert_true(air_active(f));
        assert_int_equal(sim_set_motor_gain(f->sim, 1.0), 0);
        set_direction(f, HAL_DIRECTION_REVERSE);
        step_n(f, 100);
        assert_true(air_active(f));

        /* 1000 nL is 5.76 steps. */
        set_direction(f, HAL_DIRECTION_FORWARD);
        step_n(f, 5);
        assert_true(air_active(f));
        step_ok(f);
        assert_false(air_active(f));
}

/* ---- battery -------------------------------------------------------- */

static struct hal_power_status read_power(struct fixture *f) {
        struct hal_power_status ps = {};
        assert_int_equal(f->hal.power->read(f->hal.power_ctx, &ps), 0);
        return ps;
}

static void battery_discharges_in_model_time_and_not_on_mains(void **state) {
        struct fixture *f = *state;
        struct hal_power_status ps;

        /* On mains: ten hours change nothing. */
        f->now_us += 10 * US_PER_HOUR;
        ps = read_power(f);
        assert_true(ps.on_mains);
        assert_int_equal(ps.capacity_pct, 100);
        assert_int_equal(ps.time_to_empty_s, -1);

        /* Off mains, the default 240 min: an hour takes a quarter. */
        assert_int_equal(sim_set_battery(f->sim, false, 100.0), 0);
        ps = read_power(f);
        assert_false(ps.on_mains);
        assert_int_equal(ps.time_to_empty_s, 240 * 60);
        for (int i = 0; i < 60; i++) {
                f->now_us += US_PER_MIN;
                (void) read_power(f);
        }
        ps = read_power(f);
        assert_int_equal(ps.capacity_pct, 75);
        assert_int_equal(ps.time_to_empty_s, 180 * 60);
        assert_close(ps.voltage_v, 3.3 + 0.9 * 0.75, 1e-12);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_BATTERY_VOLTAGE) == ps.voltage_v);

        /* Rounded down: 179 min of 240 is 74.58 %. */
        f->now_us += US_PER_MIN;
        ps = read_power(f);
        assert_int_equal(ps.capacity_pct, 74);
        assert_int_equal(ps.time_to_empty_s, 179 * 60);

        /* Back on mains at 50 %: it holds there. */
        assert_int_equal(sim_set_battery(f->sim, true, 50.0), 0);
        f->now_us += 10 * US_PER_HOUR;
        ps = read_power(f);
        assert_int_equal(ps.capacity_pct, 50);
        assert_int_equal(ps.time_to_empty_s, -1);
        assert_close(ps.voltage_v, 3.75, 1e-12);

        /* Off again for longer than it lasts: empty, and it stays empty. */
        assert_int_equal(sim_set_battery(f->sim, false, 50.0), 0);
        f->now_us += 3 * US_PER_HOUR;
        ps = read_power(f);
        assert_int_equal(ps.capacity_pct, 0);
        assert_int_equal(ps.time_to_empty_s, 0);
        assert_true(ps.voltage_v == 3.3);
}

static void battery_runtime_follows_the_parameter(void **state) {
        struct fixture *f = *state;
        struct hal_power_status ps;

        sim_free(f->sim);
        f->params.battery_runtime_min = 60.0;
        assert_int_equal(fixture_start(f), 0);

        assert_int_equal(sim_set_battery(f->sim, false, 50.0), 0);
        f->now_us += 15 * US_PER_MIN;
        ps = read_power(f);
        assert_int_equal(ps.capacity_pct, 25);
        assert_int_equal(ps.time_to_empty_s, 15 * 60);
}

/* ---- sensor faults -------------------------------------------------- */

static void each_sensor_fault_holds_until_ok_restores_the_sensor(void **state) {
        struct fixture *f = *state;
        double v;

        for (enum hal_sensor sensor = 0; sensor < _HAL_SENSOR_MAX; sensor++) {
                const struct hal_sensors_ops *ops = f->hal.sensors;
                void *ctx = f->hal.sensors_ctx;

                assert_int_equal(sim_fail_sensor(f->sim, sensor, SIM_SENSOR_READ_ERROR), 0);
                assert_int_equal(ops->read(ctx, sensor, &v), -EIO);
                assert_int_equal(ops->read(ctx, sensor, &v), -EIO);

                assert_int_equal(sim_fail_sensor(f->sim, sensor, SIM_SENSOR_OUT_OF_RANGE), 0);
                assert_true(read_sensor(&f->hal, sensor) == 1e6);

                assert_int_equal(sim_fail_sensor(f->sim, sensor, SIM_SENSOR_OK), 0);
                v = read_sensor(&f->hal, sensor);
                assert_true(fabs(v) < 100.0);

                /* The others were never touched. */
                for (enum hal_sensor other = 0; other < _HAL_SENSOR_MAX; other++)
                        assert_true(fabs(read_sensor(&f->hal, other)) < 100.0);
        }
}

static void a_stuck_sensor_repeats_the_value_it_froze_at(void **state) {
        struct fixture *f = *state;
        struct hal_power_status ps;

        enable(f);
        sim_set_occlusion(f->sim, true);
        assert_int_equal(sim_fail_sensor(f->sim, HAL_SENSOR_PRESSURE_DOWNSTREAM, SIM_SENSOR_STUCK), 0);
        assert_int_equal(sim_fail_sensor(f->sim, HAL_SENSOR_PLUNGER_POSITION, SIM_SENSOR_STUCK), 0);
        assert_int_equal(sim_fail_sensor(f->sim, HAL_SENSOR_BATTERY_VOLTAGE, SIM_SENSOR_STUCK), 0);

        /* Frozen at the first read after the fault, noise and all. */
        step_n(f, 10);
        double pressure_mmhg = read_sensor(&f->hal, HAL_SENSOR_PRESSURE_DOWNSTREAM);
        double position_mm = read_sensor(&f->hal, HAL_SENSOR_PLUNGER_POSITION);
        assert_true(position_mm == 10.0 / 3200.0);
        double voltage_v = read_sensor(&f->hal, HAL_SENSOR_BATTERY_VOLTAGE);
        assert_int_equal(sim_set_battery(f->sim, false, 100.0), 0);

        /* 1000 more steps add 1737 mmHg; an hour off mains takes 0.225 V. */
        step_n(f, 1000);
        f->now_us += US_PER_HOUR;
        for (int i = 0; i < 100; i++) {
                assert_true(read_sensor(&f->hal, HAL_SENSOR_PRESSURE_DOWNSTREAM) == pressure_mmhg);
                assert_true(read_sensor(&f->hal, HAL_SENSOR_PLUNGER_POSITION) == position_mm);
                assert_true(read_sensor(&f->hal, HAL_SENSOR_BATTERY_VOLTAGE) == voltage_v);
        }

        /* Stuck again keeps the value; the power op is a separate gauge. */
        assert_int_equal(sim_fail_sensor(f->sim, HAL_SENSOR_PRESSURE_DOWNSTREAM, SIM_SENSOR_STUCK), 0);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_PRESSURE_DOWNSTREAM) == pressure_mmhg);
        ps = read_power(f);
        assert_close(ps.voltage_v, 3.975, 1e-12);

        /* OK: live again. */
        assert_int_equal(sim_fail_sensor(f->sim, HAL_SENSOR_PRESSURE_DOWNSTREAM, SIM_SENSOR_OK), 0);
        assert_int_equal(sim_fail_sensor(f->sim, HAL_SENSOR_PLUNGER_POSITION, SIM_SENSOR_OK), 0);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_PRESSURE_DOWNSTREAM) > pressure_mmhg + 1000.0);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_PLUNGER_POSITION) == 1010.0 / 3200.0);

        /* Stuck anew freezes anew. */
        assert_int_equal(sim_fail_sensor(f->sim, HAL_SENSOR_PLUNGER_POSITION, SIM_SENSOR_STUCK), 0);
        assert_true(read_sensor(&f->hal, HAL_SENSOR_PLUNGER_POSITION) == 1010.0 / 3200.0);
}

static void sensor_fault_names_round_trip(void **state) {
        enum sim_sensor_fault f = _SIM_SENSOR_FAULT_MAX;

        assert_string_equal(sim_sensor_fault_to_string(SIM_SENSOR_OK), "ok");
        assert_string_equal(sim_sensor_fault_to_string(SIM_SENSOR_READ_ERROR), "read-error");
        assert_string_equal(sim_sensor_fault_to_string(SIM_SENSOR_STUCK), "stuck");
        assert_string_equal(sim_sensor_fault_to_string(SIM_SENSOR_OUT_OF_RANGE), "out-of-range");
        assert_null(sim_sensor_fault_to_string(_SIM_SENSOR_FAULT_MAX));

        for (enum sim_sensor_fault i = 0; i < _SIM_SENSOR_FAULT_MAX; i++) {
                assert_int_equal(sim_sensor_fault_from_string(sim_sensor_fault_to_string(i), &f), 0);
                assert_int_equal(f, i);
        }
}

/* ---- bad arguments -------------------------------------------------- */

static void bad_arguments_to_the_world_and_fault_calls_are_refused(void **state) {
        struct fixture *f = *state;
        enum sim_sensor_fault fault = SIM_SENSOR_STUCK;
        struct hal_power_status ps;

        assert_int_equal(sim_inject_air(f->sim, 0), -EINVAL);
        assert_int_equal(sim_inject_air(f->sim, -1000), -EINVAL);
        assert_int_equal(sim_inject_air(f->sim, 10 * NL_PER_ML + 1), -EINVAL);
        assert_false(air_active(f));
        assert_int_equal(sim_inject_air(f->sim, 10 * NL_PER_ML), 0);
        for (int i = 1; i < 16; i++)
                assert_int_equal(sim_inject_air(f->sim, 1000), 0);
        assert_int_equal(sim_inject_air(f->sim, 1000), -ENOBUFS);

        assert_int_equal(sim_set_battery(f->sim, false, 100.5), -EINVAL);
        assert_int_equal(sim_set_battery(f->sim, false, -0.1), -EINVAL);
        assert_int_equal(sim_set_battery(f->sim, false, NAN), -EINVAL);
        ps = read_power(f);
        assert_true(ps.on_mains);
        assert_int_equal(ps.capacity_pct, 100);

        assert_int_equal(sim_fail_sensor(f->sim, _HAL_SENSOR_MAX, SIM_SENSOR_READ_ERROR), -EINVAL);
        assert_int_equal(sim_fail_sensor(f->sim, HAL_SENSOR_PRESSURE_DOWNSTREAM, _SIM_SENSOR_FAULT_MAX), -EINVAL);
        assert_int_equal(sim_fail_sensor(f->sim, HAL_SENSOR_PRESSURE_DOWNSTREAM, (enum sim_sensor_fault) -1), -EINVAL);
        (void) read_sensor(&f->hal, HAL_SENSOR_PRESSURE_DOWNSTREAM);
        assert_int_equal(sim_sensor_fault_from_string("broken", &fault), -EINVAL);
        assert_int_equal(sim_sensor_fault_from_string(NULL, &fault), -EINVAL);
        assert_int_equal(fault, SIM_SENSOR_STUCK);

        assert_int_equal(sim_set_motor_gain(f->sim, -0.01), -EINVAL);
        assert_int_equal(sim_set_motor_gain(f->sim, 2.01), -EINVAL);
        assert_int_equal(sim_set_motor_gain(f->sim, NAN), -EINVAL);
        enable(f);
        step_ok(f);
        assert_int_equal(sim_pushed_nl(f->sim), 173);

        /* The bubbles decide the air input, as the plunger the end stop. */
        assert_int_equal(sim_set_input(f->sim, HAL_INPUT_AIR_IN_LINE, false), -EINVAL);
        assert_true(air_active(f));
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
        ASSERT_REFUSED(movement_amplitude_mmhg, -1.0);
        ASSERT_REFUSED(movement_amplitude_mmhg, NAN);
        ASSERT_REFUSED(position_noise_mm, -0.01);
        ASSERT_REFUSED(position_noise_mm, NAN);
        ASSERT_REFUSED(battery_runtime_min, -1.0);
        ASSERT_REFUSED(battery_runtime_min, NAN);
        ASSERT_REFUSED(battery_runtime_min, 2e6);
#undef ASSERT_REFUSED

        /* Movement needs an interval to arrive at. */
        p = reference_params();
        p.movement_amplitude_mmhg = 5.0;
        assert_int_equal(sim_new(&p, NULL, NULL, &s), -EINVAL);
        p.movement_mean_interval_s = -60.0;
        assert_int_equal(sim_new(&p, NULL, NULL, &s), -EINVAL);
        p.movement_mean_interval_s = NAN;
        assert_int_equal(sim_new(&p, NULL, NULL, &s), -EINVAL);
        assert_ptr_equal(s, (struct sim *) 0x1);

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
                cmocka_unit_test_setup_teardown(the_step_log_keeps_each_step_time_and_counts_what_did_not_fit, setup, teardown),
                cmocka_unit_test_setup_teardown(the_plunger_file_keeps_a_whole_position_through_kill_9_and_the_next_sim_starts_there,
                                                setup, teardown),
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
                cmocka_unit_test(without_a_movement_amplitude_the_patient_stays_at_rest),
                cmocka_unit_test(patient_movement_moves_the_measured_pressure_away_and_back),
                cmocka_unit_test(patient_movement_replays_for_a_seed_and_differs_for_another),
                cmocka_unit_test(patient_movement_does_not_depend_on_how_often_the_model_is_updated),
                cmocka_unit_test_setup_teardown(motor_gain_zero_stalls_the_plunger_while_steps_are_still_counted, setup, teardown),
                cmocka_unit_test_setup_teardown(motor_gain_of_one_point_two_pushes_twenty_percent_more, setup, teardown),
                cmocka_unit_test_setup_teardown(at_any_gain_forward_and_back_return_the_plunger_exactly, setup, teardown),
                cmocka_unit_test_setup_teardown(at_double_gain_the_syringe_empties_in_half_the_steps, setup, teardown),
                cmocka_unit_test_setup_teardown(position_sensor_reads_the_real_travel_plus_its_noise, setup, teardown),
                cmocka_unit_test_setup_teardown(upstream_occlusion_pulls_the_upstream_pressure_down_and_clearing_recovers, setup, teardown),
                cmocka_unit_test_setup_teardown(a_150_ul_bubble_keeps_the_air_input_active_for_exactly_the_steps_covering_it, setup, teardown),
                cmocka_unit_test_setup_teardown(two_queued_bubbles_pass_one_after_the_other_with_a_gap, setup, teardown),
                cmocka_unit_test_setup_teardown(a_bubble_moves_only_with_the_real_forward_travel, setup, teardown),
                cmocka_unit_test_setup_teardown(battery_discharges_in_model_time_and_not_on_mains, setup, teardown),
                cmocka_unit_test_setup_teardown(battery_runtime_follows_the_parameter, setup, teardown),
                cmocka_unit_test_setup_teardown(each_sensor_fault_holds_until_ok_restores_the_sensor, setup, teardown),
                cmocka_unit_test_setup_teardown(a_stuck_sensor_repeats_the_value_it_froze_at, setup, teardown),
                cmocka_unit_test(sensor_fault_names_round_trip),
                cmocka_unit_test_setup_teardown(bad_arguments_to_the_world_and_fault_calls_are_refused, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
