/* SPDX-License-Identifier: MIT */
#pragma once

/* A step/dir stepper driver (A4988, DRV8825, TMC2209 in step/dir mode) on
 * the GPIO character device through libgpiod 1.6 (the v1 API).
 *
 * Lines are requested with the consumer name "infusiond", as outputs, in
 * their safe state: ENABLE inactive (motor off), STEP inactive, DIR
 * forward, microstep-select lines at the levels the driver's table gives
 * for the configured microsteps. Active-low lines are requested with
 * GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW, so the code always writes 1 for
 * "active".
 *
 * Timing (the driver data sheets): a STEP pulse stays active
 * step_pulse_us, then inactive at least step_low_us before the next one;
 * a change of DIR waits dir_setup_us before the next STEP edge. The waits
 * are busy-waits on CLOCK_MONOTONIC: they are microseconds, and the step
 * thread must not sleep through a scheduler tick for them.
 *
 * ENABLE is released (motor off) by enable(false), on any GPIO error
 * (the op returns -EIO after trying to release it) and by
 * gpiod_stepper_free(), which then releases every line and closes the
 * chip: no line is left requested.
 *
 * Ops run on the executor thread; nothing here is shared with the main
 * loop after gpiod_stepper_new() returns. */

#include <stdbool.h>
#include <stdint.h>

#include "hal/hal.h"
#include "hal/stepper-driver.h"

#define GPIOD_CONSUMER "infusiond"
#define GPIOD_STEPPER_MS_LINES_MAX 3

struct gpiod_stepper_params {
        const char *chip;               /* "gpiochip0", "/dev/gpiochip0" or "0" */
        unsigned step_line, dir_line, enable_line;
        bool step_active_low;
        bool enable_active_low;         /* A4988/DRV8825 nENABLE: true */
        bool dir_forward_high;          /* DIR level that pushes the plunger */
        /* Microstep select: n_ms_lines 0 when the driver's pins are strapped. */
        enum stepper_driver driver;
        unsigned microsteps;
        unsigned n_ms_lines;
        unsigned ms_lines[GPIOD_STEPPER_MS_LINES_MAX];
        unsigned step_pulse_us;         /* 1..1000 */
        unsigned step_low_us;           /* 1..1000 */
        unsigned dir_setup_us;          /* 0..1000 */
};

struct gpiod_stepper;

/* Opens the chip and requests the lines. -EINVAL for bad params (a line
 * used twice, microsteps the driver cannot do, n_ms_lines neither 0 nor
 * the number of MS lines the table uses, timing out of range), else
 * -errno from libgpiod: -ENOENT no such chip, -EBUSY a line already
 * taken. On failure nothing stays requested or open, and *ret_what names
 * the part ("chip", "step line", "dir line", "enable line", "microstep
 * line"; for -EINVAL also "lines", "microsteps", "timing") if ret_what is
 * not NULL. */
int gpiod_stepper_new(const struct gpiod_stepper_params *p, struct gpiod_stepper **ret, const char **ret_what);

/* Releases ENABLE (motor off), every line, and the chip. NULL-safe. */
struct gpiod_stepper *gpiod_stepper_free(struct gpiod_stepper *s);

/* h->drive, h->drive_ctx (h->backend is left alone). */
void gpiod_stepper_fill_hal(struct gpiod_stepper *s, struct hal *h);
