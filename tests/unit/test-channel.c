/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/units.h"
#include "core/channel.h"
#include "core/schedule.h"

/* BD 50 mL syringe (26.6 mm bore) on a 1 mm lead screw, 200 steps/rev,
 * 16 microsteps: pi * 13.3^2 mm^2 * 1 mm / 3200 = 0.173661 µL per step. */
static const struct mechanism_geometry geometry = {
        .lead_pitch_um = 1000,
        .steps_per_rev = 200,
        .microsteps = 16,
        .syringe_inner_diameter_um = 26600,
        .max_step_rate_hz = 5000,
};

static const struct channel_limits limits = {
        .max_rate_nl_per_h = 1200 * NL_PER_ML,
        .max_vtbi_nl = 60 * NL_PER_ML,
        .max_kvo_rate_nl_per_h = 20 * NL_PER_ML,
};

static struct mechanism mech;

static int setup(void **state) {
        assert_int_equal(mechanism_from_geometry(&geometry, &mech), 0);
        return 0;
}

static void new_channel(struct channel *c) {
        channel_init(c, 0, &mech, &limits);
}

static void mechanism_step_volume_matches_hand_computation(void **state) {
        assert_int_equal(mech.pl_per_step, 173661);
        assert_int_equal(mech.min_step_interval_us, 200);
        assert_int_equal(mech.steps_per_mm, 3200);
        assert_int_equal(mechanism_steps_to_nl(&mech, 1000), 173661);
        /* 10 mL = 57583.7 steps: floor, never more than asked */
        assert_int_equal(mechanism_nl_to_steps_floor(&mech, 10 * NL_PER_ML), 57583);
}

/* At 0.1 mL/h a step falls every 6.25 s. Sample every 30 s for 4 h: the
 * delivered volume is never above the ideal and never a whole step below
 * it, and consecutive intervals differ by at most 1 µs (no bunching). */
static void slow_rate_steps_are_even_and_within_one_step_at_every_30s_sample(void **state) {
        int64_t rate = 100000; /* 0.1 mL/h in nL/h */
        int64_t num, den;
        struct step_schedule s;

        mechanism_step_interval(&mech, rate, &num, &den);
        schedule_start(&s, 0, num, den);

        int64_t prev_us = 0, min_gap = INT64_MAX, max_gap = 0;
        for (int64_t t = 30 * US_PER_SEC; t <= 4 * US_PER_HOUR; t += 30 * US_PER_SEC) {
                while (s.next_us <= t) {
                        int64_t gap = s.next_us - prev_us;
                        min_gap = gap < min_gap ? gap : min_gap;
                        max_gap = gap > max_gap ? gap : max_gap;
                        prev_us = s.next_us;
                        schedule_advance(&s);
                }
                /* ideal in pL: rate nL/h * t µs / 3.6e9 * 1000 */
                /* rate * t fits int64 here (1e5 * 1.44e10); no __int128,
                 * so this also runs on the 32-bit boards. */
                int64_t ideal_pl = rate * t / (US_PER_HOUR / PL_PER_NL);
                int64_t delivered_pl = s.index * mech.pl_per_step;
                assert_true(delivered_pl <= ideal_pl);
                assert_true(ideal_pl - delivered_pl < mech.pl_per_step);
        }
        assert_in_range(max_gap - min_gap, 0, 1);
        assert_int_equal(min_gap, 6251796); /* 173661 pL * 3.6e6 / 1e5 nL/h, exact */
        assert_int_equal(s.index, 2303); /* 400 µL / 0.173661 µL = 2303.3 */
}

static void schedule_never_drifts_over_a_million_steps(void **state) {
        struct step_schedule s;
        /* 7 / 3 µs: the remainder must carry exactly */
        schedule_start(&s, 1000, 7, 3);
        for (int i = 0; i < 1000000; i++)
                schedule_advance(&s);
        /* step 1000001 at 1000 + floor(1000001 * 7 / 3) */
        assert_int_equal(s.next_us, 1000 + (1000001LL * 7) / 3);
}

static void program_refuses_bad_values_and_changes_nothing(void **state) {
        struct channel c;
        struct channel_error err;
        new_channel(&c);

        struct program bad[] = {
                { .rate_nl_per_h = -1 * NL_PER_ML, .vtbi_nl = NL_PER_ML },
                { .rate_nl_per_h = 0, .vtbi_nl = NL_PER_ML },
                { .rate_nl_per_h = 1201 * NL_PER_ML, .vtbi_nl = NL_PER_ML },
                { .rate_nl_per_h = NL_PER_ML, .vtbi_nl = 0 },
                { .rate_nl_per_h = NL_PER_ML, .vtbi_nl = 61 * NL_PER_ML },
                { .rate_nl_per_h = NL_PER_ML, .vtbi_nl = NL_PER_ML, .kvo_rate_nl_per_h = -1 },
                { .rate_nl_per_h = NL_PER_ML, .vtbi_nl = NL_PER_ML, .kvo_rate_nl_per_h = 21 * NL_PER_ML },
                /* KVO faster than the infusion itself */
                { .rate_nl_per_h = NL_PER_ML, .vtbi_nl = NL_PER_ML, .kvo_rate_nl_per_h = 2 * NL_PER_ML },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(&err, 0, sizeof(err));
                assert_int_equal(channel_program(&c, &bad[i], &err), -EINVAL);
                assert_non_null(err.field);
                assert_true(strlen(err.text) > 20);
                assert_int_equal(c.state, CHANNEL_IDLE);
                assert_int_equal(c.prog.rate_nl_per_h, 0);
        }
}

static void program_names_the_limit_in_its_message(void **state) {
        struct channel c;
        struct channel_error err = {};
        new_channel(&c);
        struct program p = { .rate_nl_per_h = 1500 * NL_PER_ML, .vtbi_nl = NL_PER_ML };
        assert_int_equal(channel_program(&c, &p, &err), -EINVAL);
        assert_string_equal(err.field, "RateMlPerHour");
        assert_non_null(strstr(err.text, "1500"));
        assert_non_null(strstr(err.text, "1200 mL/h"));
}

static void vtbi_the_mechanism_cannot_honour_within_1_percent_is_refused(void **state) {
        struct channel c;
        struct channel_error err = {};
        new_channel(&c);
        /* 0.0003 mL = 1.73 steps -> 1 step = 0.000174 mL, 42 % short */
        struct program p = { .rate_nl_per_h = NL_PER_ML, .vtbi_nl = 300 };
        assert_int_equal(channel_program(&c, &p, &err), -EINVAL);
        assert_string_equal(err.field, "VtbiMl");
        assert_non_null(strstr(err.text, "1 %"));
        /* 0.1 mL = 575.85 steps -> 575 steps, 0.15 % short: accepted */
        p.vtbi_nl = 100000;
        assert_int_equal(channel_program(&c, &p, &err), 0);
        assert_int_equal(c.primary_steps_target, 575);
}

static void start_without_a_program_is_refused(void **state) {
        struct channel c;
        enum channel_event ev;
        new_channel(&c);
        assert_int_equal(channel_start(&c, 0, &ev), -EBUSY);
        assert_int_equal(channel_pause(&c, 0, &ev), -EBUSY);
        assert_int_equal(channel_resume(&c, 0, &ev), -EBUSY);
        assert_int_equal(channel_stop(&c, 0, &ev), -EBUSY);
        assert_int_equal(c.state, CHANNEL_IDLE);
        assert_false(channel_motion(&c)->active);
}

