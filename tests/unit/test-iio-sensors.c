/* SPDX-License-Identifier: MIT */
/* The IIO sensor backend against the real libiio local backend, over a
 * fake /sys from umockdev's testbed (run under libumockdev-preload). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <umockdev.h>

#include "hal/hal.h"
#include "hal/iio-sensors.h"

/* A value no read can produce: shows that a failed read wrote nothing. */
#define UNTOUCHED -12345.0

struct fixture {
        UMockdevTestbed *tb;
        char *root;                     /* the testbed's real directory */
        char *adc;                      /* the ADC's syspath */
        struct iio_sensors_params params;
        struct iio_sensors *sensors;
        struct hal hal;
};

/* Downstream pressure: a 0.4..3.6 V transducer for 0..1000 mmHg on
 * voltage0. Plunger: a potentiometer across 3.3 V for 60 mm on voltage1. */
static const struct iio_sensor_params pressure_params = {
        .fitted = true,
        .device = "ads1015",
        .channel = "voltage0",
        .low_mv = 400, .low_value = 0,
        .high_mv = 3600, .high_value = 1000,
        .plausible_min = -100, .plausible_max = 1100,
};

static const struct iio_sensor_params plunger_params = {
        .fitted = true,
        .device = "ads1015",
        .channel = "voltage1",
        .low_mv = 0, .low_value = 0,
        .high_mv = 3300, .high_value = 60,
        .plausible_min = -1, .plausible_max = 61,
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        f->tb = umockdev_testbed_new();
        f->root = umockdev_testbed_get_root_dir(f->tb);
        f->params.sensor[HAL_SENSOR_PRESSURE_DOWNSTREAM] = pressure_params;
        f->params.sensor[HAL_SENSOR_PLUNGER_POSITION] = plunger_params;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        iio_sensors_free(f->sensors);
        g_free(f->adc);
        g_free(f->root);
        g_object_unref(f->tb);
        free(f);
        return 0;
}

/* An ADS1115 as its driver (named ads1015) shows it: per-channel raw,
 * scale and sampling_frequency. voltage1 has an offset, which the ADS1115
 * has not, so the optional attribute is exercised. */
static void add_adc(struct fixture *f) {
        f->adc = umockdev_testbed_add_device(f->tb, "iio", "iio:device0", NULL,
                                             "name", "ads1015\n",
                                             "in_voltage0_raw", "8000\n",
                                             "in_voltage0_scale", "0.125\n",
                                             "in_voltage0_sampling_frequency", "128\n",
                                             "in_voltage1_raw", "12000\n",
                                             "in_voltage1_scale", "0.125\n",
                                             "in_voltage1_offset", "-400\n",
                                             NULL,
                                             "DEVNAME", "/dev/iio:device0",
                                             NULL);
        assert_non_null(f->adc);
}

static char *attr_path(struct fixture *f, const char *name) {
        return g_build_filename(f->root, f->adc, name, NULL);
}

static void set_attr(struct fixture *f, const char *name, const char *value) {
        umockdev_testbed_set_attribute(f->tb, f->adc, name, value);
}

static void remove_attr(struct fixture *f, const char *name) {
        g_autofree char *path = attr_path(f, name);
        assert_int_equal(unlink(path), 0);
}

/* What the code wrote, up to the NUL libiio writes after the value. */
static char *read_attr(struct fixture *f, const char *name) {
        g_autofree char *path = attr_path(f, name);
        char *text = NULL;

        assert_true(g_file_get_contents(path, &text, NULL, NULL));
        return text;
}

static int open_sensors(struct fixture *f, enum hal_sensor *ret_failed) {
        int r = iio_sensors_new(&f->params, &f->sensors, ret_failed);
        if (r >= 0)
                iio_sensors_fill_hal(f->sensors, &f->hal);
        return r;
}

static int read_sensor(struct fixture *f, enum hal_sensor s, double *ret_value) {
        return f->hal.sensors->read(f->hal.sensors_ctx, s, ret_value);
}

