/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "test-rng.h"

#include "common/units.h"
#include "common/muldiv.h"
#include "safety//supervise.h"

/* ---- a simulated syringe pump ---------------------------------------- */

/* BD 50 mL syringe, 26.6 mm bore: 555.7 uL per mm. 1 mm lead screw, 3200
 * microsteps per turn: 0.173661 uL per step. The plunger potentiometer
 * is read every 100 ms with 0.005 mm of noise (2.78 uL). */
#define NL_PER_MM 555700.0
#define PL_PER_STEP INT64_C(173661)
#define NOISE_NL (0.005 * NL_PER_MM)
#define TICK_US (100 * US_PER_MS)

/* GIP 1.2.2/1.2.3: an error held 15 min. */
#define GIP_WINDOW_US (15 * US_PER_MIN)

#define ML_PER_H(x) ((int64_t) ((x) * NL_PER_ML))

struct pump {
        struct rng rng;
        int64_t rate_nl_per_h;
        double gain;                    /* plunger travel per commanded travel */
        double noise_nl;                /* sigma of one reading */
        int64_t tick_us;
        int64_t t_us;
        int64_t steps;
        double delivered_nl;
};

static void pump_init(struct pump *p, int64_t rate_nl_per_h, double noise_nl) {
        *p = (struct pump) {
                .rng.state = 42,
                .rate_nl_per_h = rate_nl_per_h,
                .gain = 1.0,
                .noise_nl = noise_nl,
                .tick_us = TICK_US,
        };
}

static enum accuracy_verdict pump_tick(struct pump *p, struct accuracy_monitor *m) {
        p->t_us += p->tick_us;
        int64_t steps;
        assert_int_equal(muldiv_floor(p->rate_nl_per_h * PL_PER_NL, p->t_us, US_PER_HOUR * PL_PER_STEP, &steps), 0);
        p->delivered_nl += p->gain * (double) ((steps - p->steps) * PL_PER_STEP) / PL_PER_NL;
        p->steps = steps;
        int64_t commanded_nl = steps * PL_PER_STEP / PL_PER_NL;
        double measured_nl = p->delivered_nl + p->noise_nl * rng_gauss(&p->rng);
        return accuracy_sample(m, p->t_us, commanded_nl, measured_nl);
}

/* Runs for duration_us. Returns how long it took to the first verdict
 * other than OK, and that verdict, or -1 if none came. */
static int64_t pump_run(struct pump *p, struct accuracy_monitor *m, int64_t duration_us,
                        enum accuracy_verdict *ret_verdict) {
        int64_t start_us = p->t_us;

        while (p->t_us - start_us < duration_us) {
                enum accuracy_verdict v = pump_tick(p, m);
                if (v != ACCURACY_OK) {
                        if (ret_verdict)
                                *ret_verdict = v;
                        return p->t_us - start_us;
                }
        }
        return -1;
}

/* Healthy for healthy_us, then the drive's gain changes: returns the
 * seconds from the fault to the verdict, which must be the expected one. */
static double seconds_to_detect(const struct accuracy_params *params, int64_t rate_nl_per_h, int64_t healthy_us,
                                double fault_gain, enum accuracy_verdict expected) {
        static struct accuracy_monitor m;
        struct pump p;
        enum accuracy_verdict v = ACCURACY_OK;

        accuracy_init(&m, params);
        pump_init(&p, rate_nl_per_h, NOISE_NL);
        assert_int_equal(pump_run(&p, &m, healthy_us, NULL), -1);
        p.gain = fault_gain;
        int64_t t_us = pump_run(&p, &m, GIP_WINDOW_US, &v);
        assert_true(t_us >= 0);
        assert_string_equal(accuracy_verdict_to_string(v), accuracy_verdict_to_string(expected));
        return (double) t_us / US_PER_SEC;
}

/* ---- accuracy: parameters -------------------------------------------- */

static void accuracy_defaults_pass_their_own_check(void **state) {
        struct accuracy_params p;
        const char *why = NULL;

        accuracy_params_default(&p);
        assert_int_equal(accuracy_params_check(&p, &why), 0);
        assert_null(why);
        /* Never slower than GIP 1.2.2: window and persistence in 15 min. */
        assert_true(p.window_us + p.persistence_us <= GIP_WINDOW_US);
}

static void accuracy_params_out_of_range_are_refused_with_a_reason(void **state) {
        static const char *const what[] = {
                "zero tolerance", "NaN tolerance", "100 % tolerance", "window under 5 s",
                "window beyond the history", "negative persistence", "slower than GIP",
                "no minimum window volume", "negative resolution", "infinite resolution",
                "no stall volume",
        };

        for (size_t i = 0; i < sizeof what / sizeof what[0]; i++) {
                struct accuracy_params p;
                const char *why = NULL;

                accuracy_params_default(&p);
                switch (i) {
                case 0: p.tolerance_pct = 0; break;
                case 1: p.tolerance_pct = NAN; break;
                case 2: p.tolerance_pct = 100; break;
                case 3: p.window_us = 4 * US_PER_SEC; break;
                case 4: p.window_us = ACCURACY_HORIZON_US; break;
                case 5: p.persistence_us = -1; break;
                case 6: p.persistence_us = GIP_WINDOW_US - p.window_us + 1; break;
                case 7: p.min_window_nl = 0; break;
                case 8: p.position_resolution_nl = -1; break;
                case 9: p.position_resolution_nl = INFINITY; break;
                case 10: p.stall_nl = 0; break;
                }
                if (accuracy_params_check(&p, &why) != -EINVAL || !why)
                        fail_msg("%s was not refused with a reason", what[i]);
        }
}

