/* SPDX-License-Identifier: MIT */
#pragma once

/* The motor executor: the only code that calls the drive's step op. It
 * follows the even step schedule of the current motion segment and steps
 * only inside the lease the safety gate granted. When the lease's expiry
 * passes without a renewal it disables the motor and marks itself lapsed:
 * a stalled, crashed or killed control loop cannot keep the motor going.
 *
 * One logic, two drivers: in real time a dedicated thread calls
 * executor_poll() and sleeps until the time it returns (absolute,
 * CLOCK_MONOTONIC); in virtual time the daemon calls executor_poll() at
 * each step time the virtual clock reaches. */

#include <stdbool.h>
#include <stdint.h>

#include "hal/hal.h"
#include "safety/gate.h"

struct executor;

struct executor_segment {
        uint64_t generation;
        bool active;
        int64_t anchor_us;
        int64_t interval_num_us;        /* step interval = num/den µs */
        int64_t interval_den;
        int64_t step_budget;            /* never more steps than this in the segment */
        bool reverse;                   /* pull the plunger back (pressure relief) */
};

struct executor_status {
        uint64_t generation;
        int64_t steps_taken;            /* in the current segment */
        int64_t total_steps;            /* since the executor was created */
        bool enabled;                   /* motor driver enabled */
        bool lapsed;                    /* the lease ran out while moving */
        int fault;                      /* last drive error (negative errno), 0 none */
        int64_t last_step_us;
        int64_t max_lateness_us;        /* worst step lateness seen */
};

/* drive must outlive the executor. */
int executor_new(const struct hal_drive_ops *drive, void *drive_ctx, struct executor **ret);
/* Stops the thread if any, disables the motor, frees. Returns NULL. */
struct executor *executor_free(struct executor *ex);

/* Start the real-time thread (tries SCHED_FIFO at rt_priority if > 0; falls
 * back to normal scheduling and says so in *ret_rt_ok). */
int executor_start_thread(struct executor *ex, int rt_priority, bool *ret_rt_ok);

/* Replace the motion segment: the schedule restarts at its anchor, the
 * step count in the segment returns to 0 and no step happens until a lease
 * for this generation is granted. An inactive segment disables the motor.
 * Returns the steps taken in the segment it replaced, read under the same
 * lock, so the caller's count of delivered steps stays exact. */
int64_t executor_set_segment(struct executor *ex, const struct executor_segment *seg);

/* Install a lease. Ignored (returns -ESTALE) if it is for another generation. */
int executor_grant(struct executor *ex, const struct lease *l);

/* Do what is due at now_us: enable/disable the motor, take the step that
 * is due, or declare the lease lapsed. Returns the next time (µs) anything
 * can be due, or INT64_MAX when only a new segment or lease can change
 * anything. A return <= now_us means "call again now". */
int64_t executor_poll(struct executor *ex, int64_t now_us);

void executor_get_status(struct executor *ex, struct executor_status *ret);

/* For a driver other than the thread: wake(userdata) is called, outside
 * the lock, after executor_set_segment() or executor_grant() changed what
 * is due, so the driver can poll again. Only bench/steps' naive baseline
 * (bench/naive-stepping.c) drives the executor this way. */
void executor_set_wake(struct executor *ex, void (*wake)(void *userdata), void *userdata);
