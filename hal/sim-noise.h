/* SPDX-License-Identifier: MIT */
#pragma once

/* Seeded, deterministic noise for the sim: xoshiro256** seeded through
 * splitmix64, and Gaussian samples by the Box-Muller transform. The same
 * seed gives the same sequence on every machine and every run, so a
 * simulated scenario replays exactly. Not for anything cryptographic. */

#include <stdbool.h>
#include <stdint.h>

struct sim_noise {
        uint64_t state[4];
        bool have_spare;                /* Box-Muller makes two samples at a time */
        double spare;
};

/* Any seed is fine, 0 included: splitmix64 spreads it over the state. */
void sim_noise_init(struct sim_noise *n, uint64_t seed);

/* Next 64 random bits. */
uint64_t sim_noise_next_u64(struct sim_noise *n);

/* Uniform in [0, 1), 53 bits of resolution. */
double sim_noise_uniform(struct sim_noise *n);

/* Normal with mean 0 and standard deviation sd (sd >= 0). Always draws,
 * also for sd == 0, so the sequence does not depend on sd. */
double sim_noise_gaussian(struct sim_noise *n, double sd);