/* ---- accuracy: no false alarms ---------------------------------------- */

static void twenty_four_hours_healthy(int64_t rate_nl_per_h) {
        static struct accuracy_monitor m;
        struct accuracy_params params;
        struct pump p;
        enum accuracy_verdict v = ACCURACY_OK;

        accuracy_params_default(&params);
        accuracy_init(&m, &params);
        pump_init(&p, rate_nl_per_h, NOISE_NL);
        int64_t t_us = pump_run(&p, &m, 24 * US_PER_HOUR, &v);
        if (t_us >= 0)
                fail_msg("%s after %.1f s at gain 1.0", accuracy_verdict_to_string(v), (double) t_us / US_PER_SEC);
        /* It did judge all along: the estimate is set, and within the
         * noise (sigma 0.85 % of a 120 s window at 1 mL/h). */
        print_message("24 h at %3.0f mL/h, gain 1.0, 2.78 uL noise: nothing raised; last error %+.3f %%\n",
                      (double) rate_nl_per_h / NL_PER_ML, accuracy_last_error_pct(&m));
        assert_true(accuracy_last_error_pct(&m) != 0);
        assert_true(fabs(accuracy_last_error_pct(&m)) < 5);
}

static void twenty_four_hours_at_1_ml_per_h_with_sensor_noise_raise_nothing(void **state) {
        twenty_four_hours_healthy(ML_PER_H(1));
}

static void twenty_four_hours_at_100_ml_per_h_with_sensor_noise_raise_nothing(void **state) {
        twenty_four_hours_healthy(ML_PER_H(100));
}

/* ---- accuracy: detection times --------------------------------------- */

static void gain_errors_mid_delivery_are_reported_within_window_plus_persistence(void **state) {
        struct accuracy_params params;
        accuracy_params_default(&params);

        const struct {
                double rate_ml_per_h, gain;
                enum accuracy_verdict expected;
        } cases[] = {
                { 1, 0.8, ACCURACY_UNDER },
                { 1, 1.2, ACCURACY_OVER },
                { 25, 0.8, ACCURACY_UNDER },
                { 25, 1.2, ACCURACY_OVER },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                double s = seconds_to_detect(&params, ML_PER_H(cases[i].rate_ml_per_h), 10 * US_PER_MIN,
                                             cases[i].gain, cases[i].expected);
                print_message("gain %.1f from minute 10 at %2.0f mL/h: %s after %5.1f s (GIP: 900 s)\n",
                              cases[i].gain, cases[i].rate_ml_per_h,
                              accuracy_verdict_to_string(cases[i].expected), s);
                assert_true(s <= (double) (params.window_us + params.persistence_us) / US_PER_SEC);
                /* Persistence is part of it: never sooner. */
                assert_true(s >= (double) params.persistence_us / US_PER_SEC);
        }
}

static void gain_errors_from_the_start_are_reported_once_the_window_holds_enough(void **state) {
        struct accuracy_params params;
        accuracy_params_default(&params);

        const struct {
                double rate_ml_per_h, gain;
                enum accuracy_verdict expected;
        } cases[] = {
                { 1, 0.8, ACCURACY_UNDER },
                { 1, 1.2, ACCURACY_OVER },
                { 25, 0.8, ACCURACY_UNDER },
                { 25, 1.2, ACCURACY_OVER },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                double s = seconds_to_detect(&params, ML_PER_H(cases[i].rate_ml_per_h), 0,
                                             cases[i].gain, cases[i].expected);
                print_message("gain %.1f from the start at %2.0f mL/h: %s after %5.1f s\n",
                              cases[i].gain, cases[i].rate_ml_per_h,
                              accuracy_verdict_to_string(cases[i].expected), s);
                assert_true(s <= (double) (params.window_us + params.persistence_us) / US_PER_SEC);
        }
}

static void stall_at_1_ml_per_h_is_reported_before_stall_volume_is_commanded(void **state) {
        struct accuracy_params params;
        accuracy_params_default(&params);

        double s = seconds_to_detect(&params, ML_PER_H(1), 10 * US_PER_MIN, 0.0, ACCURACY_STALL);
        double stall_s = (double) params.stall_nl * 3600 / ML_PER_H(1);
        print_message("stall from minute 10 at  1 mL/h: stall after %5.1f s (%.0f uL take %.0f s)\n",
                      s, params.stall_nl / 1000.0, stall_s);
        assert_true(s <= stall_s);
}

