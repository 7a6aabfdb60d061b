/* SPDX-License-Identifier: MIT */
#pragma once

/* Downstream occlusion detection from the line pressure, sampled every
 * control tick while the pump delivers. Two detectors in one:
 *
 * - threshold: the pressure reaches the limit (mmHg) chosen for the care
 *   area, from the first sample on. Time to alarm grows as compliance x
 *   pressure / rate, so at low rates it takes very long (CLINICAL.md).
 * - trend: an occluded line's pressure keeps rising at about rate /
 *   compliance, while patient movement only moves it up or down for a
 *   while (up to about 30 s) and back. Samples are averaged per second.
 *   The floor is the lowest second of the recent floor window; the
 *   ceiling is the highest second of an equally long window one lookback
 *   before it. Movement lifts the floor only while it covers the whole
 *   recent window and drops the ceiling only while it covers the whole
 *   old one, so it holds a rise (floor - ceiling) for at most 10 s per
 *   excursion. An occlusion is a rise of at least max(min_rise,
 *   rise_fraction x what an occluded line rises over the lookback) that
 *   has held for the persistence time (and for a quarter lookback plus
 *   the settling time), while the floor kept climbing: by a quarter of
 *   that over the last quarter lookback, so a lasting step (the bed
 *   raised, a rate step) is not one. A rise over twice
 *   movement_mmhg cannot be movement and needs neither. At low rates
 *   the lookback stretches until min_rise is at most rise_fraction of
 *   the expected rise (up to the history's 1024 s, enough down to about
 *   0.1 mL/h with the defaults; below that only the threshold works).
 *
 * Detection times with the defaults on the sim's line (C = 1400 nL/mmHg,
 * R = 0.3 mmHg per mL/h, P_b = 8 mmHg, noise 0.5 mmHg, 10 Hz) for an
 * occlusion at least two minutes after a reset (with less history the
 * lookback is shorter and the first verdict later; movement just before
 * the occlusion can add about a minute at low rates):
 *
 *   rate          trend                              threshold 300 mmHg
 *   0.1 mL/h      ~13.5 min (20 + 505 + 246 + 15 s)  ~4.1 h
 *   1 mL/h        ~2.5 min (20 + 51 + 80 s)          ~24 min
 *   10 mL/h       ~2.2 min                           ~2.4 min
 *   >= 13.5 mL/h  ~50 s (20 + 30 s)                  25 mL/h: ~57 s
 *
 * The caller resets the detector whenever the rate changes or delivery
 * starts or resumes: the pressure then settles to a new level, which is
 * not an occlusion; the trend ignores the samples of the settling time
 * and needs two floor windows and a lookback of samples after it before
 * its first verdict. Pure logic: times and samples are passed in. */

#include <stdbool.h>
#include <stdint.h>

struct occlusion_params {
        double limit_mmhg;                      /* threshold, > 0 */
        bool trend;                             /* enable the trend detector */
        double compliance_nl_per_mmhg;          /* estimate of the line's, > 0 */
        int64_t settle_us;                      /* after a reset, before the trend arms */
        int64_t floor_window_us;                /* min (and old max) taken over this, whole s */
        int64_t lookback_us;                    /* rise measured over at least this, whole s */
        double min_rise_mmhg;                   /* never call a smaller rise a trend */
        double rise_fraction;                   /* of rate * lookback / compliance, (0, 1] */
        int64_t persistence_us;                 /* the rise must hold this long */
        double movement_mmhg;                   /* patient movement moves P_b up to +- this; >= 0 */
};

/* Defaults for a line of the given compliance and a threshold limit:
 * settle 15 s, floor window 20 s, lookback 60 s, min rise 10 mmHg, rise
 * fraction 0.5, persistence 80 s, movement 40 mmHg (why in the .c). */
void occlusion_params_default(struct occlusion_params *ret, double limit_mmhg, double compliance_nl_per_mmhg);
/* -EINVAL with a reason in *ret_why if a parameter is out of range. The
 * trend's parameters are checked only if it is enabled. Two floor
 * windows and the lookback must fit OCCLUSION_HISTORY_MAX seconds. */
int occlusion_params_check(const struct occlusion_params *p, const char **ret_why);

enum occlusion_verdict {
        OCCLUSION_NONE,
        OCCLUSION_THRESHOLD,
        OCCLUSION_TREND,
};
const char *occlusion_verdict_to_string(enum occlusion_verdict v);

/* Room for the history of per-second means: two floor windows plus the
 * longest (stretched) lookback. */
#define OCCLUSION_HISTORY_MAX 1024

struct occlusion_detector {
        struct occlusion_params params;
        /* private state below */
        bool have_reset;
        int64_t bucket_start_us;                /* the second being averaged; reset + settle at first */
        double bucket_sum_mmhg;
        unsigned bucket_samples;
        int64_t rate_nl_per_h;                  /* of the last sample */
        struct {
                int64_t start_us;
                double mean_mmhg;
        } history[OCCLUSION_HISTORY_MAX];       /* per-second means, ring, oldest at head */
        unsigned history_head, history_len;
        int64_t rising_since_us;                /* -1: not rising */
        bool trend_holds;                       /* the last evaluation's verdict */
        double last_rise_mmhg;                  /* for messages: floor - ceiling */
        double last_needed_mmhg;                /* and the rise it was held against */
};

void occlusion_init(struct occlusion_detector *d, const struct occlusion_params *p);
/* Forget the history: delivery (re)started or the rate changed at now_us.
 * A sample before any reset resets at its own time. */
void occlusion_reset(struct occlusion_detector *d, int64_t now_us);

/* One pressure sample while delivering at rate_nl_per_h (> 0). Returns
 * the verdict; threshold wins when both hold. Neither latches: the caller
 * raises the alarm. The trend is evaluated once per second, when a sample
 * opens the next second; a sample that is not finite is not used (sensor
 * supervision reports it). */
enum occlusion_verdict occlusion_sample(struct occlusion_detector *d, int64_t now_us, double pressure_mmhg,
                                        int64_t rate_nl_per_h);
