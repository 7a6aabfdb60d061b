/* SPDX-License-Identifier: MIT */
#include "safety/gate.h"

#include <stddef.h>

#include "common/units.h"

static const char *const refusal_names[_GATE_REFUSAL_MAX] = {
        [GATE_GRANTED] = "granted",
        [GATE_NOT_DELIVERING] = "not-delivering",
        [GATE_HALTING_ALARM] = "halting-alarm",
        [GATE_RATE_INVALID] = "rate-invalid",
        [GATE_RATE_ABOVE_MAX] = "rate-above-maximum",
        [GATE_STEP_TOO_FAST] = "step-interval-below-minimum",
        [GATE_VOLUME_LIMIT_REACHED] = "volume-limit-reached",
};

const char *gate_refusal_to_string(enum gate_refusal r) {
        return (unsigned) r < _GATE_REFUSAL_MAX ? refusal_names[r] : "invalid";
}

static enum gate_refusal refuse(const struct gate_request *req, int64_t now_us,
                                enum gate_refusal why, struct lease *ret) {
        *ret = (struct lease) {
                .generation = req->generation,
                .step_limit = req->steps_taken,
                .expires_us = now_us,
        };
        return why;
}

enum gate_refusal gate_grant(const struct gate_limits *lim, const struct gate_request *req,
                             int64_t now_us, struct lease *ret) {
        if (!req->delivering)
                return refuse(req, now_us, GATE_NOT_DELIVERING, ret);
        if (req->halting_alarm)
                return refuse(req, now_us, GATE_HALTING_ALARM, ret);
        if (req->rate_nl_per_h <= 0 || req->pl_per_step <= 0)
                return refuse(req, now_us, GATE_RATE_INVALID, ret);
        if (req->rate_nl_per_h > lim->max_rate_nl_per_h)
                return refuse(req, now_us, GATE_RATE_ABOVE_MAX, ret);

        /* Interval between steps at this rate, in µs (rounded down, so the
         * check is strict): pl * 3.6e6 / rate. */
        int64_t interval_us = req->pl_per_step * (US_PER_HOUR / PL_PER_NL) / req->rate_nl_per_h;
        if (interval_us < lim->min_step_interval_us)
                return refuse(req, now_us, GATE_STEP_TOO_FAST, ret);

        /* Whole steps still inside the phase limit (the VTBI), computed
         * from volumes, not from the engine's step targets. */
        int64_t left_nl = req->phase_limit_nl - req->phase_volume_nl;
        if (left_nl <= 0)
                return refuse(req, now_us, GATE_VOLUME_LIMIT_REACHED, ret);
        int64_t volume_steps = req->phase_limit_nl == INT64_MAX
                ? INT64_MAX
                : left_nl * PL_PER_NL / req->pl_per_step;
        if (volume_steps <= 0)
                return refuse(req, now_us, GATE_VOLUME_LIMIT_REACHED, ret);

        /* Steps the rate allows over the lease, plus one: at slow rates a
         * step interval is longer than a lease, and the one step that falls
         * due inside it must be allowed. This bounds what a runaway
         * executor can do before the lease lapses. */
        int64_t time_steps = lim->lease_us / interval_us + 1;
        int64_t allowed = time_steps < volume_steps ? time_steps : volume_steps;

        *ret = (struct lease) {
                .generation = req->generation,
                .step_limit = req->steps_taken + allowed,
                .expires_us = now_us + lim->lease_us,
        };
        return GATE_GRANTED;
}

enum gate_refusal gate_grant_relief(const struct gate_limits *lim, uint64_t generation, int64_t rate_nl_per_h,
                                    int64_t pl_per_step, int64_t relief_taken, int64_t steps_asked,
                                    int64_t now_us, struct lease *ret) {
        struct gate_request req = { .generation = generation, .steps_taken = relief_taken };

        if (rate_nl_per_h <= 0 || pl_per_step <= 0 || steps_asked < 0 || relief_taken < 0)
                return refuse(&req, now_us, GATE_RATE_INVALID, ret);
        if (rate_nl_per_h > lim->max_rate_nl_per_h)
                return refuse(&req, now_us, GATE_RATE_ABOVE_MAX, ret);
        int64_t interval_us = pl_per_step * (US_PER_HOUR / PL_PER_NL) / rate_nl_per_h;
        if (interval_us < lim->min_step_interval_us)
                return refuse(&req, now_us, GATE_STEP_TOO_FAST, ret);

        int64_t cap_steps = lim->max_relief_nl * PL_PER_NL / pl_per_step;
        int64_t total = steps_asked < cap_steps ? steps_asked : cap_steps;
        if (relief_taken >= total)
                return refuse(&req, now_us, GATE_VOLUME_LIMIT_REACHED, ret);

        int64_t time_steps = lim->lease_us / interval_us + 1;
        int64_t allowed = total - relief_taken < time_steps ? total - relief_taken : time_steps;
        *ret = (struct lease) {
                .generation = generation,
                .step_limit = relief_taken + allowed,
                .expires_us = now_us + lim->lease_us,
        };
        return GATE_GRANTED;
}
