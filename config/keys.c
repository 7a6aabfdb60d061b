/* SPDX-License-Identifier: MIT */
#include "config/config-keys.h"

#include <stddef.h>

#include "common/units.h"
#include "config/config.h"

const char *const config_section_names[_SECTION_MAX] = {
        [SECTION_PUMP] = "pump",
        [SECTION_MECHANISM] = "mechanism",
        [SECTION_LIMITS] = "limits",
        [SECTION_DATABASE] = "database",
        [SECTION_ALARMS] = "alarms",
        [SECTION_SIMULATION] = "simulation",
        [SECTION_STEPPER] = "stepper",
        [SECTION_DC_MOTOR] = "dc_motor",
        [SECTION_INPUTS] = "inputs",
        [SECTION_OUTPUTS] = "outputs",
        [SECTION_PRESSURE_DOWNSTREAM] = "pressure_downstream",
        [SECTION_PRESSURE_UPSTREAM] = "pressure_upstream",
        [SECTION_PLUNGER_POSITION] = "plunger_position",
        [SECTION_BATTERY_VOLTAGE] = "battery_voltage",
        [SECTION_POWER] = "power",
};

#define FIELD(f) offsetof(struct config, f)

static const char *const backend_choices[] = { "sim", "rig", NULL };
/* "auto": what the backend implies (config.h). */
static const char *const drive_choices[] = { "auto", "sim", "stepper", "dc-motor", NULL };
static const char *const sensors_choices[] = { "auto", "sim", "iio", NULL };
/* No "none": a pump without its air detector, its alarm sound or its
 * battery gauge is not a pump (the self-test insists too). */
static const char *const io_choices[] = { "auto", "sim", "gpiod", NULL };
static const char *const power_choices[] = { "auto", "sim", "sysfs", "iio", NULL };
static const char *const driver_choices[] = { "a4988", "drv8825", "tmc2209", NULL };

#define CHOICE(sec, name, def, field, list) \
        { sec, name, VALUE_CHOICE, def, 0, 0, NULL, 1, NULL, FIELD(field), list }
#define STRING(sec, name, def, field) \
        { sec, name, VALUE_STRING, def, 0, 0, NULL, 1, NULL, FIELD(field), NULL }
#define INT(sec, name, def, lo, hi, unit, field) \
        { sec, name, VALUE_INT, def, lo, hi, unit, 1, NULL, FIELD(field), NULL }
#define BOOL(sec, name, def, field) \
        { sec, name, VALUE_BOOL, def, 0, 0, NULL, 1, NULL, FIELD(field), NULL }
#define DOUBLE(sec, name, def, lo, hi, unit, field) \
        { sec, name, VALUE_DOUBLE, def, lo, hi, unit, 1, NULL, FIELD(field), NULL }
#define GPIO_LINE_MAX 1023

/* One GPIO line of [inputs] or [outputs]: its offset (-1: not fitted) and level. */
#define LINE_KEYS(sec, prefix, arr, idx, active_low_default) \
        INT(sec, prefix "_line", "-1", -1, GPIO_LINE_MAX, "line offset", arr[idx].line), \
        BOOL(sec, prefix "_active_low", active_low_default, arr[idx].active_low)

/* A sensor section; u is the sensor's unit in key names, lo..hi the
 * range a calibration value may take, pmin/pmax the default plausible
 * range. */
#define SENSOR_SECTION_KEYS(sec, idx, u, unit, lo, hi, pmin, pmax) \
        STRING(sec, "device", NULL, sensor[idx].device), \
        STRING(sec, "channel", NULL, sensor[idx].channel), \
        DOUBLE(sec, "low_mv", NULL, -100000, 100000, "mV", sensor[idx].low_mv), \
        DOUBLE(sec, "low_" u, NULL, lo, hi, unit, sensor[idx].low_value), \
        DOUBLE(sec, "high_mv", NULL, -100000, 100000, "mV", sensor[idx].high_mv), \
        DOUBLE(sec, "high_" u, NULL, lo, hi, unit, sensor[idx].high_value), \
        DOUBLE(sec, "plausible_min_" u, pmin, lo, hi, unit, sensor[idx].plausible_min), \
        DOUBLE(sec, "plausible_max_" u, pmax, lo, hi, unit, sensor[idx].plausible_max), \
        DOUBLE(sec, "sampling_frequency_hz", "0", 0, 100000, "Hz", sensor[idx].sampling_frequency_hz)

