/* SPDX-License-Identifier: MIT */
#include "hal/sim-air.h"

#include <errno.h>
#include <string.h>

void sim_air_init(struct sim_air *ret) {
        *ret = (struct sim_air) {};
}

int sim_air_inject(struct sim_air *a, int64_t volume_nl) {
        if (volume_nl <= 0 || volume_nl > SIM_AIR_MAX_BUBBLE_NL)
                return -EINVAL;
        if (a->n_bubbles >= SIM_AIR_MAX_BUBBLES)
                return -ENOBUFS;

        int64_t volume_pl = volume_nl * PL_PER_NL;
        int64_t start_pl = a->forward_pl;
        /* Passed bubbles are dropped as the plunger moves, so the last one
         * queued, if any, still ends ahead of the detector. */
        if (a->n_bubbles > 0)
                start_pl = a->bubbles[a->n_bubbles - 1].end_pl + volume_pl;

        a->bubbles[a->n_bubbles++] = (struct sim_air_bubble) {
                .start_pl = start_pl,
                .end_pl = start_pl + volume_pl,
        };
        return 0;
}

void sim_air_push(struct sim_air *a, int64_t travel_pl) {
        unsigned passed = 0;

        if (travel_pl <= 0)
                return;
        a->forward_pl += travel_pl;

        while (passed < a->n_bubbles && a->bubbles[passed].end_pl <= a->forward_pl)
                passed++;
        if (passed == 0)
                return;
        memmove(a->bubbles, a->bubbles + passed, (a->n_bubbles - passed) * sizeof(a->bubbles[0]));
        a->n_bubbles -= passed;
}

bool sim_air_present(const struct sim_air *a) {
        /* Bubbles never overlap and the passed ones are gone: only the
         * oldest can be at the detector. */
        return a->n_bubbles > 0 && a->bubbles[0].start_pl <= a->forward_pl;
}
