/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "config/config-keys.h"
#include "config/parser.h"
#include "hal/power-sysfs.h"
#include "hal/stepper-driver.h"

/* The device keys of [pump] and what a rig implies for "auto". */
static const struct device_key {
        int key;
        const char *rig_default;
} device_keys[] = {
        { KEY_DRIVE,   "stepper" },
        { KEY_SENSORS, "iio" },
        { KEY_INPUTS,  "gpiod" },
        { KEY_OUTPUTS, "gpiod" },
        { KEY_POWER,   "sysfs" },
};

/* The [pump] choice each section belongs to: it is read when key has one
 * of values (a sensor's also only when it is in the file). A section
 * without an entry is always read. */
static const struct section_use {
        int key;
        const char *values[2];
        bool only_if_written;
} section_uses[_SECTION_MAX] = {
        [SECTION_SIMULATION]          = { KEY_BACKEND, { "sim" } },
        [SECTION_STEPPER]             = { KEY_DRIVE, { "stepper" } },
        [SECTION_DC_MOTOR]            = { KEY_DRIVE, { "dc-motor" } },
        [SECTION_INPUTS]              = { KEY_INPUTS, { "gpiod" } },
        [SECTION_OUTPUTS]             = { KEY_OUTPUTS, { "gpiod" } },
        [SECTION_PRESSURE_DOWNSTREAM] = { KEY_SENSORS, { "iio" }, true },
        [SECTION_PRESSURE_UPSTREAM]   = { KEY_SENSORS, { "iio" }, true },
        [SECTION_PLUNGER_POSITION]    = { KEY_SENSORS, { "iio" }, true },
        [SECTION_BATTERY_VOLTAGE]     = { KEY_SENSORS, { "iio" }, true },
        [SECTION_POWER]               = { KEY_POWER, { "sysfs", "iio" } },
};

static char **device_field(struct config *c, int key) {
        return (char **) ((uint8_t *) c + config_keys[key].offset);
}

/* A choice refused already counts as none: what it would need is moot. */
static const char *device(const struct parser *p, int key) {
        const char *v = *device_field(p->config, key);
        return v && p->key_ok[key] ? v : "";
}

void config_resolve_devices(struct parser *p) {
        struct config *c = p->config;

        if (!p->key_ok[KEY_BACKEND])
                return;
        bool rig = streq(c->backend, "rig");

        for (size_t i = 0; i < ELEMENTSOF(device_keys); i++) {
                int k = device_keys[i].key;
                char **field = device_field(c, k);

                if (!p->key_ok[k] || !*field)
                        continue;
                if (streq(*field, "auto")) {
                        char *s = strdup(rig ? device_keys[i].rig_default : "sim");
                        if (!s) {
                                p->out_of_memory = true;
                                return;
                        }
                        free(*field);
                        *field = s;
                        continue;
                }
                if (rig && streq(*field, "sim")) {
                        config_report(p, p->key_line[k],
                                      "%s: \"sim\" needs backend = sim (a rig has no model to simulate)",
                                      config_keys[k].name);
                        p->key_ok[k] = false;
                }
                /* The model's line and sensors follow its own plunger: a
                 * real motor beside it would leave the model behind. */
                if (!rig && k == KEY_DRIVE && !streq(*field, "sim")) {
                        config_report(p, p->key_line[k],
                                      "drive: \"%s\" needs backend = rig (the sim backend drives its own model)",
                                      *field);
                        p->key_ok[k] = false;
                }
        }
}

bool config_section_in_use(const struct parser *p, int section) {
        const struct section_use *u = &section_uses[section];

        if (!u->values[0])
                return true;
        if (u->only_if_written && p->section_line[section] == 0)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(u->values) && u->values[i]; i++)
                if (streq(device(p, u->key), u->values[i]))
                        return true;
        return false;
}

static void check_unused_sections(struct parser *p) {
        for (int s = 0; s < _SECTION_MAX; s++) {
                const struct section_use *u = &section_uses[s];

                if (p->section_line[s] == 0 || config_section_in_use(p, s))
                        continue;
                /* Only report what is certain: a bad [pump] value was reported already. */
                bool pump_ok = true;
                for (size_t i = 0; i < ELEMENTSOF(device_keys); i++)
                        pump_ok = pump_ok && p->key_ok[device_keys[i].key];
                if (!pump_ok || !p->key_ok[KEY_BACKEND])
                        continue;
                const char *key = config_keys[u->key].name;
                config_report(p, p->section_line[s],
                              "[%s]: not used with this [pump] (it is read only with %s = %s%s%s): "
                              "remove it or change %s",
                              config_section_names[s], key, u->values[0], u->values[1] ? " or " : "",
                              u->values[1] ?: "", key);
        }
}

/* The driver must be able to do [mechanism] microsteps when the daemon
 * sets them, with as many MS lines wired as its table has. Strapped
 * (none wired): the board decides and the config is trusted. */
