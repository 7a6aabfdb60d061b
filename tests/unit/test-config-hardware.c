/* SPDX-License-Identifier: MIT */
/* The [pump] device choices and the hardware sections of the config:
 * what a rig needs, and each mistake named by file, line and key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"

#define MECHANISM                                       \
        "[mechanism]\n"                                 \
        "lead_pitch_mm = 1\n"                           \
        "steps_per_rev = 200\n"                         \
        "microsteps = 16\n"                             \
        "syringe_inner_diameter_mm = 26.6\n"            \
        "syringe_volume_ml = 60\n"                      \
        "[database]\n"                                  \
        "path = history.db\n"

/* What every rig must have beside its drive and pressure sensor: the
 * air detector and a buzzer (power defaults to sysfs, which needs no
 * section). 6 lines. */
#define IO                                              \
        "[inputs]\n"                                    \
        "chip = gpiochip1\n"                            \
        "air_detector_line = 5\n"                       \
        "[outputs]\n"                                   \
        "chip = gpiochip1\n"                            \
        "buzzer_line = 6\n"

/* A rig with a stepper, one pressure sensor, the air detector and a
 * buzzer. [pump] is lines 1-6, [stepper] 7-12, mechanism and database
 * 13-20, inputs and outputs 21-26, [pressure_downstream] 27-33. */
#define RIG                                             \
        "[pump]\n"                                      \
        "backend = rig\n"                               \
        "inputs = gpiod\n"                              \
        "outputs = gpiod\n"                             \
        "power = sysfs\n"                               \
        "drive = stepper\n"                             \
        "[stepper]\n"                                   \
        "chip = gpiochip0\n"                            \
        "driver = drv8825\n"                            \
        "step_line = 20\n"                              \
        "dir_line = 21\n"                               \
        "enable_line = 16\n"                            \
        MECHANISM                                       \
        IO                                              \
        "[pressure_downstream]\n"                       \
        "device = ads1115\n"                            \
        "channel = voltage0\n"                          \
        "low_mv = 333\n"                                \
        "low_mmhg = 0\n"                                \
        "high_mv = 3000\n"                              \
        "high_mmhg = 1551\n"

static int load(const char *text, struct config **ret, char **ret_err) {
        char *buf = NULL;
        size_t size = 0;
        FILE *err = open_memstream(&buf, &size);
        assert_non_null(err);
        int r = config_load_string("t.conf", text, err, ret);
        assert_int_equal(fclose(err), 0);
        *ret_err = buf;
        return r;
}

static void assert_refused(const char *text, const char *expected_err) {
        struct config *c = NULL;
        char *err;
        assert_int_equal(load(text, &c, &err), -EINVAL);
        assert_null(c);
        assert_string_equal(err, expected_err);
        free(err);
}

static struct config *assert_loads(const char *text) {
        struct config *c = NULL;
        char *err;
        int r = load(text, &c, &err);
        assert_string_equal(err, "");
        assert_int_equal(r, 0);
        free(err);
        return c;
}

static struct config *load_example(const char *file) {
        const char *dir = getenv("CONFIG_DIR");
        char *path, *err = NULL;
        size_t size = 0;
        struct config *c = NULL;

        assert_non_null(dir);
        assert_true(asprintf(&path, "%s/%s", dir, file) > 0);
        FILE *f = open_memstream(&err, &size);
        int r = config_load(path, f, &c);
        fclose(f);
        assert_string_equal(err, "");
        assert_int_equal(r, 0);
        free(err);
        free(path);
        return c;
}

static void a_sim_backend_resolves_every_device_to_sim(void **state) {
        struct config *c = assert_loads("[pump]\nbackend = sim\n" MECHANISM);
        assert_string_equal(c->drive, "sim");
        assert_string_equal(c->sensors, "sim");
        assert_string_equal(c->inputs, "sim");
        assert_string_equal(c->outputs, "sim");
        assert_string_equal(c->power, "sim");
        for (int i = 0; i < _HAL_SENSOR_MAX; i++)
                assert_false(c->sensor[i].fitted);
        config_free(c);
}

