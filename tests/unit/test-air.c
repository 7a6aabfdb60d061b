/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/units.h"
#include "safety/air.h"

#define UL(x) ((int64_t) (x) * 1000)    /* µL in nL */
#define TICK_US (100 * US_PER_MS)

/* A plunger pushing past the air detector, sampled every tick; it moves
 * nl_per_tick between samples (negative: backing off). */
struct plunger {
        struct air_detector *d;
        int64_t t_us;
        int64_t pushed_nl;
        int64_t nl_per_tick;
        enum air_verdict worst;         /* the highest verdict seen */
};

static void plunger_init(struct plunger *pl, int64_t nl_per_tick) {
        static struct air_detector d;
        struct air_params p;

        air_params_default(&p);
        assert_int_equal(air_params_check(&p, NULL), 0);
        air_init(&d, &p);
        *pl = (struct plunger) {
                .d = &d,
                .nl_per_tick = nl_per_tick,
        };
}

static enum air_verdict tick(struct plunger *pl, bool air_present) {
        pl->t_us += TICK_US;
        pl->pushed_nl += pl->nl_per_tick;
        enum air_verdict v = air_sample(pl->d, pl->t_us, air_present, pl->pushed_nl);
        if (v > pl->worst)
                pl->worst = v;
        return v;
}

/* Ticks with the detector reading air_present until the plunger has
 * moved volume_nl (a multiple of nl_per_tick); returns the last verdict. */
static enum air_verdict move(struct plunger *pl, bool air_present, int64_t volume_nl) {
        enum air_verdict v = AIR_NONE;

        for (int64_t n = volume_nl / pl->nl_per_tick; n > 0; n--)
                v = tick(pl, air_present);
        return v;
}

/* A bubble of exactly bubble_nl: the first sample that sees air, then
 * bubble_nl further on the last, then one that sees liquid. Returns the
 * time it ended. */
static int64_t bubble(struct plunger *pl, int64_t bubble_nl) {
        tick(pl, true);
        move(pl, true, bubble_nl);
        tick(pl, false);
        return pl->t_us;
}

static void liquid_for(struct plunger *pl, int64_t duration_us) {
        for (int64_t end_us = pl->t_us + duration_us; pl->t_us < end_us; )
                tick(pl, false);
}

/* ---- single bubbles ----------------------------------------------------- */

static void bubble_over_the_limit_is_a_bubble_alarm_while_it_passes(void **state) {
        struct plunger pl;

        plunger_init(&pl, UL(1));
        move(&pl, false, UL(500));
        /* Exactly at the limit is not over it; one nL more is. */
        tick(&pl, true);
        assert_int_equal(move(&pl, true, UL(100)), AIR_NONE);
        assert_int_equal(pl.worst, AIR_NONE);
        pl.nl_per_tick = 1;
        assert_int_equal(tick(&pl, true), AIR_BUBBLE);
        assert_int_equal(air_last_bubble_nl(pl.d), UL(100) + 1);
        /* Once it has passed the bubble verdict ends (the caller latched
         * the alarm); 100 µL in the window is under the accumulated limit. */
        assert_int_equal(tick(&pl, false), AIR_NONE);
        assert_int_equal(air_last_bubble_nl(pl.d), UL(100) + 1);
        assert_int_equal(air_window_nl(pl.d, pl.t_us), UL(100) + 1);
}

static void bubble_under_the_limit_raises_nothing(void **state) {
        struct plunger pl;

        plunger_init(&pl, UL(1));
        move(&pl, false, UL(100));
        bubble(&pl, UL(90));
        move(&pl, false, UL(100));
        assert_int_equal(pl.worst, AIR_NONE);
        assert_int_equal(air_last_bubble_nl(pl.d), UL(90));
        assert_int_equal(air_window_nl(pl.d, pl.t_us), UL(90));
}

static void volume_pushed_while_no_air_is_seen_is_liquid(void **state) {
        struct plunger pl;

        /* From the first sample that sees air to the last: what moved
         * before and after is liquid. */
        plunger_init(&pl, UL(5));
        move(&pl, false, UL(50));
        move(&pl, true, UL(40));
        move(&pl, false, UL(50));
        assert_int_equal(air_last_bubble_nl(pl.d), UL(35));
        assert_int_equal(air_window_nl(pl.d, pl.t_us), UL(35));
}

