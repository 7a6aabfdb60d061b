/* SPDX-License-Identifier: MIT */
#pragma once

/* Digital inputs (PCA button, air-in-line detector, door, end stop) and
 * outputs (buzzer, red and yellow LEDs, nurse call) on one GPIO chip
 * through libgpiod 1.6 (the v1 API), consumer "infusiond".
 *
 * Inputs are requested for both-edge events (active-low ones with
 * GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW, so 1 always means active). The
 * daemon watches each event fd (hal_inputs_ops.event_fd) and calls
 * process(): it reads the pending events, feeds their kernel timestamps
 * to a software debounce (hal/debounce.h) and reports each settled change
 * to the handler. read() returns the debounced level.
 *
 * Outputs are requested inactive (buzzer silent, lights off, nurse call
 * open) and set to inactive again, then released, by gpiod_io_free(). */

#include <stdbool.h>
#include <stdint.h>

#include "hal/hal.h"

struct gpiod_line_params {
        bool fitted;
        unsigned line;
        bool active_low;
};

struct gpiod_io_params {
        const char *chip;               /* "gpiochip0", "/dev/gpiochip0" or "0" */
        struct gpiod_line_params inputs[_HAL_INPUT_MAX];
        struct gpiod_line_params outputs[_HAL_OUTPUT_MAX];
        int64_t debounce_us;            /* 0..1 s */
};

struct gpiod_io;

/* -EINVAL for bad params (a line used twice), else -errno from libgpiod;
 * on failure nothing stays requested or open, and *ret_what (if not NULL)
 * names the part: "chip" or the input or output's hal name. */
int gpiod_io_new(const struct gpiod_io_params *p, struct gpiod_io **ret, const char **ret_what);
struct gpiod_io *gpiod_io_free(struct gpiod_io *io);

/* Fill h->inputs / h->outputs for what the params fitted: the inputs ops
 * only if any input is fitted, the outputs ops only if any output is. An
 * input or output not fitted reads/sets -ENODEV. */
void gpiod_io_fill_hal(struct gpiod_io *io, struct hal *h);
