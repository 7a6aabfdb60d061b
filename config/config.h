/* SPDX-License-Identifier: MIT */
#pragma once

/* /etc/infusiond/infusiond.conf, INI, read with libinih.
 * Every error names the file, line and key: "FILE:LINE: key: what is wrong"
 * (a missing required key has no line: "FILE: [section] key: ..."). An
 * unknown section or key is an error too: a misspelt key must never be
 * silently ignored on a medical device. See config/sim.conf for every key. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/mechanism.h"
#include "hal/hal.h"

enum config_clock {
        CONFIG_CLOCK_REAL,
        CONFIG_CLOCK_VIRTUAL,
};

struct config {
        char *path;                     /* the file it came from */

        /* [pump] */
        char *backend;                  /* "sim" or "rig" */
        /* Each device's backend, resolved from the backend when not set:
         * sim: the model's; rig: stepper, iio, gpiod, gpiod, sysfs. */
        char *drive;                    /* "sim", "stepper", "dc-motor" */
        char *sensors;                  /* "sim", "iio" */
        char *inputs;                   /* "sim", "gpiod" */
        char *outputs;                  /* "sim", "gpiod" */
        char *power;                    /* "sim", "sysfs", "iio" */

        /* [mechanism] */
        struct mechanism_geometry geometry;
        int64_t syringe_volume_nl;

        /* [limits] */
        int64_t max_rate_nl_per_h;
        int64_t max_vtbi_nl;
        int64_t kvo_rate_nl_per_h;      /* default KVO rate; 0 = stop at VTBI */
        int64_t max_kvo_rate_nl_per_h;
        int64_t pca_bolus_rate_nl_per_h;        /* default speed of PCA demand and loading doses */
        int64_t lease_us;
        int64_t control_period_us;
        int64_t checkpoint_period_us;

        /* [database] */
        char *database_path;
        int64_t database_keep_us;               /* history older than this is pruned */
        int64_t database_max_size_bytes;        /* 0: no size limit */

        /* [alarms] */
        int64_t escalate_after_us;      /* unanswered medium -> high */
        int64_t idle_alert_us;          /* programmed/paused, not running: low */
        int64_t idle_alarm_us;          /* ... then medium */
        int64_t near_end_us;            /* time to empty that warns */
        double occlusion_limit_mmhg;    /* default when the care area has none */
        bool occlusion_trend;
        bool occlusion_back_off;        /* after the alarm, draw back what the line holds */
        int64_t occlusion_auto_restarts;/* default per 10 min when the care area has none */
        int64_t air_bubble_nl;
        int64_t air_accumulated_nl;
        int64_t air_window_us;
        double accuracy_tolerance_pct;
        int64_t battery_low_s;
        int64_t battery_depleted_s;

        /* [simulation] */
        enum config_clock clock;
        uint64_t seed;
        double line_compliance_nl_per_mmhg;
        double line_resistance_mmhg_per_ml_per_h;
        double patient_pressure_mmhg;
        double pressure_noise_mmhg;
        double movement_amplitude_mmhg;
        double movement_mean_interval_s;
        double position_noise_mm;
        double battery_runtime_min;
        int64_t syringe_fill_nl;        /* 0: filled to syringe_volume_ml */
        char *step_log_path;            /* "": step times not kept */
        char *plunger_file_path;        /* "": the plunger position dies with the daemon */

        /* [stepper]: drive = stepper */
        struct config_stepper {
                char *chip;
                char *driver;           /* "a4988", "drv8825", "tmc2209" */
                int64_t step_line, dir_line, enable_line;
                int64_t ms_line[3];     /* -1: strapped, not wired */
                bool step_active_low, enable_active_low, dir_forward_high;
                int64_t step_pulse_us, step_low_us, dir_setup_us;
        } stepper;

        /* [dc_motor]: drive = dc-motor */
        struct config_dc_motor {
                char *pwm_chip;
                int64_t pwm_channel;
                int64_t pwm_frequency_hz;
                double max_duty_pct;
                double kp_pct_per_count, ki_pct_per_count_s;
                char *chip;
                int64_t dir_line;
                bool dir_forward_high;
                int64_t encoder_line;
        } dc_motor;

        /* [inputs] and [outputs]: inputs/outputs = gpiod. line -1: not fitted. */
        struct config_gpio_line {
                int64_t line;
                bool active_low;
        } input[_HAL_INPUT_MAX], output[_HAL_OUTPUT_MAX];
        char *inputs_chip, *outputs_chip;
        int64_t debounce_us;
        char *buzzer_pwm_chip;          /* "": the buzzer is a GPIO line (or none) */
        int64_t buzzer_pwm_channel;
        int64_t buzzer_tone_hz;

        /* [pressure_downstream] ... [battery_voltage]: sensors = iio.
         * Fitted when the section is in the file. Values in the sensor's
         * unit: mmHg, mm or V. */
        struct config_sensor {
                bool fitted;
                char *device, *channel;
                double low_mv, low_value, high_mv, high_value;
                double plausible_min, plausible_max;
                double sampling_frequency_hz;
        } sensor[_HAL_SENSOR_MAX];

        /* [power]: power = sysfs or iio */
        char *power_battery, *power_mains;      /* "": found by type */
        double power_runtime_min;
        char *power_discharge_table;
};

/* Parse path into *ret. On any error, writes one line per problem to err
 * (every problem, not just the first), frees what it built and returns
 * -EINVAL (or -errno if the file cannot be read). */
int config_load(const char *path, FILE *err, struct config **ret);

/* Whether config_load()'s error r is the file's own fault (its content,
 * its path, its permissions), which only a person can fix, rather than a
 * passing one (out of memory, out of file descriptors, an I/O error) that
 * a restart may not meet again. infusiond exits 6 ("not configured") on
 * the first kind, which its unit does not restart, and 1 on the second. */
bool config_error_needs_a_person(int r);

/* Same, from a string; name is what messages call the file. */
int config_load_string(const char *name, const char *text, FILE *err, struct config **ret);

struct config *config_free(struct config *c);
static inline void config_freep(struct config **c) { config_free(*c); }
