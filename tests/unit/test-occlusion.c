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

#include "common/macros.h"
#include "common/units.h"
#include "safety/occlusion.h"

/* ---- a simulated line ------------------------------------------------- */

/* The sim's line (hal/sim-line.c): compliance C, resistance R into the
 * patient's back-pressure P_b, so tau = R * C = 1.5 s; the plunger adds
 * 173.656 nL per step; the sensor is read every 100 ms with 0.5 mmHg of
 * noise. Occluded, nothing flows out and the pressure climbs by Q / C. */
#define COMPLIANCE_NL_PER_MMHG 1400.0
#define RESISTANCE_MMHG_PER_ML_PER_H 0.3
#define TAU_US (RESISTANCE_MMHG_PER_ML_PER_H * 3600.0 * COMPLIANCE_NL_PER_MMHG)
#define REST_MMHG 8.0
#define STEP_NL 173.656
#define NOISE_MMHG 0.5
#define TICK_US (100 * US_PER_MS)

#define ML_PER_H(x) ((int64_t) llround((x) * (double) NL_PER_ML))

/* Patient movement: the back-pressure leaves rest by height_mmhg for
 * length_us, as a step or as a raised cosine. */
struct excursion {
        int64_t start_us;
        int64_t length_us;
        double height_mmhg;
        bool cosine;
};

#define EXCURSIONS_MAX 4096

struct line {
        struct rng rng;
        int64_t t_us;
        double rate_ml_per_h;
        double pressure_mmhg;           /* true, without the sensor's noise */
        double step_due_nl;             /* pushed since the last step */
        bool occluded;
        double back_step_mmhg;          /* a lasting change of P_b (bed raised) */
        const struct excursion *excursions;
        size_t n_excursions, next_excursion;
};

static void line_init(struct line *l, double rate_ml_per_h, uint64_t seed) {
        *l = (struct line) {
                .rng.state = seed,
                .rate_ml_per_h = rate_ml_per_h,
                /* Start on the open line's plateau. */
                .pressure_mmhg = REST_MMHG + RESISTANCE_MMHG_PER_ML_PER_H * rate_ml_per_h,
        };
}

static double line_back_pressure_mmhg(struct line *l, int64_t t_us) {
        double p = REST_MMHG + l->back_step_mmhg;

        while (l->next_excursion < l->n_excursions &&
               l->excursions[l->next_excursion].start_us + l->excursions[l->next_excursion].length_us <= t_us)
                l->next_excursion++;
        if (l->next_excursion < l->n_excursions) {
                const struct excursion *e = &l->excursions[l->next_excursion];
                if (t_us >= e->start_us) {
                        double x = (double) (t_us - e->start_us) / (double) e->length_us;
                        p += e->cosine ? e->height_mmhg * 0.5 * (1.0 - cos(2.0 * M_PI * x)) : e->height_mmhg;
                }
        }
        return p;
}

static void line_relax(struct line *l, int64_t dt_us) {
        if (l->occluded)
                return;
        double back_mmhg = line_back_pressure_mmhg(l, l->t_us);
        l->pressure_mmhg = back_mmhg + (l->pressure_mmhg - back_mmhg) * exp(-(double) dt_us / TAU_US);
}

/* One tick: the steps that fall due in it, each at its own time, and the
 * line relaxing between them. Returns what the sensor reads at its end. */
static double line_tick(struct line *l) {
        double nl_per_us = l->rate_ml_per_h * (double) NL_PER_ML / (double) US_PER_HOUR;
        int64_t end_us = l->t_us + TICK_US;

        while (l->step_due_nl + nl_per_us * (double) (end_us - l->t_us) >= STEP_NL) {
                int64_t dt_us = (int64_t) ceil((STEP_NL - l->step_due_nl) / nl_per_us);
                line_relax(l, dt_us);
                l->t_us += dt_us;
                l->step_due_nl = 0;
                l->pressure_mmhg += STEP_NL / COMPLIANCE_NL_PER_MMHG;
        }
        l->step_due_nl += nl_per_us * (double) (end_us - l->t_us);
        line_relax(l, end_us - l->t_us);
        l->t_us = end_us;
        return l->pressure_mmhg + NOISE_MMHG * rng_gauss(&l->rng);
}

