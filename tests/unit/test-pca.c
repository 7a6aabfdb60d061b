/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/macros.h"
#include "common/units.h"
#include "common/muldiv.h"
#include "safety//pca.h"
#include "test-rng.h"

#define S_US US_PER_SEC
#define MIN_US US_PER_MIN
#define H_US US_PER_HOUR
#define ML_NL NL_PER_ML

/* A PCA program as the failsafe sees it: 1 mL every 10 min at most, 4 an
 * hour, 10 mL per 4 h, no continuous flow. Tests change what they need. */
static const struct pca_params base = {
        .dose_nl = ML_NL,
        .lockout_us = 10 * MIN_US,
        .max_doses_per_hour = 4,
        .limit_nl = 10 * ML_NL,
        .window_us = 4 * H_US,
        .continuous_nl_per_h = 0,
        .clinician_counts = true,
};

/* ~50 kB: one shared state, not on the stack. */
static struct pca_state st;

static struct pca_state *fresh(const struct pca_params *p) {
        pca_init(&st);
        if (p)
                assert_int_equal(pca_configure(&st, p), 0);
        return &st;
}

static void add(struct pca_state *s, enum pca_dose_kind kind, int64_t start_us, int64_t end_us, int64_t volume_nl,
                bool counts) {
        struct pca_dose d = {
                .id = (int64_t) s->n_doses + 1,
                .start_us = start_us,
                .end_us = end_us,
                .volume_nl = volume_nl,
                .kind = kind,
                .counts = counts,
        };
        assert_int_equal(pca_add_dose(s, &d), 0);
}

/* A demand dose of the program's volume, over dur_us. */
static void demand(struct pca_state *s, int64_t start_us, int64_t dur_us) {
        add(s, PCA_DOSE_DEMAND, start_us, start_us + dur_us, s->params.dose_nl, true);
}

static void verdicts_have_the_history_words(void **state) {
        assert_string_equal(pca_verdict_to_string(PCA_GRANTED), "granted");
        assert_string_equal(pca_verdict_to_string(PCA_DENIED_LOCKOUT), "lockout");
        assert_string_equal(pca_verdict_to_string(PCA_DENIED_HOURLY), "hourly-count");
        assert_string_equal(pca_verdict_to_string(PCA_DENIED_LIMIT), "cumulative-limit");
        assert_string_equal(pca_verdict_to_string(PCA_DENIED_BOLUS), "bolus-in-progress");
        assert_string_equal(pca_verdict_to_string(_PCA_VERDICT_MAX), "invalid");
}

static void unconfigured_grants_nothing(void **state) {
        struct pca_state *s = fresh(NULL);
        assert_false(s->configured);
        assert_int_equal(pca_judge(s, H_US), PCA_DENIED_NOT_RUNNING);
        assert_int_equal(pca_window_volume_nl(s, H_US), 0);
        assert_false(pca_limit_reached(s, H_US));
        assert_int_equal(pca_next_allowed_us(s, H_US), H_US);
        assert_int_equal(pca_configure(s, &base), 0);
        assert_int_equal(pca_judge(s, H_US), PCA_GRANTED);
        pca_unconfigure(s);
        assert_int_equal(pca_judge(s, H_US), PCA_DENIED_NOT_RUNNING);
}

static void configure_refuses_bad_params_and_keeps_the_old_ones(void **state) {
        struct pca_params bad[9];
        for (size_t i = 0; i < 9; i++)
                bad[i] = base;
        bad[0].dose_nl = 0;
        bad[1].dose_nl = -ML_NL;
        bad[2].max_doses_per_hour = 0;
        bad[3].limit_nl = 0;
        bad[4].window_us = H_US - 1;
        bad[5].window_us = 12 * H_US + 1;
        bad[6].continuous_nl_per_h = -1;
        bad[7].lockout_us = -1;
        bad[8].window_us = 0;

        /* Configured: a refused reprogram leaves the program as it was. */
        struct pca_params old = base;
        old.limit_nl = 7 * ML_NL;       /* not what any bad[] carries */
        struct pca_state *s = fresh(&old);
        for (size_t i = 0; i < 9; i++) {
                assert_int_equal(pca_configure(s, &bad[i]), -EINVAL);
                assert_true(s->configured);
                assert_memory_equal(&s->params, &old, sizeof(old));
        }
        /* Unconfigured: a refused program leaves it unconfigured. */
        s = fresh(NULL);
        for (size_t i = 0; i < 9; i++) {
                assert_int_equal(pca_configure(s, &bad[i]), -EINVAL);
                assert_false(s->configured);
        }

        /* The edges of the window are allowed, and a lockout of 0. */
        struct pca_params edge = base;
        edge.window_us = H_US;
        assert_int_equal(pca_configure(s, &edge), 0);
        edge.window_us = 12 * H_US;
        edge.lockout_us = 0;
        edge.max_doses_per_hour = 1;
        edge.continuous_nl_per_h = 0;
        assert_int_equal(pca_configure(s, &edge), 0);
        assert_memory_equal(&s->params, &edge, sizeof(edge));
}

