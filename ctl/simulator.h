/* SPDX-License-Identifier: MIT */
#pragma once

/* The arguments of `infusionctl sim ...` and the Simulator's Outputs
 * table (docs/API.md). Pure: no D-Bus; infusionctl.c makes the call.
 * Ranges the API states are checked here, before connecting, so a typo
 * never reaches the pump; the daemon checks them again. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum SimAction {
        SIM_ADVANCE,            /* advance DURATION          AdvanceTime(t) */
        SIM_OCCLUDE,            /* occlude on|off            SetOcclusion(b) */
        SIM_UPSTREAM,           /* upstream on|off           SetUpstreamOcclusion(b) */
        SIM_AIR,                /* air UL                    InjectAir(d) */
        SIM_DOOR,               /* door open|closed          SetDoorOpen(b) */
        SIM_BATTERY,            /* battery PCT | mains [PCT] SetBattery(b, d) */
        SIM_FAIL_SENSOR,        /* fail-sensor SENSOR FAULT  FailSensor(s, s) */
        SIM_MOTOR_GAIN,         /* motor-gain G              SetMotorGain(d) */
        SIM_STALL,              /* stall on|off              StallMotor(b) */
        SIM_OUTPUTS,            /* outputs                   the Outputs property */
        SIM_PRESS_PCA,          /* press-pca                 PressPcaButton() */
        _SIM_ACTION_MAX,
} SimAction;

typedef struct SimCommand {
        SimAction action;
        uint64_t advance_usec;          /* advance */
        bool on;                        /* occlude, upstream, stall: on; door: open; battery: on mains */
        double volume_ul;               /* air: more than 0 */
        double battery_percent;         /* battery: 0..100; 100 for "mains" alone */
        double motor_gain;              /* motor-gain: 0..2, 1 is nominal */
        const char *sensor;             /* fail-sensor: one of sim_sensors, points into args */
        const char *fault;              /* fail-sensor: one of sim_faults, points into args */
} SimCommand;

/* The subcommands, the sensors and the faults FailSensor knows, each
 * NULL-terminated, for messages and --help. */
extern const char *const sim_actions[];
extern const char *const sim_sensors[];
extern const char *const sim_faults[];

/* Parses args[0..n_args) (args[0] is the subcommand). On failure returns
 * -EINVAL with a message for the user in err, naming what is allowed
 * ("sim door: expected open or closed, got 'ajar'."). */
int sim_command_parse(char *const *args, size_t n_args, SimCommand *ret, char *err, size_t err_size);

/* One entry of the Simulator's Outputs, a(sbu). */
typedef struct SimOutput {
        char *name;                     /* buzzer, led-red, led-yellow, nurse-call */
        bool on;
        uint32_t changes;               /* how often it was switched */
} SimOutput;

/* The table of `sim outputs`: OUTPUT, STATE (on or off), CHANGES, in the
 * order given; "No outputs." when n is 0. 0, or -EIO / -ENOMEM. */
int sim_outputs_write_table(FILE *f, const SimOutput *outputs, size_t n);