/* The whole file format. */
const struct key config_keys[_KEY_MAX] = {
        [KEY_BACKEND] = CHOICE(SECTION_PUMP, "backend", NULL, backend, backend_choices),
        [KEY_DRIVE] = CHOICE(SECTION_PUMP, "drive", "auto", drive, drive_choices),
        [KEY_SENSORS] = CHOICE(SECTION_PUMP, "sensors", "auto", sensors, sensors_choices),
        [KEY_INPUTS] = CHOICE(SECTION_PUMP, "inputs", "auto", inputs, io_choices),
        [KEY_OUTPUTS] = CHOICE(SECTION_PUMP, "outputs", "auto", outputs, io_choices),
        [KEY_POWER] = CHOICE(SECTION_PUMP, "power", "auto", power, power_choices),

        [KEY_LEAD_PITCH] = { SECTION_MECHANISM, "lead_pitch_mm", VALUE_SCALED, NULL,
                0.1, 20, "mm", 1000, "µm", FIELD(geometry.lead_pitch_um), NULL },
        [KEY_STEPS_PER_REV] = { SECTION_MECHANISM, "steps_per_rev", VALUE_INT, NULL,
                1, 100000, "full steps", 1, NULL, FIELD(geometry.steps_per_rev), NULL },
        [KEY_MICROSTEPS] = { SECTION_MECHANISM, "microsteps", VALUE_MICROSTEPS, NULL,
                1, 256, NULL, 1, NULL, FIELD(geometry.microsteps), NULL },
        [KEY_SYRINGE_DIAMETER] = { SECTION_MECHANISM, "syringe_inner_diameter_mm", VALUE_SCALED, NULL,
                1, 60, "mm", 1000, "µm", FIELD(geometry.syringe_inner_diameter_um), NULL },
        [KEY_SYRINGE_VOLUME] = { SECTION_MECHANISM, "syringe_volume_ml", VALUE_ML, NULL,
                0.5, 1000, "mL", NL_PER_ML, "nL", FIELD(syringe_volume_nl), NULL },
        [KEY_MAX_STEP_RATE] = { SECTION_MECHANISM, "max_step_rate_hz", VALUE_INT, "5000",
                1, 100000, "Hz", 1, NULL, FIELD(geometry.max_step_rate_hz), NULL },
        [KEY_MAX_RATE] = { SECTION_LIMITS, "max_rate_ml_per_h", VALUE_ML, "1200",
                0.01, 9999, "mL/h", NL_PER_ML, "nL/h", FIELD(max_rate_nl_per_h) },
        [KEY_MAX_VTBI] = { SECTION_LIMITS, "max_vtbi_ml", VALUE_ML, "9999",
                0.001, 9999, "mL", NL_PER_ML, "nL", FIELD(max_vtbi_nl) },
        [KEY_KVO_RATE] = { SECTION_LIMITS, "kvo_rate_ml_per_h", VALUE_ML, "1.0",
                0, 20, "mL/h", NL_PER_ML, "nL/h", FIELD(kvo_rate_nl_per_h) },
        [KEY_MAX_KVO_RATE] = { SECTION_LIMITS, "max_kvo_rate_ml_per_h", VALUE_ML, "20",
                0, 50, "mL/h", NL_PER_ML, "nL/h", FIELD(max_kvo_rate_nl_per_h) },
        [KEY_PCA_BOLUS_RATE] = { SECTION_LIMITS, "pca_bolus_rate_ml_per_h", VALUE_ML, "60",
                1, 1200, "mL/h", NL_PER_ML, "nL/h", FIELD(pca_bolus_rate_nl_per_h) },
        [KEY_LEASE] = { SECTION_LIMITS, "lease_ms", VALUE_SCALED, "500",
                20, 5000, "ms", US_PER_MS, "µs", FIELD(lease_us) },
        [KEY_CONTROL_PERIOD] = { SECTION_LIMITS, "control_period_ms", VALUE_SCALED, "100",
                5, 1000, "ms", US_PER_MS, "µs", FIELD(control_period_us) },
        [KEY_CHECKPOINT_PERIOD] = { SECTION_LIMITS, "checkpoint_period_ms", VALUE_SCALED, "1000",
                100, 60000, "ms", US_PER_MS, "µs", FIELD(checkpoint_period_us) },

        [KEY_DATABASE_PATH] = { SECTION_DATABASE, "path", VALUE_PATH, NULL,
                0, 0, NULL, 1, NULL, FIELD(database_path) },
        /* Retention (db/retention.c). Five years by default; how long is
         * the hospital's policy to set. At least two days: the daemon keeps
         * the last 48 hours anyway (the PCA windows a restart reloads). max_size_mb: 0 is no limit, else at least 16 MB
         * (config.c checks the gap), in MB of 2^20 bytes as SQLite and du
         * count them. */
        [KEY_DATABASE_KEEP] = { SECTION_DATABASE, "keep_days", VALUE_SCALED, "1825",
                2, 36500, "days", 24 * US_PER_HOUR, "µs", FIELD(database_keep_us), NULL },
        [KEY_DATABASE_MAX_SIZE] = { SECTION_DATABASE, "max_size_mb", VALUE_SCALED, "1024",
                0, 1048576, "MB", 1024 * 1024, "bytes", FIELD(database_max_size_bytes), NULL },

        /* Alarm timing and detector limits; CLINICAL.md gives the figures. */
        [KEY_ESCALATE_AFTER] = { SECTION_ALARMS, "escalate_after_s", VALUE_SCALED, "120",
                10, 600, "s", US_PER_SEC, "µs", FIELD(escalate_after_us) },
        [KEY_IDLE_ALERT] = { SECTION_ALARMS, "idle_alert_s", VALUE_SCALED, "120",
                10, 3600, "s", US_PER_SEC, "µs", FIELD(idle_alert_us) },
        [KEY_IDLE_ALARM] = { SECTION_ALARMS, "idle_alarm_s", VALUE_SCALED, "300",
                20, 7200, "s", US_PER_SEC, "µs", FIELD(idle_alarm_us) },
        [KEY_NEAR_END] = { SECTION_ALARMS, "near_end_min", VALUE_SCALED, "5",
                0, 60, "min", US_PER_MIN, "µs", FIELD(near_end_us) },
        [KEY_OCCLUSION_LIMIT] = { SECTION_ALARMS, "occlusion_limit_mmhg", VALUE_DOUBLE, "300",
                50, 1000, "mmHg", 1, NULL, FIELD(occlusion_limit_mmhg) },
        [KEY_OCCLUSION_TREND] = { SECTION_ALARMS, "occlusion_trend", VALUE_BOOL, "yes",
                0, 0, NULL, 1, NULL, FIELD(occlusion_trend) },
        /* Pressure relief after a downstream occlusion alarm: "no" is for
         * rigs that must not reverse, and for measuring the bolus a pump
         * without it gives (bench/occlusion.c). */
        [KEY_OCCLUSION_BACK_OFF] = { SECTION_ALARMS, "occlusion_back_off", VALUE_BOOL, "yes",
                0, 0, NULL, 1, NULL, FIELD(occlusion_back_off) },
        [KEY_OCCLUSION_AUTO_RESTARTS] = { SECTION_ALARMS, "occlusion_auto_restarts", VALUE_INT, "0",
                0, 9, "per 10 min", 1, NULL, FIELD(occlusion_auto_restarts) },
        [KEY_AIR_BUBBLE] = { SECTION_ALARMS, "air_bubble_ul", VALUE_SCALED, "100",
                20, 200, "µL", 1000, "nL", FIELD(air_bubble_nl) },
        [KEY_AIR_ACCUMULATED] = { SECTION_ALARMS, "air_accumulated_ul", VALUE_SCALED, "500",
                50, 5000, "µL", 1000, "nL", FIELD(air_accumulated_nl) },
        [KEY_AIR_WINDOW] = { SECTION_ALARMS, "air_window_min", VALUE_SCALED, "15",
                1, 60, "min", US_PER_MIN, "µs", FIELD(air_window_us) },
        [KEY_ACCURACY_TOLERANCE] = { SECTION_ALARMS, "accuracy_tolerance_pct", VALUE_DOUBLE, "10",
                2, 50, "%", 1, NULL, FIELD(accuracy_tolerance_pct) },
        [KEY_BATTERY_LOW] = { SECTION_ALARMS, "battery_low_min", VALUE_SCALED, "15",
                2, 120, "min", 60, "s", FIELD(battery_low_s) },
        [KEY_BATTERY_DEPLETED] = { SECTION_ALARMS, "battery_depleted_min", VALUE_SCALED, "5",
                1, 60, "min", 60, "s", FIELD(battery_depleted_s) },

        [KEY_CLOCK] = { SECTION_SIMULATION, "clock", VALUE_CLOCK, "real",
                0, 0, NULL, 1, NULL, FIELD(clock) },
        [KEY_SEED] = { SECTION_SIMULATION, "seed", VALUE_SEED, "1",
                0, 0, NULL, 1, NULL, FIELD(seed) },
        [KEY_LINE_COMPLIANCE] = { SECTION_SIMULATION, "line_compliance_ul_per_mmhg", VALUE_DOUBLE, "1.4",
                0.01, 100, "µL/mmHg", 1000, NULL, FIELD(line_compliance_nl_per_mmhg) },
        [KEY_LINE_RESISTANCE] = { SECTION_SIMULATION, "line_resistance_mmhg_per_ml_per_h", VALUE_DOUBLE, "0.3",
                0.001, 100, "mmHg per mL/h", 1, NULL, FIELD(line_resistance_mmhg_per_ml_per_h) },
        [KEY_PATIENT_PRESSURE] = { SECTION_SIMULATION, "patient_pressure_mmhg", VALUE_DOUBLE, "8",
                -50, 300, "mmHg", 1, NULL, FIELD(patient_pressure_mmhg) },
        [KEY_PRESSURE_NOISE] = { SECTION_SIMULATION, "pressure_noise_mmhg", VALUE_DOUBLE, "0.5",
                0, 50, "mmHg", 1, NULL, FIELD(pressure_noise_mmhg) },
        [KEY_MOVEMENT_AMPLITUDE] = { SECTION_SIMULATION, "movement_amplitude_mmhg", VALUE_DOUBLE, "0",
                0, 100, "mmHg", 1, NULL, FIELD(movement_amplitude_mmhg) },
        [KEY_MOVEMENT_INTERVAL] = { SECTION_SIMULATION, "movement_mean_interval_s", VALUE_DOUBLE, "120",
                5, 86400, "s", 1, NULL, FIELD(movement_mean_interval_s) },
        [KEY_POSITION_NOISE] = { SECTION_SIMULATION, "position_noise_mm", VALUE_DOUBLE, "0.005",
                0, 1, "mm", 1, NULL, FIELD(position_noise_mm) },
        [KEY_BATTERY_RUNTIME] = { SECTION_SIMULATION, "battery_runtime_min", VALUE_DOUBLE, "240",
                10, 2880, "min", 1, NULL, FIELD(battery_runtime_min) },
        [KEY_SYRINGE_FILL] = { SECTION_SIMULATION, "syringe_fill_ml", VALUE_ML, "0",
                0, 1000, "mL", NL_PER_ML, "nL", FIELD(syringe_fill_nl) },
        /* bench/steps: the sim drive's step times, kept in memory and
         * written when the daemon stops. "" (the default): not kept. */
        [KEY_STEP_LOG] = STRING(SECTION_SIMULATION, "step_log", "", step_log_path),
        /* The plunger's position in a mapped file that outlives a kill
         * (hal/sim-plunger-file.h). "" (the default): not kept. */
        [KEY_PLUNGER_FILE] = STRING(SECTION_SIMULATION, "plunger_file", "", plunger_file_path),

        /* A step/dir driver on GPIO; the defaults are the data sheets'
         * slowest timings of the three drivers, with margin. */
        [KEY_STEPPER_CHIP] = STRING(SECTION_STEPPER, "chip", NULL, stepper.chip),
        [KEY_STEPPER_DRIVER] = CHOICE(SECTION_STEPPER, "driver", NULL, stepper.driver, driver_choices),
        [KEY_STEPPER_STEP_LINE] = INT(SECTION_STEPPER, "step_line", NULL, 0, GPIO_LINE_MAX, "line offset", stepper.step_line),
        [KEY_STEPPER_DIR_LINE] = INT(SECTION_STEPPER, "dir_line", NULL, 0, GPIO_LINE_MAX, "line offset", stepper.dir_line),
        [KEY_STEPPER_ENABLE_LINE] = INT(SECTION_STEPPER, "enable_line", NULL, 0, GPIO_LINE_MAX, "line offset", stepper.enable_line),
        [KEY_STEPPER_MS1_LINE] = INT(SECTION_STEPPER, "ms1_line", "-1", -1, GPIO_LINE_MAX, "line offset", stepper.ms_line[0]),
        [KEY_STEPPER_MS2_LINE] = INT(SECTION_STEPPER, "ms2_line", "-1", -1, GPIO_LINE_MAX, "line offset", stepper.ms_line[1]),
        [KEY_STEPPER_MS3_LINE] = INT(SECTION_STEPPER, "ms3_line", "-1", -1, GPIO_LINE_MAX, "line offset", stepper.ms_line[2]),
        [KEY_STEPPER_STEP_ACTIVE_LOW] = BOOL(SECTION_STEPPER, "step_active_low", "no", stepper.step_active_low),
        [KEY_STEPPER_ENABLE_ACTIVE_LOW] = BOOL(SECTION_STEPPER, "enable_active_low", "yes", stepper.enable_active_low),
        [KEY_STEPPER_DIR_FORWARD_HIGH] = BOOL(SECTION_STEPPER, "dir_forward_high", "yes", stepper.dir_forward_high),
        [KEY_STEPPER_STEP_PULSE] = INT(SECTION_STEPPER, "step_pulse_us", "2", 1, 1000, "µs", stepper.step_pulse_us),
        [KEY_STEPPER_STEP_LOW] = INT(SECTION_STEPPER, "step_low_us", "2", 1, 1000, "µs", stepper.step_low_us),
        [KEY_STEPPER_DIR_SETUP] = INT(SECTION_STEPPER, "dir_setup_us", "5", 0, 1000, "µs", stepper.dir_setup_us),

        [KEY_DC_PWM_CHIP] = STRING(SECTION_DC_MOTOR, "pwm_chip", NULL, dc_motor.pwm_chip),
        [KEY_DC_PWM_CHANNEL] = INT(SECTION_DC_MOTOR, "pwm_channel", NULL, 0, 1023, "channel", dc_motor.pwm_channel),
        [KEY_DC_PWM_FREQUENCY] = INT(SECTION_DC_MOTOR, "pwm_frequency_hz", "20000", 100, 100000, "Hz", dc_motor.pwm_frequency_hz),
        [KEY_DC_MAX_DUTY] = DOUBLE(SECTION_DC_MOTOR, "max_duty_pct", "100", 1, 100, "%", dc_motor.max_duty_pct),
        [KEY_DC_KP] = DOUBLE(SECTION_DC_MOTOR, "kp_pct_per_count", "2", 0, 100, "% per count", dc_motor.kp_pct_per_count),
        [KEY_DC_KI] = DOUBLE(SECTION_DC_MOTOR, "ki_pct_per_count_s", "5", 0, 1000, "% per count·s", dc_motor.ki_pct_per_count_s),
        [KEY_DC_CHIP] = STRING(SECTION_DC_MOTOR, "chip", NULL, dc_motor.chip),
        [KEY_DC_DIR_LINE] = INT(SECTION_DC_MOTOR, "dir_line", NULL, 0, GPIO_LINE_MAX, "line offset", dc_motor.dir_line),
        [KEY_DC_DIR_FORWARD_HIGH] = BOOL(SECTION_DC_MOTOR, "dir_forward_high", "yes", dc_motor.dir_forward_high),
        [KEY_DC_ENCODER_LINE] = INT(SECTION_DC_MOTOR, "encoder_line", NULL, 0, GPIO_LINE_MAX, "line offset", dc_motor.encoder_line),

        [KEY_INPUTS_CHIP] = STRING(SECTION_INPUTS, "chip", NULL, inputs_chip),
        [KEY_INPUTS_DEBOUNCE] = { SECTION_INPUTS, "debounce_ms", VALUE_SCALED, "20",
                0, 1000, "ms", US_PER_MS, "µs", FIELD(debounce_us), NULL },
        /* A button to ground with a pull-up reads low when pressed. */
        LINE_KEYS(SECTION_INPUTS, "pca_button", input, HAL_INPUT_PCA_BUTTON, "yes"),
        LINE_KEYS(SECTION_INPUTS, "air_detector", input, HAL_INPUT_AIR_IN_LINE, "no"),
        LINE_KEYS(SECTION_INPUTS, "door", input, HAL_INPUT_DOOR_OPEN, "no"),
        LINE_KEYS(SECTION_INPUTS, "end_stop", input, HAL_INPUT_END_STOP, "no"),

        [KEY_OUTPUTS_CHIP] = STRING(SECTION_OUTPUTS, "chip", NULL, outputs_chip),
        LINE_KEYS(SECTION_OUTPUTS, "buzzer", output, HAL_OUTPUT_BUZZER, "no"),
        LINE_KEYS(SECTION_OUTPUTS, "led_red", output, HAL_OUTPUT_LED_RED, "no"),
        LINE_KEYS(SECTION_OUTPUTS, "led_yellow", output, HAL_OUTPUT_LED_YELLOW, "no"),
        LINE_KEYS(SECTION_OUTPUTS, "nurse_call", output, HAL_OUTPUT_NURSE_CALL, "no"),
        [KEY_BUZZER_PWM_CHIP] = STRING(SECTION_OUTPUTS, "buzzer_pwm_chip", "", buzzer_pwm_chip),
        [KEY_BUZZER_PWM_CHANNEL] = INT(SECTION_OUTPUTS, "buzzer_pwm_channel", "0", 0, 1023, "channel", buzzer_pwm_channel),
        /* IEC 60601-1-8 wants a fundamental of 150 to 1000 Hz. */
        [KEY_BUZZER_TONE] = INT(SECTION_OUTPUTS, "buzzer_tone_hz", "880", 150, 5000, "Hz", buzzer_tone_hz),

        SENSOR_SECTION_KEYS(SECTION_PRESSURE_DOWNSTREAM, HAL_SENSOR_PRESSURE_DOWNSTREAM, "mmhg", "mmHg",
                            -1000, 5000, "-100", "1500"),
        SENSOR_SECTION_KEYS(SECTION_PRESSURE_UPSTREAM, HAL_SENSOR_PRESSURE_UPSTREAM, "mmhg", "mmHg",
                            -1000, 5000, "-800", "800"),
        SENSOR_SECTION_KEYS(SECTION_PLUNGER_POSITION, HAL_SENSOR_PLUNGER_POSITION, "mm", "mm",
                            -1000, 1000, "-5", "300"),
        SENSOR_SECTION_KEYS(SECTION_BATTERY_VOLTAGE, HAL_SENSOR_BATTERY_VOLTAGE, "v", "V",
                            0, 100, "0.5", "20"),

        [KEY_POWER_BATTERY] = STRING(SECTION_POWER, "battery", "", power_battery),
        [KEY_POWER_MAINS] = STRING(SECTION_POWER, "mains", "", power_mains),
        [KEY_POWER_RUNTIME] = DOUBLE(SECTION_POWER, "runtime_min", "240", 10, 2880, "min", power_runtime_min),
        /* A single Li-ion cell at rest. */
        [KEY_POWER_TABLE] = STRING(SECTION_POWER, "discharge_table", "4.20:100 3.95:75 3.80:50 3.70:25 3.50:5 3.30:0",
                                   power_discharge_table),
};
