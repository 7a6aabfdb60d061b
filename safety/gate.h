/* SPDX-License-Identifier: MIT */
#pragma once

/* The safety gate: the one place that lets the motor move. Before any
 * motion the daemon asks it for a lease; the executor steps only within
 * that lease (at most step_limit steps into the segment, and only before
 * expires_us). A lease that is not renewed lapses and the motor stops by
 * itself, so a stalled or dead control loop cannot keep delivering.
 *
 * The gate recomputes every limit from first principles instead of
 * trusting the delivery engine's own arithmetic. Pure logic: no clock,
 * no I/O. It does not include core/: core depends on safety, not back. */

#include <stdbool.h>
#include <stdint.h>

struct gate_limits {
        int64_t max_rate_nl_per_h;      /* device (and later drug) maximum */
        int64_t min_step_interval_us;   /* mechanism: fastest safe stepping */
        int64_t lease_us;               /* how far ahead one lease reaches */
        int64_t max_relief_nl;          /* most one back-off may withdraw */
};

/* What the delivery engine asks for, and the facts the gate checks. */
struct gate_request {
        uint64_t generation;            /* motion segment the lease is for */
        bool delivering;                /* channel is running or in KVO */
        bool halting_alarm;             /* any active alarm halts delivery */
        int64_t rate_nl_per_h;
        int64_t pl_per_step;
        int64_t steps_taken;            /* executor's count in this segment */
        int64_t phase_volume_nl;        /* delivered so far in this phase */
        int64_t phase_limit_nl;         /* VTBI for the primary phase, INT64_MAX for KVO */
};

struct lease {
        uint64_t generation;
        int64_t step_limit;             /* absolute step count within the segment */
        int64_t expires_us;             /* no step at or after this time */
};

enum gate_refusal {
        GATE_GRANTED = 0,
        GATE_NOT_DELIVERING,
        GATE_HALTING_ALARM,
        GATE_RATE_INVALID,              /* <= 0 */
        GATE_RATE_ABOVE_MAX,
        GATE_STEP_TOO_FAST,             /* interval below the mechanism minimum */
        GATE_VOLUME_LIMIT_REACHED,
        _GATE_REFUSAL_MAX,
};

const char *gate_refusal_to_string(enum gate_refusal r);

/* Decide a lease for req at now_us. Always writes *ret: on refusal the
 * lease allows no further step (step_limit = steps_taken) and the function
 * returns the reason (> 0); on grant it returns GATE_GRANTED (0).
 * GATE_VOLUME_LIMIT_REACHED is the normal end of a phase, not a fault. */
enum gate_refusal gate_grant(const struct gate_limits *lim, const struct gate_request *req,
                             int64_t now_us, struct lease *ret);

/* A lease for pressure relief: reverse motion after a downstream
 * occlusion, which takes fluid back from the line instead of giving it.
 * It is the one motion a halting alarm allows, because it is the answer
 * to that alarm; but it is bounded too, since pulling back too far would
 * draw blood into the line: at most lim->max_relief_nl in all (steps_asked
 * is cut to that), at the rate asked, within the usual rate and step
 * interval limits. relief_taken: reverse steps already taken in this
 * relief. Same return and *ret contract as gate_grant(). */
enum gate_refusal gate_grant_relief(const struct gate_limits *lim, uint64_t generation, int64_t rate_nl_per_h,
                                    int64_t pl_per_step, int64_t relief_taken, int64_t steps_asked,
                                    int64_t now_us, struct lease *ret);

/* May the executor take a step at now_us, having taken steps_taken? */
static inline bool lease_allows_step(const struct lease *l, int64_t steps_taken, int64_t now_us) {
        return steps_taken < l->step_limit && now_us < l->expires_us;
}
