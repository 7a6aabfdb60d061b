/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "common/units.h"
#include "daemon/bus.h"
#include "hal/sim.h"

static int method_advance_time(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        uint64_t usec;
        char args[64];
        int r;

        r = sd_bus_message_read(m, "t", &usec);
        if (r < 0)
                return r;
        snprintf(args, sizeof(args), "usec=%" PRIu64, usec);
        /* A single call may cover at most 30 days of pump time: enough for
         * any scenario, and it keeps one call from blocking the bus forever. */
        if (usec > (uint64_t) 30 * 24 * 3600 * US_PER_SEC) {
                perr = (struct pump_error) { .name = PUMP_ERROR_INVALID_ARGUMENT };
                snprintf(perr.message, sizeof(perr.message),
                         "AdvanceTime %" PRIu64 " µs is too long: at most 30 days (2592000000000 µs) per call", usec);
                return bus_finish_command(b, m, "Simulator.AdvanceTime", args, -EINVAL, &perr, error);
        }
        r = pump_advance(b->pump, (int64_t) usec, &perr);
        if (r < 0)
                return bus_finish_command(b, m, "Simulator.AdvanceTime", args, r, &perr, error);

        bus_emit_progress(b);
        /* Audited like every command; the reply carries the new pump time. */
        bus_audit(b, m, "Simulator.AdvanceTime", args, "ok", NULL);
        return sd_bus_reply_method_return(m, "t", (uint64_t) pump_now_us(b->pump));
}

/* Every fault method: read the arguments, check them, inject through the
 * sim, record it in the history (a test run must not be mistaken for a
 * patient's), audit, reply. */
static struct sim *need_sim(struct bus_ctx *b, struct pump_error *perr) {
        struct sim *s = pump_sim(b->pump);
        if (!s) {
                *perr = (struct pump_error) { .name = PUMP_ERROR_NOT_SUPPORTED };
                snprintf(perr->message, sizeof(perr->message), "Faults can only be injected into the sim backend");
        }
        return s;
}

static int finish_fault(struct bus_ctx *b, sd_bus_message *m, const char *method, const char *args, int r,
                        struct pump_error *perr, sd_bus_error *error) {
        if (r >= 0) {
                char what[160];
                snprintf(what, sizeof(what), "%s %s", method, args);
                pump_note_simulator(b->pump, what);
        }
        return bus_finish_command(b, m, method, args, r, perr, error);
}