static void reprogram_keeps_the_history(void **state) {
        struct pca_state *s = fresh(&base);
        demand(s, 0, MIN_US);
        struct pca_params p = base;
        p.lockout_us = 20 * MIN_US;
        assert_int_equal(pca_configure(s, &p), 0);
        assert_int_equal(s->n_doses, 1);
        /* the new lockout applies to the old dose: a reprogram buys no dose */
        assert_int_equal(pca_judge(s, 15 * MIN_US), PCA_DENIED_LOCKOUT);
}

/* The lockout runs from the demand dose's start, to the µs. */
static void lockout_ends_exactly_lockout_after_the_dose_start(void **state) {
        int64_t t0 = 5 * H_US;
        struct pca_state *s = fresh(&base);
        assert_int_equal(pca_judge(s, t0), PCA_GRANTED);
        /* a 3 min dose: were the lockout counted from its end, t0 + 10 min
         * would still be locked out */
        demand(s, t0, 3 * MIN_US);
        assert_int_equal(pca_judge(s, t0), PCA_DENIED_LOCKOUT);
        assert_int_equal(pca_judge(s, t0 + base.lockout_us - 1), PCA_DENIED_LOCKOUT);
        assert_int_equal(pca_judge(s, t0 + base.lockout_us), PCA_GRANTED);

        /* while it is still running the start is what counts, too */
        s = fresh(&base);
        add(s, PCA_DOSE_DEMAND, t0, INT64_MAX, ML_NL, true);
        assert_int_equal(pca_judge(s, t0 + base.lockout_us - 1), PCA_DENIED_LOCKOUT);
        assert_int_equal(pca_judge(s, t0 + base.lockout_us), PCA_GRANTED);
}

static void only_demand_doses_start_a_lockout(void **state) {
        int64_t t0 = H_US;
        struct pca_state *s = fresh(&base);
        add(s, PCA_DOSE_LOADING, t0, t0 + MIN_US, 2 * ML_NL, true);
        add(s, PCA_DOSE_CLINICIAN, t0 + 2 * MIN_US, t0 + 3 * MIN_US, ML_NL, true);
        assert_int_equal(pca_judge(s, t0 + 3 * MIN_US), PCA_GRANTED);

        /* a demand, then a clinician dose: the lockout is the demand's */
        demand(s, t0 + 4 * MIN_US, MIN_US);
        add(s, PCA_DOSE_CLINICIAN, t0 + 8 * MIN_US, t0 + 9 * MIN_US, ML_NL, false);
        assert_int_equal(pca_judge(s, t0 + 14 * MIN_US - 1), PCA_DENIED_LOCKOUT);
        assert_int_equal(pca_judge(s, t0 + 14 * MIN_US), PCA_GRANTED);
        assert_int_equal(pca_next_allowed_us(s, t0 + 9 * MIN_US), t0 + 14 * MIN_US);
}

static void hourly_count_is_the_demands_started_in_the_last_hour(void **state) {
        int64_t t0 = 2 * H_US;
        struct pca_params p = base;
        p.max_doses_per_hour = 3;
        p.lockout_us = MIN_US;
        p.limit_nl = 100 * ML_NL;
        struct pca_state *s = fresh(&p);
        demand(s, t0, MIN_US);
        demand(s, t0 + 10 * MIN_US, MIN_US);
        /* loading and clinician doses are not the patient's: not counted */
        add(s, PCA_DOSE_CLINICIAN, t0 + 15 * MIN_US, t0 + 16 * MIN_US, ML_NL, true);
        add(s, PCA_DOSE_LOADING, t0 + 16 * MIN_US, t0 + 17 * MIN_US, ML_NL, true);
        assert_int_equal(pca_doses_last_hour(s, t0 + 19 * MIN_US), 2);
        assert_int_equal(pca_judge(s, t0 + 19 * MIN_US), PCA_GRANTED);
        demand(s, t0 + 20 * MIN_US, MIN_US);

        assert_int_equal(pca_doses_last_hour(s, t0 + 30 * MIN_US), 3);
        assert_int_equal(pca_judge(s, t0 + 30 * MIN_US), PCA_DENIED_HOURLY);
        assert_int_equal(pca_doses_last_hour(s, t0 + H_US - 1), 3);
        assert_int_equal(pca_judge(s, t0 + H_US - 1), PCA_DENIED_HOURLY);
        /* exactly an hour old: out of the hour */
        assert_int_equal(pca_doses_last_hour(s, t0 + H_US), 2);
        assert_int_equal(pca_judge(s, t0 + H_US), PCA_GRANTED);
        assert_int_equal(pca_doses_last_hour(s, t0 + 80 * MIN_US), 0);
        /* the hour is (now - 1 h, now]: a dose exactly at now counts */
        assert_int_equal(pca_doses_last_hour(s, t0 + 20 * MIN_US), 3);
        assert_int_equal(pca_doses_last_hour(s, t0 + 20 * MIN_US - 1), 2);
}