static void pause_resume_stop_walk_the_state_machine(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = { .rate_nl_per_h = 100 * NL_PER_ML, .vtbi_nl = 10 * NL_PER_ML,
                             .kvo_rate_nl_per_h = NL_PER_ML };
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, NULL), 0);
        assert_int_equal(c.state, CHANNEL_PROGRAMMED);
        assert_int_equal(channel_start(&c, 100, &ev), 0);
        assert_int_equal(ev, CHANNEL_EVENT_STARTED);
        assert_true(channel_motion(&c)->active);
        assert_int_equal(channel_motion(&c)->anchor_us, 100);
        assert_int_equal(channel_motion(&c)->step_budget, 57583);
        /* running: program refused */
        assert_int_equal(channel_program(&c, &p, NULL), -EBUSY);

        assert_int_equal(channel_account_steps(&c, 1000, 200, &ev), 0);
        assert_int_equal(channel_pause(&c, 300, &ev), 0);
        assert_int_equal(c.state, CHANNEL_PAUSED);
        assert_false(channel_motion(&c)->active);
        /* no motion while paused: steps are a fault */
        assert_int_equal(channel_account_steps(&c, 1, 310, &ev), -ERANGE);

        assert_int_equal(channel_resume(&c, 400, &ev), 0);
        assert_int_equal(c.state, CHANNEL_RUNNING);
        assert_int_equal(channel_motion(&c)->step_budget, 57583 - 1000);
        assert_int_equal(channel_primary_volume_nl(&c), 173661);

        assert_int_equal(channel_stop(&c, 500, &ev), 0);
        assert_int_equal(ev, CHANNEL_EVENT_STOPPED);
        assert_int_equal(c.state, CHANNEL_IDLE);
        assert_false(channel_motion(&c)->active);
}

static void reaching_the_vtbi_switches_to_kvo(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = { .rate_nl_per_h = 100 * NL_PER_ML, .vtbi_nl = 10 * NL_PER_ML,
                             .kvo_rate_nl_per_h = NL_PER_ML };
        new_channel(&c);
        channel_program(&c, &p, NULL);
        channel_start(&c, 0, &ev);
        assert_int_equal(channel_account_steps(&c, 57582, 1, &ev), 0);
        assert_int_equal(c.state, CHANNEL_RUNNING);
        /* one more than the budget is a fault, not a bigger dose */
        assert_int_equal(channel_account_steps(&c, 2, 2, &ev), -ERANGE);
        assert_int_equal(channel_account_steps(&c, 1, 2, &ev), 1);
        assert_int_equal(ev, CHANNEL_EVENT_KVO_STARTED);
        assert_int_equal(c.state, CHANNEL_KVO);
        assert_int_equal(channel_current_rate_nl_per_h(&c), NL_PER_ML);
        assert_true(channel_primary_volume_nl(&c) <= 10 * NL_PER_ML);
        assert_true(10 * NL_PER_ML - channel_primary_volume_nl(&c) < 174);
        assert_int_equal(channel_time_remaining_sec(&c), 0);

        assert_int_equal(channel_account_steps(&c, 10, 3, &ev), 0);
        assert_int_equal(channel_kvo_volume_nl(&c), 1736);
        assert_int_equal(channel_volume_nl(&c), mechanism_steps_to_nl(&mech, 57593));
}

static void reaching_the_vtbi_without_kvo_completes(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = { .rate_nl_per_h = 100 * NL_PER_ML, .vtbi_nl = NL_PER_ML };
        new_channel(&c);
        channel_program(&c, &p, NULL);
        channel_start(&c, 0, &ev);
        assert_int_equal(channel_account_steps(&c, 5758, 1, &ev), 1);
        assert_int_equal(ev, CHANNEL_EVENT_VTBI_COMPLETE);
        assert_int_equal(c.state, CHANNEL_IDLE);
        assert_false(channel_infusion_open(&c));
}

static void time_remaining_counts_down_and_rounds_up(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = { .rate_nl_per_h = 100 * NL_PER_ML, .vtbi_nl = 10 * NL_PER_ML };
        new_channel(&c);
        channel_program(&c, &p, NULL);
        /* 57583 steps = 9.99995 mL at 100 mL/h = 359.998 s -> 360 */
        assert_int_equal(channel_time_remaining_sec(&c), 360);
        channel_start(&c, 0, &ev);
        channel_account_steps(&c, 57583 / 2, 1, &ev);
        /* 28792 steps left = 5.00009 mL = 180.003 s -> 181, never less */
        assert_int_equal(channel_time_remaining_sec(&c), 181);
}

static void halt_stops_motion_and_only_stop_leaves_it(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = { .rate_nl_per_h = 100 * NL_PER_ML, .vtbi_nl = 10 * NL_PER_ML };
        new_channel(&c);
        channel_program(&c, &p, NULL);
        channel_start(&c, 0, &ev);
        assert_int_equal(channel_halt(&c, 5, &ev), 0);
        assert_int_equal(c.state, CHANNEL_HALTED);
        assert_false(channel_motion(&c)->active);
        assert_true(channel_infusion_open(&c));
        assert_int_equal(channel_start(&c, 6, &ev), -EBUSY);
        assert_int_equal(channel_stop(&c, 7, &ev), 0);
        assert_int_equal(c.state, CHANNEL_IDLE);
}

/* Once a person dealt with the alarm, Resume carries on in the phase the
 * halt interrupted; the pump (not the channel) checks the alarms. */
static void halted_delivery_resumes_in_its_phase(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = { .rate_nl_per_h = 100 * NL_PER_ML, .vtbi_nl = 10 * NL_PER_ML };
        new_channel(&c);
        channel_program(&c, &p, NULL);
        channel_start(&c, 0, &ev);
        assert_int_equal(channel_halt(&c, 5, &ev), 0);
        assert_int_equal(channel_resume(&c, 6, &ev), 0);
        assert_int_equal(ev, CHANNEL_EVENT_RESUMED);
        assert_int_equal(c.state, CHANNEL_RUNNING);
        assert_true(channel_motion(&c)->active);

        /* Halted from a pause: it resumes like the pause would have. */
        assert_int_equal(channel_pause(&c, 7, &ev), 0);
        assert_int_equal(channel_halt(&c, 8, &ev), 0);
        assert_int_equal(channel_resume(&c, 9, &ev), 0);
        assert_int_equal(c.state, CHANNEL_RUNNING);

        /* Programmed but never started: nothing to resume. */
        struct channel d;
        new_channel(&d);
        channel_program(&d, &p, NULL);
        assert_int_equal(channel_halt(&d, 1, &ev), 0);
        assert_int_equal(channel_resume(&d, 2, &ev), -EBUSY);
}

static void every_transition_bumps_the_motion_generation(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = { .rate_nl_per_h = 100 * NL_PER_ML, .vtbi_nl = 10 * NL_PER_ML };
        new_channel(&c);
        channel_program(&c, &p, NULL);
        uint64_t g0 = channel_motion(&c)->generation;
        channel_start(&c, 0, &ev);
        uint64_t g1 = channel_motion(&c)->generation;
        channel_pause(&c, 1, &ev);
        uint64_t g2 = channel_motion(&c)->generation;
        assert_true(g0 < g1 && g1 < g2);
}

/* Drive a running channel through its plan the way the pump does: the
 * executor takes every step the motion allows; holds pass with time. */
