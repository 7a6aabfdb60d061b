/* SPDX-License-Identifier: MIT */
#include "hal/hal.h"

#include "common/macros.h"

/* Names used in logs, the config and on D-Bus: lower case, dashes. */

static const char *const sensor_names[_HAL_SENSOR_MAX] = {
        [HAL_SENSOR_PRESSURE_DOWNSTREAM] = "pressure-downstream",
        [HAL_SENSOR_PRESSURE_UPSTREAM]   = "pressure-upstream",
        [HAL_SENSOR_PLUNGER_POSITION]    = "plunger-position",
        [HAL_SENSOR_BATTERY_VOLTAGE]     = "battery-voltage",
};

static const char *const input_names[_HAL_INPUT_MAX] = {
        [HAL_INPUT_PCA_BUTTON]  = "pca-button",
        [HAL_INPUT_AIR_IN_LINE] = "air-in-line",
        [HAL_INPUT_DOOR_OPEN]   = "door-open",
        [HAL_INPUT_END_STOP]    = "end-stop",
};

static const char *const output_names[_HAL_OUTPUT_MAX] = {
        [HAL_OUTPUT_BUZZER]     = "buzzer",
        [HAL_OUTPUT_LED_RED]    = "led-red",
        [HAL_OUTPUT_LED_YELLOW] = "led-yellow",
        [HAL_OUTPUT_NURSE_CALL] = "nurse-call",
};

/* Out-of-range values give NULL, as systemd's *_to_string() do. The cast
 * to unsigned also catches negative values from a corrupted enum. */

const char *hal_sensor_to_string(enum hal_sensor s) {
        return (unsigned) s < ELEMENTSOF(sensor_names) ? sensor_names[s] : NULL;
}

const char *hal_input_to_string(enum hal_input i) {
        return (unsigned) i < ELEMENTSOF(input_names) ? input_names[i] : NULL;
}

const char *hal_output_to_string(enum hal_output o) {
        return (unsigned) o < ELEMENTSOF(output_names) ? output_names[o] : NULL;
}
