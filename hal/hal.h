/* SPDX-License-Identifier: MIT */
#pragma once

/* Hardware interfaces. Each device is an ops table plus a context pointer,
 * in the style of Linux and Zephyr drivers; a backend fills the tables.
 * HAL code never logs: every op returns 0 or a negative errno, and the
 * caller logs once. An op a backend cannot do is NULL or returns -ENOSYS.
 *
 * The drive op `step` is called from the motor executor thread in real
 * time: backends must make it fast and free of I/O other than GPIO (and,
 * for the DC drive, one sysfs PWM duty write when the duty changes: a
 * small write to a kernel attribute, never to a disk). */

#include <stdbool.h>
#include <stdint.h>

enum hal_direction {
        HAL_DIRECTION_FORWARD,          /* push the plunger: deliver */
        HAL_DIRECTION_REVERSE,          /* back off: relieve pressure */
};

struct hal_drive_ops {
        int (*enable)(void *ctx, bool on);
        int (*set_direction)(void *ctx, enum hal_direction dir);
        int (*step)(void *ctx);         /* one microstep in the set direction */
};

enum hal_sensor {
        HAL_SENSOR_PRESSURE_DOWNSTREAM, /* mmHg */
        HAL_SENSOR_PRESSURE_UPSTREAM,   /* mmHg */
        HAL_SENSOR_PLUNGER_POSITION,    /* mm of travel from the start */
        HAL_SENSOR_BATTERY_VOLTAGE,     /* V */
        _HAL_SENSOR_MAX,
};

const char *hal_sensor_to_string(enum hal_sensor s);

struct hal_sensors_ops {
        /* Engineering units as listed above. -ENODEV: no such sensor fitted. */
        int (*read)(void *ctx, enum hal_sensor s, double *ret_value);
};

enum hal_input {
        HAL_INPUT_PCA_BUTTON,
        HAL_INPUT_AIR_IN_LINE,
        HAL_INPUT_DOOR_OPEN,
        HAL_INPUT_END_STOP,
        _HAL_INPUT_MAX,
};

const char *hal_input_to_string(enum hal_input i);

typedef void (*hal_input_handler_t)(enum hal_input i, bool active, int64_t when_us, void *userdata);

struct hal_inputs_ops {
        int (*read)(void *ctx, enum hal_input i, bool *ret_active);
        /* Edges are reported to handler (debounced by the backend). */
        int (*set_handler)(void *ctx, hal_input_handler_t handler, void *userdata);
        /* Backends whose edges arrive as kernel events (NULL for the sim,
         * which calls the handler itself): the daemon watches
         * event_fd(i) for POLLIN in its event loop and calls process(i,
         * now) when it is readable and again at *ret_deadline_us, the
         * time the debounce settles (INT64_MAX: nothing pending). process
         * reads the pending edges and calls the handler for each settled
         * change. event_fd returns -ENODEV for an input not fitted.
         * now_us is CLOCK_MONOTONIC. */
        int (*event_fd)(void *ctx, enum hal_input i);
        int (*process)(void *ctx, enum hal_input i, int64_t now_us, int64_t *ret_deadline_us);
};

enum hal_output {
        HAL_OUTPUT_BUZZER,
        HAL_OUTPUT_LED_RED,
        HAL_OUTPUT_LED_YELLOW,
        HAL_OUTPUT_NURSE_CALL,
        _HAL_OUTPUT_MAX,
};

const char *hal_output_to_string(enum hal_output o);

struct hal_outputs_ops {
        int (*set)(void *ctx, enum hal_output o, bool on);
};

struct hal_power_status {
        bool on_mains;
        int capacity_pct;               /* 0..100, -1 unknown */
        int64_t time_to_empty_s;        /* -1 unknown */
        double voltage_v;               /* NAN unknown */
        /* time_to_empty_s comes from voltage_v alone (a discharge table,
         * hal/power-sysfs.c power_voltage): the pump then watches that the
         * voltage is alive (safety/supervise.h battery_voltage_stuck). */
        bool time_from_voltage;
};

struct hal_power_ops {
        int (*read)(void *ctx, struct hal_power_status *ret);
};

/* A whole pump's hardware. Backends fill what they provide. */
struct hal {
        const char *backend;            /* "sim", "gpiod", ... */
        const struct hal_drive_ops *drive;     void *drive_ctx;
        const struct hal_sensors_ops *sensors; void *sensors_ctx;
        const struct hal_inputs_ops *inputs;   void *inputs_ctx;
        const struct hal_outputs_ops *outputs; void *outputs_ctx;
        const struct hal_power_ops *power;     void *power_ctx;
};
