/* SPDX-License-Identifier: MIT */
#include "hal/sim-movement.h"

#include <errno.h>
#include <math.h>

/* Mixed into the seed ("movement" in ASCII) so this stream is not the
 * sensor noise's stream: the same seed then gives unrelated sequences. */
#define SIM_MOVEMENT_SEED_SALT UINT64_C(0x6d6f76656d656e74)

int sim_movement_init(struct sim_movement *ret, double amplitude_mmhg, double mean_interval_s, uint64_t seed) {
        /* Written as !(x >= 0) so NaN is refused too. */
        if (!(amplitude_mmhg >= 0) || !isfinite(amplitude_mmhg))
                return -EINVAL;
        if (amplitude_mmhg > 0 &&
            (!(mean_interval_s > 0) || mean_interval_s > SIM_MOVEMENT_MAX_MEAN_INTERVAL_S))
                return -EINVAL;

        *ret = (struct sim_movement) {
                .amplitude_mmhg = amplitude_mmhg,
                .mean_interval_us = mean_interval_s * 1e6,
                .next_us = INT64_MAX,
        };
        sim_noise_init(&ret->noise, seed ^ SIM_MOVEMENT_SEED_SALT);
        return 0;
}

static int64_t add_saturating(int64_t a_us, int64_t b_us) {
        return a_us > INT64_MAX - b_us ? INT64_MAX : a_us + b_us;
}

static void schedule_still(struct sim_movement *m, int64_t now_us) {
        /* Inverse CDF of the exponential; 1 - u is in (0, 1], so the log is
         * finite, at most about 37 times the mean. */
        double u = sim_noise_uniform(&m->noise);
        int64_t still_us = llround(-log(1.0 - u) * m->mean_interval_us);

        m->moving = false;
        m->offset_mmhg = 0.0;
        m->next_us = add_saturating(now_us, still_us);
}

void sim_movement_start(struct sim_movement *m, int64_t now_us) {
        if (m->amplitude_mmhg == 0)
                return;
        schedule_still(m, now_us);
}

void sim_movement_fire(struct sim_movement *m) {
        int64_t now_us = m->next_us;

        if (m->moving) {
                schedule_still(m, now_us);
                return;
        }

        /* Height first, then length: the order is part of what a seed means. */
        double height_mmhg = m->amplitude_mmhg * (2.0 * sim_noise_uniform(&m->noise) - 1.0);
        int64_t length_us = SIM_MOVEMENT_MIN_LENGTH_US +
                (int64_t) (sim_noise_uniform(&m->noise) *
                           (double) (SIM_MOVEMENT_MAX_LENGTH_US - SIM_MOVEMENT_MIN_LENGTH_US));

        m->moving = true;
        m->offset_mmhg = height_mmhg;
        m->next_us = add_saturating(now_us, length_us);
}
