/* SPDX-License-Identifier: MIT */
#pragma once

/* Deterministic noise for the detector tests. */

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* Fixed-seed LCG (Knuth's MMIX constants) and Box-Muller: the same
 * noise on every run, so every figure printed here is reproducible. */
struct rng {
        uint64_t state;
        bool have_spare;
        double spare;
};

static inline double rng_uniform(struct rng *r) {
        r->state = r->state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        /* Top 53 bits, offset by half a unit: never 0, so log() is safe. */
        return ((double) (r->state >> 11) + 0.5) / 9007199254740992.0;
}

static inline double rng_gauss(struct rng *r) {
        if (r->have_spare) {
                r->have_spare = false;
                return r->spare;
        }
        double u1 = rng_uniform(r), u2 = rng_uniform(r);
        double radius = sqrt(-2.0 * log(u1));
        r->spare = radius * sin(2.0 * M_PI * u2);
        r->have_spare = true;
        return radius * cos(2.0 * M_PI * u2);
}
