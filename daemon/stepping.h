/* SPDX-License-Identifier: MIT */
#pragma once

/* How the daemon times motor steps in real time. infusiond links
 * daemon/stepping.c: the executor's own thread, SCHED_FIFO when allowed.
 * bench/steps builds a second daemon from the same main.c that links
 * bench/naive-stepping.c instead (steps on sd-event timers on the main
 * loop), the baseline the benchmark compares the thread against. Nothing
 * else differs between the two binaries. */

#include <systemd/sd-event.h>

#include "daemon/pump.h"

/* Start stepping the pump's executor; logs its own failures and how it
 * steps. Negative errno. */
int stepping_start(sd_event *event, struct pump *p);
