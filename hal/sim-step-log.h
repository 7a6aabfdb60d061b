/* SPDX-License-Identifier: MIT */
#pragma once

/* The sim drive's record of when each step happened, for bench/steps:
 * the benchmark measures the step thread's lateness from these times
 * against the ideal schedule it computes itself, so the figure does not
 * rest on the executor's own account of its timing.
 *
 * The buffer is allocated and touched up front: adding a time on the
 * step path is a store, never an allocation or a page fault. When it is
 * full, later steps are counted but not kept. */

#include <stddef.h>
#include <stdint.h>

struct sim_step_log {
        int64_t *times_us;
        size_t capacity;
        size_t count;
        int64_t dropped;
};

/* -ENOMEM, or -EINVAL for a zero capacity. */
int sim_step_log_init(struct sim_step_log *l, size_t capacity);
void sim_step_log_done(struct sim_step_log *l);

static inline void sim_step_log_add(struct sim_step_log *l, int64_t time_us) {
        if (l->count < l->capacity)
                l->times_us[l->count++] = time_us;
        else
                l->dropped++;
}

/* Write "# infusiond step log: N steps, D not kept", then one time (µs)
 * per line, to path (replaced atomically). Negative errno. */
int sim_step_log_write(const struct sim_step_log *l, const char *path);
