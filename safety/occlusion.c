/* SPDX-License-Identifier: MIT */
#include "safety/occlusion.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>

#include "common/macros.h"
#include "common/units.h"

/* Samples are averaged per second: at 10 Hz that divides the sensor's
 * noise by about 3 before any min or max is taken over a window (a min of
 * raw samples would sit about 1.5 sigma low, and the max as high, eating
 * into a 10 mmHg rise), and keeps the history short. */
#define BUCKET_US US_PER_SEC

/* Keeps reset time + settle time far inside int64; no line takes an hour. */
#define SETTLE_MAX_US US_PER_HOUR

void occlusion_params_default(struct occlusion_params *ret, double limit_mmhg, double compliance_nl_per_mmhg) {
        *ret = (struct occlusion_params) {
                .limit_mmhg = limit_mmhg,
                .trend = true,
                .compliance_nl_per_mmhg = compliance_nl_per_mmhg,
                /* Ten R*C time constants of the sim's line (1.5 s): after a
                 * rate step the pressure is then within 0.01 % of its new
                 * level. Slower settling mostly hides in the old window's
                 * max, which any rise is measured from. */
                .settle_us = 15 * US_PER_SEC,
                /* Movement lifts the floor only while it covers the whole
                 * window: 20 s leaves at most 10 s of a 30 s excursion, and
                 * the same for dropping the ceiling. Longer costs its own
                 * length in detection time at every rate. */
                .floor_window_us = 20 * US_PER_SEC,
                /* At 1 mL/h an occluded line rises 0.198 mmHg/s, 11.9 mmHg
                 * over 60 s. The lookback stretches at lower rates anyway
                 * (to 101 s at 1 mL/h); this is its least, which at high
                 * rates sets the detection time: floor window plus
                 * rise_fraction of it, 50 s, under the threshold's 57 s at
                 * 25 mL/h. */
                .lookback_us = 60 * US_PER_SEC,
                /* 20 sigma of one sample's noise, and far more of a floor
                 * of per-second means: noise never makes it. An occlusion
                 * at 1 mL/h rises this much in 51 s. */
                .min_rise_mmhg = 10.0,
                /* Half the rise a line of the estimated compliance shows:
                 * a real line up to twice as compliant is still caught,
                 * and the rise crosses the bar halfway through a lookback
                 * at high rates. */
                .rise_fraction = 0.5,
                /* Movement holds a rise for at most 10 s per excursion
                 * (see floor_window_us); a false rise held 80 s needs the
                 * pressure pushed up (or down) for 100 s without a break:
                 * four excursions of the same sign back to back, with
                 * still gaps under about 2 s (each such gap is one in 60
                 * at the sim's 120 s mean), and for the floor to climb
                 * meanwhile. Over 1400 simulated days of the sim's
                 * movement at 0.1 to 1 mL/h the longest hold was 61 s
                 * (three back to back). Costs 80 s at rates under about
                 * 13.5 mL/h, where the needed rise is within movement's
                 * reach (2 x 40 mmHg). */
                .persistence_us = 80 * US_PER_SEC,
                /* The sim's default amplitude; patient movement (a cough,
                 * an arm bent over the cannula) in the field is of that
                 * order. */
                .movement_mmhg = 40.0,
        };
}

static bool whole_seconds(int64_t t_us) {
        return t_us % US_PER_SEC == 0;
}

int occlusion_params_check(const struct occlusion_params *p, const char **ret_why) {
        const char *why = NULL;

        /* Written as !(x > 0) so NaN is refused too. */
        if (!(p->limit_mmhg > 0) || !isfinite(p->limit_mmhg))
                why = "limit_mmhg must be a finite pressure above 0";
        else if (!p->trend)
                return 0;
        else if (!(p->compliance_nl_per_mmhg > 0) || !isfinite(p->compliance_nl_per_mmhg))
                why = "compliance_nl_per_mmhg must be finite and above 0";
        else if (p->settle_us < 0 || p->settle_us > SETTLE_MAX_US)
                why = "settle_us must be between 0 and an hour";
        else if (p->floor_window_us < US_PER_SEC || !whole_seconds(p->floor_window_us))
                why = "floor_window_us must be a whole number of seconds, at least 1";
        else if (p->lookback_us < US_PER_SEC || !whole_seconds(p->lookback_us))
                why = "lookback_us must be a whole number of seconds, at least 1";
        else if (p->floor_window_us > OCCLUSION_HISTORY_MAX * US_PER_SEC ||
                 p->lookback_us > OCCLUSION_HISTORY_MAX * US_PER_SEC ||
                 2 * p->floor_window_us + p->lookback_us > OCCLUSION_HISTORY_MAX * US_PER_SEC)
                why = "two floor windows and the lookback must fit the history (OCCLUSION_HISTORY_MAX s)";
        else if (!(p->min_rise_mmhg > 0) || !isfinite(p->min_rise_mmhg))
                why = "min_rise_mmhg must be finite and above 0";
        else if (!(p->rise_fraction > 0) || p->rise_fraction > 1)
                why = "rise_fraction must be above 0 and at most 1";
        else if (p->persistence_us < 0)
                why = "persistence_us must not be negative";
        else if (!(p->movement_mmhg >= 0) || !isfinite(p->movement_mmhg))
                why = "movement_mmhg must be finite and not negative";

        if (why) {
                if (ret_why)
                        *ret_why = why;
                return -EINVAL;
        }
        return 0;
}

