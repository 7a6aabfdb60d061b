/* SPDX-License-Identifier: MIT */
#pragma once

/* The file format as data: every section and key, its kind, default,
 * range and unit. The parser (config.c) knows no key by name except for
 * the checks across keys; config/sim.conf and config/rpi-stepper.conf
 * document the same table for people. Private to config/. */

#include <stddef.h>

enum section {
        SECTION_PUMP,
        SECTION_MECHANISM,
        SECTION_LIMITS,
        SECTION_DATABASE,
        SECTION_ALARMS,
        SECTION_SIMULATION,
        /* Hardware: each section belongs to a device choice in [pump]. */
        SECTION_STEPPER,
        SECTION_DC_MOTOR,
        SECTION_INPUTS,
        SECTION_OUTPUTS,
        SECTION_PRESSURE_DOWNSTREAM,    /* the sensor sections are in enum hal_sensor order */
        SECTION_PRESSURE_UPSTREAM,
        SECTION_PLUNGER_POSITION,
        SECTION_BATTERY_VOLTAGE,
        SECTION_POWER,
        _SECTION_MAX,
        /* Parser states, not sections. */
        SECTION_NONE = -1,      /* no header seen yet */
        SECTION_IGNORED = -2,   /* unknown or malformed header, already reported */
};

extern const char *const config_section_names[_SECTION_MAX];

enum value_kind {
        VALUE_CHOICE,           /* char *, one of key.choices */
        VALUE_PATH,             /* char *, not empty */
        VALUE_STRING,           /* char *, not empty when written; "" as a default means unset */
        VALUE_CLOCK,            /* enum config_clock */
        VALUE_INT,              /* int64_t, whole number min..max */
        VALUE_MICROSTEPS,       /* int64_t, a power of two 1..256 */
        VALUE_SEED,             /* uint64_t, any */
        VALUE_ML,               /* int64_t nL (or nL/h) from mL (or mL/h), min..max */
        VALUE_SCALED,           /* int64_t value * scale (mm -> µm, ms -> µs), min..max */
        VALUE_DOUBLE,           /* double value * scale, min..max */
        VALUE_BOOL,             /* bool: yes/no, true/false, on/off, 1/0 */
};

struct key {
        enum section section;
        const char *name;
        enum value_kind kind;
        /* Text of the default, parsed exactly like a value from the file so
         * a default cannot escape the range check. NULL: required (in a
         * hardware section: required when that section is in use). */
        const char *default_value;
        double min, max;        /* in the unit the file is written in */
        const char *unit;       /* that unit, for messages */
        double scale;           /* file unit -> stored unit */
        const char *stored_unit;/* for the resolution message */
        size_t offset;          /* into struct config */
        const char *const *choices;     /* VALUE_CHOICE: NULL-terminated */
};

enum key_id {
        KEY_BACKEND,
        KEY_DRIVE,
        KEY_SENSORS,
        KEY_INPUTS,
        KEY_OUTPUTS,
        KEY_POWER,
        KEY_LEAD_PITCH,
        KEY_STEPS_PER_REV,
        KEY_MICROSTEPS,
        KEY_SYRINGE_DIAMETER,
        KEY_SYRINGE_VOLUME,
        KEY_MAX_STEP_RATE,
        KEY_MAX_RATE,
        KEY_MAX_VTBI,
        KEY_KVO_RATE,
        KEY_MAX_KVO_RATE, KEY_PCA_BOLUS_RATE,
        KEY_LEASE,
        KEY_CONTROL_PERIOD,
        KEY_CHECKPOINT_PERIOD,
        KEY_DATABASE_PATH,
        KEY_DATABASE_KEEP,
        KEY_DATABASE_MAX_SIZE,
        KEY_ESCALATE_AFTER,
        KEY_IDLE_ALERT,
        KEY_IDLE_ALARM,
        KEY_NEAR_END,
        KEY_OCCLUSION_LIMIT,
        KEY_OCCLUSION_TREND,
        KEY_OCCLUSION_BACK_OFF,
        KEY_OCCLUSION_AUTO_RESTARTS,
        KEY_AIR_BUBBLE,
        KEY_AIR_ACCUMULATED,
        KEY_AIR_WINDOW,
        KEY_ACCURACY_TOLERANCE,
        KEY_BATTERY_LOW,
        KEY_BATTERY_DEPLETED,
        KEY_CLOCK,
        KEY_SEED,
        KEY_LINE_COMPLIANCE,
        KEY_LINE_RESISTANCE,
        KEY_PATIENT_PRESSURE,
        KEY_PRESSURE_NOISE,
        KEY_MOVEMENT_AMPLITUDE,
        KEY_MOVEMENT_INTERVAL,
        KEY_POSITION_NOISE,
        KEY_BATTERY_RUNTIME,
        KEY_SYRINGE_FILL,
        KEY_STEP_LOG,
        KEY_PLUNGER_FILE,