static enum occlusion_verdict line_sample(struct line *l, struct occlusion_detector *d) {
        double p = line_tick(l);
        return occlusion_sample(d, l->t_us, p, ML_PER_H(l->rate_ml_per_h));
}

/* Runs for duration_us. Returns the time from the start to the first
 * verdict that is not NONE (and the verdict), or -1. */
static int64_t line_run(struct line *l, struct occlusion_detector *d, int64_t duration_us,
                        enum occlusion_verdict *ret_verdict) {
        int64_t start_us = l->t_us;

        while (l->t_us - start_us < duration_us) {
                enum occlusion_verdict v = line_sample(l, d);
                if (v != OCCLUSION_NONE) {
                        if (ret_verdict)
                                *ret_verdict = v;
                        return l->t_us - start_us;
                }
        }
        return -1;
}

static void params_for(struct occlusion_params *p, double limit_mmhg) {
        occlusion_params_default(p, limit_mmhg, COMPLIANCE_NL_PER_MMHG);
        assert_int_equal(occlusion_params_check(p, NULL), 0);
}

/* Open at rate_ml_per_h for open_us after a reset, then occluded: the
 * seconds from the occlusion to the first verdict, which must be the
 * expected one. */
static double seconds_to_detect(const struct occlusion_params *params, double rate_ml_per_h, int64_t open_us,
                                enum occlusion_verdict expected) {
        static struct occlusion_detector d;
        struct line l;
        enum occlusion_verdict v = OCCLUSION_NONE;

        occlusion_init(&d, params);
        line_init(&l, rate_ml_per_h, 42);
        occlusion_reset(&d, 0);
        assert_int_equal(line_run(&l, &d, open_us, NULL), -1);
        l.occluded = true;
        int64_t t_us = line_run(&l, &d, 48 * US_PER_HOUR, &v);
        assert_true(t_us >= 0);
        assert_string_equal(occlusion_verdict_to_string(v), occlusion_verdict_to_string(expected));
        return (double) t_us / US_PER_SEC;
}

/* ---- threshold -------------------------------------------------------- */

static void threshold_fires_at_the_limit_not_before(void **state) {
        static struct occlusion_detector d;
        struct occlusion_params p;

        params_for(&p, 300);
        p.trend = false;
        occlusion_init(&d, &p);
        occlusion_reset(&d, 0);

        /* 5 mmHg/s up from rest, sampled every 100 ms. */
        int64_t t_us = 0;
        for (double mmhg = REST_MMHG; mmhg < 300; mmhg += 0.5, t_us += TICK_US)
                assert_int_equal(occlusion_sample(&d, t_us, mmhg, ML_PER_H(25)), OCCLUSION_NONE);
        assert_int_equal(occlusion_sample(&d, t_us, 300.0, ML_PER_H(25)), OCCLUSION_THRESHOLD);
        assert_int_equal(occlusion_sample(&d, t_us + TICK_US, 299.9, ML_PER_H(25)), OCCLUSION_NONE);
}

static void threshold_needs_no_settling_nor_a_reset(void **state) {
        static struct occlusion_detector d;
        struct occlusion_params p;

        params_for(&p, 300);
        occlusion_init(&d, &p);
        /* The very first sample, before any reset, and again on the
         * first sample after one. */
        assert_int_equal(occlusion_sample(&d, 1000, 301.0, ML_PER_H(1)), OCCLUSION_THRESHOLD);
        occlusion_reset(&d, 2000);
        assert_int_equal(occlusion_sample(&d, 2000, 299.0, ML_PER_H(1)), OCCLUSION_NONE);
        assert_int_equal(occlusion_sample(&d, 2100, 300.5, ML_PER_H(1)), OCCLUSION_THRESHOLD);
}

/* ---- trend ------------------------------------------------------------ */

static void trend_catches_1_ml_per_h_within_3_minutes_where_the_threshold_takes_25(void **state) {
        struct occlusion_params p, threshold_only;

        params_for(&p, 300);
        threshold_only = p;
        threshold_only.trend = false;

        double trend_s = seconds_to_detect(&p, 1, 10 * US_PER_MIN, OCCLUSION_TREND);
        double threshold_s = seconds_to_detect(&threshold_only, 1, 10 * US_PER_MIN, OCCLUSION_THRESHOLD);
        print_message("1 mL/h occluded: trend after %.0f s, threshold (300 mmHg) after %.0f s\n",
                      trend_s, threshold_s);
        assert_true(trend_s <= 180);
        assert_true(threshold_s > 20 * 60);
}