static void stall_at_0_1_ml_per_h_is_seen_across_the_twelve_minutes_it_takes(void **state) {
        struct accuracy_params params;
        accuracy_params_default(&params);

        /* 20 uL at 0.1 mL/h takes 720 s: longer than the accuracy window,
         * and more readings than the history holds one by one. */
        double s = seconds_to_detect(&params, ML_PER_H(0.1), 20 * US_PER_MIN, 0.0, ACCURACY_STALL);
        double stall_s = (double) params.stall_nl * 3600 / ML_PER_H(0.1);
        print_message("stall from minute 20 at 0.1 mL/h: stall after %5.1f s (%.0f uL take %.0f s)\n",
                      s, params.stall_nl / 1000.0, stall_s);
        assert_true(s <= stall_s);
}

static void stall_is_reported_at_once_without_waiting_for_persistence(void **state) {
        struct accuracy_params params;
        accuracy_params_default(&params);
        params.persistence_us = 5 * US_PER_MIN;

        double s = seconds_to_detect(&params, ML_PER_H(25), 2 * US_PER_MIN, 0.0, ACCURACY_STALL);
        print_message("stall at 25 mL/h: stall after %.1f s\n", s);
        assert_true(s < 5);
}

/* ---- accuracy: what keeps noise from passing for an error ------------ */

static void under_infusion_must_persist_before_it_is_reported(void **state) {
        struct accuracy_params params;
        accuracy_params_default(&params);

        params.persistence_us = 0;
        double at_once_s = seconds_to_detect(&params, ML_PER_H(25), 5 * US_PER_MIN, 0.8, ACCURACY_UNDER);
        params.persistence_us = 60 * US_PER_SEC;
        double held_s = seconds_to_detect(&params, ML_PER_H(25), 5 * US_PER_MIN, 0.8, ACCURACY_UNDER);

        /* Same noise, same fault: the later report is the persistence. */
        assert_float_equal(held_s - at_once_s, 60.0, 0.6);
}

static void window_that_commanded_too_little_is_not_judged(void **state) {
        static struct accuracy_monitor m;
        struct accuracy_params params;
        struct pump p;
        enum accuracy_verdict v = ACCURACY_OK;

        /* 0.5 mL/h commands 16.7 uL per 120 s window, under the default
         * 20 uL. No noise, and an error of 50 %: only the minimum volume
         * keeps it from being judged. */
        accuracy_params_default(&params);
        accuracy_init(&m, &params);
        pump_init(&p, ML_PER_H(0.5), 0);
        p.gain = 0.5;
        assert_int_equal(pump_run(&p, &m, US_PER_HOUR, NULL), -1);

        params.min_window_nl = 10000;
        accuracy_init(&m, &params);
        pump_init(&p, ML_PER_H(0.5), 0);
        p.gain = 0.5;
        assert_true(pump_run(&p, &m, US_PER_HOUR, &v) >= 0);
        assert_int_equal(v, ACCURACY_UNDER);
}

static void error_within_the_fit_noise_is_not_reported(void **state) {
        static struct accuracy_monitor m;
        struct accuracy_params params;
        struct pump p;
        enum accuracy_verdict v = ACCURACY_OK;

        /* A 10 s window at 11 mL/h holds 100 readings and commands
         * 30.6 uL: its 10 % (3.1 uL) is only 3.2 standard errors of the
         * fit (0.96 uL), so noise alone crosses it now and then. */
        accuracy_params_default(&params);
        params.window_us = 10 * US_PER_SEC;
        params.persistence_us = 0;
        params.min_window_nl = 1000;
        params.stall_nl = INT64_MAX / 2;
        accuracy_init(&m, &params);
        pump_init(&p, ML_PER_H(11), NOISE_NL);
        int64_t t_us = pump_run(&p, &m, 6 * US_PER_HOUR, &v);
        if (t_us >= 0)
                fail_msg("%s after %.1f s of noise", accuracy_verdict_to_string(v), (double) t_us / US_PER_SEC);

        /* The same run judged without the noise bound does raise. */
        params.position_resolution_nl = 0;
        accuracy_init(&m, &params);
        pump_init(&p, ML_PER_H(11), NOISE_NL);
        assert_true(pump_run(&p, &m, 6 * US_PER_HOUR, &v) >= 0);
}

static void error_smaller_than_one_reading_of_noise_is_not_reported(void **state) {
        static struct accuracy_monitor m;
        struct accuracy_params params;
        struct pump p;
        enum accuracy_verdict v = ACCURACY_OK;

        /* 0.25 mL/h at gain 0.8 loses 1.7 uL per 120 s window: 20 %, and
         * 6 standard errors of a 1200-reading fit, but under one
         * reading's 2.78 uL. No noise is added: only the floor decides. */
        accuracy_params_default(&params);
        params.min_window_nl = 1000;
        accuracy_init(&m, &params);
        pump_init(&p, ML_PER_H(0.25), 0);
        p.gain = 0.8;
        assert_int_equal(pump_run(&p, &m, US_PER_HOUR, NULL), -1);

        params.position_resolution_nl = 1000;
        accuracy_init(&m, &params);
        pump_init(&p, ML_PER_H(0.25), 0);
        p.gain = 0.8;
        assert_true(pump_run(&p, &m, US_PER_HOUR, &v) >= 0);
        assert_int_equal(v, ACCURACY_UNDER);
}

