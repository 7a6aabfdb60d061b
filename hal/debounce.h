/* SPDX-License-Identifier: MIT */
#pragma once

/* Software debounce of one digital input, pure logic on µs. A contact
 * bounces for a few ms after it moves: each raw edge restarts a settle
 * timer, and the level is reported once it has held for settle_us. A
 * level that bounces back to the reported one before settling is no
 * change at all. */

#include <stdbool.h>
#include <stdint.h>

struct debounce {
        int64_t settle_us;
        bool stable;                    /* the level last reported */
        bool raw;                       /* the level last seen */
        int64_t deadline_us;            /* INT64_MAX: settled */
};

void debounce_init(struct debounce *d, int64_t settle_us, bool level);

/* A raw edge (or a sample) at now_us with the line's level. Returns the
 * deadline at which debounce_poll() must be called, INT64_MAX if none. */
int64_t debounce_edge(struct debounce *d, int64_t now_us, bool level);

/* At or after the deadline: true with *ret_level when the stable level
 * changed. *ret_deadline_us is the next deadline (INT64_MAX if none). */
bool debounce_poll(struct debounce *d, int64_t now_us, bool *ret_level, int64_t *ret_deadline_us);
