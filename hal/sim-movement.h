/* SPDX-License-Identifier: MIT */
#pragma once

/* Patient movement for the sim: the patient's back-pressure leaves its
 * rest value for a while (a cough, an arm bent over the cannula) and comes
 * back. A schedule in model time that alternates two states:
 *
 *   still:  for an exponentially distributed time with the mean interval,
 *           so movements arrive as a Poisson process while the patient is
 *           still;
 *   moved:  by a height uniform in [-A, +A], for a length uniform in
 *           [2 s, 30 s], as a step (the line's own R*C smooths it).
 *
 * It has its own generator, seeded from the sim's seed, so how often the
 * sensors are read does not change when the patient moves. Pure state: no
 * clock, no lock; the sim fires each change when model time reaches it,
 * so the schedule does not depend on how often the model is updated. */

#include <stdbool.h>
#include <stdint.h>

#include "hal/sim-noise.h"

#define SIM_MOVEMENT_MIN_LENGTH_US INT64_C(2000000)
#define SIM_MOVEMENT_MAX_LENGTH_US INT64_C(30000000)
/* Keeps every drawn interval well inside int64 µs. */
#define SIM_MOVEMENT_MAX_MEAN_INTERVAL_S 1e9

struct sim_movement {
        struct sim_noise noise;
        double amplitude_mmhg;          /* A; 0: the patient never moves */
        double mean_interval_us;
        bool moving;
        int64_t next_us;                /* the next change; INT64_MAX: none */
        double offset_mmhg;             /* added to the rest back-pressure now */
};

/* -EINVAL unless 0 <= amplitude (finite) and, for an amplitude > 0,
 * 0 < mean interval <= SIM_MOVEMENT_MAX_MEAN_INTERVAL_S. Nothing is
 * scheduled until sim_movement_start(). */
int sim_movement_init(struct sim_movement *ret, double amplitude_mmhg, double mean_interval_s, uint64_t seed);

/* The patient is still at now_us: schedule the first movement (none for
 * amplitude 0). */
void sim_movement_start(struct sim_movement *m, int64_t now_us);

/* Model time has reached m->next_us: start or end a movement there and
 * schedule the next change. */
void sim_movement_fire(struct sim_movement *m);