static void stall_stretch_grows_until_noise_cannot_fake_a_stall(void **state) {
        static struct accuracy_monitor m;
        struct accuracy_params params;
        struct pump p;
        enum accuracy_verdict v = ACCURACY_OK;

        /* One reading per 500 ms block and a stall volume of 5 uL: three
         * blocks at 25 mL/h span 6.9 uL, where one reading's noise is
         * 2.78 uL. Judged there, noise would call stalls all day. */
        accuracy_params_default(&params);
        params.stall_nl = 5000;
        accuracy_init(&m, &params);
        pump_init(&p, ML_PER_H(25), NOISE_NL);
        p.tick_us = ACCURACY_BLOCK_US;
        int64_t t_us = pump_run(&p, &m, 6 * US_PER_HOUR, &v);
        if (t_us >= 0)
                fail_msg("%s after %.1f s of noise", accuracy_verdict_to_string(v), (double) t_us / US_PER_SEC);

        /* And a real stall is still found within seconds. */
        p.gain = 0;
        t_us = pump_run(&p, &m, US_PER_MIN, &v);
        assert_int_equal(v, ACCURACY_STALL);
        print_message("stall at 25 mL/h, one reading per 500 ms: stall after %.1f s\n", (double) t_us / US_PER_SEC);
        assert_true(t_us >= 0 && t_us < 10 * US_PER_SEC);
}

/* ---- accuracy: history and inputs ------------------------------------ */

static void reset_forgets_the_history_of_an_earlier_error(void **state) {
        static struct accuracy_monitor m;
        struct accuracy_params params;
        struct pump p;
        enum accuracy_verdict v = ACCURACY_OK;

        accuracy_params_default(&params);
        accuracy_init(&m, &params);
        pump_init(&p, ML_PER_H(25), NOISE_NL);
        p.gain = 0.8;
        assert_true(pump_run(&p, &m, 10 * US_PER_MIN, &v) >= 0);
        assert_int_equal(v, ACCURACY_UNDER);

        /* Syringe changed, drive fixed: without the reset the window
         * would still hold a minute of the old error. */
        accuracy_reset(&m);
        p.gain = 1.0;
        assert_int_equal(pump_run(&p, &m, 10 * US_PER_MIN, NULL), -1);
        assert_float_equal(accuracy_last_error_pct(&m), 0, 1);
}

static void last_error_is_the_measured_percentage(void **state) {
        static struct accuracy_monitor m;
        struct accuracy_params params;
        struct pump p;

        accuracy_params_default(&params);
        accuracy_init(&m, &params);
        assert_float_equal(accuracy_last_error_pct(&m), 0, 0);
        pump_init(&p, ML_PER_H(25), NOISE_NL);
        p.gain = 0.8;
        for (int64_t i = 0; i < 10 * US_PER_MIN / TICK_US; i++)
                pump_tick(&p, &m);
        assert_float_equal(accuracy_last_error_pct(&m), -20, 0.5);

        p.gain = 0;
        for (int64_t i = 0; i < US_PER_MIN / TICK_US; i++)
                pump_tick(&p, &m);
        assert_float_equal(accuracy_last_error_pct(&m), -100, 5);
}

static void sample_not_newer_than_the_last_is_ignored(void **state) {
        static struct accuracy_monitor m;
        struct accuracy_params params;

        /* Steady and exact, then a burst of bogus readings of zero, all
         * stamped with the last good time: if they counted, the plunger
         * would look as if it had fallen back to its origin. */
        accuracy_params_default(&params);
        accuracy_init(&m, &params);
        int64_t t_us = 0, commanded_nl = 0;
        for (int i = 0; i < 1200; i++) {
                t_us += TICK_US;
                commanded_nl += 7000;
                assert_int_equal(accuracy_sample(&m, t_us, commanded_nl, commanded_nl), ACCURACY_OK);
        }
        for (int i = 0; i < 100; i++)
                assert_int_equal(accuracy_sample(&m, t_us - i, commanded_nl, 0), ACCURACY_OK);
        for (int i = 0; i < 600; i++) {
                t_us += TICK_US;
                commanded_nl += 7000;
                assert_int_equal(accuracy_sample(&m, t_us, commanded_nl, commanded_nl), ACCURACY_OK);
        }
        assert_float_equal(accuracy_last_error_pct(&m), 0, 0.01);
}

static void measured_volume_that_is_not_a_number_is_ignored(void **state) {
        static struct accuracy_monitor m;
        struct accuracy_params params;
        enum accuracy_verdict v = ACCURACY_OK;

        /* Every other reading lost, and the drive delivers half: a NaN
         * in the fit would make every comparison false and hide it. */
        accuracy_params_default(&params);
        accuracy_init(&m, &params);
        int64_t t_us = 0, commanded_nl = 0;
        for (int i = 0; i < 2400 && v == ACCURACY_OK; i++) {
                t_us += TICK_US;
                commanded_nl += 7000;
                v = accuracy_sample(&m, t_us, commanded_nl, i % 2 ? NAN : 0.5 * commanded_nl);
        }
        assert_int_equal(v, ACCURACY_UNDER);
        assert_true(isfinite(accuracy_last_error_pct(&m)));
        assert_float_equal(accuracy_last_error_pct(&m), -50, 0.5);
}