static int invalid(struct pump_error *perr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int invalid(struct pump_error *perr, const char *fmt, ...) {
        va_list ap;
        perr->name = PUMP_ERROR_INVALID_ARGUMENT;
        va_start(ap, fmt);
        vsnprintf(perr->message, sizeof(perr->message), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static int method_set_bool(sd_bus_message *m, void *userdata, sd_bus_error *error, const char *method,
                           const char *arg, void (*set)(struct sim *s, bool on)) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        char args[64];
        int on, r;

        r = sd_bus_message_read(m, "b", &on);
        if (r < 0)
                return r;
        snprintf(args, sizeof(args), "%s=%s", arg, on ? "true" : "false");
        struct sim *s = need_sim(b, &perr);
        if (!s)
                return bus_finish_command(b, m, method, args, -EOPNOTSUPP, &perr, error);
        set(s, on);
        return finish_fault(b, m, method, args, 0, &perr, error);
}

static int method_set_occlusion(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return method_set_bool(m, userdata, error, "Simulator.SetOcclusion", "occluded", sim_set_occlusion);
}

static int method_set_upstream_occlusion(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return method_set_bool(m, userdata, error, "Simulator.SetUpstreamOcclusion", "occluded",
                               sim_set_upstream_occlusion);
}

static int method_prime_line(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        struct sim *s = need_sim(b, &perr);
        if (!s)
                return bus_finish_command(b, m, "Simulator.PrimeLine", NULL, -EOPNOTSUPP, &perr, error);
        sim_prime_line(s);
        return finish_fault(b, m, "Simulator.PrimeLine", "", 0, &perr, error);
}

static void set_door(struct sim *s, bool open) {
        (void) sim_set_input(s, HAL_INPUT_DOOR_OPEN, open);
}

static int method_set_door_open(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return method_set_bool(m, userdata, error, "Simulator.SetDoorOpen", "open", set_door);
}

/* Not noted as a simulator event: the demand it makes is recorded, with
 * source "simulator", in the PCA history. */
static int method_press_pca_button(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        int r = pump_sim_press_pca(b->pump);
        if (r < 0) {
                perr.name = PUMP_ERROR_NOT_SUPPORTED;
                snprintf(perr.message, sizeof(perr.message), "PressPcaButton needs the sim backend: %s", strerror(-r));
        }
        return bus_finish_command(b, m, "Simulator.PressPcaButton", NULL, r, &perr, error);
}

static void stall(struct sim *s, bool stalled) {
        (void) sim_set_motor_gain(s, stalled ? 0.0 : 1.0);
}

static int method_stall_motor(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return method_set_bool(m, userdata, error, "Simulator.StallMotor", "stalled", stall);
}

static int method_inject_air(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        char args[64];
        double ul;
        int r;

        r = sd_bus_message_read(m, "d", &ul);
        if (r < 0)
                return r;
        snprintf(args, sizeof(args), "volume_ul=%g", ul);
        struct sim *s = need_sim(b, &perr);
        if (!s)
                return bus_finish_command(b, m, "Simulator.InjectAir", args, -EOPNOTSUPP, &perr, error);
        if (!(ul > 0 && ul <= 10000))
                return bus_finish_command(b, m, "Simulator.InjectAir", args,
                                          invalid(&perr, "InjectAir %g µL: the bubble must be more than 0 and "
                                                  "at most 10000 µL", ul), &perr, error);
        r = sim_inject_air(s, llround(ul * 1000.0));
        if (r < 0)
                return bus_finish_command(b, m, "Simulator.InjectAir", args,
                                          invalid(&perr, "InjectAir %g µL refused by the sim: %s", ul, strerror(-r)),
                                          &perr, error);
        return finish_fault(b, m, "Simulator.InjectAir", args, 0, &perr, error);
}

static int method_set_battery(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        char args[64];
        int on_mains, r;
        double pct;

        r = sd_bus_message_read(m, "bd", &on_mains, &pct);
        if (r < 0)
                return r;
        snprintf(args, sizeof(args), "on_mains=%s percent=%g", on_mains ? "true" : "false", pct);
        struct sim *s = need_sim(b, &perr);
        if (!s)
                return bus_finish_command(b, m, "Simulator.SetBattery", args, -EOPNOTSUPP, &perr, error);
        if (!(pct >= 0 && pct <= 100))
                return bus_finish_command(b, m, "Simulator.SetBattery", args,
                                          invalid(&perr, "SetBattery: charge %g %% is out of range (0 to 100)", pct),
                                          &perr, error);
        r = sim_set_battery(s, on_mains, pct);
        return finish_fault(b, m, "Simulator.SetBattery", args,
                            r < 0 ? invalid(&perr, "SetBattery refused by the sim: %s", strerror(-r)) : 0,
                            &perr, error);
}

static int method_fail_sensor(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        const char *sensor, *fault;
        char args[128];
        int r;

        r = sd_bus_message_read(m, "ss", &sensor, &fault);
        if (r < 0)
                return r;
        snprintf(args, sizeof(args), "sensor=%.32s fault=%.32s", sensor, fault);
        struct sim *s = need_sim(b, &perr);
        if (!s)
                return bus_finish_command(b, m, "Simulator.FailSensor", args, -EOPNOTSUPP, &perr, error);

        int which = -1;
        for (int i = 0; i < _HAL_SENSOR_MAX; i++)
                if (strcmp(sensor, hal_sensor_to_string(i)) == 0)
                        which = i;
        if (which < 0)
                return bus_finish_command(b, m, "Simulator.FailSensor", args,
                                          invalid(&perr, "FailSensor: unknown sensor \"%s\" (allowed: pressure-downstream, "
                                                  "pressure-upstream, plunger-position, battery-voltage)", sensor),
                                          &perr, error);
        enum sim_sensor_fault f;
        if (sim_sensor_fault_from_string(fault, &f) < 0)
                return bus_finish_command(b, m, "Simulator.FailSensor", args,
                                          invalid(&perr, "FailSensor: unknown fault \"%s\" (allowed: ok, read-error, "
                                                  "stuck, out-of-range, gone)", fault),
                                          &perr, error);
        r = sim_fail_sensor(s, which, f);
        return finish_fault(b, m, "Simulator.FailSensor", args,
                            r < 0 ? invalid(&perr, "FailSensor refused by the sim: %s", strerror(-r)) : 0,
                            &perr, error);
}

static int method_set_motor_gain(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        char args[64];
        double gain;
        int r;

        r = sd_bus_message_read(m, "d", &gain);
        if (r < 0)
                return r;
        snprintf(args, sizeof(args), "gain=%g", gain);
        struct sim *s = need_sim(b, &perr);
        if (!s)
                return bus_finish_command(b, m, "Simulator.SetMotorGain", args, -EOPNOTSUPP, &perr, error);
        if (!(gain >= 0 && gain <= 2))
                return bus_finish_command(b, m, "Simulator.SetMotorGain", args,
                                          invalid(&perr, "SetMotorGain %g is out of range (0 to 2; 1 is a healthy drive)",
                                                  gain), &perr, error);
        r = sim_set_motor_gain(s, gain);
        return finish_fault(b, m, "Simulator.SetMotorGain", args,
                            r < 0 ? invalid(&perr, "SetMotorGain refused by the sim: %s", strerror(-r)) : 0,
                            &perr, error);
}

/* A hung control loop, for real: the main loop blocks here for usec, as
 * in a stalled disk write or a slow call, while the step thread runs on by
 * itself. What the plunger did meanwhile is read from the sim and returned,
 * so a test holds the lease's bound (docs/SAFETY.md) against the truth. */
#define HANG_MAX_USEC (10 * US_PER_SEC)

static int method_hang_control_loop(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        char args[64];
        uint64_t usec;
        int r;

        r = sd_bus_message_read(m, "t", &usec);
        if (r < 0)
                return r;
        snprintf(args, sizeof(args), "usec=%" PRIu64, usec);
        struct sim *s = need_sim(b, &perr);
        if (!s)
                return bus_finish_command(b, m, "Simulator.HangControlLoop", args, -EOPNOTSUPP, &perr, error);
        if (pump_is_virtual(b->pump)) {
                perr = (struct pump_error) { .name = PUMP_ERROR_NOT_SUPPORTED };
                snprintf(perr.message, sizeof(perr.message),
                         "HangControlLoop needs the real clock: in virtual time the control loop is what moves the motor");
                return bus_finish_command(b, m, "Simulator.HangControlLoop", args, -EOPNOTSUPP, &perr, error);
        }
        if (usec > (uint64_t) HANG_MAX_USEC)
                return bus_finish_command(b, m, "Simulator.HangControlLoop", args,
                                          invalid(&perr, "HangControlLoop %" PRIu64 " µs is too long: at most 10 s",
                                                  usec), &perr, error);

        int64_t start_us = pump_now_us(b->pump);
        int64_t steps_before = sim_plunger_steps(s);
        struct timespec left = { .tv_sec = usec / US_PER_SEC, .tv_nsec = usec % US_PER_SEC * 1000 };
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &left, &left) == EINTR)
                ;
        int64_t steps_after = sim_plunger_steps(s);
        int64_t last_step_us = sim_last_step_us(s);
        int64_t last_after_us = last_step_us > start_us ? last_step_us - start_us : 0;

        char what[160];
        snprintf(what, sizeof(what), "Simulator.HangControlLoop %s: %" PRIi64 " steps while hung", args,
                 steps_after - steps_before);
        pump_note_simulator(b->pump, what);
        bus_audit(b, m, "Simulator.HangControlLoop", args, "ok", NULL);
        return sd_bus_reply_method_return(m, "xxx", steps_before, steps_after, last_after_us);
}