static void assert_reads(struct fixture *f, enum hal_sensor s, double expected) {
        double v = UNTOUCHED;

        assert_int_equal(read_sensor(f, s, &v), 0);
        assert_float_equal(v, expected, 1e-9);
}

static void assert_read_fails(struct fixture *f, enum hal_sensor s, int expected) {
        double v = UNTOUCHED;

        assert_int_equal(read_sensor(f, s, &v), expected);
        assert_float_equal(v, UNTOUCHED, 0);
}

/* ---- the calibration alone ------------------------------------------ */

static void calibrate_maps_the_two_points_and_linearly_between(void **state) {
        assert_float_equal(iio_calibrate(&pressure_params, 400), 0, 1e-12);
        assert_float_equal(iio_calibrate(&pressure_params, 3600), 1000, 1e-12);
        assert_float_equal(iio_calibrate(&pressure_params, 2000), 500, 1e-12);
        assert_float_equal(iio_calibrate(&pressure_params, 1000), 187.5, 1e-12);
}

static void calibrate_extrapolates_beyond_the_points(void **state) {
        assert_float_equal(iio_calibrate(&pressure_params, 0), -125, 1e-12);
        assert_float_equal(iio_calibrate(&pressure_params, 4000), 1125, 1e-12);
}

static void calibrate_follows_a_falling_characteristic(void **state) {
        /* A potentiometer wired the other way round. */
        struct iio_sensor_params p = plunger_params;
        p.low_value = 60;
        p.high_value = 0;

        assert_float_equal(iio_calibrate(&p, 0), 60, 1e-12);
        assert_float_equal(iio_calibrate(&p, 3300), 0, 1e-12);
        assert_float_equal(iio_calibrate(&p, 825), 45, 1e-12);
}

/* ---- reads through libiio ------------------------------------------- */

static void read_gives_calibrated_pressure_and_position(void **state) {
        struct fixture *f = *state;

        add_adc(f);
        assert_int_equal(open_sensors(f, NULL), 0);

        /* 8000 * 0.125 = 1000 mV -> (1000 - 400) / 3.2 = 187.5 mmHg */
        assert_reads(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, 187.5);
        /* (12000 - 400) * 0.125 = 1450 mV -> 1450 / 55 mm: the offset
         * counts (without it, 27.27 mm) */
        assert_reads(f, HAL_SENSOR_PLUNGER_POSITION, 1450.0 * 60.0 / 3300.0);
}

static void shared_scale_applies_to_each_channel(void **state) {
        struct fixture *f = *state;

        /* The other drivers' layout: one in_voltage_scale for all. */
        f->adc = umockdev_testbed_add_device(f->tb, "iio", "iio:device0", NULL,
                                             "name", "ads1015\n",
                                             "in_voltage0_raw", "16000\n",
                                             "in_voltage1_raw", "24000\n",
                                             "in_voltage_scale", "0.0625\n",
                                             NULL,
                                             NULL);
        assert_int_equal(open_sensors(f, NULL), 0);

        assert_reads(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, 187.5);
        /* 1500 mV, no offset attribute: offset 0 */
        assert_reads(f, HAL_SENSOR_PLUNGER_POSITION, 1500.0 * 60.0 / 3300.0);

        set_attr(f, "in_voltage_scale", "0.125\n");
        assert_reads(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, 500);
}

static void changed_raw_shows_on_the_next_read(void **state) {
        struct fixture *f = *state;

        add_adc(f);
        assert_int_equal(open_sensors(f, NULL), 0);
        assert_reads(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, 187.5);

        set_attr(f, "in_voltage0_raw", "12000\n");
        assert_reads(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, 343.75);

        /* The gain changed under us: scale is read each time too. */
        set_attr(f, "in_voltage0_scale", "0.25\n");
        assert_reads(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, 812.5);

        set_attr(f, "in_voltage1_offset", "0\n");
        assert_reads(f, HAL_SENSOR_PLUNGER_POSITION, 1500.0 * 60.0 / 3300.0);
}