static void check_microsteps(struct parser *p) {
        const struct config *c = p->config;
        enum stepper_driver d;
        unsigned n_lines, wired = 0;

        if (!p->key_ok[KEY_STEPPER_DRIVER] || !p->key_ok[KEY_MICROSTEPS] ||
            stepper_driver_from_string(c->stepper.driver, &d) < 0)
                return;
        for (int i = 0; i < 3; i++)
                wired += c->stepper.ms_line[i] >= 0;
        /* Out of order (ms2 without ms1) is reported by check_lines(). */
        if (wired == 0 || c->stepper.ms_line[wired - 1] < 0)
                return;
        if (stepper_driver_microstep_levels(d, (unsigned) c->geometry.microsteps, NULL, &n_lines) < 0) {
                char can[64] = "";
                for (unsigned m = 1; m <= 256; m *= 2)
                        if (stepper_driver_microstep_levels(d, m, NULL, NULL) >= 0)
                                snprintf(can + strlen(can), sizeof(can) - strlen(can), "%s%u", can[0] ? ", " : "", m);
                config_report(p, p->key_line[KEY_MICROSTEPS],
                              "microsteps: %" PRIi64 " is not a setting of the %s (it has %s)",
                              c->geometry.microsteps, c->stepper.driver, can);
                return;
        }
        if (wired != n_lines)
                config_report(p, p->key_line[KEY_STEPPER_MS1_LINE + (int) wired - 1],
                              "[stepper]: %u microstep line%s wired, the %s has %u (wire all of them, or none "
                              "and strap the pins)", wired, wired == 1 ? "" : "s", c->stepper.driver, n_lines);
}

/* One GPIO line a device claims, for the "used twice" check. */
struct claim {
        const char *chip;
        int64_t line;
        int key;
};

static void claim(struct claim *list, size_t *n, const char *chip, int64_t line, int key) {
        if (chip && line >= 0)
                list[(*n)++] = (struct claim) { chip, line, key };
}

static void check_lines(struct parser *p) {
        const struct config *c = p->config;
        struct claim list[32];
        size_t n = 0;

        if (config_section_in_use(p, SECTION_STEPPER)) {
                claim(list, &n, c->stepper.chip, c->stepper.step_line, KEY_STEPPER_STEP_LINE);
                claim(list, &n, c->stepper.chip, c->stepper.dir_line, KEY_STEPPER_DIR_LINE);
                claim(list, &n, c->stepper.chip, c->stepper.enable_line, KEY_STEPPER_ENABLE_LINE);
                for (int i = 0; i < 3; i++)
                        claim(list, &n, c->stepper.chip, c->stepper.ms_line[i], KEY_STEPPER_MS1_LINE + i);
                check_microsteps(p);
                /* Wired microstep lines come in order: MS1, then MS2, then MS3. */
                for (int i = 1; i < 3; i++)
                        if (c->stepper.ms_line[i] >= 0 && c->stepper.ms_line[i - 1] < 0)
                                config_report(p, p->key_line[KEY_STEPPER_MS1_LINE + i],
                                              "%s: set, but %s is not (wire the microstep lines from ms1 up)",
                                              config_keys[KEY_STEPPER_MS1_LINE + i].name,
                                              config_keys[KEY_STEPPER_MS1_LINE + i - 1].name);
        }
        if (config_section_in_use(p, SECTION_DC_MOTOR)) {
                claim(list, &n, c->dc_motor.chip, c->dc_motor.dir_line, KEY_DC_DIR_LINE);
                claim(list, &n, c->dc_motor.chip, c->dc_motor.encoder_line, KEY_DC_ENCODER_LINE);
        }
        if (config_section_in_use(p, SECTION_INPUTS))
                for (int i = 0; i < _HAL_INPUT_MAX; i++)
                        claim(list, &n, c->inputs_chip, c->input[i].line, KEY_INPUT_LINE_FIRST + 2 * i);
        if (config_section_in_use(p, SECTION_OUTPUTS)) {
                for (int i = 0; i < _HAL_OUTPUT_MAX; i++)
                        claim(list, &n, c->outputs_chip, c->output[i].line, KEY_OUTPUT_LINE_FIRST + 2 * i);
                if (c->buzzer_pwm_chip && c->buzzer_pwm_chip[0] && c->output[HAL_OUTPUT_BUZZER].line >= 0)
                        config_report(p, p->key_line[KEY_BUZZER_PWM_CHIP],
                                      "buzzer_pwm_chip: set, and buzzer_line too (the buzzer is one or the other)");
        }
        /* The air detector is the one input a pump cannot do without;
         * the door and the end stop are optional (the plunger position
         * finds the end too). The alarm must be heard. */
        if (config_section_in_use(p, SECTION_INPUTS) && c->input[HAL_INPUT_AIR_IN_LINE].line < 0)
                config_report(p, p->section_line[SECTION_INPUTS],
                              "[inputs]: air_detector_line not set (required: air in the line must stop the pump)");
        if (config_section_in_use(p, SECTION_OUTPUTS) && c->output[HAL_OUTPUT_BUZZER].line < 0 &&
            !(c->buzzer_pwm_chip && c->buzzer_pwm_chip[0]))
                config_report(p, p->section_line[SECTION_OUTPUTS],
                              "[outputs]: no buzzer (set buzzer_line or buzzer_pwm_chip: an alarm must be heard)");

        /* A line driven by two devices, or read as an input while driven,
         * would be refused by the kernel at start, or worse, not refused. */
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < i; j++)
                        if (list[i].line == list[j].line && streq(list[i].chip, list[j].chip) &&
                            p->key_ok[list[i].key] && p->key_ok[list[j].key])
                                config_report(p, p->key_line[list[i].key] ? p->key_line[list[i].key] : p->key_line[list[j].key],
                                              "%s: line %" PRIi64 " of %s is also [%s] %s",
                                              config_keys[list[i].key].name, list[i].line, list[i].chip,
                                              config_section_names[config_keys[list[j].key].section],
                                              config_keys[list[j].key].name);
}