static int prop_outputs(sd_bus *bus, const char *path, const char *iface, const char *prop,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct sim *s = pump_sim(b->pump);
        int r = sd_bus_message_open_container(reply, 'a', "(sbu)");
        if (r < 0)
                return r;
        for (int o = 0; s && o < _HAL_OUTPUT_MAX; o++) {
                r = sd_bus_message_append(reply, "(sbu)", hal_output_to_string(o), (int) sim_output_state(s, o),
                                          sim_output_changes(s, o));
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int prop_now(sd_bus *bus, const char *path, const char *iface, const char *prop,
                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        return sd_bus_message_append(reply, "t", (uint64_t) pump_now_us(b->pump));
}

static int prop_true_delivered(sd_bus *bus, const char *path, const char *iface, const char *prop,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        return sd_bus_message_append(reply, "d", units_nl_to_ml(pump_sim_delivered_nl(b->pump)));
}

static int prop_plunger_steps(sd_bus *bus, const char *path, const char *iface, const char *prop,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        return sd_bus_message_append(reply, "x", pump_sim_plunger_steps(b->pump));
}

static const sd_bus_vtable simulator_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("AdvanceTime", SD_BUS_ARGS("t", usec), SD_BUS_RESULT("t", now_usec),
                                method_advance_time, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetOcclusion", SD_BUS_ARGS("b", occluded), SD_BUS_NO_RESULT,
                                method_set_occlusion, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetUpstreamOcclusion", SD_BUS_ARGS("b", occluded), SD_BUS_NO_RESULT,
                                method_set_upstream_occlusion, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("InjectAir", SD_BUS_ARGS("d", volume_ul), SD_BUS_NO_RESULT,
                                method_inject_air, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PrimeLine", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_prime_line, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetDoorOpen", SD_BUS_ARGS("b", open), SD_BUS_NO_RESULT,
                                method_set_door_open, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetBattery", SD_BUS_ARGS("b", on_mains, "d", percent), SD_BUS_NO_RESULT,
                                method_set_battery, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("FailSensor", SD_BUS_ARGS("s", sensor, "s", fault), SD_BUS_NO_RESULT,
                                method_fail_sensor, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetMotorGain", SD_BUS_ARGS("d", gain), SD_BUS_NO_RESULT,
                                method_set_motor_gain, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StallMotor", SD_BUS_ARGS("b", stalled), SD_BUS_NO_RESULT,
                                method_stall_motor, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("PressPcaButton", NULL, NULL, method_press_pca_button, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("HangControlLoop", SD_BUS_ARGS("t", usec),
                                SD_BUS_RESULT("x", plunger_steps_before, "x", plunger_steps_after,
                                              "x", last_step_after_usec),
                                method_hang_control_loop, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("Outputs", "a(sbu)", prop_outputs, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NowUsec", "t", prop_now, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("TrueDeliveredMl", "d", prop_true_delivered, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PlungerSteps", "x", prop_plunger_steps, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

int bus_add_simulator(struct bus_ctx *b) {
        return sd_bus_add_object_vtable(b->bus, NULL, BUS_PATH_SIMULATOR, BUS_IFACE_SIMULATOR, simulator_vtable, b);
}