static void value_at_a_rail_is_out_of_range(void **state) {
        struct fixture *f = *state;

        add_adc(f);
        assert_int_equal(open_sensors(f, NULL), 0);

        /* Positive full scale, 4095.875 mV: 1154.96 mmHg, above 1100. */
        set_attr(f, "in_voltage0_raw", "32767\n");
        assert_read_fails(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, -ERANGE);

        /* A broken wire pulled to ground: -125 mmHg, below -100. */
        set_attr(f, "in_voltage0_raw", "0\n");
        assert_read_fails(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, -ERANGE);

        /* The bounds themselves are plausible. */
        set_attr(f, "in_voltage0_raw", "640\n");        /* 80 mV */
        assert_reads(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, -100);
        set_attr(f, "in_voltage0_raw", "31360\n");      /* 3920 mV */
        assert_reads(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, 1100);
        set_attr(f, "in_voltage0_raw", "31361\n");
        assert_read_fails(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, -ERANGE);

        /* A garbled scale gives NaN, which is no pressure either. */
        set_attr(f, "in_voltage0_scale", "nan\n");
        assert_read_fails(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, -ERANGE);
}

static void removed_attribute_fails_the_read(void **state) {
        struct fixture *f = *state;

        add_adc(f);
        assert_int_equal(open_sensors(f, NULL), 0);

        remove_attr(f, "in_voltage0_raw");
        assert_read_fails(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, -ENOENT);
        /* The other sensor on the same ADC still reads. */
        assert_reads(f, HAL_SENSOR_PLUNGER_POSITION, 1450.0 * 60.0 / 3300.0);

        /* It comes back: so does the sensor. */
        set_attr(f, "in_voltage0_raw", "8000\n");
        assert_reads(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, 187.5);

        remove_attr(f, "in_voltage0_scale");
        assert_read_fails(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, -ENOENT);

        /* An offset that was there at open is needed from then on. */
        remove_attr(f, "in_voltage1_offset");
        assert_read_fails(f, HAL_SENSOR_PLUNGER_POSITION, -ENOENT);
}

static void garbage_attribute_fails_the_read(void **state) {
        struct fixture *f = *state;

        add_adc(f);
        assert_int_equal(open_sensors(f, NULL), 0);

        set_attr(f, "in_voltage0_raw", "abc\n");
        assert_read_fails(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, -EINVAL);

        /* An empty file: what sysfs gives for a driver returning nothing. */
        set_attr(f, "in_voltage0_raw", "");
        assert_read_fails(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, -EIO);

        set_attr(f, "in_voltage0_raw", "8000\n");
        set_attr(f, "in_voltage0_scale", "x\n");
        assert_read_fails(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, -EINVAL);

        set_attr(f, "in_voltage1_offset", "?\n");
        assert_read_fails(f, HAL_SENSOR_PLUNGER_POSITION, -EINVAL);
}

static void unknown_device_is_enodev_naming_the_sensor(void **state) {
        struct fixture *f = *state;
        enum hal_sensor failed = HAL_SENSOR_BATTERY_VOLTAGE;

        add_adc(f);
        f->params.sensor[HAL_SENSOR_PLUNGER_POSITION].device = "ads7830";
        assert_int_equal(open_sensors(f, &failed), -ENODEV);
        assert_int_equal(failed, HAL_SENSOR_PLUNGER_POSITION);
        assert_null(f->sensors);
}

static void unknown_channel_is_enodev_naming_the_sensor(void **state) {
        struct fixture *f = *state;
        enum hal_sensor failed = HAL_SENSOR_BATTERY_VOLTAGE;

        add_adc(f);
        f->params.sensor[HAL_SENSOR_PRESSURE_DOWNSTREAM].channel = "voltage3";
        assert_int_equal(open_sensors(f, &failed), -ENODEV);
        assert_int_equal(failed, HAL_SENSOR_PRESSURE_DOWNSTREAM);
}

static void channel_without_scale_is_enodev(void **state) {
        struct fixture *f = *state;
        enum hal_sensor failed = HAL_SENSOR_BATTERY_VOLTAGE;

        f->adc = umockdev_testbed_add_device(f->tb, "iio", "iio:device0", NULL,
                                             "name", "ads1015\n",
                                             "in_voltage0_raw", "8000\n",
                                             "in_voltage0_scale", "0.125\n",
                                             "in_voltage1_raw", "12000\n",
                                             NULL,
                                             NULL);
        assert_int_equal(open_sensors(f, &failed), -ENODEV);
        assert_int_equal(failed, HAL_SENSOR_PLUNGER_POSITION);
}