static void trend_catches_0_1_ml_per_h_within_15_minutes(void **state) {
        struct occlusion_params p;

        /* Over the least lookback (60 s) an occluded line at 0.1 mL/h
         * rises 1.2 mmHg, far under min_rise: only the stretched lookback
         * sees it. */
        params_for(&p, 300);
        double trend_s = seconds_to_detect(&p, 0.1, 20 * US_PER_MIN, OCCLUSION_TREND);
        print_message("0.1 mL/h occluded: trend after %.0f s (threshold 300 mmHg: ~%.1f h)\n", trend_s,
                      (300 - REST_MMHG) * COMPLIANCE_NL_PER_MMHG / (0.1 * NL_PER_ML));
        assert_true(trend_s <= 15 * 60);
}

static void trend_at_25_ml_per_h_is_no_slower_than_the_threshold(void **state) {
        struct occlusion_params p, threshold_only;

        params_for(&p, 300);
        threshold_only = p;
        threshold_only.trend = false;

        /* The first verdict must be the trend's. */
        double trend_s = seconds_to_detect(&p, 25, 10 * US_PER_MIN, OCCLUSION_TREND);
        double threshold_s = seconds_to_detect(&threshold_only, 25, 10 * US_PER_MIN, OCCLUSION_THRESHOLD);
        print_message("25 mL/h occluded: trend after %.1f s, threshold (300 mmHg) after %.1f s\n",
                      trend_s, threshold_s);
        assert_true(trend_s <= threshold_s);
}

static void rate_step_from_1_to_1000_ml_per_h_after_a_reset_is_not_an_occlusion(void **state) {
        static struct occlusion_detector d;
        struct occlusion_params p;
        struct line l;

        /* 1000 mL/h sits at 308 mmHg on this line: a limit above it, so
         * only the trend is on trial. A 300 mmHg jump is held off three
         * ways: the settle time, the rise needed at 1000 mL/h (5950
         * mmHg), and the floor not climbing once on the new level. */
        params_for(&p, 1034);
        occlusion_init(&d, &p);
        line_init(&l, 1, 7);
        occlusion_reset(&d, 0);
        assert_int_equal(line_run(&l, &d, 10 * US_PER_MIN, NULL), -1);

        l.rate_ml_per_h = 1000;
        occlusion_reset(&d, l.t_us);
        assert_int_equal(line_run(&l, &d, 60 * US_PER_MIN, NULL), -1);

        /* And back down. */
        l.rate_ml_per_h = 1;
        occlusion_reset(&d, l.t_us);
        assert_int_equal(line_run(&l, &d, 60 * US_PER_MIN, NULL), -1);
}

static void settle_time_after_a_reset_is_not_used(void **state) {
        static struct occlusion_detector d;
        struct occlusion_params p;

        /* Short windows, and no movement to allow for, so that the
         * settling itself (8 -> 308 mmHg over 10 s, then flat) would be a
         * trend at once if it were used. */
        params_for(&p, 1034);
        p.floor_window_us = 2 * US_PER_SEC;
        p.lookback_us = 5 * US_PER_SEC;
        p.movement_mmhg = 0;
        p.settle_us = 10 * US_PER_SEC;
        assert_int_equal(occlusion_params_check(&p, NULL), 0);

        for (int settle = 1; settle >= 0; settle--) {
                enum occlusion_verdict first = OCCLUSION_NONE;

                if (!settle)
                        p.settle_us = 0;
                occlusion_init(&d, &p);
                occlusion_reset(&d, 0);
                for (int64_t t_us = 0; t_us < 10 * US_PER_MIN && first == OCCLUSION_NONE; t_us += TICK_US) {
                        double mmhg = REST_MMHG + 300.0 * MIN(t_us, 10 * US_PER_SEC) / (10 * US_PER_SEC);
                        first = occlusion_sample(&d, t_us, mmhg, ML_PER_H(1));
                }
                assert_int_equal(first, settle ? OCCLUSION_NONE : OCCLUSION_TREND);
        }
}