static const char *const verdict_names[] = {
        [OCCLUSION_NONE] = "none",
        [OCCLUSION_THRESHOLD] = "threshold",
        [OCCLUSION_TREND] = "trend",
};

const char *occlusion_verdict_to_string(enum occlusion_verdict v) {
        return (size_t) v < ELEMENTSOF(verdict_names) ? verdict_names[v] : "invalid";
}

void occlusion_init(struct occlusion_detector *d, const struct occlusion_params *p) {
        /* p may point into *d (re-initialising with its own params). */
        struct occlusion_params params = *p;

        *d = (struct occlusion_detector) {
                .params = params,
                .rising_since_us = -1,
        };
}

void occlusion_reset(struct occlusion_detector *d, int64_t now_us) {
        d->have_reset = true;
        d->bucket_start_us = now_us + d->params.settle_us;
        d->bucket_sum_mmhg = 0;
        d->bucket_samples = 0;
        d->history_head = d->history_len = 0;
        d->rising_since_us = -1;
        d->trend_holds = false;
        d->last_rise_mmhg = d->last_needed_mmhg = 0;
}

static void history_push(struct occlusion_detector *d, int64_t start_us, double mean_mmhg) {
        unsigned i;

        if (d->history_len < OCCLUSION_HISTORY_MAX)
                i = (d->history_head + d->history_len++) % OCCLUSION_HISTORY_MAX;
        else {
                i = d->history_head;
                d->history_head = (d->history_head + 1) % OCCLUSION_HISTORY_MAX;
        }
        d->history[i].start_us = start_us;
        d->history[i].mean_mmhg = mean_mmhg;
}

/* The i-th newest second, 0 the newest. */
static unsigned history_index(const struct occlusion_detector *d, unsigned i) {
        return (d->history_head + d->history_len - 1 - i) % OCCLUSION_HISTORY_MAX;
}

/* The lowest (or highest) per-second mean that started in [from_us,
 * to_us). False if the window is at most half full: seconds without a
 * sample (a stalled loop) leave holes, and a window that thin says too
 * little. */
static bool window_extreme(const struct occlusion_detector *d, int64_t from_us, int64_t to_us, bool highest,
                           double *ret_mmhg) {
        double extreme_mmhg = highest ? -INFINITY : INFINITY;
        int64_t n = 0;

        for (unsigned i = 0; i < d->history_len; i++) {
                unsigned k = history_index(d, i);
                int64_t t_us = d->history[k].start_us;
                double v = d->history[k].mean_mmhg;

                if (t_us < from_us)
                        break;
                if (t_us >= to_us)
                        continue;
                extreme_mmhg = highest ? MAX(extreme_mmhg, v) : MIN(extreme_mmhg, v);
                n++;
        }

        if (2 * n <= (to_us - from_us) / BUCKET_US)
                return false;
        *ret_mmhg = extreme_mmhg;
        return true;
}