        KEY_STEPPER_CHIP,
        KEY_STEPPER_DRIVER,
        KEY_STEPPER_STEP_LINE,
        KEY_STEPPER_DIR_LINE,
        KEY_STEPPER_ENABLE_LINE,
        KEY_STEPPER_MS1_LINE,
        KEY_STEPPER_MS2_LINE,
        KEY_STEPPER_MS3_LINE,
        KEY_STEPPER_STEP_ACTIVE_LOW,
        KEY_STEPPER_ENABLE_ACTIVE_LOW,
        KEY_STEPPER_DIR_FORWARD_HIGH,
        KEY_STEPPER_STEP_PULSE,
        KEY_STEPPER_STEP_LOW,
        KEY_STEPPER_DIR_SETUP,

        KEY_DC_PWM_CHIP,
        KEY_DC_PWM_CHANNEL,
        KEY_DC_PWM_FREQUENCY,
        KEY_DC_MAX_DUTY,
        KEY_DC_KP,
        KEY_DC_KI,
        KEY_DC_CHIP,
        KEY_DC_DIR_LINE,
        KEY_DC_DIR_FORWARD_HIGH,
        KEY_DC_ENCODER_LINE,

        KEY_INPUTS_CHIP,
        KEY_INPUTS_DEBOUNCE,
        KEY_INPUT_LINE_FIRST,   /* line, active_low for each enum hal_input, in order */
        KEY_INPUT_LINE_LAST = KEY_INPUT_LINE_FIRST + 2 * 4 - 1,

        KEY_OUTPUTS_CHIP,
        KEY_OUTPUT_LINE_FIRST,  /* line, active_low for each enum hal_output, in order */
        KEY_OUTPUT_LINE_LAST = KEY_OUTPUT_LINE_FIRST + 2 * 4 - 1,
        KEY_BUZZER_PWM_CHIP,
        KEY_BUZZER_PWM_CHANNEL,
        KEY_BUZZER_TONE,

        KEY_SENSOR_FIRST,       /* SENSOR_KEYS keys for each enum hal_sensor, in order */
        KEY_SENSOR_LAST = KEY_SENSOR_FIRST + 9 * 4 - 1,

        KEY_POWER_BATTERY,
        KEY_POWER_MAINS,
        KEY_POWER_RUNTIME,
        KEY_POWER_TABLE,
        _KEY_MAX,
};

/* Keys of each sensor section, in this order from KEY_SENSOR_FIRST. */
enum {
        SENSOR_KEY_DEVICE,
        SENSOR_KEY_CHANNEL,
        SENSOR_KEY_LOW_MV,
        SENSOR_KEY_LOW_VALUE,
        SENSOR_KEY_HIGH_MV,
        SENSOR_KEY_HIGH_VALUE,
        SENSOR_KEY_PLAUSIBLE_MIN,
        SENSOR_KEY_PLAUSIBLE_MAX,
        SENSOR_KEY_SAMPLING_FREQUENCY,
        SENSOR_KEYS,
};

extern const struct key config_keys[_KEY_MAX];