static void run_plan(struct channel *c, int64_t *now_us, int max_transitions) {
        enum channel_event ev;
        for (int i = 0; i < max_transitions && (c->state == CHANNEL_RUNNING); i++) {
                const struct channel_motion *m = channel_motion(c);
                if (m->active)
                        assert_int_equal(channel_account_steps(c, m->step_budget - c->segment_steps, *now_us, &ev), 1);
                else {
                        *now_us = c->hold_until_us;
                        assert_int_equal(channel_tick(c, *now_us - 1, &ev), 0);
                        assert_int_equal(channel_tick(c, *now_us, &ev), 1);
                }
        }
}

static void volume_time_derives_the_rate_from_the_duration(void **state) {
        struct channel c;
        enum channel_event ev;
        /* 50 mL over 30 min = 100 mL/h */
        struct program p = { .mode = PROGRAM_VOLUME_TIME, .vtbi_nl = 50 * NL_PER_ML,
                             .duration_us = 30 * US_PER_MIN };
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, NULL), 0);
        assert_int_equal(c.prog.rate_nl_per_h, 100 * NL_PER_ML);
        assert_int_equal(channel_time_remaining_sec(&c), 1800);
        channel_start(&c, 0, &ev);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 100 * NL_PER_ML);

        struct channel_error err = {};
        p.duration_us = 10 * US_PER_SEC;        /* too short, and 18000 mL/h */
        assert_int_equal(channel_program(&c, &p, &err), -EBUSY);
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, &err), -EINVAL);
        assert_string_equal(err.field, "DurationSec");
}

static void multistep_runs_each_step_at_its_rate_and_never_past_the_total(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = { .mode = PROGRAM_MULTISTEP, .n_steps = 3, .kvo_rate_nl_per_h = NL_PER_ML,
                             .steps = { { 50 * NL_PER_ML, 10 * NL_PER_ML },
                                        { 100 * NL_PER_ML, 20 * NL_PER_ML },
                                        { 25 * NL_PER_ML, 5 * NL_PER_ML } } };
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, NULL), 0);
        assert_int_equal(c.prog.vtbi_nl, 35 * NL_PER_ML);
        assert_int_equal(c.n_segments, 3);
        /* cumulative floors: 10 mL = 57583, 30 mL = 172750, 35 mL = 201542 steps */
        assert_int_equal(c.plan[0].end_steps, 57583);
        assert_int_equal(c.plan[1].end_steps, 172750);
        assert_int_equal(c.plan[2].end_steps, 201542);
        /* 12 min + 12 min + 12 min; cumulative floors leave steps 2 and 3
         * a hair over 20 and 5 mL (20.00002, 5.00005), and time remaining
         * rounds up, never down: 2160.004 s -> 2161 */
        assert_int_equal(channel_time_remaining_sec(&c), 2161);

        channel_start(&c, 0, &ev);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 50 * NL_PER_ML);
        assert_int_equal(channel_account_steps(&c, 57583, 1, &ev), 1);
        assert_int_equal(ev, CHANNEL_EVENT_SEGMENT_STARTED);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 100 * NL_PER_ML);
        assert_int_equal(channel_motion(&c)->step_budget, 172750 - 57583);
        /* the budget is the segment's: one more is a fault */
        assert_int_equal(channel_account_steps(&c, 172750 - 57583 + 1, 2, &ev), -ERANGE);
        assert_int_equal(channel_account_steps(&c, 172750 - 57583, 2, &ev), 1);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 25 * NL_PER_ML);
        assert_int_equal(channel_account_steps(&c, 201542 - 172750, 3, &ev), 1);
        assert_int_equal(ev, CHANNEL_EVENT_KVO_STARTED);
        assert_true(channel_primary_volume_nl(&c) <= 35 * NL_PER_ML);
        assert_true(35 * NL_PER_ML - channel_primary_volume_nl(&c) < 174);
}

static void multistep_names_the_bad_step(void **state) {
        struct channel c;
        struct channel_error err = {};
        struct program p = { .mode = PROGRAM_MULTISTEP, .n_steps = 2,
                             .steps = { { 50 * NL_PER_ML, 10 * NL_PER_ML }, { 5000 * NL_PER_ML, NL_PER_ML } } };
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, &err), -EINVAL);
        assert_non_null(strstr(err.text, "Steps[1]"));
        assert_non_null(strstr(err.text, "1200 mL/h"));
        p.n_steps = 0;
        assert_int_equal(channel_program(&c, &p, &err), -EINVAL);
        assert_int_equal(c.state, CHANNEL_IDLE);
}

/* Each step within the largest volume is not enough: the steps are one
 * program, and their sum is its VTBI (found by tests/fuzz/fuzz-program). */
static void multistep_steps_may_not_add_up_past_the_largest_volume(void **state) {
        struct channel c;
        struct channel_error err = {};
        struct program p = { .mode = PROGRAM_MULTISTEP, .n_steps = 2,
                             .steps = { { 100 * NL_PER_ML, 40 * NL_PER_ML }, { 100 * NL_PER_ML, 20 * NL_PER_ML } } };
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, &err), 0);         /* 60 mL: the limit itself */
        p.steps[1].volume_nl = 21 * NL_PER_ML;
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, &err), -EINVAL);
        assert_non_null(strstr(err.text, "Steps add up to 61 mL"));
        assert_non_null(strstr(err.text, "largest volume allowed, 60 mL"));
        assert_int_equal(c.state, CHANNEL_IDLE);
}

static void loading_dose_runs_first_then_the_maintenance_rate(void **state) {
        struct channel c;
        enum channel_event ev;
        int64_t now = 0;
        /* 5 mL at 300 mL/h, then 20 mL/h to a 25 mL total */
        struct program p = { .mode = PROGRAM_LOADING, .vtbi_nl = 25 * NL_PER_ML, .rate_nl_per_h = 20 * NL_PER_ML,
                             .loading_volume_nl = 5 * NL_PER_ML, .loading_rate_nl_per_h = 300 * NL_PER_ML };
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, NULL), 0);
        channel_start(&c, now, &ev);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 300 * NL_PER_ML);
        assert_int_equal(channel_account_steps(&c, channel_motion(&c)->step_budget, 1, &ev), 1);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 20 * NL_PER_ML);
        assert_true(llabs(channel_primary_volume_nl(&c) - 5 * NL_PER_ML) < 174);
        run_plan(&c, &now, 5);
        assert_int_equal(c.state, CHANNEL_IDLE);
        assert_true(25 * NL_PER_ML - channel_primary_volume_nl(&c) < 174);

        struct channel_error err = {};
        p.loading_volume_nl = 25 * NL_PER_ML;
        assert_int_equal(channel_program(&c, &p, &err), -EINVAL);
        assert_string_equal(err.field, "LoadingVolumeMl");
}

static void intermittent_doses_are_separated_by_holds(void **state) {
        struct channel c;
        enum channel_event ev;
        int64_t now = 0;
        /* 3 doses of 10 mL over 30 min (20 mL/h), every 8 h */
        struct program p = { .mode = PROGRAM_INTERMITTENT, .dose_volume_nl = 10 * NL_PER_ML, .doses = 3,
                             .duration_us = 30 * US_PER_MIN, .interval_us = 8 * US_PER_HOUR };
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, NULL), 0);
        assert_int_equal(c.n_segments, 5);
        assert_int_equal(c.prog.vtbi_nl, 30 * NL_PER_ML);
        /* 3 x 30 min of dose + 2 x 7.5 h of hold = 16.5 h */
        assert_in_range(channel_time_remaining_sec(&c), 16 * 3600 + 1800, 16 * 3600 + 1801);
        channel_start(&c, now, &ev);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 20 * NL_PER_ML);

        assert_int_equal(channel_account_steps(&c, channel_motion(&c)->step_budget, 1, &ev), 1);
        /* hold: no motion, still running */
        assert_int_equal(c.state, CHANNEL_RUNNING);
        assert_false(channel_motion(&c)->active);
        assert_int_equal(c.hold_until_us, 1 + 7 * US_PER_HOUR + 30 * US_PER_MIN);

        /* Pausing in a hold keeps what was left of it. */
        assert_int_equal(channel_pause(&c, 2 * US_PER_HOUR, &ev), 0);
        assert_int_equal(channel_resume(&c, 10 * US_PER_HOUR, &ev), 0);
        assert_int_equal(c.hold_until_us, 10 * US_PER_HOUR + (7 * US_PER_HOUR + 30 * US_PER_MIN - 2 * US_PER_HOUR + 1));

        now = 10 * US_PER_HOUR;
        run_plan(&c, &now, 10);
        assert_int_equal(c.state, CHANNEL_IDLE);
        assert_true(30 * NL_PER_ML - channel_primary_volume_nl(&c) < 174);
}