/* Continuous flow over the window, rounded up, plus the counted doses. */
static void window_volume_is_the_continuous_reserve_plus_counted_doses(void **state) {
        struct pca_params p = base;
        p.continuous_nl_per_h = 1;
        p.window_us = H_US + S_US;              /* 1.000278 nL: 2 */
        struct pca_state *s = fresh(&p);
        assert_int_equal(pca_window_volume_nl(s, 0), 2);

        p.continuous_nl_per_h = 1500 * 1000;    /* 1.5 mL/h x 4 h: 6 mL, exact */
        p.window_us = 4 * H_US;
        assert_int_equal(pca_configure(s, &p), 0);
        assert_int_equal(pca_window_volume_nl(s, 0), 6 * ML_NL);

        p.continuous_nl_per_h = ML_NL + 1;      /* x (1 h + 1 µs): 1000001.00028 nL */
        p.window_us = H_US + 1;
        assert_int_equal(pca_configure(s, &p), 0);
        assert_int_equal(pca_window_volume_nl(s, 0), ML_NL + 2);

        p.continuous_nl_per_h = 0;
        assert_int_equal(pca_configure(s, &p), 0);
        assert_int_equal(pca_window_volume_nl(s, 0), 0);

        /* doses: demand and clinician counted, the uncounted one not */
        p.continuous_nl_per_h = 250 * 1000;
        p.window_us = 4 * H_US;
        assert_int_equal(pca_configure(s, &p), 0);
        add(s, PCA_DOSE_DEMAND, 10 * MIN_US, 12 * MIN_US, 1500 * 1000, true);
        add(s, PCA_DOSE_CLINICIAN, 20 * MIN_US, 25 * MIN_US, 700 * 1000, true);
        add(s, PCA_DOSE_CLINICIAN, 30 * MIN_US, 35 * MIN_US, 5 * ML_NL, false);
        add(s, PCA_DOSE_LOADING, 40 * MIN_US, INT64_MAX, 3 * ML_NL, false);
        assert_int_equal(pca_window_volume_nl(s, H_US), ML_NL + 1500 * 1000 + 700 * 1000);
}

/* A dose counts from its start until a window after its END. */
static void a_dose_counts_until_a_window_after_its_end(void **state) {
        struct pca_params p = base;
        p.limit_nl = 100 * ML_NL;
        struct pca_state *s = fresh(&p);
        add(s, PCA_DOSE_DEMAND, 0, 10 * MIN_US, 2 * ML_NL, true);
        assert_int_equal(pca_window_volume_nl(s, 0), 2 * ML_NL);
        /* past a window after its start, not after its end: still counted */
        assert_int_equal(pca_window_volume_nl(s, 4 * H_US + 5 * MIN_US), 2 * ML_NL);
        assert_int_equal(pca_window_volume_nl(s, 4 * H_US + 10 * MIN_US - 1), 2 * ML_NL);
        assert_int_equal(pca_window_volume_nl(s, 4 * H_US + 10 * MIN_US), 0);

        /* running: counts however long ago it started */
        s = fresh(&p);
        add(s, PCA_DOSE_CLINICIAN, 0, INT64_MAX, 3 * ML_NL, true);
        assert_int_equal(pca_window_volume_nl(s, 20 * H_US), 3 * ML_NL);
        pca_dose_ended(s, 20 * H_US);
        assert_int_equal(pca_window_volume_nl(s, 24 * H_US - 1), 3 * ML_NL);
        assert_int_equal(pca_window_volume_nl(s, 24 * H_US), 0);

        /* not counted: never in the window, and no limit from it */
        s = fresh(&base);
        add(s, PCA_DOSE_CLINICIAN, 0, INT64_MAX, 50 * ML_NL, false);
        assert_int_equal(pca_window_volume_nl(s, MIN_US), 0);
        assert_false(pca_limit_reached(s, MIN_US));
        assert_int_equal(pca_judge(s, MIN_US), PCA_GRANTED);
}

