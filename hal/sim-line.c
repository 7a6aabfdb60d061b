/* SPDX-License-Identifier: MIT */
#include "hal/sim-line.h"

#include <errno.h>
#include <math.h>

#include "common/macros.h"
#include "common/units.h"

/* (1 mL/h) expressed in nL/µs is NL_PER_ML / US_PER_HOUR = 1/3600. */
#define US_PER_HOUR_PER_NL_PER_ML ((double) US_PER_HOUR / (double) NL_PER_ML)

double sim_line_tau_us(double compliance_nl_per_mmhg, double resistance_mmhg_per_ml_per_h) {
        double resistance_mmhg_per_nl_per_us = resistance_mmhg_per_ml_per_h * US_PER_HOUR_PER_NL_PER_ML;
        return resistance_mmhg_per_nl_per_us * compliance_nl_per_mmhg;
}

int sim_line_init(struct sim_line *ret, double compliance_nl_per_mmhg,
                  double resistance_mmhg_per_ml_per_h, double patient_pressure_mmhg) {
        /* Written as !(x > 0) so NaN is refused too. */
        if (!(compliance_nl_per_mmhg > 0) || !isfinite(compliance_nl_per_mmhg) ||
            !(resistance_mmhg_per_ml_per_h > 0) || !isfinite(resistance_mmhg_per_ml_per_h) ||
            !isfinite(patient_pressure_mmhg))
                return -EINVAL;

        *ret = (struct sim_line) {
                .compliance_nl_per_mmhg = compliance_nl_per_mmhg,
                .tau_us = sim_line_tau_us(compliance_nl_per_mmhg, resistance_mmhg_per_ml_per_h),
                .rest_pressure_mmhg = patient_pressure_mmhg,
                .patient_pressure_mmhg = patient_pressure_mmhg,
                /* Pulling back can drop the line below the patient's
                 * pressure, but a real line collapses or cavitates long
                 * before it reaches a vacuum: keep the model out of that. */
                .min_pressure_mmhg = MAX(patient_pressure_mmhg - 100.0, -100.0),
                .pressure_mmhg = patient_pressure_mmhg,
        };
        return 0;
}

void sim_line_step(struct sim_line *l, double volume_nl) {
        double p = l->pressure_mmhg + volume_nl / l->compliance_nl_per_mmhg;
        l->pressure_mmhg = MAX(p, l->min_pressure_mmhg);
}

void sim_line_relax(struct sim_line *l, int64_t dt_us) {
        if (dt_us <= 0 || l->occluded)
                return;

        /* Exact solution of C dP/dt = -(P - P_b) / R over dt, so the result
         * does not depend on how often the caller updates. */
        double excess_mmhg = l->pressure_mmhg - l->patient_pressure_mmhg;
        l->pressure_mmhg = l->patient_pressure_mmhg + excess_mmhg * exp(-(double) dt_us / l->tau_us);
}

int64_t sim_line_held_pl(const struct sim_line *l) {
        /* Against the rest pressure, not P_b now: the patient moving does
         * not by itself deliver anything. */
        double held_nl = l->compliance_nl_per_mmhg * (l->pressure_mmhg - l->rest_pressure_mmhg);
        return llround(held_nl * (double) PL_PER_NL);
}
