/* SPDX-License-Identifier: MIT */
#pragma once

/* The pumping mechanism as the delivery engine sees it: how much one motor
 * (micro)step delivers, and how fast the motor may step. Computed once from
 * the geometry in the config; everything after works in integers. */

#include <stdint.h>

struct mechanism_geometry {
        int64_t lead_pitch_um;          /* plunger travel per screw revolution */
        int64_t steps_per_rev;          /* full steps per motor revolution */
        int64_t microsteps;             /* microsteps per full step */
        int64_t syringe_inner_diameter_um;
        int64_t max_step_rate_hz;       /* fastest the driver/motor can step */
};

struct mechanism {
        int64_t pl_per_step;            /* picolitres per microstep */
        int64_t min_step_interval_us;   /* from max_step_rate_hz, rounded up */
        int64_t max_rate_nl_per_h;      /* what the motor can do at min interval */
        int64_t steps_per_mm;           /* plunger microsteps per mm of travel */
};

/* Fill *ret from the geometry. Returns -EINVAL when any figure is <= 0 or
 * the step volume rounds to less than 1 pL. */
int mechanism_from_geometry(const struct mechanism_geometry *g, struct mechanism *ret);

/* Volume of n steps, in nL, rounded down (never reports more than moved). */
int64_t mechanism_steps_to_nl(const struct mechanism *m, int64_t steps);

/* Whole steps that fit in volume_nl without exceeding it. */
int64_t mechanism_nl_to_steps_floor(const struct mechanism *m, int64_t volume_nl);

/* Interval between steps at rate_nl_per_h, as the exact fraction num/den
 * microseconds (den = the rate). rate must be > 0. */
void mechanism_step_interval(const struct mechanism *m, int64_t rate_nl_per_h,
                             int64_t *ret_num_us, int64_t *ret_den);
