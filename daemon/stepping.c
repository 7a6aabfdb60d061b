/* SPDX-License-Identifier: MIT */
#include "daemon/stepping.h"

#include <stdbool.h>

#include "daemon/log.h"

/* SCHED_FIFO priority of the step thread when the unit allows it. */
#define STEP_THREAD_RT_PRIORITY 50

int stepping_start(sd_event *event, struct pump *p) {
        bool rt = false;
        int r = pump_start_executor(p, STEP_THREAD_RT_PRIORITY, &rt);
        if (r < 0)
                return log_error_errno(r, "Failed to start the step thread: %m");
        if (!rt)
                log_notice("Step thread runs without SCHED_FIFO (no RT privilege): timing jitter will be larger");
        return 0;
}