static void a_rig_resolves_auto_to_real_devices(void **state) {
        /* Everything left to auto: each device's section is then required. */
        assert_refused("[pump]\nbackend = rig\n" MECHANISM,
                       "t.conf: [stepper] chip: missing (required)\n"
                       "t.conf: [stepper] driver: missing (required)\n"
                       "t.conf: [stepper] step_line: missing (required)\n"
                       "t.conf: [stepper] dir_line: missing (required)\n"
                       "t.conf: [stepper] enable_line: missing (required)\n"
                       "t.conf: [inputs] chip: missing (required)\n"
                       "t.conf: [outputs] chip: missing (required)\n"
                       "t.conf: [inputs]: air_detector_line not set (required: air in the line must stop the pump)\n"
                       "t.conf: [outputs]: no buzzer (set buzzer_line or buzzer_pwm_chip: an alarm must be heard)\n"
                       "t.conf: [pressure_downstream]: missing (required with sensors = iio: "
                       "occlusion detection reads it)\n");
}

static void the_minimal_rig_loads_with_its_defaults(void **state) {
        struct config *c = assert_loads(RIG);
        assert_string_equal(c->backend, "rig");
        assert_string_equal(c->drive, "stepper");
        assert_string_equal(c->sensors, "iio");
        assert_string_equal(c->stepper.chip, "gpiochip0");
        assert_string_equal(c->stepper.driver, "drv8825");
        assert_int_equal(c->stepper.step_line, 20);
        assert_int_equal(c->stepper.ms_line[0], -1);
        assert_true(c->stepper.enable_active_low);
        assert_false(c->stepper.step_active_low);
        assert_int_equal(c->stepper.step_pulse_us, 2);
        assert_true(c->sensor[HAL_SENSOR_PRESSURE_DOWNSTREAM].fitted);
        assert_false(c->sensor[HAL_SENSOR_PLUNGER_POSITION].fitted);
        assert_float_equal(c->sensor[HAL_SENSOR_PRESSURE_DOWNSTREAM].high_value, 1551, 0);
        assert_float_equal(c->sensor[HAL_SENSOR_PRESSURE_DOWNSTREAM].plausible_min, -100, 0);
        config_free(c);
}

static void the_example_rigs_load(void **state) {
        struct config *c = load_example("rpi-stepper.conf");
        assert_string_equal(c->backend, "rig");
        assert_string_equal(c->stepper.driver, "drv8825");
        assert_int_equal(c->stepper.ms_line[2], 13);
        assert_int_equal(c->input[HAL_INPUT_PCA_BUTTON].line, 17);
        assert_true(c->input[HAL_INPUT_PCA_BUTTON].active_low);
        assert_int_equal(c->output[HAL_OUTPUT_BUZZER].line, -1);
        assert_string_equal(c->buzzer_pwm_chip, "pwmchip0");
        assert_true(c->sensor[HAL_SENSOR_BATTERY_VOLTAGE].fitted);
        assert_false(c->sensor[HAL_SENSOR_PRESSURE_UPSTREAM].fitted);
        assert_string_equal(c->power, "iio");
        assert_int_equal(c->debounce_us, 20000);
        config_free(c);

        c = load_example("beaglebone.conf");
        assert_string_equal(c->stepper.driver, "tmc2209");
        assert_string_equal(c->stepper.chip, "gpiochip1");
        assert_true(c->sensor[HAL_SENSOR_PRESSURE_UPSTREAM].fitted);
        assert_string_equal(c->power, "sysfs");
        assert_string_equal(c->power_battery, "BAT0");
        config_free(c);
}

static void a_device_the_backend_cannot_have_is_refused(void **state) {
        assert_refused("[pump]\nbackend = rig\ndrive = sim\n"
                       MECHANISM IO "[pressure_downstream]\ndevice = a\nchannel = voltage0\n"
                       "low_mv = 0\nlow_mmhg = 0\nhigh_mv = 1\nhigh_mmhg = 1\n",
                       "t.conf:3: drive: \"sim\" needs backend = sim (a rig has no model to simulate)\n");
        assert_refused("[pump]\nbackend = sim\ndrive = stepper\n" MECHANISM,
                       "t.conf:3: drive: \"stepper\" needs backend = rig (the sim backend drives its own model)\n");
        assert_refused("[pump]\nbackend = sim\nsensors = gpiod\n" MECHANISM,
                       "t.conf:3: sensors: \"gpiod\" is not allowed (allowed: auto, sim, iio)\n");
}

static void a_section_its_device_does_not_use_is_refused(void **state) {
        assert_refused("[pump]\nbackend = sim\n" MECHANISM "[stepper]\nchip = gpiochip0\n",
                       "t.conf:11: [stepper]: not used with this [pump] (it is read only with drive = stepper): "
                       "remove it or change drive\n");
        assert_refused("[pump]\nbackend = sim\n" MECHANISM "[plunger_position]\ndevice = x\n",
                       "t.conf:11: [plunger_position]: not used with this [pump] (it is read only with "
                       "sensors = iio): remove it or change sensors\n");
        assert_refused(RIG "[simulation]\nseed = 3\n",
                       "t.conf:34: [simulation]: not used with this [pump] (it is read only with backend = sim): "
                       "remove it or change backend\n");
}