/* doses + reserve + the new dose == limit is allowed; one nL more is not. */
static void limit_is_reached_exactly_at_the_boundary(void **state) {
        struct pca_params p = base;
        p.continuous_nl_per_h = 500 * 1000;     /* 2 mL over 4 h */
        p.limit_nl = 2 * ML_NL + 3 * ML_NL + ML_NL;
        struct pca_state *s = fresh(&p);
        add(s, PCA_DOSE_DEMAND, 0, MIN_US, 3 * ML_NL, true);
        int64_t now = 30 * MIN_US;
        assert_int_equal(pca_window_volume_nl(s, now), 5 * ML_NL);
        assert_false(pca_limit_reached(s, now));
        assert_int_equal(pca_judge(s, now), PCA_GRANTED);

        p.limit_nl -= 1;
        assert_int_equal(pca_configure(s, &p), 0);
        assert_true(pca_limit_reached(s, now));
        assert_int_equal(pca_judge(s, now), PCA_DENIED_LIMIT);
        /* not the next dose's verdict alone: the reserve is rounded up, so
         * 1 nL/h over 4 h + 1 s (4.0003 nL) takes 5 nL of room */
        p.continuous_nl_per_h = 1;
        p.window_us = 4 * H_US + S_US;
        p.limit_nl = 3 * ML_NL + ML_NL + 5;
        assert_int_equal(pca_configure(s, &p), 0);
        assert_false(pca_limit_reached(s, now));
        p.limit_nl = 3 * ML_NL + ML_NL + 4;
        assert_int_equal(pca_configure(s, &p), 0);
        assert_true(pca_limit_reached(s, now));
}

/* Lockout first, then the hourly count, then the limit. */
static void verdicts_come_in_order_lockout_hourly_limit(void **state) {
        struct pca_params p = base;
        p.max_doses_per_hour = 2;
        p.lockout_us = 10 * MIN_US;
        p.limit_nl = 2500 * 1000;               /* 2.5 doses */
        struct pca_state *s = fresh(&p);
        demand(s, 0, MIN_US);
        demand(s, 10 * MIN_US, MIN_US);

        /* all three apply */
        int64_t now = 15 * MIN_US;
        assert_true(pca_doses_last_hour(s, now) >= p.max_doses_per_hour);
        assert_true(pca_limit_reached(s, now));
        assert_int_equal(pca_judge(s, now), PCA_DENIED_LOCKOUT);
        /* hourly and limit */
        now = 20 * MIN_US;
        assert_true(pca_limit_reached(s, now));
        assert_int_equal(pca_judge(s, now), PCA_DENIED_HOURLY);
        /* limit alone: both out of the hour, both still in force */
        now = 70 * MIN_US;
        assert_int_equal(pca_doses_last_hour(s, now), 0);
        assert_int_equal(pca_judge(s, now), PCA_DENIED_LIMIT);
        /* the first dose ended at 1 min: in force until 4 h 1 min; then
         * the second alone leaves room for a dose */
        assert_int_equal(pca_judge(s, 4 * H_US + MIN_US - 1), PCA_DENIED_LIMIT);
        assert_int_equal(pca_judge(s, 4 * H_US + MIN_US), PCA_GRANTED);

        /* lockout and limit, within the hourly count */
        p.max_doses_per_hour = 10;
        assert_int_equal(pca_configure(s, &p), 0);
        assert_int_equal(pca_judge(s, 15 * MIN_US), PCA_DENIED_LOCKOUT);
        assert_int_equal(pca_judge(s, 20 * MIN_US), PCA_DENIED_LIMIT);
}

static void next_allowed_is_when_lockout_and_hourly_count_both_allow(void **state) {
        struct pca_params p = base;
        p.limit_nl = 100 * ML_NL;
        struct pca_state *s = fresh(&p);
        /* nothing given: now */
        assert_int_equal(pca_next_allowed_us(s, 7 * MIN_US), 7 * MIN_US);

        /* the lockout's end */
        demand(s, H_US, MIN_US);
        assert_int_equal(pca_next_allowed_us(s, H_US + 2 * MIN_US), H_US + 10 * MIN_US);
        /* over: now */
        assert_int_equal(pca_next_allowed_us(s, H_US + 10 * MIN_US), H_US + 10 * MIN_US);
        assert_int_equal(pca_next_allowed_us(s, 3 * H_US), 3 * H_US);

        /* the hourly count's end, later than the lockout: the oldest of
         * the hour leaves */
        p.max_doses_per_hour = 2;
        p.lockout_us = 5 * MIN_US;
        s = fresh(&p);
        demand(s, 0, MIN_US);
        demand(s, 10 * MIN_US, MIN_US);
        assert_int_equal(pca_next_allowed_us(s, 20 * MIN_US), H_US);
        assert_int_equal(pca_judge(s, H_US - 1), PCA_DENIED_HOURLY);
        assert_int_equal(pca_judge(s, H_US), PCA_GRANTED);
        assert_int_equal(pca_next_allowed_us(s, H_US), H_US);

        /* the lockout's end, later than the hourly count's */
        p.lockout_us = 50 * MIN_US;
        s = fresh(&p);
        demand(s, 0, MIN_US);
        demand(s, 50 * MIN_US, MIN_US);
        assert_int_equal(pca_doses_last_hour(s, 55 * MIN_US), 2);
        assert_int_equal(pca_next_allowed_us(s, 55 * MIN_US), 100 * MIN_US);
        assert_int_equal(pca_judge(s, 100 * MIN_US - 1), PCA_DENIED_LOCKOUT);

        /* a reprogram lowered the max below the hour's count: not when the
         * oldest leaves, but when enough have left */
        p.max_doses_per_hour = 4;
        p.lockout_us = 5 * MIN_US;
        s = fresh(&p);
        for (int i = 0; i < 4; i++)
                demand(s, i * 10 * MIN_US, MIN_US);
        assert_int_equal(pca_next_allowed_us(s, 40 * MIN_US), H_US);
        p.max_doses_per_hour = 2;
        assert_int_equal(pca_configure(s, &p), 0);
        assert_int_equal(pca_doses_last_hour(s, 40 * MIN_US), 4);
        assert_int_equal(pca_next_allowed_us(s, 40 * MIN_US), 80 * MIN_US);
        assert_int_equal(pca_judge(s, 80 * MIN_US - 1), PCA_DENIED_HOURLY);
        assert_int_equal(pca_judge(s, 80 * MIN_US), PCA_GRANTED);
        /* asked later, the same answer */
        assert_int_equal(pca_next_allowed_us(s, 65 * MIN_US), 80 * MIN_US);
}

