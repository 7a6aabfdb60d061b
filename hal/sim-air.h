/* SPDX-License-Identifier: MIT */
#pragma once

/* Air in the sim's line: bubbles passing the air detector, placed along
 * the plunger's forward travel. A bubble occupies [start, end) of the
 * cumulative forward travel in pL, so it passes the detector exactly while
 * the plunger pushes its volume, however fast or slowly that happens.
 * Pure state: no lock, no clock. */

#include <stdbool.h>
#include <stdint.h>

#include "common/units.h"

#define SIM_AIR_MAX_BUBBLE_NL (10 * NL_PER_ML)
#define SIM_AIR_MAX_BUBBLES 16

struct sim_air_bubble {
        int64_t start_pl;
        int64_t end_pl;
};

struct sim_air {
        int64_t forward_pl;             /* forward travel so far; reverse is not counted */
        unsigned n_bubbles;             /* queued or passing, oldest first */
        struct sim_air_bubble bubbles[SIM_AIR_MAX_BUBBLES];
};

void sim_air_init(struct sim_air *ret);

/* A bubble of volume_nl reaches the detector now, or, behind bubbles still
 * queued or passing, after the last of them plus a gap of fluid of its
 * own volume. -EINVAL unless 0 < volume_nl <= SIM_AIR_MAX_BUBBLE_NL;
 * -ENOBUFS when SIM_AIR_MAX_BUBBLES are already queued. */
int sim_air_inject(struct sim_air *a, int64_t volume_nl);

/* The plunger moved forward by travel_pl (>= 0): bubbles that have
 * passed the detector leave the queue. */
void sim_air_push(struct sim_air *a, int64_t travel_pl);

/* Is a bubble at the detector now? */
bool sim_air_present(const struct sim_air *a);
