/* SPDX-License-Identifier: MIT */
#include "daemon/rig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"
#include "common/macros.h"
#include "hal/power-sysfs.h"
#include "hal/pwm-sysfs.h"
#if HAVE_LIBGPIOD
#include "hal/dc-drive.h"
#include "hal/gpiod-io.h"
#include "hal/gpiod-stepper.h"
#endif
#if HAVE_LIBIIO
#include "hal/iio-sensors.h"
#endif

#define NS_PER_SEC 1000000000LL

struct rig {
#if HAVE_LIBGPIOD
        struct gpiod_stepper *stepper;
        struct dc_drive *dc;
        struct gpiod_io *inputs, *outputs;
#endif
#if HAVE_LIBIIO
        struct iio_sensors *sensors;
#endif
        struct power_sysfs *power;
        struct power_voltage *power_voltage;

        /* A PWM buzzer beside GPIO outputs: set() routes the buzzer here
         * and everything else to the GPIO outputs it replaced. */
        struct pwm_sysfs *buzzer;
        const struct hal_outputs_ops *gpio_outputs;
        void *gpio_outputs_ctx;

        char describe[96];
};

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errsz, int r, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        vsnprintf(err, errsz, format, ap);
        va_end(ap);
        return r;
}

#if HAVE_LIBGPIOD
/* "stepper: cannot open GPIO chip "gpiochip0": No such file or directory":
 * the part, what was done to it, and the errno's words. */
static int gpio_fail(char *err, size_t errsz, int r, const char *device, const char *what, const char *chip) {
        if (!what || streq(what, "chip"))
                return fail(err, errsz, r, "%s: cannot open GPIO chip \"%s\": %s%s", device, chip, strerror(-r),
                            r == -ENOENT ? " (gpiodetect lists the chips there are)" : "");
        return fail(err, errsz, r, "%s: cannot request the %s on GPIO chip \"%s\": %s%s", device, what, chip,
                    strerror(-r), r == -EBUSY ? " (gpioinfo shows who holds it)" : "");
}
#endif

static int buzzer_output_set(void *ctx, enum hal_output o, bool on) {
        struct rig *r = ctx;
        if (o == HAL_OUTPUT_BUZZER)
                return pwm_sysfs_enable(r->buzzer, on);
        if (!r->gpio_outputs)
                return -ENODEV;
        return r->gpio_outputs->set(r->gpio_outputs_ctx, o, on);
}

static const struct hal_outputs_ops buzzer_outputs_ops = {
        .set = buzzer_output_set,
};

static int open_drive(struct rig *r, const struct config *cfg, struct hal *h, char *err, size_t errsz) {
        if (streq(cfg->drive, "sim"))
                return 0;
#if HAVE_LIBGPIOD
        const char *what = NULL;
        int k;

        if (streq(cfg->drive, "stepper")) {
                const struct config_stepper *c = &cfg->stepper;
                struct gpiod_stepper_params sp = {
                        .chip = c->chip,
                        .step_line = (unsigned) c->step_line,
                        .dir_line = (unsigned) c->dir_line,
                        .enable_line = (unsigned) c->enable_line,
                        .step_active_low = c->step_active_low,
                        .enable_active_low = c->enable_active_low,
                        .dir_forward_high = c->dir_forward_high,
                        .microsteps = (unsigned) cfg->geometry.microsteps,
                        .step_pulse_us = (unsigned) c->step_pulse_us,
                        .step_low_us = (unsigned) c->step_low_us,
                        .dir_setup_us = (unsigned) c->dir_setup_us,
                };
                if (stepper_driver_from_string(c->driver, &sp.driver) < 0)
                        return fail(err, errsz, -EINVAL, "stepper: unknown driver \"%s\"", c->driver);
                for (int i = 0; i < GPIOD_STEPPER_MS_LINES_MAX && c->ms_line[i] >= 0; i++)
                        sp.ms_lines[sp.n_ms_lines++] = (unsigned) c->ms_line[i];
                k = gpiod_stepper_new(&sp, &r->stepper, &what);
                if (k < 0)
                        return gpio_fail(err, errsz, k, "stepper", what, c->chip);
                gpiod_stepper_fill_hal(r->stepper, h);
                return 0;
        }

        const struct config_dc_motor *c = &cfg->dc_motor;
        struct dc_drive_params dp = {
                .pwm_chip = c->pwm_chip,
                .pwm_channel = (unsigned) c->pwm_channel,
                .pwm_period_ns = NS_PER_SEC / c->pwm_frequency_hz,
                .max_duty_pct = c->max_duty_pct,
                .kp_pct_per_count = c->kp_pct_per_count,
                .ki_pct_per_count_s = c->ki_pct_per_count_s,
                .gpio_chip = c->chip,
                .dir_line = (unsigned) c->dir_line,
                .dir_forward_high = c->dir_forward_high,
                .encoder_line = (unsigned) c->encoder_line,
        };
        k = dc_drive_new(&dp, &r->dc, &what);
        if (k < 0 && what && strstr(what, "pwm"))
                return fail(err, errsz, k, "DC motor: PWM %s channel %u: %s", dp.pwm_chip, dp.pwm_channel,
                            strerror(-k));
        if (k < 0)
                return gpio_fail(err, errsz, k, "DC motor", what, c->chip);
        dc_drive_fill_hal(r->dc, h);
        return 0;
#else
        return fail(err, errsz, -EOPNOTSUPP, "drive = %s: this infusiond was built without libgpiod", cfg->drive);
#endif
}

