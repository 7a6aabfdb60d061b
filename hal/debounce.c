/* SPDX-License-Identifier: MIT */
#include "hal/debounce.h"

void debounce_init(struct debounce *d, int64_t settle_us, bool level) {
        *d = (struct debounce) {
                .settle_us = settle_us > 0 ? settle_us : 0,
                .stable = level,
                .raw = level,
                .deadline_us = INT64_MAX,
        };
}

int64_t debounce_edge(struct debounce *d, int64_t now_us, bool level) {
        d->raw = level;

        /* Back at the reported level: whatever happened in between was
         * bounce, and there is nothing left to settle. */
        if (level == d->stable)
                d->deadline_us = INT64_MAX;
        else
                /* Saturate rather than wrap, so a silly settle time still
                 * gives a deadline in the future. */
                d->deadline_us = now_us > INT64_MAX - 1 - d->settle_us ? INT64_MAX - 1 : now_us + d->settle_us;

        return d->deadline_us;
}

bool debounce_poll(struct debounce *d, int64_t now_us, bool *ret_level, int64_t *ret_deadline_us) {
        bool changed = false;

        if (d->deadline_us != INT64_MAX && now_us >= d->deadline_us) {
                /* debounce_edge() only leaves a deadline while raw differs
                 * from stable, so this is always a change. */
                d->stable = d->raw;
                d->deadline_us = INT64_MAX;
                changed = true;
                if (ret_level)
                        *ret_level = d->stable;
        }

        if (ret_deadline_us)
                *ret_deadline_us = d->deadline_us;
        return changed;
}
