/* SPDX-License-Identifier: MIT */
#include "hal/sim-noise.h"

#include <math.h>

/* Both generators are Vigna's public-domain reference algorithms
 * (prng.di.unimi.it); only the names are ours. */

static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
        return (x << k) | (x >> (64 - k));
}

void sim_noise_init(struct sim_noise *n, uint64_t seed) {
        /* xoshiro must not start from an all-zero state; splitmix64 output
         * for four consecutive draws never is. */
        for (unsigned i = 0; i < 4; i++)
                n->state[i] = splitmix64(&seed);
        n->have_spare = false;
        n->spare = 0.0;
}

uint64_t sim_noise_next_u64(struct sim_noise *n) {
        uint64_t *s = n->state;
        uint64_t result = rotl(s[1] * 5, 7) * 9;
        uint64_t t = s[1] << 17;

        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return result;
}

double sim_noise_uniform(struct sim_noise *n) {
        return (double) (sim_noise_next_u64(n) >> 11) * 0x1.0p-53;
}

double sim_noise_gaussian(struct sim_noise *n, double sd) {
        if (n->have_spare) {
                n->have_spare = false;
                return n->spare * sd;
        }

        /* u1 in (0, 1]: log(0) would be -inf. */
        double u1 = 1.0 - sim_noise_uniform(n);
        double u2 = sim_noise_uniform(n);
        double radius = sqrt(-2.0 * log(u1));
        double angle = 2.0 * M_PI * u2;

        n->spare = radius * sin(angle);
        n->have_spare = true;
        return radius * cos(angle) * sd;
}