static int open_sensors(struct rig *r, const struct config *cfg, struct hal *h, char *err, size_t errsz) {
        if (streq(cfg->sensors, "sim"))
                return 0;
#if HAVE_LIBIIO
        struct iio_sensors_params ip = {};
        for (int i = 0; i < _HAL_SENSOR_MAX; i++) {
                const struct config_sensor *c = &cfg->sensor[i];
                ip.sensor[i] = (struct iio_sensor_params) {
                        .fitted = c->fitted,
                        .device = c->device,
                        .channel = c->channel,
                        .low_mv = c->low_mv,
                        .low_value = c->low_value,
                        .high_mv = c->high_mv,
                        .high_value = c->high_value,
                        .plausible_min = c->plausible_min,
                        .plausible_max = c->plausible_max,
                        .sampling_frequency_hz = c->sampling_frequency_hz,
                };
        }
        enum hal_sensor failed = _HAL_SENSOR_MAX;
        int k = iio_sensors_new(&ip, &r->sensors, &failed);
        if (k < 0) {
                if (failed == _HAL_SENSOR_MAX)
                        return fail(err, errsz, k, "IIO: cannot create the local context: %s", strerror(-k));
                return fail(err, errsz, k, "%s sensor (IIO device \"%s\" channel \"%s\"): %s",
                            hal_sensor_to_string(failed), cfg->sensor[failed].device, cfg->sensor[failed].channel,
                            k == -ENODEV ? "not found" : strerror(-k));
        }
        iio_sensors_fill_hal(r->sensors, h);
        return 0;
#else
        return fail(err, errsz, -EOPNOTSUPP, "sensors = iio: this infusiond was built without libiio");
#endif
}

#if HAVE_LIBGPIOD
static void io_params(struct gpiod_io_params *ip, const char *chip, const struct config_gpio_line *lines,
                      size_t n, bool inputs, int64_t debounce_us) {
        *ip = (struct gpiod_io_params) { .chip = chip, .debounce_us = debounce_us };
        for (size_t i = 0; i < n; i++) {
                struct gpiod_line_params lp = {
                        .fitted = lines[i].line >= 0,
                        .line = lines[i].line >= 0 ? (unsigned) lines[i].line : 0,
                        .active_low = lines[i].active_low,
                };
                if (inputs)
                        ip->inputs[i] = lp;
                else
                        ip->outputs[i] = lp;
        }
}
#endif

static int open_io(struct rig *r, const struct config *cfg, struct hal *h, char *err, size_t errsz) {
        if (!streq(cfg->inputs, "gpiod") && !streq(cfg->outputs, "gpiod"))
                return 0;
#if HAVE_LIBGPIOD
        struct gpiod_io_params ip;
        const char *what = NULL;
        int k;

        if (streq(cfg->inputs, "gpiod")) {
                io_params(&ip, cfg->inputs_chip, cfg->input, _HAL_INPUT_MAX, true, cfg->debounce_us);
                k = gpiod_io_new(&ip, &r->inputs, &what);
                if (k < 0)
                        return gpio_fail(err, errsz, k, "inputs", what ? what : "chip", cfg->inputs_chip);
                gpiod_io_fill_hal(r->inputs, h);
        }
        if (streq(cfg->outputs, "gpiod")) {
                io_params(&ip, cfg->outputs_chip, cfg->output, _HAL_OUTPUT_MAX, false, 0);
                bool any_line = false;
                for (int i = 0; i < _HAL_OUTPUT_MAX; i++)
                        any_line = any_line || ip.outputs[i].fitted;
                if (any_line) {
                        k = gpiod_io_new(&ip, &r->outputs, &what);
                        if (k < 0)
                                return gpio_fail(err, errsz, k, "outputs", what ? what : "chip", cfg->outputs_chip);
                        gpiod_io_fill_hal(r->outputs, h);
                } else
                        h->outputs = NULL, h->outputs_ctx = NULL;
        }
        return 0;
#else
        return fail(err, errsz, -EOPNOTSUPP, "inputs/outputs = gpiod: this infusiond was built without libgpiod");
#endif
}