static void intermittent_refuses_an_interval_shorter_than_the_dose(void **state) {
        struct channel c;
        struct channel_error err = {};
        struct program p = { .mode = PROGRAM_INTERMITTENT, .dose_volume_nl = 10 * NL_PER_ML, .doses = 3,
                             .duration_us = 30 * US_PER_MIN, .interval_us = 20 * US_PER_MIN };
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, &err), -EINVAL);
        assert_string_equal(err.field, "IntervalSec");
        p.interval_us = US_PER_HOUR;
        p.doses = 0;
        assert_int_equal(channel_program(&c, &p, &err), -EINVAL);
        assert_string_equal(err.field, "Doses");
}

static void modes_have_names(void **state) {
        enum program_mode m;
        for (int i = 0; i < _PROGRAM_MODE_MAX; i++) {
                assert_int_equal(program_mode_from_string(program_mode_to_string(i), &m), 0);
                assert_int_equal(m, i);
        }
        assert_int_equal(program_mode_from_string("bolus", &m), -EINVAL);
}

static void titration_keeps_what_was_delivered_and_runs_the_rest_at_the_new_rate(void **state) {
        struct channel c;
        enum channel_event ev;
        struct channel_error err = {};
        struct program p = { .rate_nl_per_h = 100 * NL_PER_ML, .vtbi_nl = 10 * NL_PER_ML };
        new_channel(&c);
        assert_int_equal(channel_titrate(&c, 50 * NL_PER_ML, 0, &err), -EBUSY);       /* idle */
        channel_program(&c, &p, NULL);
        assert_int_equal(channel_titrate(&c, 50 * NL_PER_ML, 0, &err), -EBUSY);       /* programmed */
        channel_start(&c, 0, &ev);
        channel_account_steps(&c, 20000, 1, &ev);
        uint64_t gen = channel_motion(&c)->generation;
        assert_int_equal(channel_titrate(&c, 50 * NL_PER_ML, 5, &err), 0);
        assert_true(channel_motion(&c)->generation > gen);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 50 * NL_PER_ML);
        assert_int_equal(channel_motion(&c)->anchor_us, 5);
        assert_int_equal(channel_motion(&c)->step_budget, 57583 - 20000);
        assert_int_equal(channel_primary_volume_nl(&c), mechanism_steps_to_nl(&mech, 20000));
        /* out of range: refused, nothing changes */
        assert_int_equal(channel_titrate(&c, 5000 * NL_PER_ML, 6, &err), -EINVAL);
        assert_string_equal(err.field, "RateMlPerHour");
        assert_int_equal(channel_current_rate_nl_per_h(&c), 50 * NL_PER_ML);
        /* paused: the new rate applies on resume */
        channel_pause(&c, 7, &ev);
        assert_int_equal(channel_titrate(&c, 25 * NL_PER_ML, 8, &err), 0);
        channel_resume(&c, 9, &ev);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 25 * NL_PER_ML);
}

static void titration_is_refused_in_multi_rate_modes(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = { .mode = PROGRAM_MULTISTEP, .n_steps = 2,
                             .steps = { { 50 * NL_PER_ML, 10 * NL_PER_ML }, { 100 * NL_PER_ML, 10 * NL_PER_ML } } };
        new_channel(&c);
        channel_program(&c, &p, NULL);
        channel_start(&c, 0, &ev);
        assert_int_equal(channel_titrate(&c, 60 * NL_PER_ML, 1, NULL), -EBUSY);
}

static void ramp_steps_up_holds_a_plateau_and_tapers_to_exactly_the_vtbi(void **state) {
        struct channel c;
        struct channel_error err = {};
        /* 50 mL over 12 h, 1 h up, 1 h down: plateau 50 / 11 = 4.545 mL/h */
        struct program p = { .mode = PROGRAM_RAMP, .vtbi_nl = 50 * NL_PER_ML, .duration_us = 12 * US_PER_HOUR,
                             .ramp_up_us = US_PER_HOUR, .ramp_down_us = US_PER_HOUR };
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, &err), 0);
        assert_int_equal(c.n_segments, 2 * PROGRAM_RAMP_STEPS + 1);
        int64_t plateau = c.plan[PROGRAM_RAMP_STEPS].rate_nl_per_h;
        assert_int_equal(plateau, 4545455);
        for (unsigned i = 1; i <= PROGRAM_RAMP_STEPS; i++)
                assert_true(c.plan[i].rate_nl_per_h > c.plan[i - 1].rate_nl_per_h);
        for (unsigned i = PROGRAM_RAMP_STEPS + 1; i < c.n_segments; i++)
                assert_true(c.plan[i].rate_nl_per_h < c.plan[i - 1].rate_nl_per_h);
        assert_int_equal(c.plan[0].rate_nl_per_h, (plateau + 2) / 5);
        /* the whole plan ends at floor(50 mL / step) */
        assert_int_equal(c.primary_steps_target, mechanism_nl_to_steps_floor(&mech, 50 * NL_PER_ML));
        /* and takes 12 h, give or take the rounding of its rates */
        assert_in_range(channel_time_remaining_sec(&c), 12 * 3600 - 2, 12 * 3600 + 2);

        p.ramp_up_us = 6 * US_PER_HOUR;
        p.ramp_down_us = 6 * US_PER_HOUR;
        assert_int_equal(channel_program(&c, &p, &err), -EINVAL);
        assert_string_equal(err.field, "RampDownSec");
}

static void bolus_runs_first_and_comes_out_of_the_vtbi(void **state) {
        struct channel c;
        enum channel_event ev;
        struct channel_error err = {};
        struct program p = { .rate_nl_per_h = 10 * NL_PER_ML, .vtbi_nl = 20 * NL_PER_ML };
        new_channel(&c);
        channel_program(&c, &p, NULL);
        assert_int_equal(channel_bolus(&c, NL_PER_ML, 300 * NL_PER_ML, 0, &err), -EBUSY);    /* not running */
        channel_start(&c, 0, &ev);
        channel_account_steps(&c, 10000, 1, &ev);
        assert_int_equal(channel_bolus(&c, 2 * NL_PER_ML, 300 * NL_PER_ML, 2, &err), 0);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 300 * NL_PER_ML);
        assert_int_equal(channel_motion(&c)->step_budget, mechanism_nl_to_steps_floor(&mech, 2 * NL_PER_ML));
        /* no titration or second bolus during a bolus */
        assert_int_equal(channel_titrate(&c, 20 * NL_PER_ML, 3, &err), -EBUSY);
        assert_int_equal(channel_bolus(&c, NL_PER_ML, 300 * NL_PER_ML, 3, &err), -EBUSY);
        assert_int_equal(channel_account_steps(&c, channel_motion(&c)->step_budget, 4, &ev), 1);
        assert_int_equal(ev, CHANNEL_EVENT_SEGMENT_STARTED);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 10 * NL_PER_ML);
        /* the VTBI is unchanged: the rest is smaller by the bolus */
        assert_int_equal(c.primary_steps_target, mechanism_nl_to_steps_floor(&mech, 20 * NL_PER_ML));
        assert_int_equal(channel_motion(&c)->step_budget,
                         c.primary_steps_target - 10000 - mechanism_nl_to_steps_floor(&mech, 2 * NL_PER_ML));
        /* more than is left is refused */
        assert_int_equal(channel_bolus(&c, 19 * NL_PER_ML, 300 * NL_PER_ML, 5, &err), -EINVAL);
        assert_string_equal(err.field, "BolusMl");
}

