/* SPDX-License-Identifier: MIT */
#include "core/schedule.h"

#include <assert.h>

void schedule_start(struct step_schedule *s, int64_t anchor_us, int64_t num_us, int64_t den) {
        assert(num_us > 0 && den > 0);
        *s = (struct step_schedule) {
                .anchor_us = anchor_us,
                .q_us = num_us / den,
                .rem = num_us % den,
                .den = den,
        };
        /* Step 1 falls one full interval after the anchor, so the volume
         * delivered at any moment never runs ahead of the ideal line. */
        s->next_us = anchor_us + s->q_us;
        s->acc = s->rem;
        if (s->acc >= s->den) {
                s->acc -= s->den;
                s->next_us++;
        }
}

void schedule_advance(struct step_schedule *s) {
        s->index++;
        s->next_us += s->q_us;
        s->acc += s->rem;
        if (s->acc >= s->den) {
                s->acc -= s->den;
                s->next_us++;
        }
}
