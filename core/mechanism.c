/* SPDX-License-Identifier: MIT */
#include "core/mechanism.h"

#include <errno.h>
#include <math.h>

#include "common/units.h"

int mechanism_from_geometry(const struct mechanism_geometry *g, struct mechanism *ret) {
        if (g->lead_pitch_um <= 0 || g->steps_per_rev <= 0 || g->microsteps <= 0 ||
            g->syringe_inner_diameter_um <= 0 || g->max_step_rate_hz <= 0)
                return -EINVAL;

        /* The one place geometry meets floating point: computed once, and
         * the result is an integer picolitre count. 1 µm³ = 1e-3 pL. */
        double r_um = (double) g->syringe_inner_diameter_um / 2.0;
        double area_um2 = M_PI * r_um * r_um;
        double steps_per_rev = (double) g->steps_per_rev * (double) g->microsteps;
        double pl = area_um2 * (double) g->lead_pitch_um / steps_per_rev * 1e-3;
        if (!(pl >= 1.0) || pl > 1e12)
                return -EINVAL;

        struct mechanism m = {
                .pl_per_step = llround(pl),
                .min_step_interval_us = (US_PER_SEC + g->max_step_rate_hz - 1) / g->max_step_rate_hz,
        };
        /* steps per mm = microsteps per rev / pitch in mm */
        m.steps_per_mm = llround(steps_per_rev * 1000.0 / (double) g->lead_pitch_um);
        /* Fastest rate: one step each min interval. nL/h = pL/1000 * steps/h. */
        m.max_rate_nl_per_h = m.pl_per_step * (US_PER_HOUR / m.min_step_interval_us) / PL_PER_NL;
        *ret = m;
        return 0;
}

int64_t mechanism_steps_to_nl(const struct mechanism *m, int64_t steps) {
        return steps * m->pl_per_step / PL_PER_NL;
}

int64_t mechanism_nl_to_steps_floor(const struct mechanism *m, int64_t volume_nl) {
        if (volume_nl <= 0)
                return 0;
        return volume_nl * PL_PER_NL / m->pl_per_step;
}

void mechanism_step_interval(const struct mechanism *m, int64_t rate_nl_per_h,
                             int64_t *ret_num_us, int64_t *ret_den) {
        /* interval = step volume / rate = (pl / 1000) nL / (rate nL/h)
         *          = pl * 3.6e9 / (1000 * rate) µs = pl * 3.6e6 / rate µs */
        *ret_num_us = m->pl_per_step * (US_PER_HOUR / PL_PER_NL);
        *ret_den = rate_nl_per_h;
}