/* ---- PCA ---- */

/* 30 mL reservoir; 1 mL doses at 60 mL/h (60 s each), 10 min lockout, 4 an
 * hour, 10 mL per 4 h; no basal, 0.1 mL/h in the limit state. On this
 * mechanism 1 mL = 5758 steps, 2 mL = 11516, 30 mL = 172750. */
#define PCA_DOSE_STEPS 5758
#define PCA_VTBI_STEPS 172750

static struct program pca_program(void) {
        return (struct program) {
                .mode = PROGRAM_PCA,
                .vtbi_nl = 30 * NL_PER_ML,
                .pca_dose_nl = NL_PER_ML,
                .pca_bolus_rate_nl_per_h = 60 * NL_PER_ML,
                .lockout_us = 10 * US_PER_MIN,
                .max_doses_per_hour = 4,
                .limit_nl = 10 * NL_PER_ML,
                .limit_window_us = 4 * US_PER_HOUR,
                .limit_kvo_nl_per_h = 100000,
        };
}

static void pca_with_basal_gives_the_loading_dose_then_basal_to_the_vtbi(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = pca_program();
        p.basal_nl_per_h = NL_PER_ML;
        p.loading_volume_nl = 2 * NL_PER_ML;
        /* KVO after the reservoir: ignored, even one above the maximum */
        p.kvo_rate_nl_per_h = 50 * NL_PER_ML;
        new_channel(&c);
        assert_int_equal(channel_steps_left(&c), 0);
        assert_int_equal(channel_program(&c, &p, NULL), 0);
        assert_int_equal(c.prog.kvo_rate_nl_per_h, 0);
        assert_int_equal(c.prog.vtbi_nl, 30 * NL_PER_ML);
        assert_int_equal(c.n_segments, 2);
        assert_true(c.plan[0].bolus);
        assert_false(c.plan[0].wait);
        assert_int_equal(c.plan[0].rate_nl_per_h, 60 * NL_PER_ML);
        assert_int_equal(c.plan[0].end_steps, 11516);
        assert_false(c.plan[1].bolus);
        assert_false(c.plan[1].wait);
        assert_int_equal(c.plan[1].rate_nl_per_h, NL_PER_ML);
        assert_int_equal(c.plan[1].end_steps, PCA_VTBI_STEPS);
        assert_int_equal(c.primary_steps_target, PCA_VTBI_STEPS);
        assert_int_equal(channel_steps_left(&c), PCA_VTBI_STEPS);
        /* 2 mL at 60 mL/h (120 s), then 28 mL at 1 mL/h (28 h) */
        assert_in_range(channel_time_remaining_sec(&c), 28 * 3600 + 119, 28 * 3600 + 121);

        assert_int_equal(channel_start(&c, 0, &ev), 0);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 60 * NL_PER_ML);
        assert_int_equal(channel_motion(&c)->step_budget, 11516);
        assert_int_equal(channel_account_steps(&c, 11516, 1, &ev), 1);
        assert_int_equal(ev, CHANNEL_EVENT_SEGMENT_STARTED);
        assert_int_equal(channel_current_rate_nl_per_h(&c), NL_PER_ML);
        assert_int_equal(channel_motion(&c)->step_budget, PCA_VTBI_STEPS - 11516);
        assert_int_equal(channel_steps_left(&c), PCA_VTBI_STEPS - 11516);

        /* basal runs through the limit state */
        uint64_t gen = channel_motion(&c)->generation;
        assert_int_equal(channel_set_pca_limited(&c, true, 2), 0);
        assert_true(c.pca_limited);
        assert_int_equal(channel_motion(&c)->generation, gen);
        assert_int_equal(channel_current_rate_nl_per_h(&c), NL_PER_ML);

        /* the end of the basal is the end: no KVO */
        assert_int_equal(channel_account_steps(&c, PCA_VTBI_STEPS - 11516, 3, &ev), 1);
        assert_int_equal(ev, CHANNEL_EVENT_VTBI_COMPLETE);
        assert_int_equal(c.state, CHANNEL_IDLE);
        assert_false(channel_motion(&c)->active);
        assert_int_equal(channel_steps_left(&c), 0);
        assert_true(30 * NL_PER_ML - channel_primary_volume_nl(&c) < 174);
        assert_int_equal(channel_kvo_volume_nl(&c), 0);
}

static void pca_without_basal_waits_for_demands(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = pca_program();
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, NULL), 0);
        assert_int_equal(c.n_segments, 1);
        assert_true(c.plan[0].wait);
        assert_false(c.plan[0].bolus);
        assert_int_equal(c.plan[0].rate_nl_per_h, 0);
        assert_int_equal(c.plan[0].end_steps, PCA_VTBI_STEPS);
        assert_int_equal(c.prog.rate_nl_per_h, 0);
        /* demands set the pace: no time can be promised */
        assert_int_equal(channel_time_remaining_sec(&c), 0);

        assert_int_equal(channel_start(&c, 0, &ev), 0);
        assert_int_equal(c.state, CHANNEL_RUNNING);
        assert_true(channel_infusion_open(&c));
        assert_false(channel_motion(&c)->active);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 0);
        assert_int_equal(channel_time_remaining_sec(&c), 0);
        assert_int_equal(channel_steps_left(&c), PCA_VTBI_STEPS);
        /* no motion: a step is a fault */
        assert_int_equal(channel_account_steps(&c, 1, 1, &ev), -ERANGE);
        /* the wait has no end in time */
        assert_int_equal(channel_tick(&c, US_PER_HOUR, &ev), 0);
        assert_int_equal(channel_tick(&c, 1000 * US_PER_HOUR, &ev), 0);
        assert_int_equal(channel_tick(&c, INT64_MAX, &ev), 0);
        assert_int_equal(c.state, CHANNEL_RUNNING);
        assert_true(c.plan[c.segment].wait);

        /* with a loading dose: the dose, then the wait */
        p.loading_volume_nl = 2 * NL_PER_ML;
        new_channel(&c);
        assert_int_equal(channel_program(&c, &p, NULL), 0);
        assert_int_equal(c.n_segments, 2);
        assert_true(c.plan[0].bolus);
        assert_true(c.plan[1].wait);
        assert_int_equal(c.plan[1].end_steps, PCA_VTBI_STEPS);
        assert_in_range(channel_time_remaining_sec(&c), 119, 120);
        channel_start(&c, 0, &ev);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 60 * NL_PER_ML);
        assert_int_equal(channel_account_steps(&c, 11516, 1, &ev), 1);
        assert_int_equal(ev, CHANNEL_EVENT_SEGMENT_STARTED);
        assert_true(c.plan[c.segment].wait);
        assert_false(channel_motion(&c)->active);
        assert_int_equal(channel_steps_left(&c), PCA_VTBI_STEPS - 11516);
        assert_int_equal(channel_tick(&c, 1000 * US_PER_HOUR, &ev), 0);
}