/* Judge the history up to end_us, the end of the second just closed. */
static void evaluate(struct occlusion_detector *d, int64_t end_us) {
        const struct occlusion_params *p = &d->params;
        int64_t window_us = p->floor_window_us;

        d->trend_holds = false;
        if (d->history_len == 0) {
                d->rising_since_us = -1;
                return;
        }

        /* mmHg per µs the line would rise at if occluded. */
        double slope_mmhg_per_us = (double) MAX(d->rate_nl_per_h, 0) / (double) US_PER_HOUR /
                p->compliance_nl_per_mmhg;

        /* Stretch the lookback at low rates until min_rise is no more than
         * rise_fraction of the expected rise, so that an occlusion clears
         * the bar with a margin of 1 / rise_fraction instead of missing it;
         * but not past what the history holds, nor past what it holds so
         * far after a reset. */
        int64_t capacity_us = OCCLUSION_HISTORY_MAX * BUCKET_US - 2 * window_us;
        int64_t available_us = end_us - 2 * window_us - d->history[d->history_head].start_us;
        int64_t lookback_us = capacity_us;
        double stretched_us = p->min_rise_mmhg / (p->rise_fraction * slope_mmhg_per_us);
        if (stretched_us < (double) capacity_us)
                lookback_us = MAX(p->lookback_us, (int64_t) ceil(stretched_us / BUCKET_US) * BUCKET_US);
        lookback_us = MIN(lookback_us, available_us);
        if (lookback_us < p->lookback_us) {
                d->rising_since_us = -1;        /* not armed yet */
                return;
        }

        /* The floor: the recent window [end - W, end). The ceiling: the
         * old window [end - 2W - L, end - W - L). */
        int64_t recent_from_us = end_us - window_us;
        int64_t old_to_us = recent_from_us - lookback_us;
        double floor_mmhg, ceiling_mmhg;
        if (!window_extreme(d, recent_from_us, end_us, false, &floor_mmhg) ||
            !window_extreme(d, old_to_us - window_us, old_to_us, true, &ceiling_mmhg)) {
                d->rising_since_us = -1;
                return;
        }

        double rise_mmhg = floor_mmhg - ceiling_mmhg;
        double needed_mmhg = MAX(p->min_rise_mmhg, p->rise_fraction * slope_mmhg_per_us * (double) lookback_us);
        d->last_rise_mmhg = rise_mmhg;
        d->last_needed_mmhg = needed_mmhg;
        if (!(rise_mmhg >= needed_mmhg)) {
                d->rising_since_us = -1;
                return;
        }
        if (d->rising_since_us < 0)
                d->rising_since_us = end_us;

        /* Movement moves the floor up by movement_mmhg at most and the
         * ceiling down by as much: a bigger rise is not movement, and the
         * floor is already the lowest of a whole window. */
        if (needed_mmhg > 2 * p->movement_mmhg) {
                d->trend_holds = true;
                return;
        }

        /* Kept climbing: over the last quarter lookback the floor must have
         * risen by a quarter of the needed rise (2.5 mmHg or more, far
         * above the floor's noise), so a lasting step of the back-pressure
         * (the bed raised), which holds a rise for a whole lookback, is
         * not an occlusion. The earlier floor must lie after such a step
         * has settled: the rise began no sooner than one window after the
         * step, so it must have held a quarter lookback plus the settling
         * time. */
        int64_t quarter_us = lookback_us / 4 / BUCKET_US * BUCKET_US;
        int64_t held_us = end_us - d->rising_since_us;
        double earlier_floor_mmhg;
        if (held_us < p->persistence_us || held_us < quarter_us + p->settle_us)
                return;
        if (!window_extreme(d, recent_from_us - quarter_us, end_us - quarter_us, false, &earlier_floor_mmhg))
                return;
        d->trend_holds = floor_mmhg - earlier_floor_mmhg >= needed_mmhg / 4;
}

static void trend_sample(struct occlusion_detector *d, int64_t now_us, double pressure_mmhg) {
        /* Settling, or a clock that went back: not used. */
        if (now_us < d->bucket_start_us || !isfinite(pressure_mmhg))
                return;

        if (now_us >= d->bucket_start_us + BUCKET_US) {
                if (d->bucket_samples > 0)
                        history_push(d, d->bucket_start_us, d->bucket_sum_mmhg / d->bucket_samples);
                evaluate(d, d->bucket_start_us + BUCKET_US);

                /* Whole seconds on from the reset, so the buckets stay
                 * aligned across a gap. */
                d->bucket_start_us += (now_us - d->bucket_start_us) / BUCKET_US * BUCKET_US;
                d->bucket_sum_mmhg = 0;
                d->bucket_samples = 0;
        }

        d->bucket_sum_mmhg += pressure_mmhg;
        d->bucket_samples++;
}

enum occlusion_verdict occlusion_sample(struct occlusion_detector *d, int64_t now_us, double pressure_mmhg,
                                        int64_t rate_nl_per_h) {
        if (!d->have_reset)
                occlusion_reset(d, now_us);

        if (d->params.trend) {
                d->rate_nl_per_h = rate_nl_per_h;
                trend_sample(d, now_us, pressure_mmhg);
        }

        if (pressure_mmhg >= d->params.limit_mmhg)
                return OCCLUSION_THRESHOLD;
        if (d->params.trend && d->trend_holds)
                return OCCLUSION_TREND;
        return OCCLUSION_NONE;
}
