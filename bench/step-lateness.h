/* SPDX-License-Identifier: MIT */
#pragma once

/* How late the sim drive's steps came, from the times it logged
 * ([simulation] step_log): bench-steps' analysis, shared with the load
 * test (tests/integration/test-load.c) so that both hold the same bound.
 *
 * Step k is due at A + k * interval (the interval exact, from
 * core/mechanism), with A as early as the steps allow: the least late
 * step is on time, so a delay common to every step is not counted. A step
 * at least one interval late has slid into its successor's slot: missed
 * (the executor catches up, so no volume is lost, but the flow was uneven
 * there). */

#include <stddef.h>
#include <stdint.h>

struct step_lateness {
        size_t n;                       /* steps inside the window */
        int64_t missed;
        int64_t p50_us, p99_us, p999_us, max_us;
        double interval_us;
        int64_t *lateness_us;           /* the window's, in step order (malloc'ed) */
};

/* The step log: a comment line, then one CLOCK_MONOTONIC time in µs per
 * line. -ENOBUFS when the log overflowed (its comment says how many were
 * not kept), -EBADMSG for a line that is not a time. *ret is malloc'ed. */
int step_log_read(const char *path, int64_t **ret, size_t *ret_n);

/* The lateness of the steps t[0..n) timed in [win0_us, win1_us], at
 * interval_num / interval_den µs per step. -ENODATA without steps. */
int step_lateness_analyse(const int64_t *t, size_t n, int64_t interval_num, int64_t interval_den, int64_t win0_us,
                          int64_t win1_us, struct step_lateness *ret);
void step_lateness_done(struct step_lateness *l);