/* One PWM channel, one device: a buzzer beeping on the motor's channel
 * would spin the motor. */
static void check_pwm(struct parser *p) {
        const struct config *c = p->config;

        if (config_section_in_use(p, SECTION_DC_MOTOR) && config_section_in_use(p, SECTION_OUTPUTS) &&
            c->buzzer_pwm_chip && c->buzzer_pwm_chip[0] && c->dc_motor.pwm_chip &&
            streq(c->buzzer_pwm_chip, c->dc_motor.pwm_chip) && c->buzzer_pwm_channel == c->dc_motor.pwm_channel)
                config_report(p, p->key_line[KEY_BUZZER_PWM_CHANNEL] ?: p->key_line[KEY_BUZZER_PWM_CHIP],
                              "buzzer_pwm_channel: channel %" PRIi64 " of %s is also [dc_motor] pwm_channel",
                              c->buzzer_pwm_channel, c->buzzer_pwm_chip);
}

static void check_sensors(struct parser *p) {
        struct config *c = p->config;

        for (int i = 0; i < _HAL_SENSOR_MAX; i++) {
                int s = SECTION_PRESSURE_DOWNSTREAM + i;
                int k0 = KEY_SENSOR_FIRST + i * SENSOR_KEYS;
                struct config_sensor *cs = &c->sensor[i];

                cs->fitted = config_section_in_use(p, s);
                if (!cs->fitted)
                        continue;
                if (p->key_ok[k0 + SENSOR_KEY_LOW_MV] && p->key_ok[k0 + SENSOR_KEY_HIGH_MV] && cs->low_mv == cs->high_mv)
                        config_report(p, p->key_line[k0 + SENSOR_KEY_HIGH_MV],
                                      "high_mv: equal to low_mv (%g mV): two different calibration points are needed",
                                      cs->high_mv);
                if (p->key_ok[k0 + SENSOR_KEY_PLAUSIBLE_MIN] && p->key_ok[k0 + SENSOR_KEY_PLAUSIBLE_MAX] &&
                    cs->plausible_min >= cs->plausible_max) {
                        unsigned line = p->key_line[k0 + SENSOR_KEY_PLAUSIBLE_MAX] ?: p->key_line[k0 + SENSOR_KEY_PLAUSIBLE_MIN];
                        config_report(p, line, "%s: %g is not above %s (%g)",
                                      config_keys[k0 + SENSOR_KEY_PLAUSIBLE_MAX].name, cs->plausible_max,
                                      config_keys[k0 + SENSOR_KEY_PLAUSIBLE_MIN].name, cs->plausible_min);
                }
        }

        /* Occlusion detection is the pump's first duty: no rig without it. */
        if (streq(device(p, KEY_SENSORS), "iio") && p->section_line[SECTION_PRESSURE_DOWNSTREAM] == 0)
                config_report(p, 0, "[pressure_downstream]: missing (required with sensors = iio: "
                              "occlusion detection reads it)");
}

static void check_power(struct parser *p) {
        const struct config *c = p->config;

        if (streq(device(p, KEY_POWER), "iio") &&
            (!streq(device(p, KEY_SENSORS), "iio") || p->section_line[SECTION_BATTERY_VOLTAGE] == 0))
                config_report(p, p->key_line[KEY_POWER],
                              "power: \"iio\" reads [battery_voltage], which needs sensors = iio and that section");

        if (config_section_in_use(p, SECTION_POWER) && p->key_ok[KEY_POWER_TABLE] && c->power_discharge_table) {
                struct power_table t;
                const char *why = NULL;
                if (power_table_parse(c->power_discharge_table, &t, &why) < 0)
                        config_report(p, p->key_line[KEY_POWER_TABLE], "discharge_table: %s (expected: "
                                      "\"VOLTS:PERCENT ...\", volts falling, from 100 down to 0 %%)",
                                      why ? why : "not a table");
        }
}

void config_check_hardware(struct parser *p) {
        for (size_t i = 0; i < ELEMENTSOF(device_keys); i++)
                if (!p->key_ok[device_keys[i].key])
                        return;
        if (!p->key_ok[KEY_BACKEND])
                return;

        check_unused_sections(p);
        check_lines(p);
        check_pwm(p);
        check_sensors(p);
        check_power(p);
}