static void presses_within_the_debounce_interval_are_one(void **state) {
        struct pca_state *s = fresh(&base);
        int64_t t = 3 * H_US;
        assert_true(pca_press(s, t));
        assert_false(pca_press(s, t));
        assert_false(pca_press(s, t + PCA_DEBOUNCE_US - 1));
        /* the interval restarts at each press: a rattle that goes on for
         * 3 s at 200 ms is still the one press */
        t += PCA_DEBOUNCE_US - 1;
        for (int i = 0; i < 15; i++) {
                t += 200 * US_PER_MS;
                assert_false(pca_press(s, t));
        }
        t += PCA_DEBOUNCE_US - 1;
        assert_false(pca_press(s, t));
        /* a pause of the interval: a new press */
        t += PCA_DEBOUNCE_US;
        assert_true(pca_press(s, t));
        assert_true(pca_press(s, t + 10 * S_US));
}

static void count_demand_counts_and_forget_starts_afresh(void **state) {
        struct pca_state *s = fresh(&base);
        pca_count_demand(s, true, 7);
        pca_count_demand(s, false, 8);
        pca_count_demand(s, false, 9);
        assert_int_equal(s->demands_total, 3);
        assert_int_equal(s->demands_granted, 1);
        assert_int_equal(s->last_demand_id, 9);

        demand(s, 0, MIN_US);
        add(s, PCA_DOSE_CLINICIAN, MIN_US, 2 * MIN_US, 8 * ML_NL, true);
        assert_true(pca_press(s, 2 * MIN_US));
        assert_int_equal(pca_judge(s, 2 * MIN_US + 1), PCA_DENIED_LOCKOUT);

        pca_forget(s);
        assert_int_equal(s->n_doses, 0);
        assert_int_equal(s->demands_total, 0);
        assert_int_equal(s->demands_granted, 0);
        assert_int_equal(s->last_demand_id, 0);
        /* the program stays */
        assert_true(s->configured);
        assert_memory_equal(&s->params, &base, sizeof(base));
        /* no lockout, no limit, and the next press is a new one */
        assert_int_equal(pca_window_volume_nl(s, 2 * MIN_US + 1), 0);
        assert_int_equal(pca_judge(s, 2 * MIN_US + 1), PCA_GRANTED);
        assert_true(pca_press(s, 2 * MIN_US + 1));
}

