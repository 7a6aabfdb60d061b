/* SPDX-License-Identifier: MIT */
#pragma once

/* The sim's line: a compliance C (nL/mmHg) charged by the plunger and
 * drained through a resistance R (mmHg per mL/h) into the patient's
 * back-pressure P_b. Pure state and arithmetic: no locking, no clock, no
 * HAL; the sim backend (hal/sim.c) drives it.
 *
 * P_b may move (the patient moves) while the compliance's rest stays at
 * the patient's rest pressure: a rise of P_b fills the line back from the
 * patient, which shows as held volume, not as volume delivered.
 *
 * Pressure is physics, not volume accounting, so it is a double; the
 * volume it holds is read out rounded to whole picolitres. */

#include <stdbool.h>
#include <stdint.h>

struct sim_line {
        double compliance_nl_per_mmhg;
        double tau_us;                  /* R * C of the open line */
        double rest_pressure_mmhg;      /* the patient at rest: the line holds nothing */
        double patient_pressure_mmhg;   /* P_b now: what the line relaxes toward */
        double min_pressure_mmhg;       /* floor when backing off */
        double pressure_mmhg;           /* P */
        bool occluded;                  /* R infinite: no outflow */
};

/* Start at rest (P = P_b = the rest pressure, open). Returns -EINVAL unless compliance and
 * resistance are > 0 and the patient pressure is finite. */
int sim_line_init(struct sim_line *ret, double compliance_nl_per_mmhg,
                  double resistance_mmhg_per_ml_per_h, double patient_pressure_mmhg);

/* Time constant of a line, in µs: 1 mL/h = 1e6 nL / 3.6e9 µs, so R in
 * mmHg per (nL/µs) is R * 3600, and tau = that * C. */
double sim_line_tau_us(double compliance_nl_per_mmhg, double resistance_mmhg_per_ml_per_h);

/* The plunger moved volume_nl into the line (negative: pulled back).
 * Pressure changes by volume_nl / C at once, never below the floor
 * max(rest - 100, -100) mmHg. */
void sim_line_step(struct sim_line *l, double volume_nl);

/* dt_us passed with no step: P decays toward P_b as exp(-dt / tau).
 * Occluded, nothing flows and P stays. dt_us <= 0 does nothing. */
void sim_line_relax(struct sim_line *l, int64_t dt_us);

/* Volume the compliance holds above rest, C * (P - rest), in whole pL
 * (negative below rest). */
int64_t sim_line_held_pl(const struct sim_line *l);
