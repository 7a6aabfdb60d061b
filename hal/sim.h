/* SPDX-License-Identifier: MIT */
#pragma once

/* The simulated pump: a physical model of a syringe pump and its line,
 * behind the same HAL ops a rig's backends provide.
 *
 * Mechanism: lead pitch, steps/rev, microsteps and syringe inner diameter
 * give the volume per step (core/mechanism). The plunger moves the motor
 * gain (sim_set_motor_gain(), 1 at start) times each commanded step; its
 * real travel is kept in whole pL, the fraction below a pL carried to the
 * next step, so the volume pushed is exact. A step fails with -EPERM while
 * the motor is disabled (the real driver would not move), and with -ENOSPC
 * when the next step's real travel no longer fits in the syringe: a stall
 * at the end stop, and HAL_INPUT_END_STOP reads active.
 *
 * Line: a compliance C (nL/mmHg) in series with a resistance R
 * (mmHg per mL/h) into the patient's back-pressure P_b. Each step adds its
 * volume / C to the pressure; between steps pressure relaxes toward P_b
 * with time constant R*C. An occlusion makes R infinite: pressure only
 * rises, by Q/C. The volume that reached the patient is the volume pushed
 * minus what the compliance holds, C * (P - P_rest), P_rest being the
 * patient's pressure at rest: when the patient moves, P_b leaves P_rest
 * (hal/sim-movement.h) and the line relaxes toward the moved P_b.
 *
 * The pressure sensors read the model plus seeded Gaussian noise
 * (pressure_noise_mmhg), the position sensor the real travel in mm plus
 * its own (position_noise_mm; no noise drawn when 0); patient movement has
 * a generator of its own from the same seed. The model's time comes from
 * the pump clock the daemon passes in; in virtual-clock mode nothing moves
 * until told. Every time-driven change (relaxation, movement, battery) is
 * exact in model time: updating often or seldom gives the same model.
 *
 * Thread safety: the drive ops run on the executor thread in real time
 * while the main loop reads sensors: every entry point takes the sim's
 * mutex. */

#include <stdbool.h>
#include <stddef.h>
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
        /* Patient movement: excursions of the back-pressure (coughing, an
         * arm bent over the cannula) with a random height up to
         * +-movement_amplitude_mmhg and a random length of 2 to 30 s,
         * arriving at random with this mean interval. 0 amplitude: none. */
        double movement_amplitude_mmhg;
        double movement_mean_interval_s;
        /* Plunger position sensor noise, standard deviation in mm. */
        double position_noise_mm;
        /* How long a full battery lasts off mains, minutes (0: 240). */
        double battery_runtime_min;
};

/* Time source the sim reads: returns pump time in µs. */
typedef int64_t (*sim_clock_fn)(void *userdata);

struct sim;

/* -EINVAL unless compliance, resistance, pl_per_step, steps_per_mm and the
 * syringe volume are > 0, both noises and the movement amplitude are >= 0,
 * the mean movement interval is in (0, 1e9] s when the amplitude is > 0,
 * and the battery runtime is 0 (the default) or in (0, 1e6] min. clock may
 * be NULL: model time then moves only through sim_update(). The sim starts
 * on mains with a full battery, gain 1, no air and no fault. */
int sim_new(const struct sim_params *p, sim_clock_fn clock, void *clock_userdata, struct sim **ret);
struct sim *sim_free(struct sim *s);

/* Point h's ops at this sim (h->backend = "sim"). */
void sim_fill_hal(struct sim *s, struct hal *h);

/* Bring the line model up to pump time now_us (call after the clock moved
 * and before reading; reads do this too). */
void sim_update(struct sim *s, int64_t now_us);

/* Faults and world events (the Simulator D-Bus interface calls these). */
void sim_set_occlusion(struct sim *s, bool occluded);

/* Upstream (supply side) blocked: each forward step then pulls the
 * upstream pressure (0 mmHg at rest) down by its real volume over the
 * upstream compliance of 500 nL/mmHg, to a floor of -600 mmHg; clearing it
 * lets the pressure recover at once. HAL_SENSOR_PRESSURE_UPSTREAM reads it
 * with the pressure noise. */
void sim_set_upstream_occlusion(struct sim *s, bool occluded);

/* A bubble of volume_nl reaches the air detector now: HAL_INPUT_AIR_IN_LINE
 * reads active until the plunger has pushed that much more (real travel of
 * forward steps; reverse steps do not move bubbles). A bubble injected
 * while others are queued or passing arrives after the last of them plus
 * a gap of fluid of its own volume. The input changes on the stepping
 * thread and is not reported to the input handler: poll it.
 * -EINVAL unless 0 < volume_nl <= 10 mL; -ENOBUFS with 16 queued. */
int sim_inject_air(struct sim *s, int64_t volume_nl);
/* The line is primed: every bubble in it or queued is gone. */
void sim_prime_line(struct sim *s);