static void pca_refusals_name_their_field(void **state) {
        struct {
                const char *field;
                const char *text;       /* in the message, or NULL */
                struct program p;
        } bad[32];
        size_t n = 0;
#define BAD(f, t, stmt)                                 \
        do {                                            \
                bad[n].field = (f);                     \
                bad[n].text = (t);                      \
                bad[n].p = pca_program();               \
                struct program *q = &bad[n].p;          \
                stmt;                                   \
                n++;                                    \
        } while (0)
        BAD("VtbiMl", NULL, q->vtbi_nl = 0);
        BAD("VtbiMl", NULL, q->vtbi_nl = 61 * NL_PER_ML);
        BAD("PcaBolusRateMlPerHour", NULL, q->pca_bolus_rate_nl_per_h = 0);
        BAD("PcaBolusRateMlPerHour", NULL, q->pca_bolus_rate_nl_per_h = 1201 * NL_PER_ML);
        /* not deliverable within 1 %: 0, 0.58 and 1.73 steps */
        BAD("PcaDoseMl", "1 %", q->pca_dose_nl = 0);
        BAD("PcaDoseMl", "1 %", q->pca_dose_nl = 100);
        BAD("PcaDoseMl", "1 %", q->pca_dose_nl = 300);
        BAD("PcaDoseMl", "reservoir", q->pca_dose_nl = 30 * NL_PER_ML; q->limit_nl = 40 * NL_PER_ML;
            q->lockout_us = US_PER_HOUR);
        BAD("MaxDosesPerHour", NULL, q->max_doses_per_hour = 0);
        BAD("MaxDosesPerHour", NULL, q->max_doses_per_hour = 61);
        BAD("LimitWindowSec", NULL, q->limit_window_us = US_PER_HOUR - 1);
        BAD("LimitWindowSec", NULL, q->limit_window_us = 12 * US_PER_HOUR + 1);
        BAD("LimitWindowSec", NULL, q->limit_window_us = 0);
        BAD("LimitMl", "less than one dose", q->limit_nl = NL_PER_ML - 1);
        /* 1 mL at 60 mL/h takes 60 s */
        BAD("LockoutSec", NULL, q->lockout_us = 60 * US_PER_SEC - 1);
        BAD("LockoutSec", NULL, q->lockout_us = 240 * US_PER_MIN + 1);
        BAD("LimitKvoRateMlPerHour", NULL, q->limit_kvo_nl_per_h = 20 * NL_PER_ML + 1; q->limit_nl = 100 * NL_PER_ML);
        BAD("LimitKvoRateMlPerHour", NULL, q->limit_kvo_nl_per_h = -1);
        /* 2.25 mL/h over 4 h is 9 mL: with a 1 mL dose, 10 mL is the
         * least limit; 1 nL/h more leaves no room */
        BAD("LimitMl", "limit KVO", q->limit_kvo_nl_per_h = 2250001);
        BAD("LimitMl", "basal", q->basal_nl_per_h = 2250001);
        BAD("LimitMl", "basal", q->basal_nl_per_h = 2250000; q->limit_nl -= 1);
        BAD("BasalRateMlPerHour", NULL, q->basal_nl_per_h = 1201 * NL_PER_ML; q->limit_nl = 10000 * NL_PER_ML);
        BAD("LoadingDoseMl", "reservoir", q->loading_volume_nl = 30 * NL_PER_ML);
        BAD("LoadingDoseMl", "reservoir", q->loading_volume_nl = 31 * NL_PER_ML);
        BAD("LoadingDoseMl", "1 %", q->loading_volume_nl = 300);
#undef BAD
        assert_true(n <= sizeof(bad) / sizeof(bad[0]));

        for (size_t i = 0; i < n; i++) {
                struct channel c;
                struct channel_error err = {};
                new_channel(&c);
                int r = channel_program(&c, &bad[i].p, &err);
                if (r != -EINVAL || !err.field || strcmp(err.field, bad[i].field) != 0 ||
                    (bad[i].text && !strstr(err.text, bad[i].text)))
                        fail_msg("case %zu: expected %s%s%s, got %d %s: %s", i, bad[i].field,
                                 bad[i].text ? " with " : "", bad[i].text ? bad[i].text : "", r,
                                 err.field ? err.field : "(null)", err.text);
                assert_true(strlen(err.text) > 20);
                assert_int_equal(c.state, CHANNEL_IDLE);
                assert_int_equal(c.n_segments, 0);
        }

        /* and the edges are allowed */
        struct program ok[12];
        for (size_t i = 0; i < 12; i++)
                ok[i] = pca_program();
        ok[0].max_doses_per_hour = 1;
        ok[1].max_doses_per_hour = 60;
        ok[2].limit_window_us = US_PER_HOUR;
        ok[3].limit_window_us = 12 * US_PER_HOUR;
        ok[4].limit_nl = NL_PER_ML;
        ok[4].limit_kvo_nl_per_h = 0;
        ok[5].lockout_us = 60 * US_PER_SEC;
        ok[6].lockout_us = 240 * US_PER_MIN;
        ok[7].limit_kvo_nl_per_h = 2250000;
        ok[8].basal_nl_per_h = 2250000;
        ok[9].limit_kvo_nl_per_h = 20 * NL_PER_ML;
        ok[9].limit_nl = 81 * NL_PER_ML;
        /* basal, not the limit KVO, is the continuous flow then */
        ok[10].basal_nl_per_h = NL_PER_ML;
        ok[10].limit_kvo_nl_per_h = 20 * NL_PER_ML;
        ok[11].loading_volume_nl = 29 * NL_PER_ML;
        for (size_t i = 0; i < 12; i++) {
                struct channel c;
                struct channel_error err = {};
                new_channel(&c);
                if (channel_program(&c, &ok[i], &err) != 0)
                        fail_msg("edge case %zu refused: %s: %s", i, err.field ? err.field : "(null)", err.text);
        }
}

/* A demand dose while waiting: the dose, then waiting again. */
static void pca_dose_while_waiting_returns_to_waiting(void **state) {
        struct channel c;
        enum channel_event ev;
        struct channel_error err = {};
        struct program p = pca_program();
        new_channel(&c);
        channel_program(&c, &p, NULL);
        assert_int_equal(channel_bolus(&c, NL_PER_ML, 60 * NL_PER_ML, 0, &err), -EBUSY);     /* not started */
        channel_start(&c, 0, &ev);
        uint64_t gen = channel_motion(&c)->generation;

        assert_int_equal(channel_bolus(&c, NL_PER_ML, 60 * NL_PER_ML, 10, &err), 0);
        assert_true(channel_motion(&c)->generation > gen);
        assert_true(channel_motion(&c)->active);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 60 * NL_PER_ML);
        assert_int_equal(channel_motion(&c)->anchor_us, 10);
        assert_int_equal(channel_motion(&c)->step_budget, PCA_DOSE_STEPS);
        assert_true(c.plan[c.segment].bolus);
        assert_int_equal(c.n_segments, 2);
        assert_in_range(channel_time_remaining_sec(&c), 59, 60);
        /* one at a time */
        assert_int_equal(channel_bolus(&c, NL_PER_ML, 60 * NL_PER_ML, 11, &err), -EBUSY);

        assert_int_equal(channel_account_steps(&c, PCA_DOSE_STEPS - 1, 20, &ev), 0);
        assert_int_equal(channel_account_steps(&c, 1, 30, &ev), 1);
        assert_int_equal(ev, CHANNEL_EVENT_SEGMENT_STARTED);
        assert_int_equal(c.state, CHANNEL_RUNNING);
        assert_true(c.plan[c.segment].wait);
        assert_false(channel_motion(&c)->active);
        assert_int_equal(channel_time_remaining_sec(&c), 0);
        assert_int_equal(channel_steps_left(&c), PCA_VTBI_STEPS - PCA_DOSE_STEPS);
        assert_int_equal(channel_tick(&c, 100 * US_PER_HOUR, &ev), 0);

        /* the next dose, likewise */
        assert_int_equal(channel_bolus(&c, NL_PER_ML, 60 * NL_PER_ML, 40, &err), 0);
        assert_int_equal(channel_account_steps(&c, PCA_DOSE_STEPS, 50, &ev), 1);
        assert_true(c.plan[c.segment].wait);
        assert_int_equal(channel_steps_left(&c), PCA_VTBI_STEPS - 2 * PCA_DOSE_STEPS);
        assert_int_equal(c.primary_steps_target, PCA_VTBI_STEPS);

        /* no more than the reservoir holds */
        assert_int_equal(channel_bolus(&c, 29 * NL_PER_ML, 60 * NL_PER_ML, 60, &err), -EINVAL);
        assert_string_equal(err.field, "BolusMl");
        assert_true(c.plan[c.segment].wait);
}

