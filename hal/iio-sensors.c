/* SPDX-License-Identifier: MIT */
#include "hal/iio-sensors.h"

#include <errno.h>
#include <iio.h>
#include <math.h>
#include <stdlib.h>

#include "common/macros.h"

struct iio_sensor {
        /* A copy for the calibration; device and channel are cleared, as
         * they point into the caller's config. */
        struct iio_sensor_params params;
        const struct iio_channel *channel;      /* NULL: not fitted */
        bool has_offset;
};

struct iio_sensors {
        struct iio_context *ctx;        /* NULL: no sensor fitted */
        struct iio_sensor sensor[_HAL_SENSOR_MAX];
};

static void iio_context_destroyp(struct iio_context **ctx) {
        if (*ctx)
                iio_context_destroy(*ctx);
}

double iio_calibrate(const struct iio_sensor_params *p, double mv) {
        return p->low_value + (mv - p->low_mv) * (p->high_value - p->low_value) / (p->high_mv - p->low_mv);
}

static bool params_valid(const struct iio_sensor_params *p) {
        if (!p->device || !p->device[0] || !p->channel || !p->channel[0])
                return false;
        if (!isfinite(p->low_mv) || !isfinite(p->low_value) || !isfinite(p->high_mv) ||
            !isfinite(p->high_value) || !isfinite(p->plausible_min) || !isfinite(p->plausible_max) ||
            !isfinite(p->sampling_frequency_hz))
                return false;
        return p->high_mv != p->low_mv && p->plausible_min < p->plausible_max && p->sampling_frequency_hz >= 0;
}

/* The ADS1115 driver has it per channel; other ADCs have one for the
 * whole device. Integer rates are written as integers, as a person
 * would echo them; drivers taking IIO_VAL_INT accept "128.000000" too,
 * but not every driver parses fractions. */
static int write_sampling_frequency(const struct iio_device *dev, const struct iio_channel *ch, double hz) {
        bool integral = hz == floor(hz) && hz < 1e15;

        if (iio_channel_find_attr(ch, "sampling_frequency"))
                return integral ? iio_channel_attr_write_longlong(ch, "sampling_frequency", (long long) hz)
                                : iio_channel_attr_write_double(ch, "sampling_frequency", hz);
        if (iio_device_find_attr(dev, "sampling_frequency"))
                return integral ? iio_device_attr_write_longlong(dev, "sampling_frequency", (long long) hz)
                                : iio_device_attr_write_double(dev, "sampling_frequency", hz);
        /* Asked for a rate the ADC cannot be told: the config is wrong. */
        return -EOPNOTSUPP;
}

static int sensor_open(struct iio_context *ctx, const struct iio_sensor_params *p, struct iio_sensor *ret) {
        const struct iio_device *dev;
        const struct iio_channel *ch;
        int r;

        dev = iio_context_find_device(ctx, p->device);
        if (!dev)
                return -ENODEV;
        ch = iio_device_find_channel(dev, p->channel, false);
        if (!ch)
                return -ENODEV;
        /* Without raw and scale there is no mV: not the channel the
         * config meant. */
        if (!iio_channel_find_attr(ch, "raw") || !iio_channel_find_attr(ch, "scale"))
                return -ENODEV;

        if (p->sampling_frequency_hz > 0) {
                r = write_sampling_frequency(dev, ch, p->sampling_frequency_hz);
                if (r < 0)
                        return r;
        }

        *ret = (struct iio_sensor) {
                .params = *p,
                .channel = ch,
                .has_offset = iio_channel_find_attr(ch, "offset"),
        };
        ret->params.device = ret->params.channel = NULL;
        return 0;
}

int iio_sensors_new(const struct iio_sensors_params *p, struct iio_sensors **ret, enum hal_sensor *ret_failed) {
        _cleanup_(iio_context_destroyp) struct iio_context *ctx = NULL;
        bool any = false;
        int r;

        if (!p || !ret)
                return -EINVAL;

        for (enum hal_sensor i = 0; i < _HAL_SENSOR_MAX; i++) {
                if (!p->sensor[i].fitted)
                        continue;
                if (!params_valid(&p->sensor[i])) {
                        if (ret_failed)
                                *ret_failed = i;
                        return -EINVAL;
                }
                any = true;
        }

        _cleanup_(freep) struct iio_sensors *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;

        /* A board without analog sensors needs no IIO in its kernel. */
        if (any) {
                ctx = iio_create_local_context();
                if (!ctx) {
                        if (ret_failed)
                                *ret_failed = _HAL_SENSOR_MAX;
                        return errno > 0 ? -errno : -EIO;
                }
        }

        for (enum hal_sensor i = 0; i < _HAL_SENSOR_MAX; i++) {
                if (!p->sensor[i].fitted)
                        continue;
                r = sensor_open(ctx, &p->sensor[i], &s->sensor[i]);
                if (r < 0) {
                        if (ret_failed)
                                *ret_failed = i;
                        return r;
                }
        }

        s->ctx = TAKE_PTR(ctx);
        *ret = TAKE_PTR(s);
        return 0;
}

struct iio_sensors *iio_sensors_free(struct iio_sensors *s) {
        if (!s)
                return NULL;
        if (s->ctx)
                iio_context_destroy(s->ctx);
        free(s);
        return NULL;
}

/* Scale and offset are read every time, not cached: they are the ADC's
 * gain setting, which someone may change under us, and a file read more
 * per sensor per tick costs nothing next to the I2C conversion. */
static int sensors_read(void *ctx, enum hal_sensor i, double *ret_value) {
        struct iio_sensors *s = ctx;
        const struct iio_sensor *sensor;
        long long raw;
        double scale, offset = 0, mv, value;
        int r;

        if ((unsigned) i >= _HAL_SENSOR_MAX)
                return -EINVAL;
        sensor = &s->sensor[i];
        if (!sensor->channel)
                return -ENODEV;

        r = iio_channel_attr_read_longlong(sensor->channel, "raw", &raw);
        if (r < 0)
                return r;
        r = iio_channel_attr_read_double(sensor->channel, "scale", &scale);
        if (r < 0)
                return r;
        if (sensor->has_offset) {
                r = iio_channel_attr_read_double(sensor->channel, "offset", &offset);
                if (r < 0)
                        return r;
        }

        mv = ((double) raw + offset) * scale;
        value = iio_calibrate(&sensor->params, mv);
        /* !(a <= v && v <= b) also refuses NaN from a garbled scale. */
        if (!(value >= sensor->params.plausible_min && value <= sensor->params.plausible_max))
                return -ERANGE;

        *ret_value = value;
        return 0;
}

static const struct hal_sensors_ops iio_sensors_ops = {
        .read = sensors_read,
};

void iio_sensors_fill_hal(struct iio_sensors *s, struct hal *h) {
        h->sensors = &iio_sensors_ops;
        h->sensors_ctx = s;
}