static int open_buzzer(struct rig *r, const struct config *cfg, struct hal *h, char *err, size_t errsz) {
        if (!streq(cfg->outputs, "gpiod") || !cfg->buzzer_pwm_chip || !cfg->buzzer_pwm_chip[0])
                return 0;
        int64_t period_ns = NS_PER_SEC / cfg->buzzer_tone_hz;
        int k = pwm_sysfs_open(cfg->buzzer_pwm_chip, (unsigned) cfg->buzzer_pwm_channel, period_ns, false, &r->buzzer);
        if (k >= 0)
                k = pwm_sysfs_set_duty_ns(r->buzzer, period_ns / 2);    /* a square wave: the loudest tone */
        if (k < 0)
                return fail(err, errsz, k, "buzzer (PWM %s channel %" PRIi64 "): %s", cfg->buzzer_pwm_chip,
                            cfg->buzzer_pwm_channel, strerror(-k));
        r->gpio_outputs = h->outputs;
        r->gpio_outputs_ctx = h->outputs_ctx;
        h->outputs = &buzzer_outputs_ops;
        h->outputs_ctx = r;
        return 0;
}

static int open_power(struct rig *r, const struct config *cfg, struct hal *h, char *err, size_t errsz) {
        int k;

        if (streq(cfg->power, "sysfs")) {
                struct power_sysfs_params pp = {
                        .battery = cfg->power_battery[0] ? cfg->power_battery : NULL,
                        .mains = cfg->power_mains[0] ? cfg->power_mains : NULL,
                        .runtime_min = cfg->power_runtime_min,
                };
                k = power_sysfs_new(&pp, &r->power);
                if (k == -ENODEV)
                        return fail(err, errsz, k, "power supply: %s%s%s%s not found in /sys/class/power_supply",
                                    pp.battery ? "battery \"" : "a supply of type Battery",
                                    pp.battery ? pp.battery : "", pp.battery ? "\"" : "",
                                    pp.mains ? " or the mains supply named in [power] mains" : "");
                if (k < 0)
                        return fail(err, errsz, k, "power supply: %s", strerror(-k));
                power_sysfs_fill_hal(r->power, h);
        } else if (streq(cfg->power, "iio")) {
                struct power_table t;
                const char *why = NULL;
                k = power_table_parse(cfg->power_discharge_table, &t, &why);
                if (k >= 0)
                        k = power_voltage_new(h->sensors, h->sensors_ctx, &t, cfg->power_runtime_min, &r->power_voltage);
                if (k < 0)
                        return fail(err, errsz, k, "power (battery voltage table): %s", why ? why : strerror(-k));
                power_voltage_fill_hal(r->power_voltage, h);
        }
        return 0;
}

int rig_open(const struct config *cfg, struct hal *h, struct rig **ret, char *err, size_t errsz) {
        _cleanup_(freep) struct rig *r = calloc(1, sizeof(*r));
        int k;

        if (!r)
                return fail(err, errsz, -ENOMEM, "out of memory");

        /* Sensors before power: the voltage fallback reads through them. */
        k = open_drive(r, cfg, h, err, errsz);
        if (k >= 0)
                k = open_sensors(r, cfg, h, err, errsz);
        if (k >= 0)
                k = open_io(r, cfg, h, err, errsz);
        if (k >= 0)
                k = open_buzzer(r, cfg, h, err, errsz);
        if (k >= 0)
                k = open_power(r, cfg, h, err, errsz);
        if (k < 0) {
                rig_close(TAKE_PTR(r));
                return k;
        }

        snprintf(r->describe, sizeof(r->describe), "%s, drive %s, sensors %s, inputs %s, outputs %s, power %s",
                 cfg->backend, cfg->drive, cfg->sensors, cfg->inputs, cfg->outputs, cfg->power);
        *ret = TAKE_PTR(r);
        return 0;
}

struct rig *rig_close(struct rig *r) {
        if (!r)
                return NULL;
#if HAVE_LIBGPIOD
        /* The drive first: the motor is off before anything else goes. */
        gpiod_stepper_free(r->stepper);
        dc_drive_free(r->dc);
        gpiod_io_free(r->outputs);
        gpiod_io_free(r->inputs);
#endif
        pwm_sysfs_close(r->buzzer);
        /* The voltage fallback reads through the sensors: it goes first. */
        power_voltage_free(r->power_voltage);
#if HAVE_LIBIIO
        iio_sensors_free(r->sensors);
#endif
        power_sysfs_free(r->power);
        free(r);
        return NULL;
}

const char *rig_describe(const struct rig *r) {
        return r ? r->describe : "sim";
}