static void a_line_used_twice_is_refused_naming_both(void **state) {
        assert_refused("[pump]\nbackend = rig\ndrive = stepper\n"
                       "[stepper]\nchip = gpiochip0\ndriver = drv8825\nstep_line = 20\ndir_line = 21\nenable_line = 16\n"
                       MECHANISM "[pressure_downstream]\ndevice = a\nchannel = voltage0\n"
                       "low_mv = 0\nlow_mmhg = 0\nhigh_mv = 1\nhigh_mmhg = 1\n"
                       "[inputs]\nchip = gpiochip0\npca_button_line = 21\nair_detector_line = 5\n"
                       "[outputs]\nchip = gpiochip1\nbuzzer_line = 6\n",
                       "t.conf:27: pca_button_line: line 21 of gpiochip0 is also [stepper] dir_line\n");
        /* The same offset on another chip is another line. */
        struct config *c = assert_loads(
                "[pump]\nbackend = rig\ndrive = stepper\n"
                "[stepper]\nchip = gpiochip0\ndriver = drv8825\nstep_line = 20\ndir_line = 21\nenable_line = 16\n"
                MECHANISM "[pressure_downstream]\ndevice = a\nchannel = voltage0\n"
                "low_mv = 0\nlow_mmhg = 0\nhigh_mv = 1\nhigh_mmhg = 1\n"
                "[inputs]\nchip = gpiochip1\npca_button_line = 21\nair_detector_line = 5\n"
                "[outputs]\nchip = gpiochip1\nbuzzer_line = 6\n");
        config_free(c);
}

static void microstep_lines_are_wired_from_ms1_up(void **state) {
        assert_refused(RIG "[stepper]\nms2_line = 6\n",
                       "t.conf:35: ms2_line: set, but ms1_line is not (wire the microstep lines from ms1 up)\n");
}

static void microsteps_must_be_the_drivers_when_the_daemon_sets_them(void **state) {
        /* RIG's [mechanism] has microsteps = 16 (line 16): the DRV8825 has
         * it, the TMC2209 too; 3 MS lines for a TMC2209 is one too many. */
        struct config *c = assert_loads(RIG "[stepper]\nms1_line = 5\nms2_line = 6\nms3_line = 13\n");
        config_free(c);
        assert_refused(RIG "[stepper]\nms1_line = 5\nms2_line = 6\n",
                       "t.conf:36: [stepper]: 2 microstep lines wired, the drv8825 has 3 (wire all of them, or none "
                       "and strap the pins)\n");
        char text[4096];
        snprintf(text, sizeof(text), "%s", RIG "[stepper]\nms1_line = 5\nms2_line = 6\nms3_line = 13\n");
        char *m = strstr(text, "microsteps = 16");
        assert_non_null(m);
        memcpy(m, "microsteps = 64", 15);
        assert_refused(text, "t.conf:16: microsteps: 64 is not a setting of the drv8825 (it has 1, 2, 4, 8, 16, 32)\n");
        /* Strapped: no lines, the board decides. */
        snprintf(text, sizeof(text), "%s", RIG);
        m = strstr(text, "microsteps = 16");
        memcpy(m, "microsteps = 64", 15);
        c = assert_loads(text);
        config_free(c);
}

static void a_sensor_needs_two_calibration_points_and_a_range(void **state) {
        assert_refused(RIG "high_mv = 333\n",
                       "t.conf:34: high_mv: duplicate (first set on line 32)\n");
        assert_refused("[pump]\nbackend = rig\n"
                       "[stepper]\nchip = gpiochip0\ndriver = drv8825\nstep_line = 20\ndir_line = 21\nenable_line = 16\n"
                       MECHANISM IO "[pressure_downstream]\ndevice = a\nchannel = voltage0\n"
                       "low_mv = 500\nlow_mmhg = 0\nhigh_mv = 500\nhigh_mmhg = 1\n"
                       "plausible_min_mmhg = 10\nplausible_max_mmhg = 10\n",
                       "t.conf:28: high_mv: equal to low_mv (500 mV): two different calibration points are needed\n"
                       "t.conf:31: plausible_max_mmhg: 10 is not above plausible_min_mmhg (10)\n");
        assert_refused("[pump]\nbackend = rig\n"
                       "[stepper]\nchip = gpiochip0\ndriver = drv8825\nstep_line = 20\ndir_line = 21\nenable_line = 16\n"
                       MECHANISM IO "[pressure_downstream]\ndevice = a\nchannel = voltage0\n",
                       "t.conf: [pressure_downstream] low_mv: missing (required)\n"
                       "t.conf: [pressure_downstream] low_mmhg: missing (required)\n"
                       "t.conf: [pressure_downstream] high_mv: missing (required)\n"
                       "t.conf: [pressure_downstream] high_mmhg: missing (required)\n");
}

