/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "daemon/pump-private.h"

/* The start-up self-test, after the backends opened (which already proved
 * every line requested and every sensor found). Here each part must
 * answer: sensors readable and plausible, inputs readable, outputs off,
 * the drive's enable toggling, the power supply readable. READY=1 is
 * sent only after this passes; a failure names the part and the daemon
 * exits, so systemd shows why. */

static int test_sensors(struct pump *p, struct pump_error *err) {
        for (int i = 0; i < _HAL_SENSOR_MAX; i++) {
                const struct sensor_health_params *range = &p->sup.health[i].params;
                double v = NAN;
                int r = p->hal.sensors ? p->hal.sensors->read(p->hal.sensors_ctx, i, &v) : -ENODEV;

                p->sup.sensor_fitted[i] = r != -ENODEV;
                if (r == -ENODEV && i != HAL_SENSOR_PRESSURE_DOWNSTREAM)
                        continue;       /* not fitted on this rig */
                if (r < 0)
                        return pump_set_error(err, PUMP_ERROR_HARDWARE, r, "Self-test failed: %s sensor: %s",
                                              hal_sensor_to_string(i),
                                              r == -ENODEV ? "not fitted (occlusion detection needs it)" :
                                              r == -ERANGE ? "reading outside its plausible range" : strerror(-r));
                if (!(v >= range->min_value && v <= range->max_value))
                        return pump_set_error(err, PUMP_ERROR_HARDWARE, -ERANGE,
                                              "Self-test failed: %s sensor reads %g, outside %g to %g",
                                              hal_sensor_to_string(i), v, range->min_value, range->max_value);
                if (i == HAL_SENSOR_PRESSURE_DOWNSTREAM)
                        p->pressure_mmhg = v;
        }
        return 0;
}

static int test_inputs_outputs(struct pump *p, struct pump_error *err) {
        for (int i = 0; i < _HAL_INPUT_MAX; i++) {
                bool active;
                int r = p->hal.inputs ? p->hal.inputs->read(p->hal.inputs_ctx, i, &active) : -ENODEV;
                p->sup.input_fitted[i] = r != -ENODEV;
                /* Air in the line goes unseen without its detector. */
                if (r == -ENODEV && i == HAL_INPUT_AIR_IN_LINE)
                        return pump_set_error(err, PUMP_ERROR_HARDWARE, r,
                                              "Self-test failed: air-in-line input: not fitted (air detection needs it)");
                if (r < 0 && r != -ENODEV)
                        return pump_set_error(err, PUMP_ERROR_HARDWARE, r, "Self-test failed: %s input: %s",
                                              hal_input_to_string(i), strerror(-r));
        }
        /* Silent and dark until an alarm says otherwise. */
        for (int o = 0; p->hal.outputs && o < _HAL_OUTPUT_MAX; o++) {
                int r = p->hal.outputs->set(p->hal.outputs_ctx, o, false);
                if (r < 0 && r != -ENODEV)
                        return pump_set_error(err, PUMP_ERROR_HARDWARE, r, "Self-test failed: %s output: %s",
                                              hal_output_to_string(o), strerror(-r));
        }
        return 0;
}

static int test_drive(struct pump *p, struct pump_error *err) {
        /* Enable and release without a step. Energising a stepper's coils
         * may pull the rotor to the nearest full step (under 1/microsteps
         * of a step's travel each way, a few nL); no step is commanded. A
         * driver that cannot be enabled cannot be trusted to be disabled
         * either. */
        int r = p->hal.drive->enable(p->hal.drive_ctx, true);
        int r2 = p->hal.drive->enable(p->hal.drive_ctx, false);
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_HARDWARE, r, "Self-test failed: motor driver enable: %s",
                                      strerror(-r));
        if (r2 < 0)
                return pump_set_error(err, PUMP_ERROR_HARDWARE, r2, "Self-test failed: motor driver disable: %s",
                                      strerror(-r2));
        return 0;
}

static int test_power(struct pump *p, struct pump_error *err) {
        struct hal_power_status st;
        /* An ambulatory pump must know when its battery runs out. */
        int r = p->hal.power ? p->hal.power->read(p->hal.power_ctx, &st) : -ENODEV;
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_HARDWARE, r, "Self-test failed: power supply: %s",
                                      r == -ENODEV ? "none configured" : strerror(-r));
        return 0;
}

int pump_self_test(struct pump *p, struct pump_error *err) {
        int r = test_sensors(p, err);
        if (r >= 0)
                r = test_inputs_outputs(p, err);
        if (r >= 0)
                r = test_drive(p, err);
        if (r >= 0)
                r = test_power(p, err);
        return r;
}
