/* SPDX-License-Identifier: MIT */
#pragma once

/* The real hardware a config asks for: opens each device whose [pump]
 * choice is not "sim" (stepper or DC motor, IIO sensors, GPIO inputs and
 * outputs, power supply) and points the hal's ops at it, over whatever
 * the sim filled in before. Opening is the first half of the start-up
 * self-test: a line that cannot be requested or a sensor not found
 * fails here, and the message names the part. */

#include <stddef.h>

#include "config/config.h"
#include "hal/hal.h"

struct rig;

/* -errno with a message in err (errsz bytes) naming the part that failed. */
int rig_open(const struct config *cfg, struct hal *h, struct rig **ret, char *err, size_t errsz);

/* Motor off first, then every line released and every file closed. */
struct rig *rig_close(struct rig *r);

/* "stepper+iio+gpiod+sysfs": the devices in use, for logs and Manager.Backend. */
const char *rig_describe(const struct rig *r);
