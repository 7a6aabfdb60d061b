/* SPDX-License-Identifier: MIT */
#pragma once

/* One sysfs PWM channel: /sys/class/pwm/pwmchipN/pwmM.
 *
 * pwm_sysfs_open() exports the channel (writes M to pwmchipN/export
 * unless pwmM already exists), disables it, and sets polarity (before
 * enabling: the kernel refuses a polarity change while enabled) and
 * period. Writes are ordered so the kernel never sees duty > period.
 * pwm_sysfs_close() sets duty 0, disables and unexports. The root is
 * /sys/class/pwm (umockdev's testbed stands in for /sys in tests). */

#include <stdbool.h>
#include <stdint.h>

struct pwm_sysfs;

/* chip: "pwmchip0"; -ENOENT no such chip, -errno otherwise. */
int pwm_sysfs_open(const char *chip, unsigned channel, int64_t period_ns, bool inverted, struct pwm_sysfs **ret);
struct pwm_sysfs *pwm_sysfs_close(struct pwm_sysfs *p);

/* duty_ns in [0, period_ns], else -ERANGE. Only writes when it changed. */
int pwm_sysfs_set_duty_ns(struct pwm_sysfs *p, int64_t duty_ns);
/* period_ns > 0, else -EINVAL. The duty keeps its share of the period
 * (rounded down). */
int pwm_sysfs_set_period_ns(struct pwm_sysfs *p, int64_t period_ns);
int pwm_sysfs_enable(struct pwm_sysfs *p, bool on);
int64_t pwm_sysfs_period_ns(const struct pwm_sysfs *p);
