/* SPDX-License-Identifier: MIT */
#pragma once

/* Analog sensors through libiio 0.24's local context (sysfs).
 *
 * Each fitted sensor is an IIO device found by name and a channel found
 * by id ("voltage0"), an input. A read takes the channel's raw, scale
 * and (optional, default 0) offset attributes: mV = (raw + offset) *
 * scale, as the IIO ABI defines for voltage channels. A two-point
 * calibration then maps mV to the sensor's unit (mmHg, mm or V):
 * value = low_value + (mV - low_mv) * (high_value - low_value) /
 * (high_mv - low_mv).
 *
 * A read fails with -EIO (or libiio's -errno) when an attribute cannot
 * be read, and with -ERANGE when the value is outside [plausible_min,
 * plausible_max]: a broken wire or a shorted bridge reads at a rail, and
 * the daemon must not take that for a pressure. The daemon's sensor
 * health turns repeated failures into the sensor-failure alarm.
 *
 * sampling_frequency_hz > 0 is written to the channel's (or device's)
 * sampling_frequency attribute at open: the ADC's conversion rate (the
 * ADS1115 offers 8 to 860). The daemon reads once per control tick. */

#include <stdbool.h>
#include <stdint.h>

#include "hal/hal.h"

struct iio_sensor_params {
        bool fitted;
        const char *device;             /* IIO device name: "ads1015" */
        const char *channel;            /* channel id: "voltage0" */
        double low_mv, low_value;       /* calibration points */
        double high_mv, high_value;     /* high_mv != low_mv */
        double plausible_min, plausible_max;    /* in the sensor's unit */
        double sampling_frequency_hz;   /* 0: leave the device's */
};

struct iio_sensors_params {
        struct iio_sensor_params sensor[_HAL_SENSOR_MAX];
};

struct iio_sensors;

/* Creates the local context and finds each fitted sensor's device and
 * channel. -EINVAL bad params (calibration points equal, plausible range
 * empty), -ENODEV a device or channel (with raw and scale) not found,
 * -EOPNOTSUPP a sampling frequency asked of an ADC without the attribute,
 * -errno from libiio (-ENOENT: no IIO in the kernel).
 * On failure *ret_failed (if not NULL) is the sensor at fault, or
 * _HAL_SENSOR_MAX for the context itself. */
int iio_sensors_new(const struct iio_sensors_params *p, struct iio_sensors **ret, enum hal_sensor *ret_failed);
struct iio_sensors *iio_sensors_free(struct iio_sensors *s);

/* h->sensors, h->sensors_ctx. A sensor not fitted reads -ENODEV. */
void iio_sensors_fill_hal(struct iio_sensors *s, struct hal *h);

/* The calibration alone, for tests and the config check. */
double iio_calibrate(const struct iio_sensor_params *p, double mv);