/* Mains or battery, and the battery's charge. Off mains the charge falls
 * linearly with model time, full to empty in battery_runtime_min, and
 * stays at 0 (the sim keeps running); on mains it neither falls nor
 * charges. The power op reports capacity_pct rounded down, voltage_v
 * linear from 3.3 V empty to 4.2 V full (HAL_SENSOR_BATTERY_VOLTAGE reads
 * the same), and time_to_empty_s = charge × runtime rounded down, or -1 on
 * mains (not discharging). Sensor faults do not touch the power op.
 * -EINVAL unless 0 <= percent <= 100. */
int sim_set_battery(struct sim *s, bool on_mains, double percent);

enum sim_sensor_fault {
        SIM_SENSOR_OK,
        SIM_SENSOR_READ_ERROR,          /* read returns -EIO */
        SIM_SENSOR_STUCK,               /* read returns the value it had when stuck */
        SIM_SENSOR_OUT_OF_RANGE,        /* read returns an impossible value (1e6) */
        SIM_SENSOR_GONE,                /* read returns -ENODEV: the device was unplugged */
        _SIM_SENSOR_FAULT_MAX,
};
/* "ok", "read-error", "stuck", "out-of-range", "gone"; NULL / -EINVAL otherwise. */
const char *sim_sensor_fault_to_string(enum sim_sensor_fault f);
int sim_sensor_fault_from_string(const char *s, enum sim_sensor_fault *ret);
/* Make one sensor's reads fail as f says, from now on. STUCK freezes the
 * value the next read gets and returns that same double ever after (STUCK
 * again while stuck keeps it); OK restores live reads. -EINVAL for an
 * unknown sensor or fault. */
int sim_fail_sensor(struct sim *s, enum hal_sensor sensor, enum sim_sensor_fault f);

/* The plunger moves gain times each commanded step: 0 is a stall (the
 * coupling slips, the steps go nowhere), 1 is a healthy drive, 0.8 a drive
 * that loses steps (under-infusion), 1.2 a syringe larger than configured
 * (over-infusion). Kept to the ppm. sim_plunger_steps() still counts
 * commanded steps; pushed, delivered, the position sensor, the syringe's
 * fill, the line and the air follow the real travel.
 * -EINVAL unless 0 <= gain <= 2. */
int sim_set_motor_gain(struct sim *s, double gain);

/* Set a digital input (PCA button, door). On a change the handler from
 * set_handler is called on the caller's thread, outside the sim's lock,
 * with the model time. -EINVAL for HAL_INPUT_END_STOP (the plunger decides
 * it), HAL_INPUT_AIR_IN_LINE (the bubbles from sim_inject_air() do: an
 * override beside them would make two truths) or an unknown input. */
int sim_set_input(struct sim *s, enum hal_input i, bool active);

/* Keep the model time of every step from now on, up to capacity steps
 * (hal/sim-step-log.h), and write them to a file. -EBUSY if already
 * keeping them, -ENOMEM, -EINVAL for a zero capacity. */
int sim_step_log_start(struct sim *s, size_t capacity);
/* Write what was kept (see sim_step_log_write()). -ENODATA if nothing is
 * being kept. */
int sim_write_step_log(struct sim *s, const char *path);

/* Keep the plunger's position in path (hal/sim-plunger-file.h), updated
 * at every step, so it outlives the process as a real plunger does. When
 * the file holds a position for this mechanism and fill, the plunger
 * starts there (returns 1): a syringe does not refill itself because the
 * daemon restarted, so the end stop, the near-end warning and the position
 * sensor see the same syringe as before, and sim_plunger_steps(),
 * sim_pushed_nl() and sim_delivered_nl() count from when it was loaded.
 * Otherwise the plunger starts at 0 and the file is taken over (returns 0):
 * deleting the file loads a full syringe. Call before the first step
 * (-EPERM after it); -EBUSY if already kept; a negative errno from the file. */
int sim_keep_plunger(struct sim *s, const char *path);

/* Truth, for tests and benchmarks: what the model really did. Pressure
 * and delivered volume first bring the model to the clock. */
int64_t sim_plunger_steps(struct sim *s);      /* net forward steps commanded */
int64_t sim_pushed_nl(struct sim *s);          /* volume moved by the plunger (after gain) */
int64_t sim_delivered_nl(struct sim *s);       /* volume that reached the patient */
double sim_line_pressure_mmhg(struct sim *s);  /* noise-free */
double sim_patient_pressure_mmhg(struct sim *s); /* P_b now, with movement */
double sim_upstream_pressure_mmhg(struct sim *s); /* noise-free */
bool sim_motor_enabled(struct sim *s);
int64_t sim_last_step_us(struct sim *s);       /* model time of the last step, -1 if none */

/* What the outputs were last set to, and how many times each changed
 * (setting the value it already has is not a change). */
bool sim_output_state(struct sim *s, enum hal_output o);
unsigned sim_output_changes(struct sim *s, enum hal_output o);
