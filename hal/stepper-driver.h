/* SPDX-License-Identifier: MIT */
#pragma once

/* The step/dir drivers infusiond knows and their microstep-select
 * tables, from the data sheets. Pure data, no GPIO: the config checks a
 * [stepper] against it before anything is opened. */

enum stepper_driver {
        STEPPER_DRIVER_A4988,           /* MS1 MS2 MS3: 1, 2, 4, 8, 16 */
        STEPPER_DRIVER_DRV8825,         /* M0 M1 M2: 1, 2, 4, 8, 16, 32 */
        STEPPER_DRIVER_TMC2209,         /* MS1 MS2: 8, 16, 32, 64 */
        _STEPPER_DRIVER_MAX,
};
/* "a4988", "drv8825", "tmc2209"; NULL / -EINVAL otherwise. */
const char *stepper_driver_to_string(enum stepper_driver d);
int stepper_driver_from_string(const char *s, enum stepper_driver *ret);

/* The levels (bit i = MS line i, 1 = high) the driver's table gives for
 * microsteps, and how many MS lines that table uses. -EINVAL if the
 * driver cannot do that many microsteps. */
int stepper_driver_microstep_levels(enum stepper_driver d, unsigned microsteps, unsigned *ret_levels,
                                    unsigned *ret_n_lines);