static void sampling_frequency_is_written_at_open(void **state) {
        struct fixture *f = *state;
        g_autofree char *pressure_hz = NULL, *plunger_hz = NULL;

        add_adc(f);
        set_attr(f, "in_voltage1_sampling_frequency", "128\n");
        f->params.sensor[HAL_SENSOR_PRESSURE_DOWNSTREAM].sampling_frequency_hz = 860;
        assert_int_equal(open_sensors(f, NULL), 0);

        pressure_hz = read_attr(f, "in_voltage0_sampling_frequency");
        assert_string_equal(pressure_hz, "860");
        /* 0: the device's own rate is left alone. */
        plunger_hz = read_attr(f, "in_voltage1_sampling_frequency");
        assert_string_equal(plunger_hz, "128\n");
}

static void device_sampling_frequency_is_written_without_a_channel_one(void **state) {
        struct fixture *f = *state;
        g_autofree char *hz = NULL;

        f->adc = umockdev_testbed_add_device(f->tb, "iio", "iio:device0", NULL,
                                             "name", "ads1015\n",
                                             "in_voltage0_raw", "8000\n",
                                             "in_voltage0_scale", "0.125\n",
                                             "sampling_frequency", "100\n",
                                             NULL,
                                             NULL);
        f->params.sensor[HAL_SENSOR_PLUNGER_POSITION].fitted = false;
        f->params.sensor[HAL_SENSOR_PRESSURE_DOWNSTREAM].sampling_frequency_hz = 12.5;
        assert_int_equal(open_sensors(f, NULL), 0);

        hz = read_attr(f, "sampling_frequency");
        assert_float_equal(strtod(hz, NULL), 12.5, 0);
}

static void sampling_frequency_without_the_attribute_is_refused(void **state) {
        struct fixture *f = *state;
        enum hal_sensor failed = HAL_SENSOR_BATTERY_VOLTAGE;

        add_adc(f);
        f->params.sensor[HAL_SENSOR_PLUNGER_POSITION].sampling_frequency_hz = 128;
        assert_int_equal(open_sensors(f, &failed), -EOPNOTSUPP);
        assert_int_equal(failed, HAL_SENSOR_PLUNGER_POSITION);
}

static void unfitted_sensor_reads_enodev(void **state) {
        struct fixture *f = *state;

        add_adc(f);
        assert_int_equal(open_sensors(f, NULL), 0);

        assert_read_fails(f, HAL_SENSOR_PRESSURE_UPSTREAM, -ENODEV);
        assert_read_fails(f, HAL_SENSOR_BATTERY_VOLTAGE, -ENODEV);
        assert_read_fails(f, _HAL_SENSOR_MAX, -EINVAL);
}

static void nothing_fitted_needs_no_iio(void **state) {
        struct fixture *f = *state;

        /* No IIO device in this /sys at all. */
        f->params.sensor[HAL_SENSOR_PRESSURE_DOWNSTREAM].fitted = false;
        f->params.sensor[HAL_SENSOR_PLUNGER_POSITION].fitted = false;
        assert_int_equal(open_sensors(f, NULL), 0);
        assert_read_fails(f, HAL_SENSOR_PRESSURE_DOWNSTREAM, -ENODEV);
}

static void no_iio_in_the_kernel_fails_open(void **state) {
        struct fixture *f = *state;
        enum hal_sensor failed = HAL_SENSOR_BATTERY_VOLTAGE;

        /* No /sys/bus/iio: libiio 0.24 makes no context at all. */
        assert_int_equal(open_sensors(f, &failed), -ENOENT);
        assert_null(f->sensors);
        assert_int_equal(failed, _HAL_SENSOR_MAX);
}