static void backing_off_does_not_shrink_a_bubble_nor_count_it_twice(void **state) {
        struct plunger pl;

        plunger_init(&pl, UL(1));
        move(&pl, false, UL(100));
        tick(&pl, true);
        move(&pl, true, UL(80));
        assert_int_equal(air_last_bubble_nl(pl.d), UL(80));

        /* Back-off after an occlusion: the plunger reverses 50 µL, air
         * still over the detector. */
        pl.nl_per_tick = -UL(1);
        move(&pl, true, -UL(50));
        assert_int_equal(air_last_bubble_nl(pl.d), UL(80));

        /* Forward again: the first 50 µL are the same air coming back. */
        pl.nl_per_tick = UL(1);
        move(&pl, true, UL(50));
        assert_int_equal(air_last_bubble_nl(pl.d), UL(80));
        assert_int_equal(pl.worst, AIR_NONE);
        assert_int_equal(move(&pl, true, UL(21)), AIR_BUBBLE);
        assert_int_equal(air_last_bubble_nl(pl.d), UL(101));
}

/* ---- accumulated air ---------------------------------------------------- */

static void many_small_bubbles_within_the_window_are_accumulated_air(void **state) {
        struct plunger pl;
        int at = 0;

        /* 60 µL a minute, each well under the single limit: the ninth
         * makes 540 µL in 15 min. */
        plunger_init(&pl, UL(1));
        for (int i = 1; i <= 12 && at == 0; i++) {
                int64_t start_us = pl.t_us;
                bubble(&pl, UL(60));
                if (pl.worst != AIR_NONE)
                        at = i;
                liquid_for(&pl, US_PER_MIN - (pl.t_us - start_us));
        }
        print_message("60 uL bubbles a minute apart: accumulated air at bubble %d\n", at);
        assert_int_equal(at, 9);
        assert_int_equal(pl.worst, AIR_ACCUMULATED);
        assert_int_equal(air_last_bubble_nl(pl.d), UL(60));
}

static void bubble_in_progress_counts_toward_accumulated_air(void **state) {
        struct plunger pl;

        /* 480 µL in eight bubbles; the ninth tips it over once 20 µL of it
         * has passed, while it is still passing. */
        plunger_init(&pl, UL(1));
        for (int i = 0; i < 8; i++) {
                bubble(&pl, UL(60));
                liquid_for(&pl, 10 * US_PER_SEC);
        }
        assert_int_equal(pl.worst, AIR_NONE);
        tick(&pl, true);
        assert_int_equal(move(&pl, true, UL(20)), AIR_NONE);
        assert_int_equal(tick(&pl, true), AIR_ACCUMULATED);
        assert_int_equal(air_window_nl(pl.d, pl.t_us), UL(501));
}

static void accumulated_air_ages_out_of_the_window(void **state) {
        struct plunger pl;
        int64_t end_us[9];

        plunger_init(&pl, UL(1));
        for (int i = 0; i < 9; i++) {
                int64_t start_us = pl.t_us;
                end_us[i] = bubble(&pl, UL(60));
                liquid_for(&pl, US_PER_MIN - (pl.t_us - start_us));
        }
        assert_int_equal(pl.worst, AIR_ACCUMULATED);
        assert_int_equal(air_window_nl(pl.d, pl.t_us), UL(540));
        /* Asked ahead of the samples, for a message. */
        assert_int_equal(air_window_nl(pl.d, end_us[0] + 15 * US_PER_MIN - 1), UL(540));
        assert_int_equal(air_window_nl(pl.d, end_us[0] + 15 * US_PER_MIN), UL(480));
        assert_int_equal(air_window_nl(pl.d, end_us[8] + 15 * US_PER_MIN), 0);

        /* Each bubble counts until 15 min after it ended: 540 µL up to the
         * tick before the first one's term, 480 µL (not over) from then. */
        pl.nl_per_tick = 0;
        liquid_for(&pl, end_us[0] + 15 * US_PER_MIN - TICK_US - pl.t_us);
        assert_int_equal(air_window_nl(pl.d, pl.t_us), UL(540));
        assert_int_equal(tick(&pl, false), AIR_NONE);
        assert_int_equal(pl.t_us, end_us[0] + 15 * US_PER_MIN);
        assert_int_equal(air_window_nl(pl.d, pl.t_us), UL(480));

        liquid_for(&pl, end_us[8] + 15 * US_PER_MIN - pl.t_us);
        assert_int_equal(air_window_nl(pl.d, pl.t_us), 0);
        assert_int_equal(air_last_bubble_nl(pl.d), UL(60));
}