static void a_buzzer_is_a_line_or_a_pwm_channel_not_both(void **state) {
        const char *text =
                "[pump]\nbackend = rig\ndrive = stepper\n"
                "[stepper]\nchip = gpiochip0\ndriver = drv8825\nstep_line = 20\ndir_line = 21\nenable_line = 16\n"
                MECHANISM "[pressure_downstream]\ndevice = a\nchannel = voltage0\n"
                "low_mv = 0\nlow_mmhg = 0\nhigh_mv = 1\nhigh_mmhg = 1\n"
                "[inputs]\nchip = gpiochip1\nair_detector_line = 5\n"
                "[outputs]\nchip = gpiochip0\nbuzzer_line = 4\nbuzzer_pwm_chip = pwmchip0\n";
        assert_refused(text, "t.conf:31: buzzer_pwm_chip: set, and buzzer_line too (the buzzer is one or the other)\n");
}

static void power_from_the_adc_needs_the_battery_channel_and_a_good_table(void **state) {
        assert_refused("[pump]\nbackend = rig\npower = iio\ndrive = stepper\n"
                       "[stepper]\nchip = gpiochip0\ndriver = drv8825\nstep_line = 20\ndir_line = 21\nenable_line = 16\n"
                       MECHANISM IO "[pressure_downstream]\ndevice = a\nchannel = voltage0\n"
                       "low_mv = 0\nlow_mmhg = 0\nhigh_mv = 1\nhigh_mmhg = 1\n",
                       "t.conf:3: power: \"iio\" reads [battery_voltage], which needs sensors = iio and that section\n");
        char *err;
        struct config *c = NULL;
        int r = load("[pump]\nbackend = rig\npower = sysfs\ndrive = stepper\n"
                     "[stepper]\nchip = gpiochip0\ndriver = drv8825\nstep_line = 20\ndir_line = 21\nenable_line = 16\n"
                     MECHANISM IO "[pressure_downstream]\ndevice = a\nchannel = voltage0\n"
                     "low_mv = 0\nlow_mmhg = 0\nhigh_mv = 1\nhigh_mmhg = 1\n"
                     "[power]\ndischarge_table = 3.3:0 4.2:100\n", &c, &err);
        assert_int_equal(r, -EINVAL);
        assert_null(c);
        /* The reason comes from the table parser; the place from us. */
        assert_non_null(strstr(err, "t.conf:33: discharge_table: "));
        assert_non_null(strstr(err, "(expected: \"VOLTS:PERCENT ...\""));
        free(err);
}

static void an_empty_name_is_refused(void **state) {
        assert_refused("[pump]\nbackend = rig\n"
                       "[stepper]\nchip =\ndriver = drv8825\nstep_line = 20\ndir_line = 21\nenable_line = 16\n"
                       MECHANISM IO "[pressure_downstream]\ndevice = a\nchannel = voltage0\n"
                       "low_mv = 0\nlow_mmhg = 0\nhigh_mv = 1\nhigh_mmhg = 1\n",
                       "t.conf:4: chip: empty (required: a name)\n");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(a_sim_backend_resolves_every_device_to_sim),
                cmocka_unit_test(a_rig_resolves_auto_to_real_devices),
                cmocka_unit_test(the_minimal_rig_loads_with_its_defaults),
                cmocka_unit_test(the_example_rigs_load),
                cmocka_unit_test(a_device_the_backend_cannot_have_is_refused),
                cmocka_unit_test(a_section_its_device_does_not_use_is_refused),
                cmocka_unit_test(a_line_used_twice_is_refused_naming_both),
                cmocka_unit_test(microstep_lines_are_wired_from_ms1_up),
                cmocka_unit_test(microsteps_must_be_the_drivers_when_the_daemon_sets_them),
                cmocka_unit_test(a_sensor_needs_two_calibration_points_and_a_range),
                cmocka_unit_test(a_buzzer_is_a_line_or_a_pwm_channel_not_both),
                cmocka_unit_test(power_from_the_adc_needs_the_battery_channel_and_a_good_table),
                cmocka_unit_test(an_empty_name_is_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
