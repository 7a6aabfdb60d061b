/* SPDX-License-Identifier: MIT */
#pragma once

/* The simulated pump: a physical model of a syringe pump and its line,
 * behind the same HAL ops a rig's backends provide.
 *
 * Mechanism: lead pitch, steps/rev, microsteps and syringe inner diameter
 * give the volume per step (core/mechanism). The plunger position is an
 * integer step count, so the volume pushed is exact. A step fails with
 * -EPERM while the motor is disabled (the real driver would not move), and
 * with -ENOSPC when less than one step's volume is left in the syringe: a
 * stall at the end stop, and HAL_INPUT_END_STOP reads active.
 *
 * Line: a compliance C (nL/mmHg) in series with a resistance R
 * (mmHg per mL/h) into the patient's back-pressure P_b. Each step adds its
 * volume / C to the pressure; between steps pressure relaxes toward P_b
 * with time constant R*C. An occlusion makes R infinite: pressure only
 * rises, by Q/C. The volume that reached the patient is the volume pushed
 * minus what the compliance holds, C * (P - P_b).
 *
 * The downstream pressure sensor reads the line pressure plus seeded
 * Gaussian noise. The model's time comes from the pump clock the daemon
 * passes in; in virtual-clock mode nothing moves until told.
 *
 * Thread safety: the drive ops run on the executor thread in real time
 * while the main loop reads sensors: every entry point takes the sim's
 * mutex. */

#include <stdbool.h>
#include <stdint.h>

#include "core/mechanism.h"
#include "hal/hal.h"

struct sim_params {
        struct mechanism mech;
        int64_t syringe_volume_nl;      /* fill at start: empty after this much */
        double line_compliance_nl_per_mmhg;
        double line_resistance_mmhg_per_ml_per_h;
        double patient_pressure_mmhg;
        double pressure_noise_mmhg;     /* standard deviation */
        uint64_t seed;
};

/* Time source the sim reads: returns pump time in µs. */
typedef int64_t (*sim_clock_fn)(void *userdata);

struct sim;

/* -EINVAL unless compliance, resistance, pl_per_step, steps_per_mm and the
 * syringe volume are > 0 and the noise is >= 0. clock may be NULL: model
 * time then moves only through sim_update(). */
int sim_new(const struct sim_params *p, sim_clock_fn clock, void *clock_userdata, struct sim **ret);
struct sim *sim_free(struct sim *s);

/* Point h's ops at this sim (h->backend = "sim"). */
void sim_fill_hal(struct sim *s, struct hal *h);

/* Bring the line model up to pump time now_us (call after the clock moved
 * and before reading; reads do this too). */
void sim_update(struct sim *s, int64_t now_us);

/* Faults and world events (the Simulator D-Bus interface calls these). */
void sim_set_occlusion(struct sim *s, bool occluded);

/* Set a digital input (PCA button, air detector, door). On a change the
 * handler from set_handler is called on the caller's thread, outside the
 * sim's lock, with the model time. -EINVAL for HAL_INPUT_END_STOP (the
 * plunger decides it) or an unknown input. */
int sim_set_input(struct sim *s, enum hal_input i, bool active);

/* Truth, for tests and benchmarks: what the model really did. Pressure
 * and delivered volume first bring the model to the clock. */
int64_t sim_plunger_steps(struct sim *s);      /* net forward steps */
int64_t sim_pushed_nl(struct sim *s);          /* volume moved by the plunger */
int64_t sim_delivered_nl(struct sim *s);       /* volume that reached the patient */
double sim_line_pressure_mmhg(struct sim *s);  /* noise-free */
bool sim_motor_enabled(struct sim *s);
int64_t sim_last_step_us(struct sim *s);       /* model time of the last step, -1 if none */

/* What the outputs were last set to, and how many times each changed
 * (setting the value it already has is not a change). */
bool sim_output_state(struct sim *s, enum hal_output o);
unsigned sim_output_changes(struct sim *s, enum hal_output o);