static void reset_starts_the_trend_over(void **state) {
        static struct occlusion_detector d;
        struct occlusion_params p;
        struct line l;

        params_for(&p, 300);
        occlusion_init(&d, &p);
        line_init(&l, 1, 11);
        occlusion_reset(&d, 0);
        assert_int_equal(line_run(&l, &d, 10 * US_PER_MIN, NULL), -1);

        /* Occluded for a while, not yet long enough for the trend... */
        double trend_s = seconds_to_detect(&p, 1, 10 * US_PER_MIN, OCCLUSION_TREND);
        l.occluded = true;
        assert_int_equal(line_run(&l, &d, (int64_t) (trend_s - 10) * US_PER_SEC, NULL), -1);

        /* ...then the pump restarts (after backing off, say) into the
         * still occluded line: a fresh settle, history and persistence,
         * so no verdict for as long as the trend took from scratch. */
        occlusion_reset(&d, l.t_us);
        assert_int_equal(line_run(&l, &d, (int64_t) trend_s * US_PER_SEC, NULL), -1);
        enum occlusion_verdict v = OCCLUSION_NONE;
        assert_true(line_run(&l, &d, 10 * US_PER_MIN, &v) >= 0);
        assert_int_equal(v, OCCLUSION_TREND);
}

static void lasting_step_in_back_pressure_is_not_an_occlusion(void **state) {
        static struct occlusion_detector d;
        static const double rates_ml_per_h[] = { 0.1, 1 };
        struct occlusion_params p;

        /* The bed raised: P_b 20 mmHg higher for good. The rise holds for
         * a whole lookback, far longer than the persistence (at 0.1 mL/h
         * the lookback stretches to 16 min), but the floor stops climbing
         * once the line has settled on the new level. */
        params_for(&p, 300);
        for (size_t i = 0; i < ELEMENTSOF(rates_ml_per_h); i++) {
                struct line l;

                occlusion_init(&d, &p);
                line_init(&l, rates_ml_per_h[i], 13);
                occlusion_reset(&d, 0);
                assert_int_equal(line_run(&l, &d, 20 * US_PER_MIN, NULL), -1);
                l.back_step_mmhg = 20;
                assert_int_equal(line_run(&l, &d, 60 * US_PER_MIN, NULL), -1);
        }
}

static void window_with_too_few_seconds_is_not_judged(void **state) {
        static struct occlusion_detector d;
        struct occlusion_params p;
        int64_t t_us;

        /* 25 mL/h, open at 15.5 mmHg. Then the loop stalls for 19 s and
         * its first second back reads 200 mmHg (a cough, a glitch): on its
         * own that second would be the whole floor window. */
        params_for(&p, 1034);
        occlusion_init(&d, &p);
        occlusion_reset(&d, 0);
        for (t_us = 0; t_us < 10 * US_PER_MIN; t_us += TICK_US)
                assert_int_equal(occlusion_sample(&d, t_us, 15.5, ML_PER_H(25)), OCCLUSION_NONE);
        t_us += 19 * US_PER_SEC;
        for (int64_t end_us = t_us + US_PER_SEC; t_us < end_us; t_us += TICK_US)
                assert_int_equal(occlusion_sample(&d, t_us, 200.0, ML_PER_H(25)), OCCLUSION_NONE);
        for (int64_t end_us = t_us + 5 * US_PER_MIN; t_us < end_us; t_us += TICK_US)
                assert_int_equal(occlusion_sample(&d, t_us, 15.5, ML_PER_H(25)), OCCLUSION_NONE);
}

static void slow_rise_far_below_the_occluded_slope_is_not_a_trend_at_high_rates(void **state) {
        static struct occlusion_detector d;
        struct occlusion_params p;

        /* 100 mL/h: occluded, the line would climb 19.8 mmHg/s. A drift of
         * 0.5 mmHg/s is 30 mmHg per lookback, over min_rise but a fortieth
         * of the occluded rise. */
        params_for(&p, 1034);
        occlusion_init(&d, &p);
        occlusion_reset(&d, 0);
        for (int64_t t_us = 0; t_us < 30 * US_PER_MIN; t_us += TICK_US) {
                double mmhg = 38.0 + 0.5 * (double) t_us / US_PER_SEC;
                assert_int_equal(occlusion_sample(&d, t_us, MIN(mmhg, 1000.0), ML_PER_H(100)), OCCLUSION_NONE);
        }
}

