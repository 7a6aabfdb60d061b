/* SPDX-License-Identifier: MIT */
#include "safety/air.h"

#include <errno.h>
#include <stddef.h>

#include "common/macros.h"
#include "common/units.h"

/* GIP 1.9.1: an alarm above 200 µL for a single bubble. */
#define GIP_BUBBLE_MAX_NL INT64_C(200000)

void air_params_default(struct air_params *ret) {
        *ret = (struct air_params) {
                /* Half of GIP's 200 µL, leaving room for the bubble's edges
                 * falling between samples and for the detector's own
                 * resolution; twice the 50 µL under which detectors give
                 * nuisance alarms (CLINICAL.md). */
                .bubble_limit_nl = 100 * 1000,
                /* Five bubbles at the single limit, or a stream of smaller
                 * ones: 2 mL/h averaged over the window, half the 4 mL/h at
                 * which B. Braun alarms on accumulated air. 15 min holds
                 * bubbles that come minutes apart (outgassing, a nearly
                 * empty syringe), yet a few over a long infusion do not add
                 * up to an alarm. */
                .accumulated_limit_nl = 500 * 1000,
                .window_us = 15 * US_PER_MIN,
        };
}

int air_params_check(const struct air_params *p, const char **ret_why) {
        const char *why = NULL;

        if (p->bubble_limit_nl <= 0 || p->bubble_limit_nl > GIP_BUBBLE_MAX_NL)
                why = "bubble_limit_nl must be above 0 and at most 200000 nL (GIP 1.9.1: 200 uL)";
        else if (p->accumulated_limit_nl <= 0)
                why = "accumulated_limit_nl must be above 0";
        else if (p->window_us <= 0)
                why = "window_us must be above 0";

        if (why) {
                if (ret_why)
                        *ret_why = why;
                return -EINVAL;
        }
        return 0;
}

static const char *const verdict_names[] = {
        [AIR_NONE] = "none",
        [AIR_BUBBLE] = "bubble",
        [AIR_ACCUMULATED] = "accumulated",
};

const char *air_verdict_to_string(enum air_verdict v) {
        return (size_t) v < ELEMENTSOF(verdict_names) ? verdict_names[v] : "invalid";
}

void air_init(struct air_detector *d, const struct air_params *p) {
        /* p may point into *d (re-initialising with its own params). */
        struct air_params params = *p;

        *d = (struct air_detector) {
                .params = params,
        };
}

static void history_push(struct air_detector *d, int64_t end_us, int64_t volume_nl) {
        if (d->history_len == AIR_HISTORY_MAX) {
                /* Fold into the newest: the air stays counted, and for
                 * longer than it would on its own, never shorter. */
                unsigned newest = (d->history_head + d->history_len - 1) % AIR_HISTORY_MAX;
                d->history[newest].end_us = end_us;
                d->history[newest].volume_nl += volume_nl;
                return;
        }

        unsigned i = (d->history_head + d->history_len++) % AIR_HISTORY_MAX;
        d->history[i].end_us = end_us;
        d->history[i].volume_nl = volume_nl;
}

static void history_age(struct air_detector *d, int64_t now_us) {
        while (d->history_len > 0 && d->history[d->history_head].end_us <= now_us - d->params.window_us) {
                d->history_head = (d->history_head + 1) % AIR_HISTORY_MAX;
                d->history_len--;
        }
}

enum air_verdict air_sample(struct air_detector *d, int64_t now_us, bool air_present, int64_t pushed_nl) {
        if (air_present) {
                if (!d->in_bubble) {
                        d->in_bubble = true;
                        d->bubble_start_nl = pushed_nl;
                        d->bubble_nl = 0;
                }
                /* The furthest forward it has been: a back-off pulls the
                 * air back past the detector, and pushing it through again
                 * is the same air. */
                d->bubble_nl = MAX(d->bubble_nl, pushed_nl - d->bubble_start_nl);
        } else if (d->in_bubble) {
                d->in_bubble = false;
                if (d->bubble_nl > 0)
                        history_push(d, now_us, d->bubble_nl);
        }

        history_age(d, now_us);

        if (d->in_bubble && d->bubble_nl > d->params.bubble_limit_nl)
                return AIR_BUBBLE;
        if (air_window_nl(d, now_us) > d->params.accumulated_limit_nl)
                return AIR_ACCUMULATED;
        return AIR_NONE;
}

int64_t air_last_bubble_nl(const struct air_detector *d) {
        return d->bubble_nl;
}

int64_t air_window_nl(const struct air_detector *d, int64_t now_us) {
        int64_t sum_nl = d->in_bubble ? d->bubble_nl : 0;

        for (unsigned i = 0; i < d->history_len; i++) {
                unsigned k = (d->history_head + i) % AIR_HISTORY_MAX;
                if (d->history[k].end_us > now_us - d->params.window_us)
                        sum_nl += d->history[k].volume_nl;
        }
        return sum_nl;
}
