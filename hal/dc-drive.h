/* SPDX-License-Identifier: MIT */
#pragma once

/* A DC motor (a peristaltic pump's roller head) driven by sysfs PWM duty
 * and a GPIO direction line, with a GPIO encoder for closed-loop speed.
 *
 * It speaks the same drive ops as a stepper: one "step" is one encoder
 * count of the mechanism (the config's steps_per_rev is the encoder's
 * counts per revolution, microsteps 1). Each step() call adds one count
 * to the target position and runs the speed loop once: it reads the
 * pending encoder edges (non-blocking), and sets the duty from the
 * position error (target - counted) with a proportional-integral law,
 * clamped to [0, max_duty_pct]. The executor's step schedule is thus the
 * speed set-point. Between steps the motor runs at the last duty: when
 * steps stop coming, nothing slows it until the executor's lease lapses
 * and enable(false) sets duty 0, so the overrun is up to a lease of
 * motion at the last speed; and a sysfs PWM keeps its duty if the
 * process dies (docs/HARDWARE.md: an H-bridge enable with a pull to
 * off is required).
 *
 * Lines on the chip: DIR (output, requested forward) and the encoder
 * channel A (rising-edge events). Consumer "infusiond". */

#include <stdbool.h>
#include <stdint.h>

#include "hal/hal.h"

struct dc_drive_params {
        const char *pwm_chip;           /* "pwmchip0" */
        unsigned pwm_channel;
        int64_t pwm_period_ns;          /* 20 kHz: 50000 */
        double max_duty_pct;            /* 1..100 */
        double kp_pct_per_count;        /* duty % per count of lag */
        double ki_pct_per_count_s;      /* duty % per count·s of lag */
        const char *gpio_chip;
        unsigned dir_line;
        bool dir_forward_high;
        unsigned encoder_line;
};

/* Pure speed loop, for tests: duty % for a position error (counts) over
 * dt_s, with the integral state in *integral (count·s), anti-windup by
 * not integrating while the output is clamped (unless the error pulls
 * the output back into range). */
double dc_speed_duty_pct(const struct dc_drive_params *p, int64_t error_counts, double dt_s, double *integral);

struct dc_drive;
int dc_drive_new(const struct dc_drive_params *p, struct dc_drive **ret, const char **ret_what);
struct dc_drive *dc_drive_free(struct dc_drive *d);
void dc_drive_fill_hal(struct dc_drive *d, struct hal *h);
/* Encoder counts seen (forward minus reverse), for the position check. */
int64_t dc_drive_encoder_counts(struct dc_drive *d);