static void bad_params_are_einval_naming_the_sensor(void **state) {
        struct fixture *f = *state;
        enum hal_sensor failed = HAL_SENSOR_BATTERY_VOLTAGE;
        struct iio_sensor_params *plunger = &f->params.sensor[HAL_SENSOR_PLUNGER_POSITION];

        add_adc(f);

        plunger->high_mv = plunger->low_mv;
        assert_int_equal(open_sensors(f, &failed), -EINVAL);
        assert_int_equal(failed, HAL_SENSOR_PLUNGER_POSITION);

        *plunger = plunger_params;
        plunger->plausible_min = plunger->plausible_max;
        failed = HAL_SENSOR_BATTERY_VOLTAGE;
        assert_int_equal(open_sensors(f, &failed), -EINVAL);
        assert_int_equal(failed, HAL_SENSOR_PLUNGER_POSITION);

        *plunger = plunger_params;
        plunger->channel = NULL;
        assert_int_equal(open_sensors(f, NULL), -EINVAL);

        *plunger = plunger_params;
        plunger->low_value = NAN;
        assert_int_equal(open_sensors(f, NULL), -EINVAL);

        *plunger = plunger_params;
        plunger->sampling_frequency_hz = -1;
        assert_int_equal(open_sensors(f, NULL), -EINVAL);
        assert_null(f->sensors);
}

static void fill_hal_sets_only_the_sensors(void **state) {
        struct fixture *f = *state;

        add_adc(f);
        f->hal.backend = "gpiod";
        assert_int_equal(open_sensors(f, NULL), 0);
        assert_string_equal(f->hal.backend, "gpiod");
        assert_ptr_equal(f->hal.sensors_ctx, f->sensors);
        assert_null(f->hal.drive);
        assert_null(f->hal.power);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(calibrate_maps_the_two_points_and_linearly_between),
                cmocka_unit_test(calibrate_extrapolates_beyond_the_points),
                cmocka_unit_test(calibrate_follows_a_falling_characteristic),
                cmocka_unit_test_setup_teardown(read_gives_calibrated_pressure_and_position, setup, teardown),
                cmocka_unit_test_setup_teardown(shared_scale_applies_to_each_channel, setup, teardown),
                cmocka_unit_test_setup_teardown(changed_raw_shows_on_the_next_read, setup, teardown),
                cmocka_unit_test_setup_teardown(value_at_a_rail_is_out_of_range, setup, teardown),
                cmocka_unit_test_setup_teardown(removed_attribute_fails_the_read, setup, teardown),
                cmocka_unit_test_setup_teardown(garbage_attribute_fails_the_read, setup, teardown),
                cmocka_unit_test_setup_teardown(unknown_device_is_enodev_naming_the_sensor, setup, teardown),
                cmocka_unit_test_setup_teardown(unknown_channel_is_enodev_naming_the_sensor, setup, teardown),
                cmocka_unit_test_setup_teardown(channel_without_scale_is_enodev, setup, teardown),
                cmocka_unit_test_setup_teardown(sampling_frequency_is_written_at_open, setup, teardown),
                cmocka_unit_test_setup_teardown(device_sampling_frequency_is_written_without_a_channel_one, setup, teardown),
                cmocka_unit_test_setup_teardown(sampling_frequency_without_the_attribute_is_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(unfitted_sensor_reads_enodev, setup, teardown),
                cmocka_unit_test_setup_teardown(nothing_fitted_needs_no_iio, setup, teardown),
                cmocka_unit_test_setup_teardown(no_iio_in_the_kernel_fails_open, setup, teardown),
                cmocka_unit_test_setup_teardown(bad_params_are_einval_naming_the_sensor, setup, teardown),
                cmocka_unit_test_setup_teardown(fill_hal_sets_only_the_sensors, setup, teardown),
        };

        /* Without the preload the testbed is not /sys: say so rather
         * than fail on the real machine's. */
        const char *preload = getenv("LD_PRELOAD");
        if (!preload || !strstr(preload, "libumockdev-preload")) {
                fprintf(stderr, "run under LD_PRELOAD=libumockdev-preload.so.0 (umockdev-wrapper)\n");
                return 77;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