static void sparse_bubbles_over_a_long_infusion_never_accumulate(void **state) {
        struct plunger pl;

        /* 50 µL every 5 min for 25 h: 300 bubbles, more than the history
         * holds, but never more than 150 µL in a window. */
        plunger_init(&pl, UL(1));
        for (int i = 0; i < 300; i++) {
                int64_t start_us = pl.t_us;
                bubble(&pl, UL(50));
                liquid_for(&pl, 5 * US_PER_MIN - (pl.t_us - start_us));
        }
        assert_int_equal(pl.worst, AIR_NONE);
        assert_true(air_window_nl(pl.d, pl.t_us) <= UL(150));
}

static void more_bubbles_than_the_history_holds_still_count(void **state) {
        struct plunger pl;
        int at = 0;

        /* 300 bubbles of 1.8 µL, 2 s apart (10 min): 540 µL. The newest
         * AIR_HISTORY_MAX alone would hold 460.8 µL. */
        assert_true(300 > AIR_HISTORY_MAX);
        plunger_init(&pl, 100);
        for (int i = 1; i <= 300; i++) {
                int64_t start_us = pl.t_us;
                bubble(&pl, 1800);
                if (pl.worst != AIR_NONE && at == 0)
                        at = i;
                liquid_for(&pl, 2 * US_PER_SEC - (pl.t_us - start_us));
        }
        assert_int_equal(pl.worst, AIR_ACCUMULATED);
        assert_int_equal(at, 278);      /* 278 x 1.8 = 500.4 µL */
        assert_int_equal(air_window_nl(pl.d, pl.t_us), 300 * 1800);
}

/* ---- parameters ----------------------------------------------------------- */

static void assert_refused(const struct air_params *p, const char *field) {
        const char *why = NULL;

        assert_int_equal(air_params_check(p, &why), -EINVAL);
        assert_non_null(why);
        assert_non_null(strstr(why, field));
}

static void params_check_refuses_bad_values_with_a_reason(void **state) {
        struct air_params p, bad;

        air_params_default(&p);
        assert_int_equal(p.bubble_limit_nl, UL(100));
        assert_int_equal(p.accumulated_limit_nl, UL(500));
        assert_int_equal(p.window_us, 15 * US_PER_MIN);

        bad = p, bad.bubble_limit_nl = 0;
        assert_refused(&bad, "bubble_limit_nl");
        bad = p, bad.bubble_limit_nl = UL(200) + 1;
        assert_refused(&bad, "GIP");
        bad = p, bad.accumulated_limit_nl = -1;
        assert_refused(&bad, "accumulated_limit_nl");
        bad = p, bad.window_us = 0;
        assert_refused(&bad, "window_us");

        bad = p, bad.bubble_limit_nl = UL(200);
        assert_int_equal(air_params_check(&bad, NULL), 0);
}

static void verdicts_have_names(void **state) {
        assert_string_equal(air_verdict_to_string(AIR_NONE), "none");
        assert_string_equal(air_verdict_to_string(AIR_BUBBLE), "bubble");
        assert_string_equal(air_verdict_to_string(AIR_ACCUMULATED), "accumulated");
        assert_string_equal(air_verdict_to_string((enum air_verdict) 42), "invalid");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(bubble_over_the_limit_is_a_bubble_alarm_while_it_passes),
                cmocka_unit_test(bubble_under_the_limit_raises_nothing),
                cmocka_unit_test(backing_off_does_not_shrink_a_bubble_nor_count_it_twice),
                cmocka_unit_test(volume_pushed_while_no_air_is_seen_is_liquid),
                cmocka_unit_test(many_small_bubbles_within_the_window_are_accumulated_air),
                cmocka_unit_test(bubble_in_progress_counts_toward_accumulated_air),
                cmocka_unit_test(accumulated_air_ages_out_of_the_window),
                cmocka_unit_test(sparse_bubbles_over_a_long_infusion_never_accumulate),
                cmocka_unit_test(more_bubbles_than_the_history_holds_still_count),
                cmocka_unit_test(params_check_refuses_bad_values_with_a_reason),
                cmocka_unit_test(verdicts_have_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
