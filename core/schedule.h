/* SPDX-License-Identifier: MIT */
#pragma once

/* An even step schedule: step k (k = 1, 2, ...) falls at
 *   anchor + floor(k * num / den) microseconds,
 * kept exactly with an integer quotient and remainder (Bresenham), so steps
 * never bunch and never drift, however long the infusion or slow the rate.
 * At any time t the steps due are floor((t - anchor) * den / num): the
 * delivered volume is always within one step below the ideal. */

#include <stdbool.h>
#include <stdint.h>

struct step_schedule {
        int64_t anchor_us;
        int64_t q_us;           /* num / den */
        int64_t rem;            /* num % den */
        int64_t den;
        int64_t acc;            /* running remainder, 0 <= acc < den */
        int64_t index;          /* steps taken since the anchor */
        int64_t next_us;        /* time of step index + 1 */
};

/* Start a schedule at anchor_us with interval num_us/den (both > 0). */
void schedule_start(struct step_schedule *s, int64_t anchor_us, int64_t num_us, int64_t den);

/* Move past the step that was due at s->next_us. */
void schedule_advance(struct step_schedule *s);
