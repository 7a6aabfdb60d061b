/* SPDX-License-Identifier: MIT */
#pragma once

/* Digital inputs whose edges arrive as kernel events (GPIO line events):
 * each input's fd is an sd-event I/O source, and a timer per input wakes
 * the backend when its debounce settles. The backend then calls the
 * handler the pump installed (hal_inputs_ops.set_handler). Inputs of
 * backends without event_fd (the sim) are not watched: they call the
 * handler themselves. */

#include <systemd/sd-event.h>

#include "hal/hal.h"

struct inputs_watch;

int inputs_watch_new(sd_event *e, const struct hal *h, struct inputs_watch **ret);
struct inputs_watch *inputs_watch_free(struct inputs_watch *w);
