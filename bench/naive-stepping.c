/* SPDX-License-Identifier: MIT */
/* bench/steps' baseline: the naive design, motor steps timed by sd-event
 * timers on the daemon's main loop, which also serves D-Bus and writes the
 * history. Linked in place of daemon/stepping.c into infusiond-naive-steps,
 * built from the same main.c, pump and executor: the only difference from
 * infusiond is who calls executor_poll() and when. It is not a straw man:
 * the timer is precise (1 µs accuracy) and outranks D-Bus traffic, as the
 * control tick does; what it cannot do is preempt a callback already
 * running, and that is what the benchmark measures. */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "daemon/executor.h"
#include "daemon/log.h"
#include "daemon/stepping.h"

struct naive {
        struct executor *ex;
        sd_event_source *timer;
};

static struct naive naive;

static int64_t monotonic_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Take every step that is due, then sleep until the next one. */
static int on_step_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct naive *n = userdata;
        int64_t now = monotonic_us(), next;
        while ((next = executor_poll(n->ex, now)) <= now)
                now = monotonic_us();
        if (next == INT64_MAX)
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        (void) sd_event_source_set_time(s, (uint64_t) next);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

/* A new segment or lease: poll on the next loop iteration (not here, in
 * the middle of the pump code that changed it). */
static void on_wake(void *userdata) {
        struct naive *n = userdata;
        (void) sd_event_source_set_time(n->timer, 1);
        (void) sd_event_source_set_enabled(n->timer, SD_EVENT_ONESHOT);
}

int stepping_start(sd_event *event, struct pump *p) {
        naive.ex = pump_executor(p);
        int r = sd_event_add_time(event, &naive.timer, CLOCK_MONOTONIC, 1, 1, on_step_timer, &naive);
        if (r < 0)
                return log_error_errno(r, "Failed to add the step timer: %m");
        (void) sd_event_source_set_priority(naive.timer, SD_EVENT_PRIORITY_IMPORTANT);
        executor_set_wake(naive.ex, on_wake, &naive);
        log_notice("Steps timed by sd-event timers on the main loop: the naive baseline of bench/steps, "
                   "never for a pump");
        return 0;
}