/* Poisson arrivals (mean 120 s apart) of excursions up to +-40 mmHg, 2 to
 * 30 s long, steps or raised cosines; and, every hour, one of the worst
 * cases the sim can make: the longest, highest excursions back to back
 * (1 s apart) in a rising staircase, in a falling one, all down, and
 * down then up one floor window plus lookback later, so one sits in the
 * old window while the other lifts the floor. */
static size_t movement_schedule(struct excursion *e, size_t max, int64_t duration_us, uint64_t seed) {
        static const struct {
                int start_s, length_s;
                double height_mmhg;
                bool cosine;
        } worst[][4] = {
                { { 0, 30, 15, false }, { 31, 30, 28, false }, { 62, 30, 40, false } },
                { { 0, 30, -15, false }, { 31, 30, -28, false }, { 62, 30, -40, false } },
                { { 0, 30, -40, false }, { 31, 30, -40, false }, { 62, 30, -40, false } },
                { { 0, 30, -40, false }, { 80, 30, 40, false }, { 121, 30, 40, false } },
                { { 0, 30, 40, true }, { 30, 30, 40, true }, { 60, 30, 40, true } },
        };
        struct rng r = { .state = seed };
        size_t n = 0;
        int64_t t_us = 0;
        unsigned hour = 0;

        while (n + 4 < max) {
                int64_t worst_us = (int64_t) hour * US_PER_HOUR + 30 * US_PER_MIN;
                t_us += (int64_t) (-log(rng_uniform(&r)) * 120.0 * US_PER_SEC);
                if (t_us >= duration_us)
                        break;
                if (t_us >= worst_us - 30 * US_PER_SEC) {
                        size_t k = hour % ELEMENTSOF(worst);
                        for (size_t i = 0; i < ELEMENTSOF(worst[k]) && worst[k][i].length_s > 0; i++)
                                e[n++] = (struct excursion) {
                                        .start_us = worst_us + worst[k][i].start_s * US_PER_SEC,
                                        .length_us = worst[k][i].length_s * US_PER_SEC,
                                        .height_mmhg = worst[k][i].height_mmhg,
                                        .cosine = worst[k][i].cosine,
                                };
                        t_us = e[n - 1].start_us + e[n - 1].length_us;
                        hour++;
                        continue;
                }
                double height_mmhg = 40.0 * (2.0 * rng_uniform(&r) - 1.0);
                int64_t length_us = 2 * US_PER_SEC + (int64_t) (rng_uniform(&r) * 28.0 * US_PER_SEC);
                e[n++] = (struct excursion) {
                        .start_us = t_us,
                        .length_us = length_us,
                        .height_mmhg = height_mmhg,
                        .cosine = rng_uniform(&r) < 0.5,
                };
                t_us += length_us;
        }
        return n;
}

static void day_of_open_line_with_movement_raises_nothing(void **state) {
        static struct excursion excursions[EXCURSIONS_MAX];
        static struct occlusion_detector d;
        static const double rates_ml_per_h[] = { 1, 100 };
        struct occlusion_params p;

        params_for(&p, 1034);
        for (size_t i = 0; i < ELEMENTSOF(rates_ml_per_h); i++) {
                struct line l;

                line_init(&l, rates_ml_per_h[i], 1000 + i);
                l.excursions = excursions;
                l.n_excursions = movement_schedule(excursions, EXCURSIONS_MAX, 24 * US_PER_HOUR, 77 + i);
                occlusion_init(&d, &p);
                occlusion_reset(&d, 0);

                enum occlusion_verdict v = OCCLUSION_NONE;
                int64_t t_us = line_run(&l, &d, 24 * US_PER_HOUR, &v);
                print_message("24 h open at %3.0f mL/h, %zu excursions up to +-40 mmHg: %s\n", rates_ml_per_h[i],
                              l.n_excursions, t_us < 0 ? "nothing raised" : occlusion_verdict_to_string(v));
                assert_int_equal(t_us, -1);
        }
}