static void commanded_volume_that_goes_back_starts_a_new_history(void **state) {
        static struct accuracy_monitor m;
        struct accuracy_params params;
        enum accuracy_verdict v = ACCURACY_OK;

        accuracy_params_default(&params);
        accuracy_init(&m, &params);
        int64_t t_us = 0, commanded_nl = 0;
        double measured_nl = 0;
        for (int i = 0; i < 6000; i++) {
                t_us += TICK_US;
                commanded_nl += 7000;
                measured_nl += 7000;
                v = accuracy_sample(&m, t_us, commanded_nl, measured_nl);
        }
        assert_int_equal(v, ACCURACY_OK);

        /* The step count starts again from zero, unannounced; the
         * position carries on from where it was. Only the slope matters,
         * so the new history is judged right; fitted across the jump with
         * the old one, it would be nonsense. */
        commanded_nl = 0;
        for (int i = 0; i < 6000; i++) {
                t_us += TICK_US;
                commanded_nl += 7000;
                measured_nl += 1.003 * 7000;
                v = accuracy_sample(&m, t_us, commanded_nl, measured_nl);
                assert_int_equal(v, ACCURACY_OK);
        }
        assert_float_equal(accuracy_last_error_pct(&m), 0.3, 0.01);
}

static void accuracy_verdicts_have_names(void **state) {
        assert_string_equal(accuracy_verdict_to_string(ACCURACY_OK), "ok");
        assert_string_equal(accuracy_verdict_to_string(ACCURACY_OVER), "over-infusion");
        assert_string_equal(accuracy_verdict_to_string(ACCURACY_UNDER), "under-infusion");
        assert_string_equal(accuracy_verdict_to_string(ACCURACY_STALL), "stall");
        assert_string_equal(accuracy_verdict_to_string(_ACCURACY_VERDICT_MAX), "invalid");
}

/* ---- sensor health --------------------------------------------------- */

static const struct sensor_health_params position_sensor = {
        .min_value = 0,
        .max_value = 120,               /* mm of plunger travel */
        .max_read_errors = 2,
        .stuck_us = 2 * US_PER_SEC,
};

static void read_errors_up_to_the_limit_are_tolerated_and_one_more_fails(void **state) {
        struct sensor_health h;
        sensor_health_init(&h, &position_sensor);

        assert_int_equal(sensor_health_sample(&h, 0, -EIO, 0, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 1, -EIO, 0, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 2, -ETIMEDOUT, 0, true), SENSOR_READ_ERROR);
        /* It stays failed while the errors go on. */
        for (int i = 0; i < 1000; i++)
                assert_int_equal(sensor_health_sample(&h, 3 + i, -EIO, 0, true), SENSOR_READ_ERROR);
}

static void good_read_forgives_earlier_read_errors(void **state) {
        struct sensor_health h;
        sensor_health_init(&h, &position_sensor);

        assert_int_equal(sensor_health_sample(&h, 0, -EIO, 0, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 1, -EIO, 0, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 2, 0, 10.0, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 3, -EIO, 0, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 4, -EIO, 0, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 5, -EIO, 0, true), SENSOR_READ_ERROR);
}

static void no_tolerated_read_errors_fails_on_the_first(void **state) {
        struct sensor_health_params p = position_sensor;
        struct sensor_health h;

        p.max_read_errors = 0;
        sensor_health_init(&h, &p);
        assert_int_equal(sensor_health_sample(&h, 0, -EIO, 0, true), SENSOR_READ_ERROR);
}

static void value_outside_the_physical_range_is_out_of_range(void **state) {
        struct sensor_health h;
        sensor_health_init(&h, &position_sensor);

        assert_int_equal(sensor_health_sample(&h, 0, 0, 0.0, false), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 1, 0, 120.0, false), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 2, 0, -0.001, false), SENSOR_OUT_OF_RANGE);
        assert_int_equal(sensor_health_sample(&h, 3, 0, 120.001, false), SENSOR_OUT_OF_RANGE);
        assert_int_equal(sensor_health_sample(&h, 4, 0, NAN, false), SENSOR_OUT_OF_RANGE);
        assert_int_equal(sensor_health_sample(&h, 5, 0, INFINITY, false), SENSOR_OUT_OF_RANGE);
        assert_int_equal(sensor_health_sample(&h, 6, 0, 60.0, false), SENSOR_OK);
}

static void identical_value_while_moving_for_the_stuck_time_is_stuck(void **state) {
        struct sensor_health h;
        sensor_health_init(&h, &position_sensor);

        assert_int_equal(sensor_health_sample(&h, 0, 0, 42.5, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 1999999, 0, 42.5, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 2000000, 0, 42.5, true), SENSOR_STUCK);
        /* It moves again: healthy again. */
        assert_int_equal(sensor_health_sample(&h, 2100000, 0, 42.6, true), SENSOR_OK);
}