static void prune_keeps_what_a_rule_still_needs(void **state) {
        struct pca_params p = base;
        p.limit_nl = 100 * ML_NL;
        p.window_us = H_US;
        struct pca_state *s = fresh(&p);
        int64_t now = 20 * H_US;
        /* running: kept however old */
        add(s, PCA_DOSE_LOADING, now - 19 * H_US, INT64_MAX, 4 * ML_NL, true);
        /* ended a history span (13 h) ago or more: gone */
        add(s, PCA_DOSE_DEMAND, now - 14 * H_US, now - 13 * H_US - 1, ML_NL, true);
        add(s, PCA_DOSE_DEMAND, now - 13 * H_US - MIN_US, now - 13 * H_US, ML_NL, true);
        /* ended within 13 h: kept, a reprogram may widen the window */
        add(s, PCA_DOSE_CLINICIAN, now - 13 * H_US - MIN_US, now - 13 * H_US + 1, 2 * ML_NL, true);
        add(s, PCA_DOSE_DEMAND, now - 5 * H_US - MIN_US, now - 5 * H_US, 3 * ML_NL, true);
        /* recent: kept */
        add(s, PCA_DOSE_DEMAND, now - 5 * MIN_US, now - 4 * MIN_US, 5 * ML_NL, true);
        pca_prune(s, now);
        assert_int_equal(s->n_doses, 4);
        assert_int_equal(s->doses[0].volume_nl, 4 * ML_NL);
        assert_int_equal(s->doses[1].volume_nl, 2 * ML_NL);
        assert_int_equal(s->doses[2].volume_nl, 3 * ML_NL);
        assert_int_equal(s->doses[3].volume_nl, 5 * ML_NL);
        /* the order stays oldest first, so the lockout is still there */
        assert_int_equal(pca_judge(s, now), PCA_DENIED_LOCKOUT);
        /* the window is 1 h: only the running and the recent one count... */
        assert_int_equal(pca_window_volume_nl(s, now), 9 * ML_NL);
        /* ...but widened to 12 h, the one of 5 h ago counts again */
        p.window_us = 12 * H_US;
        assert_int_equal(pca_configure(s, &p), 0);
        assert_int_equal(pca_window_volume_nl(s, now), 12 * ML_NL);

        /* a lockout longer than the history: the demand stays for it */
        p.lockout_us = 15 * H_US;
        p.window_us = H_US;
        s = fresh(&p);
        demand(s, now - 14 * H_US, MIN_US);
        pca_prune(s, now);
        assert_int_equal(s->n_doses, 1);
        assert_int_equal(pca_judge(s, now), PCA_DENIED_LOCKOUT);
        assert_int_equal(pca_judge(s, now + H_US), PCA_GRANTED);
        /* with a short lockout it goes */
        p.lockout_us = 10 * MIN_US;
        assert_int_equal(pca_configure(s, &p), 0);
        pca_prune(s, now);
        assert_int_equal(s->n_doses, 0);

        /* unconfigured: the history span still holds */
        s = fresh(NULL);
        add(s, PCA_DOSE_DEMAND, now - 13 * H_US - 30 * MIN_US, now - 13 * H_US - 29 * MIN_US, ML_NL, true);
        add(s, PCA_DOSE_DEMAND, now - 12 * H_US - 30 * MIN_US, now - 12 * H_US - 29 * MIN_US, 2 * ML_NL, true);
        pca_prune(s, now);
        assert_int_equal(s->n_doses, 1);
        assert_int_equal(s->doses[0].volume_nl, 2 * ML_NL);
}

static void add_dose_is_refused_only_when_the_history_is_full_of_doses_in_force(void **state) {
        struct pca_params p = base;
        p.max_doses_per_hour = 60;
        p.lockout_us = 0;
        p.limit_nl = 100000 * ML_NL;
        struct pca_state *s = fresh(&p);
        /* one every 30 s for 8.5 h: all within the history span */
        for (int i = 0; i < PCA_DOSES_MAX; i++)
                add(s, PCA_DOSE_DEMAND, i * 30 * S_US, i * 30 * S_US + 10 * S_US, 1000, true);
        assert_int_equal(s->n_doses, PCA_DOSES_MAX);
        struct pca_dose d = { .start_us = 9 * H_US, .end_us = INT64_MAX, .volume_nl = 1000, .counts = true };
        assert_int_equal(pca_add_dose(s, &d), -ENOSPC);
        assert_int_equal(s->n_doses, PCA_DOSES_MAX);
        assert_int_equal(s->doses[PCA_DOSES_MAX - 1].start_us, (PCA_DOSES_MAX - 1) * 30 * S_US);

        /* later, the first six ended 13 h ago or more: room made */
        d.start_us = 13 * H_US + 161 * S_US;
        assert_int_equal(pca_add_dose(s, &d), 0);
        assert_int_equal(s->n_doses, PCA_DOSES_MAX - 6 + 1);
        assert_int_equal(s->doses[0].start_us, 6 * 30 * S_US);
        assert_int_equal(s->doses[s->n_doses - 1].start_us, d.start_us);
        assert_true(pca_dose_running(s));
}

static void dose_ended_ends_the_running_one(void **state) {
        struct pca_state *s = fresh(&base);
        assert_false(pca_dose_running(s));
        pca_dose_ended(s, 5);           /* nothing running: nothing happens */
        assert_int_equal(s->n_doses, 0);

        add(s, PCA_DOSE_LOADING, 0, 10 * MIN_US, 2 * ML_NL, true);
        assert_false(pca_dose_running(s));
        add(s, PCA_DOSE_DEMAND, 20 * MIN_US, INT64_MAX, ML_NL, true);
        assert_true(pca_dose_running(s));
        pca_dose_ended(s, 23 * MIN_US);
        assert_false(pca_dose_running(s));
        assert_int_equal(s->doses[0].end_us, 10 * MIN_US);
        assert_int_equal(s->doses[1].end_us, 23 * MIN_US);
        /* again: the ended ones stay as they are */
        pca_dose_ended(s, 30 * MIN_US);
        assert_int_equal(s->doses[0].end_us, 10 * MIN_US);
        assert_int_equal(s->doses[1].end_us, 23 * MIN_US);

        /* a running dose that is not the last one is found too */
        add(s, PCA_DOSE_CLINICIAN, 40 * MIN_US, INT64_MAX, ML_NL, false);
        add(s, PCA_DOSE_DEMAND, 41 * MIN_US, 42 * MIN_US, ML_NL, true);
        assert_true(pca_dose_running(s));
        pca_dose_ended(s, 45 * MIN_US);
        assert_false(pca_dose_running(s));
        assert_int_equal(s->doses[2].end_us, 45 * MIN_US);
        assert_int_equal(s->doses[3].end_us, 42 * MIN_US);
}