/* ---- parameters ------------------------------------------------------- */

static void assert_refused(const struct occlusion_params *p, const char *field) {
        const char *why = NULL;

        assert_int_equal(occlusion_params_check(p, &why), -EINVAL);
        assert_non_null(why);
        assert_non_null(strstr(why, field));
}

static void params_check_refuses_bad_values_with_a_reason(void **state) {
        struct occlusion_params p, bad;

        params_for(&p, 300);

        bad = p, bad.limit_mmhg = 0;
        assert_refused(&bad, "limit_mmhg");
        bad = p, bad.limit_mmhg = NAN;
        assert_refused(&bad, "limit_mmhg");
        bad = p, bad.compliance_nl_per_mmhg = -1;
        assert_refused(&bad, "compliance_nl_per_mmhg");
        bad = p, bad.settle_us = -1;
        assert_refused(&bad, "settle_us");
        bad = p, bad.settle_us = INT64_MAX;
        assert_refused(&bad, "settle_us");
        bad = p, bad.floor_window_us = 0;
        assert_refused(&bad, "floor_window_us");
        bad = p, bad.floor_window_us = 1500 * US_PER_MS;
        assert_refused(&bad, "floor_window_us");
        bad = p, bad.floor_window_us = INT64_MAX / US_PER_SEC * US_PER_SEC;
        assert_refused(&bad, "history");
        bad = p, bad.lookback_us = 0;
        assert_refused(&bad, "lookback_us");
        bad = p, bad.lookback_us = (OCCLUSION_HISTORY_MAX - 39) * US_PER_SEC;
        assert_refused(&bad, "history");
        bad = p, bad.min_rise_mmhg = 0;
        assert_refused(&bad, "min_rise_mmhg");
        bad = p, bad.rise_fraction = 0;
        assert_refused(&bad, "rise_fraction");
        bad = p, bad.rise_fraction = 1.5;
        assert_refused(&bad, "rise_fraction");
        bad = p, bad.persistence_us = -1;
        assert_refused(&bad, "persistence_us");
        bad = p, bad.movement_mmhg = -1;
        assert_refused(&bad, "movement_mmhg");

        /* The longest lookback that fits is fine. */
        bad = p, bad.lookback_us = (OCCLUSION_HISTORY_MAX - 40) * US_PER_SEC;
        assert_int_equal(occlusion_params_check(&bad, NULL), 0);
        /* Without the trend only the limit matters. */
        bad = p, bad.trend = false, bad.rise_fraction = 0;
        assert_int_equal(occlusion_params_check(&bad, NULL), 0);
}

static void verdicts_have_names(void **state) {
        assert_string_equal(occlusion_verdict_to_string(OCCLUSION_NONE), "none");
        assert_string_equal(occlusion_verdict_to_string(OCCLUSION_THRESHOLD), "threshold");
        assert_string_equal(occlusion_verdict_to_string(OCCLUSION_TREND), "trend");
        assert_string_equal(occlusion_verdict_to_string((enum occlusion_verdict) 42), "invalid");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(threshold_fires_at_the_limit_not_before),
                cmocka_unit_test(threshold_needs_no_settling_nor_a_reset),
                cmocka_unit_test(trend_catches_1_ml_per_h_within_3_minutes_where_the_threshold_takes_25),
                cmocka_unit_test(trend_catches_0_1_ml_per_h_within_15_minutes),
                cmocka_unit_test(trend_at_25_ml_per_h_is_no_slower_than_the_threshold),
                cmocka_unit_test(rate_step_from_1_to_1000_ml_per_h_after_a_reset_is_not_an_occlusion),
                cmocka_unit_test(settle_time_after_a_reset_is_not_used),
                cmocka_unit_test(reset_starts_the_trend_over),
                cmocka_unit_test(lasting_step_in_back_pressure_is_not_an_occlusion),
                cmocka_unit_test(window_with_too_few_seconds_is_not_judged),
                cmocka_unit_test(slow_rise_far_below_the_occluded_slope_is_not_a_trend_at_high_rates),
                cmocka_unit_test(day_of_open_line_with_movement_raises_nothing),
                cmocka_unit_test(params_check_refuses_bad_values_with_a_reason),
                cmocka_unit_test(verdicts_have_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
