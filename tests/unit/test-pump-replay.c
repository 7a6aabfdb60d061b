/* SPDX-License-Identifier: MIT */
/* pump_replay_step_lateness(): on the virtual clock each step wakes late
 * by the replayed lateness, no step is lost, and the argument checks hold.
 * Two pumps run side by side, one on the ideal schedule and one with the
 * replay, from the same config (sim mechanism, 25 mL/h: a step every
 * 25.007 ms). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "bench/sim-pump.h"
#include "common/macros.h"
#include "common/units.h"
#include "config/config.h"
#include "daemon/pump.h"
#include "hal/sim.h"

#define RATE_NL_PER_H   (25 * NL_PER_ML)
#define LATENESS_US     INT64_C(3000)

static const char config_template[] =
        "[pump]\n"
        "backend = sim\n"
        "[mechanism]\n"
        "lead_pitch_mm = 1\n"
        "steps_per_rev = 200\n"
        "microsteps = 16\n"
        "syringe_inner_diameter_mm = 26.6\n"
        "syringe_volume_ml = 60\n"
        "[limits]\n"
        "control_period_ms = 100\n"
        "[database]\n"
        "path = %s/history.db\n"
        "[simulation]\n"
        "clock = %s\n"
        "seed = 42\n"
        "movement_amplitude_mmhg = 0\n";

/* A pump with its own database in a new temp dir. */
static void pump_up(struct sim_pump *b, bool virtual_clock) {
        char text[sizeof(config_template) + 128];

        assert_int_equal(sim_pump_make_dir(b, "test-pump-replay"), 0);
        snprintf(text, sizeof(text), config_template, b->dir, virtual_clock ? "virtual" : "real");
        assert_int_equal(sim_pump_open(b, "test-pump-replay.conf", text), 0);
}

static void pump_down(struct sim_pump *b) {
        char dir[sizeof(b->dir)];
        snprintf(dir, sizeof(dir), "%s", b->dir);
        sim_pump_close(b);
        assert_int_equal(access(dir, F_OK), -1);
}

static void start_infusion(struct sim_pump *b) {
        struct pump_error err = {};
        struct program prog = {
                .mode = PROGRAM_CONTINUOUS,
                .rate_nl_per_h = RATE_NL_PER_H,
                .vtbi_nl = 50 * NL_PER_ML,
        };
        assert_int_equal(pump_program(b->p, &prog, NULL, -1, &err), 0);
        assert_int_equal(pump_start(b->p, &err), 0);
}

/* Run the pump's clock to pump time t_us (not before where it is). */
static void advance_to(struct sim_pump *b, int64_t t_us) {
        struct pump_error err = {};
        int64_t now_us = pump_now_us(b->p);
        assert_true(t_us >= now_us);
        assert_int_equal(pump_advance(b->p, t_us - now_us, &err), 0);
}

/* Does a control tick fall in (from_us, to_us]? A tick polls the
 * executor, as the lease grant wakes the step thread in real time, so a
 * step already due there runs at the tick and not at its replayed time. */
static bool tick_between(const struct sim_pump *b, int64_t from_us, int64_t to_us) {
        int64_t period_us = pump_control_period_us(b->p);
        return to_us / period_us > from_us / period_us;
}

/* Every replayed step lands LATENESS_US after the ideal pump's. Sample
 * instants one second apart plus an odd offset, so they walk across the
 * step interval. For each, the ideal pump's last step s; the replaying
 * pump is run to just past s + lateness and must have stepped exactly
 * then, with the same count. */
static void test_lateness_shifts_each_step(void **state) {
        (void) state;
        struct sim_pump ideal = {}, late = {};
        pump_up(&ideal, true);
        pump_up(&late, true);
        const int64_t lateness_us = LATENESS_US;
        assert_int_equal(pump_replay_step_lateness(late.p, &lateness_us, 1), 0);
        start_infusion(&ideal);
        start_infusion(&late);

        unsigned checked = 0;
        for (int k = 1; k <= 120; k++) {
                int64_t t_us = k * US_PER_SEC + k * 7919;
                advance_to(&ideal, t_us);
                int64_t s_us = sim_last_step_us(ideal.sim);
                assert_true(s_us > 0);
                if (tick_between(&ideal, s_us, s_us + lateness_us))
                        continue;
                /* Instants a second apart: the replaying pump, last run
                 * to the previous step's s + lateness, is not past this one. */
                assert_true(pump_now_us(late.p) <= s_us + lateness_us);
                advance_to(&late, s_us + lateness_us);
                assert_int_equal(sim_last_step_us(late.sim), s_us + lateness_us);
                assert_int_equal(sim_plunger_steps(late.sim), sim_plunger_steps(ideal.sim));
                checked++;
        }
        /* Most instants have no tick in the 3 ms after the step (117 of
         * 120 when this was written). */
        assert_true(checked >= 90);

        pump_down(&late);
        pump_down(&ideal);
}