/* ---- the property: no window ever holds more than the limit ---- */

struct given {
        int64_t start_us, end_us, volume_nl;
};

#define PROP_SCENARIOS 200
#define PROP_SPAN_US (12 * H_US)
#define PROP_MAX_GIVEN 1024

static int64_t rand_between(struct rng *r, int64_t lo, int64_t hi) {
        return lo + (int64_t) (rng_uniform(r) * (double) (hi - lo + 1));
}

/* Volume delivered in the window [a, a + w], each dose spread evenly
 * over [start, end], plus the continuous flow over the whole window. */
static long double window_volume(const struct given *g, size_t n, int64_t a, int64_t w, int64_t continuous_nl_per_h) {
        long double v = (long double) continuous_nl_per_h * w / H_US;
        for (size_t i = 0; i < n; i++) {
                int64_t lo = g[i].start_us > a ? g[i].start_us : a;
                int64_t hi = g[i].end_us < a + w ? g[i].end_us : a + w;
                if (hi > lo)
                        v += (long double) g[i].volume_nl * (hi - lo) / (g[i].end_us - g[i].start_us);
        }
        return v;
}

/* Doses are judged as the pump judges them (plus its one-dose-at-a-time
 * rule) and given at a delivery rate that varies from dose to dose (a
 * long dose followed by a short one is where a window counted from the
 * start would leak); half-way the dose is reprogrammed, the history
 * kept. Then every window of the 12 h is checked by brute force. */