static void pca_limit_state_runs_the_limit_kvo_while_waiting(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = pca_program();

        /* outside PCA: -EBUSY */
        new_channel(&c);
        assert_int_equal(channel_set_pca_limited(&c, true, 0), -EBUSY);
        struct program cont = { .rate_nl_per_h = 10 * NL_PER_ML, .vtbi_nl = 10 * NL_PER_ML };
        channel_program(&c, &cont, NULL);
        channel_start(&c, 0, &ev);
        assert_int_equal(channel_set_pca_limited(&c, true, 1), -EBUSY);
        assert_false(c.pca_limited);

        /* programmed, not running: noted, nothing moves */
        new_channel(&c);
        channel_program(&c, &p, NULL);
        assert_int_equal(channel_set_pca_limited(&c, true, 0), 0);
        assert_true(c.pca_limited);
        assert_false(channel_motion(&c)->active);
        /* started in the limit state: the limit KVO from the start */
        channel_start(&c, 5, &ev);
        assert_true(channel_motion(&c)->active);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 100000);
        /* a reprogram starts unlimited */
        channel_stop(&c, 6, &ev);
        channel_program(&c, &p, NULL);
        assert_false(c.pca_limited);

        /* waiting: the limit KVO, and back */
        channel_start(&c, 0, &ev);
        uint64_t gen = channel_motion(&c)->generation;
        assert_int_equal(channel_set_pca_limited(&c, false, 1), 0);         /* no change */
        assert_int_equal(channel_motion(&c)->generation, gen);
        assert_int_equal(channel_set_pca_limited(&c, true, 100), 1);
        assert_true(channel_motion(&c)->generation > gen);
        assert_true(channel_motion(&c)->active);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 100000);
        assert_int_equal(channel_motion(&c)->anchor_us, 100);
        assert_int_equal(channel_motion(&c)->step_budget, PCA_VTBI_STEPS);
        assert_int_equal(channel_set_pca_limited(&c, true, 101), 0);        /* no change */
        /* its steps come out of the reservoir */
        assert_int_equal(channel_account_steps(&c, 100, 200, &ev), 0);
        assert_int_equal(channel_steps_left(&c), PCA_VTBI_STEPS - 100);
        assert_int_equal(channel_kvo_volume_nl(&c), 0);
        assert_int_equal(channel_time_remaining_sec(&c), 0);
        gen = channel_motion(&c)->generation;
        assert_int_equal(channel_set_pca_limited(&c, false, 300), 1);
        assert_true(channel_motion(&c)->generation > gen);
        assert_false(channel_motion(&c)->active);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 0);

        /* a dose in progress finishes, then the limit KVO */
        struct channel_error err = {};
        assert_int_equal(channel_bolus(&c, NL_PER_ML, 60 * NL_PER_ML, 400, &err), 0);
        gen = channel_motion(&c)->generation;
        assert_int_equal(channel_set_pca_limited(&c, true, 410), 0);
        assert_int_equal(channel_motion(&c)->generation, gen);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 60 * NL_PER_ML);
        assert_int_equal(channel_account_steps(&c, PCA_DOSE_STEPS, 500, &ev), 1);
        assert_true(c.plan[c.segment].wait);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 100000);
        assert_int_equal(channel_motion(&c)->step_budget, PCA_VTBI_STEPS - 100 - PCA_DOSE_STEPS);

        /* the limit KVO empties the reservoir: the end, no KVO after it */
        assert_int_equal(channel_account_steps(&c, PCA_VTBI_STEPS - 100 - PCA_DOSE_STEPS, 600, &ev), 1);
        assert_int_equal(ev, CHANNEL_EVENT_VTBI_COMPLETE);
        assert_int_equal(c.state, CHANNEL_IDLE);
        assert_false(channel_motion(&c)->active);
        /* not running: 0 */
        assert_int_equal(channel_set_pca_limited(&c, false, 700), 0);

        /* no limit KVO: the limit state changes no motion */
        p.limit_kvo_nl_per_h = 0;
        new_channel(&c);
        channel_program(&c, &p, NULL);
        channel_start(&c, 0, &ev);
        gen = channel_motion(&c)->generation;
        assert_int_equal(channel_set_pca_limited(&c, true, 1), 0);
        assert_true(c.pca_limited);
        assert_false(channel_motion(&c)->active);
        assert_int_equal(channel_motion(&c)->generation, gen);
}

static void pca_pause_resume_while_waiting_comes_back_waiting(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = pca_program();
        new_channel(&c);
        channel_program(&c, &p, NULL);
        channel_start(&c, 0, &ev);

        assert_int_equal(channel_pause(&c, US_PER_HOUR, &ev), 0);
        assert_int_equal(c.state, CHANNEL_PAUSED);
        /* a wait is no hold: nothing left of it to keep (INT64_MAX - now) */
        assert_int_equal(c.hold_left_us, 0);
        assert_int_equal(channel_time_remaining_sec(&c), 0);
        assert_int_equal(channel_resume(&c, 2 * US_PER_HOUR, &ev), 0);
        assert_int_equal(c.state, CHANNEL_RUNNING);
        assert_true(c.plan[c.segment].wait);
        assert_int_equal(c.hold_left_us, 0);
        assert_int_equal(c.hold_until_us, INT64_MAX);
        assert_false(channel_motion(&c)->active);
        assert_int_equal(channel_tick(&c, 1000 * US_PER_HOUR, &ev), 0);
        assert_int_equal(c.state, CHANNEL_RUNNING);

        /* halted likewise */
        assert_int_equal(channel_halt(&c, 3 * US_PER_HOUR, &ev), 0);
        assert_int_equal(c.hold_left_us, 0);
        assert_int_equal(channel_resume(&c, 4 * US_PER_HOUR, &ev), 0);
        assert_true(c.plan[c.segment].wait);
        assert_int_equal(c.hold_until_us, INT64_MAX);
        assert_int_equal(channel_tick(&c, 1000 * US_PER_HOUR, &ev), 0);

        /* in the limit state: still while paused, the limit KVO again after */
        assert_int_equal(channel_set_pca_limited(&c, true, 5 * US_PER_HOUR), 1);
        assert_int_equal(channel_pause(&c, 6 * US_PER_HOUR, &ev), 0);
        assert_false(channel_motion(&c)->active);
        assert_int_equal(c.hold_left_us, 0);
        assert_int_equal(channel_resume(&c, 7 * US_PER_HOUR, &ev), 0);
        assert_true(channel_motion(&c)->active);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 100000);
        assert_int_equal(channel_motion(&c)->anchor_us, 7 * US_PER_HOUR);
        /* paused, the limit state ends: resumed still */
        assert_int_equal(channel_pause(&c, 8 * US_PER_HOUR, &ev), 0);
        assert_int_equal(channel_set_pca_limited(&c, false, 9 * US_PER_HOUR), 0);
        assert_int_equal(channel_resume(&c, 10 * US_PER_HOUR, &ev), 0);
        assert_false(channel_motion(&c)->active);
        assert_true(c.plan[c.segment].wait);
}

