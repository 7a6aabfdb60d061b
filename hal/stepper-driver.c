/* SPDX-License-Identifier: MIT */
#include "hal/stepper-driver.h"

#include <errno.h>

#include "common/macros.h"

struct microstep_entry {
        unsigned microsteps;
        unsigned levels;                /* bit i = MS line i */
};

struct driver_table {
        const char *name;
        unsigned n_lines;
        struct microstep_entry entries[8];      /* up to microsteps 0 */
};

static const struct driver_table driver_tables[_STEPPER_DRIVER_MAX] = {
        /* Allegro A4988 data sheet, table 1: MS1 MS2 MS3. */
        [STEPPER_DRIVER_A4988] = {
                .name = "a4988",
                .n_lines = 3,
                .entries = { { 1, 0x0 }, { 2, 0x1 }, { 4, 0x2 }, { 8, 0x3 }, { 16, 0x7 } },
        },
        /* TI DRV8825 data sheet, table 1: MODE0 MODE1 MODE2 (1/32 is
         * also 0x7; 0x5 is the one the table lists first). */
        [STEPPER_DRIVER_DRV8825] = {
                .name = "drv8825",
                .n_lines = 3,
                .entries = { { 1, 0x0 }, { 2, 0x1 }, { 4, 0x2 }, { 8, 0x3 }, { 16, 0x4 }, { 32, 0x5 } },
        },
        /* Trinamic TMC2209 data sheet, MS1/MS2 in standalone mode: both
         * low is 1/8, MS1 alone 1/32, MS2 alone 1/64, both 1/16. */
        [STEPPER_DRIVER_TMC2209] = {
                .name = "tmc2209",
                .n_lines = 2,
                .entries = { { 8, 0x0 }, { 16, 0x3 }, { 32, 0x1 }, { 64, 0x2 } },
        },
};

const char *stepper_driver_to_string(enum stepper_driver d) {
        return (unsigned) d < ELEMENTSOF(driver_tables) ? driver_tables[d].name : NULL;
}

int stepper_driver_from_string(const char *s, enum stepper_driver *ret) {
        if (!s)
                return -EINVAL;
        for (unsigned d = 0; d < ELEMENTSOF(driver_tables); d++)
                if (streq(s, driver_tables[d].name)) {
                        if (ret)
                                *ret = d;
                        return 0;
                }
        return -EINVAL;
}

int stepper_driver_microstep_levels(enum stepper_driver d, unsigned microsteps, unsigned *ret_levels,
                                    unsigned *ret_n_lines) {
        if ((unsigned) d >= ELEMENTSOF(driver_tables))
                return -EINVAL;

        const struct driver_table *t = &driver_tables[d];
        for (const struct microstep_entry *e = t->entries; e->microsteps != 0; e++)
                if (e->microsteps == microsteps) {
                        if (ret_levels)
                                *ret_levels = e->levels;
                        if (ret_n_lines)
                                *ret_n_lines = t->n_lines;
                        return 0;
                }
        return -EINVAL;
}