static void value_that_changes_in_its_last_bit_is_not_stuck(void **state) {
        struct sensor_health h;
        sensor_health_init(&h, &position_sensor);

        double v = 42.5;
        for (int64_t t = 0; t <= 10 * US_PER_SEC; t += TICK_US) {
                assert_int_equal(sensor_health_sample(&h, t, 0, v, true), SENSOR_OK);
                v = nextafter(v, 100);
        }
}

static void identical_value_while_at_rest_is_not_stuck(void **state) {
        struct sensor_health h;
        sensor_health_init(&h, &position_sensor);

        for (int64_t t = 0; t <= 60 * US_PER_SEC; t += TICK_US)
                assert_int_equal(sensor_health_sample(&h, t, 0, 42.5, false), SENSOR_OK);
        /* The clock starts when motion does, not when the value froze. */
        int64_t moving_us = 60 * US_PER_SEC + TICK_US;
        assert_int_equal(sensor_health_sample(&h, moving_us, 0, 42.5, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, moving_us + position_sensor.stuck_us - 1, 0, 42.5, true),
                         SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, moving_us + position_sensor.stuck_us, 0, 42.5, true),
                         SENSOR_STUCK);
}

static void read_errors_do_not_restart_the_stuck_clock(void **state) {
        struct sensor_health h;
        sensor_health_init(&h, &position_sensor);

        /* A frozen converter that also times out now and then is still
         * frozen. */
        assert_int_equal(sensor_health_sample(&h, 0, 0, 42.5, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, US_PER_SEC, -EIO, 0, true), SENSOR_OK);
        assert_int_equal(sensor_health_sample(&h, 2 * US_PER_SEC, 0, 42.5, true), SENSOR_STUCK);
}

static void sensor_health_params_out_of_range_are_refused(void **state) {
        struct sensor_health_params p;
        const char *why = NULL;

        assert_int_equal(sensor_health_params_check(&position_sensor, &why), 0);
        p = position_sensor;
        p.min_value = p.max_value;
        assert_int_equal(sensor_health_params_check(&p, &why), -EINVAL);
        assert_non_null(why);
        p = position_sensor;
        p.max_value = NAN;
        assert_int_equal(sensor_health_params_check(&p, NULL), -EINVAL);
        p = position_sensor;
        p.max_read_errors = -1;
        assert_int_equal(sensor_health_params_check(&p, NULL), -EINVAL);
        p = position_sensor;
        p.stuck_us = 0;
        assert_int_equal(sensor_health_params_check(&p, NULL), -EINVAL);
}

static void sensor_health_verdicts_have_names(void **state) {
        assert_string_equal(sensor_health_verdict_to_string(SENSOR_OK), "ok");
        assert_string_equal(sensor_health_verdict_to_string(SENSOR_READ_ERROR), "read-error");
        assert_string_equal(sensor_health_verdict_to_string(SENSOR_OUT_OF_RANGE), "out-of-range");
        assert_string_equal(sensor_health_verdict_to_string(SENSOR_STUCK), "stuck");
        assert_string_equal(sensor_health_verdict_to_string(_SENSOR_HEALTH_VERDICT_MAX), "invalid");
}

/* ---- battery --------------------------------------------------------- */

static const struct battery_params gip_battery = { .low_s = 900, .depleted_s = 300 };

static void on_mains_the_battery_is_ok_whatever_its_charge(void **state) {
        assert_int_equal(battery_judge(&gip_battery, true, 0), BATTERY_OK);
        assert_int_equal(battery_judge(&gip_battery, true, -1), BATTERY_OK);
}

static void on_battery_an_unknown_time_left_is_unknown(void **state) {
        assert_int_equal(battery_judge(&gip_battery, false, -1), BATTERY_UNKNOWN);
        assert_int_equal(battery_judge(&gip_battery, false, -ENODATA), BATTERY_UNKNOWN);
}

#define MIN_US (60 * 1000000LL)

static void a_battery_voltage_frozen_for_10_min_on_battery_is_stuck(void **state) {
        struct same_value w = {};

        assert_false(battery_voltage_stuck(&w, 0, false, 3.812));
        assert_false(battery_voltage_stuck(&w, 9 * MIN_US, false, 3.812));
        assert_false(battery_voltage_stuck(&w, 10 * MIN_US - 1, false, 3.812));
        assert_true(battery_voltage_stuck(&w, 10 * MIN_US, false, 3.812));
        assert_true(battery_voltage_stuck(&w, 30 * MIN_US, false, 3.812));
        /* Alive again: any change, even a rise after the load drops. */
        assert_false(battery_voltage_stuck(&w, 31 * MIN_US, false, 3.8121));
        assert_false(battery_voltage_stuck(&w, 40 * MIN_US, false, 3.8121));
}