/* After the executor was stopped and its steps accounted: the same rate
 * from a fresh anchor, the budget what is left. */
static void pca_restart_motion_gives_a_fresh_anchor(void **state) {
        struct channel c;
        enum channel_event ev;
        struct program p = pca_program();
        p.basal_nl_per_h = NL_PER_ML;
        new_channel(&c);
        channel_program(&c, &p, NULL);
        channel_start(&c, 0, &ev);
        assert_int_equal(channel_account_steps(&c, 1000, US_PER_HOUR, &ev), 0);
        uint64_t gen = channel_motion(&c)->generation;
        channel_restart_motion(&c, 2 * US_PER_HOUR);
        assert_true(channel_motion(&c)->generation > gen);
        assert_true(channel_motion(&c)->active);
        assert_int_equal(channel_motion(&c)->anchor_us, 2 * US_PER_HOUR);
        assert_int_equal(channel_current_rate_nl_per_h(&c), NL_PER_ML);
        assert_int_equal(channel_motion(&c)->step_budget, PCA_VTBI_STEPS - 1000);
        assert_int_equal(channel_motion(&c)->step_budget, channel_steps_left(&c));
        /* the budget is all of it again: not one step more */
        assert_int_equal(channel_account_steps(&c, PCA_VTBI_STEPS - 1000 + 1, 3 * US_PER_HOUR, &ev), -ERANGE);
        assert_int_equal(channel_account_steps(&c, 500, 3 * US_PER_HOUR, &ev), 0);
        channel_restart_motion(&c, 4 * US_PER_HOUR);
        assert_int_equal(channel_motion(&c)->step_budget, PCA_VTBI_STEPS - 1500);
        assert_int_equal(channel_motion(&c)->step_budget, channel_steps_left(&c));

        /* in a dose: its rate, what is left of it */
        struct channel_error err = {};
        assert_int_equal(channel_bolus(&c, NL_PER_ML, 60 * NL_PER_ML, 5 * US_PER_HOUR, &err), 0);
        assert_int_equal(channel_account_steps(&c, 758, 5 * US_PER_HOUR + 1, &ev), 0);
        channel_restart_motion(&c, 6 * US_PER_HOUR);
        assert_int_equal(channel_motion(&c)->anchor_us, 6 * US_PER_HOUR);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 60 * NL_PER_ML);
        assert_int_equal(channel_motion(&c)->step_budget, PCA_DOSE_STEPS - 758);
        assert_int_equal(channel_account_steps(&c, PCA_DOSE_STEPS - 758, 6 * US_PER_HOUR + 1, &ev), 1);
        assert_int_equal(channel_current_rate_nl_per_h(&c), NL_PER_ML);

        /* waiting in the limit state: the limit KVO from now */
        p.basal_nl_per_h = 0;
        new_channel(&c);
        channel_program(&c, &p, NULL);
        channel_start(&c, 0, &ev);
        channel_set_pca_limited(&c, true, 10);
        channel_account_steps(&c, 3, 20, &ev);
        channel_restart_motion(&c, 30);
        assert_true(channel_motion(&c)->active);
        assert_int_equal(channel_motion(&c)->anchor_us, 30);
        assert_int_equal(channel_current_rate_nl_per_h(&c), 100000);
        assert_int_equal(channel_motion(&c)->step_budget, PCA_VTBI_STEPS - 3);
        assert_int_equal(channel_motion(&c)->step_budget, channel_steps_left(&c));
        /* waiting, not limited: still */
        channel_set_pca_limited(&c, false, 40);
        channel_restart_motion(&c, 50);
        assert_false(channel_motion(&c)->active);
        assert_int_equal(c.hold_until_us, INT64_MAX);

        /* paused: nothing to restart */
        channel_pause(&c, 60, &ev);
        gen = channel_motion(&c)->generation;
        channel_restart_motion(&c, 70);
        assert_int_equal(channel_motion(&c)->generation, gen);
        assert_int_equal(c.state, CHANNEL_PAUSED);
        assert_false(channel_motion(&c)->active);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(mechanism_step_volume_matches_hand_computation),
                cmocka_unit_test(slow_rate_steps_are_even_and_within_one_step_at_every_30s_sample),
                cmocka_unit_test(schedule_never_drifts_over_a_million_steps),
                cmocka_unit_test(program_refuses_bad_values_and_changes_nothing),
                cmocka_unit_test(program_names_the_limit_in_its_message),
                cmocka_unit_test(vtbi_the_mechanism_cannot_honour_within_1_percent_is_refused),
                cmocka_unit_test(start_without_a_program_is_refused),
                cmocka_unit_test(pause_resume_stop_walk_the_state_machine),
                cmocka_unit_test(reaching_the_vtbi_switches_to_kvo),
                cmocka_unit_test(reaching_the_vtbi_without_kvo_completes),
                cmocka_unit_test(time_remaining_counts_down_and_rounds_up),
                cmocka_unit_test(halt_stops_motion_and_only_stop_leaves_it),
                cmocka_unit_test(halted_delivery_resumes_in_its_phase),
                cmocka_unit_test(every_transition_bumps_the_motion_generation),
                cmocka_unit_test(volume_time_derives_the_rate_from_the_duration),
                cmocka_unit_test(multistep_runs_each_step_at_its_rate_and_never_past_the_total),
                cmocka_unit_test(multistep_names_the_bad_step),
                cmocka_unit_test(multistep_steps_may_not_add_up_past_the_largest_volume),
                cmocka_unit_test(loading_dose_runs_first_then_the_maintenance_rate),
                cmocka_unit_test(intermittent_doses_are_separated_by_holds),
                cmocka_unit_test(intermittent_refuses_an_interval_shorter_than_the_dose),
                cmocka_unit_test(modes_have_names),
                cmocka_unit_test(titration_keeps_what_was_delivered_and_runs_the_rest_at_the_new_rate),
                cmocka_unit_test(titration_is_refused_in_multi_rate_modes),
                cmocka_unit_test(ramp_steps_up_holds_a_plateau_and_tapers_to_exactly_the_vtbi),
                cmocka_unit_test(bolus_runs_first_and_comes_out_of_the_vtbi),
                cmocka_unit_test(pca_with_basal_gives_the_loading_dose_then_basal_to_the_vtbi),
                cmocka_unit_test(pca_without_basal_waits_for_demands),
                cmocka_unit_test(pca_refusals_name_their_field),
                cmocka_unit_test(pca_dose_while_waiting_returns_to_waiting),
                cmocka_unit_test(pca_limit_state_runs_the_limit_kvo_while_waiting),
                cmocka_unit_test(pca_pause_resume_while_waiting_comes_back_waiting),
                cmocka_unit_test(pca_restart_motion_gives_a_fresh_anchor),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