static void no_window_ever_holds_more_than_the_limit(void **state) {
        static struct given g[PROP_MAX_GIVEN];
        struct rng r = { .state = 20261124 };
        unsigned verdicts[_PCA_VERDICT_MAX] = { 0 };
        double fullest = 0;

        for (int scen = 0; scen < PROP_SCENARIOS; scen++) {
                struct pca_params p = {
                        .dose_nl = rand_between(&r, 100 * 1000, 2 * ML_NL),
                        .lockout_us = rand_between(&r, 0, 30 * MIN_US),
                        .max_doses_per_hour = (unsigned) rand_between(&r, 1, 8),
                        .window_us = rand_between(&r, H_US, 12 * H_US),
                        .continuous_nl_per_h = rng_uniform(&r) < 0.4 ? 0 : rand_between(&r, 1, ML_NL),
                        .clinician_counts = true,
                };
                int64_t reserve;
                assert_int_equal(muldiv_ceil(p.continuous_nl_per_h, p.window_us, H_US, &reserve), 0);
                /* tight limits, and some loose enough for the hourly count */
                p.limit_nl = reserve + p.dose_nl + rand_between(&r, 0, (rng_uniform(&r) < 0.6 ? 8 : 60) * p.dose_nl);
                int64_t reprogram_at = rand_between(&r, 3 * H_US, 9 * H_US);

                struct pca_state *s = fresh(&p);
                size_t n = 0;
                int64_t t = rand_between(&r, 0, 10 * MIN_US), last_end = 0;
                while (t < PROP_SPAN_US) {
                        if (reprogram_at && t >= reprogram_at) {
                                /* a new dose; the window, limit and flow stay */
                                p.dose_nl = rand_between(&r, 100 * 1000, MIN(2 * ML_NL, p.limit_nl - reserve));
                                assert_int_equal(pca_configure(s, &p), 0);
                                reprogram_at = 0;
                        }
                        /* the pump ends a dose when its steps are done */
                        if (n && g[n - 1].end_us <= t && pca_dose_running(s))
                                pca_dose_ended(s, g[n - 1].end_us);
                        if (pca_press(s, t)) {
                                enum pca_verdict v = pca_judge(s, t);
                                int64_t next = pca_next_allowed_us(s, t);
                                if (v == PCA_DENIED_LOCKOUT || v == PCA_DENIED_HOURLY)
                                        assert_true(next > t);
                                else
                                        assert_int_equal(next, t);
                                /* the pump's own rule: one dose at a time */
                                if (v == PCA_GRANTED && pca_dose_running(s))
                                        v = PCA_DENIED_BOLUS;
                                verdicts[v]++;
                                if (v == PCA_GRANTED) {
                                        /* 1 to 100 mL/h, log-uniform: seconds to hours */
                                        int64_t rate = (int64_t) (ML_NL * exp(rng_uniform(&r) * log(100.0)));
                                        int64_t dur;
                                        assert_int_equal(muldiv_ceil(p.dose_nl, H_US, rate, &dur), 0);
                                        assert_true(n < PROP_MAX_GIVEN);
                                        g[n] = (struct given) { t, t + dur, p.dose_nl };
                                        last_end = MAX(last_end, t + dur);
                                        struct pca_dose d = { .id = (int64_t) n + 1, .start_us = t, .end_us = INT64_MAX,
                                                              .volume_nl = p.dose_nl, .kind = PCA_DOSE_DEMAND,
                                                              .counts = true };
                                        assert_int_equal(pca_add_dose(s, &d), 0);
                                        n++;
                                }
                                pca_count_demand(s, v == PCA_GRANTED, (int64_t) verdicts[v]);
                        }
                        if (rng_uniform(&r) < 0.1)
                                pca_prune(s, t);
                        /* rattles, eager presses and long pauses */
                        double u = rng_uniform(&r);
                        t += u < 0.15 ? rand_between(&r, 1, 400 * US_PER_MS) :
                             u < 0.8  ? rand_between(&r, S_US, 8 * MIN_US) :
                                        rand_between(&r, 8 * MIN_US, 90 * MIN_US);
                }
                assert_int_equal(s->demands_granted, n);

                /* lockout and hourly count, from the doses given */
                for (size_t i = 0; i < n; i++) {
                        if (i > 0)
                                assert_true(g[i].start_us - g[i - 1].start_us >= p.lockout_us);
                        unsigned in_hour = 0;
                        for (size_t j = 0; j <= i; j++)
                                if (g[j].start_us > g[i].start_us - H_US)
                                        in_hour++;
                        assert_true(in_hour <= p.max_doses_per_hour);
                }

                /* every window: a fine grid, then the exact breakpoints
                 * (the volume is piecewise linear in the window's start) */
                long double worst = 0;
                for (int64_t a = -p.window_us; a <= last_end; a += 30 * S_US) {
                        long double v = window_volume(g, n, a, p.window_us, p.continuous_nl_per_h);
                        worst = v > worst ? v : worst;
                }
                for (size_t i = 0; i < n; i++) {
                        int64_t at[4] = { g[i].start_us, g[i].end_us, g[i].start_us - p.window_us,
                                          g[i].end_us - p.window_us };
                        for (int k = 0; k < 4; k++) {
                                long double v = window_volume(g, n, at[k], p.window_us, p.continuous_nl_per_h);
                                worst = v > worst ? v : worst;
                        }
                }
                if (worst > p.limit_nl + 0.001L)
                        fail_msg("scenario %d: a window of %.3f h holds %.3Lf nL, over the limit of %" PRId64 " nL",
                                 scen, (double) p.window_us / H_US, worst, p.limit_nl);
                double ratio = (double) (worst / p.limit_nl);
                fullest = ratio > fullest ? ratio : fullest;
        }
        print_message("%d scenarios: %u granted, %u lockout, %u hourly, %u limit, %u dose running; fullest window %.4f of its limit\n",
                      PROP_SCENARIOS, verdicts[PCA_GRANTED], verdicts[PCA_DENIED_LOCKOUT], verdicts[PCA_DENIED_HOURLY],
                      verdicts[PCA_DENIED_LIMIT], verdicts[PCA_DENIED_BOLUS], fullest);
        /* The scenarios must test something: every rule said no at some
         * point, and some window came close to its limit. */
        assert_true(verdicts[PCA_GRANTED] > 200);
        assert_true(verdicts[PCA_DENIED_LOCKOUT] > 20);
        assert_true(verdicts[PCA_DENIED_HOURLY] > 20);
        assert_true(verdicts[PCA_DENIED_LIMIT] > 20);
        assert_true(verdicts[PCA_DENIED_BOLUS] > 20);
        assert_true(fullest > 0.95);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(verdicts_have_the_history_words),
                cmocka_unit_test(unconfigured_grants_nothing),
                cmocka_unit_test(configure_refuses_bad_params_and_keeps_the_old_ones),
                cmocka_unit_test(reprogram_keeps_the_history),
                cmocka_unit_test(lockout_ends_exactly_lockout_after_the_dose_start),
                cmocka_unit_test(only_demand_doses_start_a_lockout),
                cmocka_unit_test(hourly_count_is_the_demands_started_in_the_last_hour),
                cmocka_unit_test(window_volume_is_the_continuous_reserve_plus_counted_doses),
                cmocka_unit_test(a_dose_counts_until_a_window_after_its_end),
                cmocka_unit_test(limit_is_reached_exactly_at_the_boundary),
                cmocka_unit_test(verdicts_come_in_order_lockout_hourly_limit),
                cmocka_unit_test(next_allowed_is_when_lockout_and_hourly_count_both_allow),
                cmocka_unit_test(presses_within_the_debounce_interval_are_one),
                cmocka_unit_test(count_demand_counts_and_forget_starts_afresh),
                cmocka_unit_test(prune_keeps_what_a_rule_still_needs),
                cmocka_unit_test(add_dose_is_refused_only_when_the_history_is_full_of_doses_in_force),
                cmocka_unit_test(dose_ended_ends_the_running_one),
                cmocka_unit_test(no_window_ever_holds_more_than_the_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