static void a_battery_voltage_that_moves_is_never_stuck(void **state) {
        struct same_value w = {};

        /* Flat for 9 min at a time, then one count down: a slow discharge. */
        for (int i = 0; i < 20; i++) {
                double v = 3.80 - 0.000125 * i;
                assert_false(battery_voltage_stuck(&w, i * 9 * MIN_US, false, v));
                assert_false(battery_voltage_stuck(&w, i * 9 * MIN_US + 8 * MIN_US, false, v));
        }
}

static void on_mains_or_without_a_reading_the_voltage_is_not_judged(void **state) {
        struct same_value w = {};

        assert_false(battery_voltage_stuck(&w, 0, true, 4.2));
        assert_false(battery_voltage_stuck(&w, 60 * MIN_US, true, 4.2));
        /* Off mains the watch starts from the first reading on battery. */
        assert_false(battery_voltage_stuck(&w, 61 * MIN_US, false, 4.2));
        assert_false(battery_voltage_stuck(&w, 70 * MIN_US, false, 4.2));
        assert_true(battery_voltage_stuck(&w, 71 * MIN_US, false, 4.2));
        /* A missing reading restarts it too. */
        assert_false(battery_voltage_stuck(&w, 72 * MIN_US, false, NAN));
        assert_false(battery_voltage_stuck(&w, 73 * MIN_US, false, 4.2));
        assert_false(battery_voltage_stuck(&w, 82 * MIN_US, false, 4.2));
        assert_true(battery_voltage_stuck(&w, 83 * MIN_US, false, 4.2));
}

static void on_battery_under_15_min_is_low_and_under_5_is_depleted(void **state) {
        assert_int_equal(battery_judge(&gip_battery, false, 0), BATTERY_DEPLETED);
        assert_int_equal(battery_judge(&gip_battery, false, 299), BATTERY_DEPLETED);
        assert_int_equal(battery_judge(&gip_battery, false, 300), BATTERY_LOW);
        assert_int_equal(battery_judge(&gip_battery, false, 899), BATTERY_LOW);
        assert_int_equal(battery_judge(&gip_battery, false, 900), BATTERY_OK);
        assert_int_equal(battery_judge(&gip_battery, false, INT64_MAX), BATTERY_OK);
}

/* ---- syringe --------------------------------------------------------- */

static void end_stop_means_empty_whatever_the_position_says(void **state) {
        assert_int_equal(syringe_judge(30 * NL_PER_ML, true, ML_PER_H(5), 5 * US_PER_MIN, 200000), SYRINGE_EMPTY);
}

static void at_or_under_the_empty_volume_is_empty(void **state) {
        assert_int_equal(syringe_judge(200000, false, ML_PER_H(5), 5 * US_PER_MIN, 200000), SYRINGE_EMPTY);
        assert_int_equal(syringe_judge(-5000, false, ML_PER_H(5), 5 * US_PER_MIN, 200000), SYRINGE_EMPTY);
        assert_int_equal(syringe_judge(200001, false, 0, 5 * US_PER_MIN, 200000), SYRINGE_OK);
}

static void near_end_counts_down_to_the_empty_volume(void **state) {
        /* 6 mL/h is 100 uL per minute. 5 min of it before the pump stops
         * at 0.2 mL: near end from 0.7 mL left. */
        assert_int_equal(syringe_judge(700000, false, ML_PER_H(6), 5 * US_PER_MIN, 200000), SYRINGE_OK);
        assert_int_equal(syringe_judge(699999, false, ML_PER_H(6), 5 * US_PER_MIN, 200000), SYRINGE_NEAR_END);
        assert_int_equal(syringe_judge(200001, false, ML_PER_H(6), 5 * US_PER_MIN, 200000), SYRINGE_NEAR_END);
}

static void without_a_rate_nothing_counts_down_to_empty(void **state) {
        assert_int_equal(syringe_judge(200001, false, 0, 5 * US_PER_MIN, 200000), SYRINGE_OK);
        assert_int_equal(syringe_judge(200001, false, -1, 5 * US_PER_MIN, 200000), SYRINGE_OK);
}

static void near_end_does_not_overflow_at_the_extremes(void **state) {
        /* (remaining - empty) * 3.6e9 and near_end * rate both leave
         * int64 here. */
        assert_int_equal(syringe_judge(INT64_MAX, false, 1, INT64_MAX, 0), SYRINGE_OK);
        assert_int_equal(syringe_judge(INT64_MAX, false, INT64_MAX, INT64_MAX, INT64_MIN), SYRINGE_NEAR_END);
        assert_int_equal(syringe_judge(10 * NL_PER_ML, false, ML_PER_H(1200), 24 * US_PER_HOUR, 0),
                         SYRINGE_NEAR_END);
        assert_int_equal(syringe_judge(10000 * NL_PER_ML, false, ML_PER_H(0.1), US_PER_HOUR, 0), SYRINGE_OK);
}

/* ---- idle ------------------------------------------------------------ */

static void running_or_empty_channel_is_never_idle(void **state) {
        assert_int_equal(idle_judge(INT64_MAX, -1, 5 * US_PER_MIN, 10 * US_PER_MIN), IDLE_OK);
}

