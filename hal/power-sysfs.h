/* SPDX-License-Identifier: MIT */
#pragma once

/* Power from /sys/class/power_supply: a Mains (or USB) supply's online,
 * and a Battery's capacity (%), status, time_to_empty_now (s) and
 * voltage_now (µV). Without time_to_empty_now the minutes left come from
 * capacity × runtime_min (the rig's measured full-charge runtime).
 * A battery whose status is "Discharging" is off mains even when no
 * Mains supply is listed.
 *
 * The fallback for boards without a fuel gauge: a battery voltage (V,
 * e.g. an IIO divider channel, read through a hal_sensors_ops) and a
 * discharge table of (volts, percent) points, linear between points. */

#include <stdbool.h>
#include <stdint.h>

#include "hal/hal.h"

#define POWER_TABLE_MAX 16

struct power_sysfs_params {
        const char *battery;            /* supply name ("BAT0"); NULL: the first of type Battery */
        const char *mains;              /* supply name ("AC"); NULL: the first of type Mains or USB */
        double runtime_min;             /* full battery lasts, min (> 0) */
};

struct power_sysfs;

/* -ENODEV no battery found (a named one missing or not of type Battery),
 * or a named mains supply missing; -EINVAL bad params. */
int power_sysfs_new(const struct power_sysfs_params *p, struct power_sysfs **ret);
struct power_sysfs *power_sysfs_free(struct power_sysfs *ps);
void power_sysfs_fill_hal(struct power_sysfs *ps, struct hal *h);

struct power_table {
        unsigned n;                     /* 2..POWER_TABLE_MAX */
        double volts[POWER_TABLE_MAX];  /* strictly descending */
        double percent[POWER_TABLE_MAX];/* descending, 100..0 */
};
/* "4.20:100 3.95:75 3.80:50 3.70:25 3.50:5 3.30:0". -EINVAL with a reason. */
int power_table_parse(const char *text, struct power_table *ret, const char **ret_why);
/* Percent for a voltage, clamped to the table's ends. */
double power_table_percent(const struct power_table *t, double volts);

/* The fallback: reads HAL_SENSOR_BATTERY_VOLTAGE through sensors, never
 * on mains (no way to tell), time to empty = percent × runtime_min. */
struct power_voltage;
int power_voltage_new(const struct hal_sensors_ops *sensors, void *sensors_ctx, const struct power_table *t,
                      double runtime_min, struct power_voltage **ret);
struct power_voltage *power_voltage_free(struct power_voltage *pv);
void power_voltage_fill_hal(struct power_voltage *pv, struct hal *h);