/* Lateness delays steps but loses none. Both pumps run 30 min of pump
 * time (about 72 000 steps) in one pump_advance() each, the replaying one
 * with a pattern whose longest lateness, 40 ms, is longer than the step
 * interval (the following step is then due at once and catches up). At
 * the end the replaying pump may only lack the steps of the last 40 ms
 * (two at most), and turning the replay off lets those run at once: then
 * the step counts and the volumes pushed are equal. A lost step would
 * stay lost. */
static void test_no_step_lost(void **state) {
        (void) state;
        static const int64_t pattern_us[] = { 0, 3000, 40000, 250, 12000 };
        struct sim_pump ideal = {}, late = {};
        pump_up(&ideal, true);
        pump_up(&late, true);
        assert_int_equal(pump_replay_step_lateness(late.p, pattern_us, ELEMENTSOF(pattern_us)), 0);
        start_infusion(&ideal);
        start_infusion(&late);

        int64_t t_us = 30 * US_PER_MIN + 7919;
        advance_to(&ideal, t_us);
        advance_to(&late, t_us);
        int64_t steps = sim_plunger_steps(ideal.sim);
        /* 25 mL/h of 173.66 nL steps for 30 min: about 71 980. */
        assert_true(steps > 71000 && steps < 73000);
        assert_true(sim_plunger_steps(late.sim) <= steps);
        assert_true(sim_plunger_steps(late.sim) >= steps - 2);
        /* The replay really ran: the last steps are not where the ideal
         * schedule put them. */
        assert_int_not_equal(sim_last_step_us(late.sim), sim_last_step_us(ideal.sim));

        assert_int_equal(pump_replay_step_lateness(late.p, NULL, 0), 0);
        assert_int_equal(sim_plunger_steps(late.sim), steps);
        assert_int_equal(sim_pushed_nl(late.sim), sim_pushed_nl(ideal.sim));

        pump_down(&late);
        pump_down(&ideal);
}

/* Off again (n = 0): the schedule is the ideal one. */
static void test_replay_off(void **state) {
        (void) state;
        struct sim_pump ideal = {}, off = {};
        pump_up(&ideal, true);
        pump_up(&off, true);
        const int64_t lateness_us = LATENESS_US;
        assert_int_equal(pump_replay_step_lateness(off.p, &lateness_us, 1), 0);
        assert_int_equal(pump_replay_step_lateness(off.p, NULL, 0), 0);
        start_infusion(&ideal);
        start_infusion(&off);
        for (int k = 1; k <= 10; k++) {
                int64_t t_us = k * US_PER_SEC + k * 7919;
                advance_to(&ideal, t_us);
                advance_to(&off, t_us);
                assert_int_equal(sim_last_step_us(off.sim), sim_last_step_us(ideal.sim));
        }
        pump_down(&off);
        pump_down(&ideal);
}

static void test_invalid_lateness(void **state) {
        (void) state;
        struct sim_pump b = {};
        pump_up(&b, true);
        const int64_t negative_us[] = { 100, -1, 100 };
        assert_int_equal(pump_replay_step_lateness(b.p, negative_us, ELEMENTSOF(negative_us)), -EINVAL);
        const int64_t too_late_us[] = { 10 * US_PER_SEC + 1 };
        assert_int_equal(pump_replay_step_lateness(b.p, too_late_us, 1), -EINVAL);
        const int64_t edge_us[] = { 0, 10 * US_PER_SEC };
        assert_int_equal(pump_replay_step_lateness(b.p, edge_us, ELEMENTSOF(edge_us)), 0);
        pump_down(&b);
}

/* The real clock has a step thread to be late on its own: no replay. The
 * executor thread is never started here (pump_start_executor), so the
 * pump is cheap to build. */
static void test_real_clock_refused(void **state) {
        (void) state;
        struct sim_pump b = {};
        pump_up(&b, false);
        assert_false(pump_is_virtual(b.p));
        const int64_t lateness_us = LATENESS_US;
        assert_int_equal(pump_replay_step_lateness(b.p, &lateness_us, 1), -EOPNOTSUPP);
        pump_down(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lateness_shifts_each_step),
                cmocka_unit_test(test_no_step_lost),
                cmocka_unit_test(test_replay_off),
                cmocka_unit_test(test_invalid_lateness),
                cmocka_unit_test(test_real_clock_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