static void idle_alerts_at_5_min_and_alarms_at_10(void **state) {
        int64_t since = 1000 * US_PER_SEC;
        assert_int_equal(idle_judge(since, since, 5 * US_PER_MIN, 10 * US_PER_MIN), IDLE_OK);
        assert_int_equal(idle_judge(since + 5 * US_PER_MIN - 1, since, 5 * US_PER_MIN, 10 * US_PER_MIN), IDLE_OK);
        assert_int_equal(idle_judge(since + 5 * US_PER_MIN, since, 5 * US_PER_MIN, 10 * US_PER_MIN), IDLE_ALERT);
        assert_int_equal(idle_judge(since + 10 * US_PER_MIN - 1, since, 5 * US_PER_MIN, 10 * US_PER_MIN),
                         IDLE_ALERT);
        assert_int_equal(idle_judge(since + 10 * US_PER_MIN, since, 5 * US_PER_MIN, 10 * US_PER_MIN), IDLE_ALARM);
}

static void idle_since_a_time_still_to_come_is_not_idle(void **state) {
        assert_int_equal(idle_judge(0, 20 * US_PER_MIN, 5 * US_PER_MIN, 10 * US_PER_MIN), IDLE_OK);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(accuracy_defaults_pass_their_own_check),
                cmocka_unit_test(accuracy_params_out_of_range_are_refused_with_a_reason),
                cmocka_unit_test(twenty_four_hours_at_1_ml_per_h_with_sensor_noise_raise_nothing),
                cmocka_unit_test(twenty_four_hours_at_100_ml_per_h_with_sensor_noise_raise_nothing),
                cmocka_unit_test(gain_errors_mid_delivery_are_reported_within_window_plus_persistence),
                cmocka_unit_test(gain_errors_from_the_start_are_reported_once_the_window_holds_enough),
                cmocka_unit_test(stall_at_1_ml_per_h_is_reported_before_stall_volume_is_commanded),
                cmocka_unit_test(stall_at_0_1_ml_per_h_is_seen_across_the_twelve_minutes_it_takes),
                cmocka_unit_test(stall_is_reported_at_once_without_waiting_for_persistence),
                cmocka_unit_test(under_infusion_must_persist_before_it_is_reported),
                cmocka_unit_test(window_that_commanded_too_little_is_not_judged),
                cmocka_unit_test(error_within_the_fit_noise_is_not_reported),
                cmocka_unit_test(error_smaller_than_one_reading_of_noise_is_not_reported),
                cmocka_unit_test(stall_stretch_grows_until_noise_cannot_fake_a_stall),
                cmocka_unit_test(reset_forgets_the_history_of_an_earlier_error),
                cmocka_unit_test(last_error_is_the_measured_percentage),
                cmocka_unit_test(sample_not_newer_than_the_last_is_ignored),
                cmocka_unit_test(measured_volume_that_is_not_a_number_is_ignored),
                cmocka_unit_test(commanded_volume_that_goes_back_starts_a_new_history),
                cmocka_unit_test(accuracy_verdicts_have_names),
                cmocka_unit_test(read_errors_up_to_the_limit_are_tolerated_and_one_more_fails),
                cmocka_unit_test(good_read_forgives_earlier_read_errors),
                cmocka_unit_test(no_tolerated_read_errors_fails_on_the_first),
                cmocka_unit_test(value_outside_the_physical_range_is_out_of_range),
                cmocka_unit_test(identical_value_while_moving_for_the_stuck_time_is_stuck),
                cmocka_unit_test(value_that_changes_in_its_last_bit_is_not_stuck),
                cmocka_unit_test(identical_value_while_at_rest_is_not_stuck),
                cmocka_unit_test(read_errors_do_not_restart_the_stuck_clock),
                cmocka_unit_test(sensor_health_params_out_of_range_are_refused),
                cmocka_unit_test(sensor_health_verdicts_have_names),
                cmocka_unit_test(on_mains_the_battery_is_ok_whatever_its_charge),
                cmocka_unit_test(on_battery_an_unknown_time_left_is_unknown),
                cmocka_unit_test(a_battery_voltage_frozen_for_10_min_on_battery_is_stuck),
                cmocka_unit_test(a_battery_voltage_that_moves_is_never_stuck),
                cmocka_unit_test(on_mains_or_without_a_reading_the_voltage_is_not_judged),
                cmocka_unit_test(on_battery_under_15_min_is_low_and_under_5_is_depleted),
                cmocka_unit_test(end_stop_means_empty_whatever_the_position_says),
                cmocka_unit_test(at_or_under_the_empty_volume_is_empty),
                cmocka_unit_test(near_end_counts_down_to_the_empty_volume),
                cmocka_unit_test(without_a_rate_nothing_counts_down_to_empty),
                cmocka_unit_test(near_end_does_not_overflow_at_the_extremes),
                cmocka_unit_test(running_or_empty_channel_is_never_idle),
                cmocka_unit_test(idle_alerts_at_5_min_and_alarms_at_10),
                cmocka_unit_test(idle_since_a_time_still_to_come_is_not_idle),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
